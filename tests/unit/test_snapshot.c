/*
 * test_snapshot.c: the snapshot reader on a recovery point held in memory
 * (this file stands in for repo.c): paths looked up, folders listed, files
 * read at any offset and length, holes of sparse files as zeros, and every
 * failure an error, never a short or empty answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot.h"

/* Object ids: b[0] names the object; b[1] == 0xff marks a chunk that fails
 * to read; b[2] == 0xff a folder that fails. */
enum { ROOT = 0xa0, DOCS = 0xa1, BROKEN_DIR = 0xa2, META = 0xa3 };

static struct objid oid(uint8_t n, uint8_t bad_chunk, uint8_t bad_dir)
{
	struct objid id = { { 0 } };

	id.b[0] = n, id.b[1] = bad_chunk, id.b[2] = bad_dir;
	return id;
}

/* Chunk N's byte I. */
static uint8_t byte_of(uint8_t n, size_t i)
{
	return (uint8_t)(n * 16 + i + 1);
}


static struct tree_entry file_entry(const char *name, uint64_t size, struct tree_chunk *c,
				    size_t n)
{
	struct tree_entry x;

	memset(&x, 0, sizeof(x));
	x.name = (char *)name;
	x.type = TREE_FILE;
	x.mode = 0644;
	x.size = size;
	x.chunks = c;
	x.n_chunks = n;
	return x;
}

static struct tree_entry dir_entry(const char *name, struct objid sub)
{
	struct tree_entry x;

	memset(&x, 0, sizeof(x));
	x.name = (char *)name;
	x.type = TREE_DIR;
	x.mode = 0755;
	x.subtree = sub;
	return x;
}

struct tree *repo_tree(struct repo *r, const struct objid *id, struct err *e)
{
	struct tree *t = tree_new(e);
	struct tree_chunk big[3] = { { oid(1, 0, 0), 4 }, { oid(2, 0, 0), 4 }, { oid(3, 0, 0), 2 } };
	struct tree_chunk holey[2] = { { oid(4, 0, 0), 3 }, { oid(5, 0, 0), 4 } };
	struct tree_chunk bad[2] = { { oid(6, 0, 0), 2 }, { oid(7, 0xff, 0), 2 } };
	struct tree_chunk a[1] = { { oid(8, 0, 0), 5 } };
	struct tree_extent ext[2] = { { 2, 3 }, { 10, 4 } };
	struct tree_entry x;

	(void)r;
	assert_non_null(t);
	if (id->b[2] == 0xff) {
		tree_free(t);
		err_set(e, ERR_NOT_FOUND, "object %02x is not stored on the service", id->b[0]);
		return NULL;
	}
	if (id->b[0] == ROOT) {
		x = dir_entry("docs", oid(DOCS, 0, 0));
		assert_int_equal(tree_add(t, &x, e), 0);
		x = dir_entry("lost", oid(BROKEN_DIR, 0, 0xff));
		assert_int_equal(tree_add(t, &x, e), 0);
		x = file_entry("big", 10, big, 3);
		assert_int_equal(tree_add(t, &x, e), 0);
		x = file_entry("holey", 20, holey, 2);
		x.sparse = true, x.extents = ext, x.n_extents = 2;
		assert_int_equal(tree_add(t, &x, e), 0);
		x = file_entry("bad", 4, bad, 2);
		assert_int_equal(tree_add(t, &x, e), 0);
		x = file_entry("empty", 0, NULL, 0);
		assert_int_equal(tree_add(t, &x, e), 0);
	} else if (id->b[0] == DOCS) {
		x = file_entry("a.txt", 5, a, 1);
		assert_int_equal(tree_add(t, &x, e), 0);
	}
	assert_int_equal(tree_sort(t, e), 0);
	return t;
}

json_t *repo_meta(struct repo *r, const char *meta_hex, struct err *e)
{
	(void)r;
	if (strcmp(meta_hex, "good") != 0) {
		err_set(e, ERR_CORRUPT, "the recovery point's record is damaged");
		return NULL;
	}
	return json_pack("{s:s,s:i}", "root",
			 "a000000000000000000000000000000000000000000000000000000000000000",
			 "version", 1);
}

int repo_read_chunks(struct repo *r, const struct tree_chunk *chunks, size_t n,
		     repo_chunk_fn fn, void *arg, struct err *e)
{
	(void)r;
	for (size_t i = 0; i < n; i++) {
		uint8_t data[16];
		struct err ce;

		if (chunks[i].id.b[1] == 0xff) {
			err_set(&ce, ERR_CORRUPT, "chunk %02x failed authentication", chunks[i].id.b[0]);
			if (fn(arg, i, NULL, 0, &ce))
				return err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
			continue;
		}
		for (size_t k = 0; k < chunks[i].len; k++)
			data[k] = byte_of(chunks[i].id.b[0], k);
		if (fn(arg, i, data, chunks[i].len, NULL))
			return err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
	}
	return 0;
}

static struct snapshot *open_good(void)
{
	struct err e;
	struct snapshot *sn = snapshot_open(NULL, "good", &e);

	assert_non_null(sn);
	return sn;
}

static void test_open(void **state)
{
	struct snapshot *sn = open_good();
	struct objid root = oid(ROOT, 0, 0);
	struct err e;

	(void)state;
	assert_memory_equal(snapshot_root_id(sn)->b, root.b, sizeof(root.b));
	assert_int_equal(json_integer_value(json_object_get(snapshot_meta(sn), "version")), 1);
	snapshot_close(sn);
	assert_null(snapshot_open(NULL, "damaged", &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	snapshot_close(NULL);
}

static void test_lookup(void **state)
{
	struct snapshot *sn = open_good();
	struct snapshot_entry x;
	struct err e;

	(void)state;
	assert_int_equal(snapshot_lookup(sn, NULL, "/", &x, &e), 0);
	assert_null(x.e);
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/big", &x, &e), 0);
	assert_string_equal(x.e->name, "big");
	assert_null(x.holder); /* in the root folder, which the snapshot keeps */
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "//docs/./../docs/a.txt", &x, &e), -1);
	assert_int_equal(snapshot_lookup(sn, NULL, "//docs//a.txt", &x, &e), 0);
	assert_string_equal(x.e->name, "a.txt");
	assert_non_null(x.holder);
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/nope", &x, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_string_equal(e.msg, "/nope is not in this recovery point");
	assert_null(x.e);
	assert_int_equal(snapshot_lookup(sn, NULL, "/big/x", &x, &e), -1);
	assert_string_equal(e.msg, "/big/x is not in this recovery point (big is not a folder)");
	/* A folder that cannot be read is an error, not "not there". */
	assert_int_equal(snapshot_lookup(sn, NULL, "/lost/x", &x, &e), -1);
	assert_string_equal(e.msg, "object a2 is not stored on the service");
	snapshot_close(sn);
}

static void test_list(void **state)
{
	struct snapshot *sn = open_good();
	struct snapshot_entry x;
	struct tree *t;
	struct err e;

	(void)state;
	assert_non_null(t = snapshot_list(sn, NULL, NULL, &e));
	assert_int_equal(t->n, 6);
	tree_free(t);
	assert_int_equal(snapshot_lookup(sn, NULL, "/docs", &x, &e), 0);
	assert_non_null(t = snapshot_list(sn, NULL, x.e, &e));
	assert_int_equal(t->n, 1);
	assert_string_equal(t->e[0].name, "a.txt");
	tree_free(t);
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/big", &x, &e), 0);
	assert_null(snapshot_list(sn, NULL, x.e, &e));
	assert_int_equal(e.code, ERR_INVALID);
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/lost", &x, &e), 0);
	assert_null(snapshot_list(sn, NULL, x.e, &e));
	assert_int_equal(e.code, ERR_NOT_FOUND);
	snapshot_entry_free(&x);
	snapshot_close(sn);
}

/* FILE's whole content as the tree says it is, into OUT. */
static void expected(const char *file, uint8_t *out)
{
	if (strcmp(file, "/big") == 0) {
		for (size_t i = 0; i < 10; i++)
			out[i] = byte_of((uint8_t)(1 + i / 4), i % 4);
		return;
	}
	/* /holey: extents [2,5) from chunk 4, [10,14) from chunk 5. */
	memset(out, 0, 20);
	for (size_t i = 0; i < 3; i++)
		out[2 + i] = byte_of(4, i);
	for (size_t i = 0; i < 4; i++)
		out[10 + i] = byte_of(5, i);
}

static void read_every_range(const char *path, uint64_t size)
{
	struct snapshot *sn = open_good();
	struct snapshot_entry x;
	uint8_t want[32], got[32];
	struct err e;

	expected(path, want);
	assert_int_equal(snapshot_lookup(sn, NULL, path, &x, &e), 0);
	for (uint64_t off = 0; off <= size + 2; off++)
		for (size_t len = 0; len <= size + 2; len++) {
			size_t n = 99;
			size_t should = off >= size ? 0 : (size - off < len ? size - off : len);

			memset(got, 0xee, sizeof(got));
			assert_int_equal(snapshot_read(sn, NULL, x.e, off, got, len, &n, &e), 0);
			assert_int_equal(n, should);
			if (n)
				assert_memory_equal(got, want + off, n);
			assert_int_equal(got[n], 0xee); /* nothing written past it */
		}
	snapshot_entry_free(&x);
	snapshot_close(sn);
}

static void test_read_dense(void **state)
{
	(void)state;
	read_every_range("/big", 10);
}

static void test_read_sparse(void **state)
{
	(void)state;
	read_every_range("/holey", 20);
}

static void test_read_failures(void **state)
{
	struct snapshot *sn = open_good();
	struct snapshot_entry x;
	uint8_t buf[8];
	size_t n = 99;
	struct err e;

	(void)state;
	assert_int_equal(snapshot_lookup(sn, NULL, "/bad", &x, &e), 0);
	/* The first chunk reads; a range in the second fails, whole. */
	assert_int_equal(snapshot_read(sn, NULL, x.e, 0, buf, 2, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(snapshot_read(sn, NULL, x.e, 1, buf, 3, &n, &e), -1);
	assert_int_equal(n, 0);
	assert_string_equal(e.msg, "chunk 07 failed authentication");
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/docs", &x, &e), 0);
	assert_int_equal(snapshot_read(sn, NULL, x.e, 0, buf, 2, &n, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	snapshot_entry_free(&x);
	assert_int_equal(snapshot_lookup(sn, NULL, "/empty", &x, &e), 0);
	assert_int_equal(snapshot_read(sn, NULL, x.e, 0, buf, 8, &n, &e), 0);
	assert_int_equal(n, 0);
	snapshot_entry_free(&x);
	snapshot_close(sn);
}

static int count_chunk(void *arg, size_t i, const uint8_t *p, size_t len, const struct err *e)
{
	(void)i, (void)p, (void)e;
	*(size_t *)arg += len;
	return 0;
}

static void test_stream(void **state)
{
	struct snapshot *sn = open_good();
	struct snapshot_entry x;
	size_t total = 0;
	struct err e;

	(void)state;
	assert_int_equal(snapshot_lookup(sn, NULL, "/holey", &x, &e), 0);
	assert_int_equal(snapshot_stream(sn, NULL, x.e, count_chunk, &total, &e), 0);
	assert_int_equal(total, 7); /* the data, without the holes */
	snapshot_entry_free(&x);
	snapshot_close(sn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_read_dense),
		cmocka_unit_test(test_read_sparse),
		cmocka_unit_test(test_read_failures),
		cmocka_unit_test(test_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
