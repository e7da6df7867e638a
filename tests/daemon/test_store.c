// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_store.c - control/store.c against real SQLite files in a mkdtemp
 * directory, removed at the end.  The file is also read back with a plain
 * sqlite3 connection where the point is what is on disk, not what the
 * store says about itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"
#include "store.h"

/* The fixture directory: the harness's cases take no arguments. */
static char tmpdir[] = "/tmp/test_store.XXXXXX";

static void db_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.db", tmpdir, name);
}

/* A fresh store file named after the test. */
static int open_fresh(const char *name, struct store **s)
{
	char path[256];

	db_path(path, sizeof(path), name);
	return store_open(path, s);
}

/* Plain SQLite, not the store: runs constant SQL, returns sqlite's rc. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The first column of the first row of @sql, as text. */
static int raw_query(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int rc;

	buf[0] = '\0';
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(buf, len, "%s",
				 (const char *)sqlite3_column_text(st, 0) ?: "");
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static __be32 ip(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* Every field set, and none to its zero value. */
static void vif_full(struct vifd_vif *v, const char *name, __u16 vlan)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->vlan = vlan;
	v->state = VIFD_STATE_ERROR;
	snprintf(v->error, sizeof(v->error), "netlink: File exists (-17)");
	snprintf(v->ifname, sizeof(v->ifname), "vif%u", vlan);
	snprintf(v->peer_ifname, sizeof(v->peer_ifname), "vifp%u", vlan);
	snprintf(v->netns, sizeof(v->netns), "svc-%s", name);
	v->subnet = ip("10.100.0.0") | htonl((__u32)(vlan & 0xff) << 8);
	v->prefix_len = 24;
	v->svc_addr = v->subnet | htonl(1);
	v->gw_addr = v->subnet | htonl(254);
	v->mark = 0x80000000u | vlan;
	v->table = 1000 + vlan;
	v->next_hop = 4094;
	v->ks_mode = VIFD_KS_FALLBACK;
	v->ks_fallback = 4093;
	v->ks_engaged = true;
	v->gw.type = VIFD_GW_SOCKS5;
	v->gw.state = VIFD_GW_FAILED;
	snprintf(v->gw.tun, sizeof(v->gw.tun), "tun%u", vlan);
	v->gw.socks_addr = ip("192.0.2.77");
	v->gw.socks_port = 65535;
	v->gw.fails = 0xfffffffeu;
	v->quota.limit = (__u64)INT64_MAX;
	v->quota.period = VIFD_QUOTA_MONTHLY;
	v->quota.action = VIFD_QUOTA_ALERT;
	v->quota.dir = VIFD_QUOTA_TX;
	v->quota.used = 123456789012345ull;
	v->quota.period_start = -86400; /* before 1970: sign survives */
	v->quota.alerted = 7;
	v->created_at = 1700000000;
}

static bool vif_eq(const struct vifd_vif *a, const struct vifd_vif *b)
{
	bool ok = true;

#define F(f) ok &= ASSERT_EQ(a->f, b->f, #f)
#define S(f) ok &= ASSERT_TRUE(!strcmp(a->f, b->f), #f)
	F(id);
	S(name);
	F(vlan);
	F(state);
	S(error);
	S(ifname);
	S(peer_ifname);
	S(netns);
	F(subnet);
	F(prefix_len);
	F(svc_addr);
	F(gw_addr);
	F(mark);
	F(table);
	F(next_hop);
	F(ks_mode);
	F(ks_fallback);
	F(ks_engaged);
	F(gw.type);
	F(gw.state);
	S(gw.tun);
	F(gw.socks_addr);
	F(gw.socks_port);
	F(gw.fails);
	F(quota.limit);
	F(quota.period);
	F(quota.action);
	F(quota.dir);
	F(quota.used);
	F(quota.period_start);
	F(quota.alerted);
	F(created_at);
#undef F
#undef S
	return ok;
}

/* ---- open, pragmas, migrations ---- */

static int test_open_pragmas(void)
{
	struct store_info info;
	struct store *s = NULL;
	char path[256], buf[64];
	int ret = -1;

	db_path(path, sizeof(path), "pragmas");
	if (!ASSERT_OK(store_open(path, &s), "store_open"))
		goto out;
	if (!ASSERT_OK(store_info(s, &info), "store_info"))
		goto out;
	if (!ASSERT_TRUE(!strcmp(info.journal_mode, "wal"), "journal_mode wal") ||
	    !ASSERT_EQ(info.synchronous, 2, "synchronous FULL") ||
	    !ASSERT_EQ(info.foreign_keys, 1, "foreign_keys") ||
	    !ASSERT_EQ(info.busy_timeout_ms, STORE_BUSY_TIMEOUT_MS,
		       "busy_timeout") ||
	    !ASSERT_EQ(info.schema_version, STORE_SCHEMA_VERSION,
		       "user_version"))
		goto out;

	/* WAL is a property of the file: a plain connection sees it too */
	if (!ASSERT_EQ(raw_query(path, "PRAGMA journal_mode", buf,
				 sizeof(buf)), SQLITE_OK, "raw journal_mode") ||
	    !ASSERT_TRUE(!strcmp(buf, "wal"), "file is in WAL mode"))
		goto out;
	if (!ASSERT_EQ(raw_query(path, "PRAGMA user_version", buf,
				 sizeof(buf)), SQLITE_OK, "raw user_version") ||
	    !ASSERT_EQ(atoi(buf), STORE_SCHEMA_VERSION, "file user_version"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static int count_objects(const char *path)
{
	char buf[32];

	if (raw_query(path, "SELECT count(*) FROM sqlite_schema", buf,
		      sizeof(buf)) != SQLITE_OK)
		return -1;
	return atoi(buf);
}

static int test_migrate_empty_then_reopen(void)
{
	struct store *s = NULL;
	char path[256], val[32];
	int fd, objects, ret = -1;

	/* an existing, empty (0 byte) file, as a package might ship */
	db_path(path, sizeof(path), "migrate");
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (!ASSERT_TRUE(fd >= 0, "create empty file"))
		return -1;
	close(fd);

	if (!ASSERT_OK(store_open(path, &s), "open empty file"))
		goto out;
	if (!ASSERT_OK(store_kv_set(s, "pool", "100-199"), "kv_set"))
		goto out;
	store_close(s);
	s = NULL;

	objects = count_objects(path);
	if (!ASSERT_TRUE(objects > 6, "schema created"))
		goto out;

	/* a second open finds the schema current and changes nothing */
	if (!ASSERT_OK(store_open(path, &s), "reopen"))
		goto out;
	if (!ASSERT_OK(store_kv_get(s, "pool", val, sizeof(val)), "kv_get") ||
	    !ASSERT_TRUE(!strcmp(val, "100-199"), "data kept"))
		goto out;
	store_close(s);
	s = NULL;
	if (!ASSERT_EQ(count_objects(path), objects, "no objects added"))
		goto out;
	if (!ASSERT_OK(store_open(path, &s), "third open"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static int test_newer_schema_refused(void)
{
	struct store *s = NULL;
	char path[256];
	int err, ret = -1;

	db_path(path, sizeof(path), "newer");
	if (!ASSERT_OK(store_open(path, &s), "create"))
		goto out;
	store_close(s);
	s = NULL;

	/* what a newer vifd would leave behind */
	if (!ASSERT_EQ(raw_exec(path, "PRAGMA user_version = 2"), SQLITE_OK,
		       "bump user_version"))
		goto out;
	_Static_assert(STORE_SCHEMA_VERSION < 2, "bump the test's version");
	err = store_open(path, &s);
	if (!ASSERT_EQ(err, -EPROTO, "newer schema gives -EPROTO") ||
	    !ASSERT_TRUE(s == NULL, "no store on failure"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static int test_foreign_file_refused(void)
{
	struct store *s = NULL;
	char path[256];
	int fd, ret = -1;

	/* someone else's database, no application_id */
	db_path(path, sizeof(path), "foreign");
	if (!ASSERT_EQ(raw_exec(path, "CREATE TABLE t (x); "
				      "PRAGMA user_version = 1"),
		       SQLITE_OK, "make foreign db"))
		goto out;
	if (!ASSERT_EQ(store_open(path, &s), -EBADMSG, "foreign db refused"))
		goto out;

	/* tables but no version at all: still not ours to migrate into */
	db_path(path, sizeof(path), "foreign0");
	if (!ASSERT_EQ(raw_exec(path, "CREATE TABLE t (x)"), SQLITE_OK,
		       "make unversioned db"))
		goto out;
	if (!ASSERT_EQ(store_open(path, &s), -EBADMSG,
		       "unversioned db refused") ||
	    !ASSERT_EQ(count_objects(path), 1, "nothing added to it"))
		goto out;

	/* not SQLite at all */
	db_path(path, sizeof(path), "garbage");
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (!ASSERT_TRUE(fd >= 0, "create garbage"))
		goto out;
	if (!ASSERT_EQ(write(fd, "this is not a database, just text........"
				 "...............................................",
			     88), 88, "write garbage")) {
		close(fd);
		goto out;
	}
	close(fd);
	if (!ASSERT_EQ(store_open(path, &s), -EBADMSG, "garbage refused"))
		goto out;

	/* a directory that does not exist */
	if (!ASSERT_TRUE(store_open("/nonexistent/dir/vifd.db", &s) < 0,
			 "missing dir fails"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* ---- VIFs and allocations ---- */

static int test_vif_roundtrip(void)
{
	struct vifd_vif in, out;
	struct store *s = NULL;
	int ret = -1;
	__u32 id;

	if (!ASSERT_OK(open_fresh("vif_roundtrip", &s), "open"))
		goto out;
	vif_full(&in, "svc-alpha", 4094);
	if (!ASSERT_OK(store_alloc_put(s, in.vlan, in.name, 1), "alloc") ||
	    !ASSERT_OK(store_vif_put(s, &in), "put"))
		goto out;
	if (!ASSERT_TRUE(in.id != 0, "put sets id"))
		goto out;

	if (!ASSERT_OK(store_vif_get_by_name(s, "svc-alpha", &out),
		       "get_by_name") ||
	    !vif_eq(&in, &out))
		goto out;
	memset(&out, 0xa5, sizeof(out));
	if (!ASSERT_OK(store_vif_get_by_vlan(s, 4094, &out), "get_by_vlan") ||
	    !vif_eq(&in, &out))
		goto out;

	/* the same name again is an update of the same row */
	id = in.id;
	in.state = VIFD_STATE_ACTIVE;
	in.error[0] = '\0';
	in.quota.used += 1000;
	in.ks_engaged = false;
	in.gw.socks_addr = ip("198.51.100.1");
	if (!ASSERT_OK(store_vif_put(s, &in), "update") ||
	    !ASSERT_EQ(in.id, id, "update keeps id") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "svc-alpha", &out), "get") ||
	    !vif_eq(&in, &out))
		goto out;

	if (!ASSERT_EQ(store_vif_get_by_name(s, "nobody", &out), -ENOENT,
		       "missing name") ||
	    !ASSERT_EQ(store_vif_get_by_vlan(s, 7, &out), -ENOENT,
		       "missing vlan"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* Every value of every enum makes it through its text form and back. */
static int test_vif_enum_values(void)
{
	struct vifd_vif in, out;
	struct store *s = NULL;
	char name[16];
	int i, ret = -1;

	if (!ASSERT_OK(open_fresh("vif_enums", &s), "open"))
		goto out;
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		vif_full(&in, name, 10 + i);
		in.state = i % 4;
		in.gw.type = i % 2;
		in.gw.state = i % 4;
		in.ks_mode = i % 2;
		in.quota.period = i % 3;
		in.quota.action = i % 2;
		in.quota.dir = i % 3;
		in.ks_engaged = i % 2;
		if (!ASSERT_OK(store_alloc_put(s, in.vlan, name, 1), "alloc") ||
		    !ASSERT_OK(store_vif_put(s, &in), "put") ||
		    !ASSERT_OK(store_vif_get_by_name(s, name, &out), "get") ||
		    !vif_eq(&in, &out))
			goto out;
	}
	ret = 0;
out:
	store_close(s);
	return ret;
}

struct vlan_walk {
	unsigned int n;
	__u16 vlans[8];
	bool orphan[8];
};

static int collect_vif(const struct vifd_vif *v, void *ctx)
{
	struct vlan_walk *w = ctx;

	if (w->n < ARRAY_SIZE(w->vlans))
		w->vlans[w->n] = v->vlan;
	w->n++;
	return 0;
}

static int collect_alloc(const struct store_alloc *a, void *ctx)
{
	struct vlan_walk *w = ctx;

	if (w->n < ARRAY_SIZE(w->vlans)) {
		w->vlans[w->n] = a->vlan;
		w->orphan[w->n] = !a->has_vif;
	}
	w->n++;
	return 0;
}

static int test_unique_constraints(void)
{
	struct vifd_vif a, b;
	struct store *s = NULL;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("unique", &s), "open"))
		goto out;
	vif_full(&a, "a", 100);
	vif_full(&b, "b", 101);
	if (!ASSERT_OK(store_alloc_put(s, 100, "a", 1), "alloc a") ||
	    !ASSERT_OK(store_alloc_put(s, 101, "b", 1), "alloc b") ||
	    !ASSERT_OK(store_vif_put(s, &a), "put a"))
		goto out;

	/* allocations: one owner per VLAN, one VLAN per owner */
	if (!ASSERT_EQ(store_alloc_put(s, 100, "b", 2), -EEXIST,
		       "VLAN taken") ||
	    !ASSERT_EQ(store_alloc_put(s, 102, "a", 2), -EEXIST,
		       "owner has one"))
		goto out;

	b.vlan = 100; /* a's VLAN */
	if (!ASSERT_EQ(store_vif_put(s, &b), -EEXIST, "duplicate vlan"))
		goto out;
	vif_full(&b, "b", 101);
	snprintf(b.ifname, sizeof(b.ifname), "%s", a.ifname);
	if (!ASSERT_EQ(store_vif_put(s, &b), -EEXIST, "duplicate ifname"))
		goto out;
	vif_full(&b, "b", 101);
	b.mark = a.mark;
	if (!ASSERT_EQ(store_vif_put(s, &b), -EEXIST, "duplicate mark"))
		goto out;
	vif_full(&b, "b", 101);
	b.table = a.table;
	if (!ASSERT_EQ(store_vif_put(s, &b), -EEXIST, "duplicate table"))
		goto out;
	/* 0 means unassigned and may repeat */
	vif_full(&b, "b", 101);
	a.mark = b.mark = 0;
	a.table = b.table = 0;
	if (!ASSERT_OK(store_vif_put(s, &a), "a unmarked") ||
	    !ASSERT_OK(store_vif_put(s, &b), "b unmarked"))
		goto out;
	/* an UPSERT to another row's VLAN is also refused */
	b.vlan = 100;
	if (!ASSERT_EQ(store_vif_put(s, &b), -EEXIST, "update onto vlan"))
		goto out;
	if (!ASSERT_TRUE(strlen(store_errmsg(s)) > 0, "errmsg set"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static int test_alloc_orphans(void)
{
	struct vlan_walk w = { 0 };
	struct vifd_vif v;
	struct store *s = NULL;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("alloc", &s), "open"))
		goto out;

	/* no VIF without its allocation */
	vif_full(&v, "x", 300);
	if (!ASSERT_EQ(store_vif_put(s, &v), -ENOENT, "vif needs alloc"))
		goto out;
	if (!ASSERT_OK(store_alloc_put(s, 300, "y", 5), "alloc to y") ||
	    !ASSERT_EQ(store_vif_put(s, &v), -ENOENT,
		       "vif needs alloc to its own name"))
		goto out;
	if (!ASSERT_OK(store_alloc_put(s, 200, "x", 10), "alloc 200") ||
	    !ASSERT_OK(store_alloc_put(s, 200, "x", 99), "idempotent"))
		goto out;
	v.vlan = 200;
	if (!ASSERT_OK(store_vif_put(s, &v), "put x"))
		goto out;

	/* y's allocation has no VIF: the orphan */
	if (!ASSERT_OK(store_alloc_list(s, collect_alloc, &w), "list") ||
	    !ASSERT_EQ(w.n, 2, "two allocs") ||
	    !ASSERT_EQ(w.vlans[0], 200, "vlan order") ||
	    !ASSERT_EQ(w.orphan[0], false, "200 has vif") ||
	    !ASSERT_EQ(w.vlans[1], 300, "vlan order") ||
	    !ASSERT_EQ(w.orphan[1], true, "300 orphan"))
		goto out;

	if (!ASSERT_EQ(store_alloc_delete(s, 200), -EBUSY, "in use") ||
	    !ASSERT_OK(store_vif_delete(s, "x"), "delete vif") ||
	    !ASSERT_OK(store_alloc_delete(s, 200), "delete alloc") ||
	    !ASSERT_EQ(store_alloc_delete(s, 200), -ENOENT, "gone") ||
	    !ASSERT_OK(store_alloc_delete(s, 300), "delete orphan"))
		goto out;
	w.n = 0;
	if (!ASSERT_OK(store_alloc_list(s, collect_alloc, &w), "list") ||
	    !ASSERT_EQ(w.n, 0, "none left"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static int test_vif_state_list_delete(void)
{
	struct vlan_walk w = { 0 };
	struct vifd_vif v, out;
	struct store *s = NULL;
	char long_err[400];
	int i, ret = -1;
	const __u16 vlans[] = { 300, 100, 200 };

	if (!ASSERT_OK(open_fresh("vif_state", &s), "open"))
		goto out;
	for (i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "v%d", vlans[i]);
		vif_full(&v, name, vlans[i]);
		v.state = VIFD_STATE_CREATING;
		if (!ASSERT_OK(store_alloc_put(s, vlans[i], name, 1), "alloc") ||
		    !ASSERT_OK(store_vif_put(s, &v), "put"))
			goto out;
	}
	if (!ASSERT_OK(store_vif_list(s, collect_vif, &w), "list") ||
	    !ASSERT_EQ(w.n, 3, "3 vifs") || !ASSERT_EQ(w.vlans[0], 100, "[0]") ||
	    !ASSERT_EQ(w.vlans[1], 200, "[1]") ||
	    !ASSERT_EQ(w.vlans[2], 300, "[2]"))
		goto out;

	if (!ASSERT_OK(store_vif_set_state(s, "v200", VIFD_STATE_ERROR,
					   "veth: Operation not permitted"),
		       "set ERROR") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "v200", &out), "get") ||
	    !ASSERT_EQ(out.state, VIFD_STATE_ERROR, "state") ||
	    !ASSERT_TRUE(!strcmp(out.error, "veth: Operation not permitted"),
			 "error"))
		goto out;
	if (!ASSERT_OK(store_vif_set_state(s, "v200", VIFD_STATE_ACTIVE, NULL),
		       "set ACTIVE") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "v200", &out), "get") ||
	    !ASSERT_EQ(out.state, VIFD_STATE_ACTIVE, "state") ||
	    !ASSERT_EQ(out.error[0], 0, "error cleared"))
		goto out;

	/* a long message is cut to 255 bytes, not refused ... */
	memset(long_err, 'x', sizeof(long_err));
	long_err[sizeof(long_err) - 1] = '\0';
	if (!ASSERT_OK(store_vif_set_state(s, "v200", VIFD_STATE_ERROR,
					   long_err), "long error") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "v200", &out), "get") ||
	    !ASSERT_EQ(strlen(out.error), 255, "cut to 255 bytes"))
		goto out;
	/* ... a UTF-8 sequence that ends at byte 254 is kept whole ... */
	long_err[253] = (char)0xc3;
	long_err[254] = (char)0xa9;
	if (!ASSERT_OK(store_vif_set_state(s, "v200", VIFD_STATE_ERROR,
					   long_err), "long error") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "v200", &out), "get") ||
	    !ASSERT_EQ(strlen(out.error), 255, "fitting sequence kept") ||
	    !ASSERT_EQ((unsigned char)out.error[254], 0xa9, "its last byte"))
		goto out;
	/* ... and one across the cut (bytes 254..256) is dropped whole */
	long_err[253] = 'x';
	long_err[254] = (char)0xe2;
	long_err[255] = (char)0x82;
	long_err[256] = (char)0xac;
	if (!ASSERT_OK(store_vif_set_state(s, "v200", VIFD_STATE_ERROR,
					   long_err), "long error") ||
	    !ASSERT_OK(store_vif_get_by_name(s, "v200", &out), "get") ||
	    !ASSERT_EQ(strlen(out.error), 254, "cut before the sequence") ||
	    !ASSERT_EQ(out.error[253], 'x', "ends on a whole character"))
		goto out;

	if (!ASSERT_EQ(store_vif_set_state(s, "nope", VIFD_STATE_ACTIVE, NULL),
		       -ENOENT, "set_state missing") ||
	    !ASSERT_OK(store_vif_delete(s, "v200"), "delete") ||
	    !ASSERT_EQ(store_vif_get_by_name(s, "v200", &out), -ENOENT,
		       "deleted") ||
	    !ASSERT_EQ(store_vif_delete(s, "v200"), -ENOENT, "delete again"))
		goto out;
	w.n = 0;
	if (!ASSERT_OK(store_vif_list(s, collect_vif, &w), "list") ||
	    !ASSERT_EQ(w.n, 2, "2 left"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* A callback's nonzero return ends the walk and comes back out. */
static int stop_at_first(const struct vifd_vif *v, void *ctx)
{
	(void)v;
	(*(int *)ctx)++;
	return 42;
}

static int reenter(const struct vifd_vif *v, void *ctx)
{
	struct store *s = ctx;
	struct vifd_vif other;
	int count = 0, err;

	/* a different statement: fine */
	err = store_vif_get_by_vlan(s, v->vlan, &other);
	if (err)
		return err;
	/* the walk that is running us: refused, not silently cut short */
	err = store_vif_list(s, stop_at_first, &count);
	return err == -EBUSY ? 1 : -EINVAL;
}

static int test_callbacks(void)
{
	struct store *s = NULL;
	struct vifd_vif v;
	int calls = 0, ret = -1;

	if (!ASSERT_OK(open_fresh("callbacks", &s), "open"))
		goto out;
	vif_full(&v, "a", 1);
	if (!ASSERT_OK(store_alloc_put(s, 1, "a", 1), "alloc") ||
	    !ASSERT_OK(store_vif_put(s, &v), "put a"))
		goto out;
	vif_full(&v, "b", 2);
	if (!ASSERT_OK(store_alloc_put(s, 2, "b", 1), "alloc") ||
	    !ASSERT_OK(store_vif_put(s, &v), "put b"))
		goto out;
	if (!ASSERT_EQ(store_vif_list(s, stop_at_first, &calls), 42,
		       "cb value returned") ||
	    !ASSERT_EQ(calls, 1, "walk stopped"))
		goto out;
	if (!ASSERT_EQ(store_vif_list(s, reenter, s), 1, "re-entry refused"))
		goto out;
	/* and the statement was reset: a new walk sees both rows */
	calls = 0;
	if (!ASSERT_EQ(store_vif_list(s, stop_at_first, &calls), 42, "again"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* ---- transactions ---- */

static bool has_key(struct store *s, const char *key)
{
	char buf[16];

	return store_kv_get(s, key, buf, sizeof(buf)) == 0;
}

static int test_transactions(void)
{
	struct store *s = NULL;
	struct vifd_vif v;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("tx", &s), "open"))
		goto out;
	if (!ASSERT_EQ(store_commit(s), -EINVAL, "commit without begin") ||
	    !ASSERT_EQ(store_rollback(s), -EINVAL, "rollback without begin"))
		goto out;

	if (!ASSERT_OK(store_begin(s), "begin") ||
	    !ASSERT_OK(store_kv_set(s, "a", "1"), "set a") ||
	    !ASSERT_OK(store_rollback(s), "rollback") ||
	    !ASSERT_EQ(has_key(s, "a"), false, "a rolled back"))
		goto out;

	/* nested: the inner rollback undoes only the inner part */
	if (!ASSERT_OK(store_begin(s), "begin") ||
	    !ASSERT_OK(store_kv_set(s, "outer", "1"), "set outer") ||
	    !ASSERT_OK(store_begin(s), "begin inner") ||
	    !ASSERT_OK(store_kv_set(s, "inner", "1"), "set inner") ||
	    !ASSERT_OK(store_rollback(s), "rollback inner") ||
	    !ASSERT_OK(store_begin(s), "begin inner 2") ||
	    !ASSERT_OK(store_kv_set(s, "inner2", "1"), "set inner2") ||
	    !ASSERT_OK(store_commit(s), "release inner 2") ||
	    !ASSERT_OK(store_commit(s), "commit"))
		goto out;
	if (!ASSERT_EQ(has_key(s, "outer"), true, "outer kept") ||
	    !ASSERT_EQ(has_key(s, "inner"), false, "inner undone") ||
	    !ASSERT_EQ(has_key(s, "inner2"), true, "inner2 kept"))
		goto out;

	/* a failed step inside a transaction, then the caller's rollback */
	vif_full(&v, "t", 5);
	if (!ASSERT_OK(store_begin(s), "begin") ||
	    !ASSERT_OK(store_alloc_put(s, 5, "t", 1), "alloc") ||
	    !ASSERT_OK(store_vif_put(s, &v), "put") ||
	    !ASSERT_EQ(store_alloc_put(s, 6, "t", 1), -EEXIST, "fails") ||
	    !ASSERT_OK(store_rollback(s), "rollback"))
		goto out;
	if (!ASSERT_EQ(store_vif_get_by_name(s, "t", &v), -ENOENT,
		       "vif rolled back") ||
	    !ASSERT_OK(store_alloc_put(s, 6, "t", 1), "alloc free again"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Another process holding the write lock: -EBUSY after the timeout. */
static int test_busy_timeout(void)
{
	struct store *s = NULL;
	sqlite3 *other = NULL;
	char path[256], buf[16];
	double t0, waited;
	int err, ret = -1;

	db_path(path, sizeof(path), "busy");
	if (!ASSERT_OK(store_open(path, &s), "open") ||
	    !ASSERT_OK(store_kv_set(s, "k", "v"), "set"))
		goto out;
	if (!ASSERT_EQ(sqlite3_open(path, &other), SQLITE_OK, "other open") ||
	    !ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
				    NULL), SQLITE_OK, "other locks"))
		goto out;

	/* WAL: readers are not blocked by a writer */
	if (!ASSERT_OK(store_kv_get(s, "k", buf, sizeof(buf)), "read"))
		goto out;
	t0 = mono_now();
	err = store_kv_set(s, "k", "w");
	waited = mono_now() - t0;
	if (!ASSERT_EQ(err, -EBUSY, "write while locked") ||
	    !ASSERT_TRUE(waited >= STORE_BUSY_TIMEOUT_MS / 1000.0 * 0.9,
			 "waited for the busy timeout"))
		goto out;
	if (!ASSERT_EQ(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
		       SQLITE_OK, "other unlocks") ||
	    !ASSERT_OK(store_kv_set(s, "k", "w"), "write after unlock"))
		goto out;
	ret = 0;
out:
	sqlite3_close(other);
	store_close(s);
	return ret;
}

/* ---- change sets ---- */

struct log_walk {
	unsigned int n;
	struct {
		__u32 seq, item;
		char step[STORE_STEP_MAX];
		int result;
		char detail[64];
	} e[8];
};

static int collect_log(const struct store_cs_log *e, void *ctx)
{
	struct log_walk *w = ctx;

	if (w->n < ARRAY_SIZE(w->e)) {
		w->e[w->n].seq = e->seq;
		w->e[w->n].item = e->item;
		snprintf(w->e[w->n].step, sizeof(w->e[w->n].step), "%s",
			 e->step);
		w->e[w->n].result = e->result;
		snprintf(w->e[w->n].detail, sizeof(w->e[w->n].detail), "%s",
			 e->detail);
	}
	w->n++;
	return 0;
}

static int test_changeset_lifecycle(void)
{
	struct store_changeset cs = { 0 };
	struct store *s = NULL;
	int64_t id, id2, other;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("changeset", &s), "open"))
		goto out;
	if (!ASSERT_EQ(store_changeset_pending(s, &cs), -ENOENT, "none yet"))
		goto out;
	if (!ASSERT_OK(store_changeset_create(s, "[{\"op\":\"vif.create\"}]",
					      STORE_RISK_HIGH, 1000, 0, &id),
		       "create") ||
	    !ASSERT_TRUE(id > 0, "id"))
		goto out;
	if (!ASSERT_EQ(store_changeset_create(s, "[]", STORE_RISK_LOW, 1001, 0,
					      &other), -EEXIST,
		       "one pending at a time"))
		goto out;

	if (!ASSERT_OK(store_changeset_pending(s, &cs), "pending") ||
	    !ASSERT_EQ(cs.id, id, "pending id") ||
	    !ASSERT_EQ(cs.state, STORE_CS_PENDING, "PENDING") ||
	    !ASSERT_EQ(cs.risk, STORE_RISK_HIGH, "risk") ||
	    !ASSERT_EQ(cs.created_at, 1000, "created_at") ||
	    !ASSERT_TRUE(!strcmp(cs.items, "[{\"op\":\"vif.create\"}]"),
			 "items"))
		goto out;
	store_changeset_fini(&cs);

	/* commit-confirmed: APPLIED with a deadline is still pending */
	if (!ASSERT_OK(store_changeset_set_state(s, id, STORE_CS_APPLYING,
						 NULL), "APPLYING") ||
	    !ASSERT_OK(store_changeset_set_deadline(s, id, 1060), "deadline") ||
	    !ASSERT_OK(store_changeset_set_state(s, id, STORE_CS_APPLIED,
						 NULL), "APPLIED") ||
	    !ASSERT_OK(store_changeset_pending(s, &cs), "still pending") ||
	    !ASSERT_EQ(cs.state, STORE_CS_APPLIED, "APPLIED") ||
	    !ASSERT_EQ(cs.confirm_deadline, 1060, "deadline kept"))
		goto out;
	store_changeset_fini(&cs);
	if (!ASSERT_EQ(store_changeset_create(s, "[]", STORE_RISK_LOW, 1001, 0,
					      &other), -EEXIST,
		       "awaiting confirm blocks a new set"))
		goto out;

	if (!ASSERT_OK(store_changeset_set_state(s, id, STORE_CS_CONFIRMED,
						 NULL), "CONFIRMED") ||
	    !ASSERT_EQ(store_changeset_pending(s, &cs), -ENOENT,
		       "confirmed is done"))
		goto out;

	if (!ASSERT_OK(store_changeset_create(s, "{\"items\":[]}",
					      STORE_RISK_MEDIUM, 2000, 0, &id2),
		       "second") ||
	    !ASSERT_TRUE(id2 > id, "ids grow") ||
	    !ASSERT_EQ(store_changeset_set_state(s, id, STORE_CS_PENDING,
						 NULL), -EEXIST,
		       "old set cannot become pending beside it") ||
	    !ASSERT_OK(store_changeset_set_state(s, id2,
						 STORE_CS_PARTIAL_FAILURE,
						 "item 2: rollback failed"),
		       "PARTIAL_FAILURE") ||
	    !ASSERT_OK(store_changeset_get(s, id2, &cs), "get") ||
	    !ASSERT_EQ(cs.state, STORE_CS_PARTIAL_FAILURE, "state") ||
	    !ASSERT_EQ(cs.risk, STORE_RISK_MEDIUM, "risk") ||
	    !ASSERT_TRUE(!strcmp(cs.error, "item 2: rollback failed"),
			 "error"))
		goto out;
	store_changeset_fini(&cs);

	/* APPLIED without a deadline is final, not pending */
	if (!ASSERT_OK(store_changeset_create(s, "[]", STORE_RISK_LOW, 3000, 0,
					      &other), "third") ||
	    !ASSERT_OK(store_changeset_set_state(s, other, STORE_CS_APPLIED,
						 NULL), "APPLIED") ||
	    !ASSERT_EQ(store_changeset_pending(s, &cs), -ENOENT,
		       "applied without deadline is done"))
		goto out;

	if (!ASSERT_EQ(store_changeset_get(s, 999, &cs), -ENOENT,
		       "get missing") ||
	    !ASSERT_EQ(store_changeset_set_state(s, 999, STORE_CS_FAILED,
						 NULL), -ENOENT,
		       "set missing") ||
	    !ASSERT_EQ(store_changeset_create(s, "[{", STORE_RISK_LOW, 1, 0,
					      &other), -EINVAL,
		       "items must be JSON") ||
	    !ASSERT_EQ(store_changeset_create(s, "[]", 7, 1, 0, &other),
		       -EINVAL, "bad risk") ||
	    !ASSERT_EQ(store_changeset_set_state(s, id, 99, NULL), -EINVAL,
		       "bad state"))
		goto out;
	ret = 0;
out:
	store_changeset_fini(&cs);
	store_close(s);
	return ret;
}

static int test_changeset_journal(void)
{
	struct log_walk w = { 0 };
	struct store *s = NULL;
	int64_t id, id2;
	__u32 seq = 0;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("journal", &s), "open"))
		goto out;
	if (!ASSERT_OK(store_changeset_create(s, "[1,2]", STORE_RISK_LOW, 1, 0,
					      &id), "create"))
		goto out;
	/* apply item 0, apply item 1 fails, undo item 0 */
	if (!ASSERT_OK(store_changeset_log_append(s, id, 0, "apply",
						  STORE_LOG_STARTED, NULL, 10,
						  &seq), "1") ||
	    !ASSERT_EQ(seq, 1, "seq 1") ||
	    !ASSERT_OK(store_changeset_log_append(s, id, 0, "apply", 0, "", 11,
						  &seq), "2") ||
	    !ASSERT_OK(store_changeset_log_append(s, id, 1, "apply",
						  STORE_LOG_STARTED, NULL, 12,
						  &seq), "3") ||
	    !ASSERT_OK(store_changeset_log_append(s, id, 1, "apply", -EEXIST,
						  "File exists", 13, &seq),
		       "4") ||
	    !ASSERT_OK(store_changeset_log_append(s, id, 0, "rollback", 0,
						  NULL, 14, &seq), "5") ||
	    !ASSERT_EQ(seq, 5, "seq 5"))
		goto out;

	/* another set's journal counts on its own */
	if (!ASSERT_OK(store_changeset_set_state(s, id, STORE_CS_ROLLED_BACK,
						 NULL), "rolled back") ||
	    !ASSERT_OK(store_changeset_create(s, "[]", STORE_RISK_LOW, 2, 0,
					      &id2), "create 2") ||
	    !ASSERT_OK(store_changeset_log_append(s, id2, 0, "apply", 0, NULL,
						  20, &seq), "other") ||
	    !ASSERT_EQ(seq, 1, "own seq"))
		goto out;

	if (!ASSERT_OK(store_changeset_log_list(s, id, collect_log, &w),
		       "list") ||
	    !ASSERT_EQ(w.n, 5, "5 entries"))
		goto out;
	if (!ASSERT_EQ(w.e[0].seq, 1, "e0 seq") ||
	    !ASSERT_EQ(w.e[0].result, STORE_LOG_STARTED, "e0 started") ||
	    !ASSERT_EQ(w.e[1].result, 0, "e1 ok") ||
	    !ASSERT_EQ(w.e[2].item, 1, "e2 item") ||
	    !ASSERT_EQ(w.e[3].seq, 4, "e3 seq") ||
	    !ASSERT_EQ((long long)w.e[3].result, (long long)-EEXIST,
		       "e3 result") ||
	    !ASSERT_TRUE(!strcmp(w.e[3].detail, "File exists"), "e3 detail") ||
	    !ASSERT_TRUE(!strcmp(w.e[4].step, "rollback"), "e4 step") ||
	    !ASSERT_EQ(w.e[4].item, 0, "e4 item"))
		goto out;

	if (!ASSERT_EQ(store_changeset_log_append(s, 999, 0, "apply", 0, NULL,
						  1, NULL), -ENOENT,
		       "log for missing set") ||
	    !ASSERT_EQ(store_changeset_log_append(s, id, 0, "", 0, NULL, 1,
						  NULL), -EINVAL,
		       "empty step") ||
	    !ASSERT_EQ(store_changeset_log_append(s, id, 0, NULL, 0, NULL, 1,
						  NULL), -EINVAL,
		       "NULL step"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/*
 * kill -9 right after the commit returned, then reopen: the set and its
 * journal are there.  kill -9 before the commit: nothing is.  (Power loss
 * is the synchronous=FULL check's job; a killed process still has its
 * writes in the page cache.)
 */
static int crash_child(const char *path, bool commit, int fd)
{
	struct store *s = NULL;
	int64_t id;

	if (store_open(path, &s) ||
	    store_begin(s) ||
	    store_changeset_create(s, "[\"crash\"]", STORE_RISK_HIGH, 5, 60,
				   &id) ||
	    store_changeset_set_state(s, id, STORE_CS_APPLYING, NULL) ||
	    store_changeset_log_append(s, id, 0, "apply", STORE_LOG_STARTED,
				       NULL, 6, NULL))
		return 1;
	if (commit && store_commit(s))
		return 1;
	/* tell the parent, then wait to be killed mid-flight */
	if (write(fd, "x", 1) != 1)
		return 1;
	for (;;)
		pause();
}

static int crash_run(const char *path, bool commit)
{
	int pfd[2], status;
	pid_t pid;
	char c;

	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		_exit(crash_child(path, commit, pfd[1]));
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		close(pfd[0]);
		waitpid(pid, &status, 0);
		return -EIO; /* the child failed before its point */
	}
	close(pfd[0]);
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -EIO;
}

static int test_crash_after_commit(void)
{
	struct store_changeset cs = { 0 };
	struct log_walk w = { 0 };
	struct store *s = NULL;
	char path[256];
	int ret = -1;

	/* the parent has nothing open across fork() */
	db_path(path, sizeof(path), "crash_commit");
	if (!ASSERT_OK(crash_run(path, true), "child killed after commit"))
		goto out;
	if (!ASSERT_OK(store_open(path, &s), "reopen") ||
	    !ASSERT_OK(store_changeset_pending(s, &cs), "found pending set") ||
	    !ASSERT_EQ(cs.state, STORE_CS_APPLYING, "state") ||
	    !ASSERT_EQ(cs.confirm_deadline, 60, "deadline") ||
	    !ASSERT_TRUE(!strcmp(cs.items, "[\"crash\"]"), "items") ||
	    !ASSERT_OK(store_changeset_log_list(s, cs.id, collect_log, &w),
		       "journal") ||
	    !ASSERT_EQ(w.n, 1, "journal entry") ||
	    !ASSERT_EQ(w.e[0].result, STORE_LOG_STARTED, "in flight"))
		goto out;
	ret = 0;
out:
	store_changeset_fini(&cs);
	store_close(s);
	return ret;
}

static int test_crash_before_commit(void)
{
	struct store_changeset cs = { 0 };
	struct store *s = NULL;
	char path[256];
	int64_t id;
	int ret = -1;

	db_path(path, sizeof(path), "crash_nocommit");
	if (!ASSERT_OK(crash_run(path, false), "child killed in transaction"))
		goto out;
	/* the lock died with the child: open and write at once */
	if (!ASSERT_OK(store_open(path, &s), "reopen") ||
	    !ASSERT_EQ(store_changeset_pending(s, &cs), -ENOENT,
		       "uncommitted set gone") ||
	    !ASSERT_OK(store_changeset_create(s, "[]", STORE_RISK_LOW, 1, 0,
					      &id), "write after crash"))
		goto out;
	ret = 0;
out:
	store_changeset_fini(&cs);
	store_close(s);
	return ret;
}

/* ---- events ---- */

struct ev_walk {
	unsigned int n;
	int64_t seq[16];
	char type[16][STORE_TYPE_MAX];
	__u16 vlan[16];
};

static int collect_event(const struct store_event *e, void *ctx)
{
	struct ev_walk *w = ctx;

	if (w->n < ARRAY_SIZE(w->seq)) {
		w->seq[w->n] = e->seq;
		w->vlan[w->n] = e->vlan;
		snprintf(w->type[w->n], sizeof(w->type[w->n]), "%s", e->type);
	}
	w->n++;
	return 0;
}

static int test_events(void)
{
	struct ev_walk w = { 0 };
	struct store *s = NULL;
	int64_t seq = 0, first, last;
	char path[256];
	__u64 deleted;
	int i, ret = -1;

	db_path(path, sizeof(path), "events");
	if (!ASSERT_OK(store_open(path, &s), "open") ||
	    !ASSERT_OK(store_event_bounds(s, &first, &last), "bounds") ||
	    !ASSERT_EQ(first, 0, "empty first") ||
	    !ASSERT_EQ(last, 0, "empty last"))
		goto out;
	for (i = 1; i <= 5; i++) {
		if (!ASSERT_OK(store_event_append(s, "vif.state", 100 + i,
						  "{\"state\":\"ACTIVE\"}",
						  1000 + i, &seq),
			       "append") ||
		    !ASSERT_EQ(seq, i, "seq"))
			goto out;
	}
	if (!ASSERT_OK(store_event_since(s, 2, collect_event, &w), "since 2") ||
	    !ASSERT_EQ(w.n, 3, "3 newer") || !ASSERT_EQ(w.seq[0], 3, "first") ||
	    !ASSERT_EQ(w.seq[2], 5, "last") ||
	    !ASSERT_EQ(w.vlan[0], 103, "vlan") ||
	    !ASSERT_TRUE(!strcmp(w.type[0], "vif.state"), "type"))
		goto out;
	w.n = 0;
	if (!ASSERT_OK(store_event_since(s, 5, collect_event, &w), "since 5") ||
	    !ASSERT_EQ(w.n, 0, "nothing newer"))
		goto out;

	if (!ASSERT_OK(store_event_prune(s, 2, &deleted), "prune keep 2") ||
	    !ASSERT_EQ(deleted, 3, "3 pruned") ||
	    !ASSERT_OK(store_event_bounds(s, &first, &last), "bounds") ||
	    !ASSERT_EQ(first, 4, "first kept") || !ASSERT_EQ(last, 5, "last"))
		goto out;
	if (!ASSERT_OK(store_event_prune(s, 10, &deleted), "prune keep 10") ||
	    !ASSERT_EQ(deleted, 0, "fewer than keep: none"))
		goto out;
	if (!ASSERT_OK(store_event_prune(s, 0, &deleted), "prune all") ||
	    !ASSERT_EQ(deleted, 2, "2 pruned") ||
	    !ASSERT_OK(store_event_bounds(s, &first, &last), "bounds") ||
	    !ASSERT_EQ(first, 0, "none held") ||
	    !ASSERT_EQ(last, 5, "last seq remembered"))
		goto out;

	/* seq never goes back, not after emptying nor after a restart */
	if (!ASSERT_OK(store_event_append(s, "gw", 0, "{}", 2000, &seq),
		       "append") ||
	    !ASSERT_EQ(seq, 6, "seq 6 after empty"))
		goto out;
	store_close(s);
	s = NULL;
	if (!ASSERT_OK(store_open(path, &s), "reopen") ||
	    !ASSERT_OK(store_event_append(s, "gw", 0, "{}", 2001, &seq),
		       "append") ||
	    !ASSERT_EQ(seq, 7, "seq 7 after restart"))
		goto out;

	if (!ASSERT_EQ(store_event_append(s, "x", 0, "{nope", 1, &seq),
		       -EINVAL, "json checked") ||
	    !ASSERT_EQ(store_event_append(s, "x", 4095, "{}", 1, &seq),
		       -EINVAL, "vlan checked") ||
	    !ASSERT_EQ(store_event_append(s, NULL, 0, "{}", 1, &seq),
		       -EINVAL, "NULL type"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* ---- stats ---- */

struct stats_walk {
	unsigned int n;
	struct store_stats_hour h[8];
};

static int collect_stats(const struct store_stats_hour *h, void *ctx)
{
	struct stats_walk *w = ctx;

	if (w->n < ARRAY_SIZE(w->h))
		w->h[w->n] = *h;
	w->n++;
	return 0;
}

static int test_stats(void)
{
	/* an hour boundary, so a row sits exactly on the cutoff */
	const int64_t now = 1700000000 - 1700000000 % 3600;
	const int64_t cutoff = now - 30 * 86400;
	const int64_t old_hour = cutoff - 3600; /* older than 30 days */
	const int64_t keep_hour = cutoff;       /* exactly 30 days: kept */
	struct store_stats d = { 1, 100, 2, 200, 3 };
	struct stats_walk w = { 0 };
	struct store *s = NULL;
	__u64 deleted;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("stats", &s), "open"))
		goto out;

	/* the UPSERT adds */
	if (!ASSERT_OK(store_stats_add_hour(s, 100, keep_hour, &d), "add") ||
	    !ASSERT_OK(store_stats_add_hour(s, 100, keep_hour, &d), "add") ||
	    !ASSERT_OK(store_stats_add_hour(s, 100, keep_hour, &d), "add"))
		goto out;
	if (!ASSERT_OK(store_stats_range(s, 100, keep_hour, keep_hour + 1,
					 collect_stats, &w), "range") ||
	    !ASSERT_EQ(w.n, 1, "one row") ||
	    !ASSERT_EQ(w.h[0].c.rx_packets, 3, "rx_packets summed") ||
	    !ASSERT_EQ(w.h[0].c.rx_bytes, 300, "rx_bytes") ||
	    !ASSERT_EQ(w.h[0].c.tx_packets, 6, "tx_packets") ||
	    !ASSERT_EQ(w.h[0].c.tx_bytes, 600, "tx_bytes") ||
	    !ASSERT_EQ(w.h[0].c.drops, 9, "drops"))
		goto out;

	/* rows either side of the retention cutoff, on two VLANs */
	if (!ASSERT_OK(store_stats_add_hour(s, 100, old_hour, &d), "old") ||
	    !ASSERT_OK(store_stats_add_hour(s, 100, old_hour - 3600, &d),
		       "older") ||
	    !ASSERT_OK(store_stats_add_hour(s, 200, old_hour, &d), "old 200") ||
	    !ASSERT_OK(store_stats_add_hour(s, 200, now, &d), "now 200"))
		goto out;
	w.n = 0;
	if (!ASSERT_OK(store_stats_range(s, 0, 0, INT64_MAX, collect_stats,
					 &w), "all") ||
	    !ASSERT_EQ(w.n, 5, "5 rows") ||
	    !ASSERT_EQ(w.h[0].vlan, 100, "vlan order") ||
	    !ASSERT_EQ(w.h[0].hour, old_hour - 3600, "hour order"))
		goto out;

	if (!ASSERT_OK(store_stats_prune(s, now, 30, &deleted), "prune") ||
	    !ASSERT_EQ(deleted, 3, "exactly the 3 old rows"))
		goto out;
	w.n = 0;
	if (!ASSERT_OK(store_stats_range(s, 0, 0, INT64_MAX, collect_stats,
					 &w), "all") ||
	    !ASSERT_EQ(w.n, 2, "2 left") ||
	    !ASSERT_EQ(w.h[0].vlan, 100, "kept 100") ||
	    !ASSERT_EQ(w.h[0].hour, keep_hour, "kept hour") ||
	    !ASSERT_EQ(w.h[0].c.rx_packets, 3, "kept counts") ||
	    !ASSERT_EQ(w.h[1].vlan, 200, "kept 200") ||
	    !ASSERT_EQ(w.h[1].hour, now, "kept now"))
		goto out;
	if (!ASSERT_OK(store_stats_prune(s, now, 30, &deleted), "prune again") ||
	    !ASSERT_EQ(deleted, 0, "nothing more"))
		goto out;

	d.rx_bytes = (__u64)INT64_MAX + 1;
	if (!ASSERT_EQ(store_stats_add_hour(s, 100, keep_hour, &d), -EINVAL,
		       "delta above INT64_MAX") ||
	    !ASSERT_EQ(store_stats_add_hour(s, 100, keep_hour + 1, &d),
		       -EINVAL, "hour not aligned") ||
	    !ASSERT_EQ(store_stats_add_hour(s, 0, keep_hour, &d), -EINVAL,
		       "vlan 0") ||
	    !ASSERT_EQ(store_stats_prune(s, now, 0, &deleted), -EINVAL,
		       "0 days"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* ---- settings ---- */

static int test_kv(void)
{
	char big[STORE_KV_VALUE_MAX + 1], buf[16], small[4];
	struct store *s = NULL;
	int ret = -1;

	if (!ASSERT_OK(open_fresh("kv", &s), "open"))
		goto out;
	if (!ASSERT_EQ(store_kv_get(s, "pool", buf, sizeof(buf)), -ENOENT,
		       "missing") ||
	    !ASSERT_OK(store_kv_set(s, "pool", "100-199"), "set") ||
	    !ASSERT_OK(store_kv_set(s, "pool", "100-299"), "overwrite") ||
	    !ASSERT_OK(store_kv_get(s, "pool", buf, sizeof(buf)), "get") ||
	    !ASSERT_TRUE(!strcmp(buf, "100-299"), "value") ||
	    !ASSERT_EQ(store_kv_get(s, "pool", small, sizeof(small)), -ERANGE,
		       "small buffer") ||
	    !ASSERT_OK(store_kv_set(s, "empty", ""), "empty value") ||
	    !ASSERT_OK(store_kv_get(s, "empty", buf, sizeof(buf)), "get") ||
	    !ASSERT_EQ(buf[0], 0, "empty") ||
	    !ASSERT_OK(store_kv_delete(s, "pool"), "delete") ||
	    !ASSERT_EQ(store_kv_delete(s, "pool"), -ENOENT, "delete again"))
		goto out;
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	if (!ASSERT_EQ(store_kv_set(s, "big", big), -EINVAL, "value too long"))
		goto out;
	big[STORE_KV_KEY_MAX] = '\0';
	if (!ASSERT_EQ(store_kv_set(s, big, "v"), -EINVAL, "key too long"))
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* ---- bad input ---- */

static int test_bad_input(void)
{
	char toolong[VIFD_NAME_MAX + 8], buf[8];
	struct store_changeset cs;
	struct store_info info;
	struct vifd_vif v, out;
	struct store *s = NULL;
	int64_t id;
	int ret = -1;

	memset(toolong, 'n', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';

	if (!ASSERT_EQ(store_open(NULL, &s), -EINVAL, "NULL path") ||
	    !ASSERT_EQ(store_open("x", NULL), -EINVAL, "NULL out") ||
	    !ASSERT_EQ(store_open("", &s), -EINVAL, "empty path"))
		goto out;
	/* NULL store everywhere */
	if (!ASSERT_EQ(store_vif_put(NULL, &v), -EINVAL, "NULL store") ||
	    !ASSERT_EQ(store_begin(NULL), -EINVAL, "NULL begin") ||
	    !ASSERT_EQ(store_info(NULL, &info), -EINVAL, "NULL info") ||
	    !ASSERT_EQ(store_kv_set(NULL, "k", "v"), -EINVAL, "NULL kv"))
		goto out;
	store_close(NULL);
	store_changeset_fini(NULL);
	if (!ASSERT_TRUE(store_errmsg(NULL) != NULL, "errmsg(NULL)"))
		goto out;

	if (!ASSERT_OK(open_fresh("bad_input", &s), "open"))
		goto out;
	if (!ASSERT_OK(store_alloc_put(s, 10, "ok", 1), "alloc"))
		goto out;

	/* names */
	if (!ASSERT_EQ(store_vif_get_by_name(s, NULL, &out), -EINVAL,
		       "get NULL name") ||
	    !ASSERT_EQ(store_vif_get_by_name(s, toolong, &out), -EINVAL,
		       "get long name") ||
	    !ASSERT_EQ(store_vif_get_by_name(s, "", &out), -EINVAL,
		       "get empty name") ||
	    !ASSERT_EQ(store_vif_get_by_name(s, "ok", NULL), -EINVAL,
		       "get NULL out") ||
	    !ASSERT_EQ(store_vif_delete(s, NULL), -EINVAL, "delete NULL") ||
	    !ASSERT_EQ(store_vif_set_state(s, NULL, VIFD_STATE_ACTIVE, NULL),
		       -EINVAL, "set_state NULL") ||
	    !ASSERT_EQ(store_vif_set_state(s, "ok", 17, NULL), -EINVAL,
		       "set_state bad state") ||
	    !ASSERT_EQ(store_alloc_put(s, 11, NULL, 1), -EINVAL,
		       "alloc NULL owner") ||
	    !ASSERT_EQ(store_alloc_put(s, 11, toolong, 1), -EINVAL,
		       "alloc long owner") ||
	    !ASSERT_EQ(store_alloc_put(s, 0, "z", 1), -EINVAL, "alloc vlan 0") ||
	    !ASSERT_EQ(store_alloc_put(s, 4095, "z", 1), -EINVAL,
		       "alloc vlan 4095") ||
	    !ASSERT_EQ(store_vif_get_by_vlan(s, 0, &out), -EINVAL, "vlan 0"))
		goto out;
	if (!ASSERT_TRUE(strstr(store_errmsg(s), "vlan") != NULL,
			 "message names the problem"))
		goto out;

	/* the struct: unterminated buffers and out-of-range values */
	if (!ASSERT_EQ(store_vif_put(s, NULL), -EINVAL, "put NULL"))
		goto out;
#define BAD_VIF(stmt, what)                                                \
	do {                                                               \
		vif_full(&v, "ok", 10);                                    \
		stmt;                                                      \
		if (!ASSERT_EQ(store_vif_put(s, &v), -EINVAL, what))       \
			goto out;                                          \
	} while (0)
	BAD_VIF(memset(v.name, 'n', sizeof(v.name)), "name unterminated");
	BAD_VIF(v.name[0] = '\0', "empty name");
	BAD_VIF(memset(v.ifname, 'i', sizeof(v.ifname)), "ifname 16 chars");
	BAD_VIF(v.ifname[0] = '\0', "empty ifname");
	BAD_VIF(memset(v.peer_ifname, 'p', sizeof(v.peer_ifname)),
		"peer_ifname unterminated");
	BAD_VIF(memset(v.netns, 's', sizeof(v.netns)), "netns unterminated");
	BAD_VIF(memset(v.error, 'e', sizeof(v.error)), "error unterminated");
	BAD_VIF(memset(v.gw.tun, 't', sizeof(v.gw.tun)), "tun unterminated");
	BAD_VIF(v.vlan = 0, "vlan 0");
	BAD_VIF(v.vlan = 4095, "vlan 4095");
	BAD_VIF(v.next_hop = 5000, "next_hop");
	BAD_VIF(v.ks_fallback = 4095, "ks_fallback");
	BAD_VIF(v.prefix_len = 33, "prefix_len");
	BAD_VIF(v.quota.alerted = 8, "alerted");
	BAD_VIF(v.quota.limit = UINT64_MAX, "quota limit");
	BAD_VIF(v.quota.used = (__u64)INT64_MAX + 1, "quota used");
	BAD_VIF(v.state = 4, "state");
	BAD_VIF(v.gw.type = 2, "gw type");
	BAD_VIF(v.gw.state = -1, "gw state");
	BAD_VIF(v.ks_mode = 2, "ks mode");
	BAD_VIF(v.quota.period = 3, "period");
	BAD_VIF(v.quota.action = 2, "action");
	BAD_VIF(v.quota.dir = 3, "dir");
#undef BAD_VIF
	/* and after all that, the good one still goes in */
	vif_full(&v, "ok", 10);
	if (!ASSERT_OK(store_vif_put(s, &v), "good put"))
		goto out;

	if (!ASSERT_EQ(store_changeset_create(s, NULL, STORE_RISK_LOW, 1, 0,
					      &id), -EINVAL, "NULL items") ||
	    !ASSERT_EQ(store_changeset_create(s, "[]", STORE_RISK_LOW, 1, -1,
					      &id), -EINVAL, "bad deadline") ||
	    !ASSERT_EQ(store_changeset_get(s, 1, NULL), -EINVAL, "NULL cs") ||
	    !ASSERT_EQ(store_changeset_pending(s, NULL), -EINVAL,
		       "NULL pending") ||
	    !ASSERT_EQ(store_kv_get(s, NULL, buf, sizeof(buf)), -EINVAL,
		       "NULL key") ||
	    !ASSERT_EQ(store_kv_get(s, "k", NULL, 0), -EINVAL, "NULL buf") ||
	    !ASSERT_EQ(store_kv_set(s, "k", NULL), -EINVAL, "NULL value") ||
	    !ASSERT_EQ(store_vif_list(s, NULL, NULL), -EINVAL, "NULL cb") ||
	    !ASSERT_EQ(store_event_since(s, 0, NULL, NULL), -EINVAL,
		       "NULL event cb"))
		goto out;
	memset(&cs, 0, sizeof(cs));
	store_changeset_fini(&cs);
	ret = 0;
out:
	store_close(s);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_open_pragmas),
	TEST_CASE(test_migrate_empty_then_reopen),
	TEST_CASE(test_newer_schema_refused),
	TEST_CASE(test_foreign_file_refused),
	TEST_CASE(test_vif_roundtrip),
	TEST_CASE(test_vif_enum_values),
	TEST_CASE(test_unique_constraints),
	TEST_CASE(test_alloc_orphans),
	TEST_CASE(test_vif_state_list_delete),
	TEST_CASE(test_callbacks),
	TEST_CASE(test_transactions),
	TEST_CASE(test_busy_timeout),
	TEST_CASE(test_changeset_lifecycle),
	TEST_CASE(test_changeset_journal),
	TEST_CASE(test_crash_after_commit),
	TEST_CASE(test_crash_before_commit),
	TEST_CASE(test_events),
	TEST_CASE(test_stats),
	TEST_CASE(test_kv),
	TEST_CASE(test_bad_input),
};

static int rm_entry(const char *path, const struct stat *sb, int type,
		    struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	int ret;

	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "Couldn't create a temp dir: %s (%d)\n",
			strerror(errno), -errno);
		return 1;
	}
	ret = harness_run(cases, ARRAY_SIZE(cases));
	if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "Couldn't remove %s: %s\n", tmpdir,
			strerror(errno));
	return ret;
}
