// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* quota.c - quota periods, thresholds and persistence; see quota.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "quota.h"
#include "vif_abi.h"

/* Persist at most this often unless something notable happened. */
#define QUOTA_PERSIST_MS 10000

struct quota_slot {
	bool tracked;
	bool synced;     /* first poll done (base reconciled) */
	struct quota_state st;
	uint64_t last_persist_ms;
	__u64 persisted_used;
};

struct quota_mgr {
	struct loop *loop;
	const struct quota_ops *ops;
	void *ctx;
	char tz[64];
	uint64_t poll_ms;
	uint64_t timer;
	struct quota_slot slot[VIF_VLAN_SLOTS];
};

static bool reached(__u64 used, __u64 limit, unsigned int pct)
{
	return (unsigned __int128)used * 100 >=
	       (unsigned __int128)limit * pct;
}

int quota_step(const struct quota_state *st, __u64 dp_used, int64_t now,
	       const char *tz, struct quota_decision *out)
{
	const struct vifd_quota *q = &st->q;
	int64_t start, next;
	__u8 alerted, hit = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->used = st->base + dp_used;
	out->period_start = q->period_start;
	if (!q->limit)
		return 0;
	err = quota_period_bounds(q->period, now, tz, &start, &next);
	if (err)
		return err;
	/*
	 * A stored start older than the current period's means at least one
	 * boundary passed (maybe while vifd was down): one rollover covers
	 * them all.  A start of 0 is a quota that never had a period yet.
	 */
	out->rollover = q->period_start && q->period_start < start;
	out->period_start = start;
	alerted = q->alerted;
	if (out->rollover) {
		out->used = 0;
		alerted = 0;
	}
	if (reached(out->used, q->limit, 80))
		hit |= QUOTA_AT_80;
	if (reached(out->used, q->limit, 90))
		hit |= QUOTA_AT_90;
	if (reached(out->used, q->limit, 100))
		hit |= QUOTA_AT_100;
	out->crossed = hit & ~alerted;
	return 0;
}

void quota_dp_params(const struct quota_state *st, __u64 *limit,
		     __u32 *flags)
{
	const struct vifd_quota *q = &st->q;

	*flags = 0;
	*limit = 0;
	if (!q->limit)
		return;
	if (q->action == VIFD_QUOTA_BLOCK)
		*flags |= VIF_F_QUOTA_BLOCK;
	if (q->dir == VIFD_QUOTA_BOTH || q->dir == VIFD_QUOTA_RX)
		*flags |= VIF_F_QUOTA_RX;
	if (q->dir == VIFD_QUOTA_BOTH || q->dir == VIFD_QUOTA_TX)
		*flags |= VIF_F_QUOTA_TX;
	/*
	 * What an earlier dataplane counted is spent.  The dataplane reads
	 * limit 0 as "no quota", so a spent budget becomes 1 byte: at most
	 * one frame per CPU more, the documented over-admission.
	 */
	*limit = q->limit > st->base ? q->limit - st->base : 1;
}

static void on_poll(struct loop *l, uint64_t id, void *ctx)
{
	struct quota_mgr *m = ctx;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	quota_mgr_poll(m, ts.tv_sec);
}

int quota_mgr_new(struct loop *l, const char *tz, uint64_t poll_ms,
		  const struct quota_ops *ops, void *ctx,
		  struct quota_mgr **out)
{
	struct quota_mgr *m;
	int err;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->ops = ops;
	m->ctx = ctx;
	m->poll_ms = poll_ms ? poll_ms : 1000;
	quota_mgr_set_tz(m, tz);
	if (l) {
		err = loop_timer_add(l, m->poll_ms, m->poll_ms, on_poll, m,
				     &m->timer);
		if (err) {
			free(m);
			return err;
		}
	}
	*out = m;
	return 0;
}

void quota_mgr_free(struct quota_mgr *m)
{
	if (!m)
		return;
	if (m->loop && m->timer)
		loop_timer_del(m->loop, m->timer);
	free(m);
}

void quota_mgr_set_tz(struct quota_mgr *m, const char *tz)
{
	snprintf(m->tz, sizeof(m->tz), "%s", tz && *tz ? tz : "UTC");
}

static struct quota_slot *slot_of(struct quota_mgr *m, __u16 vlan)
{
	if (vlan < VIF_VLAN_MIN || vlan > VIF_VLAN_MAX)
		return NULL;
	return &m->slot[vlan];
}

static int push_dp(struct quota_mgr *m, __u16 vlan, struct quota_slot *s)
{
	__u64 limit;
	__u32 flags;

	quota_dp_params(&s->st, &limit, &flags);
	return m->ops->dp_set(m->ctx, vlan, limit, flags);
}

int quota_mgr_track(struct quota_mgr *m, __u16 vlan,
		    const struct quota_state *st)
{
	struct quota_slot *s = slot_of(m, vlan);

	if (!s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->tracked = true;
	s->st = *st;
	s->persisted_used = st->q.used;
	return 0;
}

void quota_mgr_untrack(struct quota_mgr *m, __u16 vlan)
{
	struct quota_slot *s = slot_of(m, vlan);

	if (s)
		memset(s, 0, sizeof(*s));
}

const struct quota_state *quota_mgr_get(struct quota_mgr *m, __u16 vlan)
{
	struct quota_slot *s = slot_of(m, vlan);

	return s && s->tracked ? &s->st : NULL;
}

static int persist(struct quota_mgr *m, __u16 vlan, struct quota_slot *s)
{
	int err = m->ops->persist(m->ctx, vlan, &s->st);

	if (!err) {
		s->persisted_used = s->st.q.used;
		s->last_persist_ms = loop_now_ms();
	}
	return err;
}

int quota_mgr_configure(struct quota_mgr *m, __u16 vlan,
			const struct vifd_quota *cfg)
{
	struct quota_slot *s = slot_of(m, vlan);
	int err;

	if (!s || !s->tracked)
		return -ENOENT;
	s->st.q.limit = cfg->limit;
	s->st.q.period = cfg->period;
	s->st.q.action = cfg->action;
	s->st.q.dir = cfg->dir;
	/* A raised limit may re-open thresholds already passed. */
	s->st.q.alerted = 0;
	err = push_dp(m, vlan, s);
	return err ?: persist(m, vlan, s);
}

static int start_period(struct quota_mgr *m, __u16 vlan,
			struct quota_slot *s, int64_t period_start)
{
	int err = m->ops->dp_reset(m->ctx, vlan);

	if (err)
		return err;
	s->st.base = 0;
	s->st.dp_seen = 0;
	s->st.q.used = 0;
	s->st.q.alerted = 0;
	s->st.q.period_start = period_start;
	err = push_dp(m, vlan, s);
	if (err)
		return err;
	m->ops->event(m->ctx, vlan, "quota.reset", 0, s->st.q.limit);
	return persist(m, vlan, s);
}

int quota_mgr_reset(struct quota_mgr *m, __u16 vlan)
{
	struct quota_slot *s = slot_of(m, vlan);
	struct timespec ts;
	int64_t start = 0;

	if (!s || !s->tracked)
		return -ENOENT;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (s->st.q.limit)
		quota_period_start(s->st.q.period, ts.tv_sec, m->tz, &start);
	return start_period(m, vlan, s, start);
}

/* First read after tracking: did the dataplane outlive our last persist? */
static void sync_base(struct quota_slot *s, __u64 dp_used)
{
	__u64 dp_then = s->st.q.used - s->st.base;

	if (dp_used < dp_then)
		/* Reset underneath us (reboot, teardown): all we had
		 * persisted is history now. */
		s->st.base = s->st.q.used;
	s->synced = true;
}

static void poll_one(struct quota_mgr *m, __u16 vlan, struct quota_slot *s,
		     int64_t now)
{
	static const struct {
		__u8 bit;
		const char *type;
	} marks[] = {
		{ QUOTA_AT_80, "quota.80" },
		{ QUOTA_AT_90, "quota.90" },
		{ QUOTA_AT_100, "quota.100" },
	};
	struct quota_decision d;
	__u64 dp_used = 0;
	bool notable = false;
	unsigned int i;

	if (m->ops->dp_usage(m->ctx, vlan, &dp_used))
		return;
	if (!s->synced) {
		__u64 base = s->st.base;

		sync_base(s, dp_used);
		if (s->st.base != base)
			push_dp(m, vlan, s);
		notable = s->st.base != base;
	}
	s->st.dp_seen = dp_used;
	if (quota_step(&s->st, dp_used, now, m->tz, &d))
		return;
	if (d.rollover) {
		start_period(m, vlan, s, d.period_start);
		return;
	}
	if (s->st.q.period_start != d.period_start) {
		s->st.q.period_start = d.period_start;
		notable = true;
	}
	s->st.q.used = d.used;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (!(d.crossed & marks[i].bit))
			continue;
		s->st.q.alerted |= marks[i].bit;
		m->ops->event(m->ctx, vlan, marks[i].type, d.used,
			      s->st.q.limit);
		notable = true;
	}
	if (notable || (s->st.q.used != s->persisted_used &&
			loop_now_ms() - s->last_persist_ms >= QUOTA_PERSIST_MS))
		persist(m, vlan, s);
}

void quota_mgr_poll(struct quota_mgr *m, int64_t now)
{
	unsigned int v;

	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++)
		if (m->slot[v].tracked)
			poll_one(m, v, &m->slot[v], now);
}
