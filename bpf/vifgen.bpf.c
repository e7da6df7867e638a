// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifgen.bpf.c - traffic generator and sink for tests and benchmarks.
 *
 * vifgen_tx runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 * every run it rewrites the frame's headers from a template and sends it
 * to target_ifindex.  The rewrite is needed because live-frame pages are
 * recycled without being re-initialised, and the receiving dataplane pops
 * tags in place (see DEVELOPERS.md).
 *
 * vifgen_count sits on the receiving veths: counts frames per VLAN and
 * drops or passes them.  A tagged frame counts under its tag; an untagged
 * one (the dataplane popped the tag) under its source MAC's last two
 * bytes, which vifgen_tx sets to the VLAN id.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define VIFGEN_TMPL_LEN 64

const volatile __u32 target_ifindex = 0;
const volatile __u32 vlan_base = 100;
const volatile __u32 vlan_count = 1;
const volatile __u32 tagged = 1; /* stamp the VLAN into the tag too */
const volatile __u32 count_action = XDP_DROP;
const volatile __u8 tmpl[VIFGEN_TMPL_LEN] = {};

struct vifgen_counter {
	__u64 packets;
	__u64 bytes;
};

/* Frames sent (tx) and received (rx), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vifgen_counter);
} vifgen_totals SEC(".maps");

/* Received frames by the VLAN the generator stamped in the source MAC. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} vifgen_by_vlan SEC(".maps");

/* Next VLAN offset, per CPU, so the mix is round-robin. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} vifgen_seq SEC(".maps");

SEC("xdp")
int vifgen_tx(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct vifgen_counter *c;
	__u32 zero = 0, *seq, vid;
	__u8 *p = data;
	int i;

	if (data + VIFGEN_TMPL_LEN > data_end)
		return XDP_ABORTED;
	seq = bpf_map_lookup_elem(&vifgen_seq, &zero);
	c = bpf_map_lookup_elem(&vifgen_totals, &zero);
	if (!seq || !c)
		return XDP_ABORTED;
	vid = vlan_base + (*seq % (vlan_count ? vlan_count : 1));
	*seq += 1;

#pragma unroll
	for (i = 0; i < VIFGEN_TMPL_LEN; i++)
		p[i] = tmpl[i];
	/* Tag in bytes 14-15; the VLAN also in the source MAC's tail. */
	if (tagged) {
		p[14] = (p[14] & 0xf0) | ((vid >> 8) & 0x0f);
		p[15] = vid & 0xff;
	}
	p[10] = (vid >> 8) & 0xff;
	p[11] = vid & 0xff;

	c->packets++;
	c->bytes += data_end - data;
	return bpf_redirect(target_ifindex, 0);
}

SEC("xdp")
int vifgen_count(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct vifgen_counter *c;
	struct ethhdr *eth = data;
	__u32 key, vid;
	__u64 *n;

	key = 1;
	c = bpf_map_lookup_elem(&vifgen_totals, &key);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	if ((void *)(eth + 1) + 4 <= data_end &&
	    eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		/* Tagged (a sink on the trunk's router side): the tag says. */
		vid = bpf_ntohs(*(__be16 *)(eth + 1)) & 0xfff;
		n = bpf_map_lookup_elem(&vifgen_by_vlan, &vid);
		if (n)
			*n += 1;
	} else if ((void *)(eth + 1) <= data_end) {
		vid = ((__u32)eth->h_source[4] << 8 | eth->h_source[5]) & 0xfff;
		n = bpf_map_lookup_elem(&vifgen_by_vlan, &vid);
		if (n)
			*n += 1;
	}
	return count_action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
