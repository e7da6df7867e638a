/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_impl.h - what dp.c needs from an engine: one ops table of table
 * accesses (the pinned maps, or the shared-memory file) and of the few
 * engine-only acts (attach a port, tear down).  Everything dp.h promises
 * beyond that - the double-buffer read/modify/publish, upsert checks,
 * chain targets, quota epochs, stats folding, dump - is written once in
 * dp.c over these ops.  Internal to libvifdp: not installed, not ABI.
 *
 * Each engine embeds struct dp as the first member of its own handle and
 * fills it in its *_open().  Every int op returns 0 or a negative errno
 * unless it says otherwise.
 */
#ifndef VIF_DATAPLANE_DP_IMPL_H
#define VIF_DATAPLANE_DP_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "dp.h"

struct dp_ops {
	/* Release everything, the handle itself included. */
	void (*close)(struct dp *dp);

	/* ---- tables ---- */
	int (*config_read)(struct dp *dp, struct vif_dp_config *cfg);
	int (*config_write)(struct dp *dp, const struct vif_dp_config *cfg);
	int (*index_read)(struct dp *dp, __u16 vlan, __u32 *index);
	/* The publishing store: one aligned 32-bit write, ordered after
	 * every earlier policy_write. */
	int (*index_write)(struct dp *dp, __u16 vlan, __u32 index);
	int (*policy_read)(struct dp *dp, __u32 key, struct vif_entry *e);
	int (*policy_write)(struct dp *dp, __u32 key, const struct vif_entry *e);
	/* Whole tables: VIF_VLAN_SLOTS indexes, VIF_POLICY_SLOTS entries. */
	int (*index_read_all)(struct dp *dp, __u32 *idx);
	int (*policy_read_all)(struct dp *dp, struct vif_entry *pol);
	/* Port -> VLAN; *vlan = 0 when the port is unknown. */
	int (*port_get)(struct dp *dp, __u32 ifindex, __u16 *vlan);
	/* vlan 0 removes the port (array: store 0; hash: delete/tombstone). */
	int (*port_set)(struct dp *dp, __u32 ifindex, __u16 vlan);
	/* fn on every port with a VLAN; first error other than -ENODEV is
	 * returned after all ports were visited. */
	int (*for_each_port)(struct dp *dp, int (*fn)(struct dp *, int));
	int (*quota_shr_zero)(struct dp *dp, __u32 key);

	/* ---- per-CPU / per-worker rows (dp->nrows copies each) ---- */
	int (*global_rows)(struct dp *dp, struct vif_global_stats *rows);
	/*
	 * Fill buf with the rows of VLANs first, first + 1, ...: nrows
	 * consecutive struct vif_stats per VLAN.  Returns how many VLANs it
	 * filled (at least 1, as many as buflen holds), or -errno.
	 */
	int (*stats_rows)(struct dp *dp, __u32 first, void *buf, size_t buflen);
	int (*quota_rows)(struct dp *dp, __u16 vlan, struct vif_quota_pcpu *rows);
	int (*stats_clear)(struct dp *dp);

	/* ---- engine acts (the caller checked dp->writable) ---- */
	int (*trunk_attach)(struct dp *dp, int ifindex);
	int (*trunk_detach)(struct dp *dp, int ifindex);
	int (*port_attach)(struct dp *dp, int ifindex);
	int (*port_detach)(struct dp *dp, int ifindex);
	int (*port_status)(struct dp *dp, int ifindex, struct dp_port_info *info);
	/* Everything the engine holds outside the tables; then the tables. */
	int (*teardown)(struct dp *dp);
	int (*prog_fd)(struct dp *dp, enum dp_prog which);
};

struct dp {
	const struct dp_ops *ops;
	enum dp_engine engine;
	bool writable;      /* holds the single-writer lock */
	unsigned int nrows; /* counter copies: possible CPUs, or workers */
	void *scratch;      /* row buffer for stats_rows and friends */
	size_t scratch_len; /* at least nrows * sizeof(struct vif_stats) */
	char where[PATH_MAX]; /* pin directory, or shared-memory file */
};

/* The engines' constructors; *out is set only on success. */
int dp_xdp_open(const struct dp_opts *opts, struct dp **out);
int dp_shm_open(const struct dp_opts *opts, struct dp **out);

#endif /* VIF_DATAPLANE_DP_IMPL_H */
