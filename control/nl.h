/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nl.h - vifd's rtnetlink module: veth pairs, addresses, fwmark rules and
 * per-VIF routing tables, dumps for reconciliation, and link events.  This
 * is the only place in the tree that talks netlink (libmnl stays inside
 * nl.c); callers see plain C types.
 *
 * Contract, for every call below:
 *  - Return 0 (or a count / ifindex where stated) or a negative errno.
 *  - On error, nl_errmsg(nl) holds one human line without a trailing
 *    newline, in the house form "Couldn't <what>: <strerror> (<-errno>)",
 *    followed by "; kernel: <extack text>" when the kernel gave one.
 *  - Mutations are idempotent: asking for what already exists with the same
 *    parameters succeeds, and deleting what is already gone succeeds.
 *    Asking for something that exists with *different* parameters fails
 *    with -EEXIST and says what is in the way.
 *  - Interface names longer than 15 characters fail with -ENAMETOOLONG (and
 *    empty ones with -EINVAL) before anything is sent to the kernel.
 *  - Addresses (__be32) are in network byte order; everything else is host
 *    order.  IPv4 only, which is all vifd needs.
 *  - A handle is not thread-safe; vifd uses it from its single loop.  Calls
 *    block for the kernel's answer (at most NL_TIMEOUT_MS), which rtnetlink
 *    produces synchronously, so in practice they do not wait at all.
 */
#ifndef VIF_CONTROL_NL_H
#define VIF_CONTROL_NL_H

#include <stdbool.h>
#include <linux/types.h>

#define NL_IFNAME_MAX 16   /* IFNAMSIZ: 15 characters + NUL */
#define NL_KIND_MAX 16     /* IFLA_INFO_KIND, e.g. "veth" */
#define NL_ERRMSG_MAX 512
#define NL_TIMEOUT_MS 5000 /* longest wait for one kernel answer */

struct nl;

/* ---- handles ---------------------------------------------------------- */

/* A request socket in the caller's current network namespace. */
int nl_open(struct nl **out);

/*
 * A request socket inside another network namespace, named by a path
 * ("/run/netns/<name>", "/proc/<pid>/ns/net") or by an open netns fd.
 * Netlink sockets stay bound to the namespace they were created in, so the
 * socket is created by a short-lived thread that setns()es first; the
 * caller's own thread never changes namespace, so no failure can leave the
 * daemon stranded in the wrong one.  Needs CAP_SYS_ADMIN.  Every request
 * on the returned handle acts inside that namespace.
 */
int nl_open_netns(struct nl **out, const char *netns_path);
int nl_open_netns_fd(struct nl **out, int netns_fd);

/* NULL-safe. */
void nl_close(struct nl *nl);

/* The message for the last failed call on nl ("" if none); never NULL. */
const char *nl_errmsg(const struct nl *nl);

/* The socket, for epoll (event handles) or diagnostics. */
int nl_fd(const struct nl *nl);

/* ---- links ------------------------------------------------------------ */

struct nl_link {
	int ifindex;
	char name[NL_IFNAME_MAX];
	char kind[NL_KIND_MAX]; /* "" for links without IFLA_INFO_KIND */
	__u32 flags;            /* IFF_* as the kernel reports them */
	__u32 mtu;
	int link;               /* IFLA_LINK: a veth's peer ifindex, else 0 */
	int link_netnsid;       /* peer's netns id seen from here, -1 = same */
	__u8 mac[6];
	bool has_mac;           /* mac is valid (6-byte hardware address) */
};

/* The ifindex (> 0) of name, or -ENODEV. */
int nl_link_index(struct nl *nl, const char *name);

/* Everything nl_link_list() reports, for one link by name; -ENODEV. */
int nl_link_get(struct nl *nl, const char *name, struct nl_link *out);

/* The 6-byte hardware address of ifindex; -ENODEV, -EOPNOTSUPP (no MAC). */
int nl_link_mac(struct nl *nl, int ifindex, __u8 mac[6]);

/*
 * A veth pair name <-> peer_name.  With peer_netns_fd >= 0 the peer end is
 * created directly inside that namespace (VETH_INFO_PEER + IFLA_NET_NS_FD),
 * so it never appears in ours; -1 keeps both ends here.  Both ends start
 * down.  If name already exists as a veth whose peer is peer_name in the
 * requested namespace, this succeeds; any other link called name, or
 * peer_name taken in the target namespace, is -EEXIST.
 */
int nl_veth_create(struct nl *nl, const char *name, const char *peer_name,
		   int peer_netns_fd);

/* Set IFF_UP on ifindex (already up is fine); -ENODEV. */
int nl_link_set_up(struct nl *nl, int ifindex);
/*
 * Make a veth end fit to sit behind XDP: GRO on (a frame XDP redirects
 * into a veth is dropped unless its peer has GRO or an XDP program) and tx
 * checksum offload off (XDP cannot finish a partial checksum, so a frame
 * the service sends with one would leave with a bad L4 sum).  Through
 * SIOCETHTOOL on this handle's socket, i.e. in the handle's netns.
 */
int nl_link_xdp_peer_setup(struct nl *nl, const char *ifname);

/*
 * Delete a link by name (for a veth this removes both ends, wherever the
 * peer is).  A name that does not exist is success.
 */
int nl_link_del(struct nl *nl, const char *name);

/*
 * Delete the links names[0..n) in one kernel batch: each is put into
 * group @group (batched RTM_NEWLINKs), then one RTM_DELLINK by group
 * removes the group (veths: both ends).  Much faster than n
 * nl_link_del() calls with many links: the RCU waits of unregistering
 * are paid once.  @group must be one nothing else in the netns uses:
 * every link in it goes.  errs[i] says why names[i] could not join the
 * group (0 when it did, or did not exist); those links are not deleted.
 * Returns 0 when the group was deleted, else -errno (then some links
 * may sit in the group, and the caller falls back to nl_link_del()).
 */
int nl_links_del_many(struct nl *nl, const char *const *names, size_t n,
		      __u32 group, int *errs);

/*
 * Call cb for every link in the handle's namespace.  cb returns 0 to go on
 * or a negative errno to stop; that value is then returned (the dump is
 * still drained, so the handle stays usable).
 */
typedef int (*nl_link_cb)(const struct nl_link *link, void *ctx);
int nl_link_list(struct nl *nl, nl_link_cb cb, void *ctx);

/* ---- addresses -------------------------------------------------------- */

struct nl_addr {
	int ifindex;
	__be32 addr; /* IFA_LOCAL */
	__u8 prefix_len;
	__u8 scope;
};

/*
 * Add addr/prefix_len to ifindex (present already: success).  Delete it
 * (absent, or the link itself gone: success).
 */
int nl_addr_add(struct nl *nl, int ifindex, __be32 addr, __u8 prefix_len);
int nl_addr_del(struct nl *nl, int ifindex, __be32 addr, __u8 prefix_len);

/*
 * Delete addrs[0..n) (ifindex, addr, prefix_len) in packed batches, many
 * per sendmsg; errs[i] is address i's 0 or -errno (absent, or its link
 * gone: 0).  Returns 0 once every answer is in, or -errno when the
 * exchange itself failed.  Before nl_links_del_many() on links with
 * addresses: a link unregistered with routes makes the kernel walk every
 * FIB table, once per link.
 */
int nl_addrs_del_many(struct nl *nl, const struct nl_addr *addrs, size_t n,
		      int *errs);

/* IPv4 addresses of ifindex, or of every link when ifindex is 0. */
typedef int (*nl_addr_cb)(const struct nl_addr *addr, void *ctx);
int nl_addr_list(struct nl *nl, int ifindex, nl_addr_cb cb, void *ctx);

/* ---- policy rules ----------------------------------------------------- */

struct nl_rule {
	__u32 priority;
	__u32 table;
	__u32 fwmark;
	__u32 fwmask;  /* 0 when the rule has no fwmark */
	__u8 action;   /* FR_ACT_*, 1 = to table */
	__u8 protocol; /* RTPROT_* of whoever added it */
	/*
	 * The rule also selects on something nl_rule_add() never sets (src,
	 * dst, iif/oif, tos, invert, ...): it is not one of vifd's.
	 */
	bool other_selectors;
};

/*
 * "ip rule add fwmark <fwmark> lookup <table> pref <priority>" (IPv4).
 * The kernel happily stores duplicate rules, so this first dumps the rules
 * and succeeds without sending anything when an identical one exists.
 * nl_rule_del removes every copy of it; none left is success.  Table ids
 * above 255 are fine (FRA_TABLE).
 */
int nl_rule_add(struct nl *nl, __u32 fwmark, __u32 table, __u32 priority);
int nl_rule_del(struct nl *nl, __u32 fwmark, __u32 table, __u32 priority);

/*
 * "ip rule add fwmark <fwmark>/<fwmask> blackhole pref <priority>" (IPv4):
 * packets whose mark matches are dropped, whatever the tables hold.  A
 * kill switch's floor, after the fwmark lookup rules: a marked packet
 * whose table has no route falls through to it, never to main.  fwmark
 * must be nonzero and inside fwmask (-EINVAL): anything else would also
 * match unmarked packets.  Same idempotency as nl_rule_add().
 */
int nl_rule_blackhole_add(struct nl *nl, __u32 fwmark, __u32 fwmask,
			  __u32 priority);
int nl_rule_blackhole_del(struct nl *nl, __u32 fwmark, __u32 fwmask,
			  __u32 priority);

/* Every IPv4 rule, in kernel order. */
typedef int (*nl_rule_cb)(const struct nl_rule *rule, void *ctx);
int nl_rule_list(struct nl *nl, nl_rule_cb cb, void *ctx);

/* ---- routes ----------------------------------------------------------- */

/* Route types; the values are the kernel's RTN_*. */
enum nl_route_type {
	NL_ROUTE_UNICAST = 1,     /* RTN_UNICAST */
	NL_ROUTE_BLACKHOLE = 6,   /* RTN_BLACKHOLE: silently dropped */
	NL_ROUTE_UNREACHABLE = 7, /* RTN_UNREACHABLE: ICMP host unreachable */
	NL_ROUTE_PROHIBIT = 8,    /* RTN_PROHIBIT: ICMP admin prohibited */
};

struct nl_route {
	__u32 table;
	__be32 dst;      /* 0 with prefix_len 0 = default */
	__u8 prefix_len;
	__u8 type;       /* RTN_*; enum nl_route_type for vifd's own */
	__u8 protocol;   /* RTPROT_* */
	__u8 scope;
	__be32 gateway;  /* 0 = none */
	int oif;         /* 0 = none */
	__u32 priority;  /* metric */
	__be32 prefsrc;  /* 0 = none */
	bool multipath;  /* has RTA_MULTIPATH; gateway/oif then unset */
};

/*
 * Unicast route dst/prefix_len in table, via gateway (0 = on-link) and/or
 * out of oif (0 = let the kernel resolve it from gateway); at least one of
 * the two.  dst 0/0 is the default route.  Metric 0.
 *
 * add: an identical route present is success; a different route for the
 *      same dst/prefix_len/metric is -EEXIST.
 * del: removes only a unicast route; gateway/oif, when non-zero, must
 *      match too.  Absent is success.
 */
int nl_route_add(struct nl *nl, __u32 table, __be32 dst, __u8 prefix_len,
		 __be32 gateway, int oif);
int nl_route_del(struct nl *nl, __u32 table, __be32 dst, __u8 prefix_len,
		 __be32 gateway, int oif);

/*
 * A route without a next hop: blackhole, unreachable or prohibit, e.g. a
 * kill switch's "blackhole default" in the VIF's table.  priority is the
 * metric; a larger one than the unicast default's (0) leaves the blackhole
 * underneath as a fail-closed fallback for when the unicast one goes.
 * Same idempotency as above; del removes only a route of that type and
 * metric.
 */
int nl_route_add_type(struct nl *nl, __u32 table, __be32 dst,
		      __u8 prefix_len, enum nl_route_type type,
		      __u32 priority);
int nl_route_del_type(struct nl *nl, __u32 table, __be32 dst,
		      __u8 prefix_len, enum nl_route_type type,
		      __u32 priority);

/*
 * IPv4 routes of table, or of every table when table is 0 (the kernel's
 * cache clones are never reported).
 */
typedef int (*nl_route_cb)(const struct nl_route *route, void *ctx);
int nl_route_list(struct nl *nl, __u32 table, nl_route_cb cb, void *ctx);

/* ---- events ----------------------------------------------------------- */

enum nl_event_type {
	NL_EVENT_LINK_NEW = 1, /* RTM_NEWLINK: created or changed */
	NL_EVENT_LINK_DEL = 2, /* RTM_DELLINK: gone */
	/*
	 * The socket overflowed (ENOBUFS) and events were lost: the caller
	 * must resynchronise from dumps (nl_link_list) rather than trust
	 * what it has seen.
	 */
	NL_EVENT_OVERRUN = 3,
	NL_EVENT_OTHER = 4,    /* another group's message; see msg_type */
};

struct nl_event {
	enum nl_event_type type;
	__u16 msg_type;       /* RTM_* of the message, 0 for OVERRUN */
	struct nl_link link;  /* LINK_NEW / LINK_DEL */
};

/*
 * A multicast listener for the RTMGRP_* bits in groups (RTMGRP_LINK is
 * what vifd needs).  Nonblocking, with a large receive buffer; put
 * nl_fd() into epoll (level-triggered) and call nl_events_read() when it
 * is readable.  Use a separate handle from the request one.
 */
int nl_events_open(struct nl **out, __u32 groups);

/*
 * Parse everything pending and call cb once per event; returns how many
 * events were delivered (0 when nothing was pending) or a negative errno.
 * cb returning a negative errno stops delivery; the pending messages are
 * still consumed, and that value is returned.
 */
typedef int (*nl_event_cb)(const struct nl_event *ev, void *ctx);
int nl_events_read(struct nl *nl, nl_event_cb cb, void *ctx);

#endif /* VIF_CONTROL_NL_H */
