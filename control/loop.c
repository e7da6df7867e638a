// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loop.c - epoll + timer heap + signalfd.  See loop.h.
 *
 * Watches are heap objects pointed to by epoll data; removing one during
 * dispatch only marks it dead, and dead watches are freed after the
 * iteration, so a callback may delete any watch (itself included) without
 * a use-after-free in the same epoll batch.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 64

struct watch {
	int fd;
	bool dead;
	loop_fd_cb cb;
	void *ctx;
	struct watch *next; /* all watches, for lookup by fd */
};

struct timer {
	uint64_t deadline;
	uint64_t period;
	uint64_t id;
	loop_timer_cb cb;
	void *ctx;
};

struct sig_handler {
	int signo;
	loop_signal_cb cb;
	void *ctx;
};

struct loop {
	int epfd;
	struct watch *watches;
	struct timer *heap; /* min-heap on deadline */
	size_t nheap, capheap;
	uint64_t next_id;
	int sigfd;
	sigset_t sigmask;
	struct sig_handler sigs[8];
	int nsigs;
	bool stop;
	int err;
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int loop_new(struct loop **out)
{
	struct loop *l;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	l->sigfd = -1;
	l->next_id = 1;
	sigemptyset(&l->sigmask);
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	struct watch *w, *n;

	if (!l)
		return;
	for (w = l->watches; w; w = n) {
		n = w->next;
		free(w);
	}
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->heap);
	free(l);
}

static struct watch *watch_find(struct loop *l, int fd)
{
	struct watch *w;

	for (w = l->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *ctx)
{
	struct epoll_event ev = { .events = events };
	struct watch *w;

	if (watch_find(l, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = l->watches;
	l->watches = w;
	return 0;
}

int loop_fd_mod(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct watch *w = watch_find(l, fd);

	if (!w)
		return -ENOENT;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev))
		return -errno;
	return 0;
}

int loop_fd_del(struct loop *l, int fd)
{
	struct watch *w = watch_find(l, fd);

	if (!w)
		return -ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true; /* freed by reap_watches() after dispatch */
	return 0;
}

static void reap_watches(struct loop *l)
{
	struct watch **pp = &l->watches, *w;

	while ((w = *pp)) {
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* ---- timers: a binary min-heap on deadline ---- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct timer t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p].deadline <= l->heap[i].deadline)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;

		if (a < l->nheap && l->heap[a].deadline < l->heap[m].deadline)
			m = a;
		if (b < l->nheap && l->heap[b].deadline < l->heap[m].deadline)
			m = b;
		if (m == i)
			return;
		heap_swap(l, m, i);
		i = m;
	}
}

static void heap_remove(struct loop *l, size_t i)
{
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	heap_down(l, i);
	heap_up(l, i);
}

static int heap_push(struct loop *l, const struct timer *t)
{
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 16;
		struct timer *h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->capheap = cap;
	}
	l->heap[l->nheap] = *t;
	heap_up(l, l->nheap++);
	return 0;
}

int loop_timer_add(struct loop *l, uint64_t delay_ms, uint64_t period_ms,
		   loop_timer_cb cb, void *ctx, uint64_t *id)
{
	struct timer t = {
		.deadline = loop_now_ms() + delay_ms,
		.period = period_ms,
		.id = l->next_id++,
		.cb = cb,
		.ctx = ctx,
	};
	int err;

	err = heap_push(l, &t);
	if (err)
		return err;
	if (id)
		*id = t.id;
	return 0;
}

void loop_timer_del(struct loop *l, uint64_t id)
{
	size_t i;

	/* Linear: cancels are rare next to expiries (probe timers re-arm
	 * themselves through the period instead). */
	for (i = 0; i < l->nheap; i++) {
		if (l->heap[i].id == id) {
			heap_remove(l, i);
			return;
		}
	}
}

static void run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();

	while (l->nheap && l->heap[0].deadline <= now && !l->stop) {
		struct timer t = l->heap[0];

		if (t.period) {
			/* Re-arm before the callback so it may cancel itself. */
			l->heap[0].deadline = now + t.period;
			heap_down(l, 0);
		} else {
			heap_remove(l, 0);
		}
		t.cb(l, t.id, t.ctx);
	}
}

static int next_timeout(struct loop *l, int cap)
{
	uint64_t now, d;

	if (!l->nheap)
		return cap;
	now = loop_now_ms();
	d = l->heap[0].deadline > now ? l->heap[0].deadline - now : 0;
	if (cap >= 0 && d > (uint64_t)cap)
		return cap;
	return d > 60000 ? 60000 : (int)d;
}

/* ---- signals ---- */

static void on_signal_fd(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;
	int i;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		for (i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo)
				l->sigs[i].cb(l, si.ssi_signo, l->sigs[i].ctx);
}

int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *ctx)
{
	int fd, err;

	if (l->nsigs == (int)(sizeof(l->sigs) / sizeof(l->sigs[0])))
		return -ENOSPC;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL))
		return -errno;
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		err = loop_fd_add(l, fd, EPOLLIN, on_signal_fd, NULL);
		if (err)
			return err;
	}
	l->sigs[l->nsigs++] = (struct sig_handler){ signo, cb, ctx };
	return 0;
}

int loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS,
		       next_timeout(l, timeout_ms));
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (i = 0; i < n && !l->stop; i++) {
		struct watch *w = evs[i].data.ptr;

		if (!w->dead)
			w->cb(l, w->fd, evs[i].events, w->ctx);
	}
	reap_watches(l);
	run_timers(l);
	return 0;
}

int loop_run(struct loop *l)
{
	int err;

	l->stop = false;
	while (!l->stop) {
		err = loop_once(l, -1);
		if (err)
			return err;
	}
	return l->err;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
