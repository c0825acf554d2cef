/*
 * cidr.c - address allow-list; see cidr.h.
 *
 * inet_pton is the address parser: it accepts exactly the dotted quad (no
 * octal, no hex, no short forms such as "127.1", no leading zeros) and the
 * RFC 4291 text forms of IPv6, nothing else.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "cidr.h"
#include "decimal.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The address of text[0..len) into e (family, addr); false if it is none. */
static bool parse_addr(const char *text, size_t len, struct cidr_entry *e)
{
	char a[CIDR_ENTRY_TEXT_MAX + 1];
	uint8_t v6[16];

	if (len == 0 || len > CIDR_ENTRY_TEXT_MAX)
		return false;
	memcpy(a, text, len);
	a[len] = '\0';
	memset(e->addr, 0, sizeof(e->addr));
	if (inet_pton(AF_INET, a, e->addr) == 1) {
		e->family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, a, v6) != 1)
		return false;
	if (memcmp(v6, v4_mapped, sizeof(v4_mapped)) == 0) {
		e->family = 4;
		memcpy(e->addr, v6 + 12, 4);
	} else {
		e->family = 6;
		memcpy(e->addr, v6, 16);
	}
	return true;
}

/* Whether the first bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & mask) == 0;
}

static enum ap_err refuse(char *why, size_t whylen, const char *entry, size_t len,
			  const char *what)
{
	snprintf(why, whylen, "METRICS_ALLOW: \"%.*s\" %s", (int)(len > 80 ? 80 : len), entry,
		 what);
	return AP_ERR_CONFIG;
}

/* One entry, blanks already trimmed: ADDRESS or ADDRESS/PREFIX. */
static enum ap_err parse_entry(const char *s, size_t len, struct cidr_entry *e, char *why,
			       size_t whylen)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned width;
	uint64_t prefix;
	struct cidr_entry net;
	bool mapped;

	if (len == 0)
		return refuse(why, whylen, s, len, "is empty (a doubled or trailing comma?)");
	if (!parse_addr(s, alen, e))
		return refuse(why, whylen, s, len, "is not an IPv4 or IPv6 address");
	/* an IPv4-mapped entry is kept as IPv4, its prefix counted from bit 96 */
	mapped = e->family == 4 && memchr(s, ':', alen);
	width = e->family == 4 ? 32 : 128;
	prefix = width;
	if (slash && dec_parse_u64(slash + 1, len - alen - 1, mapped ? 128 : width, 0, &prefix))
		return refuse(why, whylen, s, len, e->family == 4 && !mapped
			      ? "has a bad prefix (want /0 to /32)"
			      : "has a bad prefix (want /0 to /128)");
	if (mapped && prefix < 96)
		return refuse(why, whylen, s, len, "is an IPv4-mapped prefix shorter than /96");
	e->prefix = (uint8_t)(mapped ? prefix - 96 : prefix);
	net = *e;
	memset(net.addr, 0, sizeof(net.addr));
	memcpy(net.addr, e->addr, e->prefix / 8);
	if (e->prefix % 8)
		net.addr[e->prefix / 8] = (uint8_t)(e->addr[e->prefix / 8] & (0xff << (8 - e->prefix % 8)));
	if (memcmp(net.addr, e->addr, sizeof(e->addr)) != 0)
		return refuse(why, whylen, s, len, "has host bits set below its prefix (write the "
			      "network, or the host without a prefix)");
	return AP_OK;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

enum ap_err cidr_parse(const char *text, struct cidr_list *out, char *why, size_t whylen)
{
	const char *p = text;
	enum ap_err e;

	out->n = 0;
	if (!text || !*text)
		return AP_OK;
	for (;;) {
		const char *end = p + strcspn(p, ",");
		const char *a = p, *b = end;

		while (a < b && is_blank(*a))
			a++;
		while (b > a && is_blank(b[-1]))
			b--;
		if (out->n == CIDR_ENTRIES_MAX) {
			snprintf(why, whylen, "METRICS_ALLOW: more than %d entries", CIDR_ENTRIES_MAX);
			return AP_ERR_CONFIG;
		}
		if ((e = parse_entry(a, (size_t)(b - a), &out->e[out->n], why, whylen)))
			return e;
		out->n++;
		if (!*end)
			return AP_OK;
		p = end + 1;
	}
}

bool cidr_match(const struct cidr_list *l, const char *addr)
{
	struct cidr_entry c;

	if (!addr || !parse_addr(addr, strnlen(addr, CIDR_ENTRY_TEXT_MAX + 1), &c))
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].family == c.family && prefix_equal(l->e[i].addr, c.addr, l->e[i].prefix))
			return true;
	return false;
}
