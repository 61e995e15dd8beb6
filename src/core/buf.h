/*
 * buf.h: a growable byte buffer (data, length, capacity) used wherever bytes
 * are produced, so that no pointer travels without its length. A buffer owns
 * its memory; buf_free releases it and leaves an empty buffer behind.
 * Buffers that held secrets are released with buf_wipe, which zeroes every
 * byte of capacity first.
 */
#ifndef ARCA_BUF_H
#define ARCA_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* Make sure B can hold EXTRA more bytes past its length without moving.
 * 0, or -1 with E set (ERR_NOMEM, or ERR_TOO_LARGE when len + extra
 * overflows). */
int buf_reserve(struct buf *b, size_t extra, struct err *e);

/* Append LEN bytes from P. 0 or -1 (see buf_reserve). */
int buf_append(struct buf *b, const void *p, size_t len, struct err *e);

/* Append one byte. 0 or -1. */
int buf_append_u8(struct buf *b, uint8_t v, struct err *e);

/* Append V as 2, 4 or 8 little-endian bytes. 0 or -1. */
int buf_append_le16(struct buf *b, uint16_t v, struct err *e);
int buf_append_le32(struct buf *b, uint32_t v, struct err *e);
int buf_append_le64(struct buf *b, uint64_t v, struct err *e);

/* Append V as an unsigned LEB128 varint (1 to 10 bytes, minimal). 0 or -1. */
int buf_append_varint(struct buf *b, uint64_t v, struct err *e);

/* Append LEN zero bytes and return a pointer to them, or NULL with E set.
 * The pointer is valid until the next call that may grow B. */
uint8_t *buf_extend(struct buf *b, size_t len, struct err *e);

/* Forget the contents, keep the memory. */
void buf_reset(struct buf *b);

/* Release the memory. B is empty afterwards; B may be NULL. */
void buf_free(struct buf *b);

/* Zero all capacity, then release it. For buffers that held secrets. */
void buf_wipe(struct buf *b);

#endif
