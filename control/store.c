// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store.c - vifd's SQLite store.  See store.h for the contract.
 *
 * Every statement is prepared once in store_open() and kept in
 * struct store; calls bind values to named parameters, step, and reset.
 * Only two kinds of SQL are run without that: the one-shot PRAGMAs that
 * configure the connection, and the constant migration scripts below.
 * No SQL text is ever built at run time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sqlite3.h>

#include "store.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * PRAGMA application_id: "vifd".  It tells our file from any other SQLite
 * file, so a wrong --state-dir is refused instead of migrated into.
 */
#define STORE_APP_ID 0x76696664

/*
 * STRICT tables need 3.37; UPSERT (3.24), RETURNING (3.35) and json_valid
 * come earlier.
 */
#define STORE_SQLITE_MIN 3037000

/*
 * Migrations.  Step N moves user_version from N-1 to N and runs inside one
 * transaction with the steps before it, so a crash mid-migration leaves the
 * old version.  A published step is never edited; change the schema by
 * appending a step.  A step that rebuilds a table must turn foreign_keys off
 * around the transaction, since the pragma is a no-op inside one.
 *
 * Text columns hold enum names, not numbers, and addresses as dotted quads:
 * an operator's sqlite3 shell shows what they mean, and the on-disk form
 * survives a renumbering of model.h.  Lengths are checked in bytes
 * (length() of a BLOB), because model.h's buffers are byte arrays.
 */
/* SQL is laid out as SQL, not as clang-format would have it. */
/* clang-format off */
static const char schema_v1[] =
	"CREATE TABLE vlan_allocs ("
	" vlan INTEGER PRIMARY KEY CHECK (vlan BETWEEN 1 AND 4094),"
	" owner TEXT NOT NULL UNIQUE"
	"  CHECK (length(CAST(owner AS BLOB)) BETWEEN 1 AND 31),"
	" allocated_at INTEGER NOT NULL,"
	/* the parent key of vifs' foreign key needs its own UNIQUE */
	" UNIQUE (vlan, owner)"
	") STRICT;"

	"CREATE TABLE vifs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT," /* ids are never reused */
	" created_at INTEGER NOT NULL,"
	" name TEXT NOT NULL UNIQUE"
	"  CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 31),"
	" vlan INTEGER NOT NULL UNIQUE CHECK (vlan BETWEEN 1 AND 4094),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('CREATING', 'ACTIVE', 'REMOVING', 'ERROR')),"
	" error TEXT NOT NULL CHECK (length(CAST(error AS BLOB)) <= 255),"
	" ifname TEXT NOT NULL UNIQUE"
	"  CHECK (length(CAST(ifname AS BLOB)) BETWEEN 1 AND 15),"
	" peer_ifname TEXT NOT NULL"
	"  CHECK (length(CAST(peer_ifname AS BLOB)) <= 15),"
	" netns TEXT NOT NULL CHECK (length(CAST(netns AS BLOB)) <= 63),"
	" subnet TEXT NOT NULL,"
	" prefix_len INTEGER NOT NULL CHECK (prefix_len BETWEEN 0 AND 32),"
	" svc_addr TEXT NOT NULL,"
	" gw_addr TEXT NOT NULL,"
	" mark INTEGER NOT NULL CHECK (mark BETWEEN 0 AND 4294967295),"
	" route_table INTEGER NOT NULL"
	"  CHECK (route_table BETWEEN 0 AND 4294967295),"
	" next_hop INTEGER NOT NULL CHECK (next_hop BETWEEN 0 AND 4094),"
	" ks_mode TEXT NOT NULL CHECK (ks_mode IN ('BLOCK', 'FALLBACK')),"
	" ks_fallback INTEGER NOT NULL CHECK (ks_fallback BETWEEN 0 AND 4094),"
	" ks_engaged INTEGER NOT NULL CHECK (ks_engaged IN (0, 1)),"
	" gw_type TEXT NOT NULL CHECK (gw_type IN ('NONE', 'SOCKS5')),"
	" gw_state TEXT NOT NULL"
	"  CHECK (gw_state IN ('STOPPED', 'STARTING', 'RUNNING', 'FAILED')),"
	" gw_tun TEXT NOT NULL CHECK (length(CAST(gw_tun AS BLOB)) <= 15),"
	" gw_socks_addr TEXT NOT NULL,"
	" gw_socks_port INTEGER NOT NULL"
	"  CHECK (gw_socks_port BETWEEN 0 AND 65535),"
	" gw_fails INTEGER NOT NULL CHECK (gw_fails BETWEEN 0 AND 4294967295),"
	" quota_limit INTEGER NOT NULL CHECK (quota_limit >= 0),"
	" quota_period TEXT NOT NULL"
	"  CHECK (quota_period IN ('DAILY', 'WEEKLY', 'MONTHLY')),"
	" quota_action TEXT NOT NULL"
	"  CHECK (quota_action IN ('BLOCK', 'ALERT')),"
	" quota_dir TEXT NOT NULL CHECK (quota_dir IN ('BOTH', 'RX', 'TX')),"
	" quota_used INTEGER NOT NULL CHECK (quota_used >= 0),"
	" quota_period_start INTEGER NOT NULL,"
	" quota_alerted INTEGER NOT NULL CHECK (quota_alerted BETWEEN 0 AND 7),"
	/*
	 * A VIF cannot exist without its VLAN allocated to its own name, and
	 * the allocation cannot go while the VIF is there: the only orphan
	 * left possible is an allocation without a VIF, which
	 * store_alloc_list() reports.
	 */
	" FOREIGN KEY (vlan, name) REFERENCES vlan_allocs (vlan, owner)"
	") STRICT;"
	/* the child side of the foreign key, so a delete need not scan */
	"CREATE INDEX vifs_alloc ON vifs (vlan, name);"
	/* 0 means not assigned yet; any real mark or table is one VIF's */
	"CREATE UNIQUE INDEX vifs_mark ON vifs (mark) WHERE mark <> 0;"
	"CREATE UNIQUE INDEX vifs_route_table ON vifs (route_table)"
	" WHERE route_table <> 0;"

	"CREATE TABLE changesets ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" state TEXT NOT NULL CHECK (state IN ('PENDING', 'APPLYING',"
	"  'APPLIED', 'CONFIRMED', 'ROLLED_BACK', 'PARTIAL_FAILURE',"
	"  'FAILED')),"
	" items TEXT NOT NULL CHECK (json_valid(items)),"
	" risk TEXT NOT NULL CHECK (risk IN ('LOW', 'MEDIUM', 'HIGH')),"
	" created_at INTEGER NOT NULL,"
	" confirm_deadline INTEGER NOT NULL CHECK (confirm_deadline >= 0),"
	" error TEXT NOT NULL CHECK (length(CAST(error AS BLOB)) <= 255)"
	") STRICT;"
	/*
	 * One pending change set at a time, enforced by the database: every
	 * row the WHERE admits has the same key (1), so a second is a UNIQUE
	 * violation.
	 */
	"CREATE UNIQUE INDEX changesets_one_pending ON changesets"
	" (state IN ('PENDING', 'APPLYING', 'APPLIED'))"
	" WHERE state IN ('PENDING', 'APPLYING')"
	"  OR (state = 'APPLIED' AND confirm_deadline <> 0);"

	"CREATE TABLE changeset_log ("
	" changeset INTEGER NOT NULL"
	"  REFERENCES changesets (id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL CHECK (seq >= 1),"
	" item INTEGER NOT NULL CHECK (item BETWEEN 0 AND 4294967295),"
	" step TEXT NOT NULL"
	"  CHECK (length(CAST(step AS BLOB)) BETWEEN 1 AND 31),"
	" result INTEGER NOT NULL,"
	" detail TEXT NOT NULL CHECK (length(CAST(detail AS BLOB)) <= 255),"
	" at INTEGER NOT NULL,"
	" PRIMARY KEY (changeset, seq)"
	") STRICT, WITHOUT ROWID;"

	/*
	 * AUTOINCREMENT, not a plain rowid: after a prune that empties the
	 * table a plain rowid would restart at 1 and a resuming client would
	 * silently miss everything up to its old seq.
	 */
	"CREATE TABLE events ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" type TEXT NOT NULL"
	"  CHECK (length(CAST(type AS BLOB)) BETWEEN 1 AND 63),"
	" vlan INTEGER NOT NULL CHECK (vlan BETWEEN 0 AND 4094),"
	" json TEXT NOT NULL CHECK (json_valid(json)),"
	" at INTEGER NOT NULL"
	") STRICT;"

	"CREATE TABLE stats_hourly ("
	" vlan INTEGER NOT NULL CHECK (vlan BETWEEN 1 AND 4094),"
	" hour INTEGER NOT NULL CHECK (hour >= 0 AND hour % 3600 = 0),"
	" rx_packets INTEGER NOT NULL CHECK (rx_packets >= 0),"
	" rx_bytes INTEGER NOT NULL CHECK (rx_bytes >= 0),"
	" tx_packets INTEGER NOT NULL CHECK (tx_packets >= 0),"
	" tx_bytes INTEGER NOT NULL CHECK (tx_bytes >= 0),"
	" drops INTEGER NOT NULL CHECK (drops >= 0),"
	" PRIMARY KEY (vlan, hour)"
	") STRICT, WITHOUT ROWID;"
	/* prune and all-VLAN ranges go by hour alone */
	"CREATE INDEX stats_hourly_hour ON stats_hourly (hour);"

	"CREATE TABLE kv ("
	" key TEXT PRIMARY KEY"
	"  CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 63),"
	" value TEXT NOT NULL CHECK (length(CAST(value AS BLOB)) <= 4095)"
	") STRICT, WITHOUT ROWID;"

	"PRAGMA application_id = 1986618980;" /* STORE_APP_ID */
	"PRAGMA user_version = 1;";

struct migration {
	int version;
	const char *sql;
};

static const struct migration migrations[] = {
	{ 1, schema_v1 },
};

_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
	       "STORE_SCHEMA_VERSION must name the last migration");
_Static_assert(STORE_APP_ID == 1986618980, "application_id in schema_v1");

/*
 * The vifs columns after id, once, so the INSERT, the UPSERT's SET list, the
 * SELECTs and the column indexes used to read a row cannot drift apart.
 */
#define VIF_COLUMNS(X)                                                     \
	X(created_at) X(name) X(vlan) X(state) X(error) X(ifname)          \
	X(peer_ifname) X(netns) X(subnet) X(prefix_len) X(svc_addr)        \
	X(gw_addr) X(mark) X(route_table) X(next_hop) X(ks_mode)           \
	X(ks_fallback) X(ks_engaged) X(gw_type) X(gw_state) X(gw_tun)      \
	X(gw_socks_addr) X(gw_socks_port) X(gw_fails) X(quota_limit)       \
	X(quota_period) X(quota_action) X(quota_dir) X(quota_used)         \
	X(quota_period_start) X(quota_alerted)

#define VC_NAME(c) ", " #c
#define VC_PARAM(c) ", :" #c
#define VC_SET(c) ", " #c " = excluded." #c
#define VC_ENUM(c) VC_##c,

enum vif_col { VC_id, VIF_COLUMNS(VC_ENUM) VC__COUNT };

#define VIF_SELECT "SELECT id" VIF_COLUMNS(VC_NAME) " FROM vifs "

/* Same predicate as the changesets_one_pending index, so it is used. */
#define CS_PENDING_WHERE                                                   \
	"WHERE state IN ('PENDING', 'APPLYING')"                           \
	" OR (state = 'APPLIED' AND confirm_deadline <> 0)"

#define CS_SELECT                                                          \
	"SELECT id, state, risk, created_at, confirm_deadline, error, items" \
	" FROM changesets "

#define STATS_SELECT                                                       \
	"SELECT vlan, hour, rx_packets, rx_bytes, tx_packets, tx_bytes,"  \
	" drops FROM stats_hourly "

enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_INFO_VERSION,
	STMT_INFO_JOURNAL,
	STMT_INFO_SYNC,
	STMT_INFO_FK,
	STMT_INFO_BUSY,
	STMT_VIF_PUT,
	STMT_VIF_GET_NAME,
	STMT_VIF_GET_VLAN,
	STMT_VIF_LIST,
	STMT_VIF_DELETE,
	STMT_VIF_SET_STATE,
	STMT_ALLOC_PUT,
	STMT_ALLOC_DELETE,
	STMT_ALLOC_LIST,
	STMT_CS_CREATE,
	STMT_CS_SET_STATE,
	STMT_CS_SET_DEADLINE,
	STMT_CS_GET,
	STMT_CS_PENDING,
	STMT_CSLOG_APPEND,
	STMT_CSLOG_LIST,
	STMT_EV_APPEND,
	STMT_EV_SINCE,
	STMT_EV_BOUNDS,
	STMT_EV_PRUNE,
	STMT_STATS_ADD,
	STMT_STATS_RANGE_VLAN,
	STMT_STATS_RANGE_ALL,
	STMT_STATS_PRUNE,
	STMT_KV_GET,
	STMT_KV_SET,
	STMT_KV_DELETE,
	STMT__COUNT
};

static const char *const stmt_sql[STMT__COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	/* one name for every level: ROLLBACK TO and RELEASE hit the newest */
	[STMT_SAVEPOINT] = "SAVEPOINT store_nested",
	[STMT_RELEASE] = "RELEASE store_nested",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO store_nested",
	[STMT_INFO_VERSION] = "PRAGMA user_version",
	[STMT_INFO_JOURNAL] = "PRAGMA journal_mode",
	[STMT_INFO_SYNC] = "PRAGMA synchronous",
	[STMT_INFO_FK] = "PRAGMA foreign_keys",
	[STMT_INFO_BUSY] = "PRAGMA busy_timeout",

	[STMT_VIF_PUT] = "INSERT INTO vifs (id" VIF_COLUMNS(VC_NAME) ")"
			 " VALUES (NULL" VIF_COLUMNS(VC_PARAM) ")"
			 " ON CONFLICT (name) DO UPDATE SET id = id"
			 VIF_COLUMNS(VC_SET) " RETURNING id",
	[STMT_VIF_GET_NAME] = VIF_SELECT "WHERE name = :name",
	[STMT_VIF_GET_VLAN] = VIF_SELECT "WHERE vlan = :vlan",
	[STMT_VIF_LIST] = VIF_SELECT "ORDER BY vlan",
	[STMT_VIF_DELETE] = "DELETE FROM vifs WHERE name = :name",
	[STMT_VIF_SET_STATE] = "UPDATE vifs SET state = :state, error = :error"
			       " WHERE name = :name",

	/*
	 * Same owner again: the DO UPDATE changes nothing but RETURNING
	 * yields the row.  Another owner: the WHERE fails, nothing is
	 * returned, and the caller reports -EEXIST.
	 */
	[STMT_ALLOC_PUT] = "INSERT INTO vlan_allocs (vlan, owner, allocated_at)"
			   " VALUES (:vlan, :owner, :at)"
			   " ON CONFLICT (vlan) DO UPDATE SET owner = owner"
			   " WHERE owner = excluded.owner RETURNING vlan",
	[STMT_ALLOC_DELETE] = "DELETE FROM vlan_allocs WHERE vlan = :vlan",
	[STMT_ALLOC_LIST] = "SELECT a.vlan, a.owner, a.allocated_at,"
			    " v.id IS NOT NULL FROM vlan_allocs a"
			    " LEFT JOIN vifs v ON v.vlan = a.vlan"
			    " ORDER BY a.vlan",

	[STMT_CS_CREATE] = "INSERT INTO changesets (state, items, risk,"
			   " created_at, confirm_deadline, error)"
			   " VALUES ('PENDING', :items, :risk, :created_at,"
			   " :deadline, '') RETURNING id",
	[STMT_CS_SET_STATE] = "UPDATE changesets SET state = :state,"
			      " error = :error WHERE id = :id",
	[STMT_CS_SET_DEADLINE] = "UPDATE changesets"
				 " SET confirm_deadline = :deadline"
				 " WHERE id = :id",
	[STMT_CS_GET] = CS_SELECT "WHERE id = :id",
	[STMT_CS_PENDING] = CS_SELECT CS_PENDING_WHERE,

	[STMT_CSLOG_APPEND] = "INSERT INTO changeset_log (changeset, seq, item,"
			      " step, result, detail, at)"
			      " VALUES (:cs, (SELECT COALESCE(MAX(seq), 0) + 1"
			      " FROM changeset_log WHERE changeset = :cs),"
			      " :item, :step, :result, :detail, :at)"
			      " RETURNING seq",
	[STMT_CSLOG_LIST] = "SELECT changeset, seq, item, step, result,"
			    " detail, at FROM changeset_log"
			    " WHERE changeset = :cs ORDER BY seq",

	[STMT_EV_APPEND] = "INSERT INTO events (type, vlan, json, at)"
			   " VALUES (:type, :vlan, :json, :at) RETURNING seq",
	[STMT_EV_SINCE] = "SELECT seq, type, vlan, json, at FROM events"
			  " WHERE seq > :since ORDER BY seq",
	/* sqlite_sequence keeps the last seq even when events is empty */
	[STMT_EV_BOUNDS] = "SELECT (SELECT MIN(seq) FROM events),"
			   " (SELECT seq FROM sqlite_sequence"
			   " WHERE name = 'events')",
	/* the (keep+1)-th newest and everything older; none if fewer */
	[STMT_EV_PRUNE] = "DELETE FROM events WHERE seq <= (SELECT seq"
			  " FROM events ORDER BY seq DESC LIMIT 1"
			  " OFFSET :keep)",

	[STMT_STATS_ADD] = "INSERT INTO stats_hourly (vlan, hour, rx_packets,"
			   " rx_bytes, tx_packets, tx_bytes, drops)"
			   " VALUES (:vlan, :hour, :rx_packets, :rx_bytes,"
			   " :tx_packets, :tx_bytes, :drops)"
			   " ON CONFLICT (vlan, hour) DO UPDATE SET"
			   " rx_packets = rx_packets + excluded.rx_packets,"
			   " rx_bytes = rx_bytes + excluded.rx_bytes,"
			   " tx_packets = tx_packets + excluded.tx_packets,"
			   " tx_bytes = tx_bytes + excluded.tx_bytes,"
			   " drops = drops + excluded.drops",
	/* two statements, not "(:vlan = 0 OR vlan = :vlan)": that scans */
	[STMT_STATS_RANGE_VLAN] = STATS_SELECT "WHERE vlan = :vlan"
				  " AND hour >= :from AND hour < :to"
				  " ORDER BY hour",
	[STMT_STATS_RANGE_ALL] = STATS_SELECT "WHERE hour >= :from"
				 " AND hour < :to ORDER BY vlan, hour",
	[STMT_STATS_PRUNE] = "DELETE FROM stats_hourly WHERE hour < :cutoff",

	[STMT_KV_GET] = "SELECT value FROM kv WHERE key = :key",
	[STMT_KV_SET] = "INSERT INTO kv (key, value) VALUES (:key, :value)"
			" ON CONFLICT (key) DO UPDATE"
			" SET value = excluded.value",
	[STMT_KV_DELETE] = "DELETE FROM kv WHERE key = :key",
};
/* clang-format on */

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT__COUNT];
	unsigned int tx_depth; /* store_begin() calls not yet ended */
	char errmsg[256];
};

/* enum <-> the text stored for it */
static const char *const vif_state_txt[] = {
	[VIFD_STATE_CREATING] = "CREATING",
	[VIFD_STATE_ACTIVE] = "ACTIVE",
	[VIFD_STATE_REMOVING] = "REMOVING",
	[VIFD_STATE_ERROR] = "ERROR",
};
static const char *const gw_type_txt[] = {
	[VIFD_GW_NONE] = "NONE",
	[VIFD_GW_SOCKS5] = "SOCKS5",
};
static const char *const gw_state_txt[] = {
	[VIFD_GW_STOPPED] = "STOPPED",
	[VIFD_GW_STARTING] = "STARTING",
	[VIFD_GW_RUNNING] = "RUNNING",
	[VIFD_GW_FAILED] = "FAILED",
};
static const char *const ks_mode_txt[] = {
	[VIFD_KS_BLOCK] = "BLOCK",
	[VIFD_KS_FALLBACK] = "FALLBACK",
};
static const char *const quota_period_txt[] = {
	[VIFD_QUOTA_DAILY] = "DAILY",
	[VIFD_QUOTA_WEEKLY] = "WEEKLY",
	[VIFD_QUOTA_MONTHLY] = "MONTHLY",
};
static const char *const quota_action_txt[] = {
	[VIFD_QUOTA_BLOCK] = "BLOCK",
	[VIFD_QUOTA_ALERT] = "ALERT",
};
static const char *const quota_dir_txt[] = {
	[VIFD_QUOTA_BOTH] = "BOTH",
	[VIFD_QUOTA_RX] = "RX",
	[VIFD_QUOTA_TX] = "TX",
};
static const char *const cs_state_txt[] = {
	[STORE_CS_PENDING] = "PENDING",
	[STORE_CS_APPLYING] = "APPLYING",
	[STORE_CS_APPLIED] = "APPLIED",
	[STORE_CS_CONFIRMED] = "CONFIRMED",
	[STORE_CS_ROLLED_BACK] = "ROLLED_BACK",
	[STORE_CS_PARTIAL_FAILURE] = "PARTIAL_FAILURE",
	[STORE_CS_FAILED] = "FAILED",
};
static const char *const cs_risk_txt[] = {
	[STORE_RISK_LOW] = "LOW",
	[STORE_RISK_MEDIUM] = "MEDIUM",
	[STORE_RISK_HIGH] = "HIGH",
};

/* NULL when @v is out of range: callers turn that into -EINVAL */
#define ENUM_TXT(tab, v)                                                   \
	((unsigned int)(v) < ARRAY_SIZE(tab) ? (tab)[(unsigned int)(v)] : NULL)

static int txt_enum(const char *const *tab, size_t n, const char *txt)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tab[i] && !strcmp(tab[i], txt))
			return (int)i;
	return -1;
}

/* ---- errors ---- */

static int sqlite_to_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		/* a missing parent; deleting a parent in use maps it again */
		return -ENOENT;
	}
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT: /* CHECK, NOT NULL, DATATYPE */
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		return -EBADMSG;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		/* the errno of the failing open/read/write/fsync is better */
		sys = db ? sqlite3_system_errno(db) : 0;
		if (sys > 0)
			return -sys;
		return (rc & 0xff) == SQLITE_CANTOPEN ? -ENOENT : -EIO;
	default:
		return -EIO;
	}
}

static int store_setf(struct store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int store_setf(struct store *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* Record SQLite's own message for @rc (before the statement is reset). */
static int store_fail(struct store *s, int rc)
{
	return store_setf(s, sqlite_to_errno(s->db, rc), "%s (sqlite %d)",
			  sqlite3_errmsg(s->db), rc);
}

const char *store_errmsg(const struct store *s)
{
	if (!s)
		return "no store";
	return s->errmsg[0] ? s->errmsg : "not an error";
}

/* ---- argument checks ---- */

/* A C string that fits a @size buffer (incl. NUL), non-empty if @need. */
static int check_str(struct store *s, const char *what, const char *str,
		     size_t size, bool need)
{
	size_t n;

	if (!str)
		return store_setf(s, -EINVAL, "%s is NULL", what);
	n = strnlen(str, size);
	if (n == size)
		return store_setf(s, -EINVAL, "%s is longer than %zu bytes",
				  what, size - 1);
	if (need && !n)
		return store_setf(s, -EINVAL, "%s is empty", what);
	return 0;
}

/*
 * How much of a free-form message to keep: at most @size - 1 bytes, cut
 * before a UTF-8 sequence rather than inside it.  A too-long error text
 * must not cost the state change it explains.
 */
static int msg_len(const char *msg, size_t size)
{
	size_t n;

	if (!msg)
		return 0;
	n = strnlen(msg, size);
	if (n < size)
		return (int)n;
	n = size - 1;
	while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static int check_vlan(struct store *s, const char *what, unsigned int vlan,
		      bool zero_ok)
{
	if ((vlan == 0 && zero_ok) || (vlan >= 1 && vlan <= 4094))
		return 0;
	return store_setf(s, -EINVAL, "%s %u is outside 1-4094", what, vlan);
}

/* SQLite integers are signed 64-bit */
static int check_u64(struct store *s, const char *what, __u64 v)
{
	if (v <= INT64_MAX)
		return 0;
	return store_setf(s, -EINVAL, "%s %llu is above INT64_MAX", what,
			  (unsigned long long)v);
}

/* ---- statements ---- */

/*
 * The statement for @id, refusing one that is mid-walk: that is a callback
 * calling back into the walk that is running it, and resetting the
 * statement under the walk would end it silently.  Also refuses to run
 * inside a transaction SQLite has already rolled back on its own (after
 * SQLITE_FULL, IOERR, ...): the write would commit by itself.
 */
static sqlite3_stmt *stmt_get(struct store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->stmt[id];

	if (sqlite3_stmt_busy(st)) {
		store_setf(s, -EBUSY,
			   "statement in use: store call re-entered from its own callback");
		errno = EBUSY;
		return NULL;
	}
	if (s->tx_depth && sqlite3_get_autocommit(s->db)) {
		store_setf(s, -EIO,
			   "transaction was rolled back by SQLite after an error; end it with store_rollback()");
		errno = EIO;
		return NULL;
	}
	return st;
}

/* Always: a SELECT left unreset holds a read snapshot and stalls the WAL. */
static void stmt_put(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * Binding by parameter name, keeping the first failure, so a statement with
 * thirty parameters reads as thirty lines and a misspelt name is an error.
 */
struct binder {
	struct store *s;
	sqlite3_stmt *st;
	int rc;
	const char *bad; /* a parameter the statement does not have */
};

static int bind_idx(struct binder *b, const char *name)
{
	int idx;

	if (b->rc != SQLITE_OK)
		return 0;
	idx = sqlite3_bind_parameter_index(b->st, name);
	if (!idx) {
		b->rc = SQLITE_RANGE;
		b->bad = name;
	}
	return idx;
}

static void bind_i64(struct binder *b, const char *name, int64_t v)
{
	int idx = bind_idx(b, name);

	if (idx)
		b->rc = sqlite3_bind_int64(b->st, idx, v);
}

/* @v must stay valid until the statement is reset (true for every call). */
static void bind_text(struct binder *b, const char *name, const char *v,
		      int len)
{
	int idx = bind_idx(b, name);

	if (idx)
		b->rc = sqlite3_bind_text(b->st, idx, v ? v : "", v ? len : 0,
					  SQLITE_STATIC);
}

static void bind_addr(struct binder *b, const char *name, __be32 addr)
{
	char buf[INET_ADDRSTRLEN];
	int idx = bind_idx(b, name);

	if (!idx)
		return;
	inet_ntop(AF_INET, &addr, buf, sizeof(buf));
	b->rc = sqlite3_bind_text(b->st, idx, buf, -1, SQLITE_TRANSIENT);
}

static int bind_done(struct binder *b)
{
	if (b->rc == SQLITE_OK)
		return 0;
	if (b->bad)
		return store_setf(b->s, -EINVAL, "no SQL parameter %s",
				  b->bad);
	return store_fail(b->s, b->rc);
}

/* Reading a row, keeping the first failure. */
struct reader {
	struct store *s;
	sqlite3_stmt *st;
	int err;
};

static void read_text(struct reader *r, int col, char *buf, size_t size)
{
	const unsigned char *t;
	int n;

	if (r->err)
		return;
	t = sqlite3_column_text(r->st, col);
	n = sqlite3_column_bytes(r->st, col);
	if (!t && sqlite3_errcode(r->s->db) == SQLITE_NOMEM) {
		r->err = store_fail(r->s, SQLITE_NOMEM);
		return;
	}
	if (!t)
		n = 0;
	if ((size_t)n >= size) {
		r->err = store_setf(r->s, -EBADMSG,
				    "column %s holds %d bytes, more than %zu",
				    sqlite3_column_name(r->st, col), n,
				    size - 1);
		return;
	}
	if (n)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

static int read_enum(struct reader *r, int col, const char *const *tab,
		     size_t n)
{
	const char *t;
	int v;

	if (r->err)
		return 0;
	t = (const char *)sqlite3_column_text(r->st, col);
	v = t ? txt_enum(tab, n, t) : -1;
	if (v < 0) {
		r->err = store_setf(r->s, -EBADMSG,
				    "column %s holds unknown value '%s'",
				    sqlite3_column_name(r->st, col),
				    t ? t : "(null)");
		return 0;
	}
	return v;
}

#define READ_ENUM(r, col, tab) read_enum((r), (col), (tab), ARRAY_SIZE(tab))

static __be32 read_addr(struct reader *r, int col)
{
	const char *t;
	struct in_addr a;

	if (r->err)
		return 0;
	t = (const char *)sqlite3_column_text(r->st, col);
	if (!t || inet_pton(AF_INET, t, &a) != 1) {
		r->err = store_setf(r->s, -EBADMSG,
				    "column %s holds '%s', not an IPv4 address",
				    sqlite3_column_name(r->st, col),
				    t ? t : "(null)");
		return 0;
	}
	return a.s_addr;
}

static int64_t read_i64(struct reader *r, int col)
{
	return sqlite3_column_int64(r->st, col);
}

/* Step a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_ROW)
		return store_setf(s, -EIO, "statement returned a row: %s",
				  sqlite3_sql(st));
	return store_fail(s, rc);
}

/*
 * Step a statement whose RETURNING/SELECT gives at most one row: 0 with the
 * row current, 1 for no row.  Not -ENOENT: a failed foreign key already
 * maps to that.
 */
static int step_row(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return 1;
	return store_fail(s, rc);
}

/* A statement that always yields a row (a PRAGMA, INSERT ... RETURNING). */
static int step_one(struct store *s, sqlite3_stmt *st)
{
	int err = step_row(s, st);

	if (err > 0)
		err = store_setf(s, -EIO, "no row from: %s", sqlite3_sql(st));
	return err;
}

/* Run a statement without parameters or rows. */
static int run(struct store *s, enum stmt_id id)
{
	sqlite3_stmt *st = stmt_get(s, id);
	int err;

	if (!st)
		return -errno;
	err = step_done(s, st);
	stmt_put(st);
	return err;
}

/*
 * Finish a RETURNING statement: SQLite makes the change on the first step
 * but the statement only completes (and, outside a transaction, commits)
 * when it is stepped to the end.
 */
static int step_finish(struct store *s, sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	return rc == SQLITE_DONE ? 0 : store_fail(s, rc);
}

/* ---- open, close, migrations ---- */

/* A one-shot PRAGMA at open; @txt/@num take its single value if not NULL. */
static int pragma(struct store *s, const char *sql, char *txt, size_t len,
		  int *num)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(s, rc);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = store_fail(s, rc);
		goto out;
	}
	if (num)
		*num = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	if (txt) {
		t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		snprintf(txt, len, "%s", t ? (const char *)t : "");
	}
out:
	sqlite3_finalize(st);
	return err;
}

static int configure(struct store *s)
{
	char mode[16];
	int fk, sync, err;

	/* per connection, and a no-op inside a transaction: first */
	err = pragma(s, "PRAGMA foreign_keys = ON", NULL, 0, NULL);
	if (err)
		return err;
	err = pragma(s, "PRAGMA foreign_keys", NULL, 0, &fk);
	if (err)
		return err;
	if (fk != 1)
		return store_setf(s, -ENOTSUP,
				  "SQLite built without foreign key support");

	/* the first read of the file: a non-database fails here */
	err = pragma(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL);
	if (err)
		return err;
	if (strcmp(mode, "wal"))
		return store_setf(s, -ENOTSUP,
				  "Couldn't switch to WAL (journal_mode is '%s'): the state dir's filesystem may lack shared mmap",
				  mode);

	/*
	 * FULL, not WAL's usual NORMAL: NORMAL may lose the last commits on
	 * power loss, and the change-set journal must not.
	 */
	err = pragma(s, "PRAGMA synchronous = FULL", NULL, 0, NULL);
	if (err)
		return err;
	err = pragma(s, "PRAGMA synchronous", NULL, 0, &sync);
	if (err)
		return err;
	if (sync != 2)
		return store_setf(s, -ENOTSUP, "synchronous is %d, not FULL",
				  sync);
	/*
	 * 512 KiB of page cache, not SQLite's 2 MiB: the hot rows (VIFs,
	 * allocations, the newest journal) fit, and the rest is one pread
	 * from the kernel's page cache away.  vifd's RSS budget is 16 MiB.
	 */
	return pragma(s, "PRAGMA cache_size = -512", NULL, 0, NULL);
}

static int migrate(struct store *s)
{
	int latest = migrations[ARRAY_SIZE(migrations) - 1].version;
	int version, app_id, tables, after, rc, err;
	char *msg = NULL;
	size_t i;

	err = pragma(s, "PRAGMA application_id", NULL, 0, &app_id);
	if (err)
		return err;
	err = pragma(s, "PRAGMA user_version", NULL, 0, &version);
	if (err)
		return err;
	if ((app_id || version) && (unsigned int)app_id != STORE_APP_ID)
		return store_setf(s, -EBADMSG,
				  "not a vifd database (application_id 0x%x, user_version %d)",
				  (unsigned int)app_id, version);
	if (version > latest)
		return store_setf(s, -EPROTO,
				  "database schema version %d is newer than this vifd knows (%d): refusing to open it",
				  version, latest);
	if (version == latest)
		return 0;

	err = pragma(s, "BEGIN IMMEDIATE", NULL, 0, NULL);
	if (err)
		return err;
	/* under the write lock now: another opener may have migrated */
	err = pragma(s, "PRAGMA user_version", NULL, 0, &version);
	if (err)
		goto err_rollback;
	if (version == 0) {
		err = pragma(s, "SELECT count(*) FROM sqlite_schema", NULL, 0,
			     &tables);
		if (err)
			goto err_rollback;
		if (tables) {
			err = store_setf(s, -EBADMSG,
					 "not a vifd database: %d schema objects but no version",
					 tables);
			goto err_rollback;
		}
	}
	for (i = 0; i < ARRAY_SIZE(migrations); i++) {
		if (migrations[i].version <= version)
			continue;
		/* constant multi-statement DDL; nothing in it is formatted */
		rc = sqlite3_exec(s->db, migrations[i].sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			err = store_setf(s, sqlite_to_errno(s->db, rc),
					 "migration to schema %d failed: %s (sqlite %d)",
					 migrations[i].version,
					 msg ? msg : sqlite3_errstr(rc), rc);
			sqlite3_free(msg);
			goto err_rollback;
		}
		err = pragma(s, "PRAGMA user_version", NULL, 0, &after);
		if (err)
			goto err_rollback;
		if (after != migrations[i].version) {
			err = store_setf(s, -EPROTO,
					 "migration to schema %d left user_version %d",
					 migrations[i].version, after);
			goto err_rollback;
		}
	}
	err = pragma(s, "COMMIT", NULL, 0, NULL);
	if (err)
		goto err_rollback;
	return 0;

err_rollback:
	/* errmsg keeps the first failure, not ROLLBACK's */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int prepare_all(struct store *s)
{
	int i, rc;

	for (i = 0; i < STMT__COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
					NULL);
		if (rc != SQLITE_OK)
			return store_setf(s, sqlite_to_errno(s->db, rc),
					  "Couldn't prepare '%s': %s (sqlite %d)",
					  stmt_sql[i], sqlite3_errmsg(s->db),
					  rc);
	}
	return 0;
}

int store_open(const char *path, struct store **out)
{
	struct store *s;
	int rc, err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	if (sqlite3_libversion_number() < STORE_SQLITE_MIN)
		return -ENOTSUP;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	/*
	 * NOMUTEX: vifd is single threaded.  EXRESCODE: tell a UNIQUE
	 * failure from a FOREIGN KEY one.  Not a URI, so a path with '?'
	 * is just a path.
	 */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		err = s->db ? store_fail(s, rc) : -ENOMEM;
		goto err_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/*
	 * DEFENSIVE: no writable_schema or other ways to corrupt the file
	 * from SQL.  DQS off: a "double-quoted" typo is an error, not a
	 * string literal.
	 */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);

	err = configure(s);
	if (err)
		goto err_close;
	err = migrate(s);
	if (err)
		goto err_close;
	err = prepare_all(s);
	if (err)
		goto err_close;

	*out = s;
	return 0;

err_close:
	store_close(s);
	return err;
}

void store_close(struct store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < STMT__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	/*
	 * Rolls back an open transaction; the last connection also
	 * checkpoints and removes the -wal file.
	 */
	sqlite3_close_v2(s->db);
	free(s);
}

static int info_int(struct store *s, enum stmt_id id, int *v)
{
	sqlite3_stmt *st = stmt_get(s, id);
	int err;

	if (!st)
		return -errno;
	err = step_one(s, st);
	if (!err)
		*v = sqlite3_column_int(st, 0);
	stmt_put(st);
	return err;
}

int store_info(struct store *s, struct store_info *info)
{
	struct reader r;
	sqlite3_stmt *st;
	int err;

	if (!s || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	err = info_int(s, STMT_INFO_VERSION, &info->schema_version);
	if (!err)
		err = info_int(s, STMT_INFO_SYNC, &info->synchronous);
	if (!err)
		err = info_int(s, STMT_INFO_FK, &info->foreign_keys);
	if (!err)
		err = info_int(s, STMT_INFO_BUSY, &info->busy_timeout_ms);
	if (err)
		return err;

	st = stmt_get(s, STMT_INFO_JOURNAL);
	if (!st)
		return -errno;
	err = step_one(s, st);
	if (!err) {
		r = (struct reader){ .s = s, .st = st };
		read_text(&r, 0, info->journal_mode,
			  sizeof(info->journal_mode));
		err = r.err;
	}
	stmt_put(st);
	return err;
}

/* ---- transactions ---- */

int store_begin(struct store *s)
{
	int err;

	if (!s)
		return -EINVAL;
	err = run(s, s->tx_depth ? STMT_SAVEPOINT : STMT_BEGIN);
	if (!err)
		s->tx_depth++;
	return err;
}

/* SQLite rolled the whole transaction back itself after an I/O error. */
static bool tx_lost(struct store *s)
{
	return s->tx_depth && sqlite3_get_autocommit(s->db);
}

int store_commit(struct store *s)
{
	int err;

	if (!s)
		return -EINVAL;
	if (!s->tx_depth)
		return store_setf(s, -EINVAL,
				  "store_commit() without store_begin()");
	if (tx_lost(s)) {
		/* count down so the caller's begin/commit pairs stay paired */
		s->tx_depth--;
		return store_setf(s, -EIO,
				  "transaction was rolled back by SQLite after an earlier error");
	}
	if (s->tx_depth > 1) {
		err = run(s, STMT_RELEASE);
		if (!err)
			s->tx_depth--;
		return err;
	}
	err = run(s, STMT_COMMIT);
	/* a failed COMMIT leaves the transaction open for store_rollback() */
	if (!err || sqlite3_get_autocommit(s->db))
		s->tx_depth = 0;
	return err;
}

int store_rollback(struct store *s)
{
	int err;

	if (!s)
		return -EINVAL;
	if (!s->tx_depth)
		return store_setf(s, -EINVAL,
				  "store_rollback() without store_begin()");
	if (tx_lost(s)) {
		s->tx_depth--;
		return 0;
	}
	if (s->tx_depth > 1) {
		/* ROLLBACK TO keeps the savepoint open; RELEASE ends it */
		err = run(s, STMT_ROLLBACK_TO);
		if (!err)
			err = run(s, STMT_RELEASE);
		if (!err)
			s->tx_depth--;
		return err;
	}
	err = run(s, STMT_ROLLBACK);
	if (!err || sqlite3_get_autocommit(s->db))
		s->tx_depth = 0;
	return err;
}

/* ---- VIFs ---- */

static int vif_check(struct store *s, const struct vifd_vif *v)
{
	int err;

	if (!v)
		return store_setf(s, -EINVAL, "vif is NULL");
	err = check_str(s, "name", v->name, sizeof(v->name), true);
	if (!err)
		err = check_str(s, "error", v->error, sizeof(v->error), false);
	if (!err)
		err = check_str(s, "ifname", v->ifname, sizeof(v->ifname),
				true);
	if (!err)
		err = check_str(s, "peer_ifname", v->peer_ifname,
				sizeof(v->peer_ifname), false);
	if (!err)
		err = check_str(s, "netns", v->netns, sizeof(v->netns), false);
	if (!err)
		err = check_str(s, "gw.tun", v->gw.tun, sizeof(v->gw.tun),
				false);
	if (!err)
		err = check_vlan(s, "vlan", v->vlan, false);
	if (!err)
		err = check_vlan(s, "next_hop", v->next_hop, true);
	if (!err)
		err = check_vlan(s, "ks_fallback", v->ks_fallback, true);
	if (!err)
		err = check_u64(s, "quota.limit", v->quota.limit);
	if (!err)
		err = check_u64(s, "quota.used", v->quota.used);
	if (err)
		return err;
	if (v->prefix_len > 32)
		return store_setf(s, -EINVAL, "prefix_len %u above 32",
				  v->prefix_len);
	if (v->quota.alerted > 7)
		return store_setf(s, -EINVAL, "quota.alerted 0x%x above 7",
				  v->quota.alerted);
	if (!ENUM_TXT(vif_state_txt, v->state) ||
	    !ENUM_TXT(gw_type_txt, v->gw.type) ||
	    !ENUM_TXT(gw_state_txt, v->gw.state) ||
	    !ENUM_TXT(ks_mode_txt, v->ks_mode) ||
	    !ENUM_TXT(quota_period_txt, v->quota.period) ||
	    !ENUM_TXT(quota_action_txt, v->quota.action) ||
	    !ENUM_TXT(quota_dir_txt, v->quota.dir))
		return store_setf(s, -EINVAL,
				  "vif '%s': an enum is out of range", v->name);
	return 0;
}

int store_vif_put(struct store *s, struct vifd_vif *v)
{
	struct binder b;
	sqlite3_stmt *st;
	__u32 id = 0;
	int err;

	if (!s)
		return -EINVAL;
	err = vif_check(s, v);
	if (err)
		return err;
	st = stmt_get(s, STMT_VIF_PUT);
	if (!st)
		return -errno;

	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":created_at", v->created_at);
	bind_text(&b, ":name", v->name, -1);
	bind_i64(&b, ":vlan", v->vlan);
	bind_text(&b, ":state", ENUM_TXT(vif_state_txt, v->state), -1);
	bind_text(&b, ":error", v->error, -1);
	bind_text(&b, ":ifname", v->ifname, -1);
	bind_text(&b, ":peer_ifname", v->peer_ifname, -1);
	bind_text(&b, ":netns", v->netns, -1);
	bind_addr(&b, ":subnet", v->subnet);
	bind_i64(&b, ":prefix_len", v->prefix_len);
	bind_addr(&b, ":svc_addr", v->svc_addr);
	bind_addr(&b, ":gw_addr", v->gw_addr);
	bind_i64(&b, ":mark", v->mark);
	bind_i64(&b, ":route_table", v->table);
	bind_i64(&b, ":next_hop", v->next_hop);
	bind_text(&b, ":ks_mode", ENUM_TXT(ks_mode_txt, v->ks_mode), -1);
	bind_i64(&b, ":ks_fallback", v->ks_fallback);
	bind_i64(&b, ":ks_engaged", v->ks_engaged ? 1 : 0);
	bind_text(&b, ":gw_type", ENUM_TXT(gw_type_txt, v->gw.type), -1);
	bind_text(&b, ":gw_state", ENUM_TXT(gw_state_txt, v->gw.state), -1);
	bind_text(&b, ":gw_tun", v->gw.tun, -1);
	bind_addr(&b, ":gw_socks_addr", v->gw.socks_addr);
	bind_i64(&b, ":gw_socks_port", v->gw.socks_port);
	bind_i64(&b, ":gw_fails", v->gw.fails);
	bind_i64(&b, ":quota_limit", (int64_t)v->quota.limit);
	bind_text(&b, ":quota_period",
		  ENUM_TXT(quota_period_txt, v->quota.period), -1);
	bind_text(&b, ":quota_action",
		  ENUM_TXT(quota_action_txt, v->quota.action), -1);
	bind_text(&b, ":quota_dir", ENUM_TXT(quota_dir_txt, v->quota.dir), -1);
	bind_i64(&b, ":quota_used", (int64_t)v->quota.used);
	bind_i64(&b, ":quota_period_start", v->quota.period_start);
	bind_i64(&b, ":quota_alerted", v->quota.alerted);
	err = bind_done(&b);
	if (err)
		goto out;

	err = step_one(s, st);
	if (err)
		goto out;
	id = (__u32)sqlite3_column_int64(st, 0);
	err = step_finish(s, st);
	if (!err)
		v->id = id;
out:
	stmt_put(st);
	return err;
}

static int vif_from_row(struct store *s, sqlite3_stmt *st, struct vifd_vif *v)
{
	struct reader r = { .s = s, .st = st };

	memset(v, 0, sizeof(*v));
	v->id = (__u32)read_i64(&r, VC_id);
	v->created_at = read_i64(&r, VC_created_at);
	read_text(&r, VC_name, v->name, sizeof(v->name));
	v->vlan = (__u16)read_i64(&r, VC_vlan);
	v->state = READ_ENUM(&r, VC_state, vif_state_txt);
	read_text(&r, VC_error, v->error, sizeof(v->error));
	read_text(&r, VC_ifname, v->ifname, sizeof(v->ifname));
	read_text(&r, VC_peer_ifname, v->peer_ifname, sizeof(v->peer_ifname));
	read_text(&r, VC_netns, v->netns, sizeof(v->netns));
	v->subnet = read_addr(&r, VC_subnet);
	v->prefix_len = (__u8)read_i64(&r, VC_prefix_len);
	v->svc_addr = read_addr(&r, VC_svc_addr);
	v->gw_addr = read_addr(&r, VC_gw_addr);
	v->mark = (__u32)read_i64(&r, VC_mark);
	v->table = (__u32)read_i64(&r, VC_route_table);
	v->next_hop = (__u16)read_i64(&r, VC_next_hop);
	v->ks_mode = READ_ENUM(&r, VC_ks_mode, ks_mode_txt);
	v->ks_fallback = (__u16)read_i64(&r, VC_ks_fallback);
	v->ks_engaged = read_i64(&r, VC_ks_engaged) != 0;
	v->gw.type = READ_ENUM(&r, VC_gw_type, gw_type_txt);
	v->gw.state = READ_ENUM(&r, VC_gw_state, gw_state_txt);
	read_text(&r, VC_gw_tun, v->gw.tun, sizeof(v->gw.tun));
	v->gw.socks_addr = read_addr(&r, VC_gw_socks_addr);
	v->gw.socks_port = (__u16)read_i64(&r, VC_gw_socks_port);
	v->gw.fails = (__u32)read_i64(&r, VC_gw_fails);
	v->quota.limit = (__u64)read_i64(&r, VC_quota_limit);
	v->quota.period = READ_ENUM(&r, VC_quota_period, quota_period_txt);
	v->quota.action = READ_ENUM(&r, VC_quota_action, quota_action_txt);
	v->quota.dir = READ_ENUM(&r, VC_quota_dir, quota_dir_txt);
	v->quota.used = (__u64)read_i64(&r, VC_quota_used);
	v->quota.period_start = read_i64(&r, VC_quota_period_start);
	v->quota.alerted = (__u8)read_i64(&r, VC_quota_alerted);
	return r.err;
}

static int vif_get(struct store *s, sqlite3_stmt *st, struct vifd_vif *out)
{
	int err = step_row(s, st);

	if (err > 0)
		return -ENOENT;
	if (!err)
		err = vif_from_row(s, st, out);
	return err;
}

int store_vif_get_by_name(struct store *s, const char *name,
			  struct vifd_vif *out)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s || !out)
		return -EINVAL;
	err = check_str(s, "name", name, VIFD_NAME_MAX, true);
	if (err)
		return err;
	st = stmt_get(s, STMT_VIF_GET_NAME);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":name", name, -1);
	err = bind_done(&b);
	if (!err)
		err = vif_get(s, st, out);
	if (err == -ENOENT)
		store_setf(s, err, "no VIF named '%s'", name);
	stmt_put(st);
	return err;
}

int store_vif_get_by_vlan(struct store *s, __u16 vlan, struct vifd_vif *out)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s || !out)
		return -EINVAL;
	err = check_vlan(s, "vlan", vlan, false);
	if (err)
		return err;
	st = stmt_get(s, STMT_VIF_GET_VLAN);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":vlan", vlan);
	err = bind_done(&b);
	if (!err)
		err = vif_get(s, st, out);
	if (err == -ENOENT)
		store_setf(s, err, "no VIF on VLAN %u", vlan);
	stmt_put(st);
	return err;
}

int store_vif_list(struct store *s, store_vif_cb cb, void *ctx)
{
	struct vifd_vif v;
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = stmt_get(s, STMT_VIF_LIST);
	if (!st)
		return -errno;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = vif_from_row(s, st, &v);
		if (!err)
			err = cb(&v, ctx);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc);
out:
	stmt_put(st);
	return err;
}

/* An UPDATE/DELETE by key: -ENOENT when it touched no row. */
static int step_changed(struct store *s, sqlite3_stmt *st, const char *what)
{
	int err = step_done(s, st);

	if (!err && sqlite3_changes64(s->db) == 0)
		err = store_setf(s, -ENOENT, "no such %s", what);
	return err;
}

int store_vif_delete(struct store *s, const char *name)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "name", name, VIFD_NAME_MAX, true);
	if (err)
		return err;
	st = stmt_get(s, STMT_VIF_DELETE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":name", name, -1);
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "VIF");
	stmt_put(st);
	return err;
}

int store_vif_set_state(struct store *s, const char *name,
			enum vifd_state state, const char *error)
{
	const char *txt = ENUM_TXT(vif_state_txt, state);
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "name", name, VIFD_NAME_MAX, true);
	if (err)
		return err;
	if (!txt)
		return store_setf(s, -EINVAL, "VIF state %d unknown", state);
	st = stmt_get(s, STMT_VIF_SET_STATE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":name", name, -1);
	bind_text(&b, ":state", txt, -1);
	bind_text(&b, ":error", error, msg_len(error, VIFD_ERROR_MAX));
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "VIF");
	stmt_put(st);
	return err;
}

/* ---- VLAN allocations ---- */

int store_alloc_put(struct store *s, __u16 vlan, const char *owner,
		    int64_t allocated_at)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_vlan(s, "vlan", vlan, false);
	if (!err)
		err = check_str(s, "owner", owner, VIFD_NAME_MAX, true);
	if (err)
		return err;
	st = stmt_get(s, STMT_ALLOC_PUT);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":vlan", vlan);
	bind_text(&b, ":owner", owner, -1);
	bind_i64(&b, ":at", allocated_at);
	err = bind_done(&b);
	if (!err)
		err = step_row(s, st);
	if (err > 0)
		err = store_setf(s, -EEXIST,
				 "VLAN %u is allocated to another owner", vlan);
	else if (err == -EEXIST)
		store_setf(s, err, "'%s' already holds another VLAN", owner);
	if (!err)
		err = step_finish(s, st);
	stmt_put(st);
	return err;
}

int store_alloc_delete(struct store *s, __u16 vlan)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_vlan(s, "vlan", vlan, false);
	if (err)
		return err;
	st = stmt_get(s, STMT_ALLOC_DELETE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":vlan", vlan);
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "VLAN allocation");
	/* the foreign key: a VIF row still uses this VLAN */
	if (err == -ENOENT &&
	    sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		err = store_setf(s, -EBUSY, "VLAN %u is still used by a VIF",
				 vlan);
	stmt_put(st);
	return err;
}

int store_alloc_list(struct store *s, store_alloc_cb cb, void *ctx)
{
	struct store_alloc a;
	struct reader r;
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!s || !cb)
		return -EINVAL;
	st = stmt_get(s, STMT_ALLOC_LIST);
	if (!st)
		return -errno;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = (struct reader){ .s = s, .st = st };
		memset(&a, 0, sizeof(a));
		a.vlan = (__u16)read_i64(&r, 0);
		read_text(&r, 1, a.owner, sizeof(a.owner));
		a.allocated_at = read_i64(&r, 2);
		a.has_vif = read_i64(&r, 3) != 0;
		err = r.err;
		if (!err)
			err = cb(&a, ctx);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc);
out:
	stmt_put(st);
	return err;
}

/* ---- change sets ---- */

int store_changeset_create(struct store *s, const char *items_json,
			   enum store_cs_risk risk, int64_t created_at,
			   int64_t confirm_deadline, int64_t *id)
{
	const char *risk_txt = ENUM_TXT(cs_risk_txt, risk);
	struct binder b;
	sqlite3_stmt *st;
	int64_t new_id = 0;
	int err;

	if (!s || !id)
		return -EINVAL;
	if (!items_json)
		return store_setf(s, -EINVAL, "items is NULL");
	if (!risk_txt)
		return store_setf(s, -EINVAL, "risk %d unknown", risk);
	if (confirm_deadline < 0)
		return store_setf(s, -EINVAL, "negative confirm deadline");
	st = stmt_get(s, STMT_CS_CREATE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":items", items_json, -1);
	bind_text(&b, ":risk", risk_txt, -1);
	bind_i64(&b, ":created_at", created_at);
	bind_i64(&b, ":deadline", confirm_deadline);
	err = bind_done(&b);
	if (!err)
		err = step_one(s, st);
	if (err == -EEXIST)
		store_setf(s, err, "another change set is pending");
	if (!err) {
		new_id = sqlite3_column_int64(st, 0);
		err = step_finish(s, st);
	}
	if (!err)
		*id = new_id;
	stmt_put(st);
	return err;
}

int store_changeset_set_state(struct store *s, int64_t id,
			      enum store_cs_state state, const char *error)
{
	const char *txt = ENUM_TXT(cs_state_txt, state);
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	if (!txt)
		return store_setf(s, -EINVAL, "change set state %d unknown",
				  state);
	st = stmt_get(s, STMT_CS_SET_STATE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":id", id);
	bind_text(&b, ":state", txt, -1);
	bind_text(&b, ":error", error, msg_len(error, VIFD_ERROR_MAX));
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "change set");
	if (err == -EEXIST)
		store_setf(s, err, "another change set is pending");
	stmt_put(st);
	return err;
}

int store_changeset_set_deadline(struct store *s, int64_t id,
				 int64_t confirm_deadline)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	if (confirm_deadline < 0)
		return store_setf(s, -EINVAL, "negative confirm deadline");
	st = stmt_get(s, STMT_CS_SET_DEADLINE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":id", id);
	bind_i64(&b, ":deadline", confirm_deadline);
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "change set");
	if (err == -EEXIST)
		store_setf(s, err, "another change set is pending");
	stmt_put(st);
	return err;
}

static int cs_from_row(struct store *s, sqlite3_stmt *st,
		       struct store_changeset *cs)
{
	struct reader r = { .s = s, .st = st };
	const void *items;
	int n;

	memset(cs, 0, sizeof(*cs));
	cs->id = read_i64(&r, 0);
	cs->state = READ_ENUM(&r, 1, cs_state_txt);
	cs->risk = READ_ENUM(&r, 2, cs_risk_txt);
	cs->created_at = read_i64(&r, 3);
	cs->confirm_deadline = read_i64(&r, 4);
	read_text(&r, 5, cs->error, sizeof(cs->error));
	if (r.err)
		return r.err;

	items = sqlite3_column_text(st, 6);
	n = sqlite3_column_bytes(st, 6);
	if (!items)
		return store_fail(s, SQLITE_NOMEM);
	cs->items = malloc((size_t)n + 1);
	if (!cs->items)
		return store_setf(s, -ENOMEM, "no memory for change set items");
	memcpy(cs->items, items, n);
	cs->items[n] = '\0';
	return 0;
}

static int cs_get(struct store *s, sqlite3_stmt *st,
		  struct store_changeset *out)
{
	int err = step_row(s, st);

	if (err > 0)
		return -ENOENT;
	if (!err)
		err = cs_from_row(s, st, out);
	return err;
}

int store_changeset_get(struct store *s, int64_t id,
			struct store_changeset *out)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	st = stmt_get(s, STMT_CS_GET);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":id", id);
	err = bind_done(&b);
	if (!err)
		err = cs_get(s, st, out);
	if (err == -ENOENT)
		store_setf(s, err, "no change set %lld", (long long)id);
	stmt_put(st);
	return err;
}

int store_changeset_pending(struct store *s, struct store_changeset *out)
{
	sqlite3_stmt *st;
	int err;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	st = stmt_get(s, STMT_CS_PENDING);
	if (!st)
		return -errno;
	err = cs_get(s, st, out);
	if (err == -ENOENT)
		store_setf(s, err, "no change set is pending");
	stmt_put(st);
	return err;
}

void store_changeset_fini(struct store_changeset *cs)
{
	if (!cs)
		return;
	free(cs->items);
	cs->items = NULL;
}

int store_changeset_log_append(struct store *s, int64_t changeset, __u32 item,
			       const char *step, int result,
			       const char *detail, int64_t at, __u32 *seq)
{
	struct binder b;
	sqlite3_stmt *st;
	__u32 new_seq = 0;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "step", step, STORE_STEP_MAX, true);
	if (err)
		return err;
	st = stmt_get(s, STMT_CSLOG_APPEND);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":cs", changeset);
	bind_i64(&b, ":item", item);
	bind_text(&b, ":step", step, -1);
	bind_i64(&b, ":result", result);
	bind_text(&b, ":detail", detail, msg_len(detail, VIFD_ERROR_MAX));
	bind_i64(&b, ":at", at);
	err = bind_done(&b);
	if (!err)
		err = step_one(s, st);
	if (!err) {
		new_seq = (__u32)sqlite3_column_int64(st, 0);
		err = step_finish(s, st);
	}
	if (err == -ENOENT)
		store_setf(s, err, "no change set %lld", (long long)changeset);
	if (!err && seq)
		*seq = new_seq;
	stmt_put(st);
	return err;
}

int store_changeset_log_list(struct store *s, int64_t changeset,
			     store_cs_log_cb cb, void *ctx)
{
	struct store_cs_log e;
	struct binder b;
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !cb)
		return -EINVAL;
	st = stmt_get(s, STMT_CSLOG_LIST);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":cs", changeset);
	err = bind_done(&b);
	if (err)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = (struct store_cs_log){
			.changeset = sqlite3_column_int64(st, 0),
			.seq = (__u32)sqlite3_column_int64(st, 1),
			.item = (__u32)sqlite3_column_int64(st, 2),
			.step = (const char *)sqlite3_column_text(st, 3),
			.result = sqlite3_column_int(st, 4),
			.detail = (const char *)sqlite3_column_text(st, 5),
			.at = sqlite3_column_int64(st, 6),
		};
		if (!e.step || !e.detail) {
			err = store_fail(s, SQLITE_NOMEM);
			goto out;
		}
		err = cb(&e, ctx);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc);
out:
	stmt_put(st);
	return err;
}

/* ---- events ---- */

int store_event_append(struct store *s, const char *type, __u16 vlan,
		       const char *json, int64_t at, int64_t *seq)
{
	struct binder b;
	sqlite3_stmt *st;
	int64_t new_seq = 0;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "event type", type, STORE_TYPE_MAX, true);
	if (!err)
		err = check_vlan(s, "vlan", vlan, true);
	if (err)
		return err;
	if (!json)
		return store_setf(s, -EINVAL, "event json is NULL");
	st = stmt_get(s, STMT_EV_APPEND);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":type", type, -1);
	bind_i64(&b, ":vlan", vlan);
	bind_text(&b, ":json", json, -1);
	bind_i64(&b, ":at", at);
	err = bind_done(&b);
	if (!err)
		err = step_one(s, st);
	if (!err) {
		new_seq = sqlite3_column_int64(st, 0);
		err = step_finish(s, st);
	}
	if (!err && seq)
		*seq = new_seq;
	stmt_put(st);
	return err;
}

int store_event_since(struct store *s, int64_t since, store_event_cb cb,
		      void *ctx)
{
	struct store_event e;
	struct binder b;
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !cb)
		return -EINVAL;
	st = stmt_get(s, STMT_EV_SINCE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":since", since);
	err = bind_done(&b);
	if (err)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = (struct store_event){
			.seq = sqlite3_column_int64(st, 0),
			.type = (const char *)sqlite3_column_text(st, 1),
			.vlan = (__u16)sqlite3_column_int(st, 2),
			.json = (const char *)sqlite3_column_text(st, 3),
			.at = sqlite3_column_int64(st, 4),
		};
		if (!e.type || !e.json) {
			err = store_fail(s, SQLITE_NOMEM);
			goto out;
		}
		err = cb(&e, ctx);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc);
out:
	stmt_put(st);
	return err;
}

int store_event_bounds(struct store *s, int64_t *first, int64_t *last)
{
	sqlite3_stmt *st;
	int err;

	if (!s || !first || !last)
		return -EINVAL;
	st = stmt_get(s, STMT_EV_BOUNDS);
	if (!st)
		return -errno;
	err = step_one(s, st);
	if (!err) {
		/* NULL (no rows) reads as 0 */
		*first = sqlite3_column_int64(st, 0);
		*last = sqlite3_column_int64(st, 1);
	}
	stmt_put(st);
	return err;
}

int store_event_prune(struct store *s, __u64 keep, __u64 *deleted)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	st = stmt_get(s, STMT_EV_PRUNE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":keep", keep > INT64_MAX ? INT64_MAX : (int64_t)keep);
	err = bind_done(&b);
	if (!err)
		err = step_done(s, st);
	if (!err && deleted)
		*deleted = (__u64)sqlite3_changes64(s->db);
	stmt_put(st);
	return err;
}

/* ---- hourly stats ---- */

int store_stats_add_hour(struct store *s, __u16 vlan, int64_t hour,
			 const struct store_stats *d)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	if (!d)
		return store_setf(s, -EINVAL, "stats delta is NULL");
	err = check_vlan(s, "vlan", vlan, false);
	if (!err && (hour < 0 || hour % 3600))
		err = store_setf(s, -EINVAL,
				 "hour %lld is not the start of an hour",
				 (long long)hour);
	if (!err)
		err = check_u64(s, "rx_packets", d->rx_packets);
	if (!err)
		err = check_u64(s, "rx_bytes", d->rx_bytes);
	if (!err)
		err = check_u64(s, "tx_packets", d->tx_packets);
	if (!err)
		err = check_u64(s, "tx_bytes", d->tx_bytes);
	if (!err)
		err = check_u64(s, "drops", d->drops);
	if (err)
		return err;
	st = stmt_get(s, STMT_STATS_ADD);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":vlan", vlan);
	bind_i64(&b, ":hour", hour);
	bind_i64(&b, ":rx_packets", (int64_t)d->rx_packets);
	bind_i64(&b, ":rx_bytes", (int64_t)d->rx_bytes);
	bind_i64(&b, ":tx_packets", (int64_t)d->tx_packets);
	bind_i64(&b, ":tx_bytes", (int64_t)d->tx_bytes);
	bind_i64(&b, ":drops", (int64_t)d->drops);
	err = bind_done(&b);
	if (!err)
		err = step_done(s, st);
	stmt_put(st);
	return err;
}

int store_stats_range(struct store *s, __u16 vlan, int64_t from, int64_t to,
		      store_stats_cb cb, void *ctx)
{
	struct store_stats_hour h;
	struct binder b;
	sqlite3_stmt *st;
	int rc, err;

	if (!s || !cb)
		return -EINVAL;
	err = check_vlan(s, "vlan", vlan, true);
	if (err)
		return err;
	st = stmt_get(s, vlan ? STMT_STATS_RANGE_VLAN : STMT_STATS_RANGE_ALL);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	if (vlan)
		bind_i64(&b, ":vlan", vlan);
	bind_i64(&b, ":from", from);
	bind_i64(&b, ":to", to);
	err = bind_done(&b);
	if (err)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		h = (struct store_stats_hour){
			.vlan = (__u16)sqlite3_column_int(st, 0),
			.hour = sqlite3_column_int64(st, 1),
			.c.rx_packets = (__u64)sqlite3_column_int64(st, 2),
			.c.rx_bytes = (__u64)sqlite3_column_int64(st, 3),
			.c.tx_packets = (__u64)sqlite3_column_int64(st, 4),
			.c.tx_bytes = (__u64)sqlite3_column_int64(st, 5),
			.c.drops = (__u64)sqlite3_column_int64(st, 6),
		};
		err = cb(&h, ctx);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc);
out:
	stmt_put(st);
	return err;
}

int store_stats_prune(struct store *s, int64_t now, unsigned int days,
		      __u64 *deleted)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	if (!days)
		return store_setf(s, -EINVAL,
				  "stats retention of 0 days would delete the current hour");
	st = stmt_get(s, STMT_STATS_PRUNE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_i64(&b, ":cutoff", now - (int64_t)days * 86400);
	err = bind_done(&b);
	if (!err)
		err = step_done(s, st);
	if (!err && deleted)
		*deleted = (__u64)sqlite3_changes64(s->db);
	stmt_put(st);
	return err;
}

/* ---- settings ---- */

int store_kv_get(struct store *s, const char *key, char *buf, size_t len)
{
	struct binder b;
	sqlite3_stmt *st;
	const unsigned char *v;
	int n, err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "key", key, STORE_KV_KEY_MAX, true);
	if (err)
		return err;
	if (!buf || !len)
		return store_setf(s, -EINVAL, "no buffer for '%s'", key);
	st = stmt_get(s, STMT_KV_GET);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":key", key, -1);
	err = bind_done(&b);
	if (!err)
		err = step_row(s, st);
	if (err > 0)
		err = store_setf(s, -ENOENT, "no setting '%s'", key);
	if (err)
		goto out;
	v = sqlite3_column_text(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (!v) {
		err = store_fail(s, SQLITE_NOMEM);
		goto out;
	}
	if ((size_t)n >= len) {
		err = store_setf(s, -ERANGE,
				 "setting '%s' needs %d bytes, buffer has %zu",
				 key, n + 1, len);
		goto out;
	}
	memcpy(buf, v, n);
	buf[n] = '\0';
out:
	stmt_put(st);
	return err;
}

int store_kv_set(struct store *s, const char *key, const char *value)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "key", key, STORE_KV_KEY_MAX, true);
	if (!err)
		err = check_str(s, "value", value, STORE_KV_VALUE_MAX, false);
	if (err)
		return err;
	st = stmt_get(s, STMT_KV_SET);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":key", key, -1);
	bind_text(&b, ":value", value, -1);
	err = bind_done(&b);
	if (!err)
		err = step_done(s, st);
	stmt_put(st);
	return err;
}

int store_kv_delete(struct store *s, const char *key)
{
	struct binder b;
	sqlite3_stmt *st;
	int err;

	if (!s)
		return -EINVAL;
	err = check_str(s, "key", key, STORE_KV_KEY_MAX, true);
	if (err)
		return err;
	st = stmt_get(s, STMT_KV_DELETE);
	if (!st)
		return -errno;
	b = (struct binder){ .s = s, .st = st };
	bind_text(&b, ":key", key, -1);
	err = bind_done(&b);
	if (!err)
		err = step_changed(s, st, "setting");
	stmt_put(st);
	return err;
}
