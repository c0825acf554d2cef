#!/usr/bin/env bash
# astropixel-sync upload throughput: objects per second for ~2 000 small
# tiles at 1, 4, 20 and 50 workers, each run into a fresh bucket, against
#  (a) OpenStack Swift + s3api (signature-checking S3, HTTP/1.1: one
#      connection per worker; its single proxy process is the ceiling),
#  (b) nginx accepting PUTs (dav_methods PUT) over HTTP/1.1, and
#  (c) the same nginx over TLS + HTTP/2 (all workers multiplexed on one
#      connection, as with R2).
# nginx ignores signatures and answers the ListObjectsV2 request with an
# empty listing: it measures the client. Prints a table; asserts nothing.
#
#   tests/bench/bench_sync.sh            BENCH_SYNC_WORKERS="1 4 20 50"
source "$(dirname "$0")/lib.sh"
SYNC=$BUILD_DIR/astropixel-sync
WORKERS=${BENCH_SYNC_WORKERS:-1 4 20 50}
RUN_TIMEOUT_S=300	# one sync run at most
[ -x "$SYNC" ] && [ -x "$MKSAMPLE" ] || { echo "build $BUILD_DIR first (astropixel-sync, mksample)"; exit 1; }

# 12288 x 8192 at 256 px: levels 0-14, 2056 tiles (~6 KB JPEG each) + metadata
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 12288 --height 8192 --quiet
NOBJ=$(( $(find "$DATA" -type f | wc -l) + 1 ))	# and the tile index sync builds
BYTES=$(find "$DATA" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

# ---- origins ----------------------------------------------------------------------
SW=$STATE/swift
SWPORT=""
for i in 1 2 3; do
	SWPORT=$(free_port)
	bash "$SCRIPTS/swift.sh" start "$SW" "$SWPORT" > "$STATE/swift.log" 2>&1 && break
	SWPORT=""
done
NG=$STATE/nginx
stop_all() {
	bash "$SCRIPTS/swift.sh" stop "$SW" > /dev/null 2>&1
	[ -f "$NG/nginx.pid" ] && kill -TERM "$(cat "$NG/nginx.pid")" 2>/dev/null
	cleanup
}
trap stop_all EXIT

mkdir -p "$NG/root" "$NG/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$NG/key.pem" -out "$NG/cert.pem" 2> /dev/null
user=""
[ "$(id -u)" = 0 ] && user="user $(id -un) $(id -gn);"
start_nginx() {
cat > "$NG/nginx.conf" <<CONF
daemon off;
$user
worker_processes 1;
pid $NG/nginx.master.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    log_format conn '\$connection \$request_method \$status \$server_protocol';
    access_log $NG/access.log conn;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
    client_max_body_size 8m;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$NGPORT;
        listen 127.0.0.1:$NGTLSPORT ssl http2;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $NG/root;
        # ListObjectsV2 on /BUCKET/?list-type=2: every bucket starts empty
        location ~ ^/[^/]+/\$ {
            default_type application/xml;
            return 200 '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>';
        }
        location / {
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }
    }
}
CONF
setsid nginx -p "$NG/" -e "$NG/error.log" -c "$NG/nginx.conf" > "$NG/out.log" 2>&1 < /dev/null &
echo $! > "$NG/nginx.pid"
}
for i in 1 2 3; do	# two random ports: retry on a clash
	NGPORT=$(free_port)
	NGTLSPORT=$(free_port)
	[ "$NGPORT" != "$NGTLSPORT" ] || continue
	start_nginx
	sleep 0.3
	kill -0 "$(cat "$NG/nginx.pid")" 2>/dev/null && wait_http "http://127.0.0.1:$NGPORT/probe/" 50 && break
	echo "# nginx did not start on $NGPORT/$NGTLSPORT: $(grep -m1 emerg "$NG/error.log") $(ss -tanp | grep -E ":($NGPORT|$NGTLSPORT) " | head -3)"
	kill -TERM "$(cat "$NG/nginx.pid")" 2>/dev/null
	: > "$NG/error.log"
done


# ---- runs -------------------------------------------------------------------------------
# one ENDPOINT BUCKET WORKERS [extra env line]: one run into a fresh bucket;
# prints "objects/s seconds connections status"
one() {
	local ep=$1 bucket=$2 w=$3 extra=${4:-} t0 t1 rc up conns=-
	cat > "$STATE/run.env" <<ENV
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=testing
AWS_BUCKET_NAME=$bucket
S3_ENDPOINT_URL=$ep
LOCAL_STORAGE_DIR=$DATA
S3_TIMEOUT_MS=30000
$extra
ENV
	: > "$NG/access.log"
	t0=$(date +%s%3N)
	env -i PATH="$PATH" ENV_FILE="$STATE/run.env" timeout "$RUN_TIMEOUT_S" "$SYNC" --workers "$w" \
		> "$STATE/run.out" 2> "$STATE/run.err"
	rc=$?
	t1=$(date +%s%3N)
	up=$(sed -n 's/.*astropixel-sync: uploaded \([0-9]*\) .*/\1/p' "$STATE/run.err" | tail -1)
	case $ep in *"$NGPORT"|*"$NGTLSPORT") conns=$(awk '$2 == "PUT" {print $1}' "$NG/access.log" | sort -u | wc -l) ;; esac
	echo "$(awk -v n="${up:-0}" -v ms=$((t1 - t0)) 'BEGIN {printf "%.0f", n * 1000 / ms}') \
$(awk -v ms=$((t1 - t0)) 'BEGIN {printf "%.2f", ms / 1000}') $conns \
$([ "$rc" = 0 ] && [ "${up:-0}" = "$NOBJ" ] && echo ok || echo "exit-$rc-uploaded-${up:-0}")"
}
# row LABEL ENDPOINT BUCKET_PREFIX WORKERS [extra]: REPEAT runs, median objects/s
row() {
	local label=$1 ep=$2 pre=$3 w=$4 extra=${5:-} r res ops=() secs=() conns=- bad=""
	for r in $(seq 1 "$REPEAT"); do
		[ "$pre" = swift ] && bash "$SCRIPTS/s3mb.sh" "$ep" "$pre-w$w-r$r" > /dev/null 2>&1
		res=$(one "$ep" "$pre-w$w-r$r" "$w" "$extra")
		set -- $res
		ops+=("$1"); secs+=("$2"); conns=$3
		[ "$4" = ok ] || bad="$bad $4"
	done
	printf '%-24s %7s %10s %13s %9s %6s %s\n' "$label" "$w" \
		"$(printf '%s\n' "${ops[@]}" | median)" \
		"$(printf '%s\n' "${ops[@]}" | sort -n | head -1)-$(printf '%s\n' "${ops[@]}" | sort -n | tail -1)" \
		"$(printf '%s\n' "${secs[@]}" | median)" "$conns" "${bad:+(failed:$bad)}"
}

REPEAT=${BENCH_SYNC_REPEAT:-3}
machine
echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews these figures)"
echo "libcurl: $(curl --version | head -1 | cut -d' ' -f2-4)"
echo "data: $NOBJ objects ($((NOBJ - 2)) tiles + metadata + index), $BYTES bytes ($(awk -v b="$BYTES" -v n="$NOBJ" 'BEGIN {printf "%.1f", b / n / 1024}') KiB average)"
echo "each row: $REPEAT runs, each into a fresh bucket; objects/s = objects uploaded / wall"
echo "time of the whole run (process start, listing, upload, exit): median and range"
echo
printf '%-24s %7s %10s %13s %9s %6s\n' origin workers objects/s range seconds conns
if [ -n "$SWPORT" ]; then
	for w in $WORKERS; do row "swift+s3api http/1.1" "http://127.0.0.1:$SWPORT" swift "$w"; done
else
	echo "swift+s3api: did not start ($(tail -1 "$STATE/swift.log"))"
fi
for w in $WORKERS; do row "nginx PUT http/1.1" "http://127.0.0.1:$NGPORT" h1 "$w"; done
for w in $WORKERS; do
	row "nginx PUT https h2" "https://127.0.0.1:$NGTLSPORT" h2 "$w" "S3_CA_BUNDLE=$NG/cert.pem"
done
echo
echo "conns = TCP connections that carried the PUTs (nginx access log); swift: not counted"
