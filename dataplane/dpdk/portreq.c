// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * portreq.c - hotplug the netdevs vifd asks for through shared memory.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "portreq.h"
#include "vdp_log.h"

void portreq_init(struct vdp_portreq *pr, struct vif_shm *shm,
		  struct vdp_ports *ps, struct vdp_workers *ws)
{
	unsigned int i;

	pr->shm = shm;
	pr->ps = ps;
	pr->ws = ws;
	for (i = 0; i < VIF_SHM_MAX_REQS; i++)
		pr->port_of[i] = PORTREQ_NONE;
}

/* The engine's answer: fields first, state last (the writer polls it). */
static void answer(struct vif_shm_req *r, __u32 state, int error,
		   __u32 port_id)
{
	r->error = error;
	r->port_id = port_id;
	__atomic_store_n(&r->state, state, __ATOMIC_RELEASE);
}

/* A port already serving ifindex (static or from another slot). */
static int port_with_ifindex(const struct vdp_ports *ps, uint32_t ifindex)
{
	uint16_t i;

	for (i = 0; i < RTE_MAX_ETHPORTS; i++)
		if (ps->p[i].used && ps->p[i].role != VDP_ROLE_HOST &&
		    ps->p[i].ifindex == ifindex)
			return i;
	return -1;
}

/* Try af_xdp, then af_packet, on the netdev of request slot. */
static int open_netdev(struct vdp_portreq *pr, unsigned int slot,
		       const struct vif_shm_req *r, const char *ifname,
		       uint16_t *port)
{
	static const char *const pmds[] = { "net_af_xdp", "net_af_packet" };
	static const char *const extra[] = { ",start_queue=0,queue_count=1",
					     ",qpairs=1" };
	struct vdp_port_spec spec;
	char err[256];
	unsigned int i;
	int ret = -ENODEV;

	for (i = 0; i < RTE_DIM(pmds); i++) {
		memset(&spec, 0, sizeof(spec));
		spec.kind = r->kind == VIF_SHM_PORT_TRUNK ? VDP_SPEC_TRUNK :
							    VDP_SPEC_SERVICE;
		spec.ifindex = r->ifindex;
		snprintf(spec.name, sizeof(spec.name), "%s_vr%u", pmds[i],
			 slot);
		snprintf(spec.devargs, sizeof(spec.devargs),
			 "%s,iface=%s%s", spec.name, ifname, extra[i]);
		err[0] = '\0';
		ret = ports_open(pr->ps, &spec, (int)slot, port, err,
				 sizeof(err));
		if (!ret)
			return 0;
		rte_log(i + 1 < RTE_DIM(pmds) ? RTE_LOG_INFO : RTE_LOG_ERR,
			vdp_logtype, "vifdpdk: port request %u (%s): %s%s\n",
			slot, ifname, err,
			i + 1 < RTE_DIM(pmds) ? "; trying the next PMD" : "");
	}
	return ret;
}

static bool serve(struct vdp_portreq *pr, unsigned int slot,
		  struct vif_shm_req *r)
{
	char ifname[sizeof(r->ifname) + 1];
	uint16_t port;
	unsigned int kidx;
	int ret, have;

	if (pr->port_of[slot] >= 0 || pr->port_of[slot] == PORTREQ_STATIC) {
		/* Asked again for what we serve: say so again. */
		if (r->state == VIF_SHM_REQ_ACTIVE)
			return false;
		answer(r, VIF_SHM_REQ_ACTIVE, 0,
		       pr->port_of[slot] >= 0 ? (__u32)pr->port_of[slot] :
						r->port_id);
		return true;
	}
	memcpy(ifname, r->ifname, sizeof(r->ifname));
	ifname[sizeof(r->ifname)] = '\0';
	if (!ifname[0] || strlen(ifname) >= IF_NAMESIZE || !r->ifindex ||
	    r->kind > VIF_SHM_PORT_TRUNK) {
		VDP_LOG(ERR, "port request %u: bad request (ifname '%s', ifindex %u, kind %u)\n",
			slot, ifname, r->ifindex, r->kind);
		answer(r, VIF_SHM_REQ_FAILED, -EINVAL, 0);
		return true;
	}
	kidx = if_nametoindex(ifname);
	if (kidx != r->ifindex) {
		ret = kidx ? -EINVAL : -ENODEV;
		VDP_LOG(ERR,
			"port request %u: netdev '%s' is %s, the request says ifindex %u\n",
			slot, ifname, kidx ? "another ifindex" : "missing",
			r->ifindex);
		answer(r, VIF_SHM_REQ_FAILED, ret, 0);
		return true;
	}
	have = port_with_ifindex(pr->ps, r->ifindex);
	if (have >= 0) {
		VDP_LOG(INFO, "port request %u (%s): served by port %d\n",
			slot, ifname, have);
		pr->port_of[slot] = PORTREQ_STATIC;
		answer(r, VIF_SHM_REQ_ACTIVE, 0, (__u32)have);
		return true;
	}
	ret = open_netdev(pr, slot, r, ifname, &port);
	if (ret) {
		answer(r, VIF_SHM_REQ_FAILED, ret, 0);
		return true;
	}
	ret = workers_republish(pr->ws, pr->ps);
	if (ret) {
		VDP_LOG(ERR, "port request %u (%s): Couldn't publish the port: %s (%d)\n",
			slot, ifname, strerror(-ret), ret);
		ports_forget(pr->ps, port);
		ports_close(pr->ps, port);
		answer(r, VIF_SHM_REQ_FAILED, ret, 0);
		return true;
	}
	pr->port_of[slot] = (int16_t)port;
	VDP_LOG(INFO, "port request %u: %s (ifindex %u) is port %u\n", slot,
		ifname, r->ifindex, port);
	answer(r, VIF_SHM_REQ_ACTIVE, 0, port);
	return true;
}

static bool unserve(struct vdp_portreq *pr, unsigned int slot,
		    struct vif_shm_req *r)
{
	int16_t port = pr->port_of[slot];
	int ret;

	if (port >= 0) {
		ports_forget(pr->ps, (uint16_t)port);
		/* No worker may hold the port when it stops: if the map
		 * without it cannot be published, keep it and retry on the
		 * next poll (the request stays REMOVE). */
		ret = workers_republish(pr->ws, pr->ps);
		if (ret) {
			VDP_LOG(ERR, "port request %u: Couldn't publish without port %d: %s (%d); will retry\n",
				slot, port, strerror(-ret), ret);
			pr->ps->p[port].used = true;
			return false;
		}
		ports_close(pr->ps, (uint16_t)port);
		VDP_LOG(INFO, "port request %u: port %d removed\n", slot,
			port);
	}
	pr->port_of[slot] = PORTREQ_NONE;
	answer(r, VIF_SHM_REQ_FREE, 0, 0);
	return true;
}

unsigned int portreq_poll(struct vdp_portreq *pr)
{
	unsigned int i, changed = 0;
	struct vif_shm_req *r;
	__u32 state;

	for (i = 0; i < VIF_SHM_MAX_REQS; i++) {
		r = &pr->shm->req[i];
		state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
		switch (state) {
		case VIF_SHM_REQ_WANTED:
			changed += serve(pr, i, r);
			break;
		case VIF_SHM_REQ_ACTIVE:
			/* Left ACTIVE by an engine before us. */
			if (pr->port_of[i] == PORTREQ_NONE)
				changed += serve(pr, i, r);
			break;
		case VIF_SHM_REQ_REMOVE:
			changed += unserve(pr, i, r);
			break;
		default:
			break;
		}
	}
	return changed;
}
