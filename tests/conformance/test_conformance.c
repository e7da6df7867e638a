// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_conformance.c - the conformance table (cases.c) on the DPDK
 * engine, and on both engines at once where BPF can run.
 *
 *   test_conformance [--dpdk-only]
 *
 * Every row runs on the DPDK pipeline (engine_dpdk.c) and is judged
 * against the row.  When the XDP engine can start too (root with CAP_BPF,
 * CAP_NET_ADMIN and CAP_SYS_ADMIN, in a build with BPF), every row also
 * runs through BPF_PROG_TEST_RUN (engine_xdp.c), is judged against the
 * row, and the two engines' results are compared field by field: verdict,
 * frame out, redirect port, mark, every counter, quota used and granted.
 * Any difference fails the row and prints the row and both results.
 * Without the privileges the XDP half is skipped (said so on stdout) and
 * the DPDK half still runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_dpdk.h"
#include "harness.h"
#include "runner.h"
#include "vif_build.h"

#if HAVE_BPF
#include "engine_xdp.h"
static struct xdp_engine xe;
static bool xdp_tried; /* xe holds fds to close */
#endif

static struct dpdk_engine de;
static bool have_xdp;

static int test_table_dpdk(void)
{
	struct conf_engine *e = &de.base;

	return conf_table_run(&e, 1);
}

static int test_table_both(void)
{
#if HAVE_BPF
	struct conf_engine *e[2] = { &xe.base, &de.base };

	if (!have_xdp)
		return TEST_SKIP;
	return conf_table_run(e, 2);
#else
	return TEST_SKIP;
#endif
}

/* The comparator itself: one byte, one counter or the port must show. */
static int test_diff_catches(void)
{
	struct conf_case self = conf_cases[0], *c = &self;
	struct conf_result *a = conf_result_new(), *b = conf_result_new();
	struct conf_engine ea = { .name = "left" }, eb = { .name = "right" };
	static struct pkt in;
	int ret = -1;

	if (!ASSERT_TRUE(a && b, "results"))
		goto out;
	self.desc = "comparator self-test";
	conf_frame_build(&in, &c->pkt);
	a->ran = b->ran = true;
	a->verdict = b->verdict = VIF_ACT_REDIRECT;
	a->out_valid = b->out_valid = true;
	a->out = b->out = in;
	a->to_known = b->to_known = true;
	a->to = b->to = P_A;
	if (!ASSERT_TRUE(conf_diff(c, &in, &ea, a, &eb, b), "same results"))
		goto out;
	fprintf(stderr, "  (three differences on purpose follow)\n");
	b->out.data[in.len - 1] ^= 1;
	if (!ASSERT_TRUE(!conf_diff(c, &in, &ea, a, &eb, b), "one byte"))
		goto out;
	b->out = a->out;
	b->delta->vif[VA].rx_bytes = 1;
	if (!ASSERT_TRUE(!conf_diff(c, &in, &ea, a, &eb, b), "one counter"))
		goto out;
	b->delta->vif[VA].rx_bytes = 0;
	b->to = P_B;
	if (!ASSERT_TRUE(!conf_diff(c, &in, &ea, a, &eb, b), "the port"))
		goto out;
	ret = 0;
out:
	conf_result_free(a);
	conf_result_free(b);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_diff_catches),
	TEST_CASE(test_table_dpdk),
	TEST_CASE(test_table_both),
};

static void on_signal(int sig)
{
	conf_exiting = 1;
}

static void cleanup(void)
{
#if HAVE_BPF
	if (xdp_tried)
		xdp_engine_cleanup(&xe);
#endif
	dpdk_engine_cleanup(&de);
}

static int skip_all(const char *why)
{
	printf("skip: %s\n", why);
	printf("0 passed, 0 failed, %zu skipped\n", ARRAY_SIZE(cases));
	return TEST_SKIP;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	bool dpdk_only = argc > 1 && !strcmp(argv[1], "--dpdk-only");
	const char *why = "built without BPF";
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	atexit(cleanup);

#if HAVE_BPF
	/* First: it pins us to one CPU and enters its own netns. */
	if (!dpdk_only) {
		xdp_tried = true;
		err = xdp_engine_setup(&xe, "test-conf", &why);
		if (err && err != TEST_SKIP) {
			fprintf(stderr, "Couldn't set up the XDP engine: %s (%d)\n",
				strerror(-err), err);
			printf("0 passed, %zu failed, 0 skipped\n",
			       ARRAY_SIZE(cases));
			return 1;
		}
		have_xdp = !err;
	}
#endif
	if (dpdk_only)
		why = "--dpdk-only";
	if (!have_xdp)
		printf("xdp half skipped: %s\n", why);
	else
		printf("running every row on xdp and dpdk, and comparing them\n");

	err = dpdk_engine_setup(&de, "test-conf", &why);
	if (err == TEST_SKIP)
		return skip_all(why);
	if (err) {
		fprintf(stderr, "Couldn't set up the DPDK engine: %s (%d)\n",
			strerror(-err), err);
		printf("0 passed, %zu failed, 0 skipped\n", ARRAY_SIZE(cases));
		return 1;
	}
	return harness_run(cases, ARRAY_SIZE(cases));
}
