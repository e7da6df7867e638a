#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo-dataplane.sh [BUILD_DIR] - the XDP dataplane alone, driven by hand with
# vifdp (no vifd), on a netns topology:
#
#   ns vdm-rtr (the MikroTik side)          root ns (the appliance)
#     vdm-r0  <== 802.1Q trunk veth ==>      vdm-t0   XDP vif_xdp_trunk
#   ns vdm-a   vdm-sa <== veth ==>           vdm-pa   VIF 101  (Tor)
#   ns vdm-b   vdm-sb <== veth ==>           vdm-pb   VIF 102  (sing-box)
#   ns vdm-c   vdm-sc <== veth ==>           vdm-pc   VIF 103  (Xray)
#
# The router side counts what reaches it per VLAN (an XDP sink on vdm-r0);
# each service end counts what it receives.  Everything is removed on exit.
set -euo pipefail

build=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
VIFDP="$build/tools/vifdp"
VIFGEN="$build/tools/vifgen"
PIN=/sys/fs/bpf/vifplane/demo
P=vdm

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root (netns, XDP)" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
dp() { "$VIFDP" -d "$PIN" "$@"; }
in_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }

cleanup() {
    set +e
    for s in a b c; do
        in_ns $P-$s "$VIFGEN" sink detach --dev $P-s$s --pin $P-$s >/dev/null 2>&1
    done
    in_ns $P-rtr "$VIFGEN" sink detach --dev $P-r0 --pin $P-rtr >/dev/null 2>&1
    in_ns $P-gw "$VIFGEN" sink detach --dev $P-g1 --pin $P-gw >/dev/null 2>&1
    ip rule del fwmark $((0x10065)) table 1101 priority 1101 2>/dev/null
    ip route flush table 1101 2>/dev/null
    [ -n "${old_fwd:-}" ] && echo "$old_fwd" >/proc/sys/net/ipv4/ip_forward
    [ -d "$PIN" ] && dp teardown >/dev/null 2>&1
    for n in t0 pa pb pc g0; do ip link del $P-$n 2>/dev/null; done
    for ns in rtr a b c gw; do ip netns del $P-$ns 2>/dev/null; done
}
trap cleanup EXIT
cleanup

mac_of() {
    ip -n "$1" -o link show "$2" |
        awk '{ for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1) }'
}

# Router count of frames tagged VLAN $1 seen on the trunk peer.
rtr_count() {
    "$VIFGEN" sink read --pin $P-rtr --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['by_vlan'].get('$1',0))"
}
svc_count() {
    "$VIFGEN" sink read --pin $P-$1 --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['packets'])"
}
# n UDP datagrams from a service to an address on its VIF's subnet.
udp_burst() {
    local ns=$1 dst=$2 n=$3
    ip netns exec "$ns" bash -c \
        "for ((i=0;i<$n;i++)); do echo demo >/dev/udp/$dst/9; done" 2>/dev/null || true
}

say "Topology: router namespace on an 802.1Q trunk, three services"
ip netns add $P-rtr
ip link add $P-t0 type veth peer name $P-r0 netns $P-rtr
ip link set $P-t0 up
in_ns $P-rtr ip link set $P-r0 up
for dev in $P-t0; do ethtool -K $dev rxvlan off txvlan off >/dev/null 2>&1 || true; done
in_ns $P-rtr ethtool -K $P-r0 rxvlan off txvlan off >/dev/null 2>&1 || true
RTR_MAC=$(mac_of $P-rtr $P-r0)

vlan_of=(["0"]=101 ["1"]=102 ["2"]=103)
i=0
for s in a b c; do
    v=${vlan_of[$i]}
    ip netns add $P-$s
    ip link add $P-p$s type veth peer name $P-s$s netns $P-$s
    ip link set $P-p$s up
    ip addr add 10.100.$v.254/24 dev $P-p$s
    in_ns $P-$s ip link set lo up
    in_ns $P-$s ip link set $P-s$s up
    # XDP cannot finish a checksum the sender left to offload: services
    # behind XDP send with tx checksumming off (vifd does the same).
    in_ns $P-$s ethtool -K $P-s$s tx off >/dev/null 2>&1 || true
    in_ns $P-$s ip addr add 10.100.$v.1/24 dev $P-s$s
    # The router's address on the VIF, as the service's neighbour.
    in_ns $P-$s ip neigh add 10.100.$v.200 lladdr "$RTR_MAC" dev $P-s$s
    i=$((i + 1))
done
ip -br link show | grep "^$P-" || true

say "Attach the dataplane (native XDP) and create VIFs 101, 102, 103"
dp trunk attach $P-t0
for s in a b c; do dp port attach $P-p$s; done
i=0
for s in a b c; do
    v=${vlan_of[$i]}
    dp vif add $v port $P-p$s addr 10.100.$v.1/24 host 10.100.$v.254 \
        mark $((0x10000 + v)) table $((1000 + v)) svc-mac "$(mac_of $P-$s $P-s$s)"
    i=$((i + 1))
done
dp vif show
ip -d link show $P-t0 | grep -o 'prog/xdp id [0-9]*' | sed 's/^/trunk: /'

# Counters: an XDP sink on the router side and on every service end (the
# sinks pass frames on, so the services' kernels still see them).
in_ns $P-rtr "$VIFGEN" sink attach --dev $P-r0 --pin $P-rtr --pass
for s in a b c; do in_ns $P-$s "$VIFGEN" sink attach --dev $P-s$s --pin $P-$s --pass; done

say "Trunk -> services: 30000 tagged frames from the router, 10000 per VLAN"
in_ns $P-rtr "$VIFGEN" send --dev $P-r0 --count 30000 --vlan-base 101 --vlans 3 \
    --dst 02:00:00:00:00:02
sleep 0.3
for s in a b c; do echo "service $s received $(svc_count $s) frames"; done
echo "(each saw only its own VLAN: isolation)"

say "Services -> trunk: 500 UDP datagrams from each service"
i=0
for s in a b c; do udp_burst $P-$s 10.100.${vlan_of[$i]}.200 500; i=$((i + 1)); done
sleep 0.3
for v in 101 102 103; do echo "router saw $(rtr_count $v) frames tagged VLAN $v"; done

say "Chain: VIF 102 (sing-box) -> VIF 103 (Xray)"
before_c=$(svc_count c); before_t=$(rtr_count 102)
dp chain 102 103
udp_burst $P-b 10.100.102.200 300
sleep 0.3
echo "service c received $(( $(svc_count c) - before_c )) frames from b's chain;" \
     "router saw $(( $(rtr_count 102) - before_t )) more VLAN 102 frames"
dp chain 102 none

say "Kill switch: VIF 101's gateway fails, the switch engages"
before=$(rtr_count 101)
dp killswitch 101 on
udp_burst $P-a 10.100.101.200 2000
sleep 0.3
echo "frames leaked to the trunk while engaged: $(( $(rtr_count 101) - before ))"
dp -j stats 101 | python3 -c "import json,sys; d=json.load(sys.stdin)['vifs'][0]; print('killswitch drops:', d['drops']['killswitch'])"
dp killswitch 101 off
before=$(rtr_count 101)
udp_burst $P-a 10.100.101.200 100
sleep 0.3
echo "released: $(( $(rtr_count 101) - before )) frames reach the trunk again"

say "Quota: VIF 103 may send 20000 bytes, then it is blocked"
dp quota 103 set 20000 dir tx action block
before=$(rtr_count 103)
udp_burst $P-c 10.100.103.200 1000
sleep 0.3
dp quota 103 show
echo "frames through before the block: $(( $(rtr_count 103) - before ))"
dp quota 103 reset
before=$(rtr_count 103)
udp_burst $P-c 10.100.103.200 10
sleep 0.3
echo "after reset: $(( $(rtr_count 103) - before )) frames through"

say "Routing mark: VIF 101's traffic via the host follows table 1101 (fwmark rule)"
# A gateway namespace reachable only through table 1101, as a VIF's tunnel
# would be; the main table has no route to 198.51.100.0/24.
ip netns add $P-gw
ip link add $P-g0 type veth peer name $P-g1 netns $P-gw
ip addr add 10.99.0.1/30 dev $P-g0
ip link set $P-g0 up
in_ns $P-gw ip addr add 10.99.0.2/30 dev $P-g1
in_ns $P-gw ip link set $P-g1 up
in_ns $P-gw "$VIFGEN" sink attach --dev $P-g1 --pin $P-gw --pass
old_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
echo 1 >/proc/sys/net/ipv4/ip_forward
ip route add default via 10.99.0.2 dev $P-g0 table 1101
ip rule add fwmark $((0x10065)) table 1101 priority 1101
in_ns $P-a ip route add 198.51.100.0/24 via 10.100.101.254
ip neigh replace 10.99.0.2 lladdr "$(mac_of $P-gw $P-g1)" dev $P-g0
udp_burst $P-a 198.51.100.7 50
sleep 0.3
echo "with the rule: the gateway received $(svc_count gw) datagrams (mark $(printf 0x%x $((0x10065))) -> table 1101)"
ip rule del fwmark $((0x10065)) table 1101 priority 1101
before=$(svc_count gw)
udp_burst $P-a 198.51.100.7 50
sleep 0.3
echo "without it:    the gateway received $(( $(svc_count gw) - before )) more"
echo "$old_fwd" >/proc/sys/net/ipv4/ip_forward

say "Per-VIF statistics"
dp stats
