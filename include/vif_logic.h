/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_logic.h - every forwarding decision of vifplane, written once and
 * compiled by both engines: clang -target bpf builds it into the XDP
 * programs (bpf/vif_env.bpf.h), the host compiler into the DPDK pipeline
 * (dataplane/dpdk/vdp_env.h).  The two engines cannot drift apart because
 * there is nothing to drift: the conformance table (tests/conformance/)
 * runs the same frames through both and compares verdict, frame and
 * counters.
 *
 * The includer supplies the environment before including this file:
 *
 *   typedef ... vif_env_t;  state handle: maps or shared memory (BPF: void,
 *                           every call gets NULL and inlines it away)
 *   typedef ... vif_pkt_t;  the frame: struct xdp_md, or an mbuf wrapper
 *
 *   __u32 *vif_env_index(vif_env_t *, __u32 vlan);
 *   struct vif_entry *vif_env_policy(vif_env_t *, __u32 key);
 *   struct vif_port *vif_env_port(vif_env_t *, __u32 ifindex);
 *           NULL, or a port whose .vlan may be 0 (= no VIF)
 *   struct vif_dp_config *vif_env_config(vif_env_t *);
 *   struct vif_global_stats *vif_env_global(vif_env_t *);  this CPU's
 *   struct vif_stats *vif_env_stats(vif_env_t *, __u32 vlan);  this CPU's
 *   struct vif_quota_pcpu *vif_env_quota_pcpu(vif_env_t *, __u32 vlan);
 *   struct vif_quota_shared *vif_env_quota_shr(vif_env_t *, __u32 key);
 *
 *   void *vif_pkt_data(vif_pkt_t *), *vif_pkt_data_end(vif_pkt_t *);
 *           the linear part of the frame
 *   __u64 vif_pkt_len(vif_pkt_t *);        whole frame, all fragments
 *   __u32 vif_pkt_ingress(vif_pkt_t *);    ingress port's ifindex
 *   int vif_pkt_adjust_head(vif_pkt_t *, int delta);   0 or -1
 *   void vif_pkt_set_mark(vif_pkt_t *, __u32 mark);    host-bound mark
 *   int vif_pkt_redirect(vif_pkt_t *, __u32 ifindex);  returns VIF_ACT_*
 *
 * Verdicts are enum vif_act (vif_act.h): the XDP action numbers, so
 * that the BPF side returns them unchanged.  "Per CPU" means per worker lcore in DPDK.
 */
#ifndef VIF_INCLUDE_VIF_LOGIC_H
#define VIF_INCLUDE_VIF_LOGIC_H

#include "vif_abi.h"
#include "vif_act.h"
#include "vif_parse.h"

#define VIF_READ_ONCE_U32(x) (*(volatile __u32 *)&(x))
#define VIF_READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#define vif_barrier() asm volatile("" ::: "memory")

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif
#define VIF_ICMPV6 58

/* ---- policy, ports, counters, quota ---------------------------------- */

/*
 * Reads of a policy entry retry at most this often.  A retry needs a
 * writer to flip the index between our two loads of it, and every flip is
 * a syscall (XDP) or a store from the single writer: two flips inside one
 * ~20 ns read cannot happen, so four tries are never exhausted in
 * practice.  If they were, the frame is dropped as POLICY_BUSY rather than
 * judged by a torn entry.
 */
#define VIF_POLICY_TRIES 4

enum {
	VIF_POLICY_OK = 0,
	VIF_POLICY_BUSY = -1,
};

/*
 * Copy the policy of vlan as one consistent snapshot.
 *
 * The writer (dataplane/dp_*.c) fills the slot that the index does not
 * point at, then stores a new index with a single aligned 32-bit store.  A
 * reader loads the index, copies the slot it names, and loads the index
 * again: if it is unchanged, no flip happened in between, so the writer
 * cannot have been writing the slot we copied (it only writes the other
 * one).  This relies on loads not being reordered with loads and stores
 * not with stores (x86 TSO); the copy sits between two compiler barriers.
 */
VIF_INLINE int vif_policy_read(vif_env_t *env, __u32 vlan,
			       struct vif_entry *out)
{
	int i;

	vlan &= VIF_VLAN_SLOTS - 1;
VIF_UNROLL
	for (i = 0; i < VIF_POLICY_TRIES; i++) {
		struct vif_entry *e;
		__u32 *idx, v1, key;

		idx = vif_env_index(env, vlan);
		if (!idx)
			return VIF_POLICY_BUSY;
		v1 = VIF_READ_ONCE_U32(*idx);
		vif_barrier();
		key = vlan * 2 + VIF_INDEX_SLOT(v1);
		e = vif_env_policy(env, key);
		if (!e)
			return VIF_POLICY_BUSY;
		__builtin_memcpy(out, e, sizeof(*out));
		vif_barrier();
		if (VIF_READ_ONCE_U32(*idx) == v1 &&
		    out->gen == VIF_INDEX_GEN(v1))
			return VIF_POLICY_OK;
	}
	return VIF_POLICY_BUSY;
}

/* The VIF of service port ifindex, or NULL. */
VIF_INLINE struct vif_port *vif_port_lookup(vif_env_t *env, __u32 ifindex)
{
	struct vif_port *p = vif_env_port(env, ifindex);

	return p && p->vlan ? p : NULL;
}

/*
 * Copy the 12 bytes of two MAC addresses as three 32-bit words: clang
 * turns a 12-byte __builtin_memcpy on packet memory into byte moves (~70
 * instructions).  Unaligned word access is fine on x86 and arm64, where
 * the verifier allows it for packet data.
 */
VIF_INLINE void vif_copy_macs(void *dst, const void *src)
{
	__u32 a = ((const __u32 *)src)[0], b = ((const __u32 *)src)[1],
	      c = ((const __u32 *)src)[2];

	((__u32 *)dst)[0] = a;
	((__u32 *)dst)[1] = b;
	((__u32 *)dst)[2] = c;
}

VIF_INLINE struct vif_stats *vif_stats_get(vif_env_t *env, __u32 vlan)
{
	return vif_env_stats(env, vlan & (VIF_VLAN_SLOTS - 1));
}

/*
 * Count a drop globally and, when the VIF is known (vlan != 0), against
 * the VIF too.  Returns VIF_ACT_DROP so callers can "return vif_drop(...)".
 */
VIF_INLINE int vif_drop(vif_env_t *env, struct vif_global_stats *g,
			__u32 vlan, enum vif_drop_reason reason)
{
	struct vif_stats *st;

	if (reason >= VIF_DROP__MAX)
		return VIF_ACT_DROP;
	if (g)
		g->drops[reason]++;
	if (vlan) {
		st = vif_stats_get(env, vlan);
		if (st)
			st->drops[reason]++;
	}
	return VIF_ACT_DROP;
}

/*
 * Quota admission for len bytes of VIF e.
 *
 * Each CPU takes slices of at most cfg->quota_slice bytes from the VIF's
 * shared budget (one atomic add per slice, not per frame) and spends them
 * locally.  A CPU admits a frame while its slice is positive, so one frame
 * may overrun the slice: the worst-case over-admission of a period is
 * ncpus * (largest frame - 1) bytes.  A CPU that finds the shared budget
 * spent is refused even if another CPU still holds up to one slice: that
 * remainder is usable only by traffic on that CPU.  "used" is exact.
 *
 * Returns true to admit.  With action alert-only (no VIF_F_QUOTA_BLOCK)
 * every frame is admitted and counted.
 */
VIF_INLINE bool vif_quota_admit(vif_env_t *env, const struct vif_entry *e,
				__u32 vlan, __u64 len)
{
	struct vif_dp_config *cfg;
	struct vif_quota_shared *shr;
	struct vif_quota_pcpu *q;
	__u64 limit = e->quota_limit;
	__u64 granted, want, old;
	__u32 key;

	if (!limit)
		return true;
	vlan &= VIF_VLAN_SLOTS - 1;
	q = vif_env_quota_pcpu(env, vlan);
	if (!q)
		return false;
	if (q->epoch != e->quota_epoch) {
		/* First frame of a new period on this CPU. */
		q->epoch = e->quota_epoch;
		q->used = 0;
		q->slice_left = 0;
	}
	if (q->slice_left <= 0) {
		key = vlan * 2 + (e->quota_epoch & 1);
		shr = vif_env_quota_shr(env, key);
		if (!shr)
			goto exhausted;
		granted = VIF_READ_ONCE_U64(shr->granted);
		if (granted >= limit)
			goto exhausted;
		/* The config is read only here, once per slice, not per
		 * frame. */
		cfg = vif_env_config(env);
		want = cfg && cfg->quota_slice ? cfg->quota_slice :
						 VIF_QUOTA_SLICE_DEFAULT;
		/* A frame larger than a slice left a debt: cover it, or
		 * the fresh slice would still be spent and refuse. */
		if ((__s64)want <= -q->slice_left)
			want = -q->slice_left + 1;
		if (want > limit - granted)
			want = limit - granted;
		old = __sync_fetch_and_add(&shr->granted, want);
		if (old >= limit)
			goto exhausted;
		if (old + want > limit)
			want = limit - old;
		q->slice_left += want;
		if (q->slice_left <= 0)
			goto exhausted;
	}
	q->slice_left -= len;
	q->used += len;
	return true;

exhausted:
	if (e->flags & VIF_F_QUOTA_BLOCK)
		return false;
	q->used += len;
	return true;
}

/* ---- trunk ingress ---------------------------------------------------- */

VIF_INLINE bool vif_is_vlan_tpid(__be16 proto)
{
	return proto == vif_htons(ETH_P_8021Q) ||
	       proto == vif_htons(ETH_P_8021AD);
}

/*
 * Remove the outer tag: keep the two MAC addresses in registers, shrink
 * the head by 4 bytes and write them back at the new start.
 */
VIF_INLINE int vif_vlan_pop(vif_pkt_t *pkt)
{
	void *data_end = vif_pkt_data_end(pkt);
	void *data = vif_pkt_data(pkt);
	__u32 macs[3];

	if (data + sizeof(struct ethhdr) + sizeof(struct vif_vlan_hdr) >
	    data_end)
		return -1;
	vif_copy_macs(macs, data);
	if (vif_pkt_adjust_head(pkt, (int)sizeof(struct vif_vlan_hdr)))
		return -1;
	data = vif_pkt_data(pkt);
	data_end = vif_pkt_data_end(pkt);
	if (data + sizeof(struct ethhdr) > data_end)
		return -1;
	vif_copy_macs(data, macs);
	return 0;
}

/*
 * An 802.1Q frame from the router: checked, charged to its VIF, untagged
 * and sent to the VIF's service port.
 */
VIF_INLINE int vif_trunk_ingress(vif_env_t *env, vif_pkt_t *pkt)
{
	void *data_end = vif_pkt_data_end(pkt);
	void *data = vif_pkt_data(pkt);
	struct hdr_cursor cur = { .pos = data };
	struct vif_global_stats *g;
	struct vif_dp_config *cfg;
	struct vif_vlan_hdr *vh;
	struct vif_stats *st;
	struct vif_entry e;
	struct ethhdr *eth;
	__u32 vid;
	__u64 len;

	g = vif_env_global(env);
	if (!g)
		return VIF_ACT_ABORTED;
	g->trunk_rx_packets++;

	eth = parse_ethhdr(&cur, data_end);
	if (!eth)
		return vif_drop(env, g, 0, VIF_DROP_MALFORMED);
	if (!vif_is_vlan_tpid(eth->h_proto))
		return vif_drop(env, g, 0, VIF_DROP_UNTAGGED);
	vh = parse_vlan(&cur, data_end);
	if (!vh)
		return vif_drop(env, g, 0, VIF_DROP_MALFORMED);
	/* An S-tag, or a C-tag carrying another tag, is QinQ.  Only then
	 * is the config read: the common frame never needs it. */
	if (eth->h_proto == vif_htons(ETH_P_8021AD) ||
	    vif_is_vlan_tpid(vh->encap_proto)) {
		cfg = vif_env_config(env);
		if (!cfg || !(cfg->flags & VIF_CFG_ALLOW_QINQ))
			return vif_drop(env, g, 0, VIF_DROP_QINQ);
	}
	vid = vif_ntohs(vh->tci) & 0x0fff;
	if (vid == 0)
		return vif_drop(env, g, 0, VIF_DROP_PRIO_TAG);
	if (vid == 0x0fff)
		return vif_drop(env, g, 0, VIF_DROP_VID_RESERVED);

	if (vif_policy_read(env, vid, &e) != VIF_POLICY_OK)
		return vif_drop(env, g, vid, VIF_DROP_POLICY_BUSY);
	if (e.vlan != vid)
		return vif_drop(env, g, 0, VIF_DROP_UNKNOWN_VLAN);
	if (!(e.flags & VIF_F_ACTIVE))
		return vif_drop(env, g, vid, VIF_DROP_INACTIVE);

	/* Bytes are counted as the service sees them: without the tag. */
	len = vif_pkt_len(pkt) - sizeof(struct vif_vlan_hdr);
	if ((e.flags & VIF_F_QUOTA_RX) &&
	    !vif_quota_admit(env, &e, vid, len))
		return vif_drop(env, g, vid, VIF_DROP_QUOTA);

	if (vif_vlan_pop(pkt))
		return vif_drop(env, g, vid, VIF_DROP_NO_ROOM);

	st = vif_stats_get(env, vid);
	if (st) {
		st->rx_packets++;
		st->rx_bytes += len;
	}
	return vif_pkt_redirect(pkt, e.svc_ifindex);
}

/* ---- service ingress -------------------------------------------------- */

/* What the classifier made of a frame. */
enum vif_class {
	VIF_CLASS_DATA = 0, /* IPv4 or link-local IPv6 traffic */
	VIF_CLASS_CTRL = 1, /* ARP, IPv6 neighbour discovery */
};

struct vif_svc_pkt {
	enum vif_class cls;
	bool to_host; /* addressed to the appliance itself */
};

VIF_INLINE bool vif_ipv4_is_vifs(const struct vif_entry *e, __be32 a)
{
	return a == e->addr || (a & e->netmask) == e->subnet;
}

VIF_INLINE bool vif_mac_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * Classify and source-check one frame.  Returns VIF_DROP__MAX when the
 * frame may go on, otherwise the drop reason.
 */
VIF_INLINE enum vif_drop_reason
vif_svc_classify(struct hdr_cursor *cur, void *data_end, struct ethhdr *eth,
		 const struct vif_entry *e, struct vif_svc_pkt *pkt)
{
	pkt->to_host = vif_mac_eq(eth->h_dest, e->port_mac);

	switch (eth->h_proto) {
	case vif_htons(ETH_P_IP): {
		struct iphdr *iph = parse_iphdr(cur, data_end);

		if (!iph)
			return VIF_DROP_MALFORMED;
		if (!vif_ipv4_is_vifs(e, iph->saddr))
			return VIF_DROP_SPOOF;
		pkt->cls = VIF_CLASS_DATA;
		return VIF_DROP__MAX;
	}
	case vif_htons(ETH_P_ARP): {
		struct vif_arp *arp = parse_arp(cur, data_end);

		if (!arp)
			return VIF_DROP_MALFORMED;
		if (arp->hrd != vif_htons(1) ||
		    arp->pro != vif_htons(ETH_P_IP) || arp->hln != 6 ||
		    arp->pln != 4)
			return VIF_DROP_MALFORMED;
		/* 0.0.0.0 is an address probe (RFC 5227). */
		if (arp->sip && !vif_ipv4_is_vifs(e, arp->sip))
			return VIF_DROP_SPOOF;
		if (e->host_addr && arp->tip == e->host_addr)
			pkt->to_host = true;
		pkt->cls = VIF_CLASS_CTRL;
		return VIF_DROP__MAX;
	}
	case vif_htons(ETH_P_IPV6): {
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
	case vif_htons(ETH_P_8021Q):
	case vif_htons(ETH_P_8021AD):
		/* A tag from a service would pick its own VLAN: hopping. */
		return VIF_DROP_SVC_TAGGED;
	default:
		return VIF_DROP_PROTO;
	}
}

/* Grow the head by a tag and write the VIF's 802.1Q header. */
VIF_INLINE int vif_vlan_push(vif_pkt_t *pkt, __u16 vid)
{
	void *data_end, *data;
	struct vif_vlan_hdr *vh;
	struct ethhdr *eth;
	__u32 macs[3];

	if (vif_pkt_adjust_head(pkt, -(int)sizeof(struct vif_vlan_hdr)))
		return -1;
	data = vif_pkt_data(pkt);
	data_end = vif_pkt_data_end(pkt);
	eth = data;
	if (data + sizeof(*eth) + sizeof(*vh) > data_end)
		return -1;
	/* All three words are loaded before the first store: the two
	 * ranges overlap. */
	vif_copy_macs(macs, data + sizeof(*vh));
	vif_copy_macs(eth, macs);
	vh = (void *)(eth + 1);
	/* The original ethertype is already in place as the encap proto. */
	eth->h_proto = vif_htons(ETH_P_8021Q);
	vh->tci = vif_htons(vid & 0x0fff);
	return 0;
}

/*
 * What a service sends: checked for spoofing, stopped by an engaged kill
 * switch, charged to the quota and then delivered to exactly one place:
 * the chain next hop, the host stack (with the VIF's routing mark) or the
 * trunk (tagged with the VIF's VLAN).
 */
VIF_INLINE int vif_service_ingress(vif_env_t *env, vif_pkt_t *pkt)
{
	void *data_end = vif_pkt_data_end(pkt);
	void *data = vif_pkt_data(pkt);
	struct hdr_cursor cur = { .pos = data };
	struct vif_svc_pkt sp = {};
	enum vif_drop_reason why;
	struct vif_global_stats *g;
	struct vif_dp_config *cfg;
	struct vif_entry e, nh;
	__u32 ifindex, vid;
	struct vif_stats *st;
	struct vif_port *port;
	struct ethhdr *eth;
	__u64 len;

	g = vif_env_global(env);
	if (!g)
		return VIF_ACT_ABORTED;
	g->svc_rx_packets++;

	ifindex = vif_pkt_ingress(pkt);
	port = vif_port_lookup(env, ifindex);
	if (!port)
		return vif_drop(env, g, 0, VIF_DROP_UNKNOWN_PORT);
	vid = port->vlan & 0x0fff;
	if (vif_policy_read(env, vid, &e) != VIF_POLICY_OK)
		return vif_drop(env, g, vid, VIF_DROP_POLICY_BUSY);
	if (e.vlan != vid || e.svc_ifindex != ifindex)
		return vif_drop(env, g, 0, VIF_DROP_UNKNOWN_PORT);
	if (!(e.flags & VIF_F_ACTIVE))
		return vif_drop(env, g, vid, VIF_DROP_INACTIVE);

	eth = parse_ethhdr(&cur, data_end);
	if (!eth)
		return vif_drop(env, g, vid, VIF_DROP_MALFORMED);
	why = vif_svc_classify(&cur, data_end, eth, &e, &sp);
	if (why != VIF_DROP__MAX)
		return vif_drop(env, g, vid, why);

	/*
	 * Engaged kill switch: only neighbour resolution with the host
	 * itself may pass; it never leaves the appliance.
	 */
	if ((e.flags & VIF_F_KILLSWITCH) &&
	    !(sp.cls == VIF_CLASS_CTRL && sp.to_host))
		return vif_drop(env, g, vid, VIF_DROP_KILLSWITCH);

	len = vif_pkt_len(pkt);
	st = vif_stats_get(env, vid);

	if (e.next_hop && sp.cls == VIF_CLASS_DATA) {
		/* Chain: the host is the chained VIF's L2 gateway; all its
		 * data goes into the next hop's service, addressed to it. */
		if (vif_policy_read(env, e.next_hop, &nh) != VIF_POLICY_OK)
			return vif_drop(env, g, vid, VIF_DROP_POLICY_BUSY);
		if (nh.vlan != e.next_hop || !(nh.flags & VIF_F_ACTIVE))
			return vif_drop(env, g, vid, VIF_DROP_CHAIN_DOWN);
		if ((e.flags & VIF_F_QUOTA_TX) &&
		    !vif_quota_admit(env, &e, vid, len))
			return vif_drop(env, g, vid, VIF_DROP_QUOTA);
		data = vif_pkt_data(pkt);
		data_end = vif_pkt_data_end(pkt);
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return vif_drop(env, g, vid, VIF_DROP_MALFORMED);
		/* svc_mac and port_mac are adjacent, like h_dest and
		 * h_source: one 12-byte copy. */
		vif_copy_macs(eth->h_dest, nh.svc_mac);
		if (st) {
			st->tx_packets++;
			st->tx_bytes += len;
			st->chain_packets++;
		}
		return vif_pkt_redirect(pkt, nh.svc_ifindex);
	}

	if ((e.flags & VIF_F_QUOTA_TX) &&
	    !vif_quota_admit(env, &e, vid, len))
		return vif_drop(env, g, vid, VIF_DROP_QUOTA);

	if (sp.to_host || e.next_hop) {
		vif_pkt_set_mark(pkt, e.mark);
		if (st) {
			st->tx_packets++;
			st->tx_bytes += len;
			st->host_packets++;
		}
		return VIF_ACT_PASS;
	}

	cfg = vif_env_config(env);
	if (!cfg || !cfg->trunk_ifindex)
		return vif_drop(env, g, vid, VIF_DROP_NO_TRUNK);
	if (vif_vlan_push(pkt, vid))
		return vif_drop(env, g, vid, VIF_DROP_NO_ROOM);
	if (st) {
		st->tx_packets++;
		st->tx_bytes += len;
	}
	return vif_pkt_redirect(pkt, cfg->trunk_ifindex);
}

#endif /* VIF_INCLUDE_VIF_LOGIC_H */
