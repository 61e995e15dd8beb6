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

struct state;

enum conflict { CONFLICT_OVERWRITE, CONFLICT_KEEP_BOTH, CONFLICT_SKIP };

struct restore_opts {
	const char *target;
	enum conflict on_conflict;
	int no_permissions;
	char **paths; /* absolute paths within the recovery point; none: all */
	size_t n_paths;
	int progress;
	const struct state *state; /* for more connections (parallel restore), or NULL */
};

struct restore_result {
	uint64_t files, dirs, others, links, bytes, skipped_existing;
	double seconds;
	json_t *failed; /* [{"path", "error"}] */
};

/* Restore the tree ROOT. 0 when the walk finished (check RES->failed for a
 * partial restore), -1 with E set when it could not go on. */
int restore_run(struct repo *r, const struct objid *root, const struct restore_opts *o,
		struct restore_result *res, struct err *e);

/* Find the entry at PATH ("/" for the root folder) below ROOT. Returns the
 * decoded tree holding it (caller frees) with *ENT pointing into it, or NULL
 * with E set (ERR_NOT_FOUND naming the path). For "/" *ENT is NULL and the
 * root tree is returned. */
struct tree *restore_lookup(struct repo *r, const struct objid *root, const char *path,
			    const struct tree_entry **ent, struct err *e);

#endif
