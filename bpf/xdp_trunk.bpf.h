/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdp_trunk.bpf.h - trunk ingress: 802.1Q frames from the router are
 * checked, charged to their VIF, untagged and redirected to the VIF's
 * service port.
 */
#ifndef VIF_BPF_XDP_TRUNK_BPF_H
#define VIF_BPF_XDP_TRUNK_BPF_H

#include "parsing.bpf.h"
#include "vif_common.bpf.h"

static __always_inline bool is_vlan_tpid(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Remove the outer tag: keep the two MAC addresses in registers, shrink
 * the head by 4 bytes and write them back at the new start.
 */
static __always_inline int vif_vlan_pop(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 macs[3];

	if (data + sizeof(struct ethhdr) + sizeof(struct vif_vlan_hdr) >
	    data_end)
		return -1;
	vif_copy_macs(macs, data);
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct vif_vlan_hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return -1;
	vif_copy_macs(data, macs);
	return 0;
}

static __always_inline int vif_trunk_ingress(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor cur = { .pos = data };
	struct vif_global_stats *g;
	struct vif_dp_config *cfg;
	struct vif_vlan_hdr *vh;
	struct vif_stats *st;
	struct vif_entry e;
	struct ethhdr *eth;
	__u32 zero = 0, vid;
	__u64 len;

	g = vif_global_get();
	if (!g)
		return XDP_ABORTED;
	g->trunk_rx_packets++;

	eth = parse_ethhdr(&cur, data_end);
	if (!eth)
		return vif_drop(g, 0, VIF_DROP_MALFORMED);
	if (!is_vlan_tpid(eth->h_proto))
		return vif_drop(g, 0, VIF_DROP_UNTAGGED);
	vh = parse_vlan(&cur, data_end);
	if (!vh)
		return vif_drop(g, 0, VIF_DROP_MALFORMED);
	/* An S-tag, or a C-tag carrying another tag, is QinQ.  Only then
	 * is the config read: the common frame never needs it. */
	if (eth->h_proto == bpf_htons(ETH_P_8021AD) ||
	    is_vlan_tpid(vh->encap_proto)) {
		cfg = bpf_map_lookup_elem(&vif_config, &zero);
		if (!cfg || !(cfg->flags & VIF_CFG_ALLOW_QINQ))
			return vif_drop(g, 0, VIF_DROP_QINQ);
	}
	vid = bpf_ntohs(vh->tci) & 0x0fff;
	if (vid == 0)
		return vif_drop(g, 0, VIF_DROP_PRIO_TAG);
	if (vid == 0x0fff)
		return vif_drop(g, 0, VIF_DROP_VID_RESERVED);

	if (vif_policy_read(vid, &e) != VIF_POLICY_OK)
		return vif_drop(g, vid, VIF_DROP_POLICY_BUSY);
	if (e.vlan != vid)
		return vif_drop(g, 0, VIF_DROP_UNKNOWN_VLAN);
	if (!(e.flags & VIF_F_ACTIVE))
		return vif_drop(g, vid, VIF_DROP_INACTIVE);

	/* Bytes are counted as the service sees them: without the tag. */
	len = bpf_xdp_get_buff_len(ctx) - sizeof(struct vif_vlan_hdr);
	if ((e.flags & VIF_F_QUOTA_RX) &&
	    !vif_quota_admit(&e, vid, len))
		return vif_drop(g, vid, VIF_DROP_QUOTA);

	if (vif_vlan_pop(ctx))
		return vif_drop(g, vid, VIF_DROP_NO_ROOM);

	st = vif_stats_get(vid);
	if (st) {
		st->rx_packets++;
		st->rx_bytes += len;
	}
	return bpf_redirect(e.svc_ifindex, 0);
}

#endif /* VIF_BPF_XDP_TRUNK_BPF_H */
