#!/usr/bin/env bash
# Upload one file to an S3 endpoint with a SigV4-signed PUT (curl --aws-sigv4),
# path-style: ENDPOINT/BUCKET/KEY. For seeding test buckets (tests/scripts/swift.sh).
#
#   s3put.sh ENDPOINT BUCKET KEY FILE
#
# Credentials from S3_ACCESS_KEY / S3_SECRET_KEY (default test:tester / testing,
# Swift tempauth), region S3_REGION (default auto). Content-Type from the
# extension unless CONTENT_TYPE is set. https endpoints: CURL_CA_BUNDLE=ca.pem.
# curl 7.88 signs the raw path: keep KEY to [A-Za-z0-9._/-] (our tile layout).
# Exit 0 and silent on 200; otherwise one line with the status and S3 error code.
set -euo pipefail

die() { echo "s3put.sh: $*" >&2; exit 1; }
[ $# -eq 4 ] || { echo "usage: s3put.sh ENDPOINT BUCKET KEY FILE" >&2; exit 2; }
endpoint=${1%/} bucket=$2 key=${3#/} file=$4
[ -f "$file" ] && [ -r "$file" ] || die "cannot read file '$file'"
[[ "$key" =~ ^[A-Za-z0-9._/-]+$ ]] || die "key '$key' has characters curl's SigV4 would sign wrongly"

if [ -n "${CONTENT_TYPE:-}" ]; then ct=$CONTENT_TYPE
else
  case ${key##*.} in
    jpg|jpeg) ct=image/jpeg ;; png) ct=image/png ;; webp) ct=image/webp ;;
    json) ct=application/json ;; *) ct=application/octet-stream ;;
  esac
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The curl CLI splits --user at the first colon ("test:tester"): use a netrc.
printf 'default login %s password %s\n' "${S3_ACCESS_KEY:-test:tester}" "${S3_SECRET_KEY:-testing}" >"$tmp/netrc"
chmod 600 "$tmp/netrc"
sha=$(sha256sum "$file") && sha=${sha%% *}

code=$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 60 \
  --aws-sigv4 "aws:amz:${S3_REGION:-auto}:s3" --netrc-file "$tmp/netrc" \
  -H "x-amz-content-sha256: $sha" -H "Content-Type: $ct" \
  -T "$file" "$endpoint/$bucket/$key") || die "PUT $endpoint/$bucket/$key: curl failed"
if [ "$code" != 200 ]; then
  err=$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$tmp/body" | head -1)
  die "PUT $endpoint/$bucket/$key -> HTTP $code ${err:-}"
fi
