/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * model.h - vifd's data model: what a VIF is to the control plane.  Every
 * control/ module speaks these types; only store.c maps them to SQLite and
 * only dp.h maps them to the dataplane ABI.
 */
#ifndef VIF_CONTROL_MODEL_H
#define VIF_CONTROL_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#define VIFD_NAME_MAX 32   /* service instance name, incl. NUL */
#define VIFD_IFNAME_MAX 16 /* IFNAMSIZ: 15 characters + NUL */
#define VIFD_NETNS_MAX 64
#define VIFD_ERROR_MAX 256

enum vifd_state {
	VIFD_STATE_CREATING = 0,
	VIFD_STATE_ACTIVE = 1,
	VIFD_STATE_REMOVING = 2,
	VIFD_STATE_ERROR = 3,
};

enum vifd_gw_type {
	VIFD_GW_NONE = 0,
	VIFD_GW_SOCKS5 = 1,
};

enum vifd_gw_state {
	VIFD_GW_STOPPED = 0,
	VIFD_GW_STARTING = 1,
	VIFD_GW_RUNNING = 2,
	VIFD_GW_FAILED = 3,
};

enum vifd_ks_mode {
	VIFD_KS_BLOCK = 0,    /* engaged: drop */
	VIFD_KS_FALLBACK = 1, /* engaged: chain to the fallback VIF */
};

enum vifd_quota_period {
	VIFD_QUOTA_DAILY = 0,
	VIFD_QUOTA_WEEKLY = 1,  /* periods start Monday 00:00 local */
	VIFD_QUOTA_MONTHLY = 2, /* periods start on the 1st 00:00 local */
};

enum vifd_quota_action {
	VIFD_QUOTA_BLOCK = 0,
	VIFD_QUOTA_ALERT = 1,
};

enum vifd_quota_dir {
	VIFD_QUOTA_BOTH = 0,
	VIFD_QUOTA_RX = 1, /* trunk -> service */
	VIFD_QUOTA_TX = 2, /* service -> out */
};

enum vifd_addr_scheme {
	VIFD_SCHEME_VLAN24 = 0, /* 10.100.{vlan}.0/24, service .1 */
	VIFD_SCHEME_P2P30 = 1,  /* 172.16.{n}.0/30, router .1, service .2 */
};

struct vifd_gateway {
	enum vifd_gw_type type;
	enum vifd_gw_state state;
	char tun[VIFD_IFNAME_MAX]; /* tun device name */
	__be32 socks_addr;         /* net order */
	__u16 socks_port;          /* host order */
	__u32 fails;               /* consecutive failed probes */
};

struct vifd_quota {
	__u64 limit; /* bytes per period, 0 = none */
	enum vifd_quota_period period;
	enum vifd_quota_action action;
	enum vifd_quota_dir dir;
	__u64 used;          /* persisted usage this period */
	int64_t period_start; /* unix seconds of this period's start */
	__u8 alerted;        /* bitmask: 1 = 80%, 2 = 90%, 4 = 100% */
};

struct vifd_vif {
	__u32 id;                       /* store row id */
	char name[VIFD_NAME_MAX];       /* service instance, unique */
	__u16 vlan;
	enum vifd_state state;
	char error[VIFD_ERROR_MAX];     /* why ERROR, else empty */
	char ifname[VIFD_IFNAME_MAX];   /* host side: the service port */
	char peer_ifname[VIFD_IFNAME_MAX]; /* service side */
	char netns[VIFD_NETNS_MAX];     /* service's netns, "" = none */
	__be32 subnet;                  /* net order, masked */
	__u8 prefix_len;
	__be32 svc_addr;                /* net order */
	__be32 gw_addr;                 /* net order: router/host side */
	__u32 mark;
	__u32 table;
	__u16 next_hop;                 /* chain next hop VLAN, 0 = none */
	enum vifd_ks_mode ks_mode;
	__u16 ks_fallback;              /* VLAN for VIFD_KS_FALLBACK */
	bool ks_engaged;
	struct vifd_gateway gw;
	struct vifd_quota quota;
	int64_t created_at;             /* unix seconds */
};

#endif /* VIF_CONTROL_MODEL_H */
