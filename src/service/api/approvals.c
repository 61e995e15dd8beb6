/*
 * api/approvals.c: multi-user approval. While a subscription has a guard
 * (a security-admin user named in its settings), every critical operation
 * is held as a request instead of done: the handler checks everything it
 * checks today (role, security PIN, the request's own rules), then calls
 * approval_gate, which stores exactly what to run (the operation and its
 * arguments as JSON) and answers 202 with the request. The guard approves
 * or refuses it with a second proof (a fresh TOTP code when the guard has
 * a second factor, else their password typed again); the catalog decides
 * a request once, and never by its requester. An approved request runs at
 * once, here, as the guard's act on the requester's behalf, every rule of
 * that moment checked again (the requester's role, the vault's
 * immutability, the policy's floors); no PIN is asked again: the guard's
 * proof stands for it.
 *
 * The critical operations (docs/API.md, "Approvals"): point.delete,
 * machine.delete, policy.shorten (a person's or a machine's), vault.mutable,
 * passphrase.change, user.remove and guard.change. The last one the
 * catalog runs itself, in the transaction that approves it.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "ops.h"
#include "policy.h"
#include "portal.h"

/* Audit ACTION on TARGET and raise the alert of the same kind. 0, or -1
 * with E set (each record that fails is on stderr). */
static int record(struct service *s, const char *subscription, int64_t now, const char *actor,
		  const char *action, const char *target, const char *detail, const char *message,
		  struct err *e)
{
	if (audit_log(s, subscription, now, actor, action, target, detail, e) != 0)
		return -1;
	if (message == NULL)
		return 0;
	return alert_raise(s, subscription, now, action, target, message, e);
}

static json_t *approval_json(const struct approval *a)
{
	char created[32], expires[32], decided[32];
	json_t *args = json_loads(a->args, 0, NULL);

	fmt_time(a->created, created);
	fmt_time(a->expires, expires);
	fmt_time(a->decided, decided);
	/* A passphrase change's blob is the machine's business, not a reader's. */
	if (args && json_is_object(args))
		json_object_del(args, "wrapped_key");
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:o?}", "id", a->id,
			 "operation", a->operation, "summary", a->summary, "requested_by",
			 a->requested_by, "created", created, "expires", expires, "state", a->state,
			 "decided_by", a->decided_by[0] ? a->decided_by : NULL, "decided",
			 a->decided ? decided : NULL, "result", a->result[0] ? a->result : NULL,
			 "arguments", args);
}

int approval_gate(struct call *c, const char *operation, const char *target, const char *summary,
		  json_t *args)
{
	struct approval a;
	struct guard g;
	char *text = NULL, expires[32], msg[512];
	bool machine = c->machine.id[0] != 0;
	struct err e;
	int rc = -1;

	if (catalog_guard_get(c->s->cat, c->who.subscription, &g, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	if (g.user_id[0] == 0) {
		rc = 0;
		goto out;
	}
	memset(&a, 0, sizeof(a));
	catalog_new_id(a.id);
	snprintf(a.subscription, sizeof(a.subscription), "%s", c->who.subscription);
	snprintf(a.operation, sizeof(a.operation), "%s", operation);
	snprintf(a.summary, sizeof(a.summary), "%s", summary);
	if (machine)
		snprintf(a.requester, sizeof(a.requester), "%s", c->machine.id);
	else
		snprintf(a.requester, sizeof(a.requester), "%s",
			 c->who.user_id[0] ? c->who.user_id : c->who.actor);
	snprintf(a.requested_by, sizeof(a.requested_by), "%s", c->who.name);
	a.created = c->now;
	a.expires = c->now + (int64_t)g.hours * 3600;
	if ((text = json_dumps(args, JSON_COMPACT)) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (strlen(text) >= sizeof(a.args)) {
		reply_msg(c, ERR_TOO_LARGE, "this change is too large to wait for approval");
		goto out;
	}
	memcpy(a.args, text, strlen(text) + 1);
	if (catalog_approval_create(c->s->cat, &a, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s asks to %s; it waits for %s's approval (request %s)",
		 c->who.name, summary, g.name, a.id);
	/* A request nobody hears of: the asker gets the error (the record is
	 * on stderr); the request stays in the list, and expires unless the
	 * guard decides it. */
	if (record(c->s, c->who.subscription, c->now, c->who.name, "approval.request", target,
		   a.id, msg, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	strcpy(a.state, "pending");
	fmt_time(a.expires, expires);
	reply_json(c, 202, json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "approval", "id", a.id,
				     "operation", a.operation, "summary", a.summary, "requested_by",
				     a.requested_by, "expires", expires, "guard", g.name));
	rc = 1;
out:
	free(text);
	return rc;
}

/* ---- Running an approved request ---- */

/* The string member KEY of ARGS, or "" (a request the service wrote
 * always has its members; a missing one fails the run later). */
static const char *arg(json_t *args, const char *key)
{
	const char *s = json_string_value(json_object_get(args, key));

	return s ? s : "";
}

/* Whether the user REQUESTER of SUBSCRIPTION still exists, enabled, with a
 * role among ALLOWED; its role into ROLE. 0, or -1 with E set. */
static int requester_may(struct service *s, const char *subscription, const char *requester,
			 unsigned allowed, char role[CATALOG_ROLE_LEN], struct err *e)
{
	struct user *u = NULL;
	size_t n = 0;
	int rc = -1;

	if (catalog_user_list(s->cat, subscription, &u, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(u[i].id, requester) != 0)
			continue;
		if (u[i].disabled) {
			err_set(e, ERR_DENIED, "%s, who asked, is disabled now", u[i].name);
		} else if ((role_bit(u[i].role) & allowed) == 0) {
			err_set(e, ERR_DENIED, "%s, who asked, has the role %s now, which may not "
				"do this", u[i].name, u[i].role);
		} else {
			snprintf(role, CATALOG_ROLE_LEN, "%s", u[i].role);
			rc = 0;
		}
		goto out;
	}
	err_set(e, ERR_DENIED, "the user who asked is no longer in this subscription");
out:
	free(u);
	return rc;
}

/* The machine ID of vault VAULT_ID, live, into *M. 0, or -1 with E set. */
static int live_machine(struct service *s, const char *vault_id, const char *id,
			struct machine *m, struct err *e)
{
	char *pub = NULL;

	if (catalog_machine_get(s->cat, id, m, &pub, e) != 0)
		return -1;
	free(pub);
	if (strcmp(m->vault_id, vault_id) != 0 || m->deleted)
		return err_set(e, ERR_NOT_FOUND, "machine %s is deleted or gone", m->name);
	return 0;
}

struct run {
	struct service *s;
	const struct approval *a;
	json_t *args;
	const char *actor; /* "guard for requester", the audit log's actor */
	int64_t now;
	char role[CATALOG_ROLE_LEN];
};

static int run_point_delete(struct run *r, struct err *e)
{
	struct machine m;

	if (requester_may(r->s, r->a->subscription, r->a->requester, ROLE_OWNER, r->role, e) != 0 ||
	    live_machine(r->s, arg(r->args, "vault_id"), arg(r->args, "machine_id"), &m, e) != 0 ||
	    catalog_point_delete(r->s->cat, m.id, arg(r->args, "point"), r->now, e) != 0)
		return -1;
	return record(r->s, r->a->subscription, r->now, r->actor, "point.delete",
		      arg(r->args, "target"), "soft delete: restorable for 14 days", NULL, e);
}

static int run_machine_delete(struct run *r, struct err *e)
{
	struct machine m;
	char msg[512];

	if (requester_may(r->s, r->a->subscription, r->a->requester, ROLE_OWNER, r->role, e) != 0 ||
	    live_machine(r->s, arg(r->args, "vault_id"), arg(r->args, "machine_id"), &m, e) != 0 ||
	    catalog_machine_delete(r->s->cat, m.vault_id, m.name, r->now, e) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "machine %s was deleted by %s; its data can be undeleted for "
		 "%d days", arg(r->args, "target"), r->actor, CATALOG_SOFT_DELETE_DAYS);
	if (audit_log(r->s, r->a->subscription, r->now, r->actor, "machine.delete",
		      arg(r->args, "target"), "soft delete: restorable for 14 days", e) != 0)
		return -1;
	return alert_raise(r->s, r->a->subscription, r->now, "machine.deleted",
			   arg(r->args, "target"), msg, e);
}

static int run_policy_shorten(struct run *r, struct err *e)
{
	struct policy p = { 0 };
	struct job_alert alert;
	struct machine m;
	json_t *pj = NULL;
	char *text = NULL, *prev = NULL, msg[512];
	struct policy old = { 0 };
	int rc = -1;

	/* A machine's request needs no role; a person's is an owner's. */
	if (strcmp(arg(r->args, "by"), "machine") != 0 &&
	    requester_may(r->s, r->a->subscription, r->a->requester, ROLE_OWNER, r->role, e) != 0)
		return -1;
	if (live_machine(r->s, arg(r->args, "vault_id"), arg(r->args, "machine_id"), &m, e) != 0)
		return -1;
	/* The floors, limits and schedule rules of this moment, again. */
	if ((pj = json_object_get(r->args, "policy")) == NULL || policy_parse(pj, &p, e) != 0 ||
	    ops_policy_get(r->s, m.id, &old, &prev, e) < 0 || (text = policy_json(&p)) == NULL) {
		if (text == NULL && e->code == ERR_OK)
			err_oom(e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "retention of %s was shortened by %s: its new policy removes "
		 "recovery points sooner than the one before", arg(r->args, "target"), r->actor);
	alert.subscription = r->a->subscription;
	alert.kind = "retention.shortened";
	alert.target = arg(r->args, "target");
	alert.message = msg;
	if (catalog_policy_set(r->s->cat, m.id, prev, text, r->now, &alert, ops_policy_keep, &p,
			       e) != 0)
		goto out;
	rc = audit_log(r->s, r->a->subscription, r->now, r->actor, "policy.set",
		       arg(r->args, "target"), text, e);
out:
	free(text);
	free(prev);
	policy_clear(&p);
	policy_clear(&old);
	return rc;
}

static int run_vault_mutable(struct run *r, struct err *e)
{
	struct vault v;

	if (requester_may(r->s, r->a->subscription, r->a->requester, ROLE_OWNER, r->role, e) != 0)
		return -1;
	return ops_vault_immutability(r->s, r->a->subscription, r->actor, arg(r->args, "vault"),
				      IMMUT_MUTABLE, r->now, &v, e);
}

static int run_passphrase_change(struct run *r, struct err *e)
{
	const char *b64 = arg(r->args, "wrapped_key");
	uint8_t blob[KEYS_WRAPPED_LEN + 1], kid[KEY_ID_LEN];
	struct machine m;
	char key_id[33], msg[256];
	size_t len = 0;

	if (live_machine(r->s, arg(r->args, "vault_id"), r->a->requester, &m, e) != 0)
		return -1;
	if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(blob, len, kid, e) != 0)
		return err_set(e, ERR_CORRUPT, "the request's wrapped key does not decode");
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	/* Why: the blob must wrap the master key the machine has now. */
	if (strcmp(key_id, m.key_id) != 0)
		return err_set(e, ERR_LOCKED, "machine %s's master key changed since the request",
			       m.name);
	if (catalog_machine_set_wrapped_key(r->s->cat, m.id, blob, len, key_id, e) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "the passphrase of machine %s was changed (approved by %s)",
		 arg(r->args, "target"), r->actor);
	if (audit_log(r->s, r->a->subscription, r->now, r->actor, "passphrase.change",
		      arg(r->args, "target"), "", e) != 0)
		return -1;
	return alert_raise(r->s, r->a->subscription, r->now, "passphrase.changed",
			   arg(r->args, "target"), msg, e);
}

static int run_user_remove(struct run *r, struct err *e)
{
	struct user_change ch = { .what = USER_REMOVE };
	const char *name = arg(r->args, "user");

	if (requester_may(r->s, r->a->subscription, r->a->requester, ROLE_OWNER | ROLE_SECURITY,
			  r->role, e) != 0)
		return -1;
	ch.may_touch_owner = strcmp(r->role, CATALOG_OWNER) == 0;
	if (catalog_user_change(r->s->cat, r->a->subscription, name, &ch, e) != 0)
		return -1;
	return record(r->s, r->a->subscription, r->now, r->actor, "user.remove", name, "",
		      "a user was removed", e);
}

static const struct {
	const char *operation;
	int (*run)(struct run *r, struct err *e);
} runners[] = {
	{ "point.delete", run_point_delete },
	{ "machine.delete", run_machine_delete },
	{ "policy.shorten", run_policy_shorten },
	{ "vault.mutable", run_vault_mutable },
	{ "passphrase.change", run_passphrase_change },
	{ "user.remove", run_user_remove },
};

/* Run approved request A as GUARD. 0, or -1 with E set: the run failed
 * (nothing of it done, or what was done is recorded with its error). */
static int approval_run(struct call *c, const struct approval *a, struct err *e)
{
	struct run r = { .s = c->s, .a = a, .now = c->now };
	char actor[300];
	int rc = -1;

	if (strcmp(a->operation, "guard.change") == 0)
		return 0; /* the catalog changed the guard as it approved */
	snprintf(actor, sizeof(actor), "%s for %s", c->who.name, a->requested_by);
	actor[127] = 0; /* the audit log's actor holds 127 bytes */
	r.actor = actor;
	if ((r.args = json_loads(a->args, 0, NULL)) == NULL)
		return err_set(e, ERR_CORRUPT, "request %s's arguments do not parse", a->id);
	for (size_t i = 0; i < sizeof(runners) / sizeof(runners[0]); i++)
		if (strcmp(runners[i].operation, a->operation) == 0) {
			rc = runners[i].run(&r, e);
			goto out;
		}
	err_set(e, ERR_UNSUPPORTED, "this service cannot run the operation %s", a->operation);
out:
	json_decref(r.args);
	return rc;
}

/* ---- The routes ---- */

/* GET /approvals: the subscription's requests to an owner or security
 * admin; anyone else sees the requests they made. */
void h_approval_list(struct call *c)
{
	bool all = (role_bit(c->who.role) & (ROLE_OWNER | ROLE_SECURITY)) != 0;
	const char *mine = c->who.user_id[0] ? c->who.user_id : c->who.actor;
	struct approval *a = NULL;
	struct guard g;
	size_t n = 0;
	struct err e;
	json_t *arr;

	if (catalog_guard_get(c->s->cat, c->who.subscription, &g, &e) != 0 ||
	    catalog_approval_list(c->s->cat, c->who.subscription, all ? NULL : mine, c->now, &a, &n,
				  &e) != 0) {
		reply_err(c, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, approval_json(&a[i]));
	free(a);
	reply_json(c, 200, json_pack("{s:s?,s:b,s:o}", "guard", g.name[0] ? g.name : NULL,
				     "you_are_guard", g.user_id[0] && !c->who.is_token &&
				     strcmp(g.user_id, c->who.user_id) == 0, "approvals", arr));
}

/* The guard's second proof in body J: "code", a fresh TOTP code, when the
 * guard has a second factor; else "password", theirs typed again. Wrong
 * proofs count toward the sign-in limits of the guard's name. 0, or -1
 * after replying. */
static int second_proof(struct call *c, json_t *j)
{
	const char *code = json_string_value(json_object_get(j, "code"));
	const char *pw = json_string_value(json_object_get(j, "password"));
	char hash[crypto_pwhash_STRBYTES];
	struct principal p;
	struct err e;
	int ok, wait;

	if (c->who.is_token) {
		reply_msg(c, ERR_DENIED, "the guard decides signed in, with a second proof: not with "
			  "an API token");
		return -1;
	}
	if (portal_signin_wait(c->s->portal, c->req->peer, c->who.name, c->now, &wait, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	if (wait > 0) {
		reply_limited(c, wait, "proofs from this address or for this user");
		return -1;
	}
	if (c->who.totp) {
		if (code == NULL) {
			reply_msg(c, ERR_INVALID, "send \"code\": the 6 digits your authenticator app "
				  "shows now (your second factor proves the decision)");
			return -1;
		}
		if ((ok = totp_passes(c, &c->who, code, &e)) < 0) {
			reply_err(c, &e);
			return -1;
		}
	} else {
		if (pw == NULL) {
			reply_msg(c, ERR_INVALID, "send \"password\": yours, typed again (you have no "
				  "second factor; enrol one to decide with a code instead)");
			return -1;
		}
		if (catalog_user_find(c->s->cat, c->who.name, hash, sizeof(hash), &p, &e) != 0) {
			reply_err(c, &e);
			return -1;
		}
		ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
		sodium_memzero(hash, sizeof(hash));
	}
	if (!ok) {
		struct err ae;

		portal_signin_failed(c->s->portal, c->req->peer, c->who.name, c->now);
		(void)audit(c, "approval.proof_refused", c->who.name, c->arg[0], &ae);
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied", "message",
					     c->who.totp ? "the code is wrong or was used already: "
					     "wait for the next one" : "the password is wrong"));
		return -1;
	}
	portal_signin_succeeded(c->s->portal, c->req->peer, c->who.name, c->now);
	return 0;
}

/* POST /approvals/{id}/approve or /refuse (APPROVE), by the guard with a
 * second proof. */
static void decide(struct call *c, bool approve)
{
	json_t *j = body_json(c);
	struct approval *a = NULL;
	char msg[512];
	struct err e, rec, ae;
	bool recorded;

	if (j == NULL)
		return;
	if (second_proof(c, j) != 0)
		goto out;
	if ((a = malloc(sizeof(*a))) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (catalog_approval_decide(c->s->cat, c->who.subscription, c->arg[0], c->who.user_id,
				    c->who.name, approve, c->now, a, &e) != 0) {
		if (e.code == ERR_DENIED) {
			reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied",
						     "message", e.msg));
		} else {
			reply_err(c, &e);
		}
		goto out;
	}
	if (strcmp(a->state, "expired") == 0) {
		snprintf(msg, sizeof(msg), "request %s (%s, by %s) expired before it was decided; "
			 "nothing was done", a->id, a->summary, a->requested_by);
		(void)audit_log(c->s, a->subscription, c->now, "approvals", "approval.expire", a->id,
				a->operation, &ae);
		reply_json(c, 409, json_pack("{s:{s:s,s:s}}", "error", "code", "expired", "message",
					     msg));
		goto out;
	}
	snprintf(msg, sizeof(msg), "%.64s %s request %s: %.200s (asked by %.64s)", c->who.name,
		 approve ? "approved" : "refused", a->id, a->summary, a->requested_by);
	/* Decided in the catalog already: a record that fails is answered as
	 * the error (it is on stderr in full), after an approval has run. */
	recorded = record(c->s, a->subscription, c->now, c->who.name,
			  approve ? "approval.approve" : "approval.refuse", a->id, a->operation, msg,
			  &rec) == 0;
	if (!recorded && !approve) {
		reply_err(c, &rec);
		goto out;
	}
	if (approve) {
		int ran = approval_run(c, a, &e);

		snprintf(a->result, sizeof(a->result), "%.250s", ran == 0 ? "done" : e.msg);
		if (strcmp(a->operation, "guard.change") != 0 &&
		    catalog_approval_result(c->s->cat, a->id, a->result, &ae) != 0)
			fprintf(stderr, "arcad: the result of request %s (%s) could not be stored: %s\n",
				a->id, a->result, ae.msg);
		if (audit_log(c->s, a->subscription, c->now, c->who.name, "approval.run", a->id,
			      a->result, recorded ? &rec : &ae) != 0)
			recorded = false;
		if (ran != 0) {
			err_prefix(&e, "request %s was approved, and running it failed: ", a->id);
			reply_err(c, &e);
			goto out;
		}
		if (!recorded) {
			err_prefix(&rec, "request %s was approved and ran, but ", a->id);
			reply_err(c, &rec);
			goto out;
		}
	}
	reply_json(c, 200, json_pack("{s:o}", "approval", approval_json(a)));
out:
	free(a);
	json_decref(j);
}

void h_approval_approve(struct call *c)
{
	decide(c, true);
}

void h_approval_refuse(struct call *c)
{
	decide(c, false);
}

/* ---- The guard in the subscription's settings ---- */

int guard_settings(struct call *c, json_t *j)
{
	json_t *gj = json_object_get(j, "guard"), *hj = json_object_get(j, "approval_hours");
	const char *name = json_string_value(gj);
	char summary[256], msg[300];
	struct user *u = NULL;
	struct guard g;
	size_t n = 0;
	struct err e;
	int hours = 0, gate;
	json_t *args;
	catalog_id next = "";

	if (gj == NULL && hj == NULL)
		return 0;
	if ((gj && !json_is_null(gj) && name == NULL) ||
	    (hj && (!json_is_integer(hj) || json_integer_value(hj) < 1 ||
		    json_integer_value(hj) > CATALOG_APPROVAL_HOURS_MAX))) {
		reply_msg(c, ERR_INVALID, "\"guard\" is a security-admin's user name (or null for "
			  "none); \"approval_hours\" is 1 to 720");
		return -1;
	}
	if (hj)
		hours = (int)json_integer_value(hj);
	if (catalog_guard_get(c->s->cat, c->who.subscription, &g, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	/* The first guard is named at once; approval_hours too. */
	if (g.user_id[0] == 0 || gj == NULL) {
		if ((gj && name == NULL) && hours == 0)
			return 0; /* no guard, and none asked for */
		if (catalog_guard_set(c->s->cat, c->who.subscription, g.user_id[0] ? NULL : name,
				      hours, false, &e) != 0) {
			reply_err(c, &e);
			return -1;
		}
		if (name && g.user_id[0] == 0) {
			snprintf(msg, sizeof(msg), "%s named %s the guard: critical operations now wait "
				 "for their approval", c->who.name, name);
			if (audit(c, "guard.set", name, "", &e) != 0 ||
			    alert_raise(c->s, c->who.subscription, c->now, "guard.set", name, msg,
					&e) != 0) {
				reply_err(c, &e); /* named all the same */
				return -1;
			}
		}
		return 0;
	}
	if (name && strcmp(name, g.name) == 0)
		return 0;
	/* Changing or removing the guard is itself a request the guard
	 * approves; the new guard's id goes in it. */
	if (name) {
		if (catalog_user_list(c->s->cat, c->who.subscription, &u, &n, &e) != 0) {
			reply_err(c, &e);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(u[i].name, name) == 0)
				snprintf(next, sizeof(next), "%s", u[i].id);
		free(u);
		if (next[0] == 0) {
			reply_msg(c, ERR_INVALID, "no such user in this subscription to be its guard");
			return -1;
		}
		snprintf(summary, sizeof(summary), "make %.64s the guard instead of %.64s", name, g.name);
	} else {
		snprintf(summary, sizeof(summary), "remove the guard %.64s: critical operations would no "
			 "longer wait for approval", g.name);
	}
	args = json_pack("{s:s}", "guard", next);
	gate = approval_gate(c, "guard.change", name ? name : g.name, summary, args);
	json_decref(args);
	return gate == 0 ? 0 : -1;
}
