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
 * tree objects (and deduplicate). It is plaintext; the object layer seals it
 * as an OBJECT_TREE. Byte layout: docs/FORMAT.md, "Trees".
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
#define TREE_NAME_MAX 255
#define TREE_TARGET_MAX 4096
#define TREE_OWNER_MAX 255
#define TREE_XATTR_NAME_MAX 255
#define TREE_XATTR_VALUE_MAX (64 * 1024)
#define TREE_XATTRS_MAX 1024
#define TREE_ACL_MAX 1024
#define TREE_EXTENTS_MAX (1u << 20)
#define TREE_CHUNKS_MAX (1u << 24)
#define TREE_ENTRIES_MAX (1u << 24)
#define TREE_CHUNK_LEN_MAX (64u << 20)
#define TREE_BYTES_MAX (1u << 30)

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

struct tree_acl {
	struct tree_acl_entry *e; /* sorted by (tag, id), unique */
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
	bool sparse; /* files only: extents list the data, the rest is holes */
	struct tree_extent *extents;
	size_t n_extents;
	uint32_t dev_major, dev_minor; /* character and block devices only */
	struct tree_chunk *chunks; /* files only: content, in order */
	size_t n_chunks;
	struct objid subtree; /* directories only: the id of their own tree */
};

struct tree {
	struct tree_entry *e;
	size_t n, cap;
	bool sorted; /* entries sorted by name and unique */
};

/* An empty tree. NULL with E set when out of memory. */
struct tree *tree_new(struct err *e);

/* Release T and everything it owns. T may be NULL. */
void tree_free(struct tree *t);

/* Add a deep copy of ENT (the caller keeps ENT). Entries may come in any
 * order; tree_sort or tree_encode orders them. Checks ENT (tree_entry_check).
 * 0, or -1 with E set. */
int tree_add(struct tree *t, const struct tree_entry *ent, struct err *e);

/* Check one entry against every rule of the format. 0, or -1 with
 * ERR_INVALID naming the entry and the field. */
int tree_entry_check(const struct tree_entry *ent, struct err *e);

/* Sort T's entries by name; refuse duplicate names (ERR_INVALID). 0 or -1. */
int tree_sort(struct tree *t, struct err *e);

/* Sort T (as tree_sort) and append its canonical encoding to OUT. 0, or -1
 * with E set and OUT unchanged. */
int tree_encode(struct tree *t, struct buf *out, struct err *e);

/* Decode a tree. Returns a new sorted tree, or NULL with E set: ERR_CORRUPT
 * naming the entry, field and byte offset of what is wrong, ERR_UNSUPPORTED
 * for a newer version, ERR_TOO_LARGE past TREE_BYTES_MAX. */
struct tree *tree_decode(const uint8_t *p, size_t len, struct err *e);

/* The entry called NAME in a sorted tree, or NULL. */
const struct tree_entry *tree_find(const struct tree *t, const char *name);

/* Release what ENT owns (not ENT itself). */
void tree_entry_clear(struct tree_entry *ent);

#endif
