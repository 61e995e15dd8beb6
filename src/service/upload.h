/*
 * upload.h: resumable uploads in progress. A machine may send a pack in
 * pieces ("X-Arca-Length: TOTAL", "X-Arca-Offset: N"); the pieces collect in
 * one file per (machine, pack) in the module's own folder until the whole
 * pack is there, then the caller checks and stores it. An upload in
 * progress is a lease, not a lock: one nobody touched for UPLOAD_LEASE
 * seconds is forgotten by upload_expire, and nothing else waits on it.
 *
 * The folder is the service's, never a store's (a store may be remote).
 * Thread-safe: appends to the same upload are serialised by a lock on its
 * file, so two requests that race with the same offset cannot both land.
 */
#ifndef ARCA_UPLOAD_H
#define ARCA_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

#define UPLOAD_LEASE (24 * 3600) /* an upload in progress is forgotten after a day */

struct uploads;

/* Keep uploads in progress in the folder DIR (created if missing). The
 * caller frees the handle with uploads_close. NULL with E set. */
struct uploads *uploads_open(const char *dir, struct err *e);

/* Release U (the files stay, to be resumed). U may be NULL. */
void uploads_close(struct uploads *u);

/* The bytes MACHINE's uploads in progress hold, into *HELD (what staging.h
 * counts against its bound). 0, or -1 with E set when the folder cannot be
 * read (never a guess of 0). */
int uploads_held(struct uploads *u, const char *machine, uint64_t *held, struct err *e);

/* How many bytes of pack ID from MACHINE are there, into *HAVE (0 when no
 * upload is in progress). 0, or -1 with E set. */
int uploads_received(struct uploads *u, const char *machine, const char *id, uint64_t *have,
		     struct err *e);

/* Append the bytes of the file PIECE (LEN bytes) to MACHINE's upload of
 * pack ID, which is TOTAL bytes long, at offset OFF. *HAVE is then what the
 * upload holds. 0 when appended; 1 when OFF is not what the upload holds
 * (nothing appended; *HAVE says where to resume); -1 with E set on error,
 * with ERR_INVALID (and the upload forgotten) when the pieces would run
 * past TOTAL. Durable (fsync) before it returns 0. */
int uploads_append(struct uploads *u, const char *machine, const char *id, uint64_t off,
		   uint64_t total, const char *piece, uint64_t len, uint64_t *have,
		   struct err *e);

/* Map MACHINE's upload of pack ID read-only: *DATA, *LEN, released with
 * uploads_unmap. 0, or -1 with E set (ERR_NOT_FOUND when none, ERR_INVALID
 * when it is empty). */
int uploads_map(struct uploads *u, const char *machine, const char *id, const uint8_t **data,
		size_t *len, struct err *e);
void uploads_unmap(const uint8_t *data, size_t len);

/* Forget MACHINE's upload of pack ID (stored, or refused). None is fine. */
void uploads_discard(struct uploads *u, const char *machine, const char *id);

/* Forget every file in the folder nobody touched for UPLOAD_LEASE seconds
 * before NOW (wall clock): uploads in progress, and spool files a crash left
 * behind. The count removed, or -1 with E set when the folder cannot be
 * read. */
int uploads_expire(struct uploads *u, time_t now, struct err *e);

#endif
