/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pipeline.h - vifd's change pipeline: every mutation (VIF create/delete,
 * chain, quota, kill-switch config, pool config) is a change set of items
 * with dependencies, taken through
 *
 *   validate -> preview -> confirm (HIGH risk) -> apply -> verify -> commit
 *
 * by a generic engine over pluggable apply targets (the dataplane and Linux
 * now, the MikroTik router next).  The engine knows no op: targets do.
 *
 * Items.  A change set is a JSON array of items:
 *
 *   {"op": "vif.create", "id": "tor", "args": {...}, "after": ["ids"]}
 *
 * op: 1-31 of [a-z0-9._]; id: the client's name for the item, unique in
 * the set, 1-64 of [A-Za-z0-9._-] (docs/PROTOCOL.md); args: an object
 * (default {}); after: ids of items of the same set that must be applied
 * first (default []).  No other keys (a typo such as "afer" must not
 * silently drop an ordering).  The engine stores the items normalized:
 * args and after are always present, and after also holds the
 * dependencies targets added (depends(), below), so a stored set carries
 * its whole graph.
 *
 * Validation rejects duplicate ids, unknown ids in after and dependency
 * cycles, with the cycle's path: "dependency cycle: a -> b -> a", where
 * "a -> b" reads "a is after b".  Then every target that handles an item
 * validates it against the whole proposed set (cross-item conflicts), and
 * an item no target handles is an error.  Errors are collected, not
 * stopped at, so a client sees them all.
 *
 * Order.  Items are applied in topological order of after, ties broken
 * by position in the request: the order is stable, and a set without
 * after is applied as written.  An item several targets handle is applied
 * on each in registration order, rolled back in the reverse.  Verify runs
 * for every (item, target) once all are applied.  A failed apply or verify
 * rolls back everything applied, in reverse.
 *
 * Rollback failures.  When a rollback step fails, the item stays applied
 * on the targets not yet rolled back, and so does every item it is after
 * (transitively): removing what a half-removed item still uses is worse
 * than leaving it.  Other items are still rolled back.  The set ends in
 * PARTIAL_FAILURE and "needs_attention" lists each item that needs a
 * person: {"item", "op", "target", "error"}.  pipeline_rollback() on such
 * a set retries the steps that did not roll back.
 *
 * Commit-confirmed.  With a confirm timeout the deadline is persisted
 * when the set is created, before anything is applied, and a verified
 * set waits in APPLIED; pipeline_confirm() commits it, a loop timer rolls
 * it back at the deadline.  The deadline is unix seconds (the store's
 * unit), rounded up to the next whole second, and the live timer is armed
 * for exactly that instant: the window is never shorter than asked and at
 * most 1 s longer, before and after a restart alike.  While vifd runs, the
 * timer (monotonic) rules; across a restart, the wall clock against the
 * persisted deadline.  A confirm that arrives after the deadline but
 * before the timer ran is refused (-ETIMEDOUT) and the set rolled back.
 *
 * The journal.  Every step is written to the store's change-set journal
 * (committed, so fsync'd) before it runs, with STORE_LOG_STARTED, and its
 * result after (one step per commit, or a batch: journal_batch below).  Per (item, target) steps are named "<step>:<target>"
 * ("apply:dp", "verify:dp", "rollback:dp") with the item's index in the
 * set; set-wide steps ("rollback", "commit") use item PIPELINE_LOG_SET.
 * The undo JSON an apply returned is written in the same transaction as
 * the apply's result, as "undo:<target>" entries of at most 240 bytes each
 * (the journal's detail is capped at 255), so every apply either has its
 * result and its undo on disk or neither.  pipeline_recover() replays this
 * journal: whatever state vifd died in, it knows exactly which applies
 * started and which rollbacks finished.
 *
 * Recovery (pipeline_recover(), once at start, after the targets are
 * added): a set that was being applied (PENDING, APPLYING) is rolled back
 * at once and ends FAILED: its client never got an answer, and rolling back
 * is the only outcome that does not depend on how far it got.  A set
 * awaiting confirmation is rolled back at once if its deadline passed or
 * an operator's rollback of it was under way, else the timer is re-armed
 * for the time that remains.
 *
 * ROLLBACK MUST BE IDEMPOTENT, AND SAFE ON A HALF-APPLIED ITEM.  After a
 * crash the engine rolls back every apply that started, including one
 * that was cut short and one whose rollback was itself cut short.
 * rollback() then receives undo == NULL when the apply's outcome is
 * unknown (it started and no result reached the journal): the target must
 * undo only what it can prove this item created (by name, ownership
 * marker), tolerate finding nothing, and return 0.  A rollback that runs
 * twice must succeed the second time.  A successful apply that returned no
 * undo is journaled as JSON null, so NULL always means "unknown".
 *
 * A failed apply should clean up after itself.  If it cannot, it returns
 * an undo describing what is left and the engine rolls it back with the
 * rest; a failed apply with no undo is not rolled back.
 *
 * pipeline_apply() runs a set inside one loop callback: targets are fast
 * (netlink, map writes), but a set of thousands of items is not (seconds),
 * and vifd's loop also runs the gateway probes.  pipeline_apply_async()
 * therefore returns to the loop every PIPELINE_SLICE_BATCHES journal
 * batches, between two batches (nothing of the journal open), and answers
 * through a callback at the end; the set stays BUSY meanwhile, and a
 * crash between slices is the "apply started, outcome unknown" case of
 * every other crash.  A router target talking to RouterOS will need async
 * steps.
 * The engine is written for that: a run is an explicit cursor over its plan
 * of (item, target) steps, and every step's outcome is journaled before
 * the cursor moves.  An async target would return -EINPROGRESS from apply/
 * verify/rollback and later call a pipeline_step_done(p, result, undo,
 * err) from its own fd callback; the engine would journal the result,
 * advance the cursor and continue from there.  The change set stays
 * pending (BUSY) meanwhile, and a crash in between is exactly the "apply
 * started, outcome unknown" case recovery already handles.
 *
 * Durability needs each journal write to commit by itself: do not call
 * apply, confirm, rollback or recover inside a store transaction.
 *
 * One change set is pending at a time: PENDING, APPLYING, or APPLIED
 * awaiting confirmation.  A second apply gets -EBUSY, from the engine or,
 * for another process or engine on the same file, from the store.
 *
 * Reports are jansson objects the caller owns (json_decref); the control
 * socket builds its answers from them (see pipeline_preview() and
 * pipeline_apply(); errno fields map to its error codes).
 * Errors are negative errnos, as everywhere in vifd.  Not thread safe;
 * callbacks (targets, progress) must not call pipeline_apply, _confirm,
 * _rollback or _recover (-EBUSY); the read-only calls are fine.
 */
#ifndef VIF_CONTROL_PIPELINE_H
#define VIF_CONTROL_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct loop;
struct store;
struct pipeline;
struct pipeline_view;

#define PIPELINE_ITEMS_MAX 8192      /* items in one change set */
#define PIPELINE_ID_MAX 65           /* item id, incl. NUL */
#define PIPELINE_OP_MAX 32           /* op name, incl. NUL */
#define PIPELINE_TARGET_NAME_MAX 16  /* incl. NUL; [a-z0-9_-] */
#define PIPELINE_TARGETS_MAX 8
#define PIPELINE_ERR_MAX 256         /* a target's message, incl. NUL */
#define PIPELINE_UNDO_MAX 65536      /* compact undo JSON per step, bytes */
#define PIPELINE_CONFIRM_TIMEOUT_MAX 86400 /* seconds */
#define PIPELINE_JOURNAL_BATCH_MAX 1024 /* steps per journal commit */
#define PIPELINE_LOG_SET UINT32_MAX  /* journal item of set-wide steps */
#define PIPELINE_STARTED 1           /* progress result: step begun */
/*
 * Journal batches per loop turn in pipeline_apply_async(): the caller
 * sizes the batch (vifd: 32 items, ~0.07 s of VIF creates on the bench
 * VM), so the loop (probes, the control socket) is held about that long.
 */
#define PIPELINE_SLICE_BATCHES 1

enum pipeline_risk {
	PIPELINE_RISK_LOW = 0,
	PIPELINE_RISK_MEDIUM = 1,
	PIPELINE_RISK_HIGH = 2, /* refused unless the request confirmed it */
};

/*
 * An apply target.  Every function gets the ctx given to
 * pipeline_target_add() and an item in its normalized form; err, when a
 * function fails, receives a one-line reason for a person (errlen is
 * PIPELINE_ERR_MAX).  All are required except depends.
 */
struct pipeline_target_ops {
	const char *name; /* stable: the journal names steps after it */
	/* Does this target act on items with this op? */
	bool (*handles)(void *ctx, const char *op);
	/*
	 * Optional: ids of other items of @proposed that @item must follow
	 * although the client did not say so (a chain through a VIF the same
	 * set creates), appended to @after as JSON strings.  Runs before the
	 * order exists: of the view only count, item, find and index work.
	 */
	int (*depends)(void *ctx, const json_t *item,
		       const struct pipeline_view *proposed, json_t *after,
		       char *err, size_t errlen);
	/*
	 * Schema, syntax, semantics against the current state, and conflicts
	 * with the other items of @proposed (two items creating one VLAN,
	 * deleting a VIF that a chain in the set uses).  0 or -errno.
	 */
	int (*validate)(void *ctx, const json_t *item,
			const struct pipeline_view *proposed, char *err,
			size_t errlen);
	/*
	 * What applying @item would change, as a new object
	 * {"before": ..., "after": ...} (JSON null for "nothing"), and how
	 * risky it is: HIGH for deleting a VIF that carries traffic, shrinking
	 * the pool, disabling a kill switch.  The engine owns *diff.
	 */
	int (*preview)(void *ctx, const json_t *item, json_t **diff,
		       enum pipeline_risk *risk);
	/*
	 * Make the change.  On success *undo (new reference, owned by the
	 * engine, at most PIPELINE_UNDO_MAX bytes compact) holds what
	 * rollback needs; it is persisted before the next step.  On failure
	 * set *undo only if something is left to undo.
	 */
	int (*apply)(void *ctx, const json_t *item, json_t **undo, char *err,
		     size_t errlen);
	/* Read the change back from where it lives (dataplane, netlink). */
	int (*verify)(void *ctx, const json_t *item, char *err, size_t errlen);
	/*
	 * Undo @item; idempotent and safe on a half-applied item, see the
	 * top of this file.  @undo is what apply returned (JSON null if it
	 * returned nothing), NULL when apply's outcome is unknown.
	 */
	int (*rollback)(void *ctx, const json_t *item, const json_t *undo,
			char *err, size_t errlen);
	/*
	 * Optional: apply items[0..n) (consecutive steps of this target in
	 * one journal batch, in apply order, n >= 2) in one go, where that
	 * is cheaper than n apply() calls (one store transaction, one
	 * netlink batch).  For each item i it applied it sets ret[i] (0 or
	 * -errno), undo[i] and err[i] exactly as apply() would, and it
	 * returns how many items that is (1..n; 0: apply items[0] with
	 * apply() instead); the engine calls again for the rest.  It may go on past a failed item (the engine then rolls
	 * back the later ones with the rest), and it may stop early: the
	 * items past the count are untouched.  The journal batch's STARTED
	 * entries are on disk before this runs, so a crash inside it is the
	 * usual "apply started, outcome unknown" for every item.
	 */
	size_t (*apply_many)(void *ctx, const json_t *const *items, size_t n,
			     json_t **undo, int *ret,
			     char (*err)[PIPELINE_ERR_MAX]);
};

/* Change-set progress, for vifd's event stream. */
struct pipeline_progress {
	int64_t changeset;
	const char *item;   /* client id; NULL for a set-wide step */
	const char *op;     /* the item's op; NULL with item */
	const char *target; /* NULL for a set-wide step */
	const char *step;   /* "apply", "verify", "rollback"; "state" */
	int result;         /* PIPELINE_STARTED, 0 or -errno */
	const char *state;  /* step "state": the set's new state */
	const char *error;  /* why, when result < 0 or the set failed */
};
typedef void (*pipeline_progress_fn)(void *ctx,
				     const struct pipeline_progress *ev);

/* Unix time in milliseconds (CLOCK_REALTIME); tests pass a fake clock. */
typedef int64_t (*pipeline_now_fn)(void *ctx);

struct pipeline_apply_opts {
	/* 0: commit once verified; else wait this long for confirm. */
	unsigned int confirm_timeout_s;
	/* The request said confirm:true; required for a HIGH risk set. */
	bool confirmed_high_risk;
	/*
	 * Steps per journal commit (0 or 1: each on its own).  Every commit
	 * is an fsync, ~5 ms on vifd's disk: 4 per item one at a time, so
	 * bulk sets (thousands of VIFs) want a batch.  The STARTED entries of
	 * a batch commit before its first step runs and its results after
	 * its last; a crash inside a batch rolls back its unfinished steps
	 * with undo NULL (see the top of this file), which costs precision
	 * only, never safety.
	 */
	unsigned int journal_batch;
};

/*
 * @loop runs the confirm timers, @store holds the sets and the journal;
 * both must outlive the pipeline.  @now NULL = the real clock.
 */
int pipeline_new(struct loop *loop, struct store *store, pipeline_now_fn now,
		 void *now_ctx, struct pipeline **out);
/*
 * Accepts NULL.  Cancels the confirm timer but leaves a pending set
 * pending in the store: the next pipeline_recover() takes it over.
 */
void pipeline_free(struct pipeline *p);

void pipeline_set_progress(struct pipeline *p, pipeline_progress_fn fn,
			   void *ctx);

/*
 * Targets are consulted and applied in the order added.  -EEXIST for a
 * name already added, -EINVAL for a bad name or a missing op, -ENOSPC
 * past PIPELINE_TARGETS_MAX.  @ops and @ctx must outlive the pipeline.
 */
int pipeline_target_add(struct pipeline *p,
			const struct pipeline_target_ops *ops, void *ctx);

/*
 * Validate @items (a JSON array).  0 or -EINVAL.  @report may be NULL;
 * *report is NULL only on -ENOMEM, else
 *   {"valid": bool, "errors": [...], "order": [ids in apply order]}
 * (order only when valid).  An error is {"item": id, or null for the set
 * as a whole (a cycle, too many items), "index": n (with item), "target":
 * name (when a target said so), "errno": -errno, "error": "..."}; errno
 * tells the kind: -EINVAL malformed, -ENOENT unknown id, -EEXIST conflict
 * or duplicate, -ELOOP cycle, -EOPNOTSUPP no target, else the target's.
 */
int pipeline_validate(struct pipeline *p, const json_t *items,
		      json_t **report);

/*
 * Validate, then ask every target for its diff.  The report adds
 *   "risk": "LOW"|"MEDIUM"|"HIGH" (the highest of all),
 *   "items": [{"id", "op", "risk", "changes": [{"target", "risk",
 *              "before", "after"}]}] in apply order.
 * -EINVAL invalid, or a target's preview error (listed in "errors").
 * Read-only: allowed while a set is pending.
 */
int pipeline_preview(struct pipeline *p, const json_t *items,
		     json_t **report);

/*
 * Validate, preview, check the risk, then apply, verify and commit (or
 * wait for confirmation).  *id (may be NULL) is set once the set is in the
 * store, else 0.  The report is pipeline_preview()'s plus "changeset",
 * "state", "error", "confirm_deadline" (unix s, 0 = none), after a failed
 * apply or verify "failed": {"item", "op", "target", "step", "errno"},
 * and after a failed rollback "needs_attention".  Without a confirm
 * timeout a good set ends CONFIRMED; FAILED means it was applied in part,
 * failed and was rolled back (a set refused before apply is not stored).
 * Returns:
 *   0                  CONFIRMED, or APPLIED awaiting confirmation
 *   -EINVAL            invalid (nothing stored)
 *   -EPERM             HIGH risk without confirmed_high_risk (nothing stored)
 *   -EBUSY             another set is pending
 *   -ERANGE            confirm_timeout_s above the maximum
 *   the step's -errno  an apply or verify failed, all rolled back: FAILED
 *   -ENOTRECOVERABLE   and a rollback failed too: PARTIAL_FAILURE
 *   other              a store or memory failure
 */
int pipeline_apply(struct pipeline *p, const json_t *items,
		   const struct pipeline_apply_opts *opts, int64_t *id,
		   json_t **report);

/*
 * pipeline_apply()'s answer, later: @err, @id and @report (owned by the
 * callee) are what pipeline_apply() would have returned and set.
 */
typedef void (*pipeline_done_fn)(void *ctx, int err, int64_t id,
				 json_t *report);

/*
 * pipeline_apply() in slices: validation, preview and the store run now;
 * the applies and verifies one slice per loop turn (a 0 ms timer),
 * so fds and timers are served in between.  Returns -EINPROGRESS when
 * the set is stored and still applying: *id is set, *report stays NULL,
 * and done() is called exactly once, from the loop, at the end.  Any
 * other return is pipeline_apply()'s, and done() is not called (refused,
 * before anything was applied).  Meanwhile every mutating call gets
 * -EBUSY and pipeline_running() names the set; read-only calls work (they
 * see the VIFs applied so far).  pipeline_free() during a run drops it
 * without calling done(): the store keeps it APPLYING, and the next
 * pipeline_recover() rolls it back.
 */
int pipeline_apply_async(struct pipeline *p, const json_t *items,
			 const struct pipeline_apply_opts *opts,
			 pipeline_done_fn done, void *done_ctx, int64_t *id,
			 json_t **report);

/* The set pipeline_apply_async() is applying; -ENOENT if none. */
int pipeline_running(const struct pipeline *p, int64_t *id);

/*
 * Commit the set awaiting confirmation.  -ENOENT no such set, -EINVAL it
 * is not awaiting confirmation, -ETIMEDOUT its deadline passed (it has
 * been rolled back by this call, or -ENOTRECOVERABLE if that failed).
 */
int pipeline_confirm(struct pipeline *p, int64_t id);

/*
 * Operator rollback: of the set awaiting confirmation (-> ROLLED_BACK), or
 * a retry of a PARTIAL_FAILURE set's failed steps.  0 when all is rolled
 * back, -ENOTRECOVERABLE when steps still failed (PARTIAL_FAILURE), -ENOENT
 * no such set, -EINVAL nothing to roll back, -EBUSY (retry) another set is
 * pending.  *report (may be NULL) as pipeline_status().
 */
int pipeline_rollback(struct pipeline *p, int64_t id, json_t **report);

/*
 * A set as the store and its journal tell it, so it is the same after a
 * restart: {"changeset", "state", "awaiting_confirm", "risk",
 * "created_at", "confirm_deadline", "error", "items",
 * "steps": [{"item", "op", "target", "apply", "verify", "rollback",
 *            "error"}] ("none"|"started"|"ok"|"failed"),
 * "needs_attention": [...], "log": [{"seq", "item", "step", "result",
 * "detail", "at"}] (undo entries left out; result as in the journal:
 * PIPELINE_STARTED, 0 or -errno)}.
 */
int pipeline_status(struct pipeline *p, int64_t id, json_t **out);

/* The set awaiting confirmation and its deadline; -ENOENT if none. */
int pipeline_pending(const struct pipeline *p, int64_t *id,
		     int64_t *deadline_ms);

/*
 * Take over the pending set left by a previous run (see the top of this
 * file).  0 also when there was none.  *report (may be NULL):
 * {"changeset": id|null, "action": "none"|"rolled_back"|"armed",
 *  "state", "remaining_ms" (armed), "needs_attention" (if any)}.
 * -EBUSY if this pipeline already has a pending set.
 */
int pipeline_recover(struct pipeline *p, json_t **report);

/* ---- for targets ---- */

/* The normalized item's fields; never NULL on an item the engine passed. */
const char *pipeline_item_op(const json_t *item);
const char *pipeline_item_id(const json_t *item);
const json_t *pipeline_item_args(const json_t *item);

/* The proposed set, during validate.  Indexes are request positions. */
size_t pipeline_view_count(const struct pipeline_view *v);
const json_t *pipeline_view_item(const struct pipeline_view *v, size_t i);
/* -ENOENT when no item has @id. */
int pipeline_view_find(const struct pipeline_view *v, const char *id,
		       size_t *i);
/* Position of @item (a pointer the engine passed); count if not in @v. */
size_t pipeline_view_index(const struct pipeline_view *v,
			   const json_t *item);
/* Position of item i in the apply order (count before the order exists). */
size_t pipeline_view_rank(const struct pipeline_view *v, size_t i);
/* Is item i after item j, directly or through other items?  (false before
 * the order exists) */
bool pipeline_view_after(const struct pipeline_view *v, size_t i, size_t j);

#endif /* VIF_CONTROL_PIPELINE_H */
