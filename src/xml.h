/*
 * xml.h - the one reader of XML elements in storage answers.
 *
 * S3 answers (ListObjectsV2 pages, error documents) are flat, known
 * documents: we look up an element by its exact tag and take its text, we
 * never build a tree. The text is raw bytes between <tag> and the first
 * </tag> after it; xml_text() decodes it strictly (the five predefined
 * entities and character references to ASCII), refusing anything else
 * rather than guessing.
 */
#ifndef AP_XML_H
#define AP_XML_H

#include <stdbool.h>
#include <stddef.h>

#define XML_TAG_MAX 40	/* longest tag looked up ("NextContinuationToken" is 21) */

/*
 * The raw text of the first <tag>...</tag> in [p, end), its length in *len;
 * NULL if absent, unterminated, or tag longer than XML_TAG_MAX. If after is
 * given it points just past the closing tag (for walking repeated elements).
 */
const char *xml_elem(const char *p, const char *end, const char *tag, size_t *len,
		     const char **after);
/*
 * Copies s[0..n) to out (NUL-terminated) with &amp; &lt; &gt; &quot; &apos;
 * and &#N; / &#xN; (1..127) decoded; false if a character reference
 * (anything from "&#", the end of the text included) is malformed or the
 * text does not fit in cap. Any other '&' is kept as it is.
 */
bool xml_text(const char *s, size_t n, char *out, size_t cap);

#endif
