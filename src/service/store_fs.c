/*
 * store_fs.c: a store in a local folder; see store.h.
 *
 * Layout: ROOT/packs/<first two hex digits>/<64 hex digits>, and ROOT/tmp/
 * for uploads in progress. Why the fan-out: a million packs (16 TiB at the
 * default size) stay under 4,000 names per folder.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
	char root[PATH_MAX];
	char tmp[PATH_MAX];
};

static int mkdir_one(const char *p, struct err *e)
{
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return err_errno(e, "create folder %s", p);
	return 0;
}

static int valid_id(const char *id)
{
	if (strlen(id) != 64)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

struct store *store_fs_open(const char *root, struct err *e)
{
	struct store *s = calloc(1, sizeof(*s));
	char packs[PATH_MAX];

	if (s == NULL) {
		err_oom(e);
		return NULL;
	}
	if (snprintf(s->root, sizeof(s->root), "%s", root) >= (int)sizeof(s->root) ||
	    snprintf(s->tmp, sizeof(s->tmp), "%s/tmp", root) >= (int)sizeof(s->tmp) ||
	    snprintf(packs, sizeof(packs), "%s/packs", root) >= (int)sizeof(packs)) {
		err_set(e, ERR_TOO_LARGE, "store path %s is too long", root);
		free(s);
		return NULL;
	}
	if (mkdir_one(root, e) || mkdir_one(s->tmp, e) || mkdir_one(packs, e)) {
		free(s);
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
{
	free(s);
}

const char *store_tmp_dir(const struct store *s)
{
	return s->tmp;
}

static int pack_path(const struct store *s, const char *id, char *dir, char *path, struct err *e)
{
	if (!valid_id(id))
		return err_set(e, ERR_INVALID, "pack id must be 64 lowercase hex digits");
	if (snprintf(dir, PATH_MAX, "%s/packs/%.2s", s->root, id) >= PATH_MAX ||
	    snprintf(path, PATH_MAX, "%s/%s", dir, id) >= PATH_MAX)
		return err_set(e, ERR_TOO_LARGE, "store path too long");
	return 0;
}

/* Copy SRC to a temporary file in the store, fsync it, rename it to DST. */
static int copy_into(struct store *s, const char *src, const char *dst, struct err *e)
{
	char tmp[PATH_MAX], buf[1 << 16];
	int in = -1, out = -1, rc = -1;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s/copy.XXXXXX", s->tmp) >= (int)sizeof(tmp))
		return err_set(e, ERR_TOO_LARGE, "store path too long");
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || (out = mkostemp(tmp, O_CLOEXEC)) < 0) {
		err_errno(e, "copy %s", src);
		goto done;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (n != 0 || fsync(out) != 0 || rename(tmp, dst) != 0) {
		err_errno(e, "copy %s into the store", src);
		unlink(tmp);
		goto done;
	}
	rc = 0;
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int store_put_file(struct store *s, const char *id, const char *tmp_path, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd;

	if (pack_path(s, id, dir, path, e) != 0 || mkdir_one(dir, e) != 0)
		return -1;
	if (stat(path, &st) == 0) {
		unlink(tmp_path); /* content-addressed: the same bytes are there */
		return 0;
	}
	if ((fd = open(tmp_path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_errno(e, "open %s", tmp_path);
	if (fsync(fd) != 0) {
		close(fd);
		return err_errno(e, "fsync %s", tmp_path);
	}
	close(fd);
	if (rename(tmp_path, path) != 0) {
		if (errno != EXDEV)
			return err_errno(e, "store pack %.16s", id);
		/* Another file system: copy into our tmp/, then rename there. */
		if (copy_into(s, tmp_path, path, e) != 0)
			return -1;
		unlink(tmp_path);
	}
	if (fsync_dir(dir) != 0)
		return err_errno(e, "fsync %s", dir);
	return 0;
}

int store_remove(struct store *s, const char *id, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];

	if (pack_path(s, id, dir, path, e) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		return err_errno(e, "remove pack %.16s", id);
	if (fsync_dir(dir) != 0 && errno != ENOENT)
		return err_errno(e, "fsync %s", dir);
	return 0;
}

bool store_has(struct store *s, const char *id, uint64_t *size)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	if (pack_path(s, id, dir, path, NULL) != 0 || stat(path, &st) != 0)
		return false;
	if (size)
		*size = (uint64_t)st.st_size;
	return true;
}

int store_open(struct store *s, const char *id, uint64_t *size, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd;

	if (pack_path(s, id, dir, path, e) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND, "no pack %.16s in this store", id);
		return err_errno(e, "open pack %.16s", id);
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return err_errno(e, "stat pack %.16s", id);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int store_copy(struct store *from, struct store *to, const char *id, struct err *e)
{
	char sdir[PATH_MAX], src[PATH_MAX], ddir[PATH_MAX], dst[PATH_MAX];
	struct stat st;

	if (pack_path(from, id, sdir, src, e) != 0 || pack_path(to, id, ddir, dst, e) != 0 ||
	    mkdir_one(ddir, e) != 0)
		return -1;
	if (stat(dst, &st) == 0)
		return 0;
	if (copy_into(to, src, dst, e) != 0)
		return -1;
	if (fsync_dir(ddir) != 0)
		return err_errno(e, "fsync %s", ddir);
	return 0;
}
