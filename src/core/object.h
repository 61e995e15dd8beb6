/*
 * object.h: sealed objects. Every chunk, tree and recovery-point record is
 * stored as one sealed object: compressed when that helps, padded with Padmé
 * so that its stored size says little about its content, then encrypted and
 * authenticated under the machine's object key. The authenticated data binds
 * the object's id, so an object cannot be swapped for another, moved under
 * another id, or relabelled; opening recomputes the id from the plaintext.
 * A failed open never returns bytes.
 */
#ifndef ARCA_OBJECT_H
#define ARCA_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "objid.h"

struct keys;
struct compress_ctx;

enum object_kind {
	OBJECT_DATA = 1, /* a chunk of file content */
	OBJECT_TREE = 2, /* one directory (tree.h) */
	OBJECT_META = 3, /* a recovery point's record */
};

#define OBJECT_VERSION 1
#define OBJECT_MAX_PLAIN (1u << 30) /* 1 GiB */
/* Bytes a sealed object adds beyond its padded body: version, nonce, inner
 * header, tag. */
#define OBJECT_OVERHEAD (1 + 24 + 12 + 16)

/* Seal LEN bytes of PLAIN, of KIND, whose id is ID (objid_compute of PLAIN;
 * not recomputed here), compressing at zstd LEVEL (COMPRESS_LEVEL_NONE for
 * none). Appends the sealed object to OUT. 0, or -1 with E set (ERR_TOO_LARGE
 * past OBJECT_MAX_PLAIN, ERR_INVALID for a bad kind or level). */
int object_seal(const struct keys *k, enum object_kind kind, const struct objid *id,
		const uint8_t *plain, size_t len, int level, struct buf *out, struct err *e);

/* object_seal with a caller's compression context CTX (NULL for a
 * temporary one): the same bytes, less work per small object. */
int object_seal_ctx(struct compress_ctx *ctx, const struct keys *k, enum object_kind kind,
		    const struct objid *id, const uint8_t *plain, size_t len, int level,
		    struct buf *out, struct err *e);

/* Open the sealed object SEALED[0..LEN), expected to be the object ID.
 * Authenticates it, checks its padding and inner header, expands it and
 * checks that the plaintext's id is ID. Appends the plaintext to OUT and sets
 * *KIND. -1 with E set and OUT unchanged on any failure: ERR_CORRUPT for
 * damaged, altered or substituted objects, ERR_UNSUPPORTED for a newer
 * format version. */
int object_open(const struct keys *k, const struct objid *id, const uint8_t *sealed,
		size_t len, enum object_kind *kind, struct buf *out, struct err *e);

/* object_open with a caller's compression context CTX (NULL for a
 * temporary one). */
int object_open_ctx(struct compress_ctx *ctx, const struct keys *k, const struct objid *id,
		    const uint8_t *sealed, size_t len, enum object_kind *kind, struct buf *out,
		    struct err *e);

/* Padmé: the padded length of a payload of L bytes (at most ~12% more;
 * leaves only O(log log L) bits of L visible). */
uint64_t object_padme(uint64_t l);

/* The sealed size of a plaintext whose stored body is BODY bytes. */
size_t object_sealed_size(size_t body);

#endif
