// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_stats.c - dataplane/stats.{c,h}: folding per-CPU counters, quota
 * usage by epoch, and the drop reason names exporters print.
 */
#include <limits.h>
#include <string.h>

#include "harness.h"
#include "stats.h"

#define NCPUS 4

/* size is one CPU's value; CPU c holds (c + 1) * 1000 + i in counter i. */
static void fill_u64s(void *buf, size_t size, unsigned int ncpus)
{
	size_t n = size / sizeof(__u64), i;
	__u64 *v = buf;
	unsigned int c;

	for (c = 0; c < ncpus; c++)
		for (i = 0; i < n; i++)
			*v++ = (c + 1) * 1000ull + i;
}

/* Sum over CPUs 0..ncpus-1 of fill_u64s()'s counter i. */
static __u64 want_sum(unsigned int ncpus, size_t i)
{
	return 1000ull * ncpus * (ncpus + 1) / 2 + (__u64)i * ncpus;
}

static int check_sums(const void *got, size_t size, unsigned int ncpus,
		      const char *what)
{
	const __u64 *v = got;
	size_t i;

	for (i = 0; i < size / sizeof(__u64); i++)
		if (!ASSERT_EQ(v[i], want_sum(ncpus, i), what)) {
			fprintf(stderr, "  counter %zu of %u CPUs\n", i, ncpus);
			return -1;
		}
	return 0;
}

static int test_sum_vif(void)
{
	struct vif_stats pc[NCPUS], out;
	unsigned int n;

	fill_u64s(pc, sizeof(pc[0]), NCPUS);
	for (n = 1; n <= NCPUS; n++) {
		/* Poison: the sum must not add to what was in out. */
		memset(&out, 0xa5, sizeof(out));
		stats_sum_vif(pc, n, &out);
		if (check_sums(&out, sizeof(out), n, "vif"))
			return -1;
	}
	/* Spot-check named fields against the layout used by the sum. */
	stats_sum_vif(pc, NCPUS, &out);
	if (!ASSERT_EQ(out.rx_packets, want_sum(NCPUS, 0), "rx_packets") ||
	    !ASSERT_EQ(out.chain_packets, want_sum(NCPUS, 5),
		       "chain_packets") ||
	    !ASSERT_EQ(out.drops[VIF_DROP_POLICY_BUSY], want_sum(NCPUS, 22),
		       "last drop reason"))
		return -1;
	return 0;
}

static int test_sum_global(void)
{
	struct vif_global_stats pc[NCPUS], out;
	unsigned int n;

	fill_u64s(pc, sizeof(pc[0]), NCPUS);
	for (n = 1; n <= NCPUS; n++) {
		memset(&out, 0xa5, sizeof(out));
		stats_sum_global(pc, n, &out);
		if (check_sums(&out, sizeof(out), n, "global"))
			return -1;
	}
	stats_sum_global(pc, NCPUS, &out);
	if (!ASSERT_EQ(out.svc_rx_packets, want_sum(NCPUS, 1), "svc_rx") ||
	    !ASSERT_EQ(out.drops[VIF_DROP_MALFORMED], want_sum(NCPUS, 2),
		       "first drop reason"))
		return -1;
	return 0;
}

/* No CPUs: all zero, not whatever was in out. */
static int test_sum_zero_cpus(void)
{
	struct vif_global_stats g, gz = {};
	struct vif_stats v, vz = {};

	memset(&v, 0xa5, sizeof(v));
	memset(&g, 0xa5, sizeof(g));
	stats_sum_vif(&vz, 0, &v);
	stats_sum_global(&gz, 0, &g);
	if (!ASSERT_MEM_EQ(&v, &vz, sizeof(v), "vif") ||
	    !ASSERT_MEM_EQ(&g, &gz, sizeof(g), "global"))
		return -1;
	return 0;
}

/*
 * A CPU that has not seen a frame since the last reset still holds the
 * old epoch's bytes; they must not count towards the new period.
 */
static int test_quota_used_epochs(void)
{
	struct vif_quota_pcpu pc[NCPUS] = {
		{ .used = 100, .slice_left = 5, .epoch = 5 },
		{ .used = 200, .slice_left = -7, .epoch = 5 },
		{ .used = 400, .slice_left = 0, .epoch = 4 },
		{ .used = 800, .slice_left = 9, .epoch = 6 },
	};

	if (!ASSERT_EQ(stats_quota_used(pc, NCPUS, 5), 300, "epoch 5") ||
	    !ASSERT_EQ(stats_quota_used(pc, NCPUS, 4), 400, "epoch 4") ||
	    !ASSERT_EQ(stats_quota_used(pc, NCPUS, 6), 800, "epoch 6") ||
	    !ASSERT_EQ(stats_quota_used(pc, NCPUS, 7), 0, "unseen epoch") ||
	    /* Only the first ncpus entries are read. */
	    !ASSERT_EQ(stats_quota_used(pc, 1, 5), 100, "one CPU") ||
	    !ASSERT_EQ(stats_quota_used(pc, 0, 5), 0, "no CPU"))
		return -1;
	return 0;
}

/* Epochs compare for equality: a wrapped epoch is still "this period". */
static int test_quota_used_epoch_wrap(void)
{
	struct vif_quota_pcpu pc[2] = {
		{ .used = 1ull << 40, .epoch = UINT_MAX },
		{ .used = 3, .epoch = 0 },
	};

	if (!ASSERT_EQ(stats_quota_used(pc, 2, UINT_MAX), 1ull << 40, "max") ||
	    !ASSERT_EQ(stats_quota_used(pc, 2, 0), 3, "wrapped"))
		return -1;
	return 0;
}

static int test_vif_drops(void)
{
	struct vif_stats st = {
		.rx_packets = 1000, /* not a drop */
		.tx_packets = 1000,
		.pad = 1000,
	};
	int r;

	for (r = 0; r < VIF_DROP__MAX; r++)
		st.drops[r] = 1ull << r;
	return ASSERT_EQ(stats_vif_drops(&st), (1ull << VIF_DROP__MAX) - 1,
			 "sum of drops") ? 0 : -1;
}

/* Exporters key time series by these strings: they are ABI. */
static int test_drop_names_stable(void)
{
	static const char *const want[VIF_DROP__MAX] = {
		[VIF_DROP_MALFORMED] = "malformed",
		[VIF_DROP_UNTAGGED] = "untagged",
		[VIF_DROP_PRIO_TAG] = "prio_tag",
		[VIF_DROP_VID_RESERVED] = "vid_reserved",
		[VIF_DROP_QINQ] = "qinq",
		[VIF_DROP_UNKNOWN_VLAN] = "unknown_vlan",
		[VIF_DROP_UNKNOWN_PORT] = "unknown_port",
		[VIF_DROP_NO_TRUNK] = "no_trunk",
		[VIF_DROP_INACTIVE] = "inactive",
		[VIF_DROP_QUOTA] = "quota",
		[VIF_DROP_SPOOF] = "spoof",
		[VIF_DROP_KILLSWITCH] = "killswitch",
		[VIF_DROP_CHAIN_DOWN] = "chain_down",
		[VIF_DROP_SVC_TAGGED] = "svc_tagged",
		[VIF_DROP_PROTO] = "proto",
		[VIF_DROP_NO_ROOM] = "no_room",
		[VIF_DROP_POLICY_BUSY] = "policy_busy",
	};
	unsigned int r;

	for (r = 0; r < VIF_DROP__MAX; r++) {
		const char *n = stats_drop_name(r);

		if (!ASSERT_TRUE(n, "name present") ||
		    !ASSERT_TRUE(!strcmp(n, want[r]), want[r]))
			return -1;
	}
	return 0;
}

static int test_drop_names_unique(void)
{
	unsigned int r, s;

	for (r = 0; r < VIF_DROP__MAX; r++) {
		const char *n = stats_drop_name(r);

		if (!ASSERT_TRUE(n && *n, "non-empty"))
			return -1;
		/* Usable as a metric label: [a-z_] only. */
		if (!ASSERT_EQ(strspn(n, "abcdefghijklmnopqrstuvwxyz_"),
			       strlen(n), n))
			return -1;
		for (s = 0; s < r; s++)
			if (!ASSERT_TRUE(strcmp(n, stats_drop_name(s)), n))
				return -1;
	}
	return 0;
}

static int test_drop_names_past_end(void)
{
	if (!ASSERT_TRUE(!stats_drop_name(VIF_DROP__MAX), "__MAX") ||
	    !ASSERT_TRUE(!stats_drop_name(VIF_DROP__MAX + 1), "__MAX + 1") ||
	    !ASSERT_TRUE(!stats_drop_name(UINT_MAX), "UINT_MAX") ||
	    /* A negative int converted by a careless caller. */
	    !ASSERT_TRUE(!stats_drop_name((unsigned int)-1), "-1"))
		return -1;
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_sum_vif),
	TEST_CASE(test_sum_global),
	TEST_CASE(test_sum_zero_cpus),
	TEST_CASE(test_quota_used_epochs),
	TEST_CASE(test_quota_used_epoch_wrap),
	TEST_CASE(test_vif_drops),
	TEST_CASE(test_drop_names_stable),
	TEST_CASE(test_drop_names_unique),
	TEST_CASE(test_drop_names_past_end),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
