/*
 * keys.h: a machine's keys. Each machine has one random 256-bit master key;
 * everything else is derived from it (object encryption, object ids, the
 * chunker's secret), so the master key is the only secret to keep.
 *
 * The master key is stored only wrapped: encrypted under a key-encryption key
 * that Argon2id derives from a passphrase. A wrapped key is a small blob that
 * the service may keep but cannot open. Several blobs may wrap the same
 * master key under different passphrases (a second, offline passphrase);
 * changing a passphrase makes a new blob and leaves every object untouched.
 *
 * struct keys lives in locked memory (sodium_malloc) and is wiped on free.
 */
#ifndef ARCA_KEYS_H
#define ARCA_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define KEY_LEN 32
#define KEY_ID_LEN 16

struct keys {
	uint8_t master[KEY_LEN];
	uint8_t object[KEY_LEN];  /* AEAD key for sealed objects */
	uint8_t id[KEY_LEN];      /* key of the object-id hash */
	uint8_t chunker[KEY_LEN]; /* seed of the chunker's gear table */
	uint8_t key_id[KEY_ID_LEN]; /* public fingerprint of the master key */
};

/* Argon2id cost. opslimit is passes, memlimit is bytes. */
struct kdf_params {
	uint64_t opslimit;
	uint64_t memlimit;
};

/* 3 passes over 64 MiB: the default for new wrapped keys. */
#define KDF_OPSLIMIT_DEFAULT 3
#define KDF_MEMLIMIT_DEFAULT (64ull << 20)

/* Bounds a wrapped key's parameters must satisfy to be opened, so that a
 * damaged blob cannot make us allocate without limit. */
#define KDF_OPSLIMIT_MAX 64
#define KDF_MEMLIMIT_MAX (4ull << 30)

/* Size of a wrapped-key blob in bytes; see docs/FORMAT.md. */
#define KEYS_WRAPPED_LEN 144

/* A new random master key and its subkeys. NULL with E set on failure. */
struct keys *keys_generate(struct err *e);

/* Keys for a given master key (derives the subkeys). NULL with E set. */
struct keys *keys_from_master(const uint8_t master[KEY_LEN], struct err *e);

/* Wipe and release K. K may be NULL. */
void keys_free(struct keys *k);

/* Wrap K's master key under PASSPHRASE with Argon2id cost P (NULL for the
 * default) and a fresh random salt; append the blob to OUT. The passphrase
 * is not checked against the passphrase rules here (see passphrase.h).
 * 0, or -1 with E set (ERR_INVALID for parameters out of bounds). */
int keys_wrap(const struct keys *k, const char *passphrase,
	      const struct kdf_params *p, struct buf *out, struct err *e);

/* Open a wrapped-key blob with PASSPHRASE. Returns new keys, or NULL with E
 * set: ERR_CORRUPT when the blob is damaged (bad length, magic, version,
 * parameters or checksum), ERR_UNSUPPORTED for an unknown version,
 * ERR_PASSPHRASE when the blob is intact but the passphrase does not open it. */
struct keys *keys_unwrap(const uint8_t *blob, size_t len, const char *passphrase,
			 struct err *e);

/*
 * The registration verifier: an Ed25519 key pair derived from the master key
 * (subkey 5), whose public half the service keeps from a machine's first
 * registration. Registering again under that machine's name must carry a
 * proof, a signature by the secret half over the registration message, so
 * only someone who holds the master key (the passphrase opened it) can take a
 * machine over; the public key id and the wrapped blob are not enough.
 */
#define KEYS_VERIFIER_LEN 32
#define KEYS_PROOF_LEN 64

/* The verifier's public key of K into PUB. */
void keys_verifier(const struct keys *k, uint8_t pub[KEYS_VERIFIER_LEN]);

/* Sign MSG (LEN bytes) with the verifier's secret key of K into SIG. */
void keys_prove(const struct keys *k, const void *msg, size_t len, uint8_t sig[KEYS_PROOF_LEN]);

/* Whether SIG is a proof over MSG under the verifier PUB: 0, or -1 with E
 * set (ERR_DENIED). Needs no key: the service calls it. */
int keys_proof_check(const uint8_t pub[KEYS_VERIFIER_LEN], const void *msg, size_t len,
		     const uint8_t sig[KEYS_PROOF_LEN], struct err *e);

/* Read the master-key fingerprint from a blob without opening it, so that
 * blobs wrapping the same master key can be matched. 0 or -1 (ERR_CORRUPT). */
int keys_wrapped_key_id(const uint8_t *blob, size_t len, uint8_t key_id[KEY_ID_LEN],
			struct err *e);

#endif
