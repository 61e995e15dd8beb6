/* buf.c: the growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"

int buf_reserve(struct buf *b, size_t extra, struct err *e)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return err_set(e, ERR_TOO_LARGE, "buffer size overflows (%zu + %zu bytes)",
			       b->len, extra);
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return err_oom(e);
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t len, struct err *e)
{
	if (len == 0)
		return 0;
	if (buf_reserve(b, len, e) != 0)
		return -1;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

int buf_append_u8(struct buf *b, uint8_t v, struct err *e)
{
	return buf_append(b, &v, 1, e);
}

int buf_append_le16(struct buf *b, uint16_t v, struct err *e)
{
	uint8_t t[2];

	le16_put(t, v);
	return buf_append(b, t, sizeof(t), e);
}

int buf_append_le32(struct buf *b, uint32_t v, struct err *e)
{
	uint8_t t[4];

	le32_put(t, v);
	return buf_append(b, t, sizeof(t), e);
}

int buf_append_le64(struct buf *b, uint64_t v, struct err *e)
{
	uint8_t t[8];

	le64_put(t, v);
	return buf_append(b, t, sizeof(t), e);
}

int buf_append_varint(struct buf *b, uint64_t v, struct err *e)
{
	uint8_t t[10];

	return buf_append(b, t, varint_put(t, v), e);
}

uint8_t *buf_extend(struct buf *b, size_t len, struct err *e)
{
	uint8_t *p;

	if (buf_reserve(b, len, e) != 0)
		return NULL;
	p = b->data + b->len;
	memset(p, 0, len);
	b->len += len;
	return p;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

void buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_wipe(struct buf *b)
{
	if (b == NULL)
		return;
	/* sodium_memzero, not memset, which may be optimised away before a
	 * free; nor a byte-wise volatile loop, which costs a restore's worth
	 * of buffers several percent of its CPU. */
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	buf_free(b);
}
