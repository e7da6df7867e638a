/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shm.h - map the DPDK engine's shared state (include/vif_shm.h).  Both
 * the engine and its writer call vif_shm_map(); whichever comes first
 * creates and initialises the file, under an flock so the other never
 * sees half a header.  No DPDK here: vifd links this without libdpdk.
 */
#ifndef VIF_DATAPLANE_SHM_H
#define VIF_DATAPLANE_SHM_H

#include <stdbool.h>

#include "vif_shm.h"

enum vif_shm_flags {
	VIF_SHM_CREATE = 1u << 0,   /* create (and initialise) if missing */
	VIF_SHM_READ_ONLY = 1u << 1, /* map PROT_READ (exporters) */
};

/*
 * Map path.  Returns 0, -ENOENT (missing and not VIF_SHM_CREATE),
 * -EPROTO (not a vifplane file, or another version/size: err says which)
 * or another -errno.
 */
int vif_shm_map(const char *path, unsigned int flags, struct vif_shm **out,
		char *err, size_t errlen);
void vif_shm_unmap(struct vif_shm *shm);
/* Remove the file (mappings stay valid until unmapped). */
int vif_shm_unlink(const char *path);

#endif /* VIF_DATAPLANE_SHM_H */
