/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * api.h - vifd's control socket: a Unix stream socket speaking
 * newline-delimited JSON, served from vifd's one event loop.
 * docs/PROTOCOL.md is the client's view; this is the daemon's.
 *
 * The server owns framing, the hello line, request parsing, roles, error
 * replies, per-client output queues and the event stream.  Commands are
 * registered by the modules that implement them:
 *
 *   static int vif_list(void *ctx, struct api_client *c, const json_t *args,
 *			 json_t **result, struct api_error *err)
 *   {
 *	 ...
 *	 *result = json_pack("{s:o}", "vifs", list);
 *	 return 0;
 *   }
 *   api_register(api, "vif.list", API_ROLE_READ, vif_list, vifd);
 *
 * A handler returns
 *   0            success: *result (a new reference, or NULL for {}) is sent;
 *   -errno       failure: err is sent; when the handler left err->code
 *                empty the code comes from api_errno_code(-errno) and the
 *                message from strerror();
 *   API_PENDING  the answer comes later: the handler called api_defer()
 *                and will call api_reply() exactly once with the handle.
 *
 * Requests of one client are read in order, but a deferred answer goes
 * out whenever api_reply() is called, so a client matches answers to
 * requests by id (PROTOCOL.md says so).
 *
 * Lifetimes: a struct api_client is valid only during the handler call.
 * struct api_pending stays valid until api_reply() or api_pending_free(),
 * whatever happens to the client or the server meanwhile: if the client
 * went away (or api_free() ran) the answer is dropped.
 *
 * Output per client is queued and written as the socket accepts it, never
 * blocking the loop.  Answers to requests are always queued (a client
 * that does not read its answers simply stops being read from until it
 * does); events are not paced by the client, so a subscriber whose queue
 * would pass opts.out_max is disconnected with a final SLOW_CONSUMER
 * error line.
 *
 * Not thread safe: everything runs in the loop's thread (STYLE.md 16).
 */
#ifndef VIF_CONTROL_API_H
#define VIF_CONTROL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include <jansson.h>

#include "log.h"
#include "loop.h"

#define API_PROTOCOL_VERSION 1
#define API_SOCKET_PATH_DEFAULT "/run/vifd/vifd.sock"
#define API_SOCKET_MODE_DEFAULT 0660
#define API_LINE_MAX (1024 * 1024)           /* bytes, newline excluded */
#define API_OUT_MAX_DEFAULT (8 * 1024 * 1024) /* queued bytes per client */
#define API_CLIENTS_MAX_DEFAULT 64
/*
 * Connections beyond max_clients that only admins may take, so read-only
 * users filling the table cannot lock root out of its own daemon.
 */
#define API_ADMIN_RESERVE 4
/* How long a client being dropped gets to read its final error line. */
#define API_LINGER_MS 2000

#define API_CMD_MAX 64       /* command name, incl. NUL */
#define API_CODE_MAX 32      /* error code, incl. NUL */
#define API_MESSAGE_MAX 512  /* error message, incl. NUL */

/* Handler return: the answer comes later through api_reply(). */
#define API_PENDING 1

/* The stable error codes; PROTOCOL.md says when each is used. */
#define API_ERR_BAD_JSON "BAD_JSON"
#define API_ERR_LINE_TOO_LONG "LINE_TOO_LONG"
#define API_ERR_BAD_REQUEST "BAD_REQUEST"
#define API_ERR_UNKNOWN_COMMAND "UNKNOWN_COMMAND"
#define API_ERR_BAD_ARGS "BAD_ARGS"
#define API_ERR_PERMISSION_DENIED "PERMISSION_DENIED"
#define API_ERR_NOT_FOUND "NOT_FOUND"
#define API_ERR_CONFLICT "CONFLICT"
#define API_ERR_BUSY "BUSY"
#define API_ERR_VALIDATION_FAILED "VALIDATION_FAILED"
#define API_ERR_CONFIRM_REQUIRED "CONFIRM_REQUIRED"
#define API_ERR_APPLY_FAILED "APPLY_FAILED"
#define API_ERR_PARTIAL_FAILURE "PARTIAL_FAILURE"
#define API_ERR_UNAVAILABLE "UNAVAILABLE"
#define API_ERR_TOO_MANY_CLIENTS "TOO_MANY_CLIENTS"
#define API_ERR_SLOW_CONSUMER "SLOW_CONSUMER"
#define API_ERR_SHUTTING_DOWN "SHUTTING_DOWN"
#define API_ERR_INTERNAL "INTERNAL"

enum api_role {
	API_ROLE_READ = 0,  /* may run read-only commands */
	API_ROLE_ADMIN = 1, /* may run everything */
};

struct api;
struct api_client;
struct api_pending;

struct api_error {
	char code[API_CODE_MAX];       /* "" until set */
	char message[API_MESSAGE_MAX];
	json_t *details;               /* optional, owned: sent and freed */
};

typedef int (*api_handler)(void *ctx, struct api_client *c,
			   const json_t *args, json_t **result,
			   struct api_error *err);

/*
 * The event history the server replays to "events.subscribe" with a
 * "since".  The callbacks mirror store_event_since()/store_event_bounds(),
 * so vifd's adapter is a few lines:
 *
 *   static int ev_store_cb(const struct store_event *e, void *ctx)
 *   {
 *	 const struct ev_adapt *a = ctx;
 *	 struct api_event ev = { e->seq, e->type, e->vlan, e->at, e->json };
 *
 *	 return a->cb(&ev, a->cb_ctx);
 *   }
 *
 * since() calls cb for every event with seq > since, oldest first, and
 * stops at cb's first nonzero return, returning that value (the server
 * uses a positive one to pause a replay when the client's queue is full).
 */
struct api_event {
	int64_t seq;
	const char *type; /* "vif.state", ... */
	__u16 vlan;       /* 0 = not about one VIF */
	int64_t at;       /* unix seconds */
	const char *json; /* the data object as JSON text; NULL = {} */
};
typedef int (*api_event_cb)(const struct api_event *ev, void *cb_ctx);

struct api_event_source {
	int (*since)(void *ctx, int64_t since, api_event_cb cb, void *cb_ctx);
	/* Oldest seq held (0 = none) and newest ever handed out (0 = none). */
	int (*bounds)(void *ctx, int64_t *first, int64_t *last);
	void *ctx;
};

typedef void (*api_log_fn)(void *ctx, enum vif_log_level level,
			   const char *msg);

struct api_opts {
	const char *path;          /* NULL: API_SOCKET_PATH_DEFAULT */
	mode_t mode;               /* 0: API_SOCKET_MODE_DEFAULT */
	gid_t sock_gid;            /* group of the socket; (gid_t)-1 = keep */
	gid_t admin_gid;           /* members are admins; (gid_t)-1 = none */
	unsigned int max_clients;  /* 0: API_CLIENTS_MAX_DEFAULT (+ reserve) */
	size_t out_max;            /* 0: API_OUT_MAX_DEFAULT */
	size_t line_max;           /* 0: API_LINE_MAX */
	const char *server;        /* hello "server"; NULL: "vifd" */
	const char *version;       /* hello "version"; NULL: "0" */
	/* NULL: subscriptions are live-only and "since" is refused. */
	const struct api_event_source *events;
	/* NULL: silent.  Dropped clients and refused connections go here. */
	api_log_fn log;
	void *log_ctx;
};

/* Defaults for every field (gids -1, everything else 0/NULL). */
void api_opts_init(struct api_opts *o);

/*
 * Create the socket and start serving on the loop.
 *
 * The socket's parent directory is created (mode 0755) when missing.  A
 * file already at the path is replaced only when it is a socket nobody
 * listens on (what a crashed vifd leaves); a live listener gives
 * -EADDRINUSE and anything that is not a socket -EEXIST, both with the
 * path untouched.  The socket gets opts->mode and sock_gid before it
 * starts listening, so no one connects through wider permissions.
 *
 * -EINVAL bad opts (path empty or longer than sun_path), other -errno
 * from the system calls.  On failure *out is NULL and nothing was left
 * on disk.
 */
int api_new(struct loop *l, const struct api_opts *opts, struct api **out);
/*
 * Disconnect every client (each gets a final SHUTTING_DOWN line, best
 * effort), stop listening and remove the socket if it is still ours.
 * Outstanding api_pending handles stay valid; their replies are dropped.
 * NULL is fine.  Not from inside a handler: stop the loop, then free.
 */
void api_free(struct api *api);

/*
 * Add a command.  Names are [a-z0-9_.-], 1..API_CMD_MAX-1 bytes.
 * -EEXIST for a name taken (built-ins included: hello, ping, commands,
 * events.subscribe, events.unsubscribe), -EINVAL for a bad name or role.
 */
int api_register(struct api *api, const char *cmd, enum api_role role,
		 api_handler fn, void *ctx);

/* Who is asking: valid during the handler call only. */
enum api_role api_client_role(const struct api_client *c);
uid_t api_client_uid(const struct api_client *c);
pid_t api_client_pid(const struct api_client *c);
/* A number naming the connection in logs; never reused while running. */
__u64 api_client_serial(const struct api_client *c);

/*
 * Answer later.  Called from a handler that then returns API_PENDING.
 * The handle holds the request id and a reference to the client.
 * NULL with errno ENOMEM, or EINVAL outside a handler call.
 */
struct api_pending *api_defer(struct api_client *c);
/*
 * Send the deferred answer and free @p: @result (a reference taken over,
 * NULL for {}) when @err is NULL or has an empty code, else @err (its
 * details taken over).  Returns 0 when queued, -ENOTCONN when the client
 * or the server has gone (the answer is dropped, everything freed).
 */
int api_reply(struct api_pending *p, json_t *result, struct api_error *err);
/* True while the client that asked is still connected. */
bool api_pending_alive(const struct api_pending *p);
/* Drop without answering (the client sees no answer).  NULL is fine. */
void api_pending_free(struct api_pending *p);

/*
 * Push an event to every live subscriber.  Call it after the event is in
 * the history behind opts->events (store_event_append first): clients
 * still replaying skip it and will find it there, which is what keeps
 * every subscriber's seqs increasing with nothing missed.  @seq > 0, as
 * the history gave it; @data may be NULL ({}); it is not taken over.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int api_broadcast_event(struct api *api, int64_t seq, const char *type,
			__u16 vlan, int64_t at, const json_t *data);

/* Error helpers for handlers. */
void api_error_set(struct api_error *err, const char *code, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));
/*
 * -EINVAL BAD_ARGS, -ENOENT NOT_FOUND, -EEXIST CONFLICT, -EBUSY BUSY,
 * -EPERM/-EACCES PERMISSION_DENIED, -EOPNOTSUPP/-ENOSYS UNAVAILABLE,
 * -ESHUTDOWN SHUTTING_DOWN, anything else INTERNAL.
 */
const char *api_errno_code(int err);
/* Frees err->details and clears the struct; for handlers that give up. */
void api_error_clear(struct api_error *err);

/*
 * Argument helpers, so every command words BAD_ARGS the same way.  Each
 * returns 0, or -EINVAL with err set to BAD_ARGS and a message naming the
 * argument.  @args is an object (the server passes {} for a request
 * without args).  An optional argument that is absent or null leaves *out
 * untouched, so preset the default.
 */
/* Refuse keys not in the NULL-terminated list. */
int api_args_only(const json_t *args, struct api_error *err, ...)
	__attribute__((sentinel));
/* A string without NUL bytes, 1..max_len bytes (0: no limit). */
int api_arg_str(const json_t *args, const char *key, bool required,
		size_t max_len, const char **out, struct api_error *err);
/* An integer (not a real) within min..max. */
int api_arg_int(const json_t *args, const char *key, bool required,
		int64_t min, int64_t max, int64_t *out, struct api_error *err);
int api_arg_bool(const json_t *args, const char *key, bool required,
		 bool *out, struct api_error *err);

const char *api_role_name(enum api_role role);

/* Counters for tests and the daemon's own status. */
struct api_stats {
	unsigned int clients;     /* connected now */
	__u64 accepted;
	__u64 refused;            /* over max_clients */
	__u64 dropped_slow;       /* subscribers over out_max */
	__u64 requests;
	__u64 errors;             /* error answers sent */
	unsigned int pending;     /* api_pending handles not yet answered */
	size_t out_peak;          /* largest output queue any client had */
};
void api_get_stats(const struct api *api, struct api_stats *st);

#endif /* VIF_CONTROL_API_H */
