/* test_object.c: sealing and opening objects; nothing unauthenticated escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "compress.h"
#include "keys.h"
#include "object.h"

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

static void seal(enum object_kind kind, const uint8_t *p, size_t len, int level,
		 struct objid *id, struct buf *out)
{
	objid_compute(k, p, len, id);
	assert_int_equal(object_seal(k, kind, id, p, len, level, out, NULL), 0);
}

static void test_roundtrip_kinds_and_sizes(void **state)
{
	(void)state;
	const size_t sizes[] = { 0, 1, 100, 4096, 1 << 20, (3 << 20) + 7 };
	uint8_t *rnd = malloc((3 << 20) + 7);

	randombytes_buf(rnd, (3 << 20) + 7);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int kind = OBJECT_DATA; kind <= OBJECT_META; kind++) {
			struct buf s = BUF_INIT, p = BUF_INIT;
			struct objid id;
			enum object_kind got;

			seal((enum object_kind)kind, rnd, sizes[i], 3, &id, &s);
			assert_int_equal(s.len, object_sealed_size(sizes[i]));
			assert_int_equal(object_open(k, &id, s.data, s.len, &got, &p, NULL), 0);
			assert_int_equal(got, kind);
			assert_int_equal(p.len, sizes[i]);
			if (sizes[i])
				assert_memory_equal(p.data, rnd, sizes[i]);
			buf_free(&s);
			buf_free(&p);
		}
	}
	free(rnd);
}

static void test_compressible_is_smaller(void **state)
{
	(void)state;
	uint8_t text[200000];
	struct buf s = BUF_INIT, raw = BUF_INIT, p = BUF_INIT;
	struct objid id;
	enum object_kind kind;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)"folder/file.txt "[i % 16];
	seal(OBJECT_TREE, text, sizeof(text), 3, &id, &s);
	seal(OBJECT_TREE, text, sizeof(text), COMPRESS_LEVEL_NONE, &id, &raw);
	assert_true(s.len < 10000);
	assert_true(raw.len >= sizeof(text));
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, NULL), 0);
	assert_memory_equal(p.data, text, sizeof(text));
	buf_reset(&p);
	assert_int_equal(object_open(k, &id, raw.data, raw.len, &kind, &p, NULL), 0);
	assert_memory_equal(p.data, text, sizeof(text));
	buf_free(&s);
	buf_free(&raw);
	buf_free(&p);
}

/* Two seals of the same content differ (fresh nonce) and both open. */
static void test_nonces_fresh(void **state)
{
	(void)state;
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct objid id;

	seal(OBJECT_DATA, (const uint8_t *)"same", 4, 3, &id, &a);
	seal(OBJECT_DATA, (const uint8_t *)"same", 4, 3, &id, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.data + 1, b.data + 1, 24);
	assert_memory_not_equal(a.data + 25, b.data + 25, a.len - 25);
	buf_free(&a);
	buf_free(&b);
}

static void test_every_flipped_byte_fails(void **state)
{
	(void)state;
	uint8_t msg[3000];
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid id;
	enum object_kind kind;
	struct err e;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	seal(OBJECT_DATA, msg, sizeof(msg), 3, &id, &s);
	for (size_t i = 0; i < s.len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			s.data[i] ^= (uint8_t)(1u << bit);
			err_clear(&e);
			assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
			assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED);
			assert_int_equal(p.len, 0);
			s.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), 0);
	buf_free(&s);
	buf_free(&p);
}

static void test_wrong_id_key_truncation(void **state)
{
	(void)state;
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid id, other;
	enum object_kind kind;
	struct err e;
	struct keys *k2 = keys_generate(NULL);

	seal(OBJECT_DATA, (const uint8_t *)"contents of a file", 18, 3, &id, &s);
	/* Under another id: the object cannot be moved. */
	objid_compute(k, "something else", 14, &other);
	assert_int_equal(object_open(k, &other, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "failed authentication"));
	/* Another machine's key. */
	assert_int_equal(object_open(k2, &id, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	/* Every truncation and an extension. */
	for (size_t n = 0; n < s.len; n++)
		assert_int_equal(object_open(k, &id, s.data, n, &kind, &p, &e), -1);
	assert_int_equal(buf_append_u8(&s, 0, NULL), 0);
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(p.len, 0);
	keys_free(k2);
	buf_free(&s);
	buf_free(&p);
}

/* An id that is not the plaintext's hash is caught after decryption. */
static void test_id_mismatch_after_decrypt(void **state)
{
	(void)state;
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid liar;
	enum object_kind kind;
	struct err e;

	objid_compute(k, "claimed", 7, &liar);
	assert_int_equal(object_seal(k, OBJECT_DATA, &liar, (const uint8_t *)"actual", 6, 3, &s, &e), 0);
	assert_int_equal(object_open(k, &liar, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "another id"));
	assert_int_equal(p.len, 0);
	buf_free(&s);
	buf_free(&p);
}

static void test_versions_and_bad_args(void **state)
{
	(void)state;
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid id;
	enum object_kind kind;
	struct err e;

	seal(OBJECT_DATA, (const uint8_t *)"v", 1, 3, &id, &s);
	s.data[0] = 2;
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "update arca"));
	assert_int_equal(object_seal(k, (enum object_kind)9, &id, (const uint8_t *)"v", 1, 3, &s, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(object_seal(k, OBJECT_DATA, &id, (const uint8_t *)"v", (size_t)OBJECT_MAX_PLAIN + 1, 3, &s, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	buf_free(&s);
}

static void test_padme(void **state)
{
	(void)state;
	const uint64_t in[] = { 0, 1, 2, 3, 9, 12, 13, 100, 1000, 1048576, 1048577, 1500000,
				8388608 + 1, 1ull << 40 };
	const uint64_t want[] = { 0, 1, 2, 3, 10, 12, 14, 104, 1024, 1048576, 1081344, 1507328,
				  8650752, 1ull << 40 };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		uint64_t p = object_padme(in[i]);

		assert_true(p == want[i]);
		assert_true(p >= in[i]);
		assert_true(p - in[i] <= in[i] / 8 + 1);
	}
	/* Overhead stays under 12.5% everywhere. */
	for (uint64_t l = 2; l < 200000; l += 17)
		assert_true(object_padme(l) - l <= l / 8);
}

/* A passphrase change re-wraps the master key only: objects sealed before it
 * open with the keys unwrapped under the new passphrase, byte for byte as
 * they were stored, and the old passphrase no longer opens the new blob. */
static void test_passphrase_change_keeps_objects(void **state)
{
	(void)state;
	const struct kdf_params cheap = { 1, 8192 };
	struct buf w1 = BUF_INIT, w2 = BUF_INIT, s = BUF_INIT, p = BUF_INIT;
	struct keys *mine = keys_generate(NULL), *before, *after;
	uint8_t stored[256];
	struct objid id;
	enum object_kind kind;
	struct err e;

	assert_int_equal(keys_wrap(mine, "first passphrase 123", &cheap, &w1, &e), 0);
	before = keys_unwrap(w1.data, w1.len, "first passphrase 123", &e);
	assert_non_null(before);
	objid_compute(before, "old data", 8, &id);
	assert_int_equal(object_seal(before, OBJECT_DATA, &id, (const uint8_t *)"old data", 8, 3, &s, &e), 0);
	memcpy(stored, s.data, s.len);

	/* The change: open with the old passphrase, wrap under the new one. */
	assert_int_equal(keys_wrap(before, "second passphrase 456", &cheap, &w2, &e), 0);
	after = keys_unwrap(w2.data, w2.len, "second passphrase 456", &e);
	assert_non_null(after);
	assert_null(keys_unwrap(w2.data, w2.len, "first passphrase 123", &e));
	assert_int_equal(e.code, ERR_PASSPHRASE);

	assert_int_equal(object_open(after, &id, s.data, s.len, &kind, &p, &e), 0);
	assert_int_equal(p.len, 8);
	assert_memory_equal(p.data, "old data", 8);
	assert_memory_equal(s.data, stored, s.len); /* nothing rewritten */
	keys_free(mine);
	keys_free(before);
	keys_free(after);
	buf_free(&w1);
	buf_free(&w2);
	buf_free(&s);
	buf_free(&p);
}

/*
 * An object built here from docs/FORMAT.md alone, not with object_seal: the
 * format as written is the format as read. INNER is the whole padded inner
 * plaintext (header, body, padding); the caller may make it malformed.
 */
static void craft(const struct objid *id, const uint8_t *inner, size_t inner_len,
		  struct buf *out)
{
	static const uint8_t domain[16] = "arca object v1";
	uint8_t nonce[24], subkey[32], iv[12] = { 0 }, ad[33], *p;
	crypto_generichash_state st;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	randombytes_buf(nonce, sizeof(nonce));
	crypto_generichash_init(&st, k->object, 32, 32);
	crypto_generichash_update(&st, domain, sizeof(domain));
	crypto_generichash_update(&st, nonce, 16);
	crypto_generichash_final(&st, subkey, 32);
	memcpy(iv, nonce + 16, 8);
	ad[0] = 1;
	memcpy(ad + 1, id->b, 32);
	buf_reset(out);
	assert_int_equal(buf_append_u8(out, 1, NULL), 0);
	assert_int_equal(buf_append(out, nonce, 24, NULL), 0);
	p = buf_extend(out, inner_len + 16, NULL);
	assert_non_null(p);
	assert_int_equal(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), subkey, iv, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, ad, sizeof(ad)), 1);
	assert_int_equal(EVP_EncryptUpdate(c, p, &n, inner, (int)inner_len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, p + inner_len, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, p + inner_len), 1);
	EVP_CIPHER_CTX_free(c);
}

/* The inner plaintext of a raw object holding PLAIN, padded to PADDED. */
static size_t inner_raw(uint8_t *in, uint8_t kind, const char *plain, size_t padded)
{
	size_t len = strlen(plain);

	memset(in, 0, padded);
	in[0] = kind;
	in[4] = (uint8_t)len; /* lengths under 256 here */
	in[8] = (uint8_t)len;
	memcpy(in + 12, plain, len);
	return padded;
}

static void test_format_as_documented(void **state)
{
	(void)state;
	const char *plain = "written from the spec"; /* 21 bytes: Padmé(33) = 36 */
	uint8_t in[64];
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid id;
	enum object_kind kind;
	struct err e;

	assert_int_equal(object_padme(12 + 21), 36);
	objid_compute(k, plain, 21, &id);
	craft(&id, in, inner_raw(in, OBJECT_META, plain, 36), &s);
	assert_int_equal(s.len, object_sealed_size(21));
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), 0);
	assert_int_equal(kind, OBJECT_META);
	assert_int_equal(p.len, 21);
	assert_memory_equal(p.data, plain, 21);

	/* Authentic but malformed: each is refused after decryption. */
	struct {
		size_t at;
		uint8_t v;
		const char *why;
	} bad[] = {
		{ 0, 0, "header" },     /* kind 0 */
		{ 0, 4, "header" },     /* kind 4 */
		{ 1, 2, "header" },     /* unknown flag */
		{ 2, 1, "header" },     /* reserved */
		{ 3, 1, "header" },     /* reserved */
		{ 4, 20, "header" },    /* plain length != body length, raw */
		{ 8, 25, "header" },    /* body past its padded size */
		{ 8, 20, "header" },    /* Padmé(12 + 20) = 32 != 36 */
		{ 7, 0x40, "header" },  /* plaintext length over 1 GiB */
		{ 33, 1, "padding" },   /* non-zero padding */
		{ 13, 'X', "another id" }, /* content not of this id */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		inner_raw(in, OBJECT_META, plain, 36);
		in[bad[i].at] = bad[i].v;
		craft(&id, in, 36, &s);
		err_clear(&e);
		assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_non_null(strstr(e.msg, bad[i].why));
		assert_int_equal(p.len, 21); /* OUT as it was */
	}
	/* A padded length that is not Padmé of anything we would write. */
	inner_raw(in, OBJECT_META, plain, 37);
	craft(&id, in, 37, &s);
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
	assert_non_null(strstr(e.msg, "header"));
	/* The compressed flag on a body that is not a zstd frame. */
	inner_raw(in, OBJECT_META, plain, 36);
	in[1] = 1;
	in[4] = 40; /* claims 40 bytes of plaintext from a 21-byte "frame" */
	craft(&id, in, 36, &s);
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "zstd"));
	buf_free(&s);
	buf_free(&p);
}

/* Opening appends after what OUT holds, and a failure leaves that intact;
 * reused contexts give the same bytes as temporary ones. */
static void test_append_and_contexts(void **state)
{
	(void)state;
	struct compress_ctx *c = compress_ctx_new(NULL);
	struct buf s = BUF_INIT, p = BUF_INIT;
	uint8_t text[5000], rnd[700];
	struct objid id, rid;
	enum object_kind kind;
	struct err e;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i % 50);
	randombytes_buf(rnd, sizeof(rnd));
	assert_int_equal(buf_append(&p, "keep", 4, NULL), 0);
	objid_compute(k, text, sizeof(text), &id);
	objid_compute(k, rnd, sizeof(rnd), &rid);
	for (int round = 0; round < 3; round++) {
		size_t before = p.len;

		buf_reset(&s);
		assert_int_equal(object_seal_ctx(c, k, OBJECT_TREE, &id, text, sizeof(text), 3, &s, NULL), 0);
		assert_true(s.len < sizeof(text) / 4); /* compressed */
		assert_int_equal(object_open_ctx(c, k, &id, s.data, s.len, &kind, &p, &e), 0);
		assert_int_equal(p.len, before + sizeof(text));
		assert_memory_equal(p.data + before, text, sizeof(text));
		/* Under the other id it fails and OUT keeps its length. */
		assert_int_equal(object_open_ctx(c, k, &rid, s.data, s.len, &kind, &p, &e), -1);
		assert_int_equal(p.len, before + sizeof(text));
		buf_reset(&s);
		assert_int_equal(object_seal_ctx(NULL, k, OBJECT_DATA, &rid, rnd, sizeof(rnd), 3, &s, NULL), 0);
		assert_int_equal(s.len, object_sealed_size(sizeof(rnd))); /* raw */
		assert_int_equal(object_open_ctx(c, k, &rid, s.data, s.len, &kind, &p, &e), 0);
		assert_memory_equal(p.data + before + sizeof(text), rnd, sizeof(rnd));
	}
	assert_memory_equal(p.data, "keep", 4);
	compress_ctx_free(c);
	buf_free(&s);
	buf_free(&p);
}

/* Every bit flip anywhere in a raw (incompressible) object fails too. */
static void test_every_flipped_bit_raw(void **state)
{
	(void)state;
	uint8_t rnd[300];
	struct buf s = BUF_INIT, p = BUF_INIT;
	struct objid id;
	enum object_kind kind;
	struct err e;

	randombytes_buf(rnd, sizeof(rnd));
	seal(OBJECT_DATA, rnd, sizeof(rnd), 3, &id, &s);
	assert_int_equal(s.len, object_sealed_size(sizeof(rnd)));
	for (size_t i = 0; i < s.len * 8; i++) {
		s.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), -1);
		assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED);
		assert_int_equal(p.len, 0);
		s.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(object_open(k, &id, s.data, s.len, &kind, &p, &e), 0);
	buf_free(&s);
	buf_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_kinds_and_sizes),
		cmocka_unit_test(test_compressible_is_smaller),
		cmocka_unit_test(test_nonces_fresh),
		cmocka_unit_test(test_every_flipped_byte_fails),
		cmocka_unit_test(test_wrong_id_key_truncation),
		cmocka_unit_test(test_id_mismatch_after_decrypt),
		cmocka_unit_test(test_versions_and_bad_args),
		cmocka_unit_test(test_padme),
		cmocka_unit_test(test_passphrase_change_keeps_objects),
		cmocka_unit_test(test_format_as_documented),
		cmocka_unit_test(test_append_and_contexts),
		cmocka_unit_test(test_every_flipped_bit_raw),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
