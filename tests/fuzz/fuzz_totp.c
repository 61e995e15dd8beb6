/*
 * fuzz_totp.c: the one-time-password inputs a person types or pastes: a
 * Base32 secret and a code. Nothing may crash, leak or print. A refused
 * secret carries a code and a message; an accepted one encodes back to
 * the same bytes. A typed code is taken only when it is the value totp_code
 * gives for the step totp_check names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], again[TOTP_BASE32_MAX];
	uint8_t key[TOTP_KEY_MAX], back[TOTP_KEY_MAX];
	size_t n = 0, m = 0, half;
	struct err e;

	if (size >= sizeof(text))
		return 0;
	/* First half: the secret's text; second half: the typed code. */
	half = size / 2;
	memcpy(text, data, half);
	text[half] = '\0';
	err_clear(&e);
	if (totp_base32_decode(text, key, sizeof(key), &n, &e) != 0) {
		if (e.code == ERR_OK || e.msg[0] == '\0')
			abort();
		return 0;
	}
	if (totp_base32_encode(key, n, again, sizeof(again), &e) != 0 ||
	    totp_base32_decode(again, back, sizeof(back), &m, &e) != 0 || m != n ||
	    memcmp(key, back, n) != 0)
		abort();
	if (n == 0)
		return 0;
	memcpy(text, data + half, size - half);
	text[size - half] = '\0';
	int64_t step;
	int r = totp_check(TOTP_SHA1, key, n, text, 1700000000, 30, 6, 1, -1, &step, &e);
	if (r < 0)
		abort();
	if (r == 1) {
		uint32_t code;
		char want[16];
		size_t k = 0;

		if (totp_code(TOTP_SHA1, key, n, step * 30, 30, 6, &code, &e) != 0)
			abort();
		snprintf(want, sizeof(want), "%06u", code);
		for (const char *p = text; *p; p++)
			if (*p != ' ' && (k >= 6 || *p != want[k++]))
				abort();
		if (k != 6)
			abort();
	}
	return 0;
}
