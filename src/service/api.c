/*
 * api.c: request handlers; see api.h and docs/API.md.
 *
 * Routing is a table of (method, path pattern) → handler, where a pattern
 * segment "*" captures one path segment. Every handler but sign-in and
 * health runs for an authenticated principal of one subscription, and sees
 * only that subscription's rows.
 */
#include "api.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "keys.h"
#include "gc.h"
#include "ops.h"
#include "policy.h"
#include "pack.h"
#include "pki.h"
#include "portal.h"
#include "staging.h"
#include "store.h"
#include "upload.h"
#include "vaultcred.h"

#define SESSION_SECONDS (12 * 3600)
#define CERT_SECONDS (365 * 86400)      /* a machine certificate's validity */
#define CERT_RENEW_SECONDS (60 * 86400) /* renewable in its last 60 days */
#define REPLAY_WINDOW 300 /* seconds of clock skew a signed request may have */
/* How long a spent nonce is kept: a request with it passes the clock check
 * only while the service's clock is within REPLAY_WINDOW of its time, itself
 * within REPLAY_WINDOW of the clock when it was spent; twice that covers
 * several services on one catalog whose clocks differ a little too. */
#define NONCE_KEEP (2 * REPLAY_WINDOW)
#define MAX_SEGMENTS 8

struct call {
	struct service *s;
	const struct http_request *req;
	struct http_response *res;
	struct principal who;
	struct machine machine; /* the caller, for machine-signed requests */
	const char *arg[MAX_SEGMENTS]; /* captured path segments */
	int64_t now;
	const char *token;  /* the caller's session or API token (user routes) */
	bool by_cookie;     /* TOKEN came in the portal's session cookie */
	char cookie[65];    /* where TOKEN points then */
	uint64_t body_len;  /* the signed Content-Length (machine requests) */
	char body_sha[65];  /* the signed X-Arca-Content-SHA256 (machine requests) */
};

/* What an admitted upload carries from its headers to its handler: who
 * signed it, what body they signed, what it reserved. */
struct upload_ticket {
	struct machine machine;
	uint64_t body_len;
	char body_sha[65];
};

/* ---- responses ---- */

static void reply_json(struct call *c, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	c->res->status = status;
	c->res->content_type = "application/json";
	if (text)
		buf_append(&c->res->body, text, strlen(text), NULL);
	free(text);
	json_decref(body);
}

static int status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID: return 400;
	case ERR_DENIED: return 401;
	case ERR_EXPIRED:
	case ERR_CREDENTIALS: return 403;
	case ERR_NOT_FOUND: return 404;
	case ERR_EXISTS:
	case ERR_LOCKED:
	case ERR_LIMIT: return 409;
	case ERR_TOO_LARGE: return 413;
	default: return 500;
	}
}

static void reply_err(struct call *c, const struct err *e)
{
	reply_json(c, status_of(e->code),
		   json_pack("{s:{s:s,s:s}}", "error", "code", err_code_name(e->code), "message", e->msg));
}

static void reply_msg(struct call *c, enum err_code code, const char *msg)
{
	struct err e;

	err_set(&e, code, "%s", msg);
	reply_err(c, &e);
}

static void audit(struct call *c, const char *action, const char *target, const char *detail)
{
	catalog_audit(c->s->cat, c->who.subscription, c->now, c->who.name, action, target, detail, NULL);
}

/* Whether the request's Content-Type is WANT (parameters such as charset
 * aside); a request without one is taken as WANT. */
static bool content_type_is(struct call *c, const char *want)
{
	const char *ct = http_header(c->req, "Content-Type");
	size_t n = strlen(want);

	return ct == NULL || (strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';'));
}

/* The request body as a JSON object, or NULL after replying 400 (or 415 for
 * another content type). */
static json_t *body_json(struct call *c)
{
	json_error_t je;
	json_t *j;

	if (c->req->body_len == 0) {
		reply_msg(c, ERR_INVALID, "this request needs a JSON object as its body");
		return NULL;
	}
	if (!content_type_is(c, "application/json")) {
		reply_json(c, 415, json_pack("{s:{s:s,s:s}}", "error", "code", "content_type", "message",
					     "send the body as JSON, with Content-Type: application/json"));
		return NULL;
	}
	j = json_loadb((const char *)c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "request body is not a JSON object: %s", j ? "wrong type" : je.text);
		json_decref(j);
		reply_msg(c, ERR_INVALID, msg);
		return NULL;
	}
	return j;
}

/* A string member of J, or NULL after replying 400 (REQUIRED) or NULL when
 * absent and optional. */
static const char *member(struct call *c, json_t *j, const char *key, int required, int *bad)
{
	json_t *v = json_object_get(j, key);
	char msg[128];

	if (v == NULL && !required)
		return NULL;
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", key);
		reply_msg(c, ERR_INVALID, msg);
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static void fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *vault_json(const struct vault *v)
{
	char created[32];

	fmt_time(v->created, created);
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:i,s:s}", "id", v->id, "name", v->name,
			 "region", v->region, "redundancy", v->redundancy, "redundancy_locked",
			 v->locked, "machines", v->machines, "machines_max", 50, "created", created);
}

/* ---- sessions and tokens ---- */

static void new_token(char out[65])
{
	uint8_t b[32];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, 65, b, sizeof(b));
}

static void h_health(struct call *c)
{
	reply_json(c, 200, json_pack("{s:s,s:s}", "status", "ok", "version", ARCA_VERSION));
}

/* 429 for a sign-in refused by the limit on failed attempts. */
static void reply_wait(struct call *c, int wait)
{
	char msg[200], secs[16];

	snprintf(msg, sizeof(msg), "too many failed sign-ins from this address or for this user; "
		 "wait %d seconds and try again", wait);
	snprintf(secs, sizeof(secs), "%d", wait);
	http_set_header(c->res, "Retry-After", secs);
	reply_json(c, 429, json_pack("{s:{s:s,s:s}}", "error", "code", "rate_limited", "message", msg));
}

/*
 * POST /session. With "cookie": true (the portal) the session token goes in
 * an HttpOnly cookie instead of the body, and the answer carries the CSRF
 * token that changes made with the cookie must send. Failed attempts are
 * limited per client address and per user name (portal.h).
 */
static void h_signin(struct call *c)
{
	json_t *j = body_json(c);
	const char *user, *password;
	char hash[crypto_pwhash_STRBYTES], token[65], th[65], expires[32], csrf[65];
	struct err e;
	bool cookie;
	int bad = 0, wait;

	if (j == NULL)
		return;
	user = member(c, j, "user", 1, &bad);
	password = bad ? NULL : member(c, j, "password", 1, &bad);
	if (bad)
		goto out;
	cookie = json_is_true(json_object_get(j, "cookie"));
	/* Why a declared content type for the cookie form: a cross-site page can
	 * post a body without one, but not with this one (that needs CORS). */
	if (cookie && http_header(c->req, "Content-Type") == NULL) {
		reply_msg(c, ERR_INVALID, "a portal sign-in must be sent with Content-Type: "
			  "application/json");
		goto out;
	}
	if ((wait = portal_signin_wait(c->s->portal, c->req->peer, user, c->now)) > 0) {
		reply_wait(c, wait);
		goto out;
	}
	/* Why one message for both failures: do not tell which user names exist. */
	if (catalog_user_find(c->s->cat, user, hash, sizeof(hash), &c->who, &e) != 0 ||
	    crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
		portal_signin_failed(c->s->portal, c->req->peer, user, c->now);
		reply_msg(c, ERR_DENIED, "user name or password is wrong");
		goto out;
	}
	new_token(token);
	service_token_hash(token, th);
	if (catalog_session_create(c->s->cat, th, c->who.actor, c->now + SESSION_SECONDS, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	audit(c, "session.create", user, cookie ? "portal" : "");
	fmt_time(c->now + SESSION_SECONDS, expires);
	if (cookie) {
		portal_csrf(c->s->portal, token, csrf);
		portal_set_cookie(c->req, c->res, token, SESSION_SECONDS);
		reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s}", "user", user, "expires", expires,
					     "subscription", c->who.subscription, "csrf", csrf));
	} else {
		reply_json(c, 201, json_pack("{s:s,s:s,s:s}", "token", token, "expires", expires,
					     "subscription", c->who.subscription));
	}
	sodium_memzero(token, sizeof(token));
out:
	json_decref(j);
}

/* GET /session: who is signed in; for the portal's cookie session, with the
 * CSRF token its changes must carry. */
static void h_whoami(struct call *c)
{
	json_t *j = json_pack("{s:s,s:s,s:b}", "user", c->who.name, "subscription",
			      c->who.subscription, "api_token", c->who.is_token);

	if (c->by_cookie) {
		char csrf[65];

		portal_csrf(c->s->portal, c->token, csrf);
		json_object_set_new(j, "csrf", json_string(csrf));
	}
	reply_json(c, 200, j);
}

static const char *bearer(struct call *c)
{
	const char *h = http_header(c->req, "Authorization");

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return NULL;
	return h + 7;
}

static void h_signout(struct call *c)
{
	char th[65];
	struct err e;

	service_token_hash(c->token, th);
	if (catalog_session_delete(c->s->cat, th, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (c->by_cookie)
		portal_set_cookie(c->req, c->res, NULL, 0);
	audit(c, "session.delete", c->who.name, "");
	reply_json(c, 200, json_pack("{s:b}", "signed_out", 1));
}

static void h_token_create(struct call *c)
{
	json_t *j = body_json(c);
	const char *name;
	char token[65], th[65];
	catalog_id id;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	name = member(c, j, "name", 1, &bad);
	if (bad)
		goto out;
	if (strlen(name) < 1 || strlen(name) > 64) {
		reply_msg(c, ERR_INVALID, "an API token's name must be 1 to 64 characters");
		goto out;
	}
	new_token(token);
	service_token_hash(token, th);
	if (catalog_token_create(c->s->cat, &c->who, name, th, c->now, id, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	audit(c, "token.create", name, "");
	/* The token itself is shown once, here; the catalog keeps its hash. */
	reply_json(c, 201, json_pack("{s:s,s:s,s:s}", "id", id, "name", name, "token", token));
out:
	json_decref(j);
}

static void h_token_list(struct call *c)
{
	struct api_token *t = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_token_list(c->s->cat, c->who.subscription, &t, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[32], used[32];

		fmt_time(t[i].created, created);
		fmt_time(t[i].last_used, used);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s?}", "id", t[i].id, "name",
						   t[i].name, "created", created, "last_used",
						   t[i].last_used ? used : NULL));
	}
	free(t);
	reply_json(c, 200, json_pack("{s:o}", "tokens", a));
}

static void h_token_delete(struct call *c)
{
	struct err e;

	if (catalog_token_delete(c->s->cat, c->who.subscription, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "token.delete", c->arg[0], "");
	reply_json(c, 200, json_pack("{s:s}", "deleted", c->arg[0]));
}

/* ---- regions and vaults ---- */

static void h_regions(struct call *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->s->n_regions; i++)
		json_array_append_new(a, json_pack("{s:s,s:s?}", "name", c->s->regions[i].name, "pair",
						   c->s->regions[i].pair[0] ? c->s->regions[i].pair : NULL));
	reply_json(c, 200, json_pack("{s:o}", "regions", a));
}

static void h_vault_create(struct call *c)
{
	json_t *j = body_json(c);
	const char *name, *region, *red;
	struct vault v;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	name = member(c, j, "name", 1, &bad);
	region = bad ? NULL : member(c, j, "region", 1, &bad);
	red = bad ? NULL : member(c, j, "redundancy", 0, &bad);
	if (bad)
		goto out;
	if (ops_vault_create(c->s, c->who.subscription, c->who.name, name, region, red, c->now, &v,
			     &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	reply_json(c, 201, vault_json(&v));
out:
	json_decref(j);
}

static void h_vault_list(struct call *c)
{
	struct vault *v = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_vault_list(c->s->cat, c->who.subscription, &v, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, vault_json(&v[i]));
	free(v);
	reply_json(c, 200, json_pack("{s:o,s:i}", "vaults", a, "vaults_max", CATALOG_VAULTS_MAX));
}

static void h_vault_get(struct call *c)
{
	struct vault v;
	struct err e;
	char fp[65], exp[32];
	int64_t expires;
	json_t *j;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	j = vault_json(&v);
	if (catalog_credential_latest(c->s->cat, v.id, fp, &expires, NULL) == 0) {
		fmt_time(expires, exp);
		json_object_set_new(j, "credentials", json_pack("{s:s,s:s,s:b}", "fingerprint", fp,
								"expires", exp, "valid", expires > c->now));
	}
	reply_json(c, 200, j);
}

static void h_vault_patch(struct call *c)
{
	json_t *j = body_json(c);
	const char *red;
	struct vault v;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	red = member(c, j, "redundancy", 1, &bad);
	if (bad)
		goto out;
	if (ops_check_redundancy(red, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	if (catalog_vault_set_redundancy(c->s->cat, c->who.subscription, c->arg[0], red, &e) != 0 ||
	    catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	audit(c, "vault.redundancy", c->arg[0], red);
	reply_json(c, 200, vault_json(&v));
out:
	json_decref(j);
}

static void h_vault_delete(struct call *c)
{
	struct err e;

	if (catalog_vault_delete(c->s->cat, c->who.subscription, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "vault.delete", c->arg[0], "");
	reply_json(c, 200, json_pack("{s:s}", "deleted", c->arg[0]));
}

/* The response body is the only copy of the credentials' private key. */
static void h_credentials(struct call *c)
{
	char name[VAULTCRED_FILENAME_MAX];
	struct buf file = BUF_INIT;
	struct err e;

	if (ops_credentials_issue(c->s, c->who.subscription, c->who.name, c->arg[0], c->now, &file,
				  name, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	c->res->status = 201;
	c->res->content_type = "application/xml";
	snprintf(c->res->disposition, sizeof(c->res->disposition), "attachment; filename=\"%s\"", name);
	buf_append(&c->res->body, file.data, file.len, NULL);
	buf_wipe(&file);
}

static void h_audit(struct call *c)
{
	struct audit_entry *a = NULL;
	size_t n = 0;
	struct err e;
	json_t *arr;

	if (catalog_audit_list(c->s->cat, c->who.subscription, 200, &a, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char t[32];

		fmt_time(a[i].time, t);
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)a[i].id,
						     "time", t, "actor", a[i].actor, "action", a[i].action,
						     "target", a[i].target, "detail", a[i].detail));
	}
	free(a);
	reply_json(c, 200, json_pack("{s:o}", "audit", arr));
}

/* ---- machines ---- */

static int is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];

	SHA256(p, n, md);
	sodium_bin2hex(out, 65, md, sizeof(md));
}

/* SPEC section 3's exact words, with what was wrong as detail. */
static void reply_credentials(struct call *c, const struct err *why)
{
	int expired = why->code == ERR_EXPIRED;

	reply_json(c, 403, json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				     expired ? "credentials_expired" : "credentials_invalid",
				     "message", expired ? "Vault credentials file provided has expired"
							: "Invalid vault credentials provided",
				     "detail", why->msg));
}

static int check_machine_name(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > 64 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') ||
				     (n[0] >= '0' && n[0] <= '9')))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.' || ch == '_'))
			return -1;
	}
	return 0;
}

static int check_clock(struct call *c, int64_t t)
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

/*
 * POST /register: a machine proves it holds the vault credentials' private
 * key by signing what it registers; the service checks the certificate's
 * chain, validity and that it is the vault's latest, then issues the machine
 * its own certificate and keeps its wrapped master key (which it cannot open).
 */
static void h_register(struct call *c)
{
	json_t *j = body_json(c), *jt;
	const char *vault_id, *cert_pem, *name, *pub_pem, *wrapped_b64, *nonce, *sig_b64;
	const char *ver_b64, *proof_b64;
	uint8_t wrapped[KEYS_WRAPPED_LEN + 1], sig[512], kid[KEY_ID_LEN];
	uint8_t verifier[KEYS_VERIFIER_LEN + 1], proof[KEYS_PROOF_LEN + 1];
	size_t wrapped_len = 0, sig_len = 0, ver_len = 0, proof_len = 0;
	char pub_hash[65], wrapped_hash[65], fp[65], key_id[33], cn[160];
	char ver_hex[2 * KEYS_VERIFIER_LEN + 1];
	struct buf msg = BUF_INIT, mcert = BUF_INIT;
	X509 *cred = NULL, *ca = NULL, *issued = NULL;
	EVP_PKEY *ca_key = NULL, *pub = NULL;
	char *ca_pem = NULL, *ca_key_pem = NULL;
	struct vault v;
	struct machine m;
	struct registration r;
	struct pki_leaf leaf;
	struct err e;
	int64_t t;
	bool again = false;
	int bad = 0;

	if (j == NULL)
		return;
	vault_id = member(c, j, "vault_id", 1, &bad);
	cert_pem = bad ? NULL : member(c, j, "credential_certificate", 1, &bad);
	name = bad ? NULL : member(c, j, "machine_name", 1, &bad);
	pub_pem = bad ? NULL : member(c, j, "machine_public_key", 1, &bad);
	wrapped_b64 = bad ? NULL : member(c, j, "wrapped_key", 1, &bad);
	nonce = bad ? NULL : member(c, j, "nonce", 1, &bad);
	sig_b64 = bad ? NULL : member(c, j, "signature", 1, &bad);
	ver_b64 = bad ? NULL : member(c, j, "verifier", 1, &bad);
	proof_b64 = bad ? NULL : member(c, j, "proof", 1, &bad);
	if (bad)
		goto out;
	if (!json_is_integer(jt = json_object_get(j, "time"))) {
		reply_msg(c, ERR_INVALID, "\"time\" must be the Unix time of the request, an integer");
		goto out;
	}
	t = (int64_t)json_integer_value(jt);
	if (check_machine_name(name) != 0) {
		reply_msg(c, ERR_INVALID, "machine name must be 1 to 64 letters, digits, '-', '.' or "
			  "'_', starting with a letter or digit");
		goto out;
	}
	if (strlen(nonce) < 16 || strlen(nonce) > 64) {
		reply_msg(c, ERR_INVALID, "\"nonce\" must be 16 to 64 characters");
		goto out;
	}
	if (sodium_base642bin(wrapped, sizeof(wrapped), wrapped_b64, strlen(wrapped_b64), NULL,
			      &wrapped_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(wrapped, wrapped_len, kid, &e) != 0) {
		reply_msg(c, ERR_INVALID, "\"wrapped_key\" must be a wrapped master key, in base64");
		goto out;
	}
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	if (sodium_base642bin(verifier, sizeof(verifier), ver_b64, strlen(ver_b64), NULL, &ver_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || ver_len != KEYS_VERIFIER_LEN ||
	    sodium_base642bin(proof, sizeof(proof), proof_b64, strlen(proof_b64), NULL, &proof_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || proof_len != KEYS_PROOF_LEN) {
		reply_msg(c, ERR_INVALID, "\"verifier\" must be a 32-byte and \"proof\" a 64-byte "
			  "Ed25519 value, in base64 (docs/API.md, POST /register)");
		goto out;
	}
	sodium_bin2hex(ver_hex, sizeof(ver_hex), verifier, KEYS_VERIFIER_LEN);
	if (sodium_base642bin(sig, sizeof(sig), sig_b64, strlen(sig_b64), NULL, &sig_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		reply_msg(c, ERR_INVALID, "\"signature\" must be base64");
		goto out;
	}
	if ((pub = pki_pubkey_parse(pub_pem, &e)) == NULL) {
		reply_msg(c, ERR_INVALID, "\"machine_public_key\" must be a PEM public key");
		goto out;
	}
	/* The credentials: this vault's, issued by its CA, valid now. */
	if ((cred = pki_cert_parse(cert_pem, &e)) == NULL ||
	    catalog_vault_by_id(c->s->cat, vault_id, &v, &e) != 0 ||
	    catalog_vault_ca(c->s->cat, v.id, &ca_pem, &ca_key_pem, &e) != 0 ||
	    (ca = pki_cert_parse(ca_pem, &e)) == NULL || (ca_key = pki_key_parse(ca_key_pem, &e)) == NULL ||
	    pki_verify(cred, ca, c->now, &e) != 0) {
		if (e.code != ERR_EXPIRED)
			e.code = ERR_CREDENTIALS;
		reply_credentials(c, &e);
		goto out;
	}
	/* Possession of the credentials' key: it signed this registration. */
	sha256_hex(pub_pem, strlen(pub_pem), pub_hash);
	sha256_hex(wrapped, wrapped_len, wrapped_hash);
	if (buf_append(&msg, "arca-register-v2\n", 17, &e) != 0)
		goto fail;
	{
		char line[640];
		int n = snprintf(line, sizeof(line), "%s\n%s\n%lld\n%s\n%s\n%s\n%s\n", vault_id, name,
				 (long long)t, nonce, pub_hash, wrapped_hash, ver_hex);

		if (n < 0 || (size_t)n >= sizeof(line) || buf_append(&msg, line, (size_t)n, &e) != 0)
			goto fail;
	}
	if (pki_check_signature(X509_get0_pubkey(cred), msg.data, msg.len, sig, sig_len, &e) != 0) {
		err_set(&e, ERR_CREDENTIALS, "the registration is not signed by the vault "
			"credentials' private key");
		reply_credentials(c, &e);
		goto out;
	}
	/* Possession of the verifier's secret key, that is, of the master key
	 * it is derived from: what a re-registration must prove. */
	if (keys_proof_check(verifier, msg.data, msg.len, proof, &e) != 0) {
		reply_msg(c, ERR_INVALID, "the registration's proof does not verify with its "
			  "verifier: the agent must sign it with the machine's master key");
		goto out;
	}
	if (check_clock(c, t) != 0)
		goto out;
	{
		char principal[160];

		snprintf(principal, sizeof(principal), "register:%s", v.id);
		if (catalog_nonce_use(c->s->cat, principal, nonce, c->now, c->now + NONCE_KEEP,
				      &e) != 0) {
			reply_err(c, &e);
			goto out;
		}
	}
	/* The machine's own certificate from the vault's CA, valid a year. */
	snprintf(cn, sizeof(cn), "arca machine %s/%s", v.name, name);
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = cn;
	leaf.not_before = c->now - 300;
	leaf.not_after = c->now + CERT_SECONDS;
	pki_fingerprint(cred, fp);
	if ((issued = pki_issue(ca, ca_key, pub, &leaf, &e)) == NULL || pki_cert_pem(issued, &mcert, &e))
		goto fail;
	memset(&r, 0, sizeof(r));
	r.vault_id = v.id;
	r.credential_fingerprint = fp;
	r.name = name;
	r.public_key_pem = pub_pem;
	r.cert_pem = (const char *)mcert.data;
	r.wrapped_key = wrapped;
	r.wrapped_len = wrapped_len;
	r.key_id = key_id;
	r.verifier = verifier;
	r.cert_expires = leaf.not_after;
	r.now = c->now;
	if (catalog_machine_register(c->s->cat, &r, &m, &again, &e) != 0) {
		uint8_t *old = NULL;
		size_t old_len = 0;

		if (e.code == ERR_KEY_MISMATCH && again) {
			char amsg[320];

			snprintf(amsg, sizeof(amsg), "a registration with vault credentials under the "
				 "name of machine %s was refused: it did not prove the machine's master "
				 "key. If nobody is reinstalling that machine, someone holds this vault's "
				 "credentials: download new ones, which voids the old", name);
			catalog_alert(c->s->cat, v.subscription, c->now, "machine.takeover_refused", name,
				      amsg, NULL);
			catalog_audit(c->s->cat, v.subscription, c->now, name, "machine.takeover_refused",
				      name, v.name, NULL);
		}
		if (e.code == ERR_CREDENTIALS) {
			reply_credentials(c, &e);
		} else if (e.code == ERR_KEY_MISMATCH && again &&
			   catalog_machine_wrapped_key(c->s->cat, m.id, &old, &old_len, NULL) == 0) {
			/* The machine's wrapped key, which its passphrase opens: the
			 * agent opens it and registers again with the proof of that
			 * master key. A holder of vault credentials can read it
			 * anyway (by registering a machine and asking for
			 * another's), and it opens only with the passphrase. */
			char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];

			sodium_bin2base64(b64, sizeof(b64), old,
					  old_len > KEYS_WRAPPED_LEN ? KEYS_WRAPPED_LEN : old_len,
					  sodium_base64_VARIANT_ORIGINAL);
			reply_json(c, 409, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "key_mismatch",
						     "message", e.msg, "wrapped_key", b64));
		} else {
			reply_err(c, &e);
		}
		free(old);
		goto out;
	}
	catalog_audit(c->s->cat, v.subscription, c->now, name, again ? "machine.reregister"
		      : "machine.register", name, v.name, NULL);
	if (again) {
		char amsg[320];

		snprintf(amsg, sizeof(amsg), "machine %s was registered again, with a new machine key, "
			 "by an agent that proved its master key (its passphrase opened it); its "
			 "recovery points are kept. If nobody reinstalled it, change its passphrase",
			 name);
		catalog_alert(c->s->cat, v.subscription, c->now, "machine.reregistered", name, amsg, NULL);
	}
	reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "machine_id", m.id, "machine_name",
				     m.name, "vault_id", v.id, "vault_name", v.name, "certificate",
				     (const char *)mcert.data, "reregistered", again));
	goto out;
fail:
	reply_err(c, &e);
out:
	if (ca_key_pem)
		sodium_memzero(ca_key_pem, strlen(ca_key_pem));
	free(ca_key_pem);
	free(ca_pem);
	buf_free(&msg);
	buf_free(&mcert);
	X509_free(cred);
	X509_free(ca);
	X509_free(issued);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
	json_decref(j);
}

static json_t *machine_json(const struct machine *m)
{
	char reg[32], seen[32], del[32], cert[32];

	fmt_time(m->registered, reg);
	fmt_time(m->last_seen, seen);
	fmt_time(m->deleted, del);
	fmt_time(m->cert_expires, cert);
	return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s}", "id", m->id, "name", m->name, "key_id",
			 m->key_id, "registered", reg, "last_seen", m->last_seen ? seen : NULL,
			 "deleted", m->deleted ? del : NULL, "certificate_expires", cert);
}

static void h_machine_list(struct call *c)
{
	struct vault v;
	struct machine *m = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0 ||
	    catalog_machine_list(c->s->cat, v.id, &m, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, machine_json(&m[i]));
	free(m);
	reply_json(c, 200, json_pack("{s:o,s:i}", "machines", a, "machines_max", CATALOG_MACHINES_MAX));
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

/* The request's Content-Length into *LEN (0 without one). 0, or -1 when it
 * is not a plain decimal number. */
static int content_length(struct call *c, uint64_t *len)
{
	const char *v = http_header(c->req, "Content-Length");
	uint64_t n = 0;

	*len = 0;
	if (v == NULL)
		return 0;
	if (*v == 0)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*len = n;
	return 0;
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
static int machine_auth(struct call *c)
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
	    (pub = pki_pubkey_parse(pub_pem, &e)) == NULL) {
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
		reply_err(c, &e);
		goto out;
	}
	if (check_certificate(c) != 0)
		goto out;
	if (catalog_machine_seen(c->s->cat, id, c->now, NULL) == 0)
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
static int body_signed(struct call *c)
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

/* GET /machine: the calling machine as the service knows it, with its
 * wrapped master key, from which a lost agent state can be rebuilt. */
static void h_machine_self(struct call *c)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	struct err e;
	json_t *j;

	if (catalog_machine_wrapped_key(c->s->cat, c->machine.id, &blob, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (len > KEYS_WRAPPED_LEN)
		len = KEYS_WRAPPED_LEN;
	sodium_bin2base64(b64, sizeof(b64), blob, len, sodium_base64_VARIANT_ORIGINAL);
	free(blob);
	j = machine_json(&c->machine);
	json_object_set_new(j, "vault_id", json_string(c->machine.vault_id));
	json_object_set_new(j, "wrapped_key", json_string(b64));
	reply_json(c, 200, j);
}

/* The machine called arg[0] in the caller's vault, live: the source of a
 * restore on another machine. 0, or -1 after replying 404. */
static int source_machine(struct call *c, struct machine *m)
{
	struct err e;

	if (catalog_machine_by_name(c->s->cat, c->machine.vault_id, c->arg[0], m, &e) != 0 ||
	    m->deleted) {
		reply_msg(c, ERR_NOT_FOUND, "no machine of that name in this vault");
		return -1;
	}
	return 0;
}

/* GET /machines/{name} (machine): another machine of the same vault, with its
 * wrapped master key, for a restore here with that machine's passphrase.
 * Read only: nothing of the source can be changed through it. */
static void h_source_machine(struct call *c)
{
	struct machine m;
	uint8_t *blob = NULL;
	size_t len = 0;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	struct err e;
	json_t *j;

	if (source_machine(c, &m) != 0)
		return;
	if (catalog_machine_wrapped_key(c->s->cat, m.id, &blob, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), blob, len > KEYS_WRAPPED_LEN ? KEYS_WRAPPED_LEN : len,
			  sodium_base64_VARIANT_ORIGINAL);
	free(blob);
	j = machine_json(&m);
	json_object_set_new(j, "wrapped_key", json_string(b64));
	reply_json(c, 200, j);
}

static json_t *point_json(const struct recovery_point *p);

static void h_source_points(struct call *c)
{
	struct machine m;
	struct recovery_point *p = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (source_machine(c, &m) != 0)
		return;
	if (catalog_point_list(c->s->cat, m.id, false, &p, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, point_json(&p[i]));
	free(p);
	reply_json(c, 200, json_pack("{s:s,s:o}", "machine", m.name, "recovery_points", a));
}

/* ---- packs and recovery points ---- */

/* The store of the calling machine's vault's region; with PAIR, also the
 * store GRS copies go to (NULL for an LRS vault or a region without a pair). */
static struct store *machine_store_pair(struct call *c, struct store **pair, struct err *e)
{
	struct vault v;
	const struct region *r, *p;

	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, e) != 0)
		return NULL;
	if ((r = service_region(c->s, v.region)) == NULL) {
		err_set(e, ERR_NOT_FOUND, "the vault's region %s is not in this service's "
			"configuration", v.region);
		return NULL;
	}
	if (pair) {
		p = strcmp(v.redundancy, "GRS") == 0 && r->pair[0] ? service_region(c->s, r->pair) : NULL;
		*pair = p ? p->store : NULL;
	}
	return r->store;
}

static struct store *machine_store(struct call *c, struct err *e)
{
	return machine_store_pair(c, NULL, e);
}

/* Map a spooled upload read-only. NULL (and *LEN 0) for an empty file. */
static const uint8_t *map_upload(struct call *c, size_t *len, struct err *e)
{
	int fd;
	void *p;

	*len = c->req->body_len;
	if (*len == 0)
		return NULL;
	if ((fd = open(c->req->body_file, O_RDONLY | O_CLOEXEC)) < 0) {
		err_errno(e, "open upload");
		return MAP_FAILED;
	}
	p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		err_errno(e, "map upload");
	return p;
}

/*
 * PUT /packs/{id}: store a pack. The body's SHA-256 must be the id (so a
 * damaged upload is refused), the table of contents must check out without
 * keys; then the pack goes to the region's store and its objects into the
 * catalog. Uploading a pack that is stored already is a no-op: a client that
 * lost its connection just sends it again.
 */
/* Check the complete pack DATA (LEN bytes, the caller keeps it) without
 * keys, put it into the store of the machine's region (and, for GRS, into
 * the pair's), record its objects, and answer. */
static void store_pack_file(struct call *c, const char *id, const uint8_t *data, size_t len)
{
	struct pack_entry *ents = NULL;
	struct store *st[2] = { NULL, NULL };
	size_t n = 0;
	struct err e;

	if ((st[0] = machine_store_pair(c, &st[1], &e)) == NULL)
		goto fail;
	if (len == 0) {
		err_set(&e, ERR_INVALID, "the pack is empty");
		goto fail;
	}
	if (pack_toc_read(data, len, &ents, &n, &e) != 0) {
		err_prefix(&e, "the pack's table of contents does not check out: ");
		e.code = ERR_INVALID;
		goto fail;
	}
	/* Why copy before acknowledging: a GRS vault promises the second copy.
	 * Store and record under gc_upload_begin (gc.h): the sweeper cannot
	 * delete the file of a doomed pack sent again in between. */
	gc_upload_begin();
	if (store_put_mem_each(st, st[1] ? 2 : 1, id, data, len, &e) != 0 ||
	    catalog_pack_add(c->s->cat, c->machine.id, id, len, ents, n, c->now, &e) != 0) {
		gc_upload_end();
		goto fail;
	}
	gc_upload_end();
	reply_json(c, 201, json_pack("{s:s,s:I,s:I}", "id", id, "objects", (json_int_t)n, "size",
				     (json_int_t)len));
	goto out;
fail:
	reply_err(c, &e);
out:
	free(ents);
}

/* The bytes that the calling machine's resumable uploads in progress hold
 * (upload.h), into *HELD. 0, or -1 with E set. */
static int partial_bytes(struct call *c, uint64_t *held, struct err *e)
{
	return uploads_held(c->s->uploads, c->machine.id, held, e);
}

/* The resumable upload of pack ID is complete: check that its bytes hash to
 * the id, store it, and forget it either way (stored, or damaged). */
static void store_partial(struct call *c, const char *id)
{
	const uint8_t *data;
	uint8_t md[32];
	char hex[65];
	size_t len;
	struct err e;

	if (uploads_map(c->s->uploads, c->machine.id, id, &data, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	/* OpenSSL's SHA-256 uses the CPU's SHA instructions: packs are large. */
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md)); /* matches no id: refused below */
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, id) != 0)
		reply_msg(c, ERR_INVALID, "the assembled pack's SHA-256 is not its id; start again");
	else
		store_pack_file(c, id, data, len);
	uploads_unmap(data, len);
	uploads_discard(c->s->uploads, c->machine.id, id);
}

/* A whole pack in one request: its spooled body, hash-checked as it came. */
static void store_body(struct call *c, const char *id)
{
	const uint8_t *map;
	char hex[65];
	size_t len;
	struct err e;

	sodium_bin2hex(hex, sizeof(hex), c->req->body_sha256, 32);
	if (strcmp(hex, id) != 0) {
		reply_msg(c, ERR_INVALID, "the uploaded bytes' SHA-256 is not the pack id: the "
			  "upload was damaged or cut short; send the pack again");
		return;
	}
	if ((map = map_upload(c, &len, &e)) == MAP_FAILED) {
		reply_err(c, &e);
		return;
	}
	store_pack_file(c, id, map, len);
	if (map)
		munmap((void *)map, len);
}

/*
 * PUT /packs/{id}: store a pack. The body's SHA-256 must be the id (so a
 * damaged upload is refused), the table of contents must check out without
 * keys. Uploading a pack that is stored already is a no-op.
 *
 * Resumable form: with "X-Arca-Length: TOTAL" and "X-Arca-Offset: N" the body
 * is the piece of the pack from byte N; the service appends it to the upload
 * in progress when N is what it has (else 409 with what it has), answers 202
 * until TOTAL bytes are there, then checks and stores the whole pack. An
 * upload in progress is a lease, not a lock (upload.h).
 */
static void h_pack_put(struct call *c)
{
	const char *id = c->arg[0], *total_h = http_header(c->req, "X-Arca-Length");
	const char *off_h = http_header(c->req, "X-Arca-Offset");
	catalog_id owner;
	struct err e;
	long long total, off;
	uint64_t have;
	int rc;

	if (!is_hex64(id)) {
		reply_msg(c, ERR_INVALID, "a pack id is 64 lowercase hex digits (the SHA-256 of the pack)");
		return;
	}
	if (catalog_pack_owner(c->s->cat, id, owner, &e) != 0) {
		if (e.code != ERR_NOT_FOUND) { /* could not tell: never store blind */
			reply_err(c, &e);
			return;
		}
	} else {
		if (strcmp(owner, c->machine.id) != 0) {
			reply_msg(c, ERR_EXISTS, "another machine stored this pack");
			return;
		}
		reply_json(c, 200, json_pack("{s:s,s:b}", "id", id, "already_stored", 1));
		return;
	}
	if (c->req->body_file == NULL) {
		reply_msg(c, ERR_INVALID, "send the pack as the request body");
		return;
	}
	if (!content_type_is(c, "application/octet-stream")) {
		reply_json(c, 415, json_pack("{s:{s:s,s:s}}", "error", "code", "content_type", "message",
					     "send the pack's bytes with Content-Type: application/octet-stream"));
		return;
	}
	if (total_h == NULL) {
		store_body(c, id);
		return;
	}
	total = atoll(total_h);
	off = off_h ? atoll(off_h) : 0;
	if (total <= 0 || (uint64_t)total > PACK_MAX_BYTES || off < 0) {
		reply_msg(c, ERR_INVALID, "X-Arca-Length must be the pack's size and X-Arca-Offset the "
			  "byte the body starts at");
		return;
	}
	rc = uploads_append(c->s->uploads, c->machine.id, id, (uint64_t)off, (uint64_t)total,
			    c->req->body_file, c->req->body_len, &have, &e);
	if (rc == 1) {
		reply_json(c, 409, json_pack("{s:{s:s,s:s},s:I}", "error", "code", "offset", "message",
					     "the upload in progress has another length: resume at "
					     "\"received\"", "received", (json_int_t)have));
		return;
	}
	if (rc != 0) {
		reply_err(c, &e);
		return;
	}
	if (have < (uint64_t)total) {
		reply_json(c, 202, json_pack("{s:s,s:I}", "id", id, "received", (json_int_t)have));
		return;
	}
	store_partial(c, id);
}

/* GET /packs/{id}/upload: how much of a resumable upload the service has. */
static void h_pack_progress(struct call *c)
{
	uint64_t have;
	struct err e;

	if (!is_hex64(c->arg[0])) {
		reply_msg(c, ERR_INVALID, "a pack id is 64 lowercase hex digits");
		return;
	}
	if (uploads_received(c->s->uploads, c->machine.id, c->arg[0], &have, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_pack("{s:s,s:I}", "id", c->arg[0], "received", (json_int_t)have));
}

/* A range of a pack on its way to a client: the http module pulls pieces,
 * each one a get from the store. */
struct pack_stream {
	struct store *st;
	char id[65];
	uint64_t first;
};

static int pack_stream_read(void *arg, uint64_t pos, uint8_t *buf, size_t max, size_t *got)
{
	struct pack_stream *ps = arg;
	struct err e;

	if (store_read(ps->st, ps->id, ps->first + pos, buf, max, got, &e) != 0) {
		/* The client sees a cut response; the log says why. */
		fprintf(stderr, "arcad: reading pack %.16s: %s\n", ps->id, e.msg);
		return -1;
	}
	return 0;
}

/* GET /packs/{id}, with an optional "Range: bytes=FIRST-[LAST]": a pack of
 * the calling machine's vault. */
static void h_pack_get(struct call *c)
{
	const char *id = c->arg[0], *range = http_header(c->req, "Range");
	catalog_id owner;
	struct machine m;
	struct pack_stream *ps;
	char *pub = NULL;
	struct store *st;
	uint64_t size = 0, first = 0, last;
	struct err e;
	int rc;

	/* A doomed pack stays readable until its file goes: a restore may
	 * have located an object there just before the collector moved it. */
	e.code = ERR_NOT_FOUND;
	if (!is_hex64(id) || catalog_pack_reader(c->s->cat, id, owner, &e) != 0 ||
	    catalog_machine_get(c->s->cat, owner, &m, &pub, &e) != 0 ||
	    strcmp(m.vault_id, c->machine.vault_id) != 0) {
		free(pub);
		if (e.code == ERR_NOT_FOUND)
			reply_msg(c, ERR_NOT_FOUND, "no such pack in this vault");
		else
			reply_err(c, &e); /* the catalog could not tell: not "absent" */
		return;
	}
	free(pub);
	if ((st = machine_store(c, &e)) == NULL || (rc = store_stat(st, id, &size, &e)) < 0) {
		reply_err(c, &e); /* the store could not tell: not "absent" */
		return;
	}
	if (rc == 0) {
		err_set(&e, ERR_NOT_FOUND, "no pack %.16s in this store", id);
		reply_err(c, &e);
		return;
	}
	last = size ? size - 1 : 0;
	c->res->status = 200;
	if (range && (rc = http_range_parse(range, size, &first, &last)) != 0) {
		if (rc < 0) {
			reply_msg(c, ERR_INVALID, "Range must be bytes=FIRST-LAST or bytes=FIRST-");
			return;
		}
		snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes */%llu",
			 (unsigned long long)size);
		reply_json(c, 416, json_pack("{s:{s:s,s:s}}", "error", "code", "range", "message",
					     "the range asks for no byte of the pack: FIRST is past "
					     "its end, or after LAST"));
		return;
	}
	if (range) {
		c->res->status = 206;
		snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes %llu-%llu/%llu",
			 (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		return;
	}
	ps->st = st;
	snprintf(ps->id, sizeof(ps->id), "%s", id);
	ps->first = first;
	c->res->content_type = "application/octet-stream";
	http_respond_stream(c->res, size ? last - first + 1 : 0, pack_stream_read, ps, free);
}

/* Hex ids from the JSON array J into IDS (pointers into J). -1 after
 * replying 400. */
static int id_list(struct call *c, json_t *j, const char *what, const char ***ids, size_t *n)
{
	size_t i;
	json_t *v;
	char msg[128];

	if (!json_is_array(j)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be an array of object ids", what);
		reply_msg(c, ERR_INVALID, msg);
		return -1;
	}
	*n = json_array_size(j);
	if ((*ids = calloc(*n ? *n : 1, sizeof(**ids))) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		return -1;
	}
	json_array_foreach(j, i, v) {
		if (!is_hex64(json_string_value(v))) {
			snprintf(msg, sizeof(msg), "\"%s\"[%zu] is not an object id (64 lowercase hex "
				 "digits)", what, i);
			free(*ids);
			*ids = NULL;
			reply_msg(c, ERR_INVALID, msg);
			return -1;
		}
		(*ids)[i] = json_string_value(v);
	}
	return 0;
}

/* POST /objects/missing {"ids": [...]}: which of these this machine has not
 * stored (the agent's bulk deduplication question). */
static void h_objects_missing(struct call *c)
{
	json_t *j = body_json(c), *out;
	const char **ids = NULL;
	bool *missing = NULL;
	size_t n = 0;
	struct err e;

	if (j == NULL || id_list(c, json_object_get(j, "ids"), "ids", &ids, &n) != 0)
		goto done;
	if ((missing = calloc(n ? n : 1, sizeof(*missing))) == NULL ||
	    catalog_objects_missing(c->s->cat, c->machine.id, ids, n, missing, &e) != 0) {
		if (missing == NULL)
			err_oom(&e);
		reply_err(c, &e);
		goto done;
	}
	out = json_array();
	for (size_t i = 0; i < n; i++)
		if (missing[i])
			json_array_append_new(out, json_string(ids[i]));
	reply_json(c, 200, json_pack("{s:o}", "missing", out));
done:
	free(missing);
	free(ids);
	json_decref(j);
}

/*
 * POST /objects/locate {"ids": [...], "machine": NAME?}: where each object
 * lies (pack, offset, length), for reading it back with a range request.
 * Without "machine" the caller's own objects; with it, those of another
 * machine of the caller's vault (a restore elsewhere, read only).
 */
static void h_objects_locate(struct call *c)
{
	json_t *j = body_json(c), *out, *name;
	const char **ids = NULL;
	struct object_loc *loc = NULL;
	bool *found = NULL;
	struct machine m;
	const char *owner = c->machine.id;
	size_t n = 0;
	struct err e;

	if (j == NULL || id_list(c, json_object_get(j, "ids"), "ids", &ids, &n) != 0)
		goto done;
	name = json_object_get(j, "machine");
	if (name != NULL) {
		if (!json_is_string(name) ||
		    catalog_machine_by_name(c->s->cat, c->machine.vault_id, json_string_value(name),
					    &m, &e) != 0 ||
		    m.deleted) {
			reply_msg(c, ERR_NOT_FOUND, "no machine of that name in this vault");
			goto done;
		}
		owner = m.id;
	}
	if ((found = calloc(n ? n : 1, sizeof(*found))) == NULL ||
	    (loc = calloc(n ? n : 1, sizeof(*loc))) == NULL) {
		reply_err(c, (err_oom(&e), &e));
		goto done;
	}
	if (catalog_objects_locate(c->s->cat, owner, ids, n, loc, found, &e) != 0) {
		reply_err(c, &e);
		goto done;
	}
	out = json_array();
	for (size_t i = 0; i < n; i++)
		if (found[i])
			json_array_append_new(out, json_pack("{s:s,s:s,s:i,s:I,s:I}", "id", ids[i],
							      "pack", loc[i].pack, "kind", loc[i].kind,
							      "offset", (json_int_t)loc[i].offset,
							      "length", (json_int_t)loc[i].length));
	reply_json(c, 200, json_pack("{s:o}", "objects", out));
done:
	free(loc);
	free(found);
	free(ids);
	json_decref(j);
}

static json_t *point_json(const struct recovery_point *p)
{
	char t[32];

	fmt_time(p->created, t);
	return json_pack("{s:s,s:s,s:s?,s:s,s:I,s:I}", "id", p->id, "meta", p->meta, "parent",
			 p->parent[0] ? p->parent : NULL, "created", t, "objects",
			 (json_int_t)p->objects, "bytes", (json_int_t)p->bytes);
}

/*
 * POST /recovery-points {"meta": id, "parent": id|null, "objects": [ids]}:
 * commit a recovery point atomically. Every referenced object must be stored
 * already; the service records the time by its own clock.
 */
static void h_point_commit(struct call *c)
{
	const uint8_t *map = NULL;
	size_t len = 0, n = 0;
	json_t *j = NULL, *jp;
	json_error_t je;
	const char **ids = NULL, *meta, *parent = NULL;
	struct recovery_point rp;
	struct err e;

	if ((map = map_upload(c, &len, &e)) == MAP_FAILED) {
		reply_err(c, &e);
		return;
	}
	j = map ? json_loadb((const char *)map, len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!json_is_object(j)) {
		reply_msg(c, ERR_INVALID, "a recovery point is a JSON object with \"meta\", "
			  "\"parent\" and \"objects\"");
		goto out;
	}
	meta = json_string_value(json_object_get(j, "meta"));
	jp = json_object_get(j, "parent");
	if (!is_hex64(meta) || (jp && !json_is_null(jp) && !json_is_string(jp))) {
		reply_msg(c, ERR_INVALID, "\"meta\" must be the object id of the point's record, "
			  "and \"parent\" a recovery point id or null");
		goto out;
	}
	parent = json_is_string(jp) ? json_string_value(jp) : NULL;
	if (id_list(c, json_object_get(j, "objects"), "objects", &ids, &n) != 0)
		goto out;
	{
		bool has_meta = false;

		for (size_t i = 0; i < n && !has_meta; i++)
			has_meta = strcmp(ids[i], meta) == 0;
		if (!has_meta) {
			reply_msg(c, ERR_INVALID, "\"objects\" must include the \"meta\" object");
			goto out;
		}
	}
	if (catalog_point_commit(c->s->cat, c->machine.id, meta, parent, ids, n, c->now, &rp, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	/* The lease of the backup, if it took one, ends with its commit. The
	 * point is committed whatever happens here: a lease left behind only
	 * holds the collector off until it expires, so it is logged, not
	 * answered. */
	if (json_is_string(json_object_get(j, "lease"))) {
		const char *lease = json_string_value(json_object_get(j, "lease"));

		if (catalog_lease_end(c->s->cat, c->machine.id, lease, &e) != 0)
			fprintf(stderr, "arcad: ending the lease of machine %s's commit: %s\n",
				c->machine.id, e.msg);
	}
	reply_json(c, 201, point_json(&rp));
	/* Retention runs after every commit, by the service's clock. */
	{
		json_t *rep = NULL;
		struct err re;

		if (ops_retention(c->s, c->machine.id, c->now, 0, &rep, &re) != 0)
			fprintf(stderr, "arcad: retention of machine %s: %s\n", c->machine.id, re.msg);
		json_decref(rep);
	}
out:
	free(ids);
	json_decref(j);
	if (map && map != MAP_FAILED)
		munmap((void *)map, len);
}

/* A lease's answer: its id and when it ends by the service's clock. */
static void reply_lease(struct call *c, int status, const char *id, int64_t until)
{
	char exp[32];

	fmt_time(until, exp);
	reply_json(c, status, json_pack("{s:s,s:s}", "lease", id, "expires", exp));
}

/* POST /recovery-points/begin (machine): a backup starts; its lease keeps
 * the objects it stores safe from collection until it commits, is released,
 * or runs out (six hours after it began or was last renewed). Nothing is
 * locked: other backups and collection go on. */
static void h_point_begin(struct call *c)
{
	int64_t until = c->now + service_lease_seconds();
	catalog_id id;
	struct err e;

	if (catalog_lease_begin(c->s->cat, c->machine.id, c->now, until, id, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_lease(c, 201, id, until);
}

/* POST /recovery-points/lease/{id}/renew (machine): a backup still at work
 * extends its own lease, still valid, to a full period from the service's
 * clock. 404 for an unknown lease or another machine's; 409 for one that
 * expired, which is not revived: the agent must learn that its uploads
 * went unprotected for a while. */
static void h_lease_renew(struct call *c)
{
	int64_t until;
	struct err e;

	if (catalog_lease_renew(c->s->cat, c->machine.id, c->arg[0], c->now,
				c->now + service_lease_seconds(), &until, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_lease(c, 200, c->arg[0], until);
}

/* DELETE /recovery-points/lease/{id} (machine): a backup that will not
 * commit gives its lease back, so that collection need not wait for it to
 * expire. 404 for an unknown lease, an ended one or another machine's. */
static void h_lease_release(struct call *c)
{
	struct err e;

	if (catalog_lease_end(c->s->cat, c->machine.id, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "released", c->arg[0]));
}

/* GET /recovery-points/{id} (machine): one of its own points. */
static void h_point_show(struct call *c)
{
	struct recovery_point rp;
	struct err e;

	if (catalog_point_get(c->s->cat, c->machine.id, c->arg[0], &rp, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, point_json(&rp));
}

static void h_point_list(struct call *c)
{
	struct recovery_point *p = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_point_list(c->s->cat, c->machine.id, false, &p, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, point_json(&p[i]));
	free(p);
	reply_json(c, 200, json_pack("{s:o,s:i}", "recovery_points", a, "max", CATALOG_POINTS_MAX));
}

/* ---- security PIN, deletion and undeletion ---- */

static void pin_hash(const char *subscription, const char *pin, char out[65])
{
	char both[128];

	snprintf(both, sizeof(both), "%s:%s", subscription, pin);
	sha256_hex(both, strlen(both), out);
	sodium_memzero(both, sizeof(both));
}

/* POST /pin: a person signed in (a session, not an API token) gets a
 * security PIN of their own, valid five minutes for one critical operation
 * of theirs, or for their machine's passphrase change in the agent. */
static void h_pin(struct call *c)
{
	char pin[9], hash[65], exp[32];
	struct err e;

	if (c->who.is_token) {
		reply_msg(c, ERR_DENIED, "a security PIN is for a person signed in, not an API token");
		return;
	}
	for (int i = 0; i < 8; i++)
		pin[i] = (char)('0' + randombytes_uniform(10));
	pin[8] = 0;
	pin_hash(c->who.subscription, pin, hash);
	if (catalog_pin_create(c->s->cat, c->who.subscription, c->who.actor, hash, c->now,
			       c->now + CATALOG_PIN_SECONDS, &e) != 0) {
		sodium_memzero(pin, sizeof(pin));
		reply_err(c, &e);
		return;
	}
	audit(c, "pin.create", c->who.name, "");
	fmt_time(c->now + CATALOG_PIN_SECONDS, exp);
	reply_json(c, 201, json_pack("{s:s,s:s}", "pin", pin, "expires", exp));
	sodium_memzero(pin, sizeof(pin));
}

/* A critical operation WHAT on TARGET needs the X-Arca-PIN header: a PIN
 * the person signed in generated (never an API token's request), or for a
 * machine call (c->machine set, c->who filled for its subscription) one a
 * person of the machine's subscription generated. The PIN is consumed;
 * every use raises an alert. 0, or -1 after replying. */
static int require_pin(struct call *c, const char *what, const char *target)
{
	const char *pin = http_header(c->req, "X-Arca-PIN");
	bool machine = c->machine.id[0] != 0;
	char hash[65], msg[512], actor[80];
	struct err e;

	if (!machine && c->who.is_token) {
		reply_msg(c, ERR_DENIED, "this operation needs a person signed in with a security PIN; "
			  "an API token cannot do it");
		return -1;
	}
	if (pin == NULL) {
		reply_msg(c, ERR_DENIED, "this operation needs a security PIN: generate one in the "
			  "portal (valid 5 minutes, for one operation) and send it as X-Arca-PIN");
		return -1;
	}
	if (machine)
		snprintf(actor, sizeof(actor), "machine:%s", c->machine.id);
	else
		snprintf(actor, sizeof(actor), "%s", c->who.actor);
	pin_hash(c->who.subscription, pin, hash);
	if (catalog_pin_use(c->s->cat, c->who.subscription, machine ? NULL : c->who.actor, actor, hash,
			    c->now, &e) != 0) {
		audit(c, "pin.refused", target, what);
		reply_err(c, &e);
		return -1;
	}
	snprintf(msg, sizeof(msg), "security PIN used by %s to %s %s", c->who.name, what, target);
	catalog_alert(c->s->cat, c->who.subscription, c->now, "pin.used", target, msg, NULL);
	return 0;
}

/* The vault arg[0] of the caller's subscription and its machine arg[1]. */
static int vault_machine(struct call *c, struct vault *v, struct machine *m)
{
	struct err e;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], v, &e) != 0 ||
	    catalog_machine_by_name(c->s->cat, v->id, c->arg[1], m, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	return 0;
}

static void h_machine_delete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[160], msg[512];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (require_pin(c, "delete machine", target) != 0)
		return;
	if (catalog_machine_delete(c->s->cat, v.id, m.name, c->now, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "machine.delete", target, "soft delete: restorable for 14 days");
	snprintf(msg, sizeof(msg), "machine %s was deleted by %s; its data can be undeleted for "
		 "%d days", target, c->who.name, CATALOG_SOFT_DELETE_DAYS);
	catalog_alert(c->s->cat, c->who.subscription, c->now, "machine.deleted", target, msg, NULL);
	reply_json(c, 200, json_pack("{s:s,s:i}", "deleted", m.name, "restorable_days",
				     CATALOG_SOFT_DELETE_DAYS));
}

static void h_machine_undelete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[160];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (catalog_machine_undelete(c->s->cat, v.id, m.name, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "machine.undelete", target, "");
	reply_json(c, 200, json_pack("{s:s}", "undeleted", m.name));
}

static void h_machine_points(struct call *c)
{
	struct vault v;
	struct machine m;
	struct recovery_point *p = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (vault_machine(c, &v, &m) != 0)
		return;
	if (catalog_point_list(c->s->cat, m.id, true, &p, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j = point_json(&p[i]);

		if (p[i].deleted) {
			char t[32];

			fmt_time(p[i].deleted, t);
			json_object_set_new(j, "deleted", json_string(t));
		}
		json_array_append_new(a, j);
	}
	free(p);
	reply_json(c, 200, json_pack("{s:o}", "recovery_points", a));
}

static void h_point_delete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[256];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s/%.40s", v.name, m.name, c->arg[2]);
	if (require_pin(c, "delete recovery point", target) != 0)
		return;
	if (catalog_point_delete(c->s->cat, m.id, c->arg[2], c->now, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "point.delete", target, "soft delete: restorable for 14 days");
	reply_json(c, 200, json_pack("{s:s,s:i}", "deleted", c->arg[2], "restorable_days",
				     CATALOG_SOFT_DELETE_DAYS));
}

static void h_point_undelete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[256];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s/%.40s", v.name, m.name, c->arg[2]);
	if (catalog_point_undelete(c->s->cat, m.id, c->arg[2], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "point.undelete", target, "");
	reply_json(c, 200, json_pack("{s:s}", "undeleted", c->arg[2]));
}

static void h_alerts(struct call *c)
{
	struct alert *a = NULL;
	size_t n = 0;
	struct err e;
	json_t *arr;

	if (catalog_alert_list(c->s->cat, c->who.subscription, 200, &a, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char t[32];

		fmt_time(a[i].time, t);
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)a[i].id,
						     "time", t, "kind", a[i].kind, "target", a[i].target,
						     "message", a[i].message));
	}
	free(a);
	reply_json(c, 200, json_pack("{s:o}", "alerts", arr));
}

/* PUT /machine/wrapped-key {"wrapped_key": base64} (machine, security PIN):
 * a passphrase change. The blob must wrap the same master key, so no data is
 * re-encrypted or uploaded again; the change raises an alert. */
static void h_machine_rewrap(struct call *c)
{
	json_t *j = body_json(c);
	const char *b64;
	uint8_t blob[KEYS_WRAPPED_LEN + 1], kid[KEY_ID_LEN];
	size_t len = 0;
	char key_id[33], target[160], msg[256];
	struct vault v;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	b64 = member(c, j, "wrapped_key", 1, &bad);
	if (bad)
		goto out;
	if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(blob, len, kid, &e) != 0) {
		reply_msg(c, ERR_INVALID, "\"wrapped_key\" must be a wrapped master key, in base64");
		goto out;
	}
	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	/* A person of the subscription generated the PIN in the portal. */
	snprintf(c->who.subscription, sizeof(c->who.subscription), "%s", v.subscription);
	snprintf(c->who.name, sizeof(c->who.name), "machine:%s", c->machine.name);
	snprintf(target, sizeof(target), "%s/%s", v.name, c->machine.name);
	if (require_pin(c, "change the passphrase of", target) != 0)
		goto out;
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	if (catalog_machine_set_wrapped_key(c->s->cat, c->machine.id, blob, len, key_id, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	audit(c, "passphrase.change", target, "");
	snprintf(msg, sizeof(msg), "the passphrase of machine %s was changed", target);
	catalog_alert(c->s->cat, v.subscription, c->now, "passphrase.changed", target, msg, NULL);
	reply_json(c, 200, json_pack("{s:s,s:s}", "machine", c->machine.name, "key_id", key_id));
out:
	json_decref(j);
}

/* POST /machine/certificate (machine): a new certificate from the vault's CA
 * for the machine's key, valid a year, in the certificate's last 60 days
 * (ERR_LOCKED before). The agent renews 30 days before expiry; a machine
 * away past it signs nothing and registers again with fresh vault
 * credentials and its passphrase. */
static void h_machine_renew(struct call *c)
{
	char *ca_pem = NULL, *ca_key_pem = NULL, *pub_pem = NULL, cn[160];
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *pub = NULL;
	struct buf cert = BUF_INIT;
	struct pki_leaf leaf;
	struct machine m;
	struct vault v;
	struct err e;

	if (c->machine.cert_expires - c->now > CERT_RENEW_SECONDS) {
		char from[32], msg[200];

		fmt_time(c->machine.cert_expires - CERT_RENEW_SECONDS, from);
		snprintf(msg, sizeof(msg), "this machine's certificate is renewed in its last %d days; "
			 "renew it from %s", CERT_RENEW_SECONDS / 86400, from);
		reply_msg(c, ERR_LOCKED, msg);
		return;
	}
	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0 ||
	    catalog_machine_get(c->s->cat, c->machine.id, &m, &pub_pem, &e) != 0 ||
	    (pub = pki_pubkey_parse(pub_pem, &e)) == NULL ||
	    catalog_vault_ca(c->s->cat, v.id, &ca_pem, &ca_key_pem, &e) != 0 ||
	    (ca = pki_cert_parse(ca_pem, &e)) == NULL || (ca_key = pki_key_parse(ca_key_pem, &e)) == NULL)
		goto fail;
	snprintf(cn, sizeof(cn), "arca machine %s/%s", v.name, m.name);
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = cn;
	leaf.not_before = c->now - 300;
	leaf.not_after = c->now + CERT_SECONDS;
	if ((x = pki_issue(ca, ca_key, pub, &leaf, &e)) == NULL || pki_cert_pem(x, &cert, &e) ||
	    catalog_machine_set_cert(c->s->cat, m.id, (const char *)cert.data, c->now,
				     leaf.not_after, &e))
		goto fail;
	reply_json(c, 201, json_pack("{s:s}", "certificate", (const char *)cert.data));
	goto out;
fail:
	reply_err(c, &e);
out:
	if (ca_key_pem)
		sodium_memzero(ca_key_pem, strlen(ca_key_pem));
	free(ca_key_pem);
	free(ca_pem);
	free(pub_pem);
	buf_free(&cert);
	X509_free(ca);
	X509_free(x);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
}

/* ---- backup policies ---- */

/* A policy change, checked: the new policy, and the stored one it replaces. */
struct policy_change {
	struct policy new_, old;
	char *prev;    /* the stored policy's text, or NULL when there is none */
	int shortens;  /* it would remove a point sooner than the stored one */
};

static void policy_change_clear(struct policy_change *pc)
{
	policy_clear(&pc->new_);
	policy_clear(&pc->old);
	free(pc->prev);
	pc->prev = NULL;
}

/* Parse the request body as machine M's new policy and compare it with the
 * stored one over M's live points (docs/RETENTION.md). 0 (release PC with
 * policy_change_clear), or -1 after replying, with PC released: a bad
 * policy, or a catalog that cannot answer (never taken as "no policy",
 * which would make any first policy look harmless). */
static int policy_change_load(struct call *c, const struct machine *m, struct policy_change *pc)
{
	json_t *j = body_json(c);
	struct err e;
	int have, rc = -1;

	memset(pc, 0, sizeof(*pc));
	if (j == NULL)
		return -1;
	if (policy_parse(j, &pc->new_, &e) != 0 ||
	    (have = ops_policy_get(c->s, m->id, &pc->old, &pc->prev, &e)) < 0 ||
	    (pc->shortens = ops_policy_shortens(c->s, m->id, have ? &pc->old : NULL, &pc->new_,
						c->now, &e)) < 0) {
		reply_err(c, &e);
		policy_change_clear(pc);
	} else {
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Store PC's new policy for machine M of vault V, raising ALERT (or none)
 * with it, audit it and reply with it. */
static void policy_change_store(struct call *c, const struct vault *v, const struct machine *m,
				const struct policy_change *pc, const struct job_alert *alert)
{
	char *text = policy_json(&pc->new_), target[160];
	struct err e;

	if (text == NULL) {
		err_oom(&e);
		reply_err(c, &e);
		return;
	}
	if (catalog_policy_set(c->s->cat, m->id, pc->prev, text, c->now, alert, &e) != 0) {
		reply_err(c, &e);
		free(text);
		return;
	}
	snprintf(target, sizeof(target), "%s/%s", v->name, m->name);
	audit(c, "policy.set", target, text);
	reply_json(c, 200, json_loads(text, 0, NULL));
	free(text);
}

/* PUT /vaults/{v}/machines/{m}/policy (user). A change that would remove
 * any recovery point sooner than the stored policy (a first policy
 * included: without one nothing expires) needs the security PIN and raises
 * "retention.shortened", recorded with the policy or not at all; floors
 * and the 3-a-day and 366-point limits always hold. */
static void h_policy_set(struct call *c)
{
	struct policy_change pc;
	struct job_alert alert;
	struct vault v;
	struct machine m;
	char target[160], msg[512];

	if (vault_machine(c, &v, &m) != 0 || policy_change_load(c, &m, &pc) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (!pc.shortens) {
		policy_change_store(c, &v, &m, &pc, NULL);
		goto out;
	}
	if (require_pin(c, "shorten the retention of", target) != 0)
		goto out;
	snprintf(msg, sizeof(msg), "retention of %s was shortened by %s: its new policy removes "
		 "recovery points sooner than the one before", target, c->who.name);
	alert.subscription = c->who.subscription;
	alert.kind = "retention.shortened";
	alert.target = target;
	alert.message = msg;
	policy_change_store(c, &v, &m, &pc, &alert);
out:
	policy_change_clear(&pc);
}

/* PUT /machine/policy (machine): `arca policy set`. SPEC section 7, rule
 * 4: a machine adds, it never destroys. So a change that would remove any
 * point sooner is refused whatever the machine sends, a PIN included (a
 * stolen machine key must not trade a phished PIN for the history); a
 * person makes it. */
static void h_machine_policy_set(struct call *c)
{
	struct policy_change pc;
	struct vault v;
	struct err e;
	char msg[512];

	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	snprintf(c->who.subscription, sizeof(c->who.subscription), "%s", v.subscription);
	snprintf(c->who.name, sizeof(c->who.name), "machine:%s", c->machine.name);
	if (policy_change_load(c, &c->machine, &pc) != 0)
		return;
	if (pc.shortens) {
		snprintf(msg, sizeof(msg), "a machine can never shorten retention, even with a "
			 "security PIN: this policy would remove recovery points sooner than the "
			 "current one. A signed-in user can set it in the portal, or through PUT "
			 "/api/v1/vaults/%s/machines/%s/policy with the security PIN",
			 v.name, c->machine.name);
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "forbidden",
					     "message", msg));
	} else {
		policy_change_store(c, &v, &c->machine, &pc, NULL);
	}
	policy_change_clear(&pc);
}

/* The stored policy of machine ID as the reply, or 404. */
static void reply_policy(struct call *c, const char *id)
{
	char *text = NULL;
	struct err e;

	if (catalog_policy_get(c->s->cat, id, &text, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_loads(text, 0, NULL));
	free(text);
}

static void h_policy_get(struct call *c)
{
	struct vault v;
	struct machine m;

	if (vault_machine(c, &v, &m) == 0)
		reply_policy(c, m.id);
}

/* POST /vaults/{name}/collect (user): one pass of the space collector over
 * the vault now (it also runs hourly on its own). */
static void h_collect(struct call *c)
{
	struct vault v;
	struct gc_stats st;
	struct err e;
	char detail[256];

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0 ||
	    gc_run(c->s, v.id, c->now, &st, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	snprintf(detail, sizeof(detail), "%lld packs dropped, %lld rewritten, %lld bytes before, "
		 "%lld after", (long long)st.packs_dropped, (long long)st.packs_rewritten,
		 (long long)st.bytes_before, (long long)st.bytes_after);
	audit(c, "vault.collect", v.name, detail);
	reply_json(c, 200, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "packs_seen",
				     (json_int_t)st.packs_seen, "packs_dropped",
				     (json_int_t)st.packs_dropped, "packs_rewritten",
				     (json_int_t)st.packs_rewritten, "machines_skipped",
				     (json_int_t)st.machines_skipped, "bytes_before",
				     (json_int_t)st.bytes_before, "bytes_after",
				     (json_int_t)st.bytes_after, "files_deleted",
				     (json_int_t)st.files_deleted));
}

/* GET .../policy/preview: which points the policy keeps now and which it
 * would remove, before anything is removed. */
static void reply_preview(struct call *c, const char *machine_id)
{
	json_t *rep = NULL;
	struct err e;

	if (ops_retention(c->s, machine_id, c->now, 1, &rep, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, rep);
}

static void h_policy_preview(struct call *c)
{
	struct vault v;
	struct machine m;

	if (vault_machine(c, &v, &m) == 0)
		reply_preview(c, m.id);
}

static void h_machine_policy_preview(struct call *c)
{
	reply_preview(c, c->machine.id);
}

/* GET /machine/policy (machine): the agent picks up its policy. */
static void h_machine_policy(struct call *c)
{
	reply_policy(c, c->machine.id);
}

/* ---- jobs and usage ---- */

/* POST /jobs {"kind": "backup"|"restore"} (machine): a job starts. */
static void h_job_start(struct call *c)
{
	json_t *j = body_json(c);
	const char *kind;
	struct job job;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	kind = member(c, j, "kind", 1, &bad);
	if (bad)
		goto out;
	if (strcmp(kind, "backup") != 0 && strcmp(kind, "restore") != 0) {
		reply_msg(c, ERR_INVALID, "a job's kind is \"backup\" or \"restore\"");
		goto out;
	}
	if (catalog_job_start(c->s->cat, c->machine.id, kind, c->now, &job, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	reply_json(c, 201, json_pack("{s:s,s:s,s:s}", "id", job.id, "kind", kind, "status", "running"));
out:
	json_decref(j);
}

/* PATCH /jobs/{id} (machine): the job ends complete, partial (with what was
 * skipped in "report") or failed, with its figures. */
static void h_job_end(struct call *c)
{
	json_t *j = body_json(c), *rep;
	const char *status, *point;
	char msg[256];
	struct job job;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	memset(&job, 0, sizeof(job));
	snprintf(job.id, sizeof(job.id), "%.32s", c->arg[0]);
	status = member(c, j, "status", 1, &bad);
	point = bad ? NULL : member(c, j, "recovery_point", 0, &bad);
	if (bad)
		goto out;
	if (strcmp(status, "complete") && strcmp(status, "partial") && strcmp(status, "failed") &&
	    strcmp(status, "missed")) {
		reply_msg(c, ERR_INVALID, "a job ends \"complete\", \"partial\", \"failed\" or "
			  "\"missed\"");
		goto out;
	}
	rep = json_object_get(j, "report");
	if (rep && !json_is_object(rep)) {
		reply_msg(c, ERR_INVALID, "\"report\" must be an object (warnings, skipped files)");
		goto out;
	}
	if (strcmp(status, "partial") == 0 && !json_is_array(json_object_get(rep, "skipped"))) {
		reply_msg(c, ERR_INVALID, "a partial job lists what it skipped in report.skipped");
		goto out;
	}
	snprintf(job.status, sizeof(job.status), "%s", status);
	snprintf(job.point, sizeof(job.point), "%.32s", point ? point : "");
	job.files = json_integer_value(json_object_get(j, "files"));
	job.bytes_read = json_integer_value(json_object_get(j, "bytes_read"));
	job.bytes_stored = json_integer_value(json_object_get(j, "bytes_stored"));
	job.report = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
	{
		struct vault v;
		struct job_alert a = { v.subscription, NULL, c->machine.name, msg };
		bool raise = strcmp(status, "complete") != 0;

		snprintf(msg, sizeof(msg), "job %.32s of machine %s ended %s", job.id, c->machine.name,
			 job.status);
		a.kind = strcmp(status, "failed") == 0   ? "job.failed"
			 : strcmp(status, "missed") == 0 ? "backup.missed"
							 : "job.partial";
		if ((raise && catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) ||
		    catalog_job_end(c->s->cat, c->machine.id, &job, c->now, raise ? &a : NULL, &e) != 0)
			reply_err(c, &e);
		else
			reply_json(c, 200, json_pack("{s:s,s:s}", "id", job.id, "status", status));
	}
	free(job.report);
out:
	json_decref(j);
}

static void h_job_list(struct call *c)
{
	struct vault v;
	struct job *jobs = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0 ||
	    catalog_job_list(c->s->cat, v.id, 200, &jobs, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		char st[32], en[32];
		json_t *rep = json_loads(jobs[i].report, 0, NULL);

		fmt_time(jobs[i].started, st);
		fmt_time(jobs[i].ended, en);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:I,s:I,s:s?,s:o}",
			"id", jobs[i].id, "machine", jobs[i].machine, "kind", jobs[i].kind, "status",
			jobs[i].status, "started", st, "ended", jobs[i].ended ? en : NULL, "files",
			(json_int_t)jobs[i].files, "bytes_read", (json_int_t)jobs[i].bytes_read,
			"bytes_stored", (json_int_t)jobs[i].bytes_stored, "recovery_point",
			jobs[i].point[0] ? jobs[i].point : NULL, "report", rep ? rep : json_object()));
	}
	catalog_job_list_free(jobs, n);
	reply_json(c, 200, json_pack("{s:o}", "jobs", a));
}

static void h_usage(struct call *c)
{
	struct vault v;
	struct usage *u = NULL;
	size_t n = 0;
	struct err e;
	json_int_t total = 0;
	json_t *a;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0 ||
	    catalog_usage(c->s->cat, v.id, &u, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		total += (json_int_t)u[i].stored_bytes;
		json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I}", "machine", u[i].machine, "packs",
						   (json_int_t)u[i].packs, "stored_bytes",
						   (json_int_t)u[i].stored_bytes, "recovery_points",
						   (json_int_t)u[i].points));
	}
	free(u);
	reply_json(c, 200, json_pack("{s:s,s:I,s:o}", "vault", v.name, "stored_bytes", total,
				     "machines", a));
}

/* ---- routing ---- */

struct route {
	const char *method;
	const char *pattern; /* segments; "*" captures one */
	void (*fn)(struct call *);
	int auth;            /* AUTH_* */
};

enum { AUTH_USER = 0, AUTH_NONE = 1, AUTH_MACHINE = 2 };

static const struct route routes[] = {
	{ "GET", "/api/v1/health", h_health, 1 },
	{ "POST", "/api/v1/session", h_signin, 1 },
	{ "DELETE", "/api/v1/session", h_signout, 0 },
	{ "GET", "/api/v1/session", h_whoami, 0 },
	{ "GET", "/api/v1/tokens", h_token_list, 0 },
	{ "POST", "/api/v1/tokens", h_token_create, 0 },
	{ "DELETE", "/api/v1/tokens/*", h_token_delete, 0 },
	{ "GET", "/api/v1/regions", h_regions, 0 },
	{ "GET", "/api/v1/vaults", h_vault_list, 0 },
	{ "POST", "/api/v1/vaults", h_vault_create, 0 },
	{ "GET", "/api/v1/vaults/*", h_vault_get, 0 },
	{ "PATCH", "/api/v1/vaults/*", h_vault_patch, 0 },
	{ "DELETE", "/api/v1/vaults/*", h_vault_delete, 0 },
	{ "POST", "/api/v1/vaults/*/credentials", h_credentials, 0 },
	{ "GET", "/api/v1/vaults/*/machines", h_machine_list, 0 },
	{ "DELETE", "/api/v1/vaults/*/machines/*", h_machine_delete, 0 },
	{ "POST", "/api/v1/vaults/*/machines/*/undelete", h_machine_undelete, 0 },
	{ "GET", "/api/v1/vaults/*/machines/*/recovery-points", h_machine_points, 0 },
	{ "DELETE", "/api/v1/vaults/*/machines/*/recovery-points/*", h_point_delete, 0 },
	{ "POST", "/api/v1/vaults/*/machines/*/recovery-points/*/undelete", h_point_undelete, 0 },
	{ "POST", "/api/v1/pin", h_pin, 0 },
	{ "PUT", "/api/v1/vaults/*/machines/*/policy", h_policy_set, 0 },
	{ "GET", "/api/v1/vaults/*/machines/*/policy", h_policy_get, 0 },
	{ "GET", "/api/v1/machine/policy", h_machine_policy, AUTH_MACHINE },
	{ "PUT", "/api/v1/machine/policy", h_machine_policy_set, AUTH_MACHINE },
	{ "GET", "/api/v1/vaults/*/machines/*/policy/preview", h_policy_preview, 0 },
	{ "GET", "/api/v1/machine/policy/preview", h_machine_policy_preview, AUTH_MACHINE },
	{ "GET", "/api/v1/alerts", h_alerts, 0 },
	{ "GET", "/api/v1/audit", h_audit, 0 },
	{ "POST", "/api/v1/register", h_register, AUTH_NONE },
	{ "GET", "/api/v1/machine", h_machine_self, AUTH_MACHINE },
	{ "PUT", "/api/v1/packs/*", h_pack_put, AUTH_MACHINE },
	{ "GET", "/api/v1/packs/*", h_pack_get, AUTH_MACHINE },
	{ "GET", "/api/v1/packs/*/upload", h_pack_progress, AUTH_MACHINE },
	{ "POST", "/api/v1/objects/missing", h_objects_missing, AUTH_MACHINE },
	{ "POST", "/api/v1/objects/locate", h_objects_locate, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points", h_point_commit, AUTH_MACHINE },
	{ "GET", "/api/v1/recovery-points", h_point_list, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points/begin", h_point_begin, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points/lease/*/renew", h_lease_renew, AUTH_MACHINE },
	{ "DELETE", "/api/v1/recovery-points/lease/*", h_lease_release, AUTH_MACHINE },
	{ "GET", "/api/v1/recovery-points/*", h_point_show, AUTH_MACHINE },
	{ "GET", "/api/v1/machines/*", h_source_machine, AUTH_MACHINE },
	{ "PUT", "/api/v1/machine/wrapped-key", h_machine_rewrap, AUTH_MACHINE },
	{ "POST", "/api/v1/machine/certificate", h_machine_renew, AUTH_MACHINE },
	{ "GET", "/api/v1/machines/*/recovery-points", h_source_points, AUTH_MACHINE },
	{ "POST", "/api/v1/jobs", h_job_start, AUTH_MACHINE },
	{ "PATCH", "/api/v1/jobs/*", h_job_end, AUTH_MACHINE },
	{ "GET", "/api/v1/vaults/*/jobs", h_job_list, 0 },
	{ "GET", "/api/v1/vaults/*/usage", h_usage, 0 },
	{ "POST", "/api/v1/vaults/*/collect", h_collect, 0 },
};

/*
 * Authenticate a user's request: a bearer token (session or API token), or
 * the portal's session cookie. Why the CSRF token only for the cookie: a
 * browser attaches cookies to requests other sites make it send, never an
 * Authorization header; so a change made with the cookie must also prove it
 * came from a page of the portal, which alone can read the CSRF token.
 * 0, or -1 after replying.
 */
static int user_auth(struct call *c)
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

/* Match PATH against PATTERN, capturing "*" segments into ARG (pointers into
 * COPY, which is PATH split at '/'). */
static int match(const char *pattern, char *copy, const char **arg)
{
	char *save = NULL, *seg = strtok_r(copy, "/", &save);
	const char *p = pattern + 1;
	int n = 0;

	while (*p || seg) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (seg == NULL || len == 0)
			return 0;
		if (len == 1 && *p == '*') {
			if (n >= MAX_SEGMENTS)
				return 0;
			arg[n++] = seg;
		} else if (strlen(seg) != len || strncmp(seg, p, len) != 0) {
			return 0;
		}
		p = end ? end + 1 : p + len;
		seg = strtok_r(NULL, "/", &save);
	}
	return 1;
}

/* The route of the call's request into *R, its "*" segments captured in
 * C->arg (pointers into COPY). 0; or -1 after replying 404 (no such path) or
 * 405 (no such method on it). */
static int route_of(struct call *c, char copy[1024], const struct route **r)
{
	int path_found = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (snprintf(copy, 1024, "%s", c->req->path) >= 1024)
			break;
		if (!match(routes[i].pattern, copy, c->arg))
			continue;
		path_found = 1;
		if (strcmp(routes[i].method, c->req->method) != 0)
			continue;
		*r = &routes[i];
		return 0;
	}
	if (path_found) {
		reply_json(c, 405, json_pack("{s:{s:s,s:s}}", "error", "code", "method",
					     "message", "this method is not allowed on this path"));
		return -1;
	}
	reply_json(c, 404, json_pack("{s:{s:s,s:s}}", "error", "code", "not_found", "message",
				     "no such API path; see docs/API.md"));
	return -1;
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *res)
{
	const struct upload_ticket *t = req->ticket;
	const struct route *r;
	struct call c;
	char copy[1024];

	memset(&c, 0, sizeof(c));
	c.s = ctx;
	c.req = req;
	c.res = res;
	c.now = service_now();
	if (route_of(&c, copy, &r) != 0)
		return;
	if (r->auth == AUTH_MACHINE) {
		/* An admitted upload was authenticated from its headers (its
		 * nonce is spent): it brings who signed it and what. */
		if (t) {
			c.machine = t->machine;
			c.body_len = t->body_len;
			memcpy(c.body_sha, t->body_sha, sizeof(c.body_sha));
		} else if (machine_auth(&c) != 0) {
			return;
		}
		if (body_signed(&c) != 0)
			return;
	} else if (r->auth == AUTH_USER && user_auth(&c) != 0) {
		return;
	}
	r->fn(&c);
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
