/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_parse.h - bounds-checked header parsing, compiled by both engines:
 * clang -target bpf for the XDP programs and the host compiler for the
 * DPDK pipeline.  So: no BPF helpers here, only pointer arithmetic.
 *
 * Every parse_*() takes a cursor, checks that the whole header lies before
 * data_end (the verifier insists, and so do malformed frames), advances the
 * cursor and returns the header or NULL.  Nothing here writes the packet.
 */
#ifndef VIF_INCLUDE_VIF_PARSE_H
#define VIF_INCLUDE_VIF_PARSE_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#define VIF_INLINE static inline __attribute__((always_inline))
/* The verifier wants bounded loops unrolled; gcc has its own spelling. */
#if defined(__clang__)
#define VIF_UNROLL _Pragma("unroll")
#else
#define VIF_UNROLL _Pragma("GCC unroll 8")
#endif

/*
 * Byte order for both compilers.  Constants fold (so they work as case
 * labels); variables become one bswap (BPF_END on BPF).
 */
#define VIF___SWAB16(x)                                                   \
	((__u16)((((__u16)(x)&0x00ffu) << 8) | (((__u16)(x)&0xff00u) >> 8)))
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define vif_htons(x)                                                      \
	(__builtin_constant_p(x) ? VIF___SWAB16(x) : __builtin_bswap16(x))
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define vif_htons(x) ((__u16)(x))
#else
#error "unknown byte order"
#endif
#define vif_ntohs(x) vif_htons(x)

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* The kernel's vlan_hdr lives in a non-UAPI header; same layout. */
struct vif_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* IPv4-over-Ethernet ARP, the only ARP a service may send. */
struct vif_arp {
	__be16 hrd;
	__be16 pro;
	__u8 hln;
	__u8 pln;
	__be16 op;
	__u8 sha[6];
	__be32 sip;
	__u8 tha[6];
	__be32 tip;
} __attribute__((packed));

struct vif_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-octet units, not counting the first 8 */
};

struct hdr_cursor {
	void *pos;
};

VIF_INLINE struct ethhdr *parse_ethhdr(struct hdr_cursor *c,
						   void *data_end)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	c->pos = eth + 1;
	return eth;
}

VIF_INLINE struct vif_vlan_hdr *parse_vlan(struct hdr_cursor *c,
						       void *data_end)
{
	struct vif_vlan_hdr *vh = c->pos;

	if ((void *)(vh + 1) > data_end)
		return NULL;
	c->pos = vh + 1;
	return vh;
}

VIF_INLINE struct vif_arp *parse_arp(struct hdr_cursor *c,
						 void *data_end)
{
	struct vif_arp *arp = c->pos;

	if ((void *)(arp + 1) > data_end)
		return NULL;
	c->pos = arp + 1;
	return arp;
}

/* IPv4 header with its options; a bad version or IHL is malformed. */
VIF_INLINE struct iphdr *parse_iphdr(struct hdr_cursor *c,
						 void *data_end)
{
	struct iphdr *iph = c->pos;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return NULL;
	if (iph->version != 4 || iph->ihl < 5)
		return NULL;
	hlen = iph->ihl * 4;
	if (c->pos + hlen > data_end)
		return NULL;
	c->pos += hlen;
	return iph;
}

VIF_INLINE struct ipv6hdr *parse_ipv6hdr(struct hdr_cursor *c,
						     void *data_end)
{
	struct ipv6hdr *ip6 = c->pos;

	if ((void *)(ip6 + 1) > data_end)
		return NULL;
	if (ip6->version != 6)
		return NULL;
	c->pos = ip6 + 1;
	return ip6;
}

#define VIF_IPV6_EXT_MAX 4

/*
 * Skip IPv6 extension headers (hop-by-hop, routing, destination options,
 * fragment) to the upper-layer protocol.  Returns the protocol number, or
 * -1 when a header is truncated or the chain is longer than we walk.  MLD
 * and some ND behind hop-by-hop are why this exists at all.
 */
VIF_INLINE int skip_ipv6_ext(struct hdr_cursor *c, void *data_end,
					 __u8 nexthdr)
{
	int i;

VIF_UNROLL
	for (i = 0; i < VIF_IPV6_EXT_MAX; i++) {
		struct vif_ipv6_opt *opt = c->pos;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(opt + 1) > data_end)
				return -1;
			nexthdr = opt->nexthdr;
			c->pos += (opt->hdrlen + 1) * 8;
			/* The header must have arrived whole, even when
			 * what follows it is not looked at. */
			if (c->pos > data_end)
				return -1;
			break;
		case IPPROTO_FRAGMENT:
			if ((void *)(opt + 1) > data_end)
				return -1;
			nexthdr = opt->nexthdr;
			c->pos += 8;
			if (c->pos > data_end)
				return -1;
			break;
		default:
			return nexthdr;
		}
	}
	/* Still an extension header after VIF_IPV6_EXT_MAX: give up. */
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
		return -1;
	}
	return nexthdr;
}

#endif /* VIF_INCLUDE_VIF_PARSE_H */
