// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_vifplane - per-packet cost of every dataplane path under
 * BPF_PROG_TEST_RUN, as a ratio against an empty program timed in the
 * same process, with 1, 256 and 4094 VIFs configured.
 *
 *   bpf_vifplane [--repeat N] [--rounds K] [--vifs 1,256,4094]
 *                [--only PATH] [--soak] [-v]
 *
 * Output: one "BENCH <name> <value> <unit>" line per figure on stdout,
 * progress and checks as "# ..." on stderr.  Per path P and VIF count N:
 *
 *   P_vN_ns        restore + path, ns per frame (bench.bpf.c wrapper)
 *   P_vN_ratio     (restore + path) / (restore + empty), paired per round
 *   P_vN_cost_ns   (restore + path) - (restore + empty): the path's own ns
 *   P_vN_direct_ns / _direct_ratio
 *                  drop paths only (they leave the frame alone): the real
 *                  vif_xdp_trunk/vif_xdp_service, repeat = N, against the
 *                  plain empty program
 *   P_vN_vs_fwd_ratio
 *                  drop paths only: P_vN_ratio over the forward path's
 *                  ratio on the same hook (trunk drops: fwd; service
 *                  drops: push), i.e. (restore + drop) / (restore + fwd)
 *                  with each side normalised by its own round's baseline,
 *                  so it is immune to the machine getting faster or
 *                  slower between the two paths' rounds
 *   base_vN_ns, empty_vN_ns
 *                  restore + empty, and the plain empty program
 *
 * Every figure is the median of K rounds; a round times base, path, empty
 * and (where it applies) direct back to back, so a ratio is taken between
 * runs a few milliseconds apart.  ns per frame is test_run's own
 * opts.duration (the kernel's loop time / repeat, floored to whole ns).
 * Not the wall time of the call: for a program that is not attached
 * anywhere, every XDP test_run with repeat > 1 swaps it into the XDP
 * dispatcher and out again, two synchronize_rcu() of several ms each,
 * which adds tens of ns per frame at the default repeat (-v prints both).
 *
 * --soak runs only the wrappers of --only PATH, untimed, for a profiler:
 *   perf record -e cpu-clock -C <cpu> while bpf_vifplane --only fwd --soak
 *
 * Maps: dp_open() loads the dataplane on a private pin directory
 * (VIF_PIN_BASE/bench-<pid>) and bench.skel.h is opened with pin_root_path
 * set to it.  Every dataplane map in bench.bpf.c is LIBBPF_PIN_BY_NAME, so
 * libbpf reuses the pinned maps instead of creating its own: the wrappers
 * run on exactly the maps dp_vif_upsert() and friends write, and VIFs are
 * configured only through dp.h (no map is filled by hand).
 *
 * The process moves into a new network namespace first: the dataplane
 * needs a trunk and a service port, and that namespace's loopback serves
 * as both (test_run needs a real ifindex for ingress_ifindex; nothing is
 * ever sent).  Everything it creates vanishes with the process; the pin
 * directory is removed on the way out, also after SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_util.h"
#include "dp.h"
#include "log.h"
#include "pkt.h"
#include "vif_abi.h"
/* No bpf/bench-skel.h wrapper exists: vif_abi.h above stands in for it. */
#include "bench.skel.h"

#define BENCH_FRAME_LEN 64 /* bench.bpf.c's BENCH_FRAME_LEN */
#define REPEAT_DEFAULT (1u << 18)
#define ROUNDS_DEFAULT 21
#define ROUNDS_MAX 101
#define VIF_COUNTS_MAX 8
#define CHECK_FRAMES 1000

/* The VIF every path runs through, its chain next hop, a free VLAN. */
#define VLAN_DUT 100
#define VLAN_HOP 101
#define VLAN_FREE 4000
/* Fake service port ifindexes of the filler VIFs (never looked up). */
#define FILLER_IFINDEX_BASE 100000

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	exiting = 1;
}

enum side {
	SIDE_TRUNK,
	SIDE_SERVICE,
};

/* What a path must leave in the counters, to prove it ran that path. */
enum check {
	CHK_RX,    /* vif.rx_packets: trunk -> service */
	CHK_TX,    /* vif.tx_packets, neither host nor chain: -> trunk */
	CHK_CHAIN, /* vif.chain_packets */
	CHK_HOST,  /* vif.host_packets */
	CHK_DROP,  /* global drops[reason] */
};

enum frame_kind {
	FR_TAGGED,    /* 802.1Q VLAN_DUT, IPv4/UDP */
	FR_TAGGED_FREE, /* 802.1Q VLAN_FREE */
	FR_UNTAGGED_TRUNK,
	FR_QINQ,      /* 88a8 outer, 8100 inner */
	FR_SVC,       /* from the VIF's service address, to its gateway */
	FR_SVC_HOST,  /* same, addressed to the service port's MAC */
	FR_SVC_SPOOF, /* source outside the VIF's subnet */
};

struct bench_run;

struct path {
	const char *name;
	enum side side;
	enum frame_kind frame;
	int want_ret;
	enum check check;
	enum vif_drop_reason reason;
	bool direct; /* frame not rewritten: time the real program too */
	/* Configure the path's state; undo it.  NULL: nothing to do. */
	int (*setup)(struct bench_run *b);
	int (*undo)(struct bench_run *b);
};

struct bench_run {
	struct dp *dp;
	struct bench *skel; /* bench.bpf.c's skeleton */
	int lo;
	int nvifs;     /* VIFs configured right now */
	bool hop_added;    /* setup_chain() added VLAN_HOP */
	bool free_deleted; /* setup_unknown() deleted VLAN_FREE */
	__u32 repeat;
	int rounds;
	bool verbose;
	bool soak;     /* time nothing, run only the path's wrapper */
	double fwd_ratio[2]; /* this VIF count's fwd and push, by side */
	struct dp_stats *st0, *st1;
};

/* ---- frames ---------------------------------------------------------- */

static const __u8 mac_router[6] = { 0x02, 0, 0, 0, 0x00, 0x01 };
static const __u8 mac_svc[6] = { 0x02, 0, 0, 0, 0x01, 0x00 };
static const __u8 mac_port[6] = { 0x02, 0, 0, 0, 0x02, 0x00 };

static __be32 ip4(int a, int b, int c, int d)
{
	return htonl((__u32)a << 24 | (__u32)b << 16 | (__u32)c << 8 | d);
}

/* The VIF under test owns 10.0.100.0/24: service .2, host .1. */
static void frame_build(enum frame_kind k, struct pkt *p)
{
	switch (k) {
	case FR_TAGGED:
		pkt_udp4_frame(p, mac_svc, mac_router, VLAN_DUT,
			       ip4(198, 18, 0, 1), ip4(10, 0, 100, 2),
			       BENCH_FRAME_LEN);
		break;
	case FR_TAGGED_FREE:
		pkt_udp4_frame(p, mac_svc, mac_router, VLAN_FREE,
			       ip4(198, 18, 0, 1), ip4(10, 0, 100, 2),
			       BENCH_FRAME_LEN);
		break;
	case FR_UNTAGGED_TRUNK:
		pkt_udp4_frame(p, mac_svc, mac_router, -1, ip4(198, 18, 0, 1),
			       ip4(10, 0, 100, 2), BENCH_FRAME_LEN);
		break;
	case FR_QINQ:
		pkt_init(p);
		pkt_eth(p, mac_svc, mac_router);
		pkt_tag(p, 0x88a8, 7);
		pkt_tag(p, 0x8100, VLAN_DUT);
		pkt_type(p, 0x0800);
		pkt_ipv4(p, ip4(198, 18, 0, 1), ip4(10, 0, 100, 2), 17,
			 BENCH_FRAME_LEN - 22 - 20);
		pkt_udp(p, 40000, 53, BENCH_FRAME_LEN - 22 - 28);
		break;
	case FR_SVC:
		pkt_udp4_frame(p, mac_router, mac_svc, -1, ip4(10, 0, 100, 2),
			       ip4(198, 18, 0, 1), BENCH_FRAME_LEN);
		break;
	case FR_SVC_HOST:
		pkt_udp4_frame(p, mac_port, mac_svc, -1, ip4(10, 0, 100, 2),
			       ip4(10, 0, 100, 1), BENCH_FRAME_LEN);
		break;
	case FR_SVC_SPOOF:
		pkt_udp4_frame(p, mac_router, mac_svc, -1, ip4(192, 0, 2, 1),
			       ip4(198, 18, 0, 1), BENCH_FRAME_LEN);
		break;
	}
}

/* ---- VIF configuration through dp.h ------------------------------------ */

static int vif_add(struct bench_run *b, __u16 vlan)
{
	struct vif_spec s = {
		.vlan = vlan,
		.mark = vlan,
		.table = vlan,
		.prefix_len = 24,
		.active = true,
	};
	char errbuf[160] = "";
	int err;

	if (vlan == VLAN_DUT) {
		s.svc_ifindex = b->lo;
		s.addr = ip4(10, 0, 100, 2);
		s.host_addr = ip4(10, 0, 100, 1);
		memcpy(s.svc_mac, mac_svc, 6);
		memcpy(s.port_mac, mac_port, 6);
	} else {
		s.svc_ifindex = FILLER_IFINDEX_BASE + vlan;
		s.addr = ip4(10, 1 + (vlan >> 8), vlan & 0xff, 2);
		memcpy(s.svc_mac, mac_svc, 6);
		memcpy(s.port_mac, mac_port, 6);
		s.svc_mac[3] = s.port_mac[3] = vlan >> 8;
		s.svc_mac[4] = s.port_mac[4] = vlan & 0xff;
	}
	err = dp_vif_upsert(b->dp, &s, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "Couldn't add VIF %u: %s\n", vlan,
			errbuf[0] ? errbuf : strerror(-err));
		return err;
	}
	b->nvifs++;
	return 0;
}

static int vif_del(struct bench_run *b, __u16 vlan)
{
	int err = dp_vif_delete(b->dp, vlan);

	if (err) {
		fprintf(stderr, "Couldn't delete VIF %u: %s (%d)\n", vlan,
			strerror(-err), err);
		return err;
	}
	b->nvifs--;
	return 0;
}

static bool vif_exists(struct bench_run *b, __u16 vlan)
{
	struct vif_entry e;

	return !dp_vif_get(b->dp, vlan, &e);
}

/*
 * n VIFs: VLAN_DUT first, then 1..4094 in order, skipping VLAN_FREE while
 * n < 4094 so that the unknown-VLAN path has a free VLAN.  Grows or
 * shrinks what is there.
 */
static int vifs_configure(struct bench_run *b, int n)
{
	int v, err;

	if (!vif_exists(b, VLAN_DUT)) {
		err = vif_add(b, VLAN_DUT);
		if (err)
			return err;
	}
	for (v = VIF_VLAN_MAX; v >= VIF_VLAN_MIN && b->nvifs > n; v--) {
		if (v == VLAN_DUT || !vif_exists(b, v))
			continue;
		err = vif_del(b, v);
		if (err)
			return err;
	}
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX && b->nvifs < n; v++) {
		if (v == VLAN_DUT || (v == VLAN_FREE && n < VIF_VLAN_MAX) ||
		    vif_exists(b, v))
			continue;
		err = vif_add(b, v);
		if (err)
			return err;
	}
	return 0;
}

/* A chain needs its next hop: add it while the path runs if missing. */
static int setup_chain(struct bench_run *b)
{
	int err;

	b->hop_added = false;
	if (!vif_exists(b, VLAN_HOP)) {
		err = vif_add(b, VLAN_HOP);
		if (err)
			return err;
		b->hop_added = true;
	}
	return dp_chain_set(b->dp, VLAN_DUT, VLAN_HOP);
}

static int undo_chain(struct bench_run *b)
{
	int err = dp_chain_set(b->dp, VLAN_DUT, 0);

	if (!err && b->hop_added)
		err = vif_del(b, VLAN_HOP);
	return err;
}

/* With all 4094 VLANs in use, free one for the unknown-VLAN path. */
static int setup_unknown(struct bench_run *b)
{
	b->free_deleted = vif_exists(b, VLAN_FREE);
	return b->free_deleted ? vif_del(b, VLAN_FREE) : 0;
}

static int undo_unknown(struct bench_run *b)
{
	return b->free_deleted ? vif_add(b, VLAN_FREE) : 0;
}

static int setup_kill(struct bench_run *b)
{
	return dp_killswitch_set(b->dp, VLAN_DUT, true);
}

static int undo_kill(struct bench_run *b)
{
	return dp_killswitch_set(b->dp, VLAN_DUT, false);
}

static int setup_inactive(struct bench_run *b)
{
	return dp_active_set(b->dp, VLAN_DUT, false);
}

static int undo_inactive(struct bench_run *b)
{
	return dp_active_set(b->dp, VLAN_DUT, true);
}

/* 1 byte, blocking: the first frame ever takes it, every later one drops
 * (on every CPU: the shared budget is spent).  check_path() sends that
 * first frame before anything is timed. */
static int setup_quota(struct bench_run *b)
{
	return dp_quota_set(b->dp, VLAN_DUT, 1,
			    VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX);
}

static int undo_quota(struct bench_run *b)
{
	return dp_quota_set(b->dp, VLAN_DUT, 0, 0) ?:
	       dp_quota_reset(b->dp, VLAN_DUT);
}

/* Forward with an RX quota configured but far from used up. */
static int setup_fwd_quota(struct bench_run *b)
{
	return dp_quota_set(b->dp, VLAN_DUT, 1ull << 62, VIF_F_QUOTA_RX);
}

#define FWD(n, sd, fr, ret, chk, ...)                                      \
	{ .name = (n), .side = (sd), .frame = (fr), .want_ret = (ret),    \
	  .check = (chk), __VA_ARGS__ }
#define DROP(n, sd, fr, why, ...)                                          \
	{ .name = (n), .side = (sd), .frame = (fr), .want_ret = XDP_DROP, \
	  .check = CHK_DROP, .reason = (why), .direct = true, __VA_ARGS__ }

static const struct path paths[] = {
	FWD("fwd", SIDE_TRUNK, FR_TAGGED, XDP_REDIRECT, CHK_RX),
	FWD("fwd_quota", SIDE_TRUNK, FR_TAGGED, XDP_REDIRECT, CHK_RX,
	    .setup = setup_fwd_quota, .undo = undo_quota),
	FWD("push", SIDE_SERVICE, FR_SVC, XDP_REDIRECT, CHK_TX),
	FWD("chain", SIDE_SERVICE, FR_SVC, XDP_REDIRECT, CHK_CHAIN,
	    .setup = setup_chain, .undo = undo_chain),
	FWD("host", SIDE_SERVICE, FR_SVC_HOST, XDP_PASS, CHK_HOST),
	DROP("drop_unknown_vlan", SIDE_TRUNK, FR_TAGGED_FREE,
	     VIF_DROP_UNKNOWN_VLAN, .setup = setup_unknown,
	     .undo = undo_unknown),
	DROP("drop_untagged", SIDE_TRUNK, FR_UNTAGGED_TRUNK,
	     VIF_DROP_UNTAGGED),
	DROP("drop_qinq", SIDE_TRUNK, FR_QINQ, VIF_DROP_QINQ),
	DROP("drop_spoof", SIDE_SERVICE, FR_SVC_SPOOF, VIF_DROP_SPOOF),
	DROP("drop_killswitch", SIDE_SERVICE, FR_SVC, VIF_DROP_KILLSWITCH,
	     .setup = setup_kill, .undo = undo_kill),
	DROP("drop_quota", SIDE_TRUNK, FR_TAGGED, VIF_DROP_QUOTA,
	     .setup = setup_quota, .undo = undo_quota),
	DROP("drop_inactive", SIDE_TRUNK, FR_TAGGED, VIF_DROP_INACTIVE,
	     .setup = setup_inactive, .undo = undo_inactive),
};

/* ---- timing -------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One test_run of repeat frames; ns per frame (kernel) and the retval. */
static int run_prog(struct bench_run *b, int fd, const struct pkt *p,
		    __u32 repeat, double *ns, __u32 *retval)
{
	struct xdp_md ctx = { .data_end = p->len, .ingress_ifindex = b->lo };
	__u8 out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data,
		    .data_size_in = p->len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);
	double t0, t1;
	int err;

	t0 = now_ns();
	err = bpf_prog_test_run_opts(fd, &o);
	t1 = now_ns();
	if (err) {
		err = -errno;
		fprintf(stderr, "test_run failed: %s (%d)\n", strerror(-err),
			err);
		return err;
	}
	if (ns)
		*ns = o.duration;
	if (retval)
		*retval = o.retval;
	if (b->verbose && repeat > CHECK_FRAMES)
		fprintf(stderr, "#   wall %.2f ns, kernel %u ns\n",
			(t1 - t0) / repeat, o.duration);
	return 0;
}

/* ---- checks ------------------------------------------------------------ */

static __u64 counter_of(const struct dp_stats *st, const struct path *p)
{
	const struct vif_stats *v = &st->vif[VLAN_DUT];

	switch (p->check) {
	case CHK_RX:
		return v->rx_packets;
	case CHK_TX:
		return v->tx_packets - v->host_packets - v->chain_packets;
	case CHK_CHAIN:
		return v->chain_packets;
	case CHK_HOST:
		return v->host_packets;
	case CHK_DROP:
		return st->global.drops[p->reason];
	}
	return 0;
}

/* Run fd CHECK_FRAMES times; the right retval and counter, or -EPROTO. */
static int check_prog(struct bench_run *b, const struct path *p, int fd,
		      const struct pkt *frame, const char *what)
{
	__u64 before, after;
	__u32 ret;
	int err;

	err = dp_stats_read(b->dp, b->st0) ?:
	      run_prog(b, fd, frame, CHECK_FRAMES, NULL, &ret) ?:
	      dp_stats_read(b->dp, b->st1);
	if (err)
		return err;
	before = counter_of(b->st0, p);
	after = counter_of(b->st1, p);
	if (ret != (__u32)p->want_ret || after - before != CHECK_FRAMES) {
		fprintf(stderr,
			"Path %s (%s) is not what it claims: retval %u (want %d), counter +%llu (want +%d)\n",
			p->name, what, ret, p->want_ret,
			(unsigned long long)(after - before), CHECK_FRAMES);
		return -EPROTO;
	}
	return 0;
}

/* ---- one path, one VIF count -------------------------------------------- */

struct sample {
	double base, path, empty, direct;
};

static int bench_path(struct bench_run *b, const struct path *p, int nvifs)
{
	int wrap = bpf_program__fd(p->side == SIDE_TRUNK ?
					   b->skel->progs.bench_trunk :
					   b->skel->progs.bench_service);
	int real = dp_prog_fd(b->dp, p->side == SIDE_TRUNK ? DP_PROG_TRUNK :
							    DP_PROG_SERVICE);
	int base = bpf_program__fd(b->skel->progs.bench_base);
	int empty = bpf_program__fd(b->skel->progs.bench_empty);
	double v_base[ROUNDS_MAX], v_path[ROUNDS_MAX], v_empty[ROUNDS_MAX];
	double v_direct[ROUNDS_MAX], r_path[ROUNDS_MAX], r_direct[ROUNDS_MAX];
	double c_path[ROUNDS_MAX];
	struct pkt frame;
	struct sample s;
	double ratio;
	int i, err, undo_err;

	frame_build(p->frame, &frame);
	memcpy(b->skel->bss->bench_frame, frame.data, BENCH_FRAME_LEN);
	if (p->setup) {
		err = p->setup(b);
		if (err) {
			fprintf(stderr, "Couldn't set up path %s: %s (%d)\n",
				p->name, strerror(-err), err);
			return err;
		}
	}
	/* Quota: spend the 1-byte budget (first frame passes, popped). */
	if (p->reason == VIF_DROP_QUOTA) {
		err = run_prog(b, wrap, &frame, 1, NULL, NULL);
		if (err)
			goto out;
	}
	err = check_prog(b, p, wrap, &frame, "wrapper");
	if (!err && p->direct)
		err = check_prog(b, p, real, &frame, "direct");
	if (err)
		goto out;

	if (b->soak) {
		/* Only the wrapper, for a profiler (perf record -C CPU). */
		for (i = 0; i < b->rounds && !exiting && !err; i++)
			err = run_prog(b, wrap, &frame, b->repeat, &s.path,
				       NULL);
		goto out;
	}
	for (i = 0; i < b->rounds && !exiting; i++) {
		err = run_prog(b, base, &frame, b->repeat, &s.base, NULL) ?:
		      run_prog(b, wrap, &frame, b->repeat, &s.path, NULL) ?:
		      run_prog(b, empty, &frame, b->repeat, &s.empty, NULL);
		if (!err && p->direct)
			err = run_prog(b, real, &frame, b->repeat, &s.direct,
				       NULL);
		if (err)
			goto out;
		v_base[i] = s.base;
		v_path[i] = s.path;
		v_empty[i] = s.empty;
		r_path[i] = s.path / s.base;
		c_path[i] = s.path - s.base;
		if (p->direct) {
			v_direct[i] = s.direct;
			r_direct[i] = s.direct / s.empty;
		}
	}
	if (exiting) {
		err = -EINTR;
		goto out;
	}
	printf("BENCH %s_v%d_ns %.2f ns\n", p->name, nvifs,
	       bench_median(v_path, i));
	ratio = bench_median(r_path, i);
	printf("BENCH %s_v%d_ratio %.3f x\n", p->name, nvifs, ratio);
	printf("BENCH %s_v%d_cost_ns %.2f ns\n", p->name, nvifs,
	       bench_median(c_path, i));
	if (p->direct) {
		printf("BENCH %s_v%d_direct_ns %.2f ns\n", p->name, nvifs,
		       bench_median(v_direct, i));
		printf("BENCH %s_v%d_direct_ratio %.3f x\n", p->name, nvifs,
		       bench_median(r_direct, i));
	}
	if (p->check != CHK_DROP && (!strcmp(p->name, "fwd") ||
				     !strcmp(p->name, "push")))
		b->fwd_ratio[p->side] = ratio;
	if (p->check == CHK_DROP && b->fwd_ratio[p->side] > 0)
		printf("BENCH %s_v%d_vs_fwd_ratio %.3f x\n", p->name, nvifs,
		       ratio / b->fwd_ratio[p->side]);
	fprintf(stderr, "#   %s with %d VIFs: base %.2f ns, empty %.2f ns\n",
		p->name, b->nvifs, bench_median(v_base, i),
		bench_median(v_empty, i));
	fflush(stdout);
out:
	undo_err = p->undo ? p->undo(b) : 0;
	if (undo_err)
		fprintf(stderr, "Couldn't undo path %s: %s (%d)\n", p->name,
			strerror(-undo_err), undo_err);
	return err ?: undo_err;
}

/* The floors, once per VIF count: restore + empty and plain empty. */
static int bench_floor(struct bench_run *b, int nvifs)
{
	int base = bpf_program__fd(b->skel->progs.bench_base);
	int empty = bpf_program__fd(b->skel->progs.bench_empty);
	double v_base[ROUNDS_MAX], v_empty[ROUNDS_MAX];
	struct pkt frame;
	int i, err;

	frame_build(FR_TAGGED, &frame);
	memcpy(b->skel->bss->bench_frame, frame.data, BENCH_FRAME_LEN);
	for (i = 0; i < b->rounds && !exiting; i++) {
		err = run_prog(b, base, &frame, b->repeat, &v_base[i], NULL) ?:
		      run_prog(b, empty, &frame, b->repeat, &v_empty[i], NULL);
		if (err)
			return err;
	}
	if (exiting)
		return -EINTR;
	printf("BENCH base_v%d_ns %.2f ns\n", nvifs,
	       bench_median(v_base, i));
	printf("BENCH empty_v%d_ns %.2f ns\n", nvifs,
	       bench_median(v_empty, i));
	return 0;
}

/* ---- setup ------------------------------------------------------------- */

static int bench_open(struct bench_run *b, char *pin_dir, size_t len)
{
	struct dp_opts opts = { .pin_dir = pin_dir, .mode = DP_XDP_GENERIC };
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = pin_dir);
	int err;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "Couldn't enter a new network namespace: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	b->lo = if_nametoindex("lo");
	if (!b->lo)
		return -ENODEV;
	snprintf(pin_dir, len, "%s/bench-%d", VIF_PIN_BASE, (int)getpid());
	err = dp_open(&opts, &b->dp);
	if (err)
		return err;
	/* The trunk: the namespace's lo, generic mode, never sees a frame.
	 * Only its ifindex matters (the push path redirects there). */
	err = dp_trunk_attach(b->dp, b->lo);
	if (err)
		return err;
	b->skel = bench__open_opts(&oopts);
	if (!b->skel) {
		err = -errno;
		fprintf(stderr, "Couldn't open bench BPF object: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	/* The veth benchmark's program: not needed here. */
	bpf_program__set_autoload(b->skel->progs.bench_redirect, false);
	err = bench__load(b->skel);
	if (err) {
		fprintf(stderr, "Couldn't load bench BPF object: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	b->st0 = calloc(1, sizeof(*b->st0));
	b->st1 = calloc(1, sizeof(*b->st1));
	if (!b->st0 || !b->st1)
		return -ENOMEM;
	return 0;
}

static void bench_close(struct bench_run *b)
{
	int err;

	bench__destroy(b->skel);
	if (b->dp) {
		err = dp_teardown(b->dp);
		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				dp_pin_dir(b->dp), strerror(-err), err);
		dp_close(b->dp);
	}
	free(b->st0);
	free(b->st1);
}

static int parse_counts(const char *s, int *counts, int *n)
{
	char *end;
	long v;

	*n = 0;
	while (*s && *n < VIF_COUNTS_MAX) {
		v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > VIF_VLAN_MAX)
			return -EINVAL;
		counts[(*n)++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	return *n ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'k' },
		{ "vifs", required_argument, NULL, 'n' },
		{ "only", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "soak", no_argument, NULL, 's' },
		{},
	};
	struct bench_run b = { .repeat = REPEAT_DEFAULT, .rounds = ROUNDS_DEFAULT };
	int counts[VIF_COUNTS_MAX] = { 1, 256, VIF_VLAN_MAX }, ncounts = 3;
	const char *only = NULL;
	char pin_dir[256];
	size_t i;
	int c, opt, err;

	while ((opt = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			b.repeat = strtoul(optarg, NULL, 0);
			break;
		case 'k':
			b.rounds = atoi(optarg);
			break;
		case 'n':
			if (parse_counts(optarg, counts, &ncounts))
				goto usage;
			break;
		case 'o':
			only = optarg;
			break;
		case 'v':
			b.verbose = true;
			break;
		case 's':
			b.soak = true;
			break;
		default:
			goto usage;
		}
	}
	if (b.repeat < CHECK_FRAMES || b.rounds < 1 || b.rounds > ROUNDS_MAX)
		goto usage;
	if (geteuid() != 0) {
		fprintf(stderr, "# needs root (CAP_BPF, CAP_NET_ADMIN): skipped\n");
		return 77;
	}
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	log_hook_libbpf();
	log_set_level(LOG_LVL_WARN);
	err = bench_pin_cpu();
	if (err >= 0)
		fprintf(stderr, "# pinned to CPU %d\n", err);

	err = bench_open(&b, pin_dir, sizeof(pin_dir));
	if (err)
		goto out;
	fprintf(stderr, "# repeat %u, %d rounds, pin dir %s\n", b.repeat,
		b.rounds, pin_dir);
	for (c = 0; c < ncounts && !err && !exiting; c++) {
		err = vifs_configure(&b, counts[c]);
		if (err)
			break;
		fprintf(stderr, "# %d VIFs configured\n", b.nvifs);
		b.fwd_ratio[SIDE_TRUNK] = b.fwd_ratio[SIDE_SERVICE] = 0;
		if (!b.soak)
			err = bench_floor(&b, counts[c]);
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && !err; i++) {
			if (only && strcmp(paths[i].name, only))
				continue;
			err = bench_path(&b, &paths[i], counts[c]);
		}
	}
out:
	bench_close(&b);
	if (err)
		fprintf(stderr, "bpf_vifplane failed: %s (%d)\n", strerror(-err),
			err);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
usage:
	fprintf(stderr,
		"Usage: bpf_vifplane [--repeat N>=%d] [--rounds K<=%d] [--vifs 1,256,4094] [--only PATH [--soak]] [-v]\n",
		CHECK_FRAMES, ROUNDS_MAX);
	return 2;
}
