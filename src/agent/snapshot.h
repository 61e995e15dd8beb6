/*
 * snapshot.h: one recovery point read as a file system: open the point
 * (its record and root folder), look up a path, list a folder, read a
 * file's bytes at an offset. It is the one way restore, `arca ls` and
 * `arca find` read a recovery point, and it is built for a mount: an open
 * snapshot is never changed after snapshot_open, so any number of threads
 * may use it at once, each through a repo of its own (a repo holds one
 * connection and is used by one thread at a time). Nothing here writes to
 * the terminal or keeps global state.
 */
#ifndef ARCA_AGENT_SNAPSHOT_H
#define ARCA_AGENT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "repo.h"
#include "tree.h"

struct snapshot;

/* Open the recovery point whose record is the object META_HEX, read
 * through R. NULL with E set (ERR_CORRUPT for a damaged record). */
struct snapshot *snapshot_open(struct repo *r, const char *meta_hex, struct err *e);
/* Open the folder tree ROOT as a snapshot of its own. NULL with E set. */
struct snapshot *snapshot_open_root(struct repo *r, const struct objid *root, struct err *e);
/* Free SN; NULL does nothing. Entries looked up in it are invalid after. */
void snapshot_close(struct snapshot *sn);

/* The point's record as JSON (NULL when opened by its root), owned by SN. */
const json_t *snapshot_meta(const struct snapshot *sn);
/* The root folder's tree id. */
const struct objid *snapshot_root_id(const struct snapshot *sn);

/* An entry found by snapshot_lookup: E points into HOLDER, or into the
 * snapshot's root folder when HOLDER is NULL; E is NULL for "/". */
struct snapshot_entry {
	const struct tree_entry *e;
	struct tree *holder; /* owned: freed by snapshot_entry_free */
};

/* Find PATH ("/" for the root folder; "/a/b" below it), reading folders
 * through R. 0 with *OUT filled, or -1 with E set (ERR_NOT_FOUND naming
 * the path, or why a folder could not be read); *OUT is then empty. */
int snapshot_lookup(const struct snapshot *sn, struct repo *r, const char *path,
		    struct snapshot_entry *out, struct err *e);
/* Let go of what OUT holds; an empty entry does nothing. */
void snapshot_entry_free(struct snapshot_entry *out);

/* The entries of folder DIR (NULL: the root folder), as a tree the caller
 * frees. NULL with E set (ERR_INVALID when DIR is not a folder). */
struct tree *snapshot_list(const struct snapshot *sn, struct repo *r,
			   const struct tree_entry *dir, struct err *e);

/* Read up to LEN bytes of FILE's content at OFF into BUF: *GOT is LEN, or
 * less at the end of the file (0 at or past it). Holes of a sparse file
 * read as zeros. 0, or -1 with E set when a chunk could not be read or
 * failed authentication (no bytes of it are returned). */
int snapshot_read(const struct snapshot *sn, struct repo *r, const struct tree_entry *file,
		  uint64_t off, uint8_t *buf, size_t len, size_t *got, struct err *e);

/* Call FN with each of FILE's chunks in order (repo_read_chunks), for
 * readers of whole files. 0, or -1 as repo_read_chunks. */
int snapshot_stream(const struct snapshot *sn, struct repo *r, const struct tree_entry *file,
		    repo_chunk_fn fn, void *arg, struct err *e);

#endif
