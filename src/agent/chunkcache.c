/*
 * chunkcache.c: decrypted chunks kept on disk, a file each.
 *
 * Why a file a chunk: chunks are large (1 MiB on average), so the files are
 * few for a limit of some hundred MiB, and removing one frees its space at
 * once, where one big file would need compacting. The index lives in
 * memory: an idmap from id to (bytes, last use), built by one scan of the
 * folder at open, ordered by the files' modification times (a hit touches
 * its file, so the order survives a restart). An id whose bytes are 0 is
 * not held (an idmap cannot delete; a chunk is never empty).
 *
 * Invariant: bytes == the sum of the held entries' sizes, under mu.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "chunkcache.h"
#include "idmap.h"

#define TMP_PREFIX ".tmp-"
#define TMP_STALE 60 /* seconds after which a temporary file is a leftover */

struct slot {
	uint64_t bytes; /* 0: not held */
	uint64_t used;  /* last use: a tick of the index, or a time at open */
};

/* A chunk in memory: verified bytes, shared by the readers that hold it. */
struct hot {
	struct objid id;
	uint8_t *p;
	size_t len;
	unsigned refs;
	uint64_t used;
	struct hot *next;
};

struct chunk_cache {
	pthread_mutex_t mu;
	struct hot *hot; /* most recently used first */
	size_t hot_bytes, hot_count;
	char *dir;
	uint64_t limit, bytes, tick, tmp_seq;
	size_t count;
	struct idmap at; /* id -> struct slot */
	const struct keys *keys;
};

static void name_of(const struct chunk_cache *cc, const struct objid *id, char *out, size_t size)
{
	char hex[OBJID_HEX_LEN + 1];

	objid_to_hex(id, hex);
	snprintf(out, size, "%s/%s", cc->dir, hex);
}

/* Forget ID and remove its file (with mu held). */
static void drop_locked(struct chunk_cache *cc, const struct objid *id, struct slot *s)
{
	char path[4200];

	name_of(cc, id, path, sizeof(path));
	unlink(path);
	cc->bytes -= s->bytes;
	cc->count--;
	s->bytes = 0;
}

struct victim {
	struct objid id;
	uint64_t used;
};

static int cmp_victim(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->used < y->used ? -1 : x->used > y->used;
}

/* Remove the least recently used chunks until the cache holds at most
 * nine tenths of its limit (with mu held): a batch at a time, so that a
 * full cache sorts its index once per tenth of its limit, not per put. */
static void evict_locked(struct chunk_cache *cc)
{
	uint64_t goal = cc->limit - cc->limit / 10;
	struct victim *v;
	const struct objid *k;
	void *val;
	size_t i = 0, n = 0;

	if (cc->bytes <= cc->limit)
		return;
	if ((v = calloc(cc->count ? cc->count : 1, sizeof(*v))) == NULL)
		return;
	while (idmap_next(&cc->at, &i, &k, &val)) {
		const struct slot *s = val;

		if (s->bytes && n < cc->count) {
			v[n].id = *k;
			v[n++].used = s->used;
		}
	}
	qsort(v, n, sizeof(*v), cmp_victim);
	for (size_t j = 0; j < n && cc->bytes > goal; j++) {
		struct slot *s = idmap_get(&cc->at, &v[j].id);

		if (s && s->bytes)
			drop_locked(cc, &v[j].id, s);
	}
	free(v);
}

/* Index the chunk files in the folder. */
static int scan(struct chunk_cache *cc, struct err *e)
{
	DIR *d = opendir(cc->dir);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return err_errno(e, "cannot read the chunk cache folder %s", cc->dir);
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		struct objid id;
		struct slot *s;
		bool added;

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			/* A write cut short, or one under way in another process. */
			if (now - st.st_mtime > TMP_STALE)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) != OBJID_HEX_LEN || objid_from_hex(de->d_name, &id, NULL))
			continue; /* not ours: left alone */
		if (st.st_size == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if ((s = idmap_put(&cc->at, &id, &added)) == NULL) {
			closedir(d);
			return err_oom(e);
		}
		s->bytes = (uint64_t)st.st_size;
		s->used = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
		cc->bytes += s->bytes;
		cc->count++;
	}
	closedir(d);
	return 0;
}

struct chunk_cache *chunk_cache_open(const char *dir, uint64_t limit, const struct keys *keys,
				     struct err *e)
{
	struct chunk_cache *cc = calloc(1, sizeof(*cc));
	struct timespec now;

	if (cc == NULL || (cc->dir = strdup(dir)) == NULL) {
		free(cc);
		err_oom(e);
		return NULL;
	}
	pthread_mutex_init(&cc->mu, NULL);
	idmap_init(&cc->at, sizeof(struct slot));
	cc->limit = limit;
	cc->keys = keys;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		err_errno(e, "cannot make the chunk cache folder %s", dir);
		chunk_cache_free(cc);
		return NULL;
	}
	if (scan(cc, e)) {
		chunk_cache_free(cc);
		return NULL;
	}
	/* Uses from now on come after every file's time. */
	clock_gettime(CLOCK_REALTIME, &now);
	cc->tick = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	evict_locked(cc);
	return cc;
}

static void hot_free(struct hot *h)
{
	sodium_memzero(h->p, h->len);
	free(h->p);
	free(h);
}

void chunk_cache_free(struct chunk_cache *cc)
{
	if (cc == NULL)
		return;
	for (struct hot *h = cc->hot, *nx; h; h = nx) {
		nx = h->next;
		hot_free(h);
	}
	idmap_free(&cc->at);
	pthread_mutex_destroy(&cc->mu);
	free(cc->dir);
	free(cc);
}

int chunk_cache_has(struct chunk_cache *cc, const struct objid *id)
{
	const struct slot *s;
	int has;

	pthread_mutex_lock(&cc->mu);
	s = idmap_get(&cc->at, id);
	has = s && s->bytes;
	pthread_mutex_unlock(&cc->mu);
	return has;
}

int chunk_cache_get(struct chunk_cache *cc, const struct objid *id, size_t len, struct buf *out)
{
	char path[4200];
	struct slot *s;
	struct objid got;
	uint8_t *p;
	int fd, ok = 0, gone = 0;

	buf_reset(out);
	if (!chunk_cache_has(cc, id))
		return 0;
	name_of(cc, id, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && st.st_size == (off_t)len &&
		    (p = buf_extend(out, len, NULL)) != NULL &&
		    pread(fd, p, len, 0) == (ssize_t)len) {
			objid_compute(cc->keys, p, len, &got);
			ok = sodium_memcmp(&got, id, sizeof(got)) == 0;
			if (ok)
				futimens(fd, NULL); /* the order of use, for the next open */
		}
		close(fd);
	} else {
		gone = errno == ENOENT;
	}
	pthread_mutex_lock(&cc->mu);
	if ((s = idmap_get(&cc->at, id)) != NULL && s->bytes) {
		if (ok)
			s->used = ++cc->tick;
		else if (fd >= 0 || gone)
			drop_locked(cc, id, s); /* damaged, or removed by another */
	}
	pthread_mutex_unlock(&cc->mu);
	if (!ok)
		buf_wipe(out);
	return ok;
}

void chunk_cache_put(struct chunk_cache *cc, const struct objid *id, const uint8_t *p,
		     size_t len)
{
	char path[4200], tmp[4300], hex[OBJID_HEX_LEN + 1];
	struct slot *s;
	bool added;
	uint64_t seq;
	int fd, ok;

	if (len == 0 || len > cc->limit / 4 || chunk_cache_has(cc, id))
		return;
	pthread_mutex_lock(&cc->mu);
	seq = ++cc->tmp_seq;
	pthread_mutex_unlock(&cc->mu);
	objid_to_hex(id, hex);
	name_of(cc, id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%s-%ld-%llu", cc->dir, hex, (long)getpid(),
		 (unsigned long long)seq);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return;
	ok = write(fd, p, len) == (ssize_t)len;
	if (close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return;
	}
	pthread_mutex_lock(&cc->mu);
	if ((s = idmap_put(&cc->at, id, &added)) != NULL && s->bytes == 0) {
		s->bytes = len;
		s->used = ++cc->tick;
		cc->bytes += len;
		cc->count++;
		evict_locked(cc);
	}
	pthread_mutex_unlock(&cc->mu);
}

uint64_t chunk_cache_bytes(struct chunk_cache *cc)
{
	uint64_t n;

	pthread_mutex_lock(&cc->mu);
	n = cc->bytes;
	pthread_mutex_unlock(&cc->mu);
	return n;
}

size_t chunk_cache_count(struct chunk_cache *cc)
{
	size_t n;

	pthread_mutex_lock(&cc->mu);
	n = cc->count;
	pthread_mutex_unlock(&cc->mu);
	return n;
}

/* Let the chunks no reader holds go, least recently used first, past the
 * bounds of memory (with mu held). */
static void hot_trim_locked(struct chunk_cache *cc)
{
	while (cc->hot_bytes > CHUNK_CACHE_HOT || cc->hot_count > CHUNK_CACHE_HOT_COUNT) {
		struct hot **pp, **victim = NULL;

		for (pp = &cc->hot; *pp; pp = &(*pp)->next)
			if ((*pp)->refs == 0 && (victim == NULL || (*pp)->used < (*victim)->used))
				victim = pp;
		if (victim == NULL)
			return; /* all held: over the bound until released */
		{
			struct hot *h = *victim;

			*victim = h->next;
			cc->hot_bytes -= h->len;
			cc->hot_count--;
			hot_free(h);
		}
	}
}

static struct hot *hot_find_locked(struct chunk_cache *cc, const struct objid *id, size_t len)
{
	for (struct hot *h = cc->hot; h; h = h->next)
		if (h->len == len && memcmp(&h->id, id, sizeof(*id)) == 0)
			return h;
	return NULL;
}

const uint8_t *chunk_cache_hold(struct chunk_cache *cc, const struct objid *id, size_t len,
				void **ref)
{
	struct buf b = BUF_INIT;
	struct hot *h, *other;

	pthread_mutex_lock(&cc->mu);
	if ((h = hot_find_locked(cc, id, len)) != NULL) {
		h->refs++;
		h->used = ++cc->tick;
		pthread_mutex_unlock(&cc->mu);
		*ref = h;
		return h->p;
	}
	pthread_mutex_unlock(&cc->mu);
	if (!chunk_cache_get(cc, id, len, &b))
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		buf_wipe(&b);
		return NULL;
	}
	h->id = *id;
	h->p = b.data; /* the buffer's memory is the entry's now */
	h->len = len;
	h->refs = 1;
	pthread_mutex_lock(&cc->mu);
	if ((other = hot_find_locked(cc, id, len)) != NULL) { /* read by another meanwhile */
		other->refs++;
		pthread_mutex_unlock(&cc->mu);
		hot_free(h);
		*ref = other;
		return other->p;
	}
	h->used = ++cc->tick;
	h->next = cc->hot;
	cc->hot = h;
	cc->hot_bytes += len;
	cc->hot_count++;
	hot_trim_locked(cc);
	pthread_mutex_unlock(&cc->mu);
	*ref = h;
	return h->p;
}

void chunk_cache_release(struct chunk_cache *cc, void *ref)
{
	struct hot *h = ref;

	pthread_mutex_lock(&cc->mu);
	h->refs--;
	hot_trim_locked(cc);
	pthread_mutex_unlock(&cc->mu);
}
