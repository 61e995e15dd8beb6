/*
 * api/users.c: the users of a subscription and their roles (list, invite,
 * change role, disable, enable, remove, reset a password), the one-time
 * code an invitation or a reset hands out and its use (POST /invitation),
 * the subscription's security settings (a second factor required of every
 * user), and a user's own second factor (TOTP, RFC 6238: enrol, confirm,
 * remove).
 *
 * Who may call each route is the access table's (api/access.c); what only
 * an owner may do to an owner, and that one enabled owner always remains,
 * the catalog checks in the transaction that writes. Every change is in
 * the audit log and raises an alert: a new account, changed powers or a
 * weaker sign-in is what an attacker with a stolen password does first.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "portal.h"
#include "seal.h"
#include "totp.h"

#define CODE_SECONDS (3 * 86400) /* an invitation's or reset's one-time code is valid */
#define CODE_BYTES 15            /* 120 random bits: 24 Base32 characters */
#define PASSWORD_MIN 12
#define TOTP_WINDOW 1            /* steps either side of now a code may be from */
#define TOTP_ISSUER "arca"

/* Whether NAME is a user name: 1 to 64 of letters, digits and . _ @ -
 * (it is a path segment of /users/NAME). */
static bool user_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '@' || ch == '-'))
			return false;
	}
	return true;
}

/* A new one-time code (Base32) and its hash. */
static int new_code(char code[32], char hash[65], struct err *e)
{
	uint8_t raw[CODE_BYTES];

	randombytes_buf(raw, sizeof(raw));
	if (totp_base32_encode(raw, sizeof(raw), code, 32, e) != 0)
		return -1;
	sodium_memzero(raw, sizeof(raw));
	sha256_hex(code, strlen(code), hash);
	return 0;
}

/* Audit ACTION on TARGET and raise the alert of the same kind, MESSAGE
 * telling what happened. 0, or -1 with E set. */
static int record(struct call *c, const char *action, const char *target, const char *detail,
		  const char *message, struct err *e)
{
	if (audit(c, action, target, detail, e) != 0)
		return -1;
	return alert_raise(c->s, c->who.subscription, c->now, action, target, message, e);
}

/* A role named by a request: one of the five, else -1 after replying 400. */
static int role_ok(struct call *c, const char *role)
{
	if (role_bit(role) != 0)
		return 0;
	reply_msg(c, ERR_INVALID, "\"role\" must be owner, backup-operator, restore-operator, "
		  "reader or security-admin");
	return -1;
}

static bool is_owner(const struct call *c)
{
	return strcmp(c->who.role, CATALOG_OWNER) == 0;
}

void h_user_list(struct call *c)
{
	struct user *u = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_user_list(c->s->cat, c->who.subscription, &u, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[32], until[32];

		fmt_time(u[i].created, created);
		fmt_time(u[i].invite_expires, until);
		json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:b,s:s,s:s?}", "name", u[i].name,
						   "role", u[i].role, "disabled", u[i].disabled,
						   "totp", u[i].totp, "created", created, "code_expires",
						   u[i].invite_expires ? until : NULL));
	}
	free(u);
	reply_json(c, 200, json_pack("{s:o}", "users", a));
}

/* POST /users {"name", "role"}: a user without a password and the
 * one-time code (shown once, here) with which they set one. Only an owner
 * invites an owner. */
void h_user_invite(struct call *c)
{
	json_t *j = body_json(c);
	const char *name, *role;
	char code[32], hash[65], until[32], msg[300];
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	name = member(c, j, "name", 1, &bad);
	role = bad ? NULL : member(c, j, "role", 1, &bad);
	if (bad)
		goto out;
	if (!user_name_ok(name)) {
		reply_msg(c, ERR_INVALID, "a user name is 1 to 64 letters, digits and . _ @ -");
		goto out;
	}
	if (role_ok(c, role) != 0)
		goto out;
	if (strcmp(role, CATALOG_OWNER) == 0 && !is_owner(c)) {
		reply_role(c, ROLE_OWNER, "inviting an owner");
		goto out;
	}
	if (new_code(code, hash, &e) != 0 ||
	    catalog_user_invite(c->s->cat, c->who.subscription, name, role, hash,
				c->now + CODE_SECONDS, c->now, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s invited user %s as %s", c->who.name, name, role);
	/* An unrecorded invitation is taken back: its code is never shown. */
	if (record(c, "user.invite", name, role, msg, &e) != 0) {
		struct user_change rm = { .what = USER_REMOVE, .may_touch_owner = true };
		struct err ue;

		if (catalog_user_change(c->s->cat, c->who.subscription, name, &rm, &ue) != 0)
			fprintf(stderr, "arcad: taking back the unrecorded invitation of %s: %s\n",
				name, ue.msg);
		sodium_memzero(code, sizeof(code));
		reply_err(c, &e);
		goto out;
	}
	fmt_time(c->now + CODE_SECONDS, until);
	reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "role", role, "code", code,
				     "code_expires", until));
	sodium_memzero(code, sizeof(code));
out:
	json_decref(j);
}

/* One change CH to user arg[0], recorded as ACTION with DETAIL. 0, or -1
 * after replying. */
static int change(struct call *c, struct user_change *ch, const char *action, const char *detail)
{
	char msg[300];
	struct err e;

	ch->may_touch_owner = is_owner(c);
	if (catalog_user_change(c->s->cat, c->who.subscription, c->arg[0], ch, &e) != 0) {
		if (e.code == ERR_DENIED)
			reply_role(c, ROLE_OWNER, "changing an owner, or making one,");
		else
			reply_err(c, &e);
		return -1;
	}
	snprintf(msg, sizeof(msg), "%s: %s by %s%s%s", action, c->arg[0], c->who.name,
		 detail[0] ? ", " : "", detail);
	if (record(c, action, c->arg[0], detail, msg, &e) != 0) {
		reply_err(c, &e); /* changed all the same */
		return -1;
	}
	return 0;
}

/* PATCH /users/{name} {"role"?, "disabled"?} */
void h_user_patch(struct call *c)
{
	json_t *j = body_json(c), *dis;
	const char *role;
	struct user_change ch = { 0 };
	int bad = 0;

	if (j == NULL)
		return;
	role = member(c, j, "role", 0, &bad);
	dis = json_object_get(j, "disabled");
	if (bad)
		goto out;
	if ((role == NULL && dis == NULL) || (dis && !json_is_boolean(dis))) {
		reply_msg(c, ERR_INVALID, "send \"role\" (a role's name) or \"disabled\" (true or "
			  "false), or both");
		goto out;
	}
	if (role && role_ok(c, role) != 0)
		goto out;
	if (role) {
		ch.what = USER_ROLE, ch.role = role;
		if (change(c, &ch, "user.role", role) != 0)
			goto out;
	}
	if (dis) {
		ch.what = json_is_true(dis) ? USER_DISABLE : USER_ENABLE;
		if (change(c, &ch, json_is_true(dis) ? "user.disable" : "user.enable", "") != 0)
			goto out;
	}
	reply_json(c, 200, json_pack("{s:s}", "user", c->arg[0]));
out:
	json_decref(j);
}

/* DELETE /users/{name}: the user goes, with its sessions and the API
 * tokens it made. */
void h_user_delete(struct call *c)
{
	struct user_change ch = { .what = USER_REMOVE };
	char summary[200];
	json_t *args;
	int gate;

	snprintf(summary, sizeof(summary), "remove user %s", c->arg[0]);
	args = json_pack("{s:s}", "user", c->arg[0]);
	gate = approval_gate(c, "user.remove", c->arg[0], summary, args);
	json_decref(args);
	if (gate != 0)
		return;
	if (change(c, &ch, "user.remove", "") != 0)
		return;
	reply_json(c, 200, json_pack("{s:s}", "removed", c->arg[0]));
}

/* POST /users/{name}/reset: the user's password and second factor are
 * cleared, its sessions ended, and a new one-time code (shown once, here)
 * sets a new password. */
void h_user_reset(struct call *c)
{
	struct user_change ch = { .what = USER_RESET };
	char code[32], hash[65], until[32];
	struct err e;

	if (new_code(code, hash, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	ch.code_hash = hash;
	ch.expires = c->now + CODE_SECONDS;
	/* An unrecorded reset shows no code (change answered the error): the
	 * user has no password until reset again. */
	if (change(c, &ch, "user.reset", "") != 0) {
		sodium_memzero(code, sizeof(code));
		return;
	}
	fmt_time(ch.expires, until);
	reply_json(c, 200, json_pack("{s:s,s:s,s:s}", "name", c->arg[0], "code", code,
				     "code_expires", until));
	sodium_memzero(code, sizeof(code));
}

/* POST /invitation {"user", "code", "password"} (no sign-in): a one-time
 * code of an invitation or reset sets the user's password, once. Failures
 * count toward the sign-in limits. */
void h_invitation(struct call *c)
{
	json_t *j = body_json(c);
	const char *user, *code, *password;
	char hash[65], pwhash[crypto_pwhash_STRBYTES], sub[sizeof(catalog_id)] = "";
	char digest[crypto_pwhash_STRBYTES];
	struct principal p;
	struct err e;
	int bad = 0, wait;

	if (j == NULL)
		return;
	user = member(c, j, "user", 1, &bad);
	code = bad ? NULL : member(c, j, "code", 1, &bad);
	password = bad ? NULL : member(c, j, "password", 1, &bad);
	if (bad)
		goto out;
	if (strlen(password) < PASSWORD_MIN || strlen(password) > 200) {
		reply_msg(c, ERR_INVALID, "a password needs 12 to 200 characters");
		goto out;
	}
	if (portal_signin_wait(c->s->portal, c->req->peer, user, c->now, &wait, &e) != 0) {
		reply_err(c, &e); /* limits that cannot be read refuse the try */
		goto out;
	}
	if (wait > 0) {
		reply_limited(c, wait, "sign-ins from this address or for this user");
		goto out;
	}
	sha256_hex(code, strlen(code), hash);
	if (crypto_pwhash_str(pwhash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		reply_msg(c, ERR_NOMEM, "the password could not be hashed (out of memory); retry");
		goto out;
	}
	if (catalog_user_accept(c->s->cat, user, hash, pwhash, c->now, &e) != 0) {
		if (e.code == ERR_DENIED)
			portal_signin_failed(c->s->portal, c->req->peer, user, c->now);
		reply_err(c, &e);
		goto out;
	}
	portal_signin_succeeded(c->s->portal, c->req->peer, user, c->now);
	if (catalog_user_find(c->s->cat, user, digest, sizeof(digest), &p, &e) == 0)
		snprintf(sub, sizeof(sub), "%s", p.subscription);
	if (sub[0] == 0 || audit_log(c->s, sub, c->now, user, "user.password", user,
				     "set with a one-time code", &e) != 0) {
		reply_err(c, &e); /* set all the same */
		goto out;
	}
	reply_json(c, 200, json_pack("{s:s,s:b}", "user", user, "password_set", 1));
out:
	json_decref(j);
}

void h_settings_get(struct call *c)
{
	struct guard g;
	struct err e;

	if (catalog_guard_get(c->s->cat, c->who.subscription, &g, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_pack("{s:b,s:s?,s:i}", "require_totp", c->who.totp_required,
				     "guard", g.name[0] ? g.name : NULL, "approval_hours", g.hours));
}

/* PUT /settings {"require_totp"?: bool, "guard"?: name or null,
 * "approval_hours"?: 1..720}. The guard's part is api/approvals.c's: the
 * first guard is named at once; changing or removing one waits for the
 * guard's approval (202, and nothing else of the body is changed). */
void h_settings_put(struct call *c)
{
	json_t *j = body_json(c), *req;
	char msg[200];
	struct err e;
	bool on;

	if (j == NULL)
		return;
	req = json_object_get(j, "require_totp");
	if ((req && !json_is_boolean(req)) ||
	    (!req && !json_object_get(j, "guard") && !json_object_get(j, "approval_hours"))) {
		reply_msg(c, ERR_INVALID, "send {\"require_totp\": true or false}, {\"guard\": a "
			  "security-admin's name, or null}, {\"approval_hours\": 1 to 720}, or several");
		goto out;
	}
	if (guard_settings(c, j) != 0)
		goto out;
	if (req) {
		on = json_is_true(req);
		if (catalog_subscription_require_totp(c->s->cat, c->who.subscription, on, &e) != 0) {
			reply_err(c, &e);
			goto out;
		}
		snprintf(msg, sizeof(msg), "%s %s the second factor for every user", c->who.name,
			 on ? "requires" : "no longer requires");
		if (record(c, "settings.require_totp", "subscription", on ? "on" : "off", msg,
			   &e) != 0) {
			reply_err(c, &e); /* changed all the same */
			goto out;
		}
		c->who.totp_required = on;
	}
	h_settings_get(c);
out:
	json_decref(j);
}

/* The associated data a user's sealed TOTP secret is bound to. */
static void totp_ad(const char *user_id, char ad[64])
{
	snprintf(ad, 64, "totp:%s", user_id);
}

/* A second factor is a person's: not an API token's. 0, or -1 after
 * replying. */
static int person(struct call *c)
{
	if (!c->who.is_token)
		return 0;
	reply_msg(c, ERR_DENIED, "a second factor is a person's, signed in: not an API token's");
	return -1;
}

/* The user's secret: stored text S sealed for USER_ID, decoded into KEY.
 * 0, or -1 with E set. */
static int totp_key(struct call *c, const char *user_id, const char *s, uint8_t key[TOTP_KEY_MAX],
		    size_t *len, struct err *e)
{
	char ad[64], *plain;
	int rc;

	totp_ad(user_id, ad);
	if ((plain = seal_open(c->s->seal, ad, s, e)) == NULL)
		return err_prefix(e, "the second factor's secret cannot be opened: ");
	rc = totp_base32_decode(plain, key, TOTP_KEY_MAX, len, e);
	seal_plain_free(plain);
	return rc;
}

int totp_passes(struct call *c, const struct principal *p, const char *code, struct err *e)
{
	char secret[CATALOG_TOTP_LEN], pending[CATALOG_TOTP_LEN];
	uint8_t key[TOTP_KEY_MAX];
	size_t len;
	int64_t last, step;
	int ok;

	if (catalog_totp_get(c->s->cat, p->user_id, secret, pending, &last, e) != 0)
		return -1;
	if (secret[0] == 0)
		return 0;
	if (totp_key(c, p->user_id, secret, key, &len, e) != 0)
		return -1;
	ok = totp_check(TOTP_SHA1, key, len, code, c->now, TOTP_STEP, TOTP_DIGITS, TOTP_WINDOW, last,
			&step, e);
	sodium_memzero(key, sizeof(key));
	if (ok != 1)
		return ok;
	/* Spent in the catalog, so two services cannot both take one code. */
	if (catalog_totp_set(c->s->cat, p->user_id, TOTP_USE, NULL, step, e) != 0)
		return e->code == ERR_DENIED ? 0 : -1;
	return 1;
}

/* POST /session/totp: a new secret, pending until a code confirms it;
 * shown once, here, as Base32 text and the otpauth:// address. */
void h_totp_begin(struct call *c)
{
	uint8_t key[TOTP_SECRET_LEN];
	char b32[TOTP_BASE32_MAX], ad[64];
	struct buf sealed = BUF_INIT;
	char *uri = NULL;
	struct err e;

	if (person(c) != 0)
		return;
	if (c->who.totp) {
		reply_msg(c, ERR_EXISTS, "you have a second factor already: remove it first "
			  "(DELETE /api/v1/session/totp with a code of it)");
		return;
	}
	randombytes_buf(key, sizeof(key));
	totp_ad(c->who.user_id, ad);
	if (totp_base32_encode(key, sizeof(key), b32, sizeof(b32), &e) != 0 ||
	    (uri = totp_uri(TOTP_ISSUER, c->who.name, key, sizeof(key), &e)) == NULL ||
	    seal_text(c->s->seal, ad, b32, &sealed, &e) != 0 ||
	    catalog_totp_set(c->s->cat, c->who.user_id, TOTP_PENDING, (const char *)sealed.data, 0,
			     &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	reply_json(c, 201, json_pack("{s:s,s:s,s:i,s:i}", "secret", b32, "uri", uri, "digits",
				     TOTP_DIGITS, "period", TOTP_STEP));
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(b32, sizeof(b32));
	free(uri);
	buf_free(&sealed);
}

/* POST /session/totp/confirm {"code"}: the pending secret becomes the
 * user's when CODE is one of its codes now. */
void h_totp_confirm(struct call *c)
{
	json_t *j = body_json(c);
	char secret[CATALOG_TOTP_LEN], pending[CATALOG_TOTP_LEN];
	uint8_t key[TOTP_KEY_MAX];
	const char *code;
	size_t len;
	int64_t last, step;
	struct err e;
	int bad = 0, ok;

	if (j == NULL)
		return;
	code = member(c, j, "code", 1, &bad);
	if (bad || person(c) != 0)
		goto out;
	if (catalog_totp_get(c->s->cat, c->who.user_id, secret, pending, &last, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	if (pending[0] == 0) {
		reply_msg(c, ERR_NOT_FOUND, "no second factor waits to be confirmed: begin with "
			  "POST /api/v1/session/totp");
		goto out;
	}
	if (totp_key(c, c->who.user_id, pending, key, &len, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	ok = totp_check(TOTP_SHA1, key, len, code, c->now, TOTP_STEP, TOTP_DIGITS, TOTP_WINDOW, -1,
			&step, &e);
	sodium_memzero(key, sizeof(key));
	if (ok < 0) {
		reply_err(c, &e);
		goto out;
	}
	if (ok == 0) {
		reply_msg(c, ERR_INVALID, "the code is wrong: type the 6 digits your authenticator "
			  "app shows now for this account (and check the device's clock)");
		goto out;
	}
	if (catalog_totp_set(c->s->cat, c->who.user_id, TOTP_CONFIRM, NULL, step, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	if (record(c, "totp.enrol", c->who.name, "", "a second factor was enrolled", &e) != 0) {
		reply_err(c, &e); /* enrolled all the same */
		goto out;
	}
	reply_json(c, 200, json_pack("{s:b}", "totp", 1));
out:
	json_decref(j);
}

/* DELETE /session/totp {"code"}: the user's second factor goes, proven by
 * one of its codes; refused while the subscription requires one. */
void h_totp_delete(struct call *c)
{
	json_t *j = body_json(c);
	const char *code;
	char msg[200];
	struct err e;
	int bad = 0, ok;

	if (j == NULL)
		return;
	code = member(c, j, "code", 1, &bad);
	if (bad || person(c) != 0)
		goto out;
	if (c->who.totp_required) {
		reply_msg(c, ERR_LOCKED, "this subscription requires a second factor of every user: "
			  "it cannot be removed");
		goto out;
	}
	if ((ok = totp_passes(c, &c->who, code, &e)) < 0) {
		reply_err(c, &e);
		goto out;
	}
	if (ok == 0) {
		reply_msg(c, ERR_INVALID, "the code is wrong or was used already");
		goto out;
	}
	if (catalog_totp_set(c->s->cat, c->who.user_id, TOTP_CLEAR, NULL, 0, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s removed their second factor", c->who.name);
	if (record(c, "totp.remove", c->who.name, "", msg, &e) != 0) {
		reply_err(c, &e); /* removed all the same */
		goto out;
	}
	reply_json(c, 200, json_pack("{s:b}", "totp", 0));
out:
	json_decref(j);
}
