/* test_pack.c: pack writing, keyless table reading, keyed object reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "bytes.h"
#include "compress.h"
#include "keys.h"
#include "pack.h"

static struct keys *k;

static int setup(void **state)
{
	(void)state;
	k = keys_generate(NULL);
	return k ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	keys_free(k);
	return 0;
}

/* A small pack of N objects: object i is i+1 copies of a pattern, object 1 a
 * tree. IDS gets the ids. */
static void small_pack(size_t n, struct objid *ids, struct buf *out)
{
	struct pack_writer *w = pack_writer_new(k, 3, NULL);
	uint8_t pid[PACK_ID_LEN], data[64];

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof(data); j++)
			data[j] = (uint8_t)(i * 31 + j * j);
		objid_compute(k, data, 10 + i * 5, &ids[i]);
		assert_int_equal(pack_writer_add(w, i == 1 ? OBJECT_TREE : OBJECT_DATA, &ids[i],
						 data, 10 + i * 5, NULL), 0);
	}
	assert_int_equal(pack_writer_finish(w, out, pid, NULL), 0);
	pack_writer_free(w);
}

static void test_roundtrip_many_and_large(void **state)
{
	(void)state;
	const size_t n = 300;
	uint8_t *rnd = malloc(5u << 20), pid[PACK_ID_LEN], pid2[PACK_ID_LEN];
	struct pack_writer *w = pack_writer_new(k, 3, NULL);
	struct objid *ids = calloc(n, sizeof(*ids));
	struct buf pack = BUF_INIT, p = BUF_INIT;
	struct pack_entry *ents;
	size_t count;

	randombytes_buf(rnd, 5u << 20);
	for (size_t i = 0; i < n; i++) {
		/* Mostly small; a few of several MiB. */
		size_t len = i % 100 == 7 ? (4u << 20) + i : 1 + i * 13;

		objid_compute(k, rnd + i, len, &ids[i]);
		assert_int_equal(pack_writer_add(w, OBJECT_DATA, &ids[i], rnd + i, len, NULL), 0);
		assert_true(pack_writer_has(w, &ids[i]));
	}
	assert_int_equal(pack_writer_count(w), n);
	assert_true(pack_writer_size(w) > (12u << 20));
	assert_int_equal(pack_writer_finish(w, &pack, pid, NULL), 0);
	assert_int_equal(pack_writer_count(w), 0); /* ready for the next pack */
	assert_false(pack_writer_has(w, &ids[0]));
	pack_id_compute(pack.data, pack.len, pid2);
	assert_memory_equal(pid, pid2, PACK_ID_LEN);

	assert_int_equal(pack_toc_read(pack.data, pack.len, &ents, &count, NULL), 0);
	assert_int_equal(count, n);
	for (size_t i = 0; i < n; i++) {
		size_t len = i % 100 == 7 ? (4u << 20) + i : 1 + i * 13;

		assert_int_equal(objid_cmp(&ents[i].id, &ids[i]), 0);
		assert_int_equal(ents[i].kind, OBJECT_DATA);
		buf_reset(&p);
		assert_int_equal(pack_object_read(k, pack.data, pack.len, &ents[i], &p, NULL), 0);
		assert_int_equal(p.len, len);
		assert_memory_equal(p.data, rnd + i, len);
	}
	free(ents);
	free(ids);
	free(rnd);
	buf_free(&pack);
	buf_free(&p);
	pack_writer_free(w);
}

static void test_duplicates_and_empty_refused(void **state)
{
	(void)state;
	struct pack_writer *w = pack_writer_new(k, 3, NULL);
	struct buf out = BUF_INIT;
	uint8_t pid[PACK_ID_LEN];
	struct objid id;
	struct err e;

	assert_int_equal(pack_writer_finish(w, &out, pid, &e), -1);
	objid_compute(k, "x", 1, &id);
	assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id, (const uint8_t *)"x", 1, &e), 0);
	assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id, (const uint8_t *)"x", 1, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "already"));
	assert_int_equal(pack_writer_count(w), 1);
	pack_writer_free(w);
	pack_writer_free(NULL);
	/* A keyless writer cannot seal. */
	w = pack_writer_new(NULL, 3, &e);
	assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id, (const uint8_t *)"x", 1, &e), -1);
	assert_non_null(strstr(e.msg, "keyless"));
	pack_writer_free(w);
}

/* The garbage collector's copy: keyless, of live objects only; the copies
 * open with the machine's keys. */
static void test_keyless_copy(void **state)
{
	(void)state;
	struct objid ids[6];
	struct buf pack = BUF_INIT, pack2 = BUF_INIT, p = BUF_INIT;
	struct pack_entry *ents, *ents2;
	size_t n, n2;
	struct pack_writer *gc = pack_writer_new(NULL, 0, NULL);
	uint8_t pid[PACK_ID_LEN];

	small_pack(6, ids, &pack);
	assert_int_equal(pack_toc_read(pack.data, pack.len, &ents, &n, NULL), 0);
	for (size_t i = 0; i < n; i += 2) /* objects 0, 2, 4 are "live" */
		assert_int_equal(pack_writer_add_sealed(gc, &ents[i], pack.data + ents[i].offset, NULL), 0);
	assert_int_equal(pack_writer_finish(gc, &pack2, pid, NULL), 0);
	assert_int_equal(pack_toc_read(pack2.data, pack2.len, &ents2, &n2, NULL), 0);
	assert_int_equal(n2, 3);
	for (size_t i = 0; i < n2; i++) {
		buf_reset(&p);
		assert_int_equal(objid_cmp(&ents2[i].id, &ids[2 * i]), 0);
		assert_int_equal(pack_object_read(k, pack2.data, pack2.len, &ents2[i], &p, NULL), 0);
		assert_int_equal(p.len, 10 + 2 * i * 5);
	}
	free(ents);
	free(ents2);
	buf_free(&pack);
	buf_free(&pack2);
	buf_free(&p);
	pack_writer_free(gc);
}

/* Read everything a reader would: 0 if all of it checks out. */
static int read_all(const struct buf *pack, struct err *e)
{
	struct pack_entry *ents;
	size_t n;
	struct buf p = BUF_INIT;
	int rc = 0;

	if (pack_toc_read(pack->data, pack->len, &ents, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = pack_object_read(k, pack->data, pack->len, &ents[i], &p, e);
	free(ents);
	buf_free(&p);
	return rc;
}

static void test_every_flipped_byte_detected(void **state)
{
	(void)state;
	struct objid ids[4];
	struct buf pack = BUF_INIT;
	struct err e;

	small_pack(4, ids, &pack);
	assert_int_equal(read_all(&pack, &e), 0);
	for (size_t i = 0; i < pack.len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 7) {
			pack.data[i] ^= (uint8_t)(1u << bit);
			err_clear(&e);
			assert_int_equal(read_all(&pack, &e), -1);
			assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED);
			pack.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	buf_free(&pack);
}

static void test_truncation_and_garbage(void **state)
{
	(void)state;
	struct objid ids[3];
	struct buf pack = BUF_INIT, junk = BUF_INIT;
	struct pack_entry *ents;
	size_t n;
	struct err e;

	small_pack(3, ids, &pack);
	for (size_t len = 0; len < pack.len; len++) {
		assert_int_equal(pack_toc_read(pack.data, len, &ents, &n, &e), -1);
		assert_int_equal(e.code, ERR_CORRUPT);
	}
	for (int i = 0; i < 200; i++)
		buf_append_u8(&junk, (uint8_t)(i * 13), NULL);
	assert_int_equal(pack_toc_read(junk.data, junk.len, &ents, &n, &e), -1);
	assert_non_null(strstr(e.msg, "magic"));
	buf_free(&pack);
	buf_free(&junk);
}

/* A service that lies in a consistent table (right hash, wrong kind) is
 * caught when the object is read. */
static void test_table_kind_lie(void **state)
{
	(void)state;
	struct objid ids[2];
	struct buf pack = BUF_INIT, p = BUF_INIT;
	struct pack_entry *ents;
	size_t n;
	struct err e;

	small_pack(2, ids, &pack);
	assert_int_equal(pack_toc_read(pack.data, pack.len, &ents, &n, NULL), 0);
	ents[1].kind = OBJECT_DATA; /* it is a tree */
	assert_int_equal(pack_object_read(k, pack.data, pack.len, &ents[1], &p, &e), -1);
	assert_non_null(strstr(e.msg, "kind"));
	assert_int_equal(p.len, 0);
	ents[1].kind = OBJECT_TREE;
	ents[1].offset = pack.len; /* out of range */
	assert_int_equal(pack_object_read(k, pack.data, pack.len, &ents[1], &p, &e), -1);
	assert_non_null(strstr(e.msg, "outside"));
	free(ents);
	buf_free(&pack);
	buf_free(&p);
}

static void test_trailer_parse(void **state)
{
	(void)state;
	struct objid ids[2];
	struct buf pack = BUF_INIT;
	struct pack_trailer t;
	struct pack_entry *ents;
	size_t n;
	struct err e;

	small_pack(2, ids, &pack);
	/* The service's path: the tail, then the table by its range. */
	assert_int_equal(pack_trailer_parse(pack.data + pack.len - PACK_TRAILER_LEN, pack.len, &t, &e), 0);
	assert_int_equal(t.toc_length, 8 + 2 * PACK_ENTRY_LEN);
	assert_int_equal(pack_toc_decode(pack.data + t.toc_offset, t.toc_length, &t, &ents, &n, &e), 0);
	assert_int_equal(n, 2);
	free(ents);
	/* Claimed pack length that disagrees with the trailer. */
	assert_int_equal(pack_trailer_parse(pack.data + pack.len - PACK_TRAILER_LEN, pack.len + 1, &t, &e), -1);
	assert_int_equal(pack_trailer_parse(pack.data + pack.len - PACK_TRAILER_LEN, 10, &t, &e), -1);
	assert_non_null(strstr(e.msg, "too short"));
	buf_free(&pack);
}

/* Rewrite the trailer's table hash after the test has edited the table, so
 * that the edit reaches the structure checks behind the hash. */
static void rehash(struct buf *pack)
{
	uint8_t *t = pack->data + pack->len - PACK_TRAILER_LEN;

	SHA256(pack->data + le64_get(t), le32_get(t + 8), t + 16);
}

/* A table with the right hash but a wrong structure is refused without keys. */
static void test_toc_structure_behind_hash(void **state)
{
	(void)state;
	struct objid ids[3];
	struct buf pack = BUF_INIT, copy = BUF_INIT;
	struct pack_entry *ents;
	size_t n, toc;
	struct err e;
	/* Offsets inside the table: count at 0, entry i at 8 + 48 i: id (32),
	 * kind (1), reserved (3), length (4), offset (8). */
	struct {
		size_t at;
		int delta; /* added to the byte */
		const char *why;
	} bad[] = {
		{ 0, 1, "claims" },               /* count one too many */
		{ 0, -1, "claims" },              /* count one too few */
		{ 4, 1, "header" },               /* reserved */
		{ 8 + 32, 3, "kind" },            /* kind 4 */
		{ 8 + 32, -1, "kind" },           /* kind 0 */
		{ 8 + 33, 1, "reserved" },        /* entry reserved */
		{ 8 + 36, 1, "gap" },             /* first length one more: overlap */
		{ 8 + 36, -1, "gap" },            /* first length one less: gap */
		{ 8 + 40, 1, "gap" },             /* first offset 17 */
		{ 8 + 48 + 40, 1, "gap" },        /* second offset off by one */
		{ 8 + 2 * 48 + 36, -1, "end at" }, /* last object ends before the table */
		{ 8 + 48, 0, "twice" },           /* second id = first id (below) */
	};

	small_pack(3, ids, &pack);
	toc = le64_get(pack.data + pack.len - PACK_TRAILER_LEN);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&copy);
		assert_int_equal(buf_append(&copy, pack.data, pack.len, NULL), 0);
		if (bad[i].delta == 0)
			memcpy(copy.data + toc + bad[i].at, copy.data + toc + 8, OBJID_LEN);
		else
			copy.data[toc + bad[i].at] = (uint8_t)(copy.data[toc + bad[i].at] + bad[i].delta);
		/* Without the new hash the hash check catches it first. */
		assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), -1);
		assert_non_null(strstr(e.msg, "hash"));
		rehash(&copy);
		err_clear(&e);
		assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), -1);
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_non_null(strstr(e.msg, bad[i].why));
	}
	/* The untouched copy with a recomputed hash still reads: rehash is right. */
	buf_reset(&copy);
	assert_int_equal(buf_append(&copy, pack.data, pack.len, NULL), 0);
	rehash(&copy);
	assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), 0);
	free(ents);
	/* Header: reserved bytes and version. */
	copy.data[12] = 1;
	assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), -1);
	assert_non_null(strstr(e.msg, "reserved"));
	copy.data[12] = 0;
	copy.data[8] = 0;
	assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	copy.data[8] = 9;
	assert_int_equal(pack_toc_read(copy.data, copy.len, &ents, &n, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	buf_free(&pack);
	buf_free(&copy);
}

/* One writer makes several packs in turn; level bounds; entries in order. */
static void test_writer_reuse_and_args(void **state)
{
	(void)state;
	struct pack_writer *w;
	struct buf a = BUF_INIT, b = BUF_INIT;
	uint8_t pa[PACK_ID_LEN], pb[PACK_ID_LEN];
	struct objid id1, id2;
	struct err e;

	assert_true(PACK_TARGET_DEFAULT == 8u << 20);
	assert_null(pack_writer_new(k, -1, &e));
	assert_int_equal(e.code, ERR_INVALID);
	assert_null(pack_writer_new(k, COMPRESS_LEVEL_MAX + 1, &e));
	w = pack_writer_new(k, COMPRESS_LEVEL_NONE, &e);
	assert_non_null(w);
	assert_int_equal(pack_writer_size(w), 0);
	objid_compute(k, "one", 3, &id1);
	objid_compute(k, "two", 3, &id2);
	assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id1, (const uint8_t *)"one", 3, &e), 0);
	assert_int_equal(pack_writer_add(w, OBJECT_META, &id2, (const uint8_t *)"two", 3, &e), 0);
	assert_int_equal(pack_writer_size(w), PACK_HEADER_LEN + 2 * object_sealed_size(3));
	assert_int_equal(pack_writer_entries(w)[1].kind, OBJECT_META);
	assert_int_equal(pack_writer_entries(w)[1].offset, PACK_HEADER_LEN + object_sealed_size(3));
	assert_int_equal(pack_writer_finish(w, &a, pa, &e), 0);
	assert_int_equal(pack_writer_size(w), 0);
	/* The same id may go into the next pack. */
	assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id1, (const uint8_t *)"one", 3, &e), 0);
	assert_int_equal(pack_writer_finish(w, &b, pb, &e), 0);
	assert_memory_not_equal(pa, pb, PACK_ID_LEN);
	assert_int_equal(read_all(&a, &e), 0);
	assert_int_equal(read_all(&b, &e), 0);
	/* finish appends: two packs in one buffer are not one pack. */
	assert_int_equal(buf_append(&a, b.data, b.len, NULL), 0);
	assert_int_equal(read_all(&a, &e), -1);
	/* Into a buffer that holds bytes already, finish appends after them
	 * (no hand-over), and the id is that of the pack's bytes alone. */
	{
		struct buf c = BUF_INIT;
		uint8_t pc[PACK_ID_LEN], again[PACK_ID_LEN];

		assert_int_equal(buf_append(&c, "prefix", 6, NULL), 0);
		assert_int_equal(pack_writer_add(w, OBJECT_DATA, &id1, (const uint8_t *)"one", 3, &e), 0);
		assert_int_equal(pack_writer_finish(w, &c, pc, &e), 0);
		assert_memory_equal(c.data, "prefix", 6);
		pack_id_compute(c.data + 6, c.len - 6, again);
		assert_memory_equal(pc, again, PACK_ID_LEN);
		buf_free(&c);
	}
	pack_writer_free(w);
	buf_free(&a);
	buf_free(&b);
}

/* The keyless writer refuses sealed objects that cannot be objects. */
static void test_add_sealed_refusals(void **state)
{
	(void)state;
	struct pack_writer *gc = pack_writer_new(NULL, 0, NULL);
	struct pack_entry ent = { .kind = 7, .length = 100 };
	uint8_t junk[100] = { 0 };
	struct err e;

	assert_int_equal(pack_writer_add_sealed(gc, &ent, junk, &e), -1);
	assert_non_null(strstr(e.msg, "kind"));
	ent.kind = OBJECT_DATA;
	ent.length = OBJECT_OVERHEAD - 1;
	assert_int_equal(pack_writer_add_sealed(gc, &ent, junk, &e), -1);
	assert_non_null(strstr(e.msg, "short"));
	ent.length = 100;
	assert_int_equal(pack_writer_add_sealed(gc, &ent, junk, &e), 0);
	assert_int_equal(pack_writer_add_sealed(gc, &ent, junk, &e), -1);
	assert_non_null(strstr(e.msg, "already"));
	assert_true(pack_writer_has(gc, &ent.id));
	pack_writer_free(gc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_many_and_large),
		cmocka_unit_test(test_duplicates_and_empty_refused),
		cmocka_unit_test(test_keyless_copy),
		cmocka_unit_test(test_every_flipped_byte_detected),
		cmocka_unit_test(test_truncation_and_garbage),
		cmocka_unit_test(test_table_kind_lie),
		cmocka_unit_test(test_trailer_parse),
		cmocka_unit_test(test_toc_structure_behind_hash),
		cmocka_unit_test(test_writer_reuse_and_args),
		cmocka_unit_test(test_add_sealed_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
