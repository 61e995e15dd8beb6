/*
 * lease.c: see lease.h. The renewer sleeps on a condition variable of the
 * monotonic clock, so that lease_stop wakes it at once and a change of the
 * wall clock does not; it holds the mutex only between requests, never
 * during one, and only it touches its client.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease.h"
#include "reply.h"

#define LEASE_RETRY_MAX 60 /* seconds between tries while the service cannot be reached */

struct lease {
	struct client *c; /* the renewer's own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	/* Under MU: */
	char id[LEASE_ID_MAX + 1]; /* "" after a lapse until a new lease is had */
	int64_t period;            /* seconds the service last granted */
	bool lapsed;
	char why[ERR_MSG_MAX];
};

/* POST /recovery-points/begin with C: the new lease's id into ID and the
 * seconds it lasts by the service's answer into *LEFT. 0 or -1. */
static int begin(struct client *c, char id[LEASE_ID_MAX + 1], int64_t *left, struct err *e)
{
	json_t *ans = client_json(c, "POST", "/recovery-points/begin", NULL, NULL, NULL, e);
	const char *got = ans ? reply_id(ans, "lease", e) : NULL;
	int64_t until;
	int rc = -1;

	if (got && reply_time(ans, "expires", &until, e) == 0) {
		snprintf(id, LEASE_ID_MAX + 1, "%s", got);
		*left = until - state_now();
		rc = 0;
	}
	json_decref(ans);
	return rc;
}

/* POST /recovery-points/lease/{id}/renew: the seconds left into *LEFT. */
static int renew(struct client *c, const char *id, int64_t *left, struct err *e)
{
	char path[LEASE_ID_MAX + 64];
	json_t *ans;
	int64_t until;
	int rc = -1;

	snprintf(path, sizeof(path), "/recovery-points/lease/%s/renew", id);
	if ((ans = client_json(c, "POST", path, NULL, NULL, NULL, e)) != NULL &&
	    reply_time(ans, "expires", &until, e) == 0) {
		*left = until - state_now();
		rc = 0;
	}
	json_decref(ans);
	return rc;
}

/* Seconds until the next renewal of a lease with LEFT seconds to run: a
 * quarter of it, so that three more tries fit before it ends. */
static int64_t next_wait(int64_t left)
{
	return left / 4 > 1 ? left / 4 : 1;
}

/* One turn of the renewer: renew the lease, or after a lapse begin a new
 * one. Returns the seconds to wait before the next turn. */
static int64_t turn(struct lease *l)
{
	char id[LEASE_ID_MAX + 1];
	int64_t left = 0, retry;
	struct err e;

	pthread_mutex_lock(&l->mu);
	snprintf(id, sizeof(id), "%s", l->id);
	retry = l->period / 16;
	pthread_mutex_unlock(&l->mu);
	/* Tries while the service cannot be reached: often enough to renew in
	 * time, not so often that an outage turns into a flood. */
	if (retry < 1)
		retry = 1;
	if (retry > LEASE_RETRY_MAX)
		retry = LEASE_RETRY_MAX;
	if (id[0] && renew(l->c, id, &left, &e) == 0)
		return next_wait(left);
	if (id[0] && e.code != ERR_NOT_FOUND && e.code != ERR_LOCKED)
		return retry; /* the service or the network failed: the lease may still hold */
	if (id[0]) {
		/* The service no longer knows the lease: it lapsed. */
		pthread_mutex_lock(&l->mu);
		if (!l->lapsed)
			snprintf(l->why, sizeof(l->why), "%s", e.msg);
		l->lapsed = true;
		l->id[0] = 0;
		pthread_mutex_unlock(&l->mu);
	}
	/* A new lease at once: from now on nothing more of ours can go. */
	if (begin(l->c, id, &left, &e) != 0)
		return retry;
	pthread_mutex_lock(&l->mu);
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->period = left;
	pthread_mutex_unlock(&l->mu);
	return next_wait(left);
}

static void *renewer(void *arg)
{
	struct lease *l = arg;
	struct timespec at;
	int64_t wait;

	pthread_mutex_lock(&l->mu);
	wait = next_wait(l->period);
	while (!l->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += (time_t)wait;
		while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &at) != ETIMEDOUT)
			;
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->mu);
		wait = turn(l);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* The mutex and the monotonic condition variable of L. 0 or -1. */
static int sync_init(struct lease *l)
{
	pthread_condattr_t ca;
	int rc = -1;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&l->cv, &ca) == 0) {
		if (pthread_mutex_init(&l->mu, NULL) == 0)
			rc = 0;
		else
			pthread_cond_destroy(&l->cv);
	}
	pthread_condattr_destroy(&ca);
	return rc;
}

struct lease *lease_begin(struct state *s, struct client *c, struct err *e)
{
	struct lease *l = calloc(1, sizeof(*l));
	int64_t left;

	if (l == NULL) {
		err_oom(e);
		return NULL;
	}
	if (sync_init(l) != 0) {
		free(l);
		err_set(e, ERR_IO, "cannot set up the thread that renews the backup's lease");
		return NULL;
	}
	/* Without its lease a backup's uploads are not safe from collection. */
	if (begin(c, l->id, &left, e) != 0)
		goto fail;
	l->period = left;
	if ((l->c = state_client(s, e)) == NULL)
		goto fail;
	if (pthread_create(&l->thread, NULL, renewer, l) != 0) {
		err_set(e, ERR_IO, "cannot start the thread that renews the backup's lease");
		goto fail;
	}
	l->running = true;
	return l;
fail:
	if (l->id[0])
		lease_release(l, c);
	lease_free(l);
	return NULL;
}

/* Stop the renewer and wait for it, if it runs. */
static void halt(struct lease *l)
{
	if (!l->running)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	l->running = false;
}

bool lease_stop(struct lease *l, char id[LEASE_ID_MAX + 1], char *why, size_t why_len)
{
	halt(l);
	snprintf(id, LEASE_ID_MAX + 1, "%s", l->id);
	if (why_len)
		snprintf(why, why_len, "%s", l->lapsed ? l->why : "");
	return l->lapsed;
}

void lease_release(struct lease *l, struct client *c)
{
	char path[LEASE_ID_MAX + 64];
	json_t *ans;
	struct err e;

	halt(l);
	if (l->id[0] == 0)
		return;
	snprintf(path, sizeof(path), "/recovery-points/lease/%s", l->id);
	ans = client_json(c, "DELETE", path, NULL, NULL, NULL, &e);
	json_decref(ans);
	l->id[0] = 0;
}

void lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	halt(l);
	client_free(l->c);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
