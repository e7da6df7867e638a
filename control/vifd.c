// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifd.c - the vifplane control daemon: startup, the one event loop,
 * reload and shutdown.  See vifd.h for the order of things and
 * docs/PROTOCOL.md for what clients see.
 *
 *   vifd [-c CONFIG] [--check-config] [-f|--foreground] [-v]
 *
 * Exit codes: 0 clean stop (or a valid config with --check-config),
 * 1 startup or runtime failure (or an invalid config), 2 usage error (or
 * an unreadable config).
 *
 * Without -f, vifd forks once it has parsed its arguments; the parent
 * waits until the child's control socket is up and exits 0, or with the
 * child's startup exit code, so "vifd && vifctl ping" works.  Logs go to
 * stderr either way (systemd captures it; run it with -f there).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include <jansson.h>

#include "alert.h"
#include "alloc.h"
#include "api.h"
#include "config.h"
#include "dp.h"
#include "gateway.h"
#include "handlers.h"
#include "log.h"
#include "loop.h"
#include "model.h"
#include "nl.h"
#include "pipeline.h"
#include "quota.h"
#include "stathist.h"
#include "store.h"
#include "target_local.h"
#include "vif_build.h"
#include "vifd.h"
#include "vifmgr.h"

enum {
	VIFD_EXIT_OK = 0,
	VIFD_EXIT_FAIL = 1,
	VIFD_EXIT_USAGE = 2, /* also: config unreadable */
};

#define VIFD_LOCK_FILENAME "vifd.lock" /* in the state dir: one vifd each */

/* Persisted quota usage per VLAN, in the store's key/value table. */
#define VIFD_QUOTA_KEY_FMT "quota.usage.%u"

/* [alerts] keys: rebuilt together on SIGHUP. */
#define VIFD_ALERT_KEYS                                                    \
	(CONFIG_KEY_BIT(CONFIG_WEBHOOK_URL) |                              \
	 CONFIG_KEY_BIT(CONFIG_NTFY_URL) | CONFIG_KEY_BIT(CONFIG_NTFY_TOPIC) | \
	 CONFIG_KEY_BIT(CONFIG_PUSHOVER_TOKEN) |                           \
	 CONFIG_KEY_BIT(CONFIG_PUSHOVER_USER) |                            \
	 CONFIG_KEY_BIT(CONFIG_TELEGRAM_TOKEN) |                           \
	 CONFIG_KEY_BIT(CONFIG_TELEGRAM_CHAT) |                            \
	 CONFIG_KEY_BIT(CONFIG_SMTP_URL) | CONFIG_KEY_BIT(CONFIG_SMTP_FROM) | \
	 CONFIG_KEY_BIT(CONFIG_SMTP_TO))
#define VIFD_ROUTER_KEYS                                                   \
	(CONFIG_KEY_BIT(CONFIG_ROUTER_URL) |                               \
	 CONFIG_KEY_BIT(CONFIG_ROUTER_USER) |                              \
	 CONFIG_KEY_BIT(CONFIG_ROUTER_PASSWORD_FILE) |                     \
	 CONFIG_KEY_BIT(CONFIG_ROUTER_TLS_VERIFY))
#define VIFD_POOL_KEYS                                                     \
	(CONFIG_KEY_BIT(CONFIG_VLAN_POOL) | CONFIG_KEY_BIT(CONFIG_RESERVED))
#define VIFD_PROBE_KEYS                                                    \
	(CONFIG_KEY_BIT(CONFIG_PROBE_INTERVAL_MS) |                        \
	 CONFIG_KEY_BIT(CONFIG_PROBE_FAIL_THRESHOLD))
#define VIFD_RETENTION_KEYS                                                \
	(CONFIG_KEY_BIT(CONFIG_STATS_RETENTION_DAYS) |                     \
	 CONFIG_KEY_BIT(CONFIG_EVENT_RETENTION))

struct vifd_event {
	struct vifd_event *next;
	char type[STORE_TYPE_MAX];
	__u16 vlan;
	int64_t at;
	int64_t seq; /* 0 until stored */
	json_t *data;
};

int64_t vifd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ---- events ----------------------------------------------------------- */

static void events_flush(struct vifd *d);

static void on_evq_timer(struct loop *l, uint64_t id, void *ctx)
{
	struct vifd *d = ctx;

	d->evq_timer = 0;
	events_flush(d);
}

/*
 * Write the queued events in one transaction, then push them live.  The
 * store hands out the seqs, so subscribers only ever see stored events
 * (api_broadcast_event() wants them in the history first).
 */
static void events_flush(struct vifd *d)
{
	struct vifd_event *list = d->evq_head, *e, *next;
	bool txn = false;
	char *text;
	int err;

	d->evq_head = NULL;
	d->evq_tail = &d->evq_head;
	d->evq_len = 0;
	if (d->evq_timer) {
		loop_timer_del(d->loop, d->evq_timer);
		d->evq_timer = 0;
	}
	if (!list)
		return;
	if (list->next) {
		err = store_begin(d->store);
		if (err)
			pr_warn("Couldn't start writing events: %s (%d)\n",
				store_errmsg(d->store), err);
		txn = !err;
	}
	for (e = list; e; e = e->next) {
		text = json_dumps(e->data, JSON_COMPACT);
		err = text ? store_event_append(d->store, e->type, e->vlan,
						text, e->at, &e->seq) :
			     -ENOMEM;
		if (err) {
			pr_warn("Couldn't store event '%s': %s (%d)\n", e->type,
				err == -ENOMEM ? strerror(ENOMEM) :
						 store_errmsg(d->store),
				err);
			e->seq = 0;
		}
		free(text);
	}
	if (txn) {
		err = store_commit(d->store);
		if (err) {
			pr_warn("Couldn't store %s events: %s (%d)\n",
				"queued", store_errmsg(d->store), err);
			store_rollback(d->store);
			for (e = list; e; e = e->next)
				e->seq = 0;
		}
	}
	for (e = list; e; e = next) {
		next = e->next;
		if (e->seq > 0 && d->api)
			api_broadcast_event(d->api, e->seq, e->type, e->vlan,
					    e->at, e->data);
		json_decref(e->data);
		free(e);
	}
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The VIF's name for an alert's title ("'tor' (VLAN 101)"). */
static void alert_who(const json_t *data, __u16 vlan, char *buf,
		      size_t len)
{
	const char *name = jstr(data, "name");

	if (*name)
		snprintf(buf, len, "'%s' (VLAN %u)", name, vlan);
	else
		snprintf(buf, len, "VLAN %u", vlan);
}

/*
 * The alert-worthy events: a gateway FAILED, a kill switch engaged (not
 * the fail-closed engage of a gateway that is only STARTING), a quota
 * spent, a change set that needs a person, a VIF in ERROR.
 */
static void events_alert(struct vifd *d, const char *type, __u16 vlan,
			 const json_t *data)
{
	char who[64], title[ALERT_TITLE_MAX], body[ALERT_BODY_MAX];
	struct alert al = { .vlan = vlan, .title = title, .body = body };
	int err;

	if (!d->alerter)
		return;
	alert_who(data, vlan, who, sizeof(who));
	body[0] = '\0';
	if (!strcmp(type, "gateway.state") &&
	    !strcmp(jstr(data, "state"), "FAILED")) {
		al.severity = ALERT_CRITICAL;
		al.type = "gateway.failed";
		snprintf(title, sizeof(title), "Gateway of VIF %s FAILED", who);
		snprintf(body, sizeof(body),
			 "The gateway's health probe failed (it was %s); the VIF's kill switch blocks its traffic until the gateway is RUNNING again.",
			 jstr(data, "previous"));
	} else if (!strcmp(type, "vif.killswitch") &&
		   json_is_true(json_object_get(data, "engaged"))) {
		if (d->gw && gw_state(d->gw, vlan) == VIFD_GW_STARTING)
			return; /* fail closed until the first probe: normal */
		al.severity = ALERT_CRITICAL;
		al.type = "killswitch.engaged";
		snprintf(title, sizeof(title), "Kill switch of VIF %s engaged",
			 who);
		snprintf(body, sizeof(body),
			 "Nothing leaves the VIF's service until it is released.");
	} else if (!strcmp(type, "quota.100")) {
		al.severity = ALERT_WARNING;
		al.type = "quota.exceeded";
		snprintf(title, sizeof(title), "Quota of VIF %s used up", who);
		snprintf(body, sizeof(body), "%lld of %lld bytes used this period.",
			 (long long)json_integer_value(json_object_get(data, "used")),
			 (long long)json_integer_value(json_object_get(data, "limit")));
	} else if (!strcmp(type, "changeset.state") &&
		   !strcmp(jstr(data, "state"), "PARTIAL_FAILURE")) {
		al.severity = ALERT_CRITICAL;
		al.type = "changeset.partial_failure";
		snprintf(title, sizeof(title),
			 "Change set %lld needs attention: PARTIAL_FAILURE",
			 (long long)json_integer_value(json_object_get(data, "id")));
		snprintf(body, sizeof(body),
			 "A rollback step failed: see 'vifctl changeset status %lld'. %s",
			 (long long)json_integer_value(json_object_get(data, "id")),
			 jstr(data, "error"));
	} else if (!strcmp(type, "vif.state") &&
		   !strcmp(jstr(data, "state"), "ERROR")) {
		al.severity = ALERT_WARNING;
		al.type = "vif.error";
		snprintf(title, sizeof(title), "VIF %s is in ERROR", who);
		snprintf(body, sizeof(body), "%s", jstr(data, "error"));
	} else {
		return;
	}
	err = alert_send(d->alerter, &al);
	if (err)
		pr_warn("Couldn't send alert '%s': %s (%d)\n", al.type,
			strerror(-err), err);
}

void vifd_emit(struct vifd *d, const char *type, __u16 vlan,
	       const json_t *data)
{
	struct vifd_event *e;
	int err;

	e = calloc(1, sizeof(*e));
	if (!e || strlen(type) >= sizeof(e->type)) {
		pr_warn("Couldn't queue event '%s': %s\n", type,
			e ? "type too long" : strerror(ENOMEM));
		free(e);
		return;
	}
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->vlan = vlan;
	e->at = vifd_now();
	e->data = data ? json_deep_copy(data) : json_object();
	if (!e->data) {
		pr_warn("Couldn't queue event '%s': %s\n", type,
			strerror(ENOMEM));
		free(e);
		return;
	}
	*d->evq_tail = e;
	d->evq_tail = &e->next;
	d->evq_len++;
	/*
	 * Written from the loop only, never from here: the caller may be
	 * inside a store transaction of its own that can still roll back,
	 * and a seq once broadcast must never be handed out again.  Without
	 * a timer the next event tries again.
	 */
	if (!d->evq_timer) {
		err = loop_timer_add(d->loop, 0, 0, on_evq_timer, d,
				     &d->evq_timer);
		if (err)
			d->evq_timer = 0;
	}
	events_alert(d, type, vlan, data);
}

static void on_event_prune(struct loop *l, uint64_t id, void *ctx)
{
	struct vifd *d = ctx;
	__u64 n = 0;
	int err;

	err = store_event_prune(d->store, d->cfg.event_retention, &n);
	if (err)
		pr_warn("Couldn't prune events: %s (%d)\n",
			store_errmsg(d->store), err);
	else if (n)
		pr_debug("pruned %llu events\n", (unsigned long long)n);
}

/* The control socket's event history, backed by the store. */
struct ev_adapt {
	api_event_cb cb;
	void *cb_ctx;
};

static int ev_store_cb(const struct store_event *e, void *ctx)
{
	const struct ev_adapt *a = ctx;
	struct api_event ev = {
		.seq = e->seq,
		.type = e->type,
		.vlan = e->vlan,
		.at = e->at,
		.json = e->json,
	};

	return a->cb(&ev, a->cb_ctx);
}

static int ev_since(void *ctx, int64_t since, api_event_cb cb, void *cb_ctx)
{
	struct vifd *d = ctx;
	struct ev_adapt a = { cb, cb_ctx };

	return store_event_since(d->store, since, ev_store_cb, &a);
}

static int ev_bounds(void *ctx, int64_t *first, int64_t *last)
{
	struct vifd *d = ctx;

	return store_event_bounds(d->store, first, last);
}

/* ---- the VLAN pool ---------------------------------------------------- */

/*
 * Stored as {"lo","hi","reserved","file_lo","file_hi","file_reserved"}:
 * the pool in force and the config file's pool when it was written, so a
 * start can tell "pool.set moved it since" (the store wins) from "the file
 * changed since" (the file wins).  Reserved sets as "150,160-169".
 */
#define VIFD_POOL_KEY "pool"

static int vset_format(const struct vlan_set *s, char *buf, size_t len)
{
	unsigned int v = 0, a;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	while (v < VIF_VLAN_SLOTS) {
		if (!vlan_set_has(s, v)) {
			v++;
			continue;
		}
		for (a = v; v + 1 < VIF_VLAN_SLOTS && vlan_set_has(s, v + 1);)
			v++;
		n = a == v ? snprintf(buf + used, len - used, "%s%u",
				      used ? "," : "", a) :
			     snprintf(buf + used, len - used, "%s%u-%u",
				      used ? "," : "", a, v);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += n;
		v++;
	}
	return 0;
}

static int vset_parse(const char *p, struct vlan_set *s)
{
	unsigned long a, b, v;
	char *end;

	vlan_set_clear(s);
	while (*p) {
		a = strtoul(p, &end, 10);
		if (end == p)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return -EINVAL;
		}
		if (a > b || b >= VIF_VLAN_SLOTS)
			return -EINVAL;
		for (v = a; v <= b; v++)
			vlan_set_add(s, v);
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	return 0;
}

static int pool_store(struct vifd *d, __u16 lo, __u16 hi,
		      const struct vlan_set *reserved)
{
	char res[STORE_KV_VALUE_MAX / 2 - 64], fres[STORE_KV_VALUE_MAX / 2 - 64];
	char val[STORE_KV_VALUE_MAX];
	int err, n;

	err = vset_format(reserved, res, sizeof(res));
	if (!err)
		err = vset_format(&d->file_pool.reserved, fres, sizeof(fres));
	if (err) {
		pr_warn("Couldn't store the VLAN pool: its reserved set is too fragmented\n");
		return err;
	}
	n = snprintf(val, sizeof(val),
		     "{\"lo\":%u,\"hi\":%u,\"reserved\":\"%s\",\"file_lo\":%u,\"file_hi\":%u,\"file_reserved\":\"%s\"}",
		     lo, hi, res, d->file_pool.lo, d->file_pool.hi, fres);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -ENOSPC;
	err = store_kv_set(d->store, VIFD_POOL_KEY, val);
	if (err)
		pr_warn("Couldn't store the VLAN pool: %s (%d)\n",
			store_errmsg(d->store), err);
	return err;
}

static void file_pool_take(struct vifd *d, const struct vifd_config *cfg)
{
	d->file_pool.lo = cfg->vlan_pool.lo;
	d->file_pool.hi = cfg->vlan_pool.hi;
	d->file_pool.reserved = cfg->reserved;
}

static bool file_pool_same(const struct vifd *d, const struct vifd_config *c)
{
	return d->file_pool.lo == c->vlan_pool.lo &&
	       d->file_pool.hi == c->vlan_pool.hi &&
	       !memcmp(&d->file_pool.reserved, &c->reserved,
		       sizeof(c->reserved));
}

/* At start, before the VIF manager builds its pool from d->cfg. */
static void pool_load(struct vifd *d)
{
	char val[STORE_KV_VALUE_MAX], res[256];
	struct vlan_set r, fr;
	json_t *j;
	unsigned int lo, hi;
	bool file_same;

	file_pool_take(d, &d->cfg);
	if (store_kv_get(d->store, VIFD_POOL_KEY, val, sizeof(val)))
		return;
	j = json_loads(val, 0, NULL);
	lo = json_integer_value(json_object_get(j, "lo"));
	hi = json_integer_value(json_object_get(j, "hi"));
	if (!json_is_object(j) || lo < VIFD_VLAN_LO || lo > hi ||
	    hi > VIFD_VLAN_HI ||
	    vset_parse(jstr(j, "reserved"), &r) ||
	    vset_parse(jstr(j, "file_reserved"), &fr)) {
		pr_warn("Ignoring the stored VLAN pool: unreadable\n");
		json_decref(j);
		return;
	}
	file_same = json_integer_value(json_object_get(j, "file_lo")) ==
			    d->file_pool.lo &&
		    json_integer_value(json_object_get(j, "file_hi")) ==
			    d->file_pool.hi &&
		    !memcmp(&fr, &d->file_pool.reserved, sizeof(fr));
	json_decref(j);
	if (!file_same) {
		pr_info("the config file changed the VLAN pool since it was last set: %u-%u from the file\n",
			d->file_pool.lo, d->file_pool.hi);
		return;
	}
	if (lo != d->cfg.vlan_pool.lo || hi != d->cfg.vlan_pool.hi ||
	    memcmp(&r, &d->cfg.reserved, sizeof(r))) {
		vlan_set_format(&r, res, sizeof(res));
		pr_info("VLAN pool %u-%u (reserved: %s) as last set by a change set; the config file says %u-%u\n",
			lo, hi, res[0] ? res : "none", d->file_pool.lo,
			d->file_pool.hi);
	}
	d->cfg.vlan_pool.lo = lo;
	d->cfg.vlan_pool.hi = hi;
	d->cfg.reserved = r;
}

/*
 * target_local's pool_set hook: the VIF manager's live pool was resized
 * (pool.set or its rollback); make it the pool in force and persist it.
 */
static int vifd_pool_set(void *ctx, __u16 lo, __u16 hi,
			 const struct vlan_set *reserved)
{
	struct vifd *d = ctx;
	const struct vlan_set *r = reserved ? reserved : &d->cfg.reserved;
	int err;

	err = pool_store(d, lo, hi, r);
	if (err)
		return err;
	d->cfg.vlan_pool.lo = lo;
	d->cfg.vlan_pool.hi = hi;
	d->cfg.reserved = *r;
	pr_info("VLAN pool is now %u-%u\n", lo, hi);
	return 0;
}

/* ---- VIF manager ------------------------------------------------------ */

static void vm_emit_cb(void *ctx, const char *type, __u16 vlan, json_t *data)
{
	struct vifd *d = ctx;
	char key[STORE_KV_KEY_MAX];
	json_t *copy;

	if (!strcmp(type, "vif.deleted")) {
		/* Its persisted quota usage must not pass to a new owner. */
		snprintf(key, sizeof(key), VIFD_QUOTA_KEY_FMT, vlan);
		store_kv_delete(d->store, key);
	}
	/* PROTOCOL.md: "error" is null unless the state is ERROR. */
	if (!strcmp(type, "vif.state") &&
	    strcmp(jstr(data, "state"), "ERROR") &&
	    json_is_string(json_object_get(data, "error"))) {
		copy = json_copy(data);
		if (copy && !json_object_set_new(copy, "error", json_null())) {
			vifd_emit(d, type, vlan, copy);
			json_decref(copy);
			return;
		}
		json_decref(copy);
	}
	vifd_emit(d, type, vlan, data);
}

/* ---- gateway manager -------------------------------------------------- */

static int gw_op_killswitch(void *ctx, __u16 vlan, bool engage)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v = vifmgr_get(d->vm, vlan);
	struct vif_entry e;
	int err;

	if (!v)
		return 0; /* gone: nothing left to protect */
	/*
	 * Already so in the store and the dataplane (the usual case at
	 * startup, where reconcile made them agree): skip the write, which
	 * costs an fsync per VIF.
	 */
	if (v->ks_engaged == engage &&
	    (v->state != VIFD_STATE_ACTIVE ||
	     (!dp_vif_get(d->dp, vlan, &e) &&
	      !!(e.flags & VIF_F_KILLSWITCH) == engage)))
		return 0;
	err = vifmgr_set_killswitch(d->vm, vlan, engage);
	if (err == -ENOENT)
		return 0; /* being removed */
	if (err)
		pr_warn("Couldn't %s the kill switch of VLAN %u: %s (%d)\n",
			engage ? "engage" : "release", vlan, strerror(-err),
			err);
	return err;
}

static int gw_op_fallback(void *ctx, __u16 vlan, __u16 fallback, bool on)
{
	struct vifd *d = ctx;
	int err;

	err = vifmgr_apply_fallback(d->vm, vlan, fallback, on);
	if (err == -ENOENT)
		return 0;
	if (err)
		pr_warn("Couldn't %s the fallback of VLAN %u into VLAN %u: %s (%d)\n",
			on ? "apply" : "remove", vlan, fallback,
			strerror(-err), err);
	return err;
}

static void gw_on_state(void *ctx, __u16 vlan, enum vifd_gw_state old_state,
			enum vifd_gw_state new_state)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v = vifmgr_get(d->vm, vlan);
	struct gw_status st;
	json_t *data;
	int err;

	if (gw_status(d->gw, vlan, &st))
		st.fails = 0;
	if (v) {
		err = vifmgr_set_gw_state(d->vm, vlan, new_state, st.fails);
		if (err && err != -ENOENT)
			pr_warn("Couldn't store the gateway state of VLAN %u: %s (%d)\n",
				vlan, strerror(-err), err);
		/* A gateway that came or went may have brought its tun. */
		err = vifmgr_route_sync(d->vm, vlan);
		if (err && err != -ENOENT)
			pr_warn("Couldn't sync the routes of VLAN %u: %s (%d)\n",
				vlan, strerror(-err), err);
	}
	pr_info("gateway of VLAN %u: %s -> %s\n", vlan,
		handlers_gw_state_name(old_state),
		handlers_gw_state_name(new_state));
	data = json_pack("{s:s, s:i, s:s, s:s}", "name", v ? v->name : "",
			 "vlan", (int)vlan, "state",
			 handlers_gw_state_name(new_state), "previous",
			 handlers_gw_state_name(old_state));
	vifd_emit(d, "gateway.state", vlan, data);
	json_decref(data);
}

static const struct gw_ops vifd_gw_ops = {
	.killswitch = gw_op_killswitch,
	.fallback = gw_op_fallback,
	.on_state = gw_on_state,
};

static void gw_settings_from(const struct vifd_config *cfg,
			     struct gw_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->interval_ms = cfg->probe_interval_ms;
	s->fail_threshold = cfg->probe_fail_threshold;
	/* retry_ms and timeout_ms: derived from the interval. */
}

static int gateway_start(struct vifd *d)
{
	struct gw_settings s;
	int err;

	gw_settings_from(&d->cfg, &s);
	err = gw_mgr_new(d->loop, &s, &vifd_gw_ops, d, &d->gw);
	if (err) {
		pr_warn("Couldn't start the gateway manager: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	/* The VIFs join it in target_local_sync() (pipeline_start()). */
	pr_info("gateway manager: probing every %u ms, FAILED after %u failures\n",
		d->cfg.probe_interval_ms, d->cfg.probe_fail_threshold);
	return 0;
}

/* ---- quota manager ---------------------------------------------------- */

static int q_dp_set(void *ctx, __u16 vlan, __u64 limit, __u32 flags)
{
	struct vifd *d = ctx;

	return dp_quota_set(d->dp, vlan, limit, flags);
}

static int q_dp_reset(void *ctx, __u16 vlan)
{
	struct vifd *d = ctx;

	return dp_quota_reset(d->dp, vlan);
}

static int q_dp_usage(void *ctx, __u16 vlan, __u64 *used)
{
	struct vifd *d = ctx;

	return dp_quota_usage(d->dp, vlan, used);
}

/*
 * Usage, base and thresholds go to the key/value table, not the VIF row:
 * the VIF manager owns the row (and its in-memory copy would write an
 * older usage back).  The row keeps the quota's configuration.
 */
static int q_persist(void *ctx, __u16 vlan, const struct quota_state *st)
{
	struct vifd *d = ctx;
	char key[STORE_KV_KEY_MAX], val[256];
	int err;

	snprintf(key, sizeof(key), VIFD_QUOTA_KEY_FMT, vlan);
	snprintf(val, sizeof(val),
		 "{\"used\":%llu,\"base\":%llu,\"period_start\":%lld,\"alerted\":%u,\"limit\":%llu}",
		 (unsigned long long)st->q.used, (unsigned long long)st->base,
		 (long long)st->q.period_start, (unsigned int)st->q.alerted,
		 (unsigned long long)st->q.limit);
	err = store_kv_set(d->store, key, val);
	if (err)
		pr_warn("Couldn't store the quota usage of VLAN %u: %s (%d)\n",
			vlan, store_errmsg(d->store), err);
	return err;
}

static void q_event(void *ctx, __u16 vlan, const char *type, __u64 used,
		    __u64 limit)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v = vifmgr_get(d->vm, vlan);
	json_t *data;

	data = json_pack("{s:s, s:i, s:I, s:I}", "name", v ? v->name : "",
			 "vlan", (int)vlan, "used", (json_int_t)used, "limit",
			 (json_int_t)limit);
	vifd_emit(d, type, vlan, data);
	json_decref(data);
}

static const struct quota_ops vifd_quota_ops = {
	.dp_set = q_dp_set,
	.dp_reset = q_dp_reset,
	.dp_usage = q_dp_usage,
	.persist = q_persist,
	.event = q_event,
};

/* The VIF row's quota, with the usage persisted by q_persist() on top. */
static void quota_state_load(struct vifd *d, const struct vifd_vif *v,
			     struct quota_state *st)
{
	char key[STORE_KV_KEY_MAX], val[STORE_KV_VALUE_MAX];
	json_t *j;

	memset(st, 0, sizeof(*st));
	st->q = v->quota;
	snprintf(key, sizeof(key), VIFD_QUOTA_KEY_FMT, v->vlan);
	if (store_kv_get(d->store, key, val, sizeof(val)))
		return;
	j = json_loads(val, 0, NULL);
	if (!json_is_object(j)) {
		pr_warn("Ignoring unreadable quota usage of VLAN %u\n", v->vlan);
		json_decref(j);
		return;
	}
	st->q.used = json_integer_value(json_object_get(j, "used"));
	st->base = json_integer_value(json_object_get(j, "base"));
	st->q.period_start =
		json_integer_value(json_object_get(j, "period_start"));
	st->q.alerted = json_integer_value(json_object_get(j, "alerted")) & 7;
	if (st->base > st->q.used)
		st->base = st->q.used;
	json_decref(j);
}

static int quota_track_cb(const struct vifd_vif *v, void *ctx)
{
	vifd_quota_track(ctx, v);
	return 0; /* logged; the others still get theirs */
}

int vifd_quota_track(struct vifd *d, const struct vifd_vif *v)
{
	struct quota_state st;
	__u64 limit;
	__u32 flags;
	int err;

	if (!v->quota.limit)
		return 0;
	quota_state_load(d, v, &st);
	err = quota_mgr_track(d->qm, v->vlan, &st);
	if (err) {
		pr_warn("Couldn't track the quota of VIF '%s': %s (%d)\n",
			v->name, strerror(-err), err);
		return err;
	}
	/* The dataplane gets what is left of the period: limit - base. */
	if (v->state == VIFD_STATE_ACTIVE) {
		quota_dp_params(&st, &limit, &flags);
		err = dp_quota_set(d->dp, v->vlan, limit, flags);
		if (err)
			pr_warn("Couldn't set the quota of VIF '%s' in the dataplane: %s (%d)\n",
				v->name, strerror(-err), err);
	}
	return err;
}

static int quota_persist_cb(const struct vifd_vif *v, void *ctx)
{
	struct vifd *d = ctx;
	const struct quota_state *st = quota_mgr_get(d->qm, v->vlan);

	if (st)
		q_persist(d, v->vlan, st);
	return 0;
}

static int quota_start(struct vifd *d)
{
	int err;

	err = quota_mgr_new(d->loop, d->cfg.timezone, VIFD_QUOTA_POLL_MS,
			    &vifd_quota_ops, d, &d->qm);
	if (err) {
		pr_warn("Couldn't start the quota manager: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	return vifmgr_foreach(d->vm, quota_track_cb, d);
}

/* ---- traffic history -------------------------------------------------- */

static int sh_read(void *ctx, struct dp_stats *out)
{
	struct vifd *d = ctx;

	return dp_stats_read(d->dp, out);
}

static int sh_begin(void *ctx)
{
	struct vifd *d = ctx;
	int err = store_begin(d->store);

	d->stats_in_txn = !err;
	return err;
}

static int sh_add_hour(void *ctx, __u16 vlan, int64_t hour,
		       const struct store_stats *delta)
{
	struct vifd *d = ctx;

	return store_stats_add_hour(d->store, vlan, hour, delta);
}

static int sh_commit(void *ctx)
{
	struct vifd *d = ctx;
	int err = store_commit(d->store);

	if (!err)
		d->stats_in_txn = false;
	return err;
}

static const struct stathist_ops vifd_stathist_ops = {
	.read = sh_read,
	.begin = sh_begin,
	.add_hour = sh_add_hour,
	.commit = sh_commit,
};

/* A failed flush leaves its transaction open: roll it back here. */
void vifd_stats_flush(struct vifd *d)
{
	int err;

	if (!d->sh)
		return;
	err = stathist_flush(d->sh);
	if (d->stats_in_txn) {
		store_rollback(d->store);
		d->stats_in_txn = false;
	}
	if (err)
		pr_warn("Couldn't write the traffic history: %s (%d)\n",
			store_errmsg(d->store), err);
}

static void stats_sample(struct vifd *d)
{
	int64_t now = vifd_now();
	int err;

	err = stathist_sample(d->sh, now, loop_now_ms());
	if (d->stats_in_txn) {
		/* The hour-change flush inside the sample failed. */
		store_rollback(d->store);
		d->stats_in_txn = false;
	}
	if (err) {
		if (!d->stats_warned)
			pr_warn("Couldn't sample the dataplane counters: %s (%d)\n",
				strerror(-err), err);
		d->stats_warned = true;
		return;
	}
	d->stats_warned = false;
	d->stats_samples++;
	d->stats_at = now;
}

/*
 * A big change set or answer (a 4092-VIF create, vif.list of a full pool)
 * leaves tens of MB of freed heap behind: jansson's many small objects
 * fragment it, so glibc's own trim at the top of the heap returns little.
 * malloc_trim(0) gives every free page back; it walks the heap (a few ms
 * at worst), so only when there is much to give.
 */
#define VIFD_TRIM_FREE_MIN (1 << 20)

static void heap_trim(void)
{
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks >= VIFD_TRIM_FREE_MIN)
		malloc_trim(0);
}

static void on_stats_timer(struct loop *l, uint64_t id, void *ctx)
{
	stats_sample(ctx);
	heap_trim();
}

static void on_flush_timer(struct loop *l, uint64_t id, void *ctx)
{
	vifd_stats_flush(ctx);
}

static void stats_prune(struct vifd *d)
{
	__u64 n = 0;
	int err;

	err = store_stats_prune(d->store, vifd_now(),
				d->cfg.stats_retention_days, &n);
	if (err)
		pr_warn("Couldn't prune the traffic history: %s (%d)\n",
			store_errmsg(d->store), err);
	else if (n)
		pr_info("pruned %llu hourly rows older than %u days\n",
			(unsigned long long)n, d->cfg.stats_retention_days);
}

static void on_stats_prune(struct loop *l, uint64_t id, void *ctx)
{
	stats_prune(ctx);
}

static int stats_start(struct vifd *d)
{
	int err;

	err = stathist_new(&vifd_stathist_ops, d, &d->sh);
	if (err) {
		pr_warn("Couldn't set up the traffic history: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	stats_prune(d);
	/* A first sample now, so "stats" has counters from the start. */
	stats_sample(d);
	err = loop_timer_add(d->loop, VIFD_STATS_INTERVAL_MS,
			     VIFD_STATS_INTERVAL_MS, on_stats_timer, d,
			     &d->stats_timer);
	if (!err)
		err = loop_timer_add(d->loop, VIFD_STATS_FLUSH_MS,
				     VIFD_STATS_FLUSH_MS, on_flush_timer, d,
				     &d->flush_timer);
	if (!err)
		err = loop_timer_add(d->loop, VIFD_STATS_PRUNE_MS,
				     VIFD_STATS_PRUNE_MS, on_stats_prune, d,
				     &d->stats_prune_timer);
	if (!err)
		err = loop_timer_add(d->loop, VIFD_EVENT_PRUNE_MS,
				     VIFD_EVENT_PRUNE_MS, on_event_prune, d,
				     &d->event_prune_timer);
	if (err)
		pr_warn("Couldn't arm the statistics timers: %s (%d)\n",
			strerror(-err), err);
	return err;
}

/* ---- alerts ----------------------------------------------------------- */

static void on_inapp_alert(const struct alert *al, void *ctx)
{
	struct vifd *d = ctx;
	json_t *data;

	data = json_pack("{s:s, s:s, s:s, s:s}", "type", al->type,
			 "severity", alert_severity_name(al->severity),
			 "title", al->title, "body", al->body ? al->body : "");
	vifd_emit(d, "alert", al->vlan, data);
	json_decref(data);
}

static int alerts_build(struct vifd *d, const struct vifd_config *cfg,
			struct alerter **out, char *msg, size_t msglen)
{
	int err;

	err = alert_new_opts(d->loop, cfg, NULL, out, msg, msglen);
	if (err)
		return err;
	alert_inapp_set(*out, on_inapp_alert, d);
	return 0;
}

/* ---- pipeline --------------------------------------------------------- */

static const char *progress_result(int result)
{
	if (result == PIPELINE_STARTED)
		return "started";
	return result ? "failed" : "ok";
}

static void pipeline_progress_cb(void *ctx, const struct pipeline_progress *ev)
{
	struct vifd *d = ctx;
	json_t *data;

	if (!strcmp(ev->step, "state")) {
		data = json_pack("{s:I, s:s, s:s?}", "id",
				 (json_int_t)ev->changeset, "state",
				 ev->state ? ev->state : "",
				 "error", ev->error && *ev->error ? ev->error :
								   NULL);
		if (ev->state)
			pr_info("change set %lld: %s%s%s\n",
				(long long)ev->changeset, ev->state,
				ev->error && *ev->error ? ": " : "",
				ev->error ? ev->error : "");
		vifd_emit(d, "changeset.state", 0, data);
	} else {
		data = json_pack("{s:I, s:s?, s:s?, s:s?, s:s, s:s, s:s?}",
				 "id", (json_int_t)ev->changeset, "item",
				 ev->item, "op", ev->op, "target", ev->target,
				 "step", ev->step, "result",
				 progress_result(ev->result), "error",
				 ev->result < 0 && ev->error && *ev->error ?
					 ev->error :
					 NULL);
		vifd_emit(d, "changeset.progress", 0, data);
	}
	json_decref(data);
}

/*
 * Bring the gateway and quota managers in step with the VIF manager:
 * every ACTIVE VIF with its gateway and kill switch, quotas not tracked
 * yet, every chain.  In one transaction: gw_add() writes each VIF's kill
 * switch (one fsync per VIF otherwise; 4094 of them at startup).
 */
int vifd_sync(struct vifd *d)
{
	char why[256] = "";
	int err, txn;

	txn = store_begin(d->store);
	if (txn)
		pr_warn("Couldn't open a transaction for the sync: %s (%d)\n",
			store_errmsg(d->store), txn);
	err = target_local_sync(d->tl, why, sizeof(why));
	if (err)
		pr_warn("Couldn't register every VIF with the gateway and quota managers: %s (%d)\n",
			why[0] ? why : strerror(-err), err);
	if (!txn && store_commit(d->store)) {
		pr_warn("Couldn't store the kill switches: %s\n",
			store_errmsg(d->store));
		store_rollback(d->store);
	}
	return err;
}

static int pipeline_start(struct vifd *d)
{
	struct target_local_deps deps = {
		.vm = d->vm,
		.gw = d->gw,
		.qm = d->qm,
		.dp = d->dp,
		.nl = d->nl,
		.store = d->store,
		.cfg = &d->cfg,
		.ks_mode_set = vifmgr_set_ks_mode,
		.pool_set = vifd_pool_set,
		.ctx = d,
	};
	json_t *rep = NULL;
	char *text;
	int err;

	err = pipeline_new(d->loop, d->store, NULL, NULL, &d->pipeline);
	if (err) {
		pr_warn("Couldn't start the change pipeline: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	pipeline_set_progress(d->pipeline, pipeline_progress_cb, d);
	err = target_local_new(&deps, &d->tl);
	if (err) {
		pr_warn("Couldn't set up the local apply target: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	err = pipeline_target_add(d->pipeline, target_local_ops(), d->tl);
	if (err) {
		pr_warn("Couldn't add the local apply target: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	/* Fail closed from here: a gateway's VIF is engaged until probed. */
	vifd_sync(d);
	/*
	 * A set left pending by the previous run: rolled back now if it was
	 * being applied or its confirm deadline passed, else the timer is
	 * re-armed for what remains of the window.
	 */
	err = pipeline_recover(d->pipeline, &rep);
	text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
	if (err)
		pr_warn("change pipeline recovery: %s (%d): %s\n",
			strerror(-err), err, text ? text : "{}");
	else if (!json_is_null(json_object_get(rep, "changeset")))
		pr_info("change pipeline recovery: %s\n", text ? text : "{}");
	free(text);
	json_decref(rep);
	/* A PARTIAL_FAILURE is for a person, not a reason not to serve. */
	return err == -ENOTRECOVERABLE ? 0 : err;
}

/* ---- link events ------------------------------------------------------ */

struct tun_sync {
	struct vifd *d;
	const char *ifname;
};

static int tun_sync_cb(const struct vifd_vif *v, void *ctx)
{
	struct tun_sync *t = ctx;
	int err;

	if (v->gw.type == VIFD_GW_NONE || strcmp(v->gw.tun, t->ifname))
		return 0;
	err = vifmgr_route_sync(t->d->vm, v->vlan);
	if (err && err != -ENOENT)
		pr_warn("Couldn't sync the routes of VIF '%s' to tun '%s': %s (%d)\n",
			v->name, t->ifname, strerror(-err), err);
	return 0;
}

static int link_event_cb(const struct nl_event *ev, void *ctx)
{
	struct vifd *d = ctx;
	enum alloc_if_kind kind;
	struct tun_sync t = { d, ev->link.name };
	__u16 vlan;
	int n;

	switch (ev->type) {
	case NL_EVENT_LINK_DEL:
		n = vifmgr_on_link_del(d->vm, ev->link.ifindex, ev->link.name);
		if (n < 0)
			pr_warn("Couldn't handle the loss of link '%s': %s (%d)\n",
				ev->link.name, strerror(-n), n);
		if (d->cfg.trunk[0] && !strcmp(ev->link.name, d->cfg.trunk))
			pr_warn("trunk '%s' is gone: nothing reaches the router until it is back and vifd restarted\n",
				d->cfg.trunk);
		/* A tun that went takes its routes along: sync them too. */
		__attribute__((fallthrough));
	case NL_EVENT_LINK_NEW:
		/* vifd's own veths are not tuns; skip the scan for them. */
		if (ev->link.name[0] &&
		    alloc_ifname_parse(ev->link.name, &kind, &vlan))
			vifmgr_foreach(d->vm, tun_sync_cb, &t);
		break;
	case NL_EVENT_OVERRUN:
		pr_warn("netlink link events overran: checking every VIF's links\n");
		n = vifmgr_links_resync(d->vm);
		if (n > 0)
			pr_warn("%d VIFs lost their links and are in ERROR\n",
				n);
		break;
	default:
		break;
	}
	return 0;
}

static void on_nl_events(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct vifd *d = ctx;
	int n;

	n = nl_events_read(d->nl_events, link_event_cb, d);
	if (n < 0 && n != -EAGAIN)
		pr_warn("Couldn't read netlink link events: %s (%d)\n",
			strerror(-n), n);
}

static int link_events_start(struct vifd *d)
{
	int err;

	err = nl_events_open(&d->nl_events, RTMGRP_LINK);
	if (err) {
		pr_warn("Couldn't listen to netlink link events: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	err = loop_fd_add(d->loop, nl_fd(d->nl_events), EPOLLIN, on_nl_events,
			  d);
	if (err) {
		pr_warn("Couldn't watch netlink link events: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	d->nl_events_on_loop = true;
	return 0;
}

/* ---- control socket --------------------------------------------------- */

static void api_log_cb(void *ctx, enum vif_log_level level, const char *msg)
{
	pr_log(level, "control socket: %s\n", msg);
}


/* gid of a configured group name; "" leaves *gid alone (root only). */
static int group_id(const char *key, const char *name, gid_t *gid)
{
	struct group *gr;
	int err;

	if (!name[0])
		return 0;
	errno = 0;
	gr = getgrnam(name);
	if (!gr) {
		err = errno ? -errno : -ENOENT;
		pr_warn("Couldn't find %s '%s': %s\n", key, name,
			err == -ENOENT ? "no such group" : strerror(-err));
		return err;
	}
	*gid = gr->gr_gid;
	return 0;
}

static int api_start(struct vifd *d)
{
	struct api_event_source src = {
		.since = ev_since,
		.bounds = ev_bounds,
		.ctx = d,
	};
	struct api_opts o;
	int err;

	api_opts_init(&o);
	o.path = d->cfg.socket_path;
	o.mode = API_SOCKET_MODE_DEFAULT;
	o.server = "vifd";
	o.version = VIF_VERSION;
	o.events = &src;
	o.log = api_log_cb;
	o.log_ctx = d;
	/* socket_group may connect (read-only), admin_group may change things. */
	err = group_id("socket_group", d->cfg.socket_group, &o.sock_gid) ?:
	      group_id("admin_group", d->cfg.admin_group, &o.admin_gid);
	if (err)
		return err;
	err = api_new(d->loop, &o, &d->api);
	if (err) {
		if (err == -EADDRINUSE)
			pr_warn("Couldn't listen on '%s': another vifd is serving it\n",
				d->cfg.socket_path);
		else
			pr_warn("Couldn't listen on '%s': %s (%d)\n",
				d->cfg.socket_path, strerror(-err), err);
		return err;
	}
	err = handlers_register(d);
	if (err) {
		pr_warn("Couldn't register the control commands: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	return 0;
}

/* ---- reload ----------------------------------------------------------- */

static int config_read(const struct vifd *d, struct vifd_config *cfg,
		       char *msg, size_t msglen)
{
	const char *path = d->config_path ? d->config_path :
					    CONFIG_PATH_DEFAULT;
	int err;

	err = config_load(path, cfg, msg, msglen);
	if (err == -ENOENT && !d->config_path) {
		/* No file at the default path: the defaults are the config. */
		config_defaults(cfg);
		return 0;
	}
	if (err && !msg[0])
		snprintf(msg, msglen, "%s: %s", path, strerror(-err));
	return err;
}

static void vifd_reload(struct vifd *d)
{
	struct vifd_config *next;
	struct config_diff diff;
	struct alerter *na = NULL;
	struct gw_settings gs;
	char msg[512] = "", why[256] = "", keys[512];
	__u64 apply = 0, refused = 0;
	bool file_changed;
	int err;

	next = malloc(sizeof(*next));
	if (!next) {
		pr_warn("reload: %s\n", strerror(ENOMEM));
		return;
	}
	err = config_read(d, next, msg, sizeof(msg));
	if (err) {
		pr_warn("reload: %s; keeping the running configuration\n", msg);
		goto out;
	}
	/*
	 * The pool in force is the file's only while the file's pool moves:
	 * an unchanged file leaves a pool.set in place.
	 */
	file_changed = !file_pool_same(d, next);
	if (!file_changed) {
		next->vlan_pool.lo = d->cfg.vlan_pool.lo;
		next->vlan_pool.hi = d->cfg.vlan_pool.hi;
		next->reserved = d->cfg.reserved;
	}
	config_reloadable_diff(&d->cfg, next, &diff);
	if (!diff.reload && !diff.restart && !file_changed) {
		pr_info("reload: nothing changed\n");
		goto out;
	}
	if ((diff.reload & VIFD_POOL_KEYS) &&
	    !pipeline_running(d->pipeline, NULL)) {
		/* Its validation counted on the pool it saw. */
		pr_warn("reload: a change set is being applied: vlan_pool/reserved refused, send SIGHUP again after it\n");
		refused |= diff.reload & VIFD_POOL_KEYS;
	} else if (diff.reload & VIFD_POOL_KEYS) {
		err = vifmgr_pool_resize(d->vm, next->vlan_pool.lo,
					 next->vlan_pool.hi, &next->reserved,
					 why, sizeof(why));
		if (err) {
			pr_warn("reload: vlan_pool/reserved refused, keeping the current pool: %s\n",
				why[0] ? why : strerror(-err));
			refused |= diff.reload & VIFD_POOL_KEYS;
		} else {
			apply |= diff.reload & VIFD_POOL_KEYS;
		}
	}
	if (diff.reload & VIFD_PROBE_KEYS) {
		gw_settings_from(next, &gs);
		err = gw_settings_update(d->gw, &gs);
		if (err) {
			pr_warn("reload: probe settings refused: %s (%d)\n",
				strerror(-err), err);
			refused |= diff.reload & VIFD_PROBE_KEYS;
		} else {
			apply |= diff.reload & VIFD_PROBE_KEYS;
		}
	}
	if (diff.reload & VIFD_ALERT_KEYS) {
		struct vifd_config *tmp = malloc(sizeof(*tmp));

		err = tmp ? 0 : -ENOMEM;
		if (tmp) {
			*tmp = d->cfg;
			config_apply(tmp, next, VIFD_ALERT_KEYS);
			err = alerts_build(d, tmp, &na, why, sizeof(why));
			free(tmp);
		}
		if (err) {
			/* The old alerter keeps running: never go silent. */
			pr_warn("reload: [alerts] refused, keeping the current channels: %s\n",
				why[0] ? why : strerror(-err));
			refused |= diff.reload & VIFD_ALERT_KEYS;
		} else {
			alert_free(d->alerter);
			d->alerter = na;
			apply |= diff.reload & VIFD_ALERT_KEYS;
		}
	}
	if (diff.reload & CONFIG_KEY_BIT(CONFIG_LOG_LEVEL)) {
		if (!d->verbose)
			log_set_level(next->log_level);
		apply |= CONFIG_KEY_BIT(CONFIG_LOG_LEVEL);
	}
	if (diff.reload & CONFIG_KEY_BIT(CONFIG_TIMEZONE)) {
		quota_mgr_set_tz(d->qm, next->timezone);
		apply |= CONFIG_KEY_BIT(CONFIG_TIMEZONE);
	}
	/* Read where they are used: the prune timers, the router sync. */
	apply |= diff.reload & (VIFD_RETENTION_KEYS | VIFD_ROUTER_KEYS);
	/* Anything else reloadable that this vifd does not know yet. */
	apply |= diff.reload & ~(apply | refused);
	config_apply(&d->cfg, next, apply);
	if (file_changed && !(refused & VIFD_POOL_KEYS)) {
		file_pool_take(d, next);
		pool_store(d, d->cfg.vlan_pool.lo, d->cfg.vlan_pool.hi,
			   &d->cfg.reserved);
	}
	if (apply) {
		config_keys_format(apply, keys, sizeof(keys));
		pr_info("reload: applied %s\n", keys);
	}
	if (refused) {
		config_keys_format(refused, keys, sizeof(keys));
		pr_warn("reload: not applied: %s\n", keys);
	}
	if (diff.restart) {
		config_keys_format(diff.restart, keys, sizeof(keys));
		pr_warn("reload: ignored until restart: %s\n", keys);
	}
out:
	free(next);
}

static void on_signal(struct loop *l, int signo, void *ctx)
{
	struct vifd *d = ctx;

	if (signo == SIGHUP) {
		pr_info("SIGHUP: reloading the configuration\n");
		vifd_reload(d);
		return;
	}
	pr_info("%s: shutting down (kill switches and the dataplane stay as they are)\n",
		strsignal(signo));
	loop_stop(l);
}

/* ---- startup and shutdown --------------------------------------------- */

/* mkdir -p: parents 0755, the directory itself 0700 (it holds state). */
static int state_dir_make(const char *dir)
{
	char path[CONFIG_PATH_MAX];
	struct stat st;
	size_t i, len = strlen(dir);

	if (!len || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (i = 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		path[i] = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_mode & 077) {
		if (chmod(path, 0700))
			return -errno;
		pr_info("state dir '%s': mode tightened to 0700\n", path);
	}
	return 0;
}

/*
 * One vifd per state dir: a second one would reconcile the same VIFs
 * against its own view (another pin dir, say) and undo the first one's
 * work.  The lock lives as long as the process; the file says who holds it.
 */
static int state_dir_lock(struct vifd *d)
{
	char path[CONFIG_PATH_MAX + sizeof(VIFD_LOCK_FILENAME) + 1];
	char pid[32];
	int fd, err, n;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir,
		 VIFD_LOCK_FILENAME);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		pr_warn("Couldn't open '%s': %s (%d)\n", path, strerror(-err),
			err);
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (err == -EWOULDBLOCK)
			pr_warn("Couldn't lock state dir '%s': another vifd (pid %s) uses it\n",
				d->cfg.state_dir, pid[0] ? pid : "?");
		else
			pr_warn("Couldn't lock '%s': %s (%d)\n", path,
				strerror(-err), err);
		close(fd);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, n, 0) != n)
		pr_debug("Couldn't write the pid into '%s'\n", path);
	d->lock_fd = fd;
	return 0;
}

static int store_start(struct vifd *d)
{
	char path[CONFIG_PATH_MAX + sizeof(STORE_DB_FILENAME) + 1];
	int err;

	err = state_dir_make(d->cfg.state_dir);
	if (err) {
		pr_warn("Couldn't create state dir '%s': %s (%d)\n",
			d->cfg.state_dir, strerror(-err), err);
		return err;
	}
	err = state_dir_lock(d);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir,
		 STORE_DB_FILENAME);
	err = store_open(path, &d->store);
	if (err) {
		if (err == -EPROTO)
			pr_warn("Couldn't open '%s': written by a newer vifd (schema above %d)\n",
				path, STORE_SCHEMA_VERSION);
		else if (err == -EBADMSG)
			pr_warn("Couldn't open '%s': not a vifd database, or damaged\n",
				path);
		else if (err == -EBUSY)
			pr_warn("Couldn't open '%s': locked by another process\n",
				path);
		else
			pr_warn("Couldn't open '%s': %s (%d)\n", path,
				strerror(-err), err);
		return err;
	}
	return 0;
}

static int dataplane_start(struct vifd *d)
{
	bool dpdk = d->cfg.engine == VIFD_ENGINE_DPDK;
	struct dp_opts o = {
		.pin_dir = d->cfg.pin_dir,
		.mode = (enum dp_xdp_mode)d->cfg.xdp_mode,
		.engine = dpdk ? DP_ENGINE_DPDK : DP_ENGINE_XDP,
		.shm_path = d->cfg.dpdk_shm,
	};
	const char *where = dpdk ? d->cfg.dpdk_shm : d->cfg.pin_dir;
	struct vif_dp_config dc;
	int err, ifindex;

	log_hook_libbpf();
	err = dp_open(&o, &d->dp);
	if (err) {
		if (err == -EBUSY)
			pr_warn("Couldn't open the dataplane at '%s': another writer (vifd or vifdp) holds it\n",
				where);
		else
			pr_warn("Couldn't open the dataplane at '%s': %s (%d)\n",
				where, strerror(-err), err);
		return err;
	}
	if (!d->cfg.trunk[0]) {
		if (!dp_config_get(d->dp, &dc) && dc.trunk_ifindex)
			pr_warn("no trunk configured, but the dataplane still forwards to ifindex %u ('vifdp -d %s trunk detach' stops that)\n",
				dc.trunk_ifindex, d->cfg.pin_dir);
		else
			pr_info("no trunk configured: nothing is forwarded to the router until one is\n");
		return 0;
	}
	ifindex = nl_link_index(d->nl, d->cfg.trunk);
	if (ifindex < 0) {
		pr_warn("Couldn't find trunk '%s': %s (%d)\n", d->cfg.trunk,
			strerror(-ifindex), ifindex);
		return ifindex;
	}
	err = dp_trunk_attach(d->dp, ifindex);
	if (err) {
		pr_warn("Couldn't attach XDP program on iface '%s': %s (%d)\n",
			d->cfg.trunk, strerror(-err), err);
		return err;
	}
	pr_info("trunk '%s' (ifindex %d) attached\n", d->cfg.trunk, ifindex);
	return 0;
}

static int vifmgr_start(struct vifd *d)
{
	struct vifmgr_deps deps = {
		.cfg = &d->cfg,
		.store = d->store,
		.nl = d->nl,
		.dp = d->dp,
		.emit = vm_emit_cb,
		.ctx = d,
	};
	struct vifmgr_report rep;
	int err;

	err = vifmgr_open(&deps, &d->vm);
	if (err) {
		pr_warn("Couldn't load the VIFs: %s (%d)\n", strerror(-err),
			err);
		return err;
	}
	/* It logs its report; what failed is in ERROR, the rest forwards. */
	err = vifmgr_reconcile(d->vm, &rep);
	if (err)
		pr_warn("reconcile: %u actions failed, first: %s (%d); continuing (the VIFs concerned are in ERROR)\n",
			rep.failures, strerror(-err), err);
	return 0;
}

static int vifd_start(struct vifd *d)
{
	char msg[512] = "";
	int err;

	/*
	 * Alerts first (they need only the loop): what goes wrong from here
	 * on, a VIF that reconcile puts in ERROR included, reaches a person.
	 */
	err = alerts_build(d, &d->cfg, &d->alerter, msg, sizeof(msg));
	if (err) {
		pr_warn("Couldn't set up alerts: %s\n",
			msg[0] ? msg : strerror(-err));
		return err;
	}
	err = store_start(d);
	if (err)
		return err;
	err = nl_open(&d->nl);
	if (err) {
		pr_warn("Couldn't open rtnetlink: %s (%d)\n", strerror(-err),
			err);
		return err;
	}
	pool_load(d);
	err = dataplane_start(d);
	if (err)
		return err;
	err = vifmgr_start(d);
	if (err)
		return err;
	err = gateway_start(d);
	if (err)
		return err;
	err = quota_start(d);
	if (err)
		return err;
	err = stats_start(d);
	if (err)
		return err;
	err = pipeline_start(d);
	if (err)
		return err;
	err = link_events_start(d);
	if (err)
		return err;
	on_event_prune(d->loop, 0, d);
	err = api_start(d);
	if (err)
		return err;
	pr_info("vifd %s ready: %u VIFs, socket '%s', dataplane '%s'\n",
		VIF_VERSION, vifmgr_count(d->vm), d->cfg.socket_path,
		d->cfg.pin_dir);
	return 0;
}

/*
 * Reverse order.  Nothing here touches a kill switch or the dataplane's
 * attachments: gw_mgr_free() makes no gw_ops call and dp_close() leaves
 * programs attached and maps pinned.
 */
static void vifd_fini(struct vifd *d)
{
	/* Clients first: they get SHUTTING_DOWN, nothing new starts. */
	api_free(d->api);
	d->api = NULL;
	if (d->nl_events_on_loop)
		loop_fd_del(d->loop, nl_fd(d->nl_events));
	nl_close(d->nl_events);
	if (d->loop) {
		loop_timer_del(d->loop, d->stats_timer);
		loop_timer_del(d->loop, d->flush_timer);
		loop_timer_del(d->loop, d->stats_prune_timer);
		loop_timer_del(d->loop, d->event_prune_timer);
	}
	/* A pending change set stays pending: recovery takes it over. */
	pipeline_free(d->pipeline);
	d->pipeline = NULL;
	target_local_free(d->tl);
	d->tl = NULL;
	alert_free(d->alerter);
	d->alerter = NULL;
	vifd_stats_flush(d);
	stathist_free(d->sh);
	d->sh = NULL;
	if (d->qm && d->vm)
		vifmgr_foreach(d->vm, quota_persist_cb, d);
	quota_mgr_free(d->qm);
	d->qm = NULL;
	gw_mgr_free(d->gw);
	d->gw = NULL;
	/* Whatever the modules said on the way out. */
	if (d->store && d->loop)
		events_flush(d);
	vifmgr_close(d->vm);
	dp_close(d->dp);
	nl_close(d->nl);
	store_close(d->store);
	loop_free(d->loop);
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* releases the state dir */
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vifd [-c CONFIG] [--check-config] [-f|--foreground] [-v]\n"
"\n"
"  -c, --config FILE   configuration (default %s; absent: built-in defaults)\n"
"      --check-config  load and check the configuration, then exit:\n"
"                      0 valid, 1 invalid, 2 unreadable\n"
"  -f, --foreground    do not fork (systemd, tests)\n"
"  -v, --verbose       debug logging, whatever log_level says\n"
"  -h, --help          this text\n",
		CONFIG_PATH_DEFAULT);
}

/*
 * --check-config: what vifd would refuse at startup without touching the
 * system: the file itself, then the [alerts] channels and socket_group.
 */
static int check_config(struct vifd *d)
{
	const char *path = d->config_path ? d->config_path :
					    CONFIG_PATH_DEFAULT;
	struct vifd_config *cfg;
	struct alerter *a = NULL;
	struct loop *l = NULL;
	char msg[512] = "";
	int err, rc = VIFD_EXIT_OK;

	cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "vifd: %s\n", strerror(ENOMEM));
		return VIFD_EXIT_USAGE;
	}
	err = config_load(path, cfg, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "vifd: %s\n",
			msg[0] ? msg : strerror(-err));
		rc = err == -EINVAL ? VIFD_EXIT_FAIL : VIFD_EXIT_USAGE;
		goto out;
	}
	err = loop_new(&l);
	if (!err) {
		err = alert_new_opts(l, cfg, NULL, &a, msg, sizeof(msg));
		if (err == -EINVAL) {
			fprintf(stderr, "vifd: %s: [alerts] %s\n", path, msg);
			rc = VIFD_EXIT_FAIL;
			goto out;
		}
	}
	if (cfg->socket_group[0] && !getgrnam(cfg->socket_group)) {
		fprintf(stderr, "vifd: %s: socket_group '%s': no such group\n",
			path, cfg->socket_group);
		rc = VIFD_EXIT_FAIL;
		goto out;
	}
	if (cfg->admin_group[0] && !getgrnam(cfg->admin_group)) {
		fprintf(stderr, "vifd: %s: admin_group '%s': no such group\n",
			path, cfg->admin_group);
		rc = VIFD_EXIT_FAIL;
		goto out;
	}
	printf("%s: valid\n", path);
out:
	alert_free(a);
	loop_free(l);
	free(cfg);
	return rc;
}

/*
 * Fork; the parent waits for one byte on a pipe, the child's startup exit
 * code (0 = serving), and returns it through *parent_rc.  In the child
 * *notify_fd is the pipe's write end.  Returns 1 in the parent, 0 in the
 * child, or -errno.
 */
static int daemon_fork(int *notify_fd, int *parent_rc)
{
	int p[2], fd;
	unsigned char code;
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &code, 1);
		while (n < 0 && errno == EINTR);
		close(p[0]);
		*parent_rc = n == 1 ? code : VIFD_EXIT_FAIL;
		return 1;
	}
	close(p[0]);
	setsid();
	if (chdir("/")) {
		/* nothing relies on the working directory */
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	*notify_fd = p[1];
	return 0;
}

static void daemon_notify(int *notify_fd, int rc)
{
	unsigned char code = (unsigned char)rc;

	if (*notify_fd < 0)
		return;
	if (write(*notify_fd, &code, 1) != 1) {
		/* the parent is gone: nobody to tell */
	}
	close(*notify_fd);
	*notify_fd = -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vifd *d;
	bool check = false, foreground = false;
	int opt, err, rc = VIFD_EXIT_OK, notify_fd = -1;
	char msg[512] = "";

	/*
	 * One arena: vifd is single-threaded (nl_open_netns_fd()'s short
	 * thread would otherwise get an arena of its own that stays).  A
	 * fixed mmap threshold: glibc raises it after each big free, which
	 * puts the next megabyte answer on the heap, where it stays.
	 */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "vifd: %s\n", strerror(ENOMEM));
		return VIFD_EXIT_FAIL;
	}
	d->evq_tail = &d->evq_head;
	d->lock_fd = -1;
	while ((opt = getopt_long(argc, argv, "c:fvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			d->verbose = true;
			break;
		case 'h':
			usage(stdout);
			free(d);
			return VIFD_EXIT_OK;
		default:
			usage(stderr);
			free(d);
			return VIFD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vifd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		free(d);
		return VIFD_EXIT_USAGE;
	}
	if (check) {
		rc = check_config(d);
		free(d);
		return rc;
	}

	err = config_read(d, &d->cfg, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "vifd: %s\n", msg);
		free(d);
		return err == -EINVAL ? VIFD_EXIT_FAIL : VIFD_EXIT_USAGE;
	}
	log_set_level(d->verbose ? LOG_LVL_DEBUG : d->cfg.log_level);
	if (!d->config_path && access(CONFIG_PATH_DEFAULT, F_OK))
		pr_info("no %s: running on the built-in defaults\n",
			CONFIG_PATH_DEFAULT);

	if (!foreground) {
		err = daemon_fork(&notify_fd, &rc);
		if (err == 1) {
			free(d);
			return rc;
		}
		if (err < 0) {
			fprintf(stderr, "vifd: Couldn't fork: %s (%d)\n",
				strerror(-err), err);
			free(d);
			return VIFD_EXIT_FAIL;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	err = loop_new(&d->loop);
	if (err) {
		pr_warn("Couldn't create the event loop: %s (%d)\n",
			strerror(-err), err);
		rc = VIFD_EXIT_FAIL;
		goto out;
	}
	/* Early, so a signal during startup waits for the loop. */
	err = loop_signal_add(d->loop, SIGTERM, on_signal, d) ?:
	      loop_signal_add(d->loop, SIGINT, on_signal, d) ?:
	      loop_signal_add(d->loop, SIGHUP, on_signal, d);
	if (err) {
		pr_warn("Couldn't set up signal handling: %s (%d)\n",
			strerror(-err), err);
		rc = VIFD_EXIT_FAIL;
		goto out;
	}
	err = vifd_start(d);
	if (err) {
		pr_warn("vifd: startup failed; stopping (the dataplane and kill switches are left as they are)\n");
		rc = VIFD_EXIT_FAIL;
		goto out;
	}
	daemon_notify(&notify_fd, VIFD_EXIT_OK);
	err = loop_run(d->loop);
	if (err) {
		pr_warn("event loop failed: %s (%d)\n", strerror(-err), err);
		rc = VIFD_EXIT_FAIL;
	} else {
		rc = d->exit_code;
	}
out:
	daemon_notify(&notify_fd, rc);
	vifd_fini(d);
	if (!rc)
		pr_info("vifd stopped\n");
	free(d);
	return rc;
}
