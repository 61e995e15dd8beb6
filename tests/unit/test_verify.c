/*
 * test_verify.c: the keyless check of the stores against the catalog
 * (verify.c) on a real catalog and real packs in two fs stores (a GRS
 * vault's region and its pair).
 *
 * One machine holds pack A (objects a0..a3) and pack B (b0..b3); point 1
 * references a0..a3, point 2 b0..b3. Each test damages one thing and
 * checks that verify names it and the points it hurts, and nothing else:
 * a byte flipped in the pair's copy, a truncated copy, a removed copy, a
 * stray file, an object row or a point's references lost. A store whose
 * reads fail (a second backend wrapped around the fs one) makes the run an
 * error, never a clean answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "catalog.h"
#include "catalog_sqlite.h"
#include "keys.h"
#include "objid.h"
#include "pack.h"
#include "service.h"
#include "store.h"
#include "verify.h"

#define T0 1000000
#define PER_PACK 4

/* verify.c finds a vault's stores among the service's regions. */
const struct region *service_region(const struct service *s, const char *name)
{
	for (size_t i = 0; i < s->n_regions; i++)
		if (strcmp(s->regions[i].name, name) == 0)
			return &s->regions[i];
	return NULL;
}

const char *service_pair_of(void *s, const char *region)
{
	const struct region *r = service_region(s, region);

	return r && r->pair[0] ? r->pair : NULL;
}

struct fx {
	char dir[64];
	struct service s;
	catalog_id sub, machine;
	char pack[2][65];
	catalog_id point[2];
	struct verify_report r;
};

static void make_pack(struct fx *f, const struct keys *k, int which, struct objid ids[PER_PACK])
{
	struct pack_writer *w = pack_writer_new(k, 1, NULL);
	struct buf out = BUF_INIT;
	uint8_t pid[PACK_ID_LEN], data[3000];
	struct pack_entry ents[PER_PACK];

	assert_non_null(w);
	for (int i = 0; i < PER_PACK; i++) {
		randombytes_buf(data, sizeof(data));
		objid_compute(k, data, sizeof(data), &ids[i]);
		assert_int_equal(pack_writer_add(w, OBJECT_DATA, &ids[i], data, sizeof(data), NULL), 0);
	}
	memcpy(ents, pack_writer_entries(w), sizeof(ents));
	assert_int_equal(pack_writer_finish(w, &out, pid, NULL), 0);
	sodium_bin2hex(f->pack[which], 65, pid, sizeof(pid));
	for (int i = 0; i < 2; i++)
		assert_int_equal(store_put_mem(f->s.regions[i].store, f->pack[which], out.data,
					       out.len, NULL), 0);
	assert_int_equal(catalog_pack_add(f->s.cat, f->machine, f->pack[which], out.len, ents,
					  PER_PACK, T0, NULL), 0);
	pack_writer_free(w);
	buf_free(&out);
}

static void commit(struct fx *f, int which, const struct objid ids[PER_PACK])
{
	char hex[PER_PACK][OBJID_HEX_LEN + 1];
	const char *p[PER_PACK];
	struct recovery_point rp;

	for (int i = 0; i < PER_PACK; i++) {
		objid_to_hex(&ids[i], hex[i]);
		p[i] = hex[i];
	}
	assert_int_equal(catalog_point_commit(f->s.cat, f->machine, hex[0], NULL, p, PER_PACK,
					      T0 + 1 + which, &rp, NULL), 0);
	memcpy(f->point[which], rp.id, sizeof(rp.id));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[128];
	uint8_t master[KEY_LEN], blob[KEYS_WRAPPED_LEN] = { 0 };
	struct objid a[PER_PACK], b[PER_PACK];
	struct registration r = { 0 };
	struct vault v = { 0 };
	struct machine m;
	struct keys *k;
	bool again;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/arca-test-verify-XXXXXX");
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
	catalog_new_id(v.id);
	strcpy(v.subscription, f->sub);
	strcpy(v.name, "vault-a");
	strcpy(v.region, "r1");
	strcpy(v.redundancy, "GRS");
	assert_int_equal(catalog_vault_create(f->s.cat, &v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(f->s.cat, v.id, "01", "fp", "cert", T0, T0 + 9999,
						NULL), 0);
	r.vault_id = v.id, r.credential_fingerprint = "fp", r.name = "m1";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = T0;
	assert_int_equal(catalog_machine_register(f->s.cat, &r, &m, &again, NULL), 0);
	memcpy(f->machine, m.id, sizeof(f->machine));
	randombytes_buf(master, sizeof(master));
	assert_non_null(k = keys_from_master(master, NULL));
	make_pack(f, k, 0, a);
	make_pack(f, k, 1, b);
	commit(f, 0, a);
	commit(f, 1, b);
	keys_free(k);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	verify_report_free(&f->r);
	for (int i = 0; i < 2; i++)
		store_close(f->s.regions[i].store);
	catalog_close(f->s.cat);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int run(struct fx *f, struct err *e)
{
	struct verify_opts o = { f->sub, NULL, NULL, NULL };

	verify_report_free(&f->r);
	return verify_run(&f->s, &o, &f->r, e);
}

/* The file of pack WHICH in region REGION (1 or 2). */
static void pack_path(struct fx *f, int which, int region, char *out, size_t n)
{
	snprintf(out, n, "%s/r%d/packs/%.2s/%s", f->dir, region, f->pack[which], f->pack[which]);
}

static void sql(struct fx *f, const char *stmt)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/catalog.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_changes(db) > 0);
	sqlite3_close(db);
}

/* Exactly one damaged point, point WHICH. */
static const struct verify_point *only_point(struct fx *f, int which)
{
	assert_int_equal(f->r.n_damaged, 1);
	assert_string_equal(f->r.damaged[0].point_id, f->point[which]);
	assert_string_equal(f->r.damaged[0].machine, "m1");
	return &f->r.damaged[0];
}

static void test_clean(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, NULL), 0);
	assert_true(verify_clean(&f->r));
	assert_int_equal(f->r.packs, 2);
	assert_int_equal(f->r.copies, 4); /* GRS: both regions' */
	assert_int_equal(f->r.points, 2);
	assert_int_equal(f->r.bytes, f->r.bytes_total);
}

static void test_flipped_byte_in_the_pair_copy(void **state)
{
	struct fx *f = *state;
	char path[256];
	FILE *fp;
	int c;

	pack_path(f, 0, 2, path, sizeof(path));
	assert_non_null(fp = fopen(path, "r+b"));
	fseek(fp, 7, SEEK_SET);
	c = fgetc(fp);
	fseek(fp, 7, SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
	assert_int_equal(run(f, NULL), 0);
	assert_false(verify_clean(&f->r));
	assert_int_equal(f->r.n_bad, 1);
	assert_string_equal(f->r.bad[0].pack, f->pack[0]);
	assert_string_equal(f->r.bad[0].region, "r2");
	assert_int_equal(f->r.bad[0].problem, VERIFY_CHECKSUM);
	assert_int_equal(only_point(f, 0)->objects_damaged, PER_PACK);
}

static void test_truncated_and_removed(void **state)
{
	struct fx *f = *state;
	char path[256];

	pack_path(f, 1, 1, path, sizeof(path));
	assert_int_equal(truncate(path, 100), 0);
	pack_path(f, 1, 2, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(run(f, NULL), 0);
	assert_int_equal(f->r.n_bad, 2);
	assert_int_equal(f->r.bad[0].problem, VERIFY_SIZE);
	assert_int_equal(f->r.bad[0].size_found, 100);
	assert_int_equal(f->r.bad[1].problem, VERIFY_MISSING);
	assert_int_equal(f->r.bad[1].size_found, -1);
	assert_int_equal(f->r.n_strays, 0);
	only_point(f, 1);
}

static void test_stray(void **state)
{
	struct fx *f = *state;
	const char *id = "00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa";

	/* In the first store listed, the next one holding none. */
	assert_int_equal(store_put_mem(f->s.regions[0].store, id, (const uint8_t *)"x", 1, NULL), 0);
	assert_int_equal(run(f, NULL), 0);
	assert_int_equal(f->r.n_strays, 1);
	assert_string_equal(f->r.strays[0].pack, id);
	assert_string_equal(f->r.strays[0].region, "r1");
	assert_int_equal(f->r.n_bad + f->r.n_damaged, 0);
	/* A pack row lost: its files are strays, and its objects have no
	 * listed place. */
	sql(f, "PRAGMA foreign_keys = OFF; DELETE FROM packs WHERE rowid = (SELECT min(rowid) FROM packs)");
	assert_int_equal(run(f, NULL), 0);
	assert_int_equal(f->r.n_strays, 3);
	assert_int_equal(only_point(f, 0)->objects_unplaced, PER_PACK);
}

static void test_lost_rows(void **state)
{
	struct fx *f = *state;
	char stmt[256];

	/* An object row lost (objects has no rowid: by its key). */
	snprintf(stmt, sizeof(stmt), "DELETE FROM objects WHERE (machine_id, id) = (SELECT "
		 "machine_id, id FROM objects WHERE pack_id = '%s' ORDER BY id LIMIT 1)", f->pack[1]);
	sql(f, stmt);
	assert_int_equal(run(f, NULL), 0);
	assert_int_equal(only_point(f, 1)->objects_unplaced, 1);
	snprintf(stmt, sizeof(stmt), "DELETE FROM point_refs WHERE point_id = '%s'", f->point[0]);
	sql(f, stmt);
	assert_int_equal(run(f, NULL), 0);
	assert_int_equal(f->r.n_damaged, 2);
	assert_true(f->r.damaged[0].refs_lost);
	assert_false(f->r.damaged[1].refs_lost);
}

/* ---- a second backend: the fs store, whose gets of one pack fail ---- */

struct failing {
	struct store head;
	struct store *inner;
	const char *bad;
};

static struct failing *as_failing(struct store *s)
{
	return (struct failing *)s;
}

static int f_put(struct store *s, const char *id, uint64_t size, struct store_reader *body,
		 struct err *e)
{
	return store_put(as_failing(s)->inner, id, size, body, e);
}

static int f_get(struct store *s, const char *id, uint64_t off, uint64_t len,
		 struct store_writer *out, struct err *e)
{
	if (strcmp(id, as_failing(s)->bad) == 0)
		return err_set(e, ERR_IO, "read failed (injected)");
	return store_get(as_failing(s)->inner, id, off, len, out, e);
}

static int f_stat(struct store *s, const char *id, uint64_t *size, struct err *e)
{
	return store_stat(as_failing(s)->inner, id, size, e);
}

static int f_list(struct store *s, store_list_fn fn, void *arg, struct err *e)
{
	return store_list(as_failing(s)->inner, fn, arg, e);
}

static int f_remove(struct store *s, const char *id, struct err *e)
{
	return store_remove(as_failing(s)->inner, id, e);
}

static void f_close(struct store *s)
{
	store_close(as_failing(s)->inner);
	free(s);
}

static const struct store_ops failing_ops = { "failing", f_put, f_get, f_stat, f_list, NULL,
					      f_remove, f_close };

static void test_a_read_error_is_an_error(void **state)
{
	struct fx *f = *state;
	struct failing *w = calloc(1, sizeof(*w));
	struct err e;

	assert_non_null(w);
	w->head.ops = &failing_ops;
	w->inner = f->s.regions[1].store;
	w->bad = f->pack[1];
	f->s.regions[1].store = &w->head;
	assert_int_equal(run(f, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, f->pack[1]));
	/* The other backend checks the same: without the fault, clean. */
	w->bad = "none";
	assert_int_equal(run(f, NULL), 0);
	assert_true(verify_clean(&f->r));
}

/* A GRS pack still in the replication queue has no pair copy yet:
 * "replication pending", not damage; a pack not queued whose pair copy is
 * missing is damage as ever; a queued pack's pair copy that is there is
 * checked like any other. */
static void test_replication_pending(void **state)
{
	struct fx *f = *state;
	char path[256], stmt[512];

	snprintf(stmt, sizeof(stmt), "INSERT INTO replicas (pack_id, vault_id, src, dst, size,"
		 " enqueued, next_try) SELECT '%s', id, 'r1', 'r2', 1, %d, %d FROM vaults",
		 f->pack[0], T0, T0);
	sql(f, stmt);
	pack_path(f, 0, 2, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(run(f, NULL), 0);
	assert_true(verify_clean(&f->r));
	assert_int_equal(f->r.pending, 1);
	assert_int_equal(f->r.copies, 4);
	/* The other pack is not queued: its missing pair copy is damage. */
	pack_path(f, 1, 2, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(run(f, NULL), 0);
	assert_false(verify_clean(&f->r));
	assert_int_equal(f->r.pending, 1);
	assert_int_equal(f->r.n_bad, 1);
	assert_string_equal(f->r.bad[0].pack, f->pack[1]);
	assert_int_equal(f->r.bad[0].problem, VERIFY_MISSING);
	only_point(f, 1);
}

static void test_unknown_vault(void **state)
{
	struct fx *f = *state;
	struct verify_opts o = { f->sub, "no-such-vault", NULL, NULL };
	struct err e;

	verify_report_free(&f->r);
	assert_int_equal(verify_run(&f->s, &o, &f->r, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	o.vault = "vault-a";
	assert_int_equal(verify_run(&f->s, &o, &f->r, NULL), 0);
	assert_true(verify_clean(&f->r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_in_the_pair_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_read_error_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_vault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replication_pending, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
