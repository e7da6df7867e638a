/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * gateway.h - gateway health probes and the kill switch they drive.
 *
 * One struct gw_mgr per vifd.  Every VIF is added to it (gateway type
 * NONE included: a VIF without a gateway still takes part in chains).
 * SOCKS5 gateways are probed on the caller's event loop; probe results
 * move the gateway state, and the state of every VIF, its chains and its
 * fallback decide what the kill switch of each VIF should be.  gw never
 * touches the dataplane itself: it calls struct gw_ops, and it is the one
 * writer of every kill switch and fallback route (manual holds go through
 * gw_hold_set()), so two writers never undo each other.
 *
 * The probe (SOCKS5 only; all of it non-blocking, on the loop):
 *   1. SIOCGIFFLAGS on the tun device name: missing (ENODEV), or not both
 *      IFF_UP and IFF_RUNNING, is a failure.  One ioctl on a socket the
 *      manager keeps (if_nametoindex() would open a socket per call, and
 *      ENODEV already says "missing").  IFF_RUNNING is what tells a
 *      persistent tun whose tun2socks process died (no reader: NO-CARRIER)
 *      from a live one; the kernel's linkwatch may report that up to 1 s
 *      late, which is no leak: a tun without a reader drops what is routed
 *      into it.  The path that leaks is the tun vanishing (its routes go,
 *      lookups fall through to other tables), and ENODEV is immediate.
 *      The check is by name and flags only, so any netdev can stand in
 *      for a tun (tests use dummy devices or lo).
 *   2. Non-blocking TCP connect to socks_addr:socks_port, send the
 *      no-authentication greeting 05 01 00, expect exactly 05 00.  Any
 *      other reply (05 ff included: the server wants authentication,
 *      which our tun2socks does not do) is a failure, as are a refused or
 *      reset connection, EOF before two bytes, and no answer within
 *      timeout_ms.  The probe socket is closed with an RST (SO_LINGER 0):
 *      4094 VIFs probing at 1 Hz would otherwise keep ~240k TIME_WAIT
 *      sockets around.
 *
 * Gateway states (enum vifd_gw_state), for a SOCKS5 gateway:
 *
 *   STOPPED  -> STARTING   gw_add(), gw_update() of type/tun/address,
 *                          gw_enable(true): first probe at once
 *   STARTING -> RUNNING    a probe succeeds
 *   STARTING -> FAILED     fail_threshold consecutive probes fail
 *   RUNNING  -> FAILED     fail_threshold consecutive probes fail
 *   FAILED   -> RUNNING    a probe succeeds (no rise threshold: the
 *                          first success releases)
 *   any      -> STOPPED    gw_enable(false): probing disabled
 *
 * A gateway of type NONE is always STOPPED and never probed.  A success
 * resets the consecutive-failure count; a failure that does not reach the
 * threshold leaves the state as it was.
 *
 * Probe schedule (start to start; one probe in flight per VIF at most):
 *   RUNNING, no failure since the last success:  every interval_ms
 *   RUNNING after a failure, and STARTING:       every retry_ms
 *   FAILED:                                      every interval_ms
 *   STOPPED:                                     never
 * A probe that ran longer than the gap starts the next one at once.
 *
 * Leak window (gateway death -> kill switch engaged), worst case: the
 * gateway dies just after answering a probe, so the next probe starts
 * interval_ms later; each failure takes up to timeout_ms (a refused
 * connection takes ~0) and the retries follow at max(retry_ms,
 * timeout_ms):
 *
 *   W = interval_ms + timeout_ms + (fail_threshold - 1) * max(retry_ms,
 *       timeout_ms) + the time of the gw_ops calls
 *
 * With the defaults (1000, 3, 200, 200): 1600 ms for a gateway that stops
 * answering, 1400 ms for one that refuses or whose tun is gone.  A
 * refused connection is not an instant FAILED on purpose: the threshold
 * still rides out a server restarting, and the fast retries already keep
 * W under 2 s.
 *
 * The kill switch of a VIF v (what gw makes the dataplane do):
 *
 *   healthy(v)  gateway type NONE, or state RUNNING.  STARTING, FAILED
 *               and STOPPED (probing off) are not healthy: fail closed.
 *   bad(v)      some VIF linked to v through registered chains (chains
 *               sharing a hop are linked, since their paths compose), v
 *               included, is not healthy.
 *   blocked(v)  bad(v), or an operator hold on v.
 *
 *   not blocked                                  -> released
 *   blocked, mode FALLBACK, v in no chain, no hold, fallback f added,
 *     not blocked itself                         -> fallback: traffic of
 *                                                   v re-routed into f
 *   otherwise                                    -> engaged (drop)
 *
 * So a chain engages on every hop when any hop is not healthy and is
 * released only when all are healthy; a fallback whose own gateway is
 * down (or that is held, or unknown) blocks.  Changes are applied in two
 * passes, every engage first, then fallbacks and releases, and per VIF
 * engage-before-release: ks on, fallback off, fallback on, ks off.  A
 * failed gw_ops call leaves that VIF's applied state unknown and is
 * retried every retry_ms until it succeeds (gw_status() shows the error).
 *
 * Fail closed:
 *   - gw_add() of a SOCKS5 gateway engages at once (STARTING is not
 *     healthy; mode FALLBACK re-routes instead, if it can); only the
 *     first successful probe releases.  A restarted vifd therefore
 *     re-engages a running gateway's VIF for one probe (the first probe
 *     starts on the next loop iteration: a local round trip).
 *   - gw_mgr_free() and gw_remove() make no gw_ops call for the VIFs
 *     they drop: an engaged switch stays engaged in the pinned dataplane
 *     when vifd stops or crashes, and nothing is released on shutdown.
 *     (A switch that was released stays released too: a gateway that
 *     dies while vifd is down leaks until vifd is back and probes it.)
 *
 * The ops and the dataplane: call gw_add() after the VIF exists in the
 * dataplane (the initial apply writes its kill switch) and gw_remove()
 * before it is deleted.  ops->fallback(ctx, v, f, true) must make v's
 * traffic go into f's service (dp_chain_set(v, f)); (..., false) must put
 * back v's own next hop (0 or its chain's).  Both ops must be idempotent.
 *
 * Callbacks run from the loop or from inside a gw_* call.  They may call
 * gw_state() and gw_status(); any call that changes the manager returns
 * -EBUSY from inside a callback.  Free the manager before its loop.
 *
 * All functions return 0 or a negative errno unless said otherwise.
 */
#ifndef VIF_CONTROL_GATEWAY_H
#define VIF_CONTROL_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "loop.h"
#include "model.h"

#define GW_INTERVAL_MS_DEFAULT 1000
#define GW_FAIL_THRESHOLD_DEFAULT 3
#define GW_RETRY_MS_DEFAULT 200   /* capped at interval_ms */
#define GW_TIMEOUT_MS_DEFAULT 200 /* capped at interval_ms / 2 */

struct gw_settings {
	__u32 interval_ms;    /* probe period while healthy; 0 = 1000 */
	__u32 fail_threshold; /* consecutive failures -> FAILED; 0 = 3 */
	__u32 retry_ms;       /* probe period while suspect; 0 = default */
	/*
	 * One probe's deadline; 0 = default.  Sized for a SOCKS server on
	 * this host or a neighbour: a remote one needs more, and W grows.
	 */
	__u32 timeout_ms;
};

struct gw_ops {
	/* Required.  Engage (true) or release v's kill switch. */
	int (*killswitch)(void *ctx, __u16 vlan, bool engage);
	/* Required for VIFD_KS_FALLBACK VIFs.  See the header comment. */
	int (*fallback)(void *ctx, __u16 vlan, __u16 fallback_vlan, bool on);
	/* Optional.  Called after the kill switches have been applied. */
	void (*on_state)(void *ctx, __u16 vlan, enum vifd_gw_state old_state,
			 enum vifd_gw_state new_state);
};

/* Why the last probe failed. */
enum gw_probe_result {
	GW_PROBE_OK = 0,
	GW_PROBE_TUN_MISSING = 1, /* no netdev of that name */
	GW_PROBE_TUN_DOWN = 2,    /* not IFF_UP, or no carrier */
	GW_PROBE_CONNECT = 3,     /* refused, unreachable, reset in connect */
	GW_PROBE_TIMEOUT = 4,     /* no full answer within timeout_ms */
	GW_PROBE_CLOSED = 5,      /* EOF or reset before the answer */
	GW_PROBE_PROTO = 6,       /* an answer other than 05 00 */
	GW_PROBE_LOCAL = 7,       /* our side: socket(), fds, memory */
	GW_PROBE__MAX = 8,
};

/* What gw last made the dataplane do for a VIF. */
enum gw_ks {
	GW_KS_UNKNOWN = 0,  /* not applied yet, or an ops call failed */
	GW_KS_RELEASED = 1,
	GW_KS_ENGAGED = 2,
	GW_KS_FALLBACK = 3, /* re-routed into status.fallback */
};

struct gw_status {
	__u16 vlan;
	enum vifd_gw_type type;
	enum vifd_gw_state state;
	enum vifd_ks_mode mode;
	__u16 fallback;           /* mode FALLBACK: the fallback VLAN */
	bool enabled;             /* probing on (gw_enable) */
	bool hold;                /* operator hold (gw_hold_set) */
	enum gw_ks ks;            /* applied */
	int ks_err;               /* last failed ops call, 0 = none */
	__u32 fails;              /* consecutive failed probes */
	enum gw_probe_result last_result;
	int last_err;             /* -errno of the last failure, 0 = none */
	__u64 probes;             /* probes completed */
	__u64 probe_failures;     /* of which failed */
	__u64 state_since_ms;     /* loop_now_ms() of the last state change */
	__u64 last_ok_ms;         /* loop_now_ms() of the last success, 0 */
	char tun[VIFD_IFNAME_MAX];
	__be32 socks_addr;        /* net order */
	__u16 socks_port;         /* host order */
};

struct gw_mgr;

/* The defaults, with retry_ms and timeout_ms derived. */
void gw_settings_default(struct gw_settings *s);
/*
 * Fill 0 fields with their defaults (retry_ms = min(200, interval_ms),
 * timeout_ms = min(200, interval_ms / 2)) and check: interval_ms
 * 10..3600000, fail_threshold 1..1000, retry_ms 1..interval_ms,
 * timeout_ms 1..interval_ms.  -EINVAL otherwise.
 */
int gw_settings_resolve(const struct gw_settings *in, struct gw_settings *out);
/* W above, in ms, without the ops time. */
__u64 gw_leak_window_ms(const struct gw_settings *s);

/* settings NULL = defaults.  ops->killswitch is required. */
int gw_mgr_new(struct loop *loop, const struct gw_settings *settings,
	       const struct gw_ops *ops, void *ctx, struct gw_mgr **out);
/*
 * Stop probing and free everything; no gw_ops call (fail closed: see
 * the header comment).  Not from inside a callback.  NULL is fine.
 */
void gw_mgr_free(struct gw_mgr *mgr);

/*
 * SIGHUP: new settings for every VIF from its next probe on; probes
 * waiting for their slot are rescheduled at the new period.  The
 * threshold applies at the next failure.  -EINVAL keeps the old ones.
 */
int gw_settings_update(struct gw_mgr *mgr, const struct gw_settings *s);
void gw_settings_get(const struct gw_mgr *mgr, struct gw_settings *out);

/*
 * Track vlan.  gw->state and gw->fails are ignored (gw owns them).
 * SOCKS5: tun 1..15 bytes, socks_addr not 0.0.0.0, socks_port not 0.
 * mode FALLBACK: fallback a valid VLAN other than vlan (it may be added
 * later: until then it counts as down) and ops->fallback set
 * (-EOPNOTSUPP).  Applies the kill switch before returning (a SOCKS5
 * gateway: engaged).  -EEXIST if vlan is known.
 */
int gw_add(struct gw_mgr *mgr, __u16 vlan, const struct vifd_gateway *gw,
	   enum vifd_ks_mode mode, __u16 fallback);
/*
 * Forget vlan without touching its kill switch.  -EBUSY while vlan is a
 * hop of a registered chain, -ENOENT if unknown.  VIFs that fall back to
 * vlan are re-evaluated (they block).
 */
int gw_remove(struct gw_mgr *mgr, __u16 vlan);
/*
 * New gateway and/or mode.  A change of type, tun, address or port
 * restarts the gateway (STARTING, engaged, probed at once); a change of
 * mode or fallback alone keeps its state.
 */
int gw_update(struct gw_mgr *mgr, __u16 vlan, const struct vifd_gateway *gw,
	      enum vifd_ks_mode mode, __u16 fallback);
/* Probing on (STARTING, probed at once) or off (STOPPED). Idempotent. */
int gw_enable(struct gw_mgr *mgr, __u16 vlan, bool enable);
/* Operator hold: engaged whatever the health.  Idempotent. */
int gw_hold_set(struct gw_mgr *mgr, __u16 vlan, bool hold);

/* State of vlan; VIFD_GW_STOPPED for an unknown vlan. */
enum vifd_gw_state gw_state(const struct gw_mgr *mgr, __u16 vlan);

/*
 * Register the chain hops[0] -> ... -> hops[n-1] (2..VIFD_CHAIN_MAX hops,
 * no repeats, every hop added: -EINVAL / -ENOENT) under its first hop,
 * replacing a chain with the same first hop.  Cycles and composition
 * limits are chain_validate()'s (alloc.h) to reject beforehand.  Applies
 * at once: engaged everywhere if a hop is not healthy.
 */
int gw_chain_set(struct gw_mgr *mgr, const __u16 *hops, int n);
/* Drop the chain starting at first_hop (-ENOENT if none) and re-apply. */
int gw_chain_clear(struct gw_mgr *mgr, __u16 first_hop);

/* One VIF (-ENOENT if unknown). */
int gw_status(const struct gw_mgr *mgr, __u16 vlan, struct gw_status *out);
/* Every VIF by ascending VLAN, up to max; returns the count. */
int gw_status_dump(const struct gw_mgr *mgr, struct gw_status *out, int max);

/* Stable names for logs and the control socket ("running", "timeout"). */
const char *gw_state_name(enum vifd_gw_state state);
const char *gw_probe_result_name(enum gw_probe_result r);
const char *gw_ks_name(enum gw_ks ks);

#endif /* VIF_CONTROL_GATEWAY_H */
