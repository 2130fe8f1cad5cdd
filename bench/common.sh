# Shared by the bench/*.sh scripts (sourced, after HERE is set): logging, running a measuring
# command so a signal reaches the script's trap at once, and stopping a process tree by PID.

log() { echo "bench: $*" >&2; }

# Run a measuring command in the background and wait, so a signal reaches our trap at once.
CHILD=""
run() {
  local rc=0
  "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

# SIGTERM the root, wait up to 10 s, then SIGKILL whatever of its tree is left.
stop_tree() { # $1 = root pid, $2 = name
  local pid=$1 name=$2 pids i
  kill -0 "$pid" 2>/dev/null || return 0
  pids=$(python3 -B "$HERE/smtp_load.py" descendants "$pid" || true)
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ($pid) did not stop on SIGTERM within 10 s; killing its processes"
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  wait "$pid" 2>/dev/null || true
}

# Starts a dnsmasq on 127.0.0.1:$1 that answers every name at once with NXDOMAIN and points
# the configs $2... at it, so our SPF/DKIM/DMARC lookups neither leave the machine nor wait
# for timeouts. Sets DNS_PID (empty when dnsmasq is missing: then the system resolver is
# asked and figures may include DNS timeouts). The caller stops DNS_PID.
start_local_dns() {
  local port=$1; shift
  DNS_PID=""
  if ! command -v dnsmasq >/dev/null; then
    log "dnsmasq not installed: lookups go to the system resolver (figures may include DNS timeouts)"
    return 0
  fi
  dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$port" --pid-file= --address=/#/ \
    $( [ "$(id -u)" -eq 0 ] && echo --user=root ) >/dev/null 2>&1 &
  DNS_PID=$!
  local c
  for c in "$@"; do printf '\n[dns]\nservers = ["127.0.0.1:%s"]\n' "$port" >>"$c"; done
}
