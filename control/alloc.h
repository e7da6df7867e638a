/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * alloc.h - what vifd derives for a VIF, as pure functions over in-memory
 * state: the VLAN pool, addresses, routing mark and table, interface
 * names, chain validation and quota period boundaries.  Nothing here
 * touches the store, netlink or the dataplane; the store persists the
 * results and reloads them through pool_alloc_specific().
 *
 * Sub-namespaces: vlan_set_* (a set of VLAN ids), pool_* (the pool),
 * alloc_* (per-VIF derivations), chain_* and quota_period_*.
 *
 * Errors are negative errnos.  Functions that can explain a refusal take
 * (char *err, size_t errlen); err may be NULL.
 */
#ifndef VIF_CONTROL_ALLOC_H
#define VIF_CONTROL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/types.h>

#include "model.h"
#include "vif_abi.h"

/*
 * VLAN ids a VIF may use.  Narrower than the ABI's 1..4094: VLAN 1 is the
 * default/native VLAN on most switches (MikroTik included) and 4094 is
 * commonly kept for management, so neither is handed to a service.
 */
#define VIFD_VLAN_LO 2
#define VIFD_VLAN_HI 4093

/* ------------------------------------------------------------------ */
/* vlan_set: one bit per VLAN id 0..4095 (512 bytes, no allocation).  */

struct vlan_set {
	__u64 bits[VIF_VLAN_SLOTS / 64];
};

static inline void vlan_set_clear(struct vlan_set *s)
{
	memset(s, 0, sizeof(*s));
}

static inline bool vlan_set_has(const struct vlan_set *s, unsigned int v)
{
	if (v >= VIF_VLAN_SLOTS)
		return false;
	return (s->bits[v / 64] >> (v % 64)) & 1;
}

static inline void vlan_set_add(struct vlan_set *s, unsigned int v)
{
	if (v < VIF_VLAN_SLOTS)
		s->bits[v / 64] |= 1ull << (v % 64);
}

static inline void vlan_set_del(struct vlan_set *s, unsigned int v)
{
	if (v < VIF_VLAN_SLOTS)
		s->bits[v / 64] &= ~(1ull << (v % 64));
}

unsigned int vlan_set_count(const struct vlan_set *s);

/*
 * Write the set as ascending ids with runs collapsed: "101-103, 140".
 * An empty set writes "".  Returns 0, or -ENOSPC when buf was too small;
 * the text is then cut at an id boundary and ends in "...".
 */
int vlan_set_format(const struct vlan_set *s, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* The VLAN pool.                                                     */

/*
 * Ids lo..hi (within VIFD_VLAN_LO..VIFD_VLAN_HI), minus the reserved set,
 * are handed out lowest first.  Reserved ids outside lo..hi are allowed
 * and simply have no effect until a resize takes them in.
 */
struct vlan_pool {
	__u16 lo;
	__u16 hi;
	struct vlan_set reserved;
	struct vlan_set allocated; /* always within lo..hi, never reserved */
};

enum pool_level {
	POOL_LEVEL_NONE = 0,
	POOL_LEVEL_WARN = 1,     /* allocated >= 80% of usable ids */
	POOL_LEVEL_CRITICAL = 2, /* allocated >= 95%, or no usable id */
};

struct pool_status {
	unsigned int size;      /* usable ids: lo..hi minus reserved */
	unsigned int allocated;
	unsigned int free;
	unsigned int percent;   /* allocated * 100 / size, rounded down */
	enum pool_level level;
};

/* -EINVAL unless VIFD_VLAN_LO <= lo <= hi <= VIFD_VLAN_HI.  reserved may
 * be NULL.  Starts with nothing allocated. */
int pool_init(struct vlan_pool *p, __u16 lo, __u16 hi,
	      const struct vlan_set *reserved);
/* Lowest free id into *vlan; -ENOSPC when none is left. */
int pool_alloc(struct vlan_pool *p, __u16 *vlan);
/*
 * Take one given id (restoring state from the store, or an operator's
 * choice): -ERANGE outside lo..hi, -EPERM reserved, -EEXIST taken.
 */
int pool_alloc_specific(struct vlan_pool *p, __u16 vlan);
/* -ENOENT when vlan was not allocated. */
int pool_free(struct vlan_pool *p, __u16 vlan);
bool pool_is_allocated(const struct vlan_pool *p, __u16 vlan);
void pool_status(const struct vlan_pool *p, struct pool_status *st);
const char *pool_level_name(enum pool_level level);
/*
 * Move the pool to lo..hi with a new reserved set (NULL: keep the current
 * one).  Refuses with -EBUSY, changing nothing, when an allocated id would
 * fall outside the new range or become reserved; those ids go into
 * *stranded (if not NULL) and err reads
 * "would strand 2 allocated ids: 101, 140".  -EINVAL for a bad range.
 */
int pool_resize(struct vlan_pool *p, __u16 lo, __u16 hi,
		const struct vlan_set *reserved, struct vlan_set *stranded,
		char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Addressing.                                                        */

/*
 * VIFD_SCHEME_VLAN24: VLAN v owns the v-th /24 above 10.100.0.0:
 *   subnet = 10.100.0.0 + v * 256, /24, service .1, host/router side .254.
 * For v <= 255 that is literally 10.100.{v}.0/24 (default pool 100-199);
 * above, the third octet carries into the second: v = 256 gives
 * 10.101.0.0/24 and v = 4093 gives 10.115.253.0/24.  Every VIFD_VLAN_*
 * id fits (10.100.0.0 - 10.115.255.255).
 *
 * VIFD_SCHEME_P2P30: block n is the /30 at the bottom of the n-th /24 of
 * 172.16.0.0/12:
 *   subnet = 172.16.0.0 + n * 256, /30, router .1, service .2.
 * So n <= 255 is literally 172.16.{n}.0/30, the old design's notation.
 * The /12 holds ALLOC_P2P30_BLOCKS = 4096 such blocks (n = 0..4095, the
 * last being 172.31.255.0/30); a larger n is -ERANGE.  vifd uses n = vlan,
 * so every VLAN has its block without extra state and v = 4093 gets
 * 172.31.253.0/30.
 */
#define ALLOC_VLAN24_BASE 0x0a640000u /* 10.100.0.0, host order */
#define ALLOC_P2P30_BASE 0xac100000u  /* 172.16.0.0, host order */
#define ALLOC_P2P30_BLOCKS 4096u

struct alloc_addr {
	__be32 subnet;   /* net order, masked */
	__u8 prefix_len;
	__be32 svc_addr; /* net order: the service's address */
	__be32 gw_addr;  /* net order: host/router side */
};

/* -EINVAL for a VLAN outside VIFD_VLAN_LO..VIFD_VLAN_HI. */
int alloc_addr_vlan24(__u16 vlan, struct alloc_addr *out);
/* -ERANGE for n >= ALLOC_P2P30_BLOCKS. */
int alloc_addr_p2p30(__u32 n, struct alloc_addr *out);
/* The scheme's address plan for a VLAN (P2P30 with n = vlan). */
int alloc_addr(enum vifd_addr_scheme scheme, __u16 vlan,
	       struct alloc_addr *out);

/* ------------------------------------------------------------------ */
/* Routing mark and table.                                            */

/*
 * mark = mark_base + vlan, table = table_base + vlan: one per VLAN, so
 * unique while VLANs are.  The bases are checked against the whole
 * VIFD_VLAN_LO..VIFD_VLAN_HI span, not the current pool, so resizing the
 * pool can never produce a bad value:
 *   - no u32 overflow (base <= UINT32_MAX - VIFD_VLAN_HI);
 *   - marks are never 0 (0 means "unmarked" to the kernel);
 *   - tables never hit 0 (unspec), 252 (compat), 253 (default),
 *     254 (main) or 255 (local): table_base >= 254 or the span would
 *     cross them.
 */
#define ALLOC_MARK_BASE_DEFAULT 0x10000u /* marks 0x10002-0x10ffd */
#define ALLOC_TABLE_BASE_DEFAULT 1000u   /* tables 1002-5093 */
#define ALLOC_TABLE_BASE_MIN 254u

bool alloc_table_reserved(__u32 table);
/* Check both bases as above; -ERANGE with the reason in err. */
int alloc_bases_check(__u32 mark_base, __u32 table_base, char *err,
		      size_t errlen);
/* -EINVAL for a bad VLAN, -ERANGE for a value the rules above forbid. */
int alloc_mark(__u32 mark_base, __u16 vlan, __u32 *mark);
int alloc_table(__u32 table_base, __u16 vlan, __u32 *table);

/*
 * The marks mark_base + VIFD_VLAN_LO .. mark_base + VIFD_VLAN_HI, every
 * mark a VIF can ever get with this base, as the fewest (value, mask)
 * blocks that cover exactly them: a mark m is in the span iff
 * (m & mask) == value for one block.  At most ALLOC_MARK_BLOCKS_MAX
 * (the default base 0x10000 takes 20).  Kill-switch floor rules select
 * with them (fib rules have no mark range).  Returns the count, or
 * -ERANGE for a base alloc_bases_check() refuses.
 */
#define ALLOC_MARK_BLOCKS_MAX 64
struct alloc_mark_block {
	__u32 value;
	__u32 mask;
};
int alloc_mark_blocks(__u32 mark_base, struct alloc_mark_block *out,
		      size_t max);

/* ------------------------------------------------------------------ */
/* Interface names.                                                   */

/*
 * vifd's netdevs are named "<kind><vlan>[-<name>]", at most 15 bytes:
 * the kind and VLAN make the name unique (and let reconciliation find
 * what vifd owns), the VIF name is a readable suffix, cut to fit.  Bytes
 * outside [A-Za-z0-9_.-] become '_'; trailing '-', '.' and '_' are
 * dropped.  Service "wireguard-nl" on VLAN 101: "vp101-wireguard".
 */
enum alloc_if_kind {
	ALLOC_IF_PORT = 0, /* "vp": the service port, host side of the veth */
	ALLOC_IF_SVC = 1,  /* "vs": the service end of the veth */
	ALLOC_IF_TUN = 2,  /* "vt": the gateway's tun device */
	ALLOC_IF__MAX = 3,
};

/* Build the name into out (VIFD_IFNAME_MAX bytes); name may be NULL. */
int alloc_ifname(enum alloc_if_kind kind, __u16 vlan, const char *name,
		 char *out);
/*
 * 0 when ifname is a name we accept for a netdev: 1..15 bytes of
 * [A-Za-z0-9_.-], not "." or "..".  -EINVAL otherwise (-ENAMETOOLONG
 * for more than 15 bytes).
 */
int alloc_ifname_valid(const char *ifname);
/* 0 with *kind and *vlan when ifname has the form alloc_ifname() makes. */
int alloc_ifname_parse(const char *ifname, enum alloc_if_kind *kind,
		       __u16 *vlan);

/* Is this name in use (store or kernel)?  ctx is the caller's. */
typedef bool (*alloc_name_used_fn)(const char *ifname, void *ctx);

/*
 * For a name an operator picks (a tun device): valid, not of the form
 * vifd derives (it would collide with a future VIF's), and not used
 * (used may be NULL).  -EINVAL, -EADDRINUSE for vifd's form, -EEXIST.
 */
int alloc_ifname_check(const char *ifname, alloc_name_used_fn used,
		       void *ctx, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Everything derived for one VIF.                                    */

struct alloc_params {
	enum vifd_addr_scheme scheme;
	__u32 mark_base;
	__u32 table_base;
};

/*
 * From vif->vlan and vif->name, fill subnet, prefix_len, svc_addr,
 * gw_addr, mark, table, ifname (ALLOC_IF_PORT) and peer_ifname
 * (ALLOC_IF_SVC).  Nothing else is touched.
 */
int alloc_vif_fill(const struct alloc_params *ap, struct vifd_vif *vif);

/* ------------------------------------------------------------------ */
/* Chains.                                                            */

#define VIFD_CHAIN_MIN 2
#define VIFD_CHAIN_MAX 5

/* Current next hop of a VLAN, 0 for none. */
typedef __u16 (*chain_next_hop_fn)(__u16 vlan, void *ctx);

/*
 * A chain hops[0] -> ... -> hops[n-1] sets next_hop of hops[0..n-2]; the
 * last hop keeps its current next hop, so chains compose.  Checks:
 *   - 2..5 hops (-EINVAL), each a VIFD_VLAN_* id (-EINVAL);
 *   - no VLAN twice (-EINVAL, "101 appears twice");
 *   - following next hops from hops[0], with the new ones in place and
 *     next_hop() (may be NULL: no existing chains) for the rest, never
 *     returns to a VLAN (-ELOOP, "cycle: 101 -> 102 -> 101");
 *   - that path, composition included, is at most VIFD_CHAIN_MAX VIFs
 *     (-E2BIG).  Paths entering hops[0] from upstream need a reverse
 *     lookup and are the caller's to check.
 */
int chain_validate(const __u16 *hops, size_t n, chain_next_hop_fn next_hop,
		   void *ctx, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Quota periods.                                                     */

/*
 * Period boundaries in time zone tz (an IANA name under
 * /usr/share/zoneinfo, NULL or "" for UTC): daily at 00:00, weekly on
 * Monday 00:00, monthly on the 1st 00:00, local time.  Boundaries come
 * from calendar dates through mktime(), never from adding 86400 s, so
 * DST days are 23 or 25 hours long and the weeks and months holding them
 * one hour shorter or longer.  Where a zone skips midnight (America/
 * Santiago in September), the day starts at the first instant that
 * exists.
 *
 * Time zone handling: glibc has no per-call zone, so these functions set
 * TZ=":<tz>", call tzset(), compute with localtime_r()/mktime() and put
 * TZ back exactly as it was (restored, or unset again) before returning.
 * Nothing leaks to the rest of the process, but this is not thread-safe:
 * vifd is single-threaded (STYLE.md 16) and must keep it that way or
 * serialise callers.
 *
 * The zone is not looked up here (config_load() checked it exists): a
 * name starting with '/' or holding ".." is -EINVAL, and an unknown one
 * gets glibc's fallback, UTC.
 *
 * start <= now < next.  -EINVAL for a bad period or tz name, -EOVERFLOW
 * when now is out of the calendar's reach, -ENOMEM.
 */
int quota_period_bounds(enum vifd_quota_period period, int64_t now,
			const char *tz, int64_t *start, int64_t *next);
int quota_period_start(enum vifd_quota_period period, int64_t now,
		       const char *tz, int64_t *start);
int quota_period_next(enum vifd_quota_period period, int64_t now,
		      const char *tz, int64_t *next);

#endif /* VIF_CONTROL_ALLOC_H */
