/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdp_service.bpf.h - service port ingress: what a service sends is checked
 * for spoofing, stopped by an engaged kill switch, charged to the quota and
 * then delivered to exactly one place: the chain next hop, the host stack
 * (with the VIF's routing mark) or the trunk (tagged with the VIF's VLAN).
 */
#ifndef VIF_BPF_XDP_SERVICE_BPF_H
#define VIF_BPF_XDP_SERVICE_BPF_H

#include "parsing.bpf.h"
#include "vif_common.bpf.h"

#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif
#define VIF_ICMPV6 58

/* What the classifier made of a frame. */
enum vif_class {
	VIF_CLASS_DATA = 0, /* IPv4 or link-local IPv6 traffic */
	VIF_CLASS_CTRL = 1, /* ARP, IPv6 neighbour discovery */
};

struct vif_svc_pkt {
	enum vif_class cls;
	bool to_host; /* addressed to the appliance itself */
};

static __always_inline bool ipv4_is_vifs(const struct vif_entry *e, __be32 a)
{
	return a == e->addr || (a & e->netmask) == e->subnet;
}

static __always_inline bool mac_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * Classify and source-check one frame.  Returns VIF_DROP__MAX when the
 * frame may go on, otherwise the drop reason.
 */
static __always_inline enum vif_drop_reason
vif_svc_classify(struct hdr_cursor *cur, void *data_end, struct ethhdr *eth,
		 const struct vif_entry *e, struct vif_svc_pkt *pkt)
{
	pkt->to_host = mac_eq(eth->h_dest, e->port_mac);

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP): {
		struct iphdr *iph = parse_iphdr(cur, data_end);

		if (!iph)
			return VIF_DROP_MALFORMED;
		if (!ipv4_is_vifs(e, iph->saddr))
			return VIF_DROP_SPOOF;
		pkt->cls = VIF_CLASS_DATA;
		return VIF_DROP__MAX;
	}
	case bpf_htons(ETH_P_ARP): {
		struct vif_arp *arp = parse_arp(cur, data_end);

		if (!arp)
			return VIF_DROP_MALFORMED;
		if (arp->hrd != bpf_htons(1) || arp->pro != bpf_htons(ETH_P_IP) ||
		    arp->hln != 6 || arp->pln != 4)
			return VIF_DROP_MALFORMED;
		/* 0.0.0.0 is an address probe (RFC 5227). */
		if (arp->sip && !ipv4_is_vifs(e, arp->sip))
			return VIF_DROP_SPOOF;
		if (e->host_addr && arp->tip == e->host_addr)
			pkt->to_host = true;
		pkt->cls = VIF_CLASS_CTRL;
		return VIF_DROP__MAX;
	}
	case bpf_htons(ETH_P_IPV6): {
		struct ipv6hdr *ip6 = parse_ipv6hdr(cur, data_end);
		__u8 b0, b1;
		bool unspec;
		int proto;

		if (!ip6)
			return VIF_DROP_MALFORMED;
		b0 = ip6->saddr.in6_u.u6_addr8[0];
		b1 = ip6->saddr.in6_u.u6_addr8[1];
		unspec = !ip6->saddr.in6_u.u6_addr32[0] &&
			 !ip6->saddr.in6_u.u6_addr32[1] &&
			 !ip6->saddr.in6_u.u6_addr32[2] &&
			 !ip6->saddr.in6_u.u6_addr32[3];
		proto = skip_ipv6_ext(cur, data_end, ip6->nexthdr);
		if (proto < 0)
			return VIF_DROP_MALFORMED;
		pkt->cls = VIF_CLASS_DATA;
		if (proto == VIF_ICMPV6) {
			__u8 *type = cur->pos;

			if ((void *)(type + 1) > data_end)
				return VIF_DROP_MALFORMED;
			/* RS, RA, NS, NA, redirect; MLD query/report/done
			 * and MLDv2 report, which DAD sends from :: */
			if ((*type >= 133 && *type <= 137) ||
			    (*type >= 130 && *type <= 132) || *type == 143)
				pkt->cls = VIF_CLASS_CTRL;
		}
		/* A VIF has no global IPv6: only fe80::/10 and DAD's ::. */
		if (b0 == 0xfe && (b1 & 0xc0) == 0x80)
			return VIF_DROP__MAX;
		if (unspec && pkt->cls == VIF_CLASS_CTRL)
			return VIF_DROP__MAX;
		return VIF_DROP_SPOOF;
	}
	case bpf_htons(ETH_P_8021Q):
	case bpf_htons(ETH_P_8021AD):
		/* A tag from a service would pick its own VLAN: hopping. */
		return VIF_DROP_SVC_TAGGED;
	default:
		return VIF_DROP_PROTO;
	}
}

/* Grow the head by a tag and write the VIF's 802.1Q header. */
static __always_inline int vif_vlan_push(struct xdp_md *ctx, __u16 vid)
{
	void *data_end, *data;
	struct vif_vlan_hdr *vh;
	struct ethhdr *eth;
	__u32 macs[3];

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct vif_vlan_hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if (data + sizeof(*eth) + sizeof(*vh) > data_end)
		return -1;
	/* All three words are loaded before the first store: the two
	 * ranges overlap. */
	vif_copy_macs(macs, data + sizeof(*vh));
	vif_copy_macs(eth, macs);
	vh = (void *)(eth + 1);
	/* The original ethertype is already in place as the encap proto. */
	eth->h_proto = bpf_htons(ETH_P_8021Q);
	vh->tci = bpf_htons(vid & 0x0fff);
	return 0;
}

/* Put the routing mark in front of the frame for the tc program. */
static __always_inline void vif_set_meta(struct xdp_md *ctx, __u32 mark)
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

static __always_inline int vif_service_ingress(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor cur = { .pos = data };
	struct vif_svc_pkt pkt = {};
	enum vif_drop_reason why;
	struct vif_global_stats *g;
	struct vif_dp_config *cfg;
	struct vif_entry e, nh;
	__u32 zero = 0, ifindex, vid;
	struct vif_stats *st;
	struct vif_port *port;
	struct ethhdr *eth;
	__u64 len;

	g = vif_global_get();
	if (!g)
		return XDP_ABORTED;
	g->svc_rx_packets++;

	ifindex = ctx->ingress_ifindex;
	port = vif_port_lookup(ifindex);
	if (!port)
		return vif_drop(g, 0, VIF_DROP_UNKNOWN_PORT);
	vid = port->vlan & 0x0fff;
	if (vif_policy_read(vid, &e) != VIF_POLICY_OK)
		return vif_drop(g, vid, VIF_DROP_POLICY_BUSY);
	if (e.vlan != vid || e.svc_ifindex != ifindex)
		return vif_drop(g, 0, VIF_DROP_UNKNOWN_PORT);
	if (!(e.flags & VIF_F_ACTIVE))
		return vif_drop(g, vid, VIF_DROP_INACTIVE);

	eth = parse_ethhdr(&cur, data_end);
	if (!eth)
		return vif_drop(g, vid, VIF_DROP_MALFORMED);
	why = vif_svc_classify(&cur, data_end, eth, &e, &pkt);
	if (why != VIF_DROP__MAX)
		return vif_drop(g, vid, why);

	/*
	 * Engaged kill switch: only neighbour resolution with the host
	 * itself may pass; it never leaves the appliance.
	 */
	if ((e.flags & VIF_F_KILLSWITCH) &&
	    !(pkt.cls == VIF_CLASS_CTRL && pkt.to_host))
		return vif_drop(g, vid, VIF_DROP_KILLSWITCH);

	len = bpf_xdp_get_buff_len(ctx);
	st = vif_stats_get(vid);

	if (e.next_hop && pkt.cls == VIF_CLASS_DATA) {
		/* Chain: the host is the chained VIF's L2 gateway; all its
		 * data goes into the next hop's service, addressed to it. */
		if (vif_policy_read(e.next_hop, &nh) != VIF_POLICY_OK)
			return vif_drop(g, vid, VIF_DROP_POLICY_BUSY);
		if (nh.vlan != e.next_hop || !(nh.flags & VIF_F_ACTIVE))
			return vif_drop(g, vid, VIF_DROP_CHAIN_DOWN);
		if ((e.flags & VIF_F_QUOTA_TX) &&
		    !vif_quota_admit(&e, vid, len))
			return vif_drop(g, vid, VIF_DROP_QUOTA);
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return vif_drop(g, vid, VIF_DROP_MALFORMED);
		/* svc_mac and port_mac are adjacent, like h_dest and
		 * h_source: one 12-byte copy. */
		vif_copy_macs(eth->h_dest, nh.svc_mac);
		if (st) {
			st->tx_packets++;
			st->tx_bytes += len;
			st->chain_packets++;
		}
		return bpf_redirect(nh.svc_ifindex, 0);
	}

	if ((e.flags & VIF_F_QUOTA_TX) &&
	    !vif_quota_admit(&e, vid, len))
		return vif_drop(g, vid, VIF_DROP_QUOTA);

	if (pkt.to_host || e.next_hop) {
		vif_set_meta(ctx, e.mark);
		if (st) {
			st->tx_packets++;
			st->tx_bytes += len;
			st->host_packets++;
		}
		return XDP_PASS;
	}

	cfg = bpf_map_lookup_elem(&vif_config, &zero);
	if (!cfg || !cfg->trunk_ifindex)
		return vif_drop(g, vid, VIF_DROP_NO_TRUNK);
	if (vif_vlan_push(ctx, vid))
		return vif_drop(g, vid, VIF_DROP_NO_ROOM);
	if (st) {
		st->tx_packets++;
		st->tx_bytes += len;
	}
	return bpf_redirect(cfg->trunk_ifindex, 0);
}

#endif /* VIF_BPF_XDP_SERVICE_BPF_H */
