/*
 * cachefile.c: the cache folder's formats. The magics end in their format
 * version ('1'); a file of another version is refused as such, so that the
 * message tells a newer agent's file from a damaged one.
 */
#include <string.h>

#include "bytes.h"
#include "cachefile.h"

const char cache_trees_magic[CACHE_MAGIC_LEN] = { 'A', 'R', 'C', 'A', 'T', 'R', 'C', '1' };
const char cache_ids_magic[CACHE_MAGIC_LEN] = { 'A', 'R', 'C', 'A', 'I', 'D', 'S', '1' };
const char cache_fidx_magic[CACHE_MAGIC_LEN] = { 'A', 'R', 'C', 'A', 'F', 'I', 'X', '1' };

/* Check a file's first bytes P[0..N) against MAGIC. 0 or -1 with E set. */
static int check_magic(const uint8_t *p, size_t n, const char magic[CACHE_MAGIC_LEN],
		       struct err *e)
{
	if (n < CACHE_MAGIC_LEN)
		return err_set(e, ERR_CORRUPT, "truncated: %zu bytes, shorter than its %d-byte "
			       "header", n, CACHE_MAGIC_LEN);
	if (memcmp(p, magic, CACHE_MAGIC_LEN - 1) == 0 && p[CACHE_MAGIC_LEN - 1] != '1')
		return err_set(e, ERR_UNSUPPORTED, "format version '%c' (0x%02x), this agent "
			       "reads version 1", p[7] >= 0x20 && p[7] < 0x7f ? p[7] : '?', p[7]);
	if (memcmp(p, magic, CACHE_MAGIC_LEN) != 0)
		return err_set(e, ERR_CORRUPT, "wrong magic (expected \"%.8s\")", magic);
	return 0;
}

void cache_trees_head(uint8_t head[CACHE_TREES_HEAD], const struct objid *id, uint32_t len)
{
	memcpy(head, id->b, OBJID_LEN);
	le32_put(head + OBJID_LEN, len);
}

int cache_trees_scan(cache_read_fn rd, void *arg, uint64_t size, uint64_t max,
		     struct idmap *at, uint64_t *end, struct err *e)
{
	uint8_t head[CACHE_TREES_HEAD] = { 0 };
	uint64_t off = CACHE_MAGIC_LEN;
	size_t got = size < CACHE_MAGIC_LEN ? (size_t)size : CACHE_MAGIC_LEN;
	bool added;

	*end = 0;
	if (size > max)
		return err_set(e, ERR_TOO_LARGE, "%llu bytes, over its bound of %llu",
			       (unsigned long long)size, (unsigned long long)max);
	if (got > 0 && rd(arg, 0, head, got) != 0)
		return err_set(e, ERR_IO, "cannot read its header");
	if (check_magic(head, got, cache_trees_magic, e))
		return -1;
	/* Invariant: OFF is the end of the last whole record, OFF <= SIZE. */
	while (size - off >= sizeof(head)) {
		uint64_t len, *v;

		if (rd(arg, off, head, sizeof(head)) != 0) {
			idmap_free(at);
			return err_set(e, ERR_IO, "cannot read the record at offset %llu",
				       (unsigned long long)off);
		}
		len = le32_get(head + OBJID_LEN);
		if (len > size - off - sizeof(head))
			break; /* torn */
		if ((v = idmap_put(at, (const struct objid *)head, &added)) == NULL) {
			idmap_free(at);
			return err_oom(e);
		}
		v[0] = off + sizeof(head);
		v[1] = len;
		off += sizeof(head) + len;
	}
	*end = off;
	return 0;
}

int cache_index_parse(const uint8_t *p, size_t n, const char magic[CACHE_MAGIC_LEN],
		      struct idmap *m, struct err *e)
{
	size_t rec = OBJID_LEN + m->vsize;
	bool added;

	if (check_magic(p, n, magic, e))
		return -1;
	if ((n - CACHE_MAGIC_LEN) % rec != 0)
		return err_set(e, ERR_CORRUPT, "%zu bytes after the header are not a whole number "
			       "of %zu-byte records (a torn write?)", n - CACHE_MAGIC_LEN, rec);
	if (idmap_reserve(m, m->n + (n - CACHE_MAGIC_LEN) / rec) != 0)
		return err_oom(e);
	for (size_t off = CACHE_MAGIC_LEN; off < n; off += rec) {
		void *v = idmap_put(m, (const struct objid *)(p + off), &added);

		if (v == NULL || !added) {
			idmap_free(m);
			if (v == NULL)
				return err_oom(e);
			return err_set(e, ERR_CORRUPT, "record %zu repeats an earlier key",
				       (off - CACHE_MAGIC_LEN) / rec + 1);
		}
		memcpy(v, p + off + OBJID_LEN, m->vsize);
	}
	return 0;
}

int cache_index_write(const struct idmap *m, const char magic[CACHE_MAGIC_LEN], size_t vsize,
		      struct buf *out, struct err *e)
{
	const struct objid *k;
	void *v;
	size_t i = 0;

	if (vsize > m->vsize)
		return err_set(e, ERR_INVALID, "records of %zu value bytes from a map of %zu", vsize,
			       m->vsize);
	if (buf_append(out, magic, CACHE_MAGIC_LEN, e) ||
	    buf_reserve(out, m->n * (OBJID_LEN + vsize), e))
		return -1;
	while (idmap_next(m, &i, &k, &v))
		if (buf_append(out, k->b, OBJID_LEN, e) || buf_append(out, v, vsize, e))
			return -1;
	return 0;
}
