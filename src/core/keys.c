/*
 * keys.c: master key, subkeys and the wrapped-key blob; see keys.h.
 *
 * Subkeys come from libsodium's crypto_kdf (BLAKE2b keyed with the master
 * key, a subkey number and the context "arcakeys"), so knowing one subkey
 * tells nothing of the others or of the master key.
 *
 * The wrapped blob (docs/FORMAT.md, "Wrapped master key") ends with an
 * unkeyed checksum over everything before it. Why: it lets us tell a damaged
 * blob (ERR_CORRUPT) from a wrong passphrase (ERR_PASSPHRASE) before paying
 * for Argon2id, and it is no weaker: the AEAD still authenticates the header
 * and the key under the passphrase.
 */
#include "keys.h"

#include <string.h>

#include <sodium.h>

#include "bytes.h"

static const uint8_t wrap_magic[8] = { 'A', 'R', 'C', 'A', 'W', 'K', 'E', 'Y' };

enum {
	WRAP_VERSION = 1,
	WRAP_KDF_ARGON2ID13 = 1,
	OFF_VERSION = 8,
	OFF_KDF = 9,
	OFF_RESERVED = 10,
	OFF_OPS = 12,
	OFF_MEM = 16,
	OFF_KEY_ID = 24,
	OFF_SALT = 40,
	OFF_NONCE = 56,
	OFF_CT = 80,
	OFF_SUM = 128,
	SALT_LEN = 16,
	NONCE_LEN = 24,
	SUM_LEN = 16,
};

_Static_assert(OFF_CT + KEY_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES == OFF_SUM,
	       "wrapped key layout");
_Static_assert(OFF_SUM + SUM_LEN == KEYS_WRAPPED_LEN, "wrapped key length");
_Static_assert(SALT_LEN == crypto_pwhash_SALTBYTES, "argon2 salt length");
_Static_assert(NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");

enum { SUBKEY_OBJECT = 1, SUBKEY_ID = 2, SUBKEY_CHUNKER = 3, SUBKEY_KEY_ID = 4, SUBKEY_VERIFIER = 5 };
static const char kdf_context[crypto_kdf_CONTEXTBYTES] = { 'a', 'r', 'c', 'a', 'k', 'e', 'y', 's' };

static int init_sodium(struct err *e)
{
	if (sodium_init() < 0)
		return err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
	return 0;
}

struct keys *keys_from_master(const uint8_t master[KEY_LEN], struct err *e)
{
	struct keys *k;

	if (init_sodium(e) != 0)
		return NULL;
	if ((k = sodium_malloc(sizeof(*k))) == NULL) {
		err_oom(e);
		return NULL;
	}
	memcpy(k->master, master, KEY_LEN);
	crypto_kdf_derive_from_key(k->object, KEY_LEN, SUBKEY_OBJECT, kdf_context, k->master);
	crypto_kdf_derive_from_key(k->id, KEY_LEN, SUBKEY_ID, kdf_context, k->master);
	crypto_kdf_derive_from_key(k->chunker, KEY_LEN, SUBKEY_CHUNKER, kdf_context, k->master);
	crypto_kdf_derive_from_key(k->key_id, KEY_ID_LEN, SUBKEY_KEY_ID, kdf_context, k->master);
	return k;
}

struct keys *keys_generate(struct err *e)
{
	uint8_t master[KEY_LEN];
	struct keys *k;

	if (init_sodium(e) != 0)
		return NULL;
	randombytes_buf(master, sizeof(master));
	k = keys_from_master(master, e);
	sodium_memzero(master, sizeof(master));
	return k;
}

void keys_free(struct keys *k)
{
	if (k != NULL)
		sodium_free(k); /* wipes, then unlocks and frees */
}

static int check_params(uint64_t ops, uint64_t mem, struct err *e)
{
	if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops > KDF_OPSLIMIT_MAX)
		return err_set(e, ERR_INVALID,
			       "Argon2id passes %llu out of range (%llu to %llu)",
			       (unsigned long long)ops,
			       (unsigned long long)crypto_pwhash_argon2id_OPSLIMIT_MIN,
			       (unsigned long long)KDF_OPSLIMIT_MAX);
	if (mem < crypto_pwhash_argon2id_MEMLIMIT_MIN || mem > KDF_MEMLIMIT_MAX)
		return err_set(e, ERR_INVALID,
			       "Argon2id memory %llu bytes out of range (%llu to %llu)",
			       (unsigned long long)mem,
			       (unsigned long long)crypto_pwhash_argon2id_MEMLIMIT_MIN,
			       (unsigned long long)KDF_MEMLIMIT_MAX);
	return 0;
}

/* Derive the key-encryption key. KEK must be locked memory of KEY_LEN. */
static int derive_kek(uint8_t *kek, const char *passphrase, const uint8_t *salt,
		      uint64_t ops, uint64_t mem, struct err *e)
{
	if (crypto_pwhash(kek, KEY_LEN, passphrase, strlen(passphrase), salt,
			  (unsigned long long)ops, (size_t)mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, ERR_NOMEM,
			       "Argon2id could not allocate %llu MiB for the passphrase key",
			       (unsigned long long)(mem >> 20));
	return 0;
}

int keys_wrap(const struct keys *k, const char *passphrase, const struct kdf_params *p,
	      struct buf *out, struct err *e)
{
	struct kdf_params def = { KDF_OPSLIMIT_DEFAULT, KDF_MEMLIMIT_DEFAULT };
	uint8_t blob[KEYS_WRAPPED_LEN];
	uint8_t *kek = NULL;
	int rc = -1;

	if (p == NULL)
		p = &def;
	if (init_sodium(e) != 0 || check_params(p->opslimit, p->memlimit, e) != 0)
		return -1;
	if (p->opslimit > UINT32_MAX)
		return err_set(e, ERR_INVALID, "Argon2id passes do not fit the format");
	if ((kek = sodium_malloc(KEY_LEN)) == NULL)
		return err_oom(e);

	memset(blob, 0, sizeof(blob));
	memcpy(blob, wrap_magic, sizeof(wrap_magic));
	blob[OFF_VERSION] = WRAP_VERSION;
	blob[OFF_KDF] = WRAP_KDF_ARGON2ID13;
	le32_put(blob + OFF_OPS, (uint32_t)p->opslimit);
	le64_put(blob + OFF_MEM, p->memlimit);
	memcpy(blob + OFF_KEY_ID, k->key_id, KEY_ID_LEN);
	randombytes_buf(blob + OFF_SALT, SALT_LEN);
	randombytes_buf(blob + OFF_NONCE, NONCE_LEN);

	if (derive_kek(kek, passphrase, blob + OFF_SALT, p->opslimit, p->memlimit, e) != 0)
		goto out;
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + OFF_CT, NULL, k->master, KEY_LEN,
						   blob, OFF_CT, NULL, blob + OFF_NONCE, kek);
	crypto_generichash(blob + OFF_SUM, SUM_LEN, blob, OFF_SUM, NULL, 0);
	if (buf_append(out, blob, sizeof(blob), e) != 0)
		goto out;
	rc = 0;
out:
	sodium_free(kek);
	return rc;
}

/* Check everything of a blob that does not need the passphrase. */
static int check_blob(const uint8_t *blob, size_t len, struct err *e)
{
	uint8_t sum[SUM_LEN];

	if (len != KEYS_WRAPPED_LEN)
		return err_set(e, ERR_CORRUPT,
			       "wrapped key is %zu bytes, expected %d: the key file is damaged",
			       len, KEYS_WRAPPED_LEN);
	if (memcmp(blob, wrap_magic, sizeof(wrap_magic)) != 0)
		return err_set(e, ERR_CORRUPT, "not a wrapped arca key (bad magic)");
	crypto_generichash(sum, SUM_LEN, blob, OFF_SUM, NULL, 0);
	if (sodium_memcmp(sum, blob + OFF_SUM, SUM_LEN) != 0)
		return err_set(e, ERR_CORRUPT,
			       "wrapped key is damaged (checksum mismatch); use another copy "
			       "of the key or the recovery kit");
	if (blob[OFF_VERSION] != WRAP_VERSION)
		return err_set(e, ERR_UNSUPPORTED,
			       "wrapped key format version %u is not supported (this build "
			       "reads version %d); update arca", blob[OFF_VERSION], WRAP_VERSION);
	if (blob[OFF_KDF] != WRAP_KDF_ARGON2ID13)
		return err_set(e, ERR_UNSUPPORTED, "wrapped key uses unknown KDF %u",
			       blob[OFF_KDF]);
	if (blob[OFF_RESERVED] != 0 || blob[OFF_RESERVED + 1] != 0)
		return err_set(e, ERR_CORRUPT, "wrapped key has non-zero reserved bytes");
	if (check_params(le32_get(blob + OFF_OPS), le64_get(blob + OFF_MEM), e) != 0) {
		e->code = ERR_CORRUPT;
		return err_prefix(e, "wrapped key is damaged: ");
	}
	return 0;
}

int keys_wrapped_key_id(const uint8_t *blob, size_t len, uint8_t key_id[KEY_ID_LEN],
			struct err *e)
{
	if (init_sodium(e) != 0 || check_blob(blob, len, e) != 0)
		return -1;
	memcpy(key_id, blob + OFF_KEY_ID, KEY_ID_LEN);
	return 0;
}

struct keys *keys_unwrap(const uint8_t *blob, size_t len, const char *passphrase,
			 struct err *e)
{
	uint8_t *kek = NULL, *master = NULL;
	struct keys *k = NULL;

	if (init_sodium(e) != 0 || check_blob(blob, len, e) != 0)
		return NULL;
	if ((kek = sodium_malloc(KEY_LEN)) == NULL || (master = sodium_malloc(KEY_LEN)) == NULL) {
		err_oom(e);
		goto out;
	}
	if (derive_kek(kek, passphrase, blob + OFF_SALT, le32_get(blob + OFF_OPS),
		       le64_get(blob + OFF_MEM), e) != 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(master, NULL, NULL, blob + OFF_CT,
						       OFF_SUM - OFF_CT, blob, OFF_CT,
						       blob + OFF_NONCE, kek) != 0) {
		err_set(e, ERR_PASSPHRASE,
			"the passphrase does not open this machine's key; check it against "
			"the recovery kit (passphrases are case-sensitive)");
		goto out;
	}
	if ((k = keys_from_master(master, e)) == NULL)
		goto out;
	if (sodium_memcmp(k->key_id, blob + OFF_KEY_ID, KEY_ID_LEN) != 0) {
		/* Only a blob forged by someone who knew the passphrase gets here. */
		err_set(e, ERR_CORRUPT, "wrapped key's fingerprint does not match its key");
		keys_free(k);
		k = NULL;
	}
out:
	sodium_free(master);
	sodium_free(kek);
	return k;
}

/* The verifier's key pair of K; the caller wipes SK. */
static void verifier_pair(const struct keys *k, uint8_t pk[crypto_sign_PUBLICKEYBYTES],
			  uint8_t sk[crypto_sign_SECRETKEYBYTES])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	crypto_kdf_derive_from_key(seed, sizeof(seed), SUBKEY_VERIFIER, kdf_context, k->master);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

_Static_assert(KEYS_VERIFIER_LEN == crypto_sign_PUBLICKEYBYTES, "verifier length");
_Static_assert(KEYS_PROOF_LEN == crypto_sign_BYTES, "proof length");

void keys_verifier(const struct keys *k, uint8_t pub[KEYS_VERIFIER_LEN])
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES];

	verifier_pair(k, pub, sk);
	sodium_memzero(sk, sizeof(sk));
}

void keys_prove(const struct keys *k, const void *msg, size_t len, uint8_t sig[KEYS_PROOF_LEN])
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

	verifier_pair(k, pk, sk);
	crypto_sign_detached(sig, NULL, msg, len, sk);
	sodium_memzero(sk, sizeof(sk));
}

int keys_proof_check(const uint8_t pub[KEYS_VERIFIER_LEN], const void *msg, size_t len,
		     const uint8_t sig[KEYS_PROOF_LEN], struct err *e)
{
	if (init_sodium(e) != 0)
		return -1;
	if (crypto_sign_verify_detached(sig, msg, len, pub) != 0)
		return err_set(e, ERR_DENIED, "the proof does not verify with the machine's "
			       "registration verifier");
	return 0;
}
