/*
 * compress.h: zstd compression of object payloads. An object is stored
 * compressed only when that makes it smaller; otherwise it is stored raw and
 * the caller records which. Expansion is bounded by the length the caller
 * expects, so a damaged or hostile frame cannot make us allocate more.
 *
 * A struct compress_ctx keeps zstd's compression and decompression contexts
 * between calls. Making them costs about 8 us per call, which is most of the
 * work for small objects (trees, small files); a writer or reader that
 * handles many objects keeps one context per thread. Functions that take a
 * context accept NULL and then use a temporary one.
 */
#ifndef ARCA_COMPRESS_H
#define ARCA_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define COMPRESS_LEVEL_DEFAULT 3
#define COMPRESS_LEVEL_NONE 0 /* never compress */
#define COMPRESS_LEVEL_MAX 19 /* zstd's levels above need far more memory */

struct compress_ctx;

/* A new context, or NULL with E set (ERR_NOMEM). Not for concurrent use. */
struct compress_ctx *compress_ctx_new(struct err *e);

/* Release C. C may be NULL. */
void compress_ctx_free(struct compress_ctx *c);

/* Compress IN at zstd LEVEL (1..COMPRESS_LEVEL_MAX; COMPRESS_LEVEL_NONE to
 * skip) and append
 * the frame to OUT with *COMPRESSED = true, or, when the frame would not be
 * smaller than IN, append nothing and set *COMPRESSED = false. CTX may be
 * NULL. 0, or -1 with E set (ERR_INVALID for a bad level, ERR_NOMEM), OUT
 * unchanged and *COMPRESSED = false. */
int compress_try_ctx(struct compress_ctx *ctx, int level, const uint8_t *in, size_t len,
		     struct buf *out, bool *compressed, struct err *e);

/* compress_try_ctx with a temporary context. */
int compress_try(int level, const uint8_t *in, size_t len, struct buf *out,
		 bool *compressed, struct err *e);

/* Expand the zstd frame IN[0..LEN), which must be exactly one frame that
 * declares a content size of exactly EXPECT bytes, and append those bytes to
 * OUT. Never writes more than EXPECT bytes. CTX may be NULL. 0, or -1 with
 * ERR_CORRUPT (not one frame, no or another declared size, damaged data) or
 * ERR_NOMEM, and OUT's length as it was. */
int compress_expand_ctx(struct compress_ctx *ctx, const uint8_t *in, size_t len,
			size_t expect, struct buf *out, struct err *e);

/* compress_expand_ctx with a temporary context. */
int compress_expand(const uint8_t *in, size_t len, size_t expect, struct buf *out,
		    struct err *e);

#endif
