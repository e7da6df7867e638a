/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bench_util.h - what both benchmark drivers need: medians, one CPU. */
#ifndef VIF_BENCHMARKS_BENCH_UTIL_H
#define VIF_BENCHMARKS_BENCH_UTIL_H

/* Median of v[0..n-1]; sorts v in place.  n > 0. */
double bench_median(double *v, int n);
/* Pin the calling thread to the last CPU it may run on; the CPU or -errno. */
int bench_pin_cpu(void);

#endif /* VIF_BENCHMARKS_BENCH_UTIL_H */
