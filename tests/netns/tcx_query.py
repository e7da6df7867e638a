#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""tcx_query.py IFINDEX: print the ids of the programs on the device's tcx
ingress, one per line (none: no output).  bpftool and iproute2 in Debian 12
predate tcx, so the test asks the kernel itself (BPF_PROG_QUERY)."""
import ctypes
import os
import struct
import sys

BPF_PROG_QUERY = 16
BPF_TCX_INGRESS = 46
NR_BPF = 321  # x86_64

def main():
    ifindex = int(sys.argv[1])
    ids = (ctypes.c_uint32 * 64)()
    # target_ifindex, attach_type, query_flags, attach_flags, prog_ids,
    # prog_cnt, pad, prog_attach_flags, link_ids, link_attach_flags, revision
    attr = ctypes.create_string_buffer(struct.pack(
        "=IIIIQIIQQQQ", ifindex, BPF_TCX_INGRESS, 0, 0,
        ctypes.addressof(ids), 64, 0, 0, 0, 0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(NR_BPF, BPF_PROG_QUERY, attr, len(attr.raw)) < 0:
        err = ctypes.get_errno()
        sys.exit(f"tcx_query: {os.strerror(err)}")
    cnt = struct.unpack_from("=I", attr.raw, 24)[0]
    for i in range(min(cnt, 64)):
        print(ids[i])

if __name__ == "__main__":
    main()
