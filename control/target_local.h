/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * target_local.h - the change pipeline's apply target "local": this host's
 * dataplane and Linux side.  It turns the change-set items of
 * docs/PROTOCOL.md into calls on the VIF manager (control/vifmgr.h), the
 * gateway manager (control/gateway.h) and the quota manager
 * (control/quota.h), and reads every change back from the VIF manager,
 * the dataplane and netlink.
 *
 * Ops and their args, exactly as the commands of the same name take them:
 *
 *   vif.create     name, vlan?, netns?, gateway?, killswitch?, quota?
 *   vif.delete     name
 *   pool.set       range, reserved?
 *   chain.set      hops (2-5 VIFs by name or VLAN)
 *   chain.clear    name (any hop: every link of the chain it is in)
 *   killswitch.set name, mode, fallback?
 *   quota.set      name, limit, period, action, dir
 *
 * Validation simulates the whole set in apply order over a copy of the
 * current state, so every item is judged against what the items before it
 * will have done: a chain through VIFs the set creates, a VIF the set
 * deletes, the VLAN an earlier item takes as "lowest free".  Unknown args,
 * wrong types and ranges are -EINVAL (-ERANGE for a VLAN outside the
 * pool); a VIF, netns or fallback that does not exist -ENOENT; anything
 * that clashes with the state or another item -EEXIST (name, VLAN or tun
 * taken, a hop that already has a next hop, two items changing one
 * thing), -EBUSY (deleting a VIF a chain or a fallback uses, a pool that
 * would strand allocated VLANs), -EPERM (a reserved VLAN), -ENOSPC (the
 * pool is full), -ELOOP / -E2BIG (a chain that would loop or grow past 5
 * VIFs, with the path).  The messages say which item and which path.  An
 * op whose hook is missing (killswitch.set, pool.set: see the deps) is
 * -EOPNOTSUPP.
 *
 * Implicit order (depends): an item naming a VIF the set creates follows
 * that vif.create; a vif.delete follows the chain.clear of its chain, the
 * killswitch.set that moves a fallback off it and the other changes to
 * it; a vif.create follows the vif.delete that frees its name or VLAN and
 * every pool.set; a pool.set follows every vif.delete; a chain.set follows
 * the chain.clear that frees its hops.
 *
 * Chain semantics.  chain.set only ever adds links: every hop but the last
 * must have no next hop yet (-EEXIST otherwise: chain.clear first), so its
 * undo is always "clear the links it added", even when the outcome is
 * unknown.  chain.clear clears every link of the chain the hop belongs to:
 * all VIFs connected to it through next hops, in both directions (with
 * composed chains A -> C and B -> C -> D that is all four).
 *
 * Risk (preview): LOW for a vif.create, an item that changes nothing and
 * changes to VIFs the same set creates (only additions, as the protocol
 * says); MEDIUM for changes to existing VIFs (chains, quotas, kill-switch
 * mode fallback -> block or to another fallback, a growing pool) and for
 * deleting a VIF that is not ACTIVE; HIGH for deleting an ACTIVE VIF, a
 * kill-switch mode change that can release it (block -> fallback) and a
 * pool change that takes usable VLANs away.
 *
 * Registration.  The target keeps the gateway and quota managers in step
 * with the VIF manager inside the same apply and rollback steps:
 * vif.create gw_add()s the VIF (after it exists) and quota_mgr_track()s
 * it, vif.delete gw_remove()s and untracks it first, chain.set and
 * chain.clear re-register the chains with gw_chain_set()/_clear() (engage
 * before release: a new chain is registered before the dataplane links
 * its hops, a cleared one unregistered after), killswitch.set calls
 * gw_update() and quota.set quota_mgr_configure().  The target owns gw's
 * chain registry: it registers, for every VIF that chains into another and
 * has no VIF chaining into it, the path from it to the end of its chain.
 * target_local_sync() builds that at start.
 *
 * Undo and rollback.  Every apply returns an undo holding exactly what its
 * rollback restores (vif.create: name and VLAN; vif.delete: the whole VIF
 * description and quota usage; chain.set: the VLANs it linked; chain.clear:
 * the links it cleared; quota.set and killswitch.set: the previous
 * settings; pool.set: the previous range and reserved set).  Rollback is
 * idempotent.  With undo NULL (outcome unknown, after a crash) it undoes
 * what it can prove the item did: a vif.create's VIF by its name (one
 * change set is pending at a time and validation saw the name free, so a
 * VIF of that name, and of the item's VLAN if it named one, is this
 * item's), a chain.set's links that point where the item points, a
 * vif.delete whose VIF is still there (finished if REMOVING, then
 * re-created from its own record).  Where the previous state cannot be
 * known (a vif.delete whose VIF is gone, a chain.clear, a quota.set,
 * pool.set or killswitch.set that may have taken effect) it returns
 * -ENODATA, so the set ends in PARTIAL_FAILURE and a person decides;
 * where the state shows the item never took effect it returns 0.
 *
 * A failed vif.create leaves its VIF in ERROR with the reason, as
 * docs/PROTOCOL.md documents for the command (fix the cause and vif.retry,
 * or vif.delete it): the apply returns no undo, so the engine leaves it.
 * A vif.create that fails before the VIF exists (VLAN taken meanwhile)
 * leaves nothing.
 *
 * Verify reads back, per item: the VIF manager's record, the dataplane
 * entry (dp_vif_get(): port ifindex, mark, table, addresses, next hop,
 * kill switch against the gateway manager's decision, quota limit and
 * flags) and netlink (the port and service links: there, up, the port's
 * ifindex the one the entry names).  O(1) kernel requests per item.
 *
 * Not thread safe (vifd is single-threaded).  Every int function returns 0
 * or a negative errno.
 */
#ifndef VIF_CONTROL_TARGET_LOCAL_H
#define VIF_CONTROL_TARGET_LOCAL_H

#include <stddef.h>
#include <linux/types.h>

#include "alloc.h"
#include "model.h"
#include "pipeline.h"

struct dp;
struct gw_mgr;
struct nl;
struct quota_mgr;
struct store;
struct vifd_config;
struct vifmgr;

#define TARGET_LOCAL_NAME "local" /* journal steps: "apply:local", ... */

/*
 * Persist a VIF's kill-switch mode and fallback (VIFD_KS_BLOCK: fallback
 * 0) in the VIF manager's record and the store, without touching the
 * dataplane (the gateway manager applies modes): vifmgr_set_ks_mode().
 */
typedef int (*target_local_ks_mode_fn)(struct vifmgr *vm, __u16 vlan,
				       enum vifd_ks_mode mode,
				       __u16 fallback);

/*
 * Make lo..hi minus reserved the pool in force, after the target resized
 * the VIF manager's live pool (pool.set, and its rollback): afterwards
 * deps->cfg->vlan_pool and ->reserved must read it back, and it must
 * survive a restart (vifd: d->cfg and the store).  ctx is deps->ctx.
 */
typedef int (*target_local_pool_fn)(void *ctx, __u16 lo, __u16 hi,
				    const struct vlan_set *reserved);

/* Everything must outlive the target. */
struct target_local_deps {
	struct vifmgr *vm;             /* required */
	/* NULL: no gateway manager (tests); kill switches are vifmgr's. */
	struct gw_mgr *gw;
	struct quota_mgr *qm;          /* NULL: quotas are vifmgr's only */
	struct dp *dp;                 /* required: verify reads entries */
	struct nl *nl;                 /* required: verify reads links */
	/* NULL: orphan allocations are not seen by pool.set validation. */
	struct store *store;
	/*
	 * Required: the config vm was opened with (pool, scheme, zone),
	 * kept current by its owner (reloads, pool_set below).
	 */
	const struct vifd_config *cfg;
	const char *netns_dir;         /* NULL: VIFMGR_NETNS_DIR */
	/* NULL: killswitch.set items are refused (-EOPNOTSUPP). */
	target_local_ks_mode_fn ks_mode_set;
	/* NULL: pool.set items are refused (-EOPNOTSUPP). */
	target_local_pool_fn pool_set;
	void *ctx;                     /* for pool_set */
};

struct target_local;

int target_local_new(const struct target_local_deps *deps,
		     struct target_local **out);
/* Accepts NULL.  Touches nothing outside the target's own memory. */
void target_local_free(struct target_local *t);

/* For pipeline_target_add(p, target_local_ops(), t). */
const struct pipeline_target_ops *target_local_ops(void);

/*
 * At start, after vifmgr_reconcile() and after vifd tracked quotas with
 * their persisted bases: gw_add() every ACTIVE VIF the gateway manager
 * does not know, quota_mgr_track() (base 0) those the quota manager does
 * not track, and register every chain (see above).  Idempotent.  Returns
 * the first failure (the reason in err); the rest still runs.
 */
int target_local_sync(struct target_local *t, char *err, size_t errlen);

#endif /* VIF_CONTROL_TARGET_LOCAL_H */
