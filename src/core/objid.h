/*
 * objid.h: object ids. An object's id is a keyed hash of its plaintext
 * under the machine's id key (a subkey of the master key), so equal content
 * gets equal ids on one machine, while the service, without the key, can
 * neither compute an id nor confirm a guess of what an object holds.
 */
#ifndef ARCA_OBJID_H
#define ARCA_OBJID_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define OBJID_LEN 32
#define OBJID_HEX_LEN (2 * OBJID_LEN)

struct keys;

struct objid {
	uint8_t b[OBJID_LEN];
};

/* Compute the id of LEN bytes at DATA under K's id key. Cannot fail. */
void objid_compute(const struct keys *k, const void *data, size_t len, struct objid *out);

/* Compare two ids bytewise: <0, 0 or >0, as memcmp. */
int objid_cmp(const struct objid *a, const struct objid *b);

/* Write ID as 64 lowercase hex digits and a NUL into OUT. */
void objid_to_hex(const struct objid *id, char out[OBJID_HEX_LEN + 1]);

/* Parse exactly 64 hex digits (either case) from S. 0, or -1 with
 * ERR_INVALID naming the bad input. */
int objid_from_hex(const char *s, struct objid *out, struct err *e);

#endif
