// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifctl - the operator's CLI for vifd, over the control socket
 * (docs/PROTOCOL.md).  Links jansson only: everything it knows about vifd
 * is in that document, which is the point (any tool could do the same).
 *
 * Human tables by default, -j for the raw "result" JSON (as ip and
 * bpftool do).  Exit codes: 0 ok, 1 vifd answered with an error, 2 usage,
 * 3 cannot connect, 4 the connection failed afterwards (timeout, closed,
 * a reply that is not protocol 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "vif_build.h"

#define VIFCTL_SOCKET_DEFAULT "/run/vifd/vifd.sock"
#define VIFCTL_PROTOCOL 1
#define VIFCTL_TIMEOUT_DEFAULT 30   /* seconds per request */
#define VIFCTL_LINE_MAX (64u << 20) /* a reply bigger than this is bogus */

enum {
	EXIT_OK = 0,
	EXIT_DAEMON = 1,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3,
	EXIT_COMM = 4,
};

struct cli {
	const char *sock;
	bool json;
	bool pretty;
	int timeout_s; /* 0 = wait for ever */
	int fd;
	char *rbuf;
	size_t rlen, rcap;
	json_int_t next_id;
	json_t *hello;
	int connect_rc; /* exit code of a failed connect, message printed */
};

/* An answer: exactly one of result / error is set. */
struct reply {
	json_t *result;
	json_t *error;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vifctl [-s SOCKET] [-j] [-p] [-t TIMEOUT] COMMAND ...\n"
"\n"
"  vif list | vif show NAME | vif delete NAME | vif retry NAME\n"
"  vif create NAME [vlan N] [netns NS] [gateway none|socks5 TUN ADDR:PORT]\n"
"             [killswitch block|fallback VIF] [quota LIMIT PERIOD ACTION DIR]\n"
"  pool [status] | pool set LO-HI [reserved LIST|none]\n"
"  chain [list] | chain set A B [C ...] | chain clear NAME\n"
"  killswitch [show] | killswitch set NAME block|fallback VIF\n"
"  quota [show [NAME]] | quota set NAME LIMIT PERIOD ACTION DIR\n"
"  quota reset NAME\n"
"  stats [NAME] [--watch [SECS]] [--count N]\n"
"  history NAME [FROM TO]\n"
"  gateway [status]\n"
"  changeset preview [FILE|-] | changeset apply [FILE|-]\n"
"            [--confirm-timeout SECS] [--confirm]\n"
"  changeset confirm ID | changeset rollback ID | changeset status [ID]\n"
"  events [--since SEQ] [--follow]\n"
"  ping | commands | call CMD [ARGS-JSON]\n"
"\n"
"  -s SOCKET   control socket (default $VIFD_SOCKET, else %s)\n"
"  -j          print the raw result JSON (-p: pretty-printed)\n"
"  -t TIMEOUT  seconds to wait for each answer, 0 = no limit (default %d)\n"
"\n"
"LIMIT: bytes, with K M G T (10^3..) or Ki Mi Gi Ti (2^10..) suffixes.\n"
"PERIOD daily|weekly|monthly, ACTION block|alert, DIR both|rx|tx.\n"
"VIFs may be named by VLAN (a number) in chain set and killswitch fallback.\n"
"A change set FILE holds an array of items or {\"items\":[...]}; - or none\n"
"is stdin.  events without --since replays the retained history, unless\n"
"--follow is given, which then shows only new events.\n"
"\n"
"Exit: 0 ok, 1 vifd answered with an error, 2 usage, 3 cannot connect,\n"
"4 connection lost or timed out.\n",
		VIFCTL_SOCKET_DEFAULT, VIFCTL_TIMEOUT_DEFAULT);
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vifctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vifctl -h'.\n", stderr);
	return EXIT_USAGE;
}

/* ---- the connection ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t cli_deadline(const struct cli *c)
{
	return c->timeout_s ? now_ms() + (int64_t)c->timeout_s * 1000 : -1;
}

/* poll() for @ev until @deadline (-1: none).  -ETIMEDOUT, -EINTR. */
static int cli_wait(struct cli *c, short ev, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = ev };
	int left, n;

	for (;;) {
		if (interrupted)
			return -EINTR;
		left = -1;
		if (deadline >= 0) {
			int64_t d = deadline - now_ms();

			if (d <= 0)
				return -ETIMEDOUT;
			left = d > INT_MAX ? INT_MAX : (int)d;
		}
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int cli_send_all(struct cli *c, const char *p, size_t n,
			int64_t deadline)
{
	ssize_t w;
	int err;

	while (n) {
		w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			err = cli_wait(c, POLLOUT, deadline);
			if (err)
				return err;
			continue;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/*
 * The next line from vifd, parsed.  -ETIMEDOUT, -EPIPE on EOF, -EBADMSG
 * for a line that is not a JSON object, -EINTR after ^C.
 */
static int cli_read_msg(struct cli *c, json_t **msg, int64_t deadline)
{
	json_error_t jerr;
	char *nl;
	ssize_t n;
	size_t len;
	int err;

	for (;;) {
		nl = c->rlen ? memchr(c->rbuf, '\n', c->rlen) : NULL;
		if (nl) {
			len = nl - c->rbuf;
			*msg = json_loadb(c->rbuf, len, 0, &jerr);
			memmove(c->rbuf, nl + 1, c->rlen - len - 1);
			c->rlen -= len + 1;
			if (!*msg || !json_is_object(*msg)) {
				json_decref(*msg);
				*msg = NULL;
				return -EBADMSG;
			}
			return 0;
		}
		if (c->rlen == c->rcap) {
			size_t cap = c->rcap ? c->rcap * 2 : 65536;
			char *b;

			if (cap > VIFCTL_LINE_MAX)
				return -EMSGSIZE;
			b = realloc(c->rbuf, cap);
			if (!b)
				return -ENOMEM;
			c->rbuf = b;
			c->rcap = cap;
		}
		n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
			 MSG_DONTWAIT);
		if (n > 0) {
			c->rlen += n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		/* After vifd's farewell line the reset is just the close. */
		if (errno == ECONNRESET)
			return -EPIPE;
		if (errno != EAGAIN)
			return -errno;
		err = cli_wait(c, POLLIN, deadline);
		if (err)
			return err;
	}
}

static int comm_error(const struct cli *c, int err)
{
	if (err == -ENOTCONN && c->connect_rc)
		return c->connect_rc;
	if (err == -EINTR)
		return EXIT_OK;
	if (err == -ETIMEDOUT)
		fprintf(stderr, "vifctl: no answer from vifd within %d s\n",
			c->timeout_s);
	else if (err == -EPIPE)
		fprintf(stderr, "vifctl: vifd closed the connection\n");
	else if (err == -EBADMSG)
		fprintf(stderr,
			"vifctl: vifd sent a line that is not a JSON object\n");
	else
		fprintf(stderr, "vifctl: talking to vifd on '%s': %s (%d)\n",
			c->sock, strerror(-err), err);
	return EXIT_COMM;
}

static void print_json(const struct cli *c, const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY |
				(c->pretty ? JSON_INDENT(2) : JSON_COMPACT));

	if (s) {
		puts(s);
		free(s);
	}
}

/* vifd's error line: message to stderr, and the object itself with -j. */
static int report_error(const struct cli *c, const json_t *error)
{
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *msg = json_string_value(json_object_get(error, "message"));

	fprintf(stderr, "vifctl: %s: %s\n", code ? code : "ERROR",
		msg ? msg : "(no message)");
	if (c->json)
		print_json(c, error);
	return EXIT_DAEMON;
}

static int cli_connect(struct cli *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = c->timeout_s };
	const json_t *hello, *proto;
	json_t *msg = NULL;
	int err;

	if (strlen(c->sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr,
			"vifctl: cannot connect to '%s': path longer than %zu bytes\n",
			c->sock, sizeof(sa.sun_path) - 1);
		return EXIT_CONNECT;
	}
	memcpy(sa.sun_path, c->sock, strlen(c->sock));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		goto err_connect;
	}
	/* A full backlog blocks connect(); SO_SNDTIMEO bounds it. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		goto err_connect;
	}
	err = cli_read_msg(c, &msg, cli_deadline(c));
	if (err)
		return comm_error(c, err);
	hello = json_object_get(msg, "hello");
	if (!hello) {
		/* TOO_MANY_CLIENTS comes instead of the hello. */
		const json_t *e = json_object_get(msg, "error");
		int rc = e ? report_error(c, e) : EXIT_COMM;

		if (!e)
			fprintf(stderr, "vifctl: '%s' did not greet like vifd\n",
				c->sock);
		json_decref(msg);
		return rc;
	}
	proto = json_object_get(hello, "protocol");
	if (!json_is_integer(proto) ||
	    json_integer_value(proto) != VIFCTL_PROTOCOL) {
		fprintf(stderr,
			"vifctl: vifd speaks protocol %s, this vifctl protocol %d\n",
			json_is_integer(proto) ? "another" : "(unknown)",
			VIFCTL_PROTOCOL);
		json_decref(msg);
		return EXIT_COMM;
	}
	c->hello = json_incref((json_t *)hello);
	json_decref(msg);
	return EXIT_OK;

err_connect:
	fprintf(stderr, "vifctl: cannot connect to '%s': %s (errno %d)\n",
		c->sock, strerror(err), err);
	return EXIT_CONNECT;
}

/*
 * Send one request.  Takes over @args.  Connects first if need be, so
 * that every usage error is found before anything needs vifd.
 */
static int cli_request(struct cli *c, const char *cmd, json_t *args,
		       json_int_t *id)
{
	json_t *req;
	char *line;
	int err;

	if (c->fd < 0 || !c->hello) {
		c->connect_rc = c->fd < 0 ? cli_connect(c) : EXIT_COMM;
		if (c->connect_rc) {
			json_decref(args);
			return -ENOTCONN;
		}
	}
	*id = ++c->next_id;
	req = json_pack("{s:I,s:s,s:o}", "id", *id, "cmd", cmd, "args",
			args ? args : json_object());
	if (!req)
		return -ENOMEM;
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return -ENOMEM;
	err = cli_send_all(c, line, strlen(line), cli_deadline(c));
	if (!err)
		err = cli_send_all(c, "\n", 1, cli_deadline(c));
	free(line);
	return err;
}

/*
 * Wait for the answer to @id.  Events and other answers are skipped; an
 * error with a null id (BAD_JSON, LINE_TOO_LONG, SHUTTING_DOWN) can only
 * be about this request, the one thing in flight.
 */
static int cli_wait_reply(struct cli *c, json_int_t id, struct reply *r,
			  int64_t deadline)
{
	const json_t *jid;
	json_t *msg;
	int err;

	for (;;) {
		err = cli_read_msg(c, &msg, deadline);
		if (err)
			return err;
		jid = json_object_get(msg, "id");
		if (jid && (json_is_null(jid) ||
			    (json_is_integer(jid) &&
			     json_integer_value(jid) == id))) {
			if (json_is_true(json_object_get(msg, "ok"))) {
				r->result = json_incref(
					json_object_get(msg, "result"));
			} else {
				r->error = json_incref(
					json_object_get(msg, "error"));
			}
			json_decref(msg);
			if (!r->result && !r->error)
				return -EBADMSG;
			return 0;
		}
		json_decref(msg);
	}
}

static int cli_call(struct cli *c, const char *cmd, json_t *args,
		    struct reply *r)
{
	json_int_t id;
	int err;

	memset(r, 0, sizeof(*r));
	err = cli_request(c, cmd, args, &id);
	if (!err)
		err = cli_wait_reply(c, id, r, cli_deadline(c));
	return err;
}

static void reply_fini(struct reply *r)
{
	json_decref(r->result);
	json_decref(r->error);
	memset(r, 0, sizeof(*r));
}

/*
 * The common shape of a command: call, print the error or the result
 * (raw with -j, through @human otherwise).
 */
typedef void (*human_fn)(const struct cli *c, const json_t *result);

static int run(struct cli *c, const char *cmd, json_t *args, human_fn human)
{
	struct reply r;
	int err, rc;

	err = cli_call(c, cmd, args, &r);
	if (err)
		return comm_error(c, err);
	if (r.error) {
		rc = report_error(c, r.error);
	} else {
		if (c->json || !human)
			print_json(c, r.result);
		else
			human(c, r.result);
		rc = EXIT_OK;
	}
	reply_fini(&r);
	return rc;
}

/* ---- formatting ---- */

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long jint(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return 0;
}

static double jnum(const json_t *o, const char *k, bool *ok)
{
	const json_t *v = json_object_get(o, k);

	*ok = json_is_number(v);
	return *ok ? json_number_value(v) : 0;
}

static void fmt_bytes(char *buf, size_t len, double v)
{
	static const char units[] = "KMGTPE";
	int i = -1;

	while (v >= 1000 && i < 5) {
		v /= 1000;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, units[i]);
}

static void fmt_time(char *buf, size_t len, const json_t *v)
{
	struct tm tm;
	time_t t;

	if (!json_is_integer(v) || !json_integer_value(v)) {
		snprintf(buf, len, "-");
		return;
	}
	t = (time_t)json_integer_value(v);
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%F %T", &tm))
		snprintf(buf, len, "%lld", (long long)t);
}

/* "name (vlan)" of a {"name","vlan"} reference, "-" for null. */
static void fmt_ref(char *buf, size_t len, const json_t *ref)
{
	if (!json_is_object(ref))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s (%lld)", jstr(ref, "name"),
			 jint(ref, "vlan"));
}

#define TABLE_COLS 12

struct table {
	int ncols;
	char **cells; /* row-major, header first */
	size_t nrows, cap;
};

static void table_row(struct table *t, ...)
{
	va_list ap;
	int i;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells,
				       cap * t->ncols * sizeof(*cells));

		if (!cells)
			return;
		t->cells = cells;
		t->cap = cap;
	}
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncols + i] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

static void table_print(struct table *t)
{
	size_t w[TABLE_COLS] = {}, r;
	int i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = s ? strlen(s) : 1;

			if (n > w[i])
				w[i] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		int last = t->ncols - 1;

		/* No padding after the last non-empty cell. */
		while (last > 0 && !*(t->cells[r * t->ncols + last] ?: "-"))
			last--;
		for (i = 0; i <= last; i++) {
			const char *s = t->cells[r * t->ncols + i];

			if (i == last)
				printf("%s\n", s ? s : "-");
			else
				printf("%-*s  ", (int)w[i], s ? s : "-");
		}
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- vif ---- */

static void fmt_gateway(char *buf, size_t len, const json_t *gw)
{
	const char *type = jstr(gw, "type");

	if (!json_is_object(gw) || !strcmp(type, "none"))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%s %s", type, jstr(gw, "state"));
}

static void fmt_killswitch(char *buf, size_t len, const json_t *ks)
{
	const json_t *fb = json_object_get(ks, "fallback");
	bool engaged = json_is_true(json_object_get(ks, "engaged"));

	if (json_is_object(fb))
		snprintf(buf, len, "%s %s%s", jstr(ks, "mode"),
			 jstr(fb, "name"), engaged ? " ENGAGED" : "");
	else
		snprintf(buf, len, "%s%s", jstr(ks, "mode"),
			 engaged ? " ENGAGED" : "");
}

static void fmt_quota(char *buf, size_t len, const json_t *q)
{
	char lim[16];

	if (!json_is_object(q) || !jint(q, "limit")) {
		snprintf(buf, len, "-");
		return;
	}
	fmt_bytes(lim, sizeof(lim), (double)jint(q, "limit"));
	snprintf(buf, len, "%lld%% of %s", jint(q, "percent"), lim);
}

static void human_vif_list(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 8 };
	const json_t *v;
	size_t i;

	table_row(&t, "NAME", "VLAN", "STATE", "IFNAME", "ADDRESS", "GATEWAY",
		  "KILLSWITCH", "QUOTA");
	json_array_foreach(json_object_get(res, "vifs"), i, v) {
		char vlan[8], addr[48], gw[48], ks[64], q[48];
		const char *subnet = jstr(v, "subnet"), *slash;

		snprintf(vlan, sizeof(vlan), "%lld", jint(v, "vlan"));
		slash = strchr(subnet, '/');
		snprintf(addr, sizeof(addr), "%s%s", jstr(v, "svc_addr"),
			 slash ? slash : "");
		fmt_gateway(gw, sizeof(gw), json_object_get(v, "gateway"));
		fmt_killswitch(ks, sizeof(ks),
			       json_object_get(v, "killswitch"));
		fmt_quota(q, sizeof(q), json_object_get(v, "quota"));
		table_row(&t, jstr(v, "name"), vlan, jstr(v, "state"),
			  jstr(v, "ifname"), addr, gw, ks, q);
	}
	table_print(&t);
}

static void human_vif_show(const struct cli *c, const json_t *v)
{
	const json_t *gw = json_object_get(v, "gateway");
	const json_t *q = json_object_get(v, "quota");
	char buf[128], t[32];

	printf("name:        %s\n", jstr(v, "name"));
	printf("vlan:        %lld\n", jint(v, "vlan"));
	printf("state:       %s\n", jstr(v, "state"));
	if (json_is_string(json_object_get(v, "error")))
		printf("error:       %s\n", jstr(v, "error"));
	printf("ifname:      %s (service end %s, netns %s)\n",
	       jstr(v, "ifname"), jstr(v, "peer_ifname"), jstr(v, "netns"));
	printf("subnet:      %s (service %s, gateway %s)\n",
	       jstr(v, "subnet"), jstr(v, "svc_addr"), jstr(v, "gw_addr"));
	printf("mark/table:  0x%llx / %lld\n", jint(v, "mark"),
	       jint(v, "table"));
	fmt_ref(buf, sizeof(buf), json_object_get(v, "next_hop"));
	printf("next hop:    %s\n", buf);
	if (json_is_object(gw) && strcmp(jstr(gw, "type"), "none"))
		printf("gateway:     %s %s %s:%lld %s (fails %lld)\n",
		       jstr(gw, "type"), jstr(gw, "tun"), jstr(gw, "addr"),
		       jint(gw, "port"), jstr(gw, "state"), jint(gw, "fails"));
	else
		printf("gateway:     none\n");
	fmt_killswitch(buf, sizeof(buf), json_object_get(v, "killswitch"));
	printf("killswitch:  %s\n", buf);
	if (json_is_object(q) && jint(q, "limit")) {
		char used[16], lim[16];

		fmt_bytes(used, sizeof(used), (double)jint(q, "used"));
		fmt_bytes(lim, sizeof(lim), (double)jint(q, "limit"));
		printf("quota:       %s of %s (%lld%%) %s %s %s\n", used, lim,
		       jint(q, "percent"), jstr(q, "period"),
		       jstr(q, "action"), jstr(q, "dir"));
	} else {
		printf("quota:       -\n");
	}
	fmt_time(t, sizeof(t), json_object_get(v, "created_at"));
	printf("created:     %s\n", t);
}

static void human_vif_changed(const struct cli *c, const json_t *res)
{
	const json_t *v = json_object_get(res, "vif");

	printf("%s: VLAN %lld, %s", jstr(v, "name"), jint(v, "vlan"),
	       jstr(v, "state"));
	if (json_is_integer(json_object_get(res, "changeset")))
		printf(" (change set %lld)", jint(res, "changeset"));
	printf("\n");
}

static void human_vif_deleted(const struct cli *c, const json_t *res)
{
	printf("deleted %s (change set %lld)\n", jstr(res, "deleted"),
	       jint(res, "changeset"));
}

/* Bytes with an optional K/M/G/T (10^3) or Ki/Mi/Gi/Ti (2^10) suffix. */
static int parse_size(const char *s, json_int_t *out)
{
	static const char units[] = "KMGTPE";
	unsigned long long v, mul = 1;
	const char *u;
	char *end;
	int i;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		u = strchr(units, end[0] & ~0x20);
		if (!u)
			return -EINVAL;
		end++;
		for (i = 0; i <= u - units; i++)
			mul *= *end == 'i' ? 1024 : 1000;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > (unsigned long long)INT64_MAX / mul)
		return -ERANGE;
	*out = (json_int_t)(v * mul);
	return 0;
}

static int parse_int(const char *s, long long min, long long max,
		     long long *out)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || *end || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

/* A VIF named on the command line: a number is its VLAN. */
static json_t *vif_ref(const char *s)
{
	long long v;

	if (!parse_int(s, 0, 65535, &v))
		return json_integer(v);
	return json_string(s);
}

static json_t *quota_args(char **w, const char *what, int *rc)
{
	json_int_t limit;

	if (parse_size(w[0], &limit)) {
		*rc = usage_error("%s: bad LIMIT '%s'", what, w[0]);
		return NULL;
	}
	return json_pack("{s:I,s:s,s:s,s:s}", "limit", limit, "period", w[1],
			 "action", w[2], "dir", w[3]);
}

static int cmd_vif_create(struct cli *c, int argc, char **argv)
{
	json_t *args, *v;
	long long n;
	int i, rc = EXIT_USAGE;

	if (argc < 1)
		return usage_error("vif create: missing NAME");
	args = json_pack("{s:s}", "name", argv[0]);
	if (!args)
		return EXIT_COMM;
	for (i = 1; i < argc; i++) {
		const char *k = argv[i];
		int left = argc - i - 1;

		if (!strcmp(k, "vlan") && left >= 1) {
			if (parse_int(argv[i + 1], 0, 65535, &n)) {
				rc = usage_error("vif create: bad VLAN '%s'",
						 argv[i + 1]);
				goto err;
			}
			json_object_set_new(args, "vlan", json_integer(n));
			i++;
		} else if (!strcmp(k, "netns") && left >= 1) {
			json_object_set_new(args, "netns",
					    json_string(argv[++i]));
		} else if (!strcmp(k, "gateway") && left >= 1 &&
			   !strcmp(argv[i + 1], "none")) {
			json_object_set_new(args, "gateway",
					    json_pack("{s:s}", "type", "none"));
			i++;
		} else if (!strcmp(k, "gateway") && left >= 3) {
			char *colon = strrchr(argv[i + 3], ':');
			char addr[64];

			if (!colon || parse_int(colon + 1, 1, 65535, &n) ||
			    (size_t)(colon - argv[i + 3]) >= sizeof(addr)) {
				rc = usage_error("vif create: gateway wants TYPE TUN ADDR:PORT, got '%s'",
						 argv[i + 3]);
				goto err;
			}
			snprintf(addr, sizeof(addr), "%.*s",
				 (int)(colon - argv[i + 3]), argv[i + 3]);
			v = json_pack("{s:s,s:s,s:s,s:I}", "type", argv[i + 1],
				      "tun", argv[i + 2], "addr", addr, "port",
				      (json_int_t)n);
			json_object_set_new(args, "gateway", v);
			i += 3;
		} else if (!strcmp(k, "killswitch") && left >= 1) {
			v = json_pack("{s:s}", "mode", argv[i + 1]);
			i++;
			if (!strcmp(argv[i], "fallback")) {
				if (i + 1 >= argc) {
					json_decref(v);
					rc = usage_error("vif create: killswitch fallback needs a VIF");
					goto err;
				}
				json_object_set_new(v, "fallback",
						    vif_ref(argv[++i]));
			}
			json_object_set_new(args, "killswitch", v);
		} else if (!strcmp(k, "quota") && left >= 4) {
			v = quota_args(&argv[i + 1], "vif create", &rc);
			if (!v)
				goto err;
			json_object_set_new(args, "quota", v);
			i += 4;
		} else {
			rc = usage_error("vif create: unexpected '%s' (or missing its values)",
					 k);
			goto err;
		}
	}
	return run(c, "vif.create", args, human_vif_changed);
err:
	json_decref(args);
	return rc;
}

static int cmd_vif(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "list";

	if (!strcmp(sub, "list") && argc <= 1)
		return run(c, "vif.list", NULL, human_vif_list);
	if (!strcmp(sub, "create"))
		return cmd_vif_create(c, argc - 1, argv + 1);
	if (argc != 2)
		return usage_error("vif %s: want exactly one NAME", sub);
	if (!strcmp(sub, "show"))
		return run(c, "vif.show", json_pack("{s:o}", "name",
						     vif_ref(argv[1])),
			   human_vif_show);
	if (!strcmp(sub, "delete"))
		return run(c, "vif.delete",
			   json_pack("{s:s}", "name", argv[1]),
			   human_vif_deleted);
	if (!strcmp(sub, "retry"))
		return run(c, "vif.retry", json_pack("{s:s}", "name", argv[1]),
			   human_vif_changed);
	return usage_error("vif: unknown subcommand '%s'", sub);
}

/* ---- pool ---- */

static void fmt_vlan_list(char *buf, size_t len, const json_t *arr)
{
	const json_t *v;
	size_t i, used = 0;
	long long run_lo = -1, prev = -2;

	buf[0] = '\0';
	/* Collapse runs: the list comes sorted. */
	json_array_foreach(arr, i, v) {
		long long x = json_integer_value(v);

		if (x == prev + 1) {
			prev = x;
			continue;
		}
		if (run_lo >= 0 && used < len)
			used += snprintf(buf + used, len - used,
					 prev > run_lo ? "%s%lld-%lld" : "%s%lld",
					 used ? "," : "", run_lo, prev);
		run_lo = prev = x;
	}
	if (run_lo >= 0 && used < len)
		used += snprintf(buf + used, len - used,
				 prev > run_lo ? "%s%lld-%lld" : "%s%lld",
				 used ? "," : "", run_lo, prev);
	if (!used)
		snprintf(buf, len, "-");
}

static void human_pool(const struct cli *c, const json_t *p)
{
	const json_t *o;
	char buf[512];
	size_t i;

	fmt_vlan_list(buf, sizeof(buf), json_object_get(p, "reserved"));
	printf("range:      %s\n", jstr(p, "range"));
	printf("reserved:   %s\n", buf);
	printf("size:       %lld\n", jint(p, "size"));
	printf("allocated:  %lld (%lld%%)\n", jint(p, "allocated"),
	       jint(p, "percent"));
	printf("free:       %lld\n", jint(p, "free"));
	printf("level:      %s\n", jstr(p, "level"));
	printf("orphans:    %s", json_array_size(json_object_get(p, "orphans")) ?
					 "" : "-");
	json_array_foreach(json_object_get(p, "orphans"), i, o)
		printf("%s%lld (%s)", i ? ", " : "", jint(o, "vlan"),
		       jstr(o, "owner"));
	printf("\n");
}

static void human_pool_set(const struct cli *c, const json_t *res)
{
	printf("pool is now %s (change set %lld)\n",
	       jstr(json_object_get(res, "pool"), "range"),
	       jint(res, "changeset"));
}

/* "150,160-169" -> [150,"160-169"]; "none" -> []. */
static json_t *parse_vlan_list(const char *s)
{
	json_t *arr = json_array();
	char *dup, *tok, *save = NULL;
	long long v;

	if (!arr || !strcmp(s, "none"))
		return arr;
	dup = strdup(s);
	if (!dup)
		goto err;
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strchr(tok, '-'))
			json_array_append_new(arr, json_string(tok));
		else if (!parse_int(tok, 0, 65535, &v))
			json_array_append_new(arr, json_integer(v));
		else
			goto err;
	}
	free(dup);
	return arr;
err:
	free(dup);
	json_decref(arr);
	return NULL;
}

static int cmd_pool(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "status";
	json_t *args, *res;

	if (!strcmp(sub, "status") && argc <= 1)
		return run(c, "pool.status", NULL, human_pool);
	if (strcmp(sub, "set"))
		return usage_error("pool: unknown subcommand '%s'", sub);
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "reserved")))
		return usage_error("pool set: want LO-HI [reserved LIST|none]");
	args = json_pack("{s:s}", "range", argv[1]);
	if (argc == 4) {
		res = parse_vlan_list(argv[3]);
		if (!res) {
			json_decref(args);
			return usage_error("pool set: bad reserved list '%s'",
					   argv[3]);
		}
		json_object_set_new(args, "reserved", res);
	}
	return run(c, "pool.set", args, human_pool_set);
}

/* ---- chain ---- */

static void fmt_hops(char *buf, size_t len, const json_t *hops)
{
	const json_t *h;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(hops, i, h)
		if (used < len)
			used += snprintf(buf + used, len - used, "%s%s",
					 i ? " -> " : "", jstr(h, "name"));
}

static void human_chain_list(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 2 };
	const json_t *ch;
	char hops[256];
	size_t i;

	table_row(&t, "CHAIN", "KILLSWITCH");
	json_array_foreach(json_object_get(res, "chains"), i, ch) {
		fmt_hops(hops, sizeof(hops), json_object_get(ch, "hops"));
		table_row(&t, hops,
			  json_is_true(json_object_get(ch, "engaged")) ?
				  "ENGAGED" : "released");
	}
	table_print(&t);
}

static void human_chain_set(const struct cli *c, const json_t *res)
{
	char hops[256];

	fmt_hops(hops, sizeof(hops),
		 json_object_get(json_object_get(res, "chain"), "hops"));
	printf("chain %s set (change set %lld)\n", hops,
	       jint(res, "changeset"));
}

static void human_chain_clear(const struct cli *c, const json_t *res)
{
	const json_t *n;
	size_t i;

	printf("cleared chain ");
	json_array_foreach(json_object_get(res, "cleared"), i, n)
		printf("%s%s", i ? " -> " : "", json_string_value(n));
	printf(" (change set %lld)\n", jint(res, "changeset"));
}

static int cmd_chain(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "list";
	json_t *hops;
	int i;

	if (!strcmp(sub, "list") && argc <= 1)
		return run(c, "chain.list", NULL, human_chain_list);
	if (!strcmp(sub, "clear")) {
		if (argc != 2)
			return usage_error("chain clear: want one NAME");
		return run(c, "chain.clear",
			   json_pack("{s:s}", "name", argv[1]),
			   human_chain_clear);
	}
	if (strcmp(sub, "set"))
		return usage_error("chain: unknown subcommand '%s'", sub);
	if (argc < 3)
		return usage_error("chain set: want at least two hops");
	hops = json_array();
	for (i = 1; i < argc; i++)
		json_array_append_new(hops, vif_ref(argv[i]));
	return run(c, "chain.set", json_pack("{s:o}", "hops", hops),
		   human_chain_set);
}

/* ---- killswitch ---- */

static void human_ks_show(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 6 };
	const json_t *k;
	char vlan[8], fb[64];
	size_t i;

	table_row(&t, "NAME", "VLAN", "MODE", "FALLBACK", "STATE", "REASON");
	json_array_foreach(json_object_get(res, "killswitches"), i, k) {
		snprintf(vlan, sizeof(vlan), "%lld", jint(k, "vlan"));
		fmt_ref(fb, sizeof(fb), json_object_get(k, "fallback"));
		table_row(&t, jstr(k, "name"), vlan, jstr(k, "mode"), fb,
			  json_is_true(json_object_get(k, "engaged")) ?
				  "ENGAGED" : "released",
			  jstr(k, "reason"));
	}
	table_print(&t);
}

static void human_ks_set(const struct cli *c, const json_t *res)
{
	char buf[96];
	const json_t *k = json_object_get(res, "killswitch");

	fmt_killswitch(buf, sizeof(buf), k);
	printf("killswitch of %s: %s (change set %lld)\n", jstr(k, "name"),
	       buf, jint(res, "changeset"));
}

static int cmd_killswitch(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "show";
	json_t *args;

	if (!strcmp(sub, "show") && argc <= 1)
		return run(c, "killswitch.show", NULL, human_ks_show);
	if (strcmp(sub, "set"))
		return usage_error("killswitch: unknown subcommand '%s'", sub);
	if (argc == 3 && strcmp(argv[2], "fallback"))
		args = json_pack("{s:s,s:s}", "name", argv[1], "mode",
				 argv[2]);
	else if (argc == 4 && !strcmp(argv[2], "fallback"))
		args = json_pack("{s:s,s:s,s:o}", "name", argv[1], "mode",
				 argv[2], "fallback", vif_ref(argv[3]));
	else
		return usage_error("killswitch set: want NAME block | NAME fallback VIF");
	return run(c, "killswitch.set", args, human_ks_set);
}

/* ---- quota ---- */

static void human_quota_show(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 9 };
	char vlan[8], lim[16], used[16], pct[8], end[32];
	const json_t *q;
	size_t i;

	table_row(&t, "NAME", "VLAN", "LIMIT", "USED", "%", "PERIOD", "ACTION",
		  "DIR", "RESETS");
	json_array_foreach(json_object_get(res, "quotas"), i, q) {
		snprintf(vlan, sizeof(vlan), "%lld", jint(q, "vlan"));
		fmt_bytes(lim, sizeof(lim), (double)jint(q, "limit"));
		fmt_bytes(used, sizeof(used), (double)jint(q, "used"));
		snprintf(pct, sizeof(pct), "%lld", jint(q, "percent"));
		fmt_time(end, sizeof(end), json_object_get(q, "period_end"));
		table_row(&t, jstr(q, "name"), vlan,
			  jint(q, "limit") ? lim : "none", used, pct,
			  jstr(q, "period"), jstr(q, "action"), jstr(q, "dir"),
			  end);
	}
	table_print(&t);
}

static void human_quota_one(const struct cli *c, const json_t *res)
{
	const json_t *q = json_object_get(res, "quota");
	char lim[16], used[16];

	fmt_bytes(lim, sizeof(lim), (double)jint(q, "limit"));
	fmt_bytes(used, sizeof(used), (double)jint(q, "used"));
	if (json_object_get(res, "changeset"))
		printf("quota of %s: %s %s %s %s (change set %lld)\n",
		       jstr(q, "name"), jint(q, "limit") ? lim : "none",
		       jstr(q, "period"), jstr(q, "action"), jstr(q, "dir"),
		       jint(res, "changeset"));
	else
		printf("quota of %s reset: %s used of %s\n", jstr(q, "name"),
		       used, lim);
}

static int cmd_quota(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "show";
	int rc = EXIT_USAGE;
	json_t *args;

	if (!strcmp(sub, "show") && argc <= 2)
		return run(c, "quota.show",
			   argc == 2 ? json_pack("{s:s}", "name", argv[1]) :
				       NULL,
			   human_quota_show);
	if (!strcmp(sub, "reset")) {
		if (argc != 2)
			return usage_error("quota reset: want one NAME");
		return run(c, "quota.reset",
			   json_pack("{s:s}", "name", argv[1]),
			   human_quota_one);
	}
	if (strcmp(sub, "set"))
		return usage_error("quota: unknown subcommand '%s'", sub);
	if (argc != 6)
		return usage_error("quota set: want NAME LIMIT PERIOD ACTION DIR");
	args = quota_args(&argv[2], "quota set", &rc);
	if (!args)
		return rc;
	json_object_set_new(args, "name", json_string(argv[1]));
	return run(c, "quota.set", args, human_quota_one);
}

/* ---- stats ---- */

/* Per VLAN: the previous sample, for rates in --watch. */
struct sample {
	int64_t at_ms;
	json_t *vifs; /* the previous "vifs" array */
};

static const json_t *sample_find(const json_t *vifs, long long vlan)
{
	const json_t *v;
	size_t i;

	json_array_foreach(vifs, i, v)
		if (jint(v, "vlan") == vlan)
			return v;
	return NULL;
}

static void fmt_rate(char *buf, size_t len, double v, bool ok,
		     const char *unit)
{
	if (!ok) {
		snprintf(buf, len, "-");
		return;
	}
	fmt_bytes(buf, len, v);
	strncat(buf, unit, len - strlen(buf) - 1);
}

static void human_stats(const json_t *res, const struct sample *prev,
			int64_t at_ms)
{
	static const char *const ctr[] = { "rx_bytes", "tx_bytes",
					   "rx_packets", "tx_packets" };
	static const char *const rate[] = { "rx_bytes_per_s",
					    "tx_bytes_per_s",
					    "rx_packets_per_s",
					    "tx_packets_per_s" };
	struct table t = { .ncols = 11 };
	const json_t *v, *old;
	size_t i;
	int k;

	table_row(&t, "NAME", "VLAN", "RX_PKTS", "RX_BYTES", "TX_PKTS",
		  "TX_BYTES", "DROPS", "RX_B/s", "TX_B/s", "RX_PPS", "TX_PPS");
	json_array_foreach(json_object_get(res, "vifs"), i, v) {
		char vlan[8], c[5][24], r[4][24];
		const json_t *rates = json_object_get(v, "rates");

		snprintf(vlan, sizeof(vlan), "%lld", jint(v, "vlan"));
		snprintf(c[0], sizeof(c[0]), "%lld", jint(v, "rx_packets"));
		fmt_bytes(c[1], sizeof(c[1]), (double)jint(v, "rx_bytes"));
		snprintf(c[2], sizeof(c[2]), "%lld", jint(v, "tx_packets"));
		fmt_bytes(c[3], sizeof(c[3]), (double)jint(v, "tx_bytes"));
		snprintf(c[4], sizeof(c[4]), "%lld", jint(v, "drops_total"));
		old = prev && prev->vifs ? sample_find(prev->vifs,
						       jint(v, "vlan")) :
					   NULL;
		for (k = 0; k < 4; k++) {
			bool ok;
			double x;

			/* Two samples of ours beat vifd's own window. */
			if (old && at_ms > prev->at_ms) {
				ok = true;
				x = (double)(jint(v, ctr[k]) -
					     jint(old, ctr[k])) * 1000.0 /
				    (double)(at_ms - prev->at_ms);
				/* Counters went back: dataplane reload. */
				if (x < 0)
					ok = false;
			} else {
				x = jnum(rates, rate[k], &ok);
			}
			fmt_rate(r[k], sizeof(r[k]), x, ok, "");
		}
		table_row(&t, jstr(v, "name"), vlan, c[0], c[1], c[2], c[3],
			  c[4], r[0], r[1], r[2], r[3]);
	}
	table_print(&t);
}

static int cmd_stats(struct cli *c, int argc, char **argv)
{
	struct sample prev = {};
	const char *name = NULL;
	long long secs = 1, count = 0, n;
	bool watch = false;
	struct reply r;
	int i, err, rc = EXIT_OK;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--watch")) {
			watch = true;
			if (i + 1 < argc &&
			    !parse_int(argv[i + 1], 1, 86400, &n)) {
				secs = n;
				i++;
			}
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (parse_int(argv[++i], 1, LLONG_MAX, &count))
				return usage_error("stats: bad --count '%s'",
						   argv[i]);
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			return usage_error("stats: unexpected '%s'", argv[i]);
		}
	}
	if (count && !watch)
		return usage_error("stats: --count goes with --watch");
	for (n = 0; !count || n < count; n++) {
		int64_t at;

		if (n) {
			struct timespec ts = { .tv_sec = secs };

			while (nanosleep(&ts, &ts) && errno == EINTR &&
			       !interrupted)
				;
			if (interrupted)
				break;
		}
		err = cli_call(c, "stats",
			       name ? json_pack("{s:s}", "name", name) : NULL,
			       &r);
		if (err) {
			rc = comm_error(c, err);
			break;
		}
		at = now_ms();
		if (r.error) {
			rc = report_error(c, r.error);
			reply_fini(&r);
			break;
		}
		if (c->json) {
			print_json(c, r.result);
		} else {
			if (watch && isatty(STDOUT_FILENO))
				printf("\033[H\033[2J");
			if (watch) {
				char t[32];

				fmt_time(t, sizeof(t),
					 json_object_get(r.result, "at"));
				printf("%s, every %llds\n", t, secs);
			}
			human_stats(r.result, n ? &prev : NULL, at);
		}
		fflush(stdout);
		json_decref(prev.vifs);
		prev.vifs = json_incref(json_object_get(r.result, "vifs"));
		prev.at_ms = at;
		reply_fini(&r);
		if (!watch)
			break;
	}
	json_decref(prev.vifs);
	return rc;
}

static void human_history(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 6 };
	char hour[32], rx[24], tx[24], rp[24], tp[24];
	const json_t *h;
	size_t i;

	table_row(&t, "HOUR", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES",
		  "DROPS");
	json_array_foreach(json_object_get(res, "hours"), i, h) {
		char drops[24];

		fmt_time(hour, sizeof(hour), json_object_get(h, "hour"));
		snprintf(rp, sizeof(rp), "%lld", jint(h, "rx_packets"));
		fmt_bytes(rx, sizeof(rx), (double)jint(h, "rx_bytes"));
		snprintf(tp, sizeof(tp), "%lld", jint(h, "tx_packets"));
		fmt_bytes(tx, sizeof(tx), (double)jint(h, "tx_bytes"));
		snprintf(drops, sizeof(drops), "%lld", jint(h, "drops"));
		table_row(&t, hour, rp, rx, tp, tx, drops);
	}
	table_print(&t);
}

static int cmd_history(struct cli *c, int argc, char **argv)
{
	long long from, to;
	json_t *args;

	if (argc != 1 && argc != 3)
		return usage_error("history: want NAME [FROM TO] (unix seconds)");
	args = json_pack("{s:s}", "name", argv[0]);
	if (argc == 3) {
		if (parse_int(argv[1], 0, LLONG_MAX, &from) ||
		    parse_int(argv[2], 0, LLONG_MAX, &to)) {
			json_decref(args);
			return usage_error("history: FROM and TO are unix seconds");
		}
		json_object_set_new(args, "from", json_integer(from));
		json_object_set_new(args, "to", json_integer(to));
	}
	return run(c, "stats.history", args, human_history);
}

/* ---- gateway ---- */

static void human_gateways(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 7 };
	char vlan[8], socks[64], fails[16], probe[32];
	const json_t *g;
	size_t i;

	table_row(&t, "NAME", "VLAN", "TUN", "SOCKS", "STATE", "FAILS",
		  "LAST_PROBE");
	json_array_foreach(json_object_get(res, "gateways"), i, g) {
		snprintf(vlan, sizeof(vlan), "%lld", jint(g, "vlan"));
		snprintf(socks, sizeof(socks), "%s:%lld", jstr(g, "addr"),
			 jint(g, "port"));
		snprintf(fails, sizeof(fails), "%lld", jint(g, "fails"));
		fmt_time(probe, sizeof(probe), json_object_get(g, "last_probe"));
		table_row(&t, jstr(g, "name"), vlan, jstr(g, "tun"), socks,
			  jstr(g, "state"), fails, probe);
	}
	table_print(&t);
}

/* ---- change sets ---- */

static int read_items(const char *path, json_t **items)
{
	json_error_t jerr;
	json_t *doc, *arr;
	const char *name = path && strcmp(path, "-") ? path : "<stdin>";

	if (!path || !strcmp(path, "-"))
		doc = json_loadf(stdin, 0, &jerr);
	else
		doc = json_load_file(path, 0, &jerr);
	if (!doc)
		return usage_error("%s:%d:%d: %s", name, jerr.line, jerr.column,
				   jerr.text);
	arr = json_is_array(doc) ? doc : json_object_get(doc, "items");
	if (!json_is_array(arr)) {
		json_decref(doc);
		return usage_error("%s: want an array of items or {\"items\":[...]}",
				   name);
	}
	*items = json_incref(arr);
	json_decref(doc);
	return EXIT_OK;
}

static void human_preview(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 5 };
	const json_t *it, *ch, *o;
	size_t i, j;

	printf("risk: %s%s\n", jstr(res, "risk"),
	       json_is_true(json_object_get(res, "confirm_required")) ?
		       " (apply needs --confirm)" :
		       "");
	printf("order:");
	json_array_foreach(json_object_get(res, "order"), i, o)
		printf("%s%s", i ? ", " : " ", json_string_value(o));
	printf("\n");
	table_row(&t, "ITEM", "OP", "RISK", "TARGET", "CHANGE");
	json_array_foreach(json_object_get(res, "items"), i, it) {
		json_array_foreach(json_object_get(it, "changes"), j, ch) {
			const json_t *before = json_object_get(ch, "before");
			const json_t *after = json_object_get(ch, "after");
			const char *what = json_is_null(before) ? "add" :
					   json_is_null(after) ? "remove" :
								 "change";

			table_row(&t, j ? "" : jstr(it, "id"),
				  j ? "" : jstr(it, "op"), jstr(ch, "risk"),
				  jstr(ch, "target"), what);
		}
		if (!json_array_size(json_object_get(it, "changes")))
			table_row(&t, jstr(it, "id"), jstr(it, "op"),
				  jstr(it, "risk"), "-", "no change");
	}
	table_print(&t);
}

static void human_changeset(const struct cli *c, const json_t *res)
{
	const json_t *cs = json_object_get(res, "changeset");
	const json_t *log, *e;
	char t[32];
	size_t i;

	if (!json_is_object(cs)) {
		printf("no change set pending\n");
		return;
	}
	printf("change set %lld: %s, risk %s\n", jint(cs, "id"),
	       jstr(cs, "state"), jstr(cs, "risk"));
	if (json_is_integer(json_object_get(cs, "confirm_deadline")) &&
	    !strcmp(jstr(cs, "state"), "APPLIED")) {
		fmt_time(t, sizeof(t), json_object_get(cs, "confirm_deadline"));
		printf("confirm by %s: vifctl changeset confirm %lld\n", t,
		       jint(cs, "id"));
	}
	if (json_is_string(json_object_get(cs, "error")))
		printf("error: %s\n", jstr(cs, "error"));
	log = json_object_get(cs, "log");
	if (json_array_size(log)) {
		struct table tb = { .ncols = 5 };

		table_row(&tb, "TIME", "ITEM", "STEP", "RESULT", "DETAIL");
		json_array_foreach(log, i, e) {
			fmt_time(t, sizeof(t), json_object_get(e, "at"));
			table_row(&tb, t, jstr(e, "item"), jstr(e, "step"),
				  jstr(e, "result"), jstr(e, "detail"));
		}
		table_print(&tb);
	}
}

static int cmd_changeset(struct cli *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "status";
	const char *file = NULL;
	long long id, secs = 0;
	bool confirm = false;
	json_t *items = NULL, *args;
	int i, rc;

	if (!strcmp(sub, "confirm") || !strcmp(sub, "rollback")) {
		char cmd[32];

		if (argc != 2 || parse_int(argv[1], 1, LLONG_MAX, &id))
			return usage_error("changeset %s: want one change set ID",
					   sub);
		snprintf(cmd, sizeof(cmd), "changeset.%s", sub);
		return run(c, cmd, json_pack("{s:I}", "id", (json_int_t)id),
			   human_changeset);
	}
	if (!strcmp(sub, "status")) {
		if (argc > 2 ||
		    (argc == 2 && parse_int(argv[1], 1, LLONG_MAX, &id)))
			return usage_error("changeset status: want [ID]");
		return run(c, "changeset.status",
			   argc == 2 ? json_pack("{s:I}", "id",
						 (json_int_t)id) :
				       NULL,
			   human_changeset);
	}
	if (strcmp(sub, "preview") && strcmp(sub, "apply"))
		return usage_error("changeset: unknown subcommand '%s'", sub);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--confirm-timeout") && i + 1 < argc &&
		    !strcmp(sub, "apply")) {
			if (parse_int(argv[++i], 1, 86400, &secs))
				return usage_error("changeset apply: --confirm-timeout wants 1-86400 seconds");
		} else if (!strcmp(argv[i], "--confirm") &&
			   !strcmp(sub, "apply")) {
			confirm = true;
		} else if (!file && (argv[i][0] != '-' || !argv[i][1])) {
			file = argv[i];
		} else {
			return usage_error("changeset %s: unexpected '%s'",
					   sub, argv[i]);
		}
	}
	rc = read_items(file, &items);
	if (rc)
		return rc;
	args = json_pack("{s:o}", "items", items);
	if (secs)
		json_object_set_new(args, "confirm_timeout",
				    json_integer(secs));
	if (confirm)
		json_object_set_new(args, "confirm", json_true());
	if (!strcmp(sub, "preview"))
		return run(c, "changeset.preview", args, human_preview);
	return run(c, "changeset.apply", args, human_changeset);
}

/* ---- events ---- */

static void human_event(const json_t *ev)
{
	const char *type = jstr(ev, "type");
	const json_t *data = json_object_get(ev, "data"), *v;
	const char *k;
	char t[32];

	if (!strcmp(type, "events.gap")) {
		printf("-- events %lld-%lld are no longer retained --\n",
		       jint(ev, "from"), jint(ev, "to"));
		return;
	}
	fmt_time(t, sizeof(t), json_object_get(ev, "at"));
	printf("%-6lld %s  %-18s", jint(ev, "seq"), t, type);
	if (json_is_integer(json_object_get(ev, "vlan")))
		printf(" vlan %lld", jint(ev, "vlan"));
	json_object_foreach((json_t *)data, k, v) {
		char *s = json_is_string(v) ?
				  strdup(json_string_value(v)) :
				  json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf(" %s=%s", k, s ? s : "?");
		free(s);
	}
	printf("\n");
}

static int cmd_events(struct cli *c, int argc, char **argv)
{
	long long since = -1;
	bool follow = false;
	json_int_t id;
	struct reply r = {};
	const json_t *ev;
	json_t *msg, *args;
	int i, err, rc = EXIT_OK;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--follow") || !strcmp(argv[i], "-f"))
			follow = true;
		else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
			if (parse_int(argv[++i], 0, LLONG_MAX, &since))
				return usage_error("events: bad --since '%s'",
						   argv[i]);
		} else {
			return usage_error("events: unexpected '%s'", argv[i]);
		}
	}
	if (since < 0 && !follow)
		since = 0;
	args = since >= 0 ? json_pack("{s:I}", "since", (json_int_t)since) :
			    NULL;
	err = cli_request(c, "events.subscribe", args, &id);
	if (!err)
		err = cli_wait_reply(c, id, &r, cli_deadline(c));
	if (err)
		return comm_error(c, err);
	if (r.error) {
		rc = report_error(c, r.error);
		reply_fini(&r);
		return rc;
	}
	reply_fini(&r);
	for (;;) {
		err = cli_read_msg(c, &msg, -1);
		if (err)
			return comm_error(c, err);
		ev = json_object_get(msg, "event");
		if (!ev) {
			const json_t *e = json_object_get(msg, "error");

			if (e) { /* SLOW_CONSUMER, SHUTTING_DOWN */
				rc = report_error(c, e);
				json_decref(msg);
				return rc;
			}
			json_decref(msg);
			continue;
		}
		if (!strcmp(jstr(ev, "type"), "events.live")) {
			json_decref(msg);
			if (!follow)
				return EXIT_OK;
			continue;
		}
		if (c->json)
			print_json(c, ev);
		else
			human_event(ev);
		fflush(stdout);
		json_decref(msg);
	}
}

/* ---- misc ---- */

static void human_ping(const struct cli *c, const json_t *res)
{
	printf("pong from %s %s (protocol %lld, role %s)\n",
	       jstr(c->hello, "server"), jstr(c->hello, "version"),
	       jint(c->hello, "protocol"), jstr(c->hello, "role"));
}

static void human_commands(const struct cli *c, const json_t *res)
{
	struct table t = { .ncols = 2 };
	const json_t *e;
	size_t i;

	table_row(&t, "COMMAND", "ROLE");
	json_array_foreach(json_object_get(res, "commands"), i, e)
		table_row(&t, jstr(e, "cmd"), jstr(e, "role"));
	table_print(&t);
}

static int cmd_call(struct cli *c, int argc, char **argv)
{
	json_error_t jerr;
	json_t *args = NULL;

	if (argc < 1 || argc > 2)
		return usage_error("call: want CMD [ARGS-JSON]");
	if (argc == 2) {
		args = json_loads(argv[1], 0, &jerr);
		if (!json_is_object(args)) {
			json_decref(args);
			return usage_error("call: ARGS must be a JSON object%s%s",
					   args ? "" : ": ",
					   args ? "" : jerr.text);
		}
	}
	return run(c, argv[0], args, NULL);
}

static int dispatch(struct cli *c, int argc, char **argv)
{
	const char *cmd = argv[0];

	argc--;
	argv++;
	if (!strcmp(cmd, "vif"))
		return cmd_vif(c, argc, argv);
	if (!strcmp(cmd, "pool"))
		return cmd_pool(c, argc, argv);
	if (!strcmp(cmd, "chain"))
		return cmd_chain(c, argc, argv);
	if (!strcmp(cmd, "killswitch"))
		return cmd_killswitch(c, argc, argv);
	if (!strcmp(cmd, "quota"))
		return cmd_quota(c, argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(c, argc, argv);
	if (!strcmp(cmd, "history"))
		return cmd_history(c, argc, argv);
	if (!strcmp(cmd, "changeset"))
		return cmd_changeset(c, argc, argv);
	if (!strcmp(cmd, "events"))
		return cmd_events(c, argc, argv);
	if (!strcmp(cmd, "call"))
		return cmd_call(c, argc, argv);
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "status")))
		return usage_error("%s: unexpected '%s'", cmd, argv[0]);
	if (!strcmp(cmd, "gateway"))
		return run(c, "gateway.status", NULL, human_gateways);
	if (!strcmp(cmd, "ping") && !argc)
		return run(c, "ping", NULL, human_ping);
	if (!strcmp(cmd, "commands") && !argc)
		return run(c, "commands", NULL, human_commands);
	return usage_error("unknown command '%s'", cmd);
}

/* Commands are checked before connecting, so a typo is exit 2, not 3. */
static bool known_command(const char *cmd)
{
	static const char *const cmds[] = {
		"vif",	  "pool",      "chain",	  "killswitch", "quota",
		"stats",  "history",   "gateway", "changeset",	"events",
		"ping",	  "commands",  "call",
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct cli c = { .fd = -1, .timeout_s = VIFCTL_TIMEOUT_DEFAULT };
	struct sigaction sa = { .sa_handler = on_sigint };
	long long n;
	int opt, rc;

	c.sock = getenv("VIFD_SOCKET");
	if (!c.sock || !*c.sock)
		c.sock = VIFCTL_SOCKET_DEFAULT;
	while ((opt = getopt(argc, argv, "+s:jpt:hV")) != -1) {
		switch (opt) {
		case 's':
			c.sock = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'p':
			c.json = c.pretty = true;
			break;
		case 't':
			if (parse_int(optarg, 0, 86400 * 365, &n))
				return usage_error("-t: bad TIMEOUT '%s' (seconds)",
						   optarg);
			c.timeout_s = (int)n;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("vifctl %s (protocol %d)\n", VIF_VERSION,
			       VIFCTL_PROTOCOL);
			return EXIT_OK;
		default:
			fputs("Try 'vifctl -h'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage_error("missing COMMAND");
	if (!known_command(argv[0]))
		return usage_error("unknown command '%s'", argv[0]);

	/* ^C ends --watch and --follow with exit 0, not a signal death. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = dispatch(&c, argc, argv);
	if (c.fd >= 0)
		close(c.fd);
	json_decref(c.hello);
	free(c.rbuf);
	return rc;
}
