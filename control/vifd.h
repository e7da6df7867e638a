/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vifd.h - the daemon's one state object and its event emitter.
 *
 * Everything vifd holds lives in one struct vifd, owned by main() and
 * handed by pointer to every callback (loop, netlink, gateway, quota,
 * pipeline, control socket).  There are no globals: a test could run two
 * daemons in one process.
 *
 * Startup order (vifd.c), each step undone in reverse by vifd_fini():
 *
 *   config -> alerts -> state dir (+ lock) -> store -> netlink
 *   -> dataplane (+ trunk) -> VIF manager + reconcile -> gateway manager
 *   -> quota manager -> traffic history -> pipeline (+ local target,
 *   sync, recover) -> link events -> control socket + commands
 *
 * Alerts come first because they need only the loop, so whatever goes
 * wrong later (a VIF reconcile puts in ERROR) reaches a person.
 *
 * Shutdown never releases a kill switch and never detaches the dataplane:
 * the programs and maps are pinned, so forwarding and every fail-closed
 * state outlive vifd.
 */
#ifndef VIF_CONTROL_VIFD_H
#define VIF_CONTROL_VIFD_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/types.h>

#include <jansson.h>

#include "alloc.h"
#include "config.h"
#include "model.h"

struct alerter;
struct api;
struct dp;
struct gw_mgr;
struct loop;
struct nl;
struct pipeline;
struct quota_mgr;
struct stathist;
struct store;
struct target_local;
struct vifmgr;
struct vifd_event;

#define VIFD_STATS_INTERVAL_MS 1000      /* dataplane counter samples */
#define VIFD_STATS_FLUSH_MS 60000        /* hourly rows written at least */
#define VIFD_QUOTA_POLL_MS 1000          /* quota usage checks */
#define VIFD_EVENT_PRUNE_MS 60000        /* event history trimmed */
#define VIFD_STATS_PRUNE_MS (24 * 3600 * 1000ull) /* history pruned daily */

struct vifd {
	/* Command line. */
	const char *config_path;  /* NULL: CONFIG_PATH_DEFAULT, may be absent */
	bool verbose;             /* -v: debug logging, whatever the config */

	struct vifd_config cfg;   /* what is in force (reloads applied) */
	/*
	 * The VLAN pool as the config file last said it.  The pool in force
	 * (cfg.vlan_pool, cfg.reserved) may differ: pool.set change sets
	 * move it, and the store keeps it across restarts.  A file that
	 * changes its pool (SIGHUP, or while vifd was down) wins again.
	 */
	struct {
		__u16 lo;
		__u16 hi;
		struct vlan_set reserved;
	} file_pool;

	struct loop *loop;
	struct store *store;
	struct nl *nl;            /* requests, vifd's netns */
	struct nl *nl_events;     /* RTMGRP_LINK listener */
	struct dp *dp;            /* dataplane writer (holds the pin flock) */
	struct vifmgr *vm;
	struct gw_mgr *gw;
	struct quota_mgr *qm;
	struct stathist *sh;
	struct alerter *alerter;
	struct target_local *tl;
	struct pipeline *pipeline;
	struct api *api;

	/* Timers (0 = not armed). */
	uint64_t stats_timer;
	uint64_t flush_timer;
	uint64_t event_prune_timer;
	uint64_t stats_prune_timer;

	/* Traffic samples, for the "stats" command. */
	unsigned int stats_samples; /* successful samples so far */
	int64_t stats_at;           /* unix seconds of the latest one */
	bool stats_warned;          /* a failing read was logged once */
	bool stats_in_txn;          /* a flush transaction is open */

	/*
	 * Events waiting for the store.  Every append outside a transaction
	 * is an fsync, and a bulk change emits thousands of events, so they
	 * are queued and written in one transaction on the next loop
	 * iteration (evq_timer), then pushed to subscribers.  Only from the
	 * loop: an emitter may be inside a transaction that rolls back.
	 */
	struct vifd_event *evq_head;
	struct vifd_event **evq_tail;
	unsigned int evq_len;
	uint64_t evq_timer;

	int lock_fd;                /* flock on the state dir, -1 = none */
	bool nl_events_on_loop;
	int exit_code;              /* what main() returns after the loop */
};

/*
 * The one way anything becomes an event: appended to the store's event
 * history (so subscribers can resume), pushed to live subscribers, and
 * for the alert-worthy ones (gateway FAILED, kill switch engaged,
 * quota.100, change set PARTIAL_FAILURE, VIF ERROR) sent as an alert.
 * @data is borrowed (NULL = {}); vlan 0 = about no single VIF.
 */
void vifd_emit(struct vifd *d, const char *type, __u16 vlan,
	       const json_t *data);

/*
 * target_local_sync() in one store transaction: every ACTIVE VIF known to
 * the gateway and quota managers, every chain registered.  At start and
 * after a vif.retry.
 */
int vifd_sync(struct vifd *d);

/*
 * Track v's quota (if it has one) with the usage persisted for it, and
 * give the dataplane what is left of the period.  0 or -errno (logged).
 */
int vifd_quota_track(struct vifd *d, const struct vifd_vif *v);

/* Write the traffic history gathered so far (hourly rows). */
void vifd_stats_flush(struct vifd *d);

/* Unix seconds, CLOCK_REALTIME. */
int64_t vifd_now(void);

#endif /* VIF_CONTROL_VIFD_H */
