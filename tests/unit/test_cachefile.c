/*
 * test_cachefile.c: the agent's cache files (trees.dat, stored.ids,
 * files.idx) refused or read as docs/FORMAT.md says, with the message the
 * agent shows when it ignores or starts over a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "cachefile.h"

struct mem {
	const uint8_t *p;
	size_t n;
	int fail_at_record; /* make the read of this record (1-based) fail */
	int reads;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t n)
{
	struct mem *m = arg;

	if (m->fail_at_record && ++m->reads == m->fail_at_record + 1)
		return -1;
	assert_true(off <= m->n && n <= m->n - off);
	memcpy(buf, m->p + off, n);
	return 0;
}

static struct objid id_of(uint8_t v)
{
	struct objid id;

	memset(id.b, v, sizeof(id.b));
	return id;
}

/* A trees.dat with records (id v, V+1 bytes of value v) for each v of VS. */
static void trees_file(struct buf *b, const uint8_t *vs, size_t n)
{
	assert_int_equal(buf_append(b, cache_trees_magic, 8, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t head[CACHE_TREES_HEAD], body[256];
		struct objid id = id_of(vs[i]);

		memset(body, vs[i], sizeof(body));
		cache_trees_head(head, &id, (uint32_t)vs[i] + 1);
		assert_int_equal(buf_append(b, head, sizeof(head), NULL), 0);
		assert_int_equal(buf_append(b, body, (size_t)vs[i] + 1, NULL), 0);
	}
}

static int scan(const struct buf *b, size_t size, uint64_t max, struct idmap *at, uint64_t *end,
		struct err *e)
{
	struct mem m = { b->data, size, 0, 0 };

	return cache_trees_scan(mem_read, &m, size, max, at, end, e);
}

static void test_trees_good_and_duplicates(void **state)
{
	(void)state;
	const uint8_t vs[] = { 1, 2, 3, 2 };
	struct buf b = BUF_INIT;
	struct idmap at;
	struct err e;
	uint64_t end;
	struct objid two = id_of(2);
	const uint64_t *v;

	trees_file(&b, vs, 4);
	idmap_init(&at, 16);
	assert_int_equal(scan(&b, b.len, 1 << 20, &at, &end, &e), 0);
	assert_int_equal(end, b.len);
	assert_int_equal(at.n, 3);
	/* The later record of id 2 wins: it is the last in the file. */
	v = idmap_get(&at, &two);
	assert_non_null(v);
	assert_int_equal(v[1], 3);
	assert_int_equal(v[0], b.len - 3);
	idmap_free(&at);

	/* A zero-length record is indexed (and will fail to open later). */
	buf_reset(&b);
	{
		const uint8_t none[] = { 5 };
		uint8_t head[CACHE_TREES_HEAD];
		struct objid id = id_of(9);

		trees_file(&b, none, 1);
		cache_trees_head(head, &id, 0);
		assert_int_equal(buf_append(&b, head, sizeof(head), NULL), 0);
	}
	idmap_init(&at, 16);
	assert_int_equal(scan(&b, b.len, 1 << 20, &at, &end, &e), 0);
	assert_int_equal(at.n, 2);
	assert_int_equal(end, b.len);
	idmap_free(&at);
	buf_free(&b);
}

/* A torn last record is left out and END says where to cut, at every
 * length of the tear. */
static void test_trees_torn(void **state)
{
	(void)state;
	const uint8_t vs[] = { 7, 8 };
	struct buf b = BUF_INIT;
	struct idmap at;
	struct err e;
	uint64_t end, first_end = 8 + CACHE_TREES_HEAD + 8;

	trees_file(&b, vs, 2);
	for (size_t cut = first_end; cut < b.len; cut++) {
		idmap_init(&at, 16);
		assert_int_equal(scan(&b, cut, 1 << 20, &at, &end, &e), 0);
		assert_int_equal(end, first_end);
		assert_int_equal(at.n, 1);
		idmap_free(&at);
	}
	/* A length that points past the end (a flipped high byte) tears too. */
	b.data[first_end + OBJID_LEN + 3] = 0x80;
	idmap_init(&at, 16);
	assert_int_equal(scan(&b, b.len, 1 << 20, &at, &end, &e), 0);
	assert_int_equal(end, first_end);
	idmap_free(&at);
	buf_free(&b);
}

static void test_trees_refused(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct idmap at;
	struct err e;
	uint64_t end;
	const uint8_t vs[] = { 1, 2 };

	trees_file(&b, vs, 2);
	idmap_init(&at, 16);
	/* Truncated inside the magic. */
	assert_int_equal(scan(&b, 5, 1 << 20, &at, &end, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "truncated: 5 bytes, shorter than its 8-byte header");
	/* Oversized. */
	assert_int_equal(scan(&b, b.len, b.len - 1, &at, &end, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_non_null(strstr(e.msg, "over its bound of"));
	/* Another version. */
	b.data[7] = '2';
	assert_int_equal(scan(&b, b.len, 1 << 20, &at, &end, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_string_equal(e.msg, "format version '2' (0x32), this agent reads version 1");
	/* Wrong magic: another cache file in its place. */
	memcpy(b.data, cache_ids_magic, 8);
	assert_int_equal(scan(&b, b.len, 1 << 20, &at, &end, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "wrong magic (expected \"ARCATRC1\")");
	assert_int_equal(at.n, 0);
	/* A read that fails half way leaves nothing indexed. */
	memcpy(b.data, cache_trees_magic, 8);
	{
		struct mem m = { b.data, b.len, 2, 0 };

		assert_int_equal(cache_trees_scan(mem_read, &m, b.len, 1 << 20, &at, &end, &e), -1);
		assert_int_equal(e.code, ERR_IO);
		assert_int_equal(at.n, 0);
	}
	idmap_free(&at);
	buf_free(&b);
}

/* An index of N records of 32 + VSIZE bytes, key i = id_of(i + 1). */
static void index_file(struct buf *b, const char *magic, size_t vsize, size_t n)
{
	assert_int_equal(buf_append(b, magic, 8, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		struct objid k = id_of((uint8_t)(i + 1));
		uint8_t v[64];

		memset(v, (int)(0x40 + i), sizeof(v));
		assert_int_equal(buf_append(b, k.b, 32, NULL), 0);
		assert_int_equal(buf_append(b, v, vsize, NULL), 0);
	}
}

static void test_index_round_trip(void **state)
{
	(void)state;
	struct buf b = BUF_INIT, out = BUF_INIT;
	struct idmap m, again;
	struct err e;

	index_file(&b, cache_fidx_magic, 40, 3);
	idmap_init(&m, 40);
	idmap_init(&again, 40);
	assert_int_equal(cache_index_parse(b.data, b.len, cache_fidx_magic, &m, &e), 0);
	assert_int_equal(m.n, 3);
	assert_int_equal(cache_index_write(&m, cache_fidx_magic, 40, &out, &e), 0);
	assert_int_equal(out.len, b.len);
	assert_int_equal(cache_index_parse(out.data, out.len, cache_fidx_magic, &again, &e), 0);
	for (size_t i = 0; i < 3; i++) {
		struct objid k = id_of((uint8_t)(i + 1));
		const uint8_t *v = idmap_get(&again, &k);

		assert_non_null(v);
		assert_int_equal(v[0], 0x40 + i);
		assert_int_equal(v[39], 0x40 + i);
	}
	idmap_free(&again);
	/* Written with fewer value bytes (a set from a map with flags), it
	 * reads back into a map of that many; never with more than M holds. */
	buf_reset(&out);
	assert_int_equal(cache_index_write(&m, cache_ids_magic, 0, &out, &e), 0);
	assert_int_equal(out.len, 8 + 3 * 32);
	idmap_init(&again, 0);
	assert_int_equal(cache_index_parse(out.data, out.len, cache_ids_magic, &again, &e), 0);
	assert_int_equal(again.n, 3);
	idmap_free(&again);
	assert_int_equal(cache_index_write(&m, cache_fidx_magic, 41, &out, &e), -1);
	idmap_free(&m);
	/* An empty index (header only) is a good one. */
	idmap_init(&m, 0);
	assert_int_equal(cache_index_parse((const uint8_t *)cache_ids_magic, 8, cache_ids_magic, &m, &e), 0);
	assert_int_equal(m.n, 0);
	idmap_free(&m);
	buf_free(&b);
	buf_free(&out);
}

static void test_index_refused(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct idmap m;
	struct err e;

	idmap_init(&m, 0);
	index_file(&b, cache_ids_magic, 0, 3);
	/* Truncated header; empty file. */
	assert_int_equal(cache_index_parse(b.data, 7, cache_ids_magic, &m, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "truncated: 7 bytes, shorter than its 8-byte header");
	assert_int_equal(cache_index_parse(b.data, 0, cache_ids_magic, &m, &e), -1);
	assert_string_equal(e.msg, "truncated: 0 bytes, shorter than its 8-byte header");
	/* A torn record. */
	assert_int_equal(cache_index_parse(b.data, b.len - 1, cache_ids_magic, &m, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "95 bytes after the header are not a whole number of 32-byte "
			    "records (a torn write?)");
	/* The other index's magic, and a newer version. */
	assert_int_equal(cache_index_parse(b.data, b.len, cache_fidx_magic, &m, &e), -1);
	assert_string_equal(e.msg, "wrong magic (expected \"ARCAFIX1\")");
	b.data[7] = '9';
	assert_int_equal(cache_index_parse(b.data, b.len, cache_ids_magic, &m, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_string_equal(e.msg, "format version '9' (0x39), this agent reads version 1");
	b.data[7] = '1';
	/* A key twice: the whole file is refused, the map left empty. */
	memcpy(b.data + 8 + 2 * 32, b.data + 8, 32);
	assert_int_equal(cache_index_parse(b.data, b.len, cache_ids_magic, &m, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "record 3 repeats an earlier key");
	assert_int_equal(m.n, 0);
	/* The map stays usable after a refusal. */
	b.data[8 + 2 * 32] ^= 1;
	assert_int_equal(cache_index_parse(b.data, b.len, cache_ids_magic, &m, &e), 0);
	assert_int_equal(m.n, 3);
	idmap_free(&m);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trees_good_and_duplicates),
		cmocka_unit_test(test_trees_torn),
		cmocka_unit_test(test_trees_refused),
		cmocka_unit_test(test_index_round_trip),
		cmocka_unit_test(test_index_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
