/*
 * compress.c: zstd, see compress.h.
 *
 * Why no incompressibility pre-check: zstd 1.5.4 at level 3 gives up on
 * random 1 MiB chunks at 6,500 MiB/s with a fresh context per call and 7,100
 * MiB/s with a reused one (level 1: 7,600), on one core of the build machine
 * (AMD EPYC, -O2, 64 random 1 MiB buffers per run, median of 5; bench/core
 * agrees at 6,500). That is 20 times the 300 MiB/s the whole pipeline
 * needs, and faster than the encryption after it, so trying costs little;
 * a sample pre-check would save at most a few percent of a seal while
 * risking missed savings on mixed content.
 *
 * Why contexts: a fresh zstd context costs about 8 us to compress and 7.5 us
 * to decompress, whatever the input size. For 256-byte to 4 KiB objects that
 * is 3 to 13 times the work itself (measured: 4 KiB random, 10.0 us fresh
 * against 2.3 us reused), so writers keep one context.
 */
#include "compress.h"

#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

struct compress_ctx {
	ZSTD_CCtx *cc; /* made on first use: a reader never needs one */
	ZSTD_DCtx *dc;
};

struct compress_ctx *compress_ctx_new(struct err *e)
{
	struct compress_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		err_oom(e);
	return c;
}

void compress_ctx_free(struct compress_ctx *c)
{
	if (c == NULL)
		return;
	ZSTD_freeCCtx(c->cc);
	ZSTD_freeDCtx(c->dc);
	free(c);
}

int compress_try_ctx(struct compress_ctx *ctx, int level, const uint8_t *in, size_t len,
		     struct buf *out, bool *compressed, struct err *e)
{
	ZSTD_CCtx *cc;
	size_t bound, n;

	*compressed = false;
	if (level == COMPRESS_LEVEL_NONE || len == 0)
		return 0;
	if (level < 1 || level > COMPRESS_LEVEL_MAX)
		return err_set(e, ERR_INVALID,
			       "compression level %d out of range (1 to %d, or 0 for none)",
			       level, COMPRESS_LEVEL_MAX);
	bound = ZSTD_compressBound(len);
	if (ZSTD_isError(bound) || bound == 0)
		return err_set(e, ERR_TOO_LARGE, "%zu bytes are too many to compress", len);
	/* Why len - 1: a frame that is not smaller is of no use, so zstd may
	 * stop as soon as it cannot fit (dstSize_tooSmall), which it detects
	 * early on incompressible input. */
	if (buf_reserve(out, len, e) != 0)
		return -1;
	if (ctx != NULL) {
		if (ctx->cc == NULL && (ctx->cc = ZSTD_createCCtx()) == NULL)
			return err_oom(e);
		cc = ctx->cc;
	} else if ((cc = ZSTD_createCCtx()) == NULL) {
		return err_oom(e);
	}
	n = ZSTD_compressCCtx(cc, out->data + out->len, len - 1, in, len, level);
	if (ctx == NULL)
		ZSTD_freeCCtx(cc);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return 0; /* would not be smaller: store raw */
		return err_set(e, ERR_NOMEM, "zstd compression failed: %s", ZSTD_getErrorName(n));
	}
	out->len += n;
	*compressed = true;
	return 0;
}

int compress_try(int level, const uint8_t *in, size_t len, struct buf *out,
		 bool *compressed, struct err *e)
{
	return compress_try_ctx(NULL, level, in, len, out, compressed, e);
}

int compress_expand_ctx(struct compress_ctx *ctx, const uint8_t *in, size_t len,
			size_t expect, struct buf *out, struct err *e)
{
	unsigned long long size;
	size_t frame, n;
	ZSTD_DCtx *dc;

	size = ZSTD_getFrameContentSize(in, len);
	frame = ZSTD_findFrameCompressedSize(in, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || ZSTD_isError(frame) || frame != len)
		return err_set(e, ERR_CORRUPT, "compressed payload is not exactly one zstd frame");
	/* Our frames always declare their size; one that does not, or declares
	 * another, is refused before any work. */
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return err_set(e, ERR_CORRUPT, "compressed payload does not declare its size");
	if (size != expect)
		return err_set(e, ERR_CORRUPT, "compressed payload holds %llu bytes, expected %zu",
			       size, expect);
	if (buf_reserve(out, expect ? expect : 1, e) != 0)
		return -1;
	if (ctx != NULL) {
		if (ctx->dc == NULL && (ctx->dc = ZSTD_createDCtx()) == NULL)
			return err_oom(e);
		dc = ctx->dc;
	} else if ((dc = ZSTD_createDCtx()) == NULL) {
		return err_oom(e);
	}
	/* Invariant: the destination is exactly EXPECT bytes, so zstd cannot
	 * write past it, and one-shot decompression into it needs no window
	 * buffer whatever the frame's header claims. */
	n = ZSTD_decompressDCtx(dc, out->data + out->len, expect, in, len);
	if (ctx == NULL)
		ZSTD_freeDCtx(dc);
	if (ZSTD_isError(n))
		return err_set(e, ERR_CORRUPT, "compressed payload is damaged: zstd: %s",
			       ZSTD_getErrorName(n));
	if (n != expect)
		return err_set(e, ERR_CORRUPT, "compressed payload holds %zu bytes, expected %zu",
			       n, expect);
	out->len += n;
	return 0;
}

int compress_expand(const uint8_t *in, size_t len, size_t expect, struct buf *out,
		    struct err *e)
{
	return compress_expand_ctx(NULL, in, len, expect, out, e);
}
