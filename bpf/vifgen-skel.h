/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* vifgen-skel.h - include this, never the generated vifgen.skel.h directly. */
#ifndef VIF_BPF_VIFGEN_SKEL_H
#define VIF_BPF_VIFGEN_SKEL_H

#include "vif_abi.h"
#include "vifgen.skel.h"

#endif
