// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * handlers.c - every command of docs/PROTOCOL.md over the modules in
 * struct vifd.  Results are shaped exactly as the protocol shows; errors
 * use its stable codes.
 *
 * Three kinds of command:
 *   reads        straight from the VIF, gateway and quota managers, the
 *                traffic history and the store;
 *   changes      vif.create/delete, pool.set, chain.set/clear,
 *                killswitch.set, quota.set: one-item change sets through
 *                the pipeline (the command is the confirmation, so no
 *                CONFIRM_REQUIRED), and changeset.* as the client wrote
 *                them;
 *   operations   vif.retry and quota.reset, on the modules directly.
 *
 * Direct commands check their arguments here first, so a malformed one is
 * BAD_ARGS naming the argument; the pipeline's targets then check the
 * semantics, and a refusal of a one-item set answers with its own code
 * (NOT_FOUND, CONFLICT, ...), not VALIDATION_FAILED.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "api.h"
#include "dp.h"
#include "gateway.h"
#include "handlers.h"
#include "log.h"
#include "model.h"
#include "pipeline.h"
#include "quota.h"
#include "stathist.h"
#include "stats.h"
#include "store.h"
#include "vifd.h"
#include "vifmgr.h"

#define H_NAME_MAX (VIFD_NAME_MAX - 1)   /* 31 */
#define H_NETNS_MAX (VIFD_NETNS_MAX - 1) /* 63 */
#define H_HISTORY_DEFAULT_S 86400

/* ---- names -------------------------------------------------------------- */

const char *handlers_gw_state_name(enum vifd_gw_state state)
{
	switch (state) {
	case VIFD_GW_STOPPED:
		return "STOPPED";
	case VIFD_GW_STARTING:
		return "STARTING";
	case VIFD_GW_RUNNING:
		return "RUNNING";
	case VIFD_GW_FAILED:
		return "FAILED";
	}
	return "UNKNOWN";
}

static const char *const period_names[] = {
	[VIFD_QUOTA_DAILY] = "daily",
	[VIFD_QUOTA_WEEKLY] = "weekly",
	[VIFD_QUOTA_MONTHLY] = "monthly",
};
static const char *const action_names[] = {
	[VIFD_QUOTA_BLOCK] = "block",
	[VIFD_QUOTA_ALERT] = "alert",
};
static const char *const dir_names[] = {
	[VIFD_QUOTA_BOTH] = "both",
	[VIFD_QUOTA_RX] = "rx",
	[VIFD_QUOTA_TX] = "tx",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, unsigned int i)
{
	return i < n && names[i] ? names[i] : "unknown";
}

static int name_find(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

static const char *ks_mode_name(enum vifd_ks_mode m)
{
	return m == VIFD_KS_FALLBACK ? "fallback" : "block";
}

static void ip4(__be32 a, char *buf, size_t len)
{
	if (!inet_ntop(AF_INET, &a, buf, len))
		snprintf(buf, len, "?");
}

/* ---- argument helpers --------------------------------------------------- */

/* Prefix a sub-object's BAD_ARGS message with the object's name. */
static int sub_fail(struct api_error *err, const char *obj)
{
	char msg[API_MESSAGE_MAX];
	size_t n = strlen(obj) + 2;

	snprintf(msg, sizeof(msg), "%s", err->message);
	/* Cut the tail, never the prefix that names the argument. */
	if (n < sizeof(err->message))
		msg[sizeof(err->message) - n - 1] = '\0';
	snprintf(err->message, sizeof(err->message), "%s: %.*s", obj,
		 (int)(sizeof(err->message) - n - 1), msg);
	return -EINVAL;
}

static int bad_args(struct api_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad_args(struct api_error *err, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof(err->code), "%s", API_ERR_BAD_ARGS);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* VIF names: 1-31 bytes of [A-Za-z0-9_.-], first a letter or digit. */
static bool vif_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (!i || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return i > 0 && i <= H_NAME_MAX;
}

static int arg_vif_name(const json_t *args, const char *key,
			const char **out, struct api_error *err)
{
	if (api_arg_str(args, key, true, H_NAME_MAX, out, err))
		return -EINVAL;
	if (!vif_name_ok(*out))
		return bad_args(err,
				"argument \"%s\": '%s' is not a VIF name (1-31 of [A-Za-z0-9_.-], starting with a letter or digit)",
				key, *out);
	return 0;
}

static const struct vifd_vif *vif_lookup(struct vifd *d, const json_t *ref)
{
	if (json_is_string(ref))
		return vifmgr_find(d->vm, json_string_value(ref));
	if (json_is_integer(ref) && json_integer_value(ref) > 0 &&
	    json_integer_value(ref) < VIF_VLAN_SLOTS)
		return vifmgr_get(d->vm, (__u16)json_integer_value(ref));
	return NULL;
}

static int not_found(struct api_error *err, const json_t *ref)
{
	if (json_is_integer(ref))
		api_error_set(err, API_ERR_NOT_FOUND, "no VIF with VLAN %lld",
			      (long long)json_integer_value(ref));
	else
		api_error_set(err, API_ERR_NOT_FOUND, "no VIF named '%s'",
			      json_string_value(ref));
	return -ENOENT;
}

/*
 * A VIF named by args[key]: a name, or (allow_vlan) a VLAN.  BAD_ARGS for
 * the wrong type, NOT_FOUND for no such VIF.
 */
static int arg_vif(struct vifd *d, const json_t *args, const char *key,
		   bool allow_vlan, const struct vifd_vif **out,
		   struct api_error *err)
{
	const json_t *ref = json_object_get(args, key);
	const char *name;

	if (allow_vlan && json_is_integer(ref)) {
		*out = vif_lookup(d, ref);
		return *out ? 0 : not_found(err, ref);
	}
	if (!ref || json_is_null(ref) || json_is_string(ref)) {
		if (arg_vif_name(args, key, &name, err))
			return -EINVAL;
		*out = vifmgr_find(d->vm, name);
		return *out ? 0 : not_found(err, ref);
	}
	return bad_args(err, "argument \"%s\" must be a VIF name%s", key,
			allow_vlan ? " or a VLAN" : "");
}

/* A hop or fallback in a list or sub-object: a name or a VLAN. */
static int ref_check(const json_t *ref, const char *what,
		     struct api_error *err)
{
	if (json_is_string(ref)) {
		if (!vif_name_ok(json_string_value(ref)))
			return bad_args(err, "%s: '%s' is not a VIF name", what,
					json_string_value(ref));
		return 0;
	}
	if (json_is_integer(ref)) {
		json_int_t v = json_integer_value(ref);

		if (v < VIFD_VLAN_LO || v > VIFD_VLAN_HI)
			return bad_args(err, "%s: VLAN %lld is outside %d-%d",
					what, (long long)v, VIFD_VLAN_LO,
					VIFD_VLAN_HI);
		return 0;
	}
	return bad_args(err, "%s must be a VIF name or a VLAN", what);
}

static int arg_object(const json_t *args, const char *key, bool required,
		      const json_t **out, struct api_error *err)
{
	const json_t *v = json_object_get(args, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return bad_args(err, "missing argument \"%s\"", key);
		return 0;
	}
	if (!json_is_object(v))
		return bad_args(err, "argument \"%s\" must be an object", key);
	*out = v;
	return 0;
}

static int arg_enum(const json_t *args, const char *key,
		    const char *const *names, size_t n, int *out,
		    struct api_error *err)
{
	const char *s;
	char list[128] = "";
	size_t i, used = 0;

	if (api_arg_str(args, key, true, 32, &s, err))
		return -EINVAL;
	*out = name_find(names, n, s);
	if (*out >= 0)
		return 0;
	for (i = 0; i < n && used < sizeof(list); i++)
		used += snprintf(list + used, sizeof(list) - used, "%s%s",
				 i ? ", " : "", names[i]);
	return bad_args(err, "argument \"%s\": '%s' is not one of %s", key, s,
			list);
}

/* quota {limit, period, action, dir}, all four required. */
static int quota_args_check(const json_t *q, struct vifd_quota *out,
			    struct api_error *err)
{
	int64_t limit;
	int period, action, dir;

	if (api_args_only(q, err, "limit", "period", "action", "dir", NULL) ||
	    api_arg_int(q, "limit", true, 0, INT64_MAX, &limit, err) ||
	    arg_enum(q, "period", period_names, ARRAY_LEN(period_names),
		     &period, err) ||
	    arg_enum(q, "action", action_names, ARRAY_LEN(action_names),
		     &action, err) ||
	    arg_enum(q, "dir", dir_names, ARRAY_LEN(dir_names), &dir, err))
		return -EINVAL;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->limit = (__u64)limit;
		out->period = period;
		out->action = action;
		out->dir = dir;
	}
	return 0;
}

static int gateway_args_check(const json_t *g, struct api_error *err)
{
	const char *type, *tun, *addr;
	int64_t port;
	struct in_addr a;

	if (api_arg_str(g, "type", true, 16, &type, err))
		return -EINVAL;
	if (!strcmp(type, "none"))
		return api_args_only(g, err, "type", NULL);
	if (strcmp(type, "socks5"))
		return bad_args(err,
				"argument \"type\": '%s' is not one of none, socks5",
				type);
	if (api_args_only(g, err, "type", "tun", "addr", "port", NULL) ||
	    api_arg_str(g, "tun", true, VIFD_IFNAME_MAX - 1, &tun, err) ||
	    api_arg_str(g, "addr", true, 15, &addr, err) ||
	    api_arg_int(g, "port", true, 1, 65535, &port, err))
		return -EINVAL;
	if (alloc_ifname_valid(tun))
		return bad_args(err,
				"argument \"tun\": '%s' is not an interface name",
				tun);
	if (inet_pton(AF_INET, addr, &a) != 1)
		return bad_args(err,
				"argument \"addr\": '%s' is not an IPv4 address",
				addr);
	return 0;
}

static int killswitch_args_check(const json_t *k, struct api_error *err)
{
	int mode;

	if (api_args_only(k, err, "mode", "fallback", NULL) ||
	    arg_enum(k, "mode", (const char *const[]){ "block", "fallback" },
		     2, &mode, err))
		return -EINVAL;
	if (mode == VIFD_KS_BLOCK) {
		if (json_object_get(k, "fallback") &&
		    !json_is_null(json_object_get(k, "fallback")))
			return bad_args(err,
					"argument \"fallback\" is only for mode fallback");
		return 0;
	}
	if (!json_object_get(k, "fallback") ||
	    json_is_null(json_object_get(k, "fallback")))
		return bad_args(err,
				"missing argument \"fallback\" (mode fallback needs a VIF)");
	return ref_check(json_object_get(k, "fallback"), "argument \"fallback\"",
			 err);
}

/* "LO-HI" within 2-4093. */
static int parse_range(const char *s, unsigned int *lo, unsigned int *hi)
{
	char tail;

	if (sscanf(s, "%u-%u%c", lo, hi, &tail) != 2 || *lo > *hi ||
	    *lo < VIFD_VLAN_LO || *hi > VIFD_VLAN_HI)
		return -EINVAL;
	return 0;
}

/* reserved: VLANs as integers or "A-B" strings. */
static int reserved_parse(const json_t *list, struct vlan_set *out,
			  struct api_error *err)
{
	const json_t *e;
	unsigned int lo, hi, v;
	size_t i;

	vlan_set_clear(out);
	if (!json_is_array(list))
		return bad_args(err, "argument \"reserved\" must be an array");
	json_array_foreach(list, i, e) {
		if (json_is_integer(e)) {
			json_int_t x = json_integer_value(e);

			if (x < VIFD_VLAN_LO || x > VIFD_VLAN_HI)
				return bad_args(err,
						"argument \"reserved\": VLAN %lld is outside %d-%d",
						(long long)x, VIFD_VLAN_LO,
						VIFD_VLAN_HI);
			vlan_set_add(out, (unsigned int)x);
			continue;
		}
		if (!json_is_string(e) ||
		    parse_range(json_string_value(e), &lo, &hi))
			return bad_args(err,
					"argument \"reserved\": entry %zu is neither a VLAN nor \"A-B\" within %d-%d",
					i, VIFD_VLAN_LO, VIFD_VLAN_HI);
		for (v = lo; v <= hi; v++)
			vlan_set_add(out, v);
	}
	return 0;
}

/* ---- JSON for the common objects ---------------------------------------- */

static json_t *ref_json(struct vifd *d, __u16 vlan)
{
	const struct vifd_vif *v = vlan ? vifmgr_get(d->vm, vlan) : NULL;

	if (!vlan)
		return json_null();
	return json_pack("{s:s, s:i}", "name", v ? v->name : "", "vlan",
			 (int)vlan);
}

/* The quota as the quota manager has it, else as stored with the VIF. */
static void quota_current(struct vifd *d, const struct vifd_vif *v,
			  struct vifd_quota *q)
{
	const struct quota_state *st = quota_mgr_get(d->qm, v->vlan);

	*q = st ? st->q : v->quota;
}

static bool has_quota(struct vifd *d, const struct vifd_vif *v)
{
	struct vifd_quota q;

	quota_current(d, v, &q);
	return q.limit != 0;
}

static json_t *quota_json(struct vifd *d, const struct vifd_vif *v,
			  bool with_name)
{
	struct vifd_quota q;
	int64_t start = 0, next = 0, now = vifd_now();
	unsigned long long pct = 0;
	json_t *o;

	quota_current(d, v, &q);
	if (q.limit) {
		start = q.period_start;
		if (!start || quota_period_next(q.period, start,
						d->cfg.timezone, &next) ||
		    next <= now)
			quota_period_bounds(q.period, now, d->cfg.timezone,
					    &start, &next);
		pct = (unsigned long long)((unsigned __int128)q.used * 100 /
					   q.limit);
	}
	o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:b}", "limit",
		      (json_int_t)q.limit, "period",
		      name_of(period_names, ARRAY_LEN(period_names), q.period),
		      "action",
		      name_of(action_names, ARRAY_LEN(action_names), q.action),
		      "dir", name_of(dir_names, ARRAY_LEN(dir_names), q.dir),
		      "used", (json_int_t)q.used, "percent", (json_int_t)pct,
		      "period_start",
		      q.limit ? json_integer(start) : json_null(), "period_end",
		      q.limit ? json_integer(next) : json_null(), "exceeded",
		      q.limit && q.used >= q.limit);
	if (o && with_name &&
	    (json_object_set_new(o, "name", json_string(v->name)) ||
	     json_object_set_new(o, "vlan", json_integer(v->vlan)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *gateway_json(struct vifd *d, const struct vifd_vif *v)
{
	struct gw_status st;
	enum vifd_gw_state state = v->gw.state;
	__u32 fails = v->gw.fails;
	char addr[INET_ADDRSTRLEN];

	if (v->gw.type == VIFD_GW_NONE)
		return json_pack("{s:s}", "type", "none");
	if (!gw_status(d->gw, v->vlan, &st)) {
		state = st.state;
		fails = st.fails;
	}
	ip4(v->gw.socks_addr, addr, sizeof(addr));
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:I}", "type", "socks5",
			 "tun", v->gw.tun, "addr", addr, "port",
			 (int)v->gw.socks_port, "state",
			 handlers_gw_state_name(state), "fails",
			 (json_int_t)fails);
}

/* Engaged: the kill switch drops, or the gateway re-routed the VIF. */
static bool ks_engaged(struct vifd *d, const struct vifd_vif *v,
		       struct gw_status *st, bool *have_st)
{
	*have_st = !gw_status(d->gw, v->vlan, st);
	return v->ks_engaged || (*have_st && st->ks == GW_KS_FALLBACK);
}

static json_t *vif_json(struct vifd *d, const struct vifd_vif *v)
{
	char subnet[INET_ADDRSTRLEN + 4], svc[INET_ADDRSTRLEN],
		gwa[INET_ADDRSTRLEN];
	struct gw_status st;
	bool have_st;

	ip4(v->subnet, subnet, INET_ADDRSTRLEN);
	snprintf(subnet + strlen(subnet), 4 + 1, "/%u", v->prefix_len);
	ip4(v->svc_addr, svc, sizeof(svc));
	ip4(v->gw_addr, gwa, sizeof(gwa));
	return json_pack(
		"{s:s, s:i, s:s, s:s?, s:s, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:{s:s, s:o, s:b}, s:o, s:I}",
		"name", v->name, "vlan", (int)v->vlan, "state",
		vifmgr_state_name(v->state), "error",
		v->state == VIFD_STATE_ERROR ? v->error : NULL, "ifname",
		v->ifname, "peer_ifname", v->peer_ifname, "netns",
		v->netns[0] ? v->netns : NULL, "subnet", subnet, "svc_addr",
		svc, "gw_addr", gwa, "mark", (json_int_t)v->mark, "table",
		(json_int_t)v->table, "next_hop", ref_json(d, v->next_hop),
		"gateway", gateway_json(d, v), "killswitch", "mode",
		ks_mode_name(v->ks_mode), "fallback",
		ref_json(d, v->ks_mode == VIFD_KS_FALLBACK ? v->ks_fallback :
							      0),
		"engaged", ks_engaged(d, v, &st, &have_st), "quota",
		has_quota(d, v) ? quota_json(d, v, false) : json_null(),
		"created_at", (json_int_t)v->created_at);
}

/* ---- chains ------------------------------------------------------------- */

/*
 * The chains as paths: from every VIF that has a next hop and is nobody's
 * next hop, along next hops.  Chains compose (a last hop keeps its own
 * next hop), so a path can run through several chain.set calls; that
 * whole path is one chain here, as for the kill switch.
 */
struct chain_path {
	__u16 hops[VIFD_CHAIN_MAX + 1];
	int n;
};

static int chains_collect(struct vifd *d, struct chain_path **out)
{
	struct chain_path *paths = NULL, *p;
	bool *pointed;
	size_t n = 0, cap = 0;
	unsigned int v;

	pointed = calloc(VIF_VLAN_SLOTS, sizeof(*pointed));
	if (!pointed)
		return -ENOMEM;
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vifd_vif *x = vifmgr_get(d->vm, v);

		if (x && x->next_hop < VIF_VLAN_SLOTS)
			pointed[x->next_hop] = true;
	}
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vifd_vif *x = vifmgr_get(d->vm, v);

		if (!x || !x->next_hop || pointed[v])
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(paths, cap * sizeof(*p));
			if (!p) {
				free(paths);
				free(pointed);
				return -ENOMEM;
			}
			paths = p;
		}
		p = &paths[n++];
		p->n = 0;
		while (x && p->n <= VIFD_CHAIN_MAX) {
			p->hops[p->n++] = x->vlan;
			x = x->next_hop ? vifmgr_get(d->vm, x->next_hop) : NULL;
		}
	}
	free(pointed);
	*out = paths;
	return (int)n;
}

static json_t *chain_json(struct vifd *d, const __u16 *hops, int n)
{
	json_t *list = json_array();
	bool engaged = false;
	int i;

	if (!list)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct vifd_vif *v = vifmgr_get(d->vm, hops[i]);

		if (json_array_append_new(list, ref_json(d, hops[i]))) {
			json_decref(list);
			return NULL;
		}
		if (v && v->ks_engaged)
			engaged = true;
	}
	return json_pack("{s:o, s:b}", "hops", list, "engaged", engaged);
}

static bool path_has(const struct chain_path *p, __u16 vlan)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->hops[i] == vlan)
			return true;
	return false;
}

/* ---- the pool ----------------------------------------------------------- */

/*
 * The pool's range and reserved set: the ones in force, which d->cfg
 * holds (pool.set updates it through target_local's pool_set hook, a
 * reload through vifmgr_pool_resize()).
 */
static void pool_limits(struct vifd *d, __u16 *lo, __u16 *hi,
			struct vlan_set *reserved)
{
	*lo = d->cfg.vlan_pool.lo;
	*hi = d->cfg.vlan_pool.hi;
	*reserved = d->cfg.reserved;
}

struct alloc_scan {
	struct vlan_set allocated;
	json_t *orphans;
	int err;
};

static int alloc_scan_cb(const struct store_alloc *a, void *ctx)
{
	struct alloc_scan *s = ctx;

	vlan_set_add(&s->allocated, a->vlan);
	if (!a->has_vif && s->orphans &&
	    json_array_append_new(s->orphans,
				  json_pack("{s:i, s:s}", "vlan", (int)a->vlan,
					    "owner", a->owner)))
		return -ENOMEM;
	return 0;
}

static int vif_alloc_cb(const struct vifd_vif *v, void *ctx)
{
	struct alloc_scan *s = ctx;

	vlan_set_add(&s->allocated, v->vlan);
	return 0;
}

static int allocs_scan(struct vifd *d, struct alloc_scan *s, bool orphans)
{
	int err;

	memset(s, 0, sizeof(*s));
	if (orphans) {
		s->orphans = json_array();
		if (!s->orphans)
			return -ENOMEM;
	}
	vifmgr_foreach(d->vm, vif_alloc_cb, s);
	err = store_alloc_list(d->store, alloc_scan_cb, s);
	if (err) {
		json_decref(s->orphans);
		s->orphans = NULL;
	}
	return err;
}

static json_t *pool_json(struct vifd *d)
{
	struct vlan_set reserved;
	struct pool_status st;
	struct alloc_scan s;
	json_t *res, *o;
	char range[16];
	__u16 lo, hi;
	unsigned int v;

	pool_limits(d, &lo, &hi, &reserved);
	vifmgr_pool_status(d->vm, &st);
	if (allocs_scan(d, &s, true))
		return NULL;
	res = json_array();
	for (v = 0; res && v < VIF_VLAN_SLOTS; v++)
		if (vlan_set_has(&reserved, v) &&
		    json_array_append_new(res, json_integer(v))) {
			json_decref(res);
			res = NULL;
		}
	snprintf(range, sizeof(range), "%u-%u", lo, hi);
	o = json_pack("{s:s, s:i, s:i, s:o, s:i, s:i, s:i, s:i, s:s, s:o}",
		      "range", range, "lo", (int)lo, "hi", (int)hi, "reserved",
		      res, "size", (int)st.size, "allocated",
		      (int)st.allocated, "free", (int)st.free, "percent",
		      (int)st.percent, "level", pool_level_name(st.level),
		      "orphans", s.orphans);
	return o;
}

/* ---- change sets -------------------------------------------------------- */

/*
 * A validation errno as a protocol code.  from_target: a target refused
 * the item (else the engine did: malformed items, a cycle in "after", an
 * op no target handles).
 */
static const char *errno_code(int e, bool from_target)
{
	switch (-e) {
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
	case EDOM:
		return API_ERR_BAD_ARGS;
	case EOPNOTSUPP: /* no target for the op; or a target can't now */
	case ENOSYS:
		return from_target ? API_ERR_UNAVAILABLE : API_ERR_BAD_ARGS;
	case ELOOP: /* a cycle in "after" is malformed, in chains a conflict */
		return from_target ? API_ERR_CONFLICT : API_ERR_BAD_ARGS;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return API_ERR_NOT_FOUND;
	case EEXIST:
	case EBUSY:
	case EALREADY:
	case EADDRINUSE:
	case E2BIG:
	case ENOSPC:
	case EPERM:
	case ENOTEMPTY:
		return API_ERR_CONFLICT;
	default:
		return API_ERR_INTERNAL;
	}
}

static json_t *null_if_empty(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* The pipeline's validation errors in the protocol's shape. */
static json_t *errors_reshape(const json_t *errors)
{
	json_t *out = json_array(), *e;
	const json_t *x, *item;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(errors, i, x) {
		item = json_object_get(x, "item");
		e = json_pack("{s:O?, s:s, s:s}", "item",
			      item ? item : json_null(), "code",
			      errno_code((int)json_integer_value(
						 json_object_get(x, "errno")),
					 json_object_get(x, "target") != NULL),
			      "message",
			      json_string_value(json_object_get(x, "error")) ?:
				      "");
		if (e && json_object_get(x, "index"))
			json_object_set(e, "index", json_object_get(x, "index"));
		if (e && json_object_get(x, "target"))
			json_object_set(e, "target",
					json_object_get(x, "target"));
		if (!e || json_array_append_new(out, e)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* pipeline_preview()'s report as the protocol's preview. */
static json_t *preview_reshape(const json_t *rep)
{
	const char *risk = json_string_value(json_object_get(rep, "risk"));

	return json_pack("{s:s, s:b, s:O?, s:O?}", "risk", risk ? risk : "LOW",
			 "confirm_required", risk && !strcmp(risk, "HIGH"),
			 "order", json_object_get(rep, "order"), "items",
			 json_object_get(rep, "items"));
}

/* "apply:local" -> step "apply", target "local". */
static json_t *log_reshape(const json_t *log)
{
	json_t *out = json_array(), *e;
	const json_t *x;
	const char *step, *colon;
	char buf[STORE_STEP_MAX];
	size_t i;
	int res;

	if (!out)
		return NULL;
	json_array_foreach(log, i, x) {
		step = json_string_value(json_object_get(x, "step")) ?: "";
		colon = strchr(step, ':');
		snprintf(buf, sizeof(buf), "%.*s",
			 colon ? (int)(colon - step) : (int)strlen(step), step);
		res = (int)json_integer_value(json_object_get(x, "result"));
		e = json_pack("{s:O, s:O?, s:s, s:s, s:O?, s:O}", "seq",
			      json_object_get(x, "seq"), "item",
			      json_object_get(x, "item"), "step", buf,
			      "result",
			      res == STORE_LOG_STARTED ? "started" :
			      res		       ? "failed" :
							 "ok",
			      "detail", json_object_get(x, "detail"), "at",
			      json_object_get(x, "at"));
		if (e && colon)
			json_object_set_new(e, "target", json_string(colon + 1));
		if (!e || json_array_append_new(out, e)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* [{"item","op","target","error"}] -> [{"item","target","message"}]. */
static json_t *attention_reshape(const json_t *att)
{
	json_t *out = json_array(), *e;
	const json_t *x;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(att, i, x) {
		e = json_pack("{s:O?, s:O?, s:O?, s:s}", "item",
			      json_object_get(x, "item"), "op",
			      json_object_get(x, "op"), "target",
			      json_object_get(x, "target"), "message",
			      json_string_value(json_object_get(x, "error")) ?:
				      "");
		if (!e || json_array_append_new(out, e)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *steps_reshape(const json_t *steps)
{
	json_t *out = json_deep_copy(steps), *x;
	size_t i;

	json_array_foreach(out, i, x)
		if (!json_object_get(x, "error"))
			json_object_set_new(x, "error", json_null());
	return out;
}

/* pipeline_status()'s report as the protocol's change set object. */
static json_t *cs_reshape(const json_t *st, bool full)
{
	json_int_t deadline =
		json_integer_value(json_object_get(st, "confirm_deadline"));
	json_t *o;

	o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:o}", "id",
		      json_object_get(st, "changeset"), "state",
		      json_object_get(st, "state"), "awaiting_confirm",
		      json_object_get(st, "awaiting_confirm"), "risk",
		      json_object_get(st, "risk"), "created_at",
		      json_object_get(st, "created_at"), "confirm_deadline",
		      deadline ? json_integer(deadline) : json_null(), "error",
		      null_if_empty(json_string_value(
			      json_object_get(st, "error"))));
	if (!o || !full)
		return o;
	if (json_object_set(o, "items", json_object_get(st, "items")) ||
	    json_object_set_new(o, "steps",
				steps_reshape(json_object_get(st, "steps"))) ||
	    json_object_set_new(o, "needs_attention",
				attention_reshape(json_object_get(
					st, "needs_attention"))) ||
	    json_object_set_new(o, "log",
				log_reshape(json_object_get(st, "log")))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The stored set id as the protocol's object (null if it cannot be read). */
static json_t *cs_object(struct vifd *d, int64_t id, bool full,
			 json_t **status)
{
	json_t *st = NULL, *o;

	if (status)
		*status = NULL;
	if (pipeline_status(d->pipeline, id, &st))
		return json_null();
	o = cs_reshape(st, full);
	if (status)
		*status = st;
	else
		json_decref(st);
	return o ? o : json_null();
}

static int busy(struct vifd *d, struct api_error *err)
{
	int64_t id;

	if (!pipeline_running(d->pipeline, &id)) {
		api_error_set(err, API_ERR_BUSY,
			      "change set %lld is being applied: wait for its answer",
			      (long long)id);
		err->details = json_pack("{s:o}", "pending",
					 cs_object(d, id, false, NULL));
		return -EBUSY;
	}
	if (pipeline_pending(d->pipeline, &id, NULL)) {
		api_error_set(err, API_ERR_BUSY,
			      "another change set is pending");
		err->details = json_pack("{s:n}", "pending");
		return -EBUSY;
	}
	api_error_set(err, API_ERR_BUSY,
		      "change set %lld is pending: confirm or roll it back first",
		      (long long)id);
	err->details = json_pack("{s:o}", "pending", cs_object(d, id, false,
								 NULL));
	return -EBUSY;
}

/* The step that failed, with its message from the stored steps. */
static json_t *failed_json(const json_t *rep, const json_t *status)
{
	const json_t *f = json_object_get(rep, "failed"), *s;
	const char *msg = json_string_value(json_object_get(rep, "error"));
	size_t i;

	if (!f)
		return json_null();
	json_array_foreach(json_object_get(status, "steps"), i, s) {
		if (json_equal(json_object_get(s, "item"),
			       json_object_get(f, "item")) &&
		    json_equal(json_object_get(s, "target"),
			       json_object_get(f, "target")) &&
		    json_is_string(json_object_get(s, "error"))) {
			msg = json_string_value(json_object_get(s, "error"));
			break;
		}
	}
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:s}", "item",
			 json_object_get(f, "item"), "op",
			 json_object_get(f, "op"), "target",
			 json_object_get(f, "target"), "step",
			 json_object_get(f, "step"), "message", msg ? msg : "");
}

/*
 * A refusal of a direct command's one-item set, without the "item 'x': "
 * the pipeline puts in front (the client sent no item).
 */
static const char *direct_msg(const json_t *e)
{
	const char *msg = json_string_value(json_object_get(e, "error"));
	const char *id = json_string_value(json_object_get(e, "item"));
	size_t n;

	if (!msg)
		return "invalid";
	if (id && !strncmp(msg, "item '", 6)) {
		n = strlen(id);
		if (!strncmp(msg + 6, id, n) && !strncmp(msg + 6 + n, "': ", 3))
			return msg + 6 + n + 3;
	}
	return msg;
}

/*
 * Apply @items.  direct: a one-item set from a direct command, whose
 * refusal answers with the refusal's own code and message.  0 with *csid,
 * or -errno with err filled as PROTOCOL.md says for changeset.apply.
 */
static int cs_apply_result(struct vifd *d, int ret, int64_t id,
			   const json_t *rep, bool direct,
			   struct api_error *err)
{
	const json_t *errors, *first;
	json_t *status = NULL, *cs;
	const char *why;

	if (!ret)
		goto out;
	why = json_string_value(json_object_get(rep, "error"));
	errors = json_object_get(rep, "errors");
	if (id) {
		cs = cs_object(d, id, false, &status);
		if (ret == -ENOTRECOVERABLE) {
			api_error_set(err, API_ERR_PARTIAL_FAILURE,
				      "change set %lld failed and a rollback step failed too: it needs a person (%s)",
				      (long long)id, why && *why ? why : "");
			err->details = json_pack(
				"{s:o, s:o, s:o}", "changeset", cs, "failed",
				failed_json(rep, status), "needs_attention",
				attention_reshape(json_object_get(
					rep, "needs_attention")));
		} else {
			api_error_set(err, API_ERR_APPLY_FAILED,
				      "%s (change set %lld rolled back)",
				      why && *why ? why : strerror(-ret),
				      (long long)id);
			err->details = json_pack("{s:o, s:o}", "changeset", cs,
						 "failed",
						 failed_json(rep, status));
		}
	} else if (json_array_size(errors)) {
		first = json_array_get(errors, 0);
		if (direct) {
			api_error_set(err,
				      errno_code((int)json_integer_value(
							 json_object_get(first,
									 "errno")),
						 json_object_get(first, "target") !=
							 NULL),
				      "%s",
				      direct_msg(first));
		} else {
			api_error_set(err, API_ERR_VALIDATION_FAILED,
				      "the change set did not validate: %zu problem%s, first: %s",
				      json_array_size(errors),
				      json_array_size(errors) == 1 ? "" : "s",
				      json_string_value(json_object_get(
					      first, "error")) ?:
					      "");
			err->details = json_pack("{s:o}", "errors",
						 errors_reshape(errors));
		}
		ret = -EINVAL;
	} else if (ret == -EPERM) {
		api_error_set(err, API_ERR_CONFIRM_REQUIRED,
			      "HIGH risk: read the preview (details), then apply with \"confirm\":true");
		err->details = preview_reshape(rep);
	} else if (ret == -EBUSY) {
		ret = busy(d, err);
	} else if (ret == -ERANGE) {
		bad_args(err, "%s", why && *why ? why : "out of range");
		ret = -EINVAL;
	} else {
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't apply the change set: %s (%d)",
			      why && *why ? why : strerror(-ret), ret);
	}
out:
	json_decref(status);
	return ret;
}

static int cs_apply(struct vifd *d, const json_t *items,
		    const struct pipeline_apply_opts *opts, bool direct,
		    int64_t *csid, struct api_error *err)
{
	json_t *rep = NULL;
	int64_t id = 0;
	int ret;

	ret = pipeline_apply(d->pipeline, items, opts, &id, &rep);
	*csid = id;
	ret = cs_apply_result(d, ret, id, rep, direct, err);
	json_decref(rep);
	return ret;
}

/* changeset.apply's answer: the set as the store has it. */
static json_t *cs_applied(struct vifd *d, int64_t id)
{
	return json_pack("{s:o}", "changeset", cs_object(d, id, false, NULL));
}

#define CS_ASYNC_BATCH 32

struct cs_async {
	struct vifd *d;
	struct api_pending *pend;
};

static void cs_apply_done(void *ctx, int ret, int64_t id, json_t *rep)
{
	struct cs_async *a = ctx;
	struct api_error err = { 0 };
	json_t *result = NULL;

	ret = cs_apply_result(a->d, ret, id, rep, false, &err);
	json_decref(rep);
	if (!ret) {
		result = cs_applied(a->d, id);
		if (!result)
			ret = -ENOMEM;
	}
	if (ret && !err.code[0])
		api_error_set(&err, api_errno_code(ret), "%s", strerror(-ret));
	if (a->pend) {
		api_reply(a->pend, result, ret ? &err : NULL);
	} else {
		json_decref(result);
		json_decref(err.details);
	}
	free(a);
}

/*
 * A big set, applied a slice per loop turn: answered from
 * cs_apply_done() unless it ends (or is refused) right away.
 */
static int cs_apply_async(struct vifd *d, struct api_client *c,
			  const json_t *items,
			  const struct pipeline_apply_opts *o, json_t **result,
			  struct api_error *err)
{
	struct cs_async *a;
	json_t *rep = NULL;
	int64_t id = 0;
	int ret;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	ret = pipeline_apply_async(d->pipeline, items, o, cs_apply_done, a,
				   &id, &rep);
	if (ret == -EINPROGRESS) {
		/* The answer's handle, before the loop runs the next slice. */
		a->pend = api_defer(c);
		if (a->pend)
			return API_PENDING;
		/* Cannot defer: the set goes on, its answer is dropped. */
		pr_warn("change set %lld: couldn't defer the answer\n",
			(long long)id);
		return -ENOMEM;
	}
	free(a);
	ret = cs_apply_result(d, ret, id, rep, false, err);
	json_decref(rep);
	if (ret)
		return ret;
	*result = cs_applied(d, id);
	return *result ? 0 : -ENOMEM;
}

/* A direct command as a one-item change set. */
static int cs_apply_one(struct vifd *d, const char *op, const json_t *args,
			int64_t *csid, struct api_error *err)
{
	struct pipeline_apply_opts o = { .confirmed_high_risk = true };
	json_t *items;
	int ret;

	items = json_pack("[{s:s, s:s, s:O}]", "id", op, "op", op, "args",
			  args);
	if (!items)
		return -ENOMEM;
	ret = cs_apply(d, items, &o, true, csid, err);
	json_decref(items);
	return ret;
}

/* ---- vif.* -------------------------------------------------------------- */

static int vif_list_cb(const struct vifd_vif *v, void *ctx)
{
	struct vifd *d = ((void **)ctx)[0];
	json_t *list = ((void **)ctx)[1];

	return json_array_append_new(list, vif_json(d, v)) ? -ENOMEM : 0;
}

static int h_vif_list(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	json_t *list;
	void *cb[2];
	int ret;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	list = json_array();
	if (!list)
		return -ENOMEM;
	cb[0] = d;
	cb[1] = list;
	ret = vifmgr_foreach(d->vm, vif_list_cb, cb);
	if (ret) {
		json_decref(list);
		return ret;
	}
	*result = json_pack("{s:o}", "vifs", list);
	return *result ? 0 : -ENOMEM;
}

static int h_vif_show(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	int ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", true, &v, err);
	if (ret)
		return ret;
	*result = vif_json(d, v);
	return *result ? 0 : -ENOMEM;
}

static int h_vif_create(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	const json_t *gw, *ks, *q;
	const char *name, *netns = NULL;
	int64_t vlan, csid;
	int ret;

	if (api_args_only(args, err, "name", "vlan", "netns", "gateway",
			  "killswitch", "quota", NULL) ||
	    arg_vif_name(args, "name", &name, err) ||
	    api_arg_int(args, "vlan", false, VIFD_VLAN_LO, VIFD_VLAN_HI, &vlan,
			err) ||
	    api_arg_str(args, "netns", false, H_NETNS_MAX, &netns, err))
		return -EINVAL;
	if (netns && (strchr(netns, '/') || !strcmp(netns, ".") ||
		      !strcmp(netns, "..")))
		return bad_args(err,
				"argument \"netns\": '%s' is not a netns name",
				netns);
	if (arg_object(args, "gateway", false, &gw, err) ||
	    (gw && gateway_args_check(gw, err) && sub_fail(err, "gateway")) ||
	    arg_object(args, "killswitch", false, &ks, err) ||
	    (ks && killswitch_args_check(ks, err) &&
	     sub_fail(err, "killswitch")) ||
	    arg_object(args, "quota", false, &q, err) ||
	    (q && quota_args_check(q, NULL, err) && sub_fail(err, "quota")))
		return -EINVAL;
	if (vifmgr_find(d->vm, name)) {
		api_error_set(err, API_ERR_CONFLICT,
			      "a VIF named '%s' exists already%s", name,
			      vifmgr_find(d->vm, name)->state ==
					      VIFD_STATE_ERROR ?
				      " (in ERROR: vif.retry or vif.delete it)" :
				      "");
		return -EEXIST;
	}
	ret = cs_apply_one(d, "vif.create", args, &csid, err);
	v = vifmgr_find(d->vm, name);
	if (ret) {
		/* A creation that got far enough stays as an ERROR VIF. */
		if (v && !strcmp(err->code, API_ERR_APPLY_FAILED) &&
		    json_is_object(err->details))
			json_object_set_new(err->details, "vif", vif_json(d, v));
		return ret;
	}
	*result = json_pack("{s:I, s:o}", "changeset", (json_int_t)csid, "vif",
			    v ? vif_json(d, v) : json_null());
	return *result ? 0 : -ENOMEM;
}

/* What stops a VIF from going: chains through it, fallbacks to it. */
static json_t *vif_used_by(struct vifd *d, const struct vifd_vif *x)
{
	json_t *list = json_array();
	char buf[2 * VIFD_NAME_MAX + 32];
	unsigned int v;

	if (!list)
		return NULL;
	if (x->next_hop) {
		const struct vifd_vif *n = vifmgr_get(d->vm, x->next_hop);

		snprintf(buf, sizeof(buf), "chain %s -> %s", x->name,
			 n ? n->name : "?");
		json_array_append_new(list, json_string(buf));
	}
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vifd_vif *w = vifmgr_get(d->vm, v);

		if (!w || w == x)
			continue;
		if (w->next_hop == x->vlan) {
			snprintf(buf, sizeof(buf), "chain %s -> %s", w->name,
				 x->name);
			json_array_append_new(list, json_string(buf));
		}
		if (w->ks_mode == VIFD_KS_FALLBACK &&
		    w->ks_fallback == x->vlan) {
			snprintf(buf, sizeof(buf), "killswitch of %s", w->name);
			json_array_append_new(list, json_string(buf));
		}
	}
	return list;
}

static int h_vif_delete(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	char name[VIFD_NAME_MAX];
	json_t *used;
	int64_t csid;
	int ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	used = vif_used_by(d, v);
	if (json_array_size(used)) {
		api_error_set(err, API_ERR_CONFLICT,
			      "VIF '%s' is in use: %s%s", v->name,
			      json_string_value(json_array_get(used, 0)),
			      json_array_size(used) > 1 ? ", ..." : "");
		err->details = json_pack("{s:o}", "used_by", used);
		return -EBUSY;
	}
	json_decref(used);
	snprintf(name, sizeof(name), "%s", v->name);
	ret = cs_apply_one(d, "vif.delete", args, &csid, err);
	if (ret)
		return ret;
	*result = json_pack("{s:I, s:s}", "changeset", (json_int_t)csid,
			    "deleted", name);
	return *result ? 0 : -ENOMEM;
}

static int h_vif_retry(void *ctx, struct api_client *c, const json_t *args,
		       json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	const struct quota_state *qs;
	char why[VIFD_ERROR_MAX] = "", name[VIFD_NAME_MAX];
	__u64 limit;
	__u32 flags;
	int ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	if (!pipeline_pending(d->pipeline, NULL, NULL) ||
	    !pipeline_running(d->pipeline, NULL))
		return busy(d, err);
	if (v->state != VIFD_STATE_ERROR) {
		api_error_set(err, API_ERR_CONFLICT,
			      "VIF '%s' is %s: only a VIF in ERROR is retried",
			      v->name, vifmgr_state_name(v->state));
		return -EALREADY;
	}
	snprintf(name, sizeof(name), "%s", v->name);
	ret = vifmgr_retry(d->vm, name, why, sizeof(why));
	v = vifmgr_find(d->vm, name);
	if (ret == -EALREADY || ret == -EBUSY) {
		api_error_set(err, API_ERR_CONFLICT, "%s",
			      why[0] ? why : strerror(-ret));
		return ret;
	}
	if (ret) {
		api_error_set(err, API_ERR_APPLY_FAILED, "retry failed: %s",
			      why[0] ? why : strerror(-ret));
		err->details = json_pack("{s:o}", "vif",
					 v ? vif_json(d, v) : json_null());
		return ret;
	}
	/*
	 * The entry was written with the full limit: the quota manager's is
	 * what is left of the period.  Then back into the gateway manager
	 * (fail closed until probed) and its chains.
	 */
	qs = v ? quota_mgr_get(d->qm, v->vlan) : NULL;
	if (qs) {
		quota_dp_params(qs, &limit, &flags);
		ret = dp_quota_set(d->dp, v->vlan, limit, flags);
		if (ret)
			pr_warn("Couldn't restore the quota of VIF '%s': %s (%d)\n",
				v->name, strerror(-ret), ret);
	} else if (v) {
		vifd_quota_track(d, v);
	}
	vifd_sync(d);
	*result = json_pack("{s:o}", "vif", v ? vif_json(d, v) : json_null());
	return *result ? 0 : -ENOMEM;
}

/* ---- pool.* ------------------------------------------------------------- */

static int h_pool_status(void *ctx, struct api_client *c, const json_t *args,
			 json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	*result = pool_json(d);
	return *result ? 0 : -ENOMEM;
}

static int h_pool_set(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct vlan_set reserved, stranded;
	struct alloc_scan s;
	const char *range;
	unsigned int lo, hi, v;
	__u16 cur_lo, cur_hi;
	json_t *list;
	int64_t csid;
	int ret;

	if (api_args_only(args, err, "range", "reserved", NULL) ||
	    api_arg_str(args, "range", true, 16, &range, err))
		return -EINVAL;
	if (parse_range(range, &lo, &hi))
		return bad_args(err,
				"argument \"range\": '%s' is not \"LO-HI\" within %d-%d",
				range, VIFD_VLAN_LO, VIFD_VLAN_HI);
	pool_limits(d, &cur_lo, &cur_hi, &reserved);
	if (json_object_get(args, "reserved") &&
	    !json_is_null(json_object_get(args, "reserved")) &&
	    reserved_parse(json_object_get(args, "reserved"), &reserved, err))
		return -EINVAL;
	/* Refuse here what would strand allocated ids, with the list. */
	ret = allocs_scan(d, &s, false);
	if (ret)
		return ret;
	vlan_set_clear(&stranded);
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		if (vlan_set_has(&s.allocated, v) &&
		    (v < lo || v > hi || vlan_set_has(&reserved, v)))
			vlan_set_add(&stranded, v);
	if (vlan_set_count(&stranded)) {
		char ids[256];

		vlan_set_format(&stranded, ids, sizeof(ids));
		list = json_array();
		for (v = 0; list && v < VIF_VLAN_SLOTS; v++)
			if (vlan_set_has(&stranded, v))
				json_array_append_new(list, json_integer(v));
		api_error_set(err, API_ERR_CONFLICT,
			      "would strand %u allocated VLANs: %s",
			      vlan_set_count(&stranded), ids);
		err->details = json_pack("{s:o?}", "stranded", list);
		return -EBUSY;
	}
	ret = cs_apply_one(d, "pool.set", args, &csid, err);
	if (ret)
		return ret;
	*result = json_pack("{s:I, s:o?}", "changeset", (json_int_t)csid,
			    "pool", pool_json(d));
	return *result ? 0 : -ENOMEM;
}

/* ---- chain.* ------------------------------------------------------------ */

static int h_chain_list(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct chain_path *paths = NULL;
	json_t *list;
	int n, i;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	n = chains_collect(d, &paths);
	if (n < 0)
		return n;
	list = json_array();
	for (i = 0; list && i < n; i++)
		if (json_array_append_new(list, chain_json(d, paths[i].hops,
							   paths[i].n))) {
			json_decref(list);
			list = NULL;
		}
	free(paths);
	*result = list ? json_pack("{s:o}", "chains", list) : NULL;
	return *result ? 0 : -ENOMEM;
}

static int h_chain_set(void *ctx, struct api_client *c, const json_t *args,
		       json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	__u16 hops[VIFD_CHAIN_MAX];
	const json_t *list, *ref;
	const struct vifd_vif *v;
	char what[32];
	int64_t csid;
	size_t i, j, n;
	int ret;

	if (api_args_only(args, err, "hops", NULL))
		return -EINVAL;
	list = json_object_get(args, "hops");
	if (!list || json_is_null(list))
		return bad_args(err, "missing argument \"hops\"");
	if (!json_is_array(list))
		return bad_args(err, "argument \"hops\" must be an array");
	n = json_array_size(list);
	if (n < VIFD_CHAIN_MIN || n > VIFD_CHAIN_MAX)
		return bad_args(err,
				"argument \"hops\": a chain has %d-%d VIFs, not %zu",
				VIFD_CHAIN_MIN, VIFD_CHAIN_MAX, n);
	json_array_foreach(list, i, ref) {
		snprintf(what, sizeof(what), "argument \"hops\"[%zu]", i);
		if (ref_check(ref, what, err))
			return -EINVAL;
		v = vif_lookup(d, ref);
		if (!v)
			return not_found(err, ref);
		hops[i] = v->vlan;
		for (j = 0; j < i; j++)
			if (hops[j] == hops[i])
				return bad_args(err,
						"argument \"hops\": '%s' appears twice",
						v->name);
	}
	ret = cs_apply_one(d, "chain.set", args, &csid, err);
	if (ret)
		return ret;
	*result = json_pack("{s:I, s:o?}", "changeset", (json_int_t)csid,
			    "chain", chain_json(d, hops, (int)n));
	return *result ? 0 : -ENOMEM;
}

static int h_chain_clear(void *ctx, struct api_client *c, const json_t *args,
			 json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct chain_path *paths = NULL;
	const struct vifd_vif *v;
	struct vlan_set seen;
	json_t *cleared;
	int64_t csid;
	int n, i, k, ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	n = chains_collect(d, &paths);
	if (n < 0)
		return n;
	/* The names of every chain through it, in path order. */
	cleared = json_array();
	vlan_set_clear(&seen);
	for (i = 0; cleared && i < n; i++) {
		if (!path_has(&paths[i], v->vlan))
			continue;
		for (k = 0; k < paths[i].n; k++) {
			const struct vifd_vif *h =
				vifmgr_get(d->vm, paths[i].hops[k]);

			if (vlan_set_has(&seen, paths[i].hops[k]) || !h)
				continue;
			vlan_set_add(&seen, paths[i].hops[k]);
			json_array_append_new(cleared, json_string(h->name));
		}
	}
	free(paths);
	if (!cleared)
		return -ENOMEM;
	if (!json_array_size(cleared)) {
		json_decref(cleared);
		api_error_set(err, API_ERR_NOT_FOUND,
			      "VIF '%s' is in no chain", v->name);
		return -ENOENT;
	}
	ret = cs_apply_one(d, "chain.clear", args, &csid, err);
	if (ret) {
		json_decref(cleared);
		return ret;
	}
	*result = json_pack("{s:I, s:o}", "changeset", (json_int_t)csid,
			    "cleared", cleared);
	return *result ? 0 : -ENOMEM;
}

/* ---- killswitch.* ------------------------------------------------------- */

/* The chains, computed once per command that needs them. */
struct chain_set {
	struct chain_path *paths;
	int n; /* -1: not computed yet */
};

/* Why the kill switch of v is engaged, for people. */
static void ks_reason(struct vifd *d, const struct vifd_vif *v,
		      const struct gw_status *st, bool have_st,
		      struct chain_set *cs, char *buf, size_t len)
{
	int i, k;

	if (have_st && st->hold) {
		snprintf(buf, len, "operator hold");
		return;
	}
	if (v->state != VIFD_STATE_ACTIVE) {
		snprintf(buf, len, "VIF %s", vifmgr_state_name(v->state));
		return;
	}
	if (v->gw.type != VIFD_GW_NONE && have_st &&
	    st->state != VIFD_GW_RUNNING) {
		snprintf(buf, len, "gateway %s%s",
			 handlers_gw_state_name(st->state),
			 st->ks == GW_KS_FALLBACK ? ": re-routed to its fallback" :
						    "");
		return;
	}
	/* A hop of one of its chains. */
	if (cs->n < 0)
		cs->n = chains_collect(d, &cs->paths);
	for (i = 0; i < cs->n; i++) {
		const struct chain_path *p = &cs->paths[i];

		if (!path_has(p, v->vlan))
			continue;
		for (k = 0; k < p->n; k++) {
			const struct vifd_vif *h = vifmgr_get(d->vm, p->hops[k]);
			enum vifd_gw_state s = gw_state(d->gw, p->hops[k]);

			if (h && h != v && h->gw.type != VIFD_GW_NONE &&
			    s != VIFD_GW_RUNNING) {
				snprintf(buf, len,
					 "chain hop '%s': gateway %s", h->name,
					 handlers_gw_state_name(s));
				return;
			}
		}
	}
	snprintf(buf, len, "engaged");
}

static json_t *ks_json(struct vifd *d, const struct vifd_vif *v,
		       struct chain_set *cs)
{
	struct gw_status st;
	bool have_st, engaged = ks_engaged(d, v, &st, &have_st);
	char reason[128];

	if (engaged)
		ks_reason(d, v, &st, have_st, cs, reason, sizeof(reason));
	return json_pack("{s:s, s:i, s:s, s:o, s:b, s:s?}", "name", v->name,
			 "vlan", (int)v->vlan, "mode", ks_mode_name(v->ks_mode),
			 "fallback",
			 ref_json(d, v->ks_mode == VIFD_KS_FALLBACK ?
					     v->ks_fallback :
					     0),
			 "engaged", engaged, "reason",
			 engaged ? reason : NULL);
}

struct ks_list {
	struct vifd *d;
	json_t *list;
	struct chain_set cs;
};

static int ks_list_cb(const struct vifd_vif *v, void *ctx)
{
	struct ks_list *k = ctx;

	return json_array_append_new(k->list, ks_json(k->d, v, &k->cs)) ?
		       -ENOMEM :
		       0;
}

static int h_ks_show(void *ctx, struct api_client *c, const json_t *args,
		     json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct ks_list k = { .d = d, .cs = { NULL, -1 } };
	json_t *list;
	int ret;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	list = json_array();
	if (!list)
		return -ENOMEM;
	k.list = list;
	ret = vifmgr_foreach(d->vm, ks_list_cb, &k);
	free(k.cs.paths);
	if (ret) {
		json_decref(list);
		return ret;
	}
	*result = json_pack("{s:o}", "killswitches", list);
	return *result ? 0 : -ENOMEM;
}

static int h_ks_set(void *ctx, struct api_client *c, const json_t *args,
		    json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v, *fb;
	struct chain_set cs = { NULL, -1 };
	const json_t *ref;
	char name[VIFD_NAME_MAX];
	json_t *ks;
	int64_t csid;
	int ret;

	if (api_args_only(args, err, "name", "mode", "fallback", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	ks = json_deep_copy(args);
	if (!ks)
		return -ENOMEM;
	json_object_del(ks, "name");
	ret = killswitch_args_check(ks, err);
	json_decref(ks);
	if (ret)
		return ret;
	ref = json_object_get(args, "fallback");
	if (ref && !json_is_null(ref)) {
		fb = vif_lookup(d, ref);
		if (!fb)
			return not_found(err, ref);
		if (fb == v)
			return bad_args(err,
					"argument \"fallback\": a VIF cannot fall back to itself");
	}
	snprintf(name, sizeof(name), "%s", v->name);
	ret = cs_apply_one(d, "killswitch.set", args, &csid, err);
	if (ret)
		return ret;
	v = vifmgr_find(d->vm, name);
	*result = json_pack("{s:I, s:o}", "changeset", (json_int_t)csid,
			    "killswitch", v ? ks_json(d, v, &cs) : json_null());
	free(cs.paths);
	return *result ? 0 : -ENOMEM;
}

/* ---- quota.* ------------------------------------------------------------ */

static int quota_list_cb(const struct vifd_vif *v, void *ctx)
{
	struct vifd *d = ((void **)ctx)[0];
	json_t *list = ((void **)ctx)[1];

	if (!has_quota(d, v))
		return 0;
	return json_array_append_new(list, quota_json(d, v, true)) ? -ENOMEM :
								     0;
}

static int h_quota_show(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	json_t *list;
	void *cb[2];
	int ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	list = json_array();
	if (!list)
		return -ENOMEM;
	if (json_object_get(args, "name") &&
	    !json_is_null(json_object_get(args, "name"))) {
		ret = arg_vif(d, args, "name", false, &v, err);
		if (!ret && json_array_append_new(list, quota_json(d, v, true)))
			ret = -ENOMEM;
	} else {
		cb[0] = d;
		cb[1] = list;
		ret = vifmgr_foreach(d->vm, quota_list_cb, cb);
	}
	if (ret) {
		json_decref(list);
		return ret;
	}
	*result = json_pack("{s:o}", "quotas", list);
	return *result ? 0 : -ENOMEM;
}

static int h_quota_set(void *ctx, struct api_client *c, const json_t *args,
		       json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	json_t *q;
	char name[VIFD_NAME_MAX];
	int64_t csid;
	int ret;

	if (api_args_only(args, err, "name", "limit", "period", "action",
			  "dir", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	q = json_deep_copy(args);
	if (!q)
		return -ENOMEM;
	json_object_del(q, "name");
	ret = quota_args_check(q, NULL, err);
	json_decref(q);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "%s", v->name);
	ret = cs_apply_one(d, "quota.set", args, &csid, err);
	if (ret)
		return ret;
	v = vifmgr_find(d->vm, name);
	*result = json_pack("{s:I, s:o}", "changeset", (json_int_t)csid,
			    "quota", v ? quota_json(d, v, true) : json_null());
	return *result ? 0 : -ENOMEM;
}

static int h_quota_reset(void *ctx, struct api_client *c, const json_t *args,
			 json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	int ret;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", false, &v, err);
	if (ret)
		return ret;
	if (!quota_mgr_get(d->qm, v->vlan) || !has_quota(d, v)) {
		api_error_set(err, API_ERR_CONFLICT,
			      "VIF '%s' has no quota to reset", v->name);
		return -ENOENT;
	}
	ret = quota_mgr_reset(d->qm, v->vlan);
	if (ret == -ENOENT) {
		api_error_set(err, API_ERR_CONFLICT,
			      "VIF '%s' is %s: not in the dataplane, nothing to reset",
			      v->name, vifmgr_state_name(v->state));
		return ret;
	}
	if (ret) {
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't reset the quota of '%s': %s (%d)",
			      v->name, strerror(-ret), ret);
		return ret;
	}
	*result = json_pack("{s:o}", "quota", quota_json(d, v, true));
	return *result ? 0 : -ENOMEM;
}

/* ---- stats -------------------------------------------------------------- */

static json_t *drops_json(const __u64 *drops)
{
	json_t *o = json_object();
	unsigned int r;
	const char *name;

	for (r = 0; o && r < VIF_DROP__MAX; r++) {
		if (!drops[r])
			continue;
		name = stats_drop_name(r);
		if (name &&
		    json_object_set_new(o, name, json_integer(drops[r]))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *vif_stats_json(struct vifd *d, const struct vifd_vif *v,
			      const struct dp_stats *all)
{
	const struct vif_stats *s = &all->vif[v->vlan];
	struct stathist_rate r;
	json_t *rates = json_null();

	if (d->stats_samples >= 2) {
		stathist_rate(d->sh, v->vlan, &r);
		rates = json_pack("{s:f, s:f, s:f, s:f}", "rx_bytes_per_s",
				  r.rx_bps / 8, "tx_bytes_per_s", r.tx_bps / 8,
				  "rx_packets_per_s", r.rx_pps,
				  "tx_packets_per_s", r.tx_pps);
	}
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o}",
			 "name", v->name, "vlan", (int)v->vlan, "rx_packets",
			 (json_int_t)s->rx_packets, "rx_bytes",
			 (json_int_t)s->rx_bytes, "tx_packets",
			 (json_int_t)s->tx_packets, "tx_bytes",
			 (json_int_t)s->tx_bytes, "host_packets",
			 (json_int_t)s->host_packets, "chain_packets",
			 (json_int_t)s->chain_packets, "drops",
			 drops_json(s->drops), "drops_total",
			 (json_int_t)stats_vif_drops(s), "rates", rates);
}

struct stats_ctx {
	struct vifd *d;
	const struct dp_stats *all;
	json_t *list;
};

static int stats_list_cb(const struct vifd_vif *v, void *ctx)
{
	struct stats_ctx *s = ctx;

	return json_array_append_new(s->list,
				     vif_stats_json(s->d, v, s->all)) ?
		       -ENOMEM :
		       0;
}

static int h_stats(void *ctx, struct api_client *c, const json_t *args,
		   json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct stats_ctx s = { .d = d };
	const struct vifd_vif *v;
	int ret = 0;

	if (api_args_only(args, err, "name", NULL))
		return -EINVAL;
	s.all = d->sh ? stathist_latest(d->sh) : NULL;
	if (!s.all) {
		api_error_set(err, API_ERR_UNAVAILABLE,
			      "no dataplane counters: the dataplane could not be read");
		return -EOPNOTSUPP;
	}
	s.list = json_array();
	if (!s.list)
		return -ENOMEM;
	if (json_object_get(args, "name") &&
	    !json_is_null(json_object_get(args, "name"))) {
		ret = arg_vif(d, args, "name", true, &v, err);
		if (!ret)
			ret = stats_list_cb(v, &s);
	} else {
		ret = vifmgr_foreach(d->vm, stats_list_cb, &s);
	}
	if (ret) {
		json_decref(s.list);
		return ret;
	}
	*result = json_pack("{s:I, s:i, s:o, s:{s:I, s:I, s:o}}", "at",
			    (json_int_t)d->stats_at, "interval_ms",
			    VIFD_STATS_INTERVAL_MS, "vifs", s.list, "global",
			    "trunk_rx_packets",
			    (json_int_t)s.all->global.trunk_rx_packets,
			    "svc_rx_packets",
			    (json_int_t)s.all->global.svc_rx_packets, "drops",
			    drops_json(s.all->global.drops));
	return *result ? 0 : -ENOMEM;
}

static int history_cb(const struct store_stats_hour *h, void *ctx)
{
	json_t *list = ctx;

	return json_array_append_new(
		       list,
		       json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "hour",
				 (json_int_t)h->hour, "rx_packets",
				 (json_int_t)h->c.rx_packets, "rx_bytes",
				 (json_int_t)h->c.rx_bytes, "tx_packets",
				 (json_int_t)h->c.tx_packets, "tx_bytes",
				 (json_int_t)h->c.tx_bytes, "drops",
				 (json_int_t)h->c.drops)) ?
		       -ENOMEM :
		       0;
}

static int h_stats_history(void *ctx, struct api_client *c,
			   const json_t *args, json_t **result,
			   struct api_error *err)
{
	struct vifd *d = ctx;
	const struct vifd_vif *v;
	int64_t to = vifd_now(), from;
	json_t *hours;
	int ret;

	if (api_args_only(args, err, "name", "from", "to", NULL))
		return -EINVAL;
	ret = arg_vif(d, args, "name", true, &v, err);
	if (ret)
		return ret;
	if (api_arg_int(args, "to", false, 0, INT64_MAX / 2, &to, err))
		return -EINVAL;
	from = to - H_HISTORY_DEFAULT_S;
	if (from < 0)
		from = 0;
	if (api_arg_int(args, "from", false, 0, INT64_MAX / 2, &from, err))
		return -EINVAL;
	from -= from % 3600;
	if (from > to)
		return bad_args(err, "argument \"from\" is after \"to\"");
	/* What accumulated this hour, so the newest row is current. */
	vifd_stats_flush(d);
	hours = json_array();
	if (!hours)
		return -ENOMEM;
	ret = store_stats_range(d->store, v->vlan, from, to, history_cb, hours);
	if (ret) {
		json_decref(hours);
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't read the history: %s (%d)",
			      store_errmsg(d->store), ret);
		return ret;
	}
	*result = json_pack("{s:s, s:i, s:I, s:I, s:o}", "name", v->name,
			    "vlan", (int)v->vlan, "from", (json_int_t)from,
			    "to", (json_int_t)to, "hours", hours);
	return *result ? 0 : -ENOMEM;
}

/* ---- gateway.status ----------------------------------------------------- */

/* A loop_now_ms() instant as unix seconds; null for 0 (never). */
static json_t *mono_to_unix(uint64_t t_ms)
{
	uint64_t now = loop_now_ms();

	if (!t_ms)
		return json_null();
	return json_integer(vifd_now() -
			    (json_int_t)((now > t_ms ? now - t_ms : 0) / 1000));
}

/*
 * The gateway manager keeps the time of the last success only: a failing
 * gateway's last probe shows as the moment its state last changed.
 * TODO(gateway): a last_probe_ms in struct gw_status.
 */
static uint64_t last_probe_ms(const struct gw_status *st)
{
	if (!st->probes)
		return 0;
	return st->last_result == GW_PROBE_OK ? st->last_ok_ms :
						st->state_since_ms;
}

static int h_gateway_status(void *ctx, struct api_client *c,
			    const json_t *args, json_t **result,
			    struct api_error *err)
{
	struct vifd *d = ctx;
	struct gw_status *st;
	char addr[INET_ADDRSTRLEN];
	json_t *list;
	int n, i;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	st = calloc(VIF_VLAN_SLOTS, sizeof(*st));
	list = json_array();
	if (!st || !list) {
		free(st);
		json_decref(list);
		return -ENOMEM;
	}
	n = gw_status_dump(d->gw, st, VIF_VLAN_SLOTS);
	for (i = 0; i < n; i++) {
		const struct vifd_vif *v = vifmgr_get(d->vm, st[i].vlan);

		if (st[i].type == VIFD_GW_NONE)
			continue;
		ip4(st[i].socks_addr, addr, sizeof(addr));
		if (json_array_append_new(
			    list,
			    json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:s, s:I, s:o, s:o}",
				      "name", v ? v->name : "", "vlan",
				      (int)st[i].vlan, "type", "socks5", "tun",
				      st[i].tun, "addr", addr, "port",
				      (int)st[i].socks_port, "state",
				      handlers_gw_state_name(st[i].state),
				      "fails", (json_int_t)st[i].fails,
				      "last_probe", mono_to_unix(last_probe_ms(&st[i])),
				      "last_change",
				      mono_to_unix(st[i].state_since_ms)))) {
			json_decref(list);
			free(st);
			return -ENOMEM;
		}
	}
	free(st);
	*result = json_pack("{s:o}", "gateways", list);
	return *result ? 0 : -ENOMEM;
}

/* ---- changeset.* -------------------------------------------------------- */

static int arg_items(const json_t *args, struct api_error *err)
{
	const json_t *items = json_object_get(args, "items");

	if (!items || json_is_null(items))
		return bad_args(err, "missing argument \"items\"");
	if (!json_is_array(items))
		return bad_args(err, "argument \"items\" must be an array");
	if (!json_array_size(items) ||
	    json_array_size(items) > PIPELINE_ITEMS_MAX)
		return bad_args(err,
				"argument \"items\": a change set holds 1-%d items, not %zu",
				PIPELINE_ITEMS_MAX, json_array_size(items));
	return 0;
}

static int h_cs_preview(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	json_t *rep = NULL;
	const json_t *errors;
	int ret;

	if (api_args_only(args, err, "items", NULL) || arg_items(args, err))
		return -EINVAL;
	ret = pipeline_preview(d->pipeline, json_object_get(args, "items"),
			       &rep);
	errors = json_object_get(rep, "errors");
	if (ret && json_array_size(errors)) {
		api_error_set(err, API_ERR_VALIDATION_FAILED,
			      "the change set did not validate: %zu problem%s, first: %s",
			      json_array_size(errors),
			      json_array_size(errors) == 1 ? "" : "s",
			      json_string_value(json_object_get(
				      json_array_get(errors, 0), "error")) ?:
				      "");
		err->details = json_pack("{s:o}", "errors",
					 errors_reshape(errors));
		json_decref(rep);
		return -EINVAL;
	}
	if (ret) {
		json_decref(rep);
		return ret;
	}
	*result = preview_reshape(rep);
	json_decref(rep);
	return *result ? 0 : -ENOMEM;
}

static int h_cs_apply(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	struct pipeline_apply_opts o = { 0 };
	int64_t timeout = 0, csid;
	bool confirm = false;
	int ret;

	if (api_args_only(args, err, "items", "confirm_timeout", "confirm",
			  NULL) ||
	    arg_items(args, err) ||
	    api_arg_int(args, "confirm_timeout", false, 1,
			PIPELINE_CONFIRM_TIMEOUT_MAX, &timeout, err) ||
	    api_arg_bool(args, "confirm", false, &confirm, err))
		return -EINVAL;
	o.confirm_timeout_s = (unsigned int)timeout;
	o.confirmed_high_risk = confirm;
	/*
	 * Bulk sets: one journal commit per batch of steps, not per step,
	 * and one batch per loop turn (pipeline_apply_async()): 32 VIF
	 * creates hold the loop ~0.07 s, so probes and clients go on.
	 */
	if (json_array_size(json_object_get(args, "items")) > 16) {
		o.journal_batch = CS_ASYNC_BATCH;
		return cs_apply_async(d, c, json_object_get(args, "items"),
				      &o, result, err);
	}
	ret = cs_apply(d, json_object_get(args, "items"), &o, false, &csid,
		       err);
	if (ret)
		return ret;
	*result = json_pack("{s:o}", "changeset",
			    cs_object(d, csid, false, NULL));
	return *result ? 0 : -ENOMEM;
}

static int arg_cs_id(const json_t *args, bool required, int64_t *id,
		     struct api_error *err)
{
	return api_arg_int(args, "id", required, 1, INT64_MAX, id, err);
}

static int cs_not_found(struct api_error *err, int64_t id)
{
	api_error_set(err, API_ERR_NOT_FOUND, "no change set %lld",
		      (long long)id);
	return -ENOENT;
}

/* "change set 7 is CONFIRMED" */
static void cs_state_of(struct vifd *d, int64_t id, char *buf, size_t len)
{
	json_t *st = NULL;

	if (!pipeline_status(d->pipeline, id, &st))
		snprintf(buf, len, "%s",
			 json_string_value(json_object_get(st, "state")) ?:
				 "?");
	else
		snprintf(buf, len, "?");
	json_decref(st);
}

static int h_cs_confirm(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	char state[32];
	int64_t id;
	int ret;

	if (api_args_only(args, err, "id", NULL) ||
	    arg_cs_id(args, true, &id, err))
		return -EINVAL;
	ret = pipeline_confirm(d->pipeline, id);
	switch (ret) {
	case 0:
		break;
	case -ENOENT:
		return cs_not_found(err, id);
	case -EINVAL:
		cs_state_of(d, id, state, sizeof(state));
		api_error_set(err, API_ERR_CONFLICT,
			      "change set %lld is %s: not awaiting confirmation",
			      (long long)id, state);
		return -EEXIST;
	case -ETIMEDOUT:
		api_error_set(err, API_ERR_CONFLICT,
			      "change set %lld: its confirm deadline passed; it has been rolled back",
			      (long long)id);
		err->details = json_pack("{s:o}", "changeset",
					 cs_object(d, id, false, NULL));
		return -EEXIST;
	case -ENOTRECOVERABLE:
		api_error_set(err, API_ERR_PARTIAL_FAILURE,
			      "change set %lld: its confirm deadline passed and rolling it back failed",
			      (long long)id);
		err->details = json_pack("{s:o}", "changeset",
					 cs_object(d, id, true, NULL));
		return ret;
	default:
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't confirm change set %lld: %s (%d)",
			      (long long)id, strerror(-ret), ret);
		return ret;
	}
	*result = json_pack("{s:o}", "changeset",
			    cs_object(d, id, false, NULL));
	return *result ? 0 : -ENOMEM;
}

static int h_cs_rollback(void *ctx, struct api_client *c, const json_t *args,
			 json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	json_t *rep = NULL, *status = NULL;
	char state[32];
	int64_t id;
	int ret;

	if (api_args_only(args, err, "id", NULL) ||
	    arg_cs_id(args, true, &id, err))
		return -EINVAL;
	ret = pipeline_rollback(d->pipeline, id, &rep);
	json_decref(rep);
	switch (ret) {
	case 0:
		break;
	case -ENOENT:
		return cs_not_found(err, id);
	case -EINVAL:
		cs_state_of(d, id, state, sizeof(state));
		api_error_set(err, API_ERR_CONFLICT,
			      "change set %lld is %s: nothing to roll back",
			      (long long)id, state);
		return -EEXIST;
	case -EBUSY:
		return busy(d, err);
	case -ENOTRECOVERABLE: {
		json_t *cs = cs_object(d, id, false, &status);

		api_error_set(err, API_ERR_PARTIAL_FAILURE,
			      "change set %lld: rollback steps still fail",
			      (long long)id);
		err->details = json_pack(
			"{s:o, s:o}", "changeset", cs, "needs_attention",
			attention_reshape(json_object_get(status,
							  "needs_attention")));
		json_decref(status);
		return ret;
	}
	default:
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't roll back change set %lld: %s (%d)",
			      (long long)id, strerror(-ret), ret);
		return ret;
	}
	*result = json_pack("{s:o}", "changeset",
			    cs_object(d, id, false, NULL));
	return *result ? 0 : -ENOMEM;
}

static int h_cs_status(void *ctx, struct api_client *c, const json_t *args,
		       json_t **result, struct api_error *err)
{
	struct vifd *d = ctx;
	json_t *st = NULL, *cs;
	int64_t id = 0;
	int ret;

	if (api_args_only(args, err, "id", NULL) ||
	    arg_cs_id(args, false, &id, err))
		return -EINVAL;
	/* The set awaiting confirmation, else the one being applied. */
	if (!id && pipeline_pending(d->pipeline, &id, NULL) &&
	    pipeline_running(d->pipeline, &id)) {
		*result = json_pack("{s:n}", "changeset");
		return *result ? 0 : -ENOMEM;
	}
	ret = pipeline_status(d->pipeline, id, &st);
	if (ret == -ENOENT)
		return cs_not_found(err, id);
	if (ret) {
		api_error_set(err, API_ERR_INTERNAL,
			      "Couldn't read change set %lld: %s (%d)",
			      (long long)id, strerror(-ret), ret);
		return ret;
	}
	cs = cs_reshape(st, true);
	json_decref(st);
	*result = cs ? json_pack("{s:o}", "changeset", cs) : NULL;
	return *result ? 0 : -ENOMEM;
}

/* ---- registration ------------------------------------------------------- */

int handlers_register(struct vifd *d)
{
	static const struct {
		const char *cmd;
		enum api_role role;
		api_handler fn;
	} cmds[] = {
		{ "changeset.apply", API_ROLE_ADMIN, h_cs_apply },
		{ "changeset.confirm", API_ROLE_ADMIN, h_cs_confirm },
		{ "changeset.preview", API_ROLE_READ, h_cs_preview },
		{ "changeset.rollback", API_ROLE_ADMIN, h_cs_rollback },
		{ "changeset.status", API_ROLE_READ, h_cs_status },
		{ "chain.clear", API_ROLE_ADMIN, h_chain_clear },
		{ "chain.list", API_ROLE_READ, h_chain_list },
		{ "chain.set", API_ROLE_ADMIN, h_chain_set },
		{ "gateway.status", API_ROLE_READ, h_gateway_status },
		{ "killswitch.set", API_ROLE_ADMIN, h_ks_set },
		{ "killswitch.show", API_ROLE_READ, h_ks_show },
		{ "pool.set", API_ROLE_ADMIN, h_pool_set },
		{ "pool.status", API_ROLE_READ, h_pool_status },
		{ "quota.reset", API_ROLE_ADMIN, h_quota_reset },
		{ "quota.set", API_ROLE_ADMIN, h_quota_set },
		{ "quota.show", API_ROLE_READ, h_quota_show },
		{ "stats", API_ROLE_READ, h_stats },
		{ "stats.history", API_ROLE_READ, h_stats_history },
		{ "vif.create", API_ROLE_ADMIN, h_vif_create },
		{ "vif.delete", API_ROLE_ADMIN, h_vif_delete },
		{ "vif.list", API_ROLE_READ, h_vif_list },
		{ "vif.retry", API_ROLE_ADMIN, h_vif_retry },
		{ "vif.show", API_ROLE_READ, h_vif_show },
	};
	size_t i;
	int err;

	for (i = 0; i < ARRAY_LEN(cmds); i++) {
		err = api_register(d->api, cmds[i].cmd, cmds[i].role,
				   cmds[i].fn, d);
		if (err)
			return err;
	}
	return 0;
}
