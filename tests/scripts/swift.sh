#!/usr/bin/env bash
# A real S3 server that checks SigV4 signatures, for integration tests:
# OpenStack Swift (Debian packages) + s3api + tempauth + memcached, all on
# 127.0.0.1, all state under STATE_DIR.
#
#   swift.sh start  STATE_DIR PROXY_PORT   start, wait until a signed request
#                                          works, print the endpoint URL
#   swift.sh stop   STATE_DIR              stop every process started, by PID
#   swift.sh status STATE_DIR              print endpoint and process states
#                                          (exit 0 iff all processes alive)
#
# Ports: proxy (the S3 endpoint) = PROXY_PORT, account/container/object
# servers = PROXY_PORT+1..+3, memcached = PROXY_PORT+4. All five must be free
# (checked before anything starts), so instances given proxy ports at least
# 5 apart never clash. The memcached port is written to STATE_DIR/memcached.port.
#
# S3: endpoint http://127.0.0.1:PROXY_PORT (path-style), region `auto`,
# access key `test:tester`, secret `testing` (tempauth). The curl CLI splits
# `--user a:b:c` at the first colon, so use the netrc this script writes:
#   curl --aws-sigv4 aws:amz:auto:s3 --netrc-file STATE_DIR/netrc \
#        -H "x-amz-content-sha256: <sha256 of body>" ...
# (Swift requires x-amz-content-sha256 and curl 7.88 does not add it.)
# Files: STATE_DIR/etc (confs, rings), STATE_DIR/srv/d1 (data; the file
# system must support user xattrs), STATE_DIR/pids, STATE_DIR/*.log,
# STATE_DIR/endpoint, STATE_DIR/start-ms (how long start took: ~2.6-4 s
# alone on 2 cores, ~6 s when two start at once). Swift always also reads
# /etc/swift/swift.conf. Unsigned requests are not S3 to Swift (400 HTML).
# Data persists across stop/start on the same STATE_DIR.
# Env: SWIFT_READY_TIMEOUT (s, default 30), SWIFT_SH_DEBUG=1 (trace readiness).
# Needs: swift swift-proxy swift-object swift-container swift-account
# memcached python3-swift curl (tests/scripts/install-deps.sh).
set -euo pipefail

PY=/usr/bin/python3          # Debian's, which has the swift module
READY_TIMEOUT=${SWIFT_READY_TIMEOUT:-30}   # seconds
STOP_TIMEOUT=10                            # seconds per process

die() { echo "swift.sh: $*" >&2; exit 1; }
usage() { echo "usage: swift.sh start STATE_DIR PROXY_PORT | stop STATE_DIR | status STATE_DIR" >&2; exit 2; }

now_ms() { date +%s%3N; }

# Field 22 of /proc/PID/stat (start time): guards against PID reuse. Fails
# for a zombie (exited, not yet reaped by init): it is gone for our purposes.
proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }            # drop "pid (comm) "
  set -- $s
  case $1 in Z|X) return 1 ;; esac
  echo "${20}"
}

# alive NAME: the recorded process is still the one we started.
alive() {
  local f="$STATE/pids/$1.pid" pid st
  [ -f "$f" ] || return 1
  read -r pid st <"$f" || return 1
  [ -n "$pid" ] && [ "$(proc_start "$pid" 2>/dev/null)" = "$st" ]
}

port_free() {
  "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# launch NAME CMD...: start CMD in its own session, log to STATE/NAME.log,
# record "PID STARTTIME" in STATE/pids/NAME.pid.
launch() {
  local name=$1; shift
  # A non-interactive shell has no job control, so the background child is
  # not a process-group leader and setsid execs in place: $! is the server.
  setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  local pid=$! st=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    st=$(proc_start "$pid" 2>/dev/null) && break
    sleep 0.05
  done
  [ -n "$st" ] || die "$name exited at once (see $STATE/$name.log)"
  echo "$pid $st" >"$STATE/pids/$name.pid"
}

ALL_PROCS="proxy object container account memcached"

stop_all() {
  local name pid st deadline
  for name in $ALL_PROCS; do
    local f="$STATE/pids/$name.pid"
    [ -f "$f" ] || continue
    if alive "$name"; then
      read -r pid st <"$f"
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$(( $(now_ms) + STOP_TIMEOUT * 1000 ))
      while alive "$name" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
      if alive "$name"; then
        echo "swift.sh: $name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do alive "$name" || break; sleep 0.05; done
        alive "$name" && die "$name (pid $pid) does not exit"
      fi
    fi
    rm -f "$f"
  done
}

# s3 METHOD PATH [curl args...]: signed request, prints the HTTP status.
s3() {
  local m=$1 p=$2; shift 2
  [ "$m" = PUT ] && set -- -H "Content-Length: 0" "$@"
  curl -sS -o "$STATE/ready.out" -w '%{http_code}' --max-time 5 \
    --aws-sigv4 "aws:amz:auto:s3" --netrc-file "$STATE/netrc" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    -X "$m" "$@" "$ENDPOINT$p" 2>/dev/null || true
}

write_confs() {
  local port=$1 mc=$2 etc="$STATE/etc" user
  user=$(id -un)
  local svc p
  for svc in account container object; do
    case $svc in account) p=$((port + 1));; container) p=$((port + 2));; object) p=$((port + 3));; esac
    cat >"$etc/$svc-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $p
workers = 0
user = $user
swift_dir = $etc
devices = $STATE/srv
mount_check = false
disable_fallocate = true
log_name = $svc-server
log_level = INFO
recon_cache_path = $STATE/cache

[pipeline:main]
pipeline = $svc-server

[app:$svc-server]
use = egg:swift#$svc
EOF
    [ "$svc" = container ] && printf '\n[container-sharder]\nauto_shard = false\n' >>"$etc/$svc-server.conf"
  done

  local f
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $user
swift_dir = $etc
log_name = proxy-server
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit s3api tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3api]
use = egg:swift#s3api
location = auto

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc
EOF
  # section name (as in the pipeline) : egg entry point
  for f in catch_errors:catch_errors gatekeeper:gatekeeper healthcheck:healthcheck \
           proxy-logging:proxy_logging listing_formats:listing_formats bulk:bulk \
           tempurl:tempurl ratelimit:ratelimit copy:copy container-quotas:container_quotas \
           account-quotas:account_quotas slo:slo dlo:dlo versioned_writes:versioned_writes \
           symlink:symlink; do
    printf '\n[filter:%s]\nuse = egg:swift#%s\n' "${f%%:*}" "${f#*:}" >>"$etc/proxy-server.conf"
  done
}

# Same as swift-ring-builder create 8 1 1 / add / rebalance for each ring,
# in one python process (nine CLI runs cost ~3.5 s).
build_rings() {
  "$PY" - "$STATE/etc" "$1" >>"$STATE/rings.log" 2>&1 <<'EOF' || die "building rings failed (see $STATE/rings.log)"
import os, sys
from swift.common.ring import RingBuilder
etc, port = sys.argv[1], int(sys.argv[2])
for i, svc in enumerate(("account", "container", "object")):
    b = RingBuilder(8, 1, 1)
    p = port + 1 + i
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": p,
               "replication_ip": "127.0.0.1", "replication_port": p,
               "device": "d1", "weight": 100.0, "meta": ""})
    b.rebalance()
    b.save(os.path.join(etc, svc + ".builder"))
    b.get_ring().save(os.path.join(etc, svc + ".ring.gz"))
EOF
  local svc
  for svc in account container object; do
    [ -f "$STATE/etc/$svc.ring.gz" ] || die "no $svc.ring.gz built (see $STATE/rings.log)"
  done
}

cmd_start() {
  local port=$1 t0 i p
  t0=$(now_ms)
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65530 ] \
    || die "PROXY_PORT must be a number in 1024..65530, got '$port'"
  for b in swift-proxy-server swift-account-server swift-container-server swift-object-server \
           memcached curl; do
    command -v "$b" >/dev/null || die "$b not installed (run tests/scripts/install-deps.sh)"
  done
  [ -x "$PY" ] || die "$PY not found (python3-swift)"
  [ -f /etc/swift/swift.conf ] || die "/etc/swift/swift.conf missing (package swift)"

  mkdir -p "$STATE"/{etc,srv/d1,pids,cache,run}
  for n in $ALL_PROCS; do
    alive "$n" && die "already running in $STATE ($n); run: swift.sh stop $STATE"
  done
  rm -f "$STATE"/pids/*.pid "$STATE"/etc/*.builder "$STATE"/etc/*.ring.gz
  rm -rf "$STATE"/etc/backups
  : >"$STATE/rings.log"

  # Swift keeps object metadata in user xattrs.
  "$PY" - "$STATE/srv/d1" 2>/dev/null <<'EOF' || die "$STATE/srv/d1: file system has no user xattrs (Swift needs them; use ext4/xfs/tmpfs)"
import os, sys
p = os.path.join(sys.argv[1], ".xattr-probe")
open(p, "w").close()
try:
    os.setxattr(p, "user.swift.probe", b"1")
    assert os.getxattr(p, "user.swift.probe") == b"1"
finally:
    os.unlink(p)
EOF

  local mc=$((port + 4))
  for p in "$port" $((port + 1)) $((port + 2)) $((port + 3)) "$mc"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (Swift needs PROXY_PORT..PROXY_PORT+4 free)"
  done

  build_rings "$port"
  write_confs "$port" "$mc"
  echo "$mc" >"$STATE/memcached.port"
  ENDPOINT="http://127.0.0.1:$port"
  echo "$ENDPOINT" >"$STATE/endpoint"
  # "default" matches any host name the caller uses (127.0.0.1, localhost).
  printf 'default login test:tester password testing\n' >"$STATE/netrc"
  chmod 600 "$STATE/netrc"

  # From here on, undo everything if start does not complete.
  trap 'stop_all >/dev/null 2>&1 || true' EXIT

  launch memcached memcached -l 127.0.0.1 -p "$mc" -U 0 -m 64 -c 1024 -u "$(id -un)"
  launch account   swift-account-server   "$STATE/etc/account-server.conf" -v
  launch container swift-container-server "$STATE/etc/container-server.conf" -v
  launch object    swift-object-server    "$STATE/etc/object-server.conf" -v
  launch proxy     swift-proxy-server     "$STATE/etc/proxy-server.conf" -v

  # /healthcheck answers before the backends do: wait for a signed request
  # that goes through account, container and object servers.
  local deadline=$(( t0 + READY_TIMEOUT * 1000 )) ok=0 code=none
  i=0
  while [ "$(now_ms)" -lt "$deadline" ] && [ $i -lt 600 ]; do
    i=$((i + 1))
    for n in $ALL_PROCS; do
      alive "$n" || die "$n exited during start (see $STATE/$n.log)"
    done
    code=$(s3 PUT "/swift-sh-ready")
    [ -n "${SWIFT_SH_DEBUG:-}" ] && echo "swift.sh: +$(( $(now_ms) - t0 )) ms PUT bucket -> $code" >&2
    if [ "$code" = 200 ] || [ "$code" = 409 ]; then
      code=$(s3 PUT "/swift-sh-ready/probe")
      if [ "$code" = 200 ] && [ "$(s3 GET /swift-sh-ready/probe)" = 200 ]; then ok=1; break; fi
    fi
    sleep 0.1
  done
  [ $ok = 1 ] || die "not ready after ${READY_TIMEOUT}s (last status $code; see $STATE/proxy.log)"
  s3 DELETE /swift-sh-ready/probe >/dev/null
  # Leave no bucket behind; harmless if the listing update lags.
  for _ in 1 2 3 4 5; do
    code=$(s3 DELETE /swift-sh-ready)
    [ "$code" = 204 ] || [ "$code" = 404 ] && break
    sleep 0.2
  done
  rm -f "$STATE/ready.out"
  trap - EXIT
  echo "$(( $(now_ms) - t0 ))" >"$STATE/start-ms"
  echo "$ENDPOINT"
}

cmd_status() {
  local n pid st rc=0
  [ -f "$STATE/endpoint" ] && echo "endpoint $(cat "$STATE/endpoint") memcached 127.0.0.1:$(cat "$STATE/memcached.port" 2>/dev/null)"
  for n in $ALL_PROCS; do
    if alive "$n"; then
      read -r pid st <"$STATE/pids/$n.pid"; echo "$n running pid $pid"
    else
      echo "$n stopped"; rc=1
    fi
  done
  return $rc
}

[ $# -ge 2 ] || usage
cmd=$1
STATE=$2
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
case $cmd in
  start)  [ $# -eq 3 ] || usage; cmd_start "$3" ;;
  stop)   [ $# -eq 2 ] || usage; [ -d "$STATE" ] || exit 0; stop_all ;;
  status) [ $# -eq 2 ] || usage; cmd_status ;;
  *) usage ;;
esac
