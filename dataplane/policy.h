/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * policy.h - pure functions over VIF policy: validate a VIF description,
 * turn it into the ABI's vif_entry, and compute double-buffer slots.  No
 * kernel, no I/O: everything here is unit-tested.
 */
#ifndef VIF_DATAPLANE_POLICY_H
#define VIF_DATAPLANE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "vif_abi.h"

/* Quota action and direction for vif_spec.quota_flags. */
#define VIF_QUOTA_FLAGS (VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX | VIF_F_QUOTA_TX)

/* A VIF as the control plane describes it (host order unless noted). */
struct vif_spec {
	__u16 vlan;
	__u16 next_hop;       /* 0 = no chain */
	__u32 svc_ifindex;
	__u32 mark;
	__u32 table;
	__be32 addr;          /* net order */
	__u8 prefix_len;      /* subnet is addr/prefix_len */
	__be32 host_addr;     /* net order, 0 = none */
	__u8 svc_mac[6];
	__u8 port_mac[6];
	bool active;
	bool killswitch;
	__u64 quota_limit;    /* 0 = none */
	__u32 quota_flags;    /* VIF_F_QUOTA_* */
};

/*
 * Check a spec; on error return -EINVAL and write a one-line reason into
 * err (if not NULL).
 */
int policy_validate(const struct vif_spec *spec, char *err, size_t errlen);

/* Build the entry for a spec; gen and quota_epoch are the caller's. */
void policy_entry_from_spec(const struct vif_spec *spec, __u32 gen,
			    __u32 quota_epoch, struct vif_entry *out);

/* Prefix length to a network-order mask (0..32). */
__be32 policy_netmask(__u8 prefix_len);

/* The index value that follows cur: next generation, other slot. */
static inline __u32 policy_index_next(__u32 cur)
{
	return VIF_INDEX_MAKE(VIF_INDEX_GEN(cur) + 1, !VIF_INDEX_SLOT(cur));
}

static inline __u32 policy_slot_key(__u16 vlan, __u32 index)
{
	return (__u32)vlan * 2 + VIF_INDEX_SLOT(index);
}

static inline bool policy_vlan_valid(unsigned int vlan)
{
	return vlan >= VIF_VLAN_MIN && vlan <= VIF_VLAN_MAX;
}

/* Parse "a.b.c.d/len" (or a bare address, len 32). 0 or -EINVAL. */
int policy_parse_cidr(const char *s, __be32 *addr, __u8 *prefix_len);
/* Parse "aa:bb:cc:dd:ee:ff". 0 or -EINVAL. */
int policy_parse_mac(const char *s, __u8 mac[6]);

#endif /* VIF_DATAPLANE_POLICY_H */
