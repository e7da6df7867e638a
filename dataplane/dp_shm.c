// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dp_shm.c - the DPDK engine behind dp.h: the table ops of dp_impl.h over
 * the shared-memory file of include/vif_shm.h, and ports served through
 * its port-request table.  No DPDK here: vifd writes the file, vifdpdk
 * forwards from it.
 *
 * Ordering is the XDP writer's.  A policy entry is written into the slot
 * the index does not name, then published by one aligned 32-bit release
 * store of index[vlan]; vif_logic.h's vif_policy_read() retries around it.
 * Counters are the workers' alone: we only read them, 64 bits at a time.
 *
 * Port requests follow vif_shm.h.  Every transition of ours on a slot the
 * engine may be looking at is a compare-and-swap from the state we saw, so
 * an answer the engine stores meanwhile is never overwritten blindly.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "dp_impl.h"
#include "log.h"
#include "shm.h"

/* Stats are gathered this many VLANs at a time (~188 KiB of rows). */
#define DP_SHM_STATS_CHUNK 64
/* An engine whose heartbeat is older than this is not running. */
#define DP_SHM_HEARTBEAT_MAX_NS 1000000000ull
#define DP_SHM_POLL_NS 1000000L

/* ports_big slots are written with one 64-bit store: keep them aligned. */
_Static_assert(__builtin_offsetof(struct vif_shm, ports_big) % 8 == 0,
	       "ports_big 8-byte aligned");
_Static_assert(sizeof(struct vif_shm_big_port) == sizeof(__u64),
	       "one big-port slot is one 64-bit word");

struct dp_shm {
	struct dp dp; /* first: dp.c sees only this */
	struct vif_shm *shm;
	int lock_fd;
	char lock_path[PATH_MAX + 8];
};

static struct vif_shm *shm_of(struct dp *dp)
{
	return ((struct dp_shm *)dp)->shm;
}

/* ---- open / close ------------------------------------------------------- */

static void shm_close(struct dp *dp)
{
	struct dp_shm *s = (struct dp_shm *)dp;

	vif_shm_unmap(s->shm);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* drops the writer's flock */
	free(dp->scratch);
	free(s);
}

/*
 * The writer's lock is a file of its own: vif_shm_map() flocks the data
 * file itself while creating it, for the engine and us alike.
 */
static int shm_lock(struct dp_shm *s)
{
	int err;

	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		err = -errno;
		pr_warn("Couldn't open lock file '%s': %s (%d)\n", s->lock_path,
			strerror(-err), err);
		return err;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			err = -EBUSY;
		pr_warn("Dataplane at '%s' is held by another writer: %s (%d)\n",
			s->dp.where, strerror(-err), err);
		return err;
	}
	return 0;
}

static const struct dp_ops shm_ops;

int dp_shm_open(const struct dp_opts *opts, struct dp **out)
{
	const char *path = opts->shm_path ? opts->shm_path :
					    VIF_SHM_DEFAULT_PATH;
	char why[256] = "";
	struct dp_shm *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dp.ops = &shm_ops;
	s->dp.engine = DP_ENGINE_DPDK;
	s->lock_fd = -1;
	if ((size_t)snprintf(s->dp.where, sizeof(s->dp.where), "%s", path) >=
	    sizeof(s->dp.where)) {
		err = -ENAMETOOLONG;
		goto err_close;
	}
	snprintf(s->lock_path, sizeof(s->lock_path), "%s.lock", path);
	s->dp.nrows = VIF_SHM_MAX_WORKERS;
	s->dp.scratch_len = (size_t)DP_SHM_STATS_CHUNK * VIF_SHM_MAX_WORKERS *
			    sizeof(struct vif_stats);
	s->dp.scratch = malloc(s->dp.scratch_len);
	if (!s->dp.scratch) {
		err = -ENOMEM;
		goto err_close;
	}
	if (!opts->read_only) {
		err = shm_lock(s);
		if (err)
			goto err_close;
	}
	err = vif_shm_map(path, opts->read_only ? VIF_SHM_READ_ONLY :
						  VIF_SHM_CREATE,
			  &s->shm, why, sizeof(why));
	if (err) {
		pr_warn("Couldn't map the DPDK dataplane: %s (%d)%s%s\n",
			strerror(-err), err, why[0] ? ": " : "", why);
		goto err_close;
	}
	if (s->shm->config.abi_version != VIF_ABI_VERSION) {
		pr_warn("Dataplane file '%s' has ABI version %u, this build speaks %u\n",
			path, s->shm->config.abi_version, VIF_ABI_VERSION);
		err = -EPROTO;
		goto err_close;
	}
	s->dp.writable = !opts->read_only;
	*out = &s->dp;
	return 0;

err_close:
	shm_close(&s->dp);
	return err;
}

/* ---- table ops ------------------------------------------------------------ */

/* Counters change under us: copy them one aligned 64-bit load at a time. */
static void copy_u64s(void *dst, const void *src, size_t bytes)
{
	const __u64 *in = src;
	__u64 *o = dst;
	size_t i;

	for (i = 0; i < bytes / sizeof(__u64); i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}

static int shm_config_read(struct dp *dp, struct vif_dp_config *cfg)
{
	const struct vif_dp_config *c = &shm_of(dp)->config;

	cfg->abi_version = __atomic_load_n(&c->abi_version, __ATOMIC_RELAXED);
	cfg->trunk_ifindex = __atomic_load_n(&c->trunk_ifindex,
					     __ATOMIC_ACQUIRE);
	cfg->flags = __atomic_load_n(&c->flags, __ATOMIC_RELAXED);
	cfg->quota_slice = __atomic_load_n(&c->quota_slice, __ATOMIC_RELAXED);
	return 0;
}

/* Field by field: each is read on its own by the workers. */
static int shm_config_write(struct dp *dp, const struct vif_dp_config *cfg)
{
	struct vif_dp_config *c = &shm_of(dp)->config;

	__atomic_store_n(&c->flags, cfg->flags, __ATOMIC_RELEASE);
	__atomic_store_n(&c->quota_slice, cfg->quota_slice, __ATOMIC_RELEASE);
	__atomic_store_n(&c->trunk_ifindex, cfg->trunk_ifindex,
			 __ATOMIC_RELEASE);
	return 0;
}

static int shm_index_read(struct dp *dp, __u16 vlan, __u32 *index)
{
	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	/* A reader's second load must not move above its copy of the entry. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	*index = __atomic_load_n(&shm_of(dp)->index[vlan], __ATOMIC_ACQUIRE);
	return 0;
}

/* The publish: one aligned 32-bit store, after the slot's bytes. */
static int shm_index_write(struct dp *dp, __u16 vlan, __u32 index)
{
	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	__atomic_store_n(&shm_of(dp)->index[vlan], index, __ATOMIC_RELEASE);
	return 0;
}

static int shm_policy_read(struct dp *dp, __u32 key, struct vif_entry *e)
{
	if (key >= VIF_POLICY_SLOTS)
		return -EINVAL;
	memcpy(e, &shm_of(dp)->policy[key], sizeof(*e));
	return 0;
}

/* Only ever the slot the index does not name: no reader uses it. */
static int shm_policy_write(struct dp *dp, __u32 key,
			    const struct vif_entry *e)
{
	if (key >= VIF_POLICY_SLOTS)
		return -EINVAL;
	memcpy(&shm_of(dp)->policy[key], e, sizeof(*e));
	return 0;
}

static int shm_index_read_all(struct dp *dp, __u32 *idx)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	memcpy(idx, shm_of(dp)->index, sizeof(shm_of(dp)->index));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return 0;
}

static int shm_policy_read_all(struct dp *dp, struct vif_entry *pol)
{
	memcpy(pol, shm_of(dp)->policy, sizeof(shm_of(dp)->policy));
	return 0;
}

static __u64 big_word(__u32 ifindex, __u16 vlan)
{
	struct vif_shm_big_port b = { .ifindex = ifindex, .port.vlan = vlan };
	__u64 w;

	memcpy(&w, &b, sizeof(w));
	return w;
}

static struct vif_shm_big_port big_load(const struct vif_shm_big_port *slot)
{
	struct vif_shm_big_port b;
	__u64 w = __atomic_load_n((const __u64 *)slot, __ATOMIC_ACQUIRE);

	memcpy(&b, &w, sizeof(b));
	return b;
}

/*
 * ifindex's slot in ports_big: its own (live or tombstone) if keyed,
 * else NULL; *free_slot gets where an insert goes (the first tombstone on
 * the probe path, else the empty slot that ended it, else NULL: full).
 */
static struct vif_shm_big_port *big_find(struct vif_shm *shm, __u32 ifindex,
					 struct vif_shm_big_port **free_slot)
{
	struct vif_shm_big_port *slot, b;
	__u32 i, start = vif_shm_big_slot(ifindex);

	*free_slot = NULL;
	for (i = 0; i < VIF_SHM_BIG_PORTS; i++) {
		slot = &shm->ports_big[(start + i) & (VIF_SHM_BIG_PORTS - 1)];
		b = big_load(slot);
		if (b.ifindex == ifindex)
			return slot;
		if (!b.ifindex) {
			if (!*free_slot)
				*free_slot = slot;
			return NULL;
		}
		if (!b.port.vlan && !*free_slot)
			*free_slot = slot;
	}
	return NULL;
}

static int shm_port_get(struct dp *dp, __u32 ifindex, __u16 *vlan)
{
	struct vif_shm *shm = shm_of(dp);
	struct vif_shm_big_port *slot, *ins;

	if (ifindex < VIF_PORT_SLOTS) {
		*vlan = __atomic_load_n(&shm->ports[ifindex].vlan,
					__ATOMIC_ACQUIRE);
		return 0;
	}
	slot = big_find(shm, ifindex, &ins);
	*vlan = slot ? big_load(slot).port.vlan : 0;
	return 0;
}

/*
 * ports_big per vif_shm.h: a keyed slot is never emptied (removal leaves
 * a tombstone, vlan 0), so a reader's probe never stops short of a live
 * port; an insert takes the first tombstone on its path only after the
 * whole path showed ifindex is not keyed further on.
 */
static int shm_port_set(struct dp *dp, __u32 ifindex, __u16 vlan)
{
	struct vif_shm *shm = shm_of(dp);
	struct vif_shm_big_port *slot, *ins;

	if (!ifindex)
		return -EINVAL;
	if (ifindex < VIF_PORT_SLOTS) {
		__atomic_store_n(&shm->ports[ifindex].vlan, vlan,
				 __ATOMIC_RELEASE);
		return 0;
	}
	slot = big_find(shm, ifindex, &ins);
	if (!slot) {
		if (!vlan)
			return 0;
		if (!ins)
			return -ENOSPC;
		slot = ins;
	}
	__atomic_store_n((__u64 *)slot, big_word(ifindex, vlan),
			 __ATOMIC_RELEASE);
	return 0;
}

static int shm_for_each_port(struct dp *dp, int (*fn)(struct dp *, int))
{
	struct vif_shm *shm = shm_of(dp);
	struct vif_shm_big_port b;
	int err, ret = 0;
	__u32 i;

	for (i = 1; i < VIF_PORT_SLOTS; i++) {
		if (!__atomic_load_n(&shm->ports[i].vlan, __ATOMIC_RELAXED))
			continue;
		err = fn(dp, (int)i);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	for (i = 0; i < VIF_SHM_BIG_PORTS; i++) {
		b = big_load(&shm->ports_big[i]);
		if (!b.ifindex || !b.port.vlan)
			continue;
		err = fn(dp, (int)b.ifindex);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	return ret;
}

static int shm_quota_shr_zero(struct dp *dp, __u32 key)
{
	if (key >= VIF_POLICY_SLOTS)
		return -EINVAL;
	__atomic_store_n(&shm_of(dp)->quota_shr[key].granted, 0,
			 __ATOMIC_RELEASE);
	return 0;
}

static int shm_global_rows(struct dp *dp, struct vif_global_stats *rows)
{
	struct vif_shm *shm = shm_of(dp);
	unsigned int w;

	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++)
		copy_u64s(&rows[w], &shm->workers[w].global, sizeof(*rows));
	return 0;
}

/* Rows are per worker in the file, per VLAN in buf (dp.c folds them). */
static int shm_stats_rows(struct dp *dp, __u32 first, void *buf,
			  size_t buflen)
{
	struct vif_shm *shm = shm_of(dp);
	struct vif_stats *rows = buf;
	__u32 n = buflen / (sizeof(*rows) * VIF_SHM_MAX_WORKERS), i;
	unsigned int w;

	if (first >= VIF_VLAN_SLOTS || !n)
		return -EINVAL;
	if (n > VIF_VLAN_SLOTS - first)
		n = VIF_VLAN_SLOTS - first;
	for (i = 0; i < n; i++)
		for (w = 0; w < VIF_SHM_MAX_WORKERS; w++)
			copy_u64s(&rows[(size_t)i * VIF_SHM_MAX_WORKERS + w],
				  &shm->workers[w].stats[first + i],
				  sizeof(*rows));
	return (int)n;
}

static int shm_quota_rows(struct dp *dp, __u16 vlan,
			  struct vif_quota_pcpu *rows)
{
	struct vif_shm *shm = shm_of(dp);
	unsigned int w;

	_Static_assert(sizeof(*rows) % sizeof(__u64) == 0, "u64 copy");
	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++)
		copy_u64s(&rows[w], &shm->workers[w].quota[vlan], sizeof(*rows));
	return 0;
}

/* Racy against running workers by nature, as on XDP: tests only. */
static int shm_stats_clear(struct dp *dp)
{
	struct vif_shm *shm = shm_of(dp);
	unsigned int w;

	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++) {
		memset(&shm->workers[w].global, 0,
		       sizeof(shm->workers[w].global));
		memset(shm->workers[w].stats, 0,
		       sizeof(shm->workers[w].stats));
	}
	return 0;
}

/* ---- port requests -------------------------------------------------------- */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void poll_sleep(void)
{
	struct timespec ts = { .tv_nsec = DP_SHM_POLL_NS };

	nanosleep(&ts, NULL);
}

/*
 * An engine runs when its pid exists and its heartbeat (CLOCK_MONOTONIC,
 * system-wide) is fresh: a pid alone may have been reused, a heartbeat
 * alone may be a crashed engine's last one.
 */
static bool engine_alive(const struct vif_shm *shm)
{
	__u32 pid = __atomic_load_n(&shm->hdr.engine_pid, __ATOMIC_ACQUIRE);
	__u64 hb = __atomic_load_n(&shm->hdr.heartbeat_ns, __ATOMIC_ACQUIRE);
	__u64 now = now_ns();

	if (!pid || (kill((pid_t)pid, 0) && errno != EPERM))
		return false;
	return hb <= now ? now - hb < DP_SHM_HEARTBEAT_MAX_NS :
			   hb - now < DP_SHM_HEARTBEAT_MAX_NS;
}

static __u32 req_state(const struct vif_shm_req *r)
{
	return __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
}

static bool req_cas(struct vif_shm_req *r, __u32 from, __u32 to)
{
	return __atomic_compare_exchange_n(&r->state, &from, to, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The request for ifindex in any state but FREE, or NULL. */
static struct vif_shm_req *req_find(struct vif_shm *shm, __u32 ifindex)
{
	struct vif_shm_req *r;
	unsigned int i;

	for (i = 0; i < VIF_SHM_MAX_REQS; i++) {
		r = &shm->req[i];
		if (req_state(r) != VIF_SHM_REQ_FREE &&
		    __atomic_load_n(&r->ifindex, __ATOMIC_RELAXED) == ifindex)
			return r;
	}
	return NULL;
}

/* A FREE slot is ours alone until we store WANTED: fill it, then that. */
static int req_new(struct vif_shm *shm, __u32 ifindex, __u32 kind,
		   const char *ifname, struct vif_shm_req **out)
{
	struct vif_shm_req *r;
	unsigned int i;

	for (i = 0; i < VIF_SHM_MAX_REQS; i++) {
		r = &shm->req[i];
		if (req_state(r) != VIF_SHM_REQ_FREE)
			continue;
		r->kind = kind;
		r->ifindex = ifindex;
		r->error = 0;
		r->port_id = 0;
		memset(r->ifname, 0, sizeof(r->ifname));
		memcpy(r->ifname, ifname, strnlen(ifname, IF_NAMESIZE - 1));
		__atomic_store_n(&r->state, VIF_SHM_REQ_WANTED,
				 __ATOMIC_RELEASE);
		*out = r;
		return 0;
	}
	return -ENOSPC;
}

/* Wait while r is in state, up to DP_SHM_REQ_WAIT_MS; the last state. */
static __u32 req_wait_leave(const struct vif_shm *shm,
			    const struct vif_shm_req *r, __u32 state)
{
	__u64 until = now_ns() + DP_SHM_REQ_WAIT_MS * 1000000ull;
	__u32 s;

	while ((s = req_state(r)) == state && now_ns() < until &&
	       engine_alive(shm))
		poll_sleep();
	return s;
}

static const char *kind_name(__u32 kind)
{
	return kind == VIF_SHM_PORT_TRUNK ? "trunk" : "service port";
}

static int req_attach(struct dp *dp, int ifindex, __u32 kind)
{
	struct vif_shm *shm = shm_of(dp);
	char ifname[IF_NAMESIZE] = "";
	struct vif_shm_req *r;
	__u32 s;
	int err, tries;

	if (!if_indextoname(ifindex, ifname)) {
		err = -ENODEV;
		pr_warn("Couldn't attach ifindex %d: %s (%d)\n", ifindex,
			strerror(-err), err);
		return err;
	}
	/* Each pass either settles r or sees the engine move it on. */
	for (tries = 0; tries < 8; tries++) {
		r = req_find(shm, ifindex);
		if (!r) {
			err = req_new(shm, ifindex, kind, ifname, &r);
			if (err) {
				pr_warn("Couldn't ask the DPDK engine for iface '%s': all %u port requests in use\n",
					ifname, VIF_SHM_MAX_REQS);
				return err;
			}
			break;
		}
		if (r->kind != kind) {
			pr_warn("Couldn't attach iface '%s' as %s: it is the %s\n",
				ifname, kind_name(kind), kind_name(r->kind));
			return -EBUSY;
		}
		s = req_state(r);
		if (s == VIF_SHM_REQ_ACTIVE || s == VIF_SHM_REQ_WANTED)
			break;
		if (s == VIF_SHM_REQ_REMOVE && engine_alive(shm)) {
			/* The engine still stops the old one: let it. */
			if (req_wait_leave(shm, r, s) == s) {
				pr_warn("Couldn't attach iface '%s': the DPDK engine has not stopped it yet\n",
					ifname);
				return -ETIMEDOUT;
			}
			continue;
		}
		/* FAILED, or REMOVE with nobody to act on it: ask again.
		 * The engine touches neither, so the name is ours to set. */
		memset(r->ifname, 0, sizeof(r->ifname));
		memcpy(r->ifname, ifname, strnlen(ifname, IF_NAMESIZE - 1));
		r->error = 0;
		if (req_cas(r, s, VIF_SHM_REQ_WANTED))
			break;
	}
	if (tries == 8)
		return -EAGAIN;
	if (!engine_alive(shm)) {
		pr_debug("DPDK engine not running: iface '%s' is served once it starts\n",
			 ifname);
		return 0;
	}
	s = req_wait_leave(shm, r, VIF_SHM_REQ_WANTED);
	switch (s) {
	case VIF_SHM_REQ_ACTIVE:
		return 0;
	case VIF_SHM_REQ_FAILED:
		err = __atomic_load_n(&r->error, __ATOMIC_RELAXED);
		if (err >= 0)
			err = -EIO;
		pr_warn("Couldn't attach iface '%s' to the DPDK engine: %s (%d)\n",
			ifname, strerror(-err), err);
		return err;
	case VIF_SHM_REQ_WANTED:
		/* The engine stopped meanwhile: it serves it when back. */
		if (!engine_alive(shm))
			return 0;
		pr_warn("Couldn't attach iface '%s': the DPDK engine did not answer within %u ms\n",
			ifname, DP_SHM_REQ_WAIT_MS);
		return -ETIMEDOUT;
	}
	return -EIO;
}

/* Turn every live request for ifindex (0: all) into REMOVE. */
static unsigned int req_remove(struct vif_shm *shm, __u32 ifindex)
{
	struct vif_shm_req *r;
	unsigned int i, n = 0;
	__u32 s;

	for (i = 0; i < VIF_SHM_MAX_REQS; i++) {
		r = &shm->req[i];
		do {
			s = req_state(r);
			if (s == VIF_SHM_REQ_FREE || s == VIF_SHM_REQ_REMOVE ||
			    (ifindex && __atomic_load_n(&r->ifindex,
							__ATOMIC_RELAXED) !=
						ifindex))
				break;
		} while (!req_cas(r, s, VIF_SHM_REQ_REMOVE));
		if (req_state(r) == VIF_SHM_REQ_REMOVE &&
		    (!ifindex || r->ifindex == ifindex))
			n++;
	}
	return n;
}

/*
 * Wait, when an engine runs, until it has freed every REMOVE of ifindex
 * (0: all).  Without an engine the requests stay: the next one frees them.
 */
static int req_remove_wait(struct vif_shm *shm, __u32 ifindex)
{
	__u64 until = now_ns() + DP_SHM_REQ_WAIT_MS * 1000000ull;
	unsigned int i, left;

	while (engine_alive(shm)) {
		for (i = 0, left = 0; i < VIF_SHM_MAX_REQS; i++)
			if (req_state(&shm->req[i]) == VIF_SHM_REQ_REMOVE &&
			    (!ifindex || shm->req[i].ifindex == ifindex))
				left++;
		if (!left)
			return 0;
		if (now_ns() >= until) {
			pr_warn("DPDK engine has not stopped %u port(s) within %u ms; it will\n",
				left, DP_SHM_REQ_WAIT_MS);
			return -ETIMEDOUT;
		}
		poll_sleep();
	}
	return 0;
}

static int shm_trunk_attach(struct dp *dp, int ifindex)
{
	return req_attach(dp, ifindex, VIF_SHM_PORT_TRUNK);
}

static int shm_port_attach(struct dp *dp, int ifindex)
{
	return req_attach(dp, ifindex, VIF_SHM_PORT_SERVICE);
}

/*
 * The request stands once stored; a slow engine acts on it later, so a
 * timeout is reported but not an error the caller could do better on.
 */
static int shm_port_detach(struct dp *dp, int ifindex)
{
	struct vif_shm *shm = shm_of(dp);

	if (req_remove(shm, ifindex))
		req_remove_wait(shm, ifindex);
	return 0;
}

static int shm_port_status(struct dp *dp, int ifindex,
			   struct dp_port_info *info)
{
	struct vif_shm_req *r = req_find(shm_of(dp), ifindex);

	if (!r)
		return DP_PORT_NONE;
	switch (req_state(r)) {
	case VIF_SHM_REQ_WANTED:
		return DP_PORT_PENDING;
	case VIF_SHM_REQ_ACTIVE:
		info->port_id = __atomic_load_n(&r->port_id, __ATOMIC_RELAXED);
		return DP_PORT_SERVED;
	case VIF_SHM_REQ_FAILED:
		info->error = __atomic_load_n(&r->error, __ATOMIC_RELAXED);
		return DP_PORT_NONE;
	}
	return DP_PORT_NONE;
}

/* Every port goes, then the file: the engine keeps its mapping of a file
 * nobody can open any more, with nothing left to serve. */
static int shm_teardown(struct dp *dp)
{
	struct dp_shm *s = (struct dp_shm *)dp;
	int err, ret = 0;

	if (req_remove(s->shm, 0))
		req_remove_wait(s->shm, 0);
	err = vif_shm_unlink(dp->where);
	if (err && err != -ENOENT)
		ret = err;
	if (unlink(s->lock_path) && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

static int shm_prog_fd(struct dp *dp, enum dp_prog which)
{
	return -EOPNOTSUPP;
}

static const struct dp_ops shm_ops = {
	.close = shm_close,
	.config_read = shm_config_read,
	.config_write = shm_config_write,
	.index_read = shm_index_read,
	.index_write = shm_index_write,
	.policy_read = shm_policy_read,
	.policy_write = shm_policy_write,
	.index_read_all = shm_index_read_all,
	.policy_read_all = shm_policy_read_all,
	.port_get = shm_port_get,
	.port_set = shm_port_set,
	.for_each_port = shm_for_each_port,
	.quota_shr_zero = shm_quota_shr_zero,
	.global_rows = shm_global_rows,
	.stats_rows = shm_stats_rows,
	.quota_rows = shm_quota_rows,
	.stats_clear = shm_stats_clear,
	.trunk_attach = shm_trunk_attach,
	.trunk_detach = shm_port_detach,
	.port_attach = shm_port_attach,
	.port_detach = shm_port_detach,
	.port_status = shm_port_status,
	.teardown = shm_teardown,
	.prog_fd = shm_prog_fd,
};
