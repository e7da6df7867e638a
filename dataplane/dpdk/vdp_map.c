// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vdp_map.c - the workers' port map: ifindex -> DPDK port, mark -> host
 * egress port.  Built by the main lcore, read-only once published.
 */
#include <errno.h>
#include <string.h>

#include "vdp_pipe.h"

/* ---- the port map ----------------------------------------------------- */

void vdp_map_init(struct vdp_map *map, uint16_t n_workers)
{
	memset(map, 0, sizeof(*map));
	map->trunk = VDP_NO_PORT;
	map->host_default = VDP_NO_PORT;
	map->n_workers = n_workers;
}

int vdp_map_ifx_add(struct vdp_map *map, uint32_t ifindex, uint16_t port)
{
	uint32_t i, s = vdp_ifx_slot(ifindex);
	uint16_t have = vdp_map_ifx_port(map, ifindex);

	if (!ifindex)
		return -EINVAL;
	if (have != VDP_NO_PORT)
		return have == port ? 0 : -EEXIST;
	for (i = 0; i < VDP_IFX_SLOTS; i++) {
		struct vdp_ifx_slot *e =
			&map->ifx[(s + i) & (VDP_IFX_SLOTS - 1)];

		if (!e->ifindex) {
			e->ifindex = ifindex;
			e->port = port;
			return 0;
		}
	}
	return -ENOSPC;
}

/*
 * Maps are rebuilt off to the side, so deletion may simply rehash: take
 * every other key out and put it back (no tombstones to reason about).
 */
void vdp_map_ifx_del(struct vdp_map *map, uint32_t ifindex)
{
	struct vdp_ifx_slot old[VDP_IFX_SLOTS];
	uint32_t i;

	memcpy(old, map->ifx, sizeof(old));
	memset(map->ifx, 0, sizeof(map->ifx));
	for (i = 0; i < VDP_IFX_SLOTS; i++)
		if (old[i].ifindex && old[i].ifindex != ifindex)
			vdp_map_ifx_add(map, old[i].ifindex, old[i].port);
}
