// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* test_stathist.c - hourly deltas, hour boundaries, counter resets, rates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "stathist.h"

#define HOUR0 1795518000LL /* an hour boundary */

struct fake {
	struct dp_stats dp;
	struct store_stats_hour rows[64];
	int nrows, begins, commits, fail_read;
};

static int f_read(void *ctx, struct dp_stats *out)
{
	struct fake *f = ctx;

	if (f->fail_read)
		return -EIO;
	memcpy(out, &f->dp, sizeof(*out));
	return 0;
}

static int f_begin(void *ctx)
{
	((struct fake *)ctx)->begins++;
	return 0;
}

static int f_add(void *ctx, __u16 vlan, int64_t hour,
		 const struct store_stats *d)
{
	struct fake *f = ctx;

	if (f->nrows == 64)
		return -ENOSPC;
	f->rows[f->nrows++] = (struct store_stats_hour){ vlan, hour, *d };
	return 0;
}

static int f_commit(void *ctx)
{
	((struct fake *)ctx)->commits++;
	return 0;
}

static const struct stathist_ops fops = { f_read, f_begin, f_add, f_commit };

static int test_deltas_per_hour(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct stathist *h;
	int ret = -1;

	if (!f || stathist_new(&fops, f, &h))
		return -1;
	f->dp.vif[101].rx_packets = 1000; /* history before vifd: not ours */
	stathist_sample(h, HOUR0 + 10, 0);
	f->dp.vif[101].rx_packets = 1500;
	f->dp.vif[101].rx_bytes = 64000;
	f->dp.vif[102].drops[VIF_DROP_QUOTA] = 7;
	stathist_sample(h, HOUR0 + 20, 10000);
	if (!ASSERT_EQ(f->nrows, 0, "nothing written inside the hour"))
		goto out;
	f->dp.vif[101].rx_packets = 1600;
	stathist_sample(h, HOUR0 + 3600 + 5, 20000); /* next hour */
	if (!ASSERT_EQ(f->nrows, 2, "two VLANs flushed at the hour change") ||
	    !ASSERT_EQ(f->rows[0].vlan, 101, "vlan") ||
	    !ASSERT_EQ(f->rows[0].hour, HOUR0, "into the hour that ended") ||
	    !ASSERT_EQ(f->rows[0].c.rx_packets, 500, "delta only") ||
	    !ASSERT_EQ(f->rows[0].c.rx_bytes, 64000, "bytes") ||
	    !ASSERT_EQ(f->rows[1].c.drops, 7, "drops summed over reasons") ||
	    !ASSERT_EQ(f->commits, 1, "one transaction"))
		goto out;
	stathist_flush(h);
	if (!ASSERT_EQ(f->rows[2].hour, HOUR0 + 3600, "new hour") ||
	    !ASSERT_EQ(f->rows[2].c.rx_packets, 100, "its delta"))
		goto out;
	ret = 0;
out:
	stathist_free(h);
	free(f);
	return ret;
}

static int test_reset_and_rates(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct stathist_rate r;
	struct stathist *h;
	int ret = -1;

	if (!f || stathist_new(&fops, f, &h))
		return -1;
	f->dp.vif[5].tx_packets = 9000;
	stathist_sample(h, HOUR0, 0);
	f->dp.vif[5].tx_packets = 300; /* dataplane re-created */
	f->dp.vif[5].tx_bytes = 1000;
	stathist_sample(h, HOUR0 + 2, 2000);
	stathist_rate(h, 5, &r);
	if (!ASSERT_EQ((long)r.tx_pps, 150, "300 packets in 2 s") ||
	    !ASSERT_EQ((long)r.tx_bps, 4000, "8000 bits in 2 s"))
		goto out;
	f->fail_read = 1;
	if (!ASSERT_EQ(stathist_sample(h, HOUR0 + 3, 3000), -EIO, "read error") ||
	    !ASSERT_EQ(stathist_latest(h)->vif[5].tx_packets, 300,
		       "latest sample kept"))
		goto out;
	stathist_flush(h);
	if (!ASSERT_EQ(f->nrows, 1, "row") ||
	    !ASSERT_EQ(f->rows[0].c.tx_packets, 300, "reset counted as new"))
		goto out;
	ret = 0;
out:
	stathist_free(h);
	free(f);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_deltas_per_hour),
	TEST_CASE(test_reset_and_rates),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
