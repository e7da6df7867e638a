/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * portreq.h - serve the shared memory's port requests (vif_shm.h, "Port
 * requests"): vifd asks for a kernel netdev, the engine hotplugs an
 * af_xdp port on it (af_packet when af_xdp cannot), hands it to the
 * workers through the RCU'd map and answers ACTIVE or FAILED; REMOVE
 * takes it away again.  Main lcore only, polled every ~100 ms.
 *
 * An engine that stops leaves ACTIVE slots ACTIVE: the next engine on
 * the same file serves them again before answering anything new.
 */
#ifndef VIF_DATAPLANE_DPDK_PORTREQ_H
#define VIF_DATAPLANE_DPDK_PORTREQ_H

#include <stdint.h>

#include "ports.h"
#include "vif_shm.h"
#include "workers.h"

/* port_of[] values besides a port id. */
#define PORTREQ_NONE (-1)
#define PORTREQ_STATIC (-2) /* served by a port from the command line */

struct vdp_portreq {
	struct vif_shm *shm;
	struct vdp_ports *ps;
	struct vdp_workers *ws;
	int16_t port_of[VIF_SHM_MAX_REQS];
};

void portreq_init(struct vdp_portreq *pr, struct vif_shm *shm,
		  struct vdp_ports *ps, struct vdp_workers *ws);
/* One pass over the request table.  Returns how many slots changed. */
unsigned int portreq_poll(struct vdp_portreq *pr);

#endif /* VIF_DATAPLANE_DPDK_PORTREQ_H */
