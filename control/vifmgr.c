// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifmgr.c - the VIF manager: in-memory VIF set, creation with a rollback
 * stack, deletion, reconciliation and the setters other modules use.  See
 * vifmgr.h for the contract; the comments here say why it is built so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <jansson.h>

#include "dp.h"
#include "log.h"
#include "nl.h"
#include "store.h"
#include "vifmgr.h"

/* Power of two; 2x the most VIFs there can be, so chains stay short. */
#define VM_HASH_SIZE 8192
/*
 * vifmgr_create_many() commits final states every this many VIFs: one
 * fsync per chunk, and a crash rolls back at most one chunk.
 */
#define VM_BATCH_CHUNK 256
/* netns_dir is short (it is a /run path); a netns path is dir/name. */
#define VM_NSDIR_MAX 128
#define VM_NSPATH_MAX (VM_NSDIR_MAX + VIFD_NETNS_MAX + 1)
/* Distinct mark bases with a floor; more only after many base changes. */
#define VM_FLOOR_BASES 8

struct vm_vif {
	struct vifd_vif v;
	struct vm_vif *name_next; /* by_name chain */
	struct vm_vif *tun_next;  /* by_tun chain, when in_tun */
	bool in_tun;
	/*
	 * What the Linux side looked like when last seen (creation or
	 * reconcile); 0 / zero MAC when not known.  Link events are matched
	 * on these so the DELLINK of a link we replaced is not taken for the
	 * loss of the current one.
	 */
	int port_ifindex;
	int peer_ifindex; /* only when the service end is in our netns */
	bool in_batch;    /* vifmgr_delete_many(): being deleted with others */
	bool fallback_on; /* dataplane re-routed into ks_fallback (gateway) */
	__u8 port_mac[6];
	__u8 svc_mac[6];
};

struct vifmgr {
	const struct vifd_config *cfg;
	struct store *store;
	struct nl *nl;
	struct dp *dp;
	vifmgr_emit_fn emit;
	void *ctx;
	vifmgr_hook_fn hook;
	void *hook_ctx;
	char netns_dir[VM_NSDIR_MAX];
	struct alloc_params ap;
	struct vlan_pool pool;
	unsigned int count;
	struct vm_vif *by_vlan[VIF_VLAN_SLOTS];
	struct vm_vif *by_name[VM_HASH_SIZE];
	struct vm_vif *by_tun[VM_HASH_SIZE];
	/*
	 * Mark bases whose kill-switch floor rules this process has put
	 * in place (or found): the configured one, and older ones VIFs
	 * still carry (mark_base is a restart-only key; a VIF keeps its
	 * mark).  See vm_floor_ensure().
	 */
	__u32 floor_base[VM_FLOOR_BASES];
	unsigned int nfloor;
};

/*
 * One run of creation steps for one VIF.  done[] is the rollback stack:
 * a step is pushed once it succeeded, and rollback pops in reverse.
 */
struct vm_op {
	struct vifmgr *m;
	struct vm_vif *w;
	const struct vifmgr_req *req; /* creation only */
	int nsfd;                     /* service netns, -1: ours */
	struct nl *pnl;               /* handle inside it, or NULL */
	bool batch;                   /* ACTIVATE is written by the caller */
	bool keep_quota;              /* ENTRY keeps the dataplane's quota */
	enum vifmgr_step done[VIFMGR_STEP__MAX];
	int ndone;
	enum vifmgr_step failed;
	char why[VIFD_ERROR_MAX];
	char undo_why[VIFD_ERROR_MAX]; /* first rollback failure, if any */
};

static const char *const step_names[VIFMGR_STEP__MAX] = {
	[VIFMGR_STEP_ALLOC] = "allocate",
	[VIFMGR_STEP_DB] = "database",
	[VIFMGR_STEP_VETH] = "veth",
	[VIFMGR_STEP_ADDR] = "addresses",
	[VIFMGR_STEP_RULE] = "rule",
	[VIFMGR_STEP_ROUTE] = "route",
	[VIFMGR_STEP_PORT] = "port",
	[VIFMGR_STEP_ENTRY] = "dataplane",
	[VIFMGR_STEP_ACTIVATE] = "activate",
	[VIFMGR_STEP_DEL_MARK] = "delete-mark",
	[VIFMGR_STEP_DEL_ENTRY] = "delete-dataplane",
	[VIFMGR_STEP_DEL_LINUX] = "delete-netlink",
	[VIFMGR_STEP_DEL_ROW] = "delete-row",
};

const char *vifmgr_step_name(enum vifmgr_step step)
{
	if ((unsigned int)step >= VIFMGR_STEP__MAX)
		return "?";
	return step_names[step];
}

const char *vifmgr_state_name(enum vifd_state state)
{
	switch (state) {
	case VIFD_STATE_CREATING:
		return "CREATING";
	case VIFD_STATE_ACTIVE:
		return "ACTIVE";
	case VIFD_STATE_REMOVING:
		return "REMOVING";
	case VIFD_STATE_ERROR:
		return "ERROR";
	}
	return "?";
}

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

static int64_t vm_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- indexes ------------------------------------------------------- */

static unsigned int vm_hash(const char *s)
{
	unsigned int h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (VM_HASH_SIZE - 1);
}

static struct vm_vif *vm_by_name(const struct vifmgr *m, const char *name)
{
	struct vm_vif *w;

	for (w = m->by_name[vm_hash(name)]; w; w = w->name_next)
		if (!strcmp(w->v.name, name))
			return w;
	return NULL;
}

static struct vm_vif *vm_by_tun(const struct vifmgr *m, const char *tun)
{
	struct vm_vif *w;

	for (w = m->by_tun[vm_hash(tun)]; w; w = w->tun_next)
		if (!strcmp(w->v.gw.tun, tun))
			return w;
	return NULL;
}

static void vm_index(struct vifmgr *m, struct vm_vif *w)
{
	unsigned int h = vm_hash(w->v.name);

	m->by_vlan[w->v.vlan] = w;
	w->name_next = m->by_name[h];
	m->by_name[h] = w;
	if (w->v.gw.tun[0]) {
		h = vm_hash(w->v.gw.tun);
		w->tun_next = m->by_tun[h];
		m->by_tun[h] = w;
		w->in_tun = true;
	}
	m->count++;
}

static void vm_unindex(struct vifmgr *m, struct vm_vif *w)
{
	struct vm_vif **pp;

	if (m->by_vlan[w->v.vlan] == w)
		m->by_vlan[w->v.vlan] = NULL;
	for (pp = &m->by_name[vm_hash(w->v.name)]; *pp; pp = &(*pp)->name_next)
		if (*pp == w) {
			*pp = w->name_next;
			break;
		}
	if (w->in_tun) {
		for (pp = &m->by_tun[vm_hash(w->v.gw.tun)]; *pp;
		     pp = &(*pp)->tun_next)
			if (*pp == w) {
				*pp = w->tun_next;
				break;
			}
		w->in_tun = false;
	}
	m->count--;
}

/* ---- events and state ---------------------------------------------- */

static void vm_emit(struct vifmgr *m, const char *type, __u16 vlan,
		    json_t *data)
{
	if (!data)
		return;
	if (m->emit)
		m->emit(m->ctx, type, vlan, data);
	json_decref(data);
}

static void vm_emit_state(struct vifmgr *m, const struct vm_vif *w)
{
	if (!m->emit)
		return;
	vm_emit(m, "vif.state", w->v.vlan,
		json_pack("{s:s, s:i, s:s, s:s}", "name", w->v.name, "vlan",
			  (int)w->v.vlan, "state",
			  vifmgr_state_name(w->v.state), "error",
			  w->v.error));
}

/*
 * Change state in memory, then in the store.  Memory follows what is true
 * of the Linux side even when the store write fails: the next start's
 * reconcile works from the stored state, which every caller leaves in a
 * state reconcile can finish.
 */
static int vm_set_state(struct vifmgr *m, struct vm_vif *w,
			enum vifd_state state, const char *why, bool persist)
{
	int err = 0;

	w->v.state = state;
	snprintf(w->v.error, sizeof(w->v.error), "%s", why ? why : "");
	if (persist) {
		err = store_vif_set_state(m->store, w->v.name, state,
					  w->v.error);
		if (err)
			pr_warn("Couldn't store state %s of VIF '%s': %s (%d)\n",
				vifmgr_state_name(state), w->v.name,
				store_errmsg(m->store), err);
	}
	vm_emit_state(m, w);
	return err;
}

/* ---- small helpers -------------------------------------------------- */

static bool vm_name_ok(const char *name)
{
	size_t len, i;

	if (!name)
		return false;
	len = strlen(name);
	if (!len || len >= VIFD_NAME_MAX || name[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* What `ip netns add` accepts, minus anything odd in a path. */
static bool vm_netns_ok(const char *ns)
{
	size_t len, i;

	len = strlen(ns);
	if (!len || len >= VIFD_NETNS_MAX || !strcmp(ns, ".") ||
	    !strcmp(ns, ".."))
		return false;
	for (i = 0; i < len; i++) {
		char c = ns[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static void vm_netns_path(const struct vifmgr *m, const char *ns, char *buf,
			  size_t len)
{
	set_err(buf, len, "%s/%s", m->netns_dir, ns);
}

static bool vm_netns_exists(const struct vifmgr *m, const char *ns)
{
	char path[VM_NSPATH_MAX];
	struct stat st;

	vm_netns_path(m, ns, path, sizeof(path));
	return !stat(path, &st);
}

static void vm_quota_dp(const struct vifd_quota *q, __u64 *limit,
			__u32 *flags)
{
	*limit = q->limit;
	*flags = 0;
	if (!q->limit)
		return;
	if (q->action == VIFD_QUOTA_BLOCK)
		*flags |= VIF_F_QUOTA_BLOCK;
	if (q->dir == VIFD_QUOTA_BOTH || q->dir == VIFD_QUOTA_RX)
		*flags |= VIF_F_QUOTA_RX;
	if (q->dir == VIFD_QUOTA_BOTH || q->dir == VIFD_QUOTA_TX)
		*flags |= VIF_F_QUOTA_TX;
}

static void vm_spec(const struct vm_vif *w, struct vif_spec *s)
{
	const struct vifd_vif *v = &w->v;

	memset(s, 0, sizeof(*s));
	s->vlan = v->vlan;
	s->next_hop = v->next_hop;
	s->svc_ifindex = (__u32)w->port_ifindex;
	s->mark = v->mark;
	s->table = v->table;
	s->addr = v->svc_addr;
	s->prefix_len = v->prefix_len;
	s->host_addr = v->gw_addr;
	memcpy(s->svc_mac, w->svc_mac, 6);
	memcpy(s->port_mac, w->port_mac, 6);
	s->active = true;
	s->killswitch = v->ks_engaged;
	vm_quota_dp(&v->quota, &s->quota_limit, &s->quota_flags);
}

/*
 * Does the live entry say what the spec says (quota and counters aside)?
 * A FALLBACK VIF's entry may point at its fallback instead of its own
 * next hop: the gateway module re-routed it, and only it undoes that.
 */
static bool vm_entry_matches(const struct vm_vif *w, const struct vif_entry *e,
			     const struct vif_spec *s)
{
	struct vif_entry want;
	const __u32 fl = VIF_F_ACTIVE | VIF_F_KILLSWITCH;
	bool hop_ok;

	policy_entry_from_spec(s, 0, 0, &want);
	hop_ok = e->next_hop == want.next_hop ||
		 (w->v.ks_mode == VIFD_KS_FALLBACK && w->v.ks_fallback &&
		  e->next_hop == w->v.ks_fallback);
	return (e->flags & fl) == (want.flags & fl) && e->vlan == want.vlan &&
	       hop_ok &&
	       e->svc_ifindex == want.svc_ifindex && e->mark == want.mark &&
	       e->table == want.table && e->addr == want.addr &&
	       e->subnet == want.subnet && e->netmask == want.netmask &&
	       e->host_addr == want.host_addr &&
	       !memcmp(e->svc_mac, want.svc_mac, 6) &&
	       !memcmp(e->port_mac, want.port_mac, 6);
}

/*
 * Is the link called w->v.ifname the veth vifd made for this VIF: a veth
 * whose peer is the VIF's service end, in the VIF's netns?  1 yes (with
 * *out filled), 0 no (absent, or someone else's), or a negative errno.
 * Only links that pass are ever deleted by name for a VIF that exists.
 */
static int vm_port_owned(struct vifmgr *m, const struct vm_vif *w,
			 struct nl_link *out)
{
	struct nl_link l, pl;
	char path[VM_NSPATH_MAX];
	struct nl *pnl = NULL;
	int err;

	err = nl_link_get(m->nl, w->v.ifname, &l);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	if (strcmp(l.kind, "veth"))
		return 0;
	if (out)
		*out = l;
	if (!w->v.netns[0]) {
		if (l.link_netnsid != -1)
			return 0;
		err = nl_link_get(m->nl, w->v.peer_ifname, &pl);
		if (err == -ENODEV)
			return 0;
		if (err)
			return err;
		return pl.ifindex == l.link;
	}
	if (l.link_netnsid == -1)
		return 0;
	vm_netns_path(m, w->v.netns, path, sizeof(path));
	err = nl_open_netns(&pnl, path);
	if (err == -ENOENT)
		/*
		 * The netns is gone, and the peer lives on in some other
		 * one: a veth under our exact name whose far end we can no
		 * longer inspect.  The name is vifd's, so it is ours.
		 */
		return 1;
	if (err)
		return err;
	err = nl_link_get(pnl, w->v.peer_ifname, &pl);
	nl_close(pnl);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	return pl.ifindex == l.link;
}

/* ---- creation steps ------------------------------------------------- */

static int vm_op_why(struct vm_op *op, enum vifmgr_step step, int err,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int vm_op_why(struct vm_op *op, enum vifmgr_step step, int err,
		     const char *fmt, ...)
{
	char msg[VIFD_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	op->failed = step;
	/* Cut to what the store keeps (VIFD_ERROR_MAX - 1). */
	set_err(op->why, sizeof(op->why), "%s: %s", vifmgr_step_name(step),
		msg);
	return err;
}

/* Open the service netns (fd and a netlink handle) once per op. */
static int vm_op_netns(struct vm_op *op, enum vifmgr_step step)
{
	struct vifmgr *m = op->m;
	char path[VM_NSPATH_MAX];
	int err;

	if (!op->w->v.netns[0] || op->pnl)
		return 0;
	vm_netns_path(m, op->w->v.netns, path, sizeof(path));
	if (op->nsfd < 0) {
		op->nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (op->nsfd < 0) {
			err = -errno;
			if (err == -ENOENT)
				return vm_op_why(op, step, err,
						 "netns '%s' does not exist (%s)",
						 op->w->v.netns, path);
			return vm_op_why(op, step, err,
					 "Couldn't open netns '%s': %s (%d)",
					 path, strerror(-err), err);
		}
	}
	err = nl_open_netns_fd(&op->pnl, op->nsfd);
	if (err)
		return vm_op_why(op, step, err,
				 "Couldn't enter netns '%s': %s (%d)", path,
				 strerror(-err), err);
	return 0;
}

static void vm_op_fini(struct vm_op *op)
{
	nl_close(op->pnl);
	op->pnl = NULL;
	if (op->nsfd >= 0)
		close(op->nsfd);
	op->nsfd = -1;
}

static int step_alloc(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	const struct vifmgr_req *req = op->req;
	struct vm_vif *w = op->w;
	__u16 vlan = req->vlan;
	int err;

	if (vlan) {
		err = pool_alloc_specific(&m->pool, vlan);
		if (err)
			return vm_op_why(op, VIFMGR_STEP_ALLOC, err,
					 "VLAN %u is %s", vlan,
					 err == -EEXIST ? "taken" :
					 err == -EPERM ? "reserved" :
							 "outside the pool");
	} else {
		err = pool_alloc(&m->pool, &vlan);
		if (err)
			return vm_op_why(op, VIFMGR_STEP_ALLOC, err,
					 "the VLAN pool %u-%u is full",
					 m->pool.lo, m->pool.hi);
	}
	w->v.vlan = vlan;
	if (w->v.ks_mode == VIFD_KS_FALLBACK && w->v.ks_fallback == vlan) {
		err = vm_op_why(op, VIFMGR_STEP_ALLOC, -EINVAL,
				"kill-switch fallback is the VIF itself");
		goto err_free;
	}
	err = alloc_vif_fill(&m->ap, &w->v);
	if (err) {
		vm_op_why(op, VIFMGR_STEP_ALLOC, err,
			  "Couldn't derive addresses for VLAN %u: %s (%d)",
			  vlan, strerror(-err), err);
		goto err_free;
	}
	err = store_alloc_put(m->store, vlan, w->v.name, w->v.created_at);
	if (err) {
		vm_op_why(op, VIFMGR_STEP_ALLOC, err, "%s",
			  store_errmsg(m->store));
		goto err_free;
	}
	vm_index(m, w);
	return 0;

err_free:
	pool_free(&m->pool, vlan);
	return err;
}

static int undo_alloc(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	int err;

	vm_unindex(m, op->w);
	pool_free(&m->pool, op->w->v.vlan);
	err = store_alloc_delete(m->store, op->w->v.vlan);
	return err == -ENOENT ? 0 : err;
}

static int step_db(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	int err;

	op->w->v.state = VIFD_STATE_CREATING;
	err = store_vif_put(m->store, &op->w->v);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_DB, err, "%s",
				 store_errmsg(m->store));
	return 0;
}

static int undo_db(struct vm_op *op)
{
	int err = store_vif_delete(op->m->store, op->w->v.name);

	return err == -ENOENT ? 0 : err;
}

static int step_veth(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	struct vm_vif *w = op->w;
	int err;

	err = vm_op_netns(op, VIFMGR_STEP_VETH);
	if (err)
		return err;
	err = nl_veth_create(m->nl, w->v.ifname, w->v.peer_ifname, op->nsfd);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_VETH, err, "%s",
				 nl_errmsg(m->nl));
	return 0;
}

static int undo_veth(struct vm_op *op)
{
	op->w->port_ifindex = 0;
	op->w->peer_ifindex = 0;
	/* Both ends and their addresses go with it, wherever the peer is. */
	return nl_link_del(op->m->nl, op->w->v.ifname);
}

/*
 * vifd's veths carry IPv4 only.  IPv6 on them would give every device
 * link-local and multicast routes, and each later netdev event (link up,
 * XDP and tc attach, deletion) walks the whole IPv6 FIB: measured here
 * with 4000 VIFs, link up + tc + XDP attach cost 10 ms instead of 0.3 ms
 * per VIF.  Set before the link goes up, so no IPv6 address or route
 * ever exists on it.  Only in vifd's own netns (procfs sysctls are the
 * opener's netns); a service's netns is the service's.  Best effort: a
 * kernel without IPv6 has no such file, and a failure only costs time.
 */
static void vm_ipv6_off(const char *ifname)
{
	char path[64 + VIFD_IFNAME_MAX];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			pr_warn("Couldn't open %s: %s (%d)\n", path,
				strerror(errno), -errno);
		return;
	}
	if (write(fd, "1", 1) != 1)
		pr_warn("Couldn't disable IPv6 on '%s': %s (%d)\n", ifname,
			strerror(errno), -errno);
	close(fd);
}

static int step_addr(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	struct vm_vif *w = op->w;
	struct nl_link l, pl;
	struct nl *pnl;
	int err;

	err = vm_op_netns(op, VIFMGR_STEP_ADDR);
	if (err)
		return err;
	pnl = op->pnl ? op->pnl : m->nl;

	err = nl_link_get(m->nl, w->v.ifname, &l);
	if (!err && !(l.flags & IFF_UP))
		vm_ipv6_off(w->v.ifname);
	if (!err)
		err = nl_addr_add(m->nl, l.ifindex, w->v.gw_addr,
				  w->v.prefix_len);
	if (!err)
		err = nl_link_set_up(m->nl, l.ifindex);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_ADDR, err, "%s",
				 nl_errmsg(m->nl));
	w->port_ifindex = l.ifindex;
	memcpy(w->port_mac, l.mac, 6);

	err = nl_link_get(pnl, w->v.peer_ifname, &pl);
	if (!err && !op->pnl && !(pl.flags & IFF_UP))
		vm_ipv6_off(w->v.peer_ifname);
	if (!err)
		err = nl_addr_add(pnl, pl.ifindex, w->v.svc_addr,
				  w->v.prefix_len);
	if (!err)
		err = nl_link_set_up(pnl, pl.ifindex);
	/*
	 * GRO on, tx checksum offload off: see nl_link_xdp_peer_setup().
	 * After the link is up: veth turns its NAPI on for GRO only on a
	 * running device.
	 */
	if (!err)
		err = nl_link_xdp_peer_setup(pnl, w->v.peer_ifname);
	/*
	 * A service in its own netns reaches the world through us.  If the
	 * namespace has a default route already it is the service's own
	 * choice: leave it.
	 */
	if (!err && op->pnl) {
		err = nl_route_add(pnl, RT_TABLE_MAIN, 0, 0, w->v.gw_addr,
				   pl.ifindex);
		if (err == -EEXIST)
			err = 0;
	}
	if (err)
		return vm_op_why(op, VIFMGR_STEP_ADDR, err, "%s%s%s",
				 nl_errmsg(pnl), op->pnl ? " in netns " : "",
				 op->pnl ? w->v.netns : "");
	w->peer_ifindex = op->pnl ? 0 : pl.ifindex;
	memcpy(w->svc_mac, pl.mac, 6);
	return 0;
}

/* The mark base a VIF's mark was derived from (alloc_mark()). */
static __u32 vm_mark_base(const struct vifd_vif *v)
{
	return v->mark - v->vlan;
}

/*
 * The kill-switch floor of every mark derived from @base: "fwmark
 * <block> blackhole" rules at VIFMGR_FLOOR_PRIORITY (alloc_mark_blocks()).
 * Idempotent; remembered per process, so a VIF's RULE step costs nothing
 * once its base has a floor.  0 or -errno (with nl_errmsg()).
 */
static int vm_floor_ensure(struct vifmgr *m, __u32 base)
{
	struct alloc_mark_block b[ALLOC_MARK_BLOCKS_MAX];
	unsigned int i;
	int n, k, err;

	for (i = 0; i < m->nfloor; i++)
		if (m->floor_base[i] == base)
			return 0;
	n = alloc_mark_blocks(base, b, ALLOC_MARK_BLOCKS_MAX);
	if (n < 0)
		return n;
	for (k = 0; k < n; k++) {
		err = nl_rule_blackhole_add(m->nl, b[k].value, b[k].mask,
					    VIFMGR_FLOOR_PRIORITY);
		if (err)
			return err;
	}
	if (m->nfloor < VM_FLOOR_BASES)
		m->floor_base[m->nfloor++] = base;
	return 0;
}

/* Is a floor rule (value/mask) one of a wanted base's blocks? */
static bool vm_floor_wanted(const struct vifmgr *m, __u32 value, __u32 mask)
{
	struct alloc_mark_block b[ALLOC_MARK_BLOCKS_MAX];
	unsigned int i;
	int n, k;

	for (i = 0; i < m->nfloor; i++) {
		n = alloc_mark_blocks(m->floor_base[i], b,
				      ALLOC_MARK_BLOCKS_MAX);
		for (k = 0; k < n; k++)
			if (b[k].value == value && b[k].mask == mask)
				return true;
	}
	return false;
}

static int step_rule(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	int err;

	/*
	 * The floor before the lookup rule: from the moment the VIF's mark
	 * selects its table, a marked packet the table cannot route is
	 * dropped, never handed to main.
	 */
	err = vm_floor_ensure(m, vm_mark_base(&op->w->v));
	if (err)
		return vm_op_why(op, VIFMGR_STEP_RULE, err,
				 "kill-switch floor: %s", nl_errmsg(m->nl));
	err = nl_rule_add(m->nl, op->w->v.mark, op->w->v.table,
			  VIFMGR_RULE_PRIORITY);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_RULE, err, "%s",
				 nl_errmsg(m->nl));
	return 0;
}

static int undo_rule(struct vm_op *op)
{
	return nl_rule_del(op->m->nl, op->w->v.mark, op->w->v.table,
			   VIFMGR_RULE_PRIORITY);
}

/* The tun's ifindex when the VIF has a gateway and the tun exists, else 0. */
static int vm_tun_ifindex(struct vifmgr *m, const struct vm_vif *w)
{
	int idx;

	if (w->v.gw.type == VIFD_GW_NONE || !w->v.gw.tun[0])
		return 0;
	idx = nl_link_index(m->nl, w->v.gw.tun);
	return idx > 0 ? idx : 0;
}

/* "default dev <tun>" in the VIF's table; replaces one via an older tun. */
static int vm_tun_route_add(struct vifmgr *m, const struct vm_vif *w, int tun)
{
	int err;

	err = nl_route_add(m->nl, w->v.table, 0, 0, 0, tun);
	if (err == -EEXIST) {
		/* A default via an older tun device: ours, replace. */
		err = nl_route_del(m->nl, w->v.table, 0, 0, 0, 0);
		if (!err)
			err = nl_route_add(m->nl, w->v.table, 0, 0, 0, tun);
	}
	return err;
}

/*
 * Only a VIF whose tun exists gets a route; any other has an empty (in
 * fact no) table, and the floor rule after its lookup rule drops its
 * marked traffic.  No per-VIF blackhole: 4094 tables made every netdev
 * removal walk 4094 FIBs (fib_flush).
 */
static int step_route(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	struct vm_vif *w = op->w;
	int err = 0, tun;

	tun = vm_tun_ifindex(m, w);
	if (tun)
		err = vm_tun_route_add(m, w, tun);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_ROUTE, err, "%s",
				 nl_errmsg(m->nl));
	return 0;
}

/*
 * The VIF's default route, whatever tun it names.  A blackhole an older
 * vifd put in the table stays until reconcile (which removes it after
 * the floor is in place); a table without a VIF only ever drops.
 */
static int vm_routes_del(struct vifmgr *m, const struct vifd_vif *v)
{
	return nl_route_del(m->nl, v->table, 0, 0, 0, 0);
}

static int undo_route(struct vm_op *op)
{
	return vm_routes_del(op->m, &op->w->v);
}

static int step_port(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	int err;

	err = dp_port_attach(m->dp, op->w->port_ifindex);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_PORT, err,
				 "Couldn't attach the dataplane to port '%s': %s (%d)",
				 op->w->v.ifname, strerror(-err), err);
	return 0;
}

static int undo_port(struct vm_op *op)
{
	int err = dp_port_detach(op->m->dp, op->w->port_ifindex);

	return err == -ENODEV ? 0 : err;
}

static int step_entry(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	char why[VIFD_ERROR_MAX] = "";
	struct vif_entry cur;
	struct vif_spec s;
	int err;

	vm_spec(op->w, &s);
	/* Reconcile: the quota manager's limit in force stays in force. */
	if (op->keep_quota && !dp_vif_get(m->dp, s.vlan, &cur)) {
		s.quota_limit = cur.quota_limit;
		s.quota_flags = cur.flags & VIF_QUOTA_FLAGS;
	}
	err = dp_vif_upsert(m->dp, &s, why, sizeof(why));
	if (err)
		return vm_op_why(op, VIFMGR_STEP_ENTRY, err,
				 "Couldn't write the dataplane entry of VLAN %u: %s (%d)%s%s",
				 s.vlan, strerror(-err), err, why[0] ? ": " : "",
				 why);
	return 0;
}

static int undo_entry(struct vm_op *op)
{
	int err = dp_vif_delete(op->m->dp, op->w->v.vlan);

	return err == -ENOENT ? 0 : err;
}

static int step_activate(struct vm_op *op)
{
	struct vifmgr *m = op->m;
	struct vm_vif *w = op->w;
	int err;

	w->v.error[0] = '\0';
	if (op->batch) {
		w->v.state = VIFD_STATE_ACTIVE;
		return 0;
	}
	err = store_vif_set_state(m->store, w->v.name, VIFD_STATE_ACTIVE, NULL);
	if (err)
		return vm_op_why(op, VIFMGR_STEP_ACTIVATE, err, "%s",
				 store_errmsg(m->store));
	w->v.state = VIFD_STATE_ACTIVE;
	return 0;
}

struct vm_step_ops {
	int (*run)(struct vm_op *op);
	int (*undo)(struct vm_op *op); /* NULL: nothing of its own to undo */
};

static const struct vm_step_ops step_ops[VIFMGR_STEP_ACTIVATE + 1] = {
	[VIFMGR_STEP_ALLOC] = { step_alloc, undo_alloc },
	[VIFMGR_STEP_DB] = { step_db, undo_db },
	[VIFMGR_STEP_VETH] = { step_veth, undo_veth },
	/* addresses go with the veth */
	[VIFMGR_STEP_ADDR] = { step_addr, NULL },
	[VIFMGR_STEP_RULE] = { step_rule, undo_rule },
	[VIFMGR_STEP_ROUTE] = { step_route, undo_route },
	[VIFMGR_STEP_PORT] = { step_port, undo_port },
	[VIFMGR_STEP_ENTRY] = { step_entry, undo_entry },
	[VIFMGR_STEP_ACTIVATE] = { step_activate, NULL },
};

static int vm_hook(struct vifmgr *m, const char *name, enum vifmgr_step step)
{
	return m->hook ? m->hook(m->hook_ctx, name, step) : 0;
}

static int vm_step(struct vm_op *op, enum vifmgr_step step)
{
	int err;

	err = vm_hook(op->m, op->w->v.name, step);
	if (err)
		return vm_op_why(op, step, err, "injected failure: %s (%d)",
				 strerror(-err), err);
	err = step_ops[step].run(op);
	if (err)
		return err;
	op->done[op->ndone++] = step;
	return 0;
}

/* Pop the rollback stack.  Failures are noted, and the rest still runs. */
static void vm_rollback(struct vm_op *op)
{
	enum vifmgr_step step;
	int err;

	while (op->ndone > 0) {
		step = op->done[--op->ndone];
		if (!step_ops[step].undo)
			continue;
		err = step_ops[step].undo(op);
		if (err && !op->undo_why[0]) {
			snprintf(op->undo_why, sizeof(op->undo_why),
				 "undo %s: %s (%d)", vifmgr_step_name(step),
				 strerror(-err), err);
			pr_warn("VIF '%s': couldn't undo step %s: %s (%d)\n",
				op->w->v.name, vifmgr_step_name(step),
				strerror(-err), err);
		}
	}
}

/* Steps from..to in order; on failure, roll back what this run did. */
static int vm_run(struct vm_op *op, enum vifmgr_step from,
		  enum vifmgr_step to)
{
	enum vifmgr_step s;
	int err;

	for (s = from; s <= to; s++) {
		err = vm_step(op, s);
		if (err) {
			vm_rollback(op);
			return err;
		}
	}
	return 0;
}

/* The reason an ERROR VIF carries, with a note if rollback fell short. */
static void vm_op_reason(const struct vm_op *op, char *buf, size_t len)
{
	if (op->undo_why[0])
		set_err(buf, len, "%s; rollback incomplete (%s)", op->why,
			op->undo_why);
	else
		set_err(buf, len, "%s", op->why);
}

/* ---- removal of everything a VIF may own ---------------------------- */

static int vm_clear_entry(struct vifmgr *m, struct vm_vif *w)
{
	int err = dp_vif_delete(m->dp, w->v.vlan);

	return err == -ENOENT ? 0 : err;
}

/*
 * Routes, rule and veth; each step runs even when an earlier one failed.
 * With @defer, a veth to delete is not deleted but *defer set: the
 * caller deletes it with others (nl_links_del_many()).
 */
static int vm_clear_linux(struct vifmgr *m, struct vm_vif *w, char *why,
			  size_t len, bool *defer)
{
	int err, ret = 0;

	err = vm_routes_del(m, &w->v);
	if (err && !ret) {
		ret = err;
		set_err(why, len, "%s", nl_errmsg(m->nl));
	}
	err = nl_rule_del(m->nl, w->v.mark, w->v.table, VIFMGR_RULE_PRIORITY);
	if (err && !ret) {
		ret = err;
		set_err(why, len, "%s", nl_errmsg(m->nl));
	}
	err = vm_port_owned(m, w, NULL);
	if (err < 0 && !ret) {
		ret = err;
		set_err(why, len,
			"Couldn't tell whether '%s' is VIF '%s''s veth: %s (%d)",
			w->v.ifname, w->v.name, strerror(-err), err);
	} else if (err > 0 && defer) {
		/* The ifindexes stay: vm_addrs_del_many() wants them. */
		*defer = true;
		return ret;
	} else if (err > 0) {
		err = nl_link_del(m->nl, w->v.ifname);
		if (err && !ret) {
			ret = err;
			set_err(why, len, "%s", nl_errmsg(m->nl));
		}
	}
	w->port_ifindex = 0;
	w->peer_ifindex = 0;
	return ret;
}

/*
 * Remove every Linux and dataplane object the VIF may own, in deletion
 * order (entry, then routes, rule and veth), whatever is already gone.
 * The first failure is returned (with the reason in why); the later
 * steps still run.
 */
static int vm_clear_all(struct vifmgr *m, struct vm_vif *w, char *why,
			size_t len)
{
	int err, ret;

	ret = vm_clear_entry(m, w);
	if (ret)
		set_err(why, len,
			"Couldn't delete the dataplane entry of VLAN %u: %s (%d)",
			w->v.vlan, strerror(-ret), ret);
	/*
	 * No dp_port_detach(): deleting the veth below takes its XDP and tc
	 * programs with it, atomically, and a separate detach costs a dump
	 * of every link (libbpf's bpf_xdp_query), O(VIFs) per VIF.
	 */
	err = vm_clear_linux(m, w, ret ? NULL : why, len, NULL);
	return ret ?: err;
}

/* An ACTIVE VIF lost something it cannot do without: ERROR, tear down. */
static void vm_fail_active(struct vifmgr *m, struct vm_vif *w,
			   const char *reason)
{
	char why[VIFD_ERROR_MAX];

	pr_warn("VIF '%s' (VLAN %u) is now ERROR: %s\n", w->v.name, w->v.vlan,
		reason);
	/* Persisted first: a crash below leaves ERROR, which reconcile
	 * clears again, never an ACTIVE row with half its objects. */
	vm_set_state(m, w, VIFD_STATE_ERROR, reason, true);
	if (vm_clear_all(m, w, why, sizeof(why)))
		pr_warn("VIF '%s': cleanup after ERROR incomplete: %s\n",
			w->v.name, why);
}

/* ---- open / close / lookups ----------------------------------------- */

static int load_vif_cb(const struct vifd_vif *vif, void *ctx)
{
	struct vifmgr *m = ctx;
	struct vm_vif *w;

	if (m->by_vlan[vif->vlan] || vm_by_name(m, vif->name)) {
		pr_warn("VIF '%s' (VLAN %u) loaded twice: ignored\n",
			vif->name, vif->vlan);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->v = *vif;
	vm_index(m, w);
	return 0;
}

static int load_alloc_cb(const struct store_alloc *a, void *ctx)
{
	struct vifmgr *m = ctx;
	int err;

	err = pool_alloc_specific(&m->pool, a->vlan);
	if (err && err != -EEXIST)
		pr_warn("VLAN %u (owner '%s') is outside the pool %u-%u or reserved: kept, but no longer handed out\n",
			a->vlan, a->owner, m->pool.lo, m->pool.hi);
	return 0;
}

int vifmgr_open(const struct vifmgr_deps *deps, struct vifmgr **out)
{
	const struct vifd_config *cfg;
	struct vifmgr *m;
	int err;

	*out = NULL;
	if (!deps || !deps->cfg || !deps->store || !deps->nl || !deps->dp)
		return -EINVAL;
	cfg = deps->cfg;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->store = deps->store;
	m->nl = deps->nl;
	m->dp = deps->dp;
	m->emit = deps->emit;
	m->ctx = deps->ctx;
	m->hook = deps->hook;
	m->hook_ctx = deps->hook_ctx;
	if (deps->netns_dir && strlen(deps->netns_dir) >= VM_NSDIR_MAX) {
		err = -ENAMETOOLONG;
		goto err_free;
	}
	snprintf(m->netns_dir, sizeof(m->netns_dir), "%s",
		 deps->netns_dir ? deps->netns_dir : VIFMGR_NETNS_DIR);
	m->ap = (struct alloc_params){
		.scheme = cfg->scheme,
		.mark_base = cfg->mark_base,
		.table_base = cfg->table_base,
	};
	err = pool_init(&m->pool, cfg->vlan_pool.lo, cfg->vlan_pool.hi,
			&cfg->reserved);
	if (err) {
		pr_warn("Couldn't set up the VLAN pool %u-%u: %s (%d)\n",
			cfg->vlan_pool.lo, cfg->vlan_pool.hi, strerror(-err),
			err);
		goto err_free;
	}
	err = store_vif_list(m->store, load_vif_cb, m);
	if (!err)
		err = store_alloc_list(m->store, load_alloc_cb, m);
	if (err) {
		pr_warn("Couldn't load VIFs from the store: %s (%d)\n",
			store_errmsg(m->store), err);
		goto err_free;
	}
	*out = m;
	return 0;

err_free:
	vifmgr_close(m);
	return err;
}

void vifmgr_close(struct vifmgr *m)
{
	unsigned int v;

	if (!m)
		return;
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		free(m->by_vlan[v]);
	free(m);
}

const struct vifd_vif *vifmgr_get(const struct vifmgr *m, __u16 vlan)
{
	if (vlan >= VIF_VLAN_SLOTS || !m->by_vlan[vlan])
		return NULL;
	return &m->by_vlan[vlan]->v;
}

const struct vifd_vif *vifmgr_find(const struct vifmgr *m, const char *name)
{
	struct vm_vif *w;

	if (!name)
		return NULL;
	w = vm_by_name(m, name);
	return w ? &w->v : NULL;
}

unsigned int vifmgr_count(const struct vifmgr *m)
{
	return m->count;
}

int vifmgr_foreach(const struct vifmgr *m, vifmgr_vif_cb cb, void *ctx)
{
	unsigned int v;
	int ret;

	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		if (!m->by_vlan[v])
			continue;
		ret = cb(&m->by_vlan[v]->v, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

void vifmgr_pool_status(const struct vifmgr *m, struct pool_status *st)
{
	pool_status(&m->pool, st);
}

int vifmgr_pool_resize(struct vifmgr *m, __u16 lo, __u16 hi,
		       const struct vlan_set *reserved, char *err,
		       size_t errlen)
{
	return pool_resize(&m->pool, lo, hi, reserved, NULL, err, errlen);
}

/* ---- create --------------------------------------------------------- */

static bool tun_used(const char *ifname, void *ctx)
{
	return vm_by_tun(ctx, ifname) != NULL;
}

/* Check a request and build the VIF it describes (VLAN not yet known). */
static int vm_req_check(struct vifmgr *m, const struct vifmgr_req *req,
			struct vm_vif *w, char *err, size_t errlen)
{
	const struct vifd_quota *q = &req->quota;
	const char *ns = req->netns ? req->netns : "";
	int64_t start = 0;
	int ret;

	if (!vm_name_ok(req->name)) {
		set_err(err, errlen,
			"VIF name '%s' is not 1-%d characters of [A-Za-z0-9_.:-] (not starting with '-')",
			req->name ? req->name : "", VIFD_NAME_MAX - 1);
		return -EINVAL;
	}
	if (vm_by_name(m, req->name)) {
		set_err(err, errlen, "VIF '%s' exists (%s)", req->name,
			vifmgr_state_name(vm_by_name(m, req->name)->v.state));
		return -EEXIST;
	}
	if (ns[0] && !vm_netns_ok(ns)) {
		set_err(err, errlen,
			"netns name '%s' is not 1-%d characters of [A-Za-z0-9_.-]",
			ns, VIFD_NETNS_MAX - 1);
		return -EINVAL;
	}
	if (req->gw.type == VIFD_GW_NONE) {
		if (req->gw.tun[0]) {
			set_err(err, errlen,
				"tun '%s' given for a VIF without a gateway",
				req->gw.tun);
			return -EINVAL;
		}
	} else if (req->gw.type == VIFD_GW_SOCKS5) {
		ret = alloc_ifname_check(req->gw.tun, tun_used, m, err,
					 errlen);
		if (ret)
			return ret;
	} else {
		set_err(err, errlen, "unknown gateway type %d",
			(int)req->gw.type);
		return -EINVAL;
	}
	if (req->ks_mode == VIFD_KS_FALLBACK) {
		if (!req->ks_fallback || !m->by_vlan[req->ks_fallback]) {
			set_err(err, errlen,
				"kill-switch fallback VLAN %u is not a VIF",
				req->ks_fallback);
			return -EINVAL;
		}
	} else if (req->ks_mode != VIFD_KS_BLOCK) {
		set_err(err, errlen, "unknown kill-switch mode %d",
			(int)req->ks_mode);
		return -EINVAL;
	}
	if ((unsigned int)q->period > VIFD_QUOTA_MONTHLY ||
	    (unsigned int)q->action > VIFD_QUOTA_ALERT ||
	    (unsigned int)q->dir > VIFD_QUOTA_TX) {
		set_err(err, errlen, "bad quota period, action or direction");
		return -EINVAL;
	}
	if (q->limit) {
		ret = quota_period_start(q->period, vm_now(),
					 m->cfg->timezone, &start);
		if (ret) {
			set_err(err, errlen,
				"Couldn't compute the quota period: %s (%d)",
				strerror(-ret), ret);
			return ret;
		}
	}

	memset(w, 0, sizeof(*w));
	snprintf(w->v.name, sizeof(w->v.name), "%s", req->name);
	snprintf(w->v.netns, sizeof(w->v.netns), "%s", ns);
	w->v.state = VIFD_STATE_CREATING;
	w->v.gw.type = req->gw.type;
	w->v.gw.state = VIFD_GW_STOPPED;
	memcpy(w->v.gw.tun, req->gw.tun, sizeof(w->v.gw.tun));
	w->v.gw.tun[sizeof(w->v.gw.tun) - 1] = '\0';
	w->v.gw.socks_addr = req->gw.socks_addr;
	w->v.gw.socks_port = req->gw.socks_port;
	w->v.ks_mode = req->ks_mode;
	w->v.ks_fallback = req->ks_fallback;
	/* Fail closed: a gateway is not up before the prober says so. */
	w->v.ks_engaged = req->gw.type != VIFD_GW_NONE;
	w->v.quota.limit = q->limit;
	w->v.quota.period = q->period;
	w->v.quota.action = q->action;
	w->v.quota.dir = q->dir;
	w->v.quota.period_start = start;
	w->v.created_at = vm_now();
	return 0;
}

static void vm_op_init(struct vm_op *op, struct vifmgr *m, struct vm_vif *w,
		       const struct vifmgr_req *req)
{
	memset(op, 0, sizeof(*op));
	op->m = m;
	op->w = w;
	op->req = req;
	op->nsfd = -1;
}

/*
 * After the Linux steps failed for a VIF that has a row: ERROR with the
 * reason, persisted unless the caller writes states in a batch.
 */
static void vm_op_to_error(struct vm_op *op, bool persist)
{
	char reason[VIFD_ERROR_MAX];

	vm_op_reason(op, reason, sizeof(reason));
	pr_warn("Couldn't create VIF '%s' (VLAN %u): %s\n", op->w->v.name,
		op->w->v.vlan, reason);
	vm_set_state(op->m, op->w, VIFD_STATE_ERROR, reason, persist);
}

int vifmgr_create(struct vifmgr *m, const struct vifmgr_req *req,
		  const struct vifd_vif **vif, char *err, size_t errlen)
{
	struct vm_vif *w;
	struct vm_op op;
	int ret;

	if (vif)
		*vif = NULL;
	if (!m || !req)
		return -EINVAL;
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = vm_req_check(m, req, w, err, errlen);
	if (ret) {
		free(w);
		return ret;
	}
	vm_op_init(&op, m, w, req);

	ret = vm_run(&op, VIFMGR_STEP_ALLOC, VIFMGR_STEP_DB);
	if (ret) {
		/* Rolled back: no row, no allocation, not indexed. */
		set_err(err, errlen, "%s", op.why);
		free(w);
		return ret;
	}
	vm_emit_state(m, w);
	/* From here on the VIF exists: it ends ACTIVE or ERROR. */
	op.ndone = 0;
	ret = vm_run(&op, VIFMGR_STEP_VETH, VIFMGR_STEP_ACTIVATE);
	vm_op_fini(&op);
	if (ret) {
		vm_op_to_error(&op, true);
		set_err(err, errlen, "%s", w->v.error);
	} else {
		vm_emit_state(m, w);
	}
	if (vif)
		*vif = &w->v;
	return ret;
}

/* Final states of a batch's VIFs, in one transaction if possible. */
static void vm_batch_states(struct vifmgr *m, struct vm_vif **ws, size_t n)
{
	size_t i;
	int err;

	err = store_begin(m->store);
	for (i = 0; !err && i < n; i++)
		if (ws[i])
			err = store_vif_set_state(m->store, ws[i]->v.name,
						  ws[i]->v.state,
						  ws[i]->v.error);
	if (!err)
		err = store_commit(m->store);
	if (!err)
		return;
	pr_warn("Couldn't store the states of %zu new VIFs in one go: %s (%d); writing them one by one\n",
		n, store_errmsg(m->store), err);
	store_rollback(m->store);
	for (i = 0; i < n; i++)
		if (ws[i])
			store_vif_set_state(m->store, ws[i]->v.name,
					    ws[i]->v.state, ws[i]->v.error);
}

int vifmgr_create_many(struct vifmgr *m, const struct vifmgr_req *reqs,
		       size_t n, struct vifmgr_result *res)
{
	struct vm_vif **ws;
	struct vm_op op;
	size_t i, c0;
	int err, active = 0;

	if (!m || (n && (!reqs || !res)))
		return -EINVAL;
	if (!n)
		return 0;
	ws = calloc(n, sizeof(*ws));
	if (!ws)
		return -ENOMEM;

	/*
	 * Phase 1, one transaction: allocations and CREATING rows.  A crash
	 * after its commit leaves CREATING rows, which reconcile rolls back.
	 */
	err = store_begin(m->store);
	if (err)
		goto out;
	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		ws[i] = malloc(sizeof(*ws[i]));
		if (!ws[i]) {
			res[i].err = -ENOMEM;
			continue;
		}
		res[i].err = vm_req_check(m, &reqs[i], ws[i], res[i].msg,
					  sizeof(res[i].msg));
		if (!res[i].err) {
			vm_op_init(&op, m, ws[i], &reqs[i]);
			res[i].err = vm_run(&op, VIFMGR_STEP_ALLOC,
					    VIFMGR_STEP_DB);
			if (res[i].err)
				snprintf(res[i].msg, sizeof(res[i].msg), "%s",
					 op.why);
		}
		if (res[i].err) {
			free(ws[i]);
			ws[i] = NULL;
		}
	}
	err = store_commit(m->store);
	if (err) {
		pr_warn("Couldn't store %zu new VIFs: %s (%d)\n", n,
			store_errmsg(m->store), err);
		store_rollback(m->store);
		for (i = 0; i < n; i++) {
			if (!ws[i])
				continue;
			vm_unindex(m, ws[i]);
			pool_free(&m->pool, ws[i]->v.vlan);
			free(ws[i]);
			ws[i] = NULL;
			res[i].err = err;
			snprintf(res[i].msg, sizeof(res[i].msg), "database: %s",
				 store_errmsg(m->store));
		}
		goto out;
	}

	/*
	 * Phases 2 and 3 per chunk: the Linux side and the dataplane VIF by
	 * VIF, then one transaction for the chunk's final states.  A crash
	 * rolls back at most the chunk in progress.
	 */
	for (c0 = 0; c0 < n; c0 += VM_BATCH_CHUNK) {
		size_t c1 = c0 + VM_BATCH_CHUNK < n ? c0 + VM_BATCH_CHUNK : n;

		for (i = c0; i < c1; i++) {
			if (!ws[i])
				continue;
			res[i].vlan = ws[i]->v.vlan;
			vm_emit_state(m, ws[i]);
			vm_op_init(&op, m, ws[i], &reqs[i]);
			op.batch = true;
			res[i].err = vm_run(&op, VIFMGR_STEP_VETH,
					    VIFMGR_STEP_ACTIVATE);
			vm_op_fini(&op);
			if (res[i].err) {
				vm_op_to_error(&op, false);
				snprintf(res[i].msg, sizeof(res[i].msg), "%s",
					 ws[i]->v.error);
			}
		}
		vm_batch_states(m, ws + c0, c1 - c0);
		for (i = c0; i < c1; i++) {
			if (ws[i] && ws[i]->v.state == VIFD_STATE_ACTIVE) {
				vm_emit_state(m, ws[i]);
				active++;
			}
		}
	}
	err = 0;
out:
	free(ws);
	return err ? err : active;
}

int vifmgr_retry(struct vifmgr *m, const char *name, char *err,
		 size_t errlen)
{
	char why[VIFD_ERROR_MAX] = "";
	struct vm_vif *w;
	struct vm_op op;
	int ret;

	w = name ? vm_by_name(m, name) : NULL;
	if (!w) {
		set_err(err, errlen, "no VIF '%s'", name ? name : "");
		return -ENOENT;
	}
	if (w->v.state == VIFD_STATE_ACTIVE) {
		set_err(err, errlen, "VIF '%s' is ACTIVE already", name);
		return -EALREADY;
	}
	if (w->v.state != VIFD_STATE_ERROR) {
		set_err(err, errlen, "VIF '%s' is %s", name,
			vifmgr_state_name(w->v.state));
		return -EBUSY;
	}
	/*
	 * From scratch: whatever an earlier attempt left goes first, so the
	 * steps below start from a known state.  Objects that are not ours
	 * (a foreign link under our name) are left, and the VETH step then
	 * says so.
	 */
	ret = vm_clear_all(m, w, why, sizeof(why));
	if (ret) {
		set_err(err, errlen, "retry: cleanup failed: %s", why);
		return ret;
	}
	/* The allocation row must be there for the VIF row; idempotent. */
	ret = store_alloc_put(m->store, w->v.vlan, w->v.name, w->v.created_at);
	if (!ret)
		ret = store_vif_set_state(m->store, w->v.name,
					  VIFD_STATE_CREATING, NULL);
	if (ret) {
		/* Still ERROR, with its reason, in memory and in the store. */
		set_err(err, errlen, "retry: %s", store_errmsg(m->store));
		return ret;
	}
	vm_set_state(m, w, VIFD_STATE_CREATING, NULL, false);
	vm_op_init(&op, m, w, NULL);
	ret = vm_run(&op, VIFMGR_STEP_VETH, VIFMGR_STEP_ACTIVATE);
	vm_op_fini(&op);
	if (ret) {
		vm_op_to_error(&op, true);
		set_err(err, errlen, "%s", w->v.error);
		return ret;
	}
	vm_emit_state(m, w);
	return 0;
}

/* ---- delete --------------------------------------------------------- */

/* Another VIF chains into vlan or falls back to it: its VLAN, else 0. */
static __u16 vm_referenced_by(const struct vifmgr *m, __u16 vlan)
{
	unsigned int v;

	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vm_vif *o = m->by_vlan[v];

		if (!o || o->v.vlan == vlan || o->in_batch)
			continue;
		if (o->v.next_hop == vlan ||
		    (o->v.ks_mode == VIFD_KS_FALLBACK &&
		     o->v.ks_fallback == vlan))
			return o->v.vlan;
	}
	return 0;
}

/*
 * The Linux and dataplane part of deletion; the VIF is REMOVING.  With
 * @defer, the veth is left for the caller (see vm_clear_linux()).
 */
static int vm_delete_objects(struct vifmgr *m, struct vm_vif *w, bool hook,
			     char *why, size_t len, bool *defer)
{
	char msg[VIFD_ERROR_MAX] = "";
	enum vifmgr_step step;
	int err = 0;

	for (step = VIFMGR_STEP_DEL_ENTRY; step <= VIFMGR_STEP_DEL_LINUX;
	     step++) {
		err = hook ? vm_hook(m, w->v.name, step) : 0;
		if (err) {
			set_err(msg, sizeof(msg), "injected failure: %s (%d)",
				strerror(-err), err);
			break;
		}
		if (step == VIFMGR_STEP_DEL_ENTRY) {
			err = vm_clear_entry(m, w);
			if (err)
				set_err(msg, sizeof(msg),
					"Couldn't delete the dataplane entry of VLAN %u: %s (%d)",
					w->v.vlan, strerror(-err), err);
		} else {
			err = vm_clear_linux(m, w, msg, sizeof(msg), defer);
		}
		if (err)
			break;
	}
	if (err)
		set_err(why, len, "%s: %s", vifmgr_step_name(step), msg);
	return err;
}

/* Row and allocation, in one transaction; then forget the VIF. */
static int vm_delete_row(struct vifmgr *m, struct vm_vif *w, bool own_txn)
{
	int err;

	err = own_txn ? store_begin(m->store) : 0;
	if (!err) {
		err = store_vif_delete(m->store, w->v.name);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err) {
		err = store_alloc_delete(m->store, w->v.vlan);
		if (err == -ENOENT)
			err = 0;
	}
	if (own_txn) {
		if (!err)
			err = store_commit(m->store);
		if (err)
			store_rollback(m->store);
	}
	return err;
}

static void vm_forget(struct vifmgr *m, struct vm_vif *w)
{
	vm_unindex(m, w);
	pool_free(&m->pool, w->v.vlan);
	vm_emit(m, "vif.deleted", w->v.vlan,
		m->emit ? json_pack("{s:s, s:i}", "name", w->v.name, "vlan",
				    (int)w->v.vlan) :
			  NULL);
	free(w);
}

static int vm_delete(struct vifmgr *m, struct vm_vif *w, bool hook,
		     char *err, size_t errlen)
{
	char why[VIFD_ERROR_MAX] = "";
	int ret;

	ret = hook ? vm_hook(m, w->v.name, VIFMGR_STEP_DEL_MARK) : 0;
	if (ret) {
		set_err(err, errlen, "%s: injected failure: %s (%d)",
			vifmgr_step_name(VIFMGR_STEP_DEL_MARK), strerror(-ret),
			ret);
		return ret;
	}
	/* Persisted before anything goes, so a crash finishes the job. */
	if (w->v.state != VIFD_STATE_REMOVING) {
		ret = store_vif_set_state(m->store, w->v.name,
					  VIFD_STATE_REMOVING, NULL);
		if (ret) {
			/* Nothing changed: the VIF goes on as it was. */
			set_err(err, errlen, "%s: %s",
				vifmgr_step_name(VIFMGR_STEP_DEL_MARK),
				store_errmsg(m->store));
			return ret;
		}
		vm_set_state(m, w, VIFD_STATE_REMOVING, NULL, false);
	}
	ret = vm_delete_objects(m, w, hook, why, sizeof(why), NULL);
	if (!ret && hook) {
		ret = vm_hook(m, w->v.name, VIFMGR_STEP_DEL_ROW);
		if (ret)
			snprintf(why, sizeof(why), "%s: injected failure: %s (%d)",
				 vifmgr_step_name(VIFMGR_STEP_DEL_ROW),
				 strerror(-ret), ret);
	}
	if (!ret) {
		ret = vm_delete_row(m, w, true);
		if (ret)
			snprintf(why, sizeof(why), "%s: %s",
				 vifmgr_step_name(VIFMGR_STEP_DEL_ROW),
				 store_errmsg(m->store));
	}
	if (ret) {
		pr_warn("Couldn't delete VIF '%s': %s\n", w->v.name, why);
		vm_set_state(m, w, VIFD_STATE_REMOVING, why, true);
		set_err(err, errlen, "%s", why);
		return ret;
	}
	vm_forget(m, w);
	return 0;
}

int vifmgr_delete(struct vifmgr *m, const char *name, char *err,
		  size_t errlen)
{
	struct vm_vif *w;
	__u16 by;

	w = name ? vm_by_name(m, name) : NULL;
	if (!w) {
		set_err(err, errlen, "no VIF '%s'", name ? name : "");
		return -ENOENT;
	}
	if (w->v.state == VIFD_STATE_CREATING) {
		set_err(err, errlen, "VIF '%s' is being created", name);
		return -EBUSY;
	}
	by = vm_referenced_by(m, w->v.vlan);
	if (by) {
		set_err(err, errlen,
			"VIF '%s' (VLAN %u) is the chain next hop or kill-switch fallback of VLAN %u: change that first",
			name, w->v.vlan, by);
		return -EBUSY;
	}
	return vm_delete(m, w, true, err, errlen);
}

/* VIF i of a delete batch failed a step: REMOVING with why, out. */
static void vm_delete_failed(struct vifmgr *m, struct vm_vif **ws,
			     struct vifmgr_result *res, size_t i,
			     const char *why)
{
	pr_warn("Couldn't delete VIF '%s': %s\n", ws[i]->v.name, why);
	vm_set_state(m, ws[i], VIFD_STATE_REMOVING, why, true);
	set_err(res[i].msg, sizeof(res[i].msg), "%s", why);
	ws[i]->in_batch = false;
	ws[i] = NULL;
}

/*
 * The veths phase 2 of vifmgr_delete_many() left (defer[i]), in one
 * netlink batch; one by one if that fails.  ws[i] of a VIF whose veth
 * stays is failed.
 */
/*
 * The addresses of the ports (and of service ends here) about to go, in
 * one packed batch: see nl_addrs_del_many() for why.  errs has room for
 * 2 * ndefer.  A failure only costs time: the links still go.
 */
static void vm_addrs_del_many(struct vifmgr *m, struct vm_vif **ws,
			      const bool *defer, size_t n, size_t ndefer,
			      int *errs)
{
	struct nl_addr *a;
	size_t i, k = 0;

	a = calloc(2 * ndefer, sizeof(*a));
	if (!a)
		return;
	for (i = 0; i < n; i++) {
		if (!ws[i] || !defer[i])
			continue;
		if (ws[i]->port_ifindex > 0)
			a[k++] = (struct nl_addr){ ws[i]->port_ifindex,
						   ws[i]->v.gw_addr,
						   ws[i]->v.prefix_len, 0 };
		if (ws[i]->peer_ifindex > 0)
			a[k++] = (struct nl_addr){ ws[i]->peer_ifindex,
						   ws[i]->v.svc_addr,
						   ws[i]->v.prefix_len, 0 };
	}
	if (k && nl_addrs_del_many(m->nl, a, k, errs))
		pr_warn("Couldn't delete the addresses of %zu links first: %s\n",
			ndefer, nl_errmsg(m->nl));
	free(a);
}

static void vm_links_del_many(struct vifmgr *m, struct vm_vif **ws,
			      struct vifmgr_result *res, const bool *defer,
			      size_t n, size_t ndefer)
{
	char why[VIFD_ERROR_MAX];
	const char **names;
	size_t i, k = 0;
	int *errs, err;

	if (!ndefer)
		return;
	names = calloc(ndefer, sizeof(*names));
	errs = calloc(2 * ndefer, sizeof(*errs));
	err = names && errs ? 0 : -ENOMEM;
	for (i = 0; !err && i < n; i++)
		if (ws[i] && defer[i])
			names[k++] = ws[i]->v.ifname;
	/* Best effort: only the unregister is faster for it. */
	if (!err)
		vm_addrs_del_many(m, ws, defer, n, ndefer, errs);
	if (!err)
		err = nl_links_del_many(m->nl, names, k, VIFMGR_DEL_GROUP, errs);
	if (err)
		pr_warn("Couldn't delete %zu links in one go: %s; deleting them one by one\n",
			ndefer, nl_errmsg(m->nl));
	for (i = 0, k = 0; i < n; i++) {
		if (!ws[i] || !defer[i])
			continue;
		ws[i]->port_ifindex = 0;
		ws[i]->peer_ifindex = 0;
		/* Left out of the group (errs), or the group failed. */
		if (err || errs[k])
			res[i].err = nl_link_del(m->nl, ws[i]->v.ifname);
		k++;
		if (res[i].err) {
			set_err(why, sizeof(why), "%s: %s",
				vifmgr_step_name(VIFMGR_STEP_DEL_LINUX),
				nl_errmsg(m->nl));
			vm_delete_failed(m, ws, res, i, why);
		}
	}
	free(names);
	free(errs);
}

int vifmgr_delete_many(struct vifmgr *m, const char *const *names, size_t n,
		       struct vifmgr_result *res)
{
	char why[VIFD_ERROR_MAX] = "";
	struct vm_vif **ws;
	bool *defer = NULL;
	size_t i, ndefer = 0;
	int err, done = 0;
	__u16 by;

	if (!m || (n && (!names || !res)))
		return -EINVAL;
	if (!n)
		return 0;
	ws = calloc(n, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		ws[i] = names[i] ? vm_by_name(m, names[i]) : NULL;
		if (!ws[i] || ws[i]->in_batch) {
			res[i].err = -ENOENT;
			set_err(res[i].msg, sizeof(res[i].msg), "no VIF '%s'",
				names[i] ? names[i] : "");
			ws[i] = NULL;
			continue;
		}
		ws[i]->in_batch = true;
		res[i].vlan = ws[i]->v.vlan;
	}
	/* References from VIFs deleted in the same batch do not count. */
	for (i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		by = vm_referenced_by(m, ws[i]->v.vlan);
		if (ws[i]->v.state == VIFD_STATE_CREATING || by) {
			res[i].err = -EBUSY;
			set_err(res[i].msg, sizeof(res[i].msg),
				by ? "VIF '%s' is the chain next hop or kill-switch fallback of VLAN %u" :
				     "VIF '%s' is being created",
				ws[i]->v.name, by);
		}
	}
	for (i = 0; i < n; i++) {
		if (ws[i] && res[i].err) {
			ws[i]->in_batch = false;
			ws[i] = NULL;
		}
	}

	/* Phase 1, one transaction: every row REMOVING. */
	err = store_begin(m->store);
	for (i = 0; !err && i < n; i++) {
		if (!ws[i])
			continue;
		err = vm_hook(m, ws[i]->v.name, VIFMGR_STEP_DEL_MARK);
		if (!err)
			err = store_vif_set_state(m->store, ws[i]->v.name,
						  VIFD_STATE_REMOVING, NULL);
	}
	if (!err)
		err = store_commit(m->store);
	if (err) {
		pr_warn("Couldn't mark %zu VIFs REMOVING: %s (%d)\n", n,
			store_errmsg(m->store), err);
		store_rollback(m->store);
		for (i = 0; i < n; i++) {
			if (!ws[i])
				continue;
			ws[i]->in_batch = false;
			res[i].err = err;
			set_err(res[i].msg, sizeof(res[i].msg), "%s: %s",
				vifmgr_step_name(VIFMGR_STEP_DEL_MARK),
				store_errmsg(m->store));
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		ws[i]->v.state = VIFD_STATE_REMOVING;
		ws[i]->v.error[0] = '\0';
		vm_emit_state(m, ws[i]);
	}

	/*
	 * Phase 2: dataplane, routes and rule VIF by VIF; the veths all
	 * together at the end (nl_links_del_many(): one unregister batch).
	 */
	defer = calloc(n, sizeof(*defer));
	if (!defer) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		res[i].err = vm_delete_objects(m, ws[i], true, why,
					       sizeof(why), &defer[i]);
		if (res[i].err)
			vm_delete_failed(m, ws, res, i, why);
		else if (defer[i])
			ndefer++;
		why[0] = '\0';
	}
	vm_links_del_many(m, ws, res, defer, n, ndefer);
	for (i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		res[i].err = vm_hook(m, ws[i]->v.name, VIFMGR_STEP_DEL_ROW);
		if (res[i].err) {
			set_err(why, sizeof(why),
				"%s: injected failure: %s (%d)",
				vifmgr_step_name(VIFMGR_STEP_DEL_ROW),
				strerror(-res[i].err), res[i].err);
			vm_delete_failed(m, ws, res, i, why);
		}
	}

	/* Phase 3, one transaction: rows and allocations go. */
	err = store_begin(m->store);
	for (i = 0; !err && i < n; i++)
		if (ws[i])
			err = vm_delete_row(m, ws[i], false);
	if (!err)
		err = store_commit(m->store);
	if (err) {
		/* Left REMOVING: a later delete or reconcile finishes. */
		pr_warn("Couldn't delete the rows of %zu VIFs: %s (%d)\n", n,
			store_errmsg(m->store), err);
		store_rollback(m->store);
	}
	for (i = 0; i < n; i++) {
		if (!ws[i])
			continue;
		ws[i]->in_batch = false;
		if (err) {
			res[i].err = err;
			set_err(res[i].msg, sizeof(res[i].msg), "%s: %s",
				vifmgr_step_name(VIFMGR_STEP_DEL_ROW),
				store_errmsg(m->store));
			continue;
		}
		vm_forget(m, ws[i]);
		done++;
	}
	err = 0;
out:
	free(defer);
	free(ws);
	return err ? err : done;
}

/* ---- reconcile ------------------------------------------------------ */

/* What the dumps showed for one VLAN. */
struct vm_seen {
	struct nl_link port; /* the link named like the VIF's port */
	struct nl_link peer; /* its service end, when in our netns */
	struct vif_entry entry;
	int tun_ifindex;
	bool has_port, has_peer, has_entry;
	bool port_addr, peer_addr;
	bool rule, tun_route;
};

struct vm_ifx {
	int ifindex;
	__u16 vlan;
	bool peer;
};

struct vm_scan {
	struct vifmgr *m;
	struct vifmgr_report *rep;
	struct vm_seen *seen;  /* [VIF_VLAN_SLOTS] */
	struct vm_ifx *ifx;    /* vifd links by ifindex, sorted */
	size_t nifx, capx;
	char (*dlinks)[NL_IFNAME_MAX]; /* links to delete */
	size_t ndlinks, capdl;
	struct nl_rule *drules;
	size_t ndrules, capdr;
	struct nl_route *droutes;
	size_t ndroutes, capdro;
	struct nl_rule *floor;  /* kill-switch floor rules found */
	size_t nfloor, capfl;
	int err;
};

/* Grow *arr (elements of size sz) to hold one more; -ENOMEM. */
static int vm_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int vm_ifx_cmp(const void *a, const void *b)
{
	const struct vm_ifx *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static const struct vm_ifx *vm_ifx_find(const struct vm_scan *sc,
					int ifindex)
{
	struct vm_ifx key = { .ifindex = ifindex };

	if (!sc->nifx)
		return NULL;
	return bsearch(&key, sc->ifx, sc->nifx, sizeof(key), vm_ifx_cmp);
}

static int vm_ifx_add(struct vm_scan *sc, int ifindex, __u16 vlan, bool peer)
{
	if (vm_grow((void **)&sc->ifx, &sc->capx, sc->nifx, sizeof(*sc->ifx)))
		return -ENOMEM;
	sc->ifx[sc->nifx++] = (struct vm_ifx){ ifindex, vlan, peer };
	return 0;
}

static int scan_link_cb(const struct nl_link *l, void *ctx)
{
	struct vm_scan *sc = ctx;
	struct vifmgr *m = sc->m;
	enum alloc_if_kind kind;
	struct vm_vif *w;
	__u16 vlan;

	w = vm_by_tun(m, l->name);
	if (w)
		sc->seen[w->v.vlan].tun_ifindex = l->ifindex;
	if (alloc_ifname_parse(l->name, &kind, &vlan) || kind == ALLOC_IF_TUN)
		return 0;
	w = m->by_vlan[vlan];
	if (w && kind == ALLOC_IF_PORT && !strcmp(l->name, w->v.ifname)) {
		sc->seen[vlan].port = *l;
		sc->seen[vlan].has_port = true;
		return vm_ifx_add(sc, l->ifindex, vlan, false);
	}
	if (w && kind == ALLOC_IF_SVC && !strcmp(l->name, w->v.peer_ifname)) {
		/*
		 * A service end here although the VIF's is in a netns is
		 * not swept: deleting it would take its peer along, which
		 * may be a link in the port's name that is not ours.
		 */
		if (w->v.netns[0])
			return 0;
		sc->seen[vlan].peer = *l;
		sc->seen[vlan].has_peer = true;
		return vm_ifx_add(sc, l->ifindex, vlan, true);
	}
	/* vifd only ever makes veths: anything else is someone else's. */
	if (strcmp(l->kind, "veth"))
		return 0;
	if (vm_grow((void **)&sc->dlinks, &sc->capdl, sc->ndlinks,
		    sizeof(*sc->dlinks)))
		return -ENOMEM;
	snprintf(sc->dlinks[sc->ndlinks++], NL_IFNAME_MAX, "%s", l->name);
	return 0;
}

static int scan_addr_cb(const struct nl_addr *a, void *ctx)
{
	struct vm_scan *sc = ctx;
	const struct vm_ifx *x = vm_ifx_find(sc, a->ifindex);
	const struct vm_vif *w;

	if (!x || !(w = sc->m->by_vlan[x->vlan]))
		return 0;
	if (a->prefix_len != w->v.prefix_len)
		return 0;
	if (!x->peer && a->addr == w->v.gw_addr)
		sc->seen[x->vlan].port_addr = true;
	if (x->peer && a->addr == w->v.svc_addr)
		sc->seen[x->vlan].peer_addr = true;
	return 0;
}

/*
 * The VIF whose table this is, if any.  Tables are table_base + VLAN for
 * VIFs made with the current base; an older base (a restart-only key)
 * left others, found by the slow path.
 */
static struct vm_vif *vm_by_table(const struct vifmgr *m, __u32 table)
{
	__u32 base = m->ap.table_base;
	unsigned int v;

	if (table >= base && table - base < VIF_VLAN_SLOTS) {
		struct vm_vif *w = m->by_vlan[table - base];

		if (w && w->v.table == table)
			return w;
	}
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		if (m->by_vlan[v] && m->by_vlan[v]->v.table == table)
			return m->by_vlan[v];
	return NULL;
}

/* One of vifd's tables by the current bases (whether a VIF has it or not). */
static bool vm_table_ours(const struct vifmgr *m, __u32 table, __u16 *vlan)
{
	__u32 base = m->ap.table_base;

	if (table < base || table - base < VIFD_VLAN_LO ||
	    table - base > VIFD_VLAN_HI)
		return false;
	if (vlan)
		*vlan = (__u16)(table - base);
	return true;
}

static int scan_rule_cb(const struct nl_rule *r, void *ctx)
{
	struct vm_scan *sc = ctx;
	struct vifmgr *m = sc->m;
	struct vm_vif *w;
	__u16 vlan;
	bool ours;

	if (r->action == FR_ACT_BLACKHOLE && !r->other_selectors &&
	    r->fwmark && r->priority == VIFMGR_FLOOR_PRIORITY) {
		/* Every such rule is vifd's (vifmgr.h, "Ownership"). */
		if (vm_grow((void **)&sc->floor, &sc->capfl, sc->nfloor,
			    sizeof(*sc->floor)))
			return -ENOMEM;
		sc->floor[sc->nfloor++] = *r;
		return 0;
	}
	if (r->action != FR_ACT_TO_TBL || r->other_selectors ||
	    r->fwmask != 0xffffffffu || !r->fwmark ||
	    r->priority != VIFMGR_RULE_PRIORITY)
		return 0;
	w = vm_by_table(m, r->table);
	if (w && w->v.mark == r->fwmark) {
		if (w->v.state == VIFD_STATE_ACTIVE) {
			sc->seen[w->v.vlan].rule = true;
			return 0;
		}
		ours = true;
	} else {
		ours = vm_table_ours(m, r->table, &vlan) &&
		       r->fwmark == m->ap.mark_base + vlan;
	}
	if (!ours)
		return 0;
	if (vm_grow((void **)&sc->drules, &sc->capdr, sc->ndrules,
		    sizeof(*sc->drules)))
		return -ENOMEM;
	sc->drules[sc->ndrules++] = *r;
	return 0;
}

static int scan_route_cb(const struct nl_route *r, void *ctx)
{
	struct vm_scan *sc = ctx;
	struct vifmgr *m = sc->m;
	struct vm_seen *seen;
	struct vm_vif *w;

	w = vm_by_table(m, r->table);
	if (w && w->v.state == VIFD_STATE_ACTIVE) {
		seen = &sc->seen[w->v.vlan];
		if (r->dst || r->prefix_len)
			return 0;
		if (r->type == RTN_UNICAST && !r->priority &&
		    seen->tun_ifindex && r->oif == seen->tun_ifindex) {
			seen->tun_route = true;
			return 0;
		}
		/*
		 * The per-table blackhole of an older vifd: the floor rule
		 * does its job now (added before the sweep removes these).
		 * Anything else in an ACTIVE VIF's table is left alone.
		 */
		if (r->type != RTN_BLACKHOLE || r->protocol != RTPROT_STATIC ||
		    (r->priority != VIFMGR_BLACKHOLE_METRIC_OF(w->v.vlan) &&
		     r->priority != VIFMGR_BLACKHOLE_METRIC))
			return 0;
		goto drop;
	}
	/*
	 * A table of a VIF that is not ACTIVE, or of no VIF: vifd's by its
	 * number.  Only routes it could have made go (protocol static, as
	 * nl.c writes them); someone's `ip route add` (boot) stays.
	 */
	if (!w && !vm_table_ours(m, r->table, NULL))
		return 0;
	if (r->protocol != RTPROT_STATIC || r->multipath)
		return 0;
drop:
	if (vm_grow((void **)&sc->droutes, &sc->capdro, sc->ndroutes,
		    sizeof(*sc->droutes)))
		return -ENOMEM;
	sc->droutes[sc->ndroutes++] = *r;
	return 0;
}

static void vm_rec_fail(struct vm_scan *sc, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void vm_rec_fail(struct vm_scan *sc, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_warn("reconcile: %s\n", msg);
	sc->rep->failures++;
	if (!sc->err)
		sc->err = err;
}

/* Store-level pass: orphan allocations, then unfinished transitions. */
struct vm_orphans {
	__u16 *vlan;
	size_t n, cap;
};

static int rec_alloc_cb(const struct store_alloc *a, void *ctx)
{
	struct vm_orphans *o = ctx;

	if (a->has_vif)
		return 0;
	/* Collected, then deleted: no store writes inside the walk. */
	if (vm_grow((void **)&o->vlan, &o->cap, o->n, sizeof(*o->vlan)))
		return -ENOMEM;
	o->vlan[o->n++] = a->vlan;
	return 0;
}

static void rec_store(struct vm_scan *sc)
{
	struct vifmgr *m = sc->m;
	struct vm_orphans o = { 0 };
	char why[VIFD_ERROR_MAX];
	unsigned int v;
	size_t i;
	int err;

	err = store_alloc_list(m->store, rec_alloc_cb, &o);
	if (err)
		vm_rec_fail(sc, err, "Couldn't list allocations: %s (%d)",
			    store_errmsg(m->store), err);
	for (i = 0; !err && i < o.n; i++) {
		/* A crash between ALLOC and DB left it: nobody wants it. */
		err = store_alloc_delete(m->store, o.vlan[i]);
		if (err && err != -ENOENT) {
			vm_rec_fail(sc, err,
				    "Couldn't free orphan allocation of VLAN %u: %s",
				    o.vlan[i], store_errmsg(m->store));
			err = 0;
			continue;
		}
		err = 0;
		if (!m->by_vlan[o.vlan[i]])
			pool_free(&m->pool, o.vlan[i]);
		sc->rep->allocs_freed++;
	}
	free(o.vlan);

	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		struct vm_vif *w = m->by_vlan[v];

		if (!w)
			continue;
		switch (w->v.state) {
		case VIFD_STATE_REMOVING:
			err = vm_delete(m, w, false, why, sizeof(why));
			if (err)
				vm_rec_fail(sc, err,
					    "Couldn't finish deleting VIF (VLAN %u): %s",
					    v, why);
			else
				sc->rep->removing_finished++;
			break;
		case VIFD_STATE_CREATING:
			/* Rolled back, not completed: see vifmgr.h. */
			err = vm_clear_all(m, w, why, sizeof(why));
			if (err)
				vm_rec_fail(sc, err,
					    "Couldn't roll back VIF '%s': %s",
					    w->v.name, why);
			vm_set_state(m, w, VIFD_STATE_ERROR,
				     "interrupted: vifd stopped while creating it",
				     true);
			sc->rep->creating_rolled_back++;
			break;
		default:
			break;
		}
	}
}

static int rec_dumps(struct vm_scan *sc)
{
	struct vifmgr *m = sc->m;
	int err;

	err = nl_link_list(m->nl, scan_link_cb, sc);
	if (err) {
		vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		return err;
	}
	if (sc->nifx)
		qsort(sc->ifx, sc->nifx, sizeof(*sc->ifx), vm_ifx_cmp);
	err = nl_addr_list(m->nl, 0, scan_addr_cb, sc);
	if (!err)
		err = nl_rule_list(m->nl, scan_rule_cb, sc);
	if (!err)
		err = nl_route_list(m->nl, 0, scan_route_cb, sc);
	if (err)
		vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
	return err;
}

/*
 * The kill-switch floor: rules for the configured mark base and every
 * base a VIF still carries, before anything the floor replaces (older
 * vifds' per-table blackholes) is swept; then floor rules of bases
 * nobody uses any more go.
 */
static void rec_floor(struct vm_scan *sc)
{
	struct vifmgr *m = sc->m;
	unsigned int v;
	size_t i;
	int err;

	m->nfloor = 0; /* the dump is the truth now, not our memory */
	err = vm_floor_ensure(m, m->ap.mark_base);
	for (v = 0; !err && v < VIF_VLAN_SLOTS; v++) {
		if (!m->by_vlan[v])
			continue;
		err = vm_floor_ensure(m, vm_mark_base(&m->by_vlan[v]->v));
		if (err == -ERANGE) {
			/* Not a mark vifd derived: nothing to cover. */
			pr_warn("VIF '%s' has mark 0x%x, not mark_base + VLAN: no kill-switch floor for it\n",
				m->by_vlan[v]->v.name, m->by_vlan[v]->v.mark);
			err = 0;
		}
	}
	if (err) {
		/* Without the floor, the sweep must not take the old one. */
		vm_rec_fail(sc, err, "kill-switch floor: %s",
			    nl_errmsg(m->nl));
		sc->ndroutes = 0;
		return;
	}
	for (i = 0; i < sc->nfloor; i++) {
		const struct nl_rule *r = &sc->floor[i];

		if (vm_floor_wanted(m, r->fwmark, r->fwmask))
			continue;
		err = nl_rule_blackhole_del(m->nl, r->fwmark, r->fwmask,
					    r->priority);
		if (err)
			vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		else
			sc->rep->rules_removed++;
	}
}

/* Dataplane entries: keep ACTIVE VIFs', remove the rest. */
static int rec_dataplane(struct vm_scan *sc)
{
	struct vifmgr *m = sc->m;
	struct vif_entry *ents;
	int n, i, err;

	ents = calloc(VIF_VLAN_SLOTS, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	n = dp_vif_dump(m->dp, ents, VIF_VLAN_SLOTS);
	if (n < 0) {
		vm_rec_fail(sc, n, "Couldn't dump the dataplane: %s (%d)",
			    strerror(-n), n);
		free(ents);
		return n;
	}
	for (i = 0; i < n; i++) {
		const struct vif_entry *e = &ents[i];
		const struct vm_vif *w = m->by_vlan[e->vlan];
		const struct vm_ifx *x;

		if (w && w->v.state == VIFD_STATE_ACTIVE) {
			sc->seen[e->vlan].entry = *e;
			sc->seen[e->vlan].has_entry = true;
			continue;
		}
		err = dp_vif_delete(m->dp, e->vlan);
		if (err && err != -ENOENT) {
			vm_rec_fail(sc, err,
				    "Couldn't delete the dataplane entry of VLAN %u: %s (%d)",
				    e->vlan, strerror(-err), err);
			continue;
		}
		sc->rep->entries_removed++;
		/* Its port, unless that ifindex is a wanted VIF's now. */
		x = vm_ifx_find(sc, (int)e->svc_ifindex);
		if (e->svc_ifindex && (!x || !m->by_vlan[x->vlan] ||
				       m->by_vlan[x->vlan]->v.state !=
					       VIFD_STATE_ACTIVE)) {
			err = dp_port_detach(m->dp, (int)e->svc_ifindex);
			if (err && err != -ENODEV)
				vm_rec_fail(sc, err,
					    "Couldn't detach the dataplane from ifindex %u: %s (%d)",
					    e->svc_ifindex, strerror(-err),
					    err);
		}
	}
	free(ents);
	return 0;
}

static void rec_sweep(struct vm_scan *sc)
{
	struct vifmgr *m = sc->m;
	unsigned int v;
	size_t i;
	int err;

	for (i = 0; i < sc->ndlinks; i++) {
		err = nl_link_del(m->nl, sc->dlinks[i]);
		if (err)
			vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		else
			sc->rep->links_removed++;
	}
	for (i = 0; i < sc->ndrules; i++) {
		const struct nl_rule *r = &sc->drules[i];

		err = nl_rule_del(m->nl, r->fwmark, r->table, r->priority);
		if (err)
			vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		else
			sc->rep->rules_removed++;
	}
	for (i = 0; i < sc->ndroutes; i++) {
		const struct nl_route *r = &sc->droutes[i];

		if (r->type == RTN_UNICAST)
			err = nl_route_del(m->nl, r->table, r->dst,
					   r->prefix_len, r->gateway, r->oif);
		else if (r->type == RTN_BLACKHOLE ||
			 r->type == RTN_UNREACHABLE || r->type == RTN_PROHIBIT)
			err = nl_route_del_type(m->nl, r->table, r->dst,
						r->prefix_len,
						(enum nl_route_type)r->type,
						r->priority);
		else
			continue;
		if (err)
			vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		else
			sc->rep->routes_removed++;
	}
	/* ERROR VIFs own nothing: a veth of theirs left behind goes. */
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		struct vm_vif *w = m->by_vlan[v];

		if (!w || w->v.state != VIFD_STATE_ERROR)
			continue;
		sc->rep->error_vifs++;
		if (!sc->seen[v].has_port || vm_port_owned(m, w, NULL) <= 0)
			continue;
		err = nl_link_del(m->nl, w->v.ifname);
		if (err)
			vm_rec_fail(sc, err, "%s", nl_errmsg(m->nl));
		else
			sc->rep->links_removed++;
	}
}

struct vm_addr_find {
	__be32 addr;
	__u8 prefix_len;
	bool found;
};

static int addr_find_cb(const struct nl_addr *a, void *ctx)
{
	struct vm_addr_find *f = ctx;

	if (a->addr == f->addr && a->prefix_len == f->prefix_len)
		f->found = true;
	return 0;
}

/*
 * The service end inside the VIF's netns: present, the port's peer, up
 * and addressed?  1 yes (MAC learnt), 0 no, or a negative errno.
 */
static int rec_netns_peer(struct vifmgr *m, struct vm_vif *w,
			  const struct nl_link *port)
{
	struct vm_addr_find f = { w->v.svc_addr, w->v.prefix_len, false };
	char path[VM_NSPATH_MAX];
	struct nl *pnl = NULL;
	struct nl_link pl;
	int err;

	if (port->link_netnsid < 0)
		return 0;
	vm_netns_path(m, w->v.netns, path, sizeof(path));
	err = nl_open_netns(&pnl, path);
	if (err)
		return err;
	err = nl_link_get(pnl, w->v.peer_ifname, &pl);
	if (!err && pl.ifindex == port->link && (pl.flags & IFF_UP))
		err = nl_addr_list(pnl, pl.ifindex, addr_find_cb, &f);
	nl_close(pnl);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	if (pl.ifindex != port->link || !(pl.flags & IFF_UP) || !f.found)
		return 0;
	memcpy(w->svc_mac, pl.mac, 6);
	return 1;
}

/* Bring one ACTIVE VIF back to complete, touching only what is missing. */
static void rec_active(struct vm_scan *sc, struct vm_vif *w)
{
	struct vifmgr *m = sc->m;
	struct vm_seen *seen = &sc->seen[w->v.vlan];
	const struct nl_link *port = &seen->port;
	char reason[VIFD_ERROR_MAX];
	bool links_ok, repaired = false;
	struct vif_spec spec;
	struct vm_op op;
	int err, mode;

	if (w->v.netns[0] && !vm_netns_exists(m, w->v.netns)) {
		snprintf(reason, sizeof(reason),
			 "netns '%s' vanished: the service end went with it",
			 w->v.netns);
		vm_fail_active(m, w, reason);
		sc->rep->active_failed++;
		return;
	}
	vm_op_init(&op, m, w, NULL);
	op.keep_quota = true;

	links_ok = seen->has_port && !strcmp(port->kind, "veth") &&
		   (port->flags & IFF_UP) && seen->port_addr;
	if (links_ok && !w->v.netns[0])
		links_ok = port->link_netnsid == -1 && seen->has_peer &&
			   seen->peer.ifindex == port->link &&
			   (seen->peer.flags & IFF_UP) && seen->peer_addr;
	if (links_ok && w->v.netns[0]) {
		err = rec_netns_peer(m, w, port);
		links_ok = err > 0;
	}
	if (!links_ok) {
		/*
		 * Something is missing: the idempotent steps put it back.  A
		 * link under the port's name that is not the VIF's veth is
		 * left alone (see "Ownership" in vifmgr.h): VETH then fails
		 * on it and the VIF turns ERROR, saying what is in the way.
		 */
		err = vm_step(&op, VIFMGR_STEP_VETH);
		if (!err)
			err = vm_step(&op, VIFMGR_STEP_ADDR);
		if (err)
			goto fail;
		repaired = true;
	} else {
		w->port_ifindex = port->ifindex;
		memcpy(w->port_mac, port->mac, 6);
		w->peer_ifindex = w->v.netns[0] ? 0 : seen->peer.ifindex;
		if (!w->v.netns[0])
			memcpy(w->svc_mac, seen->peer.mac, 6);
	}
	if (!seen->rule) {
		err = vm_step(&op, VIFMGR_STEP_RULE);
		if (err)
			goto fail;
		repaired = true;
	}
	if (seen->tun_ifindex && !seen->tun_route) {
		err = vm_step(&op, VIFMGR_STEP_ROUTE);
		if (err)
			goto fail;
		repaired = true;
	}
	/*
	 * Is the port served?  A live entry naming this very port proves
	 * it: PORT always precedes ENTRY, and a program only leaves with
	 * its netdev or by a hand detaching it.  Otherwise ask the
	 * dataplane: one link request (XDP, in whatever mode: leave it, it
	 * is forwarding) or a table scan (DPDK, where PENDING, asked of an
	 * engine that is not running yet, counts as served).
	 */
	if (seen->has_entry &&
	    seen->entry.svc_ifindex == (__u32)w->port_ifindex)
		mode = 1;
	else
		mode = dp_port_status(m->dp, w->port_ifindex, NULL);
	if (mode <= 0) {
		err = vm_step(&op, VIFMGR_STEP_PORT);
		if (err)
			goto fail;
		repaired = true;
	}
	vm_spec(w, &spec);
	if (!seen->has_entry || !vm_entry_matches(w, &seen->entry, &spec)) {
		err = vm_step(&op, VIFMGR_STEP_ENTRY);
		if (err)
			goto fail;
		repaired = true;
	}
	vm_op_fini(&op);
	if (repaired) {
		pr_info("reconcile: VIF '%s' (VLAN %u) repaired\n", w->v.name,
			w->v.vlan);
		sc->rep->active_repaired++;
	} else {
		sc->rep->active_ok++;
	}
	return;

fail:
	vm_op_fini(&op);
	set_err(reason, sizeof(reason), "reconcile: %s", op.why);
	vm_fail_active(m, w, reason);
	sc->rep->active_failed++;
}

int vifmgr_reconcile(struct vifmgr *m, struct vifmgr_report *rep)
{
	struct vifmgr_report dummy;
	struct vm_scan sc = { .m = m };
	unsigned int v;
	int err;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	sc.rep = rep;
	sc.seen = calloc(VIF_VLAN_SLOTS, sizeof(*sc.seen));
	if (!sc.seen)
		return -ENOMEM;

	rec_store(&sc);
	err = rec_dumps(&sc);
	if (err)
		goto out; /* without a full picture, remove nothing */
	err = rec_dataplane(&sc);
	if (err)
		goto out;
	rec_floor(&sc);
	rec_sweep(&sc);
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		struct vm_vif *w = m->by_vlan[v];

		if (w && w->v.state == VIFD_STATE_ACTIVE)
			rec_active(&sc, w);
	}
	pr_info("reconcile: %u ACTIVE ok, %u repaired, %u failed; %u CREATING rolled back, %u REMOVING finished, %u ERROR; removed %u links, %u rules, %u routes, %u dataplane entries, %u allocations; %u failures\n",
		rep->active_ok, rep->active_repaired, rep->active_failed,
		rep->creating_rolled_back, rep->removing_finished,
		rep->error_vifs, rep->links_removed, rep->rules_removed,
		rep->routes_removed, rep->entries_removed, rep->allocs_freed,
		rep->failures);
out:
	free(sc.seen);
	free(sc.ifx);
	free(sc.dlinks);
	free(sc.drules);
	free(sc.droutes);
	free(sc.floor);
	return sc.err ? sc.err : err;
}

/* ---- link events ---------------------------------------------------- */

static struct vm_vif *vm_by_ifname(const struct vifmgr *m, const char *ifname,
				   bool *peer)
{
	enum alloc_if_kind kind;
	struct vm_vif *w;
	__u16 vlan;

	if (!ifname || alloc_ifname_parse(ifname, &kind, &vlan))
		return NULL;
	w = m->by_vlan[vlan];
	if (!w)
		return NULL;
	if (kind == ALLOC_IF_PORT && !strcmp(w->v.ifname, ifname)) {
		*peer = false;
		return w;
	}
	if (kind == ALLOC_IF_SVC && !strcmp(w->v.peer_ifname, ifname)) {
		*peer = true;
		return w;
	}
	return NULL;
}

int vifmgr_on_link_del(struct vifmgr *m, int ifindex, const char *ifname)
{
	char reason[VIFD_ERROR_MAX];
	struct vm_vif *w = NULL;
	bool peer = false;
	unsigned int v;
	int known;

	if (ifname && ifname[0])
		w = vm_by_ifname(m, ifname, &peer);
	for (v = 0; !w && ifindex > 0 && v < VIF_VLAN_SLOTS; v++) {
		struct vm_vif *o = m->by_vlan[v];

		if (o && (o->port_ifindex == ifindex ||
			  o->peer_ifindex == ifindex)) {
			w = o;
			peer = o->peer_ifindex == ifindex;
		}
	}
	/* Our own deletions happen outside ACTIVE: nothing to do then. */
	if (!w || w->v.state != VIFD_STATE_ACTIVE)
		return 0;
	known = peer ? w->peer_ifindex : w->port_ifindex;
	if (ifindex > 0 && known && known != ifindex)
		return 0; /* a link we replaced, not the current one */
	if (!known && nl_link_index(m->nl, w->v.ifname) > 0 &&
	    (w->v.netns[0] || nl_link_index(m->nl, w->v.peer_ifname) > 0))
		return 0; /* both ends are there: a stale event */

	if (w->v.netns[0] && !vm_netns_exists(m, w->v.netns))
		snprintf(reason, sizeof(reason),
			 "netns '%s' vanished: the service end went with it",
			 w->v.netns);
	else
		snprintf(reason, sizeof(reason), "%s '%s' vanished",
			 peer ? "service end" : "service port",
			 peer ? w->v.peer_ifname : w->v.ifname);
	vm_fail_active(m, w, reason);
	return 1;
}

struct vm_present {
	struct vifmgr *m;
	struct vm_vif **ok; /* [VIF_VLAN_SLOTS]: port seen */
};

static int present_cb(const struct nl_link *l, void *ctx)
{
	struct vm_present *p = ctx;
	struct vm_vif *w;
	bool peer;

	w = vm_by_ifname(p->m, l->name, &peer);
	if (w && !peer)
		p->ok[w->v.vlan] = w;
	return 0;
}

int vifmgr_links_resync(struct vifmgr *m)
{
	struct vm_present p = { .m = m };
	char reason[VIFD_ERROR_MAX];
	unsigned int v;
	int err, n = 0;

	p.ok = calloc(VIF_VLAN_SLOTS, sizeof(*p.ok));
	if (!p.ok)
		return -ENOMEM;
	err = nl_link_list(m->nl, present_cb, &p);
	if (err) {
		free(p.ok);
		return err;
	}
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		struct vm_vif *w = m->by_vlan[v];

		if (!w || w->v.state != VIFD_STATE_ACTIVE || p.ok[v])
			continue;
		if (w->v.netns[0] && !vm_netns_exists(m, w->v.netns))
			snprintf(reason, sizeof(reason),
				 "netns '%s' vanished: the service end went with it",
				 w->v.netns);
		else
			snprintf(reason, sizeof(reason),
				 "service port '%s' vanished", w->v.ifname);
		vm_fail_active(m, w, reason);
		n++;
	}
	free(p.ok);
	return n;
}

/* ---- setters -------------------------------------------------------- */

static struct vm_vif *vm_settable(struct vifmgr *m, __u16 vlan)
{
	struct vm_vif *w = vlan < VIF_VLAN_SLOTS ? m->by_vlan[vlan] : NULL;

	if (!w || w->v.state == VIFD_STATE_REMOVING)
		return NULL;
	return w;
}

static int vm_put(struct vifmgr *m, struct vm_vif *w)
{
	int err = store_vif_put(m->store, &w->v);

	if (err)
		pr_warn("Couldn't store VIF '%s': %s (%d)\n", w->v.name,
			store_errmsg(m->store), err);
	return err;
}

int vifmgr_set_ks_mode(struct vifmgr *m, __u16 vlan, enum vifd_ks_mode mode,
		       __u16 fallback)
{
	struct vm_vif *w = vm_settable(m, vlan);
	enum vifd_ks_mode old_mode;
	__u16 old_fb;
	int err;

	if (!w)
		return -ENOENT;
	if (mode != VIFD_KS_BLOCK && mode != VIFD_KS_FALLBACK)
		return -EINVAL;
	if (mode == VIFD_KS_BLOCK ? fallback != 0 :
				    fallback == vlan || !vifmgr_get(m, fallback))
		return -EINVAL;
	old_mode = w->v.ks_mode;
	old_fb = w->v.ks_fallback;
	if (old_mode == mode && old_fb == fallback)
		return 0;
	w->v.ks_mode = mode;
	w->v.ks_fallback = fallback;
	err = vm_put(m, w);
	if (err) {
		w->v.ks_mode = old_mode;
		w->v.ks_fallback = old_fb;
		return err;
	}
	if (m->emit)
		vm_emit(m, "vif.killswitch", vlan,
			json_pack("{s:s, s:i, s:s, s:i, s:b}", "name", w->v.name,
				  "vlan", (int)vlan, "mode",
				  mode == VIFD_KS_BLOCK ? "block" : "fallback",
				  "fallback", (int)fallback, "engaged",
				  (int)w->v.ks_engaged));
	return 0;
}

int vifmgr_set_killswitch(struct vifmgr *m, __u16 vlan, bool engaged)
{
	struct vm_vif *w = vm_settable(m, vlan);
	bool live, was;
	int err = 0, err2;

	if (!w)
		return -ENOENT;
	live = w->v.state == VIFD_STATE_ACTIVE;
	was = w->v.ks_engaged;
	if (engaged) {
		/*
		 * Store first, so a crash before the dataplane write still
		 * comes back engaged; the dataplane is engaged even when the
		 * store write fails: failing closed beats being consistent.
		 */
		w->v.ks_engaged = true;
		err = vm_put(m, w);
		err2 = live ? dp_killswitch_set(m->dp, vlan, true) : 0;
		err = err ?: err2;
	} else {
		/* Dataplane first: a crash in between stays engaged. */
		err = live ? dp_killswitch_set(m->dp, vlan, false) : 0;
		if (err)
			return err;
		w->v.ks_engaged = false;
		err = vm_put(m, w);
		if (err) {
			/* Back to what the store says: engaged. */
			w->v.ks_engaged = was;
			if (live)
				dp_killswitch_set(m->dp, vlan, was);
			return err;
		}
	}
	if (m->emit && was != w->v.ks_engaged)
		vm_emit(m, "vif.killswitch", vlan,
			json_pack("{s:s, s:i, s:b}", "name", w->v.name,
				  "vlan", (int)vlan, "engaged",
				  (int)w->v.ks_engaged));
	return err;
}

static __u16 chain_next_cb(__u16 vlan, void *ctx)
{
	const struct vifmgr *m = ctx;

	return vlan < VIF_VLAN_SLOTS && m->by_vlan[vlan] ?
		       m->by_vlan[vlan]->v.next_hop :
		       0;
}

/*
 * With next[] as the proposed next hops, every path is at most
 * VIFD_CHAIN_MAX VIFs and has no cycle: this covers the paths coming into
 * a chain from upstream, which chain_validate() leaves to its caller.
 */
static int vm_chain_check_all(const __u16 *next, char *err, size_t errlen)
{
	unsigned int v, len;
	__u16 cur;

	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		if (!next[v])
			continue;
		for (cur = v, len = 1; next[cur]; cur = next[cur]) {
			if (++len > VIFD_CHAIN_MAX) {
				set_err(err, errlen,
					"the path from VLAN %u would be longer than %d VIFs (or loop)",
					v, VIFD_CHAIN_MAX);
				return next[cur] == v ? -ELOOP : -E2BIG;
			}
		}
	}
	return 0;
}

/*
 * Point one VIF's dataplane entry at next_hop.  dp_chain_set() wants the
 * hop in the dataplane; a hop that is not (ERROR) gets a full rewrite,
 * which the dataplane takes as "chain down": drop, fail closed.
 */
static int vm_dp_chain(struct vifmgr *m, struct vm_vif *w)
{
	char why[VIFD_ERROR_MAX];
	struct vif_entry cur;
	struct vif_spec s;
	int err;

	/* Re-routed into its fallback: that stays until the gateway says. */
	if (w->v.state != VIFD_STATE_ACTIVE || w->fallback_on)
		return 0;
	err = dp_chain_set(m->dp, w->v.vlan, w->v.next_hop);
	if (err != -ENOENT || !w->port_ifindex)
		return err;
	if (dp_vif_get(m->dp, w->v.vlan, &cur))
		return err;
	vm_spec(w, &s);
	s.quota_limit = cur.quota_limit;
	s.quota_flags = cur.flags & VIF_QUOTA_FLAGS;
	return dp_vif_upsert(m->dp, &s, why, sizeof(why));
}

static void vm_emit_chain(struct vifmgr *m, const struct vm_vif *w)
{
	if (m->emit)
		vm_emit(m, "vif.chain", w->v.vlan,
			json_pack("{s:s, s:i, s:i}", "name", w->v.name, "vlan",
				  (int)w->v.vlan, "next_hop",
				  (int)w->v.next_hop));
}

int vifmgr_set_chain(struct vifmgr *m, const __u16 *hops, size_t n,
		     char *err, size_t errlen)
{
	__u16 *next, old[VIFD_CHAIN_MAX];
	size_t i, applied = 0;
	int ret;

	if (!hops || n < VIFD_CHAIN_MIN || n > VIFD_CHAIN_MAX) {
		set_err(err, errlen, "a chain has %d-%d VIFs", VIFD_CHAIN_MIN,
			VIFD_CHAIN_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!vm_settable(m, hops[i])) {
			set_err(err, errlen, "VLAN %u is not a VIF", hops[i]);
			return -ENOENT;
		}
	}
	ret = chain_validate(hops, n, chain_next_cb, m, err, errlen);
	if (ret)
		return ret;
	next = calloc(VIF_VLAN_SLOTS, sizeof(*next));
	if (!next)
		return -ENOMEM;
	for (i = 0; i < VIF_VLAN_SLOTS; i++)
		next[i] = chain_next_cb((__u16)i, m);
	for (i = 0; i + 1 < n; i++)
		next[hops[i]] = hops[i + 1];
	ret = vm_chain_check_all(next, err, errlen);
	free(next);
	if (ret)
		return ret;

	for (i = 0; i + 1 < n; i++) {
		struct vm_vif *w = m->by_vlan[hops[i]];

		old[i] = w->v.next_hop;
		w->v.next_hop = hops[i + 1];
	}
	/* Store first, all or nothing; then the dataplane, tail first. */
	ret = store_begin(m->store);
	for (i = 0; !ret && i + 1 < n; i++)
		ret = store_vif_put(m->store, &m->by_vlan[hops[i]]->v);
	if (!ret)
		ret = store_commit(m->store);
	if (ret) {
		set_err(err, errlen, "Couldn't store the chain: %s",
			store_errmsg(m->store));
		store_rollback(m->store);
		goto err_restore;
	}
	for (i = n - 1; i-- > 0; applied++) {
		ret = vm_dp_chain(m, m->by_vlan[hops[i]]);
		if (ret) {
			set_err(err, errlen,
				"Couldn't set the chain next hop of VLAN %u in the dataplane: %s (%d)",
				hops[i], strerror(-ret), ret);
			break;
		}
	}
	if (!ret) {
		for (i = 0; i + 1 < n; i++)
			vm_emit_chain(m, m->by_vlan[hops[i]]);
		return 0;
	}
	/* Undo what reached the dataplane, and the store. */
	for (i = 0; i + 1 < n; i++)
		m->by_vlan[hops[i]]->v.next_hop = old[i];
	for (i = n - 1; applied-- > 0;) {
		i--;
		vm_dp_chain(m, m->by_vlan[hops[i]]);
	}
	store_begin(m->store);
	for (i = 0; i + 1 < n; i++)
		store_vif_put(m->store, &m->by_vlan[hops[i]]->v);
	if (store_commit(m->store))
		store_rollback(m->store);
	return ret;

err_restore:
	for (i = 0; i + 1 < n; i++)
		m->by_vlan[hops[i]]->v.next_hop = old[i];
	return ret;
}

int vifmgr_clear_next_hop(struct vifmgr *m, __u16 vlan)
{
	struct vm_vif *w = vm_settable(m, vlan);
	__u16 old;
	int err;

	if (!w)
		return -ENOENT;
	if (!w->v.next_hop)
		return 0;
	old = w->v.next_hop;
	w->v.next_hop = 0;
	err = vm_put(m, w);
	if (!err)
		err = vm_dp_chain(m, w);
	if (err) {
		w->v.next_hop = old;
		vm_put(m, w);
		return err;
	}
	vm_emit_chain(m, w);
	return 0;
}

int vifmgr_set_quota(struct vifmgr *m, __u16 vlan, const struct vifd_quota *q)
{
	struct vm_vif *w = vm_settable(m, vlan);
	struct vifd_quota old;
	__u64 limit;
	__u32 flags;
	int err;

	if (!w)
		return -ENOENT;
	if (!q || (unsigned int)q->period > VIFD_QUOTA_MONTHLY ||
	    (unsigned int)q->action > VIFD_QUOTA_ALERT ||
	    (unsigned int)q->dir > VIFD_QUOTA_TX || q->alerted > 7)
		return -EINVAL;
	old = w->v.quota;
	w->v.quota = *q;
	err = vm_put(m, w);
	if (!err && w->v.state == VIFD_STATE_ACTIVE) {
		vm_quota_dp(q, &limit, &flags);
		err = dp_quota_set(m->dp, vlan, limit, flags);
		if (err) {
			w->v.quota = old;
			vm_put(m, w);
		}
	} else if (err) {
		w->v.quota = old;
	}
	if (!err && m->emit)
		vm_emit(m, "vif.quota", vlan,
			json_pack("{s:s, s:i, s:I}", "name", w->v.name, "vlan",
				  (int)vlan, "limit", (json_int_t)q->limit));
	return err;
}

int vifmgr_apply_fallback(struct vifmgr *m, __u16 vlan, __u16 fallback,
			  bool on)
{
	struct vm_vif *w = vm_settable(m, vlan);
	int err;

	if (!w)
		return -ENOENT;
	if (on && (!fallback || fallback == vlan ||
		   fallback >= VIF_VLAN_SLOTS || !m->by_vlan[fallback]))
		return -EINVAL;
	if (w->v.state != VIFD_STATE_ACTIVE)
		return 0; /* nothing in the dataplane to re-route */
	err = dp_chain_set(m->dp, vlan, on ? fallback : w->v.next_hop);
	if (!err)
		w->fallback_on = on;
	return err;
}

int vifmgr_set_gw_state(struct vifmgr *m, __u16 vlan, enum vifd_gw_state st,
			__u32 fails)
{
	struct vm_vif *w = vm_settable(m, vlan);
	struct vifd_gateway old;
	int err;

	if (!w)
		return -ENOENT;
	if ((unsigned int)st > VIFD_GW_FAILED)
		return -EINVAL;
	old = w->v.gw;
	w->v.gw.state = st;
	w->v.gw.fails = fails;
	err = vm_put(m, w);
	if (err)
		w->v.gw = old;
	return err;
}

int vifmgr_route_sync(struct vifmgr *m, __u16 vlan)
{
	struct vm_vif *w = vm_settable(m, vlan);
	int err, tun;

	if (!w)
		return -ENOENT;
	if (w->v.state != VIFD_STATE_ACTIVE)
		return 0;
	/* The floor is there since the VIF's RULE step (or reconcile). */
	err = vm_floor_ensure(m, vm_mark_base(&w->v));
	if (err)
		return err;
	tun = vm_tun_ifindex(m, w);
	if (!tun)
		return nl_route_del(m->nl, w->v.table, 0, 0, 0, 0);
	return vm_tun_route_add(m, w, tun);
}
