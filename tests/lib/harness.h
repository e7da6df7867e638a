/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * harness.h - the small test runner every C test uses.
 *
 *   static int test_foo(void) { if (!ASSERT_EQ(a, b, "a")) return -1; return 0; }
 *   static const struct test_case cases[] = { TEST_CASE(test_foo), };
 *   int main(void) { return harness_run(cases, ARRAY_SIZE(cases)); }
 *
 * A case returns 0 (pass), TEST_SKIP (77) or anything else (fail).  Exit
 * code: 0 all passed, 1 something failed, 77 everything skipped.  The last
 * line is "N passed, N failed, N skipped".
 */
#ifndef VIF_TESTS_LIB_HARNESS_H
#define VIF_TESTS_LIB_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TEST_SKIP 77
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

struct test_case {
	const char *name;
	int (*fn)(void);
};

#define TEST_CASE(f) { #f, f }

#define ASSERT_TRUE(cond, what)                                            \
	({                                                                 \
		bool ___ok = !!(cond);                                     \
		if (!___ok)                                                \
			fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__,      \
				__LINE__, (what));                         \
		___ok;                                                     \
	})

#define ASSERT_EQ(a, b, what)                                              \
	({                                                                 \
		unsigned long long ___a = (unsigned long long)(a);         \
		unsigned long long ___b = (unsigned long long)(b);         \
		bool ___ok = ___a == ___b;                                 \
		if (!___ok)                                                \
			fprintf(stderr,                                    \
				"%s:%d: FAIL %s: got %llu (0x%llx), want %llu (0x%llx)\n", \
				__FILE__, __LINE__, (what), ___a, ___a,    \
				___b, ___b);                               \
		___ok;                                                     \
	})

#define ASSERT_OK(err, what) ASSERT_EQ((long long)(err) == 0, 1, (what))

#define ASSERT_MEM_EQ(a, b, len, what)                                     \
	({                                                                 \
		bool ___ok = !memcmp((a), (b), (len));                     \
		if (!___ok)                                                \
			fprintf(stderr, "%s:%d: FAIL %s: bytes differ\n",  \
				__FILE__, __LINE__, (what));               \
		___ok;                                                     \
	})

static inline int harness_run(const struct test_case *cases, size_t n)
{
	unsigned int pass = 0, fail = 0, skip = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int r = cases[i].fn();

		if (r == 0) {
			pass++;
			printf("ok   %s\n", cases[i].name);
		} else if (r == TEST_SKIP) {
			skip++;
			printf("skip %s\n", cases[i].name);
		} else {
			fail++;
			printf("FAIL %s\n", cases[i].name);
		}
		fflush(stdout);
	}
	printf("%u passed, %u failed, %u skipped\n", pass, fail, skip);
	if (fail)
		return 1;
	return pass ? 0 : TEST_SKIP;
}

#endif /* VIF_TESTS_LIB_HARNESS_H */
