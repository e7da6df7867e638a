// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * api.c - the control socket server.  See api.h and docs/PROTOCOL.md.
 *
 * Each client has an input buffer (bytes read, not yet a full line) and
 * an output queue (bytes not yet accepted by the socket).  The epoll
 * interest follows from the state:
 *
 *   EPOLLIN   unless the peer shut its side, the client is being closed,
 *             or its queue is over half of out_max (we stop reading a
 *             client that does not read its answers: it paces itself);
 *   EPOLLOUT  while output is queued, and also while buffered requests or
 *             an event replay wait for the queue to drain: an empty queue
 *             makes the socket writable at once, which is the wake-up.
 *
 * A client struct is reference counted: the client list holds one
 * reference, every api_pending another, and a callback working on a
 * client a third, so a client closed under a handler (a broadcast drops
 * it, a write fails) is only marked gone and freed when the last holder
 * lets go.  Everything that may run a handler or write re-checks
 * c->gone afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"

#define API_READ_CHUNK (64 * 1024)
#define API_ACCEPT_BURST 16
#define API_BACKLOG 64
/* After EMFILE/ENFILE: stop accepting for a while instead of spinning. */
#define API_ACCEPT_PAUSE_MS 100
/* since() callback return meaning "queue full, continue later". */
#define API_REPLAY_PAUSE 1

struct buf {
	char *data;
	size_t head; /* first byte not consumed */
	size_t len;  /* end of data */
	size_t cap;
};

struct api_cmd {
	char name[API_CMD_MAX];
	enum api_role role;
	api_handler fn;
	void *ctx;
};

struct api_client {
	struct api *api; /* NULL once gone */
	struct api_client *prev, *next;
	unsigned int refs;
	bool gone;
	int fd;
	__u64 serial;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum api_role role;
	uint32_t events; /* epoll interest now */

	struct buf in;
	size_t scanned;  /* bytes after in.head known to hold no newline */
	bool discarding; /* dropping the rest of an over-long line */
	bool in_more;    /* complete lines wait for the queue to drain */
	bool eof;        /* the peer shut its write side */
	bool busy;       /* inside this client's fd callback */

	struct buf out;
	bool out_mid_line; /* the socket took part of the first queued line */
	bool closing;      /* final line queued: close once flushed */
	uint64_t linger_timer;

	/* The request being handled, for api_defer(). */
	bool in_handler;
	bool deferred_now; /* api_defer() was called for it */
	json_t *cur_id;
	struct api_pending *cur_pending;
	unsigned int deferred; /* unanswered api_pending handles */

	/* Event subscription. */
	bool subscribed;
	bool sub_start;  /* subscribed by the request just handled */
	bool replaying;  /* catching up from the history */
	int64_t last_seq; /* newest seq this client has been given */
};

struct api_pending {
	struct api_client *c;
	json_t *id;
	bool answered; /* the handler answered synchronously after all */
};

struct api {
	struct loop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct api_opts opts;
	char *server;
	char *version;
	struct api_event_source events;
	bool has_events;
	uint64_t accept_timer;

	struct api_cmd *cmds; /* sorted by name */
	size_t ncmds, capcmds;

	struct api_client *clients;
	__u64 next_serial;
	struct api_stats st;
};

static void client_output(struct api_client *c);

/* ---- small helpers ---- */

static void api_log(struct api *api, enum vif_log_level lvl, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

static void api_log(struct api *api, enum vif_log_level lvl, const char *fmt,
		    ...)
{
	char msg[512];
	va_list ap;

	if (!api->opts.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api->opts.log(api->opts.log_ctx, lvl, msg);
}

const char *api_role_name(enum api_role role)
{
	return role == API_ROLE_ADMIN ? "admin" : "read";
}

void api_error_set(struct api_error *err, const char *code, const char *fmt,
		   ...)
{
	va_list ap;

	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void api_error_clear(struct api_error *err)
{
	if (!err)
		return;
	json_decref(err->details);
	memset(err, 0, sizeof(*err));
}

const char *api_errno_code(int err)
{
	switch (-err) {
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
	case E2BIG:
	case ELOOP:
		return API_ERR_BAD_ARGS;
	case ENOENT:
	case ENODEV:
		return API_ERR_NOT_FOUND;
	case EEXIST:
	case EADDRINUSE:
		return API_ERR_CONFLICT;
	case EBUSY:
	case EAGAIN:
		return API_ERR_BUSY;
	case EPERM:
	case EACCES:
		return API_ERR_PERMISSION_DENIED;
	case EOPNOTSUPP:
	case ENOSYS:
		return API_ERR_UNAVAILABLE;
	case ESHUTDOWN:
		return API_ERR_SHUTTING_DOWN;
	default:
		return API_ERR_INTERNAL;
	}
}

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	char *d;

	if (b->cap - b->len >= more)
		return 0;
	if (b->head) {
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
		if (b->cap - b->len >= more)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const char *p, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static size_t buf_used(const struct buf *b)
{
	return b->len - b->head;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int dump_to_buf(const char *p, size_t n, void *ctx)
{
	return buf_append(ctx, p, n) ? -1 : 0;
}

/* ---- client lifetime ---- */

static void client_ref(struct api_client *c)
{
	c->refs++;
}

static void client_unref(struct api_client *c)
{
	if (--c->refs)
		return;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void client_close(struct api_client *c)
{
	struct api *api = c->api;

	if (c->gone)
		return;
	c->gone = true;
	loop_fd_del(api->loop, c->fd);
	if (c->linger_timer)
		loop_timer_del(api->loop, c->linger_timer);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		api->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	api->st.clients--;
	api->st.pending -= c->deferred;
	api_log(api, LOG_LVL_DEBUG, "control client #%llu (uid %u pid %d) gone",
		(unsigned long long)c->serial, (unsigned int)c->uid,
		(int)c->pid);
	buf_free(&c->in);
	buf_free(&c->out);
	c->api = NULL;
	client_unref(c); /* the list's reference */
}

static void client_linger_expired(struct loop *l, uint64_t id, void *ctx)
{
	struct api_client *c = ctx;

	c->linger_timer = 0;
	client_close(c);
}

/* Stop reading and close once the queue is out (or after the linger). */
static void client_begin_close(struct api_client *c)
{
	struct api *api = c->api;

	if (c->closing)
		return;
	c->closing = true;
	c->subscribed = false;
	c->replaying = false;
	c->in_more = false;
	if (loop_timer_add(api->loop, API_LINGER_MS, 0, client_linger_expired,
			   c, &c->linger_timer))
		client_close(c);
}

/* ---- output ---- */

/*
 * Serialize one message as a line.  Events obey the cap and give
 * -ENOBUFS, queueing nothing, when the line would take the queue over it;
 * answers and final lines are always queued.
 */
static int client_queue_json(struct api_client *c, json_t *msg, bool capped)
{
	size_t before = buf_used(&c->out);
	int err;

	if (c->gone || (c->closing && capped))
		return -ENOTCONN;
	if (json_dump_callback(msg, dump_to_buf, &c->out,
			       JSON_COMPACT | JSON_REAL_PRECISION(17)) ||
	    buf_append(&c->out, "\n", 1)) {
		err = -ENOMEM;
		goto undo;
	}
	if (capped && buf_used(&c->out) > c->api->opts.out_max) {
		err = -ENOBUFS;
		goto undo;
	}
	if (buf_used(&c->out) > c->api->st.out_peak)
		c->api->st.out_peak = buf_used(&c->out);
	return 0;
undo:
	/* Relative to head: buf_reserve() may have compacted meanwhile. */
	c->out.len = c->out.head + before;
	return err;
}

/* Append an already-serialized line (ending in '\n'), honouring the cap. */
static int client_queue_raw(struct api_client *c, const char *line, size_t n)
{
	int err;

	if (c->gone || c->closing)
		return -ENOTCONN;
	if (buf_used(&c->out) + n > c->api->opts.out_max)
		return -ENOBUFS;
	err = buf_append(&c->out, line, n);
	if (!err && buf_used(&c->out) > c->api->st.out_peak)
		c->api->st.out_peak = buf_used(&c->out);
	return err;
}

static json_t *error_object(const char *code, const char *message,
			    json_t *details)
{
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);

	if (e && details)
		json_object_set(e, "details", details);
	return e;
}

static void client_send_error_obj(struct api_client *c, const json_t *id,
				  const char *code, const char *message,
				  json_t *details)
{
	json_t *msg;

	if (c->gone)
		return;
	msg = json_pack("{s:O,s:b,s:o}", "id", id ? id : json_null(), "ok",
			0, "error", error_object(code, message, details));
	if (!msg) {
		/* Out of memory: the client would wait for ever otherwise. */
		client_close(c);
		return;
	}
	if (client_queue_json(c, msg, false))
		client_close(c);
	else
		c->api->st.errors++;
	json_decref(msg);
}

static void client_send_error(struct api_client *c, const json_t *id,
			      const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void client_send_error(struct api_client *c, const json_t *id,
			      const char *code, const char *fmt, ...)
{
	char message[API_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	client_send_error_obj(c, id, code, message, NULL);
}

/* Takes over @result (NULL = {}). */
static void client_send_result(struct api_client *c, const json_t *id,
			       json_t *result)
{
	json_t *msg;

	if (c->gone) {
		json_decref(result);
		return;
	}
	msg = json_pack("{s:O,s:b,s:o}", "id", id, "ok", 1, "result",
			result ? result : json_object());
	if (!msg) {
		client_send_error(c, id, API_ERR_INTERNAL, "out of memory");
		return;
	}
	if (client_queue_json(c, msg, false))
		client_close(c);
	json_decref(msg);
}

/* Answer from a handler's return: @rc < 0 or a set code is an error. */
static void client_send_outcome(struct api_client *c, const json_t *id,
				int rc, json_t *result, struct api_error *err)
{
	if (rc == 0 && !err->code[0]) {
		client_send_result(c, id, result);
		api_error_clear(err);
		return;
	}
	json_decref(result);
	if (!err->code[0])
		api_error_set(err, api_errno_code(rc), "%s",
			      rc < 0 ? strerror(-rc) :
				       "handler returned no error code");
	client_send_error_obj(c, id, err->code, err->message, err->details);
	api_error_clear(err);
}

/*
 * Drop a subscriber that cannot keep up.  What the socket has not taken
 * yet is discarded, except the rest of a line it took part of (so the
 * client still sees whole lines), then one error line says why.
 */
static void client_drop_slow(struct api_client *c)
{
	struct api *api = c->api;
	char *nl;

	api->st.dropped_slow++;
	api_log(api, LOG_LVL_WARN,
		"Dropping control client #%llu (uid %u pid %d): more than %zu bytes of events queued",
		(unsigned long long)c->serial, (unsigned int)c->uid,
		(int)c->pid, api->opts.out_max);
	if (c->out_mid_line) {
		nl = memchr(c->out.data + c->out.head, '\n', buf_used(&c->out));
		c->out.len = nl ? (size_t)(nl - c->out.data) + 1 : c->out.len;
	} else {
		c->out.len = c->out.head;
	}
	client_send_error(c, NULL, API_ERR_SLOW_CONSUMER,
			  "more than %zu bytes of output queued for this client; disconnecting",
			  api->opts.out_max);
	if (!c->gone)
		client_begin_close(c);
}

static int client_flush(struct api_client *c)
{
	ssize_t n;

	while (buf_used(&c->out)) {
		n = send(c->fd, c->out.data + c->out.head, buf_used(&c->out),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		c->out.head += n;
		c->out_mid_line = c->out.data[c->out.head - 1] != '\n';
	}
	if (!buf_used(&c->out))
		c->out.head = c->out.len = 0;
	return 0;
}

static bool client_out_full(const struct api_client *c)
{
	return buf_used(&c->out) >= c->api->opts.out_max / 2;
}

/* Write what the socket takes, then settle the epoll interest. */
static void client_output(struct api_client *c)
{
	uint32_t want = 0;
	int err;

	if (c->gone)
		return;
	err = client_flush(c);
	if (err) {
		api_log(c->api, LOG_LVL_DEBUG,
			"control client #%llu: write failed: %s",
			(unsigned long long)c->serial, strerror(-err));
		client_close(c);
		return;
	}
	if (c->closing && !buf_used(&c->out)) {
		client_close(c);
		return;
	}
	/* Half-closed and nothing left to say: done. */
	if (c->eof && !c->busy && !buf_used(&c->out) && !c->deferred &&
	    !c->in_more && !c->subscribed) {
		client_close(c);
		return;
	}
	if (!c->closing && !c->eof && !client_out_full(c))
		want |= EPOLLIN;
	if (buf_used(&c->out) || (!c->closing && !client_out_full(c) &&
				  (c->in_more || c->replaying)))
		want |= EPOLLOUT;
	if (want != c->events && !loop_fd_mod(c->api->loop, c->fd, want))
		c->events = want;
}

/* ---- events ---- */

static json_t *event_object(int64_t seq, const char *type, __u16 vlan,
			    int64_t at, json_t *data)
{
	return json_pack("{s:{s:I,s:s,s:o,s:I,s:o}}", "event", "seq",
			 (json_int_t)seq, "type", type, "vlan",
			 vlan ? json_integer(vlan) : json_null(), "at",
			 (json_int_t)at, "data", data ? data : json_object());
}

static int client_queue_marker(struct api_client *c, json_t *ev)
{
	int err;

	if (!ev)
		return -ENOMEM;
	err = client_queue_json(c, ev, false);
	json_decref(ev);
	return err;
}

static int replay_one(const struct api_event *ev, void *ctx)
{
	struct api_client *c = ctx;
	json_t *data = NULL, *msg;
	int err;

	if (ev->seq <= c->last_seq)
		return 0;
	if (ev->json) {
		/* Stored text may be pretty-printed; the wire is one line. */
		data = json_loads(ev->json, JSON_DECODE_ANY, NULL);
		if (!data)
			data = json_null();
	}
	msg = event_object(ev->seq, ev->type ? ev->type : "", ev->vlan, ev->at,
			   data);
	if (!msg)
		return -ENOMEM;
	/* Replay is paced by the queue, so it is not capped. */
	err = client_queue_json(c, msg, false);
	json_decref(msg);
	if (err)
		return err;
	c->last_seq = ev->seq;
	return client_out_full(c) ? API_REPLAY_PAUSE : 0;
}

static void replay_fail(struct api_client *c, int err)
{
	client_send_error(c, NULL, API_ERR_INTERNAL,
			  "event replay failed: %s; subscribe again with since %lld",
			  strerror(-err), (long long)c->last_seq);
	if (!c->gone)
		client_begin_close(c);
}

/*
 * Feed history to a catching-up subscriber until its queue is half full
 * or the history is exhausted; then it goes live.  Each round re-reads
 * the bounds, so events pruned while the client was catching up show
 * as a gap instead of being silently skipped.
 */
static void replay_continue(struct api_client *c)
{
	struct api *api = c->api;
	int64_t first, last;
	int err;

	while (!c->gone && c->replaying && !client_out_full(c)) {
		err = api->events.bounds(api->events.ctx, &first, &last);
		if (err) {
			replay_fail(c, err);
			return;
		}
		if ((first > 0 && c->last_seq + 1 < first) ||
		    (first == 0 && last > c->last_seq)) {
			int64_t to = first > 0 ? first - 1 : last;

			err = client_queue_marker(c,
				json_pack("{s:{s:s,s:I,s:I}}", "event", "type",
					  "events.gap", "from",
					  (json_int_t)(c->last_seq + 1), "to",
					  (json_int_t)to));
			if (err) {
				replay_fail(c, err);
				return;
			}
			c->last_seq = to;
		}
		err = api->events.since(api->events.ctx, c->last_seq,
					replay_one, c);
		if (err == API_REPLAY_PAUSE)
			continue;
		if (err) {
			replay_fail(c, err < 0 ? err : -EIO);
			return;
		}
		c->replaying = false;
		err = client_queue_marker(c,
			json_pack("{s:{s:s,s:I}}", "event", "type",
				  "events.live", "last",
				  (json_int_t)c->last_seq));
		if (err)
			replay_fail(c, err);
	}
}

static void subscription_start(struct api_client *c)
{
	c->sub_start = false;
	if (c->replaying) {
		replay_continue(c);
		return;
	}
	if (client_queue_marker(c, json_pack("{s:{s:s,s:I}}", "event", "type",
					     "events.live", "last",
					     (json_int_t)c->last_seq)))
		client_close(c);
}

int api_broadcast_event(struct api *api, int64_t seq, const char *type,
			__u16 vlan, int64_t at, const json_t *data)
{
	struct api_client *c, *next;
	char *line = NULL;
	size_t n;
	json_t *msg;

	if (!api || !type || !*type || seq <= 0)
		return -EINVAL;
	msg = event_object(seq, type, vlan, at,
			   data ? json_deep_copy(data) : NULL);
	if (!msg)
		return -ENOMEM;
	/* Serialized once, copied into every subscriber's queue. */
	line = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(msg);
	if (!line)
		return -ENOMEM;
	n = strlen(line);
	line[n] = '\n'; /* the NUL is not sent: n + 1 bytes below */

	for (c = api->clients; c; c = next) {
		next = c->next;
		if (!c->subscribed || c->replaying || c->closing ||
		    seq <= c->last_seq)
			continue;
		client_ref(c);
		if (client_queue_raw(c, line, n + 1))
			client_drop_slow(c);
		else
			c->last_seq = seq;
		if (!c->busy)
			client_output(c);
		/* next survives: only c itself can have been closed. */
		client_unref(c);
	}
	free(line);
	return 0;
}

/* ---- requests ---- */

static int cmd_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct api_cmd *)elem)->name);
}

static const struct api_cmd *api_cmd_find(const struct api *api,
					  const char *name)
{
	if (!api->ncmds)
		return NULL;
	return bsearch(name, api->cmds, api->ncmds, sizeof(*api->cmds),
		       cmd_cmp);
}

static bool id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_boolean(id);
}

static void client_handle_line(struct api_client *c, const char *line,
			       size_t len)
{
	struct api *api = c->api;
	struct api_error err = {};
	const struct api_cmd *cmd;
	json_t *req, *id, *jcmd, *args, *v, *empty = NULL, *result = NULL;
	const char *key, *name;
	json_error_t jerr;
	void *iter;
	int rc;

	api->st.requests++;
	req = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			 &jerr);
	if (!req) {
		client_send_error(c, NULL, API_ERR_BAD_JSON,
				  "invalid JSON at byte %d: %s", jerr.position,
				  jerr.text);
		return;
	}
	if (!json_is_object(req)) {
		client_send_error(c, NULL, API_ERR_BAD_REQUEST,
				  "a request is a JSON object {\"id\":..,\"cmd\":..,\"args\":{..}}");
		goto out;
	}
	id = json_object_get(req, "id");
	if (!id) {
		client_send_error(c, NULL, API_ERR_BAD_REQUEST,
				  "missing \"id\": every request carries an id that its answer echoes");
		goto out;
	}
	if (!id_valid(id)) {
		client_send_error(c, NULL, API_ERR_BAD_REQUEST,
				  "\"id\" must be a string, number or boolean%s",
				  json_is_null(id) ?
					  " (null is reserved for errors tied to no request)" :
					  "");
		goto out;
	}
	json_object_foreach_safe(req, iter, key, v) {
		if (strcmp(key, "id") && strcmp(key, "cmd") &&
		    strcmp(key, "args")) {
			client_send_error(c, id, API_ERR_BAD_REQUEST,
					  "unknown key \"%.64s\" in request (allowed: id, cmd, args)",
					  key);
			goto out;
		}
	}
	jcmd = json_object_get(req, "cmd");
	if (!json_is_string(jcmd)) {
		client_send_error(c, id, API_ERR_BAD_REQUEST, "%s",
				  jcmd ? "\"cmd\" must be a string" :
					 "missing \"cmd\"");
		goto out;
	}
	name = json_string_value(jcmd);
	args = json_object_get(req, "args");
	if (args && !json_is_object(args) && !json_is_null(args)) {
		client_send_error(c, id, API_ERR_BAD_REQUEST,
				  "\"args\" must be an object");
		goto out;
	}
	cmd = strlen(name) < API_CMD_MAX ? api_cmd_find(api, name) : NULL;
	if (!cmd) {
		client_send_error(c, id, API_ERR_UNKNOWN_COMMAND,
				  "unknown command \"%.64s\" (\"commands\" lists them)",
				  name);
		goto out;
	}
	if (cmd->role > c->role) {
		client_send_error(c, id, API_ERR_PERMISSION_DENIED,
				  "%s needs the %s role; uid %u has the %s role",
				  cmd->name, api_role_name(cmd->role),
				  (unsigned int)c->uid,
				  api_role_name(c->role));
		goto out;
	}
	if (!args || json_is_null(args)) {
		empty = json_object();
		if (!empty) {
			client_send_error(c, id, API_ERR_INTERNAL,
					  "out of memory");
			goto out;
		}
		args = empty;
	}

	c->in_handler = true;
	c->deferred_now = false;
	c->cur_id = id;
	c->cur_pending = NULL;
	rc = cmd->fn(cmd->ctx, c, args, &result, &err);
	c->in_handler = false;
	c->cur_id = NULL;

	if (rc == API_PENDING) {
		if (!c->deferred_now) {
			json_decref(result);
			api_error_clear(&err);
			client_send_error(c, id, API_ERR_INTERNAL,
					  "%s: handler deferred without api_defer()",
					  cmd->name);
		}
	} else {
		/* A handle taken anyway must not answer a second time. */
		if (c->cur_pending)
			c->cur_pending->answered = true;
		client_send_outcome(c, id, rc, result, &err);
	}
	c->cur_pending = NULL;
	if (!c->gone && c->sub_start)
		subscription_start(c);
out:
	json_decref(empty);
	json_decref(req);
}

static bool only_blanks(const char *p, size_t n)
{
	for (; n; n--, p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

/* Run every complete line, in order, while the output queue has room. */
static void client_process(struct api_client *c)
{
	struct api *api = c->api;
	size_t line_max = api->opts.line_max;
	char *start, *nl;
	size_t avail, len;

	c->in_more = false;
	while (!c->gone && !c->closing && buf_used(&c->in)) {
		start = c->in.data + c->in.head;
		avail = buf_used(&c->in);
		if (c->discarding) {
			nl = memchr(start, '\n', avail);
			if (!nl) {
				c->in.head = c->in.len;
				break;
			}
			c->in.head += nl - start + 1;
			c->discarding = false;
			c->scanned = 0;
			continue;
		}
		if (client_out_full(c)) {
			c->in_more = true;
			break;
		}
		nl = memchr(start + c->scanned, '\n', avail - c->scanned);
		if (!nl) {
			c->scanned = avail;
			if (avail > line_max) {
				client_send_error(c, NULL,
						  API_ERR_LINE_TOO_LONG,
						  "request line longer than %zu bytes; discarded up to the next newline",
						  line_max);
				c->discarding = true;
				c->in.head = c->in.len;
				c->scanned = 0;
			}
			break;
		}
		len = nl - start;
		c->in.head += len + 1;
		c->scanned = 0;
		if (len > line_max) {
			client_send_error(c, NULL, API_ERR_LINE_TOO_LONG,
					  "request line of %zu bytes is longer than %zu bytes; discarded",
					  len, line_max);
			continue;
		}
		if (only_blanks(start, len))
			continue;
		/* start stays valid: nothing reads into c->in meanwhile. */
		client_handle_line(c, start, len);
	}
	if (!c->gone && !buf_used(&c->in))
		c->in.head = c->in.len = 0;
}

static void client_read(struct api_client *c)
{
	ssize_t n;

	if (buf_reserve(&c->in, API_READ_CHUNK)) {
		client_close(c);
		return;
	}
	n = recv(c->fd, c->in.data + c->in.len, API_READ_CHUNK, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		return;
	}
	c->in.len += n;
}

/* At EOF a line without its newline is not a request: say so, drop it. */
static void client_eof_leftover(struct api_client *c)
{
	if (c->gone || c->in_more || c->discarding || !buf_used(&c->in))
		return;
	if (!only_blanks(c->in.data + c->in.head, buf_used(&c->in)))
		client_send_error(c, NULL, API_ERR_BAD_REQUEST,
				  "connection shut before the request's newline; the %zu bytes after the last newline were ignored",
				  buf_used(&c->in));
	c->in.head = c->in.len = 0;
}

static void client_on_event(struct loop *l, int fd, uint32_t events,
			    void *ctx)
{
	struct api_client *c = ctx;

	client_ref(c);
	c->busy = true;
	/* HUP: both directions are shut, nobody is there to answer. */
	if (events & (EPOLLERR | EPOLLHUP)) {
		client_close(c);
		goto out;
	}
	if ((events & EPOLLIN) && !c->eof && !c->closing)
		client_read(c);
	if (!c->gone && !c->closing) {
		client_process(c);
		if (c->eof)
			client_eof_leftover(c);
		if (!c->gone && c->replaying)
			replay_continue(c);
	}
out:
	c->busy = false;
	client_output(c);
	client_unref(c);
}

/* ---- connections ---- */

static bool peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = false;
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		if (errno != ERANGE)
			return false;
		groups = malloc(len);
		if (!groups)
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
			goto out;
	}
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			found = true;
out:
	if (groups != small)
		free(groups);
	return found;
}

static void api_refuse(struct api *api, int fd, uid_t uid)
{
	static const char line[] =
		"{\"id\":null,\"ok\":false,\"error\":{\"code\":\"TOO_MANY_CLIENTS\",\"message\":\"too many control clients connected; try again later\"}}\n";

	api->st.refused++;
	api_log(api, LOG_LVL_WARN,
		"Refusing control client uid %u: %u clients connected (max_clients)",
		(unsigned int)uid, api->st.clients);
	/* Best effort: a fresh socket's buffer takes one short line. */
	if (send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		api_log(api, LOG_LVL_DEBUG, "refusal not sent: %s",
			strerror(errno));
	close(fd);
}

static int client_hello(struct api_client *c)
{
	struct api *api = c->api;
	json_t *msg;
	int err;

	msg = json_pack("{s:{s:s,s:s,s:i,s:s,s:I}}", "hello", "server",
			api->server, "version", api->version, "protocol",
			API_PROTOCOL_VERSION, "role", api_role_name(c->role),
			"uid", (json_int_t)c->uid);
	if (!msg)
		return -ENOMEM;
	err = client_queue_json(c, msg, false);
	json_decref(msg);
	return err;
}

/* Takes @fd: it is either a client or closed when this returns. */
static int api_add_client(struct api *api, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	enum api_role role = API_ROLE_READ;
	struct api_client *c;
	int err;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (cred.uid == 0 ||
	    (api->opts.admin_gid != (gid_t)-1 &&
	     (cred.gid == api->opts.admin_gid ||
	      peer_in_group(fd, api->opts.admin_gid))))
		role = API_ROLE_ADMIN;
	if (api->st.clients >= api->opts.max_clients +
				       (role == API_ROLE_ADMIN ?
						API_ADMIN_RESERVE : 0)) {
		api_refuse(api, fd, cred.uid);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->api = api;
	c->fd = fd;
	c->refs = 1;
	c->serial = ++api->next_serial;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->role = role;
	c->events = EPOLLIN;
	err = loop_fd_add(api->loop, fd, c->events, client_on_event, c);
	if (err) {
		free(c);
		close(fd);
		return err;
	}
	c->next = api->clients;
	if (c->next)
		c->next->prev = c;
	api->clients = c;
	api->st.clients++;
	api->st.accepted++;
	api_log(api, LOG_LVL_DEBUG,
		"control client #%llu: uid %u pid %d, role %s",
		(unsigned long long)c->serial, (unsigned int)c->uid,
		(int)c->pid, api_role_name(c->role));
	if (client_hello(c))
		client_close(c);
	else
		client_output(c);
	return 0;
}

static void api_accept_resume(struct loop *l, uint64_t id, void *ctx)
{
	struct api *api = ctx;

	api->accept_timer = 0;
	loop_fd_mod(l, api->fd, EPOLLIN);
}

static void api_on_listen(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct api *api = ctx;
	int i, cfd, err;

	for (i = 0; i < API_ACCEPT_BURST; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			err = -errno;
			if (err == -EAGAIN || err == -EINTR ||
			    err == -ECONNABORTED)
				return;
			api_log(api, LOG_LVL_WARN,
				"Couldn't accept on control socket '%s': %s (%d)",
				api->path, strerror(-err), err);
			/* Out of fds: a level-triggered listener would spin. */
			if (!api->accept_timer &&
			    !loop_timer_add(l, API_ACCEPT_PAUSE_MS, 0,
					    api_accept_resume, api,
					    &api->accept_timer))
				loop_fd_mod(l, fd, 0);
			return;
		}
		err = api_add_client(api, cfd);
		if (err)
			api_log(api, LOG_LVL_WARN,
				"Couldn't set up control client: %s (%d)",
				strerror(-err), err);
	}
}

/* ---- built-in commands ---- */

static int cmd_hello(void *ctx, struct api_client *c, const json_t *args,
		     json_t **result, struct api_error *err)
{
	struct api *api = ctx;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	*result = json_pack("{s:s,s:s,s:i,s:s,s:I}", "server", api->server,
			    "version", api->version, "protocol",
			    API_PROTOCOL_VERSION, "role",
			    api_role_name(c->role), "uid", (json_int_t)c->uid);
	return *result ? 0 : -ENOMEM;
}

static int cmd_ping(void *ctx, struct api_client *c, const json_t *args,
		    json_t **result, struct api_error *err)
{
	if (api_args_only(args, err, NULL))
		return -EINVAL;
	*result = json_pack("{s:b}", "pong", 1);
	return *result ? 0 : -ENOMEM;
}

static int cmd_commands(void *ctx, struct api_client *c, const json_t *args,
			json_t **result, struct api_error *err)
{
	struct api *api = ctx;
	json_t *list;
	size_t i;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	list = json_array();
	if (!list)
		return -ENOMEM;
	for (i = 0; i < api->ncmds; i++) {
		if (json_array_append_new(list,
			json_pack("{s:s,s:s}", "cmd", api->cmds[i].name,
				  "role", api_role_name(api->cmds[i].role)))) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	*result = json_pack("{s:o}", "commands", list);
	return *result ? 0 : -ENOMEM;
}

static int cmd_subscribe(void *ctx, struct api_client *c, const json_t *args,
			 json_t **result, struct api_error *err)
{
	struct api *api = ctx;
	int64_t since = -1, first = 0, last = 0;
	int rc;

	if (api_args_only(args, err, "since", NULL) ||
	    api_arg_int(args, "since", false, 0, INT64_MAX, &since, err))
		return -EINVAL;
	if (c->subscribed) {
		api_error_set(err, API_ERR_CONFLICT,
			      "already subscribed on this connection; events.unsubscribe first");
		return -EEXIST;
	}
	if (since >= 0 && !api->has_events) {
		api_error_set(err, API_ERR_UNAVAILABLE,
			      "this server keeps no event history; subscribe without \"since\"");
		return -EOPNOTSUPP;
	}
	if (api->has_events) {
		rc = api->events.bounds(api->events.ctx, &first, &last);
		if (rc) {
			api_error_set(err, API_ERR_INTERNAL,
				      "reading the event history: %s",
				      strerror(rc < 0 ? -rc : EIO));
			return rc < 0 ? rc : -EIO;
		}
	}
	if (since > last) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "since %lld is ahead of the newest event (%lld): not a seq from this server's stream",
			      (long long)since, (long long)last);
		return -EINVAL;
	}
	*result = json_pack("{s:I,s:I}", "first", (json_int_t)first, "last",
			    (json_int_t)last);
	if (!*result)
		return -ENOMEM;
	c->subscribed = true;
	c->sub_start = true;
	c->replaying = since >= 0;
	c->last_seq = since >= 0 ? since : last;
	return 0;
}

static int cmd_unsubscribe(void *ctx, struct api_client *c,
			   const json_t *args, json_t **result,
			   struct api_error *err)
{
	bool was = c->subscribed;

	if (api_args_only(args, err, NULL))
		return -EINVAL;
	c->subscribed = false;
	c->replaying = false;
	c->sub_start = false;
	*result = json_pack("{s:b}", "was_subscribed", was);
	return *result ? 0 : -ENOMEM;
}

/* ---- registry ---- */

static bool cmd_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= API_CMD_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

int api_register(struct api *api, const char *cmd, enum api_role role,
		 api_handler fn, void *ctx)
{
	struct api_cmd *slot;
	size_t i;

	if (!api || !cmd || !fn || !cmd_name_valid(cmd) ||
	    (role != API_ROLE_READ && role != API_ROLE_ADMIN))
		return -EINVAL;
	if (api_cmd_find(api, cmd))
		return -EEXIST;
	if (api->ncmds == api->capcmds) {
		size_t cap = api->capcmds ? api->capcmds * 2 : 32;

		slot = realloc(api->cmds, cap * sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		api->cmds = slot;
		api->capcmds = cap;
	}
	for (i = api->ncmds; i > 0 && strcmp(api->cmds[i - 1].name, cmd) > 0;
	     i--)
		api->cmds[i] = api->cmds[i - 1];
	slot = &api->cmds[i];
	memset(slot, 0, sizeof(*slot));
	snprintf(slot->name, sizeof(slot->name), "%s", cmd);
	slot->role = role;
	slot->fn = fn;
	slot->ctx = ctx;
	api->ncmds++;
	return 0;
}

/* ---- handler-facing accessors ---- */

enum api_role api_client_role(const struct api_client *c)
{
	return c->role;
}

uid_t api_client_uid(const struct api_client *c)
{
	return c->uid;
}

pid_t api_client_pid(const struct api_client *c)
{
	return c->pid;
}

__u64 api_client_serial(const struct api_client *c)
{
	return c->serial;
}

struct api_pending *api_defer(struct api_client *c)
{
	struct api_pending *p;

	if (!c || !c->in_handler || c->deferred_now || c->gone) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->c = c;
	p->id = json_incref(c->cur_id);
	client_ref(c);
	c->deferred++;
	c->api->st.pending++;
	c->deferred_now = true;
	c->cur_pending = p;
	return p;
}

bool api_pending_alive(const struct api_pending *p)
{
	return p && !p->c->gone && !p->c->closing && !p->answered;
}

void api_pending_free(struct api_pending *p)
{
	struct api_client *c;

	if (!p)
		return;
	c = p->c;
	c->deferred--;
	if (c->cur_pending == p)
		c->cur_pending = NULL;
	if (!c->gone) {
		c->api->st.pending--;
		/* A half-closed client may have waited only for this. */
		if (!c->busy)
			client_output(c);
	}
	json_decref(p->id);
	free(p);
	client_unref(c);
}

int api_reply(struct api_pending *p, json_t *result, struct api_error *err)
{
	struct api_error none = {};
	struct api_client *c;
	int rc = 0;

	if (!p) {
		json_decref(result);
		api_error_clear(err);
		return -EINVAL;
	}
	c = p->c;
	if (!err)
		err = &none;
	if (c->gone || c->closing || p->answered) {
		json_decref(result);
		api_error_clear(err);
		rc = -ENOTCONN;
	} else {
		client_send_outcome(c, p->id, err->code[0] ? -EIO : 0, result,
				    err);
		if (!c->busy)
			client_output(c);
	}
	api_pending_free(p);
	return rc;
}

/* ---- argument helpers ---- */

int api_args_only(const json_t *args, struct api_error *err, ...)
{
	const char *key, *k;
	char allowed[256];
	size_t used = 0;
	json_t *v;
	va_list ap;
	bool ok;

	json_object_foreach((json_t *)args, key, v) {
		ok = false;
		va_start(ap, err);
		while ((k = va_arg(ap, const char *)))
			if (!strcmp(k, key))
				ok = true;
		va_end(ap);
		if (ok)
			continue;
		allowed[0] = '\0';
		va_start(ap, err);
		while ((k = va_arg(ap, const char *)) && used < sizeof(allowed))
			used += snprintf(allowed + used, sizeof(allowed) - used,
					 "%s%s", used ? ", " : "", k);
		va_end(ap);
		api_error_set(err, API_ERR_BAD_ARGS,
			      "unknown argument \"%.64s\" (%s%s)", key,
			      used ? "allowed: " : "this command takes none",
			      allowed);
		return -EINVAL;
	}
	return 0;
}

static const json_t *arg_get(const json_t *args, const char *key,
			     bool required, struct api_error *err, int *rc)
{
	const json_t *v = json_object_get(args, key);

	*rc = 0;
	if (!v || json_is_null(v)) {
		if (required) {
			api_error_set(err, API_ERR_BAD_ARGS,
				      "missing argument \"%s\"", key);
			*rc = -EINVAL;
		}
		return NULL;
	}
	return v;
}

int api_arg_str(const json_t *args, const char *key, bool required,
		size_t max_len, const char **out, struct api_error *err)
{
	const json_t *v;
	size_t len;
	int rc;

	v = arg_get(args, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_string(v)) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" must be a string", key);
		return -EINVAL;
	}
	len = json_string_length(v);
	if (!len || strlen(json_string_value(v)) != len) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" must be a non-empty string without NUL bytes",
			      key);
		return -EINVAL;
	}
	if (max_len && len > max_len) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" is %zu bytes long; at most %zu allowed",
			      key, len, max_len);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

int api_arg_int(const json_t *args, const char *key, bool required,
		int64_t min, int64_t max, int64_t *out, struct api_error *err)
{
	const json_t *v;
	json_int_t n;
	int rc;

	v = arg_get(args, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_integer(v)) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" must be an integer", key);
		return -EINVAL;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" is %lld; want %lld..%lld", key,
			      (long long)n, (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int api_arg_bool(const json_t *args, const char *key, bool required,
		 bool *out, struct api_error *err)
{
	const json_t *v;
	int rc;

	v = arg_get(args, key, required, err, &rc);
	if (!v)
		return rc;
	if (!json_is_boolean(v)) {
		api_error_set(err, API_ERR_BAD_ARGS,
			      "argument \"%s\" must be true or false", key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

/* ---- socket setup ---- */

/* mkdir -p for the socket's parent, new components 0755. */
static int api_mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	if (!stat(dir, &st))
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	for (p = dir + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755)) {
			if (errno != EEXIST)
				return -errno;
		} else if (chmod(dir, 0755)) { /* whatever the umask said */
			return -errno;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * A socket file at path: stale (nobody accepts) means a crashed vifd
 * left it and it may go; a listener means another vifd is running.
 */
static int api_clear_stale(struct api *api, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	if (lstat(api->path, &st)) {
		if (errno == ENOENT)
			return 0;
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		api_log(api, LOG_LVL_WARN,
			"'%s' exists and is not a socket; not touching it",
			api->path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno :
								       0;
	close(fd);
	switch (err) {
	case 0:
	case -EAGAIN: /* backlog full: still someone listening */
	case -EINPROGRESS:
		api_log(api, LOG_LVL_WARN,
			"Another process listens on '%s' (another vifd?)",
			api->path);
		return -EADDRINUSE;
	case -ECONNREFUSED:
		api_log(api, LOG_LVL_INFO, "Removing stale socket '%s'",
			api->path);
		if (unlink(api->path) && errno != ENOENT)
			return -errno;
		return 0;
	case -ENOENT:
		return 0;
	default:
		return err;
	}
}

static int api_listen(struct api *api)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	memcpy(sa.sun_path, api->path, strlen(api->path));
	err = api_mkdir_parent(api->path);
	if (err)
		return err;
	err = api_clear_stale(api, &sa);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto err_close;
	}
	/* Before listen(): until then a connect is refused, whatever the
	 * mode the umask gave the file. */
	if (api->opts.sock_gid != (gid_t)-1 &&
	    chown(api->path, (uid_t)-1, api->opts.sock_gid)) {
		err = -errno;
		goto err_unlink;
	}
	if (chmod(api->path, api->opts.mode) || stat(api->path, &st)) {
		err = -errno;
		goto err_unlink;
	}
	if (listen(fd, API_BACKLOG)) {
		err = -errno;
		goto err_unlink;
	}
	api->dev = st.st_dev;
	api->ino = st.st_ino;
	api->fd = fd;
	return 0;

err_unlink:
	unlink(api->path);
err_close:
	close(fd);
	return err;
}

void api_opts_init(struct api_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sock_gid = (gid_t)-1;
	o->admin_gid = (gid_t)-1;
}

int api_new(struct loop *l, const struct api_opts *opts, struct api **out)
{
	static const struct {
		const char *name;
		enum api_role role;
		api_handler fn;
	} builtins[] = {
		{ "commands", API_ROLE_READ, cmd_commands },
		{ "events.subscribe", API_ROLE_READ, cmd_subscribe },
		{ "events.unsubscribe", API_ROLE_READ, cmd_unsubscribe },
		{ "hello", API_ROLE_READ, cmd_hello },
		{ "ping", API_ROLE_READ, cmd_ping },
	};
	struct api_opts def;
	const char *path;
	struct api *api;
	size_t i;
	int err;

	*out = NULL;
	if (!opts) {
		api_opts_init(&def);
		opts = &def;
	}
	path = opts->path ? opts->path : API_SOCKET_PATH_DEFAULT;
	if (!l || !*path || strlen(path) >= sizeof(api->path))
		return -EINVAL;
	if (opts->events &&
	    (!opts->events->since || !opts->events->bounds))
		return -EINVAL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->loop = l;
	api->fd = -1;
	api->opts = *opts;
	snprintf(api->path, sizeof(api->path), "%s", path);
	api->opts.path = api->path;
	if (!api->opts.mode)
		api->opts.mode = API_SOCKET_MODE_DEFAULT;
	if (!api->opts.max_clients)
		api->opts.max_clients = API_CLIENTS_MAX_DEFAULT;
	if (!api->opts.out_max)
		api->opts.out_max = API_OUT_MAX_DEFAULT;
	if (!api->opts.line_max)
		api->opts.line_max = API_LINE_MAX;
	if (opts->events) {
		api->events = *opts->events;
		api->has_events = true;
	}
	api->opts.events = NULL; /* the copy above is what is used */
	api->server = strdup(opts->server ? opts->server : "vifd");
	api->version = strdup(opts->version ? opts->version : "0");
	if (!api->server || !api->version) {
		err = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		err = api_register(api, builtins[i].name, builtins[i].role,
				   builtins[i].fn, api);
		if (err)
			goto err_free;
	}
	err = api_listen(api);
	if (err)
		goto err_free;
	err = loop_fd_add(l, api->fd, EPOLLIN, api_on_listen, api);
	if (err)
		goto err_unlisten;
	*out = api;
	return 0;

err_unlisten:
	close(api->fd);
	unlink(api->path);
err_free:
	free(api->cmds);
	free(api->server);
	free(api->version);
	free(api);
	return err;
}

void api_free(struct api *api)
{
	struct api_client *c, *next;
	struct stat st;

	if (!api)
		return;
	for (c = api->clients; c; c = next) {
		next = c->next;
		client_ref(c);
		if (!c->closing)
			client_send_error(c, NULL, API_ERR_SHUTTING_DOWN,
					  "vifd is shutting down");
		if (!c->gone) {
			client_flush(c);
			client_close(c);
		}
		client_unref(c);
	}
	if (api->accept_timer)
		loop_timer_del(api->loop, api->accept_timer);
	loop_fd_del(api->loop, api->fd);
	close(api->fd);
	/* Only our own socket: a successor may already have replaced it. */
	if (!stat(api->path, &st) && st.st_dev == api->dev &&
	    st.st_ino == api->ino)
		unlink(api->path);
	free(api->cmds);
	free(api->server);
	free(api->version);
	free(api);
}

void api_get_stats(const struct api *api, struct api_stats *st)
{
	*st = api->st;
}
