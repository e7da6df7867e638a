#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""vifd_client.py - raw control-socket clients and small stand-ins for
tests/daemon/test_vifd.sh.  Python standard library only.

Socket modes (-s SOCKET; every answer is printed as one compact JSON line,
the hello is checked and not printed):

  send [-e] LINE...   send each LINE (plus "\\n") at once, then print one
                      answer per non-blank line (an answer is any line with
                      an "id" key).  -e: LINEs take Python bytes escapes
                      (\\xff) for bytes that are not UTF-8.
  huge SIZE           one ping request padded to SIZE bytes, then on the
                      same connection {"id":"after","cmd":"ping"}; prints
                      both answers.
  shut BYTES          send BYTES (no newline), shut the writing side and
                      print what vifd answers until it closes.
  vanish [--pad N] BYTES
                      send BYTES (no newline) and N more bytes "a", and
                      close at once, unread.
  noread LINE         send LINE and close at once, before any answer (the
                      hello still unread, so the close is an RST).
  many N              open N connections before reading anything, then ping
                      on each; prints {"hello","pong","too_many","closed"}.
  during N PREFIX [--kill PID]
                      one changeset.apply of N vif.create (names PREFIX1..N)
                      on a first connection; while it is out, pings and
                      vif.show of PREFIX1 on a second, one at a time, and
                      one vif.create; prints {"apply": its answer,
                      "answered": how many pings/shows were answered
                      before it, "max_wait_ms": the slowest of them,
                      "apply_ms": the set's own time,
                      "busy": the vif.create's answer}.  --kill: SIGKILL
                      PID once PREFIX1 answers ACTIVE (a crash mid-set),
                      then print what was seen and exit 0.

Stand-ins (run in the namespace the test puts them in):

  socks5 PORT READY   a SOCKS5 greeting server on 127.0.0.1:PORT: answers
                      05 00 to the no-authentication greeting 05 01 00 and
                      closes; writes "ready" to READY once it listens.
  tunhold NAME READY  attach to the persistent tun NAME and hold it open,
                      so it has a carrier (IFF_RUNNING) like a tun2socks
                      process would give it; "ready" to READY.

Exit: 0 done, 1 a protocol or socket error (on stderr), 2 usage.
"""

import argparse
import codecs
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import warnings


def die(msg):
    sys.stderr.write("vifd_client: %s\n" % msg)
    sys.exit(1)


def connect(path, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


class Reader:
    """Line reader over a socket, with a deadline."""

    def __init__(self, sock, timeout):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def line(self):
        """The next line as bytes (without the newline), None at EOF."""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line from vifd within %.1f s" %
                                   self.timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if self.buf:
                    rest, self.buf = self.buf, b""
                    return rest
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def msg(self):
        line = self.line()
        if line is None:
            return None
        try:
            return json.loads(line)
        except ValueError as e:
            die("vifd sent a line that is not JSON (%s): %r" % (e, line[:200]))


def hello(rd):
    m = rd.msg()
    if m is None or "hello" not in m:
        die("expected a hello, got %r" % (m,))
    return m["hello"]


def out(m):
    sys.stdout.write(json.dumps(m, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def answers(rd, n):
    """Print the next n answers (lines with an "id"); events are skipped."""
    got = 0
    while got < n:
        m = rd.msg()
        if m is None:
            die("vifd closed the connection after %d of %d answers" %
                (got, n))
        if "id" in m:
            out(m)
            got += 1


def mode_send(a):
    s = connect(a.socket, a.timeout)
    rd = Reader(s, a.timeout)
    hello(rd)
    if a.escapes:
        with warnings.catch_warnings():
            # Escapes it does not know (\u0000) are kept as they are.
            warnings.simplefilter("ignore")
            lines = [codecs.escape_decode(x.encode())[0] for x in a.lines]
    else:
        lines = [x.encode() for x in a.lines]
    s.sendall(b"".join(x + b"\n" for x in lines))
    answers(rd, sum(1 for x in lines if x.strip(b" \t\r")))
    s.close()


def mode_huge(a):
    s = connect(a.socket, a.timeout)
    rd = Reader(s, a.timeout)
    hello(rd)
    head = b'{"id":"huge","cmd":"ping","args":{"pad":"'
    tail = b'"}}'
    pad = max(0, a.size - len(head) - len(tail))
    s.sendall(head + b"a" * pad + tail + b"\n")
    s.sendall(b'{"id":"after","cmd":"ping"}\n')
    answers(rd, 2)
    s.close()


def mode_shut(a):
    s = connect(a.socket, a.timeout)
    rd = Reader(s, a.timeout)
    hello(rd)
    s.sendall(a.bytes.encode())
    s.shutdown(socket.SHUT_WR)
    while True:
        m = rd.msg()
        if m is None:
            break
        out(m)
    s.close()


def mode_vanish(a):
    s = connect(a.socket, a.timeout)
    s.sendall(a.bytes.encode() + b"a" * a.pad)
    s.close()


def mode_noread(a):
    s = connect(a.socket, a.timeout)
    s.sendall(a.line.encode() + b"\n")
    # Unread data in our receive queue: close() sends an RST.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def mode_many(a):
    socks = []
    res = {"hello": 0, "pong": 0, "too_many": 0, "closed": 0, "other": []}
    for _ in range(a.n):
        socks.append(connect(a.socket, a.timeout))
    readers = [Reader(s, a.timeout) for s in socks]
    live = []
    for i, rd in enumerate(readers):
        m = rd.msg()
        if m is None:
            res["closed"] += 1
        elif "hello" in m:
            res["hello"] += 1
            live.append(i)
        elif m.get("error", {}).get("code") == "TOO_MANY_CLIENTS":
            res["too_many"] += 1
        else:
            res["other"].append(m)
    for i in live:
        socks[i].sendall(b'{"id":%d,"cmd":"ping"}\n' % i)
    for i in live:
        m = readers[i].msg()
        if m is not None and m.get("id") == i and m.get("ok") is True:
            res["pong"] += 1
        else:
            res["other"].append(m)
    for s in socks:
        s.close()
    out(res)


def mode_socks5(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(64)
    with open(a.ready, "w") as f:
        f.write("ready\n")
    while True:
        c, _ = srv.accept()
        c.settimeout(1.0)
        try:
            data = b""
            while len(data) < 3:
                chunk = c.recv(3 - len(data))
                if not chunk:
                    break
                data += chunk
            if data == b"\x05\x01\x00":
                c.sendall(b"\x05\x00")
            elif data:
                c.sendall(b"\x05\xff")
        except OSError:
            pass
        c.close()


def mode_tunhold(a):
    TUNSETIFF = 0x400454CA
    IFF_TUN = 0x0001
    IFF_NO_PI = 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF,
                struct.pack("16sH", a.name.encode(), IFF_TUN | IFF_NO_PI))
    with open(a.ready, "w") as f:
        f.write("ready\n")
    # Drain what the kernel routes into the tun, until killed.
    while True:
        r, _, _ = select.select([fd], [], [], 1.0)
        if r:
            try:
                os.read(fd, 65536)
            except OSError:
                pass


def mode_during(a):
    sa = connect(a.socket, a.timeout)
    ra = Reader(sa, a.timeout)
    hello(ra)
    sb = connect(a.socket, a.timeout)
    rb = Reader(sb, a.timeout)
    hello(rb)
    items = [{"id": "c%d" % i, "op": "vif.create",
              "args": {"name": "%s%d" % (a.prefix, i)}}
             for i in range(1, a.n + 1)]
    t_apply = time.monotonic()
    sa.sendall(json.dumps({"id": "big", "cmd": "changeset.apply",
                           "args": {"items": items}}).encode() + b"\n")
    answered, max_wait, busy, active, k = 0, 0.0, None, False, 0
    waits = []
    apply_ans = None
    while apply_ans is None:
        k += 1
        if busy is None and k == 3:
            req = {"id": "mut", "cmd": "vif.create",
                   "args": {"name": a.prefix + "x"}}
        elif k % 2:
            req = {"id": "p%d" % k, "cmd": "ping"}
        else:
            req = {"id": "s%d" % k, "cmd": "vif.show",
                   "args": {"name": a.prefix + "1"}}
        t0 = time.monotonic()
        sb.sendall(json.dumps(req).encode() + b"\n")
        m = rb.msg()
        while m is not None and "id" not in m:
            m = rb.msg()
        if m is None:
            die("vifd closed the second connection")
        wait = (time.monotonic() - t0) * 1000
        # Has the set finished meanwhile?  Then this one does not count.
        r, _, _ = select.select([sa], [], [], 0)
        if r or ra.buf:
            apply_ans = ra.msg()
            while apply_ans is not None and "id" not in apply_ans:
                apply_ans = ra.msg()
            break
        if req["id"] == "mut":
            busy = m
        else:
            answered += 1
            max_wait = max(max_wait, wait)
            waits.append(round(wait, 1))
        if (req["cmd"] == "vif.show" and m.get("ok") and
                m["result"].get("state") == "ACTIVE"):
            active = True
            if a.kill:
                os.kill(a.kill, signal.SIGKILL)
                out({"killed": True, "answered": answered,
                     "max_wait_ms": round(max_wait, 1), "busy": busy})
                return
        time.sleep(0.01)
    if apply_ans is None:
        apply_ans = ra.msg()
    out({"apply": apply_ans, "answered": answered,
         "apply_ms": round((time.monotonic() - t_apply) * 1000, 1),
         "waits_ms": waits,
         "max_wait_ms": round(max_wait, 1), "busy": busy,
         "saw_active": active})


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = argparse.ArgumentParser(description="vifd test client")
    p.add_argument("-s", "--socket", default="/run/vifd/vifd.sock")
    p.add_argument("-t", "--timeout", type=float, default=10.0)
    sub = p.add_subparsers(dest="mode", required=True)
    x = sub.add_parser("send")
    x.add_argument("-e", "--escapes", action="store_true")
    x.add_argument("lines", nargs="+")
    x.set_defaults(fn=mode_send)
    x = sub.add_parser("huge")
    x.add_argument("size", type=int)
    x.set_defaults(fn=mode_huge)
    x = sub.add_parser("shut")
    x.add_argument("bytes")
    x.set_defaults(fn=mode_shut)
    x = sub.add_parser("vanish")
    x.add_argument("--pad", type=int, default=0)
    x.add_argument("bytes")
    x.set_defaults(fn=mode_vanish)
    x = sub.add_parser("noread")
    x.add_argument("line")
    x.set_defaults(fn=mode_noread)
    x = sub.add_parser("many")
    x.add_argument("n", type=int)
    x.set_defaults(fn=mode_many)
    x = sub.add_parser("during")
    x.add_argument("n", type=int)
    x.add_argument("prefix")
    x.add_argument("--kill", type=int, default=0)
    x.set_defaults(fn=mode_during)
    x = sub.add_parser("socks5")
    x.add_argument("port", type=int)
    x.add_argument("ready")
    x.set_defaults(fn=mode_socks5)
    x = sub.add_parser("tunhold")
    x.add_argument("name")
    x.add_argument("ready")
    x.set_defaults(fn=mode_tunhold)
    a = p.parse_args()
    try:
        a.fn(a)
    except (OSError, TimeoutError) as e:
        die("%s: %s" % (a.mode, e))


if __name__ == "__main__":
    main()
