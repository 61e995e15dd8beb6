/* test_tree.c: the canonical directory encoding, its rules and its decoder. */
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
static struct tree_extent extents[] = { { 0, 4096 }, { 1 << 20, 8192 } };
static struct tree_chunk chunks2[2], chunks_sparse[1];

static void fill_id(struct objid *id, uint8_t seed)
{
	for (int i = 0; i < OBJID_LEN; i++)
		id->b[i] = (uint8_t)(seed + i * 3);
}

/* One entry of every type, exercising every field, added out of order. */
static struct tree *sample(void)
{
	struct tree *t = tree_new(NULL);
	struct tree_entry x;

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
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "disk.img", x.type = TREE_FILE, x.mode = 0600, x.size = 10 << 20, x.sparse = true;
	x.extents = extents, x.n_extents = 2, x.chunks = chunks_sparse, x.n_chunks = 1;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "holes", x.type = TREE_FILE, x.mode = 0600, x.size = 1 << 30, x.sparse = true;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "docs", x.type = TREE_DIR, x.mode = 02775, x.size = 4096;
	x.acl_access = (struct tree_acl){ acl_dir, 5 }, x.acl_default = (struct tree_acl){ acl_dir, 5 };
	fill_id(&x.subtree, 9);
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "link", x.type = TREE_SYMLINK, x.mode = 0777, x.target = "../zeta.txt", x.size = 11;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "tty0", x.type = TREE_CHR, x.mode = 0620, x.dev_major = 4, x.dev_minor = 0;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "sda", x.type = TREE_BLK, x.mode = 0660, x.dev_major = 8, x.dev_minor = 1;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "pipe", x.type = TREE_FIFO, x.mode = 0644;
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "sock\xc3\xa9", x.type = TREE_SOCK, x.mode = 0755; /* UTF-8 name */
	assert_int_equal(tree_add(t, &x, NULL), 0);

	memset(&x, 0, sizeof(x));
	x.name = "empty", x.type = TREE_FILE, x.mode = 0;
	assert_int_equal(tree_add(t, &x, NULL), 0);
	return t;
}

static void test_roundtrip_every_field(void **state)
{
	(void)state;
	struct tree *t = sample(), *u;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	const struct tree_entry *z, *d, *s, *h;

	assert_false(t->sorted);
	assert_int_equal(tree_encode(t, &b, NULL), 0);
	assert_true(t->sorted);
	u = tree_decode(b.data, b.len, NULL);
	assert_non_null(u);
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
	assert_true(z->ctime.sec == INT64_MAX);
	assert_true(z->size == (1 << 20) + 1000);
	assert_true(z->link_id == 77 && z->nlink == 3);
	assert_int_equal(z->n_xattrs, 3);
	assert_string_equal(z->xattrs[0].name, "security.selinux");
	assert_int_equal(z->xattrs[0].len, 17);
	assert_memory_equal(z->xattrs[0].value, "system_u:object_r", 17);
	assert_int_equal(z->xattrs[1].len, 0);
	assert_memory_equal(z->xattrs[2].value, "\x00\x01\x02", 3);
	assert_int_equal(z->acl_access.n, 6);
	assert_int_equal(z->acl_access.e[2].id, 1002);
	assert_int_equal(z->acl_access.e[2].perm, 6);
	assert_int_equal(z->n_chunks, 2);
	assert_int_equal(objid_cmp(&z->chunks[1].id, &chunks2[1].id), 0);
	assert_int_equal(z->chunks[1].len, 1000);

	s = tree_find(u, "disk.img");
	assert_true(s->sparse);
	assert_int_equal(s->n_extents, 2);
	assert_true(s->extents[1].off == 1 << 20 && s->extents[1].len == 8192);
	h = tree_find(u, "holes");
	assert_true(h->sparse && h->n_extents == 0 && h->n_chunks == 0);

	d = tree_find(u, "docs");
	assert_int_equal(d->type, TREE_DIR);
	assert_int_equal(d->acl_default.n, 5);
	assert_int_equal(d->subtree.b[0], 9);
	assert_string_equal(tree_find(u, "link")->target, "../zeta.txt");
	assert_int_equal(tree_find(u, "sda")->dev_minor, 1);
	assert_int_equal(tree_find(u, "tty0")->dev_major, 4);
	assert_int_equal(tree_find(u, "pipe")->type, TREE_FIFO);
	assert_int_equal(tree_find(u, "sock\xc3\xa9")->type, TREE_SOCK);
	assert_null(tree_find(u, "nope"));
	assert_null(tree_find(u, "a"));
	assert_null(tree_find(u, "zz"));

	/* Canonical: re-encoding gives the same bytes. */
	assert_int_equal(tree_encode(u, &b2, NULL), 0);
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

	assert_int_equal(tree_encode(t, &b, NULL), 0);
	assert_int_equal(b.len, 2);
	u = tree_decode(b.data, b.len, NULL);
	assert_non_null(u);
	assert_int_equal(u->n, 0);
	assert_null(tree_find(u, "x"));
	tree_free(t);
	tree_free(u);
	tree_free(NULL);
	buf_free(&b);
}

/* Each rule of an entry, broken once; the message names the entry. */
static void test_entry_rules(void **state)
{
	(void)state;
	struct tree_chunk c = { { { 0 } }, 10 };
	struct tree_extent ext_bad[] = { { 0, 10 }, { 10, 5 } };
	struct tree_acl_entry acl_unsorted[] = { { TREE_ACL_OTHER, 0, 0 }, { TREE_ACL_USER_OBJ, 6, 0 } };
	struct tree_acl_entry acl_badid[] = { { TREE_ACL_MASK, 6, 5 } };
	struct tree_xattr xa_dup[] = { { "user.a", NULL, 0 }, { "user.a", NULL, 0 } };
	char longname[300];
	struct err e;
	struct tree_entry base, x;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	memset(&base, 0, sizeof(base));
	base.name = "f", base.type = TREE_FILE, base.size = 10, base.chunks = &c, base.n_chunks = 1;
	assert_int_equal(tree_entry_check(&base, &e), 0);

#define BREAK(stmt, word)                                              \
	do {                                                           \
		x = base;                                              \
		stmt;                                                  \
		assert_int_equal(tree_entry_check(&x, &e), -1);        \
		assert_int_equal(e.code, ERR_INVALID);                 \
		assert_non_null(strstr(e.msg, word));                  \
	} while (0)

	BREAK(x.name = "", "name");
	BREAK(x.name = ".", "name");
	BREAK(x.name = "..", "name");
	BREAK(x.name = "a/b", "name");
	BREAK(x.name = longname, "name");
	BREAK(x.type = 0, "type");
	BREAK(x.type = 8, "type");
	BREAK(x.mode = 010000, "mode");
	BREAK(x.user = "", "owner");
	BREAK(x.mtime.nsec = 1000000000u, "nanoseconds");
	BREAK(x.target = "t", "symlink");
	BREAK((x.type = TREE_SYMLINK, x.n_chunks = 0, x.target = NULL), "symlink");
	BREAK(x.link_id = 5, "hard-link");
	BREAK((x.link_id = 5, x.nlink = 1), "hard-link");
	BREAK((x.type = TREE_DIR, x.n_chunks = 0, x.link_id = 5, x.nlink = 2), "hard-link");
	BREAK((x.xattrs = xa_dup, x.n_xattrs = 2), "extended attributes");
	BREAK((x.acl_access = (struct tree_acl){ acl_unsorted, 2 }), "ACL");
	BREAK((x.acl_access = (struct tree_acl){ acl_badid, 1 }), "ACL id");
	BREAK((x.acl_default = (struct tree_acl){ acl_badid + 0, 0 }, x.acl_default.n = 1), "ACL");
	BREAK(x.dev_major = 1, "device");
	BREAK((x.type = TREE_FIFO), "content");
	BREAK((x.sparse = true, x.size = 0, x.n_chunks = 0), "sparse");
	BREAK((x.extents = ext_bad, x.n_extents = 1), "not marked sparse");
	BREAK((x.sparse = true, x.size = 100, x.extents = ext_bad, x.n_extents = 2), "extents");
	BREAK((x.sparse = true, x.size = 5, x.extents = ext_bad, x.n_extents = 1), "past the end");
	BREAK(x.size = 11, "add up");
	BREAK(c.len = 0, "chunk length");
	c.len = 10;
	BREAK(x.subtree.b[3] = 1, "subtree");
#undef BREAK
}

static void test_duplicate_names_refused(void **state)
{
	(void)state;
	struct tree *t = tree_new(NULL);
	struct tree_entry x;
	struct buf b = BUF_INIT;
	struct err e;

	memset(&x, 0, sizeof(x));
	x.name = "same", x.type = TREE_FIFO;
	assert_int_equal(tree_add(t, &x, NULL), 0);
	x.name = "other";
	assert_int_equal(tree_add(t, &x, NULL), 0);
	x.name = "same";
	assert_int_equal(tree_add(t, &x, NULL), 0);
	assert_int_equal(tree_encode(t, &b, &e), -1);
	assert_non_null(strstr(e.msg, "'same'"));
	assert_int_equal(b.len, 0);
	/* An invalid entry is refused at tree_add. */
	x.name = "a/b";
	assert_int_equal(tree_add(t, &x, &e), -1);
	assert_int_equal(t->n, 3);
	tree_free(t);
}

static void encode_sample(struct buf *b)
{
	struct tree *t = sample();

	assert_int_equal(tree_encode(t, b, NULL), 0);
	tree_free(t);
}

static void test_truncations_and_trailing(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct err e;

	encode_sample(&b);
	for (size_t n = 0; n < b.len; n++) {
		assert_null(tree_decode(b.data, n, &e));
		assert_int_equal(e.code, ERR_CORRUPT);
	}
	assert_int_equal(buf_append_u8(&b, 0, NULL), 0);
	assert_null(tree_decode(b.data, b.len, &e));
	assert_non_null(strstr(e.msg, "after its last entry"));
	buf_free(&b);
}

/* Hand-made encodings of one FIFO entry "b" with a byte to vary. */
static size_t fifo(uint8_t *p, const char *name, uint8_t version, uint8_t type, uint8_t nsec_hi)
{
	size_t n = 0;

	p[n++] = version;
	p[n++] = 1; /* one entry */
	p[n++] = (uint8_t)strlen(name);
	memcpy(p + n, name, strlen(name));
	n += strlen(name);
	p[n++] = type;
	p[n++] = 0; /* flags */
	p[n++] = 0; /* mode */
	p[n++] = 0; /* uid */
	p[n++] = 0; /* gid */
	for (int i = 0; i < 3; i++) {
		p[n++] = 0;	      /* seconds */
		p[n++] = nsec_hi ? 0xff : 0; /* nanoseconds */
		if (nsec_hi) {
			p[n++] = 0xff, p[n++] = 0xff, p[n++] = 0xff, p[n++] = 0x0f; /* 2^32-1 */
		}
	}
	p[n++] = 0; /* size */
	return n;
}

static void test_handmade_rejections(void **state)
{
	(void)state;
	uint8_t p[128];
	size_t n;
	struct tree *t;
	struct err e;

	n = fifo(p, "b", 1, TREE_FIFO, 0);
	t = tree_decode(p, n, &e);
	assert_non_null(t);
	tree_free(t);

	n = fifo(p, "b", 2, TREE_FIFO, 0);
	assert_null(tree_decode(p, n, &e));
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	n = fifo(p, "b", 0, TREE_FIFO, 0);
	assert_null(tree_decode(p, n, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	n = fifo(p, "b", 1, 9, 0);
	assert_null(tree_decode(p, n, &e));
	n = fifo(p, "b", 1, TREE_FIFO, 1);
	assert_null(tree_decode(p, n, &e));
	assert_non_null(strstr(e.msg, "nanoseconds"));
	n = fifo(p, "a/b", 1, TREE_FIFO, 0);
	assert_null(tree_decode(p, n, &e));
	n = fifo(p, "..", 1, TREE_FIFO, 0);
	assert_null(tree_decode(p, n, &e));
	/* A NUL inside a name. */
	n = fifo(p, "ab", 1, TREE_FIFO, 0);
	p[4] = 0;
	assert_null(tree_decode(p, n, &e));
	/* Non-minimal varint for the mode (0x80 0x00 instead of 0x00). */
	n = fifo(p, "b", 1, TREE_FIFO, 0);
	memmove(p + 7, p + 6, n - 6);
	p[6] = 0x80, p[7] = 0x00;
	assert_null(tree_decode(p, n + 1, &e));
	/* Unknown flag bit. */
	n = fifo(p, "b", 1, TREE_FIFO, 0);
	p[5] = 0x7f;
	assert_null(tree_decode(p, n, &e));
	/* A huge entry count with little input. */
	{
		const uint8_t big[] = { 1, 0xff, 0xff, 0xff, 0x07, 0 };

		assert_null(tree_decode(big, sizeof(big), &e));
		assert_null(tree_decode(NULL, 0, &e));
	}
}

static void test_order_enforced_in_decoder(void **state)
{
	(void)state;
	struct tree *t = tree_new(NULL);
	struct tree_entry x;
	struct buf b = BUF_INIT;
	struct err e;
	size_t ia, ib;

	memset(&x, 0, sizeof(x));
	x.name = "a", x.type = TREE_FIFO;
	assert_int_equal(tree_add(t, &x, NULL), 0);
	x.name = "b";
	assert_int_equal(tree_add(t, &x, NULL), 0);
	assert_int_equal(tree_encode(t, &b, NULL), 0);
	/* Swap the one-letter names: same length, now out of order. */
	ia = (size_t)((uint8_t *)memchr(b.data + 2, 'a', b.len - 2) - b.data);
	ib = (size_t)((uint8_t *)memchr(b.data + ia + 1, 'b', b.len - ia - 1) - b.data);
	b.data[ia] = 'b', b.data[ib] = 'a';
	assert_null(tree_decode(b.data, b.len, &e));
	assert_non_null(strstr(e.msg, "order"));
	b.data[ib] = 'b'; /* duplicate */
	assert_null(tree_decode(b.data, b.len, &e));
	tree_free(t);
	buf_free(&b);
}

/* Any single flipped byte: a clean error, or a valid tree that re-encodes to
 * exactly the flipped bytes (the format is canonical). */
static void test_every_flipped_byte(void **state)
{
	(void)state;
	struct buf b = BUF_INIT, again = BUF_INIT;
	size_t accepted = 0;

	encode_sample(&b);
	for (size_t i = 0; i < b.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct tree *u;
			struct err e;

			b.data[i] ^= (uint8_t)(1u << bit);
			err_clear(&e);
			u = tree_decode(b.data, b.len, &e);
			if (u == NULL) {
				assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED ||
					    e.code == ERR_TOO_LARGE);
				assert_true(e.msg[0] != 0);
			} else {
				accepted++;
				buf_reset(&again);
				assert_int_equal(tree_encode(u, &again, NULL), 0);
				assert_int_equal(again.len, b.len);
				assert_memory_equal(again.data, b.data, b.len);
				tree_free(u);
			}
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Flips in ids, times and names decode; many flips must not. */
	assert_true(accepted > 0 && accepted < b.len * 8);
	buf_free(&b);
	buf_free(&again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_empty_folder),
		cmocka_unit_test(test_entry_rules),
		cmocka_unit_test(test_duplicate_names_refused),
		cmocka_unit_test(test_truncations_and_trailing),
		cmocka_unit_test(test_handmade_rejections),
		cmocka_unit_test(test_order_enforced_in_decoder),
		cmocka_unit_test(test_every_flipped_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
