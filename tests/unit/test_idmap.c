/* test_idmap.c: the agent's hash map of 32-byte ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "idmap.h"

static struct objid id_of(uint64_t i)
{
	struct objid k;

	crypto_generichash(k.b, sizeof(k.b), (const uint8_t *)&i, sizeof(i), NULL, 0);
	return k;
}

/* Many keys: each found with its own value after the table grew many
 * times; absent keys are not found; values stay 8-byte aligned. */
static void test_put_get_grow(void **state)
{
	(void)state;
	struct idmap m;
	const size_t n = 200000;
	bool added;

	idmap_init(&m, 2 * sizeof(uint64_t));
	for (uint64_t i = 0; i < n; i++) {
		struct objid k = id_of(i);
		uint64_t *v = idmap_put(&m, &k, &added);

		assert_non_null(v);
		assert_true(added);
		assert_int_equal((uintptr_t)v % 8, 0);
		v[0] = i, v[1] = ~i;
	}
	assert_int_equal(m.n, n);
	for (uint64_t i = 0; i < n; i++) {
		struct objid k = id_of(i);
		uint64_t *v = idmap_get(&m, &k);

		assert_non_null(v);
		assert_int_equal(v[0], i);
		assert_int_equal(v[1], ~i);
		assert_non_null(idmap_put(&m, &k, &added));
		assert_false(added);
	}
	for (uint64_t i = n; i < n + 1000; i++) {
		struct objid k = id_of(i);

		assert_null(idmap_get(&m, &k));
	}
	idmap_free(&m);
}

/* Reserving room keeps what is there, and putting up to the number
 * reserved then moves nothing (the table stays where it was). */
static void test_reserve(void **state)
{
	(void)state;
	struct idmap m;
	const size_t n = 50000;
	uint8_t *slots;
	bool added;

	idmap_init(&m, sizeof(uint64_t));
	for (uint64_t i = 0; i < 10; i++) {
		struct objid k = id_of(i);

		*(uint64_t *)idmap_put(&m, &k, &added) = i;
	}
	assert_int_equal(idmap_reserve(&m, n), 0);
	assert_true(m.cap * 3 >= n * 4);
	slots = m.slots;
	for (uint64_t i = 0; i < n; i++) {
		struct objid k = id_of(i);
		uint64_t *v = idmap_put(&m, &k, &added);

		assert_non_null(v);
		assert_true(added == (i >= 10));
		if (i < 10)
			assert_int_equal(*v, i);
	}
	assert_ptr_equal(m.slots, slots);
	assert_int_equal(m.n, n);
	assert_int_equal(idmap_reserve(&m, 10), 0); /* never shrinks */
	assert_ptr_equal(m.slots, slots);
	idmap_free(&m);
}

/* A set (no values) iterates over every key exactly once. */
static void test_set_iterates_once(void **state)
{
	(void)state;
	struct idmap m, seen;
	const struct objid *k;
	size_t i = 0, count = 0;
	bool added;

	idmap_init(&m, 0);
	idmap_init(&seen, 0);
	assert_false(idmap_next(&m, &i, &k, NULL)); /* empty */
	assert_null(idmap_get(&m, &(struct objid){ { 0 } }));
	for (uint64_t x = 0; x < 5000; x++) {
		struct objid key = id_of(x % 2500); /* each key twice */

		assert_non_null(idmap_put(&m, &key, &added));
	}
	assert_int_equal(m.n, 2500);
	i = 0;
	while (idmap_next(&m, &i, &k, NULL)) {
		assert_non_null(idmap_put(&seen, k, &added));
		assert_true(added);
		count++;
	}
	assert_int_equal(count, 2500);
	idmap_free(&m);
	idmap_free(&seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_grow),
		cmocka_unit_test(test_set_iterates_once),
		cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
