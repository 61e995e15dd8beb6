/*
 * restore.c: trees back into folders and files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "idmap.h"
#include "restore.h"
#include "snapshot.h"
#include "state.h"

int mkdirs(const char *dir, int mode, struct err *e);

struct task;

/* Owner names to local ids, looked up once per name. */
struct idname {
	char *name;
	uint32_t id;
	int found;
};

/* The names this restore has looked up, under their own MU (a lookup asks
 * the system, which may take a while: not under the restore's lock). */
struct owners {
	pthread_mutex_t mu;
	struct idname *users, *groups;
	size_t n_users, n_groups;
};

#define THREADS 4 /* restore threads: the work is mostly waiting on files and the network */

/* The folders a thread found and has not restored yet: it takes its own
 * newest first, so it walks its part of the tree depth first in name
 * order, the order the backup wrote the content in, and its windows of
 * small files lie close together in the packs; an idle thread takes
 * another's oldest, the top of a large part of the tree. */
struct stack {
	struct task *top, *bottom;
	size_t n;
};

/* What the restore threads share, under MU. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct idmap links; /* link id -> index into link_paths */
	char **link_paths;  /* first restored path of each link group, relative */
	size_t n_links;
	struct stack stacks[THREADS]; /* folders to restore, a stack per thread */
	size_t queued;      /* folders in the stacks */
	size_t outstanding; /* folders queued or in progress */
	int fatal, stop;
	struct err err;
	struct owners owners;
};

/* One thread's view of the restore: its own connection and reader. */
struct rs {
	const struct snapshot *sn;
	struct repo *r; /* this thread's */
	const struct restore_opts *o;
	struct restore_result *res;
	int rootfd;
	struct shared *sh;
	struct task *current; /* the folder this thread is restoring, or NULL */
	int me;               /* this thread's stack */
	int fresh;            /* whether this restore made it (task.fresh) */
	int is_root;
	/* The small files of the folders this thread is restoring, in the
	 * order they are written; their content is fetched ahead a window at
	 * a time ([pos, win) is fetched), so many files come in a few
	 * requests. */
	const struct tree_entry **feed;
	size_t n_feed, cap_feed, pos, win;
	uint64_t ahead; /* bytes of the feed past the window */
};

/* A folder whose entries are still to be restored (REL, relative to the
 * target), and whose own metadata goes back once they all are. */
struct task {
	char *rel;
	struct tree *holder; /* the folder's own entry, copied */
	struct task *parent, *up, *down; /* down: toward the stack's bottom */
	int pending; /* this folder's processing, plus its unfinished subfolders */
	int fresh;   /* made by this restore: nothing in it can conflict */
};

#define COUNT(s, field, n) __atomic_add_fetch(&(s)->res->field, (n), __ATOMIC_RELAXED)

static void failed(struct rs *s, const char *path, const char *why)
{
	const struct restore_events *ev = s->o->ev;

	pthread_mutex_lock(&s->sh->mu);
	json_array_append_new(s->res->failed, json_pack("{s:s,s:s}", "path", path, "error", why));
	if (ev && ev->failed)
		ev->failed(ev->ctx, path, why);
	pthread_mutex_unlock(&s->sh->mu);
}

static void progress(struct rs *s, int last)
{
	const struct restore_events *ev = s->o->ev;

	if (ev == NULL || ev->progress == NULL)
		return;
	pthread_mutex_lock(&s->sh->mu);
	ev->progress(ev->ctx, __atomic_load_n(&s->res->files, __ATOMIC_RELAXED),
		     __atomic_load_n(&s->res->bytes, __ATOMIC_RELAXED), last);
	pthread_mutex_unlock(&s->sh->mu);
}

static int lookup_locked(struct owners *o, int group, const char *name, uint32_t *id);

/* Whether this machine knows owner NAME (a group when GROUP), with its id
 * in *ID; each name is asked of the system once per restore. */
static int lookup(struct rs *s, int group, const char *name, uint32_t *id)
{
	int r;

	pthread_mutex_lock(&s->sh->owners.mu);
	r = lookup_locked(&s->sh->owners, group, name, id);
	pthread_mutex_unlock(&s->sh->owners.mu);
	return r;
}

static int lookup_locked(struct owners *o, int group, const char *name, uint32_t *id)
{
	struct idname **list = group ? &o->groups : &o->users, *g;
	size_t *n = group ? &o->n_groups : &o->n_users;
	char tmp[16384];

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0) {
			*id = (*list)[i].id;
			return (*list)[i].found;
		}
	if ((g = realloc(*list, (*n + 1) * sizeof(*g))) == NULL)
		return 0;
	*list = g;
	g[*n].name = strdup(name);
	g[*n].found = 0;
	if (group) {
		struct group gr, *r = NULL;

		if (getgrnam_r(name, &gr, tmp, sizeof(tmp), &r) == 0 && r)
			g[*n].id = r->gr_gid, g[*n].found = 1;
	} else {
		struct passwd pw, *r = NULL;

		if (getpwnam_r(name, &pw, tmp, sizeof(tmp), &r) == 0 && r)
			g[*n].id = r->pw_uid, g[*n].found = 1;
	}
	if (g[*n].name == NULL)
		return 0;
	*id = g[*n].id;
	return g[(*n)++].found;
}

static void owners_init(struct owners *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->mu, NULL);
}

static void owners_free(struct owners *o)
{
	for (size_t i = 0; i < o->n_users; i++)
		free(o->users[i].name);
	for (size_t i = 0; i < o->n_groups; i++)
		free(o->groups[i].name);
	free(o->users);
	free(o->groups);
	pthread_mutex_destroy(&o->mu);
}

/* The local id of the entry's owner: by name when this machine knows the
 * name (as tar and rsync do), else the recorded number. */
static uint32_t uid_of(struct rs *s, const struct tree_entry *x)
{
	uint32_t id;

	return x->user && lookup(s, 0, x->user, &id) ? id : x->uid;
}

static uint32_t gid_of(struct rs *s, const struct tree_entry *x)
{
	uint32_t id;

	return x->group && lookup(s, 1, x->group, &id) ? id : x->gid;
}

/* The kernel's posix_acl xattr value of A. */
static size_t acl_value(const struct tree_acl *a, uint8_t *out)
{
	out[0] = 2, out[1] = out[2] = out[3] = 0;
	for (size_t i = 0; i < a->n; i++) {
		uint8_t *p = out + 4 + 8 * i;
		uint32_t id = (a->e[i].tag == TREE_ACL_USER || a->e[i].tag == TREE_ACL_GROUP)
				      ? a->e[i].id : 0xffffffffu;

		p[0] = a->e[i].tag, p[1] = 0, p[2] = a->e[i].perm, p[3] = 0;
		p[4] = (uint8_t)id, p[5] = (uint8_t)(id >> 8), p[6] = (uint8_t)(id >> 16);
		p[7] = (uint8_t)(id >> 24);
	}
	return 4 + 8 * a->n;
}

static int set_acl(int fd, const char *proc, const char *name, const struct tree_acl *a)
{
	uint8_t *v;
	size_t n;
	int rc;

	if (a->n == 0)
		return 0;
	if ((v = malloc(4 + 8 * a->n)) == NULL)
		return -1;
	n = acl_value(a, v);
	rc = fd >= 0 ? fsetxattr(fd, name, v, n, 0) : lsetxattr(proc, name, v, n, 0);
	free(v);
	return rc;
}

/* Give X's metadata back to the entry NAME in DIRFD (FD open on it for
 * files and folders, else -1). Times last. */
static void apply_meta(struct rs *s, int dirfd, const char *name, int fd,
		       const struct tree_entry *x, const char *path)
{
	char proc[64 + 256], why[300];
	struct timespec ts[2] = { { x->atime.sec, x->atime.nsec },
				  { x->mtime.sec, x->mtime.nsec } };
	int link = x->type == TREE_SYMLINK;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	if (!s->o->no_permissions) {
		if (s->is_root) {
			int r = fd >= 0 ? fchown(fd, uid_of(s, x), gid_of(s, x))
					: fchownat(dirfd, name, uid_of(s, x), gid_of(s, x),
						   AT_SYMLINK_NOFOLLOW);

			if (r != 0) {
				snprintf(why, sizeof(why), "owner not restored: %s", strerror(errno));
				failed(s, path, why);
			}
		}
		if (!link && (fd >= 0 ? fchmod(fd, x->mode) : fchmodat(dirfd, name, x->mode, 0)) != 0) {
			snprintf(why, sizeof(why), "permissions not restored: %s", strerror(errno));
			failed(s, path, why);
		}
		if (!link && (set_acl(fd, proc, "system.posix_acl_access", &x->acl_access) ||
			      set_acl(fd, proc, "system.posix_acl_default", &x->acl_default))) {
			snprintf(why, sizeof(why), "ACL not restored: %s", strerror(errno));
			failed(s, path, why);
		}
	}
	for (size_t i = 0; i < x->n_xattrs; i++) {
		const struct tree_xattr *a = &x->xattrs[i];
		int r = fd >= 0 ? fsetxattr(fd, a->name, a->value ? a->value : (const uint8_t *)"",
					    a->len, 0)
				: lsetxattr(proc, a->name, a->value ? a->value : (const uint8_t *)"",
					    a->len, 0);

		if (r != 0) {
			snprintf(why, sizeof(why), "extended attribute %.64s not restored: %s",
				 a->name, strerror(errno));
			failed(s, path, why);
		}
	}
	if ((fd >= 0 ? futimens(fd, ts) : utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW)) != 0) {
		snprintf(why, sizeof(why), "times not restored: %s", strerror(errno));
		failed(s, path, why);
	}
}

/* Open the folder REL (relative to the target) without leaving it and
 * without following any symlink. */
static int open_beneath(int rootfd, const char *rel)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					   RESOLVE_NO_MAGICLINKS };

	if (rel[0] == '\0')
		return dup(rootfd);
	return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

struct writer {
	int fd;
	const struct tree_entry *x;
	size_t ext;    /* current extent */
	uint64_t done; /* bytes written in it, or in the file when dense */
	struct rs *s;
	const char *path;
	int bad;
};

static int write_chunk(void *arg, size_t i, const uint8_t *p, size_t len, const struct err *e)
{
	struct writer *w = arg;

	(void)i;
	if (p == NULL) {
		char why[ERR_MSG_MAX + 64];

		snprintf(why, sizeof(why), "not restored, its content failed verification: %s",
			 e->msg);
		failed(w->s, w->path, why);
		w->bad = 1;
		return -1;
	}
	while (len > 0) {
		uint64_t off, room;
		ssize_t n;

		if (w->x->sparse) {
			if (w->ext >= w->x->n_extents)
				goto overflow;
			off = w->x->extents[w->ext].off + w->done;
			room = w->x->extents[w->ext].len - w->done;
		} else {
			off = w->done;
			room = w->x->size - w->done;
		}
		if (room == 0)
			goto overflow;
		n = pwrite(w->fd, p, len < room ? len : (size_t)room, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char why[256];

			snprintf(why, sizeof(why), "write failed: %s", strerror(errno));
			failed(w->s, w->path, why);
			w->bad = 1;
			return -1;
		}
		p += n, len -= (size_t)n;
		w->done += (uint64_t)n;
		COUNT(w->s, bytes, (uint64_t)n);
		if (w->x->sparse && w->done == w->x->extents[w->ext].len)
			w->ext++, w->done = 0;
	}
	progress(w->s, 0);
	return 0;
overflow:
	failed(w->s, w->path, "not restored: its chunks hold more data than its size");
	w->bad = 1;
	return -1;
}

/* A free name for keep-both: NAME.restored, NAME.restored-2, ... */
static int other_name(int dirfd, const char *name, char *out, size_t size)
{
	struct stat st;

	for (int i = 1; i < 1000; i++) {
		if (i == 1)
			snprintf(out, size, "%.230s.restored", name);
		else
			snprintf(out, size, "%.230s.restored-%d", name, i);
		if (fstatat(dirfd, out, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
			return 0;
	}
	return -1;
}

static int restore_tree(struct rs *s, int dirfd, const char *rel, const struct tree *t,
			struct err *e);

/* Make way for X's entry NAME in DIRFD, as --on-conflict says, when
 * something is there already. 1 to go on (*NAME may now be ALT, and
 * *EXISTS says whether a folder to reuse is there), 0 when the entry is
 * skipped or failed (reported). In a FRESH folder, one this restore made,
 * nothing can be there: no need to look (a stat per entry is a fair part
 * of restoring many small files). Entries are still created exclusively,
 * so were something there after all, it would fail, not be overwritten. */
static int make_way(struct rs *s, int dirfd, const struct tree_entry *x, const char *path,
		    int fresh, const char **name, char *alt, size_t alt_size, int *exists)
{
	char why[ERR_MSG_MAX + 64];
	struct stat st;

	if (fresh) {
		*exists = 0;
		return 1;
	}
	*exists = fstatat(dirfd, *name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!*exists || (x->type == TREE_DIR && S_ISDIR(st.st_mode)))
		return 1;
	if (s->o->on_conflict == CONFLICT_SKIP) {
		COUNT(s, skipped_existing, 1);
		return 0;
	}
	if (s->o->on_conflict == CONFLICT_KEEP_BOTH) {
		if (other_name(dirfd, x->name, alt, alt_size) != 0) {
			failed(s, path, "no free name to keep both");
			return 0;
		}
		*name = alt;
	} else if (unlinkat(dirfd, *name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) {
		snprintf(why, sizeof(why), "cannot replace what is there: %s", strerror(errno));
		failed(s, path, why);
		return 0;
	}
	*exists = 0;
	return 1;
}

/* Make folder X as NAME in DIRFD and queue it: its entries are restored by
 * whichever thread takes it, its own metadata once they all are. 0 (a
 * failure to make it is reported), or -1 with E set when out of memory. */
static int queue_dir(struct rs *s, int dirfd, const char *rel, const char *name, int exists,
		     const struct tree_entry *x, const char *path, struct err *e)
{
	char why[ERR_MSG_MAX + 64], sub_rel[8192];
	struct task *t;
	int fd;

	/* Something of that name already there though none was seen (in a
	 * fresh folder, when nested paths are restored at once) is taken as
	 * an existing entry: a folder is reused, anything else refused below. */
	if (!exists && mkdirat(dirfd, name, 0700) != 0) {
		if (errno == EEXIST) {
			exists = 1;
		} else {
			snprintf(why, sizeof(why), "cannot make the folder: %s", strerror(errno));
			failed(s, path, why);
			return 0;
		}
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		failed(s, path, "refused: not a folder (a symlink would lead outside the target)");
		return 0;
	}
	close(fd);
	snprintf(sub_rel, sizeof(sub_rel), "%s%s%s", rel, rel[0] ? "/" : "", name);
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->rel = strdup(sub_rel)) == NULL ||
	    (t->holder = tree_new(e)) == NULL || tree_add(t->holder, x, e) != 0) {
		if (t) {
			free(t->rel);
			tree_free(t->holder);
		}
		free(t);
		return err_set(e, ERR_NOMEM, "out of memory restoring %s", path);
	}
	t->pending = 1;
	t->fresh = !exists;
	t->parent = s->current;
	pthread_mutex_lock(&s->sh->mu);
	if (t->parent)
		t->parent->pending++;
	{
		struct stack *st = &s->sh->stacks[s->me];

		t->up = NULL;
		t->down = st->top;
		if (st->top)
			st->top->up = t;
		else
			st->bottom = t;
		st->top = t;
		st->n++;
	}
	s->sh->queued++;
	s->sh->outstanding++;
	pthread_cond_signal(&s->sh->cv);
	pthread_mutex_unlock(&s->sh->mu);
	return 0;
}

/* The key of hard-link group X->link_id in the shared map. */
static struct objid link_key(const struct tree_entry *x)
{
	struct objid key = { { 0 } };

	memcpy(key.b, &x->link_id, sizeof(x->link_id));
	key.b[31] = 1;
	return key;
}

/* Link NAME in DIRFD to the first restored path of X's hard-link group. 1
 * when linked, 0 when X is to be restored as a file of its own. */
static int link_to_first(struct rs *s, int dirfd, const char *name, const struct tree_entry *x)
{
	struct objid key = link_key(x);
	char *first_path = NULL, *base;
	const char *first;
	uint64_t *slot;
	int from, linked = 0;

	pthread_mutex_lock(&s->sh->mu);
	if ((slot = idmap_get(&s->sh->links, &key)) != NULL)
		first_path = strdup(s->sh->link_paths[*slot]);
	pthread_mutex_unlock(&s->sh->mu);
	if (first_path == NULL)
		return 0;
	base = strrchr(first_path, '/');
	first = base ? base + 1 : first_path;
	if (base)
		*base = '\0';
	from = open_beneath(s->rootfd, base ? first_path : "");
	if (from >= 0 && linkat(from, first, dirfd, name, 0) == 0)
		linked = 1;
	if (from >= 0)
		close(from);
	free(first_path);
	return linked;
}

/* Remember REL/NAME as the first restored path of X's hard-link group. */
static void link_remember(struct rs *s, const char *rel, const char *name,
			  const struct tree_entry *x)
{
	struct objid key = link_key(x);
	char first[8192];
	uint64_t *slot;
	bool added;

	snprintf(first, sizeof(first), "%s%s%s", rel, rel[0] ? "/" : "", name);
	pthread_mutex_lock(&s->sh->mu);
	if ((slot = idmap_put(&s->sh->links, &key, &added)) != NULL && added) {
		char **g = realloc(s->sh->link_paths, (s->sh->n_links + 1) * sizeof(*g));

		if (g) {
			s->sh->link_paths = g;
			g[s->sh->n_links] = strdup(first);
			*slot = s->sh->n_links++;
		}
	}
	pthread_mutex_unlock(&s->sh->mu);
}

/* Restore file X as NAME in DIRFD: a hard link to its group's first path
 * when there is one, else its content. Returns the open file for its
 * metadata, -2 when linked (done), or -1 when it failed (reported). */
static int restore_file(struct rs *s, int dirfd, const char *rel, const char *name,
			const struct tree_entry *x, const char *path)
{
	char why[ERR_MSG_MAX + 64];
	int fd;

	if (x->link_id && link_to_first(s, dirfd, name, x)) {
		COUNT(s, links, 1);
		return -2;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot create: %s", strerror(errno));
		failed(s, path, why);
		return -1;
	}
	{
		struct writer w = { fd, x, 0, 0, s, path, 0 };
		struct err re;

		/* Why the result is checked as well as W.BAD: the stream stops
		 * without a word to write_chunk when the service cannot be asked
		 * where the chunks are (an error or a refused answer), and a file
		 * then sized to the tree's length would hold zeros as content. */
		if (snapshot_stream(s->sn, s->r, x, write_chunk, &w, &re) != 0 && !w.bad) {
			snprintf(why, sizeof(why), "not restored: %s", re.msg);
			failed(s, path, why);
			w.bad = 1;
		}
		/* The size is set only when the writes did not make it: a new
		 * file written whole already has it (a syscall per file saved). */
		if (!w.bad && (x->sparse || w.done != x->size) &&
		    ftruncate(fd, (off_t)x->size) != 0) {
			snprintf(why, sizeof(why), "cannot set the size: %s", strerror(errno));
			failed(s, path, why);
			w.bad = 1;
		}
		if (w.bad) {
			close(fd);
			unlinkat(dirfd, name, 0);
			return -1;
		}
	}
	COUNT(s, files, 1);
	if (x->link_id)
		link_remember(s, rel, name, x);
	return fd;
}

/* Make special entry X (a symlink, a device, a fifo, a socket) as NAME in
 * DIRFD. 0, or -1 when it failed (reported). */
static int restore_special(struct rs *s, int dirfd, const char *name, const struct tree_entry *x,
			   const char *path)
{
	char why[ERR_MSG_MAX + 64];

	if (x->type == TREE_SYMLINK) {
		if (symlinkat(x->target, dirfd, name) != 0) {
			snprintf(why, sizeof(why), "cannot make the symlink: %s", strerror(errno));
			failed(s, path, why);
			return -1;
		}
	} else {
		mode_t type = x->type == TREE_FIFO ? S_IFIFO : x->type == TREE_SOCK ? S_IFSOCK
			      : x->type == TREE_CHR ? S_IFCHR : S_IFBLK;

		if (mknodat(dirfd, name, type | 0600, makedev(x->dev_major, x->dev_minor)) != 0) {
			snprintf(why, sizeof(why), "cannot make the special file: %s", strerror(errno));
			failed(s, path, why);
			return -1;
		}
	}
	COUNT(s, others, 1);
	return 0;
}

/* Restore X into DIRFD (whose path relative to the target is REL). 0 (a
 * failed entry is reported and the rest goes on), or -1 with E set when
 * the restore cannot go on. */
static int restore_entry(struct rs *s, int dirfd, const char *rel, const struct tree_entry *x,
			 struct err *e)
{
	char path[8192], alt[300];
	const char *name = x->name;
	int exists, fd = -1;

	snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", x->name);
	if (!make_way(s, dirfd, x, path, s->fresh, &name, alt, sizeof(alt), &exists))
		return 0;
	if (x->type == TREE_DIR)
		return queue_dir(s, dirfd, rel, name, exists, x, path, e);
	if (x->type == TREE_FILE) {
		if ((fd = restore_file(s, dirfd, rel, name, x, path)) < 0)
			return 0;
	} else if (restore_special(s, dirfd, name, x, path) != 0) {
		return 0;
	}
	apply_meta(s, dirfd, name, fd, x, path);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Files up to PRE_FILE are fetched ahead with their neighbours, a window
 * of at most PRE_WINDOW bytes of content at a time for each thread: a few
 * requests for many small files, whichever folders they are in, and a
 * bounded amount held (4 threads: 16 MiB). Larger files are read on their
 * own, a run of chunks at a time. */
#define PRE_FILE (2u << 20)
#define PRE_WINDOW (4u << 20)

static int small_file(const struct tree_entry *x)
{
	return x->type == TREE_FILE && x->n_chunks > 0 && x->size <= PRE_FILE;
}

/* Add T's small files to the feed, in the order restore_entries writes
 * them. 0, or -1 when out of memory (the files are then read one by one). */
static int feed_add(struct rs *s, const struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!small_file(&t->e[i]))
			continue;
		if (s->n_feed == s->cap_feed) {
			size_t cap = s->cap_feed ? 2 * s->cap_feed : 256;
			const struct tree_entry **g = realloc(s->feed, cap * sizeof(*g));

			if (g == NULL)
				return -1;
			s->feed = g;
			s->cap_feed = cap;
		}
		s->feed[s->n_feed++] = &t->e[i];
		s->ahead += t->e[i].size;
	}
	return 0;
}

static void feed_clear(struct rs *s)
{
	repo_prefetch_clear(s->r);
	s->n_feed = s->pos = s->win = 0;
	s->ahead = 0;
}

/* File X is next to be written: when it is the next of the feed and past
 * the window fetched, fetch the next window. */
static void feed_next(struct rs *s, const struct tree_entry *x)
{
	struct objid *ids;
	size_t n = 0, end = s->pos, cap = 0;
	uint64_t bytes = 0;

	if (s->pos >= s->n_feed || s->feed[s->pos] != x)
		return;
	if (s->pos++ < s->win)
		return;
	repo_prefetch_clear(s->r);
	for (; end < s->n_feed && (end == s->pos - 1 || bytes + s->feed[end]->size <= PRE_WINDOW);
	     end++) {
		cap += s->feed[end]->n_chunks;
		bytes += s->feed[end]->size;
	}
	s->win = end;
	s->ahead = s->ahead > bytes ? s->ahead - bytes : 0;
	if ((ids = malloc(cap * sizeof(*ids))) == NULL)
		return;
	for (size_t i = s->pos - 1; i < end; i++)
		for (size_t c = 0; c < s->feed[i]->n_chunks; c++)
			ids[n++] = s->feed[i]->chunks[c].id;
	/* Sealed objects are a little larger than their content (padding,
	 * headers), never by more than half of it (small objects aside). */
	repo_prefetch(s->r, ids, n, PRE_WINDOW + PRE_WINDOW / 2);
	free(ids);
}

/* Restore a folder's entries: first everything but folders (the small
 * files' content fetched ahead through the feed), then the folders, which
 * are queued. */
static int restore_entries(struct rs *s, int dirfd, const char *rel, const struct tree *t,
			   struct err *e)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->e[i].type == TREE_DIR)
			continue;
		feed_next(s, &t->e[i]);
		if (restore_entry(s, dirfd, rel, &t->e[i], e))
			return -1;
	}
	/* Last first, so that the first comes off this thread's stack first. */
	for (size_t i = t->n; i-- > 0;)
		if (t->e[i].type == TREE_DIR && restore_entry(s, dirfd, rel, &t->e[i], e))
			return -1;
	return 0;
}

/* Restore folder T's entries on its own (the root, a chosen path). */
static int restore_tree(struct rs *s, int dirfd, const char *rel, const struct tree *t,
			struct err *e)
{
	int rc;

	feed_clear(s);
	if (feed_add(s, t))
		feed_clear(s);
	rc = restore_entries(s, dirfd, rel, t, e);
	feed_clear(s);
	return rc;
}

/* Restore PATH: its parent folders (with their metadata, applied after),
 * then the entry itself. */
static int restore_path(struct rs *s, const char *path, struct err *e)
{
	struct tree **trees = NULL;
	const struct tree_entry **parents = NULL;
	int *fds = NULL, depth = 0, fd = s->rootfd, rc = -1, nt = 0;
	char *copy = strdup(path), *save = NULL, *c, *next;
	char rel[8192] = "";
	struct tree *t;

	if (copy == NULL || (trees = calloc(4096, sizeof(*trees))) == NULL ||
	    (parents = calloc(4096, sizeof(*parents))) == NULL ||
	    (fds = calloc(4096, sizeof(*fds))) == NULL) {
		err_oom(e);
		goto out;
	}
	if ((t = snapshot_list(s->sn, s->r, NULL, e)) == NULL)
		goto out;
	trees[nt++] = t;
	for (c = strtok_r(copy, "/", &save); c; c = next) {
		const struct tree_entry *x = tree_find(t, c);
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (x == NULL || (next && x->type != TREE_DIR)) {
			failed(s, path, "not in this recovery point");
			rc = 0;
			goto out;
		}
		if (next == NULL) {
			rc = restore_entry(s, fd, rel, x, e);
			goto out;
		}
		if (depth >= 4095) {
			failed(s, path, "too deep");
			rc = 0;
			goto out;
		}
		/* A parent folder: make it, give its metadata back at the end. */
		mkdirat(fd, x->name, 0700);
		nfd = openat(fd, x->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			failed(s, path, "refused: a parent is not a folder (a symlink would lead "
					"outside the target)");
			rc = 0;
			goto out;
		}
		parents[depth] = x;
		fds[depth++] = nfd;
		fd = nfd;
		snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "%s%s", rel[0] ? "/" : "",
			 x->name);
		if ((t = snapshot_list(s->sn, s->r, x, e)) == NULL)
			goto out;
		trees[nt++] = t;
	}
	rc = 0;
out:
	/* Parent folders' metadata, innermost first, so their times hold. */
	for (int i = depth - 1; i >= 0; i--) {
		apply_meta(s, i ? fds[i - 1] : s->rootfd, parents[i]->name, fds[i], parents[i],
			   parents[i]->name);
		close(fds[i]);
	}
	for (int i = 0; i < nt; i++)
		tree_free(trees[i]);
	free(trees);
	free(parents);
	free(fds);
	free(copy);
	return rc;
}

/* Give folder T's metadata back, now that its entries are all there, then
 * see whether that finished its parent. */
static void complete(struct rs *s, struct task *t)
{
	while (t) {
		struct task *parent = t->parent;
		int fd = open_beneath(s->rootfd, t->rel), done = 0;

		if (fd >= 0) {
			apply_meta(s, fd, ".", fd, &t->holder->e[0], t->rel);
			close(fd);
		} else {
			failed(s, t->rel, "cannot open the folder again to restore its metadata");
		}
		COUNT(s, dirs, 1);
		free(t->rel);
		tree_free(t->holder);
		free(t);
		pthread_mutex_lock(&s->sh->mu);
		s->sh->outstanding--;
		if (parent && --parent->pending == 0)
			done = 1;
		pthread_cond_broadcast(&s->sh->cv);
		pthread_mutex_unlock(&s->sh->mu);
		t = done ? parent : NULL;
	}
}

/* A folder taken from the queue, opened and listed. */
struct job {
	struct task *t;
	int fd;
	struct tree *sub; /* or NULL when it could not be listed (reported) */
};

/* Open and list the folder of task T into J; its small files join the
 * feed. */
static void job_open(struct rs *s, struct task *t, struct job *j)
{
	struct err e;

	j->t = t;
	j->sub = NULL;
	if ((j->fd = open_beneath(s->rootfd, t->rel)) < 0) {
		failed(s, t->rel, "refused: the folder is not where it was made (a symlink?)");
	} else if ((j->sub = snapshot_list(s->sn, s->r, &t->holder->e[0], &e)) == NULL) {
		char why[ERR_MSG_MAX + 32];

		snprintf(why, sizeof(why), "folder not restored: %s", e.msg);
		failed(s, t->rel, why);
	} else if (feed_add(s, j->sub)) {
		s->ahead = UINT64_MAX; /* out of memory: take no more */
	}
}

#define BATCH 64 /* most folders one thread holds listed at once */

/* Take a task off the top of stack ST (its own: newest), or its bottom
 * (another's: oldest), with sh->mu held. NULL when it is empty. */
static struct task *take_locked(struct shared *sh, struct stack *st, int own)
{
	struct task *t = own ? st->top : st->bottom;

	if (t == NULL)
		return NULL;
	if (own) {
		st->top = t->down;
		if (st->top)
			st->top->up = NULL;
		else
			st->bottom = NULL;
	} else {
		st->bottom = t->up;
		if (st->bottom)
			st->bottom->down = NULL;
		else
			st->top = NULL;
	}
	st->n--;
	sh->queued--;
	return t;
}

/* A folder to restore: this thread's newest, else the oldest of another
 * thread's that has more than KEEP (sh->mu held). NULL when there is none. */
static struct task *take_any_locked(struct rs *s, size_t keep)
{
	struct task *t = take_locked(s->sh, &s->sh->stacks[s->me], 1);

	for (int i = 0; t == NULL && i < THREADS; i++)
		if (i != s->me && s->sh->stacks[i].n > keep)
			t = take_locked(s->sh, &s->sh->stacks[i], 0);
	return t;
}

/* Restore the folder of task T and, while this thread has found more
 * folders and what is ahead of its window of small files is short of
 * a window, those too, in the order it took them; then let go of each. */
static void process(struct rs *s, struct task *t)
{
	struct job jobs[BATCH];
	size_t n = 0;

	feed_clear(s);
	job_open(s, t, &jobs[n++]);
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		struct err e;

		/* Listed ahead: the next folders of this thread's walk, whose
		 * small files may share the next window. */
		while (n < BATCH && s->ahead < PRE_WINDOW) {
			pthread_mutex_lock(&s->sh->mu);
			t = take_any_locked(s, 1);
			pthread_mutex_unlock(&s->sh->mu);
			if (t == NULL)
				break;
			job_open(s, t, &jobs[n++]);
		}
		if (j->sub == NULL)
			continue;
		s->current = j->t;
		s->fresh = j->t->fresh;
		if (restore_entries(s, j->fd, j->t->rel, j->sub, &e) != 0) {
			pthread_mutex_lock(&s->sh->mu);
			if (!s->sh->fatal) {
				s->sh->fatal = 1;
				s->sh->err = e;
			}
			pthread_mutex_unlock(&s->sh->mu);
		}
		s->current = NULL;
		s->fresh = 0;
	}
	feed_clear(s);
	for (size_t i = 0; i < n; i++) {
		int pending;

		t = jobs[i].t;
		tree_free(jobs[i].sub);
		if (jobs[i].fd >= 0)
			close(jobs[i].fd);
		pthread_mutex_lock(&s->sh->mu);
		pending = --t->pending;
		pthread_mutex_unlock(&s->sh->mu);
		if (pending == 0)
			complete(s, t);
	}
}

/* Take folders until there are none left to come (MAIN) or the restore
 * is over (the other threads). */
static void work(struct rs *s, int main)
{
	for (;;) {
		struct task *t;

		pthread_mutex_lock(&s->sh->mu);
		while (s->sh->queued == 0 && !s->sh->stop && !(main && s->sh->outstanding == 0))
			pthread_cond_wait(&s->sh->cv, &s->sh->mu);
		t = take_any_locked(s, 0);
		pthread_mutex_unlock(&s->sh->mu);
		if (t == NULL)
			return;
		process(s, t);
		progress(s, 0);
	}
}

struct worker {
	pthread_t th;
	struct rs s;
	struct repo r;
	int started;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	work(&w->s, 0);
	return NULL;
}

int restore_run(const struct snapshot *sn, struct repo *r, const struct restore_opts *o,
		struct restore_result *res, struct err *e)
{
	struct rs s;
	struct shared sh;
	struct worker w[THREADS];
	struct timespec t0, t1;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	memset(&sh, 0, sizeof(sh));
	memset(w, 0, sizeof(w));
	memset(res, 0, sizeof(*res));
	res->failed = json_array();
	pthread_mutex_init(&sh.mu, NULL);
	pthread_cond_init(&sh.cv, NULL);
	idmap_init(&sh.links, sizeof(uint64_t));
	owners_init(&sh.owners);
	s.sn = sn, s.r = r, s.o = o, s.res = res, s.sh = &sh;
	s.is_root = geteuid() == 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mkdirs(o->target, 0700, e))
		goto out;
	if ((s.rootfd = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err_errno(e, "cannot open the target folder %s", o->target);
		goto out;
	}
	/* More threads, each with its own connection, take folders as they
	 * are found. */
	for (int i = 0; o->state && i < THREADS - 1; i++) {
		struct err we;

		w[i].s = s;
		w[i].s.me = i + 1;
		w[i].r = *r;
		w[i].r.pre = NULL;
		if ((w[i].r.c = state_client(o->state, &we)) == NULL ||
		    (w[i].r.cctx = compress_ctx_new(&we)) == NULL) {
			client_free(w[i].r.c);
			break;
		}
		w[i].s.r = &w[i].r;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
			client_free(w[i].r.c);
			compress_ctx_free(w[i].r.cctx);
			break;
		}
		w[i].started = 1;
	}
	if (o->n_paths == 0) {
		struct tree *t = snapshot_list(sn, r, NULL, e);

		if (t) {
			rc = restore_tree(&s, s.rootfd, "", t, e);
			tree_free(t);
		}
	} else {
		rc = 0;
		for (size_t i = 0; rc == 0 && i < o->n_paths; i++)
			rc = restore_path(&s, o->paths[i], e);
	}
	work(&s, 1);
	pthread_mutex_lock(&sh.mu);
	sh.stop = 1;
	pthread_cond_broadcast(&sh.cv);
	pthread_mutex_unlock(&sh.mu);
	for (int i = 0; i < THREADS; i++)
		if (w[i].started) {
			pthread_join(w[i].th, NULL);
			client_free(w[i].r.c);
			compress_ctx_free(w[i].r.cctx);
			free(w[i].s.feed);
		}
	free(s.feed);
	if (rc == 0 && sh.fatal) {
		*e = sh.err;
		rc = -1;
	}
	progress(&s, 1);
	close(s.rootfd);
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (size_t i = 0; i < sh.n_links; i++)
		free(sh.link_paths[i]);
	free(sh.link_paths);
	idmap_free(&sh.links);
	pthread_mutex_destroy(&sh.mu);
	pthread_cond_destroy(&sh.cv);
	owners_free(&sh.owners);
	return rc;
}
