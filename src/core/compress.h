/*
 * compress.h: zstd compression of object payloads. An object is stored
 * compressed only when that makes it smaller; otherwise it is stored raw and
 * the caller records which. Expansion is bounded by the length the caller
 * expects, so a damaged or hostile frame cannot make us allocate more.
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

/* Compress IN at zstd LEVEL (1..19; COMPRESS_LEVEL_NONE to skip) and append
 * the frame to OUT with *COMPRESSED = true, or, when the frame would not be
 * smaller than IN, append nothing and set *COMPRESSED = false.
 * 0, or -1 with E set (ERR_INVALID for a bad level, ERR_NOMEM). */
int compress_try(int level, const uint8_t *in, size_t len, struct buf *out,
		 bool *compressed, struct err *e);

/* Expand the zstd frame IN, which must hold exactly EXPECT bytes, and append
 * them to OUT. 0, or -1 with ERR_CORRUPT (not one valid frame, or content of
 * another length) and OUT as it was. */
int compress_expand(const uint8_t *in, size_t len, size_t expect, struct buf *out,
		    struct err *e);

#endif
