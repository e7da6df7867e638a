/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ports.h - the ports one engine runs: probe, configure, start, stop,
 * and the vdp_map snapshot the workers read.  Main lcore only.
 *
 * Every port gets one tx queue per worker when the PMD has that many
 * (else workers share queues under a lock), one rx queue (services; the
 * trunk gets one per worker, RSS-spread when the PMD can) and a worker
 * that polls it, chosen once when it opens and never changed: two
 * workers must never poll one queue, not even across a map change.
 */
#ifndef VIF_DATAPLANE_DPDK_PORTS_H
#define VIF_DATAPLANE_DPDK_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mempool.h>
#include <rte_spinlock.h>

#include "args.h"
#include "vdp_pipe.h"

struct vdp_port_desc {
	bool used;
	bool probed;     /* we probed it: rte_dev_remove on close */
	uint8_t role;    /* enum vdp_role */
	uint16_t n_rxq;
	uint16_t n_txq;
	uint16_t worker; /* services: the worker polling its queue */
	uint32_t ifindex;
	uint32_t mark;   /* host ports */
	bool has_mark;
	int req_slot;    /* port request slot, -1 for static ports */
	char name[VDP_NAME_MAX];
	struct rte_ether_addr mac;
};

struct vdp_ports {
	struct rte_mempool *pool;
	uint16_t n_workers;
	unsigned int rx_desc;
	unsigned int tx_desc;
	bool no_rss;
	uint16_t load[VDP_MAX_WORKERS]; /* rx queues per worker */
	struct vdp_port_desc p[RTE_MAX_ETHPORTS];
	rte_spinlock_t tx_lock[RTE_MAX_ETHPORTS];
};

/* Create the mbuf pool.  0 or -errno. */
int ports_init(struct vdp_ports *ps, const struct vdp_args *a,
	       uint16_t n_workers);
/*
 * Probe spec's device (or find it if EAL probed it), configure and start
 * it and record it.  req_slot is the port request it answers, or -1.
 * Returns 0 and the port id, or -errno with a one-line reason in err.
 */
int ports_open(struct vdp_ports *ps, const struct vdp_port_spec *spec,
	       int req_slot, uint16_t *port_out, char *err, size_t errlen);
/* Forget port in the map (call ports_build_map + publish, then close). */
void ports_forget(struct vdp_ports *ps, uint16_t port);
/* Stop, close and (if we probed it) remove the device. */
void ports_close(struct vdp_ports *ps, uint16_t port);
/* Forget and close every port (workers stopped). */
void ports_close_all(struct vdp_ports *ps);
void ports_fini(struct vdp_ports *ps);
/* Build the workers' view of the current ports into map. */
int ports_build_map(const struct vdp_ports *ps, struct vdp_map *map);
/* The port serving as trunk, or VDP_NO_PORT. */
uint16_t ports_trunk(const struct vdp_ports *ps);

#endif /* VIF_DATAPLANE_DPDK_PORTS_H */
