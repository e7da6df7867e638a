// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vifd_latency - a control-socket client for benchmarks/vifd_bench.sh:
 * request latency of one command, and the time of one (bulk) request.
 *
 *   vifd_latency -s SOCK [-n N] [-w W] [-c C] [-a ARGS] [-p NAME] CMD
 *   vifd_latency -s SOCK -1 < request.json > answer.json
 *
 * Latency mode: C clients (default 1), each a process of its own with its
 * own connection, send CMD (with the JSON object ARGS) W times untimed,
 * wait until every client is warm, then N times each (default 2000),
 * strictly one request in flight per connection: the time of a request
 * is from just before write() to the answer's newline, on
 * CLOCK_MONOTONIC.  Output, over the N * C requests:
 *
 *   BENCH NAME_p50_us   X us
 *   BENCH NAME_p99_us   X us
 *   # NAME: n, mean, min, max, answer size, requests per second (all
 *     clients together, over the wall time of the timed part)
 *
 * Every answer must be {"id":<the request's id>,"ok":true,...}; anything
 * else stops the run (exit 1) with the answer's error.  Each answer is
 * checked by its first bytes, after the clock is read; the first answer
 * and the first timed one of each client are also parsed with jansson.
 *
 * One-shot mode (-1): one request line from stdin, sent as is; the answer
 * line goes to stdout and "elapsed_us N" (write -> answer's newline) to
 * stderr.  Exit 0 when the answer says ok, 1 otherwise.
 *
 * Only docs/PROTOCOL.md is assumed: a Unix stream socket, a hello line,
 * newline-delimited JSON, answers matched by id.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define CLIENTS_MAX 64 /* vifd serves 64 + 4 admin connections */
#define COUNT_MAX 1000000
#define READ_CHUNK (256 * 1024)
#define LINE_MAX_BYTES (64 * 1024 * 1024)

struct conn {
	int fd;
	char *buf; /* received bytes; buf[0..len) */
	size_t len;
	size_t cap;
	size_t line; /* length of the first line, '\n' included; 0: none */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Drop the line last returned by conn_read_line(). */
static void conn_consume(struct conn *c)
{
	memmove(c->buf, c->buf + c->line, c->len - c->line);
	c->len -= c->line;
	c->line = 0;
}

/* Read until buf holds a whole line; its length (with '\n') in c->line. */
static int conn_read_line(struct conn *c)
{
	size_t scanned = 0;
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(c->buf + scanned, '\n', c->len - scanned);
		if (nl) {
			c->line = (size_t)(nl - c->buf) + 1;
			return 0;
		}
		scanned = c->len;
		if (c->cap - c->len < READ_CHUNK) {
			size_t cap = c->cap ? c->cap * 2 : 2 * READ_CHUNK;
			char *b;

			if (cap > LINE_MAX_BYTES)
				return -E2BIG;
			b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The hello line: protocol 1, or refuse to go on (PROTOCOL.md). */
static int conn_hello(struct conn *c)
{
	json_t *msg, *proto;
	int err;

	err = conn_read_line(c);
	if (err)
		return err;
	msg = json_loadb(c->buf, c->line, 0, NULL);
	proto = json_object_get(json_object_get(msg, "hello"), "protocol");
	err = json_integer_value(proto) == 1 ? 0 : -EPROTO;
	if (err)
		fprintf(stderr, "Not a vifd hello, or not protocol 1: %.*s",
			(int)c->line, c->buf);
	json_decref(msg);
	conn_consume(c);
	return err;
}

/* Print why the answer in c's current line is not a success. */
static void answer_complain(const struct conn *c, long long id)
{
	json_error_t jerr;
	json_t *msg, *e;

	msg = json_loadb(c->buf, c->line, 0, &jerr);
	if (!msg) {
		fprintf(stderr,
			"Couldn't parse the answer to request %lld: %s\n", id,
			jerr.text);
		return;
	}
	e = json_object_get(msg, "error");
	if (e)
		fprintf(stderr, "Request %lld failed: %s: %s\n", id,
			json_string_value(json_object_get(e, "code")),
			json_string_value(json_object_get(e, "message")));
	else
		fprintf(stderr, "Unexpected answer to request %lld: %.200s\n",
			id, c->buf);
	json_decref(msg);
}

/* Full check with jansson: an object, our id, ok true, a result object. */
static int answer_parse(const struct conn *c, long long id)
{
	json_t *msg;
	int ok;

	msg = json_loadb(c->buf, c->line, 0, NULL);
	ok = json_is_object(msg) &&
	     json_integer_value(json_object_get(msg, "id")) == id &&
	     json_is_true(json_object_get(msg, "ok")) &&
	     json_is_object(json_object_get(msg, "result"));
	json_decref(msg);
	return ok ? 0 : -EBADMSG;
}

struct lat_opts {
	const char *path;
	const char *cmd;
	const char *args; /* JSON object text or NULL */
	long count;
	long warmup;
	int clients;
};

/* Shared between the clients (MAP_SHARED) and the parent. */
struct lat_shared {
	uint64_t t_start[CLIENTS_MAX];
	uint64_t t_end[CLIENTS_MAX];
	uint64_t resp_bytes[CLIENTS_MAX];
	uint64_t ns[]; /* clients * count */
};

/* One client: connect, warm up, signal ready, wait for go, measure. */
static int lat_client(const struct lat_opts *o, int idx, struct lat_shared *sh,
		      int ready_fd, int go_fd)
{
	char req[4096], want[64];
	uint64_t *ns = sh->ns + (size_t)idx * o->count;
	struct conn c;
	long long id = 0;
	long i, total = o->warmup + o->count;
	size_t wlen;
	char go;
	int err, len;

	err = conn_open(&c, o->path);
	if (err) {
		fprintf(stderr, "Couldn't connect to '%s': %s (%d)\n", o->path,
			strerror(-err), err);
		return 1;
	}
	err = conn_hello(&c);
	for (i = 0; !err && i < total; i++) {
		uint64_t t0, t1;

		id++;
		len = snprintf(req, sizeof(req),
			       "{\"id\":%lld,\"cmd\":\"%s\",\"args\":%s}\n", id,
			       o->cmd, o->args ? o->args : "{}");
		if (len < 0 || (size_t)len >= sizeof(req)) {
			err = -E2BIG;
			break;
		}
		wlen = (size_t)snprintf(want, sizeof(want),
					"{\"id\":%lld,\"ok\":true,", id);
		if (i == o->warmup) {
			/* Everyone warm: tell the parent, wait for go. */
			if (write(ready_fd, "r", 1) != 1 ||
			    read(go_fd, &go, 1) != 1) {
				err = -EPIPE;
				break;
			}
			sh->t_start[idx] = now_ns();
		}
		t0 = now_ns();
		err = write_all(c.fd, req, (size_t)len);
		if (!err)
			err = conn_read_line(&c);
		t1 = now_ns();
		if (err)
			break;
		if (c.line < wlen || memcmp(c.buf, want, wlen)) {
			answer_complain(&c, id);
			err = -EBADMSG;
			break;
		}
		/* Outside the timing: the first answer and the first timed
		 * one parsed in full. */
		if (i == 0 || i == o->warmup) {
			err = answer_parse(&c, id);
			if (err) {
				answer_complain(&c, id);
				break;
			}
		}
		if (i >= o->warmup) {
			ns[i - o->warmup] = t1 - t0;
			sh->resp_bytes[idx] = c.line;
		}
		conn_consume(&c);
	}
	sh->t_end[idx] = now_ns();
	if (err && err != -EBADMSG)
		fprintf(stderr, "Client %d: request %lld: %s (%d)\n", idx, id,
			strerror(-err), err);
	conn_close(&c);
	return err ? 1 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of them <= it. */
static double pct_us(const uint64_t *v, size_t n, double q)
{
	size_t r = (size_t)(q * (double)n + 0.999999);

	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1000.0;
}

static int run_latency(const struct lat_opts *o, const char *name)
{
	size_t n = (size_t)o->count * (size_t)o->clients, i;
	struct lat_shared *sh;
	size_t shsize = sizeof(*sh) + n * sizeof(uint64_t);
	pid_t pids[CLIENTS_MAX];
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	int k, started = 0, failed = 0, st, ret = 1;
	uint64_t t0 = UINT64_MAX, t1 = 0, sum = 0;
	char r;

	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		perror("pipe2");
		goto out;
	}
	for (k = 0; k < o->clients; k++) {
		pids[k] = fork();
		if (pids[k] < 0) {
			perror("fork");
			break;
		}
		if (pids[k] == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(lat_client(o, k, sh, ready[1], go[0]));
		}
		started++;
	}
	close(ready[1]);
	close(go[0]);
	ready[1] = go[0] = -1;
	/* Each client says "r" once warm; EOF early means one died. */
	for (k = 0; k < started; k++)
		if (read(ready[0], &r, 1) != 1)
			break;
	if (k == started && started == o->clients) {
		char gobuf[CLIENTS_MAX];

		memset(gobuf, 'g', sizeof(gobuf));
		if (write(go[1], gobuf, (size_t)started) != started)
			perror("write");
	}
	close(go[1]);
	go[1] = -1;
	for (k = 0; k < started; k++) {
		if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			failed++;
	}
	if (failed || started != o->clients) {
		fprintf(stderr, "%s: %d of %d clients failed\n", name,
			failed + o->clients - started, o->clients);
		goto out;
	}
	for (k = 0; k < o->clients; k++) {
		if (sh->t_start[k] < t0)
			t0 = sh->t_start[k];
		if (sh->t_end[k] > t1)
			t1 = sh->t_end[k];
	}
	for (i = 0; i < n; i++)
		sum += sh->ns[i];
	qsort(sh->ns, n, sizeof(uint64_t), cmp_u64);
	printf("BENCH %s_p50_us %.1f us\n", name, pct_us(sh->ns, n, 0.50));
	printf("BENCH %s_p99_us %.1f us\n", name, pct_us(sh->ns, n, 0.99));
	printf("# %s: %zu requests (%d client%s x %ld, after %ld warm-up each): mean %.1f us, min %.1f us, max %.1f us, answer %" PRIu64 " bytes, %.0f requests/s\n",
	       name, n, o->clients, o->clients > 1 ? "s" : "", o->count,
	       o->warmup, (double)sum / (double)n / 1000.0,
	       (double)sh->ns[0] / 1000.0, (double)sh->ns[n - 1] / 1000.0,
	       sh->resp_bytes[0],
	       (double)n * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1));
	ret = 0;
out:
	if (ready[0] >= 0)
		close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	if (go[0] >= 0)
		close(go[0]);
	if (go[1] >= 0)
		close(go[1]);
	munmap(sh, shsize);
	return ret;
}

/* -1: one request from stdin, timed; the answer to stdout. */
static int run_once(const char *path)
{
	size_t cap = 0, len = 0;
	char *req = NULL;
	struct conn c;
	uint64_t t0, t1;
	json_t *msg;
	ssize_t n;
	int err, ok;

	for (;;) {
		if (cap - len < READ_CHUNK) {
			char *b = realloc(req, cap + 4 * READ_CHUNK);

			if (!b) {
				free(req);
				return 1;
			}
			req = b;
			cap += 4 * READ_CHUNK;
		}
		n = read(STDIN_FILENO, req + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	while (len && (req[len - 1] == '\n' || req[len - 1] == '\r'))
		len--;
	if (!len || memchr(req, '\n', len)) {
		fprintf(stderr, "Need exactly one request line on stdin\n");
		free(req);
		return 2;
	}
	req[len++] = '\n';

	err = conn_open(&c, path);
	if (err) {
		fprintf(stderr, "Couldn't connect to '%s': %s (%d)\n", path,
			strerror(-err), err);
		free(req);
		return 1;
	}
	err = conn_hello(&c);
	t0 = now_ns();
	if (!err)
		err = write_all(c.fd, req, len);
	if (!err)
		err = conn_read_line(&c);
	t1 = now_ns();
	free(req);
	if (err) {
		fprintf(stderr, "Couldn't get an answer: %s (%d)\n",
			strerror(-err), err);
		conn_close(&c);
		return 1;
	}
	fprintf(stderr, "elapsed_us %.0f\n", (double)(t1 - t0) / 1000.0);
	fwrite(c.buf, 1, c.line, stdout);
	msg = json_loadb(c.buf, c.line, 0, NULL);
	ok = json_is_true(json_object_get(msg, "ok"));
	json_decref(msg);
	conn_close(&c);
	return ok ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vifd_latency -s SOCK [-n N] [-w W] [-c CLIENTS] [-a ARGS] [-p NAME] CMD\n"
		"       vifd_latency -s SOCK -1 < request.json > answer.json\n");
}

int main(int argc, char **argv)
{
	struct lat_opts o = { .count = 2000, .warmup = 200, .clients = 1 };
	const char *name = NULL;
	char namebuf[128];
	bool once = false;
	json_t *a;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "s:n:w:c:a:p:1h")) != -1) {
		switch (opt) {
		case 's':
			o.path = optarg;
			break;
		case 'n':
			o.count = strtol(optarg, NULL, 0);
			break;
		case 'w':
			o.warmup = strtol(optarg, NULL, 0);
			break;
		case 'c':
			o.clients = (int)strtol(optarg, NULL, 0);
			break;
		case 'a':
			o.args = optarg;
			break;
		case 'p':
			name = optarg;
			break;
		case '1':
			once = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o.path) {
		usage(stderr);
		return 2;
	}
	if (once)
		return run_once(o.path);
	if (optind != argc - 1 || o.count < 1 || o.count > COUNT_MAX ||
	    o.warmup < 0 || o.warmup > COUNT_MAX || o.clients < 1 ||
	    o.clients > CLIENTS_MAX) {
		usage(stderr);
		return 2;
	}
	o.cmd = argv[optind];
	if (strpbrk(o.cmd, "\"\\\n")) {
		fprintf(stderr, "Bad command name '%s'\n", o.cmd);
		return 2;
	}
	if (o.args) {
		a = json_loads(o.args, 0, NULL);
		if (!json_is_object(a) || strchr(o.args, '\n')) {
			fprintf(stderr, "-a needs a JSON object on one line\n");
			json_decref(a);
			return 2;
		}
		json_decref(a);
	}
	if (!name) {
		snprintf(namebuf, sizeof(namebuf), "vifd_%s", o.cmd);
		for (i = 0; namebuf[i]; i++)
			if (namebuf[i] == '.')
				namebuf[i] = '_';
		name = namebuf;
	}
	return run_latency(&o, name);
}
