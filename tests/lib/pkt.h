/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pkt.h - build test frames header by header.
 *
 *   struct pkt p;
 *   pkt_init(&p);
 *   pkt_eth(&p, dst, src);
 *   pkt_tag(&p, 0x8100, 100);
 *   pkt_type(&p, 0x0800);
 *   pkt_ipv4(&p, saddr, daddr, IPPROTO_UDP, 8 + 18);
 *   pkt_udp(&p, 1000, 2000, 18);
 *
 * Addresses are in network order.  Lengths are written as given, so a
 * test can also build lying headers.  Functions that append return the
 * offset of what they wrote.
 */
#ifndef VIF_TESTS_LIB_PKT_H
#define VIF_TESTS_LIB_PKT_H

#include <stddef.h>
#include <linux/types.h>

#define PKT_MAX 9216

struct pkt {
	__u8 data[PKT_MAX];
	size_t len;
};

void pkt_init(struct pkt *p);
size_t pkt_bytes(struct pkt *p, const void *b, size_t n);
size_t pkt_zeros(struct pkt *p, size_t n);
size_t pkt_eth(struct pkt *p, const __u8 dst[6], const __u8 src[6]);
size_t pkt_tag(struct pkt *p, __u16 tpid, __u16 tci);
size_t pkt_type(struct pkt *p, __u16 ethertype);
/* IPv4 header (20 bytes, checksum filled) with payload_len after it. */
size_t pkt_ipv4(struct pkt *p, __be32 saddr, __be32 daddr, __u8 proto,
		__u16 payload_len);
/* UDP header plus payload_len zero bytes. */
size_t pkt_udp(struct pkt *p, __u16 sport, __u16 dport, __u16 payload_len);
size_t pkt_arp(struct pkt *p, __u16 op, const __u8 sha[6], __be32 sip,
	       const __u8 tha[6], __be32 tip);
size_t pkt_ipv6(struct pkt *p, const __u8 src[16], const __u8 dst[16],
		__u8 nexthdr, __u16 payload_len);
/* An extension header of (len8 + 1) * 8 bytes. */
size_t pkt_ipv6_ext(struct pkt *p, __u8 nexthdr, __u8 len8);
size_t pkt_icmpv6(struct pkt *p, __u8 type);
/* Pad with zeros to total length n (no-op if already longer). */
void pkt_pad_to(struct pkt *p, size_t n);

/* The common frames. */
void pkt_udp4_frame(struct pkt *p, const __u8 dst[6], const __u8 src[6],
		    int vid, __be32 saddr, __be32 daddr, size_t frame_len);

#endif /* VIF_TESTS_LIB_PKT_H */
