/*
 * api/points.c: objects and recovery points: which objects a machine lacks
 * and where they lie, committing a point, the leases of backups at work,
 * and listing, showing, deleting and undeleting points.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "ops.h"

/* POST /objects/missing {"ids": [...]}: which of these this machine has not
 * stored (the agent's bulk deduplication question). */
void h_objects_missing(struct call *c)
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
void h_objects_locate(struct call *c)
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

json_t *point_json(const struct recovery_point *p)
{
	char t[32], u[32];

	fmt_time(p->created, t);
	fmt_time(p->retain_until, u);
	/* retain_until: null until retention first evaluated the point. */
	return json_pack("{s:s,s:s,s:s?,s:s,s:I,s:I,s:s?}", "id", p->id, "meta", p->meta, "parent",
			 p->parent[0] ? p->parent : NULL, "created", t, "objects",
			 (json_int_t)p->objects, "bytes", (json_int_t)p->bytes, "retain_until",
			 p->retain_until ? u : NULL);
}

/*
 * POST /recovery-points {"meta": id, "parent": id|null, "objects": [ids]}:
 * commit a recovery point atomically. Every referenced object must be stored
 * already; the service records the time by its own clock.
 */
void h_point_commit(struct call *c)
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
void h_point_begin(struct call *c)
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
void h_lease_renew(struct call *c)
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
void h_lease_release(struct call *c)
{
	struct err e;

	if (catalog_lease_end(c->s->cat, c->machine.id, c->arg[0], &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "released", c->arg[0]));
}

/* GET /recovery-points/{id} (machine): one of its own points. */
void h_point_show(struct call *c)
{
	struct recovery_point rp;
	struct err e;

	if (catalog_point_get(c->s->cat, c->machine.id, c->arg[0], &rp, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, point_json(&rp));
}

void h_point_list(struct call *c)
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

void h_machine_points(struct call *c)
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

void h_point_delete(struct call *c)
{
	struct recovery_point rp;
	struct vault v;
	struct machine m;
	char target[256], summary[300];
	json_t *args;
	struct err e;
	int gate;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s/%.40s", v.name, m.name, c->arg[2]);
	if (catalog_point_get(c->s->cat, m.id, c->arg[2], &rp, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (require_pin(c, "delete recovery point", target) != 0)
		return;
	snprintf(summary, sizeof(summary), "delete recovery point %s", target);
	args = json_pack("{s:s,s:s,s:s,s:s}", "vault_id", v.id, "machine_id", m.id, "point",
			 c->arg[2], "target", target);
	gate = approval_gate(c, "point.delete", target, summary, args);
	json_decref(args);
	if (gate != 0)
		return;
	if (catalog_point_delete(c->s->cat, m.id, c->arg[2], c->now, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (audit(c, "point.delete", target, "soft delete: restorable for 14 days", &e) != 0) {
		reply_err(c, &e); /* deleted all the same; pin.used was raised */
		return;
	}
	reply_json(c, 200, json_pack("{s:s,s:i}", "deleted", c->arg[2], "restorable_days",
				     CATALOG_SOFT_DELETE_DAYS));
}

void h_point_undelete(struct call *c)
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
	if (audit(c, "point.undelete", target, "", &e) != 0) {
		reply_err(c, &e); /* undeleted all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "undeleted", c->arg[2]));
}
