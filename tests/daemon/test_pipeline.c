// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_pipeline.c - control/pipeline.c with a scripted fake target, a real
 * SQLite store in a mkdtemp directory and the real event loop.
 *
 * The fake target is scripted by the items themselves: args.fail lists the
 * calls that fail ("apply", or "router.apply" for one target only),
 * args.risk sets the preview's risk, args.die the call at which a forked
 * child SIGKILLs itself, args.undo_pad makes the undo big enough to span
 * several journal entries.  Every apply/verify/rollback is recorded in
 * order ("apply:a", "apply:c!" for a scripted failure, "rollback:b(u)"
 * where the mark says what undo it got: u = the one apply returned,
 * ? = NULL (outcome unknown), p = a failed apply's partial undo), and
 * checks that the journal's last entry is its own STARTED entry.  Crash
 * tests also log to a file, so the calls of a killed child and of the
 * parent that recovers form one sequence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "loop.h"
#include "pipeline.h"
#include "store.h"

static char tmpdir[] = "/tmp/test_pipeline.XXXXXX";

#define CALLS_MAX 16384

/* ---- helpers ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Test JSON with ' for ", so it can be written inline. */
static json_t *J(const char *text)
{
	char buf[4096];
	json_error_t je;
	json_t *j;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", text);
	for (i = 0; buf[i]; i++)
		if (buf[i] == '\'')
			buf[i] = '"';
	j = json_loads(buf, 0, &je);
	if (!j)
		fprintf(stderr, "bad test JSON (%s): %s\n", je.text, text);
	return j;
}

static bool str_eq(const char *got, const char *want, const char *what)
{
	if (got && want && !strcmp(got, want))
		return true;
	fprintf(stderr, "FAIL %s:\n  got:  '%s'\n  want: '%s'\n", what,
		got ?: "(null)", want ?: "(null)");
	return false;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int report_errno(const json_t *rep, size_t i)
{
	return (int)json_integer_value(json_object_get(
		json_array_get(json_object_get(rep, "errors"), i), "errno"));
}

/* The "error" of errors[i] in a report. */
static const char *report_error(const json_t *rep, size_t i)
{
	return jstr(json_array_get(json_object_get(rep, "errors"), i),
		    "error");
}

static size_t report_nerrors(const json_t *rep)
{
	return json_array_size(json_object_get(rep, "errors"));
}

/* ---- the fake target ---- */

struct fake {
	struct pipeline_target_ops ops;
	char name[PIPELINE_TARGET_NAME_MAX];
	const char *prefix; /* handles ops starting with this; NULL = all */
	bool tagged;        /* prefix calls with "<name>." */
	char *calls;        /* shared by the fakes of one test */
	int fd;             /* call log file, -1 = none */
	bool can_die;       /* honour args.die: only a forked child */
	bool no_rollback_fail; /* a person fixed it: ignore "rollback" fails */
	struct store *store; /* check the journal before each call */
	unsigned int checked, journal_bad;
	int64_t first_rollback_ms;
};

static void record(struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void record(struct fake *f, const char *fmt, ...)
{
	char entry[256];
	size_t used = strlen(f->calls);
	int n;
	va_list ap;

	n = snprintf(entry, sizeof(entry), "%s%s", f->tagged ? f->name : "",
		     f->tagged ? "." : "");
	va_start(ap, fmt);
	vsnprintf(entry + n, sizeof(entry) - n, fmt, ap);
	va_end(ap);
	snprintf(f->calls + used, CALLS_MAX - used, "%s%s", used ? " " : "",
		 entry);
	if (f->fd >= 0)
		dprintf(f->fd, "%lld %s\n", (long long)wall_ms(), entry);
}

static bool scripted(const struct fake *f, const json_t *item,
		     const char *key, const char *kind)
{
	const json_t *v = json_object_get(pipeline_item_args(item), key);
	char scoped[64];
	const json_t *x;
	size_t i;

	snprintf(scoped, sizeof(scoped), "%s.%s", f->name, kind);
	if (json_is_string(v))
		return !strcmp(json_string_value(v), kind) ||
		       !strcmp(json_string_value(v), scoped);
	json_array_foreach(v, i, x)
		if (!strcmp(json_string_value(x) ?: "", kind) ||
		    !strcmp(json_string_value(x) ?: "", scoped))
			return true;
	return false;
}

static void maybe_die(const struct fake *f, const json_t *item,
		      const char *when)
{
	if (f->can_die && scripted(f, item, "die", when))
		raise(SIGKILL);
}

struct last_entry {
	char step[STORE_STEP_MAX];
	__u32 item;
	int result;
};

static int last_cb(const struct store_cs_log *e, void *ctx)
{
	struct last_entry *l = ctx;

	snprintf(l->step, sizeof(l->step), "%s", e->step);
	l->item = e->item;
	l->result = e->result;
	return 0;
}

/* The journal must show this very step as started before it runs. */
static void journal_check(struct fake *f, const json_t *item,
			  const char *kind)
{
	struct last_entry last = { .result = 0 };
	struct store_changeset cs;
	char want[STORE_STEP_MAX];
	json_t *items, *x;
	size_t i, idx = SIZE_MAX;

	if (!f->store || store_changeset_pending(f->store, &cs))
		return; /* a retry of a finished set: nothing pending */
	items = json_loads(cs.items, 0, NULL);
	json_array_foreach(items, i, x)
		if (!strcmp(jstr(x, "id"), pipeline_item_id(item)))
			idx = i;
	json_decref(items);
	store_changeset_log_list(f->store, cs.id, last_cb, &last);
	store_changeset_fini(&cs);
	snprintf(want, sizeof(want), "%s:%s", kind, f->name);
	f->checked++;
	if (last.item != idx || strcmp(last.step, want) ||
	    last.result != STORE_LOG_STARTED) {
		fprintf(stderr, "journal: before %s of '%s' the last entry is %s item %u result %d\n",
			want, pipeline_item_id(item), last.step, last.item,
			last.result);
		f->journal_bad++;
	}
}

static bool fake_handles(void *ctx, const char *op)
{
	struct fake *f = ctx;

	return !f->prefix || !strncmp(op, f->prefix, strlen(f->prefix));
}

static int fake_validate(void *ctx, const json_t *item,
			 const struct pipeline_view *v, char *err,
			 size_t errlen)
{
	const json_t *args = pipeline_item_args(item), *other, *ov;
	struct fake *f = ctx;
	size_t self = pipeline_view_index(v, item), j;
	const char *probe;

	if (scripted(f, item, "fail", "validate")) {
		snprintf(err, errlen, "scripted validate failure");
		return -EINVAL;
	}
	/* A cross-item conflict, reported on the later item. */
	if (!strcmp(pipeline_item_op(item), "vif.create") &&
	    json_object_get(args, "vlan")) {
		for (j = 0; j < self; j++) {
			other = pipeline_view_item(v, j);
			ov = json_object_get(pipeline_item_args(other), "vlan");
			if (strcmp(pipeline_item_op(other), "vif.create") ||
			    !json_equal(json_object_get(args, "vlan"), ov))
				continue;
			snprintf(err, errlen, "VLAN %lld is also created by '%s'",
				 json_integer_value(json_object_get(args,
								    "vlan")),
				 pipeline_item_id(other));
			return -EEXIST;
		}
	}
	/* What a target sees of the set: position, rank, dependencies. */
	probe = jstr(args, "probe_after");
	if (probe) {
		size_t k = SIZE_MAX;

		pipeline_view_find(v, probe, &k);
		record(f, "view:%s:n=%zu,i=%zu,rank=%zu,after_%s=%d",
		       pipeline_item_id(item), pipeline_view_count(v), self,
		       pipeline_view_rank(v, self), probe,
		       pipeline_view_after(v, self, k));
	}
	return 0;
}

/* args.uses: ids this item needs though after does not say so. */
static int fake_depends(void *ctx, const json_t *item,
			const struct pipeline_view *v, json_t *after,
			char *err, size_t errlen)
{
	const json_t *uses = json_object_get(pipeline_item_args(item), "uses");
	const json_t *x;
	size_t i;

	if (json_is_string(uses)) {
		snprintf(err, errlen, "cannot tell what '%s' uses",
			 pipeline_item_id(item));
		return -EINVAL;
	}
	json_array_foreach(uses, i, x)
		if (json_array_append(after, (json_t *)x))
			return -ENOMEM;
	return 0;
}

static int fake_preview(void *ctx, const json_t *item, json_t **diff,
			enum pipeline_risk *risk)
{
	const char *r = jstr(pipeline_item_args(item), "risk");
	struct fake *f = ctx;

	if (scripted(f, item, "fail", "preview"))
		return -EIO;
	*diff = json_pack("{s:n, s:O}", "before", "after",
			  pipeline_item_args(item));
	*risk = !r ? PIPELINE_RISK_LOW :
		!strcmp(r, "HIGH") ? PIPELINE_RISK_HIGH :
		!strcmp(r, "MEDIUM") ? PIPELINE_RISK_MEDIUM :
				       PIPELINE_RISK_LOW;
	return 0;
}

static json_t *make_undo(const struct fake *f, const json_t *item)
{
	json_int_t pad = json_integer_value(
		json_object_get(pipeline_item_args(item), "undo_pad"));
	char *s = calloc(1, (size_t)pad + 1);
	json_t *u;

	if (!s)
		return NULL;
	memset(s, 'x', (size_t)pad);
	/* A quote and a non-ASCII character, to survive the journal. */
	u = json_pack("{s:s, s:s, s:s, s:s}", "t", f->name, "id",
		      pipeline_item_id(item), "pad", s, "odd", "\"\xc3\xa9\"");
	free(s);
	return u;
}

static int fake_apply(void *ctx, const json_t *item, json_t **undo,
		      char *err, size_t errlen)
{
	const char *id = pipeline_item_id(item);
	struct fake *f = ctx;

	maybe_die(f, item, "apply-before");
	journal_check(f, item, "apply");
	if (scripted(f, item, "fail", "apply")) {
		record(f, "apply:%s!", id);
		if (json_is_true(json_object_get(pipeline_item_args(item),
						 "partial")))
			*undo = json_pack("{s:b}", "partial", 1);
		snprintf(err, errlen, "scripted apply failure");
		return -EIO;
	}
	record(f, "apply:%s", id);
	maybe_die(f, item, "apply");
	if (json_is_true(json_object_get(pipeline_item_args(item), "no_undo")))
		return 0;
	*undo = make_undo(f, item);
	return *undo ? 0 : -ENOMEM;
}

static int fake_verify(void *ctx, const json_t *item, char *err,
		       size_t errlen)
{
	struct fake *f = ctx;

	journal_check(f, item, "verify");
	if (scripted(f, item, "fail", "verify")) {
		record(f, "verify:%s!", pipeline_item_id(item));
		snprintf(err, errlen, "scripted verify failure");
		return -EPROTO;
	}
	record(f, "verify:%s", pipeline_item_id(item));
	maybe_die(f, item, "verify");
	return 0;
}

/* What rollback got: u = apply's undo, intact; ? = NULL; - = JSON null
 * (apply returned none); p = a failed apply's partial undo. */
static char undo_mark(const struct fake *f, const json_t *item,
		      const json_t *undo)
{
	json_t *want;
	char m;

	if (!undo)
		return '?';
	if (json_is_null(undo))
		return '-';
	if (json_is_true(json_object_get(undo, "partial")))
		return 'p';
	want = make_undo(f, item);
	m = json_equal(undo, want) ? 'u' : '!';
	json_decref(want);
	return m;
}

static int fake_rollback(void *ctx, const json_t *item, const json_t *undo,
			 char *err, size_t errlen)
{
	const char *id = pipeline_item_id(item);
	struct fake *f = ctx;
	char m = undo_mark(f, item, undo);

	journal_check(f, item, "rollback");
	if (!f->first_rollback_ms)
		f->first_rollback_ms = wall_ms();
	if (scripted(f, item, "fail", "rollback") && !f->no_rollback_fail) {
		record(f, "rollback:%s(%c)!", id, m);
		snprintf(err, errlen, "scripted rollback failure");
		return -EBUSY;
	}
	record(f, "rollback:%s(%c)", id, m);
	maybe_die(f, item, "rollback");
	return 0;
}

static void fake_init(struct fake *f, const char *name, const char *prefix,
		      char *calls, struct store *s)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ops = (struct pipeline_target_ops){
		.name = f->name,
		.handles = fake_handles,
		.depends = fake_depends,
		.validate = fake_validate,
		.preview = fake_preview,
		.apply = fake_apply,
		.verify = fake_verify,
		.rollback = fake_rollback,
	};
	f->prefix = prefix;
	f->calls = calls;
	f->fd = -1;
	f->store = s;
}

/* ---- the environment: store, loop, pipeline, one fake ---- */

struct env {
	char db[256];
	struct store *s;
	struct loop *l;
	struct pipeline *p;
	struct fake f;
	char calls[CALLS_MAX];
	int64_t clock_ms; /* the fake clock; 0 = the real one */
	char progress[CALLS_MAX];
};

static int64_t env_now(void *ctx)
{
	return ((struct env *)ctx)->clock_ms;
}

static int env_pipeline(struct env *e)
{
	int err;

	err = pipeline_new(e->l, e->s, e->clock_ms ? env_now : NULL, e, &e->p);
	if (err)
		return err;
	return pipeline_target_add(e->p, &e->f.ops, &e->f);
}

static int env_open(struct env *e, const char *name, int64_t clock_ms)
{
	int err;

	memset(e, 0, sizeof(*e));
	snprintf(e->db, sizeof(e->db), "%s/%s.db", tmpdir, name);
	e->clock_ms = clock_ms;
	fake_init(&e->f, "fake", NULL, e->calls, NULL);
	err = store_open(e->db, &e->s);
	if (!err)
		err = loop_new(&e->l);
	if (err)
		return err;
	e->f.store = e->s;
	return env_pipeline(e);
}

/* A restart without a crash: a new pipeline on the same store. */
static int env_restart(struct env *e)
{
	pipeline_free(e->p);
	e->p = NULL;
	e->calls[0] = '\0';
	return env_pipeline(e);
}

static void env_close(struct env *e)
{
	pipeline_free(e->p);
	loop_free(e->l);
	store_close(e->s);
}

static int apply_text(struct env *e, const char *text,
		      const struct pipeline_apply_opts *o, int64_t *id,
		      json_t **rep)
{
	json_t *items = J(text);
	int err;

	if (!items)
		return -EBADMSG;
	err = pipeline_apply(e->p, items, o, id, rep);
	json_decref(items);
	return err;
}

static int validate_text(struct env *e, const char *text, json_t **rep)
{
	json_t *items = J(text);
	int err;

	if (!items)
		return -EBADMSG;
	err = pipeline_validate(e->p, items, rep);
	json_decref(items);
	return err;
}

static bool state_is(struct env *e, int64_t id, enum store_cs_state want,
		     const char *what)
{
	struct store_changeset cs;
	bool ok;

	if (!ASSERT_OK(store_changeset_get(e->s, id, &cs), what))
		return false;
	ok = ASSERT_EQ(cs.state, want, what);
	store_changeset_fini(&cs);
	return ok;
}

static bool nothing_pending(struct env *e, const char *what)
{
	struct store_changeset cs;

	return ASSERT_EQ(store_changeset_pending(e->s, &cs), -ENOENT, what);
}

static bool journal_ok(const struct fake *f)
{
	return ASSERT_TRUE(f->checked > 0, "the fake checked the journal") &&
	       ASSERT_EQ(f->journal_bad, 0,
			 "every step was journaled as started before it ran");
}

/* Run the loop for @ms, or until the set is no longer pending. */
static void spin(struct env *e, int64_t ms, bool until_settled)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	uint64_t now;

	while ((now = loop_now_ms()) < end) {
		if (until_settled && pipeline_pending(e->p, NULL, NULL))
			return;
		loop_once(e->l, (int)(end - now));
	}
}

/* ---- validation ---- */

static int test_cycle_rejected_with_path(void)
{
	struct env e;
	json_t *rep = NULL;
	int64_t id = -1;
	int ret = -1, err;

	if (!ASSERT_OK(env_open(&e, "cycle", 0), "env"))
		goto out;
	/* x is fine; d only waits on the cycle and is not reported. */
	err = validate_text(&e,
			    "[{'op':'x.set','id':'x'},"
			    " {'op':'x.set','id':'a','after':['c']},"
			    " {'op':'x.set','id':'b','after':['a']},"
			    " {'op':'x.set','id':'c','after':['b']},"
			    " {'op':'x.set','id':'d','after':['a']}]",
			    &rep);
	if (!ASSERT_EQ(err, -EINVAL, "a cycle is invalid") ||
	    !ASSERT_EQ(report_nerrors(rep), 1, "one cycle, one error") ||
	    !str_eq(report_error(rep, 0),
		    "dependency cycle: a -> c -> b -> a", "the cycle's path") ||
	    !ASSERT_TRUE(json_is_null(json_object_get(
				 json_array_get(json_object_get(rep, "errors"), 0),
				 "item")),
			 "a cycle is the set's error: item null") ||
	    !ASSERT_EQ(report_errno(rep, 0), -ELOOP, "errno ELOOP") ||
	    !ASSERT_TRUE(json_is_false(json_object_get(rep, "valid")),
			 "valid: false") ||
	    !ASSERT_TRUE(!json_object_get(rep, "order"), "no order"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* The two-item case as the brief writes it, and a self-loop. */
	err = validate_text(&e,
			    "[{'op':'x.set','id':'a','after':['b']},"
			    " {'op':'x.set','id':'b','after':['a']},"
			    " {'op':'x.set','id':'s','after':['s']}]",
			    &rep);
	if (!ASSERT_EQ(err, -EINVAL, "cycles are invalid") ||
	    !ASSERT_EQ(report_nerrors(rep), 2, "two cycles, two errors") ||
	    !str_eq(report_error(rep, 0), "dependency cycle: a -> b -> a",
		    "a -> b -> a") ||
	    !str_eq(report_error(rep, 1), "dependency cycle: s -> s",
		    "self-dependency"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* The walk starts at t, which only leads into the cycle: the path
	 * shown is the cycle's alone. */
	err = validate_text(&e,
			    "[{'op':'x.set','id':'t','after':['a']},"
			    " {'op':'x.set','id':'a','after':['b']},"
			    " {'op':'x.set','id':'b','after':['a']}]",
			    &rep);
	if (!ASSERT_EQ(err, -EINVAL, "cycle behind a tail") ||
	    !ASSERT_EQ(report_nerrors(rep), 1, "one error") ||
	    !str_eq(report_error(rep, 0), "dependency cycle: a -> b -> a",
		    "the tail is not part of the path"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* apply refuses it the same way and stores nothing. */
	err = apply_text(&e,
			 "[{'op':'x.set','id':'a','after':['b']},"
			 " {'op':'x.set','id':'b','after':['a']}]",
			 NULL, &id, &rep);
	if (!ASSERT_EQ(err, -EINVAL, "apply refuses a cycle") ||
	    !ASSERT_EQ(id, 0, "no change set id") ||
	    !ASSERT_TRUE(json_is_null(json_object_get(rep, "changeset")),
			 "report: changeset null") ||
	    !str_eq(e.calls, "", "no target call") ||
	    !nothing_pending(&e, "nothing stored"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_unknown_dependency(void)
{
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "unknown_dep", 0), "env"))
		goto out;
	if (!ASSERT_EQ(validate_text(&e,
				     "[{'op':'x.set','id':'a'},"
				     " {'op':'x.set','id':'b','after':['a','nope']}]",
				     &rep),
		       -EINVAL, "unknown after id") ||
	    !ASSERT_EQ(report_nerrors(rep), 1, "one error") ||
	    !str_eq(report_error(rep, 0),
		    "item 'b': after: no item 'nope' in the set", "message") ||
	    !ASSERT_EQ(report_errno(rep, 0), -ENOENT, "errno ENOENT") ||
	    !str_eq(jstr(json_array_get(json_object_get(rep, "errors"), 0),
			 "item"),
		    "b", "the error names the item"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_duplicate_ids(void)
{
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "dup_ids", 0), "env"))
		goto out;
	if (!ASSERT_EQ(validate_text(&e,
				     "[{'op':'x.set','id':'a'},"
				     " {'op':'x.set','id':'b'},"
				     " {'op':'x.set','id':'a'}]",
				     &rep),
		       -EINVAL, "duplicate ids") ||
	    !ASSERT_EQ(report_nerrors(rep), 1, "one error") ||
	    !str_eq(report_error(rep, 0),
		    "duplicate id 'a' (items[0] and items[2])", "message") ||
	    !ASSERT_EQ(report_errno(rep, 0), -EEXIST, "errno EEXIST"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_item_schema(void)
{
	static const struct {
		const char *items, *error;
	} bad[] = {
		{ "{'op':'x.set','id':'a'}",
		  "a change set is a JSON array of items" },
		{ "[]", "the change set is empty" },
		{ "[7]", "items[0]: not an object" },
		{ "[{'op':'x.set'}]",
		  "items[0]: \"id\" must be 1-64 characters of A-Z a-z 0-9 . _ -" },
		{ "[{'op':'x.set','id':'has space'}]",
		  "items[0]: \"id\" must be 1-64 characters of A-Z a-z 0-9 . _ -" },
		{ "[{'op':'X.Set','id':'a'}]",
		  "item 'a': \"op\" must be 1-31 characters of a-z 0-9 . _" },
		{ "[{'op':'x.set','id':'a','afer':['b']}]",
		  "item 'a': unknown key \"afer\"" },
		{ "[{'op':'x.set','id':'a','args':[1]}]",
		  "item 'a': \"args\" must be an object" },
		{ "[{'op':'x.set','id':'a','after':'b'}]",
		  "item 'a': \"after\" must be an array of ids" },
		{ "[{'op':'x.set','id':'a','after':[1]}]",
		  "item 'a': after[0] is not a string" },
	};
	struct env e;
	json_t *rep = NULL;
	size_t i;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "schema", 0), "env"))
		goto out;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (!ASSERT_EQ(validate_text(&e, bad[i].items, &rep), -EINVAL,
			       bad[i].items) ||
		    !str_eq(report_error(rep, 0), bad[i].error, bad[i].items))
			goto out;
		json_decref(rep);
		rep = NULL;
	}
	/* A good set comes back normalized, in order. */
	if (!ASSERT_OK(validate_text(&e, "[{'op':'x.set','id':'a'}]", &rep),
		       "valid") ||
	    !ASSERT_TRUE(json_is_true(json_object_get(rep, "valid")),
			 "valid: true") ||
	    !ASSERT_EQ(json_array_size(json_object_get(rep, "order")), 1,
		       "order"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_target_validation(void)
{
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "target_validate", 0), "env"))
		goto out;
	if (!ASSERT_EQ(validate_text(&e,
				     "[{'op':'vif.create','id':'a','args':{'vlan':101}},"
				     " {'op':'vif.create','id':'b','args':{'vlan':102}},"
				     " {'op':'vif.create','id':'c','args':{'vlan':101}},"
				     " {'op':'x.set','id':'d','args':{'fail':'validate'}}]",
				     &rep),
		       -EINVAL, "conflict and scripted failure") ||
	    !ASSERT_EQ(report_nerrors(rep), 2, "both reported") ||
	    !str_eq(report_error(rep, 0),
		    "item 'c': VLAN 101 is also created by 'a'",
		    "cross-item conflict") ||
	    !ASSERT_EQ(report_errno(rep, 0), -EEXIST, "the target's errno") ||
	    !str_eq(jstr(json_array_get(json_object_get(rep, "errors"), 0),
			 "target"),
		    "fake", "the error names its target") ||
	    !str_eq(report_error(rep, 1), "item 'd': scripted validate failure",
		    "target's message"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* What the target sees: c is after a through b; d is not. */
	e.calls[0] = '\0';
	if (!ASSERT_OK(validate_text(&e,
				     "[{'op':'x.set','id':'c','after':['b'],'args':{'probe_after':'a'}},"
				     " {'op':'x.set','id':'a'},"
				     " {'op':'x.set','id':'b','after':['a']},"
				     " {'op':'x.set','id':'d','args':{'probe_after':'a'}}]",
				     &rep),
		       "valid") ||
	    !str_eq(e.calls,
		    "view:c:n=4,i=0,rank=2,after_a=1 view:d:n=4,i=3,rank=3,after_a=0",
		    "view accessors"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* An op no target handles. */
	pipeline_free(e.p);
	e.f.prefix = "vif.";
	if (!ASSERT_OK(env_pipeline(&e), "pipeline") ||
	    !ASSERT_EQ(validate_text(&e, "[{'op':'quota.set','id':'q'}]", &rep),
		       -EINVAL, "unhandled op") ||
	    !str_eq(report_error(rep, 0),
		    "item 'q': no target handles op 'quota.set'", "message"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_implicit_dependencies(void)
{
	struct env e;
	json_t *rep = NULL, *st = NULL, *after;
	int64_t id;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "implicit", 0), "env"))
		goto out;
	/* b is listed first but uses a: the target orders it after a, and
	 * the stored item says so. */
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'chain.set','id':'b','args':{'uses':['a','b']}},"
				  " {'op':'vif.create','id':'a'}]",
				  NULL, &id, &rep),
		       "apply") ||
	    !str_eq(e.calls, "apply:a apply:b verify:a verify:b",
		    "implicit order") ||
	    !ASSERT_OK(pipeline_status(e.p, id, &st), "status"))
		goto out;
	after = json_object_get(json_array_get(json_object_get(st, "items"), 0),
				"after");
	if (!ASSERT_EQ(json_array_size(after), 1, "one dependency, not itself") ||
	    !str_eq(json_string_value(json_array_get(after, 0)), "a",
		    "stored with the item"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* Implicit and explicit together can close a cycle; unknown ids and
	 * a target's refusal are errors like any other. */
	if (!ASSERT_EQ(validate_text(&e,
				     "[{'op':'vif.create','id':'a','after':['b']},"
				     " {'op':'chain.set','id':'b','args':{'uses':['a']}}]",
				     &rep),
		       -EINVAL, "cycle") ||
	    !str_eq(report_error(rep, 0), "dependency cycle: a -> b -> a",
		    "cycle through an implicit dependency"))
		goto out;
	json_decref(rep);
	rep = NULL;
	if (!ASSERT_EQ(validate_text(&e,
				     "[{'op':'chain.set','id':'b','args':{'uses':['zz']}},"
				     " {'op':'chain.set','id':'c','args':{'uses':'?'}}]",
				     &rep),
		       -EINVAL, "bad dependencies") ||
	    !str_eq(report_error(rep, 0),
		    "item 'b': depends on 'zz', which is not in the set",
		    "unknown") ||
	    !str_eq(report_error(rep, 1), "item 'c': cannot tell what 'c' uses",
		    "refusal"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	json_decref(st);
	env_close(&e);
	return ret;
}

/* ---- apply ---- */

static int test_topological_order(void)
{
	char order[256] = "";
	struct env e;
	json_t *rep = NULL, *x;
	int64_t id = 0;
	size_t i;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "topo", 0), "env"))
		goto out;
	/* Ready first: a b e; then ties go to the earlier item: c (item 0)
	 * as soon as b is done, before d and e. */
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'c','after':['b']},"
				  " {'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b'},"
				  " {'op':'x.set','id':'d','after':['a']},"
				  " {'op':'x.set','id':'e'}]",
				  NULL, &id, &rep),
		       "apply"))
		goto out;
	json_array_foreach(json_object_get(rep, "order"), i, x)
		snprintf(order + strlen(order), sizeof(order) - strlen(order),
			 "%s%s", i ? " " : "", json_string_value(x));
	if (!str_eq(order, "a b c d e", "report order") ||
	    !str_eq(e.calls,
		    "apply:a apply:b apply:c apply:d apply:e "
		    "verify:a verify:b verify:c verify:d verify:e",
		    "calls") ||
	    !ASSERT_TRUE(id > 0, "id") ||
	    !str_eq(jstr(rep, "state"), "CONFIRMED", "report state") ||
	    !state_is(&e, id, STORE_CS_CONFIRMED, "stored CONFIRMED") ||
	    !nothing_pending(&e, "not pending") || !journal_ok(&e.f))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* Without after, a set is applied as written. */
	e.calls[0] = '\0';
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'z'},{'op':'x.set','id':'y'},"
				  " {'op':'x.set','id':'x'}]",
				  NULL, NULL, &rep),
		       "apply") ||
	    !str_eq(e.calls,
		    "apply:z apply:y apply:x verify:z verify:y verify:x",
		    "request order"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

/* The apply report's "failed": which step of which item. */
static bool failed_is(const json_t *rep, const char *item, const char *step,
		      int err)
{
	const json_t *f = json_object_get(rep, "failed");

	return str_eq(jstr(f, "item"), item, "failed item") &&
	       str_eq(jstr(f, "step"), step, "failed step") &&
	       str_eq(jstr(f, "target"), "fake", "failed target") &&
	       ASSERT_EQ(json_integer_value(json_object_get(f, "errno")), err,
			 "failed errno");
}

static int test_apply_failure_rolls_back(void)
{
	struct env e;
	json_t *rep = NULL;
	int64_t id = 0;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "apply_fail", 0), "env"))
		goto out;
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'a'},{'op':'x.set','id':'b'},"
				  " {'op':'x.set','id':'c','args':{'fail':'apply'}},"
				  " {'op':'x.set','id':'d'}]",
				  NULL, &id, &rep),
		       -EIO, "the failing apply's error") ||
	    !str_eq(e.calls,
		    "apply:a apply:b apply:c! rollback:b(u) rollback:a(u)",
		    "applied items rolled back in reverse, d never applied") ||
	    !str_eq(jstr(rep, "state"), "FAILED", "report state") ||
	    !str_eq(jstr(rep, "error"),
		    "apply of 'c' on fake failed: scripted apply failure (-5)",
		    "report error") ||
	    !failed_is(rep, "c", "apply", -EIO) ||
	    !state_is(&e, id, STORE_CS_FAILED, "stored FAILED") ||
	    !nothing_pending(&e, "not pending") || !journal_ok(&e.f))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* A failed apply that left something behind is rolled back too. */
	e.calls[0] = '\0';
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b','args':{'fail':'apply','partial':true}}]",
				  NULL, &id, &rep),
		       -EIO, "partial apply") ||
	    !str_eq(e.calls, "apply:a apply:b! rollback:b(p) rollback:a(u)",
		    "partial undo rolled back first"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_verify_failure_rolls_back(void)
{
	struct env e;
	json_t *rep = NULL;
	int64_t id = 0;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "verify_fail", 0), "env"))
		goto out;
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b','args':{'fail':'verify'}},"
				  " {'op':'x.set','id':'c'}]",
				  NULL, &id, &rep),
		       -EPROTO, "the failing verify's error") ||
	    !str_eq(e.calls,
		    "apply:a apply:b apply:c verify:a verify:b! "
		    "rollback:c(u) rollback:b(u) rollback:a(u)",
		    "everything applied is rolled back in reverse") ||
	    !str_eq(jstr(rep, "error"),
		    "verify of 'b' on fake failed: scripted verify failure (-71)",
		    "report error") ||
	    !failed_is(rep, "b", "verify", -EPROTO) ||
	    !state_is(&e, id, STORE_CS_FAILED, "stored FAILED") ||
	    !journal_ok(&e.f))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static bool attention_is(const json_t *att, const char *want, const char *what)
{
	char got[1024] = "";
	const json_t *x;
	size_t i;

	json_array_foreach(att, i, x)
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
			 "%s%s/%s/%s: %s", i ? " | " : "", jstr(x, "item"),
			 jstr(x, "op"), jstr(x, "target"), jstr(x, "error"));
	return str_eq(got, want, what);
}

static int test_rollback_failure_partial(void)
{
	static const char *const want_attention =
		"b/x.set/fake: rollback failed: scripted rollback failure (-16) | "
		"a/x.set/fake: not rolled back: 'b' is after it and still applied";
	struct env e;
	json_t *rep = NULL, *st = NULL;
	int64_t id = 0;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "partial", 0), "env"))
		goto out;
	/* c rolls back; b fails; a stays, since b (still applied) is after
	 * it. */
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b','after':['a'],'args':{'fail':'rollback'}},"
				  " {'op':'x.set','id':'c'},"
				  " {'op':'x.set','id':'d','args':{'fail':'apply'}}]",
				  NULL, &id, &rep),
		       -ENOTRECOVERABLE, "rollback failed") ||
	    !str_eq(e.calls,
		    "apply:a apply:b apply:c apply:d! rollback:c(u) rollback:b(u)!",
		    "calls") ||
	    !str_eq(jstr(rep, "state"), "PARTIAL_FAILURE", "report state") ||
	    !attention_is(json_object_get(rep, "needs_attention"), want_attention,
			  "report attention") ||
	    !state_is(&e, id, STORE_CS_PARTIAL_FAILURE, "stored") ||
	    !nothing_pending(&e, "a failed set is not pending"))
		goto out;

	/* The list comes from the journal: the same after a restart. */
	if (!ASSERT_OK(env_restart(&e), "restart") ||
	    !ASSERT_OK(pipeline_status(e.p, id, &st), "status") ||
	    !str_eq(jstr(st, "state"), "PARTIAL_FAILURE", "status state") ||
	    !attention_is(json_object_get(st, "needs_attention"), want_attention,
			  "status attention"))
		goto out;
	json_decref(st);
	st = NULL;

	/* A person fixed b: a retry rolls back what is left, in order. */
	e.f.no_rollback_fail = true;
	if (!ASSERT_OK(pipeline_rollback(e.p, id, &st), "retry") ||
	    !str_eq(e.calls, "rollback:b(u) rollback:a(u)", "retry calls") ||
	    !state_is(&e, id, STORE_CS_ROLLED_BACK, "rolled back") ||
	    !ASSERT_EQ(json_array_size(json_object_get(st, "needs_attention")), 0,
		       "nothing needs a person") ||
	    !ASSERT_EQ(pipeline_rollback(e.p, id, NULL), -EINVAL,
		       "nothing left to roll back"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	json_decref(st);
	env_close(&e);
	return ret;
}

static int test_high_risk_needs_confirm(void)
{
	static const char *const set =
		"[{'op':'x.set','id':'a','args':{'risk':'MEDIUM'}},"
		" {'op':'x.set','id':'b','args':{'risk':'HIGH'}}]";
	struct pipeline_apply_opts o = { .confirmed_high_risk = true };
	struct store_changeset cs;
	struct env e;
	json_t *rep = NULL, *items = NULL;
	int64_t id = -1;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "high_risk", 0), "env"))
		goto out;
	items = J(set);
	if (!ASSERT_OK(pipeline_preview(e.p, items, &rep), "preview") ||
	    !str_eq(jstr(rep, "risk"), "HIGH", "overall risk is the max") ||
	    !str_eq(jstr(json_array_get(json_object_get(rep, "items"), 0),
			 "risk"),
		    "MEDIUM", "item risk") ||
	    !ASSERT_TRUE(json_is_object(json_object_get(
				 json_array_get(json_object_get(
							json_array_get(
								json_object_get(rep, "items"),
								1),
							"changes"),
						0),
				 "after")),
			 "the diff's after"))
		goto out;
	json_decref(rep);
	rep = NULL;

	if (!ASSERT_EQ(apply_text(&e, set, NULL, &id, &rep), -EPERM,
		       "HIGH without confirm") ||
	    !ASSERT_EQ(id, 0, "no id") || !str_eq(e.calls, "", "no call") ||
	    !ASSERT_EQ(store_changeset_get(e.s, 1, &cs), -ENOENT,
		       "nothing stored") ||
	    !str_eq(jstr(rep, "error"),
		    "HIGH risk: see the preview, then apply with confirm",
		    "message"))
		goto out;
	json_decref(rep);
	rep = NULL;

	if (!ASSERT_OK(apply_text(&e, set, &o, &id, &rep), "with confirm") ||
	    !state_is(&e, id, STORE_CS_CONFIRMED, "applied") ||
	    !str_eq(e.calls, "apply:a apply:b verify:a verify:b", "calls"))
		goto out;
	ret = 0;
out:
	json_decref(items);
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_multi_target_order(void)
{
	struct fake router;
	struct env e;
	json_t *rep = NULL;
	int64_t id;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "multi", 0), "env"))
		goto out;
	pipeline_free(e.p);
	snprintf(e.f.name, sizeof(e.f.name), "dp");
	e.f.tagged = true;
	fake_init(&router, "router", "vif.", e.calls, e.s);
	router.tagged = true;
	if (!ASSERT_OK(env_pipeline(&e), "dp") ||
	    !ASSERT_OK(pipeline_target_add(e.p, &router.ops, &router),
		       "router") ||
	    !ASSERT_EQ(pipeline_target_add(e.p, &router.ops, &router), -EEXIST,
		       "a name once"))
		goto out;
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'vif.create','id':'a'},"
				  " {'op':'chain.set','id':'b','after':['a']}]",
				  NULL, &id, &rep),
		       "apply") ||
	    !str_eq(e.calls,
		    "dp.apply:a router.apply:a dp.apply:b "
		    "dp.verify:a router.verify:a dp.verify:b",
		    "each target in registration order"))
		goto out;
	json_decref(rep);
	rep = NULL;

	e.calls[0] = '\0';
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'vif.create','id':'a'},"
				  " {'op':'chain.set','id':'b','after':['a']},"
				  " {'op':'vif.create','id':'c','after':['b'],'args':{'fail':'router.apply'}}]",
				  NULL, &id, &rep),
		       -EIO, "router fails c") ||
	    !str_eq(e.calls,
		    "dp.apply:a router.apply:a dp.apply:b dp.apply:c router.apply:c! "
		    "dp.rollback:c(u) dp.rollback:b(u) router.rollback:a(u) dp.rollback:a(u)",
		    "rolled back in exact reverse") ||
	    !journal_ok(&router))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static void on_progress(void *ctx, const struct pipeline_progress *ev)
{
	struct env *e = ctx;
	size_t used = strlen(e->progress);

	if (!strcmp(ev->step, "state"))
		snprintf(e->progress + used, CALLS_MAX - used, "%s#%lld:%s",
			 used ? " " : "", (long long)ev->changeset, ev->state);
	else
		snprintf(e->progress + used, CALLS_MAX - used, "%s%s:%s:%s:%d",
			 used ? " " : "", ev->step, ev->item, ev->target,
			 ev->result);
}

static int test_progress_events(void)
{
	struct env e;
	json_t *rep = NULL;
	int64_t id;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "progress", 0), "env"))
		goto out;
	pipeline_set_progress(e.p, on_progress, &e);
	if (!ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'a'}]", NULL, &id,
				  &rep),
		       "apply") ||
	    !str_eq(e.progress,
		    "#1:APPLYING apply:a:fake:1 apply:a:fake:0 "
		    "verify:a:fake:1 verify:a:fake:0 #1:CONFIRMED",
		    "events of a good set"))
		goto out;
	json_decref(rep);
	rep = NULL;
	e.progress[0] = '\0';
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b','args':{'fail':'apply'}}]",
				  NULL, &id, &rep),
		       -EIO, "apply") ||
	    !str_eq(e.progress,
		    "#2:APPLYING apply:a:fake:1 apply:a:fake:0 "
		    "apply:b:fake:1 apply:b:fake:-5 "
		    "rollback:a:fake:1 rollback:a:fake:0 #2:FAILED",
		    "events of a failed set"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_status_report(void)
{
	struct env e;
	json_t *rep = NULL, *st = NULL, *none = NULL, *x;
	int64_t id;
	size_t i;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "status", 0), "env"))
		goto out;
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'a','args':{'undo_pad':1000}}]",
				  NULL, &id, &rep),
		       "apply") ||
	    !ASSERT_OK(pipeline_status(e.p, id, &st), "status"))
		goto out;
	x = json_array_get(json_object_get(st, "steps"), 0);
	if (!str_eq(jstr(st, "state"), "CONFIRMED", "state") ||
	    !str_eq(jstr(x, "apply"), "ok", "step apply") ||
	    !str_eq(jstr(x, "verify"), "ok", "step verify") ||
	    !str_eq(jstr(x, "rollback"), "none", "step rollback") ||
	    !ASSERT_TRUE(json_is_array(json_object_get(
			     json_array_get(json_object_get(st, "items"), 0),
			     "after")),
			 "items stored normalized"))
		goto out;
	/* apply started, apply ok, verify x2, commit x2: no undo chunks. */
	json_array_foreach(json_object_get(st, "log"), i, x)
		if (!ASSERT_TRUE(strncmp(jstr(x, "step"), "undo", 4),
				 "undo entries left out"))
			goto out;
	if (!ASSERT_EQ(json_array_size(json_object_get(st, "log")), 6,
		       "log entries") ||
	    !ASSERT_EQ(pipeline_status(e.p, 999, &none), -ENOENT,
		       "unknown set") ||
	    !ASSERT_TRUE(!none, "no report"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	json_decref(st);
	env_close(&e);
	return ret;
}

static int test_journal_batch(void)
{
	struct pipeline_apply_opts o = { .journal_batch = 4 };
	json_t *rep = NULL, *st = NULL, *x;
	char got[512] = "";
	struct env e;
	int64_t id;
	size_t i;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "batch", 0), "env"))
		goto out;
	/* The fake's check wants its own STARTED entry last, which only
	 * holds one step per commit. */
	e.f.store = NULL;
	/* Batches [0-3] [4-7] [8-9]: i5 fails, i6 and i7 never run. */
	if (!ASSERT_EQ(apply_text(&e,
				  "[{'op':'x.set','id':'i0'},{'op':'x.set','id':'i1'},"
				  " {'op':'x.set','id':'i2'},{'op':'x.set','id':'i3'},"
				  " {'op':'x.set','id':'i4'},"
				  " {'op':'x.set','id':'i5','args':{'fail':'apply'}},"
				  " {'op':'x.set','id':'i6'},{'op':'x.set','id':'i7'},"
				  " {'op':'x.set','id':'i8'},{'op':'x.set','id':'i9'}]",
				  &o, &id, &rep),
		       -EIO, "i5 fails") ||
	    !str_eq(e.calls,
		    "apply:i0 apply:i1 apply:i2 apply:i3 apply:i4 apply:i5! "
		    "rollback:i4(u) rollback:i3(u) rollback:i2(u) "
		    "rollback:i1(u) rollback:i0(u)",
		    "applied in batches, rolled back precisely") ||
	    !failed_is(rep, "i5", "apply", -EIO) ||
	    !ASSERT_OK(pipeline_status(e.p, id, &st), "status"))
		goto out;
	/* The journal closes what never ran, so a restart would not roll
	 * it back: i8 and i9 were never even started. */
	json_array_foreach(json_object_get(st, "steps"), i, x)
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
			 "%s%s:%s/%s", i ? " " : "", jstr(x, "item"),
			 jstr(x, "apply"), jstr(x, "rollback"));
	if (!str_eq(got,
		    "i0:ok/ok i1:ok/ok i2:ok/ok i3:ok/ok i4:ok/ok "
		    "i5:failed/none i6:failed/none i7:failed/none",
		    "steps as journaled") ||
	    !str_eq(jstr(json_array_get(json_object_get(st, "steps"), 6),
			 "error"),
		    "not run: an earlier step failed", "why i6 did not run"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* A good set in batches is verified and committed as usual. */
	e.calls[0] = '\0';
	o.journal_batch = 2;
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'a'},{'op':'x.set','id':'b'},"
				  " {'op':'x.set','id':'c'}]",
				  &o, &id, &rep),
		       "apply") ||
	    !str_eq(e.calls, "apply:a apply:b apply:c verify:a verify:b verify:c",
		    "calls") ||
	    !state_is(&e, id, STORE_CS_CONFIRMED, "committed"))
		goto out;
	json_decref(rep);
	rep = NULL;
	o.journal_batch = PIPELINE_JOURNAL_BATCH_MAX + 1;
	if (!ASSERT_EQ(apply_text(&e, "[{'op':'x.set','id':'a'}]", &o, &id,
				  &rep),
		       -ERANGE, "batch too big"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	json_decref(st);
	env_close(&e);
	return ret;
}

/* ---- commit-confirmed ---- */

static int test_confirm_in_time_commits(void)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = 1 };
	int64_t id, pid, deadline_ms, t0;
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "confirm", 0), "env"))
		goto out;
	t0 = wall_ms();
	if (!ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'a'}]", &o, &id,
				  &rep),
		       "apply") ||
	    !str_eq(jstr(rep, "state"), "APPLIED", "awaiting confirmation") ||
	    !state_is(&e, id, STORE_CS_APPLIED, "stored APPLIED") ||
	    !ASSERT_OK(pipeline_pending(e.p, &pid, &deadline_ms), "pending") ||
	    !ASSERT_EQ(pid, id, "pending id") ||
	    !ASSERT_TRUE(deadline_ms >= t0 + 1000 &&
				 deadline_ms <= wall_ms() + 1000 + 1000,
			 "deadline: the timeout, rounded up to a second") ||
	    !ASSERT_EQ(json_integer_value(
			       json_object_get(rep, "confirm_deadline")),
		       deadline_ms / 1000, "report deadline"))
		goto out;
	spin(&e, 300, false);
	if (!ASSERT_OK(pipeline_confirm(e.p, id), "confirm") ||
	    !state_is(&e, id, STORE_CS_CONFIRMED, "committed") ||
	    !nothing_pending(&e, "no longer pending"))
		goto out;
	/* The timer is gone: nothing happens at the deadline. */
	spin(&e, deadline_ms - wall_ms() + 400, false);
	if (!str_eq(e.calls, "apply:a verify:a", "no rollback") ||
	    !ASSERT_EQ(pipeline_confirm(e.p, id), -EINVAL, "confirm twice") ||
	    !ASSERT_EQ(pipeline_confirm(e.p, 999), -ENOENT, "unknown id"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_confirm_timeout_rolls_back(void)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = 1 };
	int64_t id, deadline_ms, late;
	struct store_changeset cs = { 0 };
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "timeout", 0), "env"))
		goto out;
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'a'},{'op':'x.set','id':'b'}]",
				  &o, &id, &rep),
		       "apply") ||
	    !ASSERT_OK(pipeline_pending(e.p, NULL, &deadline_ms), "pending"))
		goto out;
	spin(&e, deadline_ms - wall_ms() + 3000, true);
	late = e.f.first_rollback_ms - deadline_ms;
	fprintf(stderr, "rollback %lld ms after the deadline\n",
		(long long)late);
	if (!str_eq(e.calls,
		    "apply:a apply:b verify:a verify:b rollback:b(u) rollback:a(u)",
		    "rolled back") ||
	    !ASSERT_TRUE(late >= 0, "not before the deadline") ||
	    !ASSERT_TRUE(late <= 300, "at most 300 ms after it") ||
	    !ASSERT_OK(store_changeset_get(e.s, id, &cs), "get") ||
	    !ASSERT_EQ(cs.state, STORE_CS_ROLLED_BACK, "ROLLED_BACK") ||
	    !str_eq(cs.error, "not confirmed by the deadline", "why") ||
	    !ASSERT_EQ(pipeline_confirm(e.p, id), -EINVAL, "too late") ||
	    !journal_ok(&e.f))
		goto out;
	ret = 0;
out:
	store_changeset_fini(&cs);
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_confirm_after_deadline_refused(void)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = 5 };
	struct env e;
	json_t *rep = NULL;
	int64_t id;
	int ret = -1;

	/* A fake clock: the deadline passes, the loop has not run yet. */
	if (!ASSERT_OK(env_open(&e, "late_confirm", 1700000000123), "env") ||
	    !ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'a'}]", &o, &id,
				  &rep),
		       "apply") ||
	    !str_eq(jstr(rep, "state"), "APPLIED", "waiting"))
		goto out;
	e.clock_ms += 5000;
	if (!ASSERT_OK(pipeline_pending(e.p, NULL, NULL),
		       "5 s later: still inside (deadline rounded up)"))
		goto out;
	e.clock_ms += 1000;
	if (!ASSERT_EQ(pipeline_confirm(e.p, id), -ETIMEDOUT, "late") ||
	    !str_eq(e.calls, "apply:a verify:a rollback:a(u)", "rolled back") ||
	    !state_is(&e, id, STORE_CS_ROLLED_BACK, "ROLLED_BACK") ||
	    !ASSERT_EQ(pipeline_pending(e.p, NULL, NULL), -ENOENT,
		       "not pending"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

static int test_busy_while_pending(void)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = 30 };
	struct pipeline *other = NULL;
	struct fake f2;
	char calls2[CALLS_MAX] = "";
	struct env e;
	json_t *rep = NULL, *items = NULL;
	int64_t id, id2 = -1;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "busy", 0), "env") ||
	    !ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'a'}]", &o, &id,
				  NULL),
		       "first set"))
		goto out;
	e.calls[0] = '\0';
	if (!ASSERT_EQ(apply_text(&e, "[{'op':'x.set','id':'b'}]", NULL, &id2,
				  &rep),
		       -EBUSY, "second set") ||
	    !ASSERT_EQ(id2, 0, "no id") || !str_eq(e.calls, "", "no call") ||
	    !str_eq(jstr(rep, "error"), "change set 1 is pending",
		    "the engine knows, before the store is asked"))
		goto out;
	json_decref(rep);
	rep = NULL;
	items = J("[{'op':'x.set','id':'b'}]");
	if (!ASSERT_OK(pipeline_preview(e.p, items, &rep),
		       "preview is read-only: allowed"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* Another engine on the same file: the store says no too. */
	fake_init(&f2, "fake", NULL, calls2, e.s);
	if (!ASSERT_OK(pipeline_new(e.l, e.s, NULL, NULL, &other), "other") ||
	    !ASSERT_OK(pipeline_target_add(other, &f2.ops, &f2), "target") ||
	    !ASSERT_EQ(pipeline_apply(other, items, NULL, &id2, NULL), -EBUSY,
		       "the store enforces one pending set") ||
	    !str_eq(calls2, "", "no call") ||
	    !ASSERT_EQ(pipeline_rollback(other, id, NULL), -EBUSY,
		       "not its set to roll back"))
		goto out;

	/* An operator's rollback frees the slot. */
	if (!ASSERT_OK(pipeline_rollback(e.p, id, &rep), "rollback") ||
	    !str_eq(jstr(rep, "state"), "ROLLED_BACK", "status in report") ||
	    !str_eq(e.calls, "rollback:a(u)", "rolled back") ||
	    !ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'b'}]", NULL, &id2,
				  NULL),
		       "now it applies"))
		goto out;
	ret = 0;
out:
	pipeline_free(other);
	json_decref(items);
	json_decref(rep);
	env_close(&e);
	return ret;
}

/* ---- restarts: a new engine on the same store ---- */

static int test_restart_recovers_pending(void)
{
	struct pipeline_apply_opts o = { .confirm_timeout_s = 60 };
	int64_t id, id2, deadline_ms, t0 = 1700000000500;
	struct env e;
	json_t *rep = NULL;
	int ret = -1;

	if (!ASSERT_OK(env_open(&e, "restart", t0), "env") ||
	    !ASSERT_OK(pipeline_recover(e.p, &rep), "nothing to recover") ||
	    !str_eq(jstr(rep, "action"), "none", "action none"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* Inside the window: the timer is re-armed for what is left. */
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'a'},"
				  " {'op':'x.set','id':'b','args':{'undo_pad':1000}}]",
				  &o, &id, NULL),
		       "apply") ||
	    !ASSERT_OK(pipeline_pending(e.p, NULL, &deadline_ms), "pending") ||
	    !ASSERT_OK(env_restart(&e), "restart"))
		goto out;
	e.clock_ms += 10000;
	if (!ASSERT_OK(pipeline_recover(e.p, &rep), "recover") ||
	    !str_eq(jstr(rep, "action"), "armed", "armed") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(rep, "remaining_ms")),
		       deadline_ms - e.clock_ms, "remaining") ||
	    !ASSERT_EQ(pipeline_recover(e.p, NULL), -EBUSY, "once") ||
	    !ASSERT_OK(pipeline_confirm(e.p, id), "confirm after restart") ||
	    !state_is(&e, id, STORE_CS_CONFIRMED, "committed") ||
	    !str_eq(e.calls, "", "nothing rolled back"))
		goto out;
	json_decref(rep);
	rep = NULL;

	/* Past the deadline: rolled back at once, with the (multi-entry)
	 * undo exactly as apply returned it. */
	if (!ASSERT_OK(apply_text(&e,
				  "[{'op':'x.set','id':'a','args':{'no_undo':true}},"
				  " {'op':'x.set','id':'b','args':{'undo_pad':1000}}]",
				  &o, &id2, NULL),
		       "apply") ||
	    !ASSERT_OK(env_restart(&e), "restart"))
		goto out;
	e.clock_ms += 61000;
	if (!ASSERT_OK(pipeline_recover(e.p, &rep), "recover") ||
	    !str_eq(jstr(rep, "action"), "rolled_back", "rolled back") ||
	    !str_eq(jstr(rep, "state"), "ROLLED_BACK", "state") ||
	    !str_eq(e.calls, "rollback:b(u) rollback:a(-)",
		    "undo as journaled; none is JSON null, not unknown") ||
	    !nothing_pending(&e, "done") || !journal_ok(&e.f))
		goto out;
	json_decref(rep);
	rep = NULL;

	/*
	 * A rollback that finished but whose final state never reached the
	 * store (vifd died in between) must not be re-armed as a set to
	 * confirm: its targets are rolled back.  The journal is written by
	 * hand here because no target call sits in that gap.
	 */
	if (!ASSERT_OK(apply_text(&e, "[{'op':'x.set','id':'a'}]", &o, &id2,
				  NULL),
		       "apply") ||
	    !ASSERT_OK(env_restart(&e), "restart") ||
	    !ASSERT_OK(store_changeset_log_append(e.s, id2, PIPELINE_LOG_SET,
						  "rollback", STORE_LOG_STARTED,
						  "operator", 0, NULL),
		       "log") ||
	    !ASSERT_OK(store_changeset_log_append(e.s, id2, 0, "rollback:fake",
						  STORE_LOG_STARTED, "", 0,
						  NULL),
		       "log") ||
	    !ASSERT_OK(store_changeset_log_append(e.s, id2, 0, "rollback:fake",
						  0, "", 0, NULL),
		       "log") ||
	    !ASSERT_OK(store_changeset_log_append(e.s, id2, PIPELINE_LOG_SET,
						  "rollback", 0, "", 0, NULL),
		       "log") ||
	    !ASSERT_OK(pipeline_recover(e.p, &rep), "recover") ||
	    !str_eq(jstr(rep, "action"), "rolled_back", "finished, not armed") ||
	    !str_eq(e.calls, "", "nothing rolled back twice") ||
	    !state_is(&e, id2, STORE_CS_ROLLED_BACK, "ROLLED_BACK"))
		goto out;
	ret = 0;
out:
	json_decref(rep);
	env_close(&e);
	return ret;
}

/* ---- crashes: a child is SIGKILLed, the parent recovers ---- */

struct crash {
	const char *name;
	const char *items;
	unsigned int timeout_s;
	unsigned int batch;     /* journal_batch */
	bool operator_rollback; /* the child rolls back inside the window */
	bool kill_after_apply;  /* the child dies once apply returned */
	enum store_cs_state at_death; /* the stored state the child left */
	int64_t clock_skew_ms;  /* the parent's clock runs ahead by this */
	const char *recover_action;
	enum store_cs_state final;
	const char *calls;      /* the child's then the parent's calls */
};

static void crash_child(const struct crash *c, const char *db, int fd)
{
	struct pipeline_apply_opts o = {
		.confirm_timeout_s = c->timeout_s,
		.journal_batch = c->batch,
	};
	struct pipeline *p = NULL;
	struct store *s = NULL;
	struct loop *l = NULL;
	char calls[CALLS_MAX] = "";
	json_t *items = J(c->items);
	struct fake f;
	int64_t id;

	if (!items || store_open(db, &s) || loop_new(&l) ||
	    pipeline_new(l, s, NULL, NULL, &p))
		_exit(2);
	/* Its own STARTED entry is last only one step per commit. */
	fake_init(&f, "fake", NULL, calls, c->batch > 1 ? NULL : s);
	f.fd = fd;
	f.can_die = true;
	if (pipeline_target_add(p, &f.ops, &f))
		_exit(2);
	if (pipeline_apply(p, items, &o, &id, NULL) && !c->operator_rollback)
		_exit(3); /* the scripted death did not happen */
	if (c->operator_rollback)
		pipeline_rollback(p, id, NULL);
	if (c->kill_after_apply)
		raise(SIGKILL);
	_exit(4);
}

/* The log file as one line of calls; *world: items applied and not
 * rolled back since; *first_rollback_ms: the parent's first rollback. */
static int read_calls(const char *path, char *out, size_t len, char *world,
		      size_t wlen)
{
	char line[512], entry[256], ids[64][32];
	size_t nids = 0, i;
	long long ms;
	FILE *fp;

	out[0] = world[0] = '\0';
	fp = fopen(path, "r");
	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp)) {
		char id[32] = "";
		bool failed;

		if (sscanf(line, "%lld %255s", &ms, entry) != 2)
			continue;
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
			 out[0] ? " " : "", entry);
		failed = strchr(entry, '!') != NULL;
		if (failed)
			continue;
		if (sscanf(entry, "apply:%31[^!(]", id) == 1 && nids < 64) {
			snprintf(ids[nids++], sizeof(ids[0]), "%s", id);
		} else if (sscanf(entry, "rollback:%31[^!(]", id) == 1) {
			for (i = 0; i < nids; i++)
				if (!strcmp(ids[i], id))
					ids[i][0] = '\0';
		}
	}
	fclose(fp);
	for (i = 0; i < nids; i++)
		if (ids[i][0])
			snprintf(world + strlen(world), wlen - strlen(world),
				 "%s%s", world[0] ? " " : "", ids[i]);
	return 0;
}

static int64_t first_parent_rollback(const char *path, int64_t after_ms)
{
	char line[512];
	long long ms;
	FILE *fp = fopen(path, "r");
	int64_t found = 0;

	if (!fp)
		return 0;
	while (!found && fgets(line, sizeof(line), fp))
		if (sscanf(line, "%lld", &ms) == 1 && ms >= after_ms &&
		    strstr(line, " rollback:"))
			found = ms;
	fclose(fp);
	return found;
}

static int run_crash(const struct crash *c)
{
	char logpath[300], got[CALLS_MAX], world[4096];
	struct store_changeset cs = { 0 };
	int64_t deadline_ms = 0, recovered_at, first;
	struct env e;
	json_t *rep = NULL;
	int status, fd, ret = -1;
	pid_t pid;

	memset(&e, 0, sizeof(e));
	snprintf(e.db, sizeof(e.db), "%s/crash_%s.db", tmpdir, c->name);
	snprintf(logpath, sizeof(logpath), "%s/crash_%s.calls", tmpdir,
		 c->name);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		  0600);
	if (!ASSERT_TRUE(fd >= 0, "call log"))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		crash_child(c, e.db, fd);
	if (!ASSERT_TRUE(pid > 0, "fork") ||
	    !ASSERT_EQ(waitpid(pid, &status, 0), pid, "waitpid") ||
	    !ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "the child was killed by SIGKILL where scripted")) {
		if (WIFEXITED(status))
			fprintf(stderr, "child exit code %d\n",
				WEXITSTATUS(status));
		close(fd);
		return -1;
	}

	/* The parent: a fresh process state on the file the child left. */
	e.clock_ms = c->clock_skew_ms ? wall_ms() + c->clock_skew_ms : 0;
	fake_init(&e.f, "fake", NULL, e.calls, NULL);
	if (!ASSERT_OK(store_open(e.db, &e.s), "reopen") ||
	    !ASSERT_OK(loop_new(&e.l), "loop"))
		goto out;
	e.f.store = e.s;
	e.f.fd = fd;
	if (!ASSERT_OK(env_pipeline(&e), "pipeline") ||
	    !ASSERT_OK(store_changeset_pending(e.s, &cs), "a set is pending") ||
	    !ASSERT_EQ(cs.state, c->at_death, "the state the child left"))
		goto out;
	deadline_ms = cs.confirm_deadline * 1000;
	recovered_at = wall_ms();
	if (!ASSERT_OK(pipeline_recover(e.p, &rep), "recover") ||
	    !str_eq(jstr(rep, "action"), c->recover_action, "recover action"))
		goto out;
	if (!strcmp(c->recover_action, "armed")) {
		/* Nothing before the deadline, then the rollback on time. */
		if (!str_eq(e.calls, "", "no rollback while armed"))
			goto out;
		spin(&e, deadline_ms - wall_ms() + 3000, true);
		first = first_parent_rollback(logpath, recovered_at);
		fprintf(stderr, "recovered %lld ms before the deadline, rolled back %lld ms after it\n",
			(long long)(deadline_ms - recovered_at),
			(long long)(first - deadline_ms));
		if (!ASSERT_TRUE(first >= deadline_ms,
				 "rolled back not before the deadline") ||
		    !ASSERT_TRUE(first <= deadline_ms + 500,
				 "and at most 500 ms after it"))
			goto out;
	}
	if (!ASSERT_OK(read_calls(logpath, got, sizeof(got), world,
				  sizeof(world)),
		       "read calls") ||
	    !str_eq(got, c->calls, "child's then parent's calls") ||
	    !str_eq(world, "", "nothing is left applied") ||
	    !state_is(&e, cs.id, c->final, "final state") ||
	    !nothing_pending(&e, "nothing pending") || !journal_ok(&e.f))
		goto out;
	ret = 0;
out:
	store_changeset_fini(&cs);
	json_decref(rep);
	env_close(&e);
	close(fd);
	return ret;
}

static int test_crash_mid_apply(void)
{
	static const struct crash cases[] = {
		{
			.name = "apply_after_effect",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'die':'apply'}},"
				 " {'op':'x.set','id':'c'}]",
			.timeout_s = 30,
			.at_death = STORE_CS_APPLYING,
			.recover_action = "rolled_back",
			.final = STORE_CS_FAILED,
			/* b's outcome is unknown: rolled back with no undo */
			.calls = "apply:a apply:b rollback:b(?) rollback:a(u)",
		},
		{
			.name = "apply_before_effect",
			.items = "[{'op':'x.set','id':'a','args':{'die':'apply-before'}},"
				 " {'op':'x.set','id':'b'}]",
			.at_death = STORE_CS_APPLYING,
			.recover_action = "rolled_back",
			.final = STORE_CS_FAILED,
			.calls = "rollback:a(?)",
		},
		{
			.name = "verify",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'die':'verify','undo_pad':1000}},"
				 " {'op':'x.set','id':'c'}]",
			.timeout_s = 30,
			.at_death = STORE_CS_APPLYING,
			.recover_action = "rolled_back",
			.final = STORE_CS_FAILED,
			.calls = "apply:a apply:b apply:c verify:a verify:b "
				 "rollback:c(u) rollback:b(u) rollback:a(u)",
		},
		{
			.name = "rollback_after_failure",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'die':'rollback'}},"
				 " {'op':'x.set','id':'c','args':{'fail':'apply'}}]",
			.at_death = STORE_CS_APPLYING,
			.recover_action = "rolled_back",
			.final = STORE_CS_FAILED,
			/* b's rollback was cut short: run again (idempotent) */
			.calls = "apply:a apply:b apply:c! rollback:b(u) "
				 "rollback:b(u) rollback:a(u)",
		},
		{
			/* Inside a batch every step counts as started and no
			 * result is on disk: all are rolled back without undo
			 * (c and d never ran), as the contract allows. */
			.name = "batch",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'die':'apply'}},"
				 " {'op':'x.set','id':'c'},{'op':'x.set','id':'d'}]",
			.batch = 4,
			.at_death = STORE_CS_APPLYING,
			.recover_action = "rolled_back",
			.final = STORE_CS_FAILED,
			.calls = "apply:a apply:b rollback:d(?) rollback:c(?) "
				 "rollback:b(?) rollback:a(?)",
		},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		fprintf(stderr, "crash case %s\n", cases[i].name);
		if (run_crash(&cases[i]))
			return -1;
	}
	return 0;
}

static int test_crash_in_confirm_window(void)
{
	static const struct crash cases[] = {
		{
			/* Restart inside the window: rolled back at the
			 * deadline. */
			.name = "window",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'undo_pad':600}}]",
			.timeout_s = 3,
			.kill_after_apply = true,
			.at_death = STORE_CS_APPLIED,
			.recover_action = "armed",
			.final = STORE_CS_ROLLED_BACK,
			.calls = "apply:a apply:b verify:a verify:b "
				 "rollback:b(u) rollback:a(u)",
		},
		{
			/* Restart after the deadline: rollback at once. */
			.name = "window_passed",
			.items = "[{'op':'x.set','id':'a'}]",
			.timeout_s = 3,
			.kill_after_apply = true,
			.at_death = STORE_CS_APPLIED,
			.clock_skew_ms = 3600 * 1000,
			.recover_action = "rolled_back",
			.final = STORE_CS_ROLLED_BACK,
			.calls = "apply:a verify:a rollback:a(u)",
		},
		{
			/* An operator's rollback cut short: finished at once,
			 * though the deadline is far. */
			.name = "operator_rollback",
			.items = "[{'op':'x.set','id':'a'},"
				 " {'op':'x.set','id':'b','args':{'die':'rollback'}}]",
			.timeout_s = 600,
			.operator_rollback = true,
			.at_death = STORE_CS_APPLIED,
			.recover_action = "rolled_back",
			.final = STORE_CS_ROLLED_BACK,
			.calls = "apply:a apply:b verify:a verify:b "
				 "rollback:b(u) rollback:b(u) rollback:a(u)",
		},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		fprintf(stderr, "crash case %s\n", cases[i].name);
		if (run_crash(&cases[i]))
			return -1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static const struct test_case cases[] = {
	TEST_CASE(test_cycle_rejected_with_path),
	TEST_CASE(test_unknown_dependency),
	TEST_CASE(test_duplicate_ids),
	TEST_CASE(test_item_schema),
	TEST_CASE(test_target_validation),
	TEST_CASE(test_implicit_dependencies),
	TEST_CASE(test_topological_order),
	TEST_CASE(test_apply_failure_rolls_back),
	TEST_CASE(test_verify_failure_rolls_back),
	TEST_CASE(test_rollback_failure_partial),
	TEST_CASE(test_high_risk_needs_confirm),
	TEST_CASE(test_multi_target_order),
	TEST_CASE(test_progress_events),
	TEST_CASE(test_status_report),
	TEST_CASE(test_journal_batch),
	TEST_CASE(test_confirm_in_time_commits),
	TEST_CASE(test_confirm_timeout_rolls_back),
	TEST_CASE(test_confirm_after_deadline_refused),
	TEST_CASE(test_busy_while_pending),
	TEST_CASE(test_restart_recovers_pending),
	TEST_CASE(test_crash_mid_apply),
	TEST_CASE(test_crash_in_confirm_window),
};

int main(void)
{
	int ret;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = harness_run(cases, ARRAY_SIZE(cases));
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
