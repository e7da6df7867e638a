// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * config.c - parse and check vifd.conf (format in config.h).  One table
 * describes every key: where it lives, how it parses, how it is checked
 * and whether SIGHUP can apply it.  Parsing, defaults checking, the diff
 * and config_apply() all walk that table, so a new key is one row.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "vif_abi.h"
#include "vif_shm.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* How much of a bad value an error message echoes. */
#define ECHO_MAX 48

enum conf_section {
	SEC_DAEMON,
	SEC_DATAPLANE,
	SEC_POOL,
	SEC_HEALTH,
	SEC_RETENTION,
	SEC_ALERTS,
	SEC_ROUTER,
	SEC__MAX,
};

static const char *const section_names[SEC__MAX] = {
	[SEC_DAEMON] = "daemon",
	[SEC_DATAPLANE] = "dataplane",
	[SEC_POOL] = "pool",
	[SEC_HEALTH] = "health",
	[SEC_RETENTION] = "retention",
	[SEC_ALERTS] = "alerts",
	[SEC_ROUTER] = "router",
};

enum conf_type {
	T_STR,   /* char[size], checked by check() */
	T_U32,   /* __u32 within min..max */
	T_ENUM,  /* enum (int-sized), value = index in names[] */
	T_BOOL,
	T_RANGE, /* vlan_pool: two __u16 */
	T_SET,   /* struct vlan_set */
};

/* 0, or -EINVAL with the reason (no key name) in why. */
typedef int (*check_fn)(const char *val, char *why, size_t whylen);

struct conf_key {
	const char *name;
	enum conf_section section;
	enum conf_type type;
	bool reload;
	size_t off;
	size_t size;
	__u32 min, max;           /* T_U32 */
	bool hex;                 /* T_U32: 0x accepted */
	const char *const *names; /* T_ENUM, NULL-terminated */
	check_fn check;           /* T_STR */
};

_Static_assert(sizeof(enum vif_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum vifd_engine) == sizeof(int), "enum size");
_Static_assert(sizeof(enum vifd_xdp_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum vifd_addr_scheme) == sizeof(int), "enum size");
_Static_assert(CONFIG_KEY__MAX <= 64, "config_diff masks are 64 bits");

static const char *const log_level_names[] = { "warn", "info", "debug",
					       NULL };
static const char *const engine_names[] = { "xdp", "dpdk", NULL };
static const char *const xdp_mode_names[] = { "auto", "native", "generic",
					      NULL };
static const char *const scheme_names[] = { "vlan24", "p2p30", NULL };

/* ------------------------------------------------------------------ */
/* Value checks.                                                      */

static int why_fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool has_blank(const char *s)
{
	return strpbrk(s, " \t") != NULL;
}

static int check_abs_path(const char *v, char *why, size_t whylen)
{
	if (v[0] != '/')
		return why_fail(why, whylen, "'%.*s' is not an absolute path",
				ECHO_MAX, v);
	return 0;
}

/* A file, not a directory: the writer's lock is "<path>.lock" beside it. */
static int check_file_path(const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);

	if (check_abs_path(v, why, whylen))
		return -EINVAL;
	if (v[n - 1] == '/')
		return why_fail(why, whylen, "'%.*s' names a directory, not a file",
				ECHO_MAX, v);
	return 0;
}

static int check_abs_path_opt(const char *v, char *why, size_t whylen)
{
	return *v ? check_abs_path(v, why, whylen) : 0;
}

static int check_group(const char *v, char *why, size_t whylen)
{
	const char *p;

	if (*v == '-')
		goto bad;
	for (p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		      *p == '-'))
			goto bad;
	return 0;
bad:
	return why_fail(why, whylen, "'%.*s' is not a group name", ECHO_MAX,
			v);
}

static int check_ifname_opt(const char *v, char *why, size_t whylen)
{
	if (*v && alloc_ifname_valid(v))
		return why_fail(why, whylen,
				"'%.*s' is not an interface name (1-15 characters of A-Z a-z 0-9 _ . -)",
				ECHO_MAX, v);
	return 0;
}

/*
 * An IANA name must be a TZif file under CONFIG_ZONEINFO_DIR: glibc
 * silently falls back to UTC for a name it cannot load, which would move
 * every quota boundary without a word.
 */
static int check_tz(const char *v, char *why, size_t whylen)
{
	char path[sizeof(CONFIG_ZONEINFO_DIR) + CONFIG_TZ_MAX + 1];
	const char *p, *comp = v;
	char magic[4];
	struct stat st;
	int fd, ok;

	/* glibc knows UTC without tzdata; so does a minimal container. */
	if (!strcmp(v, "UTC"))
		return 0;
	for (p = v;; p++) {
		if (*p == '/' || !*p) {
			size_t n = p - comp;

			/* No empty, "." or ".." component: stay inside. */
			if (!n || (n == 1 && comp[0] == '.') ||
			    (n == 2 && comp[0] == '.' && comp[1] == '.'))
				goto bad;
			comp = p + 1;
			if (!*p)
				break;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      *p == '+' || *p == '.'))
			goto bad;
	}
	snprintf(path, sizeof(path), "%s/%s", CONFIG_ZONEINFO_DIR, v);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return why_fail(why, whylen,
				"'%s' is not a time zone (no %s)", v, path);
	/* zone.tab, tzdata.zi and friends live there too: want TZif. */
	ok = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	     read(fd, magic, sizeof(magic)) == sizeof(magic) &&
	     !memcmp(magic, "TZif", 4);
	close(fd);
	if (!ok)
		return why_fail(why, whylen,
				"'%s' is not a time zone (%s is not a TZif file)",
				v, path);
	return 0;
bad:
	return why_fail(why, whylen,
			"'%.*s' is not a time zone name like Europe/Berlin",
			ECHO_MAX, v);
}

static int check_url(const char *v, const char *const *schemes, char *why,
		     size_t whylen)
{
	size_t i;

	if (!*v)
		return 0;
	for (i = 0; schemes[i]; i++) {
		size_t n = strlen(schemes[i]);

		if (!strncmp(v, schemes[i], n) && v[n] && v[n] != '/' &&
		    !has_blank(v))
			return 0;
	}
	return why_fail(why, whylen, "'%.*s' is not a %s URL", ECHO_MAX, v,
			schemes[0]);
}

static int check_http_url(const char *v, char *why, size_t whylen)
{
	static const char *const s[] = { "https://", "http://", NULL };

	return check_url(v, s, why, whylen);
}

static int check_smtp_url(const char *v, char *why, size_t whylen)
{
	static const char *const s[] = { "smtps://", "smtp://", NULL };

	return check_url(v, s, why, whylen);
}

static int check_token(const char *v, char *why, size_t whylen)
{
	if (has_blank(v))
		return why_fail(why, whylen, "'%.*s' contains blanks",
				ECHO_MAX, v);
	return 0;
}

/* One address of n bytes: local@domain, no blanks or commas. */
static bool email_ok(const char *v, size_t n)
{
	const char *at = memchr(v, '@', n);
	size_t i;

	if (!at || at == v || at == v + n - 1 ||
	    memchr(at + 1, '@', v + n - at - 1))
		return false;
	for (i = 0; i < n; i++)
		if (v[i] == ' ' || v[i] == '\t' || v[i] == ',')
			return false;
	return true;
}

static int check_email(const char *v, char *why, size_t whylen)
{
	if (*v && !email_ok(v, strlen(v)))
		return why_fail(why, whylen, "'%.*s' is not a mail address",
				ECHO_MAX, v);
	return 0;
}

static int check_email_list(const char *v, char *why, size_t whylen)
{
	const char *p = v;

	if (!*v)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n;

		if (!end)
			end = p + strlen(p);
		while (*p == ' ' || *p == '\t')
			p++;
		n = end - p;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n || !email_ok(p, n))
			return why_fail(why, whylen,
					"'%.*s' is not a comma-separated list of mail addresses",
					ECHO_MAX, v);
		if (!*end)
			return 0;
		p = end + 1;
	}
}

/* ------------------------------------------------------------------ */
/* The key table.                                                     */

#define FIELD(f)                                                           \
	.name = #f, .off = offsetof(struct vifd_config, f),                \
	.size = sizeof(((struct vifd_config *)0)->f)
#define STR(id, sec, f, rl, chk)                                           \
	[id] = { FIELD(f), .section = sec, .type = T_STR, .reload = rl,    \
		 .check = chk }
#define U32(id, sec, f, rl, lo, hi, hx)                                    \
	[id] = { FIELD(f), .section = sec, .type = T_U32, .reload = rl,    \
		 .min = lo, .max = hi, .hex = hx }
#define ENUM(id, sec, f, rl, nm)                                           \
	[id] = { FIELD(f), .section = sec, .type = T_ENUM, .reload = rl,   \
		 .names = nm }
#define OTHER(id, sec, f, rl, ty)                                          \
	[id] = { FIELD(f), .section = sec, .type = ty, .reload = rl }

static const struct conf_key keys[CONFIG_KEY__MAX] = {
	STR(CONFIG_STATE_DIR, SEC_DAEMON, state_dir, false, check_abs_path),
	STR(CONFIG_SOCKET_PATH, SEC_DAEMON, socket_path, false,
	    check_abs_path),
	STR(CONFIG_SOCKET_GROUP, SEC_DAEMON, socket_group, false,
	    check_group),
	STR(CONFIG_ADMIN_GROUP, SEC_DAEMON, admin_group, false, check_group),
	ENUM(CONFIG_LOG_LEVEL, SEC_DAEMON, log_level, true, log_level_names),
	STR(CONFIG_TIMEZONE, SEC_DAEMON, timezone, true, check_tz),

	ENUM(CONFIG_ENGINE, SEC_DATAPLANE, engine, false, engine_names),
	STR(CONFIG_TRUNK, SEC_DATAPLANE, trunk, false, check_ifname_opt),
	STR(CONFIG_PIN_DIR, SEC_DATAPLANE, pin_dir, false, check_abs_path),
	ENUM(CONFIG_XDP_MODE, SEC_DATAPLANE, xdp_mode, false,
	     xdp_mode_names),
	STR(CONFIG_DPDK_SHM, SEC_DATAPLANE, dpdk_shm, false, check_file_path),

	OTHER(CONFIG_VLAN_POOL, SEC_POOL, vlan_pool, true, T_RANGE),
	OTHER(CONFIG_RESERVED, SEC_POOL, reserved, true, T_SET),
	ENUM(CONFIG_SCHEME, SEC_POOL, scheme, false, scheme_names),
	/* Full u32 here; alloc_bases_check() has the real rules. */
	U32(CONFIG_MARK_BASE, SEC_POOL, mark_base, false, 0, UINT32_MAX,
	    true),
	U32(CONFIG_TABLE_BASE, SEC_POOL, table_base, false, 0, UINT32_MAX,
	    true),

	/* 100 ms floor: each probe is a connect through the tunnel. */
	U32(CONFIG_PROBE_INTERVAL_MS, SEC_HEALTH, probe_interval_ms, true,
	    100, 60000, false),
	U32(CONFIG_PROBE_FAIL_THRESHOLD, SEC_HEALTH, probe_fail_threshold,
	    true, 1, 100, false),

	U32(CONFIG_STATS_RETENTION_DAYS, SEC_RETENTION, stats_retention_days,
	    true, 1, 3650, false),
	U32(CONFIG_EVENT_RETENTION, SEC_RETENTION, event_retention, true,
	    100, 10000000, false),

	STR(CONFIG_WEBHOOK_URL, SEC_ALERTS, webhook_url, true,
	    check_http_url),
	STR(CONFIG_NTFY_URL, SEC_ALERTS, ntfy_url, true, check_http_url),
	STR(CONFIG_NTFY_TOPIC, SEC_ALERTS, ntfy_topic, true, check_token),
	STR(CONFIG_PUSHOVER_TOKEN, SEC_ALERTS, pushover_token, true,
	    check_token),
	STR(CONFIG_PUSHOVER_USER, SEC_ALERTS, pushover_user, true,
	    check_token),
	STR(CONFIG_TELEGRAM_TOKEN, SEC_ALERTS, telegram_token, true,
	    check_token),
	STR(CONFIG_TELEGRAM_CHAT, SEC_ALERTS, telegram_chat, true,
	    check_token),
	STR(CONFIG_SMTP_URL, SEC_ALERTS, smtp_url, true, check_smtp_url),
	STR(CONFIG_SMTP_FROM, SEC_ALERTS, smtp_from, true, check_email),
	STR(CONFIG_SMTP_TO, SEC_ALERTS, smtp_to, true, check_email_list),

	STR(CONFIG_ROUTER_URL, SEC_ROUTER, router_url, true, check_http_url),
	STR(CONFIG_ROUTER_USER, SEC_ROUTER, router_user, true, check_token),
	STR(CONFIG_ROUTER_PASSWORD_FILE, SEC_ROUTER, router_password_file,
	    true, check_abs_path_opt),
	OTHER(CONFIG_ROUTER_TLS_VERIFY, SEC_ROUTER, router_tls_verify, true,
	      T_BOOL),
};

#define SET_STR(dst, lit)                                                  \
	do {                                                               \
		_Static_assert(sizeof(lit) <= sizeof(dst), #dst);          \
		memcpy((dst), (lit), sizeof(lit));                         \
	} while (0)

void config_defaults(struct vifd_config *cfg)
{
	/* Zeroed first: unset strings are "", and whole-field compares in
	 * the diff never see stale bytes. */
	memset(cfg, 0, sizeof(*cfg));
	SET_STR(cfg->state_dir, "/var/lib/vifd");
	SET_STR(cfg->socket_path, "/run/vifd/vifd.sock");
	cfg->log_level = LOG_LVL_INFO;
	SET_STR(cfg->timezone, "UTC");
	cfg->engine = VIFD_ENGINE_XDP;
	SET_STR(cfg->pin_dir, VIF_PIN_DIR);
	cfg->xdp_mode = VIFD_XDP_AUTO;
	SET_STR(cfg->dpdk_shm, VIF_SHM_DEFAULT_PATH);
	cfg->vlan_pool.lo = 100;
	cfg->vlan_pool.hi = 199;
	cfg->scheme = VIFD_SCHEME_VLAN24;
	cfg->mark_base = ALLOC_MARK_BASE_DEFAULT;
	cfg->table_base = ALLOC_TABLE_BASE_DEFAULT;
	cfg->probe_interval_ms = 1000;
	cfg->probe_fail_threshold = 3;
	cfg->stats_retention_days = 30;
	cfg->event_retention = 10000;
	cfg->router_tls_verify = true;
}

/* ------------------------------------------------------------------ */
/* Parsing.                                                           */

struct parser {
	const char *path;
	char *err;
	size_t errlen;
	unsigned int line;
	int section; /* -1 before the first header */
	unsigned int section_line[SEC__MAX];
	unsigned int key_line[CONFIG_KEY__MAX]; /* 0: not in the file */
	struct vifd_config cfg;
};

static int fail(struct parser *ps, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "path:line: message" into err; always -EINVAL (content error). */
static int fail(struct parser *ps, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ps->err || !ps->errlen)
		return -EINVAL;
	n = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->path, line);
	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void *field(struct vifd_config *cfg, const struct conf_key *k)
{
	return (char *)cfg + k->off;
}

static const void *cfield(const struct vifd_config *cfg,
			  const struct conf_key *k)
{
	return (const char *)cfg + k->off;
}

/*
 * Decimal, or hex after 0x when hex; no sign, no blanks, no empty string.
 * -EINVAL when not a number, -ERANGE when above UINT32_MAX.
 */
static int parse_u32(const char *s, bool hex, __u32 *out)
{
	unsigned int base = 10;
	__u64 v = 0;

	if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		v = v * base + d;
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

/* Digits at *p (at most 10), advancing *p; -EINVAL if none. */
static int scan_num(const char **p, __u32 *out)
{
	const char *s = *p;
	__u64 v = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9' && n < 10) {
		v = v * 10 + (*s++ - '0');
		n++;
	}
	if (!n || (*s >= '0' && *s <= '9') || v > UINT32_MAX)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static const char *skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * "lo-hi" or "n" (blanks around '-' allowed) from s up to end.  Returns
 * 0, -EINVAL (not a range) or -ERANGE (outside VIFD_VLAN_*, reversed).
 */
static int scan_range(const char *s, const char *end, __u32 *lo, __u32 *hi)
{
	const char *p = skip_blank(s);

	if (scan_num(&p, lo))
		return -EINVAL;
	p = skip_blank(p);
	if (p < end && *p == '-') {
		p = skip_blank(p + 1);
		if (scan_num(&p, hi))
			return -EINVAL;
		p = skip_blank(p);
	} else {
		*hi = *lo;
	}
	if (p != end)
		return -EINVAL;
	if (*lo < VIFD_VLAN_LO || *hi > VIFD_VLAN_HI || *lo > *hi)
		return -ERANGE;
	return 0;
}

static int parse_range(struct parser *ps, const struct conf_key *k,
		       const char *v)
{
	__u32 lo, hi;
	int err;

	err = scan_range(v, v + strlen(v), &lo, &hi);
	if (err == -EINVAL)
		return fail(ps, ps->line, "%s: '%.*s' is not a range like 100-199",
			    k->name, ECHO_MAX, v);
	if (err && lo > hi && lo >= VIFD_VLAN_LO && hi <= VIFD_VLAN_HI)
		return fail(ps, ps->line, "%s: '%.*s' is reversed (low-high)",
			    k->name, ECHO_MAX, v);
	if (err)
		return fail(ps, ps->line, "%s: '%.*s' exceeds %u-%u", k->name,
			    ECHO_MAX, v, VIFD_VLAN_LO, VIFD_VLAN_HI);
	ps->cfg.vlan_pool.lo = lo;
	ps->cfg.vlan_pool.hi = hi;
	return 0;
}

/* "100, 150-155" into a set; "" is the empty set. */
static int parse_set(struct parser *ps, const struct conf_key *k,
		     const char *v)
{
	struct vlan_set *set = field(&ps->cfg, k);
	const char *p = v;

	vlan_set_clear(set);
	if (!*v)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		__u32 lo, hi, i;
		int err;

		if (!end)
			end = p + strlen(p);
		p = skip_blank(p);
		err = scan_range(p, end, &lo, &hi);
		if (err == -EINVAL)
			return fail(ps, ps->line,
				    "%s: '%.*s' is not a list like 100, 150-155",
				    k->name, ECHO_MAX, v);
		if (err && lo > hi && lo >= VIFD_VLAN_LO && hi <= VIFD_VLAN_HI)
			return fail(ps, ps->line, "%s: '%u-%u' is reversed (low-high)",
				    k->name, lo, hi);
		if (err) {
			int n = end - p;

			while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			return fail(ps, ps->line, "%s: '%.*s' exceeds %u-%u",
				    k->name, n < ECHO_MAX ? n : ECHO_MAX, p,
				    VIFD_VLAN_LO, VIFD_VLAN_HI);
		}
		for (i = lo; i <= hi; i++) {
			if (vlan_set_has(set, i))
				return fail(ps, ps->line,
					    "%s: %u listed twice", k->name, i);
			vlan_set_add(set, i);
		}
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_value(struct parser *ps, const struct conf_key *k,
		     const char *v)
{
	char why[CONFIG_LINE_MAX];
	size_t len = strlen(v), i;
	__u32 u;
	int err;

	switch (k->type) {
	case T_STR:
		if (len >= k->size)
			return fail(ps, ps->line,
				    "%s: value too long (%zu bytes, max %zu)",
				    k->name, len, k->size - 1);
		if (k->check && k->check(v, why, sizeof(why)))
			return fail(ps, ps->line, "%s: %s", k->name, why);
		memset(field(&ps->cfg, k), 0, k->size);
		memcpy(field(&ps->cfg, k), v, len);
		return 0;
	case T_U32:
		err = parse_u32(v, k->hex, &u);
		if (err == -EINVAL)
			return fail(ps, ps->line, "%s: '%.*s' is not a number",
				    k->name, ECHO_MAX, v);
		if (err || u < k->min || u > k->max)
			return fail(ps, ps->line,
				    "%s: '%.*s' is out of range %u-%u", k->name,
				    ECHO_MAX, v, k->min, k->max);
		*(__u32 *)field(&ps->cfg, k) = u;
		return 0;
	case T_ENUM:
		for (i = 0; k->names[i]; i++) {
			if (!strcmp(v, k->names[i])) {
				*(int *)field(&ps->cfg, k) = i;
				return 0;
			}
		}
		why[0] = '\0';
		for (i = 0; k->names[i]; i++) {
			strcat(why, i ? ", " : "");
			strcat(why, k->names[i]);
		}
		return fail(ps, ps->line, "%s: '%.*s' is not one of %s",
			    k->name, ECHO_MAX, v, why);
	case T_BOOL:
		if (parse_bool(v, field(&ps->cfg, k)))
			return fail(ps, ps->line,
				    "%s: '%.*s' is not a boolean (true or false)",
				    k->name, ECHO_MAX, v);
		return 0;
	case T_RANGE:
		return parse_range(ps, k, v);
	case T_SET:
		return parse_set(ps, k, v);
	}
	return fail(ps, ps->line, "%s: internal error", k->name);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

static unsigned int edit_distance(const char *a, const char *b)
{
	unsigned int row[48], i, j;
	size_t la = strlen(a), lb = strlen(b);

	if (la >= ARRAY_SIZE(row) || lb >= ARRAY_SIZE(row))
		return UINT32_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		unsigned int diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			unsigned int up = row[j];
			unsigned int best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct conf_key *key_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Closest key within two edits, for "did you mean". */
static const struct conf_key *key_guess(const char *name)
{
	const struct conf_key *best = NULL;
	unsigned int best_d = 3, d;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		d = edit_distance(name, keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = &keys[i];
		}
	}
	return best;
}

static int parse_section(struct parser *ps, char *s)
{
	char *end = strchr(s, ']');
	size_t i;

	if (!end || end[1] != '\0')
		return fail(ps, ps->line,
			    "expected '[section]': '%.*s' does not end in ']'",
			    ECHO_MAX, s);
	*end = '\0';
	s = trim(s + 1);
	for (i = 0; i < SEC__MAX; i++)
		if (!strcmp(s, section_names[i]))
			break;
	if (i == SEC__MAX)
		return fail(ps, ps->line,
			    "unknown section [%.*s] (known: daemon, dataplane, pool, health, retention, alerts, router)",
			    ECHO_MAX, s);
	if (ps->section_line[i])
		return fail(ps, ps->line, "section [%s] already opened on line %u",
			    section_names[i], ps->section_line[i]);
	ps->section_line[i] = ps->line;
	ps->section = i;
	return 0;
}

static bool key_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int parse_line(struct parser *ps, char *line)
{
	const struct conf_key *k;
	char *eq, *key, *val;
	size_t id;
	const unsigned char *c;

	line = trim(line);
	if (!*line || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return parse_section(ps, line);
	eq = strchr(line, '=');
	if (!eq)
		return fail(ps, ps->line,
			    "expected 'key = value': no '=' in '%.*s'", ECHO_MAX,
			    line);
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!*key)
		return fail(ps, ps->line, "no key before '='");
	if (!key_chars_ok(key))
		return fail(ps, ps->line,
			    "'%.*s' is not a key name (lower case, digits, '_')",
			    ECHO_MAX, key);
	k = key_find(key);
	if (!k) {
		const struct conf_key *g = key_guess(key);

		if (g)
			return fail(ps, ps->line,
				    "unknown key '%.*s' (did you mean '%s'?)",
				    ECHO_MAX, key, g->name);
		return fail(ps, ps->line, "unknown key '%.*s'", ECHO_MAX,
			    key);
	}
	if (ps->section < 0)
		return fail(ps, ps->line,
			    "key '%s' is outside any section (it belongs in [%s])",
			    k->name, section_names[k->section]);
	if ((int)k->section != ps->section)
		return fail(ps, ps->line, "key '%s' belongs in [%s], not [%s]",
			    k->name, section_names[k->section],
			    section_names[ps->section]);
	id = k - keys;
	if (ps->key_line[id])
		return fail(ps, ps->line, "duplicate key '%s' (first set on line %u)",
			    k->name, ps->key_line[id]);
	ps->key_line[id] = ps->line;
	for (c = (const unsigned char *)val; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return fail(ps, ps->line,
				    "%s: control character 0x%02x in value",
				    k->name, *c);
	if (*val == '"' || *val == '\'')
		return fail(ps, ps->line,
			    "%s: values are not quoted; remove the quotes",
			    k->name);
	return set_value(ps, k, val);
}

/* Line of key k, or of the last line when k was not in the file. */
static unsigned int key_line(const struct parser *ps, enum config_key k)
{
	return ps->key_line[k] ? ps->key_line[k] : ps->line;
}

/* Both-or-neither pairs (and the smtp triple) among optional keys. */
static int check_together(struct parser *ps, const enum config_key *set,
			  size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!*(const char *)cfield(&ps->cfg, &keys[set[i]]))
			continue;
		for (j = 0; j < n; j++)
			if (!*(const char *)cfield(&ps->cfg, &keys[set[j]]))
				return fail(ps, key_line(ps, set[i]),
					    "%s is set but %s is not",
					    keys[set[i]].name,
					    keys[set[j]].name);
	}
	return 0;
}

/* Rules between keys, once the whole file is in. */
static int check_cross(struct parser *ps)
{
	static const enum config_key ntfy[] = { CONFIG_NTFY_URL,
						CONFIG_NTFY_TOPIC };
	static const enum config_key pushover[] = { CONFIG_PUSHOVER_TOKEN,
						    CONFIG_PUSHOVER_USER };
	static const enum config_key telegram[] = { CONFIG_TELEGRAM_TOKEN,
						    CONFIG_TELEGRAM_CHAT };
	static const enum config_key smtp[] = { CONFIG_SMTP_URL,
						CONFIG_SMTP_FROM,
						CONFIG_SMTP_TO };
	static const enum config_key router_needs_url[] = {
		CONFIG_ROUTER_USER, CONFIG_ROUTER_PASSWORD_FILE };
	const struct vifd_config *c = &ps->cfg;
	struct vlan_pool pool;
	struct pool_status st;
	char why[160];
	size_t i;
	int err;

	pool_init(&pool, c->vlan_pool.lo, c->vlan_pool.hi, &c->reserved);
	pool_status(&pool, &st);
	if (!st.size) {
		/* Blame whichever of the two keys came last. */
		unsigned int line = ps->key_line[CONFIG_RESERVED];

		if (ps->key_line[CONFIG_VLAN_POOL] > line)
			line = ps->key_line[CONFIG_VLAN_POOL];
		return fail(ps, line, "vlan_pool: every id in %u-%u is reserved",
			    c->vlan_pool.lo, c->vlan_pool.hi);
	}

	if (alloc_bases_check(c->mark_base, ALLOC_TABLE_BASE_DEFAULT, why,
			      sizeof(why)))
		return fail(ps, key_line(ps, CONFIG_MARK_BASE), "%s", why);
	if (alloc_bases_check(0, c->table_base, why, sizeof(why)))
		return fail(ps, key_line(ps, CONFIG_TABLE_BASE), "%s", why);

	err = check_together(ps, ntfy, ARRAY_SIZE(ntfy));
	if (!err)
		err = check_together(ps, pushover, ARRAY_SIZE(pushover));
	if (!err)
		err = check_together(ps, telegram, ARRAY_SIZE(telegram));
	if (!err)
		err = check_together(ps, smtp, ARRAY_SIZE(smtp));
	if (err)
		return err;

	if (*c->router_url && !*c->router_user)
		return fail(ps, key_line(ps, CONFIG_ROUTER_URL),
			    "router_url is set but router_user is not");
	for (i = 0; i < ARRAY_SIZE(router_needs_url); i++) {
		enum config_key k = router_needs_url[i];

		if (*(const char *)cfield(c, &keys[k]) && !*c->router_url)
			return fail(ps, key_line(ps, k),
				    "%s is set but router_url is not",
				    keys[k].name);
	}
	return 0;
}

/*
 * One line into buf (without '\n').  1: a line, 0: end of file, -E2BIG:
 * too long, -EILSEQ: NUL byte, other -errno: read error.
 */
static int read_line(FILE *f, char *buf, size_t cap)
{
	size_t len = 0;
	int c;

	errno = 0;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			return -EILSEQ;
		if (len + 1 >= cap)
			return -E2BIG;
		buf[len++] = c;
	}
	if (c == EOF) {
		if (ferror(f))
			return errno ? -errno : -EIO;
		if (!len)
			return 0;
	}
	/* CRLF files from Windows editors. */
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return 1;
}

int config_load(const char *path, struct vifd_config *cfg, char *err,
		size_t errlen)
{
	struct parser *ps;
	char buf[CONFIG_LINE_MAX];
	FILE *f = NULL;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		ret = -ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ps->path = path;
	ps->err = err;
	ps->errlen = errlen;
	ps->section = -1;
	config_defaults(&ps->cfg);

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		goto io_err;
	}
	for (;;) {
		char *line = buf;

		ret = read_line(f, buf, sizeof(buf));
		if (ret == 0)
			break;
		ps->line++;
		if (ret == -E2BIG) {
			ret = fail(ps, ps->line, "line too long (max %d bytes)",
				   CONFIG_LINE_MAX - 1);
			goto out;
		}
		if (ret == -EILSEQ) {
			ret = fail(ps, ps->line, "NUL byte in line");
			goto out;
		}
		if (ret < 0)
			goto io_err;
		if (ps->line == 1 && !strncmp(line, "\xef\xbb\xbf", 3))
			line += 3;
		ret = parse_line(ps, line);
		if (ret)
			goto out;
	}
	ret = check_cross(ps);
	if (!ret)
		*cfg = ps->cfg;
	goto out;
io_err:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
out:
	if (f)
		fclose(f);
	free(ps);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reload.                                                            */

static bool key_differs(const struct conf_key *k, const struct vifd_config *a,
			const struct vifd_config *b)
{
	if (k->type == T_STR)
		return strncmp(cfield(a, k), cfield(b, k), k->size) != 0;
	return memcmp(cfield(a, k), cfield(b, k), k->size) != 0;
}

void config_reloadable_diff(const struct vifd_config *old,
			    const struct vifd_config *new,
			    struct config_diff *diff)
{
	size_t i;

	diff->reload = 0;
	diff->restart = 0;
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!key_differs(&keys[i], old, new))
			continue;
		if (keys[i].reload)
			diff->reload |= CONFIG_KEY_BIT(i);
		else
			diff->restart |= CONFIG_KEY_BIT(i);
	}
}

bool config_key_reloadable(enum config_key key)
{
	return (unsigned int)key < CONFIG_KEY__MAX && keys[key].reload;
}

void config_apply(struct vifd_config *cur, const struct vifd_config *next,
		  __u64 mask)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (mask & CONFIG_KEY_BIT(i))
			memcpy(field(cur, &keys[i]), cfield(next, &keys[i]),
			       keys[i].size);
}

const char *config_key_name(enum config_key key)
{
	if ((unsigned int)key >= CONFIG_KEY__MAX)
		return NULL;
	return keys[key].name;
}

const char *config_key_section(enum config_key key)
{
	if ((unsigned int)key >= CONFIG_KEY__MAX)
		return NULL;
	return section_names[keys[key].section];
}

int config_keys_format(__u64 mask, char *buf, size_t len)
{
	static const char cut[] = ", ...";
	size_t used = 0, i;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *sep = used ? ", " : "";
		size_t n;

		if (!(mask & CONFIG_KEY_BIT(i)))
			continue;
		n = strlen(sep) + strlen(keys[i].name);
		/* Keep room for ", ..." unless this is the last key. */
		if (used + n + 1 +
			    ((mask >> i) > 1 ? sizeof(cut) - 1 : 0) > len) {
			if (used && used + sizeof(cut) <= len)
				memcpy(buf + used, cut, sizeof(cut));
			else if (!used && len >= sizeof("..."))
				memcpy(buf, "...", sizeof("..."));
			return -ENOSPC;
		}
		used += snprintf(buf + used, len - used, "%s%s", sep,
				 keys[i].name);
	}
	return 0;
}
