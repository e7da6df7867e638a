/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * alert.h - vifd's outgoing notifications: one alert fans out to every
 * channel configured in [alerts] (webhook, ntfy, Pushover, Telegram, mail)
 * plus an in-app callback that vifd turns into a control-socket event.
 *
 * Everything runs on vifd's loop: HTTP and SMTP go through libcurl's multi
 * socket API, whose sockets and timers are loop watches and loop timers.
 * alert_send() only queues; nothing here calls curl_easy_perform().
 *
 * Delivery, per channel:
 *  - One request in flight per channel, so a channel delivers in order.
 *    Each attempt has a connect timeout and a total timeout.
 *  - Transient failures are retried with exponential backoff (doubling
 *    from backoff_ms up to backoff_max_ms) until max_attempts attempts
 *    were made: connection errors, timeouts, HTTP 408, 425, 429 and 5xx,
 *    SMTP 4xx replies.  A Retry-After header (seconds or HTTP date) sets
 *    the wait instead when it is longer, capped at retry_after_max_ms.
 *    Anything else (other 4xx, 3xx, SMTP 5xx, TLS verification, bad
 *    credentials) fails at once: retrying cannot fix it.
 *  - A bounded queue of waiting alerts (queue_len, not counting the one
 *    in flight); when it is full the oldest waiting alert is dropped and
 *    counted, since the newest describes the current state best.
 *  - Identical alerts, same type, VLAN and severity, are sent once per
 *    dedupe_window_ms, so a flapping gateway does not page anyone every
 *    few seconds.  The window runs from the last alert that was let
 *    through, not the last one seen, so a steady flap still reports once
 *    per window instead of never.  Severity is part of the key because an
 *    escalation is news.  The webhook payload says how many were folded.
 *
 * Secrets never reach a log line, an error message or the status, and
 * curl's own error text and server replies are scrubbed of them too:
 * tokens and user keys, credentials in any URL, the ntfy topic (whoever
 * knows it can read it) and the webhook URL's path and query (Slack- and
 * Discord-style hooks carry their token there).
 *
 * What each channel sends:
 *
 *  webhook  POST <webhook_url>, Content-Type: application/json:
 *             {"version":1,"id":"<id>","type":"killswitch.engaged",
 *              "severity":"critical","title":"...","body":"...",
 *              "vlan":101 | null,"at":"2025-01-02T03:04:05Z",
 *              "host":"<hostname>","suppressed":0}
 *           id is the same for every attempt (and in the mail's
 *           Message-ID), so a receiver can drop a retried duplicate;
 *           suppressed counts the identical alerts folded into this one.
 *  ntfy     POST <ntfy_url>/<ntfy_topic>, the body as text/plain, headers
 *           Title (RFC 2047 encoded when not ASCII, which ntfy decodes),
 *           Priority 3/4/5 for info/warning/critical and Tags
 *           "<emoji>,<type>[,vlan<N>]".
 *  pushover POST <pushover_url> as application/x-www-form-urlencoded:
 *           token, user, title, message, priority (-1/0/1), timestamp.
 *  telegram POST <telegram_url>/bot<token>/sendMessage, JSON
 *           {"chat_id":<n or "@name">,"text":"[severity] title\n\nbody"}.
 *  email    SMTP MAIL FROM:<smtp_from>, RCPT TO:<each of smtp_to>, an RFC
 *           5322 message with Date, From, To, Subject "[severity] title",
 *           Message-ID, MIME headers and Auto-Submitted; the body is the
 *           alert's body and a block with severity, type, VLAN, time and
 *           host.  smtp:// upgrades with STARTTLS when offered and demands
 *           it when the URL carries credentials; smtps:// is TLS from the
 *           start.  Credentials go in the URL (smtp://user:pass@host:587).
 *  inapp    the callback set with alert_inapp_set(), from a loop timer
 *           (never from inside alert_send()).
 * Where an alert has no body, ntfy and Pushover send the title instead:
 * both refuse an empty message.
 *
 * Nothing waits on the network with the loop held.  Two libcurl habits
 * are worked around: its SMTP code waits synchronously for the replies to
 * the end of data and to QUIT (curl/curl#8555), so curl only connects
 * (greeting, EHLO, STARTTLS, AUTH) and alert.c speaks MAIL, RCPT, DATA
 * and QUIT itself on the loop; and a transfer cancelled while its name is
 * resolving would join the resolver thread, for seconds when DNS is down,
 * so transfers are set to leave that thread behind (CURLOPT_QUICK_EXIT).
 */
#ifndef VIF_CONTROL_ALERT_H
#define VIF_CONTROL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <linux/types.h>

struct loop;
struct vifd_config;
struct alerter;

#define ALERT_TYPE_MAX 64   /* incl. NUL; [A-Za-z0-9._-] */
#define ALERT_TITLE_MAX 250 /* bytes, Pushover's limit; one line */
#define ALERT_BODY_MAX 1024 /* bytes, Pushover's limit */
#define ALERT_ERROR_MAX 160 /* status last_error, incl. NUL */

#define ALERT_PUSHOVER_URL_DEFAULT "https://api.pushover.net/1/messages.json"
#define ALERT_TELEGRAM_URL_DEFAULT "https://api.telegram.org"

enum alert_severity {
	ALERT_INFO = 0,
	ALERT_WARNING = 1,
	ALERT_CRITICAL = 2,
};

enum alert_channel {
	ALERT_CH_WEBHOOK = 0,
	ALERT_CH_NTFY,
	ALERT_CH_PUSHOVER,
	ALERT_CH_TELEGRAM,
	ALERT_CH_EMAIL,
	ALERT_CH_INAPP,
	ALERT_CH__MAX,
};

/*
 * One alert.  Strings are UTF-8 and copied by alert_send().  title is one
 * line (no control characters); body may hold newlines and tabs, no other
 * control characters, and may be NULL or "".
 */
struct alert {
	enum alert_severity severity;
	const char *type;  /* "killswitch.engaged", "quota.exceeded", ... */
	const char *title;
	const char *body;
	__u16 vlan;        /* 0 = not about one VIF */
	time_t at;         /* unix seconds; 0 = now */
};

/*
 * Tunables; alert_opts_init() fills in the defaults.  The two URLs exist
 * for tests and proxies (config.h has no keys for them); they are copied.
 */
struct alert_opts {
	const char *pushover_url;      /* the API endpoint, http(s) */
	const char *telegram_url;      /* API base; /bot<token>/... appended */
	__u32 connect_timeout_ms;      /* per attempt */
	__u32 timeout_ms;              /* per attempt, whole request or mail */
	__u32 max_attempts;            /* first try included; >= 1 */
	__u32 backoff_ms;              /* wait before the first retry */
	__u32 backoff_max_ms;
	__u32 retry_after_max_ms;      /* cap on a server's Retry-After */
	__u32 queue_len;               /* waiting alerts per channel; >= 1 */
	__u32 dedupe_window_ms;        /* 0 = send every alert */
};

#define ALERT_CONNECT_TIMEOUT_MS_DEFAULT 5000
#define ALERT_TIMEOUT_MS_DEFAULT 10000
#define ALERT_MAX_ATTEMPTS_DEFAULT 5
#define ALERT_BACKOFF_MS_DEFAULT 2000
#define ALERT_BACKOFF_MAX_MS_DEFAULT 60000
#define ALERT_RETRY_AFTER_MAX_MS_DEFAULT 600000
#define ALERT_QUEUE_LEN_DEFAULT 32
#define ALERT_DEDUPE_WINDOW_MS_DEFAULT 60000

/* Per channel, for the control socket.  Counters only grow. */
struct alert_channel_status {
	bool enabled;
	__u32 queued;        /* waiting + the one in flight or backing off */
	__u64 sent;
	__u64 failed;        /* given up: permanent error or attempts spent */
	__u64 dropped;       /* pushed out of a full queue */
	__u64 retries;       /* attempts after the first */
	__s64 last_sent_at;  /* unix seconds, 0 = never */
	__s64 last_error_at; /* unix seconds, 0 = never */
	char last_error[ALERT_ERROR_MAX]; /* "" = none; never holds a secret */
};

struct alert_status {
	__u64 accepted;      /* alerts queued to the channels */
	__u64 suppressed;    /* identical alerts inside the dedupe window */
	struct alert_channel_status ch[ALERT_CH__MAX];
};

/* in-app delivery; strings in al are valid during the call only. */
typedef void (*alert_inapp_cb)(const struct alert *al, void *ctx);

void alert_opts_init(struct alert_opts *opts);

/*
 * An alerter for the [alerts] keys of cfg (no channel set is fine: alerts
 * then go to the in-app callback only).  Everything is checked here, not at
 * send time: URLs parse with the right scheme, paired keys are complete,
 * the ntfy topic, Telegram token and mail addresses are well formed.
 * Returns 0 or -errno: -EINVAL for the configuration, with err (if not
 * NULL) holding one line naming the key and the problem, never its value
 * when that may be secret.  opts NULL = the defaults.
 */
int alert_new_opts(struct loop *l, const struct vifd_config *cfg,
		   const struct alert_opts *opts, struct alerter **out,
		   char *err, size_t errlen);
/* The same with the defaults and no message. */
int alert_new(struct loop *l, const struct vifd_config *cfg,
	      struct alerter **out);

/*
 * Cancels whatever is in flight or waiting (not counted as failed) and
 * frees everything.  No callback runs after it returns.  NULL is fine.
 * Not from inside the in-app callback.
 */
void alert_free(struct alerter *a);

/*
 * The in-app channel: cb (NULL = off) gets every alert sent from now on.
 * It must not call alert_free(); it may call alert_send().
 */
void alert_inapp_set(struct alerter *a, alert_inapp_cb cb, void *ctx);

/*
 * Queue al to every enabled channel.  Returns 0 (also when the dedupe
 * window swallowed it, which status.suppressed counts), -EINVAL for a
 * missing or malformed field, -EMSGSIZE when a string is over its limit,
 * -ENOMEM.
 */
int alert_send(struct alerter *a, const struct alert *al);

void alert_status_get(const struct alerter *a, struct alert_status *st);

/* "webhook", "ntfy", "pushover", "telegram", "email", "inapp"; NULL if bad. */
const char *alert_channel_name(enum alert_channel ch);
/* "info", "warning", "critical"; NULL if bad. */
const char *alert_severity_name(enum alert_severity sev);

#endif /* VIF_CONTROL_ALERT_H */
