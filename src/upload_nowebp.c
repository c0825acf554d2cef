/*
 * upload_nowebp.c - upload_webp.c in a build without libwebp, libpng and
 * libjpeg (configure did not find them, or --without-webp): no variants.
 * astropixel-sync asks upload_webp_supported() before it offers --webp.
 */
#include <stdio.h>
#include "upload.h"
#include "upload_int.h"

bool upload_webp_supported(void)
{
	return false;
}

enum ap_err upload_webp_dataset(struct upload *u, struct upload_dataset *d, char *why,
				size_t whylen)
{
	(void)u;
	(void)d;
	snprintf(why, whylen, "this build of astropixel-sync has no WebP support");
	return AP_ERR_CONFIG;
}
