/*
 * tree.c: canonical encoding of directories; see tree.h and docs/FORMAT.md,
 * "Trees".
 *
 * One rule set serves both directions: entry_rules states every rule of an
 * entry, the encoder runs it before writing, and the decoder runs it on every
 * entry it reads. The decoder adds only what is about bytes: minimal
 * varints, flags that match the data, counts bounded by the input left (so
 * no allocation outgrows the input by more than a constant factor), names in
 * strictly increasing order, and no trailing bytes. So whatever decodes
 * re-encodes to the same bytes; tests/fuzz/fuzz_tree.c holds us to that.
 */
#include "tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

enum {
	F_USER = 1 << 0,
	F_GROUP = 1 << 1,
	F_TARGET = 1 << 2,
	F_LINK = 1 << 3,
	F_XATTRS = 1 << 4,
	F_ACL_ACCESS = 1 << 5,
	F_ACL_DEFAULT = 1 << 6,
	F_SPARSE = 1 << 7,
	F_DEVICE = 1 << 8,
	F_ALL = (1 << 9) - 1,
};

/* The fewest bytes each item can take, to bound a count by the input left:
 * an entry (FIFO, one-byte name, every number 0) is name 2, type 1, flags 1,
 * mode 1, uid 1, gid 1, three times 2 each, size 1; an xattr is a one-byte
 * name and an empty value; an ACL entry is tag and perm; an extent two
 * varints; a chunk an id and a varint. */
enum {
	MIN_ENTRY = 14,
	MIN_XATTR = 3,
	MIN_ACL = 2,
	MIN_EXTENT = 2,
	MIN_CHUNK = OBJID_LEN + 1,
};

#define NSEC_MAX 999999999u

/* ---- memory ---- */

struct tree *tree_new(struct err *e)
{
	struct tree *t = calloc(1, sizeof(*t));

	if (t == NULL)
		err_oom(e);
	else
		t->sorted = true;
	return t;
}

void tree_entry_clear(struct tree_entry *ent)
{
	free(ent->name);
	free(ent->user);
	free(ent->group);
	free(ent->target);
	for (size_t i = 0; ent->xattrs != NULL && i < ent->n_xattrs; i++) {
		free(ent->xattrs[i].name);
		free(ent->xattrs[i].value);
	}
	free(ent->xattrs);
	free(ent->acl_access.e);
	free(ent->acl_default.e);
	free(ent->extents);
	free(ent->chunks);
	memset(ent, 0, sizeof(*ent));
}

void tree_free(struct tree *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		tree_entry_clear(&t->e[i]);
	free(t->e);
	free(t);
}

static char *dup_str(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

/* A copy of N items of SIZE bytes; NULL for none. The caller checked N
 * against a bound far below SIZE_MAX / SIZE. */
static void *dup_mem(const void *p, size_t n, size_t size, int *fail)
{
	void *d;

	if (n == 0 || p == NULL)
		return NULL;
	if ((d = calloc(n, size)) == NULL) {
		*fail = 1;
		return NULL;
	}
	memcpy(d, p, n * size);
	return d;
}

/* Room for one more entry at t->e[t->n], zeroed; T->n is not changed. */
static struct tree_entry *grow(struct tree *t, struct err *e)
{
	if (t->n >= TREE_ENTRIES_MAX) {
		err_set(e, ERR_TOO_LARGE, "a folder holds at most %u entries; this one has more",
			TREE_ENTRIES_MAX);
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16, bytes;
		struct tree_entry *p;

		if (!size_mul(cap, sizeof(*p), &bytes) || (p = realloc(t->e, bytes)) == NULL) {
			err_oom(e);
			return NULL;
		}
		t->e = p;
		t->cap = cap;
	}
	memset(&t->e[t->n], 0, sizeof(t->e[t->n]));
	return &t->e[t->n];
}

int tree_add(struct tree *t, const struct tree_entry *src, struct err *e)
{
	struct tree_entry *d;
	int fail = 0;

	if (tree_entry_check(src, e) != 0 || (d = grow(t, e)) == NULL)
		return -1;
	*d = *src;
	d->name = dup_str(src->name, &fail);
	d->user = dup_str(src->user, &fail);
	d->group = dup_str(src->group, &fail);
	d->target = dup_str(src->target, &fail);
	d->xattrs = NULL;
	d->n_xattrs = 0;
	if (src->n_xattrs) {
		if ((d->xattrs = calloc(src->n_xattrs, sizeof(*d->xattrs))) == NULL)
			fail = 1;
		/* Invariant: d->n_xattrs counts the slots that may own memory. */
		for (size_t i = 0; !fail && i < src->n_xattrs; i++) {
			d->n_xattrs++;
			d->xattrs[i].name = dup_str(src->xattrs[i].name, &fail);
			d->xattrs[i].value = dup_mem(src->xattrs[i].value, src->xattrs[i].len, 1, &fail);
			d->xattrs[i].len = src->xattrs[i].len;
		}
	}
	d->acl_access.e = dup_mem(src->acl_access.e, src->acl_access.n, sizeof(*src->acl_access.e), &fail);
	d->acl_default.e = dup_mem(src->acl_default.e, src->acl_default.n, sizeof(*src->acl_default.e), &fail);
	d->extents = dup_mem(src->extents, src->n_extents, sizeof(*src->extents), &fail);
	d->chunks = dup_mem(src->chunks, src->n_chunks, sizeof(*src->chunks), &fail);
	if (fail) {
		tree_entry_clear(d);
		return err_oom(e);
	}
	t->n++;
	if (t->n > 1 && strcmp(t->e[t->n - 2].name, d->name) >= 0)
		t->sorted = false;
	return 0;
}

/* ---- rules ---- */

/* Write up to 64 bytes of NAME into OUT for a message, control bytes as '?'
 * (names are any bytes but '/' and NUL; a message goes to a terminal). */
static const char *shown(const char *name, char out[68])
{
	size_t i = 0;

	if (name == NULL)
		return "(no name)";
	for (; name[i] && i < 64; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	if (name[i])
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = 0;
	return out;
}

static int bad(struct err *e, const char *what)
{
	return err_set(e, ERR_INVALID, "%s", what);
}

static int big(struct err *e, const char *what)
{
	return err_set(e, ERR_TOO_LARGE, "%s", what);
}

/* 1..MAX bytes: 0; NULL or empty: -1; over MAX: -2. */
static int text_len(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || s[0] == 0)
		return -1;
	n = strnlen(s, max + 1);
	return n <= max ? 0 : -2;
}

static bool qualified(uint8_t tag)
{
	return tag == TREE_ACL_USER || tag == TREE_ACL_GROUP;
}

static int acl_rules(const struct tree_acl *a, bool access, const char *field, struct err *e)
{
	unsigned seen = 0;
	char msg[128];

	if (a->n > TREE_ACL_MAX) {
		snprintf(msg, sizeof(msg), "%s: %zu entries, over the limit of %u", field, a->n, TREE_ACL_MAX);
		return big(e, msg);
	}
	if (a->n > 0 && a->e == NULL) {
		snprintf(msg, sizeof(msg), "%s: %zu entries but no array", field, a->n);
		return bad(e, msg);
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct tree_acl_entry *x = &a->e[i];
		const char *why = NULL;

		if (x->tag != TREE_ACL_USER_OBJ && x->tag != TREE_ACL_USER && x->tag != TREE_ACL_GROUP_OBJ &&
		    x->tag != TREE_ACL_GROUP && x->tag != TREE_ACL_MASK && x->tag != TREE_ACL_OTHER)
			why = "unknown tag";
		else if (x->perm > 7)
			why = "permission has bits beyond rwx (7)";
		else if (!qualified(x->tag) && x->id != 0)
			why = "id on a tag that takes none";
		else if (i > 0 && (a->e[i - 1].tag > x->tag ||
				   (a->e[i - 1].tag == x->tag && a->e[i - 1].id >= x->id)))
			why = "entries not sorted by (tag, id), or repeated";
		if (why) {
			snprintf(msg, sizeof(msg), "%s entry %zu (tag %u): %s", field, i, x->tag, why);
			return bad(e, msg);
		}
		seen |= x->tag;
	}
	if (a->n == 0)
		return 0;
	if ((seen & (TREE_ACL_USER_OBJ | TREE_ACL_GROUP_OBJ | TREE_ACL_OTHER)) !=
	    (TREE_ACL_USER_OBJ | TREE_ACL_GROUP_OBJ | TREE_ACL_OTHER)) {
		snprintf(msg, sizeof(msg), "%s: needs one user_obj, group_obj and other entry", field);
		return bad(e, msg);
	}
	if ((seen & (TREE_ACL_USER | TREE_ACL_GROUP)) && !(seen & TREE_ACL_MASK)) {
		snprintf(msg, sizeof(msg), "%s: named user or group entries need a mask", field);
		return bad(e, msg);
	}
	if (access && a->n == 3) {
		snprintf(msg, sizeof(msg), "%s: only the base entries, which the mode holds; leave it out", field);
		return bad(e, msg);
	}
	return 0;
}

static int xattr_rules(const struct tree_entry *ent, struct err *e)
{
	char msg[128];

	if (ent->n_xattrs > TREE_XATTRS_MAX) {
		snprintf(msg, sizeof(msg), "xattrs: %zu, over the limit of %u", ent->n_xattrs, TREE_XATTRS_MAX);
		return big(e, msg);
	}
	if (ent->n_xattrs > 0 && ent->xattrs == NULL)
		return bad(e, "xattrs: a count but no array");
	for (size_t i = 0; i < ent->n_xattrs; i++) {
		const struct tree_xattr *x = &ent->xattrs[i];
		int r = text_len(x->name, TREE_XATTR_NAME_MAX);

		if (r != 0) {
			snprintf(msg, sizeof(msg), "xattr %zu: name must be 1 to %d bytes", i, TREE_XATTR_NAME_MAX);
			return r == -2 ? big(e, msg) : bad(e, msg);
		}
		if (x->len > TREE_XATTR_VALUE_MAX) {
			snprintf(msg, sizeof(msg), "xattr %zu: value of %zu bytes, over the limit of %d",
				 i, x->len, TREE_XATTR_VALUE_MAX);
			return big(e, msg);
		}
		if (x->len && x->value == NULL) {
			snprintf(msg, sizeof(msg), "xattr %zu: a length but no value", i);
			return bad(e, msg);
		}
		if (!strcmp(x->name, "system.posix_acl_access") || !strcmp(x->name, "system.posix_acl_default"))
			return bad(e, "xattrs: POSIX ACLs go in the ACL fields, not as xattrs");
		if (i > 0 && strcmp(ent->xattrs[i - 1].name, x->name) >= 0) {
			snprintf(msg, sizeof(msg), "xattr %zu: names not sorted, or repeated", i);
			return bad(e, msg);
		}
	}
	return 0;
}

/* Extents and chunks: the data and its content. */
static int content_rules(const struct tree_entry *ent, struct err *e)
{
	uint64_t data = 0, sum = 0;
	char msg[160];

	if (ent->type != TREE_FILE) {
		if (ent->sparse || ent->n_extents || ent->n_chunks)
			return bad(e, "content: only files have content chunks or extents");
		return 0;
	}
	if (ent->n_extents > TREE_EXTENTS_MAX) {
		snprintf(msg, sizeof(msg), "extents: %zu, over the limit of %u", ent->n_extents, TREE_EXTENTS_MAX);
		return big(e, msg);
	}
	if (ent->n_chunks > TREE_CHUNKS_MAX) {
		snprintf(msg, sizeof(msg), "chunks: %zu, over the limit of %u", ent->n_chunks, TREE_CHUNKS_MAX);
		return big(e, msg);
	}
	if ((ent->n_extents && ent->extents == NULL) || (ent->n_chunks && ent->chunks == NULL))
		return bad(e, "content: a count but no array");
	if (!ent->sparse && ent->n_extents)
		return bad(e, "extents: on a file not marked sparse");
	if (ent->sparse && ent->size == 0)
		return bad(e, "sparse: an empty file has no holes");
	/* Invariant: each extent ends within the size, and the next starts past
	 * it, so no sum below overflows and DATA <= size. */
	for (size_t i = 0; i < ent->n_extents; i++) {
		const struct tree_extent *x = &ent->extents[i];

		if (x->len == 0 || x->off > ent->size || x->len > ent->size - x->off) {
			snprintf(msg, sizeof(msg), "extent %zu: empty or past the end of the file", i);
			return bad(e, msg);
		}
		if (i > 0 && x->off <= ent->extents[i - 1].off + ent->extents[i - 1].len) {
			snprintf(msg, sizeof(msg), "extent %zu: not after the previous one with a hole between", i);
			return bad(e, msg);
		}
		data += x->len;
	}
	if (ent->sparse && data == ent->size)
		return bad(e, "sparse: extents cover the whole file; a file without holes is dense");
	if (!ent->sparse)
		data = ent->size;
	for (size_t i = 0; i < ent->n_chunks; i++) {
		if (ent->chunks[i].len == 0 || ent->chunks[i].len > TREE_CHUNK_LEN_MAX) {
			snprintf(msg, sizeof(msg), "chunk %zu: length %u not in 1..%u", i,
				 ent->chunks[i].len, TREE_CHUNK_LEN_MAX);
			return ent->chunks[i].len ? big(e, msg) : bad(e, msg);
		}
		sum += ent->chunks[i].len; /* at most 2^24 * 2^26: no overflow */
	}
	if (sum != data) {
		snprintf(msg, sizeof(msg), "chunks: lengths add up to %llu bytes, the file has %llu bytes of %s",
			 (unsigned long long)sum, (unsigned long long)data, ent->sparse ? "extents" : "data");
		return bad(e, msg);
	}
	return 0;
}

/* Every rule of one entry; the message names the field, not the entry. */
static int entry_rules(const struct tree_entry *ent, struct err *e)
{
	static const struct objid zero;
	const bool dir = ent->type == TREE_DIR, dev = ent->type == TREE_CHR || ent->type == TREE_BLK;
	int r;

	if ((r = text_len(ent->name, TREE_NAME_MAX)) != 0)
		return r == -2 ? big(e, "name: over 255 bytes") : bad(e, "name: empty");
	if (strchr(ent->name, '/') || !strcmp(ent->name, ".") || !strcmp(ent->name, ".."))
		return bad(e, "name: may not contain '/' or be '.' or '..'");
	if (ent->type < TREE_FILE || ent->type > TREE_SOCK)
		return bad(e, "type: unknown");
	if (ent->mode > 07777)
		return bad(e, "mode: bits beyond 07777 (the type is a field of its own)");
	if ((r = (ent->user ? text_len(ent->user, TREE_OWNER_MAX) : 0)) != 0)
		return r == -2 ? big(e, "owner name: over 255 bytes") : bad(e, "owner name: empty (leave it out)");
	if ((r = (ent->group ? text_len(ent->group, TREE_OWNER_MAX) : 0)) != 0)
		return r == -2 ? big(e, "group name: over 255 bytes") : bad(e, "group name: empty (leave it out)");
	if (ent->mtime.nsec > NSEC_MAX || ent->atime.nsec > NSEC_MAX || ent->ctime.nsec > NSEC_MAX)
		return bad(e, "time: nanoseconds must be below 1e9");
	if ((ent->type == TREE_SYMLINK) != (ent->target != NULL))
		return bad(e, "symlink target: a symlink needs one and only a symlink has one");
	if (ent->target && (r = text_len(ent->target, TREE_TARGET_MAX)) != 0)
		return r == -2 ? big(e, "symlink target: over 4096 bytes") : bad(e, "symlink target: empty");
	if ((ent->link_id != 0) != (ent->nlink != 0))
		return bad(e, "hard link: an id needs a link count and a link count an id");
	if (ent->link_id && (ent->nlink < 2 || dir))
		return bad(e, "hard link: needs a link count of 2 or more, and no folder has one");
	if (xattr_rules(ent, e) != 0)
		return -1;
	if (acl_rules(&ent->acl_access, true, "access ACL", e) != 0 ||
	    acl_rules(&ent->acl_default, false, "default ACL", e) != 0)
		return -1;
	if (ent->acl_default.n && !dir)
		return bad(e, "default ACL: only a folder has one");
	if (!dev && (ent->dev_major || ent->dev_minor))
		return bad(e, "device numbers: only devices have them");
	if (content_rules(ent, e) != 0)
		return -1;
	if (!dir && objid_cmp(&ent->subtree, &zero) != 0)
		return bad(e, "subtree: only a folder has one");
	return 0;
}

int tree_entry_check(const struct tree_entry *ent, struct err *e)
{
	char name[68];

	if (entry_rules(ent, e) != 0)
		return err_prefix(e, "tree entry '%s': ", shown(ent->name, name));
	return 0;
}

/* ---- encoding ---- */

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->name, ((const struct tree_entry *)b)->name);
}

static int cmp_entry_ptrs(const void *a, const void *b)
{
	return cmp_entries(*(const struct tree_entry *const *)a, *(const struct tree_entry *const *)b);
}

static int duplicate(struct err *e, const char *name)
{
	char s[68];

	return err_set(e, ERR_INVALID, "two tree entries are named '%s'", shown(name, s));
}

int tree_sort(struct tree *t, struct err *e)
{
	if (!t->sorted)
		qsort(t->e, t->n, sizeof(*t->e), cmp_entries);
	t->sorted = false;
	for (size_t i = 1; i < t->n; i++)
		if (strcmp(t->e[i - 1].name, t->e[i].name) == 0)
			return duplicate(e, t->e[i].name);
	t->sorted = true;
	return 0;
}

static int put_bytes(struct buf *b, const void *p, size_t n, struct err *e)
{
	if (buf_append_varint(b, n, e) != 0)
		return -1;
	return buf_append(b, p, n, e);
}

static int put_str(struct buf *b, const char *s, struct err *e)
{
	return put_bytes(b, s, strlen(s), e);
}

/* Why zigzag: times before 1970 stay short (-1 is one byte, not ten). */
static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t unzigzag(uint64_t z)
{
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

static int put_time(struct buf *b, const struct tree_time *t, struct err *e)
{
	if (buf_append_varint(b, zigzag(t->sec), e) != 0)
		return -1;
	return buf_append_varint(b, t->nsec, e);
}

static int put_acl(struct buf *b, const struct tree_acl *a, struct err *e)
{
	if (buf_append_varint(b, a->n, e) != 0)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		const struct tree_acl_entry *x = &a->e[i];

		if (buf_append_u8(b, x->tag, e) || buf_append_u8(b, x->perm, e))
			return -1;
		if (qualified(x->tag) && buf_append_varint(b, x->id, e))
			return -1;
	}
	return 0;
}

static unsigned flags_of(const struct tree_entry *x)
{
	return (x->user ? F_USER : 0) | (x->group ? F_GROUP : 0) | (x->target ? F_TARGET : 0) |
	       (x->link_id ? F_LINK : 0) | (x->n_xattrs ? F_XATTRS : 0) |
	       (x->acl_access.n ? F_ACL_ACCESS : 0) | (x->acl_default.n ? F_ACL_DEFAULT : 0) |
	       (x->sparse ? F_SPARSE : 0) |
	       (x->type == TREE_CHR || x->type == TREE_BLK ? F_DEVICE : 0);
}

/* Write one checked entry. The field order here is the format. */
static int put_entry(struct buf *b, const struct tree_entry *x, struct err *e)
{
	unsigned f = flags_of(x);

	if (put_str(b, x->name, e) || buf_append_u8(b, x->type, e) || buf_append_varint(b, f, e) ||
	    buf_append_varint(b, x->mode, e) || buf_append_varint(b, x->uid, e) ||
	    buf_append_varint(b, x->gid, e))
		return -1;
	if ((f & F_USER) && put_str(b, x->user, e))
		return -1;
	if ((f & F_GROUP) && put_str(b, x->group, e))
		return -1;
	if (put_time(b, &x->mtime, e) || put_time(b, &x->atime, e) || put_time(b, &x->ctime, e) ||
	    buf_append_varint(b, x->size, e))
		return -1;
	if ((f & F_TARGET) && put_str(b, x->target, e))
		return -1;
	if ((f & F_LINK) && (buf_append_varint(b, x->link_id, e) || buf_append_varint(b, x->nlink, e)))
		return -1;
	if (f & F_XATTRS) {
		if (buf_append_varint(b, x->n_xattrs, e))
			return -1;
		for (size_t i = 0; i < x->n_xattrs; i++)
			if (put_str(b, x->xattrs[i].name, e) ||
			    put_bytes(b, x->xattrs[i].value, x->xattrs[i].len, e))
				return -1;
	}
	if ((f & F_ACL_ACCESS) && put_acl(b, &x->acl_access, e))
		return -1;
	if ((f & F_ACL_DEFAULT) && put_acl(b, &x->acl_default, e))
		return -1;
	if (f & F_SPARSE) {
		if (buf_append_varint(b, x->n_extents, e))
			return -1;
		for (size_t i = 0; i < x->n_extents; i++)
			if (buf_append_varint(b, x->extents[i].off, e) ||
			    buf_append_varint(b, x->extents[i].len, e))
				return -1;
	}
	if ((f & F_DEVICE) && (buf_append_varint(b, x->dev_major, e) ||
			       buf_append_varint(b, x->dev_minor, e)))
		return -1;
	if (x->type == TREE_FILE) {
		if (buf_append_varint(b, x->n_chunks, e))
			return -1;
		for (size_t i = 0; i < x->n_chunks; i++)
			if (buf_append(b, x->chunks[i].id.b, OBJID_LEN, e) ||
			    buf_append_varint(b, x->chunks[i].len, e))
				return -1;
	} else if (x->type == TREE_DIR) {
		if (buf_append(b, x->subtree.b, OBJID_LEN, e))
			return -1;
	}
	return 0;
}

int tree_encode(const struct tree *t, struct buf *out, struct err *e)
{
	const struct tree_entry **order = NULL;
	size_t start = out->len, bytes;
	bool in_order = true;
	int rc = -1;

	if (t->n > TREE_ENTRIES_MAX)
		return err_set(e, ERR_TOO_LARGE, "a folder holds at most %u entries; this one has %zu",
			       TREE_ENTRIES_MAX, t->n);
	for (size_t i = 0; i < t->n; i++) {
		if (tree_entry_check(&t->e[i], e) != 0)
			return -1;
		if (i > 0 && strcmp(t->e[i - 1].name, t->e[i].name) >= 0)
			in_order = false;
	}
	/* Why a view: T stays const, and a scanner's tree in readdir order
	 * needs no second pass; sorting pointers moves 8 bytes, not 248. */
	if (!size_mul(t->n ? t->n : 1, sizeof(*order), &bytes) || (order = malloc(bytes)) == NULL)
		return err_oom(e);
	for (size_t i = 0; i < t->n; i++)
		order[i] = &t->e[i];
	if (!in_order) {
		qsort(order, t->n, sizeof(*order), cmp_entry_ptrs);
		for (size_t i = 1; i < t->n; i++)
			if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
				duplicate(e, order[i]->name);
				goto out;
			}
	}
	if (buf_append_u8(out, TREE_VERSION, e) || buf_append_varint(out, t->n, e))
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		if (put_entry(out, order[i], e) != 0)
			goto out;
		if (out->len - start > TREE_BYTES_MAX) {
			err_set(e, ERR_TOO_LARGE, "folder's tree passes %u bytes at entry %zu of %zu; "
				"it cannot be one object", TREE_BYTES_MAX, i, t->n);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		out->len = start;
	free(order);
	return rc;
}

/* ---- decoding ---- */

/*
 * The decoder's state: the cursor, the entry being read (its index, first
 * byte and name once read) for messages, and its own error record, so that
 * it can read codes back even when the caller passed no record.
 */
struct dec {
	struct rd r;
	struct err err;
	size_t entry, entry_off;
	const char *name;
	bool in_entry;
};

__attribute__((format(printf, 4, 5)))
static int fail_at(struct dec *d, enum err_code code, size_t off, const char *fmt, ...)
{
	char what[256], name[68];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!d->in_entry)
		return err_set(&d->err, code, "tree, byte %zu: %s", off, what);
	if (d->name == NULL)
		return err_set(&d->err, code, "tree entry %zu (at byte %zu), byte %zu: %s",
			       d->entry, d->entry_off, off, what);
	return err_set(&d->err, code, "tree entry %zu '%s' (at byte %zu), byte %zu: %s", d->entry,
		       shown(d->name, name), d->entry_off, off, what);
}

/* A varint in 0..MAX; past MAX is CODE (ERR_TOO_LARGE for a product bound,
 * ERR_CORRUPT for a value outside its field's domain). */
static int get_varint_code(struct dec *d, uint64_t *v, uint64_t max, enum err_code code,
			   const char *what)
{
	size_t off = d->r.off;

	if (rd_varint(&d->r, v) != 0)
		return fail_at(d, ERR_CORRUPT, off, "%s: truncated, not a minimal varint, or over 64 bits",
			       what);
	if (*v > max)
		return fail_at(d, code, off, "%s: %llu is over %llu", what, (unsigned long long)*v,
			       (unsigned long long)max);
	return 0;
}

static int get_varint(struct dec *d, uint64_t *v, uint64_t max, const char *what)
{
	return get_varint_code(d, v, max, ERR_CORRUPT, what);
}

static int get_u32(struct dec *d, uint32_t *v, uint32_t max, const char *what)
{
	uint64_t x;

	if (get_varint(d, &x, max, what) != 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* A count of MIN..MAX items of at least MINSIZE bytes each: bounded by the
 * input left, so what a count makes us allocate is paid for in input. */
static int get_count(struct dec *d, size_t *n, size_t min, size_t max, size_t minsize,
		     const char *what)
{
	size_t off = d->r.off;
	uint64_t v;

	if (get_varint_code(d, &v, max, ERR_TOO_LARGE, what) != 0)
		return -1;
	if (v < min)
		return fail_at(d, ERR_CORRUPT, off, "%s: %llu, but its flag says at least %zu",
			       what, (unsigned long long)v, min);
	if (v > rd_left(&d->r) / minsize)
		return fail_at(d, ERR_CORRUPT, off, "%s: %llu, more than the %zu bytes left can hold",
			       what, (unsigned long long)v, rd_left(&d->r));
	*n = (size_t)v;
	return 0;
}

/* A length-prefixed byte string of MIN..MAX bytes, as a NUL-terminated copy.
 * Text (TEXT true) may not contain NUL. */
static int get_bytes(struct dec *d, uint8_t **out, size_t *len, size_t min, size_t max,
		     bool text, const char *what)
{
	size_t off = d->r.off;
	uint64_t n;
	const uint8_t *p;

	if (get_varint_code(d, &n, max, ERR_TOO_LARGE, what) != 0)
		return -1;
	if (n < min)
		return fail_at(d, ERR_CORRUPT, off, "%s: empty", what);
	if (rd_bytes(&d->r, (size_t)n, &p) != 0)
		return fail_at(d, ERR_CORRUPT, off, "%s: %llu bytes, past the end of the tree", what,
			       (unsigned long long)n);
	if (text && memchr(p, 0, (size_t)n))
		return fail_at(d, ERR_CORRUPT, off, "%s: holds a NUL byte", what);
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return err_oom(&d->err);
	if (n)
		memcpy(*out, p, (size_t)n);
	(*out)[n] = 0;
	if (len)
		*len = (size_t)n;
	return 0;
}

static int get_str(struct dec *d, char **out, size_t max, const char *what)
{
	return get_bytes(d, (uint8_t **)out, NULL, 1, max, true, what);
}

static int get_time(struct dec *d, struct tree_time *t, const char *what)
{
	uint64_t z;

	if (get_varint(d, &z, UINT64_MAX, what) != 0)
		return -1;
	t->sec = unzigzag(z);
	return get_u32(d, &t->nsec, NSEC_MAX, "nanoseconds");
}

static int get_acl(struct dec *d, struct tree_acl *a, const char *what)
{
	char count[32];

	snprintf(count, sizeof(count), "%s count", what);
	if (get_count(d, &a->n, 1, TREE_ACL_MAX, MIN_ACL, count) != 0)
		return -1;
	if ((a->e = calloc(a->n, sizeof(*a->e))) == NULL)
		return err_oom(&d->err);
	for (size_t i = 0; i < a->n; i++) {
		struct tree_acl_entry *x = &a->e[i];
		size_t off = d->r.off;

		if (rd_u8(&d->r, &x->tag) || rd_u8(&d->r, &x->perm))
			return fail_at(d, ERR_CORRUPT, off, "%s entry %zu: truncated", what, i);
		if (qualified(x->tag) && get_u32(d, &x->id, UINT32_MAX, "ACL id"))
			return -1;
	}
	return 0;
}

static int get_xattrs(struct dec *d, struct tree_entry *x)
{
	if (get_count(d, &x->n_xattrs, 1, TREE_XATTRS_MAX, MIN_XATTR, "xattr count"))
		return -1;
	if ((x->xattrs = calloc(x->n_xattrs, sizeof(*x->xattrs))) == NULL) {
		x->n_xattrs = 0;
		return err_oom(&d->err);
	}
	for (size_t i = 0; i < x->n_xattrs; i++) {
		struct tree_xattr *a = &x->xattrs[i];

		if (get_str(d, &a->name, TREE_XATTR_NAME_MAX, "xattr name") ||
		    get_bytes(d, &a->value, &a->len, 0, TREE_XATTR_VALUE_MAX, false, "xattr value"))
			return -1;
		if (a->len == 0) { /* as tree_add keeps it: no buffer for no bytes */
			free(a->value);
			a->value = NULL;
		}
	}
	return 0;
}

/* Read one entry's bytes into X; the rules are checked after. */
static int get_entry(struct dec *d, struct tree_entry *x)
{
	size_t off;
	uint64_t f, len;

	if (get_str(d, &x->name, TREE_NAME_MAX, "name"))
		return -1;
	d->name = x->name;
	off = d->r.off;
	if (rd_u8(&d->r, &x->type))
		return fail_at(d, ERR_CORRUPT, off, "type: truncated");
	if (x->type < TREE_FILE || x->type > TREE_SOCK)
		return fail_at(d, ERR_CORRUPT, off, "type: %u is not a type this build knows", x->type);
	off = d->r.off;
	if (get_varint(d, &f, UINT64_MAX, "flags"))
		return -1;
	if (f & ~(uint64_t)F_ALL)
		return fail_at(d, ERR_CORRUPT, off, "flags: reserved bits set (0x%llx)",
			       (unsigned long long)(f & ~(uint64_t)F_ALL));
	if ((f & F_DEVICE) != (x->type == TREE_CHR || x->type == TREE_BLK ? (uint64_t)F_DEVICE : 0))
		return fail_at(d, ERR_CORRUPT, off, "flags: device bit must be set exactly on devices");
	if ((f & F_TARGET) != (x->type == TREE_SYMLINK ? (uint64_t)F_TARGET : 0))
		return fail_at(d, ERR_CORRUPT, off, "flags: target bit must be set exactly on symlinks");
	if (get_u32(d, &x->mode, 07777, "mode") || get_u32(d, &x->uid, UINT32_MAX, "uid") ||
	    get_u32(d, &x->gid, UINT32_MAX, "gid"))
		return -1;
	if ((f & F_USER) && get_str(d, &x->user, TREE_OWNER_MAX, "owner name"))
		return -1;
	if ((f & F_GROUP) && get_str(d, &x->group, TREE_OWNER_MAX, "group name"))
		return -1;
	if (get_time(d, &x->mtime, "mtime") || get_time(d, &x->atime, "atime") ||
	    get_time(d, &x->ctime, "ctime") || get_varint(d, &x->size, UINT64_MAX, "size"))
		return -1;
	if ((f & F_TARGET) && get_str(d, &x->target, TREE_TARGET_MAX, "symlink target"))
		return -1;
	if (f & F_LINK) {
		off = d->r.off;
		if (get_varint(d, &x->link_id, UINT64_MAX, "hard-link id") ||
		    get_u32(d, &x->nlink, UINT32_MAX, "link count"))
			return -1;
		if (x->link_id == 0)
			return fail_at(d, ERR_CORRUPT, off, "hard-link id: 0, but its flag is set");
	}
	if ((f & F_XATTRS) && get_xattrs(d, x))
		return -1;
	if ((f & F_ACL_ACCESS) && get_acl(d, &x->acl_access, "access ACL"))
		return -1;
	if ((f & F_ACL_DEFAULT) && get_acl(d, &x->acl_default, "default ACL"))
		return -1;
	if (f & F_SPARSE) {
		x->sparse = true;
		if (get_count(d, &x->n_extents, 0, TREE_EXTENTS_MAX, MIN_EXTENT, "extent count"))
			return -1;
		if (x->n_extents && (x->extents = calloc(x->n_extents, sizeof(*x->extents))) == NULL)
			return err_oom(&d->err);
		for (size_t i = 0; i < x->n_extents; i++)
			if (get_varint(d, &x->extents[i].off, UINT64_MAX, "extent offset") ||
			    get_varint(d, &x->extents[i].len, UINT64_MAX, "extent length"))
				return -1;
	}
	if ((f & F_DEVICE) && (get_u32(d, &x->dev_major, UINT32_MAX, "device major") ||
			       get_u32(d, &x->dev_minor, UINT32_MAX, "device minor")))
		return -1;
	if (x->type == TREE_FILE) {
		if (get_count(d, &x->n_chunks, 0, TREE_CHUNKS_MAX, MIN_CHUNK, "chunk count"))
			return -1;
		if (x->n_chunks && (x->chunks = calloc(x->n_chunks, sizeof(*x->chunks))) == NULL)
			return err_oom(&d->err);
		for (size_t i = 0; i < x->n_chunks; i++) {
			off = d->r.off;
			if (rd_copy(&d->r, x->chunks[i].id.b, OBJID_LEN))
				return fail_at(d, ERR_CORRUPT, off, "chunk %zu id: truncated", i);
			if (get_varint_code(d, &len, TREE_CHUNK_LEN_MAX, ERR_TOO_LARGE, "chunk length"))
				return -1;
			x->chunks[i].len = (uint32_t)len;
		}
	} else if (x->type == TREE_DIR) {
		off = d->r.off;
		if (rd_copy(&d->r, x->subtree.b, OBJID_LEN))
			return fail_at(d, ERR_CORRUPT, off, "subtree id: truncated");
	}
	return 0;
}

static struct tree *decode(struct dec *d)
{
	struct tree *t = NULL;
	uint8_t version;
	size_t n = 0;

	if (d->r.len > TREE_BYTES_MAX) {
		err_set(&d->err, ERR_TOO_LARGE, "tree of %zu bytes is over the limit of %u",
			d->r.len, TREE_BYTES_MAX);
		return NULL;
	}
	if (rd_u8(&d->r, &version) != 0) {
		err_set(&d->err, ERR_CORRUPT, "tree is empty: not even a version byte");
		return NULL;
	}
	if (version != TREE_VERSION) {
		err_set(&d->err, ERR_UNSUPPORTED, "tree format version %u; this build reads version %d%s",
			version, TREE_VERSION, version > TREE_VERSION ? ": update arca" : "");
		return NULL;
	}
	if (get_count(d, &n, 0, TREE_ENTRIES_MAX, MIN_ENTRY, "entry count") != 0 ||
	    (t = tree_new(&d->err)) == NULL)
		return NULL;
	for (d->entry = 0; d->entry < n; d->entry++) {
		struct tree_entry *x = grow(t, &d->err);

		if (x == NULL)
			goto fail;
		t->n++; /* owned by T from here, so a failure frees it */
		d->in_entry = true;
		d->entry_off = d->r.off;
		d->name = NULL;
		if (get_entry(d, x) != 0)
			goto fail;
		if (entry_rules(x, &d->err) != 0) {
			char name[68];

			err_prefix(&d->err, "tree entry %zu '%s' (bytes %zu to %zu): ", d->entry,
				   shown(x->name, name), d->entry_off, d->r.off);
			if (d->err.code == ERR_INVALID)
				d->err.code = ERR_CORRUPT;
			goto fail;
		}
		if (d->entry > 0 && strcmp(t->e[d->entry - 1].name, x->name) >= 0) {
			fail_at(d, ERR_CORRUPT, d->entry_off, "name: not after the previous entry's "
				"in bytewise order (unsorted or repeated)");
			goto fail;
		}
	}
	if (rd_left(&d->r) != 0) {
		err_set(&d->err, ERR_CORRUPT, "tree, byte %zu: %zu trailing byte(s) after its last entry",
			d->r.off, rd_left(&d->r));
		goto fail;
	}
	return t;
fail:
	tree_free(t);
	return NULL;
}

struct tree *tree_decode(const uint8_t *p, size_t len, struct err *e)
{
	struct dec d;
	struct tree *t;

	memset(&d, 0, sizeof(d));
	d.r = rd_make(p, len);
	err_clear(&d.err);
	t = decode(&d);
	if (t == NULL && e != NULL)
		*e = d.err;
	return t;
}

const struct tree_entry *tree_find(const struct tree *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	if (!t->sorted) {
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->e[i].name, name) == 0)
				return &t->e[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->e[mid].name, name);

		if (c == 0)
			return &t->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
