#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# dpdk_bench.sh - the DPDK engine against dpdk-testpmd, on the same vdev
# input in the same run: a net_pcap trunk replaying a 64-byte multi-VLAN
# mix forever (infinite_rx=1) into the pipeline, the service a net_null
# (tx frees).  testpmd io-forwards the same pcap to the same net_null.
#
#   BENCH testpmd_io_mpps, vifdpdk_1lcore_mpps, vifdpdk_vs_testpmd_ratio
#   BENCH vifdpdk_2lcore_mpps, vifdpdk_2v1_ratio
#   BENCH vifdpdk_4094vifs_mpps, vifdpdk_4094v1_ratio
#   BENCH pipeline_cycles_per_pkt (1 and 4094 VIFs; rte_rdtsc around
#         vdp_process + vdp_flush, in-process, tx to net_null)
#   BENCH policy_updates_per_s under load, policy_update_lost (frames
#         seen on the trunk and not forwarded to their VIF: must be 0)
#
# Medians of RUNS runs (default 3) of SECONDS-long samplings (default 4).
# Root only (exit 77 otherwise).  VIF_BUILD: the build directory.
set -u

RUNS=${RUNS:-3}
SECONDS_PER=${SECONDS_PER:-4}
BUILD=${VIF_BUILD:-$(cd "$(dirname "$0")/../build" && pwd)}
VIFDPDK=$BUILD/dataplane/dpdk/vifdpdk
DRIVER=${DPDK_BENCH:-$BUILD/benchmarks/dpdk_bench}
TESTPMD=${TESTPMD:-/usr/bin/dpdk-testpmd}

if [ "$(id -u)" -ne 0 ]; then
    echo "skip: needs root (EAL)"; exit 77
fi
for b in "$VIFDPDK" "$DRIVER" "$TESTPMD"; do
    [ -x "$b" ] || { echo "skip: $b missing"; exit 77; }
done
if [ "$(nproc)" -lt 2 ]; then
    echo "skip: needs 2 CPUs"; exit 77
fi

TMP=$(mktemp -d /tmp/vifdpdk-bench.XXXXXX)
SHM=/dev/shm/vifplane-bench-$$
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$TMP"; rm -f "$SHM"
}
trap cleanup EXIT INT TERM

EAL=(--no-huge -m 1024 --no-pci --log-level='pmd.*:warning')
N=0
prefix() { N=$((N + 1)); echo "vifbench$$_$N"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }

# testpmd io forward: median of port 0's per-second Rx-pps (first 2 skipped).
run_testpmd() {
    local out=$TMP/testpmd.out
    timeout -s INT $((SECONDS_PER + 3)) "$TESTPMD" -l 0,1 "${EAL[@]}" \
        --file-prefix "$(prefix)" \
        --vdev "net_pcap0,rx_pcap=$TMP/mix1.pcap,infinite_rx=1" \
        --vdev net_null0,no-rx=1 -- --forward-mode=io --stats-period 1 \
        --nb-cores=1 --total-num-mbufs=16384 </dev/null >"$out" 2>&1
    awk '/NIC statistics for port 0/ {p=1} /NIC statistics for port 1/ {p=0}
         p && /Rx-pps:/ {print $2}' "$out" | tail -n +3 |
        median | awk '{printf "%.3f\n", $1 / 1e6}'
}

# vifdpdk with LCORES, NVIFS VIFs and mix file; prints Mpps (or churn line).
run_vifdpdk() {
    local lcores=$1 nvifs=$2 mix=$3 mode=${4:-rate} rxq trunk pid out
    "$DRIVER" setup "$SHM" "$nvifs" || return 1
    trunk="net_pcap0,rx_pcap=$mix,infinite_rx=1,ifindex=7"
    # One rx_pcap per queue: two workers need two trunk queues.
    [ "$lcores" = "2" ] && trunk="net_pcap0,rx_pcap=$mix,rx_pcap=$mix,infinite_rx=1,ifindex=7"
    if [ "$lcores" = "2" ]; then rxq=(--lcores '0@0,1@0,2@1'); else rxq=(-l 0,1); fi
    out=$TMP/vifdpdk.log
    "$VIFDPDK" "${rxq[@]}" "${EAL[@]}" --file-prefix "$(prefix)" -- \
        --shm "$SHM" --trunk "$trunk" --port net_null1,no-rx=1,ifindex=11 \
        --mbufs 16384 >"$out" 2>&1 &
    pid=$!; PIDS+=("$pid")
    sleep 1.5
    if ! kill -0 "$pid" 2>/dev/null; then cat "$out" >&2; return 1; fi
    if [ "$mode" = churn ]; then
        "$DRIVER" churn "$SHM" "$SECONDS_PER" "$nvifs"
    else
        "$DRIVER" rate "$SHM" "$SECONDS_PER"
    fi
    kill -TERM "$pid"; wait "$pid" || echo "vifdpdk exited $?" >&2
    grep -q "no_egress 0 aborted 0" "$out" || grep "rx .* tx" "$out" >&2
    # Counted once the engine has stopped: exact, nothing in flight.
    [ "$mode" = churn ] && "$DRIVER" count "$SHM" "$nvifs"
    return 0
}

"$DRIVER" pcap "$TMP/mix1.pcap" 1 || exit 1
"$DRIVER" pcap "$TMP/mix4094.pcap" 4094 || exit 1

tp=(); v1=(); v2=(); v4094=()
for r in $(seq "$RUNS"); do
    tp+=("$(run_testpmd)")
    v1+=("$(run_vifdpdk 1 1 "$TMP/mix1.pcap")")
    v2+=("$(run_vifdpdk 2 1 "$TMP/mix1.pcap")")
    v4094+=("$(run_vifdpdk 1 4094 "$TMP/mix4094.pcap")")
done
m_tp=$(printf '%s\n' "${tp[@]}" | median)
m_v1=$(printf '%s\n' "${v1[@]}" | median)
m_v2=$(printf '%s\n' "${v2[@]}" | median)
m_v4=$(printf '%s\n' "${v4094[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
echo "BENCH testpmd_io_mpps $m_tp Mpps"
echo "BENCH vifdpdk_1lcore_mpps $m_v1 Mpps"
echo "BENCH vifdpdk_vs_testpmd_ratio $(ratio "$m_v1" "$m_tp") x"
echo "BENCH vifdpdk_2lcore_mpps $m_v2 Mpps"
echo "BENCH vifdpdk_2v1_ratio $(ratio "$m_v2" "$m_v1") x"
echo "BENCH vifdpdk_4094vifs_mpps $m_v4 Mpps"
echo "BENCH vifdpdk_4094v1_ratio $(ratio "$m_v4" "$m_v1") x"

for nv in 1 4094; do
    c=()
    for r in $(seq "$RUNS"); do
        c+=("$("$DRIVER" cycles "$nv" -l 1 --no-huge -m 256 --no-pci \
            --file-prefix "$(prefix)" --log-level='*:warning' 2>/dev/null |
            awk '{print $1}')")
    done
    echo "BENCH pipeline_cycles_per_pkt_${nv}vifs $(printf '%s\n' "${c[@]}" | median) cycles"
done

# Policy churn under load: 4094 VIFs rewritten round-robin while the mix
# runs; every frame the trunk saw must have been forwarded to its VIF.
read -r mpps updates rx fwd drops <<<"$(run_vifdpdk 1 4094 "$TMP/mix4094.pcap" churn | tr '\n' ' ')"
echo "BENCH policy_churn_mpps $mpps Mpps"
echo "BENCH policy_updates_per_s $(awk -v u="$updates" -v s="$SECONDS_PER" 'BEGIN {printf "%.0f", u / (s + 1)}') updates/s"
echo "BENCH policy_update_frames ${rx} frames"
echo "BENCH policy_update_lost $((rx - fwd)) frames"
echo "BENCH policy_update_drops ${drops} frames"
[ "$((rx - fwd))" -eq 0 ] && [ "$drops" -eq 0 ]
