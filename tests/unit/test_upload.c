/* test_upload.c: resumable uploads in progress (upload.h): pieces appended
 * only at the offset the upload holds, never past the declared length,
 * counted per machine, mapped whole once complete, forgotten on discard or
 * after a day, and two racing pieces at one offset never both landing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "upload.h"

#define ID "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111"

struct fix {
	char dir[64];
	char piece[96];
	struct uploads *u;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct err e;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_upload.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->piece, sizeof(f->piece), "%s.piece", f->dir);
	assert_non_null(f->u = uploads_open(f->dir, &e));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	uploads_close(f->u);
	unlink(f->piece);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Write LEN bytes of C as the piece file; its length. */
static uint64_t piece(struct fix *f, char c, size_t len)
{
	FILE *fp = fopen(f->piece, "w");

	assert_non_null(fp);
	for (size_t i = 0; i < len; i++)
		fputc(c, fp);
	fclose(fp);
	return len;
}

static void test_pieces_append_at_the_offset_held(void **state)
{
	struct fix *f = *state;
	uint64_t have, held;
	const uint8_t *data;
	size_t len;
	struct err e;

	/* A piece that does not start an upload creates nothing. */
	assert_int_equal(uploads_append(f->u, "m1", ID, 5, 10, f->piece, piece(f, 'a', 5), &have,
					&e), 1);
	assert_int_equal(have, 0);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 0);
	assert_int_equal(uploads_append(f->u, "m1", ID, 0, 10, f->piece, piece(f, 'a', 4), &have,
					&e), 0);
	assert_int_equal(have, 4);
	/* Sent again (the answer was lost): refused with where to resume. */
	assert_int_equal(uploads_append(f->u, "m1", ID, 0, 10, f->piece, piece(f, 'a', 4), &have,
					&e), 1);
	assert_int_equal(have, 4);
	assert_int_equal(uploads_held(f->u, "m1", &held, &e), 0);
	assert_int_equal(held, 4);
	assert_int_equal(uploads_held(f->u, "m2", &held, &e), 0);
	assert_int_equal(held, 0);
	assert_int_equal(uploads_append(f->u, "m1", ID, 4, 10, f->piece, piece(f, 'b', 6), &have,
					&e), 0);
	assert_int_equal(have, 10);
	assert_int_equal(uploads_map(f->u, "m1", ID, &data, &len, &e), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "aaaabbbbbb", 10);
	uploads_unmap(data, len);
	uploads_discard(f->u, "m1", ID);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 0);
	assert_int_equal(uploads_map(f->u, "m1", ID, &data, &len, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

static void test_pieces_past_the_length_forget_the_upload(void **state)
{
	struct fix *f = *state;
	uint64_t have;
	struct err e;

	assert_int_equal(uploads_append(f->u, "m1", ID, 0, 10, f->piece, piece(f, 'a', 8), &have,
					&e), 0);
	assert_int_equal(uploads_append(f->u, "m1", ID, 8, 10, f->piece, piece(f, 'a', 3), &have,
					&e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 0);
}

static void test_a_piece_that_cannot_be_read_changes_nothing(void **state)
{
	struct fix *f = *state;
	uint64_t have;
	struct err e;

	assert_int_equal(uploads_append(f->u, "m1", ID, 0, 10, f->piece, piece(f, 'a', 3), &have,
					&e), 0);
	/* The piece file claims more bytes than it has. */
	assert_int_equal(uploads_append(f->u, "m1", ID, 3, 10, f->piece, piece(f, 'a', 2) + 2,
					&have, &e), -1);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 3);
	unlink(f->piece);
	assert_int_equal(uploads_append(f->u, "m1", ID, 3, 10, f->piece, 2, &have, &e), -1);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 3);
}

static void test_expiry_forgets_what_nobody_touched_for_a_day(void **state)
{
	struct fix *f = *state;
	char path[160];
	struct timespec t[2] = { { time(NULL) - UPLOAD_LEASE - 60, 0 },
				 { time(NULL) - UPLOAD_LEASE - 60, 0 } };
	uint64_t have;
	struct err e;

	assert_int_equal(uploads_append(f->u, "old", ID, 0, 10, f->piece, piece(f, 'a', 3), &have,
					&e), 0);
	assert_int_equal(uploads_append(f->u, "new", ID, 0, 10, f->piece, piece(f, 'a', 3), &have,
					&e), 0);
	snprintf(path, sizeof(path), "%s/partial-old-%s", f->dir, ID);
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	assert_int_equal(uploads_expire(f->u, time(NULL), &e), 1);
	assert_int_equal(uploads_received(f->u, "old", ID, &have, &e), 0);
	assert_int_equal(have, 0);
	assert_int_equal(uploads_received(f->u, "new", ID, &have, &e), 0);
	assert_int_equal(have, 3);
}

struct racer {
	struct fix *f;
	char piece[128];
	int landed;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t have;
	struct err e;

	r->landed = uploads_append(r->f->u, "m1", ID, 4, 1000, r->piece, 100, &have, &e) == 0;
	return NULL;
}

static void test_racing_pieces_at_one_offset_land_once(void **state)
{
	struct fix *f = *state;
	struct racer r[8];
	pthread_t t[8];
	uint64_t have;
	struct err e;
	int landed = 0;

	assert_int_equal(uploads_append(f->u, "m1", ID, 0, 1000, f->piece, piece(f, 'a', 4), &have,
					&e), 0);
	for (int i = 0; i < 8; i++) {
		FILE *fp;

		r[i].f = f;
		snprintf(r[i].piece, sizeof(r[i].piece), "%s.%d", f->piece, i);
		assert_non_null(fp = fopen(r[i].piece, "w"));
		for (int k = 0; k < 100; k++)
			fputc('0' + i, fp);
		fclose(fp);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		landed += r[i].landed;
		unlink(r[i].piece);
	}
	assert_int_equal(landed, 1);
	assert_int_equal(uploads_received(f->u, "m1", ID, &have, &e), 0);
	assert_int_equal(have, 104);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pieces_append_at_the_offset_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pieces_past_the_length_forget_the_upload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_piece_that_cannot_be_read_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expiry_forgets_what_nobody_touched_for_a_day, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_racing_pieces_at_one_offset_land_once, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
