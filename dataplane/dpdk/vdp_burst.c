// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vdp_burst.c - the ethdev half of the pipeline: receive a burst, hand it
 * to vdp_process() (vdp_logic.c), send the tx buffers.
 */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "vdp_pipe.h"

void vdp_lcore_init(struct vdp_lcore *lc, struct vif_shm *shm,
		    uint16_t worker, rte_spinlock_t *tx_lock)
{
	memset(lc, 0, sizeof(*lc));
	lc->shm = shm;
	lc->w = &shm->workers[worker % VIF_SHM_MAX_WORKERS];
	lc->worker = worker;
	lc->tx_lock = tx_lock;
}

void vdp_tx_send(struct vdp_lcore *lc, const struct vdp_map *map,
		    uint16_t port)
{
	const struct vdp_port_info *pi = &map->port[port];
	struct vdp_txbuf *b = &lc->tx[port];
	uint16_t q, sent;

	q = pi->n_txq ? lc->worker % pi->n_txq : 0;
	if (pi->tx_shared)
		rte_spinlock_lock(&lc->tx_lock[port]);
	sent = rte_eth_tx_burst(port, q, b->m, b->n);
	if (pi->tx_shared)
		rte_spinlock_unlock(&lc->tx_lock[port]);
	/* No retry (l3fwd): a full queue means the port is slower than
	 * its input, and waiting would stall every other port too. */
	if (unlikely(sent < b->n)) {
		rte_pktmbuf_free_bulk(&b->m[sent], b->n - sent);
		lc->st.tx_full += b->n - sent;
	}
	lc->st.tx += sent;
	b->n = 0;
}

void vdp_flush(struct vdp_lcore *lc, const struct vdp_map *map)
{
	uint16_t i, port;

	for (i = 0; i < lc->n_pending; i++) {
		port = lc->pending[i];
		if (lc->tx[port].n)
			vdp_tx_send(lc, map, port);
		lc->pending_mask[port] = 0;
	}
	lc->n_pending = 0;
}

uint16_t vdp_rx_burst(struct vdp_lcore *lc, const struct vdp_map *map,
		      const struct vdp_rxq *q)
{
	struct rte_mbuf *pkts[VDP_BURST];
	uint16_t n;

	n = rte_eth_rx_burst(q->port, q->queue, pkts, VDP_BURST);
	if (!n)
		return 0;
	lc->st.rx += n;
	vdp_process(lc, map, q, pkts, n);
	return n;
}
