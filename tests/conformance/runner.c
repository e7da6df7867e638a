// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * runner.c - the engine-neutral core of the conformance runners; see
 * runner.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_ether.h>

#include "runner.h"
#include "policy.h"
#include "stats.h"

volatile sig_atomic_t conf_exiting;

int conf_engine_init(struct conf_engine *e, const char *name,
		     const struct conf_engine_ops *ops, struct dp *dp)
{
	e->name = name;
	e->ops = ops;
	e->dp = dp;
	e->forged = false;
	e->before = calloc(1, sizeof(*e->before));
	e->after = calloc(1, sizeof(*e->after));
	if (!e->before || !e->after) {
		conf_engine_fini(e);
		return -ENOMEM;
	}
	return 0;
}

void conf_engine_fini(struct conf_engine *e)
{
	free(e->before);
	free(e->after);
	e->before = e->after = NULL;
}

struct conf_result *conf_result_new(void)
{
	struct conf_result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->delta = calloc(1, sizeof(*r->delta));
	if (!r->delta) {
		free(r);
		return NULL;
	}
	return r;
}

void conf_result_free(struct conf_result *r)
{
	if (!r)
		return;
	free(r->delta);
	free(r);
}

static void result_clear(struct conf_result *r)
{
	struct dp_stats *delta = r->delta;

	memset(r, 0, sizeof(*r));
	r->delta = delta;
	r->engine_ok = true;
}

void conf_vif_spec(const struct conf_engine *e, const struct conf_vif_def *d,
		   struct vif_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->vlan = d->vlan;
	s->svc_ifindex = e->ifindex[d->port];
	s->mark = d->mark;
	s->table = 1000 + d->vlan;
	s->addr = conf_ip4(d->addr);
	s->prefix_len = 24;
	s->host_addr = conf_ip4(d->host);
	memcpy(s->svc_mac, conf_ports[d->port].peer_mac, 6);
	memcpy(s->port_mac, conf_ports[d->port].mac, 6);
	s->active = true;
}

enum conf_port conf_port_of(const struct conf_engine *e, __u32 ifindex)
{
	int i;

	for (i = P_TRUNK; i < P__MAX; i++)
		if ((__u32)e->ifindex[i] == ifindex)
			return i;
	return P_NONE;
}

static bool fail_err(const struct conf_engine *e, int err, const char *what)
{
	if (!err)
		return false;
	fprintf(stderr, "  [%s] %s: %s (%d)\n", e->name, what, strerror(-err),
		err);
	return true;
}

/* ---- state ----------------------------------------------------------- */

int conf_forge_slot(struct conf_engine *e, __u32 vlan, bool fill)
{
	struct vif_entry ent = {};
	struct vif_port p = { .vlan = vlan };
	__u32 idx, key;
	int err;

	err = e->ops->index_get(e, vlan, &idx);
	if (err)
		return err;
	ent.gen = VIF_INDEX_GEN(idx);
	if (fill) {
		ent.flags = VIF_F_ACTIVE;
		ent.vlan = 0;
		ent.svc_ifindex = e->ifindex[P_X];
		ent.mark = MARK_FORGED;
		memcpy(ent.svc_mac, conf_ports[P_X].peer_mac, 6);
		memcpy(ent.port_mac, conf_ports[P_X].mac, 6);
	}
	key = policy_slot_key(vlan, idx);
	err = e->ops->policy_put(e, key, &ent);
	if (err)
		return err;
	if (vlan != VFORGED)
		return 0;
	if (fill) {
		err = e->ops->port_put(e, e->ifindex[P_X], &p);
		if (err)
			return err;
	}
	e->forged = fill;
	return 0;
}

int conf_reset(struct conf_engine *e)
{
	struct vif_port none = {};
	struct vif_dp_config cfg;
	char msg[128] = "";
	struct vif_spec s;
	size_t i;
	int err;

	for (i = 0; i < sizeof(conf_vifs) / sizeof(conf_vifs[0]); i++) {
		conf_vif_spec(e, &conf_vifs[i], &s);
		err = dp_vif_upsert(e->dp, &s, msg, sizeof(msg));
		if (fail_err(e, err, "baseline upsert")) {
			fprintf(stderr, "  %s\n", msg);
			return err;
		}
		err = dp_quota_reset(e->dp, s.vlan);
		if (fail_err(e, err, "quota reset"))
			return err;
	}
	err = dp_set_qinq(e->dp, false);
	if (!err)
		err = dp_set_quota_slice(e->dp, VIF_QUOTA_SLICE_DEFAULT);
	if (!err)
		err = dp_config_get(e->dp, &cfg);
	if (!err && !cfg.trunk_ifindex)
		err = e->ops->trunk_set ?
			      e->ops->trunk_set(e, e->ifindex[P_TRUNK]) :
			      dp_trunk_attach(e->dp, e->ifindex[P_TRUNK]);
	if (fail_err(e, err, "baseline config"))
		return err;
	/* P_X has no VIF: whatever a row put there goes. */
	err = e->ops->port_put(e, e->ifindex[P_X], &none);
	if (fail_err(e, err, "clear stale port"))
		return err;
	if (e->forged) {
		err = conf_forge_slot(e, VFORGED, false);
		if (fail_err(e, err, "unforge"))
			return err;
	}
	return 0;
}

int conf_apply(struct conf_engine *e, const struct conf_tweak *t)
{
	int err = 0;

	if (t->slice)
		err = err ?: dp_set_quota_slice(e->dp, t->slice);
	if (t->quota_vif)
		err = err ?: dp_quota_set(e->dp, t->quota_vif, t->quota_limit,
					  t->quota_flags);
	if (t->killswitch)
		err = err ?: dp_killswitch_set(e->dp, t->killswitch, true);
	if (t->chain_from)
		err = err ?: dp_chain_set(e->dp, t->chain_from, t->chain_to);
	if (t->forge)
		err = err ?: conf_forge_slot(e, t->forge, true);
	if (t->qinq)
		err = err ?: dp_set_qinq(e->dp, true);
	if (t->no_trunk)
		err = err ?: dp_trunk_detach(e->dp);
	if (t->inactive)
		err = err ?: dp_active_set(e->dp, t->inactive, false);
	if (t->deleted)
		err = err ?: dp_vif_delete(e->dp, t->deleted);
	if (t->stale_port) {
		struct vif_port p = { .vlan = t->stale_port };

		err = err ?: e->ops->port_put(e, e->ifindex[P_X], &p);
	}
	fail_err(e, err, "apply tweaks");
	return err;
}

int conf_prepare(struct conf_engine *e, const struct conf_case *c)
{
	return conf_reset(e) ?: conf_apply(e, &c->set);
}

/* ---- counters -------------------------------------------------------- */

static void stats_delta(const struct dp_stats *a, const struct dp_stats *b,
			struct dp_stats *d)
{
	const __u64 *pa = (const __u64 *)a, *pb = (const __u64 *)b;
	__u64 *pd = (__u64 *)d;
	size_t i;

	for (i = 0; i < sizeof(*d) / sizeof(__u64); i++)
		pd[i] = pa[i] - pb[i];
}

static bool delta_is(const char *who, __u64 got, __u64 want, int vlan,
		     const char *what)
{
	if (got == want)
		return true;
	if (vlan < 0)
		fprintf(stderr, "  [%s] global %s: moved by %llu, want %llu\n",
			who, what, (unsigned long long)got,
			(unsigned long long)want);
	else
		fprintf(stderr, "  [%s] VIF %d %s: moved by %llu, want %llu\n",
			who, vlan, what, (unsigned long long)got,
			(unsigned long long)want);
	return false;
}

bool conf_check_deltas(const char *who, enum conf_hook hook,
		       const struct conf_cnt *w, const struct dp_stats *delta,
		       __u64 runs, __u64 ndrop)
{
	const struct vif_global_stats *g = &delta->global;
	bool ok = true;
	int r, v;

	ok &= delta_is(who, g->trunk_rx_packets,
		       hook == CONF_TRUNK ? runs : 0, -1, "trunk_rx_packets");
	ok &= delta_is(who, g->svc_rx_packets,
		       hook == CONF_SERVICE ? runs : 0, -1, "svc_rx_packets");
	for (r = 0; r < VIF_DROP__MAX; r++)
		ok &= delta_is(who, g->drops[r],
			       w->drop == CONF_DROP(r) ? ndrop : 0, -1,
			       stats_drop_name(r));
	for (v = 0; v < VIF_VLAN_SLOTS; v++) {
		const struct vif_stats *d = &delta->vif[v];
		bool mine = runs && v == w->vif;

		ok &= delta_is(who, d->rx_packets, mine ? w->rx_packets : 0, v,
			       "rx_packets");
		ok &= delta_is(who, d->rx_bytes, mine ? w->rx_bytes : 0, v,
			       "rx_bytes");
		ok &= delta_is(who, d->tx_packets, mine ? w->tx_packets : 0, v,
			       "tx_packets");
		ok &= delta_is(who, d->tx_bytes, mine ? w->tx_bytes : 0, v,
			       "tx_bytes");
		ok &= delta_is(who, d->host_packets,
			       mine ? w->host_packets : 0, v, "host_packets");
		ok &= delta_is(who, d->chain_packets,
			       mine ? w->chain_packets : 0, v, "chain_packets");
		for (r = 0; r < VIF_DROP__MAX; r++)
			ok &= delta_is(who, d->drops[r],
				       w->drop == CONF_DROP(r) && w->drop_vif &&
						       v == w->drop_vif ?
					       ndrop :
					       0,
				       v, stats_drop_name(r));
	}
	return ok;
}

/* ---- running --------------------------------------------------------- */

static struct conf_result *scratch;

int conf_run(struct conf_engine *e, const struct conf_case *c,
	     struct pkt *in, struct conf_result *r)
{
	unsigned int i;
	int err;

	result_clear(r);
	if (!scratch) {
		scratch = conf_result_new();
		if (!scratch)
			return -ENOMEM;
	}
	err = conf_prepare(e, c);
	if (err)
		return err;
	conf_frame_build(in, &c->pkt);
	for (i = 0; i < c->pre; i++) {
		result_clear(scratch);
		err = e->ops->run(e, c->hook, c->in, in, scratch);
		if (fail_err(e, err, "pre-run"))
			return err;
		if (scratch->verdict != c->pre_verdict) {
			fprintf(stderr,
				"  [%s] pre-run %u of %u: verdict %s, want %s\n",
				e->name, i + 1, c->pre,
				conf_act_name(scratch->verdict),
				conf_act_name(c->pre_verdict));
			return -EPROTO;
		}
	}
	if (c->reset_after_pre) {
		err = dp_quota_reset(e->dp, c->set.quota_vif);
		if (fail_err(e, err, "quota reset after the pre-runs"))
			return err;
	}

	err = dp_stats_read(e->dp, e->before);
	if (fail_err(e, err, "stats before"))
		return err;
	err = e->ops->run(e, c->hook, c->in, in, r);
	if (err && r->ran) {
		fail_err(e, err, "run");
		return err;
	}
	err = dp_stats_read(e->dp, e->after);
	if (fail_err(e, err, "stats after"))
		return err;
	stats_delta(e->after, e->before, r->delta);

	if (c->check_granted) {
		struct vif_entry ent;
		__u32 key;

		err = dp_vif_get(e->dp, c->set.quota_vif, &ent);
		if (fail_err(e, err, "quota VIF"))
			return err;
		key = (__u32)c->set.quota_vif * 2 + (ent.quota_epoch & 1);
		err = e->ops->granted_get(e, key, &r->granted);
		if (fail_err(e, err, "quota grant"))
			return err;
		r->have_granted = true;
	}
	if (c->check_used) {
		err = dp_quota_usage(e->dp, c->set.quota_vif, &r->used);
		if (fail_err(e, err, "quota usage"))
			return err;
		r->have_used = true;
	}
	return 0;
}

/* Offset of the first differing byte, or -1. */
static long first_diff(const struct pkt *a, const struct pkt *b)
{
	size_t i, n = a->len < b->len ? a->len : b->len;

	for (i = 0; i < n; i++)
		if (a->data[i] != b->data[i])
			return (long)i;
	return a->len == b->len ? -1 : (long)n;
}

bool conf_check(const struct conf_engine *e, const struct conf_case *c,
		const struct pkt *in, const struct conf_result *r)
{
	static struct pkt want;
	const char *who = e->name;
	bool ok = true;
	long off;

	if (!r->engine_ok) {
		fprintf(stderr, "  [%s] %s\n", who, r->note);
		ok = false;
	}
	if (!r->ran) {
		/* The one refusal we know: XDP's test_run and runts. */
		if (in->len >= ETH_HLEN) {
			fprintf(stderr, "  [%s] refused a %zu-byte frame: %s\n",
				who, in->len, r->note);
			return false;
		}
		printf("     [%s] refused the %zu-byte frame unrun: %s\n", who,
		       in->len, r->note);
		return conf_check_deltas(who, c->hook, &c->cnt, r->delta, 0,
					 0) && ok;
	}

	if (r->verdict != c->verdict) {
		fprintf(stderr, "  [%s] verdict %s, want %s\n", who,
			conf_act_name(r->verdict), conf_act_name(c->verdict));
		ok = false;
	}
	if (c->out.body)
		conf_frame_build(&want, &c->out);
	else
		want = *in;
	if (!r->out_valid) {
		fprintf(stderr, "  [%s] no frame came back\n", who);
		ok = false;
	} else if ((off = first_diff(&r->out, &want)) >= 0) {
		fprintf(stderr,
			"  [%s] frame out: %zu bytes, want %zu; first difference at byte %ld\n",
			who, r->out.len, want.len, off);
		ok = false;
	}
	if (c->verdict == VIF_ACT_PASS &&
	    (!r->has_mark || r->mark != c->mark)) {
		fprintf(stderr, "  [%s] host mark %s0x%x, want 0x%x\n", who,
			r->has_mark ? "" : "(none) ", r->mark, c->mark);
		ok = false;
	} else if (c->verdict != VIF_ACT_PASS && r->has_mark) {
		fprintf(stderr, "  [%s] mark 0x%x set on a %s frame\n", who,
			r->mark, conf_act_name(r->verdict));
		ok = false;
	}
	if (c->verdict == VIF_ACT_REDIRECT && r->verdict == c->verdict &&
	    r->to_known && r->to != c->to) {
		fprintf(stderr, "  [%s] redirected to %s (ifindex %u), want %s\n",
			who, conf_ports[r->to].name, r->to_ifindex,
			conf_ports[c->to].name);
		ok = false;
	}
	ok &= conf_check_deltas(who, c->hook, &c->cnt, r->delta, 1, 1);
	if (c->check_granted && r->granted != c->granted) {
		fprintf(stderr, "  [%s] bytes granted %llu, want %llu\n", who,
			(unsigned long long)r->granted,
			(unsigned long long)c->granted);
		ok = false;
	}
	if (c->check_used && r->used != c->used) {
		fprintf(stderr, "  [%s] quota bytes used %llu, want %llu\n",
			who, (unsigned long long)r->used,
			(unsigned long long)c->used);
		ok = false;
	}
	return ok;
}

/* ---- two engines ----------------------------------------------------- */

static void print_result(const struct conf_engine *e,
			 const struct conf_result *r)
{
	fprintf(stderr, "    %-5s ran %d verdict %s", e->name, r->ran,
		conf_act_name(r->verdict));
	if (r->out_valid)
		fprintf(stderr, ", %zu bytes out", r->out.len);
	if (r->has_mark)
		fprintf(stderr, ", mark 0x%x", r->mark);
	if (r->to_known && r->verdict == VIF_ACT_REDIRECT)
		fprintf(stderr, ", to %s (ifindex %u)", conf_ports[r->to].name,
			r->to_ifindex);
	if (r->have_used)
		fprintf(stderr, ", used %llu", (unsigned long long)r->used);
	if (r->have_granted)
		fprintf(stderr, ", granted %llu",
			(unsigned long long)r->granted);
	fprintf(stderr, "\n");
}

/* The name of word i of a struct vif_stats / vif_global_stats. */
static const char *word_name(size_t i, bool global, char *buf, size_t len)
{
	static const char *const vif_words[] = {
		"rx_packets", "rx_bytes",     "tx_packets",
		"tx_bytes",   "host_packets", "chain_packets",
	};
	size_t first_drop = global ? 2 : 6;

	if (global && i < 2)
		return i ? "svc_rx_packets" : "trunk_rx_packets";
	if (!global && i < first_drop)
		return vif_words[i];
	if (i - first_drop < VIF_DROP__MAX) {
		snprintf(buf, len, "drops[%s]",
			 stats_drop_name((unsigned int)(i - first_drop)));
		return buf;
	}
	return "pad";
}

/* Name the counters that moved differently; true if none. */
static bool deltas_same(const struct dp_stats *a, const struct dp_stats *b)
{
	const size_t g = sizeof(struct vif_global_stats) / sizeof(__u64);
	const size_t per = sizeof(struct vif_stats) / sizeof(__u64);
	const __u64 *pa = (const __u64 *)a, *pb = (const __u64 *)b;
	size_t i, n = sizeof(*a) / sizeof(__u64);
	bool same = true;
	char buf[48];

	for (i = 0; i < n; i++) {
		if (pa[i] == pb[i])
			continue;
		same = false;
		if (i < g)
			fprintf(stderr, "    global %s moved by %llu vs %llu\n",
				word_name(i, true, buf, sizeof(buf)),
				(unsigned long long)pa[i],
				(unsigned long long)pb[i]);
		else
			fprintf(stderr, "    VIF %zu %s moved by %llu vs %llu\n",
				(i - g) / per,
				word_name((i - g) % per, false, buf,
					  sizeof(buf)),
				(unsigned long long)pa[i],
				(unsigned long long)pb[i]);
	}
	return same;
}

bool conf_diff(const struct conf_case *c, const struct pkt *in,
	       const struct conf_engine *ea, const struct conf_result *a,
	       const struct conf_engine *eb, const struct conf_result *b)
{
	bool same = true;
	long off = -1;

	/* A refusal is an engine's own (XDP runts), judged by conf_check. */
	if (!a->ran || !b->ran)
		return true;
	if (a->verdict != b->verdict || a->has_mark != b->has_mark ||
	    (a->has_mark && a->mark != b->mark))
		same = false;
	if (a->out_valid && b->out_valid &&
	    (off = first_diff(&a->out, &b->out)) >= 0)
		same = false;
	if (a->to_known && b->to_known && a->to != b->to)
		same = false;
	if (a->have_used != b->have_used || a->used != b->used ||
	    a->have_granted != b->have_granted || a->granted != b->granted)
		same = false;
	if (!same || memcmp(a->delta, b->delta, sizeof(*a->delta))) {
		fprintf(stderr,
			"  ENGINES DIFFER on \"%s\" (%s hook, in %s, %zu-byte frame):\n",
			c->desc, c->hook == CONF_TRUNK ? "trunk" : "service",
			conf_ports[c->in].name, in->len);
		print_result(ea, a);
		print_result(eb, b);
		if (off >= 0)
			fprintf(stderr, "    frames differ from byte %ld\n",
				off);
		deltas_same(a->delta, b->delta);
		return false;
	}
	return true;
}

/* ---- the table ------------------------------------------------------- */

int conf_table_run(struct conf_engine **engines, int n)
{
	static struct pkt in;
	struct conf_result *res[2] = {};
	int fail = 0, k, err;
	size_t i;

	if (n < 1 || n > 2)
		return -EINVAL;
	for (k = 0; k < n; k++) {
		res[k] = conf_result_new();
		if (!res[k]) {
			fail = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < conf_ncases && !conf_exiting; i++) {
		const struct conf_case *c = &conf_cases[i];
		bool ok = true;

		for (k = 0; k < n; k++) {
			struct conf_engine *e = engines[k];
			bool eok;

			err = conf_run(e, c, &in, res[k]);
			eok = !err && conf_check(e, c, &in, res[k]);
			if (!err && e->ops->after_run)
				eok &= e->ops->after_run(e, c, &in, res[k]);
			ok &= eok;
			if (err)
				res[k]->ran = false;
		}
		if (n == 2 && !conf_diff(c, &in, engines[0], res[0],
					 engines[1], res[1]))
			ok = false;

		if (c->known_bug && !ok) {
			printf("  xfail %s\n     (known bug: %s)\n", c->desc,
			       c->known_bug);
		} else if (c->known_bug) {
			printf("  XPASS %s: known bug fixed? drop .known_bug\n",
			       c->desc);
			fail = -1;
		} else {
			printf("  %s %s\n", ok ? "ok  " : "FAIL", c->desc);
			if (!ok)
				fail = -1;
		}
		fflush(stdout);
	}
	if (conf_exiting)
		fail = -EINTR;
out:
	for (k = 0; k < n; k++)
		conf_result_free(res[k]);
	return fail;
}
