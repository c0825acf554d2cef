/*
 * xml.c - element lookup and strict text decoding; see xml.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "decimal.h"
#include "xml.h"

#define XML_CHAR_MAX 127	/* character references: ASCII only */

const char *xml_elem(const char *p, const char *end, const char *tag, size_t *len,
		     const char **after)
{
	char open[XML_TAG_MAX + 3], close[XML_TAG_MAX + 4];
	const char *a, *b;
	size_t ol, cl;

	if (strlen(tag) > XML_TAG_MAX)
		return NULL;
	ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, (size_t)(end - p), open, ol);
	if (!a)
		return NULL;
	a += ol;
	b = memmem(a, (size_t)(end - a), close, cl);
	if (!b)
		return NULL;
	*len = (size_t)(b - a);
	if (after)
		*after = b + cl;
	return a;
}

/* &#xN;: hex digits only, no sign, no "0x"; the value bounded as it grows. */
static bool parse_hex_ref(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
			     c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
		if (d > 15)
			return false;
		v = v * 16 + d;
		if (v > XML_CHAR_MAX)
			return false;
	}
	*out = v;
	return true;
}

/* A character reference at s[0..n) ("&#65;..."): its character and length. */
static bool char_ref(const char *s, size_t n, char *c, size_t *adv)
{
	const char *semi = memchr(s, ';', n);
	uint64_t v;
	bool ok;

	if (n < 3 || !semi)
		return false;
	if (s[2] == 'x')
		ok = parse_hex_ref(s + 3, (size_t)(semi - (s + 3)), &v);
	else
		ok = !dec_parse_u64(s + 2, (size_t)(semi - (s + 2)), XML_CHAR_MAX,
				    DEC_LEADING_ZEROS, &v);
	if (!ok || v == 0)
		return false;
	*c = (char)v;
	*adv = (size_t)(semi - s) + 1;
	return true;
}

bool xml_text(const char *s, size_t n, char *out, size_t cap)
{
	static const struct { const char *ent; char c; } ents[] = {
		{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
	};
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		char c = s[i];
		size_t adv = 1;
		if (c == '&') {
			bool found = false;
			for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t l = strlen(ents[k].ent);
				if (i + l <= n && memcmp(s + i, ents[k].ent, l) == 0) {
					c = ents[k].c;
					adv = l;
					found = true;
					break;
				}
			}
			/* "&#" starts a reference wherever it is, the end of the text too */
			if (!found && i + 1 < n && s[i + 1] == '#' &&
			    !char_ref(s + i, n - i, &c, &adv))
				return false;
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = c;
		i += adv;
	}
	out[o] = '\0';
	return true;
}
