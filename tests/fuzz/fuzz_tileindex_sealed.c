/*
 * fuzz_tileindex_sealed.c - the tile-index decoder (tileindex.h) past its
 * checksum: the input is the index without its trailer, sealed here with
 * the SHA-256 the format asks for, so every mutation reaches the header
 * and plane checks (a writer with a bug, or one that means harm, computes
 * a valid trailer too). The oracle is tileindex_check.h.
 */
#include <openssl/evp.h>
#include "tileindex_check.h"

#define SEAL_LEN 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *p = malloc(size + SEAL_LEN);
	unsigned int mdlen = 0;

	if (!p)
		abort();
	memcpy(p, data, size);
	FUZZ_CHECK(EVP_Digest(p, size, p + size, &mdlen, EVP_sha256(), NULL) && mdlen == SEAL_LEN,
		   "SHA-256");
	fuzz_tileindex_one(p, size + SEAL_LEN, (uint32_t)size);
	free(p);
	return 0;
}
