/*
 * repo.c: objects back from the service.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachefile.h"
#include "chunkcache.h"
#include "idmap.h"
#include "reply.h"
#include "repo.h"
#include "state.h"

#define LOCATE_BATCH 4096
#define RUN_MAX (4u << 20) /* most bytes fetched by one range request: held in memory */


/*
 * The tree cache: sealed tree and record objects in one append-only file,
 * cache/trees.dat (format in cachefile.h). One file, not a file per object:
 * a backup of a large tree writes thousands of folders. The index lives in
 * memory, built by one scan (cache_trees_scan) when the file is first used;
 * a torn last record (a crash while appending) is cut off then, and a file
 * the scan refuses starts over, the reason kept for repo_cache_note.
 * Records are authenticated when opened, like everything read back.
 */
#define TREES_FILE "trees.dat"
#define TREES_MAX (512ull << 20) /* start over past this */

struct tree_cache {
	pthread_mutex_t mu; /* over everything below */
	char *dir;          /* the cache folder */
	char path[4200];
	int fd;             /* -1 until first used */
	uint64_t end;
	struct idmap at;    /* id -> { offset u64, length u64 } */
	char note[ERR_MSG_MAX + 4300]; /* why the file started over, until taken */
};

struct tree_cache *tree_cache_new(const char *dir, struct err *e)
{
	struct tree_cache *tc = calloc(1, sizeof(*tc));

	if (tc == NULL || (tc->dir = strdup(dir)) == NULL) {
		free(tc);
		err_oom(e);
		return NULL;
	}
	pthread_mutex_init(&tc->mu, NULL);
	snprintf(tc->path, sizeof(tc->path), "%s/%s", dir, TREES_FILE);
	tc->fd = -1;
	idmap_init(&tc->at, 2 * sizeof(uint64_t));
	return tc;
}

void tree_cache_free(struct tree_cache *tc)
{
	if (tc == NULL)
		return;
	if (tc->fd >= 0)
		close(tc->fd);
	idmap_free(&tc->at);
	pthread_mutex_destroy(&tc->mu);
	free(tc->dir);
	free(tc);
}

static int tc_read(void *arg, uint64_t off, void *buf, size_t n)
{
	return pread(*(int *)arg, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1;
}

static int tc_open_locked(struct tree_cache *tc);

/* Open the tree file at its first use (with tc->mu held). 0 or -1. Other
 * agent processes (the resident agent, a restore) append to the same file:
 * every scan, cut and append happens under an exclusive flock, and appends
 * go to the file's true end. */
static int tc_open(struct tree_cache *tc)
{
	int rc;

	if (tc->fd >= 0)
		return 0;
	rc = tc_open_locked(tc);
	if (tc->fd >= 0)
		flock(tc->fd, LOCK_UN);
	return rc;
}

static int tc_open_locked(struct tree_cache *tc)
{
	struct stat st;
	struct err e;
	uint64_t off;

	if ((tc->fd = open(tc->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (flock(tc->fd, LOCK_EX) != 0) {
		close(tc->fd);
		tc->fd = -1;
		return -1;
	}
	if (fstat(tc->fd, &st) != 0) {
		err_errno(&e, "cannot stat it");
		goto reset;
	}
	if (st.st_size == 0) /* new */
		goto reset_quiet;
	if (cache_trees_scan(tc_read, &tc->fd, (uint64_t)st.st_size, TREES_MAX, &tc->at, &off, &e))
		goto reset;
	if (off != (uint64_t)st.st_size && ftruncate(tc->fd, (off_t)off) != 0) {
		err_errno(&e, "cannot cut off its torn last record");
		goto reset;
	}
	tc->end = off;
	return 0;
reset:
	snprintf(tc->note, sizeof(tc->note), "the tree cache %s was started over: %s", tc->path,
		 e.msg);
reset_quiet:
	idmap_free(&tc->at);
	idmap_init(&tc->at, 2 * sizeof(uint64_t));
	if (ftruncate(tc->fd, 0) != 0 ||
	    pwrite(tc->fd, cache_trees_magic, CACHE_MAGIC_LEN, 0) != CACHE_MAGIC_LEN) {
		close(tc->fd);
		tc->fd = -1;
		return -1;
	}
	tc->end = CACHE_MAGIC_LEN;
	return 0;
}

int repo_cache_note(struct tree_cache *tc, char *out, size_t size)
{
	int had;

	if (tc == NULL)
		return 0;
	pthread_mutex_lock(&tc->mu);
	had = tc->note[0] != '\0';
	if (had)
		snprintf(out, size, "%s", tc->note);
	tc->note[0] = '\0';
	pthread_mutex_unlock(&tc->mu);
	return had;
}

void repo_cache_put(struct tree_cache *tc, const struct objid *id, const uint8_t *sealed,
		    size_t len)
{
	uint8_t head[CACHE_TREES_HEAD];
	uint64_t *v;
	bool added;

	if (tc == NULL || len > UINT32_MAX)
		return;
	pthread_mutex_lock(&tc->mu);
	if (tc_open(tc) == 0 && flock(tc->fd, LOCK_EX) == 0) {
		struct stat st;

		/* Past what this process wrote, another may have appended (its
		 * records stay out of this index: a miss costs a download). */
		if (fstat(tc->fd, &st) == 0 && (uint64_t)st.st_size >= CACHE_MAGIC_LEN)
			tc->end = (uint64_t)st.st_size;
		else
			tc->end = TREES_MAX; /* started over elsewhere: no appending */
		cache_trees_head(head, id, (uint32_t)len);
		if (tc->end + sizeof(head) + len <= TREES_MAX &&
		    pwrite(tc->fd, head, sizeof(head), (off_t)tc->end) == (ssize_t)sizeof(head) &&
		    pwrite(tc->fd, sealed, len, (off_t)(tc->end + sizeof(head))) == (ssize_t)len &&
		    (v = idmap_put(&tc->at, id, &added)) != NULL) {
			v[0] = tc->end + sizeof(head);
			v[1] = len;
			tc->end += sizeof(head) + len;
		}
		flock(tc->fd, LOCK_UN);
	}
	pthread_mutex_unlock(&tc->mu);
}

static int cache_get(struct tree_cache *tc, const struct objid *id, struct buf *out)
{
	const uint64_t *v;
	uint8_t *p;
	int rc = -1;

	if (tc == NULL)
		return -1;
	pthread_mutex_lock(&tc->mu);
	if (tc_open(tc) == 0 && (v = idmap_get(&tc->at, id)) != NULL && v[1] > 0 &&
	    (p = buf_extend(out, v[1], NULL)) != NULL) {
		if (pread(tc->fd, p, v[1], (off_t)v[0]) == (ssize_t)v[1])
			rc = 0;
		else
			buf_reset(out);
	}
	pthread_mutex_unlock(&tc->mu);
	return rc;
}

/* Whether TC holds a record of ID. */
static int cache_has(struct tree_cache *tc, const struct objid *id)
{
	const uint64_t *v;
	int has = 0;

	if (tc == NULL)
		return 0;
	pthread_mutex_lock(&tc->mu);
	if (tc_open(tc) == 0 && (v = idmap_get(&tc->at, id)) != NULL && v[1] > 0)
		has = 1;
	pthread_mutex_unlock(&tc->mu);
	return has;
}

/* Forget a damaged record (a later put appends a good one). */
static void cache_drop(struct tree_cache *tc, const struct objid *id)
{
	uint64_t *v;

	pthread_mutex_lock(&tc->mu);
	if ((v = idmap_get(&tc->at, id)) != NULL)
		v[1] = 0;
	pthread_mutex_unlock(&tc->mu);
}

/* Locate N ids into LOC. */
static int locate(struct repo *r, const struct objid *ids, size_t n, struct reply_loc *loc,
		  struct err *e)
{
	for (size_t at = 0; at < n; at += LOCATE_BATCH) {
		size_t m = n - at < LOCATE_BATCH ? n - at : LOCATE_BATCH;
		json_t *a = json_array(), *body, *ans;
		char hex[OBJID_HEX_LEN + 1];
		int rc;

		for (size_t i = 0; i < m; i++) {
			objid_to_hex(&ids[at + i], hex);
			json_array_append_new(a, json_string(hex));
		}
		body = json_pack("{s:o}", "ids", a);
		if (r->machine)
			json_object_set_new(body, "machine", json_string(r->machine));
		ans = client_json(r->c, "POST", "/objects/locate", body, NULL, NULL, e);
		json_decref(body);
		if (ans == NULL)
			return -1;
		rc = reply_locate(ans, ids + at, m, loc + at, e);
		json_decref(ans);
		if (rc)
			return -1;
	}
	return 0;
}

/* Fetch bytes [OFF, OFF+LEN) of PACK into OUT. */
static int fetch(struct repo *r, const char *pack, uint64_t off, uint64_t len, struct buf *out,
		 struct err *e)
{
	char path[128], range[96];
	const char *h[] = { range, NULL };
	long st;

	/* The answer's size is known: room for it at once, not by doubling
	 * (which copies, and can leave twice the memory held); not for a
	 * length no run of ours has, which only the bytes that come may grow
	 * the buffer to. */
	if (len <= RUN_MAX && buf_reserve(out, len, e))
		return -1;
	snprintf(path, sizeof(path), "/packs/%s", pack);
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	/* Never more than asked for: a longer answer is cut off and refused. */
	if (client_call_max(r->c, "GET", path, h, (size_t)len, out, &st, e)) {
		if (st == 404 && e)
			e->code = ERR_NOT_FOUND; /* gone from there: ask where it is now */
		/* The store's file ends before where the catalog places the
		 * object: a truncated pack, damage as a short answer is. */
		if (st == 416 && e)
			err_set(e, ERR_CORRUPT, "pack %.16s ends before byte %llu, where the catalog "
				"places an object", pack, (unsigned long long)off);
		return -1;
	}
	if (out->len != len)
		return err_set(e, ERR_CORRUPT, "pack %.16s answered %zu bytes for a range of %llu",
			       pack, out->len, (unsigned long long)len);
	return 0;
}

/* Locate object ID and fetch its sealed bytes into OUT. A pack that answers
 * 404 lost the object to the service's space collector after we located
 * it (the collector moves live objects into new packs, and the old file
 * outlives its record only for a grace period): look it up again, once,
 * before calling it lost. */
static int locate_fetch(struct repo *r, const struct objid *id, struct buf *out, struct err *e)
{
	struct reply_loc l;
	struct err fe;
	char hex[OBJID_HEX_LEN + 1];

	objid_to_hex(id, hex);
	for (int tries = 0;; tries++) {
		if (locate(r, id, 1, &l, e))
			return -1;
		if (!l.found)
			return err_set(e, ERR_NOT_FOUND, "object %.16s is not stored on the service", hex);
		buf_reset(out);
		if (fetch(r, l.pack, l.offset, l.length, out, &fe) == 0)
			return 0;
		if (fe.code != ERR_NOT_FOUND || tries > 0) {
			if (e)
				*e = fe;
			return -1;
		}
	}
}

int repo_read(struct repo *r, const struct objid *id, enum object_kind want, struct buf *out,
	      struct err *e)
{
	struct buf sealed = BUF_INIT;
	enum object_kind kind;
	char hex[OBJID_HEX_LEN + 1];
	int cached = 0, rc = -1;

	objid_to_hex(id, hex);
	if (want != OBJECT_DATA && !r->fresh && cache_get(r->tc, id, &sealed) == 0)
		cached = 1;
	if (!cached && locate_fetch(r, id, &sealed, e))
		goto out;
	if (object_open_ctx(r->cctx, r->keys, id, sealed.data, sealed.len, &kind, out, e)) {
		if (cached) { /* a damaged cache copy: ask the service instead */
			cache_drop(r->tc, id);
			buf_free(&sealed);
			return repo_read(r, id, want, out, e);
		}
		err_prefix(e, "object %.16s: ", hex);
		goto out;
	}
	if (kind != want) {
		err_set(e, ERR_CORRUPT, "object %.16s is of kind %d, not %d", hex, kind, want);
		goto out;
	}
	if (!cached && want != OBJECT_DATA && !(r->fresh && cache_has(r->tc, id)))
		repo_cache_put(r->tc, id, sealed.data, sealed.len);
	rc = 0;
out:
	buf_free(&sealed);
	return rc;
}

struct tree *repo_tree(struct repo *r, const struct objid *id, struct err *e)
{
	struct buf plain = BUF_INIT;
	struct tree *t = NULL;

	if (repo_read(r, id, OBJECT_TREE, &plain, e) == 0)
		t = tree_decode(plain.data, plain.len, e);
	buf_free(&plain);
	return t;
}

json_t *repo_meta(struct repo *r, const char *meta_hex, struct err *e)
{
	struct objid id;
	struct buf plain = BUF_INIT;
	json_t *j = NULL;
	json_error_t je;

	if (objid_from_hex(meta_hex, &id, e) || repo_read(r, &id, OBJECT_META, &plain, e))
		goto out;
	if ((j = json_loadb((const char *)plain.data, plain.len, 0, &je)) == NULL ||
	    !json_is_string(json_object_get(j, "root"))) {
		json_decref(j);
		j = NULL;
		err_set(e, ERR_CORRUPT, "the recovery point's record is damaged");
	}
out:
	buf_free(&plain);
	return j;
}

int repo_locate(struct repo *r, const struct objid *ids, size_t n, struct reply_loc *loc,
		struct err *e)
{
	return locate(r, ids, n, loc, e);
}

int repo_fetch(struct repo *r, const char *pack, uint64_t off, uint64_t len, struct buf *out,
	       struct err *e)
{
	buf_reset(out);
	if (len == 0)
		return err_set(e, ERR_INVALID, "an empty range of pack %.16s", pack);
	return fetch(r, pack, off, len, out, e);
}

/* Objects fetched ahead: each id's slice of one of the fetched ranges. */
struct repo_pre {
	struct idmap at; /* id -> struct slice */
	struct buf *runs;
	size_t n_runs;
};

struct slice {
	uint32_t run, off, len;
};

struct want {
	struct objid id;
	struct reply_loc l;
};

static int cmp_want(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = strcmp(x->l.pack, y->l.pack);

	if (c)
		return c;
	return x->l.offset < y->l.offset ? -1 : x->l.offset > y->l.offset;
}

void repo_prefetch_clear(struct repo *r)
{
	if (r->pre == NULL)
		return;
	for (size_t i = 0; i < r->pre->n_runs; i++)
		buf_free(&r->pre->runs[i]);
	free(r->pre->runs);
	idmap_free(&r->pre->at);
	free(r->pre);
	r->pre = NULL;
}

#define PRE_GAP (256u << 10) /* read across gaps this small rather than ask twice */

void repo_prefetch(struct repo *r, const struct objid *ids, size_t n, size_t max_bytes)
{
	struct want *w = calloc(n ? n : 1, sizeof(*w));
	struct reply_loc *loc = calloc(n ? n : 1, sizeof(*loc));
	struct objid *uniq = calloc(n ? n : 1, sizeof(*uniq));
	struct idmap seen;
	size_t m = 0, k = 0, total = 0;
	struct err e;
	bool added;

	repo_prefetch_clear(r);
	idmap_init(&seen, 0);
	if (w == NULL || loc == NULL || uniq == NULL || (r->pre = calloc(1, sizeof(*r->pre))) == NULL)
		goto out;
	idmap_init(&r->pre->at, sizeof(struct slice));
	for (size_t i = 0; i < n; i++)
		if (idmap_put(&seen, &ids[i], &added) && added)
			uniq[m++] = ids[i];
	if (m == 0 || locate(r, uniq, m, loc, &e))
		goto out;
	for (size_t i = 0; i < m; i++)
		if (loc[i].found && total + loc[i].length <= max_bytes) {
			w[k].id = uniq[i];
			w[k++].l = loc[i];
			total += loc[i].length;
		}
	qsort(w, k, sizeof(*w), cmp_want);
	for (size_t i = 0; i < k;) {
		size_t j = i + 1;
		uint64_t end = w[i].l.offset + w[i].l.length;
		struct buf *g;

		while (j < k && strcmp(w[j].l.pack, w[i].l.pack) == 0 &&
		       w[j].l.offset >= end && w[j].l.offset - end <= PRE_GAP &&
		       w[j].l.offset + w[j].l.length - w[i].l.offset <= RUN_MAX) {
			end = w[j].l.offset + w[j].l.length;
			j++;
		}
		if ((g = realloc(r->pre->runs, (r->pre->n_runs + 1) * sizeof(*g))) == NULL)
			break;
		r->pre->runs = g;
		g[r->pre->n_runs] = (struct buf)BUF_INIT;
		if (fetch(r, w[i].l.pack, w[i].l.offset, end - w[i].l.offset, &g[r->pre->n_runs],
			  &e) != 0) {
			buf_free(&g[r->pre->n_runs]);
			i = j;
			continue;
		}
		for (size_t x = i; x < j; x++) {
			struct slice *sl = idmap_put(&r->pre->at, &w[x].id, &added);

			if (sl) {
				sl->run = (uint32_t)r->pre->n_runs;
				sl->off = (uint32_t)(w[x].l.offset - w[i].l.offset);
				sl->len = w[x].l.length;
			}
		}
		r->pre->n_runs++;
		i = j;
	}
out:
	idmap_free(&seen);
	free(w);
	free(loc);
	free(uniq);
}

/* Serve all N chunks from what was fetched ahead, if it holds them all. 1
 * when served (FN called for each), 0 when not, -1 when FN stopped. */
static int from_prefetch(struct repo *r, const struct tree_chunk *chunks, size_t n,
			 repo_chunk_fn fn, void *arg)
{
	struct buf plain = BUF_INIT;
	int rc = 1;

	if (r->pre == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (idmap_get(&r->pre->at, &chunks[i].id) == NULL)
			return 0;
	for (size_t i = 0; i < n && rc == 1; i++) {
		const struct slice *sl = idmap_get(&r->pre->at, &chunks[i].id);
		enum object_kind kind;
		struct err oe;

		buf_reset(&plain);
		if (object_open_ctx(r->cctx, r->keys, &chunks[i].id,
				    r->pre->runs[sl->run].data + sl->off, sl->len, &kind, &plain,
				    &oe) != 0 ||
		    (kind != OBJECT_DATA && err_set(&oe, ERR_CORRUPT, "a chunk is not a data object")) ||
		    (plain.len != chunks[i].len &&
		     err_set(&oe, ERR_CORRUPT, "a chunk has %zu bytes, the tree says %u", plain.len,
			     chunks[i].len))) {
			if (fn(arg, i, NULL, 0, &oe))
				rc = -1;
			continue;
		}
		if (fn(arg, i, plain.data, plain.len, NULL))
			rc = -1;
	}
	buf_wipe(&plain);
	return rc;
}

/* Read N chunks from the service (locate, then range requests), calling
 * FN in order; each is put in the chunk cache when there is one. */
static int fetch_chunks(struct repo *r, const struct tree_chunk *chunks, size_t n,
			repo_chunk_fn fn, void *arg, struct err *e)
{
	struct objid *ids = calloc(n ? n : 1, sizeof(*ids));
	struct reply_loc *loc = calloc(n ? n : 1, sizeof(*loc));
	struct buf run = BUF_INIT, plain = BUF_INIT;
	int rc = -1;
	size_t i = 0, relocated = SIZE_MAX;

	if (ids == NULL || loc == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t k = 0; k < n; k++)
		ids[k] = chunks[k].id;
	if (locate(r, ids, n, loc, e))
		goto out;
	while (i < n) {
		size_t j = i + 1;
		uint64_t end;
		struct err fe;
		int fetched;

		if (!loc[i].found) {
			char hex[OBJID_HEX_LEN + 1];

			objid_to_hex(&ids[i], hex);
			err_set(&fe, ERR_NOT_FOUND, "chunk %.16s is missing on the service", hex);
			if (fn(arg, i, NULL, 0, &fe))
				goto stopped;
			i++;
			continue;
		}
		/* A run of chunks lying back to back in one pack: one request. */
		end = loc[i].offset + loc[i].length;
		while (j < n && loc[j].found && strcmp(loc[j].pack, loc[i].pack) == 0 &&
		       loc[j].offset == end && end - loc[i].offset + loc[j].length <= RUN_MAX)
			end += loc[j++].length;
		fetched = fetch(r, loc[i].pack, loc[i].offset, end - loc[i].offset, &run, &fe) == 0;
		if (!fetched && fe.code == ERR_NOT_FOUND && relocated != i) {
			/* Moved by the collector since we looked (locate_fetch):
			 * look the run up again, once, and read it from there. */
			relocated = i;
			if (locate(r, ids + i, j - i, loc + i, e))
				goto out;
			continue;
		}
		for (size_t k = i; k < j; k++) {
			enum object_kind kind;
			struct err oe;

			buf_reset(&plain);
			if (!fetched) {
				if (fn(arg, k, NULL, 0, &fe))
					goto stopped;
				continue;
			}
			if (object_open_ctx(r->cctx, r->keys, &ids[k],
					    run.data + (loc[k].offset - loc[i].offset),
					    loc[k].length, &kind, &plain, &oe) != 0 ||
			    (kind != OBJECT_DATA &&
			     err_set(&oe, ERR_CORRUPT, "a chunk is not a data object")) ||
			    (plain.len != chunks[k].len &&
			     err_set(&oe, ERR_CORRUPT, "a chunk has %zu bytes, the tree says %u",
				     plain.len, chunks[k].len))) {
				if (fn(arg, k, NULL, 0, &oe))
					goto stopped;
				continue;
			}
			if (r->cc)
				chunk_cache_put(r->cc, &ids[k], plain.data, plain.len);
			if (fn(arg, k, plain.data, plain.len, NULL))
				goto stopped;
		}
		i = j;
	}
	rc = 0;
	goto out;
stopped:
	err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
out:
	buf_free(&run);
	buf_wipe(&plain);
	free(ids);
	free(loc);
	return rc;
}

/* FN of a run of chunks that starts at chunk BASE of the caller's list. */
struct shifted {
	repo_chunk_fn fn;
	void *arg;
	size_t base;
};

static int shift_chunk(void *arg, size_t i, const uint8_t *plain, size_t len,
		       const struct err *e)
{
	struct shifted *s = arg;

	return s->fn(s->arg, s->base + i, plain, len, e);
}

int repo_read_chunks(struct repo *r, const struct tree_chunk *chunks, size_t n,
		     repo_chunk_fn fn, void *arg, struct err *e)
{
	size_t i = 0;
	int rc = 0;

	switch (from_prefetch(r, chunks, n, fn, arg)) {
	case 1:
		return 0;
	case -1:
		return err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
	default:
		break;
	}
	if (r->cc == NULL)
		return fetch_chunks(r, chunks, n, fn, arg, e);
	/* Runs of chunks the cache holds are read from it; each run of the
	 * others is fetched as one list, so neighbours still share requests. */
	while (i < n && rc == 0) {
		size_t j = i;
		const uint8_t *p;
		void *ref;

		if (chunk_cache_has(r->cc, &chunks[i].id) &&
		    (p = chunk_cache_hold(r->cc, &chunks[i].id, chunks[i].len, &ref)) != NULL) {
			if (fn(arg, i, p, chunks[i].len, NULL))
				rc = err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
			chunk_cache_release(r->cc, ref);
			i++;
			continue;
		}
		while (++j < n && !chunk_cache_has(r->cc, &chunks[j].id))
			;
		{
			struct shifted sh = { fn, arg, i };

			rc = fetch_chunks(r, chunks + i, j - i, shift_chunk, &sh, e);
		}
		i = j;
	}
	return rc;
}
