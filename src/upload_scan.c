/*
 * upload_scan.c - the local tree: what a dataset has to upload.
 *
 * Only the layout of SPEC 2 is taken: tiles/{id}/{z}/{x}/{y}.{ext} with
 * every name checked against the tile grammar (tilekey.h), and
 * metadata/datasets/{id}.json checked as the server would check it.
 * Anything else is ignored and reported, never uploaded. A tile's key is
 * the one the server reads (tk_object_key): a local y.jpeg goes to y.jpg,
 * and where both exist y.jpg wins and a warning names the other.
 *
 * A file that cannot be sent (vanished, not regular, too large, invalid
 * metadata) is kept with its reason, so that it is reported as failed and
 * its bucket copy is never deleted for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "catalog.h"
#include "hex.h"
#include "tilekey.h"
#include "upload.h"
#include "upload_int.h"

struct ignored {		/* entries of a dataset's tree that are not tiles */
	unsigned long long n;
	char first[UPLOAD_PATH_MAX];
};

/* ---- reading a local file -------------------------------------------------- */

/* Opens a regular file of at most max bytes; why explains a refusal. */
static enum ap_err open_file(const char *path, size_t max, int *fd, struct stat *st,
			     char *why, size_t whylen)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0) {
		if (errno == ENOENT)
			snprintf(why, whylen, "vanished: no such file (a dangling link?)");
		else
			snprintf(why, whylen, "cannot open: %s", strerror(errno));
		return errno == ENOENT ? AP_ERR_NOT_FOUND : AP_ERR_IO;
	}
	if (fstat(*fd, st) != 0) {
		snprintf(why, whylen, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		goto fail;
	}
	if ((unsigned long long)st->st_size > max) {
		snprintf(why, whylen, "%lld bytes: larger than %zu, the largest object the "
			 "server accepts", (long long)st->st_size, max);
		close(*fd);
		*fd = -1;
		return AP_ERR_TOO_LARGE;
	}
	return AP_OK;
fail:
	close(*fd);
	*fd = -1;
	return AP_ERR_IO;
}

/* Reads exactly n bytes, and checks that the file has no more. */
static enum ap_err read_exact(int fd, unsigned char *p, size_t n, char *why, size_t whylen)
{
	size_t got = 0;
	unsigned char extra;
	ssize_t r;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "read failed: %s", strerror(errno));
			return AP_ERR_IO;
		}
		if (r == 0) {
			snprintf(why, whylen, "changed while being read (shrank)");
			return AP_ERR_IO;
		}
		got += (size_t)r;
	}
	do
		r = read(fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	if (r != 0) {
		snprintf(why, whylen, r > 0 ? "changed while being read (grew)" : "read failed");
		return AP_ERR_IO;
	}
	return AP_OK;
}

enum ap_err upload_md5(const void *p, size_t n, unsigned char raw[UPLOAD_MD5_RAW],
		       char hex[UPLOAD_MD5_HEX + 1])
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, raw, &len, EVP_md5(), NULL) || len != UPLOAD_MD5_RAW)
		return AP_ERR_INTERNAL;
	hex_encode(raw, UPLOAD_MD5_RAW, hex);
	return AP_OK;
}

enum ap_err upload_slurp(const char *path, size_t max, unsigned char **body, size_t *len,
			 struct stat *st, char *why, size_t whylen)
{
	enum ap_err e;
	int fd;
	unsigned char *p;
	size_t n;

	*body = NULL;
	*len = 0;
	if ((e = open_file(path, max, &fd, st, why, whylen)))
		return e;
	n = (size_t)st->st_size;
	p = malloc(n ? n : 1);
	if (!p) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return AP_ERR_NOMEM;
	}
	e = read_exact(fd, p, n, why, whylen);
	close(fd);
	if (e) {
		free(p);
		return e;
	}
	*body = p;
	*len = n;
	return AP_OK;
}

/* ---- the scan ------------------------------------------------------------------ */

enum ap_err upload_count_object(struct upload *u, char *why, size_t whylen)
{
	if (u->nobjects >= UPLOAD_OBJECTS_MAX) {
		snprintf(why, whylen, "more than %u objects (local files and bucket objects) "
			 "in one run: sync fewer datasets at a time", UPLOAD_OBJECTS_MAX);
		return AP_ERR_TOO_LARGE;
	}
	u->nobjects++;
	return AP_OK;
}

enum ap_err upload_add_local(struct upload *u, struct upload_dataset *d, const char *key,
			     const char *src, unsigned long long size, const char *bad,
			     enum upload_kind kind, unsigned char *body, char *why,
			     size_t whylen)
{
	struct upload_file *f;
	enum ap_err e;

	if ((e = upload_count_object(u, why, whylen)))
		return e;
	if (d->nlocal == d->caplocal) {
		size_t cap = d->caplocal ? d->caplocal * 2 : 256;
		struct upload_file *n = realloc(d->local, cap * sizeof(*n));
		if (!n)
			goto nomem;
		d->local = n;
		d->caplocal = cap;
	}
	f = &d->local[d->nlocal];
	memset(f, 0, sizeof(*f));
	f->key = strdup(key);
	f->src = src ? strdup(src) : NULL;
	f->bad = bad ? strdup(bad) : NULL;
	if (!f->key || (src && !f->src) || (bad && !f->bad)) {
		free(f->key);
		free(f->src);
		free(f->bad);
		goto nomem;
	}
	f->size = size;
	f->kind = (uint8_t)kind;
	f->body = body;
	d->nlocal++;
	u->st.local_objects++;
	return AP_OK;
nomem:
	snprintf(why, whylen, "out of memory");
	return AP_ERR_NOMEM;
}

static void ignore(struct ignored *ig, const char *rel)
{
	if (ig->n++ == 0)
		snprintf(ig->first, sizeof(ig->first), "%s", rel);
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* Adds the tile file tiles/{id}/{rel}; rel = "z/x/y.ext" parsed into k. */
static enum ap_err scan_tile(struct upload *u, struct upload_dataset *d, const char *rel,
			     struct tilekey *k, char *why, size_t whylen)
{
	char src[UPLOAD_PATH_MAX], key[UPLOAD_ID_KEY_MAX], path[UPLOAD_PATH_MAX];
	char bad[UPLOAD_WHY_MAX];
	struct stat st;
	const char *b = NULL;
	int n = snprintf(src, sizeof(src), "tiles/%u/%s", d->id, rel);

	if (n < 0 || (size_t)n >= sizeof(src) || !upload_path_of(u, src, path, sizeof(path))) {
		snprintf(why, whylen, "LOCAL_STORAGE_DIR: path too long");
		return AP_ERR_CONFIG;
	}
	k->dataset = d->id;
	tk_object_key(k, key, sizeof(key));	/* the key the server reads */
	memset(&st, 0, sizeof(st));
	if (stat(path, &st) != 0) {
		snprintf(bad, sizeof(bad), errno == ENOENT ?
			 "vanished: no such file (a dangling link?)" : "cannot stat: %s",
			 strerror(errno));
		b = bad;
	} else if (!S_ISREG(st.st_mode)) {
		b = "not a regular file";
	} else if ((unsigned long long)st.st_size > UPLOAD_TILE_MAX_BYTES) {
		snprintf(bad, sizeof(bad), "%lld bytes: larger than %u, the largest tile the "
			 "server accepts (TILE_MAX_BYTES)", (long long)st.st_size,
			 UPLOAD_TILE_MAX_BYTES);
		b = bad;
	}
	return upload_add_local(u, d, key, strcmp(src, key) ? src : NULL,
				b ? 0 : (unsigned long long)st.st_size, b, OBJ_TILE, NULL, why,
				whylen);
}

/* The entries of tiles/{id}/{z}/{x}/: "y.ext" files. */
static enum ap_err scan_column(struct upload *u, struct upload_dataset *d, const char *z,
			       const char *x, DIR *dir, struct ignored *ig, char *why,
			       size_t whylen)
{
	char rel[UPLOAD_PATH_MAX];
	struct dirent *ent;
	enum ap_err e = AP_OK;

	while (!e && (ent = readdir(dir))) {
		struct tilekey k;
		int n;
		if (is_dot(ent->d_name))
			continue;
		n = snprintf(rel, sizeof(rel), "%s/%s/%s", z, x, ent->d_name);
		if (n < 0 || (size_t)n >= sizeof(rel) || tk_parse_spec(rel, (size_t)n, &k)) {
			upload_text(rel, sizeof(rel), "tiles/%u/%s/%s/%s", d->id, z, x, ent->d_name);
			ignore(ig, rel);
			continue;
		}
		e = scan_tile(u, d, rel, &k, why, whylen);
	}
	return e;
}

/* The entries of tiles/{id}/{z}/ (zdir): "x" directories. */
static enum ap_err scan_level(struct upload *u, struct upload_dataset *d, const char *z,
			      const char *zdir, DIR *dir, struct ignored *ig, char *why,
			      size_t whylen)
{
	char xdir[UPLOAD_PATH_MAX], rel[UPLOAD_PATH_MAX];
	struct dirent *ent;
	enum ap_err e = AP_OK;
	uint32_t v;
	DIR *dx;

	while (!e && (ent = readdir(dir))) {
		if (is_dot(ent->d_name))
			continue;
		upload_text(rel, sizeof(rel), "tiles/%u/%s/%s", d->id, z, ent->d_name);
		if (tk_parse_uint(ent->d_name, strlen(ent->d_name), TILE_COORD_MAX, &v) ||
		    (size_t)snprintf(xdir, sizeof(xdir), "%s/%s", zdir, ent->d_name) >=
			    sizeof(xdir) ||
		    !(dx = opendir(xdir))) {
			ignore(ig, rel);
			continue;
		}
		e = scan_column(u, d, z, ent->d_name, dx, ig, why, whylen);
		closedir(dx);
	}
	return e;
}

/* Walks tiles/{id}/: exactly three levels, z/x/y.ext. */
static enum ap_err scan_tiles(struct upload *u, struct upload_dataset *d, bool *found,
			      struct ignored *ig, char *why, size_t whylen)
{
	char top[UPLOAD_PATH_MAX], zdir[UPLOAD_PATH_MAX], key[UPLOAD_ID_KEY_MAX];
	char rel[UPLOAD_PATH_MAX];
	struct dirent *ent;
	enum ap_err e = AP_OK;
	DIR *dir, *dz;
	uint32_t v;

	*found = false;
	snprintf(key, sizeof(key), "tiles/%u", d->id);
	if (!upload_path_of(u, key, top, sizeof(top)))
		return AP_ERR_CONFIG;
	dir = opendir(top);
	if (!dir) {
		if (errno == ENOENT)
			return AP_OK;
		snprintf(why, whylen, "%s: %s", top, strerror(errno));
		return AP_ERR_IO;
	}
	*found = true;
	while (!e && (ent = readdir(dir))) {
		if (is_dot(ent->d_name))
			continue;
		upload_text(rel, sizeof(rel), "%s/%s", key, ent->d_name);
		if (tk_parse_uint(ent->d_name, strlen(ent->d_name), TILE_Z_MAX, &v) ||
		    (size_t)snprintf(zdir, sizeof(zdir), "%s/%s", top, ent->d_name) >= sizeof(zdir) ||
		    !(dz = opendir(zdir))) {
			ignore(ig, rel);
			continue;
		}
		e = scan_level(u, d, ent->d_name, zdir, dz, ig, why, whylen);
		closedir(dz);
	}
	closedir(dir);
	return e;
}

/* metadata/datasets/{id}.json: must be what the server will accept; kept
 * parsed in d->meta, the grid and updated_at of the index. */
static enum ap_err scan_meta(struct upload *u, struct upload_dataset *d, bool *found,
			     char *why, size_t whylen)
{
	char key[UPLOAD_ID_KEY_MAX], path[UPLOAD_PATH_MAX], bad[UPLOAD_WHY_MAX];
	char reason[UPLOAD_WHY_MAX];
	unsigned char *body = NULL;
	struct stat st;
	size_t len = 0;
	enum ap_err e;

	snprintf(key, sizeof(key), "metadata/datasets/%u.json", d->id);
	if (!upload_path_of(u, key, path, sizeof(path)))
		return AP_ERR_CONFIG;
	*found = false;
	if (lstat(path, &st) != 0 && errno == ENOENT)
		return AP_OK;
	*found = true;
	e = upload_slurp(path, UPLOAD_META_MAX_BYTES, &body, &len, &st, bad, sizeof(bad));
	if (!e && dataset_parse((const char *)body, len, d->id, &d->meta, reason,
				sizeof(reason))) {
		upload_text(bad, sizeof(bad), "invalid metadata, the server would refuse it: %s",
			    reason);
		e = AP_ERR_BAD_REQUEST;
	}
	free(body);
	d->meta_state = e ? META_BAD : META_VALID;
	return upload_add_local(u, d, key, NULL, e ? 0 : len, e ? bad : NULL, OBJ_META, NULL,
				why, whylen);
}

/* By key; of two files with one key, the one named as the key comes first. */
static int cmp_local(const void *a, const void *b)
{
	const struct upload_file *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->src != NULL) - (y->src != NULL);
}

void upload_sort_local(struct upload_dataset *d)
{
	if (d->nlocal)
		qsort(d->local, d->nlocal, sizeof(*d->local), cmp_local);
}

/*
 * Sorts the files by key and keeps one per key: y.jpg and y.jpeg both have
 * the key y.jpg, which y.jpg keeps; the other is dropped with a warning.
 */
static void one_per_key(struct upload *u, struct upload_dataset *d)
{
	char warning[UPLOAD_WHY_MAX + 2 * UPLOAD_PATH_MAX];
	size_t o = 0;

	upload_sort_local(d);
	for (size_t i = 0; i < d->nlocal; i++) {
		struct upload_file *f = &d->local[i];
		if (o && !strcmp(d->local[o - 1].key, f->key)) {
			const struct upload_file *kept = &d->local[o - 1];
			snprintf(warning, sizeof(warning), "%s ignored: %s is there too, and the "
				 "server reads only the object %s (remove one of the two)",
				 f->src ? f->src : f->key, kept->src ? kept->src : kept->key,
				 f->key);
			upload_emit(u, UEV_WARNING, NULL, 0, warning);
			free(f->key);
			free(f->src);
			free(f->bad);
			u->st.local_objects--;
			u->nobjects--;
			continue;
		}
		d->local[o++] = *f;
	}
	d->nlocal = o;
}

/* Reports what the scan of dataset id found beside its files. */
static void scan_notes(struct upload *u, uint32_t id, const struct ignored *ig, bool has_meta)
{
	if (ig->n) {
		char note[UPLOAD_WHY_MAX + UPLOAD_PATH_MAX];
		snprintf(note, sizeof(note), "dataset %u: ignored %llu entr%s that %s not "
			 "z/x/y.{jpg,jpeg,png,webp} tiles (e.g. %s)", id, ig->n,
			 ig->n == 1 ? "y" : "ies", ig->n == 1 ? "is" : "are", ig->first);
		upload_emit(u, UEV_NOTE, NULL, 0, note);
	}
	if (!has_meta) {
		char note[UPLOAD_WHY_MAX];
		snprintf(note, sizeof(note), "dataset %u: no metadata/datasets/%u.json locally: "
			 "the server will not serve its tiles until it exists", id, id);
		upload_emit(u, UEV_NOTE, NULL, 0, note);
	}
}

/* A new, empty dataset id in u->ds. */
static enum ap_err new_dataset(struct upload *u, uint32_t id, struct upload_dataset **out,
			       char *why, size_t whylen)
{
	struct upload_dataset *d;

	if (u->nds >= UPLOAD_DATASETS_MAX) {
		snprintf(why, whylen, "more than %d datasets in one run", UPLOAD_DATASETS_MAX);
		return AP_ERR_TOO_LARGE;
	}
	if (u->nds == u->capds) {
		size_t cap = u->capds ? u->capds * 2 : 16;
		struct upload_dataset *n = realloc(u->ds, cap * sizeof(*n));
		if (!n) {
			snprintf(why, whylen, "out of memory");
			return AP_ERR_NOMEM;
		}
		u->ds = n;
		u->capds = cap;
	}
	d = &u->ds[u->nds++];
	memset(d, 0, sizeof(*d));
	d->id = id;
	*out = d;
	return AP_OK;
}

enum ap_err upload_add_dataset(struct upload *u, uint32_t id, char *why, size_t whylen)
{
	struct ignored ig = {0};
	struct upload_dataset *d;
	bool has_tiles, has_meta;
	enum ap_err e;

	for (size_t i = 0; i < u->nds; i++)
		if (u->ds[i].id == id)
			return AP_OK;
	if ((e = new_dataset(u, id, &d, why, whylen)))
		return e;
	if (u->o.mode == UPLOAD_INDEX_BUCKET)
		return AP_OK;	/* what it holds is the bucket's to tell */
	u->st.phase = UP_SCANNING;
	if ((e = scan_tiles(u, d, &has_tiles, &ig, why, whylen)))
		return e;
	if ((e = scan_meta(u, d, &has_meta, why, whylen)))
		return e;
	if (!has_tiles && !has_meta) {
		snprintf(why, whylen, "dataset %u: neither tiles/%u/ nor metadata/datasets/%u.json "
			 "under LOCAL_STORAGE_DIR", id, id, id);
		return AP_ERR_NOT_FOUND;
	}
	one_per_key(u, d);
	scan_notes(u, id, &ig, has_meta);
	if (u->o.webp &&
	    (e = upload_webp_dataset(u, d, why, whylen)))
		return e;
	if (u->st.interrupted)
		return AP_OK;	/* the run stops before listing: no index either */
	return upload_index_local(u, d, why, whylen);
}

/* ---- which datasets ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Adds the ids named by the entries of dir: "{id}{suffix}". */
static enum ap_err ids_in(const char *dir, const char *suffix, bool want_dir, uint32_t *ids,
			  size_t cap, size_t *n, char *why, size_t whylen)
{
	size_t sl = strlen(suffix);
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (!dp)
		return errno == ENOENT ? AP_OK : (snprintf(why, whylen, "%s: %s", dir,
							   strerror(errno)), AP_ERR_IO);
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		uint32_t id;
		if (l <= sl || strcmp(de->d_name + l - sl, suffix) ||
		    tk_parse_uint(de->d_name, l - sl, DATASET_ID_MAX, &id))
			continue;
		if (want_dir && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN &&
		    de->d_type != DT_LNK)
			continue;
		if (*n == cap) {
			closedir(dp);
			snprintf(why, whylen, "more than %zu datasets under %s", cap, dir);
			return AP_ERR_TOO_LARGE;
		}
		ids[(*n)++] = id;
	}
	closedir(dp);
	return AP_OK;
}

enum ap_err upload_find_datasets(const char *local_dir, uint32_t *ids, size_t cap, size_t *n,
				 char *why, size_t whylen)
{
	char dir[UPLOAD_PATH_MAX];
	size_t o = 0;
	enum ap_err e;

	*n = 0;
	snprintf(dir, sizeof(dir), "%s/metadata/datasets", local_dir);
	if ((e = ids_in(dir, ".json", false, ids, cap, n, why, whylen)))
		return e;
	snprintf(dir, sizeof(dir), "%s/tiles", local_dir);
	if ((e = ids_in(dir, "", true, ids, cap, n, why, whylen)))
		return e;
	if (*n)
		qsort(ids, *n, sizeof(*ids), cmp_u32);
	for (size_t i = 0; i < *n; i++)
		if (o == 0 || ids[o - 1] != ids[i])
			ids[o++] = ids[i];
	*n = o;
	return AP_OK;
}
