/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * engine_dpdk.h - the DPDK engine of the conformance runner: the vdp
 * pipeline (dataplane/dpdk/vdp.h) called one frame at a time, on state
 * that dp.h writes into a private shared-memory file (DP_ENGINE_DPDK).
 *
 * No ports, no lcores, no engine process: EAL runs with --no-huge
 * --no-pci --no-shconf (no root needed) only to give us a mempool.
 * Every frame is built into fresh mbufs, handed to vdp_trunk_one() or
 * vdp_service_one() with worker row 0 (quota and counters are per worker
 * as they are per CPU in XDP, where the runner pins itself to one CPU),
 * and read back.
 *
 * Ports have synthetic ifindexes (they are only numbers to the engine).
 * Port C's is above VIF_PORT_SLOTS, so its lookups go through the shared
 * memory's open-addressed ports_big table, which the XDP engine's veths
 * (small ifindexes) never reach.
 *
 * Frames longer than one mbuf's data room (2 KiB) are chained from 2 KiB
 * segments, as XDP test_run builds a multi-buffer xdp_buff beyond one
 * page: the logic sees the first segment as its linear part.
 *
 * What only DPDK has is checked here: a mark is set (vdp_pkt.has_mark)
 * only on PASS, out_ifindex only on REDIRECT, and the mbuf chain is
 * consistent (pkt_len is the sum of the segments', nb_segs their count).
 */
#ifndef VIF_TESTS_CONFORMANCE_ENGINE_DPDK_H
#define VIF_TESTS_CONFORMANCE_ENGINE_DPDK_H

#include "runner.h"

struct vif_shm;
struct rte_mempool;

struct dpdk_engine {
	struct conf_engine base;
	char shm_path[96];
	struct vif_shm *shm; /* our own mapping of the dp handle's file */
	struct rte_mempool *pool;
	bool eal_up;
};

/*
 * EAL init (once per process), mempool, dp_open(DP_ENGINE_DPDK) on
 * /dev/shm/vifplane-<tag>-<pid>.  Returns 0, TEST_SKIP with *why set
 * (EAL cannot start here), or -errno.
 */
int dpdk_engine_setup(struct dpdk_engine *d, const char *tag,
		      const char **why);
void dpdk_engine_cleanup(struct dpdk_engine *d);

#endif /* VIF_TESTS_CONFORMANCE_ENGINE_DPDK_H */
