/* test_store_s3.c: the S3 store's readers of the server's XML answers
 * (store_s3.h), on good answers and on bad ones: not XML, the wrong root,
 * a truncated listing without a token, a key that is not a pack, an entry
 * without a key, a billion-laughs entity, an error in a 200 answer. Then
 * the store's calls against a server on loopback that gives canned bad
 * answers (5xx, 403, a wrong Content-Range, a short body, a broken
 * listing, a failed completion): each is an error, never an answer, and
 * it is tried again exactly when that is safe. The store against a real
 * server is in test_store.c's conformance suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

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
		/* A document type of any kind, even one that defines nothing used. */
		"<!DOCTYPE ListBucketResult [<!ENTITY a \"b\">]><ListBucketResult><IsTruncated>"
		"false</IsTruncated></ListBucketResult>",
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

/* Ten levels of ten: the text would be 10^10 bytes if it were expanded. */
static void test_a_billion_laughs_is_refused(void **state)
{
	char xml[4096];
	size_t n = 0;
	struct seen s = { .n = 0 };
	char *next = NULL, code[80];
	struct err e;

	(void)state;
	n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<!DOCTYPE l [<!ENTITY l0 \"lol\">");
	for (int i = 1; i < 10; i++) {
		n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<!ENTITY l%d \"", i);
		for (int j = 0; j < 10; j++)
			n += (size_t)snprintf(xml + n, sizeof(xml) - n, "&l%d;", i - 1);
		n += (size_t)snprintf(xml + n, sizeof(xml) - n, "\">");
	}
	snprintf(xml + n, sizeof(xml) - n, "]><Error><Code>&l9;</Code></Error>");
	store_s3_parse_error(xml, strlen(xml), code, sizeof(code));
	assert_string_equal(code, "");
	snprintf(xml + n, sizeof(xml) - n, "]><ListBucketResult><IsTruncated>false</IsTruncated>"
		 "<Contents><Key>&l9;</Key></Contents></ListBucketResult>");
	assert_int_equal(list(xml, &s, &next, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	snprintf(xml + n, sizeof(xml) - n, "]><InitiateMultipartUploadResult><UploadId>&l9;"
		 "</UploadId></InitiateMultipartUploadResult>");
	assert_null(store_s3_parse_upload_id(xml, strlen(xml), &e));
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

/* ---- a server of canned answers ---- */

#define CANNED_MAX 16

struct canned {
	int fd;
	unsigned short port;
	const char *answers[CANNED_MAX]; /* whole HTTP answers, in order */
	int n, next;
	char seen[CANNED_MAX][200];      /* "METHOD /path?query" of each request */
	pthread_t thread;
};

/* Read one request (headers, then a body of Content-Length bytes), with a
 * 100 Continue when it is asked for. 0, or -1 when the client went. */
static int read_request(int c, char *line, size_t cap)
{
	char buf[8192];
	size_t len = 0, body = 0;
	char *end, *cl;
	ssize_t r;

	while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
		if (len == sizeof(buf) || (r = read(c, buf + len, sizeof(buf) - len)) <= 0)
			return -1;
		len += (size_t)r;
	}
	*end = 0;
	snprintf(line, cap, "%.*s", (int)strcspn(buf, "\r"), buf);
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL)
		body = strtoul(cl + 17, NULL, 10);
	if (strcasestr(buf, "\r\nExpect: 100-continue"))
		(void)!write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	len -= (size_t)(end + 4 - buf);
	while (len < body) {
		if ((r = read(c, buf, sizeof(buf))) <= 0)
			return -1;
		len += (size_t)r;
	}
	return 0;
}

static void *canned_run(void *arg)
{
	struct canned *k = arg;

	for (;;) {
		int c = accept(k->fd, NULL, NULL);
		char line[200];

		if (c < 0)
			return NULL;
		if (read_request(c, line, sizeof(line)) == 0 && k->next < k->n) {
			/* "PUT /bucket/key?q HTTP/1.1" -> "PUT /bucket/key?q" */
			char *sp = strrchr(line, ' ');

			if (sp)
				*sp = 0;
			const char *a = k->answers[k->next];

			/* Counted before the answer goes: the client checks the
			 * count as soon as it has the answer. */
			snprintf(k->seen[k->next], sizeof(k->seen[0]), "%s", line);
			__atomic_add_fetch(&k->next, 1, __ATOMIC_SEQ_CST);
			(void)!write(c, a, strlen(a));
		}
		close(c);
	}
}

static void canned_start(struct canned *k)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((k->fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(k->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(k->fd, 8), 0);
	assert_int_equal(getsockname(k->fd, (struct sockaddr *)&a, &al), 0);
	k->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&k->thread, NULL, canned_run, k), 0);
}

static void canned_stop(struct canned *k)
{
	shutdown(k->fd, SHUT_RDWR);
	close(k->fd);
	pthread_join(k->thread, NULL);
}

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
/* An answer whose body runs to the end of the connection. */
#define ANSWER(status, extra) "HTTP/1.1 " status "\r\n" extra "Connection: close\r\n\r\n"

/* A store on the canned server K (its first answer is for the bucket's
 * HEAD at open), with RETRIES tries after the first. */
static struct store *canned_store(struct canned *k, int retries, uint64_t part,
				  uint64_t above)
{
	char url[64];
	struct store_s3_config c = { url, "arca-packs", "default", "ak", "sk", NULL, part, above,
				     retries };
	struct err e;
	struct store *s;

	canned_start(k);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", k->port);
	if ((s = store_s3_open(&c, &e)) == NULL)
		fail_msg("open: %s", e.msg);
	return s;
}

static int discard(void *arg, const uint8_t *p, size_t n, struct err *e)
{
	(void)arg;
	(void)p;
	(void)e;
	*(size_t *)arg += n;
	return 0;
}

static void test_5xx_is_tried_again_then_an_error(void **state)
{
	struct canned k = { .answers = {
		OK_HEAD,
		"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	}, .n = 8 };
	struct store *s = canned_store(&k, 2, 0, 0);
	uint64_t size = 0;
	struct err e;

	(void)state;
	/* Two 5xx, then the answer: present, tried three times. */
	assert_int_equal(store_stat(s, ID1, &size, &e), 1);
	assert_int_equal(size, 10);
	assert_int_equal(k.next, 4);
	assert_string_equal(k.seen[3], "HEAD /arca-packs/packs/" ID1);
	/* 5xx every time: an error once the tries are spent, never absent. */
	assert_int_equal(store_stat(s, ID1, &size, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "HTTP 500"));
	assert_int_equal(k.next, 7);
	/* 403 is not tried again. */
	assert_int_equal(store_stat(s, ID1, &size, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(k.next, 8);
	store_close(s);
	canned_stop(&k);
}

static void test_a_range_not_as_asked_is_an_error(void **state)
{
	struct canned k = { .answers = {
		OK_HEAD,
		/* Asked 0-9, answered another range. */
		ANSWER("206 Partial", "Content-Range: bytes 5-14/100\r\n") "0123456789",
		/* The range asked, but fewer bytes than it says. */
		ANSWER("206 Partial", "Content-Range: bytes 0-9/100\r\n") "01234",
		/* No Content-Range at all. */
		ANSWER("206 Partial", "") "0123456789",
		/* The range asked, whole: fine. */
		ANSWER("206 Partial", "Content-Range: bytes 0-9/100\r\n") "0123456789",
		/* 404 is absent; 416 is past the end of a pack that is there. */
		ANSWER("404 Not Found", ""),
		ANSWER("416 Range Not Satisfiable", ""),
	}, .n = 7 };
	struct store *s = canned_store(&k, 0, 0, 0);
	size_t got = 0;
	struct store_writer w = { discard, &got };
	struct err e;

	(void)state;
	e.code = ERR_OK;
	assert_int_equal(store_get(s, ID1, 0, 10, &w, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(store_get(s, ID1, 0, 10, &w, &e), -1);
	assert_int_not_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(store_get(s, ID1, 0, 10, &w, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	got = 0;
	assert_int_equal(store_get(s, ID1, 0, 10, &w, &e), 0);
	assert_int_equal(got, 10);
	assert_int_equal(store_get(s, ID1, 0, 10, &w, &e), -1);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	got = 0;
	assert_int_equal(store_get(s, ID1, 200, 10, &w, &e), 0);
	assert_int_equal(got, 0);
	assert_string_equal(k.seen[6], "GET /arca-packs/packs/" ID1);
	store_close(s);
	canned_stop(&k);
}

static int count_id(void *arg, const char *id, struct err *e)
{
	(void)id;
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static void test_a_broken_listing_is_an_error_not_an_end(void **state)
{
	struct canned k = { .answers = {
		OK_HEAD,
		/* A first page that goes on, then a page that is not a listing. */
		ANSWER("200 OK", "") "<ListBucketResult><IsTruncated>true</IsTruncated><Contents>"
		"<Key>packs/" ID1 "</Key></Contents><NextContinuationToken>a b/c</NextContinuationToken>"
		"</ListBucketResult>",
		ANSWER("200 OK", "") "not a page",
		/* A truncated page without its token. */
		ANSWER("200 OK", "") "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
	}, .n = 4 };
	struct store *s = canned_store(&k, 0, 0, 0);
	struct err e;
	int n = 0;

	(void)state;
	assert_int_equal(store_list(s, count_id, &n, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(n, 1);
	/* The token went back encoded, the query in the order SigV4 signs. */
	assert_string_equal(k.seen[1], "GET /arca-packs?list-type=2&prefix=packs%2F");
	assert_string_equal(k.seen[2], "GET /arca-packs?continuation-token=a%20b%2Fc&list-type=2"
				       "&prefix=packs%2F");
	assert_int_equal(store_list(s, count_id, &n, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	store_close(s);
	canned_stop(&k);
}

/* A pack of N bytes and its id. */
static uint8_t *pack(size_t n, char id[65])
{
	uint8_t *p = malloc(n), md[32];

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	crypto_hash_sha256(md, p, n);
	sodium_bin2hex(id, 65, md, sizeof(md));
	return p;
}

static void test_a_failed_completion_aborts_the_upload(void **state)
{
	struct canned k = { .answers = {
		OK_HEAD,
		ANSWER("404 Not Found", ""),
		ANSWER("200 OK", "") "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
		"</InitiateMultipartUploadResult>  ",
		ANSWER("200 OK", "ETag: \"e1\"\r\n"),
		ANSWER("200 OK", "ETag: \"e2\"\r\n"),
		/* 200, and the failure in the body. */
		ANSWER("200 OK", "") "<Error><Code>InternalError</Code></Error>       ",
		ANSWER("204 No Content", ""),
	}, .n = 7 };
	struct store *s = canned_store(&k, 0, 1u << 20, 1u << 20);
	size_t n = (3u << 20) / 2;
	char id[65], want[200];
	uint8_t *d = pack(n, id);
	struct err e;

	(void)state;
	assert_int_equal(store_put_mem(s, id, d, n, &e), -1);
	assert_non_null(strstr(e.msg, "InternalError"));
	assert_int_equal(k.next, 7);
	snprintf(want, sizeof(want), "POST /arca-packs/packs/%s?uploads=", id);
	assert_string_equal(k.seen[2], want);
	snprintf(want, sizeof(want), "PUT /arca-packs/packs/%s?partNumber=2&uploadId=up-1", id);
	assert_string_equal(k.seen[4], want);
	snprintf(want, sizeof(want), "DELETE /arca-packs/packs/%s?uploadId=up-1", id);
	assert_string_equal(k.seen[6], want);
	free(d);
	store_close(s);
	canned_stop(&k);
}

static void test_a_streamed_put_is_not_sent_twice(void **state)
{
	struct canned k = { .answers = {
		OK_HEAD,
		ANSWER("404 Not Found", ""),
		ANSWER("500 Oops", ""),
		ANSWER("500 Oops", ""),
	}, .n = 4 };
	struct store *s = canned_store(&k, 3, 0, 0);
	char id[65];
	uint8_t *d = pack(5000, id);
	struct err e;

	(void)state;
	/* The body was read to the end for the first PUT: a reader cannot be
	 * read again, so the 500 is the answer (the caller tries again). */
	assert_int_equal(store_put_mem(s, id, d, 5000, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_int_equal(k.next, 3);
	free(d);
	store_close(s);
	canned_stop(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_listing_page),
		cmocka_unit_test(test_keys_that_are_not_packs_are_skipped),
		cmocka_unit_test(test_bad_listings_are_errors_not_empty),
		cmocka_unit_test(test_a_callback_stops_the_listing),
		cmocka_unit_test(test_a_billion_laughs_is_refused),
		cmocka_unit_test(test_upload_id),
		cmocka_unit_test(test_completion_and_errors),
		cmocka_unit_test(test_open_refuses_bad_configuration),
		cmocka_unit_test(test_5xx_is_tried_again_then_an_error),
		cmocka_unit_test(test_a_range_not_as_asked_is_an_error),
		cmocka_unit_test(test_a_broken_listing_is_an_error_not_an_end),
		cmocka_unit_test(test_a_failed_completion_aborts_the_upload),
		cmocka_unit_test(test_a_streamed_put_is_not_sent_twice),
	};

	if (sodium_init() < 0)
		return 1;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
