/*
 * ssim.h - structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004) of
 * two 8-bit images of the same size: the quality measure that lossy WebP
 * variants are held to.
 *
 * The standard parameters: an 11x11 gaussian window of sigma 1.5, K1 = 0.01,
 * K2 = 0.03, L = 255; the result is the mean of the SSIM map over every
 * pixel. Near the borders the window is clipped to the image and its weights
 * renormalised, so that an image of any size (edge tiles can be 1 px thin)
 * has an SSIM, every pixel counts once, and no padding is invented.
 *
 * SSIM_LUMA compares luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601, the luma
 * JPEG and WebP code), computed in floating point, not rounded; it is what
 * the variants use. SSIM_RGB_MEAN is the mean of the SSIMs of R, G and B, a
 * stricter figure that also sees chroma. An alpha channel is ignored.
 *
 * Identical images give exactly 1.0 and ssim(a, b) == ssim(b, a) exactly
 * (the arithmetic is the same on both sides); the value is in [-1, 1].
 * Working memory is O(width), never O(pixels).
 */
#ifndef AP_SSIM_H
#define AP_SSIM_H

#include <stdint.h>
#include "error.h"

#define SSIM_WINDOW 11
#define SSIM_SIGMA 1.5
/* Bounds the row buffers: 5 sums x SSIM_WINDOW rows x width doubles. */
#define SSIM_MAX_WIDTH 16384u

enum ssim_mode { SSIM_LUMA = 0, SSIM_RGB_MEAN };

/*
 * SSIM of a and b, both width x height pixels of `channels` (3 RGB or 4
 * RGBA) bytes, rows `stride` bytes apart. AP_ERR_BAD_REQUEST: a zero side,
 * channels not 3 or 4, stride < width * channels; AP_ERR_TOO_LARGE: width
 * over SSIM_MAX_WIDTH; AP_ERR_NOMEM.
 */
enum ap_err ssim_compute(const unsigned char *a, const unsigned char *b, uint32_t width,
			 uint32_t height, uint32_t stride, unsigned channels, enum ssim_mode mode,
			 double *out) AP_WARN_UNUSED;

#endif
