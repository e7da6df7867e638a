/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_target_local.c - the pipeline's "local" target (control/target_local.c)
 * driven through the real change pipeline, over the real VIF manager,
 * gateway and quota managers, SQLite store, netlink and XDP dataplane.
 *
 * Isolation as in test_vifmgr.c: a private network and mount namespace
 * (unshare), a tmpfs on /run/netns and, when it can be had, a private
 * bpffs; the dataplane pins under /sys/fs/bpf/vifplane/test-tgt-<pid> and
 * is torn down at exit; the store lives in a mkdtemp directory.  Checks
 * read the state back from where it lives: the VIF manager, dp_vif_get(),
 * netlink and `ip`, the store, the gateway and quota managers.
 *
 * The kill-switch mode setter is vifmgr_set_ks_mode(), as vifd wires it;
 * the pool-in-force hook is this test's config (vifd's: d->cfg + store).
 *
 * TL_TEST_BULK=<n> sets the size of the timed create set (default 500).
 * Needs root; exits 77 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "dp.h"
#include "gateway.h"
#include "harness.h"
#include "loop.h"
#include "nl.h"
#include "pipeline.h"
#include "quota.h"
#include "store.h"
#include "target_local.h"
#include "vifmgr.h"

static struct vifd_config g_cfg;
static char g_dir[64];      /* state dir (mkdtemp) */
static char g_db[128];
static char g_pin[128];     /* dataplane pin dir */
static char g_ns[32];       /* a service netns that lives all along */
static char g_ns2[32];      /* one the hook removes mid-apply */
static bool g_ns_made, g_bpffs_private;
static struct loop *g_loop;
static struct store *g_store;
static struct nl *g_nl;
static struct dp *g_dp;
static struct vifmgr *g_m;
static struct gw_mgr *g_gw;
static struct quota_mgr *g_qm;
static struct target_local *g_t;
static struct pipeline *g_p;
static unsigned int g_pool_calls;

/* vifmgr's step hook: remove g_ns2 just before this VIF's veth step. */
static char g_unns_name[VIFD_NAME_MAX];
/* ... and die (a forked child only) at this step of this VIF. */
static int g_crash_step = -1;
static char g_crash_name[VIFD_NAME_MAX];
/* ... and fail this step of this VIF. */
static int g_fail_step = -1;
static char g_fail_name[VIFD_NAME_MAX];
/* A gateway op that claims success and does nothing (verify must see). */
static bool g_gw_lie;

/* ---- helpers ---------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool has(const char *s, const char *want, const char *what)
{
	if (s && strstr(s, want))
		return true;
	fprintf(stderr, "FAIL %s: '%s' lacks '%s'\n", what, s ? s : "(null)",
		want);
	return false;
}

/* JSON from a printf format, with ' for " to keep the tests readable. */
static json_t *J(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *J(const char *fmt, ...)
{
	json_error_t jerr;
	char *buf = NULL, *c;
	json_t *j;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	for (c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	j = json_loads(buf, 0, &jerr);
	if (!j)
		fprintf(stderr, "bad test JSON (%s): %s\n", jerr.text, buf);
	free(buf);
	return j;
}

static void dump(const char *what, const json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	fprintf(stderr, "%s: %s\n", what, s ? s : "(null)");
	free(s);
}

/*
 * Apply a set; returns pipeline_apply()'s result.  The report is dumped
 * when the result is not the one expected.
 */
static int apply(json_t *items, bool confirm, unsigned int timeout_s,
		 int want, int64_t *id, json_t **rep_out)
{
	struct pipeline_apply_opts o = {
		.confirm_timeout_s = timeout_s,
		.confirmed_high_risk = confirm,
	};
	json_t *rep = NULL;
	int ret;

	if (!items)
		return -EINVAL;
	ret = pipeline_apply(g_p, items, &o, id, &rep);
	if (ret != want) {
		fprintf(stderr, "pipeline_apply: %d (want %d)\n", ret, want);
		dump("items", items);
		dump("report", rep);
	}
	json_decref(items);
	if (rep_out)
		*rep_out = rep;
	else
		json_decref(rep);
	return ret;
}

/* Apply and expect success. */
static bool ok(json_t *items, bool confirm)
{
	return apply(items, confirm, 0, 0, NULL, NULL) == 0;
}

/* The report's error for item id (pipeline_validate/preview errors). */
static const json_t *rep_error(const json_t *rep, const char *id)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(rep, "errors"), i, e) {
		const char *x = json_string_value(json_object_get(e, "item"));

		if (x && !strcmp(x, id))
			return e;
	}
	return NULL;
}

static const json_t *rep_item(const json_t *rep, const char *id)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(rep, "items"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "id")), id))
			return e;
	return NULL;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static __u16 vlan_of(const char *name)
{
	const struct vifd_vif *v = vifmgr_find(g_m, name);

	return v ? v->vlan : 0;
}

/* Is this VIF gone from everywhere: manager, store, dataplane, Linux? */
static bool gone(const char *name, __u16 vlan)
{
	char ifname[VIFD_IFNAME_MAX];
	struct vifd_vif row;
	struct vif_entry e;
	struct gw_status st;
	struct nl_link l;

	alloc_ifname(ALLOC_IF_PORT, vlan, name, ifname);
	return ASSERT_TRUE(!vifmgr_find(g_m, name), "not in the manager") &&
	       ASSERT_EQ(store_vif_get_by_name(g_store, name, &row), -ENOENT,
			 "no store row") &&
	       ASSERT_EQ(dp_vif_get(g_dp, vlan, &e), -ENOENT,
			 "no dataplane entry") &&
	       ASSERT_EQ(nl_link_get(g_nl, ifname, &l), -ENODEV, "no port") &&
	       ASSERT_EQ(gw_status(g_gw, vlan, &st), -ENOENT,
			 "not in the gateway manager") &&
	       ASSERT_TRUE(!quota_mgr_get(g_qm, vlan),
			   "not in the quota manager");
}

/* An ACTIVE VIF, with its port, dataplane entry and registrations. */
static bool live(const char *name)
{
	const struct vifd_vif *v = vifmgr_find(g_m, name);
	struct vif_entry e;
	struct gw_status st;
	struct nl_link l;

	if (!ASSERT_TRUE(v, name) ||
	    !ASSERT_EQ(v->state, VIFD_STATE_ACTIVE, "ACTIVE") ||
	    !ASSERT_OK(nl_link_get(g_nl, v->ifname, &l), "port there") ||
	    !ASSERT_OK(dp_vif_get(g_dp, v->vlan, &e), "dataplane entry") ||
	    !ASSERT_EQ(e.svc_ifindex, l.ifindex, "entry names the port") ||
	    !ASSERT_OK(gw_status(g_gw, v->vlan, &st), "in the gateway manager"))
		return false;
	return true;
}

/* Delete every VIF and chain, and put the pool back: cases stand alone. */
static void reset_all(void)
{
	const struct vifd_vif *v;
	unsigned int vlan;

	g_unns_name[0] = '\0';
	g_fail_step = -1;
	g_gw_lie = false;
	for (vlan = 0; vlan < VIF_VLAN_SLOTS; vlan++) {
		v = vifmgr_get(g_m, vlan);
		if (v && v->next_hop)
			vifmgr_clear_next_hop(g_m, vlan);
	}
	/* The target re-registers chains from the state. */
	target_local_sync(g_t, NULL, 0);
	for (vlan = 0; vlan < VIF_VLAN_SLOTS; vlan++) {
		v = vifmgr_get(g_m, vlan);
		if (v) {
			char name[VIFD_NAME_MAX];

			snprintf(name, sizeof(name), "%s", v->name);
			gw_remove(g_gw, vlan);
			quota_mgr_untrack(g_qm, vlan);
			vifmgr_delete(g_m, name, NULL, 0);
		}
	}
	if (g_cfg.vlan_pool.lo != VIFD_VLAN_LO ||
	    g_cfg.vlan_pool.hi != VIFD_VLAN_HI ||
	    vlan_set_count(&g_cfg.reserved)) {
		struct vlan_set none;

		vlan_set_clear(&none);
		if (!vifmgr_pool_resize(g_m, VIFD_VLAN_LO, VIFD_VLAN_HI, &none,
					NULL, 0)) {
			g_cfg.vlan_pool.lo = VIFD_VLAN_LO;
			g_cfg.vlan_pool.hi = VIFD_VLAN_HI;
			g_cfg.reserved = none;
		}
	}
}

/* Run the loop for up to ms, until done() says so. */
static bool spin(int ms, bool (*done)(void))
{
	double end = now_s() + ms / 1000.0;

	while (now_s() < end) {
		if (done && done())
			return true;
		loop_once(g_loop, 50);
	}
	return done ? done() : true;
}

/* ---- what vifd would plug in ------------------------------------------ */

static int gw_op_killswitch(void *ctx, __u16 vlan, bool engage)
{
	const struct vifd_vif *v = vifmgr_get(g_m, vlan);
	int err;

	if (!v || g_gw_lie)
		return 0;
	err = vifmgr_set_killswitch(g_m, vlan, engage);
	return err == -ENOENT ? 0 : err;
}

static int gw_op_fallback(void *ctx, __u16 vlan, __u16 fallback, bool on)
{
	int err = vifmgr_apply_fallback(g_m, vlan, fallback, on);

	return err == -ENOENT ? 0 : err;
}

static const struct gw_ops test_gw_ops = {
	.killswitch = gw_op_killswitch,
	.fallback = gw_op_fallback,
};

static int q_dp_set(void *ctx, __u16 vlan, __u64 limit, __u32 flags)
{
	return dp_quota_set(g_dp, vlan, limit, flags);
}

static int q_dp_reset(void *ctx, __u16 vlan)
{
	return dp_quota_reset(g_dp, vlan);
}

static int q_dp_usage(void *ctx, __u16 vlan, __u64 *used)
{
	return dp_quota_usage(g_dp, vlan, used);
}

static int q_persist(void *ctx, __u16 vlan, const struct quota_state *st)
{
	return 0;
}

static void q_event(void *ctx, __u16 vlan, const char *type, __u64 used,
		    __u64 limit)
{
}

static const struct quota_ops test_quota_ops = {
	.dp_set = q_dp_set,
	.dp_reset = q_dp_reset,
	.dp_usage = q_dp_usage,
	.persist = q_persist,
	.event = q_event,
};

/* The pool in force is this test's config. */
static int fake_pool_set(void *ctx, __u16 lo, __u16 hi,
			 const struct vlan_set *reserved)
{
	g_pool_calls++;
	g_cfg.vlan_pool.lo = lo;
	g_cfg.vlan_pool.hi = hi;
	g_cfg.reserved = *reserved;
	return 0;
}

static int on_hook(void *ctx, const char *name, enum vifmgr_step step)
{
	if ((int)step == g_crash_step && !strcmp(name, g_crash_name))
		raise(SIGKILL);
	if ((int)step == g_fail_step && !strcmp(name, g_fail_name))
		return -EIO;
	if (step == VIFMGR_STEP_VETH && g_unns_name[0] &&
	    !strcmp(name, g_unns_name)) {
		/* The netns validation saw goes away under the apply. */
		sh("ip netns del %s 2>/dev/null", g_ns2);
		g_unns_name[0] = '\0';
	}
	return 0;
}

/* ---- setup ------------------------------------------------------------ */

/* Everything vifd holds in memory, freed (kernel objects stay). */
static void close_all(void)
{
	pipeline_free(g_p);
	g_p = NULL;
	target_local_free(g_t);
	g_t = NULL;
	gw_mgr_free(g_gw);
	g_gw = NULL;
	quota_mgr_free(g_qm);
	g_qm = NULL;
	vifmgr_close(g_m);
	g_m = NULL;
	store_close(g_store);
	g_store = NULL;
	nl_close(g_nl);
	g_nl = NULL;
	loop_free(g_loop);
	g_loop = NULL;
}

/*
 * As vifd starts: store, VIF manager (reconciled), gateway and quota
 * managers, the target (synced), the pipeline (recovered).  *rec (may be
 * NULL) is pipeline_recover()'s report.
 */
static int open_all(json_t **rec)
{
	struct target_local_deps td = { 0 };
	struct vifmgr_deps md = { 0 };
	struct vifmgr_report vr;
	int lo, err;

	err = loop_new(&g_loop);
	if (!err)
		err = nl_open(&g_nl);
	if (err) {
		printf("open: loop/nl: %s (%d)\n", strerror(-err), err);
		return err;
	}
	lo = nl_link_index(g_nl, "lo");
	if (lo < 0 || nl_link_set_up(g_nl, lo)) {
		printf("open: lo: %s\n", nl_errmsg(g_nl));
		return -EIO;
	}
	err = store_open(g_db, &g_store);
	if (err) {
		printf("open: store_open: %s (%d)\n", strerror(-err), err);
		return err;
	}
	md.cfg = &g_cfg;
	md.store = g_store;
	md.nl = g_nl;
	md.dp = g_dp;
	md.hook = on_hook;
	err = vifmgr_open(&md, &g_m);
	if (!err)
		err = vifmgr_reconcile(g_m, &vr);
	if (!err)
		err = gw_mgr_new(g_loop, NULL, &test_gw_ops, NULL, &g_gw);
	if (!err)
		err = quota_mgr_new(g_loop, "UTC", 1000, &test_quota_ops, NULL,
				    &g_qm);
	if (err) {
		printf("open: managers: %s (%d)\n", strerror(-err), err);
		return err;
	}
	td.vm = g_m;
	td.gw = g_gw;
	td.qm = g_qm;
	td.dp = g_dp;
	td.nl = g_nl;
	td.store = g_store;
	td.cfg = &g_cfg;
	td.ks_mode_set = vifmgr_set_ks_mode;
	td.pool_set = fake_pool_set;
	err = target_local_new(&td, &g_t);
	if (!err)
		err = target_local_sync(g_t, NULL, 0);
	if (!err)
		err = pipeline_new(g_loop, g_store, NULL, NULL, &g_p);
	if (!err)
		err = pipeline_target_add(g_p, target_local_ops(), g_t);
	if (!err)
		err = pipeline_recover(g_p, rec);
	if (err)
		printf("open: target and pipeline: %s (%d)\n", strerror(-err),
		       err);
	return err;
}

static void cleanup(void)
{
	if (g_m && g_t)
		reset_all();
	close_all();
	if (g_dp) {
		dp_teardown(g_dp);
		dp_close(g_dp);
		g_dp = NULL;
	}
	if (g_dir[0])
		sh("rm -rf '%s'", g_dir);
	g_dir[0] = '\0';
	if (g_ns_made) {
		sh("ip netns del %s 2>/dev/null", g_ns);
		sh("ip netns del %s 2>/dev/null", g_ns2);
	}
	g_ns_made = false;
	if (g_bpffs_private)
		umount("/sys/fs/bpf");
}

static int setup(void)
{
	struct dp_opts o = { 0 };
	int err;

	if (geteuid() != 0) {
		printf("skip: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF)\n");
		return TEST_SKIP;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		printf("skip: unshare(CLONE_NEWNET | CLONE_NEWNS): %s\n",
		       strerror(errno));
		return TEST_SKIP;
	}
	if (sh("ip -V >/dev/null 2>&1") != 0) {
		printf("skip: the ip command (iproute2) is missing\n");
		return TEST_SKIP;
	}
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		mkdir("/run/netns", 0755);
		if (mount("tgtlocal", "/run/netns", "tmpfs", 0,
			  "mode=0755") < 0)
			printf("note: no private /run/netns: %s\n",
			       strerror(errno));
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
			g_bpffs_private = true;
		else
			printf("note: no private bpffs: %s\n", strerror(errno));
	}
	atexit(cleanup);

	snprintf(g_dir, sizeof(g_dir), "/tmp/tgtlocal-test-XXXXXX");
	if (!mkdtemp(g_dir)) {
		printf("setup: mkdtemp: %s\n", strerror(errno));
		g_dir[0] = '\0';
		return 1;
	}
	snprintf(g_db, sizeof(g_db), "%s/%s", g_dir, STORE_DB_FILENAME);
	snprintf(g_pin, sizeof(g_pin), "%s/test-tgt-%d", VIF_PIN_BASE,
		 (int)getpid());
	o.pin_dir = g_pin;
	err = dp_open(&o, &g_dp);
	if (err == -EPERM || err == -EACCES) {
		printf("skip: dp_open: %s (%d): no CAP_BPF?\n", strerror(-err),
		       err);
		return TEST_SKIP;
	}
	if (err) {
		printf("setup: dp_open(%s): %s (%d)\n", g_pin, strerror(-err),
		       err);
		return 1;
	}
	snprintf(g_ns, sizeof(g_ns), "tgt-%d", (int)getpid());
	snprintf(g_ns2, sizeof(g_ns2), "tgt2-%d", (int)getpid());
	g_ns_made = true;
	if (sh("ip netns add %s", g_ns) != 0) {
		printf("setup: ip netns add %s failed\n", g_ns);
		return 1;
	}
	config_defaults(&g_cfg);
	g_cfg.vlan_pool.lo = VIFD_VLAN_LO; /* room for the bulk case */
	g_cfg.vlan_pool.hi = VIFD_VLAN_HI;
	vlan_set_clear(&g_cfg.reserved);
	return open_all(NULL) ? 1 : 0;
}

/* ---- cases ------------------------------------------------------------ */

static bool entry(const char *name, struct vif_entry *e)
{
	return ASSERT_OK(dp_vif_get(g_dp, vlan_of(name), e), name);
}

/*
 * Three VIFs and a chain through them in one set, the chain written
 * first: depends orders it after the creates.  Read back from the
 * dataplane (next hops, the chain's kill switch through gw's registry)
 * and Linux (veths, one end in a netns).
 */
static int test_create_chain_in_one_set(void)
{
	json_t *items, *rep = NULL;
	const json_t *a, *ch;
	struct vif_entry e;
	struct gw_status st;
	__u16 va, vb, vc;
	char *order = NULL;
	int ret = -1;

	reset_all();
	items = J("[{'id':'ch','op':'chain.set','args':{'hops':['ca','cb','cc']}},"
		  "{'id':'a','op':'vif.create','args':{'name':'ca','netns':'%s'}},"
		  "{'id':'b','op':'vif.create','args':{'name':'cb','gateway':{'type':'socks5','tun':'tun-cb','addr':'127.0.0.1','port':1}}},"
		  "{'id':'c','op':'vif.create','args':{'name':'cc','vlan':3000}}]",
		  g_ns);
	if (!ASSERT_OK(pipeline_preview(g_p, items, &rep), "preview")) {
		dump("preview", rep);
		json_decref(items);
		goto out;
	}
	order = json_dumps(json_object_get(rep, "order"), JSON_COMPACT);
	a = json_array_get(json_object_get(rep_item(rep, "a"), "changes"), 0);
	ch = rep_item(rep, "ch");
	/* A chain among VIFs the set creates is an addition: LOW. */
	if (!has(order, "[\"a\",\"b\",\"c\",\"ch\"]", "creates first") ||
	    !has(jstr(rep, "risk"), "LOW", "set risk") ||
	    !has(jstr(rep_item(rep, "a"), "risk"), "LOW", "create LOW") ||
	    !has(jstr(ch, "risk"), "LOW", "chain of new VIFs LOW") ||
	    !has(jstr(a, "target"), "local", "target") ||
	    !ASSERT_TRUE(json_is_null(json_object_get(a, "before")),
			 "before null") ||
	    !has(jstr(json_object_get(a, "after"), "ifname"), "vp2-ca",
		 "predicted ifname") ||
	    !has(jstr(json_object_get(a, "after"), "netns"), g_ns, "netns")) {
		dump("preview", rep);
		json_decref(items);
		goto out;
	}
	json_decref(rep);
	rep = NULL;
	if (apply(items, false, 0, 0, NULL, &rep) ||
	    !has(jstr(rep, "state"), "CONFIRMED", "committed") ||
	    !live("ca") || !live("cb") || !live("cc"))
		goto out;
	va = vlan_of("ca");
	vb = vlan_of("cb");
	vc = vlan_of("cc");
	if (!ASSERT_EQ(vc, 3000, "explicit VLAN") || !entry("ca", &e) ||
	    !ASSERT_EQ(e.next_hop, vb, "ca -> cb in the dataplane") ||
	    /* cb's gateway is not up: the whole chain is engaged. */
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "chain engaged at ca") ||
	    !entry("cb", &e) ||
	    !ASSERT_EQ(e.next_hop, vc, "cb -> cc in the dataplane") ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "cb engaged") ||
	    !entry("cc", &e) || !ASSERT_EQ(e.next_hop, 0, "cc ends it") ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "chain engaged at cc") ||
	    !ASSERT_OK(gw_status(g_gw, vb, &st), "cb in gw") ||
	    !ASSERT_EQ(st.type, VIFD_GW_SOCKS5, "socks5") ||
	    !ASSERT_EQ(sh("ip netns exec %s ip link show vs%u-ca >/dev/null",
			  g_ns, va), 0, "service end in the netns") ||
	    !ASSERT_EQ(sh("ip link show vs%u-cc >/dev/null", vc), 0,
		       "service end here"))
		goto out;

	/* Clearing through any hop clears all; released without cb. */
	if (!ok(J("[{'id':'x','op':'chain.clear','args':{'name':'cb'}}]"),
		false) ||
	    !entry("ca", &e) || !ASSERT_EQ(e.next_hop, 0, "ca unlinked") ||
	    !ASSERT_TRUE(!(e.flags & VIF_F_KILLSWITCH), "ca released") ||
	    !entry("cb", &e) || !ASSERT_EQ(e.next_hop, 0, "cb unlinked") ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "cb still engaged") ||
	    !entry("cc", &e) ||
	    !ASSERT_TRUE(!(e.flags & VIF_F_KILLSWITCH), "cc released"))
		goto out;
	/*
	 * Chained again (existing VIFs), then one set clears and deletes:
	 * the deletes are written first, depends puts the clear before
	 * those of the chain's VIFs.
	 */
	json_decref(rep);
	rep = NULL;
	if (apply(J("[{'id':'ch','op':'chain.set','args':{'hops':['ca','cc']}}]"),
		  false, 0, 0, NULL, &rep) ||
	    !has(jstr(rep, "risk"), "MEDIUM", "chaining existing VIFs") ||
	    !entry("ca", &e) || !ASSERT_EQ(e.next_hop, vc, "ca -> cc"))
		goto out;
	json_decref(rep);
	rep = NULL;
	if (apply(J("[{'id':'a','op':'vif.delete','args':{'name':'ca'}},"
		    "{'id':'b','op':'vif.delete','args':{'name':'cb'}},"
		    "{'id':'c','op':'vif.delete','args':{'name':'cc'}},"
		    "{'id':'k','op':'chain.clear','args':{'name':'cc'}}]"),
		  true, 0, 0, NULL, &rep))
		goto out;
	free(order);
	order = json_dumps(json_object_get(rep, "order"), JSON_COMPACT);
	/* cb is in no chain now: it need not wait (ties go by position). */
	if (!has(order, "[\"b\",\"k\",\"a\",\"c\"]", "clear first") ||
	    !gone("ca", va) || !gone("cb", vb) || !gone("cc", vc) ||
	    !ASSERT_TRUE(sh("ip netns exec %s ip link show vs%u-ca >/dev/null 2>&1",
			    g_ns, va) != 0,
			 "service end gone from the netns"))
		goto out;
	ret = 0;
out:
	free(order);
	json_decref(rep);
	return ret;
}

/*
 * The last item fails in apply (its netns vanishes after validation):
 * every earlier item is rolled back, gone from Linux, dataplane, store
 * and the managers.  The failed create stays as an ERROR VIF, as the
 * protocol says, and a delete set takes it away.
 */
static int test_failure_rolls_back(void)
{
	struct pipeline_apply_opts o = { 0 };
	const struct vifd_vif *v;
	json_t *items, *rep = NULL;
	const json_t *failed;
	int ret = -1, r;

	reset_all();
	if (!ASSERT_EQ(sh("ip netns add %s", g_ns2), 0, "netns 2"))
		goto out;
	snprintf(g_unns_name, sizeof(g_unns_name), "fx3");
	items = J("[{'id':'x1','op':'vif.create','args':{'name':'fx1','vlan':201,'quota':{'limit':100000,'period':'daily','action':'block','dir':'both'}}},"
		  "{'id':'x2','op':'vif.create','args':{'name':'fx2','vlan':202,'netns':'%s','gateway':{'type':'socks5','tun':'tun-fx2','addr':'127.0.0.1','port':1}}},"
		  "{'id':'c','op':'chain.set','args':{'hops':['fx1','fx2']}},"
		  "{'id':'x3','op':'vif.create','args':{'name':'fx3','vlan':203,'netns':'%s'}}]",
		  g_ns, g_ns2);
	r = pipeline_apply(g_p, items, &o, NULL, &rep);
	json_decref(items);
	failed = json_object_get(rep, "failed");
	if (!ASSERT_TRUE(r < 0 && r != -ENOTRECOVERABLE, "apply failed") ||
	    !has(jstr(rep, "state"), "FAILED", "state FAILED") ||
	    !has(jstr(failed, "item"), "x3", "x3 failed") ||
	    !has(jstr(failed, "step"), "apply", "in apply")) {
		dump("report", rep);
		goto out;
	}
	if (!gone("fx1", 201) || !gone("fx2", 202) ||
	    !ASSERT_TRUE(sh("ip netns exec %s ip link show vs202-fx2 >/dev/null 2>&1",
			    g_ns) != 0,
			 "fx2's service end gone from its netns"))
		goto out;
	v = vifmgr_find(g_m, "fx3");
	if (!ASSERT_TRUE(v, "fx3 kept") ||
	    !ASSERT_EQ(v->state, VIFD_STATE_ERROR, "as ERROR") ||
	    !has(v->error, "does not exist", "with the reason"))
		goto out;
	/* An ERROR VIF carries no traffic: deleting it is not HIGH. */
	if (!ok(J("[{'id':'d','op':'vif.delete','args':{'name':'fx3'}}]"),
		false) ||
	    !gone("fx3", 203))
		goto out;
	ret = 0;
out:
	g_unns_name[0] = '\0';
	json_decref(rep);
	return ret;
}

static int test_high_risk_needs_confirm(void)
{
	json_t *rep = NULL;
	__u16 vlan;
	int ret = -1;

	reset_all();
	if (!ok(J("[{'id':'a','op':'vif.create','args':{'name':'hr1'}}]"),
		false))
		goto out;
	vlan = vlan_of("hr1");
	if (!ASSERT_EQ(apply(J("[{'id':'d','op':'vif.delete','args':{'name':'hr1'}}]"),
			     false, 0, -EPERM, NULL, &rep),
		       -EPERM, "refused") ||
	    !has(jstr(rep, "risk"), "HIGH", "HIGH") || !live("hr1"))
		goto out;
	if (!ok(J("[{'id':'d','op':'vif.delete','args':{'name':'hr1'}}]"),
		true) ||
	    !gone("hr1", vlan))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	return ret;
}

static bool no_pending(void)
{
	return pipeline_pending(g_p, NULL, NULL) == -ENOENT;
}

static int test_confirm_timeout_rolls_back(void)
{
	json_t *rep = NULL, *st = NULL;
	int64_t id = 0;
	int ret = -1;

	reset_all();
	if (apply(J("[{'id':'a','op':'vif.create','args':{'name':'ct1','vlan':400}}]"),
		  false, 1, 0, &id, &rep) ||
	    !has(jstr(rep, "state"), "APPLIED", "awaiting confirmation") ||
	    !live("ct1") || !ASSERT_TRUE(!no_pending(), "pending"))
		goto out;
	if (!ASSERT_TRUE(spin(5000, no_pending), "rolled back in time") ||
	    !ASSERT_OK(pipeline_status(g_p, id, &st), "status") ||
	    !has(jstr(st, "state"), "ROLLED_BACK", "ROLLED_BACK") ||
	    !gone("ct1", 400))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	json_decref(st);
	return ret;
}

/* One bad item (or set) per row: the error of item 'x' must be this. */
struct bad_row {
	const char *items;
	int err;
	const char *msg;
};

#define ONE(op, args) "[{'id':'x','op':'" op "','args':" args "}]"
#define CREATE(args) ONE("vif.create", args)
#define GW(rest) CREATE("{'name':'n1','gateway':{'type':'socks5','tun':'tun-n1','addr':'127.0.0.1','port':9050" rest "}}")
#define QSET(rest) ONE("quota.set", "{'name':'vx','limit':5,'period':'daily','action':'block','dir':'both'" rest "}")

static const struct bad_row bad_rows[] = {
	/* schema */
	{ CREATE("{'name':'n1','colour':'red'}"), -EINVAL,
	  "unknown argument \"colour\"" },
	{ CREATE("{'name':5}"), -EINVAL, "argument \"name\" must be a string" },
	{ CREATE("{'vlan':7}"), -EINVAL, "missing argument \"name\"" },
	{ CREATE("{'name':'-bad'}"), -EINVAL, "is not a VIF name" },
	{ CREATE("{'name':'n1','vlan':4095}"), -EINVAL, "4095 is outside 2-4093" },
	{ CREATE("{'name':'n1','vlan':'7'}"), -EINVAL,
	  "argument \"vlan\" must be an integer" },
	{ CREATE("{'name':'n1','netns':'../x'}"), -EINVAL, "is not a netns name" },
	{ CREATE("{'name':'n1','gateway':{'type':'wg'}}"), -EINVAL,
	  "'wg' is not one of none, socks5" },
	{ CREATE("{'name':'n1','gateway':{'type':'none','tun':'t0'}}"), -EINVAL,
	  "unknown argument \"gateway.tun\"" },
	{ CREATE("{'name':'n1','gateway':{'type':'socks5','tun':'tun-n1','addr':'1.2.3','port':9050}}"),
	  -EINVAL, "'1.2.3' is not an IPv4 address" },
	{ CREATE("{'name':'n1','gateway':{'type':'socks5','tun':'tun-n1','addr':'127.0.0.1','port':70000}}"),
	  -EINVAL, "\"gateway.port\": 70000 is outside 1-65535" },
	{ GW(",'extra':1"), -EINVAL, "unknown argument \"gateway.extra\"" },
	{ CREATE("{'name':'n1','killswitch':{'mode':'fallback'}}"), -EINVAL,
	  "missing argument \"killswitch.fallback\"" },
	{ CREATE("{'name':'n1','killswitch':{'mode':'block','fallback':'vx'}}"),
	  -EINVAL, "only for mode fallback" },
	{ CREATE("{'name':'n1','quota':{'limit':1}}"), -EINVAL,
	  "missing argument \"quota.period\"" },
	{ QSET(",'colour':1"), -EINVAL, "unknown argument \"colour\"" },
	{ ONE("quota.set", "{'name':'vx','limit':-1,'period':'daily','action':'block','dir':'both'}"),
	  -EINVAL, "-1 is outside 0-" },
	{ ONE("quota.set", "{'name':'vx','limit':5,'period':'yearly','action':'block','dir':'both'}"),
	  -EINVAL, "'yearly' is not one of daily, weekly, monthly" },
	{ ONE("quota.set", "{'name':'vx','limit':5,'period':'daily','action':'drop','dir':'both'}"),
	  -EINVAL, "'drop' is not one of block, alert" },
	{ ONE("quota.set", "{'name':'vx','limit':5,'period':'daily','action':'block','dir':'up'}"),
	  -EINVAL, "'up' is not one of both, rx, tx" },
	{ ONE("chain.set", "{'hops':'vx'}"), -EINVAL,
	  "argument \"hops\" must be an array" },
	{ ONE("chain.set", "{'hops':['vx']}"), -EINVAL,
	  "a chain has 2-5 VIFs, not 1" },
	{ ONE("chain.set", "{'hops':['a','b','c','d','e','f']}"), -EINVAL,
	  "a chain has 2-5 VIFs, not 6" },
	{ ONE("chain.set", "{'hops':['vz',true]}"), -EINVAL,
	  "must be a VIF name or a VLAN" },
	{ ONE("killswitch.set", "{'name':'vz','mode':'open'}"), -EINVAL,
	  "'open' is not one of block, fallback" },
	{ ONE("pool.set", "{'range':'300-200'}"), -EINVAL,
	  "'300-200' is not \"LO-HI\"" },
	{ ONE("pool.set", "{'range':'2-4093','reserved':[5000]}"), -EINVAL,
	  "VLAN 5000 is outside 2-4093" },
	{ ONE("vif.delete", "{}"), -EINVAL, "missing argument \"name\"" },
	{ ONE("vif.frobnicate", "{}"), -EOPNOTSUPP, "no target handles" },
	/* semantics against the state (vx -> vy, vz: VLANs 500-502) */
	{ CREATE("{'name':'n1','vlan':500}"), -EEXIST,
	  "VLAN 500 is taken by 'vx'" },
	{ CREATE("{'name':'vx'}"), -EEXIST,
	  "a VIF named 'vx' exists already (ACTIVE)" },
	{ CREATE("{'name':'n1','netns':'nope-zz'}"), -ENOENT,
	  "netns 'nope-zz' does not exist" },
	{ GW(""), 0, NULL }, /* the reference: valid */
	{ CREATE("{'name':'n1','gateway':{'type':'socks5','tun':'vt600','addr':'127.0.0.1','port':1}}"),
	  -EADDRINUSE, "reserved for VLAN 600" },
	{ CREATE("{'name':'n1','killswitch':{'mode':'fallback','fallback':'nope'}}"),
	  -ENOENT, "no VIF named 'nope'" },
	{ CREATE("{'name':'n1','killswitch':{'mode':'fallback','fallback':'n1'}}"),
	  -ENOENT, "no VIF named 'n1'" },
	{ QSET(""), 0, NULL },
	{ ONE("quota.set", "{'name':'nope','limit':5,'period':'daily','action':'block','dir':'both'}"),
	  -ENOENT, "no VIF named 'nope'" },
	{ ONE("chain.set", "{'hops':['vz','nope']}"), -ENOENT,
	  "no VIF named 'nope'" },
	{ ONE("chain.set", "{'hops':['vz',4000]}"), -ENOENT,
	  "no VIF with VLAN 4000" },
	{ ONE("chain.set", "{'hops':['vz',502]}"), -EINVAL, "'vz' appears twice" },
	{ ONE("chain.set", "{'hops':['vy','vx']}"), -ELOOP, "cycle" },
	{ ONE("chain.set", "{'hops':['vx','vz']}"), -EEXIST,
	  "'vx' already chains into 'vy'" },
	{ ONE("chain.clear", "{'name':'vz'}"), -ENOENT, "VIF 'vz' is in no chain" },
	{ ONE("vif.delete", "{'name':'vx'}"), -EBUSY,
	  "VIF 'vx' is in use: chain vx -> vy" },
	{ ONE("vif.delete", "{'name':'vy'}"), -EBUSY,
	  "VIF 'vy' is in use: chain vx -> vy" },
	{ ONE("vif.delete", "{'name':'nope'}"), -ENOENT, "no VIF named 'nope'" },
	{ ONE("killswitch.set", "{'name':'vz','mode':'fallback','fallback':'vz'}"),
	  -EINVAL, "cannot fall back to itself" },
	{ ONE("pool.set", "{'range':'2-400'}"), -EBUSY,
	  "would strand 3 allocated VLANs: 500-502" },
	{ ONE("pool.set", "{'range':'2-4093','reserved':[501,'600-700']}"),
	  -EBUSY, "would strand 1 allocated VLANs: 501" },
	/* composition: w1 w2 w3 vz vx vy is 6 VIFs */
	{ "[{'id':'a','op':'vif.create','args':{'name':'w1'}},"
	  "{'id':'b','op':'vif.create','args':{'name':'w2'}},"
	  "{'id':'c','op':'vif.create','args':{'name':'w3'}},"
	  "{'id':'x','op':'chain.set','args':{'hops':['w1','w2','w3','vz','vx']}}]",
	  -E2BIG, "" },
	/* upstream: vx vy w1 w2 w3 w4 is 6 VIFs */
	{ "[{'id':'a','op':'vif.create','args':{'name':'w1'}},"
	  "{'id':'b','op':'vif.create','args':{'name':'w2'}},"
	  "{'id':'c','op':'vif.create','args':{'name':'w3'}},"
	  "{'id':'d','op':'vif.create','args':{'name':'w4'}},"
	  "{'id':'x','op':'chain.set','args':{'hops':['vy','w1','w2','w3','w4']}}]",
	  -E2BIG, "vx -> vy -> w1 -> w2 -> w3 -> w4" },
	/* conflicts between items */
	{ "[{'id':'a','op':'vif.create','args':{'name':'dup'}},"
	  "{'id':'x','op':'vif.create','args':{'name':'dup'}}]",
	  -EEXIST, "VIF 'dup' is created by item 'a' of this set already" },
	{ "[{'id':'a','op':'vif.create','args':{'name':'d1','vlan':700}},"
	  "{'id':'x','op':'vif.create','args':{'name':'d2','vlan':700}}]",
	  -EEXIST, "VLAN 700 is taken by 'd1' (item 'a' of this set)" },
	{ "[{'id':'a','op':'vif.create','args':{'name':'g1','gateway':{'type':'socks5','tun':'tun-x','addr':'127.0.0.1','port':1}}},"
	  "{'id':'x','op':'vif.create','args':{'name':'g2','gateway':{'type':'socks5','tun':'tun-x','addr':'127.0.0.1','port':1}}}]",
	  -EEXIST, "tun 'tun-x' is used by VIF 'g1'" },
	{ "[{'id':'x','op':'vif.delete','args':{'name':'vz'}},"
	  "{'id':'c','op':'chain.set','args':{'hops':['vz','vx']}}]",
	  -EBUSY, "VIF 'vz' is in use: chain vz -> vx" },
	{ "[{'id':'c','op':'chain.set','args':{'hops':['vz','vy']}},"
	  "{'id':'x','op':'chain.set','args':{'hops':['vz','vx']}}]",
	  -EEXIST, "'vz' is linked to 'vy' by item 'c' of this set already" },
	{ "[{'id':'c','op':'vif.create','args':{'name':'cd'}},"
	  "{'id':'x','op':'vif.delete','args':{'name':'cd'}}]",
	  -EEXIST, "creating and deleting it in one set" },
	{ "[{'id':'q','op':'quota.set','args':{'name':'vx','limit':5,'period':'daily','action':'block','dir':'both'}},"
	  "{'id':'x','op':'quota.set','args':{'name':'vx','limit':6,'period':'daily','action':'block','dir':'both'}}]",
	  -EEXIST, "item 'q' of this set changes the quota of 'vx' already" },
	{ "[{'id':'p','op':'pool.set','args':{'range':'2-4093'}},"
	  "{'id':'x','op':'pool.set','args':{'range':'2-4000'}}]",
	  -EEXIST, "item 'p' of this set sets the pool already" },
	{ "[{'id':'k','op':'killswitch.set','args':{'name':'vz','mode':'block'}},"
	  "{'id':'x','op':'killswitch.set','args':{'name':'vz','mode':'block'}}]",
	  -EEXIST, "changes the kill switch of 'vz' already" },
	/* the set deletes vz first, then a create may take its VLAN */
	{ "[{'id':'x','op':'vif.create','args':{'name':'nz','vlan':502}},"
	  "{'id':'d','op':'vif.delete','args':{'name':'vz'}}]",
	  0, NULL },
};

static int test_validation_errors(void)
{
	unsigned int before, i, bad = 0;
	json_t *rep = NULL;
	int ret = -1;

	reset_all();
	if (!ok(J("[{'id':'a','op':'vif.create','args':{'name':'vx','vlan':500}},"
		  "{'id':'b','op':'vif.create','args':{'name':'vy','vlan':501}},"
		  "{'id':'c','op':'vif.create','args':{'name':'vz','vlan':502}},"
		  "{'id':'ch','op':'chain.set','args':{'hops':['vx','vy']}}]"),
		false))
		goto out;
	before = vifmgr_count(g_m);
	for (i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		const struct bad_row *row = &bad_rows[i];
		json_int_t got;
		const json_t *e;
		json_t *items = J("%s", row->items);
		int r;

		r = pipeline_validate(g_p, items, &rep);
		e = rep_error(rep, "x");
		got = json_integer_value(json_object_get(e, "errno"));
		if (!row->msg ? r != 0 :
			      (r != -EINVAL || !e || got != row->err ||
			       !strstr(jstr(e, "error") ?: "", row->msg))) {
			fprintf(stderr, "row %u: want %d '%s', got %d:\n", i,
				row->err, row->msg ? row->msg : "(valid)", r);
			dump("  report", rep);
			bad++;
		}
		json_decref(items);
		json_decref(rep);
		rep = NULL;
	}
	if (!ASSERT_EQ(bad, 0, "rows as expected") ||
	    !ASSERT_EQ(vifmgr_count(g_m), before, "validation changed nothing"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	return ret;
}

static int test_pool_set(void)
{
	struct pool_status ps;
	json_t *rep = NULL;
	unsigned int calls = g_pool_calls;
	int64_t id = 0;
	int ret = -1;

	reset_all();
	if (!ok(J("[{'id':'a','op':'vif.create','args':{'name':'pa','vlan':150}}]"),
		false))
		goto out;
	/* Stranding is refused at validation, naming the VLANs. */
	if (!ASSERT_EQ(apply(J("[{'id':'p','op':'pool.set','args':{'range':'100-140'}}]"),
			     true, 0, -EINVAL, NULL, &rep),
		       -EINVAL, "strand refused") ||
	    !has(jstr(rep_error(rep, "p"), "error"),
		 "would strand 1 allocated VLANs: 150", "message") ||
	    !ASSERT_EQ(g_pool_calls, calls, "pool untouched") ||
	    !ASSERT_EQ(g_cfg.vlan_pool.hi, VIFD_VLAN_HI, "range kept"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* Shrinking is HIGH. */
	if (!ASSERT_EQ(apply(J("[{'id':'p','op':'pool.set','args':{'range':'100-299'}}]"),
			     false, 0, -EPERM, NULL, &rep),
		       -EPERM, "needs confirm") ||
	    !has(jstr(rep, "risk"), "HIGH", "shrink is HIGH"))
		goto out;
	json_decref(rep);
	rep = NULL;
	vifmgr_pool_status(g_m, &ps);
	if (!ok(J("[{'id':'p','op':'pool.set','args':{'range':'100-299'}}]"),
		true) ||
	    !ASSERT_EQ(g_cfg.vlan_pool.lo, 100, "lo in force") ||
	    !ASSERT_EQ(g_cfg.vlan_pool.hi, 299, "hi in force"))
		goto out;
	vifmgr_pool_status(g_m, &ps);
	if (!ASSERT_EQ(ps.size, 200, "vifmgr's pool resized") ||
	    !ASSERT_EQ(apply(J("[{'id':'x','op':'vif.create','args':{'name':'pb','vlan':50}}]"),
			     false, 0, -EINVAL, NULL, &rep),
		       -EINVAL, "outside") ||
	    !has(jstr(rep_error(rep, "x"), "error"),
		 "VLAN 50 is outside the pool 100-299", "message"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* Reserving: the next lowest free skips the reserved and taken. */
	if (!ok(J("[{'id':'p','op':'pool.set','args':{'range':'100-299','reserved':['100-149']}},"
		  "{'id':'b','op':'vif.create','args':{'name':'pb'}}]"),
		true) ||
	    !ASSERT_EQ(vlan_of("pb"), 151, "lowest free after the pool.set"))
		goto out;
	vifmgr_pool_status(g_m, &ps);
	if (!ASSERT_EQ(ps.size, 150, "reserved out"))
		goto out;
	/* Commit-confirmed, then rolled back by the operator. */
	if (apply(J("[{'id':'p','op':'pool.set','args':{'range':'100-399','reserved':[]}}]"),
		  false, 30, 0, &id, &rep) ||
	    !has(jstr(rep, "risk"), "MEDIUM", "growing is MEDIUM") ||
	    !ASSERT_EQ(g_cfg.vlan_pool.hi, 399, "grown") ||
	    !ASSERT_OK(pipeline_rollback(g_p, id, NULL), "rollback") ||
	    !ASSERT_EQ(g_cfg.vlan_pool.hi, 299, "hi back") ||
	    !ASSERT_TRUE(vlan_set_has(&g_cfg.reserved, 120), "reserved back"))
		goto out;
	vifmgr_pool_status(g_m, &ps);
	if (!ASSERT_EQ(ps.size, 150, "vifmgr's pool back"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* Deleting what would be stranded in the same set: deletes first. */
	if (!ok(J("[{'id':'p','op':'pool.set','args':{'range':'300-400','reserved':[]}},"
		  "{'id':'a','op':'vif.delete','args':{'name':'pa'}},"
		  "{'id':'b','op':'vif.delete','args':{'name':'pb'}}]"),
		true) ||
	    !ASSERT_EQ(g_cfg.vlan_pool.lo, 300, "moved") ||
	    !gone("pa", 150) || !gone("pb", 151))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	return ret;
}

static bool quota_is(const char *name, __u64 limit, __u32 flags)
{
	struct vif_entry e;

	return entry(name, &e) &&
	       ASSERT_EQ(e.quota_limit, limit, "dataplane quota limit") &&
	       ASSERT_EQ(e.flags & VIF_QUOTA_FLAGS, flags,
			 "dataplane quota flags");
}

static int test_quota_set(void)
{
	const struct quota_state *qs;
	json_t *rep = NULL;
	int64_t id = 0;
	__u16 va;
	int ret = -1;

	reset_all();
	if (!ok(J("[{'id':'a','op':'vif.create','args':{'name':'qa','vlan':210}},"
		  "{'id':'b','op':'vif.create','args':{'name':'qb','vlan':211,'quota':{'limit':2000,'period':'weekly','action':'block','dir':'tx'}}}]"),
		false) ||
	    !quota_is("qa", 0, 0) ||
	    !quota_is("qb", 2000, VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_TX) ||
	    !ASSERT_TRUE(quota_mgr_get(g_qm, 211), "qb tracked"))
		goto out;
	va = vlan_of("qa");
	if (apply(J("[{'id':'q','op':'quota.set','args':{'name':'qa','limit':1000000,'period':'daily','action':'block','dir':'rx'}}]"),
		  false, 0, 0, NULL, &rep) ||
	    !has(jstr(rep, "risk"), "MEDIUM", "MEDIUM") ||
	    !quota_is("qa", 1000000, VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX) ||
	    !ASSERT_EQ(vifmgr_find(g_m, "qa")->quota.limit, 1000000, "record"))
		goto out;
	qs = quota_mgr_get(g_qm, va);
	if (!ASSERT_TRUE(qs, "tracked") ||
	    !ASSERT_EQ(qs->q.limit, 1000000, "quota manager's limit") ||
	    !ASSERT_TRUE(qs->q.period_start > 0, "a period started"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* Commit-confirmed, then rolled back: the old quota comes back. */
	if (apply(J("[{'id':'q','op':'quota.set','args':{'name':'qa','limit':5000,'period':'monthly','action':'alert','dir':'both'}}]"),
		  false, 30, 0, &id, NULL) ||
	    !quota_is("qa", 5000, VIF_F_QUOTA_RX | VIF_F_QUOTA_TX) ||
	    !ASSERT_OK(pipeline_rollback(g_p, id, NULL), "rollback") ||
	    !quota_is("qa", 1000000, VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX) ||
	    !ASSERT_EQ(quota_mgr_get(g_qm, va)->q.limit, 1000000,
		       "quota manager back"))
		goto out;
	/* Limit 0 removes it. */
	if (!ok(J("[{'id':'q','op':'quota.set','args':{'name':'qa','limit':0,'period':'daily','action':'block','dir':'both'}}]"),
		false) ||
	    !quota_is("qa", 0, 0) ||
	    !ASSERT_TRUE(!quota_mgr_get(g_qm, va), "untracked") ||
	    !ASSERT_EQ(vifmgr_find(g_m, "qa")->quota.limit, 0, "record"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	return ret;
}

static int test_killswitch_set(void)
{
	struct gw_status st;
	struct vif_entry e;
	json_t *rep = NULL;
	int64_t id = 0;
	__u16 va, vb, vg;
	int ret = -1;

	reset_all();
	if (!ok(J("[{'id':'a','op':'vif.create','args':{'name':'ka'}},"
		  "{'id':'b','op':'vif.create','args':{'name':'kb'}},"
		  "{'id':'g','op':'vif.create','args':{'name':'kg','gateway':{'type':'socks5','tun':'tun-kg','addr':'127.0.0.1','port':1}}}]"),
		false))
		goto out;
	va = vlan_of("ka");
	vb = vlan_of("kb");
	vg = vlan_of("kg");
	if (!entry("kg", &e) ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "kg engaged (not probed)"))
		goto out;
	/* block -> fallback can release: HIGH. */
	if (!ASSERT_EQ(apply(J("[{'id':'k','op':'killswitch.set','args':{'name':'kg','mode':'fallback','fallback':'kb'}}]"),
			     false, 0, -EPERM, NULL, &rep),
		       -EPERM, "needs confirm") ||
	    !has(jstr(rep, "risk"), "HIGH", "HIGH"))
		goto out;
	json_decref(rep);
	rep = NULL;
	if (!ok(J("[{'id':'k','op':'killswitch.set','args':{'name':'kg','mode':'fallback','fallback':'kb'}}]"),
		true) ||
	    !ASSERT_EQ(vifmgr_find(g_m, "kg")->ks_mode, VIFD_KS_FALLBACK,
		       "record") ||
	    !ASSERT_OK(gw_status(g_gw, vg, &st), "gw") ||
	    !ASSERT_EQ(st.mode, VIFD_KS_FALLBACK, "gw mode") ||
	    !ASSERT_EQ(st.fallback, vb, "gw fallback") ||
	    !ASSERT_EQ(st.ks, GW_KS_FALLBACK, "re-routed") || !entry("kg", &e) ||
	    !ASSERT_EQ(e.next_hop, vb, "into kb in the dataplane"))
		goto out;
	/* kb is kg's fallback now: not deletable alone... */
	if (!ASSERT_EQ(apply(J("[{'id':'x','op':'vif.delete','args':{'name':'kb'}}]"),
			     true, 0, -EINVAL, NULL, &rep),
		       -EINVAL, "in use") ||
	    !has(jstr(rep_error(rep, "x"), "error"), "killswitch of 'kg'",
		 "message"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* ...but with the change that moves kg off it, in either order. */
	if (!ok(J("[{'id':'x','op':'vif.delete','args':{'name':'kb'}},"
		  "{'id':'k','op':'killswitch.set','args':{'name':'kg','mode':'block'}}]"),
		true) ||
	    !gone("kb", vb) || !ASSERT_OK(gw_status(g_gw, vg, &st), "gw") ||
	    !ASSERT_EQ(st.mode, VIFD_KS_BLOCK, "gw mode block") ||
	    !ASSERT_EQ(st.ks, GW_KS_ENGAGED, "engaged again") ||
	    !entry("kg", &e) ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "dataplane engaged") ||
	    !ASSERT_EQ(e.next_hop, 0, "no re-route"))
		goto out;
	/* A VIF created with its mode changed in the same set: LOW. */
	if (apply(J("[{'id':'k','op':'killswitch.set','args':{'name':'kn','mode':'fallback','fallback':'ka'}},"
		    "{'id':'n','op':'vif.create','args':{'name':'kn'}}]"),
		  false, 0, 0, NULL, &rep) ||
	    !has(jstr(rep, "risk"), "LOW", "only additions") ||
	    !ASSERT_EQ(vifmgr_find(g_m, "kn")->ks_mode, VIFD_KS_FALLBACK,
		       "mode set") ||
	    !ASSERT_OK(gw_status(g_gw, vlan_of("kn"), &st), "gw") ||
	    !ASSERT_EQ(st.fallback, va, "gw fallback ka"))
		goto out;
	json_decref(rep);
	rep = NULL;
	/* Commit-confirmed and rolled back: the mode returns. */
	if (apply(J("[{'id':'k','op':'killswitch.set','args':{'name':'ka','mode':'fallback','fallback':'kg'}}]"),
		  true, 30, 0, &id, NULL) ||
	    !ASSERT_EQ(vifmgr_get(g_m, va)->ks_mode, VIFD_KS_FALLBACK, "set") ||
	    !ASSERT_OK(pipeline_rollback(g_p, id, NULL), "rollback") ||
	    !ASSERT_EQ(vifmgr_get(g_m, va)->ks_mode, VIFD_KS_BLOCK,
		       "record back") ||
	    !ASSERT_OK(gw_status(g_gw, va, &st), "gw") ||
	    !ASSERT_EQ(st.mode, VIFD_KS_BLOCK, "gw back"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	return ret;
}

/* An item as the engine hands it to targets (normalized). */
static json_t *item(const char *op, const char *args)
{
	return J("{'id':'u','op':'%s','args':%s,'after':[]}", op, args);
}

/*
 * Rollback with the outcome unknown (undo NULL, after a crash) and twice
 * in a row, through the ops directly.
 */
static int test_rollback_unknown_outcome(void)
{
	const struct pipeline_target_ops *ops = target_local_ops();
	json_t *c1 = item("vif.create", "{'name':'un1','vlan':220}");
	json_t *c1b = item("vif.create", "{'name':'un1','vlan':221}");
	json_t *c2 = item("vif.create", "{'name':'un2','vlan':222}");
	json_t *c3 = item("vif.create", "{'name':'un3','vlan':223}");
	json_t *cs = item("chain.set", "{'hops':['un2','un3']}");
	json_t *del = item("vif.delete", "{'name':'un2'}");
	json_t *q = item("quota.set", "{'name':'un3','limit':100,'period':'daily','action':'block','dir':'both'}");
	json_t *q2 = item("quota.set", "{'name':'un3','limit':7,'period':'daily','action':'block','dir':'both'}");
	json_t *undo = NULL, *dundo = NULL;
	char err[PIPELINE_ERR_MAX] = "";
	struct vif_entry e;
	int ret = -1;

	reset_all();
	if (!c1 || !c1b || !c2 || !c3 || !cs || !del || !q || !q2)
		goto out;
	/* vif.create: by its name (and VLAN), whatever the undo says. */
	if (!ASSERT_OK(ops->apply(g_t, c1, &undo, err, sizeof(err)), err) ||
	    !live("un1") ||
	    !ASSERT_OK(ops->rollback(g_t, c1, NULL, err, sizeof(err)), err) ||
	    !gone("un1", 220) ||
	    !ASSERT_OK(ops->rollback(g_t, c1, NULL, err, sizeof(err)),
		       "twice") ||
	    !ASSERT_OK(ops->rollback(g_t, c1, undo, err, sizeof(err)),
		       "with its undo, after"))
		goto out;
	json_decref(undo);
	undo = NULL;
	/* A VIF of that name on another VLAN is not that item's. */
	if (!ASSERT_OK(ops->apply(g_t, c1b, &undo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->rollback(g_t, c1, NULL, err, sizeof(err)), err) ||
	    !live("un1") ||
	    !ASSERT_OK(ops->rollback(g_t, c1b, undo, err, sizeof(err)), err) ||
	    !gone("un1", 221))
		goto out;
	json_decref(undo);
	undo = NULL;
	/* chain.set: the links that point where it points. */
	if (!ASSERT_OK(ops->apply(g_t, c2, &undo, err, sizeof(err)), err))
		goto out;
	json_decref(undo);
	undo = NULL;
	if (!ASSERT_OK(ops->apply(g_t, c3, &undo, err, sizeof(err)), err))
		goto out;
	json_decref(undo);
	undo = NULL;
	if (!ASSERT_OK(ops->apply(g_t, cs, &undo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(g_t, cs, err, sizeof(err)), err) ||
	    !entry("un2", &e) || !ASSERT_EQ(e.next_hop, 223, "linked") ||
	    !ASSERT_OK(ops->rollback(g_t, cs, NULL, err, sizeof(err)), err) ||
	    !entry("un2", &e) || !ASSERT_EQ(e.next_hop, 0, "unlinked") ||
	    !ASSERT_OK(ops->rollback(g_t, cs, NULL, err, sizeof(err)),
		       "twice"))
		goto out;
	json_decref(undo);
	undo = NULL;
	/* vif.delete: gone and undescribed is for a person... */
	if (!ASSERT_OK(ops->apply(g_t, del, &dundo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(g_t, del, err, sizeof(err)), err) ||
	    !gone("un2", 222) ||
	    !ASSERT_EQ(ops->rollback(g_t, del, NULL, err, sizeof(err)),
		       -ENODATA, "unknown and gone") ||
	    !has(err, "create it again by hand", "says so") ||
	    /* ...its undo brings it back, idempotently. */
	    !ASSERT_OK(ops->rollback(g_t, del, dundo, err, sizeof(err)), err) ||
	    !live("un2") ||
	    !ASSERT_OK(ops->rollback(g_t, del, dundo, err, sizeof(err)),
		       "twice") ||
	    !live("un2") ||
	    /* Undo NULL while the VIF is there: nothing to re-create. */
	    !ASSERT_OK(ops->rollback(g_t, del, NULL, err, sizeof(err)), err) ||
	    !live("un2"))
		goto out;
	/* quota.set: never applied is 0, maybe applied is for a person. */
	if (!ASSERT_OK(ops->rollback(g_t, q, NULL, err, sizeof(err)),
		       "never applied") ||
	    !ASSERT_OK(ops->apply(g_t, q, &undo, err, sizeof(err)), err) ||
	    !quota_is("un3", 100, VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX |
					  VIF_F_QUOTA_TX) ||
	    !ASSERT_EQ(ops->rollback(g_t, q, NULL, err, sizeof(err)),
		       -ENODATA, "unknown") ||
	    !ASSERT_OK(ops->rollback(g_t, q2, NULL, err, sizeof(err)),
		       "another limit never applied") ||
	    !ASSERT_OK(ops->rollback(g_t, q, undo, err, sizeof(err)), err) ||
	    !quota_is("un3", 0, 0) ||
	    !ASSERT_OK(ops->rollback(g_t, q, undo, err, sizeof(err)), "twice"))
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "last error: %s\n", err);
	json_decref(undo);
	json_decref(dundo);
	json_decref(c1);
	json_decref(c1b);
	json_decref(c2);
	json_decref(c3);
	json_decref(cs);
	json_decref(del);
	json_decref(q);
	json_decref(q2);
	return ret;
}

/*
 * Verify reads back: whatever differs from what the apply made (an entry
 * rewritten, a port down, a quota, a next hop) fails it, with the reason.
 */
static int test_verify_catches_mismatch(void)
{
	const struct pipeline_target_ops *ops = target_local_ops();
	json_t *c = item("vif.create", "{'name':'vm1','vlan':251}");
	json_t *c2 = item("vif.create", "{'name':'vm2','vlan':252}");
	json_t *cs = item("chain.set", "{'hops':['vm1','vm2']}");
	json_t *q = item("quota.set", "{'name':'vm2','limit':9000,'period':'daily','action':'block','dir':'both'}");
	json_t *undo = NULL, *rep = NULL;
	char err[PIPELINE_ERR_MAX] = "";
	int ret = -1;

	reset_all();
	if (!c || !c2 || !cs || !q ||
	    !ASSERT_OK(ops->apply(g_t, c, &undo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(g_t, c, err, sizeof(err)), err))
		goto out;
	json_decref(undo);
	undo = NULL;
	/* The dataplane: an engaged switch nobody decided. */
	if (!ASSERT_OK(dp_killswitch_set(g_dp, 251, true), "tamper") ||
	    !ASSERT_EQ(ops->verify(g_t, c, err, sizeof(err)), -EIO,
		       "kill switch caught") ||
	    !has(err, "kill switch of VIF 'vm1'", "reason") ||
	    !ASSERT_OK(dp_killswitch_set(g_dp, 251, false), "restore") ||
	    !ASSERT_OK(ops->verify(g_t, c, err, sizeof(err)), err))
		goto out;
	/* Linux: the port taken down. */
	if (!ASSERT_EQ(sh("ip link set vp251-vm1 down"), 0, "down") ||
	    !ASSERT_EQ(ops->verify(g_t, c, err, sizeof(err)), -EIO,
		       "port caught") ||
	    !has(err, "down", "reason") ||
	    !ASSERT_EQ(sh("ip link set vp251-vm1 up"), 0, "up") ||
	    !ASSERT_OK(ops->verify(g_t, c, err, sizeof(err)), err))
		goto out;
	/* A chain's next hop and a quota rewritten behind its back. */
	if (!ASSERT_OK(ops->apply(g_t, c2, &undo, err, sizeof(err)), err))
		goto out;
	json_decref(undo);
	undo = NULL;
	if (!ASSERT_OK(ops->apply(g_t, cs, &undo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(g_t, cs, err, sizeof(err)), err) ||
	    !ASSERT_OK(dp_chain_set(g_dp, 251, 0), "tamper") ||
	    !ASSERT_EQ(ops->verify(g_t, cs, err, sizeof(err)), -EIO,
		       "next hop caught") ||
	    !has(err, "next hop 0 in the dataplane, want 252", "reason") ||
	    !ASSERT_OK(ops->rollback(g_t, cs, undo, err, sizeof(err)), err))
		goto out;
	json_decref(undo);
	undo = NULL;
	if (!ASSERT_OK(ops->apply(g_t, q, &undo, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(g_t, q, err, sizeof(err)), err) ||
	    !ASSERT_OK(dp_quota_set(g_dp, 252, 1, VIF_F_QUOTA_RX), "tamper") ||
	    !ASSERT_EQ(ops->verify(g_t, q, err, sizeof(err)), -EIO,
		       "quota caught") ||
	    !has(err, "quota of VIF 'vm2' in the dataplane is 1", "reason"))
		goto out;
	/*
	 * Through the pipeline: the gateway manager's op claims to engage
	 * the new chain but does not; verify fails and the set rolls back.
	 */
	g_gw_lie = true;
	if (!ok(J("[{'id':'g','op':'vif.create','args':{'name':'vm3','vlan':253,'gateway':{'type':'socks5','tun':'tun-vm3','addr':'127.0.0.1','port':1}}}]"),
		false))
		goto out;
	ret = apply(J("[{'id':'ch','op':'chain.set','args':{'hops':['vm1','vm3']}}]"),
		    false, 0, -EIO, NULL, &rep);
	g_gw_lie = false;
	if (!ASSERT_EQ(ret, -EIO, "verify failed the set") ||
	    !has(jstr(rep, "state"), "FAILED", "FAILED") ||
	    !has(jstr(json_object_get(rep, "failed"), "step"), "verify",
		 "at verify") ||
	    !ASSERT_EQ(vifmgr_find(g_m, "vm1")->next_hop, 0, "rolled back")) {
		ret = -1;
		goto out;
	}
	ret = 0;
out:
	g_gw_lie = false;
	if (ret)
		fprintf(stderr, "last error: %s\n", err);
	json_decref(undo);
	json_decref(rep);
	json_decref(c);
	json_decref(c2);
	json_decref(cs);
	json_decref(q);
	return ret;
}

/*
 * A rollback step that fails: PARTIAL_FAILURE naming the item; once the
 * cause is gone, the operator's rollback finishes the job.
 */
static int test_partial_failure_then_retry(void)
{
	struct pipeline_apply_opts o = { 0 };
	const json_t *na;
	json_t *items, *rep = NULL, *rb = NULL;
	int64_t id = 0;
	int ret = -1, r;

	reset_all();
	if (!ASSERT_EQ(sh("ip netns add %s", g_ns2), 0, "netns 2"))
		goto out;
	snprintf(g_unns_name, sizeof(g_unns_name), "pf2");
	snprintf(g_fail_name, sizeof(g_fail_name), "pf1");
	g_fail_step = VIFMGR_STEP_DEL_LINUX;
	items = J("[{'id':'a','op':'vif.create','args':{'name':'pf1','vlan':261}},"
		  "{'id':'b','op':'vif.create','args':{'name':'pf2','vlan':262,'netns':'%s'}}]",
		  g_ns2);
	r = pipeline_apply(g_p, items, &o, &id, &rep);
	json_decref(items);
	na = json_array_get(json_object_get(rep, "needs_attention"), 0);
	if (!ASSERT_EQ(r, -ENOTRECOVERABLE, "rollback failed") ||
	    !has(jstr(rep, "state"), "PARTIAL_FAILURE", "PARTIAL_FAILURE") ||
	    !has(jstr(na, "item"), "a", "pf1 needs a person") ||
	    !has(jstr(na, "error"), "injected", "why")) {
		dump("report", rep);
		goto out;
	}
	g_fail_step = -1;
	if (!ASSERT_OK(pipeline_rollback(g_p, id, &rb), "retry") ||
	    !has(jstr(rb, "state"), "ROLLED_BACK", "all rolled back now") ||
	    !gone("pf1", 261))
		goto out;
	/* pf2 failed in apply: an ERROR VIF, as documented. */
	if (!ASSERT_TRUE(vifmgr_find(g_m, "pf2"), "pf2 kept as ERROR"))
		goto out;
	ret = 0;
out:
	g_fail_step = -1;
	g_unns_name[0] = '\0';
	json_decref(rep);
	json_decref(rb);
	return ret;
}

/* Without gateway and quota managers (deps->gw, ->qm NULL). */
static int test_without_managers(void)
{
	struct target_local_deps td = {
		.vm = g_m, .dp = g_dp, .nl = g_nl, .cfg = &g_cfg,
	};
	const struct pipeline_target_ops *ops = target_local_ops();
	json_t *c1 = item("vif.create", "{'name':'nm1','vlan':271,'gateway':{'type':'socks5','tun':'tun-nm1','addr':'127.0.0.1','port':1}}");
	json_t *c2 = item("vif.create", "{'name':'nm2','vlan':272}");
	json_t *cs = item("chain.set", "{'hops':['nm2','nm1']}");
	json_t *q = item("quota.set", "{'name':'nm2','limit':777,'period':'daily','action':'alert','dir':'tx'}");
	json_t *ks = item("killswitch.set", "{'name':'nm2','mode':'block'}");
	json_t *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL, *u5 = NULL;
	char err[PIPELINE_ERR_MAX] = "";
	struct target_local *t = NULL;
	struct vif_entry e;
	int ret = -1;

	reset_all();
	if (!c1 || !c2 || !cs || !q || !ks ||
	    !ASSERT_OK(target_local_new(&td, &t), "new"))
		goto out;
	if (!ASSERT_OK(ops->apply(t, c1, &u1, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(t, c1, err, sizeof(err)), err) ||
	    !entry("nm1", &e) ||
	    !ASSERT_TRUE(e.flags & VIF_F_KILLSWITCH, "fail closed") ||
	    !ASSERT_OK(ops->apply(t, c2, &u2, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->apply(t, cs, &u3, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(t, cs, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->apply(t, q, &u4, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->verify(t, q, err, sizeof(err)), err) ||
	    !quota_is("nm2", 777, VIF_F_QUOTA_TX) ||
	    /* No kill-switch mode setter given: refused, not half done. */
	    !ASSERT_EQ(ops->apply(t, ks, &u5, err, sizeof(err)), -EOPNOTSUPP,
		       "killswitch.set refused") ||
	    !ASSERT_TRUE(!u5, "nothing to undo") ||
	    !ASSERT_OK(ops->rollback(t, q, u4, err, sizeof(err)), err) ||
	    !quota_is("nm2", 0, 0) ||
	    !ASSERT_OK(ops->rollback(t, cs, u3, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->rollback(t, c2, u2, err, sizeof(err)), err) ||
	    !ASSERT_OK(ops->rollback(t, c1, u1, err, sizeof(err)), err) ||
	    !ASSERT_TRUE(!vifmgr_find(g_m, "nm1") && !vifmgr_find(g_m, "nm2"),
			 "both gone"))
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "last error: %s\n", err);
	target_local_free(t);
	json_decref(u1);
	json_decref(u2);
	json_decref(u3);
	json_decref(u4);
	json_decref(u5);
	json_decref(c1);
	json_decref(c2);
	json_decref(cs);
	json_decref(q);
	json_decref(ks);
	return ret;
}

/*
 * Run items in a forked child that dies (SIGKILL) at vifmgr step @step of
 * VIF @name, or right after apply returns when @name is NULL; then
 * "restart": everything reopened, reconciled, recovered.
 */
static bool crash_and_restart(const char *items, unsigned int timeout_s,
			      const char *name, int step, json_t **rec)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = timeout_s };
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return ASSERT_TRUE(false, "fork");
	if (!pid) {
		json_t *j = J("%s", items);

		if (name) {
			snprintf(g_crash_name, sizeof(g_crash_name), "%s", name);
			g_crash_step = step;
		}
		pipeline_apply(g_p, j, &o, NULL, NULL);
		if (!name)
			raise(SIGKILL);
		_exit(3); /* the crash point was not reached */
	}
	if (!ASSERT_EQ(waitpid(pid, &st, 0), pid, "waitpid") ||
	    !ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
			 "child killed"))
		return false;
	close_all();
	return ASSERT_OK(open_all(rec), "restart");
}

/*
 * kill -9 in the middle of a set (the second create, after its veth):
 * at restart the first create is rolled back by its journaled undo, the
 * second, whose outcome the journal does not know, by its name.
 */
static int test_crash_mid_apply(void)
{
	json_t *rec = NULL, *st = NULL;
	int ret = -1;

	reset_all();
	if (!crash_and_restart("[{'id':'a','op':'vif.create','args':{'name':'kc1','vlan':231}},"
			       "{'id':'b','op':'vif.create','args':{'name':'kc2','vlan':232}}]",
			       0, "kc2", VIFMGR_STEP_PORT, &rec))
		goto out;
	if (!has(jstr(rec, "action"), "rolled_back", "recovery rolled back") ||
	    !ASSERT_OK(pipeline_status(g_p, json_integer_value(json_object_get(rec, "changeset")), &st),
		       "status") ||
	    !has(jstr(st, "state"), "FAILED", "FAILED") ||
	    !gone("kc1", 231) || !gone("kc2", 232)) {
		dump("recovery", rec);
		goto out;
	}
	ret = 0;
out:
	json_decref(rec);
	json_decref(st);
	return ret;
}

/*
 * kill -9 inside a commit-confirmed window: after the restart the
 * deadline still rolls the set back, on schedule.
 */
static int test_crash_in_confirm_window(void)
{
	json_t *rec = NULL, *st = NULL;
	int64_t id;
	int ret = -1;

	reset_all();
	if (!crash_and_restart("[{'id':'a','op':'vif.create','args':{'name':'kw1','vlan':241}},"
			       "{'id':'q','op':'quota.set','args':{'name':'kw1','limit':4096,'period':'daily','action':'block','dir':'both'}}]",
			       2, NULL, -1, &rec))
		goto out;
	id = json_integer_value(json_object_get(rec, "changeset"));
	if (!ASSERT_TRUE(id > 0, "a set was pending") ||
	    !has(jstr(rec, "action"), "armed", "timer re-armed") ||
	    !live("kw1") || !quota_is("kw1", 4096, VIF_F_QUOTA_BLOCK |
							   VIF_F_QUOTA_RX |
							   VIF_F_QUOTA_TX)) {
		dump("recovery", rec);
		goto out;
	}
	if (!ASSERT_TRUE(spin(5000, no_pending), "rolled back in time") ||
	    !ASSERT_OK(pipeline_status(g_p, id, &st), "status") ||
	    !has(jstr(st, "state"), "ROLLED_BACK", "ROLLED_BACK") ||
	    !gone("kw1", 241))
		goto out;
	ret = 0;
out:
	json_decref(rec);
	json_decref(st);
	return ret;
}

/*
 * Timing: one set creating n VIFs (TL_TEST_BULK, default 500) with
 * journal_batch TL_TEST_BATCH (default 64); then one deleting them.
 */
static int test_bulk_create_set(void)
{
	const char *env = getenv("TL_TEST_BULK");
	const char *benv = getenv("TL_TEST_BATCH");
	struct pipeline_apply_opts o = {
		.journal_batch = benv ? (unsigned int)atoi(benv) : 64,
	};
	unsigned int n = env ? (unsigned int)atoi(env) : 500, i;
	json_t *items = NULL, *dels = NULL, *rep = NULL;
	double t0, t_prev, t_apply, t_del;
	char last[16];
	int ret = -1, r;

	reset_all();
	if (n < 1 || n > 4000)
		n = 500;
	snprintf(last, sizeof(last), "b%u", n - 1);
	items = json_array();
	dels = json_array();
	for (i = 0; items && dels && i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "b%u", i);
		json_array_append_new(items,
				      json_pack("{s:s, s:s, s:{s:s}}", "id", name,
						"op", "vif.create", "args",
						"name", name));
		json_array_append_new(dels,
				      json_pack("{s:s, s:s, s:{s:s}}", "id", name,
						"op", "vif.delete", "args",
						"name", name));
	}
	if (!ASSERT_EQ(json_array_size(items), n, "items") ||
	    !ASSERT_EQ(json_array_size(dels), n, "deletes"))
		goto out;
	t0 = now_s();
	r = pipeline_preview(g_p, items, &rep);
	t_prev = now_s() - t0;
	if (!ASSERT_OK(r, "preview") ||
	    !has(jstr(rep, "risk"), "LOW", "creates are LOW"))
		goto out;
	json_decref(rep);
	rep = NULL;
	t0 = now_s();
	r = pipeline_apply(g_p, items, &o, NULL, &rep);
	t_apply = now_s() - t0;
	if (!ASSERT_OK(r, "apply") ||
	    !has(jstr(rep, "state"), "CONFIRMED", "committed") ||
	    !ASSERT_EQ(vifmgr_count(g_m), n, "all there") || !live("b0") ||
	    !live(last))
		goto out;
	json_decref(rep);
	rep = NULL;
	o.confirmed_high_risk = true;
	t0 = now_s();
	r = pipeline_apply(g_p, dels, &o, NULL, &rep);
	t_del = now_s() - t0;
	if (!ASSERT_OK(r, "delete") || !ASSERT_EQ(vifmgr_count(g_m), 0,
						  "all gone"))
		goto out;
	printf("bulk: %u VIFs in one set (journal_batch %u): validate+preview %.3f s, apply+verify+commit %.3f s (%.2f ms/VIF); deleting them %.3f s (%.2f ms/VIF)\n",
	       n, o.journal_batch, t_prev, t_apply, t_apply * 1e3 / n, t_del,
	       t_del * 1e3 / n);
	ret = 0;
out:
	if (ret)
		dump("report", rep);
	json_decref(rep);
	json_decref(items);
	json_decref(dels);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_create_chain_in_one_set),
	TEST_CASE(test_failure_rolls_back),
	TEST_CASE(test_high_risk_needs_confirm),
	TEST_CASE(test_confirm_timeout_rolls_back),
	TEST_CASE(test_validation_errors),
	TEST_CASE(test_pool_set),
	TEST_CASE(test_quota_set),
	TEST_CASE(test_killswitch_set),
	TEST_CASE(test_rollback_unknown_outcome),
	TEST_CASE(test_verify_catches_mismatch),
	TEST_CASE(test_partial_failure_then_retry),
	TEST_CASE(test_without_managers),
	TEST_CASE(test_crash_mid_apply),
	TEST_CASE(test_crash_in_confirm_window),
	TEST_CASE(test_bulk_create_set),
};

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = setup();
	if (err)
		return err;
	return harness_run(cases, ARRAY_SIZE(cases));
}
