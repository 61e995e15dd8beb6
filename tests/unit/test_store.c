/* test_store.c: the store contract's conformance suite (store.h). Every
 * backend in BACKENDS runs through the same tests: put, stat and ranged
 * gets (first byte, last byte, past the end), a put of a pack already
 * there, absent against could-not-tell, list, remove, concurrent puts of
 * one id beside readers that must see a whole pack or none, puts whose
 * reader fails, ends early or runs long leaving nothing visible, and puts
 * of a complete local file (adopted, or put when it cannot be). A new
 * backend is done when it is added to BACKENDS and this passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "store.h"
#include "store_s3.h"

/* ---- backends ---- */

/* What the suite needs of a backend besides the contract: a fresh store, a
 * way to make it unable to tell about one id, and what it left behind. */
struct backend {
	const char *name;
	struct store *(*open)(void *fix, int which);   /* WHICH: 0 or 1, two stores */
	void *(*fixture_new)(void);
	void (*fixture_free)(void *fix);
	int (*make_unreadable)(void *fix, const char *id); /* stat can no longer tell */
	int (*leftovers)(void *fix);                    /* files a failed put left */
};

struct fs_fixture {
	char root[64];
};

static void *fs_fixture_new(void)
{
	struct fs_fixture *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	return f;
}

static void fs_fixture_free(void *fix)
{
	struct fs_fixture *f = fix;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
}

static struct store *fs_open(void *fix, int which)
{
	struct fs_fixture *f = fix;
	char path[128];
	struct err e;
	struct store *s;

	snprintf(path, sizeof(path), "%s/s%d", f->root, which);
	s = store_fs_open(path, &e);
	if (s == NULL)
		fail_msg("open: %s", e.msg);
	return s;
}

/* A file where the fan-out folder of ID should be: stat fails with ENOTDIR,
 * which is neither "present" nor "absent" (root ignores permissions, so
 * taking them away would prove nothing when the tests run as root). */
static int fs_make_unreadable(void *fix, const char *id)
{
	struct fs_fixture *f = fix;
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/s0/packs/%.2s", f->root, id);
	rmdir(path);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fclose(fp);
	return 0;
}

static int fs_leftovers(void *fix)
{
	struct fs_fixture *f = fix;
	char path[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/s0/tmp", f->root);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * The S3 backend, on the server ARCA_S3_ENDPOINT names (with
 * ARCA_S3_ACCESS_KEY, ARCA_S3_SECRET_KEY, ARCA_S3_REGION): scripts/run-tests
 * starts Ceph's RADOS Gateway with scripts/rgw for it. Without one the
 * backend is left out, and main says so. Each fixture has two buckets of
 * its own. Parts of 1 MiB above 2 MiB, so that the packs of a few MiB
 * below go up as multipart uploads and the small ones in one PUT.
 */
struct s3_fixture {
	char bucket[2][64];
};

static int s3_counter;

static int s3_configured(void)
{
	return getenv("ARCA_S3_ENDPOINT") && getenv("ARCA_S3_ACCESS_KEY") &&
	       getenv("ARCA_S3_SECRET_KEY");
}

static void *s3_fixture_new(void)
{
	struct s3_fixture *f;

	if (!s3_configured())
		return NULL;
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	for (int i = 0; i < 2; i++)
		snprintf(f->bucket[i], sizeof(f->bucket[i]), "arca-test-%d-%d-%d", (int)getpid(),
			 s3_counter, i);
	s3_counter++;
	return f;
}

static void s3_fixture_free(void *fix)
{
	free(fix);
}

static const char *s3_region(void)
{
	const char *r = getenv("ARCA_S3_REGION");

	return r && r[0] ? r : "default";
}

static struct store *s3_open(void *fix, int which)
{
	struct s3_fixture *f = fix;
	struct store_s3_config c = {
		.endpoint = getenv("ARCA_S3_ENDPOINT"),
		.bucket = f->bucket[which],
		.region = s3_region(),
		.access_key = getenv("ARCA_S3_ACCESS_KEY"),
		.secret_key = getenv("ARCA_S3_SECRET_KEY"),
		.part_size = 1u << 20,
		.multipart_above = 2u << 20,
		.retries = -1,
	};
	struct err e;
	struct store *s = store_s3_open(&c, &e);

	if (s == NULL)
		fail_msg("open s3 bucket %s: %s", c.bucket, e.msg);
	return s;
}

/* An answer from the server, and a body to send it. */
struct s3_buf {
	uint8_t *buf;
	size_t len, cap;
};

struct s3_body {
	const char *p;
	size_t len, pos;
};

static size_t s3_collect(char *p, size_t size, size_t n, void *arg)
{
	struct s3_buf *c = arg;
	size_t len = size * n;

	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		assert_non_null(c->buf = realloc(c->buf, c->cap + 1));
	}
	memcpy(c->buf + c->len, p, len);
	c->len += len;
	return len;
}

static size_t s3_send(char *p, size_t size, size_t n, void *arg)
{
	struct s3_body *b = arg;
	size_t k = size * n;

	if (k > b->len - b->pos)
		k = b->len - b->pos;
	memcpy(p, b->p + b->pos, k);
	b->pos += k;
	return k;
}

/* A signed request to the test's server, beside the store: METHOD on
 * BUCKET?QUERY with BODY; the answer's status, its body into ANSWER. */
static long s3_request(const char *method, const char *bucket, const char *query,
		       const char *body, struct s3_buf *answer)
{
	char url[512], sig[128], up[512], hdr[128], hex[65];
	struct s3_body out = { body, body ? strlen(body) : 0, 0 };
	struct curl_slist *h = NULL;
	uint8_t md[32];
	long status = 0;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	crypto_hash_sha256(md, (const uint8_t *)(body ? body : ""), body ? strlen(body) : 0);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", hex);
	h = curl_slist_append(h, hdr);
	snprintf(url, sizeof(url), "%s/%s%s%s", getenv("ARCA_S3_ENDPOINT"), bucket,
		 query[0] ? "?" : "", query);
	snprintf(sig, sizeof(sig), "aws:amz:%s:s3", s3_region());
	snprintf(up, sizeof(up), "%s:%s", getenv("ARCA_S3_ACCESS_KEY"), getenv("ARCA_S3_SECRET_KEY"));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig);
	curl_easy_setopt(c, CURLOPT_USERPWD, up);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
	if (body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_send);
		curl_easy_setopt(c, CURLOPT_READDATA, &out);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)out.len);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* An object under ID's key, and a bucket policy that denies reading and
 * writing it to everyone, its owner too: the server answers 403, neither
 * "there" nor "absent". (The object is needed: for a key that holds none,
 * the gateway says 404 before it looks at the policy.) */
static int s3_make_unreadable(void *fix, const char *id)
{
	struct s3_fixture *f = fix;
	struct s3_buf a = { NULL, 0, 0 };
	char policy[512], key[160];
	long st;

	snprintf(key, sizeof(key), "%s/%s%s", f->bucket[0], STORE_S3_PREFIX, id);
	st = s3_request("PUT", key, "", "not this pack", &a);
	free(a.buf);
	a = (struct s3_buf){ NULL, 0, 0 };
	if (st != 200)
		return -1;

	snprintf(policy, sizeof(policy),
		 "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
		 "\"Principal\":\"*\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\"],"
		 "\"Resource\":[\"arn:aws:s3:::%s/%s%s\"]}]}",
		 f->bucket[0], STORE_S3_PREFIX, id);
	st = s3_request("PUT", f->bucket[0], "policy=", policy, &a);
	free(a.buf);
	return st == 200 || st == 204 ? 0 : -1;
}

/* Multipart uploads a failed put left open in the first bucket. */
static int s3_leftovers(void *fix)
{
	struct s3_fixture *f = fix;
	struct s3_buf a = { NULL, 0, 0 };
	int n = 0;

	assert_int_equal(s3_request("GET", f->bucket[0], "uploads=", NULL, &a), 200);
	assert_non_null(a.buf);
	a.buf[a.len] = 0;
	for (char *p = (char *)a.buf; (p = strstr(p, "<Upload>")) != NULL; p++)
		n++;
	free(a.buf);
	return n;
}

static const struct backend BACKENDS[] = {
	{ "fs", fs_open, fs_fixture_new, fs_fixture_free, fs_make_unreadable, fs_leftovers },
	{ "s3", s3_open, s3_fixture_new, s3_fixture_free, s3_make_unreadable, s3_leftovers },
};
#define N_BACKENDS (sizeof(BACKENDS) / sizeof(BACKENDS[0]))

/* ---- helpers ---- */

/* A pack-like blob of LEN bytes from SEED, and its id (its SHA-256). */
static uint8_t *blob(size_t len, unsigned seed, char id[65])
{
	uint8_t *p = malloc(len ? len : 1), md[32];

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
	crypto_hash_sha256(md, p, len);
	sodium_bin2hex(id, 65, md, sizeof(md));
	return p;
}

/* A reader over memory that gives at most STEP bytes a call and can fail
 * after FAIL_AT bytes, or claim a different length than it gives. */
struct test_reader {
	const uint8_t *data;
	size_t len, pos, step, fail_at;
};

static int test_read(void *arg, uint8_t *buf, size_t cap, size_t *got, struct err *e)
{
	struct test_reader *r = arg;
	size_t n = r->len - r->pos;

	if (r->pos >= r->fail_at)
		return err_set(e, ERR_IO, "the reader failed on purpose");
	if (n > cap)
		n = cap;
	if (n > r->step)
		n = r->step;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	*got = n;
	return 0;
}

static int put_with(struct store *s, const char *id, uint64_t size, const uint8_t *data,
		    size_t len, size_t step, size_t fail_at, struct err *e)
{
	struct test_reader tr = { data, len, 0, step, fail_at };
	struct store_reader r = { test_read, &tr };

	return store_put(s, id, size, &r, e);
}

struct collect {
	uint8_t *buf;
	size_t len, cap;
	int fail_after; /* writes before failing, or -1 */
};

static int collect_write(void *arg, const uint8_t *buf, size_t len, struct err *e)
{
	struct collect *c = arg;

	if (c->fail_after == 0)
		return err_set(e, ERR_IO, "the writer failed on purpose");
	if (c->fail_after > 0)
		c->fail_after--;
	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		assert_non_null(c->buf = realloc(c->buf, c->cap));
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

/* Get LEN bytes of ID from OFF and check they are DATA[OFF..] cut at SIZE. */
static void check_range(struct store *s, const char *id, const uint8_t *data, size_t size,
			uint64_t off, uint64_t len)
{
	struct collect c = { NULL, 0, 0, -1 };
	struct store_writer w = { collect_write, &c };
	size_t want = off >= size ? 0 : (len > size - off ? size - (size_t)off : (size_t)len);
	struct err e;

	if (store_get(s, id, off, len, &w, &e) != 0)
		fail_msg("get %llu+%llu: %s", (unsigned long long)off, (unsigned long long)len, e.msg);
	assert_int_equal(c.len, want);
	if (want)
		assert_memory_equal(c.buf, data + off, want);
	free(c.buf);
}

struct ids {
	char id[16][65];
	int n;
	int stop_at; /* fail on this call, or -1 */
};

static int collect_id(void *arg, const char *id, struct err *e)
{
	struct ids *l = arg;

	if (l->n == l->stop_at)
		return err_set(e, ERR_IO, "the callback stopped the listing");
	assert_true(l->n < 16);
	snprintf(l->id[l->n++], 65, "%s", id);
	return 0;
}

static int listed(const struct ids *l, const char *id)
{
	int n = 0;

	for (int i = 0; i < l->n; i++)
		n += strcmp(l->id[i], id) == 0;
	return n;
}

/* ---- the contract, for each backend ---- */

#define FOR_EACH_BACKEND(b, fix, s)                                                        \
	for (size_t b_i = 0; b_i < N_BACKENDS; b_i++)                                      \
		for (const struct backend *b = &BACKENDS[b_i]; b; b = NULL)                \
			for (void *fix = b->fixture_new(); fix; b->fixture_free(fix), fix = NULL) \
				for (struct store *s = b->open(fix, 0); s; store_close(s), s = NULL)

static void test_put_stat_get_ranges(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		/* Sizes that cross a backend's buffers: one byte, small, 2.5 MiB. */
		static const size_t sizes[] = { 1, 4097, (5u << 20) / 2 };

		for (unsigned k = 0; k < 3; k++) {
			size_t n = sizes[k];
			char id[65];
			uint8_t *d = blob(n, k, id);
			uint64_t size = 0;
			struct err e;

			assert_int_equal(store_stat(s, id, &size, &e), 0);
			if (put_with(s, id, n, d, n, 65536 + 3, SIZE_MAX, &e) != 0)
				fail_msg("%s: put: %s", b->name, e.msg);
			assert_int_equal(store_stat(s, id, &size, &e), 1);
			assert_int_equal(size, n);
			assert_int_equal(store_stat(s, id, NULL, &e), 1);
			check_range(s, id, d, n, 0, n);            /* whole */
			check_range(s, id, d, n, 0, 1);            /* first byte */
			check_range(s, id, d, n, n - 1, 1);        /* last byte */
			check_range(s, id, d, n, n / 2, UINT64_MAX); /* to the end */
			check_range(s, id, d, n, n - 1, 100);      /* past the end: cut */
			check_range(s, id, d, n, n, 10);           /* at the end: nothing */
			check_range(s, id, d, n, n + 1000, 10);    /* beyond: nothing */
			check_range(s, id, d, n, 0, 0);            /* empty range */
			free(d);
		}
	}
}

static void test_put_of_a_pack_already_there_keeps_it(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		char id[65];
		uint8_t *d = blob(100000, 7, id);
		uint64_t size;
		struct err e;

		assert_int_equal(store_put_mem(s, id, d, 100000, &e), 0);
		assert_int_equal(store_put_mem(s, id, d, 100000, &e), 0);
		assert_int_equal(store_stat(s, id, &size, &e), 1);
		assert_int_equal(size, 100000);
		check_range(s, id, d, 100000, 0, 100000);
		free(d);
		(void)b;
	}
}

static void test_absent_is_not_an_error_and_an_error_is_not_absent(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		char id[65], other[65];
		uint8_t *d = blob(1000, 1, id), *o = blob(1000, 2, other);
		struct collect c = { NULL, 0, 0, -1 };
		struct store_writer w = { collect_write, &c };
		uint64_t size;
		struct err e;

		assert_int_equal(store_stat(s, id, &size, &e), 0);
		assert_int_equal(store_get(s, id, 0, 10, &w, &e), -1);
		assert_int_equal(e.code, ERR_NOT_FOUND);
		assert_int_equal(store_remove(s, id, &e), 0);
		/* Not an id: refused, never "absent". */
		assert_int_equal(store_stat(s, "../../etc/passwd", &size, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_int_equal(store_stat(s, "ABCD", &size, &e), -1);
		assert_int_equal(store_put_mem(s, "x", d, 1000, &e), -1);
		/* A store that cannot tell says so. */
		assert_int_equal(b->make_unreadable(fix, id), 0);
		e.code = ERR_OK;
		assert_int_equal(store_stat(s, id, &size, &e), -1);
		assert_int_not_equal(e.code, ERR_OK);
		assert_int_not_equal(e.code, ERR_NOT_FOUND);
		assert_int_equal(store_get(s, id, 0, 10, &w, &e), -1);
		assert_int_not_equal(e.code, ERR_NOT_FOUND);
		assert_int_equal(store_put_mem(s, id, d, 1000, &e), -1);
		/* Others are unaffected. */
		if (id[0] != other[0] || id[1] != other[1]) {
			assert_int_equal(store_put_mem(s, other, o, 1000, &e), 0);
			assert_int_equal(store_stat(s, other, &size, &e), 1);
		}
		assert_int_equal(c.len, 0);
		free(d);
		free(o);
	}
}

static void test_list_and_remove(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		char id[6][65];
		uint8_t *d[6];
		struct ids l = { .n = 0, .stop_at = -1 };
		struct err e;

		assert_int_equal(store_list(s, collect_id, &l, &e), 0);
		assert_int_equal(l.n, 0);
		for (int i = 0; i < 6; i++) {
			d[i] = blob(3000 + (size_t)i, 100u + (unsigned)i, id[i]);
			assert_int_equal(store_put_mem(s, id[i], d[i], 3000 + (size_t)i, &e), 0);
		}
		assert_int_equal(store_list(s, collect_id, &l, &e), 0);
		assert_int_equal(l.n, 6);
		for (int i = 0; i < 6; i++)
			assert_int_equal(listed(&l, id[i]), 1);
		/* A callback that stops the listing makes it fail with its error. */
		l = (struct ids){ .n = 0, .stop_at = 2 };
		assert_int_equal(store_list(s, collect_id, &l, &e), -1);
		assert_non_null(strstr(e.msg, "stopped"));
		/* Remove: gone from stat, get and list; removing again is fine. */
		assert_int_equal(store_remove(s, id[3], &e), 0);
		assert_int_equal(store_stat(s, id[3], NULL, &e), 0);
		assert_int_equal(store_remove(s, id[3], &e), 0);
		l = (struct ids){ .n = 0, .stop_at = -1 };
		assert_int_equal(store_list(s, collect_id, &l, &e), 0);
		assert_int_equal(l.n, 5);
		assert_int_equal(listed(&l, id[3]), 0);
		for (int i = 0; i < 6; i++)
			free(d[i]);
		(void)b;
	}
}

static void test_a_failed_put_leaves_nothing(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		size_t n = 3u << 20;
		char id[65];
		uint8_t *d = blob(n, 9, id);
		struct ids l = { .n = 0, .stop_at = -1 };
		struct err e;

		/* The reader fails part way. */
		assert_int_equal(put_with(s, id, n, d, n, 1u << 16, n / 2, &e), -1);
		assert_non_null(strstr(e.msg, "on purpose"));
		assert_int_equal(store_stat(s, id, NULL, &e), 0);
		/* The reader ends before the declared size. */
		assert_int_equal(put_with(s, id, n, d, n - 1, 1u << 16, SIZE_MAX, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_int_equal(store_stat(s, id, NULL, &e), 0);
		/* The reader runs past the declared size. */
		assert_int_equal(put_with(s, id, n - 1, d, n, 1u << 16, SIZE_MAX, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_int_equal(store_stat(s, id, NULL, &e), 0);
		assert_int_equal(store_list(s, collect_id, &l, &e), 0);
		assert_int_equal(l.n, 0);
		assert_int_equal(b->leftovers(fix), 0);
		/* And a good put after all that works. */
		assert_int_equal(store_put_mem(s, id, d, n, &e), 0);
		check_range(s, id, d, n, 0, n);
		free(d);
	}
}

static void test_a_failed_writer_stops_the_get(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		size_t n = 3u << 20;
		char id[65];
		uint8_t *d = blob(n, 11, id);
		struct collect c = { NULL, 0, 0, 0 };
		struct store_writer w = { collect_write, &c };
		struct err e;

		assert_int_equal(store_put_mem(s, id, d, n, &e), 0);
		assert_int_equal(store_get(s, id, 0, n, &w, &e), -1);
		assert_non_null(strstr(e.msg, "on purpose"));
		free(c.buf);
		free(d);
		(void)b;
	}
}

/* Threads that put the same id at once, in small pieces so that they
 * overlap, beside a thread that must see the whole pack or none. */
struct race {
	struct store *s;
	const uint8_t *d;
	size_t n;
	char id[65];
	int failures;
	int torn;
	volatile int done;
};

static void *racing_put(void *arg)
{
	struct race *r = arg;
	struct err e;

	if (put_with(r->s, r->id, r->n, r->d, r->n, 4096, SIZE_MAX, &e) != 0)
		__atomic_add_fetch(&r->failures, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *watcher(void *arg)
{
	struct race *r = arg;

	while (!r->done) {
		uint64_t size;
		struct err e;
		int st = store_stat(r->s, r->id, &size, &e);

		if (st < 0 || (st == 1 && size != r->n)) {
			r->torn++;
		} else if (st == 1) {
			struct collect c = { NULL, 0, 0, -1 };
			struct store_writer w = { collect_write, &c };

			if (store_get(r->s, r->id, 0, r->n, &w, &e) != 0 || c.len != r->n ||
			    memcmp(c.buf, r->d, r->n) != 0)
				r->torn++;
			free(c.buf);
		}
	}
	return NULL;
}

static void test_concurrent_puts_of_one_id(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		struct race r = { .s = s, .n = 1u << 20 };
		uint8_t *d = blob(r.n, 13, r.id);
		pthread_t t[8], w;

		r.d = d;
		assert_int_equal(pthread_create(&w, NULL, watcher, &r), 0);
		for (int i = 0; i < 8; i++)
			assert_int_equal(pthread_create(&t[i], NULL, racing_put, &r), 0);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		r.done = 1;
		pthread_join(w, NULL);
		assert_int_equal(r.failures, 0);
		assert_int_equal(r.torn, 0);
		check_range(s, r.id, d, r.n, 0, r.n);
		assert_int_equal(b->leftovers(fix), 0);
		free(d);
	}
}

/* What is built on the contract alone: whole reads, and the GRS copy. */
static void test_copy_and_whole_reads(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		struct store *to = b->open(fix, 1);
		size_t n = (9u << 20) / 2; /* several pieces of a copy */
		char id[65], absent[65];
		uint8_t *d = blob(n, 17, id), *a = blob(10, 18, absent), *back;
		uint64_t len;
		struct err e;

		assert_int_equal(store_put_mem(s, id, d, n, &e), 0);
		assert_int_equal(store_copy(s, to, id, &e), 0);
		check_range(to, id, d, n, 0, n);
		assert_int_equal(store_copy(s, to, id, &e), 0); /* there already: kept */
		assert_int_equal(store_copy(s, to, absent, &e), -1);
		assert_int_equal(e.code, ERR_NOT_FOUND);
		assert_int_equal(store_stat(to, absent, NULL, &e), 0);
		assert_int_equal(store_get_all(to, id, &back, &len, &e), 0);
		assert_int_equal(len, n);
		assert_memory_equal(back, d, n);
		free(back);
		assert_int_equal(store_get_all(to, absent, &back, &len, &e), -1);
		assert_int_equal(e.code, ERR_NOT_FOUND);
		assert_null(back);
		store_close(to);
		free(d);
		free(a);
	}
}

/* One pack into two stores at once (a region and its GRS pair): both get
 * it, and a failure in either is reported. */
static void test_put_into_several_stores(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		struct store *pair = b->open(fix, 1);
		struct store *both[2] = { s, pair }, *flipped[2] = { pair, s };
		size_t n = (3u << 20) + 5;
		char id[65], bad[65];
		uint8_t *d = blob(n, 21, id), *x = blob(100, 22, bad);
		struct err e;

		assert_int_equal(store_put_mem_each(both, 2, id, d, n, &e), 0);
		check_range(s, id, d, n, 0, n);
		check_range(pair, id, d, n, 0, n);
		assert_int_equal(store_put_mem_each(flipped, 2, id, d, n, &e), 0); /* kept */
		/* The first store cannot take it: the error comes back, whichever
		 * thread hit it, and the other store has it whole. */
		assert_int_equal(b->make_unreadable(fix, bad), 0);
		e.code = ERR_OK;
		assert_int_equal(store_put_mem_each(both, 2, bad, x, 100, &e), -1);
		assert_int_not_equal(e.code, ERR_OK);
		assert_int_equal(store_put_mem_each(flipped, 2, bad, x, 100, &e), -1);
		check_range(pair, bad, x, 100, 0, 100);
		store_close(pair);
		free(d);
		free(x);
	}
}

/* Write LEN bytes of DATA to a new file PATH. */
static void write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* A complete local file handed over (an upload the service spooled): each
 * store has the pack whole, whether the first adopted the file or put its
 * bytes; a pack already there is kept; a file of the wrong length is
 * refused and leaves nothing. The file is written beside the stores, on
 * their file system, and again where it may not be (/dev/shm), where a
 * backend that moves files must fall back to putting the bytes. */
static void test_put_of_a_local_file(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(b, fix, s) {
		struct store *pair = b->open(fix, 1);
		struct store *both[2] = { s, pair };
		size_t n = (3u << 20) + 7;
		char id[65], other[65], far_id[65], path[160], dir[128];
		uint8_t *d = blob(n, 31, id), *o = blob(5000, 32, other), *x = blob(4000, 33, far_id);
		struct err e;

		snprintf(dir, sizeof(dir), "/tmp/test_store_file.XXXXXX");
		assert_non_null(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/upload", dir);
		write_file(path, d, n);
		if (store_put_file_each(both, 2, id, path, d, n, &e) != 0)
			fail_msg("%s: put of a file: %s", b->name, e.msg);
		check_range(s, id, d, n, 0, n);
		check_range(pair, id, d, n, 0, n);
		/* Again, from another file: kept. */
		unlink(path);
		write_file(path, d, n);
		assert_int_equal(store_put_file_each(both, 1, id, path, d, n, &e), 0);
		check_range(s, id, d, n, 0, n);
		/* A file shorter than the pack it claims to be. */
		unlink(path);
		write_file(path, o, 4000);
		e.code = ERR_OK;
		assert_int_equal(store_put_file_each(both, 1, other, path, o, 5000, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_int_equal(store_stat(s, other, NULL, &e), 0);
		assert_int_equal(b->leftovers(fix), 0);
		unlink(path);
		rmdir(dir);
		/* Where the store may not be able to take the file itself. */
		snprintf(path, sizeof(path), "/dev/shm/test_store_file.%d", (int)getpid());
		write_file(path, x, 4000);
		if (store_put_file_each(both, 1, far_id, path, x, 4000, &e) != 0)
			fail_msg("%s: put of a file elsewhere: %s", b->name, e.msg);
		check_range(s, far_id, x, 4000, 0, 4000);
		unlink(path);
		store_close(pair);
		free(d);
		free(o);
		free(x);
	}
}

/* The folder backend's own promise: what a crash mid-put left in tmp/ goes
 * at the next open, and a put another process has in progress stays. */
static void test_fs_open_removes_stale_puts(void **state)
{
	struct fs_fixture *f = fs_fixture_new();
	struct store *s = fs_open(f, 0);
	char stale[160], fresh[160];
	struct timespec t[2] = { { time(NULL) - 2 * 86400, 0 }, { time(NULL) - 2 * 86400, 0 } };
	FILE *fp;

	(void)state;
	store_close(s);
	snprintf(stale, sizeof(stale), "%s/s0/tmp/put-0123.abcdef", f->root);
	snprintf(fresh, sizeof(fresh), "%s/s0/tmp/put-4567.abcdef", f->root);
	assert_non_null(fp = fopen(stale, "w"));
	fclose(fp);
	assert_non_null(fp = fopen(fresh, "w"));
	fclose(fp);
	assert_int_equal(utimensat(AT_FDCWD, stale, t, 0), 0);
	s = fs_open(f, 0);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(fresh, F_OK), 0);
	store_close(s);
	fs_fixture_free(f);
}

/* A damaged file (cut short, or a flipped bit) is no reason to keep it: a
 * put of that pack again (the catalog forgot it as lost, or it waited for
 * deletion) replaces it with the whole bytes. */
static void test_fs_put_replaces_a_damaged_pack(void **state)
{
	struct fs_fixture *f = fs_fixture_new();
	struct store *s = fs_open(f, 0);
	char id[65], path[200];
	uint8_t *d = blob(300000, 9, id);
	uint64_t size;
	struct err e;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/s0/packs/%.2s/%s", f->root, id, id);
	for (int damage = 0; damage < 2; damage++) {
		assert_int_equal(store_put_mem(s, id, d, 300000, &e), 0);
		if (damage == 0) {
			assert_int_equal(truncate(path, 1000), 0);
		} else {
			assert_non_null(fp = fopen(path, "r+b"));
			assert_int_equal(fseek(fp, 150000, SEEK_SET), 0);
			assert_int_equal(fputc(d[150000] ^ 1, fp), d[150000] ^ 1);
			fclose(fp);
		}
		assert_int_equal(store_put_mem(s, id, d, 300000, &e), 0);
		assert_int_equal(store_stat(s, id, &size, &e), 1);
		assert_int_equal(size, 300000);
		check_range(s, id, d, 300000, 0, 300000);
	}
	free(d);
	store_close(s);
	fs_fixture_free(f);
}

/* A copy checks the bytes it carries: a source damaged in place (one bit
 * flipped, or cut short) is refused, and the destination keeps nothing. */
static void test_copy_refuses_a_damaged_source(void **state)
{
	struct fs_fixture *f = fs_fixture_new();
	struct store *s = fs_open(f, 0), *to = fs_open(f, 1);
	char id[65], path[200];
	size_t n = (5u << 20) / 2; /* several pieces */
	uint8_t *d = blob(n, 23, id);
	struct err e;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/s0/packs/%.2s/%s", f->root, id, id);
	assert_int_equal(store_put_mem(s, id, d, n, &e), 0);
	assert_non_null(fp = fopen(path, "r+b"));
	assert_int_equal(fseek(fp, (long)n - 10, SEEK_SET), 0);
	assert_int_equal(fputc(d[n - 10] ^ 1, fp), d[n - 10] ^ 1);
	fclose(fp);
	assert_int_equal(store_copy(s, to, id, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "damaged"));
	assert_int_equal(store_stat(to, id, NULL, &e), 0);
	/* Mended at the source, the copy goes through. */
	assert_int_equal(store_put_mem(s, id, d, n, &e), 0);
	assert_int_equal(store_copy(s, to, id, &e), 0);
	check_range(to, id, d, n, 0, n);
	free(d);
	store_close(s);
	store_close(to);
	fs_fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_stat_get_ranges),
		cmocka_unit_test(test_put_of_a_pack_already_there_keeps_it),
		cmocka_unit_test(test_absent_is_not_an_error_and_an_error_is_not_absent),
		cmocka_unit_test(test_list_and_remove),
		cmocka_unit_test(test_a_failed_put_leaves_nothing),
		cmocka_unit_test(test_a_failed_writer_stops_the_get),
		cmocka_unit_test(test_concurrent_puts_of_one_id),
		cmocka_unit_test(test_copy_and_whole_reads),
		cmocka_unit_test(test_copy_refuses_a_damaged_source),
		cmocka_unit_test(test_put_into_several_stores),
		cmocka_unit_test(test_put_of_a_local_file),
		cmocka_unit_test(test_fs_open_removes_stale_puts),
		cmocka_unit_test(test_fs_put_replaces_a_damaged_pack),
	};

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	if (s3_configured())
		printf("note: the S3 backend runs against %s\n", getenv("ARCA_S3_ENDPOINT"));
	else
		printf("note: the S3 backend is left out: ARCA_S3_ENDPOINT is not set "
		       "(scripts/run-tests starts a RADOS Gateway for it with scripts/rgw)\n");
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
