// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_alert.c - control/alert.c against real servers on 127.0.0.1.
 *
 * HTTP: a small server inside this process, on the same loop as the
 * alerter, on an ephemeral port.  It records every request (method, path,
 * headers, body) and answers from a per-test script: a status, extra
 * headers, a body, or no answer at all.  Sharing the loop is the point:
 * if the alerter ever blocked the loop, the server could not answer and
 * the test would time out.
 *
 * SMTP: a forked child with plain blocking sockets, scripted per session
 * (reply codes, or silence at a chosen step), which sends each session's
 * transcript back through a pipe.  Being outside the loop, it also shows
 * the loop keeps turning while a mail server is slow.
 *
 * DNS: a resolver that never answers, in a private network and mount
 * namespace (root only; skipped otherwise).
 *
 * Log lines are captured (this file is the log sink) so tests can assert
 * that no secret is ever logged.
 *
 * Usage: test_alert [case ...]   (no argument: every case)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "alert.h"
#include "config.h"
#include "harness.h"
#include "log.h"
#include "loop.h"

/* 2025-01-02T03:04:05Z, a Thursday. */
#define AT 1735787045
#define AT_RFC3339 "2025-01-02T03:04:05Z"
#define AT_RFC5322 "Thu, 02 Jan 2025 03:04:05 +0000"

#define TG_TOKEN "123456:ABC-def_GHI"
#define PO_TOKEN "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
#define PO_USER "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
#define NTFY_TOPIC "vif-alerts_7f3k"
#define SMTP_PASS "s3cretPW"

/* ---- the log sink -------------------------------------------------- */

static char g_log[1 << 16];
static size_t g_log_len;

void log_set_level(enum vif_log_level level)
{
}

enum vif_log_level log_get_level(void)
{
	return LOG_LVL_DEBUG;
}

void log_msg(enum vif_log_level level, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(g_log + g_log_len, sizeof(g_log) - g_log_len, fmt, ap);
	va_end(ap);
	if (n > 0) {
		g_log_len += n;
		if (g_log_len >= sizeof(g_log))
			g_log_len = sizeof(g_log) - 1;
	}
	if (getenv("TEST_ALERT_VERBOSE"))
		fprintf(stderr, "log: %s",
			g_log + g_log_len - (n > 0 ? n : 0));
}

static bool log_clean(void)
{
	static const char *const secrets[] = { TG_TOKEN, PO_TOKEN, PO_USER,
					       NTFY_TOPIC, SMTP_PASS };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(secrets); i++)
		if (strstr(g_log, secrets[i])) {
			fprintf(stderr, "secret '%s' logged:\n%s\n",
				secrets[i], g_log);
			return false;
		}
	return true;
}

/* ---- the loop ------------------------------------------------------ */

static struct loop *g_loop;

static bool run_until(bool (*done)(void *), void *arg, int max_ms)
{
	uint64_t end = loop_now_ms() + max_ms;

	while (!done(arg)) {
		if (loop_now_ms() >= end)
			return false;
		loop_once(g_loop, 10);
	}
	return true;
}

static void run_for(int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		loop_once(g_loop, 10);
}

/* ---- the HTTP server ----------------------------------------------- */

#define HS_REQS 16
#define HS_CONNS 16

struct hreq {
	char method[16];
	char path[512];
	char hdrs[4096]; /* header lines, each ending in CRLF */
	char body[4096];
	size_t body_len;
	uint64_t at_ms;
};

struct hresp {
	int status;
	const char *extra; /* header lines, each ending in CRLF */
	const char *body;
	bool hang;         /* never answer */
	bool echo_path;    /* body = the request path */
};

struct hconn {
	int fd;
	char buf[8192];
	size_t len;
};

struct hsrv {
	int lfd;
	unsigned short port;
	struct hreq reqs[HS_REQS];
	int nreqs;
	struct hresp script[8]; /* answer i to request i; then 200 */
	int nscript;
	bool hold;              /* park answers until released */
	int held[HS_CONNS];
	int nheld;
	int hung[HS_CONNS];
	int nhung;
	struct hconn conns[HS_CONNS];
	int nclosed;            /* connections the client closed on us */
};

static struct hsrv g_hs;

static void hs_close(struct hconn *c)
{
	loop_fd_del(g_loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void hs_answer(int fd, const struct hresp *r, const struct hreq *q)
{
	char head[1024];
	const char *body = r->echo_path ? q->path : r->body ? r->body : "";
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
		     r->status, strlen(body), r->extra ? r->extra : "");
	if (write(fd, head, n) != n ||
	    write(fd, body, strlen(body)) != (ssize_t)strlen(body))
		fprintf(stderr, "http server: short write\n");
}

static size_t content_length(const char *hdrs)
{
	const char *p = strcasestr(hdrs, "\r\ncontent-length:");

	return p ? strtoul(p + 17, NULL, 10) : 0;
}

static void hs_on_conn(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct hconn *c = ctx;
	struct hreq *q;
	const struct hresp *r;
	static const struct hresp ok = { .status = 200,
					 .body = "{\"ok\":true}" };
	char *end, *hdrs;
	size_t hlen, need;
	ssize_t n;

	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN) {
			g_hs.nclosed++;
			hs_close(c);
		}
		return;
	}
	c->len += n;
	c->buf[c->len] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return;
	hlen = end + 4 - c->buf;
	/* From the request line's CRLF, so the first header counts too. */
	hdrs = strstr(c->buf, "\r\n");
	need = hlen + content_length(hdrs);
	if (c->len < need)
		return;
	if (g_hs.nreqs == HS_REQS) {
		hs_close(c);
		return;
	}
	q = &g_hs.reqs[g_hs.nreqs];
	memset(q, 0, sizeof(*q));
	sscanf(c->buf, "%15s %511s", q->method, q->path);
	/* Header lines with their CRLFs, without the empty line. */
	snprintf(q->hdrs, sizeof(q->hdrs), "%.*s", (int)(end + 2 - hdrs - 2),
		 hdrs + 2);
	q->body_len = need - hlen;
	memcpy(q->body, c->buf + hlen, q->body_len);
	q->at_ms = loop_now_ms();
	r = g_hs.nreqs < g_hs.nscript ? &g_hs.script[g_hs.nreqs] : &ok;
	g_hs.nreqs++;
	/* Stop watching: answered, parked or hung, it reads no more. */
	loop_fd_del(g_loop, fd);
	if (r->hang) {
		g_hs.hung[g_hs.nhung++] = fd;
	} else if (g_hs.hold) {
		g_hs.held[g_hs.nheld++] = fd;
	} else {
		hs_answer(fd, r, q);
		close(fd);
	}
	c->fd = -1;
}

static void hs_on_accept(struct loop *l, int lfd, uint32_t events,
			 void *ctx)
{
	int fd, i;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	       0) {
		for (i = 0; i < HS_CONNS && g_hs.conns[i].fd >= 0; i++)
			;
		if (i == HS_CONNS) {
			close(fd);
			continue;
		}
		g_hs.conns[i].fd = fd;
		g_hs.conns[i].len = 0;
		loop_fd_add(g_loop, fd, EPOLLIN, hs_on_conn, &g_hs.conns[i]);
	}
}

/* Answer every parked request with 200, in arrival order. */
static void hs_release(void)
{
	static const struct hresp ok = { .status = 200 };
	int i;

	g_hs.hold = false;
	for (i = 0; i < g_hs.nheld; i++) {
		hs_answer(g_hs.held[i], &ok, NULL);
		close(g_hs.held[i]);
	}
	g_hs.nheld = 0;
}

static int listen_local(unsigned short *port, bool nonblock)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
				     (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int hs_start(void)
{
	int i, fd;

	memset(&g_hs, 0, sizeof(g_hs));
	for (i = 0; i < HS_CONNS; i++)
		g_hs.conns[i].fd = -1;
	fd = listen_local(&g_hs.port, true);
	if (fd < 0)
		return fd;
	g_hs.lfd = fd;
	return loop_fd_add(g_loop, fd, EPOLLIN, hs_on_accept, NULL);
}

static void hs_stop(void)
{
	int i;

	for (i = 0; i < HS_CONNS; i++)
		if (g_hs.conns[i].fd >= 0)
			hs_close(&g_hs.conns[i]);
	for (i = 0; i < g_hs.nheld; i++)
		close(g_hs.held[i]);
	for (i = 0; i < g_hs.nhung; i++)
		close(g_hs.hung[i]);
	loop_fd_del(g_loop, g_hs.lfd);
	close(g_hs.lfd);
	g_hs.lfd = -1;
	g_hs.nheld = g_hs.nhung = 0;
}

/* The request whose path is path, or NULL. */
static const struct hreq *hs_find(const char *path)
{
	int i;

	for (i = 0; i < g_hs.nreqs; i++)
		if (!strcmp(g_hs.reqs[i].path, path))
			return &g_hs.reqs[i];
	return NULL;
}

static int hdr_count(const struct hreq *q)
{
	const char *p;
	int n = 0;

	for (p = q->hdrs; (p = strstr(p, "\r\n")); p += 2)
		n++;
	return n;
}

/*
 * The request carries exactly these header lines ("Name: value"; names
 * compared without case), no more and no fewer.
 */
static bool hdrs_exact(const struct hreq *q, const char *const *want,
		       size_t n)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *colon = strchr(want[i], ':');
		size_t nlen = colon - want[i];
		const char *p = q->hdrs;
		bool found = false;

		while (*p) {
			const char *eol = strstr(p, "\r\n");

			if (!strncasecmp(p, want[i], nlen + 1) &&
			    (size_t)(eol - p) == strlen(want[i]) &&
			    !strncmp(p + nlen, colon, eol - p - nlen))
				found = true;
			p = eol + 2;
		}
		if (!found) {
			fprintf(stderr, "missing header '%s' in:\n%s\n",
				want[i], q->hdrs);
			ok = false;
		}
	}
	if (ok && hdr_count(q) != (int)n) {
		fprintf(stderr, "want %zu headers, got:\n%s\n", n, q->hdrs);
		ok = false;
	}
	return ok;
}

/* ---- the SMTP server (a child process) ----------------------------- */

struct smtp_script {
	int mail;        /* reply to MAIL FROM; 0 = 250 */
	int data_end;    /* reply to the end of data; 0 = 250 */
	bool stall;      /* after the data, say nothing until killed */
	bool quit_stall; /* accept the message, then ignore QUIT */
	bool starttls;   /* advertise STARTTLS (and then refuse it) */
};

struct smtp_srv {
	pid_t pid;
	int rfd;         /* transcripts: u32 length, then the bytes */
	unsigned short port;
};

static struct smtp_srv g_ss = { .pid = -1, .rfd = -1 };

static bool sock_line(int fd, char *buf, size_t len, size_t *got)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10000) != 1)
			return false;
		r = read(fd, buf + n, 1);
		if (r != 1)
			return false;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	*got = n;
	return true;
}

static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		_exit(3);
}

/* One session; its transcript (everything the client sent) to wfd. */
static void smtp_session(int fd, const struct smtp_script *sc, int wfd)
{
	static char tr[1 << 16];
	char line[2048], reply[64];
	size_t trlen = 0, n;
	uint32_t len;

	say(fd, "220 fake.test ESMTP\r\n");
	while (sock_line(fd, line, sizeof(line), &n)) {
		if (trlen + n < sizeof(tr)) {
			memcpy(tr + trlen, line, n);
			trlen += n;
		}
		if (!strncasecmp(line, "EHLO", 4)) {
			say(fd, "250-fake.test\r\n");
			if (sc->starttls)
				say(fd, "250-STARTTLS\r\n");
			say(fd, "250 8BITMIME\r\n");
		} else if (!strncasecmp(line, "STARTTLS", 8)) {
			say(fd, "454 TLS not available\r\n");
		} else if (!strncasecmp(line, "MAIL FROM:", 10)) {
			snprintf(reply, sizeof(reply), "%d sender\r\n",
				 sc->mail ? sc->mail : 250);
			say(fd, reply);
		} else if (!strncasecmp(line, "RCPT TO:", 8)) {
			say(fd, "250 rcpt ok\r\n");
		} else if (!strncasecmp(line, "DATA", 4)) {
			say(fd, "354 go ahead\r\n");
			while (sock_line(fd, line, sizeof(line), &n)) {
				if (trlen + n < sizeof(tr)) {
					memcpy(tr + trlen, line, n);
					trlen += n;
				}
				if (!strcmp(line, ".\r\n"))
					break;
			}
			if (sc->stall)
				pause();
			snprintf(reply, sizeof(reply), "%d %s\r\n",
				 sc->data_end ? sc->data_end : 250,
				 sc->data_end ? "rejected: looks like spam" :
						"queued");
			say(fd, reply);
		} else if (!strncasecmp(line, "QUIT", 4)) {
			if (sc->quit_stall)
				pause();
			say(fd, "221 bye\r\n");
			break;
		} else if (!strncasecmp(line, "RSET", 4) ||
			   !strncasecmp(line, "NOOP", 4)) {
			say(fd, "250 ok\r\n");
		} else {
			say(fd, "502 unknown\r\n");
		}
	}
	close(fd);
	len = trlen;
	if (write(wfd, &len, sizeof(len)) != sizeof(len) ||
	    write(wfd, tr, trlen) != (ssize_t)trlen)
		_exit(3);
}

/*
 * Serve sessions until killed: session i follows script[i], later ones
 * the last script entry.
 */
static int smtp_start(const struct smtp_script *script, int n)
{
	int lfd, p[2];
	pid_t pid;

	lfd = listen_local(&g_ss.port, false);
	if (lfd < 0)
		return lfd;
	if (pipe2(p, O_CLOEXEC)) {
		close(lfd);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		close(lfd);
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		int i = 0;

		/* Never outlive the test, even when it dies hard. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				_exit(2);
			smtp_session(fd, &script[i < n ? i : n - 1], p[1]);
			i++;
		}
	}
	close(lfd);
	close(p[1]);
	g_ss.pid = pid;
	g_ss.rfd = p[0];
	return 0;
}

static void smtp_stop(void)
{
	if (g_ss.pid > 0) {
		kill(g_ss.pid, SIGKILL);
		waitpid(g_ss.pid, NULL, 0);
	}
	if (g_ss.rfd >= 0)
		close(g_ss.rfd);
	g_ss.pid = -1;
	g_ss.rfd = -1;
}

/* The next session's transcript, waiting up to ms for it. */
static bool smtp_next(char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = g_ss.rfd, .events = POLLIN };
	uint32_t n;

	if (poll(&p, 1, ms) != 1 ||
	    read(g_ss.rfd, &n, sizeof(n)) != sizeof(n) || n >= len)
		return false;
	/* A pipe write this small arrives whole. */
	if (read(g_ss.rfd, buf, n) != (ssize_t)n)
		return false;
	buf[n] = '\0';
	return true;
}

/* The message as the server stored it: between DATA and ".", unstuffed. */
static bool smtp_message(const char *tr, char *out, size_t len)
{
	const char *p = strstr(tr, "DATA\r\n"), *end;
	size_t n = 0;

	if (!p)
		return false;
	p += 6;
	end = strstr(p, "\r\n.\r\n");
	if (!end)
		return false;
	end += 2;
	while (p < end && n + 1 < len) {
		if ((p == end || p[-1] == '\n') && p[0] == '.')
			p++; /* RFC 5321 4.5.2 transparency */
		out[n++] = *p++;
	}
	out[n] = '\0';
	return true;
}

/* ---- fixtures ------------------------------------------------------ */

static struct alerter *g_a;

static void cfg_empty(struct vifd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

static void opts_fast(struct alert_opts *o)
{
	alert_opts_init(o);
	o->connect_timeout_ms = 2000;
	o->timeout_ms = 3000;
	o->backoff_ms = 50;
	o->backoff_max_ms = 200;
	o->dedupe_window_ms = 0;
}

static char g_url_tg[128], g_url_po[128];

static void cfg_http(struct vifd_config *cfg, struct alert_opts *o,
		     unsigned int mask)
{
	cfg_empty(cfg);
	opts_fast(o);
	if (mask & (1u << ALERT_CH_WEBHOOK))
		snprintf(cfg->webhook_url, sizeof(cfg->webhook_url),
			 "http://127.0.0.1:%u/hook/a1", g_hs.port);
	if (mask & (1u << ALERT_CH_NTFY)) {
		snprintf(cfg->ntfy_url, sizeof(cfg->ntfy_url),
			 "http://127.0.0.1:%u/ntfy/", g_hs.port);
		snprintf(cfg->ntfy_topic, sizeof(cfg->ntfy_topic), "%s",
			 NTFY_TOPIC);
	}
	if (mask & (1u << ALERT_CH_PUSHOVER)) {
		snprintf(cfg->pushover_token, sizeof(cfg->pushover_token),
			 "%s", PO_TOKEN);
		snprintf(cfg->pushover_user, sizeof(cfg->pushover_user), "%s",
			 PO_USER);
	}
	if (mask & (1u << ALERT_CH_TELEGRAM)) {
		snprintf(cfg->telegram_token, sizeof(cfg->telegram_token),
			 "%s", TG_TOKEN);
		snprintf(cfg->telegram_chat, sizeof(cfg->telegram_chat),
			 "-100123");
	}
	snprintf(g_url_po, sizeof(g_url_po),
		 "http://127.0.0.1:%u/1/messages.json", g_hs.port);
	snprintf(g_url_tg, sizeof(g_url_tg), "http://127.0.0.1:%u/tg",
		 g_hs.port);
	o->pushover_url = g_url_po;
	o->telegram_url = g_url_tg;
}

static int setup_http(unsigned int mask, void (*tweak)(struct alert_opts *))
{
	struct vifd_config cfg;
	struct alert_opts o;
	char err[256];
	int ret;

	g_log_len = 0;
	g_log[0] = '\0';
	ret = hs_start();
	if (ret)
		return ret;
	cfg_http(&cfg, &o, mask);
	if (tweak)
		tweak(&o);
	ret = alert_new_opts(g_loop, &cfg, &o, &g_a, err, sizeof(err));
	if (ret)
		fprintf(stderr, "alert_new_opts: %s\n", err);
	return ret;
}

static void teardown(void)
{
	alert_free(g_a);
	g_a = NULL;
	if (g_hs.lfd > 0)
		hs_stop();
	smtp_stop();
	/* Let dead watches go before the next case reuses fd numbers. */
	loop_once(g_loop, 0);
}

static const struct alert g_gw = {
	.severity = ALERT_CRITICAL,
	.type = "killswitch.engaged",
	.title = "Gateway down",
	.body = "tor-1 failed 3 probes",
	.vlan = 101,
	.at = AT,
};

struct want {
	enum alert_channel ch;
	__u64 done; /* sent + failed */
};

static bool settled(void *arg)
{
	const struct want *w = arg;
	struct alert_status st;

	alert_status_get(g_a, &st);
	return st.ch[w->ch].sent + st.ch[w->ch].failed >= w->done &&
	       !st.ch[w->ch].queued;
}

static bool wait_done(enum alert_channel ch, __u64 n, int ms)
{
	struct want w = { ch, n };

	return run_until(settled, &w, ms);
}

static struct alert_channel_status chst(enum alert_channel ch)
{
	struct alert_status st;

	alert_status_get(g_a, &st);
	return st.ch[ch];
}

static char g_host[256];

/* ---- per-channel checks -------------------------------------------- */

static bool check_webhook(const struct hreq *q, const struct alert *al,
			  unsigned int suppressed)
{
	char expect[2048], cl[64], hostport[64];
	const char *id;
	json_t *root;
	bool ok;

	if (!ASSERT_TRUE(q, "webhook request"))
		return false;
	root = json_loadb(q->body, q->body_len, 0, NULL);
	id = json_string_value(json_object_get(root, "id"));
	ok = ASSERT_TRUE(id && strlen(id) > 9 && id[8] == '-', "webhook id");
	if (ok) {
		snprintf(expect, sizeof(expect),
			 "{\"version\":1,\"id\":\"%s\",\"type\":\"%s\",\"severity\":\"critical\",\"title\":\"%s\",\"body\":\"%s\",\"vlan\":%u,\"at\":\"" AT_RFC3339
			 "\",\"host\":\"%s\",\"suppressed\":%u}",
			 id, al->type, al->title, al->body, al->vlan, g_host,
			 suppressed);
		ok = ASSERT_TRUE(q->body_len == strlen(expect) &&
				 !memcmp(q->body, expect, q->body_len),
				 "webhook body");
		if (!ok)
			fprintf(stderr, "got  %.*s\nwant %s\n",
				(int)q->body_len, q->body, expect);
	}
	json_decref(root);
	snprintf(cl, sizeof(cl), "Content-Length: %zu", q->body_len);
	snprintf(hostport, sizeof(hostport), "Host: 127.0.0.1:%u", g_hs.port);
	{
		const char *const want[] = { hostport, "User-Agent: vifd",
					     "Accept: */*",
					     "Content-Type: application/json",
					     cl };

		ok = ASSERT_TRUE(!strcmp(q->method, "POST"), "webhook POST") &&
		     ASSERT_TRUE(!strcmp(q->path, "/hook/a1"),
				 "webhook path") &&
		     ASSERT_TRUE(hdrs_exact(q, want, ARRAY_SIZE(want)),
				 "webhook headers") && ok;
	}
	return ok;
}

static bool check_ntfy(const struct hreq *q)
{
	char cl[64], hostport[64];
	const char *const want[] = {
		hostport, "User-Agent: vifd", "Accept: */*",
		"Title: Gateway down", "Priority: 5",
		"Tags: rotating_light,killswitch.engaged,vlan101",
		"Content-Type: text/plain; charset=utf-8", cl,
	};
	static const char body[] = "tor-1 failed 3 probes";

	if (!ASSERT_TRUE(q, "ntfy request"))
		return false;
	snprintf(cl, sizeof(cl), "Content-Length: %zu", strlen(body));
	snprintf(hostport, sizeof(hostport), "Host: 127.0.0.1:%u", g_hs.port);
	return ASSERT_TRUE(!strcmp(q->method, "POST"), "ntfy POST") &&
	       ASSERT_TRUE(hdrs_exact(q, want, ARRAY_SIZE(want)),
			   "ntfy headers") &&
	       ASSERT_TRUE(q->body_len == strlen(body) &&
			   !memcmp(q->body, body, q->body_len),
			   "ntfy body");
}

static bool check_pushover(const struct hreq *q)
{
	static const char body[] =
		"token=" PO_TOKEN "&user=" PO_USER
		"&title=Gateway%20down&message=tor-1%20failed%203%20probes"
		"&priority=1&timestamp=1735787045";
	char cl[64], hostport[64];
	const char *const want[] = {
		hostport, "User-Agent: vifd", "Accept: */*",
		"Content-Type: application/x-www-form-urlencoded", cl,
	};

	if (!ASSERT_TRUE(q, "pushover request"))
		return false;
	snprintf(cl, sizeof(cl), "Content-Length: %zu", strlen(body));
	snprintf(hostport, sizeof(hostport), "Host: 127.0.0.1:%u", g_hs.port);
	if (q->body_len != strlen(body) || memcmp(q->body, body, q->body_len))
		fprintf(stderr, "got  %.*s\nwant %s\n", (int)q->body_len,
			q->body, body);
	return ASSERT_TRUE(!strcmp(q->method, "POST"), "pushover POST") &&
	       ASSERT_TRUE(hdrs_exact(q, want, ARRAY_SIZE(want)),
			   "pushover headers") &&
	       ASSERT_TRUE(q->body_len == strlen(body) &&
			   !memcmp(q->body, body, q->body_len),
			   "pushover body");
}

static bool check_telegram(const struct hreq *q)
{
	static const char body[] =
		"{\"chat_id\":-100123,\"text\":\"[critical] Gateway down\\n\\ntor-1 failed 3 probes\"}";
	char cl[64], hostport[64];
	const char *const want[] = {
		hostport, "User-Agent: vifd", "Accept: */*",
		"Content-Type: application/json", cl,
	};

	if (!ASSERT_TRUE(q, "telegram request"))
		return false;
	snprintf(cl, sizeof(cl), "Content-Length: %zu", strlen(body));
	snprintf(hostport, sizeof(hostport), "Host: 127.0.0.1:%u", g_hs.port);
	if (q->body_len != strlen(body) || memcmp(q->body, body, q->body_len))
		fprintf(stderr, "got  %.*s\nwant %s\n", (int)q->body_len,
			q->body, body);
	return ASSERT_TRUE(!strcmp(q->method, "POST"), "telegram POST") &&
	       ASSERT_TRUE(hdrs_exact(q, want, ARRAY_SIZE(want)),
			   "telegram headers") &&
	       ASSERT_TRUE(q->body_len == strlen(body) &&
			   !memcmp(q->body, body, q->body_len),
			   "telegram body");
}

/* ---- cases --------------------------------------------------------- */

struct inapp_rec {
	int calls;
	bool inside_send;
	enum alert_severity severity;
	char type[ALERT_TYPE_MAX];
	char title[ALERT_TITLE_MAX + 1];
	char body[ALERT_BODY_MAX + 1];
	__u16 vlan;
	time_t at;
};

static bool g_in_send;

static void on_inapp(const struct alert *al, void *ctx)
{
	struct inapp_rec *r = ctx;

	r->calls++;
	r->inside_send |= g_in_send;
	r->severity = al->severity;
	r->vlan = al->vlan;
	r->at = al->at;
	snprintf(r->type, sizeof(r->type), "%s", al->type);
	snprintf(r->title, sizeof(r->title), "%s", al->title);
	snprintf(r->body, sizeof(r->body), "%s", al->body);
}

/* Every HTTP channel and in-app get exactly one copy of one alert. */
static int test_fanout(void)
{
	unsigned int mask = (1u << ALERT_CH_WEBHOOK) | (1u << ALERT_CH_NTFY) |
			    (1u << ALERT_CH_PUSHOVER) |
			    (1u << ALERT_CH_TELEGRAM);
	struct inapp_rec rec = { 0 };
	struct alert_status st;
	int ret = -1, i;

	if (!ASSERT_OK(setup_http(mask, NULL), "setup"))
		goto out;
	alert_inapp_set(g_a, on_inapp, &rec);
	g_in_send = true;
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send"))
		goto out;
	g_in_send = false;
	if (!ASSERT_EQ(rec.calls, 0, "in-app not called inside send"))
		goto out;
	for (i = 0; i < ALERT_CH__MAX; i++)
		if (i != ALERT_CH_EMAIL &&
		    !ASSERT_TRUE(wait_done(i, 1, 5000), alert_channel_name(i)))
			goto out;
	run_for(100);
	if (!ASSERT_EQ(g_hs.nreqs, 4, "one request per HTTP channel") ||
	    !check_webhook(hs_find("/hook/a1"), &g_gw, 0) ||
	    !check_ntfy(hs_find("/ntfy/" NTFY_TOPIC)) ||
	    !check_pushover(hs_find("/1/messages.json")) ||
	    !check_telegram(hs_find("/tg/bot" TG_TOKEN "/sendMessage")))
		goto out;
	if (!ASSERT_EQ(rec.calls, 1, "in-app called once") ||
	    !ASSERT_TRUE(!rec.inside_send, "in-app from the loop") ||
	    !ASSERT_EQ(rec.severity, ALERT_CRITICAL, "in-app severity") ||
	    !ASSERT_TRUE(!strcmp(rec.type, g_gw.type), "in-app type") ||
	    !ASSERT_TRUE(!strcmp(rec.title, g_gw.title), "in-app title") ||
	    !ASSERT_TRUE(!strcmp(rec.body, g_gw.body), "in-app body") ||
	    !ASSERT_EQ(rec.vlan, 101, "in-app vlan") ||
	    !ASSERT_EQ(rec.at, AT, "in-app at"))
		goto out;
	alert_status_get(g_a, &st);
	if (!ASSERT_EQ(st.accepted, 1, "accepted"))
		goto out;
	if (!ASSERT_TRUE(!st.ch[ALERT_CH_EMAIL].enabled, "email off") ||
	    !ASSERT_EQ(st.ch[ALERT_CH_EMAIL].sent, 0, "no mail"))
		goto out;
	for (i = 0; i < ALERT_CH__MAX; i++) {
		if (i == ALERT_CH_EMAIL)
			continue;
		if (!ASSERT_TRUE(st.ch[i].enabled, "enabled") ||
		    !ASSERT_EQ(st.ch[i].sent, 1, alert_channel_name(i)) ||
		    !ASSERT_EQ(st.ch[i].failed + st.ch[i].retries +
				       st.ch[i].dropped, 0, "no trouble") ||
		    !ASSERT_TRUE(st.ch[i].last_sent_at > 0, "last_sent_at") ||
		    !ASSERT_TRUE(!st.ch[i].last_error[0], "no last_error"))
			goto out;
	}
	if (!ASSERT_TRUE(log_clean(), "no secret logged"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

/* Non-ASCII title: an RFC 2047 header for ntfy; UTF-8 JSON elsewhere. */
static int test_ntfy_utf8(void)
{
	struct alert al = g_gw;
	char want[128];
	const struct hreq *q;
	int ret = -1;

	al.title = "Шлюз упал: tor-1 ✗";
	al.body = NULL;
	al.vlan = 0;
	al.severity = ALERT_WARNING;
	if (!ASSERT_OK(setup_http(1u << ALERT_CH_NTFY, NULL), "setup") ||
	    !ASSERT_OK(alert_send(g_a, &al), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_NTFY, 1, 5000), "delivered"))
		goto out;
	q = hs_find("/ntfy/" NTFY_TOPIC);
	if (!ASSERT_TRUE(q, "request"))
		goto out;
	/* 28 bytes of UTF-8: one encoded-word. */
	snprintf(want, sizeof(want), "\r\nTitle: =?UTF-8?B?%s?=\r\n",
		 "0KjQu9GO0Lcg0YPQv9Cw0Ls6IHRvci0xIOKclw==");
	if (!ASSERT_TRUE(strstr(q->hdrs, want), "encoded Title"))
		fprintf(stderr, "headers:\n%s\n", q->hdrs);
	else if (ASSERT_TRUE(strstr(q->hdrs, "\r\nPriority: 4\r\n") &&
			     strstr(q->hdrs, "\r\nTags: warning,killswitch.engaged\r\n"),
			     "priority and tags") &&
		 /* No body: the title is the message. */
		 ASSERT_TRUE(q->body_len == strlen(al.title) &&
			     !memcmp(q->body, al.title, q->body_len),
			     "title as message"))
		ret = 0;
out:
	teardown();
	return ret;
}

static void tweak_retry(struct alert_opts *o)
{
	o->max_attempts = 3;
}

/* 500 then 200: retried after the backoff, delivered exactly once. */
static int test_retry_5xx(void)
{
	struct alert_channel_status s;
	int ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_WEBHOOK, tweak_retry),
		       "setup"))
		goto out;
	g_hs.script[0] = (struct hresp){ .status = 500, .body = "oops" };
	g_hs.nscript = 1;
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, 1, 5000), "settled"))
		goto out;
	run_for(300); /* longer than any further backoff */
	s = chst(ALERT_CH_WEBHOOK);
	if (!ASSERT_EQ(g_hs.nreqs, 2, "two attempts") ||
	    !ASSERT_EQ(s.sent, 1, "sent once") ||
	    !ASSERT_EQ(s.failed, 0, "not failed") ||
	    !ASSERT_EQ(s.retries, 1, "one retry") ||
	    !ASSERT_TRUE(g_hs.reqs[1].at_ms - g_hs.reqs[0].at_ms >= 45,
			 "waited the backoff") ||
	    /* Same payload, same id: a receiver can drop the duplicate. */
	    !ASSERT_TRUE(g_hs.reqs[0].body_len == g_hs.reqs[1].body_len &&
			 !memcmp(g_hs.reqs[0].body, g_hs.reqs[1].body,
				 g_hs.reqs[0].body_len), "identical retry") ||
	    !ASSERT_TRUE(!strcmp(s.last_error, "HTTP 500: oops"),
			 "last_error of the failed attempt"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

/* 429 with Retry-After: 1 waits a second although the backoff is 50 ms. */
static int test_retry_after(void)
{
	uint64_t gap;
	int ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_PUSHOVER, tweak_retry),
		       "setup"))
		goto out;
	g_hs.script[0] = (struct hresp){ .status = 429,
					 .extra = "Retry-After: 1\r\n" };
	g_hs.nscript = 1;
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_PUSHOVER, 1, 5000), "settled"))
		goto out;
	gap = g_hs.reqs[1].at_ms - g_hs.reqs[0].at_ms;
	if (!ASSERT_EQ(g_hs.nreqs, 2, "two attempts") ||
	    !ASSERT_EQ(chst(ALERT_CH_PUSHOVER).sent, 1, "sent") ||
	    !ASSERT_TRUE(gap >= 950 && gap < 2500, "honoured Retry-After"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

/*
 * 4xx is final: one attempt.  The server echoes the path, which holds the
 * Telegram token: the status shows the reason with the token scrubbed.
 */
static int test_4xx_final(void)
{
	struct alert_channel_status s = { 0 };
	int ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_TELEGRAM, tweak_retry),
		       "setup"))
		goto out;
	g_hs.script[0] = (struct hresp){ .status = 400, .echo_path = true };
	g_hs.nscript = 1;
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_TELEGRAM, 1, 5000), "settled"))
		goto out;
	run_for(400); /* several backoffs: nothing more may come */
	s = chst(ALERT_CH_TELEGRAM);
	if (!ASSERT_EQ(g_hs.nreqs, 1, "one attempt") ||
	    !ASSERT_EQ(s.failed, 1, "failed") ||
	    !ASSERT_EQ(s.sent + s.retries, 0, "not sent, not retried") ||
	    !ASSERT_TRUE(!strcmp(s.last_error,
				 "HTTP 400: /tg/bot***/sendMessage"),
			 "scrubbed last_error") ||
	    !ASSERT_TRUE(s.last_error_at > 0, "last_error_at") ||
	    !ASSERT_TRUE(strstr(g_log, "Couldn't deliver alert 'killswitch.engaged' via telegram: HTTP 400"),
			 "logged") ||
	    !ASSERT_TRUE(log_clean(), "no secret logged"))
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "last_error '%s'\nlog:\n%s", s.last_error,
			g_log);
	teardown();
	return ret;
}

static void tweak_timeout(struct alert_opts *o)
{
	o->timeout_ms = 500;
	o->max_attempts = 1;
}

static void on_tick(struct loop *l, uint64_t id, void *ctx)
{
	(*(int *)ctx)++;
}

/* A server that never answers: the timeout ends it, the loop runs on. */
static int test_timeout(void)
{
	struct alert_channel_status s;
	uint64_t id = 0, t0, took = 0;
	int ticks = 0, ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_NTFY, tweak_timeout),
		       "setup"))
		goto out;
	g_hs.script[0] = (struct hresp){ .hang = true };
	g_hs.nscript = 1;
	if (!ASSERT_OK(loop_timer_add(g_loop, 20, 20, on_tick, &ticks, &id),
		       "tick timer"))
		goto out;
	t0 = loop_now_ms();
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_NTFY, 1, 5000), "settled"))
		goto out;
	took = loop_now_ms() - t0;
	s = chst(ALERT_CH_NTFY);
	if (!ASSERT_EQ(g_hs.nreqs, 1, "request arrived") ||
	    !ASSERT_EQ(s.failed, 1, "failed") ||
	    !ASSERT_TRUE(took >= 480 && took < 2000, "after the timeout") ||
	    /* 20 ms ticks over ~500 ms: the loop never stalled. */
	    !ASSERT_TRUE(ticks >= 15, "loop kept running") ||
	    !ASSERT_TRUE(strstr(s.last_error, "(curl 28)"), "timeout error"))
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "took %llu ms, %d ticks\n",
			(unsigned long long)took, ticks);
	loop_timer_del(g_loop, id);
	teardown();
	return ret;
}

/* Nothing listens: connection refused is transient, retried, then given up. */
static int test_refused(void)
{
	struct vifd_config cfg;
	struct alert_opts o;
	struct alert_channel_status s;
	unsigned short port;
	int fd, ret = -1;

	fd = listen_local(&port, true);
	if (!ASSERT_TRUE(fd >= 0, "port"))
		return -1;
	close(fd); /* now nothing listens there */
	cfg_empty(&cfg);
	opts_fast(&o);
	o.max_attempts = 2;
	snprintf(cfg.webhook_url, sizeof(cfg.webhook_url),
		 "http://127.0.0.1:%u/x", port);
	if (!ASSERT_OK(alert_new_opts(g_loop, &cfg, &o, &g_a, NULL, 0),
		       "new") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, 1, 5000), "settled"))
		goto out;
	s = chst(ALERT_CH_WEBHOOK);
	if (!ASSERT_EQ(s.failed, 1, "failed") ||
	    !ASSERT_EQ(s.retries, 1, "retried once") ||
	    !ASSERT_TRUE(strstr(s.last_error, "(curl 7)"), "refused"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

static void tweak_dedupe(struct alert_opts *o)
{
	o->dedupe_window_ms = 400;
}

/* Identical alerts inside the window are folded; the next one says so. */
static int test_dedupe(void)
{
	struct alert other_vlan = g_gw, worse = g_gw;
	struct alert_status st;
	int ret = -1;

	other_vlan.vlan = 102;
	worse.severity = ALERT_WARNING;
	if (!ASSERT_OK(setup_http(1u << ALERT_CH_WEBHOOK, tweak_dedupe),
		       "setup") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "first") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "repeat") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "repeat") ||
	    !ASSERT_OK(alert_send(g_a, &other_vlan), "other vlan") ||
	    !ASSERT_OK(alert_send(g_a, &worse), "other severity") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, 3, 5000), "settled"))
		goto out;
	run_for(100);
	alert_status_get(g_a, &st);
	if (!ASSERT_EQ(g_hs.nreqs, 3, "three distinct alerts sent") ||
	    !ASSERT_EQ(st.suppressed, 2, "two suppressed") ||
	    !ASSERT_EQ(st.accepted, 3, "three accepted"))
		goto out;
	run_for(450); /* the window passes */
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "after the window") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, 4, 5000), "settled") ||
	    !ASSERT_EQ(g_hs.nreqs, 4, "sent again") ||
	    !check_webhook(&g_hs.reqs[3], &g_gw, 2))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

static void tweak_queue(struct alert_opts *o)
{
	o->queue_len = 2;
}

/* A full queue drops the oldest waiting alert and counts it. */
static int test_queue_overflow(void)
{
	static const char *const types[] = { "t.one", "t.two", "t.three",
					     "t.four", "t.five" };
	static const char *const sent[] = { "t.one", "t.four", "t.five" };
	struct alert_channel_status s;
	struct alert al = g_gw;
	size_t i;
	int ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_WEBHOOK, tweak_queue),
		       "setup"))
		goto out;
	g_hs.hold = true; /* the first request stays in flight */
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		al.type = types[i];
		if (!ASSERT_OK(alert_send(g_a, &al), "send"))
			goto out;
		run_for(30);
	}
	s = chst(ALERT_CH_WEBHOOK);
	if (!ASSERT_EQ(s.dropped, 2, "two dropped") ||
	    !ASSERT_EQ(s.queued, 3, "one in flight, two waiting") ||
	    !ASSERT_TRUE(strstr(g_log, "Alert queue of webhook full: dropped 't.two'"),
			 "drop logged"))
		goto out;
	hs_release();
	for (i = 0; i < 3; i++) {
		if (!ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, i + 1, 5000),
				 "settled"))
			goto out;
		hs_release();
	}
	if (!ASSERT_EQ(g_hs.nreqs, 3, "three delivered"))
		goto out;
	for (i = 0; i < ARRAY_SIZE(sent); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\"type\":\"%s\"", sent[i]);
		if (!ASSERT_TRUE(strstr(g_hs.reqs[i].body, needle),
				 "in order, oldest dropped"))
			goto out;
	}
	ret = 0;
out:
	teardown();
	return ret;
}

/* Malformed alerts are refused before anything is queued. */
static int test_bad_alert(void)
{
	char big[ALERT_BODY_MAX + 2];
	struct alert al;
	int ret = -1;

	if (!ASSERT_OK(setup_http(1u << ALERT_CH_WEBHOOK, NULL), "setup"))
		goto out;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
#define BAD(field, val, want)                                              \
	do {                                                               \
		al = g_gw;                                                 \
		al.field = val;                                            \
		if (!ASSERT_EQ(alert_send(g_a, &al), want, #field " " #val)) \
			goto out;                                          \
	} while (0)
	BAD(type, NULL, -EINVAL);
	BAD(type, "", -EINVAL);
	BAD(type, "has space", -EINVAL);
	BAD(type, "new\nline", -EINVAL);
	BAD(title, NULL, -EINVAL);
	BAD(title, "", -EINVAL);
	BAD(title, "two\r\nlines", -EINVAL);
	BAD(title, "bad \xc3\x28 utf8", -EINVAL);
	BAD(body, "bell \a", -EINVAL);
	BAD(body, "overlong \xc0\xaf", -EINVAL);
	BAD(body, big, -EMSGSIZE);
	BAD(vlan, 4095, -EINVAL);
	BAD(severity, (enum alert_severity)7, -EINVAL);
#undef BAD
	if (!ASSERT_EQ(alert_send(g_a, NULL), -EINVAL, "NULL alert") ||
	    !ASSERT_EQ(alert_send(NULL, &g_gw), -EINVAL, "NULL alerter"))
		goto out;
	run_for(50);
	if (!ASSERT_EQ(g_hs.nreqs, 0, "nothing sent"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

struct badcfg {
	const char *desc;
	void (*set)(struct vifd_config *c, struct alert_opts *o);
	const char *want; /* the error message */
};

static void bc_webhook_scheme(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->webhook_url, sizeof(c->webhook_url),
		 "ftp://hooks.example.org/T0/B0/sekr1tpath");
}

static void bc_webhook_malformed(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->webhook_url, sizeof(c->webhook_url),
		 "http://exa mple.org/sekr1tpath");
}

static void bc_webhook_port(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->webhook_url, sizeof(c->webhook_url),
		 "https://example.org:99999/sekr1tpath");
}

static void bc_ntfy_half(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->ntfy_url, sizeof(c->ntfy_url), "https://ntfy.sh");
}

static void bc_ntfy_topic(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->ntfy_url, sizeof(c->ntfy_url), "https://ntfy.sh");
	snprintf(c->ntfy_topic, sizeof(c->ntfy_topic), "a/b");
}

static void bc_tg_token(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->telegram_token, sizeof(c->telegram_token),
		 "sekr1t/../x");
	snprintf(c->telegram_chat, sizeof(c->telegram_chat), "42");
}

static void bc_pushover_url(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->pushover_token, sizeof(c->pushover_token), "%s", PO_TOKEN);
	snprintf(c->pushover_user, sizeof(c->pushover_user), "%s", PO_USER);
	o->pushover_url = "api.pushover.net/1/messages.json";
}

static void bc_smtp_to(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->smtp_url, sizeof(c->smtp_url), "smtp://mail.example.org");
	snprintf(c->smtp_from, sizeof(c->smtp_from), "vifd@example.org");
	snprintf(c->smtp_to, sizeof(c->smtp_to), "ops@example.org, <x>");
}

static void bc_smtp_scheme(struct vifd_config *c, struct alert_opts *o)
{
	snprintf(c->smtp_url, sizeof(c->smtp_url),
		 "https://u:sekr1t@mail.example.org");
	snprintf(c->smtp_from, sizeof(c->smtp_from), "vifd@example.org");
	snprintf(c->smtp_to, sizeof(c->smtp_to), "ops@example.org");
}

static void bc_opts(struct vifd_config *c, struct alert_opts *o)
{
	o->queue_len = 0;
}

/* Bad settings fail at alert_new with a clear line and no secret. */
static int test_bad_config(void)
{
	static const struct badcfg cases[] = {
		{ "webhook scheme", bc_webhook_scheme,
		  "webhook_url: scheme must be https or http" },
		{ "webhook malformed", bc_webhook_malformed,
		  "webhook_url: not a valid URL (Bad hostname)" },
		{ "webhook port", bc_webhook_port,
		  "webhook_url: not a valid URL (Port number was not a decimal number between 0 and 65535)" },
		{ "ntfy half", bc_ntfy_half,
		  "ntfy_url is set but ntfy_topic is not" },
		{ "ntfy topic", bc_ntfy_topic,
		  "ntfy_topic: only letters, digits, '-' and '_', at most 64" },
		{ "telegram token", bc_tg_token,
		  "telegram_token: not a bot token (digits:letters, as BotFather gives it)" },
		{ "pushover url", bc_pushover_url,
		  "pushover_url: not a valid URL (Bad scheme)" },
		{ "smtp_to", bc_smtp_to,
		  "smtp_to: 'ops@example.org, <x>' is not a comma-separated list of mail addresses" },
		{ "smtp scheme", bc_smtp_scheme,
		  "smtp_url: scheme must be smtps or smtp" },
		{ "opts", bc_opts, "queue_len: 1-100000" },
	};
	struct vifd_config cfg;
	struct alert_opts o;
	struct alerter *a;
	char err[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		cfg_empty(&cfg);
		alert_opts_init(&o);
		cases[i].set(&cfg, &o);
		a = (struct alerter *)&cfg; /* must stay untouched */
		if (!ASSERT_EQ(alert_new_opts(g_loop, &cfg, &o, &a, err,
					      sizeof(err)),
			       -EINVAL, cases[i].desc))
			return -1;
		if (!ASSERT_TRUE(a == (struct alerter *)&cfg, "out untouched"))
			return -1;
		if (!ASSERT_TRUE(!strcmp(err, cases[i].want), cases[i].desc)) {
			fprintf(stderr, "got  '%s'\nwant '%s'\n", err,
				cases[i].want);
			return -1;
		}
		if (!ASSERT_TRUE(!strstr(err, "sekr1t"), "no secret in error"))
			return -1;
	}
	/* Nothing configured is fine; so are the defaults via alert_new. */
	cfg_empty(&cfg);
	if (!ASSERT_OK(alert_new(g_loop, &cfg, &a), "empty config"))
		return -1;
	if (!ASSERT_OK(alert_send(a, &g_gw), "send to no channel")) {
		alert_free(a);
		return -1;
	}
	alert_free(a);
	alert_free(NULL);
	return 0;
}

/* ---- SMTP ---------------------------------------------------------- */

static int setup_smtp(const struct smtp_script *sc, int n, const char *cred,
		      void (*tweak)(struct alert_opts *))
{
	struct vifd_config cfg;
	struct alert_opts o;
	char err[256];
	int ret;

	g_log_len = 0;
	g_log[0] = '\0';
	ret = smtp_start(sc, n);
	if (ret)
		return ret;
	cfg_empty(&cfg);
	opts_fast(&o);
	if (tweak)
		tweak(&o);
	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtp://%s127.0.0.1:%u",
		 cred ? cred : "", g_ss.port);
	snprintf(cfg.smtp_from, sizeof(cfg.smtp_from), "vifd@example.org");
	snprintf(cfg.smtp_to, sizeof(cfg.smtp_to),
		 "ops@example.org, oncall@example.net");
	ret = alert_new_opts(g_loop, &cfg, &o, &g_a, err, sizeof(err));
	if (ret)
		fprintf(stderr, "alert_new_opts: %s\n", err);
	return ret;
}

/* Envelope and the RFC 5322 message, byte for byte. */
static int test_smtp(void)
{
	static const struct smtp_script ok = { 0 };
	static char tr[1 << 16], msg[1 << 16];
	char want[4096], mid[128], *p;
	struct alert al = g_gw;
	int ret = -1;

	/* A lone "." line must survive SMTP's end-of-data marker. */
	al.body = "tor-1 failed 3 probes\n.\nsee vifctl events";
	if (!ASSERT_OK(setup_smtp(&ok, 1, NULL, NULL), "setup") ||
	    !ASSERT_OK(alert_send(g_a, &al), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 5000), "settled") ||
	    !ASSERT_EQ(chst(ALERT_CH_EMAIL).sent, 1, "sent") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "transcript"))
		goto out;
	if (!ASSERT_TRUE(strstr(tr, "\r\nMAIL FROM:<vifd@example.org>\r\n"
				    "RCPT TO:<ops@example.org>\r\n"
				    "RCPT TO:<oncall@example.net>\r\n"
				    "DATA\r\n"),
			 "envelope") ||
	    !ASSERT_TRUE(strstr(tr, "\r\n..\r\n"), "dot stuffed on the wire") ||
	    !ASSERT_TRUE(strstr(tr, "\r\n.\r\nQUIT\r\n"), "end of data, QUIT") ||
	    !ASSERT_TRUE(smtp_message(tr, msg, sizeof(msg)), "message"))
		goto out;
	p = strstr(msg, "\r\nMessage-ID: <");
	if (!ASSERT_TRUE(p && sscanf(p, "\r\nMessage-ID: %127s", mid) == 1,
			 "Message-ID"))
		goto out;
	if (!ASSERT_TRUE(mid[9] == '-' &&
			 strstr(mid, "@example.org>") ==
				 mid + strlen(mid) - 13,
			 "Message-ID form"))
		goto out;
	snprintf(want, sizeof(want),
		 "Date: " AT_RFC5322 "\r\n"
		 "From: vifd <vifd@example.org>\r\n"
		 "To: ops@example.org, oncall@example.net\r\n"
		 "Subject: [critical] Gateway down\r\n"
		 "Message-ID: %s\r\n"
		 "MIME-Version: 1.0\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n"
		 "Content-Transfer-Encoding: 7bit\r\n"
		 "Auto-Submitted: auto-generated\r\n"
		 "\r\n"
		 "tor-1 failed 3 probes\r\n"
		 ".\r\n"
		 "see vifctl events\r\n"
		 "\r\n"
		 "-- \r\n"
		 "severity: critical\r\n"
		 "type: killswitch.engaged\r\n"
		 "vlan: 101\r\n"
		 "time: " AT_RFC3339 "\r\n"
		 "host: %s\r\n",
		 mid, g_host);
	if (!ASSERT_TRUE(!strcmp(msg, want), "message bytes")) {
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", msg, want);
		goto out;
	}
	ret = 0;
out:
	teardown();
	return ret;
}

/* UTF-8: encoded-word Subject, quoted-printable body. */
static int test_smtp_utf8(void)
{
	static const struct smtp_script ok = { 0 };
	static char tr[1 << 16], msg[1 << 16];
	struct alert al = g_gw;
	int ret = -1;

	al.title = "Квота исчерпана";
	al.body = "VIF 101 использовал 100% = 10 GB";
	al.severity = ALERT_WARNING;
	al.type = "quota.exceeded";
	if (!ASSERT_OK(setup_smtp(&ok, 1, NULL, NULL), "setup") ||
	    !ASSERT_OK(alert_send(g_a, &al), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 5000), "settled") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "transcript") ||
	    !ASSERT_TRUE(smtp_message(tr, msg, sizeof(msg)), "message"))
		goto out;
	/* "[warning] Квота исчерпана" is 39 bytes: one word. */
	if (!ASSERT_TRUE(strstr(msg, "\r\nSubject: =?UTF-8?B?W3dhcm5pbmddINCa0LLQvtGC0LAg0LjRgdGH0LXRgNC/0LDQvdCw?=\r\n"),
			 "encoded Subject") ||
	    !ASSERT_TRUE(strstr(msg, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"),
			 "QP header") ||
	    !ASSERT_TRUE(strstr(msg, "\r\n\r\n"
				     "VIF 101 =D0=B8=D1=81=D0=BF=D0=BE=D0=BB=D1=8C=D0=B7=D0=BE=D0=B2=D0=B0=D0=BB =\r\n"
				     "100% =3D 10 GB\r\n"
				     "\r\n"
				     "--=20\r\n"
				     "severity: warning\r\n"),
			 "QP body: soft break within 76 columns, '=' and the trailing blank encoded")) {
		fprintf(stderr, "message:\n%s\n", msg);
		goto out;
	}
	/* Past 45 bytes: several words, folded, none splitting a character. */
	al.title = "Шлюз tor-1 недоступен, аварийный выключатель включён";
	al.severity = ALERT_CRITICAL;
	if (!ASSERT_OK(alert_send(g_a, &al), "send long") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 2, 5000), "settled") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "transcript") ||
	    !ASSERT_TRUE(smtp_message(tr, msg, sizeof(msg)), "message"))
		goto out;
	if (!ASSERT_TRUE(strstr(msg, "\r\nSubject: "
				     "=?UTF-8?B?W2NyaXRpY2FsXSDQqNC70Y7QtyB0b3ItMSDQvdC10LTQvtGB0YLRg9C/0LU=?=\r\n"
				     " =?UTF-8?B?0L0sINCw0LLQsNGA0LjQudC90YvQuSDQstGL0LrQu9GO0YfQsNGC0LXQu9GM?=\r\n"
				     " =?UTF-8?B?INCy0LrQu9GO0YfRkdC9?=\r\n"),
			 "folded encoded-words")) {
		fprintf(stderr, "message:\n%s\n", msg);
		goto out;
	}
	ret = 0;
out:
	teardown();
	return ret;
}

/* 451 is "try later": retried on a new session and delivered once. */
static int test_smtp_4xx_retry(void)
{
	static const struct smtp_script sc[] = { { .mail = 451 }, { 0 } };
	static char tr[1 << 16];
	struct alert_channel_status s;
	int ret = -1;

	if (!ASSERT_OK(setup_smtp(sc, 2, NULL, tweak_retry), "setup") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 5000), "settled"))
		goto out;
	s = chst(ALERT_CH_EMAIL);
	if (!ASSERT_EQ(s.sent, 1, "sent") ||
	    !ASSERT_EQ(s.retries, 1, "retry") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "session 1") ||
	    !ASSERT_TRUE(!strstr(tr, "DATA"), "no data after 451") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "session 2") ||
	    !ASSERT_TRUE(strstr(tr, "\r\n.\r\n"), "message sent") ||
	    !ASSERT_TRUE(!smtp_next(tr, sizeof(tr), 300), "no third session"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

/* 550 is final. */
static int test_smtp_5xx_final(void)
{
	static const struct smtp_script sc[] = { { .data_end = 554 } };
	static char tr[1 << 16];
	struct alert_channel_status s;
	int ret = -1;

	if (!ASSERT_OK(setup_smtp(sc, 1, NULL, tweak_retry), "setup") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 5000), "settled"))
		goto out;
	s = chst(ALERT_CH_EMAIL);
	if (!ASSERT_EQ(s.failed, 1, "failed") ||
	    !ASSERT_EQ(s.retries, 0, "not retried") ||
	    !ASSERT_TRUE(!strcmp(s.last_error,
				 "SMTP 554 after the message: rejected: looks like spam"),
			 "last_error") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "session") ||
	    !ASSERT_TRUE(!smtp_next(tr, sizeof(tr), 300), "only one session")) {
		fprintf(stderr, "last_error '%s'\n", s.last_error);
		goto out;
	}
	ret = 0;
out:
	teardown();
	return ret;
}

/*
 * Credentials over smtp:// demand STARTTLS; a server that does not offer
 * it never sees them, retrying cannot help, and the password shows
 * nowhere.
 */
static int test_smtp_credentials_need_tls(void)
{
	static const struct smtp_script sc[] = { { 0 } };
	static char tr[1 << 16];
	struct alert_channel_status s;
	int ret = -1;

	if (!ASSERT_OK(setup_smtp(sc, 1, "vifd:" SMTP_PASS "@", tweak_retry),
		       "setup") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 5000), "settled"))
		goto out;
	s = chst(ALERT_CH_EMAIL);
	if (!ASSERT_EQ(s.failed, 1, "failed") ||
	    !ASSERT_EQ(s.retries, 0, "not retried") ||
	    !ASSERT_TRUE(smtp_next(tr, sizeof(tr), 3000), "session") ||
	    !ASSERT_TRUE(!strstr(tr, "AUTH") && !strstr(tr, "MAIL FROM"),
			 "nothing sent in the clear") ||
	    !ASSERT_TRUE(strstr(s.last_error, "(curl 64)"), "TLS required") ||
	    !ASSERT_TRUE(!strstr(s.last_error, SMTP_PASS), "status clean") ||
	    !ASSERT_TRUE(strstr(g_log, "via email"), "failure logged") ||
	    !ASSERT_TRUE(log_clean(), "no secret logged")) {
		fprintf(stderr, "last_error '%s'\n", s.last_error);
		goto out;
	}
	ret = 0;
out:
	teardown();
	return ret;
}

static void tweak_stall(struct alert_opts *o)
{
	o->timeout_ms = 1000;
	o->max_attempts = 1;
}

struct gap {
	uint64_t last, max;
};

static void on_gap_tick(struct loop *l, uint64_t id, void *ctx)
{
	struct gap *g = ctx;
	uint64_t now = loop_now_ms();

	if (g->last && now - g->last > g->max)
		g->max = now - g->last;
	g->last = now;
}

static int smtp_stall(const struct smtp_script *sc, bool want_sent,
		      const char *want_error)
{
	struct alert_channel_status s;
	struct gap g = { 0 };
	uint64_t id = 0;
	int ret = -1;

	g.last = loop_now_ms();
	if (!ASSERT_OK(setup_smtp(sc, 1, NULL, tweak_stall), "setup") ||
	    !ASSERT_OK(loop_timer_add(g_loop, 20, 20, on_gap_tick, &g, &id),
		       "tick timer") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_EMAIL, 1, 8000), "settled"))
		goto out;
	run_for(100);
	s = chst(ALERT_CH_EMAIL);
	if (!ASSERT_EQ(s.sent, want_sent, "sent") ||
	    !ASSERT_EQ(s.failed, !want_sent, "failed") ||
	    !ASSERT_TRUE(!strcmp(s.last_error, want_error), "last_error") ||
	    /*
	     * 20 ms ticks; a blocking wait would show as a gap of the
	     * whole 1 s timeout.  The slack is for valgrind.
	     */
	    !ASSERT_TRUE(g.max < 500, "the loop never stalled")) {
		fprintf(stderr, "longest gap %llu ms, last_error '%s'\n",
			(unsigned long long)g.max, s.last_error);
		goto out;
	}
	ret = 0;
out:
	loop_timer_del(g_loop, id);
	teardown();
	return ret;
}

/*
 * A server that goes silent after the message, or after QUIT.  libcurl
 * would wait for either reply synchronously (curl/curl#8555), stalling
 * the loop; alert.c's own SMTP transaction waits on the loop instead.
 * The attempt's timeout ends the first; an unanswered QUIT does not undo
 * a delivery.
 */
static int test_smtp_stall(void)
{
	static const struct smtp_script sc = { .stall = true };

	return smtp_stall(&sc, false,
			  "SMTP: no reply to the message within 1000 ms");
}

static int test_smtp_quit_stall(void)
{
	static const struct smtp_script sc = { .quit_stall = true };

	return smtp_stall(&sc, true, "");
}

/* ---- teardown with work in flight ---------------------------------- */

/*
 * alert_free() with a request hanging, one backing off, a mail waiting
 * for its reply and an in-app delivery pending: everything is cancelled
 * at once (no QUIT waited for), no callback runs afterwards, and (under
 * valgrind) nothing leaks.
 */
static int test_free_inflight(void)
{
	static const struct smtp_script stall = { .stall = true };
	unsigned int mask = (1u << ALERT_CH_WEBHOOK) | (1u << ALERT_CH_NTFY) |
			    (1u << ALERT_CH_PUSHOVER);
	struct inapp_rec rec = { 0 };
	struct alert al = g_gw;
	struct vifd_config cfg;
	struct alert_opts o;
	char err[256];
	uint64_t t0;
	int ret = -1, i;

	g_log_len = 0;
	if (!ASSERT_OK(hs_start(), "http server") ||
	    !ASSERT_OK(smtp_start(&stall, 1), "smtp server"))
		goto out;
	cfg_http(&cfg, &o, mask);
	o.max_attempts = 5;
	o.backoff_ms = 1000;
	o.backoff_max_ms = 2000;
	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtp://127.0.0.1:%u",
		 g_ss.port);
	snprintf(cfg.smtp_from, sizeof(cfg.smtp_from), "vifd@example.org");
	snprintf(cfg.smtp_to, sizeof(cfg.smtp_to), "ops@example.org");
	if (!ASSERT_OK(alert_new_opts(g_loop, &cfg, &o, &g_a, err,
				      sizeof(err)), err))
		goto out;
	alert_inapp_set(g_a, on_inapp, &rec);
	/* Requests arrive in channel order: webhook, ntfy, pushover. */
	g_hs.script[0] = (struct hresp){ .hang = true };
	g_hs.script[1] = (struct hresp){ .status = 503 };
	g_hs.script[2] = (struct hresp){ .hang = true };
	g_hs.nscript = 3;
	if (!ASSERT_OK(alert_send(g_a, &al), "send"))
		goto out;
	run_for(150); /* 3 requests in, the mail sent, in-app delivered */
	for (i = 0; i < 3; i++) {
		al.vlan = 200 + i; /* queued behind the ones in flight */
		if (!ASSERT_OK(alert_send(g_a, &al), "send"))
			goto out;
	}
	if (!ASSERT_EQ(g_hs.nreqs, 3, "three in flight") ||
	    !ASSERT_EQ(rec.calls, 1, "in-app once so far") ||
	    !ASSERT_EQ(chst(ALERT_CH_NTFY).retries, 0, "ntfy backing off") ||
	    !ASSERT_EQ(chst(ALERT_CH_EMAIL).queued, 4, "mail in flight") ||
	    !ASSERT_EQ(chst(ALERT_CH_EMAIL).sent, 0, "mail unanswered"))
		goto out;
	t0 = loop_now_ms();
	alert_free(g_a);
	g_a = NULL;
	if (!ASSERT_TRUE(loop_now_ms() - t0 < 100, "free does not wait"))
		goto out;
	run_for(1200); /* past the backoff and any stray timer */
	if (!ASSERT_EQ(rec.calls, 1, "no in-app call after free") ||
	    !ASSERT_EQ(g_hs.nreqs, 3, "no request after free"))
		goto out;
	ret = 0;
out:
	teardown();
	return ret;
}

/* ---- a DNS server that never answers ------------------------------ */

/*
 * In the forked child: its own network namespace (only lo, up) and mount
 * namespace, /etc/resolv.conf bind-mounted to point at 127.0.0.1, where a
 * bound UDP socket takes the queries and never answers.  glibc's resolver
 * then blocks its caller for the whole resolver timeout.
 */
static int dns_blackhole(void)
{
	static const char conf[] = "nameserver 127.0.0.1\n"
				   "options timeout:3 attempts:1\n";
	char path[] = "/tmp/test_alert_resolv.XXXXXX";
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, s, ok;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET))
		return TEST_SKIP;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	ok = write(fd, conf, sizeof(conf) - 1) == sizeof(conf) - 1;
	close(fd);
	/* The mount keeps the inode; the name can go at once. */
	ok = ok && !mount(path, "/etc/resolv.conf", NULL, MS_BIND, NULL);
	unlink(path);
	if (!ok)
		return -1;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	return 0; /* s stays open for the child's life */
}

static void dns_tweak(struct alert_opts *o)
{
	opts_fast(o);
	o->timeout_ms = 300;
	o->max_attempts = 1;
}

static int dns_stall_child(void)
{
	struct vifd_config cfg;
	struct alert_opts o;
	struct gap g;
	uint64_t id, t0, took_free;
	int ret;

	ret = dns_blackhole();
	if (ret)
		return ret;
	if (loop_new(&g_loop))
		return -1;
	cfg_empty(&cfg);
	dns_tweak(&o);
	snprintf(cfg.webhook_url, sizeof(cfg.webhook_url),
		 "http://alerts.example.test/hook");
	if (!ASSERT_OK(alert_new_opts(g_loop, &cfg, &o, &g_a, NULL, 0),
		       "new"))
		return -1;
	g = (struct gap){ .last = loop_now_ms() };
	if (!ASSERT_OK(loop_timer_add(g_loop, 20, 20, on_gap_tick, &g, &id),
		       "tick timer") ||
	    !ASSERT_OK(alert_send(g_a, &g_gw), "send") ||
	    !ASSERT_TRUE(wait_done(ALERT_CH_WEBHOOK, 1, 5000), "settled"))
		return -1;
	run_for(100);
	if (!ASSERT_EQ(chst(ALERT_CH_WEBHOOK).failed, 1, "timed out") ||
	    !ASSERT_TRUE(strstr(chst(ALERT_CH_WEBHOOK).last_error, "(curl 28)"),
			 "a timeout") ||
	    /*
	     * glibc holds the query 3 s; joining it would stall the loop
	     * some 2.7 s.  The slack is for valgrind.
	     */
	    !ASSERT_TRUE(g.max < 1000, "the loop never stalled")) {
		fprintf(stderr, "longest gap %llu ms, '%s'\n",
			(unsigned long long)g.max,
			chst(ALERT_CH_WEBHOOK).last_error);
		return -1;
	}
	/* Freed while resolving: no waiting either. */
	if (!ASSERT_OK(alert_send(g_a, &g_gw), "send again"))
		return -1;
	run_for(50);
	t0 = loop_now_ms();
	alert_free(g_a);
	took_free = loop_now_ms() - t0;
	if (!ASSERT_TRUE(took_free < 100, "free does not wait for DNS")) {
		fprintf(stderr, "alert_free took %llu ms\n",
			(unsigned long long)took_free);
		return -1;
	}
	return 0;
}

static const char *g_argv0;

/*
 * A resolver that hangs must cost the loop nothing.  The namespaces need
 * a process of their own, and a freshly exec'd one: under valgrind it then
 * runs natively, so neither the timing nor valgrind's verdict on a child
 * that leaves a resolver thread behind gets in the way.
 */
static int test_dns_stall(void)
{
	int status;
	pid_t pid;

	if (geteuid())
		return TEST_SKIP;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(g_argv0, g_argv0, "--dns-stall-child", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == TEST_SKIP ? TEST_SKIP :
	       WEXITSTATUS(status) ? -1 : 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_bad_config),
	TEST_CASE(test_bad_alert),
	TEST_CASE(test_fanout),
	TEST_CASE(test_ntfy_utf8),
	TEST_CASE(test_retry_5xx),
	TEST_CASE(test_retry_after),
	TEST_CASE(test_4xx_final),
	TEST_CASE(test_timeout),
	TEST_CASE(test_refused),
	TEST_CASE(test_dedupe),
	TEST_CASE(test_queue_overflow),
	TEST_CASE(test_smtp),
	TEST_CASE(test_smtp_utf8),
	TEST_CASE(test_smtp_4xx_retry),
	TEST_CASE(test_smtp_5xx_final),
	TEST_CASE(test_smtp_credentials_need_tls),
	TEST_CASE(test_smtp_stall),
	TEST_CASE(test_smtp_quit_stall),
	TEST_CASE(test_free_inflight),
	TEST_CASE(test_dns_stall),
};

int main(int argc, char **argv)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy",
					       "HTTPS_PROXY", "all_proxy",
					       "ALL_PROXY" };
	struct test_case sel[ARRAY_SIZE(cases)];
	size_t i, n = 0;
	int j, ret;

	/* The servers are local: a proxy from the environment would
	 * intercept them. */
	for (i = 0; i < ARRAY_SIZE(proxies); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	g_argv0 = argv[0];
	if (argc == 2 && !strcmp(argv[1], "--dns-stall-child")) {
		ret = dns_stall_child();
		fflush(NULL);
		/* Not exit(): the resolver thread may be in getaddrinfo(). */
		_exit(ret & 0xff);
	}
	if (gethostname(g_host, sizeof(g_host) - 1))
		snprintf(g_host, sizeof(g_host), "localhost");
	if (loop_new(&g_loop)) {
		fprintf(stderr, "loop_new failed\n");
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (argc < 2) {
			sel[n++] = cases[i];
			continue;
		}
		for (j = 1; j < argc; j++)
			if (!strcmp(argv[j], cases[i].name))
				sel[n++] = cases[i];
	}
	if (argc >= 2 && !n) {
		fprintf(stderr, "no such case\n");
		loop_free(g_loop);
		return 1;
	}
	ret = harness_run(sel, n);
	loop_free(g_loop);
	return ret;
}
