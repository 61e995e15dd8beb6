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

struct backup_opts {
	char **paths; /* absolute, normalised */
	size_t n_paths;
	char **excludes, **includes; /* fnmatch patterns on the path and the name */
	size_t n_excludes, n_includes;
	int progress; /* a progress line on stderr */
};

struct backup_result {
	char point[64];
	uint64_t files_new, files_changed, files_unchanged, dirs, others;
	uint64_t bytes_read, bytes_total, bytes_stored, packs;
	double seconds;
	json_t *skipped; /* [{"path", "error"}] */
};

/* Back up. 0 when a recovery point was committed (check RES->skipped for a
 * partial one), -1 with E set when none was (ERR_LIMIT for the cache
 * folder's free space, with both numbers). */
int backup_run(struct state *s, const struct backup_opts *o, struct backup_result *res,
	       struct err *e);

#endif
