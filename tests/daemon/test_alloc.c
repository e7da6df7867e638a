// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_alloc.c - control/alloc.c: VLAN pool, address plans, marks and
 * tables, interface names, chains and quota periods.  Expected times were
 * computed independently with GNU date, e.g.
 *   TZ=Europe/Berlin date -d '2024-03-25 00:00' +%s
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "harness.h"

#define BERLIN "Europe/Berlin"

static bool has_zone(const char *tz)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	return !stat(path, &st);
}

static const char *ip(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

#define ASSERT_STR(got, want, what)                                        \
	({                                                                 \
		const char *___g = (got), *___w = (want);                  \
		bool ___ok = ___g && !strcmp(___g, ___w);                  \
		if (!___ok)                                                \
			fprintf(stderr, "%s:%d: FAIL %s: got '%s', want '%s'\n", \
				__FILE__, __LINE__, (what),                \
				___g ? ___g : "(null)", ___w);             \
		___ok;                                                     \
	})

/* ------------------------------------------------------------------ */

static int test_vlan_set_format(void)
{
	struct vlan_set s;
	char buf[64], small[16];

	vlan_set_clear(&s);
	if (!ASSERT_OK(vlan_set_format(&s, buf, sizeof(buf)), "empty") ||
	    !ASSERT_STR(buf, "", "empty text"))
		return -1;
	vlan_set_add(&s, 101);
	vlan_set_add(&s, 102);
	vlan_set_add(&s, 103);
	vlan_set_add(&s, 140);
	vlan_set_add(&s, 4095);
	if (!ASSERT_EQ(vlan_set_count(&s), 5, "count") ||
	    !ASSERT_OK(vlan_set_format(&s, buf, sizeof(buf)), "format") ||
	    !ASSERT_STR(buf, "101-103, 140, 4095", "text"))
		return -1;
	/* "101-103" + ", ..." fits 16 bytes, "101-103, 140" + ", ..." not. */
	if (!ASSERT_EQ(vlan_set_format(&s, small, sizeof(small)), -ENOSPC,
		       "cut") ||
	    !ASSERT_STR(small, "101-103, ...", "cut text"))
		return -1;
	if (!ASSERT_EQ(vlan_set_format(&s, small, 3), -ENOSPC, "tiny") ||
	    !ASSERT_EQ(strlen(small) < 3, 1, "tiny terminated"))
		return -1;
	vlan_set_del(&s, 140);
	if (!ASSERT_EQ(vlan_set_has(&s, 140), 0, "deleted") ||
	    !ASSERT_EQ(vlan_set_has(&s, 70000), 0, "beyond slots"))
		return -1;
	return 0;
}

static int test_pool_init_bounds(void)
{
	struct vlan_pool p;

	if (!ASSERT_EQ(pool_init(&p, 1, 100, NULL), -EINVAL, "lo 1") ||
	    !ASSERT_EQ(pool_init(&p, 2, 4094, NULL), -EINVAL, "hi 4094") ||
	    !ASSERT_EQ(pool_init(&p, 200, 100, NULL), -EINVAL, "reversed") ||
	    !ASSERT_OK(pool_init(&p, 2, 4093, NULL), "2-4093") ||
	    !ASSERT_OK(pool_init(&p, 7, 7, NULL), "single id"))
		return -1;
	return 0;
}

static int test_pool_lowest_free(void)
{
	struct vlan_pool p;
	__u16 v = 0;

	if (!ASSERT_OK(pool_init(&p, 100, 199, NULL), "init"))
		return -1;
	if (!ASSERT_OK(pool_alloc(&p, &v), "a1") || !ASSERT_EQ(v, 100, "a1") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a2") || !ASSERT_EQ(v, 101, "a2") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a3") || !ASSERT_EQ(v, 102, "a3"))
		return -1;
	/* A freed id is the lowest again and comes back first. */
	if (!ASSERT_OK(pool_free(&p, 101), "free 101") ||
	    !ASSERT_EQ(pool_is_allocated(&p, 101), 0, "101 free") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a4") || !ASSERT_EQ(v, 101, "a4") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a5") || !ASSERT_EQ(v, 103, "a5"))
		return -1;
	if (!ASSERT_EQ(pool_free(&p, 150), -ENOENT, "free unallocated") ||
	    !ASSERT_OK(pool_free(&p, 103), "free 103") ||
	    !ASSERT_EQ(pool_free(&p, 103), -ENOENT, "double free"))
		return -1;
	return 0;
}

static int test_pool_reserved_skipped(void)
{
	struct vlan_set res;
	struct vlan_pool p;
	__u16 v = 0;

	vlan_set_clear(&res);
	vlan_set_add(&res, 100);
	vlan_set_add(&res, 101);
	vlan_set_add(&res, 103);
	if (!ASSERT_OK(pool_init(&p, 100, 199, &res), "init") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a1") || !ASSERT_EQ(v, 102, "a1") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a2") || !ASSERT_EQ(v, 104, "a2"))
		return -1;

	/* Reserved run up to a 64-bit word boundary: next word's first. */
	vlan_set_clear(&res);
	for (v = 60; v <= 63; v++)
		vlan_set_add(&res, v);
	if (!ASSERT_OK(pool_init(&p, 60, 70, &res), "init word") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "a word") ||
	    !ASSERT_EQ(v, 64, "crosses word"))
		return -1;
	return 0;
}

static int test_pool_exhaustion(void)
{
	struct pool_status st;
	struct vlan_set res;
	struct vlan_pool p;
	__u16 v = 0, got[4];
	int i;

	vlan_set_clear(&res);
	vlan_set_add(&res, 102);
	if (!ASSERT_OK(pool_init(&p, 100, 104, &res), "init"))
		return -1;
	for (i = 0; i < 4; i++)
		if (!ASSERT_OK(pool_alloc(&p, &got[i]), "alloc"))
			return -1;
	if (!ASSERT_EQ(got[0], 100, "1st") || !ASSERT_EQ(got[1], 101, "2nd") ||
	    !ASSERT_EQ(got[2], 103, "3rd") || !ASSERT_EQ(got[3], 104, "4th"))
		return -1;
	if (!ASSERT_EQ(pool_alloc(&p, &v), -ENOSPC, "exhausted"))
		return -1;
	pool_status(&p, &st);
	if (!ASSERT_EQ(st.size, 4, "size") || !ASSERT_EQ(st.free, 0, "free") ||
	    !ASSERT_EQ(st.percent, 100, "percent") ||
	    !ASSERT_EQ(st.level, POOL_LEVEL_CRITICAL, "level"))
		return -1;
	return 0;
}

/* Every VLAN a VIF can have, lowest first, then nothing. */
static int test_pool_full_range(void)
{
	struct pool_status st;
	struct vlan_pool p;
	unsigned int want;
	__u16 v = 0;

	if (!ASSERT_OK(pool_init(&p, VIFD_VLAN_LO, VIFD_VLAN_HI, NULL),
		       "init"))
		return -1;
	for (want = VIFD_VLAN_LO; want <= VIFD_VLAN_HI; want++)
		if (!ASSERT_OK(pool_alloc(&p, &v), "alloc") ||
		    !ASSERT_EQ(v, want, "sequence"))
			return -1;
	if (!ASSERT_EQ(pool_alloc(&p, &v), -ENOSPC, "exhausted"))
		return -1;
	pool_status(&p, &st);
	if (!ASSERT_EQ(st.allocated, 4092, "allocated") ||
	    !ASSERT_EQ(st.size, 4092, "size"))
		return -1;
	return 0;
}

static int test_pool_specific(void)
{
	struct vlan_set res;
	struct vlan_pool p;
	__u16 v = 0;

	vlan_set_clear(&res);
	vlan_set_add(&res, 150);
	if (!ASSERT_OK(pool_init(&p, 100, 199, &res), "init"))
		return -1;
	if (!ASSERT_EQ(pool_alloc_specific(&p, 99), -ERANGE, "below") ||
	    !ASSERT_EQ(pool_alloc_specific(&p, 200), -ERANGE, "above") ||
	    !ASSERT_EQ(pool_alloc_specific(&p, 150), -EPERM, "reserved") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 100), "100") ||
	    !ASSERT_EQ(pool_alloc_specific(&p, 100), -EEXIST, "twice") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 199), "199"))
		return -1;
	if (!ASSERT_OK(pool_alloc(&p, &v), "alloc") ||
	    !ASSERT_EQ(v, 101, "skips the specific one"))
		return -1;
	return 0;
}

/* Fill a fresh pool lo..hi with n allocations and return its status. */
static int status_after(__u16 lo, __u16 hi, const struct vlan_set *res,
			unsigned int n, struct pool_status *st)
{
	struct vlan_pool p;
	unsigned int i;
	__u16 v;

	if (pool_init(&p, lo, hi, res))
		return -1;
	for (i = 0; i < n; i++)
		if (pool_alloc(&p, &v))
			return -1;
	pool_status(&p, st);
	return 0;
}

static int test_pool_status_thresholds(void)
{
	static const struct {
		__u16 lo, hi;
		unsigned int reserve; /* ids reserved from lo up */
		unsigned int n;
		unsigned int percent;
		enum pool_level level;
	} cases[] = {
		{ 100, 199, 0, 0, 0, POOL_LEVEL_NONE },
		{ 100, 199, 0, 79, 79, POOL_LEVEL_NONE },
		{ 100, 199, 0, 80, 80, POOL_LEVEL_WARN },   /* exactly 80% */
		{ 100, 199, 0, 94, 94, POOL_LEVEL_WARN },
		{ 100, 199, 0, 95, 95, POOL_LEVEL_CRITICAL }, /* exactly 95% */
		{ 100, 199, 0, 100, 100, POOL_LEVEL_CRITICAL },
		/* 20 ids: 16 is exactly 80%, 19 exactly 95%. */
		{ 2, 21, 0, 15, 75, POOL_LEVEL_NONE },
		{ 2, 21, 0, 16, 80, POOL_LEVEL_WARN },
		{ 2, 21, 0, 18, 90, POOL_LEVEL_WARN },
		{ 2, 21, 0, 19, 95, POOL_LEVEL_CRITICAL },
		/* Reserved ids are not capacity: 10 - 2 = 8 usable. */
		{ 100, 109, 2, 6, 75, POOL_LEVEL_NONE },
		{ 100, 109, 2, 7, 87, POOL_LEVEL_WARN },
		{ 100, 109, 2, 8, 100, POOL_LEVEL_CRITICAL },
	};
	struct pool_status st;
	struct vlan_set res;
	size_t i;
	unsigned int j;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		vlan_set_clear(&res);
		for (j = 0; j < cases[i].reserve; j++)
			vlan_set_add(&res, cases[i].lo + j);
		if (!ASSERT_OK(status_after(cases[i].lo, cases[i].hi, &res,
					    cases[i].n, &st),
			       "fill"))
			return -1;
		if (!ASSERT_EQ(st.allocated, cases[i].n, "allocated") ||
		    !ASSERT_EQ(st.size, cases[i].hi - cases[i].lo + 1 -
						cases[i].reserve,
			       "size") ||
		    !ASSERT_EQ(st.free, st.size - cases[i].n, "free") ||
		    !ASSERT_EQ(st.percent, cases[i].percent, "percent") ||
		    !ASSERT_EQ(st.level, cases[i].level, "level")) {
			fprintf(stderr, "  case %zu\n", i);
			return -1;
		}
	}
	if (!ASSERT_STR(pool_level_name(POOL_LEVEL_WARN), "warn", "name") ||
	    !ASSERT_STR(pool_level_name(POOL_LEVEL_CRITICAL), "critical",
			"name") ||
	    !ASSERT_STR(pool_level_name(POOL_LEVEL_NONE), "none", "name"))
		return -1;
	return 0;
}

static int test_pool_resize(void)
{
	struct vlan_set res, stranded;
	struct vlan_pool p;
	char err[128];
	__u16 v = 0;

	if (!ASSERT_OK(pool_init(&p, 100, 199, NULL), "init") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 100), "100") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 101), "101") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 150), "150"))
		return -1;

	/* Shrinking past 100 and 101 strands them: refused, unchanged. */
	if (!ASSERT_EQ(pool_resize(&p, 120, 199, NULL, &stranded, err,
				   sizeof(err)),
		       -EBUSY, "shrink low"))
		return -1;
	if (!ASSERT_EQ(vlan_set_count(&stranded), 2, "stranded count") ||
	    !ASSERT_TRUE(vlan_set_has(&stranded, 100) &&
				 vlan_set_has(&stranded, 101),
			 "stranded ids") ||
	    !ASSERT_STR(err, "would strand 2 allocated ids: 100-101", "err") ||
	    !ASSERT_EQ(p.lo, 100, "lo unchanged") ||
	    !ASSERT_EQ(p.hi, 199, "hi unchanged"))
		return -1;
	if (!ASSERT_EQ(pool_resize(&p, 100, 149, NULL, NULL, err, sizeof(err)),
		       -EBUSY, "shrink high") ||
	    !ASSERT_STR(err, "would strand 1 allocated id: 150", "err 150"))
		return -1;

	/* Reserving an allocated id strands it the same way. */
	vlan_set_clear(&res);
	vlan_set_add(&res, 150);
	vlan_set_add(&res, 160);
	if (!ASSERT_EQ(pool_resize(&p, 100, 199, &res, &stranded, NULL, 0),
		       -EBUSY, "reserve allocated") ||
	    !ASSERT_EQ(vlan_set_count(&stranded), 1, "one stranded") ||
	    !ASSERT_TRUE(vlan_set_has(&stranded, 150), "150 stranded") ||
	    !ASSERT_EQ(vlan_set_has(&p.reserved, 160), 0, "reserved unchanged"))
		return -1;

	/* Bad ranges. */
	if (!ASSERT_EQ(pool_resize(&p, 1, 199, NULL, NULL, NULL, 0), -EINVAL,
		       "lo 1") ||
	    !ASSERT_EQ(pool_resize(&p, 150, 120, NULL, NULL, NULL, 0),
		       -EINVAL, "reversed"))
		return -1;

	/* Allowed: shrink to exactly the allocated span, then grow. */
	if (!ASSERT_OK(pool_resize(&p, 100, 150, NULL, &stranded, NULL, 0),
		       "shrink to fit") ||
	    !ASSERT_EQ(vlan_set_count(&stranded), 0, "none stranded") ||
	    !ASSERT_EQ(pool_alloc_specific(&p, 151), -ERANGE, "151 out"))
		return -1;
	vlan_set_clear(&res);
	vlan_set_add(&res, 102);
	if (!ASSERT_OK(pool_resize(&p, 100, 300, &res, NULL, NULL, 0), "grow") ||
	    !ASSERT_OK(pool_alloc_specific(&p, 300), "300 in") ||
	    !ASSERT_OK(pool_alloc(&p, &v), "alloc") ||
	    !ASSERT_EQ(v, 103, "102 now reserved"))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

static int check_addr(const struct alloc_addr *a, const char *subnet,
		      int prefix, const char *svc, const char *gw)
{
	char b[INET_ADDRSTRLEN];

	if (!ASSERT_STR(ip(a->subnet, b), subnet, "subnet") ||
	    !ASSERT_EQ(a->prefix_len, prefix, "prefix") ||
	    !ASSERT_STR(ip(a->svc_addr, b), svc, "service") ||
	    !ASSERT_STR(ip(a->gw_addr, b), gw, "gateway"))
		return -1;
	return 0;
}

static int test_addr_vlan24(void)
{
	struct alloc_addr a;

	if (!ASSERT_OK(alloc_addr_vlan24(2, &a), "vlan 2") ||
	    check_addr(&a, "10.100.2.0", 24, "10.100.2.1", "10.100.2.254"))
		return -1;
	if (!ASSERT_OK(alloc_addr(VIFD_SCHEME_VLAN24, 150, &a), "vlan 150") ||
	    check_addr(&a, "10.100.150.0", 24, "10.100.150.1",
		       "10.100.150.254"))
		return -1;
	if (!ASSERT_OK(alloc_addr_vlan24(255, &a), "vlan 255") ||
	    check_addr(&a, "10.100.255.0", 24, "10.100.255.1",
		       "10.100.255.254"))
		return -1;
	/* Carry into the second octet. */
	if (!ASSERT_OK(alloc_addr_vlan24(256, &a), "vlan 256") ||
	    check_addr(&a, "10.101.0.0", 24, "10.101.0.1", "10.101.0.254"))
		return -1;
	if (!ASSERT_OK(alloc_addr_vlan24(4093, &a), "vlan 4093") ||
	    check_addr(&a, "10.115.253.0", 24, "10.115.253.1",
		       "10.115.253.254"))
		return -1;
	if (!ASSERT_EQ(alloc_addr_vlan24(1, &a), -EINVAL, "vlan 1") ||
	    !ASSERT_EQ(alloc_addr_vlan24(4094, &a), -EINVAL, "vlan 4094") ||
	    !ASSERT_EQ(alloc_addr(7, 100, &a), -EINVAL, "bad scheme"))
		return -1;
	return 0;
}

static int test_addr_p2p30(void)
{
	struct alloc_addr a;

	if (!ASSERT_OK(alloc_addr(VIFD_SCHEME_P2P30, 2, &a), "vlan 2") ||
	    check_addr(&a, "172.16.2.0", 30, "172.16.2.2", "172.16.2.1"))
		return -1;
	if (!ASSERT_OK(alloc_addr_p2p30(0, &a), "n 0") ||
	    check_addr(&a, "172.16.0.0", 30, "172.16.0.2", "172.16.0.1"))
		return -1;
	if (!ASSERT_OK(alloc_addr(VIFD_SCHEME_P2P30, 4093, &a), "vlan 4093") ||
	    check_addr(&a, "172.31.253.0", 30, "172.31.253.2",
		       "172.31.253.1"))
		return -1;
	/* The last block of 172.16.0.0/12, then overflow. */
	if (!ASSERT_OK(alloc_addr_p2p30(ALLOC_P2P30_BLOCKS - 1, &a), "n 4095") ||
	    check_addr(&a, "172.31.255.0", 30, "172.31.255.2",
		       "172.31.255.1"))
		return -1;
	if (!ASSERT_EQ(alloc_addr_p2p30(ALLOC_P2P30_BLOCKS, &a), -ERANGE,
		       "n 4096") ||
	    !ASSERT_EQ(alloc_addr_p2p30(UINT32_MAX, &a), -ERANGE, "n max") ||
	    !ASSERT_EQ(alloc_addr(VIFD_SCHEME_P2P30, 4094, &a), -EINVAL,
		       "vlan 4094") ||
	    !ASSERT_EQ(alloc_addr(VIFD_SCHEME_P2P30, 1, &a), -EINVAL, "vlan 1"))
		return -1;
	return 0;
}

/* No two VLANs share a subnet, and each subnet stays in its supernet. */
static int test_addr_unique(void)
{
	static const __u32 super[2] = { 0x0a600000, /* 10.96.0.0/11 */
					0xac100000 /* 172.16.0.0/12 */ };
	static const __u32 super_mask[2] = { 0xffe00000, 0xfff00000 };
	static __u8 seen[2][1 << 16];
	struct alloc_addr a;
	unsigned int s, v;

	memset(seen, 0, sizeof(seen));
	for (s = 0; s < 2; s++) {
		for (v = VIFD_VLAN_LO; v <= VIFD_VLAN_HI; v++) {
			__u32 net;

			if (!ASSERT_OK(alloc_addr(s, v, &a), "addr"))
				return -1;
			net = ntohl(a.subnet);
			/* Subnets are /24-aligned: bits 8..23 name one. */
			if (!ASSERT_EQ(net & 0xff, 0, "aligned") ||
			    !ASSERT_EQ(net & super_mask[s], super[s],
				       "in supernet") ||
			    !ASSERT_EQ(seen[s][(net >> 8) & 0xffff], 0,
				       "unique") ||
			    !ASSERT_EQ(ntohl(a.svc_addr) & ~0xffu, net,
				       "service inside") ||
			    !ASSERT_EQ(ntohl(a.gw_addr) & ~0xffu, net,
				       "gateway inside"))
				return -1;
			seen[s][(net >> 8) & 0xffff] = 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */

static int test_mark_table(void)
{
	char err[160];
	__u32 m = 0, t = 0;
	unsigned int v;

	if (!ASSERT_OK(alloc_mark(ALLOC_MARK_BASE_DEFAULT, 2, &m), "mark 2") ||
	    !ASSERT_EQ(m, 0x10002, "mark 2") ||
	    !ASSERT_OK(alloc_mark(ALLOC_MARK_BASE_DEFAULT, 4093, &m),
		       "mark 4093") ||
	    !ASSERT_EQ(m, 0x10ffd, "mark 4093") ||
	    !ASSERT_OK(alloc_table(ALLOC_TABLE_BASE_DEFAULT, 2, &t), "t 2") ||
	    !ASSERT_EQ(t, 1002, "table 2") ||
	    !ASSERT_OK(alloc_table(ALLOC_TABLE_BASE_DEFAULT, 4093, &t),
		       "t 4093") ||
	    !ASSERT_EQ(t, 5093, "table 4093"))
		return -1;
	if (!ASSERT_EQ(alloc_mark(0, 1, &m), -EINVAL, "mark vlan 1") ||
	    !ASSERT_EQ(alloc_table(1000, 4094, &t), -EINVAL, "table vlan 4094"))
		return -1;

	/* Kernel tables and overflow. */
	if (!ASSERT_EQ(alloc_table(250, 2, &t), -ERANGE, "252 compat") ||
	    !ASSERT_EQ(alloc_table(251, 2, &t), -ERANGE, "253 default") ||
	    !ASSERT_EQ(alloc_table(252, 2, &t), -ERANGE, "254 main") ||
	    !ASSERT_EQ(alloc_table(253, 2, &t), -ERANGE, "255 local") ||
	    !ASSERT_EQ(alloc_table(UINT32_MAX - 1, 2, &t), -ERANGE,
		       "table wraps to 0") ||
	    !ASSERT_EQ(alloc_mark(UINT32_MAX - 1, 2, &m), -ERANGE,
		       "mark wraps to 0") ||
	    !ASSERT_OK(alloc_table(254, 2, &t), "256") ||
	    !ASSERT_EQ(t, 256, "256"))
		return -1;
	for (v = 0; v < 256; v++)
		if (!ASSERT_EQ(alloc_table_reserved(v),
			       v == 0 || (v >= 252 && v <= 255), "reserved"))
			return -1;

	if (!ASSERT_OK(alloc_bases_check(ALLOC_MARK_BASE_DEFAULT,
					 ALLOC_TABLE_BASE_DEFAULT, err,
					 sizeof(err)),
		       "defaults") ||
	    !ASSERT_OK(alloc_bases_check(0, 254, err, sizeof(err)), "edges") ||
	    !ASSERT_OK(alloc_bases_check(UINT32_MAX - VIFD_VLAN_HI,
					 UINT32_MAX - VIFD_VLAN_HI, err,
					 sizeof(err)),
		       "top") ||
	    !ASSERT_EQ(alloc_bases_check(UINT32_MAX - VIFD_VLAN_HI + 1, 1000,
					 err, sizeof(err)),
		       -ERANGE, "mark overflow") ||
	    !ASSERT_TRUE(strstr(err, "mark_base") != NULL, "mark_base named") ||
	    !ASSERT_EQ(alloc_bases_check(0, UINT32_MAX - VIFD_VLAN_HI + 1, err,
					 sizeof(err)),
		       -ERANGE, "table overflow") ||
	    !ASSERT_EQ(alloc_bases_check(0, 253, err, sizeof(err)), -ERANGE,
		       "253") ||
	    !ASSERT_TRUE(strstr(err, "252-255") != NULL, "why") ||
	    !ASSERT_EQ(alloc_bases_check(0, 0, NULL, 0), -ERANGE, "0"))
		return -1;

	/* Every base the check accepts gives good values for every VLAN. */
	for (v = VIFD_VLAN_LO; v <= VIFD_VLAN_HI; v++)
		if (!ASSERT_OK(alloc_table(254, v, &t), "table 254+v") ||
		    !ASSERT_OK(alloc_mark(UINT32_MAX - VIFD_VLAN_HI, v, &m),
			       "mark top"))
			return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

static int test_ifname_derive(void)
{
	static const struct {
		enum alloc_if_kind kind;
		__u16 vlan;
		const char *name;
		const char *want;
	} cases[] = {
		{ ALLOC_IF_PORT, 101, "wireguard-nl", "vp101-wireguard" },
		{ ALLOC_IF_SVC, 101, "wireguard-nl", "vs101-wireguard" },
		{ ALLOC_IF_TUN, 101, "wireguard-nl", "vt101-wireguard" },
		{ ALLOC_IF_SVC, 4093, "wireguard", "vs4093-wireguar" },
		{ ALLOC_IF_PORT, 2, NULL, "vp2" },
		{ ALLOC_IF_PORT, 2, "", "vp2" },
		{ ALLOC_IF_PORT, 7, "my svc!", "vp7-my_svc" },
		{ ALLOC_IF_PORT, 7, "---", "vp7" },
		{ ALLOC_IF_PORT, 7, "..", "vp7" },
		/* Cut right after a '-': the dangling separator goes. */
		{ ALLOC_IF_PORT, 101, "abcdefgh-jk", "vp101-abcdefgh" },
		{ ALLOC_IF_PORT, 4093, "x", "vp4093-x" },
		{ ALLOC_IF_PORT, 4093, "caf\xc3\xa9", "vp4093-caf" },
	};
	char out[VIFD_IFNAME_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(out, 'X', sizeof(out));
		if (!ASSERT_OK(alloc_ifname(cases[i].kind, cases[i].vlan,
					    cases[i].name, out),
			       "derive") ||
		    !ASSERT_STR(out, cases[i].want, "name"))
			return -1;
	}
	if (!ASSERT_EQ(alloc_ifname(ALLOC_IF_PORT, 1, "a", out), -EINVAL,
		       "vlan 1") ||
	    !ASSERT_EQ(alloc_ifname(ALLOC_IF__MAX, 100, "a", out), -EINVAL,
		       "kind"))
		return -1;
	return 0;
}

/* For every VLAN and kind, with a long name: valid, <= 15, parses back,
 * unique. */
static int test_ifname_all_vlans(void)
{
	static const char *long_name = "a-very-long-service-name-indeed";
	static __u8 seen[ALLOC_IF__MAX][VIF_VLAN_SLOTS];
	char out[VIFD_IFNAME_MAX], prev[VIFD_IFNAME_MAX] = "";
	enum alloc_if_kind kind, k2;
	unsigned int v;
	__u16 v2;

	memset(seen, 0, sizeof(seen));
	for (kind = 0; kind < ALLOC_IF__MAX; kind++) {
		for (v = VIFD_VLAN_LO; v <= VIFD_VLAN_HI; v++) {
			if (!ASSERT_OK(alloc_ifname(kind, v, long_name, out),
				       "derive") ||
			    !ASSERT_TRUE(strlen(out) <= 15, "<= 15") ||
			    !ASSERT_OK(alloc_ifname_valid(out), "valid") ||
			    !ASSERT_OK(alloc_ifname_parse(out, &k2, &v2),
				       "parse") ||
			    !ASSERT_EQ(k2, kind, "kind back") ||
			    !ASSERT_EQ(v2, v, "vlan back") ||
			    !ASSERT_TRUE(strcmp(out, prev), "differs"))
				return -1;
			seen[k2][v2]++;
			memcpy(prev, out, sizeof(out));
		}
	}
	for (kind = 0; kind < ALLOC_IF__MAX; kind++)
		for (v = VIFD_VLAN_LO; v <= VIFD_VLAN_HI; v++)
			if (!ASSERT_EQ(seen[kind][v], 1, "each once"))
				return -1;
	return 0;
}

static int test_ifname_valid(void)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{ "eth0", 0 },
		{ "a", 0 },
		{ "br-lan.100", 0 },
		{ "under_score-1.x", 0 },       /* 15 */
		{ "abcdefghijklmno", 0 },       /* 15 */
		{ "abcdefghijklmnop", -ENAMETOOLONG }, /* 16 */
		{ "", -EINVAL },
		{ ".", -EINVAL },
		{ "..", -EINVAL },
		{ "...", 0 },
		{ "a/b", -EINVAL },
		{ "a b", -EINVAL },
		{ "a:b", -EINVAL },
		{ "caf\xc3\xa9", -EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (!ASSERT_EQ(alloc_ifname_valid(cases[i].name), cases[i].want,
			       cases[i].name))
			return -1;
	if (!ASSERT_EQ(alloc_ifname_valid(NULL), -EINVAL, "NULL"))
		return -1;
	return 0;
}

static bool used_wg0(const char *ifname, void *ctx)
{
	(*(int *)ctx)++;
	return !strcmp(ifname, "wg0");
}

static int test_ifname_parse_check(void)
{
	static const char *const not_ours[] = {
		"eth0", "vp", "vp0", "vp1", "vp01", "vp4094", "vp99999",
		"vpx", "vp101x", "vx101", "VP101",
	};
	enum alloc_if_kind k;
	char err[160];
	int calls = 0;
	__u16 v;
	size_t i;

	if (!ASSERT_OK(alloc_ifname_parse("vp101", &k, &v), "vp101") ||
	    !ASSERT_EQ(k, ALLOC_IF_PORT, "port") || !ASSERT_EQ(v, 101, "101") ||
	    !ASSERT_OK(alloc_ifname_parse("vs4093-x", &k, &v), "vs4093-x") ||
	    !ASSERT_EQ(k, ALLOC_IF_SVC, "svc") || !ASSERT_EQ(v, 4093, "4093") ||
	    !ASSERT_OK(alloc_ifname_parse("vt2-", &k, &v), "vt2-") ||
	    !ASSERT_EQ(k, ALLOC_IF_TUN, "tun"))
		return -1;
	for (i = 0; i < ARRAY_SIZE(not_ours); i++)
		if (!ASSERT_EQ(alloc_ifname_parse(not_ours[i], &k, &v), -EINVAL,
			       not_ours[i]))
			return -1;

	if (!ASSERT_OK(alloc_ifname_check("tun7", used_wg0, &calls, err,
					  sizeof(err)),
		       "tun7") ||
	    !ASSERT_EQ(calls, 1, "callback asked") ||
	    !ASSERT_EQ(alloc_ifname_check("wg0", used_wg0, &calls, err,
					  sizeof(err)),
		       -EEXIST, "in use") ||
	    !ASSERT_STR(err, "interface name 'wg0' is in use", "in use err") ||
	    !ASSERT_EQ(alloc_ifname_check("vt101", used_wg0, &calls, err,
					  sizeof(err)),
		       -EADDRINUSE, "ours") ||
	    !ASSERT_TRUE(strstr(err, "VLAN 101") != NULL, "ours err") ||
	    !ASSERT_EQ(alloc_ifname_check("bad name", NULL, NULL, err,
					  sizeof(err)),
		       -EINVAL, "invalid") ||
	    !ASSERT_EQ(alloc_ifname_check("sixteen-chars-xx", NULL, NULL, NULL,
					  0),
		       -EINVAL, "too long") ||
	    !ASSERT_OK(alloc_ifname_check("wg0", NULL, NULL, NULL, 0),
		       "no callback"))
		return -1;
	return 0;
}

static int test_vif_fill(void)
{
	struct alloc_params ap = {
		.scheme = VIFD_SCHEME_VLAN24,
		.mark_base = ALLOC_MARK_BASE_DEFAULT,
		.table_base = ALLOC_TABLE_BASE_DEFAULT,
	};
	struct vifd_vif vif, before;
	char b[INET_ADDRSTRLEN];

	memset(&vif, 0, sizeof(vif));
	snprintf(vif.name, sizeof(vif.name), "alpha");
	vif.vlan = 150;
	vif.next_hop = 151; /* not ours: must survive */
	if (!ASSERT_OK(alloc_vif_fill(&ap, &vif), "fill") ||
	    !ASSERT_STR(ip(vif.subnet, b), "10.100.150.0", "subnet") ||
	    !ASSERT_EQ(vif.prefix_len, 24, "prefix") ||
	    !ASSERT_STR(ip(vif.svc_addr, b), "10.100.150.1", "svc") ||
	    !ASSERT_STR(ip(vif.gw_addr, b), "10.100.150.254", "gw") ||
	    !ASSERT_EQ(vif.mark, 0x10000 + 150, "mark") ||
	    !ASSERT_EQ(vif.table, 1150, "table") ||
	    !ASSERT_STR(vif.ifname, "vp150-alpha", "ifname") ||
	    !ASSERT_STR(vif.peer_ifname, "vs150-alpha", "peer") ||
	    !ASSERT_EQ(vif.next_hop, 151, "untouched"))
		return -1;

	ap.scheme = VIFD_SCHEME_P2P30;
	if (!ASSERT_OK(alloc_vif_fill(&ap, &vif), "fill p2p") ||
	    !ASSERT_STR(ip(vif.subnet, b), "172.16.150.0", "p2p subnet") ||
	    !ASSERT_EQ(vif.prefix_len, 30, "p2p prefix") ||
	    !ASSERT_STR(ip(vif.svc_addr, b), "172.16.150.2", "p2p svc") ||
	    !ASSERT_STR(ip(vif.gw_addr, b), "172.16.150.1", "p2p gw"))
		return -1;

	/* A failure leaves the VIF as it was: table 250 + 4 is main. */
	vif.vlan = 4;
	memcpy(&before, &vif, sizeof(vif));
	ap.table_base = 250;
	if (!ASSERT_EQ(alloc_vif_fill(&ap, &vif), -ERANGE, "table 254") ||
	    !ASSERT_MEM_EQ(&vif, &before, sizeof(vif), "untouched"))
		return -1;
	vif.vlan = 4094;
	memcpy(&before, &vif, sizeof(vif));
	ap.table_base = 1000;
	if (!ASSERT_EQ(alloc_vif_fill(&ap, &vif), -EINVAL, "vlan 4094") ||
	    !ASSERT_MEM_EQ(&vif, &before, sizeof(vif), "untouched 2"))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

/* Existing next hops: links[v] = next. */
struct links {
	__u16 next[VIF_VLAN_SLOTS];
	int calls;
};

static __u16 links_next(__u16 vlan, void *ctx)
{
	struct links *l = ctx;

	l->calls++;
	return l->next[vlan];
}

static int test_chain_shape(void)
{
	const __u16 ok2[] = { 101, 102 };
	const __u16 ok5[] = { 101, 102, 103, 104, 105 };
	const __u16 six[] = { 101, 102, 103, 104, 105, 106 };
	const __u16 rep[] = { 101, 102, 101 };
	const __u16 rep2[] = { 101, 102, 103, 102 };
	const __u16 bad[] = { 101, 4094 };
	const __u16 zero[] = { 0, 101 };
	char err[128];

	if (!ASSERT_OK(chain_validate(ok2, 2, NULL, NULL, err, sizeof(err)),
		       "2 hops") ||
	    !ASSERT_OK(chain_validate(ok5, 5, NULL, NULL, err, sizeof(err)),
		       "5 hops"))
		return -1;
	if (!ASSERT_EQ(chain_validate(ok2, 1, NULL, NULL, err, sizeof(err)),
		       -EINVAL, "1 hop") ||
	    !ASSERT_STR(err, "a chain has 2-5 VIFs, not 1", "1 hop err") ||
	    !ASSERT_EQ(chain_validate(six, 6, NULL, NULL, err, sizeof(err)),
		       -EINVAL, "6 hops") ||
	    !ASSERT_EQ(chain_validate(rep, 3, NULL, NULL, err, sizeof(err)),
		       -EINVAL, "repeat") ||
	    !ASSERT_STR(err, "101 appears twice in the chain", "repeat err") ||
	    !ASSERT_EQ(chain_validate(rep2, 4, NULL, NULL, err, sizeof(err)),
		       -EINVAL, "repeat later") ||
	    !ASSERT_STR(err, "102 appears twice in the chain", "repeat2 err") ||
	    !ASSERT_EQ(chain_validate(bad, 2, NULL, NULL, err, sizeof(err)),
		       -EINVAL, "vlan 4094") ||
	    !ASSERT_EQ(chain_validate(zero, 2, NULL, NULL, NULL, 0), -EINVAL,
		       "vlan 0"))
		return -1;
	return 0;
}

static int test_chain_cycles(void)
{
	static struct links l;
	const __u16 c2[] = { 101, 102 };
	const __u16 c3[] = { 101, 102, 103 };
	const __u16 c_ext[] = { 101, 105 };
	char err[128], tiny[12];

	/* 102 already leads to 101: 101 -> 102 closes the loop. */
	memset(&l, 0, sizeof(l));
	l.next[102] = 101;
	if (!ASSERT_EQ(chain_validate(c2, 2, links_next, &l, err, sizeof(err)),
		       -ELOOP, "2-cycle") ||
	    !ASSERT_STR(err, "cycle: 101 -> 102 -> 101", "2-cycle path"))
		return -1;

	/* Through an existing chain 103 -> 104 -> 101. */
	memset(&l, 0, sizeof(l));
	l.next[103] = 104;
	l.next[104] = 101;
	if (!ASSERT_EQ(chain_validate(c3, 3, links_next, &l, err, sizeof(err)),
		       -ELOOP, "long cycle") ||
	    !ASSERT_STR(err, "cycle: 101 -> 102 -> 103 -> 104 -> 101",
			"long cycle path"))
		return -1;
	/* Same cycle, short buffer: cut, terminated. */
	if (!ASSERT_EQ(chain_validate(c3, 3, links_next, &l, tiny,
				      sizeof(tiny)),
		       -ELOOP, "tiny") ||
	    !ASSERT_EQ(strlen(tiny), sizeof(tiny) - 1, "tiny cut"))
		return -1;

	/* A loop among existing VIFs that the new chain runs into. */
	memset(&l, 0, sizeof(l));
	l.next[105] = 106;
	l.next[106] = 105;
	if (!ASSERT_EQ(chain_validate(c_ext, 2, links_next, &l, err,
				      sizeof(err)),
		       -ELOOP, "existing loop") ||
	    !ASSERT_STR(err, "cycle: 101 -> 105 -> 106 -> 105",
			"existing loop path"))
		return -1;

	/* The new chain replaces 101's old next hop: 101 -> 105 -> 101
	 * existed in the old graph only through 101's old edge. */
	memset(&l, 0, sizeof(l));
	l.next[101] = 105;
	l.next[105] = 101;
	l.next[200] = 201; /* unrelated chain */
	if (!ASSERT_OK(chain_validate(c2, 2, links_next, &l, err, sizeof(err)),
		       "old edge replaced") ||
	    !ASSERT_EQ(l.calls, 1, "asked only about the last hop"))
		return -1;
	return 0;
}

static int test_chain_compose_length(void)
{
	static struct links l;
	const __u16 c2[] = { 101, 102 };
	const __u16 c3[] = { 101, 102, 103 };
	char err[128];

	/* 101 -> 102 then the existing 102 -> 103 -> 104 -> 105: 5 VIFs. */
	memset(&l, 0, sizeof(l));
	l.next[102] = 103;
	l.next[103] = 104;
	l.next[104] = 105;
	if (!ASSERT_OK(chain_validate(c2, 2, links_next, &l, err, sizeof(err)),
		       "composes to 5"))
		return -1;
	l.next[105] = 106;
	if (!ASSERT_EQ(chain_validate(c3, 3, links_next, &l, err, sizeof(err)),
		       -E2BIG, "composes to 6") ||
	    !ASSERT_STR(err,
			"chain too long: 101 -> 102 -> 103 -> 104 -> 105 -> 106 (6 VIFs, max 5)",
			"too long err"))
		return -1;
	/* A corrupt next hop beyond the VLAN space is refused, not read. */
	memset(&l, 0, sizeof(l));
	l.next[102] = 5000;
	if (!ASSERT_EQ(chain_validate(c2, 2, links_next, &l, err, sizeof(err)),
		       -EINVAL, "corrupt next hop"))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */

struct period_case {
	const char *what;
	enum vifd_quota_period period;
	int64_t now;
	int64_t start;
	int64_t next;
};

static int run_periods(const char *tz, const struct period_case *c,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t s = -1, nx = -1;

		if (!ASSERT_OK(quota_period_bounds(c[i].period, c[i].now, tz,
						   &s, &nx),
			       c[i].what) ||
		    !ASSERT_EQ(s, c[i].start, c[i].what) ||
		    !ASSERT_EQ(nx, c[i].next, c[i].what) ||
		    !ASSERT_TRUE(s <= c[i].now && c[i].now < nx, c[i].what))
			return -1;
		/* The wrappers agree with the pair. */
		s = nx = -1;
		if (!ASSERT_OK(quota_period_start(c[i].period, c[i].now, tz, &s),
			       "start") ||
		    !ASSERT_OK(quota_period_next(c[i].period, c[i].now, tz, &nx),
			       "next") ||
		    !ASSERT_EQ(s, c[i].start, "wrapper start") ||
		    !ASSERT_EQ(nx, c[i].next, "wrapper next"))
			return -1;
	}
	return 0;
}

static int test_quota_berlin_dst(void)
{
	static const struct period_case c[] = {
		/* Spring forward, Sun 2024-03-31 02:00 CET -> 03:00 CEST. */
		{ "day 23h", VIFD_QUOTA_DAILY, 1711879200 /* 03-31 12:00 */,
		  1711839600 /* 03-31 00:00 CET */,
		  1711922400 /* 04-01 00:00 CEST */ },
		{ "day before", VIFD_QUOTA_DAILY, 1711839599,
		  1711753200 /* 03-30 00:00 */, 1711839600 },
		{ "week 167h", VIFD_QUOTA_WEEKLY, 1711879200,
		  1711321200 /* Mon 03-25 00:00 CET */,
		  1711922400 /* Mon 04-01 00:00 CEST */ },
		/* Fall back, Sun 2024-10-27 03:00 CEST -> 02:00 CET; 02:30
		 * happens twice and both belong to the same day. */
		{ "day 25h, 1st 02:30", VIFD_QUOTA_DAILY,
		  1729989000 /* 02:30 CEST */, 1729980000 /* 10-27 00:00 */,
		  1730070000 /* 10-28 00:00 CET */ },
		{ "day 25h, 2nd 02:30", VIFD_QUOTA_DAILY,
		  1729992600 /* 02:30 CET */, 1729980000, 1730070000 },
		{ "week 169h", VIFD_QUOTA_WEEKLY, 1729992600,
		  1729461600 /* Mon 10-21 00:00 CEST */,
		  1730070000 /* Mon 10-28 00:00 CET */ },
		{ "week, Sunday last second", VIFD_QUOTA_WEEKLY, 1730069999,
		  1729461600, 1730070000 },
		{ "week, Monday first second", VIFD_QUOTA_WEEKLY, 1730070000,
		  1730070000, 1730070000 + 7 * 86400 },
		/* Month holding a DST change is an hour short. */
		{ "March 2024", VIFD_QUOTA_MONTHLY, 1711879200,
		  1709247600 /* 03-01 00:00 CET */,
		  1711922400 /* 04-01 00:00 CEST */ },
	};

	if (!has_zone(BERLIN))
		return TEST_SKIP;
	return run_periods(BERLIN, c, ARRAY_SIZE(c));
}

static int test_quota_berlin_months(void)
{
	static const struct period_case c[] = {
		/* Dec -> Jan. */
		{ "Dec 31 23:59:59", VIFD_QUOTA_MONTHLY, 1735685999,
		  1733007600 /* 2024-12-01 */, 1735686000 /* 2025-01-01 */ },
		{ "Jan 1 00:00:00", VIFD_QUOTA_MONTHLY, 1735686000, 1735686000,
		  1738364400 /* 2025-02-01 */ },
		{ "Jan 1 00:30 (23:30 UTC Dec 31)", VIFD_QUOTA_MONTHLY,
		  1735687800, 1735686000, 1738364400 },
		{ "New Year day", VIFD_QUOTA_DAILY, 1735687800, 1735686000,
		  1735686000 + 86400 },
		/* The week of New Year: Mon 2024-12-30 to Mon 2025-01-06. */
		{ "New Year week", VIFD_QUOTA_WEEKLY, 1735687800,
		  1735513200, 1736118000 },
		/* February of a leap year has 29 days ... */
		{ "Feb 2024", VIFD_QUOTA_MONTHLY, 1709204400 /* 02-29 12:00 */,
		  1706742000 /* 2024-02-01 */, 1709247600 /* 2024-03-01 */ },
		{ "Feb 29 day", VIFD_QUOTA_DAILY, 1709204400,
		  1709247600 - 86400, 1709247600 },
		/* ... and of a common year 28. */
		{ "Feb 2023", VIFD_QUOTA_MONTHLY, 1677582000 /* 02-28 12:00 */,
		  1675206000 /* 2023-02-01 */, 1677625200 /* 2023-03-01 */ },
	};

	if (!has_zone(BERLIN))
		return TEST_SKIP;
	if (!ASSERT_EQ(1709247600 - 1706742000, 29 * 86400, "29 days") ||
	    !ASSERT_EQ(1677625200 - 1675206000, 28 * 86400, "28 days"))
		return -1;
	return run_periods(BERLIN, c, ARRAY_SIZE(c));
}

static int test_quota_utc(void)
{
	static const struct period_case c[] = {
		/* Wed 2024-05-15 10:00 UTC. */
		{ "day", VIFD_QUOTA_DAILY, 1715767200, 1715731200, 1715817600 },
		{ "week", VIFD_QUOTA_WEEKLY, 1715767200, 1715558400, 1716163200 },
		{ "month", VIFD_QUOTA_MONTHLY, 1715767200, 1714521600,
		  1717200000 },
	};

	/* NULL and "" mean UTC, as does "UTC". */
	if (run_periods(NULL, c, ARRAY_SIZE(c)) ||
	    run_periods("", c, ARRAY_SIZE(c)) ||
	    run_periods("UTC", c, ARRAY_SIZE(c)))
		return -1;
	return 0;
}

/* America/Santiago skipped midnight on 2023-09-03 (00:00 -04 became
 * 01:00 -03): that day starts at 01:00 local, 04:00 UTC. */
static int test_quota_midnight_gap(void)
{
	static const struct period_case c[] = {
		{ "gap day", VIFD_QUOTA_DAILY, 1693753200 /* 09-03 12:00 */,
		  1693713600 /* 09-03 01:00 -03 */,
		  1693796400 /* 09-04 00:00 -03 */ },
		{ "day before", VIFD_QUOTA_DAILY, 1693713599,
		  1693627200 /* 09-02 00:00 -04 */, 1693713600 },
		/* The gap falls on a Sunday: that week is an hour short. */
		{ "week", VIFD_QUOTA_WEEKLY, 1693753200,
		  1693195200 /* Mon 08-28 00:00 -04 */,
		  1693796400 /* Mon 09-04 00:00 -03 */ },
	};

	if (!has_zone("America/Santiago"))
		return TEST_SKIP;
	return run_periods("America/Santiago", c, ARRAY_SIZE(c));
}

/* TZ is put back exactly, set or unset, and localtime agrees. */
static int test_quota_tz_restored(void)
{
	const time_t t = 1715767200; /* 2024-05-15 10:00 UTC */
	int64_t s;
	struct tm tm;
	const char *cur;

	if (!has_zone(BERLIN) || !has_zone("America/New_York"))
		return TEST_SKIP;
	setenv("TZ", "America/New_York", 1);
	tzset();
	if (!ASSERT_OK(quota_period_start(VIFD_QUOTA_DAILY, t, BERLIN, &s),
		       "berlin"))
		goto fail;
	cur = getenv("TZ");
	localtime_r(&t, &tm);
	if (!ASSERT_STR(cur, "America/New_York", "TZ restored") ||
	    !ASSERT_EQ(tm.tm_hour, 6, "New York local time again"))
		goto fail;

	unsetenv("TZ");
	tzset();
	if (!ASSERT_OK(quota_period_start(VIFD_QUOTA_DAILY, t, BERLIN, &s),
		       "berlin 2") ||
	    !ASSERT_TRUE(getenv("TZ") == NULL, "TZ unset again"))
		goto fail;
	/* Failure paths restore too. */
	setenv("TZ", "UTC", 1);
	if (!ASSERT_EQ(quota_period_start(VIFD_QUOTA_DAILY, t, "../etc/x", &s),
		       -EINVAL, "dotdot") ||
	    !ASSERT_EQ(quota_period_start(VIFD_QUOTA_DAILY, t, "/etc/localtime",
					  &s),
		       -EINVAL, "absolute") ||
	    !ASSERT_EQ(quota_period_start(3, t, BERLIN, &s), -EINVAL,
		       "bad period") ||
	    !ASSERT_STR(getenv("TZ"), "UTC", "TZ kept"))
		goto fail;
	unsetenv("TZ");
	return 0;
fail:
	unsetenv("TZ");
	return -1;
}

/* Kill-switch floor blocks: exactly the span of marks, for several bases. */
static int test_mark_blocks(void)
{
	static const __u32 bases[] = { 0x10000, 0, 0x12345, 0xfffff000,
				       UINT32_MAX - VIFD_VLAN_HI };
	struct alloc_mark_block b[ALLOC_MARK_BLOCKS_MAX];
	__u64 m, lo, hi;
	size_t i;
	int n, k, hits;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		n = alloc_mark_blocks(bases[i], b, ALLOC_MARK_BLOCKS_MAX);
		if (!ASSERT_TRUE(n > 0 && n <= 24, "block count"))
			return -1;
		lo = (__u64)bases[i] + VIFD_VLAN_LO;
		hi = (__u64)bases[i] + VIFD_VLAN_HI;
		for (m = lo > 8 ? lo - 8 : 0; m <= hi + 8 && m <= UINT32_MAX;
		     m++) {
			hits = 0;
			for (k = 0; k < n; k++)
				if (((__u32)m & b[k].mask) == b[k].value)
					hits++;
			if (!ASSERT_EQ(hits, m >= lo && m <= hi ? 1 : 0,
				       "mark covered exactly once, or not at all"))
				return -1;
		}
		for (k = 0; k < n; k++)
			if (!ASSERT_TRUE(b[k].value && !(b[k].value & ~b[k].mask),
					 "nonzero, inside its mask"))
				return -1;
	}
	if (!ASSERT_EQ(alloc_mark_blocks(0x10000, b, ALLOC_MARK_BLOCKS_MAX), 20,
		       "default base: 20 blocks") ||
	    !ASSERT_EQ(alloc_mark_blocks(UINT32_MAX, b, ALLOC_MARK_BLOCKS_MAX),
		       -ERANGE, "overflowing base") ||
	    !ASSERT_EQ(alloc_mark_blocks(0x10000, b, 3), -ERANGE, "no room"))
		return -1;
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_vlan_set_format),
	TEST_CASE(test_pool_init_bounds),
	TEST_CASE(test_pool_lowest_free),
	TEST_CASE(test_pool_reserved_skipped),
	TEST_CASE(test_pool_exhaustion),
	TEST_CASE(test_pool_full_range),
	TEST_CASE(test_pool_specific),
	TEST_CASE(test_pool_status_thresholds),
	TEST_CASE(test_pool_resize),
	TEST_CASE(test_addr_vlan24),
	TEST_CASE(test_addr_p2p30),
	TEST_CASE(test_addr_unique),
	TEST_CASE(test_mark_table),
	TEST_CASE(test_ifname_derive),
	TEST_CASE(test_ifname_all_vlans),
	TEST_CASE(test_ifname_valid),
	TEST_CASE(test_ifname_parse_check),
	TEST_CASE(test_vif_fill),
	TEST_CASE(test_mark_blocks),
	TEST_CASE(test_chain_shape),
	TEST_CASE(test_chain_cycles),
	TEST_CASE(test_chain_compose_length),
	TEST_CASE(test_quota_berlin_dst),
	TEST_CASE(test_quota_berlin_months),
	TEST_CASE(test_quota_utc),
	TEST_CASE(test_quota_midnight_gap),
	TEST_CASE(test_quota_tz_restored),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
