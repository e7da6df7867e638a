// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifgen - line-rate traffic generator and frame sink for tests and
 * benchmarks, built on BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 * (Debian's xdp-trafficgen does not run on this kernel; pktgen is absent).
 *
 *   vifgen send --dev IFACE --count N [--vlan-base B] [--vlans K]
 *               [--len L] [--dst MAC] [--src MAC] [--tpid 0x8100|0x88a8]
 *               [--untagged] [--batch N] [--json]
 *   vifgen sink attach --dev IFACE --pin NAME [--pass]
 *   vifgen sink read --pin NAME [--json]
 *   vifgen sink detach --dev IFACE --pin NAME
 *
 * send: frames are sent out of IFACE (redirect into it, so a veth delivers
 * them to its peer).  VLANs go round-robin over B..B+K-1; the VLAN id is
 * also stamped into the source MAC's last two bytes, so a sink behind a
 * tag-popping dataplane can still tell which VLAN a frame came in on.
 * sink: counts frames on IFACE's XDP hook; maps pinned under
 * VIF_PIN_BASE/gen-NAME so a later "read" finds them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "policy.h"
#include "vifgen-skel.h"

#define GEN_LEN_MAX 1500

struct gen_opts {
	const char *dev;
	const char *pin;
	__u64 count;
	__u32 vlan_base;
	__u32 vlans;
	__u32 len;
	__u32 batch;
	__u16 tpid;
	bool untagged;
	bool pass;
	bool json;
	__u8 dst[6];
	__u8 src[6];
};

struct gen_counter {
	__u64 packets;
	__u64 bytes;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vifgen send --dev IFACE --count N [--vlan-base B] [--vlans K]\n"
"                   [--len L] [--dst MAC] [--src MAC] [--tpid T]\n"
"                   [--untagged] [--batch N] [--json]\n"
"       vifgen sink attach --dev IFACE --pin NAME [--pass]\n"
"       vifgen sink read --pin NAME [--json]\n"
"       vifgen sink detach --dev IFACE --pin NAME\n");
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A tagged IPv4/UDP frame: eth, tag, 20 bytes IP, 8 bytes UDP, zeros. */
static void build_frame(const struct gen_opts *o, __u8 *f)
{
	__u8 *ip, *udp;
	__u32 iplen, sum = 0;
	int i, off;

	memset(f, 0, o->len);
	memcpy(f, o->dst, 6);
	memcpy(f + 6, o->src, 6);
	if (o->untagged) {
		f[12] = 0x08;
		f[13] = 0x00;
		off = 14;
	} else {
		f[12] = o->tpid >> 8;
		f[13] = o->tpid & 0xff;
		f[14] = (o->vlan_base >> 8) & 0x0f;
		f[15] = o->vlan_base & 0xff;
		f[16] = 0x08;
		f[17] = 0x00;
		off = 18;
	}
	ip = f + off;
	iplen = o->len - off;
	ip[0] = 0x45;
	ip[2] = iplen >> 8;
	ip[3] = iplen & 0xff;
	ip[8] = 64;
	ip[9] = 17;
	/* 198.18.0.1 -> 198.18.0.2 (RFC 2544 benchmarking range) */
	ip[12] = 198, ip[13] = 18, ip[14] = 0, ip[15] = 1;
	ip[16] = 198, ip[17] = 18, ip[18] = 0, ip[19] = 2;
	for (i = 0; i < 20; i += 2)
		sum += (ip[i] << 8) | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	ip[10] = sum >> 8;
	ip[11] = sum & 0xff;
	udp = ip + 20;
	udp[0] = 0x30, udp[1] = 0x39; /* 12345 */
	udp[2] = 0x30, udp[3] = 0x3a; /* 12346 */
	udp[4] = (iplen - 20) >> 8;
	udp[5] = (iplen - 20) & 0xff;
}

static int cmd_send(const struct gen_opts *o)
{
	__u8 *frame = NULL;
	struct vifgen *skel;
	__u64 t0, t1;
	int ifindex, err, i;

	ifindex = if_nametoindex(o->dev);
	if (!ifindex) {
		fprintf(stderr, "No such interface '%s'\n", o->dev);
		return -ENODEV;
	}
	if (o->len < 64 || o->len > GEN_LEN_MAX) {
		fprintf(stderr, "Frame length %u outside 64..%u\n", o->len,
			GEN_LEN_MAX);
		return -EINVAL;
	}
	skel = vifgen__open();
	if (!skel)
		return -errno;
	frame = calloc(1, o->len);
	if (!frame) {
		err = -ENOMEM;
		goto out;
	}
	build_frame(o, frame);
	skel->rodata->target_ifindex = ifindex;
	skel->rodata->vlan_base = o->vlan_base;
	skel->rodata->vlan_count = o->vlans;
	skel->rodata->tagged = !o->untagged;
	for (i = 0; i < 64; i++)
		skel->rodata->tmpl[i] = frame[i];
	err = vifgen__load(skel);
	if (err) {
		fprintf(stderr, "Couldn't load generator: %s (%d)\n",
			strerror(-err), err);
		goto out;
	}
	{
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame,
			    .data_size_in = o->len,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			    .batch_size = o->batch);
		__u64 left = o->count, sent = 0;

		t0 = now_ns();
		while (left) {
			__u32 rep = left > 0x7fffffff ? 0x7fffffff : left;

			topts.repeat = rep;
			err = bpf_prog_test_run_opts(
				bpf_program__fd(skel->progs.vifgen_tx), &topts);
			if (err) {
				err = -errno;
				fprintf(stderr, "Live-frames run failed: %s (%d)\n",
					strerror(-err), err);
				goto out;
			}
			left -= rep;
			sent += rep;
		}
		t1 = now_ns();
		if (o->json)
			printf("{\"sent\":%" PRIu64 ",\"ns\":%" PRIu64
			       ",\"mpps\":%.3f}\n",
			       (uint64_t)sent, (uint64_t)(t1 - t0),
			       sent * 1e3 / (double)(t1 - t0));
		else
			printf("sent %" PRIu64 " frames in %.3f ms: %.3f Mpps\n",
			       (uint64_t)sent, (t1 - t0) / 1e6,
			       sent * 1e3 / (double)(t1 - t0));
	}
out:
	free(frame);
	vifgen__destroy(skel);
	return err;
}

static void pin_path(char *buf, size_t len, const char *pin, const char *map)
{
	if (map)
		snprintf(buf, len, "%s/gen-%s/%s", VIF_PIN_BASE, pin, map);
	else
		snprintf(buf, len, "%s/gen-%s", VIF_PIN_BASE, pin);
}

static int cmd_sink_attach(const struct gen_opts *o)
{
	char path[256];
	struct vifgen *skel;
	int ifindex, err;

	ifindex = if_nametoindex(o->dev);
	if (!ifindex) {
		fprintf(stderr, "No such interface '%s'\n", o->dev);
		return -ENODEV;
	}
	skel = vifgen__open();
	if (!skel)
		return -errno;
	skel->rodata->count_action = o->pass ? XDP_PASS : XDP_DROP;
	err = vifgen__load(skel);
	if (err)
		goto out;
	mkdir(VIF_PIN_BASE, 0700);
	pin_path(path, sizeof(path), o->pin, NULL);
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	pin_path(path, sizeof(path), o->pin, "vifgen_totals");
	unlink(path);
	err = bpf_map__pin(skel->maps.vifgen_totals, path);
	pin_path(path, sizeof(path), o->pin, "vifgen_by_vlan");
	unlink(path);
	err = err ?: bpf_map__pin(skel->maps.vifgen_by_vlan, path);
	if (err)
		goto out;
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.vifgen_count),
			     XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		fprintf(stderr, "Couldn't attach XDP sink on iface '%s': %s (%d)\n",
			o->dev, strerror(-err), err);
out:
	vifgen__destroy(skel);
	return err;
}

static int cmd_sink_read(const struct gen_opts *o)
{
	int ncpus = libbpf_num_possible_cpus(), fd, err = 0, cpu;
	struct gen_counter *tot = NULL, rx = {};
	__u64 *byv = NULL, by[4096] = {};
	char path[256];
	__u32 key, v;
	bool first = true;

	if (ncpus <= 0)
		return -EINVAL;
	tot = calloc(ncpus, sizeof(*tot));
	byv = calloc(ncpus, sizeof(*byv));
	if (!tot || !byv) {
		err = -ENOMEM;
		goto out;
	}
	pin_path(path, sizeof(path), o->pin, "vifgen_totals");
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "No sink pinned as '%s': %s\n", o->pin,
			strerror(-err));
		goto out;
	}
	key = 1;
	if (!bpf_map_lookup_elem(fd, &key, tot))
		for (cpu = 0; cpu < ncpus; cpu++) {
			rx.packets += tot[cpu].packets;
			rx.bytes += tot[cpu].bytes;
		}
	close(fd);
	pin_path(path, sizeof(path), o->pin, "vifgen_by_vlan");
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		for (v = 0; v < 4096; v++)
			if (!bpf_map_lookup_elem(fd, &v, byv))
				for (cpu = 0; cpu < ncpus; cpu++)
					by[v] += byv[cpu];
		close(fd);
	}
	if (o->json) {
		printf("{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"by_vlan\":{",
		       (uint64_t)rx.packets, (uint64_t)rx.bytes);
		for (v = 0; v < 4096; v++) {
			if (!by[v])
				continue;
			printf("%s\"%u\":%" PRIu64, first ? "" : ",", v,
			       (uint64_t)by[v]);
			first = false;
		}
		printf("}}\n");
	} else {
		printf("packets %" PRIu64 " bytes %" PRIu64 "\n",
		       (uint64_t)rx.packets, (uint64_t)rx.bytes);
	}
out:
	free(tot);
	free(byv);
	return err;
}

static int cmd_sink_detach(const struct gen_opts *o)
{
	char path[256];
	int ifindex;

	ifindex = if_nametoindex(o->dev);
	if (ifindex)
		bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	pin_path(path, sizeof(path), o->pin, "vifgen_totals");
	unlink(path);
	pin_path(path, sizeof(path), o->pin, "vifgen_by_vlan");
	unlink(path);
	pin_path(path, sizeof(path), o->pin, NULL);
	rmdir(path);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "vlan-base", required_argument, NULL, 'b' },
		{ "vlans", required_argument, NULL, 'k' },
		{ "len", required_argument, NULL, 'l' },
		{ "dst", required_argument, NULL, 'D' },
		{ "src", required_argument, NULL, 'S' },
		{ "tpid", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'B' },
		{ "pin", required_argument, NULL, 'p' },
		{ "untagged", no_argument, NULL, 'u' },
		{ "pass", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct gen_opts o = {
		.count = 1000000, .vlan_base = 100, .vlans = 1, .len = 64,
		.batch = 64, .tpid = 0x8100,
		.dst = { 0x02, 0, 0, 0, 0, 0x02 },
		.src = { 0x02, 0, 0, 0, 0, 0x01 },
	};
	const char *cmd, *sub = NULL;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': o.dev = optarg; break;
		case 'c': o.count = strtoull(optarg, NULL, 0); break;
		case 'b': o.vlan_base = strtoul(optarg, NULL, 0); break;
		case 'k': o.vlans = strtoul(optarg, NULL, 0); break;
		case 'l': o.len = strtoul(optarg, NULL, 0); break;
		case 't': o.tpid = strtoul(optarg, NULL, 0); break;
		case 'B': o.batch = strtoul(optarg, NULL, 0); break;
		case 'p': o.pin = optarg; break;
		case 'u': o.untagged = true; break;
		case 'P': o.pass = true; break;
		case 'j': o.json = true; break;
		case 'D':
			if (policy_parse_mac(optarg, o.dst))
				goto bad;
			break;
		case 'S':
			if (policy_parse_mac(optarg, o.src))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind >= argc)
		goto bad;
	cmd = argv[optind];
	if (optind + 1 < argc)
		sub = argv[optind + 1];
	log_hook_libbpf();
	if (!strcmp(cmd, "send") && o.dev)
		err = cmd_send(&o);
	else if (!strcmp(cmd, "sink") && sub && o.pin &&
		 !strcmp(sub, "attach") && o.dev)
		err = cmd_sink_attach(&o);
	else if (!strcmp(cmd, "sink") && sub && o.pin && !strcmp(sub, "read"))
		err = cmd_sink_read(&o);
	else if (!strcmp(cmd, "sink") && sub && o.pin &&
		 !strcmp(sub, "detach") && o.dev)
		err = cmd_sink_detach(&o);
	else
		goto bad;
	return err ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
