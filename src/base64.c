/*
 * base64.c - RFC 4648 encoders and the strict base64url decoder; see base64.h.
 *
 * The encoders turn every whole 3-byte group into 4 chars with four table
 * lookups and handle the 1- or 2-byte tail once at the end, so the hot loop
 * of a batch response has no branches per byte.
 */
#include <stdint.h>
#include "base64.h"

static const char std_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes the whole groups of in; returns where the tail chars go. */
static char *encode_groups(const unsigned char *in, size_t n, char *out,
			   const char *alphabet)
{
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[0] = alphabet[v >> 18];
		out[1] = alphabet[(v >> 12) & 63];
		out[2] = alphabet[(v >> 6) & 63];
		out[3] = alphabet[v & 63];
		out += 4;
	}
	return out;
}

/* Writes the 2 or 3 significant chars of a 1- or 2-byte tail (rem is 1 or
 * 2); returns the count written. */
static size_t encode_tail(const unsigned char *in, size_t rem, char *out,
			  const char *alphabet)
{
	uint32_t v = (uint32_t)in[0] << 16;

	if (rem == 2)
		v |= (uint32_t)in[1] << 8;
	out[0] = alphabet[v >> 18];
	out[1] = alphabet[(v >> 12) & 63];
	if (rem == 1)
		return 2;
	out[2] = alphabet[(v >> 6) & 63];
	return 3;
}

size_t b64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

void b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t rem = n % 3;
	size_t k;

	out = encode_groups(in, n, out, std_alphabet);
	if (rem == 0)
		return;		/* also keeps a NULL in with n == 0 un-offset */
	k = encode_tail(in + (n - rem), rem, out, std_alphabet);
	for (; k < 4; k++)
		out[k] = '=';
}

size_t b64url_encoded_len(size_t n)
{
	size_t rem = n % 3;

	if (n / 3 > (SIZE_MAX - 3) / 4)
		return SIZE_MAX;
	return n / 3 * 4 + (rem ? rem + 1 : 0);
}

void b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t rem = n % 3;

	out = encode_groups(in, n, out, url_alphabet);
	if (rem != 0)
		(void)encode_tail(in + (n - rem), rem, out, url_alphabet);
}

size_t b64url_decoded_len(size_t n)
{
	/* a tail of 2 chars carries 1 byte, of 3 chars 2 bytes; 1 char is invalid */
	static const size_t tail_bytes[4] = {0, 0, 1, 2};

	return n / 4 * 3 + tail_bytes[n % 4];
}

/* Value of a base64url char, or -1 for anything outside the url alphabet. */
static int url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

enum ap_err b64url_decode(const char *in, size_t n, unsigned char *out,
			  size_t outcap, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t rem = n % 4;
	size_t need = b64url_decoded_len(n);
	size_t i, o = 0;
	uint32_t v = 0;
	int bits = 0;

	if (rem == 1)
		return AP_ERR_BAD_REQUEST;
	if (need > outcap)
		return AP_ERR_TOO_LARGE;
	for (i = 0; i < n; i++) {
		int d = url_value(s[i]);

		if (d < 0)
			return AP_ERR_BAD_REQUEST;
		v = v << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	/* left-over bits are padding of the last char and must be zero to be
	 * the one canonical spelling of these bytes */
	if (v != 0)
		return AP_ERR_BAD_REQUEST;
	*outlen = o;
	return AP_OK;
}
