/*
 * test_reply.c: the service's answers as the agent reads them: in any
 * order, with repeated ids, and refused by field when they break their
 * shape, naming what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "reply.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define P "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct objid ids[4]; /* a, b, a, c */

static int setup(void **state)
{
	(void)state;
	assert_int_equal(objid_from_hex(A, &ids[0], NULL), 0);
	assert_int_equal(objid_from_hex(B, &ids[1], NULL), 0);
	ids[2] = ids[0];
	assert_int_equal(objid_from_hex(C, &ids[3], NULL), 0);
	return 0;
}

static json_t *load(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

#define LOC(id, off, len) "{\"id\": \"" id "\", \"pack\": \"" P "\", \"kind\": 1, \"offset\": " \
	#off ", \"length\": " #len "}"

static void locate_bad(const char *text, const char *msg)
{
	json_t *j = load(text);
	struct reply_loc loc[4];
	struct err e;

	assert_int_equal(reply_locate(j, ids, 4, loc, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, msg);
	json_decref(j);
}

static void test_locate(void **state)
{
	(void)state;
	struct reply_loc loc[4];
	json_t *j;

	/* Out of order, a repeated id answered twice, c left out. */
	j = load("{\"objects\": [" LOC(A, 100, 60) ", " LOC(B, 0, 53) ", " LOC(A, 200, 70) "]}");
	assert_int_equal(reply_locate(j, ids, 4, loc, NULL), 0);
	assert_true(loc[0].found && loc[1].found && loc[2].found && !loc[3].found);
	assert_int_equal(loc[0].offset, 100);
	assert_int_equal(loc[2].offset, 200);
	assert_int_equal(loc[2].length, 70);
	assert_string_equal(loc[1].pack, P);
	json_decref(j);

	locate_bad("{}", "the service's answer to POST /objects/locate has no \"objects\" list");
	locate_bad("{\"objects\": [" LOC(A, 0, 60) ", " LOC(A, 0, 60) ", " LOC(A, 0, 60) "]}",
		   "the service's answer to POST /objects/locate: entry 3 names object "
		   "aaaaaaaaaaaaaaaa, which was not asked about (or more often than asked)");
	locate_bad("{\"objects\": [" LOC("dd", 0, 60) "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no object id of 64 "
		   "lowercase hex digits");
	locate_bad("{\"objects\": [{\"id\": \"" A "\", \"pack\": \"../../machine\", \"offset\": 0, "
		   "\"length\": 60}]}",
		   "the service's answer to POST /objects/locate: entry 1 has no pack id of 64 "
		   "lowercase hex digits");
	locate_bad("{\"objects\": [" LOC(A, -1, 60) "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no offset and length "
		   "that fit in a pack");
	locate_bad("{\"objects\": [" LOC(A, 0, 0) "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no offset and length "
		   "that fit in a pack");
	locate_bad("{\"objects\": [" LOC(A, 0, 4294967297) "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no offset and length "
		   "that fit in a pack");
	locate_bad("{\"objects\": [" LOC(A, 9223372036854775807, 60) "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no offset and length "
		   "that fit in a pack");
	locate_bad("{\"objects\": [" LOC(A, 0, "60") "]}",
		   "the service's answer to POST /objects/locate: entry 1 has no offset and length "
		   "that fit in a pack");
}

static void test_missing(void **state)
{
	(void)state;
	bool missing[4];
	struct err e;
	json_t *j;

	/* Out of order: c before a; the second a is not missing. */
	j = load("{\"missing\": [\"" C "\", \"" A "\"]}");
	assert_int_equal(reply_missing(j, ids, 4, missing, NULL), 0);
	assert_true(missing[0] && !missing[1] && !missing[2] && missing[3]);
	json_decref(j);
	j = load("{\"missing\": [\"" A "\", \"" A "\"]}");
	assert_int_equal(reply_missing(j, ids, 4, missing, NULL), 0);
	assert_true(missing[0] && !missing[1] && missing[2] && !missing[3]);
	json_decref(j);
	j = load("{\"missing\": [\"" B "\", \"" B "\"]}");
	assert_int_equal(reply_missing(j, ids, 4, missing, &e), -1);
	assert_string_equal(e.msg, "the service's answer to POST /objects/missing: entry 2 names "
			    "object bbbbbbbbbbbbbbbb, which was not asked about (or more often than "
			    "asked)");
	json_decref(j);
	j = load("{\"missing\": [\"" P "\"]}");
	assert_int_equal(reply_missing(j, ids, 4, missing, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	json_decref(j);
	j = load("{\"missing\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"]}");
	assert_int_equal(reply_missing(j, ids, 4, missing, &e), -1);
	assert_string_equal(e.msg, "the service's answer to POST /objects/missing: entry 1 has no "
			    "object id of 64 lowercase hex digits");
	json_decref(j);
	j = load("{\"missing\": null}");
	assert_int_equal(reply_missing(j, ids, 4, missing, &e), -1);
	assert_string_equal(e.msg, "the service's answer to POST /objects/missing has no "
			    "\"missing\" list");
	json_decref(j);
}

#define PA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_present(void **state)
{
	(void)state;
	static const char *const packs[] = { PA, PB };
	static const struct {
		const char *text, *word;
	} bad[] = {
		{ "{}", "no \"packs\" list" },
		{ "{\"packs\": {}}", "no \"packs\" list" },
		{ "{\"packs\": [{\"id\": \"" PA "\", \"state\": \"present\"}]}", "one entry per" },
		{ "{\"packs\": [{\"id\": \"" PB "\", \"state\": \"present\"}, {\"id\": \"" PA
		  "\", \"state\": \"present\"}]}", "entry 1 is not the pack asked" },
		{ "{\"packs\": [{\"id\": \"" PA "\", \"state\": \"present\"}, {\"id\": \"" PB
		  "\", \"state\": \"gone\"}]}", "entry 2 has no state" },
		{ "{\"packs\": [{\"id\": \"" PA "\", \"state\": 1}, {\"id\": \"" PB
		  "\", \"state\": \"absent\"}]}", "entry 1 has no state" },
		{ "{\"packs\": [{\"state\": \"present\"}, {\"id\": \"" PB
		  "\", \"state\": \"absent\"}]}", "entry 1 is not the pack asked" },
	};
	enum reply_pack_state st[2];
	struct err e;
	json_t *j;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = load(bad[i].text);
		err_clear(&e);
		assert_int_equal(reply_present(j, packs, 2, st, &e), -1);
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_non_null(strstr(e.msg, bad[i].word));
		json_decref(j);
	}
	j = load("{\"packs\": [{\"id\": \"" PA "\", \"state\": \"unknown\"}, {\"id\": \"" PB
		 "\", \"state\": \"error\"}]}");
	assert_int_equal(reply_present(j, packs, 2, st, &e), 0);
	assert_int_equal(st[0], REPLY_PACK_UNKNOWN);
	assert_int_equal(st[1], REPLY_PACK_ERROR);
	json_decref(j);
	j = load("{\"packs\": [{\"id\": \"" PA "\", \"state\": \"present\"}, {\"id\": \"" PB
		 "\", \"state\": \"absent\"}]}");
	assert_int_equal(reply_present(j, packs, 2, st, &e), 0);
	assert_int_equal(st[0], REPLY_PACK_PRESENT);
	assert_int_equal(st[1], REPLY_PACK_ABSENT);
	json_decref(j);
}

static void points_bad(const char *text, const char *msg)
{
	json_t *j = load(text);
	struct err e;

	assert_null(reply_points(j, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, msg);
	json_decref(j);
}

static void test_points(void **state)
{
	(void)state;
	json_t *j = load("{\"recovery_points\": [{\"id\": \"rp-1\", \"meta\": \"" A "\", "
			 "\"created\": \"2026-11-28T10:00:00Z\", \"objects\": 3, \"bytes\": 9}], "
			 "\"max\": 366}");

	assert_int_equal(json_array_size(reply_points(j, NULL)), 1);
	json_decref(j);
	j = load("{\"recovery_points\": []}");
	assert_int_equal(json_array_size(reply_points(j, NULL)), 0);
	json_decref(j);
	points_bad("{\"recovery_points\": {}}", "the service's answer listing recovery points has "
		   "no \"recovery_points\" list");
	points_bad("{\"recovery_points\": [{\"id\": \"rp-1\", \"created\": \"t\"}]}",
		   "the service's answer listing recovery points: point 1 has no \"meta\" object id");
	points_bad("{\"recovery_points\": [{\"id\": \"rp-1\", \"meta\": \"" A "\", \"created\": "
		   "\"t\"}, 5]}", "the service's answer listing recovery points: point 2 is not an "
		   "object");
	points_bad("{\"recovery_points\": [{\"id\": \"../x\", \"meta\": \"" A "\", \"created\": "
		   "\"t\"}]}", "the service's answer listing recovery points: point 1 has no \"id\" of "
		   "1 to 63 printable characters");
	points_bad("{\"recovery_points\": [{\"id\": \"rp\", \"meta\": \"" A "\"}]}",
		   "the service's answer listing recovery points: point 1 has no \"created\" time");
	points_bad("{\"recovery_points\": [{\"id\": \"rp\", \"meta\": \"" A "\", \"created\": "
		   "\"t\", \"bytes\": -1}]}", "the service's answer listing recovery points: point 1 "
		   "has \"objects\" or \"bytes\" that are not whole numbers >= 0");
}

static void test_wrapped_key_and_register(void **state)
{
	(void)state;
	struct kdf_params cheap = { 1, 8192 };
	struct keys *k = keys_generate(NULL);
	struct buf b = BUF_INIT;
	char b64[512], text[1024];
	uint8_t blob[KEYS_WRAPPED_LEN];
	struct err e;
	json_t *j;

	assert_int_equal(keys_wrap(k, "some passphrase here", &cheap, &b, NULL), 0);
	sodium_bin2base64(b64, sizeof(b64), b.data, b.len, sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "{\"code\": \"key_mismatch\", \"wrapped_key\": \"%s\"}", b64);
	j = load(text);
	assert_int_equal(reply_wrapped_key(j, blob, NULL), 0);
	assert_memory_equal(blob, b.data, KEYS_WRAPPED_LEN);
	json_decref(j);
	/* Cut short, not base64, absent. */
	sodium_bin2base64(b64, sizeof(b64), b.data, 100, sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "{\"wrapped_key\": \"%s\"}", b64);
	j = load(text);
	assert_int_equal(reply_wrapped_key(j, blob, &e), -1);
	assert_string_equal(e.msg, "the service's \"wrapped_key\": wrapped key is 100 bytes, "
			    "expected 144: the key file is damaged");
	json_decref(j);
	j = load("{\"wrapped_key\": \"!!!\"}");
	assert_int_equal(reply_wrapped_key(j, blob, &e), -1);
	assert_string_equal(e.msg, "the service's \"wrapped_key\" is not base64 of a wrapped key");
	json_decref(j);
	j = load("{}");
	assert_int_equal(reply_wrapped_key(j, blob, &e), -1);
	assert_string_equal(e.msg, "the service's answer holds no \"wrapped_key\"");
	json_decref(j);
	buf_free(&b);
	keys_free(k);

	j = load("{\"machine_id\": \"m-1\", \"certificate\": \"PEM\"}");
	assert_string_equal(reply_register(j, NULL), "m-1");
	json_decref(j);
	j = load("{\"machine_name\": \"x\"}");
	assert_null(reply_register(j, &e));
	assert_string_equal(e.msg, "the service's answer to POST /register has no \"machine_id\" "
			    "of 1 to 63 printable characters");
	json_decref(j);
	j = load("{\"machine_id\": \"m\\r\\nX: y\"}");
	assert_null(reply_register(j, &e));
	json_decref(j);
	j = load("{\"machine_id\": \"m\", \"certificate\": 1}");
	assert_null(reply_register(j, &e));
	assert_string_equal(e.msg, "the service's answer to POST /register has a \"certificate\" "
			    "that is not text");
	json_decref(j);
}

static void test_ids(void **state)
{
	(void)state;
	struct err e;
	json_t *j = load("{\"id\": \"0f1e2d3c4b5a69780f1e2d3c4b5a6978\", \"lease\": \"../jobs\", "
			 "\"empty\": \"\", \"q\": \"a?b\", \"n\": 5, \"esc\": \"a\\u001b[2J\"}");

	assert_string_equal(reply_id(j, "id", NULL), "0f1e2d3c4b5a69780f1e2d3c4b5a6978");
	assert_null(reply_id(j, "lease", &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "the service's answer has no \"lease\" of 1 to 63 letters, "
			    "digits, '.', '_' or '-'");
	assert_null(reply_id(j, "empty", NULL));
	assert_null(reply_id(j, "q", NULL));
	assert_null(reply_id(j, "n", NULL));
	assert_null(reply_id(j, "esc", NULL));
	assert_null(reply_id(j, "absent", NULL));
	assert_null(reply_id(NULL, "id", NULL));
	json_decref(j);
}

/* A lease's "expires": the service's UTC form only, each field in range. */
static void test_time(void **state)
{
	(void)state;
	struct err e;
	int64_t t = 0;
	json_t *j = load("{\"ok\": \"2026-11-28T16:00:00Z\", \"epoch\": \"1970-01-01T00:00:00Z\", "
			 "\"hour\": \"2026-11-28T24:00:00Z\", \"month\": \"2026-13-01T00:00:00Z\", "
			 "\"space\": \"2026-11-28T 6:00:00Z\", \"sign\": \"2026-11-28T+6:00:00Z\", "
			 "\"zone\": \"2026-11-28T16:00:00+\", \"long\": \"2026-11-28T16:00:00Zx\", "
			 "\"n\": 5}");

	assert_int_equal(reply_time(j, "ok", &t, NULL), 0);
	assert_true(t == 1795881600);
	assert_int_equal(reply_time(j, "epoch", &t, NULL), 0);
	assert_true(t == 0);
	assert_int_equal(reply_time(j, "hour", &t, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "the service's answer has no \"hour\" time of the form "
			    "YYYY-MM-DDTHH:MM:SSZ");
	assert_int_equal(reply_time(j, "month", &t, NULL), -1);
	assert_int_equal(reply_time(j, "space", &t, NULL), -1);
	assert_int_equal(reply_time(j, "sign", &t, NULL), -1);
	assert_int_equal(reply_time(j, "zone", &t, NULL), -1);
	assert_int_equal(reply_time(j, "long", &t, NULL), -1);
	assert_int_equal(reply_time(j, "n", &t, NULL), -1);
	assert_int_equal(reply_time(j, "absent", &t, NULL), -1);
	json_decref(j);
}

static void error_is(const char *body, long status, enum err_code code, const char *msg)
{
	struct err e;
	json_t *keep = NULL;

	assert_int_equal(reply_error((const uint8_t *)body, strlen(body), status, &keep, &e), -1);
	assert_int_equal(e.code, code);
	assert_string_equal(e.msg, msg);
	json_decref(keep);
}

static void test_error(void **state)
{
	(void)state;
	error_is("{\"error\": {\"code\": \"limit\", \"message\": \"too many\"}}", 409, ERR_LIMIT,
		 "too many");
	error_is("{\"error\": {\"code\": \"credentials_expired\", \"message\": \"Vault credentials "
		 "file provided has expired\", \"detail\": \"at noon\"}}", 403, ERR_EXPIRED,
		 "Vault credentials file provided has expired\n  at noon");
	/* Terminal escapes and line breaks from the service are not shown. */
	error_is("{\"error\": {\"code\": \"x\", \"message\": \"bad\\u001b[2Jthing\\n\", \"detail\": "
		 "\"a\\rb\"}}", 400, ERR_INVALID, "bad?[2Jthing?\n  a?b");
	error_is("<html>proxy error</html>", 502, ERR_IO,
		 "the service answered HTTP 502 without an error message");
	error_is("", 404, ERR_INVALID, "the service answered HTTP 404 without an error message");
	error_is("{\"error\": {\"message\": \"\"}}", 400, ERR_INVALID,
		 "the service answered HTTP 400 without an error message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_present),
		cmocka_unit_test(test_points),
		cmocka_unit_test(test_wrapped_key_and_register),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_error),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
