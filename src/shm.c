/*
 * shm.c - private shared files of the pool; see shm.h.
 *
 * Creation is race-free without a coordinator: every process opens the
 * file with O_CREAT|O_EXCL or, if it exists, without O_CREAT; then it takes
 * the lock before it looks at size and header. Under the lock a file of
 * size 0 is grown and a fresh header written (a creator that died before
 * writing it left zeros, which nobody can have used, because users need a
 * valid header); any other content must be valid or the file is refused.
 * The lock is dropped before the map is used: the contents need only
 * atomics. It is dropped by LOCK_UN, not by close(): the mapping keeps the
 * open file description, and with it the lock, alive.
 *
 * The file is grown with posix_fallocate, not ftruncate: on a full tmpfs a
 * sparse page would raise SIGBUS at the first increment instead of an error
 * at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "shm.h"

struct shm {
	void *base;
	size_t size;
	volatile sig_atomic_t lost;
};

/* The maps a SIGBUS may concern; written only outside the handler. */
static struct shm *volatile guarded[SHM_MAPS_MAX];

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	for (int i = 0; i < SHM_MAPS_MAX; i++) {
		struct shm *m = guarded[i];
		char *a = si->si_addr, *b;

		if (!m)
			continue;
		b = m->base;
		if (a >= b && a < b + m->size) {
			/* the file shrank under us: zero pages instead, and say so */
			mmap(m->base, m->size, PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			m->lost = 1;
			return;
		}
	}
	/* not ours: let the fault kill the process as it would have */
	signal(sig, SIG_DFL);
}

/* (Re)installs the handler each time: nothing else of ours uses SIGBUS, and
 * a test harness may have replaced it meanwhile. */
static bool guard(struct shm *m)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) != 0)
		return false;
	for (int i = 0; i < SHM_MAPS_MAX; i++)
		if (!guarded[i]) {
			guarded[i] = m;
			return true;
		}
	return false;
}

static void unguard(struct shm *m)
{
	for (int i = 0; i < SHM_MAPS_MAX; i++)
		if (guarded[i] == m)
			guarded[i] = NULL;
}

static enum ap_err refuse(char *why, size_t whylen, const char *path, const char *what)
{
	snprintf(why, whylen, "%s: %s, refused", path, what);
	return AP_ERR_CONFIG;
}

/* Owner, type and mode of something that must be private to us. */
static enum ap_err check_private(const struct stat *st, const char *path, bool dir, char *why,
				 size_t whylen)
{
	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
		return refuse(why, whylen, path, dir ? "not a directory" : "not a regular file");
	if (st->st_uid != geteuid()) {
		snprintf(why, whylen, "%s: owned by uid %u, not by this process's uid %u, refused",
			 path, (unsigned)st->st_uid, (unsigned)geteuid());
		return AP_ERR_CONFIG;
	}
	if (st->st_mode & 077) {
		snprintf(why, whylen, "%s: mode %04o gives access to others (want %s), refused", path,
			 (unsigned)(st->st_mode & 07777), dir ? "0700" : "0600");
		return AP_ERR_CONFIG;
	}
	return AP_OK;
}

enum ap_err shm_dir_prepare(const char *dir, char *why, size_t whylen)
{
	struct stat st;

	if (!dir || dir[0] != '/' || strlen(dir) >= SHM_PATH_MAX - SHM_NAME_MAX - 2)
		return refuse(why, whylen, dir ? dir : "(none)", "not an absolute path of sane length");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "%s: cannot create: %s", dir, strerror(errno));
		return AP_ERR_IO;
	}
	if (lstat(dir, &st) != 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return AP_ERR_IO;
	}
	if (S_ISLNK(st.st_mode))
		return refuse(why, whylen, dir, "is a symbolic link");
	return check_private(&st, dir, true, why, whylen);
}

static int open_file(const char *path, char *why, size_t whylen)
{
	int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC;

	for (int i = 0; i < 3; i++) {	/* it may vanish between two open()s */
		int fd = open(path, flags | O_CREAT | O_EXCL, 0600);

		if (fd >= 0 || errno != EEXIST) {
			if (fd < 0)
				snprintf(why, whylen, "%s: cannot create: %s", path, strerror(errno));
			return fd;
		}
		fd = open(path, flags);
		if (fd >= 0 || errno != ENOENT) {
			if (fd < 0)
				snprintf(why, whylen, "%s: cannot open: %s", path,
					 errno == ELOOP ? "is a symbolic link" : strerror(errno));
			return fd;
		}
	}
	snprintf(why, whylen, "%s: keeps vanishing", path);
	return -1;
}

static bool lock_briefly(int fd)
{
	struct timespec ts = {0, SHM_LOCK_WAIT_MS * 1000000L};

	for (int i = 0; i < SHM_LOCK_TRIES; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Under the lock: the file's size and header are ours, or made ours. */
static enum ap_err adopt(int fd, const char *path, size_t size, const struct shm_kind *kind,
			 void **base, char *why, size_t whylen)
{
	struct stat st;
	void *p;
	enum ap_err e;
	int rc;

	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return AP_ERR_IO;
	}
	if ((e = check_private(&st, path, false, why, whylen)))
		return e;
	if (st.st_size != 0 && (size_t)st.st_size != size) {
		snprintf(why, whylen, "%s: size %lld, expected %zu: not ours (or another version), "
			 "refused; remove it if no process uses it", path, (long long)st.st_size, size);
		return AP_ERR_CONFIG;
	}
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc != 0) {
		if (st.st_size == 0 && ftruncate(fd, 0) != 0)
			rc = errno;
		snprintf(why, whylen, "%s: cannot allocate %zu bytes: %s", path, size, strerror(rc));
		return AP_ERR_IO;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, whylen, "%s: cannot map: %s", path, strerror(errno));
		return AP_ERR_IO;
	}
	if (kind->is_zero(p, size)) {
		kind->init(p, size);
	} else if (!kind->valid(p, size)) {
		munmap(p, size);
		snprintf(why, whylen, "%s: bad magic or version: not ours, refused; remove it if "
			 "no process uses it", path);
		return AP_ERR_CONFIG;
	}
	*base = p;
	return AP_OK;
}

enum ap_err shm_open_map(const char *dir, const char *name, size_t size,
			 const struct shm_kind *kind, struct shm **out, char *why, size_t whylen)
{
	char path[SHM_PATH_MAX];
	struct shm *m = NULL;
	void *base = NULL;
	enum ap_err e;
	int fd, n;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) || strlen(name) > SHM_NAME_MAX || strchr(name, '/'))
		return refuse(why, whylen, name, "not a plain file name");
	fd = open_file(path, why, whylen);
	if (fd < 0)
		return AP_ERR_IO;
	if (!lock_briefly(fd)) {
		snprintf(why, whylen, "%s: locked by another process for over %d ms", path,
			 SHM_LOCK_TRIES * SHM_LOCK_WAIT_MS);
		close(fd);
		return AP_ERR_UNAVAILABLE;
	}
	e = adopt(fd, path, size, kind, &base, why, whylen);
	flock(fd, LOCK_UN);
	close(fd);
	if (e)
		return e;
	m = calloc(1, sizeof(*m));
	if (!m || (m->base = base, m->size = size, !guard(m))) {
		munmap(base, size);
		free(m);
		snprintf(why, whylen, "%s: out of memory or too many shared maps", path);
		return AP_ERR_NOMEM;
	}
	*out = m;
	return AP_OK;
}

void *shm_base(const struct shm *m)
{
	return m->base;
}

bool shm_lost(const struct shm *m)
{
	return m->lost != 0;
}

void shm_close(struct shm *m)
{
	if (!m)
		return;
	unguard(m);
	munmap(m->base, m->size);
	free(m);
}
