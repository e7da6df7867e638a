/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * quota.h - vifd's quota manager: per-VIF byte limits per period (daily,
 * weekly from Monday, monthly from the 1st, in the configured time zone),
 * action block or alert-only, events at 80%, 90% and 100% once per period,
 * usage that survives restarts and reboots, reset at the period boundary.
 *
 * The dataplane counts exactly (dp_quota_usage) and enforces; this module
 * decides periods, thresholds and persistence.  It talks to the rest of
 * vifd only through struct quota_ops, so its logic is tested with fakes.
 *
 * Usage across dataplane resets: the pinned dataplane keeps counting while
 * vifd is down, but a reboot empties it.  Each VIF carries a "base": bytes
 * of this period counted by an earlier dataplane instance.  used = base +
 * dataplane usage, and the dataplane is given limit - base.  The base is
 * persisted (ops->persist) with the usage, so neither a vifd restart nor a
 * reboot loses or double-counts bytes.
 */
#ifndef VIF_CONTROL_QUOTA_H
#define VIF_CONTROL_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "model.h"

/* vifd_quota.alerted bits */
#define QUOTA_AT_80 0x1
#define QUOTA_AT_90 0x2
#define QUOTA_AT_100 0x4

/* Persisted per VIF: the quota config and state plus the base. */
struct quota_state {
	struct vifd_quota q;
	__u64 base;    /* bytes of this period from an earlier dataplane */
	__u64 dp_seen; /* last dataplane usage read (not persisted) */
};

struct quota_ops {
	/* Dataplane: limit 0 = none; flags are VIF_F_QUOTA_* of vif_abi.h. */
	int (*dp_set)(void *ctx, __u16 vlan, __u64 limit, __u32 flags);
	int (*dp_reset)(void *ctx, __u16 vlan);
	int (*dp_usage)(void *ctx, __u16 vlan, __u64 *used);
	/* Store q and base for vlan (one call per changed VIF per poll). */
	int (*persist)(void *ctx, __u16 vlan, const struct quota_state *st);
	/* "quota.80", "quota.90", "quota.100", "quota.reset". */
	void (*event)(void *ctx, __u16 vlan, const char *type, __u64 used,
		      __u64 limit);
};

/* What one evaluation decided (pure; see quota_step()). */
struct quota_decision {
	bool rollover;        /* new period: reset the dataplane first */
	int64_t period_start; /* the period now current */
	__u64 used;           /* usage now */
	__u8 crossed;         /* QUOTA_AT_* newly crossed this step */
};

/*
 * Pure: given the state, the dataplane's usage and the time, decide.
 * A rollover zeroes usage and thresholds; thresholds already alerted in
 * this period are never reported again.
 */
int quota_step(const struct quota_state *st, __u64 dp_used, int64_t now,
	       const char *tz, struct quota_decision *out);

/* Dataplane flags and the limit to give it for st (limit - base). */
void quota_dp_params(const struct quota_state *st, __u64 *limit,
		     __u32 *flags);

struct quota_mgr;

int quota_mgr_new(struct loop *l, const char *tz, uint64_t poll_ms,
		  const struct quota_ops *ops, void *ctx,
		  struct quota_mgr **out);
void quota_mgr_free(struct quota_mgr *m);

/*
 * Track vlan with persisted state st (from the store).  The first poll
 * reconciles with the dataplane: a dataplane that counts less than the
 * persisted usage since the base was taken has been reset (reboot), and
 * what it lost moves into the base.
 */
int quota_mgr_track(struct quota_mgr *m, __u16 vlan,
		    const struct quota_state *st);
/* New limit/period/action/dir for vlan (usage and base kept). */
int quota_mgr_configure(struct quota_mgr *m, __u16 vlan,
			const struct vifd_quota *cfg);
/* Start a new period now (operator reset). */
int quota_mgr_reset(struct quota_mgr *m, __u16 vlan);
void quota_mgr_untrack(struct quota_mgr *m, __u16 vlan);
/* Current state of vlan, or NULL. */
const struct quota_state *quota_mgr_get(struct quota_mgr *m, __u16 vlan);
/* Evaluate every tracked VIF now (the poll timer calls this). */
void quota_mgr_poll(struct quota_mgr *m, int64_t now);
void quota_mgr_set_tz(struct quota_mgr *m, const char *tz);

#endif /* VIF_CONTROL_QUOTA_H */
