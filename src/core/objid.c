/*
 * objid.c: object ids as HMAC-SHA-256 under the id subkey; see objid.h.
 *
 * Why HMAC-SHA-256 rather than keyed BLAKE2b: this machine's CPUs have SHA
 * extensions, and OpenSSL's SHA-256 runs at about twice libsodium's BLAKE2b
 * on 1 MiB chunks (figures in docs/FORMAT.md, measured with bench/core).
 */
#include "objid.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "keys.h"

void objid_compute(const struct keys *k, const void *data, size_t len, struct objid *out)
{
	unsigned int n = OBJID_LEN;
	static const uint8_t empty;

	/* HMAC() with a caller buffer only fails on an unusable digest, which
	 * SHA-256 never is; zero the id anyway so a failure cannot go unseen. */
	if (HMAC(EVP_sha256(), k->id, KEY_LEN, len ? data : &empty, len, out->b, &n) == NULL)
		memset(out->b, 0, OBJID_LEN);
}

int objid_cmp(const struct objid *a, const struct objid *b)
{
	return memcmp(a->b, b->b, OBJID_LEN);
}

void objid_to_hex(const struct objid *id, char out[OBJID_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < OBJID_LEN; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[OBJID_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int objid_from_hex(const char *s, struct objid *out, struct err *e)
{
	struct objid id;

	for (size_t i = 0; i < OBJID_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return err_set(e, ERR_INVALID,
				       "object id must be %d hex digits; bad character at %zu",
				       OBJID_HEX_LEN, hi < 0 ? 2 * i : 2 * i + 1);
		id.b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (s[OBJID_HEX_LEN] != '\0')
		return err_set(e, ERR_INVALID, "object id longer than %d hex digits",
			       OBJID_HEX_LEN);
	*out = id;
	return 0;
}
