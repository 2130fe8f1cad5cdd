#!/usr/bin/env python3
"""POP3 bench helper (bench/pop3.sh): fill a Maildir, download it over POP3, small utilities.

  freeports N                       print N free loopback ports
  waitport HOST PORT SECS           wait until a POP3 greeting (+OK) answers
  fill DIR N SIZE                   write N messages of about SIZE bytes into DIR/new (Maildir)
  fetch PORT USER PASS [--window W] log in, RETR every message (W pipelined), QUIT; print JSON
  descendants PID                   print PID and every descendant PID (for stopping by PID)

Measurement only: fetch checks that every message arrived whole (terminator and octet count)
and exits 1 if not; it never judges speed.
"""
import argparse
import json
import os
import socket
import sys
import time


def cmd_freeports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()


def cmd_waitport(a):
    deadline = time.monotonic() + a.secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((a.host, a.port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"+OK"):
                    s.sendall(b"QUIT\r\n")
                    return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def cmd_fill(a):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(a.dir, sub), mode=0o700, exist_ok=True)
    now = int(time.time()) - a.n
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\n"
    for i in range(a.n):
        head = (
            f"Return-Path: <sender@example.test>\nFrom: sender@example.test\n"
            f"To: demo@example.test\nSubject: bench message {i}\n"
            f"Message-ID: <{i}.bench@example.test>\n\n"
        ).encode()
        body = bytearray(b".a line that needs byte-stuffing\n")
        while len(head) + len(body) + len(line) <= a.size:
            body += line
        msg = head + bytes(body)
        vsize = len(msg) + msg.count(b"\n")
        name = f"{now + i}.M{i}P{os.getpid()}.bench,S={len(msg)},W={vsize}"
        with open(os.path.join(a.dir, "new", name), "wb") as f:
            f.write(msg)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = bytearray()

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return out
            self.more()

    def more(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        r = self.line()
        if not r.startswith(b"+OK"):
            raise RuntimeError(f"{text.split()[0]}: {r!r}")
        return r

    def multiline(self):
        """The data of one multi-line response, stuffed and with CRLF (terminator removed)."""
        start = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return b""
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                out = bytes(self.buf[: i + 2])
                del self.buf[: i + 5]
                return out
            start = max(0, len(self.buf) - 4)
            self.more()


def cmd_fetch(a):
    t0 = time.monotonic()
    c = Conn(a.port)
    if not c.line().startswith(b"+OK"):
        raise RuntimeError("no greeting")
    c.cmd(f"USER {a.user}")
    c.cmd(f"PASS {a.password}")
    t_login = time.monotonic()
    n = int(c.cmd("STAT").split()[1])
    c.s.sendall(b"LIST\r\n")
    if not c.line().startswith(b"+OK"):
        raise RuntimeError("LIST failed")
    sizes = [int(l.split()[1]) for l in c.multiline().split(b"\r\n") if l]
    total = 0
    sent = 0
    for i in range(1, n + 1):
        while sent < min(n, i - 1 + a.window):
            sent += 1
            c.s.sendall(f"RETR {sent}\r\n".encode())
        r = c.line()
        if not r.startswith(b"+OK"):
            raise RuntimeError(f"RETR {i}: {r!r}")
        data = c.multiline()
        unstuffed = len(data) - data.count(b"\r\n..") - (1 if data.startswith(b"..") else 0)
        if unstuffed != sizes[i - 1]:
            raise RuntimeError(f"message {i}: LIST said {sizes[i - 1]}, RETR gave {unstuffed}")
        total += unstuffed
    t_end = time.monotonic()
    c.cmd("QUIT")
    secs = t_end - t0
    print(json.dumps({
        "messages": n, "bytes": total, "secs": round(secs, 3),
        "login_secs": round(t_login - t0, 3),
        "msgs_per_s": round(n / secs, 1) if secs else None,
        "mb_per_s": round(total / secs / 1e6, 2) if secs else None,
    }))


def cmd_descendants(a):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [a.pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    print("\n".join(str(p) for p in sorted(out)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeports"); p.add_argument("n", type=int)
    p = sub.add_parser("waitport"); p.add_argument("host"); p.add_argument("port", type=int)
    p.add_argument("secs", type=float)
    p = sub.add_parser("fill"); p.add_argument("dir"); p.add_argument("n", type=int)
    p.add_argument("size", type=int)
    p = sub.add_parser("fetch"); p.add_argument("port", type=int); p.add_argument("user")
    p.add_argument("password"); p.add_argument("--window", type=int, default=32)
    p = sub.add_parser("descendants"); p.add_argument("pid", type=int)
    a = ap.parse_args()
    return globals()["cmd_" + a.cmd](a) or 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, EOFError, OSError) as e:
        print(f"pop3_load: {e}", file=sys.stderr)
        sys.exit(1)
