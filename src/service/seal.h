/*
 * seal.h: the service's secrets at rest. The catalog keeps each vault's CA
 * private key sealed with the catalog key, a 32-byte random key in a file
 * of its own (mode 0600, outside the catalog), so that a copy of the
 * catalog alone reveals no CA key. Sealing is XChaCha20-Poly1305 (libsodium)
 * with the vault's id as associated data: a sealed key copied into another
 * vault's row does not open there.
 *
 * The sealed form is text, so it fits the column that held the PEM:
 *
 *   arca-sealed-v1:<base64 of nonce (24 bytes) | ciphertext | tag (16 bytes)>
 *
 * (standard base64 with padding, no line breaks). The key lives in locked
 * memory and is wiped when freed.
 */
#ifndef ARCA_SEAL_H
#define ARCA_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define SEAL_KEY_LEN 32
#define SEAL_PREFIX "arca-sealed-v1:"
/* The longest secret sealed (a PEM key is under 300 bytes). */
#define SEAL_PLAIN_MAX 16384

struct seal_key;

/* Create the key file PATH: SEAL_KEY_LEN random bytes, mode 0600, made with
 * O_EXCL (an existing file is never replaced: ERR_EXISTS), synced with its
 * folder. 0, or -1 with E set. */
int seal_key_create(const char *path, struct err *e);

/* Load the key file PATH. Refuses (ERR_DENIED, saying what to run) a file
 * whose mode lets anyone else read or write it or that belongs to another
 * user; ERR_NOT_FOUND when it is missing, ERR_CORRUPT when it is not
 * SEAL_KEY_LEN bytes. NULL with E set. */
struct seal_key *seal_key_load(const char *path, struct err *e);

/* A key from RAW (tests, fuzzing). NULL with E set. */
struct seal_key *seal_key_from(const uint8_t raw[SEAL_KEY_LEN], struct err *e);

/* Wipe and free K. K may be NULL. */
void seal_key_free(struct seal_key *k);

/* Whether TEXT is in the sealed form (starts with SEAL_PREFIX). */
int seal_is_sealed(const char *text);

/* Seal the NUL-terminated PLAIN for the owner AD (a vault id): the sealed
 * text, NUL-terminated (not counted in len), appended to OUT. 0, or -1
 * with E set (ERR_TOO_LARGE over SEAL_PLAIN_MAX). */
int seal_text(const struct seal_key *k, const char *ad, const char *plain, struct buf *out,
	      struct err *e);

/* Open the sealed TEXT of owner AD: the secret, NUL-terminated, in memory
 * the caller wipes and frees (seal_plain_free). NULL with E set:
 * ERR_INVALID when TEXT is not in the sealed form, ERR_CORRUPT when it does
 * not open with K for AD (another key, another owner's row, or damaged). */
char *seal_open(const struct seal_key *k, const char *ad, const char *text, struct err *e);

/* Wipe and free a secret from seal_open. P may be NULL. */
void seal_plain_free(char *p);

/* A key of LEN bytes (16 to 64) for PURPOSE (a fixed name, as "portal
 * csrf") derived from K: BLAKE2b keyed with K over "arca-derive-v1\n" and
 * PURPOSE. Every service that shares the catalog key file derives the same
 * key, and a derived key reveals neither K nor another purpose's key. 0, or
 * -1 with E set. */
int seal_derive(const struct seal_key *k, const char *purpose, uint8_t *out, size_t len,
		struct err *e);

#endif
