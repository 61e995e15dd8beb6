/*
 * api/session.c: health, sign-in and sign-out, who is signed in, and API
 * tokens.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "portal.h"

static void new_token(char out[65])
{
	uint8_t b[32];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, 65, b, sizeof(b));
}

void h_health(struct call *c)
{
	reply_json(c, 200, json_pack("{s:s,s:s}", "status", "ok", "version", ARCA_VERSION));
}

/*
 * POST /session. With "cookie": true (the portal) the session token goes in
 * an HttpOnly cookie instead of the body, and the answer carries the CSRF
 * token that changes made with the cookie must send. Failed attempts are
 * limited per client address and per user name (portal.h).
 */
void h_signin(struct call *c)
{
	json_t *j = body_json(c);
	const char *user, *password, *code;
	char hash[crypto_pwhash_STRBYTES], token[65], th[65], expires[32], csrf[65];
	struct err e;
	bool cookie;
	int bad = 0, wait, ok;

	if (j == NULL)
		return;
	user = member(c, j, "user", 1, &bad);
	password = bad ? NULL : member(c, j, "password", 1, &bad);
	code = bad ? NULL : member(c, j, "code", 0, &bad);
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
	if (portal_signin_wait(c->s->portal, c->req->peer, user, c->now, &wait, &e) != 0) {
		reply_err(c, &e); /* limits that cannot be read refuse the sign-in */
		goto out;
	}
	if (wait > 0) {
		reply_limited(c, wait, "sign-ins from this address or for this user");
		goto out;
	}
	/* Why one message for both failures: do not tell which user names exist. */
	if (catalog_user_find(c->s->cat, user, hash, sizeof(hash), &c->who, &e) != 0 ||
	    crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
		portal_signin_failed(c->s->portal, c->req->peer, user, c->now);
		reply_msg(c, ERR_DENIED, "user name or password is wrong");
		goto out;
	}
	if (c->who.disabled) {
		reply_msg(c, ERR_DENIED, "this user is disabled: an owner or security admin can "
			  "enable it again");
		goto out;
	}
	/* The second factor: asked for when the password is right (the portal
	 * then shows the code's field); a wrong or used code is a failed
	 * sign-in like a wrong password. */
	if (c->who.totp && code == NULL) {
		reply_json(c, 401, json_pack("{s:{s:s,s:s}}", "error", "code", "totp_required",
					     "message", "this user signs in with a one-time code too: "
					     "send the 6 digits of the authenticator app as \"code\""));
		goto out;
	}
	if (c->who.totp) {
		if ((ok = totp_passes(c, &c->who, code, &e)) < 0) {
			reply_err(c, &e);
			goto out;
		}
		if (ok == 0) {
			portal_signin_failed(c->s->portal, c->req->peer, user, c->now);
			reply_msg(c, ERR_DENIED, "the one-time code is wrong or was used already: "
				  "wait for the next one");
			goto out;
		}
	}
	new_token(token);
	service_token_hash(token, th);
	if (catalog_session_create(c->s->cat, th, c->who.actor, c->now + SESSION_SECONDS, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	/* An unrecorded sign-in hands out no session: it is taken back (the
	 * token was never shown, so it would be unusable anyway). */
	if (audit(c, "session.create", user, cookie ? "portal" : "", &e) != 0) {
		struct err ue;

		if (catalog_session_delete(c->s->cat, th, &ue) != 0)
			fprintf(stderr, "arcad: taking back the unrecorded session of %s: %s\n", user,
				ue.msg);
		sodium_memzero(token, sizeof(token));
		reply_err(c, &e);
		goto out;
	}
	portal_signin_succeeded(c->s->portal, c->req->peer, user, c->now);
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
void h_whoami(struct call *c)
{
	json_t *j = json_pack("{s:s,s:s,s:b,s:s,s:b,s:b}", "user", c->who.name, "subscription",
			      c->who.subscription, "api_token", c->who.is_token, "role",
			      c->who.role, "totp", c->who.totp, "totp_required",
			      c->who.totp_required);

	if (c->by_cookie) {
		char csrf[65];

		portal_csrf(c->s->portal, c->token, csrf);
		json_object_set_new(j, "csrf", json_string(csrf));
	}
	reply_json(c, 200, j);
}

void h_signout(struct call *c)
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
	if (audit(c, "session.delete", c->who.name, "", &e) != 0) {
		reply_err(c, &e); /* signed out all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:b}", "signed_out", 1));
}

/* POST /tokens {"name", "role"?}: a token of ROLE (the caller's when
 * absent), which must be one the caller's role covers (api/access.c): a
 * token can do no more than its maker. */
void h_token_create(struct call *c)
{
	json_t *j = body_json(c);
	const char *name, *role;
	char token[65], th[65];
	struct principal maker;
	catalog_id id;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	name = member(c, j, "name", 1, &bad);
	role = bad ? NULL : member(c, j, "role", 0, &bad);
	if (bad)
		goto out;
	if (strlen(name) < 1 || strlen(name) > 64) {
		reply_msg(c, ERR_INVALID, "an API token's name must be 1 to 64 characters");
		goto out;
	}
	if (role == NULL)
		role = c->who.role;
	if (role_bit(role) == 0) {
		reply_msg(c, ERR_INVALID, "\"role\" must be owner, backup-operator, restore-operator, "
			  "reader or security-admin");
		goto out;
	}
	if (!role_covers(c->who.role, role)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "a token's role can be no higher than its maker's: %s "
			 "acts as %s, which does not cover %s", c->who.name, c->who.role, role);
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied", "message",
					     msg));
		goto out;
	}
	maker = c->who;
	snprintf(maker.role, sizeof(maker.role), "%s", role);
	new_token(token);
	service_token_hash(token, th);
	if (catalog_token_create(c->s->cat, &maker, name, th, c->now, id, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	/* An unrecorded token is taken back, never shown. */
	if (audit(c, "token.create", name, role, &e) != 0) {
		struct err ue;

		if (catalog_token_delete(c->s->cat, c->who.subscription, id, &ue) != 0)
			fprintf(stderr, "arcad: taking back the unrecorded API token %s: %s\n", id,
				ue.msg);
		sodium_memzero(token, sizeof(token));
		reply_err(c, &e);
		goto out;
	}
	/* The token itself is shown once, here; the catalog keeps its hash. */
	reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", name, "role", role,
				     "token", token));
out:
	json_decref(j);
}

void h_token_list(struct call *c)
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
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?}", "id", t[i].id,
						   "name", t[i].name, "role", t[i].role, "created",
						   created, "maker", t[i].maker[0] ? t[i].maker : NULL,
						   "last_used", t[i].last_used ? used : NULL));
	}
	free(t);
	reply_json(c, 200, json_pack("{s:o}", "tokens", a));
}

void h_token_delete(struct call *c)
{
	struct err e;

	if (catalog_token_delete(c->s->cat, c->who.subscription, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (audit(c, "token.delete", c->arg[0], "", &e) != 0) {
		reply_err(c, &e); /* deleted all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "deleted", c->arg[0]));
}
