/*
 * verify.h: whether recovery points can be restored. For each point it
 * walks the trees from the point's record and gathers every object the
 * point references (its record, its trees, its files' chunks), each
 * distinct object once however many points share it; asks the service's
 * catalog where each lies and its store whether each pack is really there;
 * and, when asked to read data, downloads a share of the distinct data
 * objects (every tree is read anyway: the walk needs them) and opens them
 * with the machine's keys, which authenticates them. The damaged points
 * are named with the paths of the files and folders that reference a
 * missing or damaged object. Nothing here writes to the terminal: progress
 * goes through the events of the options.
 */
#ifndef ARCA_AGENT_VERIFY_H
#define ARCA_AGENT_VERIFY_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "repo.h"

#define VERIFY_FILES_MAX 1000 /* paths listed per damaged point; the rest counted */

struct verify_result {
	uint64_t points;          /* points verified */
	uint64_t objects;         /* distinct objects referenced */
	uint64_t trees;           /* of which trees and records, all read */
	uint64_t data_objects;    /* of which file chunks */
	uint64_t data_read;       /* chunks downloaded and opened */
	uint64_t bytes_read;      /* sealed bytes downloaded for them */
	uint64_t packs;           /* distinct packs asked about */
	uint64_t missing;         /* objects not in the catalog, or their pack not in the store */
	uint64_t damaged;         /* objects that failed authentication or their checks */
	uint64_t damaged_points;  /* points that reference a missing or damaged object */
	double seconds;
	/* [{"id", "created", "files": [{"path", "problem"}], "more_files": N}],
	 * one per damaged point; owned by the caller (json_decref). */
	json_t *report;
};

struct verify_events {
	void *ctx;
	/* Progress: R's counters so far, T seconds in; LAST once at the end. */
	void (*progress)(void *ctx, const struct verify_result *r, double t, int last);
};

struct verify_opts {
	int read_data;   /* download and open data objects */
	double sample;   /* with read_data: percent of the distinct data objects read, (0, 100] */
	const struct verify_events *ev; /* or NULL */
};

/* Verify the recovery points POINTS (entries of the service's list, each
 * with "id", "meta" and "created") read through R (which verify_run sets
 * to read trees from the service when O->read_data). 0 with RES filled
 * whether or not damage was found (RES->damaged_points says); -1 with E set
 * when the verification could not be done (the service could not be
 * asked, or its store could not tell whether a pack is there): an error
 * is never reported as damage, nor damage as an error. */
int verify_run(struct repo *r, json_t *points, const struct verify_opts *o,
	       struct verify_result *res, struct err *e);

#endif
