/*
 * test_chunkcache.c: the mount's cache of decrypted chunks on disk: what
 * it gives back is always the chunk's bytes (a damaged, planted or
 * truncated file is a miss and is removed), it stays under its limit by
 * removing the least recently used, and a reopened cache knows the files
 * it left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chunkcache.h"

struct fx {
	char dir[64];
	struct keys *keys;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/arca-chunkcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(f->keys = keys_generate(NULL));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	keys_free(f->keys);
	free(f);
	return 0;
}

/* A chunk of LEN bytes of value V, and its id under F's keys. */
static uint8_t *chunk(struct fx *f, uint8_t v, size_t len, struct objid *id)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	memset(p, v, len);
	p[0] = (uint8_t)len; /* chunks of one value and other lengths differ */
	objid_compute(f->keys, p, len, id);
	return p;
}

static void path_of(struct fx *f, const struct objid *id, char *out, size_t size)
{
	char hex[OBJID_HEX_LEN + 1];

	objid_to_hex(id, hex);
	snprintf(out, size, "%s/%s", f->dir, hex);
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct chunk_cache *cc = chunk_cache_open(f->dir, 1 << 20, f->keys, NULL);
	struct buf b = BUF_INIT;
	struct objid id, other;
	uint8_t *p = chunk(f, 7, 1000, &id);
	uint8_t *q = chunk(f, 8, 1000, &other);

	assert_non_null(cc);
	assert_int_equal(chunk_cache_get(cc, &id, 1000, &b), 0);
	chunk_cache_put(cc, &id, p, 1000);
	assert_true(chunk_cache_has(cc, &id));
	assert_false(chunk_cache_has(cc, &other));
	assert_int_equal(chunk_cache_get(cc, &id, 1000, &b), 1);
	assert_int_equal(b.len, 1000);
	assert_memory_equal(b.data, p, 1000);
	/* The tree says another length: not this chunk. */
	assert_int_equal(chunk_cache_get(cc, &id, 999, &b), 0);
	assert_int_equal(b.len, 0);
	/* A second put of one id changes nothing. */
	chunk_cache_put(cc, &id, p, 1000);
	assert_int_equal(chunk_cache_count(cc), 1);
	buf_free(&b);
	free(p);
	free(q);
	chunk_cache_free(cc);
	chunk_cache_free(NULL);
}

static void test_damaged_and_planted_files_are_misses(void **state)
{
	struct fx *f = *state;
	struct chunk_cache *cc = chunk_cache_open(f->dir, 1 << 20, f->keys, NULL);
	struct buf b = BUF_INIT;
	struct objid id, planted;
	uint8_t *p = chunk(f, 1, 4096, &id);
	char path[256];
	FILE *fp;

	chunk_cache_put(cc, &id, p, 4096);
	assert_int_equal(chunk_cache_count(cc), 1);
	/* One byte flipped on disk: a miss, and the file is removed. */
	path_of(f, &id, path, sizeof(path));
	assert_non_null(fp = fopen(path, "r+b"));
	fseek(fp, 100, SEEK_SET);
	fputc(0xEE, fp);
	fclose(fp);
	assert_int_equal(chunk_cache_get(cc, &id, 4096, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(chunk_cache_count(cc), 0);
	assert_int_equal(chunk_cache_bytes(cc), 0);
	chunk_cache_free(cc);

	/* A file planted under an id whose bytes it does not hold, found by
	 * the scan of a new open: a miss, removed. */
	memset(&planted, 0x5A, sizeof(planted));
	path_of(f, &planted, path, sizeof(path));
	assert_non_null(fp = fopen(path, "wb"));
	fwrite(p, 1, 4096, fp);
	fclose(fp);
	assert_non_null(cc = chunk_cache_open(f->dir, 1 << 20, f->keys, NULL));
	assert_int_equal(chunk_cache_count(cc), 1);
	assert_int_equal(chunk_cache_get(cc, &planted, 4096, &b), 0);
	assert_int_equal(access(path, F_OK), -1);
	/* A file that was removed behind the cache's back: a miss. */
	chunk_cache_put(cc, &id, p, 4096);
	path_of(f, &id, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_cache_get(cc, &id, 4096, &b), 0);
	assert_int_equal(chunk_cache_count(cc), 0);
	/* Keys of another machine: its ids are not these chunks. */
	{
		struct keys *k2 = keys_generate(NULL);
		struct chunk_cache *c2;

		chunk_cache_put(cc, &id, p, 4096);
		assert_non_null(c2 = chunk_cache_open(f->dir, 1 << 20, k2, NULL));
		assert_int_equal(chunk_cache_get(c2, &id, 4096, &b), 0);
		chunk_cache_free(c2);
		keys_free(k2);
	}
	buf_free(&b);
	free(p);
	chunk_cache_free(cc);
}

static void test_the_limit_removes_the_least_recently_used(void **state)
{
	struct fx *f = *state;
	const size_t len = 10000, limit = 100000;
	struct chunk_cache *cc = chunk_cache_open(f->dir, limit, f->keys, NULL);
	struct objid ids[30];
	struct buf b = BUF_INIT;
	uint8_t *p;

	assert_non_null(cc);
	for (int i = 0; i < 30; i++) {
		p = chunk(f, (uint8_t)(i + 1), len, &ids[i]);
		chunk_cache_put(cc, &ids[i], p, len);
		free(p);
		/* Chunk 0 is used all the time: it stays. */
		assert_int_equal(chunk_cache_get(cc, &ids[0], len, &b), 1);
		assert_true(chunk_cache_bytes(cc) <= limit);
	}
	assert_true(chunk_cache_count(cc) >= 8);
	assert_true(chunk_cache_has(cc, &ids[0]));
	assert_true(chunk_cache_has(cc, &ids[29]));
	assert_false(chunk_cache_has(cc, &ids[1]));
	/* A chunk over a quarter of the limit is not kept at all. */
	p = chunk(f, 99, limit / 4 + 1, &ids[1]);
	chunk_cache_put(cc, &ids[1], p, limit / 4 + 1);
	assert_false(chunk_cache_has(cc, &ids[1]));
	free(p);
	buf_free(&b);
	chunk_cache_free(cc);
}

static void test_reopen_indexes_what_is_there(void **state)
{
	struct fx *f = *state;
	struct chunk_cache *cc = chunk_cache_open(f->dir, 1 << 20, f->keys, NULL);
	struct buf b = BUF_INIT;
	struct objid ids[5];
	char path[256];
	FILE *fp;
	struct stat st;

	for (int i = 0; i < 5; i++) {
		uint8_t *p = chunk(f, (uint8_t)(i + 1), 5000, &ids[i]);

		chunk_cache_put(cc, &ids[i], p, 5000);
		free(p);
	}
	chunk_cache_free(cc);
	/* The files' times are their order of use: the later, the newer. */
	for (int i = 0; i < 5; i++) {
		struct timespec t[2] = { { 2000 + i, 0 }, { 2000 + i, 0 } };

		path_of(f, &ids[i], path, sizeof(path));
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	}
	/* A stale temporary file (a write cut short) and a file that is not
	 * the cache's. */
	snprintf(path, sizeof(path), "%s/.tmp-stale", f->dir);
	assert_non_null(fp = fopen(path, "wb"));
	fputs("half", fp);
	fclose(fp);
	{
		struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	}
	snprintf(path, sizeof(path), "%s/README", f->dir);
	assert_non_null(fp = fopen(path, "wb"));
	fclose(fp);
	/* A smaller limit: the oldest go at once. */
	assert_non_null(cc = chunk_cache_open(f->dir, 12000, f->keys, NULL));
	assert_true(chunk_cache_bytes(cc) <= 12000);
	assert_int_equal(chunk_cache_count(cc), 2);
	assert_int_equal(chunk_cache_get(cc, &ids[4], 5000, &b), 1);
	snprintf(path, sizeof(path), "%s/.tmp-stale", f->dir);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/README", f->dir);
	assert_int_equal(stat(path, &st), 0);
	buf_free(&b);
	chunk_cache_free(cc);
}

static void test_chunks_held_in_memory(void **state)
{
	struct fx *f = *state;
	struct chunk_cache *cc = chunk_cache_open(f->dir, 64 << 20, f->keys, NULL);
	struct objid id, ids[CHUNK_CACHE_HOT_COUNT + 8];
	uint8_t *p = chunk(f, 3, 200000, &id);
	const uint8_t *a, *b;
	void *ra, *rb;
	char path[256];

	assert_null(chunk_cache_hold(cc, &id, 200000, &ra));
	chunk_cache_put(cc, &id, p, 200000);
	assert_non_null(a = chunk_cache_hold(cc, &id, 200000, &ra));
	assert_memory_equal(a, p, 200000);
	/* The second reader shares the copy in memory: the file is not read
	 * again (gone, it is still served). */
	path_of(f, &id, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_non_null(b = chunk_cache_hold(cc, &id, 200000, &rb));
	assert_ptr_equal(a, b);
	/* Another length is another chunk: not this one. */
	assert_null(chunk_cache_hold(cc, &id, 199999, &rb));
	chunk_cache_release(cc, ra);
	chunk_cache_release(cc, rb);
	/* Past CHUNK_CACHE_HOT_COUNT chunks the least recently used one that
	 * no reader holds goes from memory: then it is read from its file,
	 * which is gone, so it is a miss. */
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint8_t *q = chunk(f, (uint8_t)(10 + i), 1000 + i, &ids[i]);
		void *r;

		chunk_cache_put(cc, &ids[i], q, 1000 + i);
		assert_non_null(chunk_cache_hold(cc, &ids[i], 1000 + i, &r));
		chunk_cache_release(cc, r);
		free(q);
	}
	assert_null(chunk_cache_hold(cc, &id, 200000, &ra));
	free(p);
	chunk_cache_free(cc);
}

static void test_a_folder_that_cannot_be_made_is_an_error(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct err e;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/a-file", f->dir);
	assert_non_null(fp = fopen(path, "wb"));
	fclose(fp);
	assert_null(chunk_cache_open(path, 1 << 20, f->keys, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, path));
	snprintf(path, sizeof(path), "%s/no/such/parent", f->dir);
	assert_null(chunk_cache_open(path, 1 << 20, f->keys, &e));
	assert_non_null(strstr(e.msg, "chunk cache folder"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_and_planted_files_are_misses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_limit_removes_the_least_recently_used,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_indexes_what_is_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_held_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_folder_that_cannot_be_made_is_an_error, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
