/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* vifplane-skel.h - include this, never the generated vifplane.skel.h directly. */
#ifndef VIF_BPF_VIFPLANE_SKEL_H
#define VIF_BPF_VIFPLANE_SKEL_H

#include "vif_abi.h"
#include "vifplane.skel.h"

#endif
