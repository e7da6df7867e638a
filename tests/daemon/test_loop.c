// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* test_loop.c - the event loop: fds, timers (one-shot, periodic, cancel,
 * ordering), signals, and removing watches from inside callbacks. */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "harness.h"
#include "loop.h"

struct rec {
	int hits;
	uint64_t ids[16];
	int order[16];
	int n;
	int stop_after;
	struct loop *l;
};

static void on_timer_rec(struct loop *l, uint64_t id, void *ctx)
{
	struct rec *r = ctx;

	if (r->n < 16)
		r->ids[r->n++] = id;
	if (++r->hits == r->stop_after)
		loop_stop(l);
}

static int test_timers_fire_in_deadline_order(void)
{
	struct rec r = { .stop_after = 3 };
	uint64_t a, b, c;
	struct loop *l;
	int ret = -1;

	if (!ASSERT_OK(loop_new(&l), "loop_new"))
		return -1;
	loop_timer_add(l, 60, 0, on_timer_rec, &r, &a);
	loop_timer_add(l, 20, 0, on_timer_rec, &r, &b);
	loop_timer_add(l, 40, 0, on_timer_rec, &r, &c);
	if (!ASSERT_OK(loop_run(l), "run"))
		goto out;
	if (!ASSERT_EQ(r.ids[0], b, "first") || !ASSERT_EQ(r.ids[1], c, "2nd") ||
	    !ASSERT_EQ(r.ids[2], a, "third"))
		goto out;
	ret = 0;
out:
	loop_free(l);
	return ret;
}

static int test_periodic_and_cancel(void)
{
	struct rec r = { .stop_after = 5 };
	uint64_t per, gone, t0;
	struct loop *l;
	int ret = -1;

	if (!ASSERT_OK(loop_new(&l), "loop_new"))
		return -1;
	loop_timer_add(l, 10, 10, on_timer_rec, &r, &per);
	loop_timer_add(l, 15, 0, on_timer_rec, &r, &gone);
	loop_timer_del(l, gone);
	loop_timer_del(l, 987654); /* unknown: harmless */
	t0 = loop_now_ms();
	loop_run(l);
	if (!ASSERT_EQ(r.hits, 5, "five periodic hits"))
		goto out;
	for (int i = 0; i < 5; i++)
		if (!ASSERT_EQ(r.ids[i], per, "only the periodic timer"))
			goto out;
	if (!ASSERT_TRUE(loop_now_ms() - t0 >= 45, "periods honoured"))
		goto out;
	ret = 0;
out:
	loop_free(l);
	return ret;
}

static void on_self_cancel(struct loop *l, uint64_t id, void *ctx)
{
	struct rec *r = ctx;

	r->hits++;
	loop_timer_del(l, id); /* a periodic timer cancelling itself */
}

static void on_stop(struct loop *l, uint64_t id, void *ctx)
{
	loop_stop(l);
}

static int test_timer_cancels_itself(void)
{
	struct rec r = {};
	struct loop *l;
	int ret = -1;

	if (!ASSERT_OK(loop_new(&l), "loop_new"))
		return -1;
	loop_timer_add(l, 5, 5, on_self_cancel, &r, NULL);
	loop_timer_add(l, 80, 0, on_stop, NULL, NULL);
	loop_run(l);
	if (ASSERT_EQ(r.hits, 1, "fired once, then gone"))
		ret = 0;
	loop_free(l);
	return ret;
}

struct pipes {
	int a[2], b[2];
	int got_a, got_b;
};

/* Reading a's pipe deletes b's watch although b is ready in the same
 * epoll batch: b's callback must not run. */
static void on_a(struct loop *l, int fd, uint32_t ev, void *ctx)
{
	struct pipes *p = ctx;
	char c;

	(void)!read(fd, &c, 1);
	p->got_a++;
	loop_fd_del(l, p->b[0]);
	loop_fd_del(l, fd);
	loop_stop(l);
}

static void on_b(struct loop *l, int fd, uint32_t ev, void *ctx)
{
	struct pipes *p = ctx;
	char c;

	(void)!read(fd, &c, 1);
	p->got_b++;
	loop_fd_del(l, p->a[0]);
	loop_fd_del(l, fd);
	loop_stop(l);
}

static int test_fd_delete_inside_batch(void)
{
	struct pipes p = {};
	struct loop *l;
	int ret = -1;

	if (pipe(p.a) || pipe(p.b))
		return -1;
	if (!ASSERT_OK(loop_new(&l), "loop_new"))
		return -1;
	if (!ASSERT_OK(loop_fd_add(l, p.a[0], EPOLLIN, on_a, &p), "add a") ||
	    !ASSERT_EQ(loop_fd_add(l, p.a[0], EPOLLIN, on_a, &p), -EEXIST,
		       "double add") ||
	    !ASSERT_OK(loop_fd_add(l, p.b[0], EPOLLIN, on_b, &p), "add b"))
		goto out;
	(void)!write(p.a[1], "x", 1);
	(void)!write(p.b[1], "x", 1);
	loop_run(l);
	if (!ASSERT_EQ(p.got_a + p.got_b, 1, "only one callback ran"))
		goto out;
	if (!ASSERT_EQ(loop_fd_del(l, p.a[0]), -ENOENT, "already deleted"))
		goto out;
	ret = 0;
out:
	loop_free(l);
	close(p.a[0]), close(p.a[1]), close(p.b[0]), close(p.b[1]);
	return ret;
}

static void on_sig(struct loop *l, int signo, void *ctx)
{
	*(int *)ctx = signo;
	loop_stop(l);
}

static int test_signal_through_loop(void)
{
	struct loop *l;
	int got = 0, ret = -1;

	if (!ASSERT_OK(loop_new(&l), "loop_new"))
		return -1;
	if (!ASSERT_OK(loop_signal_add(l, SIGUSR1, on_sig, &got), "sig add"))
		goto out;
	kill(getpid(), SIGUSR1);
	loop_timer_add(l, 2000, 0, on_stop, NULL, NULL);
	loop_run(l);
	if (ASSERT_EQ(got, SIGUSR1, "SIGUSR1 delivered as a callback"))
		ret = 0;
out:
	loop_free(l);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_timers_fire_in_deadline_order),
	TEST_CASE(test_periodic_and_cancel),
	TEST_CASE(test_timer_cancels_itself),
	TEST_CASE(test_fd_delete_inside_batch),
	TEST_CASE(test_signal_through_loop),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
