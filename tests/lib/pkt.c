// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* pkt.c - test frame builder; see pkt.h. */
#include <arpa/inet.h>
#include <string.h>

#include "pkt.h"

void pkt_init(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
}

size_t pkt_bytes(struct pkt *p, const void *b, size_t n)
{
	size_t off = p->len;

	if (off + n > PKT_MAX)
		n = PKT_MAX - off;
	memcpy(p->data + off, b, n);
	p->len += n;
	return off;
}

size_t pkt_zeros(struct pkt *p, size_t n)
{
	size_t off = p->len;

	if (off + n > PKT_MAX)
		n = PKT_MAX - off;
	memset(p->data + off, 0, n);
	p->len += n;
	return off;
}

static size_t put16(struct pkt *p, __u16 v)
{
	__u16 be = htons(v);

	return pkt_bytes(p, &be, 2);
}

size_t pkt_eth(struct pkt *p, const __u8 dst[6], const __u8 src[6])
{
	size_t off = pkt_bytes(p, dst, 6);

	pkt_bytes(p, src, 6);
	return off;
}

size_t pkt_tag(struct pkt *p, __u16 tpid, __u16 tci)
{
	size_t off = put16(p, tpid);

	put16(p, tci);
	return off;
}

size_t pkt_type(struct pkt *p, __u16 ethertype)
{
	return put16(p, ethertype);
}

static __u16 csum16(const __u8 *b, size_t n)
{
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (n & 1)
		sum += b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

size_t pkt_ipv4(struct pkt *p, __be32 saddr, __be32 daddr, __u8 proto,
		__u16 payload_len)
{
	__u8 h[20] = { 0x45, 0 };
	__u16 tot = 20 + payload_len, c;

	h[2] = tot >> 8;
	h[3] = tot & 0xff;
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, &saddr, 4);
	memcpy(h + 16, &daddr, 4);
	c = csum16(h, 20);
	h[10] = c >> 8;
	h[11] = c & 0xff;
	return pkt_bytes(p, h, 20);
}

size_t pkt_udp(struct pkt *p, __u16 sport, __u16 dport, __u16 payload_len)
{
	size_t off = put16(p, sport);

	put16(p, dport);
	put16(p, 8 + payload_len);
	put16(p, 0);
	pkt_zeros(p, payload_len);
	return off;
}

size_t pkt_arp(struct pkt *p, __u16 op, const __u8 sha[6], __be32 sip,
	       const __u8 tha[6], __be32 tip)
{
	size_t off = put16(p, 1);

	put16(p, 0x0800);
	pkt_bytes(p, "\x06\x04", 2);
	put16(p, op);
	pkt_bytes(p, sha, 6);
	pkt_bytes(p, &sip, 4);
	pkt_bytes(p, tha, 6);
	pkt_bytes(p, &tip, 4);
	return off;
}

size_t pkt_ipv6(struct pkt *p, const __u8 src[16], const __u8 dst[16],
		__u8 nexthdr, __u16 payload_len)
{
	__u8 h[8] = { 0x60, 0, 0, 0 };

	h[4] = payload_len >> 8;
	h[5] = payload_len & 0xff;
	h[6] = nexthdr;
	h[7] = 255;
	{
		size_t off = pkt_bytes(p, h, 8);

		pkt_bytes(p, src, 16);
		pkt_bytes(p, dst, 16);
		return off;
	}
}

size_t pkt_ipv6_ext(struct pkt *p, __u8 nexthdr, __u8 len8)
{
	__u8 h[2] = { nexthdr, len8 };
	size_t off = pkt_bytes(p, h, 2);

	pkt_zeros(p, (len8 + 1) * 8 - 2);
	return off;
}

size_t pkt_icmpv6(struct pkt *p, __u8 type)
{
	__u8 h[8] = { type, 0 };

	return pkt_bytes(p, h, sizeof(h));
}

void pkt_pad_to(struct pkt *p, size_t n)
{
	if (p->len < n)
		pkt_zeros(p, n - p->len);
}

void pkt_udp4_frame(struct pkt *p, const __u8 dst[6], const __u8 src[6],
		    int vid, __be32 saddr, __be32 daddr, size_t frame_len)
{
	size_t hdr = vid >= 0 ? 18 : 14;
	size_t udp_payload = frame_len > hdr + 28 ? frame_len - hdr - 28 : 0;

	pkt_init(p);
	pkt_eth(p, dst, src);
	if (vid >= 0)
		pkt_tag(p, 0x8100, (__u16)vid);
	pkt_type(p, 0x0800);
	pkt_ipv4(p, saddr, daddr, 17, 8 + udp_payload);
	pkt_udp(p, 40000, 53, udp_payload);
}
