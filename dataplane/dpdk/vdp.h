/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vdp.h - the DPDK engine's pipeline (library "vdp", meson vdp_dep):
 * vif_logic.h over mbufs, one frame at a time (vdp_trunk_one and
 * vdp_service_one: what the conformance table drives) and in bursts
 * (vdp_pipe.h: what the worker lcores run).
 *
 * This header brings in the logic itself (vdp_env.h: VIF_ACT_*, struct
 * vif_shm_env), whose linux/ip.h clashes with rte_ethdev.h's netinet/ip.h:
 * a file that needs ethdev includes vdp_pipe.h instead.
 */
#ifndef VIF_DATAPLANE_DPDK_VDP_H
#define VIF_DATAPLANE_DPDK_VDP_H

#include "vdp_env.h"
#include "vdp_pipe.h"

/* struct vdp_env is the shared-memory environment itself, {shm, w}. */
#define vdp_env vif_shm_env
typedef struct vif_shm_env vdp_env_t;

/* One frame through the trunk / service logic; returns VIF_ACT_*. */
int vdp_trunk_one(struct vif_shm_env *env, struct vdp_pkt *p);
int vdp_service_one(struct vif_shm_env *env, struct vdp_pkt *p);

#endif /* VIF_DATAPLANE_DPDK_VDP_H */
