/*
 * restore.h: give back a recovery point, or chosen paths of it, under a
 * target folder (ARCHITECTURE.md, "Data flow of a restore"). Every object
 * is authenticated as it is read; a file whose content fails is reported by
 * name and left out, and the rest is restored. Entries are created with
 * *at() calls relative to folders opened without following symlinks, so no
 * name in a tree, and no symlink already in the target, leads outside it.
 */
#ifndef ARCA_AGENT_RESTORE_H
#define ARCA_AGENT_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "repo.h"

struct snapshot;
struct state;

enum conflict { CONFLICT_OVERWRITE, CONFLICT_KEEP_BOTH, CONFLICT_SKIP };

/* What a restore tells whoever runs it, as it goes; the engine never
 * writes to the terminal. Calls come from the restore's threads, one at a
 * time (the engine serialises them). Any function may be NULL. */
struct restore_events {
	void *ctx;
	/* PATH (relative to the target) was not restored, for WHY (also in
	 * RES->failed). */
	void (*failed)(void *ctx, const char *path, const char *why);
	/* FILES and BYTES restored so far: after each folder, and once with
	 * LAST set at the end. */
	void (*progress)(void *ctx, uint64_t files, uint64_t bytes, int last);
};

struct restore_opts {
	const char *target;
	enum conflict on_conflict;
	int no_permissions;
	char **paths; /* absolute paths within the recovery point; none: all */
	size_t n_paths;
	const struct restore_events *ev; /* or NULL: nothing is reported as it goes */
	const struct state *state; /* for more connections (parallel restore), or NULL */
};

struct restore_result {
	uint64_t files, dirs, others, links, bytes, skipped_existing;
	double seconds;
	json_t *failed; /* [{"path", "error"}] */
};

/* Restore the recovery point SN (its paths O->paths, or all of it) read
 * through R, which this thread uses; more threads read through repos of
 * their own when O->state is set. 0 when the walk finished (check
 * RES->failed for a partial restore), -1 with E set when it could not go
 * on. */
int restore_run(const struct snapshot *sn, struct repo *r, const struct restore_opts *o,
		struct restore_result *res, struct err *e);

#endif
