/*
 * chunkcache.h: a bounded cache of decrypted file chunks on disk, in a
 * folder of the agent's cache folder, so that a mount reads a chunk from
 * the service once and then from the local disk. One file a chunk, named
 * by the chunk's object id in hex and holding its plaintext (docs/FORMAT.md,
 * "The agent's cache folder"). A file is only a copy: its bytes are given
 * back only when their keyed object id (objid_compute under the machine's
 * id key) is the file's name, so a damaged, truncated or planted file is a
 * miss (and is removed), never data. The bytes it holds stay under a size
 * limit: past it the least recently used chunks are removed. All calls are
 * thread-safe; several processes may share the folder (each keeps its own
 * index, and a file the other removed is a miss).
 */
#ifndef ARCA_AGENT_CHUNKCACHE_H
#define ARCA_AGENT_CHUNKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "keys.h"
#include "objid.h"

#define CHUNK_CACHE_DIR "chunks"                  /* in the cache folder */
#define CHUNK_CACHE_LIMIT_DEFAULT (256ull << 20) /* bytes */
#define CHUNK_CACHE_HOT (32u << 20)              /* bytes kept in memory, at most */
#define CHUNK_CACHE_HOT_COUNT 64                 /* chunks kept in memory, at most */

struct chunk_cache;

/* Open the cache in folder DIR (made 0700 if missing), whose chunks are
 * checked with KEYS (kept, not owned), holding at most LIMIT bytes. Indexes
 * the chunk files already there (others, such as a write cut short, are
 * removed) and removes the least recently used past LIMIT. NULL with E set
 * when DIR cannot be made or read. */
struct chunk_cache *chunk_cache_open(const char *dir, uint64_t limit, const struct keys *keys,
				     struct err *e);
/* Close CC; NULL does nothing. The files stay for the next open. */
void chunk_cache_free(struct chunk_cache *cc);

/* Whether CC's index holds chunk ID (no I/O; a get may still miss). */
int chunk_cache_has(struct chunk_cache *cc, const struct objid *id);
/* Chunk ID, of LEN bytes, into OUT (replacing what it held): 1 when found
 * and its bytes have the id, 0 when not (a damaged copy is removed). */
int chunk_cache_get(struct chunk_cache *cc, const struct objid *id, size_t len, struct buf *out);
/* As chunk_cache_get, without a copy: chunk ID's LEN bytes, held in memory
 * until chunk_cache_release(CC, *REF), or NULL when not found. The few
 * chunks used last stay in memory (CHUNK_CACHE_HOT bytes), so the many
 * small reads a file system gets of one chunk read its file once. */
const uint8_t *chunk_cache_hold(struct chunk_cache *cc, const struct objid *id, size_t len,
				void **ref);
void chunk_cache_release(struct chunk_cache *cc, void *ref);
/* Keep chunk ID's LEN bytes at P (written to a temporary name, then
 * renamed), removing the least recently used past the limit. Best effort:
 * a chunk that cannot be written is simply not kept. */
void chunk_cache_put(struct chunk_cache *cc, const struct objid *id, const uint8_t *p,
		     size_t len);

/* The bytes and chunks the index holds now. */
uint64_t chunk_cache_bytes(struct chunk_cache *cc);
size_t chunk_cache_count(struct chunk_cache *cc);

#endif
