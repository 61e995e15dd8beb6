/*
 * test_replicate.c: the GRS replicator (replicate.c) on a real catalog and
 * two fs stores (a GRS vault's region r1 and its pair r2).
 *
 * A pack recorded with its queue row is copied to the pair by a pass, byte
 * for byte, and its row goes; a pair that cannot take it leaves the row,
 * counted and put off by the back-off, until it can; a primary copy that is
 * missing or damaged is never copied, its row stays with the reason and one
 * alert is raised however many passes try; a pack the collector doomed is
 * not copied; a pass of a service that lost the duty copies nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "catalog.h"
#include "catalog_sqlite.h"
#include "keys.h"
#include "pack.h"
#include "replicate.h"
#include "service.h"
#include "store.h"

#define T0 1000000
#define SIZE 300000

/* replicate.c finds the stores among the service's regions. */
const struct region *service_region(const struct service *s, const char *name)
{
	for (size_t i = 0; i < s->n_regions; i++)
		if (strcmp(s->regions[i].name, name) == 0)
			return &s->regions[i];
	return NULL;
}

static int64_t clock_now = T0;

int64_t service_now(void)
{
	return clock_now;
}

struct fx {
	char dir[64];
	struct service s;
	catalog_id sub, machine;
	struct vault v;
	char pack[65];
	uint8_t *data;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[128];
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 }, md[32];
	struct registration r = { 0 };
	struct pack_entry ent = { 0 };
	struct replica rep = { 0 };
	struct machine m;
	bool again;

	assert_non_null(f);
	clock_now = T0;
	snprintf(f->dir, sizeof(f->dir), "/tmp/arca-test-replicate-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/catalog.db", f->dir);
	assert_non_null(f->s.cat = catalog_sqlite_open(path, NULL, NULL));
	f->s.n_regions = 2;
	for (int i = 0; i < 2; i++) {
		snprintf(f->s.regions[i].name, sizeof(f->s.regions[i].name), "r%d", i + 1);
		snprintf(f->s.regions[i].pair, sizeof(f->s.regions[i].pair), "r%d", 2 - i);
		snprintf(f->s.regions[i].store_path, sizeof(f->s.regions[i].store_path), "%s/r%d",
			 f->dir, i + 1);
		assert_non_null(f->s.regions[i].store = store_fs_open(f->s.regions[i].store_path,
								     NULL));
	}
	assert_int_equal(catalog_subscription_create(f->s.cat, "s", T0, f->sub, NULL), 0);
	catalog_new_id(f->v.id);
	strcpy(f->v.subscription, f->sub);
	strcpy(f->v.name, "vault-a");
	strcpy(f->v.region, "r1");
	strcpy(f->v.redundancy, "GRS");
	assert_int_equal(catalog_vault_create(f->s.cat, &f->v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(f->s.cat, f->v.id, "01", "fp", "cert", T0, T0 + 9999,
						NULL), 0);
	r.vault_id = f->v.id, r.credential_fingerprint = "fp", r.name = "m1";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = T0;
	assert_int_equal(catalog_machine_register(f->s.cat, &r, &m, &again, NULL), 0);
	memcpy(f->machine, m.id, sizeof(f->machine));
	/* The upload: the pack in r1's store, recorded with its queue row. */
	assert_non_null(f->data = malloc(SIZE));
	randombytes_buf(f->data, SIZE);
	crypto_hash_sha256(md, f->data, SIZE);
	sodium_bin2hex(f->pack, sizeof(f->pack), md, sizeof(md));
	assert_int_equal(store_put_mem(f->s.regions[0].store, f->pack, f->data, SIZE, NULL), 0);
	ent.id.b[0] = 1, ent.kind = 1, ent.offset = 16, ent.length = 100;
	strcpy(rep.vault_id, f->v.id);
	strcpy(rep.from, "r1");
	strcpy(rep.to, "r2");
	assert_int_equal(catalog_pack_add_replica(f->s.cat, f->machine, f->pack, SIZE, &ent, 1, T0,
						  &rep, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	for (int i = 0; i < 2; i++)
		store_close(f->s.regions[i].store);
	catalog_close(f->s.cat);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->data);
	free(f);
	return 0;
}

static struct replica_lag lag_of(struct fx *f)
{
	struct replica_lag lag;

	assert_int_equal(catalog_replica_lag(f->s.cat, f->v.id, &lag, NULL), 0);
	return lag;
}

/* One pass at NOW as the duty's holder "me". */
static struct replicate_stats pass(struct fx *f, int64_t now)
{
	struct replicate_stats st;
	struct err e;

	clock_now = now;
	assert_int_equal(catalog_duty_take(f->s.cat, REPLICATE_DUTY, "me", now, now + 10, &e), 1);
	assert_int_equal(replicate_pass(&f->s, "me", now, NULL, &st, &e), 0);
	return st;
}

static void assert_pair_has_it(struct fx *f)
{
	uint8_t *back;
	uint64_t len;

	assert_int_equal(store_get_all(f->s.regions[1].store, f->pack, &back, &len, NULL), 0);
	assert_int_equal(len, SIZE);
	assert_memory_equal(back, f->data, SIZE);
	free(back);
}

static int alerts(struct fx *f)
{
	struct alert *a;
	size_t n;
	int k = 0;

	assert_int_equal(catalog_alert_list(f->s.cat, f->sub, 100, &a, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		k += strcmp(a[i].kind, "replication") == 0;
	free(a);
	return k;
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(replicate_backoff(0), 0);
	assert_int_equal(replicate_backoff(1), 1);
	assert_int_equal(replicate_backoff(2), 2);
	assert_int_equal(replicate_backoff(5), 16);
	assert_int_equal(replicate_backoff(9), 256);
	assert_int_equal(replicate_backoff(10), REPLICATE_BACKOFF_MAX);
	assert_int_equal(replicate_backoff(1000), REPLICATE_BACKOFF_MAX);
}

static void test_copied_and_dequeued(void **state)
{
	struct fx *f = *state;
	struct replicate_stats st;

	assert_int_equal(lag_of(f).packs, 1);
	assert_int_equal(store_stat(f->s.regions[1].store, f->pack, NULL, NULL), 0);
	st = pass(f, T0 + 5);
	assert_int_equal(st.copied, 1);
	assert_int_equal(st.failed, 0);
	assert_pair_has_it(f);
	assert_int_equal(lag_of(f).packs, 0);
	st = pass(f, T0 + 6);
	assert_int_equal(st.copied, 0);
}

/* The pair's store cannot take the pack (its packs folder is a file): the
 * row stays, counted, not taken again before its back-off, then copied
 * once the store is mended. */
static void test_failure_retried_until_done(void **state)
{
	struct fx *f = *state;
	struct replicate_stats st;
	struct replica_lag lag;
	char packs[128], aside[128];

	snprintf(packs, sizeof(packs), "%s/r2/packs", f->dir);
	snprintf(aside, sizeof(aside), "%s/r2/packs-aside", f->dir);
	assert_int_equal(rename(packs, aside), 0);
	assert_int_equal(close(creat(packs, 0600)), 0);
	st = pass(f, T0 + 10);
	assert_int_equal(st.failed, 1);
	lag = lag_of(f);
	assert_int_equal(lag.packs, 1);
	assert_int_equal(lag.attempts, 1);
	assert_non_null(strstr(lag.error, "r2"));
	/* Put off: not taken again within its back-off. */
	st = pass(f, T0 + 10);
	assert_int_equal(st.failed + st.copied, 0);
	st = pass(f, T0 + 11);
	assert_int_equal(st.failed, 1);
	assert_int_equal(lag_of(f).attempts, 2);
	st = pass(f, T0 + 12);
	assert_int_equal(st.failed + st.copied, 0); /* 2 s after the second */
	assert_int_equal(alerts(f), 0); /* the pair's trouble, not a damaged pack */
	assert_int_equal(unlink(packs), 0);
	assert_int_equal(rename(aside, packs), 0);
	st = pass(f, T0 + 13);
	assert_int_equal(st.copied, 1);
	assert_pair_has_it(f);
	lag = lag_of(f);
	assert_int_equal(lag.packs, 0);
	assert_string_equal(lag.error, "");
}

/* A primary copy damaged (a byte flipped) or missing is never copied: the
 * row stays with the reason, and one alert says so however many tries. */
static void test_damaged_or_missing_primary_never_copied(void **state)
{
	struct fx *f = *state;
	struct replicate_stats st;
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/r1/packs/%.2s/%s", f->dir, f->pack, f->pack);
	assert_non_null(fp = fopen(path, "r+b"));
	fseek(fp, SIZE / 2, SEEK_SET);
	fputc(f->data[SIZE / 2] ^ 1, fp);
	fclose(fp);
	st = pass(f, T0 + 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(store_stat(f->s.regions[1].store, f->pack, NULL, NULL), 0);
	assert_non_null(strstr(lag_of(f).error, "damaged"));
	assert_int_equal(alerts(f), 1);
	pass(f, T0 + 100);
	pass(f, T0 + 1000);
	assert_int_equal(lag_of(f).attempts, 3);
	assert_int_equal(alerts(f), 1);
	assert_int_equal(store_stat(f->s.regions[1].store, f->pack, NULL, NULL), 0);
	/* Now missing: another reason, one more alert. */
	assert_int_equal(unlink(path), 0);
	pass(f, T0 + 5000);
	assert_non_null(strstr(lag_of(f).error, "missing from region r1"));
	assert_int_equal(alerts(f), 2);
	assert_int_equal(lag_of(f).packs, 1);
	/* Sent again, it is copied. */
	assert_int_equal(store_put_mem(f->s.regions[0].store, f->pack, f->data, SIZE, NULL), 0);
	st = pass(f, T0 + 9000);
	assert_int_equal(st.copied, 1);
	assert_pair_has_it(f);
}

/* The collector drops the pack before the replicator gets to it: its row
 * went with the doom, and nothing is copied. A pass that lost the duty to
 * another service copies nothing. */
static void test_doomed_pack_not_copied_and_duty(void **state)
{
	struct fx *f = *state;
	struct replicate_stats st;
	struct objid *live;
	size_t n;
	int64_t mark;
	struct err e;

	/* Another service holds the duty: this one's pass stops at once. */
	assert_int_equal(catalog_duty_take(f->s.cat, REPLICATE_DUTY, "other", T0, T0 + 10, &e), 1);
	assert_int_equal(replicate_pass(&f->s, "me", T0 + 1, NULL, &st, &e), 0);
	assert_int_equal(st.copied + st.failed, 0);
	assert_int_equal(lag_of(f).packs, 1);
	assert_int_equal(catalog_refs_mark(f->s.cat, f->machine, &live, &n, &mark, &e), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->s.cat, f->machine, f->pack, mark, "r1", "r2", T0 + 20,
					 T0 + 3620, &e), 0);
	assert_int_equal(lag_of(f).packs, 0);
	st = pass(f, T0 + 30);
	assert_int_equal(st.copied + st.failed, 0);
	assert_int_equal(store_stat(f->s.regions[1].store, f->pack, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_copied_and_dequeued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_retried_until_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_or_missing_primary_never_copied, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_doomed_pack_not_copied_and_duty, setup,
						teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
