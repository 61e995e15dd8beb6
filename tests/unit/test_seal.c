/*
 * test_seal.c: sealed secrets and the catalog key file (seal.h): a round
 * trip, a wrong key, a sealed key moved to another vault's row, damaged and
 * malformed text, and the key file's creation (0600, never replaced) and
 * the refusals when loading it (mode, owner, size, missing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "seal.h"

static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEH\n"
			   "-----END PRIVATE KEY-----\n";
static const char vault_a[] = "0123456789abcdef0123456789abcdef";
static const char vault_b[] = "fedcba9876543210fedcba9876543210";

static struct seal_key *key_of(uint8_t fill)
{
	uint8_t raw[SEAL_KEY_LEN];
	struct seal_key *k;

	memset(raw, fill, sizeof(raw));
	k = seal_key_from(raw, NULL);
	assert_non_null(k);
	return k;
}

static void test_round_trip(void **state)
{
	struct seal_key *k = key_of(1);
	struct buf a = BUF_INIT, b = BUF_INIT;
	char *plain;
	struct err e;

	(void)state;
	assert_int_equal(seal_text(k, vault_a, pem, &a, &e), 0);
	assert_true(seal_is_sealed((const char *)a.data));
	assert_int_equal(strlen((const char *)a.data), a.len);
	assert_null(strchr((const char *)a.data, '\n'));
	assert_null(strstr((const char *)a.data, "PRIVATE"));
	plain = seal_open(k, vault_a, (const char *)a.data, &e);
	assert_non_null(plain);
	assert_string_equal(plain, pem);
	seal_plain_free(plain);
	/* A fresh nonce each time: the same secret seals to other text. */
	assert_int_equal(seal_text(k, vault_a, pem, &b, &e), 0);
	assert_string_not_equal((const char *)a.data, (const char *)b.data);
	/* The empty secret is a secret too. */
	buf_free(&b);
	assert_int_equal(seal_text(k, vault_a, "", &b, &e), 0);
	plain = seal_open(k, vault_a, (const char *)b.data, &e);
	assert_non_null(plain);
	assert_string_equal(plain, "");
	seal_plain_free(plain);
	buf_free(&a);
	buf_free(&b);
	seal_key_free(k);
	seal_key_free(NULL);
	seal_plain_free(NULL);
}

static void test_wrong_key_and_moved_row(void **state)
{
	struct seal_key *k = key_of(1), *other = key_of(2);
	struct buf a = BUF_INIT;
	struct err e;

	(void)state;
	assert_int_equal(seal_text(k, vault_a, pem, &a, &e), 0);
	assert_null(seal_open(other, vault_a, (const char *)a.data, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "catalog key"));
	/* Vault a's sealed key copied into vault b's row does not open there. */
	assert_null(seal_open(k, vault_b, (const char *)a.data, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "another row"));
	buf_free(&a);
	seal_key_free(k);
	seal_key_free(other);
}

static void test_bad_text(void **state)
{
	struct seal_key *k = key_of(1);
	struct buf a = BUF_INIT;
	char *t;
	struct err e;
	static const char *const bad[] = {
		"", pem, "arca-sealed-v1:", "arca-sealed-v1:!!!!", "arca-sealed-v1:AAAA",
		"arca-sealed-v2:AAAA", "arca-sealed-v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"arca-sealed-v1:QUJD\nREVG",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_null(seal_open(k, vault_a, bad[i], &e));
		assert_true(e.code == ERR_INVALID || e.code == ERR_CORRUPT);
		assert_true(e.msg[0] != '\0');
	}
	assert_null(seal_open(k, vault_a, pem, &e));
	assert_int_equal(e.code, ERR_INVALID);
	assert_false(seal_is_sealed(pem));
	/* Any flipped character of a sealed text is refused. */
	assert_int_equal(seal_text(k, vault_a, pem, &a, &e), 0);
	t = strdup((const char *)a.data);
	for (size_t i = 0; i < a.len; i++) {
		char *p;

		t[i] = t[i] == 'A' ? 'B' : 'A';
		p = seal_open(k, vault_a, t, &e);
		if (p != NULL) {
			/* Only a change base64 ignores may open: padding bits. */
			assert_string_equal(p, pem);
			seal_plain_free(p);
		}
		t[i] = (char)a.data[i];
	}
	free(t);
	/* Over the bound, refused before decoding. */
	{
		size_t n = 4 * SEAL_PLAIN_MAX;
		char *big = malloc(n + 32);

		assert_non_null(big);
		strcpy(big, SEAL_PREFIX);
		memset(big + strlen(SEAL_PREFIX), 'A', n);
		big[strlen(SEAL_PREFIX) + n] = 0;
		assert_null(seal_open(k, vault_a, big, &e));
		assert_int_equal(e.code, ERR_INVALID);
		assert_int_equal(seal_text(k, vault_a, big, &a, &e), -1);
		assert_int_equal(e.code, ERR_TOO_LARGE);
		free(big);
	}
	buf_free(&a);
	seal_key_free(k);
}

static void test_key_file(void **state)
{
	char dir[] = "/tmp/arca-seal-XXXXXX", path[64], cmd[96];
	struct seal_key *k, *again;
	struct buf a = BUF_INIT;
	struct stat st;
	struct err e;
	char *p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/catalog.key", dir);
	/* Missing: a clear refusal, never a new key. */
	assert_null(seal_key_load(path, &e));
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_non_null(strstr(e.msg, path));
	assert_int_not_equal(access(path, F_OK), 0);
	/* Made 0600, SEAL_KEY_LEN bytes; never replaced. */
	assert_int_equal(seal_key_create(path, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SEAL_KEY_LEN);
	assert_int_equal(seal_key_create(path, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	k = seal_key_load(path, &e);
	assert_non_null(k);
	assert_int_equal(seal_text(k, vault_a, pem, &a, &e), 0);
	again = seal_key_load(path, &e);
	assert_non_null(again);
	p = seal_open(again, vault_a, (const char *)a.data, &e);
	assert_non_null(p);
	seal_plain_free(p);
	seal_key_free(again);
	/* Readable by others: refused, saying what to run. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(seal_key_load(path, &e));
	assert_int_equal(e.code, ERR_DENIED);
	snprintf(cmd, sizeof(cmd), "chmod 600 %s", path);
	assert_non_null(strstr(e.msg, cmd));
	assert_int_equal(chmod(path, 0620), 0);
	assert_null(seal_key_load(path, &e));
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(chmod(path, 0600), 0);
	/* Another owner (as root, the test can make one). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_null(seal_key_load(path, &e));
		assert_int_equal(e.code, ERR_DENIED);
		assert_non_null(strstr(e.msg, "belongs to user 65534"));
		assert_int_equal(chown(path, 0, 0), 0);
	}
	/* A key file of the wrong size is damaged. */
	assert_non_null(f = fopen(path, "ab"));
	fputc('x', f);
	fclose(f);
	assert_null(seal_key_load(path, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(truncate(path, 5), 0);
	assert_null(seal_key_load(path, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "5 bytes"));
	/* A symbolic link is refused. */
	{
		char link[80];

		snprintf(link, sizeof(link), "%s/link.key", dir);
		assert_int_equal(symlink(path, link), 0);
		assert_null(seal_key_load(link, &e));
		assert_int_equal(e.code, ERR_DENIED);
		unlink(link);
	}
	unlink(path);
	rmdir(dir);
	buf_free(&a);
	seal_key_free(k);
}

/* Derived keys: the same for the same key and purpose (two services of
 * one catalog), different for another purpose or key, and never the key
 * itself. */
static void test_derive(void **state)
{
	(void)state;
	struct seal_key *k = key_of(1), *k2 = key_of(1), *other = key_of(2);
	uint8_t a[32], b[32], c[32], d[32], raw[SEAL_KEY_LEN];
	struct err e;

	assert_int_equal(seal_derive(k, "portal csrf", a, sizeof(a), &e), 0);
	assert_int_equal(seal_derive(k2, "portal csrf", b, sizeof(b), &e), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(seal_derive(k, "portal csrg", c, sizeof(c), &e), 0);
	assert_memory_not_equal(a, c, sizeof(a));
	assert_int_equal(seal_derive(other, "portal csrf", d, sizeof(d), &e), 0);
	assert_memory_not_equal(a, d, sizeof(a));
	memset(raw, 1, sizeof(raw));
	assert_memory_not_equal(a, raw, sizeof(a));
	assert_int_equal(seal_derive(k, "portal csrf", a, 15, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(seal_derive(k, "portal csrf", a, 65, &e), -1);
	seal_key_free(k);
	seal_key_free(k2);
	seal_key_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_key_and_moved_row),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_derive),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
