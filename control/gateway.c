// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * gateway.c - gateway probes, gateway states and the kill switches they
 * drive.  See gateway.h for the contract, the state machine and the leak
 * window.
 *
 * Every VIF lives in mgr->vifs[vlan].  A probe is a small state machine
 * on the loop: a one-shot timer starts it, its socket's readiness moves
 * it on (connect done -> greeting sent -> two bytes read), a one-shot
 * timeout timer ends it.  Whatever ends a probe goes through
 * probe_finish(), which moves the gateway state and schedules the next.
 *
 * Kill switches are derived, not toggled: a change of health, hold, mode
 * or existence of one VIF re-derives what the VIFs it can affect should
 * be (its chain component and the VIFs falling back into it: reconcile())
 * and applies only the differences; a change of chains re-derives all.
 * Deriving keeps chains and fallbacks right whichever VIF changed, and
 * bounding it to the affected ones keeps 4094 gw_add() calls linear.
 */
#include <errno.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "gateway.h"
#include "vif_abi.h"

#define GW_INTERVAL_MIN 10
#define GW_INTERVAL_MAX 3600000
#define GW_THRESHOLD_MAX 1000

/* What the kill switch of a VIF should be, or was last made. */
#define KS_UNKNOWN (-1)
#define KS_OFF 0
#define KS_ON 1

struct gw_vif {
	struct gw_mgr *mgr;
	__u16 vlan;
	struct vifd_gateway gw; /* .state and .fails are live here */
	enum vifd_ks_mode mode;
	__u16 fallback;
	bool enabled;
	bool hold;

	/* The probe in flight, if any: fd >= 0 from connect to finish. */
	int fd;
	bool sent;              /* greeting sent, reading the answer */
	__u8 rx[2];
	int rx_len;
	uint64_t probe_timer;   /* next probe start, 0 = none */
	uint64_t timeout_timer; /* deadline of the one in flight, 0 = none */
	uint64_t probe_start_ms;

	/* Desired (vif_want) and applied dataplane state. */
	int want_ks;
	__u16 want_fb;
	int ks_applied;         /* KS_UNKNOWN until an ops call says */
	__u16 fb_applied;       /* fallback route (maybe) installed, 0 none */
	int ks_err;

	enum gw_probe_result last_result;
	int last_err;
	__u64 probes;
	__u64 probe_failures;
	__u64 state_since_ms;
	__u64 last_ok_ms;
};

struct gw_chain {
	__u16 hops[VIFD_CHAIN_MAX];
	int n;
};

struct gw_mgr {
	struct loop *loop;
	struct gw_settings set;
	struct gw_ops ops;
	void *ctx;
	int ctl_fd;           /* AF_INET datagram socket for SIOCGIFFLAGS */
	int in_cb;            /* > 0 while a gw_ops callback runs */
	uint64_t retry_timer; /* re-apply after a failed ops call */

	struct gw_vif *vifs[VIF_VLAN_SLOTS];
	struct gw_chain *chains;
	int nchains;
	int capchains;

	__u16 comp[VIF_VLAN_SLOTS];      /* chain component: its root */
	__u16 comp_next[VIF_VLAN_SLOTS]; /* ring of the members */
	bool chained[VIF_VLAN_SLOTS];    /* a hop of some chain */
	/* Who falls back to f: fb_head[f], then fb_next[] (0 ends). */
	__u16 fb_head[VIF_VLAN_SLOTS];
	__u16 fb_next[VIF_VLAN_SLOTS];

	/* reconcile() scratch: the VIFs to re-derive, deduplicated. */
	__u16 todo[VIF_VLAN_SLOTS];
	int ntodo;
	__u32 seen[VIF_VLAN_SLOTS];
	__u32 seen_gen;
};

static const __u8 socks5_greeting[3] = { 0x05, 0x01, 0x00 };

static void probe_finish(struct gw_vif *v, enum gw_probe_result res,
			 int err);

/* ---- settings ---------------------------------------------------------- */

static __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

void gw_settings_default(struct gw_settings *s)
{
	struct gw_settings zero = { 0 };

	gw_settings_resolve(&zero, s);
}

int gw_settings_resolve(const struct gw_settings *in, struct gw_settings *out)
{
	struct gw_settings s = *in;

	if (!s.interval_ms)
		s.interval_ms = GW_INTERVAL_MS_DEFAULT;
	if (!s.fail_threshold)
		s.fail_threshold = GW_FAIL_THRESHOLD_DEFAULT;
	if (!s.retry_ms)
		s.retry_ms = min_u32(GW_RETRY_MS_DEFAULT, s.interval_ms);
	if (!s.timeout_ms)
		s.timeout_ms = min_u32(GW_TIMEOUT_MS_DEFAULT,
				       s.interval_ms / 2);
	if (s.interval_ms < GW_INTERVAL_MIN || s.interval_ms > GW_INTERVAL_MAX)
		return -EINVAL;
	if (s.fail_threshold > GW_THRESHOLD_MAX)
		return -EINVAL;
	if (s.retry_ms > s.interval_ms || s.timeout_ms > s.interval_ms)
		return -EINVAL;
	*out = s;
	return 0;
}

__u64 gw_leak_window_ms(const struct gw_settings *s)
{
	__u64 step = s->retry_ms > s->timeout_ms ? s->retry_ms : s->timeout_ms;

	return (__u64)s->interval_ms + s->timeout_ms +
	       (__u64)(s->fail_threshold - 1) * step;
}

/* ---- names ------------------------------------------------------------- */

const char *gw_state_name(enum vifd_gw_state state)
{
	switch (state) {
	case VIFD_GW_STOPPED:
		return "stopped";
	case VIFD_GW_STARTING:
		return "starting";
	case VIFD_GW_RUNNING:
		return "running";
	case VIFD_GW_FAILED:
		return "failed";
	}
	return "unknown";
}

const char *gw_probe_result_name(enum gw_probe_result r)
{
	static const char *const names[GW_PROBE__MAX] = {
		[GW_PROBE_OK] = "ok",
		[GW_PROBE_TUN_MISSING] = "tun_missing",
		[GW_PROBE_TUN_DOWN] = "tun_down",
		[GW_PROBE_CONNECT] = "connect",
		[GW_PROBE_TIMEOUT] = "timeout",
		[GW_PROBE_CLOSED] = "closed",
		[GW_PROBE_PROTO] = "proto",
		[GW_PROBE_LOCAL] = "local",
	};

	if ((unsigned int)r >= GW_PROBE__MAX)
		return "unknown";
	return names[r];
}

const char *gw_ks_name(enum gw_ks ks)
{
	switch (ks) {
	case GW_KS_UNKNOWN:
		return "unknown";
	case GW_KS_RELEASED:
		return "released";
	case GW_KS_ENGAGED:
		return "engaged";
	case GW_KS_FALLBACK:
		return "fallback";
	}
	return "unknown";
}

/* ---- kill switches ----------------------------------------------------- */

static bool vif_healthy(const struct gw_vif *v)
{
	return v->gw.type == VIFD_GW_NONE || v->gw.state == VIFD_GW_RUNNING;
}

static __u16 uf_find(__u16 *parent, __u16 x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

/*
 * Chain components: VIFs linked through registered chains (chains that
 * share a hop are one component, as their paths compose).  comp[] holds
 * each VLAN's root, comp_next[] a ring of its members; an unchained VLAN
 * is a component of its own.  Rebuilt when chains change, which is rare.
 */
static void comp_rebuild(struct gw_mgr *mgr)
{
	int i, j;

	for (i = 0; i < VIF_VLAN_SLOTS; i++) {
		mgr->comp[i] = i;
		mgr->comp_next[i] = i;
		mgr->chained[i] = false;
	}
	for (i = 0; i < mgr->nchains; i++) {
		const struct gw_chain *c = &mgr->chains[i];

		for (j = 0; j < c->n; j++) {
			__u16 a = uf_find(mgr->comp, c->hops[0]);
			__u16 b = uf_find(mgr->comp, c->hops[j]);

			mgr->chained[c->hops[j]] = true;
			if (a != b)
				mgr->comp[b] = a;
		}
	}
	for (i = 0; i < VIF_VLAN_SLOTS; i++) {
		__u16 r = uf_find(mgr->comp, i);

		mgr->comp[i] = r;
		if (r != i) {
			mgr->comp_next[i] = mgr->comp_next[r];
			mgr->comp_next[r] = i;
		}
	}
}

/* Is some VIF in vlan's component not healthy? */
static bool comp_bad(const struct gw_mgr *mgr, __u16 vlan)
{
	__u16 m = vlan;

	do {
		const struct gw_vif *v = mgr->vifs[m];

		if (v && !vif_healthy(v))
			return true;
		m = mgr->comp_next[m];
	} while (m != vlan);
	return false;
}

/* What v's dataplane state should be: the rules in gateway.h. */
static void vif_want(struct gw_mgr *mgr, struct gw_vif *v)
{
	const struct gw_vif *f;

	v->want_fb = 0;
	v->want_ks = KS_OFF;
	if (!v->hold && !comp_bad(mgr, v->vlan))
		return;
	v->want_ks = KS_ON;
	if (v->mode != VIFD_KS_FALLBACK || v->hold || mgr->chained[v->vlan])
		return;
	/*
	 * The fallback's own standing, not its own fallback: a VIF that
	 * falls back is not healthy itself, so fallbacks never cascade.
	 */
	f = mgr->vifs[v->fallback];
	if (f && !f->hold && !comp_bad(mgr, f->vlan)) {
		v->want_ks = KS_OFF;
		v->want_fb = f->vlan;
	}
}

static int ops_killswitch(struct gw_vif *v, bool engage)
{
	struct gw_mgr *mgr = v->mgr;
	int err;

	mgr->in_cb++;
	err = mgr->ops.killswitch(mgr->ctx, v->vlan, engage);
	mgr->in_cb--;
	v->ks_applied = err ? KS_UNKNOWN : engage;
	return err;
}

static int ops_fallback(struct gw_vif *v, __u16 fb, bool on)
{
	struct gw_mgr *mgr = v->mgr;
	int err;

	mgr->in_cb++;
	err = mgr->ops.fallback(mgr->ctx, v->vlan, fb, on);
	mgr->in_cb--;
	/*
	 * A failed "on" may have half-happened: remember the route as
	 * installed so that leaving fallback always tries to remove it.
	 */
	if (on || !err)
		v->fb_applied = on ? fb : 0;
	return err;
}

/*
 * Bring v's dataplane state to (want_ks, want_fb), engaging before
 * anything is released: ks on, old fallback off, new fallback on, ks off.
 * Switching from one fallback to another goes through engaged.
 */
static int vif_apply(struct gw_vif *v)
{
	bool switching = v->fb_applied && v->want_fb &&
			 v->fb_applied != v->want_fb;
	int err = 0;

	if ((v->want_ks == KS_ON || switching) && v->ks_applied != KS_ON) {
		err = ops_killswitch(v, true);
		if (err)
			goto out;
	}
	if (v->fb_applied && v->fb_applied != v->want_fb) {
		err = ops_fallback(v, v->fb_applied, false);
		if (err)
			goto out;
	}
	if (v->want_fb && v->fb_applied != v->want_fb) {
		err = ops_fallback(v, v->want_fb, true);
		if (err)
			goto out;
	}
	if (v->want_ks == KS_OFF && v->ks_applied != KS_OFF)
		err = ops_killswitch(v, false);
out:
	v->ks_err = err;
	return err;
}

static bool vif_applied(const struct gw_vif *v)
{
	return v->ks_applied == v->want_ks && v->fb_applied == v->want_fb;
}

static void on_retry_timer(struct loop *l, uint64_t id, void *ctx);

static void todo_add(struct gw_mgr *mgr, __u16 vlan)
{
	if (!mgr->vifs[vlan] || mgr->seen[vlan] == mgr->seen_gen)
		return;
	mgr->seen[vlan] = mgr->seen_gen;
	mgr->todo[mgr->ntodo++] = vlan;
}

/*
 * Re-derive and apply what changed with seed (a VLAN whose health, hold,
 * mode or existence changed): its component, and the VIFs that fall back
 * into that component.  seed < 0: every VIF.
 */
static void reconcile(struct gw_mgr *mgr, int seed)
{
	bool pending = false;
	int i, pass;

	if (++mgr->seen_gen == 0) {
		memset(mgr->seen, 0, sizeof(mgr->seen));
		mgr->seen_gen = 1;
	}
	mgr->ntodo = 0;
	if (seed < 0) {
		for (i = 0; i < VIF_VLAN_SLOTS; i++)
			todo_add(mgr, i);
	} else {
		__u16 m = seed, w;

		do {
			todo_add(mgr, m);
			for (w = mgr->fb_head[m]; w; w = mgr->fb_next[w])
				todo_add(mgr, w);
			m = mgr->comp_next[m];
		} while (m != seed);
	}
	for (i = 0; i < mgr->ntodo; i++)
		vif_want(mgr, mgr->vifs[mgr->todo[i]]);

	/* Every engage before any release, across VIFs too. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < mgr->ntodo; i++) {
			struct gw_vif *v = mgr->vifs[mgr->todo[i]];

			if (vif_applied(v) || (v->want_ks == KS_ON) != !pass)
				continue;
			if (vif_apply(v))
				pending = true;
		}
	}

	/* Failed calls: retried for everyone, whatever changes next. */
	if (pending && !mgr->retry_timer &&
	    loop_timer_add(mgr->loop, mgr->set.retry_ms, 0, on_retry_timer,
			   mgr, &mgr->retry_timer))
		mgr->retry_timer = 0;
}

static void on_retry_timer(struct loop *l, uint64_t id, void *ctx)
{
	struct gw_mgr *mgr = ctx;

	mgr->retry_timer = 0;
	reconcile(mgr, -1);
}

/* Change v's state; apply kill switches, then tell the owner. */
static void vif_set_state(struct gw_vif *v, enum vifd_gw_state state)
{
	enum vifd_gw_state old = v->gw.state;
	struct gw_mgr *mgr = v->mgr;

	if (old == state)
		return;
	v->gw.state = state;
	v->state_since_ms = loop_now_ms();
	reconcile(mgr, v->vlan);
	if (mgr->ops.on_state) {
		mgr->in_cb++;
		mgr->ops.on_state(mgr->ctx, v->vlan, old, state);
		mgr->in_cb--;
	}
}

/* ---- probes ------------------------------------------------------------ */

static void on_probe_timer(struct loop *l, uint64_t id, void *ctx);

static int probe_schedule(struct gw_vif *v, uint64_t delay_ms)
{
	struct gw_mgr *mgr = v->mgr;
	int err;

	if (v->probe_timer)
		loop_timer_del(mgr->loop, v->probe_timer);
	v->probe_timer = 0;
	err = loop_timer_add(mgr->loop, delay_ms, 0, on_probe_timer, v,
			     &v->probe_timer);
	if (err)
		v->probe_timer = 0;
	return err;
}

/*
 * No timer, no more probes: call the gateway FAILED so that its switch
 * fails closed instead of freezing in its last state.  A later gw_enable()
 * or gw_update() starts it again.
 */
static void vif_unprobed(struct gw_vif *v, int err)
{
	v->gw.fails = v->mgr->set.fail_threshold;
	v->last_result = GW_PROBE_LOCAL;
	v->last_err = err;
	vif_set_state(v, VIFD_GW_FAILED);
}

/* Close the probe in flight, if any; no state change. */
static void probe_abort(struct gw_vif *v)
{
	struct gw_mgr *mgr = v->mgr;
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };

	if (v->timeout_timer)
		loop_timer_del(mgr->loop, v->timeout_timer);
	v->timeout_timer = 0;
	if (v->fd >= 0) {
		loop_fd_del(mgr->loop, v->fd);
		/* RST, no TIME_WAIT: see the header. */
		setsockopt(v->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		close(v->fd);
	}
	v->fd = -1;
}

static void probe_stop(struct gw_vif *v)
{
	probe_abort(v);
	if (v->probe_timer)
		loop_timer_del(v->mgr->loop, v->probe_timer);
	v->probe_timer = 0;
}

static bool vif_probing(const struct gw_vif *v)
{
	return v->gw.type == VIFD_GW_SOCKS5 && v->enabled;
}

static void probe_finish(struct gw_vif *v, enum gw_probe_result res, int err)
{
	struct gw_mgr *mgr = v->mgr;
	const struct gw_settings *s = &mgr->set;
	enum vifd_gw_state state = v->gw.state;
	uint64_t now, next, period;
	int serr;

	probe_abort(v);
	v->probes++;
	v->last_result = res;
	if (res == GW_PROBE_OK) {
		v->gw.fails = 0;
		v->last_ok_ms = loop_now_ms();
		state = VIFD_GW_RUNNING;
	} else {
		v->probe_failures++;
		v->last_err = err;
		if (v->gw.fails < UINT32_MAX)
			v->gw.fails++;
		if (v->gw.fails >= s->fail_threshold)
			state = VIFD_GW_FAILED;
	}

	/*
	 * Schedule before the state change: callbacks may not touch the
	 * manager, and the schedule must not depend on them either.
	 */
	if (state == VIFD_GW_FAILED ||
	    (state == VIFD_GW_RUNNING && !v->gw.fails))
		period = s->interval_ms;
	else
		period = s->retry_ms;
	now = loop_now_ms();
	next = v->probe_start_ms + period;
	serr = probe_schedule(v, next > now ? next - now : 0);
	if (serr) {
		vif_unprobed(v, serr);
		return;
	}
	vif_set_state(v, state);
}

static void on_probe_timeout(struct loop *l, uint64_t id, void *ctx)
{
	struct gw_vif *v = ctx;

	v->timeout_timer = 0;
	probe_finish(v, GW_PROBE_TIMEOUT, -ETIMEDOUT);
}

static void probe_read(struct gw_vif *v)
{
	ssize_t n;

	n = recv(v->fd, v->rx + v->rx_len, sizeof(v->rx) - v->rx_len,
		 MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		probe_finish(v, GW_PROBE_CLOSED, -errno);
		return;
	}
	if (n == 0) {
		probe_finish(v, GW_PROBE_CLOSED, -ECONNRESET);
		return;
	}
	v->rx_len += n;
	/* A wrong first byte needs no second one. */
	if (v->rx[0] != 0x05) {
		probe_finish(v, GW_PROBE_PROTO, -EPROTO);
		return;
	}
	if (v->rx_len < (int)sizeof(v->rx))
		return;
	if (v->rx[1] != 0x00) {
		probe_finish(v, GW_PROBE_PROTO, -EPROTO);
		return;
	}
	probe_finish(v, GW_PROBE_OK, 0);
}

static void on_probe_fd(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct gw_vif *v = ctx;
	socklen_t len = sizeof(int);
	int soerr = 0, err;
	ssize_t n;

	if (v->sent) {
		probe_read(v);
		return;
	}

	/* The connect finished, one way or the other. */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		probe_finish(v, GW_PROBE_CONNECT, -soerr);
		return;
	}
	if (!(events & EPOLLOUT)) {
		if (events & (EPOLLERR | EPOLLHUP))
			probe_finish(v, GW_PROBE_CLOSED, -ECONNRESET);
		return;
	}
	n = send(fd, socks5_greeting, sizeof(socks5_greeting),
		 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(socks5_greeting)) {
		/* Three bytes into an empty send buffer: short means dead. */
		probe_finish(v, GW_PROBE_CLOSED, n < 0 ? -errno : -EPIPE);
		return;
	}
	v->sent = true;
	err = loop_fd_mod(l, fd, EPOLLIN | EPOLLRDHUP);
	if (err)
		probe_finish(v, GW_PROBE_LOCAL, err);
}

/* 0 when the tun is there, up and has a reader (carrier). */
static int tun_check(struct gw_vif *v, enum gw_probe_result *res)
{
	struct ifreq ifr = { 0 };

	memcpy(ifr.ifr_name, v->gw.tun, sizeof(v->gw.tun));
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	if (ioctl(v->mgr->ctl_fd, SIOCGIFFLAGS, &ifr) < 0) {
		int err = -errno;

		*res = err == -ENODEV ? GW_PROBE_TUN_MISSING : GW_PROBE_LOCAL;
		return err;
	}
	if ((ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) !=
	    (IFF_UP | IFF_RUNNING)) {
		*res = GW_PROBE_TUN_DOWN;
		return -ENETDOWN;
	}
	return 0;
}

static void probe_start(struct gw_vif *v)
{
	struct gw_mgr *mgr = v->mgr;
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = v->gw.socks_addr,
		.sin_port = htons(v->gw.socks_port),
	};
	enum gw_probe_result res;
	int fd, err;

	v->probe_start_ms = loop_now_ms();
	v->sent = false;
	v->rx_len = 0;
	memset(v->rx, 0, sizeof(v->rx));

	err = tun_check(v, &res);
	if (err)
		goto fail;

	res = GW_PROBE_LOCAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	v->fd = fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		err = -errno;
		res = GW_PROBE_CONNECT;
		goto fail;
	}
	/* Connected or not yet: EPOLLOUT says when, SO_ERROR says how. */
	err = loop_fd_add(mgr->loop, fd, EPOLLOUT, on_probe_fd, v);
	if (err) {
		/* Not watched: keep probe_abort() off loop_fd_del(). */
		close(fd);
		v->fd = -1;
		goto fail;
	}
	err = loop_timer_add(mgr->loop, mgr->set.timeout_ms, 0,
			     on_probe_timeout, v, &v->timeout_timer);
	if (err) {
		v->timeout_timer = 0;
		goto fail;
	}
	return;
fail:
	probe_finish(v, res, err);
}

static void on_probe_timer(struct loop *l, uint64_t id, void *ctx)
{
	struct gw_vif *v = ctx;

	v->probe_timer = 0;
	probe_start(v);
}

/* (Re)start probing v from STARTING, at once. */
static void vif_start(struct gw_vif *v)
{
	int err;

	probe_stop(v);
	v->gw.fails = 0;
	v->probe_start_ms = 0;
	vif_set_state(v, VIFD_GW_STARTING);
	err = probe_schedule(v, 0);
	if (err)
		vif_unprobed(v, err);
}

/* ---- the manager ------------------------------------------------------- */

int gw_mgr_new(struct loop *loop, const struct gw_settings *settings,
	       const struct gw_ops *ops, void *ctx, struct gw_mgr **out)
{
	struct gw_settings zero = { 0 };
	struct gw_mgr *mgr;
	int err;

	if (!loop || !ops || !ops->killswitch || !out)
		return -EINVAL;
	mgr = calloc(1, sizeof(*mgr));
	if (!mgr)
		return -ENOMEM;
	err = gw_settings_resolve(settings ? settings : &zero, &mgr->set);
	if (err)
		goto err_free;
	mgr->ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (mgr->ctl_fd < 0) {
		err = -errno;
		goto err_free;
	}
	mgr->loop = loop;
	mgr->ops = *ops;
	mgr->ctx = ctx;
	comp_rebuild(mgr);
	*out = mgr;
	return 0;

err_free:
	free(mgr);
	return err;
}

void gw_mgr_free(struct gw_mgr *mgr)
{
	int i;

	if (!mgr)
		return;
	/* No gw_ops call here: engaged switches stay engaged. */
	for (i = 0; i < VIF_VLAN_SLOTS; i++) {
		if (!mgr->vifs[i])
			continue;
		probe_stop(mgr->vifs[i]);
		free(mgr->vifs[i]);
	}
	if (mgr->retry_timer)
		loop_timer_del(mgr->loop, mgr->retry_timer);
	close(mgr->ctl_fd);
	free(mgr->chains);
	free(mgr);
}

int gw_settings_update(struct gw_mgr *mgr, const struct gw_settings *s)
{
	struct gw_settings next;
	uint64_t now = loop_now_ms();
	int err, i;

	if (mgr->in_cb)
		return -EBUSY;
	err = gw_settings_resolve(s, &next);
	if (err)
		return err;
	mgr->set = next;
	for (i = 0; i < VIF_VLAN_SLOTS; i++) {
		struct gw_vif *v = mgr->vifs[i];
		uint64_t period, at;

		/* Only those waiting for their slot; in flight finish. */
		if (!v || !v->probe_timer)
			continue;
		period = (v->gw.state == VIFD_GW_FAILED ||
			  (v->gw.state == VIFD_GW_RUNNING && !v->gw.fails)) ?
				 next.interval_ms : next.retry_ms;
		at = v->probe_start_ms + period;
		err = probe_schedule(v, at > now ? at - now : 0);
		if (err)
			vif_unprobed(v, err);
	}
	return 0;
}

void gw_settings_get(const struct gw_mgr *mgr, struct gw_settings *out)
{
	*out = mgr->set;
}

static bool vlan_ok(unsigned int vlan)
{
	return vlan >= VIF_VLAN_MIN && vlan <= VIF_VLAN_MAX;
}

static int gw_check(const struct gw_mgr *mgr, __u16 vlan,
		    const struct vifd_gateway *gw, enum vifd_ks_mode mode,
		    __u16 fallback)
{
	size_t len;

	if (!vlan_ok(vlan) || !gw)
		return -EINVAL;
	switch (gw->type) {
	case VIFD_GW_NONE:
		break;
	case VIFD_GW_SOCKS5:
		len = strnlen(gw->tun, sizeof(gw->tun));
		if (!len || len >= sizeof(gw->tun))
			return -EINVAL;
		if (!gw->socks_addr || !gw->socks_port)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	switch (mode) {
	case VIFD_KS_BLOCK:
		break;
	case VIFD_KS_FALLBACK:
		if (!vlan_ok(fallback) || fallback == vlan)
			return -EINVAL;
		if (!mgr->ops.fallback)
			return -EOPNOTSUPP;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* Mode and fallback, with the reverse index reconcile() follows. */
static void vif_set_mode(struct gw_vif *v, enum vifd_ks_mode mode,
			 __u16 fallback)
{
	struct gw_mgr *mgr = v->mgr;
	__u16 *pp;

	if (v->fallback) {
		for (pp = &mgr->fb_head[v->fallback]; *pp != v->vlan;
		     pp = &mgr->fb_next[*pp])
			;
		*pp = mgr->fb_next[v->vlan];
		mgr->fb_next[v->vlan] = 0;
	}
	v->mode = mode;
	v->fallback = mode == VIFD_KS_FALLBACK ? fallback : 0;
	if (v->fallback) {
		mgr->fb_next[v->vlan] = mgr->fb_head[v->fallback];
		mgr->fb_head[v->fallback] = v->vlan;
	}
}

/* Copy what the caller owns in a gateway; state and fails are ours. */
static void gw_copy(struct vifd_gateway *dst, const struct vifd_gateway *src)
{
	dst->type = src->type;
	memcpy(dst->tun, src->tun, sizeof(dst->tun));
	dst->tun[sizeof(dst->tun) - 1] = '\0';
	dst->socks_addr = src->socks_addr;
	dst->socks_port = src->socks_port;
}

int gw_add(struct gw_mgr *mgr, __u16 vlan, const struct vifd_gateway *gw,
	   enum vifd_ks_mode mode, __u16 fallback)
{
	struct gw_vif *v;
	int err;

	if (mgr->in_cb)
		return -EBUSY;
	err = gw_check(mgr, vlan, gw, mode, fallback);
	if (err)
		return err;
	if (mgr->vifs[vlan])
		return -EEXIST;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->mgr = mgr;
	v->vlan = vlan;
	gw_copy(&v->gw, gw);
	v->gw.state = VIFD_GW_STOPPED;
	v->enabled = true;
	v->fd = -1;
	v->ks_applied = KS_UNKNOWN;
	v->state_since_ms = loop_now_ms();
	mgr->vifs[vlan] = v;
	vif_set_mode(v, mode, fallback);

	if (vif_probing(v))
		vif_start(v); /* STARTING: reconciles, engaged */
	else
		reconcile(mgr, vlan);
	return 0;
}

int gw_remove(struct gw_mgr *mgr, __u16 vlan)
{
	struct gw_vif *v;

	if (mgr->in_cb)
		return -EBUSY;
	if (!vlan_ok(vlan) || !(v = mgr->vifs[vlan]))
		return -ENOENT;
	if (mgr->chained[vlan])
		return -EBUSY;
	probe_stop(v);
	vif_set_mode(v, VIFD_KS_BLOCK, 0);
	mgr->vifs[vlan] = NULL;
	free(v);
	/* Whoever fell back to vlan now blocks. */
	reconcile(mgr, vlan);
	return 0;
}

int gw_update(struct gw_mgr *mgr, __u16 vlan, const struct vifd_gateway *gw,
	      enum vifd_ks_mode mode, __u16 fallback)
{
	struct gw_vif *v;
	bool restart;
	int err;

	if (mgr->in_cb)
		return -EBUSY;
	err = gw_check(mgr, vlan, gw, mode, fallback);
	if (err)
		return err;
	if (!(v = mgr->vifs[vlan]))
		return -ENOENT;
	restart = v->gw.type != gw->type ||
		  strncmp(v->gw.tun, gw->tun, sizeof(v->gw.tun)) ||
		  v->gw.socks_addr != gw->socks_addr ||
		  v->gw.socks_port != gw->socks_port;
	gw_copy(&v->gw, gw);
	vif_set_mode(v, mode, fallback);
	if (restart) {
		probe_stop(v);
		if (vif_probing(v)) {
			vif_start(v);
		} else {
			v->gw.fails = 0;
			vif_set_state(v, VIFD_GW_STOPPED);
		}
	}
	/* A new mode or fallback with no state change needs it too. */
	reconcile(mgr, vlan);
	return 0;
}

int gw_enable(struct gw_mgr *mgr, __u16 vlan, bool enable)
{
	struct gw_vif *v;

	if (mgr->in_cb)
		return -EBUSY;
	if (!vlan_ok(vlan) || !(v = mgr->vifs[vlan]))
		return -ENOENT;
	if (v->enabled == enable)
		return 0;
	v->enabled = enable;
	if (v->gw.type != VIFD_GW_SOCKS5)
		return 0;
	if (enable) {
		vif_start(v);
	} else {
		probe_stop(v);
		v->gw.fails = 0;
		vif_set_state(v, VIFD_GW_STOPPED);
	}
	return 0;
}

int gw_hold_set(struct gw_mgr *mgr, __u16 vlan, bool hold)
{
	struct gw_vif *v;

	if (mgr->in_cb)
		return -EBUSY;
	if (!vlan_ok(vlan) || !(v = mgr->vifs[vlan]))
		return -ENOENT;
	if (v->hold != hold) {
		v->hold = hold;
		reconcile(mgr, vlan);
	}
	return 0;
}

enum vifd_gw_state gw_state(const struct gw_mgr *mgr, __u16 vlan)
{
	if (!vlan_ok(vlan) || !mgr->vifs[vlan])
		return VIFD_GW_STOPPED;
	return mgr->vifs[vlan]->gw.state;
}

/* ---- chains ------------------------------------------------------------ */

static struct gw_chain *chain_find(struct gw_mgr *mgr, __u16 first_hop)
{
	int i;

	for (i = 0; i < mgr->nchains; i++)
		if (mgr->chains[i].hops[0] == first_hop)
			return &mgr->chains[i];
	return NULL;
}

int gw_chain_set(struct gw_mgr *mgr, const __u16 *hops, int n)
{
	struct gw_chain *c;
	int i, j;

	if (mgr->in_cb)
		return -EBUSY;
	if (!hops || n < VIFD_CHAIN_MIN || n > VIFD_CHAIN_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!vlan_ok(hops[i]))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (hops[j] == hops[i])
				return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if (!mgr->vifs[hops[i]])
			return -ENOENT;

	c = chain_find(mgr, hops[0]);
	if (!c) {
		if (mgr->nchains == mgr->capchains) {
			int cap = mgr->capchains ? mgr->capchains * 2 : 8;
			struct gw_chain *p;

			p = realloc(mgr->chains, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			mgr->chains = p;
			mgr->capchains = cap;
		}
		c = &mgr->chains[mgr->nchains++];
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->hops, hops, n * sizeof(*hops));
	c->n = n;
	comp_rebuild(mgr);
	reconcile(mgr, -1);
	return 0;
}

int gw_chain_clear(struct gw_mgr *mgr, __u16 first_hop)
{
	struct gw_chain *c;

	if (mgr->in_cb)
		return -EBUSY;
	c = chain_find(mgr, first_hop);
	if (!c)
		return -ENOENT;
	*c = mgr->chains[--mgr->nchains];
	comp_rebuild(mgr);
	reconcile(mgr, -1);
	return 0;
}

/* ---- status ------------------------------------------------------------ */

static void vif_status(const struct gw_vif *v, struct gw_status *st)
{
	memset(st, 0, sizeof(*st));
	st->vlan = v->vlan;
	st->type = v->gw.type;
	st->state = v->gw.state;
	st->mode = v->mode;
	st->fallback = v->fallback;
	st->enabled = v->enabled;
	st->hold = v->hold;
	if (v->ks_applied == KS_UNKNOWN)
		st->ks = GW_KS_UNKNOWN;
	else if (v->ks_applied == KS_ON)
		st->ks = GW_KS_ENGAGED;
	else if (v->fb_applied)
		st->ks = GW_KS_FALLBACK;
	else
		st->ks = GW_KS_RELEASED;
	st->ks_err = v->ks_err;
	st->fails = v->gw.fails;
	st->last_result = v->last_result;
	st->last_err = v->last_err;
	st->probes = v->probes;
	st->probe_failures = v->probe_failures;
	st->state_since_ms = v->state_since_ms;
	st->last_ok_ms = v->last_ok_ms;
	memcpy(st->tun, v->gw.tun, sizeof(st->tun));
	st->socks_addr = v->gw.socks_addr;
	st->socks_port = v->gw.socks_port;
}

int gw_status(const struct gw_mgr *mgr, __u16 vlan, struct gw_status *out)
{
	if (!vlan_ok(vlan) || !mgr->vifs[vlan])
		return -ENOENT;
	vif_status(mgr->vifs[vlan], out);
	return 0;
}

int gw_status_dump(const struct gw_mgr *mgr, struct gw_status *out, int max)
{
	int i, n = 0;

	for (i = 0; i < VIF_VLAN_SLOTS && n < max; i++)
		if (mgr->vifs[i])
			vif_status(mgr->vifs[i], &out[n++]);
	return n;
}
