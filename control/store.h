/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * store.h - vifd's persistent state: one SQLite file in the state dir.
 *
 * This is the only module that talks to SQLite.  Everything it stores
 * survives a crash once the call that wrote it has returned 0: the file is
 * in WAL mode with synchronous=FULL, so every commit is fsync'd before the
 * call returns.  That costs one fsync per write outside a transaction, so
 * anything that writes many rows (creating VIFs in bulk, flushing hourly
 * stats for every VLAN) belongs between store_begin() and store_commit().
 *
 * Concurrency model: one process, one thread.  The store is not thread
 * safe, and callbacks must not re-enter the function that called them
 * (that returns -EBUSY; other store calls from a callback are fine).
 * The list/walk functions stop at a callback's first nonzero return and
 * return that value.
 *
 * Every function returns 0 or a negative errno:
 *   -EINVAL   bad argument (NULL, empty or too long string, out of range)
 *   -ENOENT   the row asked for does not exist
 *   -EEXIST   a UNIQUE rule would be broken (name, VLAN, ifname, ...)
 *   -EBUSY    the database is locked by another process beyond the busy
 *             timeout, or a row is still referenced (store_alloc_delete)
 *   -EPROTO   store_open: the file's schema is newer than this code
 *   -EBADMSG  not a vifd database, corrupt file or a row that does not
 *             parse
 *   -ENOTSUP  SQLite too old (< 3.37) or WAL/foreign keys unavailable
 *   -EIO      also: SQLite rolled the caller's transaction back by itself
 *             (disk full, I/O error); end it with store_rollback()
 *   other     the errno behind an I/O failure (-ENOSPC, -EACCES, -EIO ...)
 * store_errmsg() has the text of the last failure.
 *
 * Times are unix seconds, passed in by the caller: the store never reads the
 * clock, so the daemon's clock (and a test's) is the only one.
 */
#ifndef VIF_CONTROL_STORE_H
#define VIF_CONTROL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "model.h"

#define STORE_DB_FILENAME "vifd.db" /* in the state dir */
#define STORE_SCHEMA_VERSION 1      /* PRAGMA user_version written last */
/*
 * Kept short because waiting blocks vifd's event loop; only an outside
 * writer (an operator's sqlite3 shell) can hold the lock.
 */
#define STORE_BUSY_TIMEOUT_MS 1000
#define STORE_STATS_KEEP_DAYS 30 /* default retention of stats_hourly */
#define STORE_EVENTS_KEEP 10000  /* default retention of the event stream */

#define STORE_TYPE_MAX 64      /* event type, incl. NUL */
#define STORE_STEP_MAX 32      /* change-set log step name, incl. NUL */
#define STORE_KV_KEY_MAX 64    /* incl. NUL */
#define STORE_KV_VALUE_MAX 4096 /* incl. NUL */

struct store;

/*
 * Open (creating and migrating as needed) the database file at @path.  On
 * failure *out is NULL, so there is no store_errmsg(): the codes are kept
 * distinct for the caller's message instead.  -EPROTO only means "written
 * by a newer vifd", -EBADMSG only "not a vifd database or damaged".
 */
int store_open(const char *path, struct store **out);
/* Accepts NULL.  Rolls back a transaction left open. */
void store_close(struct store *s);
/* Text of the last failure; never NULL. */
const char *store_errmsg(const struct store *s);

/* What the connection is really running with, read back from SQLite. */
struct store_info {
	int schema_version;   /* PRAGMA user_version */
	char journal_mode[16]; /* "wal" */
	int synchronous;      /* 2 = FULL */
	int foreign_keys;     /* 1 = on */
	int busy_timeout_ms;
};
int store_info(struct store *s, struct store_info *info);

/*
 * Transactions.  store_begin() takes the write lock at once (BEGIN
 * IMMEDIATE), so a multi-step write never fails halfway on a lock.  They
 * nest: an inner begin/commit is a savepoint, an inner rollback undoes only
 * the inner part.  Outside a transaction every write commits by itself.
 */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

/*
 * VIFs.  A VIF row needs its VLAN allocated to its name first
 * (store_alloc_put), and the allocation cannot be deleted while the VIF
 * exists: the database itself refuses a VIF without an allocation.
 */
typedef int (*store_vif_cb)(const struct vifd_vif *vif, void *ctx);

/* Insert or update by name; writes every field and sets vif->id. */
int store_vif_put(struct store *s, struct vifd_vif *vif);
int store_vif_get_by_name(struct store *s, const char *name,
			  struct vifd_vif *out);
int store_vif_get_by_vlan(struct store *s, __u16 vlan, struct vifd_vif *out);
/* In VLAN order. */
int store_vif_list(struct store *s, store_vif_cb cb, void *ctx);
int store_vif_delete(struct store *s, const char *name);
/* @error may be NULL (cleared); longer than VIFD_ERROR_MAX-1 is cut. */
int store_vif_set_state(struct store *s, const char *name,
			enum vifd_state state, const char *error);

/* VLAN pool allocations: VLAN -> owning VIF name. */
struct store_alloc {
	__u16 vlan;
	char owner[VIFD_NAME_MAX];
	int64_t allocated_at;
	bool has_vif; /* false: an orphan, no VIF row uses it */
};
typedef int (*store_alloc_cb)(const struct store_alloc *a, void *ctx);

/*
 * Idempotent for the same (vlan, owner): allocated_at keeps its first
 * value.  -EEXIST when the VLAN is someone else's or the owner has another.
 */
int store_alloc_put(struct store *s, __u16 vlan, const char *owner,
		    int64_t allocated_at);
/* -ENOENT when not allocated, -EBUSY while a VIF row still uses it. */
int store_alloc_delete(struct store *s, __u16 vlan);
int store_alloc_list(struct store *s, store_alloc_cb cb, void *ctx);

/* Change sets. */
enum store_cs_state {
	STORE_CS_PENDING = 0,
	STORE_CS_APPLYING = 1,
	STORE_CS_APPLIED = 2,
	STORE_CS_CONFIRMED = 3,
	STORE_CS_ROLLED_BACK = 4,
	STORE_CS_PARTIAL_FAILURE = 5,
	STORE_CS_FAILED = 6,
};

enum store_cs_risk {
	STORE_RISK_LOW = 0,
	STORE_RISK_MEDIUM = 1,
	STORE_RISK_HIGH = 2,
};

struct store_changeset {
	int64_t id;
	enum store_cs_state state;
	enum store_cs_risk risk;
	int64_t created_at;
	int64_t confirm_deadline; /* unix seconds, 0 = none */
	char error[VIFD_ERROR_MAX];
	char *items; /* JSON, malloc'd: free with store_changeset_fini() */
};

/*
 * One change set at a time is "pending": PENDING, APPLYING, or APPLIED
 * with a confirm deadline.  The database enforces it: creating a second
 * one, or moving another set into one of those states, gives -EEXIST.
 */
int store_changeset_create(struct store *s, const char *items_json,
			   enum store_cs_risk risk, int64_t created_at,
			   int64_t confirm_deadline, int64_t *id);
/* @error may be NULL (cleared); longer than VIFD_ERROR_MAX-1 is cut. */
int store_changeset_set_state(struct store *s, int64_t id,
			      enum store_cs_state state, const char *error);
/* 0 clears the deadline. */
int store_changeset_set_deadline(struct store *s, int64_t id,
				 int64_t confirm_deadline);
int store_changeset_get(struct store *s, int64_t id,
			struct store_changeset *out);
/* -ENOENT when nothing is pending. */
int store_changeset_pending(struct store *s, struct store_changeset *out);
/* Frees out->items; accepts NULL and a zeroed struct. */
void store_changeset_fini(struct store_changeset *cs);

/*
 * The change-set journal.  Write an entry before a step runs and one after,
 * each committed on its own (or inside the caller's transaction), so a
 * restart can see which steps finished and which were in flight.
 */
#define STORE_LOG_STARTED 1 /* result: step begun, outcome not yet known */

struct store_cs_log {
	int64_t changeset;
	__u32 seq; /* 1, 2, ... per change set, in append order */
	__u32 item; /* index into the change set's items */
	const char *step; /* e.g. "apply", "verify", "rollback" */
	int result;       /* 0, -errno or STORE_LOG_STARTED */
	const char *detail; /* "" when none */
	int64_t at;
};
/* The strings in *e are valid only during the callback. */
typedef int (*store_cs_log_cb)(const struct store_cs_log *e, void *ctx);

/* -ENOENT when the change set does not exist.  @seq may be NULL. */
int store_changeset_log_append(struct store *s, int64_t changeset, __u32 item,
			       const char *step, int result,
			       const char *detail, int64_t at, __u32 *seq);
int store_changeset_log_list(struct store *s, int64_t changeset,
			     store_cs_log_cb cb, void *ctx);

/*
 * The event stream behind the control socket.  Sequence numbers only ever
 * grow, also across prunes and restarts, so a client can resume with the
 * last seq it saw.
 */
struct store_event {
	int64_t seq;
	const char *type; /* e.g. "vif.state" */
	__u16 vlan;       /* 0 = not about one VIF */
	const char *json; /* the event body, valid JSON */
	int64_t at;
};
/* The strings in *e are valid only during the callback. */
typedef int (*store_event_cb)(const struct store_event *e, void *ctx);

int store_event_append(struct store *s, const char *type, __u16 vlan,
		       const char *json, int64_t at, int64_t *seq);
/* Every event with seq > @since, oldest first. */
int store_event_since(struct store *s, int64_t since, store_event_cb cb,
		      void *ctx);
/*
 * @first: oldest seq still held (0 if none); @last: newest seq ever handed
 * out (0 if none).  A client resuming from below first - 1 missed events.
 */
int store_event_bounds(struct store *s, int64_t *first, int64_t *last);
/* Keep the newest @keep events.  @deleted may be NULL. */
int store_event_prune(struct store *s, __u64 keep, __u64 *deleted);

/* Hourly traffic history per VLAN. */
struct store_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 drops;
};

struct store_stats_hour {
	__u16 vlan;
	int64_t hour; /* unix seconds at the start of the hour */
	struct store_stats c;
};
typedef int (*store_stats_cb)(const struct store_stats_hour *h, void *ctx);

/*
 * Adds @d to the row for (vlan, hour), creating it at zero first.  @hour
 * must be a multiple of 3600; each delta at most INT64_MAX.
 */
int store_stats_add_hour(struct store *s, __u16 vlan, int64_t hour,
			 const struct store_stats *d);
/* Rows with from <= hour < to, by VLAN then hour; @vlan 0 = every VLAN. */
int store_stats_range(struct store *s, __u16 vlan, int64_t from, int64_t to,
		      store_stats_cb cb, void *ctx);
/* Deletes rows with hour < now - days * 86400.  @deleted may be NULL. */
int store_stats_prune(struct store *s, int64_t now, unsigned int days,
		      __u64 *deleted);

/* Small settings (pool range, ...).  -ERANGE when @len is too small. */
int store_kv_get(struct store *s, const char *key, char *buf, size_t len);
int store_kv_set(struct store *s, const char *key, const char *value);
int store_kv_delete(struct store *s, const char *key);

#endif /* VIF_CONTROL_STORE_H */
