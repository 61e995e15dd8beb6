/* test_chunker.c: FastCDC cut points, bounds, secrets and streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "chunker.h"

#define MAX_CUTS 100000

static const uint8_t secret_a[CHUNKER_SECRET_LEN] = { 1, 2, 3 };
static const uint8_t secret_b[CHUNKER_SECRET_LEN] = { 1, 2, 4 };
static const struct chunker_params small = { 2048, 8192, 65536 };

/* Deterministic pseudo-random bytes, so a failure can be replayed. */
static uint8_t *random_bytes(size_t n, uint32_t seed)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES] = { 0 };
	uint8_t *p = malloc(n);

	assert_non_null(p);
	memcpy(key, &seed, sizeof(seed));
	memset(p, 0, n);
	crypto_stream_chacha20_ietf_xor(p, p, n, nonce, key);
	return p;
}

/* Feed DATA in pieces of random size (1..MAXPIECE, or whole when 0) and
 * collect the end offset of every chunk. Returns the number of chunks. */
static size_t cuts_of(struct chunker *c, const uint8_t *data, size_t len, size_t maxpiece,
		      uint32_t *rng, size_t *cuts)
{
	size_t off = 0, n = 0;

	chunker_reset(c);
	while (off < len) {
		size_t piece = len - off;

		if (maxpiece) {
			*rng = *rng * 1103515245u + 12345u;
			piece = 1 + (*rng >> 8) % maxpiece;
			if (piece > len - off)
				piece = len - off;
		}
		/* Consume the piece fully, possibly across several cuts. */
		size_t end = off + piece;
		while (off < end) {
			bool cut;
			size_t used = chunker_next(c, data + off, end - off, &cut);

			assert_true(used <= end - off);
			off += used;
			if (cut) {
				assert_true(n < MAX_CUTS);
				cuts[n++] = off;
			} else {
				assert_int_equal(off, end);
			}
		}
	}
	if (n == 0 || cuts[n - 1] != len)
		cuts[n++] = len; /* the final chunk */
	return n;
}

static void test_splits_do_not_move_cuts(void **state)
{
	(void)state;
	const size_t len = 3u << 20;
	uint8_t *data = random_bytes(len, 42);
	size_t *ref = calloc(MAX_CUTS, sizeof(size_t)), *got = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	uint32_t rng = 7;
	size_t nref = cuts_of(c, data, len, 0, &rng, ref);

	assert_true(nref > 100);
	for (int trial = 0; trial < 1000; trial++) {
		/* Piece sizes from tiny to larger than a chunk. */
		size_t maxpiece = trial % 4 == 0 ? 7 : trial % 4 == 1 ? 3000 :
				  trial % 4 == 2 ? 70000 : 1u << 20;
		size_t n = cuts_of(c, data, len, maxpiece, &rng, got);

		assert_int_equal(n, nref);
		assert_memory_equal(got, ref, n * sizeof(size_t));
	}
	chunker_free(c);
	free(ref);
	free(got);
	free(data);
}

static void check_bounds(const struct chunker_params *p, const size_t *cuts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t size = cuts[i] - (i ? cuts[i - 1] : 0);

		assert_true(size <= p->max_size);
		if (i + 1 < n)
			assert_true(size >= p->min_size);
		else
			assert_true(size > 0);
	}
}

static void test_defaults_bounds_and_splits(void **state)
{
	(void)state;
	const size_t len = 32u << 20;
	uint8_t *data = random_bytes(len, 9);
	size_t *ref = calloc(MAX_CUTS, sizeof(size_t)), *got = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker_params p;
	struct chunker *c;
	uint32_t rng = 99;
	size_t nref, n;

	chunker_params_default(&p);
	assert_int_equal(p.avg_size, 1u << 20);
	c = chunker_new(&p, secret_a, NULL);
	nref = cuts_of(c, data, len, 0, &rng, ref);
	check_bounds(&p, ref, nref);
	/* Mean chunk size between min and 2 * avg: loose, cannot flake. */
	assert_true(len / nref >= p.min_size);
	assert_true(len / nref <= 2 * p.avg_size);
	for (int trial = 0; trial < 5; trial++) {
		n = cuts_of(c, data, len, 1u << (10 + 2 * trial), &rng, got);
		assert_int_equal(n, nref);
		assert_memory_equal(got, ref, n * sizeof(size_t));
	}
	chunker_free(c);
	free(ref);
	free(got);
	free(data);
}

static void test_small_params_bounds_and_mean(void **state)
{
	(void)state;
	const size_t len = 8u << 20;
	uint8_t *data = random_bytes(len, 3);
	size_t *cuts = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	uint32_t rng = 1;
	size_t n = cuts_of(c, data, len, 0, &rng, cuts);

	check_bounds(&small, cuts, n);
	/* Normalised chunking keeps the mean near avg: within [avg/2, 2 avg]. */
	assert_true(len / n >= small.avg_size / 2);
	assert_true(len / n <= 2 * small.avg_size);
	chunker_free(c);
	free(cuts);
	free(data);
}

static void test_secret_changes_cuts(void **state)
{
	(void)state;
	const size_t len = 2u << 20;
	uint8_t *data = random_bytes(len, 5);
	size_t *a = calloc(MAX_CUTS, sizeof(size_t)), *b = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker *ca = chunker_new(&small, secret_a, NULL);
	struct chunker *ca2 = chunker_new(&small, secret_a, NULL);
	struct chunker *cb = chunker_new(&small, secret_b, NULL);
	uint32_t rng = 1;
	size_t na = cuts_of(ca, data, len, 0, &rng, a), nb, shared = 0;

	nb = cuts_of(ca2, data, len, 0, &rng, b);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(size_t));
	nb = cuts_of(cb, data, len, 0, &rng, b);
	/* Another secret: cut points are (almost) all elsewhere. */
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (a[i] == b[j])
			shared++, i++, j++;
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	assert_true(shared < na / 4);
	chunker_free(ca);
	chunker_free(ca2);
	chunker_free(cb);
	free(a);
	free(b);
	free(data);
}

/* An insertion near the start moves only the cuts near it. */
static void test_insertion_is_local(void **state)
{
	(void)state;
	const size_t len = 4u << 20;
	uint8_t *data = random_bytes(len + 10, 11);
	size_t *a = calloc(MAX_CUTS, sizeof(size_t)), *b = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	uint32_t rng = 1;
	size_t na, nb, shared = 0;

	na = cuts_of(c, data + 10, len, 0, &rng, a);
	nb = cuts_of(c, data, len + 10, 0, &rng, b);
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (a[i] + 10 == b[j])
			shared++, i++, j++;
		else if (a[i] + 10 < b[j])
			i++;
		else
			j++;
	}
	assert_true(shared >= na - 3);
	chunker_free(c);
	free(a);
	free(b);
	free(data);
}

static void test_reset_starts_over(void **state)
{
	(void)state;
	uint8_t *data = random_bytes(1u << 20, 8);
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	bool cut;
	size_t first, again;

	/* Feed a partial chunk, reset, then the same stream again. */
	assert_int_equal(chunker_next(c, data + 500, 1000, &cut), 1000);
	assert_false(cut);
	chunker_reset(c);
	first = chunker_next(c, data, 1u << 20, &cut);
	assert_true(cut);
	chunker_reset(c);
	again = chunker_next(c, data, 1u << 20, &cut);
	assert_int_equal(first, again);
	assert_true(first >= small.min_size && first <= small.max_size);
	chunker_free(c);
	free(data);
}

static void test_zeros_cut_at_max_and_tiny_input(void **state)
{
	(void)state;
	const size_t len = 200000;
	uint8_t *zeros = calloc(1, len);
	size_t *cuts = calloc(MAX_CUTS, sizeof(size_t));
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	uint32_t rng = 1;
	bool cut;
	size_t n;

	/* A constant run settles the gear hash on one value (-gear[0] after 64
	 * bytes), which fails both masks for this secret: only max-size cuts. */
	n = cuts_of(c, zeros, len, 0, &rng, cuts);
	check_bounds(&small, cuts, n);
	assert_int_equal(n, 4); /* 3 x 65536 + 3392 */
	assert_int_equal(cuts[0], small.max_size);
	assert_int_equal(cuts[2], 3 * small.max_size);
	/* Empty and tiny inputs: no cut, everything belongs to the chunk. */
	chunker_reset(c);
	assert_int_equal(chunker_next(c, zeros, 0, &cut), 0);
	assert_false(cut);
	assert_int_equal(chunker_next(c, zeros, 1, &cut), 1);
	assert_false(cut);
	assert_int_equal(chunker_params(c)->max_size, small.max_size);
	chunker_free(c);
	chunker_free(NULL);
	free(cuts);
	free(zeros);
}

static void test_params_validation(void **state)
{
	(void)state;
	struct err e;
	struct chunker_params p;
	struct {
		uint32_t min, avg, max;
		const char *word;
	} bad[] = {
		{ 63, 8192, 65536, "minimum size 63" },
		{ 8192, 8192, 65536, "average size 8192" },
		{ 2048, 70000, 65536, "maximum size 65536" },
		{ 2048, 8192, (64u << 20) + 1, "above" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.min_size = bad[i].min, p.avg_size = bad[i].avg, p.max_size = bad[i].max;
		assert_int_equal(chunker_params_check(&p, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_non_null(strstr(e.msg, bad[i].word));
		assert_null(chunker_new(&p, secret_a, &e));
	}
	chunker_params_default(&p);
	assert_int_equal(chunker_params_check(&p, &e), 0);
	/* A non-power-of-two average is fine. */
	p.avg_size = 700 * 1024;
	assert_int_equal(chunker_params_check(&p, &e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splits_do_not_move_cuts),
		cmocka_unit_test(test_defaults_bounds_and_splits),
		cmocka_unit_test(test_small_params_bounds_and_mean),
		cmocka_unit_test(test_secret_changes_cuts),
		cmocka_unit_test(test_insertion_is_local),
		cmocka_unit_test(test_reset_starts_over),
		cmocka_unit_test(test_zeros_cut_at_max_and_tiny_input),
		cmocka_unit_test(test_params_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
