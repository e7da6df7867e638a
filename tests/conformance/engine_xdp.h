/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * engine_xdp.h - the XDP engine of the conformance runner: the real
 * skeleton loaded by dp_open(), run through BPF_PROG_TEST_RUN in a
 * private network namespace with a veth pair per port.
 *
 *   vt0 (trunk)   <-> vt0p   the router's end
 *   va  (VIF 100) <-> vap    service A's end
 *   vb  (VIF 200) <-> vbp    service B's end
 *   vc  (VIF 4094) <-> vcp   service C's end
 *   vx  (no VIF)  <-> vxp    a port the dataplane does not know
 *
 * What only XDP has is checked here, on top of the shared expectation:
 * a host-bound frame carries its mark as struct vif_xdp_meta in front of
 * the frame (and nothing else does); a redirect, run again in
 * BPF_F_TEST_XDP_LIVE_FRAMES mode, comes out of the peer of the row's
 * port byte for byte and out of no other (test_run alone reports
 * XDP_REDIRECT, not its target); and test_run may refuse frames shorter
 * than ETH_HLEN (EINVAL) before the program runs.
 */
#ifndef VIF_TESTS_CONFORMANCE_ENGINE_XDP_H
#define VIF_TESTS_CONFORMANCE_ENGINE_XDP_H

#include <sched.h> /* cpu_set_t: includers define _GNU_SOURCE */

#include "runner.h"

/* Live mode refuses frames that do not fit one page (no frags there). */
#define XDP_LIVE_MAX 3000

struct xdp_port {
	const char *name, *peer;
	int ifindex, peer_ifindex;
	int tap; /* AF_PACKET on the peer: what leaves the port */
};

struct xdp_engine {
	struct conf_engine base;
	char pin_dir[64];
	int ports_fd, index_fd, policy_fd, qshr_fd; /* pinned maps */
	int prog[3];		/* by enum dp_prog */
	struct xdp_port port[P__MAX];
	int cpu;		/* every run happens here: quotas are per CPU */
	cpu_set_t allowed;	/* our CPUs before pinning */
};

/* What test_run gave back. */
struct xdp_run_out {
	__u8 data[PKT_MAX + 64];
	__u32 len;
	__u32 retval;
	__u32 meta_len; /* ctx_out.data: bytes of metadata in front */
};

/*
 * Check privileges, pin to this CPU, enter a new network namespace, build
 * the veths and open the dataplane under VIF_PIN_BASE/<tag>-<pid>.
 * Returns 0, TEST_SKIP with *why set, or -errno.
 */
int xdp_engine_setup(struct xdp_engine *x, const char *tag, const char **why);
/* Tear the dataplane down; the namespace goes with the process. */
void xdp_engine_cleanup(struct xdp_engine *x);

int xdp_test_run(int prog_fd, int ifindex, const struct pkt *in,
		 struct xdp_run_out *o);
/* Run for real: XDP_REDIRECT really transmits on the target device. */
int xdp_test_run_live(int prog_fd, int ifindex, const struct pkt *in);

int xdp_tap_open(int ifindex, __u16 proto);
/* One frame as it was on the wire (VLAN tag reinserted), or -errno. */
int xdp_tap_recv(int fd, __u8 *buf, size_t cap, int timeout_ms);
void xdp_pin_to(int cpu);

#endif /* VIF_TESTS_CONFORMANCE_ENGINE_XDP_H */
