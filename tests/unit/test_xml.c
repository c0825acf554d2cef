/*
 * test_xml.c - the one XML element reader: lookup by exact tag, walking
 * repeated elements, and strict decoding of the text (entities and
 * character references to ASCII; anything malformed refused).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "xml.h"

static const char *elem(const char *doc, const char *tag, size_t *len)
{
	return xml_elem(doc, doc + strlen(doc), tag, len, NULL);
}

static void finds_the_first_element_by_its_exact_tag(void **state)
{
	const char *doc = "<Error><CodeX>no</CodeX><Code>NoSuchKey</Code><Code>2</Code></Error>";
	size_t n = 0;
	const char *v = elem(doc, "Code", &n);

	(void)state;
	assert_non_null(v);
	assert_int_equal(n, 9);
	assert_memory_equal(v, "NoSuchKey", 9);
}

static void absent_or_unterminated_elements_are_null(void **state)
{
	size_t n;

	(void)state;
	assert_null(elem("<a>1</a>", "b", &n));
	assert_null(elem("<Key>cut off", "Key", &n));
	assert_null(elem("</Key>x<Key>", "Key", &n));
	/* a tag longer than XML_TAG_MAX is never looked up */
	char tag[XML_TAG_MAX + 2];
	memset(tag, 'T', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	assert_null(elem("<x>1</x>", tag, &n));
}

static void empty_text_is_found_with_length_zero(void **state)
{
	size_t n = 99;

	(void)state;
	assert_non_null(elem("<Message></Message>", "Message", &n));
	assert_int_equal(n, 0);
}

static void after_walks_repeated_elements(void **state)
{
	const char *doc = "<L><C><K>a</K></C><C><K>b</K></C><C><K>c</K></C></L>";
	const char *end = doc + strlen(doc), *p = doc, *c, *after;
	char seen[4] = "";
	size_t n, k = 0, kn;

	(void)state;
	while ((c = xml_elem(p, end, "C", &n, &after))) {
		const char *v = xml_elem(c, c + n, "K", &kn, NULL);
		assert_non_null(v);
		assert_int_equal(kn, 1);
		seen[k++] = *v;
		p = after;
	}
	assert_string_equal(seen, "abc");
}

static void text_decodes_the_five_entities_and_ascii_references(void **state)
{
	const char *s = "a&amp;b&lt;c&gt;d&quot;e&apos;f&#65;&#x42;&#x4a;&#067;";
	char out[64];

	(void)state;
	assert_true(xml_text(s, strlen(s), out, sizeof(out)));
	assert_string_equal(out, "a&b<c>d\"e'fABJC");
}

static void text_keeps_a_lone_ampersand(void **state)
{
	char out[16];

	(void)state;
	assert_true(xml_text("a & b", 5, out, sizeof(out)));
	assert_string_equal(out, "a & b");
}

static void text_refuses_malformed_references(void **state)
{
	static const char *const bad[] = {
		"&#0;", "&#128;", "&#x80;", "&# 65;", "&#+65;", "&#-1;", "&#x0x41;",
		"&#65", "&#xG1;", "&#X41;", "&#99999999999999999999999;", "&#x;", "&#;x",
		/* cut short at the end of the text (tests/fuzz corpus/s3list/regress-*) */
		"&#", "&#6", "&#x4", "a&&#",
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(xml_text(bad[i], strlen(bad[i]), out, sizeof(out)));
}

static void text_refuses_what_does_not_fit(void **state)
{
	char out[4];

	(void)state;
	assert_true(xml_text("abc", 3, out, sizeof(out)));
	assert_string_equal(out, "abc");
	assert_false(xml_text("abcd", 4, out, sizeof(out)));
	assert_true(xml_text("&amp;&amp;&amp;", 15, out, sizeof(out)));
	assert_string_equal(out, "&&&");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_the_first_element_by_its_exact_tag),
		cmocka_unit_test(absent_or_unterminated_elements_are_null),
		cmocka_unit_test(empty_text_is_found_with_length_zero),
		cmocka_unit_test(after_walks_repeated_elements),
		cmocka_unit_test(text_decodes_the_five_entities_and_ascii_references),
		cmocka_unit_test(text_keeps_a_lone_ampersand),
		cmocka_unit_test(text_refuses_malformed_references),
		cmocka_unit_test(text_refuses_what_does_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
