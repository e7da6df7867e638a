#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# veth_throughput.sh - trunk -> service throughput of the dataplane over
# veth against a minimal redirect program (benchmarks/veth_pipeline.c).
#
#   veth_throughput.sh [veth_pipeline options: --count N --runs R ...]
#
# Topology, built in a private network namespace (unshare -n) so nothing
# leaks into the host even if the trap cannot run:
#
#   vifgen_tx --> vg<id>a ==veth== vg<id>b  trunk (vif_xdp_trunk | bench_redirect)
#                 vs<id>N ==veth== vk<id>N  sink (vifgen_count), N = 0..3
#
# The trunk redirects into vs<id>N; the veth hands each frame to its peer
# vk<id>N, whose XDP sink counts and drops it.  A redirect into a veth is
# dropped unless the peer runs XDP, hence a sink on every vk and the
# dataplane (or baseline) on vg<id>b.  Exit 77 when not root.
set -u

BUILD=${VIF_BUILD:-$(dirname "$(readlink -f "$0")")/../build}
PIPE=$BUILD/benchmarks/veth_pipeline

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root: skipped" >&2
	exit 77
fi
if [ ! -x "$PIPE" ]; then
	echo "# veth_pipeline not built (set VIF_BUILD): skipped" >&2
	exit 77
fi

# Re-enter in a fresh network namespace; its veths die with it.
if [ -z "${VIF_BENCH_NETNS:-}" ]; then
	VIF_BENCH_NETNS=1 exec unshare -n -- "$0" "$@"
fi

ID=$(printf '%x' $(( $$ % 65536 )))
GEN=vg${ID}a
TRUNK=vg${ID}b
NPORTS=4
LINKS=("$GEN")

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local l

	for l in "${LINKS[@]}"; do
		ip link del "$l" 2>/dev/null
	done
}
trap cleanup EXIT

# No IPv6 autoconf, DAD, MLD or router solicitations: the sinks must count
# generator frames only.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link add "$GEN" type veth peer name "$TRUNK" || exit 1
ARGS=(--gen "$GEN" --trunk "$TRUNK")
for ((n = 0; n < NPORTS; n++)); do
	ip link add "vs${ID}$n" type veth peer name "vk${ID}$n" || exit 1
	LINKS+=("vs${ID}$n")
	ARGS+=(--port "vs${ID}$n" --sink "vk${ID}$n")
done
for l in $(ip -o link show type veth | awk -F'[:@]' '{print $2}'); do
	ip link set "$l" up || exit 1
done

# In the background so that a signal to this script reaches the driver,
# which then detaches and unpins before the trap deletes the links.
"$PIPE" "${ARGS[@]}" "$@" &
CHILD=$!
trap 'kill -TERM "$CHILD" 2>/dev/null' INT TERM
while :; do
	wait "$CHILD"
	rc=$?
	kill -0 "$CHILD" 2>/dev/null || break
done
exit "$rc"
