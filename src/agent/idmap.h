/*
 * idmap.h: a hash map from 32-byte keys (object ids, or hashes of paths) to
 * fixed-size values, in one open-addressed table. The agent keeps its sets
 * of known and referenced objects and its file index in these: memory grows
 * with this machine's own objects only (32 bytes plus the value a key).
 */
#ifndef ARCA_AGENT_IDMAP_H
#define ARCA_AGENT_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objid.h"

struct idmap {
	uint8_t *slots; /* cap slots of (32 key bytes, vsize value bytes, a used byte) */
	size_t cap, n, vsize;
};

/* An empty map whose values are VSIZE bytes (0 for a set). */
void idmap_init(struct idmap *m, size_t vsize);
void idmap_free(struct idmap *m);
/* The value of KEY, or NULL. Valid until the next put. */
void *idmap_get(const struct idmap *m, const struct objid *key);
/* Insert KEY (value zeroed) or find it; returns its value slot (a non-NULL
 * pointer for a set too), or NULL when out of memory. *ADDED says which. */
void *idmap_put(struct idmap *m, const struct objid *key, bool *added);
/* Make room for N keys in all, so that putting them moves nothing. 0, or
 * -1 when out of memory (M unchanged). */
int idmap_reserve(struct idmap *m, size_t n);
/* Visit every key: I from 0; returns false past the end. */
bool idmap_next(const struct idmap *m, size_t *i, const struct objid **key, void **value);

#endif
