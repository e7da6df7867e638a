// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_dp_shm.c - dp.h over the DPDK engine's shared-memory file
 * (dataplane/dp_shm.c + dp.c): every policy call, ports and ports_big,
 * quota and counter rows written by hand as workers would, the port
 * request protocol against a fake engine thread, the writer's lock,
 * read-only handles, refusal of a foreign file, and a reader running
 * vif_logic.h's vif_policy_read() while the writer flips entries.
 *
 * No root: every case works on its own file under /dev/shm and removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dp.h"
#include "harness.h"
#include "log.h"
#include "shm.h"
#include "vif_env_shm.h"

/* The frame half of vif_logic.h's environment: a plain buffer. */
struct test_pkt {
	__u8 *data, *end;
	__u32 ingress, mark, redirect;
};
typedef struct test_pkt vif_pkt_t;

VIF_INLINE void *vif_pkt_data(vif_pkt_t *p)
{
	return p->data;
}

VIF_INLINE void *vif_pkt_data_end(vif_pkt_t *p)
{
	return p->end;
}

VIF_INLINE __u64 vif_pkt_len(vif_pkt_t *p)
{
	return (__u64)(p->end - p->data);
}

VIF_INLINE __u32 vif_pkt_ingress(vif_pkt_t *p)
{
	return p->ingress;
}

VIF_INLINE int vif_pkt_adjust_head(vif_pkt_t *p, int delta)
{
	p->data += delta;
	return 0;
}

VIF_INLINE void vif_pkt_set_mark(vif_pkt_t *p, __u32 mark)
{
	p->mark = mark;
}

VIF_INLINE int vif_pkt_redirect(vif_pkt_t *p, __u32 ifindex)
{
	p->redirect = ifindex;
	return 4; /* VIF_ACT_REDIRECT, defined by vif_logic.h below */
}

#include "vif_logic.h"

/*
 * vif_logic.h speaks the kernel's struct in6_addr (linux/in6.h), which
 * glibc's <netinet/in.h> (and so <arpa/inet.h>) would redefine: this file
 * includes neither and spells htonl itself.
 */
#define htonl(x) ((__be32)__builtin_bswap32(x))
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "htonl above");

/* ---- fixtures ------------------------------------------------------------ */

static char g_path[128];

static void path_new(void)
{
	static unsigned int n;

	snprintf(g_path, sizeof(g_path), "/dev/shm/vif-test-dp-shm-%d-%u",
		 (int)getpid(), n++);
}

static void path_unlink(void)
{
	char lock[160];

	snprintf(lock, sizeof(lock), "%s.lock", g_path);
	unlink(g_path);
	unlink(lock);
}

static int open_dp(bool ro, struct dp **dp)
{
	struct dp_opts o = {
		.engine = DP_ENGINE_DPDK,
		.shm_path = g_path,
		.read_only = ro,
	};

	return dp_open(&o, dp);
}

/* The test's own view of the file, as the engine or an exporter has it. */
static struct vif_shm *map_rw(void)
{
	struct vif_shm *shm = NULL;

	if (vif_shm_map(g_path, 0, &shm, NULL, 0))
		return NULL;
	return shm;
}

static void spec_make(struct vif_spec *s, __u16 vlan, __u32 ifindex)
{
	memset(s, 0, sizeof(*s));
	s->vlan = vlan;
	s->svc_ifindex = ifindex;
	s->mark = 0x10000 + vlan;
	s->table = 1000 + vlan;
	s->addr = htonl(0x0a640001 | ((__u32)(vlan & 0xff) << 8));
	s->prefix_len = 24;
	s->host_addr = htonl(0x0a6400fe | ((__u32)(vlan & 0xff) << 8));
	s->svc_mac[0] = 0x02;
	s->svc_mac[5] = (__u8)vlan;
	s->port_mac[0] = 0x02;
	s->port_mac[4] = 0x01;
	s->port_mac[5] = (__u8)vlan;
	s->active = true;
}

static int upsert(struct dp *dp, __u16 vlan, __u32 ifindex)
{
	struct vif_spec s;
	char err[128] = "";
	int ret;

	spec_make(&s, vlan, ifindex);
	ret = dp_vif_upsert(dp, &s, err, sizeof(err));
	if (ret)
		fprintf(stderr, "upsert %u: %s (%d)\n", vlan, err, ret);
	return ret;
}

/* Run fn with stderr captured into buf (the log sink writes there). */
static int capture_stderr(int (*fn)(void), char *buf, size_t len)
{
	FILE *tmp = tmpfile();
	int saved, ret;
	size_t n;

	if (!tmp)
		return -errno;
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	ret = fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, len - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return ret;
}

/* ---- open, lock, read-only, refusals ------------------------------------ */

static int test_open_defaults(void)
{
	struct vif_dp_config cfg;
	struct dp *dp = NULL;
	struct stat st;
	int ret = -1;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_EQ(stat(g_path, &st), 0, "file created") ||
	    !ASSERT_EQ(st.st_size, sizeof(struct vif_shm), "file size") ||
	    !ASSERT_EQ(dp_engine_of(dp), DP_ENGINE_DPDK, "engine") ||
	    !ASSERT_TRUE(!strcmp(dp_pin_dir(dp), g_path), "where") ||
	    !ASSERT_OK(dp_config_get(dp, &cfg), "config") ||
	    !ASSERT_EQ(cfg.abi_version, VIF_ABI_VERSION, "abi") ||
	    !ASSERT_EQ(cfg.quota_slice, VIF_QUOTA_SLICE_DEFAULT, "slice") ||
	    !ASSERT_EQ(dp_prog_fd(dp, DP_PROG_TRUNK), -EOPNOTSUPP, "no progs") ||
	    !ASSERT_OK(dp_set_qinq(dp, true), "qinq") ||
	    !ASSERT_OK(dp_set_quota_slice(dp, 4096), "slice set") ||
	    !ASSERT_EQ(dp_set_quota_slice(dp, 0), -EINVAL, "slice 0") ||
	    !ASSERT_OK(dp_config_get(dp, &cfg), "config again") ||
	    !ASSERT_EQ(cfg.flags, VIF_CFG_ALLOW_QINQ, "qinq flag") ||
	    !ASSERT_EQ(cfg.quota_slice, 4096, "slice value") ||
	    !ASSERT_OK(dp_set_qinq(dp, false), "qinq off") ||
	    !ASSERT_OK(dp_config_get(dp, &cfg), "config 3") ||
	    !ASSERT_EQ(cfg.flags, 0, "qinq cleared"))
		goto out;
	/* Reopening keeps the state. */
	dp_close(dp);
	dp = NULL;
	if (!ASSERT_OK(open_dp(false, &dp), "reopen") ||
	    !ASSERT_OK(dp_config_get(dp, &cfg), "config reopened") ||
	    !ASSERT_EQ(cfg.quota_slice, 4096, "slice kept"))
		goto out;
	ret = 0;
out:
	dp_close(dp);
	path_unlink();
	return ret;
}

static int test_writer_lock(void)
{
	struct dp *dp = NULL, *dp2 = NULL, *ro = NULL;
	int ret = -1;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "first writer") ||
	    !ASSERT_EQ(open_dp(false, &dp2), -EBUSY, "second writer") ||
	    !ASSERT_OK(open_dp(true, &ro), "reader beside the writer"))
		goto out;
	dp_close(dp);
	dp = NULL;
	if (!ASSERT_OK(open_dp(false, &dp2), "writer after close"))
		goto out;
	ret = 0;
out:
	dp_close(dp);
	dp_close(dp2);
	dp_close(ro);
	path_unlink();
	return ret;
}

/* Is g_path mapped read-only (r--s) in this process (beside the writer's
 * rw-s mapping)? */
static bool mapped_read_only(void)
{
	char line[512], perms[8];
	bool ro = false, seen = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, g_path) || strstr(line, ".lock"))
			continue;
		if (sscanf(line, "%*s %7s", perms) != 1)
			continue;
		seen = true;
		ro |= !strcmp(perms, "r--s");
	}
	fclose(f);
	return seen && ro;
}

static int test_read_only(void)
{
	struct dp *dp = NULL, *ro = NULL;
	struct vif_entry e;
	struct vif_spec s;
	struct dp_stats *st = NULL;
	__u64 used;
	int ret = -1;

	path_new();
	if (!ASSERT_EQ(open_dp(true, &ro), -ENOENT, "reader of no file"))
		goto out;
	if (!ASSERT_OK(open_dp(false, &dp), "writer") ||
	    !ASSERT_OK(upsert(dp, 100, 5), "upsert") ||
	    !ASSERT_OK(open_dp(true, &ro), "reader") ||
	    !ASSERT_TRUE(mapped_read_only(), "mapped PROT_READ"))
		goto out;
	dp_close(dp);
	dp = NULL;
	st = calloc(1, sizeof(*st));
	spec_make(&s, 101, 6);
	if (!ASSERT_TRUE(st != NULL, "alloc") ||
	    !ASSERT_OK(dp_vif_get(ro, 100, &e), "reader sees the VIF") ||
	    !ASSERT_EQ(e.svc_ifindex, 5, "its port") ||
	    !ASSERT_OK(dp_stats_read(ro, st), "reader reads stats") ||
	    !ASSERT_OK(dp_quota_usage(ro, 100, &used), "reader reads usage") ||
	    !ASSERT_EQ(dp_vif_upsert(ro, &s, NULL, 0), -EPERM, "no upsert") ||
	    !ASSERT_EQ(dp_vif_delete(ro, 100), -EPERM, "no delete") ||
	    !ASSERT_EQ(dp_killswitch_set(ro, 100, true), -EPERM, "no ks") ||
	    !ASSERT_EQ(dp_active_set(ro, 100, false), -EPERM, "no active") ||
	    !ASSERT_EQ(dp_chain_set(ro, 100, 0), -EPERM, "no chain") ||
	    !ASSERT_EQ(dp_quota_set(ro, 100, 1, VIF_F_QUOTA_RX), -EPERM,
		       "no quota") ||
	    !ASSERT_EQ(dp_quota_reset(ro, 100), -EPERM, "no reset") ||
	    !ASSERT_EQ(dp_set_qinq(ro, true), -EPERM, "no qinq") ||
	    !ASSERT_EQ(dp_stats_clear(ro), -EPERM, "no clear") ||
	    !ASSERT_EQ(dp_port_attach(ro, 1), -EPERM, "no attach") ||
	    !ASSERT_EQ(dp_trunk_attach(ro, 1), -EPERM, "no trunk") ||
	    !ASSERT_EQ(dp_resume(ro), -EPERM, "no resume") ||
	    !ASSERT_EQ(dp_teardown(ro), -EPERM, "no teardown") ||
	    !ASSERT_EQ(dp_prog_fd(ro, DP_PROG_TRUNK), -EPERM, "no prog"))
		goto out;
	ret = 0;
out:
	free(st);
	dp_close(dp);
	dp_close(ro);
	path_unlink();
	return ret;
}

static struct dp *g_refused;

static int open_refused(void)
{
	return open_dp(false, &g_refused);
}

static int test_refuse_foreign(void)
{
	struct vif_shm *shm = NULL;
	struct dp *dp = NULL;
	char msg[1024];
	int ret = -1, fd = -1;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "create"))
		goto out;
	dp_close(dp);
	dp = NULL;
	/* Another layout version. */
	shm = map_rw();
	if (!ASSERT_TRUE(shm != NULL, "map"))
		goto out;
	shm->hdr.shm_version = VIF_SHM_VERSION + 1;
	if (!ASSERT_EQ(capture_stderr(open_refused, msg, sizeof(msg)),
		       -EPROTO, "version refused") ||
	    !ASSERT_TRUE(strstr(msg, "layout version") != NULL, msg))
		goto out;
	shm->hdr.shm_version = VIF_SHM_VERSION;
	/* Another ABI in the config. */
	shm->config.abi_version = VIF_ABI_VERSION + 1;
	if (!ASSERT_EQ(capture_stderr(open_refused, msg, sizeof(msg)),
		       -EPROTO, "abi refused") ||
	    !ASSERT_TRUE(strstr(msg, "ABI version") != NULL, msg))
		goto out;
	shm->config.abi_version = VIF_ABI_VERSION;
	vif_shm_unmap(shm);
	shm = NULL;
	/* Another size: a build with other table sizes. */
	fd = open(g_path, O_RDWR);
	if (!ASSERT_TRUE(fd >= 0, "open file") ||
	    !ASSERT_OK(ftruncate(fd, sizeof(struct vif_shm) + 4096),
		       "grow file") ||
	    !ASSERT_EQ(capture_stderr(open_refused, msg, sizeof(msg)),
		       -EPROTO, "size refused") ||
	    !ASSERT_TRUE(strstr(msg, "expected") != NULL, msg))
		goto out;
	/* Not ours at all. */
	if (!ASSERT_OK(ftruncate(fd, 0), "empty") ||
	    !ASSERT_OK(ftruncate(fd, sizeof(struct vif_shm)), "zeroes") ||
	    !ASSERT_EQ(pwrite(fd, "garbage!", 8, 0), 8, "bad magic") ||
	    !ASSERT_EQ(capture_stderr(open_refused, msg, sizeof(msg)),
		       -EPROTO, "magic refused") ||
	    !ASSERT_TRUE(strstr(msg, "not a vifplane") != NULL, msg))
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	vif_shm_unmap(shm);
	dp_close(g_refused);
	g_refused = NULL;
	dp_close(dp);
	path_unlink();
	return ret;
}

/* ---- policy ---------------------------------------------------------------- */

static int test_upsert_get_delete_dump(void)
{
	struct vif_entry e, *all = NULL;
	struct vif_shm *shm = NULL;
	struct dp *dp = NULL;
	struct vif_spec s;
	char err[128] = "";
	__u32 idx0;
	int ret = -1, n;

	path_new();
	all = calloc(VIF_VLAN_SLOTS, sizeof(*all));
	if (!ASSERT_TRUE(all != NULL, "alloc") ||
	    !ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((shm = map_rw()) != NULL, "map"))
		goto out;
	if (!ASSERT_EQ(dp_vif_get(dp, 100, &e), -ENOENT, "none yet") ||
	    !ASSERT_EQ(dp_vif_get(dp, 0, &e), -EINVAL, "vlan 0") ||
	    !ASSERT_EQ(dp_vif_get(dp, 4095, &e), -EINVAL, "vlan 4095") ||
	    !ASSERT_OK(upsert(dp, 100, 10), "100") ||
	    !ASSERT_OK(upsert(dp, 1, 11), "1") ||
	    !ASSERT_OK(upsert(dp, 4094, 12), "4094") ||
	    !ASSERT_OK(dp_vif_get(dp, 100, &e), "get 100"))
		goto out;
	spec_make(&s, 100, 10);
	if (!ASSERT_EQ(e.vlan, 100, "vlan") ||
	    !ASSERT_EQ(e.svc_ifindex, 10, "port") ||
	    !ASSERT_EQ(e.mark, s.mark, "mark") ||
	    !ASSERT_EQ(e.table, s.table, "table") ||
	    !ASSERT_EQ(e.addr, s.addr, "addr") ||
	    !ASSERT_EQ(e.netmask, htonl(0xffffff00), "mask") ||
	    !ASSERT_EQ(e.flags, VIF_F_ACTIVE, "flags") ||
	    !ASSERT_EQ(e.quota_epoch, 1, "fresh epoch") ||
	    !ASSERT_EQ(shm->ports[10].vlan, 100, "port table") ||
	    /* Published into slot 1, generation 1. */
	    !ASSERT_EQ(shm->index[100], VIF_INDEX_MAKE(1, 1), "index") ||
	    !ASSERT_EQ(shm->policy[201].gen, 1, "slot gen"))
		goto out;
	/* An update flips to the other slot and keeps the epoch. */
	spec_make(&s, 100, 10);
	s.mark = 0x4242;
	idx0 = shm->index[100];
	if (!ASSERT_OK(dp_vif_upsert(dp, &s, err, sizeof(err)), err) ||
	    !ASSERT_EQ(shm->index[100], policy_index_next(idx0), "flipped") ||
	    !ASSERT_OK(dp_vif_get(dp, 100, &e), "get updated") ||
	    !ASSERT_EQ(e.mark, 0x4242, "new mark") ||
	    !ASSERT_EQ(e.quota_epoch, 1, "epoch kept"))
		goto out;
	/* Moving to another port forgets the old one. */
	if (!ASSERT_OK(upsert(dp, 100, 20), "move port") ||
	    !ASSERT_EQ(shm->ports[10].vlan, 0, "old port forgotten") ||
	    !ASSERT_EQ(shm->ports[20].vlan, 100, "new port"))
		goto out;
	/* Refusals, with a reason. */
	spec_make(&s, 5000, 1);
	if (!ASSERT_EQ(dp_vif_upsert(dp, &s, err, sizeof(err)), -EINVAL,
		       "vlan range") ||
	    !ASSERT_TRUE(strstr(err, "out of range") != NULL, err))
		goto out;
	spec_make(&s, 200, 0);
	if (!ASSERT_EQ(dp_vif_upsert(dp, &s, err, sizeof(err)), -EINVAL,
		       "no port") ||
	    !ASSERT_TRUE(strstr(err, "service port") != NULL, err))
		goto out;
	n = dp_vif_dump(dp, all, VIF_VLAN_SLOTS);
	if (!ASSERT_EQ(n, 3, "dump count") ||
	    !ASSERT_EQ(all[0].vlan, 1, "dump sorted 0") ||
	    !ASSERT_EQ(all[1].vlan, 100, "dump sorted 1") ||
	    !ASSERT_EQ(all[2].vlan, 4094, "dump sorted 2") ||
	    !ASSERT_EQ(dp_vif_dump(dp, all, 2), 2, "dump max"))
		goto out;
	if (!ASSERT_OK(dp_vif_delete(dp, 100), "delete") ||
	    !ASSERT_EQ(dp_vif_get(dp, 100, &e), -ENOENT, "gone") ||
	    !ASSERT_EQ(dp_vif_delete(dp, 100), -ENOENT, "delete twice") ||
	    !ASSERT_EQ(shm->ports[20].vlan, 0, "port gone") ||
	    !ASSERT_EQ(dp_vif_dump(dp, all, VIF_VLAN_SLOTS), 2, "dump 2") ||
	    /* The deleted entry keeps its epoch: the next VIF starts anew. */
	    !ASSERT_OK(upsert(dp, 100, 10), "again") ||
	    !ASSERT_OK(dp_vif_get(dp, 100, &e), "get again") ||
	    !ASSERT_EQ(e.quota_epoch, 2, "new period"))
		goto out;
	ret = 0;
out:
	vif_shm_unmap(shm);
	dp_close(dp);
	free(all);
	path_unlink();
	return ret;
}

static int test_flags_and_chain(void)
{
	struct dp *dp = NULL;
	struct vif_entry e;
	struct vif_spec s;
	char err[128] = "";
	int ret = -1;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_OK(upsert(dp, 10, 10), "10") ||
	    !ASSERT_OK(upsert(dp, 11, 11), "11") ||
	    !ASSERT_OK(dp_killswitch_set(dp, 10, true), "ks on") ||
	    !ASSERT_OK(dp_vif_get(dp, 10, &e), "get") ||
	    !ASSERT_EQ(e.flags, VIF_F_ACTIVE | VIF_F_KILLSWITCH, "ks flag") ||
	    !ASSERT_OK(dp_active_set(dp, 10, false), "inactive") ||
	    !ASSERT_OK(dp_vif_get(dp, 10, &e), "get 2") ||
	    !ASSERT_EQ(e.flags, VIF_F_KILLSWITCH, "inactive flag") ||
	    !ASSERT_OK(dp_killswitch_set(dp, 10, false), "ks off") ||
	    !ASSERT_OK(dp_active_set(dp, 10, true), "active") ||
	    !ASSERT_OK(dp_vif_get(dp, 10, &e), "get 3") ||
	    !ASSERT_EQ(e.flags, VIF_F_ACTIVE, "back") ||
	    !ASSERT_EQ(dp_killswitch_set(dp, 12, true), -ENOENT, "no VIF") ||
	    !ASSERT_EQ(dp_active_set(dp, 0, true), -EINVAL, "bad vlan"))
		goto out;
	/* Chains: the hop must exist, differ and have a service MAC. */
	if (!ASSERT_EQ(dp_chain_set(dp, 10, 10), -EINVAL, "self") ||
	    !ASSERT_EQ(dp_chain_set(dp, 10, 4095), -EINVAL, "range") ||
	    !ASSERT_EQ(dp_chain_set(dp, 10, 12), -ENOENT, "missing hop") ||
	    !ASSERT_OK(dp_chain_set(dp, 10, 11), "chain") ||
	    !ASSERT_OK(dp_vif_get(dp, 10, &e), "get chain") ||
	    !ASSERT_EQ(e.next_hop, 11, "next hop") ||
	    !ASSERT_OK(dp_chain_set(dp, 10, 0), "unchain") ||
	    !ASSERT_OK(dp_vif_get(dp, 10, &e), "get unchained") ||
	    !ASSERT_EQ(e.next_hop, 0, "no hop"))
		goto out;
	spec_make(&s, 12, 12);
	memset(s.svc_mac, 0, 6);
	if (!ASSERT_OK(dp_vif_upsert(dp, &s, err, sizeof(err)), err) ||
	    !ASSERT_EQ(dp_chain_set(dp, 10, 12), -EDESTADDRREQ, "no MAC"))
		goto out;
	spec_make(&s, 13, 13);
	s.next_hop = 12;
	if (!ASSERT_EQ(dp_vif_upsert(dp, &s, err, sizeof(err)),
		       -EDESTADDRREQ, "upsert into MAC-less hop") ||
	    !ASSERT_TRUE(strstr(err, "chain next hop 12 unusable") != NULL,
			 err))
		goto out;
	s.next_hop = 11;
	if (!ASSERT_OK(dp_vif_upsert(dp, &s, err, sizeof(err)), err) ||
	    !ASSERT_OK(dp_vif_get(dp, 13, &e), "get 13") ||
	    !ASSERT_EQ(e.next_hop, 11, "upsert chained"))
		goto out;
	ret = 0;
out:
	dp_close(dp);
	path_unlink();
	return ret;
}

static int test_quota(void)
{
	struct vif_shm *shm = NULL;
	struct dp *dp = NULL;
	struct vif_entry e;
	__u64 used;
	int ret = -1;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((shm = map_rw()) != NULL, "map") ||
	    !ASSERT_OK(upsert(dp, 7, 7), "upsert") ||
	    !ASSERT_EQ(dp_quota_set(dp, 7, 1000, 0), -EINVAL, "no direction") ||
	    !ASSERT_EQ(dp_quota_set(dp, 7, 1000, 1u << 20), -EINVAL,
		       "bad flag") ||
	    !ASSERT_EQ(dp_quota_set(dp, 8, 1000, VIF_F_QUOTA_RX), -ENOENT,
		       "no VIF") ||
	    !ASSERT_OK(dp_quota_set(dp, 7, 1000000,
				    VIF_F_QUOTA_RX | VIF_F_QUOTA_BLOCK),
		       "set") ||
	    !ASSERT_OK(dp_vif_get(dp, 7, &e), "get") ||
	    !ASSERT_EQ(e.quota_limit, 1000000, "limit") ||
	    !ASSERT_EQ(e.flags, VIF_F_ACTIVE | VIF_F_QUOTA_RX |
					VIF_F_QUOTA_BLOCK,
		       "quota flags"))
		goto out;
	/* Workers' rows, as vif_quota_admit() leaves them. */
	shm->workers[0].quota[7] = (struct vif_quota_pcpu){ .used = 100, .epoch = e.quota_epoch };
	shm->workers[5].quota[7] = (struct vif_quota_pcpu){ .used = 20, .epoch = e.quota_epoch };
	shm->workers[15].quota[7] = (struct vif_quota_pcpu){ .used = 3, .epoch = e.quota_epoch };
	/* A worker still on the last period counts nothing. */
	shm->workers[9].quota[7] =
		(struct vif_quota_pcpu){ .used = 5000, .epoch = e.quota_epoch - 1 };
	shm->quota_shr[7 * 2 + ((e.quota_epoch + 1) & 1)].granted = 777;
	if (!ASSERT_OK(dp_quota_usage(dp, 7, &used), "usage") ||
	    !ASSERT_EQ(used, 123, "summed over workers") ||
	    !ASSERT_EQ(dp_quota_usage(dp, 8, &used), -ENOENT, "usage no VIF") ||
	    !ASSERT_OK(dp_quota_reset(dp, 7), "reset") ||
	    !ASSERT_OK(dp_vif_get(dp, 7, &e), "get reset") ||
	    !ASSERT_EQ(e.quota_limit, 1000000, "limit kept") ||
	    !ASSERT_EQ(shm->quota_shr[7 * 2 + (e.quota_epoch & 1)].granted, 0,
		       "next budget zeroed") ||
	    !ASSERT_OK(dp_quota_usage(dp, 7, &used), "usage after reset") ||
	    !ASSERT_EQ(used, 0, "new period"))
		goto out;
	shm->workers[9].quota[7] = (struct vif_quota_pcpu){ .used = 50, .epoch = e.quota_epoch };
	if (!ASSERT_OK(dp_quota_usage(dp, 7, &used), "usage 3") ||
	    !ASSERT_EQ(used, 50, "counts the new period") ||
	    !ASSERT_OK(dp_quota_set(dp, 7, 0, 0), "remove quota") ||
	    !ASSERT_OK(dp_vif_get(dp, 7, &e), "get 3") ||
	    !ASSERT_EQ(e.flags, VIF_F_ACTIVE, "quota flags gone"))
		goto out;
	ret = 0;
out:
	vif_shm_unmap(shm);
	dp_close(dp);
	path_unlink();
	return ret;
}

static int test_stats(void)
{
	static const unsigned int workers[] = { 0, 3, 15 };
	struct vif_shm *shm = NULL;
	struct dp_stats *st = NULL;
	struct dp *dp = NULL;
	unsigned int i;
	int ret = -1;

	path_new();
	st = calloc(1, sizeof(*st));
	if (!ASSERT_TRUE(st != NULL, "alloc") ||
	    !ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((shm = map_rw()) != NULL, "map"))
		goto out;
	for (i = 0; i < ARRAY_SIZE(workers); i++) {
		struct vif_shm_worker *w = &shm->workers[workers[i]];

		w->global.trunk_rx_packets = 1 + i;
		w->global.svc_rx_packets = 10;
		w->global.drops[VIF_DROP_UNKNOWN_VLAN] = 100;
		w->stats[1].rx_packets = 1;
		w->stats[100].tx_bytes = 1000 * (i + 1);
		w->stats[100].drops[VIF_DROP_SPOOF] = 2;
		/* VLAN 4095 is the last row of every chunk. */
		w->stats[4095].drops[VIF_DROP_POLICY_BUSY] = 7;
		w->stats[64].rx_bytes = 64; /* first VLAN of a later chunk */
	}
	if (!ASSERT_OK(dp_stats_read(dp, st), "read") ||
	    !ASSERT_EQ(st->global.trunk_rx_packets, 6, "global trunk") ||
	    !ASSERT_EQ(st->global.svc_rx_packets, 30, "global svc") ||
	    !ASSERT_EQ(st->global.drops[VIF_DROP_UNKNOWN_VLAN], 300,
		       "global drops") ||
	    !ASSERT_EQ(st->vif[1].rx_packets, 3, "vif 1") ||
	    !ASSERT_EQ(st->vif[100].tx_bytes, 6000, "vif 100 bytes") ||
	    !ASSERT_EQ(st->vif[100].drops[VIF_DROP_SPOOF], 6, "vif 100 drops") ||
	    !ASSERT_EQ(stats_vif_drops(&st->vif[100]), 6, "vif 100 total") ||
	    !ASSERT_EQ(st->vif[64].rx_bytes, 192, "vif 64") ||
	    !ASSERT_EQ(st->vif[4095].drops[VIF_DROP_POLICY_BUSY], 21,
		       "vif 4095") ||
	    !ASSERT_EQ(st->vif[2].rx_packets, 0, "vif 2 untouched"))
		goto out;
	if (!ASSERT_OK(dp_stats_clear(dp), "clear") ||
	    !ASSERT_OK(dp_stats_read(dp, st), "read cleared") ||
	    !ASSERT_EQ(st->global.trunk_rx_packets, 0, "global cleared") ||
	    !ASSERT_EQ(st->vif[100].tx_bytes, 0, "vif cleared") ||
	    !ASSERT_EQ(shm->workers[15].stats[4095].drops[VIF_DROP_POLICY_BUSY],
		       0, "row cleared"))
		goto out;
	ret = 0;
out:
	vif_shm_unmap(shm);
	dp_close(dp);
	free(st);
	path_unlink();
	return ret;
}

/* ---- ports ------------------------------------------------------------------ */

/* n ifindexes >= VIF_PORT_SLOTS whose probes start at one slot. */
static void colliding_ifindexes(__u32 *out, int n)
{
	__u32 base = 100000, want = vif_shm_big_slot(base), i;
	int k = 0;

	out[k++] = base;
	for (i = base + 1; k < n; i++)
		if (vif_shm_big_slot(i) == want)
			out[k++] = i;
}

static __u16 env_vlan(struct vif_shm_env *env, __u32 ifindex)
{
	struct vif_port *p = vif_port_lookup(env, ifindex);

	return p ? p->vlan : 0;
}

static int test_ports_big(void)
{
	struct vif_shm_env env = {};
	struct vif_shm *shm = NULL;
	struct dp *dp = NULL;
	__u32 ifx[5], start, i;
	struct vif_entry e;
	int ret = -1, keyed;

	path_new();
	colliding_ifindexes(ifx, 5);
	start = vif_shm_big_slot(ifx[0]);
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((shm = map_rw()) != NULL, "map"))
		goto out;
	env.shm = shm;
	env.w = &shm->workers[0];
#define BIG(k) (shm->ports_big[(start + (k)) & (VIF_SHM_BIG_PORTS - 1)])
	if (!ASSERT_OK(upsert(dp, 10, ifx[0]), "a") ||
	    !ASSERT_OK(upsert(dp, 11, ifx[1]), "b") ||
	    !ASSERT_OK(upsert(dp, 12, ifx[2]), "c") ||
	    !ASSERT_EQ(BIG(0).ifindex, ifx[0], "a at its slot") ||
	    !ASSERT_EQ(BIG(1).ifindex, ifx[1], "b probed on") ||
	    !ASSERT_EQ(BIG(2).ifindex, ifx[2], "c probed on") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[0]), 10, "engine finds a") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[1]), 11, "engine finds b") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[2]), 12, "engine finds c") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[3]), 0, "d unknown"))
		goto out;
	/* Removing b leaves a tombstone: c stays reachable. */
	if (!ASSERT_OK(dp_vif_delete(dp, 11), "delete b") ||
	    !ASSERT_EQ(BIG(1).ifindex, ifx[1], "tombstone keyed") ||
	    !ASSERT_EQ(BIG(1).port.vlan, 0, "tombstone vlan 0") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[1]), 0, "b gone") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[2]), 12, "c still found"))
		goto out;
	/* d takes the tombstone; b comes back after the others. */
	if (!ASSERT_OK(upsert(dp, 13, ifx[3]), "d") ||
	    !ASSERT_EQ(BIG(1).ifindex, ifx[3], "d rekeyed the tombstone") ||
	    !ASSERT_OK(upsert(dp, 11, ifx[1]), "b again") ||
	    !ASSERT_EQ(BIG(3).ifindex, ifx[1], "b at the end of the run") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[1]), 11, "b found") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[3]), 13, "d found"))
		goto out;
	/* Updating a port in place, and moving a VIF to a small port. */
	if (!ASSERT_OK(upsert(dp, 14, ifx[4]), "e") ||
	    !ASSERT_OK(upsert(dp, 10, 5000), "a's VIF moves") ||
	    !ASSERT_EQ(BIG(0).ifindex, ifx[0], "a keyed") ||
	    !ASSERT_EQ(BIG(0).port.vlan, 0, "a tombstone") ||
	    !ASSERT_EQ(shm->ports[5000].vlan, 10, "small port") ||
	    !ASSERT_EQ(env_vlan(&env, 5000), 10, "engine finds it") ||
	    !ASSERT_EQ(env_vlan(&env, ifx[4]), 14, "e past two tombstones"))
		goto out;
	/* The border between array and open addressing. */
	if (!ASSERT_OK(upsert(dp, 20, VIF_PORT_SLOTS - 1), "65535") ||
	    !ASSERT_OK(upsert(dp, 21, VIF_PORT_SLOTS), "65536") ||
	    !ASSERT_EQ(shm->ports[VIF_PORT_SLOTS - 1].vlan, 20, "in array") ||
	    !ASSERT_EQ(env_vlan(&env, VIF_PORT_SLOTS), 21, "in big") ||
	    !ASSERT_OK(dp_vif_get(dp, 21, &e), "get 21") ||
	    !ASSERT_EQ(e.svc_ifindex, VIF_PORT_SLOTS, "entry names it"))
		goto out;
	/* No keyed slot was ever emptied. */
	for (i = 0, keyed = 0; i < VIF_SHM_BIG_PORTS; i++)
		keyed += !!shm->ports_big[i].ifindex;
	if (!ASSERT_EQ(keyed, 6, "keyed slots"))
		goto out;
#undef BIG
	ret = 0;
out:
	vif_shm_unmap(shm);
	dp_close(dp);
	path_unlink();
	return ret;
}

/* ---- port requests ---------------------------------------------------------- */

static struct vif_shm_req *req_of(struct vif_shm *shm, __u32 ifindex,
				  int *count)
{
	struct vif_shm_req *found = NULL;
	unsigned int i;

	*count = 0;
	for (i = 0; i < VIF_SHM_MAX_REQS; i++)
		if (shm->req[i].state != VIF_SHM_REQ_FREE &&
		    shm->req[i].ifindex == ifindex) {
			found = &shm->req[i];
			(*count)++;
		}
	return found;
}

/* Some netdev other than lo, for the trunk; 0 if there is none. */
static int other_ifindex(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int found = 0;

	if (!ifs)
		return 0;
	for (i = ifs; i->if_index && !found; i++)
		if (i->if_index != 1)
			found = (int)i->if_index;
	if_freenameindex(ifs);
	return found;
}

static int test_requests_no_engine(void)
{
	struct dp_port_info info;
	struct vif_shm *shm = NULL;
	struct vif_shm_req *r, *r2;
	struct dp *dp = NULL;
	int ret = -1, n, trunk = other_ifindex();

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((shm = map_rw()) != NULL, "map") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, NULL), DP_PORT_NONE, "nothing") ||
	    /* No engine: the request waits for one, the call does not. */
	    !ASSERT_OK(dp_port_attach(dp, 1), "attach lo") ||
	    !ASSERT_TRUE((r = req_of(shm, 1, &n)) != NULL, "request") ||
	    !ASSERT_EQ(n, 1, "one request") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_WANTED, "wanted") ||
	    !ASSERT_EQ(r->kind, VIF_SHM_PORT_SERVICE, "service") ||
	    !ASSERT_TRUE(!strcmp(r->ifname, "lo"), "ifname") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, &info), DP_PORT_PENDING,
		       "pending") ||
	    !ASSERT_OK(dp_port_attach(dp, 1), "attach twice") ||
	    !ASSERT_TRUE(req_of(shm, 1, &n) == r && n == 1, "no duplicate") ||
	    !ASSERT_EQ(dp_trunk_attach(dp, 1), -EBUSY, "lo is a service port") ||
	    !ASSERT_EQ(dp_port_attach(dp, 0x7ffffff0), -ENODEV, "no netdev") ||
	    !ASSERT_OK(dp_port_detach(dp, 1), "detach") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_REMOVE, "remove") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, NULL), DP_PORT_NONE, "removed") ||
	    /* With no engine to act on REMOVE, a new attach re-arms it. */
	    !ASSERT_OK(dp_port_attach(dp, 1), "attach again") ||
	    !ASSERT_TRUE((r2 = req_of(shm, 1, &n)) == r && n == 1,
			 "same slot") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_WANTED, "wanted again"))
		goto out;
	/* Resume re-asks for every port of the tables that has none. */
	if (!ASSERT_OK(upsert(dp, 100, 1), "VIF on lo") ||
	    !ASSERT_OK(upsert(dp, 101, 0x7ffffff0), "VIF on no netdev") ||
	    !ASSERT_OK(dp_port_detach(dp, 1), "detach for resume") ||
	    !ASSERT_OK(dp_resume(dp), "resume (ENODEV ignored)") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_WANTED, "re-requested"))
		goto out;
	if (trunk) {
		struct vif_dp_config cfg;

		if (!ASSERT_OK(dp_trunk_attach(dp, trunk), "trunk") ||
		    !ASSERT_OK(dp_config_get(dp, &cfg), "cfg") ||
		    !ASSERT_EQ(cfg.trunk_ifindex, trunk, "trunk set") ||
		    !ASSERT_TRUE((r2 = req_of(shm, trunk, &n)) != NULL,
				 "trunk request") ||
		    !ASSERT_EQ(r2->kind, VIF_SHM_PORT_TRUNK, "trunk kind") ||
		    !ASSERT_EQ(dp_port_status(dp, trunk, NULL),
			       DP_PORT_PENDING, "trunk pending") ||
		    !ASSERT_OK(dp_trunk_detach(dp), "trunk detach") ||
		    !ASSERT_OK(dp_config_get(dp, &cfg), "cfg 2") ||
		    !ASSERT_EQ(cfg.trunk_ifindex, 0, "trunk cleared") ||
		    !ASSERT_EQ(r2->state, VIF_SHM_REQ_REMOVE, "trunk removed"))
			goto out;
	}
	/* Teardown: every request to REMOVE, the files gone. */
	if (!ASSERT_OK(dp_teardown(dp), "teardown") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_REMOVE, "lo removed") ||
	    !ASSERT_EQ(access(g_path, F_OK), -1, "file gone"))
		goto out;
	ret = 0;
out:
	vif_shm_unmap(shm);
	dp_close(dp);
	path_unlink();
	return ret;
}

/* A stand-in for vifdpdk's request loop: answers like the engine would. */
struct fake_engine {
	struct vif_shm *shm;
	pthread_t th;
	int stop;      /* atomic */
	int fail_next; /* atomic: -errno for the next WANTED, 0 = serve */
	int mute;      /* atomic: heartbeat but answer nothing */
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *engine_main(void *arg)
{
	struct fake_engine *fe = arg;
	struct vif_shm *shm = fe->shm;
	struct timespec pause = { .tv_nsec = 500000 };
	unsigned int i;
	__u32 s;
	int fail;

	__atomic_store_n(&shm->hdr.heartbeat_ns, mono_ns(), __ATOMIC_RELEASE);
	__atomic_store_n(&shm->hdr.engine_pid, (__u32)getpid(),
			 __ATOMIC_RELEASE);
	while (!__atomic_load_n(&fe->stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&shm->hdr.heartbeat_ns, mono_ns(),
				 __ATOMIC_RELEASE);
		for (i = 0; i < VIF_SHM_MAX_REQS; i++) {
			struct vif_shm_req *r = &shm->req[i];

			s = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
			if (s == VIF_SHM_REQ_REMOVE) {
				__atomic_compare_exchange_n(
					&r->state, &s, VIF_SHM_REQ_FREE, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
				continue;
			}
			if (s != VIF_SHM_REQ_WANTED ||
			    __atomic_load_n(&fe->mute, __ATOMIC_ACQUIRE))
				continue;
			fail = __atomic_exchange_n(&fe->fail_next, 0,
						   __ATOMIC_ACQ_REL);
			r->error = fail;
			r->port_id = 100 + i;
			__atomic_compare_exchange_n(
				&r->state, &s,
				fail ? VIF_SHM_REQ_FAILED : VIF_SHM_REQ_ACTIVE,
				false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		}
		nanosleep(&pause, NULL);
	}
	__atomic_store_n(&shm->hdr.engine_pid, 0, __ATOMIC_RELEASE);
	return NULL;
}

static int test_requests_engine(void)
{
	struct fake_engine fe = {};
	struct dp_port_info info;
	struct vif_shm_req *r;
	struct dp *dp = NULL;
	bool running = false;
	int ret = -1, n, trunk = other_ifindex();
	__u64 t0;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_TRUE((fe.shm = map_rw()) != NULL, "map") ||
	    !ASSERT_OK(pthread_create(&fe.th, NULL, engine_main, &fe),
		       "engine"))
		goto out;
	running = true;
	while (!__atomic_load_n(&fe.shm->hdr.engine_pid, __ATOMIC_ACQUIRE))
		sched_yield();
	/* The engine refuses: its error comes back, the port is not served. */
	__atomic_store_n(&fe.fail_next, -EADDRNOTAVAIL, __ATOMIC_RELEASE);
	if (!ASSERT_EQ(dp_port_attach(dp, 1), -EADDRNOTAVAIL, "refused") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, &info), DP_PORT_NONE, "none") ||
	    !ASSERT_EQ(info.error, -EADDRNOTAVAIL, "the engine's error") ||
	    /* Asking again re-arms the FAILED slot. */
	    !ASSERT_OK(dp_port_attach(dp, 1), "served") ||
	    !ASSERT_TRUE((r = req_of(fe.shm, 1, &n)) != NULL && n == 1,
			 "one request") ||
	    !ASSERT_EQ(r->state, VIF_SHM_REQ_ACTIVE, "active") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, &info), DP_PORT_SERVED,
		       "status served") ||
	    !ASSERT_EQ(info.port_id, r->port_id, "port id") ||
	    !ASSERT_OK(dp_port_detach(dp, 1), "detach waits") ||
	    !ASSERT_TRUE(req_of(fe.shm, 1, &n) == NULL, "engine freed it"))
		goto out;
	if (trunk &&
	    (!ASSERT_OK(dp_trunk_attach(dp, trunk), "trunk served") ||
	     !ASSERT_EQ(dp_port_status(dp, trunk, NULL), DP_PORT_SERVED,
			"trunk status") ||
	     !ASSERT_OK(dp_trunk_detach(dp), "trunk detach") ||
	     !ASSERT_TRUE(req_of(fe.shm, trunk, &n) == NULL, "trunk freed")))
		goto out;
	/* A live engine that does not answer: the call gives up in time. */
	__atomic_store_n(&fe.mute, 1, __ATOMIC_RELEASE);
	t0 = mono_ns();
	if (!ASSERT_EQ(dp_port_attach(dp, 1), -ETIMEDOUT, "no answer") ||
	    !ASSERT_TRUE(mono_ns() - t0 >= DP_SHM_REQ_WAIT_MS * 900000ull,
			 "waited") ||
	    !ASSERT_EQ(dp_port_status(dp, 1, NULL), DP_PORT_PENDING,
		       "left pending"))
		goto out;
	__atomic_store_n(&fe.mute, 0, __ATOMIC_RELEASE);
	/* Teardown waits for the engine to drop everything. */
	if (!ASSERT_OK(dp_port_attach(dp, 1), "served late") ||
	    !ASSERT_OK(dp_teardown(dp), "teardown") ||
	    !ASSERT_TRUE(req_of(fe.shm, 1, &n) == NULL, "all freed"))
		goto out;
	ret = 0;
out:
	if (running) {
		__atomic_store_n(&fe.stop, 1, __ATOMIC_RELEASE);
		pthread_join(fe.th, NULL);
	}
	vif_shm_unmap(fe.shm);
	dp_close(dp);
	path_unlink();
	return ret;
}

/* ---- the flip race ------------------------------------------------------------ */

#define RACE_VLAN 300
#define RACE_FLIPS 40000
#define RACE_READS 100000

struct race {
	struct vif_shm_env env;
	int done; /* atomic */
	unsigned long ok, busy, torn;
};

/* Everything of entry k derives from k: a mix of two is visible. */
static void race_spec(struct vif_spec *s, __u32 k)
{
	spec_make(s, RACE_VLAN, 42);
	s->mark = k;
	s->table = k * 3 + 1;
	s->quota_limit = (__u64)k << 20 | 1;
	s->quota_flags = VIF_F_QUOTA_TX;
	s->addr = htonl(0x0a000000 | ((k & 0xffff) << 8) | 1);
	s->host_addr = htonl(0x0a000000 | ((k & 0xffff) << 8) | 2);
	s->svc_mac[1] = (__u8)(k >> 24);
	s->svc_mac[2] = (__u8)(k >> 16);
	s->svc_mac[3] = (__u8)(k >> 8);
	s->svc_mac[4] = (__u8)k;
	s->port_mac[5] = (__u8)k;
}

static bool race_consistent(const struct vif_entry *e)
{
	__u32 k = e->mark;

	return e->vlan == RACE_VLAN && e->svc_ifindex == 42 &&
	       e->table == k * 3 + 1 && e->quota_limit == ((__u64)k << 20 | 1) &&
	       e->addr == htonl(0x0a000000 | ((k & 0xffff) << 8) | 1) &&
	       e->host_addr == htonl(0x0a000000 | ((k & 0xffff) << 8) | 2) &&
	       e->subnet == (e->addr & e->netmask) &&
	       e->svc_mac[1] == (__u8)(k >> 24) &&
	       e->svc_mac[2] == (__u8)(k >> 16) &&
	       e->svc_mac[3] == (__u8)(k >> 8) && e->svc_mac[4] == (__u8)k &&
	       e->port_mac[5] == (__u8)k;
}

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	struct vif_entry e;

	while (!__atomic_load_n(&rc->done, __ATOMIC_ACQUIRE)) {
		if (vif_policy_read(&rc->env, RACE_VLAN, &e) != VIF_POLICY_OK) {
			rc->busy++;
			continue;
		}
		/* The writer's loop watches this to outlast a slow start. */
		__atomic_fetch_add(&rc->ok, 1, __ATOMIC_RELAXED);
		if (!race_consistent(&e))
			rc->torn++;
	}
	return NULL;
}

static int test_flip_race(void)
{
	struct race rc = {};
	struct vif_shm *ro = NULL;
	struct dp *dp = NULL;
	struct vif_spec s;
	pthread_t th;
	bool started = false;
	int ret = -1, err = 0;
	__u64 t0;
	__u32 k;

	path_new();
	if (!ASSERT_OK(open_dp(false, &dp), "open") ||
	    !ASSERT_OK(vif_shm_map(g_path, VIF_SHM_READ_ONLY, &ro, NULL, 0),
		       "reader map"))
		goto out;
	rc.env.shm = ro;
	rc.env.w = &ro->workers[0];
	/* The checker sees a half-and-half entry (halves of two k's). */
	{
		struct vif_entry a, b;

		race_spec(&s, 1);
		policy_entry_from_spec(&s, 0, 0, &a);
		race_spec(&s, 2);
		policy_entry_from_spec(&s, 0, 0, &b);
		memcpy((char *)&a + 32, (char *)&b + 32, 32);
		if (!ASSERT_TRUE(!race_consistent(&a), "checker sees tears"))
			goto out;
	}
	race_spec(&s, 0);
	if (!ASSERT_OK(dp_vif_upsert(dp, &s, NULL, 0), "first") ||
	    !ASSERT_OK(pthread_create(&th, NULL, race_reader, &rc), "reader"))
		goto out;
	started = true;
	/*
	 * Whole-entry rewrites and single-flag flips, interleaved: at least
	 * RACE_FLIPS of each, and on until the reader (which a loaded
	 * machine may schedule late) has read RACE_READS times too.
	 */
	t0 = mono_ns();
	for (k = 1; !err && (k <= RACE_FLIPS ||
			     (__atomic_load_n(&rc.ok, __ATOMIC_RELAXED) <
				      RACE_READS &&
			      mono_ns() - t0 < 20000000000ull));
	     k++) {
		race_spec(&s, k);
		err = dp_vif_upsert(dp, &s, NULL, 0) ?:
		      dp_killswitch_set(dp, RACE_VLAN, k & 1);
	}
	__atomic_store_n(&rc.done, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	started = false;
	printf("flip race: %u flips, %lu reads, %lu busy, %lu torn\n",
	       2 * (k - 1), rc.ok, rc.busy, rc.torn);
	if (!ASSERT_OK(err, "writer") ||
	    !ASSERT_EQ(rc.torn, 0, "torn entries") ||
	    !ASSERT_TRUE(rc.ok >= RACE_READS, "reader ran alongside"))
		goto out;
	ret = 0;
out:
	if (started) {
		__atomic_store_n(&rc.done, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
	}
	vif_shm_unmap(ro);
	dp_close(dp);
	path_unlink();
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_open_defaults),
	TEST_CASE(test_writer_lock),
	TEST_CASE(test_read_only),
	TEST_CASE(test_refuse_foreign),
	TEST_CASE(test_upsert_get_delete_dump),
	TEST_CASE(test_flags_and_chain),
	TEST_CASE(test_quota),
	TEST_CASE(test_stats),
	TEST_CASE(test_ports_big),
	TEST_CASE(test_requests_no_engine),
	TEST_CASE(test_requests_engine),
	TEST_CASE(test_flip_race),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
