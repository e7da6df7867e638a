/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_env.bpf.h - the XDP engine's side of include/vif_logic.h: state is
 * the pinned maps (there is no handle: env is always NULL and every
 * accessor inlines to one map lookup), the frame is struct xdp_md.
 */
#ifndef VIF_BPF_VIF_ENV_BPF_H
#define VIF_BPF_VIF_ENV_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "vif_abi.h"
#include "vif_maps.bpf.h"

typedef void vif_env_t;
typedef struct xdp_md vif_pkt_t;

static __always_inline __u32 *vif_env_index(vif_env_t *env, __u32 vlan)
{
	return bpf_map_lookup_elem(&vif_index, &vlan);
}

static __always_inline struct vif_entry *vif_env_policy(vif_env_t *env,
							__u32 key)
{
	return bpf_map_lookup_elem(&vif_policy, &key);
}

/* An array for the usual small ifindexes: a hash lookup costs ~18 ns. */
static __always_inline struct vif_port *vif_env_port(vif_env_t *env,
						     __u32 ifindex)
{
	if (ifindex < VIF_PORT_SLOTS)
		return bpf_map_lookup_elem(&vif_ports, &ifindex);
	return bpf_map_lookup_elem(&vif_ports_big, &ifindex);
}

static __always_inline struct vif_dp_config *vif_env_config(vif_env_t *env)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vif_config, &zero);
}

static __always_inline struct vif_global_stats *
vif_env_global(vif_env_t *env)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vif_global, &zero);
}

static __always_inline struct vif_stats *vif_env_stats(vif_env_t *env,
						       __u32 vlan)
{
	return bpf_map_lookup_elem(&vif_stats, &vlan);
}

static __always_inline struct vif_quota_pcpu *
vif_env_quota_pcpu(vif_env_t *env, __u32 vlan)
{
	return bpf_map_lookup_elem(&vif_quota_pcpu, &vlan);
}

static __always_inline struct vif_quota_shared *
vif_env_quota_shr(vif_env_t *env, __u32 key)
{
	return bpf_map_lookup_elem(&vif_quota_shr, &key);
}

static __always_inline void *vif_pkt_data(struct xdp_md *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *vif_pkt_data_end(struct xdp_md *ctx)
{
	return (void *)(long)ctx->data_end;
}

static __always_inline __u64 vif_pkt_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

static __always_inline __u32 vif_pkt_ingress(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex;
}

static __always_inline int vif_pkt_adjust_head(struct xdp_md *ctx, int delta)
{
	return bpf_xdp_adjust_head(ctx, delta) ? -1 : 0;
}

static __always_inline int vif_pkt_redirect(struct xdp_md *ctx, __u32 ifindex)
{
	return bpf_redirect(ifindex, 0);
}

/*
 * XDP cannot set skb->mark (there is no skb yet): put the mark in front
 * of the frame as metadata for the tc program (tc_mark.bpf.h).
 */
static __always_inline void vif_pkt_set_mark(struct xdp_md *ctx, __u32 mark)
{
	struct vif_xdp_meta *meta;
	void *data;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
		return; /* tc falls back to looking the port up */
	meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if ((void *)(meta + 1) > data)
		return;
	meta->magic = VIF_META_MAGIC;
	meta->mark = mark;
}

#include "vif_logic.h"

_Static_assert(VIF_ACT_ABORTED == XDP_ABORTED && VIF_ACT_DROP == XDP_DROP &&
		       VIF_ACT_PASS == XDP_PASS &&
		       VIF_ACT_REDIRECT == XDP_REDIRECT,
	       "verdicts are XDP actions");

#endif /* VIF_BPF_VIF_ENV_BPF_H */
