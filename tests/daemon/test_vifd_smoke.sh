#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_vifd_smoke.sh - vifd end to end, briefly: start it on a private
# config (state dir, socket and bpffs pins of its own, a veth trunk), talk
# to it with vifctl, create two VIFs (one with its service end in a netns),
# a chain, a quota, read stats, reload with SIGHUP, stop it with SIGTERM
# and check that forwarding survived (XDP still attached, maps still
# pinned), then start it again and check the VIFs are reconciled back.
#
# Not the integration suite (that one checks traffic, crashes and bad
# input): this only shows the daemon starts, serves and stops cleanly.
#
# Needs root (netns, veths, bpffs); exits 77 (skip) otherwise, or when jq
# or native XDP on veth is missing.  Binaries come from $VIF_BUILD
# (default: ../../build next to this file).
#
# Everything it creates carries a per-run tag and goes in the EXIT trap:
# the VIFs (through vifd when it still runs, by hand otherwise), vifd
# itself, the pins (vifdp teardown), the netns, the trunk veth, the
# temporary directory.

set -u

KSFT_SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VIF_BUILD:=$HERE/../../build}"
VIFD=$VIF_BUILD/control/vifd
VIFCTL=$VIF_BUILD/tools/vifctl
VIFDP=$VIF_BUILD/tools/vifdp

TAG=$(printf '%04x' $(((RANDOM << 1 ^ $$ ^ RANDOM) & 0xffff)))
# A VLAN range of our own, so a concurrent vifd (the integration suite,
# the demo) never meets our interface names, marks or tables.
VLAN0=$((2000 + (RANDOM % 190) * 10))
VLAN_A=$VLAN0
VLAN_B=$((VLAN0 + 1))
NAME_A=smk${TAG}a
NAME_B=smk${TAG}b
NS=vifsmk-$TAG
TRUNK=vdk${TAG}0 # root ns; its peer vdk${TAG}1 stands for the router
TRUNK_PEER=vdk${TAG}1
PIN=/sys/fs/bpf/vifplane/smk-$TAG
MARK_BASE=$((0x20000))
TABLE_BASE=20000

TMP=
VIFD_PID=
FAILED=0

log() { printf '# %s\n' "$*"; }

fail() {
	printf 'FAIL: %s\n' "$*"
	FAILED=1
}

# check DESC CMD...: run CMD, FAIL with DESC unless it succeeds.
check() {
	local desc=$1

	shift
	if "$@"; then
		printf 'ok: %s\n' "$desc"
	else
		fail "$desc"
	fi
}

# jqt FILTER [ARGS...]: jq -e, quietly (input on stdin).
jqt() {
	jq -e "$@" >/dev/null
}

ctl() {
	"$VIFCTL" -s "$TMP/vifd.sock" -t 30 "$@"
}

skip() {
	printf 'SKIP: %s\n' "$*"
	exit $KSFT_SKIP
}

vifd_alive() {
	[ -n "$VIFD_PID" ] && kill -0 "$VIFD_PID" 2>/dev/null
}

# start_vifd LOG: vifd -f in the background; wait for its socket.
start_vifd() {
	local i

	"$VIFD" -f -c "$TMP/vifd.conf" >>"$1" 2>&1 &
	VIFD_PID=$!
	for i in $(seq 1 100); do
		if ! vifd_alive; then
			wait "$VIFD_PID"
			log "vifd exited early with $?; its log:"
			sed 's/^/#   /' "$1"
			VIFD_PID=
			return 1
		fi
		[ -S "$TMP/vifd.sock" ] && ctl ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "vifd did not answer within 10 s"
	return 1
}

# stop_vifd: SIGTERM, wait; the exit code in STOP_RC.
stop_vifd() {
	local i

	STOP_RC=
	vifd_alive || return 1
	kill -TERM "$VIFD_PID"
	for i in $(seq 1 100); do
		vifd_alive || break
		sleep 0.1
	done
	if vifd_alive; then
		log "vifd still running 10 s after SIGTERM; killing it"
		kill -KILL "$VIFD_PID"
	fi
	wait "$VIFD_PID"
	STOP_RC=$?
	VIFD_PID=
	return 0
}

cleanup() {
	local v l

	set +e
	# Through vifd while it runs: it removes links, rules and routes.
	if vifd_alive; then
		ctl chain clear "$NAME_A" >/dev/null 2>&1
		ctl vif delete "$NAME_B" >/dev/null 2>&1
		ctl vif delete "$NAME_A" >/dev/null 2>&1
		stop_vifd
	fi
	# By hand for whatever is left (vifd died, or never deleted them).
	for v in $VLAN_A $VLAN_B; do
		for l in $(ip -br link show 2>/dev/null |
			   awk '{ sub(/@.*/, "", $1); print $1 }' |
			   grep -E "^v[ps]$v(-|$)"); do
			ip link del "$l" 2>/dev/null
		done
		while ip rule del pref 9000 fwmark $((MARK_BASE + v)) \
			table $((TABLE_BASE + v)) 2>/dev/null; do :; done
		ip route flush table $((TABLE_BASE + v)) 2>/dev/null
	done
	[ -d "$PIN" ] && "$VIFDP" -d "$PIN" teardown >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	ip link del "$TRUNK" 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
}

# xdp_on IFNAME [NS]: a program is attached to IFNAME's XDP hook.
xdp_on() {
	local out

	if [ $# -gt 1 ]; then
		out=$(ip -n "$2" -j link show dev "$1" 2>/dev/null)
	else
		out=$(ip -j link show dev "$1" 2>/dev/null)
	fi
	[ -n "$out" ] && jq -e '.[0].xdp.prog.id // .[0].xdp.attached[0].prog.id' \
		<<<"$out" >/dev/null
}

# ---- preconditions ------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "needs root"
command -v jq >/dev/null || skip "needs jq"
for b in "$VIFD" "$VIFCTL" "$VIFDP"; do
	[ -x "$b" ] || skip "$b not built"
done

trap cleanup EXIT
TMP=$(mktemp -d /tmp/vifd-smoke.XXXXXX) || exit 1

ip netns add "$NS" || skip "cannot create a netns"
ip link add "$TRUNK" type veth peer name "$TRUNK_PEER" ||
	skip "cannot create a veth pair"
ip link set "$TRUNK" up && ip link set "$TRUNK_PEER" up

cat >"$TMP/vifd.conf" <<EOF
# vifd smoke test $TAG
[daemon]
state_dir = $TMP/state
socket_path = $TMP/vifd.sock
log_level = info

[dataplane]
trunk = $TRUNK
pin_dir = $PIN
xdp_mode = native

[pool]
vlan_pool = $VLAN0-$((VLAN0 + 9))
scheme = p2p30
mark_base = $MARK_BASE
table_base = $TABLE_BASE
EOF

# ---- the config checker -------------------------------------------------

"$VIFD" --check-config -c "$TMP/vifd.conf" >/dev/null
check "--check-config: valid config exits 0" test $? -eq 0
printf '[daemon]\nno_such_key = 1\n' >"$TMP/bad.conf"
"$VIFD" --check-config -c "$TMP/bad.conf" 2>"$TMP/bad.err"
check "--check-config: invalid config exits 1" test $? -eq 1
check "--check-config: the message names file:line" \
	grep -q "bad.conf:2:" "$TMP/bad.err"
"$VIFD" --check-config -c "$TMP/none.conf" 2>/dev/null
check "--check-config: missing config exits 2" test $? -eq 2

# ---- first run ----------------------------------------------------------

log "tag $TAG, VLANs $VLAN_A/$VLAN_B, pins $PIN"
if ! start_vifd "$TMP/vifd.log"; then
	grep -q "Couldn't attach XDP program" "$TMP/vifd.log" &&
		skip "no native XDP on veth"
	fail "vifd starts and serves its socket"
	exit 1
fi
check "vifd starts and serves its socket" true

check "vifctl ping" ctl ping
hello=$(ctl -j call hello)
check "hello: server vifd, protocol 1, admin" \
	jqt '.server == "vifd" and .protocol == 1 and .role == "admin"' \
	<<<"$hello"
check "commands: every command of docs/PROTOCOL.md" \
	jqt '[.commands[].cmd] as $c | $c == ($c | sort) and ($c | sort) == (["changeset.apply", "changeset.confirm",
		"changeset.preview", "changeset.rollback", "changeset.status",
		"chain.clear", "chain.list", "chain.set", "commands",
		"events.subscribe", "events.unsubscribe", "gateway.status",
		"hello", "killswitch.set", "killswitch.show", "ping",
		"pool.set", "pool.status", "quota.reset", "quota.set",
		"quota.show", "stats", "stats.history", "vif.create",
		"vif.delete", "vif.list", "vif.retry", "vif.show"] | sort)' \
	<<<"$(ctl -j commands)"
check "commands: the admin ones as documented" \
	jqt '[.commands[] | select(.role == "admin") | .cmd] == ["chain.clear",
		"chain.set", "changeset.apply", "changeset.confirm",
		"changeset.rollback", "killswitch.set", "pool.set",
		"quota.reset", "quota.set", "vif.create", "vif.delete",
		"vif.retry"]' \
	<<<"$(ctl -j commands)"
check "the trunk carries the XDP trunk program" xdp_on "$TRUNK"

check "vif create $NAME_A (VLAN $VLAN_A)" \
	ctl vif create "$NAME_A" vlan "$VLAN_A"
check "vif create $NAME_B (VLAN $VLAN_B, netns $NS)" \
	ctl vif create "$NAME_B" vlan "$VLAN_B" netns "$NS"

list=$(ctl -j vif list)
check "vif list: both VIFs ACTIVE" \
	jqt --arg a "$NAME_A" --arg b "$NAME_B" \
	'[.vifs[] | select(.name == $a or .name == $b) | .state] == ["ACTIVE", "ACTIVE"]' \
	<<<"$list"
check "vif list: $NAME_B's service end is in $NS" \
	jqt --arg b "$NAME_B" --arg ns "$NS" \
	'.vifs[] | select(.name == $b) | .netns == $ns' <<<"$list"
PORT_A=$(jq -r --arg a "$NAME_A" '.vifs[] | select(.name == $a) | .ifname' \
	<<<"$list")
PORT_B=$(jq -r --arg b "$NAME_B" '.vifs[] | select(.name == $b) | .ifname' \
	<<<"$list")
SVC_B=$(jq -r --arg b "$NAME_B" '.vifs[] | select(.name == $b) | .peer_ifname' \
	<<<"$list")
check "the service ports carry XDP" xdp_on "$PORT_A"
check "$NAME_B's service end lives in $NS" \
	ip -n "$NS" link show dev "$SVC_B"

check "chain set $NAME_A $NAME_B" ctl chain set "$NAME_A" "$NAME_B"
check "chain list shows it" \
	jqt --arg a "$NAME_A" --arg b "$NAME_B" \
	'any(.chains[]; [.hops[].name] == [$a, $b])' \
	<<<"$(ctl -j chain list)"
check "vif show: $NAME_A's next hop is $NAME_B" \
	jqt --arg b "$NAME_B" '.next_hop.name == $b' \
	<<<"$(ctl -j vif show "$NAME_A")"

check "quota set $NAME_A 1G monthly block both" \
	ctl quota set "$NAME_A" 1G monthly block both
check "quota show: 1e9 bytes, monthly, nothing used" \
	jqt '.quotas[0].limit == 1000000000 and .quotas[0].period == "monthly" and .quotas[0].used == 0' \
	<<<"$(ctl -j quota show "$NAME_A")"

stats=$(ctl -j stats)
check "stats: counters for both VIFs and the global ones" \
	jqt --arg a "$NAME_A" --arg b "$NAME_B" \
	'([.vifs[].name] | index($a) != null and index($b) != null) and (.global | has("trunk_rx_packets"))' \
	<<<"$stats"
check "bad input: BAD_ARGS names the argument" \
	bash -c '"$0" -s "$1" -j call vif.create "{\"name\":\"x\",\"vlan\":\"7\"}" 2>&1 | grep -q "\"vlan\""' \
	"$VIFCTL" "$TMP/vifd.sock"

# SIGHUP: a reloadable key and a restart-only one.
sed -i 's/^log_level = info/log_level = debug/' "$TMP/vifd.conf"
printf '[retention]\nevent_retention = 5000\n' >>"$TMP/vifd.conf"
sed -i "s|^state_dir = .*|state_dir = $TMP/state2|" "$TMP/vifd.conf"
kill -HUP "$VIFD_PID"
sleep 0.5
check "SIGHUP: vifd still serves" ctl ping
check "SIGHUP: reloadable keys applied" \
	grep -q "reload: applied .*log_level" "$TMP/vifd.log"
check "SIGHUP: restart-only keys reported" \
	grep -q "ignored until restart: state_dir" "$TMP/vifd.log"
sed -i "s|^state_dir = .*|state_dir = $TMP/state|" "$TMP/vifd.conf"

stop_vifd
check "SIGTERM: vifd exits 0" test "${STOP_RC:-x}" = 0
check "after vifd: the trunk still carries XDP" xdp_on "$TRUNK"
check "after vifd: $PORT_A still carries XDP" xdp_on "$PORT_A"
check "after vifd: $PORT_B still carries XDP" xdp_on "$PORT_B"
check "after vifd: the dataplane maps are still pinned" \
	test -e "$PIN/vif_policy" -a -e "$PIN/vif_index" -a -e "$PIN/vif_ports"
check "after vifd: $NAME_A's policy is still in the dataplane" \
	"$VIFDP" -d "$PIN" vif show "$VLAN_A"

# ---- second run: reconcile ----------------------------------------------

: >"$TMP/vifd2.log"
if start_vifd "$TMP/vifd2.log"; then
	check "restart: vifd serves again" true
	list=$(ctl -j vif list)
	check "restart: both VIFs back, ACTIVE" \
		jqt --arg a "$NAME_A" --arg b "$NAME_B" \
		'[.vifs[] | select(.name == $a or .name == $b) | .state] == ["ACTIVE", "ACTIVE"]' \
		<<<"$list"
	check "restart: reconcile found them intact" \
		grep -q "reconcile: 2 ACTIVE ok, 0 repaired, 0 failed" \
		"$TMP/vifd2.log"
	check "restart: the chain is still there" \
		jqt --arg b "$NAME_B" '.next_hop.name == $b' \
		<<<"$(ctl -j vif show "$NAME_A")"
	check "restart: the quota is still there" \
		jqt '.quotas[0].limit == 1000000000' \
		<<<"$(ctl -j quota show "$NAME_A")"
	check "restart: the event history survived" \
		jqt '.first >= 1 and .last > 10' \
		<<<"$(ctl -j call events.subscribe '{"since":0}' 2>/dev/null |
			head -n 1)"
	check "chain clear" ctl chain clear "$NAME_A"
	check "vif delete $NAME_B" ctl vif delete "$NAME_B"
	check "vif delete $NAME_A" ctl vif delete "$NAME_A"
	check "vif list: ours are gone" \
		jqt --arg a "$NAME_A" --arg b "$NAME_B" \
		'[.vifs[] | select(.name == $a or .name == $b)] == []' \
		<<<"$(ctl -j vif list)"
	check "their links are gone" \
		bash -c '! ip link show dev "$0" 2>/dev/null' "$PORT_A"
	stop_vifd
	check "second SIGTERM: vifd exits 0" test "${STOP_RC:-x}" = 0
else
	fail "restart: vifd serves again"
fi

if [ "$FAILED" -ne 0 ]; then
	log "vifd logs:"
	sed 's/^/#   /' "$TMP/vifd.log" "$TMP/vifd2.log" 2>/dev/null
	exit 1
fi
echo "PASS"
exit 0
