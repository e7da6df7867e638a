// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_abi.c - pin the ABI of include/vif_abi.h.
 *
 * Exporters read the pinned maps with their own copy of these layouts, and
 * a dataplane from an older build may still be running when a newer vifd
 * opens its maps.  So every offset, size and number here is a promise:
 * this file fails to compile when one moves.  Changing a layout means
 * bumping VIF_ABI_VERSION and then this file, in the same commit.
 */
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "harness.h"
#include "vif_abi.h"

#define FIELD_SIZE(type, field) sizeof(((struct type *)0)->field)

/* Offset and width of one field; both are part of the ABI. */
#define ABI_FIELD(type, field, off, size)                                  \
	_Static_assert(offsetof(struct type, field) == (off),              \
		       #type "." #field " moved");                         \
	_Static_assert(FIELD_SIZE(type, field) == (size),                  \
		       #type "." #field " changed width")

#define ABI_SIZE(type, size)                                               \
	_Static_assert(sizeof(struct type) == (size), #type " size changed")

/* Layouts: one line per field, in declaration order, no holes. */
ABI_FIELD(vif_entry, gen, 0, 4);
ABI_FIELD(vif_entry, flags, 4, 4);
ABI_FIELD(vif_entry, quota_limit, 8, 8);
ABI_FIELD(vif_entry, vlan, 16, 2);
ABI_FIELD(vif_entry, next_hop, 18, 2);
ABI_FIELD(vif_entry, svc_ifindex, 20, 4);
ABI_FIELD(vif_entry, mark, 24, 4);
ABI_FIELD(vif_entry, table, 28, 4);
ABI_FIELD(vif_entry, addr, 32, 4);
ABI_FIELD(vif_entry, subnet, 36, 4);
ABI_FIELD(vif_entry, netmask, 40, 4);
ABI_FIELD(vif_entry, host_addr, 44, 4);
ABI_FIELD(vif_entry, svc_mac, 48, 6);
ABI_FIELD(vif_entry, port_mac, 54, 6);
ABI_FIELD(vif_entry, quota_epoch, 60, 4);
ABI_SIZE(vif_entry, 64);

ABI_FIELD(vif_dp_config, abi_version, 0, 4);
ABI_FIELD(vif_dp_config, trunk_ifindex, 4, 4);
ABI_FIELD(vif_dp_config, flags, 8, 4);
ABI_FIELD(vif_dp_config, quota_slice, 12, 4);
ABI_SIZE(vif_dp_config, 16);

ABI_FIELD(vif_stats, rx_packets, 0, 8);
ABI_FIELD(vif_stats, rx_bytes, 8, 8);
ABI_FIELD(vif_stats, tx_packets, 16, 8);
ABI_FIELD(vif_stats, tx_bytes, 24, 8);
ABI_FIELD(vif_stats, host_packets, 32, 8);
ABI_FIELD(vif_stats, chain_packets, 40, 8);
ABI_FIELD(vif_stats, drops, 48, 8 * 17);
ABI_FIELD(vif_stats, pad, 48 + 8 * 17, 8);
ABI_SIZE(vif_stats, 192);

ABI_FIELD(vif_global_stats, trunk_rx_packets, 0, 8);
ABI_FIELD(vif_global_stats, svc_rx_packets, 8, 8);
ABI_FIELD(vif_global_stats, drops, 16, 8 * 17);
ABI_FIELD(vif_global_stats, pad, 16 + 8 * 17, 8);
ABI_SIZE(vif_global_stats, 160);

ABI_FIELD(vif_quota_shared, granted, 0, 8);
ABI_SIZE(vif_quota_shared, 8);

ABI_FIELD(vif_quota_pcpu, used, 0, 8);
ABI_FIELD(vif_quota_pcpu, slice_left, 8, 8);
ABI_FIELD(vif_quota_pcpu, epoch, 16, 4);
ABI_FIELD(vif_quota_pcpu, pad, 20, 4);
ABI_SIZE(vif_quota_pcpu, 24);

ABI_FIELD(vif_xdp_meta, magic, 0, 4);
ABI_FIELD(vif_xdp_meta, mark, 4, 4);
ABI_SIZE(vif_xdp_meta, 8);

ABI_FIELD(vif_port, vlan, 0, 2);
ABI_FIELD(vif_port, pad, 2, 2);
ABI_SIZE(vif_port, 4);

/*
 * Per-CPU values are laid out back to back at 8-byte strides by the
 * kernel; the counters and the quota grant are updated with 64-bit
 * (atomic) adds, which need natural alignment.
 */
_Static_assert(alignof(struct vif_entry) == 8, "vif_entry alignment");
_Static_assert(alignof(struct vif_stats) == 8, "vif_stats alignment");
_Static_assert(alignof(struct vif_global_stats) == 8,
	       "vif_global_stats alignment");
_Static_assert(alignof(struct vif_quota_shared) == 8,
	       "vif_quota_shared alignment");
_Static_assert(alignof(struct vif_quota_pcpu) == 8,
	       "vif_quota_pcpu alignment");

/* Signedness is ABI too: slice_left goes negative by design. */
_Static_assert((__typeof__(((struct vif_quota_pcpu *)0)->slice_left))-1 < 0,
	       "slice_left must be signed");

/* Numbers written into maps and read by other programs. */
_Static_assert(VIF_ABI_VERSION == 1, "ABI version");
_Static_assert(VIF_VLAN_MIN == 1 && VIF_VLAN_MAX == 4094, "VLAN range");
_Static_assert(VIF_VLAN_SLOTS == 4096, "per-VLAN map size");
_Static_assert(VIF_POLICY_SLOTS == 2 * 4096, "policy map size");
_Static_assert(VIF_PORT_SLOTS == 65536 && VIF_MAX_BIG_PORTS == 8192,
	       "ports map sizes");
_Static_assert(VIF_QUOTA_SLICE_DEFAULT == 16384, "default quota slice");
_Static_assert(VIF_META_MAGIC == 0x76696631u, "metadata magic");

_Static_assert(VIF_F_ACTIVE == 0x01 && VIF_F_KILLSWITCH == 0x02 &&
		       VIF_F_QUOTA_BLOCK == 0x04 && VIF_F_QUOTA_RX == 0x08 &&
		       VIF_F_QUOTA_TX == 0x10,
	       "vif_entry flag bits");
_Static_assert(VIF_F_ALL == 0x1f, "VIF_F_ALL covers every flag");
_Static_assert(VIF_CFG_ALLOW_QINQ == 0x01, "config flag bits");

/* Drop reasons index exported counter arrays: append only. */
_Static_assert(VIF_DROP_MALFORMED == 0, "drop reason number");
_Static_assert(VIF_DROP_UNTAGGED == 1, "drop reason number");
_Static_assert(VIF_DROP_PRIO_TAG == 2, "drop reason number");
_Static_assert(VIF_DROP_VID_RESERVED == 3, "drop reason number");
_Static_assert(VIF_DROP_QINQ == 4, "drop reason number");
_Static_assert(VIF_DROP_UNKNOWN_VLAN == 5, "drop reason number");
_Static_assert(VIF_DROP_UNKNOWN_PORT == 6, "drop reason number");
_Static_assert(VIF_DROP_NO_TRUNK == 7, "drop reason number");
_Static_assert(VIF_DROP_INACTIVE == 8, "drop reason number");
_Static_assert(VIF_DROP_QUOTA == 9, "drop reason number");
_Static_assert(VIF_DROP_SPOOF == 10, "drop reason number");
_Static_assert(VIF_DROP_KILLSWITCH == 11, "drop reason number");
_Static_assert(VIF_DROP_CHAIN_DOWN == 12, "drop reason number");
_Static_assert(VIF_DROP_SVC_TAGGED == 13, "drop reason number");
_Static_assert(VIF_DROP_PROTO == 14, "drop reason number");
_Static_assert(VIF_DROP_NO_ROOM == 15, "drop reason number");
_Static_assert(VIF_DROP_POLICY_BUSY == 16, "drop reason number");
_Static_assert(VIF_DROP__MAX == 17, "drop reason count");

/* The kernel limits object names to BPF_OBJ_NAME_LEN (16) with the NUL. */
#define MAP_NAME_FITS(n) _Static_assert(sizeof(n) <= 16, n " too long")
MAP_NAME_FITS(VIF_MAP_CONFIG);
MAP_NAME_FITS(VIF_MAP_INDEX);
MAP_NAME_FITS(VIF_MAP_POLICY);
MAP_NAME_FITS(VIF_MAP_PORTS);
MAP_NAME_FITS(VIF_MAP_PORTS_BIG);
MAP_NAME_FITS(VIF_MAP_STATS);
MAP_NAME_FITS(VIF_MAP_GLOBAL);
MAP_NAME_FITS(VIF_MAP_QUOTA_SHARED);
MAP_NAME_FITS(VIF_MAP_QUOTA_PCPU);

/* Exporters open the maps by these names: they cannot change silently. */
static int test_map_names(void)
{
	static const struct {
		const char *got, *want;
	} names[] = {
		{ VIF_MAP_CONFIG, "vif_config" },
		{ VIF_MAP_INDEX, "vif_index" },
		{ VIF_MAP_POLICY, "vif_policy" },
		{ VIF_MAP_PORTS, "vif_ports" },
		{ VIF_MAP_PORTS_BIG, "vif_ports_big" },
		{ VIF_MAP_STATS, "vif_stats" },
		{ VIF_MAP_GLOBAL, "vif_global" },
		{ VIF_MAP_QUOTA_SHARED, "vif_quota_shr" },
		{ VIF_MAP_QUOTA_PCPU, "vif_quota_pcpu" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!ASSERT_TRUE(!strcmp(names[i].got, names[i].want),
				 names[i].want))
			return -1;
	return 0;
}

static int test_pin_paths(void)
{
	if (!ASSERT_TRUE(!strcmp(VIF_PIN_ROOT, "/sys/fs/bpf"),
			 "VIF_PIN_ROOT") ||
	    !ASSERT_TRUE(!strcmp(VIF_PIN_BASE, "/sys/fs/bpf/vifplane"),
			 "VIF_PIN_BASE") ||
	    !ASSERT_TRUE(!strcmp(VIF_PIN_DIR, "/sys/fs/bpf/vifplane/dp"),
			 "VIF_PIN_DIR"))
		return -1;
	return 0;
}

/* vif_index packs (generation << 1) | slot; both sides decode it. */
static int test_index_macros(void)
{
	__u32 v = VIF_INDEX_MAKE(5u, 1u);

	if (!ASSERT_EQ(v, 11, "MAKE(5, 1)") ||
	    !ASSERT_EQ(VIF_INDEX_GEN(v), 5, "GEN") ||
	    !ASSERT_EQ(VIF_INDEX_SLOT(v), 1, "SLOT") ||
	    /* Only the low bit of the slot argument is used. */
	    !ASSERT_EQ(VIF_INDEX_MAKE(5u, 2u), 10, "MAKE(5, 2)") ||
	    !ASSERT_EQ(VIF_INDEX_GEN(0xffffffffu), 0x7fffffffu, "GEN max") ||
	    !ASSERT_EQ(VIF_INDEX_SLOT(0xfffffffeu), 0, "SLOT even"))
		return -1;
	return 0;
}

/*
 * The magic is "vif1" read as a big-endian word; tcpdump and exporters on
 * this little-endian host see the bytes "1fiv" in front of the frame.
 */
static int test_meta_magic(void)
{
	struct vif_xdp_meta m = { .magic = VIF_META_MAGIC };
	__u32 probe = 1;

	if (*(__u8 *)&probe != 1)
		return TEST_SKIP; /* big-endian host: the spelling differs */
	return ASSERT_MEM_EQ(&m.magic, "1fiv", 4, "magic bytes") ? 0 : -1;
}

static const struct test_case cases[] = {
	TEST_CASE(test_map_names),
	TEST_CASE(test_pin_paths),
	TEST_CASE(test_index_macros),
	TEST_CASE(test_meta_magic),
};

int main(void)
{
	return harness_run(cases, ARRAY_SIZE(cases));
}
