/*
 * pngcases.h - PNG fixtures of every colour type, each with the RGB(A)
 * pixels it must decode to, worked out here from the samples written (not
 * by a decoder): gray is replicated, sub-8-bit gray scaled by 255/(2^d - 1),
 * palette looked up, tRNS turned into alpha 0/255 (palette: its alpha
 * entries), 16-bit cut to the high byte. Shared by the tests of imgdecode
 * and webp_variant.
 */
#ifndef AP_TEST_PNGCASES_H
#define AP_TEST_PNGCASES_H

#include <stdint.h>
#include "buf.h"

enum png_kind {
	PC_RGB8, PC_RGBA8, PC_GRAY8, PC_GRAY1, PC_GRAY2, PC_GRAY4, PC_GRAYA8,
	PC_PALETTE8, PC_PALETTE4_TRNS, PC_GRAY8_TRNS, PC_RGB8_TRNS, PC_RGB8_ADAM7,
	PC_RGBA16, PC__COUNT
};

struct png_case {
	const char *name;
	struct buf file;	/* the PNG */
	unsigned char *want;	/* w * h * channels */
	unsigned channels;	/* 3 or 4 */
	uint32_t w, h;
	int bit_depth;
};

/* The fixture of kind k, w x h, zlib level 0..9; 0 on success. */
int png_case_make(enum png_kind k, uint32_t w, uint32_t h, int level, struct png_case *c);
void png_case_free(struct png_case *c);

#endif
