// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dp_xdp.c - the XDP engine behind dp.h: skeleton lifecycle, pinning, the
 * writer's flock, attach/detach, and the table ops of dp_impl.h over the
 * pinned maps.  The policy protocol itself is dp.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_impl.h"
#include "log.h"
#include "vifplane-skel.h"

/* Our clsact filter: fixed handle and priority so we find only ours. */
#define DP_TC_HANDLE 0x5646
#define DP_TC_PRIO 0x5646

enum dp_map_id {
	DP_MAP_CONFIG,
	DP_MAP_INDEX,
	DP_MAP_POLICY,
	DP_MAP_PORTS,
	DP_MAP_PORTS_BIG,
	DP_MAP_STATS,
	DP_MAP_GLOBAL,
	DP_MAP_QSHR,
	DP_MAP_QPCPU,
	DP_MAP__MAX,
};

static const char *const dp_map_names[DP_MAP__MAX] = {
	[DP_MAP_CONFIG] = VIF_MAP_CONFIG,
	[DP_MAP_INDEX] = VIF_MAP_INDEX,
	[DP_MAP_POLICY] = VIF_MAP_POLICY,
	[DP_MAP_PORTS] = VIF_MAP_PORTS,
	[DP_MAP_PORTS_BIG] = VIF_MAP_PORTS_BIG,
	[DP_MAP_STATS] = VIF_MAP_STATS,
	[DP_MAP_GLOBAL] = VIF_MAP_GLOBAL,
	[DP_MAP_QSHR] = VIF_MAP_QUOTA_SHARED,
	[DP_MAP_QPCPU] = VIF_MAP_QUOTA_PCPU,
};

struct dp_xdp {
	struct dp dp;          /* first: dp.c sees only this */
	struct vifplane *skel; /* NULL when read-only */
	enum dp_xdp_mode mode;
	int map_fd[DP_MAP__MAX];
	/* Tell our programs from other instances': the XDP programs use
	 * vif_config, all three (the tc one too) use vif_index. */
	__u32 config_map_id, index_map_id;
	int lock_fd;
};

static struct dp_xdp *to_xdp(struct dp *dp)
{
	return (struct dp_xdp *)dp;
}

static int map_fd(struct dp *dp, enum dp_map_id id)
{
	return to_xdp(dp)->map_fd[id];
}

/* Mount bpffs on VIF_PIN_ROOT if nothing is there yet (systemd does). */
static int ensure_bpffs(void)
{
	struct statfs st;
	int err;

	if (statfs(VIF_PIN_ROOT, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", VIF_PIN_ROOT, "bpf", 0, "mode=0700")) {
		err = -errno;
		pr_warn("Couldn't mount bpffs on %s: %s (%d)\n", VIF_PIN_ROOT,
			strerror(-err), err);
		return err;
	}
	return 0;
}

/* mkdir -p for the pin directory, which must sit on bpffs. */
static int make_pin_dir(const char *dir)
{
	char path[PATH_MAX], *p;
	struct statfs st;
	int err;

	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	if (statfs(path, &st) || st.f_type != BPF_FS_MAGIC) {
		pr_warn("Pin directory '%s' is not on a bpf filesystem\n", dir);
		return -EINVAL;
	}
	return 0;
fail:
	err = -errno;
	pr_warn("Couldn't create pin directory '%s': %s (%d)\n", path,
		strerror(-err), err);
	return err;
}

static int dp_lock(struct dp_xdp *x)
{
	int err;

	x->lock_fd = open(x->dp.where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->lock_fd < 0) {
		err = -errno;
		pr_warn("Couldn't open pin directory '%s': %s (%d)\n",
			x->dp.where, strerror(-err), err);
		return err;
	}
	if (flock(x->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			err = -EBUSY;
		pr_warn("Dataplane at '%s' is held by another writer: %s (%d)\n",
			x->dp.where, strerror(-err), err);
		return err;
	}
	return 0;
}

/* pin_dir is at most PATH_MAX - 1; the map names are short. */
#define DP_MAP_PATH_MAX (PATH_MAX + 32)

static void map_path(const struct dp_xdp *x, int i, char *buf)
{
	snprintf(buf, DP_MAP_PATH_MAX, "%s/%s", x->dp.where, dp_map_names[i]);
}

static int open_pinned_maps(struct dp_xdp *x)
{
	char path[DP_MAP_PATH_MAX];
	int i, err;

	for (i = 0; i < DP_MAP__MAX; i++) {
		map_path(x, i, path);
		x->map_fd[i] = bpf_obj_get(path);
		if (x->map_fd[i] < 0) {
			err = -errno;
			pr_warn("Couldn't open pinned map '%s': %s (%d)\n", path,
				strerror(-err), err);
			return err;
		}
	}
	return 0;
}

static int load_skeleton(struct dp_xdp *x)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = x->dp.where);
	struct bpf_map *maps[DP_MAP__MAX];
	int i, err;

	x->skel = vifplane__open_opts(&oopts);
	if (!x->skel) {
		err = -errno;
		pr_warn("Couldn't open BPF object: %s (%d)\n", strerror(-err),
			err);
		return err;
	}
	err = vifplane__load(x->skel);
	if (err) {
		pr_warn("Couldn't load BPF programs (pinned maps under '%s' from an incompatible build?): %s (%d)\n",
			x->dp.where, strerror(-err), err);
		return err;
	}
	maps[DP_MAP_CONFIG] = x->skel->maps.vif_config;
	maps[DP_MAP_INDEX] = x->skel->maps.vif_index;
	maps[DP_MAP_POLICY] = x->skel->maps.vif_policy;
	maps[DP_MAP_PORTS] = x->skel->maps.vif_ports;
	maps[DP_MAP_PORTS_BIG] = x->skel->maps.vif_ports_big;
	maps[DP_MAP_STATS] = x->skel->maps.vif_stats;
	maps[DP_MAP_GLOBAL] = x->skel->maps.vif_global;
	maps[DP_MAP_QSHR] = x->skel->maps.vif_quota_shr;
	maps[DP_MAP_QPCPU] = x->skel->maps.vif_quota_pcpu;
	for (i = 0; i < DP_MAP__MAX; i++) {
		x->map_fd[i] = dup(bpf_map__fd(maps[i]));
		if (x->map_fd[i] < 0)
			return -errno;
	}
	return 0;
}

/* Stamp the ABI version into a fresh config; refuse a foreign one. */
static int check_config(struct dp_xdp *x, bool writable)
{
	struct bpf_map_info info = {};
	__u32 zero = 0, len = sizeof(info);
	struct vif_dp_config cfg;

	if (bpf_map_lookup_elem(x->map_fd[DP_MAP_CONFIG], &zero, &cfg))
		return -errno;
	if (cfg.abi_version && cfg.abi_version != VIF_ABI_VERSION) {
		pr_warn("Pinned dataplane at '%s' has ABI version %u, this build speaks %u\n",
			x->dp.where, cfg.abi_version, VIF_ABI_VERSION);
		return -EPROTO;
	}
	if (bpf_obj_get_info_by_fd(x->map_fd[DP_MAP_CONFIG], &info, &len))
		return -errno;
	x->config_map_id = info.id;
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(x->map_fd[DP_MAP_INDEX], &info, &len))
		return -errno;
	x->index_map_id = info.id;
	if (cfg.abi_version || !writable)
		return 0;
	cfg.abi_version = VIF_ABI_VERSION;
	cfg.quota_slice = VIF_QUOTA_SLICE_DEFAULT;
	if (bpf_map_update_elem(x->map_fd[DP_MAP_CONFIG], &zero, &cfg,
				BPF_ANY))
		return -errno;
	return 0;
}

static void xdp_close(struct dp *dp)
{
	struct dp_xdp *x = to_xdp(dp);
	int i;

	for (i = 0; i < DP_MAP__MAX; i++)
		if (x->map_fd[i] >= 0)
			close(x->map_fd[i]);
	vifplane__destroy(x->skel);
	if (x->lock_fd >= 0)
		close(x->lock_fd);
	free(dp->scratch);
	free(x);
}

static int xdp_prog_fd(struct dp *dp, enum dp_prog which)
{
	struct vifplane *skel = to_xdp(dp)->skel;

	switch (which) {
	case DP_PROG_TRUNK:
		return bpf_program__fd(skel->progs.vif_xdp_trunk);
	case DP_PROG_SERVICE:
		return bpf_program__fd(skel->progs.vif_xdp_service);
	case DP_PROG_TC_MARK:
		return bpf_program__fd(skel->progs.vif_tc_mark);
	}
	return -EINVAL;
}

/* ---- attach / detach ------------------------------------------------ */

/* One nested attribute walk; type without the NESTED/BYTEORDER bits. */
#define DP_NLA_OK(a, rem)                                                  \
	((rem) >= (int)sizeof(struct nlattr) &&                            \
	 (a)->nla_len >= sizeof(struct nlattr) && (a)->nla_len <= (rem))
#define DP_NLA_NEXT(a, rem)                                                \
	((rem) -= NLA_ALIGN((a)->nla_len),                                 \
	 (struct nlattr *)((char *)(a) + NLA_ALIGN((a)->nla_len)))
#define DP_NLA_DATA(a) ((void *)((char *)(a) + NLA_HDRLEN))

static __u32 nla_u32(const struct nlattr *a)
{
	__u32 v = 0;

	if (a->nla_len >= NLA_HDRLEN + sizeof(v))
		memcpy(&v, DP_NLA_DATA(a), sizeof(v));
	return v;
}

/* IFLA_XDP of one RTM_NEWLINK answer into mode and prog_id. */
static int parse_xdp_attr(const struct nlmsghdr *nh, __u32 *prog_id)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	struct nlattr *a = (struct nlattr *)((char *)ifi +
					     NLMSG_ALIGN(sizeof(*ifi)));
	int rem = (int)nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	__u32 id = 0, skb_id = 0, drv_id = 0;
	int mode = XDP_ATTACHED_NONE;

	for (; DP_NLA_OK(a, rem); a = DP_NLA_NEXT(a, rem)) {
		struct nlattr *x;
		int xrem;

		if ((a->nla_type & NLA_TYPE_MASK) != IFLA_XDP)
			continue;
		x = DP_NLA_DATA(a);
		xrem = a->nla_len - NLA_HDRLEN;
		for (; DP_NLA_OK(x, xrem); x = DP_NLA_NEXT(x, xrem)) {
			switch (x->nla_type & NLA_TYPE_MASK) {
			case IFLA_XDP_ATTACHED:
				if (x->nla_len > NLA_HDRLEN)
					mode = *(__u8 *)DP_NLA_DATA(x);
				break;
			case IFLA_XDP_PROG_ID:
				id = nla_u32(x);
				break;
			case IFLA_XDP_SKB_PROG_ID:
				skb_id = nla_u32(x);
				break;
			case IFLA_XDP_DRV_PROG_ID:
				drv_id = nla_u32(x);
				break;
			}
		}
	}
	if (prog_id)
		*prog_id = mode == XDP_ATTACHED_SKB ? skb_id ?: id :
			   mode == XDP_ATTACHED_DRV ? drv_id ?: id : id;
	return mode;
}

/*
 * libbpf's bpf_xdp_query() dumps every link of the netns and picks ours
 * out (~34 ms with 4094 veths, and O(n^2) over a teardown).  One
 * RTM_GETLINK for the ifindex costs the same for one link as for
 * thousands.  Stats are skipped: only IFLA_XDP is wanted.
 */
int dp_xdp_mode_of(int ifindex, __u32 *prog_id)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct nlattr ext_hdr;
		__u32 ext_mask;
	} req = {
		.nh.nlmsg_len = sizeof(req),
		.nh.nlmsg_type = RTM_GETLINK,
		.nh.nlmsg_flags = NLM_F_REQUEST,
		.nh.nlmsg_seq = 1,
		.ifi.ifi_family = AF_UNSPEC,
		.ifi.ifi_index = ifindex,
		.ext_hdr.nla_len = NLA_HDRLEN + sizeof(__u32),
		.ext_hdr.nla_type = IFLA_EXT_MASK,
		.ext_mask = RTEXT_FILTER_SKIP_STATS,
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nh;
	char *buf = NULL;
	ssize_t len;
	int sock, err;

	_Static_assert(sizeof(req) == NLMSG_LENGTH(sizeof(struct ifinfomsg)) +
					      NLA_HDRLEN + sizeof(__u32),
		       "no padding in the request");
	if (prog_id)
		*prog_id = 0;
	if (ifindex <= 0)
		return -EINVAL;
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0)
		return -errno;
	if (sendto(sock, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		err = -errno;
		goto out;
	}
	/* The answer's size: a link may carry many attributes. */
	do
		len = recv(sock, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (len < 0 && errno == EINTR);
	if (len < 0) {
		err = -errno;
		goto out;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	do
		len = recv(sock, buf, len, 0);
	while (len < 0 && errno == EINTR);
	if (len < 0) {
		err = -errno;
		goto out;
	}
	nh = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(nh, (size_t)len)) {
		err = -EBADMSG;
	} else if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		err = nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) ? e->error :
								  -EBADMSG;
		/* No such link: nothing attached, as libbpf answered. */
		if (err == -ENODEV)
			err = XDP_ATTACHED_NONE;
	} else if (nh->nlmsg_type == RTM_NEWLINK &&
		   nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg))) {
		err = parse_xdp_attr(nh, prog_id);
	} else {
		err = -EBADMSG;
	}
out:
	free(buf);
	close(sock);
	return err;
}

/*
 * Is prog_id one of ours, i.e. a program of this instance?  Another pin
 * directory's instance has programs of the same names, so the test is that
 * the program uses our vif_config map.
 */
static bool prog_is_ours(const struct dp_xdp *x, __u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[16] = {}, i;
	bool ours = false;
	int fd;

	if (!prog_id)
		return false;
	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < info.nr_map_ids && i < 16; i++)
			if (ids[i] == x->config_map_id ||
			    ids[i] == x->index_map_id)
				ours = true;
	close(fd);
	return ours;
}

static int xdp_attach(struct dp_xdp *x, int ifindex, struct bpf_program *prog)
{
	char ifname[IF_NAMESIZE] = "?";
	int fd = bpf_program__fd(prog);
	__u32 flags, old_id = 0;
	int err, mode;

	/*
	 * A fresh port has no program: attach natively without asking
	 * first (one syscall fewer per VIF in a bulk create).
	 * UPDATE_IF_NOEXIST makes the kernel refuse if anything is there;
	 * then we look.
	 */
	if (x->mode != DP_XDP_GENERIC &&
	    !bpf_xdp_attach(ifindex, fd,
			    XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
			    NULL))
		return 0;
	if_indextoname(ifindex, ifname);
	mode = dp_xdp_mode_of(ifindex, &old_id);
	if (mode > XDP_ATTACHED_NONE && !prog_is_ours(x, old_id)) {
		pr_warn("Iface '%s' runs another XDP program (id %u): not replacing it\n",
			ifname, old_id);
		return -EBUSY;
	}
	/* Replacing ours in the mode it runs in is atomic: no gap. */
	if (mode == XDP_ATTACHED_SKB && x->mode != DP_XDP_NATIVE)
		flags = XDP_FLAGS_SKB_MODE;
	else
		flags = x->mode == DP_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
						     XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(ifindex, fd, flags, NULL);
	if (err && x->mode == DP_XDP_AUTO && flags == XDP_FLAGS_DRV_MODE) {
		pr_warn("Native XDP unavailable on iface '%s' (%s), using generic mode: expect far lower throughput\n",
			ifname, strerror(-err));
		err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL);
	}
	if (err)
		pr_warn("Couldn't attach XDP program on iface '%s': %s (%d)\n",
			ifname, strerror(-err), err);
	return err;
}

static int xdp_detach(const struct dp_xdp *x, int ifindex)
{
	__u32 prog_id = 0;
	int mode, err;

	mode = dp_xdp_mode_of(ifindex, &prog_id);
	if (mode < 0)
		return mode;
	if (mode == XDP_ATTACHED_NONE || !prog_is_ours(x, prog_id))
		return 0;
	err = bpf_xdp_detach(ifindex,
			     mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE :
							XDP_FLAGS_DRV_MODE,
			     NULL);
	if (err)
		pr_warn("Couldn't detach XDP program from ifindex %d: %s (%d)\n",
			ifindex, strerror(-err), err);
	return err;
}

/* Our clsact filter, if any: fixed handle and priority. */
static int clsact_detach(const struct dp_xdp *x, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_TC_HANDLE,
		    .priority = DP_TC_PRIO);
	int err;

	/* Only our filter goes; the clsact qdisc may carry others'. */
	if (bpf_tc_query(&hook, &opts) || !prog_is_ours(x, opts.prog_id))
		return 0;
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	err = bpf_tc_detach(&hook, &opts);
	if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
		return 0;
	return err;
}

static int clsact_attach(int ifindex, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_TC_HANDLE,
		    .priority = DP_TC_PRIO, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_warn("Couldn't create clsact on ifindex %d: %s (%d)\n",
			ifindex, strerror(-err), err);
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		pr_warn("Couldn't attach tc program on ifindex %d: %s (%d)\n",
			ifindex, strerror(-err), err);
	return err;
}

/*
 * The routing-mark program is a clsact filter, not tcx: every tcx attach
 * waits for an RCU grace period (the kernel swaps the device's program
 * bundle and synchronises), 20-27 ms each here, which made creating 4092
 * VIFs take 63 s instead of 8.  clsact's cost is the qdisc (about 0.3 ms).
 */
static int tc_attach(struct dp_xdp *x, int ifindex, int prog_fd)
{
	return clsact_attach(ifindex, prog_fd);
}

static int tc_detach(const struct dp_xdp *x, int ifindex)
{
	return clsact_detach(x, ifindex);
}

static int xdp_trunk_attach(struct dp *dp, int ifindex)
{
	struct dp_xdp *x = to_xdp(dp);

	return xdp_attach(x, ifindex, x->skel->progs.vif_xdp_trunk);
}

static int xdp_trunk_detach(struct dp *dp, int ifindex)
{
	return xdp_detach(to_xdp(dp), ifindex);
}

static int xdp_port_attach(struct dp *dp, int ifindex)
{
	struct dp_xdp *x = to_xdp(dp);
	int err;

	/* tc first: no host-bound frame may arrive without its mark. */
	err = tc_attach(x, ifindex,
			bpf_program__fd(x->skel->progs.vif_tc_mark));
	if (err)
		return err;
	err = xdp_attach(x, ifindex, x->skel->progs.vif_xdp_service);
	if (err)
		tc_detach(x, ifindex);
	return err;
}

static int xdp_port_detach(struct dp *dp, int ifindex)
{
	struct dp_xdp *x = to_xdp(dp);
	int err, err2;

	err = xdp_detach(x, ifindex);
	err2 = tc_detach(x, ifindex);
	return err ?: err2;
}

/* Served = one of our programs (this instance's) is attached. */
static int xdp_port_status(struct dp *dp, int ifindex,
			   struct dp_port_info *info)
{
	int mode;

	mode = dp_xdp_mode_of(ifindex, &info->prog_id);
	if (mode < 0)
		return mode;
	info->xdp_mode = mode;
	return mode > XDP_ATTACHED_NONE && prog_is_ours(to_xdp(dp),
							info->prog_id) ?
		       DP_PORT_SERVED :
		       DP_PORT_NONE;
}

static int unpin_all(struct dp_xdp *x)
{
	char path[DP_MAP_PATH_MAX];
	int i, err = 0;

	for (i = 0; i < DP_MAP__MAX; i++) {
		map_path(x, i, path);
		if (unlink(path) && errno != ENOENT && !err)
			err = -errno;
	}
	if (rmdir(x->dp.where) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

/*
 * Every interface of this netns that runs one of our programs: the maps
 * know only ports that have a VIF, but a port may be attached without one.
 */
static int detach_everywhere(struct dp_xdp *x)
{
	struct if_nameindex *ifs, *i;
	int err, ret = 0;

	ifs = if_nameindex();
	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		__u32 prog_id = 0;

		/* Our tc filter only ever sits beside our XDP program. */
		if (dp_xdp_mode_of(i->if_index, &prog_id) <= 0 ||
		    !prog_is_ours(x, prog_id))
			continue;
		err = xdp_detach(x, i->if_index);
		if (!ret)
			ret = err;
		err = tc_detach(x, i->if_index);
		if (!ret)
			ret = err;
	}
	if_freenameindex(ifs);
	return ret;
}

static int xdp_teardown(struct dp *dp)
{
	struct dp_xdp *x = to_xdp(dp);
	int err, ret;

	ret = detach_everywhere(x);
	err = unpin_all(x);
	return ret ?: err;
}

/* ---- table ops -------------------------------------------------------- */

static int lookup(struct dp *dp, enum dp_map_id id, __u32 key, void *val)
{
	return bpf_map_lookup_elem(map_fd(dp, id), &key, val) ? -errno : 0;
}

static int update(struct dp *dp, enum dp_map_id id, __u32 key,
		  const void *val)
{
	return bpf_map_update_elem(map_fd(dp, id), &key, val, BPF_ANY) ? -errno :
									  0;
}

static int xdp_config_read(struct dp *dp, struct vif_dp_config *cfg)
{
	return lookup(dp, DP_MAP_CONFIG, 0, cfg);
}

static int xdp_config_write(struct dp *dp, const struct vif_dp_config *cfg)
{
	return update(dp, DP_MAP_CONFIG, 0, cfg);
}

static int xdp_index_read(struct dp *dp, __u16 vlan, __u32 *index)
{
	return lookup(dp, DP_MAP_INDEX, vlan, index);
}

/* An ARRAY update of a 4-byte value is one aligned 32-bit copy. */
static int xdp_index_write(struct dp *dp, __u16 vlan, __u32 index)
{
	return update(dp, DP_MAP_INDEX, vlan, &index);
}

static int xdp_policy_read(struct dp *dp, __u32 key, struct vif_entry *e)
{
	return lookup(dp, DP_MAP_POLICY, key, e);
}

static int xdp_policy_write(struct dp *dp, __u32 key,
			    const struct vif_entry *e)
{
	return update(dp, DP_MAP_POLICY, key, e);
}

/*
 * Batch-read count entries of an ARRAY (per-CPU values: vsize covers all
 * CPUs) from key first into buf.  The batch cursor is the previous key.
 */
static int array_read_range(int fd, __u32 first, __u32 count, void *buf,
			    size_t vsize)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	__u32 *keys, n, done = 0, in_batch = first - 1, out_batch = 0;
	void *in = first ? &in_batch : NULL;
	int err = 0;

	keys = calloc(count, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (done < count) {
		n = count - done;
		err = bpf_map_lookup_batch(fd, in, &out_batch, keys + done,
					   (char *)buf + done * vsize, &n,
					   &bopts);
		done += n;
		if (err) {
			err = -errno;
			if (err == -ENOENT)
				err = 0;
			break;
		}
		in = &out_batch;
	}
	free(keys);
	return err;
}

static int xdp_index_read_all(struct dp *dp, __u32 *idx)
{
	return array_read_range(map_fd(dp, DP_MAP_INDEX), 0, VIF_VLAN_SLOTS,
				idx, sizeof(*idx));
}

static int xdp_policy_read_all(struct dp *dp, struct vif_entry *pol)
{
	return array_read_range(map_fd(dp, DP_MAP_POLICY), 0,
				VIF_POLICY_SLOTS, pol, sizeof(*pol));
}

/* Which map holds ifindex: the array for small ones, else the hash. */
static enum dp_map_id port_map(__u32 ifindex)
{
	return ifindex < VIF_PORT_SLOTS ? DP_MAP_PORTS : DP_MAP_PORTS_BIG;
}

static int xdp_port_get(struct dp *dp, __u32 ifindex, __u16 *vlan)
{
	struct vif_port p;
	int err;

	err = lookup(dp, port_map(ifindex), ifindex, &p);
	if (err == -ENOENT) {
		*vlan = 0;
		return 0;
	}
	if (!err)
		*vlan = p.vlan;
	return err;
}

static int xdp_port_set(struct dp *dp, __u32 ifindex, __u16 vlan)
{
	struct vif_port p = { .vlan = vlan };

	if (vlan || ifindex < VIF_PORT_SLOTS)
		return update(dp, port_map(ifindex), ifindex, &p);
	if (bpf_map_delete_elem(map_fd(dp, DP_MAP_PORTS_BIG), &ifindex) &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

/* Every service port the maps know of. */
static int xdp_for_each_port(struct dp *dp, int (*fn)(struct dp *, int))
{
	__u32 key, next, *prev = NULL, i;
	struct vif_port *ports;
	int err, ret;

	ports = calloc(VIF_PORT_SLOTS, sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	ret = array_read_range(map_fd(dp, DP_MAP_PORTS), 0, VIF_PORT_SLOTS,
			       ports, sizeof(*ports));
	for (i = 0; !ret && i < VIF_PORT_SLOTS; i++) {
		if (!ports[i].vlan)
			continue;
		err = fn(dp, (int)i);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	free(ports);
	while (!bpf_map_get_next_key(map_fd(dp, DP_MAP_PORTS_BIG), prev,
				     &next)) {
		key = next;
		prev = &key;
		err = fn(dp, (int)key);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	return ret;
}

static int xdp_quota_shr_zero(struct dp *dp, __u32 key)
{
	struct vif_quota_shared zero = {};

	return update(dp, DP_MAP_QSHR, key, &zero);
}

static int xdp_global_rows(struct dp *dp, struct vif_global_stats *rows)
{
	return lookup(dp, DP_MAP_GLOBAL, 0, rows);
}

static int xdp_stats_rows(struct dp *dp, __u32 first, void *buf,
			  size_t buflen)
{
	size_t vsize = sizeof(struct vif_stats) * dp->nrows;
	__u32 n = buflen / vsize;
	int err;

	if (first >= VIF_VLAN_SLOTS || !n)
		return -EINVAL;
	if (n > VIF_VLAN_SLOTS - first)
		n = VIF_VLAN_SLOTS - first;
	err = array_read_range(map_fd(dp, DP_MAP_STATS), first, n, buf, vsize);
	return err ?: (int)n;
}

static int xdp_quota_rows(struct dp *dp, __u16 vlan,
			  struct vif_quota_pcpu *rows)
{
	return lookup(dp, DP_MAP_QPCPU, vlan, rows);
}

static int xdp_stats_clear(struct dp *dp)
{
	__u32 v;
	int err;

	memset(dp->scratch, 0, dp->scratch_len);
	err = update(dp, DP_MAP_GLOBAL, 0, dp->scratch);
	for (v = 0; !err && v < VIF_VLAN_SLOTS; v++)
		err = update(dp, DP_MAP_STATS, v, dp->scratch);
	return err;
}

static const struct dp_ops xdp_ops = {
	.close = xdp_close,
	.config_read = xdp_config_read,
	.config_write = xdp_config_write,
	.index_read = xdp_index_read,
	.index_write = xdp_index_write,
	.policy_read = xdp_policy_read,
	.policy_write = xdp_policy_write,
	.index_read_all = xdp_index_read_all,
	.policy_read_all = xdp_policy_read_all,
	.port_get = xdp_port_get,
	.port_set = xdp_port_set,
	.for_each_port = xdp_for_each_port,
	.quota_shr_zero = xdp_quota_shr_zero,
	.global_rows = xdp_global_rows,
	.stats_rows = xdp_stats_rows,
	.quota_rows = xdp_quota_rows,
	.stats_clear = xdp_stats_clear,
	.trunk_attach = xdp_trunk_attach,
	.trunk_detach = xdp_trunk_detach,
	.port_attach = xdp_port_attach,
	.port_detach = xdp_port_detach,
	.port_status = xdp_port_status,
	.teardown = xdp_teardown,
	.prog_fd = xdp_prog_fd,
};

int dp_xdp_open(const struct dp_opts *opts, struct dp **out)
{
	struct dp_xdp *x;
	int i, ncpus, err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->dp.ops = &xdp_ops;
	x->dp.engine = DP_ENGINE_XDP;
	x->lock_fd = -1;
	for (i = 0; i < DP_MAP__MAX; i++)
		x->map_fd[i] = -1;
	x->mode = opts->mode;
	snprintf(x->dp.where, sizeof(x->dp.where), "%s",
		 opts->pin_dir ? opts->pin_dir : VIF_PIN_DIR);

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		err = ncpus ? ncpus : -EINVAL;
		goto err_close;
	}
	x->dp.nrows = ncpus;
	/* The largest per-CPU batch: vif_stats, all slots, in one read. */
	x->dp.scratch_len = (size_t)VIF_VLAN_SLOTS * ncpus *
			    sizeof(struct vif_stats);
	x->dp.scratch = malloc(x->dp.scratch_len);
	if (!x->dp.scratch) {
		err = -ENOMEM;
		goto err_close;
	}

	if (opts->read_only) {
		err = open_pinned_maps(x) ?: check_config(x, false);
		if (err)
			goto err_close;
		*out = &x->dp;
		return 0;
	}

	err = ensure_bpffs() ?: make_pin_dir(x->dp.where);
	if (err)
		goto err_close;
	err = dp_lock(x) ?: load_skeleton(x) ?: check_config(x, true);
	if (err)
		goto err_close;
	x->dp.writable = true;
	*out = &x->dp;
	return 0;

err_close:
	xdp_close(&x->dp);
	return err;
}
