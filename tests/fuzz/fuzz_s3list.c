/*
 * fuzz_s3list.c - the S3 ListObjectsV2 reader (s3_parse_list in s3.c) and
 * the XML element reader under it (xml.h), over arbitrary bytes as the
 * body of a listing page.
 *
 * Oracle: s3.h and xml.h. Every object handed out has a key that fits
 * S3_KEY_MAX and an ETag without upper-case hex; there are never
 * more objects than <Contents> elements; the continuation token is set
 * exactly when the page says <IsTruncated>true</IsTruncated>. xml_elem
 * returns the text between the first opening tag and the first closing tag
 * after it; xml_text agrees with a reference decoder written here from
 * xml.h (the five entities, &#N; and &#xN; of 1..127, any other '&' kept,
 * a malformed character reference refused).
 */
#include "fuzz.h"
#include "error.h"
#include "s3.h"
#include "xml.h"

struct seen {
	size_t objects;
};

static void on_object(const struct s3_object *o, void *ud)
{
	struct seen *s = ud;
	size_t el = strnlen(o->etag, sizeof(o->etag));

	FUZZ_CHECK(strnlen(o->key, sizeof(o->key)) <= S3_KEY_MAX, "key too long");
	FUZZ_CHECK(el < sizeof(o->etag), "etag not terminated");
	for (size_t i = 0; i < el; i++)
		FUZZ_CHECK(o->etag[i] < 'A' || o->etag[i] > 'F', "upper-case etag %s", o->etag);
	s->objects++;
}

static size_t count(const char *p, size_t n, const char *needle)
{
	size_t c = 0, l = strlen(needle);
	const char *end = p + n;

	while ((p = memmem(p, (size_t)(end - p), needle, l))) {
		c++;
		p += l;
	}
	return c;
}

/* ---- reference text decoder ------------------------------------------------- */

static int ref_charref(const char *s, size_t n, char *c, size_t *adv)
{
	const char *semi = memchr(s, ';', n);
	size_t i = 2, end;
	unsigned long v = 0;
	int hex = n > 2 && s[2] == 'x';

	if (!semi)
		return 0;
	end = (size_t)(semi - s);
	i += (size_t)hex;
	if (i == end)
		return 0;
	for (; i < end; i++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' :
			hex && s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 :
			hex && s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10 : -1;
		if (d < 0)
			return 0;
		v = v * (hex ? 16 : 10) + (unsigned long)d;
		if (v > 127)
			return 0;
	}
	if (v == 0)
		return 0;
	*c = (char)v;
	*adv = end + 1;
	return 1;
}

static int ref_text(const char *s, size_t n, char *out, size_t cap)
{
	static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
	static const char chars[] = "&<>\"'";
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		char c = s[i];
		size_t adv = 1;

		if (c == '&') {
			size_t k;
			for (k = 0; k < 5; k++)
				if (n - i >= strlen(ents[k]) && !memcmp(s + i, ents[k], strlen(ents[k])))
					break;
			if (k < 5) {
				c = chars[k];
				adv = strlen(ents[k]);
			} else if (n - i >= 2 && s[i + 1] == '#' && !ref_charref(s + i, n - i, &c, &adv)) {
				return 0;
			}
		}
		if (o + 1 >= cap)
			return 0;
		out[o++] = c;
		i += adv;
	}
	out[o] = '\0';
	return 1;
}

static void check_text(const char *s, size_t n, size_t cap)
{
	char *got = malloc(cap), *want = malloc(cap);
	int g, w;

	if (!got || !want)
		abort();
	g = xml_text(s, n, got, cap);
	w = ref_text(s, n, want, cap);
	FUZZ_CHECK(g == w, "xml_text says %d, the reference %d", g, w);
	FUZZ_CHECK(!g || !strcmp(got, want), "xml_text gives '%s', want '%s'", got, want);
	free(got);
	free(want);
}

static void check_elem(const char *p, size_t n, const char *tag)
{
	char open[64], close[64];
	size_t len = 0;
	const char *after = NULL, *v = xml_elem(p, p + n, tag, &len, &after), *a;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, n, open, strlen(open));
	if (!a || !memmem(a + strlen(open), n - (size_t)(a + strlen(open) - p), close,
			   strlen(close))) {
		FUZZ_CHECK(!v, "element <%s> found where there is none", tag);
		return;
	}
	FUZZ_CHECK(v == a + strlen(open), "<%s> text does not start after the first <%s>", tag, tag);
	FUZZ_CHECK(v + len + strlen(close) <= p + n && !memcmp(v + len, close, strlen(close)) &&
		   !memmem(v, len, close, strlen(close)) && after == v + len + strlen(close),
		   "<%s> text does not end at the first </%s>", tag, tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	char *xml = malloc(size ? size : 1), token[S3_KEY_MAX + 1];
	struct seen s = {0};
	size_t n;
	const char *trunc;
	enum ap_err e;

	if (!xml)
		abort();
	memcpy(xml, data, size);
	e = s3_parse_list(xml, size, on_object, &s, token, sizeof(token));
	FUZZ_CHECK(e == AP_OK || e == AP_ERR_STORAGE, "s3_parse_list: %d", e);
	FUZZ_CHECK(s.objects <= count(xml, size, "<Contents>"), "%zu objects", s.objects);
	if (e == AP_OK) {
		trunc = xml_elem(xml, xml + size, "IsTruncated", &n, NULL);
		FUZZ_CHECK((trunc && n == 4 && !memcmp(trunc, "true", 4)) == (token[0] != '\0'),
			   "continuation token '%s'", token);
	}
	check_elem(xml, size, "Key");
	check_elem(xml, size, "Contents");
	check_text(xml, size, size + 1);
	check_text(xml, size, 64);
	free(xml);
	return 0;
}
