// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * alloc.c - VLAN pool, address plan, marks and tables, interface names,
 * chain checks and quota period boundaries.  Pure: the only outside state
 * touched is TZ, and that is put back before returning (see alloc.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

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

static bool vlan_ok(unsigned int vlan)
{
	return vlan >= VIFD_VLAN_LO && vlan <= VIFD_VLAN_HI;
}

/* ------------------------------------------------------------------ */

unsigned int vlan_set_count(const struct vlan_set *s)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(s->bits); i++)
		n += __builtin_popcountll(s->bits[i]);
	return n;
}

/* Lowest member >= from, VIF_VLAN_SLOTS when there is none. */
static unsigned int set_next(const struct vlan_set *s, unsigned int from)
{
	unsigned int w = from / 64;
	__u64 bits;

	if (from >= VIF_VLAN_SLOTS)
		return VIF_VLAN_SLOTS;
	bits = s->bits[w] & (~0ull << (from % 64));
	while (!bits) {
		if (++w == ARRAY_SIZE(s->bits))
			return VIF_VLAN_SLOTS;
		bits = s->bits[w];
	}
	return w * 64 + __builtin_ctzll(bits);
}

int vlan_set_format(const struct vlan_set *s, char *buf, size_t len)
{
	static const char cut[] = ", ...";
	unsigned int v = set_next(s, 0);
	size_t used = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	while (v < VIF_VLAN_SLOTS) {
		unsigned int first = v, last = v;
		char item[24];
		size_t n;

		while (last + 1 < VIF_VLAN_SLOTS && vlan_set_has(s, last + 1))
			last++;
		if (first == last)
			n = snprintf(item, sizeof(item), "%s%u",
				     used ? ", " : "", first);
		else
			n = snprintf(item, sizeof(item), "%s%u-%u",
				     used ? ", " : "", first, last);
		v = set_next(s, last + 1);
		/* Any item but the last keeps room for the ", ..." that
		 * replaces whatever does not fit after it. */
		if (used + n + (v < VIF_VLAN_SLOTS ? sizeof(cut) - 1 : 0) + 1 >
		    len)
			goto trunc;
		memcpy(buf + used, item, n + 1);
		used += n;
	}
	return 0;
trunc:
	if (used)
		memcpy(buf + used, cut, sizeof(cut));
	else if (len >= sizeof("..."))
		memcpy(buf, "...", sizeof("..."));
	return -ENOSPC;
}

/* ------------------------------------------------------------------ */

static bool range_ok(unsigned int lo, unsigned int hi)
{
	return vlan_ok(lo) && vlan_ok(hi) && lo <= hi;
}

int pool_init(struct vlan_pool *p, __u16 lo, __u16 hi,
	      const struct vlan_set *reserved)
{
	if (!range_ok(lo, hi))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->lo = lo;
	p->hi = hi;
	if (reserved)
		p->reserved = *reserved;
	return 0;
}

/* Bits of word w that lie inside lo..hi. */
static __u64 range_mask(unsigned int w, unsigned int lo, unsigned int hi)
{
	unsigned int first = w * 64, last = w * 64 + 63;
	__u64 m = ~0ull;

	if (lo > last || hi < first)
		return 0;
	if (lo > first)
		m &= ~0ull << (lo - first);
	if (hi < last)
		m &= ~0ull >> (last - hi);
	return m;
}

int pool_alloc(struct vlan_pool *p, __u16 *vlan)
{
	unsigned int w;

	/* Word at a time: 64 words cover every VLAN, so creating all 4092
	 * VIFs costs at most 64 * 4092 word tests. */
	for (w = p->lo / 64; w <= p->hi / 64u; w++) {
		__u64 free = ~(p->allocated.bits[w] | p->reserved.bits[w]) &
			     range_mask(w, p->lo, p->hi);

		if (free) {
			unsigned int v = w * 64 + __builtin_ctzll(free);

			vlan_set_add(&p->allocated, v);
			*vlan = v;
			return 0;
		}
	}
	return -ENOSPC;
}

int pool_alloc_specific(struct vlan_pool *p, __u16 vlan)
{
	if (vlan < p->lo || vlan > p->hi)
		return -ERANGE;
	if (vlan_set_has(&p->reserved, vlan))
		return -EPERM;
	if (vlan_set_has(&p->allocated, vlan))
		return -EEXIST;
	vlan_set_add(&p->allocated, vlan);
	return 0;
}

int pool_free(struct vlan_pool *p, __u16 vlan)
{
	if (!vlan_set_has(&p->allocated, vlan))
		return -ENOENT;
	vlan_set_del(&p->allocated, vlan);
	return 0;
}

bool pool_is_allocated(const struct vlan_pool *p, __u16 vlan)
{
	return vlan_set_has(&p->allocated, vlan);
}

void pool_status(const struct vlan_pool *p, struct pool_status *st)
{
	unsigned int w, size = 0;

	for (w = 0; w < ARRAY_SIZE(p->reserved.bits); w++)
		size += __builtin_popcountll(~p->reserved.bits[w] &
					     range_mask(w, p->lo, p->hi));
	st->size = size;
	st->allocated = vlan_set_count(&p->allocated);
	st->free = st->allocated < size ? size - st->allocated : 0;
	/* A pool with no usable id is as full as one can be. */
	st->percent = size ? st->allocated * 100u / size : 100u;
	/* Compare in integers so exactly 80% and 95% hit their level. */
	if (st->allocated * 100u >= 95u * size)
		st->level = POOL_LEVEL_CRITICAL;
	else if (st->allocated * 100u >= 80u * size)
		st->level = POOL_LEVEL_WARN;
	else
		st->level = POOL_LEVEL_NONE;
}

const char *pool_level_name(enum pool_level level)
{
	switch (level) {
	case POOL_LEVEL_NONE:
		return "none";
	case POOL_LEVEL_WARN:
		return "warn";
	case POOL_LEVEL_CRITICAL:
		return "critical";
	}
	return "unknown";
}

int pool_resize(struct vlan_pool *p, __u16 lo, __u16 hi,
		const struct vlan_set *reserved, struct vlan_set *stranded,
		char *err, size_t errlen)
{
	const struct vlan_set *res = reserved ? reserved : &p->reserved;
	struct vlan_set out;
	unsigned int v, n;
	char list[160];

	if (!range_ok(lo, hi)) {
		set_err(err, errlen, "vlan range %u-%u is not within %u-%u",
			lo, hi, VIFD_VLAN_LO, VIFD_VLAN_HI);
		return -EINVAL;
	}
	vlan_set_clear(&out);
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		if (vlan_set_has(&p->allocated, v) &&
		    (v < lo || v > hi || vlan_set_has(res, v)))
			vlan_set_add(&out, v);
	if (stranded)
		*stranded = out;
	n = vlan_set_count(&out);
	if (n) {
		vlan_set_format(&out, list, sizeof(list));
		set_err(err, errlen, "would strand %u allocated id%s: %s", n,
			n == 1 ? "" : "s", list);
		return -EBUSY;
	}
	p->lo = lo;
	p->hi = hi;
	if (reserved)
		p->reserved = *reserved;
	return 0;
}

/* ------------------------------------------------------------------ */

static void addr_fill(__u32 subnet, __u8 prefix_len, __u32 svc, __u32 gw,
		      struct alloc_addr *out)
{
	out->subnet = htonl(subnet);
	out->prefix_len = prefix_len;
	out->svc_addr = htonl(subnet + svc);
	out->gw_addr = htonl(subnet + gw);
}

int alloc_addr_vlan24(__u16 vlan, struct alloc_addr *out)
{
	if (!vlan_ok(vlan))
		return -EINVAL;
	addr_fill(ALLOC_VLAN24_BASE + ((__u32)vlan << 8), 24, 1, 254, out);
	return 0;
}

int alloc_addr_p2p30(__u32 n, struct alloc_addr *out)
{
	if (n >= ALLOC_P2P30_BLOCKS)
		return -ERANGE;
	addr_fill(ALLOC_P2P30_BASE + (n << 8), 30, 2, 1, out);
	return 0;
}

int alloc_addr(enum vifd_addr_scheme scheme, __u16 vlan,
	       struct alloc_addr *out)
{
	switch (scheme) {
	case VIFD_SCHEME_VLAN24:
		return alloc_addr_vlan24(vlan, out);
	case VIFD_SCHEME_P2P30:
		if (!vlan_ok(vlan))
			return -EINVAL;
		return alloc_addr_p2p30(vlan, out);
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */

bool alloc_table_reserved(__u32 table)
{
	/* RT_TABLE_UNSPEC, RT_TABLE_COMPAT, _DEFAULT, _MAIN, _LOCAL. */
	return table == 0 || (table >= 252 && table <= 255);
}

int alloc_bases_check(__u32 mark_base, __u32 table_base, char *err,
		      size_t errlen)
{
	if (mark_base > UINT32_MAX - VIFD_VLAN_HI) {
		set_err(err, errlen,
			"mark_base %#x overflows: marks reach mark_base + %u",
			mark_base, VIFD_VLAN_HI);
		return -ERANGE;
	}
	if (table_base > UINT32_MAX - VIFD_VLAN_HI) {
		set_err(err, errlen,
			"table_base %u overflows: tables reach table_base + %u",
			table_base, VIFD_VLAN_HI);
		return -ERANGE;
	}
	/* Tables span table_base + 2 .. + 4093; 252..255 lie below 256, so
	 * any base under 254 puts one of them (or 0) in the span. */
	if (table_base < ALLOC_TABLE_BASE_MIN) {
		set_err(err, errlen,
			"table_base %u: tables %u-%u would include the kernel's 252-255 (use %u or more)",
			table_base, table_base + VIFD_VLAN_LO,
			table_base + VIFD_VLAN_HI, ALLOC_TABLE_BASE_MIN);
		return -ERANGE;
	}
	return 0;
}

int alloc_mark(__u32 mark_base, __u16 vlan, __u32 *mark)
{
	if (!vlan_ok(vlan))
		return -EINVAL;
	if (mark_base > UINT32_MAX - vlan)
		return -ERANGE;
	/* base + vlan >= 2 without overflow, so never the "no mark" 0. */
	*mark = mark_base + vlan;
	return 0;
}

int alloc_table(__u32 table_base, __u16 vlan, __u32 *table)
{
	if (!vlan_ok(vlan))
		return -EINVAL;
	if (table_base > UINT32_MAX - vlan ||
	    alloc_table_reserved(table_base + vlan))
		return -ERANGE;
	*table = table_base + vlan;
	return 0;
}

int alloc_mark_blocks(__u32 mark_base, struct alloc_mark_block *out,
		      size_t max)
{
	__u64 lo = (__u64)mark_base + VIFD_VLAN_LO;
	__u64 hi = (__u64)mark_base + VIFD_VLAN_HI;
	__u64 size;
	size_t n = 0;

	if (mark_base > UINT32_MAX - VIFD_VLAN_HI)
		return -ERANGE;
	/*
	 * Greedy from the bottom: the largest aligned power-of-two block
	 * that starts at lo and stays within hi.  That is the minimal
	 * prefix cover of a range (two per bit at most).
	 */
	while (lo <= hi) {
		size = lo ? lo & -lo : (__u64)1 << 32;
		while (lo + size - 1 > hi)
			size >>= 1;
		if (n == max)
			return -ERANGE;
		out[n].value = (__u32)lo;
		out[n].mask = (__u32)~(size - 1);
		n++;
		lo += size;
	}
	return (int)n;
}

/* ------------------------------------------------------------------ */

static const char *const if_prefix[ALLOC_IF__MAX] = {
	[ALLOC_IF_PORT] = "vp",
	[ALLOC_IF_SVC] = "vs",
	[ALLOC_IF_TUN] = "vt",
};

static bool ifname_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int alloc_ifname(enum alloc_if_kind kind, __u16 vlan, const char *name,
		 char *out)
{
	size_t len, i;
	int n;

	if ((unsigned int)kind >= ALLOC_IF__MAX || !vlan_ok(vlan))
		return -EINVAL;
	n = snprintf(out, VIFD_IFNAME_MAX, "%s%u", if_prefix[kind], vlan);
	len = n;
	if (name && *name && len + 1 < VIFD_IFNAME_MAX - 1) {
		out[len++] = '-';
		for (i = 0; name[i] && len < VIFD_IFNAME_MAX - 1; i++)
			out[len++] = ifname_char(name[i]) ? name[i] : '_';
		/* A cut (or odd) name may end in a separator: drop it, down
		 * to the '-' we added, which goes too. */
		while (len > (size_t)n && (out[len - 1] == '-' ||
					   out[len - 1] == '.' ||
					   out[len - 1] == '_'))
			len--;
		out[len] = '\0';
	}
	return 0;
}

int alloc_ifname_valid(const char *ifname)
{
	size_t len, i;

	if (!ifname)
		return -EINVAL;
	len = strlen(ifname);
	if (!len)
		return -EINVAL;
	if (len > VIFD_IFNAME_MAX - 1)
		return -ENAMETOOLONG;
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!ifname_char(ifname[i]))
			return -EINVAL;
	return 0;
}

int alloc_ifname_parse(const char *ifname, enum alloc_if_kind *kind,
		       __u16 *vlan)
{
	unsigned int k, v = 0;
	const char *p;

	if (alloc_ifname_valid(ifname))
		return -EINVAL;
	for (k = 0; k < ALLOC_IF__MAX; k++)
		if (!strncmp(ifname, if_prefix[k], 2))
			break;
	if (k == ALLOC_IF__MAX)
		return -EINVAL;
	p = ifname + 2;
	/* Decimal without leading zeros, as alloc_ifname() prints it. */
	if (*p < '1' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9' && v <= VIFD_VLAN_HI)
		v = v * 10 + (*p++ - '0');
	if ((*p && *p != '-') || !vlan_ok(v))
		return -EINVAL;
	*kind = k;
	*vlan = v;
	return 0;
}

int alloc_ifname_check(const char *ifname, alloc_name_used_fn used,
		       void *ctx, char *err, size_t errlen)
{
	enum alloc_if_kind kind;
	__u16 vlan;
	int ret;

	ret = alloc_ifname_valid(ifname);
	if (ret) {
		set_err(err, errlen,
			"interface name '%s' is not 1-15 characters of [A-Za-z0-9_.-] (nor '.' or '..')",
			ifname ? ifname : "");
		return -EINVAL;
	}
	if (!alloc_ifname_parse(ifname, &kind, &vlan)) {
		set_err(err, errlen,
			"interface name '%s' is reserved for VLAN %u's %s",
			ifname, vlan, if_prefix[kind]);
		return -EADDRINUSE;
	}
	if (used && used(ifname, ctx)) {
		set_err(err, errlen, "interface name '%s' is in use", ifname);
		return -EEXIST;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

int alloc_vif_fill(const struct alloc_params *ap, struct vifd_vif *vif)
{
	struct alloc_addr a;
	__u32 mark, table;
	/* Zero-filled: the bytes after the NUL reach vif too. */
	char port[VIFD_IFNAME_MAX] = "", svc[VIFD_IFNAME_MAX] = "";
	int err;

	/* Compute everything first: vif is untouched on failure. */
	err = alloc_addr(ap->scheme, vif->vlan, &a);
	if (err)
		return err;
	err = alloc_mark(ap->mark_base, vif->vlan, &mark);
	if (err)
		return err;
	err = alloc_table(ap->table_base, vif->vlan, &table);
	if (err)
		return err;
	err = alloc_ifname(ALLOC_IF_PORT, vif->vlan, vif->name, port);
	if (err)
		return err;
	err = alloc_ifname(ALLOC_IF_SVC, vif->vlan, vif->name, svc);
	if (err)
		return err;
	vif->subnet = a.subnet;
	vif->prefix_len = a.prefix_len;
	vif->svc_addr = a.svc_addr;
	vif->gw_addr = a.gw_addr;
	vif->mark = mark;
	vif->table = table;
	memcpy(vif->ifname, port, sizeof(port));
	memcpy(vif->peer_ifname, svc, sizeof(svc));
	return 0;
}

/* ------------------------------------------------------------------ */

/* "101 -> 102 -> 101", cut with "..." when err is short. */
static void path_format(const __u16 *path, size_t n, char *buf, size_t len)
{
	size_t used = 0, i;

	if (!buf || !len)
		return;
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%u",
				 i ? " -> " : "", path[i]);

		if (w < 0 || (size_t)w >= len - used) {
			if (len >= 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		used += w;
	}
}

int chain_validate(const __u16 *hops, size_t n, chain_next_hop_fn next_hop,
		   void *ctx, char *err, size_t errlen)
{
	/* The walk visits each VLAN at most once, plus the repeat. */
	__u16 path[VIF_VLAN_SLOTS + 1];
	struct vlan_set seen;
	char text[192];
	size_t i, len = 0;
	__u16 cur;

	if (n < VIFD_CHAIN_MIN || n > VIFD_CHAIN_MAX) {
		set_err(err, errlen, "a chain has %d-%d VIFs, not %zu",
			VIFD_CHAIN_MIN, VIFD_CHAIN_MAX, n);
		return -EINVAL;
	}
	vlan_set_clear(&seen);
	for (i = 0; i < n; i++) {
		if (!vlan_ok(hops[i])) {
			set_err(err, errlen, "hop %zu: VLAN %u is not within %u-%u",
				i + 1, hops[i], VIFD_VLAN_LO, VIFD_VLAN_HI);
			return -EINVAL;
		}
		if (vlan_set_has(&seen, hops[i])) {
			set_err(err, errlen, "%u appears twice in the chain",
				hops[i]);
			return -EINVAL;
		}
		vlan_set_add(&seen, hops[i]);
	}

	/* Walk the graph as it will be: new edges for hops[0..n-2], the
	 * callback for everyone else.  Any cycle the new edges close passes
	 * through hops[0]'s path, so one walk from there finds it. */
	vlan_set_clear(&seen);
	cur = hops[0];
	while (cur) {
		path[len++] = cur;
		if (vlan_set_has(&seen, cur)) {
			path_format(path, len, text, sizeof(text));
			set_err(err, errlen, "cycle: %s", text);
			return -ELOOP;
		}
		vlan_set_add(&seen, cur);
		if (len < n)
			cur = hops[len];
		else
			cur = next_hop ? next_hop(cur, ctx) : 0;
		/* A corrupt next hop ends the walk rather than the bitmap. */
		if (cur >= VIF_VLAN_SLOTS) {
			set_err(err, errlen, "VLAN %u has next hop %u",
				path[len - 1], cur);
			return -EINVAL;
		}
	}
	if (len > VIFD_CHAIN_MAX) {
		path_format(path, len, text, sizeof(text));
		set_err(err, errlen, "chain too long: %s (%zu VIFs, max %d)",
			text, len, VIFD_CHAIN_MAX);
		return -E2BIG;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

struct tz_saved {
	char *old; /* strdup of TZ, NULL when it was unset */
};

/* Switch the process to zone tz until tz_leave(); see alloc.h. */
static int tz_enter(const char *tz, struct tz_saved *saved)
{
	const char *cur = getenv("TZ");
	char val[80];
	int n;

	saved->old = NULL;
	if (!tz || !*tz)
		tz = "UTC";
	/* A ':' makes glibc read the zoneinfo file and never parse the
	 * name as a POSIX TZ rule; '/' at the start or ".." would let a
	 * name reach outside the zoneinfo tree. */
	if (tz[0] == '/' || strstr(tz, ".."))
		return -EINVAL;
	n = snprintf(val, sizeof(val), ":%s", tz);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	if (cur) {
		saved->old = strdup(cur);
		if (!saved->old)
			return -ENOMEM;
	}
	if (setenv("TZ", val, 1)) {
		int err = -errno;

		free(saved->old);
		saved->old = NULL;
		return err;
	}
	tzset();
	return 0;
}

static void tz_leave(struct tz_saved *saved)
{
	if (saved->old)
		setenv("TZ", saved->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved->old);
	saved->old = NULL;
}

/* Calendar date as one comparable number. */
static long date_key(const struct tm *tm)
{
	return (tm->tm_year + 1900L) * 10000 + (tm->tm_mon + 1) * 100 +
	       tm->tm_mday;
}

/*
 * First instant of local date year/mon/mday (mday may be out of range,
 * e.g. 32 or -3; the calendar normalises it).
 */
static int day_start(int year, int mon, int mday, time_t *out)
{
	struct tm tm = { 0 }, chk;
	time_t t, lo, hi;
	long want;

	/* Normalise the date alone at noon UTC, away from any DST edge. */
	tm.tm_year = year;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_hour = 12;
	t = timegm(&tm);
	if (t == (time_t)-1 || !gmtime_r(&t, &tm))
		return -EOVERFLOW;
	want = date_key(&tm);

	tm.tm_hour = 0;
	tm.tm_min = 0;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	errno = 0;
	t = mktime(&tm);
	if (t == (time_t)-1 && errno)
		return -EOVERFLOW;
	if (!localtime_r(&t, &chk))
		return -EOVERFLOW;
	if (date_key(&chk) == want && !chk.tm_hour && !chk.tm_min &&
	    !chk.tm_sec) {
		*out = t;
		return 0;
	}

	/* Midnight does not exist that day (mktime gave the day before or
	 * a later hour): bisect for the first second dated `want`. */
	lo = t - 86400;
	hi = t + 86400;
	if (!localtime_r(&lo, &chk) || date_key(&chk) >= want ||
	    !localtime_r(&hi, &chk) || date_key(&chk) < want)
		return -EOVERFLOW;
	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;

		if (!localtime_r(&mid, &chk))
			return -EOVERFLOW;
		if (date_key(&chk) >= want)
			hi = mid;
		else
			lo = mid;
	}
	*out = hi;
	return 0;
}

static int period_bounds(enum vifd_quota_period period, time_t now,
			 time_t *start, time_t *next)
{
	struct tm tm;
	int mday, err;

	if (!localtime_r(&now, &tm))
		return -EOVERFLOW;
	switch (period) {
	case VIFD_QUOTA_DAILY:
		err = day_start(tm.tm_year, tm.tm_mon, tm.tm_mday, start);
		if (!err)
			err = day_start(tm.tm_year, tm.tm_mon, tm.tm_mday + 1,
					next);
		return err;
	case VIFD_QUOTA_WEEKLY:
		/* tm_wday: 0 = Sunday; days since Monday: */
		mday = tm.tm_mday - (tm.tm_wday + 6) % 7;
		err = day_start(tm.tm_year, tm.tm_mon, mday, start);
		if (!err)
			err = day_start(tm.tm_year, tm.tm_mon, mday + 7, next);
		return err;
	case VIFD_QUOTA_MONTHLY:
		err = day_start(tm.tm_year, tm.tm_mon, 1, start);
		if (!err)
			err = day_start(tm.tm_year, tm.tm_mon + 1, 1, next);
		return err;
	}
	return -EINVAL;
}

int quota_period_bounds(enum vifd_quota_period period, int64_t now,
			const char *tz, int64_t *start, int64_t *next)
{
	struct tz_saved saved;
	time_t s = 0, nx = 0;
	int err;

	if ((unsigned int)period > VIFD_QUOTA_MONTHLY)
		return -EINVAL;
	if ((int64_t)(time_t)now != now)
		return -EOVERFLOW;
	err = tz_enter(tz, &saved);
	if (err)
		return err;
	err = period_bounds(period, (time_t)now, &s, &nx);
	tz_leave(&saved);
	if (err)
		return err;
	if (start)
		*start = s;
	if (next)
		*next = nx;
	return 0;
}

int quota_period_start(enum vifd_quota_period period, int64_t now,
		       const char *tz, int64_t *start)
{
	return quota_period_bounds(period, now, tz, start, NULL);
}

int quota_period_next(enum vifd_quota_period period, int64_t now,
		      const char *tz, int64_t *next)
{
	return quota_period_bounds(period, now, tz, NULL, next);
}
