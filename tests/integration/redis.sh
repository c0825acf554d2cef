#!/usr/bin/env bash
# Integration: the shared cache tier on a real Redis (issue 14).
#
# Two "hosts" = two lighttpd instances with their own runtime directories
# (no shared memory between them), two responders each, sharing one
# redis-server (started here from deploy/redis/astropixel-tiles-redis.conf;
# host A on its unix socket, host B over TCP) and one origin (nginx, the
# bucket in public URL mode) whose access log counts the storage GETs.
# Proves: a tile fetched once is served by every process of both hosts with
# one origin GET; the requested format across processes; a batch's L2
# lookups in one round trip (MONITOR); prefetch fills L2; access control
# before an L2 hit; corrupted values never served; a clear on A reaches B
# within a second, also across a Redis restart and while Redis was frozen
# during the clear; Redis killed or frozen -> storage answers, health
# degraded, recovery without restart; eviction under maxmemory; requirepass
# right and wrong, the password never shown.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts

for c in redis-server redis-cli lighttpd nginx node; do
	if ! command -v "$c" >/dev/null; then
		fail "$c is installed" "run tests/scripts/install-deps.sh"
		finish
		exit 1
	fi
done

# ---- the Redis unit is a valid systemd unit ------------------------------------
if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
	R=$STATE/sdroot
	mkdir -p "$R/usr/bin" "$R/etc/systemd/system" "$R/etc/redis" "$R/usr/lib/systemd"
	cp -r /usr/lib/systemd/system "$R/usr/lib/systemd/"
	cp "$(command -v redis-server)" "$R/usr/bin/"
	cp "$IT_ROOT/deploy/redis/astropixel-tiles-redis.conf" "$R/etc/redis/"
	cp "$IT_ROOT/deploy/systemd/astropixel-tiles-redis.service" "$R/etc/systemd/system/"
	out=$(systemd-analyze verify --man=no --root="$R" /etc/systemd/system/astropixel-tiles-redis.service 2>&1)
	expect "systemd-analyze verify accepts the Redis unit" "$out" ""
	rm -rf "$R"
else
	echo "# skip: systemd-analyze not available, the Redis unit is not verified"
fi

# ---- data, origin, Redis ------------------------------------------------------------
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 4096 --height 4096 --owner 5 --quiet	# z12: 16 x 16
"$MKSAMPLE" --out "$DATA" --id 2 --width 600 --height 400 --private --owner 7 --format png --quiet
"$MKSAMPLE" --out "$DATA" --id 5 --width 600 --height 400 --quiet
"$MKSAMPLE" --out "$STATE/png5" --id 5 --width 600 --height 400 --format png --quiet
cp -r "$STATE/png5/tiles/5/." "$DATA/tiles/5/"		# dataset 5: every tile as jpg and png
rm -f "$DATA/tiles/5/10/1/1.jpg"			# ... but 10/1/1 only as png
NG=$STATE/origin
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$DATA" > "$STATE/origin.log" 2>&1 ||
	{ fail "nginx origin starts" "$(tail -3 "$STATE/origin.log")"; finish; exit 1; }
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT
RPORT=$(free_port)
start_redis "$STATE/redis" --port "$RPORT" --maxmemory 64mb ||
	{ fail "redis-server starts" "$(tail -5 "$STATE/redis/redis.log")"; finish; exit 1; }
pass "redis-server (the shipped configuration) on $RSOCK and 127.0.0.1:$RPORT, origin on :$NGPORT"
expect "the shipped configuration: allkeys-lru, no snapshots, no AOF" \
	"$(rcli config get maxmemory-policy | tail -1) $(rcli config get save | tail -1)/$(rcli config get appendonly | tail -1)" \
	"allkeys-lru /no"
P="astropixel-tiles:"

# ---- two hosts -------------------------------------------------------------------------
host_env() {	# host_env NAME REDIS_URL [extra lines]
	local n=$1 url=$2
	shift 2
	mkdir -p "$STATE/$n"
	{
		echo "USE_S3=true"
		echo "R2_PUBLIC_URL=http://127.0.0.1:$NGPORT"
		echo "SECRET_KEY=it-secret"
		echo "TILE_RUNTIME_DIR=$STATE/$n/run"
		echo "LOG_LEVEL=info"
		echo "METADATA_CACHE_TTL=300"
		[ -n "$url" ] && echo "REDIS_URL=$url"
		printf '%s\n' "$@"
	} > "$STATE/$n/app.env"
}
start_host() {	# start_host NAME PROCS: sets <NAME>_BASE
	lighttpd_instance "$STATE/$1" "$STATE/$1/app.env" "$2" ||
		{ fail "host $1 starts" "$(tail -5 "$STATE/$1/error.log" "$STATE/$1/backend.log")"; finish; exit 1; }
	printf -v "${1}_BASE" '%s' "http://127.0.0.1:$IPORT/api/tiles"
	printf -v "${1}_PID" '%s' "$IPID"
}
host_env A "unix://$RSOCK"
host_env B "redis://127.0.0.1:$RPORT/0"
start_host A 2
start_host B 2
pass "host A (unix socket) and host B (TCP), 2 responders each, own runtime directories"

OWNER=$("$MKTOKEN" it-secret 5 3600)
OWNER2=$("$MKTOKEN" it-secret 7 3600)
OTHER=$("$MKTOKEN" it-secret 8 3600)
gets() { grep -cE " /tiles/$1 " "$NG/access.log"; }	# gets KEY_REGEX: origin GETs so far
# answers BASE URL_TAIL N: N requests at once; "status source etag" per answer
answers() {
	local args=() i
	rm -f "$STATE"/ans.*
	for i in $(seq 1 "$3"); do args+=(-o "$STATE/ans.$i" "$1/$2"); done
	curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max "$3" \
		-w '%{http_code} %header{x-tile-source} %header{etag}\n' "${args[@]}"
	# an error's detail, for the log
	grep -ahs '"error"' "$STATE"/ans.* | head -2 | sed 's/^/# error answer: /' >&2
}
# stats BASE DS: "pid cached_tiles l2_hits l2_bad_values" per process seen
# in rounds of 8 parallel cache-stats, until both processes were seen
stats() {
	local r args n
	rm -rf "$STATE/st" && mkdir -p "$STATE/st"
	for r in $(seq 1 10); do
		args=()
		for n in $(seq 1 8); do args+=(-o "$STATE/st/$r.$n.json" "$1/$2/cache-stats"); done
		curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max 8 "${args[@]}"
		[ "$(node -e 'const fs=require("fs"),d=process.argv[1],s=new Set();
for (const f of fs.readdirSync(d)) { try { s.add(JSON.parse(fs.readFileSync(d+"/"+f)).stats.pid); } catch (e) {} }
console.log(s.size)' "$STATE/st")" -ge 2 ] && break
	done
	node -e 'const fs=require("fs"),d=process.argv[1],m=new Map();
for (const f of fs.readdirSync(d).sort()) { try { const j=JSON.parse(fs.readFileSync(d+"/"+f));
m.set(j.stats.pid, [j.dataset.cached_tiles, j.stats.l2_hits, j.stats.l2_bad_values]); } catch (e) {} }
for (const [p, v] of m) console.log(p, v.join(" "));' "$STATE/st"
}
# warm BASE URL_TAIL DS: rounds of 8 parallel requests until both processes of
# the host hold the tile in memory
warm() {
	local r
	for r in $(seq 1 20); do
		answers "$1" "$2" 8 > /dev/null
		[ "$(stats "$1" "$3" | awk '$2 >= 1' | wc -l)" -ge 2 ] && return 0
	done
	return 1
}
sum_col() { awk -v c="$1" '{ s += $c } END { print s + 0 }'; }
etag_of() { printf '"%s"' "$(sha256sum "$1" | cut -c1-32)"; }
degraded_why() {	# the last_error of the degraded answers of the last health_l2
	node -e 'const fs=require("fs"),d=process.argv[1];
for (const f of fs.readdirSync(d)) { try { const j=JSON.parse(fs.readFileSync(d+"/"+f)); if (j.l2 === "degraded") console.log(j.redis.last_error); } catch (e) {} }' "$STATE/h"
}
health_l2() {	# health_l2 BASE: the distinct "l2" states of 8 parallel health answers
	local args=() n
	rm -rf "$STATE/h" && mkdir -p "$STATE/h"
	for n in $(seq 1 8); do args+=(-o "$STATE/h/$n.json" "$1/health"); done
	curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max 8 "${args[@]}"
	node -e 'const fs=require("fs"),d=process.argv[1],s=new Set();
for (const f of fs.readdirSync(d)) { try { s.add(JSON.parse(fs.readFileSync(d+"/"+f)).l2); } catch (e) { s.add("unparsable"); } }
console.log([...s].sort().join(","))' "$STATE/h"
}

req GET "$A_BASE/health"
expect "1: health says l2 ok with REDIS_URL set" "$(json 'j.l2')/$(json 'j.redis.state')" "ok/ok"
cat > "$STATE/none.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
TILE_RUNTIME_DIR=$STATE/none-run
ENV
out=$(ENV_FILE=$STATE/none.env "$BIN" --request 'GET /api/tiles/health' 2>&1)
expect_match "1: without REDIS_URL: l2 off, and no redis section" "$out" '"l2":"off"'
expect_nomatch "1:   (no redis object)" "$out" '"redis":'

# ---- 2: one origin GET for every process of both hosts ------------------------------
T=12/3/3.jpg
req GET "$A_BASE/1/$T"
expect "2: a first request on host A goes to storage" "$STATUS/$(header X-Tile-Source)" "200/r2"
E=$(header ETag)
sleep 0.3	# its write to Redis follows the answer
warm "$A_BASE" "1/$T" 1 && pass "2: both processes of host A hold the tile" || fail "2: warming host A" "$(stats "$A_BASE" 1 | tr '\n' ' ')"
warm "$B_BASE" "1/$T" 1 && pass "2: both processes of host B hold the tile" || fail "2: warming host B" "$(stats "$B_BASE" 1 | tr '\n' ' ')"
expect "2: the origin saw ONE GET for it, for 4 processes on 2 hosts" "$(gets '1/12/3/3\.jpg')" 1
all=$( (answers "$A_BASE" "1/$T" 8; answers "$B_BASE" "1/$T" 8) | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^ *//')
expect "2: 16 answers from both hosts: all 200 with the same ETag" "$all" "16 200 $E"
l2hits=$( (stats "$A_BASE" 1; stats "$B_BASE" 1) | sum_col 3)
expect "2: the 3 processes that did not fetch it had it from Redis (L2 hits >= 3: $l2hits)" \
	"$([ "$l2hits" -ge 3 ] && echo yes)" yes
req GET "$B_BASE/1/12/3/4.jpg"
sleep 0.3
req GET "$A_BASE/1/12/3/4.jpg"
expect "2: X-Tile-Source: redis for an L2 hit" "$(header X-Tile-Source)" redis
check "2:   with the origin's bytes" cmp -s "$BODY" "$DATA/tiles/1/12/3/4.jpg"
conns=$(rcli client list | grep -vc 'cmd=client')
expect "2: one Redis connection per process, none shared (4 processes)" "$conns" 4

# ---- 3: the requested format, across processes and hosts ------------------------------
req GET "$A_BASE/5/10/0/0.png"
expect "3: 5/10/0/0.png on host A" "$STATUS/$(header Content-Type)" "200/image/png"
sleep 0.3
b=$(answers "$B_BASE" "5/10/0/0.jpg" 4 | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^ *//')
expect "3: host B asked for .jpg after the PNG went to Redis: the JPEG, every time" "$b" "4 200 $(etag_of "$DATA/tiles/5/10/0/0.jpg")"
req GET "$B_BASE/5/10/0/0.jpg"
expect "3:   Content-Type image/jpeg" "$(header Content-Type)" image/jpeg
req GET "$A_BASE/5/10/1/1.jpg"
expect "3: a tile only in png, through .jpg on host A: the PNG" "$STATUS/$(header Content-Type)" "200/image/png"
sleep 0.3
req GET "$B_BASE/5/10/1/1.jpg"
expect "3:   the same on host B (after storage said no jpg)" "$STATUS/$(header Content-Type)" "200/image/png"
check "3:   the PNG's bytes" cmp -s "$BODY" "$DATA/tiles/5/10/1/1.png"

# ---- 4: a batch through L2 in one round trip; prefetch fills L2 -----------------------
q=""
for x in $(seq 0 15); do q="$q&tiles=12/$x/6.jpg"; done
rcli monitor > "$STATE/monitor.txt" 2>&1 &
MON=$!
track "$MON"
sleep 0.2
req GET "$A_BASE/1/batch?${q#&}"
expect "4: a batch of 16 misses on host A" "$STATUS/$(json 'Object.values(j.tiles).filter(v => v).length')" "200/16"
# written after the answer: up to 5 s on a loaded machine
for _ in $(seq 1 50); do
	sets=$(grep -c '"SET" "astropixel-tiles:t:1:[0-9.]*:12:[0-9]*:6:jpg"' "$STATE/monitor.txt")
	[ "$sets" -ge 16 ] && break
	sleep 0.1
done
expect "4: its 16 tiles written to Redis after the answer" "$sets" 16
before=$(gets '1/12/[0-9]+/6\.jpg')
: > "$STATE/monitor.txt"
req GET "$B_BASE/1/batch?${q#&}"
sleep 0.2
kill "$MON" 2>/dev/null
expect "4: the same batch on host B: 16 tiles" "$STATUS/$(json 'Object.values(j.tiles).filter(v => v).length')" "200/16"
expect "4:   none from the origin" "$(( $(gets '1/12/[0-9]+/6\.jpg') - before ))" 0
lookups=$(grep -c '"EVAL" "local p, id = ' "$STATE/monitor.txt")
expect "4:   all 16 L1 misses looked up in ONE Redis command (MONITOR)" "$lookups" 1
node -e 'const fs=require("fs"); const j=JSON.parse(fs.readFileSync(process.argv[1]));
process.exit(Buffer.from(j.tiles["12/7/6.jpg"], "base64").equals(fs.readFileSync(process.argv[2])) ? 0 : 1)' \
	"$BODY" "$DATA/tiles/1/12/7/6.jpg" && pass "4:   with the origin's bytes" || fail "4: batch bytes" "12/7/6.jpg differs"
req POST "$A_BASE/1/prefetch?z=11&x0=0&x1=3&y0=4&y1=7"
expect "4: prefetch around 16 tiles on host A accepted" "$STATUS" 202
# it fetches the ring around the area (the viewer loads the area itself):
# z11 is 8 x 8, so row 3 (x 0-4) and column 4 (y 4-7)
for _ in $(seq 1 50); do [ "$(gets '1/11/([0-4]/3|4/[4-7])\.jpg')" -ge 9 ] && break; sleep 0.1; done
sleep 0.3
req GET "$B_BASE/1/11/4/6.jpg"
expect "4: a prefetched tile is an L2 hit on host B" "$STATUS/$(header X-Tile-Source)" "200/redis"
expect "4:   the origin saw one GET for it" "$(gets '1/11/4/6\.jpg')" 1

# ---- 5: access control runs before every answer, L2 hits included ---------------------
req GET "$A_BASE/2/10/0/0.png" -H "Authorization: Bearer $OWNER2"
expect "5: a private tile with its owner's token on host A" "$STATUS" 200
sleep 0.3
req GET "$B_BASE/2/10/0/0.png"
expect "5: the same tile on host B without a token: 401 (it is in Redis)" "$STATUS" 401
req GET "$B_BASE/2/10/0/0.png" -H "Authorization: Bearer $OTHER"
expect "5:   with another user's token: 403" "$STATUS" 403
req GET "$B_BASE/2/10/0/0.png" -H "Authorization: Bearer $OWNER2"
expect "5:   with the owner's: 200 from Redis" "$STATUS/$(header X-Tile-Source)" "200/redis"

# ---- 6: corrupted values are never served ---------------------------------------------
keyof() { rcli --scan --pattern "${P}t:1:*:$1:jpg" | head -1; }	# keyof Z:X:Y
getval() { rcli --raw get "$1" | head -c -1 > "$2"; }			# binary, without the newline
setval() { rcli -x set "$1" < "$2" > /dev/null; }
node_edit() {	# node_edit FILE JS (with b = the bytes)
	node -e "const fs=require('fs'); const b=fs.readFileSync('$1'); $2; fs.writeFileSync('$1', b)"
}
corrupt() {	# corrupt NAME X: tile 12/X/9 fetched on A, its value damaged, then asked on B
	local name=$1 x=$2 k f=$STATE/val.$2
	req GET "$A_BASE/1/12/$x/9.jpg"
	for _ in $(seq 1 50); do k=$(keyof "12:$x:9"); [ -n "$k" ] && break; sleep 0.1; done
	[ -n "$k" ] || { fail "6: $name: the tile is in Redis" "no key"; return; }
	getval "$k" "$f"
	case $name in
	garbage) printf 'not a tile at all' > "$f" ;;
	truncated) head -c -7 "$f" > "$f.t" && mv "$f.t" "$f" ;;
	"another tile's value") getval "$(keyof "12:$((x + 1)):9")" "$f" ;;
	"another layout version") node_edit "$f" 'b[4]++' ;;
	"one bit of the image") node_edit "$f" 'b[b.length >> 1] ^= 8' ;;
	"a length beyond any tile") node_edit "$f" 'b.writeUInt32LE(0xffffffff, 20)' ;;
	esac
	setval "$k" "$f"
	before=$(gets "1/12/$x/9\\.jpg")
	req GET "$B_BASE/1/12/$x/9.jpg"
	if [ "$STATUS" = 200 ] && cmp -s "$BODY" "$DATA/tiles/1/12/$x/9.jpg" && [ "$(header X-Tile-Source)" = r2 ]; then
		pass "6: $name in Redis: host B serves the right tile, from storage"
	else
		fail "6: $name" "status $STATUS source $(header X-Tile-Source), bytes $(cmp -s "$BODY" "$DATA/tiles/1/12/$x/9.jpg" && echo right || echo WRONG)"
	fi
	expect "6:   one more origin GET" "$(( $(gets "1/12/$x/9\\.jpg") - before ))" 1
	for _ in $(seq 1 50); do	# rewritten after the answer
		getval "$k" "$f.after"
		tail -c +41 "$f.after" > "$f.bytes"
		cmp -s "$f.bytes" "$DATA/tiles/1/12/$x/9.jpg" && break
		sleep 0.1
	done
	check "6:   and Redis holds the right value again" cmp -s "$f.bytes" "$DATA/tiles/1/12/$x/9.jpg"
}
req GET "$A_BASE/1/12/1/9.jpg"	# the "other tile" of the third case
for _ in $(seq 1 50); do [ -n "$(keyof "12:1:9")" ] && break; sleep 0.1; done
corrupt garbage 3
corrupt truncated 5
corrupt "another tile's value" 0
corrupt "another layout version" 7
corrupt "one bit of the image" 9
corrupt "a length beyond any tile" 11
bad=$(stats "$B_BASE" 1 | sum_col 4)
expect "6: host B counted the 6 bad values (l2_bad_values)" "$bad" 6

# ---- 7: a clear on host A reaches every process of host B within a second --------------
replace() { cp "$DATA/tiles/1/12/0/$2.jpg" "$DATA/tiles/1/$1"; }	# replace TILE FROM_Y: new bytes
everywhere() {	# everywhere TILE: "status etag" counts of 8 answers on each host
	local a b
	a=$(answers "$A_BASE" "1/$1" 8)
	b=$(answers "$B_BASE" "1/$1" 8)
	echo "# at $(date +%s%3N): host A: $(echo "$a" | sort | uniq -c | tr -s ' \n' ' '); host B: $(echo "$b" | sort | uniq -c | tr -s ' \n' ' ')" >&2
	printf '%s\n%s\n' "$a" "$b" | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^ *//'
}
warm_everywhere() {
	req GET "$A_BASE/1/$1"
	sleep 0.3
	warm "$A_BASE" "1/$1" 1 && warm "$B_BASE" "1/$1" 1
}
T=12/15/15.jpg
warm_everywhere $T && pass "7: 12/15/15 is in memory of all 4 processes" || fail "7: warming" "$T"
replace 12/15/15.jpg 0
NEW=$(etag_of "$DATA/tiles/1/$T")
req POST "$A_BASE/1/cache-clear" -H "Authorization: Bearer $OWNER"
t0=$(date +%s%3N)
echo "# cleared at $t0"
expect "7: cache-clear on host A: scope global" "$STATUS/$(json 'j.scope')" "200/global"
expect "7:   host A answers the new tile at once (both processes)" "$(answers "$A_BASE" "1/$T" 8 | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^ *//')" "8 200 $NEW"
left=$((1000 - ($(date +%s%3N) - t0)))
[ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
expect "7:   one second later both hosts answer only the new tile" "$(everywhere $T)" "16 200 $NEW"

# a Redis restart between the clear and the next request resurrects nothing
T=12/14/15.jpg
warm_everywhere $T && pass "7: 12/14/15 is in memory of all 4 processes" || fail "7: warming" "$T"
replace $T 1
NEW=$(etag_of "$DATA/tiles/1/$T")
req POST "$A_BASE/1/cache-clear" -H "Authorization: Bearer $OWNER"
expect "7: a second clear: scope global" "$STATUS/$(json 'j.scope')" "200/global"
restart_redis KILL && pass "7: Redis killed and started again right after it" || fail "7: Redis restart" "$(tail -3 "$RDIR/redis.log")"
sleep 1
expect "7:   a second later: only the new tile on both hosts" "$(everywhere $T)" "16 200 $NEW"

# Redis frozen during a clear: pending on host A, sent when Redis answers again
T=12/13/15.jpg
warm_everywhere $T && pass "7: 12/13/15 is in memory of all 4 processes" || fail "7: warming" "$T"
sleep 0.6	# every process has looked at the epoch of the restarted Redis
replace $T 2
NEW=$(etag_of "$DATA/tiles/1/$T")
g0=$(rcli hget "${P}gens" 1)
kill -STOP "$RPID"
t0=$(date +%s%3N)
req POST "$A_BASE/1/cache-clear" -H "Authorization: Bearer $OWNER"
t1=$(date +%s%3N)
expect "7: a clear while Redis is frozen: scope pool, pending" "$STATUS/$(json 'j.scope')/$(json 'typeof j.pending')" "200/pool/string"
expect "7:   answered without waiting on Redis ($((t1 - t0)) ms)" "$([ $((t1 - t0)) -lt 2000 ] && echo yes)" yes
expect "7:   host A answers the new tile at once" "$(answers "$A_BASE" "1/$T" 8 | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^ *//')" "8 200 $NEW"
t0=$(date +%s%3N)
req GET "$A_BASE/1/12/2/10.jpg"
t1=$(date +%s%3N)
expect "7: a miss while Redis is frozen is answered from storage ($((t1 - t0)) ms)" \
	"$STATUS/$(header X-Tile-Source)/$([ $((t1 - t0)) -lt 2000 ] && echo bounded)" "200/r2/bounded"
kill -CONT "$RPID"
t0=$(date +%s%3N)
for _ in $(seq 1 50); do
	g1=$(rcli hget "${P}gens" 1)
	[ "${g1:-0}" -gt "${g0:-0}" ] && break
	sleep 0.1
done
t1=$(date +%s%3N)
echo "# the pending clear reached Redis $((t1 - t0)) ms after it answered again"
sleep 1
expect "7: once Redis answers, the pending clear reached it (generation $g0 -> $g1)" \
	"$([ "${g1:-0}" -gt "${g0:-0}" ] && echo yes)" yes
expect "7:   and both hosts answer only the new tile" "$(everywhere $T)" "16 200 $NEW"

# ---- 8: Redis killed: storage answers, health degraded, recovery without restart ------------
kill_redis KILL
t0=$(date +%s%3N)
r=$(for y in 0 1 2 3; do curl -s -o /dev/null -w '%{http_code} %header{x-tile-source}\n' "$B_BASE/1/10/$y/0.jpg"; done | sort | uniq -c | sed 's/^ *//')
t1=$(date +%s%3N)
expect "8: Redis killed: 4 new tiles on host B from storage" "$r" "4 200 r2"
expect "8:   without waiting on Redis ($((t1 - t0)) ms for 4)" "$([ $((t1 - t0)) -lt 3000 ] && echo yes)" yes
sleep 2	# every process has failed to poll 3 times
expect "8: health of both processes of both hosts: l2 degraded" "$(health_l2 "$A_BASE") $(health_l2 "$B_BASE")" "degraded degraded"
req GET "$B_BASE/health"
expect "8:   status stays ok (storage is fine)" "$(json 'j.status')" ok
expect_match "8:   with the reason" "$(json 'j.redis.last_error')" 'connect|reply|lost|refused'
start_redis "$RDIR" "${RARGS[@]}" && pass "8: Redis started again" || fail "8: Redis restart" "$(tail -3 "$RDIR/redis.log")"
for _ in $(seq 1 80); do
	[ "$(health_l2 "$A_BASE") $(health_l2 "$B_BASE")" = "ok ok" ] && break
	sleep 0.25
done
expect "8: recovered without a restart of the pools: l2 ok everywhere" "$(health_l2 "$A_BASE") $(health_l2 "$B_BASE")" "ok ok"
req GET "$A_BASE/1/10/3/3.jpg"
sleep 0.3
req GET "$B_BASE/1/10/3/3.jpg"
expect "8:   and tiles go through Redis again" "$STATUS/$(header X-Tile-Source)" "200/redis"

# ---- 9: eviction under maxmemory --------------------------------------------------------------
used=$(rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
rcli config set maxmemory $((used + 400000)) > /dev/null
ok=0
for row in $(seq 0 15); do
	q=""
	for x in $(seq 0 15); do q="$q&tiles=12/$x/$row.jpg"; done
	req GET "$A_BASE/1/batch?${q#&}"
	[ "$STATUS/$(json 'Object.values(j.tiles).filter(v => v).length')" = "200/16" ] && ok=$((ok + 1))
done
sleep 0.5
expect "9: 256 tiles through a Redis of $((used + 400000)) bytes: every batch complete" "$ok" 16
evicted=$(rcli info stats | sed -n 's/^evicted_keys:\([0-9]*\).*/\1/p' | tr -d '\r')
expect "9:   Redis evicted keys (allkeys-lru: $evicted)" "$([ "${evicted:-0}" -gt 0 ] && echo yes)" yes
r=$(for x in 0 5 10 15; do curl -s -w '%{http_code}\n' -o "$STATE/ev.$x" "$B_BASE/1/12/$x/2.jpg"; done | sort | uniq -c | sed 's/^ *//')
expect "9:   host B still answers those tiles" "$r" "4 200"
check "9:   with the right bytes" cmp -s "$STATE/ev.10" "$DATA/tiles/1/12/10/2.jpg"
rcli config set maxmemory 64mb > /dev/null

# a Redis that refuses: out of memory (noeviction), then a read-only replica
refusing() {	# refusing NAME REGEX TILE_X
	local r
	r=$(for y in 0 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} %header{x-tile-source}\n' "$B_BASE/1/11/$3/$y.jpg"; done | sort | uniq -c | sed 's/^ *//')
	expect "9: $1: new tiles still come, from storage" "$r" "5 200 r2"
	# the process that answered them says so (a process that only polled
	# may still read: a read-only script is allowed under OOM and on a replica)
	expect_match "9:   health of host B: l2 degraded" "$(health_l2 "$B_BASE")" degraded
	expect_match "9:   with Redis's reason" "$(degraded_why)" "$2"
}
rcli config set maxmemory-policy noeviction > /dev/null
rcli config set maxmemory 1 > /dev/null
refusing "Redis out of memory" OOM 5
rcli config set maxmemory 64mb > /dev/null
rcli config set maxmemory-policy allkeys-lru > /dev/null
rcli replicaof 127.0.0.1 1 > /dev/null	# a replica of nobody: read-only
refusing "a read-only replica" READONLY 6
rcli replicaof no one > /dev/null
for _ in $(seq 1 40); do [ "$(health_l2 "$B_BASE")" = ok ] && break; sleep 0.25; done
expect "9: Redis writable again: host B says l2 ok again by itself" "$(health_l2 "$B_BASE")" ok

# ---- 10: requirepass: the right password works, a wrong one fails open, neither is shown -------
kill_redis TERM
R2PORT=$(free_port)
start_redis "$STATE/redis2" --port "$R2PORT" --requirepass 'right-pw-4711' ||
	{ fail "10: redis-server with requirepass starts" "$(tail -3 "$STATE/redis2/redis.log")"; finish; exit 1; }
one() {	# one NAME URL TILE: a --request with that REDIS_URL; prints its output
	host_env "$1" "$2"
	ENV_FILE=$STATE/$1/app.env "$BIN" --request "GET /api/tiles/1/$3" 2>&1 | tr -d '\r\0'
}
one C1 "redis://:right-pw-4711@127.0.0.1:$R2PORT" 12/4/12.jpg > "$STATE/pw1.out"
out=$(one C2 "redis://:right-pw-4711@127.0.0.1:$R2PORT" 12/4/12.jpg)
expect_match "10: the right password: a second process gets the tile from Redis" "$out" 'X-Tile-Source: redis'
out=$(one C3 "redis://:wrong-pw-0815@127.0.0.1:$R2PORT" 12/4/13.jpg)
expect_match "10: a wrong password: the tile still comes, from storage" "$out" 'X-Tile-Source: r2'
host_env D "redis://:wrong-pw-0815@127.0.0.1:$R2PORT"
start_host D 1
req GET "$D_BASE/1/12/4/14.jpg"
req GET "$D_BASE/health"
expect "10:   health: l2 degraded" "$(json 'j.l2')" degraded
expect_match "10:   says why (Redis refused the password)" "$(json 'j.redis.last_error')" 'WRONGPASS|invalid|password'
expect_nomatch "10:   and never shows it" "$(body)" 'wrong-pw-0815'
out=$(one C4 "redis://:wrong-pw-0815@127.0.0.1:99999" 12/4/13.jpg)
expect_match "10: a bad REDIS_URL is refused at start" "$out" 'REDIS_URL: the port'
expect_nomatch "10:   without the password" "$out" 'wrong-pw-0815'
stop_pid "$D_PID"
expect_nomatch "10: no log line holds a password" \
	"$(cat "$STATE"/*/backend.log "$STATE"/*/error.log "$STATE/pw1.out" 2>/dev/null)" 'right-pw-4711|wrong-pw-0815'

# ---- the logs --------------------------------------------------------------------------------
stop_pid "$A_PID"
stop_pid "$B_PID"
cat "$STATE"/A/*.log "$STATE"/B/*.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
expect_nomatch "lighttpd logged no failed backend connection" "$(cat "$STATE"/A/error.log "$STATE"/B/error.log)" \
	'connect|died|disabled|overloaded|Connection reset'
finish
