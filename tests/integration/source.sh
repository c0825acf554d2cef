#!/usr/bin/env bash
# The shape of src/ (issue 12.10), checked mechanically like curl's checksrc:
#  - no import circles: the graph of modules (x.c + x.h = module x, and an
#    internal header x_int.h or x_core.h is module x too; an edge for each
#    #include "y.h") has no cycle;
#  - no function longer than FUNC_MAX_LINES unless the comment above it says
#    why ("long:" in it);
#  - no strtol-family, atoi, sprintf, strcpy, strcat or strtok outside
#    src/decimal.c (the one parser of untrusted numbers);
#  - no two struct definitions of one name in src/ (one name, one meaning);
#  - every module of src/ is built (listed in Makefile.am).
source "$(dirname "$0")/lib.sh"
SRC=$IT_ROOT/src
FUNC_MAX_LINES=80

# ---- circles --------------------------------------------------------------------
for f in "$SRC"/*.c "$SRC"/*.h; do
	m=$(basename "$f"); m=${m%.*}; m=${m%_int}; m=${m%_core}
	grep -o '^#include "[a-z0-9_]*\.h"' "$f" | sed -e 's/#include "\(.*\)\.h"/\1/' -e 's/_int$//' -e 's/_core$//' |
		while read -r d; do [ "$d" != "$m" ] && echo "$m $d"; done
done | sort -u > "$STATE/edges"
# repeatedly drop modules with no outgoing edge left; what remains has a cycle
cp "$STATE/edges" "$STATE/left"
for _ in $(seq 1 200); do
	awk '{ print $1 }' "$STATE/left" | sort -u > "$STATE/has_out"
	awk 'NR == FNR { out[$1] = 1; next } ($2 in out)' "$STATE/has_out" "$STATE/left" > "$STATE/next"
	cmp -s "$STATE/next" "$STATE/left" && break
	mv "$STATE/next" "$STATE/left"
done
expect "no import circles between modules of src/ ($(wc -l < "$STATE/edges") edges)" \
	"$(awk '{ printf "%s->%s ", $1, $2 }' "$STATE/left")" ""

# ---- long functions ----------------------------------------------------------------
long=$(awk -v max="$FUNC_MAX_LINES" '
	FNR == 1 { why = 0; in_fn = 0 }
	/^\/\*/ { why = 0 }
	/long:/ { why = 1 }
	/^[a-z].*\(/ && !/;$/ { name = $0; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n]; start = FNR }
	/^\{/ { in_fn = 1; body = FNR }
	/^\}/ && in_fn { if (FNR - body > max && !why) printf "%s:%s(%d lines) ", FILENAME, name, FNR - body; in_fn = 0; why = 0 }
' "$SRC"/*.c | sed "s|$SRC/||g")
expect "no function over $FUNC_MAX_LINES lines without a comment saying why" "$long" ""

# ---- banned calls -------------------------------------------------------------------
banned=$(grep -nE '\b(strto(l|ul|ll|ull|imax|umax)|atoi|atol|atoll|sprintf|strcpy|strcat|strtok)\(' \
	"$SRC"/*.c "$SRC"/*.h | grep -v '^[^:]*decimal\.c:' | grep -v 'snprintf\|vsnprintf' | sed "s|$SRC/||")
expect "no strtol-family, atoi, sprintf, strcpy, strcat or strtok outside decimal.c" "$banned" ""

# ---- one struct name, one meaning -------------------------------------------------------
dups=$(grep -hoE '^struct [a-z_0-9]+ \{' "$SRC"/*.c "$SRC"/*.h | sort | uniq -d | tr '\n' ' ')
expect "no two struct definitions share a name in src/" "$dups" ""

# ---- every module is built -----------------------------------------------------------------
missing=""
for f in "$SRC"/*.c; do
	grep -q "src/$(basename "$f")" "$IT_ROOT/Makefile.am" || missing="$missing $(basename "$f")"
done
expect "every src/*.c is in Makefile.am" "${missing:-none}" none
finish
