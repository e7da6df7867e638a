// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* stathist.c - hourly history and rates from dataplane samples. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stathist.h"

struct stathist {
	const struct stathist_ops *ops;
	void *ctx;
	struct dp_stats *cur, *prev; /* swapped each sample */
	uint64_t cur_ms, prev_ms;
	int samples;
	int64_t hour;                /* hour the pending deltas belong to */
	struct store_stats pending[VIF_VLAN_SLOTS];
	bool dirty;
};

int stathist_new(const struct stathist_ops *ops, void *ctx,
		 struct stathist **out)
{
	struct stathist *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cur = calloc(1, sizeof(*h->cur));
	h->prev = calloc(1, sizeof(*h->prev));
	if (!h->cur || !h->prev) {
		stathist_free(h);
		return -ENOMEM;
	}
	h->ops = ops;
	h->ctx = ctx;
	*out = h;
	return 0;
}

void stathist_free(struct stathist *h)
{
	if (!h)
		return;
	free(h->cur);
	free(h->prev);
	free(h);
}

/* A counter that went down was reset: all of its new value is new. */
static __u64 delta(__u64 now, __u64 then)
{
	return now >= then ? now - then : now;
}

int stathist_flush(struct stathist *h)
{
	unsigned int v;
	int err;

	if (!h->dirty)
		return 0;
	err = h->ops->begin(h->ctx);
	if (err)
		return err;
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++) {
		struct store_stats *p = &h->pending[v];

		if (!p->rx_packets && !p->tx_packets && !p->drops &&
		    !p->rx_bytes && !p->tx_bytes)
			continue;
		err = h->ops->add_hour(h->ctx, v, h->hour, p);
		if (err)
			return err; /* the owner's commit path rolls back */
	}
	err = h->ops->commit(h->ctx);
	if (err)
		return err;
	memset(h->pending, 0, sizeof(h->pending));
	h->dirty = false;
	return 0;
}

int stathist_sample(struct stathist *h, int64_t now, uint64_t mono_ms)
{
	struct dp_stats *t;
	int64_t hour = now - now % 3600;
	unsigned int v;
	int err;

	/* Read over the oldest sample: a failed read keeps the latest. */
	err = h->ops->read(h->ctx, h->prev);
	if (err)
		return err;
	t = h->prev;
	h->prev = h->cur;
	h->cur = t;
	h->prev_ms = h->cur_ms;
	h->cur_ms = mono_ms;
	if (++h->samples == 1) {
		h->hour = hour;
		return 0;
	}
	if (hour != h->hour) {
		/* Deltas so far belong to the hour that just ended. */
		err = stathist_flush(h);
		if (err)
			return err;
		h->hour = hour;
	}
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++) {
		const struct vif_stats *c = &h->cur->vif[v], *p = &h->prev->vif[v];
		struct store_stats *d = &h->pending[v];
		__u64 drops = delta(stats_vif_drops(c), stats_vif_drops(p));

		d->rx_packets += delta(c->rx_packets, p->rx_packets);
		d->rx_bytes += delta(c->rx_bytes, p->rx_bytes);
		d->tx_packets += delta(c->tx_packets, p->tx_packets);
		d->tx_bytes += delta(c->tx_bytes, p->tx_bytes);
		d->drops += drops;
		if (d->rx_packets || d->tx_packets || d->drops)
			h->dirty = true;
	}
	return 0;
}

void stathist_rate(const struct stathist *h, __u16 vlan,
		   struct stathist_rate *out)
{
	const struct vif_stats *c, *p;
	double dt;

	memset(out, 0, sizeof(*out));
	if (h->samples < 2 || vlan >= VIF_VLAN_SLOTS || h->cur_ms <= h->prev_ms)
		return;
	dt = (h->cur_ms - h->prev_ms) / 1000.0;
	c = &h->cur->vif[vlan];
	p = &h->prev->vif[vlan];
	out->rx_pps = delta(c->rx_packets, p->rx_packets) / dt;
	out->rx_bps = delta(c->rx_bytes, p->rx_bytes) * 8 / dt;
	out->tx_pps = delta(c->tx_packets, p->tx_packets) / dt;
	out->tx_bps = delta(c->tx_bytes, p->tx_bytes) * 8 / dt;
	out->drop_pps = delta(stats_vif_drops(c), stats_vif_drops(p)) / dt;
}

const struct dp_stats *stathist_latest(const struct stathist *h)
{
	return h->samples ? h->cur : NULL;
}
