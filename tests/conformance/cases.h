/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cases.h - the conformance table: one list of frames with the VIF
 * configuration they meet and everything that must come of them, run by
 * both engines (tests/bpf/test_xdp.c through BPF_PROG_TEST_RUN,
 * tests/conformance/test_conformance.c through the DPDK pipeline, and
 * both at once in its differential mode).
 *
 * A row names ports, not ifindexes: each engine maps the port ids to its
 * own ifindexes (veths for XDP, synthetic numbers for DPDK).  Expectations
 * are engine-neutral: a verdict (VIF_ACT_*), the frame that comes out,
 * the port a redirect leaves by, the mark of a host-bound frame, the exact
 * change of every counter and the quota state.  How an engine carries a
 * mark (XDP: vif_xdp_meta in front of the frame; DPDK: vdp_pkt.mark) is
 * the engine's business, checked by its runner (runner.h).
 */
#ifndef VIF_TESTS_CONFORMANCE_CASES_H
#define VIF_TESTS_CONFORMANCE_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "pkt.h"
#include "vif_abi.h"
#include "vif_act.h"

#define VA 100
#define VB 200
#define VC 4094 /* the highest usable VLAN */
#define MARK_A 0x100
#define MARK_B 0x200
#define MARK_C 0xffe
/* A VLAN no VIF has, whose live policy slot conf_forge_slot() fills. */
#define VFORGED 300
#define MARK_FORGED 0x300

/* Verdicts are enum vif_act (include/vif_act.h), shared by both engines. */

const char *conf_act_name(int act);

/* ---- ports ----------------------------------------------------------- */

/*
 *   P_TRUNK  the 802.1Q trunk to the router
 *   P_A/B/C  service ports of VIFs 100, 200 and 4094
 *   P_X      a port the dataplane does not know
 */
enum conf_port { P_NONE, P_TRUNK, P_A, P_B, P_C, P_X, P__MAX };

struct conf_port_def {
	const char *name;     /* for messages (and the XDP engine's veth) */
	const __u8 *mac;      /* the dataplane's end (vif_entry.port_mac) */
	const __u8 *peer_mac; /* the far end (vif_entry.svc_mac) */
};

extern const struct conf_port_def conf_ports[P__MAX];

/* The baseline VIFs every row starts from. */
struct conf_vif_def {
	__u16 vlan;
	enum conf_port port;
	const char *addr, *host;
	__u32 mark;
};

extern const struct conf_vif_def conf_vifs[3];

/* ---- frames ---------------------------------------------------------- */

struct conf_tag {
	__u16 tpid, tci;
};

/* dst, src, up to two tags, then the body from the ethertype on. */
struct conf_frame {
	const __u8 *dst, *src;
	struct conf_tag tag[2]; /* .tpid 0 ends the list */
	void (*body)(struct pkt *p);
};

void conf_frame_build(struct pkt *p, const struct conf_frame *f);
__be32 conf_ip4(const char *s);

/* ---- rows ------------------------------------------------------------ */

enum conf_hook {
	CONF_TRUNK,   /* trunk ingress: vif_trunk_ingress() */
	CONF_SERVICE, /* service port ingress: vif_service_ingress() */
};

/* Applied in this order after the baseline; 0 / false = leave alone. */
struct conf_tweak {
	__u32 slice;		/* dp_set_quota_slice() */
	__u16 quota_vif;	/* dp_quota_set(quota_vif, limit, flags) */
	__u64 quota_limit;
	__u32 quota_flags;
	__u16 killswitch;	/* engage on this VIF */
	__u16 chain_from, chain_to;
	__u16 forge;		/* fill this VLAN's live slot: raw state */
	bool qinq;
	bool no_trunk;		/* dp_trunk_detach() */
	__u16 inactive;		/* deactivate this VIF */
	__u16 deleted;		/* delete this VIF (after the chain is set) */
	__u16 stale_port;	/* ports[P_X] = this VLAN, behind dp: raw */
};

/* Expected counter deltas; everything not named must stay put. */
struct conf_cnt {
	unsigned int drop;	/* CONF_DROP(reason), 0 = nothing dropped */
	__u16 drop_vif;		/* VIF the drop is charged to too, 0 = none */
	__u16 vif;		/* VIF whose traffic counters move */
	__u64 rx_packets, rx_bytes, tx_packets, tx_bytes;
	__u64 host_packets, chain_packets;
};

#define CONF_DROP(r) ((unsigned int)(r) + 1)

struct conf_case {
	const char *desc;
	enum conf_hook hook;
	enum conf_port in;	/* ingress port */
	struct conf_frame pkt;
	struct conf_tweak set;
	unsigned int pre;	/* identical frames first, all pre_verdict */
	int pre_verdict;
	bool reset_after_pre;	/* dp_quota_reset(set.quota_vif) after them */
	int verdict;		/* VIF_ACT_* */
	struct conf_frame out;	/* .body NULL: the input comes back as is */
	enum conf_port to;	/* VIF_ACT_REDIRECT: the port it leaves by */
	__u32 mark;		/* VIF_ACT_PASS: the host-bound mark */
	struct conf_cnt cnt;
	bool check_used;	/* dp_quota_usage(set.quota_vif) == used */
	__u64 used;
	bool check_granted;	/* quota_shr of its epoch == granted */
	__u64 granted;
	const char *known_bug;	/* strict expected failure */
};

extern const struct conf_case conf_cases[];
extern const size_t conf_ncases;

#endif /* VIF_TESTS_CONFORMANCE_CASES_H */
