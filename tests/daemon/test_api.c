// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_api.c - control/api.c served on a real loop in this process, on
 * sockets in a mkdtemp directory (removed at the end), talked to through
 * real client sockets.
 *
 * Server and clients share one thread: a client helper that waits for
 * bytes runs loop_once() meanwhile, so the server makes progress exactly
 * as it would in vifd.  Where a client must be another process (another
 * uid for the roles, vifctl) it is forked and the parent keeps pumping
 * the loop until the child exits.
 *
 * Usage: test_api [PATH-TO-VIFCTL]; without it the vifctl cases skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "harness.h"
#include "loop.h"

#define WAIT_MS 5000 /* for anything that should be prompt */
#define NOBODY 65534
#define TEST_GID 4242

/* The fixture directory and vifctl: the harness's cases take no args. */
static char tmpdir[] = "/tmp/test_api.XXXXXX";
static const char *vifctl_path;

/* ---- an in-memory event history, standing in for the store ---- */

struct tev {
	int64_t seq;
	char type[32];
	__u16 vlan;
	int64_t at;
	char json[160];
};

struct tev_store {
	struct tev *v;
	size_t n, cap;
	int64_t last;  /* newest seq ever handed out */
	bool fail;     /* since() and bounds() return -EIO */
};

static int tev_since(void *ctx, int64_t since, api_event_cb cb, void *cb_ctx)
{
	struct tev_store *s = ctx;
	size_t i;
	int rc;

	if (s->fail)
		return -EIO;
	for (i = 0; i < s->n; i++) {
		struct api_event ev = { s->v[i].seq, s->v[i].type,
					s->v[i].vlan, s->v[i].at,
					s->v[i].json };

		if (s->v[i].seq <= since)
			continue;
		rc = cb(&ev, cb_ctx);
		if (rc)
			return rc;
	}
	return 0;
}

static int tev_bounds(void *ctx, int64_t *first, int64_t *last)
{
	struct tev_store *s = ctx;

	if (s->fail)
		return -EIO;
	*first = s->n ? s->v[0].seq : 0;
	*last = s->last;
	return 0;
}

/* Store an event with the next seq; its body pads the line to ~@pad. */
static int64_t tev_add(struct tev_store *s, const char *type, __u16 vlan,
		       size_t pad)
{
	struct tev *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct tev *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	e->seq = ++s->last;
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->vlan = vlan;
	e->at = 1700000000 + e->seq;
	if (pad > sizeof(e->json) - 40)
		pad = sizeof(e->json) - 40;
	/* Pretty-printed on purpose: the wire must still be one line. */
	snprintf(e->json, sizeof(e->json), "{\n  \"n\": %lld,\n  \"pad\": \"%.*s\"\n}",
		 (long long)e->seq, (int)pad,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	return e->seq;
}

/* Forget the oldest events, as store_event_prune() would. */
static void tev_prune(struct tev_store *s, size_t keep)
{
	if (s->n <= keep)
		return;
	memmove(s->v, s->v + (s->n - keep), keep * sizeof(*s->v));
	s->n = keep;
}

/* Store and broadcast, in the order vifd must use. */
static int tev_emit(struct api *api, struct tev_store *s, const char *type,
		    __u16 vlan, size_t pad)
{
	const struct tev *e;
	json_t *data;
	int err;

	if (tev_add(s, type, vlan, pad) < 0)
		return -ENOMEM;
	e = &s->v[s->n - 1];
	data = json_loads(e->json, 0, NULL);
	err = api_broadcast_event(api, e->seq, e->type, e->vlan, e->at, data);
	json_decref(data);
	return err;
}

/* ---- the server fixture ---- */

struct fx {
	struct loop *l;
	struct api *api;
	char path[108];
	struct tev_store ev;
	struct api_pending *pending[8];
	unsigned int npending;
	unsigned int calls;   /* handler invocations */
	json_t *last_args;    /* args of the last recording handler */
	__u64 stat_bytes;     /* grows per "stats" call */
	char log[4096];
};

static void fx_log(void *ctx, enum vif_log_level lvl, const char *msg)
{
	struct fx *f = ctx;
	size_t n = strlen(f->log);

	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", msg);
}

static int h_echo(void *ctx, struct api_client *c, const json_t *args,
		  json_t **result, struct api_error *err)
{
	struct fx *f = ctx;

	f->calls++;
	*result = json_pack("{s:O,s:s}", "args", args, "role",
			    api_role_name(api_client_role(c)));
	return 0;
}

static int h_admin(void *ctx, struct api_client *c, const json_t *args,
		   json_t **result, struct api_error *err)
{
	struct fx *f = ctx;

	f->calls++;
	*result = json_pack("{s:b}", "done", 1);
	return 0;
}

/* {"mode":"notfound"|"errno"|"badpending"|"details"} */
static int h_fail(void *ctx, struct api_client *c, const json_t *args,
		  json_t **result, struct api_error *err)
{
	const char *mode = json_string_value(json_object_get(args, "mode"));

	if (!mode || !strcmp(mode, "notfound")) {
		api_error_set(err, API_ERR_NOT_FOUND, "no such thing '%s'",
			      "x");
		return -ENOENT;
	}
	if (!strcmp(mode, "errno"))
		return -EBUSY;
	if (!strcmp(mode, "badpending"))
		return API_PENDING; /* without api_defer(): a handler bug */
	if (!strcmp(mode, "details")) {
		api_error_set(err, API_ERR_CONFLICT, "would strand");
		err->details = json_pack("{s:[i,i]}", "stranded", 101, 140);
		return -EEXIST;
	}
	/* An error code with success: still an error. */
	*result = json_object();
	api_error_set(err, API_ERR_INTERNAL, "mixed");
	return -EIO;
}

static int h_later(void *ctx, struct api_client *c, const json_t *args,
		   json_t **result, struct api_error *err)
{
	struct fx *f = ctx;
	struct api_pending *p;

	if (f->npending == ARRAY_SIZE(f->pending)) {
		api_error_set(err, API_ERR_BUSY, "test holds too many");
		return -EBUSY;
	}
	p = api_defer(c);
	if (!p)
		return -errno;
	/* A second defer for the same request is refused. */
	if (api_defer(c) || errno != EINVAL) {
		api_pending_free(p);
		return -EPROTO;
	}
	f->pending[f->npending++] = p;
	return API_PENDING;
}

/* Answers synchronously through the deferred path. */
static int h_now(void *ctx, struct api_client *c, const json_t *args,
		 json_t **result, struct api_error *err)
{
	struct api_pending *p = api_defer(c);

	if (!p)
		return -errno;
	api_reply(p, json_pack("{s:b}", "now", 1), NULL);
	return API_PENDING;
}

static int h_big(void *ctx, struct api_client *c, const json_t *args,
		 json_t **result, struct api_error *err)
{
	int64_t n = 0;
	char *s;

	if (api_arg_int(args, "bytes", true, 1, 64 << 20, &n, err))
		return -EINVAL;
	s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	memset(s, 'b', n);
	s[n] = '\0';
	*result = json_pack("{s:s}", "blob", s);
	free(s);
	return 0;
}

/* Broadcast from inside a handler, as vif.create would. */
static int h_emit(void *ctx, struct api_client *c, const json_t *args,
		  json_t **result, struct api_error *err)
{
	struct fx *f = ctx;
	int e = tev_emit(f->api, &f->ev, "test.emitted", 7, 10);

	*result = json_pack("{s:I}", "seq", (json_int_t)f->ev.last);
	return e;
}

static int fx_start_opts(struct fx *f, const char *name,
			 const struct api_opts *o_in, bool with_events)
{
	static const struct api_event_source src = {
		.since = tev_since,
		.bounds = tev_bounds,
	};
	struct api_event_source *s = NULL;
	struct api_opts o;
	int err;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/%s.sock", tmpdir, name);
	err = loop_new(&f->l);
	if (err)
		return err;
	if (o_in)
		o = *o_in;
	else
		api_opts_init(&o);
	o.path = f->path;
	if (!o.mode)
		o.mode = 0666;
	o.server = "vifd-test";
	o.version = "9.9.9";
	o.log = fx_log;
	o.log_ctx = f;
	if (with_events) {
		s = malloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		*s = src;
		s->ctx = &f->ev;
		o.events = s;
	}
	err = api_new(f->l, &o, &f->api);
	free(s); /* api_new copies it */
	if (err)
		return err;
	err = api_register(f->api, "test.echo", API_ROLE_READ, h_echo, f) ?:
	      api_register(f->api, "test.admin", API_ROLE_ADMIN, h_admin, f) ?:
	      api_register(f->api, "test.fail", API_ROLE_READ, h_fail, f) ?:
	      api_register(f->api, "test.later", API_ROLE_READ, h_later, f) ?:
	      api_register(f->api, "test.now", API_ROLE_READ, h_now, f) ?:
	      api_register(f->api, "test.big", API_ROLE_READ, h_big, f) ?:
	      api_register(f->api, "test.emit", API_ROLE_READ, h_emit, f);
	return err;
}

static int fx_start(struct fx *f, const char *name)
{
	return fx_start_opts(f, name, NULL, true);
}

static void fx_stop(struct fx *f)
{
	unsigned int i;

	for (i = 0; i < f->npending; i++)
		api_pending_free(f->pending[i]);
	api_free(f->api);
	loop_free(f->l);
	free(f->ev.v);
	json_decref(f->last_args);
	memset(f, 0, sizeof(*f));
}

static unsigned int fx_clients(const struct fx *f)
{
	struct api_stats st;

	api_get_stats(f->api, &st);
	return st.clients;
}

static void pump(struct fx *f, int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		loop_once(f->l, 1);
}

/* Run the loop until the server has @n clients, or WAIT_MS. */
static bool pump_until_clients(struct fx *f, unsigned int n)
{
	uint64_t end = loop_now_ms() + WAIT_MS;

	while (loop_now_ms() < end) {
		if (fx_clients(f) == n)
			return true;
		loop_once(f->l, 5);
	}
	fprintf(stderr, "server has %u clients, want %u\n", fx_clients(f), n);
	return false;
}

/* ---- clients in this process ---- */

struct cl {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
	int err; /* recv error that ended the stream (ECONNRESET) */
};

static int cl_open_path(struct cl *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

static void cl_close(struct cl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Read what is there; pump the loop while nothing is.  0 or -ETIMEDOUT. */
static int cl_fill(struct fx *f, struct cl *c, int timeout_ms)
{
	uint64_t end = loop_now_ms() + timeout_ms;
	ssize_t n;

	for (;;) {
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *b = realloc(c->buf, cap);

			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += n;
			return 0;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->err = n ? errno : 0;
			c->eof = true;
			return 0;
		}
		if (loop_now_ms() >= end)
			return -ETIMEDOUT;
		loop_once(f->l, 2);
	}
}

/* The next line, parsed (NULL at EOF, timeout or for a bad line). */
static json_t *cl_line(struct fx *f, struct cl *c, int timeout_ms)
{
	uint64_t end = loop_now_ms() + timeout_ms;
	json_error_t jerr;
	json_t *msg;
	char *nl;
	size_t n;

	for (;;) {
		nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			n = nl - c->buf;
			msg = json_loadb(c->buf, n, 0, &jerr);
			if (!msg)
				fprintf(stderr, "bad line from server: %s: %.200s\n",
					jerr.text, c->buf);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return msg;
		}
		if (c->eof)
			return NULL;
		if (loop_now_ms() >= end || cl_fill(f, c, end - loop_now_ms()))
			return NULL;
	}
}

static int cl_send(struct fx *f, struct cl *c, const char *p, size_t n)
{
	uint64_t end = loop_now_ms() + WAIT_MS;
	ssize_t w;

	while (n) {
		w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (loop_now_ms() >= end)
			return -ETIMEDOUT;
		loop_once(f->l, 2);
	}
	return 0;
}

static int cl_sends(struct fx *f, struct cl *c, const char *s)
{
	return cl_send(f, c, s, strlen(s));
}

/* Connect and take the hello line. */
static int cl_open(struct fx *f, struct cl *c)
{
	json_t *hello;
	int err;

	err = cl_open_path(c, f->path);
	if (err)
		return err;
	hello = cl_line(f, c, WAIT_MS);
	if (!json_object_get(hello, "hello")) {
		json_decref(hello);
		return -EPROTO;
	}
	json_decref(hello);
	return 0;
}

/* Send a line (newline added) and return the next non-event line. */
static json_t *cl_call(struct fx *f, struct cl *c, const char *req)
{
	json_t *m;

	if (cl_sends(f, c, req) || cl_sends(f, c, "\n"))
		return NULL;
	for (;;) {
		m = cl_line(f, c, WAIT_MS);
		if (!m || !json_object_get(m, "event"))
			return m;
		json_decref(m);
	}
}

/* Read to EOF; the number of lines seen then, or -ETIMEDOUT. */
static int cl_drain(struct fx *f, struct cl *c, json_t **last)
{
	json_t *m;
	int n = 0;

	for (;;) {
		m = cl_line(f, c, WAIT_MS);
		if (!m)
			break;
		n++;
		if (last) {
			json_decref(*last);
			*last = m;
		} else {
			json_decref(m);
		}
	}
	return c->eof ? n : -ETIMEDOUT;
}

static void dump(const char *what, const json_t *m)
{
	char *s = m ? json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	fprintf(stderr, "  %s: %.400s\n", what, s ? s : "(nothing)");
	free(s);
}

/* An answer {"id":@id,"ok":true,...}; @id NULL = don't care. */
static bool is_ok(const json_t *m, const json_t *id)
{
	bool ok = json_is_true(json_object_get(m, "ok")) &&
		  json_is_object(json_object_get(m, "result")) &&
		  (!id || json_equal(json_object_get(m, "id"), (json_t *)id));

	if (!ok)
		dump("want ok, got", m);
	return ok;
}

/* An error with @code; @id NULL means the id must be null. */
static bool is_err(const json_t *m, const char *code, const json_t *id)
{
	const json_t *e = json_object_get(m, "error");
	const json_t *mid = json_object_get(m, "id");
	bool ok = json_is_false(json_object_get(m, "ok")) && e &&
		  !strcmp(json_string_value(json_object_get(e, "code")) ?: "",
			  code) &&
		  json_string_length(json_object_get(e, "message")) > 0 &&
		  (id ? json_equal(mid, (json_t *)id) : json_is_null(mid));

	if (!ok) {
		fprintf(stderr, "  want error %s\n", code);
		dump("got", m);
	}
	return ok;
}

static bool call_ok(struct fx *f, struct cl *c, const char *req,
		    json_int_t id)
{
	json_t *want = json_integer(id), *m = cl_call(f, c, req);
	bool ok = is_ok(m, want);

	json_decref(want);
	json_decref(m);
	return ok;
}

static bool call_err(struct fx *f, struct cl *c, const char *req,
		     const char *code, const json_t *id)
{
	json_t *m = cl_call(f, c, req);
	bool ok = is_err(m, code, id);

	json_decref(m);
	return ok;
}

/* Send and take the very next line, event or not. */
static bool call_ok_raw(struct fx *f, struct cl *c, const char *req,
			json_int_t id)
{
	json_t *want = json_integer(id), *m = NULL;
	bool ok = false;

	if (!cl_sends(f, c, req) && !cl_sends(f, c, "\n")) {
		m = cl_line(f, c, WAIT_MS);
		ok = is_ok(m, want);
	}
	json_decref(want);
	json_decref(m);
	return ok;
}

/* ---- cases ---- */

static int test_hello(void)
{
	const char *role = getuid() == 0 ? "admin" : "read";
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *m = NULL, *h, *copy = NULL;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "hello"), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open_path(&c, f.path), "connect"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	h = json_object_get(m, "hello");
	if (!ASSERT_TRUE(json_is_object(h), "first line is the hello") ||
	    !ASSERT_EQ(json_object_size(m), 1, "hello line has one key") ||
	    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(h, "server")) ?: "", "vifd-test"), "server") ||
	    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(h, "version")) ?: "", "9.9.9"), "version") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(h, "protocol")), 1, "protocol") ||
	    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(h, "role")) ?: "", role), "role") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(h, "uid")), getuid(), "uid"))
		goto out;
	copy = json_deep_copy(h);
	json_decref(m);
	/* The hello command says the same. */
	m = cl_call(&f, &c, "{\"id\":1,\"cmd\":\"hello\"}");
	if (!is_ok(m, NULL) ||
	    !ASSERT_TRUE(json_equal(json_object_get(m, "result"), copy),
			 "hello result"))
		goto out;
	rc = 0;
out:
	json_decref(copy);
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_ping_and_ids(void)
{
	static const char *const ids[] = { "1", "\"abc\"", "-5", "1.5",
					   "true", "false", "\"\"" };
	struct fx f;
	struct cl c = { .fd = -1 };
	char req[128];
	json_t *m = NULL, *want;
	size_t i;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "ping"), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	/* Every scalar id comes back exactly as sent. */
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		snprintf(req, sizeof(req), "{\"id\":%s,\"cmd\":\"ping\"}",
			 ids[i]);
		want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
		m = cl_call(&f, &c, req);
		if (!is_ok(m, want) ||
		    !ASSERT_TRUE(json_is_true(json_object_get(json_object_get(m, "result"), "pong")), "pong")) {
			json_decref(want);
			goto out;
		}
		json_decref(want);
		json_decref(m);
		m = NULL;
	}
	/* args null and {} are the same as none; unknown args refused. */
	if (!call_ok(&f, &c, "{\"id\":2,\"cmd\":\"ping\",\"args\":null}", 2) ||
	    !call_ok(&f, &c, "{\"args\":{},\"cmd\":\"ping\",\"id\":3}", 3))
		goto out;
	want = json_integer(4);
	if (!ASSERT_TRUE(call_err(&f, &c, "{\"id\":4,\"cmd\":\"ping\",\"args\":{\"x\":1}}",
				  API_ERR_BAD_ARGS, want), "ping with args")) {
		json_decref(want);
		goto out;
	}
	json_decref(want);
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_unknown_command(void)
{
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *id = json_string("u1");
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "unknown"), "fx_start"))
		goto out_id;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	if (!ASSERT_TRUE(call_err(&f, &c, "{\"id\":\"u1\",\"cmd\":\"vif.frobnicate\"}",
				  API_ERR_UNKNOWN_COMMAND, id), "unknown") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":\"u1\",\"cmd\":\"\"}",
				  API_ERR_UNKNOWN_COMMAND, id), "empty cmd") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":\"u1\",\"cmd\":\"PING\"}",
				  API_ERR_UNKNOWN_COMMAND, id), "names are case sensitive") ||
	    !call_ok(&f, &c, "{\"id\":5,\"cmd\":\"ping\"}", 5))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&f);
out_id:
	json_decref(id);
	return rc;
}

static int test_malformed_json(void)
{
	static const char *const bad[] = {
		"{nope",
		"{\"id\":1,\"cmd\":\"ping\"",       /* unterminated */
		"{\"id\":1,\"id\":2,\"cmd\":\"ping\"}", /* duplicate key */
		"{\"id\":1,\"cmd\":\"p\xff\xfe\"}",  /* not UTF-8 */
		"{\"id\":1,\"cmd\":\"ping\\u0000\"}", /* NUL in a string */
		"{} {}",                             /* two values */
		"{\"id\":99999999999999999999999,\"cmd\":\"ping\"}",
		"\x01\x02\x03",
	};
	static const char nul_line[] = "{\"id\":1,\0\"cmd\":\"ping\"}\n";
	struct fx f;
	struct cl c = { .fd = -1 };
	size_t i;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "badjson"), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (!ASSERT_TRUE(call_err(&f, &c, bad[i], API_ERR_BAD_JSON,
					  NULL), bad[i]))
			goto out;
	}
	/* A line with a NUL byte in it. */
	if (!ASSERT_OK(cl_send(&f, &c, nul_line, sizeof(nul_line) - 1),
		       "send NUL"))
		goto out;
	{
		json_t *m = cl_line(&f, &c, WAIT_MS);
		bool ok = is_err(m, API_ERR_BAD_JSON, NULL);

		json_decref(m);
		if (!ASSERT_TRUE(ok, "NUL byte"))
			goto out;
	}
	/* Blank lines get no answer: the next answer is the ping's. */
	if (!ASSERT_OK(cl_sends(&f, &c, "\n   \n\t\r\n"), "blank lines") ||
	    !call_ok(&f, &c, "{\"id\":6,\"cmd\":\"ping\"}", 6))
		goto out;
	if (!ASSERT_EQ(fx_clients(&f), 1, "still connected"))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_wrong_types(void)
{
	static const struct {
		const char *req;
		bool id_echoed;
	} cases[] = {
		{ "[1,2]", false },
		{ "\"ping\"", false },
		{ "42", false },
		{ "null", false },
		{ "{}", false },
		{ "{\"cmd\":\"ping\"}", false },
		{ "{\"id\":null,\"cmd\":\"ping\"}", false },
		{ "{\"id\":{},\"cmd\":\"ping\"}", false },
		{ "{\"id\":[1],\"cmd\":\"ping\"}", false },
		{ "{\"id\":7}", true },
		{ "{\"id\":7,\"cmd\":5}", true },
		{ "{\"id\":7,\"cmd\":null}", true },
		{ "{\"id\":7,\"cmd\":[\"ping\"]}", true },
		{ "{\"id\":7,\"cmd\":\"ping\",\"args\":[]}", true },
		{ "{\"id\":7,\"cmd\":\"ping\",\"args\":\"x\"}", true },
		{ "{\"id\":7,\"cmd\":\"ping\",\"args\":1}", true },
		{ "{\"id\":7,\"cmd\":\"ping\",\"arg\":{}}", true },
	};
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *seven = json_integer(7);
	size_t i;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "types"), "fx_start"))
		goto out_id;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!ASSERT_TRUE(call_err(&f, &c, cases[i].req,
					  API_ERR_BAD_REQUEST,
					  cases[i].id_echoed ? seven : NULL),
				 cases[i].req))
			goto out;
	}
	if (!ASSERT_EQ(f.calls, 0, "no handler ran") ||
	    !call_ok(&f, &c, "{\"id\":8,\"cmd\":\"ping\"}", 8))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&f);
out_id:
	json_decref(seven);
	return rc;
}

/* A request padded with blanks to exactly @len bytes, newline added. */
static char *padded_request(size_t len, int id)
{
	char head[64];
	size_t n = snprintf(head, sizeof(head), "{\"id\":%d,\"cmd\":\"ping\"}",
			    id);
	char *s = malloc(len + 2);

	if (!s)
		return NULL;
	memcpy(s, head, n);
	memset(s + n, ' ', len - n);
	s[len] = '\n';
	s[len + 1] = '\0';
	return s;
}

static int test_line_too_long(void)
{
	struct fx f;
	struct cl c = { .fd = -1 };
	static const char long_head[] =
		"{\"id\":1,\"cmd\":\"test.echo\",\"args\":{\"s\":\"";
	static const char ping9[] = "{\"id\":9,\"cmd\":\"ping\"}";
	size_t big = 2u << 20, at = big - 30;
	char *line = malloc(big + 1), *exact = NULL, *over = NULL;
	json_t *m = NULL, *id = json_integer(2);
	int rc = -1;

	if (!line || !ASSERT_OK(fx_start(&f, "toolong"), "fx_start"))
		goto out_free;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	/* 2 MiB of a plausible request that never ends, then a newline. */
	memset(line, 'x', big);
	memcpy(line, long_head, strlen(long_head));
	line[big] = '\n';
	if (!ASSERT_OK(cl_send(&f, &c, line, big + 1), "send 2 MiB"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_LINE_TOO_LONG, NULL), "2 MiB line"))
		goto out;
	json_decref(m);
	m = NULL;
	if (!ASSERT_EQ(f.calls, 0, "the long line ran nothing") ||
	    !call_ok(&f, &c, "{\"id\":3,\"cmd\":\"ping\"}", 3))
		goto out;

	/* The limit is exact: 1 MiB passes, 1 MiB + 1 does not. */
	exact = padded_request(API_LINE_MAX, 4);
	over = padded_request(API_LINE_MAX + 1, 5);
	if (!exact || !over ||
	    !ASSERT_OK(cl_sends(&f, &c, exact), "send exact"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	json_decref(id);
	id = json_integer(4);
	if (!ASSERT_TRUE(is_ok(m, id), "exactly 1 MiB is fine"))
		goto out;
	json_decref(m);
	m = NULL;
	if (!ASSERT_OK(cl_sends(&f, &c, over), "send over"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_LINE_TOO_LONG, NULL), "1 MiB + 1"))
		goto out;
	json_decref(m);
	m = NULL;

	/* Still usable, also with the long line and a request in one go. */
	line[at] = '\n';
	memcpy(line + at + 1, ping9, strlen(ping9));
	at += 1 + strlen(ping9);
	memset(line + at, ' ', big - at);
	if (!ASSERT_OK(cl_send(&f, &c, line, big + 1), "send long+ping"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_LINE_TOO_LONG, NULL), "long again"))
		goto out;
	json_decref(m);
	json_decref(id);
	id = json_integer(9);
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_ok(m, id), "ping after the long line"))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&f);
out_free:
	json_decref(m);
	json_decref(id);
	free(line);
	free(exact);
	free(over);
	return rc;
}

static int test_pipelined_and_split(void)
{
	enum { N = 300 };
	struct fx f;
	struct cl c = { .fd = -1 };
	char *all = malloc(N * 64), *p;
	const char *req = "{\"id\":\"split\",\"cmd\":\"test.echo\",\"args\":{\"k\":[1,2,3]}}\n";
	json_t *m = NULL, *want;
	size_t i;
	int rc = -1;

	if (!all || !ASSERT_OK(fx_start(&f, "pipe"), "fx_start"))
		goto out_free;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	/* N requests in one write: N answers, in order. */
	for (i = 0, p = all; i < N; i++)
		p += sprintf(p, "{\"id\":%zu,\"cmd\":\"%s\"}\n", i,
			     i % 3 ? "ping" : "test.echo");
	if (!ASSERT_OK(cl_send(&f, &c, all, p - all), "send batch"))
		goto out;
	for (i = 0; i < N; i++) {
		m = cl_line(&f, &c, WAIT_MS);
		want = json_integer(i);
		if (!ASSERT_TRUE(is_ok(m, want), "answer in order")) {
			json_decref(want);
			goto out;
		}
		json_decref(want);
		json_decref(m);
		m = NULL;
	}
	/* One request a byte at a time, the loop running in between. */
	for (i = 0; req[i]; i++) {
		if (!ASSERT_OK(cl_send(&f, &c, &req[i], 1), "send byte"))
			goto out;
		pump(&f, 1);
	}
	m = cl_line(&f, &c, WAIT_MS);
	want = json_string("split");
	if (!ASSERT_TRUE(is_ok(m, want), "split request answered") ||
	    !ASSERT_EQ(json_array_size(json_object_get(json_object_get(json_object_get(m, "result"), "args"), "k")), 3, "args intact")) {
		json_decref(want);
		goto out;
	}
	json_decref(want);
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&f);
out_free:
	json_decref(m);
	free(all);
	return rc;
}

/*
 * A client that sends and does not read: the server stops reading it
 * (instead of queueing without bound or dropping it), then serves every
 * answer, in order, once it reads again.
 */
static int test_backpressure(void)
{
	enum { N = 200, SIZE = 10000 };
	struct api_opts o;
	struct api_stats st;
	struct fx f;
	struct cl c = { .fd = -1 };
	char req[128];
	json_t *m = NULL, *want;
	int rc = -1, i;

	api_opts_init(&o);
	o.out_max = 64 * 1024;
	if (!ASSERT_OK(fx_start_opts(&f, "backpressure", &o, false), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	for (i = 0; i < N; i++) {
		snprintf(req, sizeof(req),
			 "{\"id\":%d,\"cmd\":\"test.big\",\"args\":{\"bytes\":%d}}\n",
			 i, SIZE);
		if (!ASSERT_OK(cl_sends(&f, &c, req), "send"))
			goto out;
	}
	pump(&f, 100);
	api_get_stats(f.api, &st);
	/* Paused: about out_max/2 queued, the socket full, the rest unread. */
	if (!ASSERT_TRUE(st.out_peak <= o.out_max / 2 + SIZE + 100, "queue bounded") ||
	    !ASSERT_TRUE(st.requests < N, "stopped reading") ||
	    !ASSERT_EQ(st.clients, 1, "not dropped"))
		goto out;
	for (i = 0; i < N; i++) {
		m = cl_line(&f, &c, WAIT_MS);
		want = json_integer(i);
		if (!ASSERT_TRUE(is_ok(m, want), "every answer, in order")) {
			json_decref(want);
			goto out;
		}
		json_decref(want);
		json_decref(m);
		m = NULL;
	}
	api_get_stats(f.api, &st);
	if (!ASSERT_EQ(st.requests, N, "all read in the end") ||
	    !ASSERT_EQ(st.dropped_slow, 0, "nobody dropped"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_vanish_mid_request(void)
{
	struct fx f;
	struct cl c = { .fd = -1 }, d = { .fd = -1 };
	json_t *m = NULL;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "vanreq"), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &c), "connect") ||
	    !ASSERT_OK(cl_open(&f, &d), "connect 2") ||
	    !pump_until_clients(&f, 2))
		goto out;
	/* Half a request, then gone: nothing runs, the client is freed. */
	if (!ASSERT_OK(cl_sends(&f, &c, "{\"id\":1,\"cmd\":\"test.echo\",\"ar"),
		       "send half"))
		goto out;
	pump(&f, 20);
	cl_close(&c);
	if (!pump_until_clients(&f, 1) ||
	    !ASSERT_EQ(f.calls, 0, "half a request ran nothing") ||
	    !call_ok(&f, &d, "{\"id\":2,\"cmd\":\"ping\"}", 2))
		goto out;

	/* Half a request, then shut: told why, then closed. */
	if (!ASSERT_OK(cl_open(&f, &c), "reconnect") ||
	    !ASSERT_OK(cl_sends(&f, &c, "{\"id\":3,\"cmd\":\"test.echo\"}\n{\"id\":4,\"cmd\""), "send"))
		goto out;
	shutdown(c.fd, SHUT_WR);
	m = cl_line(&f, &c, WAIT_MS);
	if (!call_ok(&f, &d, "{\"id\":5,\"cmd\":\"ping\"}", 5) ||
	    !ASSERT_TRUE(is_ok(m, NULL), "complete request answered"))
		goto out;
	json_decref(m);
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_BAD_REQUEST, NULL), "partial at EOF") ||
	    !ASSERT_EQ(cl_drain(&f, &c, NULL), 0, "then EOF") ||
	    !ASSERT_EQ(f.calls, 1, "only the complete request ran") ||
	    !pump_until_clients(&f, 1))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	cl_close(&d);
	fx_stop(&f);
	return rc;
}

static int test_vanish_mid_response(void)
{
	struct fx f;
	struct cl c = { .fd = -1 }, d = { .fd = -1 };
	int rc = -1, i;

	if (!ASSERT_OK(fx_start(&f, "vanresp"), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &c), "connect") ||
	    !ASSERT_OK(cl_open(&f, &d), "connect 2"))
		goto out;
	/* Four 3 MiB answers; read a little of the first, then vanish. */
	for (i = 0; i < 4; i++)
		if (!ASSERT_OK(cl_sends(&f, &c, "{\"id\":1,\"cmd\":\"test.big\",\"args\":{\"bytes\":3145728}}\n"), "send"))
			goto out;
	while (c.len < 1000 && !c.eof)
		if (!ASSERT_OK(cl_fill(&f, &c, WAIT_MS), "some of the answer"))
			goto out;
	cl_close(&c);
	if (!pump_until_clients(&f, 1) ||
	    !call_ok(&f, &d, "{\"id\":2,\"cmd\":\"ping\"}", 2))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	cl_close(&d);
	fx_stop(&f);
	return rc;
}

static int test_slow_subscriber(void)
{
	struct api_opts o;
	struct api_stats st;
	struct fx f;
	struct cl slow = { .fd = -1 }, fast = { .fd = -1 };
	json_t *m = NULL, *last = NULL;
	int64_t prev = 0;
	int rc = -1, i, lines = 0;

	api_opts_init(&o);
	o.out_max = 64 * 1024;
	if (!ASSERT_OK(fx_start_opts(&f, "slow", &o, true), "fx_start"))
		return -1;
	if (!ASSERT_OK(cl_open(&f, &slow), "connect slow") ||
	    !ASSERT_OK(cl_open(&f, &fast), "connect fast"))
		goto out;
	m = cl_call(&f, &slow, "{\"id\":1,\"cmd\":\"events.subscribe\"}");
	if (!ASSERT_TRUE(is_ok(m, NULL), "subscribe"))
		goto out;
	/* The slow one stops reading; events keep coming. */
	for (i = 0; i < 20000; i++) {
		if (!ASSERT_OK(tev_emit(f.api, &f.ev, "test.flood", 5, 100),
			       "broadcast"))
			goto out;
		loop_once(f.l, 0);
		api_get_stats(f.api, &st);
		if (st.dropped_slow)
			break;
		if (i % 100 == 0 &&
		    !call_ok(&f, &fast, "{\"id\":2,\"cmd\":\"ping\"}", 2))
			goto out;
	}
	if (!ASSERT_EQ(st.dropped_slow, 1, "slow subscriber dropped") ||
	    !ASSERT_TRUE(strstr(f.log, "Dropping control client"), "logged") ||
	    !call_ok(&f, &fast, "{\"id\":3,\"cmd\":\"ping\"}", 3))
		goto out;
	/* What it gets: whole lines, increasing seqs, the reason last. */
	for (;;) {
		json_decref(m);
		m = cl_line(&f, &slow, WAIT_MS);
		if (!m)
			break;
		lines++;
		json_decref(last);
		last = json_incref(m);
		if (json_object_get(m, "event")) {
			const json_t *ev = json_object_get(m, "event");
			int64_t seq = json_integer_value(json_object_get(ev, "seq"));

			if (!strcmp(json_string_value(json_object_get(ev, "type")) ?: "", "events.live"))
				continue;
			if (!ASSERT_TRUE(seq > prev, "seqs increase"))
				goto out;
			prev = seq;
		}
	}
	if (!ASSERT_TRUE(slow.eof, "slow client disconnected") ||
	    !ASSERT_TRUE(lines > 10, "it got events before") ||
	    !ASSERT_TRUE(is_err(last, API_ERR_SLOW_CONSUMER, NULL), "last line says why") ||
	    !pump_until_clients(&f, 1))
		goto out;
	/* The broadcast goes on for the others. */
	if (!ASSERT_OK(tev_emit(f.api, &f.ev, "test.after", 0, 0), "emit"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	json_decref(last);
	cl_close(&slow);
	cl_close(&fast);
	fx_stop(&f);
	return rc;
}

/* ---- roles: a child process with another uid ---- */

/* Blocking client for a forked child: a line, or NULL. */
static json_t *child_line(int fd, char *buf, size_t cap, size_t *len)
{
	char *nl;
	ssize_t n;
	json_t *m;

	for (;;) {
		nl = *len ? memchr(buf, '\n', *len) : NULL;
		if (nl) {
			m = json_loadb(buf, nl - buf, 0, NULL);
			*len -= nl - buf + 1;
			memmove(buf, nl + 1, *len);
			return m;
		}
		if (*len == cap)
			return NULL;
		n = recv(fd, buf + *len, cap - *len, 0);
		if (n <= 0)
			return NULL;
		*len += n;
	}
}

static const char *child_field(json_t *m, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(m, a), b)) ?: "";
}

/*
 * In the child: become uid/gid NOBODY with @groups, connect to @path and
 * check the role.  Exit 0 if all is as expected, else the failing step.
 */
static void child_roles(const char *path, const char *open_path,
			const gid_t *groups, int ngroups, bool want_admin)
{
	static const char reqs[] =
		"{\"id\":1,\"cmd\":\"test.admin\"}\n"
		"{\"id\":2,\"cmd\":\"test.echo\"}\n"
		"{\"id\":3,\"cmd\":\"test.admin\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char buf[65536];
	size_t len = 0;
	json_t *m;
	int fd;

	if (setgroups(ngroups, groups) || setgid(NOBODY) || setuid(NOBODY))
		_exit(10);
	/* The default 0660 root:root socket is closed to nobody. */
	if (open_path) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", open_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    errno != EACCES)
			_exit(11);
		close(fd);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(12);
	m = child_line(fd, buf, sizeof(buf), &len);
	if (strcmp(child_field(m, "hello", "role"),
		   want_admin ? "admin" : "read") ||
	    json_integer_value(json_object_get(json_object_get(m, "hello"), "uid")) != NOBODY)
		_exit(13);
	json_decref(m);
	if (send(fd, reqs, strlen(reqs), 0) != (ssize_t)strlen(reqs))
		_exit(14);
	m = child_line(fd, buf, sizeof(buf), &len);
	if (want_admin ? !json_is_true(json_object_get(m, "ok")) :
			 strcmp(child_field(m, "error", "code"),
				API_ERR_PERMISSION_DENIED))
		_exit(15);
	json_decref(m);
	/* Denied, yet still connected and served. */
	m = child_line(fd, buf, sizeof(buf), &len);
	if (!json_is_true(json_object_get(m, "ok")) ||
	    strcmp(json_string_value(json_object_get(json_object_get(m, "result"), "role")) ?: "",
		   want_admin ? "admin" : "read"))
		_exit(16);
	json_decref(m);
	m = child_line(fd, buf, sizeof(buf), &len);
	if (json_integer_value(json_object_get(m, "id")) != 3 ||
	    (!want_admin && strcmp(child_field(m, "error", "code"),
				   API_ERR_PERMISSION_DENIED)))
		_exit(17);
	json_decref(m);
	close(fd);
	_exit(0);
}

struct role_child {
	const char *path;      /* the server to talk to */
	const char *open_path; /* a 0660 root socket nobody must not open */
	const gid_t *groups;
	int ngroups;
	bool want_admin;
};

static void child_roles_fn(void *arg)
{
	const struct role_child *rc = arg;

	child_roles(rc->path, rc->open_path, rc->groups, rc->ngroups,
		    rc->want_admin);
}

/* Fork a child running @fn, pump the loop(s) until it exits. */
static int run_child(struct fx *f, struct fx *g, void (*fn)(void *),
		     void *arg)
{
	uint64_t end = loop_now_ms() + 15000;
	int status;
	pid_t pid, r;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fn(arg);
		_exit(99);
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (loop_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		loop_once(f->l, 2);
		if (g)
			loop_once(g->l, 0);
	}
	if (r < 0)
		return -errno;
	if (!WIFEXITED(status))
		return -EINTR;
	if (WEXITSTATUS(status))
		fprintf(stderr, "  roles child failed at step %d\n",
			WEXITSTATUS(status));
	return WEXITSTATUS(status);
}

static int test_roles(void)
{
	const gid_t admin_group[] = { TEST_GID };
	struct role_child nobody, member;
	struct api_opts o;
	struct fx f, g;
	struct cl c = { .fd = -1 };
	int rc = -1;

	if (getuid() != 0) {
		fprintf(stderr, "  test_roles: needs root (setuid to nobody)\n");
		return TEST_SKIP;
	}
	api_opts_init(&o);
	o.admin_gid = TEST_GID;
	if (!ASSERT_OK(fx_start_opts(&f, "roles", &o, true), "fx_start"))
		return -1;
	/* A second server with the default mode, 0660 root:root. */
	api_opts_init(&o);
	o.mode = API_SOCKET_MODE_DEFAULT;
	if (!ASSERT_OK(fx_start_opts(&g, "roles-closed", &o, false),
		       "fx_start closed"))
		goto out_f;
	nobody = (struct role_child){ f.path, g.path, NULL, 0, false };
	member = (struct role_child){ f.path, NULL, admin_group, 1, true };
	/* root is admin. */
	if (!ASSERT_OK(cl_open(&f, &c), "connect") ||
	    !call_ok(&f, &c, "{\"id\":1,\"cmd\":\"test.admin\"}", 1))
		goto out;
	/* nobody: read-only, denied the admin command, served the rest. */
	if (!ASSERT_EQ(run_child(&f, &g, child_roles_fn, &nobody), 0,
		       "nobody is read-only"))
		goto out;
	/* nobody in the admin group (supplementary): admin. */
	if (!ASSERT_EQ(run_child(&f, NULL, child_roles_fn, &member), 0,
		       "admin group member is admin") ||
	    !ASSERT_EQ(f.calls, 5, "handlers ran only where allowed"))
		goto out;
	rc = 0;
out:
	cl_close(&c);
	fx_stop(&g);
out_f:
	fx_stop(&f);
	return rc;
}

/* ---- events ---- */

/* Read events until events.live; check seqs and return how many. */
static int read_until_live(struct fx *f, struct cl *c, int64_t *prev,
			   int64_t *live_last, json_t **gap)
{
	const json_t *ev;
	const char *type;
	json_t *m;
	int n = 0;

	for (;;) {
		m = cl_line(f, c, WAIT_MS);
		ev = json_object_get(m, "event");
		if (!ev) {
			dump("want an event, got", m);
			json_decref(m);
			return -1;
		}
		type = json_string_value(json_object_get(ev, "type")) ?: "";
		if (!strcmp(type, "events.live")) {
			*live_last = json_integer_value(json_object_get(ev, "last"));
			json_decref(m);
			return n;
		}
		if (!strcmp(type, "events.gap")) {
			if (gap && !*gap) {
				*gap = json_incref((json_t *)ev);
			} else {
				json_decref(m);
				return -1;
			}
		} else {
			int64_t seq = json_integer_value(json_object_get(ev, "seq"));

			if (seq != *prev + 1 && !(gap && *gap)) {
				fprintf(stderr, "  seq %lld after %lld\n",
					(long long)seq, (long long)*prev);
				json_decref(m);
				return -1;
			}
			if (json_integer_value(json_object_get(json_object_get(ev, "data"), "n")) != seq) {
				dump("data does not match seq", ev);
				json_decref(m);
				return -1;
			}
			*prev = seq;
			n++;
		}
		json_decref(m);
	}
}

static int test_events_replay_live(void)
{
	struct fx f;
	struct cl c = { .fd = -1 }, d = { .fd = -1 };
	json_t *m = NULL, *res, *seven = json_integer(7);
	int64_t prev = 10, live = 0, seq;
	const json_t *ev;
	int rc = -1, i;

	if (!ASSERT_OK(fx_start(&f, "events"), "fx_start"))
		goto out_id;
	for (i = 0; i < 50; i++)
		tev_add(&f.ev, "vif.state", 100 + i, 20);
	if (!ASSERT_OK(cl_open(&f, &c), "connect") ||
	    !ASSERT_OK(cl_open(&f, &d), "connect 2"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":7,\"cmd\":\"events.subscribe\",\"args\":{\"since\":10}}");
	res = json_object_get(m, "result");
	if (!ASSERT_TRUE(is_ok(m, seven), "subscribe answered first") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(res, "first")), 1, "first") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(res, "last")), 50, "last"))
		goto out;
	json_decref(m);
	m = NULL;
	if (!ASSERT_EQ(read_until_live(&f, &c, &prev, &live, NULL), 40,
		       "replayed 11..50") ||
	    !ASSERT_EQ(live, 50, "live marker"))
		goto out;
	/* Live: broadcasts arrive with their fields, seqs increasing. */
	for (i = 0; i < 3; i++) {
		if (!ASSERT_OK(tev_emit(f.api, &f.ev, "gateway.state", 101, 5),
			       "emit"))
			goto out;
		m = cl_line(&f, &c, WAIT_MS);
		ev = json_object_get(m, "event");
		seq = json_integer_value(json_object_get(ev, "seq"));
		if (!ASSERT_EQ(seq, 51 + i, "live seq") ||
		    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(ev, "type")) ?: "", "gateway.state"), "type") ||
		    !ASSERT_EQ(json_integer_value(json_object_get(ev, "vlan")), 101, "vlan") ||
		    !ASSERT_EQ(json_integer_value(json_object_get(ev, "at")), 1700000000 + seq, "at") ||
		    !ASSERT_EQ(json_integer_value(json_object_get(json_object_get(ev, "data"), "n")), seq, "data"))
			goto out;
		json_decref(m);
		m = NULL;
	}
	if (!ASSERT_EQ(api_broadcast_event(f.api, 0, "x", 0, 0, NULL), -EINVAL, "seq 0") ||
	    !ASSERT_EQ(api_broadcast_event(f.api, 70, "", 0, 0, NULL), -EINVAL, "no type"))
		goto out;
	/* A seq already delivered is not sent again; vlan 0 is null. */
	if (!ASSERT_OK(api_broadcast_event(f.api, 52, "dup", 0, 0, NULL), "dup") ||
	    !ASSERT_OK(api_broadcast_event(f.api, 60, "global", 0, 1, NULL), "global"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	ev = json_object_get(m, "event");
	if (!ASSERT_EQ(json_integer_value(json_object_get(ev, "seq")), 60, "dup skipped") ||
	    !ASSERT_TRUE(json_is_null(json_object_get(ev, "vlan")), "vlan null") ||
	    !ASSERT_EQ(json_object_size(json_object_get(ev, "data")), 0, "data {}"))
		goto out;
	json_decref(m);
	m = NULL;
	/* A client that did not subscribe gets no events. */
	if (!ASSERT_TRUE(call_ok_raw(&f, &d, "{\"id\":1,\"cmd\":\"ping\"}", 1),
			 "no events for others"))
		goto out;
	/* Twice on one connection: CONFLICT; unsubscribe stops the flow. */
	if (!ASSERT_TRUE(call_err(&f, &c, "{\"id\":7,\"cmd\":\"events.subscribe\"}",
				  API_ERR_CONFLICT, seven), "subscribed twice") ||
	    !call_ok(&f, &c, "{\"id\":8,\"cmd\":\"events.unsubscribe\"}", 8) ||
	    !ASSERT_OK(tev_emit(f.api, &f.ev, "after", 0, 0), "emit") ||
	    !ASSERT_TRUE(call_ok_raw(&f, &c, "{\"id\":9,\"cmd\":\"ping\"}", 9),
			 "nothing after unsubscribe"))
		goto out;
	/* Subscribing without since: the marker, then only new events. */
	m = cl_call(&f, &d, "{\"id\":2,\"cmd\":\"events.subscribe\"}");
	if (!ASSERT_TRUE(is_ok(m, NULL), "live subscribe"))
		goto out;
	json_decref(m);
	prev = live = 0;
	if (!ASSERT_EQ(read_until_live(&f, &d, &prev, &live, NULL), 0, "no replay") ||
	    !ASSERT_EQ(live, f.ev.last, "marker says where live starts") ||
	    !ASSERT_OK(tev_emit(f.api, &f.ev, "new", 0, 0), "emit"))
		goto out;
	m = cl_line(&f, &d, WAIT_MS);
	if (!ASSERT_EQ(json_integer_value(json_object_get(json_object_get(m, "event"), "seq")), f.ev.last, "new event"))
		goto out;
	json_decref(m);
	m = NULL;
	/* Emitting from inside a handler reaches the asker too, first. */
	if (!ASSERT_OK(cl_sends(&f, &d, "{\"id\":3,\"cmd\":\"test.emit\"}\n"), "send"))
		goto out;
	m = cl_line(&f, &d, WAIT_MS);
	if (!ASSERT_TRUE(!strcmp(json_string_value(json_object_get(json_object_get(m, "event"), "type")) ?: "", "test.emitted"), "own event"))
		goto out;
	json_decref(m);
	m = cl_line(&f, &d, WAIT_MS);
	if (!ASSERT_TRUE(is_ok(m, NULL), "emit from handler"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	cl_close(&d);
	fx_stop(&f);
out_id:
	json_decref(seven);
	return rc;
}

/* A long history through a small queue: paced, complete, in order. */
static int test_events_replay_paced(void)
{
	enum { N = 3000 };
	struct api_opts o;
	struct api_stats st;
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *m = NULL;
	int64_t prev = 0, seq;
	const json_t *ev;
	const char *type;
	int rc = -1, i, n = 0;

	api_opts_init(&o);
	o.out_max = 32 * 1024;
	if (!ASSERT_OK(fx_start_opts(&f, "paced", &o, true), "fx_start"))
		return -1;
	for (i = 0; i < N; i++)
		tev_add(&f.ev, "vif.state", 5, 100);
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":0}}");
	if (!ASSERT_TRUE(is_ok(m, NULL), "subscribe"))
		goto out;
	for (;;) {
		json_decref(m);
		m = cl_line(&f, &c, WAIT_MS);
		ev = json_object_get(m, "event");
		if (!ASSERT_TRUE(ev, "an event"))
			goto out;
		type = json_string_value(json_object_get(ev, "type")) ?: "";
		if (!strcmp(type, "events.live"))
			break;
		seq = json_integer_value(json_object_get(ev, "seq"));
		if (!ASSERT_EQ(seq, prev + 1, "in order, none missing"))
			goto out;
		prev = seq;
		n++;
		/* New events while it is still catching up: no dups. */
		if (n == 100 || n == 2000)
			for (i = 0; i < 5; i++)
				if (!ASSERT_OK(tev_emit(f.api, &f.ev, "vif.state", 5, 100), "emit"))
					goto out;
	}
	api_get_stats(f.api, &st);
	if (!ASSERT_EQ(n, N + 10, "every event once") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(ev, "last")), N + 10, "live marker") ||
	    !ASSERT_EQ(st.dropped_slow, 0, "replay is paced, not dropped") ||
	    !ASSERT_TRUE(st.out_peak <= o.out_max, "replay kept the queue under the cap"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_events_gap(void)
{
	struct fx f, g;
	struct cl c = { .fd = -1 }, d = { .fd = -1 };
	json_t *m = NULL, *gap = NULL, *one = json_integer(1);
	int64_t prev = 0, live = 0;
	int rc = -1, i;

	if (!ASSERT_OK(fx_start(&f, "gap"), "fx_start"))
		goto out_one;
	if (!ASSERT_OK(fx_start_opts(&g, "nohistory", NULL, false), "fx_start g"))
		goto out_f;
	for (i = 0; i < 150; i++)
		tev_add(&f.ev, "vif.state", 9, 10);
	tev_prune(&f.ev, 51); /* 100..150 retained */
	if (!ASSERT_OK(cl_open(&f, &c), "connect") ||
	    !ASSERT_OK(cl_open(&g, &d), "connect g"))
		goto out;
	/* Bad since values first. */
	if (!ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":151}}", API_ERR_BAD_ARGS, one), "since ahead") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":-1}}", API_ERR_BAD_ARGS, one), "negative") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":\"5\"}}", API_ERR_BAD_ARGS, one), "string") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":5.0}}", API_ERR_BAD_ARGS, one), "real") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"from\":5}}", API_ERR_BAD_ARGS, one), "unknown arg") ||
	    !ASSERT_TRUE(call_err(&g, &d, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":0}}", API_ERR_UNAVAILABLE, one), "no history"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":2,\"cmd\":\"events.subscribe\",\"args\":{\"since\":10}}");
	if (!ASSERT_TRUE(is_ok(m, NULL), "subscribe") ||
	    !ASSERT_EQ(read_until_live(&f, &c, &prev, &live, &gap), 51, "retained ones") ||
	    !ASSERT_TRUE(gap, "gap event") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(gap, "from")), 11, "gap from") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(gap, "to")), 99, "gap to") ||
	    !ASSERT_TRUE(!json_object_get(gap, "seq"), "gap has no seq") ||
	    !ASSERT_EQ(prev, 150, "up to the newest") ||
	    !ASSERT_EQ(live, 150, "live at 150"))
		goto out;
	/* since = first - 1 is no gap; a failing history drops the client. */
	cl_close(&c);
	json_decref(gap);
	gap = NULL;
	json_decref(m);
	prev = 99;
	if (!ASSERT_OK(cl_open(&f, &c), "reconnect"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":3,\"cmd\":\"events.subscribe\",\"args\":{\"since\":99}}");
	if (!ASSERT_TRUE(is_ok(m, NULL), "subscribe 99") ||
	    !ASSERT_EQ(read_until_live(&f, &c, &prev, &live, &gap), 51, "no gap") ||
	    !ASSERT_TRUE(!gap, "really no gap"))
		goto out;
	json_decref(m);
	m = NULL;
	cl_close(&c);
	f.ev.fail = true;
	if (!ASSERT_OK(cl_open(&f, &c), "reconnect 2") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"events.subscribe\",\"args\":{\"since\":0}}", API_ERR_INTERNAL, one), "history unreadable"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	json_decref(gap);
	cl_close(&c);
	cl_close(&d);
	fx_stop(&g);
out_f:
	fx_stop(&f);
out_one:
	json_decref(one);
	return rc;
}

/* ---- async handlers ---- */

static int test_async(void)
{
	struct api_error e = {};
	struct api_stats st;
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *m = NULL, *id = json_string("late");
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "async"), "fx_start"))
		goto out_id;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	/* Deferred: later requests are answered first. */
	if (!ASSERT_OK(cl_sends(&f, &c, "{\"id\":\"late\",\"cmd\":\"test.later\"}\n"), "send") ||
	    !call_ok(&f, &c, "{\"id\":1,\"cmd\":\"ping\"}", 1) ||
	    !ASSERT_EQ(f.npending, 1, "deferred") ||
	    !ASSERT_TRUE(api_pending_alive(f.pending[0]), "alive"))
		goto out;
	api_get_stats(f.api, &st);
	if (!ASSERT_EQ(st.pending, 1, "stats pending") ||
	    !ASSERT_OK(api_reply(f.pending[0], json_pack("{s:i}", "x", 42), NULL), "reply"))
		goto out;
	f.npending = 0;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_ok(m, id), "late answer, same id") ||
	    !ASSERT_EQ(json_integer_value(json_object_get(json_object_get(m, "result"), "x")), 42, "result"))
		goto out;
	json_decref(m);
	/* An error, with details, later. */
	if (!ASSERT_OK(cl_sends(&f, &c, "{\"id\":\"late\",\"cmd\":\"test.later\"}\n"), "send 2"))
		goto out;
	pump(&f, 20);
	api_error_set(&e, API_ERR_APPLY_FAILED, "verify of item %s failed", "b");
	e.details = json_pack("{s:s}", "item", "b");
	if (!ASSERT_EQ(f.npending, 1, "deferred 2") ||
	    !ASSERT_OK(api_reply(f.pending[0], NULL, &e), "reply error"))
		goto out;
	f.npending = 0;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_APPLY_FAILED, id), "late error") ||
	    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(json_object_get(json_object_get(m, "error"), "details"), "item")) ?: "", "b"), "details"))
		goto out;
	json_decref(m);
	m = NULL;
	/* Answered through the handle inside the handler itself. */
	if (!call_ok(&f, &c, "{\"id\":2,\"cmd\":\"test.now\"}", 2) ||
	    !call_ok(&f, &c, "{\"id\":3,\"cmd\":\"ping\"}", 3))
		goto out;

	/* The client vanishes before the answer: dropped, nothing leaks. */
	if (!ASSERT_OK(cl_sends(&f, &c, "{\"id\":\"late\",\"cmd\":\"test.later\"}\n"), "send 3"))
		goto out;
	while (!f.npending && cl_fill(&f, &c, 10) == -ETIMEDOUT)
		;
	cl_close(&c);
	if (!pump_until_clients(&f, 0) ||
	    !ASSERT_TRUE(!api_pending_alive(f.pending[0]), "not alive") ||
	    !ASSERT_EQ(api_reply(f.pending[0], json_object(), NULL), -ENOTCONN, "reply to the vanished"))
		goto out;
	f.npending = 0;
	api_get_stats(f.api, &st);
	if (!ASSERT_EQ(st.pending, 0, "none pending"))
		goto out;

	/* Half-closed client: kept open until its deferred answer. */
	if (!ASSERT_OK(cl_open(&f, &c), "reconnect") ||
	    !ASSERT_OK(cl_sends(&f, &c, "{\"id\":\"late\",\"cmd\":\"test.later\"}\n"), "send 4"))
		goto out;
	shutdown(c.fd, SHUT_WR);
	pump(&f, 50);
	if (!ASSERT_EQ(f.npending, 1, "deferred 4") ||
	    !ASSERT_EQ(fx_clients(&f), 1, "kept open for the answer") ||
	    !ASSERT_OK(api_reply(f.pending[0], NULL, NULL), "reply 4"))
		goto out;
	f.npending = 0;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_ok(m, id), "answer after shutdown") ||
	    !ASSERT_EQ(cl_drain(&f, &c, NULL), 0, "then closed"))
		goto out;
	json_decref(m);
	m = NULL;
	cl_close(&c);

	/* The server goes first: the handle stays safe to use. */
	if (!ASSERT_OK(cl_open(&f, &c), "reconnect 2") ||
	    !ASSERT_OK(cl_sends(&f, &c, "{\"id\":\"late\",\"cmd\":\"test.later\"}\n"), "send 5"))
		goto out;
	while (!f.npending && cl_fill(&f, &c, 10) == -ETIMEDOUT)
		;
	if (!ASSERT_EQ(f.npending, 1, "deferred 5"))
		goto out;
	api_free(f.api);
	f.api = NULL;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_SHUTTING_DOWN, NULL), "farewell") ||
	    !ASSERT_EQ(api_reply(f.pending[0], json_object(), NULL), -ENOTCONN, "reply after api_free"))
		goto out;
	f.npending = 0;
	rc = 0;
out:
	api_error_clear(&e);
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
out_id:
	json_decref(id);
	return rc;
}

static int test_handler_errors(void)
{
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *m = NULL, *id = json_integer(1);
	const json_t *e;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "herr"), "fx_start"))
		goto out_id;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	if (!ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.fail\",\"args\":{\"mode\":\"notfound\"}}", API_ERR_NOT_FOUND, id), "handler's code") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.fail\",\"args\":{\"mode\":\"errno\"}}", API_ERR_BUSY, id), "code from errno") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.fail\",\"args\":{\"mode\":\"badpending\"}}", API_ERR_INTERNAL, id), "pending without defer") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.fail\",\"args\":{\"mode\":\"mixed\"}}", API_ERR_INTERNAL, id), "error wins over result") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.big\",\"args\":{}}", API_ERR_BAD_ARGS, id), "missing arg") ||
	    !ASSERT_TRUE(call_err(&f, &c, "{\"id\":1,\"cmd\":\"test.big\",\"args\":{\"bytes\":\"1\"}}", API_ERR_BAD_ARGS, id), "wrong type arg"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":1,\"cmd\":\"test.fail\",\"args\":{\"mode\":\"details\"}}");
	e = json_object_get(json_object_get(m, "error"), "details");
	if (!ASSERT_TRUE(is_err(m, API_ERR_CONFLICT, id), "details code") ||
	    !ASSERT_EQ(json_array_size(json_object_get(e, "stranded")), 2, "details sent"))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
out_id:
	json_decref(id);
	return rc;
}

/* ---- the socket file ---- */

static bool path_is_socket(const char *path, mode_t *mode)
{
	struct stat st;

	if (lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return false;
	if (mode)
		*mode = st.st_mode & 07777;
	return true;
}

static int test_socket_file(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[108], dir[64], longp[200];
	struct api_opts o;
	struct stat st;
	struct loop *l = NULL;
	struct api *api = NULL, *api2 = NULL;
	struct fx f;
	struct cl c = { .fd = -1 };
	mode_t mode;
	int fd = -1, rc = -1;

	if (!ASSERT_OK(loop_new(&l), "loop"))
		return -1;
	api_opts_init(&o);
	/* Missing parent directories are made 0755; default mode 0660. */
	snprintf(dir, sizeof(dir), "%s/run/vifd", tmpdir);
	snprintf(path, sizeof(path), "%s/vifd.sock", dir);
	o.path = path;
	if (!ASSERT_OK(api_new(l, &o, &api), "api_new") ||
	    !ASSERT_OK(stat(dir, &st), "dir made") ||
	    !ASSERT_EQ(st.st_mode & 07777, 0755, "dir mode") ||
	    !ASSERT_TRUE(path_is_socket(path, &mode), "socket made") ||
	    !ASSERT_EQ(mode, 0660, "socket mode"))
		goto out;
	/* Another server on the same path while one listens: refused. */
	if (!ASSERT_EQ(api_new(l, &o, &api2), -EADDRINUSE, "second server") ||
	    !ASSERT_TRUE(api2 == NULL, "no half server") ||
	    !ASSERT_TRUE(path_is_socket(path, NULL), "first socket kept"))
		goto out;
	/* ... and the first still serves. */
	f = (struct fx){ .l = l };
	snprintf(f.path, sizeof(f.path), "%s", path);
	if (!ASSERT_OK(cl_open(&f, &c), "first still serves"))
		goto out;
	cl_close(&c);
	/* api_free removes the socket. */
	api_free(api);
	api = NULL;
	if (!ASSERT_TRUE(access(path, F_OK) && errno == ENOENT, "socket removed"))
		goto out;

	/* A stale socket (a crashed vifd's) is replaced. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (!ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), "stale bind"))
		goto out;
	close(fd);
	fd = -1;
	if (!ASSERT_OK(api_new(l, &o, &api), "over a stale socket") ||
	    !ASSERT_OK(cl_open(&f, &c), "serving"))
		goto out;
	cl_close(&c);
	api_free(api);
	api = NULL;

	/* Not a socket: refused, left alone. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (!ASSERT_TRUE(fd >= 0, "regular file") ||
	    !ASSERT_EQ(write(fd, "keep", 4), 4, "write"))
		goto out;
	close(fd);
	fd = -1;
	if (!ASSERT_EQ(api_new(l, &o, &api), -EEXIST, "regular file refused") ||
	    !ASSERT_OK(stat(path, &st), "file kept") ||
	    !ASSERT_EQ(st.st_size, 4, "file intact"))
		goto out;
	unlink(path);

	/* Group ownership, when asked (root can chown to any group). */
	if (getuid() == 0) {
		o.sock_gid = TEST_GID;
		if (!ASSERT_OK(api_new(l, &o, &api), "with group") ||
		    !ASSERT_OK(stat(path, &st), "stat") ||
		    !ASSERT_EQ(st.st_gid, TEST_GID, "socket group"))
			goto out;
		api_free(api);
		api = NULL;
		o.sock_gid = (gid_t)-1;
	}

	/* Bad paths. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	o.path = longp;
	if (!ASSERT_EQ(api_new(l, &o, &api), -EINVAL, "path too long"))
		goto out;
	o.path = "";
	if (!ASSERT_EQ(api_new(l, &o, &api), -EINVAL, "empty path"))
		goto out;
	snprintf(path, sizeof(path), "%s/plain", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (!ASSERT_TRUE(fd >= 0, "plain file"))
		goto out;
	close(fd);
	fd = -1;
	snprintf(path, sizeof(path), "%s/plain/x.sock", dir);
	o.path = path;
	if (!ASSERT_EQ(api_new(l, &o, &api), -ENOTDIR, "parent not a dir"))
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	cl_close(&c);
	api_free(api);
	api_free(api2);
	loop_free(l);
	return rc;
}

/* In a child: as nobody, connect and expect to be turned away. */
static void child_refused_fn(void *arg)
{
	const char *path = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char buf[4096];
	size_t len = 0;
	json_t *m;
	int fd;

	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		_exit(10);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(11);
	m = child_line(fd, buf, sizeof(buf), &len);
	if (strcmp(child_field(m, "error", "code"), API_ERR_TOO_MANY_CLIENTS))
		_exit(12);
	json_decref(m);
	_exit(0);
}

static int test_max_clients(void)
{
	enum { MAX = 2 };
	bool root = getuid() == 0;
	/* root is an admin and may use the reserve. */
	unsigned int limit = MAX + (root ? API_ADMIN_RESERVE : 0), i;
	struct api_opts o;
	struct api_stats st;
	struct fx f;
	struct cl a[MAX + API_ADMIN_RESERVE], c = { .fd = -1 };
	json_t *m = NULL;
	int rc = -1;

	memset(a, 0, sizeof(a));
	for (i = 0; i < ARRAY_SIZE(a); i++)
		a[i].fd = -1;
	api_opts_init(&o);
	o.max_clients = MAX;
	if (!ASSERT_OK(fx_start_opts(&f, "max", &o, false), "fx_start"))
		return -1;
	for (i = 0; i < MAX; i++)
		if (!ASSERT_OK(cl_open(&f, &a[i]), "within max_clients"))
			goto out;
	/* Full for read-only users, but root still gets in. */
	if (root && !ASSERT_EQ(run_child(&f, NULL, child_refused_fn, f.path),
			       0, "read-only user refused when full"))
		goto out;
	for (; i < limit; i++)
		if (!ASSERT_OK(cl_open(&f, &a[i]), "admin reserve"))
			goto out;
	if (!ASSERT_OK(cl_open_path(&c, f.path), "one more connects"))
		goto out;
	m = cl_line(&f, &c, WAIT_MS);
	if (!ASSERT_TRUE(is_err(m, API_ERR_TOO_MANY_CLIENTS, NULL), "refused") ||
	    !ASSERT_EQ(cl_drain(&f, &c, NULL), 0, "closed"))
		goto out;
	api_get_stats(f.api, &st);
	if (!ASSERT_EQ(st.refused, root ? 2 : 1, "counted") ||
	    !ASSERT_TRUE(strstr(f.log, "Refusing control client"), "logged") ||
	    !call_ok(&f, &a[0], "{\"id\":1,\"cmd\":\"ping\"}", 1))
		goto out;
	cl_close(&c);
	cl_close(&a[0]);
	if (!pump_until_clients(&f, limit - 1) ||
	    !ASSERT_OK(cl_open(&f, &c), "room again") ||
	    !call_ok(&f, &c, "{\"id\":2,\"cmd\":\"ping\"}", 2))
		goto out;
	rc = 0;
out:
	json_decref(m);
	for (i = 0; i < ARRAY_SIZE(a); i++)
		cl_close(&a[i]);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int dummy(void *ctx, struct api_client *c, const json_t *args,
		 json_t **result, struct api_error *err)
{
	return 0;
}

static int test_registry(void)
{
	struct fx f;
	struct cl c = { .fd = -1 };
	json_t *m = NULL;
	const json_t *list, *e;
	const char *prev = "";
	bool seen_admin = false;
	size_t i;
	int rc = -1;

	if (!ASSERT_OK(fx_start(&f, "registry"), "fx_start"))
		return -1;
	if (!ASSERT_EQ(api_register(f.api, "test.echo", API_ROLE_READ, dummy, NULL), -EEXIST, "duplicate") ||
	    !ASSERT_EQ(api_register(f.api, "ping", API_ROLE_READ, dummy, NULL), -EEXIST, "built-in") ||
	    !ASSERT_EQ(api_register(f.api, "events.subscribe", API_ROLE_ADMIN, dummy, NULL), -EEXIST, "built-in 2") ||
	    !ASSERT_EQ(api_register(f.api, "Vif List", API_ROLE_READ, dummy, NULL), -EINVAL, "bad name") ||
	    !ASSERT_EQ(api_register(f.api, "", API_ROLE_READ, dummy, NULL), -EINVAL, "empty name") ||
	    !ASSERT_EQ(api_register(f.api, "a.b", 7, dummy, NULL), -EINVAL, "bad role") ||
	    !ASSERT_EQ(api_register(f.api, "a.b", API_ROLE_READ, NULL, NULL), -EINVAL, "no handler") ||
	    !ASSERT_OK(api_register(f.api, "aaa.first", API_ROLE_READ, dummy, NULL), "sorts first"))
		goto out;
	if (!ASSERT_OK(cl_open(&f, &c), "connect"))
		goto out;
	m = cl_call(&f, &c, "{\"id\":1,\"cmd\":\"commands\"}");
	list = json_object_get(json_object_get(m, "result"), "commands");
	if (!ASSERT_EQ(json_array_size(list), 13, "5 built-ins + 8"))
		goto out;
	json_array_foreach(list, i, e) {
		const char *name = json_string_value(json_object_get(e, "cmd")) ?: "";
		const char *role = json_string_value(json_object_get(e, "role")) ?: "";

		if (!ASSERT_TRUE(strcmp(prev, name) < 0, "sorted"))
			goto out;
		if (!strcmp(name, "test.admin"))
			seen_admin = !strcmp(role, "admin");
		prev = name;
	}
	if (!ASSERT_TRUE(seen_admin, "roles listed") ||
	    !call_ok(&f, &c, "{\"id\":2,\"cmd\":\"aaa.first\"}", 2))
		goto out;
	rc = 0;
out:
	json_decref(m);
	cl_close(&c);
	fx_stop(&f);
	return rc;
}

static int test_arg_helpers(void)
{
	struct api_error e = {};
	const char *s = NULL;
	int64_t n = -7;
	bool b = false;
	json_t *a = json_loads("{\"name\":\"tor\",\"vlan\":101,\"big\":5000,\"on\":true,\"real\":1.0,\"nul\":\"a\\u0000b\",\"empty\":\"\",\"none\":null}",
			       JSON_ALLOW_NUL, NULL);
	int rc = -1;

	if (!ASSERT_TRUE(a, "fixture"))
		return -1;
	if (!ASSERT_OK(api_args_only(a, &e, "name", "vlan", "big", "on", "real", "nul", "empty", "none", NULL), "all allowed") ||
	    !ASSERT_EQ(api_args_only(a, &e, "name", NULL), -EINVAL, "unknown") ||
	    !ASSERT_TRUE(!strcmp(e.code, API_ERR_BAD_ARGS) && strstr(e.message, "allowed: name"), "message") ||
	    !ASSERT_OK(api_arg_str(a, "name", true, 31, &s, &e), "str") ||
	    !ASSERT_TRUE(s && !strcmp(s, "tor"), "str value") ||
	    !ASSERT_EQ(api_arg_str(a, "name", true, 2, &s, &e), -EINVAL, "too long") ||
	    !ASSERT_EQ(api_arg_str(a, "nul", true, 0, &s, &e), -EINVAL, "NUL inside") ||
	    !ASSERT_EQ(api_arg_str(a, "empty", true, 0, &s, &e), -EINVAL, "empty") ||
	    !ASSERT_EQ(api_arg_str(a, "vlan", true, 0, &s, &e), -EINVAL, "not a string") ||
	    !ASSERT_EQ(api_arg_str(a, "missing", true, 0, &s, &e), -EINVAL, "missing") ||
	    !ASSERT_TRUE(strstr(e.message, "missing argument \"missing\""), "missing message") ||
	    !ASSERT_OK(api_arg_int(a, "none", false, 0, 10, &n, &e), "null optional") ||
	    !ASSERT_EQ(n, -7, "untouched") ||
	    !ASSERT_OK(api_arg_int(a, "vlan", true, 2, 4093, &n, &e), "int") ||
	    !ASSERT_EQ(n, 101, "int value") ||
	    !ASSERT_EQ(api_arg_int(a, "big", true, 2, 4093, &n, &e), -EINVAL, "range") ||
	    !ASSERT_EQ(api_arg_int(a, "real", true, 0, 10, &n, &e), -EINVAL, "real") ||
	    !ASSERT_OK(api_arg_bool(a, "on", true, &b, &e), "bool") ||
	    !ASSERT_TRUE(b, "bool value") ||
	    !ASSERT_EQ(api_arg_bool(a, "vlan", true, &b, &e), -EINVAL, "not bool") ||
	    !ASSERT_TRUE(!strcmp(api_errno_code(-ENOENT), API_ERR_NOT_FOUND) &&
			 !strcmp(api_errno_code(-EEXIST), API_ERR_CONFLICT) &&
			 !strcmp(api_errno_code(-EBUSY), API_ERR_BUSY) &&
			 !strcmp(api_errno_code(-EPERM),
				 API_ERR_PERMISSION_DENIED) &&
			 !strcmp(api_errno_code(-EINVAL), API_ERR_BAD_ARGS) &&
			 !strcmp(api_errno_code(-EIO), API_ERR_INTERNAL), "errno codes"))
		goto out;
	rc = 0;
out:
	api_error_clear(&e);
	json_decref(a);
	return rc;
}

/* ---- vifctl against canned handlers (PROTOCOL.md shapes) ---- */

static const char vif_list_json[] =
	"{\"vifs\":["
	"{\"name\":\"tor\",\"vlan\":101,\"state\":\"ACTIVE\",\"error\":null,\"ifname\":\"vp101-tor\",\"peer_ifname\":\"vs101-tor\",\"netns\":\"tor\",\"subnet\":\"10.100.101.0/24\",\"svc_addr\":\"10.100.101.1\",\"gw_addr\":\"10.100.101.254\",\"mark\":65637,\"table\":1101,\"next_hop\":{\"name\":\"sb\",\"vlan\":102},"
	"\"gateway\":{\"type\":\"socks5\",\"tun\":\"tun-tor\",\"addr\":\"127.0.0.1\",\"port\":9050,\"state\":\"RUNNING\",\"fails\":0},"
	"\"killswitch\":{\"mode\":\"block\",\"fallback\":null,\"engaged\":false},"
	"\"quota\":{\"limit\":10000000000,\"period\":\"monthly\",\"action\":\"block\",\"dir\":\"both\",\"used\":1200000000,\"percent\":12,\"period_start\":1717200000,\"period_end\":1719792000,\"exceeded\":false},\"created_at\":1718000000},"
	"{\"name\":\"sb\",\"vlan\":102,\"state\":\"ERROR\",\"error\":\"netlink: File exists\",\"ifname\":\"vp102-sb\",\"peer_ifname\":\"vs102-sb\",\"netns\":null,\"subnet\":\"10.100.102.0/24\",\"svc_addr\":\"10.100.102.1\",\"gw_addr\":\"10.100.102.254\",\"mark\":65638,\"table\":1102,\"next_hop\":null,"
	"\"gateway\":{\"type\":\"none\"},\"killswitch\":{\"mode\":\"fallback\",\"fallback\":{\"name\":\"tor\",\"vlan\":101},\"engaged\":true},\"quota\":null,\"created_at\":1718000100}"
	"]}";

static int h_vif_list(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	if (api_args_only(args, err, NULL))
		return -EINVAL;
	*result = json_loads(vif_list_json, 0, NULL);
	return *result ? 0 : -ENOMEM;
}

static int h_vif_show(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	json_t *list = json_loads(vif_list_json, 0, NULL), *v;
	const json_t *name = json_object_get(args, "name");
	size_t i;

	json_array_foreach(json_object_get(list, "vifs"), i, v) {
		if (json_equal(json_object_get(v, "name"), (json_t *)name) ||
		    json_equal(json_object_get(v, "vlan"), (json_t *)name)) {
			*result = json_incref(v);
			json_decref(list);
			return 0;
		}
	}
	json_decref(list);
	api_error_set(err, API_ERR_NOT_FOUND, "no VIF named '%s'",
		      json_string_value(name) ?: "?");
	return -ENOENT;
}

/* Mutations: remember the args, answer like PROTOCOL.md. */
static int h_vif_create(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct fx *f = ctx;

	json_decref(f->last_args);
	f->last_args = json_deep_copy(args);
	*result = json_pack("{s:i,s:{s:s,s:i,s:s}}", "changeset", 12, "vif",
			    "name", "tor", "vlan", 101, "state", "ACTIVE");
	return 0;
}

static int h_cs_apply(void *ctx, struct api_client *c, const json_t *args,
		      json_t **result, struct api_error *err)
{
	struct fx *f = ctx;

	json_decref(f->last_args);
	f->last_args = json_deep_copy(args);
	*result = json_pack("{s:{s:i,s:s,s:s,s:n,s:n}}", "changeset", "id", 12,
			    "state", "APPLIED", "risk", "low", "error",
			    "confirm_deadline");
	return 0;
}

static int h_stats(void *ctx, struct api_client *c, const json_t *args,
		   json_t **result, struct api_error *err)
{
	struct fx *f = ctx;

	f->stat_bytes += 100000;
	*result = json_pack("{s:I,s:i,s:[{s:s,s:i,s:I,s:I,s:I,s:I,s:i,s:i,s:{s:i},s:i,s:n}],s:{}}",
			    "at", (json_int_t)1718000000, "interval_ms", 1000,
			    "vifs", "name", "tor", "vlan", 101,
			    "rx_packets", (json_int_t)(f->stat_bytes / 100),
			    "rx_bytes", (json_int_t)f->stat_bytes,
			    "tx_packets", (json_int_t)0, "tx_bytes",
			    (json_int_t)0, "host_packets", 0, "chain_packets",
			    0, "drops", "spoof", 3, "drops_total", 3, "rates",
			    "global");
	return 0;
}

struct run_out {
	int status; /* exit code, or -1 */
	char out[65536];
	char err[8192];
};

/* Read what a pipe has; false once it is at EOF (or broken). */
static bool drain_pipe(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	for (;;) {
		if (*len >= cap - 1)
			return false;
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n > 0) {
			*len += n;
			continue;
		}
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	}
}

/* Run vifctl with @argv (NULL-terminated) while pumping the loop. */
static int run_vifctl(struct fx *f, const char *const *argv,
		      const char *stdin_text, struct run_out *r)
{
	uint64_t end = loop_now_ms() + 20000;
	int po[2], pe[2], pi[2], st;
	size_t lo = 0, le = 0;
	bool open_o = true, open_e = true;
	const char *args[32];
	pid_t pid;
	int i;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	args[0] = vifctl_path;
	for (i = 0; argv[i] && i < 30; i++)
		args[i + 1] = argv[i];
	args[i + 1] = NULL;
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) ||
	    pipe2(pi, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pi[0], 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(vifctl_path, (char *const *)args);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	close(pi[0]);
	if (stdin_text && write(pi[1], stdin_text, strlen(stdin_text)) < 0)
		fprintf(stderr, "  stdin: %s\n", strerror(errno));
	close(pi[1]);
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	while (open_o || open_e) {
		if (loop_now_ms() > end) {
			kill(pid, SIGKILL);
			break;
		}
		loop_once(f->l, 2);
		if (open_o)
			open_o = drain_pipe(po[0], r->out, sizeof(r->out), &lo);
		if (open_e)
			open_e = drain_pipe(pe[0], r->err, sizeof(r->err), &le);
	}
	close(po[0]);
	close(pe[0]);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}

static bool want_run(struct fx *f, const char *const *argv, const char *in,
		     int status, const char *out_has, const char *err_has,
		     struct run_out *r)
{
	bool ok;

	if (run_vifctl(f, argv, in, r))
		return false;
	ok = r->status == status && (!out_has || strstr(r->out, out_has)) &&
	     (!err_has || strstr(r->err, err_has));
	if (!ok) {
		fprintf(stderr, "  vifctl");
		for (; *argv; argv++)
			fprintf(stderr, " %s", *argv);
		fprintf(stderr, ": exit %d (want %d)\n  stdout: %.1000s\n  stderr: %.1000s\n",
			r->status, status, r->out, r->err);
	}
	return ok;
}

static int vifctl_fx(struct fx *f, const char *name)
{
	struct api_opts o;
	int err;

	/* Whoever runs the test is admin, through its primary group. */
	api_opts_init(&o);
	o.admin_gid = getegid();
	err = fx_start_opts(f, name, &o, true);

	if (err)
		return err;
	return api_register(f->api, "vif.list", API_ROLE_READ, h_vif_list, f) ?:
	       api_register(f->api, "vif.show", API_ROLE_READ, h_vif_show, f) ?:
	       api_register(f->api, "vif.create", API_ROLE_ADMIN, h_vif_create, f) ?:
	       api_register(f->api, "changeset.apply", API_ROLE_ADMIN, h_cs_apply, f) ?:
	       api_register(f->api, "changeset.preview", API_ROLE_READ, h_cs_apply, f) ?:
	       api_register(f->api, "stats", API_ROLE_READ, h_stats, f);
}

static int test_vifctl_output(void)
{
	struct run_out *r = calloc(1, sizeof(*r));
	struct fx f;
	json_t *got = NULL, *want = NULL;
	int rc = -1;

	if (!vifctl_path)
		return TEST_SKIP;
	if (!r || !ASSERT_OK(vifctl_fx(&f, "vifctl"), "fx_start"))
		goto out_free;
	/* The table: a header and a row per VIF, in the documented shape. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "vif", "list", NULL },
		      NULL, 0, "NAME", NULL, r) ||
	    !ASSERT_TRUE(strstr(r->out, "VLAN") && strstr(r->out, "STATE") &&
			 strstr(r->out, "KILLSWITCH"), "header") ||
	    !ASSERT_TRUE(strstr(r->out, "tor") && strstr(r->out, "101") &&
			 strstr(r->out, "ACTIVE") &&
			 strstr(r->out, "10.100.101.1/24") &&
			 strstr(r->out, "socks5 RUNNING") &&
			 strstr(r->out, "12% of 10.0G"), "row tor") ||
	    !ASSERT_TRUE(strstr(r->out, "ERROR") &&
			 strstr(r->out, "fallback tor ENGAGED"), "row sb"))
		goto out;
	/* -j: the result object exactly. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "-j", "vif", "list", NULL },
		      NULL, 0, NULL, NULL, r))
		goto out;
	got = json_loads(r->out, 0, NULL);
	want = json_loads(vif_list_json, 0, NULL);
	if (!ASSERT_TRUE(got && json_equal(got, want), "-j prints the result"))
		goto out;
	/* show by name and by VLAN. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "vif", "show", "102", NULL },
		      NULL, 0, "netlink: File exists", NULL, r) ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "vif", "show", "tor", NULL },
		      NULL, 0, "socks5 tun-tor 127.0.0.1:9050 RUNNING", NULL, r))
		goto out;
	/* The daemon's error: exit 1, code and message; -j adds the JSON. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "vif", "show", "nope", NULL },
		      NULL, 1, NULL, "NOT_FOUND: no VIF named 'nope'", r) ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "-j", "vif", "show", "nope", NULL },
		      NULL, 1, "\"code\":\"NOT_FOUND\"", "NOT_FOUND", r) ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "pool", NULL },
		      NULL, 1, NULL, "UNKNOWN_COMMAND", r))
		goto out;
	rc = 0;
out:
	json_decref(got);
	json_decref(want);
	fx_stop(&f);
out_free:
	free(r);
	return rc;
}

/*
 * The second sample's tor row: 100 000 bytes more, at least 1 s later
 * (more on a loaded machine or under valgrind), so RX_B/s is at most
 * 100K; a counter not divided by the time would show 200K.  The first
 * sample, with no rate from vifd, shows "-".
 */
static bool rate_ok(const char *out)
{
	const char *first = strstr(out, "\ntor "), *last = first, *p;
	char tok[8][32];
	double v;

	for (p = first; p; p = strstr(p + 1, "\ntor "))
		last = p;
	if (!first || last == first ||
	    sscanf(first, " %31s %31s %31s %31s %31s %31s %31s %31s", tok[0],
		   tok[1], tok[2], tok[3], tok[4], tok[5], tok[6], tok[7]) != 8 ||
	    strcmp(tok[7], "-"))
		return false;
	if (sscanf(last, " %31s %31s %31s %31s %31s %31s %31s %31s", tok[0],
		   tok[1], tok[2], tok[3], tok[4], tok[5], tok[6], tok[7]) != 8)
		return false;
	v = strtod(tok[7], NULL);
	return strchr(tok[7], 'K') && v >= 20 && v <= 100.05;
}

static int test_vifctl_requests(void)
{
	struct run_out *r = calloc(1, sizeof(*r));
	char file[256];
	struct fx f;
	json_t *want = NULL;
	FILE *fp;
	int rc = -1;

	if (!vifctl_path)
		return TEST_SKIP;
	if (!r || !ASSERT_OK(vifctl_fx(&f, "vifctl-req"), "fx_start"))
		goto out_free;
	/* The words become the documented args. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "vif", "create", "tor",
					    "vlan", "101", "netns", "ns1",
					    "gateway", "socks5", "tun-tor", "127.0.0.1:9050",
					    "killswitch", "fallback", "102",
					    "quota", "10G", "monthly", "block", "both", NULL },
		      NULL, 0, "tor: VLAN 101, ACTIVE (change set 12)", NULL, r))
		goto out;
	want = json_loads("{\"name\":\"tor\",\"vlan\":101,\"netns\":\"ns1\","
			  "\"gateway\":{\"type\":\"socks5\",\"tun\":\"tun-tor\",\"addr\":\"127.0.0.1\",\"port\":9050},"
			  "\"killswitch\":{\"mode\":\"fallback\",\"fallback\":102},"
			  "\"quota\":{\"limit\":10000000000,\"period\":\"monthly\",\"action\":\"block\",\"dir\":\"both\"}}",
			  0, NULL);
	if (!ASSERT_TRUE(json_equal(f.last_args, want), "vif.create args")) {
		dump("got", f.last_args);
		goto out;
	}
	json_decref(want);
	/* A change set from a file, and from stdin. */
	snprintf(file, sizeof(file), "%s/items.json", tmpdir);
	fp = fopen(file, "w");
	if (!ASSERT_TRUE(fp, "items file"))
		goto out;
	fputs("[{\"id\":\"a\",\"op\":\"vif.create\",\"args\":{\"name\":\"x\"}}]\n", fp);
	fclose(fp);
	if (!want_run(&f, (const char *[]){ "-s", f.path, "changeset", "apply", file,
					    "--confirm-timeout", "60", NULL },
		      NULL, 0, "change set 12: APPLIED", NULL, r))
		goto out;
	want = json_loads("{\"items\":[{\"id\":\"a\",\"op\":\"vif.create\",\"args\":{\"name\":\"x\"}}],\"confirm_timeout\":60}",
			  0, NULL);
	if (!ASSERT_TRUE(json_equal(f.last_args, want), "changeset.apply args"))
		goto out;
	json_decref(want);
	want = NULL;
	if (!want_run(&f, (const char *[]){ "-s", f.path, "changeset", "apply", "--confirm", NULL },
		      "{\"items\":[{\"id\":\"b\",\"op\":\"vif.delete\",\"args\":{\"name\":\"x\"}}]}",
		      0, NULL, NULL, r) ||
	    !ASSERT_TRUE(json_is_true(json_object_get(f.last_args, "confirm")), "--confirm sent") ||
	    !ASSERT_TRUE(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(f.last_args, "items"), 0), "id")) ?: "", "b"), "stdin items"))
		goto out;
	/* Bad file content is the user's error: 2, and nothing sent. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "changeset", "apply", NULL },
		      "{\"items\": [", 2, NULL, "<stdin>:", r) ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "changeset", "preview", "-", NULL },
		      "{\"nope\":1}", 2, NULL, "want an array of items", r))
		goto out;
	/* Stats: the second sample's rate comes from the two samples. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "stats", "--watch", "1", "--count", "2", NULL },
		      NULL, 0, "RX_B/s", NULL, r) ||
	    !ASSERT_TRUE(rate_ok(r->out), "rate from two samples"))
		goto out;
	/* Events: the history, then exit at the live marker. */
	tev_add(&f.ev, "vif.state", 101, 3);
	tev_add(&f.ev, "gateway.state", 102, 3);
	if (!want_run(&f, (const char *[]){ "-s", f.path, "events", NULL },
		      NULL, 0, "gateway.state", NULL, r) ||
	    !ASSERT_TRUE(strstr(r->out, "vif.state") && strstr(r->out, "vlan 102"), "both events") ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "-j", "events", "--since", "1", NULL },
		      NULL, 0, "\"seq\":2", NULL, r) ||
	    !ASSERT_TRUE(!strstr(r->out, "\"seq\":1"), "since honoured"))
		goto out;
	rc = 0;
out:
	json_decref(want);
	fx_stop(&f);
out_free:
	free(r);
	return rc;
}

static int test_vifctl_exit_codes(void)
{
	struct run_out *r = calloc(1, sizeof(*r));
	char missing[200];
	struct fx f;
	int rc = -1;

	if (!vifctl_path)
		return TEST_SKIP;
	if (!r || !ASSERT_OK(vifctl_fx(&f, "vifctl-exit"), "fx_start"))
		goto out_free;
	snprintf(missing, sizeof(missing), "%s/no-such.sock", tmpdir);
	/* 2: usage, found before connecting (so with no daemon too). */
	if (!want_run(&f, (const char *[]){ NULL }, NULL, 2, NULL, "missing COMMAND", r) ||
	    !want_run(&f, (const char *[]){ "-s", missing, "frobnicate", NULL }, NULL, 2, NULL, "unknown command", r) ||
	    !want_run(&f, (const char *[]){ "-s", missing, "vif", "show", NULL }, NULL, 2, NULL, "NAME", r) ||
	    !want_run(&f, (const char *[]){ "-s", missing, "quota", "set", "tor", "10X", "monthly", "block", "both", NULL }, NULL, 2, NULL, "bad LIMIT", r) ||
	    !want_run(&f, (const char *[]){ "-s", missing, "-t", "soon", "ping", NULL }, NULL, 2, NULL, "TIMEOUT", r) ||
	    !want_run(&f, (const char *[]){ "-x", NULL }, NULL, 2, NULL, NULL, r) ||
	    !want_run(&f, (const char *[]){ "-h", NULL }, NULL, 0, "Usage: vifctl", NULL, r))
		goto out;
	/* 3: cannot connect, naming the socket and the errno. */
	if (!want_run(&f, (const char *[]){ "-s", missing, "vif", "list", NULL }, NULL, 3,
		      NULL, "errno 2", r) ||
	    !ASSERT_TRUE(strstr(r->err, missing), "socket path named"))
		goto out;
	/* 0 and 1. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "ping", NULL }, NULL, 0,
		      "pong from vifd-test 9.9.9", NULL, r) ||
	    !want_run(&f, (const char *[]){ "-s", f.path, "call", "test.fail", NULL }, NULL, 1,
		      NULL, "NOT_FOUND: no such thing", r))
		goto out;
	/* 4: vifd never answers within -t. */
	if (!want_run(&f, (const char *[]){ "-s", f.path, "-t", "1", "call", "test.later", NULL },
		      NULL, 4, NULL, "no answer from vifd within 1 s", r))
		goto out;
	rc = 0;
out:
	fx_stop(&f);
out_free:
	free(r);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static const struct test_case cases[] = {
	TEST_CASE(test_hello),
	TEST_CASE(test_ping_and_ids),
	TEST_CASE(test_unknown_command),
	TEST_CASE(test_malformed_json),
	TEST_CASE(test_wrong_types),
	TEST_CASE(test_line_too_long),
	TEST_CASE(test_pipelined_and_split),
	TEST_CASE(test_backpressure),
	TEST_CASE(test_vanish_mid_request),
	TEST_CASE(test_vanish_mid_response),
	TEST_CASE(test_slow_subscriber),
	TEST_CASE(test_roles),
	TEST_CASE(test_events_replay_live),
	TEST_CASE(test_events_replay_paced),
	TEST_CASE(test_events_gap),
	TEST_CASE(test_async),
	TEST_CASE(test_handler_errors),
	TEST_CASE(test_socket_file),
	TEST_CASE(test_max_clients),
	TEST_CASE(test_registry),
	TEST_CASE(test_arg_helpers),
	TEST_CASE(test_vifctl_output),
	TEST_CASE(test_vifctl_requests),
	TEST_CASE(test_vifctl_exit_codes),
};

int main(int argc, char **argv)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		vifctl_path = argv[1];
	else
		fprintf(stderr, "no vifctl path given: its cases skip\n");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	/* nobody must reach the sockets in test_roles. */
	chmod(tmpdir, 0755);
	rc = harness_run(cases, ARRAY_SIZE(cases));
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
