/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_nl.c - control/nl.c against the real kernel.
 *
 * Runs in its own network namespace (unshare(CLONE_NEWNET)), so nothing
 * it creates is visible outside.  Service-side peers live in a named netns
 * made with `ip netns add`; to keep even that private, the test also takes
 * a private mount namespace with a tmpfs on /run/netns, so a crash or
 * kill -9 leaves no /run/netns entry behind.  atexit() deletes the netns
 * on a normal exit anyway.  Everything is checked twice: through nl's own
 * dumps and through `ip` output.  Needs root; exits 77 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/rtnetlink.h>

#include "harness.h"
#include "nl.h"

static struct nl *g_nl;    /* request handle in the test's namespace */
static char g_ns[32];      /* the peers' named netns */
static char g_ns_path[64];
static int g_ns_fd = -1;
static bool g_ns_made;

/* ---- helpers ---------------------------------------------------------- */

static __be32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* Run a shell command; its exit status, -1 if it did not run. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Run a command and keep its stdout (and stderr) in out. */
static int sh_out(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sh_out(char *out, size_t size, const char *fmt, ...)
{
	char cmd[512];
	size_t len = 0, n;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	out[0] = '\0';
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (len + 1 < size &&
	       (n = fread(out + len, 1, size - 1 - len, f)) > 0)
		len += n;
	out[len] = '\0';
	st = pclose(f);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* Does `ip ...` print needle?  Shows the output when the answer is no. */
static bool ip_has(const char *needle, const char *args)
{
	char out[8192];

	sh_out(out, sizeof(out), "ip %s", args);
	if (strstr(out, needle))
		return true;
	fprintf(stderr, "  `ip %s` lacks '%s':\n%s", args, needle, out);
	return false;
}

static bool ip_lacks(const char *needle, const char *args)
{
	char out[8192];

	sh_out(out, sizeof(out), "ip %s", args);
	if (!strstr(out, needle))
		return true;
	fprintf(stderr, "  `ip %s` still has '%s':\n%s", args, needle, out);
	return false;
}

static bool has_errmsg(struct nl *nl, const char *needle)
{
	const char *msg = nl_errmsg(nl);

	if (strstr(msg, needle))
		return true;
	fprintf(stderr, "  errmsg lacks '%s': \"%s\"\n", needle, msg);
	return false;
}

/* A veth pair with the peer in g_ns, both ends up; its ifindex or < 0. */
static int veth_up(const char *name, const char *peer)
{
	struct nl *pnl = NULL;
	int idx, pidx, err;

	err = nl_veth_create(g_nl, name, peer, g_ns_fd);
	if (err) {
		fprintf(stderr, "  %s\n", nl_errmsg(g_nl));
		return err;
	}
	idx = nl_link_index(g_nl, name);
	if (idx < 0)
		return idx;
	err = nl_link_set_up(g_nl, idx);
	if (err)
		return err;
	err = nl_open_netns_fd(&pnl, g_ns_fd);
	if (err)
		return err;
	pidx = nl_link_index(pnl, peer);
	err = pidx < 0 ? pidx : nl_link_set_up(pnl, pidx);
	if (err)
		fprintf(stderr, "  %s\n", nl_errmsg(pnl));
	nl_close(pnl);
	return err ? err : idx;
}

/* ---- names ------------------------------------------------------------ */

static int test_name_too_long(void)
{
	const char *n16 = "vnlabcdefghijklm"; /* 16 characters */
	const char *n15 = "vnlabcdefghijkl";  /* 15: the longest legal */
	int ret = -1, idx;

	if (!ASSERT_EQ(strlen(n16), 16, "n16 length"))
		return -1;
	if (!ASSERT_EQ(nl_veth_create(g_nl, n16, "p", -1), -ENAMETOOLONG,
		       "16-char name"))
		return -1;
	if (!ASSERT_TRUE(has_errmsg(g_nl, "at most 15 characters"), "msg"))
		return -1;
	printf("  refused: %s\n", nl_errmsg(g_nl));
	if (!ASSERT_EQ(nl_veth_create(g_nl, "vnlp", n16, -1), -ENAMETOOLONG,
		       "16-char peer") ||
	    !ASSERT_EQ(nl_link_index(g_nl, n16), -ENAMETOOLONG, "index") ||
	    !ASSERT_EQ(nl_link_del(g_nl, n16), -ENAMETOOLONG, "del") ||
	    !ASSERT_EQ(nl_veth_create(g_nl, "", "p", -1), -EINVAL, "empty"))
		return -1;
	if (!ASSERT_TRUE(ip_lacks("vnlabcdefghijkl", "-o link show"),
			 "nothing created"))
		return -1;

	if (!ASSERT_OK(nl_veth_create(g_nl, n15, "vnlabcdefghijkp", -1),
		       "15-char names"))
		goto out;
	idx = nl_link_index(g_nl, n15);
	if (!ASSERT_TRUE(idx > 0, "15-char index") ||
	    !ASSERT_TRUE(ip_has("vnlabcdefghijkl@vnlabcdefghijkp",
				"-o link show dev vnlabcdefghijkl"),
			 "ip sees it"))
		goto out;
	ret = 0;
out:
	if (!ASSERT_OK(nl_link_del(g_nl, n15), "del 15"))
		ret = -1;
	return ret;
}

/* ---- veth pairs ------------------------------------------------------- */

static int test_veth_local(void)
{
	struct nl_link link = {}, plink = {};
	int ret = -1, err;

	if (!ASSERT_OK(nl_veth_create(g_nl, "vnl0", "vnl0p", -1), "create"))
		goto out;
	if (!ASSERT_OK(nl_veth_create(g_nl, "vnl0", "vnl0p", -1),
		       "create again = ok"))
		goto out;
	if (!ASSERT_OK(nl_link_get(g_nl, "vnl0", &link), "get") ||
	    !ASSERT_OK(nl_link_get(g_nl, "vnl0p", &plink), "get peer"))
		goto out;
	if (!ASSERT_TRUE(!strcmp(link.kind, "veth"), "kind veth") ||
	    !ASSERT_EQ(link.link, plink.ifindex, "peer ifindex") ||
	    !ASSERT_EQ(plink.link, link.ifindex, "peer's peer") ||
	    !ASSERT_EQ(link.link_netnsid, -1, "same netns") ||
	    !ASSERT_EQ(link.flags & IFF_UP, 0, "starts down") ||
	    !ASSERT_TRUE(link.has_mac, "has mac"))
		goto out;
	if (!ASSERT_TRUE(ip_has("vnl0@vnl0p", "-o link show dev vnl0"),
			 "ip link"))
		goto out;

	/* Same name, other peer: a conflict, and it says which. */
	err = nl_veth_create(g_nl, "vnl0", "vnl0x", -1);
	if (!ASSERT_EQ(err, -EEXIST, "other peer") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "with peer 'vnl0p'"), "msg"))
		goto out;
	printf("  conflict: %s\n", nl_errmsg(g_nl));
	/* Same name, peer wanted elsewhere: a conflict too. */
	if (!ASSERT_EQ(nl_veth_create(g_nl, "vnl0", "vnl0p", g_ns_fd), -EEXIST,
		       "peer elsewhere"))
		goto out;
	/* A name taken by a non-veth. */
	if (!ASSERT_EQ(nl_veth_create(g_nl, "lo", "vnl0q", -1), -EEXIST,
		       "lo") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "not a veth"), "lo msg"))
		goto out;

	if (!ASSERT_OK(nl_link_del(g_nl, "vnl0"), "del"))
		goto out;
	if (!ASSERT_EQ(nl_link_index(g_nl, "vnl0"), -ENODEV, "gone") ||
	    !ASSERT_EQ(nl_link_index(g_nl, "vnl0p"), -ENODEV, "peer gone") ||
	    !ASSERT_OK(nl_link_del(g_nl, "vnl0"), "del again = ok") ||
	    !ASSERT_TRUE(ip_lacks("vnl0", "-o link show"), "ip: gone"))
		goto out;
	ret = 0;
out:
	nl_link_del(g_nl, "vnl0");
	return ret;
}

static int test_veth_netns(void)
{
	char args[128], mac_s[32];
	struct nl_link link = {}, plink = {};
	struct nl *pnl = NULL;
	__u8 mac[6];
	int ret = -1, idx;

	if (!ASSERT_OK(nl_veth_create(g_nl, "vnl1", "vnl1p", g_ns_fd),
		       "create") ||
	    !ASSERT_OK(nl_veth_create(g_nl, "vnl1", "vnl1p", g_ns_fd),
		       "create again = ok"))
		goto out;
	if (!ASSERT_OK(nl_link_get(g_nl, "vnl1", &link), "get") ||
	    !ASSERT_EQ(nl_link_index(g_nl, "vnl1p"), -ENODEV,
		       "peer not here") ||
	    !ASSERT_TRUE(link.link_netnsid >= 0, "peer in another netns"))
		goto out;
	/* Asking for the peer here instead is a conflict. */
	if (!ASSERT_EQ(nl_veth_create(g_nl, "vnl1", "vnl1p", -1), -EEXIST,
		       "peer here") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "another namespace"), "msg"))
		goto out;
	/* The peer name taken in the target netns. */
	if (!ASSERT_EQ(nl_veth_create(g_nl, "vnl1b", "vnl1p", g_ns_fd),
		       -EEXIST, "peer name taken"))
		goto out;
	printf("  conflict: %s\n", nl_errmsg(g_nl));

	/* Up on both ends, the peer's from a handle inside its netns. */
	if (!ASSERT_OK(nl_link_set_up(g_nl, link.ifindex), "host up") ||
	    !ASSERT_OK(nl_link_set_up(g_nl, link.ifindex), "up again"))
		goto out;
	if (!ASSERT_OK(nl_open_netns(&pnl, g_ns_path), "open netns"))
		goto out;
	idx = nl_link_index(pnl, "vnl1p");
	if (!ASSERT_TRUE(idx > 0, "peer index in netns") ||
	    !ASSERT_EQ(idx, link.link, "IFLA_LINK is the peer") ||
	    !ASSERT_OK(nl_link_set_up(pnl, idx), "peer up") ||
	    !ASSERT_OK(nl_link_get(pnl, "vnl1p", &plink), "peer get") ||
	    !ASSERT_TRUE(plink.flags & IFF_UP, "peer IFF_UP") ||
	    !ASSERT_OK(nl_link_get(g_nl, "vnl1", &link), "get") ||
	    !ASSERT_TRUE(link.flags & IFF_UP, "host IFF_UP"))
		goto out;
	snprintf(args, sizeof(args), "-n %s -o link show dev vnl1p", g_ns);
	if (!ASSERT_TRUE(ip_has("state UP", args), "ip: peer up") ||
	    !ASSERT_TRUE(ip_has("state UP", "-o link show dev vnl1"),
			 "ip: host up"))
		goto out;

	if (!ASSERT_OK(nl_link_mac(g_nl, link.ifindex, mac), "mac"))
		goto out;
	snprintf(mac_s, sizeof(mac_s), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (!ASSERT_TRUE(ip_has(mac_s, "-br link show dev vnl1"), "ip: mac") ||
	    !ASSERT_EQ(nl_link_mac(g_nl, 99999, mac), -ENODEV, "mac: no dev"))
		goto out;

	/* Deleting the host end takes the peer in the other netns too. */
	if (!ASSERT_OK(nl_link_del(g_nl, "vnl1"), "del") ||
	    !ASSERT_OK(nl_link_del(g_nl, "vnl1"), "del again") ||
	    !ASSERT_EQ(nl_link_index(pnl, "vnl1p"), -ENODEV, "peer gone"))
		goto out;
	snprintf(args, sizeof(args), "-n %s -o link show", g_ns);
	if (!ASSERT_TRUE(ip_lacks("vnl1p", args), "ip: peer gone"))
		goto out;
	ret = 0;
out:
	nl_close(pnl);
	nl_link_del(g_nl, "vnl1");
	return ret;
}

static int test_open_netns(void)
{
	struct nl *nl = NULL;
	int err;

	err = nl_open_netns(&nl, "/nonexistent/netns");
	if (!ASSERT_EQ(err, -ENOENT, "no such path") ||
	    !ASSERT_TRUE(nl == NULL, "out NULL"))
		return -1;
	err = nl_open_netns(&nl, "/proc/self/ns/net");
	if (!ASSERT_OK(err, "own netns by path"))
		return -1;
	err = nl_link_index(nl, "lo");
	nl_close(nl);
	nl_close(NULL);
	return ASSERT_TRUE(err > 0, "lo there") ? 0 : -1;
}

/* ---- link dumps ------------------------------------------------------- */

struct prefix_count {
	const char *prefix;
	int veths;
	int seen;
	int stop_after; /* 0 = never */
};

static int prefix_cb(const struct nl_link *l, void *ctx)
{
	struct prefix_count *c = ctx;

	c->seen++;
	if (!strncmp(l->name, c->prefix, strlen(c->prefix)) &&
	    !strcmp(l->kind, "veth"))
		c->veths++;
	if (c->stop_after && c->seen >= c->stop_after)
		return -ECANCELED;
	return 0;
}

static int test_link_list(void)
{
	struct prefix_count c = { .prefix = "vifx" };
	int ret = -1;

	if (!ASSERT_OK(nl_veth_create(g_nl, "vifx1", "vifx1p", g_ns_fd), "a") ||
	    !ASSERT_OK(nl_veth_create(g_nl, "vifx2", "vifx2p", g_ns_fd), "b") ||
	    !ASSERT_OK(nl_veth_create(g_nl, "vifx3", "vifx3p", -1), "c"))
		goto out;
	if (!ASSERT_OK(nl_link_list(g_nl, prefix_cb, &c), "list") ||
	    !ASSERT_EQ(c.veths, 4, "vifx* veths here (3 + 1 local peer)"))
		goto out;
	/* A callback that stops: its error comes back, the handle is fine. */
	c = (struct prefix_count){ .prefix = "vifx", .stop_after = 1 };
	if (!ASSERT_EQ(nl_link_list(g_nl, prefix_cb, &c), -ECANCELED,
		       "stopped") ||
	    !ASSERT_EQ(c.seen, 1, "no calls after the stop") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "vifx1") > 0, "handle usable"))
		goto out;
	ret = 0;
out:
	nl_link_del(g_nl, "vifx1");
	nl_link_del(g_nl, "vifx2");
	nl_link_del(g_nl, "vifx3");
	return ret;
}

/* ---- addresses -------------------------------------------------------- */

struct addr_count {
	__be32 addr;
	__u8 prefix_len;
	int n;
};

static int addr_cb(const struct nl_addr *a, void *ctx)
{
	struct addr_count *c = ctx;

	if (a->addr == c->addr && a->prefix_len == c->prefix_len)
		c->n++;
	return 0;
}

static int count_addr(struct nl *nl, int ifindex, const char *addr,
		      __u8 prefix_len)
{
	struct addr_count c = { .addr = ip4(addr), .prefix_len = prefix_len };
	int err = nl_addr_list(nl, ifindex, addr_cb, &c);

	return err ? err : c.n;
}

static int test_addr(void)
{
	struct nl *pnl = NULL;
	char args[128];
	int ret = -1, idx, pidx;

	idx = veth_up("vnl2", "vnl2p");
	if (!ASSERT_TRUE(idx > 0, "veth"))
		goto out;
	if (!ASSERT_OK(nl_addr_add(g_nl, idx, ip4("10.100.5.1"), 24), "add") ||
	    !ASSERT_OK(nl_addr_add(g_nl, idx, ip4("10.100.5.1"), 24),
		       "add again = ok") ||
	    !ASSERT_EQ(count_addr(g_nl, idx, "10.100.5.1", 24), 1,
		       "dump: once") ||
	    !ASSERT_EQ(count_addr(g_nl, 0, "10.100.5.1", 24), 1,
		       "dump all: once") ||
	    !ASSERT_TRUE(ip_has("inet 10.100.5.1/24",
				"-4 -o addr show dev vnl2"),
			 "ip addr"))
		goto out;

	/* The service side, through a handle inside the peer netns. */
	if (!ASSERT_OK(nl_open_netns_fd(&pnl, g_ns_fd), "open netns"))
		goto out;
	pidx = nl_link_index(pnl, "vnl2p");
	if (!ASSERT_TRUE(pidx > 0, "peer") ||
	    !ASSERT_OK(nl_addr_add(pnl, pidx, ip4("10.100.5.2"), 24), "peer") ||
	    !ASSERT_OK(nl_addr_add(pnl, pidx, ip4("10.100.5.2"), 24),
		       "peer again") ||
	    !ASSERT_EQ(count_addr(pnl, pidx, "10.100.5.2", 24), 1, "peer dump"))
		goto out;
	snprintf(args, sizeof(args), "-n %s -4 -o addr show dev vnl2p", g_ns);
	if (!ASSERT_TRUE(ip_has("inet 10.100.5.2/24", args), "ip: peer addr"))
		goto out;
	/* Both ends up and addressed: the pair really carries traffic. */
	if (!ASSERT_EQ(sh("ping -c 1 -W 2 10.100.5.2 >/dev/null 2>&1"), 0,
		       "ping the service side"))
		goto out;

	if (!ASSERT_OK(nl_addr_del(g_nl, idx, ip4("10.100.5.1"), 24), "del") ||
	    !ASSERT_OK(nl_addr_del(g_nl, idx, ip4("10.100.5.1"), 24),
		       "del again = ok") ||
	    !ASSERT_EQ(count_addr(g_nl, idx, "10.100.5.1", 24), 0,
		       "dump: gone") ||
	    !ASSERT_TRUE(ip_lacks("10.100.5.1", "-4 -o addr show dev vnl2"),
			 "ip: gone") ||
	    !ASSERT_OK(nl_addr_del(g_nl, 99999, ip4("10.100.5.1"), 24),
		       "del on a vanished link = ok") ||
	    !ASSERT_OK(nl_addr_del(pnl, pidx, ip4("10.100.5.2"), 24),
		       "peer del"))
		goto out;
	ret = 0;
out:
	nl_close(pnl);
	nl_link_del(g_nl, "vnl2");
	return ret;
}

/* ---- rules ------------------------------------------------------------ */

struct rule_count {
	__u32 fwmark, table, priority;
	int n;
};

static int rule_cb(const struct nl_rule *r, void *ctx)
{
	struct rule_count *c = ctx;

	if (r->fwmark == c->fwmark && r->table == c->table &&
	    r->priority == c->priority && !r->other_selectors)
		c->n++;
	return 0;
}

static int count_rule(__u32 fwmark, __u32 table, __u32 priority)
{
	struct rule_count c = { fwmark, table, priority, 0 };
	int err = nl_rule_list(g_nl, rule_cb, &c);

	return err ? err : c.n;
}

static int count_ip_rule(const char *needle)
{
	char out[8192];

	sh_out(out, sizeof(out), "ip -4 rule show");
	return count_str(out, needle);
}

static int test_rule(void)
{
	struct nl *nl2 = NULL;
	int ret = -1;

	if (!ASSERT_OK(nl_rule_add(g_nl, 0x1005, 1005, 20005), "add") ||
	    !ASSERT_OK(nl_rule_add(g_nl, 0x1005, 1005, 20005),
		       "add again = ok") ||
	    !ASSERT_EQ(count_rule(0x1005, 1005, 20005), 1, "dump: once") ||
	    !ASSERT_EQ(count_ip_rule(
			       "20005:\tfrom all fwmark 0x1005 lookup 1005"),
		       1, "ip rule: once"))
		goto out;
	/* A fresh handle finds the rule in its first dump and adds nothing. */
	if (!ASSERT_OK(nl_open(&nl2), "second handle") ||
	    !ASSERT_OK(nl_rule_add(nl2, 0x1005, 1005, 20005), "add via dump") ||
	    !ASSERT_EQ(count_ip_rule("fwmark 0x1005 lookup 1005"), 1,
		       "ip rule: still once"))
		goto out;
	/* A table id below 256 travels in the header too. */
	if (!ASSERT_OK(nl_rule_add(g_nl, 0x7, 200, 20007), "small table") ||
	    !ASSERT_OK(nl_rule_add(g_nl, 0x7, 200, 20007), "again") ||
	    !ASSERT_EQ(count_rule(0x7, 200, 20007), 1, "dump small") ||
	    !ASSERT_EQ(count_ip_rule("fwmark 0x7 lookup 200"), 1, "ip small"))
		goto out;
	/* Same mark, other priority: a different rule, so both exist. */
	if (!ASSERT_OK(nl_rule_add(g_nl, 0x1005, 1005, 20006), "other pref") ||
	    !ASSERT_EQ(count_ip_rule("fwmark 0x1005 lookup 1005"), 2, "two"))
		goto out;
	if (!ASSERT_EQ(nl_rule_add(g_nl, 0, 1005, 20005), -EINVAL,
		       "fwmark 0 would match everything"))
		goto out;

	if (!ASSERT_OK(nl_rule_del(g_nl, 0x1005, 1005, 20005), "del") ||
	    !ASSERT_OK(nl_rule_del(g_nl, 0x1005, 1005, 20005),
		       "del again = ok") ||
	    !ASSERT_EQ(count_rule(0x1005, 1005, 20005), 0, "dump: gone") ||
	    !ASSERT_EQ(count_ip_rule("20005:"), 0, "ip: gone") ||
	    !ASSERT_EQ(count_rule(0x1005, 1005, 20006), 1, "other kept"))
		goto out;
	ret = 0;
out:
	nl_close(nl2);
	nl_rule_del(g_nl, 0x1005, 1005, 20005);
	nl_rule_del(g_nl, 0x1005, 1005, 20006);
	nl_rule_del(g_nl, 0x7, 200, 20007);
	return ret;
}

/* ---- routes ----------------------------------------------------------- */

struct route_count {
	struct nl_route want; /* dst, prefix_len, type, gateway, oif */
	int n, total;
};

static int route_cb(const struct nl_route *r, void *ctx)
{
	struct route_count *c = ctx;

	c->total++;
	if (r->dst == c->want.dst && r->prefix_len == c->want.prefix_len &&
	    r->type == c->want.type && r->gateway == c->want.gateway &&
	    (!c->want.oif || r->oif == c->want.oif) &&
	    r->priority == c->want.priority)
		c->n++;
	return 0;
}

static int count_route(__u32 table, const struct nl_route *want, int *total)
{
	struct route_count c = { .want = *want };
	int err = nl_route_list(g_nl, table, route_cb, &c);

	if (total)
		*total = c.total;
	return err ? err : c.n;
}

static int test_route(void)
{
	struct nl_route def = { .type = RTN_UNICAST };
	struct nl_route net = { .type = RTN_UNICAST, .prefix_len = 24 };
	struct nl_route bh = { .type = RTN_BLACKHOLE, .priority = 100 };
	struct nl_route unr = { .type = RTN_UNREACHABLE };
	int ret = -1, idx, total = 0;

	idx = veth_up("vnl3", "vnl3p");
	if (!ASSERT_TRUE(idx > 0, "veth") ||
	    !ASSERT_OK(nl_addr_add(g_nl, idx, ip4("10.100.6.1"), 24), "addr"))
		goto out;
	def.gateway = ip4("10.100.6.2");
	def.oif = idx;
	net.dst = ip4("192.168.77.0");
	net.oif = idx;

	/* default via the service side, oif resolved by the kernel */
	if (!ASSERT_OK(nl_route_add(g_nl, 1006, 0, 0, def.gateway, 0), "add") ||
	    !ASSERT_OK(nl_route_add(g_nl, 1006, 0, 0, def.gateway, 0),
		       "add again = ok") ||
	    !ASSERT_OK(nl_route_add(g_nl, 1006, 0, 0, def.gateway, idx),
		       "same with oif = ok") ||
	    !ASSERT_EQ(count_route(1006, &def, NULL), 1, "dump: once") ||
	    !ASSERT_TRUE(ip_has("default via 10.100.6.2 dev vnl3",
				"route show table 1006"),
			 "ip route"))
		goto out;
	/* an on-link network route */
	if (!ASSERT_OK(nl_route_add(g_nl, 1006, net.dst, 24, 0, idx), "net") ||
	    !ASSERT_OK(nl_route_add(g_nl, 1006, net.dst, 24, 0, idx),
		       "net again") ||
	    !ASSERT_EQ(count_route(1006, &net, NULL), 1, "dump net") ||
	    !ASSERT_TRUE(ip_has(
			"192.168.77.0/24 dev vnl3 proto static scope link",
			"route show table 1006"),
			 "ip net route"))
		goto out;
	/* another gateway for the same default: in the way, not replaced */
	if (!ASSERT_EQ(nl_route_add(g_nl, 1006, 0, 0, ip4("10.100.6.3"), 0),
		       -EEXIST, "conflict") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "via 10.100.6.2"), "says what") ||
	    !ASSERT_TRUE(ip_lacks("10.100.6.3", "route show table 1006"),
			 "not replaced"))
		goto out;
	printf("  conflict: %s\n", nl_errmsg(g_nl));

	/* kill switch: blackhole default underneath (metric 100) */
	if (!ASSERT_OK(nl_route_add_type(g_nl, 1006, 0, 0, NL_ROUTE_BLACKHOLE,
					 100), "blackhole") ||
	    !ASSERT_OK(nl_route_add_type(g_nl, 1006, 0, 0, NL_ROUTE_BLACKHOLE,
					 100), "blackhole again = ok") ||
	    !ASSERT_EQ(count_route(1006, &bh, NULL), 1, "dump blackhole") ||
	    !ASSERT_TRUE(ip_has("blackhole default proto static metric 100",
				"route show table 1006"),
			 "ip blackhole"))
		goto out;
	/* unreachable default, alone in a table below 256 */
	if (!ASSERT_OK(nl_route_add_type(g_nl, 206, 0, 0, NL_ROUTE_UNREACHABLE,
					 0), "unreachable") ||
	    !ASSERT_OK(nl_route_add_type(g_nl, 206, 0, 0, NL_ROUTE_UNREACHABLE,
					 0), "unreachable again = ok") ||
	    !ASSERT_EQ(count_route(206, &unr, &total), 1, "dump unreachable") ||
	    !ASSERT_EQ(total, 1, "table 206 holds just that") ||
	    !ASSERT_TRUE(ip_has("unreachable default", "route show table 206"),
			 "ip unreachable"))
		goto out;
	if (!ASSERT_EQ(nl_route_add_type(g_nl, 206, 0, 0, NL_ROUTE_BLACKHOLE,
					 0),
		       -EEXIST, "blackhole over unreachable"))
		goto out;

	/* unicast del leaves the blackhole: the kill switch fails closed */
	if (!ASSERT_OK(nl_route_del(g_nl, 1006, 0, 0, def.gateway, 0), "del") ||
	    !ASSERT_OK(nl_route_del(g_nl, 1006, 0, 0, def.gateway, 0),
		       "del again = ok") ||
	    !ASSERT_EQ(count_route(1006, &def, NULL), 0, "unicast gone") ||
	    !ASSERT_EQ(count_route(1006, &bh, NULL), 1, "blackhole kept") ||
	    !ASSERT_TRUE(ip_lacks("default via", "route show table 1006"),
			 "ip: unicast gone"))
		goto out;
	if (!ASSERT_OK(nl_route_del_type(g_nl, 1006, 0, 0, NL_ROUTE_BLACKHOLE,
					 100), "del blackhole") ||
	    !ASSERT_OK(nl_route_del_type(g_nl, 1006, 0, 0, NL_ROUTE_BLACKHOLE,
					 100), "again = ok") ||
	    !ASSERT_OK(nl_route_del(g_nl, 1006, net.dst, 24, 0, idx),
		       "del net") ||
	    !ASSERT_OK(nl_route_del_type(g_nl, 206, 0, 0,
					 NL_ROUTE_UNREACHABLE, 0),
		       "del unreachable"))
		goto out;
	/* empty tables do not exist; listing one is simply empty */
	if (!ASSERT_EQ(count_route(1006, &def, &total), 0, "1006 empty") ||
	    !ASSERT_EQ(total, 0, "no routes in 1006") ||
	    !ASSERT_EQ(count_route(206, &unr, &total), 0, "206 empty") ||
	    !ASSERT_EQ(total, 0, "no routes in 206") ||
	    !ASSERT_OK(nl_route_del(g_nl, 1006, 0, 0, 0, 0), "del in no table"))
		goto out;
	/* every table: at least the local table's routes */
	if (!ASSERT_EQ(count_route(0, &def, &total), 0, "all") ||
	    !ASSERT_TRUE(total > 0, "all tables listed"))
		goto out;
	ret = 0;
out:
	nl_route_del(g_nl, 1006, 0, 0, 0, 0);
	nl_route_del_type(g_nl, 1006, 0, 0, NL_ROUTE_BLACKHOLE, 100);
	nl_route_del_type(g_nl, 206, 0, 0, NL_ROUTE_UNREACHABLE, 0);
	nl_link_del(g_nl, "vnl3");
	return ret;
}

/* ---- errors carry the kernel's extack --------------------------------- */

static int test_extack(void)
{
	int err;

	/* No route to 10.9.9.9 anywhere in this netns. */
	err = nl_route_add(g_nl, 1007, 0, 0, ip4("10.9.9.9"), 0);
	printf("  unreachable gateway: %s\n", nl_errmsg(g_nl));
	if (!ASSERT_TRUE(err < 0, "refused") ||
	    !ASSERT_TRUE(has_errmsg(g_nl,
				    "Couldn't add route default via 10.9.9.9"),
			 "what") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "; kernel: "), "extack") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "gateway"), "kernel's words"))
		return -1;

	err = nl_addr_add(g_nl, 99999, ip4("10.100.9.1"), 24);
	printf("  no such ifindex: %s\n", nl_errmsg(g_nl));
	if (!ASSERT_EQ(err, -ENODEV, "ENODEV") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "(-19)"), "errno in msg") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "; kernel: "), "extack"))
		return -1;

	/* Host bits under the prefix: the kernel names the problem. */
	err = nl_route_add(g_nl, 1007, ip4("10.1.2.3"), 24, 0, 1);
	printf("  host bits: %s\n", nl_errmsg(g_nl));
	if (!ASSERT_EQ(err, -EINVAL, "EINVAL") ||
	    !ASSERT_TRUE(has_errmsg(g_nl, "; kernel: "), "extack"))
		return -1;

	/* A success afterwards leaves no stale message behind. */
	if (!ASSERT_TRUE(nl_link_index(g_nl, "lo") > 0, "lo") ||
	    !ASSERT_EQ(strlen(nl_errmsg(g_nl)), 0, "message cleared"))
		return -1;
	return 0;
}

/* ---- events ----------------------------------------------------------- */

struct ev_want {
	enum nl_event_type type;
	const char *name;
	int ifindex; /* from the event */
	bool seen;
};

static int ev_cb(const struct nl_event *ev, void *ctx)
{
	struct ev_want *w = ctx;

	if (ev->type == w->type && !strcmp(ev->link.name, w->name)) {
		w->seen = true;
		w->ifindex = ev->link.ifindex;
	}
	return 0;
}

/* Poll the event handle until w is seen or ms pass. */
static bool ev_wait(struct nl *ev, struct ev_want *w, int ms)
{
	struct pollfd pfd = { .fd = nl_fd(ev), .events = POLLIN };
	int waited = 0;

	while (!w->seen && waited < ms) {
		if (poll(&pfd, 1, 50) == 0)
			waited += 50;
		if (nl_events_read(ev, ev_cb, w) < 0) {
			fprintf(stderr, "  %s\n", nl_errmsg(ev));
			return false;
		}
	}
	return w->seen;
}

static int test_events(void)
{
	struct ev_want w = { .type = NL_EVENT_LINK_NEW, .name = "vnl4" };
	struct nl *ev = NULL, *tmp = NULL;
	char tmpns[48], path[96];
	int ret = -1, idx, fd = -1;

	snprintf(tmpns, sizeof(tmpns), "%s-tmp", g_ns);
	if (!ASSERT_OK(nl_events_open(&ev, RTMGRP_LINK), "events open") ||
	    !ASSERT_EQ(nl_events_read(ev, ev_cb, &w), 0, "nothing pending"))
		goto out;

	if (!ASSERT_OK(nl_veth_create(g_nl, "vnl4", "vnl4p", g_ns_fd), "veth"))
		goto out;
	idx = nl_link_index(g_nl, "vnl4");
	if (!ASSERT_TRUE(ev_wait(ev, &w, 2000), "NEWLINK vnl4") ||
	    !ASSERT_EQ(w.ifindex, idx, "its ifindex"))
		goto out;

	w = (struct ev_want){ .type = NL_EVENT_LINK_DEL, .name = "vnl4" };
	if (!ASSERT_OK(nl_link_del(g_nl, "vnl4"), "del") ||
	    !ASSERT_TRUE(ev_wait(ev, &w, 2000), "DELLINK vnl4") ||
	    !ASSERT_EQ(w.ifindex, idx, "its ifindex"))
		goto out;

	/*
	 * The orphan case: the service's netns goes away, the kernel
	 * destroys the veth, and the host end vanishes under us.
	 */
	if (!ASSERT_EQ(sh("ip netns add %s", tmpns), 0, "tmp netns"))
		goto out;
	snprintf(path, sizeof(path), "/run/netns/%s", tmpns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!ASSERT_TRUE(fd >= 0, "open tmp netns") ||
	    !ASSERT_OK(nl_veth_create(g_nl, "vnl5", "vnl5p", fd), "veth"))
		goto out;
	close(fd);
	fd = -1;
	w = (struct ev_want){ .type = NL_EVENT_LINK_DEL, .name = "vnl5" };
	if (!ASSERT_EQ(sh("ip netns del %s", tmpns), 0, "tmp netns del") ||
	    !ASSERT_TRUE(ev_wait(ev, &w, 5000), "DELLINK vnl5 (netns gone)") ||
	    !ASSERT_EQ(nl_link_index(g_nl, "vnl5"), -ENODEV, "vnl5 gone"))
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	nl_close(tmp);
	nl_close(ev);
	nl_link_del(g_nl, "vnl4");
	nl_link_del(g_nl, "vnl5");
	sh("ip netns del %s 2>/dev/null", tmpns);
	return ret;
}

/* ---- setup ------------------------------------------------------------ */

static void cleanup(void)
{
	nl_close(g_nl);
	g_nl = NULL;
	if (g_ns_fd >= 0)
		close(g_ns_fd);
	g_ns_fd = -1;
	if (g_ns_made)
		sh("ip netns del %s 2>/dev/null", g_ns);
	g_ns_made = false;
}

/* 0, or TEST_SKIP / 1 with the reason printed. */
static int setup(void)
{
	int lo, err;

	if (geteuid() != 0) {
		printf("skip: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for network namespaces)\n");
		return TEST_SKIP;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		printf("skip: unshare(CLONE_NEWNET | CLONE_NEWNS): %s\n",
		       strerror(errno));
		return TEST_SKIP;
	}
	/*
	 * Private mounts, and a private /run/netns: the named netns below
	 * then dies with this process however it ends.  If the tmpfs cannot
	 * be had, the named netns is global and atexit() deletes it.
	 */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0) {
		mkdir("/run/netns", 0755);
		if (mount("vifnl", "/run/netns", "tmpfs", 0, "mode=0755") < 0)
			printf("note: no private /run/netns: %s\n",
			       strerror(errno));
	}
	if (sh("ip -V >/dev/null 2>&1") != 0) {
		printf("skip: the ip command (iproute2) is missing\n");
		return TEST_SKIP;
	}
	atexit(cleanup);

	err = nl_open(&g_nl);
	if (err) {
		printf("setup: nl_open: %s (%d)\n", strerror(-err), err);
		return 1;
	}
	lo = nl_link_index(g_nl, "lo");
	if (lo < 0 || nl_link_set_up(g_nl, lo)) {
		printf("setup: lo: %s\n", nl_errmsg(g_nl));
		return 1;
	}
	snprintf(g_ns, sizeof(g_ns), "vifnl-%d", (int)getpid());
	snprintf(g_ns_path, sizeof(g_ns_path), "/run/netns/%s", g_ns);
	if (sh("ip netns add %s", g_ns) != 0) {
		printf("setup: ip netns add %s failed\n", g_ns);
		return 1;
	}
	g_ns_made = true;
	g_ns_fd = open(g_ns_path, O_RDONLY | O_CLOEXEC);
	if (g_ns_fd < 0) {
		printf("setup: open %s: %s\n", g_ns_path, strerror(errno));
		return 1;
	}
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_name_too_long),
	TEST_CASE(test_veth_local),
	TEST_CASE(test_veth_netns),
	TEST_CASE(test_open_netns),
	TEST_CASE(test_link_list),
	TEST_CASE(test_addr),
	TEST_CASE(test_rule),
	TEST_CASE(test_route),
	TEST_CASE(test_extack),
	TEST_CASE(test_events),
};

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = setup();
	if (err)
		return err;
	return harness_run(cases, ARRAY_SIZE(cases));
}
