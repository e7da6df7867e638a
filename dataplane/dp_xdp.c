// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dp_xdp.c - the XDP engine behind dp.h: skeleton lifecycle, pinning,
 * attach/detach and atomic policy writes.
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
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp.h"
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

struct dp {
	struct vifplane *skel; /* NULL when read-only */
	char pin_dir[PATH_MAX];
	enum dp_xdp_mode mode;
	int map_fd[DP_MAP__MAX];
	__u32 config_map_id; /* tells our programs from other instances' */
	int lock_fd;
	int ncpus;
	void *scratch; /* per-CPU batch buffer, sized for the biggest map */
	size_t scratch_len;
};

const char *dp_pin_dir(const struct dp *dp)
{
	return dp->pin_dir;
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

static int dp_lock(struct dp *dp)
{
	int err;

	dp->lock_fd = open(dp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->lock_fd < 0) {
		err = -errno;
		pr_warn("Couldn't open pin directory '%s': %s (%d)\n",
			dp->pin_dir, strerror(-err), err);
		return err;
	}
	if (flock(dp->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			err = -EBUSY;
		pr_warn("Dataplane at '%s' is held by another writer: %s (%d)\n",
			dp->pin_dir, strerror(-err), err);
		return err;
	}
	return 0;
}

/* pin_dir is at most PATH_MAX - 1; the map names are short. */
#define DP_MAP_PATH_MAX (PATH_MAX + 32)

static void map_path(const struct dp *dp, int i, char *buf)
{
	snprintf(buf, DP_MAP_PATH_MAX, "%s/%s", dp->pin_dir, dp_map_names[i]);
}

static int open_pinned_maps(struct dp *dp)
{
	char path[DP_MAP_PATH_MAX];
	int i, err;

	for (i = 0; i < DP_MAP__MAX; i++) {
		map_path(dp, i, path);
		dp->map_fd[i] = bpf_obj_get(path);
		if (dp->map_fd[i] < 0) {
			err = -errno;
			pr_warn("Couldn't open pinned map '%s': %s (%d)\n", path,
				strerror(-err), err);
			return err;
		}
	}
	return 0;
}

static int load_skeleton(struct dp *dp)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = dp->pin_dir);
	struct bpf_map *maps[DP_MAP__MAX];
	int i, err;

	dp->skel = vifplane__open_opts(&oopts);
	if (!dp->skel) {
		err = -errno;
		pr_warn("Couldn't open BPF object: %s (%d)\n", strerror(-err),
			err);
		return err;
	}
	err = vifplane__load(dp->skel);
	if (err) {
		pr_warn("Couldn't load BPF programs (pinned maps under '%s' from an incompatible build?): %s (%d)\n",
			dp->pin_dir, strerror(-err), err);
		return err;
	}
	maps[DP_MAP_CONFIG] = dp->skel->maps.vif_config;
	maps[DP_MAP_INDEX] = dp->skel->maps.vif_index;
	maps[DP_MAP_POLICY] = dp->skel->maps.vif_policy;
	maps[DP_MAP_PORTS] = dp->skel->maps.vif_ports;
	maps[DP_MAP_PORTS_BIG] = dp->skel->maps.vif_ports_big;
	maps[DP_MAP_STATS] = dp->skel->maps.vif_stats;
	maps[DP_MAP_GLOBAL] = dp->skel->maps.vif_global;
	maps[DP_MAP_QSHR] = dp->skel->maps.vif_quota_shr;
	maps[DP_MAP_QPCPU] = dp->skel->maps.vif_quota_pcpu;
	for (i = 0; i < DP_MAP__MAX; i++) {
		dp->map_fd[i] = dup(bpf_map__fd(maps[i]));
		if (dp->map_fd[i] < 0)
			return -errno;
	}
	return 0;
}

/* Stamp the ABI version into a fresh config; refuse a foreign one. */
static int check_config(struct dp *dp, bool writable)
{
	struct vif_dp_config cfg;
	__u32 zero = 0;
	int err;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg))
		return -errno;
	if (cfg.abi_version && cfg.abi_version != VIF_ABI_VERSION) {
		pr_warn("Pinned dataplane at '%s' has ABI version %u, this build speaks %u\n",
			dp->pin_dir, cfg.abi_version, VIF_ABI_VERSION);
		return -EPROTO;
	}
	{
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(dp->map_fd[DP_MAP_CONFIG], &info,
					   &len))
			return -errno;
		dp->config_map_id = info.id;
	}
	if (cfg.abi_version || !writable)
		return 0;
	cfg.abi_version = VIF_ABI_VERSION;
	cfg.quota_slice = VIF_QUOTA_SLICE_DEFAULT;
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg,
				BPF_ANY)) {
		err = -errno;
		return err;
	}
	return 0;
}

int dp_open(const struct dp_opts *opts, struct dp **out)
{
	struct dp_opts defaults = {};
	struct dp *dp;
	int i, err;

	if (!opts)
		opts = &defaults;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->lock_fd = -1;
	for (i = 0; i < DP_MAP__MAX; i++)
		dp->map_fd[i] = -1;
	dp->mode = opts->mode;
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s",
		 opts->pin_dir ? opts->pin_dir : VIF_PIN_DIR);

	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = dp->ncpus ? dp->ncpus : -EINVAL;
		goto err_free;
	}
	/* The largest per-CPU batch: vif_stats, all slots. */
	dp->scratch_len = (size_t)VIF_VLAN_SLOTS * dp->ncpus *
			  sizeof(struct vif_stats);
	dp->scratch = malloc(dp->scratch_len);
	if (!dp->scratch) {
		err = -ENOMEM;
		goto err_free;
	}

	if (opts->read_only) {
		err = open_pinned_maps(dp);
		if (err)
			goto err_free;
		err = check_config(dp, false);
		if (err)
			goto err_free;
		*out = dp;
		return 0;
	}

	err = ensure_bpffs() ?: make_pin_dir(dp->pin_dir);
	if (err)
		goto err_free;
	err = dp_lock(dp);
	if (err)
		goto err_free;
	err = load_skeleton(dp);
	if (err)
		goto err_free;
	err = check_config(dp, true);
	if (err)
		goto err_free;
	*out = dp;
	return 0;

err_free:
	dp_close(dp);
	return err;
}

void dp_close(struct dp *dp)
{
	int i;

	if (!dp)
		return;
	for (i = 0; i < DP_MAP__MAX; i++)
		if (dp->map_fd[i] >= 0)
			close(dp->map_fd[i]);
	vifplane__destroy(dp->skel);
	if (dp->lock_fd >= 0)
		close(dp->lock_fd);
	free(dp->scratch);
	free(dp);
}

static int need_writer(const struct dp *dp)
{
	return dp->skel ? 0 : -EPERM;
}

int dp_prog_fd(struct dp *dp, enum dp_prog which)
{
	if (!dp->skel)
		return -EPERM;
	switch (which) {
	case DP_PROG_TRUNK:
		return bpf_program__fd(dp->skel->progs.vif_xdp_trunk);
	case DP_PROG_SERVICE:
		return bpf_program__fd(dp->skel->progs.vif_xdp_service);
	case DP_PROG_TC_MARK:
		return bpf_program__fd(dp->skel->progs.vif_tc_mark);
	}
	return -EINVAL;
}

/* ---- attach / detach ------------------------------------------------ */

int dp_xdp_mode_of(int ifindex, __u32 *prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err;

	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	if (prog_id)
		*prog_id = q.attach_mode == XDP_ATTACHED_SKB ? q.skb_prog_id :
			   q.attach_mode == XDP_ATTACHED_DRV ? q.drv_prog_id :
							      q.prog_id;
	return q.attach_mode;
}

/*
 * Is prog_id one of ours, i.e. a program of this instance?  Another pin
 * directory's instance has programs of the same names, so the test is that
 * the program uses our vif_config map.
 */
static bool prog_is_ours(const struct dp *dp, __u32 prog_id)
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
			if (ids[i] == dp->config_map_id)
				ours = true;
	close(fd);
	return ours;
}

static int xdp_attach(struct dp *dp, int ifindex, struct bpf_program *prog)
{
	char ifname[IF_NAMESIZE] = "?";
	int fd = bpf_program__fd(prog);
	__u32 flags, old_id = 0;
	int err, mode;

	/*
	 * A fresh port has no program: attach natively without asking
	 * first.  bpf_xdp_query() dumps every link, ~34 ms with 4094 veths,
	 * which made bulk VIF creation quadratic.  UPDATE_IF_NOEXIST makes
	 * the kernel refuse if anything is there; then we look.
	 */
	if (dp->mode != DP_XDP_GENERIC &&
	    !bpf_xdp_attach(ifindex, fd,
			    XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
			    NULL))
		return 0;
	if_indextoname(ifindex, ifname);
	mode = dp_xdp_mode_of(ifindex, &old_id);
	if (mode > XDP_ATTACHED_NONE && !prog_is_ours(dp, old_id)) {
		pr_warn("Iface '%s' runs another XDP program (id %u): not replacing it\n",
			ifname, old_id);
		return -EBUSY;
	}
	/* Replacing ours in the mode it runs in is atomic: no gap. */
	if (mode == XDP_ATTACHED_SKB && dp->mode != DP_XDP_NATIVE)
		flags = XDP_FLAGS_SKB_MODE;
	else
		flags = dp->mode == DP_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
						     XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(ifindex, fd, flags, NULL);
	if (err && dp->mode == DP_XDP_AUTO && flags == XDP_FLAGS_DRV_MODE) {
		pr_warn("Native XDP unavailable on iface '%s' (%s), using generic mode: expect far lower throughput\n",
			ifname, strerror(-err));
		err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL);
	}
	if (err)
		pr_warn("Couldn't attach XDP program on iface '%s': %s (%d)\n",
			ifname, strerror(-err), err);
	return err;
}

static int xdp_detach(const struct dp *dp, int ifindex)
{
	__u32 prog_id = 0;
	int mode, err;

	mode = dp_xdp_mode_of(ifindex, &prog_id);
	if (mode < 0)
		return mode == -ENODEV ? 0 : mode;
	if (mode == XDP_ATTACHED_NONE || !prog_is_ours(dp, prog_id))
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

static int tc_attach(int ifindex, int prog_fd)
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

static int tc_detach(const struct dp *dp, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_TC_HANDLE,
		    .priority = DP_TC_PRIO);
	int err;

	/* Only our filter goes; the clsact qdisc may carry others'. */
	if (bpf_tc_query(&hook, &opts) || !prog_is_ours(dp, opts.prog_id))
		return 0;
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	err = bpf_tc_detach(&hook, &opts);
	if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
		return 0;
	return err;
}

static int config_update(struct dp *dp, void (*fn)(struct vif_dp_config *,
						   __u32),
			 __u32 arg)
{
	struct vif_dp_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg))
		return -errno;
	fn(&cfg, arg);
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg,
				BPF_ANY))
		return -errno;
	return 0;
}

static void cfg_set_trunk(struct vif_dp_config *cfg, __u32 ifindex)
{
	cfg->trunk_ifindex = ifindex;
}

static void cfg_set_qinq(struct vif_dp_config *cfg, __u32 allow)
{
	cfg->flags = allow ? cfg->flags | VIF_CFG_ALLOW_QINQ :
			     cfg->flags & ~VIF_CFG_ALLOW_QINQ;
}

static void cfg_set_slice(struct vif_dp_config *cfg, __u32 bytes)
{
	cfg->quota_slice = bytes;
}

int dp_config_get(struct dp *dp, struct vif_dp_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, cfg))
		return -errno;
	return 0;
}

int dp_set_qinq(struct dp *dp, bool allow)
{
	return need_writer(dp) ?: config_update(dp, cfg_set_qinq, allow);
}

int dp_set_quota_slice(struct dp *dp, __u32 bytes)
{
	if (!bytes)
		return -EINVAL;
	return need_writer(dp) ?: config_update(dp, cfg_set_slice, bytes);
}

int dp_trunk_attach(struct dp *dp, int ifindex)
{
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	err = xdp_attach(dp, ifindex, dp->skel->progs.vif_xdp_trunk);
	if (err)
		return err;
	return config_update(dp, cfg_set_trunk, ifindex);
}

int dp_trunk_detach(struct dp *dp)
{
	struct vif_dp_config cfg;
	int err;

	err = need_writer(dp) ?: dp_config_get(dp, &cfg);
	if (err)
		return err;
	if (!cfg.trunk_ifindex)
		return 0;
	/* Stop sending to it before the program goes. */
	err = config_update(dp, cfg_set_trunk, 0);
	if (err)
		return err;
	return xdp_detach(dp, cfg.trunk_ifindex);
}

int dp_port_attach(struct dp *dp, int ifindex)
{
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	/* tc first: no host-bound frame may arrive without its mark. */
	err = tc_attach(ifindex, bpf_program__fd(dp->skel->progs.vif_tc_mark));
	if (err)
		return err;
	err = xdp_attach(dp, ifindex, dp->skel->progs.vif_xdp_service);
	if (err)
		tc_detach(dp, ifindex);
	return err;
}

int dp_port_detach(struct dp *dp, int ifindex)
{
	int err, err2;

	err = need_writer(dp);
	if (err)
		return err;
	err = xdp_detach(dp, ifindex);
	err2 = tc_detach(dp, ifindex);
	return err ?: err2;
}

static int array_read_all(int fd, __u32 entries, void *buf, size_t vsize);

/* Every service port the maps know of. */
static int for_each_port(struct dp *dp, int (*fn)(struct dp *, int))
{
	__u32 key, next, *prev = NULL, i;
	struct vif_port *ports;
	int err, ret = 0;

	ports = calloc(VIF_PORT_SLOTS, sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	ret = array_read_all(dp->map_fd[DP_MAP_PORTS], VIF_PORT_SLOTS, ports,
			     sizeof(*ports));
	for (i = 0; !ret && i < VIF_PORT_SLOTS; i++) {
		if (!ports[i].vlan)
			continue;
		err = fn(dp, (int)i);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	free(ports);
	while (!bpf_map_get_next_key(dp->map_fd[DP_MAP_PORTS_BIG], prev,
				     &next)) {
		key = next;
		prev = &key;
		err = fn(dp, (int)key);
		if (err && err != -ENODEV && !ret)
			ret = err;
	}
	return ret;
}

int dp_resume(struct dp *dp)
{
	struct vif_dp_config cfg;
	int err;

	err = need_writer(dp) ?: dp_config_get(dp, &cfg);
	if (err)
		return err;
	if (cfg.trunk_ifindex) {
		err = dp_trunk_attach(dp, cfg.trunk_ifindex);
		if (err)
			return err;
	}
	return for_each_port(dp, dp_port_attach);
}

static int unpin_all(struct dp *dp)
{
	char path[DP_MAP_PATH_MAX];
	int i, err = 0;

	for (i = 0; i < DP_MAP__MAX; i++) {
		map_path(dp, i, path);
		if (unlink(path) && errno != ENOENT && !err)
			err = -errno;
	}
	if (rmdir(dp->pin_dir) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

/*
 * Every interface of this netns that runs one of our programs: the maps
 * know only ports that have a VIF, but a port may be attached without one.
 */
static int detach_everywhere(struct dp *dp)
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
		    !prog_is_ours(dp, prog_id))
			continue;
		err = xdp_detach(dp, i->if_index);
		if (!ret)
			ret = err;
		err = tc_detach(dp, i->if_index);
		if (!ret)
			ret = err;
	}
	if_freenameindex(ifs);
	return ret;
}

int dp_teardown(struct dp *dp)
{
	int err, ret;

	ret = need_writer(dp);
	if (ret)
		return ret;
	ret = dp_trunk_detach(dp);
	err = detach_everywhere(dp);
	if (!ret)
		ret = err;
	err = unpin_all(dp);
	return ret ?: err;
}

/* ---- policy --------------------------------------------------------- */

static int entry_read(struct dp *dp, __u16 vlan, __u32 *index,
		      struct vif_entry *e)
{
	__u32 key = vlan;

	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_INDEX], &key, index))
		return -errno;
	key = policy_slot_key(vlan, *index);
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_POLICY], &key, e))
		return -errno;
	return 0;
}

/*
 * The one way policy changes: write the inactive slot in full, then flip
 * vif_index with one 32-bit store.  See vif_policy_read() for the reader.
 */
static int entry_publish(struct dp *dp, __u16 vlan, __u32 index,
			 struct vif_entry *e)
{
	__u32 next = policy_index_next(index), key = policy_slot_key(vlan, next);
	__u32 vkey = vlan;

	e->gen = VIF_INDEX_GEN(next);
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_POLICY], &key, e, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_INDEX], &vkey, &next,
				BPF_ANY))
		return -errno;
	return 0;
}

typedef int (*entry_fn)(struct dp *dp, struct vif_entry *e, void *arg);

static int entry_modify(struct dp *dp, __u16 vlan, entry_fn fn, void *arg)
{
	struct vif_entry e;
	__u32 index;
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	if (!policy_vlan_valid(vlan))
		return -EINVAL;
	err = entry_read(dp, vlan, &index, &e);
	if (err)
		return err;
	if (e.vlan != vlan)
		return -ENOENT;
	err = fn(dp, &e, arg);
	if (err)
		return err;
	return entry_publish(dp, vlan, index, &e);
}

static int zero_quota_slot(struct dp *dp, __u16 vlan, __u32 epoch)
{
	struct vif_quota_shared zero = {};
	__u32 key = (__u32)vlan * 2 + (epoch & 1);

	if (bpf_map_update_elem(dp->map_fd[DP_MAP_QSHR], &key, &zero, BPF_ANY))
		return -errno;
	return 0;
}

/* Can vlan's traffic be chained into nh? 0 or -errno. */
static int chain_target_ok(struct dp *dp, __u16 vlan, __u16 nh)
{
	struct vif_entry next;

	if (!policy_vlan_valid(nh) || nh == vlan)
		return -EINVAL;
	/* The hop must exist; a dead hop later is CHAIN_DOWN. */
	if (dp_vif_get(dp, nh, &next))
		return -ENOENT;
	/* Frames are addressed to the hop's service end: without its MAC
	 * they would be dropped there. */
	if (!(next.svc_mac[0] | next.svc_mac[1] | next.svc_mac[2] |
	      next.svc_mac[3] | next.svc_mac[4] | next.svc_mac[5]))
		return -EDESTADDRREQ;
	return 0;
}

/* Which map holds ifindex: the array for small ones, else the hash. */
static int port_fd(const struct dp *dp, __u32 ifindex)
{
	return ifindex < VIF_PORT_SLOTS ? dp->map_fd[DP_MAP_PORTS] :
					  dp->map_fd[DP_MAP_PORTS_BIG];
}

static int port_set(struct dp *dp, __u32 ifindex, __u16 vlan)
{
	struct vif_port p = { .vlan = vlan };

	if (bpf_map_update_elem(port_fd(dp, ifindex), &ifindex, &p, BPF_ANY))
		return -errno;
	return 0;
}

/* Drop ifindex from the port maps if it still points at vlan. */
static void port_forget(struct dp *dp, __u32 ifindex, __u16 vlan)
{
	struct vif_port p, none = {};
	int fd = port_fd(dp, ifindex);

	if (bpf_map_lookup_elem(fd, &ifindex, &p) || p.vlan != vlan)
		return;
	if (ifindex < VIF_PORT_SLOTS)
		bpf_map_update_elem(fd, &ifindex, &none, BPF_ANY);
	else
		bpf_map_delete_elem(fd, &ifindex);
}

int dp_vif_upsert(struct dp *dp, const struct vif_spec *spec, char *errbuf,
		  size_t errlen)
{
	struct vif_entry cur, e;
	__u32 index, epoch, old_if = 0;
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	err = policy_validate(spec, errbuf, errlen);
	if (err)
		return err;
	if (spec->next_hop) {
		err = chain_target_ok(dp, spec->vlan, spec->next_hop);
		if (err) {
			snprintf(errbuf, errlen,
				 "VIF %u: chain next hop %u unusable: %s",
				 spec->vlan, spec->next_hop, strerror(-err));
			return err;
		}
	}
	err = entry_read(dp, spec->vlan, &index, &cur);
	if (err)
		return err;
	epoch = cur.quota_epoch;
	if (cur.vlan != spec->vlan) {
		/* New VIF: a fresh quota period, whatever a past VIF left. */
		epoch++;
		err = zero_quota_slot(dp, spec->vlan, epoch);
		if (err)
			return err;
	} else if (cur.svc_ifindex != spec->svc_ifindex) {
		old_if = cur.svc_ifindex;
	}
	err = port_set(dp, spec->svc_ifindex, spec->vlan);
	if (err)
		return err;
	policy_entry_from_spec(spec, 0, epoch, &e);
	err = entry_publish(dp, spec->vlan, index, &e);
	if (err)
		return err;
	if (old_if)
		port_forget(dp, old_if, spec->vlan);
	return 0;
}

static int clear_entry(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u32 *old_if = arg, epoch = e->quota_epoch;

	*old_if = e->svc_ifindex;
	memset(e, 0, sizeof(*e));
	/* Keep the epoch so a later VIF on this VLAN starts a new one. */
	e->quota_epoch = epoch;
	return 0;
}

int dp_vif_delete(struct dp *dp, __u16 vlan)
{
	__u32 old_if = 0;
	int err;

	err = entry_modify(dp, vlan, clear_entry, &old_if);
	if (err)
		return err;
	port_forget(dp, old_if, vlan);
	return 0;
}

int dp_vif_get(struct dp *dp, __u16 vlan, struct vif_entry *out)
{
	__u32 index;
	int err;

	if (!policy_vlan_valid(vlan))
		return -EINVAL;
	err = entry_read(dp, vlan, &index, out);
	if (err)
		return err;
	return out->vlan == vlan ? 0 : -ENOENT;
}

/* Batch-read a whole ARRAY map (non-per-CPU) into buf. */
static int array_read_all(int fd, __u32 entries, void *buf, size_t vsize)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	__u32 *keys, count, done = 0, out_batch = 0;
	void *in = NULL;
	int err = 0;

	keys = calloc(entries, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (done < entries) {
		count = entries - done;
		err = bpf_map_lookup_batch(fd, in, &out_batch, keys + done,
					   (char *)buf + done * vsize, &count,
					   &bopts);
		done += count;
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

int dp_vif_dump(struct dp *dp, struct vif_entry *out, int max)
{
	struct vif_entry *pol;
	__u32 *idx;
	int n = 0, err, v;

	idx = calloc(VIF_VLAN_SLOTS, sizeof(*idx));
	pol = calloc(VIF_POLICY_SLOTS, sizeof(*pol));
	if (!idx || !pol) {
		err = -ENOMEM;
		goto out;
	}
	err = array_read_all(dp->map_fd[DP_MAP_INDEX], VIF_VLAN_SLOTS, idx,
			     sizeof(*idx));
	if (!err)
		err = array_read_all(dp->map_fd[DP_MAP_POLICY],
				     VIF_POLICY_SLOTS, pol, sizeof(*pol));
	if (err)
		goto out;
	for (v = VIF_VLAN_MIN; v <= VIF_VLAN_MAX && n < max; v++) {
		struct vif_entry *e = &pol[policy_slot_key(v, idx[v])];

		if (e->vlan == v)
			out[n++] = *e;
	}
	err = n;
out:
	free(idx);
	free(pol);
	return err;
}

static int set_flag(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u32 *fl = arg; /* [0] = flag, [1] = on */

	e->flags = fl[1] ? e->flags | fl[0] : e->flags & ~fl[0];
	return 0;
}

int dp_killswitch_set(struct dp *dp, __u16 vlan, bool engaged)
{
	__u32 arg[2] = { VIF_F_KILLSWITCH, engaged };

	return entry_modify(dp, vlan, set_flag, arg);
}

int dp_active_set(struct dp *dp, __u16 vlan, bool active)
{
	__u32 arg[2] = { VIF_F_ACTIVE, active };

	return entry_modify(dp, vlan, set_flag, arg);
}

static int set_chain(struct dp *dp, struct vif_entry *e, void *arg)
{
	__u16 nh = *(__u16 *)arg;
	int err;

	if (nh) {
		err = chain_target_ok(dp, e->vlan, nh);
		if (err)
			return err;
	}
	e->next_hop = nh;
	return 0;
}

int dp_chain_set(struct dp *dp, __u16 vlan, __u16 next_hop)
{
	return entry_modify(dp, vlan, set_chain, &next_hop);
}

struct quota_arg {
	__u64 limit;
	__u32 flags;
};

static int set_quota(struct dp *dp, struct vif_entry *e, void *arg)
{
	struct quota_arg *q = arg;

	if (q->flags & ~VIF_QUOTA_FLAGS)
		return -EINVAL;
	if (q->limit && !(q->flags & (VIF_F_QUOTA_RX | VIF_F_QUOTA_TX)))
		return -EINVAL;
	e->quota_limit = q->limit;
	e->flags = (e->flags & ~VIF_QUOTA_FLAGS) | q->flags;
	return 0;
}

int dp_quota_set(struct dp *dp, __u16 vlan, __u64 limit, __u32 flags)
{
	struct quota_arg q = { .limit = limit, .flags = flags };

	return entry_modify(dp, vlan, set_quota, &q);
}

static int reset_quota(struct dp *dp, struct vif_entry *e, void *arg)
{
	int err;

	/* Zero the next epoch's budget before any CPU can see the epoch. */
	err = zero_quota_slot(dp, e->vlan, e->quota_epoch + 1);
	if (err)
		return err;
	e->quota_epoch++;
	return 0;
}

int dp_quota_reset(struct dp *dp, __u16 vlan)
{
	return entry_modify(dp, vlan, reset_quota, NULL);
}

int dp_quota_usage(struct dp *dp, __u16 vlan, __u64 *used)
{
	struct vif_quota_pcpu *pc = dp->scratch;
	struct vif_entry e;
	__u32 key = vlan;
	int err;

	err = dp_vif_get(dp, vlan, &e);
	if (err)
		return err;
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_QPCPU], &key, pc))
		return -errno;
	*used = stats_quota_used(pc, dp->ncpus, e.quota_epoch);
	return 0;
}

/* ---- statistics ----------------------------------------------------- */

/* Batch-read a PERCPU_ARRAY of entries values of vsize bytes per CPU. */
static int percpu_read_all(struct dp *dp, int fd, __u32 entries,
			   size_t vsize)
{
	return array_read_all(fd, entries, dp->scratch, vsize * dp->ncpus);
}

int dp_stats_read(struct dp *dp, struct dp_stats *out)
{
	struct vif_stats *pv = dp->scratch;
	__u32 zero = 0, v;
	int err;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_GLOBAL], &zero, dp->scratch))
		return -errno;
	stats_sum_global(dp->scratch, dp->ncpus, &out->global);
	err = percpu_read_all(dp, dp->map_fd[DP_MAP_STATS], VIF_VLAN_SLOTS,
			      sizeof(struct vif_stats));
	if (err)
		return err;
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		stats_sum_vif(pv + (size_t)v * dp->ncpus, dp->ncpus,
			      &out->vif[v]);
	return 0;
}

int dp_stats_clear(struct dp *dp)
{
	__u32 v, zero = 0;
	int err;

	err = need_writer(dp);
	if (err)
		return err;
	memset(dp->scratch, 0, dp->scratch_len);
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_GLOBAL], &zero, dp->scratch,
				BPF_ANY))
		return -errno;
	for (v = 0; v < VIF_VLAN_SLOTS; v++)
		if (bpf_map_update_elem(dp->map_fd[DP_MAP_STATS], &v,
					dp->scratch, BPF_ANY))
			return -errno;
	return 0;
}
