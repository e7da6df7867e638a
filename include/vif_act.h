/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vif_act.h - the verdicts of include/vif_logic.h, on their own so that
 * code without an engine environment (tests, tools) can name them.  They
 * are the XDP action numbers: the BPF side returns them unchanged.
 */
#ifndef VIF_INCLUDE_VIF_ACT_H
#define VIF_INCLUDE_VIF_ACT_H

enum vif_act {
	VIF_ACT_ABORTED = 0,  /* XDP_ABORTED: the environment is broken */
	VIF_ACT_DROP = 1,     /* XDP_DROP */
	VIF_ACT_PASS = 2,     /* XDP_PASS: to the host stack, with the mark */
	VIF_ACT_REDIRECT = 4, /* XDP_REDIRECT: out of the port chosen */
};

#endif /* VIF_INCLUDE_VIF_ACT_H */
