/*
 * chunker.c: FastCDC (Xia et al., USENIX ATC 2016) with normalised chunking
 * at level 2.
 *
 * Design. A gear hash h = (h << 1) + gear[byte] is rolled over the bytes of
 * the current chunk; after the shift, bit k of h depends on the last k+1
 * bytes only, so the masks test the TOP bits (they see the last 64 bytes).
 * The first min_size bytes of a chunk are skipped without hashing and the
 * hash starts at zero there. Up to avg_size a stricter mask (bits + 2 one
 * bits) makes cuts rarer; after it a looser mask (bits - 2) makes them more
 * likely, which narrows the size distribution around avg_size. At max_size
 * the chunk is cut regardless.
 *
 * Invariant: the state between calls is (bytes in the current chunk, h),
 * exactly what the loop would hold had it seen the stream in one piece, so
 * cut points do not depend on buffer boundaries.
 *
 * The gear table is the ChaCha20 (IETF) key stream of the chunker key with an
 * all-zero nonce, read as 256 little-endian uint64: secret per machine.
 */
#include "chunker.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"

struct chunker {
	struct chunker_params p;
	uint64_t mask_s, mask_l;
	uint64_t pos;  /* bytes of the current chunk seen so far */
	uint64_t hash; /* gear hash since min_size of the current chunk */
	uint64_t gear[256];
};

void chunker_params_default(struct chunker_params *p)
{
	p->min_size = CHUNKER_MIN_DEFAULT;
	p->avg_size = CHUNKER_AVG_DEFAULT;
	p->max_size = CHUNKER_MAX_DEFAULT;
}

int chunker_params_check(const struct chunker_params *p, struct err *e)
{
	if (p->min_size < CHUNKER_MIN_LOWEST)
		return err_set(e, ERR_INVALID, "chunk minimum size %u is below %u bytes",
			       p->min_size, CHUNKER_MIN_LOWEST);
	if (p->avg_size <= p->min_size)
		return err_set(e, ERR_INVALID,
			       "chunk average size %u must be above the minimum %u",
			       p->avg_size, p->min_size);
	if (p->max_size <= p->avg_size)
		return err_set(e, ERR_INVALID,
			       "chunk maximum size %u must be above the average %u",
			       p->max_size, p->avg_size);
	if (p->max_size > CHUNKER_MAX_HIGHEST)
		return err_set(e, ERR_INVALID, "chunk maximum size %u is above %u bytes",
			       p->max_size, CHUNKER_MAX_HIGHEST);
	return 0;
}

/* A mask with the top N bits set. */
static uint64_t top_bits(unsigned n)
{
	return n == 0 ? 0 : ~(uint64_t)0 << (64 - n);
}

struct chunker *chunker_new(const struct chunker_params *p,
			    const uint8_t secret[CHUNKER_SECRET_LEN], struct err *e)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t stream[256 * 8];
	struct chunker *c;
	unsigned bits;

	if (chunker_params_check(p, e) != 0)
		return NULL;
	if (sodium_init() < 0) {
		err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		err_oom(e);
		return NULL;
	}
	c->p = *p;
	/* bits = log2(avg) rounded to nearest: up when avg^2 >= 2^(2 bits + 1). */
	for (bits = 0; ((uint64_t)1 << (bits + 1)) <= p->avg_size; bits++)
		;
	if ((uint64_t)p->avg_size * p->avg_size >= (uint64_t)1 << (2 * bits + 1))
		bits++;
	c->mask_s = top_bits(bits + 2);
	c->mask_l = top_bits(bits - 2);
	crypto_stream_chacha20_ietf(stream, sizeof(stream), nonce, secret);
	for (size_t i = 0; i < 256; i++)
		c->gear[i] = le64_get(stream + 8 * i);
	sodium_memzero(stream, sizeof(stream));
	return c;
}

void chunker_free(struct chunker *c)
{
	if (c == NULL)
		return;
	sodium_memzero(c->gear, sizeof(c->gear));
	free(c);
}

void chunker_reset(struct chunker *c)
{
	c->pos = 0;
	c->hash = 0;
}

const struct chunker_params *chunker_params(const struct chunker *c)
{
	return &c->p;
}

size_t chunker_next(struct chunker *c, const uint8_t *data, size_t len, bool *cut)
{
	const uint64_t min = c->p.min_size, avg = c->p.avg_size, max = c->p.max_size;
	const uint64_t off0 = c->pos; /* bytes of the chunk before data[0] */
	const uint64_t *gear = c->gear;
	uint64_t h = c->hash;
	size_t i = 0, end;

	*cut = false;
	/* Skip the first min bytes of a chunk without hashing. */
	if (off0 < min)
		i = min - off0 >= len ? len : (size_t)(min - off0);
	/* Below the average size the stricter mask: cuts are rarer. */
	if (off0 < avg) {
		end = avg - off0 >= len ? len : (size_t)(avg - off0);
		for (; i < end; i++) {
			h = (h << 1) + gear[data[i]];
			if ((h & c->mask_s) == 0) {
				i++;
				goto cut_here;
			}
		}
	}
	/* Past the average the looser mask: cuts come sooner. */
	end = max - off0 >= len ? len : (size_t)(max - off0);
	for (; i < end; i++) {
		h = (h << 1) + gear[data[i]];
		if ((h & c->mask_l) == 0) {
			i++;
			goto cut_here;
		}
	}
	if (off0 + i == max)
		goto cut_here;
	c->pos = off0 + i;
	c->hash = h;
	return i;

cut_here:
	c->pos = 0;
	c->hash = 0;
	*cut = true;
	return i;
}
