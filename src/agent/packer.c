/*
 * packer.c: sealing workers, one pack writer, one uploader.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client.h"
#include "compress.h"
#include "object.h"
#include "pack.h"
#include "packer.h"
#include "reply.h"
#include "repo.h"

/* Why these sizes: the agent's memory is mostly what is in flight. A
 * batch is about 2 MiB of plaintext (backup.c) and a pack at most
 * PACK_TARGET_DEFAULT (8 MiB; two are held, one being filled and one on its
 * way out). With up to 4 MiB of batches waiting, one batch per worker and
 * one pack uploading, the workers seldom wait on the reader or the network,
 * and what is in flight stays under about 40 MiB whatever the data. */
#define JOBS_MAX 2  /* batches waiting for a worker... */
#define QUEUE_BYTES (4u << 20) /* ...holding no more than this, unless one */
#define PACKS_MAX 1 /* finished packs waiting for (or in) the upload */
#define POOL_MAX 4  /* plaintext buffers kept for reuse... */
#define POOL_BUF_MAX (4u << 20) /* ...if they are no larger than this */
#define WORKERS_MAX 16

struct job {
	struct pobj *o;
	size_t n, bytes;
};

struct packer {
	const struct state *s;
	struct tree_cache *tc; /* where trees go as they are sealed, or NULL */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* batches to seal */
	struct job jobs[JOBS_MAX];
	int n_jobs, head_job, no_more_jobs;
	size_t queued; /* plaintext bytes in JOBS */
	/* the pack being written (under mu_pack) */
	pthread_mutex_t mu_pack;
	struct pack_writer *pw;
	/* finished packs to upload */
	struct buf packs[PACKS_MAX];
	char ids[PACKS_MAX][65];
	int n_packs, head_pack, no_more_packs;
	struct buf spare;          /* an uploaded pack's memory, for the next pack */
	struct buf pool[POOL_MAX]; /* sealed objects' plaintext buffers, emptied */
	int n_pool;
	int failed;
	struct err err;
	uint64_t bytes, uploaded;
	struct client *c;
	pthread_t workers[WORKERS_MAX], up;
	int n_workers, up_started, finished;
};

static void fail(struct packer *p, const struct err *e)
{
	pthread_mutex_lock(&p->mu);
	if (!p->failed) {
		p->failed = 1;
		p->err = *e;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

#define PIECE_BYTES (1u << 20) /* a piece of a pack sent in the resumable form */
#define PIECE_FAILURES 8        /* failed connections a pack's pieces may meet */

/* The "received" count of the service's answer OUT (a 202 or a 409 offset
 * answer, or GET /packs/{id}/upload) into *HAVE, if it is one, at most
 * TOTAL. 0, or -1 when the answer holds none. */
static int received_of(const struct buf *out, uint64_t total, uint64_t *have)
{
	json_t *j = json_loadb((const char *)out->data, out->len, 0, NULL);
	json_t *r = json_object_get(j, "received");
	int rc = -1;

	if (json_is_integer(r) && json_integer_value(r) >= 0 &&
	    (uint64_t)json_integer_value(r) <= total) {
		*have = (uint64_t)json_integer_value(r);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Send pack ID (ITEM) in the resumable form (docs/API.md, "Resumable
 * form"), PIECE_BYTES at a time: after a whole-pack PUT met failed
 * connections, so that each cut costs at most a piece. After a failed
 * connection the service is asked how much it holds, and the upload
 * resumes there. 0 once stored, or -1 with E set. */
static int upload_in_pieces(struct packer *p, const char *id, const struct buf *item,
			    struct buf *out, struct err *e)
{
	char path[160], len_h[64], off_h[64];
	const char *hs[] = { len_h, off_h, NULL };
	uint64_t have = 0;
	int failures = 0;
	long st;

	snprintf(path, sizeof(path), "/packs/%s/upload", id);
	if (client_call(p->c, "GET", path, NULL, NULL, 0, NULL, out, &st, e) == 0 &&
	    received_of(out, item->len, &have) != 0)
		have = 0;
	snprintf(path, sizeof(path), "/packs/%s", id);
	fprintf(stderr, "arca: resuming the upload of pack %.16s at byte %llu of %zu, in pieces\n",
		id, (unsigned long long)have, item->len);
	for (;;) {
		size_t n = item->len - have < PIECE_BYTES ? item->len - have : PIECE_BYTES;

		snprintf(len_h, sizeof(len_h), "X-Arca-Length: %zu", item->len);
		snprintf(off_h, sizeof(off_h), "X-Arca-Offset: %llu", (unsigned long long)have);
		if (client_call(p->c, "PUT", path, "application/octet-stream", item->data + have, n,
				hs, out, &st, e) == 0) {
			if (st != 202)
				return 0; /* 201 stored, or 200 stored before */
			if (received_of(out, item->len, &have) != 0)
				return err_set(e, ERR_CORRUPT, "the service's answer to a piece of pack "
					       "%.16s has no \"received\" count", id);
			continue;
		}
		/* The service holds another count than we sent from (a piece
		 * that arrived though its answer was lost): resume there. */
		if (st == 409 && received_of(out, item->len, &have) == 0)
			continue;
		if (st != 0 || e->code != ERR_IO || ++failures >= PIECE_FAILURES)
			return -1;
		snprintf(path, sizeof(path), "/packs/%s/upload", id);
		if (client_call(p->c, "GET", path, NULL, NULL, 0, NULL, out, &st, e) != 0 ||
		    received_of(out, item->len, &have) != 0)
			return -1;
		snprintf(path, sizeof(path), "/packs/%s", id);
		fprintf(stderr, "arca: resuming the upload of pack %.16s at byte %llu of %zu\n", id,
			(unsigned long long)have, item->len);
	}
}

static void *uploader(void *arg)
{
	struct packer *p = arg;
	struct buf out = BUF_INIT;

	for (;;) {
		struct buf item;
		char path[128], id[65];
		long st;
		struct err e;
		int ok = 0;

		pthread_mutex_lock(&p->mu);
		while (p->n_packs == 0 && !p->no_more_packs)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->n_packs == 0) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		item = p->packs[p->head_pack];
		memcpy(id, p->ids[p->head_pack], sizeof(id));
		snprintf(path, sizeof(path), "/packs/%s", id);
		pthread_mutex_unlock(&p->mu);

		client_set_rate(p->c, state_rate_now(p->s));
		for (int attempt = 0; attempt < 4 && !ok; attempt++) {
			if (attempt)
				sleep(1u << (attempt - 1));
			ok = client_call_hashed(p->c, "PUT", path, "application/octet-stream",
						item.data, item.len, id, &out, &st, &e) == 0;
			/* The whole pack met failed connections on every try: send
			 * it in pieces, each cut costing a piece at most. */
			if (!ok && st == 0 && e.code == ERR_IO && item.len > PIECE_BYTES)
				ok = upload_in_pieces(p, id, &item, &out, &e) == 0;
			/* The service refused it: sending again will not help,
			 * unless it said to wait (its bounds on uploads in flight). */
			if (!ok && e.code != ERR_IO && st != 429 && st != 503)
				break;
		}
		if (!ok) {
			err_prefix(&e, "uploading a pack: ");
			fail(p, &e);
		}
		pthread_mutex_lock(&p->mu);
		if (ok) {
			p->bytes += item.len;
			p->uploaded++;
		}
		if (p->spare.data == NULL) {
			p->spare = p->packs[p->head_pack];
			buf_reset(&p->spare);
			p->packs[p->head_pack] = (struct buf)BUF_INIT;
		}
		buf_free(&p->packs[p->head_pack]);
		p->head_pack = (p->head_pack + 1) % PACKS_MAX;
		p->n_packs--;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	buf_free(&out);
	return NULL;
}

/* Finish the pack being written and queue it for upload. Called with
 * mu_pack held. */
static int ship(struct packer *p, struct err *e)
{
	struct buf pack;
	uint8_t id[PACK_ID_LEN];
	int slot;

	if (pack_writer_count(p->pw) == 0)
		return 0;
	/* The writer takes the spare memory and hands its pack over. */
	pthread_mutex_lock(&p->mu);
	pack = p->spare;
	p->spare = (struct buf)BUF_INIT;
	pthread_mutex_unlock(&p->mu);
	if (pack_writer_finish(p->pw, &pack, id, e)) {
		buf_free(&pack);
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	while (p->n_packs == PACKS_MAX && !p->failed)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->failed) {
		*e = p->err;
		pthread_mutex_unlock(&p->mu);
		buf_free(&pack);
		return -1;
	}
	slot = (p->head_pack + p->n_packs) % PACKS_MAX;
	p->packs[slot] = pack;
	sodium_bin2hex(p->ids[slot], sizeof(p->ids[slot]), id, PACK_ID_LEN);
	p->n_packs++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Keep an object's plaintext buffer for packer_buf, or free it. */
static void recycle(struct packer *p, struct buf *b)
{
	pthread_mutex_lock(&p->mu);
	if (b->data && b->cap <= POOL_BUF_MAX && p->n_pool < POOL_MAX) {
		buf_reset(b);
		p->pool[p->n_pool++] = *b;
		*b = (struct buf)BUF_INIT;
	}
	pthread_mutex_unlock(&p->mu);
	buf_free(b);
}

struct buf packer_buf(struct packer *p)
{
	struct buf b = BUF_INIT;

	pthread_mutex_lock(&p->mu);
	if (p->n_pool > 0)
		b = p->pool[--p->n_pool];
	pthread_mutex_unlock(&p->mu);
	return b;
}

static void free_job(struct job *j)
{
	for (size_t i = 0; i < j->n; i++)
		buf_free(&j->o[i].plain);
	free(j->o);
	j->o = NULL;
	j->n = 0;
}

/* Ask the service which of J's objects it lacks; keep only those in J
 * (the rest are freed), in their order. 0 or -1. */
static int keep_missing(struct client *c, struct job *j, struct err *e)
{
	json_t *a = json_array(), *body, *ans;
	char hex[OBJID_HEX_LEN + 1];
	struct objid *ids = malloc((j->n ? j->n : 1) * sizeof(*ids));
	bool *missing = malloc((j->n ? j->n : 1) * sizeof(*missing));
	size_t i, n = 0;
	int rc = -1;

	if (ids == NULL || missing == NULL) {
		json_decref(a);
		err_oom(e);
		goto out;
	}
	for (i = 0; i < j->n; i++) {
		ids[i] = j->o[i].id;
		objid_to_hex(&j->o[i].id, hex);
		json_array_append_new(a, json_string(hex));
	}
	body = json_pack("{s:o}", "ids", a);
	ans = client_json(c, "POST", "/objects/missing", body, NULL, NULL, e);
	json_decref(body);
	if (ans == NULL)
		goto out;
	rc = reply_missing(ans, ids, j->n, missing, e);
	json_decref(ans);
	if (rc)
		goto out;
	/* Move the missing ones to the front, keeping their order. */
	for (i = 0; i < j->n; i++) {
		if (!missing[i]) {
			buf_free(&j->o[i].plain);
			continue;
		}
		if (i != n) {
			struct pobj t = j->o[n];

			j->o[n] = j->o[i];
			j->o[i] = t;
		}
		n++;
	}
	j->n = n;
out:
	free(ids);
	free(missing);
	return rc;
}

static void *worker(void *arg)
{
	struct packer *p = arg;
	struct compress_ctx *cctx;
	struct client *c;
	struct buf sealed = BUF_INIT;
	struct err e;

	if ((cctx = compress_ctx_new(&e)) == NULL || (c = state_client(p->s, &e)) == NULL) {
		compress_ctx_free(cctx);
		fail(p, &e);
		return NULL;
	}
	for (;;) {
		struct job j;

		pthread_mutex_lock(&p->mu);
		while (p->n_jobs == 0 && !p->no_more_jobs && !p->failed)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->n_jobs == 0 || p->failed) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = p->jobs[p->head_job];
		p->jobs[p->head_job] = (struct job){ NULL, 0, 0 };
		p->queued -= j.bytes;
		p->head_job = (p->head_job + 1) % JOBS_MAX;
		p->n_jobs--;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);

		if (keep_missing(c, &j, &e)) {
			fail(p, &e);
			free_job(&j);
			break;
		}
		for (size_t i = 0; i < j.n; i++) {
			struct pobj *o = &j.o[i];
			struct pack_entry ent;
			int rc = 0;

			buf_reset(&sealed);
			if (object_seal_ctx(cctx, p->s->keys, o->kind, &o->id, o->plain.data,
					    o->plain.len, COMPRESS_LEVEL_DEFAULT, &sealed, &e)) {
				fail(p, &e);
				break;
			}
			if (o->kind != OBJECT_DATA)
				repo_cache_put(p->tc, &o->id, sealed.data, sealed.len);
			recycle(p, &o->plain);
			memset(&ent, 0, sizeof(ent));
			ent.id = o->id;
			ent.kind = o->kind;
			ent.length = (uint32_t)sealed.len;
			pthread_mutex_lock(&p->mu_pack);
			/* Ship before a pack would pass its target, so that
			 * a pack's memory stays within it. */
			if (pack_writer_count(p->pw) > 0 &&
			    pack_writer_size(p->pw) + sealed.len > PACK_TARGET_DEFAULT)
				rc = ship(p, &e);
			if (rc == 0 && !pack_writer_has(p->pw, &o->id))
				rc = pack_writer_add_sealed(p->pw, &ent, sealed.data, &e);
			pthread_mutex_unlock(&p->mu_pack);
			if (rc) {
				fail(p, &e);
				break;
			}
		}
		free_job(&j);
	}
	buf_free(&sealed);
	compress_ctx_free(cctx);
	client_free(c);
	return NULL;
}

struct packer *packer_new(const struct state *s, struct tree_cache *tc, int workers,
			  struct err *e)
{
	struct packer *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		err_oom(e);
		return NULL;
	}
	p->s = s;
	p->tc = tc;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->mu_pack, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->pw = pack_writer_new(s->keys, COMPRESS_LEVEL_DEFAULT, e)) == NULL ||
	    (p->c = state_client(s, e)) == NULL)
		goto fail;
	if (pthread_create(&p->up, NULL, uploader, p) != 0) {
		err_set(e, ERR_IO, "cannot start the upload thread");
		goto fail;
	}
	p->up_started = 1;
	if (workers < 1)
		workers = 1;
	if (workers > WORKERS_MAX)
		workers = WORKERS_MAX;
	for (; p->n_workers < workers; p->n_workers++)
		if (pthread_create(&p->workers[p->n_workers], NULL, worker, p) != 0) {
			err_set(e, ERR_IO, "cannot start a sealing thread");
			goto fail;
		}
	return p;
fail:
	packer_free(p);
	return NULL;
}

int packer_put(struct packer *p, struct pobj *objs, size_t n, struct err *e)
{
	struct job j;

	if (n == 0)
		return 0;
	if ((j.o = calloc(n, sizeof(*j.o))) == NULL)
		return err_oom(e);
	memcpy(j.o, objs, n * sizeof(*objs));
	j.bytes = 0;
	for (size_t i = 0; i < n; i++) {
		j.bytes += objs[i].plain.len;
		objs[i].plain = (struct buf)BUF_INIT;
	}
	j.n = n;
	pthread_mutex_lock(&p->mu);
	while ((p->n_jobs == JOBS_MAX || (p->n_jobs > 0 && p->queued + j.bytes > QUEUE_BYTES)) &&
	       !p->failed)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->failed) {
		*e = p->err;
		pthread_mutex_unlock(&p->mu);
		free_job(&j);
		return -1;
	}
	p->jobs[(p->head_job + p->n_jobs) % JOBS_MAX] = j;
	p->n_jobs++;
	p->queued += j.bytes;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Stop the workers (after the queued jobs) and the uploader. */
static void stop(struct packer *p, int ship_last)
{
	struct err e;

	pthread_mutex_lock(&p->mu);
	p->no_more_jobs = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_workers; i++)
		pthread_join(p->workers[i], NULL);
	p->n_workers = 0;
	if (ship_last && !p->failed) {
		pthread_mutex_lock(&p->mu_pack);
		if (ship(p, &e))
			fail(p, &e);
		pthread_mutex_unlock(&p->mu_pack);
	}
	pthread_mutex_lock(&p->mu);
	p->no_more_packs = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->up_started)
		pthread_join(p->up, NULL);
	p->up_started = 0;
}

int packer_finish(struct packer *p, uint64_t *bytes, uint64_t *packs, struct err *e)
{
	stop(p, 1);
	p->finished = 1;
	*bytes = p->bytes;
	*packs = p->uploaded;
	if (p->failed) {
		*e = p->err;
		return -1;
	}
	return 0;
}

void packer_free(struct packer *p)
{
	if (p == NULL)
		return;
	if (!p->finished) {
		struct err e;

		err_set(&e, ERR_IO, "stopped");
		fail(p, &e); /* wake and stop everyone without shipping */
		stop(p, 0);
	}
	for (int i = 0; i < JOBS_MAX; i++)
		if (p->jobs[i].o)
			free_job(&p->jobs[i]);
	for (int i = 0; i < PACKS_MAX; i++)
		buf_free(&p->packs[i]);
	for (int i = 0; i < p->n_pool; i++)
		buf_free(&p->pool[i]);
	buf_free(&p->spare);
	pack_writer_free(p->pw);
	client_free(p->c);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->mu_pack);
	pthread_cond_destroy(&p->cv);
	free(p);
}
