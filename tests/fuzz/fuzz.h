/*
 * fuzz.h - what every libFuzzer harness of tests/fuzz/ shares.
 *
 * A harness is one file fuzz_NAME.c defining LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize when it needs state made once, such as a key or a
 * directory tree). It feeds its input to one parser of untrusted input and
 * checks what the parser's contract promises, not only that nothing
 * crashed: FUZZ_CHECK aborts with the broken promise, which libFuzzer
 * reports as a crash and keeps as a reproducer, like a sanitizer report.
 *
 * Harnesses must be deterministic (same input, same path) and must free
 * everything an input made, or LeakSanitizer reports it.
 */
#ifndef AP_FUZZ_H
#define AP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                      \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, \
				__LINE__, #cond);                                   \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* A NUL-terminated copy of data[0..size) (malloc'd; abort if no memory, so
 * a harness never mistakes its own failure for the parser's). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits the input at the first '\n' at or after *pos: returns the line
 * [*pos, nl) as a malloc'd C string (cut at a NUL byte inside, as a C
 * string parameter would be) and moves *pos past the '\n'. NULL at the end. */
static inline char *fuzz_line(const uint8_t *data, size_t size, size_t *pos)
{
	const uint8_t *nl;
	size_t n;
	char *s;

	if (*pos >= size)
		return NULL;
	nl = memchr(data + *pos, '\n', size - *pos);
	n = nl ? (size_t)(nl - (data + *pos)) : size - *pos;
	s = fuzz_strndup(data + *pos, n);
	*pos += n + (nl ? 1 : 0);
	return s;
}

#endif
