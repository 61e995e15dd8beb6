/*
 * bytes.h: the one place where integers meet bytes. Little-endian put/get
 * helpers, minimal LEB128 varints, checked size arithmetic, a string hash
 * for in-memory tables, and a read cursor that every decoder of outside
 * input uses: each read checks the bytes left first, so a decoder cannot
 * run past its input.
 */
#ifndef ARCA_BYTES_H
#define ARCA_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a of the string S: a quick, well-spread hash for the slots of small
 * in-memory caches (never for anything an attacker could aim at a slot to
 * gain more than a cache miss). */
static inline uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32_get(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Write V as a minimal unsigned LEB128 varint into P (room for 10 bytes).
 * Returns the number of bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* *R = A + B; false (and *R untouched) on overflow. */
static inline bool size_add(size_t a, size_t b, size_t *r)
{
	if (a > SIZE_MAX - b)
		return false;
	*r = a + b;
	return true;
}

/* *R = A * B; false (and *R untouched) on overflow. */
static inline bool size_mul(size_t a, size_t b, size_t *r)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*r = a * b;
	return true;
}

/*
 * A read cursor over bytes it does not own. Every rd_ function returns 0 and
 * advances, or returns -1 and leaves the cursor where it was when fewer bytes
 * remain than it needs (or a varint is not minimal or overflows 64 bits).
 */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline struct rd rd_make(const uint8_t *p, size_t len)
{
	struct rd r = { p, len, 0 };
	return r;
}

static inline size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

static inline int rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return -1;
	*v = r->p[r->off++];
	return 0;
}

static inline int rd_le16(struct rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return -1;
	*v = le16_get(r->p + r->off);
	r->off += 2;
	return 0;
}

static inline int rd_le32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return -1;
	*v = le32_get(r->p + r->off);
	r->off += 4;
	return 0;
}

static inline int rd_le64(struct rd *r, uint64_t *v)
{
	if (rd_left(r) < 8)
		return -1;
	*v = le64_get(r->p + r->off);
	r->off += 8;
	return 0;
}

/* Point *P at the next LEN bytes (no copy) and skip them. */
static inline int rd_bytes(struct rd *r, size_t len, const uint8_t **p)
{
	if (rd_left(r) < len)
		return -1;
	*p = r->p + r->off;
	r->off += len;
	return 0;
}

/* Copy the next LEN bytes into OUT. */
static inline int rd_copy(struct rd *r, void *out, size_t len)
{
	const uint8_t *p;

	if (rd_bytes(r, len, &p) != 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)out)[i] = p[i];
	return 0;
}

/* Read a minimal unsigned LEB128 varint. Rejects non-minimal encodings (a
 * trailing 0x00 group) so that every value has exactly one encoding. */
static inline int rd_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	size_t off = r->off;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (off >= r->len)
			return -1;
		b = r->p[off++];
		if (shift == 63 && b > 1)
			return -1; /* over 64 bits */
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			if (b == 0 && shift != 0)
				return -1; /* not minimal */
			r->off = off;
			*v = x;
			return 0;
		}
	}
	return -1;
}

#endif
