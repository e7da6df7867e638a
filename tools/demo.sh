#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# demo.sh [BUILD_DIR] - vifd running an appliance on a netns topology, shown
# with vifctl:
#
#   ns vdd-rtr (the MikroTik side)         root ns (the appliance: vifd)
#     vdd-r0  <== 802.1Q trunk veth ==>     vdd-t0   trunk, XDP
#   ns vdd-tor   service end  <== veth ==>  port     VIF tor      (VLAN 101,
#                                                     SOCKS5 gateway vdd-tun0)
#   ns vdd-sbx   service end  <== veth ==>  port     VIF singbox  (VLAN 102)
#   ns vdd-xray  service end  <== veth ==>  port     VIF xray     (VLAN 103)
#
# vifd creates the VIFs (veths, addresses, fwmark rules and tables, XDP
# ports, dataplane entries); the demo only makes the namespaces, the trunk
# and a stand-in SOCKS5 server, and counts frames with XDP sinks.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
VIFD=$build/control/vifd
VIFCTL=$build/tools/vifctl
VIFDP=$build/tools/vifdp
VIFGEN=$build/tools/vifgen
PIN=/sys/fs/bpf/vifplane/demo-vifd
P=vdd
TMP=
VIFD_PID=
SOCKS_PID=
RTR_IP_SUFFIX=200

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root (netns, XDP)" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$VIFCTL" -s "$TMP/vifd.sock" "$@"; }
in_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }

cleanup() {
    set +e
    if [ -n "$VIFD_PID" ] && kill -0 "$VIFD_PID" 2>/dev/null; then
        ctl chain clear singbox >/dev/null 2>&1
        for v in tor singbox xray; do ctl vif delete "$v" >/dev/null 2>&1; done
        kill -TERM "$VIFD_PID"; wait "$VIFD_PID" 2>/dev/null
    fi
    [ -n "$SOCKS_PID" ] && kill "$SOCKS_PID" 2>/dev/null
    for ns in rtr tor sbx xray; do
        [ -e /run/netns/$P-$ns ] || continue
        for dev in $(ip -n $P-$ns -br link show | awk '{sub(/@.*/, "", $1); print $1}'); do
            in_ns $P-$ns "$VIFGEN" sink detach --dev "$dev" --pin "$P-$ns" >/dev/null 2>&1
        done
    done
    [ -d "$PIN" ] && "$VIFDP" -d "$PIN" teardown >/dev/null 2>&1
    ip link del $P-t0 2>/dev/null
    ip link del $P-tun0 2>/dev/null
    for ns in rtr tor sbx xray; do ip netns del $P-$ns 2>/dev/null; done
    [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
cleanup
TMP=$(mktemp -d /tmp/vifd-demo.XXXXXX)

# Frames the router side saw tagged with VLAN $1.
rtr_count() {
    "$VIFGEN" sink read --pin $P-rtr --json | jq -r ".by_vlan[\"$1\"] // 0"
}
# Frames a service end received.
svc_count() {
    "$VIFGEN" sink read --pin "$P-$1" --json | jq -r .packets
}
# n UDP datagrams from a service to the router's address on its VIF.
udp_burst() {
    local ns=$1 dst=$2 n=$3
    ip netns exec "$ns" bash -c \
        "for ((i=0;i<$n;i++)); do echo demo >/dev/udp/$dst/9; done" 2>/dev/null || true
}

say "Topology: a router namespace on an 802.1Q trunk, three service namespaces"
ip netns add $P-rtr
ip link add $P-t0 type veth peer name $P-r0 netns $P-rtr
ip link set $P-t0 up
ethtool -K $P-t0 rxvlan off txvlan off >/dev/null 2>&1 || true
in_ns $P-rtr ip link set $P-r0 up
in_ns $P-rtr ethtool -K $P-r0 rxvlan off txvlan off >/dev/null 2>&1 || true
RTR_MAC=$(ip -n $P-rtr -j link show $P-r0 | jq -r '.[0].address')
for ns in tor sbx xray; do ip netns add $P-$ns; ip -n $P-$ns link set lo up; done

# Tor's gateway: a tun device and a stand-in for tun2socks + SOCKS5: one
# process that holds the tun open (carrier up) and answers the SOCKS5
# greeting as a real server would.  Killing it takes both down.
ip tuntap add $P-tun0 mode tun
ip link set $P-tun0 up
SOCKS_PORT=$((20000 + RANDOM % 20000))
/usr/bin/python3 - "$SOCKS_PORT" "$P-tun0" <<'PY' &
import fcntl, os, socket, struct, sys
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, 0x400454ca, struct.pack("16sH", sys.argv[2].encode(), 0x1001))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept()
    try:
        if c.recv(3) == b"\x05\x01\x00":
            c.sendall(b"\x05\x00")
    finally:
        c.close()
PY
SOCKS_PID=$!

say "Start vifd (trunk $P-t0, VLAN pool 101-199, 10.100.<vlan>.0/24)"
cat >"$TMP/vifd.conf" <<EOF
[daemon]
state_dir = $TMP/state
socket_path = $TMP/vifd.sock
[dataplane]
trunk = $P-t0
pin_dir = $PIN
[pool]
vlan_pool = 101-199
scheme = vlan24
EOF
"$VIFD" --check-config -c "$TMP/vifd.conf" && echo "config OK"
"$VIFD" -f -c "$TMP/vifd.conf" 2>"$TMP/vifd.log" &
VIFD_PID=$!
for _ in $(seq 50); do ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
ctl ping

say "Create three VIFs through the change pipeline"
ctl vif create tor vlan 101 netns $P-tor gateway socks5 $P-tun0 127.0.0.1:$SOCKS_PORT
ctl vif create singbox vlan 102 netns $P-sbx
ctl vif create xray vlan 103 netns $P-xray
ctl vif list

# Counters: an XDP sink on the router side and on every service end (they
# pass frames on).  The router's address on each VIF is a static
# neighbour in the service, as a real router would answer ARP.
in_ns $P-rtr "$VIFGEN" sink attach --dev $P-r0 --pin $P-rtr --pass
declare -A SVC_END VLAN=([tor]=101 [sbx]=102 [xray]=103) NAME=([tor]=tor [sbx]=singbox [xray]=xray)
for s in tor sbx xray; do
    SVC_END[$s]=$(ctl -j vif show "${NAME[$s]}" | jq -r '.vif.peer_ifname // .peer_ifname')
    in_ns $P-$s "$VIFGEN" sink attach --dev "${SVC_END[$s]}" --pin "$P-$s" --pass
    ip -n $P-$s neigh replace 10.100.${VLAN[$s]}.$RTR_IP_SUFFIX lladdr "$RTR_MAC" \
        dev "${SVC_END[$s]}" nud permanent
done

say "Gateway health: tor's SOCKS5 gateway is up, its kill switch released"
sleep 2
ctl gateway status
ctl killswitch show

say "Trunk -> services: 30000 tagged frames from the router, 10000 per VLAN"
in_ns $P-rtr "$VIFGEN" send --dev $P-r0 --count 30000 --vlan-base 101 --vlans 3 \
    --dst 02:00:00:00:00:02
sleep 0.3
for s in tor sbx xray; do echo "${NAME[$s]} received $(svc_count $s) frames (VLAN ${VLAN[$s]} only)"; done

say "Services -> trunk: 300 UDP datagrams from each service to the router"
for s in tor sbx xray; do udp_burst $P-$s 10.100.${VLAN[$s]}.$RTR_IP_SUFFIX 300; done
sleep 0.3
for v in 101 102 103; do echo "router saw $(rtr_count $v) frames tagged VLAN $v"; done

say "Chain: singbox -> xray"
ctl chain set singbox xray
ctl chain list
before_x=$(svc_count xray); before_t=$(rtr_count 102)
udp_burst $P-sbx 10.100.102.$RTR_IP_SUFFIX 200
sleep 0.3
echo "xray received $(( $(svc_count xray) - before_x )) of singbox's frames;" \
     "the trunk saw $(( $(rtr_count 102) - before_t )) more VLAN 102 frames"
ctl chain clear singbox

say "Gateway failure: tor's SOCKS5 server dies; the kill switch engages"
kill "$SOCKS_PID"; wait "$SOCKS_PID" 2>/dev/null || true; SOCKS_PID=
t0=$(date +%s%N)
for _ in $(seq 40); do
    [ "$(ctl -j vif show tor | jq -r '(.vif // .).killswitch.engaged // (.vif // .).ks_engaged')" = true ] && break
    sleep 0.1
done
echo "kill switch engaged $(( ($(date +%s%N) - t0) / 1000000 )) ms after the gateway died"
ctl gateway status
before=$(rtr_count 101)
udp_burst $P-tor 10.100.101.$RTR_IP_SUFFIX 2000
sleep 0.3
echo "frames tor leaked to the trunk while engaged: $(( $(rtr_count 101) - before ))"
sleep 1.2 # vifd samples the dataplane's counters once a second
ctl stats tor

say "Quota: xray may send 20 kB a day, then it is blocked"
ctl quota set xray 20K daily block tx
before=$(rtr_count 103)
udp_burst $P-xray 10.100.103.$RTR_IP_SUFFIX 1000
sleep 1.5
echo "frames through before the block: $(( $(rtr_count 103) - before )) of 1000"
ctl quota show xray

say "Events (the control socket's resumable stream)"
ctl events --since 0 | tail -12

say "Per-VIF statistics"
sleep 1.2
ctl stats
