/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_vifmgr.c - control/vifmgr.c against the real kernel, a real SQLite
 * store and the real XDP dataplane.
 *
 * Isolation: the whole test runs in its own network namespace and mount
 * namespace (unshare), with a private tmpfs on /run/netns for the
 * services' named namespaces and, when it can be had, a private bpffs on
 * /sys/fs/bpf, so even a kill -9 of the test leaves nothing behind.  The
 * dataplane pins under /sys/fs/bpf/vifplane/test-vifmgr-<pid> either way,
 * and is torn down at exit.  The store lives in a mkdtemp directory.
 *
 * Every check reads the state back from where it lives: nl dumps and `ip`
 * output for the Linux side, dp_vif_get()/dp_vif_dump() for the
 * dataplane, the store for rows.  Crash points are real: a forked child
 * creates or deletes a VIF and SIGKILLs itself from the step hook, then
 * the parent reopens everything and reconciles.
 *
 * VIFMGR_TEST_BULK=<n> sets the bulk case's size (default 256, at most
 * 4092: the pool here is 2-4093).  Needs root; exits 77 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <jansson.h>

#include "config.h"
#include "dp.h"
#include "harness.h"
#include "nl.h"
#include "store.h"
#include "vifmgr.h"

static struct vifd_config g_cfg;
static char g_dir[64];     /* state dir (mkdtemp) */
static char g_db[128];
static char g_pin[128];    /* dataplane pin dir */
static char g_ns[32];      /* a service netns that lives all along */
static bool g_ns_made, g_bpffs_private;
static struct store *g_store;
static struct nl *g_nl;
static struct dp *g_dp;
static struct vifmgr *g_m;

/* Events seen through deps->emit. */
static struct {
	unsigned int state, deleted, killswitch, chain, quota;
	char last_state[16];
	char last_name[VIFD_NAME_MAX];
} g_ev;

/* The step hook: fail (g_fail_step) or die (g_crash_step) at a step. */
static int g_fail_step = -1;
static int g_crash_step = -1;
static int g_crash_skip; /* die at the (g_crash_skip + 1)-th such step */

/* Time between hook calls, charged to the step that was running. */
static struct {
	bool on;
	int last;
	double t;
	double in[VIFMGR_STEP__MAX];
} g_prof;

/* ---- helpers ---------------------------------------------------------- */

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

/* Does the output of the command contain want? */
static bool sh_has(const char *want, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool sh_has(const char *want, const char *fmt, ...)
{
	char cmd[512], out[16384];
	size_t len = 0, n;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return false;
	while (len < sizeof(out) - 1 &&
	       (n = fread(out + len, 1, sizeof(out) - 1 - len, f)) > 0)
		len += n;
	out[len] = '\0';
	pclose(f);
	if (!strstr(out, want)) {
		fprintf(stderr, "'%s' has no '%s' in:\n%s\n", cmd, want, out);
		return false;
	}
	return true;
}

static const char *ip4s(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_event(void *ctx, const char *type, __u16 vlan, json_t *data)
{
	const char *s;

	if (!strcmp(type, "vif.state")) {
		g_ev.state++;
		s = json_string_value(json_object_get(data, "state"));
		snprintf(g_ev.last_state, sizeof(g_ev.last_state), "%s",
			 s ? s : "");
		s = json_string_value(json_object_get(data, "name"));
		snprintf(g_ev.last_name, sizeof(g_ev.last_name), "%s",
			 s ? s : "");
	} else if (!strcmp(type, "vif.deleted")) {
		g_ev.deleted++;
	} else if (!strcmp(type, "vif.killswitch")) {
		g_ev.killswitch++;
	} else if (!strcmp(type, "vif.chain")) {
		g_ev.chain++;
	} else if (!strcmp(type, "vif.quota")) {
		g_ev.quota++;
	}
}

static double now_s(void);

static void prof_mark(int step)
{
	double t = now_s();

	if (g_prof.last >= 0)
		g_prof.in[g_prof.last] += t - g_prof.t;
	g_prof.last = step;
	g_prof.t = t;
}

static void prof_start(void)
{
	memset(&g_prof, 0, sizeof(g_prof));
	g_prof.on = true;
	g_prof.last = -1;
}

static void prof_print(const char *what, unsigned int n, int from, int to)
{
	int i;

	prof_mark(-1);
	g_prof.on = false;
	printf("  %s, per VIF:", what);
	for (i = from; i <= to; i++)
		printf(" %s %.0f us%s", vifmgr_step_name(i),
		       g_prof.in[i] * 1e6 / n, i < to ? "," : "\n");
}

static int on_hook(void *ctx, const char *name, enum vifmgr_step step)
{
	if (g_prof.on)
		prof_mark(step);
	if ((int)step == g_crash_step && g_crash_skip-- <= 0)
		raise(SIGKILL);
	if ((int)step == g_fail_step)
		return -EIO;
	return 0;
}

static int mgr_open_with(struct store *s, struct nl *nl, struct dp *dp,
			 struct vifmgr **out)
{
	struct vifmgr_deps deps = {
		.cfg = &g_cfg,
		.store = s,
		.nl = nl,
		.dp = dp,
		.emit = on_event,
		.hook = on_hook,
	};

	return vifmgr_open(&deps, out);
}

static int mgr_open(void)
{
	return mgr_open_with(g_store, g_nl, g_dp, &g_m);
}

static void mgr_close(void)
{
	vifmgr_close(g_m);
	g_m = NULL;
}

/* Simulated restart: the store and manager reopened from disk. */
static int restart(void)
{
	int err;

	mgr_close();
	store_close(g_store);
	g_store = NULL;
	err = store_open(g_db, &g_store);
	if (!err)
		err = mgr_open();
	return err;
}

static struct vifmgr_req req(const char *name, __u16 vlan, const char *ns)
{
	struct vifmgr_req r = { .name = name, .vlan = vlan, .netns = ns };

	return r;
}

static int create(const char *name, __u16 vlan, const char *ns)
{
	struct vifmgr_req r = req(name, vlan, ns);
	char err[256] = "";
	int ret;

	ret = vifmgr_create(g_m, &r, NULL, err, sizeof(err));
	if (ret)
		fprintf(stderr, "create %s: %s (%d)\n", name, err, ret);
	return ret;
}

static int del(const char *name)
{
	char err[256] = "";
	int ret;

	ret = vifmgr_delete(g_m, name, err, sizeof(err));
	if (ret)
		fprintf(stderr, "delete %s: %s (%d)\n", name, err, ret);
	return ret;
}

static int retry(const char *name)
{
	char err[256] = "";
	int ret;

	ret = vifmgr_retry(g_m, name, err, sizeof(err));
	if (ret)
		fprintf(stderr, "retry %s: %s (%d)\n", name, err, ret);
	return ret;
}

/* A copy: the manager's pointer dies with the VIF. */
static bool snap(const char *name, struct vifd_vif *out)
{
	const struct vifd_vif *v = vifmgr_find(g_m, name);

	if (!v) {
		fprintf(stderr, "no VIF '%s'\n", name);
		return false;
	}
	*out = *v;
	return true;
}

struct rule_q {
	__u32 mark, table;
	int n;
};

static int rule_q_cb(const struct nl_rule *r, void *ctx)
{
	struct rule_q *q = ctx;

	if (r->fwmark == q->mark && r->table == q->table &&
	    r->priority == VIFMGR_RULE_PRIORITY)
		q->n++;
	return 0;
}

static int rule_count(__u32 mark, __u32 table)
{
	struct rule_q q = { mark, table, 0 };

	if (nl_rule_list(g_nl, rule_q_cb, &q))
		return -1;
	return q.n;
}

/* Kill-switch floor rules (VIFMGR_FLOOR_PRIORITY) that match mark. */
struct floor_q {
	__u32 mark;
	int n, all;
};

static int floor_q_cb(const struct nl_rule *r, void *ctx)
{
	struct floor_q *q = ctx;

	if (r->action != FR_ACT_BLACKHOLE ||
	    r->priority != VIFMGR_FLOOR_PRIORITY || r->other_selectors)
		return 0;
	q->all++;
	if ((q->mark & r->fwmask) == r->fwmark)
		q->n++;
	return 0;
}

/* How many floor rules drop mark (1 when covered), -1 on error. */
static int floor_count(__u32 mark)
{
	struct floor_q q = { mark, 0, 0 };

	if (nl_rule_list(g_nl, floor_q_cb, &q))
		return -1;
	return q.n;
}

static int floor_total(void)
{
	struct floor_q q = { 0, 0, 0 };

	if (nl_rule_list(g_nl, floor_q_cb, &q))
		return -1;
	return q.all;
}

/*
 * Fail closed, as the kernel decides it: main has a default route (the
 * veth vmdflt0, set up in main()), yet a packet with the VIF's mark and
 * no route in the VIF's table gets no route at all.  An unmarked one
 * does, so the check cannot pass for want of a main route.
 */
static bool marked_dropped(__u32 mark)
{
	return ASSERT_EQ(sh("ip route get 198.51.100.7 >/dev/null 2>&1"), 0,
			 "unmarked: main's default") &&
	       ASSERT_TRUE(sh("ip route get 198.51.100.7 mark 0x%x >/dev/null 2>&1",
			      mark) != 0,
			   "marked: no route, never main's");
}

/* The floor block (default mark base) that holds mark. */
static struct alloc_mark_block floor_block(__u32 mark)
{
	struct alloc_mark_block b[ALLOC_MARK_BLOCKS_MAX] = { 0 };
	int n, i;

	n = alloc_mark_blocks(g_cfg.mark_base, b, ALLOC_MARK_BLOCKS_MAX);
	for (i = 0; i < n; i++)
		if ((mark & b[i].mask) == b[i].value)
			return b[i];
	return b[0];
}

struct route_q {
	int n, blackhole, unicast_oif;
};

static int route_q_cb(const struct nl_route *r, void *ctx)
{
	struct route_q *q = ctx;

	q->n++;
	if (r->type == RTN_BLACKHOLE)
		q->blackhole++;
	if (!r->dst && !r->prefix_len && r->type == RTN_UNICAST)
		q->unicast_oif = r->oif;
	return 0;
}

static struct route_q routes_of(__u32 table)
{
	struct route_q q = { 0 };

	if (nl_route_list(g_nl, table, route_q_cb, &q))
		q.n = -1;
	return q;
}

struct addr_q {
	__be32 addr;
	__u8 plen;
	bool found;
};

static int addr_q_cb(const struct nl_addr *a, void *ctx)
{
	struct addr_q *q = ctx;

	if (a->addr == q->addr && a->prefix_len == q->plen)
		q->found = true;
	return 0;
}

static bool addr_has(struct nl *nl, int ifindex, __be32 addr, __u8 plen)
{
	struct addr_q q = { addr, plen, false };

	return !nl_addr_list(nl, ifindex, addr_q_cb, &q) && q.found;
}

struct alloc_q {
	__u16 vlan;
	int n, vlan_n;
};

static int alloc_q_cb(const struct store_alloc *a, void *ctx)
{
	struct alloc_q *q = ctx;

	q->n++;
	if (a->vlan == q->vlan)
		q->vlan_n++;
	return 0;
}

static struct alloc_q allocs(__u16 vlan)
{
	struct alloc_q q = { .vlan = vlan };

	if (store_alloc_list(g_store, alloc_q_cb, &q))
		q.n = -1;
	return q;
}

/* Links in our netns in vifd's "vp"/"vs" form. */
static int vifd_link_cb(const struct nl_link *l, void *ctx)
{
	enum alloc_if_kind kind;
	__u16 vlan;

	if (!alloc_ifname_parse(l->name, &kind, &vlan) &&
	    kind != ALLOC_IF_TUN) {
		fprintf(stderr, "vifd link left: %s\n", l->name);
		(*(int *)ctx)++;
	}
	return 0;
}

static int vifd_links(void)
{
	int n = 0;

	if (nl_link_list(g_nl, vifd_link_cb, &n))
		return -1;
	return n;
}

static int dp_count(void)
{
	static struct vif_entry ents[VIF_VLAN_SLOTS];

	return dp_vif_dump(g_dp, ents, VIF_VLAN_SLOTS);
}

/* disable_ipv6 of a link in our netns: 1, 0, or -1 without IPv6 at all. */
static int ipv6_disabled(const char *ifname)
{
	char path[96], c = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fread(&c, 1, 1, f) != 1)
		c = '?';
	fclose(f);
	return c == '1' ? 1 : 0;
}

/*
 * Everything a VIF is, read back from the kernel, the dataplane and the
 * store.
 */
static bool check_active(const char *name)
{
	char path[128], a[INET_ADDRSTRLEN], want[128];
	struct nl_link port, peer;
	struct vifd_vif v, row;
	struct nl *pnl = NULL;
	struct vif_entry e;
	struct route_q rq;
	bool ok = false;

	if (!snap(name, &v))
		return false;
	if (!ASSERT_EQ(v.state, VIFD_STATE_ACTIVE, name) ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, name, &row), "row") ||
	    !ASSERT_EQ(row.state, VIFD_STATE_ACTIVE, "row ACTIVE") ||
	    !ASSERT_EQ(row.error[0], 0, "row error empty") ||
	    !ASSERT_EQ(allocs(v.vlan).vlan_n, 1, "allocation row"))
		goto out;

	/* The host end: a veth, up, with the host address. */
	if (!ASSERT_OK(nl_link_get(g_nl, v.ifname, &port), v.ifname) ||
	    !ASSERT_TRUE(!strcmp(port.kind, "veth"), "port is a veth") ||
	    !ASSERT_TRUE(port.flags & IFF_UP, "port up") ||
	    !ASSERT_TRUE(addr_has(g_nl, port.ifindex, v.gw_addr,
				  v.prefix_len), "host address on port"))
		goto out;
	snprintf(want, sizeof(want), "%s/%u", ip4s(v.gw_addr, a),
		 v.prefix_len);
	if (!ASSERT_TRUE(sh_has(want, "ip -4 -o addr show dev %s", v.ifname),
			 "ip addr: host address") ||
	    !ASSERT_TRUE(ipv6_disabled(v.ifname) != 0, "no IPv6 on the port") ||
	    !ASSERT_TRUE(v.netns[0] || ipv6_disabled(v.peer_ifname) != 0,
			 "no IPv6 on a service end in our netns"))
		goto out;

	/* The service end, in its netns or here. */
	if (v.netns[0]) {
		snprintf(path, sizeof(path), "/run/netns/%s", v.netns);
		if (!ASSERT_TRUE(port.link_netnsid >= 0, "peer in a netns") ||
		    !ASSERT_OK(nl_open_netns(&pnl, path), "open netns"))
			goto out;
	}
	if (!ASSERT_OK(nl_link_get(pnl ? pnl : g_nl, v.peer_ifname, &peer),
		       v.peer_ifname) ||
	    !ASSERT_EQ(peer.ifindex, port.link, "the port's peer") ||
	    !ASSERT_TRUE(peer.flags & IFF_UP, "service end up") ||
	    !ASSERT_TRUE(addr_has(pnl ? pnl : g_nl, peer.ifindex, v.svc_addr,
				  v.prefix_len), "service address"))
		goto out;
	snprintf(want, sizeof(want), "%s/%u", ip4s(v.svc_addr, a),
		 v.prefix_len);
	if (v.netns[0]) {
		if (!ASSERT_TRUE(sh_has(want, "ip -n %s -4 -o addr show dev %s",
					v.netns, v.peer_ifname),
				 "ip -n addr: service address"))
			goto out;
		snprintf(want, sizeof(want), "default via %s", ip4s(v.gw_addr, a));
		if (!ASSERT_TRUE(sh_has(want, "ip -n %s route show", v.netns),
				 "service netns default route"))
			goto out;
	}

	/* Rule and table. */
	if (!ASSERT_EQ(rule_count(v.mark, v.table), 1, "one fwmark rule"))
		goto out;
	snprintf(want, sizeof(want), "fwmark 0x%x lookup %u", v.mark, v.table);
	if (!ASSERT_TRUE(sh_has(want, "ip rule show"), "ip rule"))
		goto out;
	/*
	 * The kill switch's floor: one blackhole rule covers the mark, no
	 * per-table blackhole any more, and without a gateway route the
	 * kernel drops marked traffic instead of routing it by main.
	 */
	rq = routes_of(v.table);
	if (!ASSERT_EQ(floor_count(v.mark), 1, "one floor rule drops the mark") ||
	    !ASSERT_TRUE(sh_has("blackhole", "ip rule show pref %u",
				VIFMGR_FLOOR_PRIORITY), "ip rule: floor") ||
	    !ASSERT_EQ(rq.blackhole, 0, "no blackhole route in the table"))
		goto out;
	if (!rq.unicast_oif && !marked_dropped(v.mark))
		goto out;

	/* The dataplane entry, field by field, and the port's program. */
	if (!ASSERT_OK(dp_vif_get(g_dp, v.vlan, &e), "dp entry") ||
	    !ASSERT_EQ(e.svc_ifindex, port.ifindex, "entry: port") ||
	    !ASSERT_EQ(e.mark, v.mark, "entry: mark") ||
	    !ASSERT_EQ(e.table, v.table, "entry: table") ||
	    !ASSERT_EQ(e.addr, v.svc_addr, "entry: addr") ||
	    !ASSERT_EQ(e.subnet, v.subnet, "entry: subnet") ||
	    !ASSERT_EQ(e.host_addr, v.gw_addr, "entry: host addr") ||
	    !ASSERT_EQ(e.next_hop, v.next_hop, "entry: next hop") ||
	    !ASSERT_MEM_EQ(e.port_mac, port.mac, 6, "entry: port MAC") ||
	    !ASSERT_MEM_EQ(e.svc_mac, peer.mac, 6, "entry: service MAC") ||
	    !ASSERT_TRUE(e.flags & VIF_F_ACTIVE, "entry: active") ||
	    !ASSERT_EQ(!!(e.flags & VIF_F_KILLSWITCH), v.ks_engaged,
		       "entry: kill switch") ||
	    !ASSERT_TRUE(dp_xdp_mode_of(port.ifindex, NULL) > 0,
			 "XDP on the port"))
		goto out;
	ok = true;
out:
	nl_close(pnl);
	return ok;
}

/*
 * Nothing of v is left on the Linux side or in the dataplane.  row: the
 * row is expected to be there (ERROR), else row and allocation are gone.
 */
static bool check_gone(const struct vifd_vif *v, bool row)
{
	char path[128];
	struct vif_entry e;
	struct vifd_vif r;
	struct nl *pnl = NULL;
	bool ok = false;

	if (!ASSERT_EQ(nl_link_index(g_nl, v->ifname), -ENODEV, "port gone") ||
	    !ASSERT_EQ(nl_link_index(g_nl, v->peer_ifname), -ENODEV,
		       "no service end here") ||
	    !ASSERT_EQ(rule_count(v->mark, v->table), 0, "rule gone") ||
	    !ASSERT_EQ(routes_of(v->table).n, 0, "table empty") ||
	    !ASSERT_EQ(dp_vif_get(g_dp, v->vlan, &e), -ENOENT, "entry gone"))
		goto out;
	if (v->netns[0]) {
		snprintf(path, sizeof(path), "/run/netns/%s", v->netns);
		if (!nl_open_netns(&pnl, path) &&
		    !ASSERT_EQ(nl_link_index(pnl, v->peer_ifname), -ENODEV,
			       "service end gone from the netns"))
			goto out;
	}
	if (row) {
		if (!ASSERT_OK(store_vif_get_by_name(g_store, v->name, &r),
			       "row kept") ||
		    !ASSERT_EQ(r.state, VIFD_STATE_ERROR, "row ERROR") ||
		    !ASSERT_TRUE(r.error[0], "row has a reason") ||
		    !ASSERT_EQ(allocs(v->vlan).vlan_n, 1, "VLAN kept"))
			goto out;
	} else {
		if (!ASSERT_EQ(store_vif_get_by_name(g_store, v->name, &r),
			       -ENOENT, "row gone") ||
		    !ASSERT_EQ(allocs(v->vlan).vlan_n, 0, "allocation gone") ||
		    !ASSERT_TRUE(!vifmgr_find(g_m, v->name), "forgotten"))
			goto out;
	}
	ok = true;
out:
	nl_close(pnl);
	return ok;
}

/* No VIF, row, allocation, vifd link or dataplane entry anywhere. */
static bool check_empty(void)
{
	return ASSERT_EQ(vifmgr_count(g_m), 0, "no VIFs") &&
	       ASSERT_EQ(allocs(0).n, 0, "no allocations") &&
	       ASSERT_EQ(vifd_links(), 0, "no vifd links") &&
	       ASSERT_EQ(dp_count(), 0, "no dataplane entries");
}

static bool check_error(const char *name, const char *reason_has)
{
	const struct vifd_vif *v = vifmgr_find(g_m, name);
	struct vifd_vif row;

	if (!ASSERT_TRUE(v, "VIF kept") ||
	    !ASSERT_EQ(v->state, VIFD_STATE_ERROR, "ERROR") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, name, &row), "row") ||
	    !ASSERT_EQ(row.state, VIFD_STATE_ERROR, "row ERROR"))
		return false;
	if (!strstr(v->error, reason_has) || strcmp(v->error, row.error)) {
		fprintf(stderr, "reason '%s' (row '%s') lacks '%s'\n",
			v->error, row.error, reason_has);
		return false;
	}
	return true;
}

/* Best effort between cases, so one failure does not cascade. */
static void reset_all(void)
{
	const struct vifd_vif *v;
	unsigned int vlan;

	g_fail_step = -1;
	g_crash_step = -1;
	for (vlan = 0; vlan < VIF_VLAN_SLOTS; vlan++) {
		v = vifmgr_get(g_m, vlan);
		if (v)
			vifmgr_clear_next_hop(g_m, vlan);
	}
	for (vlan = 0; vlan < VIF_VLAN_SLOTS; vlan++) {
		v = vifmgr_get(g_m, vlan);
		if (v) {
			char name[VIFD_NAME_MAX];

			snprintf(name, sizeof(name), "%s", v->name);
			vifmgr_delete(g_m, name, NULL, 0);
		}
	}
}

/* ---- cases ------------------------------------------------------------ */

/* Three VIFs: plain, in a netns, and with a gateway and a quota. */
static int test_create_three(void)
{
	struct vifmgr_req r = req("gamma", 150, NULL);
	struct vifd_vif a, b, c;
	const struct vifd_vif *vp;
	struct pool_status st;
	struct vif_entry e;
	char err[256] = "";
	int ret = -1;

	reset_all();
	memset(&g_ev, 0, sizeof(g_ev));
	r.gw.type = VIFD_GW_SOCKS5;
	snprintf(r.gw.tun, sizeof(r.gw.tun), "tungamma");
	r.quota.limit = 1000000000;
	r.quota.dir = VIFD_QUOTA_BOTH;
	r.quota.action = VIFD_QUOTA_BLOCK;

	if (!ASSERT_OK(create("alpha", 0, NULL), "create alpha") ||
	    !ASSERT_OK(create("beta", 0, g_ns), "create beta (netns)") ||
	    !ASSERT_OK(vifmgr_create(g_m, &r, &vp, err, sizeof(err)),
		       "create gamma") ||
	    !ASSERT_TRUE(vp && !strcmp(vp->name, "gamma"), "*vif"))
		goto out;
	if (!snap("alpha", &a) || !snap("beta", &b) || !snap("gamma", &c))
		goto out;
	/* Lowest free first: the pool starts at 2. */
	if (!ASSERT_EQ(a.vlan, 2, "alpha: lowest free") ||
	    !ASSERT_EQ(b.vlan, 3, "beta: next") ||
	    !ASSERT_EQ(c.vlan, 150, "gamma: asked for") ||
	    !ASSERT_TRUE(!strcmp(a.ifname, "vp2-alpha"), "port name") ||
	    !ASSERT_TRUE(!strcmp(b.peer_ifname, "vs3-beta"), "svc name") ||
	    !ASSERT_EQ(a.ks_engaged, 0, "no gateway: kill switch off") ||
	    !ASSERT_EQ(c.ks_engaged, 1, "gateway: kill switch engaged"))
		goto out;
	if (!check_active("alpha") || !check_active("beta") ||
	    !check_active("gamma"))
		goto out;
	/* gamma's quota reached the dataplane; no tun yet: blackhole only. */
	if (!ASSERT_OK(dp_vif_get(g_dp, 150, &e), "gamma entry") ||
	    !ASSERT_EQ(e.quota_limit, 1000000000, "quota limit") ||
	    !ASSERT_EQ(e.flags & VIF_QUOTA_FLAGS,
		       VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX | VIF_F_QUOTA_TX,
		       "quota flags") ||
	    !ASSERT_EQ(routes_of(c.table).n, 0, "no route: the floor drops"))
		goto out;
	/* CREATING and ACTIVE for each. */
	if (!ASSERT_EQ(g_ev.state, 6, "state events") ||
	    !ASSERT_TRUE(!strcmp(g_ev.last_state, "ACTIVE"), "last ACTIVE"))
		goto out;
	vifmgr_pool_status(g_m, &st);
	if (!ASSERT_EQ(st.allocated, 3, "pool: 3 allocated") ||
	    !ASSERT_EQ(vifmgr_count(g_m), 3, "count"))
		goto out;
	/* Name taken (any state), VLAN taken, bad names. */
	if (!ASSERT_EQ(create("alpha", 0, NULL), -EEXIST, "name taken") ||
	    !ASSERT_EQ(create("other", 150, NULL), -EEXIST, "VLAN taken") ||
	    !ASSERT_EQ(create("bad/name", 0, NULL), -EINVAL, "bad name") ||
	    !ASSERT_EQ(create("x", 1, NULL), -ERANGE, "VLAN outside pool") ||
	    !ASSERT_EQ(create("y", 0, "../etc"), -EINVAL, "bad netns") ||
	    !ASSERT_EQ(vifmgr_count(g_m), 3, "nothing added"))
		goto out;

	if (!ASSERT_OK(del("alpha"), "delete alpha") ||
	    !ASSERT_OK(del("beta"), "delete beta") ||
	    !ASSERT_OK(del("gamma"), "delete gamma") ||
	    !check_gone(&a, false) || !check_gone(&b, false) ||
	    !check_gone(&c, false) || !check_empty() ||
	    !ASSERT_EQ(g_ev.deleted, 3, "deleted events") ||
	    !ASSERT_EQ(del("alpha"), -ENOENT, "delete twice"))
		goto out;
	ret = 0;
out:
	return ret;
}

/* The netns named for the service does not exist: ERROR, then fixed. */
static int test_fail_netns_missing(void)
{
	char ns[32];
	struct vifmgr_req r;
	const struct vifd_vif *vp = NULL;
	struct vifd_vif v;
	char err[256] = "";
	int ret = -1;

	reset_all();
	snprintf(ns, sizeof(ns), "vifmgr-late-%d", (int)getpid());
	r = req("nsmiss", 0, ns);
	if (!ASSERT_EQ(vifmgr_create(g_m, &r, &vp, err, sizeof(err)), -ENOENT,
		       "create into a missing netns") ||
	    !ASSERT_TRUE(vp, "*vif is the ERROR VIF") ||
	    !ASSERT_TRUE(strstr(err, "does not exist"), "err says why") ||
	    !check_error("nsmiss", "veth: netns") || !snap("nsmiss", &v) ||
	    !check_gone(&v, true))
		goto out;
	/* Retrying without fixing the cause fails the same way. */
	if (!ASSERT_EQ(retry("nsmiss"), -ENOENT, "retry, still missing") ||
	    !check_error("nsmiss", "does not exist") || !check_gone(&v, true))
		goto out;
	if (!ASSERT_EQ(sh("ip netns add %s", ns), 0, "ip netns add") ||
	    !ASSERT_OK(retry("nsmiss"), "retry after the fix") ||
	    !check_active("nsmiss") || !ASSERT_OK(del("nsmiss"), "delete") ||
	    !check_gone(&v, false) || !check_empty())
		goto out;
	ret = 0;
out:
	sh("ip netns del %s 2>/dev/null", ns);
	return ret;
}

/* A foreign veth holds the port's name: ERROR, and it is never touched. */
static int test_fail_ifname_taken(void)
{
	struct vifmgr_report rep;
	struct nl_link fl;
	struct vifd_vif v;
	int ret = -1;

	reset_all();
	if (!ASSERT_EQ(sh("ip link add vp120-taken type veth peer name xforeign120"),
		       0, "foreign veth"))
		goto out;
	if (!ASSERT_EQ(create("taken", 120, NULL), -EEXIST, "create") ||
	    !check_error("taken", "veth: Couldn't create veth 'vp120-taken'") ||
	    !snap("taken", &v) ||
	    !ASSERT_OK(nl_link_get(g_nl, "xforeign120", &fl), "foreign peer") ||
	    !ASSERT_EQ(rule_count(v.mark, v.table), 0, "no rule") ||
	    !ASSERT_EQ(routes_of(v.table).n, 0, "no routes") ||
	    !ASSERT_EQ(dp_count(), 0, "no entry"))
		goto out;
	/* Reconcile and delete of the ERROR VIF leave the foreign veth. */
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.links_removed, 0, "reconcile removed no link") ||
	    !ASSERT_EQ(rep.error_vifs, 1, "one ERROR VIF") ||
	    !ASSERT_OK(del("taken"), "delete the ERROR VIF") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "vp120-taken") > 0,
			 "foreign veth kept") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "xforeign120") > 0,
			 "foreign peer kept"))
		goto out;
	/* Again, then the cause goes and retry works. */
	if (!ASSERT_EQ(create("taken", 120, NULL), -EEXIST, "create again") ||
	    !ASSERT_EQ(sh("ip link del vp120-taken"), 0, "foreign veth gone") ||
	    !ASSERT_OK(retry("taken"), "retry") || !check_active("taken") ||
	    !ASSERT_OK(del("taken"), "delete") || !check_gone(&v, false) ||
	    !check_empty())
		goto out;
	ret = 0;
out:
	sh("ip link del vp120-taken 2>/dev/null");
	return ret;
}

/* The dataplane refuses writes (read-only handle): rollback, then retry. */
static int test_fail_dataplane(void)
{
	struct dp_opts o = { .pin_dir = g_pin, .read_only = true };
	struct dp *ro = NULL;
	struct vifd_vif v;
	int ret = -1;

	reset_all();
	mgr_close();
	if (!ASSERT_OK(dp_open(&o, &ro), "read-only dp") ||
	    !ASSERT_OK(mgr_open_with(g_store, g_nl, ro, &g_m), "open"))
		goto out;
	if (!ASSERT_EQ(create("dpfail", 0, g_ns), -EPERM, "create") ||
	    !check_error("dpfail", "port: Couldn't attach the dataplane") ||
	    !snap("dpfail", &v) || !check_gone(&v, true))
		goto out;
	mgr_close();
	if (!ASSERT_OK(mgr_open(), "reopen with the writer") ||
	    !ASSERT_OK(retry("dpfail"), "retry") || !check_active("dpfail") ||
	    !ASSERT_OK(del("dpfail"), "delete") || !check_gone(&v, false) ||
	    !check_empty())
		goto out;
	ret = 0;
out:
	/* Whatever happened, the manager runs on the writer again. */
	mgr_close();
	mgr_open();
	dp_close(ro);
	return ret;
}

/* A failure injected at every step: nothing of the done steps is left. */
static int test_fail_each_step(void)
{
	const struct vifd_vif *vp;
	struct vifmgr_req r;
	struct vifd_vif v;
	char err[256];
	int step, ret = -1;

	reset_all();
	for (step = VIFMGR_STEP_ALLOC; step <= VIFMGR_STEP_ACTIVATE; step++) {
		const char *sname = vifmgr_step_name(step);

		fprintf(stderr, "create, failing at %s\n", sname);
		g_fail_step = step;
		r = req("stepper", 0, step % 2 ? g_ns : NULL);
		err[0] = '\0';
		ret = vifmgr_create(g_m, &r, &vp, err, sizeof(err));
		g_fail_step = -1;
		if (!ASSERT_EQ(ret, -EIO, "create fails") ||
		    !ASSERT_TRUE(!strncmp(err, sname, strlen(sname)),
				 "reason starts with the step"))
			goto fail;
		ret = -1;
		if (step <= VIFMGR_STEP_DB) {
			/* Before the row: nothing persisted at all. */
			if (!ASSERT_TRUE(!vp, "no VIF") || !check_empty())
				goto fail;
			continue;
		}
		if (!check_error("stepper", sname) || !snap("stepper", &v) ||
		    !check_gone(&v, true) ||
		    !ASSERT_OK(retry("stepper"), "retry") ||
		    !check_active("stepper") ||
		    !ASSERT_OK(del("stepper"), "delete") ||
		    !check_gone(&v, false))
			goto fail;
	}
	for (step = VIFMGR_STEP_DEL_MARK; step <= VIFMGR_STEP_DEL_ROW; step++) {
		const struct vifd_vif *cur;

		fprintf(stderr, "delete, failing at %s\n",
			vifmgr_step_name(step));
		if (!ASSERT_OK(create("stepper", 0, step % 2 ? g_ns : NULL),
			       "create") || !snap("stepper", &v))
			goto fail;
		g_fail_step = step;
		ret = del("stepper");
		g_fail_step = -1;
		cur = vifmgr_find(g_m, "stepper");
		if (!ASSERT_EQ(ret, -EIO, "delete fails") ||
		    !ASSERT_TRUE(cur, "VIF kept"))
			goto fail;
		ret = -1;
		if (step == VIFMGR_STEP_DEL_MARK) {
			/* Refused before anything changed: still serving. */
			if (!check_active("stepper"))
				goto fail;
		} else if (!ASSERT_EQ(cur->state, VIFD_STATE_REMOVING,
				      "REMOVING") ||
			   !ASSERT_TRUE(strstr(cur->error, "injected"),
					"reason kept")) {
			goto fail;
		}
		if (!ASSERT_OK(del("stepper"), "delete again") ||
		    !check_gone(&v, false))
			goto fail;
	}
	if (!check_empty())
		goto fail;
	return 0;
fail:
	g_fail_step = -1;
	return -1;
}

/* Delete works whatever is already gone behind vifmgr's back. */
static int test_delete_half_gone(void)
{
	char ns[32];
	struct vifd_vif v, w;
	int ret = -1;

	reset_all();
	snprintf(ns, sizeof(ns), "vifmgr-half-%d", (int)getpid());
	if (!ASSERT_OK(create("half", 0, NULL), "create") || !snap("half", &v))
		goto out;
	if (!ASSERT_EQ(sh("ip link del %s", v.ifname), 0, "veth gone") ||
	    !ASSERT_EQ(sh("ip rule del fwmark 0x%x lookup %u pref %u", v.mark,
			  v.table, VIFMGR_RULE_PRIORITY), 0, "rule gone") ||
	    !ASSERT_OK(dp_vif_delete(g_dp, v.vlan), "entry gone") ||
	    !ASSERT_OK(del("half"), "delete") || !check_gone(&v, false))
		goto out;
	/* The service's netns deleted under the VIF. */
	if (!ASSERT_EQ(sh("ip netns add %s", ns), 0, "netns") ||
	    !ASSERT_OK(create("half2", 0, ns), "create in netns") ||
	    !snap("half2", &w) ||
	    !ASSERT_EQ(sh("ip netns del %s", ns), 0, "netns gone"))
		goto out;
	/* The kernel destroys the veth with the netns, asynchronously. */
	for (int i = 0; i < 200 && nl_link_index(g_nl, w.ifname) > 0; i++)
		usleep(10000);
	if (!ASSERT_OK(del("half2"), "delete") || !check_gone(&w, false) ||
	    !check_empty())
		goto out;
	ret = 0;
out:
	sh("ip netns del %s 2>/dev/null", ns);
	return ret;
}

/* Link events: the port vanishes at runtime -> ERROR, event, cleanup. */
static int test_on_link_del(void)
{
	struct nl_link port;
	struct vifd_vif v;
	unsigned int events;
	int ret = -1;

	reset_all();
	if (!ASSERT_OK(create("ev", 0, NULL), "create") || !snap("ev", &v) ||
	    !ASSERT_OK(nl_link_get(g_nl, v.ifname, &port), "port"))
		goto out;
	/* Events for links that are not a VIF's are ignored. */
	if (!ASSERT_EQ(vifmgr_on_link_del(g_m, 99999, "eth7"), 0, "unknown") ||
	    !ASSERT_EQ(vifmgr_on_link_del(g_m, port.ifindex + 1000, v.ifname),
		       0, "a stale ifindex"))
		goto out;
	events = g_ev.state;
	if (!ASSERT_EQ(sh("ip link del %s", v.ifname), 0, "port vanishes") ||
	    !ASSERT_EQ(vifmgr_on_link_del(g_m, port.ifindex, v.ifname), 1,
		       "handled") ||
	    !check_error("ev", "service port 'vp") ||
	    !ASSERT_EQ(g_ev.state, events + 1, "state event") ||
	    !ASSERT_TRUE(!strcmp(g_ev.last_state, "ERROR"), "event: ERROR") ||
	    !check_gone(&v, true))
		goto out;
	/* Retry brings it back; the old link's event changes nothing. */
	if (!ASSERT_OK(retry("ev"), "retry") ||
	    !ASSERT_EQ(vifmgr_on_link_del(g_m, port.ifindex, v.ifname), 0,
		       "old ifindex") ||
	    !check_active("ev"))
		goto out;
	/* After an event overrun: the dump finds the port gone. */
	if (!ASSERT_EQ(sh("ip link del %s", v.ifname), 0, "port vanishes") ||
	    !ASSERT_EQ(vifmgr_links_resync(g_m), 1, "resync: one VIF") ||
	    !check_error("ev", "vanished") || !check_gone(&v, true) ||
	    !ASSERT_OK(del("ev"), "delete") || !check_empty())
		goto out;
	ret = 0;
out:
	return ret;
}

/* Reconcile recreates what vanished; a vanished netns means ERROR. */
static int test_reconcile_repair(void)
{
	struct vifmgr_report rep;
	struct vifd_vif a, b, c;
	struct vif_entry e;
	char ns[32];
	int old_if, ret = -1;

	reset_all();
	snprintf(ns, sizeof(ns), "vifmgr-gone-%d", (int)getpid());
	if (!ASSERT_EQ(sh("ip netns add %s", ns), 0, "netns") ||
	    !ASSERT_OK(create("rep1", 0, NULL), "create rep1") ||
	    !ASSERT_OK(create("rep2", 0, g_ns), "create rep2") ||
	    !ASSERT_OK(create("rep3", 0, ns), "create rep3") ||
	    !snap("rep1", &a) || !snap("rep2", &b) || !snap("rep3", &c))
		goto out;
	old_if = nl_link_index(g_nl, a.ifname);
	/* Behind vifmgr's back; restart as vifd would. */
	if (!ASSERT_EQ(sh("ip link del %s", a.ifname), 0, "rep1 veth") ||
	    !ASSERT_EQ(sh("ip rule del fwmark 0x%x lookup %u pref %u", b.mark,
			  b.table, VIFMGR_RULE_PRIORITY), 0, "rep2 rule") ||
	    !ASSERT_EQ(sh("ip rule del pref %u fwmark 0x%x/0x%x blackhole",
			  VIFMGR_FLOOR_PRIORITY, floor_block(b.mark).value,
			  floor_block(b.mark).mask), 0,
		       "rep2's floor rule") ||
	    !ASSERT_EQ(sh("ip -n %s addr flush dev %s", g_ns, b.peer_ifname),
		       0, "rep2 service address") ||
	    !ASSERT_EQ(sh("ip netns del %s", ns), 0, "rep3 netns") ||
	    !ASSERT_OK(restart(), "restart"))
		goto out;
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(floor_count(b.mark), 1, "floor back") ||
	    !ASSERT_EQ(rep.active_repaired, 2, "two repaired") ||
	    !ASSERT_EQ(rep.active_failed, 1, "one failed") ||
	    !ASSERT_EQ(rep.failures, 0, "no failures") ||
	    !check_active("rep1") || !check_active("rep2") ||
	    !check_error("rep3", "netns 'vifmgr-gone-") ||
	    !check_gone(&c, true))
		goto out;
	/* The dataplane follows the new port. */
	if (!ASSERT_OK(dp_vif_get(g_dp, a.vlan, &e), "rep1 entry") ||
	    !ASSERT_TRUE((int)e.svc_ifindex != old_if, "new ifindex") ||
	    !ASSERT_EQ(e.svc_ifindex, nl_link_index(g_nl, a.ifname),
		       "entry: new port"))
		goto out;
	/* Converged: a second pass finds nothing to do. */
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile again") ||
	    !ASSERT_EQ(rep.active_ok, 2, "both ok") ||
	    !ASSERT_EQ(rep.active_repaired, 0, "nothing repaired"))
		goto out;
	if (!ASSERT_OK(del("rep1"), "del") || !ASSERT_OK(del("rep2"), "del") ||
	    !ASSERT_OK(del("rep3"), "del") || !check_empty())
		goto out;
	ret = 0;
out:
	sh("ip netns del %s 2>/dev/null", ns);
	return ret;
}

/*
 * An older vifd's kill switch: a blackhole route per table (metric 65535
 * + VLAN, or the bare 65535) and no floor rule.  Reconcile puts the floor
 * in first, then removes the routes; a floor rule of a mark base nobody
 * uses goes, a rule at the floor's priority that is not a floor stays.
 */
static int test_reconcile_old_floor(void)
{
	struct vifmgr_report rep;
	struct vifd_vif a, b;
	int i, nfloor, ret = -1;

	reset_all();
	if (!ASSERT_OK(create("old1", 0, NULL), "create old1") ||
	    !ASSERT_OK(create("old2", 0, g_ns), "create old2") ||
	    !snap("old1", &a) || !snap("old2", &b))
		goto out;
	nfloor = floor_total();
	if (!ASSERT_TRUE(nfloor > 0 && nfloor <= ALLOC_MARK_BLOCKS_MAX,
			 "floor rules"))
		goto out;
	for (i = 0; i < nfloor; i++)
		if (!ASSERT_EQ(sh("ip rule del pref %u", VIFMGR_FLOOR_PRIORITY),
			       0, "floor rule off"))
			goto out;
	if (!ASSERT_EQ(sh("ip route add blackhole default table %u metric %u proto static",
			  a.table, VIFMGR_BLACKHOLE_METRIC_OF(a.vlan)), 0,
		       "old1's old blackhole") ||
	    !ASSERT_EQ(sh("ip route add blackhole default table %u metric %u proto static",
			  b.table, VIFMGR_BLACKHOLE_METRIC), 0,
		       "old2's older blackhole") ||
	    !ASSERT_EQ(sh("ip rule add pref %u fwmark 0x20000/0xfffff000 blackhole",
			  VIFMGR_FLOOR_PRIORITY), 0, "stale floor") ||
	    !ASSERT_EQ(sh("ip rule add pref %u fwmark 0x7 lookup 301",
			  VIFMGR_FLOOR_PRIORITY), 0, "foreign rule at 9001") ||
	    !ASSERT_OK(restart(), "restart"))
		goto out;
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.failures, 0, "no failures") ||
	    !ASSERT_EQ(rep.routes_removed, 2, "old blackholes removed") ||
	    !ASSERT_EQ(rep.rules_removed, 1, "stale floor removed") ||
	    !ASSERT_EQ(floor_total(), nfloor, "floor back, whole") ||
	    !ASSERT_EQ(floor_count(0x20010), 0, "stale floor gone") ||
	    !ASSERT_TRUE(sh_has("fwmark 0x7 lookup 301", "ip rule show"),
			 "foreign rule kept") ||
	    !check_active("old1") || !check_active("old2"))
		goto out;
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "again") ||
	    !ASSERT_EQ(rep.rules_removed + rep.routes_removed, 0,
		       "converged") ||
	    !ASSERT_EQ(rep.active_ok, 2, "both ok"))
		goto out;
	/* The floor outlives the VIFs: it is the process's, not theirs. */
	if (!ASSERT_OK(del("old1"), "del") || !ASSERT_OK(del("old2"), "del") ||
	    !check_empty() ||
	    !ASSERT_EQ(floor_total(), nfloor, "floor stays"))
		goto out;
	ret = 0;
out:
	sh("ip rule del pref %u fwmark 0x7 lookup 301 2>/dev/null",
	   VIFMGR_FLOOR_PRIORITY);
	sh("ip rule del pref %u fwmark 0x20000/0xfffff000 blackhole 2>/dev/null",
	   VIFMGR_FLOOR_PRIORITY);
	return ret;
}

static void foreign_cleanup(void)
{
	sh("ip link del fveth0 2>/dev/null; ip link del vp131 2>/dev/null; "
	   "ip link del vp130-ghost 2>/dev/null; "
	   "ip rule del pref 777 2>/dev/null; "
	   "ip rule del fwmark 0x5 lookup 300 pref %u 2>/dev/null; "
	   "ip route flush table 77 2>/dev/null; "
	   "ip route flush table 1500 2>/dev/null",
	   VIFMGR_RULE_PRIORITY);
}

/* Foreign objects stay; vifd-owned leftovers without a VIF go. */
static int test_reconcile_foreign(void)
{
	struct vif_spec s = {
		.vlan = 130, .mark = 0x10082, .table = 1130,
		.prefix_len = 24, .active = true,
		.port_mac = { 2, 0, 0, 0, 0, 0x82 },
	};
	struct vifmgr_report rep;
	struct vif_entry e;
	char why[128];
	int ret = -1;

	reset_all();
	inet_pton(AF_INET, "10.100.130.1", &s.addr);
	if (!ASSERT_OK(create("keep", 0, g_ns), "create keep"))
		goto out;
	/* Someone else's. */
	if (!ASSERT_EQ(sh("ip link add fveth0 type veth peer name fveth1"), 0,
		       "foreign veth") ||
	    !ASSERT_EQ(sh("ip link add vp131 type bridge"), 0,
		       "foreign bridge in vifd's form") ||
	    !ASSERT_EQ(sh("ip rule add fwmark 0x999 lookup 77 pref 777"), 0,
		       "foreign rule") ||
	    !ASSERT_EQ(sh("ip rule add fwmark 0x5 lookup 300 pref %u",
			  VIFMGR_RULE_PRIORITY), 0,
		       "foreign rule at vifd's priority") ||
	    !ASSERT_EQ(sh("ip route add blackhole default table 77"), 0,
		       "foreign table") ||
	    !ASSERT_EQ(sh("ip route add blackhole 10.9.9.0/24 table 1500"), 0,
		       "boot route in a vifd-numbered table"))
		goto out;
	/* vifd's, with no VIF: a crash of an older vifd, say. */
	if (!ASSERT_EQ(sh("ip link add vp130-ghost type veth peer name vs130-ghost"),
		       0, "ghost veth") ||
	    !ASSERT_EQ(sh("ip rule add fwmark 0x10082 lookup 1130 pref %u",
			  VIFMGR_RULE_PRIORITY), 0, "ghost rule") ||
	    !ASSERT_EQ(sh("ip route add blackhole default table 1130 metric %u proto static",
			  VIFMGR_BLACKHOLE_METRIC), 0, "ghost route"))
		goto out;
	s.svc_ifindex = nl_link_index(g_nl, "vp130-ghost");
	if (!ASSERT_OK(dp_vif_upsert(g_dp, &s, why, sizeof(why)),
		       "ghost entry"))
		goto out;

	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.active_ok, 1, "keep untouched") ||
	    !ASSERT_EQ(rep.entries_removed, 1, "ghost entry removed") ||
	    !ASSERT_EQ(rep.rules_removed, 1, "ghost rule removed") ||
	    !ASSERT_EQ(rep.routes_removed, 1, "ghost route removed") ||
	    !ASSERT_TRUE(rep.links_removed >= 1, "ghost veth removed") ||
	    !ASSERT_EQ(rep.failures, 0, "no failures"))
		goto out;
	if (!ASSERT_EQ(nl_link_index(g_nl, "vp130-ghost"), -ENODEV, "ghost") ||
	    !ASSERT_EQ(nl_link_index(g_nl, "vs130-ghost"), -ENODEV, "ghost") ||
	    !ASSERT_EQ(rule_count(0x10082, 1130), 0, "ghost rule") ||
	    !ASSERT_EQ(routes_of(1130).n, 0, "ghost table") ||
	    !ASSERT_EQ(dp_vif_get(g_dp, 130, &e), -ENOENT, "ghost entry"))
		goto out;
	if (!ASSERT_TRUE(nl_link_index(g_nl, "fveth0") > 0, "fveth0 kept") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "fveth1") > 0, "fveth1 kept") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "vp131") > 0, "bridge kept") ||
	    !ASSERT_TRUE(sh_has("lookup 77", "ip rule show"), "rule kept") ||
	    !ASSERT_TRUE(sh_has("fwmark 0x5 lookup 300", "ip rule show"),
			 "rule at our priority kept") ||
	    !ASSERT_TRUE(sh_has("blackhole default", "ip route show table 77"),
			 "foreign table kept") ||
	    !ASSERT_TRUE(sh_has("10.9.9.0/24", "ip route show table 1500"),
			 "boot route kept") ||
	    !check_active("keep"))
		goto out;
	/* Idempotent. */
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "again") ||
	    !ASSERT_EQ(rep.links_removed + rep.rules_removed +
			       rep.routes_removed + rep.entries_removed,
		       0, "nothing more to remove"))
		goto out;
	foreign_cleanup();
	if (!ASSERT_OK(del("keep"), "delete") || !check_empty())
		goto out;
	ret = 0;
out:
	foreign_cleanup();
	return ret;
}

/* A row deleted by hand: its Linux objects and entry go; orphan allocs. */
static int test_reconcile_row_removed(void)
{
	struct vifmgr_report rep;
	struct vifd_vif v;
	int ret = -1;

	reset_all();
	if (!ASSERT_OK(create("byhand", 0, g_ns), "create") ||
	    !snap("byhand", &v))
		goto out;
	mgr_close();
	if (!ASSERT_OK(store_vif_delete(g_store, "byhand"), "row by hand") ||
	    !ASSERT_OK(store_alloc_delete(g_store, v.vlan), "alloc by hand") ||
	    !ASSERT_OK(store_alloc_put(g_store, 140, "orphan", 1), "orphan") ||
	    !ASSERT_OK(mgr_open(), "reopen") ||
	    !ASSERT_EQ(vifmgr_count(g_m), 0, "no VIF loaded"))
		goto out;
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.entries_removed, 1, "entry") ||
	    !ASSERT_EQ(rep.rules_removed, 1, "rule") ||
	    /* no gateway: its table never had a route */
	    !ASSERT_EQ(rep.routes_removed, 0, "route") ||
	    !ASSERT_EQ(rep.links_removed, 1, "veth") ||
	    !ASSERT_EQ(rep.allocs_freed, 1, "orphan allocation") ||
	    !check_gone(&v, false) || !check_empty())
		goto out;
	ret = 0;
out:
	return ret;
}

/*
 * A healthy set: reconcile (also after a restart) rewrites nothing, so
 * forwarding is never interrupted; the quota manager's limit stays.
 */
static int test_reconcile_noop(void)
{
	const char *names[] = { "n1", "n2", "n3" };
	struct vifmgr_report rep;
	int ifx[3], i, ret = -1;
	__u32 prog[3], gen[3];
	struct vif_entry e;
	struct vifd_vif v;

	reset_all();
	for (i = 0; i < 3; i++)
		if (!ASSERT_OK(create(names[i], 0, i == 1 ? g_ns : NULL),
			       "create"))
			goto out;
	/* The quota manager gives the dataplane limit - base. */
	if (!ASSERT_OK(dp_quota_set(g_dp, vifmgr_find(g_m, "n1")->vlan, 12345,
				    VIF_F_QUOTA_TX), "quota by hand"))
		goto out;
	for (i = 0; i < 3; i++) {
		if (!snap(names[i], &v))
			goto out;
		ifx[i] = nl_link_index(g_nl, v.ifname);
		if (!ASSERT_TRUE(dp_xdp_mode_of(ifx[i], &prog[i]) > 0, "xdp") ||
		    !ASSERT_OK(dp_vif_get(g_dp, v.vlan, &e), "entry"))
			goto out;
		gen[i] = e.gen;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass && !ASSERT_OK(restart(), "restart"))
			goto out;
		if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
		    !ASSERT_EQ(rep.active_ok, 3, "all ok") ||
		    !ASSERT_EQ(rep.active_repaired, 0, "none repaired") ||
		    !ASSERT_EQ(rep.links_removed + rep.rules_removed +
				       rep.routes_removed + rep.entries_removed,
			       0, "nothing removed") ||
		    !ASSERT_EQ(rep.failures, 0, "no failures"))
			goto out;
		for (i = 0; i < 3; i++) {
			__u32 id = 0;

			if (!snap(names[i], &v) ||
			    !ASSERT_EQ(nl_link_index(g_nl, v.ifname), ifx[i],
				       "same port") ||
			    !ASSERT_TRUE(dp_xdp_mode_of(ifx[i], &id) > 0,
					 "attached") ||
			    !ASSERT_EQ(id, prog[i], "same program") ||
			    !ASSERT_OK(dp_vif_get(g_dp, v.vlan, &e), "entry") ||
			    !ASSERT_EQ(e.gen, gen[i], "entry not rewritten"))
				goto out;
		}
		if (!ASSERT_OK(dp_vif_get(g_dp, vifmgr_find(g_m, "n1")->vlan,
					  &e), "n1") ||
		    !ASSERT_EQ(e.quota_limit, 12345, "quota left alone"))
			goto out;
	}
	for (i = 0; i < 3; i++)
		if (!ASSERT_OK(del(names[i]), "delete"))
			goto out;
	if (!check_empty())
		goto out;
	ret = 0;
out:
	return ret;
}

/*
 * kill -9 at every step: a child creates (or deletes) and SIGKILLs itself
 * from the hook; the parent restarts, reconciles and checks convergence.
 */
/* What the child does before the hook kills it. */
enum crash_op {
	CRASH_CREATE,
	CRASH_DELETE,
	CRASH_CREATE_MANY, /* "<name>0".."<name>4", dying in the 3rd */
};

static int crash_child(const char *name, const char *ns, enum crash_op op,
		       int step)
{
	struct store *s = NULL;
	struct vifmgr *m = NULL;
	struct nl *nl = NULL;
	pid_t pid;
	int st;

	/* The parent's connection is closed across the fork. */
	mgr_close();
	store_close(g_store);
	g_store = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct vifmgr_req r = req(name, 0, ns);

		/* The inherited dp handle (and its flock) is the writer's. */
		if (store_open(g_db, &s) || nl_open(&nl) ||
		    mgr_open_with(s, nl, g_dp, &m))
			_exit(2);
		g_crash_step = step;
		if (op == CRASH_DELETE) {
			vifmgr_delete(m, name, NULL, 0);
		} else if (op == CRASH_CREATE) {
			vifmgr_create(m, &r, NULL, NULL, 0);
		} else {
			struct vifmgr_req rs[5];
			struct vifmgr_result res[5];
			char names[5][16];
			int i;

			for (i = 0; i < 5; i++) {
				snprintf(names[i], sizeof(names[i]), "%s%d",
					 name, i);
				rs[i] = req(names[i], 0, i % 2 ? ns : NULL);
			}
			g_crash_skip = 2;
			vifmgr_create_many(m, rs, 5, res);
		}
		_exit(3); /* the hook should have killed us */
	}
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		fprintf(stderr, "child: status 0x%x, not SIGKILL\n", st);
		return -ECHILD;
	}
	return 0;
}

static int test_crash_points(void)
{
	struct vifmgr_report rep;
	struct vifd_vif v;
	int step, ret = -1;

	reset_all();
	for (step = VIFMGR_STEP_ALLOC; step <= VIFMGR_STEP_ACTIVATE; step++) {
		const char *ns = step % 2 ? g_ns : NULL;

		fprintf(stderr, "kill -9 before create step %s\n",
			vifmgr_step_name(step));
		if (!ASSERT_OK(crash_child("crash", ns, CRASH_CREATE, step), "child") ||
		    !ASSERT_OK(restart(), "restart") ||
		    !ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
		    !ASSERT_EQ(rep.failures, 0, "no failures"))
			goto out;
		if (step <= VIFMGR_STEP_DB) {
			if (!ASSERT_EQ(rep.allocs_freed,
				       step == VIFMGR_STEP_DB, "orphan alloc") ||
			    !check_empty())
				goto out;
			continue;
		}
		if (!ASSERT_EQ(rep.creating_rolled_back, 1, "rolled back") ||
		    !check_error("crash", "interrupted") || !snap("crash", &v) ||
		    !check_gone(&v, true) ||
		    !ASSERT_EQ(vifd_links(), 0, "no orphan links") ||
		    !ASSERT_OK(retry("crash"), "retry") ||
		    !check_active("crash") || !ASSERT_OK(del("crash"), "del") ||
		    !check_empty())
			goto out;
	}
	for (step = VIFMGR_STEP_DEL_MARK; step <= VIFMGR_STEP_DEL_ROW; step++) {
		const char *ns = step % 2 ? g_ns : NULL;

		fprintf(stderr, "kill -9 before delete step %s\n",
			vifmgr_step_name(step));
		if (!ASSERT_OK(create("crashdel", 0, ns), "create") ||
		    !snap("crashdel", &v) ||
		    !ASSERT_OK(crash_child("crashdel", ns, CRASH_DELETE, step),
			       "child") ||
		    !ASSERT_OK(restart(), "restart") ||
		    !ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
		    !ASSERT_EQ(rep.failures, 0, "no failures"))
			goto out;
		if (step == VIFMGR_STEP_DEL_MARK) {
			/* Died before anything changed: still ACTIVE. */
			if (!ASSERT_EQ(rep.active_ok, 1, "untouched") ||
			    !check_active("crashdel") ||
			    !ASSERT_OK(del("crashdel"), "delete"))
				goto out;
		} else if (!ASSERT_EQ(rep.removing_finished, 1, "finished")) {
			goto out;
		}
		if (!check_gone(&v, false) || !check_empty())
			goto out;
	}
	/*
	 * A batch dies in its third VIF's veth step: two VIFs were complete
	 * but none was reported ACTIVE, so all five are rolled back.
	 */
	fprintf(stderr, "kill -9 inside vifmgr_create_many\n");
	if (!ASSERT_OK(crash_child("batch", g_ns, CRASH_CREATE_MANY,
				   VIFMGR_STEP_VETH), "child") ||
	    !ASSERT_OK(restart(), "restart") ||
	    !ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.creating_rolled_back, 5, "all five rolled back") ||
	    !ASSERT_EQ(rep.failures, 0, "no failures") ||
	    !ASSERT_EQ(vifd_links(), 0, "no links left") ||
	    !ASSERT_EQ(dp_count(), 0, "no entries left"))
		goto out;
	for (step = 0; step < 5; step++) {
		char name[16];

		snprintf(name, sizeof(name), "batch%d", step);
		if (!check_error(name, "interrupted") ||
		    !ASSERT_OK(del(name), "delete"))
			goto out;
	}
	if (!check_empty())
		goto out;
	ret = 0;
out:
	g_crash_skip = 0;
	if (!g_m) {
		if (!g_store)
			store_open(g_db, &g_store);
		mgr_open();
	}
	return ret;
}

/* Kill switch, chain, quota and gateway routes: store and dataplane. */
static int test_setters(void)
{
	const __u16 *none = NULL;
	struct vifmgr_req r = req("gw1", 0, NULL);
	struct vifd_quota q = {
		.limit = 5000000, .period = VIFD_QUOTA_DAILY,
		.action = VIFD_QUOTA_BLOCK, .dir = VIFD_QUOTA_TX,
	};
	struct vifd_vif s1, s2, s3, row;
	__u16 hops[3], bad[2];
	struct vif_entry e;
	char err[256] = "";
	int tun, ret = -1;

	reset_all();
	memset(&g_ev, 0, sizeof(g_ev));
	if (!ASSERT_OK(create("s1", 0, NULL), "s1") ||
	    !ASSERT_OK(create("s2", 0, g_ns), "s2") ||
	    !ASSERT_OK(create("s3", 0, NULL), "s3") || !snap("s1", &s1) ||
	    !snap("s2", &s2) || !snap("s3", &s3))
		goto out;

	/* Kill switch. */
	if (!ASSERT_OK(vifmgr_set_killswitch(g_m, s1.vlan, true), "engage") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s1.vlan, &e), "entry") ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "dp engaged") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, "s1", &row), "row") ||
	    !ASSERT_EQ(row.ks_engaged, 1, "stored engaged") ||
	    !ASSERT_OK(vifmgr_set_killswitch(g_m, s1.vlan, false), "release") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s1.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.flags & VIF_F_KILLSWITCH, 0, "dp released") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, "s1", &row), "row") ||
	    !ASSERT_EQ(row.ks_engaged, 0, "stored released") ||
	    !ASSERT_EQ(g_ev.killswitch, 2, "two events") ||
	    !ASSERT_EQ(vifmgr_set_killswitch(g_m, 4000, true), -ENOENT,
		       "unknown VLAN"))
		goto out;

	/* Chain s1 -> s2 -> s3. */
	hops[0] = s1.vlan;
	hops[1] = s2.vlan;
	hops[2] = s3.vlan;
	if (!ASSERT_OK(vifmgr_set_chain(g_m, hops, 3, err, sizeof(err)),
		       "chain") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s1.vlan, &e), "s1 entry") ||
	    !ASSERT_EQ(e.next_hop, s2.vlan, "s1 -> s2") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s2.vlan, &e), "s2 entry") ||
	    !ASSERT_EQ(e.next_hop, s3.vlan, "s2 -> s3") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, "s1", &row), "row") ||
	    !ASSERT_EQ(row.next_hop, s2.vlan, "stored") ||
	    !ASSERT_EQ(g_ev.chain, 2, "chain events"))
		goto out;
	/* A cycle is refused with the path, and changes nothing. */
	bad[0] = s3.vlan;
	bad[1] = s1.vlan;
	if (!ASSERT_EQ(vifmgr_set_chain(g_m, bad, 2, err, sizeof(err)),
		       -ELOOP, "cycle") ||
	    !ASSERT_TRUE(strstr(err, "cycle"), "says cycle") ||
	    !ASSERT_EQ(vifmgr_find(g_m, "s3")->next_hop, 0, "unchanged") ||
	    !ASSERT_EQ(vifmgr_set_chain(g_m, none, 2, err, sizeof(err)),
		       -EINVAL, "no hops"))
		goto out;
	/* A hop in use cannot go. */
	if (!ASSERT_EQ(vifmgr_delete(g_m, "s2", err, sizeof(err)), -EBUSY,
		       "s2 is a hop") ||
	    !ASSERT_OK(vifmgr_clear_next_hop(g_m, s1.vlan), "unchain s1") ||
	    !ASSERT_OK(vifmgr_clear_next_hop(g_m, s2.vlan), "unchain s2") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s1.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.next_hop, 0, "s1 unchained"))
		goto out;

	/* Quota. */
	if (!ASSERT_OK(vifmgr_set_quota(g_m, s3.vlan, &q), "quota") ||
	    !ASSERT_OK(dp_vif_get(g_dp, s3.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.quota_limit, 5000000, "dp limit") ||
	    !ASSERT_EQ(e.flags & VIF_QUOTA_FLAGS,
		       VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_TX, "dp flags") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, "s3", &row), "row") ||
	    !ASSERT_EQ(row.quota.limit, 5000000, "stored limit") ||
	    !ASSERT_EQ(row.quota.dir, VIFD_QUOTA_TX, "stored dir") ||
	    !ASSERT_EQ(g_ev.quota, 1, "quota event"))
		goto out;

	/* Gateway state persisted. */
	if (!ASSERT_OK(vifmgr_set_gw_state(g_m, s3.vlan, VIFD_GW_FAILED, 4),
		       "gw state") ||
	    !ASSERT_OK(store_vif_get_by_name(g_store, "s3", &row), "row") ||
	    !ASSERT_EQ(row.gw.state, VIFD_GW_FAILED, "stored state") ||
	    !ASSERT_EQ(row.gw.fails, 4, "stored fails"))
		goto out;

	/* A gateway whose tun exists gets its default route at creation. */
	r.gw.type = VIFD_GW_SOCKS5;
	snprintf(r.gw.tun, sizeof(r.gw.tun), "tgw1");
	if (!ASSERT_EQ(sh("ip tuntap add tgw1 mode tun && ip link set tgw1 up"),
		       0, "tun stand-in") ||
	    !ASSERT_OK(vifmgr_create(g_m, &r, NULL, err, sizeof(err)),
		       "create gw1") ||
	    !check_active("gw1"))
		goto out;
	tun = nl_link_index(g_nl, "tgw1");
	if (!ASSERT_EQ(routes_of(vifmgr_find(g_m, "gw1")->table).unicast_oif,
		       tun, "default dev tgw1") ||
	    !ASSERT_TRUE(sh_has("default dev tgw1", "ip route show table %u",
				vifmgr_find(g_m, "gw1")->table), "ip route"))
		goto out;
	/* Another VIF cannot claim the same tun. */
	r.name = "gw2";
	if (!ASSERT_EQ(vifmgr_create(g_m, &r, NULL, err, sizeof(err)),
		       -EEXIST, "tun in use"))
		goto out;
	/* The tun goes and comes back: route_sync follows. */
	if (!ASSERT_EQ(sh("ip link del tgw1"), 0, "tun gone") ||
	    !ASSERT_OK(vifmgr_route_sync(g_m, vifmgr_find(g_m, "gw1")->vlan),
		       "sync without tun") ||
	    !ASSERT_EQ(routes_of(vifmgr_find(g_m, "gw1")->table).n, 0,
		       "no route: the floor drops") ||
	    !marked_dropped(vifmgr_find(g_m, "gw1")->mark) ||
	    !ASSERT_EQ(sh("ip tuntap add tgw1 mode tun && ip link set tgw1 up"),
		       0, "tun back") ||
	    !ASSERT_OK(vifmgr_route_sync(g_m, vifmgr_find(g_m, "gw1")->vlan),
		       "sync with tun") ||
	    !ASSERT_EQ(routes_of(vifmgr_find(g_m, "gw1")->table).unicast_oif,
		       nl_link_index(g_nl, "tgw1"), "default dev the new tgw1"))
		goto out;

	if (!ASSERT_OK(del("s1"), "del") || !ASSERT_OK(del("s2"), "del") ||
	    !ASSERT_OK(del("s3"), "del") || !ASSERT_OK(del("gw1"), "del") ||
	    !ASSERT_TRUE(nl_link_index(g_nl, "tgw1") > 0, "tun not ours") ||
	    !check_empty())
		goto out;
	ret = 0;
out:
	sh("ip link del tgw1 2>/dev/null");
	return ret;
}

/* A batch with good and bad requests: each gets its own outcome. */
static int test_create_many_mixed(void)
{
	char ns[32];
	struct vifmgr_req r[6];
	struct vifmgr_result res[6];
	const char *names[] = { "m1", "m2", "m5", "nosuch", "m1" };
	struct vifd_vif v;
	int got, ret = -1;

	reset_all();
	snprintf(ns, sizeof(ns), "vifmgr-nope-%d", (int)getpid());
	r[0] = req("m1", 0, NULL);
	r[1] = req("bad/name", 0, NULL);
	r[2] = req("m2", 0, g_ns);
	r[3] = req("m1", 0, NULL);     /* twice in one batch */
	r[4] = req("m4", 0, ns);       /* its netns does not exist */
	r[5] = req("m5", 77, NULL);
	got = vifmgr_create_many(g_m, r, 6, res);
	if (!ASSERT_EQ(got, 3, "three ACTIVE") ||
	    !ASSERT_OK(res[0].err, "m1") || !ASSERT_EQ(res[0].vlan, 2, "vlan") ||
	    !ASSERT_EQ(res[1].err, -EINVAL, "bad name") ||
	    !ASSERT_EQ(res[1].vlan, 0, "no VLAN for it") ||
	    !ASSERT_OK(res[2].err, "m2") ||
	    !ASSERT_EQ(res[3].err, -EEXIST, "duplicate") ||
	    !ASSERT_EQ(res[4].err, -ENOENT, "missing netns") ||
	    !ASSERT_TRUE(strstr(res[4].msg, "does not exist"), "says why") ||
	    !ASSERT_OK(res[5].err, "m5") || !ASSERT_EQ(res[5].vlan, 77, "77"))
		goto out;
	if (!check_active("m1") || !check_active("m2") ||
	    !check_active("m5") || !check_error("m4", "does not exist") ||
	    !snap("m4", &v) || !check_gone(&v, true))
		goto out;
	/* Batch delete: an unknown name does not stop the others. */
	got = vifmgr_delete_many(g_m, names, 5, res);
	if (!ASSERT_EQ(got, 3, "three deleted") ||
	    !ASSERT_EQ(res[3].err, -ENOENT, "unknown") ||
	    !ASSERT_EQ(res[4].err, -ENOENT, "named twice") ||
	    !ASSERT_OK(del("m4"), "delete the ERROR one") || !check_empty())
		goto out;
	ret = 0;
out:
	return ret;
}

/* Kill-switch mode FALLBACK: the gateway module re-routes and undoes it. */
static int test_fallback(void)
{
	struct vifmgr_req r = req("fb", 0, NULL);
	struct vifmgr_report rep;
	struct vifd_vif spare, fb;
	struct vif_entry e;
	__u16 hops[2];
	char err[256] = "";
	int ret = -1;

	reset_all();
	if (!ASSERT_OK(create("spare", 0, g_ns), "spare") ||
	    !ASSERT_OK(create("hop", 0, NULL), "hop") || !snap("spare", &spare))
		goto out;
	r.ks_mode = VIFD_KS_FALLBACK;
	r.ks_fallback = 4000; /* not a VIF */
	if (!ASSERT_EQ(vifmgr_create(g_m, &r, NULL, err, sizeof(err)), -EINVAL,
		       "fallback must exist"))
		goto out;
	r.ks_fallback = spare.vlan;
	if (!ASSERT_OK(vifmgr_create(g_m, &r, NULL, err, sizeof(err)), "fb") ||
	    !snap("fb", &fb))
		goto out;
	hops[0] = fb.vlan;
	hops[1] = vifmgr_find(g_m, "hop")->vlan;
	if (!ASSERT_OK(vifmgr_apply_fallback(g_m, fb.vlan, spare.vlan, true),
		       "fallback on") ||
	    !ASSERT_OK(dp_vif_get(g_dp, fb.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.next_hop, spare.vlan, "re-routed into spare"))
		goto out;
	/* Reconcile and chain changes leave the re-route in place. */
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile") ||
	    !ASSERT_EQ(rep.active_repaired, 0, "accepted as is") ||
	    !ASSERT_OK(vifmgr_set_chain(g_m, hops, 2, err, sizeof(err)),
		       "chain fb -> hop") ||
	    !ASSERT_OK(dp_vif_get(g_dp, fb.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.next_hop, spare.vlan, "still re-routed"))
		goto out;
	/* Off: its own next hop (the chain set meanwhile). */
	if (!ASSERT_OK(vifmgr_apply_fallback(g_m, fb.vlan, spare.vlan, false),
		       "fallback off") ||
	    !ASSERT_OK(dp_vif_get(g_dp, fb.vlan, &e), "entry") ||
	    !ASSERT_EQ(e.next_hop, hops[1], "own chain back"))
		goto out;
	/* The fallback cannot go while fb relies on it. */
	if (!ASSERT_EQ(vifmgr_delete(g_m, "spare", err, sizeof(err)), -EBUSY,
		       "spare is in use") ||
	    !ASSERT_OK(vifmgr_clear_next_hop(g_m, fb.vlan), "unchain") ||
	    !ASSERT_OK(del("fb"), "del") || !ASSERT_OK(del("hop"), "del") ||
	    !ASSERT_OK(del("spare"), "del") || !check_empty())
		goto out;
	ret = 0;
out:
	return ret;
}

/* Bulk creation and deletion, timed. */
static int test_bulk(void)
{
	const char *env = getenv("VIFMGR_TEST_BULK");
	unsigned int n = env ? (unsigned int)atoi(env) : 256, i;
	struct vifmgr_result *res = NULL;
	struct vifmgr_req *reqs = NULL;
	struct vifmgr_report rep;
	char (*names)[16] = NULL;
	const char **np = NULL;
	double t0, t_create, t_rec, t_del;
	int got, ret = -1;

	reset_all();
	if (n < 1 || n > 4092)
		n = 256;
	reqs = calloc(n, sizeof(*reqs));
	res = calloc(n, sizeof(*res));
	names = calloc(n, sizeof(*names));
	np = calloc(n, sizeof(*np));
	if (!ASSERT_TRUE(reqs && res && names && np, "memory"))
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "bulk%u", i);
		np[i] = names[i];
		reqs[i] = req(names[i], 0, NULL);
	}
	prof_start();
	t0 = now_s();
	got = vifmgr_create_many(g_m, reqs, n, res);
	t_create = now_s() - t0;
	prof_print("create", n, VIFMGR_STEP_ALLOC, VIFMGR_STEP_ACTIVATE);
	for (i = 0; i < n && got != (int)n; i++)
		if (res[i].err)
			fprintf(stderr, "bulk %u: %s (%d)\n", i, res[i].msg,
				res[i].err);
	if (!ASSERT_EQ(got, n, "all ACTIVE") ||
	    !ASSERT_EQ(dp_count(), n, "entries") ||
	    !check_active(names[0]) || !check_active(names[n - 1]))
		goto out;

	t0 = now_s();
	if (!ASSERT_OK(vifmgr_reconcile(g_m, &rep), "reconcile"))
		goto out;
	t_rec = now_s() - t0;
	if (!ASSERT_EQ(rep.active_ok, n, "reconcile: all ok") ||
	    !ASSERT_EQ(rep.active_repaired, 0, "nothing repaired"))
		goto out;

	prof_start();
	t0 = now_s();
	got = vifmgr_delete_many(g_m, np, n, res);
	t_del = now_s() - t0;
	prof_print("delete", n, VIFMGR_STEP_DEL_MARK, VIFMGR_STEP_DEL_ROW);
	if (!ASSERT_EQ(got, n, "all deleted") || !check_empty())
		goto out;
	printf("bulk: %u VIFs created in %.3f s (%.0f us/VIF), reconciled in %.3f s, deleted in %.3f s\n",
	       n, t_create, t_create * 1e6 / n, t_rec, t_del);
	ret = 0;
out:
	free(reqs);
	free(res);
	free(names);
	free(np);
	return ret;
}

/* ---- setup ------------------------------------------------------------ */

static void cleanup(void)
{
	if (g_m)
		reset_all();
	mgr_close();
	if (g_dp) {
		dp_teardown(g_dp);
		dp_close(g_dp);
		g_dp = NULL;
	}
	store_close(g_store);
	g_store = NULL;
	nl_close(g_nl);
	g_nl = NULL;
	if (g_dir[0])
		sh("rm -rf '%s'", g_dir);
	g_dir[0] = '\0';
	if (g_ns_made)
		sh("ip netns del %s 2>/dev/null", g_ns);
	g_ns_made = false;
	if (g_bpffs_private)
		umount("/sys/fs/bpf");
}

static int setup(void)
{
	struct dp_opts o = { 0 };
	int lo, err;

	if (geteuid() != 0) {
		printf("skip: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF)\n");
		return TEST_SKIP;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		printf("skip: unshare(CLONE_NEWNET | CLONE_NEWNS): %s\n",
		       strerror(errno));
		return TEST_SKIP;
	}
	if (sh("ip -V >/dev/null 2>&1") != 0) {
		printf("skip: the ip command (iproute2) is missing\n");
		return TEST_SKIP;
	}
	/*
	 * Private mounts: /run/netns on a tmpfs and a bpffs of our own, so
	 * named netns and pins die with this process however it ends.
	 */
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		mkdir("/run/netns", 0755);
		if (mount("vifmgr", "/run/netns", "tmpfs", 0, "mode=0755") < 0)
			printf("note: no private /run/netns: %s\n",
			       strerror(errno));
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
			g_bpffs_private = true;
		else
			printf("note: no private bpffs: %s\n", strerror(errno));
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
	/* A default route in main, for the fail-closed checks to leak to. */
	if (sh("ip link add vmdflt0 type veth peer name vmdflt1 && "
	       "ip link set vmdflt1 up && ip link set vmdflt0 up && "
	       "ip route add default dev vmdflt0") != 0) {
		printf("setup: a default route in main failed\n");
		return 1;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/vifmgr-test-XXXXXX");
	if (!mkdtemp(g_dir)) {
		printf("setup: mkdtemp: %s\n", strerror(errno));
		g_dir[0] = '\0';
		return 1;
	}
	snprintf(g_db, sizeof(g_db), "%s/%s", g_dir, STORE_DB_FILENAME);
	err = store_open(g_db, &g_store);
	if (err) {
		printf("setup: store_open: %s (%d)\n", strerror(-err), err);
		return 1;
	}
	snprintf(g_pin, sizeof(g_pin), "%s/test-vifmgr-%d", VIF_PIN_BASE,
		 (int)getpid());
	o.pin_dir = g_pin;
	err = dp_open(&o, &g_dp);
	if (err == -EPERM || err == -EACCES) {
		printf("skip: dp_open: %s (%d): no CAP_BPF?\n", strerror(-err),
		       err);
		return TEST_SKIP;
	}
	if (err) {
		printf("setup: dp_open(%s): %s (%d)\n", g_pin, strerror(-err),
		       err);
		return 1;
	}
	snprintf(g_ns, sizeof(g_ns), "vifmgr-%d", (int)getpid());
	if (sh("ip netns add %s", g_ns) != 0) {
		printf("setup: ip netns add %s failed\n", g_ns);
		return 1;
	}
	g_ns_made = true;

	config_defaults(&g_cfg);
	g_cfg.vlan_pool.lo = VIFD_VLAN_LO; /* room for the bulk case */
	g_cfg.vlan_pool.hi = VIFD_VLAN_HI;
	err = mgr_open();
	if (err) {
		printf("setup: vifmgr_open: %s (%d)\n", strerror(-err), err);
		return 1;
	}
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_create_three),
	TEST_CASE(test_fail_netns_missing),
	TEST_CASE(test_fail_ifname_taken),
	TEST_CASE(test_fail_dataplane),
	TEST_CASE(test_fail_each_step),
	TEST_CASE(test_delete_half_gone),
	TEST_CASE(test_on_link_del),
	TEST_CASE(test_reconcile_repair),
	TEST_CASE(test_reconcile_foreign),
	TEST_CASE(test_reconcile_old_floor),
	TEST_CASE(test_reconcile_row_removed),
	TEST_CASE(test_reconcile_noop),
	TEST_CASE(test_crash_points),
	TEST_CASE(test_setters),
	TEST_CASE(test_create_many_mixed),
	TEST_CASE(test_fallback),
	TEST_CASE(test_bulk),
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
