#!/usr/bin/env bash
# Writes the seed corpora of tests/fuzz/corpus/NAME/: "seed-*" by hand here,
# "gen-*" by tests/fuzz/mkseeds (valid tokens, indexes made by the builder,
# real PNG and JPEG files). Inputs found by fuzzing ("regress-*") are never
# touched. Deterministic: running it again changes nothing in git.
#
#   tests/fuzz/mkcorpus.sh          (builds mkseeds in _build/fuzz first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$ROOT/tests/fuzz/corpus
BUILD=${FUZZ_BUILD_DIR:-$ROOT/_build/fuzz}

[ -f "$BUILD/Makefile" ] || { echo "mkcorpus: run tests/fuzz/run.sh --build first" >&2; exit 1; }
make -s -C "$BUILD" -j2 tests/fuzz/mkseeds > /dev/null
find "$C" -name 'seed-*' -delete 2>/dev/null || true
find "$C" -name 'gen-*' -delete 2>/dev/null || true
"$BUILD/tests/fuzz/mkseeds" "$C"

# seed NAME FILE: stdin to corpus/NAME/seed-FILE
seed() { mkdir -p "$C/$1"; cat > "$C/$1/seed-$2"; }

# ---- tilekey: tile specs, numbers, extensions
printf '0/0/0.jpg' | seed tilekey zero
printf '30/1073741823/1073741823.webp' | seed tilekey largest
printf '10/511/300.jpeg' | seed tilekey jpeg
printf '5/3/2.png' | seed tilekey png
printf '1/01/0.jpg' | seed tilekey leading-zero
printf '31/0/0.jpg' | seed tilekey z-too-large
printf '0/1073741824/0.jpg' | seed tilekey x-too-large
printf '4294967295' | seed tilekey uint-max
printf '0/0/0.JPG' | seed tilekey upper-ext

# ---- iiif: 14 bytes of geometry (width, height: 5 bytes each LE, minus 1;
# tile size: 2 bytes LE minus 16; max_zoom; min_zoom), then a path tail.
# 600x400, 256 px tiles, zoom 0..10 (and odd: the info.json checks too)
G600='\x57\x02\x00\x00\x00\x8f\x01\x00\x00\x00\xf0\x00\x0a\x00'
G601='\x58\x02\x00\x00\x00\x90\x01\x00\x00\x00\xf0\x00\x0a\x00'
printf "${G600}512,256,88,144/88,144/0/default.jpg" | seed iiif corner
printf "${G601}full/151,101/0/default.png" | seed iiif full-level
printf "${G600}0,0,512,400/256,/0/default.webp" | seed iiif scale2-w
printf "${G600}512,0,88,400/,200/0/default.jpg" | seed iiif scale2-h
printf "${G601}0,0,256,256/max/0/default.jpg" | seed iiif max
printf "${G600}full/max/90/gray.tif" | seed iiif refused
printf "${G600}pct:1,2,3,4/!10,10/0/default.jpg" | seed iiif pct
printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x1e\x00full/1,1/0/default.jpg' | seed iiif largest
printf "${G600}info.json" | seed iiif info
printf "${G600}[::1]:8443" | seed iiif host

# ---- decimal: 8 bytes of bound (little endian), then the text
printf '\x7f\x00\x00\x00\x00\x00\x00\x00127' | seed decimal char-max
printf '\xff\xff\xff\xff\xff\xff\xff\xff18446744073709551615' | seed decimal u64-max
printf '\x00\x00\x00\x00\x00\x00\x00\x80-9223372036854775808' | seed decimal i64-min
printf '\x10\x00\x00\x00\x00\x00\x00\x000000000000000000000000016' | seed decimal zeros
printf '\x05\x00\x00\x00\x00\x00\x00\x00-0' | seed decimal minus-zero
printf '+1' | seed decimal short

# ---- query: query strings
printf 'tiles=0%%2F0%%2F0.jpg&tiles=1/1/1.png&token=abc.def.ghi' | seed query batch
printf 'z=3&x0=0&x1=2&y0=0&y1=1&ext=webp' | seed query prefetch
printf 'a+b=c%%20d&&&=x&name&%%41%%62=%%7e' | seed query encoded
printf 'prefetch=1&tiles=%%zz&tiles=%%00' | seed query bad-escapes

# ---- request: FastCGI parameters, NAME=VALUE lines
printf 'REQUEST_METHOD=GET\nREQUEST_URI=/api/tiles/1/10/0/0.jpg\n' | seed request tile
printf 'REQUEST_METHOD=HEAD\nREQUEST_URI=/api/tiles/1/0/0/0.png?token=x\nHTTP_IF_NONE_MATCH="abc"\nHTTP_ORIGIN=https://a.example\n' | seed request head
printf 'REQUEST_METHOD=POST\nREQUEST_URI=/api/tiles/2/cache-clear\nHTTP_AUTHORIZATION=Bearer a.b.c\nCONTENT_LENGTH=0\n' | seed request clear
printf 'REQUEST_METHOD=GET\nREQUEST_URI=/api/tiles/1/batch?tiles=0/0/0.jpg&tiles=1/0/0.png\n' | seed request batch
printf 'REQUEST_METHOD=OPTIONS\nREQUEST_URI=/api/tiles/health\n' | seed request options
printf 'REQUEST_METHOD=GET\nREQUEST_URI=/api/tiles/1/../2/0/0/0.jpg\n' | seed request dotdot
printf 'REQUEST_METHOD=PUT\nREQUEST_URI=/api/tiles/1/prefetch?z=1\nCONTENT_LENGTH=99999\nREDIRECT_HTTP_AUTHORIZATION=Bearer x\n' | seed request put

# ---- jwt_claims: HEADER\nPAYLOAD (jwt: gen-* are whole tokens)
printf '{"sub":"7","exp":1700003600}' | seed jwt_claims std-header
printf '{"alg":"HS256","typ":"JWT"}\n{"sub":7,"exp":1700000000.5,"nbf":1699999999}' | seed jwt_claims int-sub
printf '{"alg":"HS256","typ":"jWt","kid":"x"}\n{"sub":"a b","exp":1e10,"aud":["x"]}' | seed jwt_claims typ-case
printf '{"alg":"HS256","crit":["b64"]}\n{"sub":"7","exp":1700003600}' | seed jwt_claims crit
printf '{"alg":"none"}\n{"sub":"7","exp":1700003600}' | seed jwt_claims alg-none
printf '{"alg":"HS256"}\n{"sub":"\\u0007","exp":9223372036854775807}' | seed jwt_claims control-sub

# ---- envfile: .env text
seed envfile shipped < "$ROOT/deploy/astropixel-tiles.env"
printf '# comment\nexport USE_S3=true\nAWS_BUCKET_NAME="tiles"\nS3_ENDPOINT_URL=https://user:pw@acct.r2.example/\nAWS_ACCESS_KEY_ID=AKIDEXAMPLE\nAWS_SECRET_ACCESS_KEY='"'"'secret #1'"'"'\nTILE_CACHE_MAX_MB=32 # inline\n' | seed envfile s3
printf 'LOCAL_STORAGE_DIR=/tmp\nTILE_CACHE_MAX_TILES=0x10\nLOG_LEVEL=loud\n' | seed envfile bad-values
printf 'LOCAL_STORAGE_DIR = /tmp \r\nR2_PUBLIC_URL=http://pub.example\nUSE_S3=yes\nBATCH_MAX_TILES=261\n' | seed envfile public-url

# ---- dataset: metadata JSON
printf '{"id": 1, "name": "M31", "owner_id": 5, "is_demo": true, "min_zoom": 0, "max_zoom": 10, "tile_size": 256, "width": 600, "height": 400, "processing_status": "completed", "updated_at": "2024-01-01T00:00:00Z"}' | seed dataset public
printf '{"owner_id": "7", "is_demo": false, "min_zoom": 2, "max_zoom": 30, "tile_size": 16, "width": 1099511627776, "height": 1, "processing_status": "processing", "updated_at": null, "extra": [1, {"x": 2}]}' | seed dataset extremes
printf '{"owner_id": null, "min_zoom": 0, "max_zoom": 14, "tile_size": 4096, "width": 262144, "height": 262144}  \n' | seed dataset minimal
printf '{"min_zoom": 3, "max_zoom": 2, "tile_size": 256, "width": 10, "height": 10}' | seed dataset bad-zoom
printf '{"owner_id": 1.5, "min_zoom": 0}' | seed dataset bad-owner

# ---- s3list: ListObjectsV2 pages
cat <<'XML' | seed s3list page
<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>tiles</Name><Prefix>tiles/1/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken><Contents><Key>tiles/1/0/0/0.jpg</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;9B2CF535F27731C974343645A3985328&quot;</ETag><Size>15360</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>tiles/1/a&amp;b &#x41;&#66;.png</Key><ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag><Size>0000</Size></Contents></ListBucketResult>
XML
printf '<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>' | seed s3list empty
printf '<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>' | seed s3list bad-size
printf '<ListBucketResult><Contents><Key>&#0;</Key></Contents>' | seed s3list cut

# ---- sigv4: METHOD\0PATH\0QUERY\0NAME\0VALUE...[\0BODY]
printf 'GET\0/tiles/tiles/1/0/0/0.jpg\0\0Host\0acct.r2.cloudflarestorage.com' | seed sigv4 get
printf 'GET\0/tiles\0list-type=2&max-keys=1000&prefix=tiles%%2F1%%2F&continuation-token=a%%2Bb%%3D\0host\0127.0.0.1:9000\0Range\0bytes=0-9' | seed sigv4 list
printf 'PUT\0/tiles/a b/%%7e~\xc3\xa9.jpg\0\0Host\0h\0Content-Type\0  image/jpeg  \0X-Amz-Meta-A\0a   b\tc\0x-amz-meta-a\0second\0hello body' | seed sigv4 put
printf 'GET\0/\0a=1&a=&b&%%41=z&a=0\0Host\0h\0x-amz-content-sha256\0UNSIGNED-PAYLOAD' | seed sigv4 sorted-query
printf 'HEAD\0/k\0\0Host\0h\0@payload\0e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' | seed sigv4 payload-hash
printf 'GET\0/k\0%%zz\0Host\0h\0Authorization\0x' | seed sigv4 refused

# ---- engine_cb: M max_body / H header line / B body piece
printf 'M 10\nH HTTP/1.1 200 OK\r\nH ETag: "abc"\r\nH Content-Length: 10\r\nH \r\nB 0123456789\n' | seed engine_cb exact
printf 'M 4\nH HTTP/2 200\r\nH content-length: 5\r\nB 01234\n' | seed engine_cb length-above
printf 'H HTTP/1.1 100 Continue\r\nH etag: "x"\r\nH HTTP/1.1 200 OK\r\nH ETAG:\t W/"weak" \r\nB abc\nB def\n' | seed engine_cb continue
printf 'M 3\nH HTTP/1.1 200 OK\r\nH Content-Length: 00003\r\nB ab\nB cd\n' | seed engine_cb body-above

# ---- api: METHOD / URI / headers ("@5", "@7": tokens of users 5 and 7)
printf 'GET\n/api/tiles/1/10/0/0.jpg\n' | seed api tile
printf 'HEAD\n/api/tiles/1/10/1/1.webp\nOrigin: https://a.example\n' | seed api head-fallback
printf 'GET\n/api/tiles/1/10/0/0.jpg\nIf-None-Match: W/"x", "y", *\n' | seed api conditional
printf 'GET\n/api/tiles/2/10/0/0.jpg\nAuthorization: Bearer @7\n' | seed api private-owner
printf 'GET\n/api/tiles/2/0/0/0.jpg?token=@5\n' | seed api private-stranger
printf 'GET\n/iiif/3/1/0,0,256,256/256,256/0/default.jpg\n' | seed api iiif-tile
printf 'GET\n/iiif/3/2/v/00000000/0,0,256,256/256,/0/default.png\nAuthorization: Bearer @7\n' | seed api iiif-private-old-version
printf 'GET\n/iiif/3/1/info.json\n' | seed api iiif-info
printf 'GET\n/iiif/3/1\n' | seed api iiif-base
printf 'GET\n/iiif/3/1/full/max/90/gray.jpg\n' | seed api iiif-bad
printf 'GET\n/api/tiles/1.dzi\n' | seed api dzi
printf 'GET\n/api/tiles/1_files/10/0_0.jpg\n' | seed api dzi-tile
printf 'GET\n/api/tiles/1/batch?tiles=10/0/0.jpg&tiles=10%%2F1%%2F0.png&tiles=9/0/0.jpg&tiles=10/0/0.jpg&prefetch=1\n' | seed api batch
printf 'GET\n/api/tiles/2/batch?tiles=0/0/0.png&tiles=10/0/0.jpeg\nAuthorization: bearer @7\n' | seed api batch-private
printf 'GET\n/api/tiles/1/cache-stats\n' | seed api stats
printf 'POST\n/api/tiles/6/cache-clear\nAuthorization: Bearer @7\nContent-Length: 0\n' | seed api clear
printf 'POST\n/api/tiles/1/prefetch?z=10&x0=0&x1=2&y0=0&y1=1&ext=png\n' | seed api prefetch
printf 'POST\n/api/tiles/7/prefetch?z=14&x0=0&x1=1023&y0=1000&y1=1023\n' | seed api prefetch-large
printf 'GET\n/api/tiles/health\n' | seed api health
printf 'OPTIONS\n/api/tiles/1/batch\nOrigin: https://a.example\n' | seed api preflight
printf 'GET\n/api/tiles/4/0/0/0.jpg\n' | seed api invalid-metadata
printf 'GET\n/api/tiles/3/0/0/0.jpg\n' | seed api processing
printf 'DELETE\n/api/tiles/1/0/0/0.jpg\nContent-Length: 5000\n' | seed api method
printf 'GET\n/api/tiles/1/%%2e%%2e/secret.txt\n' | seed api traversal

# ---- fcgi: a chunking byte, then a FastCGI stream (records made here)
# hx N: byte N as a printf escape; rec TYPE ID [PAD]: a record around stdin
hx() { printf '\\x%02x' "$1"; }
rec() {
	local body n
	body=$(od -An -v -tx1 | tr -d ' \n')
	n=$((${#body} / 2))
	printf "\\x01$(hx "$1")$(hx $(($2 >> 8)))$(hx $(($2 & 255)))$(hx $((n >> 8)))$(hx $((n & 255)))$(hx "${3:-0}")\\x00"
	[ "$n" -eq 0 ] || printf "$(echo "$body" | sed 's/../\\x&/g')"
	[ "${3:-0}" -eq 0 ] || head -c "$3" /dev/zero
}
nv() { printf "$(hx ${#1})$(hx ${#2})%s%s" "$1" "$2"; }
begin() { printf '\x00\x01\x01\x00\x00\x00\x00\x00' | rec 1 "$1"; }
fcgi_get() {	# a whole GET request of id $1 for URI $2
	begin "$1"
	{ nv REQUEST_METHOD GET; nv REQUEST_URI "$2"; nv QUERY_STRING ""; } | rec 4 "$1" 3
	rec 4 "$1" < /dev/null
	rec 5 "$1" < /dev/null
}
{ printf '\x00'; fcgi_get 1 /api/tiles/1/0/0/0.jpg; } | seed fcgi get
{ printf '\x05'; fcgi_get 1 /api/tiles/1/0/0/0.jpg; fcgi_get 2 /api/tiles/health; } | seed fcgi keepalive
{ printf '\x03'; begin 1; begin 2; printf 'x' | rec 2 1; } | seed fcgi mpx-abort
{ printf '\x01'; { nv FCGI_MAX_CONNS ""; nv FCGI_MAX_REQS ""; nv FCGI_MPXS_CONNS ""; nv OTHER ""; } | rec 9 0; printf 'zz' | rec 42 0; } | seed fcgi management
{ printf '\x02'; begin 7; { nv REQUEST_METHOD POST; nv CONTENT_LENGTH 5; } | rec 4 7; rec 4 7 < /dev/null; printf 'hello' | rec 5 7 2; rec 5 7 < /dev/null; } | seed fcgi post-body
{ printf '\x04'; begin 1; printf '\x80\x00\x00\x05\x01NAMEvx' | rec 4 1; rec 4 1 < /dev/null; } | seed fcgi long-length
{ printf '\x00'; printf '\x02\x01\x00\x01\x00\x08\x00\x00'; } | seed fcgi bad-version
{ printf '\x00'; begin 0; } | seed fcgi mgmt-begin

# ---- l2value: key (dataset, x, y LE, z, format), mode, then a value or
# (mode odd) position, mask and tile bytes to encode
l2key() { printf '\x07\x00\x00\x00\x03\x00\x00\x00\x05\x00\x00\x00\x04\x01'; }
l2val() {	# a value as l2.c writes it for the key above, of the bytes on stdin
	local f
	f=$(mktemp)
	cat > "$f"
	printf 'APL2\x01\x01\x04\x00\x07\x00\x00\x00\x03\x00\x00\x00\x05\x00\x00\x00'
	printf "$(hx $(($(stat -c %s "$f") & 255)))\\x00\\x00\\x00"
	sha256sum "$f" | cut -c1-32 | xxd -r -p
	cat "$f"
	rm -f "$f"
}
{ l2key; printf '\x00'; printf '\x89PNG\r\n\x1a\ntile' | l2val; } | seed l2value valid
{ l2key; printf '\x00'; printf '' | l2val; } | seed l2value empty-tile
{ l2key; printf '\x00'; printf 'APL2\x02\x01\x04\x00'; } | seed l2value short
{ l2key; printf '\x01\x05\x00\x00'; printf 'some tile bytes'; } | seed l2value encode
{ l2key; printf '\x01\x1c\x00\x01'; printf 'flip a hash bit'; } | seed l2value flip-hash

# ---- redisurl: REDIS_URL values
printf 'redis://127.0.0.1:6379/0' | seed redisurl plain
printf 'redis://:s3cr3t:with@at@redis.example/15' | seed redisurl password
printf 'redis://[::1]:6380' | seed redisurl ipv6
printf 'unix:///run/redis/redis.sock?db=3' | seed redisurl unix
printf 'redis://user:pw@h:0/1024' | seed redisurl bad
printf 'rediss://h' | seed redisurl scheme
printf 'redis://h:65535/' | seed redisurl empty-db

echo "mkcorpus: $(find "$C" -type f | wc -l) files in $C"
