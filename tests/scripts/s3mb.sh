#!/usr/bin/env bash
# Make a bucket on an S3 endpoint with a SigV4-signed PUT (curl --aws-sigv4),
# path-style. Idempotent: a bucket that already exists is success.
#
#   s3mb.sh ENDPOINT BUCKET
#
# Credentials from S3_ACCESS_KEY / S3_SECRET_KEY (default test:tester / testing,
# Swift tempauth), region S3_REGION (default auto). https: CURL_CA_BUNDLE=ca.pem.
set -euo pipefail

die() { echo "s3mb.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: s3mb.sh ENDPOINT BUCKET" >&2; exit 2; }
endpoint=${1%/} bucket=$2
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "invalid bucket name '$bucket'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'default login %s password %s\n' "${S3_ACCESS_KEY:-test:tester}" "${S3_SECRET_KEY:-testing}" >"$tmp/netrc"
chmod 600 "$tmp/netrc"

code=$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 30 \
  --aws-sigv4 "aws:amz:${S3_REGION:-auto}:s3" --netrc-file "$tmp/netrc" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  -H "Content-Length: 0" -X PUT "$endpoint/$bucket") || die "PUT $endpoint/$bucket: curl failed"
err=$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$tmp/body" | head -1)
case "$code:$err" in
  200:*) ;;
  409:BucketAlreadyOwnedByYou|409:BucketAlreadyExists) ;;
  *) die "PUT $endpoint/$bucket -> HTTP $code ${err:-}" ;;
esac
