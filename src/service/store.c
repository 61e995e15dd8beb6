/*
 * store.c: the calls of the store contract, dispatched to each backend, and
 * what is built on them alone (puts from memory or of a local file, into
 * several stores at once; whole reads; the copy between stores);
 * see store.h. Nothing here knows how a backend keeps its packs.
 */
#include "store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <sodium.h>

int store_put(struct store *s, const char *id, uint64_t size, struct store_reader *body,
	      struct err *e)
{
	return s->ops->put(s, id, size, body, e);
}

int store_get(struct store *s, const char *id, uint64_t off, uint64_t len,
	      struct store_writer *out, struct err *e)
{
	return s->ops->get(s, id, off, len, out, e);
}

int store_stat(struct store *s, const char *id, uint64_t *size, struct err *e)
{
	return s->ops->stat(s, id, size, e);
}

int store_list(struct store *s, store_list_fn fn, void *arg, struct err *e)
{
	return s->ops->list(s, fn, arg, e);
}

int store_remove(struct store *s, const char *id, struct err *e)
{
	return s->ops->remove(s, id, e);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

/* A reader over bytes in memory. */
struct mem_reader {
	const uint8_t *data;
	uint64_t len, pos;
};

static int mem_read(void *arg, uint8_t *buf, size_t cap, size_t *got, struct err *e)
{
	struct mem_reader *m = arg;
	uint64_t left = m->len - m->pos;

	(void)e;
	*got = left < cap ? (size_t)left : cap;
	memcpy(buf, m->data + m->pos, *got);
	m->pos += *got;
	return 0;
}

int store_put_mem(struct store *s, const char *id, const uint8_t *data, uint64_t len,
		  struct err *e)
{
	struct mem_reader m = { data, len, 0 };
	struct store_reader r = { mem_read, &m };

	return store_put(s, id, len, &r, e);
}

#define PUT_EACH_MAX 4 /* stores one pack goes to at once: a region and its pair */

struct put_job {
	struct store *s;
	const char *id;
	const char *path; /* a file to adopt, or NULL */
	const uint8_t *data;
	uint64_t len;
	int rc;
	struct err e;
};

static void *put_job_run(void *arg)
{
	struct put_job *j = arg;

	if (j->path && j->s->ops->adopt &&
	    (j->rc = j->s->ops->adopt(j->s, j->id, j->len, j->path, &j->e)) != 1)
		return NULL;
	j->rc = store_put_mem(j->s, j->id, j->data, j->len, &j->e);
	return NULL;
}

int store_put_mem_each(struct store *const *s, size_t n, const char *id, const uint8_t *data,
		       uint64_t len, struct err *e)
{
	return store_put_file_each(s, n, id, NULL, data, len, e);
}

int store_put_file_each(struct store *const *s, size_t n, const char *id, const char *path,
			const uint8_t *data, uint64_t len, struct err *e)
{
	struct put_job j[PUT_EACH_MAX];
	pthread_t t[PUT_EACH_MAX];
	bool started[PUT_EACH_MAX] = { false };
	struct stat sb;

	if (n > PUT_EACH_MAX)
		return err_set(e, ERR_TOO_LARGE, "a pack goes to at most %d stores at once",
			       PUT_EACH_MAX);
	/* The file must be the pack it claims to be, whether a backend takes
	 * the file or the bytes at DATA: checked here, once, for every one. */
	if (path && (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != len))
		return err_set(e, ERR_INVALID, "pack %.16s: the file %s is not its %llu bytes", id,
			       path, (unsigned long long)len);
	for (size_t i = 0; i < n; i++) {
		j[i] = (struct put_job){ .s = s[i], .id = id, .path = i == 0 ? path : NULL,
					 .data = data, .len = len };
		/* The first put runs here; so does any a thread could not take. */
		started[i] = i > 0 && pthread_create(&t[i], NULL, put_job_run, &j[i]) == 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!started[i])
			put_job_run(&j[i]);
	for (size_t i = 0; i < n; i++)
		if (started[i])
			pthread_join(t[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (j[i].rc != 0) {
			if (e)
				*e = j[i].e;
			return -1;
		}
	return 0;
}

/* A writer into a buffer of known size. */
struct mem_writer {
	uint8_t *data;
	uint64_t len, pos;
};

static int mem_write(void *arg, const uint8_t *buf, size_t len, struct err *e)
{
	struct mem_writer *m = arg;

	if (len > m->len - m->pos)
		return err_set(e, ERR_IO, "the pack grew while it was read");
	memcpy(m->data + m->pos, buf, len);
	m->pos += len;
	return 0;
}

int store_get_all(struct store *s, const char *id, uint8_t **data, uint64_t *len,
		  struct err *e)
{
	struct mem_writer m = { NULL, 0, 0 };
	struct store_writer w = { mem_write, &m };
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = store_stat(s, id, &m.len, e)) < 0)
		return -1;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "no pack %.16s in this store", id);
	if (m.len > SIZE_MAX - 1 || (m.data = malloc(m.len ? (size_t)m.len : 1)) == NULL)
		return err_oom(e);
	if (store_get(s, id, 0, m.len, &w, e) != 0) {
		free(m.data);
		return -1;
	}
	if (m.pos != m.len) {
		free(m.data);
		return err_set(e, ERR_IO, "pack %.16s was cut short while it was read", id);
	}
	*data = m.data;
	*len = m.len;
	return 0;
}

int store_read(struct store *s, const char *id, uint64_t off, uint8_t *buf, size_t cap,
	       size_t *got, struct err *e)
{
	struct mem_writer m = { buf, cap, 0 };
	struct store_writer w = { mem_write, &m };

	*got = 0;
	if (store_get(s, id, off, cap, &w, e) != 0)
		return -1;
	*got = (size_t)m.pos;
	return 0;
}

/* The reader of a copy: each pull is a get of the next piece from the
 * source store, so the destination's put never sees a path. The bytes are
 * hashed as they pass, and the pull that would hand over the last of them
 * fails instead when they do not hash to the id: a damaged source never
 * becomes a copy (every backend's put stores nothing when its reader fails). */
struct copy_reader {
	struct store *from;
	const char *id;
	uint64_t pos, size;
	EVP_MD_CTX *sha;
};

static int copy_read(void *arg, uint8_t *buf, size_t cap, size_t *got, struct err *e)
{
	struct copy_reader *c = arg;
	uint8_t md[32];
	char hex[65];

	if (c->pos >= c->size) {
		*got = 0;
		return 0;
	}
	if (cap > c->size - c->pos)
		cap = (size_t)(c->size - c->pos);
	if (store_read(c->from, c->id, c->pos, buf, cap, got, e) != 0)
		return -1;
	if (*got == 0)
		return err_set(e, ERR_INVALID, "pack %.16s ended after %llu of its %llu bytes in the "
			       "store copied from", c->id, (unsigned long long)c->pos,
			       (unsigned long long)c->size);
	if (EVP_DigestUpdate(c->sha, buf, *got) != 1)
		return err_set(e, ERR_IO, "pack %.16s: hashing failed", c->id);
	c->pos += *got;
	if (c->pos < c->size)
		return 0;
	if (EVP_DigestFinal_ex(c->sha, md, NULL) != 1)
		return err_set(e, ERR_IO, "pack %.16s: hashing failed", c->id);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, c->id) != 0)
		return err_set(e, ERR_INVALID, "pack %.16s is damaged in the store copied from: its "
			       "bytes hash to %.16s; it was not copied", c->id, hex);
	return 0;
}

int store_copy(struct store *from, struct store *to, const char *id, struct err *e)
{
	struct copy_reader c = { from, id, 0, 0, NULL };
	struct store_reader r = { copy_read, &c };
	int rc;

	if ((rc = store_stat(to, id, NULL, e)) != 0)
		return rc < 0 ? -1 : 0; /* kept: content-addressed */
	if ((rc = store_stat(from, id, &c.size, e)) < 0)
		return -1;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "no pack %.16s to copy", id);
	if ((c.sha = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(c.sha, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c.sha);
		return err_oom(e);
	}
	rc = store_put(to, id, c.size, &r, e);
	EVP_MD_CTX_free(c.sha);
	return rc;
}
