/*
 * store.h: where packs live. The service stores each pack whole, under its
 * id (the SHA-256 of its bytes), in the store of the vault's region; it
 * never modifies a pack, only adds and (when collecting space) removes.
 *
 * This header is the contract every backend implements: a table of
 * functions (struct store_ops) behind a handle. Nothing above it names a
 * path or a file descriptor: a pack goes in from a reader the store pulls
 * from, and comes out as a byte range pushed to a writer. store_fs.c is the
 * embedded backend, a local folder per region; an object store fills in the
 * same table. tests/unit/test_store.c runs every backend through the same
 * conformance tests.
 *
 * One optional call takes a path: adopt, for a backend that can take a
 * complete local file (an upload the service spooled) as it is rather than
 * copy its bytes; a backend without it, or that cannot take that file, gets
 * the bytes through put.
 *
 * Rules every backend keeps:
 * - Atomic: a reader (get, stat, list) sees a whole pack or none, never a
 *   part of one, whatever happens to the writer or the machine.
 * - Durable: once put returns 0 the pack survives a crash.
 * - Thread-safe: every function may be called on the same store from many
 *   threads at once, including puts of the same id (one wins, both return
 *   0, the pack is whole). Opening and closing are not concurrent with use.
 * - Errors are never answers: when the backend cannot tell (I/O error,
 *   network), it returns -1 with E set, never "absent" or an empty list.
 */
#ifndef ARCA_STORE_H
#define ARCA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;

/* Where a put pulls a pack's bytes from. READ fills BUF with up to CAP bytes
 * of the pack (the next ones) and sets *GOT; *GOT 0 only at the end. 0, or
 * -1 with E set: the put then fails and stores nothing. */
struct store_reader {
	int (*read)(void *arg, uint8_t *buf, size_t cap, size_t *got, struct err *e);
	void *arg;
};

/* Where a get pushes a range's bytes to, in order. WRITE takes LEN bytes of
 * BUF (the caller keeps BUF). 0, or -1 with E set: the get stops there and
 * returns -1. */
struct store_writer {
	int (*write)(void *arg, const uint8_t *buf, size_t len, struct err *e);
	void *arg;
};

/* Called by list once per stored pack with its id (64 hex digits, valid
 * only during the call). 0 to go on, or -1 with E set to stop the listing,
 * which then returns -1. */
typedef int (*store_list_fn)(void *arg, const char *id, struct err *e);

/*
 * The table a backend fills in. IDs are 64 lowercase hex digits; anything
 * else is refused with ERR_INVALID. Every function returns -1 with E set on
 * failure as well as the outcomes listed.
 */
struct store_ops {
	const char *name; /* "fs", "s3" */

	/* Store pack ID of SIZE bytes, pulled from BODY until it reports the
	 * end. Atomic: nothing is visible until all SIZE bytes are durable; a
	 * BODY that fails, ends early or runs past SIZE leaves nothing
	 * behind (ERR_INVALID for a wrong length). A pack already stored
	 * whole (SIZE bytes whose SHA-256 is ID) is kept and BODY need not be
	 * read (content-addressed: same bytes); a damaged one is replaced. 0. */
	int (*put)(struct store *s, const char *id, uint64_t size, struct store_reader *body,
		   struct err *e);

	/* Push LEN bytes of pack ID from byte OFF to OUT. A range running past
	 * the end of the pack is cut at the end; OFF at or past the end sends
	 * nothing (LEN 0 too). 0; ERR_NOT_FOUND when the pack is absent. */
	int (*get)(struct store *s, const char *id, uint64_t off, uint64_t len,
		   struct store_writer *out, struct err *e);

	/* Whether pack ID is stored: 1 with *SIZE (SIZE may be NULL) when it
	 * is, 0 when it is not, -1 when the store could not tell. */
	int (*stat)(struct store *s, const char *id, uint64_t *size, struct err *e);

	/* Call FN with every stored pack's id, in no particular order. A pack
	 * put or removed meanwhile may or may not be listed. 0. */
	int (*list)(struct store *s, store_list_fn fn, void *arg, struct err *e);

	/* Optional (NULL: not offered). Take the complete local file at PATH,
	 * SIZE bytes whose SHA-256 the caller checked is ID and which nothing
	 * writes any more, as pack ID without copying its bytes: the file is
	 * the store's afterwards (the name PATH may be gone). The rules of
	 * put hold: atomic, durable when it returns 0, a whole pack already
	 * stored is kept. 1 when the backend cannot take this file (another
	 * file system, say): nothing changed, and the caller puts the bytes
	 * instead. */
	int (*adopt)(struct store *s, const char *id, uint64_t size, const char *path,
		     struct err *e);

	/* Remove pack ID; durable when it returns. A pack not there is fine. 0. */
	int (*remove)(struct store *s, const char *id, struct err *e);

	/* Release S (not concurrent with any other call on S). */
	void (*close)(struct store *s);
};

/* The head of every backend's handle: the backend's struct begins with it. */
struct store {
	const struct store_ops *ops;
};

/* Open the folder ROOT (created if missing) as a store. The caller closes it
 * with store_close. NULL with E set. */
struct store *store_fs_open(const char *root, struct err *e);

/* The contract's calls, for callers: each dispatches to S's backend. */
int store_put(struct store *s, const char *id, uint64_t size, struct store_reader *body,
	      struct err *e);
int store_get(struct store *s, const char *id, uint64_t off, uint64_t len,
	      struct store_writer *out, struct err *e);
int store_stat(struct store *s, const char *id, uint64_t *size, struct err *e);
int store_list(struct store *s, store_list_fn fn, void *arg, struct err *e);
int store_remove(struct store *s, const char *id, struct err *e);

/* Release S. S may be NULL. */
void store_close(struct store *s);

/* Store the LEN bytes at DATA as pack ID in S (a put from memory; the caller
 * keeps DATA). 0 or -1 as put. */
int store_put_mem(struct store *s, const char *id, const uint8_t *data, uint64_t len,
		  struct err *e);

/* Store the LEN bytes at DATA as pack ID in each of the N stores S (a
 * region's and its GRS pair's), all at once: each put runs on a thread of
 * its own, so the time is the slowest put's, not their sum. 0 when every
 * put succeeded; -1 with E set from the first that failed (the others may
 * have stored the pack: content-addressed, a retry keeps them). */
int store_put_mem_each(struct store *const *s, size_t n, const char *id, const uint8_t *data,
		       uint64_t len, struct err *e);

/* Store the complete local file PATH, whose LEN bytes the caller also has
 * at DATA (mapped, say), as pack ID in each of the N stores S, all at once
 * as store_put_mem_each: the first store adopts the file when its backend
 * can (its adopt; the name PATH may then be gone), every other store and a
 * first that cannot adopt it put from DATA. Why not adopt it twice: the
 * second store is the pair's copy, a file of its own. A PATH that is not a
 * file of LEN bytes is refused (ERR_INVALID) before any store is asked,
 * whichever backends they are. 0 or -1 as store_put_mem_each. */
int store_put_file_each(struct store *const *s, size_t n, const char *id, const char *path,
			const uint8_t *data, uint64_t len, struct err *e);

/* Read up to CAP bytes of pack ID from byte OFF into BUF, setting *GOT (0
 * only when OFF is at or past the end). 0; -1 with ERR_NOT_FOUND when the
 * pack is absent, or another error. */
int store_read(struct store *s, const char *id, uint64_t off, uint8_t *buf, size_t cap,
	       size_t *got, struct err *e);

/* Read the whole pack ID from S into a new buffer *DATA of *LEN bytes that
 * the caller frees. 0; -1 with ERR_NOT_FOUND when absent, or another error. */
int store_get_all(struct store *s, const char *id, uint8_t **data, uint64_t *len,
		  struct err *e);

/* Copy pack ID from store FROM into store TO (the GRS copy to the paired
 * region) through FROM's get and TO's put, in pieces, so memory stays flat
 * whatever the pack's size; atomic as put. The bytes are checked on the
 * way: when FROM's do not hash to ID, TO stores nothing (ERR_INVALID). A
 * pack TO has already is kept. 0; ERR_NOT_FOUND when FROM does not have
 * it. */
int store_copy(struct store *from, struct store *to, const char *id, struct err *e);

#endif
