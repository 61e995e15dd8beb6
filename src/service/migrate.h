/*
 * migrate.h: a whole service moved to other backends (`arcad migrate`):
 * the embedded defaults (SQLite, a folder per region) to PostgreSQL and an
 * S3 store, back, or any other pair, through the contracts alone: the
 * catalog's rows through catalog_tables, catalog_rows_read and
 * catalog_rows_write, the packs through store_read and store_put.
 *
 * The order makes a run resumable: first the packs, each streamed from
 * the source's store of its region (and its GRS pair's) to the
 * destination's, its bytes hashed on the way and refused unless their
 * SHA-256 is the pack's id, a pack the destination has at its size
 * skipped; then the catalog, in one transaction of the destination that
 * an interrupted run leaves empty; last the check: each table's rows (a
 * digest of them, not only their number) and each pack's size in the
 * destination's store. The source is only read.
 */
#ifndef ARCA_MIGRATE_H
#define ARCA_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#include "err.h"

struct service;

struct migrate_report {
	int64_t tables, rows;
	int64_t packs;          /* listed packs */
	int64_t copies;         /* pack copies the destination's stores hold now */
	int64_t copied, skipped; /* of those: copied now, found there already */
	int64_t bytes;          /* bytes copied now */
	double seconds;
};

/* Told after each pack copy (or one found there): copies done of all, and
 * bytes done of all. */
typedef void (*migrate_progress_fn)(void *arg, int64_t done, int64_t total, int64_t bytes,
				    int64_t bytes_total);

/* What refuses a run before anything is copied: TO's catalog holding a
 * row (ERR_EXISTS), tables or columns that differ (ERR_INVALID: another
 * arcad's schema), a region of FROM that TO has not, or whose GRS pair
 * differs (ERR_INVALID). 0 with TO's tables in *TABLES (NULL: not wanted;
 * free with catalog_tables_free); -1 with E set. */
int migrate_check(struct service *from, struct service *to, struct catalog_table **tables,
		  size_t *n, struct err *e);

/* Move FROM's catalog and packs to TO (both open: service_open_stores),
 * as said above, into R, after the refusals of migrate_check. A pack of
 * the source that is missing or damaged fails the run (ERR_NOT_FOUND,
 * ERR_CORRUPT): run `arcad verify` on it. 0; -1 with E set. */
int migrate_run(struct service *from, struct service *to, migrate_progress_fn progress,
		void *arg, struct migrate_report *r, struct err *e);

#endif
