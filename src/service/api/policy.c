/*
 * api/policy.c: backup policies, set by a person (a shortening needs the
 * security PIN) or by a machine (never a shortening on its own), read, and
 * previewed. While the subscription has a guard, a shortening, a person's
 * or a machine's, waits for the guard's approval (api/approvals.c).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ops.h"
#include "policy.h"

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
	if (catalog_policy_set(c->s->cat, m->id, pc->prev, text, c->now, alert,
			       ops_policy_keep, (void *)&pc->new_, &e) != 0) {
		reply_err(c, &e);
		free(text);
		return;
	}
	snprintf(target, sizeof(target), "%s/%s", v->name, m->name);
	if (audit(c, "policy.set", target, text, &e) != 0) {
		reply_err(c, &e); /* stored all the same, with its alert if any */
		free(text);
		return;
	}
	reply_json(c, 200, json_loads(text, 0, NULL));
	free(text);
}

/* Hold PC's shortening of machine M's retention for the guard's approval
 * (approval_gate), BY "user" or "machine". 0 when there is no guard; else
 * -1 after replying (202 when held). */
static int hold(struct call *c, const struct vault *v, const struct machine *m,
		const struct policy_change *pc, const char *by, const char *target)
{
	char *text = policy_json(&pc->new_), summary[256];
	json_t *args;
	int gate;

	if (text == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		return -1;
	}
	snprintf(summary, sizeof(summary), "shorten the retention of %s: its new policy removes "
		 "recovery points sooner", target);
	args = json_pack("{s:s,s:s,s:s,s:s,s:o}", "vault_id", v->id, "machine_id", m->id, "target",
			 target, "by", by, "policy", json_loads(text, 0, NULL));
	free(text);
	gate = args ? approval_gate(c, "policy.shorten", target, summary, args) : -1;
	if (args == NULL)
		reply_msg(c, ERR_NOMEM, "out of memory");
	json_decref(args);
	return gate == 0 ? 0 : -1;
}

/* PUT /vaults/{v}/machines/{m}/policy (user). A change that would remove
 * any recovery point sooner than the stored policy (a first policy
 * included: without one nothing expires) needs the security PIN and raises
 * "retention.shortened", recorded with the policy or not at all; floors
 * and the 3-a-day and 366-point limits always hold. */
void h_policy_set(struct call *c)
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
	/* A backup operator manages policies but never lowers protection. */
	if (strcmp(c->who.role, CATALOG_OWNER) != 0) {
		reply_role(c, ROLE_OWNER, "shortening retention");
		goto out;
	}
	if (require_pin(c, "shorten the retention of", target) != 0)
		goto out;
	if (hold(c, &v, &m, &pc, "user", target) != 0)
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
void h_machine_policy_set(struct call *c)
{
	struct policy_change pc;
	struct vault v;
	struct err e;
	char msg[512], target[160];

	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	snprintf(c->who.subscription, sizeof(c->who.subscription), "%s", v.subscription);
	snprintf(c->who.name, sizeof(c->who.name), "machine:%s", c->machine.name);
	if (policy_change_load(c, &c->machine, &pc) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, c->machine.name);
	/* Rule 4 holds with a guard too: a person, the guard, makes the
	 * shortening by approving it; without a guard it is refused. */
	if (!pc.shortens) {
		policy_change_store(c, &v, &c->machine, &pc, NULL);
	} else if (hold(c, &v, &c->machine, &pc, "machine", target) == 0) {
		snprintf(msg, sizeof(msg), "a machine can never shorten retention, even with a "
			 "security PIN: this policy would remove recovery points sooner than the "
			 "current one. A signed-in user can set it in the portal, or through PUT "
			 "/api/v1/vaults/%s/machines/%s/policy with the security PIN",
			 v.name, c->machine.name);
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "forbidden",
					     "message", msg));
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

void h_policy_get(struct call *c)
{
	struct vault v;
	struct machine m;

	if (vault_machine(c, &v, &m) == 0)
		reply_policy(c, m.id);
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

void h_policy_preview(struct call *c)
{
	struct vault v;
	struct machine m;

	if (vault_machine(c, &v, &m) == 0)
		reply_preview(c, m.id);
}

void h_machine_policy_preview(struct call *c)
{
	reply_preview(c, c->machine.id);
}

/* GET /machine/policy (machine): the agent picks up its policy. */
void h_machine_policy(struct call *c)
{
	reply_policy(c, c->machine.id);
}
