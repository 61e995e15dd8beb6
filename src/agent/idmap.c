/*
 * idmap.c: open addressing with linear probing; keys are already uniform
 * (keyed hashes), so their first bytes are the hash.
 */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

/* A slot: key, value, used flag; padded to 8 bytes so values are aligned
 * for any scalar type. */
#define SLOT_SIZE(m) ((OBJID_LEN + (m)->vsize + 1 + 7) & ~(size_t)7)
#define SLOT(m, i) ((m)->slots + (i) * SLOT_SIZE(m))
#define USED(m, s) ((s)[OBJID_LEN + (m)->vsize])
#define KEY(s) (s)
#define VAL(s) ((s) + OBJID_LEN)

void idmap_init(struct idmap *m, size_t vsize)
{
	memset(m, 0, sizeof(*m));
	m->vsize = vsize;
}

void idmap_free(struct idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

static size_t home_of(const struct idmap *m, const struct objid *k)
{
	uint64_t h;

	memcpy(&h, k->b, sizeof(h));
	return (size_t)(h & (m->cap - 1));
}

void *idmap_get(const struct idmap *m, const struct objid *key)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = home_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		uint8_t *s = SLOT(m, i);

		if (!USED(m, s))
			return NULL;
		if (memcmp(KEY(s), key->b, OBJID_LEN) == 0)
			return VAL(s);
	}
}

static int grow_to(struct idmap *m, size_t cap)
{
	struct idmap big = *m;
	size_t slot = SLOT_SIZE(m);

	big.cap = cap;
	big.n = 0;
	if ((big.slots = calloc(big.cap, slot)) == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		uint8_t *s = SLOT(m, i);
		bool added;

		if (USED(m, s))
			memcpy(idmap_put(&big, (const struct objid *)KEY(s), &added), VAL(s),
			       m->vsize);
	}
	free(m->slots);
	*m = big;
	return 0;
}

int idmap_reserve(struct idmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 1024;

	while (n * 4 > cap * 3) {
		if (cap > SIZE_MAX / 2 / SLOT_SIZE(m))
			return -1;
		cap *= 2;
	}
	return cap == m->cap ? 0 : grow_to(m, cap);
}

void *idmap_put(struct idmap *m, const struct objid *key, bool *added)
{
	*added = false;
	if ((m->n + 1) * 4 > m->cap * 3 && grow_to(m, m->cap ? m->cap * 2 : 1024) != 0)
		return NULL;
	for (size_t i = home_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		uint8_t *s = SLOT(m, i);

		if (!USED(m, s)) {
			USED(m, s) = 1;
			memcpy(KEY(s), key->b, OBJID_LEN);
			memset(VAL(s), 0, m->vsize);
			m->n++;
			*added = true;
			return VAL(s);
		}
		if (memcmp(KEY(s), key->b, OBJID_LEN) == 0)
			return VAL(s);
	}
}

bool idmap_next(const struct idmap *m, size_t *i, const struct objid **key, void **value)
{
	for (; *i < m->cap; (*i)++) {
		uint8_t *s = SLOT(m, *i);

		if (USED(m, s)) {
			*key = (const struct objid *)KEY(s);
			if (value)
				*value = VAL(s);
			(*i)++;
			return true;
		}
	}
	return false;
}
