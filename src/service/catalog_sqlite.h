/*
 * catalog_sqlite.h: the SQLite catalog's own entry point, beside the
 * contract of catalog.h. Not for the service: catalog_open is its way in.
 * Tests use it to put a database under a VFS of their own (one that fails
 * reads, writes and syncs on purpose) and check that every catalog call
 * reports the failure.
 */
#ifndef ARCA_CATALOG_SQLITE_H
#define ARCA_CATALOG_SQLITE_H

#include "catalog.h"

/* catalog_open on the SQLite file PATH, through the SQLite VFS registered
 * as VFS (NULL: SQLite's default). NULL with E set. */
struct catalog *catalog_sqlite_open(const char *path, const char *vfs, struct err *e);

#endif
