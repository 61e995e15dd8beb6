/*
 * secfile.h: whether a file or folder that holds secrets is safe to trust.
 * A file of secrets (a private key, the master key, the catalog key) must
 * be a regular file owned by the user the program runs as, with no access
 * at all for the group or others (mode 0600 or 0400); the folder that holds
 * such files must belong to that user or to root and be writable by no one
 * else, or another user could replace the files in it. The checks only
 * look (stat); they never change a mode. Each refusal names the file and
 * the command that fixes it.
 */
#ifndef ARCA_SECFILE_H
#define ARCA_SECFILE_H

#include <sys/stat.h>

#include "err.h"

/* Whether ST (of the file PATH, for messages) passes as a file of secrets
 * for the effective user. 0, or -1 with ERR_DENIED and a message naming
 * PATH and the chmod or chown to run. */
int secfile_check_stat(const struct stat *st, const char *path, struct err *e);

/* The same for the file PATH (symbolic links are not followed: a link is
 * refused). ERR_NOT_FOUND when there is no such file, ERR_IO when it cannot
 * be examined. */
int secfile_check(const char *path, struct err *e);

/* Whether the folder PATH may hold files of secrets: a folder owned by the
 * effective user or by root, not writable by its group or others. 0, or -1
 * with ERR_DENIED (ERR_NOT_FOUND, ERR_IO) as secfile_check. */
int secfile_check_dir(const char *path, struct err *e);

#endif
