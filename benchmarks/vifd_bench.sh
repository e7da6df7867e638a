#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# vifd_bench.sh - the daemon's figures from issue 3, with a real vifd:
# time to create every VIF the pool allows in one change set, its memory,
# control-socket latency, and the kill-switch leak window.
#
#   vifd_bench.sh [--runs R] [--count N] [--lat-count N] [--no-delete]
#                 [--no-leak] [--profile DIR]
#
#   --runs R       independent runs, each with a fresh vifd, state dir, pin
#                  dir and network namespace (default 3); figures are the
#                  medians over the runs
#   --count N      VIFs to create, 1-4092 (default 4092: all of the pool
#                  2-4093)
#   --lat-count N  requests per latency figure and client (default 2000;
#                  vif.list gets N/20, it is ~100x dearer with 4092 VIFs)
#   --no-delete    clean up by hand only; by default run 1 also times
#                  vifd deleting every VIF through one change set (about
#                  100 s with 4092 VIFs: it is the kernel's veth teardown)
#   --no-leak      skip build/benchmarks/killswitch_leak
#   --profile DIR  perf record -g (cpu-clock) on vifd during run 1's
#                  create; DIR/perf.data and DIR/perf.txt
#
# Each run, in network namespaces of its own (unshare -n), so the run
# meets no other interface, rule or route on the host, and leaves none:
#
#   base  bare veth pairs: `ip -batch` creating N pairs with the names
#         vifd will use (veth_create_<N>_s), then the netlink floor: what
#         vifd asks the kernel for, per VIF, batched by ip/tc without
#         vifd (veth pair, 2 addresses, 2 links up, fwmark rule, clsact
#         qdisc, and once the kill-switch floor rule; no XDP or tc program,
#         IPv6 off by default): netlink_floor_<N>_s
#   vifd  a fresh vifd (private config: pool 2-4093, no trunk, native
#         XDP), idle RSS and ping latency, then ONE changeset.apply of N
#         vif.create items, timed from the request's write to the
#         answer's newline (vifd_latency -1); its state must be CONFIRMED,
#         vif.list must show N VIFs ACTIVE and the netns 2N veths.  Then
#         RSS after a few stats samples and a `stats` request, latency of
#         ping, vif.show and vif.list from 1 client and from 8; then a
#         restart (SIGTERM keeps the VIFs; the new vifd must reconcile all
#         N intact): its start time and RSS, what N VIFs cost without the
#         heap a big change set leaves behind; and (run 1) the deletion
#         of all N through one change set.  vifd gets SIGTERM and must
#         exit 0 every time.
#
# Cleanup, also from the traps: vifd stopped (SIGTERM, then SIGKILL after
# 30 s); links deleted in ONE netlink request (`ip link set ... group G`
# for each, by ip -batch, then `ip link del group G`: under a second for
# 4092 pairs, where deleting them one by one takes ~100 s); the pin
# directory removed with `vifdp teardown` (fast once the ports are gone);
# the netns goes with its last process; the temporary directory removed.
#
# Output: `BENCH <name> <value> <unit>` lines (medians) at the end, with
# the goals (create < 2 s, RSS < 16 MiB, leak window < 2 s).  Root only:
# exits 77 without root or a built vifd/vifdp/vifd_latency; 1 when a run
# fails its checks.  Binaries from $VIF_BUILD (default ../build next to
# this file); $VIFD_LATENCY overrides the client's path.
set -u

KSFT_SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VIF_BUILD:=$HERE/../build}"
VIFD=$VIF_BUILD/control/vifd
VIFDP=$VIF_BUILD/tools/vifdp
LEAK=$VIF_BUILD/benchmarks/killswitch_leak
: "${VIFD_LATENCY:=$VIF_BUILD/benchmarks/vifd_latency}"
CLIENT=$VIFD_LATENCY

POOL_LO=2
POOL_HI=4093
LINK_GROUP=4242 # our links, for the one-request bulk delete
RUNS=3
COUNT=$((POOL_HI - POOL_LO + 1))
LAT_COUNT=2000
DELETE=1
LEAK_RUN=1
PROFILE=

log() { printf '# %s\n' "$*"; }

die() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}

now_s() { printf '%s\n' "$EPOCHREALTIME"; }

# elapsed T0 T1: seconds, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }

# ---- the per-run children (each runs in a netns of its own) ------------

# raw KEY VALUE: one measurement of this run, for the parent.
raw() { printf '%s %s\n' "$1" "$2" >>"$RUN_DIR/raw"; }

# veth_names: "vp<vlan>-<name> vs<vlan>-<name>", one pair a line, the
# names vifd gives VIF i (VLAN POOL_LO + i - 1, name TAG + 4 digits).
veth_names() {
	awk -v n="$COUNT" -v lo="$POOL_LO" -v tag="$TAG" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "vp%d-%s%04d vs%d-%s%04d\n", lo + i - 1, tag, i,
			       lo + i - 1, tag, i }'
}

# links_del_all: every veth of this netns (all ours) in one request.
links_del_all() {
	local batch=$RUN_DIR/del.batch

	ip -o link show type veth 2>/dev/null |
		awk -F': ' -v g="$LINK_GROUP" '{ sub(/@.*/, "", $2);
			print "link set dev " $2 " group " g }' >"$batch"
	[ -s "$batch" ] || return 0
	ip -batch "$batch" >/dev/null 2>&1
	ip link del group "$LINK_GROUP" 2>/dev/null
}

veth_count() { ip -o link show type veth 2>/dev/null | wc -l; }

child_base() {
	local t0 t1 f total

	trap links_del_all EXIT
	trap 'exit 1' INT TERM
	ip link set lo up
	veth_names | awk '{ print "link add " $1 " type veth peer name " $2 }' \
		>"$RUN_DIR/veth.batch"
	t0=$(now_s)
	ip -batch "$RUN_DIR/veth.batch" || die "ip -batch: creating veths"
	t1=$(now_s)
	[ "$(veth_count)" -eq $((2 * COUNT)) ] || die "bare veths: not $((2 * COUNT))"
	raw veth_create "$(elapsed "$t0" "$t1")"
	t0=$(now_s)
	links_del_all
	t1=$(now_s)
	[ "$(veth_count)" -eq 0 ] || die "bare veths: not all deleted"
	raw veth_delete_group "$(elapsed "$t0" "$t1")"

	# The netlink floor, VIF i as vifd would make it (vlan24 scheme,
	# marks 0x10000 + v, tables 1000 + v), IPv6 off as vifd has it, one
	# batch per kind of request.
	sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	veth_names | awk -v lo="$POOL_LO" -v d="$RUN_DIR" '{
		v = lo + NR - 1; a = 10 * 16777216 + 100 * 65536 + v * 256
		net = sprintf("%d.%d.%d", int(a / 16777216),
			      int(a / 65536) % 256, int(a / 256) % 256)
		print "link add " $1 " type veth peer name " $2 > (d "/f_veth")
		print "addr add " net ".254/24 dev " $1 > (d "/f_addr_up")
		print "addr add " net ".1/24 dev " $2 > (d "/f_addr_up")
		print "link set dev " $1 " up" > (d "/f_addr_up")
		print "link set dev " $2 " up" > (d "/f_addr_up")
		print "rule add pref 9000 fwmark " 65536 + v " table " 1000 + v \
			> (d "/f_rule")
		print "qdisc add dev " $1 " clsact" > (d "/f_clsact") }
		END {	# the kill-switch floor: rules, not a route per table
			print "rule add pref 9001 fwmark 0x10000/0xfffff000 blackhole" \
				> (d "/f_route") }'
	total=0
	for f in veth addr_up rule route clsact; do
		t0=$(now_s)
		if [ "$f" = clsact ]; then
			tc -batch "$RUN_DIR/f_$f" || die "tc -batch: netlink floor ($f)"
		else
			ip -batch "$RUN_DIR/f_$f" || die "ip -batch: netlink floor ($f)"
		fi
		t1=$(now_s)
		raw "floor_$f" "$(elapsed "$t0" "$t1")"
		total=$(awk -v a="$total" -v b="$(elapsed "$t0" "$t1")" \
			'BEGIN { printf "%.3f\n", a + b }')
	done
	raw netlink_floor "$total"
	links_del_all
}

vifd_alive() { [ -n "${VIFD_PID:-}" ] && kill -0 "$VIFD_PID" 2>/dev/null; }

# req JSON: one request, answer to stdout; 0 when ok.
req() { timeout 900 "$CLIENT" -s "$RUN_DIR/vifd.sock" -1 <<<"$1" 2>/dev/null; }

stop_vifd() {
	local _

	STOP_RC=
	vifd_alive || return 0
	kill -TERM "$VIFD_PID"
	for _ in $(seq 1 300); do
		vifd_alive || break
		sleep 0.1
	done
	if vifd_alive; then
		log "vifd still running 30 s after SIGTERM; killing it"
		kill -KILL "$VIFD_PID"
	fi
	wait "$VIFD_PID"
	STOP_RC=$?
	VIFD_PID=
}

# start_vifd: vifd -f in the background, until it answers a ping (60 s
# at most); the time that took in START_S.
start_vifd() {
	local t0 _

	rm -f "$RUN_DIR/vifd.sock"
	t0=$(now_s)
	"$VIFD" -f -c "$RUN_DIR/vifd.conf" >>"$RUN_DIR/vifd.log" 2>&1 &
	VIFD_PID=$!
	echo "$VIFD_PID" >"$RUN_DIR/vifd.pid"
	for _ in $(seq 1 1200); do
		vifd_alive || break
		[ -S "$RUN_DIR/vifd.sock" ] &&
			req '{"id":1,"cmd":"ping"}' >/dev/null && break
		sleep 0.05
	done
	START_S=$(elapsed "$t0" "$(now_s)")
	if ! req '{"id":1,"cmd":"ping"}' >/dev/null; then
		sed 's/^/#   /' "$RUN_DIR/vifd.log"
		grep -q "Couldn't attach XDP" "$RUN_DIR/vifd.log" &&
			exit "$KSFT_SKIP"
		die "vifd did not start"
	fi
}

child_vifd_cleanup() {
	set +e
	[ -n "${PERF_PID:-}" ] && kill -INT "$PERF_PID" 2>/dev/null
	stop_vifd
	links_del_all
	[ -d "$PIN" ] && "$VIFDP" -d "$PIN" teardown >/dev/null 2>&1
	[ -d "$PIN" ] && rmdir "$PIN" 2>/dev/null
}

# status_kib FIELD: from vifd's /proc/PID/status.
status_kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$VIFD_PID/status"; }

# cpu_ticks: vifd's utime + stime.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$VIFD_PID/stat"; }

# lat PREFIX COUNT WARMUP CLIENTS CMD [ARGS]: latency figures as raw.
lat() {
	local prefix=$1 n=$2 w=$3 c=$4 cmd=$5 args=${6:-"{}"} out

	out=$(timeout 900 "$CLIENT" -s "$RUN_DIR/vifd.sock" -n "$n" -w "$w" \
		-c "$c" -a "$args" -p "$prefix" "$cmd") ||
		die "latency of $cmd ($c clients): the client failed"
	printf '%s\n' "$out" | grep '^#' >>"$RUN_DIR/notes"
	printf '%s\n' "$out" | awk '$1 == "BENCH" { print $2, $3 }' \
		>>"$RUN_DIR/raw"
	printf '%s\n' "$out" | sed -n 's/.*answer \([0-9]*\) bytes.*/\1/p' |
		head -n 1 | while read -r b; do raw "${prefix}_bytes" "$b"; done
}

child_vifd() {
	local t0 t1 c0 c1 hz ans us n show rc

	trap child_vifd_cleanup EXIT
	trap 'exit 1' INT TERM
	hz=$(getconf CLK_TCK)
	ip link set lo up
	cat >"$RUN_DIR/vifd.conf" <<EOF
# vifd_bench.sh run $RUN
[daemon]
state_dir = $RUN_DIR/state
socket_path = $RUN_DIR/vifd.sock
log_level = info

[dataplane]
pin_dir = $PIN
xdp_mode = native

[pool]
vlan_pool = $POOL_LO-$POOL_HI
EOF
	start_vifd
	raw vifd_start "$START_S"

	# Idle: a couple of stats samples (1 s timer), no VIF.
	sleep 2.5
	raw vifd_rss_idle "$(status_kib VmRSS)"
	lat vifd_ping_idle "$LAT_COUNT" 200 1 ping

	# The create.
	awk -v n="$COUNT" -v tag="$TAG" 'BEGIN {
		printf "{\"id\":\"create\",\"cmd\":\"changeset.apply\",\"args\":{\"items\":["
		for (i = 1; i <= n; i++)
			printf "%s{\"id\":\"c%d\",\"op\":\"vif.create\",\"args\":{\"name\":\"%s%04d\"}}",
			       (i > 1 ? "," : ""), i, tag, i
		print "]}}" }' >"$RUN_DIR/create.json"
	if [ -n "$PROFILE" ] && [ "$RUN" -eq 1 ]; then
		perf record -e cpu-clock -g -p "$VIFD_PID" \
			-o "$PROFILE/perf.data" >/dev/null 2>&1 &
		PERF_PID=$!
		sleep 1
	fi
	c0=$(cpu_ticks)
	timeout 900 "$CLIENT" -s "$RUN_DIR/vifd.sock" -1 <"$RUN_DIR/create.json" \
		>"$RUN_DIR/create.ans" 2>"$RUN_DIR/create.err"
	rc=$?
	c1=$(cpu_ticks)
	if [ -n "${PERF_PID:-}" ]; then
		kill -INT "$PERF_PID"
		wait "$PERF_PID"
		PERF_PID=
		perf report -i "$PROFILE/perf.data" --no-children \
			--sort dso,symbol --stdio -g none 2>/dev/null |
			head -n 60 >"$PROFILE/perf.txt"
	fi
	us=$(sed -n 's/^elapsed_us //p' "$RUN_DIR/create.err")
	if [ "$rc" -ne 0 ] || [ -z "$us" ] ||
	   ! jq -e '.ok and .result.changeset.state == "CONFIRMED"' \
		"$RUN_DIR/create.ans" >/dev/null; then
		die "create: $(head -c 600 "$RUN_DIR/create.ans" "$RUN_DIR/create.err")"
	fi
	raw vifd_create "$(awk -v u="$us" 'BEGIN { printf "%.3f\n", u / 1e6 }')"
	raw vifd_create_cpu "$(awk -v t=$((c1 - c0)) -v hz="$hz" \
		'BEGIN { printf "%.2f\n", t / hz }')"
	raw vifd_rss_peak "$(status_kib VmHWM)"
	[ "$(veth_count)" -eq $((2 * COUNT)) ] ||
		die "after the create: $(veth_count) veths, not $((2 * COUNT))"
	req '{"id":"l","cmd":"vif.list"}' >"$RUN_DIR/list.ans" ||
		die "vif.list failed"
	n=$(jq '[.result.vifs[] | select(.state == "ACTIVE")] | length' \
		"$RUN_DIR/list.ans")
	[ "$n" = "$COUNT" ] || die "after the create: $n VIFs ACTIVE, not $COUNT"

	# Settled: stats samples, one stats request; idle CPU over 5 s.
	c0=$(cpu_ticks)
	sleep 5
	c1=$(cpu_ticks)
	raw vifd_cpu_idle_full "$(awk -v t=$((c1 - c0)) -v hz="$hz" \
		'BEGIN { printf "%.1f\n", 100 * t / hz / 5 }')"
	ans=$(req '{"id":"s","cmd":"stats"}') || die "stats failed"
	raw vifd_stats_bytes "${#ans}"
	sleep 1
	raw vifd_rss_full "$(status_kib VmRSS)"
	raw vifd_rss_full_anon "$(status_kib RssAnon)"
	raw vifd_rss_full_file "$(status_kib RssFile)"

	# Latency with every VIF there; vif.show of the middle one.
	show=$(printf '{"name":"%s%04d"}' "$TAG" $(((COUNT + 1) / 2)))
	lat vifd_ping "$LAT_COUNT" 200 1 ping
	lat vifd_vif_show "$LAT_COUNT" 200 1 vif.show "$show"
	lat vifd_vif_list $((LAT_COUNT / 20)) 5 1 vif.list
	lat vifd_ping_8c $((LAT_COUNT / 2)) 100 8 ping
	lat vifd_vif_show_8c $((LAT_COUNT / 2)) 100 8 vif.show "$show"
	lat vifd_vif_list_8c $((LAT_COUNT / 200 > 0 ? LAT_COUNT / 200 : 1)) 1 8 \
		vif.list
	raw vifd_rss_after_lat "$(status_kib VmRSS)"

	# Restart: SIGTERM keeps every VIF; the new vifd reconciles them all
	# and holds only what they need (no change set went through it).
	stop_vifd
	[ "${STOP_RC:-x}" = 0 ] || die "vifd exited $STOP_RC on SIGTERM"
	start_vifd
	grep -q "reconcile: $COUNT ACTIVE ok, 0 repaired, 0 failed" \
		"$RUN_DIR/vifd.log" || die "restart: reconcile did not find $COUNT VIFs intact"
	raw vifd_restart "$START_S"
	sleep 2.5
	raw vifd_rss_restarted "$(status_kib VmRSS)"

	if [ "$DELETE" -eq 1 ] && [ "$RUN" -eq 1 ]; then
		sed -e 's/"id":"create"/"id":"delete"/' \
		    -e 's/"args":{"items"/"args":{"confirm":true,"items"/' \
		    -e 's/"op":"vif.create"/"op":"vif.delete"/g' \
		    -e 's/"id":"c\([0-9]*\)"/"id":"d\1"/g' \
			"$RUN_DIR/create.json" >"$RUN_DIR/delete.json"
		timeout 900 "$CLIENT" -s "$RUN_DIR/vifd.sock" -1 \
			<"$RUN_DIR/delete.json" >"$RUN_DIR/delete.ans" \
			2>"$RUN_DIR/delete.err"
		rc=$?
		us=$(sed -n 's/^elapsed_us //p' "$RUN_DIR/delete.err")
		if [ "$rc" -ne 0 ] || [ -z "$us" ] ||
		   ! jq -e '.ok and .result.changeset.state == "CONFIRMED"' \
			"$RUN_DIR/delete.ans" >/dev/null; then
			die "delete: $(head -c 600 "$RUN_DIR/delete.ans" "$RUN_DIR/delete.err")"
		fi
		raw vifd_delete "$(awk -v u="$us" 'BEGIN { printf "%.3f\n", u / 1e6 }')"
		[ "$(veth_count)" -eq 0 ] ||
			die "after vifd's delete: $(veth_count) veths left"
	fi

	stop_vifd
	[ "${STOP_RC:-x}" = 0 ] || die "vifd exited $STOP_RC on SIGTERM"
	t0=$(now_s)
	links_del_all
	t1=$(now_s)
	[ "$(veth_count)" -eq 0 ] || die "links left after the bulk delete"
	if [ "$DELETE" -ne 1 ] || [ "$RUN" -ne 1 ]; then
		raw veth_delete_vifd_group "$(elapsed "$t0" "$t1")"
	fi
	"$VIFDP" -d "$PIN" teardown >/dev/null 2>&1 ||
		die "vifdp teardown of $PIN failed"
	[ -d "$PIN" ] && rmdir "$PIN" 2>/dev/null
	exit 0
}

if [ -n "${VIFD_BENCH_CHILD:-}" ]; then
	# shellcheck disable=SC2034 # set for the child functions
	read -r RUN RUN_DIR PIN TAG COUNT LAT_COUNT DELETE PROFILE <<<"$VIFD_BENCH_ARGS"
	[ "$PROFILE" = - ] && PROFILE=
	"child_$VIFD_BENCH_CHILD"
	exit $?
fi

# ---- the parent ----------------------------------------------------------

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--lat-count) LAT_COUNT=$2; shift 2 ;;
	--no-delete) DELETE=0; shift ;;
	--no-leak) LEAK_RUN=0; shift ;;
	--profile) PROFILE=$(readlink -f "$2"); shift 2 ;;
	-h|--help) awk 'NR > 2 && !/^#/ { exit } NR > 2' "$0" |
			sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option '$1' (--help)" >&2; exit 2 ;;
	esac
done
if [ "$COUNT" -lt 1 ] || [ "$COUNT" -gt $((POOL_HI - POOL_LO + 1)) ] ||
   [ "$RUNS" -lt 1 ] || [ "$LAT_COUNT" -lt 20 ]; then
	echo "--count 1-$((POOL_HI - POOL_LO + 1)), --runs >= 1, --lat-count >= 20" >&2
	exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root: skipped" >&2
	exit $KSFT_SKIP
fi
for b in "$VIFD" "$VIFDP" "$CLIENT"; do
	if [ ! -x "$b" ]; then
		echo "# $b not built (set VIF_BUILD): skipped" >&2
		exit $KSFT_SKIP
	fi
done
for t in jq unshare tc; do
	command -v "$t" >/dev/null || { echo "# needs $t: skipped" >&2; exit $KSFT_SKIP; }
done
[ -n "$PROFILE" ] && { mkdir -p "$PROFILE" || exit 1; }

TAG=$(printf '%04x' $(((RANDOM << 1 ^ $$ ^ RANDOM) & 0xffff)))
PIN_BASE=/sys/fs/bpf/vifplane/vbench-$TAG
TMP=
CHILD=

cleanup() {
	local d p

	set +e
	# The child cleans up after itself; stopping its vifd first makes a
	# request it waits on fail at once.  A vifd that survives its child
	# (killed hard) would hold the netns and the pins: SIGKILL it.
	[ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
	for d in "$TMP"/run*; do
		[ -f "$d/vifd.pid" ] || continue
		p=$(cat "$d/vifd.pid")
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = vifd ] &&
			kill -TERM "$p" 2>/dev/null
	done
	[ -n "$CHILD" ] && wait "$CHILD"
	for d in "$TMP"/run*; do
		[ -f "$d/vifd.pid" ] || continue
		p=$(cat "$d/vifd.pid")
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = vifd ] &&
			kill -KILL "$p" 2>/dev/null
	done
	for d in "$PIN_BASE"-*; do
		[ -d "$d" ] || continue
		"$VIFDP" -d "$d" teardown >/dev/null 2>&1
		rmdir "$d" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d /tmp/vifd-bench.XXXXXX) || exit 1
mkdir -p /sys/fs/bpf/vifplane 2>/dev/null

# run_child KIND RUN: one phase of a run in a netns of its own.
run_child() {
	local kind=$1 run=$2 dir=$TMP/run$2

	mkdir -p "$dir"
	VIFD_BENCH_CHILD=$kind \
	VIFD_BENCH_ARGS="$run $dir $PIN_BASE-$run $TAG $COUNT $LAT_COUNT $DELETE ${PROFILE:--}" \
		unshare -n -- "$0" &
	CHILD=$!
	wait "$CHILD"
	local rc=$?
	CHILD=
	return $rc
}

log "vifd_bench: $COUNT VIFs (pool $POOL_LO-$POOL_HI), $RUNS runs, tag $TAG, $(nproc) CPUs, kernel $(uname -r)"
log "$(git -C "$HERE/.." log -1 --format='commit %h %cd' 2>/dev/null)$(git -C "$HERE/.." diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
for r in $(seq 1 "$RUNS"); do
	start=$(now_s)
	run_child base "$r" || die "run $r: bare veth baseline failed"
	rc=0
	run_child vifd "$r" || rc=$?
	[ "$rc" -eq $KSFT_SKIP ] && { echo "# no native XDP on veth: skipped"; exit $KSFT_SKIP; }
	[ "$rc" -eq 0 ] || die "run $r: vifd run failed (rc $rc)"
	sed "s/^# /# run $r: /" "$TMP/run$r/notes" 2>/dev/null
	log "run $r: $(awk '{ printf "%s=%s ", $1, $2 }' "$TMP/run$r/raw") ($(elapsed "$start" "$(now_s)") s)"
done

# ---- medians -------------------------------------------------------------

cat "$TMP"/run*/raw >"$TMP/all"
# med KEY: the median of KEY over the runs ("" when none).
med() {
	awk -v k="$1" '$1 == k { print $2 }' "$TMP/all" | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) exit
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			s = sprintf("%.3f", m); sub(/\.?0+$/, "", s); print s }'
}
# med_ratio A B: the median over runs of A / B, paired by run.
med_ratio() {
	local r a b

	for r in $(seq 1 "$RUNS"); do
		a=$(awk -v k="$1" '$1 == k { print $2 }' "$TMP/run$r/raw")
		b=$(awk -v k="$2" '$1 == k { print $2 }' "$TMP/run$r/raw")
		[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" \
			'BEGIN { printf "%.4f\n", a / b }'
	done | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f\n",
		NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bench() { [ -n "$2" ] && printf 'BENCH %s %s %s\n' "$1" "$2" "$3"; }

N=$COUNT
create=$(med vifd_create)
bench "vifd_create_${N}_s" "$create" s
bench vifd_create_per_vif_ms "$(awk -v s="$create" -v n="$N" \
	'BEGIN { printf "%.2f\n", s * 1000 / n }')" ms
bench "vifd_create_${N}_cpu_s" "$(med vifd_create_cpu)" s
bench "veth_create_${N}_s" "$(med veth_create)" s
bench vifd_create_vs_bare_veth_ratio "$(med_ratio vifd_create veth_create)" x
bench "netlink_floor_${N}_s" "$(med netlink_floor)" s
bench vifd_create_vs_netlink_floor_ratio "$(med_ratio vifd_create netlink_floor)" x
bench "veth_delete_group_${N}_s" "$(med veth_delete_group)" s
bench "vifd_delete_${N}_s" "$(med vifd_delete)" s
bench vifd_rss_idle_kib "$(med vifd_rss_idle)" KiB
bench "vifd_rss_${N}_kib" "$(med vifd_rss_full)" KiB
bench "vifd_rss_${N}_anon_kib" "$(med vifd_rss_full_anon)" KiB
bench "vifd_rss_${N}_file_kib" "$(med vifd_rss_full_file)" KiB
bench vifd_rss_peak_kib "$(med vifd_rss_peak)" KiB
bench "vifd_rss_${N}_after_latency_kib" "$(med vifd_rss_after_lat)" KiB
bench "vifd_rss_${N}_restarted_kib" "$(med vifd_rss_restarted)" KiB
bench vifd_start_idle_s "$(med vifd_start)" s
bench "vifd_restart_${N}_s" "$(med vifd_restart)" s
bench "vifd_cpu_idle_${N}_pct" "$(med vifd_cpu_idle_full)" %
for p in vifd_ping_idle vifd_ping vifd_vif_show vifd_vif_list vifd_ping_8c \
	 vifd_vif_show_8c vifd_vif_list_8c; do
	bench "${p}_p50_us" "$(med "${p}_p50_us")" us
	bench "${p}_p99_us" "$(med "${p}_p99_us")" us
done
bench vifd_vif_list_bytes "$(med vifd_vif_list_bytes)" bytes
bench vifd_stats_bytes "$(med vifd_stats_bytes)" bytes

leak_ms=
if [ "$LEAK_RUN" -eq 1 ]; then
	if [ -x "$LEAK" ]; then
		out=$("$LEAK")
		printf '%s\n' "$out" | grep '^BENCH'
		leak_ms=$(printf '%s\n' "$out" |
			awk '$2 == "killswitch_leak_window_ms" { print $3 }')
	else
		log "$LEAK not built: no leak window"
	fi
fi

# ---- goals (issue 3) -----------------------------------------------------

goal() { # DESC VALUE LIMIT UNIT
	[ -n "$2" ] || return 0
	if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v < l) }'; then
		log "goal met: $1 $2 $4 < $3 $4"
	else
		log "goal NOT met: $1 $2 $4 (goal < $3 $4)"
	fi
}
goal "create $N VIFs:" "$create" 2 s
goal "RSS with $N VIFs:" "$(med vifd_rss_full)" 16384 KiB
goal "kill-switch leak window:" "$leak_ms" 2000 ms
exit 0
