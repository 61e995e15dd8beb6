/*
 * store.h: where packs live. The service stores each pack whole, under its
 * id (the SHA-256 of its bytes), in the store of the vault's region; it
 * never modifies a pack, only adds and (later, when collecting space)
 * deletes. This header is the interface; store_fs.c is the embedded
 * implementation, a local folder per region. Every write is atomic: a
 * reader sees a whole pack or none.
 */
#ifndef ARCA_STORE_H
#define ARCA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct store;

/* Open the folder ROOT (created if missing) as a store. NULL with E set. */
struct store *store_fs_open(const char *root, struct err *e);
void store_close(struct store *s);

/* Move the complete file TMP_PATH (on the same file system, e.g. from
 * store_tmp_dir) into the store as pack ID (64 hex digits): fsync, rename,
 * fsync of the folder. A pack already there is kept and TMP_PATH removed
 * (packs are content-addressed, so both are the same bytes). 0 or -1. */
int store_put_file(struct store *s, const char *id, const char *tmp_path, struct err *e);

/* Copy pack ID from store FROM into store TO (the GRS copy to the paired
 * region), atomically as store_put_file. A pack TO has already is kept.
 * 0 or -1. */
int store_copy(struct store *from, struct store *to, const char *id, struct err *e);

/* Whether pack ID is stored, and its size. */
bool store_has(struct store *s, const char *id, uint64_t *size);

/* Open pack ID for reading: a file descriptor the caller closes, and its
 * size. -1 with ERR_NOT_FOUND when absent. */
int store_open(struct store *s, const char *id, uint64_t *size, struct err *e);

/* Remove pack ID (the collector, once nothing refers to it). A pack that
 * is not there is fine. 0 or -1. */
int store_remove(struct store *s, const char *id, struct err *e);

/* A folder on the store's file system for uploads in progress. */
const char *store_tmp_dir(const struct store *s);

#endif
