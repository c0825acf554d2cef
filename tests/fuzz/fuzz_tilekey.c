/*
 * fuzz_tilekey.c - the tile-spec grammar (tilekey.h): tk_parse_spec,
 * tk_parse_uint, tk_parse_ext, tk_sniff.
 *
 * Oracle: an independent reference of the grammar written here, and a
 * round trip. The grammar has exactly one spelling per tile (but for the
 * two JPEG extensions), so an accepted spec printed back must be the input
 * byte for byte, and the parser must accept exactly what the reference does.
 */
#include "fuzz.h"
#include "tilekey.h"

/* Canonical decimal <= max: 1..10 digits, no leading zero but "0". */
static int ref_uint(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return 0;
	*out = (uint32_t)v;
	return 1;
}

static int ref_ext(const char *s, size_t n)
{
	static const char *const ok[] = {"jpg", "jpeg", "png", "webp"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == n && memcmp(ok[i], s, n) == 0)
			return 1;
	return 0;
}

/* "z/x/y.ext": the fields end at the first '/', the second '/', the first
 * '.' after that; the extension is the rest. */
static int ref_spec(const char *s, size_t n)
{
	const char *end = s + n, *a, *b, *c;
	uint32_t v;

	a = memchr(s, '/', n);
	if (!a)
		return 0;
	b = memchr(a + 1, '/', (size_t)(end - a - 1));
	if (!b)
		return 0;
	c = memchr(b + 1, '.', (size_t)(end - b - 1));
	if (!c)
		return 0;
	return ref_uint(s, (size_t)(a - s), TILE_Z_MAX, &v) &&
	       ref_uint(a + 1, (size_t)(b - a - 1), TILE_COORD_MAX, &v) &&
	       ref_uint(b + 1, (size_t)(c - b - 1), TILE_COORD_MAX, &v) &&
	       ref_ext(c + 1, (size_t)(end - c - 1));
}

static void check_spec(const char *s, size_t n)
{
	struct tilekey k = {.dataset = DATASET_ID_MAX, .fmt = FMT__COUNT};
	char back[64], key[64];
	const char *dot;
	int len;
	int ok = tk_parse_spec(s, n, &k) == 0, ref = ref_spec(s, n);

	FUZZ_CHECK(ok == ref, "tk_parse_spec says %d, the grammar %d", ok, ref);
	if (!ok)
		return;
	FUZZ_CHECK(k.z <= TILE_Z_MAX && k.x <= TILE_COORD_MAX && k.y <= TILE_COORD_MAX &&
		   k.fmt < FMT__COUNT, "out of range key");
	FUZZ_CHECK(n <= TILE_SPEC_MAX, "accepted %zu bytes", n);
	dot = memrchr(s, '.', n);
	len = snprintf(back, sizeof(back), "%u/%u/%u.%.*s", (unsigned)k.z, k.x, k.y,
		       (int)(s + n - dot - 1), dot + 1);
	FUZZ_CHECK((size_t)len == n && memcmp(back, s, n) == 0, "round trip gives %s", back);
	/* the largest key must fit the documented 64 bytes */
	tk_object_key(&k, key, sizeof(key));
	FUZZ_CHECK(strlen(key) < sizeof(key) - 1, "object key truncated: %s", key);
	FUZZ_CHECK(strcmp(tk_fmt_ext((enum tile_fmt)k.fmt), "bin") != 0, "format without name");
}

static void check_uint(const char *s, size_t n)
{
	static const uint32_t maxes[] = {TILE_Z_MAX, TILE_COORD_MAX, DATASET_ID_MAX, UINT32_MAX, 0};

	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		uint32_t got = 0, want = 0;
		int ok = tk_parse_uint(s, n, maxes[i], &got) == 0;

		FUZZ_CHECK(ok == ref_uint(s, n, maxes[i], &want), "tk_parse_uint(max %u) says %d",
			   maxes[i], ok);
		FUZZ_CHECK(!ok || got == want, "value %u, want %u", got, want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	char *s = malloc(size ? size : 1);
	enum tile_fmt f;
	int sniff;

	if (!s)
		abort();
	memcpy(s, data, size);
	check_spec(s, size);
	check_uint(s, size);
	FUZZ_CHECK((tk_parse_ext(s, size, &f) == 0) == ref_ext(s, size), "tk_parse_ext");
	sniff = tk_sniff((const unsigned char *)s, size);
	FUZZ_CHECK(sniff >= -1 && sniff < FMT__COUNT, "tk_sniff gives %d", sniff);
	free(s);
	return 0;
}
