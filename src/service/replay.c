/*
 * replay.c: an open-addressing set of 64-bit key hashes with their times;
 * see replay.h. A hash collision only refuses a request as a replay, which
 * the agent retries with a fresh nonce, so 64-bit keyed hashes are enough.
 */
#include "replay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct slot {
	uint64_t h; /* 0 = empty */
	int64_t t;
};

struct replay {
	pthread_mutex_t mu;
	struct slot *s;
	size_t cap, n;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

struct replay *replay_new(size_t capacity)
{
	struct replay *r = calloc(1, sizeof(*r));
	size_t cap = 1024;

	while (cap < capacity * 2)
		cap *= 2;
	if (r == NULL || sodium_init() < 0 || (r->s = calloc(cap, sizeof(*r->s))) == NULL) {
		free(r);
		return NULL;
	}
	r->cap = cap;
	randombytes_buf(r->key, sizeof(r->key));
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void replay_free(struct replay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->s);
	free(r);
}

/* Rebuild the table without entries older than the window. */
static void purge(struct replay *r, int64_t now)
{
	struct slot *old = r->s, *s = calloc(r->cap, sizeof(*s));

	if (s == NULL)
		return; /* keep the full table: requests get ERR_LIMIT until memory returns */
	r->n = 0;
	for (size_t i = 0; i < r->cap; i++) {
		if (old[i].h == 0 || old[i].t < now - REPLAY_WINDOW)
			continue;
		size_t j = old[i].h & (r->cap - 1);

		while (s[j].h)
			j = (j + 1) & (r->cap - 1);
		s[j] = old[i];
		r->n++;
	}
	free(old);
	r->s = s;
}

int replay_check(struct replay *r, const char *key, int64_t now, struct err *e)
{
	uint8_t out[8];
	uint64_t h;
	size_t j;
	int rc = 0;

	crypto_shorthash(out, (const unsigned char *)key, strlen(key), r->key);
	memcpy(&h, out, sizeof(h));
	h |= 1; /* never 0, the empty mark */
	pthread_mutex_lock(&r->mu);
	if (r->n * 2 >= r->cap)
		purge(r, now);
	if (r->n * 2 >= r->cap) {
		rc = err_set(e, ERR_LIMIT, "too many signed requests in the last %d seconds; retry "
			     "shortly", REPLAY_WINDOW);
		goto out;
	}
	for (j = h & (r->cap - 1); r->s[j].h; j = (j + 1) & (r->cap - 1)) {
		if (r->s[j].h == h && r->s[j].t >= now - REPLAY_WINDOW) {
			rc = err_set(e, ERR_DENIED, "this request was sent before (same nonce): "
				     "refused as a replay");
			goto out;
		}
	}
	r->s[j].h = h;
	r->s[j].t = now;
	r->n++;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}
