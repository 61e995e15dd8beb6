/*
 * upload.c: resumable uploads in progress as files in one folder; see
 * upload.h. A file is named partial-<machine>-<pack id>, so a machine's
 * holdings are a prefix scan and no index can disagree with the files.
 * Appends hold flock(LOCK_EX) on the file while they check its length and
 * write, which is what makes the offset check and the append one step.
 */
#include "upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 128
#define UPATH (PATH_MAX + 260) /* the folder, a slash and a file name */
#define COPY_BUF (1u << 20)

struct uploads {
	char dir[PATH_MAX];
};

struct uploads *uploads_open(const char *dir, struct err *e)
{
	struct uploads *u = calloc(1, sizeof(*u));

	if (u == NULL) {
		err_oom(e);
		return NULL;
	}
	if (snprintf(u->dir, sizeof(u->dir), "%s", dir) >= (int)sizeof(u->dir) - NAME_MAX_LEN) {
		err_set(e, ERR_TOO_LARGE, "upload folder %s is too long", dir);
		free(u);
		return NULL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		err_errno(e, "create folder %s", dir);
		free(u);
		return NULL;
	}
	return u;
}

void uploads_close(struct uploads *u)
{
	free(u);
}

static void partial_path(const struct uploads *u, const char *machine, const char *id,
			 char out[UPATH])
{
	snprintf(out, UPATH, "%s/partial-%.32s-%.64s", u->dir, machine, id);
}

int uploads_held(struct uploads *u, const char *machine, uint64_t *held, struct err *e)
{
	char prefix[64], path[UPATH];
	DIR *d = opendir(u->dir);
	struct dirent *de;
	struct stat st;
	size_t n;

	*held = 0;
	if (d == NULL)
		return err_errno(e, "open the upload folder %s", u->dir);
	n = (size_t)snprintf(prefix, sizeof(prefix), "partial-%.32s-", machine);
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (strncmp(de->d_name, prefix, n) != 0 || strlen(de->d_name) > NAME_MAX_LEN)
			continue;
		snprintf(path, sizeof(path), "%s/%s", u->dir, de->d_name);
		/* A file gone meanwhile (stored, expired) holds nothing. */
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			*held += (uint64_t)st.st_size;
	}
	if (errno != 0) {
		err_errno(e, "read the upload folder %s", u->dir);
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

int uploads_received(struct uploads *u, const char *machine, const char *id, uint64_t *have,
		     struct err *e)
{
	char path[UPATH];
	struct stat st;

	partial_path(u, machine, id, path);
	*have = 0;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : err_errno(e, "stat the upload in progress");
	*have = (uint64_t)st.st_size;
	return 0;
}

/* Copy all LEN bytes of the file PIECE to the end of OUT, then fsync. */
static int append_file(int out, const char *piece, uint64_t len, struct err *e)
{
	int in = open(piece, O_RDONLY | O_CLOEXEC), rc = -1;
	uint8_t *buf = malloc(COPY_BUF);
	ssize_t r = 0;

	if (in < 0 || buf == NULL) {
		err_errno(e, "open the uploaded piece");
		goto out;
	}
	while (len > 0 && (r = read(in, buf, COPY_BUF)) > 0) {
		for (ssize_t w, done = 0; done < r; done += w)
			if ((w = write(out, buf + done, (size_t)(r - done))) <= 0) {
				err_errno(e, "append to the upload in progress");
				goto out;
			}
		len -= (uint64_t)r < len ? (uint64_t)r : len;
	}
	if (r < 0) {
		err_errno(e, "read the uploaded piece");
		goto out;
	}
	if (len != 0) {
		err_set(e, ERR_IO, "the uploaded piece is shorter than its length");
		goto out;
	}
	if (fsync(out) != 0) {
		err_errno(e, "fsync the upload in progress");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	if (in >= 0)
		close(in);
	return rc;
}

int uploads_append(struct uploads *u, const char *machine, const char *id, uint64_t off,
		   uint64_t total, const char *piece, uint64_t len, uint64_t *have,
		   struct err *e)
{
	char path[UPATH];
	struct stat st;
	int fd, rc = -1;

	partial_path(u, machine, id, path);
	*have = 0;
	/* Created only by a piece that starts it: a stray offset leaves nothing. */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (off == 0 ? O_CREAT : 0), 0600);
	if (fd < 0)
		return errno == ENOENT ? 1 : err_errno(e, "open the upload in progress");
	if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
		err_errno(e, "lock the upload in progress");
		goto out;
	}
	*have = (uint64_t)st.st_size;
	if (st.st_nlink == 0 || off != *have) {
		/* Expired or stored meanwhile (unlinked), or another offset. */
		*have = st.st_nlink ? *have : 0;
		rc = 1;
		goto out;
	}
	if (*have + len > total) {
		unlink(path);
		err_set(e, ERR_INVALID, "the pieces are longer than X-Arca-Length; start again");
		goto out;
	}
	if (append_file(fd, piece, len, e) != 0) {
		/* Cut back what part of the piece landed: the offset stays true. */
		if (ftruncate(fd, (off_t)*have) != 0)
			unlink(path);
		goto out;
	}
	*have += len;
	rc = 0;
out:
	close(fd); /* releases the lock */
	return rc;
}

int uploads_map(struct uploads *u, const char *machine, const char *id, const uint8_t **data,
		size_t *len, struct err *e)
{
	char path[UPATH];
	struct stat st;
	void *p;
	int fd;

	partial_path(u, machine, id, path);
	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? err_set(e, ERR_NOT_FOUND, "no upload in progress")
				       : err_errno(e, "open the upload in progress");
	if (fstat(fd, &st) != 0) {
		err_errno(e, "stat the upload in progress");
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return err_set(e, ERR_INVALID, "the pack is empty");
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return err_errno(e, "map the upload in progress");
	*data = p;
	*len = (size_t)st.st_size;
	return 0;
}

void uploads_unmap(const uint8_t *data, size_t len)
{
	if (data)
		munmap((void *)data, len);
}

void uploads_discard(struct uploads *u, const char *machine, const char *id)
{
	char path[UPATH];

	partial_path(u, machine, id, path);
	unlink(path);
}

int uploads_expire(struct uploads *u, time_t now, struct err *e)
{
	DIR *d = opendir(u->dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return err_errno(e, "open the upload folder %s", u->dir);
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		char path[UPATH];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", u->dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < now - UPLOAD_LEASE &&
		    unlink(path) == 0)
			n++;
	}
	if (errno != 0) {
		err_errno(e, "read the upload folder %s", u->dir);
		n = -1;
	}
	closedir(d);
	return n;
}
