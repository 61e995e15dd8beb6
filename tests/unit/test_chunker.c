/*
 * test_chunker.c: FastCDC cut points. Known answers pin the format (the same
 * vectors as docs/FORMAT.md, checked against an independent implementation);
 * a naive whole-buffer reference written from the format text checks other
 * sizes; the streaming property (cuts do not depend on how the stream is split
 * into buffers) is checked over 1,000 random splittings and at every phase
 * edge of a chunk; then bounds, mean size, secrets, reset, edge inputs and
 * parameter validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "bytes.h"
#include "chunker.h"

static const uint8_t secret_a[CHUNKER_SECRET_LEN] = { 1, 2, 3 };
static const uint8_t secret_b[CHUNKER_SECRET_LEN] = { 1, 2, 7 };
static const struct chunker_params small = { 2048, 8192, 65536 };

/* Deterministic pseudo-random bytes (the ChaCha20-IETF key stream of a key
 * made from SEED, zero nonce), so a failure can be replayed. */
static uint8_t *random_bytes(size_t n, uint32_t seed)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES] = { 0 };
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	le32_put(key, seed);
	crypto_stream_chacha20_ietf(p, n, nonce, key);
	return p;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A list of chunk end offsets; the last one is the stream's length. */
struct cuts {
	size_t *end;
	size_t n, cap;
};

static void cuts_init(struct cuts *k, size_t len, uint32_t min_size)
{
	/* Every chunk but the last has more than min_size bytes. */
	k->cap = len / min_size + 2;
	k->n = 0;
	k->end = calloc(k->cap, sizeof(size_t));
	assert_non_null(k->end);
}

static void cuts_push(struct cuts *k, size_t end)
{
	assert_true(k->n < k->cap);
	k->end[k->n++] = end;
}

/* Feed LEN bytes of DATA to C after a reset, in pieces ending at SPLITS[0..NSPLITS)
 * (increasing offsets inside (0, LEN)) and collect the chunk ends in K. */
static void chunk_with_splits(struct chunker *c, const uint8_t *data, size_t len,
			      const size_t *splits, size_t nsplits, struct cuts *k)
{
	const uint32_t max = chunker_params(c)->max_size;
	size_t off = 0, start = 0;

	k->n = 0;
	chunker_reset(c);
	for (size_t s = 0; s <= nsplits; s++) {
		size_t end = s < nsplits ? splits[s] : len;

		/* Consume the piece fully, possibly across several cuts. */
		while (off < end) {
			bool cut = true;
			size_t used = chunker_next(c, data + off, end - off, &cut);

			assert_true(used <= end - off);
			off += used;
			assert_true(off - start <= max);
			if (cut) {
				assert_true(used > 0);
				cuts_push(k, off);
				start = off;
			} else {
				assert_int_equal(off, end);
			}
		}
	}
	if (k->n == 0 || k->end[k->n - 1] != len)
		cuts_push(k, len); /* the final chunk */
}

static void chunk_whole(struct chunker *c, const uint8_t *data, size_t len, struct cuts *k)
{
	chunk_with_splits(c, data, len, NULL, 0, k);
}

static void assert_cuts_equal(const struct cuts *a, const struct cuts *b)
{
	assert_int_equal(a->n, b->n);
	assert_memory_equal(a->end, b->end, a->n * sizeof(size_t));
}

/* Every chunk within [min, max]; only the last may be shorter than min. */
static void check_bounds(const struct chunker_params *p, const struct cuts *k, size_t len)
{
	assert_true(k->n > 0);
	assert_int_equal(k->end[k->n - 1], len);
	for (size_t i = 0; i < k->n; i++) {
		size_t size = k->end[i] - (i ? k->end[i - 1] : 0);

		assert_true(size <= p->max_size);
		if (i + 1 < k->n)
			assert_true(size > p->min_size);
		else
			assert_true(size > 0);
	}
}

/*
 * Known answers: secret = bytes 0x00..0x1f; input = the ChaCha20-IETF key
 * stream of the key 0xa5 x 32 with a zero nonce. The same vectors appear in
 * docs/FORMAT.md and were reproduced by an independent implementation written
 * from that text. Any change here is a format change.
 */
struct vector {
	struct chunker_params p;
	size_t len;
	bool zeros;
	size_t n;           /* chunks */
	uint64_t sum;       /* sum of all chunk end offsets */
	size_t first[10];   /* the first end offsets */
};

static void test_known_answers(void **state)
{
	static const struct vector vec[] = {
		{ { 2048, 8192, 65536 }, 1u << 20, false, 107, 57427467,
		  { 10292, 20915, 24083, 30723, 35426, 44516, 54797, 65006, 77079, 85976 } },
		{ { 1000, 3000, 20000 }, 1u << 20, false, 280, 146150804,
		  { 3805, 10292, 13447, 16500, 20915, 24083, 28708, 30723, 35395, 41440 } },
		{ { CHUNKER_MIN_DEFAULT, CHUNKER_AVG_DEFAULT, CHUNKER_MAX_DEFAULT }, 16u << 20,
		  false, 15, 136329953,
		  { 1636373, 2204120, 3216179, 4306596, 5544196, 6691203, 8053697, 9246136,
		    10521473, 11591350 } },
		{ { 2048, 8192, 65536 }, 200000, true, 4, 593216,
		  { 65536, 131072, 196608, 200000 } },
	};
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t secret[CHUNKER_SECRET_LEN], key[32];
	const size_t biggest = 16u << 20;
	uint8_t *input = malloc(biggest), *zeros = calloc(1, biggest);

	(void)state;
	assert_non_null(input);
	assert_non_null(zeros);
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)i, key[i] = 0xa5;
	crypto_stream_chacha20_ietf(input, biggest, nonce, key);
	for (size_t v = 0; v < sizeof(vec) / sizeof(vec[0]); v++) {
		struct chunker *c = chunker_new(&vec[v].p, secret, NULL);
		struct cuts k;
		uint64_t sum = 0;

		assert_non_null(c);
		cuts_init(&k, vec[v].len, vec[v].p.min_size);
		chunk_whole(c, vec[v].zeros ? zeros : input, vec[v].len, &k);
		assert_int_equal(k.n, vec[v].n);
		for (size_t i = 0; i < k.n; i++)
			sum += k.end[i];
		assert_int_equal(sum, vec[v].sum);
		for (size_t i = 0; i < 10 && i < k.n; i++)
			assert_int_equal(k.end[i], vec[v].first[i]);
		free(k.end);
		chunker_free(c);
	}
	free(input);
	free(zeros);
}

/* The algorithm as docs/FORMAT.md states it, over one whole buffer. */
static void reference_cuts(const struct chunker_params *p, const uint8_t secret[32],
			   const uint8_t *data, size_t len, struct cuts *k)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t stream[2048];
	uint64_t gear[256], mask_s, mask_l;
	unsigned bits = chunker_mask_bits(p->avg_size);
	size_t start = 0;

	crypto_stream_chacha20_ietf(stream, sizeof(stream), nonce, secret);
	for (int i = 0; i < 256; i++)
		gear[i] = le64_get(stream + 8 * i);
	mask_s = ~(~(uint64_t)0 >> (bits + 2));
	mask_l = ~(~(uint64_t)0 >> (bits - 2));
	k->n = 0;
	while (start < len) {
		size_t n = len - start < p->max_size ? len - start : p->max_size;
		size_t end = start + n;
		uint64_t h = 0;

		for (size_t i = p->min_size; i < n; i++) {
			h = (h << 1) + gear[data[start + i]];
			if ((h & (i + 1 <= p->avg_size ? mask_s : mask_l)) == 0) {
				end = start + i + 1;
				break;
			}
		}
		cuts_push(k, end);
		start = end;
	}
}

static void test_matches_reference(void **state)
{
	static const struct chunker_params ps[] = {
		{ 2048, 8192, 65536 },
		{ 64, 65, 66 },         /* the tightest sizes allowed */
		{ 64, 256, 4096 },
		{ 1000, 1449, 1450 },   /* max right after avg; 1449 rounds up to 11 bits */
		{ 5000, 6000, 100000 }, /* min close to avg: few cuts under the strict mask */
		{ 300, 3000, 3001 },    /* most chunks cut at max */
	};
	const size_t len = 1u << 20;
	uint8_t *data = random_bytes(len, 77);

	(void)state;
	/* A long run of one byte value inside random data. */
	memset(data + 300000, 0x41, 200000);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		struct chunker *c = chunker_new(&ps[i], secret_b, NULL);
		struct cuts got, want;

		assert_non_null(c);
		cuts_init(&got, len, ps[i].min_size);
		cuts_init(&want, len, ps[i].min_size);
		chunk_whole(c, data, len, &got);
		reference_cuts(&ps[i], secret_b, data, len, &want);
		assert_true(want.n > len / ps[i].max_size);
		assert_cuts_equal(&got, &want);
		check_bounds(&ps[i], &got, len);
		free(got.end);
		free(want.end);
		chunker_free(c);
	}
	free(data);
}

/* Fill SPLITS with random increasing offsets in (0, LEN); returns how many.
 * Piece sizes are drawn log-uniformly from 1 byte to 2 MiB, so one splitting
 * mixes pieces much smaller and much larger than a chunk; with TINY set, all
 * pieces are 1..TINY bytes. */
static size_t random_splits(uint64_t *rng, size_t len, size_t tiny, size_t *splits,
			    size_t cap)
{
	size_t n = 0, off = 0;

	for (;;) {
		uint64_t r = rng_next(rng);
		size_t piece = tiny ? 1 + r % tiny : 1 + (size_t)((r >> 8) % ((size_t)1 << (r % 22)));

		if (piece >= len - off)
			return n;
		off += piece;
		assert_true(n < cap);
		splits[n++] = off;
	}
}

static void test_splits_do_not_move_cuts(void **state)
{
	const size_t len = 2u << 20;
	uint8_t *data = random_bytes(len, 42);
	size_t *splits = calloc(len, sizeof(size_t));
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	struct cuts ref, got;
	uint64_t rng = 7;

	(void)state;
	assert_non_null(splits);
	assert_non_null(c);
	cuts_init(&ref, len, small.min_size);
	cuts_init(&got, len, small.min_size);
	chunk_whole(c, data, len, &ref);
	assert_true(ref.n > 150);
	for (int trial = 0; trial < 1000; trial++) {
		/* One splitting in 50 is all tiny pieces (1..4 or 1..64 bytes). */
		size_t tiny = trial % 50 == 0 ? 4 : trial % 50 == 25 ? 64 : 0;
		size_t ns = random_splits(&rng, len, tiny, splits, len);

		chunk_with_splits(c, data, len, splits, ns, &got);
		assert_cuts_equal(&got, &ref);
	}
	free(ref.end);
	free(got.end);
	free(splits);
	chunker_free(c);
	free(data);
}

/* Split right around every place where chunker_next changes phase (end of the
 * unhashed minimum, the switch of masks at avg, the forced cut at max),
 * relative to the start of every chunk. */
static void check_phase_splits(const struct chunker_params *p, const uint8_t *data,
			       size_t len)
{
	const size_t rel[] = {
		1, p->min_size - 1, p->min_size, p->min_size + 1, p->avg_size - 1,
		p->avg_size, p->avg_size + 1, p->max_size - 1, p->max_size,
	};
	const size_t nrel = sizeof(rel) / sizeof(rel[0]);
	struct chunker *c = chunker_new(p, secret_a, NULL);
	struct cuts ref, got;

	assert_non_null(c);
	cuts_init(&ref, len, p->min_size);
	cuts_init(&got, len, p->min_size);
	chunk_whole(c, data, len, &ref);
	/* One splitting per offset: otherwise neighbouring splits would hide
	 * each other when chunks are short. */
	for (size_t r = 0; r < nrel; r++) {
		size_t *splits = calloc(ref.n + 1, sizeof(size_t)), ns = 0, start = 0;

		assert_non_null(splits);
		for (size_t i = 0; i < ref.n; i++) {
			if (start + rel[r] < len && (ns == 0 || splits[ns - 1] < start + rel[r]))
				splits[ns++] = start + rel[r];
			start = ref.end[i];
		}
		chunk_with_splits(c, data, len, splits, ns, &got);
		assert_cuts_equal(&got, &ref);
		free(splits);
	}
	free(ref.end);
	free(got.end);
	chunker_free(c);
}

static void test_splits_at_phase_edges(void **state)
{
	const size_t len = 1u << 20;
	uint8_t *data = random_bytes(len, 4242);
	uint8_t *zeros = calloc(1, len);
	const struct chunker_params tight = { 300, 3000, 3001 };

	(void)state;
	assert_non_null(zeros);
	check_phase_splits(&small, data, len);
	check_phase_splits(&small, zeros, len);  /* every chunk ends at max */
	check_phase_splits(&tight, data, len);   /* cuts under both masks and at max */
	free(zeros);
	free(data);
}

static void test_defaults_bounds_mean_and_splits(void **state)
{
	const size_t len = 32u << 20;
	uint8_t *data = random_bytes(len, 9);
	size_t splits[4096];
	struct chunker_params p;
	struct chunker *c;
	struct cuts ref, got;
	uint64_t rng = 99;

	(void)state;
	chunker_params_default(&p);
	assert_int_equal(p.min_size, 512u * 1024);
	assert_int_equal(p.avg_size, 1024u * 1024);
	assert_int_equal(p.max_size, 8u * 1024 * 1024);
	assert_int_equal(chunker_params_check(&p, NULL), 0);
	c = chunker_new(&p, secret_a, NULL);
	assert_non_null(c);
	assert_memory_equal(chunker_params(c), &p, sizeof(p));
	cuts_init(&ref, len, p.min_size);
	cuts_init(&got, len, p.min_size);
	chunk_whole(c, data, len, &ref);
	check_bounds(&p, &ref, len);
	/* Mean of the non-final chunks between avg / 2 and 2 avg: about 26 chunks
	 * whose sizes cannot reach that far on average. */
	assert_true(ref.n >= 8);
	assert_true(ref.end[ref.n - 2] / (ref.n - 1) >= p.avg_size / 2);
	assert_true(ref.end[ref.n - 2] / (ref.n - 1) <= 2 * p.avg_size);
	for (int trial = 0; trial < 6; trial++) {
		size_t ns = random_splits(&rng, len, 0, splits, sizeof(splits) / sizeof(splits[0]));

		/* and one with pieces of exactly 1 MiB - 1 byte */
		if (trial == 5)
			for (ns = 0; (ns + 1) * ((1u << 20) - 1) < len; ns++)
				splits[ns] = (ns + 1) * ((1u << 20) - 1);
		chunk_with_splits(c, data, len, splits, ns, &got);
		assert_cuts_equal(&got, &ref);
	}
	free(ref.end);
	free(got.end);
	chunker_free(c);
	free(data);
}

static void test_small_params_bounds_and_mean(void **state)
{
	const size_t len = 8u << 20;
	uint8_t *data = random_bytes(len, 3);
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	struct cuts k;
	size_t at_max = 0, mean;

	(void)state;
	assert_non_null(c);
	cuts_init(&k, len, small.min_size);
	chunk_whole(c, data, len, &k);
	check_bounds(&small, &k, len);
	/* About 900 chunks; normalised chunking keeps their mean near avg (here
	 * about 1.15 avg, since min = avg / 4 adds to it). [0.75, 1.5] avg is
	 * dozens of standard deviations wide. */
	mean = k.end[k.n - 2] / (k.n - 1);
	assert_true(mean >= small.avg_size * 3 / 4);
	assert_true(mean <= small.avg_size * 3 / 2);
	/* On random data the looser mask ends nearly every chunk before max. */
	for (size_t i = 0; i + 1 < k.n; i++)
		at_max += k.end[i] - (i ? k.end[i - 1] : 0) == small.max_size;
	assert_true(at_max <= k.n / 100);
	free(k.end);
	chunker_free(c);
	free(data);
}

/* How many of A's cut offsets, shifted by SHIFT, are also in B. */
static size_t shared_cuts(const struct cuts *a, const struct cuts *b, size_t shift)
{
	size_t shared = 0;

	for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
		if (a->end[i] + shift == b->end[j])
			shared++, i++, j++;
		else if (a->end[i] + shift < b->end[j])
			i++;
		else
			j++;
	}
	return shared;
}

static void test_secret_changes_cuts(void **state)
{
	const size_t len = 2u << 20;
	uint8_t *data = random_bytes(len, 5);
	struct chunker *ca = chunker_new(&small, secret_a, NULL);
	struct chunker *ca2 = chunker_new(&small, secret_a, NULL);
	struct chunker *cb = chunker_new(&small, secret_b, NULL);
	struct cuts a, a2, b;

	(void)state;
	assert_non_null(ca);
	assert_non_null(ca2);
	assert_non_null(cb);
	cuts_init(&a, len, small.min_size);
	cuts_init(&a2, len, small.min_size);
	cuts_init(&b, len, small.min_size);
	chunk_whole(ca, data, len, &a);
	chunk_whole(ca2, data, len, &a2);
	chunk_whole(cb, data, len, &b);
	/* Same secret, another chunker object: the same cuts. */
	assert_cuts_equal(&a, &a2);
	/* A secret one bit away: once the first cut differs the two runs drift
	 * apart, so almost no cut is shared (the last, at the end, always is). */
	assert_true(a.n > 150 && b.n > 150);
	assert_true(a.end[0] != b.end[0]);
	assert_true(shared_cuts(&a, &b, 0) < a.n / 4);
	free(a.end);
	free(a2.end);
	free(b.end);
	chunker_free(ca);
	chunker_free(ca2);
	chunker_free(cb);
	free(data);
}

/* An insertion near the start moves only the cuts near it. */
static void test_insertion_is_local(void **state)
{
	const size_t len = 4u << 20;
	uint8_t *data = random_bytes(len + 10, 11);
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	struct cuts a, b;

	(void)state;
	assert_non_null(c);
	cuts_init(&a, len + 10, small.min_size);
	cuts_init(&b, len + 10, small.min_size);
	chunk_whole(c, data + 10, len, &a);
	chunk_whole(c, data, len + 10, &b);
	assert_true(shared_cuts(&a, &b, 10) >= a.n - 3);
	free(a.end);
	free(b.end);
	chunker_free(c);
	free(data);
}

static void test_reset_starts_over(void **state)
{
	const size_t len = 1u << 20;
	uint8_t *data = random_bytes(len, 8);
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	struct chunker *fresh = chunker_new(&small, secret_a, NULL);
	bool cut;
	size_t want, got;

	(void)state;
	assert_non_null(c);
	assert_non_null(fresh);
	want = chunker_next(fresh, data, len, &cut);
	assert_true(cut);
	/* Leave C in the middle of a chunk, past min (so the hash is not zero),
	 * then reset: it must cut the next stream exactly as a fresh chunker. */
	assert_int_equal(chunker_next(c, data + 7, small.min_size + 1, &cut), small.min_size + 1);
	assert_false(cut);
	chunker_reset(c);
	got = chunker_next(c, data, len, &cut);
	assert_true(cut);
	assert_int_equal(got, want);
	/* Reset right after a cut and twice in a row changes nothing. */
	chunker_reset(c);
	chunker_reset(c);
	assert_int_equal(chunker_next(c, data, len, &cut), want);
	assert_true(cut);
	/* Without a reset the chunker goes on from where it was. */
	assert_int_equal(chunker_next(c, data, small.min_size, &cut), small.min_size);
	assert_false(cut);
	got = chunker_next(c, data, len, &cut);
	assert_true(got != want);
	chunker_free(c);
	chunker_free(fresh);
	free(data);
}

static void test_zeros_cut_at_max(void **state)
{
	const size_t len = 200000;
	uint8_t *zeros = calloc(1, 32u << 20);
	struct chunker_params d;
	struct chunker *c = chunker_new(&small, secret_a, NULL), *cd;
	struct cuts k;
	bool cut;

	(void)state;
	assert_non_null(zeros);
	assert_non_null(c);
	/* A run of one value settles the gear hash on -gear[value] after 64
	 * bytes; for this secret it fails both masks, so only max-size cuts. */
	cuts_init(&k, 32u << 20, small.min_size);
	chunk_whole(c, zeros, len, &k);
	check_bounds(&small, &k, len);
	assert_int_equal(k.n, 4);
	assert_int_equal(k.end[0], small.max_size);
	assert_int_equal(k.end[1], 2 * small.max_size);
	assert_int_equal(k.end[2], 3 * small.max_size);
	assert_int_equal(k.end[3], len);
	/* A stream of exactly max bytes: one call, one cut at its very end. */
	chunker_reset(c);
	assert_int_equal(chunker_next(c, zeros, small.max_size, &cut), small.max_size);
	assert_true(cut);
	/* The defaults: 32 MiB of zeros is 4 chunks of 8 MiB. */
	chunker_params_default(&d);
	cd = chunker_new(&d, secret_a, NULL);
	assert_non_null(cd);
	chunk_whole(cd, zeros, 32u << 20, &k);
	assert_int_equal(k.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(k.end[i], (i + 1) * (size_t)d.max_size);
	free(k.end);
	chunker_free(cd);
	chunker_free(c);
	free(zeros);
}

static void test_empty_and_tiny_inputs(void **state)
{
	uint8_t *data = random_bytes(small.min_size + 1, 12);
	struct chunker *c = chunker_new(&small, secret_a, NULL);
	bool cut = true;

	(void)state;
	assert_non_null(c);
	/* Empty input: nothing used, no cut, also with a NULL pointer. */
	assert_int_equal(chunker_next(c, data, 0, &cut), 0);
	assert_false(cut);
	cut = true;
	assert_int_equal(chunker_next(c, NULL, 0, &cut), 0);
	assert_false(cut);
	/* A stream of min bytes, one byte at a time: all belong to one chunk
	 * that only the end of the stream ends. */
	for (size_t i = 0; i < small.min_size; i++) {
		cut = true;
		assert_int_equal(chunker_next(c, data + i, 1, &cut), 1);
		assert_false(cut);
	}
	/* An empty call in between changes nothing; a one-byte stream is one
	 * chunk that only the end of the stream ends. */
	assert_int_equal(chunker_next(c, data, 0, &cut), 0);
	assert_false(cut);
	chunker_reset(c);
	assert_int_equal(chunker_next(c, data, 1, &cut), 1);
	assert_false(cut);
	chunker_free(c);
	chunker_free(NULL);
	free(data);
}

static void test_mask_bits(void **state)
{
	static const struct {
		uint32_t avg;
		unsigned bits;
	} t[] = {
		{ 1, 0 }, { 2, 1 }, { 3, 2 }, { 5, 2 }, { 6, 3 }, { 65, 6 }, { 90, 6 }, { 91, 7 },
		{ 1448, 10 }, { 1449, 11 }, { 3000, 12 }, { 8192, 13 }, { 700 * 1024, 19 },
		{ 1u << 20, 20 }, { 1482910, 20 }, { 1482911, 21 }, { 64u << 20, 26 },
		{ UINT32_MAX, 32 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(chunker_mask_bits(t[i].avg), t[i].bits);
}

static void test_params_validation(void **state)
{
	static const struct {
		struct chunker_params p;
		const char *msg; /* a part of the message: the bad value and the rule */
	} bad[] = {
		{ { 63, 8192, 65536 }, "minimum size 63 bytes is too small: it must be at least 64" },
		{ { 0, 8192, 65536 }, "minimum size 0 bytes" },
		{ { 8192, 8192, 65536 }, "average size 8192 bytes must be larger than the minimum size 8192" },
		{ { 9000, 8192, 65536 }, "average size 8192 bytes must be larger than the minimum size 9000" },
		{ { 2048, 65536, 65536 }, "maximum size 65536 bytes must be larger than the average size 65536" },
		{ { 2048, 70000, 65536 }, "maximum size 65536 bytes must be larger than the average size 70000" },
		{ { 2048, 8192, (64u << 20) + 1 }, "maximum size 67108865 bytes is too large: it must be at most 67108864" },
		{ { 2048, 8192, UINT32_MAX }, "maximum size 4294967295 bytes is too large" },
	};
	static const struct chunker_params good[] = {
		{ 64, 65, 66 },
		{ 2048, 8192, 64u << 20 },
		{ 512 * 1024, 700 * 1024, 8u << 20 }, /* avg not a power of two */
		{ (64u << 20) - 2, (64u << 20) - 1, 64u << 20 },
	};
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_int_equal(chunker_params_check(&bad[i].p, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_non_null(strstr(e.msg, bad[i].msg));
		assert_int_equal(chunker_params_check(&bad[i].p, NULL), -1);
		err_clear(&e);
		assert_null(chunker_new(&bad[i].p, secret_a, &e));
		assert_int_equal(e.code, ERR_INVALID);
		assert_non_null(strstr(e.msg, bad[i].msg));
		assert_null(chunker_new(&bad[i].p, secret_a, NULL));
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct chunker *c;

		err_clear(&e);
		assert_int_equal(chunker_params_check(&good[i], &e), 0);
		assert_int_equal(e.code, ERR_OK);
		assert_non_null(c = chunker_new(&good[i], secret_a, &e));
		assert_memory_equal(chunker_params(c), &good[i], sizeof(good[i]));
		chunker_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_splits_do_not_move_cuts),
		cmocka_unit_test(test_splits_at_phase_edges),
		cmocka_unit_test(test_defaults_bounds_mean_and_splits),
		cmocka_unit_test(test_small_params_bounds_and_mean),
		cmocka_unit_test(test_secret_changes_cuts),
		cmocka_unit_test(test_insertion_is_local),
		cmocka_unit_test(test_reset_starts_over),
		cmocka_unit_test(test_zeros_cut_at_max),
		cmocka_unit_test(test_empty_and_tiny_inputs),
		cmocka_unit_test(test_mask_bits),
		cmocka_unit_test(test_params_validation),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
