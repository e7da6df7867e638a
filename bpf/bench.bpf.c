// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench.bpf.c - benchmark entry points around the dataplane's own logic.
 *
 * The trunk and service programs are #included, not copied: bench_trunk
 * and bench_service run exactly the vif_trunk_ingress() and
 * vif_service_ingress() that vifplane.bpf.c attaches.  The maps come from
 * the same vif_maps.bpf.h, pinned by name, so a loader that sets
 * pin_root_path to a dataplane's pin directory runs these programs on that
 * dataplane's maps (benchmarks/bpf_vifplane.c does; see there).
 *
 * Why wrappers: BPF_PROG_TEST_RUN with .repeat = N does not reset the
 * frame between repeats.  The trunk pops a tag, the service path pushes
 * one or prepends metadata, so repeat 2..N would see the previous run's
 * output and time a different path (a popped frame is "untagged").  Each
 * wrapper therefore first restores the frame to bench_frame, then runs the
 * real program.  bench_base is the same restore followed by an empty
 * return: (restore + path) / (restore + empty) is the path's ratio.
 *
 * bench_empty is the plain empty program, for direct repeat = N timing of
 * paths that do not rewrite the frame (every drop path), and for the
 * absolute floor of test_run itself.
 *
 * bench_redirect is the floor for the veth throughput benchmark: it pops
 * nothing and looks nothing up, it redirects each frame to one of four
 * ports chosen by VLAN % 4.
 */
#include <bpf/bpf_endian.h>

#include "vif_env.bpf.h"

/* Every benchmark frame is this long (a minimum Ethernet frame). */
#define BENCH_FRAME_LEN 64
#define BENCH_PORTS 4
/* bench_restore() succeeded: not an XDP action (XDP_ABORTED is 0). */
#define BENCH_RESTORED -1

/* The frame as it was before the first run; user space writes it.  Aligned
 * so that bench_restore() can copy it eight bytes at a time. */
__u8 bench_frame[BENCH_FRAME_LEN] __attribute__((aligned(8)));
/* bench_redirect's targets, by VLAN % BENCH_PORTS; user space writes it. */
__u32 bench_ports[BENCH_PORTS];

/*
 * Put the frame back the way bench_frame has it.
 *
 * Both helpers run on every call, whatever the frame looks like, so the
 * prologue costs the same in bench_base as in the wrappers and cancels out
 * of the ratio: bpf_xdp_adjust_meta() drops whatever metadata the last
 * run left (host-bound frames carry 8 bytes), bpf_xdp_adjust_head() moves
 * the start back by what the last run popped (+4) or pushed (-4), 0 on the
 * first run and after paths that keep the length.  Then the 64 bytes are
 * rewritten: a pop slid the MACs, a chain hop rewrote them.  Returns
 * BENCH_RESTORED, or XDP_ABORTED when the frame cannot be restored (never,
 * with a 64-byte frame from test_run: 256 bytes of headroom).
 */
static __always_inline int bench_restore(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *meta = (void *)(long)ctx->data_meta;
	__u64 *dst;
	int i;

	if (bpf_xdp_adjust_meta(ctx, (int)(data - meta)))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_head(ctx, (int)(data_end - data) - BENCH_FRAME_LEN))
		return XDP_ABORTED;
	/* Both helpers invalidate packet pointers: load them again. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + BENCH_FRAME_LEN > data_end)
		return XDP_ABORTED;
	dst = data;
#pragma unroll
	for (i = 0; i < BENCH_FRAME_LEN / 8; i++)
		dst[i] = ((__u64 *)bench_frame)[i];
	return BENCH_RESTORED;
}

/* Restore, then nothing: the baseline of every wrapper. */
SEC("xdp.frags")
int bench_base(struct xdp_md *ctx)
{
	int ret = bench_restore(ctx);

	if (ret != BENCH_RESTORED)
		return ret;
	return XDP_PASS;
}

/* Restore, then the real trunk ingress. */
SEC("xdp.frags")
int bench_trunk(struct xdp_md *ctx)
{
	int ret = bench_restore(ctx);

	if (ret != BENCH_RESTORED)
		return ret;
	return vif_trunk_ingress(NULL, ctx);
}

/* Restore, then the real service port ingress. */
SEC("xdp.frags")
int bench_service(struct xdp_md *ctx)
{
	int ret = bench_restore(ctx);

	if (ret != BENCH_RESTORED)
		return ret;
	return vif_service_ingress(NULL, ctx);
}

/* The empty program: the floor of BPF_PROG_TEST_RUN itself. */
SEC("xdp.frags")
int bench_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* Minimal trunk forwarder for the veth benchmark: no pop, no lookups. */
SEC("xdp.frags")
int bench_redirect(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct vif_vlan_hdr *vh = (void *)(eth + 1);

	if ((void *)(vh + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_8021Q))
		return XDP_DROP;
	return bpf_redirect(
		bench_ports[bpf_ntohs(vh->tci) & (BENCH_PORTS - 1)], 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
