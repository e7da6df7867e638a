// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_policy.c - dataplane/policy.{c,h}: spec validation, entry
 * construction, netmasks, CIDR/MAC parsing and double-buffer index math.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "policy.h"

static __be32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* A VIF every rule accepts; each rejection below breaks exactly one rule. */
static void good_spec(struct vif_spec *s)
{
	static const __u8 svc[6] = { 0x02, 0, 0, 0, 0xa0, 0x02 };
	static const __u8 port[6] = { 0x02, 0, 0, 0, 0xa0, 0x01 };

	memset(s, 0, sizeof(*s));
	s->vlan = 100;
	s->svc_ifindex = 7;
	s->mark = 0x100;
	s->table = 1100;
	s->addr = ip4("10.1.0.2");
	s->prefix_len = 24;
	s->host_addr = ip4("10.1.0.1");
	memcpy(s->svc_mac, svc, 6);
	memcpy(s->port_mac, port, 6);
	s->active = true;
}

/* One broken rule each; the rest of the spec stays good. */
enum mutation {
	M_VLAN_0,
	M_VLAN_4095,
	M_NO_PORT,
	M_PREFIX_7,
	M_PREFIX_33,
	M_NO_ADDR,
	M_HOST_OUTSIDE,
	M_HOST_IS_ADDR,
	M_HOP_4095,
	M_HOP_SELF,
	M_QFLAG_ACTIVE,
	M_QFLAG_HIGH,
	M_QUOTA_NO_DIR,
	M_NO_PORT_MAC,
	/* Edges on the accepting side. */
	A_VLAN_1,
	A_VLAN_4094,
	A_PREFIX_8,
	A_PREFIX_32,
	A_NO_HOST,
	A_HOP_1,
	A_HOP_4094,
	A_QUOTA_RX,
	A_QUOTA_TX,
	A_FLAGS_NO_LIMIT,
	A_INACTIVE_KS,
};

static void mutate(struct vif_spec *s, enum mutation m)
{
	switch (m) {
	case M_VLAN_0:
		s->vlan = 0;
		break;
	case M_VLAN_4095:
		s->vlan = 4095;
		break;
	case M_NO_PORT:
		s->svc_ifindex = 0;
		break;
	case M_PREFIX_7:
		s->prefix_len = 7;
		break;
	case M_PREFIX_33:
		s->prefix_len = 33;
		break;
	case M_NO_ADDR:
		s->addr = 0;
		break;
	case M_HOST_OUTSIDE:
		s->host_addr = ip4("10.2.0.1");
		break;
	case M_HOST_IS_ADDR:
		s->host_addr = s->addr;
		break;
	case M_HOP_4095:
		s->next_hop = 4095;
		break;
	case M_HOP_SELF:
		s->next_hop = s->vlan;
		break;
	case M_QFLAG_ACTIVE:
		s->quota_flags = VIF_F_ACTIVE | VIF_F_QUOTA_RX;
		break;
	case M_QFLAG_HIGH:
		s->quota_flags = 1u << 5;
		break;
	case M_QUOTA_NO_DIR:
		s->quota_limit = 1000;
		s->quota_flags = VIF_F_QUOTA_BLOCK;
		break;
	case M_NO_PORT_MAC:
		memset(s->port_mac, 0, 6);
		break;
	case A_VLAN_1:
		s->vlan = 1;
		break;
	case A_VLAN_4094:
		s->vlan = 4094;
		break;
	case A_PREFIX_8:
		s->prefix_len = 8;
		break;
	case A_PREFIX_32:
		/* A /32 has no room for a host address. */
		s->prefix_len = 32;
		s->host_addr = 0;
		break;
	case A_NO_HOST:
		s->host_addr = 0;
		break;
	case A_HOP_1:
		s->next_hop = 1;
		break;
	case A_HOP_4094:
		s->next_hop = 4094;
		break;
	case A_QUOTA_RX:
		s->quota_limit = 1;
		s->quota_flags = VIF_F_QUOTA_RX | VIF_F_QUOTA_BLOCK;
		break;
	case A_QUOTA_TX:
		s->quota_limit = ~0ull;
		s->quota_flags = VIF_F_QUOTA_TX;
		break;
	case A_FLAGS_NO_LIMIT:
		s->quota_flags = VIF_F_QUOTA_BLOCK;
		break;
	case A_INACTIVE_KS:
		s->active = false;
		s->killswitch = true;
		break;
	}
}

struct reject {
	const char *desc;
	enum mutation m;
	const char *why; /* must appear in the message: the right rule fired */
};

static const struct reject rejects[] = {
	{ "VLAN 0 is the priority tag", M_VLAN_0, "VLAN 0 out of range" },
	{ "VLAN 4095 is reserved", M_VLAN_4095, "VLAN 4095 out of range" },
	{ "no service port", M_NO_PORT, "no service port" },
	{ "prefix shorter than /8", M_PREFIX_7, "prefix length /7" },
	{ "prefix longer than /32", M_PREFIX_33, "prefix length /33" },
	{ "no service address", M_NO_ADDR, "no service address" },
	{ "host address outside the subnet", M_HOST_OUTSIDE,
	  "outside the VIF's subnet" },
	{ "host address is the service's", M_HOST_IS_ADDR,
	  "equals the service address" },
	{ "next hop VLAN 4095", M_HOP_4095, "next hop 4095 out of range" },
	{ "next hop is the VIF itself", M_HOP_SELF,
	  "next hop is the VIF itself" },
	{ "non-quota bit in quota flags", M_QFLAG_ACTIVE,
	  "unknown quota flags 0x1" },
	{ "unknown high quota flag", M_QFLAG_HIGH, "unknown quota flags 0x20" },
	{ "quota limit without direction", M_QUOTA_NO_DIR,
	  "no direction counted" },
	{ "service port MAC unknown", M_NO_PORT_MAC, "port MAC unknown" },
};

static int test_validate_good(void)
{
	struct vif_spec s;
	char err[128] = "";

	good_spec(&s);
	if (!ASSERT_EQ(policy_validate(&s, err, sizeof(err)), 0, err))
		return -1;
	/* err may be NULL when the caller does not want a reason. */
	return ASSERT_EQ(policy_validate(&s, NULL, 0), 0, "NULL err") ? 0 : -1;
}

static int test_validate_rejects(void)
{
	char err[128];
	struct vif_spec s;
	size_t i;
	int fail = 0;

	for (i = 0; i < ARRAY_SIZE(rejects); i++) {
		good_spec(&s);
		mutate(&s, rejects[i].m);
		err[0] = '\0';
		if (!ASSERT_EQ(policy_validate(&s, err, sizeof(err)), -EINVAL,
			       rejects[i].desc) ||
		    !ASSERT_TRUE(strstr(err, rejects[i].why),
				 rejects[i].desc)) {
			fprintf(stderr, "  message: '%s', want '%s'\n", err,
				rejects[i].why);
			fail = -1;
		}
		/* A NULL buffer still gets the verdict. */
		if (!ASSERT_EQ(policy_validate(&s, NULL, 0), -EINVAL,
			       rejects[i].desc))
			fail = -1;
	}
	return fail;
}

/* The message is cut to the buffer, never past it. */
static int test_validate_err_truncated(void)
{
	char err[8];
	struct vif_spec s;

	good_spec(&s);
	mutate(&s, M_NO_PORT);
	memset(err, 'x', sizeof(err));
	if (!ASSERT_EQ(policy_validate(&s, err, sizeof(err)), -EINVAL,
		       "verdict"))
		return -1;
	return ASSERT_EQ(strlen(err), sizeof(err) - 1, "truncated") ? 0 : -1;
}

/* The edges of every rule, on the accepting side. */
static int test_validate_boundaries(void)
{
	static const struct {
		const char *desc;
		enum mutation m;
	} accepts[] = {
		{ "VLAN 1", A_VLAN_1 },
		{ "VLAN 4094", A_VLAN_4094 },
		{ "prefix /8", A_PREFIX_8 },
		{ "prefix /32 without host", A_PREFIX_32 },
		{ "no host address", A_NO_HOST },
		{ "next hop 1", A_HOP_1 },
		{ "next hop 4094", A_HOP_4094 },
		{ "rx quota, block", A_QUOTA_RX },
		{ "tx quota, alert only", A_QUOTA_TX },
		{ "quota flags without limit", A_FLAGS_NO_LIMIT },
		{ "inactive with kill switch", A_INACTIVE_KS },
	};
	char err[128];
	struct vif_spec s;
	size_t i;
	int fail = 0;

	for (i = 0; i < ARRAY_SIZE(accepts); i++) {
		good_spec(&s);
		mutate(&s, accepts[i].m);
		err[0] = '\0';
		if (!ASSERT_EQ(policy_validate(&s, err, sizeof(err)), 0,
			       accepts[i].desc)) {
			fprintf(stderr, "  message: '%s'\n", err);
			fail = -1;
		}
	}
	return fail;
}

static int test_entry_from_spec(void)
{
	struct vif_entry got, want = {
		.gen = 7,
		.flags = VIF_F_ACTIVE | VIF_F_KILLSWITCH | VIF_F_QUOTA_BLOCK |
			 VIF_F_QUOTA_RX,
		.quota_limit = 123456789012ull,
		.vlan = 100,
		.next_hop = 200,
		.svc_ifindex = 7,
		.mark = 0x100,
		.table = 1100,
		.addr = ip4("10.1.0.130"),
		.subnet = ip4("10.1.0.128"),
		.netmask = ip4("255.255.255.192"),
		.host_addr = ip4("10.1.0.129"),
		.svc_mac = { 0x02, 0, 0, 0, 0xa0, 0x02 },
		.port_mac = { 0x02, 0, 0, 0, 0xa0, 0x01 },
		.quota_epoch = 42,
	};
	struct vif_spec s;

	good_spec(&s);
	s.addr = ip4("10.1.0.130");
	s.prefix_len = 26;
	s.host_addr = ip4("10.1.0.129");
	s.next_hop = 200;
	s.killswitch = true;
	s.quota_limit = 123456789012ull;
	s.quota_flags = VIF_F_QUOTA_BLOCK | VIF_F_QUOTA_RX;
	/* Poison: every byte of the entry must be written. */
	memset(&got, 0xa5, sizeof(got));
	policy_entry_from_spec(&s, 7, 42, &got);
	return ASSERT_MEM_EQ(&got, &want, sizeof(got), "entry") ? 0 : -1;
}

/* Only quota bits pass through quota_flags; active/kill come from bools. */
static int test_entry_flags_masked(void)
{
	struct vif_entry e;
	struct vif_spec s;

	good_spec(&s);
	s.active = false;
	s.killswitch = false;
	s.quota_flags = VIF_F_ACTIVE | VIF_F_KILLSWITCH | VIF_F_QUOTA_TX |
			(1u << 7);
	policy_entry_from_spec(&s, 0, 0, &e);
	if (!ASSERT_EQ(e.flags, VIF_F_QUOTA_TX, "foreign bits dropped"))
		return -1;

	good_spec(&s);
	policy_entry_from_spec(&s, 0, 0, &e);
	return ASSERT_EQ(e.flags, VIF_F_ACTIVE, "active only") ? 0 : -1;
}

static int test_netmask(void)
{
	static const struct {
		__u8 len;
		const char *mask;
	} t[] = {
		{ 0, "0.0.0.0" },
		{ 1, "128.0.0.0" },
		{ 8, "255.0.0.0" },
		{ 9, "255.128.0.0" },
		{ 24, "255.255.255.0" },
		{ 31, "255.255.255.254" },
		{ 32, "255.255.255.255" },
		/* Out of range clamps to a host mask, never shifts by 32+. */
		{ 33, "255.255.255.255" },
		{ 255, "255.255.255.255" },
	};
	size_t i;
	int fail = 0;

	for (i = 0; i < ARRAY_SIZE(t); i++)
		if (!ASSERT_EQ(ntohl(policy_netmask(t[i].len)),
			       ntohl(ip4(t[i].mask)), t[i].mask))
			fail = -1;
	return fail;
}

static int test_parse_cidr_good(void)
{
	static const struct {
		const char *in, *addr;
		__u8 len;
	} t[] = {
		{ "10.1.0.2/24", "10.1.0.2", 24 },
		{ "10.1.0.2", "10.1.0.2", 32 },
		{ "0.0.0.0/0", "0.0.0.0", 0 },
		{ "255.255.255.255/32", "255.255.255.255", 32 },
		{ "192.0.2.1/08", "192.0.2.1", 8 }, /* decimal, not octal */
	};
	size_t i;
	int fail = 0;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		__be32 addr = 0;
		__u8 len = 99;

		if (!ASSERT_EQ(policy_parse_cidr(t[i].in, &addr, &len), 0,
			       t[i].in) ||
		    !ASSERT_EQ(addr, ip4(t[i].addr), t[i].in) ||
		    !ASSERT_EQ(len, t[i].len, t[i].in))
			fail = -1;
	}
	return fail;
}

static int test_parse_cidr_bad(void)
{
	static const char *const bad[] = {
		"",
		"/24",
		"10.1.0.2/",
		"10.1.0.2/33",
		"10.1.0.2/-1",
		"10.1.0.2/24x",
		"10.1.0.2/24/8",
		"10.1.0/24",
		"10.1.0.256/24",
		"10.1.0.2 /24",
		"2001:db8::1/64",
		"host.example/24",
		"255.255.255.255/32xxxxxxxxx", /* longer than any CIDR */
	};
	size_t i;
	int fail = 0;

	if (!ASSERT_EQ(policy_parse_cidr(NULL, NULL, NULL), -EINVAL, "NULL"))
		fail = -1;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		__be32 addr = 0xdeadbeef;
		__u8 len = 99;

		/* Outputs stay untouched on failure. */
		if (!ASSERT_EQ(policy_parse_cidr(bad[i], &addr, &len), -EINVAL,
			       bad[i]) ||
		    !ASSERT_EQ(addr, 0xdeadbeef, bad[i]) ||
		    !ASSERT_EQ(len, 99, bad[i]))
			fail = -1;
	}
	return fail;
}

static int test_parse_mac(void)
{
	static const char *const bad[] = {
		"",
		"02:00:00:00:a0",
		"02:00:00:00:a0:01:02",
		"02:00:00:00:a0:01 ",
		"02-00-00-00-a0-01",
		"02:00:00:00:a0:0g",
		"zz:00:00:00:a0:01",
		"002:00:00:00:a0:01",
	};
	static const __u8 want1[6] = { 0x02, 0, 0, 0, 0xa0, 0x01 };
	static const __u8 want2[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	static const __u8 want3[6] = { 0, 1, 2, 3, 4, 0xf };
	__u8 mac[6];
	size_t i;
	int fail = 0;

	if (!ASSERT_EQ(policy_parse_mac("02:00:00:00:a0:01", mac), 0,
		       "lower") ||
	    !ASSERT_MEM_EQ(mac, want1, 6, "lower") ||
	    !ASSERT_EQ(policy_parse_mac("AA:BB:CC:DD:EE:FF", mac), 0,
		       "upper") ||
	    !ASSERT_MEM_EQ(mac, want2, 6, "upper") ||
	    !ASSERT_EQ(policy_parse_mac("0:1:2:3:4:f", mac), 0, "short") ||
	    !ASSERT_MEM_EQ(mac, want3, 6, "short"))
		fail = -1;

	if (!ASSERT_EQ(policy_parse_mac(NULL, mac), -EINVAL, "NULL"))
		fail = -1;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(mac, 0x5a, sizeof(mac));
		if (!ASSERT_EQ(policy_parse_mac(bad[i], mac), -EINVAL, bad[i]))
			fail = -1;
	}
	return fail;
}

/*
 * The double buffer: every step moves to the next generation and to the
 * other slot, so a writer never fills the slot readers are using.
 */
static int test_index_next(void)
{
	__u32 cur = 0, next;
	int i;

	if (!ASSERT_EQ(policy_index_next(0), VIF_INDEX_MAKE(1u, 1u),
		       "0 -> 3") ||
	    !ASSERT_EQ(policy_index_next(3), VIF_INDEX_MAKE(2u, 0u), "3 -> 4"))
		return -1;
	for (i = 0; i < 1000; i++) {
		next = policy_index_next(cur);
		if (!ASSERT_EQ(VIF_INDEX_GEN(next), VIF_INDEX_GEN(cur) + 1,
			       "generation advances") ||
		    !ASSERT_TRUE(VIF_INDEX_SLOT(next) != VIF_INDEX_SLOT(cur),
				 "slot alternates") ||
		    !ASSERT_TRUE(policy_slot_key(4094, next) !=
					 policy_slot_key(4094, cur),
				 "writer slot is not the live one"))
			return -1;
		cur = next;
	}
	/* At the generation wrap the slot still alternates. */
	next = policy_index_next(0xffffffffu);
	if (!ASSERT_EQ(VIF_INDEX_SLOT(next), 0, "wrap slot") ||
	    !ASSERT_EQ(VIF_INDEX_GEN(next), 0, "wrap generation"))
		return -1;
	return 0;
}

static int test_slot_key(void)
{
	if (!ASSERT_EQ(policy_slot_key(100, VIF_INDEX_MAKE(9u, 0u)), 200,
		       "slot 0") ||
	    !ASSERT_EQ(policy_slot_key(100, VIF_INDEX_MAKE(9u, 1u)), 201,
		       "slot 1") ||
	    !ASSERT_EQ(policy_slot_key(1, 0), 2, "VLAN 1") ||
	    /* The last key of the policy map: 4095 * 2 + 1. */
	    !ASSERT_EQ(policy_slot_key(VIF_VLAN_SLOTS - 1, 1),
		       VIF_POLICY_SLOTS - 1, "last slot") ||
	    /* Keys are 32-bit: no 16-bit overflow for high VLANs. */
	    !ASSERT_EQ(policy_slot_key(4094, 0xffffffffu), 8189, "4094/1"))
		return -1;
	return 0;
}

static int test_vlan_valid(void)
{
	if (!ASSERT_TRUE(!policy_vlan_valid(0), "0") ||
	    !ASSERT_TRUE(policy_vlan_valid(1), "1") ||
	    !ASSERT_TRUE(policy_vlan_valid(4094), "4094") ||
	    !ASSERT_TRUE(!policy_vlan_valid(4095), "4095") ||
	    !ASSERT_TRUE(!policy_vlan_valid(4096 + 100), "4196") ||
	    !ASSERT_TRUE(!policy_vlan_valid(~0u), "~0"))
		return -1;
	return 0;
}

static const struct test_case cases[] = {
	TEST_CASE(test_validate_good),
	TEST_CASE(test_validate_rejects),
	TEST_CASE(test_validate_err_truncated),
	TEST_CASE(test_validate_boundaries),
	TEST_CASE(test_entry_from_spec),
	TEST_CASE(test_entry_flags_masked),
	TEST_CASE(test_netmask),
	TEST_CASE(test_parse_cidr_good),
	TEST_CASE(test_parse_cidr_bad),
	TEST_CASE(test_parse_mac),
	TEST_CASE(test_index_next),
	TEST_CASE(test_slot_key),
	TEST_CASE(test_vlan_valid),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
