#!/usr/bin/env bash
# nginx as a fast static origin: stands in for a public R2 bucket
# (R2_PUBLIC_URL) and, path-style, for an S3 endpoint (signatures ignored).
#
#   origin-nginx.sh start  STATE_DIR PORT ROOT_DIR [--tls] [--untrusted] [--any-tile FILE]
#   origin-nginx.sh stop   STATE_DIR
#   origin-nginx.sh status STATE_DIR
#
# URL mapping (GET/HEAD; Range, If-None-Match, keep-alive as nginx does):
#   /KEY          -> ROOT_DIR/KEY            public bucket style
#   /BUCKET/KEY   -> ROOT_DIR/KEY            S3 path style, any bucket name
# A regex location `^/[^/]+(?<key>/.+)$` strips the first path segment;
# `try_files $uri $key` tries the unstripped path first, so if ROOT_DIR has a
# top-level folder named like the bucket (e.g. ROOT/tiles and bucket "tiles"),
# /tiles/tiles/1/0/0/0.jpg still maps to ROOT/tiles/1/0/0/0.jpg because
# ROOT/tiles/tiles/... does not exist. Query strings are ignored. A missing
# file is 404 with an S3-style NoSuchKey XML body (application/xml).
# GET /__ready answers 200 with a per-start nonce and is not logged (start
# polls it, so an older server on the same port is never mistaken for ours).
#
# --tls: `listen 127.0.0.1:PORT ssl http2`, TLS 1.2 + 1.3, with a server
#   certificate (subjectAltName IP:127.0.0.1, DNS:localhost) signed by a CA
#   made here: trust it with `--cacert STATE_DIR/ca.pem` (CURLOPT_CAINFO).
# --untrusted (implies --tls): serve a self-signed certificate that ca.pem did
#   not sign, for negative tests (verification with ca.pem must fail).
# Without --tls: plain HTTP/1.1.
# --any-tile FILE: every key under tiles/ (either style) is answered with
#   FILE, whatever it names: a grid of any size for load tests, from one tile.
#
# Access log STATE_DIR/access.log, one line per request:
#   $connection $connection_requests $request $status $body_bytes_sent $server_protocol
# so distinct first fields = TCP connections opened. Error log STATE_DIR/error.log.
# keepalive_requests 10000, http2_max_concurrent_streams 128; worker processes
# from ORIGIN_NGINX_WORKERS (default 1). All temp paths live under STATE_DIR.
# nginx runs with `daemon off` in its own session (setsid); the master's PID is
# in STATE_DIR/nginx.pid (with its start time, against PID reuse); stop sends
# SIGTERM to that PID, then to any worker left in its session.
set -euo pipefail

STOP_TIMEOUT=10   # seconds
READY_TIMEOUT=10  # seconds

die() { echo "origin-nginx.sh: $*" >&2; exit 1; }
usage() { echo "usage: origin-nginx.sh start STATE_DIR PORT ROOT_DIR [--tls] [--untrusted] [--any-tile FILE] | stop STATE_DIR | status STATE_DIR" >&2; exit 2; }
now_ms() { date +%s%3N; }

proc_start() {   # start time of a live (non-zombie) process
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  set -- $s
  case $1 in Z|X) return 1 ;; esac
  echo "${20}"
}
alive() {
  local pid st
  [ -f "$STATE/nginx.pid" ] || return 1
  read -r pid st <"$STATE/nginx.pid" || return 1
  [ -n "$pid" ] && [ "$(proc_start "$pid" 2>/dev/null)" = "$st" ]
}
# PIDs of live processes in session SID (the master and its workers).
session_pids() {
  local d s
  for d in /proc/[0-9]*; do
    s=$(cat "$d/stat" 2>/dev/null) || continue
    s=${s##*) }
    set -- $s
    [ "$4" = "$1" ] && [ "$1" != Z ] && echo "${d#/proc/}"
  done
}
session_of() {   # session id of PID
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  set -- $s
  echo "$4"
}

make_certs() {
  local d=$STATE/tls
  mkdir -p "$d"
  [ -f "$d/server.pem" ] && [ -f "$STATE/ca.pem" ] && [ -f "$d/untrusted.pem" ] && return 0
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -keyout "$d/ca.key" -out "$STATE/ca.pem" -subj "/CN=astropixel-tiles test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$STATE/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -days 3650 -out "$d/server.pem" -extfile "$d/server.ext"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -keyout "$d/untrusted.key" -out "$d/untrusted.pem" -subj "/CN=127.0.0.1" \
      -addext subjectAltName=IP:127.0.0.1,DNS:localhost
  } >"$STATE/openssl.log" 2>&1 || die "openssl failed (see $STATE/openssl.log)"
}

cmd_start() {
  local port=$1 root=$2 tls=0 untrusted=0 a any="" anyconf=""
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
    --tls) tls=1 ;;
    --untrusted) tls=1; untrusted=1 ;;
    --any-tile) [ $# -ge 2 ] && [ -f "$2" ] || usage; any=$2; shift ;;
    *) usage ;;
    esac
    shift
  done
  if [ -n "$any" ]; then
    mkdir -p "$STATE/anytile"
    cp "$any" "$STATE/anytile/any.jpg"
    anyconf="location ~ ^(/[^/]+)?/tiles/[0-9]+/ { root $STATE/anytile; default_type image/jpeg; try_files /any.jpg =404; }"
  fi
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad PORT '$port'"
  [ -d "$root" ] || die "ROOT_DIR '$root' is not a directory"
  root=$(cd "$root" && pwd)
  command -v nginx >/dev/null || die "nginx not installed (run tests/scripts/install-deps.sh)"
  mkdir -p "$STATE"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
  alive && die "already running in $STATE; run: origin-nginx.sh stop $STATE"
  local workers=${ORIGIN_NGINX_WORKERS:-1}
  [[ "$workers" =~ ^[0-9]+$ ]] || die "bad ORIGIN_NGINX_WORKERS '$workers'"

  # Fail fast if something already listens there (nginx itself would retry
  # bind() for 2.5 s); the nonce below catches any race left.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use"
  fi
  local nonce; nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')

  local listen="listen 127.0.0.1:$port;" tlsconf="" scheme=http
  if [ $tls = 1 ]; then
    command -v openssl >/dev/null || die "openssl not installed"
    make_certs
    local cert=server
    [ $untrusted = 1 ] && cert=untrusted
    listen="listen 127.0.0.1:$port ssl http2;"
    tlsconf="ssl_certificate $STATE/tls/$cert.pem;
        ssl_certificate_key $STATE/tls/$cert.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:origin_ssl:1m;"
    scheme=https
  fi

  cat >"$STATE/nginx.conf" <<EOF
# generated by origin-nginx.sh
daemon off;
master_process on;
worker_processes $workers;
pid $STATE/nginx.master.pid;
error_log $STATE/error.log info;
events { worker_connections 4096; }
http {
    client_body_temp_path $STATE/tmp/body;
    proxy_temp_path $STATE/tmp/proxy;
    fastcgi_temp_path $STATE/tmp/fastcgi;
    uwsgi_temp_path $STATE/tmp/uwsgi;
    scgi_temp_path $STATE/tmp/scgi;
    log_format origin '\$connection \$connection_requests \$request \$status \$body_bytes_sent \$server_protocol';
    access_log $STATE/access.log origin;
    types {
        image/jpeg jpg jpeg;
        image/png png;
        image/webp webp;
        application/json json;
        application/xml xml;
    }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
    server_tokens off;
    server {
        $listen
        server_name _;
        $tlsconf
        root $root;
        autoindex off;
        error_page 404 @nosuchkey;
        location = /__ready { access_log off; default_type text/plain; return 200 "$nonce\n"; }
        $anyconf
        # /BUCKET/KEY (S3 path style): first the path as is, then KEY.
        location ~ ^/[^/]+(?<s3key>/.+)\$ { try_files \$uri \$s3key =404; }
        location / { try_files \$uri =404; }
        location @nosuchkey {
            types { }
            default_type application/xml;
            return 404 '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>\n';
        }
    }
}
EOF
  nginx -t -q -p "$STATE/" -e "$STATE/error.log" -c "$STATE/nginx.conf" 2>"$STATE/nginx-t.log" \
    || die "nginx config test failed: $(head -1 "$STATE/nginx-t.log")"
  local t0; t0=$(now_ms)
  # No job control here, so the child is no group leader and setsid execs
  # in place: $! is the nginx master.
  setsid nginx -p "$STATE/" -e "$STATE/error.log" -c "$STATE/nginx.conf" \
    >"$STATE/nginx.out" 2>&1 </dev/null &
  local pid=$! st=""
  for _ in $(seq 1 20); do st=$(proc_start "$pid") && break; sleep 0.05; done
  [ -n "$st" ] || die "nginx exited at once (see $STATE/error.log)"
  echo "$pid $st" >"$STATE/nginx.pid"

  local url="$scheme://127.0.0.1:$port" ok=0 i=0 copt=(-k)
  local deadline=$(( t0 + READY_TIMEOUT * 1000 ))
  while [ "$(now_ms)" -lt "$deadline" ] && [ $i -lt 400 ]; do
    i=$((i + 1))
    alive || die "nginx exited during start: $(grep -m1 -E 'emerg|alert' "$STATE/error.log" || tail -1 "$STATE/error.log")"
    if [ "$(curl -s --max-time 2 "${copt[@]}" "$url/__ready" 2>/dev/null)" = "$nonce" ]; then ok=1; break; fi
    sleep 0.05
  done
  if [ $ok != 1 ]; then cmd_stop; die "nginx not answering on $url after ${READY_TIMEOUT}s"; fi
  echo "$url" >"$STATE/url"
  echo "$url"
}

cmd_stop() {
  local pid st sid p deadline
  [ -f "$STATE/nginx.pid" ] || return 0
  read -r pid st <"$STATE/nginx.pid"
  if alive; then
    sid=$(session_of "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(now_ms) + STOP_TIMEOUT * 1000 ))
    while alive && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
    if alive; then
      echo "origin-nginx.sh: nginx (pid $pid) ignored SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    # Workers normally exit with the master; kill any left in its session.
    if [ "$sid" = "$pid" ]; then
      for p in $(session_pids "$sid"); do kill -KILL "$p" 2>/dev/null || true; done
    fi
    alive && die "nginx (pid $pid) does not exit"
  fi
  rm -f "$STATE/nginx.pid"
}

[ $# -ge 2 ] || usage
cmd=$1 STATE=$2
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
case $cmd in
  start)  [ $# -ge 4 ] || usage; mkdir -p "$STATE"; cmd_start "${@:3}" ;;
  stop)   [ $# -eq 2 ] || usage; [ -d "$STATE" ] || exit 0; cmd_stop ;;
  status) [ $# -eq 2 ] || usage
          if alive; then read -r pid _ <"$STATE/nginx.pid"; echo "running pid $pid $(cat "$STATE/url" 2>/dev/null)"
          else echo "stopped"; exit 1; fi ;;
  *) usage ;;
esac
