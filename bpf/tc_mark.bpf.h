/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc_mark.bpf.h - clsact ingress on service ports: give host-bound frames
 * the VIF's routing mark so that "ip rule fwmark" picks the VIF's table.
 * XDP cannot set skb->mark (there is no skb yet); it leaves the mark in
 * the frame's metadata and this program moves it into the skb.
 */
#ifndef VIF_BPF_TC_MARK_BPF_H
#define VIF_BPF_TC_MARK_BPF_H

#include <linux/pkt_cls.h>

#include "vif_env.bpf.h"

static __always_inline int vif_tc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct vif_xdp_meta *meta = (void *)(long)skb->data_meta;
	struct vif_port *port;
	struct vif_entry e;
	__u32 ifindex;

	if ((void *)(meta + 1) <= data && meta->magic == VIF_META_MAGIC) {
		skb->mark = meta->mark;
		return TC_ACT_OK;
	}
	/* No metadata (a driver or mode without it): look the VIF up. */
	ifindex = skb->ingress_ifindex;
	port = vif_port_lookup(NULL, ifindex);
	if (!port)
		return TC_ACT_OK;
	if (vif_policy_read(NULL, port->vlan, &e) == VIF_POLICY_OK &&
	    e.vlan == port->vlan && (e.flags & VIF_F_ACTIVE))
		skb->mark = e.mark;
	return TC_ACT_OK;
}

#endif /* VIF_BPF_TC_MARK_BPF_H */
