// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * workers.c - worker lcore loops and the RCU around the port map.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>

#include "vdp_log.h"
#include "workers.h"

/* A worker without queues sleeps this long per round. */
#define IDLE_SLEEP_US 1000

struct worker {
	struct vdp_workers *ws;
	struct vdp_lcore *lc;
	unsigned int lcore;
	uint16_t idx;
};

struct vdp_workers {
	uint16_t n;
	volatile int stop;
	bool running;
	struct vdp_map *map; /* published: workers load it acquire */
	struct rte_rcu_qsbr *rcu;
	struct worker w[VDP_MAX_WORKERS];
};

static int worker_loop(void *arg)
{
	struct worker *wk = arg;
	struct vdp_workers *ws = wk->ws;
	struct vdp_lcore *lc = wk->lc;
	const struct vdp_map *map;
	uint16_t i, n;

	rte_rcu_qsbr_thread_register(ws->rcu, wk->idx);
	rte_rcu_qsbr_thread_online(ws->rcu, wk->idx);
	VDP_LOG(INFO, "worker %u on lcore %u\n", wk->idx, wk->lcore);

	while (!ws->stop) {
		map = __atomic_load_n(&ws->map, __ATOMIC_ACQUIRE);
		n = map->rx[wk->idx].n;
		for (i = 0; i < n; i++)
			vdp_rx_burst(lc, map, &map->rx[wk->idx].q[i]);
		vdp_flush(lc, map);
		rte_rcu_qsbr_quiescent(ws->rcu, wk->idx);
		if (unlikely(!n)) {
			/* Offline while asleep: a publish need not wait. */
			rte_rcu_qsbr_thread_offline(ws->rcu, wk->idx);
			rte_delay_us_sleep(IDLE_SLEEP_US);
			rte_rcu_qsbr_thread_online(ws->rcu, wk->idx);
		}
	}
	rte_rcu_qsbr_thread_offline(ws->rcu, wk->idx);
	rte_rcu_qsbr_thread_unregister(ws->rcu, wk->idx);
	return 0;
}

struct vdp_workers *workers_new(struct vif_shm *shm, rte_spinlock_t *tx_lock)
{
	struct vdp_workers *ws;
	unsigned int lcore;
	size_t sz;
	uint16_t n = 0;
	int err;

	if (rte_lcore_count() < 2) {
		VDP_LOG(ERR,
			"no worker lcore: give EAL two lcores or more (-l 0,1); the main one only polls port requests\n");
		errno = ENODEV;
		return NULL;
	}
	if (rte_lcore_count() - 1 > VDP_MAX_WORKERS) {
		VDP_LOG(ERR,
			"%u worker lcores, the shared state has rows for %d\n",
			rte_lcore_count() - 1, VDP_MAX_WORKERS);
		errno = E2BIG;
		return NULL;
	}
	ws = rte_zmalloc("vdp_workers", sizeof(*ws), RTE_CACHE_LINE_SIZE);
	if (!ws) {
		errno = ENOMEM;
		return NULL;
	}
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct worker *wk = &ws->w[n];

		wk->ws = ws;
		wk->lcore = lcore;
		wk->idx = n;
		wk->lc = rte_zmalloc_socket("vdp_lcore", sizeof(*wk->lc),
					    RTE_CACHE_LINE_SIZE,
					    (int)rte_lcore_to_socket_id(lcore));
		if (!wk->lc) {
			err = ENOMEM;
			goto err_free;
		}
		vdp_lcore_init(wk->lc, shm, n, tx_lock);
		n++;
	}
	ws->n = n;
	sz = rte_rcu_qsbr_get_memsize(n);
	ws->rcu = rte_zmalloc("vdp_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (!ws->rcu) {
		err = ENOMEM;
		goto err_free;
	}
	if (rte_rcu_qsbr_init(ws->rcu, n)) {
		err = rte_errno;
		goto err_free;
	}
	return ws;

err_free:
	workers_free(ws);
	errno = err;
	return NULL;
}

uint16_t workers_count(const struct vdp_workers *w)
{
	return w->n;
}

int workers_start(struct vdp_workers *ws)
{
	uint16_t i;
	int ret;

	if (!ws->map)
		return -EINVAL;
	ws->stop = 0;
	for (i = 0; i < ws->n; i++) {
		ret = rte_eal_remote_launch(worker_loop, &ws->w[i],
					    ws->w[i].lcore);
		if (ret) {
			VDP_LOG(ERR, "Couldn't launch worker on lcore %u: %s (%d)\n",
				ws->w[i].lcore, rte_strerror(-ret), ret);
			workers_stop(ws);
			return ret;
		}
	}
	ws->running = true;
	return 0;
}

void workers_publish(struct vdp_workers *ws, struct vdp_map *map)
{
	struct vdp_map *old = ws->map;
	uint64_t token;

	__atomic_store_n(&ws->map, map, __ATOMIC_RELEASE);
	if (ws->running) {
		token = rte_rcu_qsbr_start(ws->rcu);
		rte_rcu_qsbr_check(ws->rcu, token, true);
	}
	rte_free(old);
}

int workers_republish(struct vdp_workers *ws, const struct vdp_ports *ps)
{
	struct vdp_map *map;
	int ret;

	map = rte_zmalloc("vdp_map", sizeof(*map), RTE_CACHE_LINE_SIZE);
	if (!map)
		return -ENOMEM;
	ret = ports_build_map(ps, map);
	if (ret) {
		rte_free(map);
		return ret;
	}
	if (!ws->running) {
		rte_free(ws->map);
		ws->map = map;
		return 0;
	}
	workers_publish(ws, map);
	return 0;
}

void workers_stop(struct vdp_workers *ws)
{
	ws->stop = 1;
	rte_eal_mp_wait_lcore();
	ws->running = false;
}

void workers_stats(const struct vdp_workers *ws, struct vdp_lcore_stats *sum)
{
	uint16_t i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < ws->n; i++) {
		const struct vdp_lcore_stats *s = &ws->w[i].lc->st;

		sum->rx += s->rx;
		sum->tx += s->tx;
		sum->tx_full += s->tx_full;
		sum->no_egress += s->no_egress;
		sum->aborted += s->aborted;
	}
}

void workers_free(struct vdp_workers *ws)
{
	uint16_t i;

	if (!ws)
		return;
	for (i = 0; i < VDP_MAX_WORKERS; i++)
		rte_free(ws->w[i].lc);
	rte_free(ws->rcu);
	rte_free(ws->map);
	rte_free(ws);
}
