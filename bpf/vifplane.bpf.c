// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifplane.bpf.c - the dataplane's three attach points in one object, so
 * that they share one set of maps and one skeleton.  Each entry point is a
 * thin wrapper; the logic is include/vif_logic.h, shared with DPDK.
 */
#include "vif_env.bpf.h"
#include "tc_mark.bpf.h"

/* Trunk ingress (802.1Q from the router). */
SEC("xdp.frags")
int vif_xdp_trunk(struct xdp_md *ctx)
{
	return vif_trunk_ingress(NULL, ctx);
}

/* Service port ingress (untagged, from one service). */
SEC("xdp.frags")
int vif_xdp_service(struct xdp_md *ctx)
{
	return vif_service_ingress(NULL, ctx);
}

/* clsact ingress on service ports: routing mark. */
SEC("tc")
int vif_tc_mark(struct __sk_buff *skb)
{
	return vif_tc_ingress(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
