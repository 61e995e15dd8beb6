/* ops.c: operations shared by the API and the admin CLI; see ops.h. */
#include "ops.h"
#include "policy.h"
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <sodium.h>

#include "pki.h"

int ops_check_redundancy(const char *r, struct err *e)
{
	if (strcmp(r, "LRS") == 0 || strcmp(r, "GRS") == 0)
		return 0;
	return err_set(e, ERR_INVALID, "storage redundancy must be \"LRS\" (one copy in the "
		       "region) or \"GRS\" (also copied to the region's pair)");
}

int ops_vault_create(struct service *s, const char *subscription, const char *actor,
		     const char *name, const char *region, const char *redundancy, int64_t now,
		     struct vault *v, struct err *e)
{
	struct buf cert = BUF_INIT, key = BUF_INIT, sealed = BUF_INIT;
	EVP_PKEY *k = NULL;
	X509 *ca = NULL;
	char cn[96];
	int rc = -1;

	if (redundancy == NULL)
		redundancy = "GRS";
	if (vaultcred_check_name(name, e) != 0)
		return -1;
	if (service_region(s, region) == NULL)
		return err_set(e, ERR_INVALID, "no region named \"%.64s\"; the regions are listed by "
			       "GET /api/v1/regions and in arcad.json", region);
	if (ops_check_redundancy(redundancy, e) != 0)
		return -1;
	memset(v, 0, sizeof(*v));
	catalog_new_id(v->id);
	snprintf(v->subscription, sizeof(v->subscription), "%s", subscription);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->region, sizeof(v->region), "%s", region);
	snprintf(v->redundancy, sizeof(v->redundancy), "%s", redundancy);
	v->created = now;
	/* The vault's own CA, valid 20 years, signs its vault credentials. */
	snprintf(cn, sizeof(cn), "arca vault %s CA", name);
	/* The catalog keeps the CA key sealed with the catalog key, bound to
	 * this vault's id (seal.h); the plain key never reaches it. */
	if ((k = pki_key_new(e)) == NULL || (ca = pki_ca_new(k, cn, now, 20LL * 365 * 86400, e)) == NULL ||
	    pki_cert_pem(ca, &cert, e) || pki_key_pem(k, &key, e) ||
	    service_seal_ca_key(s, v->id, (const char *)key.data, &sealed, e) ||
	    catalog_vault_create(s->cat, v, (const char *)cert.data, (const char *)sealed.data, e))
		goto out;
	/* A vault nobody can see created in the audit log is taken back, and
	 * the creation fails. */
	if (catalog_audit(s->cat, subscription, now, actor, "vault.create", name, redundancy, e) != 0) {
		struct err ue;

		err_prefix(e, "vault %s was not created, as the audit log could not record it: ", name);
		if (catalog_vault_delete(s->cat, subscription, name, &ue) != 0)
			err_set(e, ue.code, "vault %s was created but the audit log could not record "
				"it, and it could not be deleted again: %s", name, ue.msg);
		goto out;
	}
	rc = 0;
out:
	buf_free(&cert);
	buf_free(&sealed);
	buf_wipe(&key);
	EVP_PKEY_free(k);
	X509_free(ca);
	return rc;
}

int ops_credentials_issue(struct service *s, const char *subscription, const char *actor,
			  const char *name, int64_t now, struct buf *file,
			  char filename[VAULTCRED_FILENAME_MAX], struct err *e)
{
	struct vault v;
	char serial[80], fp[65], cn[96];
	struct buf cert = BUF_INIT, key = BUF_INIT;
	EVP_PKEY *ca_key = NULL, *k = NULL;
	X509 *ca = NULL, *x = NULL;
	struct pki_leaf leaf;
	struct vaultcred vc;
	size_t start = file->len;
	int rc = -1;

	if (catalog_vault_get(s->cat, subscription, name, &v, e) != 0 ||
	    service_vault_ca(s, v.id, &ca, &ca_key, e) != 0 || (k = pki_key_new(e)) == NULL)
		goto out;
	memset(&leaf, 0, sizeof(leaf));
	snprintf(cn, sizeof(cn), "arca vault credentials %s", v.name);
	leaf.cn = cn;
	leaf.not_before = now;
	leaf.not_after = now + VAULTCRED_VALIDITY;
	if ((x = pki_issue(ca, ca_key, k, &leaf, e)) == NULL || pki_cert_pem(x, &cert, e) ||
	    pki_key_pem(k, &key, e))
		goto out;
	memset(&vc, 0, sizeof(vc));
	vc.version = VAULTCRED_VERSION;
	vc.service_url = s->url;
	vc.subscription = v.subscription;
	vc.vault_id = v.id;
	vc.vault_name = v.name;
	vc.region = v.region;
	vc.issued = leaf.not_before;
	vc.expires = leaf.not_after;
	vc.cert_pem = (char *)cert.data;
	vc.key_pem = (char *)key.data;
	vc.trust_anchor_pem = s->ca_pem;
	if (vaultcred_write(&vc, file, e) != 0 ||
	    vaultcred_filename(v.name, vc.issued, filename, VAULTCRED_FILENAME_MAX, e) != 0)
		goto out;
	pki_serial_hex(x, serial, sizeof(serial));
	pki_fingerprint(x, fp);
	/* The certificate is recorded; the private key exists only in FILE. */
	if (catalog_credential_add(s->cat, v.id, serial, fp, (const char *)cert.data, vc.issued,
				   vc.expires, e) != 0)
		goto out;
	/* Why an alert: whoever holds this file can register machines to the
	 * vault for 48 hours; the owner should hear of every download. A
	 * download that cannot be recorded or alerted fails: FILE is wiped
	 * below, so nobody ever holds the key of these credentials. */
	if (catalog_audit(s->cat, subscription, now, actor, "credentials.download", v.name, fp,
			  e) != 0) {
		err_prefix(e, "the credentials were not issued, as the audit log could not record "
			   "them: ");
		goto out;
	}
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "vault credentials for %s were downloaded by %s; they "
			 "expire in 48 hours and every earlier file no longer registers machines",
			 v.name, actor);
		if (catalog_alert(s->cat, subscription, now, "credentials.downloaded", v.name, msg,
				  e) != 0) {
			err_prefix(e, "the credentials were not issued, as their alert could not be "
				   "raised: ");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0 && file->len > start) {
		sodium_memzero(file->data + start, file->len - start);
		file->len = start;
	}
	buf_free(&cert);
	buf_wipe(&key);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(k);
	X509_free(ca);
	X509_free(x);
	return rc;
}

static json_t *why_json(unsigned why)
{
	static const char *const names[] = { "daily", "weekly", "monthly", "yearly", "last" };
	json_t *a = json_array();

	for (int i = 0; i < 5; i++)
		if (why & (1u << i))
			json_array_append_new(a, json_string(names[i]));
	return a;
}

static json_t *time_json(int64_t t)
{
	char out[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(out);
}

int ops_policy_get(struct service *s, const char *machine_id, struct policy *p, char **text,
		   struct err *e)
{
	json_t *pj;
	int rc;

	memset(p, 0, sizeof(*p));
	*text = NULL;
	if (catalog_policy_get(s->cat, machine_id, text, e) != 0)
		return e && e->code == ERR_NOT_FOUND ? 0 : -1;
	pj = json_loads(*text, 0, NULL);
	rc = pj && policy_parse(pj, p, NULL) == 0 ? 1 : -1;
	json_decref(pj);
	if (rc < 0) {
		free(*text);
		*text = NULL;
		err_set(e, ERR_CORRUPT, "the stored policy of machine %s does not parse", machine_id);
	}
	return rc;
}

int ops_policy_shortens(struct service *s, const char *machine_id, const struct policy *old,
			const struct policy *new_, int64_t now, struct err *e)
{
	struct recovery_point *pts = NULL;
	int64_t *created = NULL;
	size_t n = 0;
	int rc = -1;

	if (catalog_point_list(s->cat, machine_id, false, &pts, &n, e) != 0)
		return -1;
	if ((created = calloc(n ? n : 1, sizeof(*created))) == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		created[i] = pts[i].created;
	if ((rc = retention_shortens(old, new_, now, created, n)) < 0)
		err_oom(e);
out:
	free(pts);
	free(created);
	return rc;
}

int ops_policy_keep(void *arg, const int64_t *created, size_t n, int64_t now, int64_t *until,
		    struct err *e)
{
	return retention_until(arg, now, created, n, until) == 0 ? 0 : err_oom(e);
}

/* Raise the retain-until times of the live points PTS[0..N) of the machine
 * to what P keeps them for at NOW (UNTIL, filled). 0 or -1. */
static int retain_raise(struct service *s, const char *machine_id, const struct policy *p,
			int64_t now, const struct recovery_point *pts, const int64_t *created,
			size_t n, int64_t *until, struct err *e)
{
	const char **ids;
	int rc;

	if (n == 0)
		return 0;
	if ((ids = calloc(n, sizeof(*ids))) == NULL ||
	    retention_until(p, now, created, n, until) != 0) {
		free(ids);
		return err_oom(e);
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = pts[i].id;
	rc = catalog_point_retain(s->cat, machine_id, ids, until, n, e);
	free(ids);
	return rc;
}

int ops_retention(struct service *s, const char *machine_id, int64_t now, int dry_run,
		  json_t **report, struct err *e)
{
	char *text = NULL, *pub = NULL;
	json_t *keep = json_array(), *remove = json_array();
	struct policy p;
	struct recovery_point *pts = NULL;
	struct machine m;
	struct vault v;
	int64_t *created = NULL, *until = NULL;
	unsigned *why = NULL;
	size_t n = 0;
	int rc = -1, have;

	*report = NULL;
	memset(&p, 0, sizeof(p));
	memset(&v, 0, sizeof(v));
	/* A soft-deleted machine is not live: only its preview is asked for
	 * (retention runs on live machines), and shows what its policy keeps. */
	if (catalog_machine_get(s->cat, machine_id, &m, &pub, e) != 0) {
		if (!dry_run || e == NULL || e->code != ERR_NOT_FOUND)
			goto out;
	} else if (catalog_vault_by_id(s->cat, m.vault_id, &v, e) != 0) {
		goto out;
	}
	/* A catalog that cannot say whether there is a policy is an error,
	 * never "no policy, nothing expires". */
	if ((have = ops_policy_get(s, machine_id, &p, &text, e)) < 0)
		goto out;
	if (catalog_point_list(s->cat, machine_id, false, &pts, &n, e) != 0)
		goto out;
	if ((created = calloc(n ? n : 1, sizeof(*created))) == NULL ||
	    (until = calloc(n ? n : 1, sizeof(*until))) == NULL ||
	    (why = calloc(n ? n : 1, sizeof(*why))) == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		created[i] = pts[i].created;
	if (have) {
		retention_decide(&p, now, created, n, why);
		/* Why first: every point's retain-until time is raised to what
		 * the policy in force keeps it for before anything is removed,
		 * so an immutable vault's catalog knows it (docs/RETENTION.md). */
		if (dry_run) {
			if (retention_until(&p, now, created, n, until) != 0) {
				err_oom(e);
				goto out;
			}
		} else if (retain_raise(s, machine_id, &p, now, pts, created, n, until, e) != 0)
			goto out;
	} else {
		for (size_t i = 0; i < n; i++)
			why[i] = KEEP_LAST; /* no policy: nothing expires */
	}
	for (size_t i = 0; i < n; i++) {
		char target[160];
		int64_t held = pts[i].retain_until > until[i] ? pts[i].retain_until : until[i];

		if (why[i] || (v.immutability != IMMUT_MUTABLE && held > now)) {
			json_t *w = why_json(have ? why[i] : 0);

			/* Kept by the vault's immutability alone: a point whose
			 * time an earlier, longer policy set. */
			if (!why[i])
				json_array_append_new(w, json_string("retained"));
			json_array_append_new(keep, json_pack("{s:s,s:o,s:o}", "id", pts[i].id, "created",
							       time_json(pts[i].created), "why", w));
			continue;
		}
		json_array_append_new(remove, json_pack("{s:s,s:o}", "id", pts[i].id, "created",
							 time_json(pts[i].created)));
		if (dry_run)
			continue;
		if (catalog_point_delete(s->cat, machine_id, pts[i].id, now, e) != 0)
			goto out;
		/* The point is removed (softly: it can be undeleted); an expiry
		 * the audit log cannot show stops the pass with an error, which
		 * the caller logs. */
		snprintf(target, sizeof(target), "%s/%s/%s", v.name, m.name, pts[i].id);
		if (catalog_audit(s->cat, v.subscription, now, "retention", "point.expire", target,
				  "no longer kept by the machine's policy", e) != 0) {
			err_prefix(e, "recovery point %s expired, but the audit log could not "
				   "record it: ", pts[i].id);
			goto out;
		}
	}
	*report = json_pack("{s:b,s:o,s:O,s:O}", "policy", have, "now", time_json(now), "keep",
			    keep, "remove", remove);
	rc = 0;
out:
	policy_clear(&p);
	json_decref(keep);
	json_decref(remove);
	free(text);
	free(pub);
	free(pts);
	free(created);
	free(until);
	free(why);
	return rc;
}

int ops_vault_immutability(struct service *s, const char *subscription, const char *actor,
			   const char *name, int state, int64_t now, struct vault *v,
			   struct err *e)
{
	struct vault before;
	char msg[256];

	if (catalog_vault_set_immutability(s->cat, subscription, name, state, &before, e) != 0)
		return -1;
	if (catalog_vault_get(s->cat, subscription, name, v, e) != 0)
		return err_prefix(e, "vault %s was made %s, but ", name,
				  catalog_immutability_name(state));
	if (before.immutability == state)
		return 0;
	/* The change is made; one that the audit log or the alerts cannot
	 * show fails the request with that said, as every audited change. */
	if (catalog_audit(s->cat, subscription, now, actor, "vault.immutability", name,
			  catalog_immutability_name(state), e) != 0)
		return err_prefix(e, "vault %s was made %s, but the audit log could not record it: ",
				  name, catalog_immutability_name(state));
	if (state == IMMUT_LOCKED) {
		snprintf(msg, sizeof(msg), "vault %s was locked immutable by %s: its recovery points "
			 "can no longer be deleted before their retention ends, and it can never be "
			 "made mutable again", name, actor);
		if (catalog_alert(s->cat, subscription, now, "vault.locked", name, msg, e) != 0)
			return err_prefix(e, "vault %s was locked, but its alert could not be raised: ",
					  name);
	}
	return 0;
}

#define MISSED_GRACE 3600 /* an agent has this long to start a scheduled backup */

int ops_check_missed(struct service *s, const char *machine_id, int64_t now, struct err *e)
{
	char *text = NULL, *pub = NULL, when[32], msg[256];
	json_t *pj = NULL;
	struct policy p;
	struct machine m;
	struct vault v;
	int64_t slot, since;
	int rc = -1, r;

	memset(&p, 0, sizeof(p));
	if (catalog_policy_get(s->cat, machine_id, &text, e) != 0 ||
	    (pj = json_loads(text, 0, NULL)) == NULL || policy_parse(pj, &p, e) != 0 ||
	    catalog_machine_get(s->cat, machine_id, &m, &pub, e) != 0 ||
	    catalog_vault_by_id(s->cat, m.vault_id, &v, e) != 0)
		goto out;
	rc = 0;
	since = catalog_policy_updated(s->cat, machine_id, e);
	if (m.registered > since)
		since = m.registered;
	slot = policy_last_slot(&p, now - MISSED_GRACE);
	if (slot < 0 || slot < since)
		goto out;
	/* An agent starts its job at the slot (a little early by its clock). */
	if ((r = catalog_job_since(s->cat, machine_id, slot - 300, e)) != 0 ||
	    (r = catalog_alert_since(s->cat, v.subscription, "backup.missed", m.name, slot, e)) != 0) {
		rc = r < 0 ? -1 : 0;
		goto out;
	}
	{
		time_t tt = (time_t)slot;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	snprintf(msg, sizeof(msg), "machine %s of vault %s did not start the backup scheduled at "
		 "%s: is its agent running?", m.name, v.name, when);
	rc = catalog_alert(s->cat, v.subscription, now, "backup.missed", m.name, msg, e) == 0 ? 1 : -1;
out:
	policy_clear(&p);
	json_decref(pj);
	free(text);
	free(pub);
	return rc;
}

int ops_replication(struct service *s, const struct vault *v, int64_t now, json_t **out,
		    struct err *e)
{
	struct replica_lag lag;
	int64_t age;

	*out = NULL;
	if (strcmp(v->redundancy, "GRS") != 0)
		return 0;
	if (catalog_replica_lag(s->cat, v->id, &lag, e) != 0)
		return err_prefix(e, "vault %s's replication: ", v->name);
	age = lag.packs && now > lag.oldest ? now - lag.oldest : 0;
	*out = json_pack("{s:s,s:I,s:I,s:I,s:I,s:s?}", "state",
			 lag.packs ? "waiting" : "up to date", "packs_waiting", (json_int_t)lag.packs,
			 "bytes_waiting", (json_int_t)lag.bytes, "lag_seconds", (json_int_t)age,
			 "attempts", (json_int_t)lag.attempts, "last_error",
			 lag.error[0] ? lag.error : NULL);
	return *out ? 0 : err_oom(e);
}

void ops_replication_text(const json_t *rep, char *buf, size_t n)
{
	json_int_t packs = json_integer_value(json_object_get(rep, "packs_waiting"));
	json_int_t bytes = json_integer_value(json_object_get(rep, "bytes_waiting"));
	json_int_t age = json_integer_value(json_object_get(rep, "lag_seconds"));
	const char *err = json_string_value(json_object_get(rep, "last_error"));
	char when[32];

	if (packs == 0) {
		snprintf(buf, n, "up to date");
		return;
	}
	if (age < 120)
		snprintf(when, sizeof(when), "%lld s", (long long)age);
	else if (age < 7200)
		snprintf(when, sizeof(when), "%lld min", (long long)age / 60);
	else
		snprintf(when, sizeof(when), "%lld h", (long long)age / 3600);
	snprintf(buf, n, "%lld pack%s (%.1f MiB) waiting, oldest %s%s%s", (long long)packs,
		 packs == 1 ? "" : "s", (double)bytes / (1024.0 * 1024.0), when,
		 err ? ", last error: " : "", err ? err : "");
}
