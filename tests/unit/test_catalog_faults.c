/*
 * test_catalog_faults.c: the SQLite catalog under a database that fails.
 *
 * A VFS registered here wraps SQLite's default one and fails the Nth read,
 * write, sync or shared-memory mapping after it is armed, once. Each
 * catalog call runs on a fresh copy of one populated catalog with the
 * fault at N = 1, 2, ... until a run no longer reaches the Nth I/O. At
 * every point the call must either fail with ERR_IO (or the very error it
 * gives without faults) or give exactly its fault-free answer: never
 * success with a short or empty answer, never a "not found" or "denied"
 * that is not true. A call that writes must, on failure, leave the catalog
 * as it was or (a failed sync of a commit that reached the log) as the
 * call would have left it, never in between. Two of the calls are the
 * collector's: its reads alone (pack usage, each machine's mark, each
 * pack's objects, then the packs it would drop), and a whole pass as
 * gc_run makes it, which must fail rather than drop on a failed read and
 * never drops a pack a point needs. The number of fault points tried is
 * printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "catalog.h"
#include "catalog_sqlite.h"
#include "keys.h"
#include "pack.h"

#include "fault_vfs.h"

/* ---- answers ---- */

struct ans {
	char s[65536];
	size_t n;
};

static void say(struct ans *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct ans *a, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(a->s + a->n, sizeof(a->s) - a->n, fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < sizeof(a->s) - a->n);
	a->n += (size_t)k;
}

/* ---- the populated catalog ---- */

#define T0 100000

static char dir[64], path[96];
static uint8_t *image;       /* the populated catalog file */
static size_t image_len;
static catalog_id sub, vault_a, vault_b, m1, m2, m4, alice, token_id, lease_id, point1, point_del,
	job_run;
static char pack1[65], pack2[65], pack_dead[65], pack_doomed[65], pack4[65];
static struct machine mach1;
static uint8_t verifier[KEYS_VERIFIER_LEN];

static void pack_name(char out[65], char c)
{
	memset(out, c, 64);
	out[64] = 0;
}

static void obj_hex(uint8_t b, char hex[OBJID_HEX_LEN + 1])
{
	struct objid id;

	memset(&id, 0, sizeof(id));
	id.b[0] = b;
	objid_to_hex(&id, hex);
}

/* Store pack NAME of machine M with objects B[0..N). */
static void add_pack(struct catalog *c, const char *m, const char *name, const uint8_t *b,
		     size_t n)
{
	struct pack_entry ents[8];

	memset(ents, 0, sizeof(ents));
	for (size_t i = 0; i < n; i++) {
		ents[i].id.b[0] = b[i];
		ents[i].kind = 1, ents[i].offset = 16 + 100 * i, ents[i].length = 100;
	}
	assert_int_equal(catalog_pack_add(c, m, name, 1000, ents, n, T0, NULL), 0);
}

static void commit(struct catalog *c, const char *m, const uint8_t *b, size_t n, int64_t t,
		   catalog_id id)
{
	char hex[8][OBJID_HEX_LEN + 1];
	const char *ids[8];
	struct recovery_point rp;

	for (size_t i = 0; i < n; i++) {
		obj_hex(b[i], hex[i]);
		ids[i] = hex[i];
	}
	assert_int_equal(catalog_point_commit(c, m, "meta", NULL, ids, n, t, &rp, NULL), 0);
	if (id)
		memcpy(id, rp.id, sizeof(catalog_id));
}

static void register_machine(struct catalog *c, const char *vault, const char *name,
			     struct machine *m)
{
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	struct registration r;
	bool again;

	memset(&r, 0, sizeof(r));
	r.vault_id = vault, r.credential_fingerprint = "fp1", r.name = name;
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.verifier = verifier, r.now = T0;
	r.cert_expires = T0 + 86400;
	assert_int_equal(catalog_machine_register(c, &r, m, &again, NULL), 0);
}

/* Every kind of row the catalog keeps, a few of each. */
static void populate(struct catalog *c)
{
	static const uint8_t o1[] = { 1, 2, 3 }, o2[] = { 4, 5 }, od[] = { 6 }, ox[] = { 7 },
			     o4[] = { 11 };
	struct principal p;
	struct vault v;
	struct machine m;
	struct job j;
	struct job_alert al = { NULL, "backup-failed", "m1", "it failed" };
	int64_t mark;
	struct objid *live;
	size_t n;

	assert_int_equal(catalog_subscription_create(c, "s", T0, sub, NULL), 0);
	assert_int_equal(catalog_user_create(c, sub, "alice", "hash", T0, NULL), 0);
	assert_int_equal(catalog_user_find(c, "alice", (char[64]){ 0 }, 64, &p, NULL), 0);
	memcpy(alice, p.actor, sizeof(catalog_id));
	assert_int_equal(catalog_session_create(c, "sess", p.actor, T0 + 86400, NULL), 0);
	assert_int_equal(catalog_token_create(c, &p, "tok", "tokhash", T0, token_id, NULL), 0);
	assert_int_equal(catalog_user_invite(c, sub, "dave", "reader", "dcode", T0 + 86400, T0, NULL), 0);
	assert_int_equal(catalog_totp_set(c, alice, TOTP_PENDING, "sec", 0, NULL), 0);
	assert_int_equal(catalog_totp_set(c, alice, TOTP_CONFIRM, NULL, 5, NULL), 0);
	memset(&v, 0, sizeof(v));
	catalog_new_id(v.id);
	strcpy(v.subscription, sub), strcpy(v.name, "vault-a"), strcpy(v.region, "r1");
	strcpy(v.redundancy, "LRS"), v.created = T0;
	assert_int_equal(catalog_vault_create(c, &v, "cacert", "cakey", NULL), 0);
	memcpy(vault_a, v.id, sizeof(catalog_id));
	catalog_new_id(v.id);
	strcpy(v.name, "vault-b");
	assert_int_equal(catalog_vault_create(c, &v, "cacert", "cakey", NULL), 0);
	memcpy(vault_b, v.id, sizeof(catalog_id));
	assert_int_equal(catalog_credential_add(c, vault_a, "01", "fp1", "cert", T0, T0 + 86400,
						NULL), 0);
	memset(verifier, 7, sizeof(verifier));
	register_machine(c, vault_a, "m1", &mach1);
	memcpy(m1, mach1.id, sizeof(catalog_id));
	register_machine(c, vault_a, "m2", &m);
	memcpy(m2, m.id, sizeof(catalog_id));
	register_machine(c, vault_a, "m4", &m);
	memcpy(m4, m.id, sizeof(catalog_id));
	pack_name(pack1, 'a'), pack_name(pack2, 'b'), pack_name(pack_dead, 'd');
	pack_name(pack_doomed, 'e'), pack_name(pack4, 'k');
	add_pack(c, m1, pack1, o1, 3);
	add_pack(c, m1, pack_dead, od, 1);
	add_pack(c, m2, pack2, o2, 2);
	add_pack(c, m1, pack_doomed, ox, 1);
	add_pack(c, m4, pack4, o4, 1);
	commit(c, m4, o4, 1, T0 + 35, NULL);
	assert_int_equal(catalog_machine_delete(c, vault_a, "m4", T0 + 45, NULL), 0);
	commit(c, m1, o1, 3, T0 + 10, point1);
	commit(c, m1, o1, 2, T0 + 20, point_del);
	commit(c, m2, o2, 2, T0 + 30, NULL);
	assert_int_equal(catalog_point_delete(c, m1, point_del, T0 + 40, NULL), 0);
	assert_int_equal(catalog_refs_mark(c, m1, &live, &n, &mark, NULL), 0);
	free(live);
	assert_int_equal(catalog_gc_drop(c, m1, pack_doomed, mark, "r1", "", T0 + 50, T0 + 3650,
					 NULL), 0);
	assert_int_equal(catalog_job_start(c, m1, "backup", T0 + 60, &j, NULL), 0);
	strcpy(j.status, "failed");
	al.subscription = sub;
	assert_int_equal(catalog_job_end(c, m1, &j, T0 + 70, &al, NULL), 0);
	assert_int_equal(catalog_job_start(c, m1, "backup", T0 + 80, &j, NULL), 0);
	memcpy(job_run, j.id, sizeof(catalog_id));
	assert_int_equal(catalog_policy_set(c, m1, NULL, "{\"a\":1}", T0 + 90, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(catalog_audit(c, sub, T0 + 100, "alice", "made", "vault-a", "d", NULL), 0);
	assert_int_equal(catalog_alert(c, sub, T0 + 110, "k", "t", "message", NULL), 0);
	assert_int_equal(catalog_pin_create(c, sub, p.actor, "pinhash", T0, T0 + 300, NULL), 0);
	assert_int_equal(catalog_nonce_use(c, "machine:x", "n1", T0, T0 + 600, NULL), 0);
	assert_int_equal(catalog_lease_begin(c, m2, T0, T0 + 3600, lease_id, NULL), 0);
}

/* Put the populated catalog back in PATH, with no log beside it. */
static void restore(void)
{
	char side[128];
	FILE *f;

	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(image, 1, image_len, f), image_len);
	assert_int_equal(fclose(f), 0);
}

/* ---- the calls ---- */

/* Each call answers in text what it was told: everything but ids drawn at
 * random. */
struct call {
	const char *name;
	int (*fn)(struct catalog *c, struct ans *a, struct err *e);
	bool writes; /* changes the catalog */
	bool opens;  /* the fault may hit catalog_open itself */
};

#define OBJ_LIST(name, type, call, fmt, ...)                                      \
	static int name(struct catalog *c, struct ans *a, struct err *e)          \
	{                                                                         \
		type *v = NULL;                                                   \
		size_t n = 0;                                                     \
		if (call != 0)                                                    \
			return -1;                                                \
		say(a, "%zu:", n);                                                \
		for (size_t i = 0; i < n; i++)                                    \
			say(a, fmt, __VA_ARGS__);                                 \
		free(v);                                                          \
		return 0;                                                         \
	}

OBJ_LIST(l_tokens, struct api_token, catalog_token_list(c, sub, &v, &n, e), " %s/%lld",
	 v[i].name, (long long)v[i].last_used)
OBJ_LIST(l_vaults, struct vault, catalog_vault_list(c, sub, &v, &n, e), " %s/%s/%s/%d/%d/%d",
	 v[i].id, v[i].name, v[i].redundancy, v[i].locked, v[i].machines, v[i].immutability)
OBJ_LIST(l_machines, struct machine, catalog_machine_list(c, vault_a, &v, &n, e),
	 " %s/%s/%lld/%lld/%lld/%lld", v[i].name, v[i].key_id, (long long)v[i].renewed,
	 (long long)v[i].last_seen, (long long)v[i].deleted, (long long)v[i].cert_expires)
OBJ_LIST(l_points1, struct recovery_point, catalog_point_list(c, m1, true, &v, &n, e),
	 " %s/%lld/%lld/%lld/%lld/%lld", v[i].meta, (long long)v[i].created,
	 (long long)v[i].objects, (long long)v[i].bytes, (long long)v[i].deleted,
	 (long long)v[i].retain_until)
OBJ_LIST(l_points2, struct recovery_point, catalog_point_list(c, m2, false, &v, &n, e),
	 " %s/%lld/%lld", v[i].meta, (long long)v[i].created, (long long)v[i].objects)
OBJ_LIST(l_usage, struct usage, catalog_usage(c, vault_a, &v, &n, e), " %s/%lld/%lld/%lld",
	 v[i].machine, (long long)v[i].packs, (long long)v[i].stored_bytes,
	 (long long)v[i].points)
OBJ_LIST(l_alerts, struct alert, catalog_alert_list(c, sub, 10, &v, &n, e), " %lld/%s/%s/%s",
	 (long long)v[i].time, v[i].kind, v[i].target, v[i].message)
OBJ_LIST(l_audit, struct audit_entry, catalog_audit_list(c, sub, 10, &v, &n, e),
	 " %lld/%s/%s/%s/%s", (long long)v[i].time, v[i].actor, v[i].action, v[i].target,
	 v[i].detail)
OBJ_LIST(l_pack_usage, struct pack_use, catalog_pack_usage(c, NULL, &v, &n, e), " %.8s/%lld",
	 v[i].id, (long long)v[i].size)
OBJ_LIST(l_pack_objects, struct pack_obj, catalog_pack_objects(c, m1, pack1, &v, &n, e),
	 " %02x/%lld", v[i].id.b[0], (long long)v[i].length)
OBJ_LIST(l_doomed, struct doomed, catalog_doomed_due(c, T0 + 999999, &v, &n, e),
	 " %.8s/%s/%s", v[i].pack, v[i].region, v[i].pair)
OBJ_LIST(l_policy_machines, catalog_id, catalog_policy_machines(c, &v, &n, e), " %s", v[i])
OBJ_LIST(l_leases, struct lease, catalog_lease_list(c, &v, &n, e), " %s/%lld/%lld",
	 v[i].machine_id, (long long)v[i].started, (long long)v[i].expires)

static int l_jobs(struct catalog *c, struct ans *a, struct err *e)
{
	struct job *v = NULL;
	size_t n = 0;

	if (catalog_job_list(c, vault_a, 10, &v, &n, e) != 0)
		return -1;
	say(a, "%zu:", n);
	for (size_t i = 0; i < n; i++)
		say(a, " %s/%s/%s/%lld/%lld/%s", v[i].machine, v[i].kind, v[i].status,
		    (long long)v[i].started, (long long)v[i].ended, v[i].report);
	catalog_job_list_free(v, n);
	return 0;
}

static int l_refs(struct catalog *c, struct ans *a, struct err *e)
{
	struct objid *ids = NULL;
	size_t n = 0;
	int64_t mark;

	if (catalog_refs_mark(c, m1, &ids, &n, &mark, e) != 0)
		return -1;
	say(a, "%zu@%lld:", n, (long long)mark);
	for (size_t i = 0; i < n; i++)
		say(a, " %02x", ids[i].b[0]);
	free(ids);
	return 0;
}

/* The collector's reads, in its order: the packs, each machine's mark,
 * each pack's objects; the answer is the packs it would drop. */
static int l_collector(struct catalog *c, struct ans *a, struct err *e)
{
	struct pack_use *u = NULL;
	struct objid *ids = NULL;
	size_t n = 0, n_ids = 0;
	int64_t mark;
	int rc = -1;
	char machine[CATALOG_ID_LEN + 1] = "";

	if (catalog_pack_usage(c, NULL, &u, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct pack_obj *o = NULL;
		size_t m = 0, live = 0;

		if (strcmp(machine, u[i].machine_id) != 0) {
			free(ids);
			ids = NULL;
			strcpy(machine, u[i].machine_id);
			if (catalog_refs_mark(c, machine, &ids, &n_ids, &mark, e) != 0)
				goto out;
		}
		if (catalog_pack_objects(c, u[i].machine_id, u[i].id, &o, &m, e) != 0)
			goto out;
		for (size_t k = 0; k < m; k++)
			live += n_ids && bsearch(&o[k].id, ids, n_ids, sizeof(*ids),
						 (int (*)(const void *, const void *))objid_cmp);
		free(o);
		if (live == 0)
			say(a, "drop %.8s ", u[i].id);
	}
	rc = 0;
out:
	free(ids);
	free(u);
	return rc;
}

static int r_open(struct catalog *c, struct ans *a, struct err *e)
{
	catalog_id id;

	if (catalog_subscription_first(c, id, e) != 0)
		return -1;
	say(a, "%s", id);
	return 0;
}

static int r_user(struct catalog *c, struct ans *a, struct err *e)
{
	char hash[64];
	struct principal p;

	if (catalog_user_find(c, "alice", hash, sizeof(hash), &p, e) != 0)
		return -1;
	say(a, "%s %s %s %s %d %d", hash, p.subscription, p.name, p.role, p.totp, p.disabled);
	return 0;
}

static int r_nouser(struct catalog *c, struct ans *a, struct err *e)
{
	char hash[64];
	struct principal p;

	(void)a;
	return catalog_user_find(c, "bob", hash, sizeof(hash), &p, e);
}

static int r_session(struct catalog *c, struct ans *a, struct err *e)
{
	struct principal p;

	if (catalog_authenticate(c, "sess", T0 + 1, &p, e) != 0)
		return -1;
	say(a, "%s %s %d %s %d", p.subscription, p.name, p.is_token, p.role, p.totp);
	return 0;
}

static int w_token_auth(struct catalog *c, struct ans *a, struct err *e)
{
	struct principal p;

	if (catalog_authenticate(c, "tokhash", T0 + 5, &p, e) != 0)
		return -1;
	say(a, "%s %s %d", p.subscription, p.name, p.is_token);
	return 0;
}

static int r_denied(struct catalog *c, struct ans *a, struct err *e)
{
	struct principal p;

	(void)a;
	return catalog_authenticate(c, "nothing", T0 + 1, &p, e);
}

static int r_vault(struct catalog *c, struct ans *a, struct err *e)
{
	struct vault v, w;
	char *cert, *key;

	if (catalog_vault_get(c, sub, "vault-a", &v, e) != 0 ||
	    catalog_vault_by_id(c, vault_b, &w, e) != 0 ||
	    catalog_vault_ca(c, vault_a, &cert, &key, e) != 0)
		return -1;
	say(a, "%s %s %d %s %s %s", v.id, v.region, v.machines, w.name, cert, key);
	free(cert);
	free(key);
	return 0;
}

static int r_credential(struct catalog *c, struct ans *a, struct err *e)
{
	char fp[65];
	int64_t exp;

	if (catalog_credential_latest(c, vault_a, fp, &exp, e) != 0)
		return -1;
	say(a, "%s %lld", fp, (long long)exp);
	return 0;
}

static int r_machine(struct catalog *c, struct ans *a, struct err *e)
{
	struct machine m, k;
	char *pub;
	uint8_t *blob;
	size_t len;

	if (catalog_machine_get(c, m1, &m, &pub, e) != 0)
		return -1;
	say(a, "%s %s %s ", m.name, m.key_id, pub);
	free(pub);
	if (catalog_machine_wrapped_key(c, m1, &blob, &len, e) != 0)
		return -1;
	free(blob);
	if (catalog_machine_by_name(c, vault_a, "m2", &k, e) != 0)
		return -1;
	say(a, "%zu %s", len, k.id);
	return 0;
}

static int r_packs(struct catalog *c, struct ans *a, struct err *e)
{
	catalog_id owner, reader;

	if (catalog_pack_owner(c, pack2, owner, e) != 0 ||
	    catalog_pack_reader(c, pack_doomed, reader, e) != 0)
		return -1;
	say(a, "%s %s", owner, reader);
	return 0;
}

static int r_objects(struct catalog *c, struct ans *a, struct err *e)
{
	char hex[4][OBJID_HEX_LEN + 1];
	const char *ids[4] = { hex[0], hex[1], hex[2], hex[3] };
	bool missing[4], found[4];
	struct object_loc loc[4];

	for (int i = 0; i < 4; i++)
		obj_hex((uint8_t)(i * 3 + 1), hex[i]); /* 1, 4, 7, 10 */
	if (catalog_objects_missing(c, m1, ids, 4, missing, e) != 0 ||
	    catalog_objects_locate(c, m1, ids, 4, loc, found, e) != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		say(a, "%d%d", missing[i], found[i]);
		if (found[i])
			say(a, "/%.8s/%llu ", loc[i].pack, (unsigned long long)loc[i].offset);
	}
	return 0;
}

static int r_point(struct catalog *c, struct ans *a, struct err *e)
{
	struct recovery_point rp;

	if (catalog_point_get(c, m1, point1, &rp, e) != 0)
		return -1;
	say(a, "%s %lld %lld", rp.meta, (long long)rp.objects, (long long)rp.bytes);
	return 0;
}

static int r_policy(struct catalog *c, struct ans *a, struct err *e)
{
	char *json;
	int64_t up;
	int job, alert;

	if (catalog_policy_get(c, m1, &json, e) != 0)
		return -1;
	say(a, "%s ", json);
	free(json);
	if ((up = catalog_policy_updated(c, m1, e)) < 0 ||
	    (job = catalog_job_since(c, m1, T0, e)) < 0 ||
	    (alert = catalog_alert_since(c, sub, "k", "t", T0, e)) < 0)
		return -1;
	say(a, "%lld %d %d", (long long)up, job, alert);
	return 0;
}

/* A job's kind: the machine's own, and another machine's refused. */
static int r_job_kind(struct catalog *c, struct ans *a, struct err *e)
{
	char kind[16];
	struct err ne;

	if (catalog_job_kind(c, m1, job_run, kind, e) != 0)
		return -1;
	say(a, "%s", kind);
	/* Not found is an answer only when the catalog could read: a failed
	 * read must not pass for "no such job". */
	if (catalog_job_kind(c, m2, job_run, kind, &ne) == 0)
		return err_set(e, ERR_INVALID, "another machine's job has a kind for it");
	if (ne.code != ERR_NOT_FOUND) {
		*e = ne;
		return -1;
	}
	say(a, " other: not found");
	return 0;
}

/* Everything the catalog says, for comparing states. */
static int describe(struct catalog *c, struct ans *a)
{
	int (*const reads[])(struct catalog *, struct ans *, struct err *) = {
		l_tokens, l_vaults, l_machines, l_points1, l_points2, l_usage, l_alerts, l_audit,
		l_pack_usage, l_pack_objects, l_doomed, l_policy_machines, l_leases, l_jobs, l_refs,
		r_open, r_credential,
	};

	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		say(a, "\n");
		if (reads[i](c, a, NULL) != 0)
			say(a, "error");
	}
	return 0;
}

/* ---- writes ---- */

static int w_subscription(struct catalog *c, struct ans *a, struct err *e)
{
	catalog_id id;

	(void)a;
	return catalog_subscription_create(c, "s2", T0, id, e);
}

static int w_user(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_user_create(c, sub, "bob", "h", T0, e);
}

static int w_vault(struct catalog *c, struct ans *a, struct err *e)
{
	struct vault v;

	(void)a;
	memset(&v, 0, sizeof(v));
	memset(v.id, 'f', CATALOG_ID_LEN);
	strcpy(v.subscription, sub), strcpy(v.name, "vault-c"), strcpy(v.region, "r1");
	strcpy(v.redundancy, "GRS");
	return catalog_vault_create(c, &v, "c", "k", e);
}

/* Every CA key rewritten, as the service seals plain keys. */
static int prefix_key(void *arg, const char *vault_id, const char *key, char **repl,
		      struct err *e)
{
	(void)arg, (void)vault_id;
	if (asprintf(repl, "sealed:%s", key) < 0) {
		*repl = NULL;
		return err_oom(e);
	}
	return 0;
}

static int w_ca_keys_rewrite(struct catalog *c, struct ans *a, struct err *e)
{
	size_t n;

	(void)a;
	return catalog_vault_ca_keys_rewrite(c, prefix_key, NULL, &n, e);
}

static int w_vault_redundancy(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_vault_set_redundancy(c, sub, "vault-b", "GRS", e);
}

static int w_vault_immutability(struct catalog *c, struct ans *a, struct err *e)
{
	struct vault v;

	(void)a;
	return catalog_vault_set_immutability(c, sub, "vault-b", IMMUT_LOCKED, &v, e);
}

static int w_point_retain(struct catalog *c, struct ans *a, struct err *e)
{
	const char *ids[2] = { point1, point_del };
	const int64_t until[2] = { T0 + 86400, T0 + 2 * 86400 };

	(void)a;
	return catalog_point_retain(c, m1, ids, until, 2, e);
}

static int w_vault_delete(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_vault_delete(c, sub, "vault-b", e);
}

static int w_vault_busy(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_vault_delete(c, sub, "vault-a", e);
}

static int w_credential(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_credential_add(c, vault_a, "02", "fp2", "cert2", T0 + 1, T0 + 99, e);
}

static int w_register(struct catalog *c, struct ans *a, struct err *e)
{
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	struct registration r;
	struct machine m;
	bool again;

	memset(&r, 0, sizeof(r));
	r.vault_id = vault_a, r.credential_fingerprint = "fp1", r.name = "m3";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.verifier = verifier, r.now = T0 + 5;
	if (catalog_machine_register(c, &r, &m, &again, e) != 0)
		return -1;
	say(a, "%s %d", m.name, again);
	return 0;
}

static int w_register_again(struct catalog *c, struct ans *a, struct err *e)
{
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	struct registration r;
	struct machine m;
	bool again;

	memset(&r, 0, sizeof(r));
	r.vault_id = vault_a, r.credential_fingerprint = "fp1", r.name = "m1";
	r.public_key_pem = "pub2", r.cert_pem = "cert2", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.verifier = verifier, r.now = T0 + 6;
	if (catalog_machine_register(c, &r, &m, &again, e) != 0)
		return -1;
	say(a, "%s %s %d", m.id, m.name, again);
	return 0;
}

static int w_nonce(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_nonce_use(c, "machine:x", "n2", T0 + 1, T0 + 600, e);
}

static int w_replay(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_nonce_use(c, "machine:x", "n1", T0 + 1, T0 + 600, e);
}

static int w_pack(struct catalog *c, struct ans *a, struct err *e)
{
	struct pack_entry ents[2];
	char name[65];

	(void)a;
	memset(ents, 0, sizeof(ents));
	ents[0].id.b[0] = 8, ents[1].id.b[0] = 9;
	ents[0].kind = ents[1].kind = 1;
	ents[0].length = ents[1].length = 50;
	pack_name(name, 'g');
	return catalog_pack_add(c, m2, name, 500, ents, 2, T0 + 1, e);
}

static int w_commit(struct catalog *c, struct ans *a, struct err *e)
{
	char hex[2][OBJID_HEX_LEN + 1];
	const char *ids[2] = { hex[0], hex[1] };
	struct recovery_point rp;

	obj_hex(4, hex[0]);
	obj_hex(5, hex[1]);
	if (catalog_point_commit(c, m2, "meta2", NULL, ids, 2, T0 + 200, &rp, e) != 0)
		return -1;
	say(a, "%s %lld %lld %lld", rp.meta, (long long)rp.created, (long long)rp.objects,
	    (long long)rp.bytes);
	return 0;
}

static int w_commit_missing(struct catalog *c, struct ans *a, struct err *e)
{
	char hex[OBJID_HEX_LEN + 1];
	const char *ids[1] = { hex };
	struct recovery_point rp;

	(void)a;
	obj_hex(99, hex);
	return catalog_point_commit(c, m2, "meta2", NULL, ids, 1, T0 + 200, &rp, e);
}

static int w_point_delete(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_point_delete(c, m1, point1, T0 + 300, e);
}

static int w_point_undelete(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_point_undelete(c, m1, point_del, e);
}

static int w_pin_wrong(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_pin_use(c, sub, NULL, "machine:x", "wrong", T0 + 2, e);
}

static int w_policy(struct catalog *c, struct ans *a, struct err *e)
{
	struct job_alert al = { sub, "policy", "m1", "changed" };

	(void)a;
	return catalog_policy_set(c, m1, "{\"a\":1}", "{\"a\":2}", T0 + 600, &al, NULL, NULL, e);
}

static int w_policy_stale(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_policy_set(c, m1, "{\"a\":0}", "{\"a\":2}", T0 + 600, NULL, NULL, NULL, e);
}

static int w_drop(struct catalog *c, struct ans *a, struct err *e)
{
	struct objid *ids;
	size_t n;
	int64_t mark;

	(void)a;
	if (catalog_refs_mark(c, m1, &ids, &n, &mark, e) != 0)
		return -1;
	free(ids);
	return catalog_gc_drop(c, m1, pack_dead, mark, "r1", "r2", T0 + 800, T0 + 4400, e);
}

static int w_drop_leased(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_gc_drop(c, m2, pack2, 0, "r1", "", T0 + 800, T0 + 4400, e);
}


/* One write each, so that a failure must leave all or nothing of it. */
#define WRITE(name, call)                                                         \
	static int name(struct catalog *c, struct ans *a, struct err *e)          \
	{                                                                         \
		(void)a;                                                          \
		return call;                                                      \
	}

static const uint8_t new_blob[KEYS_WRAPPED_LEN] = { 1 };
static const struct job_alert job_alert = { NULL, "k2", "t2", "m" };

WRITE(w_session_create, catalog_session_create(c, "sess2", alice, T0 + 9, e))
WRITE(w_session_delete, catalog_session_delete(c, "sess", e))
WRITE(w_token_delete, catalog_token_delete(c, sub, token_id, e))
WRITE(w_wrapped_key, catalog_machine_set_wrapped_key(c, m1, new_blob, sizeof(new_blob), "00", e))
WRITE(w_wrapped_key_other, catalog_machine_set_wrapped_key(c, m1, new_blob, sizeof(new_blob),
							   "ff", e))
WRITE(w_cert, catalog_machine_set_cert(c, m1, "cert3", T0 + 7, T0 + 77, e))
WRITE(w_seen, catalog_machine_seen(c, m2, T0 + 8, e))
WRITE(w_machine_delete, catalog_machine_delete(c, vault_a, "m2", T0 + 400, e))
WRITE(w_machine_undelete, catalog_machine_undelete(c, vault_a, "m4", e))
WRITE(w_pin_create, catalog_pin_create(c, sub, alice, "pin2", T0 + 1, T0 + 301, e))
WRITE(w_pin_use, catalog_pin_use(c, sub, alice, alice, "pinhash", T0 + 2, e))
WRITE(w_alert, catalog_alert(c, sub, T0 + 700, "k3", "t3", "m3", e))
WRITE(w_audit, catalog_audit(c, sub, T0 + 701, "bob", "did", "x", NULL, e))
WRITE(w_lease_end, catalog_lease_end(c, m2, lease_id, e))
WRITE(w_lease_end_other, catalog_lease_end(c, m1, lease_id, e))
WRITE(w_doom, catalog_gc_doom(c, m1, pack_dead, "r1", "", T0 + 86400, e))
WRITE(w_doomed_done, catalog_doomed_done(c, pack_doomed, e))
WRITE(w_pack_forget, catalog_pack_forget(c, pack1, T0 + 4400, NULL, NULL, e))

static const struct user_change dave_role = { .what = USER_ROLE, .role = "backup-operator" };
static const struct user_change last_owner = { .what = USER_REMOVE, .may_touch_owner = true };
static const struct user_change dave_reset = { .what = USER_RESET, .code_hash = "c2",
					       .expires = T0 + 99 };

WRITE(w_user_invite, catalog_user_invite(c, sub, "carol", "reader", "ccode", T0 + 99, T0, e))
WRITE(w_user_accept, catalog_user_accept(c, "dave", "dcode", "dhash", T0 + 1, e))
WRITE(w_user_accept_wrong, catalog_user_accept(c, "dave", "wrong", "dhash", T0 + 1, e))
WRITE(w_user_change, catalog_user_change(c, sub, "dave", &dave_role, e))
WRITE(w_user_reset, catalog_user_change(c, sub, "dave", &dave_reset, e))
WRITE(w_last_owner, catalog_user_change(c, sub, "alice", &last_owner, e))
WRITE(w_totp_pending, catalog_totp_set(c, alice, TOTP_PENDING, "sec2", 0, e))
WRITE(w_totp_use, catalog_totp_set(c, alice, TOTP_USE, NULL, 6, e))
WRITE(w_totp_replay, catalog_totp_set(c, alice, TOTP_USE, NULL, 5, e))
WRITE(w_require_totp, catalog_subscription_require_totp(c, sub, true, e))

static int l_users(struct catalog *c, struct ans *a, struct err *e)
{
	struct user *u = NULL;
	size_t n = 0;

	if (catalog_user_list(c, sub, &u, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		say(a, "%s %s %d %d %lld;", u[i].name, u[i].role, u[i].disabled, u[i].totp,
		    (long long)u[i].invite_expires);
	free(u);
	return 0;
}

static int r_totp(struct catalog *c, struct ans *a, struct err *e)
{
	char secret[CATALOG_TOTP_LEN], pending[CATALOG_TOTP_LEN];
	int64_t last;

	if (catalog_totp_get(c, alice, secret, pending, &last, e) != 0)
		return -1;
	say(a, "%s %s %lld", secret, pending, (long long)last);
	return 0;
}

static int w_token_create(struct catalog *c, struct ans *a, struct err *e)
{
	struct principal p = { 0 };
	catalog_id id;

	(void)a;
	strcpy(p.subscription, sub);
	return catalog_token_create(c, &p, "tok2", "tokhash2", T0 + 1, id, e);
}

static int w_job_end(struct catalog *c, struct ans *a, struct err *e)
{
	struct job j;
	struct job_alert al = job_alert;

	(void)a;
	al.subscription = sub;
	memset(&j, 0, sizeof(j));
	memcpy(j.id, job_run, sizeof(catalog_id));
	strcpy(j.status, "complete");
	j.files = 3;
	return catalog_job_end(c, m1, &j, T0 + 500, &al, e);
}

static int w_job_start(struct catalog *c, struct ans *a, struct err *e)
{
	struct job j;

	if (catalog_job_start(c, m2, "restore", T0 + 501, &j, e) != 0)
		return -1;
	say(a, "%s %lld", j.kind, (long long)j.started);
	return 0;
}

static int w_purge(struct catalog *c, struct ans *a, struct err *e)
{
	int64_t pts, ms;

	if (catalog_purge(c, T0 + 45 + 15 * 86400, T0 + 500, NULL, NULL, &pts, &ms, e) != 0)
		return -1;
	say(a, "%lld %lld", (long long)pts, (long long)ms);
	return 0;
}

static int w_lease_renew(struct catalog *c, struct ans *a, struct err *e)
{
	int64_t until;

	if (catalog_lease_renew(c, m2, lease_id, T0 + 10, T0 + 7200, &until, e) != 0)
		return -1;
	say(a, "%lld", (long long)until);
	return 0;
}

static int w_lease_begin(struct catalog *c, struct ans *a, struct err *e)
{
	catalog_id id;

	(void)a;
	return catalog_lease_begin(c, m1, T0 + 20, T0 + 3600, id, e);
}

static int w_move(struct catalog *c, struct ans *a, struct err *e)
{
	struct pack_entry ents[3];
	struct objid *ids;
	size_t n;
	int64_t mark;
	char name[65];

	(void)a;
	memset(ents, 0, sizeof(ents));
	for (int i = 0; i < 3; i++) {
		ents[i].id.b[0] = (uint8_t)(i + 1), ents[i].kind = 1, ents[i].length = 100;
		ents[i].offset = 16 + 100 * (uint64_t)i;
	}
	pack_name(name, 'h');
	if (catalog_refs_mark(c, m1, &ids, &n, &mark, e) != 0)
		return -1;
	free(ids);
	return catalog_gc_move(c, m1, pack1, name, 316, ents, 3, mark, "r1", "", T0 + 900,
			       T0 + 4500, e);
}

static int w_claim(struct catalog *c, struct ans *a, struct err *e)
{
	int claim = catalog_doomed_claim(c, pack_doomed, T0 + 9000, e);

	if (claim < 0)
		return -1;
	say(a, "%d", claim);
	return 0;
}

/* A collector's pass, as gc_run makes it: the packs, each machine's mark,
 * each pack's objects, and the drop of a pack none of whose objects is
 * live, stopping at the first failure. Only pack_dead is dead, so a pass
 * that failed has dropped it or nothing, never a pack a point needs. */
static int w_collector_pass(struct catalog *c, struct ans *a, struct err *e)
{
	struct pack_use *u = NULL;
	struct objid *ids = NULL;
	size_t n = 0, n_ids = 0;
	int64_t mark = 0;
	int rc = -1;
	char machine[CATALOG_ID_LEN + 1] = "", skipped[CATALOG_ID_LEN + 1] = "";

	if (catalog_pack_usage(c, NULL, &u, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct pack_obj *o = NULL;
		size_t m = 0, live = 0;
		struct err pe;

		if (strcmp(machine, u[i].machine_id) != 0) {
			free(ids);
			ids = NULL;
			strcpy(machine, u[i].machine_id);
			if (catalog_refs_mark(c, machine, &ids, &n_ids, &mark, e) != 0)
				goto out;
		}
		if (strcmp(skipped, machine) == 0)
			continue;
		if (catalog_pack_objects(c, u[i].machine_id, u[i].id, &o, &m, e) != 0)
			goto out;
		for (size_t k = 0; k < m; k++)
			live += n_ids && bsearch(&o[k].id, ids, n_ids, sizeof(*ids),
						 (int (*)(const void *, const void *))objid_cmp);
		free(o);
		if (live > 0)
			continue;
		if (catalog_gc_drop(c, machine, u[i].id, mark, "r1", "", T0 + 1000, T0 + 4600,
				    &pe) == 0) {
			say(a, "dropped %.8s ", u[i].id);
		} else if (pe.code == ERR_LOCKED) {
			strcpy(skipped, machine);
		} else {
			*e = pe;
			goto out;
		}
	}
	rc = 0;
out:
	free(ids);
	free(u);
	return rc;
}

static int r_point_refs(struct catalog *c, struct ans *a, struct err *e)
{
	struct objid *ids = NULL;
	size_t n = 0;

	if (catalog_point_refs(c, m1, point1, &ids, &n, e) != 0)
		return -1;
	say(a, "%zu:", n);
	for (size_t i = 0; i < n; i++)
		say(a, " %02x", ids[i].b[0]);
	free(ids);
	return 0;
}

/* Every table's rows (tables, rows_read): per table its columns, its
 * number of rows and an order-free sum of their hashes. */
struct rows_sum {
	int64_t rows;
	uint64_t sum;
};

static int sum_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	struct rows_sum *r = arg;
	uint64_t h = 1469598103934665603ull;

	(void)e;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = v[i].p;

		h = (h ^ (uint64_t)v[i].type) * 1099511628211ull;
		h = (h ^ (uint64_t)v[i].i) * 1099511628211ull;
		for (size_t k = 0; v[i].type >= CATALOG_VTEXT && k < v[i].len; k++)
			h = (h ^ p[k]) * 1099511628211ull;
	}
	r->sum += h;
	r->rows++;
	return 0;
}

static int r_rows(struct catalog *c, struct ans *a, struct err *e)
{
	struct catalog_table *t = NULL;
	size_t n = 0;
	int rc = 0;

	if (catalog_tables(c, &t, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct rows_sum r = { 0, 0 };

		say(a, "%s:", t[i].name);
		for (size_t k = 0; k < t[i].ncols; k++)
			say(a, " %s", t[i].cols[k]);
		if ((rc = catalog_rows_read(c, t[i].name, sum_row, &r, e)) == 0)
			say(a, " = %lld rows %016llx\n", (long long)r.rows, (unsigned long long)r.sum);
	}
	catalog_tables_free(t, n);
	return rc;
}

/* rows_write into this catalog, which holds rows: refused (ERR_EXISTS)
 * before its fill is called. */
static int no_fill(void *arg, struct catalog_sink *k, struct err *e)
{
	(void)arg;
	(void)k;
	return err_set(e, ERR_INVALID, "fill called on a catalog that holds rows");
}

static int w_rows_refused(struct catalog *c, struct ans *a, struct err *e)
{
	(void)a;
	return catalog_rows_write(c, no_fill, NULL, e);
}

static const struct call calls[] = {
	{ "open", r_open, false, true },
	{ "user_find", r_user, false, false },
	{ "user_find unknown", r_nouser, false, false },
	{ "authenticate session", r_session, false, false },
	{ "authenticate unknown", r_denied, false, false },
	{ "token_list", l_tokens, false, false },
	{ "vault_list", l_vaults, false, false },
	{ "vault lookups", r_vault, false, false },
	{ "credential_latest", r_credential, false, false },
	{ "machine_list", l_machines, false, false },
	{ "machine lookups", r_machine, false, false },
	{ "pack owner and reader", r_packs, false, false },
	{ "objects missing and located", r_objects, false, false },
	{ "point_get", r_point, false, false },
	{ "point_list all", l_points1, false, false },
	{ "point_list", l_points2, false, false },
	{ "job_list", l_jobs, false, false },
	{ "job_kind", r_job_kind, false, false },
	{ "usage", l_usage, false, false },
	{ "policy and missed backups", r_policy, false, false },
	{ "policy_machines", l_policy_machines, false, false },
	{ "alert_list", l_alerts, false, false },
	{ "audit_list", l_audit, false, false },
	{ "pack_usage", l_pack_usage, false, false },
	{ "lease_list", l_leases, false, false },
	{ "refs_mark", l_refs, false, false },
	{ "pack_objects", l_pack_objects, false, false },
	{ "point_refs", r_point_refs, false, false },
	{ "doomed_due", l_doomed, false, false },
	{ "collector's reads", l_collector, false, false },
	{ "authenticate token", w_token_auth, true, false },
	{ "subscription_create", w_subscription, true, false },
	{ "user_create", w_user, true, false },
	{ "session_create", w_session_create, true, false },
	{ "session_delete", w_session_delete, true, false },
	{ "token_create", w_token_create, true, false },
	{ "user_list", l_users, false, false },
	{ "totp_get", r_totp, false, false },
	{ "user_invite", w_user_invite, true, false },
	{ "user_accept", w_user_accept, true, false },
	{ "user_accept refused", w_user_accept_wrong, true, false },
	{ "user_change", w_user_change, true, false },
	{ "user_change reset", w_user_reset, true, false },
	{ "user_change last owner refused", w_last_owner, true, false },
	{ "totp_set pending", w_totp_pending, true, false },
	{ "totp_set use", w_totp_use, true, false },
	{ "totp_set replay refused", w_totp_replay, true, false },
	{ "subscription_require_totp", w_require_totp, true, false },
	{ "token_delete", w_token_delete, true, false },
	{ "vault_create", w_vault, true, false },
	{ "vault_ca_keys_rewrite", w_ca_keys_rewrite, true, false },
	{ "vault_set_redundancy", w_vault_redundancy, true, false },
	{ "vault_set_immutability", w_vault_immutability, true, false },
	{ "point_retain", w_point_retain, true, false },
	{ "vault_delete", w_vault_delete, true, false },
	{ "vault_delete refused", w_vault_busy, true, false },
	{ "credential_add", w_credential, true, false },
	{ "machine_register", w_register, true, false },
	{ "machine_register again", w_register_again, true, false },
	{ "machine_set_wrapped_key", w_wrapped_key, true, false },
	{ "machine_set_wrapped_key refused", w_wrapped_key_other, true, false },
	{ "machine_set_cert", w_cert, true, false },
	{ "machine_seen", w_seen, true, false },
	{ "machine_delete", w_machine_delete, true, false },
	{ "machine_undelete", w_machine_undelete, true, false },
	{ "nonce_use", w_nonce, true, false },
	{ "nonce_use replay", w_replay, true, false },
	{ "pack_add", w_pack, true, false },
	{ "point_commit", w_commit, true, false },
	{ "point_commit missing", w_commit_missing, true, false },
	{ "point_delete", w_point_delete, true, false },
	{ "point_undelete", w_point_undelete, true, false },
	{ "purge", w_purge, true, false },
	{ "pin_create", w_pin_create, true, false },
	{ "pin_use", w_pin_use, true, false },
	{ "pin_use wrong", w_pin_wrong, true, false },
	{ "job_end", w_job_end, true, false },
	{ "job_start", w_job_start, true, false },
	{ "policy_set", w_policy, true, false },
	{ "policy_set stale", w_policy_stale, true, false },
	{ "alert", w_alert, true, false },
	{ "audit", w_audit, true, false },
	{ "lease_begin", w_lease_begin, true, false },
	{ "lease_renew", w_lease_renew, true, false },
	{ "lease_end", w_lease_end, true, false },
	{ "lease_end of another machine", w_lease_end_other, true, false },
	{ "gc_drop", w_drop, true, false },
	{ "gc_drop leased", w_drop_leased, true, false },
	{ "gc_doom", w_doom, true, false },
	{ "gc_move", w_move, true, false },
	{ "doomed_claim", w_claim, true, false },
	{ "doomed_done", w_doomed_done, true, false },
	{ "pack_forget", w_pack_forget, true, false },
	{ "tables and rows_read", r_rows, false, false },
	{ "rows_write refused", w_rows_refused, true, false },
	{ "collector's pass", w_collector_pass, true, false },
};

/* ---- the sweep ---- */

struct outcome {
	int rc;
	enum err_code code;
	struct ans a;
};

static struct ans pre_state, state_tmp;

/* What every read of the catalog at PATH says (ids drawn at random left
 * out), opened without faults. */
static void state_of(struct ans *a)
{
	struct catalog *c = catalog_open(path, NULL);

	assert_non_null(c);
	a->n = 0;
	a->s[0] = 0;
	assert_int_equal(describe(c, a), 0);
	catalog_close(c);
}

/* Run CALL on a fresh copy with the fault at N (0: none) into *O; whether
 * the fault was reached. */
static int run(const struct call *call, long n, struct outcome *o)
{
	struct catalog *c;
	struct err e = { 0 };

	restore();
	o->a.n = 0;
	o->a.s[0] = 0;
	fail_at = 0;
	if (call->opens) {
		io_count = 0, fired = 0, fail_at = n;
		c = catalog_sqlite_open(path, "arca-fault", &e);
		o->rc = c ? call->fn(c, &o->a, &e) : -1;
	} else {
		c = catalog_sqlite_open(path, "arca-fault", NULL);
		assert_non_null(c);
		io_count = 0, fired = 0, fail_at = n;
		o->rc = call->fn(c, &o->a, &e);
	}
	fail_at = 0;
	o->code = o->rc ? e.code : ERR_OK;
	catalog_close(c);
	return fired;
}

static long points_tried, wrong;

static void sweep_call(const struct call *call)
{
	static struct outcome base, o;
	static struct ans post;

	assert_int_equal(run(call, 0, &base), 0);
	if (call->writes)
		state_of(&post);
	for (long n = 1;; n++) {
		if (!run(call, n, &o)) {
			/* Past the call's last I/O: the fault-free answer again. */
			assert_int_equal(o.rc, base.rc);
			assert_string_equal(o.a.s, base.a.s);
			break;
		}
		points_tried++;
		if (o.rc == 0 ? base.rc != 0 || strcmp(o.a.s, base.a.s) != 0
			      : o.code != ERR_IO && !(base.rc != 0 && o.code == base.code)) {
			print_message("%s, fault at I/O %ld: rc %d code %d, answer \"%.200s\" "
				      "instead of rc %d \"%.200s\"\n", call->name, n, o.rc, o.code,
				      o.a.s, base.rc, base.a.s);
			wrong++;
		}
		if (call->writes) {
			state_of(&state_tmp);
			if (strcmp(state_tmp.s, o.rc == 0 ? post.s : pre_state.s) != 0 &&
			    !(o.rc != 0 && strcmp(state_tmp.s, post.s) == 0)) {
				print_message("%s, fault at I/O %ld: left the catalog half changed\n",
					      call->name, n);
				wrong++;
			}
		}
	}
}

static void test_every_call_under_faults(void **state)
{
	static struct outcome pass;
	const struct call *last = &calls[sizeof(calls) / sizeof(calls[0]) - 1];

	(void)state;
	state_of(&pre_state);
	/* Without faults the collector's pass drops the one dead pack. */
	assert_ptr_equal(last->fn, w_collector_pass);
	run(last, 0, &pass);
	assert_int_equal(pass.rc, 0);
	assert_string_equal(pass.a.s, "dropped dddddddd ");
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		sweep_call(&calls[i]);
	printf("note: catalog faults: %ld points tried over %zu calls, %ld short or wrong answers\n",
	       points_tried, sizeof(calls) / sizeof(calls[0]), wrong);
	fflush(stdout);
	assert_int_equal(wrong, 0);
	assert_true(points_tried > 500);
}

static int setup(void **state)
{
	struct catalog *c;
	FILE *f;
	long len;

	(void)state;
	vfs_register();
	/* A folder in memory where there is one: syncs there cost nothing. */
	strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/arca-faults-XXXXXX"
						  : "/tmp/arca-faults-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/catalog.db", dir);
	assert_non_null(c = catalog_open(path, NULL));
	populate(c);
	catalog_close(c);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((len = ftell(f)) > 0);
	rewind(f);
	image_len = (size_t)len;
	assert_non_null(image = malloc(image_len));
	assert_int_equal(fread(image, 1, image_len, f), image_len);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(image);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sqlite3_vfs_unregister(&fault_vfs);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_call_under_faults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
