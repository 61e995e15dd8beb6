/*
 * pack.h: packs hold many sealed objects in one file, followed by a table of
 * contents (object id, kind, offset, length) that the service can read and
 * check without keys, so that it can copy live objects into new packs on its
 * own when it reclaims space. A pack is named by the SHA-256 of its bytes.
 *
 * Every byte of a pack is checked by someone: the header and trailer by
 * their fixed values, the table of contents by its hash, and each object by
 * its authenticated encryption when the agent reads it. Objects lie back to
 * back between header and table, so there are no unchecked gaps. A reader
 * never returns bytes that failed a check.
 */
#ifndef ARCA_PACK_H
#define ARCA_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "object.h"
#include "objid.h"

struct keys;

#define PACK_TARGET_DEFAULT (8u << 20) /* finish a pack before it passes this */
#define PACK_HEADER_LEN 16
#define PACK_TRAILER_LEN 56
#define PACK_ENTRY_LEN 48
#define PACK_MAX_OBJECTS (1u << 22)
#define PACK_MAX_BYTES (4ull << 30)
#define PACK_ID_LEN 32

struct pack_entry {
	struct objid id;
	uint8_t kind;    /* enum object_kind */
	uint64_t offset; /* of the sealed object, from the start of the pack */
	uint32_t length; /* of the sealed object */
};

/* Where the table of contents is, as the trailer says. */
struct pack_trailer {
	uint64_t toc_offset;
	uint32_t toc_length;
	uint8_t toc_hash[32];
};

struct pack_writer;

/* A writer that seals objects with K at zstd LEVEL (COMPRESS_LEVEL_NONE or
 * 1..COMPRESS_LEVEL_MAX), keeping one compression context for all of them.
 * K may be NULL for a keyless writer (the service's) that only takes sealed
 * objects; LEVEL is then ignored. The writer borrows K, which must outlive
 * it. NULL with E set: ERR_INVALID for a bad level, ERR_NOMEM. */
struct pack_writer *pack_writer_new(const struct keys *k, int level, struct err *e);

/* Seal PLAIN (whose id is ID) as an object of KIND and add it. Refuses an id
 * the pack already holds (ERR_INVALID) and a keyless writer. 0 or -1. */
int pack_writer_add(struct pack_writer *w, enum object_kind kind, const struct objid *id,
		    const uint8_t *plain, size_t len, struct err *e);

/* Add an already sealed object (SRC->length bytes at SEALED), of SRC->id and
 * SRC->kind, as read from another pack: the keyless copy of the garbage
 * collector. The object stays valid since it is bound to its id, not to its
 * pack. 0 or -1. */
int pack_writer_add_sealed(struct pack_writer *w, const struct pack_entry *src,
			   const uint8_t *sealed, struct err *e);

/* Whether the pack being written holds ID. */
bool pack_writer_has(const struct pack_writer *w, const struct objid *id);

/* Bytes written so far (header and objects), and objects added. */
size_t pack_writer_size(const struct pack_writer *w);
size_t pack_writer_count(const struct pack_writer *w);

/* The entries added so far, in pack order; valid until the next add. */
const struct pack_entry *pack_writer_entries(const struct pack_writer *w);

/* Finish the pack: append its bytes (header, objects, table, trailer) to OUT
 * and its id (SHA-256 of those bytes) to PACK_ID. The writer is then empty
 * and may start the next pack. An empty OUT takes the writer's memory as it
 * is, without a copy (the writer goes on in OUT's). 0 or -1 (an empty pack
 * is refused). */
int pack_writer_finish(struct pack_writer *w, struct buf *out, uint8_t pack_id[PACK_ID_LEN],
		       struct err *e);

/* Release W. W may be NULL. */
void pack_writer_free(struct pack_writer *w);

/* Parse the trailer from the last PACK_TRAILER_LEN bytes TAIL of a pack of
 * PACK_LEN bytes, and check that the table it points to fits. 0, or -1 with
 * ERR_CORRUPT. */
int pack_trailer_parse(const uint8_t tail[PACK_TRAILER_LEN], uint64_t pack_len,
		       struct pack_trailer *t, struct err *e);

/* Check and decode a table of contents TOC[0..LEN) against its trailer T:
 * hash, counts, kinds, objects back to back from the header to the table,
 * no duplicate ids. On success *ENTRIES (caller frees) holds *N entries in
 * pack order. 0, or -1 with ERR_CORRUPT. */
int pack_toc_decode(const uint8_t *toc, size_t len, const struct pack_trailer *t,
		    struct pack_entry **entries, size_t *n, struct err *e);

/* Check a whole pack's header, trailer and table (no keys needed) and decode
 * the table as pack_toc_decode does. 0, or -1 with ERR_CORRUPT or
 * ERR_UNSUPPORTED. */
int pack_toc_read(const uint8_t *pack, size_t len, struct pack_entry **entries, size_t *n,
		  struct err *e);

/* The SHA-256 of LEN bytes: a pack's id. */
void pack_id_compute(const uint8_t *pack, size_t len, uint8_t pack_id[PACK_ID_LEN]);

/* Open the object ENT of the pack PACK[0..LEN) with K and append its
 * plaintext to OUT. Fails (ERR_CORRUPT, OUT unchanged) if the entry lies
 * outside the pack, the object fails to open, or its authenticated kind is
 * not the kind the table claims. */
int pack_object_read(const struct keys *k, const uint8_t *pack, size_t len,
		     const struct pack_entry *ent, struct buf *out, struct err *e);

#endif
