#!/usr/bin/env bash
# make bench, SMTP part: measures our stack (mailctl run) against a throwaway Postfix, same load,
# same run, loopback only. See bench/README.md for what is measured and how to read it.
#
# Env: BENCH_SESSIONS (10)  BENCH_MESSAGES (2000)  BENCH_SIZE (5120 bytes)  BENCH_USERS (10)
#      BENCH_DELIVERY_TIMEOUT (120 s to wait for the last delivery)  BENCH_POSTFIX (1; 0 skips it)
#      BENCH_SMTP_SOURCE (1; 0 skips smtp-source)  BENCH_KEEP (0; 1 keeps the temp dir)
#      BENCH_OUT (bench/results/smtp-latest.txt)  BENCH_OURS (1; 0 measures only the others)
# Measurement only: it never fails on a slow figure; it fails when a server cannot be started.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

SESSIONS=${BENCH_SESSIONS:-10}
MESSAGES=${BENCH_MESSAGES:-2000}
SIZE=${BENCH_SIZE:-5120}
NUSERS=${BENCH_USERS:-10}
DTIMEOUT=${BENCH_DELIVERY_TIMEOUT:-120}
OUT=${BENCH_OUT:-$HERE/results/smtp-latest.txt}
MAILCTL=$ROOT/target/release/mailctl
LOAD=(python3 -B "$HERE/smtp_load.py")   # -B: no __pycache__ in bench/
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
POSTFIX=/usr/sbin/postfix

for v in SESSIONS MESSAGES SIZE NUSERS DTIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[ "${BENCH_OURS:-1}" != 1 ] || [ -x "$MAILCTL" ] || { echo "bench: $MAILCTL not built (run: make build)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is required" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mail-bench.XXXXXX)
chmod 755 "$WORK"   # Postfix daemons (user postfix, delivery as mail) must traverse it
STACK_PID=""
DNS_PID=""
PF_CONF=""
SINK_PID=""
NOTES=()

. "$HERE/common.sh"

stop_postfix() {
  [ -n "$PF_CONF" ] || return 0
  local master
  master=$(tr -dc '0-9' < "$WORK/postfix/queue/pid/master.pid" 2>/dev/null || true)
  "$POSTFIX" -c "$PF_CONF" stop >/dev/null 2>&1 || true
  if [ -n "$master" ]; then
    for i in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$master" 2>/dev/null && stop_tree "$master" "postfix master"
  fi
  PF_CONF=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  [ -n "$STACK_PID" ] && stop_tree "$STACK_PID" "mailctl run"
  [ -n "$DNS_PID" ] && { kill "$DNS_PID" 2>/dev/null || true; wait "$DNS_PID" 2>/dev/null || true; }
  stop_postfix
  [ -n "$SINK_PID" ] && stop_tree "$SINK_PID" "smtp-sink"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <("${LOAD[@]}" freeports 6)
USERS=""
for i in $(seq "$NUSERS"); do USERS+="${USERS:+,}user$i@example.test"; done
SRC_USER=source@example.test
TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "sessions=$SESSIONS messages=$MESSAGES size=$SIZE users=$NUSERS work=$WORK"

# ------------------------------------------------------------------ our stack
start_ours() {
  local dir=$WORK/ours
  "$MAILCTL" init "$dir" --from etc >"$WORK/ours-init.log" 2>&1 \
    || { cat "$WORK/ours-init.log" >&2; log "mailctl init failed"; exit 1; }
  local limit=$(( SESSIONS + 10 ))
  "${LOAD[@]}" setconf "$dir/mail.toml" \
    --addr "127.0.0.1:2525=127.0.0.1:${PORTS[0]}" \
    --addr "127.0.0.1:2587=127.0.0.1:${PORTS[1]}" \
    --addr "127.0.0.1:2465=127.0.0.1:${PORTS[2]}" \
    --listen smtp --max-connections $(( limit > 100 ? limit : 100 )) --max-per-ip "$limit"
  local u
  for u in ${USERS//,/ } "$SRC_USER"; do
    printf 'bench-password\n' | "$MAILCTL" --config "$dir/mail.toml" user add "$u" >>"$WORK/ours-init.log" 2>&1 \
      || { cat "$WORK/ours-init.log" >&2; log "mailctl user add $u failed"; exit 1; }
  done
  start_local_dns "${PORTS[5]}" "$dir/mail.toml"
  "$MAILCTL" --config "$dir/mail.toml" run >"$WORK/ours.log" 2>&1 &
  STACK_PID=$!
  if ! "${LOAD[@]}" waitport 127.0.0.1 "${PORTS[0]}" 30; then
    tail -n 30 "$WORK/ours.log" >&2
    log "our stack did not answer on 127.0.0.1:${PORTS[0]} within 30 s"
    exit 1
  fi
  log "our stack: mailctl run pid $STACK_PID, smtp 127.0.0.1:${PORTS[0]}"
}

# ------------------------------------------------------------------ Postfix
# A throwaway instance: own config dir, queue and Maildirs under $WORK/postfix, no chroot,
# loopback only, virtual(8) delivery to Maildir for the same users.
start_postfix() {
  local pf=$WORK/postfix conf=$WORK/postfix/conf uid gid
  uid=$(id -u mail) gid=$(id -g mail)
  mkdir -p "$conf" "$pf/queue" "$pf/data" "$pf/mail"
  chown postfix "$pf/data"
  chown mail:mail "$pf/mail"
  cat >"$conf/main.cf" <<EOF
# Throwaway benchmark instance written by bench/smtp.sh; not the system's Postfix.
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.test
virtual_mailbox_base = $pf/mail
virtual_mailbox_maps = texthash:$conf/vmailbox
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = $uid
default_transport = error:off-box delivery disabled in the benchmark instance
relay_transport = \$default_transport
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_tls_security_level = none
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
alias_maps =
alias_database =
local_recipient_maps =
biff = no
in_flow_delay = 0
EOF
  cat >"$conf/master.cf" <<EOF
# service   type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:${PORTS[3]} inet n    -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  local u
  : >"$conf/vmailbox"
  for u in ${USERS//,/ } "$SRC_USER"; do echo "$u ${u%@*}/Maildir/" >>"$conf/vmailbox"; done
  chmod -R go-w "$conf"
  PF_CONF=$conf
  "$POSTFIX" -c "$conf" set-permissions >/dev/null 2>&1 || true
  if ! "$POSTFIX" -c "$conf" check >"$WORK/postfix-start.log" 2>&1 \
    || ! "$POSTFIX" -c "$conf" start >>"$WORK/postfix-start.log" 2>&1; then
    cat "$WORK/postfix-start.log" >&2
    tail -n 20 "$pf/maillog" >&2 2>/dev/null || true
    log "Postfix did not start"
    return 1
  fi
  for i in $(seq 100); do [ -s "$pf/queue/pid/master.pid" ] && break; sleep 0.1; done
  PF_PID=$(tr -dc '0-9' < "$pf/queue/pid/master.pid" 2>/dev/null || true)
  if [ -z "$PF_PID" ] || ! "${LOAD[@]}" waitport 127.0.0.1 "${PORTS[3]}" 30; then
    tail -n 20 "$pf/maillog" >&2 2>/dev/null || true
    log "Postfix did not answer on 127.0.0.1:${PORTS[3]}"
    return 1
  fi
  log "postfix: master pid $PF_PID, smtp 127.0.0.1:${PORTS[3]}"
}

# ------------------------------------------------------------------ one system's runs
# $1 = label (ours|postfix), $2 = port, $3 = root pid, $4 = Maildir template with {user}
measure() {
  local label=$1 port=$2 pid=$3 md=$4
  run "${LOAD[@]}" load --label "$label load" --port "$port" --pid "$pid" \
    --sessions "$SESSIONS" --messages "$MESSAGES" --size "$SIZE" \
    --users "$USERS" --maildir "$md" --delivery-timeout "$DTIMEOUT" \
    --out "$WORK/$label-load.json"
  if [ "${BENCH_SMTP_SOURCE:-1}" = 1 ] && [ -x "$SMTP_SOURCE" ]; then
    run "${LOAD[@]}" source --label "$label smtp-source" --pid "$pid" --messages "$MESSAGES" \
      --users "$SRC_USER" --maildir "$md" --delivery-timeout "$DTIMEOUT" \
      --out "$WORK/$label-source.json" -- \
      "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
      -f bench-sender@bench.test -t "$SRC_USER" "127.0.0.1:$port"
  fi
}

if [ "${BENCH_OURS:-1}" = 1 ]; then
  start_ours
  measure ours "${PORTS[0]}" "$STACK_PID" "$WORK/ours/mail/example.test/{user}"
  stop_tree "$STACK_PID" "mailctl run"
  STACK_PID=""
else
  NOTES+=("Our stack skipped (BENCH_OURS=${BENCH_OURS}).")
fi

[ -x "$SMTP_SOURCE" ] || NOTES+=("smtp-source not installed (Debian package postfix): smtp-source runs skipped.")
if [ "${BENCH_POSTFIX:-1}" != 1 ]; then
  NOTES+=("Postfix comparison skipped (BENCH_POSTFIX=${BENCH_POSTFIX})")
elif [ ! -x "$POSTFIX" ] || ! id postfix >/dev/null 2>&1; then
  NOTES+=("Postfix is not installed: comparison skipped (Debian: apt-get install postfix, 'No configuration').")
elif [ "$(id -u)" != 0 ]; then
  NOTES+=("Postfix comparison needs root (it runs its own master): skipped.")
elif start_postfix; then
  measure postfix "${PORTS[3]}" "$PF_PID" "$WORK/postfix/mail/{user}/Maildir"
  stop_postfix
else
  NOTES+=("Postfix is installed but the benchmark instance did not start: comparison skipped.")
fi

# The load generator's own ceiling: the same Python load against smtp-sink (no storage).
if [ -x "$SMTP_SINK" ]; then
  SINK_USER=""; [ "$(id -u)" = 0 ] && SINK_USER=nobody   # smtp-sink refuses to run as root
  "$SMTP_SINK" ${SINK_USER:+-u "$SINK_USER"} "127.0.0.1:${PORTS[4]}" 256 >/dev/null 2>&1 &
  SINK_PID=$!
  if "${LOAD[@]}" waitport 127.0.0.1 "${PORTS[4]}" 10; then
    run "${LOAD[@]}" load --label "sink load" --port "${PORTS[4]}" --pid "$SINK_PID" --no-deliver \
      --sessions "$SESSIONS" --messages "$MESSAGES" --size "$SIZE" --users "$USERS" \
      --out "$WORK/sink-load.json"
  fi
  stop_tree "$SINK_PID" "smtp-sink"
  SINK_PID=""
fi

shopt -s nullglob
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
"${LOAD[@]}" report "$WORK"/*.json --out "$OUT" \
  --header "SMTP benchmark $TS  ($(nproc) cores${CPU:+, $CPU}, $(uname -sr))" \
  --header "sessions=$SESSIONS messages=$MESSAGES size=$SIZE users=$NUSERS; loopback; ours = mailctl run from etc/mail.toml" \
  ${NOTES[@]+"${NOTES[@]/#/--note=}"}
log "written to ${OUT#$ROOT/}"
