/* seal.c: sealed secrets and the catalog key file; see seal.h. */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secfile.h"

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PREFIX_LEN (sizeof(SEAL_PREFIX) - 1)

struct seal_key {
	uint8_t k[SEAL_KEY_LEN];
};

static int sync_folder_of(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int seal_key_create(const char *path, struct err *e)
{
	uint8_t k[SEAL_KEY_LEN];
	int fd, rc = -1;
	ssize_t w;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		if (errno == EEXIST)
			return err_set(e, ERR_EXISTS, "the catalog key %s exists already; it is "
				       "never replaced (the CA keys sealed with it would be lost)",
				       path);
		return err_errno(e, "cannot create the catalog key %s", path);
	}
	randombytes_buf(k, sizeof(k));
	do
		w = write(fd, k, sizeof(k));
	while (w < 0 && errno == EINTR);
	sodium_memzero(k, sizeof(k));
	if (w != (ssize_t)sizeof(k) || fchmod(fd, 0600) != 0 || fsync(fd) != 0)
		err_errno(e, "cannot write the catalog key %s", path);
	else
		rc = 0;
	if (close(fd) != 0 && rc == 0)
		rc = err_errno(e, "cannot write the catalog key %s", path);
	if (rc == 0 && sync_folder_of(path) != 0)
		rc = err_errno(e, "cannot sync the folder of the catalog key %s", path);
	if (rc != 0)
		unlink(path);
	return rc;
}

struct seal_key *seal_key_from(const uint8_t raw[SEAL_KEY_LEN], struct err *e)
{
	struct seal_key *k = sodium_malloc(sizeof(*k));

	if (k == NULL) {
		err_oom(e);
		return NULL;
	}
	memcpy(k->k, raw, SEAL_KEY_LEN);
	return k;
}

struct seal_key *seal_key_load(const char *path, struct err *e)
{
	struct seal_key *k = NULL;
	struct stat st;
	uint8_t raw[SEAL_KEY_LEN + 1];
	ssize_t r;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			err_set(e, ERR_NOT_FOUND, "the catalog key %s is missing: the CA keys in the "
				"catalog are sealed with it; put back the copy you kept of it (a new "
				"key would not open them)", path);
		else if (errno == ELOOP)
			err_set(e, ERR_DENIED, "the catalog key %s is a symbolic link; replace it "
				"with the file it points to", path);
		else
			err_errno(e, "cannot read the catalog key %s", path);
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		err_errno(e, "cannot examine the catalog key %s", path);
		goto out;
	}
	if (secfile_check_stat(&st, path, e) != 0)
		goto out;
	while (got < sizeof(raw)) {
		r = read(fd, raw + got, sizeof(raw) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_errno(e, "cannot read the catalog key %s", path);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got != SEAL_KEY_LEN)
		err_set(e, ERR_CORRUPT, "the catalog key %s is damaged: it holds %s%zu bytes, not "
			"%d; put back the copy you kept of it", path,
			got > SEAL_KEY_LEN ? "over " : "", got > SEAL_KEY_LEN ? (size_t)SEAL_KEY_LEN : got,
			SEAL_KEY_LEN);
	else
		k = seal_key_from(raw, e);
out:
	sodium_memzero(raw, sizeof(raw));
	close(fd);
	return k;
}

void seal_key_free(struct seal_key *k)
{
	if (k)
		sodium_free(k); /* sodium_free wipes first */
}

int seal_is_sealed(const char *text)
{
	return strncmp(text, SEAL_PREFIX, PREFIX_LEN) == 0;
}

int seal_text(const struct seal_key *k, const char *ad, const char *plain, struct buf *out,
	      struct err *e)
{
	size_t plen = strlen(plain), blen = NONCE_LEN + plen + TAG_LEN;
	size_t b64len = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_ORIGINAL);
	uint8_t *bin;
	char *p;
	int rc = -1;

	if (plen > SEAL_PLAIN_MAX)
		return err_set(e, ERR_TOO_LARGE, "a secret of %zu bytes is over %d to seal", plen,
			       SEAL_PLAIN_MAX);
	if ((bin = malloc(blen)) == NULL)
		return err_oom(e);
	randombytes_buf(bin, NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(bin + NONCE_LEN, NULL, (const uint8_t *)plain,
						   plen, (const uint8_t *)ad, strlen(ad), NULL,
						   bin, k->k);
	if (buf_reserve(out, PREFIX_LEN + b64len, e) == 0) {
		memcpy(out->data + out->len, SEAL_PREFIX, PREFIX_LEN);
		p = (char *)out->data + out->len + PREFIX_LEN;
		sodium_bin2base64(p, b64len, bin, blen, sodium_base64_VARIANT_ORIGINAL);
		out->len += PREFIX_LEN + b64len - 1; /* the NUL is there, not counted */
		rc = 0;
	}
	free(bin);
	return rc;
}

char *seal_open(const struct seal_key *k, const char *ad, const char *text, struct err *e)
{
	const char *b64;
	size_t tlen, binmax, blen = 0;
	uint8_t *bin = NULL;
	char *plain = NULL;
	unsigned long long plen;

	if (!seal_is_sealed(text)) {
		err_set(e, ERR_INVALID, "not a sealed secret (it does not start with \"%s\")",
			SEAL_PREFIX);
		return NULL;
	}
	b64 = text + PREFIX_LEN;
	tlen = strlen(b64);
	/* Bound the length before decoding: base64 of at most the largest
	 * sealed secret. */
	if (tlen > sodium_base64_encoded_len(NONCE_LEN + SEAL_PLAIN_MAX + TAG_LEN,
					     sodium_base64_VARIANT_ORIGINAL)) {
		err_set(e, ERR_INVALID, "a sealed secret of %zu characters is too long", tlen);
		return NULL;
	}
	binmax = tlen / 4 * 3 + 3;
	if ((bin = malloc(binmax)) == NULL) {
		err_oom(e);
		return NULL;
	}
	if (sodium_base642bin(bin, binmax, b64, tlen, NULL, &blen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		err_set(e, ERR_INVALID, "a sealed secret is not valid base64 after \"%s\"",
			SEAL_PREFIX);
		goto out;
	}
	if (blen < NONCE_LEN + TAG_LEN) {
		err_set(e, ERR_INVALID, "a sealed secret of %zu bytes is too short", blen);
		goto out;
	}
	if ((plain = sodium_malloc(blen - NONCE_LEN - TAG_LEN + 1)) == NULL) {
		err_oom(e);
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)plain, &plen, NULL,
						       bin + NONCE_LEN, blen - NONCE_LEN,
						       (const uint8_t *)ad, strlen(ad), bin,
						       k->k) != 0) {
		sodium_free(plain);
		plain = NULL;
		err_set(e, ERR_CORRUPT, "a sealed secret does not open with the catalog key: the "
			"key file is not the one it was sealed with, or the secret was moved from "
			"another row, or it is damaged");
		goto out;
	}
	plain[plen] = '\0';
	if (strlen(plain) != plen) {
		sodium_free(plain);
		plain = NULL;
		err_set(e, ERR_CORRUPT, "a sealed secret holds a NUL byte");
	}
out:
	free(bin);
	return plain;
}

void seal_plain_free(char *p)
{
	if (p)
		sodium_free(p);
}

int seal_derive(const struct seal_key *k, const char *purpose, uint8_t *out, size_t len,
		struct err *e)
{
	static const char label[] = "arca-derive-v1\n";
	crypto_generichash_state st;

	if (len < crypto_generichash_BYTES_MIN || len > crypto_generichash_BYTES_MAX)
		return err_set(e, ERR_INVALID, "a derived key has %d to %d bytes, not %zu",
			       crypto_generichash_BYTES_MIN, crypto_generichash_BYTES_MAX, len);
	if (crypto_generichash_init(&st, k->k, sizeof(k->k), len) != 0 ||
	    crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1) != 0 ||
	    crypto_generichash_update(&st, (const uint8_t *)purpose, strlen(purpose)) != 0 ||
	    crypto_generichash_final(&st, out, len) != 0) {
		sodium_memzero(&st, sizeof(st));
		return err_set(e, ERR_CRYPTO, "deriving a key failed");
	}
	sodium_memzero(&st, sizeof(st));
	return 0;
}
