# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2034
# (SC2034: the globals here are for the test scripts that source us.)
#
# lib.sh - shared harness for the netns integration tests.
#
# Sourced by tests/netns/test_*.sh.  It builds the appliance in miniature
# out of real veth pairs and network namespaces:
#
#   router ns (the MikroTik)        root ns (the appliance)       svc ns x3
#   ------------------------        -----------------------       ---------
#   $IF_TK  <====== 802.1Q =======>  $IF_TR   trunk, XDP trunk
#                                    PORT[a]  service port   <->  SVC[a]
#                                    PORT[b]  (XDP service   <->  SVC[b]
#                                    PORT[c]   + tc mark)    <->  SVC[c]
#   gw ns                            $IF_G0   plain veth     <->  $IF_G1
#
# and drives the dataplane only through the vifdp CLI.  Tests check real
# traffic with tcpdump captures, UDP listeners and vifgen sinks, and the
# dataplane's own counters (vifdp stats -j, quota show -j, parsed by jq).
#
# Everything created carries a per-run tag ($TAG): namespaces vifns-$TAG-*,
# interfaces vp$TAG*, pins under $VIF_PIN_BASE/t-$TAG and gen-$TAG*.  The
# EXIT trap removes all of it, so a run leaves nothing behind and two runs
# in a row (or a run after a crashed one) do not collide.
#
# Rules the topology has to respect:
#  - An XDP redirect into a veth is dropped unless the PEER runs NAPI: an
#    XDP program or GRO on.  Every redirect target here (trunk peer,
#    service ends) gets "gro on".
#  - No 802.1Q module: no VLAN devices, and the tag must stay in the frame
#    (rxvlan/txvlan off) so XDP and tcpdump see it.
#  - "ip netns exec" remounts /sys and hides bpffs: BPF tools that pin run
#    in the root mount namespace (nsenter --net when they need a netns).

set -u

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VIF_BUILD:=$LIB_DIR/../../build}"
VIFDP=$VIF_BUILD/tools/vifdp
VIFGEN=$VIF_BUILD/tools/vifgen
PY=/usr/bin/python3
PKT=$LIB_DIR/vifpkt.py
VIF_PIN_BASE=/sys/fs/bpf/vifplane

KSFT_SKIP=77

# Per-run tag: 4 hex digits, unique enough for names, short enough for
# IFNAMSIZ ("vp" + tag + 2 = 8 characters).
TAG=$(printf '%04x' $(((RANDOM << 1 ^ $$ ^ RANDOM) & 0xffff)))
PIN=$VIF_PIN_BASE/t-$TAG
TMP=

# Second octet of every test subnet, random per run: 10.$O2.<vlan>.0/24.
O2=$((100 + RANDOM % 100))

NS_RTR=vifns-$TAG-rtr
NS_GW=vifns-$TAG-gw
IF_TR=vp${TAG}tr # trunk port, root ns
IF_TK=vp${TAG}tk # its peer in the router ns
IF_G0=vp${TAG}g0 # root ns side of the gw link
IF_G1=vp${TAG}g1 # gw ns side

SVCS="a b c"
declare -A VLAN=([a]=101 [b]=102 [c]=103)
declare -A NS PORT SVC MARK TABLE SVC_MAC PORT_MAC SVC_IP HOST_IP RTR_IP
for s in $SVCS; do
	NS[$s]=vifns-$TAG-$s
	PORT[$s]=vp$TAG"p"$s
	SVC[$s]=vp$TAG"s"$s
	MARK[$s]=$((0x7600 + ${VLAN[$s]}))
	TABLE[$s]=$((27000 + ${VLAN[$s]}))
	SVC_IP[$s]=10.$O2.${VLAN[$s]}.1
	HOST_IP[$s]=10.$O2.${VLAN[$s]}.254
	# What the router has on the VLAN; reached through a static neighbour.
	RTR_IP[$s]=10.$O2.${VLAN[$s]}.2
done
GW_NET=10.$O2.250
RTR_MAC=

# What cleanup() must undo.
CREATED_NS=()
CREATED_IF=()
CREATED_SINKS=()
CLEANUP_CMDS=()
BG_PIDS=()
SAVED_FORWARD=
DP_UP=0

# ---- reporting -------------------------------------------------------

TEST_RC=0

log() { printf '%s\n' "$*"; }
info() { printf '    %s\n' "$*"; }

skip() {
	log "SKIP: $*"
	exit $KSFT_SKIP
}

die() {
	log "ERROR: $*"
	exit 1
}

fail() {
	printf '    FAIL: %s\n' "$*"
	TEST_RC=1
	return 1
}

ok() { printf '    ok: %s\n' "$*"; }

# check_cmp DESC A OP B: integer comparison, OP one of -eq -ne -lt -le -gt -ge.
check_cmp() {
	local desc=$1 a=$2 op=$3 b=$4

	if [[ ! $a =~ ^-?[0-9]+$ ]]; then
		fail "$desc: not a number: '$a'"
		return 1
	fi
	case $op in
	-eq) ((a == b)) ;;
	-ne) ((a != b)) ;;
	-lt) ((a < b)) ;;
	-le) ((a <= b)) ;;
	-gt) ((a > b)) ;;
	-ge) ((a >= b)) ;;
	*) false ;;
	esac || {
		fail "$desc: got $a, want $op $b"
		return 1
	}
	ok "$desc ($a $op $b)"
}

check_eq() { check_cmp "$1" "$2" -eq "$3"; }
check_gt() { check_cmp "$1" "$2" -gt "$3"; }
check_ge() { check_cmp "$1" "$2" -ge "$3"; }
check_le() { check_cmp "$1" "$2" -le "$3"; }

# check_true DESC CMD...: the command must succeed.
check_true() {
	local desc=$1

	shift
	if "$@"; then
		ok "$desc"
		return 0
	fi
	fail "$desc"
}

# ---- requirements ----------------------------------------------------

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

require_cmds() {
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' not installed"
	done
}

require_env() {
	require_root
	require_cmds ip tc ethtool tcpdump jq nsenter sysctl
	[ -x "$PY" ] || skip "$PY not installed"
	if [ ! -x "$VIFDP" ] || [ ! -x "$VIFGEN" ]; then
		skip "vifdp/vifgen not built in '$VIF_BUILD' (set VIF_BUILD)"
	fi
	grep -qs ' /sys/fs/bpf bpf ' /proc/mounts ||
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
		skip "no bpffs on /sys/fs/bpf"
	ip netns list >/dev/null 2>&1 || skip "no netns support in ip"
}

# Native XDP on veth is what the whole suite is about: probe it on a
# scratch pair with the real program rather than trust the kernel version.
require_veth_xdp() {
	local a=vp${TAG}x0 b=vp${TAG}x1 pin=$VIF_PIN_BASE/t-$TAG-probe rc=0

	ip link add "$a" type veth peer name "$b" 2>/dev/null ||
		skip "kernel has no veth"
	"$VIFDP" -d "$pin" -m native trunk attach "$a" >/dev/null 2>&1 || rc=1
	"$VIFDP" -d "$pin" teardown >/dev/null 2>&1
	rm -rf "$pin"
	ip link del "$a" 2>/dev/null
	[ $rc -eq 0 ] || skip "native XDP on veth unavailable"
}

# ---- cleanup ---------------------------------------------------------

cleanup() {
	local i pid

	set +e
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [ $DP_UP -eq 1 ]; then
		"$VIFDP" -d "$PIN" teardown >/dev/null 2>&1 ||
			log "warning: vifdp teardown failed"
		rm -rf "$PIN"
	fi
	for i in "${CREATED_SINKS[@]}"; do
		rm -rf "$VIF_PIN_BASE/gen-$i"
	done
	# Undo in reverse order of registration.
	for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP_CMDS[$i]}" >/dev/null 2>&1
	done
	if [ -n "$SAVED_FORWARD" ]; then
		sysctl -qw net.ipv4.ip_forward="$SAVED_FORWARD"
	fi
	for i in "${CREATED_IF[@]}"; do
		ip link del "$i" 2>/dev/null
	done
	for i in "${CREATED_NS[@]}"; do
		ip netns del "$i" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
}

# on_cleanup CMD: run CMD (a string, eval'd) at exit.
on_cleanup() {
	CLEANUP_CMDS+=("$1")
}

lib_init() {
	require_env
	# 1 in 65536: another run holds our tag.  Touch nothing of it.
	if [ -e "$PIN" ] || [ -e "/run/netns/$NS_RTR" ]; then
		die "tag $TAG is in use by another run; run again"
	fi
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	require_veth_xdp
	TMP=$(mktemp -d "/tmp/vifnetns.$TAG.XXXXXX") || die "mktemp"
	chmod 755 "$TMP"
}

# ---- wrappers --------------------------------------------------------

# Non-BPF commands inside a namespace.
nsx() {
	local ns=$1

	shift
	ip netns exec "$ns" "$@"
}

# BPF commands inside a namespace's network stack but our mount namespace,
# so that they see bpffs.
nsb() {
	local ns=$1

	shift
	nsenter --net="/run/netns/$ns" "$@"
}

dp() { "$VIFDP" -d "$PIN" -m native "$@"; }
dpq() { "$VIFDP" -d "$PIN" -m native "$@" >/dev/null; }

# vif_stat VLAN JQ-PATH: one field of "vifdp stats -j" for a VIF, 0 when the
# VIF has no counters at all.
vif_stat() {
	"$VIFDP" -d "$PIN" -j stats "$1" |
		jq -r --argjson v "$1" \
			"[.vifs[] | select(.vlan == \$v) | $2] | first // 0"
}

global_stat() {
	"$VIFDP" -d "$PIN" -j stats | jq -r ".global | $1"
}

quota_field() {
	"$VIFDP" -d "$PIN" -j quota "$1" show | jq -r ".$2"
}

mac_of() {
	local ns=$1 dev=$2

	if [ "$ns" = - ]; then
		cat "/sys/class/net/$dev/address"
	else
		ip -n "$ns" -j link show dev "$dev" | jq -r '.[0].address'
	fi
}

# xdp_mode DEV: "xdp" (native), "xdpgeneric" or "none", as ip link says.
xdp_mode() {
	local l

	l=$(ip -o link show dev "$1")
	case "$l" in
	*" xdpgeneric "*) echo xdpgeneric ;;
	*" xdp "*) echo xdp ;;
	*) echo none ;;
	esac
}

# tc_mark_on DEV: vif_tc_mark runs as DEV's clsact ingress filter.
tc_mark_on() {
	tc filter show dev "$1" ingress | grep -q vif_tc_mark
}

bg_add() { BG_PIDS+=("$1"); }

bg_forget() {
	local p keep=()

	for p in "${BG_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

# wait_for_file FILE PATTERN [TENTHS]: until FILE contains PATTERN.
wait_for_file() {
	local f=$1 pat=$2 n=${3:-50}

	while ((n-- > 0)); do
		grep -qs -- "$pat" "$f" && return 0
		sleep 0.1
	done
	return 1
}

# ---- captures --------------------------------------------------------

declare -A CAP_PID

# cap_start NAME NS DEV [FILTER...]: tcpdump DEV in NS into $TMP/NAME.pcap;
# returns once tcpdump listens.
cap_start() {
	local name=$1 ns=$2 dev=$3 pid

	shift 3
	rm -f "$TMP/$name.pcap" "$TMP/$name.err"
	# Not through nsx: $! must be tcpdump itself (ip netns exec execs it),
	# not a subshell, so that cap_stop's signal reaches it.
	ip netns exec "$ns" tcpdump -i "$dev" -nn -U --immediate-mode -Z root -s 128 -B 8192 \
		-w "$TMP/$name.pcap" "$@" 2>"$TMP/$name.err" &
	pid=$!
	CAP_PID[$name]=$pid
	bg_add "$pid"
	if ! wait_for_file "$TMP/$name.err" "listening on" 50; then
		cat "$TMP/$name.err" >&2
		die "tcpdump on $ns/$dev did not start"
	fi
}

# cap_stop NAME: give in-flight frames a moment, then stop tcpdump.
cap_stop() {
	local pid=${CAP_PID[$1]}

	sleep 0.3
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	bg_forget "$pid"
	if grep -qs 'dropped by kernel' "$TMP/$1.err" &&
	   ! grep -qs '^0 packets dropped by kernel' "$TMP/$1.err"; then
		info "warning: capture $1 lost frames: $(grep 'dropped by kernel' "$TMP/$1.err")"
	fi
}

# cap_count NAME [FILTER...]: frames in the capture matching FILTER.
cap_count() {
	local name=$1

	shift
	tcpdump -nn -r "$TMP/$name.pcap" "$@" 2>/dev/null | wc -l
}

# cap_show NAME [FILTER...]: the capture with link-level headers.
cap_show() {
	local name=$1

	shift
	tcpdump -nn -e -r "$TMP/$name.pcap" "$@" 2>/dev/null
}

# ---- traffic ---------------------------------------------------------

# udp_send SVC DST PORT [ARGS...]: vifpkt.py udp-send from a service ns;
# prints the number of datagrams sent.
udp_send() {
	local s=$1 dst=$2 port=$3

	shift 3
	nsx "${NS[$s]}" "$PY" "$PKT" udp-send --dst "$dst" --port "$port" "$@"
}

# udp_recv_start NAME NS PORT TIMEOUT: a UDP listener in NS that stops
# TIMEOUT seconds after the last datagram.  udp_recv_wait NAME waits for it
# and leaves the count in RECV_COUNT (not printed: "wait" only works on
# our own children, never from inside a $(...) subshell).
declare -A RECV_PID
RECV_COUNT=

udp_recv_start() {
	local name=$1 ns=$2 port=$3 timeout=$4 pid

	rm -f "$TMP/$name.ready" "$TMP/$name.count"
	ip netns exec "$ns" "$PY" "$PKT" udp-recv --port "$port" \
		--timeout "$timeout" --ready "$TMP/$name.ready" \
		>"$TMP/$name.count" &
	pid=$!
	RECV_PID[$name]=$pid
	bg_add "$pid"
	wait_for_file "$TMP/$name.ready" ready 50 ||
		die "UDP listener $name did not start"
}

udp_recv_wait() {
	local pid=${RECV_PID[$1]}

	wait "$pid" 2>/dev/null
	bg_forget "$pid"
	RECV_COUNT=$(cat "$TMP/$1.count")
}

# ---- topology --------------------------------------------------------

ns_add() {
	ip netns add "$1" || die "ip netns add $1"
	CREATED_NS+=("$1")
	ip -n "$1" link set lo up
	# IPv4 only: no router solicitations or MLD reports muddying counts.
	nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
}

# veth_add ROOT_IF NS NS_IF: a pair with one end moved into NS.
veth_add() {
	ip link add "$1" type veth peer name "$3" netns "$2" ||
		die "veth $1/$3"
	CREATED_IF+=("$1")
	sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
	ethtool -K "$1" rxvlan off txvlan off >/dev/null 2>&1
	nsx "$2" ethtool -K "$3" rxvlan off txvlan off gro on >/dev/null 2>&1 ||
		die "ethtool -K $3 gro on"
}

# A service end must not leave L4 checksums to "hardware": XDP sees the
# frame, not the skb, so a CHECKSUM_PARTIAL frame that the service program
# redirects (to the trunk or a chain hop) goes out with the pseudo-header
# sum only and the receiver drops it.  vifd has to do the same when it
# provisions a service.  VIF_SVC_TX_CSUM=on keeps the offload to show it.
svc_csum_setup() {
	[ "${VIF_SVC_TX_CSUM:-off}" = on ] && return 0
	nsx "$1" ethtool -K "$2" tx off >/dev/null 2>&1 ||
		die "ethtool -K $2 tx off"
}

topo_setup() {
	local s v

	ns_add "$NS_RTR"
	veth_add "$IF_TR" "$NS_RTR" "$IF_TK"
	ip link set "$IF_TR" up
	ip -n "$NS_RTR" link set "$IF_TK" up
	RTR_MAC=$(mac_of "$NS_RTR" "$IF_TK")

	for s in $SVCS; do
		v=${VLAN[$s]}
		ns_add "${NS[$s]}"
		veth_add "${PORT[$s]}" "${NS[$s]}" "${SVC[$s]}"
		svc_csum_setup "${NS[$s]}" "${SVC[$s]}"
		ip addr add "${HOST_IP[$s]}/24" dev "${PORT[$s]}"
		ip link set "${PORT[$s]}" up
		ip -n "${NS[$s]}" addr add "${SVC_IP[$s]}/24" dev "${SVC[$s]}"
		ip -n "${NS[$s]}" link set "${SVC[$s]}" up
		ip -n "${NS[$s]}" route add default via "${HOST_IP[$s]}"
		ip -n "${NS[$s]}" neigh replace "${RTR_IP[$s]}" \
			lladdr "$RTR_MAC" dev "${SVC[$s]}" nud permanent
		SVC_MAC[$s]=$(mac_of "${NS[$s]}" "${SVC[$s]}")
		PORT_MAC[$s]=$(mac_of - "${PORT[$s]}")
	done

	ns_add "$NS_GW"
	veth_add "$IF_G0" "$NS_GW" "$IF_G1"
	ip addr add "$GW_NET.1/24" dev "$IF_G0"
	ip link set "$IF_G0" up
	ip -n "$NS_GW" addr add "$GW_NET.2/24" dev "$IF_G1"
	ip -n "$NS_GW" link set "$IF_G1" up
}

dp_setup() {
	local s v

	DP_UP=1
	dpq trunk attach "$IF_TR" || die "vifdp trunk attach"
	for s in $SVCS; do
		v=${VLAN[$s]}
		dpq port attach "${PORT[$s]}" || die "vifdp port attach"
		dpq vif add "$v" port "${PORT[$s]}" addr "${SVC_IP[$s]}/24" \
			host "${HOST_IP[$s]}" mark "${MARK[$s]}" \
			table "${TABLE[$s]}" svc-mac "${SVC_MAC[$s]}" ||
			die "vifdp vif add $v"
	done
	for s in "$IF_TR" "${PORT[@]}"; do
		[ "$(xdp_mode "$s")" = xdp ] ||
			die "$s: XDP not attached in native mode ($(xdp_mode "$s"))"
	done
}

# Every VIF back to its plain state and all counters zeroed; run before
# each test so that no test depends on another's leftovers.
dp_reset() {
	local s v

	for s in $SVCS; do
		v=${VLAN[$s]}
		dpq killswitch "$v" off
		dpq chain "$v" none
		dpq quota "$v" set 0
	done
	dpq stats clear
}

# ---- runner ----------------------------------------------------------

# run_tests [NAMES...]: the named tests, else $TESTS, else $ALL_TESTS.
run_tests() {
	local t passed=0 failed=0 failed_names=""
	local list=${*:-${TESTS:-$ALL_TESTS}}

	for t in $list; do
		log "TEST: $t"
		TEST_RC=0
		dp_reset
		if declare -F "$t" >/dev/null; then
			"$t"
		else
			fail "no such test function: $t"
		fi
		if [ $TEST_RC -eq 0 ]; then
			log "PASS: $t"
			passed=$((passed + 1))
		else
			log "FAIL: $t"
			failed=$((failed + 1))
			failed_names+=" $t"
		fi
	done
	log "$passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
	[ $failed -eq 0 ]
}
