/*
 * backup.h: one backup of the selected paths to a new recovery point
 * (ARCHITECTURE.md, "Data flow of a backup").
 */
#ifndef ARCA_AGENT_BACKUP_H
#define ARCA_AGENT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "state.h"

struct backup_result {
	char point[64];
	uint64_t files_new, files_changed, files_unchanged, dirs, others;
	uint64_t bytes_read, bytes_total, bytes_stored, packs;
	double seconds;
	json_t *skipped; /* [{"path", "error"}] */
};

/* What a backup tells whoever runs it, as it goes, from the thread that
 * called backup_run; the engine itself never writes to the terminal. Any
 * function may be NULL. */
struct backup_events {
	void *ctx;
	/* PATH was left out of the recovery point, for WHY (also in
	 * RES->skipped). */
	void (*skipped)(void *ctx, const char *path, const char *why);
	/* Something about the cache folder that costs speed, never data. */
	void (*note)(void *ctx, const char *why);
	/* The counts so far, SECONDS after the start: often while files are
	 * read, and once with LAST set when the recovery point is committed. */
	void (*progress)(void *ctx, const struct backup_result *res, double seconds, int last);
};

struct backup_opts {
	char **paths; /* absolute, normalised */
	size_t n_paths;
	char **excludes, **includes; /* fnmatch patterns on the path and the name */
	size_t n_excludes, n_includes;
	const struct backup_events *ev; /* or NULL: nothing is reported as it goes */
};

/* Back up. 0 when a recovery point was committed (check RES->skipped for a
 * partial one), -1 with E set when none was (ERR_LIMIT for the cache
 * folder's free space, with both numbers). */
int backup_run(struct state *s, const struct backup_opts *o, struct backup_result *res,
	       struct err *e);

#endif
