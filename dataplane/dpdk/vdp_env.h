/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vdp_env.h - the frame half of include/vif_logic.h's environment for the
 * DPDK engine: a frame is an rte_mbuf plus what the XDP engine gets from
 * struct xdp_md (the ingress ifindex) and what it hands to the kernel
 * (redirect target, routing mark).  The state half is
 * dataplane/vif_env_shm.h; this header includes both and then the logic.
 *
 * The logic sees the first segment only, as XDP sees a frame's linear
 * part: headers of a multi-segment mbuf that straddle segments are
 * "malformed", exactly as they are for XDP.
 */
#ifndef VIF_DATAPLANE_DPDK_VDP_ENV_H
#define VIF_DATAPLANE_DPDK_VDP_ENV_H

/*
 * The logic's headers (linux/ip.h, linux/ipv6.h) and rte_ethdev.h (whose
 * rte_flow.h pulls glibc's netinet/ip.h) cannot share a translation unit:
 * both define struct iphdr.  So this header is included only by files
 * that judge frames and never touch ethdev (vdp_logic.c, tests); the
 * rest of the engine sees vdp.h.
 */
#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "vdp_pkt.h"
#include "vif_env_shm.h"

typedef struct vdp_pkt vif_pkt_t;

VIF_INLINE void *vif_pkt_data(vif_pkt_t *p)
{
	return rte_pktmbuf_mtod(p->m, void *);
}

VIF_INLINE void *vif_pkt_data_end(vif_pkt_t *p)
{
	return rte_pktmbuf_mtod(p->m, char *) + rte_pktmbuf_data_len(p->m);
}

VIF_INLINE __u64 vif_pkt_len(vif_pkt_t *p)
{
	return rte_pktmbuf_pkt_len(p->m);
}

VIF_INLINE __u32 vif_pkt_ingress(vif_pkt_t *p)
{
	return p->ingress;
}

/*
 * bpf_xdp_adjust_head's contract: delta > 0 drops bytes from the front,
 * delta < 0 grows the front into the headroom; -1 when either does not
 * fit (the mbuf is left as it was).
 */
VIF_INLINE int vif_pkt_adjust_head(vif_pkt_t *p, int delta)
{
	if (delta >= 0)
		return rte_pktmbuf_adj(p->m, (uint16_t)delta) ? 0 : -1;
	return rte_pktmbuf_prepend(p->m, (uint16_t)-delta) ? 0 : -1;
}

VIF_INLINE void vif_pkt_set_mark(vif_pkt_t *p, __u32 mark)
{
	p->mark = mark;
	p->has_mark = true;
}

/* Defined below: it returns an enum vif_act, which vif_logic.h defines. */
VIF_INLINE int vif_pkt_redirect(vif_pkt_t *p, __u32 ifindex);

#include "vif_logic.h"

/* Only recorded here: the burst loop maps ifindex -> DPDK port. */
VIF_INLINE int vif_pkt_redirect(vif_pkt_t *p, __u32 ifindex)
{
	p->out_ifindex = ifindex;
	return VIF_ACT_REDIRECT;
}

#endif /* VIF_DATAPLANE_DPDK_VDP_ENV_H */
