// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * veth_pipeline - trunk -> service throughput of the real dataplane over
 * veth, against a minimal redirect program on the same topology.
 * benchmarks/veth_throughput.sh builds the topology and runs this.
 *
 *   veth_pipeline --gen IF --trunk IF --port IF... --sink IF...
 *                 [--vlans K] [--count N] [--runs R] [--batch B]
 *
 *   vifgen_tx (test_run, LIVE_FRAMES) --redirect--> gen IF ==veth==> trunk IF
 *   trunk IF: vif_xdp_trunk, or bench_redirect (alternating runs)
 *     --redirect--> port IF[vlan % nports] ==veth==> sink IF: vifgen_count
 *
 * 64-byte frames, VLANs round-robin over 100..100+K-1; one VIF per VLAN
 * (dp_vif_upsert), VIF v on port v % nports.  bench_redirect (bench.bpf.c)
 * pops nothing and looks nothing up: it redirects by VLAN % 4, which with
 * 4 ports is the same port the dataplane picks, so both runs move the
 * same frames over the same veths.
 *
 * Each run sends N frames, times the send, reads the sinks at once and
 * again after a short settle, so frames still in a veth ring are counted
 * and reported as in flight.  Mpps = counted / test_run's own time (see
 * gen_send()).  Runs alternate dataplane and redirect, R of each; the
 * ratio is the median of the R paired ratios (each dataplane run over the
 * redirect run right after it).  Short runs, many pairs: on a shared VM
 * the machine's speed drifts by up to 2x over seconds, and only runs a few
 * tens of ms apart see the same machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_util.h"
#include "dp.h"
#include "log.h"
#include "pkt.h"
#include "vif_abi.h"
/* No bpf/bench-skel.h wrapper exists: vif_abi.h above stands in for it. */
#include "bench.skel.h"
#include "vifgen-skel.h"

#define PORTS_MAX 4 /* bench.bpf.c's BENCH_PORTS */
#define FRAME_LEN 64
#define VLAN_BASE 100
#define RUNS_MAX 51
#define SETTLE_US 20000

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	exiting = 1;
}

struct pipe_opts {
	const char *gen;
	const char *trunk;
	const char *port[PORTS_MAX];
	const char *sink[PORTS_MAX];
	int nports, nsinks;
	__u32 vlans;
	__u64 count;
	__u32 batch;
	int runs;
	int only; /* -1 alternate, 0 redirect only, 1 dataplane only */
};

struct pipe {
	struct dp *dp;
	struct bench *bench;   /* bench_redirect */
	struct vifgen *gen;    /* vifgen_tx */
	struct vifgen *sink;   /* vifgen_count on every sink */
	int gen_if, trunk_if;
	int port_if[PORTS_MAX];
	int sink_if[PORTS_MAX];
	int nsinks;
	int ncpus;
	struct pkt frame;
	struct dp_stats *st;
};

/* One run's result. */
struct run {
	double mpps, wall_mpps;
	__u64 sent, counted, in_flight, trunk_rx;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ifindex_of(const char *name)
{
	int idx = (int)if_nametoindex(name);

	if (!idx) {
		fprintf(stderr, "No such interface '%s'\n", name);
		return -ENODEV;
	}
	return idx;
}

/* Frames counted by all sinks: vifgen_totals[1], summed over CPUs. */
static int sink_total(struct pipe *p, __u64 *out)
{
	struct { __u64 packets, bytes; } *v;
	__u32 key = 1;
	int cpu, err = 0;

	v = calloc(p->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map__lookup_elem(p->sink->maps.vifgen_totals, &key,
				 sizeof(key), v, sizeof(*v) * p->ncpus, 0)) {
		err = -errno;
		goto out;
	}
	*out = 0;
	for (cpu = 0; cpu < p->ncpus; cpu++)
		*out += v[cpu].packets;
out:
	free(v);
	return err;
}

static int trunk_rx(struct pipe *p, __u64 *out)
{
	int err = dp_stats_read(p->dp, p->st);

	if (!err)
		*out = p->st->global.trunk_rx_packets;
	return err;
}

/*
 * Send n frames from the generator.  *secs is the time test_run itself
 * measured: its loop, including the softirqs that run the veths and both
 * XDP hops inline when each batch re-enables bottom halves, but not the
 * time it yielded the CPU to other tasks (this is a shared 2-core machine)
 * nor the two synchronize_rcu() of every XDP test_run.  *wall is the wall
 * time of the calls, for comparison.
 */
static int gen_send(struct pipe *p, __u64 n, __u32 batch, double *secs,
		    double *wall)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->frame.data,
		    .data_size_in = p->frame.len,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch);
	int fd = bpf_program__fd(p->gen->progs.vifgen_tx), err;
	double t0 = now_s();

	*secs = 0;
	while (n && !exiting) {
		o.repeat = n > 0x7fffffff ? 0x7fffffff : (__u32)n;
		if (bpf_prog_test_run_opts(fd, &o)) {
			err = -errno;
			fprintf(stderr, "Live-frames run failed: %s (%d)\n",
				strerror(-err), err);
			return err;
		}
		n -= o.repeat;
		/* duration is ns per frame, floored: < 0.5% at ~200 ns */
		*secs += (double)o.duration * o.repeat / 1e9;
	}
	*wall = now_s() - t0;
	return exiting ? -EINTR : 0;
}

static int trunk_use(struct pipe *p, bool dataplane)
{
	int fd = dataplane ? dp_prog_fd(p->dp, DP_PROG_TRUNK) :
			     bpf_program__fd(p->bench->progs.bench_redirect);
	int err;

	err = bpf_xdp_attach(p->trunk_if, fd, XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		fprintf(stderr, "Couldn't attach XDP program on iface ifindex %d: %s (%d)\n",
			p->trunk_if, strerror(-err), err);
	return err;
}

static int run_once(struct pipe *p, const struct pipe_opts *o, bool dataplane,
		    struct run *r)
{
	__u64 c0, c1, c2, t0 = 0, t1 = 0;
	double secs, wall;
	int err;

	err = trunk_use(p, dataplane);
	if (err)
		return err;
	/* Warm up: page pool, rings, caches; then let it drain. */
	err = gen_send(p, o->count / 10, o->batch, &secs, &wall);
	if (err)
		return err;
	usleep(SETTLE_US);
	err = sink_total(p, &c0);
	if (!err && dataplane)
		err = trunk_rx(p, &t0);
	if (err)
		return err;
	err = gen_send(p, o->count, o->batch, &secs, &wall) ?: sink_total(p, &c1);
	if (err)
		return err;
	usleep(SETTLE_US);
	err = sink_total(p, &c2);
	if (!err && dataplane)
		err = trunk_rx(p, &t1);
	if (err)
		return err;
	r->sent = o->count;
	r->counted = c2 - c0;
	r->in_flight = c2 - c1;
	r->trunk_rx = t1 - t0;
	r->mpps = r->counted / secs / 1e6;
	r->wall_mpps = r->counted / wall / 1e6;
	fprintf(stderr,
		"# %-9s sent %llu counted %llu (in flight at return %llu) %.3f Mpps (wall %.3f)%s",
		dataplane ? "dataplane" : "redirect",
		(unsigned long long)r->sent, (unsigned long long)r->counted,
		(unsigned long long)r->in_flight, r->mpps, r->wall_mpps,
		dataplane ? "" : "\n");
	if (dataplane)
		fprintf(stderr, ", trunk rx %llu\n",
			(unsigned long long)r->trunk_rx);
	return 0;
}

/* ---- setup ------------------------------------------------------------- */

static int vifs_add(struct pipe *p, __u32 vlans, int nports)
{
	char errbuf[160] = "";
	__u32 i;
	int err;

	for (i = 0; i < vlans; i++) {
		__u16 v = VLAN_BASE + i;
		struct vif_spec s = {
			.vlan = v,
			.svc_ifindex = p->port_if[v % nports],
			.addr = htonl(0x0a000002u | (__u32)v << 8),
			.prefix_len = 24,
			.mark = v,
			.table = v,
			.svc_mac = { 0x02, 0, 0, 0x01, v >> 8, v & 0xff },
			.port_mac = { 0x02, 0, 0, 0x02, v >> 8, v & 0xff },
			.active = true,
		};

		err = dp_vif_upsert(p->dp, &s, errbuf, sizeof(errbuf));
		if (err) {
			fprintf(stderr, "Couldn't add VIF %u: %s\n", v,
				errbuf[0] ? errbuf : strerror(-err));
			return err;
		}
	}
	return 0;
}

static int pipe_open(struct pipe *p, const struct pipe_opts *o,
		     const char *pin_dir)
{
	struct dp_opts dopts = { .pin_dir = pin_dir, .mode = DP_XDP_NATIVE };
	LIBBPF_OPTS(bpf_object_open_opts, bopts, .pin_root_path = pin_dir);
	static const __u8 dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const __u8 src[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	int i, err;

	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		return -EINVAL;
	p->st = calloc(1, sizeof(*p->st));
	if (!p->st)
		return -ENOMEM;
	p->gen_if = ifindex_of(o->gen);
	p->trunk_if = ifindex_of(o->trunk);
	if (p->gen_if < 0 || p->trunk_if < 0)
		return -ENODEV;
	for (i = 0; i < o->nports; i++) {
		p->port_if[i] = ifindex_of(o->port[i]);
		p->sink_if[i] = ifindex_of(o->sink[i]);
		if (p->port_if[i] < 0 || p->sink_if[i] < 0)
			return -ENODEV;
	}

	/* Dataplane: trunk program on the trunk, one VIF per VLAN. */
	err = dp_open(&dopts, &p->dp) ?:
	      dp_trunk_attach(p->dp, p->trunk_if) ?:
	      vifs_add(p, o->vlans, o->nports);
	if (err)
		return err;

	/* Baseline: bench_redirect only, on the dataplane's pinned maps
	 * (libbpf creates every map of the object, so point it at them
	 * rather than at /sys/fs/bpf). */
	p->bench = bench__open_opts(&bopts);
	if (!p->bench)
		return -errno;
	bpf_program__set_autoload(p->bench->progs.bench_base, false);
	bpf_program__set_autoload(p->bench->progs.bench_trunk, false);
	bpf_program__set_autoload(p->bench->progs.bench_service, false);
	bpf_program__set_autoload(p->bench->progs.bench_empty, false);
	err = bench__load(p->bench);
	if (err)
		return err;
	/* With fewer than 4 ports, VLAN % 4 still lands on port % n. */
	for (i = 0; i < PORTS_MAX; i++)
		p->bench->bss->bench_ports[i] = p->port_if[i % o->nports];

	/* Sinks: one program, one counter map, on every sink. */
	p->sink = vifgen__open();
	if (!p->sink)
		return -errno;
	p->sink->rodata->count_action = XDP_DROP;
	bpf_program__set_autoload(p->sink->progs.vifgen_tx, false);
	err = vifgen__load(p->sink);
	if (err)
		return err;
	for (i = 0; i < o->nports; i++) {
		err = bpf_xdp_attach(p->sink_if[i],
				     bpf_program__fd(p->sink->progs.vifgen_count),
				     XDP_FLAGS_DRV_MODE, NULL);
		if (err) {
			fprintf(stderr, "Couldn't attach XDP sink on iface '%s': %s (%d)\n",
				o->sink[i], strerror(-err), err);
			return err;
		}
		p->nsinks++;
	}

	/* Generator: template frame, VLANs round-robin. */
	pkt_udp4_frame(&p->frame, dst, src, VLAN_BASE, htonl(0xc6120001),
		       htonl(0x0a000002), FRAME_LEN);
	p->gen = vifgen__open();
	if (!p->gen)
		return -errno;
	p->gen->rodata->target_ifindex = p->gen_if;
	p->gen->rodata->vlan_base = VLAN_BASE;
	p->gen->rodata->vlan_count = o->vlans;
	p->gen->rodata->tagged = 1;
	for (i = 0; i < FRAME_LEN; i++)
		p->gen->rodata->tmpl[i] = p->frame.data[i];
	bpf_program__set_autoload(p->gen->progs.vifgen_count, false);
	return vifgen__load(p->gen);
}

static void pipe_close(struct pipe *p)
{
	int i, err;

	for (i = 0; i < p->nsinks; i++)
		bpf_xdp_detach(p->sink_if[i], XDP_FLAGS_DRV_MODE, NULL);
	vifgen__destroy(p->gen);
	vifgen__destroy(p->sink);
	bench__destroy(p->bench);
	if (p->dp) {
		/* Our program may be on the trunk: dp only detaches its own. */
		if (p->trunk_if > 0)
			bpf_xdp_detach(p->trunk_if, XDP_FLAGS_DRV_MODE, NULL);
		err = dp_teardown(p->dp);
		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				dp_pin_dir(p->dp), strerror(-err), err);
		dp_close(p->dp);
	}
	free(p->st);
}

/* Print one mode's figures. */
static void report(const char *name, struct run *r, int n)
{
	double mpps[RUNS_MAX], lost = 0;
	__u64 sent = 0, counted = 0, flight = 0;
	int i;

	for (i = 0; i < n; i++) {
		mpps[i] = r[i].mpps;
		sent += r[i].sent;
		counted += r[i].counted;
		flight += r[i].in_flight;
	}
	lost = (double)sent - (double)counted;
	printf("BENCH veth_%s_mpps %.3f Mpps\n", name,
	       bench_median(mpps, n));
	printf("BENCH veth_%s_sent %llu frames\n", name,
	       (unsigned long long)sent);
	printf("BENCH veth_%s_counted %llu frames\n", name,
	       (unsigned long long)counted);
	printf("BENCH veth_%s_lost %.0f frames\n", name, lost);
	printf("BENCH veth_%s_counted_ratio %.6f x\n", name,
	       (double)counted / (double)sent);
	printf("BENCH veth_%s_in_flight %llu frames\n", name,
	       (unsigned long long)flight);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gen", required_argument, NULL, 'g' },
		{ "trunk", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "sink", required_argument, NULL, 's' },
		{ "vlans", required_argument, NULL, 'k' },
		{ "count", required_argument, NULL, 'c' },
		{ "runs", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "only", required_argument, NULL, 'o' },
		{},
	};
	struct pipe_opts o = { .vlans = 1000, .count = 250000, .batch = 64,
			       .runs = 41, .only = -1 };
	struct run dpr[RUNS_MAX], rdr[RUNS_MAX];
	struct pipe p = {};
	char pin_dir[128];
	double ratio[RUNS_MAX];
	int opt, i, err;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'g': o.gen = optarg; break;
		case 't': o.trunk = optarg; break;
		case 'p':
			if (o.nports == PORTS_MAX)
				goto usage;
			o.port[o.nports++] = optarg;
			break;
		case 's':
			if (o.nsinks == PORTS_MAX)
				goto usage;
			o.sink[o.nsinks++] = optarg;
			break;
		case 'k': o.vlans = strtoul(optarg, NULL, 0); break;
		case 'c': o.count = strtoull(optarg, NULL, 0); break;
		case 'r': o.runs = atoi(optarg); break;
		case 'b': o.batch = strtoul(optarg, NULL, 0); break;
		case 'o':
			if (!strcmp(optarg, "dataplane"))
				o.only = 1;
			else if (!strcmp(optarg, "redirect"))
				o.only = 0;
			else
				goto usage;
			break;
		default: goto usage;
		}
	}
	if (!o.gen || !o.trunk || !o.nports || o.nports != o.nsinks ||
	    !o.vlans || VLAN_BASE + o.vlans - 1 > VIF_VLAN_MAX || !o.count ||
	    o.runs < 1 || o.runs > RUNS_MAX)
		goto usage;
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	log_hook_libbpf();
	log_set_level(LOG_LVL_WARN);
	err = bench_pin_cpu();
	if (err >= 0)
		fprintf(stderr, "# pinned to CPU %d\n", err);
	snprintf(pin_dir, sizeof(pin_dir), "%s/veth-%d", VIF_PIN_BASE,
		 (int)getpid());
	err = pipe_open(&p, &o, pin_dir);
	if (err) {
		fprintf(stderr, "Couldn't set up the pipeline: %s (%d)\n",
			strerror(-err), err);
		goto out;
	}
	fprintf(stderr, "# %u VLANs over %d ports, %llu frames per run, batch %u, %d runs each\n",
		o.vlans, o.nports, (unsigned long long)o.count, o.batch,
		o.runs);
	if (o.only >= 0) {
		/* One mode only, for a profiler or a noise check. */
		for (i = 0; i < o.runs && !err; i++)
			err = run_once(&p, &o, o.only, &dpr[i]);
		goto out;
	}
	for (i = 0; i < o.runs && !err; i++)
		err = run_once(&p, &o, true, &dpr[i]) ?:
		      run_once(&p, &o, false, &rdr[i]);
	if (err)
		goto out;
	report("dataplane", dpr, o.runs);
	report("redirect", rdr, o.runs);
	/* Paired: each dataplane run against the redirect run after it. */
	for (i = 0; i < o.runs; i++)
		ratio[i] = dpr[i].mpps / rdr[i].mpps;
	printf("BENCH veth_dataplane_ratio %.3f x\n",
	       bench_median(ratio, o.runs));
	/* bench_median() sorted them: the spread, for the reader of the log. */
	fprintf(stderr, "# paired ratio: min %.3f, quartiles %.3f / %.3f, max %.3f\n",
		ratio[0], ratio[o.runs / 4], ratio[o.runs - 1 - o.runs / 4],
		ratio[o.runs - 1]);
out:
	pipe_close(&p);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
usage:
	fprintf(stderr,
		"Usage: veth_pipeline --gen IF --trunk IF --port IF... --sink IF... [--vlans K] [--count N] [--runs R<=%d] [--batch B] [--only dataplane|redirect]\n",
		RUNS_MAX);
	return 2;
}
