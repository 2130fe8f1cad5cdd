#!/usr/bin/env bash
# make bench, POP3 part: download one Maildir of BENCH_POP3_MESSAGES messages over POP3 from our
# pop3d (under mailctl run) and, if installed, from a throwaway Dovecot pop3 on a copy of the
# same Maildir; messages/s, MB/s and the ratio. Loopback only. Each server gets two sessions:
# "first" (the first login: UIDs assigned, new/ -> cur/) and "again" (a second download).
#
# Env: BENCH_POP3_MESSAGES (10000)  BENCH_POP3_SIZE (4096 bytes)  BENCH_POP3_WINDOW (32 RETRs
#      pipelined)  BENCH_DOVECOT (1; 0 skips it)  BENCH_KEEP (0; 1 keeps the temp dir)
#      BENCH_POP3_OUT (bench/results/pop3-latest.txt)
# Measurement only: it never fails on a slow figure; it fails when a server cannot be started
# or a download comes back incomplete.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

MESSAGES=${BENCH_POP3_MESSAGES:-10000}
SIZE=${BENCH_POP3_SIZE:-4096}
WINDOW=${BENCH_POP3_WINDOW:-32}
OUT=${BENCH_POP3_OUT:-$HERE/results/pop3-latest.txt}
MAILCTL=$ROOT/target/release/mailctl
LOAD=(python3 -B "$HERE/pop3_load.py")
DOVECOT=/usr/sbin/dovecot
USER_ADDR=demo@example.test
PASSWORD=bench-password

for v in MESSAGES SIZE WINDOW; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[ -x "$MAILCTL" ] && [ -x "$ROOT/target/release/pop3d" ] \
  || { echo "bench: release binaries not built (run: make build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pop3-bench.XXXXXX)
chmod 755 "$WORK"   # Dovecot's unprivileged processes must traverse it
STACK_PID=""
DOVECOT_PID=""
. "$HERE/common.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  [ -n "$STACK_PID" ] && stop_tree "$STACK_PID" "mailctl run"
  [ -n "$DOVECOT_PID" ] && stop_tree "$DOVECOT_PID" "dovecot"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <("${LOAD[@]}" freeports 6)
log "messages=$MESSAGES size=$SIZE window=$WINDOW work=$WORK"
run "${LOAD[@]}" fill "$WORK/source" "$MESSAGES" "$SIZE"
RESULTS=()

# Two downloads of a fresh copy of the source Maildir; appends "name phase json" to RESULTS.
measure() { # $1 = name, $2 = port
  local phase json
  for phase in first again; do
    json=$(run "${LOAD[@]}" fetch "$2" "$USER_ADDR" "$PASSWORD" --window "$WINDOW") \
      || { log "$1: download failed"; exit 1; }
    log "$1 $phase: $json"
    RESULTS+=("$1 $phase $json")
  done
}

# ------------------------------------------------------------------ our pop3d
dir=$WORK/ours
"$MAILCTL" init "$dir" --from etc >"$WORK/ours-init.log" 2>&1 \
  || { cat "$WORK/ours-init.log" >&2; log "mailctl init failed"; exit 1; }
sed -i -e "s/127.0.0.1:2525\"/127.0.0.1:${PORTS[0]}\"/; s/127.0.0.1:2587\"/127.0.0.1:${PORTS[1]}\"/" \
  -e "s/127.0.0.1:2465\"/127.0.0.1:${PORTS[2]}\"/; s/127.0.0.1:2110\"/127.0.0.1:${PORTS[3]}\"/" \
  -e "s/127.0.0.1:2995\"/127.0.0.1:${PORTS[4]}\"/; s/127.0.0.1:2143\"/127.0.0.1:0\"/" \
  -e "s/127.0.0.1:2993\"/127.0.0.1:0\"/" "$dir/mail.toml"
grep -q "127.0.0.1:${PORTS[3]}\"" "$dir/mail.toml" || { log "pop3 listener not found in mail.toml"; exit 1; }
printf '%s\n' "$PASSWORD" | "$MAILCTL" --config "$dir/mail.toml" user passwd "$USER_ADDR" >>"$WORK/ours-init.log" 2>&1 \
  || printf '%s\n' "$PASSWORD" | "$MAILCTL" --config "$dir/mail.toml" user add "$USER_ADDR" >>"$WORK/ours-init.log" 2>&1 \
  || { cat "$WORK/ours-init.log" >&2; log "cannot set the password of $USER_ADDR"; exit 1; }
mkdir -p "$dir/mail/example.test"
rm -rf "$dir/mail/example.test/demo"
cp -a "$WORK/source" "$dir/mail/example.test/demo"
"$MAILCTL" --config "$dir/mail.toml" run >"$WORK/ours.log" 2>&1 &
STACK_PID=$!
"${LOAD[@]}" waitport 127.0.0.1 "${PORTS[3]}" 30 \
  || { tail -n 30 "$WORK/ours.log" >&2; log "our pop3d did not answer within 30 s"; exit 1; }
measure ours "${PORTS[3]}"
stop_tree "$STACK_PID" "mailctl run"; STACK_PID=""

# ------------------------------------------------------------------ Dovecot
if [ "${BENCH_DOVECOT:-1}" = 1 ] && [ -x "$DOVECOT" ] && [ -x /usr/lib/dovecot/pop3 ]; then
  dv=$WORK/dovecot
  mkdir -p "$dv/base" "$dv/state" "$dv/mail"
  if [ "$(id -u)" = 0 ]; then uid=$(id -u mail); gid=$(id -g mail); else uid=$(id -u); gid=$(id -g); fi
  cp -a "$WORK/source" "$dv/mail/demo"
  chown -R "$uid:$gid" "$dv/mail"
  printf '%s:{PLAIN}%s::::::\n' "$USER_ADDR" "$PASSWORD" > "$dv/users"
  cat > "$dv/dovecot.conf" <<EOF
# Throwaway loopback-only Dovecot for the POP3 bench; not the system config.
instance_name = pop3-bench-$$
base_dir = $dv/base
state_dir = $dv/state
log_path = $dv/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:$dv/mail/demo
mail_fsync = optimized
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dv/mail/demo
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${PORTS[5]}
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
EOF
  "$DOVECOT" -F -c "$dv/dovecot.conf" >"$dv/stdout.log" 2>&1 &
  DOVECOT_PID=$!
  if "${LOAD[@]}" waitport 127.0.0.1 "${PORTS[5]}" 30; then
    measure dovecot "${PORTS[5]}"
  else
    tail -n 20 "$dv/dovecot.log" "$dv/stdout.log" >&2 || true
    log "dovecot did not answer within 30 s; skipping it"
  fi
  stop_tree "$DOVECOT_PID" "dovecot"; DOVECOT_PID=""
else
  log "dovecot not installed (Debian: dovecot-pop3d) or BENCH_DOVECOT=0: our column only"
fi

# ------------------------------------------------------------------ report
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "${RESULTS[@]}" | python3 -c '
import json, sys
rows = {}
for line in sys.stdin:
    name, phase, js = line.split(" ", 2)
    rows[(name, phase)] = json.loads(js)
print("POP3 download, %s messages of ~%s bytes, %s RETRs pipelined, loopback" % (sys.argv[1], sys.argv[2], sys.argv[3]))
print("%-8s %-6s %10s %9s %8s %9s" % ("server", "login", "msgs/s", "MB/s", "secs", "login s"))
for (name, phase), r in rows.items():
    print("%-8s %-6s %10.1f %9.2f %8.2f %9.3f" % (name, phase, r["msgs_per_s"], r["mb_per_s"], r["secs"], r["login_secs"]))
for phase in ("first", "again"):
    o, d = rows.get(("ours", phase)), rows.get(("dovecot", phase))
    if o and d:
        print("ratio ours/dovecot (%s): %.2fx msgs/s" % (phase, o["msgs_per_s"] / d["msgs_per_s"]))
' "$MESSAGES" "$SIZE" "$WINDOW" | tee "$OUT"
