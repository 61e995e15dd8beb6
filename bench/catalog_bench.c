/*
 * catalog_bench.c: what the catalog costs the service per request, on the
 * catalog at WHERE (an SQLite file's path, or postgresql://...): the
 * catalog calls of the requests an agent makes most, each timed over N
 * calls, the median of RUNS runs, in microseconds per call on the wall
 * clock (a database server's time is the request's time too).
 *
 *   authenticate    a portal or API request: the bearer token's session
 *   signed request  an agent's request: its nonce spent, the machine seen
 *   lookup          the 256 objects of a batch asked about (objects_missing)
 *   pack            a pack of 256 objects recorded (pack_add)
 *   commit          a recovery point of 256 objects committed (point_commit,
 *                   with its lease begun and ended, as a backup's end does)
 *
 * usage: arca-bench-catalog WHERE [N] [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "keys.h"
#include "pack.h"

#define BATCH 256
#define MAX_RUNS 31

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "arca-bench-catalog: %s: %s\n", what, e->msg);
	exit(1);
}

struct bench {
	struct catalog *c;
	catalog_id sub, machine;
	char token_hash[65];
	int64_t clock; /* every call at a later time: nonces and points stay apart */
	unsigned serial;
};

/* The ids of BATCH objects of batch K. */
static void batch_ids(unsigned k, struct pack_entry *ents, char hex[][OBJID_HEX_LEN + 1],
		      const char **ids)
{
	memset(ents, 0, BATCH * sizeof(*ents));
	for (unsigned i = 0; i < BATCH; i++) {
		memcpy(ents[i].id.b, &k, sizeof(k));
		memcpy(ents[i].id.b + sizeof(k), &i, sizeof(i));
		ents[i].kind = 1, ents[i].offset = 16 + 1000 * i, ents[i].length = 1000;
		objid_to_hex(&ents[i].id, hex[i]);
		ids[i] = hex[i];
	}
}

static void op_authenticate(struct bench *b)
{
	struct principal p;
	struct err e;

	if (catalog_authenticate(b->c, b->token_hash, b->clock, &p, &e) != 0)
		die("authenticate", &e);
}

static void op_signed(struct bench *b)
{
	char nonce[32];
	struct err e;

	snprintf(nonce, sizeof(nonce), "n%u", b->serial++);
	b->clock++;
	if (catalog_nonce_use(b->c, "machine:bench", nonce, b->clock, b->clock + 600, &e) != 0 ||
	    catalog_machine_seen(b->c, b->machine, b->clock, &e) != 0)
		die("signed request", &e);
}

static struct pack_entry ents[BATCH];
static char hex[BATCH][OBJID_HEX_LEN + 1];
static const char *ids[BATCH];
static bool missing[BATCH];

static void op_lookup(struct bench *b)
{
	struct err e;

	batch_ids(b->serial++ % 64, ents, hex, ids);
	if (catalog_objects_missing(b->c, b->machine, ids, BATCH, missing, &e) != 0)
		die("lookup", &e);
}

static void op_pack(struct bench *b)
{
	char pack[65];
	unsigned k = 1000000 + b->serial++;
	struct err e;

	batch_ids(k, ents, hex, ids);
	snprintf(pack, sizeof(pack), "%064x", k);
	if (catalog_pack_add(b->c, b->machine, pack, 256000, ents, BATCH, b->clock, &e) != 0)
		die("pack", &e);
}

static void op_commit(struct bench *b)
{
	struct recovery_point rp;
	catalog_id lease;
	struct err e;

	batch_ids(b->serial++ % 64, ents, hex, ids);
	b->clock++;
	if (catalog_lease_begin(b->c, b->machine, b->clock, b->clock + 600, lease, &e) != 0 ||
	    catalog_point_commit(b->c, b->machine, hex[0], NULL, ids, BATCH, b->clock, &rp, &e) != 0 ||
	    catalog_lease_end(b->c, b->machine, lease, &e) != 0 ||
	    catalog_point_delete(b->c, b->machine, rp.id, b->clock, &e) != 0)
		die("commit", &e);
}

/* A subscription with a session, a vault, a machine, and 64 packs of
 * BATCH objects each stored by it (what lookup and commit name). */
static void setup(struct bench *b)
{
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	struct registration r;
	struct vault v;
	struct machine m;
	char user[64], hash[64];
	struct principal p;
	bool again;
	struct err e;

	b->clock = 1000000;
	snprintf(user, sizeof(user), "bench-%ld", (long)time(NULL));
	memset(b->token_hash, 'a', 64);
	memcpy(b->token_hash, user, strlen(user));
	b->token_hash[64] = 0;
	memset(&v, 0, sizeof(v));
	if (catalog_subscription_create(b->c, "bench", b->clock, b->sub, &e) != 0 ||
	    catalog_user_create(b->c, b->sub, user, "hash", b->clock, &e) != 0 ||
	    catalog_user_find(b->c, user, hash, sizeof(hash), &p, &e) != 0 ||
	    catalog_session_create(b->c, b->token_hash, p.actor, b->clock + 86400 * 365, &e) != 0)
		die("setup", &e);
	catalog_new_id(v.id);
	snprintf(v.subscription, sizeof(v.subscription), "%s", b->sub);
	snprintf(v.name, sizeof(v.name), "bench");
	snprintf(v.region, sizeof(v.region), "local-1");
	snprintf(v.redundancy, sizeof(v.redundancy), "LRS");
	if (catalog_vault_create(b->c, &v, "cert", "key", &e) != 0 ||
	    catalog_credential_add(b->c, v.id, v.id, "fp", "cert", b->clock, b->clock + 86400, &e))
		die("setup", &e);
	memset(&r, 0, sizeof(r));
	r.vault_id = v.id, r.credential_fingerprint = "fp", r.name = "m";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = b->clock;
	if (catalog_machine_register(b->c, &r, &m, &again, &e) != 0)
		die("setup", &e);
	snprintf(b->machine, sizeof(b->machine), "%s", m.id);
	for (unsigned k = 0; k < 64; k++) {
		char pack[65];

		batch_ids(k, ents, hex, ids);
		snprintf(pack, sizeof(pack), "%064x", k);
		if (catalog_pack_add(b->c, b->machine, pack, 256000, ents, BATCH, b->clock, &e) != 0)
			die("setup", &e);
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(struct bench *);
		int scale; /* N divided by this: the heavy operations */
	} ops[] = {
		{ "authenticate", op_authenticate, 1 },
		{ "signed request", op_signed, 1 },
		{ "lookup (256 ids)", op_lookup, 1 },
		{ "pack (256 objects)", op_pack, 4 },
		{ "commit (256 refs)", op_commit, 4 },
	};
	struct bench b = { 0 };
	int n = argc > 2 ? atoi(argv[2]) : 400;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	struct err e;

	if (argc < 2 || n < 4 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: arca-bench-catalog WHERE [N] [RUNS (1 to %d)]\n", MAX_RUNS);
		return 2;
	}
	if ((b.c = catalog_open(argv[1], &e)) == NULL)
		die("open", &e);
	setup(&b);
	printf("catalog %s: microseconds per call, median of %d runs\n",
	       catalog_backend_name(b.c), runs);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		double t[MAX_RUNS];
		int calls = n / ops[i].scale;

		for (int r = 0; r < runs; r++) {
			double t0 = now();

			for (int j = 0; j < calls; j++)
				ops[i].fn(&b);
			t[r] = (now() - t0) / calls * 1e6;
		}
		qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
		printf("  %-20s %9.0f us  (%d calls a run)\n", ops[i].name, t[runs / 2], calls);
	}
	catalog_close(b.c);
	return 0;
}
