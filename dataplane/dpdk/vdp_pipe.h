/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vdp_pipe.h - the burst half of the pipeline library "vdp", without the
 * logic's headers, so that code using rte_ethdev.h can include it (see
 * vdp_env.h for the clash).  Everyone else includes vdp.h.
 *
 * The burst path, per worker lcore, l3fwd style:
 *   rx burst from one queue -> per-frame verdict (prefetching ahead) ->
 *   REDIRECT: ifindex -> DPDK port, into that port's tx buffer
 *   PASS:     host-bound, into the host egress port chosen by the mark
 *   DROP:     freed (the logic has counted it)
 * and vdp_flush() sends what the buffers hold.
 *
 * Which ports exist is a struct vdp_map: immutable once published, read
 * by workers through one pointer, replaced (never edited) by the main
 * lcore when a port comes or goes; see workers.h for the RCU around it.
 */
#ifndef VIF_DATAPLANE_DPDK_VDP_PIPE_H
#define VIF_DATAPLANE_DPDK_VDP_PIPE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "vdp_pkt.h"
#include "vif_shm.h"

#define VDP_BURST 32
/* Frames prefetched ahead of the one being judged (l3fwd's offset). */
#define VDP_PREFETCH_OFFSET 3
#define VDP_NO_PORT UINT16_MAX
/* ifindex -> port: open addressing, at most RTE_MAX_ETHPORTS live keys. */
#define VDP_IFX_SLOTS 128
#define VDP_MAX_HOST_MARKS 16
/* Rx queues one worker polls: its trunk queue plus its services. */
#define VDP_MAX_RXQ (RTE_MAX_ETHPORTS + 1)
#define VDP_MAX_WORKERS VIF_SHM_MAX_WORKERS

_Static_assert(VDP_IFX_SLOTS >= 2 * RTE_MAX_ETHPORTS, "ifx table too full");
_Static_assert(RTE_MAX_ETHPORTS < VDP_NO_PORT, "port ids fit");

enum vdp_role {
	VDP_ROLE_NONE = 0,
	VDP_ROLE_TRUNK = 1,   /* 802.1Q from the router: vif_trunk_ingress */
	VDP_ROLE_SERVICE = 2, /* a VIF's service port: vif_service_ingress */
	VDP_ROLE_HOST = 3,    /* host egress (exception path): tx only */
};

struct vdp_port_info {
	uint32_t ifindex; /* what the logic calls this port */
	uint8_t role;     /* enum vdp_role */
	/* Fewer tx queues than workers: workers share queue
	 * (worker % n_txq) under tx_lock[port]. */
	uint8_t tx_shared;
	uint16_t n_txq;
	struct rte_ether_addr mac; /* host ports: the kernel side's MAC */
};

struct vdp_rxq {
	uint16_t port;
	uint16_t queue;
	uint8_t role;
	uint32_t ifindex;
};

struct vdp_ifx_slot {
	uint32_t ifindex; /* 0 = empty */
	uint16_t port;
};

struct vdp_host_mark {
	uint32_t mark;
	uint16_t port;
};

/* Every port the workers may touch: a snapshot, never edited in place. */
struct vdp_map {
	uint16_t trunk;        /* VDP_NO_PORT: none yet */
	uint16_t host_default; /* VDP_NO_PORT: host-bound frames dropped */
	uint16_t n_marks;
	uint16_t n_workers;
	struct vdp_host_mark marks[VDP_MAX_HOST_MARKS];
	struct vdp_ifx_slot ifx[VDP_IFX_SLOTS];
	struct vdp_port_info port[RTE_MAX_ETHPORTS];
	struct {
		uint16_t n;
		struct vdp_rxq q[VDP_MAX_RXQ];
	} rx[VDP_MAX_WORKERS];
};

/* Engine-side counters: what the logic cannot see (one worker's). */
struct vdp_lcore_stats {
	uint64_t rx;        /* frames received */
	uint64_t tx;        /* frames sent */
	uint64_t tx_full;   /* sent to a port whose queue was full: freed */
	uint64_t no_egress; /* verdict named a port this engine lacks */
	uint64_t aborted;   /* VIF_ACT_ABORTED */
};

struct vdp_txbuf {
	uint16_t n;
	struct rte_mbuf *m[VDP_BURST];
};

/* One worker's state: written by that worker only. */
struct vdp_lcore {
	struct vif_shm *shm;
	struct vif_shm_worker *w;  /* its counters and quota rows */
	uint16_t worker;           /* index: shm row, tx queue */
	rte_spinlock_t *tx_lock;   /* [RTE_MAX_ETHPORTS], shared */
	uint16_t n_pending;        /* ports with buffered frames */
	uint16_t pending[RTE_MAX_ETHPORTS];
	uint8_t pending_mask[RTE_MAX_ETHPORTS];
	struct vdp_txbuf tx[RTE_MAX_ETHPORTS];
	struct vdp_lcore_stats st;
} __rte_cache_aligned;

/* An empty map: no ports, no host egress. */
void vdp_map_init(struct vdp_map *map, uint16_t n_workers);
/* Add ifindex -> port; 0, -EEXIST (another port has it) or -ENOSPC. */
int vdp_map_ifx_add(struct vdp_map *map, uint32_t ifindex, uint16_t port);
void vdp_map_ifx_del(struct vdp_map *map, uint32_t ifindex);

/* Inline: the burst loop looks up every redirected frame's egress. */
#define VDP_IFX_LOG2 7
_Static_assert((1u << VDP_IFX_LOG2) == VDP_IFX_SLOTS, "VDP_IFX_LOG2");

static inline uint32_t vdp_ifx_slot(uint32_t ifindex)
{
	return (uint32_t)(ifindex * 2654435761u) >> (32 - VDP_IFX_LOG2);
}

/* The port of ifindex, or VDP_NO_PORT. */
static inline uint16_t vdp_map_ifx_port(const struct vdp_map *map, uint32_t ifindex)
{
	uint32_t i, s = vdp_ifx_slot(ifindex);

	if (!ifindex)
		return VDP_NO_PORT;
	for (i = 0; i < VDP_IFX_SLOTS; i++) {
		const struct vdp_ifx_slot *e =
			&map->ifx[(s + i) & (VDP_IFX_SLOTS - 1)];

		if (e->ifindex == ifindex)
			return e->port;
		if (!e->ifindex)
			break;
	}
	return VDP_NO_PORT;
}

/* The host egress port of a mark: its override, else the default. */
static inline uint16_t vdp_map_host_port(const struct vdp_map *map, uint32_t mark)
{
	uint16_t i;

	for (i = 0; i < map->n_marks; i++)
		if (map->marks[i].mark == mark)
			return map->marks[i].port;
	return map->host_default;
}

void vdp_lcore_init(struct vdp_lcore *lc, struct vif_shm *shm,
		    uint16_t worker, rte_spinlock_t *tx_lock);

/*
 * Receive one burst from q, judge every frame and buffer it for its
 * egress.  Returns the number of frames received.  Frames stay buffered
 * until vdp_flush() (or until a buffer fills, which sends it).
 */
uint16_t vdp_rx_burst(struct vdp_lcore *lc, const struct vdp_map *map,
		      const struct vdp_rxq *q);

/*
 * Judge n frames that came in on q (the part of vdp_rx_burst after the
 * rx call; benchmarks time it alone).  Takes ownership of pkts[].
 */
void vdp_process(struct vdp_lcore *lc, const struct vdp_map *map,
		 const struct vdp_rxq *q, struct rte_mbuf **pkts, uint16_t n);

/* Send every buffered frame; frames a full queue refuses are freed. */
void vdp_flush(struct vdp_lcore *lc, const struct vdp_map *map);
/* Send the frames buffered for port (vdp_process calls it when full). */
void vdp_tx_send(struct vdp_lcore *lc, const struct vdp_map *map,
		 uint16_t port);

#endif /* VIF_DATAPLANE_DPDK_VDP_PIPE_H */
