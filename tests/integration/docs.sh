#!/usr/bin/env bash
# Documentation that must not drift from the code: the configuration table
# in docs/configuration.md, the sample env file and the man page list every
# setting the binary knows.
source "$(dirname "$0")/lib.sh"
D=$IT_ROOT/docs
"$BIN" --config-markdown > "$STATE/table.md"
sed -n '/<!-- config-table:begin -->/,/<!-- config-table:end -->/p' "$D/configuration.md" | sed '1d;$d' > "$STATE/doc.md"
if diff -u "$STATE/table.md" "$STATE/doc.md" > "$STATE/diff"; then
	pass "docs/configuration.md has exactly the code's configuration table"
else
	fail "docs/configuration.md has exactly the code's configuration table" "$(head -c 600 "$STATE/diff")"
fi
vars=$(awk -F'`' '/^\| `/{print $2}' "$STATE/table.md")
n=$(echo "$vars" | wc -l)
[ "$n" -ge 30 ] && pass "the table has $n settings" || fail "the table has settings" "$n"
miss_env=""; miss_man=""
for v in $vars; do
	grep -q "^#\? *$v=" "$IT_ROOT/deploy/astropixel-tiles.env" || miss_env="$miss_env $v"
	grep -q "$v" "$IT_ROOT/docs/man/astropixel-tiles.8" || miss_man="$miss_man $v"
done
expect "the sample env file lists every setting" "${miss_env:-none missing}" "none missing"
expect "the man page lists every setting" "${miss_man:-none missing}" "none missing"
for v in USE_S3 AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_BUCKET_NAME S3_ENDPOINT_URL S3_REGION \
	R2_PUBLIC_URL R2_UPLOAD_MAX_WORKERS LOCAL_STORAGE_DIR SECRET_KEY TILE_CACHE_MAX_TILES \
	TILE_CACHE_MAX_MB BATCH_MAX_TILES; do
	echo "$vars" | grep -qx "$v" || fail "SPEC section 5 name $v is accepted" "not in the table"
done
pass "every SPEC section 5 name is in the table"
"$BIN" --help > "$STATE/help"
miss=""
for v in $vars; do grep -q "^  $v " "$STATE/help" || miss="$miss $v"; done
expect "--help lists every setting" "${miss:-none missing}" "none missing"
check "README names the two commands" grep -q 'deploy/demo/run.sh' "$IT_ROOT/README.md"
check "README test command is what CI runs" grep -q 'tests/run.sh' "$IT_ROOT/.ci/run"
finish
