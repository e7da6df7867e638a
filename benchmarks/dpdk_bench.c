// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dpdk_bench.c - the C half of benchmarks/dpdk_bench.sh: writes the
 * policy and the input, reads the engine's counters, churns policy under
 * load, and times the pipeline stage in-process.
 *
 *   dpdk_bench setup SHM NVIFS          VIFs 1..NVIFS, all to ifindex 11
 *   dpdk_bench pcap FILE NVIFS          a 64-byte mix over those VLANs
 *   dpdk_bench rate SHM SECONDS         median Mpps of 1 s samples
 *   dpdk_bench churn SHM SECONDS NVIFS  rewrite entries while sampling
 *   dpdk_bench count SHM NVIFS          after the engine stopped: frames
 *                                       seen, forwarded to their VIF, dropped
 *   dpdk_bench cycles NVIFS [EAL...]    rte_rdtsc around vdp_process()
 *
 * Prints "BENCH <name> <value> <unit>" lines (the script names them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "pkt.h"
#include "shm.h"
#include "vdp_pipe.h"

#define TRUNK_IFX 7
#define SVC_IFX 11
#define MIX 256 /* frames in the mix */

static const __u8 mac_router[6] = { 0x02, 0xaa, 0, 0, 0, 0x01 };
static const __u8 mac_svc[6] = { 0x02, 0x5e, 0, 0, 0, 0x01 };

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* Map without vif_shm_map()'s flock (it outlives close: see the test). */
static struct vif_shm *shm_open_plain(const char *path)
{
	void *p;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	p = mmap(NULL, sizeof(struct vif_shm), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void put_vif(struct vif_shm *shm, __u16 vlan, __u32 table)
{
	__u32 cur = shm->index[vlan];
	__u32 next = VIF_INDEX_MAKE(VIF_INDEX_GEN(cur) + 1,
				    !VIF_INDEX_SLOT(cur));
	struct vif_entry *e = &shm->policy[vlan * 2 + VIF_INDEX_SLOT(next)];

	memset(e, 0, sizeof(*e));
	e->gen = VIF_INDEX_GEN(next);
	e->flags = VIF_F_ACTIVE;
	e->vlan = vlan;
	e->svc_ifindex = SVC_IFX;
	e->mark = 0x10000 + vlan;
	e->table = table;
	e->addr = htonl(0x0a000001u | ((__u32)vlan << 8));
	e->netmask = htonl(0xffffff00u);
	e->subnet = e->addr & e->netmask;
	memcpy(e->svc_mac, mac_svc, 6);
	__atomic_store_n(&shm->index[vlan], next, __ATOMIC_RELEASE);
}

static __u16 mix_vlan(int i, int nvifs)
{
	/* Spread over the whole range: 4094 VIFs touch 256 of them per
	 * pass, far apart in the tables (no cache-friendly neighbours). */
	return (__u16)(1 + ((unsigned)i * 2654435761u >> 8) % (unsigned)nvifs);
}

static int cmd_setup(const char *path, int nvifs)
{
	struct vif_shm *shm;
	char err[256] = "";
	int v, ret;

	unlink(path);
	ret = vif_shm_map(path, VIF_SHM_CREATE, &shm, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	shm->config.trunk_ifindex = TRUNK_IFX;
	shm->ports[SVC_IFX].vlan = 1;
	for (v = 1; v <= nvifs; v++)
		put_vif(shm, (__u16)v, 1000);
	vif_shm_unmap(shm);
	return 0;
}

static int cmd_pcap(const char *file, int nvifs)
{
	const __u32 hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	static struct pkt p;
	FILE *f = fopen(file, "w");
	int i;

	if (!f)
		return 1;
	fwrite(hdr, sizeof(hdr), 1, f);
	for (i = 0; i < MIX; i++) {
		__u16 vlan = mix_vlan(i, nvifs);
		__u32 rec[4] = { 1, (__u32)i, 64, 64 };

		pkt_udp4_frame(&p, mac_svc, mac_router, vlan,
			       htonl(0xc0000201u), htonl(0x0a000001u | ((__u32)vlan << 8)),
			       64);
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(p.data, 64, 1, f);
	}
	return fclose(f) ? 1 : 0;
}

static __u64 trunk_rx(const struct vif_shm *shm)
{
	__u64 s = 0;
	int w;

	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++)
		s += __atomic_load_n(&shm->workers[w].global.trunk_rx_packets,
				     __ATOMIC_RELAXED);
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of 1 s samples (the first one skipped: warm-up). */
static double sample_mpps(const struct vif_shm *shm, int seconds,
			  struct vif_shm *churn, int nvifs, __u64 *updates)
{
	double mpps[64];
	__u64 t0, c0, t1, c1;
	int n = 0, i;
	__u32 v = 1, table = 2000;

	if (seconds > 64)
		seconds = 64;
	t0 = now_ns();
	c0 = trunk_rx(shm);
	for (i = 0; i <= seconds; i++) {
		__u64 end = t0 + 1000000000ull;

		while (now_ns() < end) {
			if (churn) {
				/* Same forwarding, new generation: a
				 * frame judged by either is forwarded. */
				put_vif(churn, (__u16)v, table++);
				(*updates)++;
				v = v % (__u32)nvifs + 1;
				if (*updates % 64 == 0)
					usleep(10);
			} else {
				usleep(10000);
			}
		}
		t1 = now_ns();
		c1 = trunk_rx(shm);
		if (i > 0)
			mpps[n++] = (double)(c1 - c0) * 1e3 / (double)(t1 - t0);
		t0 = t1;
		c0 = c1;
	}
	qsort(mpps, (size_t)n, sizeof(double), cmp_double);
	return n ? mpps[n / 2] : 0;
}

static int cmd_rate(const char *path, int seconds)
{
	struct vif_shm *shm = shm_open_plain(path);

	if (!shm)
		return 1;
	printf("%.3f\n", sample_mpps(shm, seconds, NULL, 0, NULL));
	return 0;
}

static int cmd_churn(const char *path, int seconds, int nvifs)
{
	struct vif_shm *shm = shm_open_plain(path);
	__u64 updates = 0;
	double mpps;

	if (!shm)
		return 1;
	mpps = sample_mpps(shm, seconds, shm, nvifs, &updates);
	printf("%.3f %llu\n", mpps, (unsigned long long)updates);
	return 0;
}

/* After the engine stopped: every frame the trunk saw was forwarded to
 * its VIF (rx == fwd) and none was dropped, for any reason. */
static int cmd_count(const char *path, int nvifs)
{
	struct vif_shm *shm = shm_open_plain(path);
	__u64 rx, fwd = 0, drops = 0;
	int w, v, r;

	if (!shm)
		return 1;
	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++) {
		const struct vif_shm_worker *k = &shm->workers[w];

		for (r = 0; r < VIF_DROP__MAX; r++)
			drops += k->global.drops[r];
		for (v = 1; v <= nvifs; v++)
			fwd += k->stats[v].rx_packets;
	}
	rx = trunk_rx(shm);
	printf("%llu %llu %llu\n", (unsigned long long)rx,
	       (unsigned long long)fwd, (unsigned long long)drops);
	return 0;
}

/* ---- cycles: the pipeline stage alone -------------------------------- */

static int cmd_cycles(int nvifs, int argc, char **argv)
{
	char path[64], err[256] = "";
	struct rte_mbuf *pkts[VDP_BURST];
	static struct pkt frames[MIX];
	struct rte_mempool *pool;
	struct vdp_lcore *lc;
	struct vdp_map *map;
	struct vif_shm *shm;
	struct vdp_rxq q = { .port = 0, .queue = 0, .role = VDP_ROLE_TRUNK,
			     .ifindex = TRUNK_IFX };
	rte_spinlock_t locks[RTE_MAX_ETHPORTS];
	struct rte_eth_conf conf = { 0 };
	__u64 cyc = 0, n = 0, t;
	uint16_t port, i;
	int k, it;

	if (rte_eal_init(argc, argv) < 0)
		return 1;
	snprintf(path, sizeof(path), "/dev/shm/vifplane-bench-cyc-%d",
		 (int)getpid());
	if (vif_shm_map(path, VIF_SHM_CREATE, &shm, err, sizeof(err)))
		return 1;
	unlink(path);
	shm->config.trunk_ifindex = TRUNK_IFX;
	for (k = 1; k <= nvifs; k++)
		put_vif(shm, (__u16)k, 1000);
	pool = rte_pktmbuf_pool_create("bench", 8191, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!pool || rte_dev_probe("net_null0,no-rx=1") ||
	    rte_eth_dev_get_port_by_name("net_null0", &port) ||
	    rte_eth_dev_configure(port, 1, 1, &conf) ||
	    rte_eth_rx_queue_setup(port, 0, 512, 0, NULL, pool) ||
	    rte_eth_tx_queue_setup(port, 0, 512, 0, NULL) ||
	    rte_eth_dev_start(port))
		return 1;
	map = calloc(1, sizeof(*map));
	lc = rte_zmalloc("lc", sizeof(*lc), 64);
	if (!map || !lc)
		return 1;
	vdp_map_init(map, 1);
	map->trunk = port;
	map->port[port].n_txq = 1;
	map->port[port].role = VDP_ROLE_SERVICE;
	vdp_map_ifx_add(map, SVC_IFX, port);
	for (k = 0; k < RTE_MAX_ETHPORTS; k++)
		rte_spinlock_init(&locks[k]);
	vdp_lcore_init(lc, shm, 0, locks);
	for (k = 0; k < MIX; k++) {
		__u16 vlan = mix_vlan(k, nvifs);

		pkt_udp4_frame(&frames[k], mac_svc, mac_router, vlan,
			       htonl(0xc0000201u),
			       htonl(0x0a000001u | ((__u32)vlan << 8)), 64);
	}
	for (it = 0; it < 200000; it++) {
		if (rte_pktmbuf_alloc_bulk(pool, pkts, VDP_BURST))
			return 1;
		for (i = 0; i < VDP_BURST; i++) {
			const struct pkt *f = &frames[(it * VDP_BURST + i) % MIX];

			rte_memcpy(rte_pktmbuf_append(pkts[i], 64), f->data, 64);
		}
		t = rte_rdtsc_precise();
		vdp_process(lc, map, &q, pkts, VDP_BURST);
		vdp_flush(lc, map);
		cyc += rte_rdtsc_precise() - t;
		n += VDP_BURST;
	}
	printf("%.1f %.2f\n", (double)cyc / (double)n,
	       (double)rte_get_tsc_hz() / 1e9);
	if (lc->w->global.drops[VIF_DROP_UNKNOWN_VLAN] || lc->st.no_egress)
		fprintf(stderr, "cycles: frames were dropped: setup wrong\n");
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	vif_shm_unmap(shm);
	rte_eal_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "setup"))
		return cmd_setup(argv[2], atoi(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "pcap"))
		return cmd_pcap(argv[2], atoi(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "rate"))
		return cmd_rate(argv[2], atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "churn"))
		return cmd_churn(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc >= 4 && !strcmp(argv[1], "count"))
		return cmd_count(argv[2], atoi(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "cycles")) {
		int nv = atoi(argv[2]);

		argv[2] = argv[0];
		return cmd_cycles(nv, argc - 2, argv + 2);
	}
	fprintf(stderr,
		"usage: %s setup SHM N | pcap FILE N | rate SHM S | churn SHM S N | count SHM N | cycles N [EAL args]\n",
		argv[0]);
	return 2;
}
