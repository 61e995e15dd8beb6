/* secfile.c: checks of the files and folders that hold secrets; see secfile.h. */
#include "secfile.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

int secfile_check_stat(const struct stat *st, const char *path, struct err *e)
{
	uid_t me = geteuid();

	if (!S_ISREG(st->st_mode))
		return err_set(e, ERR_DENIED, "%s holds secrets but is not a regular file; replace "
			       "it with the file itself", path);
	if (st->st_uid != me)
		return err_set(e, ERR_DENIED, "%s holds secrets but belongs to user %u, not to user "
			       "%u who runs this program; run `chown %u %s` and `chmod 600 %s`",
			       path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, path, path);
	if ((st->st_mode & 077) != 0)
		return err_set(e, ERR_DENIED, "%s holds secrets but its mode %04o lets other users "
			       "%s it; run `chmod 600 %s`", path, (unsigned)(st->st_mode & 07777),
			       (st->st_mode & 044) ? "read" : "open or change", path);
	return 0;
}

int secfile_check(const char *path, struct err *e)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND, "%s does not exist", path);
		return err_errno(e, "cannot examine %s", path);
	}
	if (S_ISLNK(st.st_mode))
		return err_set(e, ERR_DENIED, "%s holds secrets but is a symbolic link; replace it "
			       "with the file it points to", path);
	return secfile_check_stat(&st, path, e);
}

int secfile_check_dir(const char *path, struct err *e)
{
	struct stat st;
	uid_t me = geteuid();

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND, "%s does not exist", path);
		return err_errno(e, "cannot examine %s", path);
	}
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_DENIED, "%s is not a folder", path);
	if (st.st_uid != me && st.st_uid != 0)
		return err_set(e, ERR_DENIED, "the folder %s holds secrets but belongs to user %u, "
			       "not to user %u who runs this program; run `chown %u %s`", path,
			       (unsigned)st.st_uid, (unsigned)me, (unsigned)me, path);
	if ((st.st_mode & 022) != 0)
		return err_set(e, ERR_DENIED, "the folder %s holds secrets but its mode %04o lets "
			       "other users add or replace files in it; run `chmod 700 %s`", path,
			       (unsigned)(st.st_mode & 07777), path);
	return 0;
}
