// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cases.c - the rows of the conformance table (see cases.h) and the
 * frames they are made of.
 *
 * Reachable drop reasons are all covered.  Two are not reachable here:
 * VIF_DROP_POLICY_BUSY needs a writer to flip the index four times inside
 * one ~20 ns read, which no test can schedule (tests/bpf/test_xdp.c's
 * test_policy_flip_atomic checks the opposite: it never happens under a
 * flipping writer), and VIF_DROP_NO_ROOM needs the head adjustment to
 * fail, which neither engine's headroom (XDP_PACKET_HEADROOM, the mbuf's
 * RTE_PKTMBUF_HEADROOM) nor the 18 bytes parsed before a pop allow.
 * Likewise the re-read of the index in vif_policy_read() only matters
 * when a writer laps a reader twice.
 */
#include <arpa/inet.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/in.h>

#include "cases.h"

/* ---- addresses ------------------------------------------------------ */

static const __u8 ROUTER[6] = { 0x02, 0, 0, 0, 0x00, 0xfe };
static const __u8 BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const __u8 ZERO_MAC[6];
static const __u8 MC_SNM[6] = { 0x33, 0x33, 0xff, 0, 0, 0x02 };
static const __u8 MC_ALL[6] = { 0x33, 0x33, 0, 0, 0, 0x01 };
static const __u8 TRUNK[6] = { 0x02, 0, 0, 0, 0x00, 0x01 };
static const __u8 TRUNK_PEER[6] = { 0x02, 0, 0, 0, 0x00, 0x02 };
/* PORT_x is the dataplane's port (vif_entry.port_mac), SVC_x its peer. */
static const __u8 PORT_A[6] = { 0x02, 0, 0, 0, 0xa0, 0x01 };
static const __u8 SVC_A[6] = { 0x02, 0, 0, 0, 0xa0, 0x02 };
static const __u8 PORT_B[6] = { 0x02, 0, 0, 0, 0xb0, 0x01 };
static const __u8 SVC_B[6] = { 0x02, 0, 0, 0, 0xb0, 0x02 };
static const __u8 PORT_C[6] = { 0x02, 0, 0, 0, 0xc0, 0x01 };
static const __u8 SVC_C[6] = { 0x02, 0, 0, 0, 0xc0, 0x02 };
static const __u8 PORT_X[6] = { 0x02, 0, 0, 0, 0xf0, 0x01 };
static const __u8 SVC_X[6] = { 0x02, 0, 0, 0, 0xf0, 0x02 };

static const __u8 IP6_LL_A[16] = { 0xfe, 0x80, [15] = 0x02 };
static const __u8 IP6_LL_HOST[16] = { 0xfe, 0x80, [15] = 0x01 };
static const __u8 IP6_GLOBAL_A[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x02 };
static const __u8 IP6_GLOBAL_GW[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x01 };
static const __u8 IP6_UNSPEC[16];
static const __u8 IP6_SNM_A[16] = { 0xff, 0x02, [11] = 0x01, 0xff, 0, 0, 0x02 };
static const __u8 IP6_ALL_NODES[16] = { 0xff, 0x02, [15] = 0x01 };

__be32 conf_ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* ---- ports and the baseline VIFs ------------------------------------ */

const struct conf_port_def conf_ports[P__MAX] = {
	[P_NONE] = { "none", NULL, NULL },
	[P_TRUNK] = { "trunk", TRUNK, TRUNK_PEER },
	[P_A] = { "A", PORT_A, SVC_A },
	[P_B] = { "B", PORT_B, SVC_B },
	[P_C] = { "C", PORT_C, SVC_C },
	[P_X] = { "X", PORT_X, SVC_X },
};

const struct conf_vif_def conf_vifs[3] = {
	{ VA, P_A, "10.1.0.2", "10.1.0.1", MARK_A },
	{ VB, P_B, "10.2.0.2", "10.2.0.1", MARK_B },
	{ VC, P_C, "10.3.0.2", "10.3.0.1", MARK_C },
};

const char *conf_act_name(int act)
{
	switch (act) {
	case VIF_ACT_ABORTED:
		return "ABORTED";
	case VIF_ACT_DROP:
		return "DROP";
	case VIF_ACT_PASS:
		return "PASS";
	case VIF_ACT_REDIRECT:
		return "REDIRECT";
	default:
		return "?";
	}
}

/* ---- frames --------------------------------------------------------- */

#define F(d, s, b, ...)                                                    \
	{ .dst = (d), .src = (s), .body = (b), .tag = { __VA_ARGS__ } }
#define CTAG(tci) { ETH_P_8021Q, (tci) }
#define STAG(tci) { ETH_P_8021AD, (tci) }


void conf_frame_build(struct pkt *p, const struct conf_frame *f)
{
	int i;

	pkt_init(p);
	pkt_eth(p, f->dst, f->src);
	for (i = 0; i < 2 && f->tag[i].tpid; i++)
		pkt_tag(p, f->tag[i].tpid, f->tag[i].tci);
	f->body(p);
}

static __u16 csum16(const __u8 *b, size_t n)
{
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* IPv4/UDP: 2 + 20 + 8 + 58 = 88 bytes, so 100 with the MACs. */
static void udp4(struct pkt *p, const char *src, const char *dst,
		 __u16 payload)
{
	pkt_type(p, ETH_P_IP);
	pkt_ipv4(p, conf_ip4(src), conf_ip4(dst), IPPROTO_UDP, 8 + payload);
	pkt_udp(p, 40000, 53, payload);
}

static void b_udp4_to_a(struct pkt *p)
{
	udp4(p, "192.0.2.1", "10.1.0.2", 58);
}

static void b_udp4_from_a(struct pkt *p)
{
	udp4(p, "10.1.0.2", "192.0.2.1", 58);
}

static void b_udp4_from_a_peer(struct pkt *p)
{
	udp4(p, "10.1.0.77", "192.0.2.1", 58);
}

static void b_udp4_from_b(struct pkt *p)
{
	udp4(p, "10.2.0.2", "192.0.2.1", 58);
}

static void b_udp4_from_c(struct pkt *p)
{
	udp4(p, "10.3.0.2", "192.0.2.1", 58);
}

static void b_udp4_spoof(struct pkt *p)
{
	udp4(p, "10.9.9.9", "192.0.2.1", 58);
}

/* 1000 bytes untagged: 12 + 2 + 28 + 958. */
static void b_udp4_1000_to_a(struct pkt *p)
{
	udp4(p, "192.0.2.1", "10.1.0.2", 958);
}

/* 9000 bytes with one tag: 12 + 4 + 2 + 28 + 8954. */
static void b_jumbo_to_a(struct pkt *p)
{
	udp4(p, "192.0.2.1", "10.1.0.2", 8954);
}

/* 9000 bytes untagged: 12 + 2 + 28 + 8958. */
static void b_jumbo_from_a(struct pkt *p)
{
	udp4(p, "10.1.0.2", "192.0.2.1", 8958);
}

static void b_ipv4_cut(struct pkt *p)
{
	size_t off;

	pkt_type(p, ETH_P_IP);
	off = pkt_ipv4(p, conf_ip4("10.1.0.2"), conf_ip4("192.0.2.1"), IPPROTO_UDP, 0);
	p->len = off + 19; /* one byte short of the fixed header */
}

static void b_ipv4_ihl4(struct pkt *p)
{
	size_t off = p->len + 2;

	b_udp4_from_a(p);
	p->data[off] = 0x44;
}

static void b_ipv4_ver6(struct pkt *p)
{
	size_t off = p->len + 2;

	b_udp4_from_a(p);
	p->data[off] = 0x65;
}

/* IHL 15 claims 60 bytes of header; 30 are there. */
static void b_ipv4_opts_cut(struct pkt *p)
{
	size_t off;

	pkt_type(p, ETH_P_IP);
	off = pkt_ipv4(p, conf_ip4("10.1.0.2"), conf_ip4("192.0.2.1"), IPPROTO_UDP, 10);
	p->data[off] = 0x4f;
	pkt_zeros(p, 10);
}

/* IHL 6: four bytes of options (NOP NOP NOP EOL), then UDP: 104 bytes. */
static void b_ipv4_opts(struct pkt *p)
{
	__u8 h[24] = { 0x46, 0, 0, 24 + 8 + 58, [8] = 64, [9] = IPPROTO_UDP,
		       [20] = 1, 1, 1, 0 };
	__be32 s = conf_ip4("10.1.0.2"), d = conf_ip4("192.0.2.1");
	__u16 c;

	memcpy(h + 12, &s, 4);
	memcpy(h + 16, &d, 4);
	c = csum16(h, sizeof(h));
	h[10] = c >> 8;
	h[11] = c & 0xff;
	pkt_type(p, ETH_P_IP);
	pkt_bytes(p, h, sizeof(h));
	pkt_udp(p, 40000, 53, 58);
}

/* ARP request, padded to 60 bytes untagged (2 + 28 + 18 after the MACs). */
static size_t arp(struct pkt *p, const char *sip, const char *tip)
{
	size_t off;

	pkt_type(p, ETH_P_ARP);
	off = pkt_arp(p, 1, SVC_A, conf_ip4(sip), ZERO_MAC, conf_ip4(tip));
	pkt_zeros(p, 18);
	return off;
}

static void b_arp_host(struct pkt *p)
{
	arp(p, "10.1.0.2", "10.1.0.1");
}

static void b_arp_peer(struct pkt *p)
{
	arp(p, "10.1.0.2", "10.1.0.77");
}

/* RFC 5227 probe: sender 0.0.0.0. */
static void b_arp_probe(struct pkt *p)
{
	arp(p, "0.0.0.0", "10.1.0.2");
}

static void b_arp_spoof(struct pkt *p)
{
	arp(p, "10.9.9.9", "10.1.0.1");
}

static void b_arp_cut(struct pkt *p)
{
	size_t off = arp(p, "10.1.0.2", "10.1.0.1");

	p->len = off + 27;
}

static void b_arp_hrd(struct pkt *p)
{
	p->data[arp(p, "10.1.0.2", "10.1.0.1") + 1] = 6; /* IEEE 802 */
}

static void b_arp_pro(struct pkt *p)
{
	size_t off = arp(p, "10.1.0.2", "10.1.0.1");

	p->data[off + 2] = 0x86;
	p->data[off + 3] = 0xdd;
}

static void b_arp_hln(struct pkt *p)
{
	p->data[arp(p, "10.1.0.2", "10.1.0.1") + 4] = 8;
}

static void b_arp_pln(struct pkt *p)
{
	p->data[arp(p, "10.1.0.2", "10.1.0.1") + 5] = 16;
}

/* IPv6/UDP: 2 + 40 + 8 + 10 = 60 bytes, 72 with the MACs. */
static void udp6(struct pkt *p, const __u8 *src, const __u8 *dst)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, src, dst, IPPROTO_UDP, 18);
	pkt_udp(p, 546, 547, 10);
}

static void b_ip6_ll_udp(struct pkt *p)
{
	udp6(p, IP6_LL_A, IP6_LL_HOST);
}

static void b_ip6_global_udp(struct pkt *p)
{
	udp6(p, IP6_GLOBAL_A, IP6_GLOBAL_GW);
}

static void b_ip6_unspec_udp(struct pkt *p)
{
	udp6(p, IP6_UNSPEC, IP6_ALL_NODES);
}

/* Neighbour solicitation body: ICMPv6 header and target, 24 bytes. */
static void ns(struct pkt *p)
{
	pkt_icmpv6(p, 135);
	pkt_bytes(p, IP6_LL_A, 16);
}

/* DAD: NS from :: to the solicited-node group, 78 bytes. */
static void b_ip6_dad(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_UNSPEC, IP6_SNM_A, 58, 24);
	ns(p);
}

/* NS from the link-local address to the host's, 78 bytes. */
static void b_ip6_ns_host(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, 58, 24);
	ns(p);
}

/*
 * Bare ICMPv6 of a type from ::, 62 bytes.  Control is ND (133..137) and
 * MLD (130..132, 143: DAD joins the solicited-node group from ::); these
 * are the edges of both ranges from either side.
 */
static void icmp6_unspec(struct pkt *p, __u8 type)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_UNSPEC, IP6_ALL_NODES, 58, 8);
	pkt_icmpv6(p, type);
}

#define ICMP6_BODY(t)                                                      \
	static void b_ip6_type##t(struct pkt *p)                           \
	{                                                                  \
		icmp6_unspec(p, t);                                        \
	}
ICMP6_BODY(129)
ICMP6_BODY(130)
ICMP6_BODY(132)
ICMP6_BODY(133)
ICMP6_BODY(137)
ICMP6_BODY(138)
ICMP6_BODY(142)
ICMP6_BODY(143)
ICMP6_BODY(144)

/* DAD behind n extension headers of the given kinds, 8 bytes each. */
static void dad_behind(struct pkt *p, const __u8 *kinds, int n)
{
	int i;

	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_UNSPEC, IP6_SNM_A, kinds[0], 8 * (n - 1) + 8 + 24);
	for (i = 0; i < n; i++)
		pkt_ipv6_ext(p, i + 1 < n ? kinds[i + 1] : 58, 0);
	ns(p);
}

static void b_ip6_hbh_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_HOPOPTS };

	dad_behind(p, k, 1);
}

static void b_ip6_hbh_dst_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS };

	dad_behind(p, k, 2);
}

/*
 * The fragment header is 8 bytes, always: its second byte is reserved,
 * not a length.  Receivers must ignore it, so it is set here.
 */
static void b_ip6_frag_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_FRAGMENT };
	size_t ext = p->len + 2 + 40;

	dad_behind(p, k, 1);
	p->data[ext + 1] = 0xff;
}

static void b_ip6_rthdr_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_ROUTING };

	dad_behind(p, k, 1);
}

static void b_ip6_ext4_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
				  IPPROTO_DSTOPTS, IPPROTO_DSTOPTS };

	dad_behind(p, k, 4);
}

static void b_ip6_ext5_dad(struct pkt *p)
{
	static const __u8 k[] = { IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
				  IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
				  IPPROTO_DSTOPTS };

	dad_behind(p, k, 5);
}

/* NS to the host behind a hop-by-hop header, 86 bytes. */
static void b_ip6_hbh_ns_host(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, IPPROTO_HOPOPTS, 8 + 24);
	pkt_ipv6_ext(p, 58, 0);
	ns(p);
}

static void b_ip6_cut(struct pkt *p)
{
	size_t off;

	pkt_type(p, ETH_P_IPV6);
	off = pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, IPPROTO_UDP, 0);
	p->len = off + 39;
}

static void b_ip6_ver4(struct pkt *p)
{
	size_t off = p->len + 2;

	b_ip6_ll_udp(p);
	p->data[off] = 0x40;
}

/* A hop-by-hop header of which only the first byte arrived. */
static void b_ip6_ext_cut(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, IPPROTO_HOPOPTS, 8);
	pkt_bytes(p, "\x11", 1);
}

/* ICMPv6 announced, not one byte of it present. */
static void b_ip6_icmp_cut(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, 58, 0);
}

/* A hop-by-hop header claiming 16 bytes with 8 present, then "UDP". */
static void b_ip6_ext_body_cut(struct pkt *p)
{
	pkt_type(p, ETH_P_IPV6);
	pkt_ipv6(p, IP6_LL_A, IP6_LL_HOST, IPPROTO_HOPOPTS, 16);
	pkt_bytes(p, "\x11\x01", 2);
	pkt_zeros(p, 6);
}

static void b_lldp(struct pkt *p)
{
	pkt_type(p, ETH_P_LLDP);
	pkt_zeros(p, 46);
}

static void b_runt(struct pkt *p)
{
	pkt_zeros(p, 1); /* 13 bytes: one short of an Ethernet header */
}

static void b_tpid_only(struct pkt *p)
{
	pkt_type(p, ETH_P_8021Q); /* 14 bytes */
}

static void b_tci_only(struct pkt *p)
{
	pkt_type(p, ETH_P_8021Q);
	pkt_bytes(p, "\x00\x64", 2); /* 16 bytes: no inner ethertype */
}

/* ---- table ---------------------------------------------------------- */

#define TRUNK_IN .hook = CONF_TRUNK, .in = P_TRUNK
#define SVC_IN(port) .hook = CONF_SERVICE, .in = (port)

#define DROPPED(r)                                                         \
	.verdict = VIF_ACT_DROP, .cnt = { .drop = CONF_DROP(r) }
#define DROPPED_VIF(r, v)                                                  \
	.verdict = VIF_ACT_DROP,                                          \
	.cnt = { .drop = CONF_DROP(r), .drop_vif = (v) }
#define RX(v, n) .cnt = { .vif = (v), .rx_packets = 1, .rx_bytes = (n) }
#define TX(v, n) .cnt = { .vif = (v), .tx_packets = 1, .tx_bytes = (n) }
#define HOST(v, n)                                                         \
	.cnt = { .vif = (v), .tx_packets = 1, .tx_bytes = (n),             \
		 .host_packets = 1 }
#define CHAIN(v, n)                                                        \
	.cnt = { .vif = (v), .tx_packets = 1, .tx_bytes = (n),             \
		 .chain_packets = 1 }
#define USED(n) .check_used = true, .used = (n)
#define GRANTED(n) .check_granted = true, .granted = (n)
#define QUOTA(v, l, f) .quota_vif = (v), .quota_limit = (l), .quota_flags = (f)

#define RX_BLOCK (VIF_F_QUOTA_RX | VIF_F_QUOTA_BLOCK)
#define TX_BLOCK (VIF_F_QUOTA_TX | VIF_F_QUOTA_BLOCK)

/* A 100-byte service A frame as the trunk carries it, and as A gets it. */
#define TRUNK_UDP_A F(SVC_A, ROUTER, b_udp4_to_a, CTAG(VA))
#define SVC_UDP_A F(SVC_A, ROUTER, b_udp4_to_a)
/* What service A sends to the world, and the trunk frame it becomes. */
#define A_UDP F(ROUTER, SVC_A, b_udp4_from_a)
#define A_UDP_TAGGED F(ROUTER, SVC_A, b_udp4_from_a, CTAG(VA))

const struct conf_case conf_cases[] = {
	/* ---- trunk: malformed and refused tags ---- */
	{
		/*
		 * The only way to reach either hook's Ethernet bounds check.
		 * XDP's test_run may refuse it before the program runs (see
		 * engine_xdp.c); DPDK must drop it.
		 */
		.desc = "trunk: 13-byte runt",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_runt),
		DROPPED(VIF_DROP_MALFORMED),
	},
	{
		.desc = "trunk: untagged frame",
		TRUNK_IN, .pkt = SVC_UDP_A,
		DROPPED(VIF_DROP_UNTAGGED),
	},
	{
		.desc = "trunk: TPID and nothing after it (14 bytes)",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_tpid_only),
		DROPPED(VIF_DROP_MALFORMED),
	},
	{
		.desc = "trunk: tag cut after the TCI (16 bytes)",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_tci_only),
		DROPPED(VIF_DROP_MALFORMED),
	},
	{
		.desc = "trunk: VLAN 0 priority tag (PCP 3)",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(0x6000)),
		DROPPED(VIF_DROP_PRIO_TAG),
	},
	{
		.desc = "trunk: VLAN 4095 is reserved",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(0x0fff)),
		DROPPED(VIF_DROP_VID_RESERVED),
	},
	{
		.desc = "trunk: QinQ S-tag + C-tag refused by default",
		TRUNK_IN,
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(VA), CTAG(7)),
		DROPPED(VIF_DROP_QINQ),
	},
	{
		.desc = "trunk: two C-tags refused by default",
		TRUNK_IN,
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(VA), CTAG(7)),
		DROPPED(VIF_DROP_QINQ),
	},
	{
		.desc = "trunk: C-tag carrying an S-tag refused by default",
		TRUNK_IN,
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(VA), STAG(7)),
		DROPPED(VIF_DROP_QINQ),
	},
	{
		.desc = "trunk: lone S-tag refused by default",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(VA)),
		DROPPED(VIF_DROP_QINQ),
	},
	{
		.desc = "trunk: QinQ allowed, S+C: only the outer tag popped",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(VA), CTAG(7)),
		.verdict = VIF_ACT_REDIRECT, .to = P_A,
		.out = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(7)),
		RX(VA, 104),
	},
	{
		.desc = "trunk: QinQ allowed, C+C: only the outer tag popped",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(VA), CTAG(7)),
		.verdict = VIF_ACT_REDIRECT, .to = P_A,
		.out = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(7)),
		RX(VA, 104),
	},
	{
		.desc = "trunk: QinQ allowed, lone S-tag selects the VIF",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(VA)),
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		.desc = "trunk: QinQ allowed, outer VLAN 0 is still a prio tag",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(0), CTAG(VA)),
		DROPPED(VIF_DROP_PRIO_TAG),
	},
	/* ---- trunk: VIF lookup ---- */
	{
		.desc = "trunk: VLAN without a VIF",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(999)),
		DROPPED(VIF_DROP_UNKNOWN_VLAN),
	},
	{
		.desc = "trunk: VLAN of a deleted VIF",
		TRUNK_IN, .set = { .deleted = VB },
		.pkt = F(SVC_B, ROUTER, b_udp4_to_a, CTAG(VB)),
		DROPPED(VIF_DROP_UNKNOWN_VLAN),
	},
	{
		.desc = "trunk: inactive VIF",
		TRUNK_IN, .set = { .inactive = VA }, .pkt = TRUNK_UDP_A,
		DROPPED_VIF(VIF_DROP_INACTIVE, VA),
	},
	{
		.desc = "trunk: VLAN 100 popped and sent to A's port",
		TRUNK_IN, .pkt = TRUNK_UDP_A,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		/* PCP 5 and DEI: the VID is the low 12 bits only. */
		.desc = "trunk: PCP and DEI bits do not change the VLAN",
		TRUNK_IN,
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(0xb000 | VA)),
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		.desc = "trunk: VLAN 200 goes to B's port",
		TRUNK_IN, .pkt = F(SVC_B, ROUTER, b_udp4_to_a, CTAG(VB)),
		.verdict = VIF_ACT_REDIRECT, .to = P_B,
		.out = F(SVC_B, ROUTER, b_udp4_to_a),
		RX(VB, 100),
	},
	{
		.desc = "trunk: VLAN 4094 goes to C's port",
		TRUNK_IN, .pkt = F(SVC_C, ROUTER, b_udp4_to_a, CTAG(VC)),
		.verdict = VIF_ACT_REDIRECT, .to = P_C,
		.out = F(SVC_C, ROUTER, b_udp4_to_a),
		RX(VC, 100),
	},
	{
		/* "Nothing leaves the service": inbound is not its business. */
		.desc = "trunk: kill switch lets through traffic to the service",
		TRUNK_IN, .set = { .killswitch = VA }, .pkt = TRUNK_UDP_A,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		/*
		 * Beyond one page XDP test_run builds a multi-buffer xdp_buff
		 * (frags); the DPDK runner chains mbufs of 2 KiB likewise.
		 */
		.desc = "trunk: 9000-byte jumbo (multi-buffer) popped to 8996",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_jumbo_to_a, CTAG(VA)),
		.verdict = VIF_ACT_REDIRECT, .to = P_A,
		.out = F(SVC_A, ROUTER, b_jumbo_to_a),
		RX(VA, 8996),
	},
	/* ---- trunk: rx quota ---- */
	{
		/*
		 * One CPU, 16 KiB slice > limit: the first grab takes all
		 * 1000 bytes, each 100-byte frame spends 100, and a frame is
		 * admitted while the slice is positive: the 10th still is.
		 */
		.desc = "trunk: rx quota 1000 B, 10th 100-byte frame admitted",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 9, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(1000), GRANTED(1000),
	},
	{
		/* The slice is at 0 and the shared budget is all granted. */
		.desc = "trunk: rx quota 1000 B, 11th 100-byte frame refused",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		/*
		 * 1050 B: after 10 frames 50 B of slice are left, so the
		 * 11th is admitted and overruns by 50; the 12th is refused.
		 * Over-admission is at most one frame per CPU.
		 */
		.desc = "trunk: rx quota 1050 B, 11th overruns, 12th refused",
		TRUNK_IN, .set = { QUOTA(VA, 1050, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 11, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1100), GRANTED(1050),
	},
	{
		/*
		 * 40000 B in 1000 B frames over slices of 16384, 16384 and
		 * the 7232 left: the deficit of each overrun is paid from
		 * the next slice, so exactly 40 frames fit on one CPU.
		 */
		.desc = "trunk: rx quota 40000 B, three slices, 41st refused",
		TRUNK_IN, .set = { QUOTA(VA, 40000, RX_BLOCK) },
		.pkt = F(SVC_A, ROUTER, b_udp4_1000_to_a, CTAG(VA)),
		.pre = 40, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(40000), GRANTED(40000),
	},
	{
		/* Slices of 250 B: four grabs of budget, same boundary. */
		.desc = "trunk: rx quota with a 250 B slice, 11th refused",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK), .slice = 250 },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		/* Each grab takes one configured slice, not the whole limit. */
		.desc = "trunk: rx quota, 250 B slice: a frame takes a slice",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK), .slice = 250 },
		.pkt = TRUNK_UDP_A,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(100), GRANTED(250),
	},
	{
		/*
		 * A slice smaller than a frame: after the first frame the
		 * CPU owes 36 B, the next grab of 64 B leaves it at 28 and
		 * the frame after that owes 72; the third grab leaves -8 and
		 * the frame is refused with 800 B of budget unused.
		 */
		.desc = "trunk: rx quota with a 64 B slice, 3rd frame admitted",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK), .slice = 64 },
		.pkt = TRUNK_UDP_A, .pre = 2, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(300),
	},
	{
		.desc = "trunk: rx quota alert-only admits, counts past limit",
		TRUNK_IN, .set = { QUOTA(VA, 1000, VIF_F_QUOTA_RX) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(1100), GRANTED(1000),
	},
	{
		.desc = "trunk: dp_quota_reset re-opens a used-up rx quota",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		.reset_after_pre = true,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(100), GRANTED(1000),
	},
	{
		.desc = "trunk: tx-only quota does not charge trunk frames",
		TRUNK_IN, .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 20, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(0), GRANTED(0),
	},

	/* ---- service: port and VIF lookup ---- */
	{
		.desc = "svc: 13-byte runt",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_runt),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: port without a VIF",
		SVC_IN(P_X), .pkt = F(ROUTER, SVC_X, b_udp4_from_a),
		DROPPED(VIF_DROP_UNKNOWN_PORT),
	},
	{
		/* vif_ports says VIF 100, whose service port is va, not vx. */
		.desc = "svc: stale port entry naming another port's VIF",
		SVC_IN(P_X), .set = { .stale_port = VA },
		.pkt = F(ROUTER, SVC_X, b_udp4_from_a),
		DROPPED(VIF_DROP_UNKNOWN_PORT),
	},
	{
		.desc = "svc: stale port entry naming a VLAN without VIF",
		SVC_IN(P_X), .set = { .stale_port = 999 },
		.pkt = F(ROUTER, SVC_X, b_udp4_from_a),
		DROPPED(VIF_DROP_UNKNOWN_PORT),
	},
	{
		.desc = "svc: forged slot on the port, no VIF in it",
		SVC_IN(P_X), .set = { .forge = VFORGED },
		.pkt = F(ROUTER, SVC_X, b_udp4_from_a),
		DROPPED(VIF_DROP_UNKNOWN_PORT),
	},
	{
		.desc = "svc: inactive VIF",
		SVC_IN(P_A), .set = { .inactive = VA }, .pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_INACTIVE, VA),
	},
	/* ---- service: to the trunk ---- */
	{
		.desc = "svc: IPv4 from the VIF address tagged to the trunk",
		SVC_IN(P_A), .pkt = A_UDP,
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100),
	},
	{
		.desc = "svc: IPv4 from another address of the subnet",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_udp4_from_a_peer),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_A, b_udp4_from_a_peer, CTAG(VA)),
		TX(VA, 100),
	},
	{
		.desc = "svc: B's frames get VLAN 200",
		SVC_IN(P_B), .pkt = F(ROUTER, SVC_B, b_udp4_from_b),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_B, b_udp4_from_b, CTAG(VB)),
		TX(VB, 100),
	},
	{
		.desc = "svc: C's frames get VLAN 4094",
		SVC_IN(P_C), .pkt = F(ROUTER, SVC_C, b_udp4_from_c),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_C, b_udp4_from_c, CTAG(VC)),
		TX(VC, 100),
	},
	{
		.desc = "svc: 9000-byte jumbo (multi-buffer) tagged to 9004",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_jumbo_from_a),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_A, b_jumbo_from_a, CTAG(VA)),
		TX(VA, 9000),
	},
	{
		.desc = "svc: no trunk configured",
		SVC_IN(P_A), .set = { .no_trunk = true }, .pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_NO_TRUNK, VA),
	},
	/* ---- service: IPv4 ---- */
	{
		.desc = "svc: IPv4 spoofed source",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_udp4_spoof),
		DROPPED_VIF(VIF_DROP_SPOOF, VA),
	},
	{
		.desc = "svc: IPv4 header cut at 19 bytes",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ipv4_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv4 IHL 4",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ipv4_ihl4),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: version 6 in an IPv4 ethertype",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ipv4_ver6),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv4 options cut short (IHL 15, 30 bytes)",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ipv4_opts_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv4 with options (IHL 6) passes",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ipv4_opts),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_A, b_ipv4_opts, CTAG(VA)),
		TX(VA, 104),
	},
	/* ---- service: ARP ---- */
	{
		.desc = "svc: ARP for the host address goes to the host",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_host),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 60),
	},
	{
		.desc = "svc: ARP for another address goes to the trunk",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_peer),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(BCAST, SVC_A, b_arp_peer, CTAG(VA)),
		TX(VA, 60),
	},
	{
		.desc = "svc: ARP probe from 0.0.0.0 allowed",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_probe),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(BCAST, SVC_A, b_arp_probe, CTAG(VA)),
		TX(VA, 60),
	},
	{
		.desc = "svc: ARP spoofed sender",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_spoof),
		DROPPED_VIF(VIF_DROP_SPOOF, VA),
	},
	{
		.desc = "svc: ARP cut at 27 bytes",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: ARP hardware type not Ethernet",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_hrd),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: ARP protocol not IPv4",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_pro),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: ARP hardware length 8",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_hln),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: ARP protocol length 16",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_pln),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	/* ---- service: IPv6 ---- */
	{
		.desc = "svc: IPv6 link-local allowed",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_ll_udp),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_ALL, SVC_A, b_ip6_ll_udp, CTAG(VA)),
		TX(VA, 72),
	},
	{
		.desc = "svc: IPv6 global source is spoofed",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_ip6_global_udp),
		DROPPED_VIF(VIF_DROP_SPOOF, VA),
	},
	{
		.desc = "svc: IPv6 data from :: is spoofed",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_unspec_udp),
		DROPPED_VIF(VIF_DROP_SPOOF, VA),
	},
	{
		.desc = "svc: IPv6 DAD (NS from ::) allowed",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_dad, CTAG(VA)),
		TX(VA, 78),
	},
#define ICMP6_CTRL(t, what)                                                \
	{                                                                  \
		.desc = "svc: ICMPv6 " #t " (" what ") from :: is control", \
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_type##t),       \
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,                     \
		.out = F(MC_ALL, SVC_A, b_ip6_type##t, CTAG(VA)),          \
		TX(VA, 62),                                                \
	}
#define ICMP6_DATA(t, what)                                                \
	{                                                                  \
		.desc = "svc: ICMPv6 " #t " (" what ") from :: is spoofed", \
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_type##t),       \
		DROPPED_VIF(VIF_DROP_SPOOF, VA),                           \
	}
	ICMP6_DATA(129, "echo reply"),
	ICMP6_CTRL(130, "MLD query"),
	ICMP6_CTRL(132, "MLD done"),
	ICMP6_CTRL(133, "RS"),
	ICMP6_CTRL(137, "redirect"),
	ICMP6_DATA(138, "router renumbering"),
	ICMP6_DATA(142, "inverse ND advert"),
	ICMP6_CTRL(143, "MLDv2 report"),
	ICMP6_DATA(144, "home agent discovery"),
	{
		.desc = "svc: DAD behind hop-by-hop is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_hbh_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_hbh_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind hop-by-hop + dest options is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_hbh_dst_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_hbh_dst_dad, CTAG(VA)),
		TX(VA, 94),
	},
	{
		.desc = "svc: DAD behind a routing header is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_rthdr_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_rthdr_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind a fragment header is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_frag_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_frag_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind 4 extension headers (the walk limit)",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_ext4_dad),
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_ext4_dad, CTAG(VA)),
		TX(VA, 110),
	},
	{
		.desc = "svc: 5 extension headers are more than we walk",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_ext5_dad),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv6 header cut at 39 bytes",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: version 4 in an IPv6 ethertype",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_ver4),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv6 extension header cut after 1 byte",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_ext_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: ICMPv6 announced but absent",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_icmp_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	{
		.desc = "svc: IPv6 ext header body cut (16 B claimed, 8 there)",
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_ext_body_cut),
		DROPPED_VIF(VIF_DROP_MALFORMED, VA),
	},
	/* ---- service: other ethertypes ---- */
	{
		.desc = "svc: 802.1Q tag from a service (VLAN hopping)",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_udp4_from_a, CTAG(VB)),
		DROPPED_VIF(VIF_DROP_SVC_TAGGED, VA),
	},
	{
		.desc = "svc: 802.1ad tagged frame from a service",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_udp4_from_a, STAG(VB)),
		DROPPED_VIF(VIF_DROP_SVC_TAGGED, VA),
	},
	{
		.desc = "svc: LLDP is not a protocol a service may send",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_lldp),
		DROPPED_VIF(VIF_DROP_PROTO, VA),
	},
	/* ---- service: host-bound ---- */
	{
		.desc = "svc: IPv4 to the port MAC goes to the host with A's mark",
		SVC_IN(P_A), .pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 100),
	},
	{
		.desc = "svc: B's host-bound frame carries B's mark",
		SVC_IN(P_B), .pkt = F(PORT_B, SVC_B, b_udp4_from_b),
		.verdict = VIF_ACT_PASS, .mark = MARK_B,
		HOST(VB, 100),
	},
	{
		.desc = "svc: host-bound frames need no trunk",
		SVC_IN(P_A), .set = { .no_trunk = true },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 100),
	},
	/* ---- service: kill switch ---- */
	{
		.desc = "svc: kill switch drops data to the trunk",
		SVC_IN(P_A), .set = { .killswitch = VA }, .pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_KILLSWITCH, VA),
	},
	{
		.desc = "svc: kill switch drops data to the host",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		DROPPED_VIF(VIF_DROP_KILLSWITCH, VA),
	},
	{
		.desc = "svc: kill switch lets ARP for the host through",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(BCAST, SVC_A, b_arp_host),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 60),
	},
	{
		.desc = "svc: kill switch drops ARP for anyone else",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(BCAST, SVC_A, b_arp_peer),
		DROPPED_VIF(VIF_DROP_KILLSWITCH, VA),
	},
	{
		.desc = "svc: kill switch lets NS to the host through",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(PORT_A, SVC_A, b_ip6_ns_host),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 78),
	},
	{
		.desc = "svc: kill switch lets NS behind HBH to the host",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(PORT_A, SVC_A, b_ip6_hbh_ns_host),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 86),
	},
	{
		.desc = "svc: kill switch drops IPv6 data to the host",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(PORT_A, SVC_A, b_ip6_ll_udp),
		DROPPED_VIF(VIF_DROP_KILLSWITCH, VA),
	},
	{
		.desc = "svc: spoofing is judged before the kill switch",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(ROUTER, SVC_A, b_udp4_spoof),
		DROPPED_VIF(VIF_DROP_SPOOF, VA),
	},
	/* ---- service: chain ---- */
	{
		.desc = "svc: chain A->B: data to B's service, MACs rewritten",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VB },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.verdict = VIF_ACT_REDIRECT, .to = P_B,
		.out = F(SVC_B, PORT_B, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		.desc = "svc: chain A->B: data for the world goes to B too",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VB },
		.pkt = A_UDP,
		.verdict = VIF_ACT_REDIRECT, .to = P_B,
		.out = F(SVC_B, PORT_B, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		.desc = "svc: chain A->C (VLAN 4094)",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VC },
		.pkt = A_UDP,
		.verdict = VIF_ACT_REDIRECT, .to = P_C,
		.out = F(SVC_C, PORT_C, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		/* The host is a chained VIF's L2 gateway. */
		.desc = "svc: chain A->B: ARP for anyone goes to the host",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VB },
		.pkt = F(BCAST, SVC_A, b_arp_peer),
		.verdict = VIF_ACT_PASS, .mark = MARK_A,
		HOST(VA, 60),
	},
	{
		.desc = "svc: chain down: next hop inactive",
		SVC_IN(P_A),
		.set = { .chain_from = VA, .chain_to = VB, .inactive = VB },
		.pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_CHAIN_DOWN, VA),
	},
	{
		.desc = "svc: chain down: next hop deleted",
		SVC_IN(P_A),
		.set = { .chain_from = VA, .chain_to = VB, .deleted = VB },
		.pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_CHAIN_DOWN, VA),
	},
	{
		.desc = "svc: chain down: next hop's slot has no VIF in it",
		SVC_IN(P_A),
		.set = { .chain_from = VA, .chain_to = VB, .forge = VB },
		.pkt = A_UDP,
		DROPPED_VIF(VIF_DROP_CHAIN_DOWN, VA),
	},
	{
		.desc = "svc: chain: tx quota still applies, 11th refused",
		SVC_IN(P_A),
		.set = { .chain_from = VA, .chain_to = VB,
			 QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	/* ---- service: tx quota ---- */
	{
		.desc = "svc: tx quota 1000 B, 10th 100-byte frame admitted",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 9, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota 1000 B, 11th 100-byte frame refused",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota also counts host-bound frames",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.pre = 10, .pre_verdict = VIF_ACT_PASS,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota alert-only admits and counts past limit",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, VIF_F_QUOTA_TX) },
		.pkt = A_UDP, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(1100), GRANTED(1000),
	},
	{
		.desc = "svc: dp_quota_reset re-opens a used-up tx quota",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 10, .pre_verdict = VIF_ACT_REDIRECT,
		.reset_after_pre = true,
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(100), GRANTED(1000),
	},
	{
		.desc = "svc: rx-only quota does not charge service frames",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = A_UDP, .pre = 20, .pre_verdict = VIF_ACT_REDIRECT,
		.verdict = VIF_ACT_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(0), GRANTED(0),
	},
};

const size_t conf_ncases = sizeof(conf_cases) / sizeof(conf_cases[0]);
