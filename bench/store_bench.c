/*
 * store_bench.c: put and get throughput of whole packs through the store
 * contract (store.h), on the local folder backend or on the S3 backend, on
 * one thread: N packs of SIZE MiB (random bytes, so that no layer below
 * can compress them) are put from memory one after another, then each is
 * read back whole and compared. Prints MiB/s by the clock on the wall (the
 * question is how long a put or a get takes, server included), the median
 * pack's time and the slowest.
 *
 * With -j THREADS, THREADS threads put (then get) the N packs at once, each
 * its share, and the figure is all the bytes over the phase's wall time.
 *
 * usage: arca-bench-store [-j THREADS] fs DIR N SIZE_MIB
 *        arca-bench-store [-j THREADS] s3 BUCKET N SIZE_MIB [PART_MIB MULTIPART_ABOVE_MIB]
 *   s3 takes the endpoint and keys from ARCA_S3_ENDPOINT, ARCA_S3_ACCESS_KEY,
 *   ARCA_S3_SECRET_KEY, ARCA_S3_REGION (scripts/rgw env prints them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "store.h"
#include "store_s3.h"

#define MAX_PACKS 64

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n, size_t size)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += t[i];
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%-4s %3d packs of %4zu MiB: %7.1f MiB/s  (median %.3f s, slowest %.3f s a pack)\n",
	       what, n, size >> 20, (double)n * (double)size / 1048576.0 / sum, t[n / 2], t[n - 1]);
}

/* The parallel phases: thread T of NT takes packs T, T + NT, ... */
struct job {
	struct store *s;
	uint8_t **data;
	char (*id)[65];
	size_t size;
	int n, t, nt, get, failed;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct err e;

	for (int i = j->t; i < j->n; i += j->nt) {
		uint8_t *back;
		uint64_t len;

		if (!j->get) {
			if (store_put_mem(j->s, j->id[i], j->data[i], j->size, &e) != 0) {
				fprintf(stderr, "arca-bench-store: put: %s\n", e.msg);
				j->failed = 1;
			}
		} else if (store_get_all(j->s, j->id[i], &back, &len, &e) != 0) {
			fprintf(stderr, "arca-bench-store: get: %s\n", e.msg);
			j->failed = 1;
		} else {
			j->failed |= len != j->size || memcmp(back, j->data[i], j->size) != 0;
			free(back);
		}
	}
	return NULL;
}

/* N packs of SIZE bytes by NT threads at once: put, then get. 0 or 1. */
static int parallel(struct store *s, int n, size_t size, int nt)
{
	uint8_t *data[MAX_PACKS], md[32];
	char id[MAX_PACKS][65];
	struct job j[16];
	pthread_t th[16];
	int rc = 0;

	for (int i = 0; i < n; i++) {
		if ((data[i] = malloc(size)) == NULL)
			return 1;
		randombytes_buf(data[i], size);
		crypto_hash_sha256(md, data[i], size);
		sodium_bin2hex(id[i], sizeof(id[i]), md, sizeof(md));
	}
	for (int get = 0; get < 2; get++) {
		double t0 = now(), dt;

		for (int t = 0; t < nt; t++) {
			j[t] = (struct job){ s, data, id, size, n, t, nt, get, 0 };
			pthread_create(&th[t], NULL, job_run, &j[t]);
		}
		for (int t = 0; t < nt; t++) {
			pthread_join(th[t], NULL);
			rc |= j[t].failed;
		}
		dt = now() - t0;
		printf("%-4s %3d packs of %4zu MiB by %d threads at once: %7.1f MiB/s (%.2f s)\n",
		       get ? "get" : "put", n, size >> 20, nt,
		       (double)n * (double)size / 1048576.0 / dt, dt);
	}
	for (int i = 0; i < n; i++) {
		struct err e;

		if (store_remove(s, id[i], &e) != 0)
			rc = 1;
		free(data[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	int threads = 0;
	struct store *s = NULL;
	struct err e;
	uint8_t *data, *back, md[32];
	char id[MAX_PACKS][65];
	double tput[MAX_PACKS], tget[MAX_PACKS];
	size_t size;
	uint64_t len;
	int n;

	if (argc > 2 && strcmp(argv[1], "-j") == 0) {
		threads = atoi(argv[2]);
		argc -= 2;
		argv += 2;
		if (threads < 1 || threads > 16) {
			fprintf(stderr, "arca-bench-store: -j takes 1 to 16 threads\n");
			return 2;
		}
	}
	if (argc < 5 || sodium_init() < 0) {
		fprintf(stderr, "usage: arca-bench-store [-j THREADS] fs DIR N SIZE_MIB\n"
				"       arca-bench-store [-j THREADS] s3 BUCKET N SIZE_MIB "
				"[PART_MIB ABOVE_MIB]\n");
		return 2;
	}
	n = atoi(argv[3]);
	size = (size_t)atoi(argv[4]) << 20;
	if (n < 1 || n > MAX_PACKS || size == 0) {
		fprintf(stderr, "arca-bench-store: N from 1 to %d, SIZE_MIB at least 1\n", MAX_PACKS);
		return 2;
	}
	if (strcmp(argv[1], "fs") == 0) {
		s = store_fs_open(argv[2], &e);
	} else if (strcmp(argv[1], "s3") == 0) {
		struct store_s3_config c = {
			.endpoint = getenv("ARCA_S3_ENDPOINT"), .bucket = argv[2],
			.region = getenv("ARCA_S3_REGION") ? getenv("ARCA_S3_REGION") : "default",
			.access_key = getenv("ARCA_S3_ACCESS_KEY"),
			.secret_key = getenv("ARCA_S3_SECRET_KEY"), .retries = -1,
		};
		if (argc >= 7) {
			c.part_size = (uint64_t)atoi(argv[5]) << 20;
			c.multipart_above = (uint64_t)atoi(argv[6]) << 20;
		}
		s = store_s3_open(&c, &e);
	} else {
		fprintf(stderr, "arca-bench-store: the backend is fs or s3\n");
		return 2;
	}
	if (s == NULL) {
		fprintf(stderr, "arca-bench-store: %s\n", e.msg);
		return 1;
	}
	if (threads) {
		int rc = parallel(s, n, size, threads);

		store_close(s);
		if (rc)
			fprintf(stderr, "arca-bench-store: a pack failed or came back different\n");
		return rc;
	}
	if ((data = malloc(size)) == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		double t0;

		randombytes_buf(data, size);
		crypto_hash_sha256(md, data, size);
		sodium_bin2hex(id[i], sizeof(id[i]), md, sizeof(md));
		t0 = now();
		if (store_put_mem(s, id[i], data, size, &e) != 0) {
			fprintf(stderr, "arca-bench-store: put: %s\n", e.msg);
			return 1;
		}
		tput[i] = now() - t0;
	}
	for (int i = 0; i < n; i++) {
		double t0 = now();

		if (store_get_all(s, id[i], &back, &len, &e) != 0) {
			fprintf(stderr, "arca-bench-store: get: %s\n", e.msg);
			return 1;
		}
		tget[i] = now() - t0;
		crypto_hash_sha256(md, back, len);
		sodium_bin2hex((char *)data, 65, md, sizeof(md));
		if (len != size || strcmp((char *)data, id[i]) != 0) {
			fprintf(stderr, "arca-bench-store: pack %d came back different\n", i);
			return 1;
		}
		free(back);
	}
	report("put", tput, n, size);
	report("get", tget, n, size);
	for (int i = 0; i < n; i++)
		if (store_remove(s, id[i], &e) != 0) {
			fprintf(stderr, "arca-bench-store: remove: %s\n", e.msg);
			return 1;
		}
	store_close(s);
	free(data);
	return 0;
}
