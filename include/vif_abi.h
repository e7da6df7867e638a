/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_abi.h - the one ABI shared by the BPF programs, the dataplane library,
 * vifd and external readers of the pinned maps (traffic-stats exporters).
 *
 * Rules: fixed-width types only, explicit padding, every struct size pinned
 * by a static assert at the bottom of this file and again in
 * tests/unit/test_abi.c.  Changing a layout is an ABI break: bump
 * VIF_ABI_VERSION, which is stored in the pinned vif_config map so a reader
 * can refuse a layout it does not know.
 *
 * Byte order: "host" means CPU order, "net" means network (big-endian)
 * order; every field comment says which.
 *
 * See docs in README.md ("Pinned maps") for how an exporter reads these.
 */
#ifndef VIF_INCLUDE_VIF_ABI_H
#define VIF_INCLUDE_VIF_ABI_H

#include <linux/types.h>

#define VIF_ABI_VERSION 1

/* VLAN ids usable by a VIF: 0 is the priority tag, 4095 is reserved. */
#define VIF_VLAN_MIN 1
#define VIF_VLAN_MAX 4094
/* Per-VLAN maps are indexed by the VLAN id itself: 0..4095. */
#define VIF_VLAN_SLOTS 4096
/* Each VIF has two policy slots (double buffer, see vif_index). */
#define VIF_POLICY_SLOTS (2 * VIF_VLAN_SLOTS)
/* Service ports with ifindex < VIF_PORT_SLOTS live in an array indexed by
 * ifindex (vif_ports); larger ifindexes in a hash (vif_ports_big). */
#define VIF_PORT_SLOTS 65536
#define VIF_MAX_BIG_PORTS 8192

/* bpffs layout: maps are pinned by name under VIF_PIN_DIR. */
#define VIF_PIN_ROOT "/sys/fs/bpf"
/* Everything vifplane pins lives below VIF_PIN_BASE; the dataplane's own
 * maps in VIF_PIN_DIR, test and tool instances in siblings of it. */
#define VIF_PIN_BASE VIF_PIN_ROOT "/vifplane"
#define VIF_PIN_DIR VIF_PIN_BASE "/dp"

/* Pinned map names (also the BPF object's map names). */
#define VIF_MAP_CONFIG "vif_config"
#define VIF_MAP_INDEX "vif_index"
#define VIF_MAP_POLICY "vif_policy"
#define VIF_MAP_PORTS "vif_ports"
#define VIF_MAP_PORTS_BIG "vif_ports_big"
#define VIF_MAP_STATS "vif_stats"
#define VIF_MAP_GLOBAL "vif_global"
#define VIF_MAP_QUOTA_SHARED "vif_quota_shr"
#define VIF_MAP_QUOTA_PCPU "vif_quota_pcpu"

/* vif_entry.flags */
enum vif_entry_flags {
	VIF_F_ACTIVE = 1u << 0,      /* forward at all */
	VIF_F_KILLSWITCH = 1u << 1,  /* engaged: nothing leaves the service */
	VIF_F_QUOTA_BLOCK = 1u << 2, /* drop when the quota is used up */
	VIF_F_QUOTA_RX = 1u << 3,    /* count trunk -> service bytes */
	VIF_F_QUOTA_TX = 1u << 4,    /* count service -> out bytes */
};
#define VIF_F_ALL                                                         \
	(VIF_F_ACTIVE | VIF_F_KILLSWITCH | VIF_F_QUOTA_BLOCK |             \
	 VIF_F_QUOTA_RX | VIF_F_QUOTA_TX)

/*
 * One VIF's policy.  Value of vif_policy, an ARRAY of VIF_POLICY_SLOTS
 * indexed by vlan * 2 + slot, where slot is the low bit of vif_index[vlan].
 * Readers copy an entry and re-read vif_index to detect a concurrent flip
 * (see "Atomic policy updates" in README.md).
 */
struct vif_entry {
	__u32 gen;          /* host: generation, equals vif_index >> 1 */
	__u32 flags;        /* host: VIF_F_* */
	__u64 quota_limit;  /* host: bytes per period, 0 = no quota */
	__u16 vlan;         /* host: VLAN id, 1..4094 */
	__u16 next_hop;     /* host: chain next hop's VLAN, 0 = none */
	__u32 svc_ifindex;  /* host: service port (host side netdev) */
	__u32 mark;         /* host: routing mark (fwmark) for host-bound */
	__u32 table;        /* host: routing table id (for readers) */
	__be32 addr;        /* net: the service's address */
	__be32 subnet;      /* net: the VIF's subnet, masked */
	__be32 netmask;     /* net: the subnet's mask */
	__be32 host_addr;   /* net: the appliance's address on the VIF, 0 = none */
	__u8 svc_mac[6];    /* the service end's MAC (chain delivery rewrite) */
	__u8 port_mac[6];   /* the service port's own MAC (host-bound frames) */
	__u32 quota_epoch;  /* host: quota period number, bumped on reset */
};

/*
 * vif_index[vlan] = (generation << 1) | active slot.  A writer fills the
 * inactive slot, then stores a new index with one aligned 32-bit write.
 */
#define VIF_INDEX_SLOT(v) ((v) & 1u)
#define VIF_INDEX_GEN(v) ((v) >> 1)
#define VIF_INDEX_MAKE(gen, slot) (((gen) << 1) | ((slot) & 1u))

/* vif_config[0]: dataplane-wide settings. */
enum vif_cfg_flags {
	VIF_CFG_ALLOW_QINQ = 1u << 0, /* accept an outer S-tag / second tag */
};

struct vif_dp_config {
	__u32 abi_version;   /* host: VIF_ABI_VERSION of the writer */
	__u32 trunk_ifindex; /* host: the 802.1Q trunk, 0 = none */
	__u32 flags;         /* host: VIF_CFG_* */
	__u32 quota_slice;   /* host: bytes a CPU takes per quota grab */
};

/* Default quota slice: worst-case over-admission is ncpu * max frame. */
#define VIF_QUOTA_SLICE_DEFAULT 16384

/*
 * Drop reasons.  Numbers are ABI: append only.  Reasons at or after
 * VIF_DROP_INACTIVE are counted per VIF as well as globally.
 */
enum vif_drop_reason {
	VIF_DROP_MALFORMED = 0,    /* runt or truncated header */
	VIF_DROP_UNTAGGED = 1,     /* trunk frame without 802.1Q tag */
	VIF_DROP_PRIO_TAG = 2,     /* trunk frame with VLAN 0 (priority tag) */
	VIF_DROP_VID_RESERVED = 3, /* trunk frame with VLAN 4095 */
	VIF_DROP_QINQ = 4,         /* S-tag (0x88a8) or a second tag */
	VIF_DROP_UNKNOWN_VLAN = 5, /* no VIF has this VLAN */
	VIF_DROP_UNKNOWN_PORT = 6, /* ingress port is not a service port */
	VIF_DROP_NO_TRUNK = 7,     /* no trunk configured */
	VIF_DROP_INACTIVE = 8,     /* VIF exists but is not active */
	VIF_DROP_QUOTA = 9,        /* quota used up, action block */
	VIF_DROP_SPOOF = 10,       /* source address not the VIF's */
	VIF_DROP_KILLSWITCH = 11,  /* kill switch engaged */
	VIF_DROP_CHAIN_DOWN = 12,  /* chain next hop missing or inactive */
	VIF_DROP_SVC_TAGGED = 13,  /* service sent a tagged frame (hopping) */
	VIF_DROP_PROTO = 14,       /* ethertype a service may not send */
	VIF_DROP_NO_ROOM = 15,     /* could not grow/shrink the frame */
	VIF_DROP_POLICY_BUSY = 16, /* policy kept changing under the reader */
	VIF_DROP__MAX = 17,
};

/* Per VIF, per CPU.  Value of vif_stats (PERCPU_ARRAY, index = VLAN id). */
struct vif_stats {
	__u64 rx_packets; /* host: trunk -> service, delivered */
	__u64 rx_bytes;   /* host: untagged frame bytes */
	__u64 tx_packets; /* host: service -> trunk, chain hop or host */
	__u64 tx_bytes;   /* host: untagged frame bytes */
	__u64 host_packets; /* host: subset of tx passed to the host stack */
	__u64 chain_packets; /* host: subset of tx sent to the chain next hop */
	__u64 drops[VIF_DROP__MAX]; /* host: per reason */
	__u64 pad;
};

/* Whole dataplane, per CPU.  Value of vif_global (PERCPU_ARRAY, 1 entry). */
struct vif_global_stats {
	__u64 trunk_rx_packets; /* host: every frame seen on the trunk */
	__u64 svc_rx_packets;   /* host: every frame seen on service ports */
	__u64 drops[VIF_DROP__MAX]; /* host: per reason, all VIFs and none */
	__u64 pad;
};

/* vif_quota_shr[vlan * 2 + (epoch & 1)]: bytes handed out to CPUs. */
struct vif_quota_shared {
	__u64 granted; /* host: sum of slices granted this epoch */
};

/* vif_quota_pcpu[vlan], per CPU: this CPU's usage and slice. */
struct vif_quota_pcpu {
	__u64 used;       /* host: exact bytes admitted this epoch */
	__s64 slice_left; /* host: bytes left of the granted slices */
	__u32 epoch;      /* host: epoch the two fields above belong to */
	__u32 pad;
};

/* XDP metadata in front of a host-bound frame, read by the tc program. */
#define VIF_META_MAGIC 0x76696631u /* "vif1" */
struct vif_xdp_meta {
	__u32 magic; /* host: VIF_META_MAGIC */
	__u32 mark;  /* host: routing mark for skb->mark */
};

/* Value of vif_ports (ARRAY) and vif_ports_big (HASH), key __u32 ifindex. */
struct vif_port {
	__u16 vlan; /* host: VIF the port belongs to, 0 = none */
	__u16 pad;
};

_Static_assert(sizeof(struct vif_entry) == 64, "vif_entry ABI");
_Static_assert(sizeof(struct vif_dp_config) == 16, "vif_dp_config ABI");
_Static_assert(sizeof(struct vif_stats) == 8 * (7 + VIF_DROP__MAX),
	       "vif_stats ABI");
_Static_assert(sizeof(struct vif_global_stats) == 8 * (3 + VIF_DROP__MAX),
	       "vif_global_stats ABI");
_Static_assert(sizeof(struct vif_quota_shared) == 8, "vif_quota_shared ABI");
_Static_assert(sizeof(struct vif_quota_pcpu) == 24, "vif_quota_pcpu ABI");
_Static_assert(sizeof(struct vif_xdp_meta) == 8, "vif_xdp_meta ABI");
_Static_assert(sizeof(struct vif_port) == 4, "vif_port ABI");
/* The chain rewrite copies both MACs into h_dest/h_source in one go. */
_Static_assert(__builtin_offsetof(struct vif_entry, port_mac) ==
		       __builtin_offsetof(struct vif_entry, svc_mac) + 6,
	       "svc_mac and port_mac adjacent");

#endif /* VIF_INCLUDE_VIF_ABI_H */
