// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bench_util.c - see bench_util.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "bench_util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One CPU for the whole run: per-CPU state (quota slices, counters) stays
 * put, caches stay warm, and under live frames the softirqs that carry
 * the frames run on the generator's CPU, so one CPU does all the work.
 */
int bench_pin_cpu(void)
{
	cpu_set_t set;
	int cpu, last = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			last = cpu;
	if (last < 0)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(last, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	return last;
}
