/*
 * dzi.h - the Deep Zoom descriptor of a dataset (GET /api/tiles/{id}.dzi),
 * for OpenSeadragon's DZI tile source and other Deep Zoom clients.
 *
 * DZI numbers levels from 0 (1x1 px) to maxlevel = ceil(log2(max(w, h)))
 * (the full image), level n being ceil(w / 2^(maxlevel - n)) wide. Our
 * pyramid uses the same numbering (dataset.h) exactly when max_zoom is
 * that maxlevel; then the descriptor is served and a client's tile URLs
 * {id}_files/{level}/{x}_{y}.{ext} are the stored {z}/{x}/{y} (route.h).
 * A dataset whose max_zoom differs has no descriptor (404 saying why):
 * a wrong one would show the wrong tiles at every level. Levels under
 * min_zoom answer 404 (OpenSeadragon: minLevel = min_zoom).
 */
#ifndef AP_DZI_H
#define AP_DZI_H

#include <stdbool.h>
#include "error.h"

#define DZI_XMLNS "http://schemas.microsoft.com/deepzoom/2008"
#define DZI_MAX 512		/* the descriptor's bytes */

struct config;
struct dataset;
struct request;
struct response;

/* Does the dataset's level numbering match DZI's? */
bool dzi_lines_up(const struct dataset *d);
/* The descriptor (application/xml, short-lived, with an ETag), or 404 if
 * the levels do not line up. */
enum ap_err dzi_answer(const struct config *c, struct request *r, const struct dataset *d,
		       struct response *res) AP_WARN_UNUSED;

#endif
