/*
 * api/vaults.c: regions, vaults, their credentials files and the audit log
 * of a subscription.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ops.h"
#include "vaultcred.h"

static json_t *vault_json(const struct vault *v)
{
	char created[32];

	fmt_time(v->created, created);
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:i,s:s,s:s}", "id", v->id, "name", v->name,
			 "region", v->region, "redundancy", v->redundancy, "redundancy_locked",
			 v->locked, "machines", v->machines, "machines_max", 50, "created", created,
			 "immutability", catalog_immutability_name(v->immutability));
}

void h_regions(struct call *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->s->n_regions; i++)
		json_array_append_new(a, json_pack("{s:s,s:s?}", "name", c->s->regions[i].name, "pair",
						   c->s->regions[i].pair[0] ? c->s->regions[i].pair : NULL));
	reply_json(c, 200, json_pack("{s:o}", "regions", a));
}

void h_vault_create(struct call *c)
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

void h_vault_list(struct call *c)
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

void h_vault_get(struct call *c)
{
	struct vault v;
	struct err e;
	char fp[65], exp[32];
	int64_t expires;
	json_t *j, *rep = NULL;
	bool have;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	/* No credentials issued yet is an answer; a catalog that cannot tell
	 * is an error, never "none". */
	have = catalog_credential_latest(c->s->cat, v.id, fp, &expires, &e) == 0;
	if (!have && e.code != ERR_NOT_FOUND) {
		reply_err(c, &e);
		return;
	}
	/* A GRS vault's replication: what waits to be copied to the pair. */
	if (ops_replication(c->s, &v, c->now, &rep, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	j = vault_json(&v);
	if (have) {
		fmt_time(expires, exp);
		json_object_set_new(j, "credentials", json_pack("{s:s,s:s,s:b}", "fingerprint", fp,
								"expires", exp, "valid", expires > c->now));
	}
	if (rep)
		json_object_set_new(j, "replication", rep);
	reply_json(c, 200, j);
}

/* The immutability change of a PATCH or PUT: STATE to vault NAME. Turning
 * an immutable vault back to mutable needs the security PIN and, while the
 * subscription has a guard, the guard's approval (api/approvals.c); the
 * catalog refuses to unlock a locked vault whoever asks. */
static int set_immutability(struct call *c, const char *state, struct vault *v)
{
	struct vault now;
	struct err e;
	int st;

	if ((st = catalog_immutability_parse(state, &e)) < 0 ||
	    catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &now, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	/* Why nothing is asked of the catalog for "mutable" on a vault seen
	 * mutable: had it become immutable meanwhile, the change would pass
	 * without the PIN this request was never asked for. */
	if (st == IMMUT_MUTABLE && now.immutability == IMMUT_MUTABLE) {
		*v = now;
		return 0;
	}
	/* A backup operator raises protection, never lowers it. */
	if (st == IMMUT_MUTABLE && strcmp(c->who.role, CATALOG_OWNER) != 0) {
		reply_role(c, ROLE_OWNER, "making a vault mutable again");
		return -1;
	}
	if (st == IMMUT_MUTABLE && now.immutability == IMMUT_IMMUTABLE) {
		char summary[200];
		json_t *args;
		int gate;

		if (require_pin(c, "make vault mutable", c->arg[0]) != 0)
			return -1;
		snprintf(summary, sizeof(summary), "make vault %s mutable: its recovery points could "
			 "be deleted before their retention ends", c->arg[0]);
		args = json_pack("{s:s}", "vault", c->arg[0]);
		gate = approval_gate(c, "vault.mutable", c->arg[0], summary, args);
		json_decref(args);
		if (gate != 0)
			return -1;
	}
	if (ops_vault_immutability(c->s, c->who.subscription, c->who.name, c->arg[0], st, c->now, v,
				   &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	return 0;
}

/* PATCH or PUT /vaults/{v}: {"redundancy"} and/or {"immutability"}. */
void h_vault_patch(struct call *c)
{
	json_t *j = body_json(c);
	const char *red, *imm;
	struct vault v;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	red = member(c, j, "redundancy", 0, &bad);
	imm = bad ? NULL : member(c, j, "immutability", 0, &bad);
	if (bad)
		goto out;
	if (red == NULL && imm == NULL) {
		reply_msg(c, ERR_INVALID, "give \"redundancy\" (\"LRS\" or \"GRS\") or \"immutability\" "
			  "(\"mutable\", \"immutable\" or \"locked\") to change");
		goto out;
	}
	if (red) {
		if (ops_check_redundancy(red, &e) != 0 ||
		    catalog_vault_set_redundancy(c->s->cat, c->who.subscription, c->arg[0], red,
						 &e) != 0) {
			reply_err(c, &e);
			goto out;
		}
		if (audit(c, "vault.redundancy", c->arg[0], red, &e) != 0) {
			reply_err(c, &e); /* changed all the same */
			goto out;
		}
	}
	if (imm && set_immutability(c, imm, &v) != 0)
		goto out;
	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	reply_json(c, 200, vault_json(&v));
out:
	json_decref(j);
}

void h_vault_delete(struct call *c)
{
	struct err e;

	if (catalog_vault_delete(c->s->cat, c->who.subscription, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (audit(c, "vault.delete", c->arg[0], "", &e) != 0) {
		reply_err(c, &e); /* deleted all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "deleted", c->arg[0]));
}

/* The response body is the only copy of the credentials' private key. */
void h_credentials(struct call *c)
{
	char name[VAULTCRED_FILENAME_MAX];
	struct buf file = BUF_INIT;
	struct err e;

	if (ops_credentials_issue(c->s, c->who.subscription, c->who.name, c->arg[0], c->now, &file,
				  name, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	/* A file that cannot be put in the answer is lost: nobody holds its
	 * key, and downloading again issues another. Never a 201 without it. */
	if (buf_append(&c->res->body, file.data, file.len, &e) != 0) {
		buf_wipe(&file);
		buf_wipe(&c->res->body);
		reply_err(c, &e);
		return;
	}
	buf_wipe(&file);
	c->res->status = 201;
	c->res->content_type = "application/xml";
	snprintf(c->res->disposition, sizeof(c->res->disposition), "attachment; filename=\"%s\"", name);
}

void h_audit(struct call *c)
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
