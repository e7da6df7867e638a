// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifdp - drive the dataplane library by hand (until vifd does it, and for
 * debugging after).  Every command maps to one dp_*() call.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "dp.h"
#include "log.h"

struct cli {
	struct dp_opts opts;
	bool json;
	struct dp *dp;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vifdp [-d PIN_DIR] [-m auto|native|generic] [-j] [-v] COMMAND\n"
"\n"
"  trunk attach IFACE | trunk detach\n"
"  port attach IFACE | port detach IFACE\n"
"  vif add VLAN port IFACE addr A.B.C.D/LEN [host A.B.C.D] [mark N]\n"
"          [table N] [svc-mac MAC] [port-mac MAC] [next-hop VLAN]\n"
"          [inactive] [killswitch]\n"
"  vif del VLAN\n"
"  vif show [VLAN]\n"
"  killswitch VLAN on|off\n"
"  active VLAN on|off\n"
"  chain VLAN NEXT_VLAN|none\n"
"  quota VLAN set BYTES [dir rx|tx|both] [action block|alert]\n"
"  quota VLAN reset | quota VLAN show\n"
"  qinq on|off\n"
"  stats [VLAN]\n"
"  stats clear\n"
"  resume              re-attach fresh programs to every known port\n"
"  teardown            detach everything and unpin\n"
"\n"
"Pin directory default: %s\n", VIF_PIN_DIR);
}

static int ifindex_of(const char *name)
{
	unsigned int idx = if_nametoindex(name);

	if (!idx) {
		fprintf(stderr, "No such interface '%s'\n", name);
		return -ENODEV;
	}
	return (int)idx;
}

static int mac_of(const char *ifname, __u8 mac[6])
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

static int parse_u64(const char *s, __u64 *out)
{
	char *end;

	errno = 0;
	if (!s || *s == '-')
		return -EINVAL;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	return 0;
}

static int parse_vlan(const char *s, __u16 *vlan)
{
	__u64 v;

	if (parse_u64(s, &v) || !policy_vlan_valid(v)) {
		fprintf(stderr, "Bad VLAN '%s': want %u-%u\n", s ? s : "",
			VIF_VLAN_MIN, VIF_VLAN_MAX);
		return -EINVAL;
	}
	*vlan = (__u16)v;
	return 0;
}

static int parse_onoff(const char *s, bool *on)
{
	if (s && !strcmp(s, "on"))
		*on = true;
	else if (s && !strcmp(s, "off"))
		*on = false;
	else {
		fprintf(stderr, "Expected on|off, got '%s'\n", s ? s : "");
		return -EINVAL;
	}
	return 0;
}

static int parse_quota_words(int argc, char **argv, __u32 *flags)
{
	int i;

	*flags = VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX | VIF_F_QUOTA_TX;
	for (i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "dir")) {
			*flags &= ~(VIF_F_QUOTA_RX | VIF_F_QUOTA_TX);
			if (!strcmp(v, "rx"))
				*flags |= VIF_F_QUOTA_RX;
			else if (!strcmp(v, "tx"))
				*flags |= VIF_F_QUOTA_TX;
			else if (!strcmp(v, "both"))
				*flags |= VIF_F_QUOTA_RX | VIF_F_QUOTA_TX;
			else
				goto bad;
		} else if (!strcmp(k, "action")) {
			if (!strcmp(v, "block"))
				*flags |= VIF_F_QUOTA_BLOCK;
			else if (!strcmp(v, "alert"))
				*flags &= ~VIF_F_QUOTA_BLOCK;
			else
				goto bad;
		} else {
			goto bad;
		}
	}
	if (i != argc)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "Bad quota arguments (want dir rx|tx|both, action block|alert)\n");
	return -EINVAL;
}

static int cmd_vif_add(struct cli *c, int argc, char **argv)
{
	struct vif_spec s = { .active = true };
	const char *port = NULL;
	char errbuf[160] = "";
	int i, err, idx;
	__u64 n;
	__u8 plen;

	if (argc < 1 || parse_vlan(argv[0], &s.vlan))
		return -EINVAL;
	for (i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(k, "inactive")) {
			s.active = false;
			continue;
		}
		if (!strcmp(k, "killswitch")) {
			s.killswitch = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "'%s' needs a value\n", k);
			return -EINVAL;
		}
		i++;
		if (!strcmp(k, "port")) {
			port = v;
		} else if (!strcmp(k, "addr")) {
			if (policy_parse_cidr(v, &s.addr, &s.prefix_len))
				goto bad;
		} else if (!strcmp(k, "host")) {
			if (policy_parse_cidr(v, &s.host_addr, &plen))
				goto bad;
		} else if (!strcmp(k, "mark")) {
			if (parse_u64(v, &n) || n > UINT32_MAX)
				goto bad;
			s.mark = (__u32)n;
		} else if (!strcmp(k, "table")) {
			if (parse_u64(v, &n) || n > UINT32_MAX)
				goto bad;
			s.table = (__u32)n;
		} else if (!strcmp(k, "svc-mac")) {
			if (policy_parse_mac(v, s.svc_mac))
				goto bad;
		} else if (!strcmp(k, "port-mac")) {
			if (policy_parse_mac(v, s.port_mac))
				goto bad;
		} else if (!strcmp(k, "next-hop")) {
			if (parse_vlan(v, &s.next_hop))
				return -EINVAL;
		} else {
			fprintf(stderr, "Unknown VIF attribute '%s'\n", k);
			return -EINVAL;
		}
		continue;
bad:
		fprintf(stderr, "Bad value '%s' for '%s'\n", v, k);
		return -EINVAL;
	}
	if (!port) {
		fprintf(stderr, "vif add needs 'port IFACE'\n");
		return -EINVAL;
	}
	idx = ifindex_of(port);
	if (idx < 0)
		return idx;
	s.svc_ifindex = idx;
	if (!s.port_mac[0] && !s.port_mac[1] && !s.port_mac[2] &&
	    !s.port_mac[3] && !s.port_mac[4] && !s.port_mac[5]) {
		err = mac_of(port, s.port_mac);
		if (err)
			return err;
	}
	/* "add" must not silently reset an existing VIF's kill switch,
	 * chain and quota: those have their own commands. */
	{
		struct vif_entry cur;

		if (!dp_vif_get(c->dp, s.vlan, &cur)) {
			fprintf(stderr, "VIF %u exists; delete it first or use killswitch/chain/quota\n",
				s.vlan);
			return -EEXIST;
		}
	}
	err = dp_vif_upsert(c->dp, &s, errbuf, sizeof(errbuf));
	if (err)
		fprintf(stderr, "Couldn't add VIF %u: %s\n", s.vlan,
			errbuf[0] ? errbuf : strerror(-err));
	return err;
}

static void print_entry(const struct cli *c, const struct vif_entry *e,
			bool first)
{
	char addr[INET_ADDRSTRLEN], host[INET_ADDRSTRLEN];
	__u32 plen = __builtin_popcount(e->netmask);

	inet_ntop(AF_INET, &e->addr, addr, sizeof(addr));
	inet_ntop(AF_INET, &e->host_addr, host, sizeof(host));
	if (c->json) {
		printf("%s{\"vlan\":%u,\"ifindex\":%u,\"addr\":\"%s/%u\","
		       "\"host\":\"%s\",\"mark\":%u,\"table\":%u,"
		       "\"active\":%s,\"killswitch\":%s,\"next_hop\":%u,"
		       "\"quota_limit\":%" PRIu64 ",\"quota_flags\":%u,"
		       "\"quota_epoch\":%u,\"gen\":%u}",
		       first ? "" : ",", e->vlan, e->svc_ifindex, addr, plen,
		       host, e->mark, e->table,
		       e->flags & VIF_F_ACTIVE ? "true" : "false",
		       e->flags & VIF_F_KILLSWITCH ? "true" : "false",
		       e->next_hop, (uint64_t)e->quota_limit,
		       e->flags & VIF_QUOTA_FLAGS, e->quota_epoch, e->gen);
		return;
	}
	if (first)
		printf("%-5s %-8s %-18s %-15s %-10s %-6s %-4s %-5s %s\n", "VLAN",
		       "IFINDEX", "ADDR", "HOST", "MARK", "ACTIVE", "KILL",
		       "NEXT", "QUOTA");
	printf("%-5u %-8u %-15s/%-2u %-15s 0x%08x %-6s %-4s %-5u %" PRIu64 "\n",
	       e->vlan, e->svc_ifindex, addr, plen, host, e->mark,
	       e->flags & VIF_F_ACTIVE ? "yes" : "no",
	       e->flags & VIF_F_KILLSWITCH ? "on" : "off", e->next_hop,
	       (uint64_t)e->quota_limit);
}

static int cmd_vif_show(struct cli *c, int argc, char **argv)
{
	struct vif_entry *all;
	__u16 vlan;
	int n, i, err;

	if (argc >= 1) {
		struct vif_entry e;

		if (parse_vlan(argv[0], &vlan))
			return -EINVAL;
		err = dp_vif_get(c->dp, vlan, &e);
		if (err) {
			fprintf(stderr, "VIF %u: %s\n", vlan, strerror(-err));
			return err;
		}
		print_entry(c, &e, true);
		if (c->json)
			printf("\n");
		return 0;
	}
	all = calloc(VIF_VLAN_SLOTS, sizeof(*all));
	if (!all)
		return -ENOMEM;
	n = dp_vif_dump(c->dp, all, VIF_VLAN_SLOTS);
	if (n < 0) {
		free(all);
		return n;
	}
	if (c->json)
		printf("[");
	for (i = 0; i < n; i++)
		print_entry(c, &all[i], i == 0);
	if (c->json)
		printf("]\n");
	free(all);
	return 0;
}

static void print_drops(const __u64 *drops, bool json)
{
	bool first = true;
	int r;

	for (r = 0; r < VIF_DROP__MAX; r++) {
		if (json) {
			printf("%s\"%s\":%" PRIu64, first ? "" : ",",
			       stats_drop_name(r), (uint64_t)drops[r]);
			first = false;
		} else if (drops[r]) {
			printf(" %s=%" PRIu64, stats_drop_name(r),
			       (uint64_t)drops[r]);
		}
	}
}

static void print_vif_stats(const struct cli *c, unsigned int v,
			    const struct vif_stats *s, bool first)
{
	if (c->json) {
		printf("%s{\"vlan\":%u,\"rx_packets\":%" PRIu64
		       ",\"rx_bytes\":%" PRIu64 ",\"tx_packets\":%" PRIu64
		       ",\"tx_bytes\":%" PRIu64 ",\"host_packets\":%" PRIu64
		       ",\"chain_packets\":%" PRIu64 ",\"drops\":{",
		       first ? "" : ",", v, (uint64_t)s->rx_packets,
		       (uint64_t)s->rx_bytes, (uint64_t)s->tx_packets,
		       (uint64_t)s->tx_bytes, (uint64_t)s->host_packets,
		       (uint64_t)s->chain_packets);
		print_drops(s->drops, true);
		printf("}}");
		return;
	}
	printf("vif %u: rx %" PRIu64 " pkts %" PRIu64 " bytes, tx %" PRIu64
	       " pkts %" PRIu64 " bytes (host %" PRIu64 ", chain %" PRIu64
	       "), drops %" PRIu64,
	       v, (uint64_t)s->rx_packets, (uint64_t)s->rx_bytes,
	       (uint64_t)s->tx_packets, (uint64_t)s->tx_bytes,
	       (uint64_t)s->host_packets, (uint64_t)s->chain_packets,
	       (uint64_t)stats_vif_drops(s));
	print_drops(s->drops, false);
	printf("\n");
}

static int cmd_stats(struct cli *c, int argc, char **argv)
{
	struct dp_stats *st;
	bool first = true;
	__u16 only = 0;
	unsigned int v;
	int err;

	if (argc >= 1 && !strcmp(argv[0], "clear"))
		return dp_stats_clear(c->dp);
	if (argc >= 1 && parse_vlan(argv[0], &only))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	err = dp_stats_read(c->dp, st);
	if (err) {
		fprintf(stderr, "Couldn't read stats: %s (%d)\n",
			strerror(-err), err);
		free(st);
		return err;
	}
	if (c->json) {
		printf("{\"global\":{\"trunk_rx_packets\":%" PRIu64
		       ",\"svc_rx_packets\":%" PRIu64 ",\"drops\":{",
		       (uint64_t)st->global.trunk_rx_packets,
		       (uint64_t)st->global.svc_rx_packets);
		print_drops(st->global.drops, true);
		printf("}},\"vifs\":[");
	} else {
		printf("global: trunk rx %" PRIu64 ", service rx %" PRIu64
		       ", drops",
		       (uint64_t)st->global.trunk_rx_packets,
		       (uint64_t)st->global.svc_rx_packets);
		print_drops(st->global.drops, false);
		printf("\n");
	}
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX; v++) {
		const struct vif_stats *s = &st->vif[v];

		if (only && v != only)
			continue;
		if (!only && !s->rx_packets && !s->tx_packets &&
		    !stats_vif_drops(s))
			continue;
		print_vif_stats(c, v, s, first);
		first = false;
	}
	if (c->json)
		printf("]}\n");
	free(st);
	return 0;
}

static int cmd_quota(struct cli *c, int argc, char **argv)
{
	__u32 flags;
	__u16 vlan;
	__u64 n;
	int err;

	if (argc < 2 || parse_vlan(argv[0], &vlan))
		return -EINVAL;
	if (!strcmp(argv[1], "set")) {
		if (argc < 3 || parse_u64(argv[2], &n)) {
			fprintf(stderr, "quota set needs a byte count\n");
			return -EINVAL;
		}
		err = parse_quota_words(argc - 3, argv + 3, &flags);
		return err ?: dp_quota_set(c->dp, vlan, n, n ? flags : 0);
	}
	if (!strcmp(argv[1], "reset"))
		return dp_quota_reset(c->dp, vlan);
	if (!strcmp(argv[1], "show")) {
		struct vif_entry e;

		err = dp_vif_get(c->dp, vlan, &e) ?:
		      dp_quota_usage(c->dp, vlan, &n);
		if (err)
			return err;
		if (c->json)
			printf("{\"vlan\":%u,\"limit\":%" PRIu64
			       ",\"used\":%" PRIu64 ",\"epoch\":%u}\n",
			       vlan, (uint64_t)e.quota_limit, (uint64_t)n,
			       e.quota_epoch);
		else
			printf("vif %u quota: used %" PRIu64 " of %" PRIu64
			       " bytes (epoch %u)\n",
			       vlan, (uint64_t)n, (uint64_t)e.quota_limit,
			       e.quota_epoch);
		return 0;
	}
	fprintf(stderr, "quota: unknown verb '%s'\n", argv[1]);
	return -EINVAL;
}

static bool want_read_only(int argc, char **argv)
{
	if (argc < 1)
		return false;
	if (!strcmp(argv[0], "stats"))
		return !(argc >= 2 && !strcmp(argv[1], "clear"));
	if (!strcmp(argv[0], "vif") && argc >= 2 && !strcmp(argv[1], "show"))
		return true;
	if (!strcmp(argv[0], "quota") && argc >= 3 &&
	    !strcmp(argv[2], "show"))
		return true;
	return false;
}

static int dispatch(struct cli *c, int argc, char **argv)
{
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	bool on;
	__u16 vlan, nh;
	int idx;

	if (!strcmp(cmd, "trunk") && !strcmp(sub, "attach") && argc == 3) {
		idx = ifindex_of(argv[2]);
		return idx < 0 ? idx : dp_trunk_attach(c->dp, idx);
	}
	if (!strcmp(cmd, "trunk") && !strcmp(sub, "detach"))
		return dp_trunk_detach(c->dp);
	if (!strcmp(cmd, "port") && argc == 3) {
		idx = ifindex_of(argv[2]);
		if (idx < 0)
			return idx;
		if (!strcmp(sub, "attach"))
			return dp_port_attach(c->dp, idx);
		if (!strcmp(sub, "detach"))
			return dp_port_detach(c->dp, idx);
	}
	if (!strcmp(cmd, "vif") && !strcmp(sub, "add"))
		return cmd_vif_add(c, argc - 2, argv + 2);
	if (!strcmp(cmd, "vif") && !strcmp(sub, "del") && argc == 3)
		return parse_vlan(argv[2], &vlan) ?: dp_vif_delete(c->dp, vlan);
	if (!strcmp(cmd, "vif") && !strcmp(sub, "show"))
		return cmd_vif_show(c, argc - 2, argv + 2);
	if (!strcmp(cmd, "killswitch") && argc == 3)
		return parse_vlan(argv[1], &vlan) ?: parse_onoff(argv[2], &on) ?:
		       dp_killswitch_set(c->dp, vlan, on);
	if (!strcmp(cmd, "active") && argc == 3)
		return parse_vlan(argv[1], &vlan) ?: parse_onoff(argv[2], &on) ?:
		       dp_active_set(c->dp, vlan, on);
	if (!strcmp(cmd, "chain") && argc == 3) {
		nh = 0;
		return parse_vlan(argv[1], &vlan) ?:
		       (strcmp(argv[2], "none") ? parse_vlan(argv[2], &nh) : 0) ?:
		       dp_chain_set(c->dp, vlan, nh);
	}
	if (!strcmp(cmd, "quota"))
		return cmd_quota(c, argc - 1, argv + 1);
	if (!strcmp(cmd, "qinq") && argc == 2)
		return parse_onoff(argv[1], &on) ?: dp_set_qinq(c->dp, on);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(c, argc - 1, argv + 1);
	if (!strcmp(cmd, "resume"))
		return dp_resume(c->dp);
	if (!strcmp(cmd, "teardown"))
		return dp_teardown(c->dp);
	fprintf(stderr, "Unknown command or wrong arguments: '%s%s%s'\n", cmd,
		*sub ? " " : "", sub);
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct cli c = {};
	int opt, err;

	while ((opt = getopt(argc, argv, "d:m:jvh")) != -1) {
		switch (opt) {
		case 'd':
			c.opts.pin_dir = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				c.opts.mode = DP_XDP_AUTO;
			else if (!strcmp(optarg, "native"))
				c.opts.mode = DP_XDP_NATIVE;
			else if (!strcmp(optarg, "generic"))
				c.opts.mode = DP_XDP_GENERIC;
			else {
				fprintf(stderr, "Bad mode '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			c.json = true;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (log_get_level() < LOG_LVL_DEBUG)
		log_set_level(LOG_LVL_WARN);
	log_hook_libbpf();
	c.opts.read_only = want_read_only(argc, argv);
	err = dp_open(&c.opts, &c.dp);
	if (err) {
		fprintf(stderr, "Couldn't open dataplane at '%s': %s (%d)\n",
			c.opts.pin_dir ? c.opts.pin_dir : VIF_PIN_DIR,
			strerror(-err), err);
		return 1;
	}
	err = dispatch(&c, argc, argv);
	if (err == -ENOENT)
		fprintf(stderr, "vifdp %s: no such VIF\n", argv[0]);
	else if (err && err != -EINVAL)
		fprintf(stderr, "vifdp %s: %s (%d)\n", argv[0], strerror(-err),
			err);
	dp_close(c.dp);
	if (err == -EINVAL)
		return 2;
	return err ? 1 : 0;
}
