// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pipeline.c - the change pipeline engine.  See pipeline.h.
 *
 * A run is one change set on its way through apply: the normalized items
 * and their graph (the view), and the plan, a list of (item, target)
 * steps in apply order, each with what happened to it.  A live run fills
 * the step records as it goes; a recovered run rebuilds them from the
 * journal.  Everything after that (rollback, attention lists, status) reads
 * only the step records, so the live path and recovery share one rollback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "loop.h"
#include "pipeline.h"
#include "store.h"

_Static_assert(PIPELINE_STARTED == STORE_LOG_STARTED,
	       "progress and journal share the STARTED result");
_Static_assert(PIPELINE_ERR_MAX == VIFD_ERROR_MAX,
	       "a target's message fits a journal detail");
_Static_assert((int)PIPELINE_RISK_HIGH == (int)STORE_RISK_HIGH &&
		       (int)PIPELINE_RISK_LOW == (int)STORE_RISK_LOW,
	       "risk levels map one to one");

/* The journal's detail holds 255 bytes; undo JSON is ASCII, so no UTF-8
 * sequence can be cut by the store's truncation either. */
#define UNDO_CHUNK 240
#define CYCLE_TEXT_MAX 1024

enum pl_status {
	PL_NONE = 0,
	PL_STARTED,
	PL_OK,
	PL_FAILED,
};

static const char *const status_txt[] = {
	[PL_NONE] = "none",
	[PL_STARTED] = "started",
	[PL_OK] = "ok",
	[PL_FAILED] = "failed",
};

static const char *const state_txt[] = {
	[STORE_CS_PENDING] = "PENDING",
	[STORE_CS_APPLYING] = "APPLYING",
	[STORE_CS_APPLIED] = "APPLIED",
	[STORE_CS_CONFIRMED] = "CONFIRMED",
	[STORE_CS_ROLLED_BACK] = "ROLLED_BACK",
	[STORE_CS_PARTIAL_FAILURE] = "PARTIAL_FAILURE",
	[STORE_CS_FAILED] = "FAILED",
};

static const char *const risk_txt[] = {
	[PIPELINE_RISK_LOW] = "LOW",
	[PIPELINE_RISK_MEDIUM] = "MEDIUM",
	[PIPELINE_RISK_HIGH] = "HIGH",
};

struct pl_target {
	const struct pipeline_target_ops *ops;
	void *ctx;
};

struct pipeline_view {
	json_t *items; /* normalized array, owned */
	json_t *ids;   /* id -> index */
	size_t n;
	size_t *order;     /* item indexes in apply order */
	size_t *rank;      /* rank[order[k]] == k */
	/* item i's deps are deps[dep_start[i]] .. deps[dep_start[i + 1] - 1] */
	size_t *dep_start;
	size_t *deps;
	size_t *stack;     /* scratch for walks over deps, n entries */
	unsigned char *seen; /* scratch, n entries */
};

struct pl_step {
	size_t item;
	int target; /* index into pipeline.targets; -1: not registered */
	char tname[PIPELINE_TARGET_NAME_MAX];
	enum pl_status apply, verify, rb;
	json_t *undo; /* NULL: apply's outcome unknown (or never ran) */
	int result;   /* the last apply/verify outcome, 0 or -errno */
	char *undo_buf; /* replay: undo chunks read so far */
	size_t undo_len;
	char error[PIPELINE_ERR_MAX]; /* the step's latest failure */
};

enum pl_phase {
	PL_PHASE_APPLY = 0,
	PL_PHASE_VERIFY,
	PL_PHASE_DONE,
};

struct pl_run {
	int64_t id;
	struct pipeline_view v;
	struct pl_step *steps;
	size_t nsteps, capsteps;
	/* Where the run is; an async target would resume from here. */
	enum pl_phase phase;
	size_t cursor;
	enum store_cs_state state;
	enum pipeline_risk risk;
	int64_t deadline_ms; /* confirm deadline, 0 = none */
	bool rollback_started; /* a set-wide rollback began: no confirm */
	size_t failed;          /* the step whose apply/verify failed */
	const char *failed_kind; /* "apply", "verify"; NULL = none */
	int failed_err;
	char error[PIPELINE_ERR_MAX];
};

struct pipeline {
	struct loop *loop;
	struct store *store;
	pipeline_now_fn now;
	void *now_ctx;
	pipeline_progress_fn progress;
	void *progress_ctx;
	struct pl_target targets[PIPELINE_TARGETS_MAX];
	int ntargets;
	struct pl_run *pending; /* the set awaiting confirmation */
	uint64_t timer;         /* its deadline timer, 0 = none */
	bool busy;              /* inside a mutating call: no re-entry */
	/*
	 * pipeline_apply_async(): the set being applied one slice per loop
	 * turn (busy stays true throughout), what its answer needs, and
	 * the timer of its next slice.
	 */
	struct pl_run *running;
	json_t *running_rep;
	unsigned int running_timeout_s;
	size_t running_batch;
	uint64_t slice_timer;
	pipeline_done_fn done;
	void *done_ctx;
};

static void set_err(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int64_t now_ms(const struct pipeline *p)
{
	struct timespec ts;

	if (p->now)
		return p->now(p->now_ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Targets may return a positive number by mistake; that is still failure. */
static int norm_err(int err)
{
	return err > 0 ? -EIO : err;
}

static const char *msg_or_errno(const char *msg, int err)
{
	return msg && msg[0] ? msg : strerror(-err);
}

/* ---- item accessors ---- */

static const char *str_field(const json_t *item, const char *key)
{
	return json_string_value(json_object_get(item, key));
}

const char *pipeline_item_op(const json_t *item)
{
	return str_field(item, "op");
}

const char *pipeline_item_id(const json_t *item)
{
	return str_field(item, "id");
}

const json_t *pipeline_item_args(const json_t *item)
{
	return json_object_get(item, "args");
}

/* ---- validation of the set's shape ---- */

static bool str_ok(const char *s, size_t max, const char *punct, bool upper)
{
	size_t n = s ? strlen(s) : 0;
	size_t i;

	if (!n || n >= max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (upper && c >= 'A' && c <= 'Z')
			continue;
		if (!strchr(punct, c))
			return false;
	}
	return true;
}

#define SET_WIDE SIZE_MAX /* an error about the set, not one item */

/*
 * One entry of a report's "errors": {"index", "item", "target", "errno",
 * "error"}; index and target only when known.  errno lets the control
 * socket pick its code (-ENOENT NOT_FOUND, -EEXIST CONFLICT, ...).
 */
static int errors_add(json_t *errors, size_t index, const char *id,
		      const char *target, int err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int errors_add(json_t *errors, size_t index, const char *id,
		      const char *target, int err, const char *fmt, ...)
{
	char msg[CYCLE_TEXT_MAX + 64];
	json_t *e;
	va_list ap;
	int bad = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:s?, s:i, s:s}", "item", id, "errno", err, "error",
		      msg);
	if (!e)
		return -ENOMEM;
	if (index != SET_WIDE)
		bad |= json_object_set_new(e, "index", json_integer(index));
	if (target)
		bad |= json_object_set_new(e, "target", json_string(target));
	if (bad) {
		json_decref(e);
		return -ENOMEM;
	}
	return json_array_append_new(errors, e) ? -ENOMEM : 0;
}

/*
 * Check one item's shape and fill in the optional keys.  1 when an error
 * was recorded, 0 when fine, -ENOMEM.
 */
static int item_normalize(json_t *item, size_t i, json_t *errors)
{
	const char *key, *op, *id;
	json_t *val, *after;
	size_t k;

	if (!json_is_object(item))
		return errors_add(errors, i, NULL, NULL, -EINVAL,
				  "items[%zu]: not an object", i) ?: 1;
	id = str_field(item, "id");
	if (!str_ok(id, PIPELINE_ID_MAX, "._-", true))
		return errors_add(errors, i, NULL, NULL, -EINVAL,
				  "items[%zu]: \"id\" must be 1-%d characters of A-Z a-z 0-9 . _ -",
				  i, PIPELINE_ID_MAX - 1) ?: 1;
	op = str_field(item, "op");
	if (!str_ok(op, PIPELINE_OP_MAX, "._", false))
		return errors_add(errors, i, id, NULL, -EINVAL,
				  "item '%s': \"op\" must be 1-%d characters of a-z 0-9 . _",
				  id, PIPELINE_OP_MAX - 1) ?: 1;
	json_object_foreach(item, key, val) {
		if (strcmp(key, "id") && strcmp(key, "op") &&
		    strcmp(key, "args") && strcmp(key, "after"))
			return errors_add(errors, i, id, NULL, -EINVAL,
					  "item '%s': unknown key \"%s\"", id,
					  key) ?: 1;
	}
	val = json_object_get(item, "args");
	if (!val) {
		if (json_object_set_new(item, "args", json_object()))
			return -ENOMEM;
	} else if (!json_is_object(val)) {
		return errors_add(errors, i, id, NULL, -EINVAL,
				  "item '%s': \"args\" must be an object",
				  id) ?: 1;
	}
	after = json_object_get(item, "after");
	if (!after) {
		if (json_object_set_new(item, "after", json_array()))
			return -ENOMEM;
		return 0;
	}
	if (!json_is_array(after))
		return errors_add(errors, i, id, NULL, -EINVAL,
				  "item '%s': \"after\" must be an array of ids",
				  id) ?: 1;
	json_array_foreach(after, k, val) {
		if (!json_is_string(val))
			return errors_add(errors, i, id, NULL, -EINVAL,
					  "item '%s': after[%zu] is not a string",
					  id, k) ?: 1;
	}
	return 0;
}

static void view_fini(struct pipeline_view *v)
{
	json_decref(v->items);
	json_decref(v->ids);
	free(v->order);
	free(v->rank);
	free(v->dep_start);
	free(v->deps);
	free(v->stack);
	free(v->seen);
	memset(v, 0, sizeof(*v));
}

static size_t id_index(const struct pipeline_view *v, const char *id)
{
	json_t *x = json_object_get(v->ids, id);

	return x ? (size_t)json_integer_value(x) : v->n;
}

static const char *view_id(const struct pipeline_view *v, size_t i)
{
	return pipeline_item_id(json_array_get(v->items, i));
}

/* Append " -> id" pieces; a path too long for the buffer ends in "...". */
static void path_append(char *buf, size_t len, size_t *used, const char *id)
{
	int w;

	if (*used >= len)
		return;
	w = snprintf(buf + *used, len - *used, "%s%s", *used ? " -> " : "",
		     id);
	if (w < 0 || (size_t)w >= len - *used) {
		memcpy(buf + len - 4, "...", 4);
		*used = len;
		return;
	}
	*used += w;
}

/*
 * Items left unordered all wait on another unordered item, so walking the
 * first unordered dependency from any of them must come back to an item
 * already on the walk: that repeat closes a cycle.  Every cycle is
 * reported once; items that only wait on a reported cycle are not.
 */
static int report_cycles(struct pipeline_view *v, const size_t *indeg,
			 json_t *errors)
{
	unsigned char *st = v->seen; /* 0 new, 1 on this walk, 2 done */
	size_t *pos = v->rank;       /* free during this: order failed */
	size_t *path = v->stack;
	char text[CYCLE_TEXT_MAX];
	size_t start, len, cur, k, used;
	int err;

	memset(st, 0, v->n);
	for (start = 0; start < v->n; start++) {
		if (!indeg[start] || st[start])
			continue;
		len = 0;
		cur = start;
		while (st[cur] == 0) {
			st[cur] = 1;
			pos[cur] = len;
			path[len++] = cur;
			for (k = v->dep_start[cur]; k < v->dep_start[cur + 1];
			     k++)
				if (indeg[v->deps[k]])
					break;
			cur = v->deps[k];
		}
		if (st[cur] == 1) {
			used = 0;
			text[0] = '\0';
			for (k = pos[cur]; k < len; k++)
				path_append(text, sizeof(text), &used,
					    view_id(v, path[k]));
			path_append(text, sizeof(text), &used, view_id(v, cur));
			err = errors_add(errors, SET_WIDE, NULL, NULL, -ELOOP,
					 "dependency cycle: %s", text);
			if (err)
				return err;
		}
		for (k = 0; k < len; k++)
			st[path[k]] = 2;
	}
	return 0;
}

/* A binary min-heap of item indexes: the ready item first in the request
 * is applied first, which makes the order stable. */
static void heap_push(size_t *h, size_t *n, size_t x)
{
	size_t i = (*n)++;

	while (i && h[(i - 1) / 2] > x) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static size_t heap_pop(size_t *h, size_t *n)
{
	size_t top = h[0], x = h[--(*n)], i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
	return top;
}

/* Kahn's algorithm over the deps; -EINVAL (errors filled) on a cycle. */
static int view_order(struct pipeline_view *v, json_t *errors)
{
	size_t *indeg, *succ_start, *succ, *heap;
	size_t i, k, nheap = 0, done = 0, ndeps = v->dep_start[v->n];
	int err = -ENOMEM;

	indeg = calloc(v->n, sizeof(*indeg));
	succ_start = calloc(v->n + 1, sizeof(*succ_start));
	succ = calloc(ndeps ?: 1, sizeof(*succ));
	heap = calloc(v->n, sizeof(*heap));
	if (!indeg || !succ_start || !succ || !heap)
		goto out;

	/* Successor lists, the reverse of deps, as a CSR built in two
	 * passes: count, then fill (heap, still zeroed, is the fill cursor). */
	for (k = 0; k < ndeps; k++)
		succ_start[v->deps[k] + 1]++;
	for (i = 0; i < v->n; i++)
		succ_start[i + 1] += succ_start[i];
	for (i = 0; i < v->n; i++) {
		for (k = v->dep_start[i]; k < v->dep_start[i + 1]; k++)
			succ[succ_start[v->deps[k]] + heap[v->deps[k]]++] = i;
		indeg[i] = v->dep_start[i + 1] - v->dep_start[i];
	}
	nheap = 0;
	for (i = 0; i < v->n; i++)
		if (!indeg[i])
			heap_push(heap, &nheap, i);
	while (nheap) {
		i = heap_pop(heap, &nheap);
		v->rank[i] = done;
		v->order[done++] = i;
		for (k = succ_start[i]; k < succ_start[i + 1]; k++)
			if (!--indeg[succ[k]])
				heap_push(heap, &nheap, succ[k]);
	}
	err = 0;
	if (done < v->n)
		err = report_cycles(v, indeg, errors) ?: -EINVAL;
out:
	free(indeg);
	free(succ_start);
	free(succ);
	free(heap);
	return err;
}

static bool after_has(const json_t *after, const char *id)
{
	const json_t *x;
	size_t k;

	json_array_foreach(after, k, x)
		if (!strcmp(json_string_value(x), id))
			return true;
	return false;
}

/* Merge a target's extra dependencies of item i; 1 when one was bad. */
static int merge_deps(struct pipeline_view *v, size_t i, const char *tname,
		      const json_t *extra, json_t *errors)
{
	json_t *item = json_array_get(v->items, i);
	json_t *after = json_object_get(item, "after"), *x;
	const char *id = pipeline_item_id(item), *dep;
	int bad = 0;
	size_t k;

	json_array_foreach(extra, k, x) {
		dep = json_string_value(x);
		if (!dep || id_index(v, dep) >= v->n) {
			if (errors_add(errors, i, id, tname, -ENOENT,
				       "item '%s': depends on '%s', which is not in the set",
				       id, dep ?: "(not a string)"))
				return -ENOMEM;
			bad = 1;
			continue;
		}
		/* Itself: nothing to order. */
		if (strcmp(dep, id) && !after_has(after, dep) &&
		    json_array_append(after, x))
			return -ENOMEM;
	}
	return bad;
}

/*
 * Ask the targets for dependencies the client did not write (a chain
 * through a VIF the same set creates) and merge them into the items'
 * after, so the stored set carries its whole graph and a recovery orders
 * it the same way.  1 when an error was recorded, 0, -ENOMEM.
 */
static int implicit_deps(struct pipeline *p, struct pipeline_view *v,
			 json_t *errors)
{
	char msg[PIPELINE_ERR_MAX];
	json_t *item, *extra;
	const char *id;
	int t, r, err, bad = 0;
	size_t i;

	json_array_foreach(v->items, i, item) {
		id = pipeline_item_id(item);
		for (t = 0; t < p->ntargets; t++) {
			const struct pl_target *tg = &p->targets[t];

			if (!tg->ops->depends ||
			    !tg->ops->handles(tg->ctx, pipeline_item_op(item)))
				continue;
			extra = json_array();
			if (!extra)
				return -ENOMEM;
			msg[0] = '\0';
			r = norm_err(tg->ops->depends(tg->ctx, item, v, extra,
						      msg, sizeof(msg)));
			if (r)
				err = errors_add(errors, i, id, tg->ops->name,
						 r, "item '%s': %s", id,
						 msg_or_errno(msg, r));
			else
				err = merge_deps(v, i, tg->ops->name, extra,
						 errors);
			json_decref(extra);
			if (err < 0)
				return err;
			bad |= r || err;
		}
	}
	return bad;
}

/*
 * Normalize a copy of @items into @v and order it; @p (NULL for a stored
 * set, whose after is already complete) supplies implicit dependencies.
 * 0, -EINVAL with the reasons appended to @errors, or -ENOMEM.
 */
static int view_build(struct pipeline_view *v, const json_t *items,
		      json_t *errors, struct pipeline *p)
{
	bool bad = false;
	size_t i, k, nd;
	json_t *item, *dep;
	const char *id;
	int r;

	memset(v, 0, sizeof(*v));
	if (!json_is_array(items))
		return errors_add(errors, SET_WIDE, NULL, NULL, -EINVAL,
				  "a change set is a JSON array of items") ?:
			       -EINVAL;
	v->n = json_array_size(items);
	if (!v->n)
		return errors_add(errors, SET_WIDE, NULL, NULL, -EINVAL,
				  "the change set is empty") ?: -EINVAL;
	if (v->n > PIPELINE_ITEMS_MAX)
		return errors_add(errors, SET_WIDE, NULL, NULL, -E2BIG,
				  "%zu items; a change set has at most %d",
				  v->n, PIPELINE_ITEMS_MAX) ?: -EINVAL;
	v->items = json_deep_copy(items);
	v->ids = json_object();
	if (!v->items || !v->ids)
		return -ENOMEM;

	json_array_foreach(v->items, i, item) {
		r = item_normalize(item, i, errors);
		if (r < 0)
			return r;
		if (r) {
			bad = true;
			continue;
		}
		id = pipeline_item_id(item);
		k = id_index(v, id);
		if (k < v->n) {
			r = errors_add(errors, i, id, NULL, -EEXIST,
				       "duplicate id '%s' (items[%zu] and items[%zu])",
				       id, k, i);
			if (r)
				return r;
			bad = true;
			continue;
		}
		if (json_object_set_new(v->ids, id, json_integer(i)))
			return -ENOMEM;
	}
	if (bad)
		return -EINVAL;
	r = p ? implicit_deps(p, v, errors) : 0;
	if (r)
		return r < 0 ? r : -EINVAL;

	nd = 0;
	json_array_foreach(v->items, i, item) {
		id = pipeline_item_id(item);
		json_array_foreach(json_object_get(item, "after"), k, dep) {
			if (id_index(v, json_string_value(dep)) < v->n) {
				nd++;
				continue;
			}
			r = errors_add(errors, i, id, NULL, -ENOENT,
				       "item '%s': after: no item '%s' in the set",
				       id, json_string_value(dep));
			if (r)
				return r;
			bad = true;
		}
	}
	if (bad)
		return -EINVAL;

	v->order = calloc(v->n, sizeof(*v->order));
	v->rank = calloc(v->n, sizeof(*v->rank));
	v->dep_start = calloc(v->n + 1, sizeof(*v->dep_start));
	v->deps = calloc(nd ?: 1, sizeof(*v->deps));
	v->stack = calloc(v->n, sizeof(*v->stack));
	v->seen = calloc(v->n, 1);
	if (!v->order || !v->rank || !v->dep_start || !v->deps || !v->stack ||
	    !v->seen)
		return -ENOMEM;
	nd = 0;
	json_array_foreach(v->items, i, item) {
		v->dep_start[i] = nd;
		json_array_foreach(json_object_get(item, "after"), k, dep)
			v->deps[nd++] = id_index(v, json_string_value(dep));
	}
	v->dep_start[v->n] = nd;
	return view_order(v, errors);
}

size_t pipeline_view_count(const struct pipeline_view *v)
{
	return v ? v->n : 0;
}

const json_t *pipeline_view_item(const struct pipeline_view *v, size_t i)
{
	return v && i < v->n ? json_array_get(v->items, i) : NULL;
}

int pipeline_view_find(const struct pipeline_view *v, const char *id,
		       size_t *i)
{
	size_t k;

	if (!v || !id)
		return -EINVAL;
	k = id_index(v, id);
	if (k >= v->n)
		return -ENOENT;
	if (i)
		*i = k;
	return 0;
}

size_t pipeline_view_index(const struct pipeline_view *v, const json_t *item)
{
	const char *id = pipeline_item_id(item);
	size_t k;

	if (!v || !id)
		return v ? v->n : 0;
	k = id_index(v, id);
	/* Same id is not enough: it must be this very object. */
	if (k < v->n && json_array_get(v->items, k) != item)
		return v->n;
	return k;
}

size_t pipeline_view_rank(const struct pipeline_view *v, size_t i)
{
	/* No order yet while the targets' depends() run. */
	return v && v->order && i < v->n ? v->rank[i] : pipeline_view_count(v);
}

/* Walk deps from @from, marking each item in @mark; calls @fn on each newly
 * reached item and stops when it returns true. */
static bool walk_deps(const struct pipeline_view *v, size_t from,
		      unsigned char *mark,
		      bool (*fn)(size_t item, void *ctx), void *ctx)
{
	size_t *stack = v->stack, n = 0, cur, k, d;

	stack[n++] = from;
	while (n) {
		cur = stack[--n];
		for (k = v->dep_start[cur]; k < v->dep_start[cur + 1]; k++) {
			d = v->deps[k];
			if (mark[d])
				continue;
			mark[d] = 1;
			if (fn(d, ctx))
				return true;
			stack[n++] = d; /* each item pushed once: fits n */
		}
	}
	return false;
}

static bool is_target_item(size_t item, void *ctx)
{
	return item == *(size_t *)ctx;
}

bool pipeline_view_after(const struct pipeline_view *v, size_t i, size_t j)
{
	if (!v || !v->order || i >= v->n || j >= v->n || i == j)
		return false;
	/* Apply order respects every dep: i after j implies a later rank. */
	if (v->rank[i] < v->rank[j])
		return false;
	memset(v->seen, 0, v->n);
	return walk_deps(v, i, v->seen, is_target_item, &j);
}

/* ---- targets ---- */

static int target_find(const struct pipeline *p, const char *name)
{
	int t;

	for (t = 0; t < p->ntargets; t++)
		if (!strcmp(p->targets[t].ops->name, name))
			return t;
	return -1;
}

int pipeline_target_add(struct pipeline *p,
			const struct pipeline_target_ops *ops, void *ctx)
{
	if (!p || !ops || !ops->handles || !ops->validate || !ops->preview ||
	    !ops->apply || !ops->verify || !ops->rollback)
		return -EINVAL;
	if (!str_ok(ops->name, PIPELINE_TARGET_NAME_MAX, "_-", false))
		return -EINVAL;
	if (target_find(p, ops->name) >= 0)
		return -EEXIST;
	if (p->ntargets == PIPELINE_TARGETS_MAX)
		return -ENOSPC;
	p->targets[p->ntargets++] = (struct pl_target){ ops, ctx };
	return 0;
}

/* ---- validate and preview ---- */

static json_t *order_json(const struct pipeline_view *v)
{
	json_t *a = json_array();
	size_t k;

	if (!a)
		return NULL;
	for (k = 0; k < v->n; k++) {
		const char *id = view_id(v, v->order[k]);

		if (json_array_append_new(a, json_string(id))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/*
 * Shape, graph, then every target's opinion of every item it handles.
 * Fills rep's "valid", "errors" and "order".
 */
static int plan_validate(struct pipeline *p, const json_t *items,
			 struct pipeline_view *v, json_t *rep)
{
	char msg[PIPELINE_ERR_MAX];
	json_t *errors = json_array();
	const char *op, *id;
	const json_t *item;
	bool handled;
	size_t i;
	int t, r, err;

	if (!errors)
		return -ENOMEM;
	if (json_object_set_new(rep, "errors", errors))
		return -ENOMEM;
	err = view_build(v, items, errors, p);
	if (err == -ENOMEM)
		return err;
	for (i = 0; !err && i < v->n; i++) {
		item = json_array_get(v->items, i);
		op = pipeline_item_op(item);
		id = pipeline_item_id(item);
		handled = false;
		for (t = 0; t < p->ntargets; t++) {
			const struct pl_target *tg = &p->targets[t];

			if (!tg->ops->handles(tg->ctx, op))
				continue;
			handled = true;
			msg[0] = '\0';
			r = norm_err(tg->ops->validate(tg->ctx, item, v, msg,
						       sizeof(msg)));
			if (!r)
				continue;
			if (errors_add(errors, i, id, tg->ops->name, r,
				       "item '%s': %s", id,
				       msg_or_errno(msg, r)))
				return -ENOMEM;
		}
		if (!handled && errors_add(errors, i, id, NULL, -EOPNOTSUPP,
					   "item '%s': no target handles op '%s'",
					   id, op))
			return -ENOMEM;
	}
	if (!err && json_array_size(errors))
		err = -EINVAL;
	if (json_object_set_new(rep, "valid", json_boolean(!err)))
		return -ENOMEM;
	if (!err && json_object_set_new(rep, "order", order_json(v)))
		return -ENOMEM;
	return err;
}

/* Adds "risk" and "items" to rep; *risk is the highest. */
static int plan_preview(struct pipeline *p, const struct pipeline_view *v,
			json_t *rep, enum pipeline_risk *risk)
{
	json_t *errors = json_object_get(rep, "errors");
	json_t *list = json_array(), *entry, *changes, *change, *diff;
	enum pipeline_risk top = PIPELINE_RISK_LOW, ir, tr;
	const json_t *item;
	size_t k, i;
	int t, r, err = 0;

	if (!list || json_object_set_new(rep, "items", list))
		return -ENOMEM;
	for (k = 0; k < v->n; k++) {
		i = v->order[k];
		item = json_array_get(v->items, i);
		ir = PIPELINE_RISK_LOW;
		changes = json_array();
		entry = json_pack("{s:s, s:s, s:o}", "id",
				  pipeline_item_id(item), "op",
				  pipeline_item_op(item), "changes", changes);
		if (!entry || json_array_append_new(list, entry))
			return -ENOMEM;
		for (t = 0; t < p->ntargets; t++) {
			const struct pl_target *tg = &p->targets[t];

			if (!tg->ops->handles(tg->ctx, pipeline_item_op(item)))
				continue;
			diff = NULL;
			tr = PIPELINE_RISK_LOW;
			r = norm_err(tg->ops->preview(tg->ctx, item, &diff,
						      &tr));
			if (r) {
				json_decref(diff);
				if (errors_add(errors, i,
					       pipeline_item_id(item),
					       tg->ops->name, r,
					       "item '%s': preview failed: %s (%d)",
					       pipeline_item_id(item),
					       strerror(-r), r))
					return -ENOMEM;
				err = err ?: r;
				continue;
			}
			if (tr > PIPELINE_RISK_HIGH)
				tr = PIPELINE_RISK_HIGH;
			change = json_pack("{s:s, s:s, s:O?, s:O?}", "target",
					   tg->ops->name, "risk", risk_txt[tr],
					   "before",
					   json_object_get(diff, "before"),
					   "after",
					   json_object_get(diff, "after"));
			json_decref(diff);
			if (!change || json_array_append_new(changes, change))
				return -ENOMEM;
			if (tr > ir)
				ir = tr;
		}
		if (json_object_set_new(entry, "risk", json_string(risk_txt[ir])))
			return -ENOMEM;
		if (ir > top)
			top = ir;
	}
	*risk = top;
	if (json_object_set_new(rep, "risk", json_string(risk_txt[top])))
		return -ENOMEM;
	return err;
}

int pipeline_validate(struct pipeline *p, const json_t *items,
		      json_t **report)
{
	struct pipeline_view v;
	json_t *rep;
	int err;

	if (report)
		*report = NULL;
	if (!p)
		return -EINVAL;
	rep = json_object();
	if (!rep)
		return -ENOMEM;
	err = plan_validate(p, items, &v, rep);
	view_fini(&v);
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return err;
}

int pipeline_preview(struct pipeline *p, const json_t *items,
		     json_t **report)
{
	enum pipeline_risk risk;
	struct pipeline_view v;
	json_t *rep;
	int err;

	if (report)
		*report = NULL;
	if (!p)
		return -EINVAL;
	rep = json_object();
	if (!rep)
		return -ENOMEM;
	err = plan_validate(p, items, &v, rep);
	if (!err)
		err = plan_preview(p, &v, rep, &risk);
	view_fini(&v);
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return err;
}

/* ---- runs ---- */

static void run_free(struct pl_run *r)
{
	size_t k;

	if (!r)
		return;
	for (k = 0; k < r->nsteps; k++) {
		json_decref(r->steps[k].undo);
		free(r->steps[k].undo_buf);
	}
	free(r->steps);
	view_fini(&r->v);
	free(r);
}

static struct pl_step *run_add_step(struct pl_run *r, size_t item,
				    int target, const char *tname)
{
	struct pl_step *s;

	if (r->nsteps == r->capsteps) {
		size_t cap = r->capsteps ? r->capsteps * 2 : 16;

		s = realloc(r->steps, cap * sizeof(*s));
		if (!s)
			return NULL;
		r->steps = s;
		r->capsteps = cap;
	}
	s = &r->steps[r->nsteps++];
	memset(s, 0, sizeof(*s));
	s->item = item;
	s->target = target;
	snprintf(s->tname, sizeof(s->tname), "%s", tname);
	return s;
}

/* Every (item, target) pair in apply order. */
static int run_plan(struct pipeline *p, struct pl_run *r)
{
	const json_t *item;
	size_t k;
	int t;

	for (k = 0; k < r->v.n; k++) {
		item = json_array_get(r->v.items, r->v.order[k]);
		for (t = 0; t < p->ntargets; t++) {
			const struct pl_target *tg = &p->targets[t];

			if (!tg->ops->handles(tg->ctx, pipeline_item_op(item)))
				continue;
			if (!run_add_step(r, r->v.order[k], t, tg->ops->name))
				return -ENOMEM;
		}
	}
	return 0;
}

static const json_t *step_item(const struct pl_run *r,
			       const struct pl_step *s)
{
	return json_array_get(r->v.items, s->item);
}

static const char *step_id(const struct pl_run *r, const struct pl_step *s)
{
	return pipeline_item_id(step_item(r, s));
}

static void emit(struct pipeline *p, const struct pl_run *r,
		 const struct pl_step *s, const char *step, int result,
		 const char *error)
{
	struct pipeline_progress ev = {
		.changeset = r->id,
		.item = s ? step_id(r, s) : NULL,
		.op = s ? pipeline_item_op(step_item(r, s)) : NULL,
		.target = s ? s->tname : NULL,
		.step = step,
		.result = result,
		.error = error && error[0] ? error : NULL,
	};

	if (p->progress)
		p->progress(p->progress_ctx, &ev);
}

static void emit_state(struct pipeline *p, const struct pl_run *r)
{
	struct pipeline_progress ev = {
		.changeset = r->id,
		.step = "state",
		.state = state_txt[r->state],
		.error = r->error[0] ? r->error : NULL,
	};

	if (p->progress)
		p->progress(p->progress_ctx, &ev);
}

/* One journal entry: "<step>:<target>" for an item's step, else "<step>". */
static int jlog(struct pipeline *p, const struct pl_run *r, __u32 item,
		const char *step, const char *tname, int result,
		const char *detail)
{
	char name[STORE_STEP_MAX];

	if (tname)
		snprintf(name, sizeof(name), "%s:%s", step, tname);
	else
		snprintf(name, sizeof(name), "%s", step);
	return store_changeset_log_append(p->store, r->id, item, name, result,
					  detail ?: "", now_ms(p) / 1000, NULL);
}

/* The undo in UNDO_CHUNK pieces; call inside a transaction. */
static int jlog_undo(struct pipeline *p, const struct pl_run *r,
		     const struct pl_step *s)
{
	char piece[UNDO_CHUNK + 1];
	size_t len, off, n;
	char *text;
	int err = 0;

	text = json_dumps(s->undo, JSON_COMPACT | JSON_ENSURE_ASCII |
					   JSON_ENCODE_ANY);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len > PIPELINE_UNDO_MAX)
		err = -E2BIG;
	for (off = 0; !err && off < len; off += n) {
		n = len - off < UNDO_CHUNK ? len - off : UNDO_CHUNK;
		memcpy(piece, text + off, n);
		piece[n] = '\0';
		err = jlog(p, r, (__u32)s->item, "undo", s->tname, 0, piece);
	}
	free(text);
	return err;
}

/*
 * The journal of a batch of steps [from, to) of one phase ("apply" or
 * "verify").  All STARTED entries commit together before the first step of
 * the batch runs; all results (with the applies' undo) commit together
 * after the last.  A batch of one is the precise case: a crash loses no
 * undo.  A bigger batch trades that for fewer fsyncs: a crash inside it
 * rolls back its unfinished steps with undo NULL, as the contract allows.
 */
static int jlog_started(struct pipeline *p, const struct pl_run *r,
			const char *kind, size_t from, size_t to)
{
	size_t k;
	int err;

	err = store_begin(p->store);
	for (k = from; !err && k < to; k++)
		err = jlog(p, r, (__u32)r->steps[k].item, kind,
			   r->steps[k].tname, STORE_LOG_STARTED, NULL);
	if (!err)
		err = store_commit(p->store);
	if (err)
		store_rollback(p->store);
	return err;
}

/* Steps of the batch that never ran (an earlier one failed) are closed
 * as cancelled, so the journal never shows them as maybe applied. */
static int jlog_results(struct pipeline *p, const struct pl_run *r,
			const char *kind, size_t from, size_t to)
{
	bool apply = !strcmp(kind, "apply");
	const struct pl_step *s;
	enum pl_status st;
	size_t k;
	int err;

	err = store_begin(p->store);
	for (k = from; !err && k < to; k++) {
		s = &r->steps[k];
		st = apply ? s->apply : s->verify;
		if (st == PL_NONE) {
			err = jlog(p, r, (__u32)s->item, kind, s->tname,
				   -ECANCELED, "not run: an earlier step failed");
			continue;
		}
		if (apply && s->undo)
			err = jlog_undo(p, r, s);
		if (!err)
			err = jlog(p, r, (__u32)s->item, kind, s->tname,
				   s->result, s->error);
	}
	if (!err)
		err = store_commit(p->store);
	if (err)
		store_rollback(p->store);
	return err;
}

/* Run one step whose STARTED entry is on disk; the result stays in memory
 * until jlog_results(). */
static int step_run(struct pipeline *p, struct pl_run *r, const char *kind,
		    struct pl_step *s, char *why, size_t whylen)
{
	const struct pl_target *tg = &p->targets[s->target];
	bool apply = !strcmp(kind, "apply");
	char msg[PIPELINE_ERR_MAX] = "";
	json_t *undo = NULL;
	int err;

	if (apply)
		s->apply = PL_STARTED;
	else
		s->verify = PL_STARTED;
	emit(p, r, s, kind, PIPELINE_STARTED, NULL);
	if (apply) {
		err = norm_err(tg->ops->apply(tg->ctx, step_item(r, s), &undo,
					      msg, sizeof(msg)));
		if (!err && !undo)
			undo = json_null(); /* NULL is reserved for "unknown" */
		s->undo = undo;
		s->apply = err ? PL_FAILED : PL_OK;
	} else {
		err = norm_err(tg->ops->verify(tg->ctx, step_item(r, s), msg,
					       sizeof(msg)));
		s->verify = err ? PL_FAILED : PL_OK;
	}
	s->result = err;
	if (err) {
		set_err(s->error, sizeof(s->error), "%s",
			msg_or_errno(msg, err));
		set_err(why, whylen, "%s of '%s' on %s failed: %s (%d)", kind,
			step_id(r, s), s->tname, s->error, err);
	}
	return err;
}

/*
 * Steps [from, to) of the apply phase, all on one target that has
 * apply_many, as few calls as it takes.  Like step_run() for each step;
 * returns the first failure, with *ran the end of what the target did
 * (it may have applied steps past a failed one: they are rolled back
 * with the rest).
 */
static int step_run_many(struct pipeline *p, struct pl_run *r, size_t from,
			 size_t to, size_t *ran, char *why, size_t whylen)
{
	const struct pl_target *tg = &p->targets[r->steps[from].target];
	size_t n = to - from, k, done, i;
	const json_t **items;
	char (*msg)[PIPELINE_ERR_MAX];
	json_t **undo;
	int *ret, err = 0;
	struct pl_step *s;

	items = calloc(n, sizeof(*items));
	undo = calloc(n, sizeof(*undo));
	ret = calloc(n, sizeof(*ret));
	msg = calloc(n, sizeof(*msg));
	if (!items || !undo || !ret || !msg) {
		err = -ENOMEM;
		set_err(why, whylen, "apply of '%s' on %s failed: %s (%d)",
			step_id(r, &r->steps[from]), r->steps[from].tname,
			strerror(-err), err);
		*ran = from;
		goto out;
	}
	for (k = 0; k < n; k++) {
		s = &r->steps[from + k];
		items[k] = step_item(r, s);
		s->apply = PL_STARTED;
		emit(p, r, s, "apply", PIPELINE_STARTED, NULL);
	}
	for (k = 0; k < n && !err; k += done) {
		done = n - k > 1 ? tg->ops->apply_many(tg->ctx, items + k,
						       n - k, undo + k,
						       ret + k, msg + k) :
				   0;
		if (!done) {
			/* One left, or the target wants it done singly. */
			ret[k] = tg->ops->apply(tg->ctx, items[k], &undo[k],
						msg[k], sizeof(msg[k]));
			done = 1;
		}
		if (done > n - k)
			done = n - k;
		for (i = k; i < k + done; i++) {
			s = &r->steps[from + i];
			ret[i] = norm_err(ret[i]);
			if (!ret[i] && !undo[i])
				undo[i] = json_null();
			s->undo = undo[i];
			undo[i] = NULL;
			s->apply = ret[i] ? PL_FAILED : PL_OK;
			s->result = ret[i];
			if (!ret[i])
				continue;
			set_err(s->error, sizeof(s->error), "%s",
				msg_or_errno(msg[i], ret[i]));
			if (!err) {
				err = ret[i];
				r->cursor = from + i;
				set_err(why, whylen,
					"apply of '%s' on %s failed: %s (%d)",
					step_id(r, s), s->tname, s->error, err);
			}
		}
	}
	*ran = from + k;
	/* Steps the target never got to were not applied after all. */
	for (i = k; i < n; i++)
		r->steps[from + i].apply = PL_NONE;
out:
	free(items);
	free(undo);
	free(ret);
	free(msg);
	return err;
}

/*
 * One phase over every step, from the cursor on, @batch steps per journal
 * commit.  Result events go out once the results are on disk, so an
 * event never claims more than a restart would find.
 */
static int run_phase(struct pipeline *p, struct pl_run *r, const char *kind,
		     size_t batch, size_t *budget, char *why, size_t whylen)
{
	bool apply = !strcmp(kind, "apply");
	size_t from, to, k, j, ran;
	int err, jerr;

	while (r->cursor < r->nsteps) {
		/* Between two journal batches: nothing open, a safe stop. */
		if (budget && !(*budget)--)
			return -EINPROGRESS;
		from = r->cursor;
		to = from + batch < r->nsteps ? from + batch : r->nsteps;
		err = jlog_started(p, r, kind, from, to);
		if (err) {
			set_err(why, whylen,
				"couldn't journal the %s of '%s' on %s: %s (%d)",
				kind, step_id(r, &r->steps[from]),
				r->steps[from].tname, strerror(-err), err);
			return err; /* nothing of this batch ran */
		}
		err = 0;
		for (k = from; !err && k < to;) {
			r->cursor = k;
			j = k + 1;
			if (apply && r->steps[k].target >= 0 &&
			    p->targets[r->steps[k].target].ops->apply_many)
				while (j < to &&
				       r->steps[j].target == r->steps[k].target)
					j++;
			if (j - k > 1) {
				err = step_run_many(p, r, k, j, &k, why,
						    whylen);
				continue;
			}
			err = step_run(p, r, kind, &r->steps[k], why, whylen);
			k++;
		}
		ran = k;
		jerr = jlog_results(p, r, kind, from, to);
		if (!err && jerr) {
			/* Done, but a restart would not know the undo: give
			 * up while this process still holds it in memory. */
			err = jerr;
			set_err(why, whylen,
				"couldn't journal the %s of '%s' on %s: %s (%d)",
				kind, step_id(r, &r->steps[from]),
				r->steps[from].tname, strerror(-err), err);
		}
		for (k = from; k < ran; k++)
			emit(p, r, &r->steps[k], kind, r->steps[k].result,
			     r->steps[k].result ? why : NULL);
		if (err)
			return err;
		r->cursor = to;
	}
	return 0;
}

/*
 * Apply every step from the cursor on, then verify them all.  With
 * @budget, at most that many journal batches: -EINPROGRESS when the run
 * stopped with more to do (the cursor says where).
 */
static int run_forward(struct pipeline *p, struct pl_run *r, size_t batch,
		       size_t *budget, char *why, size_t whylen)
{
	int err = 0;

	if (r->phase == PL_PHASE_APPLY) {
		err = run_phase(p, r, "apply", batch, budget, why, whylen);
		if (err == -EINPROGRESS)
			return err;
		if (err)
			goto failed;
		r->phase = PL_PHASE_VERIFY;
		r->cursor = 0;
	}
	if (r->phase == PL_PHASE_VERIFY) {
		err = run_phase(p, r, "verify", batch, budget, why, whylen);
		if (err == -EINPROGRESS)
			return err;
		if (err)
			goto failed;
		r->phase = PL_PHASE_DONE;
	}
	return 0;
failed:
	r->failed = r->cursor;
	r->failed_kind = r->phase == PL_PHASE_APPLY ? "apply" : "verify";
	r->failed_err = err;
	return err;
}

static bool needs_rollback(const struct pl_step *s)
{
	if (s->rb == PL_OK)
		return false;
	return s->apply == PL_STARTED || s->apply == PL_OK ||
	       (s->apply == PL_FAILED && s->undo);
}

struct hold_ctx {
	size_t *held_by; /* item -> 1 + the stuck item that holds it */
	size_t holder;
};

static bool hold_one(size_t item, void *ctx)
{
	struct hold_ctx *h = ctx;

	if (!h->held_by[item])
		h->held_by[item] = h->holder + 1;
	return false;
}

/* Item @stuck stays applied: so must everything it is after. */
static void hold_deps(struct pl_run *r, size_t stuck, size_t *held_by)
{
	struct hold_ctx h = { held_by, stuck };

	memset(r->v.seen, 0, r->v.n);
	walk_deps(&r->v, stuck, r->v.seen, hold_one, &h);
}

/*
 * Roll back, in reverse apply order, every step that needs it.  0 when all
 * did, -ENOTRECOVERABLE when some still need a person, -ENOMEM.  Journal
 * failures do not stop a rollback: running one that the journal does not
 * show is safe (rollback is idempotent), skipping one is not.
 */
static int run_rollback(struct pipeline *p, struct pl_run *r,
			const char *reason)
{
	char msg[PIPELINE_ERR_MAX];
	size_t *held_by, k, failed = 0;
	bool *stuck;
	int err;

	held_by = calloc(r->v.n, sizeof(*held_by));
	stuck = calloc(r->v.n, sizeof(*stuck));
	if (!held_by || !stuck) {
		free(held_by);
		free(stuck);
		return -ENOMEM;
	}
	r->rollback_started = true;
	jlog(p, r, PIPELINE_LOG_SET, "rollback", NULL, STORE_LOG_STARTED,
	     reason);
	for (k = r->nsteps; k-- > 0;) {
		struct pl_step *s = &r->steps[k];
		const struct pl_target *tg;

		if (!needs_rollback(s))
			continue;
		err = -ECANCELED;
		if (stuck[s->item]) {
			set_err(s->error, sizeof(s->error),
				"not rolled back: its rollback on another target failed");
		} else if (held_by[s->item]) {
			set_err(s->error, sizeof(s->error),
				"not rolled back: '%s' is after it and still applied",
				json_string_value(json_object_get(
					json_array_get(r->v.items,
						       held_by[s->item] - 1),
					"id")));
		} else if (s->target < 0) {
			err = -ENOENT;
			set_err(s->error, sizeof(s->error),
				"not rolled back: no target '%s' is registered",
				s->tname);
		} else {
			tg = &p->targets[s->target];
			jlog(p, r, (__u32)s->item, "rollback", s->tname,
			     STORE_LOG_STARTED, NULL);
			s->rb = PL_STARTED;
			emit(p, r, s, "rollback", PIPELINE_STARTED, NULL);
			msg[0] = '\0';
			err = norm_err(tg->ops->rollback(tg->ctx,
							 step_item(r, s),
							 s->undo, msg,
							 sizeof(msg)));
			if (err)
				set_err(s->error, sizeof(s->error),
					"rollback failed: %s (%d)",
					msg_or_errno(msg, err), err);
		}
		if (!err) {
			s->rb = PL_OK;
			jlog(p, r, (__u32)s->item, "rollback", s->tname, 0,
			     NULL);
			emit(p, r, s, "rollback", 0, NULL);
			continue;
		}
		s->rb = PL_FAILED;
		failed++;
		jlog(p, r, (__u32)s->item, "rollback", s->tname, err, s->error);
		emit(p, r, s, "rollback", err, s->error);
		if (!stuck[s->item]) {
			stuck[s->item] = true;
			hold_deps(r, s->item, held_by);
		}
	}
	jlog(p, r, PIPELINE_LOG_SET, "rollback", NULL,
	     failed ? -ENOTRECOVERABLE : 0, NULL);
	free(held_by);
	free(stuck);
	return failed ? -ENOTRECOVERABLE : 0;
}

static size_t run_attention_count(const struct pl_run *r)
{
	size_t k, n = 0;

	for (k = 0; k < r->nsteps; k++)
		n += r->steps[k].rb == PL_FAILED;
	return n;
}

/* The steps that need a person, in the order rollback met them. */
static json_t *run_attention(const struct pl_run *r)
{
	json_t *a = json_array(), *e;
	size_t k;

	if (!a)
		return NULL;
	for (k = r->nsteps; k-- > 0;) {
		const struct pl_step *s = &r->steps[k];

		if (s->rb != PL_FAILED)
			continue;
		e = json_pack("{s:s, s:s, s:s, s:s}", "item", step_id(r, s),
			      "op", pipeline_item_op(step_item(r, s)),
			      "target", s->tname, "error", s->error);
		if (!e || json_array_append_new(a, e)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int run_finish(struct pipeline *p, struct pl_run *r,
		      enum store_cs_state state, const char *error)
{
	int err;

	err = store_changeset_set_state(p->store, r->id, state, error);
	if (err)
		return err;
	r->state = state;
	set_err(r->error, sizeof(r->error), "%s", error ?: "");
	emit_state(p, r);
	return 0;
}

/* Roll back and record the outcome: @ok_state, or PARTIAL_FAILURE. */
static int run_unwind(struct pipeline *p, struct pl_run *r,
		      const char *reason, enum store_cs_state ok_state)
{
	char error[PIPELINE_ERR_MAX];
	int err, ferr;

	err = run_rollback(p, r, reason);
	if (err == -ENOMEM)
		return err;
	if (err)
		set_err(error, sizeof(error),
			"%s; rollback incomplete: %zu step(s) need a person",
			reason, run_attention_count(r));
	else
		set_err(error, sizeof(error), "%s", reason);
	ferr = run_finish(p, r, err ? STORE_CS_PARTIAL_FAILURE : ok_state,
			  error);
	/* A state the store did not take comes first: the set is still
	 * pending there, and the caller must keep it so. */
	return ferr ?: err;
}

/* The commit and its journal entries in one transaction: a restart sees
 * a set either committed or not, never half. */
static int run_commit(struct pipeline *p, struct pl_run *r)
{
	int err;

	err = store_begin(p->store);
	if (err)
		return err;
	err = jlog(p, r, PIPELINE_LOG_SET, "commit", NULL, STORE_LOG_STARTED,
		   NULL);
	if (!err)
		err = store_changeset_set_state(p->store, r->id,
						STORE_CS_CONFIRMED, NULL);
	if (!err)
		err = jlog(p, r, PIPELINE_LOG_SET, "commit", NULL, 0, NULL);
	if (!err)
		err = store_commit(p->store);
	if (err) {
		store_rollback(p->store);
		return err;
	}
	r->state = STORE_CS_CONFIRMED;
	r->error[0] = '\0';
	emit_state(p, r);
	return 0;
}

static void pending_clear(struct pipeline *p)
{
	if (p->timer)
		loop_timer_del(p->loop, p->timer);
	p->timer = 0;
	run_free(p->pending);
	p->pending = NULL;
}

/*
 * Roll back the pending set.  If the store refuses the final state, the
 * set stays pending here (and in the store), so a retry or the next start
 * finishes the job; the rollbacks already done are not repeated here.
 */
static int pending_unwind(struct pipeline *p, const char *reason)
{
	int err;

	err = run_unwind(p, p->pending, reason, STORE_CS_ROLLED_BACK);
	if (err == 0 || err == -ENOTRECOVERABLE)
		pending_clear(p);
	return err;
}

static void on_deadline(struct loop *l, uint64_t id, void *ctx)
{
	struct pipeline *p = ctx;

	if (!p->pending || p->timer != id)
		return;
	p->timer = 0;
	p->busy = true;
	pending_unwind(p, "not confirmed by the deadline");
	p->busy = false;
}

static int arm_deadline(struct pipeline *p, int64_t deadline_ms)
{
	int64_t left = deadline_ms - now_ms(p);

	return loop_timer_add(p->loop, left > 0 ? (uint64_t)left : 0, 0,
			      on_deadline, p, &p->timer);
}

/* ---- apply ---- */

static int store_create(struct pipeline *p, struct pl_run *r,
			int64_t created_ms)
{
	char *text;
	int err;

	text = json_dumps(r->v.items, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	/* Created and marked APPLYING together, deadline included: the
	 * deadline is on disk before the first apply. */
	err = store_begin(p->store);
	if (!err) {
		err = store_changeset_create(p->store, text,
					     (enum store_cs_risk)r->risk,
					     created_ms / 1000,
					     r->deadline_ms / 1000, &r->id);
		if (!err)
			err = store_changeset_set_state(p->store, r->id,
							STORE_CS_APPLYING,
							NULL);
		if (!err)
			err = store_commit(p->store);
		if (err) {
			store_rollback(p->store);
			r->id = 0;
		}
	}
	free(text);
	return err == -EEXIST ? -EBUSY : err;
}

static int report_outcome(json_t *rep, const struct pl_run *r)
{
	int err = 0;

	err |= json_object_set_new(rep, "changeset",
				   r->id ? json_integer(r->id) : json_null());
	err |= json_object_set_new(rep, "state",
				   r->id ? json_string(state_txt[r->state]) :
					   json_null());
	err |= json_object_set_new(rep, "error", json_string(r->error));
	err |= json_object_set_new(rep, "confirm_deadline",
				   json_integer(r->deadline_ms / 1000));
	if (r->failed_kind) {
		const struct pl_step *s = &r->steps[r->failed];

		err |= json_object_set_new(
			rep, "failed",
			json_pack("{s:s, s:s, s:s, s:s, s:i}", "item",
				  step_id(r, s), "op",
				  pipeline_item_op(step_item(r, s)), "target",
				  s->tname, "step", r->failed_kind, "errno",
				  r->failed_err));
	}
	if (r->state == STORE_CS_PARTIAL_FAILURE)
		err |= json_object_set_new(rep, "needs_attention",
					   run_attention(r));
	return err ? -ENOMEM : 0;
}

/*
 * Apply, verify and commit (or arm the confirm timer) a stored run; with
 * @budget (journal batches), -EINPROGRESS when it stopped on the way.
 */
static int run_execute(struct pipeline *p, struct pl_run *r,
		       unsigned int timeout_s, size_t batch, size_t *budget,
		       bool *kept)
{
	char why[PIPELINE_ERR_MAX] = "";
	int err, uerr;

	err = run_forward(p, r, batch, budget, why, sizeof(why));
	if (err == -EINPROGRESS)
		return err;
	if (!err && !timeout_s) {
		err = run_commit(p, r);
		if (err)
			set_err(why, sizeof(why),
				"couldn't record the commit: %s (%d)",
				strerror(-err), err);
	} else if (!err) {
		err = run_finish(p, r, STORE_CS_APPLIED, NULL);
		if (!err)
			err = arm_deadline(p, r->deadline_ms);
		if (err)
			set_err(why, sizeof(why),
				"couldn't wait for confirmation: %s (%d)",
				strerror(-err), err);
		if (!err)
			*kept = true;
	}
	if (!err)
		return 0;
	uerr = run_unwind(p, r, why, STORE_CS_FAILED);
	return uerr == -ENOTRECOVERABLE || uerr == -ENOMEM ? uerr : err;
}

/*
 * Everything before the first apply: validate, preview, the checks, the
 * plan, and the set in the store (APPLYING).  0 with r stored; else the
 * refusal, with r->error and the report's errors saying why.
 */
static int apply_prepare(struct pipeline *p, const json_t *items,
			 const struct pipeline_apply_opts *opts,
			 struct pl_run *r, json_t *rep)
{
	unsigned int timeout_s = opts ? opts->confirm_timeout_s : 0;
	size_t batch = opts && opts->journal_batch ? opts->journal_batch : 1;
	int64_t now;
	int err;

	err = plan_validate(p, items, &r->v, rep);
	if (!err)
		err = plan_preview(p, &r->v, rep, &r->risk);
	if (err)
		return err;
	if (batch > PIPELINE_JOURNAL_BATCH_MAX) {
		set_err(r->error, sizeof(r->error),
			"journal batch %zu is above the maximum, %d", batch,
			PIPELINE_JOURNAL_BATCH_MAX);
		return -ERANGE;
	}
	if (timeout_s > PIPELINE_CONFIRM_TIMEOUT_MAX) {
		set_err(r->error, sizeof(r->error),
			"confirm timeout %u s is above the maximum, %d s",
			timeout_s, PIPELINE_CONFIRM_TIMEOUT_MAX);
		return -ERANGE;
	}
	if (r->risk == PIPELINE_RISK_HIGH &&
	    !(opts && opts->confirmed_high_risk)) {
		set_err(r->error, sizeof(r->error),
			"HIGH risk: see the preview, then apply with confirm");
		return -EPERM;
	}
	if (p->pending) {
		set_err(r->error, sizeof(r->error),
			"change set %lld is pending",
			(long long)p->pending->id);
		return -EBUSY;
	}
	err = run_plan(p, r);
	if (err)
		return err;
	now = now_ms(p);
	if (timeout_s)
		/* Whole seconds on disk, rounded up: never a shorter window. */
		r->deadline_ms = (now + timeout_s * 1000LL + 999) / 1000 * 1000;
	err = store_create(p, r, now);
	if (err == -EBUSY)
		set_err(r->error, sizeof(r->error),
			"another change set is pending");
	if (err)
		return err;
	r->state = STORE_CS_APPLYING;
	emit_state(p, r);
	return 0;
}

/* The end of an apply, either way: the report, and the run kept or freed. */
static int apply_finish(struct pipeline *p, struct pl_run *r, json_t *rep,
			int err, bool kept)
{
	if (report_outcome(rep, r) && !err)
		err = -ENOMEM;
	if (kept)
		p->pending = r;
	else
		run_free(r);
	p->busy = false;
	return err;
}

int pipeline_apply(struct pipeline *p, const json_t *items,
		   const struct pipeline_apply_opts *opts, int64_t *id,
		   json_t **report)
{
	unsigned int timeout_s = opts ? opts->confirm_timeout_s : 0;
	size_t batch = opts && opts->journal_batch ? opts->journal_batch : 1;
	struct pl_run *r;
	bool kept = false;
	json_t *rep;
	int err;

	if (id)
		*id = 0;
	if (report)
		*report = NULL;
	if (!p)
		return -EINVAL;
	if (p->busy)
		return -EBUSY;
	rep = json_object();
	r = calloc(1, sizeof(*r));
	if (!rep || !r) {
		json_decref(rep);
		free(r);
		return -ENOMEM;
	}
	p->busy = true;
	err = apply_prepare(p, items, opts, r, rep);
	if (!err) {
		if (id)
			*id = r->id;
		err = run_execute(p, r, timeout_s, batch, NULL, &kept);
	}
	err = apply_finish(p, r, rep, err, kept);
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return err;
}

static void on_slice(struct loop *l, uint64_t id, void *ctx);

static int arm_slice(struct pipeline *p)
{
	return loop_timer_add(p->loop, 0, 0, on_slice, p, &p->slice_timer);
}

/*
 * One slice of the running set: PIPELINE_SLICE_BATCHES journal batches,
 * then back to the loop, or the end of the set and its answer.
 */
static void on_slice(struct loop *l, uint64_t id, void *ctx)
{
	struct pipeline *p = ctx;
	struct pl_run *r = p->running;
	size_t budget = PIPELINE_SLICE_BATCHES;
	pipeline_done_fn done = p->done;
	void *done_ctx = p->done_ctx;
	bool kept = false;
	json_t *rep;
	int64_t csid;
	int err;

	(void)l;
	if (!r || id != p->slice_timer)
		return;
	p->slice_timer = 0;
	err = run_execute(p, r, p->running_timeout_s, p->running_batch,
			  &budget, &kept);
	if (err == -EINPROGRESS) {
		err = arm_slice(p);
		if (!err)
			return;
		/* No timer: finish here, as pipeline_apply() would. */
		err = run_execute(p, r, p->running_timeout_s, p->running_batch,
				  NULL, &kept);
	}
	rep = p->running_rep;
	csid = r->id;
	p->running = NULL;
	p->running_rep = NULL;
	p->done = NULL;
	err = apply_finish(p, r, rep, err, kept);
	if (done)
		done(done_ctx, err, csid, rep);
	else
		json_decref(rep);
}

int pipeline_apply_async(struct pipeline *p, const json_t *items,
			 const struct pipeline_apply_opts *opts,
			 pipeline_done_fn done, void *done_ctx, int64_t *id,
			 json_t **report)
{
	unsigned int timeout_s = opts ? opts->confirm_timeout_s : 0;
	size_t batch = opts && opts->journal_batch ? opts->journal_batch : 1;
	size_t budget = 0; /* the first slice on the next loop turn */
	struct pl_run *r;
	bool kept = false;
	json_t *rep;
	int err;

	if (id)
		*id = 0;
	if (report)
		*report = NULL;
	if (!p || !done)
		return -EINVAL;
	if (p->busy)
		return -EBUSY;
	rep = json_object();
	r = calloc(1, sizeof(*r));
	if (!rep || !r) {
		json_decref(rep);
		free(r);
		return -ENOMEM;
	}
	p->busy = true;
	err = apply_prepare(p, items, opts, r, rep);
	if (!err) {
		if (id)
			*id = r->id;
		/*
		 * Nothing applied yet (budget 0): validation and the store
		 * were this turn's work; what waited meanwhile goes first.
		 */
		err = run_execute(p, r, timeout_s, batch, &budget, &kept);
	}
	if (err == -EINPROGRESS) {
		p->running = r;
		p->running_rep = rep;
		p->running_timeout_s = timeout_s;
		p->running_batch = batch;
		p->done = done;
		p->done_ctx = done_ctx;
		err = arm_slice(p);
		if (!err)
			return -EINPROGRESS; /* busy stays set */
		p->running = NULL;
		p->running_rep = NULL;
		p->done = NULL;
		err = run_execute(p, r, timeout_s, batch, NULL, &kept);
	}
	err = apply_finish(p, r, rep, err, kept);
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return err;
}

int pipeline_running(const struct pipeline *p, int64_t *id)
{
	if (!p || !p->running)
		return -ENOENT;
	if (id)
		*id = p->running->id;
	return 0;
}

/* ---- the journal, read back ---- */

struct replay {
	struct pipeline *p;
	struct pl_run *r;
	json_t *log; /* status only: the entries, undo left out */
};

static struct pl_step *replay_find(struct pl_run *r, size_t item,
				   const char *tname)
{
	size_t k;

	for (k = r->nsteps; k-- > 0;)
		if (r->steps[k].item == item &&
		    !strcmp(r->steps[k].tname, tname))
			return &r->steps[k];
	return NULL;
}

static int replay_log_entry(struct replay *x, const struct store_cs_log *e)
{
	json_t *j;

	if (!x->log || !strncmp(e->step, "undo:", 5))
		return 0;
	j = json_pack("{s:I, s:s?, s:s, s:i, s:s, s:I}", "seq",
		      (json_int_t)e->seq, "item",
		      e->item < x->r->v.n ? view_id(&x->r->v, e->item) : NULL,
		      "step", e->step, "result", e->result, "detail",
		      e->detail, "at", (json_int_t)e->at);
	if (!j || json_array_append_new(x->log, j))
		return -ENOMEM;
	return 0;
}

static int replay_undo(struct pl_step *s, const char *chunk)
{
	size_t n = strlen(chunk);
	char *buf;

	if (s->undo_len + n > PIPELINE_UNDO_MAX)
		return -EBADMSG;
	buf = realloc(s->undo_buf, s->undo_len + n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf + s->undo_len, chunk, n + 1);
	s->undo_buf = buf;
	s->undo_len += n;
	return 0;
}

static void replay_status(enum pl_status *st, struct pl_step *s,
			  const struct store_cs_log *e)
{
	if (e->result == STORE_LOG_STARTED) {
		*st = PL_STARTED;
		return;
	}
	*st = e->result ? PL_FAILED : PL_OK;
	if (e->result)
		set_err(s->error, sizeof(s->error), "%s", e->detail);
}

static int replay_cb(const struct store_cs_log *e, void *ctx)
{
	struct replay *x = ctx;
	struct pl_run *r = x->r;
	char kind[STORE_STEP_MAX];
	const char *colon, *tname;
	struct pl_step *s;
	int err;

	err = replay_log_entry(x, e);
	if (err)
		return err;
	if (e->item == PIPELINE_LOG_SET) {
		/* Sticky: a finished rollback whose final state did not reach
		 * the store is still a rollback, not a set to confirm. */
		if (!strcmp(e->step, "rollback"))
			r->rollback_started = true;
		return 0;
	}
	if (e->item >= r->v.n)
		return -EBADMSG;
	colon = strchr(e->step, ':');
	if (!colon)
		return 0; /* a step a newer vifd knows: nothing to undo here */
	snprintf(kind, sizeof(kind), "%.*s", (int)(colon - e->step), e->step);
	tname = colon + 1;

	if (!strcmp(kind, "apply") && e->result == STORE_LOG_STARTED) {
		s = run_add_step(r, e->item, target_find(x->p, tname), tname);
		if (!s)
			return -ENOMEM;
		s->apply = PL_STARTED;
		return 0;
	}
	s = replay_find(r, e->item, tname);
	if (!s)
		return 0;
	if (!strcmp(kind, "undo"))
		return replay_undo(s, e->detail);
	if (!strcmp(kind, "apply")) {
		replay_status(&s->apply, s, e);
		if (s->undo_buf) {
			/* Unparseable is "unknown": rollback copes with it. */
			s->undo = json_loadb(s->undo_buf, s->undo_len,
					     JSON_DECODE_ANY, NULL);
			free(s->undo_buf);
			s->undo_buf = NULL;
			s->undo_len = 0;
		}
	} else if (!strcmp(kind, "verify")) {
		replay_status(&s->verify, s, e);
	} else if (!strcmp(kind, "rollback")) {
		replay_status(&s->rb, s, e);
	}
	return 0;
}

/* A stored set and its steps, as the journal tells them. */
static int run_load(struct pipeline *p, const struct store_changeset *cs,
		    json_t *log, struct pl_run **out)
{
	struct replay x = { .p = p, .log = log };
	json_t *items = NULL, *errors = NULL;
	struct pl_run *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->id = cs->id;
	r->state = cs->state;
	r->risk = (enum pipeline_risk)cs->risk;
	r->deadline_ms = cs->confirm_deadline * 1000;
	r->phase = PL_PHASE_DONE;
	set_err(r->error, sizeof(r->error), "%s", cs->error);
	items = json_loads(cs->items, 0, NULL);
	errors = json_array();
	err = -ENOMEM;
	if (!errors)
		goto out;
	err = -EBADMSG;
	if (!items)
		goto out;
	err = view_build(&r->v, items, errors, NULL);
	if (err == -EINVAL)
		err = -EBADMSG; /* it was valid when it was stored */
	if (err)
		goto out;
	x.r = r;
	err = store_changeset_log_list(p->store, r->id, replay_cb, &x);
out:
	json_decref(items);
	json_decref(errors);
	if (err) {
		run_free(r);
		return err;
	}
	*out = r;
	return 0;
}

/* ---- confirm, rollback, status, recover ---- */

/* -ENOENT for an unknown set, else @other. */
static int unknown_or(struct pipeline *p, int64_t id, int other)
{
	struct store_changeset cs;
	int err;

	err = store_changeset_get(p->store, id, &cs);
	store_changeset_fini(&cs);
	return err ?: other;
}

int pipeline_confirm(struct pipeline *p, int64_t id)
{
	int err;

	if (!p)
		return -EINVAL;
	if (p->busy)
		return -EBUSY;
	if (!p->pending || p->pending->id != id)
		return unknown_or(p, id, -EINVAL);
	if (p->pending->rollback_started)
		return -EINVAL; /* finish it with pipeline_rollback() */
	p->busy = true;
	if (now_ms(p) >= p->pending->deadline_ms) {
		/* The timer has not run yet, but the window is closed. */
		err = pending_unwind(p, "confirmed after the deadline");
		err = err ?: -ETIMEDOUT;
	} else {
		err = run_commit(p, p->pending);
		if (!err)
			pending_clear(p);
	}
	p->busy = false;
	return err;
}

static int retry_partial(struct pipeline *p, const struct store_changeset *cs)
{
	char reason[PIPELINE_ERR_MAX];
	struct pl_run *r;
	int err;

	err = run_load(p, cs, NULL, &r);
	if (err)
		return err;
	set_err(reason, sizeof(reason), "rolled back on retry (was: %s)",
		cs->error);
	err = run_unwind(p, r, reason, STORE_CS_ROLLED_BACK);
	run_free(r);
	return err;
}

int pipeline_rollback(struct pipeline *p, int64_t id, json_t **report)
{
	struct store_changeset cs;
	int err;

	if (report)
		*report = NULL;
	if (!p)
		return -EINVAL;
	if (p->busy)
		return -EBUSY;
	p->busy = true;
	if (p->pending && p->pending->id == id) {
		err = pending_unwind(p, "rolled back by an operator");
		goto out;
	}
	err = store_changeset_get(p->store, id, &cs);
	if (err)
		goto out;
	if (cs.state == STORE_CS_PARTIAL_FAILURE && !p->pending)
		err = retry_partial(p, &cs);
	else if (cs.state == STORE_CS_PARTIAL_FAILURE)
		err = -EBUSY;
	else if (cs.state == STORE_CS_PENDING ||
		 cs.state == STORE_CS_APPLYING ||
		 (cs.state == STORE_CS_APPLIED && cs.confirm_deadline))
		err = -EBUSY; /* another process's, or not recovered yet */
	else
		err = -EINVAL;
	store_changeset_fini(&cs);
out:
	p->busy = false;
	if (report && err != -ENOENT && err != -ENOMEM)
		pipeline_status(p, id, report);
	return err;
}

static json_t *steps_json(const struct pl_run *r)
{
	json_t *a = json_array(), *e;
	size_t k;

	if (!a)
		return NULL;
	for (k = 0; k < r->nsteps; k++) {
		const struct pl_step *s = &r->steps[k];

		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "item",
			      step_id(r, s), "op",
			      pipeline_item_op(step_item(r, s)), "target",
			      s->tname, "apply", status_txt[s->apply],
			      "verify", status_txt[s->verify], "rollback",
			      status_txt[s->rb]);
		if (e && s->error[0] &&
		    json_object_set_new(e, "error", json_string(s->error))) {
			json_decref(e);
			e = NULL;
		}
		if (!e || json_array_append_new(a, e)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int pipeline_status(struct pipeline *p, int64_t id, json_t **out)
{
	struct store_changeset cs;
	json_t *log, *st, *steps, *attention;
	struct pl_run *r = NULL;
	int err;

	if (!p || !out)
		return -EINVAL;
	*out = NULL;
	err = store_changeset_get(p->store, id, &cs);
	if (err)
		return err;
	log = json_array();
	err = log ? run_load(p, &cs, log, &r) : -ENOMEM;
	if (err)
		goto out;
	steps = steps_json(r);
	attention = run_attention(r);
	st = NULL;
	if (steps && attention)
		st = json_pack("{s:I, s:s, s:b, s:s, s:I, s:I, s:s, s:O, s:O, s:O, s:O}",
			       "changeset", (json_int_t)cs.id, "state",
			       state_txt[cs.state], "awaiting_confirm",
			       cs.state == STORE_CS_APPLIED &&
				       cs.confirm_deadline,
			       "risk", risk_txt[cs.risk], "created_at",
			       (json_int_t)cs.created_at, "confirm_deadline",
			       (json_int_t)cs.confirm_deadline, "error",
			       cs.error, "items", r->v.items, "steps", steps,
			       "needs_attention", attention, "log", log);
	json_decref(steps);
	json_decref(attention);
	if (!st) {
		err = -ENOMEM;
		goto out;
	}
	*out = st;
out:
	json_decref(log);
	run_free(r);
	store_changeset_fini(&cs);
	return err;
}

int pipeline_pending(const struct pipeline *p, int64_t *id,
		     int64_t *deadline_ms)
{
	if (!p)
		return -EINVAL;
	if (!p->pending)
		return -ENOENT;
	if (id)
		*id = p->pending->id;
	if (deadline_ms)
		*deadline_ms = p->pending->deadline_ms;
	return 0;
}

/* Re-arm or roll back a set left pending; on "armed" p->pending owns @r. */
static int recover_set(struct pipeline *p, struct pl_run *r, json_t *rep)
{
	enum store_cs_state ok_state = STORE_CS_ROLLED_BACK;
	const char *reason;
	int64_t left;
	int err;

	if (r->state == STORE_CS_APPLIED && !r->rollback_started) {
		left = r->deadline_ms - now_ms(p);
		if (left > 0) {
			err = loop_timer_add(p->loop, (uint64_t)left, 0,
					     on_deadline, p, &p->timer);
			if (err)
				return err;
			p->pending = r;
			if (json_object_set_new(rep, "action",
						json_string("armed")) ||
			    json_object_set_new(rep, "remaining_ms",
						json_integer(left)))
				return -ENOMEM;
			return 0;
		}
		reason = "not confirmed by the deadline (it passed while vifd was down)";
	} else if (r->state == STORE_CS_APPLIED) {
		reason = "vifd stopped while rolling it back; rollback finished";
	} else {
		reason = "vifd stopped while the change set was being applied";
		ok_state = STORE_CS_FAILED;
	}
	err = run_unwind(p, r, reason, ok_state);
	if (err && err != -ENOTRECOVERABLE)
		return err;
	if (json_object_set_new(rep, "action", json_string("rolled_back")))
		return -ENOMEM;
	if (err && json_object_set_new(rep, "needs_attention", run_attention(r)))
		return -ENOMEM;
	return err;
}

int pipeline_recover(struct pipeline *p, json_t **report)
{
	struct store_changeset cs;
	struct pl_run *r = NULL;
	json_t *rep;
	int err;

	if (report)
		*report = NULL;
	if (!p)
		return -EINVAL;
	if (p->busy || p->pending)
		return -EBUSY;
	rep = json_object();
	if (!rep)
		return -ENOMEM;
	p->busy = true;
	err = store_changeset_pending(p->store, &cs);
	if (err == -ENOENT) {
		err = 0;
		if (json_object_set_new(rep, "changeset", json_null()) ||
		    json_object_set_new(rep, "action", json_string("none")))
			err = -ENOMEM;
		goto out;
	}
	if (!err)
		err = run_load(p, &cs, NULL, &r);
	store_changeset_fini(&cs);
	if (err)
		goto out;
	err = recover_set(p, r, rep);
	if (json_object_set_new(rep, "changeset", json_integer(r->id)) ||
	    json_object_set_new(rep, "state", json_string(state_txt[r->state])))
		err = err ?: -ENOMEM;
	if (p->pending != r)
		run_free(r);
out:
	p->busy = false;
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return err;
}

/* ---- lifetime ---- */

int pipeline_new(struct loop *loop, struct store *store, pipeline_now_fn now,
		 void *now_ctx, struct pipeline **out)
{
	struct pipeline *p;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!loop || !store)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->store = store;
	p->now = now;
	p->now_ctx = now_ctx;
	*out = p;
	return 0;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	if (p->slice_timer)
		loop_timer_del(p->loop, p->slice_timer);
	/* A set still applying stays APPLYING in the store: recovery. */
	run_free(p->running);
	json_decref(p->running_rep);
	pending_clear(p);
	free(p);
}

void pipeline_set_progress(struct pipeline *p, pipeline_progress_fn fn,
			   void *ctx)
{
	if (!p)
		return;
	p->progress = fn;
	p->progress_ctx = ctx;
}
