// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vdp_logic.c - vif_logic.h over mbufs: the per-frame entry points and
 * the per-burst verdict loop.  No ethdev here (vdp_env.h says why): frames
 * go into tx buffers, and vdp_burst.c sends them.
 */
#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "vdp.h"

int vdp_trunk_one(struct vif_shm_env *env, struct vdp_pkt *p)
{
	return vif_trunk_ingress(env, p);
}

int vdp_service_one(struct vif_shm_env *env, struct vdp_pkt *p)
{
	return vif_service_ingress(env, p);
}

/* ---- one burst -------------------------------------------------------- */

static inline void tx_enqueue(struct vdp_lcore *lc, const struct vdp_map *map,
			      uint16_t port, struct rte_mbuf *m)
{
	struct vdp_txbuf *b = &lc->tx[port];

	/* A port is listed once while anything is or was buffered for it
	 * in this round; vdp_flush() empties the list. */
	if (b->n == 0 && !lc->pending_mask[port]) {
		lc->pending_mask[port] = 1;
		lc->pending[lc->n_pending++] = port;
	}
	b->m[b->n++] = m;
	if (unlikely(b->n == VDP_BURST))
		vdp_tx_send(lc, map, port);
}

/*
 * Host-bound: the kernel behind a host port (a tap) accepts unicast
 * frames addressed to its own MAC only (others are PACKET_OTHERHOST), and
 * the frame is addressed to the service port's MAC.  Multicast and
 * broadcast (ARP requests, ND) pass as they are.
 */
static inline void host_readdress(const struct vdp_map *map, uint16_t port,
				  struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (!rte_is_multicast_ether_addr(&eth->dst_addr))
		rte_ether_addr_copy(&map->port[port].mac, &eth->dst_addr);
}

static inline uint16_t egress_port(const struct vdp_map *map,
				   uint32_t trunk_ifindex, uint32_t ifindex)
{
	/* vifd owns config.trunk_ifindex: whatever it says, the logic's
	 * trunk is this engine's trunk port. */
	if (ifindex == trunk_ifindex)
		return map->trunk;
	return vdp_map_ifx_port(map, ifindex);
}

/* role is a constant at each call site: one loop per role, no branch. */
static __rte_always_inline void
process_role(struct vdp_lcore *lc, const struct vdp_map *map,
	     const struct vdp_rxq *q, struct rte_mbuf **pkts, uint16_t n,
	     const int role)
{
	struct vif_shm_env env = { .shm = lc->shm, .w = lc->w };
	uint32_t trunk_ifindex =
		VIF_READ_ONCE_U32(lc->shm->config.trunk_ifindex);
	struct rte_mbuf *drop[VDP_BURST];
	uint16_t i, nd = 0, port;
	struct vdp_pkt p;
	int act;

	for (i = 0; i < VDP_PREFETCH_OFFSET && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));

	for (i = 0; i < n; i++) {
		if (i + VDP_PREFETCH_OFFSET < n)
			rte_prefetch0(rte_pktmbuf_mtod(
				pkts[i + VDP_PREFETCH_OFFSET], void *));
		p.m = pkts[i];
		p.ingress = q->ifindex;
		p.out_ifindex = 0;
		p.has_mark = false;
		p.mark = 0;

		if (role == VDP_ROLE_TRUNK) {
			/* A PMD that stripped the tag anyway (hardware
			 * default) gets it back: the logic wants the wire
			 * frame, like XDP. */
			if (unlikely(p.m->ol_flags &
				     RTE_MBUF_F_RX_VLAN_STRIPPED) &&
			    rte_vlan_insert(&p.m)) {
				act = VIF_ACT_DROP;
				goto verdict;
			}
			act = vif_trunk_ingress(&env, &p);
		} else {
			act = vif_service_ingress(&env, &p);
		}
verdict:
		switch (act) {
		case VIF_ACT_REDIRECT:
			port = egress_port(map, trunk_ifindex, p.out_ifindex);
			break;
		case VIF_ACT_PASS:
			port = vdp_map_host_port(map, p.mark);
			if (port != VDP_NO_PORT)
				host_readdress(map, port, p.m);
			break;
		case VIF_ACT_DROP:
			port = VDP_NO_PORT;
			break;
		default:
			lc->st.aborted++;
			port = VDP_NO_PORT;
			break;
		}
		if (likely(port != VDP_NO_PORT)) {
			tx_enqueue(lc, map, port, p.m);
			continue;
		}
		if (act == VIF_ACT_REDIRECT || act == VIF_ACT_PASS)
			lc->st.no_egress++;
		drop[nd++] = p.m;
		if (unlikely(nd == VDP_BURST)) {
			rte_pktmbuf_free_bulk(drop, nd);
			nd = 0;
		}
	}
	if (nd)
		rte_pktmbuf_free_bulk(drop, nd);
}

void vdp_process(struct vdp_lcore *lc, const struct vdp_map *map,
		 const struct vdp_rxq *q, struct rte_mbuf **pkts, uint16_t n)
{
	if (q->role == VDP_ROLE_TRUNK)
		process_role(lc, map, q, pkts, n, VDP_ROLE_TRUNK);
	else
		process_role(lc, map, q, pkts, n, VDP_ROLE_SERVICE);
}
