/*
 * null_responder.c - the ceiling for any FastCGI responder on this machine:
 * a libfcgi accept loop that answers every request with the same bytes from
 * memory and does nothing else. bench_http.sh runs it under the same
 * lighttpd as astropixel-tiles to give cache hits a reference in the same run.
 *
 *   NULL_BODY_FILE=FILE null_responder   (spawned by lighttpd: socket on fd 0;
 *                                         lighttpd's bin-path takes no arguments)
 */
#include <stdio.h>
#include <stdlib.h>
#include <fcgiapp.h>

#define NULL_BODY_MAX (4 * 1024 * 1024)

int main(int argc, char **argv)
{
	static char body[NULL_BODY_MAX];
	FCGX_Request r;
	char head[256];
	int hlen;
	size_t len;
	FILE *f;

	const char *path = argc == 2 ? argv[1] : getenv("NULL_BODY_FILE");

	if (!path || !(f = fopen(path, "rb"))) {
		fprintf(stderr, "usage: NULL_BODY_FILE=FILE null_responder\n");
		return 2;
	}
	len = fread(body, 1, sizeof(body), f);
	fclose(f);
	FCGX_Init();
	FCGX_InitRequest(&r, 0, 0);
	/* the same headers as a cache hit; libfcgi's own printf has no %zu */
	hlen = snprintf(head, sizeof(head), "Status: 200 OK\r\nContent-Type: image/jpeg\r\n"
			"Content-Length: %zu\r\nX-Tile-Source: memory-cache\r\n\r\n", len);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(head, hlen, r.out);
		FCGX_PutStr(body, (int)len, r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}
