#!/usr/bin/env bash
# make bench, outbound part: messages per second that our queue-runner relays over SMTP from
# instance A (example.test) to instance B (b.test), both our stack (mailctl run), loopback only.
# Messages are submitted to A over submission with AUTH (Python smtplib, several sessions at
# once). Two figures, both from the first submission: until B's smtpd has accepted the last
# message (A's intake, spam-scan and queue-runner's SMTP client: the relay rate), and until the
# last message is in B's Maildir (end to end, B's own scanning and local delivery included).
#
# Env: BENCH_OUTBOUND_MESSAGES (500)  BENCH_SESSIONS (10)  BENCH_SIZE (5120 bytes)
#      BENCH_DELIVERY_TIMEOUT (180 s)  BENCH_KEEP (0; 1 keeps the temp dir)
#      BENCH_OUTBOUND_OUT (bench/results/outbound-latest.txt)
# Measurement only: it never fails on a slow figure; it fails when a server cannot be started.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

MESSAGES=${BENCH_OUTBOUND_MESSAGES:-500}
SESSIONS=${BENCH_SESSIONS:-10}
SIZE=${BENCH_SIZE:-5120}
DTIMEOUT=${BENCH_DELIVERY_TIMEOUT:-180}
OUT=${BENCH_OUTBOUND_OUT:-$HERE/results/outbound-latest.txt}
MAILCTL=$ROOT/target/release/mailctl
LOAD=(python3 -B "$HERE/smtp_load.py")

for v in MESSAGES SESSIONS SIZE DTIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[ -x "$MAILCTL" ] || { echo "bench: $MAILCTL not built (run: make build)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is required" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mail-bench-outbound.XXXXXX)
PID_A=""
PID_B=""
DNS_PID=""

. "$HERE/common.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  [ -n "$PID_A" ] && stop_tree "$PID_A" "mailctl run (A)"
  [ -n "$PID_B" ] && stop_tree "$PID_B" "mailctl run (B)"
  [ -n "$DNS_PID" ] && { kill "$DNS_PID" 2>/dev/null || true; wait "$DNS_PID" 2>/dev/null || true; }
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <("${LOAD[@]}" freeports 15)
SHIPPED=(2525 2587 2465 2143 2993 2110 2995)

# init DIR FIRST-PORT-INDEX: a server directory with its seven listeners on free ports.
init() {
  local dir=$1 base=$2 args=() i
  "$MAILCTL" init "$dir" --from etc >"$WORK/init.log" 2>&1 \
    || { cat "$WORK/init.log" >&2; log "mailctl init $dir failed"; exit 1; }
  for i in 0 1 2 3 4 5 6; do
    args+=(--addr "127.0.0.1:${SHIPPED[$i]}=127.0.0.1:${PORTS[$((base + i))]}")
  done
  "${LOAD[@]}" setconf "$dir/mail.toml" "${args[@]}" --listen submission \
    --max-connections $(( SESSIONS + 10 )) --max-per-ip $(( SESSIONS + 10 ))
}

init "$WORK/a" 0
init "$WORK/b" 7
# B serves b.test and takes MX traffic from A without limits getting in the way.
sed -i 's/^\[domains\."example.test"\]$/[domains."b.test"]\n&/' "$WORK/b/mail.toml"
"${LOAD[@]}" setconf "$WORK/b/mail.toml" --listen smtp --max-connections 100 --max-per-ip 100
printf 'bench-password\n' | "$MAILCTL" --config "$WORK/b/mail.toml" user add sink@b.test >>"$WORK/init.log" 2>&1 \
  || { cat "$WORK/init.log" >&2; log "user add failed"; exit 1; }
cat >>"$WORK/a/mail.toml" <<EOF

[outbound]
transports = { "b.test" = "127.0.0.1:${PORTS[7]}" }
max_per_destination = 10
EOF

start_local_dns "${PORTS[14]}" "$WORK/a/mail.toml" "$WORK/b/mail.toml"

"$MAILCTL" --config "$WORK/b/mail.toml" run >"$WORK/b.log" 2>&1 &
PID_B=$!
"$MAILCTL" --config "$WORK/a/mail.toml" run >"$WORK/a.log" 2>&1 &
PID_A=$!
for p in "${PORTS[7]}" "${PORTS[1]}"; do
  "${LOAD[@]}" waitport 127.0.0.1 "$p" 30 || { tail -n 30 "$WORK"/*.log >&2; log "port $p never answered"; exit 1; }
done
log "A: pid $PID_A submission 127.0.0.1:${PORTS[1]}  B: pid $PID_B smtp 127.0.0.1:${PORTS[7]}"
log "messages=$MESSAGES sessions=$SESSIONS size=$SIZE work=$WORK"

cat >"$WORK/relay_load.py" <<'PY'
import os, re, smtplib, sys, threading, time
port, n, sessions, size, maildir, timeout, out, blog = sys.argv[1:9]
n, sessions, size, timeout = int(n), int(sessions), int(size), float(timeout)
body = ("x" * 75 + "\r\n") * max(1, size // 77)
errors = []
def worker(k):
    try:
        with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
            s.login("demo@example.test", "demo")
            for i in range(k, n, sessions):
                msg = ("From: demo@example.test\r\nTo: sink@b.test\r\nSubject: bench %d\r\n"
                       "Message-ID: <bench-%d@example.test>\r\n\r\n%s" % (i, i, body))
                s.sendmail("demo@example.test", ["sink@b.test"], msg)
    except Exception as e:
        errors.append(repr(e))
t0 = time.monotonic()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
for t in threads: t.start()
for t in threads: t.join()
submitted = time.monotonic() - t0
if errors:
    print("bench: submission errors: %s" % errors[:3], file=sys.stderr)
def count():
    try: return len(os.listdir(maildir))
    except FileNotFoundError: return 0
accepted_re = re.compile(rb"smtpd\[\d+\]: [0-9A-F]{16}: client=")
def accepted():
    with open(blog, "rb") as f:
        return len(accepted_re.findall(f.read()))
relayed_at = None
while count() < n and time.monotonic() - t0 < timeout:
    if relayed_at is None and accepted() >= n:
        relayed_at = time.monotonic() - t0
    time.sleep(0.05)
total = time.monotonic() - t0
if relayed_at is None:
    relayed_at = total
relayed = accepted()
got = count()
lines = [
    "outbound relay A -> B (both ours, loopback), %s" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "messages=%d sessions=%d size=%d" % (n, sessions, size),
    "submitted to A in %.2f s (%.1f msg/s)" % (submitted, n / submitted if submitted else 0),
    "relayed (accepted by B's smtpd): %d of %d after %.2f s: %.1f msg/s" % (relayed, n, relayed_at, relayed / relayed_at if relayed_at else 0),
    "in B's Maildir: %d of %d after %.2f s: %.1f msg/s end to end" % (got, n, total, got / total if total else 0),
]
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
run python3 -B "$WORK/relay_load.py" "${PORTS[1]}" "$MESSAGES" "$SESSIONS" "$SIZE" \
  "$WORK/b/mail/b.test/sink/new" "$DTIMEOUT" "$OUT" "$WORK/b.log"
