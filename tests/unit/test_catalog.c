/*
 * test_catalog.c: the catalog's conformance suite. Every backend (the
 * table OPENERS) runs through the same tests of the contract in
 * catalog.h, with time given explicitly: 14-day soft delete and purge, PIN
 * expiry and attempts, the vault and point limits, a reopened catalog
 * keeping its rows, the references the space collector marks and its
 * re-checks, doomed packs and who may read them, leases, spent nonces,
 * failure limits, every row moved to another catalog. A
 * backend's own tests (its schema, its migrations) live in a file of its
 * own: test_catalog_sqlite.c.
 */
#include "catalog_suite.h"

#include <sodium.h>

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
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
	assert_int_equal(v.machines, 1);
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
	/* One point's own references (what verify checks it by); none
	 * recorded is an error, never an empty list. */
	assert_int_equal(catalog_point_refs(f->c, f->m.id, r1.id, &live, &n, NULL), 0);
	assert_true(n == 2 && live[0].b[0] == 1 && live[1].b[0] == 2);
	free(live);
	assert_int_equal(catalog_point_refs(f->c, f->m.id, "no-such-point", &live, &n, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_true(live == NULL && n == 0);
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
	assert_int_equal(catalog_point_refs(f->c, f->m.id, r2.id, &live, &n, NULL), 0);
	assert_true(n == 1 && live[0].b[0] == 4);
	free(live);
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
	assert_int_equal(catalog_doomed_claim(f->c, a, 9000, NULL), 0);
	/* Dropped again, it is due again and the sweeper may delete it. */
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, a, mark, "local-1", "local-2", 3000, 6600,
					 NULL), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, 9000, NULL), 1);
	assert_int_equal(catalog_doomed_done(f->c, a, NULL), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, 9000, NULL), 0);
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
	assert_int_equal(catalog_doomed_claim(f->c, a, 9000, NULL), 1);
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
	assert_int_equal(catalog_doomed_claim(f->c, a, 9000, NULL), 1);
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

/* The rules are the caller's: a backend opened with other numbers enforces
 * those, in its checks and in the messages that name the limit. */
static void test_rules_come_from_above(void **state)
{
	struct fx *f = *state;
	const struct catalog_rules small = { .vaults_max = 2, .machines_max = 1, .points_max = 1,
					     .soft_delete_days = 1, .pin_seconds = 60,
					     .pin_attempts = 2, .pin_lock_seconds = 60 };
	char path[128];
	struct catalog_backend *b;
	struct catalog *c;
	struct vault v;
	catalog_id sub;
	struct err e;

	snprintf(path, sizeof(path), "%s/small.db", f->dir);
	assert_non_null(b = opener->ops->open(path, &small, NULL));
	assert_non_null(c = catalog_of(opener->ops, b, NULL));
	assert_int_equal(catalog_subscription_create(c, "s", 1000, sub, NULL), 0);
	memset(&v, 0, sizeof(v));
	strcpy(v.subscription, sub);
	strcpy(v.region, "local-1");
	strcpy(v.redundancy, "LRS");
	for (int i = 0; i < 3; i++) {
		catalog_new_id(v.id);
		snprintf(v.name, sizeof(v.name), "v%d", i);
		assert_int_equal(catalog_vault_create(c, &v, "c", "k", &e), i < 2 ? 0 : -1);
	}
	assert_int_equal(e.code, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "2"));
	catalog_close(c);
}

/* Spent nonces: once per principal until they expire, principals apart, a
 * flood of one never displacing another's, expired rows pruned, and all of
 * it kept by a reopened catalog. */
/* Issue 12, defect 7 (leases): a lease is renewed only by its machine while
 * it is valid, holds the collector off until its renewed end, and once
 * released or expired holds nothing and is not revived. */
/* A pack an operator found lost is forgotten: its objects are missing
 * (the next backup sends them again), its files are doomed in both
 * regions, and leases are listed for the operator. */
static void test_pack_forget_and_lease_list(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 0x31, 0x32 };
	char a[65], hex[OBJID_HEX_LEN + 1];
	const char *ids[1] = { hex };
	bool missing[1];
	catalog_id who, l1, l2;
	struct doomed *d;
	struct lease *ls;
	size_t n;
	struct objid id;
	struct err e;

	add_pack(f, 'f', objs, 2, a);
	memset(&id, 0, sizeof(id));
	id.b[0] = 0x31;
	objid_to_hex(&id, hex);
	assert_int_equal(catalog_objects_missing(f->c, f->m.id, ids, 1, missing, NULL), 0);
	assert_false(missing[0]);
	assert_int_equal(catalog_pack_forget(f->c, a, 7200, pair_of, NULL, NULL), 0);
	assert_int_equal(catalog_pack_owner(f->c, a, who, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_objects_missing(f->c, f->m.id, ids, 1, missing, NULL), 0);
	assert_true(missing[0]);
	assert_int_equal(catalog_doomed_due(f->c, 7200, &d, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].pack, a);
	assert_string_equal(d[0].pair, "local-2");
	free(d);
	assert_int_equal(catalog_pack_reader(f->c, a, who, &e), -1); /* lost: nobody reads it */
	assert_int_equal(catalog_pack_forget(f->c, a, 7200, pair_of, NULL, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);

	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2000, 9000, l1, NULL), 0);
	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2001, 9001, l2, NULL), 0);
	assert_int_equal(catalog_lease_list(f->c, &ls, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ls[0].id, l1);
	assert_string_equal(ls[0].machine_id, f->m.id);
	assert_true(ls[1].started == 2001 && ls[1].expires == 9001);
	free(ls);
	assert_int_equal(catalog_lease_end(f->c, f->m.id, l1, NULL), 0);
	assert_int_equal(catalog_lease_list(f->c, &ls, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ls[0].id, l2);
	free(ls);
}

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


static void test_job_kind(void **state)
{
	struct fx *f = *state;
	struct job j;
	struct err e;
	char kind[16];

	assert_int_equal(catalog_job_start(f->c, f->m.id, "verify", 1000, &j, NULL), 0);
	assert_int_equal(catalog_job_kind(f->c, f->m.id, j.id, kind, NULL), 0);
	assert_string_equal(kind, "verify");
	assert_int_equal(catalog_job_kind(f->c, "no-such-machine", j.id, kind, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_job_kind(f->c, f->m.id, "no-such-job", kind, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* An ended job keeps its kind. */
	snprintf(j.status, sizeof(j.status), "failed");
	assert_int_equal(catalog_job_end(f->c, f->m.id, &j, 1001, NULL, NULL), 0);
	assert_int_equal(catalog_job_kind(f->c, f->m.id, j.id, kind, NULL), 0);
	assert_string_equal(kind, "verify");
}

static void test_nonces(void **state)
{
	struct fx *f = *state;
	struct err e;
	char nonce[32];

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
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1599, 2199, &e), -1);
	/* Expired, it may be used again, and the expired rows are gone. */
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1603, 2203, &e), 0);
	assert_int_equal(catalog_nonce_use(f->c, "machine:a", "n1", 1604, 2204, &e), -1);
}

/* What vault_ca_keys_rewrite's callback does in the tests: rewrites keys
 * that do not start with "sealed:" (as the service seals plain PEM keys),
 * and fails at the vault whose id is FAIL_AT. */
struct rewrite {
	const char *fail_at;
	int calls;
};

static int rewrite_key(void *arg, const char *vault_id, const char *key, char **repl,
		       struct err *e)
{
	struct rewrite *r = arg;
	char text[256];

	r->calls++;
	if (r->fail_at && strcmp(vault_id, r->fail_at) == 0)
		return err_set(e, ERR_CRYPTO, "refused at %s", vault_id);
	if (strncmp(key, "sealed:", 7) == 0)
		return 0;
	snprintf(text, sizeof(text), "sealed:%s:%s", vault_id, key);
	if ((*repl = strdup(text)) == NULL)
		return err_oom(e);
	return 0;
}

/* Every vault's CA key is offered, of every subscription; replaced keys
 * are stored, kept ones are not touched; a failure changes nothing. */
static void test_vault_ca_keys_rewrite(void **state)
{
	struct fx *f = *state;
	struct vault v = f->v;
	catalog_id other;
	struct rewrite r = { NULL, 0 };
	char *cert, *key, want[256];
	size_t n = 99;
	struct err e;

	assert_int_equal(catalog_subscription_create(f->c, "t", 1000, other, NULL), 0);
	catalog_new_id(v.id);
	strcpy(v.subscription, other);
	strcpy(v.name, "vault-b");
	assert_int_equal(catalog_vault_create(f->c, &v, "cert-b", "sealed:already", NULL), 0);
	/* A failing callback: nothing changes, whichever vault it fails at. */
	r.fail_at = strcmp(v.id, f->v.id) > 0 ? v.id : f->v.id; /* the later one */
	assert_int_equal(catalog_vault_ca_keys_rewrite(f->c, rewrite_key, &r, &n, &e), -1);
	assert_int_equal(e.code, ERR_CRYPTO);
	assert_int_equal(n, 0);
	assert_int_equal(catalog_vault_ca(f->c, f->v.id, &cert, &key, NULL), 0);
	assert_string_equal(key, "key");
	free(cert), free(key);
	/* Rewritten: the plain one only. */
	r.fail_at = NULL;
	r.calls = 0;
	assert_int_equal(catalog_vault_ca_keys_rewrite(f->c, rewrite_key, &r, &n, &e), 0);
	assert_int_equal(r.calls, 2);
	assert_int_equal(n, 1);
	assert_int_equal(catalog_vault_ca(f->c, f->v.id, &cert, &key, NULL), 0);
	snprintf(want, sizeof(want), "sealed:%s:key", f->v.id);
	assert_string_equal(key, want);
	assert_string_equal(cert, "cert");
	free(cert), free(key);
	assert_int_equal(catalog_vault_ca(f->c, v.id, &cert, &key, NULL), 0);
	assert_string_equal(key, "sealed:already");
	free(cert), free(key);
	/* Again: nothing left to rewrite. */
	assert_int_equal(catalog_vault_ca_keys_rewrite(f->c, rewrite_key, &r, &n, &e), 0);
	assert_int_equal(n, 0);
}

/* Roles, invitations (single use, expiring), the last owner kept, disabled
 * and removed users with their sessions and tokens. */
static void test_users_and_roles(void **state)
{
	struct fx *f = *state;
	struct user_change ch = { 0 };
	struct principal p, q;
	struct api_token *t = NULL;
	struct user *u = NULL;
	char hash[64];
	catalog_id tok;
	size_t n = 0;
	struct err e;

	assert_int_equal(catalog_user_create(f->c, f->sub, "alice", "ahash", 1000, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "alice", hash, sizeof(hash), &p, NULL), 0);
	assert_string_equal(p.role, CATALOG_OWNER);
	assert_string_equal(p.user_id, p.actor);
	assert_false(p.disabled);
	/* An invitation: a user without a password, a code that sets it once. */
	assert_int_equal(catalog_user_invite(f->c, f->sub, "bob", "reader", "code1", 2000, 1000, NULL), 0);
	assert_int_equal(catalog_user_invite(f->c, f->sub, "bob", "reader", "code2", 2000, 1000, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, NULL), 0);
	assert_string_equal(hash, "");
	assert_string_equal(q.role, "reader");
	assert_int_equal(catalog_user_accept(f->c, "bob", "wrong", "bhash", 1500, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_user_accept(f->c, "bob", "code1", "bhash", 2000, &e), -1);
	assert_int_equal(e.code, ERR_DENIED); /* expired */
	assert_int_equal(catalog_user_accept(f->c, "bob", "code1", "bhash", 1999, NULL), 0);
	assert_int_equal(catalog_user_accept(f->c, "bob", "code1", "other", 1999, &e), -1);
	assert_int_equal(e.code, ERR_DENIED); /* used */
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, NULL), 0);
	assert_string_equal(hash, "bhash");
	assert_int_equal(catalog_user_list(f->c, f->sub, &u, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(u[0].name, "alice");
	assert_string_equal(u[1].name, "bob");
	assert_string_equal(u[1].role, "reader");
	assert_int_equal(u[1].invite_expires, 0);
	free(u);

	/* Who may touch an owner, and the last owner kept. */
	ch.what = USER_ROLE, ch.role = "backup-operator";
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	ch.role = CATALOG_OWNER;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	ch.what = USER_DISABLE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	ch.may_touch_owner = true;
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	ch.what = USER_ROLE, ch.role = "reader";
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	ch.what = USER_REMOVE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_user_change(f->c, f->sub, "nobody", &ch, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);

	/* A token keeps its role and maker; a disabled maker stops it and
	 * its sessions; a removed one takes its tokens along. */
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, NULL), 0);
	assert_int_equal(catalog_session_create(f->c, "bobsess", q.user_id, 5000, NULL), 0);
	strcpy(q.role, "reader");
	assert_int_equal(catalog_token_create(f->c, &q, "bobtok", "bobtokhash", 1000, tok, NULL), 0);
	assert_int_equal(catalog_token_list(f->c, f->sub, &t, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].role, "reader");
	assert_string_equal(t[0].maker, "bob");
	free(t);
	assert_int_equal(catalog_authenticate(f->c, "bobtokhash", 1000, &q, NULL), 0);
	assert_true(q.is_token);
	assert_string_equal(q.role, "reader");
	assert_string_equal(q.maker_role, "backup-operator");
	assert_int_equal(catalog_authenticate(f->c, "bobsess", 1000, &q, NULL), 0);
	assert_string_equal(q.role, "backup-operator");
	ch.what = USER_DISABLE, ch.may_touch_owner = false;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	assert_int_equal(catalog_authenticate(f->c, "bobtokhash", 1000, &q, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_authenticate(f->c, "bobsess", 1000, &q, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, NULL), 0);
	assert_true(q.disabled);
	ch.what = USER_ENABLE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	assert_int_equal(catalog_authenticate(f->c, "bobtokhash", 1000, &q, NULL), 0);
	assert_int_equal(catalog_authenticate(f->c, "bobsess", 1000, &q, &e), -1); /* ended */
	/* A second owner: now the first may go. */
	ch.what = USER_ROLE, ch.role = CATALOG_OWNER, ch.may_touch_owner = true;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	ch.what = USER_ROLE, ch.role = "reader";
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, NULL), 0);
	ch.role = CATALOG_OWNER;
	assert_int_equal(catalog_user_change(f->c, f->sub, "alice", &ch, NULL), 0);
	/* A reset: no password, a new code. */
	ch.what = USER_RESET, ch.code_hash = "code3", ch.expires = 3000;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, NULL), 0);
	assert_string_equal(hash, "");
	assert_int_equal(catalog_user_accept(f->c, "bob", "code3", "bhash2", 2500, NULL), 0);
	ch.what = USER_REMOVE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "bob", &ch, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "bob", hash, sizeof(hash), &q, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_token_list(f->c, f->sub, &t, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(catalog_authenticate(f->c, "bobtokhash", 1000, &q, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	/* An owner-made token before roles (no maker) is an owner's. */
	memset(&q, 0, sizeof(q));
	strcpy(q.subscription, f->sub);
	assert_int_equal(catalog_token_create(f->c, &q, "old", "oldhash", 1000, tok, NULL), 0);
	assert_int_equal(catalog_authenticate(f->c, "oldhash", 1000, &q, NULL), 0);
	assert_string_equal(q.role, CATALOG_OWNER);
	assert_string_equal(q.maker_role, CATALOG_OWNER);
}

/* A second factor: pending, confirmed, each step used once, required by
 * the subscription, cleared. */
static void test_totp_steps(void **state)
{
	struct fx *f = *state;
	char secret[CATALOG_TOTP_LEN], pending[CATALOG_TOTP_LEN], hash[64];
	struct principal p;
	int64_t last;
	struct err e;

	assert_int_equal(catalog_user_create(f->c, f->sub, "alice", "ahash", 1000, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "alice", hash, sizeof(hash), &p, NULL), 0);
	assert_false(p.totp);
	assert_int_equal(catalog_totp_get(f->c, p.user_id, secret, pending, &last, NULL), 0);
	assert_string_equal(secret, "");
	assert_int_equal(last, -1);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_CONFIRM, NULL, 10, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_USE, NULL, 10, &e), -1);
	assert_int_equal(e.code, ERR_DENIED); /* no factor, nothing to use */
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_PENDING, "sec", 0, NULL), 0);
	assert_int_equal(catalog_totp_get(f->c, p.user_id, secret, pending, &last, NULL), 0);
	assert_string_equal(secret, "");
	assert_string_equal(pending, "sec");
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_CONFIRM, NULL, 10, NULL), 0);
	assert_int_equal(catalog_totp_get(f->c, p.user_id, secret, pending, &last, NULL), 0);
	assert_string_equal(secret, "sec");
	assert_string_equal(pending, "");
	assert_int_equal(last, 10);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_USE, NULL, 10, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_USE, NULL, 9, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_USE, NULL, 11, NULL), 0);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_USE, NULL, 11, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_subscription_require_totp(f->c, f->sub, true, NULL), 0);
	assert_int_equal(catalog_session_create(f->c, "sess", p.user_id, 5000, NULL), 0);
	assert_int_equal(catalog_authenticate(f->c, "sess", 1000, &p, NULL), 0);
	assert_true(p.totp);
	assert_true(p.totp_required);
	assert_int_equal(catalog_totp_set(f->c, p.user_id, TOTP_CLEAR, NULL, 0, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "alice", hash, sizeof(hash), &p, NULL), 0);
	assert_false(p.totp);
	assert_true(p.totp_required);
	assert_int_equal(catalog_subscription_require_totp(f->c, f->sub, false, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "alice", hash, sizeof(hash), &p, NULL), 0);
	assert_false(p.totp_required);
	assert_int_equal(catalog_totp_set(f->c, "nobody", TOTP_CLEAR, NULL, 0, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_totp_get(f->c, "nobody", secret, pending, &last, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_subscription_require_totp(f->c, "nosub", true, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

/* A keep function for policy_set: every point kept until *ARG. */
static int keep_until(void *arg, const int64_t *created, size_t n, int64_t now, int64_t *until,
		      struct err *e)
{
	(void)created, (void)now, (void)e;
	for (size_t i = 0; i < n; i++)
		until[i] = *(const int64_t *)arg;
	return 0;
}

static void test_immutability_states(void **state)
{
	struct fx *f = *state;
	struct vault v, before;
	struct err e;

	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
	assert_int_equal(v.immutability, IMMUT_MUTABLE);
	/* Immutable, and back: allowed while not locked. */
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_IMMUTABLE,
							&before, NULL), 0);
	assert_int_equal(before.immutability, IMMUT_MUTABLE);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_MUTABLE,
							NULL, NULL), 0);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_LOCKED,
							NULL, NULL), 0);
	/* Locked: never mutable nor merely immutable again. */
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_MUTABLE,
							&before, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, "never"));
	assert_int_equal(before.immutability, IMMUT_LOCKED);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_IMMUTABLE,
							NULL, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_LOCKED,
							NULL, NULL), 0);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", 7, NULL, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "nope", IMMUT_LOCKED, NULL,
							&e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* The state survives a reopen. */
	catalog_close(f->c);
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-a", &v, NULL), 0);
	assert_int_equal(v.immutability, IMMUT_LOCKED);
	assert_int_equal(catalog_immutability_parse("locked", NULL), IMMUT_LOCKED);
	assert_int_equal(catalog_immutability_parse("LOCKED", &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

static void test_immutable_point_delete(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp, got, *list;
	const int64_t t = 10 * DAY;
	const char *ids[1];
	int64_t until[1];
	size_t n;
	struct err e;

	commit_point(f, t, &rp);
	assert_int_equal(rp.retain_until, 0);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_IMMUTABLE,
							NULL, NULL), 0);
	/* Not evaluated yet: kept. */
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, t + 1, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, "vault-a is immutable"));
	/* Raised to day 17; a lower time never lowers it. */
	ids[0] = rp.id;
	until[0] = 17 * DAY;
	assert_int_equal(catalog_point_retain(f->c, f->m.id, ids, until, 1, NULL), 0);
	until[0] = 12 * DAY;
	assert_int_equal(catalog_point_retain(f->c, f->m.id, ids, until, 1, NULL), 0);
	assert_int_equal(catalog_point_get(f->c, f->m.id, rp.id, &got, NULL), 0);
	assert_int_equal(got.retain_until, 17 * DAY);
	assert_int_equal(catalog_point_list(f->c, f->m.id, false, &list, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].retain_until, 17 * DAY);
	free(list);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, 17 * DAY - 1, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, "retained until 1970-01-18; it can be deleted after that"));
	/* The machine goes neither. */
	assert_int_equal(catalog_machine_delete(f->c, f->v.id, "m1", 17 * DAY - 1, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, rp.id));
	/* Nor does its policy shorten: a new one that keeps the point until
	 * day 16 is refused, one that keeps it until day 20 stored. */
	{
		int64_t short_ = 16 * DAY, long_ = 20 * DAY;

		assert_int_equal(catalog_policy_set(f->c, f->m.id, NULL, "{\"a\":1}", t + 2, NULL,
						    keep_until, &short_, &e), -1);
		assert_int_equal(e.code, ERR_LOCKED);
		assert_non_null(strstr(e.msg, "extended, not reduced"));
		assert_int_equal(catalog_policy_set(f->c, f->m.id, NULL, "{\"a\":1}", t + 2, NULL,
						    NULL, NULL, &e), -1);
		assert_int_equal(e.code, ERR_LOCKED);
		assert_int_equal(catalog_policy_set(f->c, f->m.id, NULL, "{\"a\":1}", t + 2, NULL,
						    keep_until, &long_, NULL), 0);
	}
	/* Once the time has passed, deleting works as in a mutable vault. */
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, 17 * DAY, NULL), 0);
	/* A mutable vault ignores the times. */
	commit_point(f, t + 5, &rp);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_MUTABLE,
							NULL, NULL), 0);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, t + 6, NULL), 0);
}

static void test_immutable_purge_and_forget(void **state)
{
	struct fx *f = *state;
	struct recovery_point rp;
	const char *ids[1];
	int64_t until[1], pts, ms;
	const int64_t t = 10 * DAY;
	char pack[65];
	struct err e;

	/* Deleted while the vault was mutable, retained until day 40. */
	commit_point(f, t, &rp);
	ids[0] = rp.id;
	until[0] = 40 * DAY;
	assert_int_equal(catalog_point_retain(f->c, f->m.id, ids, until, 1, NULL), 0);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, rp.id, t, NULL), 0);
	assert_int_equal(catalog_machine_delete(f->c, f->v.id, "m1", t, NULL), 0);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_LOCKED,
							NULL, NULL), 0);
	/* Past 14 days but before day 40: neither the point nor the machine
	 * is purged; a later purge takes both. */
	assert_int_equal(catalog_purge(f->c, 30 * DAY, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 0 && ms == 0);
	memset(pack, 'c', 64);
	pack[64] = 0;
	assert_int_equal(catalog_pack_forget(f->c, pack, 39 * DAY, NULL, NULL, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_purge(f->c, 40 * DAY + 1, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 1 && ms == 1);
}

/* A point deleted while the vault was mutable, before retention ever gave
 * it a time, keeps its 14 days in a vault locked since: retention never
 * evaluates a deleted point, so holding it would hold it for ever. A live
 * point with no time holds its machine. */
static void test_immutable_unevaluated(void **state)
{
	struct fx *f = *state;
	struct recovery_point a, b;
	int64_t pts, ms;
	struct err e;

	commit_point(f, 10 * DAY, &a);
	commit_point(f, 10 * DAY + 1, &b);
	assert_int_equal(catalog_point_delete(f->c, f->m.id, a.id, 10 * DAY, NULL), 0);
	assert_int_equal(catalog_vault_set_immutability(f->c, f->sub, "vault-a", IMMUT_LOCKED,
							NULL, NULL), 0);
	assert_int_equal(catalog_machine_delete(f->c, f->v.id, "m1", 11 * DAY, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_non_null(strstr(e.msg, b.id));
	assert_non_null(strstr(e.msg, "until retention sets"));
	assert_int_equal(catalog_purge(f->c, 25 * DAY, 0, NULL, NULL, &pts, &ms, NULL), 0);
	assert_true(pts == 1 && ms == 0);
}

/* Failure limits: BURST failures, then one more every REFILL seconds;
 * keys apart; kept across a reopen (every service of the catalog sees
 * them); a key that refilled needs no row; bad keys refused. */
static void test_failure_limits(void **state)
{
	struct fx *f = *state;
	struct err e;
	int wait = -1;

	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1000, &wait, &e), 0);
	assert_int_equal(wait, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1000, &wait, &e), 0);
		assert_int_equal(wait, 0);
		assert_int_equal(catalog_limit_fail(f->c, "signin-peer:a", 3, 60, 1000, &e), 0);
	}
	/* The fourth try waits a refill; another key is its own. */
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1000, &wait, &e), 0);
	assert_int_equal(wait, 60);
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:b", 3, 60, 1000, &wait, &e), 0);
	assert_int_equal(wait, 0);
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1030, &wait, &e), 0);
	assert_int_equal(wait, 30);
	/* Another service (a reopened catalog) sees the same. */
	catalog_close(f->c);
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1030, &wait, &e), 0);
	assert_int_equal(wait, 30);
	/* A refill later one try; failing it again waits a whole refill. */
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1060, &wait, &e), 0);
	assert_int_equal(wait, 0);
	assert_int_equal(catalog_limit_fail(f->c, "signin-peer:a", 3, 60, 1060, &e), 0);
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 1060, &wait, &e), 0);
	assert_int_equal(wait, 60);
	/* Long after, the whole burst again. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 9000, &wait, &e), 0);
		assert_int_equal(wait, 0);
		assert_int_equal(catalog_limit_fail(f->c, "signin-peer:a", 3, 60, 9000, &e), 0);
	}
	assert_int_equal(catalog_limit_wait(f->c, "signin-peer:a", 3, 60, 9000, &wait, &e), 0);
	assert_int_equal(wait, 60);
	/* A burst of one marks a key for REFILL seconds. */
	assert_int_equal(catalog_limit_fail(f->c, "known:x", 1, 86400, 9000, &e), 0);
	assert_int_equal(catalog_limit_wait(f->c, "known:x", 1, 86400, 9001, &wait, &e), 0);
	assert_int_equal(wait, 86399);
	/* Bad keys and limits are the caller's error, never an answer. */
	char big[CATALOG_LIMIT_KEY_MAX + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	wait = 7;
	assert_int_equal(catalog_limit_wait(f->c, big, 3, 60, 9000, &wait, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(wait, 0);
	assert_int_equal(catalog_limit_fail(f->c, "", 3, 60, 9000, &e), -1);
	assert_int_equal(catalog_limit_fail(f->c, "k", 0, 60, 9000, &e), -1);
	assert_int_equal(catalog_limit_fail(f->c, "k", 3, 0, 9000, &e), -1);
}

/* The collector's marks between services: an upload's hold keeps the
 * sweeper off a pack, a claimed pack keeps uploads waiting until its files
 * are gone (or the claim's time ran out), and a duty has one holder at a
 * time. */
static void test_holds_claims_and_duties(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 9, 10 };
	struct objid *live;
	size_t n;
	int64_t mark;
	char a[65];
	struct err e;

	add_pack(f, 'h', objs, 2, a);
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, NULL), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, a, mark, "local-1", "", 2000, 2000, NULL),
			 0);
	/* Held by an upload (of another service): not claimed. */
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-1", 3000, 3600, &e), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, 3000, &e), 0);
	assert_int_equal(catalog_pack_unhold(f->c, a, "upload-1", &e), 0);
	/* A hold that ran out holds nothing. */
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-2", 3000, 3010, &e), 0);
	assert_int_equal(catalog_doomed_claim(f->c, a, 3011, &e), 1);
	/* Claimed: an upload of the pack waits (ERR_LOCKED) until the files
	 * are gone, or the claim's time ran out. */
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-3", 3012, 4000, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-3", 3011 + CATALOG_SWEEP_SECONDS + 1,
					   9000, &e), 0);
	assert_int_equal(catalog_pack_unhold(f->c, a, "upload-3", &e), 0);
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-4", 3013, 4000, &e), -1);
	assert_int_equal(catalog_doomed_done(f->c, a, &e), 0);
	assert_int_equal(catalog_pack_hold(f->c, a, "upload-4", 3014, 4000, &e), 0);
	assert_int_equal(catalog_pack_unhold(f->c, a, "upload-4", &e), 0);
	/* Duties: one holder at a time; it keeps it by taking it again; its
	 * time running out frees it; a reopened catalog (another service)
	 * sees the same. */
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-a", 1000, 1100, &e), 1);
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-b", 1050, 1150, &e), 0);
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-a", 1090, 1190, &e), 1);
	catalog_close(f->c);
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-b", 1150, 1250, &e), 0);
	assert_int_equal(catalog_duty_take(f->c, "other-duty", "svc-b", 1150, 1250, &e), 1);
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-b", 1190, 1290, &e), 1);
	assert_int_equal(catalog_duty_take(f->c, "collector", "svc-a", 1200, 1300, &e), 0);
}

/* The GRS replication queue: a row written with its pack, taken when due
 * in the order enqueued, failures counted and put off, the lag of a vault,
 * rows that survive a reopen (another service), and rows that go when the
 * collector dooms their pack. */
static void add_replica(struct fx *f, char pack_ch, uint8_t first, int64_t t, char *pack)
{
	struct pack_entry ent;
	struct replica r;

	memset(&ent, 0, sizeof(ent));
	ent.id.b[0] = first;
	ent.kind = 1, ent.offset = 16, ent.length = 100;
	memset(pack, pack_ch, 64);
	pack[64] = 0;
	memset(&r, 0, sizeof(r));
	strcpy(r.vault_id, f->v.id);
	strcpy(r.from, "local-1");
	strcpy(r.to, "local-2");
	assert_int_equal(catalog_pack_add_replica(f->c, f->m.id, pack, 1000, &ent, 1, t, &r, NULL),
			 0);
}

static void test_replication_queue(void **state)
{
	struct fx *f = *state;
	char q[65], p[65], x[65];
	struct replica *rs;
	struct replica_lag lag;
	struct objid *live;
	catalog_id owner;
	int64_t mark;
	size_t n;
	struct err e;

	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 0);
	assert_int_equal(lag.oldest, 0);
	add_replica(f, 'q', 21, 1000, q);
	add_replica(f, 'p', 22, 1010, p);
	/* The pack is recorded with its row, in one transaction. */
	assert_int_equal(catalog_pack_owner(f->c, q, owner, &e), 0);
	assert_string_equal(owner, f->m.id);
	/* Due: only what was enqueued by now, oldest first. */
	assert_int_equal(catalog_replica_list(f->c, NULL, 1005, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].pack, q);
	assert_string_equal(rs[0].vault_id, f->v.id);
	assert_string_equal(rs[0].from, "local-1");
	assert_string_equal(rs[0].to, "local-2");
	assert_int_equal(rs[0].size, 1000);
	assert_int_equal(rs[0].enqueued, 1000);
	assert_int_equal(rs[0].attempts, 0);
	assert_string_equal(rs[0].error, "");
	free(rs);
	assert_int_equal(catalog_replica_list(f->c, f->v.id, 2000, 1, &rs, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].pack, q);
	free(rs);
	assert_int_equal(catalog_replica_list(f->c, "no-such-vault", 2000, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 2);
	assert_int_equal(lag.bytes, 2000);
	assert_int_equal(lag.oldest, 1000);
	assert_string_equal(lag.error, "");
	/* A failure: counted, put off, told. */
	assert_int_equal(catalog_replica_fail(f->c, q, 1500, "the pair's store is full", &e), 0);
	assert_int_equal(catalog_replica_list(f->c, NULL, 1200, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].pack, p);
	free(rs);
	assert_int_equal(catalog_replica_list(f->c, NULL, 1500, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rs[0].pack, q);
	assert_int_equal(rs[0].attempts, 1);
	assert_int_equal(rs[0].next_try, 1500);
	assert_string_equal(rs[0].error, "the pair's store is full");
	free(rs);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_string_equal(lag.error, "the pair's store is full");
	assert_int_equal(lag.attempts, 1);
	memset(x, 'z', 64);
	x[64] = 0;
	assert_int_equal(catalog_replica_fail(f->c, x, 1500, "nope", &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* The pack sent again keeps its row as it is. */
	add_replica(f, 'q', 21, 1100, q);
	assert_int_equal(catalog_replica_list(f->c, NULL, 1500, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rs[0].attempts, 1);
	assert_int_equal(rs[0].enqueued, 1000);
	free(rs);
	/* Done: the row goes; done again is fine. */
	assert_int_equal(catalog_replica_done(f->c, q, &e), 0);
	assert_int_equal(catalog_replica_done(f->c, q, &e), 0);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 1);
	assert_int_equal(lag.oldest, 1010);
	assert_string_equal(lag.error, "");
	/* Durable: another service (a reopened catalog) sees the queue. */
	catalog_close(f->c);
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_replica_list(f->c, NULL, 2000, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].pack, p);
	free(rs);
	/* The collector drops the pack: its row goes in that transaction, so
	 * no late copy brings it back in the pair (the doom covers both). */
	assert_int_equal(catalog_refs_mark(f->c, f->m.id, &live, &n, &mark, &e), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(f->c, f->m.id, p, mark, "local-1", "local-2", 3000, 6600,
					 &e), 0);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 0);
	assert_int_equal(catalog_replica_list(f->c, NULL, 9000, 0, &rs, &n, &e), 0);
	assert_int_equal(n, 0);
	/* Sent again, it is queued again (and no longer doomed). */
	add_replica(f, 'p', 22, 3100, p);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 1);
	assert_int_equal(lag.oldest, 3100);
	assert_int_equal(catalog_doomed_claim(f->c, p, 9000, &e), 0);
	/* Forgotten by an operator: doomed, unqueued. */
	assert_int_equal(catalog_pack_forget(f->c, p, 9000, pair_of, NULL, &e), 0);
	assert_int_equal(catalog_replica_lag(f->c, f->v.id, &lag, &e), 0);
	assert_int_equal(lag.packs, 0);
}

/* ---- every row, moved to another catalog (arcad migrate) ---- */

/* An order-free digest of a table's rows: the sum of each row's hash. */
struct rows_digest {
	uint64_t sum[2];
	int64_t rows;
};

static int digest_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	struct rows_digest *d = arg;
	crypto_generichash_state h;
	uint64_t out[2];

	(void)e;
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	for (size_t i = 0; i < n; i++) {
		uint8_t t = (uint8_t)v[i].type;
		uint64_t len = v[i].len;

		crypto_generichash_update(&h, &t, 1);
		if (v[i].type == CATALOG_VINT)
			crypto_generichash_update(&h, (const uint8_t *)&v[i].i, sizeof(v[i].i));
		else if (v[i].type != CATALOG_VNULL) {
			crypto_generichash_update(&h, (const uint8_t *)&len, sizeof(len));
			crypto_generichash_update(&h, v[i].p, v[i].len);
		}
	}
	crypto_generichash_final(&h, (uint8_t *)out, sizeof(out));
	d->sum[0] += out[0];
	d->sum[1] += out[1];
	d->rows++;
	return 0;
}

/* Every table of A has the same columns and rows in B, and B no other
 * table; the number of rows. */
static int64_t assert_same_rows(struct catalog *a, struct catalog *b)
{
	struct catalog_table *ta = NULL, *tb = NULL;
	size_t na = 0, nb = 0;
	int64_t rows = 0;
	struct err e;

	assert_int_equal(catalog_tables(a, &ta, &na, &e), 0);
	assert_int_equal(catalog_tables(b, &tb, &nb, &e), 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		struct rows_digest da = { { 0, 0 }, 0 }, db = { { 0, 0 }, 0 };
		size_t j = 0;

		while (j < nb && strcmp(ta[i].name, tb[j].name) != 0)
			j++;
		if (j == nb || ta[i].ncols != tb[j].ncols)
			print_error("table %s: %zu columns, and %zu in the other catalog\n",
				    ta[i].name, ta[i].ncols, j < nb ? tb[j].ncols : 0);
		assert_true(j < nb);
		assert_int_equal(ta[i].ncols, tb[j].ncols);
		for (size_t k = 0; k < ta[i].ncols; k++)
			assert_string_equal(ta[i].cols[k], tb[j].cols[k]);
		assert_int_equal(catalog_rows_read(a, ta[i].name, digest_row, &da, &e), 0);
		assert_int_equal(catalog_rows_read(b, ta[i].name, digest_row, &db, &e), 0);
		assert_int_equal(da.rows, db.rows);
		assert_true(da.sum[0] == db.sum[0] && da.sum[1] == db.sum[1]);
		rows += da.rows;
	}
	catalog_tables_free(ta, na);
	catalog_tables_free(tb, nb);
	return rows;
}

struct copy_put {
	struct catalog_sink *k;
	const char *table;
	int64_t rows, fail_after; /* fail_after: -1 never */
};

static int copy_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	struct copy_put *p = arg;

	if (p->fail_after >= 0 && p->rows == p->fail_after)
		return err_set(e, ERR_IO, "a failure on purpose");
	p->rows++;
	return p->k->put(p->k, p->table, v, n, e);
}

struct copy {
	struct catalog *from;
	int64_t fail_after;
};

/* rows_write's FILL: every table of the source, in the destination's
 * order (its tables, which are the source's). */
static int copy_fill(void *arg, struct catalog_sink *k, struct err *e)
{
	struct copy *c = arg;
	struct catalog_table *t = NULL;
	size_t n = 0;
	struct copy_put p = { k, NULL, 0, c->fail_after };
	int rc = 0;

	if (catalog_tables(c->from, &t, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		p.table = t[i].name;
		rc = catalog_rows_read(c->from, t[i].name, copy_row, &p, e);
	}
	catalog_tables_free(t, n);
	return rc;
}

/* A catalog with a bit of everything: users, a token, points, audit,
 * alerts, a policy, a job. */
static void fill_everything(struct fx *f)
{
	struct recovery_point rp;
	struct principal p;
	struct job j;
	catalog_id tok;

	commit_point(f, 2000, &rp);
	assert_int_equal(catalog_user_create(f->c, f->sub, "alice", "hash-a", 1000, NULL), 0);
	memset(&p, 0, sizeof(p));
	strcpy(p.subscription, f->sub);
	strcpy(p.role, "owner");
	assert_int_equal(catalog_token_create(f->c, &p, "tok", "th", 1000, tok, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(catalog_audit(f->c, f->sub, 1000 + i, "alice", "act", "tgt",
					       i ? "detail" : NULL, NULL), 0);
	assert_int_equal(catalog_alert(f->c, f->sub, 1000, "kind", "tgt", "msg", NULL), 0);
	assert_int_equal(catalog_policy_set(f->c, f->m.id, NULL, "{\"a\":1}", 1000, NULL, NULL,
					    NULL, NULL), 0);
	assert_int_equal(catalog_job_start(f->c, f->m.id, "backup", 1000, &j, NULL), 0);
}

/* Every row moves to a new catalog of the same backend exactly; the
 * counters go on past the rows copied; a catalog that holds rows, and a
 * copy that fails half-way, are refused whole. */
static void test_rows_copy(void **state)
{
	struct fx *f = *state;
	char path[128], path2[128];
	struct catalog *d, *d2;
	struct copy c = { f->c, -1 };
	struct audit_entry *a = NULL;
	struct catalog_table *t = NULL;
	size_t n = 0;
	catalog_id first;
	uint8_t *blob = NULL;
	size_t blen = 0;
	struct err e;

	fill_everything(f);
	snprintf(path, sizeof(path), "%s/copy.db", f->dir);
	snprintf(path2, sizeof(path2), "%s/copy2.db", f->dir);
	d = opener->open(path, &e);
	assert_non_null(d);
	assert_int_equal(catalog_rows_write(d, copy_fill, &c, &e), 0);
	assert_true(assert_same_rows(f->c, d) > 10);
	/* What the copy holds works as the source did. */
	assert_int_equal(catalog_subscription_first(d, first, &e), 0);
	assert_string_equal(first, f->sub);
	assert_int_equal(catalog_machine_wrapped_key(d, f->m.id, &blob, &blen, &e), 0);
	assert_int_equal(blen, KEYS_WRAPPED_LEN);
	free(blob);
	assert_int_equal(catalog_audit(d, f->sub, 5000, "bob", "act", "tgt", NULL, &e), 0);
	assert_int_equal(catalog_audit_list(d, f->sub, 10, &a, &n, &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(a[0].actor, "bob");
	assert_true(a[0].id > a[1].id);
	free(a);
	/* Not into a catalog that holds rows. */
	assert_int_equal(catalog_rows_write(d, copy_fill, &c, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	assert_non_null(strstr(e.msg, "not empty"));
	/* A copy that fails half-way leaves nothing. */
	d2 = opener->open(path2, &e);
	assert_non_null(d2);
	c.fail_after = 5;
	assert_int_equal(catalog_rows_write(d2, copy_fill, &c, &e), -1);
	assert_int_equal(catalog_tables(d2, &t, &n, &e), 0);
	for (size_t i = 0; i < n; i++) {
		struct rows_digest dg = { { 0, 0 }, 0 };

		assert_int_equal(catalog_rows_read(d2, t[i].name, digest_row, &dg, &e), 0);
		assert_int_equal(dg.rows, 0);
	}
	catalog_tables_free(t, n);
	assert_int_equal(catalog_rows_read(d2, "no_such_table", digest_row, NULL, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	catalog_close(d2);
	catalog_close(d);
}

/* catalog_tables_order, which the backends' tables use: parents first,
 * a self-reference or a reference to a table not listed ignored, a cycle
 * refused. */
static const char *const (*order_edges)[2];

static const char *order_ref(void *arg, const char *table, size_t i)
{
	(void)arg;
	for (size_t k = 0; order_edges[k][0]; k++)
		if (strcmp(order_edges[k][0], table) == 0 && i-- == 0)
			return order_edges[k][1];
	return NULL;
}

static void test_tables_order(void **state)
{
	static const char *const edges[][2] = {
		{ "a", "b" }, { "b", "c" }, { "a", "c" }, { "c", "c" }, { "d", "elsewhere" },
		{ NULL, NULL },
	};
	static const char *const cycle[][2] = { { "a", "b" }, { "b", "a" }, { NULL, NULL } };
	struct catalog_table t[4];
	struct err e;

	(void)state;
	memset(t, 0, sizeof(t));
	strcpy(t[0].name, "a"), strcpy(t[1].name, "b"), strcpy(t[2].name, "c");
	strcpy(t[3].name, "d");
	order_edges = edges;
	assert_int_equal(catalog_tables_order(t, 4, order_ref, NULL, &e), 0);
	assert_string_equal(t[0].name, "c");
	assert_string_equal(t[1].name, "b");
	assert_string_equal(t[2].name, "a");
	assert_string_equal(t[3].name, "d");
	order_edges = cycle;
	assert_int_equal(catalog_tables_order(t, 4, order_ref, NULL, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
}

/* Multi-user approval: the first guard is named at once and only then;
 * a request is decided once, by the guard of that moment, never by its
 * requester; an expired one expires once; an approved guard.change
 * changes the guard in the same transaction; the guard cannot be changed
 * around it. */
static void test_approvals(void **state)
{
	struct fx *f = *state;
	struct user_change ch = { .what = USER_RESET, .code_hash = "c", .expires = 9000,
				  .may_touch_owner = true };
	struct approval a, b, *l = NULL;
	struct principal owner, g1, g2;
	struct guard g;
	char hash[64], args[128];
	size_t n = 0;
	struct err e;

	assert_int_equal(catalog_user_create(f->c, f->sub, "alice", "ahash", 1000, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "alice", hash, sizeof(hash), &owner, NULL), 0);
	assert_int_equal(catalog_user_invite(f->c, f->sub, "gina", "security-admin", "c1", 5000, 1000,
					     NULL), 0);
	assert_int_equal(catalog_user_invite(f->c, f->sub, "gus", "reader", "c2", 5000, 1000, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.user_id, "");
	assert_int_equal(g.hours, CATALOG_APPROVAL_HOURS);
	/* Not a guard: no password yet, then a reader, then nobody. */
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", 0, false, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(catalog_user_accept(f->c, "gina", "c1", "ghash", 1001, NULL), 0);
	assert_int_equal(catalog_user_accept(f->c, "gus", "c2", "uhash", 1001, NULL), 0);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gus", 0, false, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "nobody", 0, false, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", CATALOG_APPROVAL_HOURS_MAX + 1, false, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	/* No guard: nothing waits. */
	memset(&a, 0, sizeof(a));
	catalog_new_id(a.id);
	strcpy(a.subscription, f->sub);
	strcpy(a.operation, "point.delete");
	strcpy(a.summary, "delete a point");
	strcpy(a.args, "{}");
	strcpy(a.requester, owner.user_id);
	strcpy(a.requested_by, "alice");
	a.created = 1000, a.expires = 1000 + 3600;
	assert_int_equal(catalog_approval_create(f->c, &a, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", 2, false, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.name, "gina");
	assert_int_equal(g.hours, 2);
	assert_int_equal(catalog_user_find(f->c, "gina", hash, sizeof(hash), &g1, NULL), 0);
	assert_string_equal(g.user_id, g1.user_id);
	/* Named once; a change is a request. */
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", 0, false, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_guard_set(f->c, f->sub, NULL, 3, false, NULL), 0);
	/* The guard cannot be reset, demoted or removed. */
	assert_int_equal(catalog_user_change(f->c, f->sub, "gina", &ch, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	ch.what = USER_REMOVE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "gina", &ch, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_approval_create(f->c, &a, NULL), 0);
	assert_int_equal(catalog_approval_create(f->c, &a, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	/* Only the guard decides; never its requester. */
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, owner.user_id, "alice", true,
						 1100, &b, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, "0123", g1.user_id, "gina", true, 1100,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_approval_decide(f->c, "othersub", a.id, g1.user_id, "gina", true,
						 1100, &b, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 1100,
						 &b, NULL), 0);
	assert_string_equal(b.state, "approved");
	assert_string_equal(b.decided_by, "gina");
	assert_int_equal(b.decided, 1100);
	assert_string_equal(b.args, "{}");
	/* Once. */
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", false, 1101,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_approval_result(f->c, a.id, "done", NULL), 0);
	/* The guard's own request is not theirs to decide. */
	catalog_new_id(a.id);
	strcpy(a.requester, g1.user_id);
	a.created = 1050; /* the list's order below is by time */
	assert_int_equal(catalog_approval_create(f->c, &a, NULL), 0);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 1100,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	/* Past its expiry: expired once, then decided already. */
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 4600,
						 &b, NULL), 0);
	assert_string_equal(b.state, "expired");
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 4601,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_approval_result(f->c, a.id, "done", &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	/* The list: newest first, expired shown so, the requester's own. */
	catalog_new_id(a.id);
	strcpy(a.requester, owner.user_id);
	a.created = 1200;
	assert_int_equal(catalog_approval_create(f->c, &a, NULL), 0);
	assert_int_equal(catalog_approval_list(f->c, f->sub, NULL, 1300, &l, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(l[0].id, a.id);
	assert_string_equal(l[0].state, "pending");
	assert_string_equal(l[1].state, "expired");
	free(l);
	assert_int_equal(catalog_approval_list(f->c, f->sub, NULL, 4800, &l, &n, NULL), 0);
	assert_string_equal(l[0].state, "expired"); /* shown so, not decided */
	free(l);
	assert_int_equal(catalog_approval_list(f->c, f->sub, g1.user_id, 1300, &l, &n, NULL), 0);
	assert_int_equal(n, 1);
	free(l);
	/* guard.change: approved, the guard changes in the same transaction,
	 * to a user who must still be a security admin. */
	assert_int_equal(catalog_user_invite(f->c, f->sub, "hal", "security-admin", "c3", 5000, 1000,
					     NULL), 0);
	assert_int_equal(catalog_user_accept(f->c, "hal", "c3", "hhash", 1001, NULL), 0);
	assert_int_equal(catalog_user_find(f->c, "hal", hash, sizeof(hash), &g2, NULL), 0);
	catalog_new_id(a.id);
	strcpy(a.operation, "guard.change");
	snprintf(args, sizeof(args), "{\"guard\":\"%s\"}", g2.user_id);
	strcpy(a.args, args);
	assert_int_equal(catalog_approval_create(f->c, &a, NULL), 0);
	ch.what = USER_ROLE, ch.role = "reader";
	assert_int_equal(catalog_user_change(f->c, f->sub, "hal", &ch, NULL), 0);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 1300,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.name, "gina"); /* rolled back: still pending */
	ch.role = "security-admin";
	assert_int_equal(catalog_user_change(f->c, f->sub, "hal", &ch, NULL), 0);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 1300,
						 &b, NULL), 0);
	assert_string_equal(b.result, "done");
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.name, "hal");
	/* gina is no longer the guard: she decides nothing, and can change. */
	catalog_new_id(a.id);
	strcpy(a.operation, "guard.change");
	strcpy(a.args, "{\"guard\":\"\"}");
	assert_int_equal(catalog_approval_create(f->c, &a, NULL), 0);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g1.user_id, "gina", true, 1300,
						 &b, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(catalog_approval_decide(f->c, f->sub, a.id, g2.user_id, "hal", true, 1300,
						 &b, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.user_id, "");
	/* The host's admin replaces the guard, or clears it, whoever it is. */
	assert_int_equal(catalog_guard_set(f->c, f->sub, "hal", 0, false, NULL), 0);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", 0, false, &e), -1);
	assert_int_equal(e.code, ERR_LOCKED);
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gina", 0, true, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.name, "gina");
	assert_int_equal(catalog_guard_set(f->c, f->sub, "gus", 0, true, &e), -1);
	assert_int_equal(e.code, ERR_INVALID); /* still only a security admin */
	assert_int_equal(catalog_guard_set(f->c, f->sub, NULL, 0, true, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, f->sub, &g, NULL), 0);
	assert_string_equal(g.user_id, "");
	ch.what = USER_REMOVE;
	assert_int_equal(catalog_user_change(f->c, f->sub, "gina", &ch, NULL), 0);
	assert_int_equal(catalog_guard_get(f->c, "nosub", &g, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

/* Run the conformance suite on each of the N backends of LIST; the number
 * of tests that failed. (test_catalog_pg.c runs it on PostgreSQL, with a
 * server it starts for the purpose.) */
__attribute__((unused)) static int run_conformance(const struct catalog_opener *list, size_t count)
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
		cmocka_unit_test_setup_teardown(test_vault_ca_keys_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_come_from_above, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_mark_and_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holds_claims_and_duties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replication_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_sent_again_is_not_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_pack_readable_until_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purged_machine_packs_are_doomed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_renew_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_forget_and_lease_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_and_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totp_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutability_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutable_point_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutable_purge_and_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutable_unevaluated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_copy, setup, teardown),
		cmocka_unit_test(test_tables_order),
		cmocka_unit_test_setup_teardown(test_approvals, setup, teardown),
	};
	int failed = 0;

	for (size_t i = 0; i < count; i++) {
		opener = &list[i];
		failed += cmocka_run_group_tests_name(opener->name, tests, NULL, NULL);
	}
	return failed;
}

#ifndef CATALOG_CONFORMANCE_NO_MAIN
/* Every backend of the catalog that needs no server, opened the way arcad
 * opens it. */
static const struct catalog_opener openers[] = {
	{ "sqlite", catalog_open, &catalog_sqlite_ops },
};

int main(void)
{
	return run_conformance(openers, sizeof(openers) / sizeof(openers[0]));
}
#endif
