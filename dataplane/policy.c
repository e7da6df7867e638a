// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* policy.c - VIF spec validation and vif_entry construction. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

__be32 policy_netmask(__u8 prefix_len)
{
	if (prefix_len == 0)
		return 0;
	if (prefix_len >= 32)
		return 0xffffffffu;
	return htonl(~((1u << (32 - prefix_len)) - 1));
}

static bool mac_is_zero(const __u8 mac[6])
{
	static const __u8 zero[6];

	return !memcmp(mac, zero, 6);
}

#define REJECT(...)                                                        \
	do {                                                               \
		if (err)                                                   \
			snprintf(err, errlen, __VA_ARGS__);                \
		return -EINVAL;                                            \
	} while (0)

int policy_validate(const struct vif_spec *s, char *err, size_t errlen)
{
	__be32 mask;

	if (!policy_vlan_valid(s->vlan))
		REJECT("VLAN %u out of range %u-%u", s->vlan, VIF_VLAN_MIN,
		       VIF_VLAN_MAX);
	if (!s->svc_ifindex)
		REJECT("VIF %u has no service port", s->vlan);
	if (s->prefix_len < 8 || s->prefix_len > 32)
		REJECT("VIF %u: prefix length /%u outside /8../32", s->vlan,
		       s->prefix_len);
	if (!s->addr)
		REJECT("VIF %u has no service address", s->vlan);
	mask = policy_netmask(s->prefix_len);
	if (s->host_addr && (s->host_addr & mask) != (s->addr & mask))
		REJECT("VIF %u: host address outside the VIF's subnet", s->vlan);
	if (s->host_addr && s->host_addr == s->addr)
		REJECT("VIF %u: host address equals the service address",
		       s->vlan);
	if (s->next_hop) {
		if (!policy_vlan_valid(s->next_hop))
			REJECT("VIF %u: chain next hop %u out of range",
			       s->vlan, s->next_hop);
		if (s->next_hop == s->vlan)
			REJECT("VIF %u: chain next hop is the VIF itself",
			       s->vlan);
	}
	if (s->quota_flags & ~VIF_QUOTA_FLAGS)
		REJECT("VIF %u: unknown quota flags 0x%x", s->vlan,
		       s->quota_flags & ~VIF_QUOTA_FLAGS);
	if (s->quota_limit &&
	    !(s->quota_flags & (VIF_F_QUOTA_RX | VIF_F_QUOTA_TX)))
		REJECT("VIF %u: quota set but no direction counted", s->vlan);
	if (mac_is_zero(s->port_mac))
		REJECT("VIF %u: service port MAC unknown", s->vlan);
	return 0;
}

void policy_entry_from_spec(const struct vif_spec *s, __u32 gen,
			    __u32 quota_epoch, struct vif_entry *out)
{
	__be32 mask = policy_netmask(s->prefix_len);

	memset(out, 0, sizeof(*out));
	out->gen = gen;
	out->flags = (s->active ? VIF_F_ACTIVE : 0) |
		     (s->killswitch ? VIF_F_KILLSWITCH : 0) |
		     (s->quota_flags & VIF_QUOTA_FLAGS);
	out->quota_limit = s->quota_limit;
	out->vlan = s->vlan;
	out->next_hop = s->next_hop;
	out->svc_ifindex = s->svc_ifindex;
	out->mark = s->mark;
	out->table = s->table;
	out->addr = s->addr;
	out->netmask = mask;
	out->subnet = s->addr & mask;
	out->host_addr = s->host_addr;
	memcpy(out->svc_mac, s->svc_mac, 6);
	memcpy(out->port_mac, s->port_mac, 6);
	out->quota_epoch = quota_epoch;
}

int policy_parse_cidr(const char *s, __be32 *addr, __u8 *prefix_len)
{
	char buf[INET_ADDRSTRLEN + 4], *slash, *end;
	struct in_addr in;
	long len = 32;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || len < 0 || len > 32)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	*addr = in.s_addr;
	*prefix_len = (__u8)len;
	return 0;
}

int policy_parse_mac(const char *s, __u8 mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
			 &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (__u8)b[i];
	return 0;
}
