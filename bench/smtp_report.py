"""The comparison table of the SMTP benchmark, from the JSON files of the runs."""

import json
import os
import sys

def cmd_report(a):
    runs = {}
    for path in a.files:
        try:
            with open(path, encoding="utf-8") as f:
                r = json.load(f)
            runs[r["label"]] = r
        except (OSError, ValueError, KeyError) as e:
            print(f"report: skipping {path}: {e}", file=sys.stderr)
    lines = []
    for h in a.header or []:
        lines.append(h)
    lines += table(
        "Python load: {s} sessions, connections reused, {m} messages of {z} bytes to {u} users",
        runs.get("ours load"),
        runs.get("postfix load"),
    )
    lines += table(
        "smtp-source: {cmd}",
        runs.get("ours smtp-source"),
        runs.get("postfix smtp-source"),
    )
    ceil = runs.get("sink load")
    if ceil:
        lines.append("")
        lines.append(
            f"Load generator ceiling (same Python load -> Postfix smtp-sink, no storage): "
            f"{ceil['accepted_per_sec']:.0f} msg/s"
        )
    for note in a.note or []:
        lines.append(note)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


MIB = 1024 * 1024


def table(title, ours, pf):
    if not ours and not pf:
        return []
    ref = ours or pf
    title = title.format(
        s=ref.get("sessions"), m=ref.get("messages"), z=ref.get("size"), u=ref.get("users"),
        cmd=ref.get("command", "").split("/")[-1],
    )
    rows = [
        ("accepted msg/s (250 after DATA)", lambda r: r.get("accepted_per_sec"), "{:.0f}", "higher"),
        ("delivered msg/s (start -> last file)", lambda r: r.get("delivered_per_sec"), "{:.0f}", "higher"),
        ("250 -> new/ p50 ms", lambda r: (r.get("latency_ms") or {}).get("50"), "{:.1f}", "lower"),
        ("250 -> new/ p99 ms", lambda r: (r.get("latency_ms") or {}).get("99"), "{:.1f}", "lower"),
        ("peak RSS, all processes MiB", lambda r: r["memory"]["peak_rss_total"] / MIB, "{:.1f}", "lower"),
        ("peak PSS, all processes MiB", lambda r: r["memory"]["peak_pss_total"] / MIB, "{:.1f}", "lower"),
        ("peak RSS, one smtpd MiB", lambda r: r["memory"]["peak_rss_by_program"].get("smtpd", 0) / MIB or None, "{:.1f}", "lower"),
        ("peak processes (sampled)", lambda r: r["memory"]["peak_procs"], "{:.0f}", "lower"),
        ("server CPU ms per message", cpu_per_msg, "{:.2f}", "lower"),
        ("files in new/ before client read 250", lambda r: r.get("delivered_before_250_seen"), "{:.0f}", None),
    ]
    out = ["", title, f"  {'':38} {'ours':>10} {'postfix':>10} {'ours/postfix':>13}"]
    for name, get, fmt, better in rows:
        a, b = safe(get, ours), safe(get, pf)
        if a is None and b is None:
            continue
        if better is None:
            out.append(f"  {name:38} {fmtv(fmt, a):>10} {fmtv(fmt, b):>10}")
            continue
        ratio = f"{a / b:.2f}" if a is not None and b else "-"
        out.append(f"  {name:38} {fmtv(fmt, a):>10} {fmtv(fmt, b):>10} {ratio:>9} ({better} is better)")
    for label, r in (("ours", ours), ("postfix", pf)):
        if not r:
            continue
        bad = []
        if r.get("missing"):
            bad.append(f"{r['missing']} accepted but not delivered within the timeout")
        if r.get("rejected"):
            bad.append(f"rejected {r['rejected']} e.g. {list(r.get('reject_samples', {}).values())[:1]}")
        if r.get("errors"):
            bad.append(f"{r['errors']} not sent (session errors: {r.get('error_samples', [])[:2]})")
        if r.get("duplicates"):
            bad.append(f"{r['duplicates']} duplicate deliveries")
        if r.get("rc") not in (None, 0):
            bad.append(f"command exit {r['rc']}: {r.get('output', '').strip()[-160:]}")
        if bad:
            out.append(f"  ! {label}: " + "; ".join(bad))
    progs = (ours or {}).get("memory", {}).get("peak_rss_by_program")
    if progs:
        out.append("  ours, peak RSS per program MiB: " + ", ".join(f"{k} {v / MIB:.1f}" for k, v in progs.items()))
    return out


def cpu_per_msg(r):
    n = r.get("accepted", r.get("messages"))
    return r["memory"]["cpu_secs"] * 1000.0 / n if n else None


def safe(get, r):
    if not r:
        return None
    try:
        v = get(r)
    except (KeyError, TypeError):
        return None
    return None if v is None else float(v)


def fmtv(fmt, v):
    return "-" if v is None else fmt.format(v)
