// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* stats.c - per-CPU counter folding and drop reason names. */
#include <string.h>

#include "stats.h"

/* Both stats structs are arrays of __u64: fold them field by field. */
static void sum_u64s(const void *percpu, size_t size, unsigned int ncpus,
		     void *out)
{
	const __u64 *in = percpu;
	__u64 *acc = out;
	size_t n = size / sizeof(__u64), i;
	unsigned int cpu;

	memset(out, 0, size);
	for (cpu = 0; cpu < ncpus; cpu++, in += n)
		for (i = 0; i < n; i++)
			acc[i] += in[i];
}

void stats_sum_vif(const struct vif_stats *percpu, unsigned int ncpus,
		   struct vif_stats *out)
{
	sum_u64s(percpu, sizeof(*out), ncpus, out);
}

void stats_sum_global(const struct vif_global_stats *percpu,
		      unsigned int ncpus, struct vif_global_stats *out)
{
	sum_u64s(percpu, sizeof(*out), ncpus, out);
}

__u64 stats_quota_used(const struct vif_quota_pcpu *percpu,
		       unsigned int ncpus, __u32 epoch)
{
	unsigned int cpu;
	__u64 used = 0;

	for (cpu = 0; cpu < ncpus; cpu++)
		if (percpu[cpu].epoch == epoch)
			used += percpu[cpu].used;
	return used;
}

__u64 stats_vif_drops(const struct vif_stats *st)
{
	__u64 n = 0;
	int i;

	for (i = 0; i < VIF_DROP__MAX; i++)
		n += st->drops[i];
	return n;
}

const char *stats_drop_name(unsigned int reason)
{
	static const char *const names[VIF_DROP__MAX] = {
		[VIF_DROP_MALFORMED] = "malformed",
		[VIF_DROP_UNTAGGED] = "untagged",
		[VIF_DROP_PRIO_TAG] = "prio_tag",
		[VIF_DROP_VID_RESERVED] = "vid_reserved",
		[VIF_DROP_QINQ] = "qinq",
		[VIF_DROP_UNKNOWN_VLAN] = "unknown_vlan",
		[VIF_DROP_UNKNOWN_PORT] = "unknown_port",
		[VIF_DROP_NO_TRUNK] = "no_trunk",
		[VIF_DROP_INACTIVE] = "inactive",
		[VIF_DROP_QUOTA] = "quota",
		[VIF_DROP_SPOOF] = "spoof",
		[VIF_DROP_KILLSWITCH] = "killswitch",
		[VIF_DROP_CHAIN_DOWN] = "chain_down",
		[VIF_DROP_SVC_TAGGED] = "svc_tagged",
		[VIF_DROP_PROTO] = "proto",
		[VIF_DROP_NO_ROOM] = "no_room",
		[VIF_DROP_POLICY_BUSY] = "policy_busy",
	};

	return reason < VIF_DROP__MAX ? names[reason] : NULL;
}
