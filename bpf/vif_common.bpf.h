/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_common.bpf.h - what both XDP hooks share: the lock-free policy read,
 * quota admission and the counters.
 */
#ifndef VIF_BPF_VIF_COMMON_BPF_H
#define VIF_BPF_VIF_COMMON_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "vif_abi.h"
#include "vif_maps.bpf.h"

#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))
#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#define barrier() asm volatile("" ::: "memory")

/*
 * Reads of a policy entry retry at most this often.  A retry needs a
 * writer to flip the index between our two loads of it, and every flip is
 * a bpf() syscall from the single writer: two flips inside one ~20 ns read
 * cannot happen, so four tries are never exhausted in practice.  If they
 * were, the frame is dropped as POLICY_BUSY rather than judged by a torn
 * entry.
 */
#define VIF_POLICY_TRIES 4

enum {
	VIF_POLICY_OK = 0,
	VIF_POLICY_BUSY = -1,
};

/*
 * Copy vif_policy[vlan] as one consistent snapshot.
 *
 * The writer (dataplane/dp.c) fills the slot that vif_index does not point
 * at, then stores a new vif_index with a single aligned 32-bit store.  A
 * reader loads the index, copies the slot it names, and loads the index
 * again: if it is unchanged, no flip happened in between, so the writer
 * cannot have been writing the slot we copied (it only writes the other
 * one).  This relies on loads not being reordered with loads and stores
 * not with stores (x86 TSO); the copy sits between two compiler barriers.
 */
static __always_inline int vif_policy_read(__u32 vlan, struct vif_entry *out)
{
	int i;

	vlan &= VIF_VLAN_SLOTS - 1;
#pragma unroll
	for (i = 0; i < VIF_POLICY_TRIES; i++) {
		struct vif_entry *e;
		__u32 *idx, v1, key;

		idx = bpf_map_lookup_elem(&vif_index, &vlan);
		if (!idx)
			return VIF_POLICY_BUSY;
		v1 = READ_ONCE_U32(*idx);
		barrier();
		key = vlan * 2 + VIF_INDEX_SLOT(v1);
		e = bpf_map_lookup_elem(&vif_policy, &key);
		if (!e)
			return VIF_POLICY_BUSY;
		__builtin_memcpy(out, e, sizeof(*out));
		barrier();
		if (READ_ONCE_U32(*idx) == v1 && out->gen == VIF_INDEX_GEN(v1))
			return VIF_POLICY_OK;
	}
	return VIF_POLICY_BUSY;
}

/* The VIF of service port ifindex, or NULL. */
static __always_inline struct vif_port *vif_port_lookup(__u32 ifindex)
{
	struct vif_port *p;

	if (ifindex < VIF_PORT_SLOTS) {
		p = bpf_map_lookup_elem(&vif_ports, &ifindex);
		return p && p->vlan ? p : NULL;
	}
	return bpf_map_lookup_elem(&vif_ports_big, &ifindex);
}

/*
 * Copy the 12 bytes of two MAC addresses as three 32-bit words: clang
 * turns a 12-byte __builtin_memcpy on packet memory into byte moves (~70
 * instructions).  Unaligned word access is fine on x86 and arm64, where
 * the verifier allows it for packet data.
 */
static __always_inline void vif_copy_macs(void *dst, const void *src)
{
	__u32 a = ((const __u32 *)src)[0], b = ((const __u32 *)src)[1],
	      c = ((const __u32 *)src)[2];

	((__u32 *)dst)[0] = a;
	((__u32 *)dst)[1] = b;
	((__u32 *)dst)[2] = c;
}

static __always_inline struct vif_global_stats *vif_global_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vif_global, &zero);
}

static __always_inline struct vif_stats *vif_stats_get(__u32 vlan)
{
	vlan &= VIF_VLAN_SLOTS - 1;
	return bpf_map_lookup_elem(&vif_stats, &vlan);
}

/*
 * Count a drop globally and, when the VIF is known (vlan != 0), against
 * the VIF too.  Returns XDP_DROP so callers can "return vif_drop(...)".
 */
static __always_inline int vif_drop(struct vif_global_stats *g, __u32 vlan,
				    enum vif_drop_reason reason)
{
	struct vif_stats *st;

	if (reason >= VIF_DROP__MAX)
		return XDP_DROP;
	if (g)
		g->drops[reason]++;
	if (vlan) {
		st = vif_stats_get(vlan);
		if (st)
			st->drops[reason]++;
	}
	return XDP_DROP;
}

/*
 * Quota admission for len bytes of VIF e.
 *
 * Each CPU takes slices of at most cfg->quota_slice bytes from the VIF's
 * shared budget (one atomic add per slice, not per frame) and spends them
 * locally.  A CPU admits a frame while its slice is positive, so one frame
 * may overrun the slice: the worst-case over-admission of a period is
 * ncpus * (largest frame - 1) bytes.  A CPU that finds the shared budget
 * spent is refused even if another CPU still holds up to one slice: that
 * remainder is usable only by traffic on that CPU.  "used" is exact.
 *
 * Returns true to admit.  With action alert-only (no VIF_F_QUOTA_BLOCK)
 * every frame is admitted and counted.
 */
static __always_inline bool vif_quota_admit(const struct vif_entry *e,
					    __u32 vlan, __u64 len)
{
	struct vif_dp_config *cfg;
	struct vif_quota_shared *shr;
	struct vif_quota_pcpu *q;
	__u64 limit = e->quota_limit;
	__u64 granted, want, old;
	__u32 key, zero = 0;

	if (!limit)
		return true;
	vlan &= VIF_VLAN_SLOTS - 1;
	q = bpf_map_lookup_elem(&vif_quota_pcpu, &vlan);
	if (!q)
		return false;
	if (q->epoch != e->quota_epoch) {
		/* First frame of a new period on this CPU. */
		q->epoch = e->quota_epoch;
		q->used = 0;
		q->slice_left = 0;
	}
	if (q->slice_left <= 0) {
		key = vlan * 2 + (e->quota_epoch & 1);
		shr = bpf_map_lookup_elem(&vif_quota_shr, &key);
		if (!shr)
			goto exhausted;
		granted = READ_ONCE_U64(shr->granted);
		if (granted >= limit)
			goto exhausted;
		/* The config is read only here, once per slice, not per
		 * frame. */
		cfg = bpf_map_lookup_elem(&vif_config, &zero);
		want = cfg && cfg->quota_slice ? cfg->quota_slice :
						 VIF_QUOTA_SLICE_DEFAULT;
		/* A frame larger than a slice left a debt: cover it, or
		 * the fresh slice would still be spent and refuse. */
		if ((__s64)want <= -q->slice_left)
			want = -q->slice_left + 1;
		if (want > limit - granted)
			want = limit - granted;
		old = __sync_fetch_and_add(&shr->granted, want);
		if (old >= limit)
			goto exhausted;
		if (old + want > limit)
			want = limit - old;
		q->slice_left += want;
		if (q->slice_left <= 0)
			goto exhausted;
	}
	q->slice_left -= len;
	q->used += len;
	return true;

exhausted:
	if (e->flags & VIF_F_QUOTA_BLOCK)
		return false;
	q->used += len;
	return true;
}

#endif /* VIF_BPF_VIF_COMMON_BPF_H */
