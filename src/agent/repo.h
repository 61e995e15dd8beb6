/*
 * repo.h: reading a machine's objects back from the service: locate them
 * (which pack, where), fetch their sealed bytes with range requests (one
 * request for a run of neighbours), and open them with the machine's keys,
 * which authenticates each one. Trees and recovery-point records are kept
 * sealed in the cache folder (objects/), so a later backup or browse needs
 * no download; the cache is only a copy, never trusted over the service.
 */
#ifndef ARCA_AGENT_REPO_H
#define ARCA_AGENT_REPO_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "client.h"
#include "err.h"
#include "keys.h"
#include "reply.h"
#include "object.h"
#include "tree.h"

struct compress_ctx;
struct chunk_cache;

struct repo_pre;

/* The cache folder's tree cache (trees.dat), opened at its first use. One
 * per process and cache folder, shared by every repo reading through it:
 * all its calls are thread-safe. */
struct tree_cache;

/* A tree cache in the cache folder DIR. NULL with E set (out of memory). */
struct tree_cache *tree_cache_new(const char *dir, struct err *e);
/* Close and free TC; NULL does nothing. No repo may use it after. */
void tree_cache_free(struct tree_cache *tc);

struct repo {
	struct client *c;
	const struct keys *keys;
	const char *machine;   /* another machine's name (read only), or NULL for ours */
	struct tree_cache *tc; /* the tree cache (not owned), or NULL for none */
	struct compress_ctx *cctx;
	struct repo_pre *pre; /* objects fetched ahead (repo_prefetch) */
	struct chunk_cache *cc; /* decrypted chunks kept on disk (a mount's; not
				 * owned), or NULL: repo_read_chunks reads them
				 * there first and keeps what it fetches */
	int fresh; /* read trees and records from the service, not the cache
		    * (a verify that must see the service's copy); the cache is
		    * still filled with what is read */
};

/* Open R's sealed object ID of kind WANT into OUT. */
int repo_read(struct repo *r, const struct objid *id, enum object_kind want, struct buf *out,
	      struct err *e);
/* Read and decode the tree ID. NULL with E set. */
struct tree *repo_tree(struct repo *r, const struct objid *id, struct err *e);
/* The recovery point's record (meta object) META_HEX, as JSON. */
json_t *repo_meta(struct repo *r, const char *meta_hex, struct err *e);

/* Called with each of a file's chunks in order: 0 to go on, -1 to stop.
 * PLAIN is NULL and E set when chunk I failed to read or open. */
typedef int (*repo_chunk_fn)(void *arg, size_t i, const uint8_t *plain, size_t len,
			     const struct err *e);
/* Read N chunks, neighbours in one range request, calling FN in order;
 * with a chunk cache, the chunks it holds come from there and those
 * fetched are put in it. Returns 0, or -1 when FN stopped or the service
 * could not be asked. */
int repo_read_chunks(struct repo *r, const struct tree_chunk *chunks, size_t n,
		     repo_chunk_fn fn, void *arg, struct err *e);

/* Where the N objects IDS lie (POST /objects/locate, in batches): LOC[i]
 * found or not. 0, or -1 with E set when the service could not be asked
 * or answered wrongly: never "not found" for an error. */
int repo_locate(struct repo *r, const struct objid *ids, size_t n, struct reply_loc *loc,
		struct err *e);
/* Fetch bytes [OFF, OFF+LEN) of pack PACK (a range request) into OUT,
 * replacing what it held. 0, or -1 with E set: ERR_NOT_FOUND when the
 * service answered 404 (the pack is not there), ERR_CORRUPT for a short
 * answer, another code when it could not be asked. */
int repo_fetch(struct repo *r, const char *pack, uint64_t off, uint64_t len, struct buf *out,
	       struct err *e);

/* Fetch the sealed objects IDS ahead, up to MAX_BYTES, in as few range
 * requests as their places allow (neighbours in a pack come in one), so
 * that repo_read_chunks serves many small files without a request each.
 * Best effort: what is not fetched is read as usual. */
void repo_prefetch(struct repo *r, const struct objid *ids, size_t n, size_t max_bytes);
/* Forget what was fetched ahead. */
void repo_prefetch_clear(struct repo *r);

/* Why the tree cache file was last started over (a damaged or foreign
 * trees.dat), once: 1 with the message in OUT, then 0 until it happens
 * again. The commands show it; the cache itself needs nothing done. */
int repo_cache_note(struct tree_cache *tc, char *out, size_t size);

/* Store a sealed object in TC, which may be NULL (best effort). */
void repo_cache_put(struct tree_cache *tc, const struct objid *id, const uint8_t *sealed,
		    size_t len);

#endif
