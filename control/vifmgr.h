/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vifmgr.h - vifd's VIF manager: the in-memory set of VIFs (indexed by VLAN
 * and by name), loaded from the store, and their lifecycle across the
 * store, the Linux side (control/nl.h) and the dataplane (dataplane/dp.h).
 *
 * States: CREATING -> ACTIVE -> REMOVING -> deleted, and ERROR.
 *
 * Creation is a sequence of steps with a rollback stack:
 *
 *   ALLOC     pool VLAN, addresses, mark, table, ifnames; allocation row
 *   DB        the VIF row, state CREATING
 *   VETH      veth "vp<vlan>-<name>" <-> "vs<vlan>-<name>", the service end
 *             inside <netns_dir>/<netns> when a netns is named
 *   ADDR      host end: the gateway/host address; service end: the service
 *             address; both up; in a named netns also "default via <host
 *             address>" unless the namespace has a default route already.
 *             Ends in vifd's own netns get IPv6 disabled before they go
 *             up: VIFs are IPv4 only, and per-device IPv6 routes make
 *             every later link operation walk a FIB that grows with VIFs
 *   RULE      the kill-switch floor for the VIF's mark base, once per
 *             process (see "Routing" below), then
 *             ip rule fwmark <mark> lookup <table> pref VIFMGR_RULE_PRIORITY
 *   ROUTE     the VIF's table: its gateway's route, if any (see "Routing")
 *   PORT      dp_port_attach() on the host end
 *   ENTRY     dp_vif_upsert(): the VIF's policy, kill switch engaged from
 *             the start when the VIF has a gateway (fail closed)
 *   ACTIVATE  the row becomes ACTIVE
 *
 * A failure at any step undoes the completed steps in reverse.  From VETH
 * on, the VIF then stays as an ERROR row holding the reason ("<step>:
 * <message>", netlink's including the kernel's extack); the VLAN stays
 * allocated to it.  Earlier failures leave nothing behind and only return
 * the error.  An ERROR VIF never owns a Linux or dataplane object, so
 * vifmgr_retry() starts over from VETH and vifmgr_delete() always works;
 * both tolerate any object being gone already.
 *
 * Ownership.  vifd owns the interface names alloc_ifname() makes ("vp",
 * "vs" + VLAN), the rules at VIFMGR_RULE_PRIORITY whose mark and table are
 * one VLAN's (mark_base + v, table_base + v), every "fwmark M/MASK
 * blackhole" rule at VIFMGR_FLOOR_PRIORITY (the kill-switch floor), the
 * routing tables of its VIFs (table_base + VLAN) and the dataplane
 * entries.  A link called like
 * a VIF's own port but not its veth (another kind, or a veth whose peer is
 * not the VIF's service end) is not vifd's: creation fails on it and
 * nothing ever deletes it.  Links are only ever deleted when they are
 * veths; "vt" names (gateway tun devices) are never touched here.
 *
 * Routing.  One set of rules per mark base is the kill-switch floor:
 * "fwmark <block> blackhole pref VIFMGR_FLOOR_PRIORITY", whose blocks
 * (alloc_mark_blocks()) cover exactly mark_base + 2 .. mark_base + 4093,
 * every mark a VIF can get.  They sit right after the VIFs' lookup rules
 * and stay in the kernel when vifd stops or dies.  A VIF with a gateway
 * gets "default dev <tun> metric 0" in its table whenever the tun device
 * exists (at creation, in reconcile, or vifmgr_route_sync() when the
 * gateway brings it up); without one, or with it gone, the table has no
 * route, the lookup falls through to the floor and the packet is dropped,
 * so a VIF never leaks through the main table.  No per-VIF blackhole
 * route: a table per VIF made every netdev removal walk all of them.
 * Reconcile puts the floor in place, then removes the per-table
 * blackholes of older vifds (metric VIFMGR_BLACKHOLE_METRIC[_OF]).  A VIF
 * without a gateway therefore reaches the appliance itself (the local
 * table comes first) and the trunk through the dataplane, but the
 * appliance never routes its traffic anywhere.
 *
 * Crash safety (kill -9 between any two steps).  What is persisted before
 * each step lets vifmgr_reconcile() converge at the next start:
 *   - an allocation row without a VIF row (crash after ALLOC) is freed;
 *   - a CREATING row is rolled BACK, not completed: every object it may
 *     have made is removed and the row becomes ERROR with the reason
 *     "interrupted: vifd stopped while creating it" (retry or delete it).
 *     A create is atomic to its caller: a VIF is ACTIVE only once create
 *     returned 0, and the change pipeline's own rollback then finds either
 *     nothing to undo or an ERROR row it can delete;
 *     vifmgr_create_many() commits final states per chunk of 256 VIFs,
 *     so a crash inside a batch rolls back the chunk in progress, its
 *     complete VIFs included (none of them had been reported ACTIVE);
 *   - a REMOVING row is finished (deletion is idempotent);
 *   - the kill switch is written to the store before the dataplane when
 *     engaging and after it when releasing, so a crash in between leaves it
 *     engaged (fail closed).
 *
 * vifmgr_reconcile() makes the store, the pinned dataplane and the Linux
 * side agree: missing pieces of ACTIVE VIFs are recreated (a vanished
 * netns turns the VIF to ERROR instead), and what vifd owns but no VIF
 * wants is removed.  An ACTIVE VIF whose objects are all in place is not
 * touched: no port is re-attached, no entry rewritten, so forwarding goes
 * on throughout.  Its port counts as carrying the program when the live
 * dataplane entry names that very ifindex (PORT always precedes ENTRY);
 * only otherwise is the dataplane asked (dp_port_status()), so an
 * operator's hand detach of an intact VIF goes unnoticed.
 * Quota limits in the dataplane are the quota manager's (it gives the
 * dataplane limit - base) and are not compared; nor is a FALLBACK VIF's
 * re-route into its fallback (vifmgr_apply_fallback()).
 *
 * Events go through deps->emit (if set): "vif.state" {name, vlan, state,
 * error}, "vif.deleted" {name, vlan}, "vif.killswitch" {name, vlan,
 * engaged}, "vif.chain" {name, vlan, next_hop}, "vif.quota" {name, vlan,
 * limit}.  The json_t is borrowed: json_incref() it to keep it.
 *
 * Single-threaded like the rest of vifd.  Every int function returns 0 or
 * a negative errno; functions taking (err, errlen) explain refusals there.
 */
#ifndef VIF_CONTROL_VIFMGR_H
#define VIF_CONTROL_VIFMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include <jansson.h>

#include "alloc.h"
#include "config.h"
#include "model.h"

struct dp;
struct nl;
struct store;

#define VIFMGR_NETNS_DIR "/run/netns" /* where `ip netns` keeps names */
/*
 * Consulted before main (32766), and the floor right after drops what a
 * VIF's table cannot route, so marked traffic never falls through to
 * main; after the local table's rule (0), so the appliance's own
 * addresses still answer.
 */
#define VIFMGR_RULE_PRIORITY 9000
#define VIFMGR_FLOOR_PRIORITY (VIFMGR_RULE_PRIORITY + 1)
/*
 * The link group (IFLA_GROUP) vifmgr_delete_many() puts the veths it
 * deletes into, to delete them with one request.  vifd's own: every link
 * in it is deleted.  "vifd" in ASCII.
 */
#define VIFMGR_DEL_GROUP 0x76696664u
/*
 * The per-table blackhole routes older vifds made as the floor (metric
 * 65535, later 65535 + VLAN).  Reconcile recognises and removes them
 * once the floor rules are in place; nothing makes them any more.
 */
#define VIFMGR_BLACKHOLE_METRIC 65535u
#define VIFMGR_BLACKHOLE_METRIC_OF(vlan) (VIFMGR_BLACKHOLE_METRIC + (vlan))

enum vifmgr_step {
	/* creation, in order */
	VIFMGR_STEP_ALLOC = 0,
	VIFMGR_STEP_DB,
	VIFMGR_STEP_VETH,
	VIFMGR_STEP_ADDR,
	VIFMGR_STEP_RULE,
	VIFMGR_STEP_ROUTE,
	VIFMGR_STEP_PORT,
	VIFMGR_STEP_ENTRY,
	VIFMGR_STEP_ACTIVATE,
	/* deletion, in order */
	VIFMGR_STEP_DEL_MARK,   /* row REMOVING */
	VIFMGR_STEP_DEL_ENTRY,  /* dataplane entry */
	/*
	 * routes, rule, veth.  Deleting the veth detaches the port's XDP
	 * and tc programs with it, atomically; there is no separate
	 * dp_port_detach() (it dumps every link: O(VIFs) per VIF).
	 */
	VIFMGR_STEP_DEL_LINUX,
	VIFMGR_STEP_DEL_ROW,    /* row and allocation */
	VIFMGR_STEP__MAX,
};

/* "allocate", "database", "veth", ... */
const char *vifmgr_step_name(enum vifmgr_step step);
/* "CREATING", "ACTIVE", "REMOVING", "ERROR". */
const char *vifmgr_state_name(enum vifd_state state);

typedef void (*vifmgr_emit_fn)(void *ctx, const char *type, __u16 vlan,
			       json_t *data);
/*
 * Called before each step of create, retry and delete (tests: failure
 * injection and crash points).  A negative errno makes that step fail as
 * if it had failed by itself.
 */
typedef int (*vifmgr_hook_fn)(void *ctx, const char *name,
			      enum vifmgr_step step);

/* Everything must outlive the manager. */
struct vifmgr_deps {
	const struct vifd_config *cfg; /* pool, scheme, bases, timezone */
	struct store *store;
	struct nl *nl;                 /* request handle, vifd's netns */
	struct dp *dp;                 /* writer handle */
	vifmgr_emit_fn emit;           /* NULL: no events */
	void *ctx;                     /* for emit */
	const char *netns_dir;         /* NULL: VIFMGR_NETNS_DIR */
	vifmgr_hook_fn hook;           /* NULL in production */
	void *hook_ctx;
};

struct vifmgr;

/*
 * Load every VIF and allocation from the store.  Touches neither Linux nor
 * the dataplane: call vifmgr_reconcile() next.  Allocations outside the
 * configured pool (it shrank while vifd was down) are kept, with a warning.
 */
int vifmgr_open(const struct vifmgr_deps *deps, struct vifmgr **out);
/* Frees memory only: VIFs, ports and entries stay. NULL is fine. */
void vifmgr_close(struct vifmgr *m);

/* NULL when there is none.  Valid until the VIF is deleted. */
const struct vifd_vif *vifmgr_get(const struct vifmgr *m, __u16 vlan);
const struct vifd_vif *vifmgr_find(const struct vifmgr *m, const char *name);
unsigned int vifmgr_count(const struct vifmgr *m);
/* In VLAN order; a nonzero return from cb stops and is returned. */
typedef int (*vifmgr_vif_cb)(const struct vifd_vif *vif, void *ctx);
int vifmgr_foreach(const struct vifmgr *m, vifmgr_vif_cb cb, void *ctx);

void vifmgr_pool_status(const struct vifmgr *m, struct pool_status *st);
/* pool_resize() on the live pool; see alloc.h. */
int vifmgr_pool_resize(struct vifmgr *m, __u16 lo, __u16 hi,
		       const struct vlan_set *reserved, char *err,
		       size_t errlen);

struct vifmgr_req {
	const char *name;          /* 1-31 bytes of [A-Za-z0-9_.:-] */
	__u16 vlan;                /* 0: lowest free in the pool */
	const char *netns;         /* NULL or "": service end stays here */
	struct vifd_gateway gw;    /* type, tun, socks addr/port; rest unused */
	enum vifd_ks_mode ks_mode;
	__u16 ks_fallback;         /* VLAN of an existing VIF for FALLBACK */
	struct vifd_quota quota;   /* limit (0 = none), period, action, dir */
};

/*
 * Create and bring up one VIF.  0: *vif (may be NULL) is ACTIVE.  On
 * failure a negative errno, the reason in err, and *vif is the ERROR VIF
 * when it got that far (else NULL).  -EEXIST for a name in use (ERROR
 * ones included: retry or delete those), -ENOSPC for a full pool,
 * -EINVAL for a bad request.
 */
int vifmgr_create(struct vifmgr *m, const struct vifmgr_req *req,
		  const struct vifd_vif **vif, char *err, size_t errlen);

struct vifmgr_result {
	int err;                   /* 0: ACTIVE */
	__u16 vlan;                /* 0 when nothing was allocated */
	char msg[VIFD_ERROR_MAX];  /* why, when err */
};

/*
 * Create n VIFs.  Same steps and outcomes per VIF as vifmgr_create(), but
 * the store is written in transactions instead of fsync'ing per VIF: one
 * for every row in CREATING, then one per 256 VIFs for their final states.
 * Returns how many became ACTIVE, or a negative errno when the batch could
 * not start (then nothing was created); res[i] says what became of
 * reqs[i].
 */
int vifmgr_create_many(struct vifmgr *m, const struct vifmgr_req *reqs,
		       size_t n, struct vifmgr_result *res);

/*
 * Re-run creation of an ERROR VIF from scratch (VETH on), with its stored
 * VLAN, addresses and settings.  -EALREADY when ACTIVE, -EBUSY when
 * CREATING or REMOVING, -ENOENT when unknown.
 */
int vifmgr_retry(struct vifmgr *m, const char *name, char *err,
		 size_t errlen);

/*
 * Delete an ACTIVE, ERROR or REMOVING VIF: row REMOVING, dataplane entry,
 * routes, rule, veth (and with it the port's programs), then row and
 * allocation.  Works
 * whatever part is already gone.  -EBUSY while another VIF chains into it
 * or falls back to it; on a failing step the VIF stays REMOVING with the
 * reason (delete again, or reconcile finishes it).
 */
int vifmgr_delete(struct vifmgr *m, const char *name, char *err,
		  size_t errlen);

/*
 * Delete n VIFs by name, as vifmgr_delete() would, with the store written
 * in two transactions for the batch (every row REMOVING, then every row
 * gone), and the veths deleted in one netlink request at the end (group
 * VIFMGR_DEL_GROUP; one by one if that fails).  Chain and fallback references between VIFs of the batch do not
 * block.  Returns how many were deleted, or a negative errno when the
 * batch could not start; res[i] says what became of names[i].
 */
int vifmgr_delete_many(struct vifmgr *m, const char *const *names, size_t n,
		       struct vifmgr_result *res);

struct vifmgr_report {
	unsigned int active_ok;          /* ACTIVE, everything in place */
	unsigned int active_repaired;    /* ACTIVE, something recreated */
	unsigned int active_failed;      /* ACTIVE -> ERROR */
	unsigned int creating_rolled_back; /* CREATING -> ERROR */
	unsigned int removing_finished;  /* REMOVING -> deleted */
	unsigned int error_vifs;         /* ERROR, left for a person */
	unsigned int allocs_freed;       /* allocations with no VIF */
	unsigned int links_removed;
	unsigned int rules_removed;
	unsigned int routes_removed;
	unsigned int entries_removed;    /* dataplane entries */
	unsigned int failures;           /* actions that failed (logged) */
};

/*
 * Bring store, dataplane and Linux into agreement (see the top of this
 * file).  Returns 0 when everything converged, or the first error of an
 * action that failed (rep->failures counts them; the rest still ran).
 */
int vifmgr_reconcile(struct vifmgr *m, struct vifmgr_report *rep);

/*
 * A link went away (RTM_DELLINK from vifd's event handle).  If it was an
 * ACTIVE VIF's port or service end, the VIF turns ERROR with the reason
 * and its remaining objects go.  1 when a VIF was affected, 0 when the
 * link was not one of theirs (our own deletions included).
 */
int vifmgr_on_link_del(struct vifmgr *m, int ifindex, const char *ifname);
/*
 * After a netlink overrun (NL_EVENT_OVERRUN): check every ACTIVE VIF's
 * port with one dump.  Returns how many VIFs turned ERROR.
 */
int vifmgr_links_resync(struct vifmgr *m);

/* Setters for other modules: persist, then apply to the dataplane. */
int vifmgr_set_killswitch(struct vifmgr *m, __u16 vlan, bool engaged);
/*
 * hops[0] -> ... -> hops[n-1] (2-5 existing VIFs): chain_validate(), plus
 * every path through the VIFs chaining into hops[0] stays within 5 VIFs.
 * All or nothing.
 */
int vifmgr_set_chain(struct vifmgr *m, const __u16 *hops, size_t n,
		     char *err, size_t errlen);
/* Take vlan out of its chain (next hop 0). */
int vifmgr_clear_next_hop(struct vifmgr *m, __u16 vlan);
/*
 * The quota settings and persisted usage of vlan; the dataplane gets
 * q->limit with the matching VIF_F_QUOTA_* flags.
 */
int vifmgr_set_quota(struct vifmgr *m, __u16 vlan, const struct vifd_quota *q);
/*
 * Persist vlan's kill-switch mode and fallback (VIFD_KS_BLOCK: fallback
 * 0) in the record and the store; the dataplane is the gateway module's
 * business (it applies modes).  -EINVAL for a fallback that is the VIF
 * itself, not a VIF, or given with BLOCK; -ENOENT for an unknown vlan.
 */
int vifmgr_set_ks_mode(struct vifmgr *m, __u16 vlan, enum vifd_ks_mode mode,
		       __u16 fallback);
/*
 * Kill-switch mode FALLBACK (gateway.h's gw_ops.fallback): on, re-route
 * vlan's traffic into fallback's service in the dataplane; off, put back
 * vlan's own next hop.  Not persisted (the gateway module decides again
 * after a restart); while on, chain changes are stored but not applied,
 * and reconcile accepts the re-route.  Idempotent.  A VIF that is not
 * ACTIVE has nothing to re-route: 0.
 */
int vifmgr_apply_fallback(struct vifmgr *m, __u16 vlan, __u16 fallback,
			  bool on);
/* Gateway state and failure count (the health prober's), persisted. */
int vifmgr_set_gw_state(struct vifmgr *m, __u16 vlan, enum vifd_gw_state st,
			__u32 fails);
/*
 * Make the VIF's table match its gateway: "default dev <tun>" while the
 * tun exists, else nothing (the floor rule drops).  For the gateway module after it
 * creates or loses the tun.
 */
int vifmgr_route_sync(struct vifmgr *m, __u16 vlan);

#endif /* VIF_CONTROL_VIFMGR_H */
