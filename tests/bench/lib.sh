# Shared helpers of the benchmarks (sourced). Benchmarks print figures and
# ratios against a reference measured in the same script; they assert
# nothing. They use the optimised build without sanitizers (_build/plain).
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BUILD_DIR=${PLAIN_BUILD_DIR:-$BENCH_ROOT/_build/plain}
source "$BENCH_ROOT/tests/integration/lib.sh"
set +e
SCRIPTS=$BENCH_ROOT/tests/scripts

machine() {
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
}
# median of numbers on stdin (blank lines ignored)
median() { grep -E "^[0-9.]+$" | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# lighttpd_pool NAME BIN_CMD PROCS ENVFILE: starts lighttpd with one fastcgi
# pool on /api/tiles; sets PORT, BASE, LPID
lighttpd_pool() {	# retried: a free port can be taken between the check and the bind
	local try
	for try in 1 2 3; do
		lighttpd_pool_once "$@" && return 0
		echo "  (pool $1 did not start: $(tail -n 2 "$STATE/$1.out" "$STATE/$1.error.log" 2>/dev/null | tr '\n' ' '); retrying)" >&2
		stop_pid "$LPID"
	done
	return 1
}
lighttpd_pool_once() {
	local name=$1 bin=$2 procs=$3 envfile=$4
	PORT=$(free_port)
	mkdir -p "$STATE/www"
	cat > "$STATE/$name.conf" <<CONF
server.document-root = "$STATE/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$STATE/$name.error.log"
server.breakagelog = "$STATE/$name.backend.log"
server.max-keep-alive-requests = 100000
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/api/tiles" => ((
	"bin-path" => "$bin",
	"socket" => "$STATE/$name.$PORT.sock",
	"check-local" => "disable",
	"max-procs" => $procs,
	"bin-environment" => ( "ENV_FILE" => "$envfile"${NULL_ENV:+, \"${NULL_ENV%%=*}\" => \"${NULL_ENV#*=}\"} ),
)))
CONF
	lighttpd -D -f "$STATE/$name.conf" > "$STATE/$name.out" 2>&1 &
	LPID=$!
	track "$LPID"
	BASE=http://127.0.0.1:$PORT/api/tiles
	# a 200 from the responder, not just any answer from lighttpd
	local i
	for i in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/health")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

# tls_origin DATA [ENDPOINT_PORT]: nginx over TLS + HTTP/2 serving DATA as a
# path-style bucket (stopped on exit), and $STATE/app.env for a responder
# that reads it through https://127.0.0.1:ENDPOINT_PORT (default: nginx's own
# port; give a delay proxy's) with the cache off, so every request is a miss.
# Sets NG, NGPORT.
tls_origin() {
	NG=$STATE/nginx
	NGPORT=$(free_port)
	bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$1" --tls > /dev/null || { echo "nginx failed"; exit 1; }
	trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT
	cat > "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=ignored-by-nginx
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=https://127.0.0.1:${2:-$NGPORT}
S3_CA_BUNDLE=$NG/ca.pem
LOCAL_STORAGE_DIR=$1
TILE_CACHE_MAX_TILES=0
METADATA_CACHE_TTL=3600
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=warn
ENV
}
