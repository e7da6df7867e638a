// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ports.c - probe, configure, start and stop the engine's ports, and turn
 * the set of running ports into the map the workers read.
 */
/* rte_devargs_reset() is still experimental in 22.11; the rest is stable. */
#define ALLOW_EXPERIMENTAL_API 1

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "ports.h"
#include "vdp_log.h"

#define MBUF_CACHE 256

int ports_init(struct vdp_ports *ps, const struct vdp_args *a,
	       uint16_t n_workers)
{
	unsigned int i;

	memset(ps, 0, sizeof(*ps));
	ps->n_workers = n_workers;
	ps->rx_desc = a->rx_desc;
	ps->tx_desc = a->tx_desc;
	ps->no_rss = a->no_rss;
	for (i = 0; i < RTE_MAX_ETHPORTS; i++)
		rte_spinlock_init(&ps->tx_lock[i]);
	ps->pool = rte_pktmbuf_pool_create("vdp_mbufs", a->mbufs, MBUF_CACHE,
					   0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	if (!ps->pool) {
		int err = -rte_errno;

		VDP_LOG(ERR,
			"Couldn't create a pool of %u mbufs: %s (%d); give EAL more memory (-m) or lower --mbufs\n",
			a->mbufs, rte_strerror(-err), err);
		return err;
	}
	return 0;
}

void ports_fini(struct vdp_ports *ps)
{
	rte_mempool_free(ps->pool);
	ps->pool = NULL;
}

static uint8_t role_of(enum vdp_spec_kind kind)
{
	switch (kind) {
	case VDP_SPEC_TRUNK:
		return VDP_ROLE_TRUNK;
	case VDP_SPEC_SERVICE:
		return VDP_ROLE_SERVICE;
	default:
		return VDP_ROLE_HOST;
	}
}

static const char *role_name(uint8_t role)
{
	switch (role) {
	case VDP_ROLE_TRUNK:
		return "trunk";
	case VDP_ROLE_SERVICE:
		return "service";
	case VDP_ROLE_HOST:
		return "host";
	default:
		return "?";
	}
}

uint16_t ports_trunk(const struct vdp_ports *ps)
{
	uint16_t i;

	for (i = 0; i < RTE_MAX_ETHPORTS; i++)
		if (ps->p[i].used && ps->p[i].role == VDP_ROLE_TRUNK)
			return i;
	return VDP_NO_PORT;
}

static uint16_t least_loaded(const struct vdp_ports *ps)
{
	uint16_t i, best = 0;

	for (i = 1; i < ps->n_workers; i++)
		if (ps->load[i] < ps->load[best])
			best = i;
	return best;
}

/*
 * Queues, RSS, descriptors, start.  On failure the port is left
 * configured but stopped; the caller closes it.
 */
static int port_setup(struct vdp_ports *ps, uint16_t port, uint8_t role,
		      struct vdp_port_desc *d, char *err, size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t nrxd = (uint16_t)ps->rx_desc, ntxd = (uint16_t)ps->tx_desc;
	uint16_t nrxq = 1, ntxq, q;
	int socket, ret;

	ret = rte_eth_dev_info_get(port, &info);
	if (ret) {
		snprintf(err, errlen, "Couldn't get device info: %s (%d)",
			 rte_strerror(-ret), ret);
		return ret;
	}
	if (!info.max_rx_queues || !info.max_tx_queues) {
		snprintf(err, errlen, "device has %u rx / %u tx queues",
			 info.max_rx_queues, info.max_tx_queues);
		return -ENOTSUP;
	}
	if (role == VDP_ROLE_TRUNK && !ps->no_rss)
		nrxq = RTE_MIN(ps->n_workers, info.max_rx_queues);
	ntxq = RTE_MIN(ps->n_workers, info.max_tx_queues);
	if (nrxq > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads &
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
		if (!conf.rx_adv_conf.rss_conf.rss_hf)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
	}
	ret = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (ret) {
		snprintf(err, errlen,
			 "Couldn't configure %u rx / %u tx queues: %s (%d)",
			 nrxq, ntxq, rte_strerror(-ret), ret);
		return ret;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if (ret) {
		snprintf(err, errlen, "Couldn't adjust descriptors: %s (%d)",
			 rte_strerror(-ret), ret);
		return ret;
	}
	socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = (int)rte_socket_id();
	for (q = 0; q < nrxq; q++) {
		ret = rte_eth_rx_queue_setup(port, q, nrxd, (unsigned)socket,
					     NULL, ps->pool);
		if (ret) {
			snprintf(err, errlen,
				 "Couldn't set up rx queue %u: %s (%d)", q,
				 rte_strerror(-ret), ret);
			return ret;
		}
	}
	for (q = 0; q < ntxq; q++) {
		ret = rte_eth_tx_queue_setup(port, q, ntxd, (unsigned)socket,
					     NULL);
		if (ret) {
			snprintf(err, errlen,
				 "Couldn't set up tx queue %u: %s (%d)", q,
				 rte_strerror(-ret), ret);
			return ret;
		}
	}
	/* The trunk carries frames for the router's and the services'
	 * MACs, services send to the router's: nothing is ours alone. */
	ret = rte_eth_promiscuous_enable(port);
	if (ret && ret != -ENOTSUP)
		VDP_LOG(WARNING,
			"Couldn't enable promiscuous mode on port %u: %s (%d)\n",
			port, rte_strerror(-ret), ret);
	ret = rte_eth_dev_start(port);
	if (ret) {
		snprintf(err, errlen, "Couldn't start: %s (%d)",
			 rte_strerror(-ret), ret);
		return ret;
	}
	ret = rte_eth_macaddr_get(port, &d->mac);
	if (ret)
		memset(&d->mac, 0, sizeof(d->mac));
	d->n_rxq = nrxq;
	d->n_txq = ntxq;
	if (!d->ifindex)
		d->ifindex = info.if_index;
	if (nrxq < ps->n_workers && role == VDP_ROLE_TRUNK)
		VDP_LOG(WARNING,
			"trunk port %u has %u rx queue(s) for %u workers: the others poll services only\n",
			port, nrxq, ps->n_workers);
	if (ntxq < ps->n_workers)
		VDP_LOG(INFO,
			"port %u has %u tx queue(s) for %u workers: shared under a lock\n",
			port, ntxq, ps->n_workers);
	return 0;
}

/* Undo an rte_dev_probe() of devargs: for ports that never got a desc. */
static void remove_probed(const char *devargs)
{
	struct rte_devargs da;

	if (rte_devargs_parse(&da, devargs))
		return;
	if (da.bus)
		rte_eal_hotplug_remove(rte_bus_name(da.bus), da.name);
	rte_devargs_reset(&da);
}

int ports_open(struct vdp_ports *ps, const struct vdp_port_spec *spec,
	       int req_slot, uint16_t *port_out, char *err, size_t errlen)
{
	uint8_t role = role_of(spec->kind);
	struct vdp_port_desc d = { 0 };
	struct rte_eth_dev_info info;
	bool probed = false;
	uint16_t port;
	int ret;

	if (role == VDP_ROLE_TRUNK && ports_trunk(ps) != VDP_NO_PORT) {
		snprintf(err, errlen, "'%s': this engine has a trunk already",
			 spec->name);
		return -EEXIST;
	}
	ret = rte_dev_probe(spec->devargs);
	if (ret == 0) {
		probed = true;
	} else if (ret != -EEXIST) {
		snprintf(err, errlen, "Couldn't probe device '%s': %s (%d)",
			 spec->devargs, rte_strerror(-ret), ret);
		return ret;
	}
	ret = rte_eth_dev_get_port_by_name(spec->name, &port);
	if (ret) {
		snprintf(err, errlen,
			 "device '%s' probed but has no ethdev port of that name (PCI names are in full: 0000:01:00.0)",
			 spec->name);
		ret = -ENODEV;
		goto err_remove;
	}
	if (port >= RTE_MAX_ETHPORTS || ps->p[port].used) {
		snprintf(err, errlen, "port %u ('%s') is already in use",
			 port, spec->name);
		/* Not ours to remove: someone else holds it. */
		return -EEXIST;
	}
	d.ifindex = spec->ifindex;
	ret = port_setup(ps, port, role, &d, err, errlen);
	if (ret)
		goto err_close;
	if (role == VDP_ROLE_SERVICE && !d.ifindex) {
		snprintf(err, errlen,
			 "service port '%s' has no kernel ifindex: give it one (--port %s,ifindex=N, N = the svc_ifindex vifd writes)",
			 spec->name, spec->devargs);
		ret = -EINVAL;
		goto err_stop;
	}
	/* An ifindex given explicitly wins over the kernel's; say so. */
	if (spec->ifindex && !rte_eth_dev_info_get(port, &info) &&
	    info.if_index && info.if_index != spec->ifindex)
		VDP_LOG(WARNING,
			"port '%s' is kernel ifindex %u but serves ifindex %u as given\n",
			spec->name, info.if_index, spec->ifindex);

	d.used = true;
	d.probed = probed;
	d.role = role;
	d.mark = spec->mark;
	d.has_mark = spec->has_mark;
	d.req_slot = req_slot;
	snprintf(d.name, sizeof(d.name), "%s", spec->name);
	if (role == VDP_ROLE_SERVICE) {
		d.worker = least_loaded(ps);
		ps->load[d.worker]++;
	} else if (role == VDP_ROLE_TRUNK) {
		uint16_t q;

		for (q = 0; q < d.n_rxq; q++)
			ps->load[q]++;
	}
	ps->p[port] = d;
	*port_out = port;
	VDP_LOG(INFO,
		"port %u '%s': %s, ifindex %u, %u rxq, %u txq%s, mac " RTE_ETHER_ADDR_PRT_FMT "\n",
		port, spec->name, role_name(role), d.ifindex, d.n_rxq,
		d.n_txq, d.n_txq < ps->n_workers ? " (shared)" : "",
		RTE_ETHER_ADDR_BYTES(&d.mac));
	return 0;

err_stop:
	rte_eth_dev_stop(port);
err_close:
	rte_eth_dev_close(port);
err_remove:
	if (probed)
		remove_probed(spec->devargs);
	return ret;
}

void ports_forget(struct vdp_ports *ps, uint16_t port)
{
	struct vdp_port_desc *d = &ps->p[port];
	uint16_t q;

	if (port >= RTE_MAX_ETHPORTS || !d->used)
		return;
	if (d->role == VDP_ROLE_SERVICE && ps->load[d->worker])
		ps->load[d->worker]--;
	if (d->role == VDP_ROLE_TRUNK)
		for (q = 0; q < d->n_rxq && q < ps->n_workers; q++)
			if (ps->load[q])
				ps->load[q]--;
	d->used = false;
}

void ports_close(struct vdp_ports *ps, uint16_t port)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;
	int ret;

	if (port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(port))
		return;
	if (!rte_eth_dev_info_get(port, &info))
		dev = info.device;
	ret = rte_eth_dev_stop(port);
	if (ret)
		VDP_LOG(WARNING, "Couldn't stop port %u: %s (%d)\n", port,
			rte_strerror(-ret), ret);
	ret = rte_eth_dev_close(port);
	if (ret)
		VDP_LOG(WARNING, "Couldn't close port %u: %s (%d)\n", port,
			rte_strerror(-ret), ret);
	/* A device EAL probed from its own arguments stays: not ours. */
	if (ps->p[port].probed && dev) {
		ret = rte_dev_remove(dev);
		if (ret)
			VDP_LOG(WARNING,
				"Couldn't detach device of port %u: %s (%d)\n",
				port, rte_strerror(-ret), ret);
	}
	memset(&ps->p[port], 0, sizeof(ps->p[port]));
}

void ports_close_all(struct vdp_ports *ps)
{
	uint16_t i;

	for (i = 0; i < RTE_MAX_ETHPORTS; i++) {
		if (!ps->p[i].used)
			continue;
		ports_forget(ps, i);
		ports_close(ps, i);
	}
}

int ports_build_map(const struct vdp_ports *ps, struct vdp_map *map)
{
	const struct vdp_port_desc *d;
	struct vdp_rxq rq;
	uint16_t i, q, w;
	int ret;

	vdp_map_init(map, ps->n_workers);
	for (i = 0; i < RTE_MAX_ETHPORTS; i++) {
		d = &ps->p[i];
		if (!d->used)
			continue;
		map->port[i].ifindex = d->ifindex;
		map->port[i].role = d->role;
		map->port[i].n_txq = d->n_txq;
		map->port[i].tx_shared = d->n_txq < ps->n_workers;
		map->port[i].mac = d->mac;
		rq.port = i;
		rq.role = d->role;
		rq.ifindex = d->ifindex;
		switch (d->role) {
		case VDP_ROLE_TRUNK:
			map->trunk = i;
			/* Trunk queue q is worker q's, always. */
			for (q = 0; q < d->n_rxq && q < ps->n_workers; q++) {
				rq.queue = q;
				map->rx[q].q[map->rx[q].n++] = rq;
			}
			break;
		case VDP_ROLE_SERVICE:
			w = d->worker;
			rq.queue = 0;
			if (map->rx[w].n >= VDP_MAX_RXQ)
				return -ENOSPC;
			map->rx[w].q[map->rx[w].n++] = rq;
			break;
		case VDP_ROLE_HOST:
			/* Tx only: what the kernel sends into a host port is
			 * not read (docs/DPDK.md, "Host-bound frames"). */
			if (!d->has_mark) {
				map->host_default = i;
				break;
			}
			if (map->n_marks >= VDP_MAX_HOST_MARKS)
				return -ENOSPC;
			map->marks[map->n_marks].mark = d->mark;
			map->marks[map->n_marks].port = i;
			map->n_marks++;
			break;
		}
		/* The trunk's ifindex maps too (vifd may name it either
		 * way); host ports are reached by mark only. */
		if (d->role != VDP_ROLE_HOST && d->ifindex) {
			ret = vdp_map_ifx_add(map, d->ifindex, i);
			if (ret)
				return ret;
		}
	}
	return 0;
}
