/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stats.h - pure folding of per-CPU counters into totals, and the stable
 * names of drop reasons that tools and exporters print.
 */
#ifndef VIF_DATAPLANE_STATS_H
#define VIF_DATAPLANE_STATS_H

#include "vif_abi.h"

/* All counters of the dataplane, summed over CPUs. */
struct dp_stats {
	struct vif_global_stats global;
	struct vif_stats vif[VIF_VLAN_SLOTS];
};

/* out = sum of ncpus consecutive per-CPU values. */
void stats_sum_vif(const struct vif_stats *percpu, unsigned int ncpus,
		   struct vif_stats *out);
void stats_sum_global(const struct vif_global_stats *percpu,
		      unsigned int ncpus, struct vif_global_stats *out);
/* Bytes used this period: CPUs still on an older epoch count nothing. */
__u64 stats_quota_used(const struct vif_quota_pcpu *percpu,
		       unsigned int ncpus, __u32 epoch);
/* Total drops of one VIF over all reasons. */
__u64 stats_vif_drops(const struct vif_stats *st);

/* "unknown_vlan" etc.; NULL for a reason this build does not know. */
const char *stats_drop_name(unsigned int reason);

#endif /* VIF_DATAPLANE_STATS_H */
