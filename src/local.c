/*
 * local.c - reading objects from LOCAL_STORAGE_DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "local.h"

#define LOCAL_PATH_MAX 4096

enum ap_err local_read(const char *root, const char *key, size_t max, struct buf *out)
{
	char path[LOCAL_PATH_MAX];
	struct stat st;
	enum ap_err e;
	int fd, n;
	size_t got = 0;

	buf_reset(out);
	if (!root)
		return AP_ERR_NOT_FOUND;
	n = snprintf(path, sizeof(path), "%s/%s", root, key);
	if (n < 0 || (size_t)n >= sizeof(path))
		return AP_ERR_IO;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? AP_ERR_NOT_FOUND : AP_ERR_IO;
	if (fstat(fd, &st) != 0) {
		e = AP_ERR_IO;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		e = AP_ERR_NOT_FOUND;
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		e = AP_ERR_TOO_LARGE;
		goto fail;
	}
	if ((e = buf_reserve(out, (size_t)st.st_size)))
		goto fail;
	/* read what fstat promised; a file that grows meanwhile is cut there */
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, out->data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = AP_ERR_IO;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	out->len = got;
	out->data[got] = '\0';
	close(fd);
	return AP_OK;
fail:
	close(fd);
	return e;
}

int local_ok(const char *root)
{
	struct stat st;

	return root && stat(root, &st) == 0 && S_ISDIR(st.st_mode) && access(root, R_OK | X_OK) == 0;
}
