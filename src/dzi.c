/*
 * dzi.c - the Deep Zoom descriptor; see dzi.h.
 */
#include <stdio.h>
#include "dzi.h"
#include "dataset.h"
#include "edge.h"
#include "request.h"
#include "response.h"

bool dzi_lines_up(const struct dataset *d)
{
	uint64_t m = d->width > d->height ? d->width : d->height;
	unsigned top = 0;

	while ((1ull << top) < m)
		top++;
	return d->max_zoom == top;
}

enum ap_err dzi_answer(const struct config *c, struct request *r, const struct dataset *d,
		       struct response *res)
{
	char text[DZI_MAX];
	const char *fmt = d->format >= 0 ? tk_fmt_ext((enum tile_fmt)d->format) : "jpg";

	if (!dzi_lines_up(d))
		return request_fail(r, AP_ERR_NOT_FOUND, "dataset %u has no DZI descriptor: its levels "
				    "(max_zoom %u) are not DZI's (ceil(log2(max(width, height))) = full "
				    "image); use IIIF (/iiif/3/%u/info.json) or info", d->id,
				    (unsigned)d->max_zoom, d->id);
	snprintf(text, sizeof(text), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<Image xmlns=\"" DZI_XMLNS "\" Format=\"%s\" Overlap=\"0\" TileSize=\"%u\">"
		 "<Size Width=\"%llu\" Height=\"%llu\"/></Image>\n", fmt, (unsigned)d->tile_size,
		 (unsigned long long)d->width, (unsigned long long)d->height);
	return edge_document(c, d, r, EDGE_INFO, "application/xml", text, res);
}
