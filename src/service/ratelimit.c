/*
 * ratelimit.c: token buckets in a fixed table; see ratelimit.h.
 *
 * Invariant: a slot's TOKENS is what it held at time AT; its tokens now are
 * that plus one per REFILL seconds since, capped at BURST. A key without a
 * slot has a full bucket. Keys are compared in full (at most KEY_MAX bytes;
 * a longer one is cut, which only merges keys that share that prefix).
 */
#include "ratelimit.h"
#include "catalog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

struct slot {
	char key[KEY_MAX];
	int tokens;
	int64_t at;
};

struct ratelimit {
	pthread_mutex_t mu;
	int n, burst, refill;
	struct slot *slots;      /* NULL for a shared limiter */
	struct catalog *cat;     /* a shared limiter's catalog */
	char kind[33];           /* a shared limiter's key prefix */
};

struct ratelimit *ratelimit_new(int slots, int burst, int refill, struct err *e)
{
	struct ratelimit *rl;

	if (slots < 1 || burst < 1 || refill < 1) {
		err_set(e, ERR_INVALID, "a rate limit needs slots, a burst and a refill time above 0");
		return NULL;
	}
	if ((rl = calloc(1, sizeof(*rl))) == NULL || (rl->slots = calloc((size_t)slots,
								      sizeof(*rl->slots))) == NULL) {
		free(rl);
		err_oom(e);
		return NULL;
	}
	pthread_mutex_init(&rl->mu, NULL);
	rl->n = slots;
	rl->burst = burst;
	rl->refill = refill;
	return rl;
}

struct ratelimit *ratelimit_shared(struct catalog *cat, const char *kind, int burst, int refill,
				   struct err *e)
{
	struct ratelimit *rl;

	if (cat == NULL || burst < 1 || refill < 1 || kind == NULL || kind[0] == '\0' ||
	    strlen(kind) > 32) {
		err_set(e, ERR_INVALID, "a shared rate limit needs a catalog, a kind of 1 to 32 "
			"bytes, a burst and a refill time above 0");
		return NULL;
	}
	if ((rl = calloc(1, sizeof(*rl))) == NULL) {
		err_oom(e);
		return NULL;
	}
	rl->cat = cat;
	rl->burst = burst;
	rl->refill = refill;
	snprintf(rl->kind, sizeof(rl->kind), "%s", kind);
	return rl;
}

/* A shared limiter's catalog key for KEY (cut at KEY_MAX bytes, as the
 * table's keys are). */
static void shared_key(const struct ratelimit *rl, const char *key, char out[200])
{
	snprintf(out, 200, "%s:%.*s", rl->kind, KEY_MAX - 1, key);
}

int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now, int *wait,
		    struct err *e)
{
	char k[200];

	if (rl->cat == NULL) {
		*wait = ratelimit_wait(rl, key, now);
		return 0;
	}
	shared_key(rl, key, k);
	return catalog_limit_wait(rl->cat, k, rl->burst, rl->refill, now, wait, e);
}

int ratelimit_record(struct ratelimit *rl, const char *key, int64_t now, struct err *e)
{
	char k[200];

	if (rl->cat == NULL) {
		ratelimit_fail(rl, key, now);
		return 0;
	}
	shared_key(rl, key, k);
	return catalog_limit_fail(rl->cat, k, rl->burst, rl->refill, now, e);
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	if (rl->slots)
		pthread_mutex_destroy(&rl->mu);
	free(rl->slots);
	free(rl);
}

/* The tokens of slot S at NOW. */
static int64_t tokens_now(const struct ratelimit *rl, const struct slot *s, int64_t now)
{
	int64_t t = s->tokens + (now > s->at ? (now - s->at) / rl->refill : 0);

	return t > rl->burst ? rl->burst : t;
}

/* KEY's slot, or NULL when it has none. */
static struct slot *find(struct ratelimit *rl, const char *key)
{
	for (int i = 0; i < rl->n; i++)
		if (rl->slots[i].key[0] && strncmp(rl->slots[i].key, key, KEY_MAX - 1) == 0)
			return &rl->slots[i];
	return NULL;
}

int ratelimit_wait(struct ratelimit *rl, const char *key, int64_t now)
{
	struct slot *s;
	int wait = 0;

	pthread_mutex_lock(&rl->mu);
	if ((s = find(rl, key)) != NULL && tokens_now(rl, s, now) < 1) {
		/* The next token comes REFILL seconds after the last one did. */
		int64_t since = now > s->at ? (now - s->at) % rl->refill : 0;

		wait = (int)(rl->refill - since);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&rl->mu);
	return wait;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now)
{
	struct slot *s;

	pthread_mutex_lock(&rl->mu);
	if ((s = find(rl, key)) == NULL) {
		/* An empty slot, else the one that would hold the most tokens now:
		 * forgetting it loses the least. */
		int64_t best = -1;

		s = &rl->slots[0];
		for (int i = 0; i < rl->n; i++) {
			int64_t t = rl->slots[i].key[0] ? tokens_now(rl, &rl->slots[i], now) : rl->burst + 1;

			if (t > best) {
				best = t;
				s = &rl->slots[i];
			}
		}
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->tokens = rl->burst;
		s->at = now;
	}
	/* Carry whole refill periods forward; keep the part of one that passed. */
	if (now > s->at) {
		int64_t periods = (now - s->at) / rl->refill;

		s->tokens = (int)tokens_now(rl, s, now);
		s->at += periods * rl->refill;
		if (s->tokens >= rl->burst)
			s->at = now;
	}
	if (s->tokens > 0)
		s->tokens--;
	pthread_mutex_unlock(&rl->mu);
}
