/* test_ratelimit.c: sign-in failure limits: a burst, a refill, keys apart,
 * and a full table that forgets the least useful key, never grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog.h"
#include "ratelimit.h"

static void test_burst_then_refill(void **state)
{
	struct ratelimit *rl = ratelimit_new(8, 3, 30, NULL);

	(void)state;
	assert_non_null(rl);
	assert_int_equal(ratelimit_wait(rl, "a", 1000), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_wait(rl, "a", 1000), 0);
		ratelimit_fail(rl, "a", 1000);
	}
	/* Empty: the next token comes 30 seconds after the failures. */
	assert_int_equal(ratelimit_wait(rl, "a", 1000), 30);
	assert_int_equal(ratelimit_wait(rl, "a", 1010), 20);
	assert_int_equal(ratelimit_wait(rl, "a", 1029), 1);
	assert_int_equal(ratelimit_wait(rl, "a", 1030), 0);
	/* One token came back: one more failure empties the bucket again. */
	ratelimit_fail(rl, "a", 1030);
	assert_true(ratelimit_wait(rl, "a", 1030) > 0);
	/* After long enough, the whole burst is back. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_wait(rl, "a", 5000), 0);
		ratelimit_fail(rl, "a", 5000);
	}
	assert_true(ratelimit_wait(rl, "a", 5000) > 0);
	ratelimit_free(rl);
}

static void test_keys_are_apart(void **state)
{
	struct ratelimit *rl = ratelimit_new(8, 1, 60, NULL);

	(void)state;
	ratelimit_fail(rl, "peer:127.0.0.1", 100);
	assert_true(ratelimit_wait(rl, "peer:127.0.0.1", 100) > 0);
	assert_int_equal(ratelimit_wait(rl, "peer:127.0.0.2", 100), 0);
	assert_int_equal(ratelimit_wait(rl, "peer:127.0.0.10", 100), 0);
	ratelimit_free(rl);
}

static void test_full_table_reuses_a_slot(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 2, 60, NULL);
	char key[32];

	(void)state;
	/* "victim" is empty; then many one-failure keys fill the table. The
	 * slot reused is the fullest one, so the empty bucket stays. */
	ratelimit_fail(rl, "victim", 100);
	ratelimit_fail(rl, "victim", 100);
	assert_true(ratelimit_wait(rl, "victim", 100) > 0);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "flood-%d", i);
		ratelimit_fail(rl, key, 100);
	}
	assert_true(ratelimit_wait(rl, "victim", 100) > 0);
	ratelimit_free(rl);
}

static void test_bad_arguments(void **state)
{
	struct err e;

	(void)state;
	assert_null(ratelimit_new(0, 1, 1, &e));
	assert_int_equal(e.code, ERR_INVALID);
	assert_null(ratelimit_new(1, 0, 1, &e));
	assert_null(ratelimit_new(1, 1, 0, &e));
	ratelimit_free(NULL);
}

/* A burst of one token with a long refill marks a key for that long: what
 * the portal keeps of the addresses a user signed in from. */
static void test_one_token_marks_a_key(void **state)
{
	const int month = 30 * 86400;
	struct ratelimit *rl = ratelimit_new(8, 1, month, NULL);

	(void)state;
	assert_non_null(rl);
	assert_int_equal(ratelimit_wait(rl, "127.0.0.1|owner", 1000), 0);
	ratelimit_fail(rl, "127.0.0.1|owner", 1000);
	assert_int_equal(ratelimit_wait(rl, "127.0.0.1|owner", 1000), month);
	assert_true(ratelimit_wait(rl, "127.0.0.1|owner", 1000 + month - 1) > 0);
	assert_int_equal(ratelimit_wait(rl, "127.0.0.2|owner", 1000), 0);
	assert_int_equal(ratelimit_wait(rl, "127.0.0.1|owner", 1000 + month), 0);
	ratelimit_free(rl);
}

/* Shared limiters: two services on one catalog (two handles on the same
 * file) count the same failures; their kinds are apart; a catalog that
 * cannot answer is an error, never "may try". */
static void test_shared_between_services(void **state)
{
	(void)state;
	char dir[] = "/tmp/arca-ratelimit-XXXXXX", path[64];
	struct catalog *c1, *c2;
	struct ratelimit *a, *b, *other;
	struct err e;
	int wait = -1;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/catalog.db", dir);
	assert_non_null(c1 = catalog_open(path, &e));
	assert_non_null(c2 = catalog_open(path, &e));
	assert_non_null(a = ratelimit_shared(c1, "signin-peer", 3, 60, &e));
	assert_non_null(b = ratelimit_shared(c2, "signin-peer", 3, 60, &e));
	assert_non_null(other = ratelimit_shared(c2, "register-peer", 3, 60, &e));
	/* Two failures at one service, one at the other: the fourth try waits
	 * at both. */
	assert_int_equal(ratelimit_record(a, "10.0.0.1", 1000, &e), 0);
	assert_int_equal(ratelimit_record(a, "10.0.0.1", 1000, &e), 0);
	assert_int_equal(ratelimit_check(b, "10.0.0.1", 1000, &wait, &e), 0);
	assert_int_equal(wait, 0);
	assert_int_equal(ratelimit_record(b, "10.0.0.1", 1000, &e), 0);
	assert_int_equal(ratelimit_check(a, "10.0.0.1", 1000, &wait, &e), 0);
	assert_int_equal(wait, 60);
	assert_int_equal(ratelimit_check(b, "10.0.0.1", 1010, &wait, &e), 0);
	assert_int_equal(wait, 50);
	assert_int_equal(ratelimit_check(other, "10.0.0.1", 1000, &wait, &e), 0);
	assert_int_equal(wait, 0);
	/* A catalog whose table is gone answers with an error. */
	catalog_close(c1);
	ratelimit_free(a);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "DROP TABLE limits", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	wait = 5;
	assert_int_equal(ratelimit_check(b, "10.0.0.1", 1000, &wait, &e), -1);
	assert_int_equal(ratelimit_record(b, "10.0.0.1", 1000, &e), -1);
	assert_true(e.code == ERR_IO);
	ratelimit_free(b);
	ratelimit_free(other);
	catalog_close(c2);
	assert_null(ratelimit_shared(NULL, "k", 3, 60, &e));
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_keys_are_apart),
		cmocka_unit_test(test_full_table_reuses_a_slot),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_one_token_marks_a_key),
		cmocka_unit_test(test_shared_between_services),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
