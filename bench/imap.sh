#!/usr/bin/env bash
# make bench, IMAP part: one INBOX of BENCH_IMAP_MESSAGES realistic messages served by our imapd
# (under mailctl run) and, if installed, by a throwaway Dovecot on a copy of the same Maildir, in
# the same run, one after the other. Python imaplib measures SELECT (first access and warm),
# FETCH 1:* (FLAGS UID), FETCH ENVELOPE of 50 messages, SEARCH BODY <word>, N concurrent clients
# doing a mix for a fixed time (ops/s), and peak RSS per connection. See bench/README.md.
#
# Env: BENCH_IMAP_MESSAGES (100000)  BENCH_IMAP_CLIENTS (10)  BENCH_IMAP_DURATION (30 s of mix)
#      BENCH_DOVECOT (1; 0 skips it)  BENCH_KEEP (0; 1 keeps the temp dir)
#      BENCH_IMAP_OUT (bench/results/imap-latest.txt)
# Measurement only: it never fails on a slow figure; it fails when a server cannot be started
# or answers a measured command with anything but OK.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

MESSAGES=${BENCH_IMAP_MESSAGES:-100000}
CLIENTS=${BENCH_IMAP_CLIENTS:-10}
DURATION=${BENCH_IMAP_DURATION:-30}
OUT=${BENCH_IMAP_OUT:-$HERE/results/imap-latest.txt}
MAILCTL=$ROOT/target/release/mailctl
LOAD=(python3 -B "$HERE/imap_load.py")   # -B: no __pycache__ in bench/
HELP=(python3 -B "$HERE/smtp_load.py")   # freeports, setconf, descendants
DOVECOT=/usr/sbin/dovecot
USER_ADDR=demo@example.test
PASSWORD=bench-password

for v in MESSAGES CLIENTS DURATION; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[ "$MESSAGES" -ge 50 ] || { echo "bench: BENCH_IMAP_MESSAGES must be at least 50" >&2; exit 2; }
[ -x "$MAILCTL" ] && [ -x "$ROOT/target/release/imapd" ] \
  || { echo "bench: release binaries not built (run: make build)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is required" >&2; exit 1; }

WORK=$(mktemp -d /tmp/imap-bench.XXXXXX)
chmod 755 "$WORK"   # Dovecot's unprivileged processes must traverse it
STACK_PID=""
DOVECOT_PID=""
CHILD=""
NOTES=()
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

mapfile -t PORTS < <("${HELP[@]}" freeports 8)
TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "messages=$MESSAGES clients=$CLIENTS duration=${DURATION}s work=$WORK"

# ------------------------------------------------------------------ the folder
# Written once, straight into our user's Maildir; Dovecot gets a hard-linked copy (Maildir files
# are never changed in place, only renamed or unlinked, so the two copies stay independent).
dir=$WORK/ours
"$MAILCTL" init "$dir" --from etc >"$WORK/ours-init.log" 2>&1 \
  || { cat "$WORK/ours-init.log" >&2; log "mailctl init failed"; exit 1; }
SRC=$dir/mail/example.test/demo
rm -rf "$SRC"
mkdir -p "$(dirname "$SRC")"
T0=$(date +%s)
WORD=$(run "${LOAD[@]}" fill "$SRC" "$MESSAGES")
log "folder of $MESSAGES messages written in $(( $(date +%s) - T0 )) s ($(du -sh "$SRC" | cut -f1)); search word: $WORD"
if [ "${BENCH_DOVECOT:-1}" = 1 ] && [ -x "$DOVECOT" ] && [ -x /usr/lib/dovecot/imap ]; then
  mkdir -p "$WORK/dovecot/mail"
  cp -al "$SRC" "$WORK/dovecot/mail/demo"
fi

# ------------------------------------------------------------------ one server's measurement
measure() { # $1 = label, $2 = port, $3 = root pid, $4 = process name of one connection
  run "${LOAD[@]}" measure "$2" "$USER_ADDR" "$PASSWORD" --label "$1" --pid "$3" --program "$4" \
    --clients "$CLIENTS" --duration "$DURATION" --word "$WORD" --out "$WORK/$1.json" \
    || { log "$1: measurement failed"; exit 1; }
}

# ------------------------------------------------------------------ our imapd
limit=$(( CLIENTS + 10 ))
"${HELP[@]}" setconf "$dir/mail.toml" \
  --addr "127.0.0.1:2525=127.0.0.1:${PORTS[0]}" --addr "127.0.0.1:2587=127.0.0.1:${PORTS[1]}" \
  --addr "127.0.0.1:2465=127.0.0.1:${PORTS[2]}" --addr "127.0.0.1:2143=127.0.0.1:${PORTS[3]}" \
  --addr "127.0.0.1:2993=127.0.0.1:${PORTS[4]}" --addr "127.0.0.1:2110=127.0.0.1:${PORTS[5]}" \
  --addr "127.0.0.1:2995=127.0.0.1:${PORTS[6]}" \
  --listen imap --max-connections $(( limit > 100 ? limit : 100 )) --max-per-ip "$limit"
printf '%s\n' "$PASSWORD" | "$MAILCTL" --config "$dir/mail.toml" user passwd "$USER_ADDR" >>"$WORK/ours-init.log" 2>&1 \
  || printf '%s\n' "$PASSWORD" | "$MAILCTL" --config "$dir/mail.toml" user add "$USER_ADDR" >>"$WORK/ours-init.log" 2>&1 \
  || { cat "$WORK/ours-init.log" >&2; log "cannot set the password of $USER_ADDR"; exit 1; }
"$MAILCTL" --config "$dir/mail.toml" run >"$WORK/ours.log" 2>&1 &
STACK_PID=$!
"${LOAD[@]}" waitimap "${PORTS[3]}" 30 \
  || { tail -n 30 "$WORK/ours.log" >&2; log "our imapd did not answer on 127.0.0.1:${PORTS[3]} within 30 s"; exit 1; }
log "ours: mailctl run pid $STACK_PID, imap 127.0.0.1:${PORTS[3]}"
measure ours "${PORTS[3]}" "$STACK_PID" imapd
stop_tree "$STACK_PID" "mailctl run"; STACK_PID=""

# ------------------------------------------------------------------ Dovecot
# A private instance: own config, base_dir, state and log under $WORK, loopback, a high port,
# passwd-file auth, the Maildir copy as the user's INBOX. Otherwise Dovecot's defaults
# (index files in the Maildir, one imap process per connection).
start_dovecot() {
  local dv=$WORK/dovecot uid gid
  if [ "$(id -u)" = 0 ]; then uid=$(id -u mail); gid=$(id -g mail); else uid=$(id -u); gid=$(id -g); fi
  mkdir -p "$dv/base" "$dv/state"
  chown -R "$uid:$gid" "$dv/mail"
  printf '%s:{PLAIN}%s::::::\n' "$USER_ADDR" "$PASSWORD" > "$dv/users"
  cat > "$dv/dovecot.conf" <<EOF
# Throwaway loopback-only Dovecot for the IMAP bench (bench/imap.sh); not the system config.
instance_name = imap-bench-$$
base_dir = $dv/base
state_dir = $dv/state
log_path = $dv/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:$dv/mail/demo
mail_fsync = optimized
mail_max_userip_connections = 1000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dv/mail/demo
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${PORTS[7]}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
EOF
  "$DOVECOT" -F -c "$dv/dovecot.conf" >"$dv/stdout.log" 2>&1 &
  DOVECOT_PID=$!
  if ! "${LOAD[@]}" waitimap "${PORTS[7]}" 30; then
    tail -n 20 "$dv/dovecot.log" "$dv/stdout.log" >&2 || true
    return 1
  fi
  log "dovecot: master pid $DOVECOT_PID, imap 127.0.0.1:${PORTS[7]}"
}

if [ "${BENCH_DOVECOT:-1}" != 1 ]; then
  NOTES+=("Dovecot comparison skipped (BENCH_DOVECOT=${BENCH_DOVECOT}).")
elif [ ! -x "$DOVECOT" ] || [ ! -x /usr/lib/dovecot/imap ]; then
  NOTES+=("Dovecot IMAP is not installed (Debian: apt-get install dovecot-imapd): comparison skipped.")
elif start_dovecot; then
  measure dovecot "${PORTS[7]}" "$DOVECOT_PID" imap
  stop_tree "$DOVECOT_PID" "dovecot"; DOVECOT_PID=""
else
  NOTES+=("Dovecot is installed but the benchmark instance did not start: comparison skipped.")
  stop_tree "$DOVECOT_PID" "dovecot"; DOVECOT_PID=""
fi

# ------------------------------------------------------------------ report
shopt -s nullglob
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
"${LOAD[@]}" report "$WORK"/*.json --out "$OUT" \
  --header "IMAP benchmark $TS  ($(nproc) cores${CPU:+, $CPU}, $(uname -sr))" \
  --header "INBOX of $MESSAGES messages (2-10 KB, 10 % in new/); $CLIENTS clients x ${DURATION} s of mix; loopback; Python imaplib" \
  ${NOTES[@]+"${NOTES[@]/#/--note=}"}
log "written to ${OUT#$ROOT/}"
