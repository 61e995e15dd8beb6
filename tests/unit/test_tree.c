/*
 * test_tree.c: the canonical directory encoding, its rules and its decoder.
 *
 * Invalid encodings are written by hand with raw(), a token writer that
 * knows nothing of the rules, so the decoder is tested on bytes no encoder
 * of ours would produce. The golden test pins the documented layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tree.h"

static struct tree_xattr xattrs[] = {
	{ "security.selinux", (uint8_t *)"system_u:object_r", 17 },
	{ "user.empty", NULL, 0 },
	{ "user.note", (uint8_t *)"\x00\x01\x02", 3 },
};
static struct tree_acl_entry acl_file[] = {
	{ TREE_ACL_USER_OBJ, 6, 0 }, { TREE_ACL_USER, 4, 1001 }, { TREE_ACL_USER, 6, 1002 },
	{ TREE_ACL_GROUP_OBJ, 4, 0 }, { TREE_ACL_MASK, 6, 0 }, { TREE_ACL_OTHER, 0, 0 },
};
static struct tree_acl_entry acl_dir[] = {
	{ TREE_ACL_USER_OBJ, 7, 0 }, { TREE_ACL_GROUP_OBJ, 5, 0 }, { TREE_ACL_GROUP, 5, 50 },
	{ TREE_ACL_MASK, 7, 0 }, { TREE_ACL_OTHER, 5, 0 },
};
static struct tree_acl_entry acl_base[] = {
	{ TREE_ACL_USER_OBJ, 7, 0 }, { TREE_ACL_GROUP_OBJ, 5, 0 }, { TREE_ACL_OTHER, 1, 0 },
};
static struct tree_extent extents[] = { { 0, 4096 }, { 1 << 20, 8192 } };
static struct tree_chunk chunks2[2], chunks_sparse[1];

static void fill_id(struct objid *id, uint8_t seed)
{
	for (int i = 0; i < OBJID_LEN; i++)
		id->b[i] = (uint8_t)(seed + i * 3);
}

static void add(struct tree *t, const struct tree_entry *x)
{
	struct err e;

	err_clear(&e);
	if (tree_add(t, x, &e) != 0)
		fail_msg("tree_add %s: %s", x->name, e.msg);
}

/* One entry of every type, exercising every field, added out of order. */
static struct tree *sample(void)
{
	struct tree *t = tree_new(NULL);
	struct tree_entry x;

	assert_non_null(t);
	fill_id(&chunks2[0].id, 1);
	fill_id(&chunks2[1].id, 2);
	chunks2[0].len = 1 << 20;
	chunks2[1].len = 1000;
	fill_id(&chunks_sparse[0].id, 3);
	chunks_sparse[0].len = 4096 + 8192;

	memset(&x, 0, sizeof(x));
	x.name = "zeta.txt", x.type = TREE_FILE, x.mode = 04755, x.uid = 1000, x.gid = 100;
	x.user = "alice", x.group = "users";
	x.mtime = (struct tree_time){ 1700000000, 123456789 };
	x.atime = (struct tree_time){ -5, 999999999 };
	x.ctime = (struct tree_time){ INT64_MAX, 0 };
	x.size = (1 << 20) + 1000, x.link_id = 77, x.nlink = 3;
	x.xattrs = xattrs, x.n_xattrs = 3;
	x.acl_access = (struct tree_acl){ acl_file, 6 };
	x.chunks = chunks2, x.n_chunks = 2;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "disk.img", x.type = TREE_FILE, x.mode = 0600, x.size = 10 << 20, x.sparse = true;
	x.mtime.sec = INT64_MIN;
	x.extents = extents, x.n_extents = 2, x.chunks = chunks_sparse, x.n_chunks = 1;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "holes", x.type = TREE_FILE, x.mode = 0600, x.size = 1 << 30, x.sparse = true;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "docs", x.type = TREE_DIR, x.mode = 02775, x.size = 4096, x.uid = UINT32_MAX;
	x.acl_access = (struct tree_acl){ acl_dir, 5 }, x.acl_default = (struct tree_acl){ acl_base, 3 };
	fill_id(&x.subtree, 9);
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "link", x.type = TREE_SYMLINK, x.mode = 0777, x.target = "../zeta.txt", x.size = 11;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "tty0", x.type = TREE_CHR, x.mode = 0620, x.dev_major = 4, x.dev_minor = 0;
	x.group = "tty";
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "sda", x.type = TREE_BLK, x.mode = 0660, x.dev_major = 8, x.dev_minor = UINT32_MAX;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "pipe", x.type = TREE_FIFO, x.mode = 0644, x.link_id = UINT64_MAX, x.nlink = 2;
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "sock\xc3\xa9", x.type = TREE_SOCK, x.mode = 01777; /* UTF-8 name */
	add(t, &x);

	memset(&x, 0, sizeof(x));
	x.name = "empty", x.type = TREE_FILE, x.mode = 0;
	add(t, &x);
	return t;
}

static void encode_ok(const struct tree *t, struct buf *b)
{
	struct err e;

	err_clear(&e);
	if (tree_encode(t, b, &e) != 0)
		fail_msg("tree_encode: %s", e.msg);
}

static struct tree *decode_ok(const struct buf *b)
{
	struct err e;
	struct tree *t;

	err_clear(&e);
	if ((t = tree_decode(b->data, b->len, &e)) == NULL)
		fail_msg("tree_decode: %s", e.msg);
	return t;
}

static void test_roundtrip_every_field(void **state)
{
	(void)state;
	struct tree *t = sample(), *u;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	const struct tree_entry *z, *d, *s, *h, *x;

	assert_false(t->sorted);
	encode_ok(t, &b);
	assert_false(t->sorted); /* encode leaves its tree alone */
	assert_string_equal(t->e[0].name, "zeta.txt");
	u = decode_ok(&b);
	assert_true(u->sorted);
	assert_int_equal(u->n, 10);
	for (size_t i = 1; i < u->n; i++)
		assert_true(strcmp(u->e[i - 1].name, u->e[i].name) < 0);

	z = tree_find(u, "zeta.txt");
	assert_non_null(z);
	assert_int_equal(z->type, TREE_FILE);
	assert_int_equal(z->mode, 04755);
	assert_int_equal(z->uid, 1000);
	assert_int_equal(z->gid, 100);
	assert_string_equal(z->user, "alice");
	assert_string_equal(z->group, "users");
	assert_true(z->mtime.sec == 1700000000 && z->mtime.nsec == 123456789);
	assert_true(z->atime.sec == -5 && z->atime.nsec == 999999999);
	assert_true(z->ctime.sec == INT64_MAX && z->ctime.nsec == 0);
	assert_true(z->size == (1 << 20) + 1000);
	assert_null(z->target);
	assert_true(z->link_id == 77 && z->nlink == 3);
	assert_int_equal(z->n_xattrs, 3);
	assert_string_equal(z->xattrs[0].name, "security.selinux");
	assert_int_equal(z->xattrs[0].len, 17);
	assert_memory_equal(z->xattrs[0].value, "system_u:object_r", 17);
	assert_string_equal(z->xattrs[1].name, "user.empty");
	assert_int_equal(z->xattrs[1].len, 0);
	assert_null(z->xattrs[1].value);
	assert_int_equal(z->xattrs[2].len, 3);
	assert_memory_equal(z->xattrs[2].value, "\x00\x01\x02", 3);
	assert_int_equal(z->acl_access.n, 6);
	assert_memory_equal(z->acl_access.e, acl_file, sizeof(acl_file));
	assert_int_equal(z->acl_default.n, 0);
	assert_false(z->sparse);
	assert_int_equal(z->n_extents, 0);
	assert_true(z->dev_major == 0 && z->dev_minor == 0);
	assert_int_equal(z->n_chunks, 2);
	assert_int_equal(objid_cmp(&z->chunks[0].id, &chunks2[0].id), 0);
	assert_int_equal(objid_cmp(&z->chunks[1].id, &chunks2[1].id), 0);
	assert_int_equal(z->chunks[0].len, 1 << 20);
	assert_int_equal(z->chunks[1].len, 1000);

	s = tree_find(u, "disk.img");
	assert_non_null(s);
	assert_true(s->sparse);
	assert_true(s->mtime.sec == INT64_MIN);
	assert_true(s->size == 10 << 20);
	assert_int_equal(s->n_extents, 2);
	assert_memory_equal(s->extents, extents, sizeof(extents));
	assert_int_equal(s->n_chunks, 1);
	assert_int_equal(s->chunks[0].len, 4096 + 8192);
	assert_int_equal(s->chunks[0].id.b[0], 3);
	h = tree_find(u, "holes");
	assert_true(h->sparse && h->n_extents == 0 && h->n_chunks == 0 && h->size == 1 << 30);

	d = tree_find(u, "docs");
	assert_int_equal(d->type, TREE_DIR);
	assert_int_equal(d->mode, 02775);
	assert_int_equal(d->uid, UINT32_MAX);
	assert_int_equal(d->acl_access.n, 5);
	assert_memory_equal(d->acl_access.e, acl_dir, sizeof(acl_dir));
	assert_int_equal(d->acl_default.n, 3);
	assert_memory_equal(d->acl_default.e, acl_base, sizeof(acl_base));
	assert_int_equal(d->subtree.b[0], 9);
	assert_int_equal(d->subtree.b[31], 9 + 31 * 3);
	x = tree_find(u, "link");
	assert_int_equal(x->type, TREE_SYMLINK);
	assert_string_equal(x->target, "../zeta.txt");
	assert_true(x->size == 11);
	x = tree_find(u, "sda");
	assert_true(x->type == TREE_BLK && x->dev_major == 8 && x->dev_minor == UINT32_MAX);
	x = tree_find(u, "tty0");
	assert_true(x->type == TREE_CHR && x->dev_major == 4 && x->dev_minor == 0);
	assert_string_equal(x->group, "tty");
	assert_null(x->user);
	x = tree_find(u, "pipe");
	assert_true(x->type == TREE_FIFO && x->link_id == UINT64_MAX && x->nlink == 2);
	x = tree_find(u, "sock\xc3\xa9");
	assert_true(x->type == TREE_SOCK && x->mode == 01777);
	x = tree_find(u, "empty");
	assert_true(x->type == TREE_FILE && x->size == 0 && x->n_chunks == 0 && !x->sparse);

	/* Canonical: re-encoding gives the same bytes, and so does the tree
	 * after an in-place sort. */
	encode_ok(u, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	assert_int_equal(tree_sort(t, NULL), 0);
	assert_true(t->sorted);
	buf_reset(&b2);
	encode_ok(t, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	tree_free(t);
	tree_free(u);
	buf_free(&b);
	buf_free(&b2);
}

static void test_empty_folder(void **state)
{
	(void)state;
	struct tree *t = tree_new(NULL), *u;
	struct buf b = BUF_INIT;

	encode_ok(t, &b);
	assert_int_equal(b.len, 2);
	assert_int_equal(b.data[0], TREE_VERSION);
	assert_int_equal(b.data[1], 0);
	u = decode_ok(&b);
	assert_int_equal(u->n, 0);
	assert_null(tree_find(u, "x"));
	tree_free(t);
	tree_free(u);
	tree_free(NULL);
	buf_free(&b);
}

/* The worked example of docs/FORMAT.md, byte for byte. */
static void test_golden_bytes(void **state)
{
	(void)state;
	static const uint8_t want[] = {
		0x01, 0x03,						/* version, 3 entries */
		0x01, 'd', 0x02, 0x00, 0xed, 0x03, 0x00, 0x00,		/* "d": dir, mode 0755 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,		/* times 0, size 0 */
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,	/* subtree id */
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
		0x01, 'f', 0x01, 0x00, 0xa4, 0x03, 0x00, 0x00,		/* "f": file, mode 0644 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,		/* times 0, size 3 */
		0x01,							/* one chunk */
		0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb,
		0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb,
		0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb,
		0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb,
		0x03,							/* of 3 bytes */
		0x01, 'l', 0x03, 0x04, 0xff, 0x03, 0xe8, 0x07, 0x00,	/* "l": symlink, 0777, uid 1000 */
		0x01, 0x05, 0x00, 0x00, 0x00, 0x00,			/* mtime -1 s + 5 ns */
		0x01, 0x01, 't',					/* size 1, target "t" */
	};
	struct tree *t = tree_new(NULL), *u;
	struct tree_chunk c;
	struct tree_entry x;
	struct buf b = BUF_INIT;

	memset(&x, 0, sizeof(x));
	x.name = "l", x.type = TREE_SYMLINK, x.mode = 0777, x.uid = 1000, x.size = 1, x.target = "t";
	x.mtime = (struct tree_time){ -1, 5 };
	add(t, &x);
	memset(&c, 0xbb, sizeof(c.id));
	c.len = 3;
	memset(&x, 0, sizeof(x));
	x.name = "f", x.type = TREE_FILE, x.mode = 0644, x.size = 3, x.chunks = &c, x.n_chunks = 1;
	add(t, &x);
	memset(&x, 0, sizeof(x));
	x.name = "d", x.type = TREE_DIR, x.mode = 0755;
	memset(x.subtree.b, 0xaa, OBJID_LEN);
	add(t, &x);
	encode_ok(t, &b);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	u = decode_ok(&b);
	assert_int_equal(u->n, 3);
	assert_true(u->e[2].mtime.sec == -1 && u->e[2].mtime.nsec == 5);
	tree_free(u);
	tree_free(t);
	buf_free(&b);
}

/* Each rule of an entry, broken once; the message names the entry and the
 * field, and the code says whether a bound was passed. */
static void test_entry_rules(void **state)
{
	(void)state;
	struct tree_chunk c = { { { 0 } }, 10 };
	struct tree_extent ext_bad[] = { { 0, 10 }, { 10, 5 } }, ext_back[] = { { 50, 10 }, { 0, 5 } };
	struct tree_extent ext_full[] = { { 0, 10 } };
	struct tree_acl_entry acl_unsorted[] = { { TREE_ACL_OTHER, 0, 0 }, { TREE_ACL_USER_OBJ, 6, 0 } };
	struct tree_acl_entry acl_badid[] = { { TREE_ACL_MASK, 6, 5 } };
	struct tree_acl_entry acl_badtag[] = { { 3, 6, 0 } };
	struct tree_acl_entry acl_badperm[] = { { TREE_ACL_USER_OBJ, 8, 0 } };
	struct tree_acl_entry acl_nomask[] = {
		{ TREE_ACL_USER_OBJ, 6, 0 }, { TREE_ACL_USER, 6, 7 }, { TREE_ACL_GROUP_OBJ, 4, 0 },
		{ TREE_ACL_OTHER, 4, 0 },
	};
	struct tree_acl_entry acl_noother[] = { { TREE_ACL_USER_OBJ, 6, 0 }, { TREE_ACL_GROUP_OBJ, 4, 0 } };
	struct tree_xattr xa_dup[] = { { "user.a", NULL, 0 }, { "user.a", NULL, 0 } };
	struct tree_xattr xa_acl[] = { { "system.posix_acl_access", (uint8_t *)"x", 1 } };
	struct tree_xattr xa_big[] = { { "user.big", NULL, TREE_XATTR_VALUE_MAX + 1 } };
	struct tree_xattr xa_noval[] = { { "user.v", NULL, 3 } };
	struct tree_xattr xa_noname[] = { { "", NULL, 0 } };
	uint8_t *bigval = calloc(TREE_XATTR_VALUE_MAX + 1, 1);
	char longname[300], longtarget[TREE_TARGET_MAX + 2], name255[256];
	struct err e;
	struct tree_entry base, x;

	assert_non_null(bigval);
	xa_big[0].value = bigval;
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	memset(name255, 'n', 255);
	name255[255] = 0;
	memset(longtarget, 't', sizeof(longtarget) - 1);
	longtarget[sizeof(longtarget) - 1] = 0;
	memset(&base, 0, sizeof(base));
	base.name = "f", base.type = TREE_FILE, base.size = 10, base.chunks = &c, base.n_chunks = 1;
	assert_int_equal(tree_entry_check(&base, &e), 0);
	x = base, x.name = name255;
	assert_int_equal(tree_entry_check(&x, &e), 0);
	x = base, x.acl_access = (struct tree_acl){ acl_base, 3 };
	assert_int_equal(tree_entry_check(&x, &e), -1); /* a base-only access ACL is the mode */
	x = base, x.type = TREE_DIR, x.n_chunks = 0, x.acl_default = (struct tree_acl){ acl_base, 3 };
	assert_int_equal(tree_entry_check(&x, &e), 0); /* a base-only default ACL is not */

#define BREAK(stmt, code_, word)                                                    \
	do {                                                                        \
		x = base;                                                           \
		stmt;                                                               \
		err_clear(&e);                                                      \
		assert_int_equal(tree_entry_check(&x, &e), -1);                    \
		assert_int_equal(e.code, code_);                                    \
		if (strstr(e.msg, word) == NULL || strncmp(e.msg, "tree entry '", 12)) \
			fail_msg("%s: want '%s' in '%s'", #stmt, word, e.msg);     \
	} while (0)

	BREAK(x.name = "", ERR_INVALID, "name");
	BREAK(x.name = NULL, ERR_INVALID, "name");
	BREAK(x.name = ".", ERR_INVALID, "name");
	BREAK(x.name = "..", ERR_INVALID, "name");
	BREAK(x.name = "a/b", ERR_INVALID, "name");
	BREAK(x.name = "/", ERR_INVALID, "name");
	BREAK(x.name = longname, ERR_TOO_LARGE, "name");
	BREAK(x.type = 0, ERR_INVALID, "type");
	BREAK(x.type = 8, ERR_INVALID, "type");
	BREAK(x.mode = 010000, ERR_INVALID, "mode");
	BREAK(x.user = "", ERR_INVALID, "owner");
	BREAK(x.group = longname, ERR_TOO_LARGE, "group");
	BREAK(x.mtime.nsec = 1000000000u, ERR_INVALID, "nanoseconds");
	BREAK(x.atime.nsec = UINT32_MAX, ERR_INVALID, "nanoseconds");
	BREAK(x.ctime.nsec = 1000000000u, ERR_INVALID, "nanoseconds");
	BREAK(x.target = "t", ERR_INVALID, "symlink");
	BREAK((x.type = TREE_SYMLINK, x.n_chunks = 0, x.target = NULL), ERR_INVALID, "symlink");
	BREAK((x.type = TREE_SYMLINK, x.n_chunks = 0, x.target = ""), ERR_INVALID, "symlink");
	BREAK((x.type = TREE_SYMLINK, x.n_chunks = 0, x.target = longtarget), ERR_TOO_LARGE, "symlink");
	BREAK(x.link_id = 5, ERR_INVALID, "hard link");
	BREAK(x.nlink = 2, ERR_INVALID, "hard link");
	BREAK((x.link_id = 5, x.nlink = 1), ERR_INVALID, "hard link");
	BREAK((x.type = TREE_DIR, x.n_chunks = 0, x.link_id = 5, x.nlink = 2), ERR_INVALID, "hard link");
	BREAK((x.xattrs = xa_dup, x.n_xattrs = 2), ERR_INVALID, "xattr 1");
	BREAK((x.xattrs = xa_acl, x.n_xattrs = 1), ERR_INVALID, "ACL");
	BREAK((x.xattrs = xa_big, x.n_xattrs = 1), ERR_TOO_LARGE, "xattr 0");
	BREAK((x.xattrs = xa_noval, x.n_xattrs = 1), ERR_INVALID, "xattr 0");
	BREAK((x.xattrs = xa_noname, x.n_xattrs = 1), ERR_INVALID, "xattr 0");
	BREAK((x.xattrs = NULL, x.n_xattrs = 1), ERR_INVALID, "xattrs");
	BREAK((x.xattrs = xa_dup, x.n_xattrs = TREE_XATTRS_MAX + 1), ERR_TOO_LARGE, "xattrs");
	BREAK((x.acl_access = (struct tree_acl){ acl_unsorted, 2 }), ERR_INVALID, "access ACL entry 1");
	BREAK((x.acl_access = (struct tree_acl){ acl_badid, 1 }), ERR_INVALID, "id");
	BREAK((x.acl_access = (struct tree_acl){ acl_badtag, 1 }), ERR_INVALID, "tag");
	BREAK((x.acl_access = (struct tree_acl){ acl_badperm, 1 }), ERR_INVALID, "rwx");
	BREAK((x.acl_access = (struct tree_acl){ acl_nomask, 4 }), ERR_INVALID, "mask");
	BREAK((x.acl_access = (struct tree_acl){ acl_noother, 2 }), ERR_INVALID, "other");
	BREAK((x.acl_access = (struct tree_acl){ acl_base, 3 }), ERR_INVALID, "mode");
	BREAK((x.acl_access = (struct tree_acl){ NULL, 2 }), ERR_INVALID, "access ACL");
	BREAK((x.acl_access = (struct tree_acl){ acl_file, TREE_ACL_MAX + 1 }), ERR_TOO_LARGE, "access ACL");
	BREAK((x.acl_default = (struct tree_acl){ acl_base, 3 }), ERR_INVALID, "default ACL");
	BREAK(x.dev_major = 1, ERR_INVALID, "device");
	BREAK((x.type = TREE_FIFO, x.dev_minor = 1, x.n_chunks = 0), ERR_INVALID, "device");
	BREAK((x.type = TREE_FIFO), ERR_INVALID, "content");
	BREAK((x.type = TREE_DIR, x.n_chunks = 0, x.sparse = true), ERR_INVALID, "content");
	BREAK((x.sparse = true, x.size = 0, x.n_chunks = 0), ERR_INVALID, "sparse");
	BREAK((x.extents = ext_bad, x.n_extents = 1), ERR_INVALID, "not marked sparse");
	BREAK((x.sparse = true, x.size = 100, x.extents = ext_bad, x.n_extents = 2), ERR_INVALID, "extent 1");
	BREAK((x.sparse = true, x.size = 100, x.extents = ext_back, x.n_extents = 2), ERR_INVALID, "extent 1");
	BREAK((x.sparse = true, x.size = 5, x.extents = ext_bad, x.n_extents = 1), ERR_INVALID, "past the end");
	BREAK((x.sparse = true, x.size = 10, x.extents = ext_full, x.n_extents = 1), ERR_INVALID, "dense");
	BREAK((x.sparse = true, x.size = 100, x.extents = NULL, x.n_extents = 1), ERR_INVALID, "content");
	BREAK((x.sparse = true, x.size = 100, x.extents = ext_full, x.n_extents = TREE_EXTENTS_MAX + 1),
	      ERR_TOO_LARGE, "extents");
	BREAK(x.n_chunks = TREE_CHUNKS_MAX + 1, ERR_TOO_LARGE, "chunks");
	BREAK(x.chunks = NULL, ERR_INVALID, "content");
	BREAK(x.size = 11, ERR_INVALID, "add up");
	BREAK((x.sparse = true, x.size = 100, x.extents = ext_bad, x.n_extents = 1, c.len = 9),
	      ERR_INVALID, "add up");
	c.len = 0;
	BREAK(x.size = 0, ERR_INVALID, "chunk 0");
	c.len = TREE_CHUNK_LEN_MAX + 1;
	BREAK(x.size = c.len, ERR_TOO_LARGE, "chunk 0");
	c.len = 10;
	BREAK(x.subtree.b[3] = 1, ERR_INVALID, "subtree");
#undef BREAK
	/* A control byte in a name is shown as '?' in the message. */
	x = base, x.name = "a\nb", x.mode = 010000;
	assert_int_equal(tree_entry_check(&x, &e), -1);
	assert_non_null(strstr(e.msg, "'a?b'"));
	free(bigval);
}

static void test_add_sort_find(void **state)
{
	(void)state;
	struct tree *t = tree_new(NULL);
	struct tree_entry x;
	struct buf b = BUF_INIT;
	char name[8] = "same", user[8] = "bob";
	struct err e;

	memset(&x, 0, sizeof(x));
	x.name = name, x.type = TREE_FIFO, x.user = user;
	add(t, &x);
	assert_true(t->sorted);
	/* A deep copy: changing the source later changes nothing. */
	name[0] = 'S', user[0] = 'B';
	assert_string_equal(t->e[0].name, "same");
	assert_string_equal(t->e[0].user, "bob");
	x.name = "tail";
	add(t, &x);
	assert_true(t->sorted);
	x.name = "other";
	add(t, &x);
	assert_false(t->sorted);
	/* Unsorted: tree_find scans. */
	assert_ptr_equal(tree_find(t, "other"), &t->e[2]);
	assert_ptr_equal(tree_find(t, "same"), &t->e[0]);
	assert_null(tree_find(t, "nope"));
	assert_int_equal(tree_sort(t, &e), 0);
	assert_true(t->sorted);
	assert_string_equal(t->e[0].name, "other");
	assert_string_equal(t->e[2].name, "tail");
	assert_ptr_equal(tree_find(t, "tail"), &t->e[2]);
	assert_null(tree_find(t, "a"));
	assert_null(tree_find(t, "zz"));
	assert_null(tree_find(t, "sam"));

	/* A duplicate: refused by tree_encode (OUT untouched) and tree_sort. */
	x.name = "same";
	add(t, &x);
	assert_int_equal(buf_append(&b, "keep", 4, NULL), 0);
	err_clear(&e);
	assert_int_equal(tree_encode(t, &b, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "'same'"));
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	assert_int_equal(tree_sort(t, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_false(t->sorted);
	/* An invalid entry is refused at tree_add, leaving the tree as it was. */
	x.name = "a/b";
	assert_int_equal(tree_add(t, &x, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "'a/b'"));
	assert_int_equal(t->n, 4);
	tree_free(t);

	/* tree_encode appends, and refuses an invalid entry placed directly. */
	t = sample();
	t->e[3].mode = 070000;
	err_clear(&e);
	assert_int_equal(tree_encode(t, &b, &e), -1);
	assert_int_equal(b.len, 4);
	assert_non_null(strstr(e.msg, "mode"));
	assert_non_null(strstr(e.msg, t->e[3].name));
	t->e[3].mode = 0;
	encode_ok(t, &b);
	assert_memory_equal(b.data, "keep", 4);
	assert_int_equal(b.data[4], TREE_VERSION);
	tree_free(t);
	buf_free(&b);
}

/* tree_entry_clear frees every field (ASan finds a leak otherwise) and
 * leaves a zeroed entry. */
static void test_entry_clear(void **state)
{
	(void)state;
	struct tree_entry x, zero;

	memset(&x, 0, sizeof(x));
	memset(&zero, 0, sizeof(zero));
	x.name = strdup("n"), x.user = strdup("u"), x.group = strdup("g"), x.target = strdup("t");
	x.n_xattrs = 2;
	x.xattrs = calloc(2, sizeof(*x.xattrs));
	assert_non_null(x.xattrs);
	x.xattrs[0].name = strdup("user.a"), x.xattrs[0].value = malloc(3), x.xattrs[0].len = 3;
	x.xattrs[1].name = strdup("user.b");
	x.acl_access.e = calloc(3, sizeof(*x.acl_access.e)), x.acl_access.n = 3;
	x.acl_default.e = calloc(3, sizeof(*x.acl_default.e)), x.acl_default.n = 3;
	x.extents = calloc(1, sizeof(*x.extents)), x.n_extents = 1;
	x.chunks = calloc(1, sizeof(*x.chunks)), x.n_chunks = 1;
	x.size = 5, x.link_id = 9;
	tree_entry_clear(&x);
	assert_memory_equal(&x, &zero, sizeof(x));
	tree_entry_clear(&x); /* twice is harmless */
}

static void encode_sample(struct buf *b)
{
	struct tree *t = sample();

	encode_ok(t, b);
	tree_free(t);
}

static void test_truncations_and_trailing(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct err e;

	encode_sample(&b);
	for (size_t n = 0; n < b.len; n++) {
		err_clear(&e);
		assert_null(tree_decode(b.data, n, &e));
		if (e.code != ERR_CORRUPT || e.msg[0] == 0)
			fail_msg("prefix of %zu bytes: %d %s", n, e.code, e.msg);
	}
	assert_int_equal(buf_append_u8(&b, 0, NULL), 0);
	assert_null(tree_decode(b.data, b.len, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "after its last entry"));
	assert_null(tree_decode(NULL, 0, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	buf_free(&b);
}

/* ---- hand-written encodings ---- */

/* Tokens for raw(): each kind takes the arguments named. */
enum {
	T_END,   /* (none) */
	T_U8,    /* int */
	T_VAR,   /* uint64_t, as a minimal varint */
	T_STR,   /* const char *: varint length, then the bytes */
	T_BYTES, /* const char *, size_t: as they are */
	T_LSTR,  /* int c, size_t n: varint n, then n bytes c */
	T_ID,    /* int c: 32 bytes c */
};
#define U8(x) T_U8, (int)(x)
#define V(x) T_VAR, (uint64_t)(x)
#define S(s) T_STR, (const char *)(s)
#define RAW(p, n) T_BYTES, (const char *)(p), (size_t)(n)
#define LSTR(c, n) T_LSTR, (int)(c), (size_t)(n)
#define ID(c) T_ID, (int)(c)
#define HDR(n) U8(1), V(n)
#define TIMES0 V(0), V(0), V(0), V(0), V(0), V(0)
/* An entry up to and including its size: name, type, flags, mode 0, uid 0,
 * gid 0, times 0, size. */
#define HEAD(name, type, flags, size) S(name), U8(type), V(flags), V(0), V(0), V(0), TIMES0, V(size)
#define FIFO(name) HEAD(name, TREE_FIFO, 0, 0)

static void raw(struct buf *b, ...)
{
	va_list ap;
	int k;

	buf_reset(b);
	va_start(ap, b);
	while ((k = va_arg(ap, int)) != T_END) {
		int rc = 0;

		if (k == T_U8) {
			rc = buf_append_u8(b, (uint8_t)va_arg(ap, int), NULL);
		} else if (k == T_VAR) {
			rc = buf_append_varint(b, va_arg(ap, uint64_t), NULL);
		} else if (k == T_STR) {
			const char *s = va_arg(ap, const char *);

			rc = buf_append_varint(b, strlen(s), NULL) || buf_append(b, s, strlen(s), NULL);
		} else if (k == T_BYTES) {
			const char *p = va_arg(ap, const char *);

			rc = buf_append(b, p, va_arg(ap, size_t), NULL);
		} else if (k == T_LSTR || k == T_ID) {
			int c = va_arg(ap, int);
			size_t n = k == T_ID ? OBJID_LEN : va_arg(ap, size_t);
			uint8_t *p;

			rc = k == T_LSTR && buf_append_varint(b, n, NULL);
			if (rc == 0 && (p = buf_extend(b, n, NULL)) != NULL)
				memset(p, c, n);
			else
				rc = -1;
		} else {
			fail_msg("bad token %d", k);
		}
		assert_int_equal(rc, 0);
	}
	va_end(ap);
}

/* Decodes, and re-encodes to the same bytes. */
#define ACCEPT(...)                                                          \
	do {                                                                 \
		struct tree *t_;                                             \
		struct buf again_ = BUF_INIT;                                \
		raw(&b, __VA_ARGS__, T_END);                                 \
		t_ = decode_ok(&b);                                          \
		encode_ok(t_, &again_);                                      \
		assert_int_equal(again_.len, b.len);                         \
		assert_memory_equal(again_.data, b.data, b.len);             \
		tree_free(t_);                                               \
		buf_free(&again_);                                           \
	} while (0)

/* Refused with CODE and a message holding WORD. */
#define REJECT(code_, word, ...)                                             \
	do {                                                                 \
		struct err e_;                                               \
		raw(&b, __VA_ARGS__, T_END);                                 \
		err_clear(&e_);                                              \
		assert_null(tree_decode(b.data, b.len, &e_));                \
		if (e_.code != (code_) || strstr(e_.msg, word) == NULL)      \
			fail_msg("line %d: want %d '%s', got %d '%s'", __LINE__, \
				 code_, word, e_.code, e_.msg);              \
	} while (0)

static void test_decoder_header_and_names(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	char n256[257];

	memset(n256, 'x', 256);
	n256[256] = 0;
	ACCEPT(HDR(0));
	ACCEPT(HDR(1), FIFO("b"));
	ACCEPT(HDR(2), FIFO("a"), FIFO("b"));
	ACCEPT(HDR(2), FIFO("B"), FIFO("a"));	     /* bytewise, not by locale */
	ACCEPT(HDR(2), FIFO("a"), FIFO("a\x01"));    /* a prefix sorts first */
	ACCEPT(HDR(2), FIFO("z"), FIFO("\xc3\xa9")); /* bytes over 0x7f sort after ASCII */
	ACCEPT(HDR(1), FIFO(n256 + 1));		     /* 255 bytes */

	REJECT(ERR_UNSUPPORTED, "version 2", U8(2), V(0));
	REJECT(ERR_UNSUPPORTED, "version 0", U8(0), V(0));
	REJECT(ERR_UNSUPPORTED, "version 255", U8(255), V(0));
	REJECT(ERR_CORRUPT, "empty", T_END);
	REJECT(ERR_CORRUPT, "after its last entry", HDR(0), U8(0));
	REJECT(ERR_CORRUPT, "after its last entry", HDR(1), FIFO("b"), U8(0));
	REJECT(ERR_CORRUPT, "entry count", HDR(1));
	REJECT(ERR_CORRUPT, "entry count", HDR(2), FIFO("a"));
	REJECT(ERR_CORRUPT, "entry count", U8(1), RAW("\x80\x00", 2));
	REJECT(ERR_TOO_LARGE, "entry count", HDR(TREE_ENTRIES_MAX + 1), FIFO("b"));
	REJECT(ERR_CORRUPT, "entry count", HDR(1000), FIFO("a"), FIFO("b"));

	REJECT(ERR_CORRUPT, "not after", HDR(2), FIFO("b"), FIFO("a"));
	REJECT(ERR_CORRUPT, "not after", HDR(2), FIFO("b"), FIFO("b"));
	REJECT(ERR_CORRUPT, "not after", HDR(2), FIFO("\xc3\xa9"), FIFO("z"));
	REJECT(ERR_CORRUPT, "entry 2 'b'", HDR(3), FIFO("a"), FIFO("c"), FIFO("b"));
	/* One byte of padding: the count check wants 14 bytes an entry. */
	REJECT(ERR_CORRUPT, "name: empty", HDR(1), FIFO(""), U8(0));
	REJECT(ERR_CORRUPT, "name", HDR(1), FIFO("."));
	REJECT(ERR_CORRUPT, "name", HDR(1), FIFO(".."));
	REJECT(ERR_CORRUPT, "name", HDR(1), FIFO("a/b"));
	REJECT(ERR_CORRUPT, "name", HDR(1), FIFO("/"));
	REJECT(ERR_CORRUPT, "NUL", HDR(1), RAW("\x02" "a\0", 3), U8(TREE_FIFO), V(0), V(0), V(0), V(0),
	       TIMES0, V(0));
	REJECT(ERR_TOO_LARGE, "name", HDR(1), FIFO(n256));
	REJECT(ERR_CORRUPT, "name", HDR(1), RAW("\x81\x00", 2), U8(TREE_FIFO), V(0), V(0), V(0), V(0),
	       TIMES0, V(0));
	/* The messages say where. */
	REJECT(ERR_CORRUPT, "tree entry 1 'c' (at byte 16), byte 18: type", HDR(2), FIFO("b"),
	       S("c"), U8(0), V(0), V(0), V(0), V(0), TIMES0, V(0));
	buf_free(&b);
}

static void test_decoder_fields(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	/* Types and flags. */
	REJECT(ERR_CORRUPT, "type", HDR(1), HEAD("b", 0, 0, 0));
	REJECT(ERR_CORRUPT, "type", HDR(1), HEAD("b", 8, 0, 0));
	REJECT(ERR_CORRUPT, "type", HDR(1), HEAD("b", 255, 0, 0));
	REJECT(ERR_CORRUPT, "reserved", HDR(1), HEAD("b", TREE_FIFO, 1 << 9, 0));
	REJECT(ERR_CORRUPT, "reserved", HDR(1), HEAD("b", TREE_FIFO, UINT64_MAX, 0));
	REJECT(ERR_CORRUPT, "flags", HDR(1), S("b"), U8(TREE_FIFO), RAW("\x80\x00", 2), V(0), V(0), V(0),
	       TIMES0, V(0));
	REJECT(ERR_CORRUPT, "device bit", HDR(1), HEAD("b", TREE_FIFO, 1 << 8, 0), V(1), V(2));
	REJECT(ERR_CORRUPT, "device bit", HDR(1), HEAD("b", TREE_CHR, 0, 0));
	ACCEPT(HDR(1), HEAD("b", TREE_CHR, 1 << 8, 0), V(1), V(2));
	ACCEPT(HDR(1), HEAD("b", TREE_BLK, 1 << 8, 0), V(0), V(0));
	REJECT(ERR_CORRUPT, "device major", HDR(1), HEAD("b", TREE_BLK, 1 << 8, 0), V(1ull << 32), V(0));

	/* Fixed fields: mode, ids, times, size. */
	REJECT(ERR_CORRUPT, "mode", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(010000), V(0), V(0), TIMES0, V(0));
	REJECT(ERR_CORRUPT, "mode", HDR(1), S("b"), U8(TREE_FIFO), V(0), RAW("\x80\x00", 2), V(0), V(0),
	       TIMES0, V(0));
	REJECT(ERR_CORRUPT, "uid", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(1ull << 32), V(0), TIMES0, V(0));
	REJECT(ERR_CORRUPT, "gid", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), RAW("\xff\x00", 2),
	       TIMES0, V(0));
	ACCEPT(HDR(1), S("b"), U8(TREE_FIFO), V(0), V(07777), V(UINT32_MAX), V(UINT32_MAX), V(UINT64_MAX),
	       V(999999999), V(UINT64_MAX - 1), V(0), V(1), V(1), V(UINT64_MAX));
	REJECT(ERR_CORRUPT, "nanoseconds", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), V(0),
	       V(0), V(1000000000), V(0), V(0), V(0), V(0), V(0));
	REJECT(ERR_CORRUPT, "nanoseconds", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), V(0),
	       V(0), V(0), V(0), V(0), V(0), V(UINT32_MAX), V(0));
	REJECT(ERR_CORRUPT, "mtime", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), V(0),
	       RAW("\x81\x80\x00", 3), V(0), V(0), V(0), V(0), V(0), V(0));
	/* Over 64 bits: ten bytes whose last is more than 1. */
	REJECT(ERR_CORRUPT, "size", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), V(0), TIMES0,
	       RAW("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10));
	REJECT(ERR_CORRUPT, "size", HDR(1), S("b"), U8(TREE_FIFO), V(0), V(0), V(0), V(0), TIMES0,
	       RAW("\x80\x00", 2));

	/* Owner and group names. */
	ACCEPT(HDR(1), S("b"), U8(TREE_FIFO), V(3), V(0), V(0), V(0), S("root"), S("wheel"), TIMES0, V(0));
	REJECT(ERR_CORRUPT, "owner name: empty", HDR(1), S("b"), U8(TREE_FIFO), V(1), V(0), V(0), V(0), S(""),
	       TIMES0, V(0));
	REJECT(ERR_TOO_LARGE, "group name", HDR(1), S("b"), U8(TREE_FIFO), V(2), V(0), V(0), V(0),
	       LSTR('g', 256), TIMES0, V(0));
	REJECT(ERR_CORRUPT, "NUL", HDR(1), S("b"), U8(TREE_FIFO), V(2), V(0), V(0), V(0), RAW("\x01\0", 2),
	       TIMES0, V(0));

	/* Symlink targets. */
	ACCEPT(HDR(1), HEAD("l", TREE_SYMLINK, 4, 0), LSTR('t', TREE_TARGET_MAX));
	REJECT(ERR_CORRUPT, "target bit", HDR(1), HEAD("l", TREE_SYMLINK, 0, 0));
	REJECT(ERR_CORRUPT, "target bit", HDR(1), HEAD("f", TREE_FILE, 4, 0), S("t"), V(0));
	REJECT(ERR_CORRUPT, "target bit", HDR(1), HEAD("p", TREE_FIFO, 4, 0), S("t"));
	REJECT(ERR_CORRUPT, "symlink target: empty", HDR(1), HEAD("l", TREE_SYMLINK, 4, 0), S(""));
	REJECT(ERR_TOO_LARGE, "symlink target", HDR(1), HEAD("l", TREE_SYMLINK, 4, 0),
	       LSTR('t', TREE_TARGET_MAX + 1));

	/* Hard links. */
	ACCEPT(HDR(1), HEAD("p", TREE_FIFO, 8, 0), V(1), V(2));
	REJECT(ERR_CORRUPT, "hard-link id: 0", HDR(1), HEAD("p", TREE_FIFO, 8, 0), V(0), V(2));
	REJECT(ERR_CORRUPT, "link count", HDR(1), HEAD("p", TREE_FIFO, 8, 0), V(1), V(1));
	REJECT(ERR_CORRUPT, "hard link", HDR(1), HEAD("d", TREE_DIR, 8, 0), V(1), V(2), ID(0));
	REJECT(ERR_CORRUPT, "link count", HDR(1), HEAD("p", TREE_FIFO, 8, 0), V(1), V(1ull << 32));
	buf_free(&b);
}

static void test_decoder_lists(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	/* Extended attributes. */
	ACCEPT(HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(2), S("a"), S(""), S("b"), LSTR(0, TREE_XATTR_VALUE_MAX));
	REJECT(ERR_CORRUPT, "xattr count", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(0));
	REJECT(ERR_TOO_LARGE, "xattr count", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(TREE_XATTRS_MAX + 1));
	REJECT(ERR_CORRUPT, "xattr count", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(2), S("a"), S(""));
	REJECT(ERR_CORRUPT, "xattr 1", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(2), S("b"), S(""), S("a"), S(""));
	REJECT(ERR_CORRUPT, "xattr 1", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(2), S("a"), S(""), S("a"), S(""));
	REJECT(ERR_CORRUPT, "xattr name", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(1), S(""), S(""), U8(0));
	REJECT(ERR_TOO_LARGE, "xattr name", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(1), LSTR('n', 256), S(""));
	REJECT(ERR_TOO_LARGE, "xattr value", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(1), S("a"),
	       LSTR(0, TREE_XATTR_VALUE_MAX + 1));
	REJECT(ERR_CORRUPT, "ACL", HDR(1), HEAD("p", TREE_FIFO, 16, 0), V(1), S("system.posix_acl_default"),
	       S("x"));

	/* ACLs: tag, perm, and an id for user (2) and group (8). */
#define BASE3 U8(1), U8(7), U8(4), U8(5), U8(32), U8(1)
	ACCEPT(HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(5), U8(1), U8(7), U8(2), U8(6), V(1000), U8(4), U8(5),
	       U8(16), U8(7), U8(32), U8(0));
	ACCEPT(HDR(1), HEAD("d", TREE_DIR, 64, 0), V(3), BASE3, ID(1));
	REJECT(ERR_CORRUPT, "mode", HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(3), BASE3);
	REJECT(ERR_CORRUPT, "default ACL", HDR(1), HEAD("p", TREE_FIFO, 64, 0), V(3), BASE3);
	REJECT(ERR_CORRUPT, "access ACL count", HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(0));
	REJECT(ERR_TOO_LARGE, "access ACL count", HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(TREE_ACL_MAX + 1));
	REJECT(ERR_CORRUPT, "tag", HDR(1), HEAD("d", TREE_DIR, 64, 0), V(3), U8(1), U8(7), U8(3), U8(5),
	       U8(32), U8(1), ID(1));
	REJECT(ERR_CORRUPT, "rwx", HDR(1), HEAD("d", TREE_DIR, 64, 0), V(3), U8(1), U8(8), U8(4), U8(5),
	       U8(32), U8(1), ID(1));
	REJECT(ERR_CORRUPT, "sorted", HDR(1), HEAD("d", TREE_DIR, 64, 0), V(3), U8(4), U8(5), U8(1), U8(7),
	       U8(32), U8(1), ID(1));
	REJECT(ERR_CORRUPT, "mask", HDR(1), HEAD("d", TREE_DIR, 64, 0), V(4), U8(1), U8(7), U8(4), U8(5),
	       U8(8), U8(5), V(7), U8(32), U8(1), ID(1));
	REJECT(ERR_CORRUPT, "ACL id", HDR(1), HEAD("d", TREE_DIR, 64, 0), V(4), U8(1), U8(7), U8(2), U8(5),
	       V(1ull << 32), U8(16), U8(5), U8(32), U8(1), ID(1));
	REJECT(ERR_CORRUPT, "access ACL count", HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(3), U8(1), U8(7));
	REJECT(ERR_CORRUPT, "access ACL entry 1: truncated", HDR(1), HEAD("p", TREE_FIFO, 32, 0), V(2),
	       U8(2), U8(6), V(5), U8(1));
#undef BASE3

	/* Sparse files: extents sorted, apart, within the size, and the
	 * chunks' lengths add up to the extents'. */
	ACCEPT(HDR(1), HEAD("s", TREE_FILE, 128, 100), V(2), V(0), V(10), V(50), V(50), V(1), ID(7), V(60));
	ACCEPT(HDR(1), HEAD("s", TREE_FILE, 128, 100), V(0), V(0));
	REJECT(ERR_CORRUPT, "extent 1", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(2), V(50), V(10), V(0),
	       V(10), V(1), ID(7), V(20));
	REJECT(ERR_CORRUPT, "extent 1", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(2), V(0), V(10), V(5),
	       V(10), V(1), ID(7), V(20));
	REJECT(ERR_CORRUPT, "extent 1", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(2), V(0), V(10), V(10),
	       V(10), V(1), ID(7), V(20));
	REJECT(ERR_CORRUPT, "past the end", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(95), V(10),
	       V(1), ID(7), V(10));
	REJECT(ERR_CORRUPT, "past the end", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(UINT64_MAX),
	       V(UINT64_MAX), V(0));
	REJECT(ERR_CORRUPT, "extent 0", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(5), V(0), V(0));
	REJECT(ERR_CORRUPT, "dense", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(0), V(100), V(1), ID(7),
	       V(100));
	REJECT(ERR_CORRUPT, "sparse", HDR(1), HEAD("s", TREE_FILE, 128, 0), V(0), V(0));
	REJECT(ERR_CORRUPT, "add up", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(0), V(10), V(1), ID(7),
	       V(11));
	REJECT(ERR_CORRUPT, "add up", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(1), V(0), V(10), V(0));
	REJECT(ERR_CORRUPT, "content", HDR(1), HEAD("p", TREE_FIFO, 128, 100), V(0));
	REJECT(ERR_TOO_LARGE, "extent count", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(TREE_EXTENTS_MAX + 1));
	REJECT(ERR_CORRUPT, "extent count", HDR(1), HEAD("s", TREE_FILE, 128, 100), V(5), V(0), V(1), V(0));

	/* Dense files: chunk lengths add up to the size. */
	ACCEPT(HDR(1), HEAD("f", TREE_FILE, 0, 0), V(0));
	ACCEPT(HDR(1), HEAD("f", TREE_FILE, 0, TREE_CHUNK_LEN_MAX + 1ull), V(2), ID(1), V(TREE_CHUNK_LEN_MAX),
	       ID(2), V(1));
	REJECT(ERR_CORRUPT, "add up", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(1), ID(1), V(9));
	REJECT(ERR_CORRUPT, "add up", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(0));
	REJECT(ERR_CORRUPT, "add up", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(2), ID(1), V(5), ID(2), V(6));
	REJECT(ERR_CORRUPT, "chunk 0", HDR(1), HEAD("f", TREE_FILE, 0, 0), V(1), ID(1), V(0));
	REJECT(ERR_TOO_LARGE, "chunk length", HDR(1), HEAD("f", TREE_FILE, 0, TREE_CHUNK_LEN_MAX + 1ull), V(1),
	       ID(1), V(TREE_CHUNK_LEN_MAX + 1));
	REJECT(ERR_TOO_LARGE, "chunk count", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(TREE_CHUNKS_MAX + 1));
	REJECT(ERR_CORRUPT, "chunk count", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(2), ID(1), V(10));
	REJECT(ERR_CORRUPT, "chunk length", HDR(1), HEAD("f", TREE_FILE, 0, 10), V(1), ID(1),
	       RAW("\x8a\x00", 2));
	REJECT(ERR_CORRUPT, "subtree id", HDR(1), HEAD("d", TREE_DIR, 0, 0), RAW("12345678", 8));
	buf_free(&b);
}

/* Over the total bound: refused before a byte is read. */
static void test_decoder_total_bound(void **state)
{
	(void)state;
	uint8_t *p = malloc((size_t)TREE_BYTES_MAX + 1);
	struct err e;

	assert_non_null(p);
	p[0] = TREE_VERSION;
	err_clear(&e);
	assert_null(tree_decode(p, (size_t)TREE_BYTES_MAX + 1, &e));
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_non_null(strstr(e.msg, "over the limit"));
	free(p);
}

/* A small valid encoding with every byte replaced by every other value: a
 * clean error, or a valid tree that re-encodes to exactly the changed bytes
 * (the format is canonical). Then every bit of the big sample. */
static void check_variant(const struct buf *b, size_t *accepted)
{
	struct buf again = BUF_INIT;
	struct tree *u;
	struct err e;

	err_clear(&e);
	u = tree_decode(b->data, b->len, &e);
	if (u == NULL) {
		assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED || e.code == ERR_TOO_LARGE);
		assert_true(e.msg[0] != 0);
		return;
	}
	(*accepted)++;
	for (size_t i = 0; i < u->n; i++)
		assert_int_equal(tree_entry_check(&u->e[i], NULL), 0);
	encode_ok(u, &again);
	assert_int_equal(again.len, b->len);
	assert_memory_equal(again.data, b->data, b->len);
	tree_free(u);
	buf_free(&again);
}

static void test_every_changed_byte(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	size_t accepted = 0, tries = 0;

	raw(&b, HDR(4), HEAD("d", TREE_DIR, 32 | 64, 4096), V(5), U8(1), U8(7), U8(4), U8(5), U8(8), U8(5),
	    V(9), U8(16), U8(7), U8(32), U8(1), V(3), U8(1), U8(7), U8(4), U8(5), U8(32), U8(1), ID(0x11),
	    S("f"), U8(TREE_FILE), V(1 | 8 | 16), V(0), V(0), V(0), S("u"), TIMES0,
	    V(10), V(5), V(2), V(1), S("user.k"), S("v"), V(1), ID(0x22),
	    V(10), HEAD("l", TREE_SYMLINK, 4, 1), S("t"), HEAD("s", TREE_FILE, 128, 100), V(1), V(0x40), V(2),
	    V(1), ID(0x33), V(2), T_END);
	check_variant(&b, &accepted); /* the original is valid */
	assert_int_equal(accepted, 1);
	for (size_t i = 0; i < b.len; i++) {
		uint8_t keep = b.data[i];

		for (unsigned v = 0; v < 256; v++) {
			if (v == keep)
				continue;
			b.data[i] = (uint8_t)v;
			check_variant(&b, &accepted);
			tries++;
		}
		b.data[i] = keep;
	}
		/* Every id byte can change (3 ids); a quarter of all changes at least
	 * must be refused, or the decoder is checking too little. */
	if (accepted < 3 * 32 * 255 || accepted > tries / 4 * 3)
		fail_msg("%zu of %zu changed encodings decoded", accepted, tries);

	buf_reset(&b);
	encode_sample(&b);
	accepted = tries = 0;
	for (size_t i = 0; i < b.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++, tries++) {
			b.data[i] ^= (uint8_t)(1u << bit);
			check_variant(&b, &accepted);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_true(accepted > 0 && accepted < tries);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_empty_folder),
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_entry_rules),
		cmocka_unit_test(test_add_sort_find),
		cmocka_unit_test(test_entry_clear),
		cmocka_unit_test(test_truncations_and_trailing),
		cmocka_unit_test(test_decoder_header_and_names),
		cmocka_unit_test(test_decoder_fields),
		cmocka_unit_test(test_decoder_lists),
		cmocka_unit_test(test_decoder_total_bound),
		cmocka_unit_test(test_every_changed_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
