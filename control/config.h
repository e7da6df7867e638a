/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * config.h - vifd's one config file (default /etc/vifd/vifd.conf).
 *
 * Format, line by line (docs/vifd.conf.example lists every key):
 *
 *   # comment              '#' or ';' as the first non-blank character
 *   [section]              opens a section; each section at most once
 *   key = value            blanks around key and value are ignored
 *
 * - Every key lives in one section and must be written there; a key
 *   outside its section, an unknown key or section, a key given twice
 *   and a line that is none of the three forms above are errors, so a
 *   typo never passes silently.
 * - There are no inline comments: "trunk = eth1 # uplink" sets trunk to
 *   "eth1 # uplink" (and fails, not being an interface name).  Values are
 *   not quoted either; a value starting with a quote is refused rather
 *   than stored with the quotes.
 * - Lines are at most CONFIG_LINE_MAX bytes; each string key has its own
 *   length limit; NUL and other control bytes are refused.  A UTF-8 BOM
 *   and CRLF line ends are accepted.
 * - Numbers are decimal, or hexadecimal with 0x (mark_base, table_base);
 *   booleans are true/false, yes/no, on/off or 1/0.
 * - A missing key keeps its default; an absent file section is fine.  No
 *   file at all is fine to vifd too: config_defaults() works out of the
 *   box (no trunk, so nothing is forwarded until one is set).
 *
 * Checks are syntactic and against fixed limits: whether socket_group
 * exists, the trunk is present or the DPDK engine was built is checked by
 * vifd when it uses them.  The one lookup outside the file: a timezone
 * must name a TZif file under CONFIG_ZONEINFO_DIR.
 *
 * vifd --check-config maps config_load() to its exit code:
 *   0  valid
 *   1  invalid: config_load() returned -EINVAL (err has file:line: why)
 *   2  unreadable: any other -errno (missing, permission, I/O, ENOMEM)
 */
#ifndef VIF_CONTROL_CONFIG_H
#define VIF_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "alloc.h"
#include "log.h"
#include "model.h"

#define CONFIG_PATH_DEFAULT "/etc/vifd/vifd.conf"
#define CONFIG_ZONEINFO_DIR "/usr/share/zoneinfo"

#define CONFIG_LINE_MAX 1024 /* bytes per line, newline included */
#define CONFIG_PATH_MAX 256  /* state_dir, pin_dir, dpdk_shm, password_file */
#define CONFIG_SOCK_MAX 108  /* sizeof(sun_path) */
#define CONFIG_GROUP_MAX 33  /* group names: 32 bytes */
#define CONFIG_TZ_MAX 64
#define CONFIG_URL_MAX 512
#define CONFIG_TOKEN_MAX 256 /* tokens, users, chat ids, addresses */

enum vifd_engine {
	VIFD_ENGINE_XDP = 0,
	VIFD_ENGINE_DPDK = 1,
};

/* Same meaning as dataplane/dp.h's enum dp_xdp_mode. */
enum vifd_xdp_mode {
	VIFD_XDP_AUTO = 0,    /* native, else generic with a warning */
	VIFD_XDP_NATIVE = 1,
	VIFD_XDP_GENERIC = 2,
};

struct vifd_config {
	/* [daemon] */
	char state_dir[CONFIG_PATH_MAX];
	char socket_path[CONFIG_SOCK_MAX];
	char socket_group[CONFIG_GROUP_MAX]; /* may connect (read); "" = root */
	char admin_group[CONFIG_GROUP_MAX];  /* members are admins; "" = root */
	enum vif_log_level log_level;
	char timezone[CONFIG_TZ_MAX];        /* IANA name */

	/* [dataplane] */
	enum vifd_engine engine;
	char trunk[VIFD_IFNAME_MAX];         /* "" = none */
	char pin_dir[CONFIG_PATH_MAX];
	enum vifd_xdp_mode xdp_mode;
	char dpdk_shm[CONFIG_PATH_MAX];      /* engine = dpdk: its state file */

	/* [pool] */
	struct {
		__u16 lo;
		__u16 hi;
	} vlan_pool;
	struct vlan_set reserved;
	enum vifd_addr_scheme scheme;
	__u32 mark_base;
	__u32 table_base;

	/* [health] */
	__u32 probe_interval_ms;
	__u32 probe_fail_threshold;

	/* [retention] */
	__u32 stats_retention_days;
	__u32 event_retention;               /* events kept, oldest dropped */

	/* [alerts]: every channel optional, "" = off */
	char webhook_url[CONFIG_URL_MAX];
	char ntfy_url[CONFIG_URL_MAX];
	char ntfy_topic[CONFIG_TOKEN_MAX];
	char pushover_token[CONFIG_TOKEN_MAX];
	char pushover_user[CONFIG_TOKEN_MAX];
	char telegram_token[CONFIG_TOKEN_MAX];
	char telegram_chat[CONFIG_TOKEN_MAX];
	char smtp_url[CONFIG_URL_MAX];
	char smtp_from[CONFIG_TOKEN_MAX];
	char smtp_to[CONFIG_TOKEN_MAX];      /* comma-separated */

	/* [router]: MikroTik REST, optional */
	char router_url[CONFIG_URL_MAX];
	char router_user[CONFIG_TOKEN_MAX];
	char router_password_file[CONFIG_PATH_MAX];
	bool router_tls_verify;
};

/* Every key; the value is its bit in struct config_diff's masks. */
enum config_key {
	CONFIG_STATE_DIR,
	CONFIG_SOCKET_PATH,
	CONFIG_SOCKET_GROUP,
	CONFIG_ADMIN_GROUP,
	CONFIG_LOG_LEVEL,
	CONFIG_TIMEZONE,
	CONFIG_ENGINE,
	CONFIG_TRUNK,
	CONFIG_PIN_DIR,
	CONFIG_XDP_MODE,
	CONFIG_DPDK_SHM,
	CONFIG_VLAN_POOL,
	CONFIG_RESERVED,
	CONFIG_SCHEME,
	CONFIG_MARK_BASE,
	CONFIG_TABLE_BASE,
	CONFIG_PROBE_INTERVAL_MS,
	CONFIG_PROBE_FAIL_THRESHOLD,
	CONFIG_STATS_RETENTION_DAYS,
	CONFIG_EVENT_RETENTION,
	CONFIG_WEBHOOK_URL,
	CONFIG_NTFY_URL,
	CONFIG_NTFY_TOPIC,
	CONFIG_PUSHOVER_TOKEN,
	CONFIG_PUSHOVER_USER,
	CONFIG_TELEGRAM_TOKEN,
	CONFIG_TELEGRAM_CHAT,
	CONFIG_SMTP_URL,
	CONFIG_SMTP_FROM,
	CONFIG_SMTP_TO,
	CONFIG_ROUTER_URL,
	CONFIG_ROUTER_USER,
	CONFIG_ROUTER_PASSWORD_FILE,
	CONFIG_ROUTER_TLS_VERIFY,
	CONFIG_KEY__MAX,
};

#define CONFIG_KEY_BIT(k) (1ull << (k))

/* Changed keys by what it takes to apply them (CONFIG_KEY_BIT masks). */
struct config_diff {
	__u64 reload;  /* vifd applies these on SIGHUP */
	__u64 restart; /* logged as "ignored until restart: ..." */
};

/* The built-in defaults (what docs/vifd.conf.example spells out). */
void config_defaults(struct vifd_config *cfg);

/*
 * Defaults, then the file at path.  cfg is written only on success.  On
 * failure err (if not NULL) holds one line without a newline, e.g.
 * "/etc/vifd/vifd.conf:12: vlan_pool: '100-5000' exceeds 2-4093".
 * Returns 0, -EINVAL for content, other -errno when unreadable.
 */
int config_load(const char *path, struct vifd_config *cfg, char *err,
		size_t errlen);

/*
 * Which keys differ between old and new, split by how they take effect:
 *
 *   reload:  log_level, timezone (quota boundaries from the next one on),
 *            vlan_pool and reserved (through pool_resize(), which may
 *            refuse; vifd then drops those bits before config_apply()),
 *            probe_*, *_retention*, every [alerts] and [router] key.
 *   restart: state_dir, socket_path, socket_group, admin_group, engine, trunk,
 *            pin_dir, xdp_mode, dpdk_shm, scheme, mark_base, table_base.
 *            The last three change nothing for existing VIFs, which keep
 *            the addresses, marks and tables stored with them.
 */
void config_reloadable_diff(const struct vifd_config *old,
			    const struct vifd_config *new,
			    struct config_diff *diff);
bool config_key_reloadable(enum config_key key);
/* Copy the keys in mask (CONFIG_KEY_BIT) from next into cur. */
void config_apply(struct vifd_config *cur, const struct vifd_config *next,
		  __u64 mask);
/* "trunk" etc.; NULL for a bad key. */
const char *config_key_name(enum config_key key);
const char *config_key_section(enum config_key key);
/* Key names in mask as "engine, trunk"; -ENOSPC when cut ("..."). */
int config_keys_format(__u64 mask, char *buf, size_t len);

#endif /* VIF_CONTROL_CONFIG_H */
