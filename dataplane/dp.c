// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dp.c - the engine-neutral half of dp.h: the double-buffered policy
 * protocol, upsert and chain checks, quota epochs, counter folding and the
 * dump, written once over the table ops of dp_impl.h.  dp_xdp.c and
 * dp_shm.c only move bytes in and out of their tables and attach ports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_impl.h"
#include "log.h"
#include "vif_build.h"

/*
 * A read-only handle races the writer; a retry needs the writer to flip
 * the same VLAN during our two index loads, so a handful is plenty.
 */
#define DP_READ_TRIES 16

int dp_open(const struct dp_opts *opts, struct dp **out)
{
	struct dp_opts defaults = {};

	if (!opts)
		opts = &defaults;
	switch (opts->engine) {
	case DP_ENGINE_XDP:
#if HAVE_BPF
		return dp_xdp_open(opts, out);
#else
		pr_warn("Couldn't open the XDP dataplane: this build has no BPF support\n");
		return -EOPNOTSUPP;
#endif
	case DP_ENGINE_DPDK:
		return dp_shm_open(opts, out);
	}
	return -EINVAL;
}

void dp_close(struct dp *dp)
{
	if (dp)
		dp->ops->close(dp);
}

const char *dp_pin_dir(const struct dp *dp)
{
	return dp->where;
}

enum dp_engine dp_engine_of(const struct dp *dp)
{
	return dp->engine;
}

static int need_writer(const struct dp *dp)
{
	return dp->writable ? 0 : -EPERM;
}

int dp_prog_fd(struct dp *dp, enum dp_prog which)
{
	return need_writer(dp) ?: dp->ops->prog_fd(dp, which);
}

#if !HAVE_BPF
int dp_xdp_mode_of(int ifindex, __u32 *prog_id)
{
	return -EOPNOTSUPP;
}
#endif

/* ---- configuration ---------------------------------------------------- */

int dp_config_get(struct dp *dp, struct vif_dp_config *cfg)
{
	return dp->ops->config_read(dp, cfg);
}

enum cfg_field {
	CFG_TRUNK,
	CFG_QINQ,
	CFG_SLICE,
};

/* Read-modify-write of one field; the writer is alone (the flock). */
static int config_update(struct dp *dp, enum cfg_field field, __u32 val)
{
	struct vif_dp_config cfg;
	int err;

	err = need_writer(dp) ?: dp->ops->config_read(dp, &cfg);
	if (err)
		return err;
	switch (field) {
	case CFG_TRUNK:
		cfg.trunk_ifindex = val;
		break;
	case CFG_QINQ:
		cfg.flags = val ? cfg.flags | VIF_CFG_ALLOW_QINQ :
				  cfg.flags & ~VIF_CFG_ALLOW_QINQ;
		break;
	case CFG_SLICE:
		cfg.quota_slice = val;
		break;
	}
	return dp->ops->config_write(dp, &cfg);
}

int dp_set_qinq(struct dp *dp, bool allow)
{
	return config_update(dp, CFG_QINQ, allow);
}

int dp_set_quota_slice(struct dp *dp, __u32 bytes)
{
	if (!bytes)
		return -EINVAL;
	return config_update(dp, CFG_SLICE, bytes);
}

/* ---- ports -------------------------------------------------------------- */

int dp_trunk_attach(struct dp *dp, int ifindex)
{
	int err;

	if (ifindex <= 0)
		return -EINVAL;
	/* Serve the port before anything is sent to it. */
	err = need_writer(dp) ?: dp->ops->trunk_attach(dp, ifindex);
	if (err)
		return err;
	return config_update(dp, CFG_TRUNK, ifindex);
}

int dp_trunk_detach(struct dp *dp)
{
	struct vif_dp_config cfg;
	int err;

	err = need_writer(dp) ?: dp_config_get(dp, &cfg);
	if (err)
		return err;
	if (!cfg.trunk_ifindex)
		return 0;
	/* Stop sending to it before it stops being served. */
	err = config_update(dp, CFG_TRUNK, 0);
	if (err)
		return err;
	return dp->ops->trunk_detach(dp, cfg.trunk_ifindex);
}

int dp_port_attach(struct dp *dp, int ifindex)
{
	if (ifindex <= 0)
		return -EINVAL;
	return need_writer(dp) ?: dp->ops->port_attach(dp, ifindex);
}

int dp_port_detach(struct dp *dp, int ifindex)
{
	if (ifindex <= 0)
		return -EINVAL;
	return need_writer(dp) ?: dp->ops->port_detach(dp, ifindex);
}

int dp_port_status(struct dp *dp, int ifindex, struct dp_port_info *info)
{
	struct dp_port_info dummy;

	if (ifindex <= 0)
		return -EINVAL;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	return dp->ops->port_status(dp, ifindex, info);
}

int dp_resume(struct dp *dp)
{
	struct vif_dp_config cfg;
	int err;

	err = need_writer(dp) ?: dp_config_get(dp, &cfg);
	if (err)
		return err;
	if (cfg.trunk_ifindex) {
		err = dp_trunk_attach(dp, cfg.trunk_ifindex);
		if (err)
			return err;
	}
	return dp->ops->for_each_port(dp, dp_port_attach);
}

int dp_teardown(struct dp *dp)
{
	int err, ret;

	ret = need_writer(dp);
	if (ret)
		return ret;
	ret = dp_trunk_detach(dp);
	err = dp->ops->teardown(dp);
	return ret ?: err;
}

/* ---- policy: the double buffer ------------------------------------------ */

/*
 * The live entry of vlan and the index naming it.  The writer has nobody
 * to race; a read-only handle re-reads the index like vif_policy_read():
 * an unchanged index means the writer never touched the slot we copied
 * (it only writes the other one), whatever the engine.
 */
static int entry_read(struct dp *dp, __u16 vlan, __u32 *index,
		      struct vif_entry *e)
{
	__u32 again;
	int i, err;

	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	for (i = 0; i < DP_READ_TRIES; i++) {
		err = dp->ops->index_read(dp, vlan, index) ?:
		      dp->ops->policy_read(dp, policy_slot_key(vlan, *index),
					   e);
		if (err || dp->writable)
			return err;
		err = dp->ops->index_read(dp, vlan, &again);
		if (err)
			return err;
		if (again == *index)
			return 0;
	}
	return -EAGAIN;
}

/*
 * The one way policy changes: write the inactive slot in full, then flip
 * the index with one 32-bit store.  See vif_policy_read() for the reader.
 */
static int entry_publish(struct dp *dp, __u16 vlan, __u32 index,
			 struct vif_entry *e)
{
	__u32 next = policy_index_next(index);

	e->gen = VIF_INDEX_GEN(next);
	return dp->ops->policy_write(dp, policy_slot_key(vlan, next), e) ?:
	       dp->ops->index_write(dp, vlan, next);
}

typedef int (*entry_fn)(struct dp *dp, struct vif_entry *e, void *arg);

static int entry_modify(struct dp *dp, __u16 vlan, entry_fn fn, void *arg)
{
	struct vif_entry e;
	__u32 index;
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	if (!policy_vlan_valid(vlan))
		return -EINVAL;
	err = entry_read(dp, vlan, &index, &e);
	if (err)
		return err;
	if (e.vlan != vlan)
		return -ENOENT;
	err = fn(dp, &e, arg);
	if (err)
		return err;
	return entry_publish(dp, vlan, index, &e);
}

static int zero_quota_slot(struct dp *dp, __u16 vlan, __u32 epoch)
{
	return dp->ops->quota_shr_zero(dp, (__u32)vlan * 2 + (epoch & 1));
}

/* Can vlan's traffic be chained into nh? 0 or -errno. */
static int chain_target_ok(struct dp *dp, __u16 vlan, __u16 nh)
{
	struct vif_entry next;

	if (!policy_vlan_valid(nh) || nh == vlan)
		return -EINVAL;
	/* The hop must exist; a dead hop later is CHAIN_DOWN. */
	if (dp_vif_get(dp, nh, &next))
		return -ENOENT;
	/* Frames are addressed to the hop's service end: without its MAC
	 * they would be dropped there. */
	if (!(next.svc_mac[0] | next.svc_mac[1] | next.svc_mac[2] |
	      next.svc_mac[3] | next.svc_mac[4] | next.svc_mac[5]))
		return -EDESTADDRREQ;
	return 0;
}

/* Drop ifindex from the port tables if it still points at vlan. */
static void port_forget(struct dp *dp, __u32 ifindex, __u16 vlan)
{
	__u16 cur;

	if (!ifindex || dp->ops->port_get(dp, ifindex, &cur) || cur != vlan)
		return;
	dp->ops->port_set(dp, ifindex, 0);
}

int dp_vif_upsert(struct dp *dp, const struct vif_spec *spec, char *errbuf,
		  size_t errlen)
{
	struct vif_entry cur, e;
	__u32 index, epoch, old_if = 0;
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	err = policy_validate(spec, errbuf, errlen);
	if (err)
		return err;
	if (spec->next_hop) {
		err = chain_target_ok(dp, spec->vlan, spec->next_hop);
		if (err) {
			if (errbuf)
				snprintf(errbuf, errlen,
					 "VIF %u: chain next hop %u unusable: %s",
					 spec->vlan, spec->next_hop,
					 strerror(-err));
			return err;
		}
	}
	err = entry_read(dp, spec->vlan, &index, &cur);
	if (err)
		return err;
	epoch = cur.quota_epoch;
	if (cur.vlan != spec->vlan) {
		/* New VIF: a fresh quota period, whatever a past VIF left. */
		epoch++;
		err = zero_quota_slot(dp, spec->vlan, epoch);
		if (err)
			return err;
	} else if (cur.svc_ifindex != spec->svc_ifindex) {
		old_if = cur.svc_ifindex;
	}
	/* The port first: an entry never names a port that does not map
	 * back to it. */
	err = dp->ops->port_set(dp, spec->svc_ifindex, spec->vlan);
	if (err)
		return err;
	policy_entry_from_spec(spec, 0, epoch, &e);
	err = entry_publish(dp, spec->vlan, index, &e);
	if (err)
		return err;
	if (old_if)
		port_forget(dp, old_if, spec->vlan);
	return 0;
}

static int clear_entry(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u32 *old_if = arg, epoch = e->quota_epoch;

	*old_if = e->svc_ifindex;
	memset(e, 0, sizeof(*e));
	/* Keep the epoch so a later VIF on this VLAN starts a new one. */
	e->quota_epoch = epoch;
	return 0;
}

int dp_vif_delete(struct dp *dp, __u16 vlan)
{
	__u32 old_if = 0;
	int err;

	err = entry_modify(dp, vlan, clear_entry, &old_if);
	if (err)
		return err;
	port_forget(dp, old_if, vlan);
	return 0;
}

int dp_vif_get(struct dp *dp, __u16 vlan, struct vif_entry *out)
{
	__u32 index;
	int err;

	if (!policy_vlan_valid(vlan))
		return -EINVAL;
	err = entry_read(dp, vlan, &index, out);
	if (err)
		return err;
	return out->vlan == vlan ? 0 : -ENOENT;
}

int dp_vif_dump(struct dp *dp, struct vif_entry *out, int max)
{
	struct vif_entry *pol, e;
	__u32 *idx, *idx2 = NULL;
	int n = 0, err, v;

	idx = calloc(VIF_VLAN_SLOTS, sizeof(*idx));
	pol = calloc(VIF_POLICY_SLOTS, sizeof(*pol));
	if (!dp->writable)
		idx2 = calloc(VIF_VLAN_SLOTS, sizeof(*idx2));
	if (!idx || !pol || (!dp->writable && !idx2)) {
		err = -ENOMEM;
		goto out;
	}
	err = dp->ops->index_read_all(dp, idx) ?:
	      dp->ops->policy_read_all(dp, pol);
	/* A reader: VLANs flipped meanwhile are read again one by one. */
	if (!err && idx2)
		err = dp->ops->index_read_all(dp, idx2);
	if (err)
		goto out;
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX && n < max; v++) {
		e = pol[policy_slot_key(v, idx[v])];
		if (idx2 && idx2[v] != idx[v]) {
			err = dp_vif_get(dp, v, &e);
			if (err == -ENOENT)
				continue;
			if (err)
				goto out;
		}
		if (e.vlan == v)
			out[n++] = e;
	}
	err = n;
out:
	free(idx);
	free(idx2);
	free(pol);
	return err;
}

static int set_flag(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u32 *fl = arg; /* [0] = flag, [1] = on */

	e->flags = fl[1] ? e->flags | fl[0] : e->flags & ~fl[0];
	return 0;
}

int dp_killswitch_set(struct dp *dp, __u16 vlan, bool engaged)
{
	__u32 arg[2] = { VIF_F_KILLSWITCH, engaged };

	return entry_modify(dp, vlan, set_flag, arg);
}

int dp_active_set(struct dp *dp, __u16 vlan, bool active)
{
	__u32 arg[2] = { VIF_F_ACTIVE, active };

	return entry_modify(dp, vlan, set_flag, arg);
}

static int set_chain(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u16 nh = *(__u16 *)arg;
	int err;

	if (nh) {
		err = chain_target_ok(dp, e->vlan, nh);
		if (err)
			return err;
	}
	e->next_hop = nh;
	return 0;
}

int dp_chain_set(struct dp *dp, __u16 vlan, __u16 next_hop)
{
	return entry_modify(dp, vlan, set_chain, &next_hop);
}

/* ---- quota -------------------------------------------------------------- */

struct quota_arg {
	__u64 limit;
	__u32 flags;
};

static int set_quota(struct dp *dp, struct vif_entry *e, void *arg)
{
	struct quota_arg *q = arg;

	if (q->flags & ~VIF_QUOTA_FLAGS)
		return -EINVAL;
	if (q->limit && !(q->flags & (VIF_F_QUOTA_RX | VIF_F_QUOTA_TX)))
		return -EINVAL;
	e->quota_limit = q->limit;
	e->flags = (e->flags & ~VIF_QUOTA_FLAGS) | q->flags;
	return 0;
}

int dp_quota_set(struct dp *dp, __u16 vlan, __u64 limit, __u32 flags)
{
	struct quota_arg q = { .limit = limit, .flags = flags };

	return entry_modify(dp, vlan, set_quota, &q);
}

static int reset_quota(struct dp *dp, struct vif_entry *e, void *arg)
{
	int err;

	/* Zero the next epoch's budget before any CPU can see the epoch. */
	err = zero_quota_slot(dp, e->vlan, e->quota_epoch + 1);
	if (err)
		return err;
	e->quota_epoch++;
	return 0;
}

int dp_quota_reset(struct dp *dp, __u16 vlan)
{
	return entry_modify(dp, vlan, reset_quota, NULL);
}

int dp_quota_usage(struct dp *dp, __u16 vlan, __u64 *used)
{
	struct vif_quota_pcpu *rows = dp->scratch;
	struct vif_entry e;
	int err;

	err = dp_vif_get(dp, vlan, &e) ?: dp->ops->quota_rows(dp, vlan, rows);
	if (err)
		return err;
	*used = stats_quota_used(rows, dp->nrows, e.quota_epoch);
	return 0;
}

/* ---- statistics ----------------------------------------------------------- */

int dp_stats_read(struct dp *dp, struct dp_stats *out)
{
	const struct vif_stats *rows = dp->scratch;
	__u32 v, i;
	int n, err;

	err = dp->ops->global_rows(dp, dp->scratch);
	if (err)
		return err;
	stats_sum_global(dp->scratch, dp->nrows, &out->global);
	for (v = 0; v < VIF_VLAN_SLOTS; v += n) {
		n = dp->ops->stats_rows(dp, v, dp->scratch, dp->scratch_len);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		for (i = 0; i < (__u32)n && v + i < VIF_VLAN_SLOTS; i++)
			stats_sum_vif(rows + (size_t)i * dp->nrows, dp->nrows,
				      &out->vif[v + i]);
	}
	return 0;
}

int dp_stats_clear(struct dp *dp)
{
	return need_writer(dp) ?: dp->ops->stats_clear(dp);
}
