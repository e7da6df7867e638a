/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_env_shm.h - the state half of include/vif_logic.h's environment for
 * the DPDK engine: every accessor indexes the shared-memory tables of
 * include/vif_shm.h, and the per-CPU ones this worker's row.  The frame
 * half (vif_pkt_*) is the includer's: mbufs in dataplane/dpdk/vdp_env.h,
 * plain buffers in tests.  Include this, define vif_pkt_t and the
 * vif_pkt_*() functions, then include vif_logic.h.
 */
#ifndef VIF_DATAPLANE_VIF_ENV_SHM_H
#define VIF_DATAPLANE_VIF_ENV_SHM_H

#include "vif_shm.h"
#include "vif_parse.h"

struct vif_shm_env {
	struct vif_shm *shm;
	struct vif_shm_worker *w; /* this worker's counters and quota */
};

typedef struct vif_shm_env vif_env_t;

VIF_INLINE __u32 *vif_env_index(vif_env_t *env, __u32 vlan)
{
	return &env->shm->index[vlan & (VIF_VLAN_SLOTS - 1)];
}

VIF_INLINE struct vif_entry *vif_env_policy(vif_env_t *env, __u32 key)
{
	return &env->shm->policy[key & (VIF_POLICY_SLOTS - 1)];
}

/* The XDP engine's array + hash, as an array + open addressing. */
VIF_INLINE struct vif_port *vif_env_port(vif_env_t *env, __u32 ifindex)
{
	struct vif_shm_big_port *b;
	__u32 i, slot;

	if (ifindex < VIF_PORT_SLOTS)
		return &env->shm->ports[ifindex];
	slot = vif_shm_big_slot(ifindex);
	for (i = 0; i < VIF_SHM_BIG_PORTS; i++) {
		b = &env->shm->ports_big[(slot + i) & (VIF_SHM_BIG_PORTS - 1)];
		if (__atomic_load_n(&b->ifindex, __ATOMIC_RELAXED) == ifindex)
			return &b->port;
		if (!b->ifindex)
			return (struct vif_port *)0;
	}
	return (struct vif_port *)0;
}

VIF_INLINE struct vif_dp_config *vif_env_config(vif_env_t *env)
{
	return &env->shm->config;
}

VIF_INLINE struct vif_global_stats *vif_env_global(vif_env_t *env)
{
	return &env->w->global;
}

VIF_INLINE struct vif_stats *vif_env_stats(vif_env_t *env, __u32 vlan)
{
	return &env->w->stats[vlan & (VIF_VLAN_SLOTS - 1)];
}

VIF_INLINE struct vif_quota_pcpu *vif_env_quota_pcpu(vif_env_t *env,
						     __u32 vlan)
{
	return &env->w->quota[vlan & (VIF_VLAN_SLOTS - 1)];
}

VIF_INLINE struct vif_quota_shared *vif_env_quota_shr(vif_env_t *env,
						      __u32 key)
{
	return &env->shm->quota_shr[key & (VIF_POLICY_SLOTS - 1)];
}

#endif /* VIF_DATAPLANE_VIF_ENV_SHM_H */
