// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * killswitch_leak - the kill-switch leak window: from the moment a
 * gateway dies to the first frame the dataplane drops, with gw's default
 * settings, against the real XDP service program.
 *
 *   killswitch_leak [--runs N] [-v]
 *
 * Output on stdout, medians of N runs (default 5):
 *
 *   BENCH killswitch_leak_window_ms     death -> first dropped frame
 *   BENCH killswitch_leak_window_max_ms the worst of the N
 *   BENCH killswitch_detect_ms          death -> dp_killswitch_set() called
 *   BENCH killswitch_set_us             dp_killswitch_set() itself
 *
 * Three processes per run, timed on CLOCK_MONOTONIC (one clock for all):
 *
 *   gateway  a forked SOCKS5 greeting server on 127.0.0.1.  It answers
 *            probes and, right after its third answer, notes the time and
 *            exits: the kernel closes its socket, connects are refused.
 *            Dying just after an answer is the worst phase: the next
 *            probe is a whole interval away.
 *   traffic  a forked child that runs a service-to-host frame of the VIF
 *            through vif_xdp_service (BPF_PROG_TEST_RUN, the real program
 *            and pinned maps) every 50 us, and notes the time of the first
 *            XDP_DROP after a run of XDP_PASS.
 *   vifd     this process: the event loop, gw with default settings and
 *            gw_ops.killswitch = dp_killswitch_set().
 *
 * So the figure is the worst-phase window of a refused gateway: gateway.h
 * gives interval + (threshold - 1) * retry = 1400 ms with the defaults
 * (1600 ms for one that stops answering instead), plus the time of the
 * map update and up to 50 us of frame spacing.  The goal is under
 * 2000 ms.
 *
 * Setup: a new network namespace (lo up, for the gateway's TCP and as the
 * service port's ifindex; a real tun device for gw's tun check when
 * /dev/net/tun exists), the dataplane on a private pin directory
 * VIF_PIN_BASE/bench-leak-<pid>, removed on the way out (SIGINT/SIGTERM
 * included).  Root only: exits 77 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/bpf.h>
#include <linux/if_tun.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp.h"
#include "gateway.h"
#include "loop.h"
#include "pkt.h"
#include "vif_abi.h"

#define RUNS_DEFAULT 5
#define RUNS_MAX 51
#define VLAN 100
#define DIE_AFTER 3        /* answers before the gateway dies */
#define FRAME_GAP_US 50
#define RUN_TIMEOUT_MS 15000
#define FRAME_LEN 64

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	exiting = 1;
}

static const __u8 mac_svc[6] = { 0x02, 0, 0, 0, 0x01, 0x00 };
static const __u8 mac_port[6] = { 0x02, 0, 0, 0, 0x02, 0x00 };

static __be32 ip4(int a, int b, int c, int d)
{
	return htonl((__u32)a << 24 | (__u32)b << 16 | (__u32)c << 8 | d);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct bench {
	struct dp *dp;
	int lo;
	int prog_fd;
	struct pkt frame;
	char tun[IFNAMSIZ];
	int tun_fd;
	bool verbose;

	/* One run. */
	struct loop *loop;
	struct gw_mgr *gw;
	pid_t gw_pid, gen_pid;
	int gw_pipe, gen_pipe;  /* read ends, -1 when done */
	__u64 death_ns, drop_ns, ks_call_ns, ks_set_ns;
	bool released;
	int err;
};

/* ---- children ---------------------------------------------------------- */

/*
 * The gateway: write the port, answer greetings, and after DIE_AFTER
 * answers write the time and exit.  Blocking I/O is fine: it is alone.
 */
static void __attribute__((noreturn)) gateway_main(int wfd)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	static const __u8 ok[2] = { 0x05, 0x00 };
	socklen_t len = sizeof(sa);
	int lfd, fd, answers = 0;
	__u16 port;
	__u64 t;
	__u8 buf[3];

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		_exit(1);
	port = ntohs(sa.sin_port);
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		if (recv(fd, buf, sizeof(buf), MSG_WAITALL) == sizeof(buf) &&
		    buf[0] == 0x05 && write(fd, ok, sizeof(ok)) == sizeof(ok))
			answers++;
		if (answers == DIE_AFTER) {
			t = now_ns();
			if (write(wfd, &t, sizeof(t)) != sizeof(t))
				_exit(1);
			_exit(0); /* the kernel closes lfd: refused from now */
		}
		close(fd);
	}
}

static int run_frame(const struct bench *b, __u32 *retval)
{
	struct xdp_md ctx = { .data_end = b->frame.len,
			      .ingress_ifindex = b->lo };
	__u8 out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b->frame.data,
		    .data_size_in = b->frame.len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(b->prog_fd, &o))
		return -errno;
	*retval = o.retval;
	return 0;
}

/* The traffic: frames until the first drop after a pass; its time. */
static void __attribute__((noreturn)) traffic_main(const struct bench *b,
						   int wfd)
{
	__u64 end = now_ns() + RUN_TIMEOUT_MS * 1000000ull, t = 0;
	bool passed = false;
	__u32 ret;

	while (now_ns() < end) {
		if (run_frame(b, &ret))
			break;
		if (ret == XDP_PASS) {
			passed = true;
		} else if (ret == XDP_DROP && passed) {
			t = now_ns();
			break;
		}
		usleep(FRAME_GAP_US);
	}
	/* 0: no drop seen (or never a pass first). */
	if (write(wfd, &t, sizeof(t)) != sizeof(t))
		_exit(1);
	_exit(0);
}

/* ---- gw_ops: the dataplane ---------------------------------------------- */

static int ops_killswitch(void *ctx, __u16 vlan, bool engage)
{
	struct bench *b = ctx;
	__u64 t0 = now_ns();
	int err;

	err = dp_killswitch_set(b->dp, vlan, engage);
	if (engage && b->released && !b->ks_call_ns) {
		b->ks_call_ns = t0;
		b->ks_set_ns = now_ns() - t0;
	}
	if (!engage && !err)
		b->released = true;
	return err;
}

static const struct gw_ops bench_ops = {
	.killswitch = ops_killswitch,
};

/* ---- one run ----------------------------------------------------------- */

static void on_pipe(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct bench *b = ctx;
	__u64 t = 0;
	ssize_t n;

	n = read(fd, &t, sizeof(t));
	loop_fd_del(l, fd);
	close(fd);
	if (fd == b->gw_pipe) {
		b->gw_pipe = -1;
		b->death_ns = n == sizeof(t) ? t : 0;
	} else {
		b->gen_pipe = -1;
		b->drop_ns = n == sizeof(t) ? t : 0;
	}
	if (n != sizeof(t) || !t)
		b->err = -EPROTO;
}

static int spawn(pid_t *pid, int *rfd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (*pid == 0) {
		close(p[0]);
		*rfd = p[1]; /* the child writes */
		return 0;
	}
	close(p[1]);
	*rfd = p[0];
	return 0;
}

static void reap(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static int run_once(struct bench *b)
{
	struct vifd_gateway gw = {
		.type = VIFD_GW_SOCKS5,
		.socks_addr = htonl(INADDR_LOOPBACK),
	};
	__u64 end;
	__u16 port;
	int err, wfd;

	b->gw_pipe = b->gen_pipe = -1;
	b->gw_pid = b->gen_pid = 0;
	b->death_ns = b->drop_ns = b->ks_call_ns = b->ks_set_ns = 0;
	b->released = false;
	b->err = 0;

	err = loop_new(&b->loop);
	if (err)
		return err;
	err = gw_mgr_new(b->loop, NULL, &bench_ops, b, &b->gw);
	if (err)
		goto out;

	err = spawn(&b->gw_pid, &wfd);
	if (err)
		goto out;
	if (!b->gw_pid)
		gateway_main(wfd);
	b->gw_pipe = wfd;
	if (read(b->gw_pipe, &port, sizeof(port)) != sizeof(port)) {
		err = -EPROTO;
		goto out;
	}
	gw.socks_port = port;
	snprintf(gw.tun, sizeof(gw.tun), "%s", b->tun);
	err = loop_fd_add(b->loop, b->gw_pipe, EPOLLIN, on_pipe, b) ?:
	      gw_add(b->gw, VLAN, &gw, VIFD_KS_BLOCK, 0);
	if (err)
		goto out;

	end = now_ns() + RUN_TIMEOUT_MS * 1000000ull;
	while (!exiting && !b->err && now_ns() < end &&
	       (b->gw_pipe >= 0 || b->gen_pipe >= 0 || !b->gen_pid)) {
		err = loop_once(b->loop, 10);
		if (err)
			goto out;
		/* Released: start the traffic (it must see passes first). */
		if (b->released && !b->gen_pid) {
			err = spawn(&b->gen_pid, &wfd);
			if (err)
				goto out;
			if (!b->gen_pid)
				traffic_main(b, wfd);
			b->gen_pipe = wfd;
			err = loop_fd_add(b->loop, b->gen_pipe, EPOLLIN,
					  on_pipe, b);
			if (err)
				goto out;
		}
	}
	if (exiting)
		err = -EINTR;
	else if (b->err)
		err = b->err;
	else if (!b->drop_ns || !b->death_ns || !b->ks_call_ns)
		err = -ETIMEDOUT;
out:
	/* gw_mgr_free() leaves the switch engaged: the next run's start. */
	gw_mgr_free(b->gw);
	b->gw = NULL;
	if (b->gw_pipe >= 0)
		close(b->gw_pipe);
	if (b->gen_pipe >= 0)
		close(b->gen_pipe);
	reap(&b->gw_pid);
	reap(&b->gen_pid);
	loop_free(b->loop);
	b->loop = NULL;
	return err;
}

/* ---- setup ------------------------------------------------------------- */

static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out:
	close(fd);
	return err;
}

/* A tun with this process as its reader, up; else "lo" stands in. */
static int tun_open(struct bench *b)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int fd, err;

	b->tun_fd = -1;
	snprintf(b->tun, sizeof(b->tun), "lo");
	b->tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (b->tun_fd < 0) {
		fprintf(stderr, "# no /dev/net/tun: 'lo' stands in\n");
		return 0;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vtleak0");
	if (ioctl(b->tun_fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = 0;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	if (!err)
		snprintf(b->tun, sizeof(b->tun), "vtleak0");
	return err;
}

static int vif_add(struct bench *b)
{
	struct vif_spec s = {
		.vlan = VLAN,
		.svc_ifindex = b->lo,
		.mark = VLAN,
		.table = VLAN,
		.addr = ip4(10, 0, 100, 2),
		.prefix_len = 24,
		.host_addr = ip4(10, 0, 100, 1),
		.active = true,
		.killswitch = true, /* created engaged, as vifd would */
	};
	char errbuf[160] = "";
	int err;

	memcpy(s.svc_mac, mac_svc, 6);
	memcpy(s.port_mac, mac_port, 6);
	err = dp_vif_upsert(b->dp, &s, errbuf, sizeof(errbuf));
	if (err)
		fprintf(stderr, "Couldn't add VIF %u: %s\n", VLAN,
			errbuf[0] ? errbuf : strerror(-err));
	return err;
}

/* The frame passes released and drops engaged, or the figure is moot. */
static int verdicts_check(struct bench *b)
{
	__u32 on = 0, off = 0;
	int err;

	err = dp_killswitch_set(b->dp, VLAN, false) ?:
	      run_frame(b, &off) ?:
	      dp_killswitch_set(b->dp, VLAN, true) ?:
	      run_frame(b, &on);
	if (err)
		return err;
	if (off != XDP_PASS || on != XDP_DROP) {
		fprintf(stderr, "Unexpected verdicts: released %u, engaged %u\n",
			off, on);
		return -EPROTO;
	}
	return 0;
}

static int bench_open(struct bench *b, char *pin_dir, size_t len)
{
	struct dp_opts opts = { .pin_dir = pin_dir, .mode = DP_XDP_GENERIC };
	int err;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "Couldn't enter a new network namespace: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	err = lo_up();
	if (err)
		return err;
	b->lo = if_nametoindex("lo");
	if (!b->lo)
		return -ENODEV;
	err = tun_open(b);
	if (err) {
		fprintf(stderr, "Couldn't create a tun device: %s (%d)\n",
			strerror(-err), err);
		return err;
	}
	snprintf(pin_dir, len, "%s/bench-leak-%d", VIF_PIN_BASE, (int)getpid());
	err = dp_open(&opts, &b->dp);
	if (err) {
		fprintf(stderr, "Couldn't open the dataplane on '%s': %s (%d)\n",
			pin_dir, strerror(-err), err);
		return err;
	}
	/*
	 * No trunk: the frame goes to the host, which needs none, and an
	 * XDP trunk on lo would drop the gateway's TCP (untagged frames).
	 */
	err = vif_add(b);
	if (err)
		return err;
	b->prog_fd = dp_prog_fd(b->dp, DP_PROG_SERVICE);
	if (b->prog_fd < 0)
		return b->prog_fd;
	pkt_udp4_frame(&b->frame, mac_port, mac_svc, -1, ip4(10, 0, 100, 2),
		       ip4(10, 0, 100, 1), FRAME_LEN);
	return verdicts_check(b);
}

static void bench_close(struct bench *b)
{
	int err;

	if (b->dp) {
		/* Forget lo as a port first: it has no programs to detach. */
		dp_vif_delete(b->dp, VLAN);
		err = dp_teardown(b->dp);
		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				dp_pin_dir(b->dp), strerror(-err), err);
		dp_close(b->dp);
	}
	if (b->tun_fd >= 0)
		close(b->tun_fd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{},
	};
	double win[RUNS_MAX], det[RUNS_MAX], set[RUNS_MAX], worst = 0;
	struct bench b = { .tun_fd = -1 };
	struct gw_settings s;
	char pin_dir[256];
	int runs = RUNS_DEFAULT, i, c, err;

	while ((c = getopt_long(argc, argv, "n:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			runs = atoi(optarg);
			if (runs < 1 || runs > RUNS_MAX) {
				fprintf(stderr, "--runs: 1..%d\n", RUNS_MAX);
				return 2;
			}
			break;
		case 'v':
			b.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: %s [--runs N] [-v]\n", argv[0]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "# needs root (netns, XDP, bpffs): skipped\n");
		return 77;
	}
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	signal(SIGPIPE, SIG_IGN);

	err = bench_open(&b, pin_dir, sizeof(pin_dir));
	if (err)
		goto out;
	gw_settings_default(&s);
	fprintf(stderr,
		"# defaults: interval %u ms, threshold %u, retry %u ms, timeout %u ms; refused-path formula %u ms; %d runs on '%s'\n",
		s.interval_ms, s.fail_threshold, s.retry_ms, s.timeout_ms,
		s.interval_ms + (s.fail_threshold - 1) * s.retry_ms, runs,
		pin_dir);
	for (i = 0; i < runs; i++) {
		err = run_once(&b);
		if (err) {
			fprintf(stderr, "Run %d failed: %s (%d)\n", i + 1,
				strerror(-err), err);
			goto out;
		}
		win[i] = (b.drop_ns - b.death_ns) / 1e6;
		det[i] = (b.ks_call_ns - b.death_ns) / 1e6;
		set[i] = b.ks_set_ns / 1e3;
		if (win[i] > worst)
			worst = win[i];
		if (b.verbose)
			fprintf(stderr,
				"# run %d: window %.3f ms, detect %.3f ms, set %.1f us\n",
				i + 1, win[i], det[i], set[i]);
	}
	printf("BENCH killswitch_leak_window_ms %.1f ms\n", median(win, runs));
	printf("BENCH killswitch_leak_window_max_ms %.1f ms\n", worst);
	printf("BENCH killswitch_detect_ms %.1f ms\n", median(det, runs));
	printf("BENCH killswitch_set_us %.1f us\n", median(set, runs));
out:
	bench_close(&b);
	return err ? 1 : 0;
}
