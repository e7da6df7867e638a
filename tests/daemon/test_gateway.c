/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_gateway.c - control/gateway.c on a real loop with real TCP.
 *
 * The SOCKS5 servers are listening sockets on 127.0.0.1 (ephemeral
 * ports) answered from the same loop the probes run on; "killing" one
 * closes its listener and connections, so the next connect is refused,
 * and bringing it back listens on the same port again.  The gw_ops are
 * fakes that keep a simulated dataplane (kill switch and fallback per
 * VLAN) and a timestamped log of every call.
 *
 * After every loop iteration the fail-closed invariants are checked
 * against the simulated dataplane: a VIF whose gateway is not RUNNING
 * drops or is re-routed into a RUNNING, released fallback; a registered
 * chain with a hop not RUNNING is engaged on every hop; and no chain hop
 * is ever released while another is not RUNNING (checked inside the
 * release call itself).
 *
 * As root the test moves into its own network namespace (nothing leaks
 * outside, a crash leaves nothing behind) and uses real tun devices from
 * /dev/net/tun, or dummy devices when there is none (the probe checks by
 * name and flags, so a dummy stands in).  Without root, or with neither,
 * "lo" stands in for every tun and the case that needs devices of its
 * own skips.
 *
 * The leak-window cases use the default settings and assert the window
 * against the formula of gateway.h and the goal of 2 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "gateway.h"
#include "harness.h"
#include "loop.h"
#include "vif_abi.h"

/* Fast settings for the cases that are not about the defaults. */
#define FAST_INTERVAL 200
#define FAST_RETRY 50
#define FAST_TIMEOUT 100
/* Scheduling slack on top of computed deadlines (a busy CI box). */
#define SLACK_MS 150
#define GOAL_MS 2000 /* the issue: leak window under 2 s by default */

enum dev_kind {
	DEV_LO,    /* not root, or no device can be made: lo stands in */
	DEV_TUN,   /* /dev/net/tun */
	DEV_DUMMY, /* no /dev/net/tun, but the dummy driver */
};

static enum dev_kind g_dev;
static unsigned int g_seq;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- netdevs ---------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int if_flags_set(const char *name, short set, short clear)
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	ifr.ifr_flags = (ifr.ifr_flags | set) & ~clear;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out:
	close(fd);
	return err;
}

struct tun {
	char name[IFNAMSIZ];
	int fd; /* the "tun2socks" end; -1 for dummy, lo or closed */
	bool dummy;
};

static void tun_name(struct tun *t)
{
	snprintf(t->name, sizeof(t->name), "gwt%u-%u", getpid() % 100000,
		 g_seq++);
}

/* A device that is up and has carrier: a tun with a reader, or a dummy. */
static int tun_open(struct tun *t, bool persist)
{
	struct ifreq ifr = { 0 };
	int err;

	t->fd = -1;
	t->dummy = false;
	if (g_dev == DEV_LO) {
		snprintf(t->name, sizeof(t->name), "lo");
		return 0;
	}
	tun_name(t);
	if (g_dev == DEV_DUMMY) {
		t->dummy = true;
		if (sh("ip link add %s type dummy", t->name))
			return -EIO;
		return if_flags_set(t->name, IFF_UP, 0);
	}
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0 ||
	    (persist && ioctl(t->fd, TUNSETPERSIST, 1) < 0)) {
		err = -errno;
		close(t->fd);
		t->fd = -1;
		return err;
	}
	return if_flags_set(t->name, IFF_UP, 0);
}

/* Delete the device (persistent or not), if it is ours. */
static void tun_close(struct tun *t)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (g_dev == DEV_LO)
		return;
	if (t->dummy) {
		sh("ip link del %s 2>/dev/null", t->name);
		return;
	}
	if (t->fd >= 0) {
		ioctl(t->fd, TUNSETPERSIST, 0);
		close(t->fd);
		t->fd = -1;
		return;
	}
	/* Persistent with no reader: attach to drop persistence. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (!ioctl(fd, TUNSETIFF, &ifr))
		ioctl(fd, TUNSETPERSIST, 0);
	close(fd);
}

/* ---- the SOCKS5 greeting server --------------------------------------- */

enum srv_mode {
	SRV_OK,      /* 05 00 */
	SRV_SPLIT,   /* 05, then 00 a little later */
	SRV_HALF,    /* 05, then nothing */
	SRV_SILENT,  /* accept, read, never answer */
	SRV_GARBAGE, /* an HTTP error line */
	SRV_NOAUTH,  /* 05 ff: no acceptable method */
	SRV_CLOSE,   /* accept and close at once */
};

#define SRV_CONNS 64

struct srv {
	struct loop *loop;
	int lfd;
	__u16 port;
	enum srv_mode mode;
	int conns[SRV_CONNS];
	int accepts;
	int answers;
	int change_after;       /* after this many answers (0 = never): */
	bool die;               /*   close everything, else */
	enum srv_mode next_mode; /*   switch to this mode */
	uint64_t changed_us;    /* when that happened */
	uint64_t split_timer;
	int split_fd;
};

static void srv_conn_del(struct srv *s, int i)
{
	if (s->conns[i] < 0)
		return;
	loop_fd_del(s->loop, s->conns[i]);
	close(s->conns[i]);
	s->conns[i] = -1;
}

static void srv_kill(struct srv *s)
{
	int i;

	if (!s->loop)
		return; /* never started */
	if (s->lfd >= 0) {
		loop_fd_del(s->loop, s->lfd);
		close(s->lfd);
		s->lfd = -1;
	}
	for (i = 0; i < SRV_CONNS; i++)
		srv_conn_del(s, i);
	if (s->split_timer)
		loop_timer_del(s->loop, s->split_timer);
	s->split_timer = 0;
}

static void srv_answered(struct srv *s)
{
	s->answers++;
	if (!s->change_after || s->answers != s->change_after)
		return;
	/* Right after an answer: the worst phase for the prober. */
	s->changed_us = now_us();
	if (s->die)
		srv_kill(s);
	else
		s->mode = s->next_mode;
}

static void on_split_timer(struct loop *l, uint64_t id, void *ctx)
{
	struct srv *s = ctx;
	const __u8 b = 0x00;

	s->split_timer = 0;
	if (write(s->split_fd, &b, 1) == 1)
		srv_answered(s);
}

static void on_srv_conn(struct loop *l, int fd, uint32_t events, void *ctx)
{
	static const char garbage[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
	static const __u8 ok[2] = { 0x05, 0x00 }, noauth[2] = { 0x05, 0xff };
	struct srv *s = ctx;
	__u8 buf[16];
	ssize_t n;
	int i;

	for (i = 0; i < SRV_CONNS && s->conns[i] != fd; i++)
		;
	if (i == SRV_CONNS)
		return;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		srv_conn_del(s, i); /* the prober's RST or FIN */
		return;
	}
	if (n < 3 || buf[0] != 0x05)
		return;
	switch (s->mode) {
	case SRV_OK:
		if (write(fd, ok, 2) == 2)
			srv_answered(s);
		break;
	case SRV_HALF:
		if (write(fd, ok, 1) == 1)
			srv_answered(s);
		break;
	case SRV_SPLIT:
		if (write(fd, ok, 1) == 1 && !s->split_timer) {
			s->split_fd = fd;
			loop_timer_add(l, 20, 0, on_split_timer, s,
				       &s->split_timer);
		}
		break;
	case SRV_GARBAGE:
		if (write(fd, garbage, sizeof(garbage) - 1) > 0)
			srv_answered(s);
		break;
	case SRV_NOAUTH:
		if (write(fd, noauth, 2) == 2)
			srv_answered(s);
		break;
	case SRV_SILENT:
	case SRV_CLOSE:
		break;
	}
}

static void on_srv_accept(struct loop *l, int lfd, uint32_t events,
			  void *ctx)
{
	struct srv *s = ctx;
	int fd, i;

	while ((fd = accept4(lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		s->accepts++;
		if (s->mode == SRV_CLOSE) {
			close(fd);
			continue;
		}
		for (i = 0; i < SRV_CONNS && s->conns[i] >= 0; i++)
			;
		if (i == SRV_CONNS || loop_fd_add(l, fd, EPOLLIN, on_srv_conn,
						  s)) {
			close(fd);
			continue;
		}
		s->conns[i] = fd;
	}
}

/* Listen on s->port (0 = pick one, then remembered). */
static int srv_listen(struct srv *s)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(s->port),
	};
	socklen_t len = sizeof(sa);
	int one = 1, err;

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (s->lfd < 0)
		return -errno;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->lfd, 64) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len)) {
		err = -errno;
		goto err_close;
	}
	s->port = ntohs(sa.sin_port);
	err = loop_fd_add(s->loop, s->lfd, EPOLLIN, on_srv_accept, s);
	if (err)
		goto err_close;
	return 0;

err_close:
	close(s->lfd);
	s->lfd = -1;
	return err;
}

static int srv_start(struct srv *s, struct loop *l, enum srv_mode mode)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->mode = mode;
	s->lfd = -1;
	for (i = 0; i < SRV_CONNS; i++)
		s->conns[i] = -1;
	return srv_listen(s);
}

/* ---- fake ops: a simulated dataplane and a log ------------------------ */

enum ev_kind { EV_KS, EV_FB, EV_STATE };

struct ev {
	uint64_t us;
	enum ev_kind kind;
	__u16 vlan;
	__u16 arg;   /* EV_FB: the fallback */
	bool on;     /* EV_KS: engage; EV_FB: on */
	enum vifd_gw_state old_state, new_state;
};

#define EV_MAX 4096
#define TRACK_MAX 8

struct t {
	struct loop *loop;
	struct gw_mgr *mgr;
	struct ev ev[EV_MAX];
	int nev;
	bool ks[VIF_VLAN_SLOTS];  /* simulated dataplane */
	__u16 fb[VIF_VLAN_SLOTS];
	int fail_ks;              /* fail this many killswitch calls */
	int ks_calls_failed;
	bool check;               /* invariants after each iteration */
	int violations;
	__u16 track[TRACK_MAX];   /* VLANs the invariants look at */
	int ntrack;
	__u16 chain[5];           /* the registered chain, if any */
	int chain_n;
	bool reenter;
	int reenter_err;
};

static void ev_add(struct t *t, struct ev e)
{
	e.us = now_us();
	if (t->nev < EV_MAX)
		t->ev[t->nev++] = e;
}

static void check_invariants(struct t *t, __u16 skip);

static bool vlan_in_chain(const struct t *t, __u16 vlan)
{
	int i;

	for (i = 0; i < t->chain_n; i++)
		if (t->chain[i] == vlan)
			return true;
	return false;
}

static int fake_killswitch(void *ctx, __u16 vlan, bool engage)
{
	struct t *t = ctx;
	int i;

	if (t->fail_ks > 0) {
		t->fail_ks--;
		t->ks_calls_failed++;
		return -EIO;
	}
	if (!engage && vlan_in_chain(t, vlan)) {
		for (i = 0; i < t->chain_n; i++) {
			if (gw_state(t->mgr, t->chain[i]) == VIFD_GW_RUNNING)
				continue;
			fprintf(stderr, "  release of %u while hop %u is %s\n",
				vlan, t->chain[i],
				gw_state_name(gw_state(t->mgr, t->chain[i])));
			t->violations++;
		}
	}
	t->ks[vlan] = engage;
	if (!engage && t->check)
		check_invariants(t, vlan);
	ev_add(t, (struct ev){ .kind = EV_KS, .vlan = vlan, .on = engage });
	return 0;
}

static int fake_fallback(void *ctx, __u16 vlan, __u16 fb, bool on)
{
	struct t *t = ctx;

	t->fb[vlan] = on ? fb : 0;
	if (on && t->check)
		check_invariants(t, vlan);
	ev_add(t, (struct ev){ .kind = EV_FB, .vlan = vlan, .arg = fb,
			       .on = on });
	return 0;
}

static void fake_on_state(void *ctx, __u16 vlan, enum vifd_gw_state o,
			  enum vifd_gw_state n)
{
	struct t *t = ctx;
	struct vifd_gateway none = { .type = VIFD_GW_NONE };

	ev_add(t, (struct ev){ .kind = EV_STATE, .vlan = vlan,
			       .old_state = o, .new_state = n });
	if (t->reenter)
		t->reenter_err = gw_add(t->mgr, 4000, &none, VIFD_KS_BLOCK, 0);
}

static const struct gw_ops fake_ops = {
	.killswitch = fake_killswitch,
	.fallback = fake_fallback,
	.on_state = fake_on_state,
};

/*
 * Does the simulated dataplane keep every tracked VIF but skip closed?
 * Also run inside every release and re-route call, with the call's own
 * VIF skipped (it may be half-way): gw engages everything that needs it
 * before it releases or re-routes anything.
 */
static void check_invariants(struct t *t, __u16 skip)
{
	bool chain_bad = false;
	int i;

	for (i = 0; i < t->ntrack; i++) {
		__u16 v = t->track[i], f = t->fb[v];
		struct gw_status st;

		if (v == skip || gw_status(t->mgr, v, &st) ||
		    st.type == VIFD_GW_NONE)
			continue;
		if (vlan_in_chain(t, v) && st.state != VIFD_GW_RUNNING)
			chain_bad = true;
		if (st.state == VIFD_GW_RUNNING || t->ks[v])
			continue;
		if (f && gw_state(t->mgr, f) == VIFD_GW_RUNNING && !t->ks[f])
			continue;
		fprintf(stderr, "  VIF %u is %s but released (fallback %u)\n",
			v, gw_state_name(st.state), f);
		t->violations++;
	}
	for (i = 0; chain_bad && i < t->chain_n; i++) {
		if (t->ks[t->chain[i]] || t->chain[i] == skip)
			continue;
		fprintf(stderr, "  chain hop %u released with a hop down\n",
			t->chain[i]);
		t->violations++;
	}
}

static void t_iter(struct t *t, int ms)
{
	loop_once(t->loop, ms);
	if (t->check)
		check_invariants(t, 0);
}

/* Run the loop until cond holds or ms pass; the value of cond. */
#define RUN_UNTIL(t, cond, ms)                                             \
	({                                                                 \
		uint64_t ___ru_end = loop_now_ms() + (ms);                 \
		bool ___ru_ok;                                             \
		while (!(___ru_ok = (cond)) && loop_now_ms() < ___ru_end)  \
			t_iter((t), 5);                                    \
		___ru_ok;                                                  \
	})

static void run_for(struct t *t, int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		t_iter(t, 5);
}

static int t_open(struct t **out, const struct gw_settings *set)
{
	struct t *t;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->check = true;
	err = loop_new(&t->loop);
	if (err)
		goto err_free;
	err = gw_mgr_new(t->loop, set, &fake_ops, t, &t->mgr);
	if (err)
		goto err_loop;
	*out = t;
	return 0;

err_loop:
	loop_free(t->loop);
err_free:
	free(t);
	return err;
}

static void t_close(struct t *t)
{
	if (!t)
		return;
	gw_mgr_free(t->mgr);
	loop_free(t->loop);
	free(t);
}

static const struct gw_settings fast = {
	.interval_ms = FAST_INTERVAL,
	.fail_threshold = 3,
	.retry_ms = FAST_RETRY,
	.timeout_ms = FAST_TIMEOUT,
};

static struct vifd_gateway socks_gw(const struct tun *tun, __u16 port)
{
	struct vifd_gateway gw = {
		.type = VIFD_GW_SOCKS5,
		.socks_addr = htonl(INADDR_LOOPBACK),
		.socks_port = port,
	};

	snprintf(gw.tun, sizeof(gw.tun), "%s", tun->name);
	return gw;
}

static int t_add(struct t *t, __u16 vlan, const struct tun *tun,
		 const struct srv *s, enum vifd_ks_mode mode, __u16 fb)
{
	struct vifd_gateway gw = socks_gw(tun, s->port);

	if (t->ntrack < TRACK_MAX)
		t->track[t->ntrack++] = vlan;
	return gw_add(t->mgr, vlan, &gw, mode, fb);
}

static int count_ev(const struct t *t, enum ev_kind kind, __u16 vlan,
		    bool on)
{
	int i, n = 0;

	for (i = 0; i < t->nev; i++)
		if (t->ev[i].kind == kind && t->ev[i].vlan == vlan &&
		    t->ev[i].on == on)
			n++;
	return n;
}

/* Index of the first such event at or after from, -1 if none. */
static int find_ev(const struct t *t, int from, enum ev_kind kind,
		   __u16 vlan, bool on)
{
	int i;

	for (i = from; i < t->nev; i++)
		if (t->ev[i].kind == kind && t->ev[i].vlan == vlan &&
		    t->ev[i].on == on)
			return i;
	return -1;
}

static enum gw_probe_result last_result(struct t *t, __u16 vlan)
{
	struct gw_status st;

	if (gw_status(t->mgr, vlan, &st))
		return GW_PROBE__MAX;
	return st.last_result;
}

static __u64 probes(struct t *t, __u16 vlan)
{
	struct gw_status st;

	if (gw_status(t->mgr, vlan, &st))
		return 0;
	return st.probes;
}

static int fd_count(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

/* ---- cases ------------------------------------------------------------ */

static int test_settings(void)
{
	struct gw_settings s, in = { 0 };

	gw_settings_default(&s);
	if (!ASSERT_EQ(s.interval_ms, 1000, "default interval") ||
	    !ASSERT_EQ(s.fail_threshold, 3, "default threshold") ||
	    !ASSERT_EQ(s.retry_ms, 200, "default retry") ||
	    !ASSERT_EQ(s.timeout_ms, 200, "default timeout"))
		return -1;
	/* The goal, from the formula itself. */
	if (!ASSERT_EQ(gw_leak_window_ms(&s), 1600, "W(defaults)") ||
	    !ASSERT_TRUE(gw_leak_window_ms(&s) < GOAL_MS, "W < 2 s"))
		return -1;

	in.interval_ms = 100;
	if (!ASSERT_OK(gw_settings_resolve(&in, &s), "interval 100") ||
	    !ASSERT_EQ(s.retry_ms, 100, "retry capped at interval") ||
	    !ASSERT_EQ(s.timeout_ms, 50, "timeout capped at interval/2"))
		return -1;
	/* max(retry, timeout) between failures. */
	s = (struct gw_settings){ 1000, 4, 100, 300 };
	if (!ASSERT_EQ(gw_leak_window_ms(&s), 1000 + 300 + 3 * 300, "W"))
		return -1;

	in = (struct gw_settings){ .interval_ms = 5 };
	if (!ASSERT_EQ(gw_settings_resolve(&in, &s), -EINVAL, "interval 5"))
		return -1;
	in = (struct gw_settings){ .interval_ms = 100, .retry_ms = 101 };
	if (!ASSERT_EQ(gw_settings_resolve(&in, &s), -EINVAL, "retry > int"))
		return -1;
	in = (struct gw_settings){ .interval_ms = 100, .timeout_ms = 101 };
	if (!ASSERT_EQ(gw_settings_resolve(&in, &s), -EINVAL, "timeout > int"))
		return -1;
	in = (struct gw_settings){ .fail_threshold = 1001 };
	if (!ASSERT_EQ(gw_settings_resolve(&in, &s), -EINVAL, "threshold"))
		return -1;
	if (!ASSERT_EQ(strcmp(gw_state_name(VIFD_GW_FAILED), "failed"), 0,
		       "state name") ||
	    !ASSERT_EQ(strcmp(gw_probe_result_name(GW_PROBE_TIMEOUT),
			      "timeout"), 0, "result name") ||
	    !ASSERT_EQ(strcmp(gw_ks_name(GW_KS_FALLBACK), "fallback"), 0,
		       "ks name"))
		return -1;
	return 0;
}

static int test_add_validation(void)
{
	struct gw_ops no_fb = { .killswitch = fake_killswitch };
	struct vifd_gateway gw = {
		.type = VIFD_GW_SOCKS5,
		.tun = "lo",
		.socks_addr = htonl(INADDR_LOOPBACK),
		.socks_port = 1080,
	}, bad;
	struct gw_mgr *m2 = NULL;
	struct t *t = NULL;
	int ret = -1;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		return -1;
	if (!ASSERT_EQ(gw_mgr_new(t->loop, NULL, &no_fb, t, NULL), -EINVAL,
		       "no out") ||
	    !ASSERT_EQ(gw_mgr_new(t->loop, NULL, &(struct gw_ops){ 0 }, t,
				  &m2), -EINVAL, "no killswitch op"))
		goto out;

	if (!ASSERT_EQ(gw_add(t->mgr, 0, &gw, VIFD_KS_BLOCK, 0), -EINVAL,
		       "vlan 0") ||
	    !ASSERT_EQ(gw_add(t->mgr, 4095, &gw, VIFD_KS_BLOCK, 0), -EINVAL,
		       "vlan 4095"))
		goto out;
	bad = gw;
	memset(bad.tun, 'x', sizeof(bad.tun)); /* 16 bytes, no NUL */
	if (!ASSERT_EQ(gw_add(t->mgr, 10, &bad, VIFD_KS_BLOCK, 0), -EINVAL,
		       "tun of 16 bytes"))
		goto out;
	bad = gw;
	bad.tun[0] = '\0';
	if (!ASSERT_EQ(gw_add(t->mgr, 10, &bad, VIFD_KS_BLOCK, 0), -EINVAL,
		       "empty tun"))
		goto out;
	bad = gw;
	bad.socks_port = 0;
	if (!ASSERT_EQ(gw_add(t->mgr, 10, &bad, VIFD_KS_BLOCK, 0), -EINVAL,
		       "port 0"))
		goto out;
	bad = gw;
	bad.socks_addr = 0;
	if (!ASSERT_EQ(gw_add(t->mgr, 10, &bad, VIFD_KS_BLOCK, 0), -EINVAL,
		       "address 0"))
		goto out;
	if (!ASSERT_EQ(gw_add(t->mgr, 10, &gw, VIFD_KS_FALLBACK, 10), -EINVAL,
		       "fallback to itself") ||
	    !ASSERT_EQ(gw_add(t->mgr, 10, &gw, VIFD_KS_FALLBACK, 0), -EINVAL,
		       "fallback 0"))
		goto out;
	/* Nothing was added by the refusals. */
	if (!ASSERT_EQ(t->nev, 0, "no ops calls for refused adds"))
		goto out;

	/* 15 characters is the most a tun name may have. */
	snprintf(gw.tun, sizeof(gw.tun), "%s", "abcdefghijklmno");
	if (!ASSERT_OK(gw_add(t->mgr, 10, &gw, VIFD_KS_BLOCK, 0), "15 chars") ||
	    !ASSERT_EQ(gw_add(t->mgr, 10, &gw, VIFD_KS_BLOCK, 0), -EEXIST,
		       "twice") ||
	    !ASSERT_EQ(gw_remove(t->mgr, 11), -ENOENT, "remove unknown") ||
	    !ASSERT_OK(gw_remove(t->mgr, 10), "remove"))
		goto out;

	if (!ASSERT_OK(gw_mgr_new(t->loop, NULL, &no_fb, t, &m2), "no fb") ||
	    !ASSERT_EQ(gw_add(m2, 10, &gw, VIFD_KS_FALLBACK, 11), -EOPNOTSUPP,
		       "fallback without ops->fallback"))
		goto out;
	ret = 0;
out:
	gw_mgr_free(m2);
	t_close(t);
	return ret;
}

/* Fail closed at start; the first good probe releases. */
static int test_start_release(void)
{
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	struct gw_status st;
	int ret = -1, i;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_OK), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add"))
		goto out;
	/* Before the loop ran at all: STARTING and engaged. */
	if (!ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_STARTING, "starting") ||
	    !ASSERT_EQ(t->nev, 2, "two events") ||
	    !ASSERT_TRUE(t->ev[0].kind == EV_KS && t->ev[0].on,
			 "engaged first") ||
	    !ASSERT_TRUE(t->ev[1].kind == EV_STATE &&
			 t->ev[1].old_state == VIFD_GW_STOPPED &&
			 t->ev[1].new_state == VIFD_GW_STARTING,
			 "STOPPED -> STARTING"))
		goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released"))
		goto out;
	if (!ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_RUNNING, "running") ||
	    !ASSERT_EQ(s.answers, 1, "released after the first answer") ||
	    !ASSERT_EQ(find_ev(t, 0, EV_KS, 101, false), 2, "release third"))
		goto out;
	/* Keeps probing, stays released, one call in all. */
	run_for(t, 3 * FAST_INTERVAL);
	if (!ASSERT_TRUE(s.answers >= 3, "probes go on") ||
	    !ASSERT_EQ(count_ev(t, EV_KS, 101, false), 1, "one release") ||
	    !ASSERT_EQ(count_ev(t, EV_KS, 101, true), 1, "one engage") ||
	    !ASSERT_OK(gw_status(t->mgr, 101, &st), "status") ||
	    !ASSERT_EQ(st.ks, GW_KS_RELEASED, "status released") ||
	    !ASSERT_EQ(st.probe_failures, 0, "no failures") ||
	    !ASSERT_EQ(st.probes, (unsigned int)s.answers, "probes counted"))
		goto out;
	for (i = 0; i < t->nev; i++)
		if (t->ev[i].kind == EV_STATE &&
		    t->ev[i].new_state == VIFD_GW_RUNNING)
			break;
	if (!ASSERT_TRUE(i < t->nev &&
			 t->ev[i].old_state == VIFD_GW_STARTING,
			 "STARTING -> RUNNING"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

/*
 * Death -> engaged, with the defaults, killed right after an answer (the
 * worst phase).  change: what the server does then.
 */
static int leak_window(bool die, enum srv_mode next, uint64_t *window_ms)
{
	struct gw_settings set;
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	uint64_t w, back_us, rel_us;
	int ret = -1, i, mark;

	gw_settings_default(&set);
	if (!ASSERT_OK(t_open(&t, NULL), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_OK), "server"))
		goto out;
	s.change_after = 2;
	s.die = die;
	s.next_mode = next;
	if (!ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, s.changed_us, 3000), "server changed") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, t->ks[101], 4000), "engaged"))
		goto out;
	i = find_ev(t, 0, EV_KS, 101, true);
	i = find_ev(t, i + 1, EV_KS, 101, true);
	if (!ASSERT_TRUE(i > 0, "second engage logged"))
		goto out;
	w = (t->ev[i].us - s.changed_us) / 1000;
	printf("  leak window (%s): %llu ms, formula %llu ms\n",
	       die ? "refused" : "no answer", (unsigned long long)w,
	       (unsigned long long)gw_leak_window_ms(&set));
	if (!ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_FAILED, "failed") ||
	    !ASSERT_EQ(last_result(t, 101),
		       die ? GW_PROBE_CONNECT : GW_PROBE_TIMEOUT, "reason") ||
	    !ASSERT_TRUE(w < GOAL_MS, "window under 2 s with defaults") ||
	    !ASSERT_TRUE(w <= gw_leak_window_ms(&set) + SLACK_MS,
			 "window within the formula") ||
	    /*
	     * And not much less than the schedule says either: the
	     * threshold and the retry period are honoured.  A refused
	     * connect fails at once, so only the retries add up.
	     */
	    !ASSERT_TRUE(w + 50 >= (die ? set.interval_ms +
				    (set.fail_threshold - 1) * set.retry_ms :
				    gw_leak_window_ms(&set)),
			 "window as scheduled"))
		goto out;
	*window_ms = w;

	/* Back: released on the next probe, at most interval + timeout. */
	if (die) {
		if (!ASSERT_OK(srv_listen(&s), "listen again"))
			goto out;
	}
	s.mode = SRV_OK;
	back_us = now_us();
	mark = t->nev;
	if (!ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 3000), "released again"))
		goto out;
	i = find_ev(t, mark, EV_KS, 101, false);
	if (!ASSERT_TRUE(i >= 0, "release logged"))
		goto out;
	rel_us = t->ev[i].us;
	if (!ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_RUNNING, "running") ||
	    !ASSERT_TRUE((rel_us - back_us) / 1000 <=
				 set.interval_ms + set.timeout_ms + SLACK_MS,
			 "recovery within interval + timeout"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

static int test_window_refused(void)
{
	uint64_t w;

	return leak_window(true, SRV_OK, &w);
}

static int test_window_silent(void)
{
	uint64_t w;

	return leak_window(false, SRV_SILENT, &w);
}

/* Servers that never give a good answer: never released. */
static int never_running(enum srv_mode mode, enum gw_probe_result want)
{
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	int ret = -1, i;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, mode), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add"))
		goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, gw_state(t->mgr, 101) ==
					      VIFD_GW_FAILED, 2000),
			 "failed"))
		goto out;
	run_for(t, 2 * FAST_INTERVAL);
	if (!ASSERT_EQ(last_result(t, 101), want, "reason") ||
	    !ASSERT_EQ(count_ev(t, EV_KS, 101, false), 0, "never released") ||
	    !ASSERT_TRUE(t->ks[101], "engaged") ||
	    !ASSERT_TRUE(s.accepts >= 3, "probed threshold times"))
		goto out;
	/* STARTING -> FAILED straight, never RUNNING. */
	for (i = 0; i < t->nev; i++)
		if (t->ev[i].kind == EV_STATE &&
		    !ASSERT_TRUE(t->ev[i].new_state != VIFD_GW_RUNNING,
				 "not running"))
			goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

static int test_garbage(void)
{
	return never_running(SRV_GARBAGE, GW_PROBE_PROTO);
}

static int test_noauth(void)
{
	return never_running(SRV_NOAUTH, GW_PROBE_PROTO);
}

static int test_closed(void)
{
	return never_running(SRV_CLOSE, GW_PROBE_CLOSED);
}

static int test_silent(void)
{
	return never_running(SRV_SILENT, GW_PROBE_TIMEOUT);
}

/* Half an answer is no answer. */
static int test_half(void)
{
	return never_running(SRV_HALF, GW_PROBE_TIMEOUT);
}

/* The answer in two segments 20 ms apart still counts. */
static int test_split_answer(void)
{
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	int ret = -1;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_SPLIT), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add"))
		goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_RUNNING, "running"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

/* Tun down, no reader, gone: each a failure; up again: released. */
static int test_tun(void)
{
	struct tun tun = { .fd = -1 }, ptun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	int ret = -1;

	if (g_dev == DEV_LO)
		return TEST_SKIP;
	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_OK), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released"))
		goto out;

	if (!ASSERT_OK(if_flags_set(tun.name, 0, IFF_UP), "tun down") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, t->ks[101], 1000), "engaged: down") ||
	    !ASSERT_EQ(last_result(t, 101), GW_PROBE_TUN_DOWN, "tun_down") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_FAILED, "failed"))
		goto out;
	if (!ASSERT_OK(if_flags_set(tun.name, IFF_UP, 0), "tun up") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released: up"))
		goto out;

	/* The device goes away with its (non-persistent) reader. */
	tun_close(&tun);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[101], 1000), "engaged: gone") ||
	    !ASSERT_EQ(last_result(t, 101), GW_PROBE_TUN_MISSING,
		       "tun_missing"))
		goto out;

	if (g_dev == DEV_DUMMY) {
		ret = t->violations ? -1 : 0;
		goto out; /* dummies have no reader to lose */
	}
	/* A persistent tun that is up but whose reader died: no carrier. */
	if (!ASSERT_OK(tun_open(&ptun, true), "persistent tun"))
		goto out;
	{
		struct vifd_gateway gw = socks_gw(&ptun, s.port);

		if (!ASSERT_OK(gw_update(t->mgr, 101, &gw, VIFD_KS_BLOCK, 0),
			       "update to the persistent tun"))
			goto out;
	}
	if (!ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released: ptun"))
		goto out;
	/*
	 * IFF_RUNNING follows the carrier through the kernel's linkwatch,
	 * which batches non-urgent events up to a second, and runs from a
	 * workqueue a busy machine may delay further: allow for both.
	 */
	close(ptun.fd);
	ptun.fd = -1;
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[101], 5000),
			 "engaged: no reader") ||
	    !ASSERT_EQ(last_result(t, 101), GW_PROBE_TUN_DOWN,
		       "no carrier is down"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	if (ptun.name[0])
		tun_close(&ptun);
	return ret;
}

static bool all_ks(const struct t *t, const __u16 *v, int n, bool on)
{
	int i;

	for (i = 0; i < n; i++)
		if (t->ks[v[i]] != on)
			return false;
	return true;
}

static bool all_running(const struct t *t, const __u16 *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (gw_state(t->mgr, v[i]) != VIFD_GW_RUNNING)
			return false;
	return true;
}

static int test_chain(void)
{
	static const __u16 hops[3] = { 101, 102, 103 };
	struct tun tun[3] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } };
	struct srv s[3] = { { .lfd = -1 }, { .lfd = -1 }, { .lfd = -1 } };
	__u16 six[6] = { 101, 102, 103, 104, 105, 106 };
	__u16 rep[3] = { 101, 102, 101 }, unk[2] = { 101, 999 };
	struct t *t = NULL;
	int ret = -1, i, mark;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		goto out;
	for (i = 0; i < 3; i++)
		if (!ASSERT_OK(tun_open(&tun[i], false), "tun") ||
		    !ASSERT_OK(srv_start(&s[i], t->loop, SRV_OK), "server") ||
		    !ASSERT_OK(t_add(t, hops[i], &tun[i], &s[i],
				     VIFD_KS_BLOCK, 0), "add"))
			goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, all_ks(t, hops, 3, false), 1000),
			 "all released"))
		goto out;

	if (!ASSERT_EQ(gw_chain_set(t->mgr, hops, 1), -EINVAL, "1 hop") ||
	    !ASSERT_EQ(gw_chain_set(t->mgr, six, 6), -EINVAL, "6 hops") ||
	    !ASSERT_EQ(gw_chain_set(t->mgr, rep, 3), -EINVAL, "repeat") ||
	    !ASSERT_EQ(gw_chain_set(t->mgr, unk, 2), -ENOENT, "unknown hop") ||
	    !ASSERT_EQ(gw_chain_clear(t->mgr, 101), -ENOENT, "no chain"))
		goto out;
	memcpy(t->chain, hops, sizeof(hops));
	t->chain_n = 3;
	if (!ASSERT_OK(gw_chain_set(t->mgr, hops, 3), "chain") ||
	    !ASSERT_TRUE(all_ks(t, hops, 3, false), "healthy chain released") ||
	    !ASSERT_EQ(gw_remove(t->mgr, 102), -EBUSY, "remove a hop"))
		goto out;

	/* One hop down: every hop engaged, the others still RUNNING. */
	srv_kill(&s[1]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, all_ks(t, hops, 3, true), 1500),
			 "all engaged") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_RUNNING, "101 running") ||
	    !ASSERT_EQ(gw_state(t->mgr, 103), VIFD_GW_RUNNING, "103 running"))
		goto out;
	/* A second one down, then the first back: still all engaged. */
	srv_kill(&s[2]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, gw_state(t->mgr, 103) ==
					      VIFD_GW_FAILED, 1500),
			 "103 failed") ||
	    !ASSERT_OK(srv_listen(&s[1]), "102 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, gw_state(t->mgr, 102) ==
					      VIFD_GW_RUNNING, 1500),
			 "102 running"))
		goto out;
	run_for(t, 2 * FAST_INTERVAL);
	if (!ASSERT_TRUE(all_ks(t, hops, 3, true), "still all engaged"))
		goto out;
	mark = t->nev;
	if (!ASSERT_OK(srv_listen(&s[2]), "103 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, all_ks(t, hops, 3, false), 1500),
			 "all released") ||
	    !ASSERT_TRUE(all_running(t, hops, 3), "all running"))
		goto out;
	for (i = 0; i < 3; i++)
		if (!ASSERT_TRUE(find_ev(t, mark, EV_KS, hops[i], false) >= 0,
				 "each hop released"))
			goto out;

	/* Composed chains 101 -> 102 and 102 -> 103 are one path. */
	if (!ASSERT_OK(gw_chain_clear(t->mgr, 101), "clear") ||
	    !ASSERT_OK(gw_chain_set(t->mgr, hops, 2), "101 -> 102") ||
	    !ASSERT_OK(gw_chain_set(t->mgr, hops + 1, 2), "102 -> 103"))
		goto out;
	srv_kill(&s[2]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, all_ks(t, hops, 3, true), 1500),
			 "composed: all engaged") ||
	    !ASSERT_OK(srv_listen(&s[2]), "103 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, all_ks(t, hops, 3, false), 1500),
			 "composed: all released"))
		goto out;

	/* No chain: a hop down engages only itself. */
	if (!ASSERT_OK(gw_chain_clear(t->mgr, 101), "clear 101") ||
	    !ASSERT_OK(gw_chain_clear(t->mgr, 102), "clear 102"))
		goto out;
	t->chain_n = 0;
	srv_kill(&s[1]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[102], 1500), "102 engaged"))
		goto out;
	run_for(t, FAST_INTERVAL);
	if (!ASSERT_TRUE(!t->ks[101] && !t->ks[103], "others released") ||
	    !ASSERT_OK(gw_remove(t->mgr, 102), "remove after clear"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	for (i = 0; i < 3; i++)
		srv_kill(&s[i]);
	t_close(t);
	for (i = 0; i < 3; i++)
		tun_close(&tun[i]);
	return ret;
}

static int test_fallback(void)
{
	struct tun tun[2] = { { .fd = -1 }, { .fd = -1 } };
	struct srv s[2] = { { .lfd = -1 }, { .lfd = -1 } };
	struct gw_status st;
	struct t *t = NULL;
	int ret = -1, i, mark, a, b;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		goto out;
	for (i = 0; i < 2; i++)
		if (!ASSERT_OK(tun_open(&tun[i], false), "tun") ||
		    !ASSERT_OK(srv_start(&s[i], t->loop, SRV_OK), "server"))
			goto out;
	if (!ASSERT_OK(t_add(t, 202, &tun[1], &s[1], VIFD_KS_BLOCK, 0),
		       "add 202") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[202], 1000), "202 released"))
		goto out;
	/* STARTING with a healthy fallback: re-routed at once. */
	mark = t->nev;
	if (!ASSERT_OK(t_add(t, 201, &tun[0], &s[0], VIFD_KS_FALLBACK, 202),
		       "add 201") ||
	    !ASSERT_TRUE(t->fb[201] == 202 && !t->ks[201], "re-routed") ||
	    !ASSERT_TRUE(find_ev(t, mark, EV_FB, 201, true) <
				 find_ev(t, mark, EV_KS, 201, false),
			 "route before release"))
		goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, !t->fb[201], 1000), "own path") ||
	    !ASSERT_EQ(gw_state(t->mgr, 201), VIFD_GW_RUNNING, "201 running"))
		goto out;

	/* 201 down: re-routed into 202, never dropped. */
	mark = t->nev;
	srv_kill(&s[0]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->fb[201] == 202, 1500),
			 "fallback on") ||
	    !ASSERT_EQ(gw_state(t->mgr, 201), VIFD_GW_FAILED, "201 failed") ||
	    !ASSERT_EQ(find_ev(t, mark, EV_KS, 201, true), -1,
		       "not engaged") ||
	    !ASSERT_OK(gw_status(t->mgr, 201, &st), "status") ||
	    !ASSERT_EQ(st.ks, GW_KS_FALLBACK, "status fallback"))
		goto out;

	/* 202 down too: 201 blocks, engaged before the route goes. */
	mark = t->nev;
	srv_kill(&s[1]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[201] && !t->fb[201], 1500),
			 "blocked"))
		goto out;
	a = find_ev(t, mark, EV_KS, 201, true);
	b = find_ev(t, mark, EV_FB, 201, false);
	if (!ASSERT_TRUE(a >= 0 && b > a, "engage, then route off") ||
	    !ASSERT_TRUE(t->ks[202], "202 engaged"))
		goto out;

	/* 202 back: re-routed again, the route before the release. */
	mark = t->nev;
	if (!ASSERT_OK(srv_listen(&s[1]), "202 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, t->fb[201] == 202 && !t->ks[201], 1500),
			 "re-routed again"))
		goto out;
	a = find_ev(t, mark, EV_FB, 201, true);
	b = find_ev(t, mark, EV_KS, 201, false);
	if (!ASSERT_TRUE(a >= 0 && b > a, "route, then release"))
		goto out;

	/* A hold on the fallback makes it unusable too. */
	if (!ASSERT_OK(gw_hold_set(t->mgr, 202, true), "hold 202") ||
	    !ASSERT_TRUE(t->ks[201] && !t->fb[201] && t->ks[202],
			 "held fallback blocks") ||
	    !ASSERT_OK(gw_hold_set(t->mgr, 202, false), "unhold 202") ||
	    !ASSERT_TRUE(t->fb[201] == 202 && !t->ks[201], "re-routed"))
		goto out;

	/* 201 back: own path. */
	if (!ASSERT_OK(srv_listen(&s[0]), "201 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->fb[201] && !t->ks[201], 1500),
			 "own path again"))
		goto out;

	/* A fallback that was never added blocks. */
	srv_kill(&s[0]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->fb[201] == 202, 1500),
			 "fallback on again"))
		goto out;
	{
		struct vifd_gateway gw = socks_gw(&tun[0], s[0].port);

		if (!ASSERT_OK(gw_update(t->mgr, 201, &gw, VIFD_KS_FALLBACK,
					 300), "fallback to 300") ||
		    !ASSERT_TRUE(t->ks[201] && !t->fb[201],
				 "unknown fallback: blocked") ||
		    !ASSERT_EQ(gw_state(t->mgr, 201), VIFD_GW_FAILED,
			       "no restart on a mode change"))
			goto out;
	}
	ret = t->violations ? -1 : 0;
out:
	for (i = 0; i < 2; i++)
		srv_kill(&s[i]);
	t_close(t);
	for (i = 0; i < 2; i++)
		tun_close(&tun[i]);
	return ret;
}

/*
 * 301 falls back to 302, 302 to 303.  When 302 fails while 301 is on it,
 * 301 blocks (fallbacks do not cascade) and 302 goes to 303; 301 must be
 * engaged before 302 is re-routed (checked inside the calls).
 */
static int test_fallback_no_cascade(void)
{
	struct tun tun[3] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } };
	struct srv s[3] = { { .lfd = -1 }, { .lfd = -1 }, { .lfd = -1 } };
	static const __u16 v[3] = { 301, 302, 303 };
	struct t *t = NULL;
	int ret = -1, i;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		goto out;
	for (i = 0; i < 3; i++)
		if (!ASSERT_OK(tun_open(&tun[i], false), "tun") ||
		    !ASSERT_OK(srv_start(&s[i], t->loop, SRV_OK), "server") ||
		    !ASSERT_OK(t_add(t, v[i], &tun[i], &s[i],
				     i < 2 ? VIFD_KS_FALLBACK : VIFD_KS_BLOCK,
				     i < 2 ? v[i + 1] : 0), "add"))
			goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, all_running(t, v, 3) &&
					      all_ks(t, v, 3, false) &&
					      !t->fb[301] && !t->fb[302], 1000),
			 "all on their own path"))
		goto out;
	srv_kill(&s[0]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->fb[301] == 302, 1500), "301 -> 302"))
		goto out;
	srv_kill(&s[1]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->fb[302] == 303, 1500), "302 -> 303") ||
	    !ASSERT_TRUE(t->ks[301] && !t->fb[301], "301 blocked") ||
	    !ASSERT_TRUE(!t->ks[303], "303 untouched"))
		goto out;
	if (!ASSERT_OK(srv_listen(&s[1]), "302 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, t->fb[301] == 302 && !t->ks[301] &&
					      !t->fb[302] && !t->ks[302],
				   1500), "301 -> 302 again"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	for (i = 0; i < 3; i++)
		srv_kill(&s[i]);
	t_close(t);
	for (i = 0; i < 3; i++)
		tun_close(&tun[i]);
	return ret;
}

/*
 * 401 falls back into 402, a hop of 402 -> 403: 403 down blocks 401.
 * 402 itself would fall back to 404, but a chain hop blocks instead.
 */
static int test_fallback_into_chain(void)
{
	static const struct {
		__u16 vlan;
		enum vifd_ks_mode mode;
		__u16 fb;
	} vifs[4] = {
		{ 401, VIFD_KS_FALLBACK, 402 },
		{ 402, VIFD_KS_FALLBACK, 404 },
		{ 403, VIFD_KS_BLOCK, 0 },
		{ 404, VIFD_KS_BLOCK, 0 },
	};
	static const __u16 v[4] = { 401, 402, 403, 404 };
	struct tun tun[4] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 },
			      { .fd = -1 } };
	struct srv s[4] = { { .lfd = -1 }, { .lfd = -1 }, { .lfd = -1 },
			    { .lfd = -1 } };
	struct t *t = NULL;
	int ret = -1, i;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		goto out;
	for (i = 0; i < 4; i++)
		if (!ASSERT_OK(tun_open(&tun[i], false), "tun") ||
		    !ASSERT_OK(srv_start(&s[i], t->loop, SRV_OK), "server") ||
		    !ASSERT_OK(t_add(t, vifs[i].vlan, &tun[i], &s[i],
				     vifs[i].mode, vifs[i].fb), "add"))
			goto out;
	memcpy(t->chain, v + 1, 2 * sizeof(*v));
	t->chain_n = 2;
	if (!ASSERT_OK(gw_chain_set(t->mgr, v + 1, 2), "chain") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, all_running(t, v, 4) &&
					      all_ks(t, v, 4, false) &&
					      !t->fb[401] && !t->fb[402], 1000),
			 "running"))
		goto out;
	srv_kill(&s[0]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->fb[401] == 402, 1500), "401 -> 402"))
		goto out;
	srv_kill(&s[2]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[401] && !t->fb[401], 1500),
			 "401 blocked by the chain it falls into") ||
	    !ASSERT_TRUE(t->ks[402] && t->ks[403], "chain engaged") ||
	    !ASSERT_EQ(t->fb[402], 0, "a chain hop does not fall back") ||
	    !ASSERT_EQ(gw_state(t->mgr, 402), VIFD_GW_RUNNING, "402 running"))
		goto out;
	if (!ASSERT_OK(srv_listen(&s[2]), "403 back") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, t->fb[401] == 402 && !t->ks[401] &&
					      !t->ks[402] && !t->ks[403], 1500),
			 "401 -> 402 again"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	for (i = 0; i < 4; i++)
		srv_kill(&s[i]);
	t_close(t);
	for (i = 0; i < 4; i++)
		tun_close(&tun[i]);
	return ret;
}

/*
 * Every VLAN: adds stay linear (each one re-derives only what it can
 * affect), the dump sees them all, removes leave nothing.
 */
static int test_many_vifs(void)
{
	struct vifd_gateway none = { .type = VIFD_GW_NONE };
	struct gw_status *st = NULL;
	struct t *t = NULL;
	uint64_t t0, ms;
	int ret = -1, v, n = VIF_VLAN_MAX - VIF_VLAN_MIN + 1;

	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		return -1;
	st = calloc(n, sizeof(*st));
	if (!ASSERT_TRUE(st, "calloc"))
		goto out;
	t0 = loop_now_ms();
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++)
		if (!ASSERT_OK(gw_add(t->mgr, v, &none, VIFD_KS_FALLBACK,
				      v == VIF_VLAN_MAX ? 1 : v + 1), "add"))
			goto out;
	ms = loop_now_ms() - t0;
	printf("  %d gw_add(): %llu ms\n", n, (unsigned long long)ms);
	/* O(n) per add (about 0.5 s here) would show; O(1) takes ~1 ms. */
	if (!ASSERT_TRUE(ms < 100, "4094 adds in under 100 ms") ||
	    !ASSERT_EQ(gw_status_dump(t->mgr, st, n), n, "dump all") ||
	    !ASSERT_EQ(st[n - 1].vlan, VIF_VLAN_MAX, "ascending") ||
	    !ASSERT_EQ(st[0].ks, GW_KS_RELEASED, "no gateway: released"))
		goto out;
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++)
		if (!ASSERT_OK(gw_remove(t->mgr, v), "remove"))
			goto out;
	if (!ASSERT_EQ(gw_status_dump(t->mgr, st, n), 0, "none left"))
		goto out;
	ret = 0;
out:
	free(st);
	t_close(t);
	return ret;
}

/* gw_mgr_free() makes no ops call and leaves nothing running. */
static int test_no_release_on_shutdown(void)
{
	struct tun tun[3] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } };
	struct srv s[3] = { { .lfd = -1 }, { .lfd = -1 }, { .lfd = -1 } };
	struct t *t = NULL;
	struct loop *l = NULL;
	int ret = -1, i, n, fds0, fds1;

	fds0 = fd_count();
	if (!ASSERT_OK(t_open(&t, &fast), "open"))
		goto out;
	l = t->loop;
	for (i = 0; i < 3; i++)
		if (!ASSERT_OK(tun_open(&tun[i], false), "tun") ||
		    !ASSERT_OK(srv_start(&s[i], l,
					 i == 1 ? SRV_SILENT : SRV_OK),
			       "server"))
			goto out;
	/* 101 RUNNING, 102 probing a silent server, 103 FAILED. */
	if (!ASSERT_OK(t_add(t, 101, &tun[0], &s[0], VIFD_KS_BLOCK, 0),
		       "add") ||
	    !ASSERT_OK(t_add(t, 102, &tun[1], &s[1], VIFD_KS_BLOCK, 0),
		       "add") ||
	    !ASSERT_OK(t_add(t, 103, &tun[2], &s[2], VIFD_KS_FALLBACK, 101),
		       "add"))
		goto out;
	srv_kill(&s[2]);
	if (!ASSERT_TRUE(RUN_UNTIL(t, gw_state(t->mgr, 103) ==
					      VIFD_GW_FAILED &&
					      gw_state(t->mgr, 101) ==
					      VIFD_GW_RUNNING &&
					      s[1].accepts > 0, 2000),
			 "states"))
		goto out;
	if (!ASSERT_TRUE(t->ks[102] && !t->ks[101] && t->fb[103] == 101,
			 "before"))
		goto out;
	n = t->nev;
	gw_mgr_free(t->mgr);
	t->mgr = NULL;
	if (!ASSERT_EQ(t->nev, n, "no ops call on free") ||
	    !ASSERT_TRUE(t->ks[102] && t->fb[103] == 101, "left as it was"))
		goto out;
	/*
	 * No timer or watch left behind: the loop stays quiet.  A connect
	 * the kernel completed before the free may still be accepted, so
	 * count from 50 ms on; 400 ms is two probe intervals.
	 */
	for (i = 0; i < 5; i++)
		loop_once(l, 10);
	n = s[0].accepts + s[1].accepts;
	for (i = 0; i < 2; i++) {
		uint64_t t0 = loop_now_ms();

		/* A timer left on the loop would end the wait early. */
		loop_once(l, 2 * FAST_INTERVAL);
		if (!ASSERT_TRUE(loop_now_ms() - t0 >= FAST_INTERVAL,
				 "no timer left on the loop"))
			goto out;
	}
	if (!ASSERT_EQ(s[0].accepts + s[1].accepts, n, "no more probes"))
		goto out;
	ret = 0;
out:
	for (i = 0; i < 3; i++)
		srv_kill(&s[i]);
	t_close(t);
	for (i = 0; i < 3; i++)
		tun_close(&tun[i]);
	fds1 = fd_count();
	if (ret == 0 && !ASSERT_EQ(fds1, fds0, "no fd leaked"))
		ret = -1;
	return ret;
}

/* SIGHUP: a new interval applies to probes already scheduled. */
static int test_settings_update(void)
{
	struct gw_settings slow = { .interval_ms = 1000 }, quick = {
		.interval_ms = 50 }, bad = { .interval_ms = 50,
					     .retry_ms = 60 }, got;
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct t *t = NULL;
	uint64_t t0;
	__u64 done;
	int ret = -1, n;

	if (!ASSERT_OK(t_open(&t, &slow), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_OK), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released"))
		goto out;
	if (!ASSERT_EQ(gw_settings_update(t->mgr, &bad), -EINVAL, "bad") ||
	    (gw_settings_get(t->mgr, &got), !ASSERT_EQ(got.interval_ms, 1000,
						       "kept")))
		goto out;
	/*
	 * Just after a probe finished, so the next one waits for its slot
	 * a second away (a probe in flight would pick the new settings up
	 * when it finishes anyway).
	 */
	done = probes(t, 101);
	if (!ASSERT_TRUE(RUN_UNTIL(t, probes(t, 101) > done, 1500),
			 "a probe"))
		goto out;
	n = s.answers;
	if (!ASSERT_OK(gw_settings_update(t->mgr, &quick), "update"))
		goto out;
	t0 = loop_now_ms();
	if (!ASSERT_TRUE(RUN_UNTIL(t, s.answers > n, 1500), "next probe") ||
	    !ASSERT_TRUE(loop_now_ms() - t0 <= 50 + SLACK_MS,
			 "rescheduled at the new interval"))
		goto out;
	gw_settings_get(t->mgr, &got);
	if (!ASSERT_EQ(got.interval_ms, 50, "interval") ||
	    !ASSERT_EQ(got.retry_ms, 50, "retry derived") ||
	    !ASSERT_EQ(got.timeout_ms, 25, "timeout derived"))
		goto out;
	n = s.answers;
	run_for(t, 1000);
	n = s.answers - n;
	if (!ASSERT_TRUE(n >= 12 && n <= 21, "~20 probes a second at 50 ms")) {
		fprintf(stderr, "  %d probes\n", n);
		goto out;
	}
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

/* gw_update, gw_enable and gw_hold_set. */
static int test_update_enable_hold(void)
{
	struct tun tun = { .fd = -1 };
	struct srv s[2] = { { .lfd = -1 }, { .lfd = -1 } };
	struct vifd_gateway gw, none = { .type = VIFD_GW_NONE };
	struct t *t = NULL;
	int ret = -1, n;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s[0], t->loop, SRV_OK), "server") ||
	    !ASSERT_OK(srv_start(&s[1], t->loop, SRV_OK), "server") ||
	    !ASSERT_OK(t_add(t, 101, &tun, &s[0], VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released"))
		goto out;

	/* A new address restarts: engaged at once, released by its probe. */
	gw = socks_gw(&tun, s[1].port);
	if (!ASSERT_OK(gw_update(t->mgr, 101, &gw, VIFD_KS_BLOCK, 0),
		       "update") ||
	    !ASSERT_TRUE(t->ks[101], "engaged at once") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_STARTING, "starting") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released") ||
	    !ASSERT_TRUE(s[1].answers > 0, "probes the new server"))
		goto out;
	/* Mode only: no restart, no call. */
	n = t->nev;
	if (!ASSERT_OK(gw_update(t->mgr, 101, &gw, VIFD_KS_FALLBACK, 102),
		       "mode only") ||
	    !ASSERT_EQ(t->nev, n, "nothing to do") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_RUNNING, "running"))
		goto out;

	/* No gateway: STOPPED, released, no probes. */
	if (!ASSERT_OK(gw_update(t->mgr, 101, &none, VIFD_KS_BLOCK, 0),
		       "to NONE") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_STOPPED, "stopped") ||
	    !ASSERT_TRUE(!t->ks[101], "released"))
		goto out;
	n = s[1].accepts;
	run_for(t, 2 * FAST_INTERVAL);
	if (!ASSERT_EQ(s[1].accepts, n, "no probes without a gateway"))
		goto out;

	/* Probing off: STOPPED with a gateway fails closed. */
	if (!ASSERT_OK(gw_update(t->mgr, 101, &gw, VIFD_KS_BLOCK, 0),
		       "back to SOCKS5") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released") ||
	    !ASSERT_OK(gw_enable(t->mgr, 101, false), "disable") ||
	    !ASSERT_EQ(gw_state(t->mgr, 101), VIFD_GW_STOPPED, "stopped") ||
	    !ASSERT_TRUE(t->ks[101], "engaged while not probed"))
		goto out;
	n = s[1].accepts;
	run_for(t, 2 * FAST_INTERVAL);
	if (!ASSERT_EQ(s[1].accepts, n, "no probes while disabled") ||
	    !ASSERT_OK(gw_enable(t->mgr, 101, true), "enable") ||
	    !ASSERT_TRUE(RUN_UNTIL(t, !t->ks[101], 1000), "released"))
		goto out;

	/* An operator hold wins over health. */
	if (!ASSERT_OK(gw_hold_set(t->mgr, 101, true), "hold") ||
	    !ASSERT_TRUE(t->ks[101], "held"))
		goto out;
	run_for(t, 2 * FAST_INTERVAL);
	if (!ASSERT_TRUE(t->ks[101], "still held") ||
	    !ASSERT_OK(gw_hold_set(t->mgr, 101, false), "unhold") ||
	    !ASSERT_TRUE(!t->ks[101], "released"))
		goto out;
	ret = t->violations ? -1 : 0;
out:
	srv_kill(&s[0]);
	srv_kill(&s[1]);
	t_close(t);
	tun_close(&tun);
	return ret;
}

/* A failing ops call is retried until it sticks. */
static int test_ops_retry(void)
{
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct gw_status st;
	struct t *t = NULL;
	int ret = -1;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_CLOSE), "server"))
		goto out;
	t->check = false; /* the failed engage is the point */
	t->fail_ks = 3;
	if (!ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_OK(gw_status(t->mgr, 101, &st), "status") ||
	    !ASSERT_EQ(st.ks, GW_KS_UNKNOWN, "unknown after a failure") ||
	    !ASSERT_EQ(st.ks_err, -EIO, "the error"))
		goto out;
	if (!ASSERT_TRUE(RUN_UNTIL(t, t->ks[101], 1000), "engaged at last") ||
	    !ASSERT_EQ(t->ks_calls_failed, 3, "three failures") ||
	    !ASSERT_OK(gw_status(t->mgr, 101, &st), "status") ||
	    !ASSERT_EQ(st.ks, GW_KS_ENGAGED, "engaged") ||
	    !ASSERT_EQ(st.ks_err, 0, "error cleared"))
		goto out;
	ret = 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

/* Callbacks may read but not change the manager. */
static int test_reentry(void)
{
	struct tun tun = { .fd = -1 };
	struct srv s = { .lfd = -1 };
	struct gw_status st[4];
	struct t *t = NULL;
	int ret = -1;

	if (!ASSERT_OK(t_open(&t, &fast), "open") ||
	    !ASSERT_OK(tun_open(&tun, false), "tun") ||
	    !ASSERT_OK(srv_start(&s, t->loop, SRV_OK), "server"))
		goto out;
	t->reenter = true;
	if (!ASSERT_OK(t_add(t, 101, &tun, &s, VIFD_KS_BLOCK, 0), "add") ||
	    !ASSERT_EQ(t->reenter_err, -EBUSY, "gw_add from on_state") ||
	    !ASSERT_EQ(gw_status_dump(t->mgr, st, 4), 1, "one VIF") ||
	    !ASSERT_EQ(st[0].vlan, 101, "vlan") ||
	    !ASSERT_EQ(st[0].socks_port, s.port, "port") ||
	    !ASSERT_EQ(strcmp(st[0].tun, tun.name), 0, "tun"))
		goto out;
	ret = 0;
out:
	srv_kill(&s);
	t_close(t);
	tun_close(&tun);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_settings),
	TEST_CASE(test_add_validation),
	TEST_CASE(test_start_release),
	TEST_CASE(test_window_refused),
	TEST_CASE(test_window_silent),
	TEST_CASE(test_garbage),
	TEST_CASE(test_noauth),
	TEST_CASE(test_closed),
	TEST_CASE(test_silent),
	TEST_CASE(test_half),
	TEST_CASE(test_split_answer),
	TEST_CASE(test_tun),
	TEST_CASE(test_chain),
	TEST_CASE(test_fallback),
	TEST_CASE(test_fallback_no_cascade),
	TEST_CASE(test_fallback_into_chain),
	TEST_CASE(test_many_vifs),
	TEST_CASE(test_no_release_on_shutdown),
	TEST_CASE(test_settings_update),
	TEST_CASE(test_update_enable_hold),
	TEST_CASE(test_ops_retry),
	TEST_CASE(test_reentry),
};

/* As root: a private netns with lo up and a kind of device to make. */
static void setup(void)
{
	if (geteuid() != 0) {
		printf("not root: 'lo' stands in for tun devices\n");
		return;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		printf("unshare(CLONE_NEWNET): %s: 'lo' stands in\n",
		       strerror(errno));
		return;
	}
	if (if_flags_set("lo", IFF_UP, 0)) {
		printf("cannot bring lo up in the new netns\n");
		exit(1);
	}
	if (access("/dev/net/tun", R_OK | W_OK) == 0) {
		g_dev = DEV_TUN;
		printf("own netns, tun devices\n");
	} else if (!sh("ip link add gwprobe0 type dummy 2>/dev/null")) {
		sh("ip link del gwprobe0");
		g_dev = DEV_DUMMY;
		printf("own netns, no /dev/net/tun: dummy devices\n");
	} else {
		printf("own netns, no tun or dummy devices: 'lo' stands in\n");
	}
}

int main(void)
{
	setup();
	return harness_run(cases, ARRAY_SIZE(cases));
}
