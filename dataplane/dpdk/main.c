// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifdpdk - the DPDK dataplane: vif_logic.h on worker lcores, policy and
 * counters in the shared memory vifd writes (include/vif_shm.h).
 *
 *   vifdpdk [EAL options] -- --trunk DEVARGS --port DEVARGS,ifindex=N ...
 *
 * main() parses vifdpdk's own options first (after "--"), then starts
 * EAL, then runs the engine: ports up, workers launched, and the main
 * lcore's loop (heartbeat, port requests) until SIGINT/SIGTERM.  Every
 * failure returns up to here as -errno; only main() turns it into an
 * exit code (0 ok, 1 runtime failure, 2 bad arguments).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "args.h"
#include "portreq.h"
#include "ports.h"
#include "shm.h"
#include "vdp_log.h"
#include "workers.h"

#define EXIT_USAGE 2
/* Main lcore period: heartbeat and port requests. */
#define TICK_NS (100 * 1000 * 1000L)

RTE_LOG_REGISTER(vdp_logtype, user.vif.dpdk, INFO);

/* The only global: signal handlers can reach nothing else. */
static volatile sig_atomic_t force_quit;

static void on_signal(int sig)
{
	(void)sig;
	force_quit = 1;
}

struct vdp_engine {
	const struct vdp_args *args;
	struct vif_shm *shm;
	struct vdp_ports ports;
	struct vdp_workers *ws;
	struct vdp_portreq pr;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* Another engine on the same file would double-count and fight over
 * ports: refuse while the recorded one lives. */
static int engine_claim(struct vdp_engine *e)
{
	pid_t pid = (pid_t)e->shm->hdr.engine_pid;

	if (pid && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)) {
		VDP_LOG(ERR,
			"engine pid %d already serves '%s': stop it first\n",
			(int)pid, e->args->shm_path);
		return -EBUSY;
	}
	return 0;
}

static int open_static(struct vdp_engine *e, const struct vdp_port_spec *s)
{
	char err[512] = "";
	uint16_t port;
	int ret;

	ret = ports_open(&e->ports, s, -1, &port, err, sizeof(err));
	if (ret)
		VDP_LOG(ERR, "%s port '%s': %s\n",
			s->kind == VDP_SPEC_TRUNK ? "trunk" :
			s->kind == VDP_SPEC_HOST ? "host" : "service",
			s->devargs, err);
	return ret;
}

static int open_ports(struct vdp_engine *e)
{
	const struct vdp_args *a = e->args;
	unsigned int i;
	int ret;

	if (a->has_trunk) {
		ret = open_static(e, &a->trunk);
		if (ret)
			return ret;
	}
	for (i = 0; i < a->n_ports; i++) {
		ret = open_static(e, &a->ports[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < a->n_hosts; i++) {
		ret = open_static(e, &a->hosts[i]);
		if (ret)
			return ret;
	}
	if (!a->has_trunk)
		VDP_LOG(WARNING,
			"no --trunk: frames for the trunk are dropped until vifd requests one\n");
	if (!a->n_hosts)
		VDP_LOG(WARNING,
			"no --host-port: host-bound frames are dropped\n");
	return 0;
}

/* vifd owns config; the engine only says how it reads it. */
static void report_trunk(struct vdp_engine *e)
{
	uint16_t t = ports_trunk(&e->ports);
	__u32 want = e->shm->config.trunk_ifindex;

	if (t == VDP_NO_PORT)
		return;
	if (!want)
		VDP_LOG(WARNING,
			"the writer has set no trunk_ifindex yet: service frames are dropped (no_trunk) until it does\n");
	else if (e->ports.p[t].ifindex && want != e->ports.p[t].ifindex)
		VDP_LOG(INFO,
			"config trunk_ifindex %u is served by trunk port %u (ifindex %u)\n",
			want, t, e->ports.p[t].ifindex);
}

static void log_stats(struct vdp_engine *e)
{
	struct vdp_lcore_stats st;

	workers_stats(e->ws, &st);
	VDP_LOG(INFO,
		"rx %" PRIu64 " tx %" PRIu64 " tx_full %" PRIu64
		" no_egress %" PRIu64 " aborted %" PRIu64 "\n",
		st.rx, st.tx, st.tx_full, st.no_egress, st.aborted);
}

static void main_loop(struct vdp_engine *e)
{
	struct timespec tick = { 0, TICK_NS };

	while (!force_quit) {
		__atomic_store_n(&e->shm->hdr.heartbeat_ns, now_ns(),
				 __ATOMIC_RELAXED);
		portreq_poll(&e->pr);
		/* A signal cuts the sleep short: that is the point. */
		nanosleep(&tick, NULL);
	}
}

static int engine_run(struct vdp_engine *e)
{
	char err[256] = "";
	int ret;

	ret = vif_shm_map(e->args->shm_path, VIF_SHM_CREATE, &e->shm, err,
			  sizeof(err));
	if (ret) {
		VDP_LOG(ERR, "Couldn't map shared state '%s': %s (%d): %s\n",
			e->args->shm_path, strerror(-ret), ret, err);
		return ret;
	}
	ret = engine_claim(e);
	if (ret)
		goto out_unmap;
	e->ws = workers_new(e->shm, e->ports.tx_lock);
	if (!e->ws) {
		ret = -errno;
		goto out_unmap;
	}
	ret = ports_init(&e->ports, e->args, workers_count(e->ws));
	if (ret)
		goto out_workers;
	ret = open_ports(e);
	if (ret)
		goto out_ports;
	report_trunk(e);
	ret = workers_republish(e->ws, &e->ports);
	if (ret) {
		VDP_LOG(ERR, "Couldn't build the port map: %s (%d)\n",
			strerror(-ret), ret);
		goto out_ports;
	}
	portreq_init(&e->pr, e->shm, &e->ports, e->ws);
	ret = workers_start(e->ws);
	if (ret)
		goto out_ports;

	e->shm->hdr.n_workers = workers_count(e->ws);
	__atomic_store_n(&e->shm->hdr.heartbeat_ns, now_ns(),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&e->shm->hdr.engine_pid, (__u32)getpid(),
			 __ATOMIC_RELEASE);
	VDP_LOG(INFO, "running: %u worker(s), shared state '%s'\n",
		workers_count(e->ws), e->args->shm_path);

	main_loop(e);

	VDP_LOG(INFO, "stopping\n");
	workers_stop(e->ws);
	log_stats(e);
	ret = 0;
out_ports:
	ports_close_all(&e->ports);
	ports_fini(&e->ports);
out_workers:
	workers_free(e->ws);
	/* Only our own claim is cleared: a refused second engine must not
	 * erase the running one's. */
	if (e->shm->hdr.engine_pid == (__u32)getpid())
		__atomic_store_n(&e->shm->hdr.engine_pid, 0, __ATOMIC_RELEASE);
out_unmap:
	vif_shm_unmap(e->shm);
	return ret;
}

/* The index of "--" in argv, or argc when there is none. */
static int find_separator(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			return i;
	return argc;
}

int main(int argc, char **argv)
{
	struct vdp_engine e;
	struct vdp_args args;
	char err[512] = "";
	int sep, ret;

	/* DPDK logs to stdout: one line at a time into files and pipes
	 * too, so a log read while we run (or after a crash) is whole. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Ours first: a typo should not cost an EAL start. */
	sep = find_separator(argc, argv);
	if (sep < argc) {
		argv[sep] = argv[0]; /* getopt's argv[0] */
		ret = args_parse(argc - sep, argv + sep, &args, err,
				 sizeof(err));
		argv[sep] = "--";
	} else {
		char *none[] = { argv[0], NULL };

		ret = args_parse(1, none, &args, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "vifdpdk: %s\nTry '%s -- --help'.\n", err,
			argv[0]);
		return EXIT_USAGE;
	}
	if (args.help) {
		args_usage(stdout, argv[0]);
		return EXIT_SUCCESS;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	ret = rte_eal_init(sep, argv);
	if (ret < 0) {
		ret = rte_errno;
		fprintf(stderr,
			"vifdpdk: Couldn't initialise EAL: %s (%d); EAL options go before '--', vifdpdk's after it\n",
			rte_strerror(ret), -ret);
		return ret == EINVAL ? EXIT_USAGE : EXIT_FAILURE;
	}

	memset(&e, 0, sizeof(e));
	e.args = &args;
	ret = engine_run(&e);
	if (ret)
		fprintf(stderr, "vifdpdk: %s (%d)\n", strerror(-ret), ret);
	rte_eal_cleanup();
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
