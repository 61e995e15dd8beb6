/*
 * object.c: sealing and opening objects; see object.h and docs/FORMAT.md,
 * "Sealed objects".
 *
 * Layout: version (1) | nonce (24) | AES-256-GCM ciphertext of
 *   [kind, flags, reserved (2), plain_len (4), body_len (4), body, zeros]
 *   padded to Padmé(12 + body_len) | tag (16);
 * associated data: version | object id.
 *
 * Why kind, flags and lengths sit inside the ciphertext and not in clear
 * associated data: GCM authenticates the ciphertext as much as the
 * associated data, so they are bound to the object just as firmly (a
 * changed bit fails the tag), and kept secret, they do not undo the padding:
 * clear lengths would tell the service the exact size Padmé hides. The id
 * and version are in the associated data because the opener knows them
 * before decrypting; binding the id is what stops an object from being
 * moved under another id.
 *
 * Why AES-256-GCM with a per-object subkey: on the build machine (AES-NI,
 * VAES) OpenSSL's GCM encrypts 1 MiB at 5,300 MiB/s against 1,590 MiB/s for
 * libsodium's XChaCha20-Poly1305; whole seals of random 1 MiB objects run at
 * 2,300 against 1,100 MiB/s, opens at 1,450 against 860 (one core, -O2,
 * median of 5; docs/FORMAT.md, "Sealed objects"). GCM's 96-bit nonce is too short to draw at
 * random for a key that lives as long as a machine, so each object draws a
 * 192-bit nonce: its first 16 bytes select a fresh subkey
 * (keyed BLAKE2b-256 of the object key), its last 8 bytes (and 4 zero bytes)
 * are the GCM nonce. A (subkey, nonce) pair repeats only if two objects draw
 * the same 128-bit selector, which takes about 2^64 objects.
 */
#include "object.h"

#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "bytes.h"
#include "compress.h"
#include "keys.h"

enum {
	NONCE_LEN = 24,
	SELECTOR_LEN = 16,
	TAG_LEN = 16,
	INNER_LEN = 12,
	FLAG_ZSTD = 1,
};

static const uint8_t subkey_domain[16] = "arca object v1";

uint64_t object_padme(uint64_t l)
{
	unsigned e = 0, s = 0, low;
	uint64_t mask;

	if (l < 2)
		return l;
	while (e < 63 && ((uint64_t)1 << (e + 1)) <= l)
		e++; /* e = floor(log2 l) */
	while (((unsigned)1 << (s + 1)) <= e)
		s++;
	s++; /* s = floor(log2 e) + 1 */
	low = e - s;
	mask = ((uint64_t)1 << low) - 1;
	return (l + mask) & ~mask;
}

size_t object_sealed_size(size_t body)
{
	return 1 + NONCE_LEN + (size_t)object_padme(INNER_LEN + (uint64_t)body) + TAG_LEN;
}

/* The subkey and GCM nonce for NONCE. SUBKEY is 32 bytes, IV 12. */
static void derive(const struct keys *k, const uint8_t *nonce, uint8_t *subkey, uint8_t *iv)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, k->object, KEY_LEN, 32);
	crypto_generichash_update(&st, subkey_domain, sizeof(subkey_domain));
	crypto_generichash_update(&st, nonce, SELECTOR_LEN);
	crypto_generichash_final(&st, subkey, 32);
	memcpy(iv, nonce + SELECTOR_LEN, NONCE_LEN - SELECTOR_LEN);
	memset(iv + (NONCE_LEN - SELECTOR_LEN), 0, 12 - (NONCE_LEN - SELECTOR_LEN));
}

/* AES-256-GCM of IN[0..LEN) into OUTP (which may equal IN). ENC: encrypt and
 * write the tag to TAG; otherwise decrypt and check TAG. 0, or -1 (when
 * decrypting: authentication failed; OUTP then holds unauthenticated bytes
 * the caller must wipe). */
static int gcm(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *ad,
	       size_t adlen, const uint8_t *in, uint8_t *outp, size_t len, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok = 0;

	if (c == NULL || len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), key, iv, enc, NULL) != 1)
		goto out;
	if (EVP_CipherUpdate(c, NULL, &n, ad, (int)adlen) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(c, outp, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, outp + len, &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int object_seal_ctx(struct compress_ctx *ctx, const struct keys *k, enum object_kind kind,
		    const struct objid *id, const uint8_t *plain, size_t len, int level,
		    struct buf *out, struct err *e)
{
	const size_t start = out->len;
	uint8_t ad[1 + OBJID_LEN], subkey[32], iv[12], *hdr;
	size_t body, padded, inner;
	bool z;
	int rc = -1;

	if (kind < OBJECT_DATA || kind > OBJECT_META)
		return err_set(e, ERR_INVALID, "unknown object kind %d", (int)kind);
	if (len > OBJECT_MAX_PLAIN)
		return err_set(e, ERR_TOO_LARGE, "object of %zu bytes is over the limit of %u",
			       len, OBJECT_MAX_PLAIN);
	/* Worst case: raw body padded by Padmé (< 12.5%) plus fixed bytes. */
	if (buf_reserve(out, OBJECT_OVERHEAD + len + len / 8 + 64, e) != 0)
		return -1;
	if (buf_append_u8(out, OBJECT_VERSION, e) != 0 ||
	    buf_extend(out, NONCE_LEN + INNER_LEN, e) == NULL)
		goto fail;
	randombytes_buf(out->data + start + 1, NONCE_LEN);
	if (compress_try_ctx(ctx, level, plain, len, out, &z, e) != 0)
		goto fail;
	if (!z && buf_append(out, plain, len, e) != 0)
		goto fail;
	body = out->len - start - 1 - NONCE_LEN - INNER_LEN;
	padded = (size_t)object_padme(INNER_LEN + (uint64_t)body);
	if (buf_extend(out, padded - INNER_LEN - body, e) == NULL)
		goto fail;

	hdr = out->data + start + 1 + NONCE_LEN;
	hdr[0] = (uint8_t)kind;
	hdr[1] = z ? FLAG_ZSTD : 0;
	hdr[2] = hdr[3] = 0;
	le32_put(hdr + 4, (uint32_t)len);
	le32_put(hdr + 8, (uint32_t)body);

	ad[0] = OBJECT_VERSION;
	memcpy(ad + 1, id->b, OBJID_LEN);
	derive(k, out->data + start + 1, subkey, iv);
	inner = padded;
	if (buf_extend(out, TAG_LEN, e) == NULL)
		goto fail;
	hdr = out->data + start + 1 + NONCE_LEN;
	if (gcm(1, subkey, iv, ad, sizeof(ad), hdr, hdr, inner, hdr + inner) != 0) {
		err_set(e, ERR_CRYPTO, "AES-256-GCM encryption failed");
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	out->len = start;
out:
	sodium_memzero(subkey, sizeof(subkey));
	return rc;
}

int object_seal(const struct keys *k, enum object_kind kind, const struct objid *id,
		const uint8_t *plain, size_t len, int level, struct buf *out, struct err *e)
{
	return object_seal_ctx(NULL, k, kind, id, plain, len, level, out, e);
}

/*
 * Why decrypt straight into OUT: a raw body (the common case for file
 * content) then costs one decryption and one memmove, with no temporary
 * buffer to allocate, fault in and wipe. Until every check has passed the
 * bytes lie past OUT's length, and a failure wipes them.
 */
int object_open_ctx(struct compress_ctx *ctx, const struct keys *k, const struct objid *id,
		    const uint8_t *sealed, size_t len, enum object_kind *kind, struct buf *out,
		    struct err *e)
{
	struct buf z = BUF_INIT;
	uint8_t ad[1 + OBJID_LEN], subkey[32], iv[12], acc = 0, *pt;
	const size_t start = out->len;
	size_t inner, body, plain_len, touched = 0;
	struct objid got;
	enum object_kind got_kind;
	char hex[OBJID_HEX_LEN + 1];
	int rc = -1;

	objid_to_hex(id, hex);
	if (len < 1 + NONCE_LEN + INNER_LEN + TAG_LEN)
		return err_set(e, ERR_CORRUPT, "object %.16s is truncated (%zu bytes)", hex, len);
	if (sealed[0] != OBJECT_VERSION)
		return err_set(e, sealed[0] > OBJECT_VERSION ? ERR_UNSUPPORTED : ERR_CORRUPT,
			       "object %.16s has format version %u; this build reads version %d%s",
			       hex, sealed[0], OBJECT_VERSION,
			       sealed[0] > OBJECT_VERSION ? ": update arca" : "");
	inner = len - 1 - NONCE_LEN - TAG_LEN;
	if (inner > (size_t)object_padme(INNER_LEN + (uint64_t)OBJECT_MAX_PLAIN))
		return err_set(e, ERR_CORRUPT, "object %.16s is too large (%zu bytes)", hex, len);
	if (buf_reserve(out, inner, e) != 0)
		return -1;
	touched = inner;
	pt = out->data + start;

	ad[0] = OBJECT_VERSION;
	memcpy(ad + 1, id->b, OBJID_LEN);
	derive(k, sealed + 1, subkey, iv);
	if (gcm(0, subkey, iv, ad, sizeof(ad), sealed + 1 + NONCE_LEN, pt, inner,
		(uint8_t *)(uintptr_t)(sealed + len - TAG_LEN)) != 0) {
		err_set(e, ERR_CORRUPT,
			"object %.16s failed authentication: it is damaged, altered, or not "
			"this machine's", hex);
		goto out;
	}

	/* Authenticated from here on; the checks below catch only a machine that
	 * sealed something malformed, but they keep the format canonical. */
	plain_len = le32_get(pt + 4);
	body = le32_get(pt + 8);
	if (pt[0] < OBJECT_DATA || pt[0] > OBJECT_META || (pt[1] & ~FLAG_ZSTD) || pt[2] || pt[3] ||
	    plain_len > OBJECT_MAX_PLAIN || body > inner - INNER_LEN ||
	    object_padme(INNER_LEN + (uint64_t)body) != inner ||
	    (!(pt[1] & FLAG_ZSTD) && body != plain_len) ||
	    ((pt[1] & FLAG_ZSTD) && body >= plain_len)) {
		err_set(e, ERR_CORRUPT, "object %.16s has a malformed header", hex);
		goto out;
	}
	for (size_t i = INNER_LEN + body; i < inner; i++)
		acc |= pt[i];
	if (acc != 0) {
		err_set(e, ERR_CORRUPT, "object %.16s has non-zero padding", hex);
		goto out;
	}
	got_kind = (enum object_kind)pt[0];
	if (pt[1] & FLAG_ZSTD) {
		if (buf_append(&z, pt + INNER_LEN, body, e) != 0)
			goto out;
		/* May move OUT's memory; PT is not used after this. */
		if (compress_expand_ctx(ctx, z.data, z.len, plain_len, out, e) != 0) {
			err_prefix(e, "object %.16s: ", hex);
			goto out;
		}
	} else {
		memmove(pt, pt + INNER_LEN, body);
		out->len = start + body;
	}
	objid_compute(k, out->data + start, plain_len, &got);
	if (objid_cmp(&got, id) != 0) {
		err_set(e, ERR_CORRUPT, "object %.16s holds content of another id", hex);
		goto out;
	}
	*kind = got_kind;
	rc = 0;
out:
	if (rc != 0) {
		if (out->len - start > touched)
			touched = out->len - start;
		sodium_memzero(out->data + start, touched);
		out->len = start;
	}
	sodium_memzero(subkey, sizeof(subkey));
	buf_free(&z);
	return rc;
}

int object_open(const struct keys *k, const struct objid *id, const uint8_t *sealed,
		size_t len, enum object_kind *kind, struct buf *out, struct err *e)
{
	return object_open_ctx(NULL, k, id, sealed, len, kind, out, e);
}
