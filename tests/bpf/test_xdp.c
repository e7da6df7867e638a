// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_xdp.c - the vifplane XDP programs under BPF_PROG_TEST_RUN.
 *
 * test_xdp_table runs the conformance table (tests/conformance/cases.c),
 * which the DPDK engine runs too, on the XDP engine
 * (tests/conformance/engine_xdp.c): each row resets the dataplane to the
 * baseline VIFs, applies its tweaks, runs one frame (after .pre identical
 * ones, for quotas) and asserts the verdict, the whole output frame, the
 * host-bound mark (as XDP metadata), the exact change of every counter
 * and the quota state.  A row that redirects is run once more in
 * BPF_F_TEST_XDP_LIVE_FRAMES mode, and the frame must come out of the
 * peer of the port the row names, and nowhere else.
 *
 * What has no counterpart in the DPDK engine stays here: the tc program
 * that turns the metadata (or, failing that, the port's VIF) into
 * skb->mark, the mark end to end on a real veth, and the atomicity of
 * policy flips under a concurrent reader.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "engine_xdp.h"
#include "harness.h"
#include "stats.h"

static struct xdp_engine xe;

static struct pkt in_pkt, want_frame;

/* A's 100-byte UDP frame, addressed to dst: what the table calls A_UDP
 * (dst ROUTER) or a host-bound one (dst PORT_A). */
static void a_udp(struct pkt *p, enum conf_port dst_port, bool to_port)
{
	static const __u8 router[6] = { 0x02, 0, 0, 0, 0x00, 0xfe };

	pkt_udp4_frame(p, to_port ? conf_ports[dst_port].mac : router,
		       conf_ports[P_A].peer_mac, -1, conf_ip4("10.1.0.2"),
		       conf_ip4("192.0.2.1"), 100);
}

static int test_xdp_table(void)
{
	struct conf_engine *e = &xe.base;

	return conf_table_run(&e, 1);
}

/* ---- tc: the routing mark ------------------------------------------- */

struct tc_case {
	const char *desc;
	enum conf_port in;
	struct conf_tweak set;
	__u32 mark_in, want_mark;
};

/*
 * SCHED_CLS test_run builds an skb without XDP metadata, so these run the
 * fallback: the mark comes from the VIF of skb->ingress_ifindex.  The
 * metadata path is run for real in test_host_mark_live.
 */
static const struct tc_case tc_cases[] = {
	{ "tc: A's port gets A's mark", P_A, {}, 0, MARK_A },
	{ "tc: A's mark replaces an earlier one", P_A, {}, 0x55, MARK_A },
	{ "tc: B's port gets B's mark", P_B, {}, 0, MARK_B },
	{ "tc: C's port gets C's mark", P_C, {}, 0, MARK_C },
	{ "tc: unknown port keeps its mark", P_X, {}, 0x55, 0x55 },
	{ "tc: the trunk is not a service port", P_TRUNK, {}, 0x55, 0x55 },
	{ "tc: inactive VIF sets no mark", P_A, { .inactive = VA },
	  0x55, 0x55 },
	{ "tc: deleted VIF sets no mark", P_B, { .deleted = VB }, 0x55, 0x55 },
	{ "tc: stale port entry without VIF", P_X, { .stale_port = 999 },
	  0x55, 0x55 },
	{ "tc: forged slot with no VIF in it", P_X, { .forge = VFORGED },
	  0x55, 0x55 },
};

static int test_tc_mark_fallback(void)
{
	int fd = xe.prog[DP_PROG_TC_MARK], fail = 0;
	size_t i;

	a_udp(&in_pkt, P_A, true);
	for (i = 0; i < ARRAY_SIZE(tc_cases); i++) {
		const struct tc_case *c = &tc_cases[i];
		struct __sk_buff ctx_in = {
			.mark = c->mark_in,
			.ingress_ifindex = xe.port[c->in].ifindex,
			.ifindex = xe.port[c->in].ifindex,
		};
		struct __sk_buff ctx_out = {};
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			    .data_in = in_pkt.data,
			    .data_size_in = in_pkt.len,
			    .ctx_in = &ctx_in,
			    .ctx_size_in = sizeof(ctx_in),
			    .ctx_out = &ctx_out,
			    .ctx_size_out = sizeof(ctx_out),
			    .repeat = 1);
		bool ok;

		if (conf_reset(&xe.base) || conf_apply(&xe.base, &c->set))
			return -1;
		ok = ASSERT_OK(bpf_prog_test_run_opts(fd, &opts), "test_run") &&
		     ASSERT_EQ(opts.retval, TC_ACT_OK, "verdict") &&
		     ASSERT_EQ(ctx_out.mark, c->want_mark, "skb->mark");
		printf("  %s %s\n", ok ? "ok  " : "FAIL", c->desc);
		if (!ok)
			fail = -1;
	}
	return fail;
}

/* Classic BPF: accept only skbs whose mark is "mark". */
static int attach_mark_filter(int fd, __u32 mark)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_MARK },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, mark },
		{ BPF_RET | BPF_K, 0, 0, 0xffff },
		{ BPF_RET | BPF_K, 0, 0, 0 },
	};
	struct sock_fprog prog = { ARRAY_SIZE(code), code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
			  sizeof(prog)) ? -errno : 0;
}

/*
 * End to end: a host-bound frame passed by the XDP program in live mode
 * becomes an skb on va, with our metadata in front; the clsact program
 * must turn it into skb->mark before IPv4 taps see the frame (taps bound
 * to one protocol run after tc ingress, ETH_P_ALL taps before it).
 */
static int test_host_mark_live(void)
{
	int any = -1, marked = -1, unmarked = -1, ret = -1;
	int ifindex = xe.port[P_A].ifindex;
	__u8 buf[2048];

	if (conf_reset(&xe.base))
		return -1;
	any = xdp_tap_open(ifindex, ETH_P_IP);
	marked = xdp_tap_open(ifindex, ETH_P_IP);
	unmarked = xdp_tap_open(ifindex, ETH_P_IP);
	if (!ASSERT_TRUE(any >= 0 && marked >= 0 && unmarked >= 0, "taps") ||
	    !ASSERT_OK(attach_mark_filter(marked, MARK_A), "filter") ||
	    !ASSERT_OK(attach_mark_filter(unmarked, 0), "filter"))
		goto out;
	a_udp(&in_pkt, P_A, true);
	if (!ASSERT_OK(xdp_test_run_live(xe.prog[DP_PROG_SERVICE], ifindex,
					 &in_pkt),
		       "live test_run"))
		goto out;
	if (!ASSERT_EQ(xdp_tap_recv(any, buf, sizeof(buf), 2000), in_pkt.len,
		       "frame reached va's stack") ||
	    !ASSERT_EQ(xdp_tap_recv(marked, buf, sizeof(buf), 100), in_pkt.len,
		       "frame carries MARK_A") ||
	    !ASSERT_EQ(xdp_tap_recv(unmarked, buf, sizeof(buf), 100), -EAGAIN,
		       "no unmarked copy"))
		goto out;
	ret = 0;
out:
	if (any >= 0)
		close(any);
	if (marked >= 0)
		close(marked);
	if (unmarked >= 0)
		close(unmarked);
	return ret;
}

/* ---- atomic policy updates ------------------------------------------ */

#define FLIPS 20000

struct flipper {
	int fd, ifindex, cpu;
	const struct pkt *in;
	const struct pkt *chained; /* verdict of state 1 */
	volatile bool stop;
	unsigned long runs, s1, s2, bad, err;
	struct xdp_run_out o;
};

static void *flip_runner(void *arg)
{
	struct flipper *f = arg;

	xdp_pin_to(f->cpu);
	while (!f->stop) {
		if (xdp_test_run(f->fd, f->ifindex, f->in, &f->o)) {
			f->err++;
			continue;
		}
		f->runs++;
		if (f->o.retval == XDP_REDIRECT &&
		    f->o.len == f->chained->len &&
		    !memcmp(f->o.data, f->chained->data, f->o.len))
			f->s1++;
		else if (f->o.retval == XDP_DROP && f->o.len == f->in->len &&
			 !memcmp(f->o.data, f->in->data, f->o.len))
			f->s2++;
		else
			f->bad++;
	}
	return NULL;
}

/*
 * State 1: chained to B, kill switch off  -> redirect into B, MACs rewritten.
 * State 2: no chain, kill switch engaged  -> dropped as killswitch.
 * Each state is one dp_vif_upsert(), i.e. one index flip.  The states
 * differ in two fields (not just the kill switch flag) so that a torn read
 * is visible: chain off + kill switch off pushes a tagged frame to the
 * trunk, a third verdict.  POLICY_BUSY would be a drop of its own reason.
 * Reader and writer run on different CPUs when there are two.
 */
static int test_policy_flip_atomic(void)
{
	static struct flipper f;
	struct dp *dp = xe.base.dp;
	struct dp_stats *delta;
	struct vif_spec s1, s2;
	pthread_t th;
	int i, other, err = 0, ret = -1;
	char msg[128] = "";
	__u64 busy;

	if (conf_reset(&xe.base))
		return -1;
	conf_vif_spec(&xe.base, &conf_vifs[0], &s1);
	s1.next_hop = VB;
	conf_vif_spec(&xe.base, &conf_vifs[0], &s2);
	s2.killswitch = true;

	memset(&f, 0, sizeof(f));
	a_udp(&in_pkt, P_A, false);
	/* Chained into B: addressed to B's service, from B's port. */
	want_frame = in_pkt;
	memcpy(want_frame.data, conf_ports[P_B].peer_mac, 6);
	memcpy(want_frame.data + 6, conf_ports[P_B].mac, 6);
	f.fd = xe.prog[DP_PROG_SERVICE];
	f.ifindex = xe.port[P_A].ifindex;
	f.cpu = xe.cpu;
	f.in = &in_pkt;
	f.chained = &want_frame;

	/* The writer on another CPU than the reader, when there is one. */
	other = xe.cpu;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (i != xe.cpu && CPU_ISSET(i, &xe.allowed)) {
			other = i;
			break;
		}

	/* In state 2 before the reader starts: the baseline is neither. */
	if (!ASSERT_OK(dp_vif_upsert(dp, &s2, msg, sizeof(msg)), msg) ||
	    !ASSERT_OK(dp_stats_read(dp, xe.base.before), "stats before") ||
	    !ASSERT_OK(pthread_create(&th, NULL, flip_runner, &f), "thread"))
		return -1;
	xdp_pin_to(other);
	for (i = 0; i < FLIPS && !err; i++)
		err = dp_vif_upsert(dp, i & 1 ? &s2 : &s1, msg, sizeof(msg));
	f.stop = true;
	pthread_join(th, NULL);
	xdp_pin_to(xe.cpu);
	if (!ASSERT_OK(err, msg) ||
	    !ASSERT_OK(dp_stats_read(dp, xe.base.after), "stats after"))
		return -1;

	delta = calloc(1, sizeof(*delta));
	if (!ASSERT_TRUE(delta, "delta buffer"))
		return -1;
	{
		const __u64 *a = (const __u64 *)xe.base.after;
		const __u64 *b = (const __u64 *)xe.base.before;
		__u64 *d = (__u64 *)delta;
		size_t k;

		for (k = 0; k < sizeof(*delta) / sizeof(__u64); k++)
			d[k] = a[k] - b[k];
	}
	busy = delta->global.drops[VIF_DROP_POLICY_BUSY];
	printf("     %d flips (writer CPU %d), %lu runs (CPU %d): %lu chained, %lu killswitch, %lu other, %lu busy\n",
	       FLIPS, other, f.runs, xe.cpu, f.s1, f.s2, f.bad,
	       (unsigned long)busy);
	if (!ASSERT_EQ(f.err, 0, "test_run errors") ||
	    !ASSERT_EQ(f.bad, 0, "third verdicts") ||
	    !ASSERT_TRUE(f.s1 && f.s2, "both states seen") ||
	    !conf_check_deltas("xdp", CONF_SERVICE,
			       &(struct conf_cnt){
				       .drop = CONF_DROP(VIF_DROP_KILLSWITCH),
				       .drop_vif = VA,
				       .vif = VA,
				       .tx_packets = f.s1,
				       .tx_bytes = f.s1 * 100,
				       .chain_packets = f.s1 },
			       delta, f.s1 + f.s2, f.s2))
		goto out;
	ret = 0;
out:
	free(delta);
	return ret;
}

/* ---- main ----------------------------------------------------------- */

static void on_signal(int sig)
{
	conf_exiting = 1;
}

static const struct test_case cases[] = {
	TEST_CASE(test_xdp_table),
	TEST_CASE(test_tc_mark_fallback),
	TEST_CASE(test_host_mark_live),
	TEST_CASE(test_policy_flip_atomic),
};

static void cleanup(void)
{
	xdp_engine_cleanup(&xe);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *why = NULL;
	int err, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = xdp_engine_setup(&xe, "test-bpf", &why);
	if (err == TEST_SKIP) {
		/* Even when nothing runs, end with the harness's line. */
		printf("skip: %s\n", why);
		printf("0 passed, 0 failed, %zu skipped\n", ARRAY_SIZE(cases));
		return TEST_SKIP;
	}
	atexit(cleanup);
	if (err) {
		fprintf(stderr, "Couldn't set up the dataplane: %s (%d)\n",
			strerror(-err), err);
		printf("0 passed, %zu failed, 0 skipped\n", ARRAY_SIZE(cases));
		return 1;
	}
	ret = harness_run(cases, ARRAY_SIZE(cases));
	cleanup();
	return ret;
}
