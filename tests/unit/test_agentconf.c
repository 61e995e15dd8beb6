/*
 * test_agentconf.c: agent.json read and written; each kind of damage
 * refused by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agentconf.h"

static void conf_free(struct state *s)
{
	free(s->service_url), free(s->vault_id), free(s->vault_name), free(s->subscription);
	free(s->region), free(s->machine_id), free(s->machine_name), free(s->cache);
	free(s->proxy), free(s->proxy_user);
	memset(s, 0, sizeof(*s));
}

#define GOOD "\"service_url\": \"https://v:8443\", \"vault_id\": \"v1\", \"machine_id\": " \
	     "\"m-1\", \"machine_name\": \"server-01\", \"cache\": \"/var/cache/arca\""

static void bad(const char *text, const char *msg)
{
	struct state s;
	struct err e;

	memset(&s, 0, sizeof(s));
	assert_int_equal(agentconf_parse(text, strlen(text), &s, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, msg);
	conf_free(&s);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *text = "{" GOOD ", \"proxy\": \"http://p:3128\", \"rate_work\": 1048576, "
			   "\"work_start\": 9, \"work_end\": 17, \"a_newer_key\": [1]}";
	struct state s, t;
	char *out;

	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	assert_int_equal(agentconf_parse(text, strlen(text), &s, NULL), 0);
	assert_string_equal(s.machine_id, "m-1");
	assert_null(s.vault_name);
	assert_int_equal(s.rate_work, 1048576);
	assert_int_equal(s.work_end, 17);
	assert_non_null(out = agentconf_dump(&s, NULL));
	assert_int_equal(agentconf_parse(out, strlen(out), &t, NULL), 0);
	assert_string_equal(t.proxy, "http://p:3128");
	assert_string_equal(t.cache, "/var/cache/arca");
	assert_int_equal(t.rate_work, 1048576);
	assert_int_equal(t.work_start, 9);
	free(out);
	conf_free(&s);
	conf_free(&t);
}

static void test_damaged(void **state)
{
	(void)state;
	struct state s;
	struct err e;

	bad("", "not JSON: '[' or '{' expected near end of file (line 1)");
	bad("{" GOOD, "not JSON: '}' expected near end of file (line 1)");
	bad("[1]", "not a JSON object");
	bad("{\"vault_id\": \"v1\"}", "the field \"service_url\" is missing");
	bad("{" GOOD ", \"machine_id\": \"m-2\"}", "not JSON: duplicate object key near '\"machine_id\"' (line 1)");
	bad("{\"service_url\": \"\", \"vault_id\": \"v\"}", "the field \"service_url\" is empty");
	bad("{\"service_url\": 5}", "the field \"service_url\" is not a string");
	bad("{" GOOD ", \"proxy\": 1}", "the field \"proxy\" is not a string");
	bad("{" GOOD ", \"rate_work\": -1}", "the field \"rate_work\" is -1, outside 0 to "
	    "9223372036854775807");
	bad("{" GOOD ", \"rate_other\": \"10M\"}", "the field \"rate_other\" is not a whole number");
	bad("{" GOOD ", \"work_start\": 25}", "the field \"work_start\" is 25, outside 0 to 24");
	bad("{" GOOD ", \"work_start\": 17, \"work_end\": 9}",
	    "the work hours end (9) before they start (17)");
	bad("{\"service_url\": \"u\", \"vault_id\": \"v\", \"machine_id\": \"m\\r\\nX-Evil: 1\", "
	    "\"machine_name\": \"n\", \"cache\": \"c\"}",
	    "the field \"machine_id\" holds a character other than printable ASCII");
	bad("{\"service_url\": \"u\", \"vault_id\": \"v\", \"machine_id\": "
	    "\"0123456789012345678901234567890123456789012345678901234567890123\", "
	    "\"machine_name\": \"n\", \"cache\": \"c\"}",
	    "the field \"machine_id\" is longer than 63 characters");
	/* Oversized. */
	{
		size_t n = AGENTCONF_MAX_BYTES + 1;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, ' ', n);
		memset(&s, 0, sizeof(s));
		assert_int_equal(agentconf_parse(big, n, &s, &e), -1);
		assert_string_equal(e.msg, "1048577 bytes, over its bound of 1048576");
		free(big);
	}
	/* The writer refuses settings without a required field. */
	memset(&s, 0, sizeof(s));
	assert_null(agentconf_dump(&s, &e));
	assert_int_equal(e.code, ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
