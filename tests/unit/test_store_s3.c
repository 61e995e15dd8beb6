/* test_store_s3.c: the S3 store's readers of the server's XML answers
 * (store_s3.h), on good answers and on bad ones: not XML, the wrong root,
 * a truncated listing without a token, a key that is not a pack, an entry
 * without a key, a billion-laughs entity, an error in a 200 answer. The
 * store itself against a real server is in test_store.c's suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_s3.h"

#define ID1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
#define NS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

struct seen {
	char id[8][65];
	int n;
	int stop;
};

static int on_id(void *arg, const char *id, struct err *e)
{
	struct seen *s = arg;

	if (s->stop)
		return err_set(e, ERR_IO, "stopped by the callback");
	assert_true(s->n < 8);
	snprintf(s->id[s->n++], 65, "%s", id);
	return 0;
}

static int list(const char *xml, struct seen *s, char **next, struct err *e)
{
	return store_s3_parse_list(xml, strlen(xml), "packs/", on_id, s, next, e);
}

static void test_a_listing_page(void **state)
{
	struct seen s = { .n = 0 };
	char *next = NULL;
	struct err e;

	(void)state;
	assert_int_equal(list(HEAD "<ListBucketResult" NS "><Name>b</Name><IsTruncated>true"
			      "</IsTruncated><Contents><Key>packs/" ID1 "</Key><Size>6</Size>"
			      "</Contents><Contents><Key>packs/" ID2 "</Key></Contents>"
			      "<NextContinuationToken>t/+=</NextContinuationToken>"
			      "</ListBucketResult>", &s, &next, &e), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.id[0], ID1);
	assert_string_equal(s.id[1], ID2);
	assert_non_null(next);
	assert_string_equal(next, "t/+=");
	free(next);
	/* The last page: no token. An empty bucket: no entries. */
	s.n = 0;
	assert_int_equal(list("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>"
			      "packs/" ID1 "</Key></Contents></ListBucketResult>", &s, &next, &e), 0);
	assert_int_equal(s.n, 1);
	assert_null(next);
	s.n = 0;
	assert_int_equal(list("<ListBucketResult><IsTruncated>false</IsTruncated>"
			      "</ListBucketResult>", &s, &next, &e), 0);
	assert_int_equal(s.n, 0);
	assert_null(next);
}

static void test_keys_that_are_not_packs_are_skipped(void **state)
{
	struct seen s = { .n = 0 };
	char *next = NULL;
	struct err e;

	(void)state;
	assert_int_equal(list("<ListBucketResult><IsTruncated>false</IsTruncated>"
			      "<Contents><Key>other/" ID1 "</Key></Contents>"
			      "<Contents><Key>packs/" ID1 "x</Key></Contents>"
			      "<Contents><Key>packs/0123</Key></Contents>"
			      "<Contents><Key>packs/0123456789ABCDEF0123456789abcdef0123456789abcdef"
			      "0123456789abcdef</Key></Contents>"
			      "<Contents><Key>packs/../" ID1 "</Key></Contents>"
			      "<Contents><Key></Key></Contents>"
			      "</ListBucketResult>", &s, &next, &e), 0);
	assert_int_equal(s.n, 0);
}

static void test_bad_listings_are_errors_not_empty(void **state)
{
	static const char *bad[] = {
		"",
		"not xml at all",
		"<ListBucketResult><IsTruncated>false</IsTruncated>",        /* cut short */
		"<Error><Code>AccessDenied</Code></Error>",                  /* another root */
		"<ListBucketResult></ListBucketResult>",                      /* no IsTruncated */
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
		"</NextContinuationToken></ListBucketResult>",               /* empty token */
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size>"
		"</Contents></ListBucketResult>",                            /* no Key */
		/* Entities are not expanded: no billion laughs, no files read. */
		"<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
		"<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><ListBucketResult><IsTruncated>&c;"
		"</IsTruncated></ListBucketResult>",
		"<!DOCTYPE l [<!ENTITY x SYSTEM \"file:///etc/hostname\">]><ListBucketResult>"
		"<IsTruncated>&x;</IsTruncated></ListBucketResult>",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = { .n = 0 };
		char *next = (char *)1;
		struct err e;

		e.code = ERR_OK;
		if (list(bad[i], &s, &next, &e) != -1)
			fail_msg("taken: %s", bad[i]);
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_null(next);
		assert_true(strlen(e.msg) > 0);
	}
}

static void test_a_callback_stops_the_listing(void **state)
{
	struct seen s = { .n = 0, .stop = 1 };
	char *next = NULL;
	struct err e;

	(void)state;
	assert_int_equal(list("<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>"
			      "packs/" ID1 "</Key></Contents><NextContinuationToken>t"
			      "</NextContinuationToken></ListBucketResult>", &s, &next, &e), -1);
	assert_non_null(strstr(e.msg, "stopped"));
	assert_null(next);
}

static void test_upload_id(void **state)
{
	static const char good[] = HEAD "<InitiateMultipartUploadResult" NS "><Bucket>b</Bucket>"
				   "<Key>k</Key><UploadId>2~xyz</UploadId>"
				   "</InitiateMultipartUploadResult>";
	static const char *bad[] = {
		"", "<InitiateMultipartUploadResult></InitiateMultipartUploadResult>",
		"<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>",
		"<Error><UploadId>x</UploadId></Error>", "<InitiateMultipartUploadResult><UploadId>",
	};
	struct err e;
	char *id;

	(void)state;
	assert_non_null(id = store_s3_parse_upload_id(good, strlen(good), &e));
	assert_string_equal(id, "2~xyz");
	free(id);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.code = ERR_OK;
		assert_null(store_s3_parse_upload_id(bad[i], strlen(bad[i]), &e));
		assert_int_equal(e.code, ERR_CORRUPT);
	}
}

static void test_completion_and_errors(void **state)
{
	static const char ok[] = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
				 "</CompleteMultipartUploadResult>";
	static const char in200[] = "<Error><Code>InternalError</Code><Message>m</Message></Error>";
	char code[80];
	struct err e;

	(void)state;
	assert_int_equal(store_s3_parse_complete(ok, strlen(ok), &e), 0);
	/* S3 can say 200 and put the failure in the body. */
	assert_int_equal(store_s3_parse_complete(in200, strlen(in200), &e), -1);
	assert_non_null(strstr(e.msg, "InternalError"));
	assert_int_equal(store_s3_parse_complete("", 0, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(store_s3_parse_complete("<Other/>", 8, &e), -1);
	store_s3_parse_error(in200, strlen(in200), code, sizeof(code));
	assert_string_equal(code, "InternalError");
	/* Not an error answer, or a code with what does not belong in a message. */
	store_s3_parse_error("junk", 4, code, sizeof(code));
	assert_string_equal(code, "");
	store_s3_parse_error("<Error><Code>No\nSuch Key&lt;</Code></Error>", 43, code,
			     sizeof(code));
	assert_string_equal(code, "NoSuchKey");
	store_s3_parse_error(in200, strlen(in200), code, 4);
	assert_string_equal(code, "Int");
}

static void test_open_refuses_bad_configuration(void **state)
{
	struct store_s3_config good = { "http://127.0.0.1:1", "arca-packs", "default", "ak", "sk",
					NULL, 0, 0, 0 };
	struct store_s3_config c;
	struct err e;

	(void)state;
	c = good;
	c.endpoint = "ftp://127.0.0.1";
	assert_null(store_s3_open(&c, &e));
	assert_int_equal(e.code, ERR_INVALID);
	c = good;
	c.endpoint = "http://127.0.0.1/path";
	assert_null(store_s3_open(&c, &e));
	c = good;
	c.bucket = "Upper";
	assert_null(store_s3_open(&c, &e));
	assert_non_null(strstr(e.msg, "bucket"));
	c = good;
	c.bucket = "ab";
	assert_null(store_s3_open(&c, &e));
	c = good;
	c.secret_key = "";
	assert_null(store_s3_open(&c, &e));
	c = good;
	c.prefix = "a b";
	assert_null(store_s3_open(&c, &e));
	c = good;
	c.part_size = 32u << 20;
	c.multipart_above = 16u << 20;
	assert_null(store_s3_open(&c, &e));
	assert_int_equal(e.code, ERR_INVALID);
	/* A good configuration, but nothing listens there: an error, said at
	 * open, after no retries. */
	c = good;
	assert_null(store_s3_open(&c, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "no answer"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_listing_page),
		cmocka_unit_test(test_keys_that_are_not_packs_are_skipped),
		cmocka_unit_test(test_bad_listings_are_errors_not_empty),
		cmocka_unit_test(test_a_callback_stops_the_listing),
		cmocka_unit_test(test_upload_id),
		cmocka_unit_test(test_completion_and_errors),
		cmocka_unit_test(test_open_refuses_bad_configuration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
