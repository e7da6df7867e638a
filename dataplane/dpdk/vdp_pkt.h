/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vdp_pkt.h - one frame as the DPDK engine hands it to vif_logic.h.  Apart
 * from vdp_env.h so that code which also includes rte_ethdev.h (whose
 * netinet/ip.h clashes with the logic's linux/ip.h) can name it.
 */
#ifndef VIF_DATAPLANE_DPDK_VDP_PKT_H
#define VIF_DATAPLANE_DPDK_VDP_PKT_H

#include <stdbool.h>
#include <stdint.h>

struct rte_mbuf;

/* One frame through the logic. */
struct vdp_pkt {
	struct rte_mbuf *m;
	uint32_t ingress;     /* in: ifindex of the port it came from */
	uint32_t out_ifindex; /* out: redirect target (VIF_ACT_REDIRECT) */
	uint32_t mark;        /* out: routing mark (VIF_ACT_PASS) */
	bool has_mark;
};

#endif /* VIF_DATAPLANE_DPDK_VDP_PKT_H */
