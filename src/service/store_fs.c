/*
 * store_fs.c: the store contract (store.h) on a local folder.
 *
 * Layout: ROOT/packs/<first two hex digits>/<64 hex digits>, and ROOT/tmp/
 * for puts in progress. Why the fan-out: a million packs (16 TiB at the
 * default size) stay under 4,000 names per folder. A put writes a new file
 * in tmp/, fsyncs it, renames it to its name and fsyncs the folder: the
 * rename is what makes a pack appear whole or not at all, and two puts of
 * the same id each rename their own whole copy over the other; a crash
 * mid-put leaves a file in tmp/ that the next open removes. An adopted
 * file (a complete upload) is fsynced and renamed into place the same way,
 * from wherever it is on the same file system. Reads use
 * pread on a descriptor of their own, so nothing here needs a lock.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#define IO_BUF (1u << 20)        /* bytes per read or write system call */
#define STALE_PUT (24 * 3600)    /* seconds: a put file this old was cut short */
#define WRITEBACK_EVERY (8u << 20) /* bytes a put hands to writeback at a time */

struct store_fs {
	struct store base; /* first: a struct store * points here */
	char root[PATH_MAX];
	char tmp[PATH_MAX];
	char packs[PATH_MAX];
};

static const struct store_ops fs_ops;

static struct store_fs *fs_of(struct store *s)
{
	return (struct store_fs *)s;
}

static int mkdir_one(const char *p, struct err *e)
{
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return err_errno(e, "create folder %s", p);
	return 0;
}

static int valid_id(const char *id)
{
	if (id == NULL || strlen(id) != 64)
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

/* Remove what puts cut short by a crash left in tmp/: files no put has
 * written to for a day (a put in progress writes every moment, and another
 * process may share the folder, so nothing younger is touched). */
static int sweep_tmp(const char *tmp, struct err *e)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	time_t old = time(NULL) - STALE_PUT;

	if (d == NULL)
		return err_errno(e, "open %s", tmp);
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		char path[PATH_MAX + 260];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_mtime < old)
			unlink(path);
	}
	if (errno != 0) {
		err_errno(e, "read %s", tmp);
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

struct store *store_fs_open(const char *root, struct err *e)
{
	struct store_fs *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		err_oom(e);
		return NULL;
	}
	s->base.ops = &fs_ops;
	if (snprintf(s->root, sizeof(s->root), "%s", root) >= (int)sizeof(s->root) ||
	    snprintf(s->tmp, sizeof(s->tmp), "%s/tmp", root) >= (int)sizeof(s->tmp) ||
	    snprintf(s->packs, sizeof(s->packs), "%s/packs", root) >= (int)sizeof(s->packs)) {
		err_set(e, ERR_TOO_LARGE, "store path %s is too long", root);
		free(s);
		return NULL;
	}
	if (mkdir_one(root, e) || mkdir_one(s->tmp, e) || mkdir_one(s->packs, e) ||
	    sweep_tmp(s->tmp, e)) {
		free(s);
		return NULL;
	}
	return &s->base;
}

static void fs_close(struct store *s)
{
	free(fs_of(s));
}

static int pack_path(const struct store_fs *s, const char *id, char *dir, char *path,
		     struct err *e)
{
	if (!valid_id(id))
		return err_set(e, ERR_INVALID, "pack id must be 64 lowercase hex digits");
	if (snprintf(dir, PATH_MAX, "%s/packs/%.2s", s->root, id) >= PATH_MAX ||
	    snprintf(path, PATH_MAX, "%s/%s", dir, id) >= PATH_MAX)
		return err_set(e, ERR_TOO_LARGE, "store path too long");
	return 0;
}

/* Make the fan-out folder DIR; a new one is made durable in packs/ first,
 * or a crash could take it, and the pack renamed into it, away. */
static int fanout_dir(const struct store_fs *s, const char *dir, struct err *e)
{
	if (mkdir(dir, 0700) != 0)
		return errno == EEXIST ? 0 : err_errno(e, "create folder %s", dir);
	if (fsync_dir(s->packs) != 0)
		return err_errno(e, "fsync %s", s->packs);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Pull all of BODY into the open file FD: exactly SIZE bytes, then fsync. */
static int fill(int fd, uint64_t size, struct store_reader *body, const char *id, struct err *e)
{
	uint8_t *buf = malloc(IO_BUF);
	uint64_t have = 0;
	size_t got;
	int rc = -1;

	if (buf == NULL)
		return err_oom(e);
	for (;;) {
		if (body->read(body->arg, buf, IO_BUF, &got, e) != 0)
			goto out;
		if (got == 0)
			break;
		if (got > size - have) {
			err_set(e, ERR_INVALID, "pack %.16s is longer than its %llu bytes", id,
				(unsigned long long)size);
			goto out;
		}
		if (write_all(fd, buf, got) != 0) {
			err_errno(e, "write pack %.16s", id);
			goto out;
		}
		/* Start writing back what is in, so the fsync at the end waits
		 * for the last piece rather than for the whole pack. */
		if ((have + got) / WRITEBACK_EVERY != have / WRITEBACK_EVERY)
			sync_file_range(fd, (off_t)(have / WRITEBACK_EVERY * WRITEBACK_EVERY),
					WRITEBACK_EVERY, SYNC_FILE_RANGE_WRITE);
		have += got;
	}
	if (have != size) {
		err_set(e, ERR_INVALID, "pack %.16s ended after %llu of its %llu bytes", id,
			(unsigned long long)have, (unsigned long long)size);
		goto out;
	}
	if (fsync(fd) != 0) {
		err_errno(e, "fsync pack %.16s", id);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Whether the file at PATH, of SIZE bytes, is whole: SIZE bytes that hash
 * to ID (a pack's id is its SHA-256). 1, 0, or -1 with E set. */
static int whole(const char *path, const char *id, uint64_t size, struct err *e)
{
	uint8_t *buf = malloc(IO_BUF), md[32];
	char hex[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	uint64_t seen = 0;
	ssize_t r = 0;

	if (buf == NULL || ctx == NULL || fd < 0 || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		err_errno(e, "check pack %.16s", id);
		goto out;
	}
	while ((r = read(fd, buf, IO_BUF)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && (seen += (uint64_t)r, EVP_DigestUpdate(ctx, buf, (size_t)r) != 1))
			break;
	if (r != 0 || EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
		err_errno(e, "check pack %.16s", id);
		goto out;
	}
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	rc = seen == size && strcmp(hex, id) == 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* Whether pack ID is stored at PATH whole already, so a put keeps it: 1;
 * 0 when it is absent or damaged (a put then writes it); -1 with E set. */
static int kept(const char *path, const char *id, uint64_t size, struct err *e)
{
	struct stat sb;

	if (stat(path, &sb) == 0)
		return whole(path, id, size, e);
	if (errno != ENOENT)
		return err_errno(e, "stat pack %.16s", id);
	return 0;
}

static int fs_put(struct store *st, const char *id, uint64_t size, struct store_reader *body,
		  struct err *e)
{
	struct store_fs *s = fs_of(st);
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int fd, w;

	if (pack_path(s, id, dir, path, e) != 0 || fanout_dir(s, dir, e) != 0)
		return -1;
	/* Content-addressed: a whole file there is the same bytes. A damaged
	 * one (cut short by a failing disk, bits flipped) is replaced below:
	 * a pack is put again only when the catalog does not list it (new,
	 * waiting for deletion, or forgotten as lost), so this read is rare. */
	if ((w = kept(path, id, size, e)) != 0)
		return w < 0 ? -1 : 0;
	if (snprintf(tmp, sizeof(tmp), "%s/put-%.16s.XXXXXX", s->tmp, id) >= (int)sizeof(tmp))
		return err_set(e, ERR_TOO_LARGE, "store path too long");
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return err_errno(e, "create a file in %s", s->tmp);
	if (fill(fd, size, body, id, e) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		err_errno(e, "store pack %.16s", id);
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(dir) != 0)
		return err_errno(e, "fsync %s", dir);
	return 0;
}

/*
 * Adopt: the file is fsynced where it is and renamed into place, so its
 * bytes are written once, not once by the upload and again by a put. The
 * rename is atomic like a put's; a file on another file system cannot be
 * renamed here (EXDEV), and the caller puts its bytes instead.
 */
static int fs_adopt(struct store *st, const char *id, uint64_t size, const char *path,
		    struct err *e)
{
	struct store_fs *s = fs_of(st);
	char dir[PATH_MAX], dest[PATH_MAX];
	struct stat sb, ds;
	int fd, w;

	if (pack_path(s, id, dir, dest, e) != 0 || fanout_dir(s, dir, e) != 0)
		return -1;
	/* Another file system: said before any fsync that would be wasted. */
	if (stat(dir, &ds) != 0)
		return err_errno(e, "stat %s", dir);
	if (stat(path, &sb) == 0 && sb.st_dev != ds.st_dev)
		return 1;
	if ((w = kept(dest, id, size, e)) != 0)
		return w < 0 ? -1 : 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_errno(e, "open %s", path);
	if (fstat(fd, &sb) != 0 || fsync(fd) != 0) {
		err_errno(e, "fsync pack %.16s", id);
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size)
		return err_set(e, ERR_INVALID, "pack %.16s: the file to adopt is not its %llu bytes",
			       id, (unsigned long long)size);
	if (rename(path, dest) != 0) {
		if (errno == EXDEV)
			return 1;
		return err_errno(e, "store pack %.16s", id);
	}
	if (fsync_dir(dir) != 0)
		return err_errno(e, "fsync %s", dir);
	return 0;
}

static int fs_get(struct store *st, const char *id, uint64_t off, uint64_t len,
		  struct store_writer *out, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t *buf = NULL;
	struct stat sb;
	int fd, rc = -1;

	if (pack_path(fs_of(st), id, dir, path, e) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND, "no pack %.16s in this store", id);
		return err_errno(e, "open pack %.16s", id);
	}
	if (fstat(fd, &sb) != 0) {
		err_errno(e, "stat pack %.16s", id);
		goto out;
	}
	if (off >= (uint64_t)sb.st_size)
		len = 0;
	else if (len > (uint64_t)sb.st_size - off)
		len = (uint64_t)sb.st_size - off;
	if (len && (buf = malloc(len < IO_BUF ? (size_t)len : IO_BUF)) == NULL) {
		err_oom(e);
		goto out;
	}
	while (len > 0) {
		size_t want = len < IO_BUF ? (size_t)len : IO_BUF;
		ssize_t r = pread(fd, buf, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* shorter than its size: never a silent cut */
			err_errno(e, "read pack %.16s", id);
			goto out;
		}
		if (out->write(out->arg, buf, (size_t)r, e) != 0)
			goto out;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int fs_stat(struct store *st, const char *id, uint64_t *size, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat sb;

	if (pack_path(fs_of(st), id, dir, path, e) != 0)
		return -1;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_errno(e, "stat pack %.16s", id);
	}
	if (size)
		*size = (uint64_t)sb.st_size;
	return 1;
}

/* Call FN for every pack in the fan-out folder DIR. */
static int list_dir(const char *dir, store_list_fn fn, void *arg, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : err_errno(e, "open %s", dir);
	for (errno = 0; rc == 0 && (de = readdir(d)) != NULL; errno = 0)
		if (valid_id(de->d_name))
			rc = fn(arg, de->d_name, e);
	if (rc == 0 && errno != 0)
		rc = err_errno(e, "read %s", dir);
	closedir(d);
	return rc;
}

static int fs_list(struct store *st, store_list_fn fn, void *arg, struct err *e)
{
	struct store_fs *s = fs_of(st);
	char dir[PATH_MAX];
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 256; i++) {
		if (snprintf(dir, sizeof(dir), "%s/packs/%c%c", s->root, hex[i >> 4],
			     hex[i & 15]) >= (int)sizeof(dir))
			return err_set(e, ERR_TOO_LARGE, "store path too long");
		if (list_dir(dir, fn, arg, e) != 0)
			return -1;
	}
	return 0;
}

static int fs_remove(struct store *st, const char *id, struct err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];

	if (pack_path(fs_of(st), id, dir, path, e) != 0)
		return -1;
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_errno(e, "remove pack %.16s", id);
	}
	if (fsync_dir(dir) != 0)
		return err_errno(e, "fsync %s", dir);
	return 0;
}

static const struct store_ops fs_ops = {
	.name = "fs",
	.put = fs_put,
	.adopt = fs_adopt,
	.get = fs_get,
	.stat = fs_stat,
	.list = fs_list,
	.remove = fs_remove,
	.close = fs_close,
};
