/*
 * main.c - astropixel-tiles: command line, start-up, and the choice of mode
 * (spawned by a web server with the socket on fd 0, --bind, or --request).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <curl/curl.h>
#include "ap_autoconf.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "oneshot.h"
#include "server.h"

#define BIND_BACKLOG 128

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: astropixel-tiles [--bind HOST:PORT | --bind /path.sock]\n"
		"       astropixel-tiles --request 'GET /api/tiles/...' [--header 'Name: value']...\n"
		"       astropixel-tiles --help | --version | --config-markdown\n"
		"\n"
		"FastCGI tile server of AstroPixel. Spawned by a web server (Apache\n"
		"mod_fcgid, lighttpd mod_fastcgi) it serves the socket on fd 0; with --bind\n"
		"it listens itself (nginx, spawn-fcgi, systemd); with --request it answers\n"
		"one request on stdout in CGI form and exits (debugging, valgrind).\n\n");
	config_print_help(out);
}

/*
 * glibc raises its mmap threshold to the size of every large block freed
 * (up to 32 MiB), so after the first big answers (batches, large tiles) such
 * buffers come from the heap, which then fragments and keeps growing under
 * a mixed load (the soak, tests/soak/soak.sh, saw +8 % RSS in 60 s behind
 * nginx). A fixed threshold keeps them, and each connection's 64 KiB read
 * buffer, mmapped and returned on free, and the heap's top is trimmed
 * sooner: RSS follows what is live. The cache's tiles are mostly below it.
 */
static void steady_allocator(void)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);	/* a connection's read buffer is one */
	(void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
}

/* A web server hands us a listening socket as fd 0. */
static int fd0_is_socket(void)
{
	int type;
	socklen_t len = sizeof(type);

	return getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"bind", required_argument, NULL, 'b'},
		{"request", required_argument, NULL, 'r'},
		{"header", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"config-markdown", no_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	const char *bind_spec = NULL, *request = NULL;
	const char *headers[ONESHOT_HEADERS_MAX];
	size_t nheaders = 0;
	char why[512];
	struct app app;
	int c, rc, fd;

	steady_allocator();
	while ((c = getopt_long(argc, argv, "b:r:H:hVM", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': bind_spec = optarg; break;
		case 'r': request = optarg; break;
		case 'H':
			if (nheaders == ONESHOT_HEADERS_MAX) {
				fprintf(stderr, "at most %d --header options\n", ONESHOT_HEADERS_MAX);
				return 2;
			}
			headers[nheaders++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("astropixel-tiles %s\n", PACKAGE_VERSION); return 0;
		case 'M': config_print_markdown(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (bind_spec && request)) {
		usage(stderr);
		return 2;
	}
	if (!request && !bind_spec && !fd0_is_socket()) {
		fprintf(stderr, "astropixel-tiles: not started by a web server (fd 0 is not a "
				"socket): use --bind or --request; see --help\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "astropixel-tiles: curl_global_init failed\n");
		return 1;
	}
	if (app_init(&app, why, sizeof(why))) {
		log_error("configuration error: %s", why);
		curl_global_cleanup();
		return 1;
	}
	if (!request)
		config_log(&app.cfg);
	if (request) {
		rc = oneshot_run(&app, request, headers, nheaders);
	} else {
		fd = 0;
		if (bind_spec) {
			fd = server_bind(bind_spec, BIND_BACKLOG);
			if (fd < 0) {
				log_error("cannot listen on %s: %s", bind_spec, strerror(errno));
				app_free(&app);
				curl_global_cleanup();
				return 1;
			}
			log_info("listening on %s", bind_spec);
		}
		rc = server_run(&app, fd);
	}
	app_free(&app);
	curl_global_cleanup();
	return rc;
}
