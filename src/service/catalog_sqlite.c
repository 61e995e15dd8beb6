/*
 * catalog_sqlite.c: the catalog in one SQLite file; see catalog.h.
 *
 * One connection, WAL mode, a busy timeout, and a mutex around every public
 * function: SQLite serialises writers anyway, and the mutex makes each
 * function's read-check-write sequence one transaction that no other thread
 * can interleave. The schema is versioned in PRAGMA user_version; each
 * migration runs in its own transaction, so a crash leaves the previous
 * version intact.
 */
#include "bytes.h"
#include "catalog.h"
#include "keys.h"
#include "pack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

struct catalog {
	sqlite3 *db;
	pthread_mutex_t mu;
};

static const char *const migrations[] = {
	/* 1: subscriptions, users, sessions, tokens, vaults, credentials, audit */
	"CREATE TABLE subscriptions (id TEXT PRIMARY KEY, name TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE users (id TEXT PRIMARY KEY, subscription TEXT NOT NULL REFERENCES subscriptions(id),"
	"  name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),"
	"  expires INTEGER NOT NULL);"
	"CREATE TABLE api_tokens (id TEXT PRIMARY KEY, subscription TEXT NOT NULL REFERENCES subscriptions(id),"
	"  name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0, UNIQUE (subscription, name));"
	"CREATE TABLE vaults (id TEXT PRIMARY KEY, subscription TEXT NOT NULL REFERENCES subscriptions(id),"
	"  name TEXT NOT NULL, region TEXT NOT NULL, redundancy TEXT NOT NULL CHECK (redundancy IN ('LRS','GRS')),"
	"  locked INTEGER NOT NULL DEFAULT 0, machines INTEGER NOT NULL DEFAULT 0,"
	"  ca_cert TEXT NOT NULL, ca_key TEXT NOT NULL, created INTEGER NOT NULL,"
	"  UNIQUE (subscription, name));"
	"CREATE TABLE credentials (serial TEXT PRIMARY KEY, vault_id TEXT NOT NULL REFERENCES vaults(id),"
	"  fingerprint TEXT NOT NULL, cert TEXT NOT NULL, issued INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"  superseded INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX credentials_vault ON credentials (vault_id, superseded);"
	"CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL,"
	"  time INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,"
	"  detail TEXT NOT NULL);"
	"CREATE INDEX audit_subscription ON audit (subscription, id);",
	/* 2: machines */
	"CREATE TABLE machines (id TEXT PRIMARY KEY, vault_id TEXT NOT NULL REFERENCES vaults(id),"
	"  name TEXT NOT NULL, public_key TEXT NOT NULL, cert TEXT NOT NULL, wrapped_key BLOB NOT NULL,"
	"  key_id TEXT NOT NULL, registered INTEGER NOT NULL, renewed INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL DEFAULT 0, UNIQUE (vault_id, name));",
	/* 3: packs, objects, recovery points */
	"CREATE TABLE packs (id TEXT PRIMARY KEY, machine_id TEXT NOT NULL REFERENCES machines(id),"
	"  size INTEGER NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE objects (machine_id TEXT NOT NULL, id TEXT NOT NULL, pack_id TEXT NOT NULL"
	"  REFERENCES packs(id), kind INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,"
	"  PRIMARY KEY (machine_id, id)) WITHOUT ROWID;"
	"CREATE TABLE points (id TEXT PRIMARY KEY, machine_id TEXT NOT NULL REFERENCES machines(id),"
	"  meta TEXT NOT NULL, parent TEXT NOT NULL, created INTEGER NOT NULL, objects INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX points_machine ON points (machine_id, created);"
	"CREATE TABLE point_objects (point_id TEXT NOT NULL, object_id TEXT NOT NULL,"
	"  PRIMARY KEY (point_id, object_id)) WITHOUT ROWID;",
	/* 4: soft-deleted machines, security PINs, alerts */
	"ALTER TABLE machines ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE pins (subscription TEXT NOT NULL, hash TEXT NOT NULL, expires INTEGER NOT NULL);"
	"CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL,"
	"  time INTEGER NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, message TEXT NOT NULL);",
	/* 5: jobs */
	"CREATE TABLE jobs (id TEXT PRIMARY KEY, machine_id TEXT NOT NULL REFERENCES machines(id),"
	"  kind TEXT NOT NULL, status TEXT NOT NULL, started INTEGER NOT NULL, ended INTEGER NOT NULL"
	"  DEFAULT 0, files INTEGER NOT NULL DEFAULT 0, bytes_read INTEGER NOT NULL DEFAULT 0,"
	"  bytes_stored INTEGER NOT NULL DEFAULT 0, point TEXT NOT NULL DEFAULT '',"
	"  report TEXT NOT NULL DEFAULT '{}');"
	"CREATE INDEX jobs_machine ON jobs (machine_id, started);",
	/* 6: backup policies */
	"CREATE TABLE policies (machine_id TEXT PRIMARY KEY REFERENCES machines(id),"
	"  policy TEXT NOT NULL, updated INTEGER NOT NULL);",
	/* 7: leases of backups in progress */
	"CREATE TABLE leases (id TEXT PRIMARY KEY, machine_id TEXT NOT NULL REFERENCES machines(id),"
	"  started INTEGER NOT NULL, expires INTEGER NOT NULL);",
	/* 8: space collection: who references an object, what a pack holds,
	 * pack files to delete once no reader can still be on its way */
	"CREATE INDEX point_objects_object ON point_objects (object_id);"
	"CREATE INDEX objects_pack ON objects (pack_id);"
	"CREATE TABLE doomed (pack_id TEXT PRIMARY KEY, region TEXT NOT NULL, pair TEXT NOT NULL,"
	"  after INTEGER NOT NULL);",
	/* 9: a point's references as one blob of sorted binary ids (see
	 * docs/FORMAT.md), numbered in commit order so the collector can tell
	 * which points came after its mark; migrate_refs fills it from
	 * point_objects, whose rows cost a hundred bytes and more a reference. */
	"CREATE TABLE point_refs (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  point_id TEXT NOT NULL UNIQUE, machine_id TEXT NOT NULL, ids BLOB NOT NULL);"
	"CREATE INDEX point_refs_machine ON point_refs (machine_id, seq);",
	/* 10: each machine's registration verifier (keys.h; NULL for machines
	 * registered before it, which cannot be taken over by registering
	 * again) and when its certificate expires (certificates were issued
	 * for a year at their renewal time) */
	"ALTER TABLE machines ADD COLUMN verifier BLOB;"
	"ALTER TABLE machines ADD COLUMN cert_expires INTEGER NOT NULL DEFAULT 0;"
	"UPDATE machines SET cert_expires = renewed + 31536000;",
	/* 11: nonces of signed requests, per principal (a machine, a vault's
	 * registrations), kept until they could no longer pass the clock check */
	"CREATE TABLE nonces (principal TEXT NOT NULL, nonce TEXT NOT NULL,"
	"  expires INTEGER NOT NULL, PRIMARY KEY (principal, nonce)) WITHOUT ROWID;"
	"CREATE INDEX nonces_expires ON nonces (expires);",
	/* 12: a security PIN is its generator's (user_id), and wrong PINs are
	 * counted per user or machine (pin_guard); older PINs had no owner */
	"DELETE FROM pins;"
	"ALTER TABLE pins ADD COLUMN user_id TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE pin_guard (actor TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
	"  first INTEGER NOT NULL, locked_until INTEGER NOT NULL);",
	/* 13: the machine that may still read a doomed pack until its file
	 * goes ('' for none: a purged machine's packs) */
	"ALTER TABLE doomed ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';",
};

static int migrate_refs(struct catalog *c, struct err *e);
static int run3(struct catalog *c, const char *sql, const char *a, const char *b, int64_t i,
		struct err *e);
static int64_t scalar(struct catalog *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e);

/* Work a migration does beyond its SQL, run in the same transaction. */
static int (*const migration_code[])(struct catalog *, struct err *) = {
	[8] = migrate_refs,
};

static int db_fail(struct catalog *c, struct err *e, const char *what)
{
	return err_set(e, ERR_IO, "catalog: %s: %s", what, sqlite3_errmsg(c->db));
}

static int exec(struct catalog *c, const char *sql, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, ERR_IO, "catalog: %s", msg ? msg : "statement failed");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Prepare SQL; the caller binds its arguments and finalizes it. */
static sqlite3_stmt *prep(struct catalog *c, const char *sql, struct err *e)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(c, e, "prepare");
		return NULL;
	}
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(dst, n, "%s", s ? (const char *)s : "");
}

/* Run a statement that returns no rows. 0, or -1; a UNIQUE violation is
 * ERR_EXISTS with message EXISTS_MSG. */
static int step_done(struct catalog *c, sqlite3_stmt *st, const char *exists_msg, struct err *e)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT && exists_msg)
		return err_set(e, ERR_EXISTS, "%s", exists_msg);
	return db_fail(c, e, "write");
}

/* Make room in *V (CNT elements of SIZE bytes used, *CAP allocated) for one
 * more, doubling. 0, or -1 with ERR_NOMEM. Every list function grows its
 * result this way. */
static int grow(void **v, size_t *cap, size_t cnt, size_t size, struct err *e)
{
	size_t n, bytes;
	void *p;

	if (cnt < *cap)
		return 0;
	n = *cap ? *cap * 2 : 16;
	if (!size_mul(n, size, &bytes) || (p = realloc(*v, bytes)) == NULL)
		return err_oom(e);
	*v = p;
	*cap = n;
	return 0;
}

void catalog_new_id(catalog_id out)
{
	uint8_t b[CATALOG_ID_LEN / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, CATALOG_ID_LEN + 1, b, sizeof(b));
}

/* Migration 9: each point's rows of point_objects become its blob in
 * point_refs (points in commit order), then point_objects goes. */
static int migrate_refs(struct catalog *c, struct err *e)
{
	sqlite3_stmt *pts = prep(c, "SELECT id, machine_id FROM points ORDER BY created, rowid", e);
	sqlite3_stmt *objs = prep(c, "SELECT object_id FROM point_objects WHERE point_id = ?"
				     " ORDER BY object_id", e);
	sqlite3_stmt *ins = prep(c, "INSERT INTO point_refs (point_id, machine_id, ids)"
				    " VALUES (?, ?, ?)", e);
	struct objid *v = NULL;
	size_t cap = 0;
	int rc = pts && objs && ins ? 0 : -1;

	while (rc == 0 && sqlite3_step(pts) == SQLITE_ROW) {
		size_t n = 0;

		sqlite3_reset(objs);
		sqlite3_bind_value(objs, 1, sqlite3_column_value(pts, 0));
		while (rc == 0 && sqlite3_step(objs) == SQLITE_ROW) {
			const char *hex = (const char *)sqlite3_column_text(objs, 0);

			if ((rc = grow((void **)&v, &cap, n, sizeof(*v), e)) == 0 &&
			    (rc = objid_from_hex(hex ? hex : "", &v[n], e)) == 0)
				n++;
		}
		if (rc)
			break;
		sqlite3_reset(ins);
		sqlite3_bind_value(ins, 1, sqlite3_column_value(pts, 0));
		sqlite3_bind_value(ins, 2, sqlite3_column_value(pts, 1));
		sqlite3_bind_blob64(ins, 3, v ? (const void *)v : "", (sqlite3_uint64)(n * sizeof(*v)),
				    SQLITE_STATIC);
		rc = step_done(c, ins, NULL, e);
	}
	sqlite3_finalize(pts);
	sqlite3_finalize(objs);
	sqlite3_finalize(ins);
	free(v);
	return rc ? rc : exec(c, "DROP TABLE point_objects;", e);
}

struct catalog *catalog_open(const char *path, struct err *e)
{
	struct catalog *c = calloc(1, sizeof(*c));
	sqlite3_stmt *st = NULL;
	int version = 0;

	if (c == NULL || sodium_init() < 0) {
		free(c);
		err_oom(e);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		err_set(e, ERR_IO, "catalog %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 10000);
	/* secure_delete=FAST: deleted rows are still zeroed on the pages that
	 * held them, but freed overflow pages (the long reference lists of
	 * purged points) are not rewritten; Debian builds SQLite with full
	 * secure delete, which made purging 90 points take a second under the
	 * catalog's mutex instead of a tenth. */
	if (exec(c, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;"
		    " PRAGMA secure_delete=FAST;", e))
		goto fail;
	if ((st = prep(c, "PRAGMA user_version", e)) == NULL)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > (int)(sizeof(migrations) / sizeof(migrations[0]))) {
		err_set(e, ERR_UNSUPPORTED, "catalog %s has schema version %d, newer than this "
			"arcad knows; update arcad", path, version);
		goto fail;
	}
	for (int v = version; v < (int)(sizeof(migrations) / sizeof(migrations[0])); v++) {
		char bump[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d;", v + 1);
		if (exec(c, "BEGIN IMMEDIATE;", e) || exec(c, migrations[v], e) ||
		    (v < (int)(sizeof(migration_code) / sizeof(migration_code[0])) &&
		     migration_code[v] && migration_code[v](c, e)) ||
		    exec(c, bump, e) || exec(c, "COMMIT;", e)) {
			exec(c, "ROLLBACK;", NULL);
			err_prefix(e, "migrating the catalog to version %d: ", v + 1);
			goto fail;
		}
	}
	return c;
fail:
	catalog_close(c);
	return NULL;
}

void catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

#define LOCK(c) pthread_mutex_lock(&(c)->mu)
#define UNLOCK(c) pthread_mutex_unlock(&(c)->mu)

int catalog_subscription_create(struct catalog *c, const char *name, int64_t now, catalog_id id,
				struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO subscriptions (id, name, created) VALUES (?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, now);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_subscription_first(struct catalog *c, catalog_id id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id FROM subscriptions ORDER BY created, rowid LIMIT 1", e))) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			copy_col(id, sizeof(catalog_id), st, 0);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "the catalog has no subscription: run arcad init");
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_user_create(struct catalog *c, const char *subscription, const char *name,
			const char *password_hash, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	catalog_id id;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO users (id, subscription, name, password_hash, created) "
			  "VALUES (?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, subscription);
		bind_text(st, 3, name);
		bind_text(st, 4, password_hash);
		sqlite3_bind_int64(st, 5, now);
		rc = step_done(c, st, "a user of that name exists already", e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_user_find(struct catalog *c, const char *name, char *hash, size_t hashlen,
		      struct principal *p, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, subscription, password_hash FROM users WHERE name = ?", e))) {
		bind_text(st, 1, name);
		if (sqlite3_step(st) == SQLITE_ROW) {
			memset(p, 0, sizeof(*p));
			copy_col(p->actor, sizeof(p->actor), st, 0);
			copy_col(p->subscription, sizeof(p->subscription), st, 1);
			copy_col(hash, hashlen, st, 2);
			snprintf(p->name, sizeof(p->name), "%s", name);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no user %s", name);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_session_create(struct catalog *c, const char *token_hash, const char *user_id,
			   int64_t expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "INSERT INTO sessions (token_hash, user_id, expires) VALUES (?, ?, ?)", e))) {
		bind_text(st, 1, token_hash);
		bind_text(st, 2, user_id);
		sqlite3_bind_int64(st, 3, expires);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_session_delete(struct catalog *c, const char *token_hash, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "DELETE FROM sessions WHERE token_hash = ?", e))) {
		bind_text(st, 1, token_hash);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_token_create(struct catalog *c, const struct principal *p, const char *name,
			 const char *token_hash, int64_t now, catalog_id id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO api_tokens (id, subscription, name, token_hash, created) "
			  "VALUES (?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, p->subscription);
		bind_text(st, 3, name);
		bind_text(st, 4, token_hash);
		sqlite3_bind_int64(st, 5, now);
		rc = step_done(c, st, "an API token of that name exists already", e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_token_list(struct catalog *c, const char *subscription, struct api_token **out,
		       size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct api_token *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, name, created, last_used FROM api_tokens WHERE subscription = ? "
			  "ORDER BY created, name", e)) == NULL)
		goto out;
	bind_text(st, 1, subscription);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		copy_col(v[cnt].id, sizeof(v[cnt].id), st, 0);
		copy_col(v[cnt].name, sizeof(v[cnt].name), st, 1);
		v[cnt].created = sqlite3_column_int64(st, 2);
		v[cnt].last_used = sqlite3_column_int64(st, 3);
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

int catalog_token_delete(struct catalog *c, const char *subscription, const char *id,
			 struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "DELETE FROM api_tokens WHERE subscription = ? AND id = ?", e))) {
		bind_text(st, 1, subscription);
		bind_text(st, 2, id);
		rc = step_done(c, st, NULL, e);
		if (rc == 0 && sqlite3_changes(c->db) == 0)
			rc = err_set(e, ERR_NOT_FOUND, "no API token %s", id);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_authenticate(struct catalog *c, const char *token_hash, int64_t now,
			 struct principal *p, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	LOCK(c);
	if ((st = prep(c, "SELECT u.id, u.subscription, u.name FROM sessions s JOIN users u "
			  "ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires > ?", e)) == NULL)
		goto out;
	bind_text(st, 1, token_hash);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) == SQLITE_ROW) {
		copy_col(p->actor, sizeof(p->actor), st, 0);
		copy_col(p->subscription, sizeof(p->subscription), st, 1);
		copy_col(p->name, sizeof(p->name), st, 2);
		rc = 0;
		goto out;
	}
	sqlite3_finalize(st);
	if ((st = prep(c, "SELECT id, subscription, name FROM api_tokens WHERE token_hash = ?", e)) == NULL)
		goto out;
	bind_text(st, 1, token_hash);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char name[65];

		copy_col(p->actor, sizeof(p->actor), st, 0);
		copy_col(p->subscription, sizeof(p->subscription), st, 1);
		copy_col(name, sizeof(name), st, 2);
		snprintf(p->name, sizeof(p->name), "token:%s", name);
		p->is_token = true;
		sqlite3_finalize(st);
		st = prep(c, "UPDATE api_tokens SET last_used = ? WHERE id = ?", e);
		if (st) {
			sqlite3_bind_int64(st, 1, now);
			bind_text(st, 2, p->actor);
			sqlite3_step(st);
		}
		rc = 0;
		goto out;
	}
	err_set(e, ERR_DENIED, "not signed in: sign in again, or check the API token");
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	return rc;
}

static void vault_row(sqlite3_stmt *st, struct vault *v)
{
	memset(v, 0, sizeof(*v));
	copy_col(v->id, sizeof(v->id), st, 0);
	copy_col(v->subscription, sizeof(v->subscription), st, 1);
	copy_col(v->name, sizeof(v->name), st, 2);
	copy_col(v->region, sizeof(v->region), st, 3);
	copy_col(v->redundancy, sizeof(v->redundancy), st, 4);
	v->locked = sqlite3_column_int(st, 5) != 0;
	v->machines = sqlite3_column_int(st, 6);
	v->created = sqlite3_column_int64(st, 7);
}

#define VAULT_COLS "id, subscription, name, region, redundancy, locked, machines, created"

int catalog_vault_create(struct catalog *c, const struct vault *v, const char *ca_cert_pem,
			 const char *ca_key_pem, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	int64_t count = 0;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((st = prep(c, "SELECT count(*) FROM vaults WHERE subscription = ?", e)) == NULL)
		goto rollback;
	bind_text(st, 1, v->subscription);
	if (sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (count >= CATALOG_VAULTS_MAX) {
		err_set(e, ERR_LIMIT, "A subscription can have at most %d vaults; delete one first",
			CATALOG_VAULTS_MAX);
		goto rollback;
	}
	if ((st = prep(c, "INSERT INTO vaults (id, subscription, name, region, redundancy, ca_cert, "
			  "ca_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", e)) == NULL)
		goto rollback;
	bind_text(st, 1, v->id);
	bind_text(st, 2, v->subscription);
	bind_text(st, 3, v->name);
	bind_text(st, 4, v->region);
	bind_text(st, 5, v->redundancy);
	bind_text(st, 6, ca_cert_pem);
	bind_text(st, 7, ca_key_pem);
	sqlite3_bind_int64(st, 8, v->created);
	if (step_done(c, st, "a vault of that name exists in this subscription", e) != 0) {
		sqlite3_finalize(st);
		goto rollback;
	}
	sqlite3_finalize(st);
	rc = exec(c, "COMMIT;", e);
	if (rc == 0)
		goto out;
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_vault_list(struct catalog *c, const char *subscription, struct vault **out,
		       size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct vault *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT " VAULT_COLS " FROM vaults WHERE subscription = ? ORDER BY name", e)) == NULL)
		goto out;
	bind_text(st, 1, subscription);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		vault_row(st, &v[cnt++]);
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

static int vault_get_locked(struct catalog *c, const char *subscription, const char *name,
			    struct vault *v, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	if ((st = prep(c, "SELECT " VAULT_COLS " FROM vaults WHERE subscription = ? AND name = ?", e))) {
		bind_text(st, 1, subscription);
		bind_text(st, 2, name);
		if (sqlite3_step(st) == SQLITE_ROW) {
			vault_row(st, v);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no vault named %s in this subscription", name);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

int catalog_vault_get(struct catalog *c, const char *subscription, const char *name,
		      struct vault *v, struct err *e)
{
	int rc;

	LOCK(c);
	rc = vault_get_locked(c, subscription, name, v, e);
	UNLOCK(c);
	return rc;
}

int catalog_vault_by_id(struct catalog *c, const char *id, struct vault *v, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT " VAULT_COLS " FROM vaults WHERE id = ?", e))) {
		bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			vault_row(st, v);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no vault with id %.40s", id);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_vault_ca(struct catalog *c, const char *vault_id, char **cert_pem, char **key_pem,
		     struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*cert_pem = *key_pem = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT ca_cert, ca_key FROM vaults WHERE id = ?", e))) {
		bind_text(st, 1, vault_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*cert_pem = strdup((const char *)sqlite3_column_text(st, 0));
			*key_pem = strdup((const char *)sqlite3_column_text(st, 1));
			if (*cert_pem && *key_pem)
				rc = 0;
			else
				err_oom(e);
		} else {
			err_set(e, ERR_NOT_FOUND, "no vault %s", vault_id);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	if (rc != 0) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
	}
	return rc;
}

int catalog_vault_set_redundancy(struct catalog *c, const char *subscription, const char *name,
				 const char *redundancy, struct err *e)
{
	sqlite3_stmt *st;
	struct vault v;
	int rc = -1;

	LOCK(c);
	if (vault_get_locked(c, subscription, name, &v, e) != 0)
		goto out;
	if (v.locked) {
		err_set(e, ERR_LOCKED, "storage redundancy of vault %s is locked: a machine has "
			"registered to it, and redundancy can change only before the first "
			"registration", name);
		goto out;
	}
	if ((st = prep(c, "UPDATE vaults SET redundancy = ? WHERE id = ? AND locked = 0", e))) {
		bind_text(st, 1, redundancy);
		bind_text(st, 2, v.id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
out:
	UNLOCK(c);
	return rc;
}

int catalog_vault_delete(struct catalog *c, const char *subscription, const char *name,
			 struct err *e)
{
	sqlite3_stmt *st;
	struct vault v;
	int rc = -1;

	LOCK(c);
	if (vault_get_locked(c, subscription, name, &v, e) != 0)
		goto out;
	if (v.machines > 0) {
		err_set(e, ERR_LOCKED, "vault %s has %d registered machines; delete them first",
			name, v.machines);
		goto out;
	}
	if ((st = prep(c, "SELECT count(*) FROM machines WHERE vault_id = ?", e)) == NULL)
		goto out;
	bind_text(st, 1, v.id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
		sqlite3_finalize(st);
		err_set(e, ERR_LOCKED, "vault %s holds deleted machines that can still be undeleted; "
			"it can be deleted once they are purged, %d days after their deletion",
			name, CATALOG_SOFT_DELETE_DAYS);
		goto out;
	}
	sqlite3_finalize(st);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((st = prep(c, "DELETE FROM credentials WHERE vault_id = ?", e))) {
		bind_text(st, 1, v.id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	if (rc == 0 && (st = prep(c, "DELETE FROM vaults WHERE id = ? AND machines = 0", e))) {
		bind_text(st, 1, v.id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	} else {
		rc = -1;
	}
	if (rc == 0)
		rc = exec(c, "COMMIT;", e);
	if (rc != 0)
		exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_credential_add(struct catalog *c, const char *vault_id, const char *serial,
			   const char *fingerprint, const char *cert_pem, int64_t issued,
			   int64_t expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	/* Invariant: at most one row per vault has superseded = 0, the latest. */
	if ((st = prep(c, "UPDATE credentials SET superseded = 1 WHERE vault_id = ?", e))) {
		bind_text(st, 1, vault_id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	if (rc == 0 && (st = prep(c, "INSERT INTO credentials (serial, vault_id, fingerprint, cert, "
				     "issued, expires) VALUES (?, ?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, serial);
		bind_text(st, 2, vault_id);
		bind_text(st, 3, fingerprint);
		bind_text(st, 4, cert_pem);
		sqlite3_bind_int64(st, 5, issued);
		sqlite3_bind_int64(st, 6, expires);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	} else {
		rc = -1;
	}
	if (rc == 0)
		rc = exec(c, "COMMIT;", e);
	if (rc != 0)
		exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_credential_latest(struct catalog *c, const char *vault_id, char fingerprint[65],
			      int64_t *expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT fingerprint, expires FROM credentials WHERE vault_id = ? AND "
			  "superseded = 0", e))) {
		bind_text(st, 1, vault_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			copy_col(fingerprint, 65, st, 0);
			*expires = sqlite3_column_int64(st, 1);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no vault credentials issued for this vault");
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_audit(struct catalog *c, const char *subscription, int64_t now, const char *actor,
		  const char *action, const char *target, const char *detail, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "INSERT INTO audit (subscription, time, actor, action, target, detail) "
			  "VALUES (?, ?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, subscription);
		sqlite3_bind_int64(st, 2, now);
		bind_text(st, 3, actor);
		bind_text(st, 4, action);
		bind_text(st, 5, target);
		bind_text(st, 6, detail ? detail : "");
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_audit_list(struct catalog *c, const char *subscription, int limit,
		       struct audit_entry **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct audit_entry *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, time, actor, action, target, detail FROM audit WHERE "
			  "subscription = ? ORDER BY id DESC LIMIT ?", e)) == NULL)
		goto out;
	bind_text(st, 1, subscription);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		v[cnt].id = sqlite3_column_int64(st, 0);
		v[cnt].time = sqlite3_column_int64(st, 1);
		copy_col(v[cnt].actor, sizeof(v[cnt].actor), st, 2);
		copy_col(v[cnt].action, sizeof(v[cnt].action), st, 3);
		copy_col(v[cnt].target, sizeof(v[cnt].target), st, 4);
		copy_col(v[cnt].detail, sizeof(v[cnt].detail), st, 5);
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

#define MACHINE_COLS "id, vault_id, name, key_id, registered, renewed, last_seen, deleted, " \
	"cert_expires"

static void machine_row(sqlite3_stmt *st, struct machine *m)
{
	memset(m, 0, sizeof(*m));
	copy_col(m->id, sizeof(m->id), st, 0);
	copy_col(m->vault_id, sizeof(m->vault_id), st, 1);
	copy_col(m->name, sizeof(m->name), st, 2);
	copy_col(m->key_id, sizeof(m->key_id), st, 3);
	m->registered = sqlite3_column_int64(st, 4);
	m->renewed = sqlite3_column_int64(st, 5);
	m->last_seen = sqlite3_column_int64(st, 6);
	m->deleted = sqlite3_column_int64(st, 7);
	m->cert_expires = sqlite3_column_int64(st, 8);
}

int catalog_machine_register(struct catalog *c, const struct registration *r, struct machine *m,
			     bool *again, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, found = 0;
	int64_t count = 0;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	/* Only the latest credentials of the vault register. */
	if ((st = prep(c, "SELECT 1 FROM credentials WHERE vault_id = ? AND fingerprint = ? AND "
			  "superseded = 0", e)) == NULL)
		goto rollback;
	bind_text(st, 1, r->vault_id);
	bind_text(st, 2, r->credential_fingerprint);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!found) {
		err_set(e, ERR_CREDENTIALS, "these vault credentials are not the latest issued for "
			"the vault: a newer file was downloaded since");
		goto rollback;
	}
	if ((st = prep(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ? AND name = ?", e)) == NULL)
		goto rollback;
	bind_text(st, 1, r->vault_id);
	bind_text(st, 2, r->name);
	*again = sqlite3_step(st) == SQLITE_ROW;
	if (*again)
		machine_row(st, m);
	sqlite3_finalize(st);
	if (*again && m->deleted) {
		/* Why refuse: deletion needed a PIN; fresh credentials must not undo it. */
		err_set(e, ERR_LOCKED, "machine %s of this vault was deleted; undelete it (within "
			"%d days of its deletion) or register under another name", r->name,
			CATALOG_SOFT_DELETE_DAYS);
		goto rollback;
	}
	if (*again) {
		/* Why a proof: the key id and the wrapped blob are public to every
		 * holder of vault credentials, so only a proof made with the
		 * master key (checked by the caller against R->verifier) may move
		 * the name to a new machine key. The stored wrapped key is the
		 * only copy its recovery points can be opened with, so a
		 * registration never replaces it. */
		bool proven = false;

		if ((st = prep(c, "SELECT verifier FROM machines WHERE id = ?", e)) == NULL)
			goto rollback;
		bind_text(st, 1, m->id);
		if (sqlite3_step(st) != SQLITE_ROW) {
			db_fail(c, e, "reading a machine's verifier");
			sqlite3_finalize(st);
			goto rollback;
		}
		proven = sqlite3_column_bytes(st, 0) == KEYS_VERIFIER_LEN &&
			 sodium_memcmp(sqlite3_column_blob(st, 0), r->verifier, KEYS_VERIFIER_LEN) == 0 &&
			 strcmp(m->key_id, r->key_id) == 0;
		sqlite3_finalize(st);
		if (!proven) {
			err_set(e, ERR_KEY_MISMATCH, "machine %s of this vault is registered already and "
				"this registration does not prove its master key: register with that "
				"machine's passphrase to take it over (its points stay readable), or under "
				"another name", r->name);
			goto rollback;
		}
	}
	if (!*again) {
		if ((st = prep(c, "SELECT count(*) FROM machines WHERE vault_id = ? AND deleted = 0", e)) == NULL)
			goto rollback;
		bind_text(st, 1, r->vault_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			count = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (count >= CATALOG_MACHINES_MAX) {
			err_set(e, ERR_LIMIT, "A vault can have at most %d machines; delete one or "
				"register this machine to another vault", CATALOG_MACHINES_MAX);
			goto rollback;
		}
		memset(m, 0, sizeof(*m));
		catalog_new_id(m->id);
		snprintf(m->vault_id, sizeof(m->vault_id), "%s", r->vault_id);
		snprintf(m->name, sizeof(m->name), "%s", r->name);
		m->registered = r->now;
		st = prep(c, "INSERT INTO machines (public_key, cert, cert_expires, renewed, id, "
			  "wrapped_key, key_id, verifier, vault_id, name, registered) VALUES "
			  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
	} else {
		st = prep(c, "UPDATE machines SET public_key = ?, cert = ?, cert_expires = ?, "
			  "renewed = ? WHERE id = ?", e);
	}
	if (st == NULL)
		goto rollback;
	bind_text(st, 1, r->public_key_pem);
	bind_text(st, 2, r->cert_pem);
	sqlite3_bind_int64(st, 3, r->cert_expires);
	sqlite3_bind_int64(st, 4, r->now);
	bind_text(st, 5, m->id);
	if (!*again) {
		sqlite3_bind_blob(st, 6, r->wrapped_key, (int)r->wrapped_len, SQLITE_TRANSIENT);
		bind_text(st, 7, r->key_id);
		sqlite3_bind_blob(st, 8, r->verifier, KEYS_VERIFIER_LEN, SQLITE_TRANSIENT);
		bind_text(st, 9, m->vault_id);
		bind_text(st, 10, m->name);
		sqlite3_bind_int64(st, 11, m->registered);
	}
	if (step_done(c, st, NULL, e) != 0) {
		sqlite3_finalize(st);
		goto rollback;
	}
	sqlite3_finalize(st);
	snprintf(m->key_id, sizeof(m->key_id), "%s", r->key_id);
	m->renewed = r->now;
	m->cert_expires = r->cert_expires;
	/* Invariant: machines counts rows; the first registration locks redundancy. */
	if ((st = prep(c, "UPDATE vaults SET locked = 1, machines = (SELECT count(*) FROM machines "
			  "WHERE vault_id = ? AND deleted = 0) WHERE id = ?", e)) == NULL)
		goto rollback;
	bind_text(st, 1, r->vault_id);
	bind_text(st, 2, r->vault_id);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	if (rc == 0 && (rc = exec(c, "COMMIT;", e)) == 0)
		goto out;
rollback:
	rc = -1;
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_machine_list(struct catalog *c, const char *vault_id, struct machine **out, size_t *n,
			 struct err *e)
{
	sqlite3_stmt *st;
	struct machine *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ? ORDER BY name", e)) == NULL)
		goto out;
	bind_text(st, 1, vault_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		machine_row(st, &v[cnt++]);
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

int catalog_machine_get(struct catalog *c, const char *id, struct machine *m, char **public_key_pem,
			struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*public_key_pem = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT " MACHINE_COLS ", public_key FROM machines WHERE id = ? AND "
			  "deleted = 0", e))) {
		bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			machine_row(st, m);
			if ((*public_key_pem = strdup((const char *)sqlite3_column_text(st, 9))) != NULL)
				rc = 0;
			else
				err_oom(e);
		} else {
			err_set(e, ERR_NOT_FOUND, "no machine %s", id);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_machine_wrapped_key(struct catalog *c, const char *id, uint8_t **blob, size_t *len,
				struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*blob = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT wrapped_key FROM machines WHERE id = ?", e))) {
		bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int n = sqlite3_column_bytes(st, 0);

			if ((*blob = malloc(n > 0 ? (size_t)n : 1)) != NULL) {
				if (n > 0)
					memcpy(*blob, sqlite3_column_blob(st, 0), (size_t)n);
				*len = (size_t)n;
				rc = 0;
			} else {
				err_oom(e);
			}
		} else {
			err_set(e, ERR_NOT_FOUND, "no machine %s", id);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_machine_set_wrapped_key(struct catalog *c, const char *id, const uint8_t *blob,
				    size_t len, const char *key_id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "UPDATE machines SET wrapped_key = ? WHERE id = ? AND key_id = ? AND "
			  "deleted = 0", e))) {
		sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
		bind_text(st, 2, id);
		bind_text(st, 3, key_id);
		rc = step_done(c, st, NULL, e);
		if (rc == 0 && sqlite3_changes(c->db) == 0)
			rc = err_set(e, ERR_INVALID, "the new wrapped key does not wrap this machine's "
				     "master key: a passphrase change re-wraps the same key");
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_machine_set_cert(struct catalog *c, const char *id, const char *cert_pem, int64_t now,
			     int64_t expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "UPDATE machines SET cert = ?, renewed = ?, cert_expires = ? WHERE id = ? "
			  "AND deleted = 0", e))) {
		bind_text(st, 1, cert_pem);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, expires);
		bind_text(st, 4, id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_machine_seen(struct catalog *c, const char *id, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "UPDATE machines SET last_seen = ? WHERE id = ?", e))) {
		sqlite3_bind_int64(st, 1, now);
		bind_text(st, 2, id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_nonce_use(struct catalog *c, const char *principal, const char *nonce, int64_t now,
		      int64_t expires, struct err *e)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	/* Invariant: a live row for (principal, nonce) is never overwritten;
	 * the upsert replaces only an expired one, so sqlite3_changes tells a
	 * first use (1) from a replay (0) in the same statement. */
	if ((del = prep(c, "DELETE FROM nonces WHERE expires <= ?", e)) == NULL ||
	    (ins = prep(c, "INSERT INTO nonces (principal, nonce, expires) VALUES (?, ?, ?)"
			   " ON CONFLICT (principal, nonce) DO UPDATE SET expires = excluded.expires"
			   " WHERE nonces.expires <= ?", e)) == NULL)
		goto rollback;
	sqlite3_bind_int64(del, 1, now);
	if (step_done(c, del, NULL, e))
		goto rollback;
	bind_text(ins, 1, principal);
	bind_text(ins, 2, nonce);
	sqlite3_bind_int64(ins, 3, expires);
	sqlite3_bind_int64(ins, 4, now);
	if (step_done(c, ins, NULL, e))
		goto rollback;
	if (sqlite3_changes(c->db) != 1) {
		err_set(e, ERR_DENIED, "this request was sent before (same nonce): refused as a replay");
		goto rollback;
	}
	if (exec(c, "COMMIT;", e))
		goto rollback;
	rc = 0;
	goto out;
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	UNLOCK(c);
	return rc;
}

int catalog_pack_add(struct catalog *c, const char *machine_id, const char *pack_id,
		     uint64_t size, const struct pack_entry *ents, size_t n, int64_t now,
		     struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((st = prep(c, "INSERT OR IGNORE INTO packs (id, machine_id, size, created) VALUES (?, ?, ?, ?)", e)) == NULL)
		goto rollback;
	bind_text(st, 1, pack_id);
	bind_text(st, 2, machine_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 4, now);
	if (step_done(c, st, NULL, e) != 0)
		goto rollback;
	sqlite3_finalize(st);
	if ((st = prep(c, "INSERT OR IGNORE INTO objects (machine_id, id, pack_id, kind, offset, length) "
			  "VALUES (?, ?, ?, ?, ?, ?)", e)) == NULL)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		char hex[OBJID_HEX_LEN + 1];

		objid_to_hex(&ents[i].id, hex);
		sqlite3_reset(st);
		bind_text(st, 1, machine_id);
		bind_text(st, 2, hex);
		bind_text(st, 3, pack_id);
		sqlite3_bind_int(st, 4, ents[i].kind);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)ents[i].offset);
		sqlite3_bind_int64(st, 6, ents[i].length);
		if (step_done(c, st, NULL, e) != 0)
			goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* A pack sent again while its file waits for deletion (the agent's
	 * index still listed it) lives again: its doom goes with this
	 * transaction, so the sweeper (catalog_doomed_claim) never sees the
	 * pack both listed and doomed. */
	if (run3(c, "DELETE FROM doomed WHERE pack_id = ?1", pack_id, NULL, 0, e) != 0)
		goto rollback;
	if (exec(c, "COMMIT;", e) == 0) {
		rc = 0;
		goto out;
	}
rollback:
	sqlite3_finalize(st);
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

/* The first column of SQL's first row (PACK_ID bound as ?1) into
 * MACHINE_ID; ERR_NOT_FOUND for no row, ERR_IO when the read fails. */
static int pack_machine(struct catalog *c, const char *sql, const char *pack_id,
			catalog_id machine_id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, sql, e))) {
		bind_text(st, 1, pack_id);
		r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			copy_col(machine_id, sizeof(catalog_id), st, 0);
			rc = 0;
		} else if (r == SQLITE_DONE) {
			err_set(e, ERR_NOT_FOUND, "no pack %.16s", pack_id);
		} else {
			db_fail(c, e, "read");
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_pack_owner(struct catalog *c, const char *pack_id, catalog_id machine_id,
		       struct err *e)
{
	return pack_machine(c, "SELECT machine_id FROM packs WHERE id = ?1", pack_id, machine_id, e);
}

int catalog_pack_reader(struct catalog *c, const char *pack_id, catalog_id machine_id,
			struct err *e)
{
	return pack_machine(c, "SELECT machine_id FROM packs WHERE id = ?1 UNION ALL "
			    "SELECT machine_id FROM doomed WHERE pack_id = ?1 AND machine_id != '' "
			    "LIMIT 1", pack_id, machine_id, e);
}

int catalog_objects_missing(struct catalog *c, const char *machine_id, const char *const *ids,
			    size_t n, bool *missing, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT 1 FROM objects WHERE machine_id = ? AND id = ?", e))) {
		for (size_t i = 0; i < n; i++) {
			sqlite3_reset(st);
			bind_text(st, 1, machine_id);
			bind_text(st, 2, ids[i]);
			missing[i] = sqlite3_step(st) != SQLITE_ROW;
		}
		sqlite3_finalize(st);
		rc = 0;
	}
	UNLOCK(c);
	return rc;
}

int catalog_objects_locate(struct catalog *c, const char *machine_id, const char *const *ids,
			   size_t n, struct object_loc *loc, bool *found, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT pack_id, kind, offset, length FROM objects"
			  " WHERE machine_id = ? AND id = ?", e))) {
		for (size_t i = 0; i < n; i++) {
			sqlite3_reset(st);
			bind_text(st, 1, machine_id);
			bind_text(st, 2, ids[i]);
			found[i] = sqlite3_step(st) == SQLITE_ROW;
			if (!found[i])
				continue;
			snprintf(loc[i].pack, sizeof(loc[i].pack), "%s",
				 (const char *)sqlite3_column_text(st, 0));
			loc[i].kind = sqlite3_column_int(st, 1);
			loc[i].offset = (uint64_t)sqlite3_column_int64(st, 2);
			loc[i].length = (uint32_t)sqlite3_column_int64(st, 3);
		}
		sqlite3_finalize(st);
		rc = 0;
	}
	UNLOCK(c);
	return rc;
}

/* The N hex ids IDS as sorted, unique binary ids in *OUT (caller frees),
 * their number in *M. */
static int sorted_ids(const char *const *ids, size_t n, struct objid **out, size_t *m,
		      struct err *e)
{
	struct objid *v = malloc((n ? n : 1) * sizeof(*v));
	size_t k = 0;

	*out = NULL;
	*m = 0;
	if (v == NULL)
		return err_oom(e);
	for (size_t i = 0; i < n; i++) {
		if (objid_from_hex(ids[i], &v[i], e) != 0) {
			free(v);
			return err_set(e, ERR_INVALID, "object id %zu is not 64 hex digits", i);
		}
	}
	qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))objid_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || objid_cmp(&v[k - 1], &v[i]) != 0)
			v[k++] = v[i];
	*out = v;
	*m = k;
	return 0;
}

int catalog_point_commit(struct catalog *c, const char *machine_id, const char *meta,
			 const char *parent, const char *const *ids, size_t n, int64_t now,
			 struct recovery_point *rp, struct err *e)
{
	sqlite3_stmt *st = NULL;
	struct objid *refs = NULL;
	size_t n_refs = 0;
	int64_t live = 0, bytes = 0, missing = 0;
	int rc = -1;

	memset(rp, 0, sizeof(*rp));
	/* Sorted before taking the catalog: the list may be long. */
	if (sorted_ids(ids, n, &refs, &n_refs, e) != 0)
		return -1;
	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((st = prep(c, "SELECT count(*) FROM points WHERE machine_id = ? AND deleted = 0", e)) == NULL)
		goto rollback;
	bind_text(st, 1, machine_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		live = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (live >= CATALOG_POINTS_MAX) {
		err_set(e, ERR_LIMIT, "A machine can have at most %d recovery points; retention "
			"must remove some before the next backup commits", CATALOG_POINTS_MAX);
		goto rollback;
	}
	catalog_new_id(rp->id);
	if ((st = prep(c, "SELECT length FROM objects WHERE machine_id = ? AND id = ?", e)) == NULL)
		goto rollback;
	for (size_t i = 0; i < n_refs; i++) {
		char hex[OBJID_HEX_LEN + 1];

		objid_to_hex(&refs[i], hex);
		sqlite3_reset(st);
		bind_text(st, 1, machine_id);
		bind_text(st, 2, hex);
		if (sqlite3_step(st) != SQLITE_ROW)
			missing++;
		else
			bytes += sqlite3_column_int64(st, 0);
	}
	if (missing) {
		err_set(e, ERR_NOT_FOUND, "%lld of the %zu referenced objects are not stored for this "
			"machine; upload them and commit again", (long long)missing, n);
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	snprintf(rp->meta, sizeof(rp->meta), "%s", meta);
	snprintf(rp->parent, sizeof(rp->parent), "%s", parent ? parent : "");
	rp->created = now;
	rp->objects = (int64_t)n_refs;
	rp->bytes = bytes;
	if ((st = prep(c, "INSERT INTO points (id, machine_id, meta, parent, created, objects, bytes) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?)", e)) == NULL)
		goto rollback;
	bind_text(st, 1, rp->id);
	bind_text(st, 2, machine_id);
	bind_text(st, 3, rp->meta);
	bind_text(st, 4, rp->parent);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, rp->objects);
	sqlite3_bind_int64(st, 7, bytes);
	if (step_done(c, st, NULL, e) != 0)
		goto rollback;
	sqlite3_finalize(st);
	if ((st = prep(c, "INSERT INTO point_refs (point_id, machine_id, ids) VALUES (?, ?, ?)",
		       e)) == NULL)
		goto rollback;
	bind_text(st, 1, rp->id);
	bind_text(st, 2, machine_id);
	sqlite3_bind_blob64(st, 3, refs, (sqlite3_uint64)(n_refs * sizeof(*refs)), SQLITE_STATIC);
	if (step_done(c, st, NULL, e) != 0)
		goto rollback;
	sqlite3_finalize(st);
	st = NULL;
	if (exec(c, "COMMIT;", e) == 0) {
		rc = 0;
		goto out;
	}
rollback:
	sqlite3_finalize(st);
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	free(refs);
	return rc;
}

int catalog_point_list(struct catalog *c, const char *machine_id, bool all,
		       struct recovery_point **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct recovery_point *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, meta, parent, created, objects, bytes, deleted FROM points WHERE "
			  "machine_id = ? AND (deleted = 0 OR ?) ORDER BY created, rowid", e)) == NULL)
		goto out;
	bind_text(st, 1, machine_id);
	sqlite3_bind_int(st, 2, all);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		memset(&v[cnt], 0, sizeof(v[cnt]));
		copy_col(v[cnt].id, sizeof(v[cnt].id), st, 0);
		copy_col(v[cnt].meta, sizeof(v[cnt].meta), st, 1);
		copy_col(v[cnt].parent, sizeof(v[cnt].parent), st, 2);
		v[cnt].created = sqlite3_column_int64(st, 3);
		v[cnt].objects = sqlite3_column_int64(st, 4);
		v[cnt].bytes = sqlite3_column_int64(st, 5);
		v[cnt].deleted = sqlite3_column_int64(st, 6);
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

/* Run one UPDATE with text arguments A, B (B may be NULL) and integer N at
 * the ?s in order: ?1 = N when HAS_N, then the texts. Returns the rows
 * changed, or -1. */
static int64_t update(struct catalog *c, const char *sql, int64_t nval, int has_n, const char *a,
		      const char *b, struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int i = 1;
	int64_t changed = -1;

	if (st == NULL)
		return -1;
	if (has_n)
		sqlite3_bind_int64(st, i++, nval);
	bind_text(st, i++, a);
	if (b)
		bind_text(st, i++, b);
	if (step_done(c, st, NULL, e) == 0)
		changed = sqlite3_changes(c->db);
	sqlite3_finalize(st);
	return changed;
}

int catalog_point_delete(struct catalog *c, const char *machine_id, const char *point_id,
			 int64_t now, struct err *e)
{
	int64_t n;

	LOCK(c);
	n = update(c, "UPDATE points SET deleted = ? WHERE machine_id = ? AND id = ? AND deleted = 0",
		   now, 1, machine_id, point_id, e);
	UNLOCK(c);
	if (n == 0)
		return err_set(e, ERR_NOT_FOUND, "no live recovery point %.40s of this machine", point_id);
	return n < 0 ? -1 : 0;
}

/* The one integer SQL (with text parameter A) answers, into *N: 0, or -1
 * with E set when the statement fails or yields no row. */
static int count_of(struct catalog *c, const char *sql, const char *a, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int rc = -1;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		db_fail(c, e, "counting rows");
	}
	sqlite3_finalize(st);
	return rc;
}

int catalog_point_undelete(struct catalog *c, const char *machine_id, const char *point_id,
			   struct err *e)
{
	int64_t live = 0, n = -1;

	LOCK(c);
	/* Why one transaction: two undeletes (or a commit) at once must not both
	 * pass the 366-point check. */
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if (count_of(c, "SELECT count(*) FROM points WHERE machine_id = ? AND deleted = 0",
		     machine_id, &live, e) != 0)
		goto rollback;
	if (live >= CATALOG_POINTS_MAX) {
		err_set(e, ERR_LIMIT, "A machine can have at most %d recovery points: delete one "
			"before bringing this one back", CATALOG_POINTS_MAX);
		goto rollback;
	}
	n = update(c, "UPDATE points SET deleted = 0 WHERE machine_id = ? AND id = ? AND "
		   "deleted != 0", 0, 0, machine_id, point_id, e);
	if (n == 0)
		err_set(e, ERR_NOT_FOUND, "no deleted recovery point %.40s of this machine "
			"(it may have been purged %d days after its deletion)", point_id,
			CATALOG_SOFT_DELETE_DAYS);
	if (n > 0 && exec(c, "COMMIT;", e) == 0)
		goto out;
rollback:
	n = -1;
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return n > 0 ? 0 : -1;
}

int catalog_machine_by_name(struct catalog *c, const char *vault_id, const char *name,
			    struct machine *m, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ? AND name = ?", e))) {
		bind_text(st, 1, vault_id);
		bind_text(st, 2, name);
		if (sqlite3_step(st) == SQLITE_ROW) {
			machine_row(st, m);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no machine named %.64s in this vault", name);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

static int set_machine_deleted(struct catalog *c, const char *vault_id, const char *name,
			       int64_t when, struct err *e)
{
	int64_t n, live = 0;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	/* Bringing a machine back counts like registering one: at most 50 live
	 * machines a vault, checked in the transaction that changes the count. */
	if (when == 0) {
		if (count_of(c, "SELECT count(*) FROM machines WHERE vault_id = ? AND deleted = 0",
			     vault_id, &live, e) != 0)
			goto rollback;
		if (live >= CATALOG_MACHINES_MAX) {
			err_set(e, ERR_LIMIT, "A vault can have at most %d machines: delete one before "
				"bringing machine %.64s back", CATALOG_MACHINES_MAX, name);
			goto rollback;
		}
	}
	n = update(c, when ? "UPDATE machines SET deleted = ? WHERE vault_id = ? AND name = ? AND deleted = 0"
			   : "UPDATE machines SET deleted = ? WHERE vault_id = ? AND name = ? AND deleted != 0",
		   when, 1, vault_id, name, e);
	if (n == 0)
		err_set(e, ERR_NOT_FOUND, when ? "no registered machine named %.64s in this vault"
			: "no deleted machine named %.64s in this vault (it may have been purged)", name);
	if (n <= 0 || update(c, "UPDATE vaults SET machines = (SELECT count(*) FROM machines WHERE "
			     "vault_id = ?1 AND deleted = 0) WHERE id = ?1", 0, 0, vault_id, NULL, e) < 0 ||
	    exec(c, "COMMIT;", e) != 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_machine_delete(struct catalog *c, const char *vault_id, const char *name, int64_t now,
			   struct err *e)
{
	return set_machine_deleted(c, vault_id, name, now, e);
}

int catalog_machine_undelete(struct catalog *c, const char *vault_id, const char *name,
			     struct err *e)
{
	return set_machine_deleted(c, vault_id, name, 0, e);
}

static int doom(struct catalog *c, const char *machine_id, const char *pack, const char *region,
		const char *pair, int64_t after, struct err *e);

/* Within a transaction: doom the pack files of the machines deleted before
 * BEFORE, in their vault's region and, for GRS, its pair, deleted after
 * AFTER like every other pack's; no machine reads them meanwhile. */
static int doom_purged_packs(struct catalog *c, int64_t before, int64_t after,
			     catalog_pair_fn pair_of, void *arg, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT p.id, v.region, v.redundancy FROM packs p"
				   " JOIN machines m ON m.id = p.machine_id"
				   " JOIN vaults v ON v.id = m.vault_id"
				   " WHERE m.deleted != 0 AND m.deleted < ?1", e);
	int r = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		char pack[65], region[65], redundancy[8];
		const char *pair;

		copy_col(pack, sizeof(pack), st, 0);
		copy_col(region, sizeof(region), st, 1);
		copy_col(redundancy, sizeof(redundancy), st, 2);
		pair = strcmp(redundancy, "GRS") == 0 && pair_of ? pair_of(arg, region) : NULL;
		if (doom(c, NULL, pack, region, pair, after, e) != 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : db_fail(c, e, "read");
}

int catalog_purge(struct catalog *c, int64_t now, int64_t after, catalog_pair_fn pair_of,
		  void *arg, int64_t *points, int64_t *machines, struct err *e)
{
	const int64_t before = now - (int64_t)CATALOG_SOFT_DELETE_DAYS * 86400;
	static const char *const steps[] = {
		/* Points: their references, then the points. */
		"DELETE FROM point_refs WHERE point_id IN (SELECT id FROM points WHERE deleted != 0 "
		"AND deleted < ?1)",
		"DELETE FROM points WHERE deleted != 0 AND deleted < ?1",
		/* Machines: everything of theirs. */
		"DELETE FROM point_refs WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 "
		"AND deleted < ?1)",
		"DELETE FROM points WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM objects WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM packs WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM jobs WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM policies WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM leases WHERE machine_id IN (SELECT id FROM machines WHERE deleted != 0 AND "
		"deleted < ?1)",
		"DELETE FROM machines WHERE deleted != 0 AND deleted < ?1",
	};
	int rc = -1;

	*points = *machines = 0;
	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if (doom_purged_packs(c, before, after, pair_of, arg, e) != 0)
		goto rollback;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_stmt *st = prep(c, steps[i], e);

		if (st == NULL)
			goto rollback;
		sqlite3_bind_int64(st, 1, before);
		if (step_done(c, st, NULL, e) != 0) {
			sqlite3_finalize(st);
			goto rollback;
		}
		if (i == 1)
			*points = sqlite3_changes(c->db);
		if (i == sizeof(steps) / sizeof(steps[0]) - 1)
			*machines = sqlite3_changes(c->db);
		sqlite3_finalize(st);
	}
	if (exec(c, "COMMIT;", e) == 0) {
		rc = 0;
		goto out;
	}
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

/* Inside the lock: ERR_LOCKED when ACTOR may use no PIN at NOW. 0, or -1. */
static int pin_locked(struct catalog *c, const char *actor, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	if ((st = prep(c, "SELECT locked_until FROM pin_guard WHERE actor = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE || (r == SQLITE_ROW && sqlite3_column_int64(st, 0) <= now))
		rc = 0;
	else if (r == SQLITE_ROW)
		err_set(e, ERR_LOCKED, "%d wrong security PINs in %d minutes: the outstanding PINs "
			"are void and PIN use is refused for %d minutes (%lld seconds left)",
			CATALOG_PIN_ATTEMPTS, CATALOG_PIN_LOCK_SECONDS / 60, CATALOG_PIN_LOCK_SECONDS / 60,
			(long long)(sqlite3_column_int64(st, 0) - now));
	else
		db_fail(c, e, "read");
	sqlite3_finalize(st);
	return rc;
}

int catalog_pin_create(struct catalog *c, const char *subscription, const char *user_id,
		       const char *pin_hash, int64_t now, int64_t expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if (pin_locked(c, user_id, now, e) != 0)
		goto out;
	if ((st = prep(c, "INSERT INTO pins (subscription, hash, expires, user_id) VALUES (?, ?, ?, ?)",
		       e))) {
		bind_text(st, 1, subscription);
		bind_text(st, 2, pin_hash);
		sqlite3_bind_int64(st, 3, expires);
		bind_text(st, 4, user_id);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
out:
	UNLOCK(c);
	return rc;
}

/* Inside the transaction: count a wrong PIN of ACTOR; the last allowed one
 * voids the outstanding PINs (the user's, or with USER_ID NULL the
 * subscription's) and locks ACTOR. *LOCKED says whether it did. 0, or -1. */
static int pin_failed(struct catalog *c, const char *subscription, const char *user_id,
		      const char *actor, int64_t now, bool *locked, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	*locked = false;
	/* A window starts at its first failure and lasts CATALOG_PIN_LOCK_SECONDS. */
	if ((st = prep(c, "INSERT INTO pin_guard (actor, failures, first, locked_until) VALUES (?1, 1, ?2, 0) "
			  "ON CONFLICT (actor) DO UPDATE SET failures = CASE WHEN first <= ?2 - ?3 "
			  "THEN 1 ELSE failures + 1 END, first = CASE WHEN first <= ?2 - ?3 THEN ?2 "
			  "ELSE first END", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, CATALOG_PIN_LOCK_SECONDS);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	if (rc != 0)
		return -1;
	if ((st = prep(c, "UPDATE pin_guard SET failures = 0, locked_until = ?2 + ?3 WHERE actor = ?1 "
			  "AND failures >= ?4", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, CATALOG_PIN_LOCK_SECONDS);
	sqlite3_bind_int(st, 4, CATALOG_PIN_ATTEMPTS);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	if (rc != 0 || sqlite3_changes(c->db) == 0)
		return rc;
	*locked = true;
	if ((st = prep(c, user_id ? "DELETE FROM pins WHERE subscription = ? AND user_id = ?"
				  : "DELETE FROM pins WHERE subscription = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, subscription);
	if (user_id)
		bind_text(st, 2, user_id);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	return rc;
}

int catalog_pin_use(struct catalog *c, const char *subscription, const char *user_id,
		    const char *actor, const char *pin_hash, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;
	bool found = false, locked = false;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if (pin_locked(c, actor, now, e) != 0)
		goto rollback;
	if ((st = prep(c, "DELETE FROM pins WHERE expires <= ?", e)) == NULL)
		goto rollback;
	sqlite3_bind_int64(st, 1, now);
	r = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	if (r != 0)
		goto rollback;
	/* One row, consumed in the transaction that found it: single use. */
	if ((st = prep(c, user_id ? "DELETE FROM pins WHERE rowid = (SELECT rowid FROM pins WHERE "
				    "subscription = ?1 AND hash = ?2 AND user_id = ?3 LIMIT 1)"
				  : "DELETE FROM pins WHERE rowid = (SELECT rowid FROM pins WHERE "
				    "subscription = ?1 AND hash = ?2 LIMIT 1)", e)) == NULL)
		goto rollback;
	bind_text(st, 1, subscription);
	bind_text(st, 2, pin_hash);
	if (user_id)
		bind_text(st, 3, user_id);
	r = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	if (r != 0)
		goto rollback;
	found = sqlite3_changes(c->db) > 0;
	if (found) {
		if ((st = prep(c, "DELETE FROM pin_guard WHERE actor = ?", e)) == NULL)
			goto rollback;
		bind_text(st, 1, actor);
		r = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	} else {
		r = pin_failed(c, subscription, user_id, actor, now, &locked, e);
	}
	if (r != 0 || exec(c, "COMMIT;", e) != 0)
		goto rollback;
	if (found)
		rc = 0;
	else if (locked)
		err_set(e, ERR_DENIED, "the security PIN is wrong; that was the %dth wrong PIN in %d "
			"minutes: the outstanding PINs are void and PIN use is refused for %d minutes",
			CATALOG_PIN_ATTEMPTS, CATALOG_PIN_LOCK_SECONDS / 60, CATALOG_PIN_LOCK_SECONDS / 60);
	else
		err_set(e, ERR_DENIED, "the security PIN is wrong or has expired (a PIN is valid "
			"for %d minutes and for one operation): generate a new one in the portal",
			CATALOG_PIN_SECONDS / 60);
	goto out;
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

static int alert_insert(struct catalog *c, const char *subscription, int64_t now, const char *kind,
			const char *target, const char *message, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	if ((st = prep(c, "INSERT INTO alerts (subscription, time, kind, target, message) VALUES "
			  "(?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, subscription);
		sqlite3_bind_int64(st, 2, now);
		bind_text(st, 3, kind);
		bind_text(st, 4, target);
		bind_text(st, 5, message);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	return rc;
}

int catalog_alert(struct catalog *c, const char *subscription, int64_t now, const char *kind,
		  const char *target, const char *message, struct err *e)
{
	int rc;

	LOCK(c);
	rc = alert_insert(c, subscription, now, kind, target, message, e);
	UNLOCK(c);
	return rc;
}

int catalog_alert_list(struct catalog *c, const char *subscription, int limit,
		       struct alert **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct alert *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, time, kind, target, message FROM alerts WHERE subscription = ? "
			  "ORDER BY id DESC LIMIT ?", e)) == NULL)
		goto out;
	bind_text(st, 1, subscription);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		v[cnt].id = sqlite3_column_int64(st, 0);
		v[cnt].time = sqlite3_column_int64(st, 1);
		copy_col(v[cnt].kind, sizeof(v[cnt].kind), st, 2);
		copy_col(v[cnt].target, sizeof(v[cnt].target), st, 3);
		copy_col(v[cnt].message, sizeof(v[cnt].message), st, 4);
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

int catalog_job_start(struct catalog *c, const char *machine_id, const char *kind, int64_t now,
		      struct job *j, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	catalog_new_id(j->id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO jobs (id, machine_id, kind, status, started) VALUES "
			  "(?, ?, ?, 'running', ?)", e))) {
		bind_text(st, 1, j->id);
		bind_text(st, 2, machine_id);
		bind_text(st, 3, kind);
		sqlite3_bind_int64(st, 4, now);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	j->started = now;
	return rc;
}

int catalog_job_end(struct catalog *c, const char *machine_id, const struct job *j, int64_t now,
		    const struct job_alert *alert, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((st = prep(c, "UPDATE jobs SET status = ?, ended = ?, files = ?, bytes_read = ?, "
			  "bytes_stored = ?, point = ?, report = ? WHERE id = ? AND machine_id = ? AND "
			  "status = 'running'", e)) == NULL)
		goto rollback;
	bind_text(st, 1, j->status);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, j->files);
	sqlite3_bind_int64(st, 4, j->bytes_read);
	sqlite3_bind_int64(st, 5, j->bytes_stored);
	bind_text(st, 6, j->point);
	bind_text(st, 7, j->report ? j->report : "{}");
	bind_text(st, 8, j->id);
	bind_text(st, 9, machine_id);
	rc = step_done(c, st, NULL, e);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOT_FOUND, "no running job %.40s of this machine", j->id);
	sqlite3_finalize(st);
	/* Invariant: a job's alert exists exactly when its end was recorded. */
	if (rc == 0 && alert)
		rc = alert_insert(c, alert->subscription, now, alert->kind, alert->target,
				  alert->message, e);
	if (rc == 0 && (rc = exec(c, "COMMIT;", e)) == 0)
		goto out;
rollback:
	rc = -1;
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

void catalog_job_list_free(struct job *j, size_t n)
{
	for (size_t i = 0; j && i < n; i++)
		free(j[i].report);
	free(j);
}

int catalog_job_list(struct catalog *c, const char *vault_id, int limit, struct job **out,
		     size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	struct job *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT j.id, j.machine_id, m.name, j.kind, j.status, j.started, j.ended, "
			  "j.files, j.bytes_read, j.bytes_stored, j.point, j.report FROM jobs j JOIN "
			  "machines m ON m.id = j.machine_id WHERE m.vault_id = ? ORDER BY j.started "
			  "DESC, j.rowid DESC LIMIT ?", e)) == NULL)
		goto out;
	bind_text(st, 1, vault_id);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct job *j;

		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		j = &v[cnt];
		memset(j, 0, sizeof(*j));
		copy_col(j->id, sizeof(j->id), st, 0);
		copy_col(j->machine_id, sizeof(j->machine_id), st, 1);
		copy_col(j->machine, sizeof(j->machine), st, 2);
		copy_col(j->kind, sizeof(j->kind), st, 3);
		copy_col(j->status, sizeof(j->status), st, 4);
		j->started = sqlite3_column_int64(st, 5);
		j->ended = sqlite3_column_int64(st, 6);
		j->files = sqlite3_column_int64(st, 7);
		j->bytes_read = sqlite3_column_int64(st, 8);
		j->bytes_stored = sqlite3_column_int64(st, 9);
		copy_col(j->point, sizeof(j->point), st, 10);
		cnt++;
		if ((j->report = strdup((const char *)sqlite3_column_text(st, 11))) == NULL) {
			err_oom(e);
			goto out;
		}
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	catalog_job_list_free(v, cnt);
	return rc;
}

int catalog_usage(struct catalog *c, const char *vault_id, struct usage **out, size_t *n,
		  struct err *e)
{
	sqlite3_stmt *st;
	struct usage *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT m.id, m.name, (SELECT count(*) FROM packs p WHERE p.machine_id = m.id), "
			  "(SELECT coalesce(sum(size), 0) FROM packs p WHERE p.machine_id = m.id), "
			  "(SELECT count(*) FROM points q WHERE q.machine_id = m.id AND q.deleted = 0) "
			  "FROM machines m WHERE m.vault_id = ? ORDER BY m.name", e)) == NULL)
		goto out;
	bind_text(st, 1, vault_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, cnt, sizeof(*v), e) != 0)
			goto out;
		copy_col(v[cnt].machine_id, sizeof(v[cnt].machine_id), st, 0);
		copy_col(v[cnt].machine, sizeof(v[cnt].machine), st, 1);
		v[cnt].packs = sqlite3_column_int64(st, 2);
		v[cnt].stored_bytes = sqlite3_column_int64(st, 3);
		v[cnt].points = sqlite3_column_int64(st, 4);
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	UNLOCK(c);
	free(v);
	return rc;
}

int catalog_policy_get(struct catalog *c, const char *machine_id, char **json, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*json = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT policy FROM policies WHERE machine_id = ?", e))) {
		bind_text(st, 1, machine_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			if ((*json = strdup((const char *)sqlite3_column_text(st, 0))) != NULL)
				rc = 0;
			else
				err_oom(e);
		} else {
			err_set(e, ERR_NOT_FOUND, "the machine has no backup policy yet");
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_policy_machines(struct catalog *c, catalog_id **ids, size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	LOCK(c);
	if ((st = prep(c, "SELECT p.machine_id FROM policies p JOIN machines m ON m.id = p.machine_id"
			  " WHERE m.deleted = 0", e))) {
		rc = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (grow((void **)ids, &cap, *n, sizeof(**ids), e)) {
				rc = -1;
				break;
			}
			copy_col((*ids)[(*n)++], sizeof(catalog_id), st, 0);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

/* Whether MACHINE's stored policy is PREV (NULL: it has none). 1, 0 or -1. */
static int policy_is(struct catalog *c, const char *machine_id, const char *prev, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	if ((st = prep(c, "SELECT policy FROM policies WHERE machine_id = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, machine_id);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		rc = prev && strcmp((const char *)sqlite3_column_text(st, 0), prev) == 0;
	else if (r == SQLITE_DONE)
		rc = prev == NULL;
	else
		err_set(e, ERR_IO, "reading a machine's policy: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return rc;
}

int catalog_policy_set(struct catalog *c, const char *machine_id, const char *prev,
		       const char *json, int64_t now, const struct job_alert *alert, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, same;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((same = policy_is(c, machine_id, prev, e)) < 0)
		goto rollback;
	if (same == 0) {
		err_set(e, ERR_LOCKED, "the machine's policy changed while this one was being "
			"checked; read it again and retry");
		goto rollback;
	}
	if ((st = prep(c, "INSERT INTO policies (machine_id, policy, updated) VALUES (?, ?, ?) "
			  "ON CONFLICT (machine_id) DO UPDATE SET policy = excluded.policy, "
			  "updated = excluded.updated", e)) == NULL)
		goto rollback;
	bind_text(st, 1, machine_id);
	bind_text(st, 2, json);
	sqlite3_bind_int64(st, 3, now);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	/* Invariant: the alert exists exactly when the policy it tells of was stored. */
	if (rc == 0 && alert)
		rc = alert_insert(c, alert->subscription, now, alert->kind, alert->target,
				  alert->message, e);
	if (rc == 0 && (rc = exec(c, "COMMIT;", e)) == 0)
		goto out;
rollback:
	rc = -1;
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_lease_begin(struct catalog *c, const char *machine_id, int64_t now, int64_t expires,
			catalog_id id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	/* Expired leases go whenever a new one begins: nobody has to clean up. */
	if (run3(c, "DELETE FROM leases WHERE expires <= ?3", NULL, NULL, now, e) == 0 &&
	    (st = prep(c, "INSERT INTO leases (id, machine_id, started, expires) VALUES (?, ?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, machine_id);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, expires);
		rc = step_done(c, st, NULL, e);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

/* Within a transaction: see catalog_lease_renew. */
static int lease_renew(struct catalog *c, const char *machine_id, const char *id, int64_t now,
		       int64_t expires, int64_t *until, struct err *e)
{
	int64_t end = scalar(c, "SELECT coalesce(max(expires), 0) FROM leases"
				" WHERE id = ?1 AND machine_id = ?2", id, machine_id, 0, e);

	if (end < 0)
		return -1;
	if (end == 0)
		return err_set(e, ERR_NOT_FOUND, "no backup lease %.40s of this machine: it was "
			       "released or ended by a commit", id);
	/* Why not revive it: the collector may have run since it expired. */
	if (end <= now)
		return err_set(e, ERR_LOCKED, "the backup lease %.40s expired %lld seconds ago and "
			       "no longer protects the backup's uploads: begin a new one and check "
			       "which objects the service still holds", id, (long long)(now - end));
	*until = end > expires ? end : expires;
	return run3(c, "UPDATE leases SET expires = ?3 WHERE id = ?1 AND machine_id = ?2", id,
		    machine_id, *until, e);
}

int catalog_lease_renew(struct catalog *c, const char *machine_id, const char *id, int64_t now,
			int64_t expires, int64_t *until, struct err *e)
{
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e) == 0) {
		rc = lease_renew(c, machine_id, id, now, expires, until, e);
		if (rc != 0 || (rc = exec(c, "COMMIT;", e)) != 0)
			exec(c, "ROLLBACK;", NULL);
	}
	UNLOCK(c);
	return rc;
}

int catalog_lease_end(struct catalog *c, const char *machine_id, const char *id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "DELETE FROM leases WHERE id = ? AND machine_id = ?", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, machine_id);
		rc = step_done(c, st, NULL, e);
		if (rc == 0 && sqlite3_changes(c->db) == 0)
			rc = err_set(e, ERR_NOT_FOUND, "no backup lease %.40s of this machine: it was "
				     "released or ended by a commit", id);
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_point_get(struct catalog *c, const char *machine_id, const char *point_id,
		      struct recovery_point *rp, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT id, meta, parent, created, objects, bytes FROM points WHERE "
			  "machine_id = ? AND id = ? AND deleted = 0", e))) {
		bind_text(st, 1, machine_id);
		bind_text(st, 2, point_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			memset(rp, 0, sizeof(*rp));
			copy_col(rp->id, sizeof(rp->id), st, 0);
			copy_col(rp->meta, sizeof(rp->meta), st, 1);
			copy_col(rp->parent, sizeof(rp->parent), st, 2);
			rp->created = sqlite3_column_int64(st, 3);
			rp->objects = sqlite3_column_int64(st, 4);
			rp->bytes = sqlite3_column_int64(st, 5);
			rc = 0;
		} else {
			err_set(e, ERR_NOT_FOUND, "no recovery point %.40s of this machine", point_id);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

/* ---- space collection ---- */

static int64_t scalar(struct catalog *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e);

/* Union of the sorted unique ids A (N_A of them, in a buffer of *CAP) and
 * B (N_B) into A; 0, or -1 out of memory. */
static int union_into(struct objid **a, size_t *n_a, size_t *cap, const struct objid *b,
		      size_t n_b, struct err *e)
{
	struct objid *out;
	size_t i = 0, j = 0, k = 0, want = *n_a + n_b;

	if ((out = malloc((want ? want : 1) * sizeof(*out))) == NULL)
		return err_oom(e);
	while (i < *n_a || j < n_b) {
		int d = i == *n_a ? 1 : j == n_b ? -1 : objid_cmp(&(*a)[i], &b[j]);

		if (d <= 0)
			out[k++] = (*a)[i++];
		else
			out[k++] = b[j];
		if (d >= 0)
			j++;
	}
	free(*a);
	*a = out;
	*n_a = k;
	*cap = want;
	return 0;
}

int catalog_refs_mark(struct catalog *c, const char *machine_id, struct objid **ids, size_t *n,
		      int64_t *mark, struct err *e)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1, r = SQLITE_DONE;

	*ids = NULL;
	*n = 0;
	*mark = 0;
	LOCK(c);
	/* Every point's list and the mark, read under one hold of the catalog:
	 * no commit comes in between. */
	if ((st = prep(c, "SELECT ids FROM point_refs WHERE machine_id = ? ORDER BY seq", e))) {
		bind_text(st, 1, machine_id);
		rc = 0;
		while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
			const void *blob = sqlite3_column_blob(st, 0);
			size_t len = (size_t)sqlite3_column_bytes(st, 0);

			if (len % sizeof(struct objid) != 0) {
				rc = err_set(e, ERR_IO, "catalog: the references of a point are damaged");
				break;
			}
			rc = union_into(ids, n, &cap, blob, len / sizeof(struct objid), e);
		}
		/* Part of the references would let the collector drop live
		 * objects: a read that stopped early is an error. */
		if (rc == 0 && r != SQLITE_DONE)
			rc = db_fail(c, e, "read");
		sqlite3_finalize(st);
		/* The mark: the last number handed to a point, of any machine. */
		if (rc == 0 && (*mark = scalar(c, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence"
						  " WHERE name = 'point_refs'", NULL, NULL, 0, e)) < 0)
			rc = -1;
	}
	UNLOCK(c);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

int catalog_pack_usage(struct catalog *c, const char *vault_id, struct pack_use **out, size_t *n,
		       struct err *e)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	LOCK(c);
	st = prep(c, "SELECT p.id, p.machine_id, m.vault_id, p.size FROM packs p"
		     " JOIN machines m ON m.id = p.machine_id"
		     " WHERE ?1 IS NULL OR m.vault_id = ?1 ORDER BY p.machine_id, p.created", e);
	if (st) {
		if (vault_id)
			bind_text(st, 1, vault_id);
		rc = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct pack_use *u;

			if (grow((void **)out, &cap, *n, sizeof(**out), e)) {
				rc = -1;
				break;
			}
			u = &(*out)[(*n)++];
			memset(u, 0, sizeof(*u));
			copy_col(u->id, sizeof(u->id), st, 0);
			copy_col(u->machine_id, sizeof(u->machine_id), st, 1);
			copy_col(u->vault_id, sizeof(u->vault_id), st, 2);
			u->size = sqlite3_column_int64(st, 3);
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Of the objects placed in PACK of MACHINE, their ids (sorted) and lengths;
 * the caller holds the catalog. */
static int pack_objects(struct catalog *c, const char *machine_id, const char *pack,
			struct pack_obj **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT id, length FROM objects WHERE machine_id = ?"
				   " AND pack_id = ? ORDER BY id", e);
	size_t cap = 0;
	int rc = st ? 0 : -1, r = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	if (st) {
		bind_text(st, 1, machine_id);
		bind_text(st, 2, pack);
		while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
			const char *hex = (const char *)sqlite3_column_text(st, 0);

			if ((rc = grow((void **)out, &cap, *n, sizeof(**out), e)) == 0 &&
			    (rc = objid_from_hex(hex ? hex : "", &(*out)[*n].id, e)) == 0)
				(*out)[(*n)++].length = sqlite3_column_int64(st, 1);
		}
		/* Part of a pack's objects would make the collector drop live ones. */
		if (rc == 0 && r != SQLITE_DONE)
			rc = db_fail(c, e, "read");
		sqlite3_finalize(st);
	}
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int catalog_pack_objects(struct catalog *c, const char *machine_id, const char *pack,
			 struct pack_obj **out, size_t *n, struct err *e)
{
	int rc;

	LOCK(c);
	rc = pack_objects(c, machine_id, pack, out, n, e);
	UNLOCK(c);
	return rc;
}

/* Bind text A and B (when not NULL) and integer I to ?1, ?2 and ?3 of ST;
 * a statement without some of them just leaves them out. */
static void bind3(sqlite3_stmt *st, const char *a, const char *b, int64_t i)
{
	if (a)
		bind_text(st, 1, a);
	if (b)
		bind_text(st, 2, b);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, i);
}

/* The first column of SQL's first row (arguments as bind3), or -1. */
static int64_t scalar(struct catalog *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int64_t v = -1;

	if (st == NULL)
		return -1;
	bind3(st, a, b, i);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		db_fail(c, e, "read");
	sqlite3_finalize(st);
	return v;
}

/* Run SQL (arguments as bind3). 0 or -1. */
static int run3(struct catalog *c, const char *sql, const char *a, const char *b, int64_t i,
		struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int rc;

	if (st == NULL)
		return -1;
	bind3(st, a, b, i);
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	return rc;
}

static int doom(struct catalog *c, const char *machine_id, const char *pack, const char *region,
		const char *pair, int64_t after, struct err *e)
{
	sqlite3_stmt *st = prep(c, "INSERT OR REPLACE INTO doomed (pack_id, region, pair, after,"
				   " machine_id) VALUES (?, ?, ?, ?, ?)", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, pack);
	bind_text(st, 2, region);
	bind_text(st, 3, pair ? pair : "");
	sqlite3_bind_int64(st, 4, after);
	bind_text(st, 5, machine_id ? machine_id : "");
	rc = step_done(c, st, NULL, e);
	sqlite3_finalize(st);
	return rc;
}

/* Within a transaction: refuse (ERR_LOCKED) while MACHINE holds a lease,
 * since a backup in progress may rely on any object it was told is stored. */
static int not_leased(struct catalog *c, const char *machine_id, int64_t now, struct err *e)
{
	int64_t v = scalar(c, "SELECT count(*) FROM leases WHERE machine_id = ?1 AND expires > ?3",
			   machine_id, NULL, now, e);

	if (v < 0)
		return -1;
	return v ? err_set(e, ERR_LOCKED, "a backup of the machine is in progress") : 0;
}

/* Within a transaction: whether a point of MACHINE committed after MARK
 * references an object of PACK (1), not (0), or -1. Points up to the mark
 * were in the collector's view; only later ones can have made a dead
 * object live again. */
static int referenced_since(struct catalog *c, const char *machine_id, const char *pack,
			    int64_t mark, struct err *e)
{
	struct pack_obj *objs = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	int found = 0, r = SQLITE_DONE;

	if (pack_objects(c, machine_id, pack, &objs, &n, e) != 0)
		return -1;
	if ((st = prep(c, "SELECT ids FROM point_refs WHERE machine_id = ? AND seq > ?", e)) == NULL) {
		free(objs);
		return -1;
	}
	bind_text(st, 1, machine_id);
	sqlite3_bind_int64(st, 2, mark);
	while (!found && (r = sqlite3_step(st)) == SQLITE_ROW) {
		const struct objid *ids = sqlite3_column_blob(st, 0);
		size_t m = (size_t)sqlite3_column_bytes(st, 0) / sizeof(struct objid);

		for (size_t i = 0; i < n && !found; i++)
			found = bsearch(&objs[i].id, ids, m, sizeof(*ids),
					(int (*)(const void *, const void *))objid_cmp) != NULL;
	}
	/* A read that failed half-way is no "not referenced": that would drop
	 * what a new point needs. */
	if (!found && r != SQLITE_DONE)
		found = db_fail(c, e, "read");
	sqlite3_finalize(st);
	free(objs);
	return found;
}

/* Within a transaction: drop what is left of PACK (its object rows and its
 * row) and doom its file, refusing (ERR_LOCKED) if a point committed since
 * MARK references any object left there: a commit without a lease may have
 * made one live since the collector looked. */
static int drop_pack(struct catalog *c, const char *machine_id, const char *pack, int64_t mark,
		     const char *region, const char *pair, int64_t after, struct err *e)
{
	int live = referenced_since(c, machine_id, pack, mark, e);

	if (live != 0)
		return live < 0 ? -1 : err_set(e, ERR_LOCKED, "an object of the pack became live");
	if (run3(c, "DELETE FROM objects WHERE machine_id = ?1 AND pack_id = ?2", machine_id, pack,
		 0, e) ||
	    run3(c, "DELETE FROM packs WHERE id = ?2 AND machine_id = ?1", machine_id, pack, 0, e))
		return -1;
	return doom(c, machine_id, pack, region, pair, after, e);
}

int catalog_gc_doom(struct catalog *c, const char *machine_id, const char *pack,
		    const char *region, const char *pair, int64_t after, struct err *e)
{
	int rc;

	LOCK(c);
	rc = doom(c, machine_id, pack, region, pair, after, e);
	UNLOCK(c);
	return rc;
}

int catalog_gc_drop(struct catalog *c, const char *machine_id, const char *pack, int64_t mark,
		    const char *region, const char *pair, int64_t now, int64_t after,
		    struct err *e)
{
	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto fail;
	if (not_leased(c, machine_id, now, e) ||
	    drop_pack(c, machine_id, pack, mark, region, pair, after, e) || exec(c, "COMMIT;", e))
		goto rollback;
	UNLOCK(c);
	return 0;
rollback:
	exec(c, "ROLLBACK;", NULL);
fail:
	UNLOCK(c);
	return -1;
}

int catalog_gc_move(struct catalog *c, const char *machine_id, const char *old_pack,
		    const char *new_pack, uint64_t new_size, const struct pack_entry *ents,
		    size_t n, int64_t mark, const char *region, const char *pair, int64_t now,
		    int64_t after, struct err *e)
{
	sqlite3_stmt *st = NULL;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto fail;
	if (not_leased(c, machine_id, now, e))
		goto rollback;
	if ((st = prep(c, "INSERT INTO packs (id, machine_id, size, created) VALUES (?, ?, ?, ?)",
		       e)) == NULL)
		goto rollback;
	bind_text(st, 1, new_pack);
	bind_text(st, 2, machine_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)new_size);
	sqlite3_bind_int64(st, 4, now);
	if (step_done(c, st, NULL, e))
		goto rollback;
	sqlite3_finalize(st);
	if ((st = prep(c, "UPDATE objects SET pack_id = ?, offset = ?, length = ?"
			  " WHERE machine_id = ? AND id = ? AND pack_id = ?", e)) == NULL)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		char hex[OBJID_HEX_LEN + 1];

		objid_to_hex(&ents[i].id, hex);
		sqlite3_reset(st);
		bind_text(st, 1, new_pack);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)ents[i].offset);
		sqlite3_bind_int64(st, 3, ents[i].length);
		bind_text(st, 4, machine_id);
		bind_text(st, 5, hex);
		bind_text(st, 6, old_pack);
		if (step_done(c, st, NULL, e))
			goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (drop_pack(c, machine_id, old_pack, mark, region, pair, after, e) ||
	    run3(c, "DELETE FROM doomed WHERE pack_id = ?1", new_pack, NULL, 0, e) ||
	    exec(c, "COMMIT;", e))
		goto rollback;
	UNLOCK(c);
	return 0;
rollback:
	sqlite3_finalize(st);
	exec(c, "ROLLBACK;", NULL);
fail:
	UNLOCK(c);
	return -1;
}

int catalog_doomed_due(struct catalog *c, int64_t now, struct doomed **out, size_t *n,
		       struct err *e)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	LOCK(c);
	if ((st = prep(c, "SELECT pack_id, region, pair FROM doomed WHERE after <= ?", e))) {
		sqlite3_bind_int64(st, 1, now);
		rc = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (grow((void **)out, &cap, *n, sizeof(**out), e)) {
				rc = -1;
				break;
			}
			copy_col((*out)[*n].pack, 65, st, 0);
			copy_col((*out)[*n].region, 65, st, 1);
			copy_col((*out)[*n].pair, 65, st, 2);
			(*n)++;
		}
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}

int catalog_doomed_claim(struct catalog *c, const char *pack, struct err *e)
{
	int64_t listed, doomed;
	int rc = -1;

	LOCK(c);
	if (exec(c, "BEGIN IMMEDIATE;", e))
		goto out;
	if ((listed = scalar(c, "SELECT count(*) FROM packs WHERE id = ?1", pack, NULL, 0, e)) < 0 ||
	    (doomed = scalar(c, "SELECT count(*) FROM doomed WHERE pack_id = ?1", pack, NULL, 0,
			     e)) < 0)
		goto rollback;
	/* Listed again (catalog_pack_add cancels the doom itself; this catches
	 * a row doomed by other means): keep the file, forget the doom. */
	if (listed > 0 && run3(c, "DELETE FROM doomed WHERE pack_id = ?1", pack, NULL, 0, e) != 0)
		goto rollback;
	if (exec(c, "COMMIT;", e))
		goto rollback;
	rc = listed == 0 && doomed > 0;
	goto out;
rollback:
	exec(c, "ROLLBACK;", NULL);
out:
	UNLOCK(c);
	return rc;
}

int catalog_doomed_done(struct catalog *c, const char *pack, struct err *e)
{
	int rc;

	LOCK(c);
	rc = run3(c, "DELETE FROM doomed WHERE pack_id = ?1", pack, NULL, 0, e);
	UNLOCK(c);
	return rc;
}

/* ---- missed backups ---- */

int64_t catalog_policy_updated(struct catalog *c, const char *machine_id, struct err *e)
{
	int64_t v;

	LOCK(c);
	v = scalar(c, "SELECT coalesce(max(updated), 0) FROM policies WHERE machine_id = ?1",
		   machine_id, NULL, 0, e);
	UNLOCK(c);
	return v;
}

int catalog_job_since(struct catalog *c, const char *machine_id, int64_t since, struct err *e)
{
	int64_t v;

	LOCK(c);
	v = scalar(c, "SELECT count(*) FROM jobs WHERE machine_id = ?1 AND kind = 'backup'"
		      " AND started >= ?3", machine_id, NULL, since, e);
	UNLOCK(c);
	return v < 0 ? -1 : v > 0;
}

int catalog_alert_since(struct catalog *c, const char *subscription, const char *kind,
			const char *target, int64_t since, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "SELECT count(*) FROM alerts WHERE subscription = ? AND kind = ?"
			  " AND target = ? AND time >= ?", e))) {
		bind_text(st, 1, subscription);
		bind_text(st, 2, kind);
		bind_text(st, 3, target);
		sqlite3_bind_int64(st, 4, since);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = sqlite3_column_int64(st, 0) > 0;
		else
			db_fail(c, e, "read");
		sqlite3_finalize(st);
	}
	UNLOCK(c);
	return rc;
}
