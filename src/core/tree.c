/*
 * tree.c: canonical encoding of directories; see tree.h and docs/FORMAT.md,
 * "Trees".
 *
 * One rule set serves both directions: tree_entry_check states every rule of
 * an entry, the encoder runs it before writing, and the decoder runs it on
 * every entry it reads. The decoder adds only what is about bytes: minimal
 * varints, flags that match the data, counts bounded by the input left, and
 * no trailing bytes. So whatever decodes re-encodes to the same bytes.
 */
#include "tree.h"

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
	for (size_t i = 0; i < ent->n_xattrs; i++) {
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

static struct tree_entry *grow(struct tree *t, struct err *e)
{
	if (t->n >= TREE_ENTRIES_MAX) {
		err_set(e, ERR_TOO_LARGE, "a folder holds at most %u entries", TREE_ENTRIES_MAX);
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct tree_entry *p = realloc(t->e, cap * sizeof(*p));

		if (p == NULL) {
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
		for (size_t i = 0; !fail && i < src->n_xattrs; i++, d->n_xattrs++) {
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

static int bad(struct err *e, const struct tree_entry *ent, const char *what)
{
	return err_set(e, ERR_INVALID, "tree entry '%.64s': %s",
		       ent->name ? ent->name : "(no name)", what);
}

static int check_acl(const struct tree_entry *ent, const struct tree_acl *a, struct err *e)
{
	if (a->n > TREE_ACL_MAX)
		return bad(e, ent, "too many ACL entries");
	for (size_t i = 0; i < a->n; i++) {
		const struct tree_acl_entry *x = &a->e[i];
		bool qualified = x->tag == TREE_ACL_USER || x->tag == TREE_ACL_GROUP;

		if (x->tag != TREE_ACL_USER_OBJ && x->tag != TREE_ACL_USER && x->tag != TREE_ACL_GROUP_OBJ &&
		    x->tag != TREE_ACL_GROUP && x->tag != TREE_ACL_MASK && x->tag != TREE_ACL_OTHER)
			return bad(e, ent, "unknown ACL tag");
		if (x->perm > 7)
			return bad(e, ent, "ACL permission over rwx");
		if (!qualified && x->id != 0)
			return bad(e, ent, "ACL id on an unqualified tag");
		if (i > 0 && (a->e[i - 1].tag > x->tag ||
			      (a->e[i - 1].tag == x->tag && a->e[i - 1].id >= x->id)))
			return bad(e, ent, "ACL entries not sorted by tag and id, or repeated");
	}
	return 0;
}

static int check_text(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= max ? 0 : -1;
}

int tree_entry_check(const struct tree_entry *ent, struct err *e)
{
	const bool file = ent->type == TREE_FILE, dir = ent->type == TREE_DIR;
	uint64_t data = 0;

	if (check_text(ent->name, TREE_NAME_MAX) != 0)
		return bad(e, ent, "name must be 1 to 255 bytes");
	if (strchr(ent->name, '/') || !strcmp(ent->name, ".") || !strcmp(ent->name, ".."))
		return bad(e, ent, "name may not contain '/' or be '.' or '..'");
	if (ent->type < TREE_FILE || ent->type > TREE_SOCK)
		return bad(e, ent, "unknown type");
	if (ent->mode > 07777)
		return bad(e, ent, "mode has bits beyond 07777");
	if ((ent->user && check_text(ent->user, TREE_OWNER_MAX)) ||
	    (ent->group && check_text(ent->group, TREE_OWNER_MAX)))
		return bad(e, ent, "owner or group name must be 1 to 255 bytes");
	if (ent->mtime.nsec >= 1000000000u || ent->atime.nsec >= 1000000000u ||
	    ent->ctime.nsec >= 1000000000u)
		return bad(e, ent, "nanoseconds must be below 1e9");
	if ((ent->type == TREE_SYMLINK) != (ent->target != NULL))
		return bad(e, ent, "a symlink needs a target and only a symlink has one");
	if (ent->target && check_text(ent->target, TREE_TARGET_MAX))
		return bad(e, ent, "symlink target must be 1 to 4096 bytes");
	if ((ent->link_id != 0) != (ent->nlink != 0) || (ent->link_id && ent->nlink < 2) ||
	    (ent->link_id && dir))
		return bad(e, ent, "hard-link id needs a link count of 2 or more, and no folder has one");
	if (ent->n_xattrs > TREE_XATTRS_MAX)
		return bad(e, ent, "too many extended attributes");
	for (size_t i = 0; i < ent->n_xattrs; i++) {
		const struct tree_xattr *x = &ent->xattrs[i];

		if (check_text(x->name, TREE_XATTR_NAME_MAX) || x->len > TREE_XATTR_VALUE_MAX ||
		    (x->len && x->value == NULL))
			return bad(e, ent, "extended attribute name or value out of bounds");
		if (i > 0 && strcmp(ent->xattrs[i - 1].name, x->name) >= 0)
			return bad(e, ent, "extended attributes not sorted by name, or repeated");
	}
	if (check_acl(ent, &ent->acl_access, e) || check_acl(ent, &ent->acl_default, e))
		return -1;
	if (ent->acl_default.n && !dir)
		return bad(e, ent, "only a folder has a default ACL");
	if ((ent->type == TREE_CHR || ent->type == TREE_BLK) == false &&
	    (ent->dev_major || ent->dev_minor))
		return bad(e, ent, "only devices have device numbers");
	if (!file && (ent->sparse || ent->n_extents || ent->n_chunks))
		return bad(e, ent, "only files have content chunks or extents");
	if (ent->sparse && ent->size == 0)
		return bad(e, ent, "an empty file is not sparse");
	if (!ent->sparse && ent->n_extents)
		return bad(e, ent, "extents on a file not marked sparse");
	if (ent->n_extents > TREE_EXTENTS_MAX || ent->n_chunks > TREE_CHUNKS_MAX)
		return bad(e, ent, "too many extents or chunks");
	for (size_t i = 0; i < ent->n_extents; i++) {
		const struct tree_extent *x = &ent->extents[i];

		if (x->len == 0 || x->off > ent->size || x->len > ent->size - x->off)
			return bad(e, ent, "extent empty or past the end of the file");
		if (i > 0 && x->off <= ent->extents[i - 1].off + ent->extents[i - 1].len)
			return bad(e, ent, "extents not sorted, overlapping or adjacent");
		data += x->len;
	}
	if (file) {
		uint64_t sum = 0;

		if (!ent->sparse)
			data = ent->size;
		for (size_t i = 0; i < ent->n_chunks; i++) {
			if (ent->chunks[i].len == 0 || ent->chunks[i].len > TREE_CHUNK_LEN_MAX)
				return bad(e, ent, "chunk length out of bounds");
			sum += ent->chunks[i].len;
		}
		if (sum != data)
			return bad(e, ent, "chunk lengths do not add up to the file's data");
	}
	if (!dir) {
		static const struct objid zero;

		if (objid_cmp(&ent->subtree, &zero) != 0)
			return bad(e, ent, "only a folder has a subtree");
	}
	return 0;
}

/* ---- encoding ---- */

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->name, ((const struct tree_entry *)b)->name);
}

int tree_sort(struct tree *t, struct err *e)
{
	if (!t->sorted) {
		qsort(t->e, t->n, sizeof(*t->e), cmp_entries);
		t->sorted = true;
	}
	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->e[i - 1].name, t->e[i].name) == 0) {
			t->sorted = false;
			return err_set(e, ERR_INVALID, "two tree entries are named '%.64s'", t->e[i].name);
		}
	}
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

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
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
		if ((x->tag == TREE_ACL_USER || x->tag == TREE_ACL_GROUP) &&
		    buf_append_varint(b, x->id, e))
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

int tree_encode(struct tree *t, struct buf *out, struct err *e)
{
	size_t start = out->len;

	if (tree_sort(t, e) != 0)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (tree_entry_check(&t->e[i], e) != 0)
			return -1;
	if (buf_append_u8(out, TREE_VERSION, e) || buf_append_varint(out, t->n, e))
		goto fail;
	for (size_t i = 0; i < t->n; i++)
		if (put_entry(out, &t->e[i], e) != 0)
			goto fail;
	if (out->len - start > TREE_BYTES_MAX) {
		err_set(e, ERR_TOO_LARGE, "folder's tree is over %u bytes", TREE_BYTES_MAX);
		goto fail;
	}
	return 0;
fail:
	out->len = start;
	return -1;
}

/* ---- decoding ---- */

struct dec {
	struct rd r;
	struct err *e;
	size_t entry;
};

static int corrupt(struct dec *d, const char *what)
{
	return err_set(d->e, ERR_CORRUPT, "tree entry %zu, byte %zu: %s", d->entry, d->r.off, what);
}

static int get_varint(struct dec *d, uint64_t *v, uint64_t max, const char *what)
{
	if (rd_varint(&d->r, v) != 0)
		return corrupt(d, what);
	if (*v > max)
		return corrupt(d, what);
	return 0;
}

static int get_u32(struct dec *d, uint32_t *v, uint32_t max, const char *what)
{
	uint64_t x;

	if (get_varint(d, &x, max, what) != 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* A count of items of at least MINSIZE bytes each: bounded by the input left. */
static int get_count(struct dec *d, size_t *n, size_t max, size_t minsize, const char *what)
{
	uint64_t v;

	if (get_varint(d, &v, max, what) != 0)
		return -1;
	if (v > rd_left(&d->r) / minsize)
		return corrupt(d, what);
	*n = (size_t)v;
	return 0;
}

/* A length-prefixed byte string of MIN..MAX bytes, as a NUL-terminated copy.
 * Text (TEXT != 0) may not contain NUL. */
static int get_bytes(struct dec *d, uint8_t **out, size_t *len, size_t min, size_t max,
		     int text, const char *what)
{
	uint64_t n;
	const uint8_t *p;

	if (get_varint(d, &n, max, what) != 0 || n < min || rd_bytes(&d->r, (size_t)n, &p) != 0)
		return corrupt(d, what);
	if (text && memchr(p, 0, (size_t)n))
		return corrupt(d, what);
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return err_oom(d->e);
	if (n)
		memcpy(*out, p, (size_t)n);
	(*out)[n] = 0;
	if (len)
		*len = (size_t)n;
	return 0;
}

static int get_str(struct dec *d, char **out, size_t max, const char *what)
{
	return get_bytes(d, (uint8_t **)out, NULL, 1, max, 1, what);
}

static int get_time(struct dec *d, struct tree_time *t)
{
	uint64_t z;

	if (get_varint(d, &z, UINT64_MAX, "time") != 0)
		return -1;
	t->sec = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
	return get_u32(d, &t->nsec, 999999999u, "nanoseconds");
}

static int get_acl(struct dec *d, struct tree_acl *a)
{
	if (get_count(d, &a->n, TREE_ACL_MAX, 2, "ACL count") != 0)
		return -1;
	if (a->n == 0)
		return corrupt(d, "empty ACL");
	if ((a->e = calloc(a->n, sizeof(*a->e))) == NULL)
		return err_oom(d->e);
	for (size_t i = 0; i < a->n; i++) {
		struct tree_acl_entry *x = &a->e[i];

		if (rd_u8(&d->r, &x->tag) || rd_u8(&d->r, &x->perm))
			return corrupt(d, "ACL entry");
		if ((x->tag == TREE_ACL_USER || x->tag == TREE_ACL_GROUP) &&
		    get_u32(d, &x->id, UINT32_MAX, "ACL id"))
			return -1;
	}
	return 0;
}

static int get_entry(struct dec *d, struct tree_entry *x)
{
	uint64_t f;

	if (get_str(d, &x->name, TREE_NAME_MAX, "name") || rd_u8(&d->r, &x->type))
		return corrupt(d, "name or type");
	if (get_varint(d, &f, F_ALL, "flags") || get_u32(d, &x->mode, 07777, "mode") ||
	    get_u32(d, &x->uid, UINT32_MAX, "uid") || get_u32(d, &x->gid, UINT32_MAX, "gid"))
		return -1;
	if ((f & F_USER) && get_str(d, &x->user, TREE_OWNER_MAX, "owner name"))
		return -1;
	if ((f & F_GROUP) && get_str(d, &x->group, TREE_OWNER_MAX, "group name"))
		return -1;
	if (get_time(d, &x->mtime) || get_time(d, &x->atime) || get_time(d, &x->ctime) ||
	    get_varint(d, &x->size, UINT64_MAX, "size"))
		return -1;
	if ((f & F_TARGET) && get_str(d, &x->target, TREE_TARGET_MAX, "symlink target"))
		return -1;
	if (f & F_LINK) {
		if (get_varint(d, &x->link_id, UINT64_MAX, "hard-link id") ||
		    get_u32(d, &x->nlink, UINT32_MAX, "link count"))
			return -1;
		if (x->link_id == 0)
			return corrupt(d, "hard-link id 0");
	}
	if (f & F_XATTRS) {
		if (get_count(d, &x->n_xattrs, TREE_XATTRS_MAX, 3, "xattr count"))
			return -1;
		if (x->n_xattrs == 0)
			return corrupt(d, "empty xattr list");
		if ((x->xattrs = calloc(x->n_xattrs, sizeof(*x->xattrs))) == NULL)
			return err_oom(d->e);
		for (size_t i = 0; i < x->n_xattrs; i++) {
			struct tree_xattr *a = &x->xattrs[i];

			if (get_str(d, &a->name, TREE_XATTR_NAME_MAX, "xattr name") ||
			    get_bytes(d, &a->value, &a->len, 0, TREE_XATTR_VALUE_MAX, 0, "xattr value"))
				return -1;
			if (a->len == 0) { /* canonical in memory: no value buffer */
				free(a->value);
				a->value = NULL;
			}
		}
	}
	if ((f & F_ACL_ACCESS) && get_acl(d, &x->acl_access))
		return -1;
	if ((f & F_ACL_DEFAULT) && get_acl(d, &x->acl_default))
		return -1;
	if (f & F_SPARSE) {
		x->sparse = true;
		if (get_count(d, &x->n_extents, TREE_EXTENTS_MAX, 2, "extent count"))
			return -1;
		if (x->n_extents && (x->extents = calloc(x->n_extents, sizeof(*x->extents))) == NULL)
			return err_oom(d->e);
		for (size_t i = 0; i < x->n_extents; i++)
			if (get_varint(d, &x->extents[i].off, UINT64_MAX, "extent") ||
			    get_varint(d, &x->extents[i].len, UINT64_MAX, "extent"))
				return -1;
	}
	if ((f & F_DEVICE) != (x->type == TREE_CHR || x->type == TREE_BLK ? (uint64_t)F_DEVICE : 0))
		return corrupt(d, "device numbers present on a non-device or missing on a device");
	if ((f & F_DEVICE) && (get_u32(d, &x->dev_major, UINT32_MAX, "device major") ||
			       get_u32(d, &x->dev_minor, UINT32_MAX, "device minor")))
		return -1;
	if (x->type == TREE_FILE) {
		if (get_count(d, &x->n_chunks, TREE_CHUNKS_MAX, OBJID_LEN + 1, "chunk count"))
			return -1;
		if (x->n_chunks && (x->chunks = calloc(x->n_chunks, sizeof(*x->chunks))) == NULL)
			return err_oom(d->e);
		for (size_t i = 0; i < x->n_chunks; i++)
			if (rd_copy(&d->r, x->chunks[i].id.b, OBJID_LEN) ||
			    get_u32(d, &x->chunks[i].len, TREE_CHUNK_LEN_MAX, "chunk length"))
				return corrupt(d, "chunk");
	} else if (x->type == TREE_DIR) {
		if (rd_copy(&d->r, x->subtree.b, OBJID_LEN))
			return corrupt(d, "subtree id");
	}
	return 0;
}

struct tree *tree_decode(const uint8_t *p, size_t len, struct err *e)
{
	struct dec d = { rd_make(p, len), e, 0 };
	struct tree *t = NULL;
	uint8_t version;
	size_t n = 0;

	if (len > TREE_BYTES_MAX) {
		err_set(e, ERR_TOO_LARGE, "tree of %zu bytes is over the limit of %u", len, TREE_BYTES_MAX);
		return NULL;
	}
	if (rd_u8(&d.r, &version) != 0) {
		err_set(e, ERR_CORRUPT, "tree is empty");
		return NULL;
	}
	if (version != TREE_VERSION) {
		err_set(e, version > TREE_VERSION ? ERR_UNSUPPORTED : ERR_CORRUPT,
			"tree format version %u; this build reads version %d%s", version,
			TREE_VERSION, version > TREE_VERSION ? ": update arca" : "");
		return NULL;
	}
	/* Each entry takes at least 14 bytes: the count is bounded by the input. */
	if (get_count(&d, &n, TREE_ENTRIES_MAX, 14, "entry count") != 0 || (t = tree_new(e)) == NULL)
		return NULL;
	for (d.entry = 0; d.entry < n; d.entry++) {
		struct tree_entry *x = grow(t, e);

		if (x == NULL)
			goto fail;
		t->n++; /* owned by T from here, so a failure frees it */
		if (get_entry(&d, x) != 0)
			goto fail;
		if (tree_entry_check(x, NULL) != 0) {
			struct err why;

			tree_entry_check(x, &why);
			err_set(e, ERR_CORRUPT, "tree entry %zu: %s", d.entry, why.msg);
			goto fail;
		}
		if (d.entry > 0 && strcmp(t->e[d.entry - 1].name, x->name) >= 0) {
			corrupt(&d, "names not in strictly increasing order");
			goto fail;
		}
	}
	if (rd_left(&d.r) != 0) {
		err_set(e, ERR_CORRUPT, "tree has %zu bytes after its last entry", rd_left(&d.r));
		goto fail;
	}
	t->sorted = true;
	return t;
fail:
	tree_free(t);
	return NULL;
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
