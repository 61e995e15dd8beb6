/*
 * verify.h: the stores checked against the catalog without any key (`arcad
 * verify`). Every pack the catalog lists must be in its vault's region's
 * store, and for a GRS vault in the paired region's too, with the listed
 * size and bytes whose SHA-256 is its id; a pack a store holds that the
 * catalog neither lists nor waits to delete is a stray. A GRS pack still
 * waiting in the replication queue (replicate.h) has no pair copy yet:
 * "replication pending", counted, not damage; a pair copy it does have is
 * checked like any other. The recovery
 * points (live or soft-deleted) that reference an object in a bad pack, or
 * an object the catalog has no place for, or whose references the catalog
 * lost, are named as damaged, with their machines.
 *
 * Reads only: the catalog through its contract (safe beside a running
 * service, as every admin command), the stores through store_stat,
 * store_get (streamed into a SHA-256) and store_list, so any backend is
 * checked alike. A read that fails is an error of the whole run, never a
 * clean or a damaged answer.
 */
#ifndef ARCA_VERIFY_H
#define ARCA_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"

struct service;

/* What is wrong with one copy of a listed pack. */
enum verify_problem {
	VERIFY_MISSING,  /* not in the store */
	VERIFY_SIZE,     /* another size than the catalog's */
	VERIFY_CHECKSUM, /* the right size, but its SHA-256 is not its id */
};

/* One bad copy of a pack the catalog lists. */
struct verify_bad {
	char pack[65];
	char region[65];
	catalog_id vault_id, machine_id;
	enum verify_problem problem;
	int64_t size;       /* the catalog's */
	int64_t size_found; /* the store's (-1 when missing) */
};

/* A pack in a store that the catalog neither lists nor waits to delete. */
struct verify_stray {
	char pack[65];
	char region[65];
	int64_t size;
};

/* A recovery point that cannot be restored whole from what is stored. */
struct verify_point {
	catalog_id vault_id, machine_id, point_id;
	char vault[51], machine[65]; /* names */
	int64_t created, deleted;    /* deleted: when soft-deleted, 0 when live */
	int64_t objects_damaged;     /* references to objects in a bad pack */
	int64_t objects_unplaced;    /* references to objects with no recorded pack */
	bool refs_lost;              /* the catalog holds no references for it */
};

struct verify_report {
	int64_t vaults, machines, points;        /* checked */
	int64_t packs, copies, bytes;            /* listed packs; copies and bytes read */
	int64_t bytes_total;                     /* bytes the listed copies should hold */
	int64_t pending; /* GRS copies not made yet: packs still in the replication
			  * queue whose pair copy is absent (not damage) */
	struct verify_bad *bad;
	size_t n_bad;
	struct verify_stray *strays;
	size_t n_strays;
	struct verify_point *damaged;
	size_t n_damaged;
};

/* Told as the check goes, after each copy and every few MiB inside one:
 * copies checked of all, and bytes read of all. */
typedef void (*verify_progress_fn)(void *arg, int64_t copies, int64_t copies_total,
				   int64_t bytes, int64_t bytes_total);

struct verify_opts {
	const char *subscription; /* whose vaults */
	const char *vault;        /* a vault's name, or NULL for every vault */
	verify_progress_fn progress; /* may be NULL */
	void *arg;
};

/* Check S's stores against its catalog as O says, into R (the caller frees
 * it with verify_report_free, also after a failure). 0 when the check ran
 * to the end, whatever it found; -1 with E set when a read failed (the
 * catalog, a store: ERR_IO) or the vault is unknown (ERR_NOT_FOUND). */
int verify_run(struct service *s, const struct verify_opts *o, struct verify_report *r,
	       struct err *e);

/* Whether R found nothing wrong. */
bool verify_clean(const struct verify_report *r);

/* The word for P: "missing", "size", "checksum". */
const char *verify_problem_name(enum verify_problem p);

void verify_report_free(struct verify_report *r);

#endif
