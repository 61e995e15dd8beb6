/*
 * backup.c: walk, chunk, deduplicate, seal, pack, upload, commit.
 *
 * One thread walks the selection, reads changed files, chunks them, hashes
 * and seals new chunks; a second thread uploads finished packs, so reading
 * and compressing overlap with the network. Objects this machine stored
 * before are known from the cache (checked against the service at the
 * start) or found by one bulk question per batch of new ones; the service is
 * the truth, the cache only saves work. Nothing is visible until the commit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backup.h"
#include "cachefile.h"
#include "chunker.h"
#include "client.h"
#include "compress.h"
#include "idmap.h"
#include "lease.h"
#include "object.h"
#include "pack.h"
#include "packer.h"
#include "reply.h"
#include "repo.h"
#include "tree.h"

/* Why these sizes: a read of 1 MiB costs one syscall per average chunk, and
 * what follows a cut in it (on average half a read) is all that is ever
 * copied. A batch of 4 MiB keeps the memory in flight small (the packer
 * holds a few of them) while asking the service about 4 chunks at once. */
#define READ_BLOCK (1u << 20)
#define PEND_MAX_OBJECTS 512
#define PEND_MAX_BYTES (2u << 20)
#define CHECK_BATCH 8192
#define REF 1 /* in struct bk's ids: this recovery point refers to it */

/* What the file index remembers of a file, to skip reading it next time. */
struct fent {
	uint64_t ino, size;
	int64_t msec, csec;
	uint32_t mnsec, cnsec;
};


/* The first entry of a hard-link group seen in this backup. */
struct link {
	struct tree_chunk *chunks;
	size_t n_chunks;
	struct tree_extent *ext;
	size_t n_ext;
	int sparse, ok;
	uint64_t size;
};

struct owner {
	uint32_t id;
	char *name;
};

struct bk {
	struct state *s;
	const struct backup_opts *o;
	struct backup_result *res;
	struct client *c;
	struct repo repo;
	struct tree_cache *tc;
	struct compress_ctx *cctx;
	struct chunker *ch;
	struct packer *pk;
	/* Every object this machine stored (as the service confirmed) or
	 * queued in this backup; its value byte says whether this recovery
	 * point refers to it (REF). One map rather than two sets: half the
	 * memory and half the lookups per chunk. */
	struct idmap ids;
	struct idmap fidx_old, fidx_new, links;
	struct pobj *pend; /* new objects, until the service says which it lacks */
	size_t n_pend, pend_bytes;
	struct buf chunk; /* the file's bytes read and not yet cut into chunks */
	struct link *lk;
	size_t n_lk;
	struct owner *users, *groups;
	size_t n_users, n_groups;
	struct timespec t0;
};

static double since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void skip(struct bk *b, const char *path, const char *why)
{
	const struct backup_events *ev = b->o->ev;

	json_array_append_new(b->res->skipped, json_pack("{s:s,s:s}", "path", path, "error", why));
	if (ev && ev->skipped)
		ev->skipped(ev->ctx, path, why);
}

/* A note about the cache, which costs speed, never data. */
static void note(struct bk *b, const char *why)
{
	const struct backup_events *ev = b->o->ev;

	if (ev && ev->note)
		ev->note(ev->ctx, why);
}

static void progress(struct bk *b, int last)
{
	const struct backup_events *ev = b->o->ev;

	if (ev && ev->progress)
		ev->progress(ev->ctx, b->res, since(&b->t0), last);
}

/* ---- objects ---- */

/* Hand the pending objects to the packer, which asks the service which it
 * lacks while this thread reads on. */
static int flush_pending(struct bk *b, struct err *e)
{
	int rc = packer_put(b->pk, b->pend, b->n_pend, e);

	for (size_t i = 0; i < b->n_pend; i++)
		buf_free(&b->pend[i].plain);
	b->n_pend = 0;
	b->pend_bytes = 0;
	return rc;
}

/* Object ID is part of this recovery point; *FRESH says whether this
 * machine may not have stored it yet (so it goes to the packer). */
static int note_ref(struct bk *b, const struct objid *id, bool *fresh, struct err *e)
{
	uint8_t *v = idmap_put(&b->ids, id, fresh);

	if (v == NULL)
		return err_oom(e);
	*v |= REF;
	return 0;
}

/* Queue the new object ID of KIND, whose plaintext PLAIN moves here. */
static int pend(struct bk *b, enum object_kind kind, const struct objid *id, struct buf plain,
		struct err *e)
{
	struct pobj *p = &b->pend[b->n_pend++];

	p->id = *id;
	p->kind = (uint8_t)kind;
	p->plain = plain;
	b->pend_bytes += plain.len;
	if (b->n_pend == PEND_MAX_OBJECTS || b->pend_bytes >= PEND_MAX_BYTES)
		return flush_pending(b, e);
	return 0;
}

/* The object ID of KIND (plaintext PLAIN) is part of this recovery point:
 * store it unless this machine has it already. */
static int emit(struct bk *b, enum object_kind kind, const struct objid *id,
		const uint8_t *plain, size_t len, struct err *e)
{
	struct buf copy = BUF_INIT;
	bool fresh;

	if (note_ref(b, id, &fresh, e))
		return -1;
	if (!fresh)
		return 0;
	if (buf_append(&copy, plain, len, e)) {
		buf_free(&copy);
		return -1;
	}
	return pend(b, kind, id, copy, e);
}

/* ---- metadata ---- */

static const char *owner_name(struct bk *b, int group, uint32_t id)
{
	struct owner **list = group ? &b->groups : &b->users;
	size_t *n = group ? &b->n_groups : &b->n_users;
	char tmp[16384], *name = NULL;
	struct owner *grown;

	for (size_t i = 0; i < *n; i++)
		if ((*list)[i].id == id)
			return (*list)[i].name;
	if (group) {
		struct group g, *r = NULL;

		if (getgrgid_r(id, &g, tmp, sizeof(tmp), &r) == 0 && r && r->gr_name[0])
			name = strdup(r->gr_name);
	} else {
		struct passwd pw, *r = NULL;

		if (getpwuid_r(id, &pw, tmp, sizeof(tmp), &r) == 0 && r && r->pw_name[0])
			name = strdup(r->pw_name);
	}
	if ((grown = realloc(*list, (*n + 1) * sizeof(**list))) == NULL) {
		free(name);
		return NULL;
	}
	*list = grown;
	(*list)[*n].id = id;
	(*list)[*n].name = name;
	(*n)++;
	return name;
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct tree_xattr *)a)->name, ((const struct tree_xattr *)b)->name);
}

/* Parse a kernel posix_acl xattr value into A (base-only access ACLs left out). */
static void parse_acl(const uint8_t *v, ssize_t len, int access, struct tree_acl *a)
{
	size_t n;

	a->e = NULL;
	a->n = 0;
	if (len < 4 || (len - 4) % 8 != 0 || v[0] != 2)
		return;
	n = (size_t)(len - 4) / 8;
	if (n == 0 || (access && n <= 3) || (a->e = calloc(n, sizeof(*a->e))) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = v + 4 + 8 * i;
		uint16_t tag = (uint16_t)(p[0] | p[1] << 8), perm = (uint16_t)(p[2] | p[3] << 8);
		uint32_t id = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		a->e[i].tag = (uint8_t)tag;
		a->e[i].perm = (uint8_t)(perm & 7);
		a->e[i].id = (tag == TREE_ACL_USER || tag == TREE_ACL_GROUP) ? id : 0;
	}
	a->n = n;
}

/* Extended attributes and ACLs of PATH. A failure to read them is reported,
 * and the entry kept without them. */
static void read_xattrs(struct bk *b, const char *path, struct tree_entry *x)
{
	char *names = NULL, *p;
	ssize_t n = llistxattr(path, NULL, 0), got;

	if (n < 0) {
		if (errno != ENOTSUP && errno != ENODATA) {
			char why[256];

			snprintf(why, sizeof(why), "extended attributes not read: %s", strerror(errno));
			skip(b, path, why);
		}
		return;
	}
	if (n == 0 || (names = malloc((size_t)n)) == NULL)
		return;
	if ((n = llistxattr(path, names, (size_t)n)) < 0) {
		free(names);
		return;
	}
	for (p = names; p < names + n; p += strlen(p) + 1) {
		uint8_t *val = NULL;
		int acl_access = strcmp(p, "system.posix_acl_access") == 0;
		int acl_default = strcmp(p, "system.posix_acl_default") == 0;

		if ((got = lgetxattr(path, p, NULL, 0)) < 0)
			continue;
		if (got > 0 && ((val = malloc((size_t)got)) == NULL ||
				(got = lgetxattr(path, p, val, (size_t)got)) < 0)) {
			free(val);
			continue;
		}
		if (acl_access || acl_default) {
			parse_acl(val, got, acl_access, acl_access ? &x->acl_access : &x->acl_default);
			free(val);
			continue;
		}
		struct tree_xattr *grown = realloc(x->xattrs, (x->n_xattrs + 1) * sizeof(*grown));

		if (grown == NULL) {
			free(val);
			continue;
		}
		x->xattrs = grown;
		x->xattrs[x->n_xattrs].name = strdup(p);
		x->xattrs[x->n_xattrs].value = val;
		x->xattrs[x->n_xattrs].len = (size_t)got;
		x->n_xattrs++;
	}
	free(names);
	if (x->n_xattrs > 1)
		qsort(x->xattrs, x->n_xattrs, sizeof(*x->xattrs), cmp_xattr);
}

static void fill_meta(struct bk *b, const char *path, const char *name, const struct stat *st,
		      struct tree_entry *x)
{
	memset(x, 0, sizeof(*x));
	x->name = (char *)name;
	x->mode = st->st_mode & 07777;
	x->uid = st->st_uid;
	x->gid = st->st_gid;
	x->user = (char *)owner_name(b, 0, st->st_uid);
	x->group = (char *)owner_name(b, 1, st->st_gid);
	x->mtime = (struct tree_time){ st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec };
	x->atime = (struct tree_time){ st->st_atim.tv_sec, (uint32_t)st->st_atim.tv_nsec };
	x->ctime = (struct tree_time){ st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec };
	switch (st->st_mode & S_IFMT) {
	case S_IFREG: x->type = TREE_FILE; x->size = (uint64_t)st->st_size; break;
	case S_IFDIR: x->type = TREE_DIR; break;
	case S_IFLNK: x->type = TREE_SYMLINK; break;
	case S_IFCHR: x->type = TREE_CHR; break;
	case S_IFBLK: x->type = TREE_BLK; break;
	case S_IFIFO: x->type = TREE_FIFO; break;
	default: x->type = TREE_SOCK; break;
	}
	if (x->type == TREE_CHR || x->type == TREE_BLK) {
		x->dev_major = major(st->st_rdev);
		x->dev_minor = minor(st->st_rdev);
	}
	read_xattrs(b, path, x);
}

/* Free what fill_meta and the content functions allocated (not the names
 * and owner strings, which belong to others). */
static void clear_entry(struct tree_entry *x)
{
	for (size_t i = 0; i < x->n_xattrs; i++) {
		free(x->xattrs[i].name);
		free(x->xattrs[i].value);
	}
	free(x->xattrs);
	free(x->acl_access.e);
	free(x->acl_default.e);
	free(x->extents);
	free(x->chunks);
	free(x->target);
	memset(x, 0, sizeof(*x));
}

/* ---- file contents ---- */

struct chunks {
	struct tree_chunk *v;
	size_t n, cap;
};

/* The first LEN bytes of the read buffer are a chunk: note it in CS and
 * queue it if new; the bytes after it stay in the buffer. A new chunk takes
 * the buffer with it (no copy of the chunk), and only what follows it moves
 * into the next buffer. */
static int push_chunk(struct bk *b, struct chunks *cs, size_t len, struct err *e)
{
	size_t rest = b->chunk.len - len;
	struct buf next;
	struct objid id;
	bool fresh;

	if (len == 0)
		return 0;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct tree_chunk *v = realloc(cs->v, cap * sizeof(*v));

		if (v == NULL)
			return err_oom(e);
		cs->v = v, cs->cap = cap;
	}
	objid_compute(b->s->keys, b->chunk.data, len, &id);
	cs->v[cs->n].id = id;
	cs->v[cs->n].len = (uint32_t)len;
	cs->n++;
	if (note_ref(b, &id, &fresh, e))
		return -1;
	if (!fresh) {
		memmove(b->chunk.data, b->chunk.data + len, rest);
		b->chunk.len = rest;
		return 0;
	}
	/* A chunk much smaller than the buffer (a small file) is copied
	 * instead: handing over the whole buffer would queue its capacity. */
	if (len < b->chunk.cap / 4) {
		struct buf copy = BUF_INIT;

		if (buf_append(&copy, b->chunk.data, len, e))
			return -1;
		memmove(b->chunk.data, b->chunk.data + len, rest);
		b->chunk.len = rest;
		return pend(b, OBJECT_DATA, &id, copy, e);
	}
	next = packer_buf(b->pk);
	if (buf_append(&next, b->chunk.data + len, rest, e)) {
		buf_free(&next);
		return -1;
	}
	b->chunk.len = len;
	if (pend(b, OBJECT_DATA, &id, b->chunk, e)) {
		b->chunk = next;
		return -1;
	}
	b->chunk = next;
	return 0;
}

/* Read the data extents of FD and chunk them into X. 1 when the file changed
 * under us (reported), 0 done, -1 on a failure that stops the backup. */
static int read_content(struct bk *b, const char *path, int fd, const struct stat *st,
			struct tree_entry *x, struct err *e)
{
	struct tree_extent one = { 0, (uint64_t)st->st_size }, *ext = &one;
	size_t n_ext = st->st_size > 0 ? 1 : 0;
	struct chunks cs = { NULL, 0, 0 };

	/* Sparse files: find the data with SEEK_DATA and SEEK_HOLE. */
	if (st->st_size > 0 && (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size) {
		struct tree_extent *v = NULL;
		size_t n = 0, cap = 0;
		off_t pos = 0, data, hole;

		while (pos < st->st_size && (data = lseek(fd, pos, SEEK_DATA)) >= 0) {
			if ((hole = lseek(fd, data, SEEK_HOLE)) < 0)
				hole = st->st_size;
			if (hole > st->st_size)
				hole = st->st_size;
			if (hole <= data)
				break;
			if (n == cap) {
				struct tree_extent *g;

				cap = cap ? cap * 2 : 8;
				if ((g = realloc(v, cap * sizeof(*v))) == NULL) {
					free(v);
					return err_oom(e);
				}
				v = g;
			}
			v[n++] = (struct tree_extent){ (uint64_t)data, (uint64_t)(hole - data) };
			pos = hole;
		}
		if (n == 1 && v[0].off == 0 && v[0].len == (uint64_t)st->st_size) {
			free(v);
		} else {
			x->sparse = true;
			x->extents = v;
			x->n_extents = n;
			ext = v;
			n_ext = n;
		}
	}
	chunker_reset(b->ch);
	buf_reset(&b->chunk);
	for (size_t i = 0; i < n_ext; i++) {
		uint64_t off = ext[i].off, end = ext[i].off + ext[i].len;

		while (off < end) {
			size_t want = end - off < READ_BLOCK ? (size_t)(end - off) : READ_BLOCK;
			size_t scan = b->chunk.len;
			ssize_t r;

			if (buf_reserve(&b->chunk, want, e)) {
				free(cs.v);
				return -1;
			}
			r = pread(fd, b->chunk.data + b->chunk.len, want, (off_t)off);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				char why[256];

				snprintf(why, sizeof(why), r < 0 ? "read failed: %s" :
					 "the file shrank while it was read; the next backup takes it",
					 strerror(errno));
				skip(b, path, why);
				free(cs.v);
				return 1;
			}
			off += (uint64_t)r;
			b->res->bytes_read += (uint64_t)r;
			b->chunk.len += (size_t)r;
			while (scan < b->chunk.len) {
				bool cut;

				scan += chunker_next(b->ch, b->chunk.data + scan, b->chunk.len - scan,
						     &cut);
				if (!cut)
					continue;
				if (push_chunk(b, &cs, scan, e)) {
					free(cs.v);
					return -1;
				}
				scan = 0;
			}
			progress(b, 0);
		}
	}
	if (push_chunk(b, &cs, b->chunk.len, e)) {
		free(cs.v);
		return -1;
	}
	x->chunks = cs.v;
	x->n_chunks = cs.n;
	return 0;
}

static void path_key(const char *path, struct objid *k)
{
	crypto_generichash(k->b, sizeof(k->b), (const uint8_t *)path, strlen(path), NULL, 0);
}

static int copy_content(struct tree_entry *x, const struct tree_chunk *c, size_t nc,
			const struct tree_extent *ext, size_t ne, int sparse, struct err *e)
{
	x->sparse = sparse;
	if (nc && (x->chunks = malloc(nc * sizeof(*c))) == NULL)
		return err_oom(e);
	if (ne && (x->extents = malloc(ne * sizeof(*ext))) == NULL)
		return err_oom(e);
	if (nc)
		memcpy(x->chunks, c, nc * sizeof(*c));
	if (ne)
		memcpy(x->extents, ext, ne * sizeof(*ext));
	x->n_chunks = nc;
	x->n_extents = ne;
	return 0;
}

/* Whether the service confirmed it holds every chunk of PREV (the known
 * set was checked against it at the start): a file whose chunk the service
 * lost is read and uploaded again. */
static int all_stored(struct bk *b, const struct tree_entry *prev)
{
	for (size_t i = 0; i < prev->n_chunks; i++)
		if (idmap_get(&b->ids, &prev->chunks[i].id) == NULL)
			return 0;
	return 1;
}

/* A regular file's content: from the parent recovery point when the file is
 * unchanged, from the first link of its hard-link group, or read. 1 when it
 * was skipped, 0 done, -1 to stop. */
static int file_content(struct bk *b, const char *path, const struct stat *st,
			const struct tree_entry *prev, struct tree_entry *x, struct err *e)
{
	struct objid key, lkey;
	struct fent *old, *nw, f = { (uint64_t)st->st_ino, (uint64_t)st->st_size,
				     st->st_mtim.tv_sec, st->st_ctim.tv_sec,
				     (uint32_t)st->st_mtim.tv_nsec, (uint32_t)st->st_ctim.tv_nsec };
	struct link *lk = NULL;
	bool added;
	int fd, r;

	path_key(path, &key);
	if (st->st_nlink > 1) {
		uint64_t dev_ino[2] = { (uint64_t)st->st_dev, (uint64_t)st->st_ino };
		uint64_t *slot;

		crypto_generichash(lkey.b, sizeof(lkey.b), (const uint8_t *)dev_ino, sizeof(dev_ino),
				   NULL, 0);
		if ((slot = idmap_put(&b->links, &lkey, &added)) == NULL)
			return err_oom(e);
		if (added) {
			struct link *g = realloc(b->lk, (b->n_lk + 1) * sizeof(*g));

			if (g == NULL)
				return err_oom(e);
			b->lk = g;
			memset(&b->lk[b->n_lk], 0, sizeof(*g));
			*slot = ++b->n_lk;
		} else if (b->lk[*slot - 1].ok) {
			lk = &b->lk[*slot - 1];
			x->link_id = *slot;
			x->nlink = (uint32_t)st->st_nlink;
			x->size = lk->size;
			b->res->files_unchanged++;
			return copy_content(x, lk->chunks, lk->n_chunks, lk->ext, lk->n_ext,
					    lk->sparse, e);
		}
		x->link_id = *slot;
		x->nlink = (uint32_t)st->st_nlink;
		lk = &b->lk[*slot - 1];
	}
	old = idmap_get(&b->fidx_old, &key);
	if (prev && prev->type == TREE_FILE && old && memcmp(old, &f, sizeof(f)) == 0 &&
	    prev->size == f.size && prev->mtime.sec == f.msec && prev->mtime.nsec == f.mnsec &&
	    prev->ctime.sec == f.csec && prev->ctime.nsec == f.cnsec &&
	    all_stored(b, prev)) {
		if (copy_content(x, prev->chunks, prev->n_chunks, prev->extents, prev->n_extents,
				 prev->sparse, e))
			return -1;
		for (size_t i = 0; i < prev->n_chunks; i++) {
			uint8_t *v = idmap_put(&b->ids, &prev->chunks[i].id, &added);

			if (v == NULL)
				return err_oom(e);
			*v |= REF;
		}
		b->res->files_unchanged++;
	} else {
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME)) < 0 &&
		    errno == EPERM)
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			char why[256];

			snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
			skip(b, path, why);
			return 1;
		}
		r = read_content(b, path, fd, st, x, e);
		close(fd);
		if (r)
			return r;
		if (prev && prev->type == TREE_FILE)
			b->res->files_changed++;
		else
			b->res->files_new++;
	}
	if ((nw = idmap_put(&b->fidx_new, &key, &added)) == NULL)
		return err_oom(e);
	memcpy(nw, &f, sizeof(f));
	if (lk) {
		lk->ok = 1;
		lk->size = x->size;
		lk->sparse = x->sparse;
		if ((x->n_chunks && (lk->chunks = malloc(x->n_chunks * sizeof(*x->chunks))) == NULL) ||
		    (x->n_extents && (lk->ext = malloc(x->n_extents * sizeof(*x->extents))) == NULL))
			return err_oom(e);
		if (x->n_chunks)
			memcpy(lk->chunks, x->chunks, x->n_chunks * sizeof(*x->chunks));
		if (x->n_extents)
			memcpy(lk->ext, x->extents, x->n_extents * sizeof(*x->extents));
		lk->n_chunks = x->n_chunks;
		lk->n_ext = x->n_extents;
	}
	return 0;
}

/* ---- folders and the selection ---- */

static int excluded(const struct bk *b, const char *path, const char *name, int is_dir)
{
	if ((b->s->cache && strcmp(path, b->s->cache) == 0) || strcmp(path, b->s->home) == 0)
		return 1;
	for (size_t i = 0; i < b->o->n_excludes; i++)
		if (fnmatch(b->o->excludes[i], path, 0) == 0 ||
		    fnmatch(b->o->excludes[i], name, 0) == 0)
			return 1;
	if (is_dir || b->o->n_includes == 0)
		return 0;
	for (size_t i = 0; i < b->o->n_includes; i++)
		if (fnmatch(b->o->includes[i], path, 0) == 0 ||
		    fnmatch(b->o->includes[i], name, 0) == 0)
			return 0;
	return 1;
}

static int backup_dir(struct bk *b, const char *path, const struct objid *prev,
		      struct objid *out, struct err *e);

/* Whether PATH is the root of a kernel's virtual file system (/proc, /sys,
 * /dev/pts, cgroups, ...): nothing there is data to back up or restore. */
static int pseudo_fs(const char *path)
{
	static const long kinds[] = {
		0x9fa0,     /* proc */
		0x62656572, /* sysfs */
		0x1cd1,     /* devpts */
		0x27e0eb,   /* cgroup */
		0x63677270, /* cgroup2 */
		0x64626720, /* debugfs */
		0x73636673, /* securityfs */
		0x74726163, /* tracefs */
		0xcafe4a11, /* bpf */
		0x6165676c, /* pstore */
		0x62656570, /* configfs */
		0x65735543, /* fusectl */
		0x19800202, /* mqueue */
		0x958458f6, /* hugetlbfs */
		0x42494e4d, /* binfmt_misc */
	};
	struct statfs f;

	if (statfs(path, &f) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((long)f.f_type == kinds[i])
			return 1;
	return 0;
}

/* Add the entry NAME at PATH (lstat ST) to T. PREV is the parent recovery
 * point's entry of that name, or NULL. 0 (added or skipped) or -1. */
static int add_entry(struct bk *b, struct tree *t, const char *path, const char *name,
		     const struct stat *st, const struct tree_entry *prev, struct err *e)
{
	struct tree_entry x;
	int r = 0;

	if (excluded(b, path, name, S_ISDIR(st->st_mode)))
		return 0;
	if (S_ISDIR(st->st_mode) && pseudo_fs(path))
		return 0;
	fill_meta(b, path, name, st, &x);
	if (x.type == TREE_DIR) {
		r = backup_dir(b, path, prev && prev->type == TREE_DIR ? &prev->subtree : NULL,
			       &x.subtree, e);
		b->res->dirs++;
	} else if (x.type == TREE_FILE) {
		r = file_content(b, path, st, prev, &x, e);
	} else if (x.type == TREE_SYMLINK) {
		char target[TREE_TARGET_MAX + 2];
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		b->res->others++;
		if (n <= 0 || n > TREE_TARGET_MAX) {
			skip(b, path, n < 0 ? strerror(errno) : "symlink target empty or too long");
			r = 1;
		} else {
			target[n] = '\0';
			x.target = strdup(target);
		}
	} else {
		b->res->others++;
	}
	if (r == 0 && tree_add(t, &x, e) != 0) {
		char why[ERR_MSG_MAX + 32];

		snprintf(why, sizeof(why), "not recordable: %s", e->msg);
		skip(b, path, why);
	}
	x.name = NULL, x.user = NULL, x.group = NULL;
	clear_entry(&x);
	return r < 0 ? -1 : 0;
}

/* Encode T, store it as a tree object, give its id. */
static int put_tree(struct bk *b, struct tree *t, struct objid *out, struct err *e)
{
	struct buf enc = BUF_INIT;
	int rc = -1;

	if (tree_encode(t, &enc, e) == 0) {
		objid_compute(b->s->keys, enc.data, enc.len, out);
		rc = emit(b, OBJECT_TREE, out, enc.data, enc.len, e);
	}
	buf_free(&enc);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int backup_dir(struct bk *b, const char *path, const struct objid *prev,
		      struct objid *out, struct err *e)
{
	struct tree *t = tree_new(e), *pt = NULL;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, dfd = -1;

	if (t == NULL)
		return -1;
	if (prev) {
		struct err pe;

		pt = repo_tree(&b->repo, prev, &pe); /* none: read everything */
	}
	if ((d = opendir(path)) == NULL) {
		char why[256];

		snprintf(why, sizeof(why), "folder not read: %s", strerror(errno));
		skip(b, path, why);
	} else {
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (n == cap) {
				char **g = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*g));

				if (g == NULL) {
					closedir(d);
					err_oom(e);
					goto out;
				}
				names = g;
			}
			if ((names[n] = strdup(de->d_name)) == NULL) {
				closedir(d);
				err_oom(e);
				goto out;
			}
			n++;
		}
		/* Why keep a descriptor: each entry is looked up in this
		 * folder alone rather than along its whole path. Without one
		 * (out of descriptors, deep down), whole paths do. */
		dfd = fcntl(dirfd(d), F_DUPFD_CLOEXEC, 0);
		closedir(d);
	}
	/* Name order: the walk, and so the packs, come out the same each run. */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char child[8192];
		struct stat st;

		if (snprintf(child, sizeof(child), "%s%s%s", path, strcmp(path, "/") ? "/" : "",
			     names[i]) >= (int)sizeof(child)) {
			skip(b, path, "a path inside is too long");
			continue;
		}
		if ((dfd >= 0 ? fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW)
			      : lstat(child, &st)) != 0) {
			if (errno != ENOENT)
				skip(b, child, strerror(errno));
			continue;
		}
		if (add_entry(b, t, child, names[i], &st, pt ? tree_find(pt, names[i]) : NULL, e))
			goto out;
	}
	rc = put_tree(b, t, out, e);
out:
	if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	tree_free(t);
	tree_free(pt);
	return rc;
}

/* The selection as a tree of path components from "/". */
struct node {
	char *name;
	struct node *kids;
	size_t n;
	int selected;
};

static void node_free(struct node *nd)
{
	for (size_t i = 0; i < nd->n; i++)
		node_free(&nd->kids[i]);
	free(nd->kids);
	free(nd->name);
}

static int node_add(struct node *root, const char *path, struct err *e)
{
	struct node *at = root;
	char *copy = strdup(path), *save = NULL, *c;

	if (copy == NULL)
		return err_oom(e);
	for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct node *next = NULL;

		if (at->selected)
			break;
		for (size_t i = 0; i < at->n; i++)
			if (strcmp(at->kids[i].name, c) == 0)
				next = &at->kids[i];
		if (next == NULL) {
			struct node *g = realloc(at->kids, (at->n + 1) * sizeof(*g));

			if (g == NULL) {
				free(copy);
				return err_oom(e);
			}
			at->kids = g;
			next = &at->kids[at->n++];
			memset(next, 0, sizeof(*next));
			next->name = strdup(c);
		}
		at = next;
	}
	if (!at->selected) {
		for (size_t i = 0; i < at->n; i++)
			node_free(&at->kids[i]);
		free(at->kids);
		at->kids = NULL;
		at->n = 0;
		at->selected = 1;
	}
	free(copy);
	return 0;
}

/* The tree of folder ND at PATH: the whole folder when selected, else only
 * the selected paths below it (with this folder's own metadata). */
static int backup_node(struct bk *b, const struct node *nd, const char *path,
		       const struct objid *prev, struct objid *out, struct err *e)
{
	struct tree *t, *pt = NULL;
	int rc = -1;

	if (nd->selected)
		return backup_dir(b, path, prev, out, e);
	if ((t = tree_new(e)) == NULL)
		return -1;
	if (prev) {
		struct err pe;

		pt = repo_tree(&b->repo, prev, &pe);
	}
	for (size_t i = 0; i < nd->n; i++) {
		const struct node *k = &nd->kids[i];
		const struct tree_entry *kp = pt ? tree_find(pt, k->name) : NULL;
		char child[8192];
		struct stat st;
		struct tree_entry x;

		snprintf(child, sizeof(child), "%s%s%s", path, strcmp(path, "/") ? "/" : "",
			 k->name);
		if (lstat(child, &st) != 0) {
			skip(b, child, strerror(errno));
			continue;
		}
		if (k->selected || !S_ISDIR(st.st_mode)) {
			if (add_entry(b, t, child, k->name, &st, kp, e))
				goto out;
			continue;
		}
		fill_meta(b, child, k->name, &st, &x);
		if (backup_node(b, k, child, kp && kp->type == TREE_DIR ? &kp->subtree : NULL,
				&x.subtree, e)) {
			x.name = x.user = x.group = NULL;
			clear_entry(&x);
			goto out;
		}
		if (tree_add(t, &x, e) != 0)
			skip(b, child, e->msg);
		x.name = x.user = x.group = NULL;
		clear_entry(&x);
	}
	rc = put_tree(b, t, out, e);
out:
	tree_free(t);
	tree_free(pt);
	return rc;
}

/* Sum the sizes of the regular files selected (for the cache-space check
 * and the time left). It runs on a thread of its own while the backup talks
 * to the service (the job, the lease, the check of the cache), and walks by
 * folder descriptors, so each name costs one lookup rather than a whole
 * path's. */
struct sizer {
	const struct bk *b;
	const int *stop; /* set when the backup ends first: give up */
	char path[8192];
	uint64_t sum, files;
};

static void size_dir(struct sizer *z, int fd, size_t len)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		close(fd);
		return;
	}
	while (!__atomic_load_n(z->stop, __ATOMIC_RELAXED) && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), sep = len > 0 && z->path[len - 1] != '/';
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    len + sep + n >= sizeof(z->path))
			continue;
		if (sep)
			z->path[len] = '/';
		memcpy(z->path + len + sep, de->d_name, n + 1);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    excluded(z->b, z->path, de->d_name, S_ISDIR(st.st_mode)))
			goto next;
		if (S_ISREG(st.st_mode))
			z->sum += (uint64_t)st.st_size, z->files++;
		else if (S_ISDIR(st.st_mode) &&
			 (sub = openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
			size_dir(z, sub, len + sep + n);
next:
		z->path[len] = '\0';
	}
	closedir(d);
}

static uint64_t selected_bytes(const struct bk *b, const char *path, const int *stop,
			       uint64_t *files)
{
	struct sizer *z = malloc(sizeof(*z));
	const char *name = strrchr(path, '/');
	struct stat st;
	uint64_t sum = 0;
	int fd;

	if (z == NULL || lstat(path, &st) != 0 ||
	    excluded(b, path, name ? name + 1 : path, S_ISDIR(st.st_mode))) {
		free(z);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		sum = (uint64_t)st.st_size;
		(*files)++;
	} else if (S_ISDIR(st.st_mode) && strlen(path) < sizeof(z->path) &&
		   (fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		z->b = b;
		z->stop = stop;
		z->sum = z->files = 0;
		strcpy(z->path, path);
		size_dir(z, fd, strlen(path));
		sum = z->sum;
		*files += z->files;
	}
	free(z);
	return sum;
}

struct sizing {
	const struct bk *b;
	pthread_t t;
	int started, stop;
	uint64_t sum, files;
};

static void *sizing_main(void *arg)
{
	struct sizing *g = arg;

	for (size_t i = 0; i < g->b->o->n_paths; i++)
		g->sum += selected_bytes(g->b, g->b->o->paths[i], &g->stop, &g->files);
	return NULL;
}

/* ---- the cache's indexes ---- */

/* Load the cache index file NAME into M (values of M->vsize bytes). A
 * missing file leaves M empty; so does a damaged one, which is reported
 * (it is only a hint, written anew after this backup). */
static void index_load(struct bk *b, const char *name, const char magic[8], struct idmap *m)
{
	char path[4200], why[ERR_MSG_MAX + 4400];
	struct buf f = BUF_INIT;
	struct err e;

	snprintf(path, sizeof(path), "%s/%s", b->s->cache, name);
	if (access(path, F_OK) != 0)
		return;
	if (state_read_file(path, (size_t)1 << 34, &f, &e) == 0 &&
	    cache_index_parse(f.data, f.len, magic, m, &e) == 0) {
		buf_free(&f);
		return;
	}
	buf_free(&f);
	snprintf(why, sizeof(why), "the cache file %s is ignored (%s); this backup reads "
		 "what it needs from the service and writes the file anew", path, e.msg);
	note(b, why);
}

/* Save M as the cache index file NAME, with VSIZE bytes of each value (the
 * file's record format; M may hold more). */
static int index_save(const char *cache, const char *name, const char magic[8],
		      const struct idmap *m, size_t vsize, struct err *e)
{
	struct buf b = BUF_INIT;
	int rc = -1;

	if (cache_index_write(m, magic, vsize, &b, e) == 0)
		rc = state_write_file(cache, name, b.data, b.len, 0600, e);
	buf_free(&b);
	return rc;
}

/* Append ID to a JSON array being written in OUT, as "hex", with a comma
 * before it unless FIRST. Why text and not json_t: a commit lists every
 * object of the point, tens of thousands of them. 0 or -1. */
static int append_id(struct buf *out, const struct objid *id, int first, struct err *e)
{
	char hex[OBJID_HEX_LEN + 4];

	hex[0] = ',';
	hex[1] = '"';
	objid_to_hex(id, hex + 2);
	hex[OBJID_HEX_LEN + 2] = '"';
	return buf_append(out, first ? hex + 1 : hex, first ? OBJID_HEX_LEN + 2 : OBJID_HEX_LEN + 3,
			  e);
}

/* Ask the service which of the ids of IDS (only those whose value byte has
 * a bit of MASK, when IDS has values) it holds for us, a batch at a time:
 * those it holds go into HELD (when not NULL), and *N_MISSING (when not
 * NULL) counts the others. */
static int ask_held(struct bk *b, const struct idmap *ids, uint8_t mask, struct idmap *held,
		    size_t *n_missing, struct err *e)
{
	const struct objid *k;
	size_t i = 0;
	struct objid *all = malloc(CHECK_BATCH * sizeof(*all));
	bool *missing = malloc(CHECK_BATCH * sizeof(*missing));
	struct buf text = BUF_INIT;
	void *v;
	int rc = -1;

	if (all == NULL || missing == NULL) {
		err_oom(e);
		goto out;
	}
	for (;;) {
		json_t *ans;
		size_t n = 0;
		bool added;
		int r;

		buf_reset(&text);
		if (buf_append(&text, "{\"ids\":[", 8, e))
			goto out;
		while (n < CHECK_BATCH && idmap_next(ids, &i, &k, &v)) {
			if (ids->vsize && !(*(uint8_t *)v & mask))
				continue;
			if (append_id(&text, k, n == 0, e))
				goto out;
			all[n++] = *k;
		}
		if (n == 0)
			break;
		if (buf_append(&text, "]}", 2, e))
			goto out;
		ans = client_json_text(b->c, "POST", "/objects/missing", (const char *)text.data,
				       text.len, NULL, NULL, e);
		if (ans == NULL)
			goto out;
		r = reply_missing(ans, all, n, missing, e);
		json_decref(ans);
		if (r)
			goto out;
		for (size_t j = 0; j < n; j++) {
			if (missing[j] && n_missing)
				(*n_missing)++;
			if (!missing[j] && held && idmap_put(held, &all[j], &added) == NULL) {
				err_oom(e);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(all);
	free(missing);
	buf_free(&text);
	return rc;
}

/* Keep only the cached ids the service confirms it holds for us. */
static int verify_known(struct bk *b, struct idmap *cached, struct err *e)
{
	if (idmap_reserve(&b->ids, cached->n))
		return err_oom(e);
	return ask_held(b, cached, 0, &b->ids, NULL, e);
}

/*
 * The lease lapsed during the backup (WHY: the service's word): while no
 * lease held, the collector may have removed objects the backup counts on
 * as stored. The renewer took a new lease at once, so what is stored now
 * stays; check that every object the point references is among it. Why
 * fail rather than commit: the commit would be refused anyway (the service
 * checks every reference), but this says why; the next backup uploads the
 * objects again (SPEC section 7, rule 6), since its cache of stored ids is
 * checked against the service too.
 */
static int recheck_refs(struct bk *b, const char *why, struct err *e)
{
	size_t gone = 0;

	if (ask_held(b, &b->ids, REF, NULL, &gone, e) != 0)
		return -1;
	if (gone)
		return err_set(e, ERR_NOT_FOUND, "the backup's lease lapsed (%s), and meanwhile the "
			       "service's collector removed %zu of the objects this backup refers "
			       "to; nothing was committed: run the backup again, it uploads them again",
			       why, gone);
	{
		char msg[ERR_MSG_MAX + 200];

		snprintf(msg, sizeof(msg), "the backup's lease lapsed (%s); a new one was taken and "
			 "every object of the backup checked: the service still holds them all", why);
		note(b, msg);
	}
	return 0;
}

/* ---- one backup ---- */

#define COMMIT_TRIES 4

/* Whether a point whose record is META_HEX is committed: 1 with the point
 * in *POINT (caller decrefs), 0 when it is not, -1 with E set when the
 * service could not tell. */
static int committed_as(struct bk *b, const char *meta_hex, json_t **point, struct err *e)
{
	json_t *ans, *points, *p;
	size_t i;

	if ((ans = client_json(b->c, "GET", "/recovery-points", NULL, NULL, NULL, e)) == NULL)
		return -1;
	if ((points = reply_points(ans, e)) == NULL) {
		json_decref(ans);
		return -1;
	}
	json_array_foreach(points, i, p) {
		const char *m = json_string_value(json_object_get(p, "meta"));

		if (m && strcmp(m, meta_hex) == 0) {
			*point = json_incref(p);
			json_decref(ans);
			return 1;
		}
	}
	json_decref(ans);
	return 0;
}

static int commit(struct bk *b, const struct objid *meta, const char *parent, const char *lease,
		  struct err *e)
{
	json_t *head, *ans;
	const struct objid *k;
	char hex[OBJID_HEX_LEN + 1], *start;
	struct buf text = BUF_INIT;
	size_t i = 0, len;
	void *v;
	int first = 1;

	/* The small fields through jansson (escaped as JSON wants), then the
	 * list of objects appended as text in place of the closing brace. */
	objid_to_hex(meta, hex);
	head = json_pack("{s:s,s:s?,s:s?}", "meta", hex, "parent", parent, "lease", lease);
	start = head ? json_dumps(head, JSON_COMPACT) : NULL;
	json_decref(head);
	if (start == NULL)
		return err_oom(e);
	len = strlen(start);
	if (buf_append(&text, start, len - 1, e) || buf_append(&text, ",\"objects\":[", 12, e)) {
		free(start);
		buf_free(&text);
		return -1;
	}
	free(start);
	while (idmap_next(&b->ids, &i, &k, &v)) {
		if (!(*(uint8_t *)v & REF))
			continue;
		if (append_id(&text, k, first, e)) {
			buf_free(&text);
			return -1;
		}
		first = 0;
	}
	if (buf_append(&text, "]}", 2, e)) {
		buf_free(&text);
		return -1;
	}
	/* A commit is not sent again blindly: when its connection failed, the
	 * point may be committed all the same. The list of points tells, by
	 * the record's id (new with every backup); only a commit that did not
	 * land is sent again, up to COMMIT_TRIES tries in all. */
	for (int i = 1;; i++) {
		long st = 0;
		int landed;

		ans = client_json_text(b->c, "POST", "/recovery-points", (const char *)text.data,
				       text.len, NULL, &st, e);
		if (ans || i >= COMMIT_TRIES)
			break;
		/* Refused from its headers (the bounds on uploads in flight, a
		 * service that is busy): nothing was committed; wait, send again. */
		if (st == 429 || st == 503) {
			sleep(1u << (i - 1));
			continue;
		}
		if (st != 0 || e->code != ERR_IO)
			break;
		fprintf(stderr, "arca: the commit's connection failed (%s); checking whether the "
			"recovery point was committed\n", e->msg);
		/* A moment for a commit still at work in the service to end:
		 * 0.25 s, 0.5 s, 1 s. */
		long ms = 250L << (i - 1);

		nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
		if ((landed = committed_as(b, hex, &ans, e)) < 0)
			break; /* E says why the list could not be read */
		if (landed)
			break;
	}
	buf_free(&text);
	if (ans == NULL)
		return -1;
	/* Why the record is checked: an answer about another commit (replayed
	 * or swapped in by whoever answers) would have the agent report
	 * another point's id as this backup's. */
	if (json_is_string(json_object_get(ans, "meta")) == 0 ||
	    strcmp(json_string_value(json_object_get(ans, "meta")), hex) != 0) {
		err_set(e, ERR_CORRUPT, "the service's answer to the commit is about another "
			"recovery point (its record is not %.16s); whether this backup was "
			"committed, 'arca recovery-points' tells", hex);
		json_decref(ans);
		return -1;
	}
	/* Committed: an id that cannot be shown is left out, not an error. */
	snprintf(b->res->point, sizeof(b->res->point), "%s", reply_id(ans, "id", NULL) ?: "");
	json_decref(ans);
	return 0;
}

static void end_job(struct bk *b, const char *job, const char *status, const char *why)
{
	char path[128];
	json_t *body, *ans;
	struct err e;

	if (job == NULL)
		return;
	snprintf(path, sizeof(path), "/jobs/%s", job);
	body = json_pack("{s:s,s:I,s:I,s:I,s:s?,s:{s:O,s:s?,s:I,s:I,s:I}}", "status", status,
			 "files", (json_int_t)(b->res->files_new + b->res->files_changed +
					       b->res->files_unchanged),
			 "bytes_read", (json_int_t)b->res->bytes_read,
			 "bytes_stored", (json_int_t)b->res->bytes_stored,
			 "recovery_point", b->res->point[0] ? b->res->point : NULL,
			 "report", "skipped", b->res->skipped, "error", why,
			 "files_new", (json_int_t)b->res->files_new,
			 "files_changed", (json_int_t)b->res->files_changed,
			 "files_unchanged", (json_int_t)b->res->files_unchanged);
	ans = client_json(b->c, "PATCH", path, body, NULL, NULL, &e);
	json_decref(body);
	json_decref(ans);
}

/* What one run holds besides the walk's state: the machine's lock, the
 * selection, the job and lease, the parent. */
struct run {
	int lock_fd;
	struct node root;
	char *job, *parent;
	struct lease *ls;
	struct objid prev_root, *prev; /* the parent's root folder, or NULL */
	struct idmap cached;           /* ids the cache says were stored */
	struct sizing sizing;          /* the selection's size, being summed */
};

/* Never two backups of this machine at once. The kernel drops the lock
 * when its holder ends, however it ends: nothing to clean up. */
static int take_lock(struct bk *b, struct run *u, struct err *e)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/backup.lock", b->s->home);
	if ((u->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return err_errno(e, "cannot open %s", path);
	if (flock(u->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return err_set(e, ERR_LOCKED, "another backup of this machine is running; it goes on, "
			       "and this one can run once it ends");
	return 0;
}

/* The selection and each path there; then the selection's size is summed
 * on a thread of its own (check_space waits for it). */
static int check_selection(struct bk *b, struct run *u, struct err *e)
{
	const struct backup_opts *o = b->o;

	for (size_t i = 0; i < o->n_paths; i++) {
		struct stat st;

		if (lstat(o->paths[i], &st) != 0)
			return err_errno(e, "cannot back up %s", o->paths[i]);
		if (node_add(&u->root, o->paths[i], e))
			return -1;
	}
	u->sizing.b = b;
	if (pthread_create(&u->sizing.t, NULL, sizing_main, &u->sizing) == 0)
		u->sizing.started = 1;
	else
		sizing_main(&u->sizing);
	return 0;
}

static void sizing_wait(struct run *u)
{
	if (u->sizing.started)
		pthread_join(u->sizing.t, NULL);
	u->sizing.started = 0;
}

/* A backup that fails before it needs the size does not wait for the walk. */
static void sizing_stop(struct run *u)
{
	__atomic_store_n(&u->sizing.stop, 1, __ATOMIC_RELAXED);
	sizing_wait(u);
}

/* Room for the selection in the cache folder, which needs 5% of the
 * selected data free. */
static int check_space(struct bk *b, struct run *u, struct err *e)
{
	struct backup_result *res = b->res;
	struct statvfs vfs;
	uint64_t avail, need;

	sizing_wait(u);
	res->bytes_total = u->sizing.sum;
	if (statvfs(b->s->cache, &vfs) != 0)
		return err_errno(e, "cannot check the free space of the cache folder %s", b->s->cache);
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize, need = res->bytes_total / 20;
	if (avail < need)
		return err_set(e, ERR_LIMIT, "The cache folder %s has %llu bytes free; a backup of "
			       "the selected data (%llu bytes) needs at least 5%% of it free, "
			       "%llu bytes. Free space there, or move the cache folder with "
			       "'arca properties --cache DIR'.", b->s->cache,
			       (unsigned long long)avail, (unsigned long long)res->bytes_total,
			       (unsigned long long)need);
	return 0;
}

/* The connection, the reading and chunking state, the tree cache. */
static int open_tools(struct bk *b, struct err *e)
{
	struct chunker_params cp;

	if ((b->c = state_client(b->s, e)) == NULL || (b->cctx = compress_ctx_new(e)) == NULL ||
	    (b->tc = tree_cache_new(b->s->cache, e)) == NULL)
		return -1;
	if ((b->pend = calloc(PEND_MAX_OBJECTS, sizeof(*b->pend))) == NULL)
		return err_oom(e);
	chunker_params_default(&cp);
	if ((b->ch = chunker_new(&cp, b->s->keys->chunker, e)) == NULL)
		return -1;
	b->repo = (struct repo){ b->c, b->s->keys, NULL, b->tc, b->cctx, NULL, NULL, 0 };
	return 0;
}

/* The job this backup reports to (none when the service gives no id: the
 * job goes unreported). */
static int start_job(struct bk *b, struct run *u, struct err *e)
{
	json_t *jb = json_pack("{s:s}", "kind", "backup"), *ans;
	const char *id;

	ans = client_json(b->c, "POST", "/jobs", jb, NULL, NULL, e);
	json_decref(jb);
	if (ans == NULL)
		return -1;
	id = reply_id(ans, "id", NULL);
	u->job = id ? strdup(id) : NULL;
	json_decref(ans);
	return 0;
}

/* The parent: the newest recovery point, for unchanged files. A parent
 * whose record cannot be read is no parent: everything is read. */
static int find_parent(struct bk *b, struct run *u, struct err *e)
{
	json_t *ans, *points, *last, *meta;
	struct err me;

	if ((ans = client_json(b->c, "GET", "/recovery-points", NULL, NULL, NULL, e)) == NULL)
		return -1;
	if ((points = reply_points(ans, e)) == NULL) {
		json_decref(ans);
		return -1;
	}
	if ((last = json_array_get(points, json_array_size(points) - 1)) != NULL) {
		u->parent = strdup(json_string_value(json_object_get(last, "id")) ?: "");
		meta = repo_meta(&b->repo, json_string_value(json_object_get(last, "meta")), &me);
		if (meta && objid_from_hex(json_string_value(json_object_get(meta, "root")),
					   &u->prev_root, NULL) == 0)
			u->prev = &u->prev_root;
		json_decref(meta);
	}
	json_decref(ans);
	return 0;
}

/* The recovery point's record, sealed and handed to the packer; its id in
 * META_ID. */
static int write_record(struct bk *b, const struct objid *root_id, struct objid *meta_id,
			struct err *e)
{
	const struct backup_opts *o = b->o;
	const struct backup_result *res = b->res;
	json_t *paths = json_array(), *meta;
	char hex[OBJID_HEX_LEN + 1], host[256] = "", *mtext = NULL;
	int rc = -1;

	gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; i < o->n_paths; i++)
		json_array_append_new(paths, json_string(o->paths[i]));
	objid_to_hex(root_id, hex);
	meta = json_pack("{s:i,s:s,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "version", 1, "root", hex,
			 "paths", paths, "machine", b->s->machine_name, "hostname", host,
			 "files", (json_int_t)(res->files_new + res->files_changed +
					       res->files_unchanged),
			 "dirs", (json_int_t)res->dirs, "bytes", (json_int_t)res->bytes_total,
			 "started", (json_int_t)state_now(),
			 "skipped", (json_int_t)json_array_size(res->skipped));
	if (meta == NULL || (mtext = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		err_oom(e);
		goto out;
	}
	objid_compute(b->s->keys, mtext, strlen(mtext), meta_id);
	rc = emit(b, OBJECT_META, meta_id, (const uint8_t *)mtext, strlen(mtext), e);
out:
	free(mtext);
	json_decref(meta);
	return rc;
}

/* The backup proper, once the job is open: walk, seal, upload, commit, and
 * keep the cache for next time. 0, or -1 with E set (the caller fails the
 * job). */
static int run_body(struct bk *b, struct run *u, struct err *e)
{
	struct objid root_id, meta_id;
	char lease[LEASE_ID_MAX + 1] = "";
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	/* The lease that keeps what we upload from collection, renewed while
	 * the backup works, on a connection of its own. */
	if ((u->ls = lease_begin(b->s, b->c, e)) == NULL || find_parent(b, u, e))
		return -1;
	/* What this machine stored before, as far as the service confirms. */
	index_load(b, "stored.ids", cache_ids_magic, &u->cached);
	if (u->prev)
		index_load(b, "files.idx", cache_fidx_magic, &b->fidx_old);
	if (verify_known(b, &u->cached, e) || check_space(b, u, e))
		return -1;
	idmap_free(&u->cached);
	/* Size the maps for the files selected (a file index entry each, and
	 * at least one object each), so they are not copied as they grow. */
	{
		size_t files = u->sizing.files < SIZE_MAX / 8 ? (size_t)u->sizing.files : 0;

		if (idmap_reserve(&b->fidx_new, files) ||
		    idmap_reserve(&b->ids, b->ids.n > files ? b->ids.n : files))
			return err_oom(e);
	}
	/* Sealing threads: one per core beside this one, at least one. */
	if ((b->pk = packer_new(b->s, b->tc, cores > 1 ? (int)cores : 1, e)) == NULL)
		return -1;
	if (u->root.selected ? backup_dir(b, "/", u->prev, &root_id, e)
			     : backup_node(b, &u->root, "/", u->prev, &root_id, e))
		return -1;
	if (write_record(b, &root_id, &meta_id, e) || flush_pending(b, e) ||
	    packer_finish(b->pk, &b->res->bytes_stored, &b->res->packs, e))
		return -1;
	{
		char why[ERR_MSG_MAX];

		if (lease_stop(u->ls, lease, why, sizeof(why)) && recheck_refs(b, why, e))
			return -1;
	}
	if (commit(b, &meta_id, u->parent, lease[0] ? lease : NULL, e))
		return -1;
	progress(b, 1);
	b->res->seconds = since(&b->t0);
	end_job(b, u->job, json_array_size(b->res->skipped) ? "partial" : "complete", NULL);
	/* The cache, for next time (a failure here costs only speed). */
	index_save(b->s->cache, "stored.ids", cache_ids_magic, &b->ids, 0, NULL);
	index_save(b->s->cache, "files.idx", cache_fidx_magic, &b->fidx_new, sizeof(struct fent),
		   NULL);
	{
		char why[ERR_MSG_MAX + 4400];

		if (repo_cache_note(b->tc, why, sizeof(why)))
			note(b, why);
	}
	return 0;
}

static void bk_free(struct bk *b, struct run *u)
{
	sizing_stop(u);
	packer_free(b->pk);
	for (size_t i = 0; i < b->n_pend; i++)
		buf_free(&b->pend[i].plain);
	for (size_t i = 0; i < b->n_lk; i++) {
		free(b->lk[i].chunks);
		free(b->lk[i].ext);
	}
	for (size_t i = 0; i < b->n_users; i++)
		free(b->users[i].name);
	for (size_t i = 0; i < b->n_groups; i++)
		free(b->groups[i].name);
	free(b->users);
	free(b->groups);
	free(b->lk);
	free(b->pend);
	buf_wipe(&b->chunk);
	free(u->job);
	lease_free(u->ls);
	free(u->parent);
	node_free(&u->root);
	idmap_free(&b->ids);
	idmap_free(&b->fidx_old);
	idmap_free(&b->fidx_new);
	idmap_free(&b->links);
	idmap_free(&u->cached);
	chunker_free(b->ch);
	compress_ctx_free(b->cctx);
	tree_cache_free(b->tc);
	client_free(b->c);
	if (u->lock_fd >= 0)
		close(u->lock_fd);
}

int backup_run(struct state *s, const struct backup_opts *o, struct backup_result *res,
	       struct err *e)
{
	struct bk b;
	struct run u;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	memset(&u, 0, sizeof(u));
	memset(res, 0, sizeof(*res));
	res->skipped = json_array();
	b.s = s, b.o = o, b.res = res;
	u.lock_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &b.t0);
	idmap_init(&b.ids, 1);
	idmap_init(&b.fidx_old, sizeof(struct fent));
	idmap_init(&b.fidx_new, sizeof(struct fent));
	idmap_init(&b.links, sizeof(uint64_t));
	idmap_init(&u.cached, 0);
	if (take_lock(&b, &u, e) || check_selection(&b, &u, e) || open_tools(&b, e) ||
	    start_job(&b, &u, e))
		goto out;
	if (run_body(&b, &u, e) == 0) {
		rc = 0;
		goto out;
	}
	packer_free(b.pk);
	b.pk = NULL;
	/* A backup that will not commit lets go of its lease at once, rather
	 * than hold the collector off until it expires. */
	if (u.ls)
		lease_release(u.ls, b.c);
	res->seconds = since(&b.t0);
	end_job(&b, u.job, "failed", e->msg);
out:
	bk_free(&b, &u);
	return rc;
}
