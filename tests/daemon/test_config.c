// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_config.c - control/config.c: defaults, docs/vifd.conf.example, every
 * key set, each kind of bad input with its file:line, reload diff.
 *
 * Usage: test_config [path/to/docs/vifd.conf.example]
 * (default: found from __FILE__, relative to where it was compiled).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* By path: the build's generated config.h (VIF_VERSION, HAVE_*) sits in
 * the build root, which meson puts on the include path ahead of control/. */
#include "config.h"
#include "harness.h"

static const char *example_path;
/* Without an argument: next to this source, as the compiler saw it. */
static char example_buf[4096];

#define ASSERT_STR(got, want, what)                                        \
	({                                                                 \
		const char *___g = (got), *___w = (want);                  \
		bool ___ok = ___g && !strcmp(___g, ___w);                  \
		if (!___ok)                                                \
			fprintf(stderr, "%s:%d: FAIL %s: got '%s', want '%s'\n", \
				__FILE__, __LINE__, (what),                \
				___g ? ___g : "(null)", ___w);             \
		___ok;                                                     \
	})

#define ASSERT_HAS(hay, needle, what)                                      \
	({                                                                 \
		const char *___h = (hay), *___n = (needle);                \
		bool ___ok = ___h && strstr(___h, ___n);                   \
		if (!___ok)                                                \
			fprintf(stderr, "%s:%d: FAIL %s: '%s' lacks '%s'\n", \
				__FILE__, __LINE__, (what),                \
				___h ? ___h : "(null)", ___n);             \
		___ok;                                                     \
	})

/* Write len bytes to a fresh temp file; its name goes into path. */
static int write_temp(const void *data, size_t len, char *path, size_t plen)
{
	const char *dir = getenv("TMPDIR");
	int fd, err = 0;

	snprintf(path, plen, "%s/vifd-conf-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	if (err)
		unlink(path);
	return err;
}

/* config_load() on text; the temp file is gone when this returns. */
static int load_bytes(const void *data, size_t len, struct vifd_config *cfg,
		      char *err, size_t errlen, char *path, size_t plen)
{
	int ret;

	ret = write_temp(data, len, path, plen);
	if (ret) {
		fprintf(stderr, "cannot write temp file: %s\n", strerror(-ret));
		return -1000;
	}
	ret = config_load(path, cfg, err, errlen);
	unlink(path);
	return ret;
}

static int load_text(const char *text, struct vifd_config *cfg, char *err,
		     size_t errlen, char *path, size_t plen)
{
	return load_bytes(text, strlen(text), cfg, err, errlen, path, plen);
}

/* ------------------------------------------------------------------ */

static int test_defaults(void)
{
	struct vifd_config c;

	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	if (!ASSERT_STR(c.state_dir, "/var/lib/vifd", "state_dir") ||
	    !ASSERT_STR(c.socket_path, "/run/vifd/vifd.sock", "socket") ||
	    !ASSERT_STR(c.socket_group, "", "group") ||
	    !ASSERT_STR(c.admin_group, "", "admin group") ||
	    !ASSERT_EQ(c.log_level, LOG_LVL_INFO, "log_level") ||
	    !ASSERT_STR(c.timezone, "UTC", "timezone") ||
	    !ASSERT_EQ(c.engine, VIFD_ENGINE_XDP, "engine") ||
	    !ASSERT_STR(c.trunk, "", "trunk") ||
	    !ASSERT_STR(c.pin_dir, "/sys/fs/bpf/vifplane/dp", "pin_dir") ||
	    !ASSERT_EQ(c.xdp_mode, VIFD_XDP_AUTO, "xdp_mode") ||
	    !ASSERT_EQ(c.vlan_pool.lo, 100, "pool lo") ||
	    !ASSERT_EQ(c.vlan_pool.hi, 199, "pool hi") ||
	    !ASSERT_EQ(vlan_set_count(&c.reserved), 0, "reserved") ||
	    !ASSERT_EQ(c.scheme, VIFD_SCHEME_VLAN24, "scheme") ||
	    !ASSERT_EQ(c.mark_base, 0x10000, "mark_base") ||
	    !ASSERT_EQ(c.table_base, 1000, "table_base") ||
	    !ASSERT_EQ(c.probe_interval_ms, 1000, "probe") ||
	    !ASSERT_EQ(c.probe_fail_threshold, 3, "threshold") ||
	    !ASSERT_EQ(c.stats_retention_days, 30, "stats days") ||
	    !ASSERT_EQ(c.event_retention, 10000, "events") ||
	    !ASSERT_STR(c.webhook_url, "", "webhook") ||
	    !ASSERT_STR(c.smtp_to, "", "smtp_to") ||
	    !ASSERT_STR(c.router_url, "", "router") ||
	    !ASSERT_EQ(c.router_tls_verify, true, "tls verify"))
		return -1;
	/* Derived values the defaults produce are legal for every VLAN. */
	if (!ASSERT_OK(alloc_bases_check(c.mark_base, c.table_base, NULL, 0),
		       "bases"))
		return -1;
	return 0;
}

/* No keys (comments and empty sections only) is the same as defaults. */
static int test_empty_file_is_defaults(void)
{
	struct vifd_config c, d;
	char err[512], path[256];

	config_defaults(&d);
	memset(&c, 0x5a, sizeof(c));
	if (!ASSERT_OK(load_text("", &c, err, sizeof(err), path, sizeof(path)),
		       err) ||
	    !ASSERT_MEM_EQ(&c, &d, sizeof(c), "empty file"))
		return -1;
	memset(&c, 0x5a, sizeof(c));
	if (!ASSERT_OK(load_text("# nothing\n\n[daemon]\n; still nothing\n"
				 "[pool]\n",
				 &c, err, sizeof(err), path, sizeof(path)),
		       err) ||
	    !ASSERT_MEM_EQ(&c, &d, sizeof(c), "comments only"))
		return -1;
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap += 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, 4096, f);

		len += n;
		if (n < 4096)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The shipped example parses, equals the defaults and shows every key. */
static int test_example_file(void)
{
	struct vifd_config c, d;
	char err[512], want[80];
	char *text;
	int k, ret = -1;

	config_defaults(&d);
	memset(&c, 0x5a, sizeof(c));
	if (!ASSERT_OK(config_load(example_path, &c, err, sizeof(err)), err) ||
	    !ASSERT_MEM_EQ(&c, &d, sizeof(c), "example == defaults"))
		return -1;
	text = slurp(example_path);
	if (!ASSERT_TRUE(text != NULL, "read example"))
		return -1;
	for (k = 0; k < CONFIG_KEY__MAX; k++) {
		/* Each key once, at the start of a line, in its section. */
		const char *at, *sec;
		char sec_hdr[40];

		snprintf(want, sizeof(want), "\n%s =", config_key_name(k));
		at = strstr(text, want);
		if (!ASSERT_TRUE(at != NULL, want) ||
		    !ASSERT_TRUE(strstr(at + 1, want) == NULL, "only once"))
			goto out;
		snprintf(sec_hdr, sizeof(sec_hdr), "\n[%s]\n",
			 config_key_section(k));
		sec = strstr(text, sec_hdr);
		if (!ASSERT_TRUE(sec && sec < at, sec_hdr))
			goto out;
	}
	if (!ASSERT_HAS(text, "[reload]", "reload notes") ||
	    !ASSERT_HAS(text, "[restart]", "restart notes"))
		goto out;
	ret = 0;
out:
	free(text);
	return ret;
}

/* Every key set away from its default, in every accepted spelling. */
static int test_all_keys_set(void)
{
	static const char text[] =
		"\xef\xbb\xbf# BOM, CRLF, blanks and ';' comments below\r\n"
		"[daemon]\r\n"
		"  state_dir   =   /srv/vifd  \r\n"
		"socket_path=/run/v.sock\n"
		"socket_group = vif-read\n"
		"admin_group = vif-admin\n"
		"; a comment\n"
		"log_level = debug\n"
		"timezone = Europe/Berlin\n"
		"\n"
		"[ dataplane ]\n"
		"engine = dpdk\n"
		"trunk = enp1s0.4000\n"
		"pin_dir = /sys/fs/bpf/other\n"
		"xdp_mode = generic\n"
		"dpdk_shm = /dev/shm/vif-other\n"
		"[pool]\n"
		"vlan_pool = 200 - 3000\n"
		"reserved = 250, 300-302 ,4093\n"
		"scheme = p2p30\n"
		"mark_base = 0xAB0000\n"
		"table_base = 20000\n"
		"[health]\n"
		"probe_interval_ms = 250\n"
		"probe_fail_threshold = 2\n"
		"[retention]\n"
		"stats_retention_days = 90\n"
		"event_retention = 500\n"
		"[alerts]\n"
		"webhook_url = https://hooks.example.com/vif?a=1#frag\n"
		"ntfy_url = https://ntfy.sh\n"
		"ntfy_topic = vifplane\n"
		"pushover_token = tok123\n"
		"pushover_user = usr456\n"
		"telegram_token = 123:ABC\n"
		"telegram_chat = -100200\n"
		"smtp_url = smtps://mail.example.com:465\n"
		"smtp_from = vifd@example.com\n"
		"smtp_to = ops@example.com, oncall@example.com\n"
		"[router]\n"
		"router_url = https://192.0.2.1/rest\n"
		"router_user = vifd\n"
		"router_password_file = /etc/vifd/router.pass\n"
		"router_tls_verify = off"; /* no final newline */
	struct vifd_config c;
	char err[512], path[256];

	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK))
		return TEST_SKIP;
	if (!ASSERT_OK(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       err))
		return -1;
	if (!ASSERT_STR(c.state_dir, "/srv/vifd", "state_dir") ||
	    !ASSERT_STR(c.socket_path, "/run/v.sock", "socket") ||
	    !ASSERT_STR(c.socket_group, "vif-read", "group") ||
	    !ASSERT_STR(c.admin_group, "vif-admin", "admin group") ||
	    !ASSERT_EQ(c.log_level, LOG_LVL_DEBUG, "log_level") ||
	    !ASSERT_STR(c.timezone, "Europe/Berlin", "timezone") ||
	    !ASSERT_EQ(c.engine, VIFD_ENGINE_DPDK, "engine") ||
	    !ASSERT_STR(c.trunk, "enp1s0.4000", "trunk") ||
	    !ASSERT_STR(c.pin_dir, "/sys/fs/bpf/other", "pin_dir") ||
	    !ASSERT_EQ(c.xdp_mode, VIFD_XDP_GENERIC, "xdp_mode") ||
	    !ASSERT_STR(c.dpdk_shm, "/dev/shm/vif-other", "dpdk_shm") ||
	    !ASSERT_EQ(c.vlan_pool.lo, 200, "lo") ||
	    !ASSERT_EQ(c.vlan_pool.hi, 3000, "hi") ||
	    !ASSERT_EQ(vlan_set_count(&c.reserved), 5, "reserved count") ||
	    !ASSERT_TRUE(vlan_set_has(&c.reserved, 250) &&
				 vlan_set_has(&c.reserved, 300) &&
				 vlan_set_has(&c.reserved, 301) &&
				 vlan_set_has(&c.reserved, 302) &&
				 vlan_set_has(&c.reserved, 4093),
			 "reserved ids") ||
	    !ASSERT_EQ(c.scheme, VIFD_SCHEME_P2P30, "scheme") ||
	    !ASSERT_EQ(c.mark_base, 0xab0000, "mark_base") ||
	    !ASSERT_EQ(c.table_base, 20000, "table_base") ||
	    !ASSERT_EQ(c.probe_interval_ms, 250, "probe") ||
	    !ASSERT_EQ(c.probe_fail_threshold, 2, "threshold") ||
	    !ASSERT_EQ(c.stats_retention_days, 90, "days") ||
	    !ASSERT_EQ(c.event_retention, 500, "events") ||
	    !ASSERT_STR(c.webhook_url, "https://hooks.example.com/vif?a=1#frag",
			"webhook keeps '#'") ||
	    !ASSERT_STR(c.ntfy_url, "https://ntfy.sh", "ntfy url") ||
	    !ASSERT_STR(c.ntfy_topic, "vifplane", "ntfy topic") ||
	    !ASSERT_STR(c.pushover_token, "tok123", "po token") ||
	    !ASSERT_STR(c.pushover_user, "usr456", "po user") ||
	    !ASSERT_STR(c.telegram_token, "123:ABC", "tg token") ||
	    !ASSERT_STR(c.telegram_chat, "-100200", "tg chat") ||
	    !ASSERT_STR(c.smtp_url, "smtps://mail.example.com:465", "smtp") ||
	    !ASSERT_STR(c.smtp_from, "vifd@example.com", "from") ||
	    !ASSERT_STR(c.smtp_to, "ops@example.com, oncall@example.com",
			"to") ||
	    !ASSERT_STR(c.router_url, "https://192.0.2.1/rest", "router") ||
	    !ASSERT_STR(c.router_user, "vifd", "router user") ||
	    !ASSERT_STR(c.router_password_file, "/etc/vifd/router.pass",
			"password file") ||
	    !ASSERT_EQ(c.router_tls_verify, false, "tls off"))
		return -1;
	return 0;
}

static int test_value_spellings(void)
{
	static const struct {
		const char *text;
		size_t off;  /* field to look at */
		size_t size;
		__u32 want;  /* read as u32 (or bool/u16 widened) */
	} cases[] = {
#define AT(f) offsetof(struct vifd_config, f), sizeof(((struct vifd_config *)0)->f)
		{ "[pool]\nmark_base = 0\n", AT(mark_base), 0 },
		{ "[pool]\nmark_base = 0x0\n", AT(mark_base), 0 },
		{ "[pool]\nmark_base = 4294963202\n", AT(mark_base),
		  4294963202u },
		{ "[pool]\ntable_base = 254\n", AT(table_base), 254 },
		{ "[pool]\ntable_base = 0x3e8\n", AT(table_base), 1000 },
		{ "[health]\nprobe_interval_ms = 100\n", AT(probe_interval_ms),
		  100 },
		{ "[health]\nprobe_interval_ms = 60000\n", AT(probe_interval_ms),
		  60000 },
		{ "[router]\nrouter_tls_verify = no\n", AT(router_tls_verify),
		  0 },
		{ "[router]\nrouter_tls_verify = 1\n", AT(router_tls_verify),
		  1 },
		{ "[router]\nrouter_tls_verify = yes\n", AT(router_tls_verify),
		  1 },
		{ "[pool]\nvlan_pool = 150\n", AT(vlan_pool), 150 | 150u << 16 },
		{ "[pool]\nvlan_pool = 2-4093\n", AT(vlan_pool),
		  2 | 4093u << 16 },
#undef AT
	};
	struct vifd_config c;
	char err[512], path[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		__u32 got = 0;

		if (!ASSERT_OK(load_text(cases[i].text, &c, err, sizeof(err),
					 path, sizeof(path)),
			       err))
			return -1;
		memcpy(&got, (char *)&c + cases[i].off, cases[i].size);
		if (!ASSERT_EQ(got, cases[i].want, cases[i].text))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

struct bad_case {
	const char *text;
	unsigned int line;
	const char *msg; /* must appear after "path:line: " */
};

static const struct bad_case bad_cases[] = {
	/* Unknown keys and sections. */
	{ "[daemon]\nstate_dir = /x\nstat_dir = /y\n", 3,
	  "unknown key 'stat_dir' (did you mean 'state_dir'?)" },
	{ "[health]\nzzzzzzzz = 1\n", 2, "unknown key 'zzzzzzzz'" },
	{ "[deamon]\n", 1, "unknown section [deamon]" },
	{ "[pool] x\n", 1, "does not end in ']'" },
	{ "[pool\n", 1, "does not end in ']'" },
	{ "trunk = eth0\n", 1,
	  "key 'trunk' is outside any section (it belongs in [dataplane])" },
	{ "[daemon]\ntrunk = eth0\n", 2,
	  "key 'trunk' belongs in [dataplane], not [daemon]" },
	{ "[daemon]\nTrunk = eth0\n", 2, "'Trunk' is not a key name" },
	{ "[daemon]\n = x\n", 2, "no key before '='" },
	/* Duplicates. */
	{ "[dataplane]\ntrunk = eth0\n\ntrunk = eth1\n", 4,
	  "duplicate key 'trunk' (first set on line 2)" },
	{ "[pool]\n[health]\n[pool]\n", 3,
	  "section [pool] already opened on line 1" },
	/* Missing '='. */
	{ "[daemon]\n# ok\nstate_dir /var/lib/vifd\n", 3,
	  "expected 'key = value': no '=' in 'state_dir /var/lib/vifd'" },
	/* Ranges. */
	{ "[pool]\nvlan_pool = 100-5000\n", 2,
	  "vlan_pool: '100-5000' exceeds 2-4093" },
	{ "[pool]\nvlan_pool = 1-100\n", 2, "vlan_pool: '1-100' exceeds 2-4093" },
	{ "[pool]\nvlan_pool = 4094\n", 2, "exceeds 2-4093" },
	{ "[pool]\nvlan_pool = 199-100\n", 2, "'199-100' is reversed" },
	{ "[pool]\nvlan_pool = 100-\n", 2, "is not a range like 100-199" },
	{ "[pool]\nvlan_pool = 100-199-300\n", 2, "is not a range" },
	{ "[pool]\nvlan_pool = one-two\n", 2, "is not a range" },
	{ "[pool]\nvlan_pool = 99999999999-1\n", 2, "is not a range" },
	{ "[pool]\nreserved = 100, 5000\n", 2, "reserved: '5000' exceeds 2-4093" },
	{ "[pool]\nreserved = 150-155, 152\n", 2, "reserved: 152 listed twice" },
	{ "[pool]\nreserved = 100, 155-150\n", 2,
	  "reserved: '155-150' is reversed" },
	{ "[pool]\nreserved = 100,\n", 2, "is not a list like 100, 150-155" },
	{ "[pool]\nreserved = 100;101\n", 2, "is not a list" },
	{ "[pool]\nreserved = 100-101\nvlan_pool = 100-101\n", 3,
	  "vlan_pool: every id in 100-101 is reserved" },
	{ "[health]\nprobe_interval_ms = 50\n", 2,
	  "probe_interval_ms: '50' is out of range 100-60000" },
	{ "[health]\nprobe_interval_ms = 60001\n", 2, "out of range" },
	{ "[health]\nprobe_fail_threshold = 0\n", 2,
	  "probe_fail_threshold: '0' is out of range 1-100" },
	{ "[retention]\nstats_retention_days = 99999999999\n", 2,
	  "'99999999999' is out of range 1-3650" },
	{ "[retention]\nevent_retention = 99\n", 2, "out of range 100-" },
	{ "[pool]\nmark_base = 0xFFFFFFFF\n", 2, "mark_base 0xffffffff overflows" },
	{ "[pool]\ntable_base = 253\n", 2, "252-255" },
	{ "[pool]\ntable_base = 0x100000000\n", 2, "out of range" },
	/* Leading zeros are decimal, not octal (that would say 8). */
	{ "[pool]\ntable_base = 0010\n", 2, "table_base 10: tables 12-4103" },
	/* Not numbers. */
	{ "[health]\nprobe_interval_ms = fast\n", 2,
	  "probe_interval_ms: 'fast' is not a number" },
	{ "[health]\nprobe_interval_ms = -1\n", 2, "'-1' is not a number" },
	{ "[health]\nprobe_interval_ms = 1e3\n", 2, "'1e3' is not a number" },
	{ "[health]\nprobe_interval_ms = 1 000\n", 2, "is not a number" },
	{ "[health]\nprobe_interval_ms = 0x3e8\n", 2, "'0x3e8' is not a number" },
	{ "[health]\nprobe_interval_ms =\n", 2, "'' is not a number" },
	{ "[pool]\nmark_base = 0x\n", 2, "'0x' is not a number" },
	{ "[pool]\nmark_base = 0xg1\n", 2, "is not a number" },
	/* Time zones. */
	{ "[daemon]\ntimezone = Europe/Atlantis\n", 2,
	  "timezone: 'Europe/Atlantis' is not a time zone" },
	{ "[daemon]\ntimezone = ../../etc/passwd\n", 2,
	  "is not a time zone name like Europe/Berlin" },
	{ "[daemon]\ntimezone = /Europe/Berlin\n", 2, "is not a time zone name" },
	{ "[daemon]\ntimezone = Europe//Berlin\n", 2, "is not a time zone name" },
	{ "[daemon]\ntimezone = zone.tab\n", 2, "is not a TZif file" },
	{ "[daemon]\ntimezone = Europe\n", 2, "is not a" },
	{ "[daemon]\ntimezone =\n", 2, "is not a time zone name" },
	/* Enums and booleans. */
	{ "[dataplane]\nengine = ebpf\n", 2,
	  "engine: 'ebpf' is not one of xdp, dpdk" },
	{ "[dataplane]\nxdp_mode = Native\n", 2,
	  "'Native' is not one of auto, native, generic" },
	{ "[dataplane]\ndpdk_shm = vifplane-dp\n", 2,
	  "dpdk_shm: 'vifplane-dp' is not an absolute path" },
	{ "[dataplane]\ndpdk_shm = /dev/shm/\n", 2,
	  "dpdk_shm: '/dev/shm/' names a directory, not a file" },
	{ "[dataplane]\ndpdk_shm =\n", 2, "is not an absolute path" },
	{ "[daemon]\nlog_level = trace\n", 2, "not one of warn, info, debug" },
	{ "[pool]\nscheme = vlan30\n", 2, "not one of vlan24, p2p30" },
	{ "[router]\nrouter_tls_verify = maybe\n", 2,
	  "router_tls_verify: 'maybe' is not a boolean" },
	/* Strings. */
	{ "[daemon]\nstate_dir = var/lib/vifd\n", 2,
	  "state_dir: 'var/lib/vifd' is not an absolute path" },
	{ "[daemon]\nstate_dir =\n", 2, "is not an absolute path" },
	{ "[daemon]\nsocket_group = \"adm\"\n", 2,
	  "socket_group: values are not quoted" },
	{ "[daemon]\nsocket_group = -adm\n", 2, "is not a group name" },
	{ "[daemon]\nsocket_group = a:b\n", 2, "is not a group name" },
	{ "[dataplane]\ntrunk = eth1 # uplink\n", 2,
	  "trunk: 'eth1 # uplink' is not an interface name" },
	{ "[dataplane]\ntrunk = abcdefghijklmnop\n", 2,
	  "trunk: value too long (16 bytes, max 15)" },
	{ "[dataplane]\ntrunk = ..\n", 2, "is not an interface name" },
	{ "[daemon]\nstate_dir = /var/\tlib\n", 2,
	  "state_dir: control character 0x09 in value" },
	{ "[daemon]\nstate_dir = /var/\x1b[0m\n", 2, "control character 0x1b" },
	{ "[alerts]\nwebhook_url = ftp://example.com\n", 2,
	  "webhook_url: 'ftp://example.com' is not a https:// URL" },
	{ "[alerts]\nwebhook_url = https://\n", 2, "is not a https:// URL" },
	{ "[alerts]\nwebhook_url = https://a b\n", 2, "is not a https:// URL" },
	{ "[alerts]\nsmtp_url = https://mail\n", 2, "is not a smtps:// URL" },
	{ "[alerts]\nntfy_topic = a b\n", 2, "ntfy_topic: 'a b' contains blanks" },
	{ "[alerts]\nsmtp_from = root\n", 2, "is not a mail address" },
	{ "[alerts]\nsmtp_from = a@b@c\n", 2, "is not a mail address" },
	{ "[alerts]\nsmtp_to = a@b.c, ops\n", 2,
	  "is not a comma-separated list of mail addresses" },
	{ "[alerts]\nsmtp_to = a@b.c,\n", 2, "is not a comma-separated list" },
	{ "[router]\nrouter_password_file = pass.txt\n", 2,
	  "is not an absolute path" },
	/* Keys that need each other. */
	{ "[alerts]\nntfy_url = https://ntfy.sh\n", 2,
	  "ntfy_url is set but ntfy_topic is not" },
	{ "[alerts]\n\npushover_user = u\n", 3,
	  "pushover_user is set but pushover_token is not" },
	{ "[alerts]\ntelegram_token = t\n", 2,
	  "telegram_token is set but telegram_chat is not" },
	{ "[alerts]\nsmtp_url = smtp://m\nsmtp_to = a@b.c\n", 2,
	  "smtp_url is set but smtp_from is not" },
	{ "[router]\nrouter_url = https://r/rest\n", 2,
	  "router_url is set but router_user is not" },
	{ "[router]\nrouter_user = u\n", 2,
	  "router_user is set but router_url is not" },
};

static int test_bad_input(void)
{
	struct vifd_config c, sentinel;
	char err[512], path[256], prefix[300];
	size_t i;

	memset(&sentinel, 0x77, sizeof(sentinel));
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];
		int ret;

		memcpy(&c, &sentinel, sizeof(c));
		ret = load_text(b->text, &c, err, sizeof(err), path,
				sizeof(path));
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, b->line);
		if (!ASSERT_EQ(ret, -EINVAL, b->text) ||
		    !ASSERT_TRUE(!strncmp(err, prefix, strlen(prefix)),
				 "file:line prefix") ||
		    !ASSERT_HAS(err + strlen(prefix), b->msg, b->text) ||
		    !ASSERT_MEM_EQ(&c, &sentinel, sizeof(c), "cfg untouched")) {
			fprintf(stderr, "  case %zu: err '%s', want prefix '%s'\n",
				i, err, prefix);
			return -1;
		}
	}
	return 0;
}

/* Lines at and past CONFIG_LINE_MAX, NUL bytes, long string values. */
static int test_bad_bytes(void)
{
	static const char nul[] = "[daemon]\n\nstate_dir = /a\0b\n";
	char text[CONFIG_LINE_MAX + 64], err[512], path[256], prefix[300];
	struct vifd_config c;
	int n;

	/* The longest line accepted: 1023 bytes. */
	n = snprintf(text, sizeof(text), "[daemon]\nstate_dir = /");
	memset(text + n, 'a', CONFIG_LINE_MAX - 1 - (n - 9));
	n += CONFIG_LINE_MAX - 1 - (n - 9);
	text[n++] = '\n';
	text[n] = '\0';
	if (!ASSERT_EQ(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       -EINVAL, "1023-byte line") ||
	    !ASSERT_HAS(err, "state_dir: value too long (1011 bytes, max 255)",
			"value too long"))
		return -1;

	/* One more byte is a line too long, whatever it holds. */
	n = snprintf(text, sizeof(text), "[daemon]\n#");
	memset(text + n, 'x', CONFIG_LINE_MAX - 1);
	n += CONFIG_LINE_MAX - 1;
	text[n++] = '\n';
	text[n] = '\0';
	if (!ASSERT_EQ(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       -EINVAL, "1024-byte line"))
		return -1;
	snprintf(prefix, sizeof(prefix), "%s:2: line too long (max 1023 bytes)",
		 path);
	if (!ASSERT_STR(err, prefix, "line too long"))
		return -1;

	/* A comment of exactly 1023 bytes is fine. */
	text[n - 2] = '\n';
	text[n - 1] = '\0';
	if (!ASSERT_OK(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       err))
		return -1;

	/* socket_path must fit sun_path: 107 bytes. */
	n = snprintf(text, sizeof(text), "[daemon]\nsocket_path = /");
	memset(text + n, 's', 107);
	text[n + 107] = '\0';
	if (!ASSERT_EQ(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       -EINVAL, "socket_path 108") ||
	    !ASSERT_HAS(err, ":2: socket_path: value too long (108 bytes, max 107)",
			"socket too long"))
		return -1;
	text[n + 106] = '\0';
	if (!ASSERT_OK(load_text(text, &c, err, sizeof(err), path,
				 sizeof(path)),
		       err) ||
	    !ASSERT_EQ(strlen(c.socket_path), 107, "107 fits"))
		return -1;

	/* A NUL byte. */
	if (!ASSERT_EQ(load_bytes(nul, sizeof(nul) - 1, &c, err, sizeof(err),
				  path, sizeof(path)),
		       -EINVAL, "NUL") ||
	    !ASSERT_HAS(err, ":3: NUL byte in line", "NUL message"))
		return -1;
	return 0;
}

/* Missing file and directory: -errno other than -EINVAL (exit 2). */
static int test_unreadable(void)
{
	struct vifd_config c, sentinel;
	char err[512], dir[] = "/tmp/vifd-conf-dir-XXXXXX";
	int ret;

	memset(&sentinel, 0x33, sizeof(sentinel));
	memcpy(&c, &sentinel, sizeof(c));
	ret = config_load("/nonexistent/vifd.conf", &c, err, sizeof(err));
	if (!ASSERT_EQ(ret, -ENOENT, "missing") ||
	    !ASSERT_STR(err, "/nonexistent/vifd.conf: No such file or directory",
			"missing err") ||
	    !ASSERT_MEM_EQ(&c, &sentinel, sizeof(c), "untouched"))
		return -1;
	if (!ASSERT_TRUE(mkdtemp(dir) != NULL, "mkdtemp"))
		return -1;
	ret = config_load(dir, &c, err, sizeof(err));
	rmdir(dir);
	if (!ASSERT_EQ(ret, -EISDIR, "directory") ||
	    !ASSERT_HAS(err, "Is a directory", "dir err") ||
	    !ASSERT_MEM_EQ(&c, &sentinel, sizeof(c), "untouched 2"))
		return -1;
	/* err may be NULL. */
	if (!ASSERT_EQ(config_load("/nonexistent/x", &c, NULL, 0), -ENOENT,
		       "NULL err") ||
	    !ASSERT_EQ(config_load(dir, &c, NULL, 0), -ENOENT, "gone"))
		return -1;
	return 0;
}

/* A short err buffer is cut, terminated, never overrun. */
static int test_short_err(void)
{
	struct vifd_config c;
	char err[16], path[256];

	memset(err, 'Z', sizeof(err));
	if (!ASSERT_EQ(load_text("[pool]\nvlan_pool = 100-5000\n", &c, err,
				 sizeof(err), path, sizeof(path)),
		       -EINVAL, "short") ||
	    !ASSERT_EQ(strlen(err), sizeof(err) - 1, "cut") ||
	    !ASSERT_TRUE(!strncmp(err, path, sizeof(err) - 1), "path first"))
		return -1;
	if (!ASSERT_EQ(load_text("[pool]\nvlan_pool = x\n", &c, NULL, 0, path,
				 sizeof(path)),
		       -EINVAL, "NULL err"))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

static int test_reload_diff(void)
{
	struct vifd_config old, new, cur;
	struct config_diff d;
	char buf[256];

	config_defaults(&old);
	new = old;
	config_reloadable_diff(&old, &new, &d);
	if (!ASSERT_EQ(d.reload, 0, "same: reload") ||
	    !ASSERT_EQ(d.restart, 0, "same: restart"))
		return -1;

	new.log_level = LOG_LVL_DEBUG;
	new.probe_interval_ms = 500;
	snprintf(new.webhook_url, sizeof(new.webhook_url), "https://x/y");
	new.vlan_pool.hi = 299;
	snprintf(new.trunk, sizeof(new.trunk), "eth1");
	new.engine = VIFD_ENGINE_DPDK;
	new.table_base = 2000;
	config_reloadable_diff(&old, &new, &d);
	if (!ASSERT_EQ(d.reload,
		       CONFIG_KEY_BIT(CONFIG_LOG_LEVEL) |
			       CONFIG_KEY_BIT(CONFIG_PROBE_INTERVAL_MS) |
			       CONFIG_KEY_BIT(CONFIG_WEBHOOK_URL) |
			       CONFIG_KEY_BIT(CONFIG_VLAN_POOL),
		       "reload mask") ||
	    !ASSERT_EQ(d.restart,
		       CONFIG_KEY_BIT(CONFIG_ENGINE) |
			       CONFIG_KEY_BIT(CONFIG_TRUNK) |
			       CONFIG_KEY_BIT(CONFIG_TABLE_BASE),
		       "restart mask"))
		return -1;
	if (!ASSERT_OK(config_keys_format(d.restart, buf, sizeof(buf)),
		       "format") ||
	    !ASSERT_STR(buf, "engine, trunk, table_base", "restart names") ||
	    !ASSERT_OK(config_keys_format(d.reload, buf, sizeof(buf)),
		       "format 2") ||
	    !ASSERT_STR(buf, "log_level, vlan_pool, probe_interval_ms, webhook_url",
			"reload names"))
		return -1;

	/* SIGHUP: the pool change is refused elsewhere, the rest applied. */
	cur = old;
	config_apply(&cur, &new, d.reload & ~CONFIG_KEY_BIT(CONFIG_VLAN_POOL));
	if (!ASSERT_EQ(cur.log_level, LOG_LVL_DEBUG, "applied log") ||
	    !ASSERT_EQ(cur.probe_interval_ms, 500, "applied probe") ||
	    !ASSERT_STR(cur.webhook_url, "https://x/y", "applied webhook") ||
	    !ASSERT_EQ(cur.vlan_pool.hi, 199, "pool kept") ||
	    !ASSERT_STR(cur.trunk, "", "trunk kept") ||
	    !ASSERT_EQ(cur.engine, VIFD_ENGINE_XDP, "engine kept"))
		return -1;
	config_reloadable_diff(&cur, &new, &d);
	if (!ASSERT_EQ(d.reload, CONFIG_KEY_BIT(CONFIG_VLAN_POOL), "left") ||
	    !ASSERT_EQ(d.restart,
		       CONFIG_KEY_BIT(CONFIG_ENGINE) |
			       CONFIG_KEY_BIT(CONFIG_TRUNK) |
			       CONFIG_KEY_BIT(CONFIG_TABLE_BASE),
		       "restart left"))
		return -1;

	/* A string differing only after its NUL is not a change. */
	new = old;
	new.trunk[5] = 'q';
	config_reloadable_diff(&old, &new, &d);
	if (!ASSERT_EQ(d.restart, 0, "bytes after NUL"))
		return -1;
	/* A reserved-set change is reloadable; applying copies it whole
	 * (4093 lives in the set's last byte). */
	vlan_set_add(&new.reserved, 150);
	vlan_set_add(&new.reserved, 4093);
	config_reloadable_diff(&old, &new, &d);
	if (!ASSERT_EQ(d.reload, CONFIG_KEY_BIT(CONFIG_RESERVED), "reserved"))
		return -1;
	/* Full-length strings too. */
	snprintf(new.timezone, sizeof(new.timezone), "%063d", 7);
	cur = old;
	config_apply(&cur, &new, CONFIG_KEY_BIT(CONFIG_RESERVED) |
					 CONFIG_KEY_BIT(CONFIG_TIMEZONE));
	if (!ASSERT_TRUE(vlan_set_has(&cur.reserved, 4093), "4093 applied") ||
	    !ASSERT_TRUE(vlan_set_has(&cur.reserved, 150), "150 applied") ||
	    !ASSERT_STR(cur.timezone, new.timezone, "63-byte string applied"))
		return -1;
	config_reloadable_diff(&cur, &new, &d);
	if (!ASSERT_EQ(d.reload, 0, "nothing left") ||
	    !ASSERT_EQ(d.restart, 0, "nothing left 2"))
		return -1;
	return 0;
}

/* The split of keys is exactly the documented one. */
static int test_reload_classes(void)
{
	static const enum config_key restart[] = {
		CONFIG_STATE_DIR, CONFIG_SOCKET_PATH, CONFIG_SOCKET_GROUP,
		CONFIG_ADMIN_GROUP, CONFIG_ENGINE,    CONFIG_TRUNK,       CONFIG_PIN_DIR,
		CONFIG_XDP_MODE,  CONFIG_SCHEME,      CONFIG_MARK_BASE,
		CONFIG_TABLE_BASE, CONFIG_DPDK_SHM,
	};
	__u64 want = 0;
	size_t i;
	int k;

	for (i = 0; i < ARRAY_SIZE(restart); i++)
		want |= CONFIG_KEY_BIT(restart[i]);
	for (k = 0; k < CONFIG_KEY__MAX; k++)
		if (!ASSERT_EQ(config_key_reloadable(k),
			       !(want & CONFIG_KEY_BIT(k)),
			       config_key_name(k)))
			return -1;
	if (!ASSERT_EQ(config_key_reloadable(CONFIG_KEY__MAX), 0, "past end") ||
	    !ASSERT_TRUE(config_key_name(CONFIG_KEY__MAX) == NULL, "name") ||
	    !ASSERT_TRUE(config_key_section(-1) == NULL, "section"))
		return -1;
	/* Names are unique. */
	for (k = 0; k < CONFIG_KEY__MAX; k++) {
		int j;

		for (j = k + 1; j < CONFIG_KEY__MAX; j++)
			if (!ASSERT_TRUE(strcmp(config_key_name(k),
						config_key_name(j)),
					 config_key_name(k)))
				return -1;
	}
	return 0;
}

static int test_keys_format_cut(void)
{
	__u64 all = CONFIG_KEY_BIT(CONFIG_STATE_DIR) |
		    CONFIG_KEY_BIT(CONFIG_SOCKET_PATH) |
		    CONFIG_KEY_BIT(CONFIG_TRUNK);
	char buf[32];

	/* "state_dir, socket_path, trunk" is 29 bytes + NUL. */
	if (!ASSERT_OK(config_keys_format(all, buf, 30), "fits") ||
	    !ASSERT_STR(buf, "state_dir, socket_path, trunk", "all"))
		return -1;
	if (!ASSERT_EQ(config_keys_format(all, buf, 29), -ENOSPC, "cut") ||
	    !ASSERT_STR(buf, "state_dir, socket_path, ...", "cut text"))
		return -1;
	if (!ASSERT_EQ(config_keys_format(all, buf, 4), -ENOSPC, "tiny") ||
	    !ASSERT_STR(buf, "...", "tiny text") ||
	    !ASSERT_OK(config_keys_format(0, buf, sizeof(buf)), "none") ||
	    !ASSERT_STR(buf, "", "none text"))
		return -1;
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_defaults),
	TEST_CASE(test_empty_file_is_defaults),
	TEST_CASE(test_example_file),
	TEST_CASE(test_all_keys_set),
	TEST_CASE(test_value_spellings),
	TEST_CASE(test_bad_input),
	TEST_CASE(test_bad_bytes),
	TEST_CASE(test_unreadable),
	TEST_CASE(test_short_err),
	TEST_CASE(test_reload_diff),
	TEST_CASE(test_reload_classes),
	TEST_CASE(test_keys_format_cut),
};

int main(int argc, char **argv)
{
	if (argc > 1) {
		example_path = argv[1];
	} else {
		const char *src = __FILE__, *tail = "tests/daemon/test_config.c";
		size_t n = strlen(src), t = strlen(tail);

		snprintf(example_buf, sizeof(example_buf), "%.*sdocs/vifd.conf.example",
			 (int)(n >= t ? n - t : 0), src);
		example_path = example_buf;
	}
	return harness_run(cases, ARRAY_SIZE(cases));
}
