/*
 * cidr.h - an allow-list of client addresses (METRICS_ALLOW).
 *
 * The list is text such as "127.0.0.0/8,::1,10.0.0.0/8": entries separated
 * by commas (blanks around an entry are allowed), each an IPv4 or IPv6
 * address with an optional /prefix; a bare address is a single host. It is
 * parsed once at start, strictly: an entry that is not exactly an address
 * (inet_pton's forms, no zone index, no leading zeros in a prefix), a
 * prefix over the family's width, host bits set below the prefix
 * ("10.0.0.1/8", which is always a typo for a network or a host), an empty
 * entry or more than CIDR_ENTRIES_MAX entries are refused with a reason
 * that names METRICS_ALLOW and the entry.
 *
 * Matching takes REMOTE_ADDR as the web server passes it. An IPv4-mapped
 * IPv6 address (::ffff:127.0.0.1, from a server listening on [::]) matches
 * the IPv4 entries as the IPv4 address it is. Anything that is not an
 * address ("unix:", empty, NULL) matches nothing.
 */
#ifndef AP_CIDR_H
#define AP_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define CIDR_ENTRIES_MAX 64
#define CIDR_ENTRY_TEXT_MAX 64		/* an IPv6 address with a prefix fits in 50 */
#define CIDR_DEFAULT "127.0.0.0/8,::1"	/* loopback only */

struct cidr_entry {
	uint8_t family;		/* 4 or 6 */
	uint8_t prefix;		/* bits that must match */
	uint8_t addr[16];	/* network order; IPv4 in the first 4 bytes */
};

struct cidr_list {
	size_t n;
	struct cidr_entry e[CIDR_ENTRIES_MAX];
};

/* Parses text into out (an empty text is an empty list: nobody matches).
 * AP_ERR_CONFIG with why "METRICS_ALLOW: ..." on any refusal. */
enum ap_err cidr_parse(const char *text, struct cidr_list *out, char *why,
		       size_t whylen) AP_WARN_UNUSED;
/* Whether the address text addr is inside one of the entries. */
bool cidr_match(const struct cidr_list *l, const char *addr);

#endif
