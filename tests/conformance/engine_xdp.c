// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * engine_xdp.c - the XDP engine of the conformance runner; see
 * engine_xdp.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "engine_xdp.h"
#include "harness.h"

_Static_assert((int)VIF_ACT_ABORTED == (int)XDP_ABORTED &&
		       (int)VIF_ACT_DROP == (int)XDP_DROP &&
		       (int)VIF_ACT_PASS == (int)XDP_PASS &&
		       (int)VIF_ACT_REDIRECT == (int)XDP_REDIRECT,
	       "VIF_ACT_* are XDP actions");

static const char *const port_names[P__MAX][2] = {
	[P_TRUNK] = { "vt0", "vt0p" }, [P_A] = { "va", "vap" },
	[P_B] = { "vb", "vbp" },       [P_C] = { "vc", "vcp" },
	[P_X] = { "vx", "vxp" },
};

static struct xdp_engine *of(struct conf_engine *e)
{
	return (struct xdp_engine *)e;
}

/* ---- test_run ------------------------------------------------------- */

int xdp_test_run(int fd, int ifindex, const struct pkt *in,
		 struct xdp_run_out *o)
{
	/* ctx_in.data_end must equal data_size_in; data_meta must be 0. */
	struct xdp_md ctx_in = { .data_end = in->len,
				 .ingress_ifindex = ifindex };
	struct xdp_md ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = in->data,
		    .data_size_in = in->len,
		    .data_out = o->data,
		    .data_size_out = sizeof(o->data),
		    .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out),
		    /* The programs rewrite the frame: one run per call. */
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return err;
	o->retval = opts.retval;
	o->len = opts.data_size_out;
	o->meta_len = ctx_out.data;
	return 0;
}

int xdp_test_run_live(int fd, int ifindex, const struct pkt *in)
{
	struct xdp_md ctx_in = { .data_end = in->len,
				 .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = in->data,
		    .data_size_in = in->len,
		    .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .repeat = 1);

	return bpf_prog_test_run_opts(fd, &opts);
}

/* ---- taps: what actually leaves a port ------------------------------ */

int xdp_tap_open(int ifindex, __u16 proto)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = ifindex,
	};
	int fd, one = 1;

	/* Protocol 0 until bound: no frames from other devices meanwhile. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * The stack strips a VLAN tag into skb metadata before taps see the
 * frame; PACKET_AUXDATA gives it back and we reinsert it, as libpcap
 * does.
 */
int xdp_tap_recv(int fd, __u8 *buf, size_t cap, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	struct iovec iov = { .iov_base = buf, .iov_len = cap - 4 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -EAGAIN;
	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		struct tpacket_auxdata aux;
		__u16 tpid, tci;

		if (c->cmsg_level != SOL_PACKET ||
		    c->cmsg_type != PACKET_AUXDATA)
			continue;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || n < 12)
			continue;
		tpid = htons(aux.tp_status & TP_STATUS_VLAN_TPID_VALID ?
				     aux.tp_vlan_tpid :
				     ETH_P_8021Q);
		tci = htons(aux.tp_vlan_tci);
		memmove(buf + 16, buf + 12, n - 12);
		memcpy(buf + 12, &tpid, 2);
		memcpy(buf + 14, &tci, 2);
		n += 4;
	}
	return (int)n;
}

static void taps_drain(struct xdp_engine *x)
{
	__u8 buf[4096];
	int i;

	for (i = P_TRUNK; i < P__MAX; i++)
		while (xdp_tap_recv(x->port[i].tap, buf, sizeof(buf), 0) >= 0)
			;
}

void xdp_pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* ---- the engine's hooks --------------------------------------------- */

static int xdp_run(struct conf_engine *e, enum conf_hook hook,
		   enum conf_port in, const struct pkt *frame,
		   struct conf_result *r)
{
	static struct xdp_run_out o;
	struct xdp_engine *x = of(e);
	int fd = x->prog[hook == CONF_TRUNK ? DP_PROG_TRUNK : DP_PROG_SERVICE];
	struct vif_xdp_meta meta;
	int err;

	r->ran = true;
	err = xdp_test_run(fd, x->port[in].ifindex, frame, &o);
	if (err == -EINVAL && frame->len < ETH_HLEN) {
		r->ran = false;
		snprintf(r->note, sizeof(r->note),
			 "test_run refuses data_size_in < ETH_HLEN: %s",
			 strerror(-err));
		return err;
	}
	if (err)
		return err;
	r->verdict = (int)o.retval;
	/* The mark travels as metadata: exactly one vif_xdp_meta or none. */
	if (o.meta_len == sizeof(meta)) {
		memcpy(&meta, o.data, sizeof(meta));
		r->has_mark = true;
		r->mark = meta.mark;
		if (meta.magic != VIF_META_MAGIC) {
			r->engine_ok = false;
			snprintf(r->note, sizeof(r->note),
				 "metadata magic 0x%x, want 0x%x", meta.magic,
				 VIF_META_MAGIC);
		}
	} else if (o.meta_len) {
		r->engine_ok = false;
		snprintf(r->note, sizeof(r->note),
			 "%u bytes of metadata, want 0 or %zu", o.meta_len,
			 sizeof(meta));
	}
	if (o.meta_len <= o.len && o.len - o.meta_len <= PKT_MAX) {
		r->out.len = o.len - o.meta_len;
		memcpy(r->out.data, o.data + o.meta_len, r->out.len);
		r->out_valid = true;
	}
	return 0;
}

static int xdp_index_get(struct conf_engine *e, __u32 vlan, __u32 *idx)
{
	return bpf_map_lookup_elem(of(e)->index_fd, &vlan, idx) ? -errno : 0;
}

static int xdp_policy_put(struct conf_engine *e, __u32 key,
			  const struct vif_entry *ent)
{
	return bpf_map_update_elem(of(e)->policy_fd, &key, ent, BPF_ANY) ?
		       -errno :
		       0;
}

/* vif_ports is an array for small ifindexes: clearing is vlan 0. */
static int xdp_port_put(struct conf_engine *e, __u32 ifindex,
			const struct vif_port *p)
{
	return bpf_map_update_elem(of(e)->ports_fd, &ifindex, p, BPF_ANY) ?
		       -errno :
		       0;
}

static int xdp_granted_get(struct conf_engine *e, __u32 key, __u64 *granted)
{
	struct vif_quota_shared shr;

	if (bpf_map_lookup_elem(of(e)->qshr_fd, &key, &shr))
		return -errno;
	*granted = shr.granted;
	return 0;
}

/*
 * Where a redirect goes: run the row again in live-frames mode (from the
 * row's state, one frame) and see which peer it comes out of.  It must
 * come out of exactly one, once, byte for byte as test_run reported it.
 */
static bool xdp_after_run(struct conf_engine *e, const struct conf_case *c,
			  const struct pkt *in, struct conf_result *r)
{
	struct xdp_engine *x = of(e);
	static __u8 buf[4096];
	struct pollfd pfd[P__MAX];
	bool ok = true;
	int i, n, fd;

	if (!r->ran || r->verdict != VIF_ACT_REDIRECT ||
	    c->verdict != VIF_ACT_REDIRECT || in->len > XDP_LIVE_MAX)
		return true;
	if (conf_prepare(e, c))
		return false;
	taps_drain(x);
	fd = x->prog[c->hook == CONF_TRUNK ? DP_PROG_TRUNK : DP_PROG_SERVICE];
	if (!ASSERT_OK(xdp_test_run_live(fd, x->port[c->in].ifindex, in),
		       "live test_run"))
		return false;
	for (i = P_TRUNK; i < P__MAX; i++)
		pfd[i] = (struct pollfd){ .fd = x->port[i].tap,
					  .events = POLLIN };
	if (poll(pfd + P_TRUNK, P__MAX - P_TRUNK, 2000) <= 0) {
		fprintf(stderr, "  [xdp] live: the frame came out nowhere\n");
		return false;
	}
	for (i = P_TRUNK; i < P__MAX; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		n = xdp_tap_recv(x->port[i].tap, buf, sizeof(buf), 0);
		if (n < 0)
			continue;
		if (r->to_known) {
			fprintf(stderr, "  [xdp] live: another copy out of %s\n",
				x->port[i].peer);
			ok = false;
			continue;
		}
		r->to_known = true;
		r->to = i;
		r->to_ifindex = x->port[i].ifindex;
		if (n != (int)r->out.len ||
		    memcmp(buf, r->out.data, r->out.len)) {
			fprintf(stderr,
				"  [xdp] live: %d bytes out of %s differ from test_run's %zu\n",
				n, x->port[i].peer, r->out.len);
			ok = false;
		}
	}
	if (r->to_known && r->to != c->to) {
		fprintf(stderr, "  [xdp] live: out of %s, want out of %s\n",
			x->port[r->to].peer, x->port[c->to].peer);
		ok = false;
	}
	/* Anything misdirected would have arrived by now; give it 20 ms. */
	for (i = P_TRUNK; i < P__MAX; i++) {
		n = xdp_tap_recv(x->port[i].tap, buf, sizeof(buf), 20);
		if (n >= 0) {
			fprintf(stderr,
				"  [xdp] live: unexpected %d-byte frame out of %s\n",
				n, x->port[i].peer);
			ok = false;
		}
	}
	return ok;
}

static const struct conf_engine_ops xdp_ops = {
	.run = xdp_run,
	.index_get = xdp_index_get,
	.policy_put = xdp_policy_put,
	.port_put = xdp_port_put,
	.granted_get = xdp_granted_get,
	.after_run = xdp_after_run,
};

/* ---- setup ---------------------------------------------------------- */

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "'%s' failed (%d)\n", cmd, rc);
	return rc;
}

static int write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(s, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static char *mac_str(const __u8 *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		m[4], m[5]);
	return buf;
}

/* XDP_PASS, so that the peers take frames redirected into their veth. */
static int load_pass_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "vif_test_pass", "GPL", insns,
			     ARRAY_SIZE(insns), NULL);
}

static int netns_setup(struct xdp_engine *x)
{
	const char *path = getenv("PATH");
	char m1[18], m2[18], buf[1024];
	int i;

	/* ip(8) lives in sbin, which a test runner's PATH may lack. */
	snprintf(buf, sizeof(buf), "%s:/usr/sbin:/sbin",
		 path ? path : "/usr/bin:/bin");
	setenv("PATH", buf, 1);
	/* No IPv6 autoconf chatter on the taps. */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	if (sh("ip link set lo up"))
		return -1;
	for (i = P_TRUNK; i < P__MAX; i++) {
		struct xdp_port *p = &x->port[i];

		if (sh("ip link add %s address %s type veth peer name %s address %s",
		       p->name, mac_str(conf_ports[i].mac, m1), p->peer,
		       mac_str(conf_ports[i].peer_mac, m2)) ||
		    sh("ip link set %s up && ip link set %s up", p->name,
		       p->peer))
			return -1;
		p->ifindex = if_nametoindex(p->name);
		p->peer_ifindex = if_nametoindex(p->peer);
		if (!p->ifindex || !p->peer_ifindex)
			return -1;
		x->base.ifindex[i] = p->ifindex;
	}
	return 0;
}

/*
 * Pin directories of test runs killed before their cleanup ran (a meson
 * timeout, say).  A live run holds dp_open()'s flock on its directory, so
 * a directory we can lock is dead whatever its pid says.  Their programs
 * went with their netns; unpinning frees the maps.
 */
static void sweep_stale_pins(const char *tag)
{
	char path[PATH_MAX];
	struct dirent *de, *me;
	DIR *d, *sub;
	int pid, fd;

	d = opendir(VIF_PIN_BASE);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(tag);

		/* "<tag>-<pid>" */
		if (strncmp(de->d_name, tag, n) || de->d_name[n] != '-' ||
		    sscanf(de->d_name + n + 1, "%d", &pid) != 1)
			continue;
		snprintf(path, sizeof(path), VIF_PIN_BASE "/%s", de->d_name);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			close(fd);
			continue;
		}
		sub = opendir(path);
		while (sub && (me = readdir(sub))) {
			char file[PATH_MAX + 256];

			if (me->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, me->d_name);
			unlink(file);
		}
		if (sub)
			closedir(sub);
		if (!rmdir(path))
			printf("removed stale pin directory %s\n", path);
		close(fd);
	}
	closedir(d);
}

static int pinned_map(struct xdp_engine *x, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", x->pin_dir, name);
	return bpf_obj_get(path);
}

static int dp_setup(struct xdp_engine *x)
{
	struct dp_opts opts = { .pin_dir = x->pin_dir };
	struct dp *dp = NULL;
	int i, err, pass_fd;

	err = dp_open(&opts, &dp);
	if (err) {
		fprintf(stderr, "Couldn't open dataplane at '%s': %s (%d)\n",
			x->pin_dir, strerror(-err), err);
		return err;
	}
	err = conf_engine_init(&x->base, "xdp", &xdp_ops, dp);
	if (err) {
		dp_teardown(dp);
		dp_close(dp);
		return err;
	}
	x->ports_fd = pinned_map(x, VIF_MAP_PORTS);
	x->index_fd = pinned_map(x, VIF_MAP_INDEX);
	x->policy_fd = pinned_map(x, VIF_MAP_POLICY);
	x->qshr_fd = pinned_map(x, VIF_MAP_QUOTA_SHARED);
	if (x->ports_fd < 0 || x->index_fd < 0 || x->policy_fd < 0 ||
	    x->qshr_fd < 0)
		return -ENOENT;
	for (i = 0; i < 3; i++)
		x->prog[i] = dp_prog_fd(dp, i);

	err = dp_trunk_attach(dp, x->port[P_TRUNK].ifindex);
	for (i = P_A; i <= P_C && !err; i++)
		err = dp_port_attach(dp, x->port[i].ifindex);
	if (err)
		return err;

	/* The netns owns the attachments: they go when the test exits. */
	pass_fd = load_pass_prog();
	if (pass_fd < 0)
		return pass_fd;
	for (i = P_TRUNK; i < P__MAX && !err; i++) {
		err = bpf_xdp_attach(x->port[i].peer_ifindex, pass_fd,
				     XDP_FLAGS_DRV_MODE, NULL);
		x->port[i].tap = err ? -1 : xdp_tap_open(x->port[i].peer_ifindex,
							 ETH_P_ALL);
		if (!err && x->port[i].tap < 0)
			err = x->port[i].tap;
	}
	close(pass_fd);
	return err ?: conf_reset(&x->base);
}

int xdp_engine_setup(struct xdp_engine *x, const char *tag, const char **why)
{
	int i;

	memset(x, 0, sizeof(*x));
	x->ports_fd = x->index_fd = x->policy_fd = x->qshr_fd = -1;
	for (i = 0; i < P__MAX; i++) {
		x->port[i].name = port_names[i][0];
		x->port[i].peer = port_names[i][1];
		x->port[i].tap = -1;
	}
	if (geteuid() != 0 || !have_cap(CAP_BPF) || !have_cap(CAP_NET_ADMIN) ||
	    !have_cap(CAP_SYS_ADMIN)) {
		*why = "needs root with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (unshare, XDP, test_run)";
		return TEST_SKIP;
	}
	/* Quota slices are per CPU: every run must land on one CPU. */
	sched_getaffinity(0, sizeof(x->allowed), &x->allowed);
	x->cpu = sched_getcpu();
	xdp_pin_to(x->cpu);
	if (unshare(CLONE_NEWNET)) {
		*why = "unshare(CLONE_NEWNET) refused";
		return TEST_SKIP;
	}
	if (netns_setup(x)) {
		*why = "could not build veth pairs with ip(8)";
		return TEST_SKIP;
	}
	sweep_stale_pins(tag);
	snprintf(x->pin_dir, sizeof(x->pin_dir), VIF_PIN_BASE "/%s-%d", tag,
		 (int)getpid());
	return dp_setup(x);
}

void xdp_engine_cleanup(struct xdp_engine *x)
{
	int *fds[] = { &x->ports_fd, &x->index_fd, &x->policy_fd,
		       &x->qshr_fd };
	size_t i;

	for (i = P_TRUNK; i < P__MAX; i++)
		if (x->port[i].tap >= 0) {
			close(x->port[i].tap);
			x->port[i].tap = -1;
		}
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (x->base.dp) {
		int err = dp_teardown(x->base.dp);

		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				x->pin_dir, strerror(-err), err);
		dp_close(x->base.dp);
		x->base.dp = NULL;
	}
	conf_engine_fini(&x->base);
}
