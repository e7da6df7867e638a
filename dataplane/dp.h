/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp.h - the dataplane library: load the XDP/tc programs, pin their maps,
 * attach to the trunk and service ports, and change VIF policy atomically.
 *
 * Lifetime: maps are pinned under opts->pin_dir (default VIF_PIN_DIR) and
 * programs stay attached when the process exits, so forwarding goes on
 * while the daemon is down.  dp_open() reuses pinned maps; dp_resume()
 * swaps freshly loaded programs in on every port already in the maps.
 *
 * One writer at a time: dp_open() takes an exclusive flock on the pin
 * directory (-EBUSY if held).  Read-only opens take no lock and load no
 * programs; they only open the pinned maps.
 *
 * All functions return 0 or a negative errno.
 */
#ifndef VIF_DATAPLANE_DP_H
#define VIF_DATAPLANE_DP_H

#include <stdbool.h>

#include "policy.h"
#include "stats.h"
#include "vif_abi.h"

enum dp_xdp_mode {
	DP_XDP_AUTO = 0,    /* native, else generic with a warning */
	DP_XDP_NATIVE = 1,  /* native only */
	DP_XDP_GENERIC = 2, /* generic (skb) only */
};

struct dp_opts {
	const char *pin_dir;   /* NULL: VIF_PIN_DIR */
	enum dp_xdp_mode mode;
	bool read_only;        /* open pinned maps only */
};

struct dp;

int dp_open(const struct dp_opts *opts, struct dp **out);
/* Close handles; programs stay attached and maps pinned. NULL is fine. */
void dp_close(struct dp *dp);
/* Detach from every port the maps know, unpin, remove the directory. */
int dp_teardown(struct dp *dp);
/* Re-attach the loaded programs on the trunk and all known ports. */
int dp_resume(struct dp *dp);

int dp_trunk_attach(struct dp *dp, int ifindex);
int dp_trunk_detach(struct dp *dp);
int dp_port_attach(struct dp *dp, int ifindex);
int dp_port_detach(struct dp *dp, int ifindex);
/* Attach mode in force on ifindex: 0 none, else XDP_ATTACHED_*. */
int dp_xdp_mode_of(int ifindex, __u32 *prog_id);

int dp_config_get(struct dp *dp, struct vif_dp_config *cfg);
int dp_set_qinq(struct dp *dp, bool allow);
int dp_set_quota_slice(struct dp *dp, __u32 bytes);

int dp_vif_upsert(struct dp *dp, const struct vif_spec *spec, char *err,
		  size_t errlen);
int dp_vif_delete(struct dp *dp, __u16 vlan);
/* The live entry of vlan (-ENOENT when no VIF has it). */
int dp_vif_get(struct dp *dp, __u16 vlan, struct vif_entry *out);
/* Every live entry in two batch reads; returns how many, or -errno. */
int dp_vif_dump(struct dp *dp, struct vif_entry *out, int max);
int dp_killswitch_set(struct dp *dp, __u16 vlan, bool engaged);
int dp_active_set(struct dp *dp, __u16 vlan, bool active);
int dp_chain_set(struct dp *dp, __u16 vlan, __u16 next_hop);
int dp_quota_set(struct dp *dp, __u16 vlan, __u64 limit, __u32 flags);
int dp_quota_reset(struct dp *dp, __u16 vlan);
int dp_quota_usage(struct dp *dp, __u16 vlan, __u64 *used);

/* All counters, summed over CPUs, in one batch read per map. */
int dp_stats_read(struct dp *dp, struct dp_stats *out);
/* Zero every counter (tests and benchmarks; not for production). */
int dp_stats_clear(struct dp *dp);

enum dp_prog {
	DP_PROG_TRUNK,   /* XDP, trunk ingress */
	DP_PROG_SERVICE, /* XDP, service port ingress */
	DP_PROG_TC_MARK, /* tc clsact ingress, routing mark */
};

/* Program fd for BPF_PROG_TEST_RUN (tests, benchmarks); -EPERM if read-only. */
int dp_prog_fd(struct dp *dp, enum dp_prog which);

/* The directory this handle pins under. */
const char *dp_pin_dir(const struct dp *dp);

#endif /* VIF_DATAPLANE_DP_H */
