// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * args.c - vifdpdk's own options.  Everything is checked here, before EAL
 * starts: a typo costs a clear message, not a second of EAL start-up and
 * a failure deep inside port setup.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "vif_shm.h"

#define DEFAULT_RX_DESC 1024
#define DEFAULT_TX_DESC 1024
#define DEFAULT_MBUFS 32767

enum {
	OPT_TRUNK = 256,
	OPT_PORT,
	OPT_HOST_PORT,
	OPT_SHM,
	OPT_RX_DESC,
	OPT_TX_DESC,
	OPT_MBUFS,
	OPT_NO_RSS,
};

static const struct option long_opts[] = {
	{ "trunk", required_argument, NULL, OPT_TRUNK },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "host-port", required_argument, NULL, OPT_HOST_PORT },
	{ "shm", required_argument, NULL, OPT_SHM },
	{ "rx-desc", required_argument, NULL, OPT_RX_DESC },
	{ "tx-desc", required_argument, NULL, OPT_TX_DESC },
	{ "mbufs", required_argument, NULL, OPT_MBUFS },
	{ "no-rss", no_argument, NULL, OPT_NO_RSS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void args_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [EAL options] -- [options]\n"
		"\n"
		"  --trunk DEVARGS[,ifindex=N]   the 802.1Q trunk port\n"
		"  --port DEVARGS[,ifindex=N]    a service port (repeatable); ports without a kernel ifindex (net_ring, net_null, net_pcap, PCI) need ifindex=N\n"
		"  --host-port [MARK=]DEVARGS    host egress: host-bound frames with routing mark MARK, or all others without MARK= (repeatable)\n"
		"  --shm PATH                    shared state written by vifd (default %s)\n"
		"  --rx-desc N, --tx-desc N      descriptors per queue (default %u, %u)\n"
		"  --mbufs N                     mbuf pool size (default %u)\n"
		"  --no-rss                      one trunk rx queue even with several workers\n"
		"  -h, --help                    this text\n"
		"\n"
		"Workers are the EAL lcores other than the main one (-l 0,1: one worker).\n"
		"Example: %s -l 0,1 --no-huge -m 1024 --no-pci -- --trunk net_af_xdp0,iface=eth1 --port net_af_packet1,iface=vp-101 --host-port net_tap0,iface=vifhost0\n",
		prog, VIF_SHM_DEFAULT_PATH, DEFAULT_RX_DESC, DEFAULT_TX_DESC,
		DEFAULT_MBUFS, prog);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int args_port_spec(const char *arg, enum vdp_spec_kind kind,
		   struct vdp_port_spec *out, char *err, size_t errlen)
{
	char buf[VDP_DEVARGS_MAX], *tok, *save = NULL;
	const char *rest = arg;
	unsigned long v;
	size_t len;
	bool first = true;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	if (kind == VDP_SPEC_HOST) {
		const char *eq = strchr(arg, '=');
		const char *comma = strchr(arg, ',');

		/* "MARK=devargs": an '=' before any ',' whose left side
		 * is a number.  "net_tap0,iface=x" has its '=' after the
		 * comma; "0000:01:00.0" has none. */
		if (eq && (!comma || eq < comma)) {
			char mark[32];

			len = (size_t)(eq - arg);
			if (len == 0 || len >= sizeof(mark)) {
				snprintf(err, errlen,
					 "host port '%s': bad MARK= prefix",
					 arg);
				return -EINVAL;
			}
			memcpy(mark, arg, len);
			mark[len] = '\0';
			if (parse_uint(mark, 0, UINT32_MAX, &v)) {
				snprintf(err, errlen,
					 "host port '%s': mark '%s' is not a 32-bit number",
					 arg, mark);
				return -EINVAL;
			}
			out->mark = (uint32_t)v;
			out->has_mark = true;
			rest = eq + 1;
		}
	}
	len = strlen(rest);
	if (len == 0) {
		snprintf(err, errlen, "empty device arguments in '%s'", arg);
		return -EINVAL;
	}
	if (len >= sizeof(buf)) {
		snprintf(err, errlen, "device arguments too long: '%.40s...'",
			 rest);
		return -EINVAL;
	}
	if (strpbrk(rest, " \t\n")) {
		snprintf(err, errlen, "device arguments '%s' contain blanks",
			 rest);
		return -EINVAL;
	}
	memcpy(buf, rest, len + 1);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), first = false) {
		if (first) {
			if (rest[0] == ',' || strchr(tok, '=')) {
				snprintf(err, errlen,
					 "'%s' does not start with a device name (net_tap0, 0000:01:00.0, ...)",
					 rest);
				return -EINVAL;
			}
			if (strlen(tok) >= sizeof(out->name)) {
				snprintf(err, errlen,
					 "device name '%s' longer than %d",
					 tok, VDP_NAME_MAX - 1);
				return -EINVAL;
			}
			strcpy(out->name, tok);
			strcpy(out->devargs, tok);
			continue;
		}
		if (!strncmp(tok, "ifindex=", 8)) {
			if (parse_uint(tok + 8, 1, INT32_MAX, &v)) {
				snprintf(err, errlen,
					 "'%s': ifindex must be 1..%d, not '%s'",
					 arg, INT32_MAX, tok + 8);
				return -EINVAL;
			}
			out->ifindex = (uint32_t)v;
			continue;
		}
		/* Everything else is the PMD's business. */
		strcat(out->devargs, ",");
		strcat(out->devargs, tok);
	}
	if (!out->name[0]) {
		snprintf(err, errlen, "'%s' has no device name", arg);
		return -EINVAL;
	}
	return 0;
}

/* Names, ifindexes and marks must each be unique across all ports. */
static int args_check(struct vdp_args *a, char *err, size_t errlen)
{
	const struct vdp_port_spec *all[2 * VDP_MAX_STATIC + 1];
	unsigned int n = 0, i, j, defaults = 0;

	if (a->has_trunk)
		all[n++] = &a->trunk;
	for (i = 0; i < a->n_ports; i++)
		all[n++] = &a->ports[i];
	for (i = 0; i < a->n_hosts; i++) {
		all[n++] = &a->hosts[i];
		defaults += !a->hosts[i].has_mark;
	}
	if (n > VDP_MAX_STATIC) {
		snprintf(err, errlen,
			 "%u ports given; this DPDK build serves at most %d (RTE_MAX_ETHPORTS)",
			 n, VDP_MAX_STATIC);
		return -EINVAL;
	}
	if (defaults > 1) {
		snprintf(err, errlen,
			 "more than one --host-port without MARK=: only one can be the default");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (!strcmp(all[i]->name, all[j]->name)) {
				snprintf(err, errlen,
					 "device '%s' given twice", all[i]->name);
				return -EINVAL;
			}
			if (all[i]->ifindex &&
			    all[i]->ifindex == all[j]->ifindex) {
				snprintf(err, errlen,
					 "ifindex %u given to both '%s' and '%s'",
					 all[i]->ifindex, all[i]->name,
					 all[j]->name);
				return -EINVAL;
			}
			if (all[i]->kind == VDP_SPEC_HOST &&
			    all[j]->kind == VDP_SPEC_HOST &&
			    all[i]->has_mark && all[j]->has_mark &&
			    all[i]->mark == all[j]->mark) {
				snprintf(err, errlen,
					 "mark 0x%x has two host ports ('%s', '%s')",
					 all[i]->mark, all[i]->name,
					 all[j]->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int args_parse(int argc, char **argv, struct vdp_args *a, char *err,
	       size_t errlen)
{
	unsigned long v;
	int opt, ret;

	memset(a, 0, sizeof(*a));
	a->shm_path = VIF_SHM_DEFAULT_PATH;
	a->rx_desc = DEFAULT_RX_DESC;
	a->tx_desc = DEFAULT_TX_DESC;
	a->mbufs = DEFAULT_MBUFS;

	/* getopt keeps state in globals; EAL parses its part with getopt
	 * too, later, and resets it itself. */
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_TRUNK:
			if (a->has_trunk) {
				snprintf(err, errlen,
					 "--trunk given twice: one engine serves one trunk");
				return -EINVAL;
			}
			ret = args_port_spec(optarg, VDP_SPEC_TRUNK, &a->trunk,
					     err, errlen);
			if (ret)
				return ret;
			a->has_trunk = true;
			break;
		case OPT_PORT:
		case OPT_HOST_PORT: {
			bool host = opt == OPT_HOST_PORT;
			unsigned int *n = host ? &a->n_hosts : &a->n_ports;
			struct vdp_port_spec *tab = host ? a->hosts : a->ports;

			if (*n >= VDP_MAX_STATIC) {
				snprintf(err, errlen, "too many %s options",
					 host ? "--host-port" : "--port");
				return -EINVAL;
			}
			ret = args_port_spec(optarg,
					     host ? VDP_SPEC_HOST :
						    VDP_SPEC_SERVICE,
					     &tab[*n], err, errlen);
			if (ret)
				return ret;
			(*n)++;
			break;
		}
		case OPT_SHM:
			if (!*optarg) {
				snprintf(err, errlen, "--shm needs a path");
				return -EINVAL;
			}
			a->shm_path = optarg;
			break;
		case OPT_RX_DESC:
		case OPT_TX_DESC:
			if (parse_uint(optarg, 32, 32768, &v)) {
				snprintf(err, errlen,
					 "%s: '%s' is not a number in 32..32768",
					 opt == OPT_RX_DESC ? "--rx-desc" :
							      "--tx-desc",
					 optarg);
				return -EINVAL;
			}
			if (opt == OPT_RX_DESC)
				a->rx_desc = (unsigned int)v;
			else
				a->tx_desc = (unsigned int)v;
			break;
		case OPT_MBUFS:
			if (parse_uint(optarg, 1024, 1u << 24, &v)) {
				snprintf(err, errlen,
					 "--mbufs: '%s' is not a number in 1024..16777216",
					 optarg);
				return -EINVAL;
			}
			a->mbufs = (unsigned int)v;
			break;
		case OPT_NO_RSS:
			a->no_rss = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument",
				 argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s'",
				 argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'",
			 argv[optind]);
		return -EINVAL;
	}
	optind = 1;
	return args_check(a, err, errlen);
}
