/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vdp_log.h - vifdpdk's DPDK log type, "user.vif.dpdk" (main.c registers
 * it), so --log-level=user.vif.dpdk:debug works like any DPDK component.
 */
#ifndef VIF_DATAPLANE_DPDK_VDP_LOG_H
#define VIF_DATAPLANE_DPDK_VDP_LOG_H

#include <rte_log.h>

extern int vdp_logtype;

#define VDP_LOG(level, ...)                                                \
	rte_log(RTE_LOG_##level, vdp_logtype, "vifdpdk: " __VA_ARGS__)

#endif /* VIF_DATAPLANE_DPDK_VDP_LOG_H */
