#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_dataplane.sh - the XDP dataplane's forwarding rules on real veths
# with real traffic: VLAN isolation both ways, chains, the kill switch,
# quotas and routing marks.  See lib.sh for the topology.
#
# Usage: test_dataplane.sh [TEST...]   (default: all of ALL_TESTS)
# Needs root; exits 77 when a tool or kernel feature is missing.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_TESTS="
	test_native_attach
	test_trunk_isolation
	test_trunk_bad_frames
	test_service_isolation
	test_service_spoof
	test_chain
	test_killswitch
	test_quota
	test_routing_mark
	test_big_ifindex
"

# UDP port of test traffic: lets captures ignore anything else.
PORT_UDP=$((20000 + RANDOM % 20000))
# A destination only the routing-mark test's table knows.
MARK_DST=198.51.100.$((1 + RANDOM % 250))
# ip rule preference for that test (removed at exit).
RULE_PREF=$((9000 + RANDOM % 500))

# set_forward 0|1: net.ipv4.ip_forward in the root ns; cleanup restores it.
set_forward() {
	[ -n "$SAVED_FORWARD" ] ||
		SAVED_FORWARD=$(sysctl -n net.ipv4.ip_forward)
	sysctl -qw net.ipv4.ip_forward="$1"
}

sink_attach() {
	local s=$1

	nsb "${NS[$s]}" "$VIFGEN" sink attach --dev "${SVC[$s]}" \
		--pin "$TAG$s" --pass >/dev/null || return 1
	CREATED_SINKS+=("$TAG$s")
}

sink_detach() {
	local s=$1

	nsb "${NS[$s]}" "$VIFGEN" sink detach --dev "${SVC[$s]}" \
		--pin "$TAG$s" >/dev/null
}

# sink_json SVC: what the sink on SVC's end counted, as JSON.
sink_json() {
	"$VIFGEN" sink read --pin "$TAG$1" --json
}

# ---------------------------------------------------------------------

# Every dataplane hook runs in native (driver) mode, with our programs.
test_native_attach() {
	local dev

	for dev in "$IF_TR" "${PORT[@]}"; do
		check_true "$dev runs XDP natively" \
			test "$(xdp_mode "$dev")" = xdp
	done
	check_true "trunk runs vif_xdp_trunk" \
		bash -c "ip -d link show dev $IF_TR | grep -q 'name vif_xdp_trunk'"
	for dev in "${PORT[@]}"; do
		check_true "$dev runs vif_xdp_service" \
			bash -c "ip -d link show dev $dev | grep -q 'name vif_xdp_service'"
		check_true "$dev runs the tc mark program" tc_mark_on "$dev"
	done
}

# Trunk -> service: a VLAN's frames reach its service and no other.
test_trunk_isolation() {
	local s t n per=1000 json got want

	# Bulk: vifgen round-robins VLANs 101..104 (104 has no VIF) and stamps
	# the VLAN into each frame's source MAC, so a sink on every service end
	# can tell which VLAN a frame came in on after the tag is gone.
	for s in $SVCS; do
		sink_attach "$s" || { fail "vifgen sink on ${SVC[$s]}"; return; }
	done
	nsb "$NS_RTR" "$VIFGEN" send --dev "$IF_TK" --count $((4 * per)) \
		--vlan-base "${VLAN[a]}" --vlans 4 --batch 16 >/dev/null ||
		fail "vifgen send"
	sleep 0.3
	for s in $SVCS; do
		json=$(sink_json "$s")
		info "sink $s: $json"
		check_eq "service $s received exactly its VLAN's frames" \
			"$(jq -r ".by_vlan[\"${VLAN[$s]}\"] // 0" <<<"$json")" $per
		check_eq "service $s received nothing else" \
			"$(jq -r '[.by_vlan | to_entries[].value] | add // 0' <<<"$json")" $per
		check_eq "vif ${VLAN[$s]} rx_packets" \
			"$(vif_stat "${VLAN[$s]}" .rx_packets)" $per
	done
	check_eq "VLAN 104 (no VIF) dropped as unknown_vlan" \
		"$(global_stat .drops.unknown_vlan)" $per
	for s in $SVCS; do
		sink_detach "$s"
	done

	# Real UDP: the router sends to each service's address on its VLAN;
	# only that service's end sees the frames, and its socket gets them.
	for t in $SVCS; do
		for s in $SVCS; do
			cap_start "iso_$s" "${NS[$s]}" "${SVC[$s]}" udp port $PORT_UDP
		done
		udp_recv_start "rx_$t" "${NS[$t]}" $PORT_UDP 2
		nsx "$NS_RTR" "$PY" "$PKT" raw --dev "$IF_TK" \
			--vlan "${VLAN[$t]}" --dst "${SVC_MAC[$t]}" \
			--src "$RTR_MAC" --ip-src "${RTR_IP[$t]}" \
			--ip-dst "${SVC_IP[$t]}" --port $PORT_UDP --count 20 >/dev/null
		udp_recv_wait "rx_$t"
		check_eq "VLAN ${VLAN[$t]}: service $t's socket got the datagrams" \
			"$RECV_COUNT" 20
		for s in $SVCS; do
			cap_stop "iso_$s"
			[ "$s" = "$t" ] && want=20 || want=0
			got=$(cap_count "iso_$s")
			check_eq "VLAN ${VLAN[$t]}: frames seen in service $s" "$got" $want
		done
	done
}

# Frames the trunk must refuse never reach any service.
test_trunk_bad_frames() {
	local s

	for s in $SVCS; do
		cap_start "bad_$s" "${NS[$s]}" "${SVC[$s]}"
	done
	nsb "$NS_RTR" "$VIFGEN" send --dev "$IF_TK" --count 10 --untagged \
		>/dev/null
	nsb "$NS_RTR" "$VIFGEN" send --dev "$IF_TK" --count 10 --vlan-base 0 \
		>/dev/null
	nsb "$NS_RTR" "$VIFGEN" send --dev "$IF_TK" --count 10 \
		--vlan-base 4095 >/dev/null
	nsb "$NS_RTR" "$VIFGEN" send --dev "$IF_TK" --count 10 \
		--vlan-base "${VLAN[a]}" --tpid 0x88a8 >/dev/null
	for s in $SVCS; do
		cap_stop "bad_$s"
		check_eq "service $s saw none of the bad frames" \
			"$(cap_count "bad_$s")" 0
	done
	check_eq "untagged dropped" "$(global_stat .drops.untagged)" 10
	check_eq "priority-tagged dropped" "$(global_stat .drops.prio_tag)" 10
	check_eq "VLAN 4095 dropped" "$(global_stat .drops.vid_reserved)" 10
	check_eq "S-tag (QinQ) dropped" "$(global_stat .drops.qinq)" 10
}

# Service -> trunk: A's traffic leaves tagged with A's VLAN only, and A
# cannot reach B (neither by addressing B's MAC nor through the host).
test_service_isolation() {
	local a=${VLAN[a]} b=${VLAN[b]} n host0

	# A to the router: every frame on the trunk carries tag A.
	cap_start trk "$NS_RTR" "$IF_TK"
	n=$(udp_send a "${RTR_IP[a]}" $PORT_UDP --count 50)
	cap_stop trk
	check_eq "A sent" "$n" 50
	check_eq "frames on the trunk" "$(cap_count trk)" 50
	check_eq "... tagged VLAN $a, to the router, from A" \
		"$(cap_count trk vlan "$a" and ether src "${SVC_MAC[a]}" and \
			ether dst "$RTR_MAC" and udp dst port $PORT_UDP)" 50
	check_eq "... with 802.1Q TPID 0x8100" \
		"$(cap_show trk | grep -c 'ethertype 802.1Q (0x8100).*vlan '"$a"', ')" 50
	check_eq "... none untagged" "$(cap_count trk not vlan)" 0
	check_eq "... none with a bad UDP checksum" \
		"$(cap_show trk -vv | grep -c 'bad udp cksum')" 0
	check_eq "vif $a tx_packets" "$(vif_stat "$a" .tx_packets)" 50

	# A addresses B's service end directly (on-link route, static
	# neighbour): the frame must not be switched into B; it goes to the
	# trunk on A's VLAN, where the router's policy decides.
	ip -n "${NS[a]}" route add "10.$O2.$b.0/24" dev "${SVC[a]}"
	ip -n "${NS[a]}" neigh replace "${SVC_IP[b]}" lladdr "${SVC_MAC[b]}" \
		dev "${SVC[a]}" nud permanent
	cap_start trk "$NS_RTR" "$IF_TK"
	cap_start svcb "${NS[b]}" "${SVC[b]}"
	cap_start svcc "${NS[c]}" "${SVC[c]}"
	n=$(udp_send a "${SVC_IP[b]}" $PORT_UDP --count 20)
	cap_stop trk
	cap_stop svcb
	cap_stop svcc
	ip -n "${NS[a]}" route del "10.$O2.$b.0/24" dev "${SVC[a]}"
	ip -n "${NS[a]}" neigh del "${SVC_IP[b]}" dev "${SVC[a]}"
	check_eq "A -> B's MAC: frames in B" "$(cap_count svcb)" 0
	check_eq "A -> B's MAC: frames in C" "$(cap_count svcc)" 0
	check_eq "A -> B's MAC: left on the trunk tagged $a" \
		"$(cap_count trk vlan "$a" and ether dst "${SVC_MAC[b]}")" 20
	check_eq "A -> B's MAC: nothing on the trunk tagged $b" \
		"$(cap_count trk vlan "$b")" 0

	# A routes to B through the appliance (default route = host_addr):
	# the frame is host-bound and the host does not forward between VIFs.
	set_forward 0
	host0=$(vif_stat "$a" .host_packets)
	cap_start svcb "${NS[b]}" "${SVC[b]}"
	cap_start trk "$NS_RTR" "$IF_TK" udp port $PORT_UDP
	udp_send a "${SVC_IP[b]}" $PORT_UDP --count 20 >/dev/null
	cap_stop svcb
	cap_stop trk
	check_eq "A -> B via the host: frames in B" "$(cap_count svcb)" 0
	check_eq "A -> B via the host: frames on the trunk" "$(cap_count trk)" 0
	check_ge "A -> B via the host: went to the host stack" \
		$(($(vif_stat "$a" .host_packets) - host0)) 20
}

# A service may send only from its own subnet and only untagged frames.
test_service_spoof() {
	local a=${VLAN[a]} b=${VLAN[b]}

	cap_start trk "$NS_RTR" "$IF_TK" udp port $PORT_UDP
	# B's address as source: spoof.
	nsx "${NS[a]}" "$PY" "$PKT" raw --dev "${SVC[a]}" --dst "$RTR_MAC" \
		--src "${SVC_MAC[a]}" --ip-src "${SVC_IP[b]}" \
		--ip-dst "${RTR_IP[a]}" --port $PORT_UDP --count 10 >/dev/null
	# A pre-tagged frame for B's VLAN: VLAN hopping.
	nsx "${NS[a]}" "$PY" "$PKT" raw --dev "${SVC[a]}" --vlan "$b" \
		--dst "$RTR_MAC" --src "${SVC_MAC[a]}" --ip-src "${SVC_IP[a]}" \
		--ip-dst "${RTR_IP[b]}" --port $PORT_UDP --count 10 >/dev/null
	cap_stop trk
	check_eq "spoofed and pre-tagged frames on the trunk" "$(cap_count trk)" 0
	check_eq "vif $a spoof drops" "$(vif_stat "$a" .drops.spoof)" 10
	check_eq "vif $a svc_tagged drops" "$(vif_stat "$a" .drops.svc_tagged)" 10
}

# Chain A -> B: A's traffic goes into B's service, addressed to it, and
# never onto the trunk.
test_chain() {
	local a=${VLAN[a]} b=${VLAN[b]} n

	set_forward 0
	dpq chain "$a" "$b" || { fail "vifdp chain $a $b"; return; }
	check_eq "vif show: A's next hop" \
		"$("$VIFDP" -d "$PIN" -j vif show "$a" | jq -r .next_hop)" "$b"
	cap_start trk "$NS_RTR" "$IF_TK" udp port $PORT_UDP
	cap_start svcb "${NS[b]}" "${SVC[b]}" udp port $PORT_UDP
	cap_start svcc "${NS[c]}" "${SVC[c]}" udp port $PORT_UDP
	udp_recv_start rxb "${NS[b]}" $PORT_UDP 2
	n=$(udp_send a "${SVC_IP[b]}" $PORT_UDP --count 30)
	check_eq "A sent" "$n" 30
	udp_recv_wait rxb
	check_eq "B's socket received A's datagrams" "$RECV_COUNT" 30
	cap_stop trk
	cap_stop svcb
	cap_stop svcc
	check_eq "frames in B's ns" "$(cap_count svcb)" 30
	check_eq "... to B's service MAC, from B's port MAC, from A's address" \
		"$(cap_count svcb ether dst "${SVC_MAC[b]}" and \
			ether src "${PORT_MAC[b]}" and src host "${SVC_IP[a]}")" 30
	check_eq "... none with a bad UDP checksum" \
		"$(cap_show svcb -vv | grep -c 'bad udp cksum')" 0
	check_eq "none of it on the trunk" "$(cap_count trk)" 0
	check_eq "none of it in C" "$(cap_count svcc)" 0
	check_ge "vif $a chain_packets" "$(vif_stat "$a" .chain_packets)" 30

	# Without the chain the same traffic no longer reaches B.
	dpq chain "$a" none
	cap_start svcb "${NS[b]}" "${SVC[b]}" udp port $PORT_UDP
	udp_send a "${SVC_IP[b]}" $PORT_UDP --count 10 >/dev/null
	cap_stop svcb
	check_eq "chain removed: frames in B" "$(cap_count svcb)" 0
}

# Kill switch engaged while A floods: nothing of A's VLAN on the trunk.
test_killswitch() {
	local a=${VLAN[a]} pid n d0 d1

	cap_start pre "$NS_RTR" "$IF_TK" vlan "$a"
	ip netns exec "${NS[a]}" "$PY" "$PKT" udp-send --dst "${RTR_IP[a]}" \
		--port $PORT_UDP --count 0 --duration 5 --rate 20000 \
		>"$TMP/flood.out" &
	pid=$!
	bg_add "$pid"
	sleep 0.5
	cap_stop pre
	check_gt "flood reaches the trunk before the kill switch" \
		"$(cap_count pre)" 0

	dpq killswitch "$a" on || fail "vifdp killswitch $a on"
	check_true "vif show: kill switch engaged" \
		test "$("$VIFDP" -d "$PIN" -j vif show "$a" | jq -r .killswitch)" = true
	# Frames judged before the flip may still sit in queues: let them out.
	sleep 0.2
	d0=$(vif_stat "$a" .drops.killswitch)
	cap_start ks "$NS_RTR" "$IF_TK" vlan "$a"
	sleep 2
	cap_stop ks
	d1=$(vif_stat "$a" .drops.killswitch)
	check_eq "frames of VLAN $a on the trunk while engaged" \
		"$(cap_count ks)" 0
	check_gt "killswitch drops while engaged" $((d1 - d0)) 0

	# ARP with the host itself still works (and stays on the appliance).
	ip -n "${NS[a]}" neigh flush dev "${SVC[a]}" to "${HOST_IP[a]}"
	nsx "${NS[a]}" ping -c 1 -W 1 "${HOST_IP[a]}" >/dev/null 2>&1 &&
		fail "ping to the host passed the kill switch"
	check_true "ARP for host_addr resolved while engaged" bash -c \
		"ip -n ${NS[a]} neigh show ${HOST_IP[a]} dev ${SVC[a]} | grep -q ${PORT_MAC[a]}"

	wait "$pid"
	bg_forget "$pid"
	info "flood sent $(cat "$TMP/flood.out") datagrams"

	# Released: a fresh burst (the flood may be over on a slow machine).
	dpq killswitch "$a" off || fail "vifdp killswitch $a off"
	cap_start post "$NS_RTR" "$IF_TK" vlan "$a"
	n=$(udp_send a "${RTR_IP[a]}" $PORT_UDP --count 20)
	cap_stop post
	check_eq "released: burst sent" "$n" 20
	check_eq "released: the burst reaches the trunk" "$(cap_count post)" 20
}

# Byte quota, tx, block: the trunk gets about the limit, then nothing.
test_quota() {
	local a=${VLAN[a]} limit=100000 frame=1000 used n bytes

	dpq quota "$a" set $limit dir tx action block ||
		{ fail "vifdp quota set"; return; }
	cap_start trk "$NS_RTR" "$IF_TK" vlan "$a" and udp port $PORT_UDP
	# 1000-byte frames: 14 Ethernet + 20 IP + 8 UDP + 958 payload.
	udp_send a "${RTR_IP[a]}" $PORT_UDP --count 200 \
		--size $((frame - 42)) --rate 5000 >/dev/null
	cap_stop trk
	used=$(quota_field "$a" used)
	n=$(cap_count trk)
	bytes=$((n * frame))
	info "quota used $used of $limit; $n frames ($bytes bytes) on the trunk"
	check_le "admitted bytes" "$used" $((limit + 2 * 1514))
	check_ge "admitted bytes" "$used" $((limit - 2 * 16384))
	check_le "bytes on the trunk" "$bytes" $((limit + 2 * 1514))
	check_ge "bytes on the trunk" "$bytes" $((limit - 2 * 16384))
	check_le "bytes on the trunk vs admitted" "$bytes" "$used"
	check_gt "quota drops" "$(vif_stat "$a" .drops.quota)" 0

	# Still blocked.
	cap_start trk "$NS_RTR" "$IF_TK" vlan "$a" and udp port $PORT_UDP
	udp_send a "${RTR_IP[a]}" $PORT_UDP --count 10 >/dev/null
	cap_stop trk
	check_eq "over quota: frames on the trunk" "$(cap_count trk)" 0

	# A reset opens a new period.
	dpq quota "$a" reset || fail "vifdp quota reset"
	cap_start trk "$NS_RTR" "$IF_TK" vlan "$a" and udp port $PORT_UDP
	udp_send a "${RTR_IP[a]}" $PORT_UDP --count 10 \
		--size $((frame - 42)) >/dev/null
	cap_stop trk
	check_eq "after reset: frames on the trunk" "$(cap_count trk)" 10
	check_eq "after reset: quota used" "$(quota_field "$a" used)" \
		$((10 * frame))
}

# Host-bound traffic carries the VIF's mark, which selects the VIF's table.
test_routing_mark() {
	local a=${VLAN[a]} s

	set_forward 1
	# The test destination: routed only in A's table; main says
	# unreachable so nothing leaks out of the machine's default route.
	ip route add "$MARK_DST/32" via "$GW_NET.2" dev "$IF_G0" \
		table "${TABLE[a]}" || { fail "ip route add"; return; }
	on_cleanup "ip route del $MARK_DST/32 table ${TABLE[a]}"
	ip route add unreachable "$MARK_DST/32" ||
		{ fail "ip route add unreachable"; return; }
	on_cleanup "ip route del unreachable $MARK_DST/32"
	ip rule add pref $RULE_PREF fwmark "${MARK[a]}" table "${TABLE[a]}" ||
		{ fail "ip rule add"; return; }
	on_cleanup "ip rule del pref $RULE_PREF"

	cap_start gw "$NS_GW" "$IF_G1" udp port $PORT_UDP
	udp_send a "$MARK_DST" $PORT_UDP --count 10 >/dev/null
	cap_stop gw
	check_eq "A's packets left through A's table's gateway" \
		"$(cap_count gw src host "${SVC_IP[a]}" and dst host "$MARK_DST")" 10
	check_ge "vif $a host_packets" "$(vif_stat "$a" .host_packets)" 10

	# Another VIF's mark picks another table: B's packets do not go there.
	cap_start gw "$NS_GW" "$IF_G1" udp port $PORT_UDP
	udp_send b "$MARK_DST" $PORT_UDP --count 10 >/dev/null
	cap_stop gw
	check_eq "B's packets (other mark) through A's gateway" "$(cap_count gw)" 0

	# A with another mark: no longer A's table.  ("vif add" refuses an
	# existing VIF, so re-create it.)
	dpq vif del "$a" || fail "vifdp vif del"
	dpq vif add "$a" port "${PORT[a]}" addr "${SVC_IP[a]}/24" \
		host "${HOST_IP[a]}" mark $((MARK[a] + 1)) table "${TABLE[a]}" \
		svc-mac "${SVC_MAC[a]}" || fail "vifdp vif add (new mark)"
	cap_start gw "$NS_GW" "$IF_G1" udp port $PORT_UDP
	udp_send a "$MARK_DST" $PORT_UDP --count 10 >/dev/null
	cap_stop gw
	check_eq "A with a changed mark: packets through A's gateway" \
		"$(cap_count gw)" 0
	dpq vif del "$a" || fail "vifdp vif del"
	dpq vif add "$a" port "${PORT[a]}" addr "${SVC_IP[a]}/24" \
		host "${HOST_IP[a]}" mark "${MARK[a]}" table "${TABLE[a]}" \
		svc-mac "${SVC_MAC[a]}" || fail "vifdp vif add (old mark)"

	# Without the rule: main table, unreachable.
	ip rule del pref $RULE_PREF
	cap_start gw "$NS_GW" "$IF_G1" udp port $PORT_UDP
	udp_send a "$MARK_DST" $PORT_UDP --count 10 >/dev/null
	cap_stop gw
	check_eq "rule removed: packets through A's gateway" "$(cap_count gw)" 0
	set_forward "$SAVED_FORWARD"
}

lib_init
topo_setup
dp_setup
log "tag $TAG, pins $PIN, subnets 10.$O2.<vlan>.0/24, trunk $IF_TR"
# A service port whose ifindex is beyond the vif_ports array (long-lived
# hosts get there): found through vif_ports_big, same rules.
test_big_ifindex() {
	local v=109 ns="vifns-$TAG-d" port="vp${TAG}pd" svc="vp${TAG}sd"
	local idx=$((70000 + RANDOM % 10000)) n

	ns_add "$ns"
	ip link add "$port" index "$idx" type veth peer name "$svc" \
		netns "$ns" || fail "veth with ifindex $idx"
	CREATED_IF+=("$port")
	ethtool -K "$port" rxvlan off txvlan off >/dev/null 2>&1
	nsx "$ns" ethtool -K "$svc" rxvlan off txvlan off gro on tx off \
		>/dev/null 2>&1
	ip link set "$port" up
	ip -n "$ns" addr add "10.$O2.$v.1/24" dev "$svc"
	ip -n "$ns" link set "$svc" up
	ip -n "$ns" neigh replace "10.$O2.$v.2" lladdr "$RTR_MAC" \
		dev "$svc" nud permanent
	check_eq "port ifindex" "$(cat /sys/class/net/"$port"/ifindex)" "$idx"
	dpq port attach "$port" || fail "port attach"
	dpq vif add $v port "$port" addr "10.$O2.$v.1/24" \
		svc-mac "$(mac_of "$ns" "$svc")" || fail "vif add $v"

	cap_start trk "$NS_RTR" "$IF_TK"
	NS[d]=$ns
	n=$(udp_send d "10.$O2.$v.2" $PORT_UDP --count 20)
	cap_stop trk
	check_eq "sent" "$n" 20
	check_eq "on the trunk tagged $v" \
		"$(cap_count trk vlan $v and udp dst port $PORT_UDP)" 20
	check_eq "vif $v tx_packets" "$(vif_stat $v .tx_packets)" 20
	check_eq "unknown_port drops" "$(global_stat .drops.unknown_port)" 0

	dpq vif del $v
	dpq port detach "$port"
	unset 'NS[d]'
}

run_tests "$@"
