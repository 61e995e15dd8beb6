/*
 * api/auth.c: who is calling. A user by bearer token (a session or an API
 * token) or the portal's cookie with its CSRF token; a machine by the
 * signature over its request's headers, with the clock and nonce checks
 * that stop replays, and whether the body that arrived is the one signed.
 * Also the admission of spooled uploads (api_admit, api_release).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pki.h"
#include "portal.h"
#include "staging.h"

#define SEEN_EVERY 60 /* seconds between writes of a machine's last_seen */

static const char *bearer(struct call *c)
{
	const char *h = http_header(c->req, "Authorization");

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return NULL;
	return h + 7;
}

/*
 * Authenticate a user's request: a bearer token (session or API token), or
 * the portal's session cookie. Why the CSRF token only for the cookie: a
 * browser attaches cookies to requests other sites make it send, never an
 * Authorization header; so a change made with the cookie must also prove it
 * came from a page of the portal, which alone can read the CSRF token.
 * 0, or -1 after replying.
 */
int user_auth(struct call *c)
{
	const char *m = c->req->method;
	char th[65];
	struct err e;

	if ((c->token = bearer(c)) == NULL) {
		if (portal_cookie_token(c->req, c->cookie) != 0) {
			reply_msg(c, ERR_DENIED, "sign in first: send \"Authorization: Bearer "
				  "TOKEN\" with a session or API token");
			return -1;
		}
		c->token = c->cookie;
		c->by_cookie = true;
	}
	if (c->by_cookie && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    !portal_csrf_ok(c->s->portal, c->token, http_header(c->req, PORTAL_CSRF_HEADER))) {
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "csrf", "message",
					     "this change needs the portal's CSRF token in "
					     PORTAL_CSRF_HEADER "; reload the page and retry"));
		return -1;
	}
	service_token_hash(c->token, th);
	if (catalog_authenticate(c->s->cat, th, c->now, &c->who, &e) != 0) {
		if (c->by_cookie)
			portal_set_cookie(c->req, c->res, NULL, 0);
		reply_err(c, &e);
		return -1;
	}
	return 0;
}

int check_clock(struct call *c, int64_t t)
{
	char msg[160];

	if (t >= c->now - REPLAY_WINDOW && t <= c->now + REPLAY_WINDOW)
		return 0;
	snprintf(msg, sizeof(msg), "the request's time is %lld seconds off the service's clock "
		 "(at most %d allowed): set this machine's clock right and retry",
		 (long long)(t - c->now), REPLAY_WINDOW);
	reply_msg(c, ERR_INVALID, msg);
	return -1;
}

/* A machine's certificate is what lets it sign requests: past its end the
 * machine registers again (fresh vault credentials and its passphrase) and
 * keeps its points. 0, or -1 after replying 403. */
static int check_certificate(struct call *c)
{
	char when[32], msg[320];

	if (c->now < c->machine.cert_expires)
		return 0;
	fmt_time(c->machine.cert_expires, when);
	snprintf(msg, sizeof(msg), "this machine's certificate expired at %s: register it again "
		 "with fresh vault credentials and its passphrase (arca register "
		 "--vault-credentials FILE); its recovery points are kept", when);
	reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "certificate_expired",
				     "message", msg));
	return -1;
}

/* The request's Content-Length into *LEN (http_length). */
static int content_length(struct call *c, uint64_t *len)
{
	return http_length(http_header(c->req, "Content-Length"), len);
}

/*
 * Authenticate a machine-signed request from its headers alone: the
 * machine's id, the time, a nonce, the body's declared length and SHA-256,
 * and an ECDSA signature by the machine's key over method, path, time,
 * nonce, length and hash (docs/API.md, arca-request-v2). Why from the
 * headers: an upload is admitted by this before any byte of its body is
 * stored; that the body is the one signed is checked once it has arrived
 * (body_signed). Why not TLS client certificates: TLS may end at a proxy or
 * load balancer; a signature travels with the request.
 */
int machine_auth(struct call *c)
{
	const char *id = http_header(c->req, "X-Arca-Machine");
	const char *ts = http_header(c->req, "X-Arca-Time");
	const char *nonce = http_header(c->req, "X-Arca-Nonce");
	const char *sig64 = http_header(c->req, "X-Arca-Signature");
	const char *sha = http_header(c->req, "X-Arca-Content-SHA256");
	char *pub_pem = NULL, principal[64], *end, line[48];
	uint8_t sig[512];
	size_t sig_len;
	struct buf msg = BUF_INIT;
	EVP_PKEY *pub = NULL;
	struct err e;
	long long t;
	int rc = -1;

	if (!id || !ts || !nonce || !sig64 || !sha) {
		reply_msg(c, ERR_DENIED, "a machine request needs the X-Arca-Machine, X-Arca-Time, "
			  "X-Arca-Nonce, X-Arca-Content-SHA256 and X-Arca-Signature headers");
		return -1;
	}
	t = strtoll(ts, &end, 10);
	if (*end || end == ts || strlen(nonce) < 16 || strlen(nonce) > 64) {
		reply_msg(c, ERR_DENIED, "X-Arca-Time must be Unix seconds and X-Arca-Nonce 16 to 64 "
			  "characters");
		return -1;
	}
	if (!is_hex64(sha) || content_length(c, &c->body_len) != 0) {
		reply_msg(c, ERR_DENIED, "X-Arca-Content-SHA256 must be the body's SHA-256 in 64 "
			  "lowercase hex digits, and Content-Length a decimal number");
		return -1;
	}
	memcpy(c->body_sha, sha, 65);
	if (check_clock(c, (int64_t)t) != 0)
		return -1;
	if (catalog_machine_get(c->s->cat, id, &c->machine, &pub_pem, &e) != 0 ||
	    (pub = pki_key_cache_get(c->s->keys, c->machine.id, pub_pem, &e)) == NULL) {
		reply_msg(c, ERR_DENIED, "unknown machine: register it with vault credentials");
		goto out;
	}
	snprintf(line, sizeof(line), "%llu", (unsigned long long)c->body_len);
	if (buf_append(&msg, "arca-request-v2\n", 16, &e) || buf_append(&msg, c->req->method,
		strlen(c->req->method), &e) || buf_append_u8(&msg, '\n', &e) ||
	    buf_append(&msg, c->req->path, strlen(c->req->path), &e) || buf_append_u8(&msg, '\n', &e) ||
	    buf_append(&msg, ts, strlen(ts), &e) || buf_append_u8(&msg, '\n', &e) ||
	    buf_append(&msg, nonce, strlen(nonce), &e) || buf_append_u8(&msg, '\n', &e) ||
	    buf_append(&msg, line, strlen(line), &e) || buf_append_u8(&msg, '\n', &e) ||
	    buf_append(&msg, sha, 64, &e) || buf_append_u8(&msg, '\n', &e)) {
		reply_err(c, &e);
		goto out;
	}
	if (sodium_base642bin(sig, sizeof(sig), sig64, strlen(sig64), NULL, &sig_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    pki_check_signature(pub, msg.data, msg.len, sig, sig_len, &e) != 0) {
		reply_msg(c, ERR_DENIED, "the request's signature does not verify with this machine's key");
		goto out;
	}
	snprintf(principal, sizeof(principal), "machine:%s", c->machine.id);
	if (catalog_nonce_use(c->s->cat, principal, nonce, c->now, c->now + NONCE_KEEP, &e) != 0) {
		/* A replay has a code of its own: an HTTP client that sends a
		 * request again by itself on a connection that died (libcurl
		 * does, when no byte of the answer came) learns from it that
		 * the first copy reached the service. */
		if (e.code == ERR_DENIED)
			reply_json(c, 401, json_pack("{s:{s:s,s:s}}", "error", "code", "replay",
						     "message", e.msg));
		else
			reply_err(c, &e);
		goto out;
	}
	if (check_certificate(c) != 0)
		goto out;
	/* Why a failure here is no error: last_seen only informs the portal,
	 * and a request already authenticated must not fail for it. Why at
	 * most once a minute: to the minute is all the portal shows, and a
	 * write per request was a tenth of a restore's work in the service. */
	if ((c->now - c->machine.last_seen >= SEEN_EVERY || c->now < c->machine.last_seen) &&
	    catalog_machine_seen(c->s->cat, id, c->now, NULL) == 0)
		c->machine.last_seen = c->now;
	rc = 0;
out:
	free(pub_pem);
	EVP_PKEY_free(pub);
	buf_free(&msg);
	return rc;
}

/* Whether the body that arrived is the one the machine signed: its length
 * and SHA-256 as declared. 0, or -1 after replying 400. */
int body_signed(struct call *c)
{
	char hex[65];

	sodium_bin2hex(hex, sizeof(hex), c->req->body_sha256, 32);
	if (c->req->body_len == c->body_len && strcmp(hex, c->body_sha) == 0)
		return 0;
	reply_msg(c, ERR_INVALID, "the body that arrived is not the one signed: its length or "
		  "SHA-256 differs from Content-Length or X-Arca-Content-SHA256 (cut short or "
		  "damaged on the way); send the request again");
	return -1;
}

#define UPLOAD_RETRY_AFTER "10" /* seconds, for an upload refused by its machine's bounds */

int api_admit(void *ctx, const struct http_request *req, void **ticket, struct http_response *res)
{
	const struct route *r;
	struct upload_ticket *t;
	struct call c;
	char copy[1024];
	uint64_t held;
	struct err e;

	memset(&c, 0, sizeof(c));
	c.s = ctx;
	c.req = req;
	c.res = res;
	c.now = service_now();
	*ticket = NULL;
	if (route_of(&c, copy, &r) != 0)
		return -1;
	if (r->auth != AUTH_MACHINE) {
		reply_msg(&c, ERR_DENIED, "only a machine's signed requests may upload here");
		return -1;
	}
	if (machine_auth(&c) != 0)
		return -1;
	if (partial_bytes(&c, &held, &e) != 0) {
		reply_err(&c, &e);
		return -1;
	}
	if (staging_reserve(c.s->staging, c.machine.id, c.body_len, held, &e) != 0) {
		http_set_header(res, "Retry-After", UPLOAD_RETRY_AFTER);
		reply_json(&c, 429, json_pack("{s:{s:s,s:s}}", "error", "code", "rate_limited",
					      "message", e.msg));
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		staging_release(c.s->staging, c.machine.id, c.body_len);
		err_oom(&e);
		reply_err(&c, &e);
		return -1;
	}
	t->machine = c.machine;
	t->body_len = c.body_len;
	memcpy(t->body_sha, c.body_sha, sizeof(t->body_sha));
	*ticket = t;
	return 0;
}

void api_release(void *ctx, void *ticket)
{
	struct service *s = ctx;
	struct upload_ticket *t = ticket;

	if (t == NULL)
		return;
	staging_release(s->staging, t->machine.id, t->body_len);
	free(t);
}
