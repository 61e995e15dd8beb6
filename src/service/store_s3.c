/*
 * store_s3.c: the store contract (store.h) on the S3 API; see store_s3.h.
 *
 * Every call makes its own curl easy handle; what the calls share is the
 * configuration, read only after open, and a curl share handle that keeps
 * connections open between calls (libcurl takes its locks, ours, around
 * each use). URLs are path-style (ENDPOINT/BUCKET/KEY); libcurl signs each
 * request (CURLOPT_AWS_SIGV4) and uses the x-amz-content-sha256 header we
 * set as the payload hash, which the server checks against the body.
 *
 * How each call maps onto S3:
 * - stat: HEAD the object; 404 is absent, any other failure an error.
 * - get: GET with a Range; the answer's Content-Range must be the range
 *   asked (cut at the end of the object), and the bytes its length. 416 is
 *   a range at or past the end of an object that exists.
 * - put: HEAD first (a pack there with its size is kept: the server
 *   checked its hash when it was put). Up to multipart_above bytes: one
 *   PUT streamed from the reader, whose hash header is the id; the bytes
 *   are hashed as they go and the last ones are held back until the hash
 *   matches and the reader says it has ended. Larger: a multipart upload,
 *   each part read into memory, hashed, sent (and resent on a 5xx); the
 *   upload is completed only when all the bytes hash to the id, and
 *   aborted on any failure.
 * - list: ListObjectsV2 pages under the prefix, with continuation tokens.
 * - remove: DELETE (S3 answers 204 for an object not there too).
 *
 * Retries: a call that failed on the network or with a 5xx is tried again
 * after 0.1, 0.2, 0.4 ... s, when trying again is safe: HEAD, DELETE, list
 * pages, parts (their bytes are in memory), a GET from where it stopped, a
 * streamed PUT only when the reader has not been read yet.
 */
#include "store_s3.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>

#include "buf.h"

#define ANSWER_MAX (8u << 20)  /* bytes of an XML answer we keep */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PARTS_MAX 10000        /* S3's limit on the parts of an upload */

struct store_s3 {
	struct store base; /* first: a struct store * points here */
	/* Connections (and TLS sessions, DNS answers) kept between calls and
	 * shared by every thread's handles, under these locks. */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	int share_ready;
	char *endpoint, *bucket, *region, *prefix;
	char *userpwd;     /* "access:secret": wiped at close */
	char sigv4[160];   /* "aws:amz:<region>:s3" */
	uint64_t part_size, multipart_above;
	int retries;
};

static const struct store_ops s3_ops;

static struct store_s3 *s3_of(struct store *s)
{
	return (struct store_s3 *)s;
}

static int valid_id(const char *id)
{
	if (id == NULL || strlen(id) != 64)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static int check_id(const char *id, struct err *e)
{
	if (!valid_id(id))
		return err_set(e, ERR_INVALID, "not a pack id (64 lowercase hex digits): %.80s",
			       id ? id : "(null)");
	return 0;
}

/* ---- the server's XML answers ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_libs(void)
{
	xmlInitParser();
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* Parse LEN bytes of XML from the server: no network, no entity
 * expansion, libxml2's default limits, and no document type at all: S3
 * answers never have one, and its entities would be expanded when a
 * node's text is read (a billion laughs). NULL when it is not such XML. */
static xmlDocPtr parse_xml(const char *xml, size_t len)
{
	xmlDocPtr doc;

	pthread_once(&init_once, init_libs);
	if (xml == NULL || len == 0 || len > ANSWER_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The first child element of N called NAME, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

/* The text of element N as a new string (never NULL for an element: ""
 * when empty); NULL when out of memory. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *s = strdup(t ? (const char *)t : "");

	xmlFree(t);
	return s;
}

void store_s3_parse_error(const char *xml, size_t len, char *code, size_t cap)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, c;
	char *t;

	code[0] = 0;
	if (root && named(root, "Error") && (c = child(root, "Code")) && (t = text_of(c))) {
		/* Printable characters only: it goes into messages. */
		size_t j = 0;

		for (size_t i = 0; t[i] && j + 1 < cap && j < 64; i++)
			if (isalnum((unsigned char)t[i]) || t[i] == '.' || t[i] == '-' || t[i] == '_')
				code[j++] = t[i];
		code[j] = 0;
		free(t);
	}
	xmlFreeDoc(doc);
}

int store_s3_parse_list(const char *xml, size_t len, const char *prefix, store_list_fn fn,
			void *arg, char **next, struct err *e)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, c, t;
	size_t plen = strlen(prefix);
	char *s = NULL;
	int rc = -1, truncated;

	*next = NULL;
	if (root == NULL || !named(root, "ListBucketResult")) {
		err_set(e, ERR_CORRUPT, "the S3 listing is not a ListBucketResult");
		goto out;
	}
	if ((t = child(root, "IsTruncated")) == NULL || (s = text_of(t)) == NULL ||
	    (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)) {
		err_set(e, ERR_CORRUPT, "the S3 listing has no IsTruncated of true or false");
		goto out;
	}
	truncated = strcmp(s, "true") == 0;
	free(s);
	s = NULL;
	for (c = root->children; c; c = c->next) {
		if (!named(c, "Contents"))
			continue;
		if ((t = child(c, "Key")) == NULL) {
			err_set(e, ERR_CORRUPT, "the S3 listing has an entry without a Key");
			goto out;
		}
		if ((s = text_of(t)) == NULL) {
			err_oom(e);
			goto out;
		}
		/* Keys that are not packs (someone else's objects) are not ours. */
		if (strncmp(s, prefix, plen) == 0 && valid_id(s + plen) && fn(arg, s + plen, e) != 0)
			goto out;
		free(s);
		s = NULL;
	}
	if (truncated) {
		if ((t = child(root, "NextContinuationToken")) == NULL || (s = text_of(t)) == NULL ||
		    s[0] == 0 || strlen(s) > 4096) {
			err_set(e, ERR_CORRUPT, "the S3 listing is truncated without a continuation "
				"token");
			goto out;
		}
		*next = s;
		s = NULL;
	}
	rc = 0;
out:
	free(s);
	xmlFreeDoc(doc);
	return rc;
}

char *store_s3_parse_upload_id(const char *xml, size_t len, struct err *e)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, t;
	char *id = NULL;

	if (root == NULL || !named(root, "InitiateMultipartUploadResult") ||
	    (t = child(root, "UploadId")) == NULL) {
		err_set(e, ERR_CORRUPT, "the S3 answer to a multipart upload's start has no "
			"UploadId");
	} else if ((id = text_of(t)) == NULL) {
		err_oom(e);
	} else if (id[0] == 0 || strlen(id) > 1024) {
		err_set(e, ERR_CORRUPT, "the S3 answer to a multipart upload's start has an "
			"UploadId of %zu bytes", strlen(id));
		free(id);
		id = NULL;
	}
	xmlFreeDoc(doc);
	return id;
}

int store_s3_parse_complete(const char *xml, size_t len, struct err *e)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char code[80];
	int rc = 0;

	if (root && named(root, "Error")) {
		/* S3 may say 200 and then report the failure in the body. */
		store_s3_parse_error(xml, len, code, sizeof(code));
		rc = err_set(e, ERR_IO, "S3 failed to complete a multipart upload: %s",
			     code[0] ? code : "an error without a code");
	} else if (root == NULL || !named(root, "CompleteMultipartUploadResult")) {
		rc = err_set(e, ERR_CORRUPT, "the S3 answer to a multipart upload's completion is "
			     "not a CompleteMultipartUploadResult");
	}
	xmlFreeDoc(doc);
	return rc;
}

/* ---- one request ---- */

/* A request and what came back. The body to send is either MEM (MEM_LEN
 * bytes) or pulled through STREAM; the answer's body goes to OUT for a
 * GET of bytes, else into ANSWER (at most ANSWER_MAX bytes). */
struct call {
	const char *method;
	char url[16384];          /* a listing's continuation token may be long */
	const char *hash;         /* x-amz-content-sha256 */
	const char *range;        /* a Range header's value, or NULL */
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	curl_read_callback stream;
	void *stream_arg;
	uint64_t stream_len;
	/* GET of bytes: the answer's body goes through DELIVER when the
	 * status is 200 or 206. */
	int (*deliver)(void *arg, long status, const uint8_t *p, size_t n);
	void *deliver_arg;
	/* what came back */
	long status;
	struct buf answer;
	int answer_over;
	char etag[256];
	char content_range[128];
	curl_off_t length;        /* Content-Length, -1 when none */
	int callback_failed;      /* a callback stopped the transfer */
	CURLcode curl_rc;
	char curl_msg[CURL_ERROR_SIZE];
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n, k;
	const char *v;

	for (k = 0; k < len && p[k] != ':'; k++)
		;
	if (k == len)
		return len;
	v = p + k + 1;
	while (v < p + len && (*v == ' ' || *v == '\t'))
		v++;
	size_t vl = (size_t)(p + len - v);

	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	if (k == 4 && strncasecmp(p, "ETag", 4) == 0 && vl < sizeof(c->etag))
		snprintf(c->etag, sizeof(c->etag), "%.*s", (int)vl, v);
	else if (k == 13 && strncasecmp(p, "Content-Range", 13) == 0 && vl < sizeof(c->content_range))
		snprintf(c->content_range, sizeof(c->content_range), "%.*s", (int)vl, v);
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = (struct call *)((void **)arg)[0];
	CURL *h = ((void **)arg)[1];
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (c->deliver && (status == 200 || status == 206)) {
		if (c->deliver(c->deliver_arg, status, (const uint8_t *)p, len) != 0) {
			c->callback_failed = 1;
			return 0; /* stops the transfer: CURLE_WRITE_ERROR */
		}
		return len;
	}
	if (c->answer.len + len > ANSWER_MAX) {
		c->answer_over = 1;
		return len;
	}
	if (buf_append(&c->answer, p, len, NULL) != 0) {
		c->answer_over = 1;
		return len;
	}
	return len;
}

static size_t on_mem_read(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t k = size * n;

	if (k > c->mem_len - c->mem_pos)
		k = c->mem_len - c->mem_pos;
	memcpy(p, c->mem + c->mem_pos, k);
	c->mem_pos += k;
	return k;
}

/* A body in memory can be sent again from any point: libcurl asks when it
 * sends a request again itself (a kept connection found closed). */
static int on_mem_seek(void *arg, curl_off_t off, int origin)
{
	struct call *c = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > c->mem_len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->mem_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Whether a failed try of C may be tried again: a network failure or a
 * 5xx, not a callback's own failure. */
static int transient(const struct call *c)
{
	if (c->callback_failed)
		return 0;
	if (c->curl_rc != CURLE_OK)
		return c->curl_rc == CURLE_COULDNT_CONNECT || c->curl_rc == CURLE_OPERATION_TIMEDOUT ||
		       c->curl_rc == CURLE_SEND_ERROR || c->curl_rc == CURLE_RECV_ERROR ||
		       c->curl_rc == CURLE_GOT_NOTHING || c->curl_rc == CURLE_PARTIAL_FILE ||
		       c->curl_rc == CURLE_COULDNT_RESOLVE_HOST;
	return c->status >= 500 && c->status <= 599;
}

/* Run C once. 0 when an answer came (any status: C->status says which);
 * -1 when none did (C->curl_rc says why, or E for our own failures). */
static int perform(struct store_s3 *s, struct call *c, struct err *e)
{
	struct curl_slist *hdr = NULL, *h2;
	char line[300];
	void *cb[2];
	CURL *h;
	int rc = -1;

	pthread_once(&init_once, init_libs);
	if (init_rc != 0)
		return err_set(e, ERR_IO, "libcurl failed to initialise");
	buf_reset(&c->answer);
	c->answer_over = 0;
	c->status = 0;
	c->etag[0] = c->content_range[0] = 0;
	c->length = -1;
	c->callback_failed = 0;
	c->curl_rc = CURLE_OK;
	c->curl_msg[0] = 0;
	c->mem_pos = 0;
	if ((h = curl_easy_init()) == NULL)
		return err_oom(e);
	cb[0] = c;
	cb[1] = h;
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", c->hash ? c->hash : EMPTY_SHA256);
	if ((h2 = curl_slist_append(hdr, line)) == NULL)
		goto oom;
	hdr = h2;
	if (c->range) {
		snprintf(line, sizeof(line), "Range: %s", c->range);
		if ((h2 = curl_slist_append(hdr, line)) == NULL)
			goto oom;
		hdr = h2;
	}
	curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, cb);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_msg);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A server that stops sending or taking bytes for a minute is gone. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (c->stream) {
			curl_easy_setopt(h, CURLOPT_READFUNCTION, c->stream);
			curl_easy_setopt(h, CURLOPT_READDATA, c->stream_arg);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->stream_len);
		} else {
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_mem_read);
			curl_easy_setopt(h, CURLOPT_READDATA, c);
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_mem_seek);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->mem_len);
		}
	} else if (strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_mem_read);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_mem_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->mem_len);
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	c->curl_rc = curl_easy_perform(h);
	if (c->stream && c->curl_rc == CURLE_ABORTED_BY_CALLBACK)
		c->callback_failed = 1;
	if (c->curl_rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &c->length);
		rc = 0;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
oom:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return err_oom(e);
}

/* Describe a failed C in E: no answer, or an answer of an unexpected
 * status (with the server's error code). WHAT names the call. */
static int call_error(const struct call *c, const char *what, struct err *e)
{
	char code[80];

	if (e && e->code != ERR_OK && c->callback_failed)
		return -1; /* the callback's own error is already in E */
	if (c->status == 0)
		return err_set(e, ERR_IO, "%s: no answer from the S3 endpoint: %s", what,
			       c->curl_msg[0] ? c->curl_msg : curl_easy_strerror(c->curl_rc));
	store_s3_parse_error((const char *)c->answer.data, c->answer.len, code, sizeof(code));
	return err_set(e, c->status == 403 || c->status == 401 ? ERR_DENIED
			  : c->status == 404			  ? ERR_NOT_FOUND
			  : c->status == 400			  ? ERR_INVALID
								  : ERR_IO,
		       "%s: the S3 endpoint answered HTTP %ld%s%s%s", what, c->status,
		       code[0] ? " " : "", code,
		       c->status == 401 || c->status == 403
			       ? " (check the access key, the secret key, the signing region and "
				 "the bucket's policy)"
			       : "");
}

static void backoff(int attempt)
{
	long ms = 100L << (attempt < 6 ? attempt : 6);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Run C, again after a transient failure while RETRY says it may be (NULL:
 * always). 0 with C->status set, or -1 with E set (no answer at all). */
static int run(struct store_s3 *s, struct call *c, int (*retry)(struct call *c), const char *what,
	       struct err *e)
{
	for (int attempt = 0;; attempt++) {
		err_clear(e);
		int rc = perform(s, c, e);

		if (rc != 0 && c->curl_rc == CURLE_OK && !c->callback_failed)
			return -1; /* our own failure (memory) */
		if (!transient(c) || attempt >= s->retries || (retry && !retry(c)))
			return rc == 0 ? 0 : call_error(c, what, e);
		backoff(attempt);
	}
}

/* The URL of KEY (NULL: the bucket) with QUERY ("" or "a=b&c=d", in sorted
 * order and encoded, as SigV4 wants it). */
static int url_of(struct store_s3 *s, struct call *c, const char *id, const char *query,
		  struct err *e)
{
	int n = snprintf(c->url, sizeof(c->url), "%s/%s%s%s%s%s%s", s->endpoint, s->bucket,
			 id ? "/" : "", id ? s->prefix : "", id ? id : "", query[0] ? "?" : "",
			 query);

	if (n < 0 || (size_t)n >= sizeof(c->url))
		return err_set(e, ERR_TOO_LARGE, "an S3 URL is over %zu bytes", sizeof(c->url));
	return 0;
}

/* Percent-encode S for a query string value (RFC 3986 unreserved kept). */
static int query_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (j + 4 > cap)
			return -1;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[j++] = (char)ch;
		} else {
			out[j++] = '%';
			out[j++] = hex[ch >> 4];
			out[j++] = hex[ch & 15];
		}
	}
	out[j] = 0;
	return 0;
}

static void call_free(struct call *c)
{
	buf_free(&c->answer);
}

static int s3_stat(struct store *st, const char *id, uint64_t *size, struct err *e);

/* ---- get ---- */

struct get_state {
	struct store_writer *out;
	uint64_t off, len;    /* the range still wanted */
	uint64_t skip;        /* bytes of a 200 answer before OFF */
	uint64_t delivered;   /* bytes given to OUT */
	struct err *e;
};

static int deliver(void *arg, long status, const uint8_t *p, size_t n)
{
	struct get_state *g = arg;

	/* A 200 answer is the whole object (a server that ignored Range):
	 * its bytes before OFF and after the range are not the caller's. */
	if (status == 200 && g->skip) {
		size_t k = n < g->skip ? n : (size_t)g->skip;

		p += k;
		n -= k;
		g->skip -= k;
	}
	if (n > g->len - g->delivered)
		n = (size_t)(g->len - g->delivered);
	if (n == 0)
		return 0;
	if (g->out->write(g->out->arg, p, n, g->e) != 0)
		return -1;
	g->delivered += n;
	return 0;
}

/* Parse "bytes A-B/T" into its numbers. 0 or -1. */
static int parse_content_range(const char *v, uint64_t *a, uint64_t *b, uint64_t *t)
{
	unsigned long long x, y, z;
	int used = 0;

	if (sscanf(v, "bytes %llu-%llu/%llu%n", &x, &y, &z, &used) != 3 || v[used] != 0 || y < x ||
	    y >= z)
		return -1;
	*a = x;
	*b = y;
	*t = z;
	return 0;
}

static int s3_get(struct store *st, const char *id, uint64_t off, uint64_t len,
		  struct store_writer *out, struct err *e)
{
	struct store_s3 *s = s3_of(st);
	struct get_state g = { out, off, len, 0, 0, e };
	struct call c = { .method = "GET", .deliver = deliver, .deliver_arg = &g };
	char what[120], range[80];
	int rc = -1, st_rc;

	if (check_id(id, e) != 0)
		return -1;
	snprintf(what, sizeof(what), "get pack %.16s", id);
	if (len == 0) {
		/* No bytes to ask for; the pack must still be there. */
		if ((st_rc = s3_stat(st, id, NULL, e)) < 0)
			return -1;
		return st_rc ? 0 : err_set(e, ERR_NOT_FOUND, "pack %.16s is not in the store", id);
	}
	if (url_of(s, &c, id, "", e) != 0)
		return -1;
	c.range = range;
	for (int attempt = 0;; attempt++) {
		uint64_t from = off + g.delivered, last;

		/* The rest of the range: after a cut connection, from where it
		 * stopped. A range to the end of everything asks "from-". */
		if (len - g.delivered > UINT64_MAX - from)
			snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)from);
		else
			snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)from,
				 (unsigned long long)(from + (len - g.delivered) - 1));
		g.skip = from;
		uint64_t before = g.delivered;

		err_clear(e);
		if (perform(s, &c, e) != 0 && c.curl_rc == CURLE_OK && !c.callback_failed)
			goto out;
		if (c.curl_rc == CURLE_OK && c.status == 404) {
			err_set(e, ERR_NOT_FOUND, "pack %.16s is not in the store", id);
			goto out;
		}
		if (c.curl_rc == CURLE_OK && c.status == 416) {
			/* The range starts at or past the end: nothing (more). */
			rc = 0;
			goto out;
		}
		if (c.curl_rc == CURLE_OK && c.status == 206) {
			uint64_t a, b, t;

			if (parse_content_range(c.content_range, &a, &b, &t) != 0 || a != from) {
				err_set(e, ERR_CORRUPT, "%s: the S3 endpoint answered the range %s "
					"with Content-Range \"%s\"", what, range, c.content_range);
				goto out;
			}
			last = len - before > t - from ? t - 1 : from + (len - before) - 1;
			if (b != last || g.delivered - before != b - a + 1) {
				err_set(e, ERR_CORRUPT, "%s: the S3 endpoint sent %llu bytes for "
					"the range %llu-%llu of %llu", what,
					(unsigned long long)(g.delivered - before),
					(unsigned long long)a, (unsigned long long)last,
					(unsigned long long)t);
				goto out;
			}
			rc = 0;
			goto out;
		}
		if (c.curl_rc == CURLE_OK && c.status == 200) {
			/* The whole object came: what the range wanted of it. */
			rc = 0;
			goto out;
		}
		if (!transient(&c) || attempt >= s->retries) {
			call_error(&c, what, e);
			goto out;
		}
		backoff(attempt);
	}
out:
	call_free(&c);
	return rc;
}

/* ---- stat ---- */

static int s3_stat(struct store *st, const char *id, uint64_t *size, struct err *e)
{
	struct store_s3 *s = s3_of(st);
	struct call c = { .method = "HEAD" };
	char what[120];
	int rc = -1;

	if (check_id(id, e) != 0)
		return -1;
	snprintf(what, sizeof(what), "stat pack %.16s", id);
	if (url_of(s, &c, id, "", e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status == 404) {
		rc = 0;
	} else if (c.status == 200 && c.length >= 0) {
		if (size)
			*size = (uint64_t)c.length;
		rc = 1;
	} else if (c.status == 200) {
		err_set(e, ERR_CORRUPT, "%s: the S3 endpoint answered without a length", what);
	} else {
		call_error(&c, what, e);
	}
out:
	call_free(&c);
	return rc;
}

/* ---- put ---- */

/* The reader of a streamed PUT: counts, hashes, and holds back the last
 * bytes until the reader has ended and they hash to the id. */
struct stream {
	struct store_reader *body;
	const char *id;
	uint64_t size, sent;
	crypto_hash_sha256_state sha;
	int failed;
	struct err err;
};

/* After SIZE bytes: the reader must have ended and the bytes be the pack. */
static int stream_end(struct stream *p)
{
	uint8_t one, md[32];
	char hex[65];
	size_t got = 0;

	if (p->body->read(p->body->arg, &one, 1, &got, &p->err) != 0)
		return -1;
	if (got != 0)
		return err_set(&p->err, ERR_INVALID, "pack %.16s: the body runs past its %llu "
			       "bytes", p->id, (unsigned long long)p->size);
	crypto_hash_sha256_final(&p->sha, md);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, p->id) != 0)
		return err_set(&p->err, ERR_INVALID, "pack %.16s: its bytes hash to %.16s, not to "
			       "its id", p->id, hex);
	return 0;
}

static size_t stream_read(char *buf, size_t size, size_t n, void *arg)
{
	struct stream *p = arg;
	size_t cap = size * n, got = 0;

	if (p->failed)
		return CURL_READFUNC_ABORT;
	if (p->sent == p->size)
		return 0;
	if (cap > p->size - p->sent)
		cap = (size_t)(p->size - p->sent);
	if (p->body->read(p->body->arg, (uint8_t *)buf, cap, &got, &p->err) != 0)
		goto fail;
	if (got == 0 || got > cap) {
		err_set(&p->err, ERR_INVALID, "pack %.16s: the body ends after %llu of its %llu "
			"bytes", p->id, (unsigned long long)p->sent, (unsigned long long)p->size);
		goto fail;
	}
	crypto_hash_sha256_update(&p->sha, (const uint8_t *)buf, got);
	p->sent += got;
	if (p->sent == p->size && stream_end(p) != 0)
		goto fail;
	return got;
fail:
	p->failed = 1;
	return CURL_READFUNC_ABORT;
}

static int stream_untouched(struct call *c)
{
	return ((struct stream *)c->stream_arg)->sent == 0;
}

static int put_single(struct store_s3 *s, const char *id, uint64_t size,
		      struct store_reader *body, struct err *e)
{
	struct stream p = { .body = body, .id = id, .size = size };
	struct call c = { .method = "PUT", .hash = id, .stream = stream_read, .stream_arg = &p,
			  .stream_len = size };
	char what[120];
	int rc = -1;

	snprintf(what, sizeof(what), "put pack %.16s", id);
	crypto_hash_sha256_init(&p.sha);
	err_clear(&p.err);
	if (size == 0 && stream_end(&p) != 0) {
		*e = p.err;
		return -1;
	}
	if (url_of(s, &c, id, "", e) != 0)
		return -1;
	if (run(s, &c, stream_untouched, what, e) != 0) {
		if (p.failed)
			*e = p.err;
		goto out;
	}
	if (p.failed) {
		*e = p.err;
		goto out;
	}
	if (c.status != 200) {
		call_error(&c, what, e);
		goto out;
	}
	rc = 0;
out:
	call_free(&c);
	return rc;
}

/* Abort the multipart upload UPLOAD of ID: its parts go. Best effort: the
 * put fails anyway, and a bucket lifecycle rule can clear what is left. */
static void abort_upload(struct store_s3 *s, const char *id, const char *upload)
{
	struct call c = { .method = "DELETE" };
	char q[1200], enc[1100];
	struct err e;

	if (query_encode(upload, enc, sizeof(enc)) == 0 &&
	    snprintf(q, sizeof(q), "uploadId=%s", enc) < (int)sizeof(q) &&
	    url_of(s, &c, id, q, &e) == 0)
		run(s, &c, NULL, "abort a multipart upload", &e);
	call_free(&c);
}

static int put_multipart(struct store_s3 *s, const char *id, uint64_t size,
			 struct store_reader *body, struct err *e)
{
	struct call c = { .method = "POST" };
	struct buf done = BUF_INIT;
	crypto_hash_sha256_state whole;
	uint8_t *part = NULL, md[32];
	char what[120], q[1300], enc[1100], hex[65], *upload = NULL;
	uint64_t put = 0;
	unsigned nparts = 0;
	int rc = -1;

	snprintf(what, sizeof(what), "put pack %.16s", id);
	if ((size + s->part_size - 1) / s->part_size > PARTS_MAX)
		return err_set(e, ERR_TOO_LARGE, "pack %.16s: %llu bytes need more than %d parts of "
			       "%llu bytes", id, (unsigned long long)size, PARTS_MAX,
			       (unsigned long long)s->part_size);
	if ((part = malloc(s->part_size)) == NULL)
		return err_oom(e);
	crypto_hash_sha256_init(&whole);
	/* Start: the answer names the upload. */
	if (url_of(s, &c, id, "uploads=", e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status != 200) {
		call_error(&c, what, e);
		goto out;
	}
	if ((upload = store_s3_parse_upload_id((const char *)c.answer.data, c.answer.len, e)) == NULL ||
	    query_encode(upload, enc, sizeof(enc)) != 0) {
		if (upload)
			err_set(e, ERR_TOO_LARGE, "an S3 UploadId is too long");
		free(upload);
		upload = NULL;
		goto out;
	}
	if (buf_append(&done, "<CompleteMultipartUpload>", 25, e) != 0)
		goto out;
	/* Each part: read whole into memory, hashed, sent. */
	while (put < size) {
		size_t want = size - put < s->part_size ? (size_t)(size - put) : (size_t)s->part_size;
		size_t have = 0, got;

		while (have < want) {
			if (body->read(body->arg, part + have, want - have, &got, e) != 0)
				goto out;
			if (got == 0 || got > want - have) {
				err_set(e, ERR_INVALID, "pack %.16s: the body ends after %llu of its "
					"%llu bytes", id, (unsigned long long)(put + have),
					(unsigned long long)size);
				goto out;
			}
			have += got;
		}
		crypto_hash_sha256_update(&whole, part, want);
		crypto_hash_sha256(md, part, want);
		sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
		nparts++;
		call_free(&c);
		c = (struct call){ .method = "PUT", .hash = hex, .mem = part, .mem_len = want };
		snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", nparts, enc);
		if (url_of(s, &c, id, q, e) != 0 || run(s, &c, NULL, what, e) != 0)
			goto out;
		if (c.status != 200 || c.etag[0] == 0 || strchr(c.etag, '<') || strchr(c.etag, '&')) {
			if (c.status == 200)
				err_set(e, ERR_CORRUPT, "%s: the S3 endpoint answered part %u without "
					"a usable ETag", what, nparts);
			else
				call_error(&c, what, e);
			goto out;
		}
		char entry[400];
		int n = snprintf(entry, sizeof(entry),
				 "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", nparts,
				 c.etag);

		if (buf_append(&done, entry, (size_t)n, e) != 0)
			goto out;
		put += want;
	}
	/* The reader must have ended, and the bytes be the pack. */
	{
		uint8_t one;
		size_t got = 0;

		if (body->read(body->arg, &one, 1, &got, e) != 0)
			goto out;
		if (got != 0) {
			err_set(e, ERR_INVALID, "pack %.16s: the body runs past its %llu bytes", id,
				(unsigned long long)size);
			goto out;
		}
	}
	crypto_hash_sha256_final(&whole, md);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, id) != 0) {
		err_set(e, ERR_INVALID, "pack %.16s: its bytes hash to %.16s, not to its id", id, hex);
		goto out;
	}
	if (buf_append(&done, "</CompleteMultipartUpload>", 26, e) != 0)
		goto out;
	/* Complete: the object appears whole now. */
	crypto_hash_sha256(md, done.data, done.len);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	call_free(&c);
	c = (struct call){ .method = "POST", .hash = hex, .mem = done.data, .mem_len = done.len };
	snprintf(q, sizeof(q), "uploadId=%s", enc);
	if (url_of(s, &c, id, q, e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status != 200) {
		/* A completion retried after one that worked finds no upload:
		 * the pack tells whether it is there whole. */
		uint64_t have;

		if (c.status == 404 && s3_stat(&s->base, id, &have, e) == 1 && have == size) {
			rc = 0;
			free(upload);
			upload = NULL;
			goto out;
		}
		call_error(&c, what, e);
		goto out;
	}
	if (store_s3_parse_complete((const char *)c.answer.data, c.answer.len, e) != 0)
		goto out;
	free(upload);
	upload = NULL;
	rc = 0;
out:
	if (upload) {
		abort_upload(s, id, upload);
		free(upload);
	}
	call_free(&c);
	buf_free(&done);
	free(part);
	return rc;
}

static int s3_put(struct store *st, const char *id, uint64_t size, struct store_reader *body,
		  struct err *e)
{
	struct store_s3 *s = s3_of(st);
	uint64_t have;
	int w;

	if (check_id(id, e) != 0)
		return -1;
	/* Content-addressed: an object of that size under the id is the pack
	 * (the server checked its hash when it took it). */
	if ((w = s3_stat(st, id, &have, e)) < 0)
		return -1;
	if (w == 1 && have == size)
		return 0;
	if (size > s->multipart_above)
		return put_multipart(s, id, size, body, e);
	return put_single(s, id, size, body, e);
}

/* ---- list, remove ---- */

static int s3_list(struct store *st, store_list_fn fn, void *arg, struct err *e)
{
	struct store_s3 *s = s3_of(st);
	char *token = NULL, *next = NULL, q[13000], enc_prefix[620], enc_token[12300];
	int rc = -1;

	if (query_encode(s->prefix, enc_prefix, sizeof(enc_prefix)) != 0)
		return err_set(e, ERR_TOO_LARGE, "the S3 key prefix is too long");
	for (;;) {
		struct call c = { .method = "GET" };

		if (token) {
			if (query_encode(token, enc_token, sizeof(enc_token)) != 0) {
				err_set(e, ERR_CORRUPT, "an S3 continuation token is too long");
				goto out;
			}
			snprintf(q, sizeof(q), "continuation-token=%s&list-type=2&prefix=%s",
				 enc_token, enc_prefix);
		} else {
			snprintf(q, sizeof(q), "list-type=2&prefix=%s", enc_prefix);
		}
		if (url_of(s, &c, NULL, q, e) != 0 || run(s, &c, NULL, "list packs", e) != 0) {
			call_free(&c);
			goto out;
		}
		if (c.status != 200 || c.answer_over) {
			if (c.status == 200)
				err_set(e, ERR_TOO_LARGE, "list packs: an S3 listing page is over %u "
					"bytes", ANSWER_MAX);
			else
				call_error(&c, "list packs", e);
			call_free(&c);
			goto out;
		}
		rc = store_s3_parse_list((const char *)c.answer.data, c.answer.len, s->prefix, fn,
					 arg, &next, e);
		call_free(&c);
		if (rc != 0)
			goto out;
		rc = -1;
		if (next == NULL)
			break;
		if (token && strcmp(token, next) == 0) {
			err_set(e, ERR_CORRUPT, "list packs: the S3 endpoint gave the same "
				"continuation token twice");
			goto out;
		}
		free(token);
		token = next;
		next = NULL;
	}
	rc = 0;
out:
	free(token);
	free(next);
	return rc;
}

static int s3_remove(struct store *st, const char *id, struct err *e)
{
	struct store_s3 *s = s3_of(st);
	struct call c = { .method = "DELETE" };
	char what[120];
	int rc = -1;

	if (check_id(id, e) != 0)
		return -1;
	snprintf(what, sizeof(what), "remove pack %.16s", id);
	if (url_of(s, &c, id, "", e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status != 204 && c.status != 200 && c.status != 404) {
		call_error(&c, what, e);
		goto out;
	}
	rc = 0;
out:
	call_free(&c);
	return rc;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct store_s3 *s = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct store_s3 *s = arg;

	(void)h;
	pthread_mutex_unlock(&s->locks[data]);
}

static void s3_close(struct store *st)
{
	struct store_s3 *s = s3_of(st);

	if (s->share)
		curl_share_cleanup(s->share);
	if (s->share_ready)
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&s->locks[i]);

	if (s->userpwd) {
		sodium_memzero(s->userpwd, strlen(s->userpwd));
		free(s->userpwd);
	}
	free(s->endpoint);
	free(s->bucket);
	free(s->region);
	free(s->prefix);
	free(s);
}

static const struct store_ops s3_ops = {
	.name = "s3",
	.put = s3_put,
	.get = s3_get,
	.stat = s3_stat,
	.list = s3_list,
	.adopt = NULL, /* an object store cannot take a local file as it is */
	.remove = s3_remove,
	.close = s3_close,
};

/* ---- open ---- */

static int valid_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
		return 0;
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') || *b == '.' || *b == '-'))
			return 0;
	return 1;
}

static int valid_prefix(const char *p)
{
	if (strlen(p) > 200)
		return 0;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '/' && *p != '-' && *p != '_' && *p != '.')
			return 0;
	return 1;
}

static int valid_region(const char *r)
{
	if (r[0] == 0 || strlen(r) > 64)
		return 0;
	for (; *r; r++)
		if (!isalnum((unsigned char)*r) && *r != '-' && *r != '_')
			return 0;
	return 1;
}

static int valid_endpoint(const char *u)
{
	const char *h;

	if (strncmp(u, "http://", 7) == 0)
		h = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		h = u + 8;
	else
		return 0;
	if (h[0] == 0 || strlen(u) > 300)
		return 0;
	for (; *h; h++)
		if (*h == '/' || *h == '?' || *h == '#' || *h == '@' || *h <= ' ' || *h > '~')
			return 0;
	return 1;
}

/* Make the bucket unless it exists. */
static int ensure_bucket(struct store_s3 *s, struct err *e)
{
	struct call c = { .method = "HEAD" };
	char what[160];
	int rc = -1;

	snprintf(what, sizeof(what), "open bucket %s at %s", s->bucket, s->endpoint);
	if (url_of(s, &c, NULL, "", e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status == 200) {
		rc = 0;
		goto out;
	}
	if (c.status != 404) {
		call_error(&c, what, e);
		goto out;
	}
	call_free(&c);
	c = (struct call){ .method = "PUT", .mem = (const uint8_t *)"", .mem_len = 0 };
	snprintf(what, sizeof(what), "create bucket %s at %s", s->bucket, s->endpoint);
	if (url_of(s, &c, NULL, "", e) != 0 || run(s, &c, NULL, what, e) != 0)
		goto out;
	if (c.status != 200 && c.status != 409) {
		call_error(&c, what, e);
		goto out;
	}
	rc = 0;
out:
	call_free(&c);
	return rc;
}

struct store *store_s3_open(const struct store_s3_config *cf, struct err *e)
{
	struct store_s3 *s;
	const char *prefix = cf->prefix ? cf->prefix : STORE_S3_PREFIX;
	size_t n;

	if (cf->endpoint == NULL || !valid_endpoint(cf->endpoint)) {
		err_set(e, ERR_INVALID, "the S3 endpoint must be http://HOST[:PORT] or "
			"https://HOST[:PORT], without a path: %.100s",
			cf->endpoint ? cf->endpoint : "(none)");
		return NULL;
	}
	if (cf->bucket == NULL || !valid_bucket(cf->bucket)) {
		err_set(e, ERR_INVALID, "the S3 bucket name must be 3 to 63 of a-z, 0-9, '.' and "
			"'-': %.100s", cf->bucket ? cf->bucket : "(none)");
		return NULL;
	}
	if (cf->region == NULL || !valid_region(cf->region)) {
		err_set(e, ERR_INVALID, "the S3 region must be a name of letters, digits, '-' and "
			"'_' (\"default\" on Ceph's RADOS Gateway): %.100s",
			cf->region ? cf->region : "(none)");
		return NULL;
	}
	if (cf->access_key == NULL || cf->access_key[0] == 0 || strchr(cf->access_key, ':') ||
	    cf->secret_key == NULL || cf->secret_key[0] == 0) {
		err_set(e, ERR_INVALID, "the S3 store needs an access key (without ':') and a "
			"secret key");
		return NULL;
	}
	if (!valid_prefix(prefix)) {
		err_set(e, ERR_INVALID, "the S3 key prefix may hold only letters, digits, '/', "
			"'-', '_' and '.' (200 at most): %.100s", prefix);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_oom(e);
		return NULL;
	}
	s->base.ops = &s3_ops;
	s->part_size = cf->part_size ? cf->part_size : STORE_S3_PART_SIZE;
	s->multipart_above = cf->multipart_above ? cf->multipart_above : STORE_S3_MULTIPART_ABOVE;
	s->retries = cf->retries < 0 ? 4 : cf->retries;
	if (s->part_size > (1ull << 30) || s->multipart_above < s->part_size) {
		err_set(e, ERR_INVALID, "the S3 part size must be at most 1 GiB and at most the "
			"size above which packs go up in parts");
		s3_close(&s->base);
		return NULL;
	}
	n = strlen(cf->access_key) + strlen(cf->secret_key) + 2;
	s->endpoint = strdup(cf->endpoint);
	s->bucket = strdup(cf->bucket);
	s->region = strdup(cf->region);
	s->prefix = strdup(prefix);
	s->userpwd = malloc(n);
	if (!s->endpoint || !s->bucket || !s->region || !s->prefix || !s->userpwd) {
		err_oom(e);
		s3_close(&s->base);
		return NULL;
	}
	snprintf(s->userpwd, n, "%s:%s", cf->access_key, cf->secret_key);
	pthread_once(&init_once, init_libs);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	s->share_ready = 1;
	if (init_rc != 0 || (s->share = curl_share_init()) == NULL ||
	    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		err_set(e, ERR_IO, "libcurl could not make a share handle for the S3 store");
		s3_close(&s->base);
		return NULL;
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
	if (ensure_bucket(s, e) != 0) {
		s3_close(&s->base);
		return NULL;
	}
	return &s->base;
}
