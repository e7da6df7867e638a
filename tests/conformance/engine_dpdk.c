// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * engine_dpdk.c - the DPDK engine of the conformance runner; see
 * engine_dpdk.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "engine_dpdk.h"
#include "harness.h"
#include "shm.h"
#include "vdp.h"

/* Synthetic ifindexes; C's lands in ports_big (>= VIF_PORT_SLOTS). */
static const int dpdk_ifindex[P__MAX] = {
	[P_TRUNK] = 7, [P_A] = 11, [P_B] = 12, [P_C] = 70001, [P_X] = 13,
};

/* The worker row every frame runs on. */
#define DPDK_WORKER 0

#define POOL_SIZE 1023
#define POOL_CACHE 0

static struct dpdk_engine *of(struct conf_engine *e)
{
	return (struct dpdk_engine *)e;
}

/* ---- frames <-> mbufs ------------------------------------------------ */

/* frame as a chain of mbufs, each filled to its data room. */
static struct rte_mbuf *mbuf_from(struct rte_mempool *pool,
				  const struct pkt *frame)
{
	struct rte_mbuf *head = NULL, *seg;
	size_t off = 0, n;
	char *dst;

	do {
		seg = rte_pktmbuf_alloc(pool);
		if (!seg)
			goto fail;
		n = frame->len - off;
		if (n > rte_pktmbuf_tailroom(seg))
			n = rte_pktmbuf_tailroom(seg);
		dst = rte_pktmbuf_append(seg, (uint16_t)n);
		if (!dst) {
			rte_pktmbuf_free(seg);
			goto fail;
		}
		memcpy(dst, frame->data + off, n);
		off += n;
		if (!head) {
			head = seg;
		} else if (rte_pktmbuf_chain(head, seg)) {
			rte_pktmbuf_free(seg);
			goto fail;
		}
	} while (off < frame->len);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

/* The mbuf's bytes into out; false (and why in note) if inconsistent. */
static bool mbuf_to(const struct rte_mbuf *m, struct pkt *out, char *note,
		    size_t notelen)
{
	const struct rte_mbuf *s;
	uint32_t sum = 0, segs = 0;

	for (s = m; s; s = s->next) {
		sum += s->data_len;
		segs++;
	}
	if (sum != m->pkt_len || segs != m->nb_segs) {
		snprintf(note, notelen,
			 "mbuf chain: pkt_len %u, segments sum to %u; nb_segs %u, %u found",
			 m->pkt_len, sum, m->nb_segs, segs);
		return false;
	}
	if (m->pkt_len > PKT_MAX) {
		snprintf(note, notelen, "mbuf of %u bytes", m->pkt_len);
		return false;
	}
	pkt_init(out);
	for (s = m; s; s = s->next)
		pkt_bytes(out, rte_pktmbuf_mtod(s, const void *), s->data_len);
	return true;
}

/* ---- the engine's hooks --------------------------------------------- */

static int dpdk_run(struct conf_engine *e, enum conf_hook hook,
		    enum conf_port in, const struct pkt *frame,
		    struct conf_result *r)
{
	struct dpdk_engine *d = of(e);
	struct vif_shm_env env = {
		.shm = d->shm,
		.w = &d->shm->workers[DPDK_WORKER],
	};
	struct vdp_pkt p = { .ingress = (uint32_t)e->ifindex[in] };

	r->ran = true;
	p.m = mbuf_from(d->pool, frame);
	if (!p.m)
		return -ENOMEM;
	r->verdict = hook == CONF_TRUNK ? vdp_trunk_one(&env, &p) :
					  vdp_service_one(&env, &p);
	r->out_valid = mbuf_to(p.m, &r->out, r->note, sizeof(r->note));
	if (!r->out_valid)
		r->engine_ok = false;
	rte_pktmbuf_free(p.m);

	r->has_mark = p.has_mark;
	r->mark = p.mark;
	r->to_known = true;
	r->to_ifindex = p.out_ifindex;
	r->to = conf_port_of(e, p.out_ifindex);
	if (r->verdict != VIF_ACT_REDIRECT && p.out_ifindex) {
		r->engine_ok = false;
		snprintf(r->note, sizeof(r->note),
			 "out_ifindex %u set on a %s frame", p.out_ifindex,
			 conf_act_name(r->verdict));
	}
	if (r->verdict == VIF_ACT_REDIRECT && r->to == P_NONE) {
		r->engine_ok = false;
		snprintf(r->note, sizeof(r->note),
			 "redirected to ifindex %u, which is no port",
			 p.out_ifindex);
	}
	return 0;
}

static int dpdk_index_get(struct conf_engine *e, __u32 vlan, __u32 *idx)
{
	if (vlan >= VIF_VLAN_SLOTS)
		return -EINVAL;
	*idx = __atomic_load_n(&of(e)->shm->index[vlan], __ATOMIC_ACQUIRE);
	return 0;
}

static int dpdk_policy_put(struct conf_engine *e, __u32 key,
			   const struct vif_entry *ent)
{
	if (key >= VIF_POLICY_SLOTS)
		return -EINVAL;
	of(e)->shm->policy[key] = *ent;
	return 0;
}

/* Behind dp's back, as a bpf_map_update_elem() is for XDP. */
static int dpdk_port_put(struct conf_engine *e, __u32 ifindex,
			 const struct vif_port *p)
{
	struct vif_shm *shm = of(e)->shm;
	struct vif_shm_big_port *b, *free_slot = NULL;
	__u32 i, slot;

	if (ifindex < VIF_PORT_SLOTS) {
		shm->ports[ifindex] = *p;
		return 0;
	}
	slot = vif_shm_big_slot(ifindex);
	for (i = 0; i < VIF_SHM_BIG_PORTS; i++) {
		b = &shm->ports_big[(slot + i) & (VIF_SHM_BIG_PORTS - 1)];
		if (b->ifindex == ifindex) {
			b->port = *p;
			return 0;
		}
		if (!b->ifindex) {
			free_slot = b;
			break;
		}
	}
	if (!free_slot)
		return -ENOSPC;
	free_slot->port = *p;
	__atomic_store_n(&free_slot->ifindex, ifindex, __ATOMIC_RELEASE);
	return 0;
}

static int dpdk_granted_get(struct conf_engine *e, __u32 key, __u64 *granted)
{
	if (key >= VIF_POLICY_SLOTS)
		return -EINVAL;
	*granted = of(e)->shm->quota_shr[key].granted;
	return 0;
}

/* What dp_trunk_attach() stores once the port request is filed. */
static int dpdk_trunk_set(struct conf_engine *e, __u32 ifindex)
{
	__atomic_store_n(&of(e)->shm->config.trunk_ifindex, ifindex,
			 __ATOMIC_RELEASE);
	return 0;
}

static const struct conf_engine_ops dpdk_ops = {
	.run = dpdk_run,
	.index_get = dpdk_index_get,
	.policy_put = dpdk_policy_put,
	.port_put = dpdk_port_put,
	.granted_get = dpdk_granted_get,
	.trunk_set = dpdk_trunk_set,
};

/* ---- setup ---------------------------------------------------------- */

/*
 * --no-huge mallocs EAL memory, so no root is needed; it implies legacy
 * memory, which refuses --in-memory: --no-shconf keeps the run free of
 * shared runtime files instead.
 */
static int eal_start(const char *tag, const char **why)
{
	char prefix[64], lcores[32];
	char *argv[] = {
		"test_conformance", "--no-huge", "-m", "128", "--no-pci",
		"--no-shconf", "--no-telemetry", prefix, lcores,
		"--log-level", "lib.eal:warning", NULL,
	};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1, cpu;

	cpu = sched_getcpu();
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s-%d", tag,
		 (int)getpid());
	/* One lcore, the CPU we are on: EAL pins us to it, and XDP's
	 * runner pins to the CPU it finds us on. */
	snprintf(lcores, sizeof(lcores), "--lcores=0@%d", cpu < 0 ? 0 : cpu);
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init: %s (%d)\n", rte_strerror(rte_errno),
			rte_errno);
		*why = "EAL could not start (--no-huge --no-shconf --no-pci)";
		return TEST_SKIP;
	}
	return 0;
}

/*
 * Files of runs killed before their cleanup ran: "vifplane-<tag>-<pid>"
 * and its ".lock", whose pid is gone.
 */
static void sweep_stale_files(const char *tag)
{
	char prefix[64], path[512];
	struct dirent *de;
	size_t n;
	DIR *dir;
	int pid;

	n = (size_t)snprintf(prefix, sizeof(prefix), "vifplane-%s-", tag);
	dir = opendir("/dev/shm");
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, prefix, n) ||
		    sscanf(de->d_name + n, "%d", &pid) != 1 || pid <= 0 ||
		    !kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		if (!unlink(path))
			printf("removed stale file %s\n", path);
	}
	closedir(dir);
}

int dpdk_engine_setup(struct dpdk_engine *d, const char *tag,
		      const char **why)
{
	struct dp_opts opts = { .engine = DP_ENGINE_DPDK };
	char msg[128] = "";
	struct dp *dp = NULL;
	int i, err;

	memset(d, 0, sizeof(*d));
	err = eal_start(tag, why);
	if (err)
		return err;
	d->eal_up = true;
	/* Default data room: 2 KiB per segment, so jumbo frames chain. */
	d->pool = rte_pktmbuf_pool_create("conf_pool", POOL_SIZE, POOL_CACHE,
					  0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  SOCKET_ID_ANY);
	if (!d->pool) {
		err = -rte_errno;
		fprintf(stderr, "Couldn't create the mbuf pool: %s (%d)\n",
			rte_strerror(rte_errno), err);
		return err;
	}
	sweep_stale_files(tag);
	snprintf(d->shm_path, sizeof(d->shm_path), "/dev/shm/vifplane-%s-%d",
		 tag, (int)getpid());
	opts.shm_path = d->shm_path;
	err = dp_open(&opts, &dp);
	if (err) {
		fprintf(stderr, "Couldn't open the DPDK dataplane at '%s': %s (%d)\n",
			d->shm_path, strerror(-err), err);
		return err;
	}
	err = conf_engine_init(&d->base, "dpdk", &dpdk_ops, dp);
	if (err) {
		dp_teardown(dp);
		dp_close(dp);
		return err;
	}
	for (i = 0; i < P__MAX; i++)
		d->base.ifindex[i] = dpdk_ifindex[i];
	err = vif_shm_map(d->shm_path, 0, &d->shm, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "Couldn't map '%s': %s (%d)\n", d->shm_path,
			msg, err);
		return err;
	}
	/*
	 * No port requests (dp_port_attach): no engine process would serve
	 * them, and dp_shm wants a netdev name for each.  The logic needs
	 * only the tables: vif_ports (dp_vif_upsert) and the trunk.
	 */
	return conf_reset(&d->base);
}

void dpdk_engine_cleanup(struct dpdk_engine *d)
{
	if (d->shm) {
		vif_shm_unmap(d->shm);
		d->shm = NULL;
	}
	if (d->base.dp) {
		int err = dp_teardown(d->base.dp);

		if (err)
			fprintf(stderr, "Couldn't tear down '%s': %s (%d)\n",
				d->shm_path, strerror(-err), err);
		dp_close(d->base.dp);
		d->base.dp = NULL;
	}
	conf_engine_fini(&d->base);
	if (d->pool) {
		rte_mempool_free(d->pool);
		d->pool = NULL;
	}
	if (d->eal_up) {
		rte_eal_cleanup();
		d->eal_up = false;
	}
}
