/*
 * chunker.h: content-defined chunking with FastCDC and normalised chunking
 * (level 2). Cut points depend only on the bytes of a stream, the sizes and
 * the machine's secret chunker key (which seeds the gear table), never on how
 * the stream was split into buffers, so an insertion in a file moves only
 * nearby cuts and the rest of the file deduplicates, while another machine
 * (or the service) cannot predict where this machine cuts a known file.
 * The exact algorithm is in docs/FORMAT.md, "Chunking".
 */
#ifndef ARCA_CHUNKER_H
#define ARCA_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CHUNKER_MIN_DEFAULT (512u * 1024)
#define CHUNKER_AVG_DEFAULT (1024u * 1024)
#define CHUNKER_MAX_DEFAULT (8u * 1024 * 1024)
#define CHUNKER_MIN_LOWEST 64u
#define CHUNKER_MAX_HIGHEST (64u * 1024 * 1024)
#define CHUNKER_SECRET_LEN 32

struct chunker_params {
	uint32_t min_size, avg_size, max_size;
};

struct chunker;

/* Fill P with the defaults: 512 KiB / 1 MiB / 8 MiB. */
void chunker_params_default(struct chunker_params *p);

/* Check P: 64 <= min < avg < max <= 64 MiB (avg need not be a power of
 * two). 0, or -1 with ERR_INVALID naming the value that breaks the rule and
 * the bound it must meet. */
int chunker_params_check(const struct chunker_params *p, struct err *e);

/* A chunker with a copy of params P and a gear table derived from SECRET
 * (the machine's 32-byte chunker key, not kept; the table is wiped on free).
 * Ready for a first stream. NULL with E set: ERR_INVALID for bad params (as
 * chunker_params_check), ERR_NOMEM, ERR_CRYPTO if libsodium cannot start. */
struct chunker *chunker_new(const struct chunker_params *p,
			    const uint8_t secret[CHUNKER_SECRET_LEN], struct err *e);

/* Wipe and release C. C may be NULL. */
void chunker_free(struct chunker *c);

/* Forget the current chunk: the next byte fed starts a new stream. Call it
 * before each file (after a cut it changes nothing). */
void chunker_reset(struct chunker *c);

/*
 * Scan DATA[0..LEN) for the end of the current chunk. Returns how many bytes
 * of DATA belong to the current chunk; *CUT is true when the chunk ends right
 * after them, and the next call starts a new chunk. With *CUT false, all LEN
 * bytes belong to the current chunk and more input is needed. At the end of
 * the stream, the bytes since the last cut (if any) form the final chunk.
 * The caller keeps the bytes; the chunker only looks at them. DATA may be
 * NULL when LEN is 0. Never fails; a cut never makes an empty chunk.
 */
size_t chunker_next(struct chunker *c, const uint8_t *data, size_t len, bool *cut);

/* The parameters C was made with. */
const struct chunker_params *chunker_params(const struct chunker *c);

/* The mask bit count for AVG_SIZE: log2(AVG_SIZE) rounded to the nearest
 * integer (never a tie for an integer AVG_SIZE). The mask used below the
 * average has 2 more bits, the one above it 2 fewer. For AVG_SIZE >= 1. */
unsigned chunker_mask_bits(uint32_t avg_size);

#endif
