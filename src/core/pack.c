/*
 * pack.c: pack writer and readers; see pack.h and docs/FORMAT.md, "Packs".
 *
 * The writer keeps the pack's bytes in one buffer (a pack is 16 MiB by
 * default) and an open-addressing set of the ids it holds, so that
 * pack_writer_has and the duplicate check cost O(1).
 */
#include "pack.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "bytes.h"
#include "compress.h"
#include "keys.h"

static const uint8_t pack_magic[8] = { 'A', 'R', 'C', 'A', 'P', 'A', 'C', 'K' };
static const uint8_t end_magic[8] = { 'A', 'R', 'C', 'A', 'P', 'E', 'N', 'D' };

enum { PACK_VERSION = 1, TOC_HEAD_LEN = 8 };

struct pack_writer {
	const struct keys *k;
	int level;
	struct compress_ctx *z; /* NULL for a keyless writer */
	struct buf data; /* header and sealed objects */
	struct pack_entry *ents;
	size_t n, cap;
	uint32_t *slots; /* 1 + index into ents, 0 = empty; power-of-two size */
	size_t nslots;
};

static size_t slot_of(const struct objid *id, size_t nslots)
{
	/* Ids are keyed hashes: their first bytes are uniform already. */
	return (size_t)le64_get(id->b) & (nslots - 1);
}

static int set_grow(struct pack_writer *w, struct err *e)
{
	size_t ns = w->nslots ? w->nslots * 2 : 64;
	uint32_t *s = calloc(ns, sizeof(*s));

	if (s == NULL)
		return err_oom(e);
	for (size_t i = 0; i < w->n; i++) {
		size_t j = slot_of(&w->ents[i].id, ns);

		while (s[j])
			j = (j + 1) & (ns - 1);
		s[j] = (uint32_t)(i + 1);
	}
	free(w->slots);
	w->slots = s;
	w->nslots = ns;
	return 0;
}

bool pack_writer_has(const struct pack_writer *w, const struct objid *id)
{
	if (w->nslots == 0)
		return false;
	for (size_t j = slot_of(id, w->nslots); w->slots[j]; j = (j + 1) & (w->nslots - 1))
		if (objid_cmp(&w->ents[w->slots[j] - 1].id, id) == 0)
			return true;
	return false;
}

static void writer_start(struct pack_writer *w)
{
	buf_reset(&w->data);
	w->n = 0;
	if (w->slots)
		memset(w->slots, 0, w->nslots * sizeof(*w->slots));
}

struct pack_writer *pack_writer_new(const struct keys *k, int level, struct err *e)
{
	struct pack_writer *w;

	if (k != NULL && (level < COMPRESS_LEVEL_NONE || level > COMPRESS_LEVEL_MAX)) {
		err_set(e, ERR_INVALID, "compression level %d out of range (1 to %d, or 0 for none)",
			level, COMPRESS_LEVEL_MAX);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_oom(e);
		return NULL;
	}
	w->k = k;
	w->level = level;
	if (k != NULL && (w->z = compress_ctx_new(e)) == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void pack_writer_free(struct pack_writer *w)
{
	if (w == NULL)
		return;
	compress_ctx_free(w->z);
	buf_free(&w->data);
	free(w->ents);
	free(w->slots);
	free(w);
}

size_t pack_writer_size(const struct pack_writer *w)
{
	return w->data.len;
}

size_t pack_writer_count(const struct pack_writer *w)
{
	return w->n;
}

const struct pack_entry *pack_writer_entries(const struct pack_writer *w)
{
	return w->ents;
}

/* Make room for one more entry of ID and write the header on the first. */
static int writer_prepare(struct pack_writer *w, const struct objid *id, struct err *e)
{
	char hex[OBJID_HEX_LEN + 1];

	if (pack_writer_has(w, id)) {
		objid_to_hex(id, hex);
		return err_set(e, ERR_INVALID, "object %.16s is already in this pack", hex);
	}
	if (w->n >= PACK_MAX_OBJECTS)
		return err_set(e, ERR_TOO_LARGE, "a pack holds at most %u objects", PACK_MAX_OBJECTS);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct pack_entry *p = realloc(w->ents, cap * sizeof(*p));

		if (p == NULL)
			return err_oom(e);
		w->ents = p;
		w->cap = cap;
	}
	if ((w->n + 1) * 2 > w->nslots && set_grow(w, e) != 0)
		return -1;
	if (w->data.len == 0) {
		uint8_t *h = buf_extend(&w->data, PACK_HEADER_LEN, e);

		if (h == NULL)
			return -1;
		memcpy(h, pack_magic, sizeof(pack_magic));
		h[8] = PACK_VERSION;
	}
	return 0;
}

/* Record the object just appended at OFFSET. */
static int writer_commit(struct pack_writer *w, const struct objid *id, uint8_t kind,
			 size_t offset, struct err *e)
{
	size_t len = w->data.len - offset, j;
	/* The size the finished pack would have with this object, so that a
	 * writer never makes a pack the readers refuse. */
	uint64_t total = (uint64_t)w->data.len + TOC_HEAD_LEN +
			 (uint64_t)(w->n + 1) * PACK_ENTRY_LEN + PACK_TRAILER_LEN;

	if (len > UINT32_MAX || total > PACK_MAX_BYTES) {
		w->data.len = offset;
		return err_set(e, ERR_TOO_LARGE, "pack would exceed %llu bytes",
			       (unsigned long long)PACK_MAX_BYTES);
	}
	w->ents[w->n].id = *id;
	w->ents[w->n].kind = kind;
	w->ents[w->n].offset = offset;
	w->ents[w->n].length = (uint32_t)len;
	for (j = slot_of(id, w->nslots); w->slots[j]; j = (j + 1) & (w->nslots - 1))
		;
	w->slots[j] = (uint32_t)(++w->n);
	return 0;
}

int pack_writer_add(struct pack_writer *w, enum object_kind kind, const struct objid *id,
		    const uint8_t *plain, size_t len, struct err *e)
{
	size_t off;

	if (w->k == NULL)
		return err_set(e, ERR_INVALID, "a keyless pack writer cannot seal objects");
	if (writer_prepare(w, id, e) != 0)
		return -1;
	off = w->data.len;
	if (object_seal_ctx(w->z, w->k, kind, id, plain, len, w->level, &w->data, e) != 0)
		return -1;
	return writer_commit(w, id, (uint8_t)kind, off, e);
}

int pack_writer_add_sealed(struct pack_writer *w, const struct pack_entry *src,
			   const uint8_t *sealed, struct err *e)
{
	size_t off;

	if (src->kind < OBJECT_DATA || src->kind > OBJECT_META)
		return err_set(e, ERR_INVALID, "unknown object kind %u", src->kind);
	if (src->length < OBJECT_OVERHEAD)
		return err_set(e, ERR_INVALID, "sealed object of %u bytes is too short", src->length);
	if (writer_prepare(w, &src->id, e) != 0)
		return -1;
	off = w->data.len;
	if (buf_append(&w->data, sealed, src->length, e) != 0)
		return -1;
	return writer_commit(w, &src->id, src->kind, off, e);
}

void pack_id_compute(const uint8_t *pack, size_t len, uint8_t pack_id[PACK_ID_LEN])
{
	SHA256(pack, len, pack_id);
}

int pack_writer_finish(struct pack_writer *w, struct buf *out, uint8_t pack_id[PACK_ID_LEN],
		       struct err *e)
{
	struct buf *d = &w->data;
	size_t toc_off = d->len, start = out->len;
	uint8_t *t;

	if (w->n == 0)
		return err_set(e, ERR_INVALID, "a pack needs at least one object");
	if (buf_append_le32(d, (uint32_t)w->n, e) != 0 || buf_append_le32(d, 0, e) != 0)
		goto fail;
	for (size_t i = 0; i < w->n; i++) {
		const struct pack_entry *p = &w->ents[i];

		if (buf_append(d, p->id.b, OBJID_LEN, e) != 0 || buf_append_u8(d, p->kind, e) != 0 ||
		    buf_extend(d, 3, e) == NULL || buf_append_le32(d, p->length, e) != 0 ||
		    buf_append_le64(d, p->offset, e) != 0)
			goto fail;
	}
	if ((t = buf_extend(d, PACK_TRAILER_LEN, e)) == NULL)
		goto fail;
	le64_put(t, toc_off);
	le32_put(t + 8, (uint32_t)(d->len - PACK_TRAILER_LEN - toc_off));
	SHA256(d->data + toc_off, d->len - PACK_TRAILER_LEN - toc_off, t + 16);
	memcpy(t + 48, end_magic, sizeof(end_magic));
	if (out->len == 0) {
		/* Hand the bytes over rather than copy them: a pack is 16 MiB. */
		struct buf spare = *out;

		*out = *d;
		*d = spare;
	} else if (buf_append(out, d->data, d->len, e) != 0) {
		goto fail;
	}
	pack_id_compute(out->data + start, out->len - start, pack_id);
	writer_start(w);
	return 0;
fail:
	d->len = toc_off;
	return -1;
}

int pack_trailer_parse(const uint8_t tail[PACK_TRAILER_LEN], uint64_t pack_len,
		       struct pack_trailer *t, struct err *e)
{
	uint64_t end;

	if (pack_len < PACK_HEADER_LEN + TOC_HEAD_LEN + PACK_TRAILER_LEN)
		return err_set(e, ERR_CORRUPT, "pack of %llu bytes is too short",
			       (unsigned long long)pack_len);
	if (pack_len > PACK_MAX_BYTES)
		return err_set(e, ERR_CORRUPT, "pack of %llu bytes is over the limit",
			       (unsigned long long)pack_len);
	if (memcmp(tail + 48, end_magic, sizeof(end_magic)) != 0)
		return err_set(e, ERR_CORRUPT, "pack trailer has no end mark: the pack is "
			       "truncated or damaged");
	t->toc_offset = le64_get(tail);
	t->toc_length = le32_get(tail + 8);
	if (le32_get(tail + 12) != 0)
		return err_set(e, ERR_CORRUPT, "pack trailer has non-zero reserved bytes");
	memcpy(t->toc_hash, tail + 16, 32);
	end = pack_len - PACK_TRAILER_LEN;
	if (t->toc_offset < PACK_HEADER_LEN || t->toc_offset > end ||
	    t->toc_length != end - t->toc_offset)
		return err_set(e, ERR_CORRUPT,
			       "pack trailer places the table at %llu+%u in a pack of %llu bytes",
			       (unsigned long long)t->toc_offset, t->toc_length,
			       (unsigned long long)pack_len);
	return 0;
}

static int cmp_ids(const void *a, const void *b)
{
	return objid_cmp(a, b);
}

int pack_toc_decode(const uint8_t *toc, size_t len, const struct pack_trailer *t,
		    struct pack_entry **entries, size_t *n, struct err *e)
{
	uint8_t hash[32];
	struct rd r = rd_make(toc, len);
	struct pack_entry *ents = NULL;
	struct objid *ids = NULL;
	uint32_t count, reserved;
	uint64_t next = PACK_HEADER_LEN;
	int rc = -1;

	if (len != t->toc_length)
		return err_set(e, ERR_CORRUPT, "pack table is %zu bytes, the trailer says %u",
			       len, t->toc_length);
	SHA256(toc, len, hash);
	if (memcmp(hash, t->toc_hash, sizeof(hash)) != 0)
		return err_set(e, ERR_CORRUPT, "pack table does not match its hash: damaged");
	if (rd_le32(&r, &count) != 0 || rd_le32(&r, &reserved) != 0 || reserved != 0)
		return err_set(e, ERR_CORRUPT, "pack table header is malformed");
	if (count == 0 || count > PACK_MAX_OBJECTS ||
	    (uint64_t)count * PACK_ENTRY_LEN != rd_left(&r))
		return err_set(e, ERR_CORRUPT, "pack table claims %u objects in %zu bytes",
			       count, rd_left(&r));
	if ((ents = calloc(count, sizeof(*ents))) == NULL || (ids = calloc(count, sizeof(*ids))) == NULL) {
		err_oom(e);
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct pack_entry *p = &ents[i];
		const uint8_t *res = NULL;

		/* The length was checked above; the reads fail only on a bug. */
		if (rd_copy(&r, p->id.b, OBJID_LEN) || rd_u8(&r, &p->kind) || rd_bytes(&r, 3, &res) ||
		    rd_le32(&r, &p->length) || rd_le64(&r, &p->offset)) {
			err_set(e, ERR_CORRUPT, "pack table entry %u is truncated", i);
			goto out;
		}
		if (p->kind < OBJECT_DATA || p->kind > OBJECT_META || res[0] || res[1] || res[2]) {
			err_set(e, ERR_CORRUPT, "pack table entry %u has a bad kind or reserved bytes", i);
			goto out;
		}
		/* Invariant: objects lie back to back from the header to the table. */
		if (p->offset != next || p->length < OBJECT_OVERHEAD ||
		    p->length > t->toc_offset - next) {
			err_set(e, ERR_CORRUPT, "pack table entry %u (offset %llu, length %u) "
				"leaves a gap or overlaps", i, (unsigned long long)p->offset, p->length);
			goto out;
		}
		next += p->length;
		ids[i] = p->id;
	}
	if (next != t->toc_offset) {
		err_set(e, ERR_CORRUPT, "pack objects end at %llu but the table starts at %llu",
			(unsigned long long)next, (unsigned long long)t->toc_offset);
		goto out;
	}
	qsort(ids, count, sizeof(*ids), cmp_ids);
	for (uint32_t i = 1; i < count; i++) {
		if (objid_cmp(&ids[i - 1], &ids[i]) == 0) {
			err_set(e, ERR_CORRUPT, "pack table lists an object twice");
			goto out;
		}
	}
	*entries = ents;
	*n = count;
	ents = NULL;
	rc = 0;
out:
	free(ids);
	free(ents);
	return rc;
}

int pack_toc_read(const uint8_t *pack, size_t len, struct pack_entry **entries, size_t *n,
		  struct err *e)
{
	struct pack_trailer t;

	if (len < PACK_HEADER_LEN + TOC_HEAD_LEN + PACK_TRAILER_LEN)
		return err_set(e, ERR_CORRUPT, "pack of %zu bytes is too short", len);
	if (memcmp(pack, pack_magic, sizeof(pack_magic)) != 0)
		return err_set(e, ERR_CORRUPT, "not an arca pack (bad magic)");
	if (pack[8] != PACK_VERSION)
		return err_set(e, pack[8] > PACK_VERSION ? ERR_UNSUPPORTED : ERR_CORRUPT,
			       "pack format version %u; this build reads version %d%s", pack[8],
			       PACK_VERSION, pack[8] > PACK_VERSION ? ": update arca" : "");
	for (size_t i = 9; i < PACK_HEADER_LEN; i++)
		if (pack[i] != 0)
			return err_set(e, ERR_CORRUPT, "pack header has non-zero reserved bytes");
	if (pack_trailer_parse(pack + len - PACK_TRAILER_LEN, len, &t, e) != 0)
		return -1;
	return pack_toc_decode(pack + t.toc_offset, t.toc_length, &t, entries, n, e);
}

int pack_object_read(const struct keys *k, const uint8_t *pack, size_t len,
		     const struct pack_entry *ent, struct buf *out, struct err *e)
{
	enum object_kind kind;
	size_t start = out->len;

	if (ent->offset < PACK_HEADER_LEN || ent->offset > len || ent->length > len - ent->offset)
		return err_set(e, ERR_CORRUPT, "object at %llu+%u lies outside the pack of %zu bytes",
			       (unsigned long long)ent->offset, ent->length, len);
	if (object_open(k, &ent->id, pack + ent->offset, ent->length, &kind, out, e) != 0)
		return -1;
	if (kind != ent->kind) {
		if (out->len > start)
			memset(out->data + start, 0, out->len - start);
		out->len = start;
		return err_set(e, ERR_CORRUPT, "pack table says kind %u but the object is kind %d",
			       ent->kind, (int)kind);
	}
	return 0;
}
