/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * args.h - vifdpdk's own options (the part of argv after "--").  Pure:
 * no DPDK calls, so a bad option is reported before EAL starts.
 */
#ifndef VIF_DATAPLANE_DPDK_ARGS_H
#define VIF_DATAPLANE_DPDK_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* DPDK's RTE_DEV_NAME_MAX_LEN; devargs may be longer. */
#define VDP_NAME_MAX 64
#define VDP_DEVARGS_MAX 512
/* Static ports of each kind; RTE_MAX_ETHPORTS bounds the total. */
#define VDP_MAX_STATIC 32

enum vdp_spec_kind {
	VDP_SPEC_TRUNK = 0,
	VDP_SPEC_SERVICE = 1,
	VDP_SPEC_HOST = 2,
};

/* One --trunk / --port / --host-port. */
struct vdp_port_spec {
	enum vdp_spec_kind kind;
	char devargs[VDP_DEVARGS_MAX]; /* for rte_dev_probe, ifindex= removed */
	char name[VDP_NAME_MAX];       /* device name: devargs up to ',' */
	uint32_t ifindex;              /* ifindex=N, 0 = ask the PMD */
	uint32_t mark;                 /* host ports: MARK= */
	bool has_mark;
};

struct vdp_args {
	const char *shm_path;
	bool has_trunk;
	struct vdp_port_spec trunk;
	unsigned int n_ports;
	struct vdp_port_spec ports[VDP_MAX_STATIC];
	unsigned int n_hosts;
	struct vdp_port_spec hosts[VDP_MAX_STATIC];
	unsigned int rx_desc;
	unsigned int tx_desc;
	unsigned int mbufs;
	bool no_rss;
	bool help;
};

/*
 * Parse argv[1..argc-1] (argv[0] is the program name, as getopt wants).
 * Returns 0 or -EINVAL with a one-line reason in err.
 */
int args_parse(int argc, char **argv, struct vdp_args *a, char *err,
	       size_t errlen);
/* Parse one port spec (exposed for tests). 0 or -EINVAL. */
int args_port_spec(const char *arg, enum vdp_spec_kind kind,
		   struct vdp_port_spec *out, char *err, size_t errlen);
void args_usage(FILE *f, const char *prog);

#endif /* VIF_DATAPLANE_DPDK_ARGS_H */
