/*
 * test_kit.c: the second passphrase's kit: written and read back, and each
 * kind of bad file refused with a message that says what is wrong and what
 * to give instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kit.h"

static uint8_t blob[KEYS_WRAPPED_LEN];

static int setup(void **state)
{
	(void)state;
	struct kdf_params cheap = { 1, 8192 };
	struct keys *k = keys_generate(NULL);
	struct buf b = BUF_INIT;

	assert_non_null(k);
	assert_int_equal(keys_wrap(k, "a second passphrase here", &cheap, &b, NULL), 0);
	assert_int_equal(b.len, KEYS_WRAPPED_LEN);
	memcpy(blob, b.data, b.len);
	buf_free(&b);
	keys_free(k);
	return 0;
}

static void parse_ok(const char *text, const uint8_t *want)
{
	uint8_t got[KEYS_WRAPPED_LEN];
	struct err e;

	assert_int_equal(kit_parse((const uint8_t *)text, strlen(text), got, &e), 0);
	assert_memory_equal(got, want, KEYS_WRAPPED_LEN);
}

static void parse_bad(const void *p, size_t n, enum err_code code, const char *msg)
{
	uint8_t got[KEYS_WRAPPED_LEN];
	struct err e;

	assert_int_equal(kit_parse(p, n, got, &e), -1);
	assert_int_equal(e.code, code);
	assert_string_equal(e.msg, msg);
}

static const char fix[] = "give the kit that 'arca properties --add-passphrase --recovery-kit "
			  "FILE' wrote, or that machine's wrapped-2.key file";

/* The kit as written, the raw key, and a kit typed back by hand (CRLF,
 * spaces inside the base64) all give the key. */
static void test_round_trips(void **state)
{
	(void)state;
	struct buf text = BUF_INIT;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char typed[1024];
	uint8_t got[KEYS_WRAPPED_LEN];

	assert_int_equal(kit_format("server-01", "vault-a", "https://v:8443", blob, &text, NULL), 0);
	assert_int_equal(buf_append_u8(&text, 0, NULL), 0);
	assert_non_null(strstr((const char *)text.data, "\nMachine: server-01\n"));
	parse_ok((const char *)text.data, blob);
	assert_int_equal(kit_parse(blob, sizeof(blob), got, NULL), 0);
	assert_memory_equal(got, blob, sizeof(blob));
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	snprintf(typed, sizeof(typed), "notes\r\nWrapped key: %.40s %.40s\t%s \r\n", b64, b64 + 40,
		 b64 + 80);
	parse_ok(typed, blob);
	buf_free(&text);
}

static void test_bad_files(void **state)
{
	(void)state;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char text[1024], msg[512];
	uint8_t raw[KEYS_WRAPPED_LEN + 1];
	static uint8_t big[KIT_MAX_BYTES + 1];

	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
	/* Empty, binary, oversized. */
	snprintf(msg, sizeof(msg), "no \"Wrapped key\" line: %s", fix);
	parse_bad("", 0, ERR_INVALID, msg);
	snprintf(msg, sizeof(msg), "binary data, not a kit or a wrapped key: %s", fix);
	parse_bad("\x7f" "ELF\0\1", 6, ERR_INVALID, msg);
	memset(big, 'a', sizeof(big));
	snprintf(msg, sizeof(msg), "65537 bytes, more than a kit's 65536: %s", fix);
	parse_bad(big, sizeof(big), ERR_TOO_LARGE, msg);
	/* The first passphrase's recovery kit. */
	snprintf(msg, sizeof(msg), "the recovery kit of the machine's own passphrase, which holds no "
		 "wrapped key: leave --wrapped-key out to use that passphrase, or %s", fix);
	parse_bad("arca recovery kit\n\nPassphrase:   abc\n", 37, ERR_INVALID, msg);
	/* Raw keys: truncated, oversized, wrong magic, newer version. */
	snprintf(msg, sizeof(msg), "a raw wrapped key of 143 bytes, not 144: the file was cut short "
		 "or had bytes added; use another copy, or %s", fix);
	parse_bad(blob, sizeof(blob) - 1, ERR_CORRUPT, msg);
	memcpy(raw, blob, sizeof(blob));
	raw[sizeof(blob)] = '\n';
	snprintf(msg, sizeof(msg), "a raw wrapped key of 145 bytes, not 144: the file was cut short "
		 "or had bytes added; use another copy, or %s", fix);
	parse_bad(raw, sizeof(raw), ERR_CORRUPT, msg);
	memcpy(raw, blob, sizeof(blob));
	raw[100] ^= 1;
	parse_bad(raw, sizeof(blob), ERR_CORRUPT, "the wrapped key: wrapped key is damaged (checksum "
		  "mismatch); use another copy of the key or the recovery kit");
	/* Two key lines. */
	snprintf(text, sizeof(text), "Wrapped key: %s\nWrapped key: %s\n", b64, b64);
	parse_bad(text, strlen(text), ERR_INVALID, "two \"Wrapped key\" lines (1 and 2): keep the "
		  "one the kit was written with and retry");
	/* Bad base64, a key cut short, a key too long, a damaged key. */
	snprintf(text, sizeof(text), "x\nWrapped key (opens): %.20s!%s\n", b64, b64 + 21);
	parse_bad(text, strlen(text), ERR_CORRUPT, "the wrapped key on line 2 is not valid base64 "
		  "(damaged or mistyped): compare it with the kit as written");
	snprintf(text, sizeof(text), "Wrapped key: %.40s\n", b64);
	parse_bad(text, strlen(text), ERR_CORRUPT, "the wrapped key on line 1 is 30 bytes, not 144: "
		  "part of it is missing; compare it with the kit as written");
	snprintf(text, sizeof(text), "Wrapped key: %s%s\n", b64, b64);
	parse_bad(text, strlen(text), ERR_CORRUPT, "the wrapped key on line 1 is longer than 144 "
		  "bytes: compare it with the kit as written");
	snprintf(text, sizeof(text), "Wrapped key: %s\n", b64);
	text[13 + 50] = text[13 + 50] == 'A' ? 'B' : 'A';
	parse_bad(text, strlen(text), ERR_CORRUPT, "the wrapped key on line 1: wrapped key is "
		  "damaged (checksum mismatch); use another copy of the key or the recovery kit");
	snprintf(text, sizeof(text), "Wrapped key\n");
	parse_bad(text, strlen(text), ERR_CORRUPT, "the wrapped key on line 1 is 0 bytes, not 144: "
		  "part of it is missing; compare it with the kit as written");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
