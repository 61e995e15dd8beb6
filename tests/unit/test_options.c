/*
 * test_options.c: the agent's one option parser: flags, values, repeated
 * options and positional arguments land where the table says, and every
 * kind of bad command line is refused with its one message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "opts.h"

struct got {
	int json, force;
	const char *home;
	struct opt_list ex;
	struct opt_list pos;
};

static int run(struct got *g, int with_pos, struct err *e, int argc, char **argv)
{
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &g->json },
		{ "--force", OPT_FLAG, &g->force },
		{ "--home", OPT_VALUE, &g->home },
		{ "--exclude", OPT_LIST, &g->ex },
		{ NULL, OPT_FLAG, NULL },
	};

	memset(g, 0, sizeof(*g));
	err_clear(e);
	return opt_parse(table, argc, argv, 1, with_pos ? &g->pos : NULL, e);
}

static void done(struct got *g)
{
	opt_list_free(&g->ex);
	opt_list_free(&g->pos);
}

static void test_everything_lands(void **state)
{
	char *argv[] = { "backup", "/a", "--json", "--home", "/h", "--exclude", "*.o", "-",
			 "--exclude", "*.tmp", "--home", "/h2", "/b" };
	struct got g;
	struct err e;

	(void)state;
	assert_int_equal(run(&g, 1, &e, 13, argv), 0);
	assert_int_equal(g.json, 1);
	assert_int_equal(g.force, 0);
	assert_string_equal(g.home, "/h2"); /* the last one wins */
	assert_int_equal(g.ex.n, 2);
	assert_string_equal(g.ex.v[0], "*.o");
	assert_string_equal(g.ex.v[1], "*.tmp");
	assert_int_equal(g.pos.n, 3); /* "-" alone is an argument, not an option */
	assert_string_equal(g.pos.v[0], "/a");
	assert_string_equal(g.pos.v[1], "-");
	assert_string_equal(g.pos.v[2], "/b");
	done(&g);
}

static void test_nothing_given(void **state)
{
	char *argv[] = { "version" };
	struct got g;
	struct err e;

	(void)state;
	assert_int_equal(run(&g, 1, &e, 1, argv), 0);
	assert_int_equal(g.json, 0);
	assert_null(g.home);
	assert_int_equal(g.pos.n, 0);
	done(&g);
}

static void refused(int with_pos, int argc, char **argv, const char *msg)
{
	struct got g;
	struct err e;

	assert_int_equal(run(&g, with_pos, &e, argc, argv), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_string_equal(e.msg, msg);
	done(&g);
}

static void test_bad_input(void **state)
{
	char *unknown[] = { "ls", "--jsn" };
	char *single[] = { "ls", "-x" };
	char *prefix[] = { "ls", "--hom", "/h" }; /* no abbreviations */
	char *value_eq[] = { "ls", "--home=/h" }; /* no --opt=value */
	char *last_value[] = { "ls", "--json", "--home" };
	char *last_list[] = { "ls", "--exclude" };
	char *stray[] = { "version", "extra" };
	char *empty[] = { "ls", "--" };

	(void)state;
	refused(1, 2, unknown, "unknown option '--jsn'; see 'arca help'");
	refused(1, 2, single, "unknown option '-x'; see 'arca help'");
	refused(1, 3, prefix, "unknown option '--hom'; see 'arca help'");
	refused(1, 2, value_eq, "unknown option '--home=/h'; see 'arca help'");
	refused(1, 3, last_value, "--home needs a value");
	refused(1, 2, last_list, "--exclude needs a value");
	refused(0, 2, stray, "unexpected argument 'extra'");
	refused(1, 2, empty, "unknown option '--'; see 'arca help'");
}

static void test_value_may_look_like_an_option(void **state)
{
	/* A value is taken as it is: "--home --json" sets home to "--json". */
	char *argv[] = { "ls", "--home", "--json" };
	struct got g;
	struct err e;

	(void)state;
	assert_int_equal(run(&g, 1, &e, 3, argv), 0);
	assert_string_equal(g.home, "--json");
	assert_int_equal(g.json, 0);
	done(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_everything_lands),
		cmocka_unit_test(test_nothing_given),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_value_may_look_like_an_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
