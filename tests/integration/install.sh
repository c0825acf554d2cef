#!/usr/bin/env bash
# make install DESTDIR=... installs the binaries, man pages, the sample env
# file, the deploy configurations and docs, and the viewer, at the paths the
# deploy configurations name.
source "$(dirname "$0")/lib.sh"
PLAIN=${PLAIN_BUILD_DIR:-$IT_ROOT/_build/plain}
R=$STATE/root
make -s -C "$PLAIN" install DESTDIR="$R" > "$STATE/install.log" 2>&1 ||
	{ fail "make install DESTDIR" "$(tail -5 "$STATE/install.log")"; finish; exit 1; }
pass "make install DESTDIR=... succeeds"
prefix=$(sed -n 's/^prefix = //p' "$PLAIN/Makefile")
P=$R$prefix
check "astropixel-tiles in sbin" test -x "$P/sbin/astropixel-tiles"
check "astropixel-sync in bin" test -x "$P/bin/astropixel-sync"
check "astropixel-tiles(8)" test -s "$P/share/man/man8/astropixel-tiles.8"
check "astropixel-sync(1)" test -s "$P/share/man/man1/astropixel-sync.1"
check "sample env file in sysconfdir" test -s "$P/etc/astropixel-tiles/astropixel-tiles.env"
for f in apache/astropixel-tiles.conf lighttpd/astropixel-tiles.conf nginx/astropixel-tiles.conf \
	systemd/astropixel-tiles.service systemd/astropixel-tiles-spawn.service; do
	check "deploy/$f in docdir" test -s "$P/share/doc/astropixel-tiles/deploy/$f"
done
for f in api configuration deployment operations performance cache-clear; do
	check "docs/$f.md in docdir" test -s "$P/share/doc/astropixel-tiles/docs/$f.md"
done
check "viewer sources and build.sh" test -x "$P/share/astropixel-tiles/viewer/build.sh"
check "installed binary runs" "$P/sbin/astropixel-tiles" --version
# the configurations name the installed paths (default prefix /usr/local)
if [ "$prefix" = /usr/local ]; then
	for f in apache/astropixel-tiles.conf lighttpd/astropixel-tiles.conf systemd/astropixel-tiles.service \
		systemd/astropixel-tiles-spawn.service; do
		check "deploy/$f names the installed binary" grep -q "/usr/local/sbin/astropixel-tiles" "$IT_ROOT/deploy/$f"
		check "deploy/$f names the installed env file" grep -q "/usr/local/etc/astropixel-tiles/astropixel-tiles.env" "$IT_ROOT/deploy/$f"
	done
fi
check "man page renders" bash -c "man -l '$P/share/man/man8/astropixel-tiles.8' > /dev/null 2>&1 || groff -man -Tutf8 '$P/share/man/man8/astropixel-tiles.8' > /dev/null"
finish
