/*
 * totp.h: one-time passwords for a second factor. HOTP (RFC 4226) and TOTP
 * (RFC 6238) over HMAC-SHA-1, -256 or -512, the Base32 text (RFC 4648) an
 * authenticator app is given its secret in, and the otpauth:// address a QR
 * code carries. Checking a code takes a window of steps either side of now
 * and says which step matched, so that the caller can refuse a code used
 * before (a replay) by keeping the last step it accepted.
 *
 * Nothing here keeps state or reads the clock: the caller passes the time.
 */
#ifndef ARCA_TOTP_H
#define ARCA_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum totp_hash {
	TOTP_SHA1 = 0, /* what authenticator apps assume */
	TOTP_SHA256,
	TOTP_SHA512,
};

#define TOTP_STEP 30         /* seconds per code, RFC 6238's default */
#define TOTP_DIGITS 6
#define TOTP_SECRET_LEN 20   /* bytes of a new secret: 160 bits, as RFC 4226 advises */
#define TOTP_KEY_MAX 64      /* bytes of the longest secret accepted */
/* Base32 text of TOTP_KEY_MAX bytes, unpadded, and its NUL. */
#define TOTP_BASE32_MAX ((TOTP_KEY_MAX * 8 + 4) / 5 + 1)

/* The HOTP value of COUNTER under KEY (KEY_LEN bytes, 1 to TOTP_KEY_MAX):
 * DIGITS (6 to 9) decimal digits as a number, in *CODE. 0, or -1 with E
 * set (ERR_INVALID for a bad length or digit count, ERR_CRYPTO). */
int hotp_code(enum totp_hash h, const uint8_t *key, size_t key_len, uint64_t counter,
	      unsigned digits, uint32_t *code, struct err *e);

/* The TOTP value at Unix time T (>= 0) with steps of STEP seconds from 0:
 * hotp_code of floor(T / STEP). */
int totp_code(enum totp_hash h, const uint8_t *key, size_t key_len, int64_t t, unsigned step,
	      unsigned digits, uint32_t *code, struct err *e);

/* Whether CODE (the text a person typed: DIGITS decimal digits, spaces
 * ignored) is the TOTP value at NOW or up to WINDOW steps either side of it,
 * and no older than step AFTER + 1 (pass -1 when no code was accepted yet).
 * 1 with the step that matched in *STEP_OUT; 0 when it is not (a wrong,
 * malformed, too old or reused code: the caller says only "wrong code");
 * -1 with E set when the check itself failed. Compares in constant time. */
int totp_check(enum totp_hash h, const uint8_t *key, size_t key_len, const char *code,
	       int64_t now, unsigned step, unsigned digits, unsigned window, int64_t after,
	       int64_t *step_out, struct err *e);

/* Write LEN bytes of IN as unpadded upper-case Base32 into OUT (CAP bytes,
 * with the NUL). 0, or -1 with ERR_TOO_LARGE when OUT is too small. */
int totp_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap, struct err *e);

/* Decode Base32 text S (either case; spaces and hyphens between groups and
 * '=' padding at the end ignored) into OUT (CAP bytes), its length in *LEN.
 * 0, or -1 with ERR_INVALID naming the first bad character, or ERR_TOO_LARGE. */
int totp_base32_decode(const char *s, uint8_t *out, size_t cap, size_t *len, struct err *e);

/* The otpauth:// address of a TOTP secret for ACCOUNT at ISSUER (both
 * percent-encoded here), SHA-1, TOTP_DIGITS digits, TOTP_STEP seconds:
 * what an authenticator app reads from a QR code. Caller frees; NULL with
 * E set. */
char *totp_uri(const char *issuer, const char *account, const uint8_t *key, size_t key_len,
	       struct err *e);

#endif
