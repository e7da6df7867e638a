/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * loop.h - vifd's one single-threaded event loop: epoll over file
 * descriptors, monotonic timers and signals (signalfd).  Everything vifd
 * does happens in a callback of this loop; nothing blocks for long.
 *
 * Callbacks may add and remove watches and timers, including their own.
 */
#ifndef VIF_CONTROL_LOOP_H
#define VIF_CONTROL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* events: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP as delivered. */
typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events,
			   void *ctx);
typedef void (*loop_timer_cb)(struct loop *l, uint64_t id, void *ctx);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *ctx);

int loop_new(struct loop **out);
/* Frees the loop; fds it watches are not closed. NULL is fine. */
void loop_free(struct loop *l);

int loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *ctx);
int loop_fd_mod(struct loop *l, int fd, uint32_t events);
int loop_fd_del(struct loop *l, int fd);

/*
 * One-shot (period_ms == 0) or periodic timer firing first after
 * delay_ms.  Returns an id > 0 through *id.  Ids are never reused.
 */
int loop_timer_add(struct loop *l, uint64_t delay_ms, uint64_t period_ms,
		   loop_timer_cb cb, void *ctx, uint64_t *id);
/* Cancelling an id that already fired (one-shot) or is unknown is fine. */
void loop_timer_del(struct loop *l, uint64_t id);

/* Deliver signo through the loop (blocked for the process). */
int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *ctx);

/* Run until loop_stop(); returns 0 or the first fatal -errno. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* One iteration, waiting at most timeout_ms (-1 = until something). */
int loop_once(struct loop *l, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds, as the timers see it. */
uint64_t loop_now_ms(void);

#endif /* VIF_CONTROL_LOOP_H */
