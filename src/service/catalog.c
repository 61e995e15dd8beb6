/*
 * catalog.c: the catalog's callers' side of the contract (catalog.h): the
 * table of backends, opening a catalog on the one that claims an address,
 * and one thin function per member that passes the call on. Nothing here
 * knows SQL.
 */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

struct catalog {
	const struct catalog_ops *ops;
	struct catalog_backend *b;
};

const struct catalog_rules catalog_rules = {
	.vaults_max = CATALOG_VAULTS_MAX,
	.machines_max = CATALOG_MACHINES_MAX,
	.points_max = CATALOG_POINTS_MAX,
	.soft_delete_days = CATALOG_SOFT_DELETE_DAYS,
	.pin_seconds = CATALOG_PIN_SECONDS,
	.pin_attempts = CATALOG_PIN_ATTEMPTS,
	.pin_lock_seconds = CATALOG_PIN_LOCK_SECONDS,
};

/* The backends, each with the form of address it claims; an address no
 * other backend claims is the path of an SQLite file. */
static const struct {
	const char *prefix;
	const struct catalog_ops *ops;
} backends[] = {
	{ "postgresql://", &catalog_pg_ops },
	{ "postgres://", &catalog_pg_ops },
};

struct catalog *catalog_of(const struct catalog_ops *ops, struct catalog_backend *b,
			   struct err *e)
{
	struct catalog *c = malloc(sizeof(*c));

	if (c == NULL) {
		ops->close(b);
		err_oom(e);
		return NULL;
	}
	c->ops = ops;
	c->b = b;
	return c;
}

struct catalog *catalog_open(const char *where, struct err *e)
{
	const struct catalog_ops *ops = &catalog_sqlite_ops;
	struct catalog_backend *b;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strncmp(where, backends[i].prefix, strlen(backends[i].prefix)) == 0)
			ops = backends[i].ops;
	if ((b = ops->open(where, &catalog_rules, e)) == NULL)
		return NULL;
	return catalog_of(ops, b, e);
}

void catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	c->ops->close(c->b);
	free(c);
}

const char *catalog_backend_name(const struct catalog *c)
{
	return c->ops->name;
}

static const char *const immutability_names[] = { "mutable", "immutable", "locked" };

const char *catalog_immutability_name(int state)
{
	return state >= IMMUT_MUTABLE && state <= IMMUT_LOCKED ? immutability_names[state] : "?";
}

int catalog_immutability_parse(const char *name, struct err *e)
{
	for (int i = IMMUT_MUTABLE; i <= IMMUT_LOCKED; i++)
		if (name && strcmp(name, immutability_names[i]) == 0)
			return i;
	return err_set(e, ERR_INVALID, "immutability must be \"mutable\", \"immutable\" or "
		       "\"locked\" (locked is for ever: the vault can never be made mutable again)");
}

int catalog_refuse_retained(struct err *e, const char *vault, const char *point, int64_t until)
{
	char when[32];
	time_t t = (time_t)until;
	struct tm tm;

	if (until == 0)
		return err_set(e, ERR_LOCKED, "vault %s is immutable: recovery point %.40s is kept "
			       "until retention sets its retain-until time (its machine has no "
			       "policy yet, or retention has not run since the point was made); it "
			       "can be deleted after that time", vault, point);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), until % 86400 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm);
	return err_set(e, ERR_LOCKED, "vault %s is immutable: recovery point %.40s is retained "
		       "until %s; it can be deleted after that", vault, point, when);
}

void catalog_new_id(catalog_id out)
{
	uint8_t b[CATALOG_ID_LEN / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, CATALOG_ID_LEN + 1, b, sizeof(b));
}

void catalog_job_list_free(struct job *j, size_t n)
{
	for (size_t i = 0; j && i < n; i++)
		free(j[i].report);
	free(j);
}

int catalog_subscription_create(struct catalog *c, const char *name, int64_t now, catalog_id id,
				struct err *e)
{
	return c->ops->subscription_create(c->b, name, now, id, e);
}

int catalog_subscription_first(struct catalog *c, catalog_id id, struct err *e)
{
	return c->ops->subscription_first(c->b, id, e);
}

int catalog_user_create(struct catalog *c, const char *subscription, const char *name,
			const char *password_hash, int64_t now, struct err *e)
{
	return c->ops->user_create(c->b, subscription, name, password_hash, now, e);
}

int catalog_user_find(struct catalog *c, const char *name, char *hash, size_t hashlen,
		      struct principal *p, struct err *e)
{
	return c->ops->user_find(c->b, name, hash, hashlen, p, e);
}

int catalog_session_create(struct catalog *c, const char *token_hash, const char *user_id,
			   int64_t expires, struct err *e)
{
	return c->ops->session_create(c->b, token_hash, user_id, expires, e);
}

int catalog_session_delete(struct catalog *c, const char *token_hash, struct err *e)
{
	return c->ops->session_delete(c->b, token_hash, e);
}

int catalog_token_create(struct catalog *c, const struct principal *p, const char *name,
			 const char *token_hash, int64_t now, catalog_id id, struct err *e)
{
	return c->ops->token_create(c->b, p, name, token_hash, now, id, e);
}

int catalog_token_list(struct catalog *c, const char *subscription, struct api_token **out,
		       size_t *n, struct err *e)
{
	return c->ops->token_list(c->b, subscription, out, n, e);
}

int catalog_token_delete(struct catalog *c, const char *subscription, const char *id, struct err *e)
{
	return c->ops->token_delete(c->b, subscription, id, e);
}

int catalog_authenticate(struct catalog *c, const char *token_hash, int64_t now,
			 struct principal *p, struct err *e)
{
	return c->ops->authenticate(c->b, token_hash, now, p, e);
}

int catalog_user_list(struct catalog *c, const char *subscription, struct user **out, size_t *n,
		      struct err *e)
{
	return c->ops->user_list(c->b, subscription, out, n, e);
}

int catalog_user_invite(struct catalog *c, const char *subscription, const char *name,
			const char *role, const char *code_hash, int64_t expires, int64_t now,
			struct err *e)
{
	return c->ops->user_invite(c->b, subscription, name, role, code_hash, expires, now, e);
}

int catalog_user_accept(struct catalog *c, const char *name, const char *code_hash,
			const char *password_hash, int64_t now, struct err *e)
{
	return c->ops->user_accept(c->b, name, code_hash, password_hash, now, e);
}

int catalog_user_change(struct catalog *c, const char *subscription, const char *name,
			const struct user_change *ch, struct err *e)
{
	return c->ops->user_change(c->b, subscription, name, ch, e);
}

int catalog_totp_get(struct catalog *c, const char *user_id, char *secret, char *pending,
		     int64_t *last_step, struct err *e)
{
	return c->ops->totp_get(c->b, user_id, secret, pending, last_step, e);
}

int catalog_totp_set(struct catalog *c, const char *user_id, enum totp_what what,
		     const char *secret, int64_t step, struct err *e)
{
	return c->ops->totp_set(c->b, user_id, what, secret, step, e);
}

int catalog_subscription_require_totp(struct catalog *c, const char *subscription, bool required,
				      struct err *e)
{
	return c->ops->subscription_require_totp(c->b, subscription, required, e);
}

int catalog_vault_create(struct catalog *c, const struct vault *v, const char *ca_cert_pem,
			 const char *ca_key_pem, struct err *e)
{
	return c->ops->vault_create(c->b, v, ca_cert_pem, ca_key_pem, e);
}

int catalog_vault_list(struct catalog *c, const char *subscription, struct vault **out, size_t *n,
		       struct err *e)
{
	return c->ops->vault_list(c->b, subscription, out, n, e);
}

int catalog_vault_get(struct catalog *c, const char *subscription, const char *name,
		      struct vault *v, struct err *e)
{
	return c->ops->vault_get(c->b, subscription, name, v, e);
}

int catalog_vault_by_id(struct catalog *c, const char *id, struct vault *v, struct err *e)
{
	return c->ops->vault_by_id(c->b, id, v, e);
}

int catalog_vault_ca(struct catalog *c, const char *vault_id, char **cert_pem, char **key_pem,
		     struct err *e)
{
	return c->ops->vault_ca(c->b, vault_id, cert_pem, key_pem, e);
}

int catalog_vault_ca_keys_rewrite(struct catalog *c, catalog_ca_key_fn fn, void *arg, size_t *n,
				  struct err *e)
{
	return c->ops->vault_ca_keys_rewrite(c->b, fn, arg, n, e);
}

int catalog_vault_set_redundancy(struct catalog *c, const char *subscription, const char *name,
				 const char *redundancy, struct err *e)
{
	return c->ops->vault_set_redundancy(c->b, subscription, name, redundancy, e);
}

int catalog_vault_set_immutability(struct catalog *c, const char *subscription, const char *name,
				   int state, struct vault *v, struct err *e)
{
	return c->ops->vault_set_immutability(c->b, subscription, name, state, v, e);
}

int catalog_vault_delete(struct catalog *c, const char *subscription, const char *name,
			 struct err *e)
{
	return c->ops->vault_delete(c->b, subscription, name, e);
}

int catalog_credential_add(struct catalog *c, const char *vault_id, const char *serial,
			   const char *fingerprint, const char *cert_pem, int64_t issued,
			   int64_t expires, struct err *e)
{
	return c->ops->credential_add(c->b, vault_id, serial, fingerprint, cert_pem, issued,
				      expires, e);
}

int catalog_credential_latest(struct catalog *c, const char *vault_id, char fingerprint[65],
			      int64_t *expires, struct err *e)
{
	return c->ops->credential_latest(c->b, vault_id, fingerprint, expires, e);
}

int catalog_machine_register(struct catalog *c, const struct registration *r, struct machine *m,
			     bool *again, struct err *e)
{
	return c->ops->machine_register(c->b, r, m, again, e);
}

int catalog_machine_list(struct catalog *c, const char *vault_id, struct machine **out, size_t *n,
			 struct err *e)
{
	return c->ops->machine_list(c->b, vault_id, out, n, e);
}

int catalog_machine_get(struct catalog *c, const char *id, struct machine *m, char **public_key_pem,
			struct err *e)
{
	return c->ops->machine_get(c->b, id, m, public_key_pem, e);
}

int catalog_machine_wrapped_key(struct catalog *c, const char *id, uint8_t **blob, size_t *len,
				struct err *e)
{
	return c->ops->machine_wrapped_key(c->b, id, blob, len, e);
}

int catalog_machine_set_wrapped_key(struct catalog *c, const char *id, const uint8_t *blob,
				    size_t len, const char *key_id, struct err *e)
{
	return c->ops->machine_set_wrapped_key(c->b, id, blob, len, key_id, e);
}

int catalog_machine_set_cert(struct catalog *c, const char *id, const char *cert_pem, int64_t now,
			     int64_t expires, struct err *e)
{
	return c->ops->machine_set_cert(c->b, id, cert_pem, now, expires, e);
}

int catalog_machine_seen(struct catalog *c, const char *id, int64_t now, struct err *e)
{
	return c->ops->machine_seen(c->b, id, now, e);
}

int catalog_machine_delete(struct catalog *c, const char *vault_id, const char *name, int64_t now,
			   struct err *e)
{
	return c->ops->machine_delete(c->b, vault_id, name, now, e);
}

int catalog_machine_undelete(struct catalog *c, const char *vault_id, const char *name,
			     struct err *e)
{
	return c->ops->machine_undelete(c->b, vault_id, name, e);
}

int catalog_machine_by_name(struct catalog *c, const char *vault_id, const char *name,
			    struct machine *m, struct err *e)
{
	return c->ops->machine_by_name(c->b, vault_id, name, m, e);
}

int catalog_nonce_use(struct catalog *c, const char *principal, const char *nonce, int64_t now,
		      int64_t expires, struct err *e)
{
	return c->ops->nonce_use(c->b, principal, nonce, now, expires, e);
}

static int limit_args(const char *key, int burst, int refill, struct err *e)
{
	if (key == NULL || key[0] == '\0' || strlen(key) > CATALOG_LIMIT_KEY_MAX)
		return err_set(e, ERR_INVALID, "a failure limit's key has 1 to %d bytes",
			       CATALOG_LIMIT_KEY_MAX);
	if (burst < 1 || refill < 1)
		return err_set(e, ERR_INVALID, "a failure limit needs a burst and a refill time of "
			       "at least 1");
	return 0;
}

int catalog_limit_wait(struct catalog *c, const char *key, int burst, int refill, int64_t now,
		       int *wait, struct err *e)
{
	*wait = 0;
	if (limit_args(key, burst, refill, e) != 0)
		return -1;
	return c->ops->limit_wait(c->b, key, burst, refill, now, wait, e);
}

int catalog_limit_fail(struct catalog *c, const char *key, int burst, int refill, int64_t now,
		       struct err *e)
{
	if (limit_args(key, burst, refill, e) != 0)
		return -1;
	return c->ops->limit_fail(c->b, key, burst, refill, now, e);
}

int catalog_pack_add(struct catalog *c, const char *machine_id, const char *pack_id, uint64_t size,
		     const struct pack_entry *ents, size_t n, int64_t now, struct err *e)
{
	return c->ops->pack_add(c->b, machine_id, pack_id, size, ents, n, now, e);
}

int catalog_pack_owner(struct catalog *c, const char *pack_id, catalog_id machine_id, struct err *e)
{
	return c->ops->pack_owner(c->b, pack_id, machine_id, e);
}

int catalog_pack_reader(struct catalog *c, const char *pack_id, catalog_id machine_id,
			struct err *e)
{
	return c->ops->pack_reader(c->b, pack_id, machine_id, e);
}

int catalog_objects_missing(struct catalog *c, const char *machine_id, const char *const *ids,
			    size_t n, bool *missing, struct err *e)
{
	return c->ops->objects_missing(c->b, machine_id, ids, n, missing, e);
}

int catalog_objects_locate(struct catalog *c, const char *machine_id, const char *const *ids,
			   size_t n, struct object_loc *loc, bool *found, struct err *e)
{
	return c->ops->objects_locate(c->b, machine_id, ids, n, loc, found, e);
}

int catalog_point_commit(struct catalog *c, const char *machine_id, const char *meta,
			 const char *parent, const char *const *ids, size_t n, int64_t now,
			 struct recovery_point *rp, struct err *e)
{
	return c->ops->point_commit(c->b, machine_id, meta, parent, ids, n, now, rp, e);
}

int catalog_point_get(struct catalog *c, const char *machine_id, const char *point_id,
		      struct recovery_point *rp, struct err *e)
{
	return c->ops->point_get(c->b, machine_id, point_id, rp, e);
}

int catalog_point_list(struct catalog *c, const char *machine_id, bool all,
		       struct recovery_point **out, size_t *n, struct err *e)
{
	return c->ops->point_list(c->b, machine_id, all, out, n, e);
}

int catalog_point_delete(struct catalog *c, const char *machine_id, const char *point_id,
			 int64_t now, struct err *e)
{
	return c->ops->point_delete(c->b, machine_id, point_id, now, e);
}

int catalog_point_undelete(struct catalog *c, const char *machine_id, const char *point_id,
			   struct err *e)
{
	return c->ops->point_undelete(c->b, machine_id, point_id, e);
}

int catalog_point_retain(struct catalog *c, const char *machine_id, const char *const *ids,
			 const int64_t *until, size_t n, struct err *e)
{
	return c->ops->point_retain(c->b, machine_id, ids, until, n, e);
}

int catalog_purge(struct catalog *c, int64_t now, int64_t after, catalog_pair_fn pair_of, void *arg,
		  int64_t *points, int64_t *machines, struct err *e)
{
	return c->ops->purge(c->b, now, after, pair_of, arg, points, machines, e);
}

int catalog_lease_begin(struct catalog *c, const char *machine_id, int64_t now, int64_t expires,
			catalog_id id, struct err *e)
{
	return c->ops->lease_begin(c->b, machine_id, now, expires, id, e);
}

int catalog_lease_renew(struct catalog *c, const char *machine_id, const char *id, int64_t now,
			int64_t expires, int64_t *until, struct err *e)
{
	return c->ops->lease_renew(c->b, machine_id, id, now, expires, until, e);
}

int catalog_lease_end(struct catalog *c, const char *machine_id, const char *id, struct err *e)
{
	return c->ops->lease_end(c->b, machine_id, id, e);
}

int catalog_lease_list(struct catalog *c, struct lease **out, size_t *n, struct err *e)
{
	return c->ops->lease_list(c->b, out, n, e);
}

int catalog_pack_forget(struct catalog *c, const char *pack, int64_t after, catalog_pair_fn pair_of,
			void *arg, struct err *e)
{
	return c->ops->pack_forget(c->b, pack, after, pair_of, arg, e);
}

int catalog_pack_usage(struct catalog *c, const char *vault_id, struct pack_use **out, size_t *n,
		       struct err *e)
{
	return c->ops->pack_usage(c->b, vault_id, out, n, e);
}

int catalog_refs_mark(struct catalog *c, const char *machine_id, struct objid **ids, size_t *n,
		      int64_t *mark, struct err *e)
{
	return c->ops->refs_mark(c->b, machine_id, ids, n, mark, e);
}

int catalog_pack_objects(struct catalog *c, const char *machine_id, const char *pack,
			 struct pack_obj **out, size_t *n, struct err *e)
{
	return c->ops->pack_objects(c->b, machine_id, pack, out, n, e);
}

int catalog_point_refs(struct catalog *c, const char *machine_id, const char *point_id,
		       struct objid **ids, size_t *n, struct err *e)
{
	return c->ops->point_refs(c->b, machine_id, point_id, ids, n, e);
}

int catalog_gc_drop(struct catalog *c, const char *machine_id, const char *pack, int64_t mark,
		    const char *region, const char *pair, int64_t now, int64_t after, struct err *e)
{
	return c->ops->gc_drop(c->b, machine_id, pack, mark, region, pair, now, after, e);
}

int catalog_gc_doom(struct catalog *c, const char *machine_id, const char *pack, const char *region,
		    const char *pair, int64_t after, struct err *e)
{
	return c->ops->gc_doom(c->b, machine_id, pack, region, pair, after, e);
}

int catalog_gc_move(struct catalog *c, const char *machine_id, const char *old_pack,
		    const char *new_pack, uint64_t new_size, const struct pack_entry *ents,
		    size_t n, int64_t mark, const char *region, const char *pair, int64_t now,
		    int64_t after, struct err *e)
{
	return c->ops->gc_move(c->b, machine_id, old_pack, new_pack, new_size, ents, n, mark,
			       region, pair, now, after, e);
}

int catalog_doomed_due(struct catalog *c, int64_t now, struct doomed **out, size_t *n,
		       struct err *e)
{
	return c->ops->doomed_due(c->b, now, out, n, e);
}

int catalog_doomed_done(struct catalog *c, const char *pack, struct err *e)
{
	return c->ops->doomed_done(c->b, pack, e);
}

int catalog_doomed_claim(struct catalog *c, const char *pack, int64_t now, struct err *e)
{
	return c->ops->doomed_claim(c->b, pack, now, e);
}

int catalog_pack_hold(struct catalog *c, const char *pack, const char *holder, int64_t now,
		      int64_t until, struct err *e)
{
	return c->ops->pack_hold(c->b, pack, holder, now, until, e);
}

int catalog_pack_unhold(struct catalog *c, const char *pack, const char *holder, struct err *e)
{
	return c->ops->pack_unhold(c->b, pack, holder, e);
}

int catalog_duty_take(struct catalog *c, const char *name, const char *holder, int64_t now,
		      int64_t until, struct err *e)
{
	return c->ops->duty_take(c->b, name, holder, now, until, e);
}

int catalog_pack_add_replica(struct catalog *c, const char *machine_id, const char *pack_id,
			     uint64_t size, const struct pack_entry *ents, size_t n, int64_t now,
			     const struct replica *r, struct err *e)
{
	return c->ops->pack_add_replica(c->b, machine_id, pack_id, size, ents, n, now, r, e);
}

int catalog_replica_list(struct catalog *c, const char *vault_id, int64_t now, int limit,
			 struct replica **out, size_t *n, struct err *e)
{
	return c->ops->replica_list(c->b, vault_id, now, limit, out, n, e);
}

int catalog_replica_done(struct catalog *c, const char *pack, struct err *e)
{
	return c->ops->replica_done(c->b, pack, e);
}

int catalog_replica_fail(struct catalog *c, const char *pack, int64_t next_try, const char *error,
			 struct err *e)
{
	return c->ops->replica_fail(c->b, pack, next_try, error, e);
}

int catalog_replica_lag(struct catalog *c, const char *vault_id, struct replica_lag *lag,
			struct err *e)
{
	return c->ops->replica_lag(c->b, vault_id, lag, e);
}

int catalog_pin_create(struct catalog *c, const char *subscription, const char *user_id,
		       const char *pin_hash, int64_t now, int64_t expires, struct err *e)
{
	return c->ops->pin_create(c->b, subscription, user_id, pin_hash, now, expires, e);
}

int catalog_pin_use(struct catalog *c, const char *subscription, const char *user_id,
		    const char *actor, const char *pin_hash, int64_t now, struct err *e)
{
	return c->ops->pin_use(c->b, subscription, user_id, actor, pin_hash, now, e);
}

int catalog_job_start(struct catalog *c, const char *machine_id, const char *kind, int64_t now,
		      struct job *j, struct err *e)
{
	return c->ops->job_start(c->b, machine_id, kind, now, j, e);
}

int catalog_job_end(struct catalog *c, const char *machine_id, const struct job *j, int64_t now,
		    const struct job_alert *alert, struct err *e)
{
	return c->ops->job_end(c->b, machine_id, j, now, alert, e);
}

int catalog_job_kind(struct catalog *c, const char *machine_id, const char *job_id,
		     char kind[16], struct err *e)
{
	return c->ops->job_kind(c->b, machine_id, job_id, kind, e);
}

int catalog_job_list(struct catalog *c, const char *vault_id, int limit, struct job **out,
		     size_t *n, struct err *e)
{
	return c->ops->job_list(c->b, vault_id, limit, out, n, e);
}

int catalog_usage(struct catalog *c, const char *vault_id, struct usage **out, size_t *n,
		  struct err *e)
{
	return c->ops->usage(c->b, vault_id, out, n, e);
}

int catalog_policy_get(struct catalog *c, const char *machine_id, char **json, struct err *e)
{
	return c->ops->policy_get(c->b, machine_id, json, e);
}

int64_t catalog_policy_updated(struct catalog *c, const char *machine_id, struct err *e)
{
	return c->ops->policy_updated(c->b, machine_id, e);
}

int catalog_job_since(struct catalog *c, const char *machine_id, int64_t since, struct err *e)
{
	return c->ops->job_since(c->b, machine_id, since, e);
}

int catalog_alert_since(struct catalog *c, const char *subscription, const char *kind,
			const char *target, int64_t since, struct err *e)
{
	return c->ops->alert_since(c->b, subscription, kind, target, since, e);
}

int catalog_policy_machines(struct catalog *c, catalog_id **ids, size_t *n, struct err *e)
{
	return c->ops->policy_machines(c->b, ids, n, e);
}

int catalog_policy_set(struct catalog *c, const char *machine_id, const char *prev,
		       const char *json, int64_t now, const struct job_alert *alert,
		       catalog_keep_fn keep, void *keep_arg, struct err *e)
{
	return c->ops->policy_set(c->b, machine_id, prev, json, now, alert, keep, keep_arg, e);
}

int catalog_guard_get(struct catalog *c, const char *subscription, struct guard *g, struct err *e)
{
	return c->ops->guard_get(c->b, subscription, g, e);
}

int catalog_guard_set(struct catalog *c, const char *subscription, const char *guard_name, int hours,
		      bool replace, struct err *e)
{
	return c->ops->guard_set(c->b, subscription, guard_name, hours, replace, e);
}

int catalog_approval_create(struct catalog *c, const struct approval *a, struct err *e)
{
	return c->ops->approval_create(c->b, a, e);
}

int catalog_approval_list(struct catalog *c, const char *subscription, const char *requester,
			  int64_t now, struct approval **out, size_t *n, struct err *e)
{
	return c->ops->approval_list(c->b, subscription, requester, now, out, n, e);
}

int catalog_approval_decide(struct catalog *c, const char *subscription, const char *id,
			    const char *guard_id, const char *guard_name, bool approve, int64_t now,
			    struct approval *a, struct err *e)
{
	return c->ops->approval_decide(c->b, subscription, id, guard_id, guard_name, approve, now, a,
				       e);
}

int catalog_approval_result(struct catalog *c, const char *id, const char *result, struct err *e)
{
	return c->ops->approval_result(c->b, id, result, e);
}

int catalog_alert(struct catalog *c, const char *subscription, int64_t now, const char *kind,
		  const char *target, const char *message, struct err *e)
{
	return c->ops->alert(c->b, subscription, now, kind, target, message, e);
}

int catalog_alert_list(struct catalog *c, const char *subscription, int limit, struct alert **out,
		       size_t *n, struct err *e)
{
	return c->ops->alert_list(c->b, subscription, limit, out, n, e);
}

int catalog_audit(struct catalog *c, const char *subscription, int64_t now, const char *actor,
		  const char *action, const char *target, const char *detail, struct err *e)
{
	return c->ops->audit(c->b, subscription, now, actor, action, target, detail, e);
}

int catalog_audit_list(struct catalog *c, const char *subscription, int limit,
		       struct audit_entry **out, size_t *n, struct err *e)
{
	return c->ops->audit_list(c->b, subscription, limit, out, n, e);
}

int catalog_tables(struct catalog *c, struct catalog_table **out, size_t *n, struct err *e)
{
	return c->ops->tables(c->b, out, n, e);
}

int catalog_rows_read(struct catalog *c, const char *table, catalog_row_fn fn, void *arg,
		      struct err *e)
{
	return c->ops->rows_read(c->b, table, fn, arg, e);
}

int catalog_rows_write(struct catalog *c, catalog_fill_fn fill, void *arg, struct err *e)
{
	return c->ops->rows_write(c->b, fill, arg, e);
}

void catalog_tables_free(struct catalog_table *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i].cols);
	free(t);
}

/* Whether table NAME is among the first N of T. */
static bool placed_before(const struct catalog_table *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return true;
	return false;
}

int catalog_tables_order(struct catalog_table *t, size_t n,
			 const char *(*refs)(void *arg, const char *table, size_t i), void *arg,
			 struct err *e)
{
	/* Selection of a table whose references are all placed (or are itself,
	 * or name no table listed): N rounds at most, each places one. */
	for (size_t done = 0; done < n; done++) {
		size_t pick = n;

		for (size_t i = done; i < n && pick == n; i++) {
			const char *r;
			bool ready = true;

			for (size_t k = 0; ready && (r = refs(arg, t[i].name, k)) != NULL; k++) {
				bool listed = false;

				for (size_t j = 0; j < n && !listed; j++)
					listed = strcmp(t[j].name, r) == 0;
				if (listed && strcmp(r, t[i].name) != 0 && !placed_before(t, done, r))
					ready = false;
			}
			if (ready)
				pick = i;
		}
		if (pick == n)
			return err_set(e, ERR_CORRUPT, "catalog: the foreign keys of table %s and "
				       "others make a cycle; their rows cannot be ordered",
				       t[done].name);
		if (pick != done) {
			struct catalog_table tmp = t[pick];

			memmove(&t[done + 1], &t[done], (pick - done) * sizeof(*t));
			t[done] = tmp;
		}
	}
	return 0;
}
