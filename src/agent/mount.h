/*
 * mount.h: a machine's recovery points as a read-only file system (FUSE,
 * the low-level API of libfuse3): by-time/<service time>/, by-id/<id>/ and
 * latest (a symbolic link to the newest point's by-time folder), each
 * point holding the backed-up paths as they were (modes, owners, times,
 * symbolic links, hard links as one inode number, xattrs, sizes). Every
 * folder, entry and byte comes through the snapshot reader (snapshot.h),
 * the one restore, `arca ls` and `arca find` use: the mount adds only
 * inode numbers, a few decoded folders, read-ahead and the chunk cache
 * below the repo (chunkcache.h). The list of points is asked for again
 * when by-time, by-id or latest are looked at, at most every few seconds,
 * so points the resident agent adds appear without remounting. A chunk
 * that is missing or fails authentication fails the read of its file
 * (EIO) and is reported through the events with the file's path; the
 * mount stays up. Every change is refused with EROFS.
 */
#ifndef ARCA_AGENT_MOUNT_H
#define ARCA_AGENT_MOUNT_H

#include <stdint.h>

#include <jansson.h>

#include "chunkcache.h"
#include "err.h"
#include "repo.h"
#include "state.h"

/* Where the points come from. Everything is borrowed for the mount's life. */
struct mount_source {
	const struct state *s;     /* connections are made from it, one a thread */
	const struct keys *keys;   /* the keys of the machine read */
	const char *machine;       /* another machine's name, or NULL for ours */
	struct tree_cache *tc;     /* shared tree cache, or NULL */
	struct chunk_cache *cc;    /* the chunk cache (required) */
	const json_t *points;      /* the service's list when the mount starts */
};

/* How the mount reports to a person; LOG may be NULL. */
struct mount_events {
	/* A read that failed (the message names the path and why), a list of
	 * points that could not be fetched again, and the like. */
	void (*log)(void *arg, const char *msg);
	/* Called once the file system is mounted (before serving). */
	void (*ready)(void *arg, const char *mountpoint);
	void *arg;
};

/* Whether this process can mount with FUSE: 0, or -1 with E set to what
 * is missing (the kernel module, /dev/fuse, the permission to open it, or
 * fusermount3 for a user other than root) and what to install or do. */
int mount_check_fuse(struct err *e);

/* Mount SRC's points on MOUNTPOINT and serve them until it is unmounted
 * or the process gets SIGINT, SIGTERM or SIGHUP (then it unmounts itself).
 * Without FOREGROUND it goes to the background once mounted (the caller's
 * process returns through exit(0) in fuse_daemonize). 0 after a clean end,
 * or -1 with E set when it could not mount. */
int mount_serve(const struct mount_source *src, const char *mountpoint, int foreground,
		const struct mount_events *ev, struct err *e);

/* Unmount MOUNTPOINT: umount2 as root, else fusermount3 -u. 0, or -1 with
 * E set (not mounted, busy: with what to do). */
int mount_unmount(const char *mountpoint, struct err *e);

#endif
