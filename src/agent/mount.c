/*
 * mount.c: recovery points served over FUSE's low-level API.
 *
 * Inodes. Numbers are derived, not allocated: a point's folder is a hash
 * of its id, an entry a hash of its folder's number and its name, and an
 * entry of a hard-link group a hash of its point's number and the group
 * (tree.h's link_id), so every name of a hard-linked file has one number
 * and readdir can give the number a later lookup will (SipHash-2-4, 64
 * bits: two entries of one mount share a number with odds of about n^2 /
 * 2^65). The node table maps numbers to what the kernel holds (its lookup
 * counts, FUSE's forget): an entry's node keeps a copy of its tree entry
 * and its path, and goes when the kernel forgets it.
 *
 * Reading. Folders come from snapshot_list (the tree cache makes that a
 * local read), the few most recently used kept decoded for the lookups
 * that follow a listing. File bytes come from snapshot_read through a repo
 * per thread (a repo holds one connection), with the chunk cache below the
 * repo. A file read from its start, or where its last read ended, is read
 * ahead: a few threads of the mount fetch the next pieces into the chunk
 * cache while the reader reads, and a read waits for a piece under way
 * rather than fetch it twice.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <sodium.h>

#include "compress.h"
#include "mount.h"
#include "reply.h"
#include "snapshot.h"

extern char **environ;

#define INO_BY_TIME 2
#define INO_BY_ID 3
#define INO_LATEST 4
#define INO_FIRST_FREE 16

#define REFRESH_SECONDS 3   /* the list of points asked for at most this often */
#define POINT_TIMEOUT 3600.0 /* the kernel may keep a point's entries this long */
#define LIST_TIMEOUT 1.0     /* and the top folders' this long */
#define DIRS_KEPT 8          /* decoded folders kept for lookups */
#define RA_THREADS 3
#define RA_PIECE (4u << 20)  /* one read-ahead job */
#define RA_WINDOW (24u << 20) /* how far ahead of a sequential reader */
#define RA_JOBS 8            /* read-ahead pieces under way per open file */
#define RA_QUEUE 64

enum kind { N_ROOT = 1, N_BY_TIME, N_BY_ID, N_LATEST, N_POINT, N_ENTRY };

struct point {
	char *id, *meta, *created;
	char *name, *dir_id; /* its folders in by-time and by-id (folder_name) */
	fuse_ino_t ino;
	int listed;          /* in the service's last list */
	struct snapshot *sn; /* opened at first use, under open_mu */
};

struct node {
	fuse_ino_t ino;
	uint64_t nlookup;
	enum kind kind;
	struct point *pt;
	struct tree *one; /* N_ENTRY: a copy of its entry, the tree's only one */
	char *path;       /* N_ENTRY: its path in the point ("/etc/hosts") */
	struct node *next;
};

struct dir_slot {
	struct objid id;
	struct tree *t;
	unsigned refs;
	uint64_t used;
};

struct handle;

struct ra_job {
	struct handle *h;
	uint64_t off, len;
};

/* What the kernel has open, listed so that the end of the session frees
 * what it never released (a mount ended by a signal). */
struct open_link {
	struct open_link *prev, *next;
	int is_dir;
};

/* An open file. */
struct handle {
	struct open_link link; /* first: the list's entry is the handle */
	struct node *n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next;    /* where a sequential read starts next */
	uint64_t ra_end;  /* read ahead has been asked for up to here */
	struct { uint64_t lo, hi; } busy[RA_JOBS]; /* pieces queued or under way */
	int n_busy;
};

struct mnt {
	struct mount_source src;
	const struct mount_events *ev;
	struct fuse_session *se;
	pthread_key_t key; /* the thread's struct tctx */
	time_t started;

	pthread_mutex_t mu; /* the points and the node table */
	struct point **pts;
	size_t n_pts;
	int64_t refreshed;      /* CLOCK_MONOTONIC seconds of the last list */
	struct node **bucket;
	size_t n_buckets, n_nodes;

	pthread_mutex_t open_mu; /* opening a point's snapshot */

	pthread_mutex_t fh_mu;
	struct open_link opened; /* the list's head */

	pthread_mutex_t dir_mu;
	struct dir_slot dirs[DIRS_KEPT];
	uint64_t dir_tick;

	pthread_mutex_t ra_mu;
	pthread_cond_t ra_cv;
	struct ra_job q[RA_QUEUE];
	size_t q_head, q_len;
	int ra_stop;
	pthread_t ra[RA_THREADS];
	int n_ra;
};

/* A thread's repo and connection. */
struct tctx {
	struct repo r;
	struct client *c;
	uint8_t *rbuf; /* op_read's buffer, kept: a read of 1 MiB is one mapping */
	size_t rcap;
};

static void note(struct mnt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct mnt *m, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX + 4400];
	va_list ap;

	if (m->ev == NULL || m->ev->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m->ev->log(m->ev->arg, msg);
}

static void tctx_free(void *arg)
{
	struct tctx *t = arg;

	if (t == NULL)
		return;
	compress_ctx_free(t->r.cctx);
	client_free(t->c);
	free(t->rbuf);
	free(t);
}

/* This thread's repo and buffer, made at its first use. NULL with E set. */
static struct tctx *thread_ctx(struct mnt *m, struct err *e)
{
	struct tctx *t = pthread_getspecific(m->key);

	if (t)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		err_oom(e);
		return NULL;
	}
	if ((t->c = state_client(m->src.s, e)) == NULL || (t->r.cctx = compress_ctx_new(e)) == NULL) {
		tctx_free(t);
		return NULL;
	}
	t->r.c = t->c;
	t->r.keys = m->src.keys;
	t->r.machine = m->src.machine;
	t->r.tc = m->src.tc;
	t->r.cc = m->src.cc;
	pthread_setspecific(m->key, t);
	return t;
}

static struct repo *thread_repo(struct mnt *m, struct err *e)
{
	struct tctx *t = thread_ctx(m, e);

	return t ? &t->r : NULL;
}

static void opened_add(struct mnt *m, struct open_link *l, int is_dir)
{
	l->is_dir = is_dir;
	pthread_mutex_lock(&m->fh_mu);
	l->next = m->opened.next;
	l->prev = &m->opened;
	m->opened.next->prev = l;
	m->opened.next = l;
	pthread_mutex_unlock(&m->fh_mu);
}

static void opened_remove(struct mnt *m, struct open_link *l)
{
	pthread_mutex_lock(&m->fh_mu);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	pthread_mutex_unlock(&m->fh_mu);
}

/* ---- Inode numbers and the node table ---- */

static fuse_ino_t hash_ino(const void *a, size_t alen, const void *b, size_t blen)
{
	static const unsigned char key[crypto_shorthash_KEYBYTES] = { 'a', 'r', 'c', 'a' };
	crypto_generichash_state st;
	unsigned char mid[crypto_generichash_BYTES], out[crypto_shorthash_BYTES];
	uint64_t v = 0;

	/* BLAKE2b over both parts (no bound on their length), then SipHash
	 * down to 64 bits. */
	crypto_generichash_init(&st, NULL, 0, sizeof(mid));
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, mid, sizeof(mid));
	crypto_shorthash(out, mid, sizeof(mid), key);
	for (int i = 0; i < 8; i++)
		v = v << 8 | out[i];
	return v < INO_FIRST_FREE ? v + INO_FIRST_FREE : v;
}

static fuse_ino_t child_ino(fuse_ino_t parent, const struct point *pt,
			    const struct tree_entry *x)
{
	uint64_t p = parent;

	if (x->link_id) {
		uint64_t k[2] = { pt->ino, x->link_id };

		return hash_ino("l", 1, k, sizeof(k));
	}
	return hash_ino(&p, sizeof(p), x->name, strlen(x->name));
}

static struct node *node_get(struct mnt *m, fuse_ino_t ino)
{
	struct node *n;

	for (n = m->bucket[ino % m->n_buckets]; n; n = n->next)
		if (n->ino == ino)
			return n;
	return NULL;
}

/* Insert N (with mu held), growing the table. 0 or -1. */
static int node_insert(struct mnt *m, struct node *n)
{
	if (m->n_nodes >= 2 * m->n_buckets) {
		size_t nb = 2 * m->n_buckets;
		struct node **b = calloc(nb, sizeof(*b));

		if (b) {
			for (size_t i = 0; i < m->n_buckets; i++)
				for (struct node *x = m->bucket[i], *nx; x; x = nx) {
					nx = x->next;
					x->next = b[x->ino % nb];
					b[x->ino % nb] = x;
				}
			free(m->bucket);
			m->bucket = b;
			m->n_buckets = nb;
		}
	}
	n->next = m->bucket[n->ino % m->n_buckets];
	m->bucket[n->ino % m->n_buckets] = n;
	m->n_nodes++;
	return 0;
}

static void node_free(struct node *n)
{
	if (n == NULL)
		return;
	tree_free(n->one);
	free(n->path);
	free(n);
}

/* The kernel forgot N NLOOKUP times (with mu held): an entry's node goes
 * at zero. */
static void node_forget(struct mnt *m, fuse_ino_t ino, uint64_t nlookup)
{
	struct node **pp, *n;

	for (pp = &m->bucket[ino % m->n_buckets]; (n = *pp) != NULL; pp = &n->next)
		if (n->ino == ino)
			break;
	if (n == NULL || n->kind != N_ENTRY)
		return;
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	if (n->nlookup == 0) {
		*pp = n->next;
		m->n_nodes--;
		node_free(n);
	}
}

/* The node of entry X of point PT, below folder PARENT whose path is
 * PPATH, counted as one more lookup: found, or made from a copy of X.
 * NULL with E set. */
static struct node *entry_node(struct mnt *m, struct point *pt, fuse_ino_t parent,
			       const char *ppath, const struct tree_entry *x, struct err *e)
{
	fuse_ino_t ino = child_ino(parent, pt, x);
	struct node *n;
	size_t plen;

	pthread_mutex_lock(&m->mu);
	if ((n = node_get(m, ino)) != NULL) {
		n->nlookup++;
		pthread_mutex_unlock(&m->mu);
		return n;
	}
	pthread_mutex_unlock(&m->mu);
	plen = strlen(ppath) + strlen(x->name) + 2;
	if ((n = calloc(1, sizeof(*n))) == NULL || (n->path = malloc(plen)) == NULL ||
	    (n->one = tree_new(e)) == NULL || tree_add(n->one, x, e)) {
		if (n && n->path == NULL)
			err_oom(e);
		node_free(n);
		return NULL;
	}
	/* A tree grows by 16 entries at a time; a node holds one entry for as
	 * long as the kernel keeps it (a listing of 100,000 files makes as
	 * many), so its room is cut to that one. */
	{
		struct tree_entry *one = realloc(n->one->e, sizeof(*one));

		if (one) {
			n->one->e = one;
			n->one->cap = 1;
		}
	}
	snprintf(n->path, plen, "%s/%s", strcmp(ppath, "/") ? ppath : "", x->name);
	n->ino = ino;
	n->kind = N_ENTRY;
	n->pt = pt;
	pthread_mutex_lock(&m->mu);
	{
		struct node *other = node_get(m, ino);

		if (other) { /* made by another thread meanwhile */
			other->nlookup++;
			pthread_mutex_unlock(&m->mu);
			node_free(n);
			return other;
		}
	}
	n->nlookup = 1;
	node_insert(m, n);
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* ---- Points ---- */

/* A folder's name from the service's words A (and "-" and B): what the
 * service sends is not trusted to be a name, so '/' and control
 * characters become '_', at most 100 bytes, never "." or "..". NULL when
 * out of memory. */
static char *folder_name(const char *a, const char *b)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%.80s%s%.19s", a, b ? "-" : "", b ? b : "");
	for (char *c = buf; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '_';
	if (buf[0] == '\0' || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0)
		snprintf(buf, sizeof(buf), "_%.80s", a);
	return strdup(buf);
}

static void point_free(struct point *p)
{
	if (p == NULL)
		return;
	free(p->dir_id);
	snapshot_close(p->sn);
	free(p->id);
	free(p->meta);
	free(p->created);
	free(p->name);
	free(p);
}

/* Merge the service's list LIST into the points (with mu held): new ones
 * get a folder (and a node); those no longer listed are hidden. */
static int merge_points(struct mnt *m, const json_t *list, struct err *e)
{
	json_t *p;
	size_t i;

	for (size_t k = 0; k < m->n_pts; k++)
		m->pts[k]->listed = 0;
	json_array_foreach((json_t *)list, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *meta = json_string_value(json_object_get(p, "meta"));
		const char *created = json_string_value(json_object_get(p, "created"));
		struct point *pt = NULL, **grown;
		struct node *n;
		size_t k;

		if (id == NULL || meta == NULL || created == NULL)
			continue; /* reply_points checked them */
		for (k = 0; k < m->n_pts; k++)
			if (strcmp(m->pts[k]->id, id) == 0)
				pt = m->pts[k];
		if (pt) {
			pt->listed = 1;
			continue;
		}
		if ((grown = realloc(m->pts, (m->n_pts + 1) * sizeof(*grown))) == NULL)
			return err_oom(e);
		m->pts = grown;
		if ((pt = calloc(1, sizeof(*pt))) == NULL || (pt->id = strdup(id)) == NULL ||
		    (pt->meta = strdup(meta)) == NULL || (pt->created = strdup(created)) == NULL ||
		    (n = calloc(1, sizeof(*n))) == NULL) {
			point_free(pt);
			return err_oom(e);
		}
		/* Two points of one second: the later one's folder names its id too. */
		pt->name = folder_name(created, NULL);
		for (k = 0; pt->name && k < m->n_pts && strcmp(m->pts[k]->name, pt->name); k++)
			;
		if (pt->name && k < m->n_pts) {
			free(pt->name);
			pt->name = folder_name(created, id);
		}
		if (pt->name == NULL || (pt->dir_id = folder_name(id, NULL)) == NULL) {
			free(n);
			point_free(pt);
			return err_oom(e);
		}
		pt->ino = hash_ino("p", 1, id, strlen(id));
		pt->listed = 1;
		m->pts[m->n_pts++] = pt;
		n->ino = pt->ino;
		n->kind = N_POINT;
		n->pt = pt;
		node_insert(m, n);
	}
	return 0;
}

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Ask the service for the list of points again, at most every few
 * seconds. A failure is noted and the list kept as it was. */
static void refresh_points(struct mnt *m)
{
	char path[160];
	struct repo *r;
	json_t *ans;
	const json_t *list;
	struct err e;

	pthread_mutex_lock(&m->mu);
	if (mono_now() - m->refreshed < REFRESH_SECONDS) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	m->refreshed = mono_now();
	pthread_mutex_unlock(&m->mu);
	if (m->src.machine)
		snprintf(path, sizeof(path), "/machines/%s/recovery-points", m->src.machine);
	else
		snprintf(path, sizeof(path), "/recovery-points");
	if ((r = thread_repo(m, &e)) == NULL ||
	    (ans = client_json(r->c, "GET", path, NULL, NULL, NULL, &e)) == NULL) {
		note(m, "the list of recovery points could not be fetched again (the mount "
		     "shows the last one): %s", e.msg);
		return;
	}
	if ((list = reply_points(ans, &e)) != NULL) {
		pthread_mutex_lock(&m->mu);
		if (merge_points(m, list, &e))
			list = NULL;
		pthread_mutex_unlock(&m->mu);
	}
	if (list == NULL)
		note(m, "the list of recovery points could not be read: %s", e.msg);
	json_decref(ans);
}

/* The listed point whose by-time (BY_ID: by-id) folder is NAME, or NULL. */
static struct point *point_named(struct mnt *m, const char *name, int by_id)
{
	struct point *hit = NULL;

	pthread_mutex_lock(&m->mu);
	for (size_t k = 0; k < m->n_pts && hit == NULL; k++)
		if (m->pts[k]->listed &&
		    strcmp(by_id ? m->pts[k]->dir_id : m->pts[k]->name, name) == 0)
			hit = m->pts[k];
	pthread_mutex_unlock(&m->mu);
	return hit;
}

/* The newest listed point's by-time name into OUT; 0, or -1 when none. */
static int latest_name(struct mnt *m, char *out, size_t size)
{
	int rc = -1;

	pthread_mutex_lock(&m->mu);
	for (size_t k = m->n_pts; k-- > 0;)
		if (m->pts[k]->listed) {
			snprintf(out, size, "by-time/%s", m->pts[k]->name);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* PT's snapshot, opened at its first use. NULL with E set. */
static struct snapshot *point_snapshot(struct mnt *m, struct point *pt, struct repo *r,
				       struct err *e)
{
	struct snapshot *sn;

	pthread_mutex_lock(&m->open_mu);
	if (pt->sn == NULL && (pt->sn = snapshot_open(r, pt->meta, e)) == NULL)
		err_prefix(e, "recovery point %s: ", pt->id);
	sn = pt->sn;
	pthread_mutex_unlock(&m->open_mu);
	return sn;
}

/* ---- Folders ---- */

/* The decoded folder DIR (NULL: the point's root) of PT, from the kept
 * ones or read and kept; release it with dir_put. NULL with E set. */
static struct tree *dir_get(struct mnt *m, struct point *pt, struct repo *r,
			    const struct tree_entry *dir, struct err *e)
{
	struct snapshot *sn = point_snapshot(m, pt, r, e);
	const struct objid *id;
	struct tree *t;
	size_t k, victim = DIRS_KEPT;

	if (sn == NULL)
		return NULL;
	id = dir ? &dir->subtree : snapshot_root_id(sn);
	pthread_mutex_lock(&m->dir_mu);
	for (k = 0; k < DIRS_KEPT; k++)
		if (m->dirs[k].t && memcmp(&m->dirs[k].id, id, sizeof(*id)) == 0) {
			m->dirs[k].refs++;
			m->dirs[k].used = ++m->dir_tick;
			pthread_mutex_unlock(&m->dir_mu);
			return m->dirs[k].t;
		}
	pthread_mutex_unlock(&m->dir_mu);
	if ((t = snapshot_list(sn, r, dir, e)) == NULL)
		return NULL;
	pthread_mutex_lock(&m->dir_mu);
	for (k = 0; k < DIRS_KEPT; k++) {
		if (m->dirs[k].t && memcmp(&m->dirs[k].id, id, sizeof(*id)) == 0) {
			/* Read by another thread meanwhile. */
			m->dirs[k].refs++;
			pthread_mutex_unlock(&m->dir_mu);
			tree_free(t);
			return m->dirs[k].t;
		}
		if (m->dirs[k].refs == 0 &&
		    (victim == DIRS_KEPT || m->dirs[k].t == NULL ||
		     (m->dirs[victim].t && m->dirs[k].used < m->dirs[victim].used)))
			victim = k;
	}
	if (victim == DIRS_KEPT) { /* all in use: this one is the caller's alone */
		pthread_mutex_unlock(&m->dir_mu);
		return t;
	}
	tree_free(m->dirs[victim].t);
	m->dirs[victim].id = *id;
	m->dirs[victim].t = t;
	m->dirs[victim].refs = 1;
	m->dirs[victim].used = ++m->dir_tick;
	pthread_mutex_unlock(&m->dir_mu);
	return t;
}

static void dir_put(struct mnt *m, struct tree *t)
{
	size_t k;

	if (t == NULL)
		return;
	pthread_mutex_lock(&m->dir_mu);
	for (k = 0; k < DIRS_KEPT; k++)
		if (m->dirs[k].t == t) {
			m->dirs[k].refs--;
			break;
		}
	pthread_mutex_unlock(&m->dir_mu);
	if (k == DIRS_KEPT)
		tree_free(t);
}

/* ---- Attributes ---- */

static const mode_t type_bits[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO,
				    S_IFSOCK };

static void entry_stat(const struct tree_entry *x, fuse_ino_t ino, struct stat *st)
{
	uint64_t data = x->size;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = (x->type < 8 ? type_bits[x->type] : S_IFREG) | (x->mode & 07777);
	st->st_nlink = x->link_id ? x->nlink : (x->type == TREE_DIR ? 2 : 1);
	st->st_uid = x->uid;
	st->st_gid = x->gid;
	st->st_size = (off_t)x->size;
	if (x->sparse) {
		data = 0;
		for (size_t i = 0; i < x->n_extents; i++)
			data += x->extents[i].len;
	}
	st->st_blocks = (blkcnt_t)((data + 511) / 512);
	st->st_blksize = 4096;
	st->st_atim.tv_sec = x->atime.sec;
	st->st_atim.tv_nsec = x->atime.nsec;
	st->st_mtim.tv_sec = x->mtime.sec;
	st->st_mtim.tv_nsec = x->mtime.nsec;
	st->st_ctim.tv_sec = x->ctime.sec;
	st->st_ctim.tv_nsec = x->ctime.nsec;
	if (x->type == TREE_CHR || x->type == TREE_BLK)
		st->st_rdev = makedev(x->dev_major, x->dev_minor);
}

/* The mount's own folders and links: read-only, the mount's start time. */
static void fixed_stat(struct mnt *m, fuse_ino_t ino, mode_t mode, off_t size, time_t when,
		       struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = when ? when : m->started;
}

/* The service's time of PT as seconds, for its folder's times. */
static time_t point_time(const struct point *pt)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(pt->created, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

/* The attributes of node N into ST (with mu not held). 0 or an errno. */
static int node_stat(struct mnt *m, struct node *n, struct stat *st)
{
	char link[600];

	switch (n->kind) {
	case N_ROOT:
	case N_BY_TIME:
	case N_BY_ID:
		fixed_stat(m, n->ino, S_IFDIR | 0555, 0, 0, st);
		return 0;
	case N_LATEST:
		if (latest_name(m, link, sizeof(link)))
			snprintf(link, sizeof(link), "by-time");
		fixed_stat(m, n->ino, S_IFLNK | 0777, (off_t)strlen(link), 0, st);
		return 0;
	case N_POINT:
		fixed_stat(m, n->ino, S_IFDIR | 0555, 0, point_time(n->pt), st);
		return 0;
	case N_ENTRY:
		entry_stat(&n->one->e[0], n->ino, st);
		return 0;
	}
	return EIO;
}

/* ---- Looking up ---- */

/* Entries inside a point never change; a point's own folder may go (its
 * point deleted), and the mount's folders change with the points. */
static double timeout_of(const struct node *n)
{
	return n->kind == N_ENTRY ? POINT_TIMEOUT : LIST_TIMEOUT;
}

/* Fill FE for node N (its lookup already counted). 0 or an errno. */
static int entry_param(struct mnt *m, struct node *n, struct fuse_entry_param *fe)
{
	memset(fe, 0, sizeof(*fe));
	fe->ino = n->ino;
	fe->attr_timeout = fe->entry_timeout = timeout_of(n);
	return node_stat(m, n, &fe->attr);
}

/* The folder node PARENT's entry NAME, counted as looked up once more.
 * NULL with *ERRNO_OUT set (ENOENT, ENOTDIR, EIO). */
static struct node *lookup_node(struct mnt *m, fuse_ino_t parent, const char *name,
				int *errno_out)
{
	struct node *pn, *n = NULL;
	struct point *pt;
	struct repo *r;
	struct tree *t;
	const struct tree_entry *x;
	struct err e;

	*errno_out = ENOENT;
	if (parent == FUSE_ROOT_ID) {
		fuse_ino_t ino = strcmp(name, "by-time") == 0 ? INO_BY_TIME :
				 strcmp(name, "by-id") == 0 ? INO_BY_ID :
				 strcmp(name, "latest") == 0 ? INO_LATEST : 0;

		if (ino == INO_LATEST)
			refresh_points(m);
		if (ino == 0)
			return NULL;
		pthread_mutex_lock(&m->mu);
		n = node_get(m, ino);
		pthread_mutex_unlock(&m->mu);
		return n;
	}
	if (parent == INO_BY_TIME || parent == INO_BY_ID) {
		refresh_points(m);
		if ((pt = point_named(m, name, parent == INO_BY_ID)) == NULL)
			return NULL;
		pthread_mutex_lock(&m->mu);
		n = node_get(m, pt->ino);
		pthread_mutex_unlock(&m->mu);
		return n;
	}
	pthread_mutex_lock(&m->mu);
	pn = node_get(m, parent);
	pthread_mutex_unlock(&m->mu);
	if (pn == NULL || (pn->kind != N_POINT && pn->kind != N_ENTRY)) {
		*errno_out = pn ? ENOTDIR : ENOENT;
		return NULL;
	}
	if (pn->kind == N_ENTRY && pn->one->e[0].type != TREE_DIR) {
		*errno_out = ENOTDIR;
		return NULL;
	}
	if ((r = thread_repo(m, &e)) == NULL ||
	    (t = dir_get(m, pn->pt, r, pn->kind == N_ENTRY ? &pn->one->e[0] : NULL, &e)) == NULL) {
		note(m, "%s%s: the folder could not be read: %s", pn->pt->name,
		     pn->kind == N_ENTRY ? pn->path : "", e.msg);
		*errno_out = EIO;
		return NULL;
	}
	if ((x = tree_find(t, name)) != NULL &&
	    (n = entry_node(m, pn->pt, parent, pn->kind == N_ENTRY ? pn->path : "/", x, &e)) == NULL) {
		note(m, "%s: %s", name, e.msg);
		*errno_out = EIO;
	}
	dir_put(m, t);
	return n;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt *m = fuse_req_userdata(req);
	struct fuse_entry_param fe;
	struct node *n;
	int err;

	if ((n = lookup_node(m, parent, name, &err)) == NULL) {
		fuse_reply_err(req, err);
		return;
	}
	if ((err = entry_param(m, n, &fe)) != 0) {
		fuse_reply_err(req, err);
		return;
	}
	fuse_reply_entry(req, &fe);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mnt *m = fuse_req_userdata(req);

	pthread_mutex_lock(&m->mu);
	node_forget(m, ino, nlookup);
	pthread_mutex_unlock(&m->mu);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	struct mnt *m = fuse_req_userdata(req);

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < count; i++)
		node_forget(m, f[i].ino, f[i].nlookup);
	pthread_mutex_unlock(&m->mu);
	fuse_reply_none(req);
}

static struct node *node_of(struct mnt *m, fuse_ino_t ino)
{
	struct node *n;

	pthread_mutex_lock(&m->mu);
	n = node_get(m, ino);
	pthread_mutex_unlock(&m->mu);
	return n;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	struct stat st;
	int err;

	(void)fi;
	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((err = node_stat(m, n, &st)) != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, timeout_of(n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	char link[600];

	if (n && n->kind == N_LATEST) {
		refresh_points(m);
		if (latest_name(m, link, sizeof(link)) == 0)
			fuse_reply_readlink(req, link);
		else
			fuse_reply_err(req, ENOENT); /* no point yet */
		return;
	}
	if (n == NULL || n->kind != N_ENTRY || n->one->e[0].type != TREE_SYMLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_readlink(req, n->one->e[0].target);
}

/* ---- Listing ---- */

/* An open folder: the names and nodes to list, made at opendir. */
struct dirh {
	struct open_link link; /* first, as in struct handle */
	struct node *n;
	struct tree *t;    /* a point's folder (dir_get's), or NULL */
	char **names;      /* the mount's own folders: what they list */
	fuse_ino_t *inos;
	size_t n_names;
};

static void dirh_free(struct mnt *m, struct dirh *d)
{
	if (d == NULL)
		return;
	dir_put(m, d->t);
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	free(d->inos);
	free(d);
}

static int dirh_add(struct dirh *d, const char *name, fuse_ino_t ino)
{
	char **nn = realloc(d->names, (d->n_names + 1) * sizeof(*nn));
	fuse_ino_t *ni;

	if (nn == NULL)
		return -1;
	d->names = nn;
	if ((ni = realloc(d->inos, (d->n_names + 1) * sizeof(*ni))) == NULL)
		return -1;
	d->inos = ni;
	if ((d->names[d->n_names] = strdup(name)) == NULL)
		return -1;
	d->inos[d->n_names++] = ino;
	return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	struct dirh *d;
	struct repo *r;
	struct err e;
	int bad = 0;

	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->kind == N_LATEST || (n->kind == N_ENTRY && n->one->e[0].type != TREE_DIR)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->n = n;
	if (n->kind == N_ROOT) {
		bad = dirh_add(d, "by-time", INO_BY_TIME) || dirh_add(d, "by-id", INO_BY_ID) ||
		      dirh_add(d, "latest", INO_LATEST);
	} else if (n->kind == N_BY_TIME || n->kind == N_BY_ID) {
		refresh_points(m);
		pthread_mutex_lock(&m->mu);
		for (size_t k = 0; k < m->n_pts && !bad; k++)
			if (m->pts[k]->listed)
				bad = dirh_add(d, n->kind == N_BY_ID ? m->pts[k]->dir_id : m->pts[k]->name,
					       m->pts[k]->ino);
		pthread_mutex_unlock(&m->mu);
	} else if ((r = thread_repo(m, &e)) == NULL ||
		   (d->t = dir_get(m, n->pt, r, n->kind == N_ENTRY ? &n->one->e[0] : NULL,
				   &e)) == NULL) {
		note(m, "%s%s: the folder could not be read: %s", n->pt->name,
		     n->kind == N_ENTRY ? n->path : "", e.msg);
		dirh_free(m, d);
		fuse_reply_err(req, EIO);
		return;
	}
	if (bad) {
		dirh_free(m, d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->keep_cache = n->kind == N_POINT || n->kind == N_ENTRY;
	opened_add(m, &d->link, 1);
	fuse_reply_open(req, fi);
}

static void list(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct mnt *m = fuse_req_userdata(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	size_t total = (d->t ? d->t->n : d->n_names) + 2, used = 0;
	char *buf = malloc(size);
	struct err e;

	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < total; i++) {
		struct fuse_entry_param fe;
		struct node *cn = NULL;
		const char *name;
		size_t need;

		memset(&fe, 0, sizeof(fe));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			fe.attr.st_ino = d->n->ino;
			fe.attr.st_mode = S_IFDIR;
		} else if (d->t) {
			const struct tree_entry *x = &d->t->e[i - 2];

			name = x->name;
			if (plus) {
				if ((cn = entry_node(m, d->n->pt, d->n->ino,
						     d->n->kind == N_ENTRY ? d->n->path : "/", x,
						     &e)) == NULL) {
					note(m, "%s: %s", x->name, e.msg);
					break;
				}
				entry_param(m, cn, &fe);
			} else {
				entry_stat(x, child_ino(d->n->ino, d->n->pt, x), &fe.attr);
			}
		} else {
			name = d->names[i - 2];
			if (plus && (cn = node_of(m, d->inos[i - 2])) != NULL) {
				entry_param(m, cn, &fe);
			} else { /* listed, no lookup counted */
				fe.attr.st_ino = d->inos[i - 2];
				fe.attr.st_mode = d->inos[i - 2] == INO_LATEST ? S_IFLNK : S_IFDIR;
			}
		}
		if (plus && i < 2)
			fe.ino = 0; /* "." and "..": no lookup counted */
		need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &fe,
						     (off_t)(i + 1)) :
			      fuse_add_direntry(req, buf + used, size - used, name, &fe.attr,
						(off_t)(i + 1));
		if (need > size - used) {
			/* No room: the lookup this entry would count is undone. */
			if (cn && cn->kind == N_ENTRY) {
				pthread_mutex_lock(&m->mu);
				node_forget(m, cn->ino, 1);
				pthread_mutex_unlock(&m->mu);
			}
			break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	list(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	list(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	opened_remove(m, &d->link);
	dirh_free(m, d);
	fuse_reply_err(req, 0);
}

/* ---- Reading files, and reading ahead ---- */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	struct handle *h;

	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->kind != N_ENTRY || n->one->e[0].type != TREE_FILE) {
		fuse_reply_err(req, n->kind == N_ENTRY ? EACCES : EISDIR);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->n = n;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1; /* a point never changes */
	opened_add(m, &h->link, 0);
	fuse_reply_open(req, fi);
}

static void handle_free(struct handle *h)
{
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int overlaps_busy(const struct handle *h, uint64_t lo, uint64_t hi)
{
	for (int i = 0; i < h->n_busy; i++)
		if (h->busy[i].lo < hi && lo < h->busy[i].hi)
			return 1;
	return 0;
}

/* Queue read-ahead pieces of H from H->ra_end up to UPTO (with h->mu
 * held). Pieces that find the queue full are not read ahead. */
static void read_ahead(struct mnt *m, struct handle *h, uint64_t upto)
{
	pthread_mutex_lock(&m->ra_mu);
	/* No thread to read ahead (none could start): nothing is queued,
	 * since a reader would wait for it. */
	while (m->n_ra > 0 && h->ra_end < upto && h->n_busy < RA_JOBS && m->q_len < RA_QUEUE &&
	       !m->ra_stop) {
		uint64_t len = upto - h->ra_end < RA_PIECE ? upto - h->ra_end : RA_PIECE;
		struct ra_job *j = &m->q[(m->q_head + m->q_len++) % RA_QUEUE];

		j->h = h;
		j->off = h->ra_end;
		j->len = len;
		h->busy[h->n_busy].lo = j->off;
		h->busy[h->n_busy++].hi = j->off + len;
		h->ra_end += len;
		pthread_cond_signal(&m->ra_cv);
	}
	pthread_mutex_unlock(&m->ra_mu);
}

static void *ra_main(void *arg)
{
	struct mnt *m = arg;
	uint8_t *buf = malloc(RA_PIECE);

	for (;;) {
		struct ra_job j;
		struct repo *r;
		struct snapshot *sn;
		struct err e;
		size_t got;

		pthread_mutex_lock(&m->ra_mu);
		while (m->q_len == 0 && !m->ra_stop)
			pthread_cond_wait(&m->ra_cv, &m->ra_mu);
		if (m->q_len == 0) {
			pthread_mutex_unlock(&m->ra_mu);
			break;
		}
		j = m->q[m->q_head];
		m->q_head = (m->q_head + 1) % RA_QUEUE;
		m->q_len--;
		pthread_mutex_unlock(&m->ra_mu);
		/* A failure is not reported here: the reader reads the piece
		 * itself and reports it with the file's path. */
		if (buf && (r = thread_repo(m, &e)) != NULL &&
		    (sn = point_snapshot(m, j.h->n->pt, r, &e)) != NULL)
			snapshot_read(sn, r, &j.h->n->one->e[0], j.off, buf, (size_t)j.len, &got, &e);
		pthread_mutex_lock(&j.h->mu);
		for (int i = 0; i < j.h->n_busy; i++)
			if (j.h->busy[i].lo == j.off) {
				j.h->busy[i] = j.h->busy[--j.h->n_busy];
				break;
			}
		pthread_cond_broadcast(&j.h->cv);
		pthread_mutex_unlock(&j.h->mu);
	}
	free(buf);
	tctx_free(pthread_getspecific(m->key));
	pthread_setspecific(m->key, NULL);
	return NULL;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	const struct tree_entry *x = &h->n->one->e[0];
	uint64_t from = (uint64_t)off, to = from + size;
	struct snapshot *sn;
	struct tctx *t;
	struct err e;
	size_t got = 0;

	(void)ino;
	if (to > x->size)
		to = x->size > from ? x->size : from;
	pthread_mutex_lock(&h->mu);
	if (from == h->next || from == 0) { /* sequential: keep the window ahead full */
		if (h->ra_end < to)
			h->ra_end = to;
		if (h->ra_end < x->size && h->ra_end - to < RA_WINDOW / 2)
			read_ahead(m, h, to + RA_WINDOW < x->size ? to + RA_WINDOW : x->size);
	}
	h->next = to;
	/* A piece under way is waited for, not fetched twice. */
	while (overlaps_busy(h, from, to))
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	if ((t = thread_ctx(m, &e)) == NULL)
		goto fail;
	if (t->rcap < size) {
		uint8_t *nb = realloc(t->rbuf, size);

		if (nb == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		t->rbuf = nb;
		t->rcap = size;
	}
	if ((sn = point_snapshot(m, h->n->pt, &t->r, &e)) == NULL ||
	    snapshot_read(sn, &t->r, x, from, t->rbuf, size, &got, &e) != 0)
		goto fail;
	fuse_reply_buf(req, (const char *)t->rbuf, got);
	return;
fail:
	note(m, "%s%s: %s", h->n->pt->name, h->n->path, e.msg);
	fuse_reply_err(req, EIO);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = fuse_req_userdata(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	uint64_t dropped[RA_QUEUE];
	size_t queued = 0, n_dropped = 0;

	(void)ino;
	/* Pieces still queued are dropped; those under way are waited for.
	 * (The lock order is h->mu before ra_mu, as in op_read: never both
	 * here.) */
	pthread_mutex_lock(&m->ra_mu);
	for (size_t i = 0; i < m->q_len; i++) {
		struct ra_job *j = &m->q[(m->q_head + i) % RA_QUEUE];

		if (j->h != h)
			m->q[(m->q_head + queued++) % RA_QUEUE] = *j;
		else
			dropped[n_dropped++] = j->off;
	}
	m->q_len = queued;
	pthread_mutex_unlock(&m->ra_mu);
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < n_dropped; i++)
		for (int k = 0; k < h->n_busy; k++)
			if (h->busy[k].lo == dropped[i]) {
				h->busy[k] = h->busy[--h->n_busy];
				break;
			}
	while (h->n_busy > 0)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	opened_remove(m, &h->link);
	handle_free(h);
	fuse_reply_err(req, 0);
}

/* ---- Extended attributes ---- */

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

/* ACL A in the kernel's xattr form (posix_acl_xattr.h: version 2, then
 * per entry tag u16, perm u16, id u32, little-endian; no id for the
 * entries that name none) into OUT, which has room for 4 + 8 * A->n
 * bytes. Its length. */
static size_t acl_xattr(const struct tree_acl *a, uint8_t *out)
{
	size_t at = 4;

	out[0] = 2, out[1] = out[2] = out[3] = 0;
	for (size_t i = 0; i < a->n; i++, at += 8) {
		uint32_t id = a->e[i].tag == TREE_ACL_USER || a->e[i].tag == TREE_ACL_GROUP ?
				      a->e[i].id : 0xFFFFFFFFu;

		out[at] = a->e[i].tag, out[at + 1] = 0;
		out[at + 2] = a->e[i].perm, out[at + 3] = 0;
		for (int k = 0; k < 4; k++)
			out[at + 4 + k] = (uint8_t)(id >> (8 * k));
	}
	return at;
}

static void reply_bytes(fuse_req_t req, const void *p, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, p, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	const struct tree_entry *x;

	if (n == NULL || n->kind != N_ENTRY) {
		fuse_reply_err(req, n ? ENODATA : ENOENT);
		return;
	}
	x = &n->one->e[0];
	/* The ACLs have fields of their own in a tree (tree.h); the kernel
	 * asks for them as these two names. */
	if ((strcmp(name, ACL_ACCESS) == 0 && x->acl_access.n) ||
	    (strcmp(name, ACL_DEFAULT) == 0 && x->acl_default.n)) {
		const struct tree_acl *a =
			strcmp(name, ACL_ACCESS) == 0 ? &x->acl_access : &x->acl_default;
		uint8_t *out = malloc(4 + 8 * a->n);

		if (out == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		reply_bytes(req, out, acl_xattr(a, out), size);
		free(out);
		return;
	}
	for (size_t i = 0; i < x->n_xattrs; i++)
		if (strcmp(x->xattrs[i].name, name) == 0) {
			reply_bytes(req, x->xattrs[i].value, x->xattrs[i].len, size);
			return;
		}
	fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mnt *m = fuse_req_userdata(req);
	struct node *n = node_of(m, ino);
	const struct tree_entry *x;
	size_t need = 0, at = 0;
	char *out;

	if (n == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->kind != N_ENTRY) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	x = &n->one->e[0];
	for (size_t i = 0; i < x->n_xattrs; i++)
		need += strlen(x->xattrs[i].name) + 1;
	need += (x->acl_access.n ? sizeof(ACL_ACCESS) : 0) +
		(x->acl_default.n ? sizeof(ACL_DEFAULT) : 0);
	if (size == 0) {
		fuse_reply_xattr(req, need);
		return;
	}
	if (size < need) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if ((out = malloc(need ? need : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = 0; i < x->n_xattrs; i++) {
		size_t l = strlen(x->xattrs[i].name) + 1;

		memcpy(out + at, x->xattrs[i].name, l);
		at += l;
	}
	if (x->acl_access.n) {
		memcpy(out + at, ACL_ACCESS, sizeof(ACL_ACCESS));
		at += sizeof(ACL_ACCESS);
	}
	if (x->acl_default.n)
		memcpy(out + at, ACL_DEFAULT, sizeof(ACL_DEFAULT));
	fuse_reply_buf(req, out, need);
	free(out);
}

/* ---- Everything that would change the mount: EROFS ---- */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = TREE_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Listings come with their entries' attributes: `ls -l` of a large
	 * folder is one decoded tree, not a lookup per name. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* The kernel keeps each inode's ACLs once asked (a getxattr per file
	 * and `ls -l`, not per listing), and checks access by them as the
	 * backed-up folder did. */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

/* ---- Setting up ---- */

int mount_check_fuse(struct err *e)
{
	struct stat st;
	int fd;

	if (stat("/dev/fuse", &st) != 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_UNSUPPORTED,
				       "/dev/fuse is missing: load the FUSE kernel module "
				       "('modprobe fuse' as root; on Debian the fuse3 package "
				       "provides the tools), or in a container start it with "
				       "--device /dev/fuse");
		return err_errno(e, "cannot look at /dev/fuse");
	}
	if ((fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
		if (errno == EACCES || errno == EPERM)
			return err_set(e, ERR_DENIED,
				       "cannot open /dev/fuse: permission denied: run 'arca mount' "
				       "as root, or give this user access to /dev/fuse");
		if (errno == ENODEV || errno == ENXIO)
			return err_set(e, ERR_UNSUPPORTED,
				       "/dev/fuse is there but the kernel has no FUSE: load the "
				       "module with 'modprobe fuse' as root");
		return err_errno(e, "cannot open /dev/fuse");
	}
	close(fd);
	if (geteuid() != 0 && access("/usr/bin/fusermount3", X_OK) != 0 &&
	    access("/bin/fusermount3", X_OK) != 0)
		return err_set(e, ERR_UNSUPPORTED,
			       "fusermount3 is not installed, which a user other than root needs "
			       "to mount: install the fuse3 package (apt-get install fuse3), or "
			       "run 'arca mount' as root");
	return 0;
}

static void mnt_free(struct mnt *m)
{
	/* Handles the kernel never released (the read-ahead threads are
	 * gone by now, so none is in use). */
	while (m->opened.next != &m->opened) {
		struct open_link *l = m->opened.next;

		opened_remove(m, l);
		if (l->is_dir)
			dirh_free(m, (struct dirh *)l);
		else
			handle_free((struct handle *)l);
	}
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct node *n = m->bucket[i], *nx; n; n = nx) {
			nx = n->next;
			node_free(n);
		}
	free(m->bucket);
	for (size_t k = 0; k < m->n_pts; k++)
		point_free(m->pts[k]);
	free(m->pts);
	for (size_t k = 0; k < DIRS_KEPT; k++)
		tree_free(m->dirs[k].t);
	pthread_key_delete(m->key);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->open_mu);
	pthread_mutex_destroy(&m->fh_mu);
	pthread_mutex_destroy(&m->dir_mu);
	pthread_mutex_destroy(&m->ra_mu);
	pthread_cond_destroy(&m->ra_cv);
}

static int add_fixed(struct mnt *m, fuse_ino_t ino, enum kind kind)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return -1;
	n->ino = ino;
	n->kind = kind;
	return node_insert(m, n);
}

int mount_serve(const struct mount_source *src, const char *mountpoint, int foreground,
		const struct mount_events *ev, struct err *e)
{
	char *argv[] = { "arca", "-o", "ro,default_permissions,fsname=arca,subtype=arca", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config *cfg = NULL;
	struct mnt m;
	int rc = -1, mounted = 0, handlers = 0;

	memset(&m, 0, sizeof(m));
	m.src = *src;
	m.ev = ev;
	m.started = time(NULL);
	pthread_mutex_init(&m.mu, NULL);
	pthread_mutex_init(&m.open_mu, NULL);
	pthread_mutex_init(&m.fh_mu, NULL);
	m.opened.next = m.opened.prev = &m.opened;
	pthread_mutex_init(&m.dir_mu, NULL);
	pthread_mutex_init(&m.ra_mu, NULL);
	pthread_cond_init(&m.ra_cv, NULL);
	pthread_key_create(&m.key, tctx_free);
	m.n_buckets = 1024;
	m.refreshed = mono_now();
	if ((m.bucket = calloc(m.n_buckets, sizeof(*m.bucket))) == NULL ||
	    add_fixed(&m, FUSE_ROOT_ID, N_ROOT) || add_fixed(&m, INO_BY_TIME, N_BY_TIME) ||
	    add_fixed(&m, INO_BY_ID, N_BY_ID) || add_fixed(&m, INO_LATEST, N_LATEST) ||
	    merge_points(&m, src->points, e)) {
		err_oom(e);
		goto out;
	}
	if (mount_check_fuse(e))
		goto out;
	if ((m.se = fuse_session_new(&args, &ops, sizeof(ops), &m)) == NULL) {
		err_set(e, ERR_INVALID, "FUSE refused the mount's options");
		goto out;
	}
	if (fuse_set_signal_handlers(m.se) != 0) {
		err_set(e, ERR_IO, "cannot set the signal handlers");
		goto out;
	}
	handlers = 1;
	if (fuse_session_mount(m.se, mountpoint) != 0) {
		err_set(e, ERR_IO, "cannot mount on %s: it must be an empty folder of yours that "
			"is not mounted already (the reason is above)", mountpoint);
		goto out;
	}
	mounted = 1;
	if (ev && ev->ready)
		ev->ready(ev->arg, mountpoint);
	if (fuse_daemonize(foreground) != 0) {
		err_set(e, ERR_IO, "cannot go to the background");
		goto out;
	}
	/* Threads start after the fork of fuse_daemonize, which keeps only
	 * the thread that called it. */
	for (m.n_ra = 0; m.n_ra < RA_THREADS; m.n_ra++)
		if (pthread_create(&m.ra[m.n_ra], NULL, ra_main, &m) != 0)
			break;
	if ((cfg = fuse_loop_cfg_create()) == NULL) {
		err_oom(e);
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	/* Negative: an error; a signal's number (SIGTERM, SIGINT) is a clean end. */
	if (fuse_session_loop_mt(m.se, cfg) < 0) {
		err_set(e, ERR_IO, "the FUSE session ended with an error");
		goto out;
	}
	rc = 0;
out:
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	pthread_mutex_lock(&m.ra_mu);
	m.ra_stop = 1;
	m.q_len = 0;
	pthread_cond_broadcast(&m.ra_cv);
	pthread_mutex_unlock(&m.ra_mu);
	for (int i = 0; i < m.n_ra; i++)
		pthread_join(m.ra[i], NULL);
	if (mounted)
		fuse_session_unmount(m.se);
	if (handlers)
		fuse_remove_signal_handlers(m.se);
	if (m.se)
		fuse_session_destroy(m.se);
	fuse_opt_free_args(&args);
	tctx_free(pthread_getspecific(m.key));
	mnt_free(&m);
	return rc;
}

int mount_unmount(const char *mountpoint, struct err *e)
{
	char *argv[] = { "fusermount3", "-u", "--", (char *)mountpoint, NULL };
	pid_t pid;
	int st;

	if (geteuid() == 0) {
		if (umount2(mountpoint, UMOUNT_NOFOLLOW) == 0)
			return 0;
		if (errno == EINVAL)
			return err_set(e, ERR_INVALID, "%s is not a mount point", mountpoint);
		if (errno == EBUSY)
			return err_set(e, ERR_LOCKED, "%s is busy: a process has a file or folder "
				       "open under it (see 'fuser -vm %s'); close it and try again",
				       mountpoint, mountpoint);
		return err_errno(e, "cannot unmount %s", mountpoint);
	}
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
		return err_set(e, ERR_UNSUPPORTED, "fusermount3 is not installed: install the "
			       "fuse3 package (apt-get install fuse3), or run 'arca umount' as root");
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return err_set(e, ERR_IO, "fusermount3 -u %s failed (its reason is above)",
			       mountpoint);
	return 0;
}
