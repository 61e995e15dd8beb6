/*
 * client.c: requests to arcad over libcurl, signed by the machine key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "client.h"
#include "reply.h"
#include "state.h"

struct client {
	CURL *curl;
	char *url;
	char machine_id[64];
	EVP_PKEY *key;
	int proxy_auth; /* a proxy with a user name is set */
	json_t *last_error;
};

static int curl_ready;

#define CLIENT_EXPECT_MIN (1u << 20) /* bodies from this size wait for 100 Continue */
#define CLIENT_TRIES 6               /* tries of a request that may be sent again */
#define CLIENT_BACKOFF_MS 250        /* wait before the second try, doubled each time */
#define CLIENT_BACKOFF_MAX_MS 4000

/* Why a cap on answers: the service is not trusted with the agent's memory.
 * The largest JSON answer of the API is a locate of 4096 objects (about
 * 0.7 MiB); an answer past the cap is cut off and refused, so a service
 * that streams without end, or declares a huge length, costs at most this
 * much, and what parsing it takes (JSON of empty objects, the costliest
 * per byte: about 170 MiB). A pack range is capped at the length asked for
 * (client_call_max). */
#define CLIENT_ANSWER_MAX (2u << 20)

/* Where an answer's bytes go: OUT, up to MAX for a 2xx answer and
 * CLIENT_ANSWER_MAX for an error's; OVER is set when more came. */
struct sink {
	CURL *curl;
	struct buf *out;
	size_t max;
	int over;
};

struct client *client_new(const struct client_opts *o, struct err *e)
{
	struct client *c;
	struct curl_blob ca;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			err_set(e, ERR_IO, "cannot start libcurl");
			return NULL;
		}
		curl_ready = 1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->url = strdup(o->url)) == NULL ||
	    (c->curl = curl_easy_init()) == NULL) {
		if (c)
			free(c->url);
		free(c);
		err_oom(e);
		return NULL;
	}
	/* Trust only the service's own anchor, never the system's store. */
	ca.data = (void *)o->ca_pem;
	ca.len = strlen(o->ca_pem);
	ca.flags = CURL_BLOB_COPY;
	curl_easy_setopt(c->curl, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	/* An empty proxy turns off the environment's proxy variables: the
	 * agent goes through a proxy only when told to. */
	curl_easy_setopt(c->curl, CURLOPT_PROXY, o->proxy ? o->proxy : "");
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "");
	if (o->proxy && o->proxy_user) {
		c->proxy_auth = 1;
		curl_easy_setopt(c->curl, CURLOPT_PROXYUSERNAME, o->proxy_user);
		curl_easy_setopt(c->curl, CURLOPT_PROXYPASSWORD,
				 o->proxy_pass ? o->proxy_pass : "");
		curl_easy_setopt(c->curl, CURLOPT_PROXYAUTH, (long)CURLAUTH_ANY);
	}
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https,http");
	return c;
}

void client_free(struct client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	json_decref(c->last_error);
	free(c->url);
	free(c);
}

void client_set_machine(struct client *c, const char *machine_id, EVP_PKEY *key)
{
	snprintf(c->machine_id, sizeof(c->machine_id), "%s", machine_id);
	c->key = key;
}

void client_set_rate(struct client *c, uint64_t rate)
{
	curl_easy_setopt(c->curl, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)rate);
}

void client_sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t h[32];

	SHA256(data, len, h);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

int client_sign_b64(EVP_PKEY *key, const void *msg, size_t len, struct buf *out,
		    struct err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *alg = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
	uint8_t sig[256];
	size_t siglen = sizeof(sig), b64len;
	char *p;

	if (md == NULL || EVP_DigestSignInit(md, NULL, alg, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, msg, len) != 1) {
		EVP_MD_CTX_free(md);
		return err_set(e, ERR_CRYPTO, "cannot sign with the machine key");
	}
	EVP_MD_CTX_free(md);
	b64len = sodium_base64_ENCODED_LEN(siglen, sodium_base64_VARIANT_ORIGINAL);
	if ((p = (char *)buf_extend(out, b64len, e)) == NULL)
		return -1;
	sodium_bin2base64(p, b64len, sig, siglen, sodium_base64_VARIANT_ORIGINAL);
	out->len -= 1; /* keep the NUL past the length */
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *k = arg;
	size_t m = size * n, max = k->max;
	long st = 0;

	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &st);
	if (st < 200 || st > 299)
		max = CLIENT_ANSWER_MAX;
	if (k->out->len > max || m > max - k->out->len) { /* stop: curl reports a write error */
		k->over = 1;
		return 0;
	}
	return buf_append(k->out, p, m, NULL) == 0 ? m : 0;
}

/* Turn a service's error answer into E (and keep its "error" in C). */
static int service_error(struct client *c, const struct buf *body, long status, struct err *e)
{
	json_decref(c->last_error);
	return reply_error(body->data, body->len, status, &c->last_error, e);
}

static int add_header(struct curl_slist **l, const char *fmt, const char *v)
{
	char line[512];
	struct curl_slist *n;

	snprintf(line, sizeof(line), fmt, v);
	if ((n = curl_slist_append(*l, line)) == NULL)
		return -1;
	*l = n;
	return 0;
}

/* The signing headers of docs/API.md (arca-request-v2): the signature
 * covers the body's length and SHA-256, which travel in headers too, so the
 * service can check it before it stores any byte of the body. */
static int sign_headers(struct client *c, const char *method, const char *path,
			const void *body, size_t len, const char *sha, struct curl_slist **l,
			struct err *e)
{
	char t[24], nonce_hex[33], hash[65], length[24];
	uint8_t nonce[16];
	struct buf msg = BUF_INIT, sig = BUF_INIT;
	int rc = -1;

	snprintf(t, sizeof(t), "%lld", (long long)state_now());
	snprintf(length, sizeof(length), "%zu", len);
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
	if (sha)
		memcpy(hash, sha, sizeof(hash));
	else
		client_sha256_hex(len ? body : "", len, hash);
	if (buf_append(&msg, "arca-request-v2\n", 16, e) || buf_append(&msg, method, strlen(method), e) ||
	    buf_append(&msg, "\n/api/v1", 8, e) || buf_append(&msg, path, strlen(path), e) ||
	    buf_append(&msg, "\n", 1, e) || buf_append(&msg, t, strlen(t), e) ||
	    buf_append(&msg, "\n", 1, e) || buf_append(&msg, nonce_hex, 32, e) ||
	    buf_append(&msg, "\n", 1, e) || buf_append(&msg, length, strlen(length), e) ||
	    buf_append(&msg, "\n", 1, e) || buf_append(&msg, hash, 64, e) ||
	    buf_append(&msg, "\n", 1, e))
		goto out;
	if (client_sign_b64(c->key, msg.data, msg.len, &sig, e))
		goto out;
	if (add_header(l, "X-Arca-Machine: %s", c->machine_id) ||
	    add_header(l, "X-Arca-Time: %s", t) || add_header(l, "X-Arca-Nonce: %s", nonce_hex) ||
	    add_header(l, "X-Arca-Content-SHA256: %s", hash) ||
	    add_header(l, "X-Arca-Signature: %s", (const char *)sig.data)) {
		err_oom(e);
		goto out;
	}
	rc = 0;
out:
	buf_free(&msg);
	buf_free(&sig);
	return rc;
}

/* One try of a request; *CUT set when the connection failed (no answer,
 * or one cut short), as against an answer that said no. */
static int request_once(struct client *c, const char *method, const char *path,
			const char *ctype, const void *body, size_t len, const char *sha,
			const char *const *headers, size_t max, struct buf *out, long *status,
			int *cut, struct err *e)
{
	struct sink sink = { c->curl, out, max, 0 };
	struct curl_slist *l = NULL;
	char url[1024];
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	long st = 0, connect = 0;
	int rc = -1;

	*status = 0;
	buf_reset(out);
	json_decref(c->last_error);
	c->last_error = NULL;
	snprintf(url, sizeof(url), "%s/api/v1%s", c->url, path);
	/* Why 100-continue for large bodies: the service admits an upload by
	 * its signed headers before it reads the body, and a refusal (its
	 * bounds on uploads in flight) then costs no bytes and reads as
	 * itself, not as a connection cut in the middle of the body. */
	if (add_header(&l, "%s", len >= CLIENT_EXPECT_MIN ? "Expect: 100-continue" : "Expect:") ||
	    (ctype && add_header(&l, "Content-Type: %s", ctype))) {
		err_oom(e);
		goto out;
	}
	for (size_t i = 0; headers && headers[i]; i++)
		if (add_header(&l, "%s", headers[i])) {
			err_oom(e);
			goto out;
		}
	if (c->key && sign_headers(c, method, path, body, len, sha, &l, e))
		goto out;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, len ? body : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
				 strcmp(method, "POST") == 0 ? NULL : method);
	}
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_getinfo(c->curl, CURLINFO_HTTP_CONNECTCODE, &connect);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	/* 407 is the standard answer; some proxies (tinyproxy) answer a
	 * CONNECT with 401. */
	if (connect == 407 || st == 407 || (c->proxy_auth && connect == 401)) {
		err_set(e, ERR_DENIED, "the proxy refused the user name or password (HTTP 407): "
				       "check them with 'arca properties' and retry");
		goto out;
	}
	/* An answer too long is the service's doing, not the network's: no
	 * second try. */
	if (sink.over) {
		err_set(e, ERR_CORRUPT, "the service's answer to %s %s is longer than the %zu bytes "
			"it can be (HTTP %ld); refused", method, path, st >= 200 && st <= 299 ? max
			: (size_t)CLIENT_ANSWER_MAX, st);
		goto out;
	}
	if (cc != CURLE_OK) {
		*cut = 1;
		err_set(e, ERR_IO, "cannot reach the service at %s: %s", c->url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	/* Every answer of the service that says yes carries a body (JSON, or
	 * the bytes of a range): an empty one is an answer lost on the way
	 * (a connection cut where a proxy or relay could not tell), so it
	 * reads as a failed connection, never as an empty answer. */
	if (st >= 200 && st <= 299 && out->len == 0 && strcmp(method, "HEAD") != 0) {
		*cut = 1;
		err_set(e, ERR_IO, "the service's answer to %s %s arrived empty; the connection "
				   "to %s failed", method, path, c->url);
		goto out;
	}
	*status = st;
	if (st < 200 || st > 299) {
		service_error(c, out, st, e);
		/* libcurl sends a request again by itself, same nonce and all,
		 * when a kept-alive connection died before any byte of the
		 * answer; a replay refusal then means the first copy reached
		 * the service and its answer was lost: a failed connection. */
		if (st == 401 && c->last_error &&
		    strcmp(json_string_value(json_object_get(c->last_error, "code")) ?: "",
			   "replay") == 0) {
			*status = 0;
			*cut = 1;
			err_set(e, ERR_IO, "the connection to the service at %s failed after the "
					   "request reached it", c->url);
		}
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(l);
	return rc;
}

/* Whether sending METHOD PATH twice does what sending it once does, so a
 * request whose connection failed may be sent again without asking: reads,
 * a pack (its id is its hash: a second put answers "already stored"), the
 * questions about objects and packs, and the lease's renewal and release. Never a
 * commit (POST /recovery-points: the caller checks whether the first one
 * landed, backup.c), a registration, a job, a certificate or a change. A
 * lease begun twice leaves one unused lease, which only ends later. */
static int idempotent(const char *method, const char *path)
{
	static const char *const posts[] = { "/objects/missing", "/objects/locate",
					     "/packs/present", "/recovery-points/begin" };

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return 1;
	if (strcmp(method, "PUT") == 0)
		return strncmp(path, "/packs/", 7) == 0;
	if (strcmp(method, "DELETE") == 0)
		return strncmp(path, "/recovery-points/lease/", 23) == 0;
	if (strcmp(method, "POST") != 0)
		return 0;
	if (strncmp(path, "/recovery-points/lease/", 23) == 0)
		return strlen(path) > 6 && strcmp(path + strlen(path) - 6, "/renew") == 0;
	for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
		if (strcmp(path, posts[i]) == 0)
			return 1;
	return 0;
}

/* A request, sent again after a failed connection (a service restarting, a
 * proxy or a network that cut it) when it is idempotent: up to CLIENT_TRIES
 * tries, waiting 0.25 s, then twice as long each time (at most 4 s). Each
 * try is signed anew, with a fresh nonce: the service refuses a nonce seen
 * before, even on a request it never answered. Each retry is told on
 * stderr, so a person (and a test) sees the network's trouble. */
static int request(struct client *c, const char *method, const char *path, const char *ctype,
		   const void *body, size_t len, const char *sha, const char *const *headers,
		   size_t max, struct buf *out, long *status, struct err *e)
{
	long wait_ms = CLIENT_BACKOFF_MS;
	int tries = idempotent(method, path) ? CLIENT_TRIES : 1;
	struct err tmp;

	if (e == NULL)
		e = &tmp;

	for (int i = 1;; i++) {
		int cut = 0;
		struct timespec ts;

		if (request_once(c, method, path, ctype, body, len, sha, headers, max, out, status,
				 &cut, e) == 0)
			return 0;
		if (!cut || i >= tries)
			return -1;
		fprintf(stderr, "arca: %s %s: %s; trying again in %ld ms (try %d of %d)\n", method,
			path, e->msg, wait_ms, i + 1, tries);
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		wait_ms = wait_ms * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS : wait_ms * 2;
	}
}

int client_call(struct client *c, const char *method, const char *path, const char *ctype,
		const void *body, size_t len, const char *const *headers, struct buf *out,
		long *status, struct err *e)
{
	return request(c, method, path, ctype, body, len, NULL, headers, CLIENT_ANSWER_MAX, out,
		       status, e);
}

int client_call_max(struct client *c, const char *method, const char *path,
		    const char *const *headers, size_t max, struct buf *out, long *status,
		    struct err *e)
{
	return request(c, method, path, NULL, NULL, 0, NULL, headers, max, out, status, e);
}

int client_call_hashed(struct client *c, const char *method, const char *path, const char *ctype,
		       const void *body, size_t len, const char sha[65], struct buf *out,
		       long *status, struct err *e)
{
	return request(c, method, path, ctype, body, len, sha, NULL, CLIENT_ANSWER_MAX, out,
		       status, e);
}

json_t *client_error_body(struct client *c)
{
	return c->last_error;
}

json_t *client_json_text(struct client *c, const char *method, const char *path,
			 const char *text, size_t len, const char *const *headers, long *status,
			 struct err *e)
{
	struct buf out = BUF_INIT;
	json_t *j = NULL;
	json_error_t je;
	long st;

	if (client_call(c, method, path, text ? "application/json" : NULL, text, text ? len : 0,
			headers, &out, status ? status : &st, e) == 0 &&
	    (j = json_loadb((const char *)out.data, out.len, 0, &je)) == NULL)
		err_set(e, ERR_IO, "the service's answer to %s %s is not JSON: %s", method, path,
			je.text);
	buf_free(&out);
	return j;
}

json_t *client_json(struct client *c, const char *method, const char *path, json_t *body,
		    const char *const *headers, long *status, struct err *e)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *j;

	if (body && text == NULL) {
		err_oom(e);
		return NULL;
	}
	j = client_json_text(c, method, path, text, text ? strlen(text) : 0, headers, status, e);
	free(text);
	return j;
}
