/*
 * mkindex.c - builds and prints tile indexes (docs/tile-index.md).
 *
 *   mkindex [--dir DIR] ID...            DIR/metadata/datasets/ID.index from the tree
 *   mkindex --dump [--tiles] FILE        header and planes of FILE [and every tile]
 *
 * DIR defaults to $LOCAL_STORAGE_DIR. The grid and `updated_at` come from
 * DIR/metadata/datasets/ID.json (read as the server reads it); the tiles
 * are the regular files DIR/tiles/ID/{z}/{x}/{y}.{jpg,png,webp} whose names
 * follow the tile grammar (tilekey.h) exactly and that lie inside the grid:
 * the keys the server would fetch. Other names are counted and ignored.
 * The index is written to a temporary file and renamed, so a reader never
 * sees half of one. The walk is thin on purpose: the builder is
 * tileindex.h, which astropixel-sync is to call the same way.
 *
 * Exit status: 0 done, 1 failure, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "dataset.h"
#include "decimal.h"
#include "local.h"
#include "tileindex.h"

#define MKINDEX_PATH_MAX 4096
#define MKINDEX_WHY_MAX 256

static const char USAGE[] =
	"usage: mkindex [--dir DIR] ID...\n"
	"       mkindex --dump [--tiles] FILE\n";

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "mkindex: %s\n", why);
	fputs(USAGE, stderr);
	return 2;
}

struct walk {
	struct tileindex_builder *b;
	uint32_t z, x;
	unsigned long long tiles, ignored;
	char first_ignored[MKINDEX_PATH_MAX];
};

static void ignore(struct walk *w, const char *dir, const char *name)
{
	if (w->ignored++ == 0)
		snprintf(w->first_ignored, sizeof(w->first_ignored), "%s/%s", dir, name);
}

static bool path_join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, MKINDEX_PATH_MAX, "%s/%s", dir, name);

	return n > 0 && n < MKINDEX_PATH_MAX;
}

typedef enum ap_err (*entry_fn)(struct walk *w, const char *dir, const char *name);

/* fn for every entry of dir but . and .. */
static enum ap_err each_entry(struct walk *w, const char *dir, entry_fn fn)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	enum ap_err e = AP_OK;

	if (!d) {
		fprintf(stderr, "mkindex: %s: %s\n", dir, strerror(errno));
		return AP_ERR_IO;
	}
	while (!e && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			e = fn(w, dir, de->d_name);
	closedir(d);
	return e;
}

/* {y}.{ext}, ext the format's own spelling ("jpeg" is not a key the server asks). */
static enum ap_err on_y(struct walk *w, const char *dir, const char *name)
{
	const char *dot = strrchr(name, '.');
	char path[MKINDEX_PATH_MAX];
	enum tile_fmt f;
	struct stat st;
	uint32_t y;
	enum ap_err e = AP_ERR_BAD_REQUEST;

	if (dot && !tk_parse_ext(dot + 1, strlen(dot + 1), &f) && !strcmp(dot + 1, tk_fmt_ext(f)) &&
	    !tk_parse_uint(name, (size_t)(dot - name), TILE_COORD_MAX, &y) &&
	    path_join(path, dir, name) && !stat(path, &st) && S_ISREG(st.st_mode))
		e = tileindex_builder_add(w->b, w->z, w->x, y, f);
	if (e == AP_ERR_BAD_REQUEST) {	/* not a tile name, or outside the grid */
		ignore(w, dir, name);
		return AP_OK;
	}
	if (e == AP_OK)
		w->tiles++;
	return e;
}

static enum ap_err on_x(struct walk *w, const char *dir, const char *name)
{
	char path[MKINDEX_PATH_MAX];
	struct stat st;

	if (tk_parse_uint(name, strlen(name), TILE_COORD_MAX, &w->x) ||
	    !path_join(path, dir, name) || stat(path, &st) || !S_ISDIR(st.st_mode)) {
		ignore(w, dir, name);
		return AP_OK;
	}
	return each_entry(w, path, on_y);
}

static enum ap_err on_z(struct walk *w, const char *dir, const char *name)
{
	char path[MKINDEX_PATH_MAX];
	struct stat st;

	if (tk_parse_uint(name, strlen(name), TILE_Z_MAX, &w->z) || !path_join(path, dir, name) ||
	    stat(path, &st) || !S_ISDIR(st.st_mode)) {
		ignore(w, dir, name);
		return AP_OK;
	}
	return each_entry(w, path, on_x);
}

/* The metadata's updated_at ("" if absent); the builder checks its text. */
static enum ap_err read_stamp(const char *json, char *out, size_t outlen)
{
	struct json_object *o = json_tokener_parse(json), *v;	/* dataset_parse accepted it */
	enum ap_err e = AP_OK;

	out[0] = '\0';
	if (o && json_object_object_get_ex(o, "updated_at", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) ||
		    (size_t)json_object_get_string_len(v) >= outlen) {
			fprintf(stderr, "mkindex: updated_at is not a string of at most %d bytes\n",
				TILEINDEX_UPDATED_AT_MAX);
			e = AP_ERR_BAD_REQUEST;
		} else {
			snprintf(out, outlen, "%s", json_object_get_string(v));
		}
	}
	json_object_put(o);
	return e;
}

/* Writes path.tmp, then renames it over path. */
static enum ap_err write_atomic(const char *path, const void *p, size_t n)
{
	char tmp[MKINDEX_PATH_MAX];
	const char *q = p;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return AP_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	while (n) {
		ssize_t w = write(fd, q, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		q += w;
		n -= (size_t)w;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fd = -1;
		goto fail;
	}
	return AP_OK;
fail:
	fprintf(stderr, "mkindex: %s: %s\n", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return AP_ERR_IO;
}

static int build(const char *root, uint32_t id)
{
	char key[64], path[MKINDEX_PATH_MAX], why[MKINDEX_WHY_MAX] = "";
	char stamp[TILEINDEX_UPDATED_AT_MAX + 2];
	struct walk w;
	struct dataset d;
	struct buf meta, out;
	enum ap_err e;

	memset(&w, 0, sizeof(w));
	buf_init(&meta, META_MAX_BYTES);
	buf_init(&out, TILEINDEX_MAX_BYTES);
	snprintf(key, sizeof(key), "metadata/datasets/%u.json", id);
	if ((e = local_read(root, key, META_MAX_BYTES, &meta))) {
		snprintf(why, sizeof(why), "%s/%s: %s", root, key, ap_err_str(e));
		goto fail;
	}
	if ((e = dataset_parse(meta.data, meta.len, id, &d, why, sizeof(why))) ||
	    (e = read_stamp(meta.data, stamp, sizeof(stamp))) ||
	    (e = tileindex_builder_new(&d, stamp, &w.b, why, sizeof(why))))
		goto fail;
	snprintf(path, sizeof(path), "%s/tiles/%u", root, id);
	if ((e = each_entry(&w, path, on_z)) || (e = tileindex_builder_encode(w.b, &out)))
		goto fail;
	snprintf(path, sizeof(path), "%s/metadata/datasets/%u.index", root, id);
	if ((e = write_atomic(path, out.data, out.len)))
		goto fail;
	if (w.ignored)
		fprintf(stderr, "mkindex: dataset %u: %llu names ignored (not a tile of the grid), "
			"the first: %s\n", id, w.ignored, w.first_ignored);
	printf("mkindex: dataset %u: %llu tiles, %zu bytes: %s\n", id, w.tiles, out.len, path);
fail:
	if (e && why[0])
		fprintf(stderr, "mkindex: dataset %u: %s\n", id, why);
	else if (e)
		fprintf(stderr, "mkindex: dataset %u: %s\n", id, ap_err_str(e));
	tileindex_builder_free(w.b);
	buf_free(&meta);
	buf_free(&out);
	return e ? 1 : 0;
}

/* ---- --dump ---- */

static enum ap_err read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	enum ap_err e = AP_OK;
	size_t n;

	if (!f)
		return AP_ERR_IO;
	do {
		if ((e = buf_reserve(out, 65536)))
			break;
		n = fread(out->data + out->len, 1, out->cap - out->len - 1, f);
		out->len += n;
	} while (n > 0);
	if (!e && ferror(f))
		e = AP_ERR_IO;
	fclose(f);
	return e;
}

static void dump_tiles(const struct tileindex *idx)
{
	const struct tileindex_grid *g = tileindex_grid(idx);
	struct tileindex_plane pl;

	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++) {
		bool any = false;

		for (unsigned f = 0; f < FMT__COUNT && !any; f++)
			any = tileindex_plane(idx, z, (enum tile_fmt)f, &pl);
		for (uint64_t y = 0; any && y < pl.rows; y++)
			for (uint64_t x = 0; x < pl.cols; x++) {
				unsigned m = tileindex_lookup(idx, z, (uint32_t)x, (uint32_t)y);

				for (unsigned f = 0; f < FMT__COUNT; f++)
					if (m & (1u << f))
						printf("%u/%llu/%llu.%s\n", z,
						       (unsigned long long)x, (unsigned long long)y,
						       tk_fmt_ext((enum tile_fmt)f));
			}
	}
}

static int dump(const char *file, bool tiles)
{
	static const char *const kinds[] = {"bitmap", "present", "absent"};
	const struct tileindex_grid *g;
	struct tileindex *idx = NULL;
	struct tileindex_plane pl;
	char why[MKINDEX_WHY_MAX];
	struct buf b;
	enum ap_err e;

	buf_init(&b, TILEINDEX_MAX_BYTES);
	why[0] = '\0';
	if ((e = read_file(file, &b)) ||
	    (e = tileindex_decode(b.data, b.len, &idx, why, sizeof(why)))) {
		fprintf(stderr, "mkindex: %s: %s\n", file,
			why[0] ? why : e == AP_ERR_TOO_LARGE ? "larger than TILEINDEX_MAX_BYTES" :
			strerror(errno));
		buf_free(&b);
		return 1;
	}
	g = tileindex_grid(idx);
	printf("dataset %u, format version %d, %zu bytes, %zu in memory\n"
	       "grid: zoom %u..%u, tile %u, image %llu x %llu\nupdated_at: \"%s\"\n",
	       g->dataset, TILEINDEX_VERSION, b.len, tileindex_bytes(idx), g->min_zoom,
	       g->max_zoom, g->tile_size, (unsigned long long)g->width,
	       (unsigned long long)g->height, tileindex_updated_at(idx));
	printf("%-3s %-5s %-12s %-8s %10s %9s\n", "z", "fmt", "grid", "kind", "present", "bytes");
	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++)
		for (unsigned f = 0; f < FMT__COUNT; f++)
			if (tileindex_plane(idx, z, (enum tile_fmt)f, &pl))
				printf("%-3u %-5s %5llux%-6llu %-8s %10llu %9zu\n", z,
				       tk_fmt_ext((enum tile_fmt)f), (unsigned long long)pl.cols,
				       (unsigned long long)pl.rows, kinds[pl.kind],
				       (unsigned long long)pl.present, pl.bytes);
	if (tiles)
		dump_tiles(idx);
	tileindex_free(idx);
	buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	const char *root = getenv("LOCAL_STORAGE_DIR");
	bool do_dump = false, tiles = false;
	int i, rc = 0;
	uint64_t id;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(USAGE, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--dump")) {
			do_dump = true;
		} else if (!strcmp(argv[i], "--tiles")) {
			tiles = true;
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			root = argv[++i];
		} else {
			return usage("unknown option or --dir without a value");
		}
	}
	if (do_dump)
		return i + 1 == argc ? dump(argv[i], tiles) : usage("--dump takes one FILE");
	if (tiles)
		return usage("--tiles goes with --dump");
	if (i == argc)
		return usage(NULL);
	if (!root || !root[0])
		return usage("no --dir and no LOCAL_STORAGE_DIR");
	for (; i < argc; i++) {
		if (dec_parse_u64(argv[i], strlen(argv[i]), DATASET_ID_MAX, 0, &id))
			return usage("ID must be a dataset id (0..2147483647)");
		rc |= build(root, (uint32_t)id);
	}
	return rc;
}
