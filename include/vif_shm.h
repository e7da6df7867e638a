/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_shm.h - the DPDK engine's state: the same tables as the XDP engine's
 * pinned maps (vif_abi.h), laid out in one shared-memory file that the
 * engine (dataplane/dpdk/vifdpdk) and its writer (vifd, through
 * dataplane/dp_shm.c behind dp.h) both map.  Exporters read it the same
 * way they read the pinned maps: it is ABI, versioned by VIF_SHM_VERSION.
 *
 * Correspondence with the pinned maps:
 *   vif_config      -> config
 *   vif_index       -> index[vlan]
 *   vif_policy      -> policy[vlan * 2 + slot]
 *   vif_ports       -> ports[ifindex]            (ifindex < VIF_PORT_SLOTS)
 *   vif_ports_big   -> ports_big[] (open addressing, see below)
 *   vif_quota_shr   -> quota_shr[vlan * 2 + (epoch & 1)]
 *   vif_stats, vif_global, vif_quota_pcpu (per CPU)
 *                   -> workers[w].stats / .global / .quota (per worker
 *                      lcore; readers sum over all VIF_SHM_MAX_WORKERS)
 *
 * Atomicity is the XDP engine's, unchanged: one writer, which fills the
 * inactive policy slot and then publishes index[vlan] with one aligned
 * 32-bit store (vif_logic.h's reader retries around it).  Counters are
 * written by their worker only; readers may see a counter one frame old,
 * never a torn one (aligned 64-bit stores).
 *
 * ports_big: VIF_SHM_BIG_PORTS slots, linear probing from
 * (ifindex * 2654435761) >> (32 - VIF_SHM_BIG_PORTS_LOG2).  ifindex 0 is
 * an empty slot and ends a probe.  A slot once keyed is never emptied:
 * removing a port stores vlan 0 (a tombstone), and an insert may rekey a
 * tombstone.  So a reader can never miss a live port because of a
 * concurrent removal.  Each slot is written with one 64-bit store.
 *
 * Port requests: the writer asks the engine to serve a kernel netdev
 * (a service port or the trunk) by filling a free req[] slot (ifindex,
 * ifname, kind) and then storing state = VIF_SHM_REQ_WANTED; the engine
 * polls the table, opens the netdev with an af_xdp or af_packet port,
 * and answers VIF_SHM_REQ_ACTIVE or VIF_SHM_REQ_FAILED (with -errno in
 * .error).  A writer removes a port by storing VIF_SHM_REQ_REMOVE; the
 * engine stops it and frees the slot (VIF_SHM_REQ_FREE).
 *
 * Every state change is a compare-and-swap from the state its author
 * acted on, by both sides.  Writer: FREE (its own) -> WANTED;
 * WANTED/ACTIVE/FAILED -> REMOVE; FAILED -> WANTED (ask again); REMOVE ->
 * WANTED only while no engine runs.  Engine: WANTED -> ACTIVE/FAILED,
 * REMOVE -> FREE, acting per slot, never per ifindex.  An engine runs
 * when engine_pid exists and heartbeat_ns is under a second old; a writer
 * that finds none leaves WANTED for the next engine to serve.
 */
#ifndef VIF_INCLUDE_VIF_SHM_H
#define VIF_INCLUDE_VIF_SHM_H

#include <linux/types.h>

#include "vif_abi.h"

#define VIF_SHM_MAGIC 0x316d687366697676ULL /* "vvifshm1" little-endian */
#define VIF_SHM_VERSION 1

/* Default file; tests and tools pass their own (unique) paths. */
#define VIF_SHM_DEFAULT_PATH "/dev/shm/vifplane-dp"

#define VIF_SHM_MAX_WORKERS 16
#define VIF_SHM_BIG_PORTS_LOG2 13
#define VIF_SHM_BIG_PORTS (1u << VIF_SHM_BIG_PORTS_LOG2)
#define VIF_SHM_MAX_REQS 4096

struct vif_shm_hdr {
	__u64 magic;         /* VIF_SHM_MAGIC once initialised */
	__u32 shm_version;   /* VIF_SHM_VERSION */
	__u32 abi_version;   /* VIF_ABI_VERSION */
	__u64 size;          /* bytes: sizeof(struct vif_shm) */
	__u32 max_workers;   /* VIF_SHM_MAX_WORKERS */
	__u32 n_workers;     /* workers the running engine uses */
	__u32 engine_pid;    /* the running engine, 0 = none */
	__u32 pad;
	__u64 heartbeat_ns;  /* engine's CLOCK_MONOTONIC, every ~100 ms */
	__u64 pad2[2];
};

/* One ports_big slot.  Written as one 64-bit store. */
struct vif_shm_big_port {
	__u32 ifindex; /* 0 = empty */
	struct vif_port port;
};

/* Everything one worker lcore writes: its own cache lines only. */
struct vif_shm_worker {
	struct vif_global_stats global;
	struct vif_stats stats[VIF_VLAN_SLOTS];
	struct vif_quota_pcpu quota[VIF_VLAN_SLOTS];
} __attribute__((aligned(64)));

enum vif_shm_req_state {
	VIF_SHM_REQ_FREE = 0,
	VIF_SHM_REQ_WANTED = 1,  /* writer: please serve this netdev */
	VIF_SHM_REQ_ACTIVE = 2,  /* engine: serving it */
	VIF_SHM_REQ_FAILED = 3,  /* engine: could not; see .error */
	VIF_SHM_REQ_REMOVE = 4,  /* writer: stop serving it */
};

enum vif_shm_req_kind {
	VIF_SHM_PORT_SERVICE = 0,
	VIF_SHM_PORT_TRUNK = 1,
};

struct vif_shm_req {
	__u32 state;     /* enum vif_shm_req_state; the last field written */
	__u32 kind;      /* enum vif_shm_req_kind */
	__u32 ifindex;   /* the kernel netdev */
	__s32 error;     /* engine: -errno when FAILED */
	char ifname[16]; /* its name, for the PMD's iface= argument */
	__u32 port_id;   /* engine: DPDK port id when ACTIVE */
	__u32 pad[3];
};

struct vif_shm {
	struct vif_shm_hdr hdr;
	struct vif_dp_config config;
	__u32 index[VIF_VLAN_SLOTS];
	struct vif_entry policy[VIF_POLICY_SLOTS] __attribute__((aligned(64)));
	struct vif_port ports[VIF_PORT_SLOTS];
	struct vif_shm_big_port ports_big[VIF_SHM_BIG_PORTS];
	struct vif_quota_shared quota_shr[VIF_POLICY_SLOTS]
		__attribute__((aligned(64)));
	struct vif_shm_req req[VIF_SHM_MAX_REQS];
	struct vif_shm_worker workers[VIF_SHM_MAX_WORKERS];
};

/* First probe slot of ifindex in ports_big. */
static inline __u32 vif_shm_big_slot(__u32 ifindex)
{
	return (__u32)(ifindex * 2654435761u) >> (32 - VIF_SHM_BIG_PORTS_LOG2);
}

_Static_assert(sizeof(struct vif_shm_hdr) == 64, "vif_shm_hdr ABI");
_Static_assert(sizeof(struct vif_shm_big_port) == 8, "vif_shm_big_port ABI");
_Static_assert(sizeof(struct vif_shm_req) == 48, "vif_shm_req ABI");

#endif /* VIF_INCLUDE_VIF_SHM_H */
