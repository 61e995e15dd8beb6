/*
 * snapshot.c: a recovery point as a file system. The snapshot keeps only
 * the point's record and its decoded root folder; every other folder is
 * read when asked for (the tree cache makes that a local read), so an open
 * snapshot costs one folder's memory however large the point is.
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct snapshot {
	json_t *meta;      /* the point's record, or NULL */
	struct objid root; /* the root folder's tree id */
	struct tree *top;  /* the root folder, decoded */
};

struct snapshot *snapshot_open_root(struct repo *r, const struct objid *root, struct err *e)
{
	struct snapshot *sn = calloc(1, sizeof(*sn));

	if (sn == NULL) {
		err_oom(e);
		return NULL;
	}
	sn->root = *root;
	if ((sn->top = repo_tree(r, root, e)) == NULL) {
		free(sn);
		return NULL;
	}
	return sn;
}

struct snapshot *snapshot_open(struct repo *r, const char *meta_hex, struct err *e)
{
	json_t *meta = repo_meta(r, meta_hex, e);
	struct snapshot *sn = NULL;
	struct objid root;

	if (meta && objid_from_hex(json_string_value(json_object_get(meta, "root")), &root, e) == 0)
		sn = snapshot_open_root(r, &root, e);
	if (sn)
		sn->meta = meta;
	else
		json_decref(meta);
	return sn;
}

void snapshot_close(struct snapshot *sn)
{
	if (sn == NULL)
		return;
	json_decref(sn->meta);
	tree_free(sn->top);
	free(sn);
}

const json_t *snapshot_meta(const struct snapshot *sn)
{
	return sn->meta;
}

const struct objid *snapshot_root_id(const struct snapshot *sn)
{
	return &sn->root;
}

void snapshot_entry_free(struct snapshot_entry *out)
{
	tree_free(out->holder);
	out->holder = NULL;
	out->e = NULL;
}

int snapshot_lookup(const struct snapshot *sn, struct repo *r, const char *path,
		    struct snapshot_entry *out, struct err *e)
{
	const struct tree *t = sn->top;
	struct tree *held = NULL;
	char *copy = strdup(path), *save = NULL, *c, *next;

	out->e = NULL;
	out->holder = NULL;
	if (copy == NULL)
		return err_oom(e);
	for (c = strtok_r(copy, "/", &save); c; c = next) {
		const struct tree_entry *x = tree_find(t, c);

		next = strtok_r(NULL, "/", &save);
		if (x == NULL) {
			err_set(e, ERR_NOT_FOUND, "%s is not in this recovery point", path);
			goto fail;
		}
		if (next == NULL) {
			out->e = x;
			break;
		}
		if (x->type != TREE_DIR) {
			err_set(e, ERR_NOT_FOUND, "%s is not in this recovery point (%s is not a folder)",
				path, c);
			goto fail;
		}
		{
			struct tree *sub = repo_tree(r, &x->subtree, e);

			tree_free(held);
			if ((held = sub) == NULL)
				goto fail;
			t = held;
		}
	}
	out->holder = held;
	free(copy);
	return 0;
fail:
	free(copy);
	tree_free(held);
	return -1;
}

struct tree *snapshot_list(const struct snapshot *sn, struct repo *r,
			   const struct tree_entry *dir, struct err *e)
{
	if (dir == NULL)
		return repo_tree(r, &sn->root, e);
	if (dir->type != TREE_DIR) {
		err_set(e, ERR_INVALID, "%s is not a folder", dir->name);
		return NULL;
	}
	return repo_tree(r, &dir->subtree, e);
}

int snapshot_stream(const struct snapshot *sn, struct repo *r, const struct tree_entry *file,
		    repo_chunk_fn fn, void *arg, struct err *e)
{
	(void)sn;
	if (file->type != TREE_FILE)
		return err_set(e, ERR_INVALID, "%s is not a file", file->name);
	if (file->n_chunks == 0)
		return 0;
	return repo_read_chunks(r, file->chunks, file->n_chunks, fn, arg, e);
}

/* Copying the part of each chunk that falls in [WANT, WANT + LEN) of the
 * file's data (its extents laid end to end) into DST. */
struct copy {
	const struct tree_chunk *chunks; /* the ones asked for */
	uint64_t pos; /* data offset of the next chunk */
	uint64_t want, len;
	uint8_t *dst;
	struct err err;
	int failed;
};

static int copy_chunk(void *arg, size_t i, const uint8_t *p, size_t len, const struct err *e)
{
	struct copy *c = arg;
	uint64_t from = c->pos, to = c->pos + c->chunks[i].len;
	uint64_t lo = from > c->want ? from : c->want;
	uint64_t hi = to < c->want + c->len ? to : c->want + c->len;

	c->pos = to;
	if (p == NULL) {
		c->err = *e;
		c->failed = 1;
		return -1;
	}
	if (lo < hi && hi - from <= len)
		memcpy(c->dst + (lo - c->want), p + (lo - from), hi - lo);
	return 0;
}

/* Read bytes [WANT, WANT + LEN) of FILE's data into DST: only the chunks
 * that hold them. */
static int read_data(struct repo *r, const struct tree_entry *file, uint64_t want, uint64_t len,
		     uint8_t *dst, struct err *e)
{
	struct copy c = { file->chunks, 0, want, len, dst, { 0 }, 0 };
	size_t first = 0, end;
	uint64_t at;

	while (first < file->n_chunks && c.pos + file->chunks[first].len <= want)
		c.pos += file->chunks[first++].len;
	for (end = first, at = c.pos; end < file->n_chunks && at < want + len; end++)
		at += file->chunks[end].len;
	if (len == 0)
		return 0;
	if (first == end)
		return err_set(e, ERR_CORRUPT, "%s has less data than its size", file->name);
	c.chunks = file->chunks + first; /* FN numbers the chunks from FIRST */
	if (repo_read_chunks(r, file->chunks + first, end - first, copy_chunk, &c, e) != 0) {
		if (c.failed && e)
			*e = c.err;
		return -1;
	}
	return 0;
}

int snapshot_read(const struct snapshot *sn, struct repo *r, const struct tree_entry *file,
		  uint64_t off, uint8_t *buf, size_t len, size_t *got, struct err *e)
{
	uint64_t n, data = 0;

	(void)sn;
	*got = 0;
	if (file->type != TREE_FILE)
		return err_set(e, ERR_INVALID, "%s is not a file", file->name);
	if (off >= file->size)
		return 0;
	n = file->size - off < len ? file->size - off : len;
	if (!file->sparse) {
		if (read_data(r, file, off, n, buf, e))
			return -1;
		*got = (size_t)n;
		return 0;
	}
	/* Holes read as zeros; each extent's part comes from its data. */
	memset(buf, 0, (size_t)n);
	for (size_t i = 0; i < file->n_extents; i++) {
		const struct tree_extent *x = &file->extents[i];
		uint64_t lo = x->off > off ? x->off : off;
		uint64_t hi = x->off + x->len < off + n ? x->off + x->len : off + n;

		if (lo < hi && read_data(r, file, data + (lo - x->off), hi - lo, buf + (lo - off), e))
			return -1;
		data += x->len;
	}
	*got = (size_t)n;
	return 0;
}
