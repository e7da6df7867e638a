// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* test_quota.c - quota periods, thresholds, persistence across restarts
 * and reboots, with a fake dataplane and store. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "quota.h"
#include "vif_abi.h"

/* 2026-11-24 12:00:00 UTC. */
#define NOON 1795521600LL
#define DAY 86400LL

struct fake {
	__u64 dp_used[VIF_VLAN_SLOTS];
	__u64 dp_limit[VIF_VLAN_SLOTS];
	__u32 dp_flags[VIF_VLAN_SLOTS];
	int resets;
	int persists;
	struct quota_state last;
	char events[16][16];
	int nevents;
};

static int f_set(void *ctx, __u16 v, __u64 limit, __u32 flags)
{
	struct fake *f = ctx;

	f->dp_limit[v] = limit;
	f->dp_flags[v] = flags;
	return 0;
}

static int f_reset(void *ctx, __u16 v)
{
	struct fake *f = ctx;

	f->dp_used[v] = 0;
	f->resets++;
	return 0;
}

static int f_usage(void *ctx, __u16 v, __u64 *used)
{
	*used = ((struct fake *)ctx)->dp_used[v];
	return 0;
}

static int f_persist(void *ctx, __u16 v, const struct quota_state *st)
{
	struct fake *f = ctx;

	f->persists++;
	f->last = *st;
	return 0;
}

static void f_event(void *ctx, __u16 v, const char *type, __u64 used,
		    __u64 limit)
{
	struct fake *f = ctx;

	if (f->nevents < 16)
		snprintf(f->events[f->nevents++], 16, "%s", type);
}

static const struct quota_ops fops = {
	.dp_set = f_set,
	.dp_reset = f_reset,
	.dp_usage = f_usage,
	.persist = f_persist,
	.event = f_event,
};

static struct quota_state daily(__u64 limit, int64_t start)
{
	struct quota_state st = {
		.q = { .limit = limit, .period = VIFD_QUOTA_DAILY,
		       .action = VIFD_QUOTA_BLOCK, .dir = VIFD_QUOTA_BOTH,
		       .period_start = start },
	};
	return st;
}

static int test_step_thresholds_once(void)
{
	struct quota_state st = daily(1000, NOON - 12 * 3600);
	struct quota_decision d;

	if (!ASSERT_OK(quota_step(&st, 799, NOON, "UTC", &d), "step") ||
	    !ASSERT_EQ(d.crossed, 0, "79.9% crosses nothing"))
		return -1;
	quota_step(&st, 800, NOON, "UTC", &d);
	if (!ASSERT_EQ(d.crossed, QUOTA_AT_80, "80% exactly"))
		return -1;
	st.q.alerted = QUOTA_AT_80;
	quota_step(&st, 1000, NOON, "UTC", &d);
	if (!ASSERT_EQ(d.crossed, QUOTA_AT_90 | QUOTA_AT_100,
		       "90 and 100 at once, 80 not again"))
		return -1;
	if (!ASSERT_EQ(d.rollover, 0, "same day") ||
	    !ASSERT_EQ(d.used, 1000, "used"))
		return -1;
	return 0;
}

static int test_step_rollover(void)
{
	struct quota_state st = daily(1000, NOON - 12 * 3600 - DAY);
	struct quota_decision d;

	st.q.alerted = QUOTA_AT_80 | QUOTA_AT_90;
	st.base = 300;
	if (!ASSERT_OK(quota_step(&st, 900, NOON, "UTC", &d), "step"))
		return -1;
	if (!ASSERT_EQ(d.rollover, 1, "a day passed") ||
	    !ASSERT_EQ(d.used, 0, "usage restarts") ||
	    !ASSERT_EQ(d.period_start, NOON - 12 * 3600, "today 00:00") ||
	    !ASSERT_EQ(d.crossed, 0, "nothing crossed in a fresh period"))
		return -1;
	/* Never had a period: adopt the current one, no rollover. */
	st.q.period_start = 0;
	quota_step(&st, 10, NOON, "UTC", &d);
	return ASSERT_EQ(d.rollover, 0, "first period is not a rollover") &&
	       ASSERT_EQ(d.used, 310, "base + dataplane") ? 0 : -1;
}

static int test_dp_params(void)
{
	struct quota_state st = daily(1000, 0);
	__u64 limit;
	__u32 flags;

	quota_dp_params(&st, &limit, &flags);
	if (!ASSERT_EQ(limit, 1000, "limit") ||
	    !ASSERT_EQ(flags, VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX | VIF_F_QUOTA_TX,
		       "block both"))
		return -1;
	st.q.dir = VIFD_QUOTA_TX;
	st.q.action = VIFD_QUOTA_ALERT;
	st.base = 400;
	quota_dp_params(&st, &limit, &flags);
	if (!ASSERT_EQ(limit, 600, "limit less base") ||
	    !ASSERT_EQ(flags, VIF_F_QUOTA_TX, "alert-only tx"))
		return -1;
	st.base = 1000;
	quota_dp_params(&st, &limit, &flags);
	if (!ASSERT_EQ(limit, 1, "spent budget is 1 byte, never 0"))
		return -1;
	st.q.limit = 0;
	quota_dp_params(&st, &limit, &flags);
	return ASSERT_EQ(limit, 0, "no quota") && ASSERT_EQ(flags, 0, "flags") ?
		       0 : -1;
}

static int test_mgr_events_and_persist(void)
{
	struct quota_state st = daily(1000, NOON - 12 * 3600);
	struct quota_mgr *m;
	struct fake f = {};
	int ret = -1;

	if (!ASSERT_OK(quota_mgr_new(NULL, "UTC", 1000, &fops, &f, &m), "new"))
		return -1;
	quota_mgr_track(m, 101, &st);
	f.dp_used[101] = 850;
	quota_mgr_poll(m, NOON);
	f.dp_used[101] = 860;
	quota_mgr_poll(m, NOON + 1);
	f.dp_used[101] = 1200;
	quota_mgr_poll(m, NOON + 2);
	if (!ASSERT_EQ(f.nevents, 3, "80, 90, 100 once each") ||
	    !ASSERT_TRUE(!strcmp(f.events[0], "quota.80"), "80 first") ||
	    !ASSERT_TRUE(!strcmp(f.events[2], "quota.100"), "100 last"))
		goto out;
	if (!ASSERT_EQ(f.last.q.used, 1200, "persisted usage") ||
	    !ASSERT_EQ(f.last.q.alerted, QUOTA_AT_80 | QUOTA_AT_90 | QUOTA_AT_100,
		       "persisted alerts"))
		goto out;
	/* The next day: the dataplane is reset, a reset event, usage 0. */
	quota_mgr_poll(m, NOON + DAY);
	if (!ASSERT_EQ(f.resets, 1, "dataplane reset at the boundary") ||
	    !ASSERT_TRUE(!strcmp(f.events[3], "quota.reset"), "reset event") ||
	    !ASSERT_EQ(f.last.q.used, 0, "usage 0") ||
	    !ASSERT_EQ(f.last.q.period_start, NOON + DAY - 12 * 3600,
		       "new period start"))
		goto out;
	ret = 0;
out:
	quota_mgr_free(m);
	return ret;
}

/* vifd restarts, the pinned dataplane kept counting: no double count. */
static int test_mgr_restart_keeps_dataplane(void)
{
	struct quota_state st = daily(10000, NOON - 12 * 3600);
	struct quota_mgr *m;
	struct fake f = {};
	int ret = -1;

	st.q.used = 5000; /* persisted before the restart */
	quota_mgr_new(NULL, "UTC", 1000, &fops, &f, &m);
	quota_mgr_track(m, 7, &st);
	f.dp_used[7] = 6000; /* counted on while vifd was down */
	quota_mgr_poll(m, NOON);
	if (ASSERT_EQ(quota_mgr_get(m, 7)->q.used, 6000, "used = dataplane") &&
	    ASSERT_EQ(quota_mgr_get(m, 7)->base, 0, "no base"))
		ret = 0;
	quota_mgr_free(m);
	return ret;
}

/* A reboot emptied the dataplane: what was persisted becomes the base. */
static int test_mgr_reboot_moves_usage_to_base(void)
{
	struct quota_state st = daily(10000, NOON - 12 * 3600);
	struct quota_mgr *m;
	struct fake f = {};
	int ret = -1;

	st.q.used = 7000;
	quota_mgr_new(NULL, "UTC", 1000, &fops, &f, &m);
	quota_mgr_track(m, 9, &st);
	f.dp_used[9] = 100;
	quota_mgr_poll(m, NOON);
	if (!ASSERT_EQ(quota_mgr_get(m, 9)->base, 7000, "base") ||
	    !ASSERT_EQ(quota_mgr_get(m, 9)->q.used, 7100, "used") ||
	    !ASSERT_EQ(f.dp_limit[9], 3000, "dataplane gets what is left") ||
	    !ASSERT_EQ(f.last.base, 7000, "base persisted at once"))
		goto out;
	ret = 0;
out:
	quota_mgr_free(m);
	return ret;
}

static int test_mgr_configure_and_reset(void)
{
	struct quota_state st = daily(1000, NOON - 12 * 3600);
	struct vifd_quota cfg = st.q;
	struct quota_mgr *m;
	struct fake f = {};
	int ret = -1;

	quota_mgr_new(NULL, "UTC", 1000, &fops, &f, &m);
	if (!ASSERT_EQ(quota_mgr_configure(m, 5, &cfg), -ENOENT, "untracked"))
		goto out;
	quota_mgr_track(m, 5, &st);
	cfg.limit = 5000;
	cfg.dir = VIFD_QUOTA_RX;
	if (!ASSERT_OK(quota_mgr_configure(m, 5, &cfg), "configure") ||
	    !ASSERT_EQ(f.dp_limit[5], 5000, "new limit applied") ||
	    !ASSERT_EQ(f.dp_flags[5], VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX, "rx"))
		goto out;
	f.dp_used[5] = 4000;
	if (!ASSERT_OK(quota_mgr_reset(m, 5), "reset") ||
	    !ASSERT_EQ(f.resets, 1, "dataplane reset") ||
	    !ASSERT_EQ(quota_mgr_get(m, 5)->q.used, 0, "used 0"))
		goto out;
	quota_mgr_untrack(m, 5);
	if (!ASSERT_TRUE(quota_mgr_get(m, 5) == NULL, "untracked"))
		goto out;
	ret = 0;
out:
	quota_mgr_free(m);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_step_thresholds_once),
	TEST_CASE(test_step_rollover),
	TEST_CASE(test_dp_params),
	TEST_CASE(test_mgr_events_and_persist),
	TEST_CASE(test_mgr_restart_keeps_dataplane),
	TEST_CASE(test_mgr_reboot_moves_usage_to_base),
	TEST_CASE(test_mgr_configure_and_reset),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
