/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_maps.bpf.h - the dataplane's maps.  Layouts and names come from
 * include/vif_abi.h; every map is pinned by name under VIF_PIN_DIR so that
 * forwarding and counters outlive the process that loaded them.
 */
#ifndef VIF_BPF_VIF_MAPS_BPF_H
#define VIF_BPF_VIF_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "vif_abi.h"

/* Dataplane-wide settings: trunk ifindex, QinQ, quota slice. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vif_dp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_config SEC(".maps");

/* Per VLAN: (generation << 1) | active policy slot; flipped by writers. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIF_VLAN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_index SEC(".maps");

/* Two policy slots per VLAN so a writer never touches the live one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIF_POLICY_SLOTS);
	__type(key, __u32);
	__type(value, struct vif_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_policy SEC(".maps");

/* Service port ifindex -> VIF; the only way service ingress finds its VIF.
 * An array for the usual small ifindexes: a hash lookup costs ~18 ns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIF_PORT_SLOTS);
	__type(key, __u32);
	__type(value, struct vif_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_ports SEC(".maps");

/* The same for ifindexes beyond the array (long-lived hosts). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIF_MAX_BIG_PORTS);
	__type(key, __u32);
	__type(value, struct vif_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_ports_big SEC(".maps");

/* Per VIF per CPU counters: exact without atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIF_VLAN_SLOTS);
	__type(key, __u32);
	__type(value, struct vif_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_stats SEC(".maps");

/* Whole-dataplane per CPU counters, including drops no VIF owns. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vif_global_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_global SEC(".maps");

/* Quota bytes granted to CPUs, two epochs per VLAN (reset without races). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIF_POLICY_SLOTS);
	__type(key, __u32);
	__type(value, struct vif_quota_shared);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_quota_shr SEC(".maps");

/* Per CPU quota usage and slice: the fast path touches no shared line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIF_VLAN_SLOTS);
	__type(key, __u32);
	__type(value, struct vif_quota_pcpu);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vif_quota_pcpu SEC(".maps");

#endif /* VIF_BPF_VIF_MAPS_BPF_H */
