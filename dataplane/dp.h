/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp.h - the dataplane library: one interface over two engines, chosen at
 * dp_open() time (struct dp_opts.engine), so that callers never know which
 * one runs.  Both hold the same tables (include/vif_abi.h) and change VIF
 * policy with the same atomicity: fill the inactive slot, then publish it
 * with one aligned 32-bit store of the VLAN's index.
 *
 * XDP (DP_ENGINE_XDP, the default): load the XDP/tc programs, pin their
 * maps under opts->pin_dir (default VIF_PIN_DIR), attach to the trunk and
 * service ports.  Programs stay attached and maps pinned when the process
 * exits, so forwarding goes on while the daemon is down.  dp_open() reuses
 * pinned maps; dp_resume() swaps freshly loaded programs in on every port
 * already in the maps.
 *
 * DPDK (DP_ENGINE_DPDK): the tables live in the shared-memory file
 * opts->shm_path (default VIF_SHM_DEFAULT_PATH, layout include/vif_shm.h)
 * that the vifdpdk engine maps.  Attaching a port files a request in the
 * file's port-request table; when an engine is running (pid alive,
 * heartbeat under a second old) the call waits up to DP_SHM_REQ_WAIT_MS
 * for its answer, and when none runs it returns 0 with the request left
 * WANTED: the engine serves it when it starts.  Counters are summed over
 * all VIF_SHM_MAX_WORKERS worker rows.
 *
 * One writer at a time: dp_open() takes an exclusive flock on the pin
 * directory, or on "<shm_path>.lock" (-EBUSY if held).  Read-only opens
 * take no lock, load no programs and map/open the tables read-only.
 *
 * All functions return 0 or a negative errno.
 */
#ifndef VIF_DATAPLANE_DP_H
#define VIF_DATAPLANE_DP_H

#include <stdbool.h>

#include "policy.h"
#include "stats.h"
#include "vif_abi.h"
#include "vif_shm.h"

enum dp_xdp_mode {
	DP_XDP_AUTO = 0,    /* native, else generic with a warning */
	DP_XDP_NATIVE = 1,  /* native only */
	DP_XDP_GENERIC = 2, /* generic (skb) only */
};

enum dp_engine {
	DP_ENGINE_XDP = 0,  /* kernel XDP/tc programs, pinned maps */
	DP_ENGINE_DPDK = 1, /* vifdpdk, shared-memory tables */
};

struct dp_opts {
	const char *pin_dir;   /* XDP; NULL: VIF_PIN_DIR */
	enum dp_xdp_mode mode; /* XDP */
	bool read_only;        /* open the tables only, take no lock */
	enum dp_engine engine; /* 0: XDP */
	const char *shm_path;  /* DPDK; NULL: VIF_SHM_DEFAULT_PATH */
};

/* How long a DPDK port request waits for a running engine's answer. */
#define DP_SHM_REQ_WAIT_MS 3000

struct dp;

int dp_open(const struct dp_opts *opts, struct dp **out);
/* Close handles; programs stay attached and maps pinned (the file stays
 * mapped by the engine).  NULL is fine. */
void dp_close(struct dp *dp);
/*
 * XDP: detach from every port the maps know, unpin, remove the directory.
 * DPDK: ask the engine to drop every port, remove the file.
 */
int dp_teardown(struct dp *dp);
/*
 * XDP: re-attach the loaded programs on the trunk and all known ports.
 * DPDK: file a request for the trunk and every known port that has none.
 */
int dp_resume(struct dp *dp);

/*
 * Serve ifindex as the trunk / a service port.  DPDK: the engine opens
 * the kernel netdev (af_xdp or af_packet); see the top of this file for
 * when these wait.  A refusal by the engine is returned as its -errno.
 */
int dp_trunk_attach(struct dp *dp, int ifindex);
int dp_trunk_detach(struct dp *dp);
int dp_port_attach(struct dp *dp, int ifindex);
int dp_port_detach(struct dp *dp, int ifindex);

enum dp_port_state {
	DP_PORT_NONE = 0,    /* not served (nothing, another program, or the
			      * engine refused: see info.error) */
	DP_PORT_SERVED = 1,  /* our program runs / the engine serves it */
	DP_PORT_PENDING = 2, /* DPDK: asked, no answer yet (or no engine) */
};

struct dp_port_info {
	int xdp_mode;   /* XDP: XDP_ATTACHED_* in force, anyone's program */
	__u32 prog_id;  /* XDP: that program's id, 0 = none */
	__u32 port_id;  /* DPDK: the engine's port id when SERVED */
	int error;      /* DPDK: the engine's -errno when it refused */
};

/*
 * Is ifindex (trunk or service port) served by this dataplane?  Returns
 * enum dp_port_state or -errno; info may be NULL.  One netlink request
 * (XDP) or a table scan (DPDK): no dump of every link.
 */
int dp_port_status(struct dp *dp, int ifindex, struct dp_port_info *info);
/* XDP only: attach mode in force on ifindex, 0 none (or no such link),
 * else XDP_ATTACHED_*; -EOPNOTSUPP in a build without BPF. */
int dp_xdp_mode_of(int ifindex, __u32 *prog_id);

int dp_config_get(struct dp *dp, struct vif_dp_config *cfg);
int dp_set_qinq(struct dp *dp, bool allow);
int dp_set_quota_slice(struct dp *dp, __u32 bytes);

int dp_vif_upsert(struct dp *dp, const struct vif_spec *spec, char *err,
		  size_t errlen);
int dp_vif_delete(struct dp *dp, __u16 vlan);
/* The live entry of vlan (-ENOENT when no VIF has it). */
int dp_vif_get(struct dp *dp, __u16 vlan, struct vif_entry *out);
/* Every live entry, from two whole-table reads; returns how many, or
 * -errno. */
int dp_vif_dump(struct dp *dp, struct vif_entry *out, int max);
int dp_killswitch_set(struct dp *dp, __u16 vlan, bool engaged);
int dp_active_set(struct dp *dp, __u16 vlan, bool active);
int dp_chain_set(struct dp *dp, __u16 vlan, __u16 next_hop);
int dp_quota_set(struct dp *dp, __u16 vlan, __u64 limit, __u32 flags);
int dp_quota_reset(struct dp *dp, __u16 vlan);
int dp_quota_usage(struct dp *dp, __u16 vlan, __u64 *used);

/* All counters, summed over CPUs (XDP, one batch read per map) or over
 * every worker row (DPDK). */
int dp_stats_read(struct dp *dp, struct dp_stats *out);
/* Zero every counter (tests and benchmarks; not for production). */
int dp_stats_clear(struct dp *dp);

enum dp_prog {
	DP_PROG_TRUNK,   /* XDP, trunk ingress */
	DP_PROG_SERVICE, /* XDP, service port ingress */
	DP_PROG_TC_MARK, /* tc clsact ingress, routing mark */
};

/* Program fd for BPF_PROG_TEST_RUN (tests, benchmarks); -EPERM if
 * read-only, -EOPNOTSUPP on DPDK. */
int dp_prog_fd(struct dp *dp, enum dp_prog which);

/* The directory this handle pins under (DPDK: the shared-memory file). */
const char *dp_pin_dir(const struct dp *dp);
enum dp_engine dp_engine_of(const struct dp *dp);

#endif /* VIF_DATAPLANE_DP_H */
