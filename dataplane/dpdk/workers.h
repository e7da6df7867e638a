/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * workers.h - the worker lcores: run-to-completion loops over their rx
 * queues, and the RCU (DPDK's QSBR) that lets the main lcore replace the
 * port map under them.
 *
 * A worker loads the map pointer once per round, polls every queue the
 * map gives it, sends what it buffered, and only then reports a quiescent
 * state: at that point it holds no frame for and no pointer into the old
 * map.  workers_publish() stores the new map, waits until every worker
 * has passed a quiescent state since, and frees the old one; only then
 * may the caller stop a port the new map no longer lists.
 */
#ifndef VIF_DATAPLANE_DPDK_WORKERS_H
#define VIF_DATAPLANE_DPDK_WORKERS_H

#include <stdint.h>

#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

#include "ports.h"
#include "vdp_pipe.h"

struct vdp_workers;

/*
 * Every EAL worker lcore becomes a worker (shm row = its index).  Returns
 * NULL and sets errno (-ENODEV message logged: no worker lcore; -E2BIG:
 * more than VIF_SHM_MAX_WORKERS).
 */
struct vdp_workers *workers_new(struct vif_shm *shm, rte_spinlock_t *tx_lock);
uint16_t workers_count(const struct vdp_workers *w);
/* Launch the loops on the map workers_republish() built. */
int workers_start(struct vdp_workers *w);
/* Replace the map: returns once no worker can see the old one. */
void workers_publish(struct vdp_workers *w, struct vdp_map *map);
/* Build a map of ps's ports and publish it.  0 or -errno. */
int workers_republish(struct vdp_workers *w, const struct vdp_ports *ps);
/* Stop every loop and wait for it. */
void workers_stop(struct vdp_workers *w);
/* Engine-side counters summed over workers. */
void workers_stats(const struct vdp_workers *w, struct vdp_lcore_stats *sum);
void workers_free(struct vdp_workers *w);

#endif /* VIF_DATAPLANE_DPDK_WORKERS_H */
