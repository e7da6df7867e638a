#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# bootstrap.sh demo|test|build - one command from a fresh Debian 12 (root):
# install what is missing, build, then run the demo or the whole test suite.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-demo}
build=${VIF_BUILD_DIR:-$top/build}

packages=(
    gcc pkg-config meson ninja-build clang llvm
    libbpf-dev bpftool libmnl-dev libjansson-dev libsqlite3-dev
    libcurl4-openssl-dev libdpdk-dev dpdk
    iproute2 ethtool tcpdump iputils-ping util-linux procps python3 jq
)

install_deps() {
    local missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing packages: ${missing[*]} (run as root to install)" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_bpffs() {
    [ "$(id -u)" -eq 0 ] || return 0
    if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
        mount -t bpf bpf /sys/fs/bpf
    fi
}

do_build() {
    if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" "$top" >/dev/null
    else
        meson setup "$build" "$top" >/dev/null
    fi
    ninja -C "$build"
}

# meson's own summary is not a line CI readers know: print
# "N passed, N failed, N skipped" from its JSON log.  Under CI a skip is a
# failure: the privileged suites must run there.
summarize() {
    python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, os, sys
passed = failed = skipped = 0
names = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res == "OK":
        passed += 1
    elif res == "SKIP":
        skipped += 1
        names.append(r["name"])
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
if skipped and os.environ.get("CI"):
    print("bootstrap: under CI no suite may skip: " + ", ".join(names))
    sys.exit(1)
sys.exit(1 if failed else 0)
PY
}

install_deps
ensure_bpffs
do_build
case "$mode" in
demo)
    exec "$top/tools/demo.sh" "$build"
    ;;
test)
    rc=0
    meson test -C "$build" --print-errorlogs --num-processes 2 || rc=$?
    summarize || rc=1
    exit $rc
    ;;
build)
    ;;
*)
    echo "usage: $0 demo|test|build" >&2
    exit 2
    ;;
esac
