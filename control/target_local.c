// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * target_local.c - the pipeline's "local" apply target; see target_local.h.
 *
 * Layout: argument parsing (one parser for every step, so validate and
 * apply never disagree on what an item says), the gateway chain registry,
 * the plan (depends and the validation simulation, computed once per
 * change set and cached), then apply / verify / rollback per op.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/if.h>

#include <jansson.h>

#include "log.h"
#include "alloc.h"
#include "config.h"
#include "dp.h"
#include "gateway.h"
#include "nl.h"
#include "quota.h"
#include "store.h"
#include "target_local.h"
#include "vifmgr.h"

#define TL_NETNS_PATH_MAX 320

enum tl_op {
	TL_VIF_CREATE = 0,
	TL_VIF_DELETE,
	TL_POOL_SET,
	TL_CHAIN_SET,
	TL_CHAIN_CLEAR,
	TL_KS_SET,
	TL_QUOTA_SET,
	TL_OP__MAX,
};

static const char *const tl_op_names[TL_OP__MAX] = {
	[TL_VIF_CREATE] = "vif.create",
	[TL_VIF_DELETE] = "vif.delete",
	[TL_POOL_SET] = "pool.set",
	[TL_CHAIN_SET] = "chain.set",
	[TL_CHAIN_CLEAR] = "chain.clear",
	[TL_KS_SET] = "killswitch.set",
	[TL_QUOTA_SET] = "quota.set",
};

static const char *const period_names[] = { "daily", "weekly", "monthly" };
static const char *const action_names[] = { "block", "alert" };
static const char *const dir_names[] = { "both", "rx", "tx" };
static const char *const mode_names[] = { "block", "fallback" };

/* A VIF named in an item: by name, or by VLAN (name NULL). */
struct tl_ref {
	const char *name;
	__u16 vlan;
};

/* An item's args, parsed.  Strings point into the item's JSON. */
struct tl_req {
	enum tl_op op;
	const char *name;          /* the VIF the item is about */
	/* vif.create */
	__u16 vlan;                /* 0: lowest free */
	const char *netns;         /* NULL: none */
	struct vifd_gateway gw;
	enum vifd_ks_mode ks_mode; /* create, killswitch.set */
	struct tl_ref fallback;    /* mode fallback only */
	bool has_quota;            /* create: given; quota.set: always */
	struct vifd_quota quota;   /* limit, period, action, dir */
	/* chain.set */
	struct tl_ref hops[VIFD_CHAIN_MAX];
	size_t nhops;
	/* pool.set */
	__u16 lo, hi;
	bool has_reserved;         /* false: keep the current set */
	struct vlan_set reserved;
};

/* One registered gateway chain, by first hop. */
struct tl_chain {
	__u8 n;
	__u16 hops[VIFD_CHAIN_MAX];
};

struct tl_plan;

struct target_local {
	struct target_local_deps d;
	char netns_dir[256];
	struct alloc_params ap;
	/* gw's chain registry as this target made it, by first hop. */
	struct tl_chain reg[VIF_VLAN_SLOTS];
	/* depends + validation + preview of the set being looked at. */
	struct tl_plan *plan;
	/* Item id -> its undo, from apply to verify of one run. */
	json_t *notes;
};

/* ---- small helpers ---------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int find_name(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* docs/PROTOCOL.md: 1-31 bytes of [A-Za-z0-9_.-], first alphanumeric. */
static bool vif_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!is_alnum(s[i]) &&
		    (!i || (s[i] != '_' && s[i] != '.' && s[i] != '-')))
			return false;
	return i > 0 && i < VIFD_NAME_MAX;
}

/* What `ip netns add` takes, minus anything odd in a path. */
static bool netns_name_ok(const char *s)
{
	size_t i;

	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; s[i]; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' &&
		    s[i] != '-')
			return false;
	return i > 0 && i < VIFD_NETNS_MAX;
}

static const char *ip4_str(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) ? buf : "?";
}

/* ---- argument parsing ------------------------------------------------- */

/*
 * Every function below writes 'argument "<pfx><key>" ...' into err and
 * returns -EINVAL on a bad argument.  pfx is "" or "gateway." and so on.
 */

static int arg_only(const json_t *o, const char *pfx, char *err,
		    size_t errlen, const char *const *keys)
{
	const char *key;
	const json_t *v;
	size_t i;

	json_object_foreach((json_t *)o, key, v) {
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], key))
				break;
		if (!keys[i]) {
			set_err(err, errlen, "unknown argument \"%s%s\"", pfx,
				key);
			return -EINVAL;
		}
	}
	return 0;
}

static const json_t *arg_get(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v && !json_is_null(v) ? v : NULL;
}

static int arg_missing(const char *pfx, const char *key, char *err,
		       size_t errlen)
{
	set_err(err, errlen, "missing argument \"%s%s\"", pfx, key);
	return -EINVAL;
}

static int arg_str(const json_t *o, const char *pfx, const char *key,
		   bool required, size_t maxlen, const char **out, char *err,
		   size_t errlen)
{
	const json_t *v = arg_get(o, key);
	size_t len;

	*out = NULL;
	if (!v)
		return required ? arg_missing(pfx, key, err, errlen) : 0;
	if (!json_is_string(v)) {
		set_err(err, errlen, "argument \"%s%s\" must be a string", pfx,
			key);
		return -EINVAL;
	}
	len = json_string_length(v);
	if (!len || len > maxlen || strlen(json_string_value(v)) != len) {
		set_err(err, errlen,
			"argument \"%s%s\" must be 1-%zu bytes (no NUL)", pfx,
			key, maxlen);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int arg_int(const json_t *o, const char *pfx, const char *key,
		   bool required, json_int_t min, json_int_t max,
		   json_int_t *out, char *err, size_t errlen)
{
	const json_t *v = arg_get(o, key);

	if (!v) {
		*out = 0;
		return required ? arg_missing(pfx, key, err, errlen) : 1;
	}
	if (!json_is_integer(v)) {
		set_err(err, errlen, "argument \"%s%s\" must be an integer",
			pfx, key);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	if (*out < min || *out > max) {
		set_err(err, errlen,
			"argument \"%s%s\": %lld is outside %lld-%lld", pfx,
			key, (long long)*out, (long long)min, (long long)max);
		return -EINVAL;
	}
	return 0;
}

static int arg_enum(const json_t *o, const char *pfx, const char *key,
		    const char *const *names, size_t n, int *out, char *err,
		    size_t errlen)
{
	char list[96] = "";
	const char *s;
	size_t i, used = 0;
	int ret;

	ret = arg_str(o, pfx, key, true, 32, &s, err, errlen);
	if (ret)
		return ret;
	*out = find_name(names, n, s);
	if (*out >= 0)
		return 0;
	for (i = 0; i < n && used < sizeof(list); i++)
		used += snprintf(list + used, sizeof(list) - used, "%s%s",
				 i ? ", " : "", names[i]);
	set_err(err, errlen, "argument \"%s%s\": '%s' is not one of %s", pfx,
		key, s, list);
	return -EINVAL;
}

static int arg_vif_name(const json_t *o, const char *key, const char **out,
			char *err, size_t errlen)
{
	int ret = arg_str(o, "", key, true, VIFD_NAME_MAX - 1, out, err,
			  errlen);

	if (ret)
		return ret;
	if (!vif_name_ok(*out)) {
		set_err(err, errlen,
			"argument \"%s\": '%s' is not a VIF name (1-31 of [A-Za-z0-9_.-], starting with a letter or digit)",
			key, *out);
		return -EINVAL;
	}
	return 0;
}

/* A VIF by name or VLAN, in a list or a sub-object (what names it). */
static int ref_parse(const json_t *v, const char *what, struct tl_ref *r,
		     char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (json_is_string(v)) {
		r->name = json_string_value(v);
		if (!vif_name_ok(r->name) ||
		    strlen(r->name) != json_string_length(v)) {
			set_err(err, errlen, "%s: '%s' is not a VIF name", what,
				r->name);
			return -EINVAL;
		}
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < VIFD_VLAN_LO || x > VIFD_VLAN_HI) {
			set_err(err, errlen, "%s: VLAN %lld is outside %d-%d",
				what, (long long)x, VIFD_VLAN_LO,
				VIFD_VLAN_HI);
			return -EINVAL;
		}
		r->vlan = (__u16)x;
		return 0;
	}
	set_err(err, errlen, "%s must be a VIF name or a VLAN", what);
	return -EINVAL;
}

static int parse_quota(const json_t *q, const char *pfx, bool with_name,
		       struct vifd_quota *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "limit", "period", "action",
					    "dir", NULL };
	static const char *const keys_named[] = { "name", "limit", "period",
						  "action", "dir", NULL };
	json_int_t limit;
	int period, action, dir, ret;

	ret = arg_only(q, pfx, err, errlen, with_name ? keys_named : keys);
	if (!ret)
		ret = arg_int(q, pfx, "limit", true, 0, INT64_MAX, &limit, err,
			      errlen);
	if (!ret)
		ret = arg_enum(q, pfx, "period", period_names, 3, &period, err,
			       errlen);
	if (!ret)
		ret = arg_enum(q, pfx, "action", action_names, 2, &action, err,
			       errlen);
	if (!ret)
		ret = arg_enum(q, pfx, "dir", dir_names, 3, &dir, err, errlen);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->limit = (__u64)limit;
	out->period = period;
	out->action = action;
	out->dir = dir;
	return 0;
}

static int parse_gateway(const json_t *g, struct vifd_gateway *out,
			 char *err, size_t errlen)
{
	static const char *const keys_none[] = { "type", NULL };
	static const char *const keys[] = { "type", "tun", "addr", "port",
					    NULL };
	const char *type, *tun, *addr;
	struct in_addr a;
	json_int_t port;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(g)) {
		set_err(err, errlen, "argument \"gateway\" must be an object");
		return -EINVAL;
	}
	ret = arg_str(g, "gateway.", "type", true, 16, &type, err, errlen);
	if (ret)
		return ret;
	if (!strcmp(type, "none"))
		return arg_only(g, "gateway.", err, errlen, keys_none);
	if (strcmp(type, "socks5")) {
		set_err(err, errlen,
			"argument \"gateway.type\": '%s' is not one of none, socks5",
			type);
		return -EINVAL;
	}
	ret = arg_only(g, "gateway.", err, errlen, keys);
	if (!ret)
		ret = arg_str(g, "gateway.", "tun", true, VIFD_IFNAME_MAX - 1,
			      &tun, err, errlen);
	if (!ret)
		ret = arg_str(g, "gateway.", "addr", true, 15, &addr, err,
			      errlen);
	if (!ret)
		ret = arg_int(g, "gateway.", "port", true, 1, 65535, &port,
			      err, errlen);
	if (ret)
		return ret;
	if (alloc_ifname_valid(tun)) {
		set_err(err, errlen,
			"argument \"gateway.tun\": '%s' is not an interface name",
			tun);
		return -EINVAL;
	}
	if (inet_pton(AF_INET, addr, &a) != 1 || !a.s_addr) {
		set_err(err, errlen,
			"argument \"gateway.addr\": '%s' is not an IPv4 address",
			addr);
		return -EINVAL;
	}
	out->type = VIFD_GW_SOCKS5;
	snprintf(out->tun, sizeof(out->tun), "%s", tun);
	out->socks_addr = a.s_addr;
	out->socks_port = (__u16)port;
	return 0;
}

/* mode + fallback, from a killswitch object or killswitch.set's args. */
static int parse_ks(const json_t *k, const char *pfx, struct tl_req *r,
		    char *err, size_t errlen)
{
	const json_t *fb = arg_get(k, "fallback");
	char what[48];
	int mode, ret;

	ret = arg_enum(k, pfx, "mode", mode_names, 2, &mode, err, errlen);
	if (ret)
		return ret;
	r->ks_mode = mode;
	if (mode == VIFD_KS_BLOCK) {
		if (fb) {
			set_err(err, errlen,
				"argument \"%sfallback\" is only for mode fallback",
				pfx);
			return -EINVAL;
		}
		return 0;
	}
	if (!fb) {
		set_err(err, errlen,
			"missing argument \"%sfallback\" (mode fallback needs a VIF)",
			pfx);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "argument \"%sfallback\"", pfx);
	return ref_parse(fb, what, &r->fallback, err, errlen);
}

/* "LO-HI" within the VIF range. */
static int range_parse(const char *s, unsigned int *lo, unsigned int *hi)
{
	char tail;

	if (sscanf(s, "%u-%u%c", lo, hi, &tail) != 2 || *lo > *hi ||
	    *lo < VIFD_VLAN_LO || *hi > VIFD_VLAN_HI)
		return -EINVAL;
	return 0;
}

static int parse_reserved(const json_t *list, struct vlan_set *out,
			  char *err, size_t errlen)
{
	unsigned int lo, hi, v;
	const json_t *e;
	size_t i;

	vlan_set_clear(out);
	if (!json_is_array(list)) {
		set_err(err, errlen, "argument \"reserved\" must be an array");
		return -EINVAL;
	}
	json_array_foreach(list, i, e) {
		if (json_is_integer(e)) {
			json_int_t x = json_integer_value(e);

			if (x < VIFD_VLAN_LO || x > VIFD_VLAN_HI) {
				set_err(err, errlen,
					"argument \"reserved\": VLAN %lld is outside %d-%d",
					(long long)x, VIFD_VLAN_LO,
					VIFD_VLAN_HI);
				return -EINVAL;
			}
			vlan_set_add(out, (unsigned int)x);
			continue;
		}
		if (!json_is_string(e) ||
		    range_parse(json_string_value(e), &lo, &hi)) {
			set_err(err, errlen,
				"argument \"reserved\": entry %zu is neither a VLAN nor \"A-B\" within %d-%d",
				i, VIFD_VLAN_LO, VIFD_VLAN_HI);
			return -EINVAL;
		}
		for (v = lo; v <= hi; v++)
			vlan_set_add(out, v);
	}
	return 0;
}

static int parse_create(const json_t *a, struct tl_req *r, char *err,
			size_t errlen)
{
	static const char *const keys[] = { "name", "vlan", "netns",
					    "gateway", "killswitch", "quota",
					    NULL };
	static const char *const ks_keys[] = { "mode", "fallback", NULL };
	const json_t *o;
	json_int_t vlan;
	int ret;

	ret = arg_vif_name(a, "name", &r->name, err, errlen);
	if (!ret)
		ret = arg_only(a, "", err, errlen, keys);
	if (!ret)
		ret = arg_int(a, "", "vlan", false, VIFD_VLAN_LO, VIFD_VLAN_HI,
			      &vlan, err, errlen);
	if (ret < 0)
		return ret;
	r->vlan = (__u16)vlan;
	ret = arg_str(a, "", "netns", false, VIFD_NETNS_MAX - 1, &r->netns,
		      err, errlen);
	if (ret)
		return ret;
	if (r->netns && !netns_name_ok(r->netns)) {
		set_err(err, errlen,
			"argument \"netns\": '%s' is not a netns name (1-63 of [A-Za-z0-9_.-])",
			r->netns);
		return -EINVAL;
	}
	o = arg_get(a, "gateway");
	if (o) {
		ret = parse_gateway(o, &r->gw, err, errlen);
		if (ret)
			return ret;
	}
	o = arg_get(a, "killswitch");
	if (o) {
		if (!json_is_object(o)) {
			set_err(err, errlen,
				"argument \"killswitch\" must be an object");
			return -EINVAL;
		}
		ret = arg_only(o, "killswitch.", err, errlen, ks_keys);
		if (!ret)
			ret = parse_ks(o, "killswitch.", r, err, errlen);
		if (ret)
			return ret;
	}
	o = arg_get(a, "quota");
	if (o) {
		if (!json_is_object(o)) {
			set_err(err, errlen,
				"argument \"quota\" must be an object");
			return -EINVAL;
		}
		ret = parse_quota(o, "quota.", false, &r->quota, err, errlen);
		if (ret)
			return ret;
		r->has_quota = r->quota.limit != 0;
	}
	return 0;
}

static int parse_chain_set(const json_t *a, struct tl_req *r, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "hops", NULL };
	const json_t *list, *h;
	char what[48];
	size_t i;
	int ret;

	ret = arg_only(a, "", err, errlen, keys);
	if (ret)
		return ret;
	list = arg_get(a, "hops");
	if (!list)
		return arg_missing("", "hops", err, errlen);
	if (!json_is_array(list)) {
		set_err(err, errlen, "argument \"hops\" must be an array");
		return -EINVAL;
	}
	if (json_array_size(list) < VIFD_CHAIN_MIN ||
	    json_array_size(list) > VIFD_CHAIN_MAX) {
		set_err(err, errlen,
			"argument \"hops\": a chain has %d-%d VIFs, not %zu",
			VIFD_CHAIN_MIN, VIFD_CHAIN_MAX, json_array_size(list));
		return -EINVAL;
	}
	json_array_foreach(list, i, h) {
		snprintf(what, sizeof(what), "argument \"hops\"[%zu]", i);
		ret = ref_parse(h, what, &r->hops[i], err, errlen);
		if (ret)
			return ret;
		r->nhops = i + 1;
	}
	return 0;
}

static int parse_pool_set(const json_t *a, struct tl_req *r, char *err,
			  size_t errlen)
{
	static const char *const keys[] = { "range", "reserved", NULL };
	unsigned int lo, hi;
	const char *range;
	const json_t *res;
	int ret;

	ret = arg_only(a, "", err, errlen, keys);
	if (!ret)
		ret = arg_str(a, "", "range", true, 16, &range, err, errlen);
	if (ret)
		return ret;
	if (range_parse(range, &lo, &hi)) {
		set_err(err, errlen,
			"argument \"range\": '%s' is not \"LO-HI\" within %d-%d",
			range, VIFD_VLAN_LO, VIFD_VLAN_HI);
		return -EINVAL;
	}
	r->lo = (__u16)lo;
	r->hi = (__u16)hi;
	res = arg_get(a, "reserved");
	if (!res)
		return 0;
	r->has_reserved = true;
	return parse_reserved(res, &r->reserved, err, errlen);
}

/*
 * Parse an item's op and args.  On error what was parsed so far stays in
 * r (depends uses it; validate reports the error).
 */
static int req_parse(const json_t *item, struct tl_req *r, char *err,
		     size_t errlen)
{
	static const char *const name_only[] = { "name", NULL };
	static const char *const ks_keys[] = { "name", "mode", "fallback",
					       NULL };
	const json_t *a = pipeline_item_args(item);
	const char *op = pipeline_item_op(item);
	int k, ret;

	memset(r, 0, sizeof(*r));
	k = op ? find_name(tl_op_names, TL_OP__MAX, op) : -1;
	if (k < 0) {
		set_err(err, errlen, "op '%s' is not the local target's",
			op ? op : "");
		return -EOPNOTSUPP;
	}
	r->op = k;
	if (!json_is_object(a)) {
		set_err(err, errlen, "args must be an object");
		return -EINVAL;
	}
	switch (r->op) {
	case TL_VIF_CREATE:
		return parse_create(a, r, err, errlen);
	case TL_VIF_DELETE:
	case TL_CHAIN_CLEAR:
		ret = arg_vif_name(a, "name", &r->name, err, errlen);
		return ret ?: arg_only(a, "", err, errlen, name_only);
	case TL_KS_SET:
		ret = arg_vif_name(a, "name", &r->name, err, errlen);
		if (!ret)
			ret = arg_only(a, "", err, errlen, ks_keys);
		return ret ?: parse_ks(a, "", r, err, errlen);
	case TL_QUOTA_SET:
		ret = arg_vif_name(a, "name", &r->name, err, errlen);
		if (!ret)
			ret = parse_quota(a, "", true, &r->quota, err, errlen);
		r->has_quota = true;
		return ret;
	case TL_CHAIN_SET:
		return parse_chain_set(a, r, err, errlen);
	case TL_POOL_SET:
		return parse_pool_set(a, r, err, errlen);
	default:
		return -EOPNOTSUPP;
	}
}

/* ---- the current state ------------------------------------------------ */

static const struct vifd_vif *ref_vif(const struct target_local *t,
				      const struct tl_ref *r)
{
	if (r->name)
		return vifmgr_find(t->d.vm, r->name);
	return r->vlan ? vifmgr_get(t->d.vm, r->vlan) : NULL;
}

static int next_cb(const struct vifd_vif *v, void *ctx)
{
	__u16 *next = ctx;

	if (v->state != VIFD_STATE_REMOVING)
		next[v->vlan] = v->next_hop;
	return 0;
}

/* Every VIF's next hop (VIF_VLAN_SLOTS entries, 0 = none). */
static void next_snapshot(const struct target_local *t, __u16 *next)
{
	memset(next, 0, VIF_VLAN_SLOTS * sizeof(*next));
	vifmgr_foreach(t->d.vm, next_cb, next);
}

static __u16 uf_find(__u16 *parent, __u16 v)
{
	while (parent[v] != v) {
		parent[v] = parent[parent[v]];
		v = parent[v];
	}
	return v;
}

/*
 * comp[v]: an id (a VLAN of the component, never 0) shared by every VIF
 * linked to v through next hops in either direction; 0 when v has no link
 * at all.  -ENOMEM.
 */
static int components(const __u16 *next, __u16 *comp)
{
	__u16 *parent;
	unsigned int v;

	parent = malloc(VIF_VLAN_SLOTS * sizeof(*parent));
	if (!parent)
		return -ENOMEM;
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		parent[v] = (__u16)v;
	memset(comp, 0, VIF_VLAN_SLOTS * sizeof(*comp));
	for (v = 1; v < VIF_VLAN_SLOTS; v++) {
		__u16 a, b;

		if (!next[v] || next[v] >= VIF_VLAN_SLOTS)
			continue;
		a = uf_find(parent, (__u16)v);
		b = uf_find(parent, next[v]);
		if (a != b)
			parent[a] = b;
		comp[v] = 1; /* linked; the id comes below */
		comp[next[v]] = 1;
	}
	for (v = 1; v < VIF_VLAN_SLOTS; v++)
		if (comp[v])
			comp[v] = uf_find(parent, (__u16)v);
	free(parent);
	return 0;
}

/* ---- the gateway chain registry --------------------------------------- */

static bool chain_eq(const struct tl_chain *a, const struct tl_chain *b)
{
	return a->n == b->n &&
	       !memcmp(a->hops, b->hops, a->n * sizeof(a->hops[0]));
}

static bool chain_has_any(const struct tl_chain *c, const struct vlan_set *s)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (vlan_set_has(s, c->hops[i]))
			return true;
	return false;
}

/*
 * The chains gw should know for these next hops: one per VIF that chains
 * into another and has none chaining into it, along its next hops.
 */
static void chains_desired(const __u16 *next, struct tl_chain *out)
{
	unsigned int v;
	__u8 *indeg;

	memset(out, 0, VIF_VLAN_SLOTS * sizeof(*out));
	indeg = calloc(VIF_VLAN_SLOTS, 1);
	if (!indeg)
		return;
	for (v = 1; v < VIF_VLAN_SLOTS; v++)
		if (next[v] && next[v] < VIF_VLAN_SLOTS && indeg[next[v]] < 255)
			indeg[next[v]]++;
	for (v = 1; v < VIF_VLAN_SLOTS; v++) {
		struct tl_chain *c = &out[v];
		__u16 cur = (__u16)v;

		if (!next[v] || indeg[v])
			continue;
		while (cur && c->n < VIFD_CHAIN_MAX) {
			c->hops[c->n++] = cur;
			cur = cur < VIF_VLAN_SLOTS ? next[cur] : 0;
		}
	}
	free(indeg);
}

/*
 * Bring gw's registry to the chains of next[]: with add, register the
 * chains that are new or changed (before the dataplane links hops: engage
 * first); without, drop those that are gone (after the dataplane unlinked
 * them: release last).  Failures of chains through a VLAN of mine (NULL:
 * any) are returned, the others only logged: an old chain through an
 * ERROR VIF must not fail an unrelated change.
 */
static int reg_sync(struct target_local *t, const __u16 *next, bool add,
		    const struct vlan_set *mine, char *err, size_t errlen)
{
	struct tl_chain *want;
	unsigned int v;
	int ret = 0, r;

	if (!t->d.gw)
		return 0;
	want = malloc(VIF_VLAN_SLOTS * sizeof(*want));
	if (!want) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	chains_desired(next, want);
	for (v = 1; v < VIF_VLAN_SLOTS; v++) {
		struct tl_chain *have = &t->reg[v];

		if (add && want[v].n && !chain_eq(&want[v], have)) {
			r = gw_chain_set(t->d.gw, want[v].hops, want[v].n);
			if (!r) {
				*have = want[v];
				continue;
			}
			pr_warn("Couldn't register the chain from VLAN %u with the gateway manager: %s (%d)\n",
				v, strerror(-r), r);
			if (!ret && (!mine || chain_has_any(&want[v], mine))) {
				ret = r;
				set_err(err, errlen,
					"Couldn't register the chain from VLAN %u with the gateway manager: %s (%d)",
					v, strerror(-r), r);
			}
		} else if (!add && have->n && !want[v].n) {
			r = gw_chain_clear(t->d.gw, (__u16)v);
			if (!r || r == -ENOENT) {
				have->n = 0;
				continue;
			}
			pr_warn("Couldn't unregister the chain from VLAN %u: %s (%d)\n",
				v, strerror(-r), r);
			if (!ret && (!mine || chain_has_any(have, mine))) {
				ret = r;
				set_err(err, errlen,
					"Couldn't unregister the chain from VLAN %u: %s (%d)",
					v, strerror(-r), r);
			}
		}
	}
	free(want);
	return ret;
}

/* ---- the plan: one change set, parsed, ordered and simulated ---------- */

static bool tl_handles(void *ctx, const char *op)
{
	return op && find_name(tl_op_names, TL_OP__MAX, op) >= 0;
}

struct tl_pitem {
	struct tl_req r;
	bool mine;                    /* an op of this target */
	int perr;                     /* parse error, 0 = parsed */
	char pmsg[PIPELINE_ERR_MAX];
	size_t *deps;                 /* implicit: items this one follows */
	size_t ndeps, capdeps;
	/* The simulation's verdict (validate) and diff (preview). */
	int err;
	char msg[PIPELINE_ERR_MAX];
	json_t *diff;
	enum pipeline_risk risk;
};

/*
 * The engine calls depends, validate and preview once per item, with the
 * same view; the work is per set, so it is done on the first call and
 * kept.  The plan holds a reference to each item: while it lives, no
 * other item can be allocated at one of their addresses, so "same view,
 * same count, same item at this index" proves it is the set the plan was
 * made for, even if the engine reuses a view's memory for the next set.
 */
struct tl_plan {
	const struct pipeline_view *view; /* NULL: a one-item plan */
	size_t n;
	json_t **items;
	struct tl_pitem *pi;
	bool simulated;
	size_t *order;  /* apply order, once simulated */
	size_t cursor;  /* preview comes in apply order: the next one */
};

static void plan_free(struct tl_plan *pl)
{
	size_t i;

	if (!pl)
		return;
	for (i = 0; i < pl->n; i++) {
		if (pl->items)
			json_decref(pl->items[i]);
		if (pl->pi) {
			free(pl->pi[i].deps);
			json_decref(pl->pi[i].diff);
		}
	}
	free(pl->items);
	free(pl->pi);
	free(pl->order);
	free(pl);
}

static void plan_drop(struct target_local *t)
{
	plan_free(t->plan);
	t->plan = NULL;
}

static const char *plan_id(const struct tl_plan *pl, size_t i)
{
	return pipeline_item_id(pl->items[i]);
}

static int dep_add(struct tl_pitem *p, size_t on)
{
	size_t k;

	for (k = 0; k < p->ndeps; k++)
		if (p->deps[k] == on)
			return 0;
	if (p->ndeps == p->capdeps) {
		size_t cap = p->capdeps ? p->capdeps * 2 : 4;
		size_t *d = realloc(p->deps, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		p->deps = d;
		p->capdeps = cap;
	}
	p->deps[p->ndeps++] = on;
	return 0;
}

/* The VIFs an item names besides the one it creates. */
static size_t req_refs(const struct tl_req *r, struct tl_ref *out)
{
	size_t n = 0, i;

	switch (r->op) {
	case TL_VIF_CREATE:
		if (r->ks_mode == VIFD_KS_FALLBACK)
			out[n++] = r->fallback;
		break;
	case TL_VIF_DELETE:
	case TL_CHAIN_CLEAR:
	case TL_QUOTA_SET:
		if (r->name)
			out[n++] = (struct tl_ref){ .name = r->name };
		break;
	case TL_KS_SET:
		if (r->name)
			out[n++] = (struct tl_ref){ .name = r->name };
		if (r->ks_mode == VIFD_KS_FALLBACK &&
		    (r->fallback.name || r->fallback.vlan))
			out[n++] = r->fallback;
		break;
	case TL_CHAIN_SET:
		for (i = 0; i < r->nhops; i++)
			out[n++] = r->hops[i];
		break;
	default:
		break;
	}
	return n;
}

/* Scratch for plan_deps(). */
struct tl_dscan {
	__u16 next[VIF_VLAN_SLOTS];
	__u16 comp[VIF_VLAN_SLOTS];
	int create_vlan[VIF_VLAN_SLOTS]; /* explicit VLAN -> create item */
	int del_vlan[VIF_VLAN_SLOTS];    /* VLAN of a VIF deleted for good */
	json_t *create_name;             /* name -> create item */
	json_t *delete_name;             /* name -> delete item */
	/* Items by op: byop[op0[op] .. op0[op + 1] - 1], in set order. */
	size_t *byop;
	size_t op0[TL_OP__MAX + 1];
};

static int by_op(struct tl_dscan *s, const struct tl_plan *pl)
{
	size_t fill[TL_OP__MAX] = { 0 }, i;
	unsigned int op;

	s->byop = malloc((pl->n ?: 1) * sizeof(*s->byop));
	if (!s->byop)
		return -ENOMEM;
	memset(s->op0, 0, sizeof(s->op0));
	for (i = 0; i < pl->n; i++)
		if (pl->pi[i].mine)
			s->op0[pl->pi[i].r.op + 1]++;
	for (op = 0; op < TL_OP__MAX; op++)
		s->op0[op + 1] += s->op0[op];
	for (i = 0; i < pl->n; i++) {
		if (!pl->pi[i].mine)
			continue;
		op = pl->pi[i].r.op;
		s->byop[s->op0[op] + fill[op]++] = i;
	}
	return 0;
}

#define for_each_op(s, op, j, k)                                           \
	for ((k) = (s)->op0[op];                                           \
	     (k) < (s)->op0[(op) + 1] && ((j) = (s)->byop[k], 1); (k)++)

static int name_idx(const json_t *map, const char *name)
{
	const json_t *x = name ? json_object_get(map, name) : NULL;

	return x ? (int)json_integer_value(x) : -1;
}

static int name_idx_put(json_t *map, const char *name, size_t i)
{
	if (!name || json_object_get(map, name))
		return 0;
	return json_object_set_new(map, name, json_integer((json_int_t)i)) ?
		       -ENOMEM :
		       0;
}

static int fallback_cb(const struct vifd_vif *v, void *ctx)
{
	void **a = ctx;
	struct tl_pitem *pd = a[0];
	const size_t *ks_item = a[1];
	const int *del_vlan = a[2];
	int d;

	if (v->ks_mode != VIFD_KS_FALLBACK || !v->ks_fallback ||
	    v->ks_fallback >= VIF_VLAN_SLOTS)
		return 0;
	d = del_vlan[v->ks_fallback];
	if (d < 0 || ks_item[v->vlan] == SIZE_MAX)
		return 0;
	/* The delete follows the killswitch.set that moves v off it. */
	return dep_add(&pd[d], ks_item[v->vlan]);
}

/* The implicit order (target_local.h, "Implicit order"). */
static int plan_deps(struct target_local *t, struct tl_plan *pl)
{
	struct tl_ref refs[VIFD_CHAIN_MAX + 1];
	const struct vifd_vif *v;
	struct tl_dscan *s;
	size_t i, j, k, q, nr, *ks_item = NULL;
	void *fa[3];
	int c, ret = -ENOMEM;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->create_name = json_object();
	s->delete_name = json_object();
	ks_item = malloc(VIF_VLAN_SLOTS * sizeof(*ks_item));
	if (!s->create_name || !s->delete_name || !ks_item)
		goto out;
	next_snapshot(t, s->next);
	if (components(s->next, s->comp) || by_op(s, pl))
		goto out;
	for (k = 0; k < VIF_VLAN_SLOTS; k++) {
		s->create_vlan[k] = -1;
		s->del_vlan[k] = -1;
		ks_item[k] = SIZE_MAX;
	}
	for (i = 0; i < pl->n; i++) {
		const struct tl_req *r = &pl->pi[i].r;

		if (!pl->pi[i].mine)
			continue;
		if (r->op == TL_VIF_CREATE) {
			if (name_idx_put(s->create_name, r->name, i))
				goto out;
			if (r->vlan && s->create_vlan[r->vlan] < 0)
				s->create_vlan[r->vlan] = (int)i;
		} else if (r->op == TL_VIF_DELETE) {
			if (name_idx_put(s->delete_name, r->name, i))
				goto out;
		}
	}
	/* VIFs deleted and not created again: others' changes go first. */
	for (i = 0; i < pl->n; i++) {
		const struct tl_req *r = &pl->pi[i].r;

		if (!pl->pi[i].mine)
			continue;
		if (r->op == TL_VIF_DELETE && r->name &&
		    name_idx(s->create_name, r->name) < 0 &&
		    (v = vifmgr_find(t->d.vm, r->name)) &&
		    s->del_vlan[v->vlan] < 0)
			s->del_vlan[v->vlan] = (int)i;
		if (r->op == TL_KS_SET && r->name &&
		    (v = vifmgr_find(t->d.vm, r->name)) &&
		    ks_item[v->vlan] == SIZE_MAX)
			ks_item[v->vlan] = i;
	}

	for (i = 0; i < pl->n; i++) {
		struct tl_pitem *p = &pl->pi[i];
		const struct tl_req *r = &p->r;

		if (!p->mine)
			continue;
		nr = req_refs(r, refs);
		for (k = 0; k < nr; k++) {
			v = ref_vif(t, &refs[k]);
			/* R1: a VIF the set creates is named after it is. */
			c = refs[k].name ? name_idx(s->create_name,
						    refs[k].name) :
					   s->create_vlan[refs[k].vlan];
			if (c >= 0 && (size_t)c != i &&
			    !(r->op == TL_VIF_DELETE && v) &&
			    dep_add(p, (size_t)c))
				goto out;
			/* R2: a VIF deleted for good goes after its changes. */
			if (!v || r->op == TL_VIF_DELETE ||
			    r->op == TL_VIF_CREATE || c >= 0)
				continue;
			if (s->del_vlan[v->vlan] >= 0 &&
			    dep_add(&pl->pi[s->del_vlan[v->vlan]], i))
				goto out;
		}
		switch (r->op) {
		case TL_VIF_CREATE:
			/*
			 * R3: after what frees its name or VLAN (a VIF there
			 * now: deleting one the set creates is refused), and
			 * after pools.
			 */
			c = r->name && vifmgr_find(t->d.vm, r->name) ?
				    name_idx(s->delete_name, r->name) :
				    -1;
			if (c >= 0 && dep_add(p, (size_t)c))
				goto out;
			v = r->vlan ? vifmgr_get(t->d.vm, r->vlan) : NULL;
			c = v ? name_idx(s->delete_name, v->name) : -1;
			if (c >= 0 && dep_add(p, (size_t)c))
				goto out;
			for_each_op(s, TL_POOL_SET, j, q)
				if (dep_add(p, j))
					goto out;
			break;
		case TL_POOL_SET:
			/* R4: after every delete (they only free VLANs). */
			for_each_op(s, TL_VIF_DELETE, j, q)
				if (dep_add(p, j))
					goto out;
			break;
		case TL_CHAIN_CLEAR:
			/* R2: deletes in its chain go after it. */
			v = r->name ? vifmgr_find(t->d.vm, r->name) : NULL;
			if (!v || !s->comp[v->vlan])
				break;
			for (k = 1; k < VIF_VLAN_SLOTS; k++)
				if (s->del_vlan[k] >= 0 &&
				    s->comp[k] == s->comp[v->vlan] &&
				    dep_add(&pl->pi[s->del_vlan[k]], i))
					goto out;
			break;
		case TL_CHAIN_SET:
			/* R5: after the chain.clear that frees its hops. */
			for (k = 0; k < r->nhops; k++) {
				v = ref_vif(t, &r->hops[k]);
				if (!v || !s->comp[v->vlan])
					continue;
				for_each_op(s, TL_CHAIN_CLEAR, j, q) {
					const struct vifd_vif *w;

					if (!pl->pi[j].r.name)
						continue;
					w = vifmgr_find(t->d.vm,
							pl->pi[j].r.name);
					if (w && s->comp[w->vlan] ==
							 s->comp[v->vlan] &&
					    dep_add(p, j))
						goto out;
				}
			}
			break;
		default:
			break;
		}
	}
	/* R2: a delete follows the killswitch.set moving a fallback off it. */
	fa[0] = pl->pi;
	fa[1] = ks_item;
	fa[2] = s->del_vlan;
	ret = vifmgr_foreach(t->d.vm, fallback_cb, fa);
out:
	json_decref(s->create_name);
	json_decref(s->delete_name);
	free(s->byop);
	free(ks_item);
	free(s);
	return ret;
}

static struct tl_plan *plan_alloc(size_t n)
{
	struct tl_plan *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->n = n;
	pl->items = calloc(n, sizeof(*pl->items));
	pl->pi = calloc(n, sizeof(*pl->pi));
	if (!pl->items || !pl->pi) {
		free(pl->items);
		free(pl->pi);
		free(pl);
		return NULL;
	}
	return pl;
}

static void plan_parse(struct tl_plan *pl, size_t i, const json_t *item)
{
	struct tl_pitem *p = &pl->pi[i];

	pl->items[i] = json_incref((json_t *)item);
	p->mine = tl_handles(NULL, pipeline_item_op(item));
	p->perr = req_parse(item, &p->r, p->pmsg, sizeof(p->pmsg));
}

/*
 * The plan for the view @item is in (made on first use), *idx its index.
 * NULL when the item is not in the view or out of memory.
 */
static struct tl_plan *plan_get(struct target_local *t,
				const struct pipeline_view *view,
				const json_t *item, size_t *idx)
{
	size_t n = pipeline_view_count(view), i;
	struct tl_plan *pl = t->plan;

	i = pipeline_view_index(view, item);
	if (i >= n)
		return NULL;
	*idx = i;
	if (pl && pl->view == view && pl->n == n && pl->items[i] == item)
		return pl;
	plan_drop(t);
	json_object_clear(t->notes);
	pl = plan_alloc(n);
	if (!pl)
		return NULL;
	pl->view = view;
	for (i = 0; i < n; i++)
		plan_parse(pl, i, pipeline_view_item(view, i));
	if (plan_deps(t, pl)) {
		plan_free(pl);
		return NULL;
	}
	t->plan = pl;
	return pl;
}

/* ---- ops: depends ----------------------------------------------------- */

static int tl_depends(void *ctx, const json_t *item,
		      const struct pipeline_view *proposed, json_t *after,
		      char *err, size_t errlen)
{
	struct target_local *t = ctx;
	struct tl_plan *pl;
	struct tl_pitem *p;
	size_t i, k;

	pl = plan_get(t, proposed, item, &i);
	if (!pl) {
		set_err(err, errlen, "out of memory (or not in the set)");
		return -ENOMEM;
	}
	p = &pl->pi[i];
	for (k = 0; k < p->ndeps; k++)
		if (json_array_append_new(after,
					  json_string(plan_id(pl, p->deps[k]))))
			return -ENOMEM;
	return 0;
}

/* ---- the simulation (validate, preview) ------------------------------- */

/* A VIF as the simulation sees it, the set's earlier items applied. */
struct sim_vif {
	bool exists;
	bool existed;           /* there before the set */
	char name[VIFD_NAME_MAX];
	enum vifd_state state;
	__u16 next_hop;
	enum vifd_ks_mode ks_mode;
	__u16 ks_fallback;
	enum vifd_gw_type gw_type;
	char tun[VIFD_IFNAME_MAX];
	struct vifd_quota quota;
	int created_by;         /* item indexes, -1 = none */
	int linked_by;          /* set its next hop */
	int ks_by;
	int quota_by;
	unsigned int indeg;     /* VIFs chaining into it */
	unsigned int fb_users;  /* VIFs falling back to it */
};

struct sim {
	struct target_local *t;
	struct tl_plan *pl;
	struct sim_vif *v;      /* VIF_VLAN_SLOTS */
	int *gone_vlan;         /* VLAN -> the item that deleted it, -1 */
	json_t *names;          /* name -> VLAN */
	json_t *tuns;           /* tun -> VLAN */
	json_t *gone;           /* name -> the item that deleted it */
	struct vlan_set taken;  /* VIFs' and orphans' VLANs */
	struct vlan_set orphans;
	__u16 lo, hi;
	struct vlan_set reserved;
	int pool_by;
	__u16 free_hint;        /* no free usable VLAN below it */
};

static void sim_fini(struct sim *s)
{
	free(s->v);
	free(s->gone_vlan);
	json_decref(s->names);
	json_decref(s->tuns);
	json_decref(s->gone);
}

static int sim_load_cb(const struct vifd_vif *v, void *ctx)
{
	struct sim *s = ctx;
	struct sim_vif *x = &s->v[v->vlan];

	x->exists = x->existed = true;
	snprintf(x->name, sizeof(x->name), "%s", v->name);
	x->state = v->state;
	x->next_hop = v->next_hop;
	x->ks_mode = v->ks_mode;
	x->ks_fallback = v->ks_fallback;
	x->gw_type = v->gw.type;
	snprintf(x->tun, sizeof(x->tun), "%s", v->gw.tun);
	x->quota = v->quota;
	vlan_set_add(&s->taken, v->vlan);
	if (json_object_set_new(s->names, v->name, json_integer(v->vlan)))
		return -ENOMEM;
	if (v->gw.type != VIFD_GW_NONE && v->gw.tun[0] &&
	    json_object_set_new(s->tuns, v->gw.tun, json_integer(v->vlan)))
		return -ENOMEM;
	return 0;
}

static int sim_orphan_cb(const struct store_alloc *a, void *ctx)
{
	struct sim *s = ctx;

	if (!a->has_vif && !s->v[a->vlan].exists) {
		vlan_set_add(&s->taken, a->vlan);
		vlan_set_add(&s->orphans, a->vlan);
	}
	return 0;
}

static int sim_init(struct sim *s, struct target_local *t,
		    struct tl_plan *pl)
{
	unsigned int v;
	int err;

	memset(s, 0, sizeof(*s));
	s->t = t;
	s->pl = pl;
	s->pool_by = -1;
	s->v = calloc(VIF_VLAN_SLOTS, sizeof(*s->v));
	s->gone_vlan = malloc(VIF_VLAN_SLOTS * sizeof(*s->gone_vlan));
	s->names = json_object();
	s->tuns = json_object();
	s->gone = json_object();
	if (!s->v || !s->gone_vlan || !s->names || !s->tuns || !s->gone)
		return -ENOMEM;
	err = vifmgr_foreach(t->d.vm, sim_load_cb, s);
	if (err)
		return err;
	if (t->d.store)
		store_alloc_list(t->d.store, sim_orphan_cb, s);
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		struct sim_vif *x = &s->v[v];

		s->gone_vlan[v] = -1;
		x->created_by = x->linked_by = x->ks_by = x->quota_by = -1;
		if (!x->exists)
			continue;
		if (x->next_hop && x->next_hop < VIF_VLAN_SLOTS)
			s->v[x->next_hop].indeg++;
		if (x->ks_mode == VIFD_KS_FALLBACK && x->ks_fallback &&
		    x->ks_fallback < VIF_VLAN_SLOTS)
			s->v[x->ks_fallback].fb_users++;
	}
	s->lo = t->d.cfg->vlan_pool.lo;
	s->hi = t->d.cfg->vlan_pool.hi;
	s->reserved = t->d.cfg->reserved;
	return 0;
}

static const char *sim_id(const struct sim *s, int i)
{
	return i >= 0 ? plan_id(s->pl, (size_t)i) : "?";
}

static __u16 sim_name_vlan(const struct sim *s, const char *name)
{
	const json_t *x = json_object_get(s->names, name);

	return x ? (__u16)json_integer_value(x) : 0;
}

/* The VLAN of the VIF @r names; 0 with the reason in err. */
static __u16 sim_ref(struct sim *s, const struct tl_ref *r, int *code,
		     char *err, size_t errlen)
{
	const json_t *g;
	__u16 vlan;

	if (r->name) {
		vlan = sim_name_vlan(s, r->name);
		if (vlan)
			return vlan;
		g = json_object_get(s->gone, r->name);
		if (g) {
			set_err(err, errlen,
				"VIF '%s' is deleted by item '%s' of this set",
				r->name, sim_id(s, (int)json_integer_value(g)));
			*code = -EEXIST;
		} else {
			set_err(err, errlen, "no VIF named '%s'", r->name);
			*code = -ENOENT;
		}
		return 0;
	}
	if (r->vlan && s->v[r->vlan].exists)
		return r->vlan;
	if (r->vlan && s->gone_vlan[r->vlan] >= 0) {
		set_err(err, errlen,
			"the VIF with VLAN %u is deleted by item '%s' of this set",
			r->vlan, sim_id(s, s->gone_vlan[r->vlan]));
		*code = -EEXIST;
	} else {
		set_err(err, errlen, "no VIF with VLAN %u", r->vlan);
		*code = -ENOENT;
	}
	return 0;
}

static __u16 sim_next_cb(__u16 vlan, void *ctx)
{
	const struct sim *s = ctx;

	return vlan < VIF_VLAN_SLOTS && s->v[vlan].exists ?
		       s->v[vlan].next_hop :
		       0;
}

static bool sim_usable(const struct sim *s, unsigned int v)
{
	return v >= s->lo && v <= s->hi && !vlan_set_has(&s->reserved, v);
}

static void sim_link(struct sim *s, __u16 from, __u16 to)
{
	struct sim_vif *x = &s->v[from];

	if (x->next_hop && x->next_hop < VIF_VLAN_SLOTS)
		s->v[x->next_hop].indeg--;
	x->next_hop = to;
	if (to)
		s->v[to].indeg++;
}

static void sim_set_fallback(struct sim *s, __u16 vlan,
			     enum vifd_ks_mode mode, __u16 fb)
{
	struct sim_vif *x = &s->v[vlan];

	if (x->ks_mode == VIFD_KS_FALLBACK && x->ks_fallback)
		s->v[x->ks_fallback].fb_users--;
	x->ks_mode = mode;
	x->ks_fallback = mode == VIFD_KS_FALLBACK ? fb : 0;
	if (x->ks_fallback)
		s->v[x->ks_fallback].fb_users++;
}

static int sim_add(struct sim *s, __u16 vlan, const struct tl_req *r,
		   __u16 fb, int i)
{
	struct sim_vif *x = &s->v[vlan];

	memset(x, 0, sizeof(*x));
	x->exists = true;
	snprintf(x->name, sizeof(x->name), "%s", r->name);
	x->state = VIFD_STATE_ACTIVE;
	x->gw_type = r->gw.type;
	snprintf(x->tun, sizeof(x->tun), "%s", r->gw.tun);
	x->quota = r->quota;
	x->created_by = i;
	x->linked_by = x->ks_by = x->quota_by = -1;
	sim_set_fallback(s, vlan, r->ks_mode, fb);
	vlan_set_add(&s->taken, vlan);
	s->gone_vlan[vlan] = -1;
	json_object_del(s->gone, r->name);
	if (json_object_set_new(s->names, r->name, json_integer(vlan)))
		return -ENOMEM;
	if (r->gw.type != VIFD_GW_NONE &&
	    json_object_set_new(s->tuns, r->gw.tun, json_integer(vlan)))
		return -ENOMEM;
	return 0;
}

static int sim_del(struct sim *s, __u16 vlan, int i)
{
	struct sim_vif *x = &s->v[vlan];

	sim_link(s, vlan, 0);
	sim_set_fallback(s, vlan, VIFD_KS_BLOCK, 0);
	json_object_del(s->names, x->name);
	if (x->gw_type != VIFD_GW_NONE && x->tun[0])
		json_object_del(s->tuns, x->tun);
	vlan_set_del(&s->taken, vlan);
	if (vlan < s->free_hint)
		s->free_hint = vlan;
	s->gone_vlan[vlan] = i;
	if (json_object_set_new(s->gone, x->name, json_integer(i)))
		return -ENOMEM;
	memset(x, 0, sizeof(*x));
	x->created_by = x->linked_by = x->ks_by = x->quota_by = -1;
	return 0;
}

/* Who keeps VIF vlan from going: "chain a -> b", "killswitch of c". */
static bool sim_in_use(const struct sim *s, __u16 vlan, char *buf,
		       size_t len)
{
	const struct sim_vif *x = &s->v[vlan];
	unsigned int u;

	if (x->next_hop) {
		snprintf(buf, len, "chain %s -> %s (chain.clear it first)",
			 x->name, s->v[x->next_hop].name);
		return true;
	}
	for (u = 1; (x->indeg || x->fb_users) && u < VIF_VLAN_SLOTS; u++) {
		const struct sim_vif *w = &s->v[u];

		if (!w->exists)
			continue;
		if (x->indeg && w->next_hop == vlan) {
			snprintf(buf, len,
				 "chain %s -> %s (chain.clear it first)",
				 w->name, x->name);
			return true;
		}
		if (x->fb_users && w->ks_mode == VIFD_KS_FALLBACK &&
		    w->ks_fallback == vlan) {
			snprintf(buf, len,
				 "killswitch of '%s' (killswitch.set it first)",
				 w->name);
			return true;
		}
	}
	return false;
}

static int sim_fail(struct tl_pitem *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sim_fail(struct tl_pitem *p, int code, const char *fmt, ...)
{
	va_list ap;

	/* The first problem is the item's verdict. */
	if (p->err)
		return code;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	p->err = code;
	return code;
}

/* ---- preview JSON ---- */

static json_t *ks_json(enum vifd_ks_mode mode, __u16 fb, const char *fbname)
{
	if (mode != VIFD_KS_FALLBACK)
		return json_pack("{s:s, s:n}", "mode", "block", "fallback");
	return json_pack("{s:s, s:{s:s, s:i}}", "mode", "fallback",
			 "fallback", "name", fbname ? fbname : "", "vlan",
			 (int)fb);
}

static json_t *quota_json(const struct vifd_quota *q)
{
	if (!q->limit)
		return json_null();
	return json_pack("{s:I, s:s, s:s, s:s}", "limit", (json_int_t)q->limit,
			 "period", period_names[q->period], "action",
			 action_names[q->action], "dir", dir_names[q->dir]);
}

/* The VIF as vifmgr has it, or would derive it for vlan and name. */
static json_t *vif_json(const struct target_local *t, const struct vifd_vif *v)
{
	char sub[INET_ADDRSTRLEN], svc[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	char subnet[INET_ADDRSTRLEN + 4];
	const struct vifd_vif *fb = NULL;

	if (v->ks_mode == VIFD_KS_FALLBACK)
		fb = vifmgr_get(t->d.vm, v->ks_fallback);

	snprintf(subnet, sizeof(subnet), "%s/%u", ip4_str(v->subnet, sub),
		 v->prefix_len);
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:o, s:o}",
			 "name", v->name, "vlan", (int)v->vlan, "state",
			 vifmgr_state_name(v->state), "ifname", v->ifname,
			 "peer_ifname", v->peer_ifname, "netns",
			 v->netns[0] ? v->netns : NULL, "subnet", subnet,
			 "svc_addr", ip4_str(v->svc_addr, svc), "gw_addr",
			 ip4_str(v->gw_addr, gw), "mark", (json_int_t)v->mark,
			 "table", (json_int_t)v->table, "next_hop",
			 (int)v->next_hop, "gateway",
			 v->gw.type == VIFD_GW_NONE ? "none" : "socks5",
			 "killswitch",
			 ks_json(v->ks_mode, v->ks_fallback,
				 fb ? fb->name : NULL),
			 "quota", quota_json(&v->quota));
}

static json_t *diff_new(json_t *before, json_t *after)
{
	json_t *d = json_object();

	if (!d || json_object_set_new(d, "before", before ?: json_null()) ||
	    json_object_set_new(d, "after", after ?: json_null())) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* {"name", "vlan", "next_hop"} for each VLAN of a list, as the sim has it. */
static json_t *links_json(const struct sim *s, const __u16 *vlans, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		if (json_array_append_new(
			    a, json_pack("{s:s, s:i, s:i}", "name",
					 s->v[vlans[i]].name, "vlan",
					 (int)vlans[i], "next_hop",
					 (int)s->v[vlans[i]].next_hop))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *pool_json(__u16 lo, __u16 hi, const struct vlan_set *res)
{
	char range[16], text[512];
	unsigned int v, size = 0;

	snprintf(range, sizeof(range), "%u-%u", lo, hi);
	vlan_set_format(res, text, sizeof(text));
	for (v = lo; v <= hi; v++)
		size += !vlan_set_has(res, v);
	return json_pack("{s:s, s:s, s:i}", "range", range, "reserved", text,
			 "size", (int)size);
}

/* ---- the simulation, per op ---- */

static void sim_create(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_req *r = &p->r;
	struct target_local *t = s->t;
	char path[TL_NETNS_PATH_MAX], why[PIPELINE_ERR_MAX];
	struct vifd_vif nv;
	const json_t *tun;
	struct stat st;
	__u16 vlan, fb = 0, x;
	int code = 0;
	bool self;

	x = sim_name_vlan(s, r->name);
	if (x) {
		if (s->v[x].created_by >= 0)
			sim_fail(p, -EEXIST,
				 "VIF '%s' is created by item '%s' of this set already",
				 r->name, sim_id(s, s->v[x].created_by));
		else
			sim_fail(p, -EEXIST, "a VIF named '%s' exists already (%s%s)",
				 r->name, vifmgr_state_name(s->v[x].state),
				 s->v[x].state == VIFD_STATE_ERROR ?
					 ": vif.retry or vif.delete it" :
					 "");
		return;
	}
	vlan = r->vlan;
	if (vlan && !(vlan >= s->lo && vlan <= s->hi)) {
		sim_fail(p, -ERANGE, "VLAN %u is outside the pool %u-%u", vlan,
			 s->lo, s->hi);
		return;
	} else if (vlan && vlan_set_has(&s->reserved, vlan)) {
		sim_fail(p, -EPERM, "VLAN %u is reserved in the pool", vlan);
		return;
	} else if (vlan && s->v[vlan].exists) {
		if (s->v[vlan].created_by >= 0)
			sim_fail(p, -EEXIST,
				 "VLAN %u is taken by '%s' (item '%s' of this set)",
				 vlan, s->v[vlan].name,
				 sim_id(s, s->v[vlan].created_by));
		else
			sim_fail(p, -EEXIST, "VLAN %u is taken by '%s'", vlan,
				 s->v[vlan].name);
		return;
	} else if (vlan && vlan_set_has(&s->taken, vlan)) {
		sim_fail(p, -EEXIST,
			 "VLAN %u is still allocated to no VIF (an orphan: vifd frees it at its next start)",
			 vlan);
		return;
	} else if (!vlan) {
		unsigned int v;

		for (v = s->free_hint > s->lo ? s->free_hint : s->lo;
		     v <= s->hi && !vlan; v++)
			if (sim_usable(s, v) && !vlan_set_has(&s->taken, v))
				vlan = (__u16)v;
		s->free_hint = vlan;
		if (!vlan) {
			sim_fail(p, -ENOSPC, "the VLAN pool %u-%u is full",
				 s->lo, s->hi);
			return;
		}
	}
	if (r->ks_mode == VIFD_KS_FALLBACK) {
		fb = sim_ref(s, &r->fallback, &code, why, sizeof(why));
		self = fb == vlan || (r->fallback.name &&
				      !strcmp(r->fallback.name, r->name));
		if (!fb)
			sim_fail(p, code, "kill-switch fallback: %s", why);
		else if (self)
			sim_fail(p, -EINVAL, "a VIF cannot fall back to itself");
		else if (s->v[fb].state == VIFD_STATE_REMOVING)
			sim_fail(p, -EBUSY,
				 "kill-switch fallback '%s' is being removed",
				 s->v[fb].name);
	}
	if (r->netns) {
		snprintf(path, sizeof(path), "%s/%s", t->netns_dir, r->netns);
		if (stat(path, &st))
			sim_fail(p, -ENOENT, "netns '%s' does not exist (no %s)",
				 r->netns, path);
	}
	if (r->gw.type == VIFD_GW_SOCKS5) {
		tun = json_object_get(s->tuns, r->gw.tun);
		if (tun)
			sim_fail(p, -EEXIST, "tun '%s' is used by VIF '%s'",
				 r->gw.tun,
				 s->v[json_integer_value(tun)].name);
		code = alloc_ifname_check(r->gw.tun, NULL, NULL, why,
					  sizeof(why));
		if (code)
			sim_fail(p, code, "gateway tun: %s", why);
	}
	memset(&nv, 0, sizeof(nv));
	snprintf(nv.name, sizeof(nv.name), "%s", r->name);
	nv.vlan = vlan;
	code = alloc_vif_fill(&t->ap, &nv);
	if (code)
		sim_fail(p, code, "Couldn't derive the addresses of VLAN %u: %s (%d)",
			 vlan, strerror(-code), code);
	/* Names a VIF of that VLAN owns now are freed by its delete. */
	if (!code && !vifmgr_get(t->d.vm, vlan)) {
		if (nl_link_index(t->d.nl, nv.ifname) > 0)
			sim_fail(p, -EEXIST,
				 "interface '%s' exists already and is not a VIF's",
				 nv.ifname);
		else if (!r->netns &&
			 nl_link_index(t->d.nl, nv.peer_ifname) > 0)
			sim_fail(p, -EEXIST,
				 "interface '%s' exists already and is not a VIF's",
				 nv.peer_ifname);
	}
	/* Taken even when refused: later items are judged against it. */
	if (sim_add(s, vlan, r, fb, (int)i)) {
		sim_fail(p, -ENOMEM, "out of memory");
		return;
	}
	nv.state = VIFD_STATE_ACTIVE;
	snprintf(nv.netns, sizeof(nv.netns), "%s", r->netns ? r->netns : "");
	nv.gw = r->gw;
	nv.ks_mode = r->ks_mode;
	nv.ks_fallback = fb;
	nv.quota = r->quota;
	p->diff = diff_new(NULL, vif_json(t, &nv));
	p->risk = PIPELINE_RISK_LOW;
	/* A fallback the set creates has no vifmgr record to name it yet. */
	if (fb && !vifmgr_get(t->d.vm, fb)) {
		json_t *k = json_object_get(json_object_get(p->diff, "after"),
					    "killswitch");

		json_object_set_new(json_object_get(k, "fallback"), "name",
				    json_string(s->v[fb].name));
	}
}

static void sim_delete(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_ref ref = { .name = p->r.name };
	char why[PIPELINE_ERR_MAX];
	const struct vifd_vif *v;
	struct sim_vif *x;
	int code = 0;
	__u16 vlan;

	vlan = sim_ref(s, &ref, &code, why, sizeof(why));
	if (!vlan) {
		sim_fail(p, code, "%s", why);
		return;
	}
	x = &s->v[vlan];
	if (x->created_by >= 0) {
		sim_fail(p, -EEXIST,
			 "VIF '%s' is created by item '%s' of this set: creating and deleting it in one set changes nothing",
			 x->name, sim_id(s, x->created_by));
		return;
	}
	if (sim_in_use(s, vlan, why, sizeof(why))) {
		sim_fail(p, -EBUSY, "VIF '%s' is in use: %s", x->name, why);
		return;
	}
	v = vifmgr_get(s->t->d.vm, vlan);
	p->diff = diff_new(v ? vif_json(s->t, v) : NULL, NULL);
	p->risk = x->state == VIFD_STATE_ACTIVE ? PIPELINE_RISK_HIGH :
						  PIPELINE_RISK_MEDIUM;
	if (sim_del(s, vlan, (int)i))
		sim_fail(p, -ENOMEM, "out of memory");
}

/* The path from vlan along next hops, "a -> b -> c", at most 7 hops. */
static void sim_path(const struct sim *s, __u16 vlan, char *buf, size_t len)
{
	size_t used = 0;
	int k;

	buf[0] = '\0';
	for (k = 0; vlan && k < VIFD_CHAIN_MAX + 2 && used < len; k++) {
		used += snprintf(buf + used, len - used, "%s%s",
				 k ? " -> " : "", s->v[vlan].name);
		vlan = s->v[vlan].next_hop;
	}
	if (vlan && used < len)
		snprintf(buf + used, len - used, " -> ...");
}

static void sim_chain_set(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_req *r = &p->r;
	char why[PIPELINE_ERR_MAX], path[160];
	__u16 h[VIFD_CHAIN_MAX];
	json_t *before;
	unsigned int u, len;
	size_t k, j, n = r->nhops;
	int code = 0;

	for (k = 0; k < n; k++) {
		h[k] = sim_ref(s, &r->hops[k], &code, why, sizeof(why));
		if (!h[k]) {
			sim_fail(p, code, "hop %zu: %s", k, why);
			return;
		}
		for (j = 0; j < k; j++)
			if (h[j] == h[k]) {
				sim_fail(p, -EINVAL,
					 "argument \"hops\": '%s' appears twice",
					 s->v[h[k]].name);
				return;
			}
		if (s->v[h[k]].state != VIFD_STATE_ACTIVE) {
			sim_fail(p, -EBUSY,
				 "VIF '%s' is %s: only ACTIVE VIFs are chained",
				 s->v[h[k]].name,
				 vifmgr_state_name(s->v[h[k]].state));
			return;
		}
	}
	for (k = 0; k + 1 < n; k++) {
		const struct sim_vif *x = &s->v[h[k]];

		if (!x->next_hop)
			continue;
		if (x->linked_by >= 0)
			sim_fail(p, -EEXIST,
				 "'%s' is linked to '%s' by item '%s' of this set already",
				 x->name, s->v[x->next_hop].name,
				 sim_id(s, x->linked_by));
		else
			sim_fail(p, -EEXIST,
				 "'%s' already chains into '%s' (chain.clear it first)",
				 x->name, s->v[x->next_hop].name);
		return;
	}
	code = chain_validate(h, n, sim_next_cb, s, why, sizeof(why));
	if (code) {
		sim_fail(p, code, "%s", why);
		return;
	}
	before = links_json(s, h, n - 1);
	for (k = 0; k + 1 < n; k++)
		sim_link(s, h[k], h[k + 1]);
	/* Paths coming into hops[0] from upstream stay within 5 VIFs too. */
	for (u = 1; u < VIF_VLAN_SLOTS; u++) {
		__u16 cur;

		if (!s->v[u].exists || !s->v[u].next_hop || s->v[u].indeg)
			continue;
		for (cur = (__u16)u, len = 0; cur && len <= VIFD_CHAIN_MAX;
		     cur = s->v[cur].next_hop)
			len++;
		if (len <= VIFD_CHAIN_MAX)
			continue;
		sim_path(s, (__u16)u, path, sizeof(path));
		sim_fail(p, -E2BIG, "the chain would grow past %d VIFs: %s",
			 VIFD_CHAIN_MAX, path);
		for (k = 0; k + 1 < n; k++)
			sim_link(s, h[k], 0);
		json_decref(before);
		return;
	}
	/* Links out of VIFs the set creates are additions. */
	p->risk = PIPELINE_RISK_LOW;
	for (k = 0; k + 1 < n; k++) {
		s->v[h[k]].linked_by = (int)i;
		if (s->v[h[k]].created_by < 0)
			p->risk = PIPELINE_RISK_MEDIUM;
	}
	p->diff = diff_new(before, links_json(s, h, n - 1));
}

static void sim_chain_clear(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_ref ref = { .name = p->r.name };
	char why[PIPELINE_ERR_MAX];
	__u16 links[VIF_VLAN_SLOTS];
	struct vlan_set comp;
	json_t *before;
	unsigned int v;
	size_t n = 0, k;
	bool more = true;
	int code = 0;
	__u16 vlan;

	vlan = sim_ref(s, &ref, &code, why, sizeof(why));
	if (!vlan) {
		sim_fail(p, code, "%s", why);
		return;
	}
	vlan_set_clear(&comp);
	vlan_set_add(&comp, vlan);
	while (more) {
		more = false;
		for (v = 1; v < VIF_VLAN_SLOTS; v++) {
			__u16 nh = s->v[v].next_hop;

			if (!s->v[v].exists || !nh ||
			    vlan_set_has(&comp, v) == vlan_set_has(&comp, nh))
				continue;
			vlan_set_add(&comp, v);
			vlan_set_add(&comp, nh);
			more = true;
		}
	}
	for (v = 1; v < VIF_VLAN_SLOTS; v++)
		if (vlan_set_has(&comp, v) && s->v[v].exists &&
		    s->v[v].next_hop)
			links[n++] = (__u16)v;
	if (!n) {
		sim_fail(p, -ENOENT, "VIF '%s' is in no chain", p->r.name);
		return;
	}
	for (k = 0; k < n; k++) {
		const struct sim_vif *x = &s->v[links[k]];

		if (x->linked_by >= 0) {
			sim_fail(p, -EEXIST,
				 "it would clear the link '%s' -> '%s' that item '%s' of this set makes",
				 x->name, s->v[x->next_hop].name,
				 sim_id(s, x->linked_by));
			return;
		}
	}
	before = links_json(s, links, n);
	for (k = 0; k < n; k++)
		sim_link(s, links[k], 0);
	p->diff = diff_new(before, links_json(s, links, n));
	p->risk = PIPELINE_RISK_MEDIUM;
}

static json_t *ks_state_json(const struct sim *s, __u16 vlan)
{
	const struct sim_vif *x = &s->v[vlan];

	return json_pack("{s:s, s:i, s:o}", "name", x->name, "vlan",
			 (int)vlan, "killswitch",
			 ks_json(x->ks_mode, x->ks_fallback,
				 x->ks_fallback ? s->v[x->ks_fallback].name :
						  NULL));
}

static void sim_ks_set(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_req *r = &p->r;
	const struct tl_ref ref = { .name = r->name };
	char why[PIPELINE_ERR_MAX];
	struct sim_vif *x;
	json_t *before;
	__u16 vlan, fb = 0;
	int code = 0;

	if (!s->t->d.ks_mode_set) {
		sim_fail(p, -EOPNOTSUPP,
			 "killswitch.set is not available: the VIF manager cannot store kill-switch modes");
		return;
	}
	vlan = sim_ref(s, &ref, &code, why, sizeof(why));
	if (!vlan) {
		sim_fail(p, code, "%s", why);
		return;
	}
	x = &s->v[vlan];
	if (x->ks_by >= 0) {
		sim_fail(p, -EEXIST,
			 "item '%s' of this set changes the kill switch of '%s' already",
			 sim_id(s, x->ks_by), x->name);
		return;
	}
	if (r->ks_mode == VIFD_KS_FALLBACK) {
		fb = sim_ref(s, &r->fallback, &code, why, sizeof(why));
		if (!fb) {
			sim_fail(p, code, "fallback: %s", why);
			return;
		}
		if (fb == vlan) {
			sim_fail(p, -EINVAL,
				 "argument \"fallback\": a VIF cannot fall back to itself");
			return;
		}
		if (s->v[fb].state == VIFD_STATE_REMOVING) {
			sim_fail(p, -EBUSY, "fallback '%s' is being removed",
				 s->v[fb].name);
			return;
		}
	}
	before = ks_state_json(s, vlan);
	if ((x->ks_mode == r->ks_mode && x->ks_fallback == fb) ||
	    x->created_by >= 0)
		p->risk = PIPELINE_RISK_LOW;
	else if (x->ks_mode == VIFD_KS_BLOCK)
		p->risk = PIPELINE_RISK_HIGH; /* engaged stops dropping */
	else
		p->risk = PIPELINE_RISK_MEDIUM;
	sim_set_fallback(s, vlan, r->ks_mode, fb);
	x->ks_by = (int)i;
	p->diff = diff_new(before, ks_state_json(s, vlan));
}

static bool quota_cfg_eq(const struct vifd_quota *a, const struct vifd_quota *b)
{
	if (!a->limit || !b->limit)
		return a->limit == b->limit;
	return a->limit == b->limit && a->period == b->period &&
	       a->action == b->action && a->dir == b->dir;
}

static void sim_quota_set(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_req *r = &p->r;
	const struct tl_ref ref = { .name = r->name };
	char why[PIPELINE_ERR_MAX];
	struct sim_vif *x;
	json_t *before;
	int code = 0;
	__u16 vlan;

	vlan = sim_ref(s, &ref, &code, why, sizeof(why));
	if (!vlan) {
		sim_fail(p, code, "%s", why);
		return;
	}
	x = &s->v[vlan];
	if (x->quota_by >= 0) {
		sim_fail(p, -EEXIST,
			 "item '%s' of this set changes the quota of '%s' already",
			 sim_id(s, x->quota_by), x->name);
		return;
	}
	before = json_pack("{s:s, s:i, s:o}", "name", x->name, "vlan",
			   (int)vlan, "quota", quota_json(&x->quota));
	p->risk = quota_cfg_eq(&x->quota, &r->quota) || x->created_by >= 0 ?
			  PIPELINE_RISK_LOW :
			  PIPELINE_RISK_MEDIUM;
	x->quota.limit = r->quota.limit;
	x->quota.period = r->quota.period;
	x->quota.action = r->quota.action;
	x->quota.dir = r->quota.dir;
	x->quota_by = (int)i;
	p->diff = diff_new(before, json_pack("{s:s, s:i, s:o}", "name",
					     x->name, "vlan", (int)vlan,
					     "quota", quota_json(&x->quota)));
}

static void sim_pool_set(struct sim *s, size_t i)
{
	struct tl_pitem *p = &s->pl->pi[i];
	const struct tl_req *r = &p->r;
	struct vlan_set res, stranded;
	char ids[160];
	bool shrinks = false, same;
	unsigned int v;

	if (!s->t->d.pool_set) {
		sim_fail(p, -EOPNOTSUPP,
			 "pool.set is not available: nothing makes a new pool the one in force");
		return;
	}
	if (s->pool_by >= 0) {
		sim_fail(p, -EEXIST, "item '%s' of this set sets the pool already",
			 sim_id(s, s->pool_by));
		return;
	}
	res = r->has_reserved ? r->reserved : s->reserved;
	vlan_set_clear(&stranded);
	for (v = 1; v < VIF_VLAN_SLOTS; v++) {
		bool ok = v >= r->lo && v <= r->hi && !vlan_set_has(&res, v);

		if (vlan_set_has(&s->taken, v) && !ok)
			vlan_set_add(&stranded, v);
		if (sim_usable(s, v) && !ok)
			shrinks = true;
	}
	if (vlan_set_count(&stranded)) {
		vlan_set_format(&stranded, ids, sizeof(ids));
		sim_fail(p, -EBUSY, "would strand %u allocated VLANs: %s",
			 vlan_set_count(&stranded), ids);
		return;
	}
	same = s->lo == r->lo && s->hi == r->hi &&
	       !memcmp(&res, &s->reserved, sizeof(res));
	p->risk = shrinks ? PIPELINE_RISK_HIGH :
		  same	  ? PIPELINE_RISK_LOW :
			    PIPELINE_RISK_MEDIUM;
	p->diff = diff_new(pool_json(s->lo, s->hi, &s->reserved),
			   pool_json(r->lo, r->hi, &res));
	s->lo = r->lo;
	s->hi = r->hi;
	s->reserved = res;
	s->pool_by = (int)i;
	s->free_hint = 0;
}

/* Judge every item in apply order (order[k]: the k-th item to apply). */
static int plan_simulate(struct target_local *t, struct tl_plan *pl)
{
	size_t *order, k, i;
	struct sim s;
	int err;

	order = malloc(pl->n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < pl->n; i++) {
		k = pl->view ? pipeline_view_rank(pl->view, i) : i;
		order[k < pl->n ? k : i] = i;
	}
	err = sim_init(&s, t, pl);
	for (k = 0; !err && k < pl->n; k++) {
		struct tl_pitem *p = &pl->pi[order[k]];

		i = order[k];
		if (!p->mine)
			continue;
		if (p->perr) {
			p->err = p->perr;
			memcpy(p->msg, p->pmsg, sizeof(p->msg));
			continue;
		}
		switch (p->r.op) {
		case TL_VIF_CREATE:
			sim_create(&s, i);
			break;
		case TL_VIF_DELETE:
			sim_delete(&s, i);
			break;
		case TL_CHAIN_SET:
			sim_chain_set(&s, i);
			break;
		case TL_CHAIN_CLEAR:
			sim_chain_clear(&s, i);
			break;
		case TL_KS_SET:
			sim_ks_set(&s, i);
			break;
		case TL_QUOTA_SET:
			sim_quota_set(&s, i);
			break;
		case TL_POOL_SET:
			sim_pool_set(&s, i);
			break;
		default:
			break;
		}
		if (!p->err && !p->diff)
			sim_fail(p, -ENOMEM, "out of memory");
	}
	sim_fini(&s);
	if (!err) {
		pl->simulated = true;
		pl->order = order;
		pl->cursor = 0;
	} else {
		free(order);
	}
	return err;
}

/* ---- ops: validate, preview ------------------------------------------- */

static int tl_validate(void *ctx, const json_t *item,
		       const struct pipeline_view *proposed, char *err,
		       size_t errlen)
{
	struct target_local *t = ctx;
	struct tl_plan *pl;
	struct tl_pitem *p;
	size_t i;
	int ret;

	pl = plan_get(t, proposed, item, &i);
	if (!pl) {
		set_err(err, errlen, "out of memory (or not in the set)");
		return -ENOMEM;
	}
	if (!pl->simulated) {
		ret = plan_simulate(t, pl);
		if (ret) {
			set_err(err, errlen, "Couldn't simulate the set: %s (%d)",
				strerror(-ret), ret);
			return ret;
		}
	}
	p = &pl->pi[i];
	if (p->err)
		set_err(err, errlen, "%s", p->msg);
	return p->err;
}

/* The plan entry of an item the engine passes outside a view, or -1. */
static ssize_t plan_find(struct tl_plan *pl, const json_t *item)
{
	size_t i;

	if (!pl || !pl->simulated)
		return -1;
	if (pl->cursor < pl->n && pl->items[pl->order[pl->cursor]] == item)
		return (ssize_t)pl->order[pl->cursor++];
	for (i = 0; i < pl->n; i++)
		if (pl->items[i] == item)
			return (ssize_t)i;
	return -1;
}

static int tl_preview(void *ctx, const json_t *item, json_t **diff,
		      enum pipeline_risk *risk)
{
	struct target_local *t = ctx;
	struct tl_plan *pl = t->plan, *one = NULL;
	struct tl_pitem *p;
	ssize_t i;
	int ret;

	*diff = NULL;
	i = plan_find(pl, item);
	if (i < 0) {
		/* Not the set just validated: judge it alone. */
		one = plan_alloc(1);
		if (!one)
			return -ENOMEM;
		plan_parse(one, 0, item);
		ret = plan_simulate(t, one);
		if (ret) {
			plan_free(one);
			return ret;
		}
		pl = one;
		i = 0;
	}
	p = &pl->pi[i];
	ret = p->err;
	if (!ret) {
		*diff = json_deep_copy(p->diff);
		*risk = p->risk;
		ret = *diff ? 0 : -ENOMEM;
	}
	plan_free(one);
	return ret;
}

/* ---- apply, verify, rollback: helpers --------------------------------- */

static int note_put(struct target_local *t, const json_t *item, json_t *undo)
{
	return json_object_set(t->notes, pipeline_item_id(item), undo) ?
		       -ENOMEM :
		       0;
}

static const json_t *note_get(const struct target_local *t,
			      const json_t *item)
{
	return json_object_get(t->notes, pipeline_item_id(item));
}

static json_int_t jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* What the dataplane should hold as v's quota: limit - base, and flags. */
static void quota_expect(const struct target_local *t,
			 const struct vifd_vif *v, __u64 *limit, __u32 *flags)
{
	const struct quota_state *st =
		t->d.qm ? quota_mgr_get(t->d.qm, v->vlan) : NULL;
	struct quota_state tmp = { .q = v->quota };

	quota_dp_params(st ? st : &tmp, limit, flags);
}

/*
 * An ACTIVE VIF's objects, read back: its port and service links
 * (netlink), its dataplane entry against the record, the gateway
 * manager's kill-switch decision and the quota manager's limit.
 */
static int verify_vif(struct target_local *t, const struct vifd_vif *v,
		      char *err, size_t errlen)
{
	struct nl_link port, peer;
	struct gw_status st = { 0 };
	struct vif_entry e;
	__u64 limit;
	__u32 flags;
	bool ks;
	int ret;

	ret = nl_link_get(t->d.nl, v->ifname, &port);
	if (ret) {
		set_err(err, errlen, "port '%s' of VIF '%s': %s (%d)",
			v->ifname, v->name, strerror(-ret), ret);
		return ret;
	}
	if (strcmp(port.kind, "veth") || !(port.flags & IFF_UP)) {
		set_err(err, errlen, "port '%s' of VIF '%s' is a %s link, %s",
			v->ifname, v->name, port.kind[0] ? port.kind : "?",
			port.flags & IFF_UP ? "up" : "down");
		return -EIO;
	}
	if (!v->netns[0]) {
		ret = nl_link_get(t->d.nl, v->peer_ifname, &peer);
		if (ret) {
			set_err(err, errlen,
				"service end '%s' of VIF '%s': %s (%d)",
				v->peer_ifname, v->name, strerror(-ret), ret);
			return ret;
		}
	}
	ret = dp_vif_get(t->d.dp, v->vlan, &e);
	if (ret) {
		set_err(err, errlen,
			"no dataplane entry for VLAN %u ('%s'): %s (%d)",
			v->vlan, v->name, strerror(-ret), ret);
		return ret;
	}
	if (e.vlan != v->vlan || !(e.flags & VIF_F_ACTIVE) ||
	    e.svc_ifindex != (__u32)port.ifindex || e.mark != v->mark ||
	    e.table != v->table || e.addr != v->svc_addr ||
	    e.subnet != v->subnet) {
		set_err(err, errlen,
			"dataplane entry of VLAN %u differs from VIF '%s' (port %u/%d, mark %u/%u, table %u/%u, flags 0x%x)",
			v->vlan, v->name, e.svc_ifindex, port.ifindex, e.mark,
			v->mark, e.table, v->table, e.flags);
		return -EIO;
	}
	/* The entry alone forwards nothing unless the port is served: our
	 * XDP program on it, or the DPDK engine asked to serve it. */
	ret = dp_port_status(t->d.dp, port.ifindex, NULL);
	if (ret <= 0) {
		ret = ret ?: -ENOLINK;
		set_err(err, errlen,
			"port '%s' of VIF '%s' is not served by the dataplane: %s (%d)",
			v->ifname, v->name, strerror(-ret), ret);
		return ret;
	}
	ks = !!(e.flags & VIF_F_KILLSWITCH);
	if (t->d.gw) {
		ret = gw_status(t->d.gw, v->vlan, &st);
		if (ret) {
			set_err(err, errlen,
				"VIF '%s' is unknown to the gateway manager: %s (%d)",
				v->name, strerror(-ret), ret);
			return ret;
		}
		if (st.ks == GW_KS_UNKNOWN || st.ks_err ||
		    (st.ks == GW_KS_ENGAGED && !ks) ||
		    (st.ks == GW_KS_RELEASED && ks) ||
		    (st.ks == GW_KS_FALLBACK && e.next_hop != st.fallback)) {
			set_err(err, errlen,
				"kill switch of VIF '%s': the gateway manager says %s (error %d), the dataplane has %s, next hop %u",
				v->name, gw_ks_name(st.ks), st.ks_err,
				ks ? "engaged" : "released", e.next_hop);
			return -EIO;
		}
	} else if (ks != v->ks_engaged) {
		set_err(err, errlen,
			"kill switch of VIF '%s' is %s in the dataplane, %s in its record",
			v->name, ks ? "engaged" : "released",
			v->ks_engaged ? "engaged" : "released");
		return -EIO;
	}
	if ((!t->d.gw || st.ks != GW_KS_FALLBACK) &&
	    e.next_hop != v->next_hop) {
		set_err(err, errlen,
			"next hop of VIF '%s' is %u in the dataplane, %u in its record",
			v->name, e.next_hop, v->next_hop);
		return -EIO;
	}
	quota_expect(t, v, &limit, &flags);
	if (e.quota_limit != limit || (e.flags & VIF_QUOTA_FLAGS) != flags) {
		set_err(err, errlen,
			"quota of VIF '%s' in the dataplane is %llu flags 0x%x, want %llu flags 0x%x",
			v->name, (unsigned long long)e.quota_limit,
			e.flags & VIF_QUOTA_FLAGS, (unsigned long long)limit,
			flags);
		return -EIO;
	}
	return 0;
}

/* Register an existing VIF with the gateway and quota managers. */
static int vif_register(struct target_local *t, const struct vifd_vif *v,
			const struct quota_state *qs, char *err, size_t errlen)
{
	struct quota_state fresh = { .q = v->quota };
	__u64 limit;
	__u32 flags;
	int ret = 0;

	if (t->d.gw) {
		ret = gw_add(t->d.gw, v->vlan, &v->gw, v->ks_mode,
			     v->ks_fallback);
		if (ret == -EEXIST)
			ret = gw_update(t->d.gw, v->vlan, &v->gw, v->ks_mode,
					v->ks_fallback);
		if (ret) {
			set_err(err, errlen,
				"Couldn't add VIF '%s' to the gateway manager: %s (%d)",
				v->name, strerror(-ret), ret);
			return ret;
		}
	}
	if (!t->d.qm || !v->quota.limit || quota_mgr_get(t->d.qm, v->vlan))
		return 0;
	ret = quota_mgr_track(t->d.qm, v->vlan, qs ? qs : &fresh);
	if (!ret && qs && v->state == VIFD_STATE_ACTIVE) {
		/* An earlier dataplane's count: give this one what is left. */
		quota_dp_params(qs, &limit, &flags);
		ret = dp_quota_set(t->d.dp, v->vlan, limit, flags);
	}
	if (ret)
		set_err(err, errlen,
			"Couldn't track the quota of VIF '%s': %s (%d)", v->name,
			strerror(-ret), ret);
	return ret;
}

/* The other way: before the VIF goes (gw_remove() first, gateway.h). */
static int vif_unregister(struct target_local *t, __u16 vlan,
			  const char *name, char *err, size_t errlen)
{
	int ret;

	if (t->d.gw) {
		ret = gw_remove(t->d.gw, vlan);
		if (ret && ret != -ENOENT) {
			set_err(err, errlen,
				"Couldn't remove VIF '%s' from the gateway manager: %s (%d)",
				name, strerror(-ret), ret);
			return ret;
		}
	}
	if (t->d.qm)
		quota_mgr_untrack(t->d.qm, vlan);
	return 0;
}

static json_t *vquota_json(const struct vifd_quota *q)
{
	return json_pack("{s:I, s:i, s:i, s:i, s:I, s:I, s:i}", "limit",
			 (json_int_t)q->limit, "period", (int)q->period,
			 "action", (int)q->action, "dir", (int)q->dir, "used",
			 (json_int_t)q->used, "period_start",
			 (json_int_t)q->period_start, "alerted",
			 (int)q->alerted);
}

static void vquota_parse(const json_t *o, struct vifd_quota *q)
{
	memset(q, 0, sizeof(*q));
	q->limit = (__u64)jint(o, "limit");
	q->period = (enum vifd_quota_period)jint(o, "period");
	q->action = (enum vifd_quota_action)jint(o, "action");
	q->dir = (enum vifd_quota_dir)jint(o, "dir");
	q->used = (__u64)jint(o, "used");
	q->period_start = jint(o, "period_start");
	q->alerted = (__u8)(jint(o, "alerted") & 7);
}

/* The quota manager's state of vlan, or null. */
static json_t *qstate_json(const struct target_local *t, __u16 vlan)
{
	const struct quota_state *st =
		t->d.qm ? quota_mgr_get(t->d.qm, vlan) : NULL;

	if (!st)
		return json_null();
	return json_pack("{s:o, s:I}", "q", vquota_json(&st->q), "base",
			 (json_int_t)st->base);
}

static bool qstate_parse(const json_t *o, struct quota_state *st)
{
	memset(st, 0, sizeof(*st));
	if (!json_is_object(o))
		return false;
	vquota_parse(json_object_get(o, "q"), &st->q);
	st->base = (__u64)jint(o, "base");
	if (st->base > st->q.used)
		st->base = st->q.used;
	return true;
}

/* Everything a vif.delete's rollback needs to bring v back. */
static json_t *vif_undo_json(const struct target_local *t,
			     const struct vifd_vif *v)
{
	char addr[INET_ADDRSTRLEN];

	return json_pack("{s:s, s:i, s:s, s:s, s:{s:i, s:s, s:s, s:i}, s:i, s:i, s:o, s:o}",
			 "name", v->name, "vlan", (int)v->vlan, "state",
			 vifmgr_state_name(v->state), "netns", v->netns,
			 "gateway", "type", (int)v->gw.type, "tun", v->gw.tun,
			 "addr", ip4_str(v->gw.socks_addr, addr), "port",
			 (int)v->gw.socks_port, "ks_mode", (int)v->ks_mode,
			 "ks_fallback", (int)v->ks_fallback, "quota",
			 vquota_json(&v->quota), "qstate",
			 qstate_json(t, v->vlan));
}

/* ---- vif.create ---- */

static int apply_create(struct target_local *t, const struct tl_req *r,
			json_t **undo, char *err, size_t errlen)
{
	struct vifmgr_req q = {
		.name = r->name,
		.vlan = r->vlan,
		.netns = r->netns,
		.gw = r->gw,
		.ks_mode = r->ks_mode,
		.quota = r->quota,
	};
	char why[PIPELINE_ERR_MAX] = "";
	const struct vifd_vif *v, *fb;
	__u16 vlan;
	int ret;

	if (r->ks_mode == VIFD_KS_FALLBACK) {
		fb = ref_vif(t, &r->fallback);
		if (!fb) {
			set_err(err, errlen, "kill-switch fallback: no such VIF");
			return -ENOENT;
		}
		q.ks_fallback = fb->vlan;
	}
	ret = vifmgr_create(t->d.vm, &q, &v, err, errlen);
	if (ret)
		return ret; /* an ERROR VIF stays, as the protocol says */
	vlan = v->vlan;
	ret = vif_register(t, v, NULL, err, errlen);
	if (ret) {
		/* Take it down again; if that fails the engine retries. */
		if (vif_unregister(t, vlan, r->name, why, sizeof(why)) ||
		    vifmgr_delete(t->d.vm, r->name, why, sizeof(why)))
			*undo = json_pack("{s:s, s:i}", "name", r->name,
					  "vlan", (int)vlan);
		return ret;
	}
	*undo = json_pack("{s:s, s:i}", "name", r->name, "vlan", (int)vlan);
	return *undo ? 0 : -ENOMEM;
}

static int verify_create(struct target_local *t, const struct tl_req *r,
			 char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);

	if (!v) {
		set_err(err, errlen, "VIF '%s' is not there", r->name);
		return -ENOENT;
	}
	if (v->state != VIFD_STATE_ACTIVE) {
		set_err(err, errlen, "VIF '%s' is %s%s%s", r->name,
			vifmgr_state_name(v->state), v->error[0] ? ": " : "",
			v->error);
		return -EIO;
	}
	/* Only what no later item of the set may change (not the mode). */
	if ((r->vlan && v->vlan != r->vlan) ||
	    strcmp(v->netns, r->netns ? r->netns : "") ||
	    v->gw.type != r->gw.type || strcmp(v->gw.tun, r->gw.tun)) {
		set_err(err, errlen,
			"VIF '%s' is not what was asked (VLAN %u, netns '%s')",
			r->name, v->vlan, v->netns);
		return -EIO;
	}
	if (t->d.qm && v->quota.limit && !quota_mgr_get(t->d.qm, v->vlan)) {
		set_err(err, errlen, "the quota of VIF '%s' is not tracked",
			r->name);
		return -EIO;
	}
	return verify_vif(t, v, err, errlen);
}

static int rollback_create(struct target_local *t, const struct tl_req *r,
			   const json_t *undo, char *err, size_t errlen)
{
	const char *name = undo ? jstr(undo, "name") : r->name;
	__u16 want = undo ? (__u16)jint(undo, "vlan") : r->vlan;
	const struct vifd_vif *v;
	int ret;

	if (!name) {
		set_err(err, errlen, "the undo names no VIF");
		return -EINVAL;
	}
	v = vifmgr_find(t->d.vm, name);
	if (!v) {
		/* Gone already; leave no registration behind. */
		if (want && !vifmgr_get(t->d.vm, want))
			return vif_unregister(t, want, name, err, errlen);
		return 0;
	}
	if (want && v->vlan != want) {
		pr_warn("Not removing VIF '%s': VLAN %u, not %u as created\n",
			name, v->vlan, want);
		return 0;
	}
	ret = vif_unregister(t, v->vlan, name, err, errlen);
	if (ret)
		return ret;
	ret = vifmgr_delete(t->d.vm, name, err, errlen);
	return ret == -ENOENT ? 0 : ret;
}

/* ---- vif.delete ---- */

static int apply_delete(struct target_local *t, const struct tl_req *r,
			json_t **undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);
	json_t *u;
	__u16 vlan;
	int ret;

	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	vlan = v->vlan;
	u = vif_undo_json(t, v);
	if (!u)
		return -ENOMEM;
	ret = vif_unregister(t, vlan, r->name, err, errlen);
	if (ret) {
		json_decref(u);
		return ret;
	}
	ret = vifmgr_delete(t->d.vm, r->name, err, errlen);
	/* Even on failure: the rollback registers it again, or re-creates. */
	*undo = u;
	return ret;
}

static int verify_delete(struct target_local *t, const struct tl_req *r,
			 const json_t *undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name), *w;
	char ifname[VIFD_IFNAME_MAX];
	struct nl_link l;
	struct vif_entry e;
	struct gw_status st;
	__u16 vlan;

	if (v) {
		set_err(err, errlen, "VIF '%s' is still there (%s)", r->name,
			vifmgr_state_name(v->state));
		return -EEXIST;
	}
	vlan = (__u16)jint(undo, "vlan");
	if (!vlan || alloc_ifname(ALLOC_IF_PORT, vlan, r->name, ifname))
		return 0; /* no record of the apply (not this run's) */
	w = vifmgr_get(t->d.vm, vlan);
	if (!w && !dp_vif_get(t->d.dp, vlan, &e)) {
		set_err(err, errlen, "VLAN %u still has a dataplane entry",
			vlan);
		return -EEXIST;
	}
	if (!w && t->d.gw && !gw_status(t->d.gw, vlan, &st)) {
		set_err(err, errlen,
			"VLAN %u is still known to the gateway manager", vlan);
		return -EEXIST;
	}
	if ((!w || strcmp(w->ifname, ifname)) &&
	    !nl_link_get(t->d.nl, ifname, &l)) {
		set_err(err, errlen, "port '%s' is still there (ifindex %d)",
			ifname, l.ifindex);
		return -EEXIST;
	}
	return 0;
}

static int recreate(struct target_local *t, const json_t *u, char *err,
		    size_t errlen)
{
	const json_t *g = json_object_get(u, "gateway");
	const char *netns = jstr(u, "netns"), *state = jstr(u, "state");
	struct vifmgr_req q = {
		.name = jstr(u, "name"),
		.vlan = (__u16)jint(u, "vlan"),
		.netns = netns && *netns ? netns : NULL,
		.ks_mode = (enum vifd_ks_mode)jint(u, "ks_mode"),
		.ks_fallback = (__u16)jint(u, "ks_fallback"),
	};
	struct quota_state qs;
	const struct vifd_vif *v;
	struct vifd_quota full;
	struct in_addr a;
	bool have_qs;
	int ret;

	q.gw.type = (enum vifd_gw_type)jint(g, "type");
	snprintf(q.gw.tun, sizeof(q.gw.tun), "%s", jstr(g, "tun") ?: "");
	if (inet_pton(AF_INET, jstr(g, "addr") ?: "", &a) == 1)
		q.gw.socks_addr = a.s_addr;
	q.gw.socks_port = (__u16)jint(g, "port");
	vquota_parse(json_object_get(u, "quota"), &full);
	q.quota = full;
	if (q.ks_mode == VIFD_KS_FALLBACK &&
	    !vifmgr_get(t->d.vm, q.ks_fallback)) {
		/* Its fallback is gone: blocking is the fail-closed choice. */
		pr_warn("VIF '%s' comes back with kill-switch mode block: its fallback VLAN %u is gone\n",
			q.name, q.ks_fallback);
		q.ks_mode = VIFD_KS_BLOCK;
		q.ks_fallback = 0;
	}
	ret = vifmgr_create(t->d.vm, &q, &v, err, errlen);
	if (ret) {
		/* It was ERROR and is ERROR again: as it was. */
		if (v && state && !strcmp(state, "ERROR"))
			return 0;
		return ret;
	}
	/* Usage of this period, as it was. */
	if (full.limit) {
		ret = vifmgr_set_quota(t->d.vm, v->vlan, &full);
		if (ret) {
			set_err(err, errlen,
				"Couldn't restore the quota of VIF '%s': %s (%d)",
				q.name, strerror(-ret), ret);
			return ret;
		}
	}
	have_qs = qstate_parse(json_object_get(u, "qstate"), &qs);
	return vif_register(t, v, have_qs ? &qs : NULL, err, errlen);
}

static int rollback_delete(struct target_local *t, const struct tl_req *r,
			   const json_t *undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);
	json_t *own = NULL;
	int ret;

	if (!undo) {
		/* The journal has no description; the record may still. */
		if (!v) {
			set_err(err, errlen,
				"VIF '%s' is gone and nothing describes it (vifd stopped while deleting it): create it again by hand",
				r->name);
			return -ENODATA;
		}
		own = vif_undo_json(t, v);
		if (!own)
			return -ENOMEM;
		undo = own;
	}
	if (v && v->state == VIFD_STATE_REMOVING) {
		/* Half deleted: finish, then bring it back whole. */
		ret = vifmgr_delete(t->d.vm, r->name, err, errlen);
		if (ret && ret != -ENOENT)
			goto out;
		v = NULL;
	}
	if (v)
		/* Still there (the delete never ran, or this ran before). */
		ret = vif_register(t, v, NULL, err, errlen);
	else
		ret = recreate(t, undo, err, errlen);
out:
	json_decref(own);
	return ret;
}

/* ---- chain.set, chain.clear ---- */

/* Re-register gw's chains for the state as it is now (release last). */
static int reg_now(struct target_local *t, char *err, size_t errlen)
{
	__u16 *next = malloc(VIF_VLAN_SLOTS * sizeof(*next));
	int ret, r2;

	if (!next)
		return -ENOMEM;
	next_snapshot(t, next);
	ret = reg_sync(t, next, true, NULL, err, errlen);
	r2 = reg_sync(t, next, false, NULL, ret ? NULL : err, errlen);
	free(next);
	return ret ?: r2;
}

static int hops_resolve(struct target_local *t, const struct tl_req *r,
			__u16 *h, char *err, size_t errlen)
{
	const struct vifd_vif *v;
	size_t k;

	for (k = 0; k < r->nhops; k++) {
		v = ref_vif(t, &r->hops[k]);
		if (!v) {
			if (r->hops[k].name)
				set_err(err, errlen, "no VIF named '%s'",
					r->hops[k].name);
			else
				set_err(err, errlen, "no VIF with VLAN %u",
					r->hops[k].vlan);
			return -ENOENT;
		}
		h[k] = v->vlan;
	}
	return 0;
}

static json_t *vlans_json(const __u16 *h, size_t n)
{
	json_t *a = json_array();
	size_t k;

	for (k = 0; a && k < n; k++)
		if (json_array_append_new(a, json_integer(h[k]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int apply_chain_set(struct target_local *t, const struct tl_req *r,
			   json_t **undo, char *err, size_t errlen)
{
	char why[PIPELINE_ERR_MAX];
	__u16 h[VIFD_CHAIN_MAX], *next;
	struct vlan_set mine;
	size_t k, n = r->nhops;
	int ret;

	ret = hops_resolve(t, r, h, err, errlen);
	if (ret)
		return ret;
	next = malloc(VIF_VLAN_SLOTS * sizeof(*next));
	if (!next)
		return -ENOMEM;
	next_snapshot(t, next);
	vlan_set_clear(&mine);
	for (k = 0; k < n; k++) {
		vlan_set_add(&mine, h[k]);
		if (k + 1 < n && next[h[k]]) {
			set_err(err, errlen,
				"VLAN %u already chains into VLAN %u (chain.clear it first)",
				h[k], next[h[k]]);
			free(next);
			return -EEXIST;
		}
	}
	for (k = 0; k + 1 < n; k++)
		next[h[k]] = h[k + 1];
	/* Engage first: gw knows the chain before the dataplane links it. */
	ret = reg_sync(t, next, true, &mine, err, errlen);
	if (!ret) {
		ret = vifmgr_set_chain(t->d.vm, h, n, err, errlen);
		if (!ret)
			ret = reg_sync(t, next, false, &mine, err, errlen);
		else
			reg_now(t, why, sizeof(why));
	} else {
		reg_now(t, why, sizeof(why));
	}
	free(next);
	/* Links made (a failed final reg_sync): the rollback clears them. */
	if (!ret || vifmgr_get(t->d.vm, h[0])->next_hop == h[1])
		*undo = json_pack("{s:o}", "vlans", vlans_json(h, n));
	return ret;
}

static int verify_next_hop(struct target_local *t, __u16 vlan, __u16 want,
			   char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_get(t->d.vm, vlan);
	struct gw_status st;
	struct vif_entry e;
	int ret;

	if (!v || v->next_hop != want) {
		set_err(err, errlen, "VLAN %u: next hop %u in its record, want %u",
			vlan, v ? v->next_hop : 0, want);
		return -EIO;
	}
	ret = dp_vif_get(t->d.dp, vlan, &e);
	if (ret) {
		set_err(err, errlen, "no dataplane entry for VLAN %u: %s (%d)",
			vlan, strerror(-ret), ret);
		return ret;
	}
	/* Re-routed into its fallback by the gateway manager: that rules. */
	if (t->d.gw && !gw_status(t->d.gw, vlan, &st) &&
	    st.ks == GW_KS_FALLBACK)
		return 0;
	if (e.next_hop != want) {
		set_err(err, errlen,
			"VLAN %u: next hop %u in the dataplane, want %u", vlan,
			e.next_hop, want);
		return -EIO;
	}
	return 0;
}

static int verify_chain_set(struct target_local *t, const struct tl_req *r,
			    char *err, size_t errlen)
{
	__u16 h[VIFD_CHAIN_MAX];
	size_t k;
	int ret;

	ret = hops_resolve(t, r, h, err, errlen);
	for (k = 0; !ret && k + 1 < r->nhops; k++)
		ret = verify_next_hop(t, h[k], h[k + 1], err, errlen);
	/* Every hop whole, its kill switch what gw decided for the chain. */
	for (k = 0; !ret && k < r->nhops; k++)
		ret = verify_vif(t, vifmgr_get(t->d.vm, h[k]), err, errlen);
	if (!ret && t->d.gw) {
		/* The chain's head is registered, the path through these. */
		const struct tl_chain *c = NULL;
		__u16 head = h[0];
		unsigned int u, guard;

		for (guard = 0; guard < VIFD_CHAIN_MAX; guard++) {
			for (u = 1; u < VIF_VLAN_SLOTS; u++) {
				const struct vifd_vif *w;

				w = vifmgr_get(t->d.vm, (__u16)u);
				if (w && w->next_hop == head)
					break;
			}
			if (u == VIF_VLAN_SLOTS)
				break;
			head = (__u16)u;
		}
		c = &t->reg[head];
		for (k = 0; k < c->n && c->hops[k] != h[0]; k++)
			;
		if (k + r->nhops > c->n ||
		    memcmp(&c->hops[k], h, r->nhops * sizeof(h[0]))) {
			set_err(err, errlen,
				"the chain from VLAN %u is not registered with the gateway manager",
				head);
			return -EIO;
		}
	}
	return ret;
}

static int rollback_chain_set(struct target_local *t, const struct tl_req *r,
			      const json_t *undo, char *err, size_t errlen)
{
	__u16 h[VIFD_CHAIN_MAX];
	const struct vifd_vif *v;
	size_t k, n = 0;
	int ret = 0, r2;

	if (undo) {
		const json_t *a = json_object_get(undo, "vlans"), *x;

		json_array_foreach(a, k, x)
			if (n < VIFD_CHAIN_MAX)
				h[n++] = (__u16)json_integer_value(x);
	} else {
		/* Unknown outcome: the links that point where it points. */
		for (k = 0; k < r->nhops; k++) {
			v = ref_vif(t, &r->hops[k]);
			h[n++] = v ? v->vlan : 0;
		}
	}
	/* Unlink in the dataplane first, then let gw release. */
	for (k = 0; k + 1 < n; k++) {
		v = h[k] ? vifmgr_get(t->d.vm, h[k]) : NULL;
		if (!v || !h[k + 1] || v->next_hop != h[k + 1])
			continue;
		r2 = vifmgr_clear_next_hop(t->d.vm, h[k]);
		if (r2 && r2 != -ENOENT && !ret) {
			ret = r2;
			set_err(err, errlen,
				"Couldn't clear the next hop of VLAN %u: %s (%d)",
				h[k], strerror(-r2), r2);
		}
	}
	r2 = reg_now(t, ret ? NULL : err, errlen);
	return ret ?: r2;
}

static int apply_chain_clear(struct target_local *t, const struct tl_req *r,
			     json_t **undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);
	__u16 *next = NULL, *comp = NULL;
	json_t *links = NULL;
	unsigned int u;
	int ret = -ENOMEM;

	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	next = malloc(VIF_VLAN_SLOTS * sizeof(*next));
	comp = malloc(VIF_VLAN_SLOTS * sizeof(*comp));
	links = json_array();
	if (!next || !comp || !links)
		goto out;
	next_snapshot(t, next);
	ret = components(next, comp);
	if (ret)
		goto out;
	if (!comp[v->vlan]) {
		set_err(err, errlen, "VIF '%s' is in no chain", r->name);
		ret = -ENOENT;
		goto out;
	}
	for (u = 1; u < VIF_VLAN_SLOTS; u++)
		if (next[u] && comp[u] == comp[v->vlan] &&
		    json_array_append_new(links,
					  json_pack("[i, i]", (int)u,
						    (int)next[u]))) {
			ret = -ENOMEM;
			goto out;
		}
	*undo = json_pack("{s:O}", "links", links);
	if (!*undo) {
		ret = -ENOMEM;
		goto out;
	}
	/* Unlink in the dataplane first, then let gw release. */
	ret = 0;
	for (u = 1; !ret && u < VIF_VLAN_SLOTS; u++) {
		if (!next[u] || comp[u] != comp[v->vlan])
			continue;
		ret = vifmgr_clear_next_hop(t->d.vm, (__u16)u);
		if (ret)
			set_err(err, errlen,
				"Couldn't clear the next hop of VLAN %u: %s (%d)",
				u, strerror(-ret), ret);
	}
	if (!ret)
		ret = reg_now(t, err, errlen);
out:
	free(next);
	free(comp);
	json_decref(links);
	return ret;
}

static int verify_chain_clear(struct target_local *t, const json_t *undo,
			      char *err, size_t errlen)
{
	const json_t *x;
	size_t k;
	int ret = 0;

	json_array_foreach(json_object_get(undo, "links"), k, x) {
		__u16 from = (__u16)json_integer_value(json_array_get(x, 0));

		if (vifmgr_get(t->d.vm, from))
			ret = verify_next_hop(t, from, 0, err, errlen);
		if (ret)
			break;
	}
	return ret;
}

static int rollback_chain_clear(struct target_local *t,
				const struct tl_req *r, const json_t *undo,
				char *err, size_t errlen)
{
	const json_t *links = json_object_get(undo, "links"), *x;
	__u16 *next, pair[2];
	size_t k;
	int ret = 0, r2;

	if (!undo) {
		set_err(err, errlen,
			"outcome unknown and the links it cleared are not recorded: check chain.list and set the chain of '%s' again by hand",
			r->name);
		return -ENODATA;
	}
	next = malloc(VIF_VLAN_SLOTS * sizeof(*next));
	if (!next)
		return -ENOMEM;
	next_snapshot(t, next);
	json_array_foreach(links, k, x) {
		pair[0] = (__u16)json_integer_value(json_array_get(x, 0));
		pair[1] = (__u16)json_integer_value(json_array_get(x, 1));
		if (vifmgr_get(t->d.vm, pair[0]) &&
		    vifmgr_get(t->d.vm, pair[1]) && !next[pair[0]])
			next[pair[0]] = pair[1];
	}
	/* Engage first: gw knows the chains before the dataplane links. */
	reg_sync(t, next, true, NULL, NULL, 0);
	json_array_foreach(links, k, x) {
		const struct vifd_vif *v;

		pair[0] = (__u16)json_integer_value(json_array_get(x, 0));
		pair[1] = (__u16)json_integer_value(json_array_get(x, 1));
		v = vifmgr_get(t->d.vm, pair[0]);
		if (!v || v->next_hop == pair[1] ||
		    !vifmgr_get(t->d.vm, pair[1]))
			continue;
		r2 = vifmgr_set_chain(t->d.vm, pair, 2, ret ? NULL : err,
				      errlen);
		ret = ret ?: r2;
	}
	free(next);
	r2 = reg_now(t, ret ? NULL : err, errlen);
	return ret ?: r2;
}

/* ---- quota.set ---- */

static int apply_quota_set(struct target_local *t, const struct tl_req *r,
			   json_t **undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);
	const struct quota_state *st;
	struct vifd_quota nq;
	json_t *u;
	int64_t start = 0;
	__u16 vlan;
	int ret;

	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	vlan = v->vlan;
	u = json_pack("{s:i, s:o, s:o}", "vlan", (int)vlan, "quota",
		      vquota_json(&v->quota), "qstate", qstate_json(t, vlan));
	if (!u)
		return -ENOMEM;
	nq = v->quota;
	nq.limit = r->quota.limit;
	nq.period = r->quota.period;
	nq.action = r->quota.action;
	nq.dir = r->quota.dir;
	if (!v->quota.limit && nq.limit) {
		/* A new quota starts with this period, unused. */
		quota_period_start(nq.period, time(NULL), t->d.cfg->timezone,
				   &start);
		nq.used = 0;
		nq.alerted = 0;
		nq.period_start = start;
	}
	ret = vifmgr_set_quota(t->d.vm, vlan, &nq);
	if (ret) {
		set_err(err, errlen,
			"Couldn't set the quota of VIF '%s': %s (%d)", r->name,
			strerror(-ret), ret);
		json_decref(u);
		return ret;
	}
	*undo = u;
	if (!t->d.qm)
		return 0;
	st = quota_mgr_get(t->d.qm, vlan);
	if (st) {
		/* The dataplane gets limit - base (vifmgr gave it limit). */
		ret = quota_mgr_configure(t->d.qm, vlan, &nq);
		if (!nq.limit)
			quota_mgr_untrack(t->d.qm, vlan);
	} else if (nq.limit) {
		struct quota_state ns = { .q = nq };

		ret = quota_mgr_track(t->d.qm, vlan, &ns);
	}
	if (ret)
		set_err(err, errlen,
			"Couldn't hand the quota of VIF '%s' to the quota manager: %s (%d)",
			r->name, strerror(-ret), ret);
	return ret;
}

static int verify_quota_set(struct target_local *t, const struct tl_req *r,
			    char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name);
	const struct quota_state *st;

	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	if (!quota_cfg_eq(&v->quota, &r->quota)) {
		set_err(err, errlen,
			"the quota of VIF '%s' is %llu bytes, not what was set",
			r->name, (unsigned long long)v->quota.limit);
		return -EIO;
	}
	if (t->d.qm) {
		st = quota_mgr_get(t->d.qm, v->vlan);
		if (!!st != !!v->quota.limit ||
		    (st && !quota_cfg_eq(&st->q, &r->quota))) {
			set_err(err, errlen,
				"the quota manager has another quota for VIF '%s'",
				r->name);
			return -EIO;
		}
	}
	if (v->state != VIFD_STATE_ACTIVE)
		return 0;
	return verify_vif(t, v, err, errlen);
}

static int rollback_quota_set(struct target_local *t, const struct tl_req *r,
			      const json_t *undo, char *err, size_t errlen)
{
	const struct vifd_vif *v;
	struct quota_state qs;
	struct vifd_quota prev;
	__u64 limit;
	__u32 flags;
	int ret;

	if (!undo) {
		v = vifmgr_find(t->d.vm, r->name);
		if (!v || !quota_cfg_eq(&v->quota, &r->quota))
			return 0; /* it never took effect */
		set_err(err, errlen,
			"outcome unknown and the previous quota of '%s' is not recorded: check it and set it by hand",
			r->name);
		return -ENODATA;
	}
	v = vifmgr_get(t->d.vm, (__u16)jint(undo, "vlan"));
	if (!v)
		return 0; /* gone: nothing holds a quota */
	vquota_parse(json_object_get(undo, "quota"), &prev);
	ret = vifmgr_set_quota(t->d.vm, v->vlan, &prev);
	if (ret) {
		set_err(err, errlen,
			"Couldn't restore the quota of VIF '%s': %s (%d)",
			v->name, strerror(-ret), ret);
		return ret;
	}
	if (!t->d.qm)
		return 0;
	if (!qstate_parse(json_object_get(undo, "qstate"), &qs)) {
		quota_mgr_untrack(t->d.qm, v->vlan);
		return 0;
	}
	ret = quota_mgr_track(t->d.qm, v->vlan, &qs);
	if (!ret && v->state == VIFD_STATE_ACTIVE) {
		quota_dp_params(&qs, &limit, &flags);
		ret = dp_quota_set(t->d.dp, v->vlan, limit, flags);
	}
	if (ret)
		set_err(err, errlen,
			"Couldn't restore the quota state of VIF '%s': %s (%d)",
			v->name, strerror(-ret), ret);
	return ret;
}

/* ---- killswitch.set ---- */

static int ks_apply(struct target_local *t, const struct vifd_vif *v,
		    enum vifd_ks_mode mode, __u16 fb, char *err,
		    size_t errlen)
{
	int ret;

	ret = t->d.ks_mode_set(t->d.vm, v->vlan, mode, fb);
	if (ret) {
		set_err(err, errlen,
			"Couldn't store the kill-switch mode of VIF '%s': %s (%d)",
			v->name, strerror(-ret), ret);
		return ret;
	}
	if (!t->d.gw)
		return 0;
	ret = gw_update(t->d.gw, v->vlan, &v->gw, mode, fb);
	if (ret == -ENOENT && v->state != VIFD_STATE_ACTIVE)
		return 0; /* not registered: gw_add() at retry takes the mode */
	if (ret)
		set_err(err, errlen,
			"Couldn't give the kill-switch mode of VIF '%s' to the gateway manager: %s (%d)",
			v->name, strerror(-ret), ret);
	return ret;
}

static int apply_ks_set(struct target_local *t, const struct tl_req *r,
			json_t **undo, char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name), *fb = NULL;
	enum vifd_ks_mode pmode;
	char why[PIPELINE_ERR_MAX];
	__u16 pfb;
	int ret;

	if (!t->d.ks_mode_set)
		return -EOPNOTSUPP;
	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	if (r->ks_mode == VIFD_KS_FALLBACK) {
		fb = ref_vif(t, &r->fallback);
		if (!fb || fb == v) {
			set_err(err, errlen, "fallback: no such VIF");
			return -ENOENT;
		}
	}
	pmode = v->ks_mode;
	pfb = v->ks_fallback;
	ret = ks_apply(t, v, r->ks_mode, fb ? fb->vlan : 0, err, errlen);
	if (ret) {
		ks_apply(t, v, pmode, pfb, why, sizeof(why));
		return ret;
	}
	*undo = json_pack("{s:i, s:i, s:i}", "vlan", (int)v->vlan, "mode",
			  (int)pmode, "fallback", (int)pfb);
	return *undo ? 0 : -ENOMEM;
}

static int verify_ks_set(struct target_local *t, const struct tl_req *r,
			 char *err, size_t errlen)
{
	const struct vifd_vif *v = vifmgr_find(t->d.vm, r->name), *fb;
	struct gw_status st;
	__u16 want = 0;
	int ret;

	if (!v) {
		set_err(err, errlen, "no VIF named '%s'", r->name);
		return -ENOENT;
	}
	if (r->ks_mode == VIFD_KS_FALLBACK) {
		fb = ref_vif(t, &r->fallback);
		want = fb ? fb->vlan : 0;
	}
	if (v->ks_mode != r->ks_mode || v->ks_fallback != want) {
		set_err(err, errlen,
			"VIF '%s' has kill-switch mode %s (fallback %u) in its record",
			r->name, mode_names[v->ks_mode], v->ks_fallback);
		return -EIO;
	}
	if (t->d.gw && v->state == VIFD_STATE_ACTIVE) {
		ret = gw_status(t->d.gw, v->vlan, &st);
		if (ret || st.mode != r->ks_mode ||
		    (r->ks_mode == VIFD_KS_FALLBACK && st.fallback != want)) {
			set_err(err, errlen,
				"the gateway manager has another kill-switch mode for VIF '%s'",
				r->name);
			return ret ?: -EIO;
		}
	}
	if (v->state != VIFD_STATE_ACTIVE)
		return 0;
	return verify_vif(t, v, err, errlen);
}

static int rollback_ks_set(struct target_local *t, const struct tl_req *r,
			   const json_t *undo, char *err, size_t errlen)
{
	const struct vifd_vif *v, *fb;
	__u16 want = 0;

	if (!t->d.ks_mode_set)
		return 0; /* the apply cannot have run */
	if (!undo) {
		v = vifmgr_find(t->d.vm, r->name);
		if (!v)
			return 0;
		if (r->ks_mode == VIFD_KS_FALLBACK) {
			fb = ref_vif(t, &r->fallback);
			want = fb ? fb->vlan : 0;
		}
		if (v->ks_mode != r->ks_mode || v->ks_fallback != want)
			/* Never stored; make gw agree with the record. */
			return ks_apply(t, v, v->ks_mode, v->ks_fallback, err,
					errlen);
		set_err(err, errlen,
			"outcome unknown and the previous kill-switch mode of '%s' is not recorded: check it and set it by hand",
			r->name);
		return -ENODATA;
	}
	v = vifmgr_get(t->d.vm, (__u16)jint(undo, "vlan"));
	if (!v)
		return 0;
	return ks_apply(t, v, (enum vifd_ks_mode)jint(undo, "mode"),
			(__u16)jint(undo, "fallback"), err, errlen);
}

/* ---- pool.set ---- */

static json_t *reserved_json(const struct vlan_set *res)
{
	json_t *a = json_array();
	unsigned int v, end;
	char run[16];

	for (v = 0; a && v < VIF_VLAN_SLOTS; v++) {
		if (!vlan_set_has(res, v))
			continue;
		for (end = v; end + 1 < VIF_VLAN_SLOTS &&
			      vlan_set_has(res, end + 1);
		     end++)
			;
		snprintf(run, sizeof(run), "%u-%u", v, end);
		if (json_array_append_new(a, v == end ? json_integer(v) :
							json_string(run))) {
			json_decref(a);
			return NULL;
		}
		v = end;
	}
	return a;
}

static int pool_to(struct target_local *t, __u16 lo, __u16 hi,
		   const struct vlan_set *res, char *err, size_t errlen)
{
	int ret;

	ret = vifmgr_pool_resize(t->d.vm, lo, hi, res, err, errlen);
	if (ret)
		return ret;
	ret = t->d.pool_set(t->d.ctx, lo, hi, res);
	if (ret)
		set_err(err, errlen,
			"Couldn't make the pool %u-%u the one in force: %s (%d)",
			lo, hi, strerror(-ret), ret);
	return ret;
}

static int apply_pool_set(struct target_local *t, const struct tl_req *r,
			  json_t **undo, char *err, size_t errlen)
{
	const struct vifd_config *c = t->d.cfg;
	struct vlan_set prev = c->reserved, res;
	__u16 plo = c->vlan_pool.lo, phi = c->vlan_pool.hi;
	char why[PIPELINE_ERR_MAX];
	int ret;

	if (!t->d.pool_set)
		return -EOPNOTSUPP;
	res = r->has_reserved ? r->reserved : prev;
	*undo = json_pack("{s:i, s:i, s:o}", "lo", (int)plo, "hi", (int)phi,
			  "reserved", reserved_json(&prev));
	if (!*undo)
		return -ENOMEM;
	ret = pool_to(t, r->lo, r->hi, &res, err, errlen);
	if (ret) {
		/* Back, so the undo is a no-op and the engine may skip it. */
		if (!pool_to(t, plo, phi, &prev, why, sizeof(why))) {
			json_decref(*undo);
			*undo = NULL;
		}
	}
	return ret;
}

static int verify_pool_set(struct target_local *t, const struct tl_req *r,
			   char *err, size_t errlen)
{
	const struct vifd_config *c = t->d.cfg;
	const struct vlan_set *res = r->has_reserved ? &r->reserved :
						       &c->reserved;
	struct pool_status st;
	unsigned int v, size = 0;

	for (v = r->lo; v <= r->hi; v++)
		size += !vlan_set_has(res, v);
	vifmgr_pool_status(t->d.vm, &st);
	if (c->vlan_pool.lo != r->lo || c->vlan_pool.hi != r->hi ||
	    memcmp(&c->reserved, res, sizeof(*res)) || st.size != size) {
		set_err(err, errlen,
			"the pool in force is %u-%u with %u usable VLANs, not %u-%u with %u",
			c->vlan_pool.lo, c->vlan_pool.hi, st.size, r->lo, r->hi,
			size);
		return -EIO;
	}
	return 0;
}

static int rollback_pool_set(struct target_local *t, const struct tl_req *r,
			     const json_t *undo, char *err, size_t errlen)
{
	const struct vifd_config *c = t->d.cfg;
	struct vlan_set res;
	int ret;

	if (!t->d.pool_set)
		return 0; /* the apply cannot have run */
	if (!undo) {
		if (c->vlan_pool.lo != r->lo || c->vlan_pool.hi != r->hi ||
		    (r->has_reserved &&
		     memcmp(&c->reserved, &r->reserved, sizeof(res))))
			return 0; /* never took effect */
		set_err(err, errlen,
			"outcome unknown and the previous pool is not recorded: check pool.status and set it by hand");
		return -ENODATA;
	}
	ret = parse_reserved(json_object_get(undo, "reserved"), &res, err,
			     errlen);
	if (ret)
		return ret;
	return pool_to(t, (__u16)jint(undo, "lo"), (__u16)jint(undo, "hi"),
		       &res, err, errlen);
}

/* ---- ops: apply, verify, rollback ------------------------------------- */

static int tl_apply(void *ctx, const json_t *item, json_t **undo, char *err,
		    size_t errlen)
{
	struct target_local *t = ctx;
	struct tl_req r;
	int ret;

	*undo = NULL;
	/* The state moves on: validation's picture is history now. */
	plan_drop(t);
	ret = req_parse(item, &r, err, errlen);
	if (ret)
		return ret;
	switch (r.op) {
	case TL_VIF_CREATE:
		ret = apply_create(t, &r, undo, err, errlen);
		break;
	case TL_VIF_DELETE:
		ret = apply_delete(t, &r, undo, err, errlen);
		break;
	case TL_CHAIN_SET:
		ret = apply_chain_set(t, &r, undo, err, errlen);
		break;
	case TL_CHAIN_CLEAR:
		ret = apply_chain_clear(t, &r, undo, err, errlen);
		break;
	case TL_QUOTA_SET:
		ret = apply_quota_set(t, &r, undo, err, errlen);
		break;
	case TL_KS_SET:
		ret = apply_ks_set(t, &r, undo, err, errlen);
		break;
	case TL_POOL_SET:
		ret = apply_pool_set(t, &r, undo, err, errlen);
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	if (*undo && note_put(t, item, *undo) && !ret)
		ret = -ENOMEM;
	return ret;
}

/*
 * Bulk sets: a run of vif.create items goes through vifmgr_create_many()
 * and a run of vif.delete items through vifmgr_delete_many(), so the
 * store commits once per run instead of three times per VIF, and the
 * links of a delete run go in one netlink request (unregistering a
 * netdev waits for RCU grace periods: ~25 ms per link one by one, about
 * that much for all of them at once).  Item by item the outcome is what
 * tl_apply() gives.  A create whose kill-switch fallback is a VIF may
 * name one the same run creates, so it ends a run.
 */
#define TL_MANY_MAX 1024 /* items per vifmgr batch */

static bool many_create_ok(const struct tl_req *r)
{
	return r->op == TL_VIF_CREATE && r->ks_mode != VIFD_KS_FALLBACK;
}

static size_t apply_create_many(struct target_local *t,
				const json_t *const *items, size_t n,
				json_t **undo, int *ret,
				char (*err)[PIPELINE_ERR_MAX])
{
	struct vifmgr_result *res = NULL;
	struct vifmgr_req *q = NULL;
	const struct vifd_vif *v;
	struct tl_req r;
	size_t i, k;
	int got;

	q = calloc(n, sizeof(*q));
	res = calloc(n, sizeof(*res));
	if (!q || !res) {
		free(q);
		free(res);
		return 0; /* item by item, then */
	}
	for (k = 0; k < n; k++) {
		if (req_parse(items[k], &r, NULL, 0) || !many_create_ok(&r))
			break;
		q[k] = (struct vifmgr_req){
			.name = r.name,
			.vlan = r.vlan,
			.netns = r.netns,
			.gw = r.gw,
			.ks_mode = r.ks_mode,
			.quota = r.quota,
		};
	}
	if (k < 2) {
		k = 0;
		goto out;
	}
	got = vifmgr_create_many(t->d.vm, q, k, res);
	for (i = 0; i < k; i++) {
		if (got < 0) {
			res[i].err = got;
			set_err(res[i].msg, sizeof(res[i].msg),
				"Couldn't start creating VIFs: %s (%d)",
				strerror(-got), got);
		}
		ret[i] = res[i].err;
		if (ret[i]) {
			/* An ERROR VIF stays, as the protocol says. */
			set_err(err[i], PIPELINE_ERR_MAX, "%s", res[i].msg);
			continue;
		}
		v = vifmgr_find(t->d.vm, q[i].name);
		ret[i] = v ? vif_register(t, v, NULL, err[i], PIPELINE_ERR_MAX) :
			     -ENOENT;
		/* Registered or not, it exists: the rollback deletes it. */
		undo[i] = json_pack("{s:s, s:i}", "name", q[i].name, "vlan",
				    (int)res[i].vlan);
		if (!undo[i] || note_put(t, items[i], undo[i]))
			ret[i] = ret[i] ?: -ENOMEM;
	}
out:
	free(q);
	free(res);
	return k;
}

static size_t apply_delete_many(struct target_local *t,
				const json_t *const *items, size_t n,
				json_t **undo, int *ret,
				char (*err)[PIPELINE_ERR_MAX])
{
	struct vifmgr_result *res = NULL;
	const char **names = NULL;
	const struct vifd_vif *v;
	bool failed = false;
	struct tl_req r;
	size_t i, k, m;
	int got;

	for (m = 0; m < n; m++)
		if (req_parse(items[m], &r, NULL, 0) || r.op != TL_VIF_DELETE)
			break;
	if (m < 2)
		return 0;
	names = calloc(m, sizeof(*names));
	res = calloc(m, sizeof(*res));
	if (!names || !res) {
		free(names);
		free(res);
		return 0;
	}
	/*
	 * As apply_delete(), item by item up to the deletion itself.  An
	 * item that fails before it ends the run, applied (failed) and with
	 * nothing to undo, as apply_delete() leaves it.
	 */
	for (k = 0; k < m; k++) {
		req_parse(items[k], &r, NULL, 0);
		names[k] = r.name;
		v = vifmgr_find(t->d.vm, r.name);
		if (!v) {
			ret[k] = -ENOENT;
			set_err(err[k], PIPELINE_ERR_MAX, "no VIF named '%s'",
				r.name);
			failed = true;
			break;
		}
		undo[k] = vif_undo_json(t, v);
		ret[k] = undo[k] ? vif_unregister(t, v->vlan, r.name, err[k],
						  PIPELINE_ERR_MAX) :
				   -ENOMEM;
		if (ret[k]) {
			json_decref(undo[k]);
			undo[k] = NULL;
			failed = true;
			break;
		}
	}
	got = k ? vifmgr_delete_many(t->d.vm, names, k, res) : 0;
	for (i = 0; i < k; i++) {
		if (got < 0) {
			res[i].err = got;
			set_err(res[i].msg, sizeof(res[i].msg),
				"Couldn't start deleting VIFs: %s (%d)",
				strerror(-got), got);
		}
		ret[i] = res[i].err;
		if (ret[i])
			set_err(err[i], PIPELINE_ERR_MAX, "%s", res[i].msg);
		/* Even on failure: the rollback registers it again, or
		 * re-creates. */
		if (note_put(t, items[i], undo[i]) && !ret[i])
			ret[i] = -ENOMEM;
	}
	free(names);
	free(res);
	return failed ? k + 1 : k;
}

static size_t tl_apply_many(void *ctx, const json_t *const *items, size_t n,
			    json_t **undo, int *ret,
			    char (*err)[PIPELINE_ERR_MAX])
{
	struct target_local *t = ctx;
	struct tl_req r;

	plan_drop(t);
	if (n > TL_MANY_MAX)
		n = TL_MANY_MAX;
	if (req_parse(items[0], &r, NULL, 0))
		return 0;
	if (many_create_ok(&r))
		return apply_create_many(t, items, n, undo, ret, err);
	if (r.op == TL_VIF_DELETE)
		return apply_delete_many(t, items, n, undo, ret, err);
	return 0;
}

static int tl_verify(void *ctx, const json_t *item, char *err, size_t errlen)
{
	struct target_local *t = ctx;
	struct tl_req r;
	int ret;

	ret = req_parse(item, &r, err, errlen);
	if (ret)
		return ret;
	switch (r.op) {
	case TL_VIF_CREATE:
		return verify_create(t, &r, err, errlen);
	case TL_VIF_DELETE:
		return verify_delete(t, &r, note_get(t, item), err, errlen);
	case TL_CHAIN_SET:
		return verify_chain_set(t, &r, err, errlen);
	case TL_CHAIN_CLEAR:
		return verify_chain_clear(t, note_get(t, item), err, errlen);
	case TL_QUOTA_SET:
		return verify_quota_set(t, &r, err, errlen);
	case TL_KS_SET:
		return verify_ks_set(t, &r, err, errlen);
	case TL_POOL_SET:
		return verify_pool_set(t, &r, err, errlen);
	default:
		return -EOPNOTSUPP;
	}
}

static int tl_rollback(void *ctx, const json_t *item, const json_t *undo,
		       char *err, size_t errlen)
{
	struct target_local *t = ctx;
	struct tl_req r;
	int ret;

	plan_drop(t);
	ret = req_parse(item, &r, err, errlen);
	if (ret)
		return ret;
	/* Every apply of ours that succeeded returned an undo: null is
	 * as unknown as none. */
	if (undo && !json_is_object(undo))
		undo = NULL;
	switch (r.op) {
	case TL_VIF_CREATE:
		return rollback_create(t, &r, undo, err, errlen);
	case TL_VIF_DELETE:
		return rollback_delete(t, &r, undo, err, errlen);
	case TL_CHAIN_SET:
		return rollback_chain_set(t, &r, undo, err, errlen);
	case TL_CHAIN_CLEAR:
		return rollback_chain_clear(t, &r, undo, err, errlen);
	case TL_QUOTA_SET:
		return rollback_quota_set(t, &r, undo, err, errlen);
	case TL_KS_SET:
		return rollback_ks_set(t, &r, undo, err, errlen);
	case TL_POOL_SET:
		return rollback_pool_set(t, &r, undo, err, errlen);
	default:
		return -EOPNOTSUPP;
	}
}

static const struct pipeline_target_ops tl_ops = {
	.name = TARGET_LOCAL_NAME,
	.handles = tl_handles,
	.depends = tl_depends,
	.validate = tl_validate,
	.preview = tl_preview,
	.apply = tl_apply,
	.verify = tl_verify,
	.rollback = tl_rollback,
	.apply_many = tl_apply_many,
};

const struct pipeline_target_ops *target_local_ops(void)
{
	return &tl_ops;
}

/* ---- lifetime --------------------------------------------------------- */

int target_local_new(const struct target_local_deps *deps,
		     struct target_local **out)
{
	struct target_local *t;

	if (!deps || !deps->vm || !deps->dp || !deps->nl || !deps->cfg ||
	    !out)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d = *deps;
	t->notes = json_object();
	if (!t->notes) {
		free(t);
		return -ENOMEM;
	}
	snprintf(t->netns_dir, sizeof(t->netns_dir), "%s",
		 deps->netns_dir ? deps->netns_dir : VIFMGR_NETNS_DIR);
	t->ap.scheme = deps->cfg->scheme;
	t->ap.mark_base = deps->cfg->mark_base;
	t->ap.table_base = deps->cfg->table_base;
	*out = t;
	return 0;
}

void target_local_free(struct target_local *t)
{
	if (!t)
		return;
	plan_free(t->plan);
	json_decref(t->notes);
	free(t);
}

struct tl_sync {
	struct target_local *t;
	int ret;
	char *err;
	size_t errlen;
};

static int sync_cb(const struct vifd_vif *v, void *ctx)
{
	struct tl_sync *s = ctx;
	struct target_local *t = s->t;
	char why[PIPELINE_ERR_MAX];
	struct gw_status st;
	int ret = 0;

	if (v->state != VIFD_STATE_ACTIVE)
		return 0;
	if (t->d.gw && gw_status(t->d.gw, v->vlan, &st) == -ENOENT) {
		ret = gw_add(t->d.gw, v->vlan, &v->gw, v->ks_mode,
			     v->ks_fallback);
		if (ret)
			snprintf(why, sizeof(why),
				 "Couldn't add VIF '%s' to the gateway manager: %s (%d)",
				 v->name, strerror(-ret), ret);
	}
	if (!ret && t->d.qm && v->quota.limit &&
	    !quota_mgr_get(t->d.qm, v->vlan)) {
		struct quota_state qs = { .q = v->quota };

		ret = quota_mgr_track(t->d.qm, v->vlan, &qs);
		if (ret)
			snprintf(why, sizeof(why),
				 "Couldn't track the quota of VIF '%s': %s (%d)",
				 v->name, strerror(-ret), ret);
	}
	if (ret) {
		pr_warn("%s\n", why);
		if (!s->ret) {
			s->ret = ret;
			set_err(s->err, s->errlen, "%s", why);
		}
	}
	return 0;
}

int target_local_sync(struct target_local *t, char *err, size_t errlen)
{
	struct tl_sync s = { .t = t, .err = err, .errlen = errlen };
	char why[PIPELINE_ERR_MAX];
	int ret;

	if (!t)
		return -EINVAL;
	vifmgr_foreach(t->d.vm, sync_cb, &s);
	ret = reg_now(t, why, sizeof(why));
	if (ret && !s.ret) {
		s.ret = ret;
		set_err(err, errlen, "%s", why);
	}
	return s.ret;
}
