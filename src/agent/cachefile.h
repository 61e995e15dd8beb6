/*
 * cachefile.h: the agent's cache files (docs/FORMAT.md, "The agent's cache
 * folder"), parsed without I/O so that they are tested and fuzzed alone.
 * Every file there is only a hint: a parser that refuses one says why, and
 * the caller ignores it or starts it over; nothing a cache file says is
 * trusted over the service.
 *
 *   trees.dat   "ARCATRC1", then records: id (32), length (u32 LE), sealed bytes
 *   stored.ids  "ARCAIDS1", then 32-byte object ids
 *   files.idx   "ARCAFIX1", then 72-byte records: path hash (32), file facts (40)
 */
#ifndef ARCA_AGENT_CACHEFILE_H
#define ARCA_AGENT_CACHEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "idmap.h"

#define CACHE_MAGIC_LEN 8
#define CACHE_TREES_HEAD (OBJID_LEN + 4) /* a trees.dat record's id and length */

extern const char cache_trees_magic[CACHE_MAGIC_LEN]; /* "ARCATRC1" */
extern const char cache_ids_magic[CACHE_MAGIC_LEN];   /* "ARCAIDS1" */
extern const char cache_fidx_magic[CACHE_MAGIC_LEN];  /* "ARCAFIX1" */

/* Read exactly N bytes at OFF of a file into BUF: 0, or -1 when it cannot. */
typedef int (*cache_read_fn)(void *arg, uint64_t off, void *buf, size_t n);

/* Index a trees.dat of SIZE bytes, read through RD(ARG), into AT, whose
 * values are two uint64_t: the offset of a record's sealed bytes and their
 * length. A later record of an id replaces an earlier one (a damaged copy
 * is dropped and a good one appended). Sets *END to the end of the last
 * whole record: a torn record after it (a crash while appending) is for the
 * caller to cut off, and is not an error. Returns 0; or -1 with E set when
 * the file must start over: shorter than its magic or a wrong magic
 * (ERR_CORRUPT), another format version (ERR_UNSUPPORTED), over MAX bytes
 * (ERR_TOO_LARGE), a failed read (ERR_IO) or no memory (ERR_NOMEM). AT is
 * left empty on failure. */
int cache_trees_scan(cache_read_fn rd, void *arg, uint64_t size, uint64_t max,
		     struct idmap *at, uint64_t *end, struct err *e);

/* Put one trees.dat record's head (id, length) into HEAD. */
void cache_trees_head(uint8_t head[CACHE_TREES_HEAD], const struct objid *id, uint32_t len);

/* Parse an index file P[0..N) (stored.ids or files.idx) with MAGIC whose
 * records are a 32-byte key and M->vsize value bytes, into the empty map M.
 * Returns 0; or -1 with E set and M left empty: truncated header, wrong
 * magic or a torn record (ERR_CORRUPT), another format version
 * (ERR_UNSUPPORTED), a key that appears twice (ERR_CORRUPT; the writer
 * never writes one twice), no memory (ERR_NOMEM). */
int cache_index_parse(const uint8_t *p, size_t n, const char magic[CACHE_MAGIC_LEN],
		      struct idmap *m, struct err *e);

/* Append the index file of M with MAGIC to OUT, each record the key and the
 * first VSIZE bytes of its value (the inverse of cache_index_parse into a
 * map of VSIZE-byte values, records in M's order; VSIZE at most M's). 0 or
 * -1. */
int cache_index_write(const struct idmap *m, const char magic[CACHE_MAGIC_LEN], size_t vsize,
		      struct buf *out, struct err *e);

#endif
