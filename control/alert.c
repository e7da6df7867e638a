// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * alert.c - notifications over libcurl's multi socket API on vifd's loop.
 * See alert.h for the contract and what each channel sends.
 *
 * Shape: an alert becomes one refcounted struct amsg shared by every
 * channel's queue.  Each channel delivers its queue one message at a time:
 * the payload is rendered once, then each attempt is a fresh easy handle
 * on the shared multi handle (which keeps the connection cache, so a
 * retry or the next alert can reuse a connection).  curl's sockets become
 * loop fd watches and its single timeout becomes one loop timer; retries
 * wait on a per-channel loop timer.
 *
 * Mail is split in two.  libcurl's SMTP "done" phase waits synchronously
 * for the reply to the end of data, and its disconnect for the reply to
 * QUIT (curl/curl#8555, still so upstream), which would stall the loop
 * for as long as a slow server takes.  So curl does only the connect
 * phase (greeting, EHLO, STARTTLS, AUTH: non-blocking under multi) with
 * CURLOPT_CONNECT_ONLY, and the transaction itself, MAIL, RCPT, DATA,
 * the message and QUIT, runs here on the loop through curl_easy_send()
 * and curl_easy_recv(), which keep TLS curl's business.  Removing a
 * connect-only handle closes its connection as dead, without a QUIT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "alert.h"
#include "config.h"
#include "log.h"
#include "loop.h"

#define ALERT_DEDUPE_SLOTS 64
#define ALERT_SECRETS_MAX 32
#define ALERT_RESP_KEEP 512 /* bytes of an error response kept for status */
#define ALERT_HOST_MAX 65
#define ALERT_ID_MAX 32
#define ALERT_MAIL_DOMAIN_MAX 256
#define ALERT_SMTP_CMD_MAX 600  /* one command line: RCPT TO:<256 bytes> */
#define ALERT_SMTP_REPLY_MAX 2048
#define ALERT_SMTP_QUIT_WAIT_MS 2000 /* for the 221, once delivered */

/* One alert, shared by the channel queues; freed by its last reference. */
struct amsg {
	unsigned int refs;
	enum alert_severity severity;
	__u16 vlan;
	__u32 suppressed;
	time_t at;
	char id[ALERT_ID_MAX];
	char type[ALERT_TYPE_MAX];
	char title[ALERT_TITLE_MAX + 1];
	char body[ALERT_BODY_MAX + 1];
};

struct chan {
	struct alerter *a;
	enum alert_channel kind;
	struct amsg **ring; /* waiting messages, oldest at head */
	__u32 head, len;
	struct amsg *cur;   /* being delivered: in flight or backing off */
	__u32 attempt;      /* attempts made for cur */
	CURL *easy;         /* the attempt in flight, or NULL */
	uint64_t retry_timer;
	uint64_t deadline_ms; /* of the attempt in flight */
	char *payload;      /* cur rendered, kept across attempts */
	size_t payload_len;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char resp[ALERT_RESP_KEEP + 1];
	size_t resp_len;
	struct smtp_session {
		int fd;             /* watched by us; -1 = no session */
		int step;           /* enum smtp_step */
		const struct curl_slist *rcpt; /* the RCPT TO being sent */
		const char *out;    /* bytes to send: cmd or the payload */
		size_t out_len, out_off;
		uint64_t timer;
		char cmd[ALERT_SMTP_CMD_MAX];
		char reply[ALERT_SMTP_REPLY_MAX];
		size_t reply_len;
	} smtp;
	struct alert_channel_status st;
};

struct dedupe_slot {
	bool used;
	__u8 severity;
	__u16 vlan;
	__u32 folded;     /* suppressed since the last one let through */
	uint64_t last_ms; /* when the last one was let through */
	char type[ALERT_TYPE_MAX];
};

struct alerter {
	struct loop *l;
	struct alert_opts opts;
	CURLM *multi;
	bool curl_inited;
	uint64_t curl_timer;
	int *fds;          /* sockets curl asked us to watch */
	size_t nfds, capfds;

	/* Channel settings, resolved and checked by alert_new_opts(). */
	char *webhook_url;
	char *ntfy_url;    /* <ntfy_url>/<topic> */
	char *pushover_url;
	char *telegram_url; /* <base>/bot<token>/sendMessage */
	char *smtp_url;
	char pushover_token[CONFIG_TOKEN_MAX];
	char pushover_user[CONFIG_TOKEN_MAX];
	char telegram_chat[CONFIG_TOKEN_MAX];
	char smtp_from[CONFIG_TOKEN_MAX + 2]; /* "<addr>", for MAIL FROM */
	char mail_from[CONFIG_TOKEN_MAX];  /* bare address, for From: */
	char mail_to[CONFIG_TOKEN_MAX];    /* "a@x, b@y", for To: */
	char mail_domain[ALERT_MAIL_DOMAIN_MAX];
	struct curl_slist *smtp_rcpt;
	bool smtp_demand_tls;

	/* Strings scrubbed from anything that may be logged or shown. */
	char *secrets[ALERT_SECRETS_MAX];
	size_t nsecrets;

	char host[ALERT_HOST_MAX];
	__u32 boot;        /* random per alerter: ids stay unique on restart */
	__u64 seq;

	struct dedupe_slot dedupe[ALERT_DEDUPE_SLOTS];
	__u64 accepted, suppressed;

	alert_inapp_cb inapp_cb;
	void *inapp_ctx;
	uint64_t inapp_timer;

	struct chan ch[ALERT_CH__MAX];
};

static const char *const channel_names[ALERT_CH__MAX] = {
	[ALERT_CH_WEBHOOK] = "webhook",   [ALERT_CH_NTFY] = "ntfy",
	[ALERT_CH_PUSHOVER] = "pushover", [ALERT_CH_TELEGRAM] = "telegram",
	[ALERT_CH_EMAIL] = "email",       [ALERT_CH_INAPP] = "inapp",
};

static const char *const severity_names[] = {
	[ALERT_INFO] = "info",
	[ALERT_WARNING] = "warning",
	[ALERT_CRITICAL] = "critical",
};

const char *alert_channel_name(enum alert_channel ch)
{
	if ((unsigned int)ch >= ALERT_CH__MAX)
		return NULL;
	return channel_names[ch];
}

const char *alert_severity_name(enum alert_severity sev)
{
	if ((unsigned int)sev > ALERT_CRITICAL)
		return NULL;
	return severity_names[sev];
}

void alert_opts_init(struct alert_opts *opts)
{
	*opts = (struct alert_opts){
		.pushover_url = ALERT_PUSHOVER_URL_DEFAULT,
		.telegram_url = ALERT_TELEGRAM_URL_DEFAULT,
		.connect_timeout_ms = ALERT_CONNECT_TIMEOUT_MS_DEFAULT,
		.timeout_ms = ALERT_TIMEOUT_MS_DEFAULT,
		.max_attempts = ALERT_MAX_ATTEMPTS_DEFAULT,
		.backoff_ms = ALERT_BACKOFF_MS_DEFAULT,
		.backoff_max_ms = ALERT_BACKOFF_MAX_MS_DEFAULT,
		.retry_after_max_ms = ALERT_RETRY_AFTER_MAX_MS_DEFAULT,
		.queue_len = ALERT_QUEUE_LEN_DEFAULT,
		.dedupe_window_ms = ALERT_DEDUPE_WINDOW_MS_DEFAULT,
	};
}

/* ------------------------------------------------------------------ */
/* A growable string; the first allocation failure sticks.            */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Only short fixed fields go through here. */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true;
		return;
	}
	sb_add(b, tmp, n);
}

/* Hand the string over (NULL on failure); b is empty afterwards. */
static char *sb_take(struct sbuf *b, size_t *len)
{
	char *p = b->oom ? NULL : b->p;

	if (!p)
		free(b->p);
	else if (len)
		*len = b->len;
	*b = (struct sbuf){ 0 };
	return p;
}

/* ------------------------------------------------------------------ */
/* Text checks and encodings.                                         */

/* Strict UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		__u32 cp;
		size_t k, need;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += need + 1;
	}
	return true;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool all_in(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr(extra, *s))
			return false;
	return true;
}

static void b64_add(struct sbuf *b, const unsigned char *s, size_t n)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		char q[4] = { t[s[i] >> 2],
			      t[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			      t[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)],
			      t[s[i + 2] & 63] };

		sb_add(b, q, 4);
	}
	if (n - i == 1) {
		char q[4] = { t[s[i] >> 2], t[(s[i] & 3) << 4], '=', '=' };

		sb_add(b, q, 4);
	} else if (n - i == 2) {
		char q[4] = { t[s[i] >> 2],
			      t[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			      t[(s[i + 1] & 15) << 2], '=' };

		sb_add(b, q, 4);
	}
}

/*
 * RFC 2047 encoded-words for a header value that is not ASCII (ASCII goes
 * through as is).  Each word carries whole UTF-8 characters and stays
 * within the 75-character limit; words are joined by sep (a folding
 * "\r\n " in mail, a space in HTTP, where ntfy decodes them).
 */
static void rfc2047_add(struct sbuf *b, const char *s, const char *sep)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (is_ascii(s)) {
		sb_add(b, s, n);
		return;
	}
	while (n) {
		size_t take = n < 45 ? n : 45;

		/* Back off to a character boundary. */
		while (take < n && (p[take] & 0xc0) == 0x80)
			take--;
		sb_puts(b, "=?UTF-8?B?");
		b64_add(b, p, take);
		sb_puts(b, "?=");
		p += take;
		n -= take;
		if (n)
			sb_puts(b, sep);
	}
}

/* application/x-www-form-urlencoded value: unreserved bytes kept. */
static void form_add(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = *s;

		if (is_alnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			sb_add(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			sb_add(b, e, 3);
		}
	}
}

/*
 * A mail body from LF-separated UTF-8 text: CRLF line ends, and
 * quoted-printable (RFC 2045 6.7) whenever the text is not 7-bit or has a
 * line too long for SMTP.  Returns whether it used quoted-printable.
 */
static bool mail_body_add(struct sbuf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *line, *nl;
	bool qp = !is_ascii(text);

	for (line = text; !qp && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		if (nl - line > 76)
			qp = true;
		if (!*nl)
			break;
	}
	for (line = text; *line; line = nl + 1) {
		const char *p;
		size_t col = 0;

		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		for (p = line; p < nl; p++) {
			unsigned char c = *p;
			bool last = p + 1 == nl;
			char tok[3];
			size_t tn = 1;

			tok[0] = c;
			/* Trailing blanks would be stripped in transit. */
			if (qp && (c == '=' || c >= 0x80 ||
				   ((c == ' ' || c == '\t') && last))) {
				tok[0] = '=';
				tok[1] = hex[c >> 4];
				tok[2] = hex[c & 15];
				tn = 3;
			}
			if (qp && col + tn > 75) {
				sb_puts(b, "=\r\n");
				col = 0;
			}
			sb_add(b, tok, tn);
			col += tn;
		}
		sb_puts(b, "\r\n");
		if (!*nl)
			break;
	}
	return qp;
}

static void rfc3339(time_t at, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&at, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

/* RFC 5322 3.3 in UTC; names spelled out so the locale cannot leak in. */
static void rfc5322_date(time_t at, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
					      "May", "Jun", "Jul", "Aug",
					      "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&at, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ------------------------------------------------------------------ */
/* Secrets: registered at alert_new, scrubbed from every message.     */

static int secret_add(struct alerter *a, const char *s, size_t n)
{
	char *dup;
	size_t i;

	/* Shorter strings would scrub ordinary words, and are no secret. */
	if (n < 4)
		return 0;
	for (i = 0; i < a->nsecrets; i++)
		if (strlen(a->secrets[i]) == n && !memcmp(a->secrets[i], s, n))
			return 0;
	if (a->nsecrets == ALERT_SECRETS_MAX)
		return -ENOSPC;
	dup = strndup(s, n);
	if (!dup)
		return -ENOMEM;
	a->secrets[a->nsecrets++] = dup;
	return 0;
}

/*
 * Replace every secret in s by "***" (each pass shortens s, so it ends).
 * Text that was cut off may end in the start of a secret: that goes too.
 */
static void scrub(const struct alerter *a, char *s)
{
	size_t i, len, k;

	for (i = 0; i < a->nsecrets; i++) {
		size_t n = strlen(a->secrets[i]);
		char *hit;

		while ((hit = strstr(s, a->secrets[i]))) {
			memcpy(hit, "***", 3);
			memmove(hit + 3, hit + n, strlen(hit + n) + 1);
		}
	}
	len = strlen(s);
	for (i = 0; i < a->nsecrets; i++) {
		size_t n = strlen(a->secrets[i]);

		for (k = n - 1; k >= 4; k--) {
			if (k <= len &&
			    !memcmp(s + len - k, a->secrets[i], k)) {
				memcpy(s + len - k, "***", 4);
				len = strlen(s);
				break;
			}
		}
	}
}

/* Printable ASCII only, so a response body cannot garble a log line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = ' ';
}

/* ------------------------------------------------------------------ */
/* Configuration checks.                                              */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *curlu_why(CURLUcode rc)
{
	return curl_url_strerror(rc);
}

/*
 * Parse url into *out (caller's curl_url_cleanup) and check it has one of
 * the schemes and a host.  Messages name the key only: a URL may hold a
 * token.
 */
static int url_parse(const char *key, const char *url,
		     const char *const *schemes, CURLU **out, char *err,
		     size_t errlen)
{
	char *scheme = NULL, *host = NULL;
	CURLU *u = curl_url();
	CURLUcode rc;
	size_t i;
	int ret = 0;

	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OUT_OF_MEMORY) {
		ret = -ENOMEM;
		goto out;
	}
	if (rc) {
		ret = fail(err, errlen, "%s: not a valid URL (%s)", key,
			   curlu_why(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host) {
		ret = fail(err, errlen, "%s: not a valid URL (no host)", key);
		goto out;
	}
	for (i = 0; schemes[i]; i++)
		if (!strcmp(scheme, schemes[i]))
			break;
	if (!schemes[i]) {
		ret = fail(err, errlen, "%s: scheme must be %s or %s", key,
			   schemes[0], schemes[1]);
		goto out;
	}
	*out = u;
	u = NULL;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

static const char *const http_schemes[] = { "https", "http", NULL };
static const char *const smtp_schemes[] = { "smtps", "smtp", NULL };

/*
 * url's path with "/" + tail appended (a trailing slash is not doubled),
 * into *out as a full URL.  The query, if any, stays after the path.
 */
static int url_join(CURLU *u, const char *tail, char **out)
{
	char *path = NULL, *joined = NULL;
	size_t n;
	int ret = -ENOMEM;

	if (curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	if (asprintf(&joined, "%.*s/%s", (int)n, path, tail) < 0) {
		joined = NULL;
		goto out;
	}
	if (curl_url_set(u, CURLUPART_PATH, joined, 0) ||
	    curl_url_get(u, CURLUPART_URL, out, 0))
		goto out;
	ret = 0;
out:
	curl_free(path);
	free(joined);
	return ret;
}

/* curl-allocated strings into ours, so every URL is freed one way. */
static int url_take(CURLU *u, char **out)
{
	char *s = NULL;

	if (curl_url_get(u, CURLUPART_URL, &s, 0))
		return -ENOMEM;
	*out = strdup(s);
	curl_free(s);
	return *out ? 0 : -ENOMEM;
}

static int own(char **dst)
{
	char *s = strdup(*dst);

	curl_free(*dst);
	*dst = s;
	return s ? 0 : -ENOMEM;
}

/* The URL's credentials, path and query, raw and decoded, are secrets. */
static int url_secrets(struct alerter *a, CURLU *u, bool path)
{
	static const CURLUPart parts[] = { CURLUPART_USER, CURLUPART_PASSWORD,
					   CURLUPART_QUERY, CURLUPART_PATH };
	size_t i, n = path ? 4 : 2;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		unsigned int flag;

		for (flag = 0; flag <= CURLU_URLDECODE && !ret;
		     flag += CURLU_URLDECODE) {
			char *s = NULL;

			if (curl_url_get(u, parts[i], &s, flag))
				continue;
			if (strcmp(s, "/"))
				ret = secret_add(a, s, strlen(s));
			curl_free(s);
		}
	}
	return ret;
}

/* One address, local@domain, with nothing a mail header would misread. */
static bool mail_addr_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t i;

	if (!at || at == s || at == s + n - 1 ||
	    memchr(at + 1, '@', s + n - at - 1))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
			return false;
	}
	return true;
}

static int check_webhook(struct alerter *a, const struct vifd_config *cfg,
			 char *err, size_t errlen)
{
	CURLU *u = NULL;
	int ret;

	if (!*cfg->webhook_url)
		return 0;
	ret = url_parse("webhook_url", cfg->webhook_url, http_schemes, &u,
			err, errlen);
	if (!ret)
		ret = url_secrets(a, u, true);
	if (!ret)
		ret = secret_add(a, cfg->webhook_url,
				 strlen(cfg->webhook_url));
	if (!ret)
		ret = url_take(u, &a->webhook_url);
	curl_url_cleanup(u);
	return ret;
}

static int check_ntfy(struct alerter *a, const struct vifd_config *cfg,
		      char *err, size_t errlen)
{
	const char *topic = cfg->ntfy_topic;
	CURLU *u = NULL;
	int ret;

	if (!*cfg->ntfy_url && !*topic)
		return 0;
	if (!*cfg->ntfy_url || !*topic)
		return fail(err, errlen, "%s is set but %s is not",
			    *topic ? "ntfy_topic" : "ntfy_url",
			    *topic ? "ntfy_url" : "ntfy_topic");
	/* ntfy's own rule; anyone who knows the topic can read it. */
	if (strlen(topic) > 64 || !all_in(topic, "-_"))
		return fail(err, errlen,
			    "ntfy_topic: only letters, digits, '-' and '_', at most 64");
	ret = url_parse("ntfy_url", cfg->ntfy_url, http_schemes, &u, err,
			errlen);
	if (!ret)
		ret = url_secrets(a, u, false);
	if (!ret)
		ret = secret_add(a, topic, strlen(topic));
	if (!ret)
		ret = url_join(u, topic, &a->ntfy_url);
	if (!ret)
		ret = own(&a->ntfy_url);
	curl_url_cleanup(u);
	return ret;
}

static int check_pushover(struct alerter *a, const struct vifd_config *cfg,
			  const char *url, char *err, size_t errlen)
{
	const char *tok = cfg->pushover_token, *user = cfg->pushover_user;
	CURLU *u = NULL;
	int ret;

	if (!*tok && !*user)
		return 0;
	if (!*tok || !*user)
		return fail(err, errlen, "%s is set but %s is not",
			    *tok ? "pushover_token" : "pushover_user",
			    *tok ? "pushover_user" : "pushover_token");
	if (!all_in(tok, "") || !all_in(user, ""))
		return fail(err, errlen,
			    "pushover_token and pushover_user are letters and digits only");
	ret = url_parse("pushover_url", url, http_schemes, &u, err, errlen);
	if (!ret)
		ret = url_take(u, &a->pushover_url);
	curl_url_cleanup(u);
	if (!ret)
		ret = secret_add(a, tok, strlen(tok));
	if (!ret)
		ret = secret_add(a, user, strlen(user));
	snprintf(a->pushover_token, sizeof(a->pushover_token), "%s", tok);
	snprintf(a->pushover_user, sizeof(a->pushover_user), "%s", user);
	return ret;
}

static int check_telegram(struct alerter *a, const struct vifd_config *cfg,
			  const char *base, char *err, size_t errlen)
{
	const char *tok = cfg->telegram_token, *chat = cfg->telegram_chat;
	const char *colon = strchr(tok, ':');
	char *tail = NULL;
	CURLU *u = NULL;
	size_t i;
	int ret;

	if (!*tok && !*chat)
		return 0;
	if (!*tok || !*chat)
		return fail(err, errlen, "%s is set but %s is not",
			    *tok ? "telegram_token" : "telegram_chat",
			    *tok ? "telegram_chat" : "telegram_token");
	/* The token goes into the URL path: nothing that could escape it. */
	for (i = 0; colon && tok + i < colon; i++)
		if (tok[i] < '0' || tok[i] > '9')
			break;
	if (!colon || colon == tok || tok + i != colon || !colon[1] ||
	    !all_in(colon + 1, "-_"))
		return fail(err, errlen,
			    "telegram_token: not a bot token (digits:letters, as BotFather gives it)");
	for (i = 0; chat[i]; i++)
		if ((unsigned char)chat[i] <= 0x20 || chat[i] == 0x7f)
			return fail(err, errlen,
				    "telegram_chat: a chat id or @channel name, no blanks");
	ret = url_parse("telegram_url", base, http_schemes, &u, err, errlen);
	if (!ret)
		ret = secret_add(a, tok, strlen(tok));
	if (!ret && asprintf(&tail, "bot%s/sendMessage", tok) < 0) {
		tail = NULL;
		ret = -ENOMEM;
	}
	if (!ret)
		ret = url_join(u, tail, &a->telegram_url);
	if (!ret)
		ret = own(&a->telegram_url);
	free(tail);
	curl_url_cleanup(u);
	snprintf(a->telegram_chat, sizeof(a->telegram_chat), "%s", chat);
	return ret;
}

static int check_smtp(struct alerter *a, const struct vifd_config *cfg,
		      char *err, size_t errlen)
{
	const char *url = cfg->smtp_url, *from = cfg->smtp_from;
	const char *p = cfg->smtp_to;
	char *scheme = NULL, *user = NULL, *pass = NULL;
	struct sbuf to = { 0 };
	CURLU *u = NULL;
	int ret;

	if (!*url && !*from && !*p)
		return 0;
	if (!*url || !*from || !*p)
		return fail(err, errlen,
			    "smtp_url, smtp_from and smtp_to go together: %s is not set",
			    !*url  ? "smtp_url" :
			    !*from ? "smtp_from" :
				     "smtp_to");
	if (!mail_addr_ok(from, strlen(from)))
		return fail(err, errlen,
			    "smtp_from: '%.*s' is not a mail address like vifd@example.org",
			    64, from);
	ret = url_parse("smtp_url", url, smtp_schemes, &u, err, errlen);
	if (ret)
		return ret;
	ret = url_secrets(a, u, false);
	if (!ret)
		ret = url_take(u, &a->smtp_url);
	if (ret)
		goto out;
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	/* Never hand credentials to a server that would not encrypt. */
	a->smtp_demand_tls = (user || pass) && scheme &&
			     !strcmp(scheme, "smtp");

	for (;;) {
		const char *end = strchr(p, ',');
		char rcpt[CONFIG_TOKEN_MAX + 2];
		struct curl_slist *l;
		size_t n;

		if (!end)
			end = p + strlen(p);
		while (*p == ' ' || *p == '\t')
			p++;
		n = end - p;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n || !mail_addr_ok(p, n)) {
			ret = fail(err, errlen,
				   "smtp_to: '%.*s' is not a comma-separated list of mail addresses",
				   64, cfg->smtp_to);
			goto out;
		}
		snprintf(rcpt, sizeof(rcpt), "<%.*s>", (int)n, p);
		l = curl_slist_append(a->smtp_rcpt, rcpt);
		if (!l) {
			ret = -ENOMEM;
			goto out;
		}
		a->smtp_rcpt = l;
		if (to.len)
			sb_puts(&to, ", ");
		sb_add(&to, p, n);
		if (!*end)
			break;
		p = end + 1;
	}
	if (to.oom || to.len >= sizeof(a->mail_to)) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(a->mail_to, to.p, to.len + 1);
	snprintf(a->smtp_from, sizeof(a->smtp_from), "<%s>", from);
	snprintf(a->mail_from, sizeof(a->mail_from), "%s", from);
	snprintf(a->mail_domain, sizeof(a->mail_domain), "%s",
		 strchr(from, '@') + 1);
out:
	free(to.p);
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ret;
}

static int check_opts(const struct alert_opts *o, char *err, size_t errlen)
{
	if (!o->pushover_url || !o->telegram_url)
		return fail(err, errlen, "pushover_url and telegram_url are needed");
	if (!o->connect_timeout_ms || !o->timeout_ms)
		return fail(err, errlen, "timeouts must be above 0 ms");
	if (!o->max_attempts || o->max_attempts > 100)
		return fail(err, errlen, "max_attempts: 1-100");
	if (!o->queue_len || o->queue_len > 100000)
		return fail(err, errlen, "queue_len: 1-100000");
	if (o->backoff_max_ms < o->backoff_ms)
		return fail(err, errlen, "backoff_max_ms is below backoff_ms");
	return 0;
}

/* ------------------------------------------------------------------ */
/* libcurl on the loop.                                               */

static void chan_kick(struct chan *c);
static void attempt_done(struct chan *c, CURLcode rc);

static ssize_t fds_find(const struct alerter *a, int fd)
{
	size_t i;

	for (i = 0; i < a->nfds; i++)
		if (a->fds[i] == fd)
			return i;
	return -1;
}

/* Every transfer that curl finished, one by one. */
static void curl_reap(struct alerter *a)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(a->multi, &left))) {
		struct chan *c = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
		if (c)
			attempt_done(c, msg->data.result);
	}
}

static void on_curl_fd(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct alerter *a = ctx;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(a->multi, fd, flags, &running);
	curl_reap(a);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp,
			  void *socketp)
{
	struct alerter *a = userp;
	uint32_t ev = 0;
	ssize_t i = fds_find(a, s);
	int err;

	if (what == CURL_POLL_REMOVE) {
		if (i >= 0) {
			loop_fd_del(a->l, s);
			a->fds[i] = a->fds[--a->nfds];
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (i >= 0) {
		err = loop_fd_mod(a->l, s, ev);
		if (!err)
			return 0;
		/* Closed and reused without a REMOVE: epoll forgot it. */
		loop_fd_del(a->l, s);
		return loop_fd_add(a->l, s, ev, on_curl_fd, a) ? -1 : 0;
	}
	if (a->nfds == a->capfds) {
		size_t cap = a->capfds ? a->capfds * 2 : 8;
		int *fds = realloc(a->fds, cap * sizeof(*fds));

		if (!fds)
			return -1;
		a->fds = fds;
		a->capfds = cap;
	}
	if (loop_fd_add(a->l, s, ev, on_curl_fd, a))
		return -1;
	a->fds[a->nfds++] = s;
	return 0;
}

static void on_curl_timeout(struct loop *l, uint64_t id, void *ctx)
{
	struct alerter *a = ctx;
	int running;

	/* Cleared first: curl may set a new timeout from inside. */
	a->curl_timer = 0;
	curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curl_reap(a);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct alerter *a = userp;

	loop_timer_del(a->l, a->curl_timer);
	a->curl_timer = 0;
	if (timeout_ms < 0)
		return 0;
	/* Not socket_action from here: curl forbids the recursion. */
	if (loop_timer_add(a->l, timeout_ms, 0, on_curl_timeout, a,
			   &a->curl_timer))
		return -1;
	return 0;
}

static size_t on_http_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct chan *c = ctx;
	size_t n = size * nmemb, room = ALERT_RESP_KEEP - c->resp_len;

	if (n < room)
		room = n;
	memcpy(c->resp + c->resp_len, data, room);
	c->resp_len += room;
	c->resp[c->resp_len] = '\0';
	return n;
}

/* ------------------------------------------------------------------ */
/* Rendering: one payload per message and channel.                    */

static const char *ntfy_priority(enum alert_severity s)
{
	return s == ALERT_CRITICAL ? "5" : s == ALERT_WARNING ? "4" : "3";
}

static const char *ntfy_emoji(enum alert_severity s)
{
	return s == ALERT_CRITICAL ? "rotating_light" :
	       s == ALERT_WARNING  ? "warning" :
				     "information_source";
}

static int pushover_priority(enum alert_severity s)
{
	return s == ALERT_CRITICAL ? 1 : s == ALERT_WARNING ? 0 : -1;
}

static const char *msg_text(const struct amsg *m)
{
	return *m->body ? m->body : m->title;
}

static int hdr_add(struct chan *c, const char *h)
{
	struct curl_slist *l = curl_slist_append(c->hdrs, h);

	if (!l)
		return -ENOMEM;
	c->hdrs = l;
	return 0;
}

static int json_payload(struct chan *c, json_t *root)
{
	if (!root)
		return -ENOMEM;
	c->payload = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!c->payload)
		return -ENOMEM;
	c->payload_len = strlen(c->payload);
	if (hdr_add(c, "Content-Type: application/json"))
		return -ENOMEM;
	return 0;
}

static int render_webhook(struct chan *c, const struct amsg *m)
{
	const struct alerter *a = c->a;
	json_t *root = json_object();
	char at[80];

	if (!root)
		return -ENOMEM;
	rfc3339(m->at, at, sizeof(at));
	/* Insertion order is kept by jansson: the documented order. */
	if (json_object_set_new(root, "version", json_integer(1)) ||
	    json_object_set_new(root, "id", json_string(m->id)) ||
	    json_object_set_new(root, "type", json_string(m->type)) ||
	    json_object_set_new(root, "severity",
				json_string(severity_names[m->severity])) ||
	    json_object_set_new(root, "title", json_string(m->title)) ||
	    json_object_set_new(root, "body", json_string(m->body)) ||
	    json_object_set_new(root, "vlan", m->vlan ?
				json_integer(m->vlan) : json_null()) ||
	    json_object_set_new(root, "at", json_string(at)) ||
	    json_object_set_new(root, "host", json_string(a->host)) ||
	    json_object_set_new(root, "suppressed",
				json_integer(m->suppressed))) {
		json_decref(root);
		return -ENOMEM;
	}
	return json_payload(c, root);
}

static int render_ntfy(struct chan *c, const struct amsg *m)
{
	struct sbuf h = { 0 };
	char *s;
	int err;

	sb_puts(&h, "Title: ");
	rfc2047_add(&h, m->title, " ");
	s = sb_take(&h, NULL);
	if (!s)
		return -ENOMEM;
	err = hdr_add(c, s);
	free(s);
	if (err)
		return err;

	sb_printf(&h, "Priority: %s", ntfy_priority(m->severity));
	s = sb_take(&h, NULL);
	err = s ? hdr_add(c, s) : -ENOMEM;
	free(s);
	if (err)
		return err;

	sb_printf(&h, "Tags: %s,%s", ntfy_emoji(m->severity), m->type);
	if (m->vlan)
		sb_printf(&h, ",vlan%u", m->vlan);
	s = sb_take(&h, NULL);
	err = s ? hdr_add(c, s) : -ENOMEM;
	free(s);
	if (err)
		return err;
	if (hdr_add(c, "Content-Type: text/plain; charset=utf-8"))
		return -ENOMEM;

	c->payload = strdup(msg_text(m));
	if (!c->payload)
		return -ENOMEM;
	c->payload_len = strlen(c->payload);
	return 0;
}

static int render_pushover(struct chan *c, const struct amsg *m)
{
	const struct alerter *a = c->a;
	struct sbuf b = { 0 };

	sb_puts(&b, "token=");
	form_add(&b, a->pushover_token);
	sb_puts(&b, "&user=");
	form_add(&b, a->pushover_user);
	sb_puts(&b, "&title=");
	form_add(&b, m->title);
	sb_puts(&b, "&message=");
	form_add(&b, msg_text(m));
	sb_printf(&b, "&priority=%d&timestamp=%lld",
		  pushover_priority(m->severity), (long long)m->at);
	c->payload = sb_take(&b, &c->payload_len);
	if (!c->payload)
		return -ENOMEM;
	return hdr_add(c, "Content-Type: application/x-www-form-urlencoded");
}

static int render_telegram(struct chan *c, const struct amsg *m)
{
	const char *chat = c->a->telegram_chat;
	json_t *root = json_object(), *id;
	struct sbuf t = { 0 };
	char *text, *end;
	long long n;

	if (!root)
		return -ENOMEM;
	/* Numeric ids as numbers, "@channel" names as strings. */
	errno = 0;
	n = strtoll(chat, &end, 10);
	if (!errno && !*end)
		id = json_integer(n);
	else
		id = json_string(chat);
	sb_printf(&t, "[%s] ", severity_names[m->severity]);
	sb_puts(&t, m->title);
	if (*m->body) {
		sb_puts(&t, "\n\n");
		sb_puts(&t, m->body);
	}
	text = sb_take(&t, NULL);
	if (!text || json_object_set_new(root, "chat_id", id) ||
	    json_object_set_new(root, "text", json_string(text))) {
		free(text);
		json_decref(root);
		return -ENOMEM;
	}
	free(text);
	return json_payload(c, root);
}

static int render_email(struct chan *c, const struct amsg *m)
{
	const struct alerter *a = c->a;
	struct sbuf b = { 0 }, text = { 0 }, body = { 0 };
	char date[96], at[80], subject[ALERT_TITLE_MAX + 16], *msg;
	size_t i, len;
	bool qp;

	rfc5322_date(m->at, date, sizeof(date));
	rfc3339(m->at, at, sizeof(at));
	snprintf(subject, sizeof(subject), "[%s] %s",
		 severity_names[m->severity], m->title);

	if (*m->body) {
		sb_puts(&text, m->body);
		sb_puts(&text, "\n\n");
	}
	sb_printf(&text, "-- \nseverity: %s\ntype: %s\n",
		  severity_names[m->severity], m->type);
	if (m->vlan)
		sb_printf(&text, "vlan: %u\n", m->vlan);
	sb_printf(&text, "time: %s\nhost: %s\n", at, a->host);
	if (text.oom) {
		free(text.p);
		return -ENOMEM;
	}
	qp = mail_body_add(&body, text.p);
	free(text.p);

	sb_printf(&b, "Date: %s\r\n", date);
	sb_printf(&b, "From: vifd <%s>\r\n", a->mail_from);
	sb_printf(&b, "To: %s\r\n", a->mail_to);
	sb_puts(&b, "Subject: ");
	rfc2047_add(&b, subject, "\r\n ");
	sb_printf(&b, "\r\nMessage-ID: <%s@%s>\r\n", m->id, a->mail_domain);
	sb_puts(&b, "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n");
	sb_printf(&b, "Content-Transfer-Encoding: %s\r\n",
		  qp ? "quoted-printable" : "7bit");
	sb_puts(&b, "Auto-Submitted: auto-generated\r\n\r\n");
	if (body.oom)
		b.oom = true;
	else
		sb_add(&b, body.p, body.len);
	free(body.p);
	msg = sb_take(&b, &len);
	if (!msg)
		return -ENOMEM;
	/* RFC 5321 4.5.2: a line's leading dot doubled, then the end mark. */
	for (i = 0; i < len; i++) {
		if (msg[i] == '.' && (!i || msg[i - 1] == '\n'))
			sb_add(&b, ".", 1);
		sb_add(&b, msg + i, 1);
	}
	sb_puts(&b, ".\r\n");
	free(msg);
	c->payload = sb_take(&b, &c->payload_len);
	return c->payload ? 0 : -ENOMEM;
}

static int render(struct chan *c, const struct amsg *m)
{
	switch (c->kind) {
	case ALERT_CH_WEBHOOK:
		return render_webhook(c, m);
	case ALERT_CH_NTFY:
		return render_ntfy(c, m);
	case ALERT_CH_PUSHOVER:
		return render_pushover(c, m);
	case ALERT_CH_TELEGRAM:
		return render_telegram(c, m);
	case ALERT_CH_EMAIL:
		return render_email(c, m);
	default:
		return -EINVAL;
	}
}

/* ------------------------------------------------------------------ */
/* Delivery.                                                          */

static void msg_put(struct amsg *m)
{
	if (m && !--m->refs)
		free(m);
}

static void set_error(struct chan *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct chan *c, const char *fmt, ...)
{
	/* Whole first, scrubbed, then cut: a cut could split a secret. */
	char buf[ALERT_RESP_KEEP + CURL_ERROR_SIZE + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sanitize(buf);
	scrub(c->a, buf);
	snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", buf);
	c->st.last_error_at = time(NULL);
}

static const char *chan_url(const struct chan *c)
{
	const struct alerter *a = c->a;

	switch (c->kind) {
	case ALERT_CH_WEBHOOK:
		return a->webhook_url;
	case ALERT_CH_NTFY:
		return a->ntfy_url;
	case ALERT_CH_PUSHOVER:
		return a->pushover_url;
	case ALERT_CH_TELEGRAM:
		return a->telegram_url;
	case ALERT_CH_EMAIL:
		return a->smtp_url;
	default:
		return NULL;
	}
}

static int attempt_start(struct chan *c)
{
	struct alerter *a = c->a;
	const struct alert_opts *o = &a->opts;
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!e)
		return -ENOMEM;
	c->errbuf[0] = '\0';
	c->resp[0] = '\0';
	c->resp_len = 0;
	c->deadline_ms = loop_now_ms() + o->timeout_ms;

#define SET(opt, val)                                                      \
	do {                                                               \
		if (!rc)                                                   \
			rc = curl_easy_setopt(e, opt, val);                \
	} while (0)
	SET(CURLOPT_PRIVATE, c);
	SET(CURLOPT_URL, chan_url(c));
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	/*
	 * A transfer cancelled while its name is still resolving would
	 * otherwise join curl's resolver thread, stalling the loop until
	 * getaddrinfo() gives up (seconds when DNS is down).  With this the
	 * thread is detached and frees itself when it returns.
	 */
	SET(CURLOPT_QUICK_EXIT, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	if (c->kind == ALERT_CH_EMAIL) {
		/* Up to the greeting, EHLO, STARTTLS and AUTH; see the top. */
		SET(CURLOPT_CONNECT_ONLY, 1L);
		SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		SET(CURLOPT_USE_SSL, a->smtp_demand_tls ? (long)CURLUSESSL_ALL :
							  (long)CURLUSESSL_TRY);
	} else {
		SET(CURLOPT_PROTOCOLS_STR, "http,https");
		SET(CURLOPT_USERAGENT, "vifd");
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, c->payload);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->payload_len);
		SET(CURLOPT_HTTPHEADER, c->hdrs);
		SET(CURLOPT_WRITEFUNCTION, on_http_body);
		SET(CURLOPT_WRITEDATA, c);
	}
#undef SET
	if (rc || curl_multi_add_handle(a->multi, e)) {
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	c->easy = e;
	if (c->attempt++)
		c->st.retries++;
	return 0;
}

/* Done with cur, delivered or not: on to the next one. */
static void chan_next(struct chan *c)
{
	msg_put(c->cur);
	c->cur = NULL;
	free(c->payload);
	c->payload = NULL;
	c->payload_len = 0;
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	c->attempt = 0;
	chan_kick(c);
}

static void on_retry(struct loop *l, uint64_t id, void *ctx)
{
	struct chan *c = ctx;
	int err;

	c->retry_timer = 0;
	err = attempt_start(c);
	if (err) {
		c->st.failed++;
		set_error(c, "Couldn't start a request: %s (%d)",
			  strerror(-err), err);
		pr_warn("Couldn't deliver alert '%s' via %s: %s\n",
			c->cur->type, channel_names[c->kind],
			c->st.last_error);
		chan_next(c);
	}
}

enum verdict { V_SENT, V_RETRY, V_FAIL };

/* Failures that another attempt may not meet. */
static bool curl_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

static enum verdict judge(struct chan *c, CURLcode rc, long code)
{
	if (rc) {
		/*
		 * SMTP's connect phase (greeting, EHLO, STARTTLS, AUTH): the
		 * server's own word first, 4xx is "later" and 5xx "never".
		 */
		if (c->kind == ALERT_CH_EMAIL && code >= 500)
			return V_FAIL;
		if (c->kind == ALERT_CH_EMAIL && code >= 400)
			return V_RETRY;
		return curl_transient(rc) ? V_RETRY : V_FAIL;
	}
	if (code >= 200 && code < 300)
		return V_SENT;
	if (code == 408 || code == 425 || code == 429 || code >= 500)
		return V_RETRY;
	return V_FAIL;
}

static void describe(struct chan *c, CURLcode rc, long code)
{
	if (!rc) {
		sanitize(c->resp);
		set_error(c, "HTTP %ld%s%s", code, c->resp_len ? ": " : "",
			  c->resp);
		return;
	}
	if (c->kind == ALERT_CH_EMAIL && code >= 400)
		set_error(c, "SMTP %ld while connecting: %s (curl %d)", code,
			  *c->errbuf ? c->errbuf : curl_easy_strerror(rc), rc);
	else
		set_error(c, "%s (curl %d)",
			  *c->errbuf ? c->errbuf : curl_easy_strerror(rc), rc);
}

static __u64 retry_delay(const struct chan *c, curl_off_t retry_after)
{
	const struct alert_opts *o = &c->a->opts;
	__u64 d = o->backoff_ms;
	__u32 i;

	for (i = 1; i < c->attempt && d < o->backoff_max_ms; i++)
		d *= 2;
	if (d > o->backoff_max_ms)
		d = o->backoff_max_ms;
	if (retry_after > 0) {
		__u64 ra = (__u64)retry_after * 1000;

		if (ra > o->retry_after_max_ms)
			ra = o->retry_after_max_ms;
		if (ra > d)
			d = ra;
	}
	return d;
}

static void easy_drop(struct chan *c)
{
	curl_multi_remove_handle(c->a->multi, c->easy);
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

static void delivered(struct chan *c)
{
	c->st.sent++;
	c->st.last_sent_at = time(NULL);
	pr_debug("Alert '%s' sent via %s\n", c->cur->type,
		 channel_names[c->kind]);
}

/*
 * The attempt is over and its handle gone: count it, then move on, or
 * retry later.  last_error already says what went wrong.
 */
static void attempt_end(struct chan *c, enum verdict v, curl_off_t retry_after)
{
	struct alerter *a = c->a;
	const char *name = channel_names[c->kind];
	__u64 delay;

	if (v == V_SENT) {
		delivered(c);
		chan_next(c);
		return;
	}
	if (v == V_RETRY && c->attempt < a->opts.max_attempts) {
		delay = retry_delay(c, retry_after);
		pr_info("Alert '%s' via %s failed: %s; retry %u of %u in %llu ms\n",
			c->cur->type, name, c->st.last_error, c->attempt,
			a->opts.max_attempts - 1, (unsigned long long)delay);
		if (!loop_timer_add(a->l, delay, 0, on_retry, c,
				    &c->retry_timer))
			return;
	}
	c->st.failed++;
	pr_warn("Couldn't deliver alert '%s' via %s: %s\n", c->cur->type,
		name, c->st.last_error);
	chan_next(c);
}

/* ---- the SMTP transaction, after curl's connect phase ---- */

enum smtp_step { SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_BODY, SMTP_QUIT };

/* What the reply being awaited answers, for messages. */
static const char *const smtp_step_names[] = {
	[SMTP_MAIL] = "MAIL FROM", [SMTP_RCPT] = "RCPT TO",
	[SMTP_DATA] = "DATA",      [SMTP_BODY] = "the message",
	[SMTP_QUIT] = "QUIT",
};

static void smtp_close(struct chan *c)
{
	struct smtp_session *ss = &c->smtp;

	if (ss->fd >= 0)
		loop_fd_del(c->a->l, ss->fd);
	ss->fd = -1;
	loop_timer_del(c->a->l, ss->timer);
	ss->timer = 0;
}

/*
 * The session is over; the handle goes, and with it the connection,
 * closed as dead (no QUIT from curl, so no blocking wait).  Once the
 * message was accepted (QUIT step), nothing more is counted.
 */
static void smtp_end(struct chan *c, enum verdict v)
{
	bool quitting = c->smtp.step == SMTP_QUIT;

	smtp_close(c);
	easy_drop(c);
	if (quitting)
		chan_next(c);
	else
		attempt_end(c, v, 0);
}

/* Send what is left of ss->out; EPOLLOUT is wanted while some is. */
static CURLcode smtp_flush(struct chan *c)
{
	struct smtp_session *ss = &c->smtp;

	while (ss->out_off < ss->out_len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(c->easy, ss->out + ss->out_off,
					     ss->out_len - ss->out_off, &n);

		if (rc == CURLE_AGAIN) {
			loop_fd_mod(c->a->l, ss->fd, EPOLLIN | EPOLLOUT);
			return CURLE_OK;
		}
		if (rc)
			return rc;
		ss->out_off += n;
	}
	loop_fd_mod(c->a->l, ss->fd, EPOLLIN);
	return CURLE_OK;
}

static void smtp_io_error(struct chan *c, CURLcode rc)
{
	if (c->smtp.step != SMTP_QUIT)
		set_error(c, "SMTP: %s during %s (curl %d)",
			  *c->errbuf ? c->errbuf : curl_easy_strerror(rc),
			  smtp_step_names[c->smtp.step], rc);
	smtp_end(c, V_RETRY);
}

static void smtp_send(struct chan *c, enum smtp_step step, const char *out,
		      size_t len)
{
	struct smtp_session *ss = &c->smtp;
	CURLcode rc;

	ss->step = step;
	ss->out = out;
	ss->out_len = len;
	ss->out_off = 0;
	ss->reply_len = 0;
	rc = smtp_flush(c);
	if (rc)
		smtp_io_error(c, rc);
}

__attribute__((format(printf, 3, 4)))
static void smtp_cmd(struct chan *c, enum smtp_step step, const char *fmt,
		     ...)
{
	struct smtp_session *ss = &c->smtp;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ss->cmd, sizeof(ss->cmd), fmt, ap);
	va_end(ap);
	/* Addresses are checked to fit; never send a cut command anyway. */
	if (n < 0 || (size_t)n >= sizeof(ss->cmd)) {
		set_error(c, "SMTP: command too long");
		smtp_end(c, V_FAIL);
		return;
	}
	smtp_send(c, step, ss->cmd, n);
}

static void on_smtp_timeout(struct loop *l, uint64_t id, void *ctx)
{
	struct chan *c = ctx;

	c->smtp.timer = 0;
	if (c->smtp.step != SMTP_QUIT)
		set_error(c, "SMTP: no reply to %s within %u ms",
			  smtp_step_names[c->smtp.step], c->a->opts.timeout_ms);
	smtp_end(c, V_RETRY);
}

static int smtp_arm(struct chan *c, uint64_t deadline)
{
	uint64_t now = loop_now_ms();

	loop_timer_del(c->a->l, c->smtp.timer);
	c->smtp.timer = 0;
	return loop_timer_add(c->a->l, deadline > now ? deadline - now : 0, 0,
			      on_smtp_timeout, c, &c->smtp.timer);
}

/* One whole reply, the next command or the verdict. */
static void smtp_reply(struct chan *c, int code)
{
	struct smtp_session *ss = &c->smtp;
	bool ok = code >= 200 && code < 300;
	char *eol;

	switch (ss->step) {
	case SMTP_MAIL:
	case SMTP_RCPT:
		if (!ok)
			break;
		if (ss->step == SMTP_RCPT)
			ss->rcpt = ss->rcpt->next;
		if (ss->rcpt)
			smtp_cmd(c, SMTP_RCPT, "RCPT TO:%s\r\n",
				 ss->rcpt->data);
		else
			smtp_cmd(c, SMTP_DATA, "DATA\r\n");
		return;
	case SMTP_DATA:
		if (code != 354)
			break;
		smtp_send(c, SMTP_BODY, c->payload, c->payload_len);
		return;
	case SMTP_BODY:
		if (!ok)
			break;
		delivered(c);
		/* From here on nothing is counted again (smtp_end). */
		ss->step = SMTP_QUIT;
		/* Say goodbye, but do not hold the channel long for it. */
		if (smtp_arm(c, loop_now_ms() + ALERT_SMTP_QUIT_WAIT_MS)) {
			smtp_end(c, V_SENT);
			return;
		}
		smtp_cmd(c, SMTP_QUIT, "QUIT\r\n");
		return;
	case SMTP_QUIT:
		smtp_end(c, V_SENT);
		return;
	}
	/* Refused: keep the server's first line, it says why. */
	eol = strstr(ss->reply, "\r\n");
	if (eol)
		*eol = '\0';
	set_error(c, "SMTP %d after %s: %s", code, smtp_step_names[ss->step],
		  ss->reply + (strlen(ss->reply) > 4 ? 4 : 3));
	/* Polite, and never waited for. */
	curl_easy_send(c->easy, "QUIT\r\n", 6, &(size_t){ 0 });
	smtp_end(c, code >= 400 && code < 500 ? V_RETRY : V_FAIL);
}

/*
 * The code of a complete reply in buf, or 0 while more is to come.  A
 * reply is lines "NNN-text" ending with one "NNN text" (RFC 5321 4.2).
 */
static int smtp_parse(const char *buf)
{
	const char *line = buf, *eol;

	while ((eol = strstr(line, "\r\n"))) {
		if (eol - line >= 3 && line[0] >= '2' && line[0] <= '5' &&
		    line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
		    line[2] <= '9' && (eol - line == 3 || line[3] == ' '))
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			       (line[2] - '0');
		if (eol - line < 4 || line[3] != '-')
			return -1;
		line = eol + 2;
	}
	return 0;
}

static void on_smtp_fd(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct chan *c = ctx;
	struct smtp_session *ss = &c->smtp;
	CURLcode rc;

	if (events & EPOLLOUT) {
		rc = smtp_flush(c);
		if (rc) {
			smtp_io_error(c, rc);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		size_t room = sizeof(ss->reply) - 1 - ss->reply_len, n = 0;
		int code;

		rc = curl_easy_recv(c->easy, ss->reply + ss->reply_len, room,
				    &n);
		if (rc == CURLE_AGAIN)
			return;
		if (rc) {
			smtp_io_error(c, rc);
			return;
		}
		if (!n) {
			if (ss->step != SMTP_QUIT)
				set_error(c, "SMTP: connection closed waiting for the reply to %s",
					  smtp_step_names[ss->step]);
			smtp_end(c, V_RETRY);
			return;
		}
		ss->reply_len += n;
		ss->reply[ss->reply_len] = '\0';
		code = smtp_parse(ss->reply);
		if (code < 0 ||
		    (!code && ss->reply_len + 1 == sizeof(ss->reply))) {
			set_error(c, "SMTP: malformed reply to %s",
				  smtp_step_names[ss->step]);
			smtp_end(c, V_FAIL);
			return;
		}
		if (code) {
			/* May end the session: c->easy is gone then. */
			smtp_reply(c, code);
			return;
		}
	}
}

/* curl finished the connect phase: the socket is ours now. */
static int smtp_begin(struct chan *c)
{
	struct alerter *a = c->a;
	struct smtp_session *ss = &c->smtp;
	curl_socket_t s = CURL_SOCKET_BAD;
	ssize_t i;
	int err;

	if (curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &s) ||
	    s == CURL_SOCKET_BAD)
		return -ENOTCONN;
	/* Should curl still watch it, our watch replaces its. */
	i = fds_find(a, s);
	if (i >= 0) {
		loop_fd_del(a->l, s);
		a->fds[i] = a->fds[--a->nfds];
	}
	err = loop_fd_add(a->l, s, EPOLLIN, on_smtp_fd, c);
	if (err)
		return err;
	ss->fd = s;
	ss->step = SMTP_MAIL;
	ss->rcpt = a->smtp_rcpt;
	err = smtp_arm(c, c->deadline_ms);
	if (err) {
		smtp_close(c);
		return err;
	}
	smtp_cmd(c, SMTP_MAIL, "MAIL FROM:%s\r\n", a->smtp_from);
	return 0;
}

static void attempt_done(struct chan *c, CURLcode rc)
{
	curl_off_t retry_after = 0;
	enum verdict v;
	long code = 0;
	int err;

	if (c->kind == ALERT_CH_EMAIL && !rc) {
		err = smtp_begin(c);
		if (!err)
			return;
		set_error(c, "SMTP: couldn't take over the connection: %s (%d)",
			  strerror(-err), err);
		easy_drop(c);
		attempt_end(c, V_RETRY, 0);
		return;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
	easy_drop(c);
	v = judge(c, rc, code);
	if (v != V_SENT)
		describe(c, rc, code);
	attempt_end(c, v, retry_after);
}

static void inapp_deliver(struct loop *l, uint64_t id, void *ctx);

/* Start on the next waiting message if the channel is idle. */
static void chan_kick(struct chan *c)
{
	struct alerter *a = c->a;
	int err;

	if (c->kind == ALERT_CH_INAPP) {
		/* From a timer, so the callback never runs inside send. */
		if (c->len && !a->inapp_timer &&
		    loop_timer_add(a->l, 0, 0, inapp_deliver, a,
				   &a->inapp_timer))
			a->inapp_timer = 0;
		return;
	}
	while (!c->cur && c->len) {
		c->cur = c->ring[c->head];
		c->head = (c->head + 1) % a->opts.queue_len;
		c->len--;
		c->attempt = 0;
		err = render(c, c->cur);
		if (!err)
			err = attempt_start(c);
		if (!err)
			return;
		c->st.failed++;
		set_error(c, "Couldn't start a request: %s (%d)",
			  strerror(-err), err);
		pr_warn("Couldn't deliver alert '%s' via %s: %s\n",
			c->cur->type, channel_names[c->kind],
			c->st.last_error);
		msg_put(c->cur);
		c->cur = NULL;
		free(c->payload);
		c->payload = NULL;
		curl_slist_free_all(c->hdrs);
		c->hdrs = NULL;
	}
}

static void inapp_deliver(struct loop *l, uint64_t id, void *ctx)
{
	struct alerter *a = ctx;
	struct chan *c = &a->ch[ALERT_CH_INAPP];
	struct amsg *m;
	struct alert al;

	a->inapp_timer = 0;
	if (!c->len)
		return;
	m = c->ring[c->head];
	c->head = (c->head + 1) % a->opts.queue_len;
	c->len--;
	al = (struct alert){
		.severity = m->severity,
		.type = m->type,
		.title = m->title,
		.body = m->body,
		.vlan = m->vlan,
		.at = m->at,
	};
	/* Switched off meanwhile: what was queued goes uncounted. */
	if (a->inapp_cb) {
		c->st.sent++;
		c->st.last_sent_at = time(NULL);
		a->inapp_cb(&al, a->inapp_ctx);
	}
	msg_put(m);
	chan_kick(c);
}

static void chan_enqueue(struct chan *c, struct amsg *m)
{
	struct alerter *a = c->a;
	__u32 cap = a->opts.queue_len;

	if (c->len == cap) {
		struct amsg *old = c->ring[c->head];

		c->head = (c->head + 1) % cap;
		c->len--;
		c->st.dropped++;
		pr_warn("Alert queue of %s full: dropped '%s'\n",
			channel_names[c->kind], old->type);
		msg_put(old);
	}
	c->ring[(c->head + c->len) % cap] = m;
	c->len++;
	m->refs++;
}

/* ------------------------------------------------------------------ */
/* The API.                                                           */

static bool chan_enabled(const struct alerter *a, enum alert_channel ch)
{
	switch (ch) {
	case ALERT_CH_WEBHOOK:
		return a->webhook_url;
	case ALERT_CH_NTFY:
		return a->ntfy_url;
	case ALERT_CH_PUSHOVER:
		return a->pushover_url;
	case ALERT_CH_TELEGRAM:
		return a->telegram_url;
	case ALERT_CH_EMAIL:
		return a->smtp_url;
	case ALERT_CH_INAPP:
		return a->inapp_cb;
	default:
		return false;
	}
}

int alert_new_opts(struct loop *l, const struct vifd_config *cfg,
		   const struct alert_opts *opts, struct alerter **out,
		   char *err, size_t errlen)
{
	struct alerter *a;
	size_t i;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!l || !cfg || !out)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->l = l;
	for (i = 0; i < ALERT_CH__MAX; i++) {
		a->ch[i].a = a;
		a->ch[i].kind = i;
		a->ch[i].smtp.fd = -1;
	}
	if (opts)
		a->opts = *opts;
	else
		alert_opts_init(&a->opts);
	ret = check_opts(&a->opts, err, errlen);
	if (ret)
		goto err_free;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		ret = -ENOMEM;
		goto err_free;
	}
	a->curl_inited = true;

	ret = check_webhook(a, cfg, err, errlen);
	if (!ret)
		ret = check_ntfy(a, cfg, err, errlen);
	if (!ret)
		ret = check_pushover(a, cfg, a->opts.pushover_url, err,
				     errlen);
	if (!ret)
		ret = check_telegram(a, cfg, a->opts.telegram_url, err,
				     errlen);
	if (!ret)
		ret = check_smtp(a, cfg, err, errlen);
	if (ret)
		goto err_free;
	/* Options point at the caller's strings: not ours to keep. */
	a->opts.pushover_url = NULL;
	a->opts.telegram_url = NULL;

	for (i = 0; i < ALERT_CH__MAX; i++) {
		struct chan *c = &a->ch[i];

		c->ring = calloc(a->opts.queue_len, sizeof(*c->ring));
		if (!c->ring) {
			ret = -ENOMEM;
			goto err_free;
		}
		c->st.enabled = chan_enabled(a, i);
	}

	a->multi = curl_multi_init();
	if (!a->multi ||
	    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION,
			      on_curl_socket) ||
	    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a) ||
	    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION,
			      on_curl_timer) ||
	    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a)) {
		ret = -ENOMEM;
		goto err_free;
	}

	if (gethostname(a->host, sizeof(a->host) - 1))
		snprintf(a->host, sizeof(a->host), "localhost");
	if (getrandom(&a->boot, sizeof(a->boot), GRND_NONBLOCK) !=
	    sizeof(a->boot))
		a->boot = (__u32)time(NULL) ^ ((__u32)getpid() << 16);
	*out = a;
	return 0;

err_free:
	alert_free(a);
	return ret;
}

int alert_new(struct loop *l, const struct vifd_config *cfg,
	      struct alerter **out)
{
	return alert_new_opts(l, cfg, NULL, out, NULL, 0);
}

void alert_free(struct alerter *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < ALERT_CH__MAX; i++) {
		struct chan *c = &a->ch[i];

		/* Our watch first: removing the handle closes the socket. */
		smtp_close(c);
		if (c->easy)
			easy_drop(c);
		loop_timer_del(a->l, c->retry_timer);
		msg_put(c->cur);
		while (c->len) {
			msg_put(c->ring[c->head]);
			c->head = (c->head + 1) % a->opts.queue_len;
			c->len--;
		}
		free(c->ring);
		free(c->payload);
		curl_slist_free_all(c->hdrs);
	}
	loop_timer_del(a->l, a->inapp_timer);
	/* May still call back (socket REMOVE, timer): a is intact. */
	curl_multi_cleanup(a->multi);
	loop_timer_del(a->l, a->curl_timer);
	for (i = 0; i < a->nfds; i++)
		loop_fd_del(a->l, a->fds[i]);
	free(a->fds);
	free(a->webhook_url);
	free(a->ntfy_url);
	free(a->pushover_url);
	free(a->telegram_url);
	free(a->smtp_url);
	curl_slist_free_all(a->smtp_rcpt);
	for (i = 0; i < a->nsecrets; i++)
		free(a->secrets[i]);
	if (a->curl_inited)
		curl_global_cleanup();
	free(a);
}

void alert_inapp_set(struct alerter *a, alert_inapp_cb cb, void *ctx)
{
	a->inapp_cb = cb;
	a->inapp_ctx = ctx;
	a->ch[ALERT_CH_INAPP].st.enabled = cb;
}

static int check_alert(const struct alert *al)
{
	size_t n;
	const char *p;

	if (!al || (unsigned int)al->severity > ALERT_CRITICAL || !al->type ||
	    !al->title || al->vlan > 4094)
		return -EINVAL;
	n = strlen(al->type);
	if (n >= ALERT_TYPE_MAX)
		return -EMSGSIZE;
	if (!n || !all_in(al->type, "._-"))
		return -EINVAL;

	n = strlen(al->title);
	if (n > ALERT_TITLE_MAX)
		return -EMSGSIZE;
	if (!n || !utf8_valid((const unsigned char *)al->title, n))
		return -EINVAL;
	/* One line: it becomes a mail Subject and an HTTP header. */
	for (p = al->title; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;

	if (!al->body)
		return 0;
	n = strlen(al->body);
	if (n > ALERT_BODY_MAX)
		return -EMSGSIZE;
	if (!utf8_valid((const unsigned char *)al->body, n))
		return -EINVAL;
	for (p = al->body; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') ||
		    *p == 0x7f)
			return -EINVAL;
	return 0;
}

/*
 * true when an identical alert was let through less than a window ago;
 * otherwise the slot now records this one, and *folded says how many were
 * swallowed since the previous one.
 */
static bool dedupe_hit(struct alerter *a, const struct alert *al,
		       __u32 *folded)
{
	__u64 win = a->opts.dedupe_window_ms, now = loop_now_ms();
	struct dedupe_slot *s, *free_slot = NULL, *oldest = NULL;
	size_t i;

	*folded = 0;
	if (!win)
		return false;
	for (i = 0; i < ALERT_DEDUPE_SLOTS; i++) {
		s = &a->dedupe[i];
		if (s->used && s->vlan == al->vlan &&
		    s->severity == al->severity && !strcmp(s->type, al->type))
			break;
		if (!s->used || now - s->last_ms >= win) {
			if (!free_slot)
				free_slot = s;
		} else if (!oldest || s->last_ms < oldest->last_ms) {
			oldest = s;
		}
	}
	if (i < ALERT_DEDUPE_SLOTS) {
		if (now - s->last_ms < win) {
			s->folded++;
			return true;
		}
		*folded = s->folded;
	} else {
		/* Every slot busy: forgetting the oldest may let a repeat
		 * through early, which beats dropping a new kind. */
		s = free_slot ? free_slot : oldest;
		s->used = true;
		s->vlan = al->vlan;
		s->severity = al->severity;
		snprintf(s->type, sizeof(s->type), "%s", al->type);
	}
	s->folded = 0;
	s->last_ms = now;
	return false;
}

int alert_send(struct alerter *a, const struct alert *al)
{
	struct amsg *m;
	__u32 folded;
	size_t i;
	int err;

	if (!a)
		return -EINVAL;
	err = check_alert(al);
	if (err)
		return err;
	if (dedupe_hit(a, al, &folded)) {
		a->suppressed++;
		pr_debug("Alert '%s' (vlan %u) suppressed: repeated within %u ms\n",
			 al->type, al->vlan, a->opts.dedupe_window_ms);
		return 0;
	}
	a->accepted++;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->severity = al->severity;
	m->vlan = al->vlan;
	m->suppressed = folded;
	m->at = al->at ? al->at : time(NULL);
	snprintf(m->id, sizeof(m->id), "%08x-%llu", a->boot,
		 (unsigned long long)++a->seq);
	snprintf(m->type, sizeof(m->type), "%s", al->type);
	snprintf(m->title, sizeof(m->title), "%s", al->title);
	snprintf(m->body, sizeof(m->body), "%s", al->body ? al->body : "");

	/* Held across the loop so a channel finishing early cannot free it. */
	m->refs = 1;
	for (i = 0; i < ALERT_CH__MAX; i++)
		if (a->ch[i].st.enabled)
			chan_enqueue(&a->ch[i], m);
	for (i = 0; i < ALERT_CH__MAX; i++)
		if (a->ch[i].st.enabled)
			chan_kick(&a->ch[i]);
	msg_put(m);
	return 0;
}

void alert_status_get(const struct alerter *a, struct alert_status *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->accepted = a->accepted;
	st->suppressed = a->suppressed;
	for (i = 0; i < ALERT_CH__MAX; i++) {
		const struct chan *c = &a->ch[i];

		st->ch[i] = c->st;
		st->ch[i].queued = c->len + (c->cur ? 1 : 0);
	}
}
