/* test_catalog.c: the SQLite catalog's rules, with time given explicitly:
 * 14-day soft delete and purge, PIN expiry, the vault and point limits, and
 * that a reopened catalog keeps its schema and rows; the references the
 * space collector marks, and their migration from schema 8; spent nonces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "catalog.h"
#include "keys.h"
#include "pack.h"

#define DAY 86400

struct fx {
	char dir[64], path[96];
	struct catalog *c;
	catalog_id sub;
	struct vault v;
	struct machine m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct registration r;
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	bool again;

	strcpy(f->dir, "/tmp/arca-catalog-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	f->c = catalog_open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_subscription_create(f->c, "s", 1000, f->sub, NULL), 0);
	catalog_new_id(f->v.id);
	strcpy(f->v.subscription, f->sub);
	strcpy(f->v.name, "vault-a");
	strcpy(f->v.region, "local-1");
	strcpy(f->v.redundancy, "GRS");
	assert_int_equal(catalog_vault_create(f->c, &f->v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(f->c, f->v.id, "01", "fp1", "cert", 1000, 1000 + 2 * DAY, NULL), 0);
	memset(&r, 0, sizeof(r));
	r.vault_id = f->v.id, r.credential_fingerprint = "fp1", r.name = "m1";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = 1000;
	assert_int_equal(catalog_machine_register(f->c, &r, &f->m, &again, NULL), 0);
	assert_false(again);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	catalog_close(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Store one pack with one object and commit a point on it at T. */
static void commit_point(struct fx *f, int64_t t, struct recovery_point *rp)
{
	struct pack_entry ent;
	char hex[OBJID_HEX_LEN + 1], pack[65];
	const char *ids[1] = { hex };

	memset(&ent, 0, sizeof(ent));
	ent.id.b[0] = 0xab;
	ent.kind = 1, ent.offset = 16, ent.length = 100;
	objid_to_hex(&ent.id, hex);
	memset(pack, 'c', 64);
	pack[64] = 0;
	assert_int_equal(catalog_pack_add(f->c, f->m.id, pack, 1000, &ent, 1, t, NULL), 0);
	assert_int_equal(catalog_point_commit(f->c, f->m.id, hex, NULL, ids, 1, t, rp, NULL), 0);
	assert_true(rp->created == t);
}

static void test_point_soft_delete_and_purge(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp, *list;
	size_t n;
	int64_t pts, ms;
	const int64_t t = 2000;

	commit_point(f, t, &rp);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, t, NULL), 0);
	assert_int_equal(catalog_point_list(f->c, f->m.id, false, &list, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(list);
	/* A day short of 14: nothing goes. */
	assert_int_equal(catalog_purge(f->c, t + 14 * DAY - 1, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 0 && ms == 0);
	assert_int_equal(catalog_point_list(f->c, f->m.id, true, &list, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_true(list[0].deleted == t);
	free(list);
	/* Past 14 days it is purged, and cannot be undeleted any more. */
	assert_int_equal(catalog_purge(f->c, t + 14 * DAY + 1, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 1 && ms == 0);
	assert_int_equal(catalog_point_list(f->c, f->m.id, true, &list, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(catalog_point_undelete(f->c, f->m.id, rp.id, NULL), -1);
}

static void test_undelete_within_window(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp;
	int64_t pts, ms;
	struct err e;

	commit_point(f, 3000, &rp);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, 3000, NULL), 0);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, 3001, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_purge(f->c, 3000 + 13 * DAY, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_int_equal(catalog_point_undelete(f->c, f->m.id, rp.id, NULL), 0);
	assert_int_equal(catalog_purge(f->c, 3000 + 30 * DAY, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 0); /* live again: never purged */
}

static void test_machine_soft_delete_and_purge(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp;
	struct vault v;
	struct machine m;
	char *pub;
	int64_t pts, ms;
	struct err e;

	commit_point(f, 5000, &rp);
	assert_int_equal(catalog_machine_delete(f->c, f->v.id, "m1", 6000, NULL), 0);
	assert_int_equal(catalog_machine_get(f->c, f->m.id, &m, &pub, &e), -1); /* cannot sign in */
	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
	assert_int_equal(v.machines, 0);
	assert_true(v.locked); /* redundancy stays locked */
	assert_int_equal(catalog_vault_delete(f->c, f->sub, "vault-a", &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_purge(f->c, 6000 + 14 * DAY + 1, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(ms == 1);
	assert_int_equal(catalog_machine_by_name(f->c, f->v.id, "m1", &m, &e), -1);
	assert_int_equal(catalog_vault_delete(f->c, f->sub, "vault-a", NULL), 0);
}

static void test_pin_expiry(void **state)
{
	struct fx *f = *state;
	struct err e;

	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "h1", 10000, 10000 + CATALOG_PIN_SECONDS, NULL), 0);
	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "h1", 10000, 10000 + CATALOG_PIN_SECONDS, NULL), 0);
	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "h3", 10000, 10000 + CATALOG_PIN_SECONDS, NULL), 0);
	/* Each PIN is used once; only by its user (or, USER_ID NULL, a machine). */
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "h1", 10000, NULL), 0);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u2", "u2", "h1", 10000, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_pin_use(f->c, f->sub, NULL, "machine:m", "h1", 10000 + CATALOG_PIN_SECONDS - 1,
					 NULL), 0);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "h1", 10000, &e), -1);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u3", "h2", 10000, &e), -1);
	assert_int_equal(catalog_pin_use(f->c, "other", "u1", "u3", "h3", 10000, &e), -1);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u3", "h3", 10000 + CATALOG_PIN_SECONDS, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "5 minutes"));
}

static void test_pin_attempts(void **state)
{
	struct fx *f = *state;
	struct err e;
	int64_t t = 20000;

	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "good", t, t + CATALOG_PIN_SECONDS, NULL), 0);
	/* Failures in another window do not add up. */
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "bad", t - CATALOG_PIN_LOCK_SECONDS, &e), -1);
	for (int i = 0; i < CATALOG_PIN_ATTEMPTS - 1; i++)
		assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "bad", t, &e), -1);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "bad", t, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "refused for 15 minutes"));
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "good", t + 1, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "new", t + 1, t + 1 + CATALOG_PIN_SECONDS, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	/* After the lock the old PIN stays void; a new one works. */
	t += CATALOG_PIN_LOCK_SECONDS;
	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "new", t, t + CATALOG_PIN_SECONDS, NULL), 0);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "good", t, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_pin_use(f->c, f->sub, "u1", "u1", "new", t, NULL), 0);
}

static void test_point_limit_366(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp;
	struct err e;
	char hex[OBJID_HEX_LEN + 1];
	const char *ids[1] = { hex };

	commit_point(f, 7000, &rp);
	strcpy(hex, rp.meta);
	for (int i = 1; i < CATALOG_POINTS_MAX; i++)
		assert_int_equal(catalog_point_commit(f->c, f->m.id, hex, NULL, ids, 1, 7000 + i, &rp,
						      NULL), 0);
	assert_int_equal(catalog_point_commit(f->c, f->m.id, hex, NULL, ids, 1, 9000, &rp, &e), -1);
	assert_int_equal(e.code, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "366"));
	/* Deleting one makes room; undeleting it would exceed the limit again. */
	{
		struct recovery_point *list;
		size_t n;

		assert_int_equal(catalog_point_list(f->c, f->m.id, false, &list, &n, NULL), 0);
		assert_int_equal(n, 366);
		assert_int_equal(catalog_point_delete(f->c, f->m.id, list[0].id, 9001, NULL), 0);
		assert_int_equal(catalog_point_commit(f->c, f->m.id, hex, NULL, ids, 1, 9002, &rp, NULL), 0);
		assert_int_equal(catalog_point_undelete(f->c, f->m.id, list[0].id, &e), -1);
		assert_int_equal(e.code, ERR_LIMIT);
		free(list);
	}
}

static void test_reopen_keeps_everything(void **state)
{
	struct fx *f = *state;
	struct vault v;

	catalog_close(f->c);
	f->c = catalog_open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
	assert_int_equal(v.machines, 1);
}

/* Store pack PACK_CH (its id 64 times that letter) holding objects with
 * first bytes FIRST[0..N). */
static void add_pack(struct fx *f, char pack_ch, const uint8_t *first, size_t n, char *pack)
{
	struct pack_entry ents[8];

	memset(ents, 0, sizeof(ents));
	for (size_t i = 0; i < n; i++) {
		ents[i].id.b[0] = first[i];
		ents[i].kind = 1, ents[i].offset = 16 + 100 * i, ents[i].length = 100;
	}
	memset(pack, pack_ch, 64);
	pack[64] = 0;
	assert_int_equal(catalog_pack_add(f->c, f->m.id, pack, 1000, ents, n, 1000, NULL), 0);
}

/* Commit a point referencing the objects with first bytes FIRST[0..N). */
static void commit_refs(struct fx *f, const uint8_t *first, size_t n, int64_t t,
			struct recovery_point *rp)
{
	char hex[8][OBJID_HEX_LEN + 1];
	const char *ids[8];

	for (size_t i = 0; i < n; i++) {
		struct objid id;

		memset(&id, 0, sizeof(id));
		id.b[0] = first[i];
		objid_to_hex(&id, hex[i]);
		ids[i] = hex[i];
	}
	assert_int_equal(catalog_point_commit(f->c, f->m.id, "m", NULL, ids, n, t, rp, NULL), 0);
}

/* The collector's mark: the union of every point's references; a pack
 * dead at the mark is refused when a point committed since references it,
 * and dropped once no point does. */
static void test_refs_mark_and_recheck(void **state)
{
	struct fx *f = *state;
	const uint8_t a_objs[] = { 1, 2, 3 }, b_objs[] = { 4 }, p1[] = { 2, 1, 2 }, p2[] = { 4 };
	char a[65], b[65];
	struct recovery_point r1, r2;
	struct objid *live;
	struct pack_obj *objs;
	size_t n;
	int64_t mark, mark2, pts, ms;
	struct err e;

	add_pack(f, 'a', a_objs, 3, a);
	add_pack(f, 'b', b_objs, 1, b);
	commit_refs(f, p1, 3, 2000, &r1);
	assert_int_equal(r1.objects, 2); /* duplicates count once */
	assert_int_equal(r1.bytes, 200);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 2);
	assert_true(live[0].b[0] == 1 && live[1].b[0] == 2);
	free(live);
	assert_int_equal(catalog_pack_objects(f->c, f->m.id, a, &objs, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_true(objs[2].id.b[0] == 3 && objs[2].length == 100);
	free(objs);
	/* Pack b is dead at the mark; a point committed since revives it. */
	commit_refs(f, p2, 1, 2001, &r2);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, b, mark, "local-1", "", 2002, 9000, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark2, NULL), 0);
	assert_true(mark2 > mark && n == 3);
	free(live);
	/* Soft-deleted points still count; purged ones do not. */
	assert_int_equal(catalog_point_delete(f->c, f->m.id, r2.id, 2003, NULL), 0);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 3);
	free(live);
	assert_int_equal(catalog_purge(f->c, 2003 + 15 * DAY, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_int_equal(pts, 1);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 2);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, b, mark, "local-1", "", 2004, 9000, NULL), 0);
	assert_int_equal(catalog_pack_objects(f->c, f->m.id, b, &objs, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(objs);
}

/* Issue 12, defect 7b: a pack sent again while its file waits for deletion
 * is recorded again, and recording it cancels the deletion in the same
 * transaction: the sweeper must not delete the file of a pack the catalog
 * lists. */
static void test_pack_sent_again_is_not_swept(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 7, 8 };
	char a[65];
	struct objid *live;
	struct doomed *d;
	size_t n;
	int64_t mark;

	add_pack(f, 'd', objs, 2, a);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, a, mark, "local-1", "local-2", 2000, 5600,
					 NULL), 0);
	assert_int_equal(catalog_doomed_due(f->c, 9000, &d, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].pack, a);
	assert_string_equal(d[0].pair, "local-2");
	free(d);
	/* The agent sends it again (its index still listed it). */
	add_pack(f, 'd', objs, 2, a);
	assert_int_equal(catalog_doomed_due(f->c, 9000, &d, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(d);
	/* A sweeper that listed it before keeps its file. */
	assert_int_equal(catalog_doomed_claim(f->c, a, NULL), 0);
	/* Dropped again, it is due again and the sweeper may delete it. */
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, a, mark, "local-1", "local-2", 3000, 6600,
					 NULL), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, NULL), 1);
	assert_int_equal(catalog_doomed_done(f->c, a, NULL), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, NULL), 0);
}

/* Issue 12, defect 3: a pack the collector drops stays readable by its
 * machine until its file is deleted (a restore may have located an object
 * there a moment before), and is no longer "stored" for uploads. */
static void test_dropped_pack_readable_until_swept(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 9 };
	char a[65];
	catalog_id who;
	struct objid *live;
	size_t n;
	int64_t mark;
	struct err e;

	add_pack(f, 'r', objs, 1, a);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, a, mark, "local-1", "", 2000, 5600, NULL), 0);
	assert_int_equal(catalog_pack_owner(f->c, a, who, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_pack_reader(f->c, a, who, NULL), 0);
	assert_string_equal(who, f->m.id);
	assert_int_equal(catalog_doomed_claim(f->c, a, NULL), 1);
	assert_int_equal(catalog_doomed_done(f->c, a, NULL), 0);
	assert_int_equal(catalog_pack_reader(f->c, a, who, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

static const char *pair_of(void *arg, const char *region)
{
	(void)arg;
	return strcmp(region, "local-1") == 0 ? "local-2" : NULL;
}

/* Issue 12, defect 4: purging a machine dooms its packs' files in both
 * regions of its GRS vault, through the same queue as the collector's, and
 * nobody reads them meanwhile. */
static void test_purged_machine_packs_are_doomed(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 4, 5 };
	char a[65];
	catalog_id who;
	struct doomed *d;
	size_t n;
	int64_t pts, ms;
	struct err e;

	add_pack(f, 'p', objs, 2, a);
	assert_int_equal(catalog_machine_delete(f->c, f->v.id, "m1", 6000, NULL), 0);
	assert_int_equal(catalog_purge(f->c, 6000 + 14 * DAY - 1, 0, pair_of, NULL, &pts, &ms, NULL), 0);
	assert_int_equal(catalog_doomed_due(f->c, 9 * 1000000000LL, &d, &n, NULL), 0);
	assert_int_equal(n, 0); /* still restorable: nothing doomed */
	free(d);
	assert_int_equal(catalog_purge(f->c, 6000 + 14 * DAY + 1, 6000 + 14 * DAY + 3601, pair_of,
				       NULL, &pts, &ms, NULL), 0);
	assert_true(ms == 1);
	assert_int_equal(catalog_doomed_due(f->c, 6000 + 14 * DAY + 3600, &d, &n, NULL), 0);
	assert_int_equal(n, 0); /* not before the grace period ends */
	free(d);
	assert_int_equal(catalog_doomed_due(f->c, 6000 + 14 * DAY + 3601, &d, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].pack, a);
	assert_string_equal(d[0].region, "local-1");
	assert_string_equal(d[0].pair, "local-2");
	free(d);
	assert_int_equal(catalog_pack_reader(f->c, a, who, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_doomed_claim(f->c, a, NULL), 1);
}

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
	char sql[1024];

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
		 "PRAGMA user_version=8;",
		 rp.id, 0, rp.id, 0);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	f->c = catalog_open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	assert_int_equal(n, 2);
	assert_true(live[0].b[0] == 5 && live[1].b[0] == 7 && live[1].b[31] == 0);
	free(live);
}

static void test_vault_limit(void **state)
{
	struct fx *f = *state;
	struct vault v = f->v;
	struct err e;

	for (int i = 1; i < CATALOG_VAULTS_MAX; i++) {
		catalog_new_id(v.id);
		snprintf(v.name, sizeof(v.name), "v%d", i);
		assert_int_equal(catalog_vault_create(f->c, &v, "c", "k", NULL), 0);
	}
	catalog_new_id(v.id);
	strcpy(v.name, "one-too-many");
	assert_int_equal(catalog_vault_create(f->c, &v, "c", "k", &e), -1);
	assert_int_equal(e.code, ERR_LIMIT);
	strcpy(v.name, "v3");
	assert_int_equal(catalog_vault_create(f->c, &v, "c", "k", &e), -1);
}

/* Spent nonces: once per principal until they expire, principals apart, a
 * flood of one never displacing another's, expired rows pruned, and all of
 * it kept by a reopened catalog. */
/* Issue 12, defect 7 (leases): a lease is renewed only by its machine while
 * it is valid, holds the collector off until its renewed end, and once
 * released or expired holds nothing and is not revived. */
static void test_lease_renew_and_release(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 9 };
	char pack[65];
	catalog_id id, other_id, lone;
	struct machine other;
	struct registration r;
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	int64_t until = 0, mark;
	struct objid *live;
	size_t n;
	bool again;
	struct err e;

	memset(&r, 0, sizeof(r));
	r.vault_id = f->v.id, r.credential_fingerprint = "fp1", r.name = "m2";
	r.public_key_pem = "pub2", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "01", r.now = 1000;
	assert_int_equal(catalog_machine_register(f->c, &r, &other, &again, NULL), 0);
	add_pack(f, 'd', objs, 1, pack);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	free(live);

	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2000, 2100, id, NULL), 0);
	/* Renewed at 2090 to 2190: at 2150, past its first end, it still holds. */
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, id, 2090, 2190, &until, NULL), 0);
	assert_true(until == 2190);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, pack, mark, "local-1", "", 2150, 9000, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	/* A renewal never shortens it. */
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, id, 2100, 2150, &until, NULL), 0);
	assert_true(until == 2190);
	/* Another machine's lease and an unknown one are not found, and the
	 * other machine changed nothing. */
	assert_int_equal(catalog_lease_renew(f->c, other.id, id, 2100, 9000, &until, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_lease_end(f->c, other.id, id, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, "nope", 2100, 9000, &until, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* Expired at 2190: not revived, and the collector goes on. */
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, id, 2190, 2290, &until, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, "expired"));
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, pack, mark, "local-1", "", 2190, 9000, NULL), 0);

	/* Released, a lease holds nothing, and is gone for renewal too. */
	add_pack(f, 'e', objs, 1, pack);
	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 3000, 3100, other_id, NULL), 0);
	assert_int_equal(catalog_lease_end(f->c, f->m.id, other_id, NULL), 0);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, pack, mark, "local-1", "", 3001, 9000, NULL), 0);
	assert_int_equal(catalog_lease_renew(f->c, f->m.id, other_id, 3002, 3200, &until, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_lease_end(f->c, f->m.id, other_id, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* An expired lease can still be released (it held nothing anyway). */
	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 4000, 4010, lone, NULL), 0);
	assert_int_equal(catalog_lease_end(f->c, f->m.id, lone, NULL), 0);
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

static void test_nonces(void **state)
{
	struct fx *f = *state;
	struct err e;
	char nonce[32];
	sqlite3 *db;
	sqlite3_stmt *st;
	int rows = -1;

	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1000, 1600, &e), 0);
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1001, 1601, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "replay"));
	/* Another principal's nonce of the same text is its own. */
	assert_int_equal(catalog_nonce_use(f->c, "machine:b", "n1", 1001, 1601, &e), 0);
	assert_int_equal(catalog_nonce_use(f->c, "register:v", "n1", 1001, 1601, &e), 0);
	/* A flood from b leaves a's nonce spent. */
	for (int i = 0; i < 5000; i++) {
		snprintf(nonce, sizeof(nonce), "flood-%d", i);
		assert_int_equal(catalog_nonce_use(f->c, "machine:b", nonce, 1002, 1602, &e), 0);
	}
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1003, 1603, &e), -1);
	/* A reopened catalog still knows it. */
	catalog_close(f->c);
	f->c = catalog_open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1599, 2199, &e), -1);
	/* Expired, it may be used again, and the expired rows are gone. */
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1603, 2203, &e), 0);
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1604, 2204, &e), -1);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM nonces", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		rows = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rows, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_point_soft_delete_and_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undelete_within_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_soft_delete_and_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_point_limit_366, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_mark_and_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_of_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_sent_again_is_not_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_pack_readable_until_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purged_machine_packs_are_doomed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_renew_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_database_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
