/*
 * catalog_pg.h: the PostgreSQL catalog's own entry point, beside the
 * contract of catalog.h. Not for the service: catalog_open is its way in
 * (an address postgresql://... or postgres://...). Tests use it to open a
 * database of their own.
 */
#ifndef ARCA_CATALOG_PG_H
#define ARCA_CATALOG_PG_H

#include "catalog.h"

/* catalog_open on the PostgreSQL database at WHERE, a libpq connection
 * string or URI. NULL with E set. */
struct catalog *catalog_pg_open(const char *where, struct err *e);

#endif
