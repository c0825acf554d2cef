#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the benchmarks and the
# demo need. Idempotent and quiet when everything is present; never starts a
# service (policy-rc.d exits 101, created here if absent).
set -euo pipefail

PKGS_BUILD="build-essential autoconf automake libtool pkg-config
  libfcgi-dev libfcgi-bin libcurl4-openssl-dev libjson-c-dev libssl-dev libcmocka-dev libhiredis-dev
  libwebp-dev libjpeg62-turbo-dev libpng-dev"
PKGS_TEST="lighttpd apache2 libapache2-mod-fcgid nginx-light spawn-fcgi curl
  clang libclang-rt-14-dev libfuzzer-14-dev valgrind wrk nghttp2-client openssl procps
  iproute2 bc bsdutils man-db groff-base systemd prometheus redis-server redis-tools"
PKGS_SWIFT="swift swift-proxy swift-object swift-container swift-account memcached
  python3-swift"
PKGS_BROWSER="chromium"

want="$PKGS_BUILD"
case "${1:-all}" in
  build) ;;
  demo) want="$want lighttpd curl" ;;
  demo-redis) want="$want redis-server redis-tools" ;;
  demo-nginx) want="$want nginx-light" ;;
  all) want="$want $PKGS_TEST $PKGS_SWIFT $PKGS_BROWSER" ;;
  *) echo "usage: $0 [build|demo|demo-redis|demo-nginx|all]" >&2; exit 2 ;;
esac

# Node.js comes with the machine image (NodeSource); Debian's npm conflicts
# with it, so it is only installed where no node exists at all.
case "${1:-all}" in all|demo) command -v node >/dev/null || want="$want nodejs npm" ;; esac

missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
