/* test_secfile.c: the checks of files and folders that hold secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secfile.h"

struct fx {
	char dir[40], file[64];
};

static int setup(void **state)
{
	static struct fx f;
	FILE *fp;

	strcpy(f.dir, "/tmp/arca-secfile-XXXXXX");
	if (mkdtemp(f.dir) == NULL)
		return -1;
	snprintf(f.file, sizeof(f.file), "%s/master.key", f.dir);
	if ((fp = fopen(f.file, "w")) == NULL)
		return -1;
	fputs("secret", fp);
	fclose(fp);
	chmod(f.file, 0600);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char link[80];

	snprintf(link, sizeof(link), "%s/link", f->dir);
	unlink(link);
	unlink(f->file);
	chmod(f->dir, 0700);
	rmdir(f->dir);
	return 0;
}

static void test_file_modes(void **state)
{
	struct fx *f = *state;
	static const mode_t ok[] = { 0600, 0400, 0700, 0200 };
	static const mode_t bad[] = { 0644, 0640, 0604, 0660, 0606, 0610, 0601, 0666, 0777 };
	char want[96];
	struct err e;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(chmod(f->file, ok[i]), 0);
		assert_int_equal(secfile_check(f->file, &e), 0);
	}
	snprintf(want, sizeof(want), "run `chmod 600 %s`", f->file);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(f->file, bad[i]), 0);
		err_clear(&e);
		assert_int_equal(secfile_check(f->file, &e), -1);
		assert_int_equal(e.code, ERR_DENIED);
		assert_non_null(strstr(e.msg, f->file));
		assert_non_null(strstr(e.msg, want));
	}
	assert_int_equal(chmod(f->file, 0644), 0);
	secfile_check(f->file, &e);
	assert_non_null(strstr(e.msg, "mode 0644"));
	assert_non_null(strstr(e.msg, "read"));
}

static void test_file_owner_kind_and_missing(void **state)
{
	struct fx *f = *state;
	char path[80];
	struct err e;

	if (geteuid() == 0) {
		assert_int_equal(chown(f->file, 65534, 65534), 0);
		assert_int_equal(secfile_check(f->file, &e), -1);
		assert_int_equal(e.code, ERR_DENIED);
		assert_non_null(strstr(e.msg, "belongs to user 65534"));
		assert_non_null(strstr(e.msg, "chown 0"));
		assert_int_equal(chown(f->file, 0, 0), 0);
	}
	snprintf(path, sizeof(path), "%s/link", f->dir);
	assert_int_equal(symlink(f->file, path), 0);
	assert_int_equal(secfile_check(path, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_int_equal(secfile_check(f->dir, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "not a regular file"));
	snprintf(path, sizeof(path), "%s/none", f->dir);
	assert_int_equal(secfile_check(path, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

static void test_folder(void **state)
{
	struct fx *f = *state;
	struct err e;

	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(secfile_check_dir(f->dir, &e), 0);
	assert_int_equal(chmod(f->dir, 0755), 0); /* readable is fine: the files are not */
	assert_int_equal(secfile_check_dir(f->dir, &e), 0);
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(secfile_check_dir(f->dir, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_non_null(strstr(e.msg, "chmod 700"));
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(secfile_check_dir(f->dir, &e), -1);
	assert_int_equal(chmod(f->dir, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		assert_int_equal(secfile_check_dir(f->dir, &e), -1);
		assert_int_equal(e.code, ERR_DENIED);
		assert_non_null(strstr(e.msg, "belongs to user 65534"));
		assert_int_equal(chown(f->dir, 0, 0), 0);
	}
	assert_int_equal(secfile_check_dir(f->file, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(secfile_check_dir("/nonexistent-arca-folder", &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_owner_kind_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
