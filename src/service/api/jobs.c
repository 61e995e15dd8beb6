/*
 * api/jobs.c: backup and restore jobs, a vault's usage, the alerts of a
 * subscription, and a pass of the space collector on demand.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gc.h"

/* POST /jobs {"kind": "backup"|"restore"|"verify"} (machine): a job starts. */
void h_job_start(struct call *c)
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
	if (strcmp(kind, "backup") != 0 && strcmp(kind, "restore") != 0 &&
	    strcmp(kind, "verify") != 0) {
		reply_msg(c, ERR_INVALID, "a job's kind is \"backup\", \"restore\" or \"verify\"");
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
 * skipped in "report") or failed, with its figures. A verify that ends
 * failed (it found damage, or could not run) raises "verify.failed". */
void h_job_end(struct call *c)
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
		char kind[16] = "";

		/* Which alert: a verify's is its own. An unknown job is refused
		 * by catalog_job_end below, as before. */
		if (raise && catalog_job_kind(c->s->cat, c->machine.id, job.id, kind, &e) != 0 &&
		    e.code != ERR_NOT_FOUND) {
			reply_err(c, &e);
			goto done;
		}
		snprintf(msg, sizeof(msg), "job %.32s of machine %s ended %s", job.id, c->machine.name,
			 job.status);
		a.kind = strcmp(status, "failed") == 0   ? "job.failed"
			 : strcmp(status, "missed") == 0 ? "backup.missed"
							 : "job.partial";
		if (strcmp(kind, "verify") == 0 && strcmp(status, "failed") == 0) {
			json_t *vr = json_object_get(rep, "verify");
			json_int_t bad = json_integer_value(json_object_get(vr, "missing")) +
					 json_integer_value(json_object_get(vr, "damaged"));

			a.kind = "verify.failed";
			if (vr && bad > 0)
				snprintf(msg, sizeof(msg), "verify of machine %s found %zu damaged "
					 "recovery points (%lld objects missing or damaged); job %.32s "
					 "lists them", c->machine.name,
					 json_array_size(json_object_get(vr, "damaged_points")),
					 (long long)bad, job.id);
			else
				snprintf(msg, sizeof(msg), "verify of machine %s could not run; job %.32s "
					 "says why", c->machine.name, job.id);
		}
		if ((raise && catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) ||
		    catalog_job_end(c->s->cat, c->machine.id, &job, c->now, raise ? &a : NULL, &e) != 0)
			reply_err(c, &e);
		else
			reply_json(c, 200, json_pack("{s:s,s:s}", "id", job.id, "status", status));
	}
done:
	free(job.report);
out:
	json_decref(j);
}

void h_job_list(struct call *c)
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

void h_usage(struct call *c)
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

void h_alerts(struct call *c)
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

/* POST /vaults/{name}/collect (user): one pass of the space collector over
 * the vault now (it also runs hourly on its own). */
void h_collect(struct call *c)
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
	if (audit(c, "vault.collect", v.name, detail, &e) != 0) {
		reply_err(c, &e); /* the pass is done all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "packs_seen",
				     (json_int_t)st.packs_seen, "packs_dropped",
				     (json_int_t)st.packs_dropped, "packs_rewritten",
				     (json_int_t)st.packs_rewritten, "machines_skipped",
				     (json_int_t)st.machines_skipped, "bytes_before",
				     (json_int_t)st.bytes_before, "bytes_after",
				     (json_int_t)st.bytes_after, "files_deleted",
				     (json_int_t)st.files_deleted));
}
