/*
 * totp.c: HOTP (RFC 4226), TOTP (RFC 6238), Base32 (RFC 4648) and the
 * otpauth:// address. See totp.h.
 */
#include "totp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"

static const EVP_MD *md_of(enum totp_hash h)
{
	switch (h) {
	case TOTP_SHA1:
		return EVP_sha1();
	case TOTP_SHA256:
		return EVP_sha256();
	case TOTP_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

static const uint32_t pow10_of[10] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

int hotp_code(enum totp_hash h, const uint8_t *key, size_t key_len, uint64_t counter,
	      unsigned digits, uint32_t *code, struct err *e)
{
	const EVP_MD *md = md_of(h);
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0, off;
	uint32_t bin;

	*code = 0;
	if (md == NULL)
		return err_set(e, ERR_INVALID, "unknown one-time password hash %d", (int)h);
	if (key_len == 0 || key_len > TOTP_KEY_MAX)
		return err_set(e, ERR_INVALID, "a one-time password secret has 1 to %d bytes, not %zu",
			       TOTP_KEY_MAX, key_len);
	if (digits < 6 || digits > 9)
		return err_set(e, ERR_INVALID, "a one-time password has 6 to 9 digits, not %u",
			       digits);
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)(counter & 0xff);
		counter >>= 8;
	}
	if (HMAC(md, key, (int)key_len, msg, sizeof(msg), mac, &mac_len) == NULL || mac_len < 20)
		return err_set(e, ERR_CRYPTO, "computing a one-time password's HMAC failed");
	/* Dynamic truncation (RFC 4226 section 5.3). */
	off = mac[mac_len - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	      ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	*code = bin % pow10_of[digits];
	return 0;
}

int totp_code(enum totp_hash h, const uint8_t *key, size_t key_len, int64_t t, unsigned step,
	      unsigned digits, uint32_t *code, struct err *e)
{
	*code = 0;
	if (t < 0)
		return err_set(e, ERR_INVALID, "a one-time password's time is before 1970");
	if (step == 0)
		return err_set(e, ERR_INVALID, "a one-time password's step is 0 seconds");
	return hotp_code(h, key, key_len, (uint64_t)t / step, digits, code, e);
}

int totp_check(enum totp_hash h, const uint8_t *key, size_t key_len, const char *code,
	       int64_t now, unsigned step, unsigned digits, unsigned window, int64_t after,
	       int64_t *step_out, struct err *e)
{
	uint32_t typed = 0, want;
	unsigned n = 0;
	int64_t at, found = -1;

	*step_out = -1;
	if (now < 0 || step == 0)
		return err_set(e, ERR_INVALID, "a one-time password check needs a time and a step");
	for (const char *p = code; *p; p++) {
		if (*p == ' ')
			continue;
		if (*p < '0' || *p > '9' || n == digits)
			return 0; /* malformed: simply wrong */
		typed = typed * 10 + (uint32_t)(*p - '0');
		n++;
	}
	if (n != digits)
		return 0;
	at = now / (int64_t)step;
	/* Every step of the window is computed and compared, whichever one
	 * matches, so that the time taken does not tell which did. */
	for (int64_t s = at - (int64_t)window; s <= at + (int64_t)window; s++) {
		if (s < 0)
			continue;
		if (hotp_code(h, key, key_len, (uint64_t)s, digits, &want, e) != 0)
			return -1;
		if ((want ^ typed) == 0 && found < 0 && s > after)
			found = s;
	}
	if (found < 0)
		return 0;
	*step_out = found;
	return 1;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int totp_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap, struct err *e)
{
	size_t need = (len * 8 + 4) / 5 + 1, o = 0;
	unsigned acc = 0, bits = 0;

	if (cap < need)
		return err_set(e, ERR_TOO_LARGE, "Base32 text of %zu bytes needs %zu characters", len,
			       need);
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return 0;
}

int totp_base32_decode(const char *s, uint8_t *out, size_t cap, size_t *len, struct err *e)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0, pos = 0;
	bool padding = false;

	*len = 0;
	for (const char *p = s; *p; p++, pos++) {
		char c = *p;
		int v;

		if (c == ' ' || c == '-')
			continue;
		if (c == '=') {
			padding = true;
			continue;
		}
		if (padding)
			return err_set(e, ERR_INVALID, "Base32 text has '%c' after its '=' padding "
				       "(character %zu); copy the secret again", c, pos + 1);
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
			return err_set(e, ERR_INVALID, "Base32 text cannot hold '%c' (character %zu): "
				       "it uses A to Z and 2 to 7", c, pos + 1);
		else
			return err_set(e, ERR_INVALID, "Base32 text cannot hold byte 0x%02x "
				       "(character %zu): it uses A to Z and 2 to 7",
				       (unsigned char)c, pos + 1);
		acc = (acc << 5) | (unsigned)v;
		bits += 5;
		if (bits >= 8) {
			if (o == cap)
				return err_set(e, ERR_TOO_LARGE, "Base32 text holds more than %zu bytes",
					       cap);
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (under 5 after the last byte) must be zero padding. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return err_set(e, ERR_INVALID, "Base32 text ends in the middle of a byte; copy the "
			       "whole secret again");
	*len = o;
	return 0;
}

/* Percent-encode S into B (RFC 3986 unreserved characters kept). */
static int pct(struct buf *b, const char *s, struct err *e)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[4];

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			if (buf_append(b, p, 1, e) != 0)
				return -1;
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%%%02X", *p);
		if (buf_append(b, tmp, 3, e) != 0)
			return -1;
	}
	return 0;
}

char *totp_uri(const char *issuer, const char *account, const uint8_t *key, size_t key_len,
	       struct err *e)
{
	char secret[TOTP_BASE32_MAX], tail[64];
	struct buf b = BUF_INIT;
	char *out;

	if (key_len == 0 || key_len > TOTP_KEY_MAX) {
		err_set(e, ERR_INVALID, "a one-time password secret has 1 to %d bytes, not %zu",
			TOTP_KEY_MAX, key_len);
		return NULL;
	}
	if (totp_base32_encode(key, key_len, secret, sizeof(secret), e) != 0)
		return NULL;
	snprintf(tail, sizeof(tail), "&algorithm=SHA1&digits=%d&period=%d", TOTP_DIGITS, TOTP_STEP);
	if (buf_append(&b, "otpauth://totp/", 15, e) != 0 || pct(&b, issuer, e) != 0 ||
	    buf_append(&b, ":", 1, e) != 0 || pct(&b, account, e) != 0 ||
	    buf_append(&b, "?secret=", 8, e) != 0 || buf_append(&b, secret, strlen(secret), e) != 0 ||
	    buf_append(&b, "&issuer=", 8, e) != 0 || pct(&b, issuer, e) != 0 ||
	    buf_append(&b, tail, strlen(tail), e) != 0 || buf_append(&b, "", 1, e) != 0) {
		buf_free(&b);
		return NULL;
	}
	out = (char *)b.data;
	b.data = NULL;
	buf_free(&b);
	return out;
}
