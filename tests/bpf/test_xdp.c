// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_xdp.c - BPF_PROG_TEST_RUN table for the vifplane programs.
 *
 * The test owns a private network namespace (bpffs is not per-netns, so
 * the dataplane pins under a unique directory) with veth pairs for the
 * trunk and the service ports: test_run needs a real ingress_ifindex, and
 * a real device lets us also check where XDP_REDIRECT sends a frame.
 *
 *   vt0 (trunk)  <-> vt0p   the router's end
 *   va  (VIF 100) <-> vap   service A's end
 *   vb  (VIF 200) <-> vbp   service B's end
 *   vc  (VIF 4094) <-> vcp  service C's end
 *   vx  (no VIF) <-> vxp    a port the dataplane does not know
 *
 * Each row of xdp_cases[] resets the dataplane to the baseline VIFs,
 * applies its tweaks, runs one frame (after .pre identical ones, for
 * quotas) and asserts the verdict, the whole output frame, the metadata
 * and the exact change of every counter.  A row that redirects is then run
 * once more in BPF_F_TEST_XDP_LIVE_FRAMES mode, and the frame must come out
 * of the peer of the port the row names, and nowhere else: test_run alone
 * only reports XDP_REDIRECT, not the target.
 *
 * Reachable drop reasons are all covered.  Two are not reachable here:
 * VIF_DROP_POLICY_BUSY needs a writer to flip vif_index four times inside
 * one ~20 ns read, which no test can schedule (test_policy_flip_atomic
 * checks the opposite: it never happens under a flipping writer), and
 * VIF_DROP_NO_ROOM needs bpf_xdp_adjust_head() to fail, which test_run's
 * fixed XDP_PACKET_HEADROOM and the 18 bytes parsed before a pop rule out.
 * Likewise the re-read of vif_index in vif_policy_read() only matters when
 * a writer laps a reader twice; the flip test can show that no torn
 * verdict appears, not that the re-read is what prevents one.
 *
 * test_run itself refuses frames shorter than ETH_HLEN (EINVAL) before a
 * program runs, so the runt rows accept that as well as a malformed drop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp.h"
#include "harness.h"
#include "pkt.h"
#include "vif_abi.h"

#define VA 100
#define VB 200
#define VC 4094 /* the highest usable VLAN */
#define MARK_A 0x100
#define MARK_B 0x200
#define MARK_C 0xffe
/* A VLAN no VIF has, whose live policy slot forge_slot() fills. */
#define VFORGED 300

/* Live mode refuses frames that do not fit one page (no frags there). */
#define LIVE_MAX 3000

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

static __be32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* ---- the namespace's devices ---------------------------------------- */

enum port_id { P_NONE, P_TRUNK, P_A, P_B, P_C, P_X, P__MAX };

struct port {
	const char *name, *peer;
	const __u8 *mac, *peer_mac;
	int ifindex, peer_ifindex;
	int tap; /* AF_PACKET on the peer: what leaves the port */
};

static struct port ports[P__MAX] = {
	[P_TRUNK] = { "vt0", "vt0p", TRUNK, TRUNK_PEER },
	[P_A] = { "va", "vap", PORT_A, SVC_A },
	[P_B] = { "vb", "vbp", PORT_B, SVC_B },
	[P_C] = { "vc", "vcp", PORT_C, SVC_C },
	[P_X] = { "vx", "vxp", PORT_X, SVC_X },
};

struct vif_def {
	__u16 vlan;
	enum port_id port;
	const char *addr, *host;
	__u32 mark;
};

static const struct vif_def vifs[] = {
	{ VA, P_A, "10.1.0.2", "10.1.0.1", MARK_A },
	{ VB, P_B, "10.2.0.2", "10.2.0.1", MARK_B },
	{ VC, P_C, "10.3.0.2", "10.3.0.1", MARK_C },
};

static void vif_spec_of(const struct vif_def *d, struct vif_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->vlan = d->vlan;
	s->svc_ifindex = ports[d->port].ifindex;
	s->mark = d->mark;
	s->table = 1000 + d->vlan;
	s->addr = ip4(d->addr);
	s->prefix_len = 24;
	s->host_addr = ip4(d->host);
	memcpy(s->svc_mac, ports[d->port].peer_mac, 6);
	memcpy(s->port_mac, ports[d->port].mac, 6);
	s->active = true;
}

static struct {
	struct dp *dp;
	char pin_dir[64];
	int ports_fd;	  /* the pinned maps, for state the API never makes */
	int index_fd, policy_fd, qshr_fd;
	bool forged;
	int prog[3];	  /* by enum dp_prog */
	int cpu;	  /* every run happens here: quotas are per CPU */
	cpu_set_t allowed; /* our CPUs before pinning */
	struct dp_stats *before, *after;
} env = { .ports_fd = -1, .index_fd = -1, .policy_fd = -1, .qshr_fd = -1 };

static volatile sig_atomic_t exiting;

/* ---- frames --------------------------------------------------------- */

struct tag {
	__u16 tpid, tci;
};

/* dst, src, up to two tags, then the body from the ethertype on. */
struct frame {
	const __u8 *dst, *src;
	struct tag tag[2]; /* .tpid 0 ends the list */
	void (*body)(struct pkt *p);
};

#define F(d, s, b, ...)                                                    \
	{ .dst = (d), .src = (s), .body = (b), .tag = { __VA_ARGS__ } }
#define CTAG(tci) { ETH_P_8021Q, (tci) }
#define STAG(tci) { ETH_P_8021AD, (tci) }

static void frame_build(struct pkt *p, const struct frame *f)
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
	pkt_ipv4(p, ip4(src), ip4(dst), IPPROTO_UDP, 8 + payload);
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
	off = pkt_ipv4(p, ip4("10.1.0.2"), ip4("192.0.2.1"), IPPROTO_UDP, 0);
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
	off = pkt_ipv4(p, ip4("10.1.0.2"), ip4("192.0.2.1"), IPPROTO_UDP, 10);
	p->data[off] = 0x4f;
	pkt_zeros(p, 10);
}

/* IHL 6: four bytes of options (NOP NOP NOP EOL), then UDP: 104 bytes. */
static void b_ipv4_opts(struct pkt *p)
{
	__u8 h[24] = { 0x46, 0, 0, 24 + 8 + 58, [8] = 64, [9] = IPPROTO_UDP,
		       [20] = 1, 1, 1, 0 };
	__be32 s = ip4("10.1.0.2"), d = ip4("192.0.2.1");
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
	off = pkt_arp(p, 1, SVC_A, ip4(sip), ZERO_MAC, ip4(tip));
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

/* Applied in this order after the baseline; 0 / false = leave alone. */
struct tweak {
	__u32 slice;		/* dp_set_quota_slice() */
	__u16 quota_vif;	/* dp_quota_set(quota_vif, limit, flags) */
	__u64 quota_limit;
	__u32 quota_flags;
	__u16 killswitch;	/* engage on this VIF */
	__u16 chain_from, chain_to;
	__u16 forge;		/* fill this VLAN's live slot: forge_slot() */
	bool qinq;
	bool no_trunk;		/* dp_trunk_detach() */
	__u16 inactive;		/* deactivate this VIF */
	__u16 deleted;		/* delete this VIF (after the chain is set) */
	__u16 stale_port;	/* vif_ports[vx] = this VLAN, behind dp */
};

/* Expected counter deltas; everything not named must stay put. */
struct want_cnt {
	unsigned int drop;	/* DROP(reason), 0 = nothing dropped */
	__u16 drop_vif;		/* VIF the drop is charged to too, 0 = none */
	__u16 vif;		/* VIF whose traffic counters move */
	__u64 rx_packets, rx_bytes, tx_packets, tx_bytes;
	__u64 host_packets, chain_packets;
};

#define DROP(r) ((unsigned int)(r) + 1)

struct xdp_case {
	const char *desc;
	enum dp_prog prog;
	enum port_id in;
	struct frame pkt;
	struct tweak set;
	unsigned int pre;	/* identical frames first, all pre_retval */
	__u32 pre_retval;
	bool reset_after_pre;	/* dp_quota_reset(set.quota_vif) after them */
	__u32 retval;
	struct frame out;	/* .body NULL: the input comes back as is */
	enum port_id to;	/* where XDP_REDIRECT must deliver it */
	bool meta;		/* vif_xdp_meta with .mark in front */
	__u32 mark;
	struct want_cnt cnt;
	bool check_used;	/* dp_quota_usage(set.quota_vif) == used */
	__u64 used;
	bool check_granted;	/* vif_quota_shr of its epoch == granted */
	__u64 granted;
	bool may_refuse;	/* the kernel may reject it before running */
	const char *known_bug;	/* strict expected failure, see below */
};

#define TRUNK_IN .prog = DP_PROG_TRUNK, .in = P_TRUNK
#define SVC_IN(port) .prog = DP_PROG_SERVICE, .in = (port)

#define DROPPED(r) .retval = XDP_DROP, .cnt = { .drop = DROP(r) }
#define DROPPED_VIF(r, v)                                                  \
	.retval = XDP_DROP, .cnt = { .drop = DROP(r), .drop_vif = (v) }
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

static const struct xdp_case xdp_cases[] = {
	/* ---- trunk: malformed and refused tags ---- */
	{
		/*
		 * test_run refuses data_size_in < ETH_HLEN with EINVAL before
		 * the program runs; a kernel that let it through must see
		 * the program drop it as malformed.  (This is also the only
		 * way to reach either program's Ethernet bounds check.)
		 */
		.desc = "trunk: 13-byte runt",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_runt), .may_refuse = true,
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
		.retval = XDP_REDIRECT, .to = P_A,
		.out = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(7)),
		RX(VA, 104),
	},
	{
		.desc = "trunk: QinQ allowed, C+C: only the outer tag popped",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(VA), CTAG(7)),
		.retval = XDP_REDIRECT, .to = P_A,
		.out = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(7)),
		RX(VA, 104),
	},
	{
		.desc = "trunk: QinQ allowed, lone S-tag selects the VIF",
		TRUNK_IN, .set = { .qinq = true },
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, STAG(VA)),
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
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
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		/* PCP 5 and DEI: the VID is the low 12 bits only. */
		.desc = "trunk: PCP and DEI bits do not change the VLAN",
		TRUNK_IN,
		.pkt = F(SVC_A, ROUTER, b_udp4_to_a, CTAG(0xb000 | VA)),
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		.desc = "trunk: VLAN 200 goes to B's port",
		TRUNK_IN, .pkt = F(SVC_B, ROUTER, b_udp4_to_a, CTAG(VB)),
		.retval = XDP_REDIRECT, .to = P_B,
		.out = F(SVC_B, ROUTER, b_udp4_to_a),
		RX(VB, 100),
	},
	{
		.desc = "trunk: VLAN 4094 goes to C's port",
		TRUNK_IN, .pkt = F(SVC_C, ROUTER, b_udp4_to_a, CTAG(VC)),
		.retval = XDP_REDIRECT, .to = P_C,
		.out = F(SVC_C, ROUTER, b_udp4_to_a),
		RX(VC, 100),
	},
	{
		/* "Nothing leaves the service": inbound is not its business. */
		.desc = "trunk: kill switch lets through traffic to the service",
		TRUNK_IN, .set = { .killswitch = VA }, .pkt = TRUNK_UDP_A,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100),
	},
	{
		/* Beyond one page test_run builds a multi-buffer xdp_buff. */
		.desc = "trunk: 9000-byte jumbo (xdp.frags) popped to 8996",
		TRUNK_IN, .pkt = F(SVC_A, ROUTER, b_jumbo_to_a, CTAG(VA)),
		.retval = XDP_REDIRECT, .to = P_A,
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
		.pkt = TRUNK_UDP_A, .pre = 9, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(1000), GRANTED(1000),
	},
	{
		/* The slice is at 0 and the shared budget is all granted. */
		.desc = "trunk: rx quota 1000 B, 11th 100-byte frame refused",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_retval = XDP_REDIRECT,
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
		.pkt = TRUNK_UDP_A, .pre = 11, .pre_retval = XDP_REDIRECT,
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
		.pre = 40, .pre_retval = XDP_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(40000), GRANTED(40000),
	},
	{
		/* Slices of 250 B: four grabs of budget, same boundary. */
		.desc = "trunk: rx quota with a 250 B slice, 11th refused",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK), .slice = 250 },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_retval = XDP_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		/* Each grab takes one configured slice, not the whole limit. */
		.desc = "trunk: rx quota, 250 B slice: a frame takes a slice",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK), .slice = 250 },
		.pkt = TRUNK_UDP_A,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
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
		.pkt = TRUNK_UDP_A, .pre = 2, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(300),
	},
	{
		.desc = "trunk: rx quota alert-only admits, counts past limit",
		TRUNK_IN, .set = { QUOTA(VA, 1000, VIF_F_QUOTA_RX) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(1100), GRANTED(1000),
	},
	{
		.desc = "trunk: dp_quota_reset re-opens a used-up rx quota",
		TRUNK_IN, .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 10, .pre_retval = XDP_REDIRECT,
		.reset_after_pre = true,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(100), GRANTED(1000),
	},
	{
		.desc = "trunk: tx-only quota does not charge trunk frames",
		TRUNK_IN, .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = TRUNK_UDP_A, .pre = 20, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_A, .out = SVC_UDP_A,
		RX(VA, 100), USED(0), GRANTED(0),
	},

	/* ---- service: port and VIF lookup ---- */
	{
		.desc = "svc: 13-byte runt",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_runt),
		.may_refuse = true,
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
		.retval = XDP_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100),
	},
	{
		.desc = "svc: IPv4 from another address of the subnet",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_udp4_from_a_peer),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_A, b_udp4_from_a_peer, CTAG(VA)),
		TX(VA, 100),
	},
	{
		.desc = "svc: B's frames get VLAN 200",
		SVC_IN(P_B), .pkt = F(ROUTER, SVC_B, b_udp4_from_b),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_B, b_udp4_from_b, CTAG(VB)),
		TX(VB, 100),
	},
	{
		.desc = "svc: C's frames get VLAN 4094",
		SVC_IN(P_C), .pkt = F(ROUTER, SVC_C, b_udp4_from_c),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_C, b_udp4_from_c, CTAG(VC)),
		TX(VC, 100),
	},
	{
		.desc = "svc: 9000-byte jumbo (xdp.frags) tagged to 9004",
		SVC_IN(P_A), .pkt = F(ROUTER, SVC_A, b_jumbo_from_a),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
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
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(ROUTER, SVC_A, b_ipv4_opts, CTAG(VA)),
		TX(VA, 104),
	},
	/* ---- service: ARP ---- */
	{
		.desc = "svc: ARP for the host address goes to the host",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_host),
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
		HOST(VA, 60),
	},
	{
		.desc = "svc: ARP for another address goes to the trunk",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_peer),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(BCAST, SVC_A, b_arp_peer, CTAG(VA)),
		TX(VA, 60),
	},
	{
		.desc = "svc: ARP probe from 0.0.0.0 allowed",
		SVC_IN(P_A), .pkt = F(BCAST, SVC_A, b_arp_probe),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
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
		.retval = XDP_REDIRECT, .to = P_TRUNK,
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
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_dad, CTAG(VA)),
		TX(VA, 78),
	},
#define ICMP6_CTRL(t, what)                                                \
	{                                                                  \
		.desc = "svc: ICMPv6 " #t " (" what ") from :: is control", \
		SVC_IN(P_A), .pkt = F(MC_ALL, SVC_A, b_ip6_type##t),       \
		.retval = XDP_REDIRECT, .to = P_TRUNK,                     \
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
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_hbh_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind hop-by-hop + dest options is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_hbh_dst_dad),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_hbh_dst_dad, CTAG(VA)),
		TX(VA, 94),
	},
	{
		.desc = "svc: DAD behind a routing header is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_rthdr_dad),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_rthdr_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind a fragment header is control",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_frag_dad),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
		.out = F(MC_SNM, SVC_A, b_ip6_frag_dad, CTAG(VA)),
		TX(VA, 86),
	},
	{
		.desc = "svc: DAD behind 4 extension headers (the walk limit)",
		SVC_IN(P_A), .pkt = F(MC_SNM, SVC_A, b_ip6_ext4_dad),
		.retval = XDP_REDIRECT, .to = P_TRUNK,
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
		.desc = "svc: IPv4 to the port MAC: XDP_PASS, mark in meta",
		SVC_IN(P_A), .pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
		HOST(VA, 100),
	},
	{
		.desc = "svc: B's host-bound frame carries B's mark",
		SVC_IN(P_B), .pkt = F(PORT_B, SVC_B, b_udp4_from_b),
		.retval = XDP_PASS, .meta = true, .mark = MARK_B,
		HOST(VB, 100),
	},
	{
		.desc = "svc: host-bound frames need no trunk",
		SVC_IN(P_A), .set = { .no_trunk = true },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
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
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
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
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
		HOST(VA, 78),
	},
	{
		.desc = "svc: kill switch lets NS behind HBH to the host",
		SVC_IN(P_A), .set = { .killswitch = VA },
		.pkt = F(PORT_A, SVC_A, b_ip6_hbh_ns_host),
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
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
		.retval = XDP_REDIRECT, .to = P_B,
		.out = F(SVC_B, PORT_B, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		.desc = "svc: chain A->B: data for the world goes to B too",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VB },
		.pkt = A_UDP,
		.retval = XDP_REDIRECT, .to = P_B,
		.out = F(SVC_B, PORT_B, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		.desc = "svc: chain A->C (VLAN 4094)",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VC },
		.pkt = A_UDP,
		.retval = XDP_REDIRECT, .to = P_C,
		.out = F(SVC_C, PORT_C, b_udp4_from_a),
		CHAIN(VA, 100),
	},
	{
		/* The host is a chained VIF's L2 gateway. */
		.desc = "svc: chain A->B: ARP for anyone goes to the host",
		SVC_IN(P_A), .set = { .chain_from = VA, .chain_to = VB },
		.pkt = F(BCAST, SVC_A, b_arp_peer),
		.retval = XDP_PASS, .meta = true, .mark = MARK_A,
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
		.pkt = A_UDP, .pre = 10, .pre_retval = XDP_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	/* ---- service: tx quota ---- */
	{
		.desc = "svc: tx quota 1000 B, 10th 100-byte frame admitted",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 9, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota 1000 B, 11th 100-byte frame refused",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 10, .pre_retval = XDP_REDIRECT,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota also counts host-bound frames",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = F(PORT_A, SVC_A, b_udp4_from_a),
		.pre = 10, .pre_retval = XDP_PASS,
		DROPPED_VIF(VIF_DROP_QUOTA, VA), USED(1000), GRANTED(1000),
	},
	{
		.desc = "svc: tx quota alert-only admits and counts past limit",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, VIF_F_QUOTA_TX) },
		.pkt = A_UDP, .pre = 10, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(1100), GRANTED(1000),
	},
	{
		.desc = "svc: dp_quota_reset re-opens a used-up tx quota",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, TX_BLOCK) },
		.pkt = A_UDP, .pre = 10, .pre_retval = XDP_REDIRECT,
		.reset_after_pre = true,
		.retval = XDP_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(100), GRANTED(1000),
	},
	{
		.desc = "svc: rx-only quota does not charge service frames",
		SVC_IN(P_A), .set = { QUOTA(VA, 1000, RX_BLOCK) },
		.pkt = A_UDP, .pre = 20, .pre_retval = XDP_REDIRECT,
		.retval = XDP_REDIRECT, .to = P_TRUNK, .out = A_UDP_TAGGED,
		TX(VA, 100), USED(0), GRANTED(0),
	},
};

/* ---- dataplane state ------------------------------------------------ */

/*
 * The policy map holds only what dp writes: a VIF, or all zeroes once
 * deleted.  The programs still check that a slot's vlan is the one they
 * looked up, so that a slot with other contents is never trusted.  Make
 * such a slot by hand in vlan's live slot: active, claiming the spare port
 * vx, but with a vlan field that says "no VIF here".  For VFORGED, also
 * point vx at it in vif_ports.  A real VIF's forged slot goes away with
 * the next env_reset(), whose upsert publishes the other slot.
 */
static int forge_slot(__u32 vlan, bool fill)
{
	struct vif_entry e = {};
	struct vif_port p = { .vlan = vlan };
	__u32 idx, key;

	if (bpf_map_lookup_elem(env.index_fd, &vlan, &idx))
		return -errno;
	if (fill) {
		e.gen = VIF_INDEX_GEN(idx);
		e.flags = VIF_F_ACTIVE;
		e.vlan = 0;
		e.svc_ifindex = ports[P_X].ifindex;
		e.mark = 0x300;
		memcpy(e.svc_mac, SVC_X, 6);
		memcpy(e.port_mac, PORT_X, 6);
	} else {
		e.gen = VIF_INDEX_GEN(idx);
	}
	key = policy_slot_key(vlan, idx);
	if (bpf_map_update_elem(env.policy_fd, &key, &e, BPF_ANY))
		return -errno;
	if (vlan != VFORGED)
		return 0;
	key = ports[P_X].ifindex;
	if (fill && bpf_map_update_elem(env.ports_fd, &key, &p, BPF_ANY))
		return -errno;
	env.forged = fill;
	return 0;
}

/* Every VIF back to its spec, fresh quotas, default config, trunk up. */
static int env_reset(void)
{
	struct vif_dp_config cfg;
	struct vif_spec s;
	char err[128] = "";
	__u32 key = ports[P_X].ifindex;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vifs); i++) {
		vif_spec_of(&vifs[i], &s);
		if (!ASSERT_OK(dp_vif_upsert(env.dp, &s, err, sizeof(err)),
			       "baseline upsert") ||
		    !ASSERT_OK(dp_quota_reset(env.dp, s.vlan), "quota reset"))
			return -1;
	}
	if (!ASSERT_OK(dp_set_qinq(env.dp, false), "qinq off") ||
	    !ASSERT_OK(dp_set_quota_slice(env.dp, VIF_QUOTA_SLICE_DEFAULT),
		       "default slice") ||
	    !ASSERT_OK(dp_config_get(env.dp, &cfg), "config"))
		return -1;
	if (!cfg.trunk_ifindex &&
	    !ASSERT_OK(dp_trunk_attach(env.dp, ports[P_TRUNK].ifindex),
		       "trunk re-attach"))
		return -1;
	{
		/* vif_ports is an array for small ifindexes: clearing is
		 * writing vlan 0. */
		struct vif_port none = {};

		if (!ASSERT_OK(bpf_map_update_elem(env.ports_fd, &key, &none,
						   BPF_ANY),
			       "clear stale port"))
			return -1;
	}
	if (env.forged && !ASSERT_OK(forge_slot(VFORGED, false), "unforge"))
		return -1;
	return 0;
}

static int apply_tweak(const struct tweak *t)
{
	int err = 0;

	if (t->slice)
		err = err ?: dp_set_quota_slice(env.dp, t->slice);
	if (t->quota_vif)
		err = err ?: dp_quota_set(env.dp, t->quota_vif, t->quota_limit,
					  t->quota_flags);
	if (t->killswitch)
		err = err ?: dp_killswitch_set(env.dp, t->killswitch, true);
	if (t->chain_from)
		err = err ?: dp_chain_set(env.dp, t->chain_from, t->chain_to);
	if (t->forge)
		err = err ?: forge_slot(t->forge, true);
	if (t->qinq)
		err = err ?: dp_set_qinq(env.dp, true);
	if (t->no_trunk)
		err = err ?: dp_trunk_detach(env.dp);
	if (t->inactive)
		err = err ?: dp_active_set(env.dp, t->inactive, false);
	if (t->deleted)
		err = err ?: dp_vif_delete(env.dp, t->deleted);
	if (t->stale_port) {
		struct vif_port p = { .vlan = t->stale_port };
		__u32 key = ports[P_X].ifindex;

		if (bpf_map_update_elem(env.ports_fd, &key, &p, BPF_ANY))
			err = err ?: -errno;
	}
	if (!ASSERT_OK(err, "apply tweaks")) {
		fprintf(stderr, "  %s (%d)\n", strerror(-err), err);
		return -1;
	}
	return 0;
}

/* ---- running programs ----------------------------------------------- */

struct run_out {
	__u8 data[PKT_MAX + 64];
	__u32 len;
	__u32 retval;
	__u32 meta_len; /* ctx_out.data: bytes of metadata in front */
};

static int run_xdp(int fd, int ifindex, const struct pkt *in,
		   struct run_out *o)
{
	/* ctx_in.data_end must equal data_size_in; data_meta must be 0. */
	struct xdp_md ctx_in = { .data_end = in->len,
				 .ingress_ifindex = ifindex };
	struct xdp_md ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = in->data,
		    .data_size_in = in->len,
		    .data_out = o->data,
		    .data_size_out = sizeof(o->data),
		    .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out),
		    /* The programs rewrite the frame: one run per call. */
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return err;
	o->retval = opts.retval;
	o->len = opts.data_size_out;
	o->meta_len = ctx_out.data;
	return 0;
}

/* Run for real: XDP_REDIRECT really transmits on the target device. */
static int run_xdp_live(int fd, int ifindex, const struct pkt *in)
{
	struct xdp_md ctx_in = { .data_end = in->len,
				 .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = in->data,
		    .data_size_in = in->len,
		    .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .repeat = 1);

	return bpf_prog_test_run_opts(fd, &opts);
}

/* ---- taps: what actually leaves a port ------------------------------ */

static int tap_open(int ifindex, __u16 proto)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = ifindex,
	};
	int fd, one = 1;

	/* Protocol 0 until bound: no frames from other devices meanwhile. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * One frame, as it was on the wire.  The stack strips a VLAN tag into
 * skb metadata before taps see the frame; PACKET_AUXDATA gives it back
 * and we reinsert it, as libpcap does.
 */
static int tap_recv(int fd, __u8 *buf, size_t cap, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	struct iovec iov = { .iov_base = buf, .iov_len = cap - 4 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -EAGAIN;
	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		struct tpacket_auxdata aux;
		__u16 tpid, tci;

		if (c->cmsg_level != SOL_PACKET ||
		    c->cmsg_type != PACKET_AUXDATA)
			continue;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || n < 12)
			continue;
		tpid = htons(aux.tp_status & TP_STATUS_VLAN_TPID_VALID ?
				     aux.tp_vlan_tpid :
				     ETH_P_8021Q);
		tci = htons(aux.tp_vlan_tci);
		memmove(buf + 16, buf + 12, n - 12);
		memcpy(buf + 12, &tpid, 2);
		memcpy(buf + 14, &tci, 2);
		n += 4;
	}
	return (int)n;
}

static void taps_drain(void)
{
	__u8 buf[2048];
	int i;

	for (i = P_TRUNK; i < P__MAX; i++)
		while (tap_recv(ports[i].tap, buf, sizeof(buf), 0) >= 0)
			;
}

/*
 * The frame must come out of the peer of port "to", byte for byte, once,
 * and out of no other port.
 */
static bool check_wire(const struct xdp_case *c, const struct pkt *in,
		       const struct pkt *want)
{
	static __u8 buf[2048];
	bool ok = true;
	int i, n;

	if (env_reset() || apply_tweak(&c->set))
		return false;
	taps_drain();
	if (!ASSERT_OK(run_xdp_live(env.prog[c->prog], ports[c->in].ifindex,
				    in),
		       "live test_run"))
		return false;
	n = tap_recv(ports[c->to].tap, buf, sizeof(buf), 2000);
	if (ASSERT_EQ(n, want->len, "length on the wire")) {
		ok &= ASSERT_MEM_EQ(buf, want->data, n, "bytes on the wire");
	} else {
		fprintf(stderr, "  nothing (or not this) out of %s\n",
			ports[c->to].peer);
		ok = false;
	}
	/* Anything misdirected would have arrived by now; give it 20 ms. */
	for (i = P_TRUNK; i < P__MAX; i++) {
		n = tap_recv(ports[i].tap, buf, sizeof(buf), 20);
		if (n >= 0) {
			fprintf(stderr,
				"  unexpected %d-byte frame out of %s\n", n,
				ports[i].peer);
			ok = false;
		}
	}
	return ok;
}

/* ---- counters ------------------------------------------------------- */

static bool delta_is(__u64 after, __u64 before, __u64 want, int vlan,
		     const char *what)
{
	if (after - before == want)
		return true;
	if (vlan < 0)
		fprintf(stderr, "  global %s: moved by %llu, want %llu\n",
			what, (unsigned long long)(after - before),
			(unsigned long long)want);
	else
		fprintf(stderr, "  VIF %d %s: moved by %llu, want %llu\n",
			vlan, what, (unsigned long long)(after - before),
			(unsigned long long)want);
	return false;
}

/*
 * Exactly the named counters moved, by exactly the named amounts: "runs"
 * frames went through prog, "ndrop" of them dropped for w->drop.
 */
static bool check_deltas(enum dp_prog prog, const struct want_cnt *w,
			 __u64 runs, __u64 ndrop)
{
	const struct vif_global_stats *gb = &env.before->global;
	const struct vif_global_stats *ga = &env.after->global;
	bool ok = true;
	int r, v;

	ok &= delta_is(ga->trunk_rx_packets, gb->trunk_rx_packets,
		       prog == DP_PROG_TRUNK ? runs : 0, -1,
		       "trunk_rx_packets");
	ok &= delta_is(ga->svc_rx_packets, gb->svc_rx_packets,
		       prog == DP_PROG_SERVICE ? runs : 0, -1,
		       "svc_rx_packets");
	for (r = 0; r < VIF_DROP__MAX; r++)
		ok &= delta_is(ga->drops[r], gb->drops[r],
			       w->drop == DROP(r) ? ndrop : 0, -1,
			       stats_drop_name(r));
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vif_stats *b = &env.before->vif[v];
		const struct vif_stats *a = &env.after->vif[v];
		bool mine = runs && v == w->vif;

		ok &= delta_is(a->rx_packets, b->rx_packets,
			       mine ? w->rx_packets : 0, v, "rx_packets");
		ok &= delta_is(a->rx_bytes, b->rx_bytes,
			       mine ? w->rx_bytes : 0, v, "rx_bytes");
		ok &= delta_is(a->tx_packets, b->tx_packets,
			       mine ? w->tx_packets : 0, v, "tx_packets");
		ok &= delta_is(a->tx_bytes, b->tx_bytes,
			       mine ? w->tx_bytes : 0, v, "tx_bytes");
		ok &= delta_is(a->host_packets, b->host_packets,
			       mine ? w->host_packets : 0, v, "host_packets");
		ok &= delta_is(a->chain_packets, b->chain_packets,
			       mine ? w->chain_packets : 0, v,
			       "chain_packets");
		for (r = 0; r < VIF_DROP__MAX; r++)
			ok &= delta_is(a->drops[r], b->drops[r],
				       w->drop == DROP(r) && w->drop_vif &&
						       v == w->drop_vif ?
					       ndrop :
					       0,
				       v, stats_drop_name(r));
	}
	return ok;
}

/* ---- the table ------------------------------------------------------ */

static struct pkt in_pkt, want_pkt, want_frame;
static struct run_out res;

static bool run_case(const struct xdp_case *c)
{
	int fd = env.prog[c->prog], ifindex = ports[c->in].ifindex;
	struct vif_xdp_meta meta = { VIF_META_MAGIC, c->mark };
	bool ok = true;
	unsigned int i;
	int err;

	if (env_reset() || apply_tweak(&c->set))
		return false;
	frame_build(&in_pkt, &c->pkt);
	for (i = 0; i < c->pre; i++) {
		err = run_xdp(fd, ifindex, &in_pkt, &res);
		if (!ASSERT_OK(err, "pre-run") ||
		    !ASSERT_EQ(res.retval, c->pre_retval, "pre-run verdict")) {
			fprintf(stderr, "  at pre-run %u of %u\n", i + 1,
				c->pre);
			return false;
		}
	}
	if (c->reset_after_pre &&
	    !ASSERT_OK(dp_quota_reset(env.dp, c->set.quota_vif), "reset"))
		return false;

	if (!ASSERT_OK(dp_stats_read(env.dp, env.before), "stats before"))
		return false;
	err = run_xdp(fd, ifindex, &in_pkt, &res);
	if (!ASSERT_OK(dp_stats_read(env.dp, env.after), "stats after"))
		return false;

	if (err == -EINVAL && c->may_refuse) {
		printf("     (kernel refused the %zu-byte frame: %s; the program did not run)\n",
		       in_pkt.len, strerror(-err));
		return check_deltas(c->prog, &c->cnt, 0, 0);
	}
	if (!ASSERT_OK(err, "test_run")) {
		fprintf(stderr, "  test_run: %s (%d)\n", strerror(-err), err);
		return false;
	}

	ok &= ASSERT_EQ(res.retval, c->retval, "verdict");
	if (c->out.body)
		frame_build(&want_frame, &c->out);
	else
		want_frame = in_pkt;
	pkt_init(&want_pkt);
	if (c->meta)
		pkt_bytes(&want_pkt, &meta, sizeof(meta));
	pkt_bytes(&want_pkt, want_frame.data, want_frame.len);
	ok &= ASSERT_EQ(res.meta_len, c->meta ? sizeof(meta) : 0,
			"metadata length");
	if (ASSERT_EQ(res.len, want_pkt.len, "data_size_out"))
		ok &= ASSERT_MEM_EQ(res.data, want_pkt.data, res.len,
				    "frame out");
	else
		ok = false;
	ok &= check_deltas(c->prog, &c->cnt, 1, 1);
	if (c->check_granted) {
		struct vif_quota_shared shr = { .granted = ~0ull };
		struct vif_entry e;
		__u32 key;

		ok &= ASSERT_OK(dp_vif_get(env.dp, c->set.quota_vif, &e),
				"vif");
		key = (__u32)c->set.quota_vif * 2 + (e.quota_epoch & 1);
		ok &= ASSERT_OK(bpf_map_lookup_elem(env.qshr_fd, &key, &shr),
				"quota grant") &&
		      ASSERT_EQ(shr.granted, c->granted, "bytes granted");
	}
	if (c->check_used) {
		__u64 used = ~0ull;

		ok &= ASSERT_OK(dp_quota_usage(env.dp, c->set.quota_vif, &used),
				"quota usage") &&
		      ASSERT_EQ(used, c->used, "quota bytes used");
	}
	if (ok && c->retval == XDP_REDIRECT && in_pkt.len <= LIVE_MAX)
		ok &= check_wire(c, &in_pkt, &want_frame);
	return ok;
}

/*
 * A row with .known_bug must fail (and is then reported as "xfail"); if it
 * passes, the bug is gone and the row fails until its mark is removed.
 */
static int test_xdp_table(void)
{
	int fail = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(xdp_cases) && !exiting; i++) {
		const struct xdp_case *c = &xdp_cases[i];
		bool ok = run_case(c);

		if (c->known_bug && !ok) {
			printf("  xfail %s\n     (known bug: %s)\n", c->desc,
			       c->known_bug);
		} else if (c->known_bug) {
			printf("  XPASS %s: known bug fixed? drop .known_bug\n",
			       c->desc);
			fail = -1;
		} else {
			printf("  %s %s\n", ok ? "ok  " : "FAIL", c->desc);
			if (!ok)
				fail = -1;
		}
		fflush(stdout);
	}
	return exiting ? -1 : fail;
}

/* ---- tc: the routing mark ------------------------------------------- */

struct tc_case {
	const char *desc;
	enum port_id in;
	struct tweak set;
	__u32 mark_in, want_mark;
};

/*
 * SCHED_CLS test_run builds an skb without XDP metadata, so these run the
 * fallback: the mark comes from the VIF of skb->ingress_ifindex.  The
 * metadata path is run for real in test_host_mark_live.
 */
static const struct tc_case tc_cases[] = {
	{ "tc: A's port gets A's mark", P_A, {}, 0, MARK_A },
	{ "tc: A's mark replaces an earlier one", P_A, {}, 0x55, MARK_A },
	{ "tc: B's port gets B's mark", P_B, {}, 0, MARK_B },
	{ "tc: C's port gets C's mark", P_C, {}, 0, MARK_C },
	{ "tc: unknown port keeps its mark", P_X, {}, 0x55, 0x55 },
	{ "tc: the trunk is not a service port", P_TRUNK, {}, 0x55, 0x55 },
	{ "tc: inactive VIF sets no mark", P_A, { .inactive = VA },
	  0x55, 0x55 },
	{ "tc: deleted VIF sets no mark", P_B, { .deleted = VB }, 0x55, 0x55 },
	{ "tc: stale port entry without VIF", P_X, { .stale_port = 999 },
	  0x55, 0x55 },
	{ "tc: forged slot with no VIF in it", P_X, { .forge = VFORGED },
	  0x55, 0x55 },
};

static int test_tc_mark_fallback(void)
{
	int fd = env.prog[DP_PROG_TC_MARK], fail = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tc_cases); i++) {
		const struct tc_case *c = &tc_cases[i];
		struct __sk_buff ctx_in = {
			.mark = c->mark_in,
			.ingress_ifindex = ports[c->in].ifindex,
			.ifindex = ports[c->in].ifindex,
		};
		struct __sk_buff ctx_out = {};
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			    .data_in = in_pkt.data,
			    .ctx_in = &ctx_in,
			    .ctx_size_in = sizeof(ctx_in),
			    .ctx_out = &ctx_out,
			    .ctx_size_out = sizeof(ctx_out),
			    .repeat = 1);
		bool ok;

		if (env_reset() || apply_tweak(&c->set))
			return -1;
		frame_build(&in_pkt, &(struct frame)F(PORT_A, SVC_A,
						      b_udp4_from_a));
		opts.data_size_in = in_pkt.len;
		ok = ASSERT_OK(bpf_prog_test_run_opts(fd, &opts), "test_run") &&
		     ASSERT_EQ(opts.retval, TC_ACT_OK, "verdict") &&
		     ASSERT_EQ(ctx_out.mark, c->want_mark, "skb->mark");
		printf("  %s %s\n", ok ? "ok  " : "FAIL", c->desc);
		if (!ok)
			fail = -1;
	}
	return fail;
}

/* Classic BPF: accept only skbs whose mark is "mark". */
static int attach_mark_filter(int fd, __u32 mark)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_MARK },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, mark },
		{ BPF_RET | BPF_K, 0, 0, 0xffff },
		{ BPF_RET | BPF_K, 0, 0, 0 },
	};
	struct sock_fprog prog = { ARRAY_SIZE(code), code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
			  sizeof(prog)) ? -errno : 0;
}

/*
 * End to end: a host-bound frame passed by the XDP program in live mode
 * becomes an skb on va, with our metadata in front; the clsact program
 * must turn it into skb->mark before IPv4 taps see the frame (taps bound
 * to one protocol run after tc ingress, ETH_P_ALL taps before it).
 */
static int test_host_mark_live(void)
{
	int any = -1, marked = -1, unmarked = -1, ret = -1;
	__u8 buf[2048];

	if (env_reset())
		return -1;
	any = tap_open(ports[P_A].ifindex, ETH_P_IP);
	marked = tap_open(ports[P_A].ifindex, ETH_P_IP);
	unmarked = tap_open(ports[P_A].ifindex, ETH_P_IP);
	if (!ASSERT_TRUE(any >= 0 && marked >= 0 && unmarked >= 0, "taps") ||
	    !ASSERT_OK(attach_mark_filter(marked, MARK_A), "filter") ||
	    !ASSERT_OK(attach_mark_filter(unmarked, 0), "filter"))
		goto out;
	frame_build(&in_pkt, &(struct frame)F(PORT_A, SVC_A, b_udp4_from_a));
	if (!ASSERT_OK(run_xdp_live(env.prog[DP_PROG_SERVICE],
				    ports[P_A].ifindex, &in_pkt),
		       "live test_run"))
		goto out;
	if (!ASSERT_EQ(tap_recv(any, buf, sizeof(buf), 2000), in_pkt.len,
		       "frame reached va's stack") ||
	    !ASSERT_EQ(tap_recv(marked, buf, sizeof(buf), 100), in_pkt.len,
		       "frame carries MARK_A") ||
	    !ASSERT_EQ(tap_recv(unmarked, buf, sizeof(buf), 100), -EAGAIN,
		       "no unmarked copy"))
		goto out;
	ret = 0;
out:
	if (any >= 0)
		close(any);
	if (marked >= 0)
		close(marked);
	if (unmarked >= 0)
		close(unmarked);
	return ret;
}

/* ---- atomic policy updates ------------------------------------------ */

#define FLIPS 20000

struct flipper {
	int fd, ifindex, cpu;
	const struct pkt *in;
	const struct pkt *chained; /* verdict of state 1 */
	volatile bool stop;
	unsigned long runs, s1, s2, bad, err;
	struct run_out o;
};

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *flip_runner(void *arg)
{
	struct flipper *f = arg;

	pin_to(f->cpu);
	while (!f->stop) {
		if (run_xdp(f->fd, f->ifindex, f->in, &f->o)) {
			f->err++;
			continue;
		}
		f->runs++;
		if (f->o.retval == XDP_REDIRECT &&
		    f->o.len == f->chained->len &&
		    !memcmp(f->o.data, f->chained->data, f->o.len))
			f->s1++;
		else if (f->o.retval == XDP_DROP && f->o.len == f->in->len &&
			 !memcmp(f->o.data, f->in->data, f->o.len))
			f->s2++;
		else
			f->bad++;
	}
	return NULL;
}

/*
 * State 1: chained to B, kill switch off  -> redirect into B, MACs rewritten.
 * State 2: no chain, kill switch engaged  -> dropped as killswitch.
 * Each state is one dp_vif_upsert(), i.e. one index flip.  The states
 * differ in two fields (not just the kill switch flag) so that a torn read
 * is visible: chain off + kill switch off pushes a tagged frame to the
 * trunk, a third verdict.  POLICY_BUSY would be a drop of its own reason.
 * Reader and writer run on different CPUs when there are two.
 */
static int test_policy_flip_atomic(void)
{
	static struct flipper f;
	struct vif_spec s1, s2;
	pthread_t th;
	int i, other, err = 0;
	char msg[128] = "";
	__u64 busy;

	if (env_reset())
		return -1;
	vif_spec_of(&vifs[0], &s1);
	s1.next_hop = VB;
	vif_spec_of(&vifs[0], &s2);
	s2.killswitch = true;

	memset(&f, 0, sizeof(f));
	frame_build(&in_pkt, &(struct frame)A_UDP);
	frame_build(&want_frame,
		    &(struct frame)F(SVC_B, PORT_B, b_udp4_from_a));
	f.fd = env.prog[DP_PROG_SERVICE];
	f.ifindex = ports[P_A].ifindex;
	f.cpu = env.cpu;
	f.in = &in_pkt;
	f.chained = &want_frame;

	/* The writer on another CPU than the reader, when there is one. */
	other = env.cpu;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (i != env.cpu && CPU_ISSET(i, &env.allowed)) {
			other = i;
			break;
		}

	/* In state 2 before the reader starts: the baseline is neither. */
	if (!ASSERT_OK(dp_vif_upsert(env.dp, &s2, msg, sizeof(msg)), msg) ||
	    !ASSERT_OK(dp_stats_read(env.dp, env.before), "stats before") ||
	    !ASSERT_OK(pthread_create(&th, NULL, flip_runner, &f), "thread"))
		return -1;
	pin_to(other);
	for (i = 0; i < FLIPS && !err; i++)
		err = dp_vif_upsert(env.dp, i & 1 ? &s2 : &s1, msg,
				    sizeof(msg));
	f.stop = true;
	pthread_join(th, NULL);
	pin_to(env.cpu);
	if (!ASSERT_OK(err, msg) ||
	    !ASSERT_OK(dp_stats_read(env.dp, env.after), "stats after"))
		return -1;

	busy = env.after->global.drops[VIF_DROP_POLICY_BUSY] -
	       env.before->global.drops[VIF_DROP_POLICY_BUSY];
	printf("     %d flips (writer CPU %d), %lu runs (CPU %d): %lu chained, %lu killswitch, %lu other, %lu busy\n",
	       FLIPS, other, f.runs, env.cpu, f.s1, f.s2, f.bad,
	       (unsigned long)busy);
	if (!ASSERT_EQ(f.err, 0, "test_run errors") ||
	    !ASSERT_EQ(f.bad, 0, "third verdicts") ||
	    !ASSERT_TRUE(f.s1 && f.s2, "both states seen") ||
	    !check_deltas(DP_PROG_SERVICE,
			  &(struct want_cnt){ .drop = DROP(VIF_DROP_KILLSWITCH),
					      .drop_vif = VA,
					      .vif = VA,
					      .tx_packets = f.s1,
					      .tx_bytes = f.s1 * 100,
					      .chain_packets = f.s1 },
			  f.s1 + f.s2, f.s2))
		return -1;
	return 0;
}

/* ---- setup ---------------------------------------------------------- */

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "'%s' failed (%d)\n", cmd, rc);
	return rc;
}

static int write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(s, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static char *mac_str(const __u8 *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		m[4], m[5]);
	return buf;
}

/* XDP_PASS, so that the peers take frames redirected into their veth. */
static int load_pass_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "vif_test_pass", "GPL", insns,
			     ARRAY_SIZE(insns), NULL);
}

static int netns_setup(void)
{
	const char *path = getenv("PATH");
	char m1[18], m2[18], buf[1024];
	int i;

	/* ip(8) lives in sbin, which a test runner's PATH may lack. */
	snprintf(buf, sizeof(buf), "%s:/usr/sbin:/sbin",
		 path ? path : "/usr/bin:/bin");
	setenv("PATH", buf, 1);
	/* No IPv6 autoconf chatter on the taps. */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	if (sh("ip link set lo up"))
		return -1;
	for (i = P_TRUNK; i < P__MAX; i++) {
		struct port *p = &ports[i];

		if (sh("ip link add %s address %s type veth peer name %s address %s",
		       p->name, mac_str(p->mac, m1), p->peer,
		       mac_str(p->peer_mac, m2)) ||
		    sh("ip link set %s up && ip link set %s up", p->name,
		       p->peer))
			return -1;
		p->ifindex = if_nametoindex(p->name);
		p->peer_ifindex = if_nametoindex(p->peer);
		if (!p->ifindex || !p->peer_ifindex)
			return -1;
	}
	return 0;
}

/*
 * Pin directories of test runs killed before their cleanup ran (a meson
 * timeout, say).  A live run holds dp_open()'s flock on its directory, so
 * a directory we can lock is dead whatever its pid says.  Their programs
 * went with their netns; unpinning frees the maps.
 */
static void sweep_stale_pins(void)
{
	char path[PATH_MAX];
	struct dirent *de, *me;
	DIR *d, *sub;
	int pid, fd;

	d = opendir(VIF_PIN_BASE);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "test-bpf-%d", &pid) != 1)
			continue;
		snprintf(path, sizeof(path), VIF_PIN_BASE "/%s", de->d_name);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			close(fd);
			continue;
		}
		sub = opendir(path);
		while (sub && (me = readdir(sub))) {
			char file[PATH_MAX + 256];

			if (me->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, me->d_name);
			unlink(file);
		}
		if (sub)
			closedir(sub);
		if (!rmdir(path))
			printf("removed stale pin directory %s\n", path);
		close(fd);
	}
	closedir(d);
}

static void env_cleanup(void)
{
	int i;

	for (i = P_TRUNK; i < P__MAX; i++)
		if (ports[i].tap >= 0) {
			close(ports[i].tap);
			ports[i].tap = -1;
		}
	for (i = 0; i < 4; i++) {
		int *fd = i == 0 ? &env.ports_fd :
			  i == 1 ? &env.index_fd :
			  i == 2 ? &env.policy_fd : &env.qshr_fd;

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	if (env.dp) {
		int err = dp_teardown(env.dp);

		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				env.pin_dir, strerror(-err), err);
		dp_close(env.dp);
		env.dp = NULL;
	}
	free(env.before);
	free(env.after);
	env.before = env.after = NULL;
}

static int pinned_map(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", env.pin_dir, name);
	return bpf_obj_get(path);
}

static int env_setup(void)
{
	struct dp_opts opts = { .pin_dir = env.pin_dir };
	int i, err, pass_fd;

	snprintf(env.pin_dir, sizeof(env.pin_dir), VIF_PIN_BASE "/test-bpf-%d",
		 (int)getpid());
	env.before = calloc(1, sizeof(*env.before));
	env.after = calloc(1, sizeof(*env.after));
	if (!env.before || !env.after)
		return -ENOMEM;
	err = dp_open(&opts, &env.dp);
	if (err) {
		fprintf(stderr, "Couldn't open dataplane at '%s': %s (%d)\n",
			env.pin_dir, strerror(-err), err);
		return err;
	}
	env.ports_fd = pinned_map(VIF_MAP_PORTS);
	env.index_fd = pinned_map(VIF_MAP_INDEX);
	env.policy_fd = pinned_map(VIF_MAP_POLICY);
	env.qshr_fd = pinned_map(VIF_MAP_QUOTA_SHARED);
	if (env.ports_fd < 0 || env.index_fd < 0 || env.policy_fd < 0 ||
	    env.qshr_fd < 0)
		return -ENOENT;
	env.prog[DP_PROG_TRUNK] = dp_prog_fd(env.dp, DP_PROG_TRUNK);
	env.prog[DP_PROG_SERVICE] = dp_prog_fd(env.dp, DP_PROG_SERVICE);
	env.prog[DP_PROG_TC_MARK] = dp_prog_fd(env.dp, DP_PROG_TC_MARK);

	err = dp_trunk_attach(env.dp, ports[P_TRUNK].ifindex);
	for (i = P_A; i <= P_C && !err; i++)
		err = dp_port_attach(env.dp, ports[i].ifindex);
	if (err)
		return err;

	/* The netns owns the attachments: they go when the test exits. */
	pass_fd = load_pass_prog();
	if (pass_fd < 0)
		return pass_fd;
	for (i = P_TRUNK; i < P__MAX && !err; i++) {
		err = bpf_xdp_attach(ports[i].peer_ifindex, pass_fd,
				     XDP_FLAGS_DRV_MODE, NULL);
		ports[i].tap = err ? -1 : tap_open(ports[i].peer_ifindex,
						   ETH_P_ALL);
		if (!err && ports[i].tap < 0)
			err = ports[i].tap;
	}
	close(pass_fd);
	return err ?: env_reset();
}

static void on_signal(int sig)
{
	exiting = 1;
}

static const struct test_case cases[] = {
	TEST_CASE(test_xdp_table),
	TEST_CASE(test_tc_mark_fallback),
	TEST_CASE(test_host_mark_live),
	TEST_CASE(test_policy_flip_atomic),
};

/* Even when nothing runs, end with the harness's closing line. */
static int skip_all(const char *why)
{
	printf("skip: %s\n", why);
	printf("0 passed, 0 failed, %zu skipped\n", ARRAY_SIZE(cases));
	return TEST_SKIP;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int i, err, ret;

	for (i = 0; i < P__MAX; i++)
		ports[i].tap = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0 || !have_cap(CAP_BPF) || !have_cap(CAP_NET_ADMIN) ||
	    !have_cap(CAP_SYS_ADMIN)) {
		return skip_all("needs root with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (unshare, XDP, test_run)");
	}
	/* Quota slices are per CPU: every run must land on one CPU. */
	sched_getaffinity(0, sizeof(env.allowed), &env.allowed);
	env.cpu = sched_getcpu();
	pin_to(env.cpu);
	if (unshare(CLONE_NEWNET))
		return skip_all("unshare(CLONE_NEWNET) refused");
	if (netns_setup())
		return skip_all("could not build veth pairs with ip(8)");
	sweep_stale_pins();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	atexit(env_cleanup);

	err = env_setup();
	if (err) {
		fprintf(stderr, "Couldn't set up the dataplane: %s (%d)\n",
			strerror(-err), err);
		printf("0 passed, %zu failed, 0 skipped\n", ARRAY_SIZE(cases));
		return 1;
	}
	ret = harness_run(cases, ARRAY_SIZE(cases));
	env_cleanup();
	return ret;
}
