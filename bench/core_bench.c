/*
 * core_bench.c: throughput of each stage of the core pipeline on one thread,
 * over one file held in memory: chunking, object ids, compression, sealing
 * (compression + padding + encryption), sealing without compression
 * (encryption alone), and the whole pipeline as the agent runs it (chunk, id,
 * seal into packs). Prints MiB/s, the median of RUNS runs of each.
 *
 * Timed in this thread's CPU time, not by the clock on the wall: the
 * question is what one core does, and on a shared machine wall time also
 * counts the time others held the core (the same divisor as `openssl
 * speed`, which bench/core prints beside these).
 *
 * usage: arca-bench-core FILE [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "chunker.h"
#include "compress.h"
#include "keys.h"
#include "object.h"
#include "objid.h"
#include "pack.h"

#define MAX_RUNS 31

struct span {
	size_t off, len;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "arca-bench-core: %s: %s\n", what, e->msg);
	exit(1);
}

/* Cut DATA into chunks; returns the number of chunks written to SPANS. */
static size_t chunk_all(struct chunker *c, const uint8_t *data, size_t len, struct span *spans)
{
	size_t n = 0, start = 0, off = 0;
	/* Feed 1 MiB reads, as the agent does from a file. */
	const size_t rd = 1u << 20;

	chunker_reset(c);
	while (off < len) {
		size_t want = len - off < rd ? len - off : rd;
		bool cut;
		size_t used = chunker_next(c, data + off, want, &cut);

		off += used;
		if (cut) {
			spans[n].off = start;
			spans[n++].len = off - start;
			start = off;
		}
	}
	if (off > start) {
		spans[n].off = start;
		spans[n++].len = off - start;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct err e;
	struct stat st;
	FILE *f;
	uint8_t *data;
	size_t len, nspans = 0, cap;
	struct span *spans;
	struct keys *k;
	struct chunker_params cp;
	struct chunker *c;
	struct buf out = BUF_INIT;
	double t[7][MAX_RUNS];
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	size_t stored = 0, compressed_n = 0;

	if (argc < 2 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: arca-bench-core FILE [RUNS 1..%d]\n", MAX_RUNS);
		return 2;
	}
	if ((f = fopen(argv[1], "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	len = (size_t)st.st_size;
	if ((data = malloc(len ? len : 1)) == NULL || fread(data, 1, len, f) != len) {
		fprintf(stderr, "arca-bench-core: cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);
	if ((k = keys_generate(&e)) == NULL)
		die("keys", &e);
	chunker_params_default(&cp);
	if ((c = chunker_new(&cp, k->chunker, &e)) == NULL)
		die("chunker", &e);
	cap = len / cp.min_size + 2;
	if ((spans = calloc(cap, sizeof(*spans))) == NULL)
		return 1;

	for (int r = 0; r < runs; r++) {
		double t0;
		struct objid id;

		/* 0: chunking */
		t0 = now();
		nspans = chunk_all(c, data, len, spans);
		t[0][r] = now() - t0;

		/* 1: object ids */
		t0 = now();
		for (size_t i = 0; i < nspans; i++)
			objid_compute(k, data + spans[i].off, spans[i].len, &id);
		t[1][r] = now() - t0;

		/* 2: compression (zstd level 3, stored raw when it does not shrink) */
		t0 = now();
		compressed_n = 0;
		for (size_t i = 0; i < nspans; i++) {
			bool z;

			buf_reset(&out);
			if (compress_try(3, data + spans[i].off, spans[i].len, &out, &z, &e) != 0)
				die("compress", &e);
			compressed_n += z;
		}
		t[2][r] = now() - t0;

		/* 3: encryption alone (sealing with compression off) */
		t0 = now();
		for (size_t i = 0; i < nspans; i++) {
			buf_reset(&out);
			if (object_seal(k, OBJECT_DATA, &id, data + spans[i].off, spans[i].len,
					0, &out, &e) != 0)
				die("seal", &e);
		}
		t[3][r] = now() - t0;

		/* 4: sealing: compression, padding, encryption */
		t0 = now();
		stored = 0;
		for (size_t i = 0; i < nspans; i++) {
			buf_reset(&out);
			if (object_seal(k, OBJECT_DATA, &id, data + spans[i].off, spans[i].len,
					3, &out, &e) != 0)
				die("seal", &e);
			stored += out.len;
		}
		t[4][r] = now() - t0;

		/* 5: the pipeline: chunk, id, compress, encrypt */
		t0 = now();
		nspans = chunk_all(c, data, len, spans);
		for (size_t i = 0; i < nspans; i++) {
			objid_compute(k, data + spans[i].off, spans[i].len, &id);
			buf_reset(&out);
			if (object_seal(k, OBJECT_DATA, &id, data + spans[i].off, spans[i].len,
					3, &out, &e) != 0)
				die("seal", &e);
		}
		t[5][r] = now() - t0;

		/* 6: the pipeline writing packs, as the agent does */
		t0 = now();
		{
			struct pack_writer *w = pack_writer_new(k, 3, &e);
			uint8_t pid[32];

			if (w == NULL)
				die("pack", &e);
			nspans = chunk_all(c, data, len, spans);
			for (size_t i = 0; i < nspans; i++) {
				objid_compute(k, data + spans[i].off, spans[i].len, &id);
				if (pack_writer_has(w, &id))
					continue;
				if (pack_writer_add(w, OBJECT_DATA, &id, data + spans[i].off,
						    spans[i].len, &e) != 0)
					die("pack add", &e);
				if (pack_writer_size(w) >= PACK_TARGET_DEFAULT || i + 1 == nspans) {
					buf_reset(&out);
					/* finish leaves the writer empty for the next pack */
					if (pack_writer_finish(w, &out, pid, &e) != 0)
						die("pack finish", &e);
				}
			}
			pack_writer_free(w);
		}
		t[6][r] = now() - t0;
	}

	{
		static const char *names[] = {
			"chunking (FastCDC)", "object ids (HMAC-SHA-256)",
			"compression (zstd 3)", "encryption (seal, no zstd)",
			"seal (zstd+pad+AEAD)", "pipeline chunk-id-seal", "pipeline + packs",
		};
		double mib = (double)len / (1024.0 * 1024.0);

		printf("%zu chunks, mean %.0f KiB; %zu of them compressed; sealed size %.2f%% of input\n",
		       nspans, nspans ? (double)len / nspans / 1024 : 0.0, compressed_n,
		       len ? 100.0 * (double)stored / (double)len : 0.0);
		for (int s = 0; s < 7; s++)
			printf("%-28s %8.0f MiB/s\n", names[s], mib / median(t[s], runs));
	}
	buf_free(&out);
	chunker_free(c);
	keys_free(k);
	free(spans);
	free(data);
	return 0;
}
