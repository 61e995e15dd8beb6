/*
 * staging.c: a fixed table of (machine, uploads, bytes) under one mutex; see
 * staging.h. A slot is free when its machine has nothing in flight, so the
 * table holds only machines that upload now and a linear scan is enough
 * (it has as many slots as the server has connections: 256).
 */
#include "staging.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char machine[33]; /* "" = free */
	int uploads;
	uint64_t bytes;
};

struct staging {
	pthread_mutex_t mu;
	struct slot *s;
	int n, uploads;
	uint64_t bytes;
};

struct staging *staging_new(int slots, int uploads, uint64_t bytes, struct err *e)
{
	struct staging *st = calloc(1, sizeof(*st));

	if (slots < 1 || uploads < 1) {
		free(st);
		err_set(e, ERR_INVALID, "staging needs at least one slot and one upload");
		return NULL;
	}
	if (st == NULL || (st->s = calloc((size_t)slots, sizeof(*st->s))) == NULL) {
		free(st);
		err_oom(e);
		return NULL;
	}
	st->n = slots;
	st->uploads = uploads;
	st->bytes = bytes;
	pthread_mutex_init(&st->mu, NULL);
	return st;
}

void staging_free(struct staging *st)
{
	if (st == NULL)
		return;
	pthread_mutex_destroy(&st->mu);
	free(st->s);
	free(st);
}

/* MACHINE's slot, or NULL. Called with mu held. */
static struct slot *find(struct staging *st, const char *machine)
{
	for (int i = 0; i < st->n; i++)
		if (st->s[i].machine[0] && strcmp(st->s[i].machine, machine) == 0)
			return &st->s[i];
	return NULL;
}

int staging_reserve(struct staging *st, const char *machine, uint64_t len, uint64_t held,
		    struct err *e)
{
	struct slot *s;
	int rc = -1;

	if (strlen(machine) == 0 || strlen(machine) >= sizeof(s->machine))
		return err_set(e, ERR_INVALID, "a machine id is 1 to %zu characters",
			       sizeof(s->machine) - 1);
	pthread_mutex_lock(&st->mu);
	if ((s = find(st, machine)) == NULL) {
		for (int i = 0; i < st->n && s == NULL; i++)
			if (st->s[i].machine[0] == 0)
				s = &st->s[i];
		if (s == NULL) {
			err_set(e, ERR_LIMIT, "more machines are uploading than the service takes "
				"at once (%d); retry shortly", st->n);
			goto out;
		}
		memset(s, 0, sizeof(*s));
	}
	if (s->uploads >= st->uploads) {
		err_set(e, ERR_LIMIT, "this machine has %d uploads in flight, the most it may "
			"have at once; retry when one has finished", s->uploads);
		goto drop;
	}
	/* Why compare by subtraction: LEN and HELD come from outside. */
	if (len > st->bytes || held > st->bytes - len || s->bytes > st->bytes - len - held) {
		err_set(e, ERR_LIMIT, "this upload of %llu bytes would make this machine stage more "
			"than %llu bytes at once (%llu in uploads in flight, %llu in resumable "
			"uploads in progress); retry when uploads have finished, or finish or "
			"abandon the resumable ones", (unsigned long long)len,
			(unsigned long long)st->bytes, (unsigned long long)s->bytes,
			(unsigned long long)held);
		goto drop;
	}
	if (s->machine[0] == 0)
		snprintf(s->machine, sizeof(s->machine), "%s", machine);
	s->uploads++;
	s->bytes += len;
	rc = 0;
	goto out;
drop:
	if (s->uploads == 0)
		s->machine[0] = 0; /* a slot taken for this refusal only */
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void staging_release(struct staging *st, const char *machine, uint64_t len)
{
	struct slot *s;

	pthread_mutex_lock(&st->mu);
	if ((s = find(st, machine)) != NULL && s->uploads > 0) {
		s->uploads--;
		s->bytes -= len < s->bytes ? len : s->bytes;
		if (s->uploads == 0)
			memset(s, 0, sizeof(*s));
	}
	pthread_mutex_unlock(&st->mu);
}

void staging_usage(struct staging *st, const char *machine, int *uploads, uint64_t *bytes)
{
	struct slot *s;

	pthread_mutex_lock(&st->mu);
	s = find(st, machine);
	*uploads = s ? s->uploads : 0;
	*bytes = s ? s->bytes : 0;
	pthread_mutex_unlock(&st->mu);
}
