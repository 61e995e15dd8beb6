/*
 * tree.h: the encoding of one directory of a recovery point. A tree lists
 * the directory's entries, sorted by name, with everything a restore needs
 * to give each back as it was: type, permissions, owner and group (ids and
 * names), times with nanoseconds, size, symlink target, hard-link identity,
 * extended attributes, POSIX ACLs, sparse extents, device numbers, and the
 * ids of a file's content chunks or of a folder's own tree.
 *
 * The encoding is canonical: one tree has exactly one encoding, and the
 * decoder refuses every other byte string, so equal directories give equal
 * tree objects (and deduplicate). One rule set, tree_entry_check, is run by
 * the encoder before it writes and by the decoder on every entry it reads,
 * so whatever decodes re-encodes to the same bytes. It is plaintext; the
 * object layer seals it as an OBJECT_TREE. Byte layout: docs/FORMAT.md,
 * "Trees".
 *
 * Building: tree_new, then tree_add (a deep copy) per entry in any order,
 * e.g. readdir order; tree_encode sorts a private view and leaves the tree as
 * it is. tree_sort orders the tree itself (for tree_find's binary search).
 *
 * Memory: a decoded entry costs about 280 bytes besides its strings, lists
 * and chunk list (36 bytes a chunk), so the largest folder the format allows
 * (TREE_ENTRIES_MAX entries) needs about 4.7 GB to hold.
 */
#ifndef ARCA_TREE_H
#define ARCA_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "objid.h"

#define TREE_VERSION 1

/* Bounds. Each is checked by the encoder and the decoder alike; a value past
 * one is ERR_TOO_LARGE. Why these numbers: docs/FORMAT.md, "Trees". */
#define TREE_NAME_MAX 255
#define TREE_TARGET_MAX 4096
#define TREE_OWNER_MAX 255
#define TREE_XATTR_NAME_MAX 255
#define TREE_XATTR_VALUE_MAX (64 * 1024)
#define TREE_XATTRS_MAX 32768 /* XATTR_LIST_MAX / 2 */
#define TREE_ACL_MAX 8191      /* (XATTR_SIZE_MAX - 4) / 8 */
#define TREE_EXTENTS_MAX (1u << 20)
#define TREE_CHUNKS_MAX (1u << 24)
#define TREE_ENTRIES_MAX (1u << 24)
#define TREE_CHUNK_LEN_MAX (64u << 20) /* CHUNKER_MAX_HIGHEST */
#define TREE_BYTES_MAX (1u << 30)      /* OBJECT_MAX_PLAIN */

enum tree_type {
	TREE_FILE = 1,
	TREE_DIR = 2,
	TREE_SYMLINK = 3,
	TREE_CHR = 4, /* character device */
	TREE_BLK = 5, /* block device */
	TREE_FIFO = 6,
	TREE_SOCK = 7,
};

/* ACL tags, with Linux's values (acl/libacl.h, posix_acl_xattr). */
enum tree_acl_tag {
	TREE_ACL_USER_OBJ = 0x01,
	TREE_ACL_USER = 0x02,
	TREE_ACL_GROUP_OBJ = 0x04,
	TREE_ACL_GROUP = 0x08,
	TREE_ACL_MASK = 0x10,
	TREE_ACL_OTHER = 0x20,
};

struct tree_time {
	int64_t sec;
	uint32_t nsec; /* < 1e9 */
};

/* Not "system.posix_acl_access" or "system.posix_acl_default": those are the
 * ACLs, which have fields of their own. */
struct tree_xattr {
	char *name;     /* NUL-terminated, 1..255 bytes */
	uint8_t *value; /* may be NULL when len is 0 */
	size_t len;
};

struct tree_acl_entry {
	uint8_t tag;  /* enum tree_acl_tag */
	uint8_t perm; /* rwx as 4|2|1 */
	uint32_t id;  /* uid or gid for TREE_ACL_USER and TREE_ACL_GROUP, else 0 */
};

/* A POSIX ACL, as the kernel keeps it: sorted by (tag, id), unique, with
 * one USER_OBJ, GROUP_OBJ and OTHER each, and a MASK when any USER or GROUP
 * entry is there. n == 0 means no ACL. An access ACL of only the three base
 * entries says no more than the mode, so it is refused: leave it out. */
struct tree_acl {
	struct tree_acl_entry *e;
	size_t n;
};

struct tree_extent {
	uint64_t off, len; /* a data extent of a sparse file */
};

struct tree_chunk {
	struct objid id;
	uint32_t len; /* plaintext length, 1..TREE_CHUNK_LEN_MAX */
};

struct tree_entry {
	char *name; /* NUL-terminated; no '/', not "." or ".." */
	uint8_t type; /* enum tree_type */
	uint32_t mode; /* permission bits with setuid, setgid, sticky: <= 07777 */
	uint32_t uid, gid;
	char *user, *group; /* names, or NULL when unknown */
	struct tree_time mtime, atime, ctime;
	uint64_t size;
	char *target;     /* symlinks only (required there) */
	uint64_t link_id; /* hard-link group within the recovery point, 0 = none */
	uint32_t nlink;   /* link count when link_id != 0 (>= 2) */
	struct tree_xattr *xattrs; /* sorted by name, unique */
	size_t n_xattrs;
	struct tree_acl acl_access;
	struct tree_acl acl_default; /* directories only */
	/* Files only: the extents list the data, the rest is holes; at least
	 * one hole (a sparse file with no extents is all hole). Not sparse:
	 * dense, the data is the whole size. */
	bool sparse;
	struct tree_extent *extents;
	size_t n_extents;
	uint32_t dev_major, dev_minor; /* character and block devices only */
	/* Files only: the content, in order; lengths add up to the data (size,
	 * or the extents' total when sparse): data extents laid end to end. */
	struct tree_chunk *chunks;
	size_t n_chunks;
	struct objid subtree; /* directories only: the id of their own tree */
};

/*
 * Entries, owned by the tree. SORTED is true only when the entries are known
 * to be in strictly increasing bytewise (strcmp) order of name: tree_new,
 * tree_sort and tree_decode set it, tree_add keeps it honest. Code that fills
 * E directly clears it. tree_encode does not trust it.
 */
struct tree {
	struct tree_entry *e;
	size_t n, cap;
	bool sorted;
};

/* An empty tree. NULL with E set when out of memory. */
struct tree *tree_new(struct err *e);

/* Release T and everything it owns. T may be NULL. */
void tree_free(struct tree *t);

/* Add a deep copy of ENT (the caller keeps ENT and everything it points
 * to). Entries may come in any order. Checks ENT first (tree_entry_check);
 * duplicate names are found later, by tree_sort or tree_encode. 0, or -1 with
 * E set (the check's error, ERR_TOO_LARGE past TREE_ENTRIES_MAX entries, or
 * ERR_NOMEM) and T unchanged. */
int tree_add(struct tree *t, const struct tree_entry *ent, struct err *e);

/* Check one entry against every rule of the format. 0, or -1 with E
 * naming the entry and the field: ERR_TOO_LARGE for a length or count past
 * its bound, ERR_INVALID for any other broken rule. */
int tree_entry_check(const struct tree_entry *ent, struct err *e);

/* Sort T's entries by name in place and set T->sorted. Every entry must
 * have a name (tree_add and tree_decode see to it). 0, or -1 with ERR_INVALID
 * naming a duplicate name (T is then sorted but not marked so). */
int tree_sort(struct tree *t, struct err *e);

/* Append T's canonical encoding to OUT. Checks every entry, and writes them
 * in name order whatever T's order (T is not changed). 0, or -1 with OUT
 * unchanged and E set: the entry check's error, ERR_INVALID naming a
 * duplicate name, ERR_TOO_LARGE when the encoding passes TREE_BYTES_MAX, or
 * ERR_NOMEM. */
int tree_encode(const struct tree *t, struct buf *out, struct err *e);

/* Decode the LEN bytes at P, which it does not keep. Returns a new sorted
 * tree for the caller to tree_free, or NULL with E set, its message naming
 * the entry (index and name when known), the field and the byte offset:
 * ERR_UNSUPPORTED for a version other than TREE_VERSION, ERR_TOO_LARGE for
 * LEN past TREE_BYTES_MAX or a count or length past its bound, ERR_CORRUPT
 * for anything else that is not the canonical encoding of a valid tree,
 * ERR_NOMEM. */
struct tree *tree_decode(const uint8_t *p, size_t len, struct err *e);

/* The entry called NAME, or NULL. Binary search when T->sorted, else a
 * linear scan. The pointer is valid until T changes. */
const struct tree_entry *tree_find(const struct tree *t, const char *name);

/* Release what ENT owns (not ENT itself) and zero it. */
void tree_entry_clear(struct tree_entry *ent);

#endif
