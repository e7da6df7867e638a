/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * runner.h - run conformance rows (cases.h) on an engine and judge them.
 *
 * The core is engine-neutral: it puts the dataplane into the baseline and
 * the row's tweaks through dp.h (whatever engine the dp handle drives),
 * runs the pre-frames and the frame through the engine's run() hook,
 * reads every counter with dp_stats_read() before and after, and compares
 * the result with the row.  The few pieces of state that dp.h never makes
 * (a forged policy slot, a stale port entry) go through raw hooks: map
 * updates for XDP, stores into the shared memory for DPDK.
 *
 * With two engines, conf_table_run() also compares their results field by
 * field, so that any difference between the engines fails the row even
 * where the row's expectation does not pin a detail down.
 */
#ifndef VIF_TESTS_CONFORMANCE_RUNNER_H
#define VIF_TESTS_CONFORMANCE_RUNNER_H

#include <signal.h>
#include <stdbool.h>

#include "cases.h"
#include "dp.h"
#include "pkt.h"

/* What one engine made of one frame. */
struct conf_result {
	bool ran;	/* false: the engine refused the frame unrun */
	int verdict;	/* VIF_ACT_* */
	bool out_valid;	/* out holds the frame as the engine left it */
	struct pkt out;	/* without engine framing (XDP metadata) */
	bool has_mark;	/* a host-bound mark was set */
	__u32 mark;
	bool to_known;	/* the engine can tell where a redirect goes */
	__u32 to_ifindex;
	enum conf_port to; /* to_ifindex as a port, P_NONE if none */
	bool have_used, have_granted;
	__u64 used, granted;
	struct dp_stats *delta; /* every counter: after - before */
	bool engine_ok;	/* the engine's own assertions held */
	char note[512];	/* why not, or what the engine refused */
};

struct conf_engine;

struct conf_engine_ops {
	/*
	 * Run frame into hook as if it arrived on port in.  Fill verdict,
	 * out, the mark and, if the engine knows it, the redirect target.
	 * Return 0, or -errno when the run could not happen at all (then
	 * the engine sets r->ran = false and says why in r->note, and the
	 * core decides whether that refusal is acceptable).
	 */
	int (*run)(struct conf_engine *e, enum conf_hook hook,
		   enum conf_port in, const struct pkt *frame,
		   struct conf_result *r);
	/* Raw state the dp.h API never makes. */
	int (*index_get)(struct conf_engine *e, __u32 vlan, __u32 *idx);
	int (*policy_put)(struct conf_engine *e, __u32 key,
			  const struct vif_entry *ent);
	int (*port_put)(struct conf_engine *e, __u32 ifindex,
			const struct vif_port *p);
	int (*granted_get)(struct conf_engine *e, __u32 key, __u64 *granted);
	/*
	 * Optional: make ifindex the trunk.  NULL: dp_trunk_attach().  The
	 * DPDK runner serves no ports and its ifindexes name no netdev, for
	 * which dp_trunk_attach() would file a port request; it sets the
	 * config's trunk_ifindex as dp_trunk_attach() does after filing.
	 */
	int (*trunk_set)(struct conf_engine *e, __u32 ifindex);
	/*
	 * Optional, after the core has judged the run: engine-only checks
	 * that need the row (XDP: run the redirect again in live-frames
	 * mode and see which veth it comes out of; fills r->to).  It may
	 * call conf_prepare() to start over from the row's state.
	 */
	bool (*after_run)(struct conf_engine *e, const struct conf_case *c,
			  const struct pkt *in, struct conf_result *r);
};

struct conf_engine {
	const char *name;
	const struct conf_engine_ops *ops;
	struct dp *dp;
	int ifindex[P__MAX]; /* the engine's ifindex of each port */
	bool forged;	     /* VFORGED's slot is filled */
	struct dp_stats *before, *after;
};

extern volatile sig_atomic_t conf_exiting;

/* Allocate the counter buffers; conf_engine_fini() frees them. */
int conf_engine_init(struct conf_engine *e, const char *name,
		     const struct conf_engine_ops *ops, struct dp *dp);
void conf_engine_fini(struct conf_engine *e);

struct conf_result *conf_result_new(void);
void conf_result_free(struct conf_result *r);

/* The spec of a baseline VIF on engine e's ports. */
void conf_vif_spec(const struct conf_engine *e, const struct conf_vif_def *d,
		   struct vif_spec *s);
enum conf_port conf_port_of(const struct conf_engine *e, __u32 ifindex);

/* Every VIF back to its spec, fresh quotas, default config, trunk up. */
int conf_reset(struct conf_engine *e);
int conf_apply(struct conf_engine *e, const struct conf_tweak *t);
/* conf_reset() + conf_apply(c->set). */
int conf_prepare(struct conf_engine *e, const struct conf_case *c);
/*
 * Fill (or clear) vlan's live policy slot by hand: active, claiming port
 * P_X, but with a vlan field that says "no VIF here".  For VFORGED also
 * point P_X at it.
 */
int conf_forge_slot(struct conf_engine *e, __u32 vlan, bool fill);

/*
 * Exactly the named counters moved by exactly the named amounts: runs
 * frames went into hook, ndrop of them were dropped for w->drop.  Prints
 * each difference prefixed by who.
 */
bool conf_check_deltas(const char *who, enum conf_hook hook,
		       const struct conf_cnt *w, const struct dp_stats *delta,
		       __u64 runs, __u64 ndrop);

/* Run row c on e (state, pre-frames, frame, counters, quota) into r. */
int conf_run(struct conf_engine *e, const struct conf_case *c,
	     struct pkt *in, struct conf_result *r);
/* r against the row's expectation; prints what differs. */
bool conf_check(const struct conf_engine *e, const struct conf_case *c,
		const struct pkt *in, const struct conf_result *r);
/* Two engines' results against each other; prints both on a difference. */
bool conf_diff(const struct conf_case *c, const struct pkt *in,
	       const struct conf_engine *ea, const struct conf_result *a,
	       const struct conf_engine *eb, const struct conf_result *b);

/*
 * Every row on every engine (1 or 2), each judged against the row and,
 * with two engines, against each other.  0 if all passed.
 */
int conf_table_run(struct conf_engine **engines, int n);

#endif /* VIF_TESTS_CONFORMANCE_RUNNER_H */
