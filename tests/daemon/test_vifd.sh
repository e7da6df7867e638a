#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck disable=SC2016
# (SC2016: the single-quoted $ are jq's and bash -c's, not ours.)
#
# test_vifd.sh - vifd's integration suite: the real daemon on real network
# namespaces, veths and native XDP, driven through its control socket.
#
#   test_bad_input        malformed JSON, 2 MiB lines, wrong types, unknown
#                         commands, bad vif.create arguments, clients that
#                         vanish mid-request or never read, 50 (and 72)
#                         connections at once: clear errors, vifd serving
#                         throughout and its RSS flat
#   test_traffic          tagged frames from the router reach only their
#                         VIF's service (captures, a UDP socket); service
#                         UDP leaves on the trunk tagged, with a valid
#                         checksum; vifctl stats counts exactly that
#   test_killswitch       SOCKS5 gateway RUNNING -> server killed -> FAILED
#                         within 2 s, kill switch engaged, zero frames
#                         leaked, also across a kill -9 of vifd; events;
#                         server back -> released, traffic flows again
#   test_crash_create     kill -9 at many points of a vif.create and of a
#                         100-VIF change set (and inside the recovery that
#                         follows): after a restart no CREATING/REMOVING
#                         VIF, nothing orphaned, no half-applied change set
#   test_commit_confirmed kill -9 inside a commit-confirmed window: rolled
#                         back on time after the restart; down past the
#                         deadline: rolled back at once; confirmed in time
#                         (across a crash too): stays
#
# Usage: test_vifd.sh [TEST...]   (default: all of ALL_TESTS; or TESTS=...)
#
# The appliance is a network namespace of its own ($NS_HOST): vifd runs in
# it (nsenter --net, so bpffs stays visible) with a private config, state
# dir, socket and pin dir.  A vifd owns every "vp<vlan>"/"vs<vlan>" veth
# and every pref-9000 fwmark rule of its netns (control/vifmgr.h,
# "Ownership") and sweeps the ones it does not know at start: in the root
# netns two vifds (this suite, the smoke test, the demo) would delete each
# other's VIFs.  Its own netns isolates it both ways, and makes every check
# for orphans exact (everything of that form in $NS_HOST is this vifd's).
#
#   router ns $NS_RTR             appliance ns $NS_HOST (vifd)
#   $IF_TK  <===== 802.1Q ======>  $IF_TR  trunk, XDP
#                                  vp<v>-<name> <-> vs<v>-<name>  per VIF,
#                                  service end here or in $NS_SVC / $NS_GWS
#                                  $TUN (tun held open), SOCKS5 on 127.0.0.1
#
# Needs root, jq, tcpdump, ethtool, nsenter, /usr/bin/python3 and native
# XDP on veth; exits 77 (skip) otherwise.  Binaries come from $VIF_BUILD
# (default: ../../build next to this file).  Everything it creates carries
# a per-run tag and goes in the EXIT trap, so it runs twice in a row.

set -u

KSFT_SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VIF_BUILD:=$HERE/../../build}"
VIFD=$VIF_BUILD/control/vifd
VIFCTL=$VIF_BUILD/tools/vifctl
VIFDP=$VIF_BUILD/tools/vifdp
VIFGEN=$VIF_BUILD/tools/vifgen
PY=/usr/bin/python3
CLIENT=$HERE/vifd_client.py
PKT=$HERE/../netns/vifpkt.py

ALL_TESTS="
	test_bad_input
	test_traffic
	test_killswitch
	test_crash_create
	test_commit_confirmed
	test_apply_cooperative
"

TAG=$(printf '%04x' $(((RANDOM << 1 ^ $$ ^ RANDOM) & 0xffff)))
NS_HOST=vifd-$TAG      # the appliance: vifd and its VIFs' host ends
NS_RTR=vifd-$TAG-rtr   # the MikroTik
NS_SVC=vifd-$TAG-svc   # a service namespace (test_traffic)
NS_GWS=vifd-$TAG-gws   # a gateway VIF's service namespace (test_killswitch)
IF_TR=vdk${TAG}0       # trunk, in $NS_HOST
IF_TK=vdk${TAG}1       # its peer, in $NS_RTR
TUN=vft$TAG            # gateway tun, in $NS_HOST (not vifd's "vt<vlan>")
PIN=/sys/fs/bpf/vifplane/vifd-$TAG
# vlan24 scheme: VLAN v is 10.100.v.0/24, service .1, host .254; the
# router stands at .2.  Default mark and table bases.
POOL_LO=100
POOL_HI=299
MARK_BASE=$((0x10000))
TABLE_BASE=1000
RULE_PREF=9000 # VIFMGR_RULE_PRIORITY
FLOOR_PREF=9001 # VIFMGR_FLOOR_PRIORITY: the kill switch's blackhole rules
UDP_PORT=$((20000 + RANDOM % 20000))
SOCKS_PORT=$((40000 + RANDOM % 20000))

TMP=
VIFD_PID=
LOG=
BG_PIDS=()
CS_LAST=0 # highest change set id known to exist
TEST_RC=0

# ---- reporting ----------------------------------------------------------

log() { printf '%s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }

fail() {
	printf '    FAIL: %s\n' "$*"
	TEST_RC=1
	return 1
}

skip() {
	log "SKIP: $*"
	exit $KSFT_SKIP
}

# check DESC CMD...: CMD must succeed.
check() {
	local desc=$1

	shift
	if "$@"; then
		ok "$desc"
		return 0
	fi
	fail "$desc"
}

# check_cmp DESC A OP B: integer comparison (-eq -ne -lt -le -gt -ge).
check_cmp() {
	local desc=$1 a=$2 op=$3 b=$4

	if [[ ! $a =~ ^-?[0-9]+$ ]]; then
		fail "$desc: not a number: '$a'"
		return 1
	fi
	if ! test "$a" "$op" "$b"; then
		fail "$desc: got $a, want $op $b"
		return 1
	fi
	ok "$desc ($a $op $b)"
}

check_eq() { check_cmp "$1" "$2" -eq "$3"; }

# check_jq DESC JSON FILTER [JQ ARGS...]: jq -e FILTER on JSON holds.
check_jq() {
	local desc=$1 json=$2

	shift 2
	if jq -e "$@" >/dev/null 2>&1 <<<"$json"; then
		ok "$desc"
		return 0
	fi
	fail "$desc: $(head -c 600 <<<"$json")"
}

# ---- processes and namespaces -------------------------------------------

bg_add() { BG_PIDS+=("$1"); }

bg_kill() {
	local p keep=()

	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	for p in "${BG_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

hx() { ip netns exec "$NS_HOST" "$@"; }  # non-BPF tools in the appliance
hnet() { nsenter --net="/run/netns/$NS_HOST" "$@"; } # BPF tools there
ctl() { "$VIFCTL" -s "$TMP/vifd.sock" -t 30 "$@"; }
ctlq() { ctl "$@" >/dev/null; }
client() { "$PY" "$CLIENT" -s "$TMP/vifd.sock" -t 10 "$@"; }

vifd_alive() {
	[ -n "$VIFD_PID" ] && kill -0 "$VIFD_PID" 2>/dev/null
}

vifd_rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$VIFD_PID/status" 2>/dev/null
}

# start_vifd: vifd -f in $NS_HOST; wait (10 s) until it answers a ping.
start_vifd() {
	local i

	printf -- '---- vifd start %s\n' "$(date +%T.%N)" >>"$LOG"
	# Not through hnet: $! must be vifd itself (nsenter execs it), not a
	# subshell, so that kill -9 is the daemon's crash.
	nsenter --net="/run/netns/$NS_HOST" "$VIFD" -f -c "$TMP/vifd.conf" \
		>>"$LOG" 2>&1 &
	VIFD_PID=$!
	for i in $(seq 1 100); do
		if ! vifd_alive; then
			wait "$VIFD_PID"
			info "vifd exited early with $?"
			VIFD_PID=
			return 1
		fi
		ctl ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	info "vifd did not answer within 10 s"
	return 1
}

# kill9_vifd: the crash.
kill9_vifd() {
	vifd_alive || return 0
	kill -KILL "$VIFD_PID"
	wait "$VIFD_PID" 2>/dev/null
	printf -- '---- vifd killed (-9) %s\n' "$(date +%T.%N)" >>"$LOG"
	VIFD_PID=
}

stop_vifd() {
	local i

	vifd_alive || return 0
	kill -TERM "$VIFD_PID"
	for i in $(seq 1 100); do
		vifd_alive || break
		sleep 0.1
	done
	vifd_alive && kill -KILL "$VIFD_PID"
	wait "$VIFD_PID" 2>/dev/null
	VIFD_PID=
}

# restart_vifd DESC: start it again; a failure to start fails the test.
restart_vifd() {
	start_vifd && return 0
	fail "$1: vifd starts again"
	tail -n 20 "$LOG" | sed 's/^/#   /'
	return 1
}

cleanup() {
	local p

	set +e
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	stop_vifd
	if [ -d "$PIN" ] && [ -e "/run/netns/$NS_HOST" ]; then
		hnet "$VIFDP" -d "$PIN" teardown >/dev/null 2>&1
	fi
	[ -d "$PIN" ] && rm -rf "$PIN"
	for p in "$NS_SVC" "$NS_GWS" "$NS_RTR" "$NS_HOST"; do
		ip netns del "$p" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
}

wait_exists() {
	local f=$1 n=${2:-50}

	while ((n-- > 0)); do
		[ -e "$f" ] && return 0
		sleep 0.1
	done
	return 1
}

wait_for_file() {
	local f=$1 pat=$2 n=${3:-50}

	while ((n-- > 0)); do
		grep -qs -- "$pat" "$f" && return 0
		sleep 0.1
	done
	return 1
}

# ---- captures (tcpdump in a namespace) ----------------------------------

declare -A CAP_PID

# cap_start NAME NS DEV [FILTER...]; returns once tcpdump listens.
cap_start() {
	local name=$1 ns=$2 dev=$3

	shift 3
	rm -f "$TMP/$name.pcap" "$TMP/$name.err"
	ip netns exec "$ns" tcpdump -i "$dev" -nn -U --immediate-mode -Z root \
		-s 256 -B 8192 -w "$TMP/$name.pcap" "$@" 2>"$TMP/$name.err" &
	CAP_PID[$name]=$!
	bg_add "${CAP_PID[$name]}"
	wait_for_file "$TMP/$name.err" "listening on" 50 && return 0
	fail "tcpdump on $ns/$dev did not start: $(cat "$TMP/$name.err")"
}

cap_stop() {
	sleep 0.3
	bg_kill "${CAP_PID[$1]}"
}

# cap_count NAME [FILTER...]: frames in the capture matching FILTER.
cap_count() {
	local name=$1

	shift
	tcpdump -nn -r "$TMP/$name.pcap" "$@" 2>/dev/null | wc -l
}

cap_show() {
	local name=$1

	shift
	tcpdump -nn -e -r "$TMP/$name.pcap" "$@" 2>/dev/null
}

# ---- vifd state ---------------------------------------------------------

# vif_json NAME: vif show -j, or nothing when there is no such VIF.
vif_json() {
	ctl -j vif show "$1" 2>/dev/null | jq -ce 'select(.name)' 2>/dev/null
}

vif_field() {
	ctl -j vif show "$1" 2>/dev/null | jq -r "$2" 2>/dev/null
}

# cs_state ID: a change set's state, "none" when vifd does not know it.
cs_state() {
	ctl -j changeset status "$1" 2>/dev/null |
		jq -r '.changeset.state // "none"' 2>/dev/null || echo none
}

# cs_newest: the highest change set id vifd has stored (ids only grow).
cs_newest() {
	while ctl -j changeset status $((CS_LAST + 1)) >/dev/null 2>&1; do
		CS_LAST=$((CS_LAST + 1))
	done
	echo "$CS_LAST"
}

# dp_stat VLAN JQ-PATH: a live counter, read from the pinned maps (exact
# now; vifctl's are vifd's last sample).
dp_stat() {
	"$VIFDP" -d "$PIN" -j stats "$1" 2>/dev/null |
		jq -r --argjson v "$1" "[.vifs[] | select(.vlan == \$v) | $2] | first // 0"
}

# stats_after T: vifctl stats -j once vifd has sampled after unix second T
# (stats answers from its last sample, taken every interval_ms).
stats_after() {
	local i out

	for i in $(seq 1 40); do
		out=$(ctl -j stats 2>/dev/null)
		if jq -e --argjson t "$1" '.at > $t' >/dev/null 2>&1 <<<"$out"; then
			echo "$out"
			return 0
		fi
		sleep 0.1
	done
	echo "$out"
	return 1
}

# sstat STATS-JSON NAME JQ-PATH: one VIF's field.
sstat() {
	jq -r --arg n "$2" "[.vifs[] | select(.name == \$n) | $3] | first // 0" <<<"$1"
}

# router_ip VIF-JSON: the router's address on the VIF's subnet (vlan24:
# service .1, host .254; the router .2, a static neighbour in the service).
router_ip() {
	jq -r '.svc_addr | split(".") | .[3] = "2" | join(".")' <<<"$1"
}

# dp_json: the pinned dataplane's VIF entries, read-only.
dp_json() {
	"$VIFDP" -d "$PIN" -j vif show 2>/dev/null || echo '[]'
}

# vp_links: names of vifd-style links ("vp<vlan>", "vs<vlan>") in $NS_HOST.
vp_links() {
	ip -n "$NS_HOST" -o link show 2>/dev/null |
		awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
		grep -E '^v[ps][1-9][0-9]*(-|$)'
}

port_count() {
	vp_links | grep -c '^vp'
}

# wait_ports OP N: until port_count OP N holds (test(1) OP), 20 s at most.
wait_ports() {
	local end=$((SECONDS + 20))

	while [ $SECONDS -lt $end ]; do
		test "$(port_count)" "$1" "$2" && return 0
	done
	return 1
}

# check_converged DESC [pending-ok]: the state vifd, the kernel and the
# dataplane show agrees, as after a clean start:
#  - every VIF is ACTIVE or ERROR (none CREATING or REMOVING);
#  - every ACTIVE VIF has its port veth (up, in $NS_HOST), its service end
#    (here or in its netns), its rule, a floor rule (pref 9001, blackhole)
#    covering its mark and no blackhole route in its table (the form
#    older vifds used), and a live dataplane entry on that very port;
#  - fail closed, as the kernel sees it: a packet with the mark of an
#    ACTIVE VIF whose table has no route is refused by the blackhole rule
#    (EINVAL), not routed or merely unroutable (first 3 such VIFs);
#  - nothing of vifd's form without an ACTIVE VIF: no vp/vs link, no
#    pref-9000 rule, no route in a VIF table, no dataplane entry (an ERROR
#    VIF owns nothing: control/vifmgr.h);
#  - no change set left PENDING or APPLYING (and none awaiting
#    confirmation unless pending-ok).
check_converged() {
	local desc=$1 pending_ok=${2:-} list links rules routes dp problems
	local v ns peer cs floor m out

	list=$(ctl -j vif list) || { fail "$desc: vif list answers"; return 1; }
	links=$(ip -n "$NS_HOST" -j -d link show)
	rules=$(ip -n "$NS_HOST" -j rule show pref $RULE_PREF)
	floor=$(ip -n "$NS_HOST" -j rule show pref $FLOOR_PREF)
	routes=$(ip -n "$NS_HOST" -j route show table all)
	dp=$(dp_json)
	# Through files: with a few hundred VIFs the JSON is past ARG_MAX.
	printf '%s' "$list" >"$TMP/cc.l"; printf '%s' "$links" >"$TMP/cc.k"
	printf '%s' "$rules" >"$TMP/cc.r"; printf '%s' "$routes" >"$TMP/cc.rt"
	printf '%s' "$dp" >"$TMP/cc.d"; printf '%s' "$floor" >"$TMP/cc.fl"
	problems=$(jq -rn --slurpfile L "$TMP/cc.l" --slurpfile K "$TMP/cc.k" \
		--slurpfile R "$TMP/cc.r" --slurpfile RT "$TMP/cc.rt" \
		--slurpfile D "$TMP/cc.d" --slurpfile FL "$TMP/cc.fl" \
		--argjson lo $POOL_LO --argjson hi $POOL_HI \
		--argjson tb $TABLE_BASE '
		$L[0] as $l | $K[0] as $k | $R[0] as $r | $RT[0] as $rt |
		$D[0] as $d | $FL[0] as $fl |
		def tonum: if type == "string" then
			(if startswith("0x") then (.[2:] | ascii_downcase | explode |
				reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end)))
			 else tonumber end) else . end;
		($l.vifs | map(select(.state == "ACTIVE"))) as $act |
		($k | map({key: .ifname, value: .}) | from_entries) as $lk |
		($d | map({key: (.vlan | tostring), value: .}) | from_entries) as $de |
		[ ($l.vifs[] | select(.state != "ACTIVE" and .state != "ERROR") |
			"VIF \(.name) is \(.state)"),
		  ($act[] | . as $v |
			if ($lk[$v.ifname] | not) then "VIF \($v.name): port \($v.ifname) missing"
			elif $lk[$v.ifname].linkinfo.info_kind != "veth" then "VIF \($v.name): port is no veth"
			elif (any($lk[$v.ifname].flags[]; . == "UP") | not) then "VIF \($v.name): port down"
			else empty end,
			if $v.netns == null and ($lk[$v.peer_ifname] | not) then
				"VIF \($v.name): service end \($v.peer_ifname) missing" else empty end,
			if ([$r[] | select((.fwmark | tonum) == $v.mark and (.table | tonum) == $v.table)] | length) != 1 then
				"VIF \($v.name): rule fwmark \($v.mark) table \($v.table) missing (or twice)" else empty end,
			# fib rules have no bitwise AND for jq to mirror: a block
			# value/mask is the range [value, value + 2^32 - mask).
			if ([$fl[] | select(.action == "blackhole") |
			     (.fwmark | tonum) as $fv | (.fwmask | tonum) as $fm |
			     select($v.mark >= $fv and $v.mark < $fv + 4294967296 - $fm)] | length) != 1 then
				"VIF \($v.name): no (or more than one) floor rule drops mark \($v.mark)" else empty end,
			if ([$rt[] | select(.type == "blackhole" and ((.table // "") | tostring) == ($v.table | tostring))] | length) != 0 then
				"VIF \($v.name): an old-form blackhole route in table \($v.table)" else empty end,
			if ($de[$v.vlan | tostring] | not) then "VIF \($v.name): no dataplane entry"
			elif $de[$v.vlan | tostring].ifindex != $lk[$v.ifname].ifindex then
				"VIF \($v.name): dataplane entry on ifindex \($de[$v.vlan | tostring].ifindex), port is \($lk[$v.ifname].ifindex // "none")"
			elif $de[$v.vlan | tostring].active != true then "VIF \($v.name): entry inactive"
			else empty end),
		  ($k[] | .ifname | select(test("^v[ps][1-9][0-9]*(-|$)")) | . as $n |
			if any($act[]; .ifname == $n or (.netns == null and .peer_ifname == $n)) then empty
			else "orphan link \($n)" end),
		  ($r[] | select(.fwmark != null) | (.fwmark | tonum) as $m | (.table | tonum) as $t |
			if any($act[]; .mark == $m and .table == $t) then empty
			else "orphan rule fwmark \(.fwmark) table \(.table)" end),
		  ($rt[] | select(.table != null) | ((.table | tostring) | tonumber? // null) as $t |
			select($t != null and $t >= $tb + $lo and $t <= $tb + $hi) |
			if any($act[]; .table == $t) then empty
			else "orphan route \(.type // "unicast") \(.dst) in table \($t)" end),
		  ($d[] | .vlan as $x |
			if any($act[]; .vlan == $x) then empty
			else "orphan dataplane entry VLAN \($x)" end)
		] | .[]')
	# Fail closed in the kernel's own words: "Invalid argument" is the
	# blackhole rule; "Network is unreachable" would be main (no default
	# here) and a route would be a leak.
	while read -r v m; do
		[ -n "$v" ] || continue
		out=$(ip -n "$NS_HOST" route get 198.51.100.7 mark "$m" 2>&1)
		grep -q "Invalid argument" <<<"$out" ||
			problems+=$'\n'"VIF $v: marked traffic not dropped by the floor: $out"
	done < <(jq -r --slurpfile RT "$TMP/cc.rt" '$RT[0] as $rt | [.vifs[] | select(.state == "ACTIVE") |
		. as $v | select(all($rt[]; ((.table // "") | tostring) != ($v.table | tostring)))] |
		.[:3][] | "\(.name) \(.mark)"' <<<"$list")
	# Service ends inside their namespaces.
	while read -r v ns peer; do
		[ -n "$v" ] || continue
		ip -n "$ns" link show dev "$peer" >/dev/null 2>&1 ||
			problems+=$'\n'"VIF $v: service end $peer missing in $ns"
	done < <(jq -r '.vifs[] | select(.state == "ACTIVE" and .netns != null) |
		"\(.name) \(.netns) \(.peer_ifname)"' <<<"$list")
	cs=$(ctl -j changeset status 2>/dev/null)
	if [ -n "$pending_ok" ]; then
		jq -e '.changeset == null or .changeset.state == "APPLIED"' \
			>/dev/null <<<"$cs" ||
			problems+=$'\n'"pending change set: $cs"
	else
		jq -e '.changeset == null' >/dev/null <<<"$cs" ||
			problems+=$'\n'"pending change set: $(jq -c '.changeset | {id, state}' <<<"$cs")"
	fi
	problems=$(sed '/^$/d' <<<"$problems")
	if [ -z "$problems" ]; then
		ok "$desc: converged ($(jq '[.vifs[] | select(.state == "ACTIVE")] | length' <<<"$list") ACTIVE, $(jq '[.vifs[] | select(.state == "ERROR")] | length' <<<"$list") ERROR, nothing orphaned, $([ -n "$pending_ok" ] && echo "no set PENDING or APPLYING" || echo "no set pending"))"
		return 0
	fi
	fail "$desc: not converged:"
	head -n 20 <<<"$problems" | sed 's/^/          /'
	return 1
}

# ---- setup --------------------------------------------------------------

# A service namespace: lo up, IPv4 only (no router solicitations or MLD
# reports in the counters).
svc_ns_add() {
	ip netns add "$1" || return 1
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
}

setup() {
	ip netns add "$NS_HOST" || skip "cannot create a netns"
	ip -n "$NS_HOST" link set lo up
	hx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip netns add "$NS_RTR" || return 1
	ip -n "$NS_RTR" link set lo up
	ip netns exec "$NS_RTR" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	svc_ns_add "$NS_SVC" || return 1
	svc_ns_add "$NS_GWS" || return 1
	ip -n "$NS_HOST" link add "$IF_TR" type veth peer name "$IF_TK" \
		netns "$NS_RTR" || skip "cannot create a veth pair"
	# No 802.1Q module: tags must stay in the frame.  The router end
	# runs GRO so that the trunk's XDP redirects into it are not dropped.
	hx ethtool -K "$IF_TR" rxvlan off txvlan off >/dev/null 2>&1
	ip netns exec "$NS_RTR" ethtool -K "$IF_TK" rxvlan off txvlan off \
		gro on >/dev/null 2>&1 || return 1
	ip -n "$NS_HOST" link set "$IF_TR" up
	ip -n "$NS_RTR" link set "$IF_TK" up
	RTR_MAC=$(ip -n "$NS_RTR" -j link show dev "$IF_TK" | jq -r '.[0].address')

	cat >"$TMP/vifd.conf" <<EOF
# vifd integration test $TAG
[daemon]
state_dir = $TMP/state
socket_path = $TMP/vifd.sock
log_level = info

[dataplane]
trunk = $IF_TR
pin_dir = $PIN
xdp_mode = native

[pool]
vlan_pool = $POOL_LO-$POOL_HI
scheme = vlan24
mark_base = $MARK_BASE
table_base = $TABLE_BASE
EOF
}

# ---- 1. bad input on the socket -----------------------------------------

# answer N: the Nth answer line of the last client run ($ANS).
answer() { sed -n "${1}p" <<<"$ANS"; }

# check_err DESC N CODE [ID-JSON] [MESSAGE-REGEX]: answer N is an error
# CODE, echoing ID (JSON; default null), its message matching REGEX.
check_err() {
	local desc=$1 n=$2 code=$3 id=${4:-null} re=${5:-.}

	check_jq "$desc -> $code" "$(answer "$n")" \
		--arg c "$code" --argjson id "$id" --arg re "$re" \
		'.ok == false and .error.code == $c and .id == $id and
		 (.id | type) == ($id | type) and (.error.message | test($re; "i"))'
}

test_bad_input() {
	local rss0 rss1 rss2 i name=bad$TAG pid0=$VIFD_PID out

	rss0=$(vifd_rss_kib)
	info "vifd RSS before: ${rss0} KiB"

	# Malformed JSON: id unknown, so null; the connection goes on.
	ANS=$(client send -e '{"id":1,"cmd":"ping"' 'not json' \
		'{"id":1,"id":2,"cmd":"ping"}' '{"id":"\xff\xfe","cmd":"ping"}' \
		'{"id":"n\u0000","cmd":"ping"}' '{"id":99999999999999999999,"cmd":"ping"}' \
		'   ' '{"id":"p","cmd":"ping"}')
	check_err "truncated object" 1 BAD_JSON
	check_err "not JSON" 2 BAD_JSON
	check_err "duplicate key" 3 BAD_JSON
	check_err "invalid UTF-8" 4 BAD_JSON
	check_err "\\u0000 in a string" 5 BAD_JSON
	check_err "integer beyond 64 bits" 6 BAD_JSON
	check_jq "blank line ignored; the same connection answers a ping" \
		"$(answer 7)" '.id == "p" and .ok == true and .result.pong == true'

	# Wrong types for id, cmd, args.
	ANS=$(client send '[1,2]' '{"cmd":"ping"}' '{"id":null,"cmd":"ping"}' \
		'{"id":[1],"cmd":"ping"}' '{"id":{"a":1},"cmd":"ping"}' \
		'{"id":"c1","cmd":5}' '{"id":"c2"}' '{"id":"c3","cmd":"ping","args":[]}' \
		'{"id":"c4","cmd":"ping","args":"x"}' '{"id":"c5","cmd":"ping","extra":1}' \
		'{"id":7,"cmd":"ping"}' '{"id":true,"cmd":"ping","args":null}')
	check_err "a request that is not an object" 1 BAD_REQUEST
	check_err "id missing" 2 BAD_REQUEST null '"id"'
	check_err "id null" 3 BAD_REQUEST null '"id"'
	check_err "id an array" 4 BAD_REQUEST null '"id"'
	check_err "id an object" 5 BAD_REQUEST null '"id"'
	check_err "cmd a number" 6 BAD_REQUEST '"c1"' '"cmd"'
	check_err "cmd missing" 7 BAD_REQUEST '"c2"' '"cmd"'
	check_err "args an array" 8 BAD_REQUEST '"c3"' '"args"'
	check_err "args a string" 9 BAD_REQUEST '"c4"' '"args"'
	check_err "unknown top-level key" 10 BAD_REQUEST '"c5"' 'extra'
	check_jq "a number id is echoed as a number" "$(answer 11)" \
		'.id == 7 and (.id | type) == "number" and .ok == true'
	check_jq "a boolean id is echoed; args null is {}" "$(answer 12)" \
		'.id == true and .ok == true'

	# Unknown commands.
	ANS=$(client send '{"id":"u1","cmd":"vif.explode"}' '{"id":"u2","cmd":""}' \
		'{"id":"u3","cmd":"VIF.LIST"}')
	check_err "unknown command" 1 UNKNOWN_COMMAND '"u1"' 'vif.explode'
	check_err "empty command" 2 UNKNOWN_COMMAND '"u2"'
	check_err "commands are case sensitive" 3 UNKNOWN_COMMAND '"u3"'

	# vif.create with bad arguments: refused, the argument named, nothing
	# created.
	ANS=$(client send \
		'{"id":"a1","cmd":"vif.create","args":{"name":"abcdefghijabcdefghijabcdefghij12"}}' \
		'{"id":"a2","cmd":"vif.create","args":{"name":"'"$name"'","vlan":5000}}' \
		'{"id":"a3","cmd":"vif.create","args":{"name":"'"$name"'","vlan":1}}' \
		'{"id":"a4","cmd":"vif.create","args":{"name":"'"$name"'","vlan":'$((POOL_HI + 1))'}}' \
		'{"id":"a5","cmd":"vif.create","args":{"name":"'"$name"'","colour":"red"}}' \
		'{"id":"a6","cmd":"vif.create","args":{"name":"'"$name"'","vlan":"120"}}' \
		'{"id":"a7","cmd":"vif.create","args":{"name":"bad name"}}' \
		'{"id":"a8","cmd":"vif.create","args":{}}' \
		'{"id":"a9","cmd":"vif.create","args":{"name":"'"$name"'","gateway":{"type":"socks5","tun":"'"$TUN"'","addr":"127.0.0.1","port":70000}}}' \
		'{"id":"a10","cmd":"vif.create","args":{"name":"'"$name"'","netns":"no-such-ns-'"$TAG"'"}}' \
		'{"id":"a11","cmd":"changeset.apply","args":{"items":[{"id":"x","op":"vif.create","args":{"name":"'"$name"'","vlan":5000}},{"id":"y","op":"vif.create","args":{"name":"'"$name"'y","bogus":1}}]}}')
	check_err "name of 32 bytes" 1 BAD_ARGS '"a1"' '"name"'
	check_err "vlan 5000" 2 BAD_ARGS '"a2"' '"vlan"'
	check_err "vlan 1" 3 BAD_ARGS '"a3"' 'vlan'
	check_err "vlan outside the pool" 4 BAD_ARGS '"a4"' 'vlan.*pool|pool.*vlan'
	check_err "unknown argument" 5 BAD_ARGS '"a5"' '"colour"'
	check_err "vlan a string" 6 BAD_ARGS '"a6"' '"vlan"'
	check_err "name with a blank" 7 BAD_ARGS '"a7"' '"name"'
	check_err "name missing" 8 BAD_ARGS '"a8"' '"name"'
	check_err "gateway port 70000" 9 BAD_ARGS '"a9"' 'port'
	check_err "netns that does not exist" 10 NOT_FOUND '"a10"' 'netns|no-such'
	check_jq "changeset.apply with two bad items -> VALIDATION_FAILED listing both" \
		"$(answer 11)" '.id == "a11" and .error.code == "VALIDATION_FAILED" and
		 ([.error.details.errors[] | .item] == ["x", "y"]) and
		 (.error.details.errors[0].message | test("\"vlan\"")) and
		 (.error.details.errors[1].message | test("bogus"))'
	check "none of them created a VIF" \
		bash -c '! "$0" -s "$1" -j vif list | jq -e --arg n "$2" \
			"any(.vifs[]; .name | startswith(\$n))" >/dev/null' \
		"$VIFCTL" "$TMP/vifd.sock" "$name"

	# Lines over 1 MiB: LINE_TOO_LONG, discarded, the connection goes on.
	ANS=$(client huge $((2 * 1024 * 1024)))
	check_err "a 2 MiB line" 1 LINE_TOO_LONG
	check_jq "the same connection answers a ping afterwards" "$(answer 2)" \
		'.id == "after" and .ok == true'
	ANS=$(client huge $((1024 * 1024)))
	check_jq "a line of exactly 1 MiB is read as a request" "$(answer 1)" \
		'.id == "huge" and .error.code == "BAD_ARGS"'
	ANS=$(client huge $((1024 * 1024 + 1)))
	check_err "a line of 1 MiB + 1 byte" 1 LINE_TOO_LONG

	# A partial last line when the client shuts its side.
	ANS=$(client shut '{"id":"half","cmd":"pi')
	check_err "half a request, then SHUT_WR" 1 BAD_REQUEST null 'newline|ignored'
	check_eq "... and vifd closes after that one answer" \
		"$(wc -l <<<"$ANS")" 1

	# Clients that vanish: half a request, half a huge line, a request
	# and gone before the answer (a mutating one too), an event replay
	# nobody reads.
	for i in $(seq 1 10); do
		client vanish '{"id":"gone","cmd":"vif.li' || fail "vanish $i"
	done
	client vanish --pad 700000 '{"id":1,"cmd":"ping","args":{"x":"' ||
		fail "vanish mid huge line"
	client noread '{"id":"n1","cmd":"vif.list"}' || fail "noread vif.list"
	client noread '{"id":"n2","cmd":"events.subscribe","args":{"since":0}}' ||
		fail "noread events.subscribe"
	client noread '{"id":"n3","cmd":"vif.create","args":{"name":"'"$name"'g"}}' ||
		fail "noread vif.create"
	sleep 0.5
	check "vifd serves after the vanishing clients" ctlq ping
	out=$(vif_json "${name}g")
	if [ -n "$out" ]; then
		check_jq "the abandoned vif.create ran to the end: ACTIVE" "$out" \
			'.state == "ACTIVE"'
	else
		ok "the abandoned vif.create did not run (allowed: PROTOCOL.md)"
	fi

	# Many connections at once.
	out=$(client many 50)
	check_jq "50 connections at once: 50 hellos, 50 pongs" "$out" \
		'.hello == 50 and .pong == 50 and .too_many == 0 and .other == []'
	out=$(client many 72)
	check_jq "72 at once (root): 64 + 4 admin served, 4 TOO_MANY_CLIENTS" \
		"$out" '.hello == 68 and .pong == 68 and .too_many == 4 and .other == []'
	out=$(client many 50)
	check_jq "after they closed: 50 again, all served" "$out" \
		'.hello == 50 and .pong == 50'

	check "the same vifd process is still running" \
		test "$VIFD_PID" = "$pid0" -a -d "/proc/$pid0"
	check "vifctl ping" ctlq ping
	check_jq "vif list still works" "$(ctl -j vif list)" '.vifs | type == "array"'
	rss1=$(vifd_rss_kib)
	# Again and again: the allocator has warmed up, a leak would now grow
	# with every round (a leaked line buffer: 10 MiB and more).
	for i in 1 2 3 4 5; do
		client huge $((2 * 1024 * 1024)) >/dev/null
		client huge $((1024 * 1024 + 1)) >/dev/null
		client many 60 >/dev/null
		client noread '{"id":"n2","cmd":"events.subscribe","args":{"since":0}}'
		client vanish --pad 900000 '{"id":1,"cmd":"ping","args":{"x":"'
	done
	sleep 0.3
	rss2=$(vifd_rss_kib)
	info "vifd RSS: ${rss0} KiB before, ${rss1} KiB after, ${rss2} KiB after 5 more rounds"
	check_cmp "RSS after the bad input, KiB (before + 8 MiB at most)" \
		"$rss1" -le $((rss0 + 8192))
	check_cmp "RSS after 5 more rounds, KiB (2 MiB more at most)" \
		"$rss2" -le $((rss1 + 2048))

	ctl vif delete "${name}g" >/dev/null 2>&1
	check_converged "after the bad input"
}

# ---- 2. traffic end to end ----------------------------------------------

# Two VIFs (one with its service in $NS_SVC), real frames both ways: what
# reaches a service end is counted by tcpdump there (and by a UDP socket),
# what reaches the router by tcpdump on its trunk end; vifctl stats must
# count exactly that.
test_traffic() {
	local a=tra$TAG b=trb$TAG la lb va vb pa pb sa sb svc_mac_b rtr_b
	local stamp_a stamp_b
	local n=200 st r0a r0b r1a r1b rb0a t0 t1 tb0 tb1 g0 g1 cnt

	ctl vif create "$a" >/dev/null || { fail "vif create $a"; return; }
	ctl vif create "$b" netns "$NS_SVC" >/dev/null ||
		{ fail "vif create $b netns $NS_SVC"; return; }
	la=$(vif_json "$a")
	lb=$(vif_json "$b")
	va=$(jq -r .vlan <<<"$la")
	vb=$(jq -r .vlan <<<"$lb")
	pa=$(jq -r .ifname <<<"$la")
	pb=$(jq -r .ifname <<<"$lb")
	sa=$(jq -r .peer_ifname <<<"$la")
	sb=$(jq -r .peer_ifname <<<"$lb")
	info "$a: VLAN $va, $pa <-> $sa (in $NS_HOST); $b: VLAN $vb, $pb <-> $sb (in $NS_SVC)"
	check_jq "$b's service end is in $NS_SVC with its address" \
		"$(ip -n "$NS_SVC" -j addr show dev "$sb" 2>/dev/null || echo '[]')" \
		--arg ip "$(jq -r .svc_addr <<<"$lb")" \
		'.[0].addr_info | any(.local == $ip)'
	check "the trunk carries vif_xdp_trunk" \
		bash -c 'ip -n "$0" -d link show dev "$1" | grep -q "name vif_xdp_trunk"' \
		"$NS_HOST" "$IF_TR"
	check "$pb carries vif_xdp_service" \
		bash -c 'ip -n "$0" -d link show dev "$1" | grep -q "name vif_xdp_service"' \
		"$NS_HOST" "$pb"
	svc_mac_b=$(ip -n "$NS_SVC" -j link show dev "$sb" | jq -r '.[0].address')
	rtr_b=$(router_ip "$lb")

	# Router -> services: vifgen round-robins VLANs va, va+1 (= vb: the
	# pool hands out the lowest free ids) and a VLAN without a VIF, and
	# stamps the VLAN into the source MAC's last two bytes.
	if [ "$vb" -ne $((va + 1)) ]; then
		fail "the VIFs did not get consecutive VLANs ($va, $vb)"
		return
	fi
	r0a=$(dp_stat "$va" .rx_packets)
	rb0a=$(dp_stat "$va" .rx_bytes)
	r0b=$(dp_stat "$vb" .rx_packets)
	g0=$("$VIFDP" -d "$PIN" -j stats | jq -r '.global.drops.unknown_vlan // 0')
	cap_start rxa "$NS_HOST" "$sa" || return
	cap_start rxb "$NS_SVC" "$sb" || return
	nsenter --net="/run/netns/$NS_RTR" "$VIFGEN" send --dev "$IF_TK" \
		--count $((3 * n)) --vlan-base "$va" --vlans 3 --batch 16 \
		>/dev/null || fail "vifgen send"
	cap_stop rxa
	cap_stop rxb
	st=$(stats_after "$(date +%s)") || fail "vifd took no stats sample"
	r1a=$(sstat "$st" "$a" .rx_packets)
	r1b=$(sstat "$st" "$b" .rx_packets)
	g1=$(jq -r '.global.drops.unknown_vlan // 0' <<<"$st")
	check_eq "vifctl stats: $a rx_packets" $((r1a - r0a)) $n
	check_eq "vifctl stats: $a rx_bytes (untagged 60-byte frames)" \
		$(($(sstat "$st" "$a" .rx_bytes) - rb0a)) $((n * 60))
	check_eq "vifctl stats: $b rx_packets" $((r1b - r0b)) $n
	check_eq "vifctl stats: VLAN $((va + 2)) (no VIF) dropped as unknown_vlan" \
		$((g1 - g0)) $n
	printf -v stamp_a '02:00:00:00:%02x:%02x' $((va >> 8)) $((va & 255))
	printf -v stamp_b '02:00:00:00:%02x:%02x' $((vb >> 8)) $((vb & 255))
	check_eq "$a's service end received its VLAN's frames" \
		"$(cap_count rxa ether src "$stamp_a" and not vlan)" $n
	check_eq "$a's service end received nothing else from the trunk" \
		"$(cap_count rxa "ether[6:4] == 0x02000000" and not ether src "$stamp_a")" 0
	check_eq "$b's service end (in $NS_SVC) received its VLAN's frames" \
		"$(cap_count rxb ether src "$stamp_b" and not vlan)" $n
	check_eq "$b's service end received nothing else from the trunk" \
		"$(cap_count rxb "ether[6:4] == 0x02000000" and not ether src "$stamp_b")" 0

	# Router -> a UDP socket in $b's service.
	rm -f "$TMP/udp.ready"
	ip netns exec "$NS_SVC" "$PY" "$PKT" udp-recv --port $UDP_PORT \
		--timeout 2 --expect 20 --ready "$TMP/udp.ready" >"$TMP/udp.count" &
	t0=$!
	bg_add $t0
	wait_exists "$TMP/udp.ready" 50 || fail "UDP listener did not start"
	ip netns exec "$NS_RTR" "$PY" "$PKT" raw --dev "$IF_TK" --vlan "$vb" \
		--dst "$svc_mac_b" --src "$RTR_MAC" \
		--ip-src "$rtr_b" --ip-dst "$(jq -r .svc_addr <<<"$lb")" \
		--port $UDP_PORT --count 20 >/dev/null || fail "vifpkt raw"
	wait $t0 2>/dev/null
	bg_kill $t0
	check_eq "a UDP socket in $b's service got the router's 20 datagrams" \
		"$(cat "$TMP/udp.count" 2>/dev/null || echo 0)" 20

	# Service -> router: tagged with the VIF's VLAN, checksums intact.
	ip -n "$NS_SVC" neigh replace "$rtr_b" lladdr "$RTR_MAC" \
		dev "$sb" nud permanent
	t0=$(dp_stat "$vb" .tx_packets)
	tb0=$(dp_stat "$vb" .tx_bytes)
	cap_start trk "$NS_RTR" "$IF_TK" || return
	cnt=$(ip netns exec "$NS_SVC" "$PY" "$PKT" udp-send --dst "$rtr_b" \
		--port $UDP_PORT --count 50 --size 64)
	cap_stop trk
	st=$(stats_after "$(date +%s)") || fail "vifd took no stats sample"
	t1=$(sstat "$st" "$b" .tx_packets)
	tb1=$(sstat "$st" "$b" .tx_bytes)
	check_eq "$b's service sent" "${cnt:-0}" 50
	check_eq "UDP frames on the trunk tagged $vb from $b" \
		"$(cap_count trk vlan "$vb" and udp dst port $UDP_PORT and ether src "$svc_mac_b")" 50
	check_eq "... and nothing else on the trunk (untagged or another VLAN)" \
		"$(cap_count trk)" "$(cap_count trk vlan "$vb")"
	check_eq "... none with a bad UDP checksum (service ends run tx-checksumming off)" \
		"$(cap_show trk -vv vlan "$vb" and udp | grep -c 'bad udp cksum')" 0
	check_eq "vifctl stats: $b tx_packets" $((t1 - t0)) 50
	check_eq "vifctl stats: $b tx_bytes (50 x 106-byte frames)" \
		$((tb1 - tb0)) $((50 * 106))

	ctl vif delete "$b" >/dev/null || fail "vif delete $b"
	ctl vif delete "$a" >/dev/null || fail "vif delete $a"
	check_converged "after the traffic test"
}

# ---- 3. the kill switch through vifd ------------------------------------

socks_start() {
	rm -f "$TMP/socks.ready"
	ip netns exec "$NS_HOST" "$PY" "$CLIENT" socks5 $SOCKS_PORT \
		"$TMP/socks.ready" &
	SOCKS_PID=$!
	bg_add $SOCKS_PID
	wait_for_file "$TMP/socks.ready" ready 50 ||
		fail "SOCKS5 stand-in did not start"
}

socks_stop() {
	bg_kill "$SOCKS_PID"
}

# gw_wait NAME STATE ENGAGED N: poll vif show (N times, 50 ms apart) until
# the gateway is in STATE and the kill switch's engaged is ENGAGED.
gw_wait() {
	local name=$1 st=$2 eng=$3 n=$4 cur

	while ((n-- > 0)); do
		cur=$(vif_field "$name" '"\(.gateway.state) \(.killswitch.engaged)"')
		[ "$cur" = "$st $eng" ] && return 0
		sleep 0.05
	done
	info "last seen: $cur"
	return 1
}

# flood_check DESC VLAN: the service floods the router for 2 s at
# 10000 pps; nothing of VLAN may reach the trunk.
flood_check() {
	local desc=$1 vlan=$2 d0 d1

	d0=$(dp_stat "$vlan" '.drops.killswitch // 0')
	cap_start leak "$NS_RTR" "$IF_TK" vlan "$vlan" || return
	ip netns exec "$NS_GWS" "$PY" "$PKT" udp-send --dst "$KS_RTR" \
		--port $UDP_PORT --count 0 --duration 2 --rate 10000 \
		>"$TMP/flood.out"
	cap_stop leak
	info "flood: $(cat "$TMP/flood.out") datagrams sent"
	check_eq "$desc: frames of VLAN $vlan on the trunk" \
		"$(cap_count leak)" 0
	d1=$(dp_stat "$vlan" '.drops.killswitch // 0')
	check_cmp "$desc: killswitch drops counted (95 % of the flood at least)" \
		$((d1 - d0)) -ge $(($(cat "$TMP/flood.out") * 95 / 100))
}

test_killswitch() {
	local name=ks$TAG vlan svc seq0 ev t0 n

	# The tun: persistent, held open by a reader so that it has a carrier
	# (a tun nobody reads is NO-CARRIER, which the probe rightly counts as
	# a dead gateway).
	ip -n "$NS_HOST" tuntap add "$TUN" mode tun || { fail "ip tuntap add"; return; }
	rm -f "$TMP/tun.ready"
	ip netns exec "$NS_HOST" "$PY" "$CLIENT" tunhold "$TUN" "$TMP/tun.ready" &
	TUN_PID=$!
	bg_add $TUN_PID
	wait_for_file "$TMP/tun.ready" ready 50 || fail "tun holder did not start"
	ip -n "$NS_HOST" link set "$TUN" up
	socks_start

	seq0=$(ctl -j events --since 0 | jq -s 'map(.seq // 0) | max // 0')
	ctl vif create "$name" netns "$NS_GWS" \
		gateway socks5 "$TUN" "127.0.0.1:$SOCKS_PORT" >/dev/null ||
		{ fail "vif create $name with a SOCKS5 gateway"; return; }
	vlan=$(vif_field "$name" .vlan)
	svc=$(vif_field "$name" .peer_ifname)
	KS_RTR=$(router_ip "$(vif_json "$name")")
	ip -n "$NS_GWS" neigh replace "$KS_RTR" lladdr "$RTR_MAC" \
		dev "$svc" nud permanent
	check "gateway RUNNING, kill switch released (within 3 s)" \
		gw_wait "$name" RUNNING false 60
	check_jq "dataplane: kill switch off" \
		"$(dp_json)" --argjson v "$vlan" \
		'any(.[]; .vlan == $v and .killswitch == false)'
	check_jq "the VIF's table routes into the tun" \
		"$(ip -n "$NS_HOST" -j route show table $((TABLE_BASE + vlan)))" \
		--arg t "$TUN" 'any(.[]; .dst == "default" and .dev == $t)'
	cap_start pre "$NS_RTR" "$IF_TK" vlan "$vlan" || return
	ip netns exec "$NS_GWS" "$PY" "$PKT" udp-send --dst "$KS_RTR" \
		--port $UDP_PORT --count 20 >/dev/null
	cap_stop pre
	check_eq "released: the service's burst reaches the trunk" \
		"$(cap_count pre)" 20

	# The gateway dies.
	t0=$(date +%s%N)
	socks_stop
	if gw_wait "$name" FAILED true 60; then
		n=$((($(date +%s%N) - t0) / 1000000))
		check_cmp "gateway FAILED and kill switch engaged within 2 s (ms)" \
			"$n" -le 2000
	else
		fail "gateway FAILED and kill switch engaged (not within 3 s)"
	fi
	check_jq "killswitch show: engaged, because of the gateway" \
		"$(ctl -j killswitch show)" --arg n "$name" \
		'any(.killswitches[]; .name == $n and .engaged == true and
		     (.reason | test("gateway"; "i")))'
	check_jq "vif show: gateway FAILED, kill switch engaged" \
		"$(vif_json "$name")" \
		'.gateway.state == "FAILED" and .killswitch.engaged == true'
	check_jq "dataplane: kill switch on" "$(dp_json)" --argjson v "$vlan" \
		'any(.[]; .vlan == $v and .killswitch == true)'
	flood_check "engaged" "$vlan"
	ev=$(ctl -j events --since "$seq0")
	check_jq "events: gateway.state FAILED" "$ev" --argjson v "$vlan" -s \
		'any(.[]; .type == "gateway.state" and .vlan == $v and
		     .data.state == "FAILED")'
	check_jq "events: vif.killswitch engaged" "$ev" --argjson v "$vlan" -s \
		'any(.[]; .type == "vif.killswitch" and .vlan == $v and
		     .data.engaged == true)'

	# Fail closed: vifd crashes while it is engaged.
	kill9_vifd
	check_jq "vifd killed: the dataplane entry stays engaged" "$(dp_json)" \
		--argjson v "$vlan" 'any(.[]; .vlan == $v and .killswitch == true)'
	flood_check "vifd down" "$vlan"
	restart_vifd "kill switch" || return
	check_jq "restarted: still engaged (gateway still down)" \
		"$(vif_json "$name")" '.killswitch.engaged == true'

	# The gateway comes back.
	seq0=$(ctl -j events --since 0 | jq -s 'map(.seq // 0) | max // 0')
	socks_start
	check "server back: gateway RUNNING, kill switch released (within 3 s)" \
		gw_wait "$name" RUNNING false 60
	check_jq "killswitch show: released" "$(ctl -j killswitch show)" \
		--arg n "$name" \
		'any(.killswitches[]; .name == $n and .engaged == false and .reason == null)'
	check_jq "events: vif.killswitch released" \
		"$(ctl -j events --since "$seq0")" --argjson v "$vlan" -s \
		'any(.[]; .type == "vif.killswitch" and .vlan == $v and
		     .data.engaged == false)'
	cap_start post "$NS_RTR" "$IF_TK" vlan "$vlan" || return
	ip netns exec "$NS_GWS" "$PY" "$PKT" udp-send --dst "$KS_RTR" \
		--port $UDP_PORT --count 20 >/dev/null
	cap_stop post
	check_eq "released: a fresh burst reaches the trunk" "$(cap_count post)" 20

	ctl vif delete "$name" >/dev/null || fail "vif delete $name"
	socks_stop
	bg_kill "$TUN_PID"
	ip -n "$NS_HOST" tuntap del "$TUN" mode tun 2>/dev/null
	check_converged "after the kill switch test"
}

# ---- 4. crashes during VIF creation -------------------------------------

# The bystander must come through every crash untouched.
check_bystander() {
	local desc=$1 j

	j=$(vif_json "$BYST")
	check_jq "$desc: bystander $BYST ACTIVE" "$j" '.state == "ACTIVE"' &&
		check_cmp "$desc: bystander's port ifindex unchanged" \
			"$(ip -n "$NS_HOST" -j link show dev "$BYST_PORT" | jq '.[0].ifindex')" \
			-eq "$BYST_IFX"
}

test_crash_create() {
	local d i name cs0 cs st cp k nb=100 items j left

	BYST=by$TAG
	ctl vif create "$BYST" netns "$NS_SVC" >/dev/null ||
		{ fail "vif create $BYST"; return; }
	BYST_PORT=$(vif_field "$BYST" .ifname)
	BYST_IFX=$(ip -n "$NS_HOST" -j link show dev "$BYST_PORT" | jq '.[0].ifindex')

	# A single vif.create, killed at several delays after it was sent.
	i=0
	for d in 0 0.002 0.005 0.01 0.02 0.05 0.2; do
		i=$((i + 1))
		name=cr$TAG$i
		cs0=$(cs_newest)
		ctl vif create "$name" >/dev/null 2>&1 &
		cp=$!
		sleep "$d"
		kill9_vifd
		wait $cp 2>/dev/null
		restart_vifd "vif.create killed after ${d}s" || return
		check_converged "vif.create killed after ${d}s"
		cs=$(cs_newest)
		j=$(vif_json "$name")
		[ -n "$j" ] || j='{"state":"none"}'
		st=none
		[ "$cs" -gt "$cs0" ] && st=$(cs_state "$cs")
		info "killed after ${d}s: change set $([ "$cs" -gt "$cs0" ] && echo "$cs $st" || echo none), VIF $name: $(jq -r .state <<<"$j")"
		case $st in
		CONFIRMED)
			check_jq "... its change set CONFIRMED and $name ACTIVE" \
				"$j" '.state == "ACTIVE"' ;;
		FAILED | ROLLED_BACK | none)
			check_jq "... its change set $st and no trace of $name" \
				"$j" '.state == "none"' ;;
		*)
			fail "... its change set is $st" ;;
		esac
		ctl vif delete "$name" >/dev/null 2>&1
	done
	check_bystander "after the single creates"

	# A change set of 100 VIFs, killed: as it is sent, when its first
	# port appears, and with 30 and 70 ports made; then once more with
	# 70, and again while the restarted vifd is rolling it back.
	items=$(jq -nc --arg p "bk$TAG" --argjson n $nb \
		'[range($n) | {id: "v\(.)", op: "vif.create", args: {name: "\($p)x\(.)"}}]')
	for k in 0 1 30 70 rec; do
		cs0=$(cs_newest)
		ctl changeset apply - <<<"$items" >/dev/null 2>&1 &
		cp=$!
		# (The bystander's port counts too.)
		case $k in
		0) ;;
		rec) wait_ports -ge 71 ;;
		*) wait_ports -ge $((k + 1)) ;;
		esac
		kill9_vifd
		info "bulk: killed with $(($(port_count) - 1)) new ports made"
		wait $cp 2>/dev/null
		if [ "$k" = rec ]; then
			# Restart, and kill it again inside its recovery.
			nsenter --net="/run/netns/$NS_HOST" "$VIFD" -f \
				-c "$TMP/vifd.conf" >>"$LOG" 2>&1 &
			VIFD_PID=$!
			wait_ports -le 36
			kill9_vifd
			info "bulk: killed again in recovery with $(($(port_count) - 1)) left"
		fi
		restart_vifd "change set killed at $k" || return
		check_converged "change set of $nb killed at $k"
		cs=$(cs_newest)
		st=none
		[ "$cs" -gt "$cs0" ] && st=$(cs_state "$cs")
		left=$(ctl -j vif list | jq --arg p "bk$TAG" \
			'[.vifs[] | select(.name | startswith($p))] | length')
		case $st in
		CONFIRMED)
			check_eq "... change set $cs CONFIRMED (done before the kill): all its VIFs" \
				"$left" $nb
			jq -c '[.[] | {id, op: "vif.delete", args: {name: .args.name}}]' \
				<<<"$items" | ctl changeset apply --confirm - >/dev/null ||
				fail "deleting the $nb VIFs" ;;
		FAILED | ROLLED_BACK)
			check_eq "... change set $cs $st: none of its VIFs left" \
				"$left" 0 ;;
		none)
			check_eq "... no change set stored: none of its VIFs" \
				"$left" 0 ;;
		*)
			fail "... change set $cs is $st" ;;
		esac
	done
	check_bystander "after the bulk crashes"
	ctl vif delete "$BYST" >/dev/null || fail "vif delete $BYST"
	check_converged "after the crash test"
}

# ---- 5. commit-confirmed across a crash ---------------------------------

# cc_apply NAME TIMEOUT: apply a one-VIF set with a confirm timeout; sets
# CC_ID and CC_DEADLINE.
cc_apply() {
	local out

	out=$(ctl -j changeset apply --confirm-timeout "$2" - <<<"[{\"id\":\"c\",\"op\":\"vif.create\",\"args\":{\"name\":\"$1\"}}]") ||
		{ fail "changeset apply $1 (confirm timeout $2 s): $out"; return 1; }
	CC_ID=$(jq -r .changeset.id <<<"$out")
	CC_DEADLINE=$(jq -r .changeset.confirm_deadline <<<"$out")
	check_jq "change set $CC_ID APPLIED, awaiting confirmation" "$out" \
		'.changeset.state == "APPLIED" and .changeset.awaiting_confirm == true'
	CS_LAST=$CC_ID
}

# vif_gone DESC NAME VLAN PORT: no VIF, no link, no entry, no rule.
check_vif_gone() {
	local desc=$1 name=$2 vlan=$3 port=$4

	check "$desc: vif show finds no $name" test -z "$(vif_json "$name")"
	check "$desc: its port $port is gone" \
		bash -c '! ip -n "$0" link show dev "$1" >/dev/null 2>&1' \
		"$NS_HOST" "$port"
	check_jq "$desc: its dataplane entry is gone" "$(dp_json)" \
		--argjson v "$vlan" 'all(.[]; .vlan != $v)'
	check "$desc: its rule is gone" \
		bash -c '! ip -n "$0" rule show pref '$RULE_PREF' | grep -q "lookup $1\b"' \
		"$NS_HOST" $((TABLE_BASE + vlan))
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

test_commit_confirmed() {
	local name=cc$TAG vlan port st t0 t1 last_ok=0 rolled=0 j e iter=0

	# 1. Crash inside the window: rolled back on schedule after restart.
	cc_apply "${name}a" 4 || return
	vlan=$(vif_field "${name}a" .vlan)
	port=$(vif_field "${name}a" .ifname)
	sleep 1
	kill9_vifd
	sleep 1
	restart_vifd "commit-confirmed" || return
	check_converged "restarted inside the window" pending-ok
	check "restarted inside the window: change set $CC_ID still APPLIED" \
		test "$(cs_state "$CC_ID")" = APPLIED
	# Poll: the VIF must be there until the deadline, gone soon after.
	# One read: the dataplane entry, then on one connection vif.show and
	# changeset.status (answered in order).  vifd rolls back inside one
	# loop callback, so a set still APPLIED means the VIF and the entry
	# were read before the rollback: they existed at t0 at least.  A set
	# ROLLED_BACK when read at t1 was rolled back before t1.
	while [ "$(now_ms)" -lt $(((CC_DEADLINE + 3) * 1000)) ]; do
		t0=$(now_ms)
		e=$(dp_json | jq --argjson v "$vlan" '[.[] | select(.vlan == $v)] | length')
		j=$(client send '{"id":"v","cmd":"vif.show","args":{"name":"'"${name}a"'"}}' \
			'{"id":"s","cmd":"changeset.status","args":{"id":'"$CC_ID"'}}' |
			jq -rs '"\(.[0].result.state // "none") \(.[1].result.changeset.state // "none")"')
		t1=$(now_ms)
		[ $((t1 - t0)) -gt "$iter" ] && iter=$((t1 - t0))
		st=${j#* }
		if [ "$st" = APPLIED ]; then
			if [ "${j% *}" = ACTIVE ] && [ "$e" = 1 ]; then
				last_ok=$t0
			else
				fail "inside the window ($((CC_DEADLINE * 1000 - t0)) ms left): VIF ${j% *}, $e dataplane entries"
				break
			fi
		elif [ "$st" = ROLLED_BACK ]; then
			rolled=$t1
			break
		else
			fail "change set $CC_ID went $st"
			break
		fi
		sleep 0.02
	done
	info "deadline $CC_DEADLINE: last seen APPLIED $((last_ok - CC_DEADLINE * 1000)) ms, ROLLED_BACK by $((rolled - CC_DEADLINE * 1000)) ms; polls took up to $iter ms"
	# Seen APPLIED within one poll (at least 500 ms) of the deadline.
	[ "$iter" -lt 400 ] && iter=400
	check_cmp "the VIF stayed ACTIVE until the deadline (ms before it, last seen)" \
		$((CC_DEADLINE * 1000 - last_ok)) -le $((iter + 100))
	if [ "$rolled" -gt 0 ]; then
		check_cmp "not rolled back before the deadline (ms after it, seen by)" \
			$((rolled - CC_DEADLINE * 1000)) -ge 0
		check_cmp "ROLLED_BACK by the deadline + 1 s (ms after it)" \
			$((rolled - CC_DEADLINE * 1000)) -le 1000
	else
		fail "change set $CC_ID not ROLLED_BACK within 3 s of its deadline"
	fi
	check_jq "the rollback is recorded: not confirmed by the deadline" \
		"$(ctl -j changeset status "$CC_ID")" \
		'.changeset.state == "ROLLED_BACK" and .changeset.awaiting_confirm == false and (.changeset.error | test("deadline"))'
	check_vif_gone "rolled back" "${name}a" "$vlan" "$port"
	check_converged "after the rollback"

	# 2. vifd down past the deadline: rolled back at once on restart.
	cc_apply "${name}b" 2 || return
	vlan=$(vif_field "${name}b" .vlan)
	port=$(vif_field "${name}b" .ifname)
	kill9_vifd
	while [ "$(date +%s)" -le $((CC_DEADLINE + 1)) ]; do
		sleep 0.2
	done
	restart_vifd "commit-confirmed, down past the deadline" || return
	check "restarted past the deadline: change set $CC_ID ROLLED_BACK at once" \
		test "$(cs_state "$CC_ID")" = ROLLED_BACK
	check_vif_gone "rolled back at start" "${name}b" "$vlan" "$port"
	check_converged "after the rollback at start"

	# 3. Confirmed in time, across a crash: CONFIRMED, and it stays.
	cc_apply "${name}c" 5 || return
	kill9_vifd
	restart_vifd "commit-confirmed, confirm after a crash" || return
	check "confirm within the window, after a restart" \
		ctlq changeset confirm "$CC_ID"
	check "change set $CC_ID CONFIRMED" test "$(cs_state "$CC_ID")" = CONFIRMED
	check_jq "a second confirm is a CONFLICT" \
		"$(ctl -j changeset confirm "$CC_ID" 2>/dev/null)" '.code == "CONFLICT"'
	while [ "$(date +%s)" -le $((CC_DEADLINE + 1)) ]; do
		sleep 0.2
	done
	check "past the deadline: still CONFIRMED" \
		test "$(cs_state "$CC_ID")" = CONFIRMED
	check_jq "past the deadline: ${name}c still ACTIVE" \
		"$(vif_json "${name}c")" '.state == "ACTIVE"'
	kill9_vifd
	restart_vifd "after a confirmed set" || return
	check "after another crash: still CONFIRMED" \
		test "$(cs_state "$CC_ID")" = CONFIRMED
	check_jq "after another crash: ${name}c still ACTIVE" \
		"$(vif_json "${name}c")" '.state == "ACTIVE"'
	check_converged "after the confirmed set"
	ctl vif delete "${name}c" >/dev/null || fail "vif delete ${name}c"
}

# ---- main ---------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in jq tcpdump ethtool nsenter ip; do
	command -v "$c" >/dev/null 2>&1 || skip "needs $c"
done
[ -x "$PY" ] || skip "needs $PY"
for b in "$VIFD" "$VIFCTL" "$VIFDP" "$VIFGEN"; do
	[ -x "$b" ] || skip "$b not built (set VIF_BUILD)"
done
[ -e "$PIN" ] || [ -e "/run/netns/$NS_HOST" ] &&
	{ log "tag $TAG is in use by another run; run again"; exit 1; }
grep -qs ' /sys/fs/bpf bpf ' /proc/mounts || skip "no bpffs on /sys/fs/bpf"

trap cleanup EXIT
trap 'exit 130' INT TERM HUP
TMP=$(mktemp -d "/tmp/vifd-test.$TAG.XXXXXX") || exit 1
chmod 755 "$TMP"
LOG=$TMP/vifd.log
# ---- 6. a big change set does not hold the loop --------------------------

# One changeset.apply of 180 vif.create (3 journal batches of 64, one per
# loop turn): pings and vif.show on a second connection are answered while
# it applies, a mutating request gets BUSY, and a kill -9 in the middle
# is recovered (the set rolled back, everything converged).
test_apply_cooperative() {
	local n=180 ans

	ans=$(timeout 120 "$PY" "$CLIENT" -s "$TMP/vifd.sock" -t 60 \
		during $n "co$TAG")
	check_jq "the big set ends CONFIRMED" "$ans" \
		'.apply.ok == true and .apply.result.changeset.state == "CONFIRMED"'
	check_jq "requests answered while it applied" "$ans" '.answered >= 1'
	log "while it applied: $(jq -c '{answered, max_wait_ms, apply_ms, waits_ms}' <<<"$ans")"
	check_jq "no request waited for the whole set (max_wait_ms < apply_ms / 2)" \
		"$ans" '.max_wait_ms < .apply_ms / 2'
	check_jq "a mutating request meanwhile: BUSY, naming the set" "$ans" \
		'.busy.ok == false and .busy.error.code == "BUSY" and
		 (.busy.error.message | test("being applied"))'
	check_eq "all $n VIFs ACTIVE" \
		"$(ctl -j vif list | jq --arg p "co$TAG" \
			'[.vifs[] | select((.name | startswith($p)) and .state == "ACTIVE")] | length')" \
		"$n"
	check_converged "after the big set"
	ans=$(timeout 120 "$PY" "$CLIENT" -s "$TMP/vifd.sock" -t 60 send \
		"$(jq -cn --arg p "co$TAG" --argjson n $n '{id: "del",
		  cmd: "changeset.apply", args: {confirm: true, items:
		  [range(1; $n + 1) | {id: "d\(.)", op: "vif.delete",
		   args: {name: "\($p)\(.)"}}]}}')")
	check_jq "all of them deleted in one set" "$ans" \
		'.ok == true and .result.changeset.state == "CONFIRMED"'

	# kill -9 while the set is applying: the first VIF is ACTIVE, the
	# rest not yet.  The restart rolls the set back.
	ans=$(timeout 120 "$PY" "$CLIENT" -s "$TMP/vifd.sock" -t 60 \
		during $n "ck$TAG" --kill "$VIFD_PID")
	check_jq "killed mid-set" "$ans" '.killed == true'
	kill9_vifd
	restart_vifd "after a kill -9 mid-set" || return
	check_eq "none of its VIFs ACTIVE after the restart" \
		"$(ctl -j vif list | jq --arg p "ck$TAG" \
			'[.vifs[] | select((.name | startswith($p)) and .state == "ACTIVE")] | length')" 0
	check_converged "after a kill -9 mid-set"
}

setup || { log "ERROR: setup failed"; exit 1; }

log "tag $TAG; appliance netns $NS_HOST; pins $PIN; pool $POOL_LO-$POOL_HI"
if ! start_vifd; then
	grep -q "Couldn't attach XDP program" "$LOG" &&
		skip "no native XDP on veth"
	sed 's/^/#   /' "$LOG"
	log "ERROR: vifd does not start"
	exit 1
fi

passed=0
failed=0
failed_names=
# shellcheck disable=SC2048 # word lists, split on purpose
for t in ${*:-${TESTS:-$ALL_TESTS}}; do
	log "TEST: $t"
	TEST_RC=0
	if ! vifd_alive && ! start_vifd; then
		fail "vifd is not running and does not start"
	elif declare -F "$t" >/dev/null; then
		"$t"
	else
		fail "no such test function: $t"
	fi
	if ! vifd_alive; then
		fail "vifd is not running after $t"
	fi
	if [ $TEST_RC -eq 0 ]; then
		log "PASS: $t"
		passed=$((passed + 1))
	else
		log "FAIL: $t"
		failed=$((failed + 1))
		failed_names+=" $t"
		log "# vifd log, last 25 lines:"
		tail -n 25 "$LOG" | sed 's/^/#   /'
	fi
done
log "$passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
[ $failed -eq 0 ]
