/*
 * fuzz_tileindex.c - the tile-index decoder (tileindex.h) over arbitrary
 * bytes as metadata/datasets/{id}.index, checksum included: what a
 * corrupted or hostile object in storage looks like. Most mutations stop
 * at the SHA-256 trailer; fuzz_tileindex_sealed gets past it. The oracle
 * is tileindex_check.h.
 */
#include "tileindex_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	unsigned char *p = malloc(size ? size : 1);

	if (!p)
		abort();
	memcpy(p, data, size);
	fuzz_tileindex_one(p, size, (uint32_t)size);
	free(p);
	return 0;
}
