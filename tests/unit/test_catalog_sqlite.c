/*
 * test_catalog_sqlite.c: what only the SQLite catalog has, checked by
 * editing its file with SQL on purpose: migration from schema 8 (through
 * every later one), a broken
 * table read as an error, and the pruning of spent nonces. The contract's
 * tests, for every backend, are in test_catalog.c.
 */
#include <sqlite3.h>

#include "catalog_suite.h"

/* A catalog of schema 8 keeps its references: migration 9 turns the rows
 * of point_objects into each point's list. */
static void test_migration_of_references(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 7, 5, 6 }, refs[] = { 7, 5 };
	char a[65];
	struct recovery_point rp;
	struct objid *live;
	size_t n;
	int64_t mark;
	sqlite3 *db;
	char sql[2048];

	add_pack(f, 'a', objs, 3, a);
	commit_refs(f, refs, 2, 2000, &rp);
	catalog_close(f->c);
	/* Back to schema 8, as an older arcad left it (later migrations'
	 * columns go too). */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE point_objects (point_id TEXT NOT NULL, object_id TEXT NOT NULL,"
		 " PRIMARY KEY (point_id, object_id)) WITHOUT ROWID;"
		 "INSERT INTO point_objects VALUES ('%s', '07%062d'), ('%s', '05%062d');"
		 "DROP TABLE point_refs; DROP TABLE nonces; ALTER TABLE machines DROP COLUMN verifier;"
		 "ALTER TABLE machines DROP COLUMN cert_expires; DROP TABLE pin_guard;"
		 "ALTER TABLE pins DROP COLUMN user_id; ALTER TABLE doomed DROP COLUMN machine_id;"
		 "ALTER TABLE users DROP COLUMN role; ALTER TABLE users DROP COLUMN disabled;"
		 "ALTER TABLE users DROP COLUMN code_hash; ALTER TABLE users DROP COLUMN code_expires;"
		 "ALTER TABLE users DROP COLUMN totp_secret; ALTER TABLE users DROP COLUMN totp_pending;"
		 "ALTER TABLE users DROP COLUMN totp_step; ALTER TABLE api_tokens DROP COLUMN role;"
		 "ALTER TABLE api_tokens DROP COLUMN maker;"
		 "ALTER TABLE subscriptions DROP COLUMN require_totp;"
		 "ALTER TABLE subscriptions DROP COLUMN guard;"
		 "ALTER TABLE subscriptions DROP COLUMN approval_hours; DROP TABLE approvals;"
		 "ALTER TABLE vaults DROP COLUMN immutability;"
		 "ALTER TABLE points DROP COLUMN retain_until;"
		 "DROP TABLE limits; DROP TABLE holds; DROP TABLE duties; DROP TABLE replicas;"
		 "ALTER TABLE doomed DROP COLUMN sweeping; PRAGMA user_version=8;",
		 rp.id, 0, rp.id, 0);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	f->c = catalog_open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 2);
	assert_true(live[0].b[0] == 5 && live[1].b[0] == 7 && live[1].b[31] == 0);
	free(live);
	/* Migration 16: the vault is mutable, the point not yet evaluated. */
	{
		struct vault v;
		struct recovery_point got;

		assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
		assert_int_equal(v.immutability, IMMUT_MUTABLE);
		assert_int_equal(catalog_point_get(f->c, f->m.id, rp.id, &got, NULL), 0);
		assert_int_equal(got.retain_until, 0);
	}
	/* Migration 19: no guard, requests wait 24 hours. */
	{
		struct guard g;

		assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
		assert_string_equal(g.user_id, "");
		assert_int_equal(g.hours, CATALOG_APPROVAL_HOURS);
	}
}

/* A database failure is an error, never a renewal nor "not found". */
static void test_lease_database_failure(void **state)
{
	struct fx *f = *state;
	catalog_id id;
	int64_t until = 0;
	sqlite3 *db;
	struct err e;

	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2000, 2100, id, NULL), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE leases;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, id, 2050, 2150, &until, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_int_equal(catalog_lease_end(f->c, f->m.id, id, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2050, 2150, id, &e), -1);
	assert_int_equal(e.code, ERR_IO);
}

/* Spent nonces that expired go when a nonce is next used. */
static void test_nonces_pruned(void **state)
{
	struct fx *f = *state;
	char nonce[32];
	sqlite3 *db;
	sqlite3_stmt *st;
	int rows = -1;

	for (int i = 0; i < 100; i++) {
		snprintf(nonce, sizeof(nonce), "n%d", i);
		assert_int_equal(catalog_nonce_use(f->c, "machine:b", nonce, 1000, 1600, NULL), 0);
	}
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1603, 2203, NULL), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM nonces", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		rows = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rows, 1);
}

static const struct catalog_opener sqlite_opener = { "sqlite", catalog_open, &catalog_sqlite_ops };

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migration_of_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_database_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonces_pruned, setup, teardown),
	};

	opener = &sqlite_opener;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
