/*
 * catalog_sqlite.c: the catalog in one SQLite file, the backend "sqlite"
 * of the contract in catalog.h (catalog_sqlite_ops, at the end).
 *
 * One connection, WAL mode, a busy timeout, and a mutex around every
 * member: SQLite serialises writers anyway, and the mutex makes each
 * member's read-check-write sequence one transaction that no other thread
 * can interleave. The schema is versioned in PRAGMA user_version; each
 * migration runs in its own transaction, so a crash leaves the previous
 * version intact.
 *
 * Each SQL text is compiled once and its statement kept for the
 * connection's life (prep hands it out, done resets it).
 *
 * Invariant: every read steps through step_row, which turns a failed step
 * into ERR_IO, so no loop can take a failure for the end of the rows; lists
 * are read by read_list (whole, or an error); every write transaction runs
 * through txn, which rolls back when its body or the commit fails.
 */
#include "buf.h"
#include "bytes.h"
#include "catalog.h"
#include "catalog_sqlite.h"
#include "keys.h"
#include "pack.h"

#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

/* How many prepared statements a connection keeps: more than the catalog's
 * distinct SQL texts, so that every one of them is compiled once. */
#define STMT_CACHE 256

struct cached_stmt {
	sqlite3_stmt *st; /* NULL: a free slot */
	bool busy;        /* handed out by prep, not yet given back to done */
};

struct catalog_backend {
	sqlite3 *db;
	pthread_mutex_t mu;
	const struct catalog_rules *rules; /* the product's, from above (catalog.h) */
	struct cached_stmt stmts[STMT_CACHE]; /* by hash of the SQL text, probed */
	int64_t nonces_pruned;  /* when nonce_use last pruned expired nonces */
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
	/* 14: failure limits shared by every service on the catalog (sign-in
	 * and registration), one row per key that has not refilled */
	"CREATE TABLE limits (key TEXT PRIMARY KEY, tat INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX limits_tat ON limits (tat);",
	/* 15: the collector's marks shared by every service on the catalog:
	 * uploads hold a pack's files (holds), a pack being deleted is marked
	 * (doomed.sweeping), one service at a time does a duty (duties) */
	"CREATE TABLE holds (pack_id TEXT NOT NULL, holder TEXT NOT NULL, expires INTEGER NOT NULL,"
	"  PRIMARY KEY (pack_id, holder)) WITHOUT ROWID;"
	"ALTER TABLE doomed ADD COLUMN sweeping INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE duties (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL);",
	/* 16: immutable vaults (enum immutability) and each point's
	 * retain-until time (0: retention has not evaluated it yet) */
	"ALTER TABLE vaults ADD COLUMN immutability INTEGER NOT NULL DEFAULT 0"
	"  CHECK (immutability BETWEEN 0 AND 2);"
	"ALTER TABLE points ADD COLUMN retain_until INTEGER NOT NULL DEFAULT 0;",
	/* 17: users' roles (the users before them were the owner), disabled
	 * users, one-time codes (invitations, password resets), second
	 * factors; the role and maker of API tokens (tokens made before roles
	 * are an owner's); a subscription's rule that every user has a
	 * second factor */
	"ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';"
	"ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN code_hash TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE users ADD COLUMN code_expires INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE users ADD COLUMN totp_step INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';"
	"ALTER TABLE api_tokens ADD COLUMN maker TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE subscriptions ADD COLUMN require_totp INTEGER NOT NULL DEFAULT 0;",
	/* 18: the GRS replication queue (struct replica): a GRS vault's packs
	 * still to copy to the paired region's store */
	"CREATE TABLE replicas (pack_id TEXT PRIMARY KEY, vault_id TEXT NOT NULL,"
	"  src TEXT NOT NULL, dst TEXT NOT NULL, size INTEGER NOT NULL, enqueued INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL,"
	"  error TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX replicas_due ON replicas (next_try);"
	"CREATE INDEX replicas_vault ON replicas (vault_id, enqueued);",
	/* 19: multi-user approval: a subscription's guard (a user id, '' for
	 * none) and how long its requests wait; the requests (struct approval) */
	"ALTER TABLE subscriptions ADD COLUMN guard TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE subscriptions ADD COLUMN approval_hours INTEGER NOT NULL DEFAULT 24;"
	"CREATE TABLE approvals (id TEXT PRIMARY KEY, subscription TEXT NOT NULL REFERENCES subscriptions(id),"
	"  operation TEXT NOT NULL, summary TEXT NOT NULL, args TEXT NOT NULL, requester TEXT NOT NULL,"
	"  requested_by TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending', decided_by TEXT NOT NULL DEFAULT '',"
	"  decided INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX approvals_by_subscription ON approvals (subscription, created);",
};

static int migrate_refs(struct catalog_backend *c, struct err *e);
static int run3(struct catalog_backend *c, const char *sql, const char *a, const char *b, int64_t i,
		struct err *e);
static int64_t scalar(struct catalog_backend *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e);
static int64_t update(struct catalog_backend *c, const char *sql, int64_t nval, int has_n,
		      const char *a, const char *b, struct err *e);
static void bind3(sqlite3_stmt *st, const char *a, const char *b, int64_t i);

/* Work a migration does beyond its SQL, run in the same transaction. */
static int (*const migration_code[])(struct catalog_backend *, struct err *) = {
	[8] = migrate_refs,
};

static int db_fail(struct catalog_backend *c, struct err *e, const char *what)
{
	int full = (sqlite3_extended_errcode(c->db) & 0xff) == SQLITE_FULL;

	return err_set(e, full ? ERR_FULL : ERR_IO, "catalog: %s: %s", what, sqlite3_errmsg(c->db));
}

static int exec(struct catalog_backend *c, const char *sql, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, ERR_IO, "catalog: %s", msg ? msg : "statement failed");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * A prepared statement for SQL; the caller binds its arguments and gives it
 * back with done. Why a cache: compiling the SQL was a tenth of the
 * service's time under a restore's thousands of small requests. Each SQL
 * text (all are literals, so there are few) is compiled once per connection
 * and kept (SQLITE_PREPARE_PERSISTENT); a statement already handed out (a
 * function that runs the same SQL twice at once) or one that finds the
 * table full is compiled afresh and finalized by done. Called under the
 * mutex, or while opening, like every use of the connection. A statement
 * whose schema changed (another service migrated the file) is recompiled
 * by sqlite3_step itself; a failure to do so is the step's error.
 */
static sqlite3_stmt *prep(struct catalog_backend *c, const char *sql, struct err *e)
{
	uint32_t h = str_hash(sql);
	struct cached_stmt *slot = NULL;
	sqlite3_stmt *st = NULL;

	for (uint32_t i = 0; i < STMT_CACHE; i++) {
		struct cached_stmt *cs = &c->stmts[(h + i) % STMT_CACHE];

		if (cs->st == NULL) {
			slot = cs;
			break;
		}
		if (strcmp(sqlite3_sql(cs->st), sql) == 0) {
			if (cs->busy)
				break;
			cs->busy = true;
			return cs->st;
		}
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, slot ? SQLITE_PREPARE_PERSISTENT : 0, &st,
			       NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		db_fail(c, e, "prepare");
		return NULL;
	}
	if (slot) {
		slot->st = st;
		slot->busy = true;
	}
	return st;
}

/* Give back a statement of prep (NULL: nothing): reset, so that it holds no
 * read transaction open, and its arguments cleared, so that it keeps no
 * pointer to the caller's memory; or finalized when it is not cached. */
static void done(struct catalog_backend *c, sqlite3_stmt *st)
{
	uint32_t h;

	if (st == NULL)
		return;
	h = str_hash(sqlite3_sql(st));
	for (uint32_t i = 0; i < STMT_CACHE; i++) {
		struct cached_stmt *cs = &c->stmts[(h + i) % STMT_CACHE];

		if (cs->st == NULL)
			break;
		if (cs->st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			cs->busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Run one statement of SQL (no rows) through the cache: the transactions'
 * BEGIN, COMMIT and ROLLBACK. 0, or -1 with ERR_IO. */
static int exec1(struct catalog_backend *c, const char *sql, struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(c, e, sql);
	done(c, st);
	return rc;
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
static int step_done(struct catalog_backend *c, sqlite3_stmt *st, const char *exists_msg,
		     struct err *e)
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

/* Step ST once: 1 for a row, 0 at the end, -1 with ERR_IO when the step
 * fails. Every read goes through here, so that no caller can take a failed
 * step for the end of the rows. */
static int step_row(struct catalog_backend *c, sqlite3_stmt *st, struct err *e)
{
	int r = sqlite3_step(st);

	if (r == SQLITE_ROW)
		return 1;
	if (r == SQLITE_DONE)
		return 0;
	return db_fail(c, e, "read");
}

/* Many lookups in one read transaction: one snapshot of the catalog, and
 * its locks taken once rather than once per lookup (in an unchanged backup
 * the agent asks about every object it has stored). Called under LOCK. */
static int reads_begin(struct catalog_backend *c, struct err *e)
{
	return exec1(c, "BEGIN", e);
}

static void reads_end(struct catalog_backend *c)
{
	struct err ignored;

	/* A read transaction commits nothing; if COMMIT fails, end it anyway. */
	if (exec1(c, "COMMIT", &ignored) != 0)
		exec1(c, "ROLLBACK", &ignored);
}

/* Called for each row of a read: 0 to go on, 1 to stop, -1 with E set. */
typedef int (*row_fn)(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e);

/* Every row of ST to FN, in order: 0 when all were read, 1 when FN
 * stopped, -1 when FN or a step failed. */
static int each_row(struct catalog_backend *c, sqlite3_stmt *st, row_fn fn, void *arg,
		    struct err *e)
{
	int r;

	while ((r = step_row(c, st, e)) == 1)
		if ((r = fn(c, st, arg, e)) != 0)
			return r;
	return r;
}

/* Fill one element of a list from the current row: 0, or -1 with E set
 * (having kept nothing it allocated). */
typedef int (*fill_fn)(sqlite3_stmt *st, void *elem, struct err *e);

struct list {
	void *v;
	size_t n, cap, size;
	fill_fn fill;
};

static int list_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	struct list *l = arg;
	char *elem;

	(void)c;
	if (grow(&l->v, &l->cap, l->n, l->size, e) != 0)
		return -1;
	elem = (char *)l->v + l->n * l->size;
	memset(elem, 0, l->size);
	if (l->fill(st, elem, e) != 0)
		return -1;
	l->n++;
	return 0;
}

/* Every row of ST as an element of SIZE bytes filled by FILL, in a new
 * array *OUT of *N (caller frees; NULL and 0 for no row). 0; or -1 with E
 * set and *OUT NULL, *N 0: a list is whole or not at all. DROP (NULL:
 * free) releases a part-built array. */
static int read_list(struct catalog_backend *c, sqlite3_stmt *st, size_t size, fill_fn fill,
		     void (*drop)(void *, size_t), void **out, size_t *n, struct err *e)
{
	struct list l = { .size = size, .fill = fill };
	int rc = each_row(c, st, list_row, &l, e);

	*out = NULL;
	*n = 0;
	if (rc < 0) {
		if (drop)
			drop(l.v, l.n);
		else
			free(l.v);
		return -1;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* The body of a write transaction: >= 0 to commit, -1 with E set. */
typedef int (*txn_fn)(struct catalog_backend *c, void *arg, struct err *e);

/* Run BODY in one write transaction: BEGIN IMMEDIATE (so no other writer,
 * of this process or another, comes between its reads and its writes),
 * then COMMIT; or ROLLBACK when BODY or the commit fails, so a failure
 * changes nothing. BODY's value, or -1. */
static int txn(struct catalog_backend *c, txn_fn body, void *arg, struct err *e)
{
	int rc;

	if (exec1(c, "BEGIN IMMEDIATE", e))
		return -1;
	rc = body(c, arg, e);
	if (rc >= 0 && exec1(c, "COMMIT", e) == 0)
		return rc;
	exec1(c, "ROLLBACK", NULL);
	return -1;
}

/* Migration 9: each point's rows of point_objects become its blob in
 * point_refs (points in commit order), then point_objects goes. */
static int migrate_refs(struct catalog_backend *c, struct err *e)
{
	sqlite3_stmt *pts = prep(c, "SELECT id, machine_id FROM points ORDER BY created, rowid", e);
	sqlite3_stmt *objs = prep(c, "SELECT object_id FROM point_objects WHERE point_id = ?"
				     " ORDER BY object_id", e);
	sqlite3_stmt *ins = prep(c, "INSERT INTO point_refs (point_id, machine_id, ids)"
				    " VALUES (?, ?, ?)", e);
	struct objid *v = NULL;
	size_t cap = 0;
	int rc = pts && objs && ins ? 0 : -1, r = 0, ro = 0;

	while (rc == 0 && (r = step_row(c, pts, e)) == 1) {
		size_t n = 0;

		sqlite3_reset(objs);
		sqlite3_bind_value(objs, 1, sqlite3_column_value(pts, 0));
		while (rc == 0 && (ro = step_row(c, objs, e)) == 1) {
			const char *hex = (const char *)sqlite3_column_text(objs, 0);

			if ((rc = grow((void **)&v, &cap, n, sizeof(*v), e)) == 0 &&
			    (rc = objid_from_hex(hex ? hex : "", &v[n], e)) == 0)
				n++;
		}
		if (rc || ro < 0) {
			rc = -1;
			break;
		}
		sqlite3_reset(ins);
		sqlite3_bind_value(ins, 1, sqlite3_column_value(pts, 0));
		sqlite3_bind_value(ins, 2, sqlite3_column_value(pts, 1));
		sqlite3_bind_blob64(ins, 3, v ? (const void *)v : "", (sqlite3_uint64)(n * sizeof(*v)),
				    SQLITE_STATIC);
		rc = step_done(c, ins, NULL, e);
	}
	if (r < 0)
		rc = -1;
	done(c, pts);
	done(c, objs);
	done(c, ins);
	free(v);
	return rc ? rc : exec(c, "DROP TABLE point_objects;", e);
}

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Within a transaction: bring the schema from version *ARG to the next. */
static int migrate_one(struct catalog_backend *c, void *arg, struct err *e)
{
	int v = *(int *)arg;
	char bump[64];

	snprintf(bump, sizeof(bump), "PRAGMA user_version=%d;", v + 1);
	if (exec(c, migrations[v], e) ||
	    (v < (int)(sizeof(migration_code) / sizeof(migration_code[0])) &&
	     migration_code[v] && migration_code[v](c, e)) ||
	    exec(c, bump, e))
		return -1;
	return 0;
}

static void sq_close(struct catalog_backend *c);

/* Open PATH through the SQLite VFS named VFS (NULL: the default). */
static struct catalog_backend *sq_open_vfs(const char *path, const char *vfs,
					   const struct catalog_rules *rules, struct err *e)
{
	struct catalog_backend *c = calloc(1, sizeof(*c));
	sqlite3_stmt *st = NULL;
	int version = 0, r;

	if (c == NULL || sodium_init() < 0) {
		free(c);
		err_oom(e);
		return NULL;
	}
	c->rules = rules;
	pthread_mutex_init(&c->mu, NULL);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, vfs) != SQLITE_OK) {
		err_set(e, ERR_IO, "catalog %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 10000);
	/* secure_delete=FAST: deleted rows are still zeroed on the pages that
	 * held them, but freed overflow pages (the long reference lists of
	 * purged points) are not rewritten; Debian builds SQLite with full
	 * secure delete, which made purging 90 points take a second under the
	 * catalog's mutex instead of a tenth. */
	/* cache_size: 16 MiB of pages, not SQLite's 2 MiB. Why: a pack's
	 * ~2,000 objects land at random places of the objects table and its
	 * index, a couple of pages each, and the small cache spilled the
	 * transaction's dirty pages to the log before its commit (15% of the
	 * service's CPU in an initial backup). A fixed bound: the cache fills
	 * up to it as the catalog grows and no further, so memory stays flat
	 * (bench/service-memory). 32 MiB, or a cache_spill of 32 MiB, held
	 * more memory for no gain that could be measured. */
	if (exec(c, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;"
		    " PRAGMA secure_delete=FAST; PRAGMA cache_size=-16384;", e))
		goto fail;
	if ((st = prep(c, "PRAGMA user_version", e)) == NULL)
		goto fail;
	if ((r = step_row(c, st, e)) == 1)
		version = sqlite3_column_int(st, 0);
	done(c, st);
	if (r < 0)
		goto fail;
	if (version > N_MIGRATIONS) {
		err_set(e, ERR_UNSUPPORTED, "catalog %s has schema version %d, newer than this "
			"arcad knows; update arcad", path, version);
		goto fail;
	}
	for (int v = version; v < N_MIGRATIONS; v++) {
		if (txn(c, migrate_one, &v, e) < 0) {
			err_prefix(e, "migrating the catalog to version %d: ", v + 1);
			goto fail;
		}
	}
	return c;
fail:
	sq_close(c);
	return NULL;
}

static struct catalog_backend *sq_open(const char *path, const struct catalog_rules *rules,
				       struct err *e)
{
	return sq_open_vfs(path, NULL, rules, e);
}

struct catalog *catalog_sqlite_open(const char *path, const char *vfs, struct err *e)
{
	struct catalog_backend *b = sq_open_vfs(path, vfs, &catalog_rules, e);

	return b ? catalog_of(&catalog_sqlite_ops, b, e) : NULL;
}

static void sq_close(struct catalog_backend *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(c->stmts[i].st);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

#define LOCK(c) pthread_mutex_lock(&(c)->mu)
#define UNLOCK(c) pthread_mutex_unlock(&(c)->mu)

static int sq_subscription_create(struct catalog_backend *c, const char *name, int64_t now,
				  catalog_id id, struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_subscription_first(struct catalog_backend *c, catalog_id id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT id FROM subscriptions ORDER BY created, rowid LIMIT 1", e))) {
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(id, sizeof(catalog_id), st, 0);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "the catalog has no subscription: run arcad init");
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_user_create(struct catalog_backend *c, const char *subscription, const char *name,
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_user_find(struct catalog_backend *c, const char *name, char *hash, size_t hashlen,
			struct principal *p, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT u.id, u.subscription, u.password_hash, u.role, u.disabled,"
			  " u.totp_secret != '', s.require_totp FROM users u JOIN subscriptions s"
			  " ON s.id = u.subscription WHERE u.name = ?", e))) {
		bind_text(st, 1, name);
		if ((r = step_row(c, st, e)) == 1) {
			memset(p, 0, sizeof(*p));
			copy_col(p->actor, sizeof(p->actor), st, 0);
			copy_col(p->user_id, sizeof(p->user_id), st, 0);
			copy_col(p->subscription, sizeof(p->subscription), st, 1);
			copy_col(hash, hashlen, st, 2);
			copy_col(p->role, sizeof(p->role), st, 3);
			p->disabled = sqlite3_column_int(st, 4) != 0;
			p->totp = sqlite3_column_int(st, 5) != 0;
			p->totp_required = sqlite3_column_int(st, 6) != 0;
			snprintf(p->name, sizeof(p->name), "%s", name);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no user %s", name);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_session_create(struct catalog_backend *c, const char *token_hash, const char *user_id,
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_session_delete(struct catalog_backend *c, const char *token_hash, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "DELETE FROM sessions WHERE token_hash = ?", e))) {
		bind_text(st, 1, token_hash);
		rc = step_done(c, st, NULL, e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_token_create(struct catalog_backend *c, const struct principal *p, const char *name,
			   const char *token_hash, int64_t now, catalog_id id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO api_tokens (id, subscription, name, token_hash, created, role,"
			  " maker) VALUES (?, ?, ?, ?, ?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, p->subscription);
		bind_text(st, 3, name);
		bind_text(st, 4, token_hash);
		sqlite3_bind_int64(st, 5, now);
		bind_text(st, 6, p->role[0] ? p->role : CATALOG_OWNER);
		bind_text(st, 7, p->user_id);
		rc = step_done(c, st, "an API token of that name exists already", e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int token_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct api_token *t = elem;

	(void)e;
	copy_col(t->id, sizeof(t->id), st, 0);
	copy_col(t->name, sizeof(t->name), st, 1);
	t->created = sqlite3_column_int64(st, 2);
	t->last_used = sqlite3_column_int64(st, 3);
	copy_col(t->role, sizeof(t->role), st, 4);
	copy_col(t->maker, sizeof(t->maker), st, 5);
	return 0;
}

/* Read the rows of SQL, prepared with text ?1 = A (when not NULL) and
 * integer ?2 = I (when the statement has it), as a list (read_list). */
static int list_of(struct catalog_backend *c, const char *sql, const char *a, int64_t i,
		   size_t size, fill_fn fill, void (*drop)(void *, size_t), void **out, size_t *n,
		   struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*out = NULL;
	*n = 0;
	LOCK(c);
	if ((st = prep(c, sql, e))) {
		if (a)
			bind_text(st, 1, a);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sqlite3_bind_int64(st, 2, i);
		rc = read_list(c, st, size, fill, drop, out, n, e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_token_list(struct catalog_backend *c, const char *subscription,
			 struct api_token **out, size_t *n, struct err *e)
{
	return list_of(c, "SELECT t.id, t.name, t.created, t.last_used, t.role, coalesce(u.name, '')"
		       " FROM api_tokens t LEFT JOIN users u ON u.id = t.maker"
		       " WHERE t.subscription = ?1 ORDER BY t.created, t.name", subscription, 0, sizeof(**out), token_fill, NULL,
		       (void **)out, n, e);
}

static int sq_token_delete(struct catalog_backend *c, const char *subscription, const char *id,
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_authenticate(struct catalog_backend *c, const char *token_hash, int64_t now,
			   struct principal *p, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	memset(p, 0, sizeof(*p));
	LOCK(c);
	if ((st = prep(c, "SELECT u.id, u.subscription, u.name, u.role, u.disabled, u.totp_secret != '',"
			  " s.require_totp FROM sessions x JOIN users u ON u.id = x.user_id"
			  " JOIN subscriptions s ON s.id = u.subscription"
			  " WHERE x.token_hash = ? AND x.expires > ?", e)) == NULL)
		goto out;
	bind_text(st, 1, token_hash);
	sqlite3_bind_int64(st, 2, now);
	if ((r = step_row(c, st, e)) < 0)
		goto out;
	if (r == 1) {
		copy_col(p->actor, sizeof(p->actor), st, 0);
		copy_col(p->user_id, sizeof(p->user_id), st, 0);
		copy_col(p->subscription, sizeof(p->subscription), st, 1);
		copy_col(p->name, sizeof(p->name), st, 2);
		copy_col(p->role, sizeof(p->role), st, 3);
		p->totp = sqlite3_column_int(st, 5) != 0;
		p->totp_required = sqlite3_column_int(st, 6) != 0;
		if (sqlite3_column_int(st, 4) != 0)
			err_set(e, ERR_DENIED, "user %s is disabled: an owner or security admin can "
				"enable it again", p->name);
		else
			rc = 0;
		goto out;
	}
	done(c, st);
	/* A token made before roles (maker '') is an owner's. */
	if ((st = prep(c, "SELECT t.id, t.subscription, t.name, t.role, t.maker,"
			  " coalesce(u.role, CASE WHEN t.maker = '' THEN 'owner' ELSE '' END),"
			  " coalesce(u.disabled, 0), s.require_totp FROM api_tokens t"
			  " JOIN subscriptions s ON s.id = t.subscription"
			  " LEFT JOIN users u ON u.id = t.maker WHERE t.token_hash = ?", e)) == NULL)
		goto out;
	bind_text(st, 1, token_hash);
	if ((r = step_row(c, st, e)) < 0)
		goto out;
	if (r == 1) {
		char name[65];

		copy_col(p->actor, sizeof(p->actor), st, 0);
		copy_col(p->subscription, sizeof(p->subscription), st, 1);
		copy_col(name, sizeof(name), st, 2);
		copy_col(p->role, sizeof(p->role), st, 3);
		copy_col(p->user_id, sizeof(p->user_id), st, 4);
		copy_col(p->maker_role, sizeof(p->maker_role), st, 5);
		p->totp_required = sqlite3_column_int(st, 7) != 0;
		snprintf(p->name, sizeof(p->name), "token:%s", name);
		p->is_token = true;
		if (sqlite3_column_int(st, 6) != 0) {
			err_set(e, ERR_DENIED, "API token %s was made by a user who is disabled now: "
				"it works again when that user is enabled", name);
			goto out;
		}
		done(c, st);
		/* Why fail on it: a token's last use is what its owner checks
		 * before revoking it; a use that cannot be recorded is refused. */
		st = prep(c, "UPDATE api_tokens SET last_used = ? WHERE id = ?", e);
		if (st) {
			sqlite3_bind_int64(st, 1, now);
			bind_text(st, 2, p->actor);
			rc = step_done(c, st, NULL, e);
		}
		goto out;
	}
	err_set(e, ERR_DENIED, "not signed in: sign in again, or check the API token");
out:
	if (rc != 0)
		memset(p, 0, sizeof(*p));
	done(c, st);
	UNLOCK(c);
	return rc;
}

/* ---- users' roles, invitations and second factors ---- */

static int user_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct user *u = elem;

	(void)e;
	copy_col(u->id, sizeof(u->id), st, 0);
	copy_col(u->name, sizeof(u->name), st, 1);
	copy_col(u->role, sizeof(u->role), st, 2);
	u->disabled = sqlite3_column_int(st, 3) != 0;
	u->totp = sqlite3_column_int(st, 4) != 0;
	u->created = sqlite3_column_int64(st, 5);
	u->invite_expires = sqlite3_column_int64(st, 6);
	return 0;
}

static int sq_user_list(struct catalog_backend *c, const char *subscription, struct user **out,
			size_t *n, struct err *e)
{
	return list_of(c, "SELECT id, name, role, disabled, totp_secret != '', created, code_expires"
		       " FROM users WHERE subscription = ?1 ORDER BY name", subscription, 0,
		       sizeof(**out), user_fill, NULL, (void **)out, n, e);
}

static int sq_user_invite(struct catalog_backend *c, const char *subscription, const char *name,
			  const char *role, const char *code_hash, int64_t expires, int64_t now,
			  struct err *e)
{
	sqlite3_stmt *st;
	catalog_id id;
	int rc = -1;

	catalog_new_id(id);
	LOCK(c);
	if ((st = prep(c, "INSERT INTO users (id, subscription, name, password_hash, created, role,"
			  " code_hash, code_expires) VALUES (?, ?, ?, '', ?, ?, ?, ?)", e))) {
		bind_text(st, 1, id);
		bind_text(st, 2, subscription);
		bind_text(st, 3, name);
		sqlite3_bind_int64(st, 4, now);
		bind_text(st, 5, role);
		bind_text(st, 6, code_hash);
		sqlite3_bind_int64(st, 7, expires);
		rc = step_done(c, st, "a user of that name exists already", e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

struct accept {
	const char *name, *code_hash, *password_hash;
	int64_t now;
};

static int user_accept(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct accept *a = arg;
	sqlite3_stmt *st = prep(c, "UPDATE users SET password_hash = ?3, code_hash = '',"
			       " code_expires = 0 WHERE name = ?1 AND code_hash = ?2 AND"
			       " code_hash != '' AND code_expires > ?4", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a->name);
	bind_text(st, 2, a->code_hash);
	bind_text(st, 3, a->password_hash);
	sqlite3_bind_int64(st, 4, a->now);
	rc = step_done(c, st, NULL, e);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_DENIED, "this one-time code is wrong, used already or expired: "
			     "ask an owner or security admin for a new one");
	done(c, st);
	return rc;
}

static int sq_user_accept(struct catalog_backend *c, const char *name, const char *code_hash,
			  const char *password_hash, int64_t now, struct err *e)
{
	struct accept a = { name, code_hash, password_hash, now };
	int rc;

	LOCK(c);
	rc = txn(c, user_accept, &a, e);
	UNLOCK(c);
	return rc;
}

struct change {
	const char *subscription, *name;
	const struct user_change *ch;
};

static int user_change(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct change *a = arg;
	const struct user_change *ch = a->ch;
	sqlite3_stmt *st = prep(c, "SELECT id, role FROM users WHERE subscription = ? AND name = ?", e);
	char role[CATALOG_ROLE_LEN];
	catalog_id id;
	int r, rc = 0;
	int64_t owners, guards;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a->subscription);
	bind_text(st, 2, a->name);
	if ((r = step_row(c, st, e)) == 1) {
		copy_col(id, sizeof(id), st, 0);
		copy_col(role, sizeof(role), st, 1);
	}
	done(c, st);
	if (r < 0)
		return -1;
	if (r == 0)
		return err_set(e, ERR_NOT_FOUND, "no user %s in this subscription", a->name);
	/* Why: a reset, a new role or a removal of the guard would hand the
	 * guard's approvals to whoever makes it. */
	if ((guards = scalar(c, "SELECT count(*) FROM subscriptions WHERE guard = ?1", id, NULL, 0,
			     e)) < 0)
		return -1;
	if (guards)
		return err_set(e, ERR_LOCKED, "%s is the subscription's guard: change the guard first "
			       "(a request the guard approves)", a->name);
	if (!ch->may_touch_owner && (strcmp(role, CATALOG_OWNER) == 0 ||
				     (ch->what == USER_ROLE && strcmp(ch->role, CATALOG_OWNER) == 0)))
		return err_set(e, ERR_DENIED, "only an owner may change an owner or make one");
	switch (ch->what) {
	case USER_ROLE:
		rc = run3(c, "UPDATE users SET role = ?2 WHERE id = ?1", id, ch->role, 0, e);
		break;
	case USER_DISABLE:
		rc = run3(c, "UPDATE users SET disabled = 1 WHERE id = ?1", id, NULL, 0, e) ||
		     run3(c, "DELETE FROM sessions WHERE user_id = ?1", id, NULL, 0, e);
		break;
	case USER_ENABLE:
		rc = run3(c, "UPDATE users SET disabled = 0 WHERE id = ?1", id, NULL, 0, e);
		break;
	case USER_REMOVE:
		rc = run3(c, "DELETE FROM sessions WHERE user_id = ?1", id, NULL, 0, e) ||
		     run3(c, "DELETE FROM api_tokens WHERE maker = ?1", id, NULL, 0, e) ||
		     run3(c, "DELETE FROM pins WHERE user_id = ?1", id, NULL, 0, e) ||
		     run3(c, "DELETE FROM users WHERE id = ?1", id, NULL, 0, e);
		break;
	case USER_RESET:
		rc = run3(c, "UPDATE users SET password_hash = '', code_hash = ?2, code_expires = ?3,"
			  " totp_secret = '', totp_pending = '', totp_step = -1 WHERE id = ?1", id,
			  ch->code_hash, ch->expires, e) ||
		     run3(c, "DELETE FROM sessions WHERE user_id = ?1", id, NULL, 0, e);
		break;
	}
	if (rc)
		return -1;
	owners = scalar(c, "SELECT count(*) FROM users WHERE subscription = ?1 AND role = 'owner'"
			" AND disabled = 0 AND password_hash != ''", a->subscription, NULL, 0, e);
	if (owners < 0)
		return -1;
	if (owners == 0)
		return err_set(e, ERR_LOCKED, "%s is the subscription's last owner: make another user "
			       "owner first (one enabled owner always remains)", a->name);
	return 0;
}

static int sq_user_change(struct catalog_backend *c, const char *subscription, const char *name,
			  const struct user_change *ch, struct err *e)
{
	struct change a = { subscription, name, ch };
	int rc;

	LOCK(c);
	rc = txn(c, user_change, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_totp_get(struct catalog_backend *c, const char *user_id, char *secret, char *pending,
		       int64_t *last_step, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT totp_secret, totp_pending, totp_step FROM users WHERE id = ?", e))) {
		bind_text(st, 1, user_id);
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(secret, CATALOG_TOTP_LEN, st, 0);
			copy_col(pending, CATALOG_TOTP_LEN, st, 1);
			*last_step = sqlite3_column_int64(st, 2);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no such user");
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

struct totp_change {
	const char *user_id;
	enum totp_what what;
	const char *secret;
	int64_t step;
};

static int totp_set(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct totp_change *a = arg;
	int64_t changed = -1, users;

	switch (a->what) {
	case TOTP_PENDING:
		changed = update(c, "UPDATE users SET totp_pending = ?1 WHERE id = ?2", 0, 0,
				 a->secret, a->user_id, e);
		break;
	case TOTP_CONFIRM:
		changed = update(c, "UPDATE users SET totp_step = ?1, totp_secret = totp_pending,"
				 " totp_pending = '' WHERE id = ?2 AND totp_pending != ''", a->step, 1,
				 a->user_id, NULL, e);
		if (changed == 0)
			return err_set(e, ERR_NOT_FOUND, "no second factor waits to be confirmed: "
				       "begin the enrolment again");
		break;
	case TOTP_USE:
		changed = update(c, "UPDATE users SET totp_step = ?1 WHERE id = ?2 AND totp_step < ?1"
				 " AND totp_secret != ''", a->step, 1, a->user_id, NULL, e);
		if (changed != 0)
			break;
		if ((users = scalar(c, "SELECT count(*) FROM users WHERE id = ?1", a->user_id, NULL, 0,
				    e)) < 0)
			return -1;
		if (users)
			return err_set(e, ERR_DENIED, "this one-time code was used already: wait for "
				       "the next one");
		break;
	case TOTP_CLEAR:
		changed = update(c, "UPDATE users SET totp_secret = '', totp_pending = '',"
				 " totp_step = -1 WHERE id = ?1", 0, 0, a->user_id, NULL, e);
		break;
	}
	if (changed < 0)
		return -1;
	if (changed == 0)
		return err_set(e, ERR_NOT_FOUND, "no such user");
	return 0;
}

static int sq_totp_set(struct catalog_backend *c, const char *user_id, enum totp_what what,
		       const char *secret, int64_t step, struct err *e)
{
	struct totp_change a = { user_id, what, secret, step };
	int rc;

	LOCK(c);
	rc = txn(c, totp_set, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_subscription_require_totp(struct catalog_backend *c, const char *subscription,
					bool required, struct err *e)
{
	int64_t changed;

	LOCK(c);
	changed = update(c, "UPDATE subscriptions SET require_totp = ?1 WHERE id = ?2", required, 1,
			 subscription, NULL, e);
	UNLOCK(c);
	if (changed < 0)
		return -1;
	if (changed == 0)
		return err_set(e, ERR_NOT_FOUND, "no subscription %s", subscription);
	return 0;
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
	v->immutability = sqlite3_column_int(st, 8);
}

#define VAULT_COLS \
	"id, subscription, name, region, redundancy, locked, machines, created, immutability"

struct vault_new {
	const struct vault *v;
	const char *ca_cert_pem, *ca_key_pem;
};

static int vault_create(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct vault_new *a = arg;
	const struct vault *v = a->v;
	sqlite3_stmt *st;
	int64_t count;
	int rc;

	if ((count = scalar(c, "SELECT count(*) FROM vaults WHERE subscription = ?1",
			    v->subscription, NULL, 0, e)) < 0)
		return -1;
	if (count >= c->rules->vaults_max)
		return err_set(e, ERR_LIMIT, "A subscription can have at most %d vaults; delete one "
			       "first", c->rules->vaults_max);
	if ((st = prep(c, "INSERT INTO vaults (id, subscription, name, region, redundancy, ca_cert, "
			  "ca_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", e)) == NULL)
		return -1;
	bind_text(st, 1, v->id);
	bind_text(st, 2, v->subscription);
	bind_text(st, 3, v->name);
	bind_text(st, 4, v->region);
	bind_text(st, 5, v->redundancy);
	bind_text(st, 6, a->ca_cert_pem);
	bind_text(st, 7, a->ca_key_pem);
	sqlite3_bind_int64(st, 8, v->created);
	rc = step_done(c, st, "a vault of that name exists in this subscription", e);
	done(c, st);
	return rc;
}

static int sq_vault_create(struct catalog_backend *c, const struct vault *v,
			   const char *ca_cert_pem, const char *ca_key_pem, struct err *e)
{
	struct vault_new a = { v, ca_cert_pem, ca_key_pem };
	int rc;

	LOCK(c);
	rc = txn(c, vault_create, &a, e);
	UNLOCK(c);
	return rc;
}

static int vault_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	(void)e;
	vault_row(st, elem);
	return 0;
}

static int sq_vault_list(struct catalog_backend *c, const char *subscription, struct vault **out,
			 size_t *n, struct err *e)
{
	return list_of(c, "SELECT " VAULT_COLS " FROM vaults WHERE subscription = ?1 ORDER BY name",
		       subscription, 0, sizeof(**out), vault_fill, NULL, (void **)out, n, e);
}

static int vault_get_locked(struct catalog_backend *c, const char *subscription, const char *name,
			    struct vault *v, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	if ((st = prep(c, "SELECT " VAULT_COLS " FROM vaults WHERE subscription = ? AND name = ?", e))) {
		bind_text(st, 1, subscription);
		bind_text(st, 2, name);
		if ((r = step_row(c, st, e)) == 1) {
			vault_row(st, v);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no vault named %s in this subscription", name);
		}
		done(c, st);
	}
	return rc;
}

static int sq_vault_get(struct catalog_backend *c, const char *subscription, const char *name,
			struct vault *v, struct err *e)
{
	int rc;

	LOCK(c);
	rc = vault_get_locked(c, subscription, name, v, e);
	UNLOCK(c);
	return rc;
}

static int sq_vault_by_id(struct catalog_backend *c, const char *id, struct vault *v, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT " VAULT_COLS " FROM vaults WHERE id = ?", e))) {
		bind_text(st, 1, id);
		if ((r = step_row(c, st, e)) == 1) {
			vault_row(st, v);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no vault with id %.40s", id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* Free a string that held a secret, wiping it first. P may be NULL. */
static void wipe_text(char *p)
{
	if (p) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

static int sq_vault_ca(struct catalog_backend *c, const char *vault_id, char **cert_pem,
		       char **key_pem, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	*cert_pem = *key_pem = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT ca_cert, ca_key FROM vaults WHERE id = ?", e))) {
		bind_text(st, 1, vault_id);
		if ((r = step_row(c, st, e)) == 1) {
			*cert_pem = strdup((const char *)sqlite3_column_text(st, 0));
			*key_pem = strdup((const char *)sqlite3_column_text(st, 1));
			if (*cert_pem && *key_pem)
				rc = 0;
			else
				err_oom(e);
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no vault %s", vault_id);
		}
		done(c, st);
	}
	UNLOCK(c);
	if (rc != 0) {
		free(*cert_pem);
		wipe_text(*key_pem);
		*cert_pem = *key_pem = NULL;
	}
	return rc;
}

struct ca_rewrite {
	catalog_ca_key_fn fn;
	void *arg;
	size_t *n;
};

/* Why the rows are read whole before any is written: FN may take its time
 * (it seals), and an UPDATE of the table a statement is still stepping
 * through may show that statement the rows it changed. */
static int vault_ca_keys_rewrite(struct catalog_backend *c, void *arg, struct err *e)
{
	struct ca_rewrite *a = arg;
	sqlite3_stmt *st;
	char **ids = NULL, **keys = NULL;
	size_t n = 0, cap = 0, capk = 0;
	int rc = -1, r = 0;

	if ((st = prep(c, "SELECT id, ca_key FROM vaults ORDER BY id", e)) == NULL)
		return -1;
	while ((r = step_row(c, st, e)) == 1) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *key = (const char *)sqlite3_column_text(st, 1);

		if (grow((void **)&ids, &cap, n, sizeof(*ids), e) != 0 ||
		    grow((void **)&keys, &capk, n, sizeof(*keys), e) != 0) {
			r = -1;
			break;
		}
		ids[n] = strdup(id ? id : "");
		keys[n] = strdup(key ? key : "");
		n++;
		if (ids[n - 1] == NULL || keys[n - 1] == NULL) {
			r = err_oom(e);
			break;
		}
	}
	done(c, st);
	if (r < 0 || (st = prep(c, "UPDATE vaults SET ca_key = ? WHERE id = ?", e)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *repl = NULL;
		int w;

		if (a->fn(a->arg, ids[i], keys[i], &repl, e) != 0) {
			free(repl);
			done(c, st);
			goto out;
		}
		if (repl == NULL)
			continue;
		sqlite3_reset(st);
		bind_text(st, 1, repl);
		bind_text(st, 2, ids[i]);
		w = step_done(c, st, NULL, e);
		free(repl);
		if (w != 0) {
			done(c, st);
			goto out;
		}
		(*a->n)++;
	}
	done(c, st);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
		wipe_text(keys[i]);
	}
	free(ids);
	free(keys);
	return rc;
}

static int sq_vault_ca_keys_rewrite(struct catalog_backend *c, catalog_ca_key_fn fn, void *arg,
				    size_t *n, struct err *e)
{
	struct ca_rewrite a = { fn, arg, n };
	int rc;

	*n = 0;
	LOCK(c);
	rc = txn(c, vault_ca_keys_rewrite, &a, e);
	UNLOCK(c);
	if (rc != 0)
		*n = 0;
	return rc;
}

struct redundancy {
	const char *subscription, *name, *redundancy;
};

static int vault_set_redundancy(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct redundancy *a = arg;
	struct vault v;

	if (vault_get_locked(c, a->subscription, a->name, &v, e) != 0)
		return -1;
	if (v.locked)
		return err_set(e, ERR_LOCKED, "storage redundancy of vault %s is locked: a machine "
			       "has registered to it, and redundancy can change only before the "
			       "first registration", a->name);
	return run3(c, "UPDATE vaults SET redundancy = ?2 WHERE id = ?1 AND locked = 0", v.id,
		    a->redundancy, 0, e);
}

static int sq_vault_set_redundancy(struct catalog_backend *c, const char *subscription,
				   const char *name, const char *redundancy, struct err *e)
{
	struct redundancy a = { subscription, name, redundancy };
	int rc;

	LOCK(c);
	rc = txn(c, vault_set_redundancy, &a, e);
	UNLOCK(c);
	return rc;
}

struct vault_del {
	const char *subscription, *name;
};

static int vault_delete(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct vault_del *a = arg;
	struct vault v;
	int64_t held;

	if (vault_get_locked(c, a->subscription, a->name, &v, e) != 0)
		return -1;
	if (v.machines > 0)
		return err_set(e, ERR_LOCKED, "vault %s has %d registered machines; delete them first",
			       a->name, v.machines);
	if ((held = scalar(c, "SELECT count(*) FROM machines WHERE vault_id = ?1", v.id, NULL, 0,
			   e)) < 0)
		return -1;
	if (held > 0)
		return err_set(e, ERR_LOCKED, "vault %s holds deleted machines that can still be "
			       "undeleted; it can be deleted once they are purged, %d days after "
			       "their deletion", a->name, c->rules->soft_delete_days);
	return run3(c, "DELETE FROM credentials WHERE vault_id = ?1", v.id, NULL, 0, e) ||
	       run3(c, "DELETE FROM vaults WHERE id = ?1 AND machines = 0", v.id, NULL, 0, e) ? -1 : 0;
}

static int sq_vault_delete(struct catalog_backend *c, const char *subscription, const char *name,
			   struct err *e)
{
	struct vault_del a = { subscription, name };
	int rc;

	LOCK(c);
	rc = txn(c, vault_delete, &a, e);
	UNLOCK(c);
	return rc;
}

struct immut {
	const char *subscription, *name;
	int state;
	struct vault *v;
};

static int vault_set_immutability(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct immut *a = arg;
	struct vault v;

	if (a->state < IMMUT_MUTABLE || a->state > IMMUT_LOCKED)
		return catalog_immutability_parse(NULL, e);
	if (vault_get_locked(c, a->subscription, a->name, &v, e) != 0)
		return -1;
	if (a->v)
		*a->v = v;
	if (v.immutability == IMMUT_LOCKED && a->state != IMMUT_LOCKED)
		return err_set(e, ERR_LOCKED, "vault %s is locked immutable: a locked vault can never "
			       "be made %s again, by anyone; its recovery points go only when their "
			       "retention ends", a->name, catalog_immutability_name(a->state));
	return run3(c, "UPDATE vaults SET immutability = ?3 WHERE id = ?1", v.id, NULL, a->state, e);
}

static int sq_vault_set_immutability(struct catalog_backend *c, const char *subscription,
				     const char *name, int state, struct vault *v, struct err *e)
{
	struct immut a = { subscription, name, state, v };
	int rc;

	LOCK(c);
	rc = txn(c, vault_set_immutability, &a, e);
	UNLOCK(c);
	return rc;
}

/*
 * Within a transaction: whether an immutable vault still retains a point of
 * MACHINE at NOW (one point, POINT, or any of the machine's, live or
 * soft-deleted, when POINT is NULL): its retain-until time is after NOW, or
 * it is live and its time is 0 (not yet evaluated). (A point soft-deleted
 * with no time was deleted while the vault was mutable, before retention
 * ever evaluated it, and retention never will: it keeps its 14 days.)
 * 0 when none is, or the vault is mutable; -1 with the refusal
 * (catalog_refuse_retained) naming the point it found (those not
 * evaluated first, then the latest time), or with ERR_IO.
 */
static int retained(struct catalog_backend *c, const char *machine_id, const char *point,
		    int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int r;

	st = prep(c, point ? "SELECT v.name, p.id, p.retain_until FROM points p"
			     " JOIN machines m ON m.id = p.machine_id JOIN vaults v ON v.id = m.vault_id"
			     " WHERE p.machine_id = ?1 AND p.id = ?2 AND v.immutability > 0"
			     " AND (p.retain_until > ?3 OR (p.retain_until = 0 AND p.deleted = 0))"
			   : "SELECT v.name, p.id, p.retain_until FROM points p"
			     " JOIN machines m ON m.id = p.machine_id JOIN vaults v ON v.id = m.vault_id"
			     " WHERE p.machine_id = ?1 AND v.immutability > 0"
			     " AND (p.retain_until > ?3 OR (p.retain_until = 0 AND p.deleted = 0))"
			     " ORDER BY p.retain_until = 0 DESC, p.retain_until DESC LIMIT 1", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, machine_id);
	if (point)
		bind_text(st, 2, point);
	sqlite3_bind_int64(st, 3, now);
	if ((r = step_row(c, st, e)) == 1) {
		char vault[51], id[sizeof(catalog_id)];

		copy_col(vault, sizeof(vault), st, 0);
		copy_col(id, sizeof(id), st, 1);
		catalog_refuse_retained(e, vault, id, sqlite3_column_int64(st, 2));
		r = -1;
	}
	done(c, st);
	return r;
}

struct cred_new {
	const char *vault_id, *serial, *fingerprint, *cert_pem;
	int64_t issued, expires;
};

static int credential_add(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct cred_new *a = arg;
	sqlite3_stmt *st;
	int rc;

	/* Invariant: at most one row per vault has superseded = 0, the latest. */
	if (run3(c, "UPDATE credentials SET superseded = 1 WHERE vault_id = ?1", a->vault_id, NULL,
		 0, e) != 0)
		return -1;
	if ((st = prep(c, "INSERT INTO credentials (serial, vault_id, fingerprint, cert, issued, "
			  "expires) VALUES (?, ?, ?, ?, ?, ?)", e)) == NULL)
		return -1;
	bind_text(st, 1, a->serial);
	bind_text(st, 2, a->vault_id);
	bind_text(st, 3, a->fingerprint);
	bind_text(st, 4, a->cert_pem);
	sqlite3_bind_int64(st, 5, a->issued);
	sqlite3_bind_int64(st, 6, a->expires);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int sq_credential_add(struct catalog_backend *c, const char *vault_id, const char *serial,
			     const char *fingerprint, const char *cert_pem, int64_t issued,
			     int64_t expires, struct err *e)
{
	struct cred_new a = { vault_id, serial, fingerprint, cert_pem, issued, expires };
	int rc;

	LOCK(c);
	rc = txn(c, credential_add, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_credential_latest(struct catalog_backend *c, const char *vault_id,
				char fingerprint[65], int64_t *expires, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT fingerprint, expires FROM credentials WHERE vault_id = ? AND "
			  "superseded = 0", e))) {
		bind_text(st, 1, vault_id);
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(fingerprint, 65, st, 0);
			*expires = sqlite3_column_int64(st, 1);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no vault credentials issued for this vault");
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_audit(struct catalog_backend *c, const char *subscription, int64_t now,
		    const char *actor, const char *action, const char *target, const char *detail,
		    struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int audit_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct audit_entry *a = elem;

	(void)e;
	a->id = sqlite3_column_int64(st, 0);
	a->time = sqlite3_column_int64(st, 1);
	copy_col(a->actor, sizeof(a->actor), st, 2);
	copy_col(a->action, sizeof(a->action), st, 3);
	copy_col(a->target, sizeof(a->target), st, 4);
	copy_col(a->detail, sizeof(a->detail), st, 5);
	return 0;
}

static int sq_audit_list(struct catalog_backend *c, const char *subscription, int limit,
			 struct audit_entry **out, size_t *n, struct err *e)
{
	return list_of(c, "SELECT id, time, actor, action, target, detail FROM audit WHERE "
		       "subscription = ?1 ORDER BY id DESC LIMIT ?2", subscription, limit,
		       sizeof(**out), audit_fill, NULL, (void **)out, n, e);
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

struct machine_reg {
	const struct registration *r;
	struct machine *m;
	bool *again;
};

/* Within a transaction: whether R proves the master key of M, the machine
 * registered under R's name: 1, 0, or -1. */
static int reg_proven(struct catalog_backend *c, const struct registration *r,
		      const struct machine *m, struct err *e)
{
	sqlite3_stmt *st;
	int proven = -1;

	if ((st = prep(c, "SELECT verifier FROM machines WHERE id = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, m->id);
	switch (step_row(c, st, e)) {
	case 1:
		proven = sqlite3_column_bytes(st, 0) == KEYS_VERIFIER_LEN &&
			 sodium_memcmp(sqlite3_column_blob(st, 0), r->verifier, KEYS_VERIFIER_LEN) == 0 &&
			 strcmp(m->key_id, r->key_id) == 0;
		break;
	case 0:
		db_fail(c, e, "reading a machine's verifier");
		break;
	}
	done(c, st);
	return proven;
}

/* Within a transaction: the checks of catalog_machine_register, filling M
 * and *AGAIN. 0, or -1. */
static int reg_check(struct catalog_backend *c, const struct registration *r, struct machine *m,
		     bool *again, struct err *e)
{
	sqlite3_stmt *st;
	int64_t found, count;
	int row, proven;

	/* Only the latest credentials of the vault register. */
	if ((found = scalar(c, "SELECT count(*) FROM credentials WHERE vault_id = ?1 AND "
			    "fingerprint = ?2 AND superseded = 0", r->vault_id,
			    r->credential_fingerprint, 0, e)) < 0)
		return -1;
	if (found == 0)
		return err_set(e, ERR_CREDENTIALS, "these vault credentials are not the latest issued "
			       "for the vault: a newer file was downloaded since");
	if ((st = prep(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ? AND name = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, r->vault_id);
	bind_text(st, 2, r->name);
	if ((row = step_row(c, st, e)) == 1)
		machine_row(st, m);
	done(c, st);
	if (row < 0)
		return -1;
	*again = row == 1;
	if (*again && m->deleted)
		/* Why refuse: deletion needed a PIN; fresh credentials must not undo it. */
		return err_set(e, ERR_LOCKED, "machine %s of this vault was deleted; undelete it "
			       "(within %d days of its deletion) or register under another name",
			       r->name, c->rules->soft_delete_days);
	if (*again) {
		/* Why a proof: the key id and the wrapped blob are public to every
		 * holder of vault credentials, so only a proof made with the
		 * master key (checked by the caller against R->verifier) may move
		 * the name to a new machine key. The stored wrapped key is the
		 * only copy its recovery points can be opened with, so a
		 * registration never replaces it. */
		if ((proven = reg_proven(c, r, m, e)) < 0)
			return -1;
		if (!proven)
			return err_set(e, ERR_KEY_MISMATCH, "machine %s of this vault is registered "
				       "already and this registration does not prove its master key: "
				       "register with that machine's passphrase to take it over (its "
				       "points stay readable), or under another name", r->name);
		return 0;
	}
	if ((count = scalar(c, "SELECT count(*) FROM machines WHERE vault_id = ?1 AND deleted = 0",
			    r->vault_id, NULL, 0, e)) < 0)
		return -1;
	if (count >= c->rules->machines_max)
		return err_set(e, ERR_LIMIT, "A vault can have at most %d machines; delete one or "
			       "register this machine to another vault", c->rules->machines_max);
	memset(m, 0, sizeof(*m));
	catalog_new_id(m->id);
	snprintf(m->vault_id, sizeof(m->vault_id), "%s", r->vault_id);
	snprintf(m->name, sizeof(m->name), "%s", r->name);
	m->registered = r->now;
	return 0;
}

static int machine_register(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct machine_reg *a = arg;
	const struct registration *r = a->r;
	struct machine *m = a->m;
	sqlite3_stmt *st;

	if (reg_check(c, r, m, a->again, e) != 0)
		return -1;
	if (!*a->again)
		st = prep(c, "INSERT INTO machines (public_key, cert, cert_expires, renewed, id, "
			  "wrapped_key, key_id, verifier, vault_id, name, registered) VALUES "
			  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
	else
		st = prep(c, "UPDATE machines SET public_key = ?, cert = ?, cert_expires = ?, "
			  "renewed = ? WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, r->public_key_pem);
	bind_text(st, 2, r->cert_pem);
	sqlite3_bind_int64(st, 3, r->cert_expires);
	sqlite3_bind_int64(st, 4, r->now);
	bind_text(st, 5, m->id);
	if (!*a->again) {
		sqlite3_bind_blob(st, 6, r->wrapped_key, (int)r->wrapped_len, SQLITE_TRANSIENT);
		bind_text(st, 7, r->key_id);
		sqlite3_bind_blob(st, 8, r->verifier, KEYS_VERIFIER_LEN, SQLITE_TRANSIENT);
		bind_text(st, 9, m->vault_id);
		bind_text(st, 10, m->name);
		sqlite3_bind_int64(st, 11, m->registered);
	}
	if (step_done(c, st, NULL, e) != 0) {
		done(c, st);
		return -1;
	}
	done(c, st);
	snprintf(m->key_id, sizeof(m->key_id), "%s", r->key_id);
	m->renewed = r->now;
	m->cert_expires = r->cert_expires;
	/* Invariant: machines counts rows; the first registration locks redundancy. */
	return run3(c, "UPDATE vaults SET locked = 1, machines = (SELECT count(*) FROM machines "
		    "WHERE vault_id = ?1 AND deleted = 0) WHERE id = ?1", r->vault_id, NULL, 0, e);
}

static int sq_machine_register(struct catalog_backend *c, const struct registration *r,
			       struct machine *m, bool *again, struct err *e)
{
	struct machine_reg a = { r, m, again };
	int rc;

	*again = false;
	LOCK(c);
	rc = txn(c, machine_register, &a, e);
	UNLOCK(c);
	return rc;
}

static int machine_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	(void)e;
	machine_row(st, elem);
	return 0;
}

static int sq_machine_list(struct catalog_backend *c, const char *vault_id, struct machine **out,
			   size_t *n, struct err *e)
{
	return list_of(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ?1 ORDER BY name",
		       vault_id, 0, sizeof(**out), machine_fill, NULL, (void **)out, n, e);
}

static int sq_machine_get(struct catalog_backend *c, const char *id, struct machine *m,
			  char **public_key_pem, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	*public_key_pem = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT " MACHINE_COLS ", public_key FROM machines WHERE id = ? AND "
			  "deleted = 0", e))) {
		bind_text(st, 1, id);
		if ((r = step_row(c, st, e)) == 1) {
			machine_row(st, m);
			if ((*public_key_pem = strdup((const char *)sqlite3_column_text(st, 9))) != NULL)
				rc = 0;
			else
				err_oom(e);
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no machine %s", id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_machine_wrapped_key(struct catalog_backend *c, const char *id, uint8_t **blob,
				  size_t *len, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	*blob = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT wrapped_key FROM machines WHERE id = ?", e))) {
		bind_text(st, 1, id);
		if ((r = step_row(c, st, e)) == 1) {
			int n = sqlite3_column_bytes(st, 0);

			if ((*blob = malloc(n > 0 ? (size_t)n : 1)) != NULL) {
				if (n > 0)
					memcpy(*blob, sqlite3_column_blob(st, 0), (size_t)n);
				*len = (size_t)n;
				rc = 0;
			} else {
				err_oom(e);
			}
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no machine %s", id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_machine_set_wrapped_key(struct catalog_backend *c, const char *id,
				      const uint8_t *blob, size_t len, const char *key_id,
				      struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_machine_set_cert(struct catalog_backend *c, const char *id, const char *cert_pem,
			       int64_t now, int64_t expires, struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_machine_seen(struct catalog_backend *c, const char *id, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "UPDATE machines SET last_seen = ? WHERE id = ?", e))) {
		sqlite3_bind_int64(st, 1, now);
		bind_text(st, 2, id);
		rc = step_done(c, st, NULL, e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

struct nonce_use {
	const char *principal, *nonce;
	int64_t now, expires;
};

static int nonce_use(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct nonce_use *a = arg;
	sqlite3_stmt *ins;
	int rc;

	/* Why pruning at most once a minute: an expired row is harmless (the
	 * upsert below replaces it), so deleting them one request at a time
	 * only cost a write per request; a minute's worth goes at once. */
	if (a->now < c->nonces_pruned || a->now >= c->nonces_pruned + 60) {
		if (run3(c, "DELETE FROM nonces WHERE expires <= ?3", NULL, NULL, a->now, e) != 0)
			return -1;
		c->nonces_pruned = a->now;
	}
	/* Why this stays a durable write (synchronous=FULL, like every commit
	 * of the catalog) although it is one per request: a nonce lost to a
	 * power cut would let a recorded request be played again, within the
	 * clock window, once the service is back. */
	/* Invariant: a live row for (principal, nonce) is never overwritten;
	 * the upsert replaces only an expired one, so sqlite3_changes tells a
	 * first use (1) from a replay (0) in the same statement. */
	if ((ins = prep(c, "INSERT INTO nonces (principal, nonce, expires) VALUES (?, ?, ?)"
			   " ON CONFLICT (principal, nonce) DO UPDATE SET expires = excluded.expires"
			   " WHERE nonces.expires <= ?", e)) == NULL)
		return -1;
	bind_text(ins, 1, a->principal);
	bind_text(ins, 2, a->nonce);
	sqlite3_bind_int64(ins, 3, a->expires);
	sqlite3_bind_int64(ins, 4, a->now);
	rc = step_done(c, ins, NULL, e);
	done(c, ins);
	if (rc == 0 && sqlite3_changes(c->db) != 1)
		rc = err_set(e, ERR_DENIED, "this request was sent before (same nonce): refused as "
			     "a replay");
	return rc;
}

static int sq_nonce_use(struct catalog_backend *c, const char *principal, const char *nonce,
			int64_t now, int64_t expires, struct err *e)
{
	struct nonce_use a = { principal, nonce, now, expires };
	int rc;

	LOCK(c);
	rc = txn(c, nonce_use, &a, e);
	UNLOCK(c);
	return rc;
}

/* ---- failure limits ---- */

struct limit_arg {
	const char *key;
	int burst, refill;
	int64_t now;
	int *wait; /* limit_wait's answer; NULL for limit_fail */
};

/* A key's limit is one number, TAT (the generic cell rate algorithm): each
 * failure moves it REFILL seconds on from the later of TAT and NOW, and the
 * key may try while TAT is at most NOW + (BURST - 1) * REFILL: a bucket of
 * BURST tokens that gains one every REFILL seconds. A key whose TAT has
 * passed has its whole bucket, and needs no row. */
static int limit_step(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct limit_arg *a = arg;
	int64_t allow = a->now + (int64_t)(a->burst - 1) * a->refill, n;
	int64_t tat = scalar(c, "SELECT coalesce(max(tat), 0) FROM limits WHERE key = ?1", a->key,
			     NULL, 0, e);

	if (tat < 0)
		return -1;
	if (a->wait) {
		*a->wait = tat > allow ? (int)(tat - allow > INT_MAX ? INT_MAX : tat - allow) : 0;
		return 0;
	}
	tat = (tat > a->now ? tat : a->now) + a->refill;
	if (run3(c, "INSERT INTO limits (key, tat) VALUES (?1, ?3) ON CONFLICT (key) DO UPDATE"
		 " SET tat = excluded.tat", a->key, NULL, tat, e) != 0 ||
	    run3(c, "DELETE FROM limits WHERE tat <= ?3", NULL, NULL, a->now, e) != 0 ||
	    (n = scalar(c, "SELECT count(*) FROM limits", NULL, NULL, 0, e)) < 0)
		return -1;
	if (n > CATALOG_LIMIT_KEYS &&
	    run3(c, "DELETE FROM limits WHERE key IN (SELECT key FROM limits ORDER BY tat LIMIT ?3)",
		 NULL, NULL, n - CATALOG_LIMIT_KEYS, e) != 0)
		return -1;
	return 0;
}

static int sq_limit_wait(struct catalog_backend *c, const char *key, int burst, int refill,
			 int64_t now, int *wait, struct err *e)
{
	struct limit_arg a = { key, burst, refill, now, wait };
	int rc;

	*wait = 0;
	LOCK(c);
	rc = txn(c, limit_step, &a, e);
	UNLOCK(c);
	if (rc != 0)
		*wait = 0;
	return rc;
}

static int sq_limit_fail(struct catalog_backend *c, const char *key, int burst, int refill,
			 int64_t now, struct err *e)
{
	struct limit_arg a = { key, burst, refill, now, NULL };
	int rc;

	LOCK(c);
	rc = txn(c, limit_step, &a, e);
	UNLOCK(c);
	return rc;
}

struct pack_new {
	const char *machine_id, *pack_id;
	uint64_t size;
	const struct pack_entry *ents;
	size_t n;
	int64_t now;
	const struct replica *r; /* pack_add_replica: its queue row; NULL for none */
};

static int replica_enqueue(struct catalog_backend *c, const struct pack_new *a, struct err *e);

static int pack_add(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct pack_new *a = arg;
	char hex[OBJID_HEX_LEN + 1];
	sqlite3_stmt *st;
	int rc = 0;

	if ((st = prep(c, "INSERT OR IGNORE INTO packs (id, machine_id, size, created) VALUES (?, ?, ?, ?)", e)) == NULL)
		return -1;
	bind_text(st, 1, a->pack_id);
	bind_text(st, 2, a->machine_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a->size);
	sqlite3_bind_int64(st, 4, a->now);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	if (rc != 0)
		return -1;
	if ((st = prep(c, "INSERT OR IGNORE INTO objects (machine_id, id, pack_id, kind, offset, length) "
			  "VALUES (?, ?, ?, ?, ?, ?)", e)) == NULL)
		return -1;
	/* Bound once: arguments outlive sqlite3_reset. */
	bind_text(st, 1, a->machine_id);
	bind_text(st, 3, a->pack_id);
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		objid_to_hex(&a->ents[i].id, hex);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 2, hex, OBJID_HEX_LEN, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, a->ents[i].kind);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)a->ents[i].offset);
		sqlite3_bind_int64(st, 6, a->ents[i].length);
		rc = step_done(c, st, NULL, e);
	}
	done(c, st);
	/* A pack sent again while its file waits for deletion (the agent's
	 * index still listed it) lives again: its doom goes with this
	 * transaction, so the sweeper (catalog_doomed_claim) never sees the
	 * pack both listed and doomed. */
	if (rc || run3(c, "DELETE FROM doomed WHERE pack_id = ?1", a->pack_id, NULL, 0, e))
		return -1;
	return a->r ? replica_enqueue(c, a, e) : 0;
}

static int sq_pack_add(struct catalog_backend *c, const char *machine_id, const char *pack_id,
		       uint64_t size, const struct pack_entry *ents, size_t n, int64_t now,
		       struct err *e)
{
	struct pack_new a = { machine_id, pack_id, size, ents, n, now, NULL };
	int rc;

	LOCK(c);
	rc = txn(c, pack_add, &a, e);
	UNLOCK(c);
	return rc;
}

/* The first column of SQL's first row (PACK_ID bound as ?1) into
 * MACHINE_ID; ERR_NOT_FOUND for no row, ERR_IO when the read fails. */
static int pack_machine(struct catalog_backend *c, const char *sql, const char *pack_id,
			catalog_id machine_id, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, sql, e))) {
		bind_text(st, 1, pack_id);
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(machine_id, sizeof(catalog_id), st, 0);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no pack %.16s", pack_id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_pack_owner(struct catalog_backend *c, const char *pack_id, catalog_id machine_id,
			 struct err *e)
{
	return pack_machine(c, "SELECT machine_id FROM packs WHERE id = ?1", pack_id, machine_id, e);
}

static int sq_pack_reader(struct catalog_backend *c, const char *pack_id, catalog_id machine_id,
			  struct err *e)
{
	return pack_machine(c, "SELECT machine_id FROM packs WHERE id = ?1 UNION ALL "
			    "SELECT machine_id FROM doomed WHERE pack_id = ?1 AND machine_id != '' "
			    "LIMIT 1", pack_id, machine_id, e);
}

static int sq_objects_missing(struct catalog_backend *c, const char *machine_id,
			      const char *const *ids, size_t n, bool *missing, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if (reads_begin(c, e) != 0) {
		UNLOCK(c);
		return -1;
	}
	if ((st = prep(c, "SELECT 1 FROM objects WHERE machine_id = ? AND id = ?", e))) {
		int r = 0;

		/* Why stop at a failed read: "missing" would make the agent
		 * upload again, but a "stored" it cannot trust would lose data. */
		bind_text(st, 1, machine_id);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
			if ((r = step_row(c, st, e)) >= 0)
				missing[i] = r == 0;
		}
		done(c, st);
		rc = r < 0 ? -1 : 0;
	}
	reads_end(c);
	UNLOCK(c);
	return rc;
}

static int sq_objects_locate(struct catalog_backend *c, const char *machine_id,
			     const char *const *ids, size_t n, struct object_loc *loc, bool *found,
			     struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if (reads_begin(c, e) != 0) {
		UNLOCK(c);
		return -1;
	}
	if ((st = prep(c, "SELECT pack_id, kind, offset, length FROM objects"
			  " WHERE machine_id = ? AND id = ?", e))) {
		int r = 0;

		bind_text(st, 1, machine_id);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
			if ((r = step_row(c, st, e)) < 0)
				break;
			found[i] = r == 1;
			if (!found[i])
				continue;
			snprintf(loc[i].pack, sizeof(loc[i].pack), "%s",
				 (const char *)sqlite3_column_text(st, 0));
			loc[i].kind = sqlite3_column_int(st, 1);
			loc[i].offset = (uint64_t)sqlite3_column_int64(st, 2);
			loc[i].length = (uint32_t)sqlite3_column_int64(st, 3);
		}
		done(c, st);
		rc = r < 0 ? -1 : 0;
	}
	reads_end(c);
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

struct point_new {
	const char *machine_id, *meta, *parent;
	const struct objid *refs;
	size_t n_refs, n;
	int64_t now;
	struct recovery_point *rp;
};

/* Within a transaction: the stored bytes of the objects REFS of MACHINE
 * into *BYTES; ERR_NOT_FOUND naming how many are not stored. */
static int point_bytes(struct catalog_backend *c, const struct point_new *a, int64_t *bytes,
		       struct err *e)
{
	sqlite3_stmt *st;
	int64_t missing = 0;
	int r = 0;

	*bytes = 0;
	if ((st = prep(c, "SELECT length FROM objects WHERE machine_id = ? AND id = ?", e)) == NULL)
		return -1;
	for (size_t i = 0; r >= 0 && i < a->n_refs; i++) {
		char hex[OBJID_HEX_LEN + 1];

		objid_to_hex(&a->refs[i], hex);
		sqlite3_reset(st);
		bind_text(st, 1, a->machine_id);
		bind_text(st, 2, hex);
		if ((r = step_row(c, st, e)) == 0)
			missing++;
		else if (r == 1)
			*bytes += sqlite3_column_int64(st, 0);
	}
	done(c, st);
	if (r < 0)
		return -1;
	if (missing)
		return err_set(e, ERR_NOT_FOUND, "%lld of the %zu referenced objects are not stored "
			       "for this machine; upload them and commit again", (long long)missing,
			       a->n);
	return 0;
}

static int point_commit(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct point_new *a = arg;
	struct recovery_point *rp = a->rp;
	sqlite3_stmt *st;
	int64_t live, bytes;
	int rc;

	if ((live = scalar(c, "SELECT count(*) FROM points WHERE machine_id = ?1 AND deleted = 0",
			   a->machine_id, NULL, 0, e)) < 0)
		return -1;
	if (live >= c->rules->points_max)
		return err_set(e, ERR_LIMIT, "A machine can have at most %d recovery points; "
			       "retention must remove some before the next backup commits",
			       c->rules->points_max);
	if (point_bytes(c, a, &bytes, e) != 0)
		return -1;
	catalog_new_id(rp->id);
	snprintf(rp->meta, sizeof(rp->meta), "%s", a->meta);
	snprintf(rp->parent, sizeof(rp->parent), "%s", a->parent ? a->parent : "");
	rp->created = a->now;
	rp->objects = (int64_t)a->n_refs;
	rp->bytes = bytes;
	if ((st = prep(c, "INSERT INTO points (id, machine_id, meta, parent, created, objects, bytes) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?)", e)) == NULL)
		return -1;
	bind_text(st, 1, rp->id);
	bind_text(st, 2, a->machine_id);
	bind_text(st, 3, rp->meta);
	bind_text(st, 4, rp->parent);
	sqlite3_bind_int64(st, 5, a->now);
	sqlite3_bind_int64(st, 6, rp->objects);
	sqlite3_bind_int64(st, 7, bytes);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	if (rc != 0)
		return -1;
	if ((st = prep(c, "INSERT INTO point_refs (point_id, machine_id, ids) VALUES (?, ?, ?)",
		       e)) == NULL)
		return -1;
	bind_text(st, 1, rp->id);
	bind_text(st, 2, a->machine_id);
	sqlite3_bind_blob64(st, 3, a->refs ? (const void *)a->refs : "",
			    (sqlite3_uint64)(a->n_refs * sizeof(*a->refs)), SQLITE_STATIC);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int sq_point_commit(struct catalog_backend *c, const char *machine_id, const char *meta,
			   const char *parent, const char *const *ids, size_t n, int64_t now,
			   struct recovery_point *rp, struct err *e)
{
	struct objid *refs = NULL;
	size_t n_refs = 0;
	int rc;

	memset(rp, 0, sizeof(*rp));
	/* Sorted before taking the catalog: the list may be long. */
	if (sorted_ids(ids, n, &refs, &n_refs, e) != 0)
		return -1;
	{
		struct point_new a = { machine_id, meta, parent, refs, n_refs, n, now, rp };

		LOCK(c);
		rc = txn(c, point_commit, &a, e);
		UNLOCK(c);
	}
	free(refs);
	if (rc != 0)
		memset(rp, 0, sizeof(*rp));
	return rc;
}

static int point_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct recovery_point *p = elem;

	(void)e;
	copy_col(p->id, sizeof(p->id), st, 0);
	copy_col(p->meta, sizeof(p->meta), st, 1);
	copy_col(p->parent, sizeof(p->parent), st, 2);
	p->created = sqlite3_column_int64(st, 3);
	p->objects = sqlite3_column_int64(st, 4);
	p->bytes = sqlite3_column_int64(st, 5);
	p->deleted = sqlite3_column_int64(st, 6);
	p->retain_until = sqlite3_column_int64(st, 7);
	return 0;
}

static int sq_point_list(struct catalog_backend *c, const char *machine_id, bool all,
			 struct recovery_point **out, size_t *n, struct err *e)
{
	return list_of(c, "SELECT id, meta, parent, created, objects, bytes, deleted, retain_until "
		       "FROM points WHERE "
		       "machine_id = ?1 AND (deleted = 0 OR ?2) ORDER BY created, rowid", machine_id,
		       all, sizeof(**out), point_fill, NULL, (void **)out, n, e);
}

/* Run one UPDATE with text arguments A, B (B may be NULL) and integer N at
 * the ?s in order: ?1 = N when HAS_N, then the texts. Returns the rows
 * changed, or -1. */
static int64_t update(struct catalog_backend *c, const char *sql, int64_t nval, int has_n,
		      const char *a, const char *b, struct err *e)
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
	done(c, st);
	return changed;
}

struct point_back {
	const char *machine_id, *point_id;
	int64_t now;
};

static int point_delete(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct point_back *a = arg;
	int64_t n;

	/* Why in the transaction that deletes: no change of the vault's
	 * immutability or of the point's time can come between. */
	if (retained(c, a->machine_id, a->point_id, a->now, e) != 0)
		return -1;
	n = update(c, "UPDATE points SET deleted = ? WHERE machine_id = ? AND id = ? AND deleted = 0",
		   a->now, 1, a->machine_id, a->point_id, e);
	if (n == 0)
		return err_set(e, ERR_NOT_FOUND, "no live recovery point %.40s of this machine",
			       a->point_id);
	return n < 0 ? -1 : 0;
}

static int sq_point_delete(struct catalog_backend *c, const char *machine_id, const char *point_id,
			   int64_t now, struct err *e)
{
	struct point_back a = { machine_id, point_id, now };
	int rc;

	LOCK(c);
	rc = txn(c, point_delete, &a, e);
	UNLOCK(c);
	return rc;
}

struct retain {
	const char *machine_id;
	const char *const *ids;
	const int64_t *until;
	size_t n;
};

static int point_retain(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct retain *a = arg;
	sqlite3_stmt *st = prep(c, "UPDATE points SET retain_until = ?3 WHERE machine_id = ?1 AND "
				   "id = ?2 AND retain_until < ?3", e);
	int rc = 0;

	if (st == NULL)
		return -1;
	for (size_t i = 0; i < a->n && rc == 0; i++) {
		sqlite3_reset(st);
		bind3(st, a->machine_id, a->ids[i], a->until[i]);
		rc = step_done(c, st, NULL, e);
	}
	done(c, st);
	return rc;
}

static int sq_point_retain(struct catalog_backend *c, const char *machine_id,
			   const char *const *ids, const int64_t *until, size_t n, struct err *e)
{
	struct retain a = { machine_id, ids, until, n };
	int rc;

	LOCK(c);
	rc = txn(c, point_retain, &a, e);
	UNLOCK(c);
	return rc;
}

static int point_undelete(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct point_back *a = arg;
	int64_t live, n;

	if ((live = scalar(c, "SELECT count(*) FROM points WHERE machine_id = ?1 AND deleted = 0",
			   a->machine_id, NULL, 0, e)) < 0)
		return -1;
	if (live >= c->rules->points_max)
		return err_set(e, ERR_LIMIT, "A machine can have at most %d recovery points: delete "
			       "one before bringing this one back", c->rules->points_max);
	n = update(c, "UPDATE points SET deleted = 0 WHERE machine_id = ? AND id = ? AND "
		   "deleted != 0", 0, 0, a->machine_id, a->point_id, e);
	if (n == 0)
		return err_set(e, ERR_NOT_FOUND, "no deleted recovery point %.40s of this machine "
			       "(it may have been purged %d days after its deletion)", a->point_id,
			       c->rules->soft_delete_days);
	return n < 0 ? -1 : 0;
}

static int sq_point_undelete(struct catalog_backend *c, const char *machine_id,
			     const char *point_id, struct err *e)
{
	struct point_back a = { machine_id, point_id, 0 };
	int rc;

	/* Why one transaction: two undeletes (or a commit) at once must not both
	 * pass the 366-point check. */
	LOCK(c);
	rc = txn(c, point_undelete, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_machine_by_name(struct catalog_backend *c, const char *vault_id, const char *name,
			      struct machine *m, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT " MACHINE_COLS " FROM machines WHERE vault_id = ? AND name = ?", e))) {
		bind_text(st, 1, vault_id);
		bind_text(st, 2, name);
		if ((r = step_row(c, st, e)) == 1) {
			machine_row(st, m);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no machine named %.64s in this vault", name);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

struct machine_del {
	const char *vault_id, *name;
	int64_t when;
};

static int set_machine_deleted(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct machine_del *a = arg;
	int64_t n, live;

	/* Bringing a machine back counts like registering one: at most 50 live
	 * machines a vault, checked in the transaction that changes the count. */
	if (a->when == 0) {
		if ((live = scalar(c, "SELECT count(*) FROM machines WHERE vault_id = ?1 AND "
				   "deleted = 0", a->vault_id, NULL, 0, e)) < 0)
			return -1;
		if (live >= c->rules->machines_max)
			return err_set(e, ERR_LIMIT, "A vault can have at most %d machines: delete "
				       "one before bringing machine %.64s back", c->rules->machines_max,
				       a->name);
	}
	if (a->when) {
		sqlite3_stmt *st = prep(c, "SELECT id FROM machines WHERE vault_id = ? AND name = ? AND "
					   "deleted = 0", e);
		char id[sizeof(catalog_id)] = "";
		int r;

		if (st == NULL)
			return -1;
		bind_text(st, 1, a->vault_id);
		bind_text(st, 2, a->name);
		if ((r = step_row(c, st, e)) == 1)
			copy_col(id, sizeof(id), st, 0);
		done(c, st);
		if (r < 0 || (r == 1 && retained(c, id, NULL, a->when, e) != 0))
			return -1;
	}
	n = update(c, a->when ? "UPDATE machines SET deleted = ? WHERE vault_id = ? AND name = ? AND deleted = 0"
			      : "UPDATE machines SET deleted = ? WHERE vault_id = ? AND name = ? AND deleted != 0",
		   a->when, 1, a->vault_id, a->name, e);
	if (n == 0)
		return err_set(e, ERR_NOT_FOUND, a->when ? "no registered machine named %.64s in this "
			       "vault" : "no deleted machine named %.64s in this vault (it may have "
			       "been purged)", a->name);
	if (n < 0 || update(c, "UPDATE vaults SET machines = (SELECT count(*) FROM machines WHERE "
			    "vault_id = ?1 AND deleted = 0) WHERE id = ?1", 0, 0, a->vault_id, NULL,
			    e) < 0)
		return -1;
	return 0;
}

static int sq_machine_delete(struct catalog_backend *c, const char *vault_id, const char *name,
			     int64_t now, struct err *e)
{
	struct machine_del a = { vault_id, name, now };
	int rc;

	LOCK(c);
	rc = txn(c, set_machine_deleted, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_machine_undelete(struct catalog_backend *c, const char *vault_id, const char *name,
			       struct err *e)
{
	struct machine_del a = { vault_id, name, 0 };
	int rc;

	LOCK(c);
	rc = txn(c, set_machine_deleted, &a, e);
	UNLOCK(c);
	return rc;
}

static int doom(struct catalog_backend *c, const char *machine_id, const char *pack,
		const char *region, const char *pair, int64_t after, struct err *e);

struct purge {
	int64_t before, now, after;
	catalog_pair_fn pair_of;
	void *arg;
	int64_t *points, *machines;
};

/* A pack of a purged machine (pack, region, redundancy): doom its files. */
static int doom_purged_pack(struct catalog_backend *c, sqlite3_stmt *st, void *arg,
			    struct err *e)
{
	struct purge *a = arg;
	char pack[65], region[65], redundancy[8];
	const char *pair;

	copy_col(pack, sizeof(pack), st, 0);
	copy_col(region, sizeof(region), st, 1);
	copy_col(redundancy, sizeof(redundancy), st, 2);
	pair = strcmp(redundancy, "GRS") == 0 && a->pair_of ? a->pair_of(a->arg, region) : NULL;
	return doom(c, NULL, pack, region, pair, a->after, e);
}

/*
 * What purge removes: ?1 is the time before which a deletion is old enough,
 * ?2 the time now. An immutable vault's point whose retain-until time is
 * after now stays, soft-deleted, and so does a deleted machine with one. A
 * time of 0 does not hold a purge: such a point or machine was deleted
 * while the vault was mutable, and no retention run will ever evaluate it.
 */
#define PURGED_POINT "deleted != 0 AND deleted < ?1 AND NOT ((SELECT v.immutability FROM vaults v" \
	" JOIN machines m ON m.vault_id = v.id WHERE m.id = points.machine_id) > 0 AND" \
	" retain_until > ?2)"
#define PURGED_MACHINES "(SELECT id FROM machines WHERE deleted != 0 AND deleted < ?1 AND NOT" \
	" ((SELECT immutability FROM vaults WHERE id = machines.vault_id) > 0 AND EXISTS (SELECT 1" \
	" FROM points p WHERE p.machine_id = machines.id AND p.retain_until > ?2)))"

static int purge(struct catalog_backend *c, void *arg, struct err *e)
{
	static const char *const steps[] = {
		/* Points: their references, then the points. */
		"DELETE FROM point_refs WHERE point_id IN (SELECT id FROM points WHERE " PURGED_POINT ")",
		"DELETE FROM points WHERE " PURGED_POINT,
		/* Machines: everything of theirs (the machines last: the others
		 * name them). */
		"DELETE FROM point_refs WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM points WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM objects WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM packs WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM jobs WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM policies WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM leases WHERE machine_id IN " PURGED_MACHINES,
		"DELETE FROM machines WHERE id IN " PURGED_MACHINES,
	};
	struct purge *a = arg;
	sqlite3_stmt *st;
	int rc;

	/* The pack files of the machines purged go like every other doomed
	 * pack's, in their vault's region and, for GRS, its pair; no machine
	 * reads them meanwhile. */
	if ((st = prep(c, "SELECT p.id, v.region, v.redundancy FROM packs p"
			  " JOIN machines m ON m.id = p.machine_id"
			  " JOIN vaults v ON v.id = m.vault_id"
			  " WHERE m.id IN " PURGED_MACHINES, e)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a->before);
	sqlite3_bind_int64(st, 2, a->now);
	rc = each_row(c, st, doom_purged_pack, a, e);
	done(c, st);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if ((st = prep(c, steps[i], e)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, a->before);
		sqlite3_bind_int64(st, 2, a->now);
		rc = step_done(c, st, NULL, e);
		done(c, st);
		if (rc != 0)
			return -1;
		if (i == 1)
			*a->points = sqlite3_changes(c->db);
		if (i == sizeof(steps) / sizeof(steps[0]) - 1)
			*a->machines = sqlite3_changes(c->db);
	}
	return 0;
}

static int sq_purge(struct catalog_backend *c, int64_t now, int64_t after, catalog_pair_fn pair_of,
		    void *arg, int64_t *points, int64_t *machines, struct err *e)
{
	struct purge a = { now - (int64_t)c->rules->soft_delete_days * 86400, now, after, pair_of,
			   arg, points, machines };
	int rc;

	LOCK(c);
	rc = txn(c, purge, &a, e);
	UNLOCK(c);
	if (rc != 0)
		*points = *machines = 0;
	return rc;
}

/* Inside the lock: ERR_LOCKED when ACTOR may use no PIN at NOW. 0, or -1. */
static int pin_locked(struct catalog_backend *c, const char *actor, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	if ((st = prep(c, "SELECT locked_until FROM pin_guard WHERE actor = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	r = step_row(c, st, e);
	if (r == 0 || (r == 1 && sqlite3_column_int64(st, 0) <= now))
		rc = 0;
	else if (r == 1)
		err_set(e, ERR_LOCKED, "%d wrong security PINs in %d minutes: the outstanding PINs "
			"are void and PIN use is refused for %d minutes (%lld seconds left)",
			c->rules->pin_attempts, c->rules->pin_lock_seconds / 60, c->rules->pin_lock_seconds / 60,
			(long long)(sqlite3_column_int64(st, 0) - now));
	done(c, st);
	return rc;
}

struct pin_new {
	const char *subscription, *user_id, *pin_hash;
	int64_t now, expires;
};

static int pin_create(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct pin_new *a = arg;
	sqlite3_stmt *st;
	int rc;

	/* Why in the transaction: a lock-out another service records
	 * meanwhile must stop this PIN. */
	if (pin_locked(c, a->user_id, a->now, e) != 0)
		return -1;
	if ((st = prep(c, "INSERT INTO pins (subscription, hash, expires, user_id) VALUES (?, ?, ?, ?)",
		       e)) == NULL)
		return -1;
	bind_text(st, 1, a->subscription);
	bind_text(st, 2, a->pin_hash);
	sqlite3_bind_int64(st, 3, a->expires);
	bind_text(st, 4, a->user_id);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int sq_pin_create(struct catalog_backend *c, const char *subscription, const char *user_id,
			 const char *pin_hash, int64_t now, int64_t expires, struct err *e)
{
	struct pin_new a = { subscription, user_id, pin_hash, now, expires };
	int rc;

	LOCK(c);
	rc = txn(c, pin_create, &a, e);
	UNLOCK(c);
	return rc;
}

/* Inside the transaction: count a wrong PIN of ACTOR; the last allowed one
 * voids the outstanding PINs (the user's, or with USER_ID NULL the
 * subscription's) and locks ACTOR. *LOCKED says whether it did. 0, or -1. */
static int pin_failed(struct catalog_backend *c, const char *subscription, const char *user_id,
		      const char *actor, int64_t now, bool *locked, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	*locked = false;
	/* A window starts at its first failure and lasts c->rules->pin_lock_seconds. */
	if ((st = prep(c, "INSERT INTO pin_guard (actor, failures, first, locked_until) VALUES (?1, 1, ?2, 0) "
			  "ON CONFLICT (actor) DO UPDATE SET failures = CASE WHEN first <= ?2 - ?3 "
			  "THEN 1 ELSE failures + 1 END, first = CASE WHEN first <= ?2 - ?3 THEN ?2 "
			  "ELSE first END", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, c->rules->pin_lock_seconds);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	if (rc != 0)
		return -1;
	if ((st = prep(c, "UPDATE pin_guard SET failures = 0, locked_until = ?2 + ?3 WHERE actor = ?1 "
			  "AND failures >= ?4", e)) == NULL)
		return -1;
	bind_text(st, 1, actor);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, c->rules->pin_lock_seconds);
	sqlite3_bind_int(st, 4, c->rules->pin_attempts);
	rc = step_done(c, st, NULL, e);
	done(c, st);
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
	done(c, st);
	return rc;
}

struct pin_use {
	const char *subscription, *user_id, *actor, *pin_hash;
	int64_t now;
	bool found, locked;
};

/* Within a transaction: consume the PIN, or count a failure (committed
 * either way: a wrong PIN must count even though the use fails). */
static int pin_use(struct catalog_backend *c, void *arg, struct err *e)
{
	struct pin_use *a = arg;
	sqlite3_stmt *st;
	int r;

	if (pin_locked(c, a->actor, a->now, e) != 0 ||
	    run3(c, "DELETE FROM pins WHERE expires <= ?3", NULL, NULL, a->now, e) != 0)
		return -1;
	/* One row, consumed in the transaction that found it: single use. */
	if ((st = prep(c, a->user_id ? "DELETE FROM pins WHERE rowid = (SELECT rowid FROM pins WHERE "
				       "subscription = ?1 AND hash = ?2 AND user_id = ?3 LIMIT 1)"
				     : "DELETE FROM pins WHERE rowid = (SELECT rowid FROM pins WHERE "
				       "subscription = ?1 AND hash = ?2 LIMIT 1)", e)) == NULL)
		return -1;
	bind_text(st, 1, a->subscription);
	bind_text(st, 2, a->pin_hash);
	if (a->user_id)
		bind_text(st, 3, a->user_id);
	r = step_done(c, st, NULL, e);
	done(c, st);
	if (r != 0)
		return -1;
	a->found = sqlite3_changes(c->db) > 0;
	if (a->found)
		return run3(c, "DELETE FROM pin_guard WHERE actor = ?1", a->actor, NULL, 0, e);
	return pin_failed(c, a->subscription, a->user_id, a->actor, a->now, &a->locked, e);
}

static int sq_pin_use(struct catalog_backend *c, const char *subscription, const char *user_id,
		      const char *actor, const char *pin_hash, int64_t now, struct err *e)
{
	struct pin_use a = { subscription, user_id, actor, pin_hash, now, false, false };
	int rc;

	LOCK(c);
	rc = txn(c, pin_use, &a, e);
	UNLOCK(c);
	if (rc != 0 || a.found)
		return rc;
	if (a.locked)
		return err_set(e, ERR_DENIED, "the security PIN is wrong; that was the %dth wrong PIN "
			       "in %d minutes: the outstanding PINs are void and PIN use is refused "
			       "for %d minutes", c->rules->pin_attempts, c->rules->pin_lock_seconds / 60,
			       c->rules->pin_lock_seconds / 60);
	return err_set(e, ERR_DENIED, "the security PIN is wrong or has expired (a PIN is valid "
		       "for %d minutes and for one operation): generate a new one in the portal",
		       c->rules->pin_seconds / 60);
}

static int alert_insert(struct catalog_backend *c, const char *subscription, int64_t now,
			const char *kind, const char *target, const char *message, struct err *e)
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
		done(c, st);
	}
	return rc;
}

static int sq_alert(struct catalog_backend *c, const char *subscription, int64_t now,
		    const char *kind, const char *target, const char *message, struct err *e)
{
	int rc;

	LOCK(c);
	rc = alert_insert(c, subscription, now, kind, target, message, e);
	UNLOCK(c);
	return rc;
}

static int alert_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct alert *a = elem;

	(void)e;
	a->id = sqlite3_column_int64(st, 0);
	a->time = sqlite3_column_int64(st, 1);
	copy_col(a->kind, sizeof(a->kind), st, 2);
	copy_col(a->target, sizeof(a->target), st, 3);
	copy_col(a->message, sizeof(a->message), st, 4);
	return 0;
}

static int sq_alert_list(struct catalog_backend *c, const char *subscription, int limit,
			 struct alert **out, size_t *n, struct err *e)
{
	return list_of(c, "SELECT id, time, kind, target, message FROM alerts WHERE subscription = ?1 "
		       "ORDER BY id DESC LIMIT ?2", subscription, limit, sizeof(**out), alert_fill,
		       NULL, (void **)out, n, e);
}

static int sq_job_start(struct catalog_backend *c, const char *machine_id, const char *kind,
			int64_t now, struct job *j, struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	j->started = now;
	return rc;
}

struct job_end {
	const char *machine_id;
	const struct job *j;
	int64_t now;
	const struct job_alert *alert;
};

static int job_end(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct job_end *a = arg;
	const struct job *j = a->j;
	sqlite3_stmt *st;
	int rc;

	if ((st = prep(c, "UPDATE jobs SET status = ?, ended = ?, files = ?, bytes_read = ?, "
			  "bytes_stored = ?, point = ?, report = ? WHERE id = ? AND machine_id = ? AND "
			  "status = 'running'", e)) == NULL)
		return -1;
	bind_text(st, 1, j->status);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, j->files);
	sqlite3_bind_int64(st, 4, j->bytes_read);
	sqlite3_bind_int64(st, 5, j->bytes_stored);
	bind_text(st, 6, j->point);
	bind_text(st, 7, j->report ? j->report : "{}");
	bind_text(st, 8, j->id);
	bind_text(st, 9, a->machine_id);
	rc = step_done(c, st, NULL, e);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = err_set(e, ERR_NOT_FOUND, "no running job %.40s of this machine", j->id);
	done(c, st);
	/* Invariant: a job's alert exists exactly when its end was recorded. */
	if (rc == 0 && a->alert)
		rc = alert_insert(c, a->alert->subscription, a->now, a->alert->kind,
				  a->alert->target, a->alert->message, e);
	return rc;
}

static int sq_job_end(struct catalog_backend *c, const char *machine_id, const struct job *j,
		      int64_t now, const struct job_alert *alert, struct err *e)
{
	struct job_end a = { machine_id, j, now, alert };
	int rc;

	LOCK(c);
	rc = txn(c, job_end, &a, e);
	UNLOCK(c);
	return rc;
}

static void job_drop(void *v, size_t n)
{
	catalog_job_list_free(v, n);
}

static int job_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct job *j = elem;
	const unsigned char *report = sqlite3_column_text(st, 11);

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
	if ((j->report = strdup(report ? (const char *)report : "{}")) == NULL)
		return err_oom(e);
	return 0;
}

static int sq_job_list(struct catalog_backend *c, const char *vault_id, int limit, struct job **out,
		       size_t *n, struct err *e)
{
	return list_of(c, "SELECT j.id, j.machine_id, m.name, j.kind, j.status, j.started, j.ended, "
		       "j.files, j.bytes_read, j.bytes_stored, j.point, j.report FROM jobs j JOIN "
		       "machines m ON m.id = j.machine_id WHERE m.vault_id = ?1 ORDER BY j.started "
		       "DESC, j.rowid DESC LIMIT ?2", vault_id, limit, sizeof(**out), job_fill,
		       job_drop, (void **)out, n, e);
}

static int usage_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct usage *u = elem;

	(void)e;
	copy_col(u->machine_id, sizeof(u->machine_id), st, 0);
	copy_col(u->machine, sizeof(u->machine), st, 1);
	u->packs = sqlite3_column_int64(st, 2);
	u->stored_bytes = sqlite3_column_int64(st, 3);
	u->points = sqlite3_column_int64(st, 4);
	return 0;
}

static int sq_usage(struct catalog_backend *c, const char *vault_id, struct usage **out, size_t *n,
		    struct err *e)
{
	return list_of(c, "SELECT m.id, m.name, (SELECT count(*) FROM packs p WHERE p.machine_id = m.id), "
		       "(SELECT coalesce(sum(size), 0) FROM packs p WHERE p.machine_id = m.id), "
		       "(SELECT count(*) FROM points q WHERE q.machine_id = m.id AND q.deleted = 0) "
		       "FROM machines m WHERE m.vault_id = ?1 ORDER BY m.name", vault_id, 0,
		       sizeof(**out), usage_fill, NULL, (void **)out, n, e);
}

static int sq_job_kind(struct catalog_backend *c, const char *machine_id, const char *job_id,
		       char kind[16], struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	kind[0] = '\0';
	LOCK(c);
	if ((st = prep(c, "SELECT kind FROM jobs WHERE id = ? AND machine_id = ?", e))) {
		bind_text(st, 1, job_id);
		bind_text(st, 2, machine_id);
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(kind, 16, st, 0);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no job %.40s of this machine", job_id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_policy_get(struct catalog_backend *c, const char *machine_id, char **json,
			 struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	*json = NULL;
	LOCK(c);
	if ((st = prep(c, "SELECT policy FROM policies WHERE machine_id = ?", e))) {
		bind_text(st, 1, machine_id);
		if ((r = step_row(c, st, e)) == 1) {
			if ((*json = strdup((const char *)sqlite3_column_text(st, 0))) != NULL)
				rc = 0;
			else
				err_oom(e);
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "the machine has no backup policy yet");
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int id_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	(void)e;
	copy_col(elem, sizeof(catalog_id), st, 0);
	return 0;
}

static int sq_policy_machines(struct catalog_backend *c, catalog_id **ids, size_t *n, struct err *e)
{
	return list_of(c, "SELECT p.machine_id FROM policies p JOIN machines m ON m.id = p.machine_id"
		       " WHERE m.deleted = 0", NULL, 0, sizeof(**ids), id_fill, NULL, (void **)ids,
		       n, e);
}

/* Whether MACHINE's stored policy is PREV (NULL: it has none). 1, 0 or -1. */
static int policy_is(struct catalog_backend *c, const char *machine_id, const char *prev,
		     struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	if ((st = prep(c, "SELECT policy FROM policies WHERE machine_id = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, machine_id);
	if ((r = step_row(c, st, e)) == 1)
		rc = prev && strcmp((const char *)sqlite3_column_text(st, 0), prev) == 0;
	else if (r == 0)
		rc = prev == NULL;
	done(c, st);
	return rc;
}

struct policy_new {
	const char *machine_id, *prev, *json;
	int64_t now;
	const struct job_alert *alert;
	catalog_keep_fn keep;
	void *keep_arg;
};

struct kept_point {
	catalog_id id;
	int64_t retain_until;
};

struct kept {
	char vault[51];
	struct kept_point *pts;
	int64_t *created;
	size_t n, cap, ccap;
};

static int kept_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	struct kept *k = arg;

	(void)c;
	if (grow((void **)&k->pts, &k->cap, k->n, sizeof(*k->pts), e) != 0 ||
	    grow((void **)&k->created, &k->ccap, k->n, sizeof(*k->created), e) != 0)
		return -1;
	copy_col(k->vault, sizeof(k->vault), st, 0);
	copy_col(k->pts[k->n].id, sizeof(k->pts[k->n].id), st, 1);
	k->created[k->n] = sqlite3_column_int64(st, 2);
	k->pts[k->n].retain_until = sqlite3_column_int64(st, 3);
	k->n++;
	return 0;
}

/*
 * Within policy_set's transaction, in an immutable vault: ask KEEP until
 * when the new policy keeps each live point, and refuse (ERR_LOCKED) when
 * it would keep one for less than its retain-until time, or (at 0) would
 * remove it now. 0 in a mutable vault or when every point is kept long enough.
 */
static int policy_keeps(struct catalog_backend *c, const struct policy_new *a, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT v.name, p.id, p.created, p.retain_until FROM points p"
				   " JOIN machines m ON m.id = p.machine_id JOIN vaults v ON"
				   " v.id = m.vault_id WHERE p.machine_id = ?1 AND p.deleted = 0 AND"
				   " v.immutability > 0 ORDER BY p.created, p.rowid", e);
	struct kept k = { .vault = "" };
	int64_t *until = NULL;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a->machine_id);
	rc = each_row(c, st, kept_row, &k, e);
	done(c, st);
	if (rc < 0 || k.n == 0)
		goto out;
	rc = -1;
	if (a->keep == NULL) {
		err_set(e, ERR_LOCKED, "vault %s is immutable: a policy of its machines is set only "
			"with retention's check of every point", k.vault);
		goto out;
	}
	if ((until = calloc(k.n, sizeof(*until))) == NULL) {
		err_oom(e);
		goto out;
	}
	if (a->keep(a->keep_arg, k.created, k.n, a->now, until, e) != 0)
		goto out;
	for (size_t i = 0; i < k.n; i++) {
		int64_t had = k.pts[i].retain_until, need = had ? had : a->now;

		if (until[i] < need) {
			catalog_refuse_retained(e, k.vault, k.pts[i].id, had);
			err_prefix(e, "this policy would expire a recovery point sooner than its "
				   "retention allows (retention can be extended, not reduced, in an "
				   "immutable vault): ");
			goto out;
		}
	}
	rc = 0;
out:
	free(until);
	free(k.pts);
	free(k.created);
	return rc;
}

static int policy_set(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct policy_new *a = arg;
	sqlite3_stmt *st;
	int rc, same;

	if ((same = policy_is(c, a->machine_id, a->prev, e)) < 0)
		return -1;
	if (same == 0)
		return err_set(e, ERR_LOCKED, "the machine's policy changed while this one was being "
			       "checked; read it again and retry");
	if (policy_keeps(c, a, e) != 0)
		return -1;
	if ((st = prep(c, "INSERT INTO policies (machine_id, policy, updated) VALUES (?, ?, ?) "
			  "ON CONFLICT (machine_id) DO UPDATE SET policy = excluded.policy, "
			  "updated = excluded.updated", e)) == NULL)
		return -1;
	bind_text(st, 1, a->machine_id);
	bind_text(st, 2, a->json);
	sqlite3_bind_int64(st, 3, a->now);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	/* Invariant: the alert exists exactly when the policy it tells of was stored. */
	if (rc == 0 && a->alert)
		rc = alert_insert(c, a->alert->subscription, a->now, a->alert->kind,
				  a->alert->target, a->alert->message, e);
	return rc;
}

static int sq_policy_set(struct catalog_backend *c, const char *machine_id, const char *prev,
			 const char *json, int64_t now, const struct job_alert *alert,
			 catalog_keep_fn keep, void *keep_arg, struct err *e)
{
	struct policy_new a = { machine_id, prev, json, now, alert, keep, keep_arg };
	int rc;

	LOCK(c);
	rc = txn(c, policy_set, &a, e);
	UNLOCK(c);
	return rc;
}

struct lease_new {
	const char *machine_id, *id;
	int64_t now, expires;
};

static int lease_begin(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct lease_new *a = arg;
	sqlite3_stmt *st;
	int rc;

	/* Expired leases go whenever a new one begins: nobody has to clean up. */
	if (run3(c, "DELETE FROM leases WHERE expires <= ?3", NULL, NULL, a->now, e) != 0 ||
	    (st = prep(c, "INSERT INTO leases (id, machine_id, started, expires) VALUES (?, ?, ?, ?)",
		       e)) == NULL)
		return -1;
	bind_text(st, 1, a->id);
	bind_text(st, 2, a->machine_id);
	sqlite3_bind_int64(st, 3, a->now);
	sqlite3_bind_int64(st, 4, a->expires);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int sq_lease_begin(struct catalog_backend *c, const char *machine_id, int64_t now,
			  int64_t expires, catalog_id id, struct err *e)
{
	struct lease_new a = { machine_id, id, now, expires };
	int rc;

	catalog_new_id(id);
	LOCK(c);
	rc = txn(c, lease_begin, &a, e);
	UNLOCK(c);
	return rc;
}

struct lease_renew {
	const char *machine_id, *id;
	int64_t now, expires, *until;
};

/* Within a transaction: see catalog_lease_renew. */
static int lease_renew(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct lease_renew *a = arg;
	const char *machine_id = a->machine_id, *id = a->id;
	int64_t now = a->now, expires = a->expires, *until = a->until;
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

static int sq_lease_renew(struct catalog_backend *c, const char *machine_id, const char *id,
			  int64_t now, int64_t expires, int64_t *until, struct err *e)
{
	struct lease_renew a = { machine_id, id, now, expires, until };
	int rc;

	LOCK(c);
	rc = txn(c, lease_renew, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_lease_end(struct catalog_backend *c, const char *machine_id, const char *id,
			struct err *e)
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
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int lease_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct lease *l = elem;

	(void)e;
	copy_col(l->id, sizeof(l->id), st, 0);
	copy_col(l->machine_id, sizeof(l->machine_id), st, 1);
	l->started = sqlite3_column_int64(st, 2);
	l->expires = sqlite3_column_int64(st, 3);
	return 0;
}

static int sq_lease_list(struct catalog_backend *c, struct lease **out, size_t *n, struct err *e)
{
	return list_of(c, "SELECT id, machine_id, started, expires FROM leases ORDER BY started, id",
		       NULL, 0, sizeof(**out), lease_fill, NULL, (void **)out, n, e);
}

static int sq_point_get(struct catalog_backend *c, const char *machine_id, const char *point_id,
			struct recovery_point *rp, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	LOCK(c);
	if ((st = prep(c, "SELECT id, meta, parent, created, objects, bytes, retain_until FROM points "
			  "WHERE machine_id = ? AND id = ? AND deleted = 0", e))) {
		bind_text(st, 1, machine_id);
		bind_text(st, 2, point_id);
		if ((r = step_row(c, st, e)) == 1) {
			memset(rp, 0, sizeof(*rp));
			copy_col(rp->id, sizeof(rp->id), st, 0);
			copy_col(rp->meta, sizeof(rp->meta), st, 1);
			copy_col(rp->parent, sizeof(rp->parent), st, 2);
			rp->created = sqlite3_column_int64(st, 3);
			rp->objects = sqlite3_column_int64(st, 4);
			rp->bytes = sqlite3_column_int64(st, 5);
			rp->retain_until = sqlite3_column_int64(st, 6);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no recovery point %.40s of this machine", point_id);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* ---- space collection ---- */

static int64_t scalar(struct catalog_backend *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e);  /* Union of the sorted unique ids A (N_A of them,
		      in a buffer of *CAP) and * B (N_B) into A; 0,
		      or -1 out of memory. */ static int union_into(struct objid **a, size_t *n_a,
		      size_t *cap, const struct objid *b, size_t n_b, struct err *e)
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

struct refs {
	struct objid *ids;
	size_t n, cap;
	size_t rows; /* rows read (point_refs) */
};

/* One point's references (a blob of sorted ids), added to the union. */
static int refs_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	struct refs *r = arg;
	const void *blob = sqlite3_column_blob(st, 0);
	size_t len = (size_t)sqlite3_column_bytes(st, 0);

	(void)c;
	if (len % sizeof(struct objid) != 0)
		return err_set(e, ERR_IO, "catalog: the references of a point are damaged");
	return union_into(&r->ids, &r->n, &r->cap, blob, len / sizeof(struct objid), e);
}

static int sq_refs_mark(struct catalog_backend *c, const char *machine_id, struct objid **ids,
			size_t *n, int64_t *mark, struct err *e)
{
	struct refs r = { 0 };
	sqlite3_stmt *st;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	*mark = 0;
	LOCK(c);
	/* Every point's list and the mark, read under one hold of the catalog:
	 * no commit comes in between. Part of the references would let the
	 * collector drop live objects: each_row never ends a failed read as
	 * if it were complete. */
	if ((st = prep(c, "SELECT ids FROM point_refs WHERE machine_id = ? ORDER BY seq", e))) {
		bind_text(st, 1, machine_id);
		rc = each_row(c, st, refs_row, &r, e) < 0 ? -1 : 0;
		done(c, st);
		/* The mark: the last number handed to a point, of any machine. */
		if (rc == 0 && (*mark = scalar(c, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence"
						  " WHERE name = 'point_refs'", NULL, NULL, 0, e)) < 0)
			rc = -1;
	}
	UNLOCK(c);
	if (rc) {
		free(r.ids);
		*mark = 0;
		return -1;
	}
	*ids = r.ids;
	*n = r.n;
	return 0;
}

/* One point's references, the only row of its query: counted, so that no
 * row is told apart from an empty list. */
static int refs_one_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	struct refs *r = arg;

	r->rows++;
	return refs_row(c, st, arg, e);
}

static int sq_point_refs(struct catalog_backend *c, const char *machine_id, const char *point_id,
			 struct objid **ids, size_t *n, struct err *e)
{
	struct refs r = { 0 };
	sqlite3_stmt *st;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	LOCK(c);
	if ((st = prep(c, "SELECT ids FROM point_refs WHERE machine_id = ? AND point_id = ?", e))) {
		bind_text(st, 1, machine_id);
		bind_text(st, 2, point_id);
		rc = each_row(c, st, refs_one_row, &r, e) < 0 ? -1 : 0;
		done(c, st);
	}
	UNLOCK(c);
	if (rc == 0 && r.rows == 0)
		rc = err_set(e, ERR_NOT_FOUND, "the catalog holds no references of recovery point "
			     "%.40s", point_id);
	if (rc) {
		free(r.ids);
		return -1;
	}
	*ids = r.ids;
	*n = r.n;
	return 0;
}

static int pack_use_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct pack_use *u = elem;

	(void)e;
	copy_col(u->id, sizeof(u->id), st, 0);
	copy_col(u->machine_id, sizeof(u->machine_id), st, 1);
	copy_col(u->vault_id, sizeof(u->vault_id), st, 2);
	u->size = sqlite3_column_int64(st, 3);
	return 0;
}

static int sq_pack_usage(struct catalog_backend *c, const char *vault_id, struct pack_use **out,
			 size_t *n, struct err *e)
{
	return list_of(c, "SELECT p.id, p.machine_id, m.vault_id, p.size FROM packs p"
		       " JOIN machines m ON m.id = p.machine_id"
		       " WHERE ?1 IS NULL OR m.vault_id = ?1 ORDER BY p.machine_id, p.created",
		       vault_id, 0, sizeof(**out), pack_use_fill, NULL, (void **)out, n, e);
}

struct forget {
	const char *pack;
	int64_t after;
	catalog_pair_fn pair_of;
	void *arg;
	int found;
};

/* The pack's row (machine, region, redundancy): drop its records, doom
 * its files. */
static int forget_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	struct forget *a = arg;
	char machine[sizeof(catalog_id)], region[65], redundancy[8];
	const char *pair;

	copy_col(machine, sizeof(machine), st, 0);
	copy_col(region, sizeof(region), st, 1);
	copy_col(redundancy, sizeof(redundancy), st, 2);
	pair = strcmp(redundancy, "GRS") == 0 && a->pair_of ? a->pair_of(a->arg, region) : NULL;
	a->found = 1;
	/* Its file goes at AFTER: in an immutable vault, only when no point of
	 * its machine is retained past then. */
	if (retained(c, machine, NULL, a->after, e) != 0)
		return -1;
	if (run3(c, "DELETE FROM objects WHERE machine_id = ?1 AND pack_id = ?2", machine, a->pack,
		 0, e) != 0 ||
	    run3(c, "DELETE FROM packs WHERE id = ?1", a->pack, NULL, 0, e) != 0)
		return -1;
	return doom(c, NULL, a->pack, region, pair, a->after, e) != 0 ? -1 : 1;
}

static int forget(struct catalog_backend *c, void *arg, struct err *e)
{
	struct forget *a = arg;
	sqlite3_stmt *st = prep(c, "SELECT p.machine_id, v.region, v.redundancy FROM packs p"
				   " JOIN machines m ON m.id = p.machine_id"
				   " JOIN vaults v ON v.id = m.vault_id WHERE p.id = ?1", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a->pack);
	rc = each_row(c, st, forget_row, a, e);
	done(c, st);
	if (rc < 0)
		return -1;
	return a->found ? 0 : err_set(e, ERR_NOT_FOUND, "the catalog lists no pack %.64s", a->pack);
}

static int sq_pack_forget(struct catalog_backend *c, const char *pack, int64_t after,
			  catalog_pair_fn pair_of, void *arg, struct err *e)
{
	struct forget a = { pack, after, pair_of, arg, 0 };
	int rc;

	LOCK(c);
	rc = txn(c, forget, &a, e);
	UNLOCK(c);
	return rc;
}

static int pack_obj_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct pack_obj *o = elem;
	const char *hex = (const char *)sqlite3_column_text(st, 0);

	if (objid_from_hex(hex ? hex : "", &o->id, e) != 0)
		return -1;
	o->length = sqlite3_column_int64(st, 1);
	return 0;
}

/* Of the objects placed in PACK of MACHINE, their ids (sorted) and lengths;
 * the caller holds the catalog. Part of a pack's objects would make the
 * collector drop live ones: a failed read is an error (read_list). */
static int pack_objects(struct catalog_backend *c, const char *machine_id, const char *pack,
			struct pack_obj **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT id, length FROM objects WHERE machine_id = ?"
				   " AND pack_id = ? ORDER BY id", e);
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	bind_text(st, 1, machine_id);
	bind_text(st, 2, pack);
	rc = read_list(c, st, sizeof(**out), pack_obj_fill, NULL, (void **)out, n, e);
	done(c, st);
	return rc;
}

static int sq_pack_objects(struct catalog_backend *c, const char *machine_id, const char *pack,
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
static int64_t scalar(struct catalog_backend *c, const char *sql, const char *a, const char *b,
		      int64_t i, struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int64_t v = -1;

	if (st == NULL)
		return -1;
	bind3(st, a, b, i);
	switch (step_row(c, st, e)) {
	case 1:
		v = sqlite3_column_int64(st, 0);
		break;
	case 0:
		err_set(e, ERR_IO, "catalog: a query that always answers gave no row");
		break;
	}
	done(c, st);
	return v;
}

/* Run SQL (arguments as bind3). 0 or -1. */
static int run3(struct catalog_backend *c, const char *sql, const char *a, const char *b, int64_t i,
		struct err *e)
{
	sqlite3_stmt *st = prep(c, sql, e);
	int rc;

	if (st == NULL)
		return -1;
	bind3(st, a, b, i);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int doom(struct catalog_backend *c, const char *machine_id, const char *pack,
		const char *region, const char *pair, int64_t after, struct err *e)
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
	done(c, st);
	/* A doomed pack is not copied any more: its files go from both
	 * regions (the replicator's argument, replicate.c). */
	return rc ? -1 : run3(c, "DELETE FROM replicas WHERE pack_id = ?1", pack, NULL, 0, e);
}

/* Within a transaction: refuse (ERR_LOCKED) while MACHINE holds a lease,
 * since a backup in progress may rely on any object it was told is stored. */
static int not_leased(struct catalog_backend *c, const char *machine_id, int64_t now, struct err *e)
{
	int64_t v = scalar(c, "SELECT count(*) FROM leases WHERE machine_id = ?1 AND expires > ?3",
			   machine_id, NULL, now, e);

	if (v < 0)
		return -1;
	return v ? err_set(e, ERR_LOCKED, "a backup of the machine is in progress") : 0;
}

struct since {
	const struct pack_obj *objs;
	size_t n;
};

/* 1 (stop) when the point of this row references one of the objects. */
static int since_row(struct catalog_backend *c, sqlite3_stmt *st, void *arg, struct err *e)
{
	const struct since *a = arg;
	const struct objid *ids = sqlite3_column_blob(st, 0);
	size_t m = (size_t)sqlite3_column_bytes(st, 0) / sizeof(struct objid);

	(void)c;
	(void)e;
	for (size_t i = 0; i < a->n; i++)
		if (m > 0 && bsearch(&a->objs[i].id, ids, m, sizeof(*ids),
				     (int (*)(const void *, const void *))objid_cmp) != NULL)
			return 1;
	return 0;
}

/* Within a transaction: whether a point of MACHINE committed after MARK
 * references an object of PACK (1), not (0), or -1. Points up to the mark
 * were in the collector's view; only later ones can have made a dead
 * object live again. A read that failed half-way is no "not referenced"
 * (each_row): that would drop what a new point needs. */
static int referenced_since(struct catalog_backend *c, const char *machine_id, const char *pack,
			    int64_t mark, struct err *e)
{
	struct since a = { NULL, 0 };
	sqlite3_stmt *st;
	int found;

	if (pack_objects(c, machine_id, pack, (struct pack_obj **)&a.objs, &a.n, e) != 0)
		return -1;
	if ((st = prep(c, "SELECT ids FROM point_refs WHERE machine_id = ? AND seq > ?", e)) == NULL) {
		free((void *)a.objs);
		return -1;
	}
	bind_text(st, 1, machine_id);
	sqlite3_bind_int64(st, 2, mark);
	found = each_row(c, st, since_row, &a, e);
	done(c, st);
	free((void *)a.objs);
	return found;
}

/* Within a transaction: drop what is left of PACK (its object rows and its
 * row) and doom its file, refusing (ERR_LOCKED) if a point committed since
 * MARK references any object left there: a commit without a lease may have
 * made one live since the collector looked. */
static int drop_pack(struct catalog_backend *c, const char *machine_id, const char *pack,
		     int64_t mark, const char *region, const char *pair, int64_t after,
		     struct err *e)
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

static int sq_gc_doom(struct catalog_backend *c, const char *machine_id, const char *pack,
		      const char *region, const char *pair, int64_t after, struct err *e)
{
	int rc;

	LOCK(c);
	rc = doom(c, machine_id, pack, region, pair, after, e);
	UNLOCK(c);
	return rc;
}

struct gc_drop {
	const char *machine_id, *pack;
	int64_t mark;
	const char *region, *pair;
	int64_t now, after;
};

static int gc_drop(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct gc_drop *a = arg;

	return not_leased(c, a->machine_id, a->now, e) ||
	       drop_pack(c, a->machine_id, a->pack, a->mark, a->region, a->pair, a->after, e) ? -1 : 0;
}

static int sq_gc_drop(struct catalog_backend *c, const char *machine_id, const char *pack,
		      int64_t mark, const char *region, const char *pair, int64_t now,
		      int64_t after, struct err *e)
{
	struct gc_drop a = { machine_id, pack, mark, region, pair, now, after };
	int rc;

	LOCK(c);
	rc = txn(c, gc_drop, &a, e);
	UNLOCK(c);
	return rc;
}

struct gc_move {
	struct gc_drop old;
	const char *new_pack;
	uint64_t new_size;
	const struct pack_entry *ents;
	size_t n;
};

static int gc_move(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct gc_move *a = arg;
	const char *machine_id = a->old.machine_id;
	sqlite3_stmt *st;
	int rc;

	if (not_leased(c, machine_id, a->old.now, e))
		return -1;
	if ((st = prep(c, "INSERT INTO packs (id, machine_id, size, created) VALUES (?, ?, ?, ?)",
		       e)) == NULL)
		return -1;
	bind_text(st, 1, a->new_pack);
	bind_text(st, 2, machine_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a->new_size);
	sqlite3_bind_int64(st, 4, a->old.now);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	if (rc != 0)
		return -1;
	if ((st = prep(c, "UPDATE objects SET pack_id = ?, offset = ?, length = ?"
			  " WHERE machine_id = ? AND id = ? AND pack_id = ?", e)) == NULL)
		return -1;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		char hex[OBJID_HEX_LEN + 1];

		objid_to_hex(&a->ents[i].id, hex);
		sqlite3_reset(st);
		bind_text(st, 1, a->new_pack);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)a->ents[i].offset);
		sqlite3_bind_int64(st, 3, a->ents[i].length);
		bind_text(st, 4, machine_id);
		bind_text(st, 5, hex);
		bind_text(st, 6, a->old.pack);
		rc = step_done(c, st, NULL, e);
	}
	done(c, st);
	if (rc != 0 ||
	    drop_pack(c, machine_id, a->old.pack, a->old.mark, a->old.region, a->old.pair,
		      a->old.after, e) ||
	    run3(c, "DELETE FROM doomed WHERE pack_id = ?1", a->new_pack, NULL, 0, e))
		return -1;
	return 0;
}

static int sq_gc_move(struct catalog_backend *c, const char *machine_id, const char *old_pack,
		      const char *new_pack, uint64_t new_size, const struct pack_entry *ents,
		      size_t n, int64_t mark, const char *region, const char *pair, int64_t now,
		      int64_t after, struct err *e)
{
	struct gc_move a = { { machine_id, old_pack, mark, region, pair, now, after }, new_pack,
			     new_size, ents, n };
	int rc;

	LOCK(c);
	rc = txn(c, gc_move, &a, e);
	UNLOCK(c);
	return rc;
}

static int doomed_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct doomed *d = elem;

	(void)e;
	copy_col(d->pack, sizeof(d->pack), st, 0);
	copy_col(d->region, sizeof(d->region), st, 1);
	copy_col(d->pair, sizeof(d->pair), st, 2);
	return 0;
}

static int sq_doomed_due(struct catalog_backend *c, int64_t now, struct doomed **out, size_t *n,
			 struct err *e)
{
	return list_of(c, "SELECT pack_id, region, pair FROM doomed WHERE after <= ?2", NULL, now,
		       sizeof(**out), doomed_fill, NULL, (void **)out, n, e);
}

struct claim_arg {
	const char *pack, *holder; /* duty_take: the duty's name, and its holder */
	int64_t now, until;
};

static int doomed_claim(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct claim_arg *a = arg;
	int64_t listed, doomed, held;

	if ((listed = scalar(c, "SELECT count(*) FROM packs WHERE id = ?1", a->pack, NULL, 0,
			     e)) < 0 ||
	    (doomed = scalar(c, "SELECT count(*) FROM doomed WHERE pack_id = ?1", a->pack, NULL, 0,
			     e)) < 0 ||
	    (held = scalar(c, "SELECT count(*) FROM holds WHERE pack_id = ?1 AND expires > ?3",
			   a->pack, NULL, a->now, e)) < 0)
		return -1;
	/* Listed again (catalog_pack_add cancels the doom itself; this catches
	 * a row doomed by other means): keep the file, forget the doom. */
	if (listed > 0)
		return run3(c, "DELETE FROM doomed WHERE pack_id = ?1", a->pack, NULL, 0, e) != 0
			? -1 : 0;
	if (doomed == 0 || held > 0)
		return 0; /* no longer doomed, or an upload is storing it again */
	if (run3(c, "UPDATE doomed SET sweeping = ?3 WHERE pack_id = ?1", a->pack, NULL,
		 a->now + CATALOG_SWEEP_SECONDS, e) != 0)
		return -1;
	return 1;
}

static int sq_doomed_claim(struct catalog_backend *c, const char *pack, int64_t now,
			   struct err *e)
{
	struct claim_arg a = { pack, NULL, now, 0 };
	int rc;

	LOCK(c);
	rc = txn(c, doomed_claim, &a, e);
	UNLOCK(c);
	return rc;
}

static int pack_hold(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct claim_arg *a = arg;
	int64_t sweeping = scalar(c, "SELECT coalesce(max(sweeping), 0) FROM doomed WHERE "
				     "pack_id = ?1", a->pack, NULL, 0, e);

	if (sweeping < 0)
		return -1;
	if (sweeping > a->now)
		return err_set(e, ERR_LOCKED, "the space collector is deleting the files of pack "
			       "%.16s; send it again in a moment", a->pack);
	if (run3(c, "DELETE FROM holds WHERE expires <= ?3", NULL, NULL, a->now, e) != 0)
		return -1;
	return run3(c, "INSERT INTO holds (pack_id, holder, expires) VALUES (?1, ?2, ?3)"
		    " ON CONFLICT (pack_id, holder) DO UPDATE SET expires = excluded.expires",
		    a->pack, a->holder, a->until, e);
}

static int sq_pack_hold(struct catalog_backend *c, const char *pack, const char *holder,
			int64_t now, int64_t until, struct err *e)
{
	struct claim_arg a = { pack, holder, now, until };
	int rc;

	LOCK(c);
	rc = txn(c, pack_hold, &a, e);
	UNLOCK(c);
	return rc;
}

static int pack_unhold(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct claim_arg *a = arg;

	return run3(c, "DELETE FROM holds WHERE pack_id = ?1 AND holder = ?2", a->pack, a->holder,
		    0, e);
}

static int sq_pack_unhold(struct catalog_backend *c, const char *pack, const char *holder,
			  struct err *e)
{
	struct claim_arg a = { pack, holder, 0, 0 };
	int rc;

	LOCK(c);
	rc = txn(c, pack_unhold, &a, e);
	UNLOCK(c);
	return rc;
}

static int duty_take(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct claim_arg *a = arg;
	int64_t other = scalar(c, "SELECT count(*) FROM duties WHERE name = ?1 AND holder <> ?2"
				  " AND expires > ?3", a->pack, a->holder, a->now, e);

	if (other < 0)
		return -1;
	if (other > 0)
		return 0; /* another holder's time is still running */
	if (run3(c, "INSERT INTO duties (name, holder, expires) VALUES (?1, ?2, ?3)"
		 " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
		 " expires = excluded.expires", a->pack, a->holder, a->until, e) != 0)
		return -1;
	return 1;
}

static int sq_duty_take(struct catalog_backend *c, const char *name, const char *holder,
			int64_t now, int64_t until, struct err *e)
{
	struct claim_arg a = { name, holder, now, until };
	int rc;

	LOCK(c);
	rc = txn(c, duty_take, &a, e);
	UNLOCK(c);
	return rc;
}

static int sq_doomed_done(struct catalog_backend *c, const char *pack, struct err *e)
{
	int rc;

	LOCK(c);
	rc = run3(c, "DELETE FROM doomed WHERE pack_id = ?1", pack, NULL, 0, e);
	UNLOCK(c);
	return rc;
}

/* ---- GRS replication queue ---- */

static int replica_enqueue(struct catalog_backend *c, const struct pack_new *a, struct err *e)
{
	sqlite3_stmt *st = prep(c, "INSERT INTO replicas (pack_id, vault_id, src, dst, size,"
				   " enqueued, next_try) VALUES (?, ?, ?, ?, ?, ?, ?)"
				   " ON CONFLICT (pack_id) DO NOTHING", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, a->pack_id);
	bind_text(st, 2, a->r->vault_id);
	bind_text(st, 3, a->r->from);
	bind_text(st, 4, a->r->to);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)a->size);
	sqlite3_bind_int64(st, 6, a->now);
	sqlite3_bind_int64(st, 7, a->now);
	rc = step_done(c, st, NULL, e);
	done(c, st);
	return rc;
}

static int sq_pack_add_replica(struct catalog_backend *c, const char *machine_id,
			       const char *pack_id, uint64_t size, const struct pack_entry *ents,
			       size_t n, int64_t now, const struct replica *r, struct err *e)
{
	struct pack_new a = { machine_id, pack_id, size, ents, n, now, r };
	int rc;

	LOCK(c);
	rc = txn(c, pack_add, &a, e);
	UNLOCK(c);
	return rc;
}

static int replica_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct replica *r = elem;

	(void)e;
	copy_col(r->pack, sizeof(r->pack), st, 0);
	copy_col(r->vault_id, sizeof(r->vault_id), st, 1);
	copy_col(r->from, sizeof(r->from), st, 2);
	copy_col(r->to, sizeof(r->to), st, 3);
	r->size = sqlite3_column_int64(st, 4);
	r->enqueued = sqlite3_column_int64(st, 5);
	r->attempts = sqlite3_column_int64(st, 6);
	r->next_try = sqlite3_column_int64(st, 7);
	copy_col(r->error, sizeof(r->error), st, 8);
	return 0;
}

static int sq_replica_list(struct catalog_backend *c, const char *vault_id, int64_t now, int limit,
			   struct replica **out, size_t *n, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*out = NULL;
	*n = 0;
	LOCK(c);
	if ((st = prep(c, "SELECT pack_id, vault_id, src, dst, size, enqueued, attempts, next_try,"
			  " error FROM replicas WHERE (?1 IS NULL OR vault_id = ?1) AND next_try <= ?2"
			  " ORDER BY enqueued, pack_id LIMIT ?3", e))) {
		if (vault_id)
			bind_text(st, 1, vault_id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, limit > 0 ? limit : INT32_MAX);
		rc = read_list(c, st, sizeof(**out), replica_fill, NULL, (void **)out, n, e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_replica_done(struct catalog_backend *c, const char *pack, struct err *e)
{
	int rc;

	LOCK(c);
	rc = run3(c, "DELETE FROM replicas WHERE pack_id = ?1", pack, NULL, 0, e);
	UNLOCK(c);
	return rc;
}

static int sq_replica_fail(struct catalog_backend *c, const char *pack, int64_t next_try,
			   const char *error, struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	LOCK(c);
	if ((st = prep(c, "UPDATE replicas SET attempts = attempts + 1, next_try = ?, error = ?"
			  " WHERE pack_id = ?", e))) {
		sqlite3_bind_int64(st, 1, next_try);
		bind_text(st, 2, error);
		bind_text(st, 3, pack);
		if ((rc = step_done(c, st, NULL, e)) == 0 && sqlite3_changes(c->db) == 0)
			rc = err_set(e, ERR_NOT_FOUND, "no copy of pack %.16s is queued", pack);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

static int sq_replica_lag(struct catalog_backend *c, const char *vault_id, struct replica_lag *lag,
			  struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	memset(lag, 0, sizeof(*lag));
	LOCK(c);
	if ((st = prep(c, "SELECT count(*), coalesce(sum(size), 0), coalesce(min(enqueued), 0),"
			  " coalesce((SELECT error FROM replicas WHERE vault_id = ?1 AND error <> ''"
			  " ORDER BY next_try DESC LIMIT 1), ''), coalesce(max(attempts), 0)"
			  " FROM replicas WHERE vault_id = ?1",
		       e))) {
		bind_text(st, 1, vault_id);
		if ((rc = step_row(c, st, e)) == 1) {
			lag->packs = sqlite3_column_int64(st, 0);
			lag->bytes = sqlite3_column_int64(st, 1);
			lag->oldest = sqlite3_column_int64(st, 2);
			copy_col(lag->error, sizeof(lag->error), st, 3);
			lag->attempts = sqlite3_column_int64(st, 4);
			rc = 0;
		} else if (rc == 0) {
			rc = err_set(e, ERR_IO, "catalog: a query that always answers gave no row");
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* ---- missed backups ---- */

static int64_t sq_policy_updated(struct catalog_backend *c, const char *machine_id, struct err *e)
{
	int64_t v;

	LOCK(c);
	v = scalar(c, "SELECT coalesce(max(updated), 0) FROM policies WHERE machine_id = ?1",
		   machine_id, NULL, 0, e);
	UNLOCK(c);
	return v;
}

static int sq_job_since(struct catalog_backend *c, const char *machine_id, int64_t since,
			struct err *e)
{
	int64_t v;

	LOCK(c);
	v = scalar(c, "SELECT count(*) FROM jobs WHERE machine_id = ?1 AND kind = 'backup'"
		      " AND started >= ?3", machine_id, NULL, since, e);
	UNLOCK(c);
	return v < 0 ? -1 : v > 0;
}

static int sq_alert_since(struct catalog_backend *c, const char *subscription, const char *kind,
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
		switch (step_row(c, st, e)) {
		case 1:
			rc = sqlite3_column_int64(st, 0) > 0;
			break;
		case 0:
			err_set(e, ERR_IO, "catalog: counting alerts gave no row");
			break;
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* ---- every row, for moving a catalog to another backend ---- */

/* SQL names are the schema's own (sqlite_master, table_info), quoted
 * anyway: a double quote doubled. Appends to B; 0, or -1 with E set. */
static int put_name(struct buf *b, const char *name, struct err *e)
{
	if (buf_append(b, "\"", 1, e) != 0)
		return -1;
	for (const char *p = name; *p; p++)
		if (buf_append(b, p, 1, e) != 0 || (*p == '"' && buf_append(b, p, 1, e) != 0))
			return -1;
	return buf_append(b, "\"", 1, e);
}

/* The sorted columns of TABLE into *T (its name set). Under LOCK. */
static int table_columns(struct catalog_backend *c, const char *table, struct catalog_table *t,
			 struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT name FROM pragma_table_info(?) ORDER BY name", e);
	size_t cap = 0;
	int r;

	memset(t, 0, sizeof(*t));
	if (st == NULL)
		return -1;
	snprintf(t->name, sizeof(t->name), "%s", table);
	bind_text(st, 1, table);
	while ((r = step_row(c, st, e)) == 1) {
		if (grow((void **)&t->cols, &cap, t->ncols, sizeof(*t->cols), e) != 0) {
			r = -1;
			break;
		}
		copy_col(t->cols[t->ncols++], CATALOG_NAME_LEN, st, 0);
	}
	done(c, st);
	if (r < 0) {
		free(t->cols);
		memset(t, 0, sizeof(*t));
		return -1;
	}
	return 0;
}

/* The catalog's tables, their columns, and which tables each references;
 * SQLite's own (sqlite_sequence, ...) left out. Under LOCK. */
struct fk_edges {
	char (*v)[2][CATALOG_NAME_LEN];
	size_t n;
};

static const char *fk_ref(void *arg, const char *table, size_t i)
{
	struct fk_edges *f = arg;

	for (size_t k = 0; k < f->n; k++)
		if (strcmp(f->v[k][0], table) == 0 && i-- == 0)
			return f->v[k][1];
	return NULL;
}

static int tables_locked(struct catalog_backend *c, struct catalog_table **out, size_t *n,
			 struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND"
				   " name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", e);
	sqlite3_stmt *fk = NULL;
	struct catalog_table *t = NULL;
	struct fk_edges f = { 0 };
	size_t cap = 0, nt = 0, fcap = 0;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((r = step_row(c, st, e)) == 1) {
		if (grow((void **)&t, &cap, nt, sizeof(*t), e) != 0)
			break;
		memset(&t[nt], 0, sizeof(*t));
		copy_col(t[nt].name, sizeof(t[nt].name), st, 0);
		nt++;
	}
	done(c, st);
	if (r != 0)
		goto out;
	if ((fk = prep(c, "SELECT \"table\" FROM pragma_foreign_key_list(?)", e)) == NULL)
		goto out;
	for (size_t i = 0; i < nt; i++) {
		char name[CATALOG_NAME_LEN];

		snprintf(name, sizeof(name), "%s", t[i].name);
		if (table_columns(c, name, &t[i], e) != 0)
			goto out;
		sqlite3_reset(fk);
		bind_text(fk, 1, name);
		while ((r = step_row(c, fk, e)) == 1) {
			if (grow((void **)&f.v, &fcap, f.n, sizeof(*f.v), e) != 0) {
				r = -1;
				break;
			}
			snprintf(f.v[f.n][0], CATALOG_NAME_LEN, "%s", name);
			copy_col(f.v[f.n][1], CATALOG_NAME_LEN, fk, 0);
			f.n++;
		}
		if (r < 0)
			goto out;
	}
	if (catalog_tables_order(t, nt, fk_ref, &f, e) != 0)
		goto out;
	*out = t;
	*n = nt;
	t = NULL;
	rc = 0;
out:
	done(c, fk);
	catalog_tables_free(t, nt);
	free(f.v);
	return rc;
}

static int sq_tables(struct catalog_backend *c, struct catalog_table **out, size_t *n,
		     struct err *e)
{
	int rc;

	LOCK(c);
	rc = tables_locked(c, out, n, e);
	UNLOCK(c);
	return rc;
}

/* The value of column COL of ST's row. */
static void column_value(sqlite3_stmt *st, int col, struct catalog_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		v->type = CATALOG_VINT;
		v->i = sqlite3_column_int64(st, col);
		break;
	case SQLITE_TEXT:
		v->type = CATALOG_VTEXT;
		v->p = sqlite3_column_text(st, col);
		v->len = (size_t)sqlite3_column_bytes(st, col);
		break;
	case SQLITE_BLOB:
		v->type = CATALOG_VBLOB;
		v->p = sqlite3_column_blob(st, col);
		v->len = (size_t)sqlite3_column_bytes(st, col);
		break;
	case SQLITE_FLOAT: /* no column of the catalog holds one: as an integer */
		v->type = CATALOG_VINT;
		v->i = sqlite3_column_int64(st, col);
		break;
	default:
		v->type = CATALOG_VNULL;
	}
}

/* The statement that reads or writes every column of T (WRITE: an
 * INSERT), prepared outside the cache: its text is made here. */
static sqlite3_stmt *table_stmt(struct catalog_backend *c, const struct catalog_table *t,
				bool write, bool rowid, struct err *e)
{
	struct buf b = BUF_INIT;
	sqlite3_stmt *st = NULL;

	if (buf_append(&b, write ? "INSERT INTO " : "SELECT ", write ? 12 : 7, e) != 0 ||
	    (write && (put_name(&b, t->name, e) != 0 || buf_append(&b, " (", 2, e) != 0)))
		goto out;
	for (size_t i = 0; i < t->ncols; i++)
		if ((i && buf_append(&b, ", ", 2, e) != 0) || put_name(&b, t->cols[i], e) != 0)
			goto out;
	if (write) {
		if (buf_append(&b, ") VALUES (", 10, e) != 0)
			goto out;
		for (size_t i = 0; i < t->ncols; i++)
			if (buf_append(&b, i ? ", ?" : "?", i ? 3 : 1, e) != 0)
				goto out;
		if (buf_append(&b, ")", 1, e) != 0)
			goto out;
	} else if (buf_append(&b, " FROM ", 6, e) != 0 || put_name(&b, t->name, e) != 0 ||
		   (rowid && buf_append(&b, " ORDER BY rowid", 15, e) != 0)) {
		goto out;
	}
	if (buf_append(&b, "", 1, e) != 0)
		goto out;
	if (sqlite3_prepare_v2(c->db, (const char *)b.data, -1, &st, NULL) != SQLITE_OK) {
		db_fail(c, e, "preparing a copy of a table");
		st = NULL;
	}
out:
	buf_free(&b);
	return st;
}

/* Whether TABLE has SQLite's rowid (was not made WITHOUT ROWID): 1, 0, -1. */
static int has_rowid(struct catalog_backend *c, const char *table, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master"
				   " WHERE type = 'table' AND name = ?", e);
	int r;

	if (st == NULL)
		return -1;
	bind_text(st, 1, table);
	r = step_row(c, st, e);
	if (r == 1)
		r = sqlite3_column_int(st, 0) ? 0 : 1;
	else if (r == 0)
		r = err_set(e, ERR_NOT_FOUND, "catalog: no table %.64s", table);
	done(c, st);
	return r;
}

static int sq_rows_read(struct catalog_backend *c, const char *table, catalog_row_fn fn,
			void *arg, struct err *e)
{
	struct catalog_table *t = NULL, *mine = NULL;
	struct catalog_value *v = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc = -1, r, rowid;

	LOCK(c);
	if (reads_begin(c, e) != 0) {
		UNLOCK(c);
		return -1;
	}
	if (tables_locked(c, &t, &n, e) != 0)
		goto out;
	for (size_t i = 0; i < n && mine == NULL; i++)
		if (strcmp(t[i].name, table) == 0)
			mine = &t[i];
	if (mine == NULL) {
		err_set(e, ERR_NOT_FOUND, "catalog: no table %.64s", table);
		goto out;
	}
	if ((rowid = has_rowid(c, table, e)) < 0 ||
	    (st = table_stmt(c, mine, false, rowid == 1, e)) == NULL)
		goto out;
	if ((v = calloc(mine->ncols ? mine->ncols : 1, sizeof(*v))) == NULL) {
		err_oom(e);
		goto out;
	}
	while ((r = step_row(c, st, e)) == 1) {
		for (size_t i = 0; i < mine->ncols; i++)
			column_value(st, (int)i, &v[i]);
		if (fn(arg, v, mine->ncols, e) != 0)
			break;
	}
	if (r == 0)
		rc = 0;
out:
	sqlite3_finalize(st);
	free(v);
	catalog_tables_free(t, n);
	reads_end(c);
	UNLOCK(c);
	return rc;
}

/* rows_write's sink: the destination's tables, each with its INSERT
 * once prepared. */
struct sq_sink {
	struct catalog_sink k;
	struct catalog_backend *c;
	struct catalog_table *t;
	sqlite3_stmt **ins;
	size_t n;
};

static int sq_put(struct catalog_sink *k, const char *table, const struct catalog_value *v,
		  size_t n, struct err *e)
{
	struct sq_sink *s = (struct sq_sink *)k;
	size_t i;

	for (i = 0; i < s->n && strcmp(s->t[i].name, table) != 0; i++)
		;
	if (i == s->n)
		return err_set(e, ERR_NOT_FOUND, "catalog: no table %.64s", table);
	if (n != s->t[i].ncols)
		return err_set(e, ERR_INVALID, "catalog: a row of %zu values for table %s of %zu "
			       "columns", n, table, s->t[i].ncols);
	if (s->ins[i] == NULL && (s->ins[i] = table_stmt(s->c, &s->t[i], true, false, e)) == NULL)
		return -1;
	sqlite3_reset(s->ins[i]);
	sqlite3_clear_bindings(s->ins[i]);
	for (size_t j = 0; j < n; j++) {
		int col = (int)j + 1;

		if (v[j].type == CATALOG_VINT)
			sqlite3_bind_int64(s->ins[i], col, v[j].i);
		else if (v[j].type == CATALOG_VTEXT)
			sqlite3_bind_text64(s->ins[i], col, v[j].p, v[j].len, SQLITE_TRANSIENT,
					    SQLITE_UTF8);
		else if (v[j].type == CATALOG_VBLOB)
			sqlite3_bind_blob64(s->ins[i], col, v[j].len ? v[j].p : "", v[j].len,
					    SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(s->ins[i], col);
	}
	if (sqlite3_step(s->ins[i]) != SQLITE_DONE)
		return db_fail(s->c, e, "writing a row"), err_prefix(e, "table %s: ", table);
	return 0;
}

struct rows_fill {
	catalog_fill_fn fill;
	void *arg;
};

static int rows_write(struct catalog_backend *c, void *arg, struct err *e)
{
	struct rows_fill *f = arg;
	struct sq_sink s = { { sq_put }, c, NULL, NULL, 0 };
	int rc = -1;

	/* Foreign keys are checked at the commit: rows arrive table by table. */
	if (exec1(c, "PRAGMA defer_foreign_keys = ON", e) != 0 ||
	    tables_locked(c, &s.t, &s.n, e) != 0)
		return -1;
	if ((s.ins = calloc(s.n ? s.n : 1, sizeof(*s.ins))) == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t i = 0; i < s.n; i++) {
		struct buf b = BUF_INIT;
		sqlite3_stmt *st = NULL;
		int r = -1;

		if (buf_append(&b, "SELECT 1 FROM ", 14, e) == 0 && put_name(&b, s.t[i].name, e) == 0 &&
		    buf_append(&b, " LIMIT 1", 9, e) == 0) {
			if (sqlite3_prepare_v2(c->db, (const char *)b.data, -1, &st, NULL) != SQLITE_OK)
				db_fail(c, e, "reading a table");
			else
				r = step_row(c, st, e);
		}
		sqlite3_finalize(st);
		buf_free(&b);
		if (r < 0)
			goto out;
		if (r == 1) {
			err_set(e, ERR_EXISTS, "the catalog is not empty (table %s holds rows): rows "
				"are copied only into a new, empty catalog", s.t[i].name);
			goto out;
		}
	}
	/* AUTOINCREMENT counters follow by themselves: SQLite raises a
	 * table's counter to any larger rowid written into it. */
	rc = f->fill(f->arg, &s.k, e);
out:
	for (size_t i = 0; s.ins && i < s.n; i++)
		sqlite3_finalize(s.ins[i]);
	free(s.ins);
	catalog_tables_free(s.t, s.n);
	return rc;
}

static int sq_rows_write(struct catalog_backend *c, catalog_fill_fn fill, void *arg,
			 struct err *e)
{
	struct rows_fill f = { fill, arg };
	int rc;

	LOCK(c);
	rc = txn(c, rows_write, &f, e);
	UNLOCK(c);
	return rc;
}

/* ---- Multi-user approval ---- */

static int sq_guard_get(struct catalog_backend *c, const char *subscription, struct guard *g,
			struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1, r;

	memset(g, 0, sizeof(*g));
	LOCK(c);
	if ((st = prep(c, "SELECT s.guard, coalesce(u.name, ''), s.approval_hours FROM subscriptions s"
			  " LEFT JOIN users u ON u.id = s.guard WHERE s.id = ?", e))) {
		bind_text(st, 1, subscription);
		if ((r = step_row(c, st, e)) == 1) {
			copy_col(g->user_id, sizeof(g->user_id), st, 0);
			copy_col(g->name, sizeof(g->name), st, 1);
			g->hours = sqlite3_column_int(st, 2);
			rc = 0;
		} else if (r == 0) {
			err_set(e, ERR_NOT_FOUND, "no subscription %s", subscription);
		}
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* The id of user NAME of SUBSCRIPTION into ID when it may be the guard:
 * enabled, with a password, role security-admin. 0, or -1 (ERR_INVALID). */
static int guard_user(struct catalog_backend *c, const char *subscription, const char *name,
		      catalog_id id, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT id, role, disabled, password_hash != '' FROM users"
				   " WHERE subscription = ? AND name = ?", e);
	char role[CATALOG_ROLE_LEN];
	int r, disabled = 0, active = 0;

	if (st == NULL)
		return -1;
	bind_text(st, 1, subscription);
	bind_text(st, 2, name);
	if ((r = step_row(c, st, e)) == 1) {
		copy_col(id, sizeof(catalog_id), st, 0);
		copy_col(role, sizeof(role), st, 1);
		disabled = sqlite3_column_int(st, 2);
		active = sqlite3_column_int(st, 3);
	}
	done(c, st);
	if (r < 0)
		return -1;
	if (r == 0)
		return err_set(e, ERR_INVALID, "no user %s in this subscription to be its guard", name);
	if (strcmp(role, "security-admin") != 0)
		return err_set(e, ERR_INVALID, "%s has the role %s; the guard must be a security-admin:"
			       " change their role first", name, role);
	if (disabled || !active)
		return err_set(e, ERR_INVALID, "%s is disabled or has not set a password yet, so "
			       "could never approve anything: choose an active security-admin", name);
	return 0;
}

struct guard_change {
	const char *subscription, *name;
	int hours;
	bool replace;
};

static int guard_set(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct guard_change *a = arg;
	catalog_id id = "";
	int64_t has;

	if (a->hours < 0 || a->hours > CATALOG_APPROVAL_HOURS_MAX)
		return err_set(e, ERR_INVALID, "requests wait 1 to %d hours", CATALOG_APPROVAL_HOURS_MAX);
	if ((has = scalar(c, "SELECT count(*) FROM subscriptions WHERE id = ?1 AND guard != ''",
			  a->subscription, NULL, 0, e)) < 0)
		return -1;
	if (a->name && has && !a->replace)
		return err_set(e, ERR_LOCKED, "this subscription has a guard already: changing or "
			       "removing it is a request the guard approves");
	if (a->name && guard_user(c, a->subscription, a->name, id, e) != 0)
		return -1;
	if ((a->name || a->replace) &&
	    update(c, "UPDATE subscriptions SET guard = ?2 WHERE id = ?1", 0, 0, a->subscription, id,
		   e) < 0)
		return -1;
	if (a->hours > 0 && update(c, "UPDATE subscriptions SET approval_hours = ?1 WHERE id = ?2",
				   a->hours, 1, a->subscription, NULL, e) < 0)
		return -1;
	return 0;
}

static int sq_guard_set(struct catalog_backend *c, const char *subscription, const char *guard_name,
			int hours, bool replace, struct err *e)
{
	struct guard_change a = { subscription, guard_name, hours, replace };
	int rc;

	LOCK(c);
	rc = txn(c, guard_set, &a, e);
	UNLOCK(c);
	return rc;
}

#define APPROVAL_COLS                                                                          \
	"id, subscription, operation, summary, args, requester, requested_by, created, expires,"  \
	" CASE WHEN state = 'pending' AND expires <= ?2 THEN 'expired' ELSE state END,"          \
	" decided_by, decided, result"

static int approval_fill(sqlite3_stmt *st, void *elem, struct err *e)
{
	struct approval *a = elem;

	(void)e;
	copy_col(a->id, sizeof(a->id), st, 0);
	copy_col(a->subscription, sizeof(a->subscription), st, 1);
	copy_col(a->operation, sizeof(a->operation), st, 2);
	copy_col(a->summary, sizeof(a->summary), st, 3);
	copy_col(a->args, sizeof(a->args), st, 4);
	copy_col(a->requester, sizeof(a->requester), st, 5);
	copy_col(a->requested_by, sizeof(a->requested_by), st, 6);
	a->created = sqlite3_column_int64(st, 7);
	a->expires = sqlite3_column_int64(st, 8);
	copy_col(a->state, sizeof(a->state), st, 9);
	copy_col(a->decided_by, sizeof(a->decided_by), st, 10);
	a->decided = sqlite3_column_int64(st, 11);
	copy_col(a->result, sizeof(a->result), st, 12);
	return 0;
}

static int approval_create(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct approval *a = arg;
	sqlite3_stmt *st;
	int64_t n;
	int rc;

	if (strlen(a->args) >= sizeof(a->args) - 1)
		return err_set(e, ERR_TOO_LARGE, "the request's arguments are over %d bytes",
			       CATALOG_APPROVAL_ARGS_MAX - 1);
	if ((n = scalar(c, "SELECT count(*) FROM subscriptions WHERE id = ?1 AND guard != ''",
			a->subscription, NULL, 0, e)) < 0)
		return -1;
	if (n == 0)
		return err_set(e, ERR_LOCKED, "this subscription has no guard: nothing waits for "
			       "approval");
	if ((n = scalar(c, "SELECT count(*) FROM approvals WHERE subscription = ?1 AND"
			" state = 'pending' AND expires > ?3", a->subscription, NULL, a->created,
			e)) < 0)
		return -1;
	if (n >= CATALOG_APPROVALS_PENDING)
		return err_set(e, ERR_LIMIT, "this subscription has %d requests waiting for approval "
			       "already (the most at once): have the guard decide some first",
			       CATALOG_APPROVALS_PENDING);
	if ((st = prep(c, "INSERT INTO approvals (id, subscription, operation, summary, args,"
			  " requester, requested_by, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       e)) == NULL)
		return -1;
	bind_text(st, 1, a->id);
	bind_text(st, 2, a->subscription);
	bind_text(st, 3, a->operation);
	bind_text(st, 4, a->summary);
	bind_text(st, 5, a->args);
	bind_text(st, 6, a->requester);
	bind_text(st, 7, a->requested_by);
	sqlite3_bind_int64(st, 8, a->created);
	sqlite3_bind_int64(st, 9, a->expires);
	rc = step_done(c, st, "a request with that id exists already", e);
	done(c, st);
	return rc;
}

static int sq_approval_create(struct catalog_backend *c, const struct approval *a, struct err *e)
{
	int rc;

	LOCK(c);
	rc = txn(c, approval_create, (void *)a, e);
	UNLOCK(c);
	return rc;
}

static int sq_approval_list(struct catalog_backend *c, const char *subscription,
			    const char *requester, int64_t now, struct approval **out, size_t *n,
			    struct err *e)
{
	sqlite3_stmt *st;
	int rc = -1;

	*out = NULL;
	*n = 0;
	LOCK(c);
	/* LIMIT is CATALOG_APPROVALS_LIST. */
	if ((st = prep(c, requester ? "SELECT " APPROVAL_COLS " FROM approvals WHERE subscription = ?1"
				      " AND requester = ?3 ORDER BY created DESC, rowid DESC LIMIT 200" :
				      "SELECT " APPROVAL_COLS " FROM approvals WHERE subscription = ?1"
				      " ORDER BY created DESC, rowid DESC LIMIT 200", e))) {
		bind_text(st, 1, subscription);
		sqlite3_bind_int64(st, 2, now);
		if (requester)
			bind_text(st, 3, requester);
		rc = read_list(c, st, sizeof(**out), approval_fill, NULL, (void **)out, n, e);
		done(c, st);
	}
	UNLOCK(c);
	return rc;
}

/* Request ID of SUBSCRIPTION as it is at NOW into *A. 0, or -1 (ERR_NOT_FOUND). */
static int approval_get(struct catalog_backend *c, const char *subscription, const char *id,
			int64_t now, struct approval *a, struct err *e)
{
	sqlite3_stmt *st = prep(c, "SELECT " APPROVAL_COLS " FROM approvals WHERE subscription = ?1"
				   " AND id = ?3", e);
	int r;

	if (st == NULL)
		return -1;
	bind_text(st, 1, subscription);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, id);
	memset(a, 0, sizeof(*a));
	if ((r = step_row(c, st, e)) == 1)
		approval_fill(st, a, e);
	done(c, st);
	if (r < 0)
		return -1;
	if (r == 0)
		return err_set(e, ERR_NOT_FOUND, "no request %s in this subscription", id);
	return 0;
}

struct decision {
	const char *subscription, *id, *guard_id, *guard_name;
	bool approve;
	int64_t now;
	struct approval *a;
};

/* The guard ARGS of a "guard.change" request: {"guard": "user id" or ""},
 * written by the service; the id into ID. 0, or -1 (ERR_CORRUPT). */
static int guard_arg(const char *args, catalog_id id, struct err *e)
{
	const char *p = strstr(args, "\"guard\":\"");
	size_t n;

	if (p == NULL)
		return err_set(e, ERR_CORRUPT, "catalog: a guard.change request without its guard");
	p += 9;
	n = strcspn(p, "\"");
	if (p[n] != '"' || (n != 0 && n != CATALOG_ID_LEN))
		return err_set(e, ERR_CORRUPT, "catalog: a guard.change request with a bad guard");
	memcpy(id, p, n);
	id[n] = 0;
	return 0;
}

static int approval_decide(struct catalog_backend *c, void *arg, struct err *e)
{
	const struct decision *d = arg;
	struct approval *a = d->a;
	catalog_id guard = "", next;
	int64_t n;

	if (approval_get(c, d->subscription, d->id, d->now, a, e) != 0)
		return -1;
	/* Pending until NOW: it expires here, once, and the caller records it. */
	if ((n = update(c, "UPDATE approvals SET state = 'expired', decided = ?1 WHERE id = ?2 AND"
			" state = 'pending' AND expires <= ?1", d->now, 1, a->id, NULL, e)) < 0)
		return -1;
	if (n == 1) {
		a->decided = d->now;
		return 0;
	}
	if (strcmp(a->state, "pending") != 0)
		return err_set(e, ERR_LOCKED, "request %s is %s already: a request is decided once",
			       a->id, a->state);
	{
		sqlite3_stmt *st = prep(c, "SELECT guard FROM subscriptions WHERE id = ?", e);
		int r;

		if (st == NULL)
			return -1;
		bind_text(st, 1, d->subscription);
		if ((r = step_row(c, st, e)) == 1)
			copy_col(guard, sizeof(guard), st, 0);
		done(c, st);
		if (r < 0)
			return -1;
	}
	if (guard[0] == 0 || strcmp(guard, d->guard_id) != 0)
		return err_set(e, ERR_DENIED, "only the subscription's guard decides requests");
	if (strcmp(a->requester, d->guard_id) == 0)
		return err_set(e, ERR_DENIED, "the guard cannot decide their own request: another "
			       "user asks, the guard approves");
	if (d->approve && strcmp(a->operation, "guard.change") == 0) {
		if (guard_arg(a->args, next, e) != 0)
			return -1;
		if (next[0]) {
			/* The new guard must still be one: checked as guard_set does. */
			char name[128] = "";
			sqlite3_stmt *st = prep(c, "SELECT name FROM users WHERE id = ? AND"
						   " subscription = ?", e);
			int r;

			if (st == NULL)
				return -1;
			bind_text(st, 1, next);
			bind_text(st, 2, d->subscription);
			if ((r = step_row(c, st, e)) == 1)
				copy_col(name, sizeof(name), st, 0);
			done(c, st);
			if (r < 0)
				return -1;
			if (r == 0)
				return err_set(e, ERR_INVALID, "the user this request names as the "
					       "guard is gone");
			if (guard_user(c, d->subscription, name, next, e) != 0)
				return -1;
		}
		if (update(c, "UPDATE subscriptions SET guard = ?2 WHERE id = ?1", 0, 0,
			   d->subscription, next, e) < 0)
			return -1;
	}
	{
		sqlite3_stmt *st = prep(c, "UPDATE approvals SET state = ?1, decided_by = ?2,"
					   " decided = ?3, result = ?4 WHERE id = ?5 AND"
					   " state = 'pending'", e);
		int rc;

		if (st == NULL)
			return -1;
		bind_text(st, 1, d->approve ? "approved" : "refused");
		bind_text(st, 2, d->guard_name);
		sqlite3_bind_int64(st, 3, d->now);
		bind_text(st, 4, d->approve && strcmp(a->operation, "guard.change") == 0 ? "done" : "");
		bind_text(st, 5, a->id);
		rc = step_done(c, st, NULL, e);
		n = rc == 0 ? sqlite3_changes(c->db) : -1;
		done(c, st);
		if (rc != 0)
			return -1;
		if (n != 1)
			return err_set(e, ERR_LOCKED, "request %s was decided meanwhile", a->id);
	}
	return approval_get(c, d->subscription, d->id, d->now, a, e);
}

static int sq_approval_decide(struct catalog_backend *c, const char *subscription, const char *id,
			      const char *guard_id, const char *guard_name, bool approve, int64_t now,
			      struct approval *a, struct err *e)
{
	struct decision d = { subscription, id, guard_id, guard_name, approve, now, a };
	int rc;

	LOCK(c);
	rc = txn(c, approval_decide, &d, e);
	UNLOCK(c);
	return rc;
}

static int sq_approval_result(struct catalog_backend *c, const char *id, const char *result,
			      struct err *e)
{
	int64_t changed;

	LOCK(c);
	changed = update(c, "UPDATE approvals SET result = ?2 WHERE id = ?1 AND state = 'approved'", 0,
			 0, id, result, e);
	UNLOCK(c);
	if (changed < 0)
		return -1;
	if (changed == 0)
		return err_set(e, ERR_NOT_FOUND, "no approved request %s", id);
	return 0;
}

const struct catalog_ops catalog_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.subscription_create = sq_subscription_create,
	.subscription_first = sq_subscription_first,
	.user_create = sq_user_create,
	.user_find = sq_user_find,
	.session_create = sq_session_create,
	.session_delete = sq_session_delete,
	.token_create = sq_token_create,
	.token_list = sq_token_list,
	.token_delete = sq_token_delete,
	.authenticate = sq_authenticate,
	.user_list = sq_user_list,
	.user_invite = sq_user_invite,
	.user_accept = sq_user_accept,
	.user_change = sq_user_change,
	.totp_get = sq_totp_get,
	.totp_set = sq_totp_set,
	.subscription_require_totp = sq_subscription_require_totp,
	.vault_create = sq_vault_create,
	.vault_list = sq_vault_list,
	.vault_get = sq_vault_get,
	.vault_by_id = sq_vault_by_id,
	.vault_ca = sq_vault_ca,
	.vault_ca_keys_rewrite = sq_vault_ca_keys_rewrite,
	.vault_set_redundancy = sq_vault_set_redundancy,
	.vault_delete = sq_vault_delete,
	.vault_set_immutability = sq_vault_set_immutability,
	.credential_add = sq_credential_add,
	.credential_latest = sq_credential_latest,
	.audit = sq_audit,
	.audit_list = sq_audit_list,
	.guard_get = sq_guard_get,
	.guard_set = sq_guard_set,
	.approval_create = sq_approval_create,
	.approval_list = sq_approval_list,
	.approval_decide = sq_approval_decide,
	.approval_result = sq_approval_result,
	.machine_register = sq_machine_register,
	.machine_list = sq_machine_list,
	.machine_get = sq_machine_get,
	.machine_wrapped_key = sq_machine_wrapped_key,
	.machine_set_wrapped_key = sq_machine_set_wrapped_key,
	.machine_set_cert = sq_machine_set_cert,
	.machine_seen = sq_machine_seen,
	.nonce_use = sq_nonce_use,
	.limit_wait = sq_limit_wait,
	.limit_fail = sq_limit_fail,
	.pack_add = sq_pack_add,
	.pack_owner = sq_pack_owner,
	.pack_reader = sq_pack_reader,
	.objects_missing = sq_objects_missing,
	.objects_locate = sq_objects_locate,
	.point_commit = sq_point_commit,
	.point_list = sq_point_list,
	.point_delete = sq_point_delete,
	.point_undelete = sq_point_undelete,
	.point_retain = sq_point_retain,
	.machine_by_name = sq_machine_by_name,
	.machine_delete = sq_machine_delete,
	.machine_undelete = sq_machine_undelete,
	.purge = sq_purge,
	.pin_create = sq_pin_create,
	.pin_use = sq_pin_use,
	.alert = sq_alert,
	.alert_list = sq_alert_list,
	.job_start = sq_job_start,
	.job_end = sq_job_end,
	.job_kind = sq_job_kind,
	.job_list = sq_job_list,
	.usage = sq_usage,
	.policy_get = sq_policy_get,
	.policy_machines = sq_policy_machines,
	.policy_set = sq_policy_set,
	.lease_begin = sq_lease_begin,
	.lease_renew = sq_lease_renew,
	.lease_end = sq_lease_end,
	.lease_list = sq_lease_list,
	.pack_forget = sq_pack_forget,
	.point_get = sq_point_get,
	.refs_mark = sq_refs_mark,
	.pack_usage = sq_pack_usage,
	.pack_objects = sq_pack_objects,
	.point_refs = sq_point_refs,
	.gc_doom = sq_gc_doom,
	.gc_drop = sq_gc_drop,
	.gc_move = sq_gc_move,
	.doomed_due = sq_doomed_due,
	.doomed_claim = sq_doomed_claim,
	.pack_hold = sq_pack_hold,
	.pack_unhold = sq_pack_unhold,
	.duty_take = sq_duty_take,
	.pack_add_replica = sq_pack_add_replica,
	.replica_list = sq_replica_list,
	.replica_done = sq_replica_done,
	.replica_fail = sq_replica_fail,
	.replica_lag = sq_replica_lag,
	.doomed_done = sq_doomed_done,
	.policy_updated = sq_policy_updated,
	.job_since = sq_job_since,
	.alert_since = sq_alert_since,
	.tables = sq_tables,
	.rows_read = sq_rows_read,
	.rows_write = sq_rows_write,
};
