#!/usr/bin/env python3
"""Folder generator, IMAP measurements and report for bench/imap.sh (measurement only, loopback).

Subcommands:
  fill DIR N [--seed S]        write a Maildir of N realistic messages (2-10 KB, varied headers,
                               some multipart, 10 % in new/, the rest in cur/ with flags); about
                               1 % of bodies carry the search word (printed to stdout)
  measure PORT USER PASS ...   the single-client timings, then N concurrent clients doing a mix
                               for a fixed time; RSS of the server's processes sampled through
                               /proc (meters.py); writes one JSON object
  report JSON...               the comparison table (ours, Dovecot, ratio)
  waitimap PORT SECS           exit 0 once 127.0.0.1:PORT sends an IMAP "* OK" greeting

All clients are Python imaplib connections. Commands whose answer is large (FETCH 1:*) are sent
through imaplib's socket and read line by line (literals honoured), so the client's own parsing
cost stays small next to the server's time; every figure is wall time on the client side.
"""

import argparse
import imaplib
import json
import multiprocessing
import os
import random
import statistics
import sys
import time

from meters import Meter, sampler_main

SEARCH_WORD = "quetzalcoatl"

# ---------------------------------------------------------------- the folder

FIRST = "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert".split()
LAST = "Smith Jones Müller García Rossi Dubois Novak Tanaka Kowalski Silva Ivanova Chen".split()
DOMAINS = "example.org lists.example.net mail.example.com corp.example uni.example.edu".split()
SUBJ = ("meeting notes budget release review draft invoice travel plans report quarterly "
        "schedule update question proposal feedback agenda minutes contract launch patch "
        "server outage holiday photos dinner weekend project migration").split()
WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their has would when "
         "if so no will can more other its said about into than them only some could time "
         "these two may then first any like now my such make over our even most made after "
         "also did many before must through back years where much your way well down should "
         "because each just those people how too little state good very world still own see "
         "men work long get here between both life being under never day same another know "
         "while last might us great old year off come since against go came right used take "
         "three mailbox folder server client message header envelope body search index flags "
         "delivery queue spool relay transport archive sync network latency throughput").split()


def paragraphs(rng, n):
    out = []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(40, 120))
        words[0] = words[0].capitalize()
        text, line = [], []
        for w in words:
            line.append(w)
            if len(" ".join(line)) > 66:
                text.append(" ".join(line))
                line = []
        text.append(" ".join(line) + ".")
        out.append("\n".join(text) + "\n\n")
    return out


def person(rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower().replace('ü', 'ue')}@{rng.choice(DOMAINS)}"


def header_value(name):
    if name.isascii():
        return name
    import base64
    return "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="


def message(rng, i, paras, t):
    fname, faddr = person(rng)
    subject = " ".join(rng.choices(SUBJ, k=rng.randint(2, 6))).capitalize()
    if rng.random() < 0.3:
        subject = "Re: " + subject
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    h = [
        "Return-Path: <%s>" % faddr,
        "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mail.example.test with ESMTPS id %08X\n"
        "\tfor <demo@example.test>; %s" % (i % 7, rng.choice(DOMAINS), i % 7, rng.choice(DOMAINS), i % 250 + 1, i, date),
        "Message-ID: <%d.%08x@%s>" % (t, rng.getrandbits(32), rng.choice(DOMAINS)),
        "Date: " + date,
        "From: %s <%s>" % (header_value(fname), faddr),
        "To: Demo User <demo@example.test>",
        "Subject: " + subject,
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        n2, a2 = person(rng)
        h.append("Cc: %s <%s>" % (header_value(n2), a2))
    if rng.random() < 0.2:
        h.append("List-Id: <team%d.lists.example.net>" % (i % 5))
    if subject.startswith("Re: "):
        h.append("In-Reply-To: <%d.parent@example.org>" % (i - 1))
    body = "".join(rng.choices(paras, k=rng.randint(4, 20)))
    if i % 100 == 7:
        body += "Remember the %s project next week.\n" % SEARCH_WORD
    body += "-- \n%s\n" % fname
    if rng.random() < 0.15:
        b = "b%08x" % rng.getrandbits(32)
        h.append('Content-Type: multipart/alternative; boundary="%s"' % b)
        html = "<html><body><p>" + body.replace("\n\n", "</p><p>") + "</p></body></html>\n"
        text = ("--%s\nContent-Type: text/plain; charset=utf-8\n\n%s\n--%s\n"
                "Content-Type: text/html; charset=utf-8\n\n%s\n--%s--\n") % (b, body, b, html, b)
    else:
        h.append("Content-Type: text/plain; charset=utf-8")
        h.append("Content-Transfer-Encoding: 8bit")
        text = body
    return ("\n".join(h) + "\n\n" + text).encode()


def cmd_fill(a):
    rng = random.Random(a.seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(a.dir, sub), mode=0o700, exist_ok=True)
    paras = paragraphs(rng, 300)
    start = int(time.time()) - 2 * 365 * 86400
    step = max(1, 2 * 365 * 86400 // max(a.n, 1))
    for i in range(a.n):
        t = start + i * step
        msg = message(rng, i, paras, t)
        base = "%d.M%dP%d.bench.test,S=%d" % (t, i, 4242, len(msg))
        r = rng.random()
        if i >= a.n - a.n // 10:
            path = os.path.join(a.dir, "new", base)  # the newest 10 %: not yet seen by a client
        else:
            flags = "S" if r < 0.85 else "FS" if r < 0.92 else "RS" if r < 0.97 else ""
            path = os.path.join(a.dir, "cur", base + ":2," + flags)
        with open(path, "wb") as f:
            f.write(msg)
        os.utime(path, (t, t))
    print(SEARCH_WORD)


# ---------------------------------------------------------------- one client


class Client:
    """An imaplib connection plus a lean raw command path for big answers."""

    def __init__(self, port, user, password):
        self.c = imaplib.IMAP4("127.0.0.1", port, timeout=600)
        self.c.login(user, password)

    def raw(self, command, keep=False):
        """Sends one command; returns (tagged status line, untagged count, kept lines)."""
        c = self.c
        tag = c._new_tag()
        c.send(tag + b" " + command.encode() + b"\r\n")
        count, kept = 0, []
        while True:
            line = c.readline()
            if not line:
                raise RuntimeError("connection closed during %r" % command)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError("%s: %r" % (command, line))
                return line, count, kept
            if line.startswith(b"* "):
                count += 1
            while line.endswith(b"}\r\n") and b"{" in line:  # a literal follows
                n = int(line[line.rindex(b"{") + 1:-3].rstrip(b"+"))
                c.read(n)
                line = c.readline()
            if keep:
                kept.append(line)

    def timed(self, command, keep=False):
        t = time.perf_counter()
        r = self.raw(command, keep)
        return time.perf_counter() - t, r

    def close(self):
        try:
            self.c.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def exists_of(lines):
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[2] == b"EXISTS":
            return int(parts[1])
    raise RuntimeError("no EXISTS in SELECT answer")


def search_count(lines):
    for line in lines:
        if line.startswith(b"* SEARCH"):
            return len(line.split()) - 2
    return 0


def single(a, out):
    """The one-client figures, in order: the first SELECT is the folder's first access."""
    c = Client(a.port, a.user, a.password)
    out["select_cold_s"], (_, _, lines) = c.timed("SELECT INBOX", keep=True)
    n = exists_of(lines)
    out["messages"] = n
    out["fetch_flags_uid_first_s"], (_, cnt, _) = c.timed("FETCH 1:* (FLAGS UID)")
    if cnt < n:
        raise RuntimeError("FETCH 1:* answered %d of %d" % (cnt, n))
    out["fetch_flags_uid_s"], _ = c.timed("FETCH 1:* (FLAGS UID)")
    lo = max(1, n - 49)
    out["fetch_envelope50_first_s"], (_, cnt, _) = c.timed("FETCH %d:%d (UID FLAGS ENVELOPE)" % (lo, n))
    if cnt != n - lo + 1:
        raise RuntimeError("FETCH ENVELOPE answered %d" % cnt)
    out["fetch_envelope50_s"], _ = c.timed("FETCH %d:%d (UID FLAGS ENVELOPE)" % (lo, n))
    mid = max(1, n // 2)
    out["fetch_envelope50_mid_s"], _ = c.timed("FETCH %d:%d (UID FLAGS ENVELOPE)" % (mid, min(n, mid + 49)))
    out["search_body_first_s"], (_, _, lines) = c.timed("SEARCH BODY %s" % a.word, keep=True)
    out["search_body_hits"] = search_count(lines)
    out["search_body_s"], _ = c.timed("SEARCH BODY %s" % a.word)
    c.close()
    warm = []
    for _ in range(3):
        c = Client(a.port, a.user, a.password)
        dt, _ = c.timed("SELECT INBOX")
        warm.append(dt)
        c.close()
    out["select_warm_s"] = statistics.median(warm)
    return n


# ---------------------------------------------------------------- concurrent clients

MIX = [  # (name, weight): what a mail client does while a user reads
    ("screen", 30),   # FETCH 50 headers (UID FLAGS RFC822.SIZE ENVELOPE) around a random place
    ("read", 25),     # FETCH one whole message (BODY.PEEK[])
    ("store", 15),    # STORE +FLAGS / -FLAGS (\Flagged) on one message
    ("noop", 20),     # NOOP (a client polling for new mail)
    ("unseen", 5),    # SEARCH UNSEEN
    ("reselect", 5),  # SELECT INBOX again (switching back to the folder)
]


def worker(a, n, seed, deadline, q):
    rng = random.Random(seed)
    names = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    lat = {k: [] for k in names}
    errors = 0
    try:
        c = Client(a.port, a.user, a.password)
        c.raw("SELECT INBOX")
    except Exception as e:  # noqa: BLE001 - reported, not raised, so the run completes
        q.put({"lat": lat, "errors": 1, "error": str(e)})
        return
    flagged = set()
    while time.monotonic() < deadline:
        op = rng.choices(names, weights)[0]
        m = rng.randint(1, n)
        if op == "screen":
            lo = max(1, min(m, n - 49))
            cmd = "FETCH %d:%d (UID FLAGS RFC822.SIZE ENVELOPE)" % (lo, min(n, lo + 49))
        elif op == "read":
            cmd = "FETCH %d (BODY.PEEK[])" % m
        elif op == "store":
            sign = "-" if m in flagged else "+"
            flagged.symmetric_difference_update({m})
            cmd = "STORE %d %sFLAGS.SILENT (\\Flagged)" % (m, sign)
        elif op == "noop":
            cmd = "NOOP"
        elif op == "unseen":
            cmd = "SEARCH UNSEEN"
        else:
            cmd = "SELECT INBOX"
        try:
            dt, _ = c.timed(cmd)
            lat[op].append(dt)
        except Exception:  # noqa: BLE001
            errors += 1
            try:
                c = Client(a.port, a.user, a.password)
                c.raw("SELECT INBOX")
            except Exception:  # noqa: BLE001
                break
    c.close()
    q.put({"lat": lat, "errors": errors})


def concurrent(a, n, out):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    deadline = time.monotonic() + a.duration
    procs = [ctx.Process(target=worker, args=(a, n, 1000 + i, deadline, q)) for i in range(a.clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [q.get(timeout=a.duration + 600) for _ in procs]
    for p in procs:
        p.join(30)
    secs = time.monotonic() - t0
    lat = {k: [] for k, _ in MIX}
    for r in results:
        for k, v in r["lat"].items():
            lat[k].extend(v)
    total = sum(len(v) for v in lat.values())
    out["concurrent"] = {
        "clients": a.clients,
        "secs": round(secs, 2),
        "ops": total,
        "ops_per_s": round(total / secs, 1) if secs else None,
        "errors": sum(r["errors"] for r in results),
        "error_samples": [r["error"] for r in results if "error" in r][:3],
        "per_op": {k: op_stats(v) for k, v in lat.items()},
    }


def op_stats(v):
    if not v:
        return {"n": 0}
    v = sorted(v)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))] * 1000  # noqa: E731
    return {"n": len(v), "p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2)}


def cmd_measure(a):
    out = {"label": a.label}
    meter = Meter(sampler_main, [a.pid], 0.05)
    n = single(a, out)
    m1 = meter.stop()
    meter = Meter(sampler_main, [a.pid], 0.05)
    concurrent(a, n, out)
    m2 = meter.stop()
    prog = a.program
    out["rss_one_conn_single_bytes"] = m1["peak_rss_by_program"].get(prog)
    out["rss_one_conn_concurrent_bytes"] = m2["peak_rss_by_program"].get(prog)
    out["rss_total_concurrent_bytes"] = m2["peak_rss_total"]
    out["pss_total_concurrent_bytes"] = m2["peak_pss_total"]
    out["server_cpu_s_concurrent"] = round(m2.get("cpu_secs", 0), 2)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "concurrent"}), file=sys.stderr)
    return 0


def cmd_waitimap(a):
    import socket
    deadline = time.monotonic() + a.secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", a.port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"* OK"):
                    s.sendall(b"a LOGOUT\r\n")
                    return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


# ---------------------------------------------------------------- report

ROWS = [  # (label, key, kind)
    ("SELECT, first access (cold)", "select_cold_s", "time"),
    ("SELECT, warm (median of 3 logins)", "select_warm_s", "time"),
    ("FETCH 1:* (FLAGS UID), first", "fetch_flags_uid_first_s", "time"),
    ("FETCH 1:* (FLAGS UID), again", "fetch_flags_uid_s", "time"),
    ("FETCH ENVELOPE, last 50, first", "fetch_envelope50_first_s", "time"),
    ("FETCH ENVELOPE, last 50, again", "fetch_envelope50_s", "time"),
    ("FETCH ENVELOPE, 50 mid-folder", "fetch_envelope50_mid_s", "time"),
    ("SEARCH BODY <word>, first", "search_body_first_s", "time"),
    ("SEARCH BODY <word>, again", "search_body_s", "time"),
]


def fmt_ms(s):
    return "-" if s is None else "%.1f ms" % (s * 1000) if s < 10 else "%.2f s" % s


def fmt_mb(b):
    return "-" if not b else "%.1f MB" % (b / 1e6)


def compare(o, d, higher_is_better):
    if o is None or d is None or not o or not d:
        return ""
    r = (o / d) if higher_is_better else (d / o)
    return "ours %.2fx %s" % (r if r >= 1 else 1 / r, "faster" if r >= 1 else "slower")


def cmd_report(a):
    runs = {}
    for p in a.json:
        with open(p, encoding="utf-8") as f:
            r = json.load(f)
        runs[r["label"]] = r
    o, d = runs.get("ours", {}), runs.get("dovecot", {})
    lines = list(a.header)
    lines.append("%-36s %12s %12s   %s" % ("", "ours", "dovecot", "ratio"))
    for label, key, _ in ROWS:
        lines.append("%-36s %12s %12s   %s" % (label, fmt_ms(o.get(key)), fmt_ms(d.get(key)) if d else "-",
                                               compare(o.get(key), d.get(key), False)))
    oc, dc = o.get("concurrent", {}), d.get("concurrent", {})
    lines.append("%-36s %12s %12s   %s" % ("%s clients, mixed ops/s" % oc.get("clients", "?"),
                                           oc.get("ops_per_s", "-"), dc.get("ops_per_s", "-") if dc else "-",
                                           compare(oc.get("ops_per_s"), dc.get("ops_per_s"), True)))
    for label, key in (("peak RSS, one connection, alone", "rss_one_conn_single_bytes"),
                       ("peak RSS, one connection, loaded", "rss_one_conn_concurrent_bytes"),
                       ("peak RSS, all processes, loaded", "rss_total_concurrent_bytes"),
                       ("peak PSS, all processes, loaded", "pss_total_concurrent_bytes")):
        ov, dv = o.get(key), d.get(key)
        ratio = "ours %.2fx of dovecot's" % (ov / dv) if ov and dv else ""
        lines.append("%-36s %12s %12s   %s" % (label, fmt_mb(ov), fmt_mb(dv), ratio))
    lines.append("%-36s %12s %12s" % ("server CPU s during the mix", oc and o.get("server_cpu_s_concurrent"),
                                      d.get("server_cpu_s_concurrent", "-") if d else "-"))
    lines.append("")
    lines.append("mix latency p50 / p99 (ms)          %-24s %-24s" % ("ours", "dovecot"))
    for k, _ in MIX:
        def cell(c):
            s = c.get("per_op", {}).get(k, {}) if c else {}
            return "%d ops %s / %s" % (s["n"], s["p50_ms"], s["p99_ms"]) if s.get("n") else "-"
        lines.append("  %-34s %-24s %-24s" % (k, cell(oc), cell(dc)))
    for name, r in runs.items():
        if r.get("search_body_hits") is not None:
            lines.append("! %s: SEARCH BODY found %d messages; errors during the mix: %d %s" % (
                name, r["search_body_hits"], r["concurrent"]["errors"],
                "; ".join(r["concurrent"]["error_samples"])))
    lines.extend("! " + n for n in a.note)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fill")
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=42)
    p = sub.add_parser("measure")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("--label", required=True)
    p.add_argument("--pid", type=int, required=True, help="server root process, for RSS")
    p.add_argument("--program", required=True, help="process name of one IMAP connection")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--word", default=SEARCH_WORD)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("json", nargs="+")
    p.add_argument("--out")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--note", action="append", default=[])
    p = sub.add_parser("waitimap")
    p.add_argument("port", type=int)
    p.add_argument("secs", type=float)
    a = ap.parse_args()
    cmds = {"fill": cmd_fill, "measure": cmd_measure, "report": cmd_report, "waitimap": cmd_waitimap}
    return cmds[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
