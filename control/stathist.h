/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stathist.h - per-VIF traffic history and rates from dataplane samples.
 *
 * vifd samples the dataplane's counters (one batch read) periodically.
 * Deltas between samples accumulate per VLAN for the current hour and are
 * flushed to the store's hourly rows (an upsert that adds), at every hour
 * change and every flush interval, in one transaction.  Counter resets (a
 * dataplane re-created) are detected per counter: a counter that went down
 * contributes its new value.  The last two samples give rates.
 */
#ifndef VIF_CONTROL_STATHIST_H
#define VIF_CONTROL_STATHIST_H

#include <stdint.h>

#include "stats.h"
#include "store.h"

struct stathist_ops {
	int (*read)(void *ctx, struct dp_stats *out);
	/* One flush: begin, add_hour per VLAN with traffic, commit. */
	int (*begin)(void *ctx);
	int (*add_hour)(void *ctx, __u16 vlan, int64_t hour,
			const struct store_stats *d);
	int (*commit)(void *ctx);
};

struct stathist_rate {
	double rx_pps, rx_bps; /* bits per second */
	double tx_pps, tx_bps;
	double drop_pps;
};

struct stathist;

int stathist_new(const struct stathist_ops *ops, void *ctx,
		 struct stathist **out);
void stathist_free(struct stathist *h);

/* Take a sample at wall time now (unix seconds) and monotonic mono_ms. */
int stathist_sample(struct stathist *h, int64_t now, uint64_t mono_ms);
/* Write what accumulated; called on hour change and by the owner. */
int stathist_flush(struct stathist *h);
/* Rates of vlan between the last two samples (zeros before two). */
void stathist_rate(const struct stathist *h, __u16 vlan,
		   struct stathist_rate *out);
/* The latest summed counters (NULL before the first sample). */
const struct dp_stats *stathist_latest(const struct stathist *h);

#endif /* VIF_CONTROL_STATHIST_H */
