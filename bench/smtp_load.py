#!/usr/bin/env python3
"""Load generator and meters for bench/smtp.sh (measurement only, loopback only).

Subcommands:
  freeports N                 print N free TCP ports on 127.0.0.1, one per line
  waitport HOST PORT SECS     exit 0 once HOST:PORT answers with an SMTP 220 greeting, 1 on timeout
  setconf FILE ...            rewrite listen ports / limits in a mail.toml (text edit, comments kept)
  descendants PID             print PID and every descendant PID (for stopping by PID)
  load ...                    N SMTP sessions send M messages; time each 250, find each message
                              in the Maildirs (by its X-Bench-Id), sample RSS; write JSON
  source ... -- CMD ...       run CMD (smtp-source), sample RSS, count files landing in Maildirs
  report JSON...              print the comparison table (and write it with --out)

Times: the 250 time is time.time() when this process read the reply line; the delivery time
comes from the watcher in meters.py (inotify event for the file in new/, matched by X-Bench-Id).
The table is printed by smtp_report.py.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

from meters import Meter, descendants, sampler_main, wait_delivered, watcher_main
from smtp_report import cmd_report


# ---------------------------------------------------------------- small helpers


def cmd_freeports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
    for s in socks:
        s.close()


def cmd_waitport(a):
    deadline = time.monotonic() + a.secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((a.host, a.port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def cmd_setconf(a):
    """Edit mail.toml as text: replace listen addresses, set limits in one [[listen]] block."""
    with open(a.file, encoding="utf-8") as f:
        text = f.read()
    for pair in a.addr:
        old, new = pair.split("=", 1)
        if f'"{old}"' not in text:
            print(f"setconf: address {old} not found in {a.file}", file=sys.stderr)
            return 1
        text = text.replace(f'"{old}"', f'"{new}"')
    if a.listen:
        parts = re.split(r"(?m)^(?=\[)", text)
        hit = False
        for i, block in enumerate(parts):
            if not block.startswith("[[listen]]"):
                continue
            if not re.search(rf'(?m)^name\s*=\s*"{re.escape(a.listen)}"\s*$', block):
                continue
            hit = True
            for key, val in (("max_connections", a.max_connections), ("max_per_ip", a.max_per_ip)):
                if val is None:
                    continue
                if re.search(rf"(?m)^{key}\s*=", block):
                    block = re.sub(rf"(?m)^{key}\s*=.*$", f"{key} = {val}", block)
                else:
                    body = block.rstrip("\n")
                    block = body + f"\n{key} = {val}\n" + block[len(body):]
            parts[i] = block
        if not hit:
            print(f"setconf: no [[listen]] named {a.listen} in {a.file}", file=sys.stderr)
            return 1
        text = "".join(parts)
    with open(a.file, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


def cmd_descendants(a):
    pids, _ = descendants([a.pid])
    for p in sorted(pids):
        print(p)


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


# ---------------------------------------------------------------- SMTP load


def make_payload(n, run_id, rcpt, size):
    bid = f"{run_id}-{n}"
    head = (
        f"From: Bench Sender <bench-sender@bench.test>\r\n"
        f"To: <{rcpt}>\r\n"
        f"Subject: bench message {n}\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
        f"Message-ID: <{bid}@bench.test>\r\n"
        f"X-Bench-Id: {bid}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog; benchmark body text 0123456789.\r\n"
    body = bytearray()
    while len(head) + len(body) < size:
        body += line
    return bid, head + bytes(body[: max(0, size - len(head))]).rstrip(b"\r\n") + b"\r\n.\r\n"


async def read_reply(reader, timeout):
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            raise ConnectionError("connection closed by server")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            break
    try:
        code = int(lines[-1][:3])
    except ValueError:
        raise ConnectionError(f"bad reply {lines[-1][:80]!r}")
    return code, b"".join(lines)


async def session(host, port, jobs, res, timeout):
    """One SMTP connection sending its share of messages; fills res[bid]."""
    done = 0
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        code, _ = await read_reply(reader, timeout)
        if code != 220:
            raise ConnectionError(f"greeting {code}")
        writer.write(b"EHLO bench-client.test\r\n")
        code, _ = await read_reply(reader, timeout)
        if code != 250:
            raise ConnectionError(f"EHLO {code}")
        for bid, rcpt, payload in jobs:
            step = None
            for name, cmd, want in (
                ("MAIL", b"MAIL FROM:<bench-sender@bench.test>\r\n", (250,)),
                ("RCPT", f"RCPT TO:<{rcpt}>\r\n".encode(), (250, 251)),
                ("DATA", b"DATA\r\n", (354,)),
                ("end of data", payload, (250,)),
            ):
                writer.write(cmd)
                code, text = await read_reply(reader, timeout)
                if code not in want:
                    step = (name, code, text[:200])
                    break
            done += 1
            if step is None:
                res["accepted"][bid] = time.time()
                continue
            key = f"{step[0]} {step[1]}"
            res["rejected"][key] = res["rejected"].get(key, 0) + 1
            res["samples"].setdefault(key, step[2].decode(errors="replace").strip())
            if step[0] != "end of data":  # the transaction is still open: reset it
                writer.write(b"RSET\r\n")
                await read_reply(reader, timeout)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        try:
            await asyncio.wait_for(read_reply(reader, timeout), 5)
        except Exception:
            pass
        writer.close()
    except Exception as e:  # one broken session must not stop the others
        res["errors"] += len(jobs) - done
        res["error_samples"].append(f"{type(e).__name__}: {e}")


async def run_load(a, run_id):
    users = a.users.split(",")
    jobs = [[] for _ in range(a.sessions)]
    for n in range(a.messages):
        rcpt = users[n % len(users)]
        bid, payload = make_payload(n, run_id, rcpt, a.size)
        jobs[n % a.sessions].append((bid, rcpt, payload))
    res = {"accepted": {}, "rejected": {}, "samples": {}, "errors": 0, "error_samples": []}
    t0 = time.time()
    await asyncio.gather(*(session(a.host, a.port, j, res, a.timeout) for j in jobs))
    return t0, res


def maildirs(a):
    return [os.path.join(a.maildir.replace("{user}", u.split("@")[0]), "new") for u in a.users.split(",")]


def cmd_load(a):
    run_id = f"{a.label.replace(' ', '_')}-{os.getpid()}-{int(time.time())}"
    sampler = Meter(sampler_main, a.pid, a.interval)
    watcher = None if a.no_deliver else Meter(watcher_main, maildirs(a), True, a.poll)
    t0, res = asyncio.run(run_load(a, run_id))
    accepted = res["accepted"]
    t_last250 = max(accepted.values()) if accepted else time.time()
    if watcher:
        wait_delivered(watcher, len(accepted), a.delivery_timeout)
        seen = watcher.stop()
    memory = sampler.stop()
    out = {
        "label": a.label,
        "kind": "load",
        "sessions": a.sessions,
        "messages": a.messages,
        "size": a.size,
        "users": len(a.users.split(",")),
        "accepted": len(accepted),
        "rejected": res["rejected"],
        "reject_samples": res["samples"],
        "errors": res["errors"],
        "error_samples": res["error_samples"][:5],
        "intake_secs": t_last250 - t0,
        "accepted_per_sec": len(accepted) / (t_last250 - t0) if accepted else 0.0,
        "memory": memory,
    }
    if watcher:
        out.update(delivery_figures(accepted, seen, t0))
    write_json(a.out, out)
    summary(out)
    return 0


def delivery_figures(accepted, seen, t0):
    """Latency 250 -> file in new/, by inotify event time (and by ctime, for reference)."""
    lat, clat, early = [], [], 0
    for bid, t250 in accepted.items():
        hit = seen["found"].get(bid)
        if hit is None:
            continue
        early += hit[0] < t250
        lat.append(max(0.0, hit[0] - t250))
        clat.append(max(0.0, hit[1] - t250))
    lat.sort()
    clat.sort()
    t_end = seen["last"] if lat else time.time()
    return {
        "delivered": len(lat),
        "missing": len(accepted) - len(lat),
        "duplicates": seen["dups"],
        "unmatched_files": seen["unmatched"],
        "delivered_before_250_seen": early,
        "watch": "inotify" if seen["inotify"] else "polling",
        "e2e_secs": t_end - t0,
        "delivered_per_sec": len(lat) / (t_end - t0) if lat else 0.0,
        "latency_ms": {str(q): ms(percentile(lat, q)) for q in (50, 90, 99, 100)},
        "ctime_latency_ms": {str(q): ms(percentile(clat, q)) for q in (50, 90, 99, 100)},
    }


def ms(v):
    return None if v is None else round(v * 1000.0, 2)


def cmd_source(a):
    """Run an external load command (smtp-source); count files delivered to the Maildirs."""
    sampler = Meter(sampler_main, a.pid, a.interval)
    watcher = Meter(watcher_main, maildirs(a), False, a.poll)
    t0 = time.time()
    try:
        proc = subprocess.Popen(a.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        CHILDREN.append(proc)
        try:
            output, _ = proc.communicate(timeout=a.timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            rc = "timeout"
        output = output.decode(errors="replace")
    except OSError as e:
        rc, output = "not run", str(e)
    t1 = time.time()
    wait_delivered(watcher, a.messages, a.delivery_timeout)
    seen = watcher.stop()
    memory = sampler.stop()
    n = seen["files"]
    t_end = seen["last"] if n else t1
    out = {
        "label": a.label,
        "kind": "source",
        "command": " ".join(a.cmd),
        "rc": rc,
        "output": output[-600:],
        "messages": a.messages,
        "intake_secs": t1 - t0,
        "accepted_per_sec": a.messages / (t1 - t0) if rc == 0 else None,
        "delivered": n,
        "missing": max(0, a.messages - n),
        "e2e_secs": t_end - t0,
        "delivered_per_sec": n / (t_end - t0) if n else 0.0,
        "memory": memory,
    }
    write_json(a.out, out)
    summary(out)
    return 0


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


def summary(r):
    s = f"  {r['label']}: intake {r['intake_secs']:.2f}s"
    if r.get("accepted_per_sec"):
        s += f", {r['accepted_per_sec']:.0f} msg/s accepted"
    if "delivered" in r:
        s += f"; {r['delivered']} delivered ({r['missing']} missing)"
    if r.get("latency_ms"):
        s += f"; 250->new/ p50 {r['latency_ms']['50']} ms p99 {r['latency_ms']['99']} ms"
    if r.get("rejected") or r.get("errors"):
        s += f"; rejected {r.get('rejected')} errors {r.get('errors')}"
    if r.get("rc") not in (None, 0):
        s += f"; command rc={r['rc']}: {r.get('output', '').strip()[-200:]}"
    print(s, flush=True)


# ---------------------------------------------------------------- main


CHILDREN = []  # external load commands running now


def on_term(signum, _frame):
    """Stop now: kill the external load command by PID; the meters see EOF and exit."""
    for proc in CHILDREN:
        try:
            proc.kill()
        except OSError:
            pass
    os._exit(128 + signum)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="sub", required=True)

    s = sub.add_parser("freeports")
    s.add_argument("n", type=int)
    s.set_defaults(fn=cmd_freeports)

    s = sub.add_parser("waitport")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("secs", type=float)
    s.set_defaults(fn=cmd_waitport)

    s = sub.add_parser("setconf")
    s.add_argument("file")
    s.add_argument("--addr", action="append", default=[], help="OLD=NEW listen address")
    s.add_argument("--listen", help="name of the [[listen]] block to set limits in")
    s.add_argument("--max-connections", type=int)
    s.add_argument("--max-per-ip", type=int)
    s.set_defaults(fn=cmd_setconf)

    s = sub.add_parser("descendants")
    s.add_argument("pid", type=int)
    s.set_defaults(fn=cmd_descendants)

    def common(s):
        s.add_argument("--label", required=True)
        s.add_argument("--users", required=True, help="comma-separated recipient addresses")
        s.add_argument("--maildir", default="", help="Maildir path with {user} for the local part")
        s.add_argument("--pid", type=int, action="append", default=[], help="root PID to sample")
        s.add_argument("--interval", type=float, default=0.05, help="RSS sampling period, s")
        s.add_argument("--poll", type=float, default=0.005, help="Maildir polling period without inotify, s")
        s.add_argument("--delivery-timeout", type=float, default=120.0)
        s.add_argument("--out", required=True)

    s = sub.add_parser("load")
    common(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--sessions", type=int, default=10)
    s.add_argument("--messages", type=int, default=2000)
    s.add_argument("--size", type=int, default=5120)
    s.add_argument("--timeout", type=float, default=120.0, help="per SMTP reply, s")
    s.add_argument("--no-deliver", action="store_true", help="do not watch Maildirs")
    s.set_defaults(fn=cmd_load)

    s = sub.add_parser("source")
    common(s)
    s.add_argument("--messages", type=int, required=True)
    s.add_argument("--timeout", type=float, default=300.0, help="for the whole command, s")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_source)

    s = sub.add_parser("report")
    s.add_argument("files", nargs="*")
    s.add_argument("--header", action="append")
    s.add_argument("--note", action="append")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_report)

    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    if a.fn is cmd_source:
        a.cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
        if not a.cmd:
            p.error("source needs a command after --")
    if a.fn is cmd_load and (a.sessions < 1 or a.messages < 1 or a.size < 300):
        p.error("need --sessions >= 1, --messages >= 1, --size >= 300")
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
