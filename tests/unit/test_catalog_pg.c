/*
 * test_catalog_pg.c: the catalog on PostgreSQL. It starts a throwaway
 * server (scripts/pg: a cluster in a temporary folder, listening on a Unix
 * socket there and on no TCP port), runs the conformance suite of
 * test_catalog.c on it unchanged, then what only this backend has: its
 * schema's migrations from empty, a server that goes away, ids that are
 * values whatever they hold, and the limits under races between processes,
 * each with a connection of its own (60 machines registering at once into
 * one vault: exactly 50 succeed; 30 vaults created at once: exactly 25; 372
 * points: exactly 366; one PIN and one nonce: one use each) and between
 * the threads of one. It stops the server at the end.
 *
 * Each fixture's catalog is a schema of its own in the one database (its
 * path names it), so that tests start from empty without a database each.
 */
#define CATALOG_CONFORMANCE_NO_MAIN
#include "test_catalog.c"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bytes.h"
#include "catalog_pg.h"

static char server_dir[64];
static char server_url[256];
static PGconn *admin; /* the test's own connection, to make schemas and break things */

/* The schema of the catalog a fixture calls WHERE (see pg_where). */
static void schema_of(const char *where, char *schema, size_t n)
{
	snprintf(schema, n, "t%08x%08x", str_hash(where), (unsigned)strlen(where));
}

/* The address of the catalog a fixture calls WHERE (a path under its
 * folder): the test database with a schema of its own, made if needed. */
static int pg_where(const char *where, char *url, size_t n)
{
	char schema[32], sql[96];
	PGresult *res;
	int ok;

	schema_of(where, schema, sizeof(schema));
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", schema);
	res = PQexec(admin, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	snprintf(url, n, "%s&options=-csearch_path%%3D%s", server_url, schema);
	return ok ? 0 : -1;
}

static struct catalog_backend *pg_open_at(const char *where, const struct catalog_rules *rules,
					  struct err *e)
{
	char url[384];

	if (pg_where(where, url, sizeof(url)) != 0) {
		err_set(e, ERR_IO, "cannot make a schema for %s", where);
		return NULL;
	}
	return catalog_pg_ops.open(url, rules, e);
}

/* catalog_pg_ops, but opened at a fixture's path (test_rules_come_from_above
 * opens the backend itself, with rules of its own). */
static struct catalog_ops pg_ops_at;

static struct catalog *pg_catalog_at(const char *where, struct err *e)
{
	struct catalog_backend *b = pg_open_at(where, &catalog_rules, e);

	return b ? catalog_of(&pg_ops_at, b, e) : NULL;
}

/* ---- what only PostgreSQL has ---- */

static int64_t admin_scalar(const char *sql)
{
	PGresult *res = PQexec(admin, sql);
	int64_t v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static int admin_exec(const char *sql)
{
	PGresult *res = PQexec(admin, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok ? 0 : -1;
}

/* The schema comes from empty to the current version in one go, a second
 * open migrates nothing, and a schema newer than this arcad is refused. */
static void test_migration_from_empty(void **state)
{
	char url[384];
	struct catalog *c;
	struct err e;
	catalog_id id;
	char sql[160], schema[32];

	(void)state;
	assert_int_equal(pg_where("/migration/catalog.db", url, sizeof(url)), 0);
	assert_non_null(c = catalog_open(url, NULL));
	assert_string_equal(catalog_backend_name(c), "postgresql");
	assert_int_equal(catalog_subscription_create(c, "s", 1000, id, NULL), 0);
	catalog_close(c);
	assert_non_null(c = catalog_open(url, NULL));
	assert_int_equal(catalog_subscription_first(c, id, NULL), 0);
	catalog_close(c);
	/* One row per migration (the last: multi-user approval), each
	 * written once. */
	schema_of("/migration/catalog.db", schema, sizeof(schema));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.schema_version", schema);
	assert_int_equal(admin_scalar(sql), 8);
	snprintf(sql, sizeof(sql), "SELECT max(version) FROM %s.schema_version", schema);
	assert_int_equal(admin_scalar(sql), 8);
	snprintf(sql, sizeof(sql), "INSERT INTO %s.schema_version VALUES (99)", schema);
	assert_int_equal(admin_exec(sql), 0);
	assert_null(c = catalog_open(url, &e));
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "newer"));
}

/* An address where no server answers is ERR_IO that says so. */
static void test_no_server(void **state)
{
	char url[160];
	struct err e;

	(void)state;
	snprintf(url, sizeof(url), "postgresql:///arca?host=%s/none&user=arca", server_dir);
	assert_null(catalog_open(url, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "cannot connect"));
}

/* A connection the server dropped, or a table gone, is an error, never an
 * empty answer; the catalog connects again on the next call. */
static void test_lost_connection_and_broken_table(void **state)
{
	struct fx *f = *state;
	struct vault *vl = NULL;
	struct lease *ll = NULL;
	size_t n = 99;
	catalog_id id;
	struct err e;
	char sql[200], schema[32];

	/* The server ends every connection but the test's own. */
	assert_int_equal(admin_scalar("SELECT count(pg_terminate_backend(pid)) FROM "
				      "pg_stat_activity WHERE datname = 'arca' AND "
				      "pid <> pg_backend_pid() AND backend_type = 'client backend'"), 1);
	usleep(100000);
	assert_int_equal(catalog_vault_list(f->c, f->sub, &vl, &n, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_null(vl);
	assert_int_equal(n, 0);
	assert_non_null(strstr(e.msg, "connection"));
	/* Connected again. */
	assert_int_equal(catalog_vault_list(f->c, f->sub, &vl, &n, NULL), 0);
	assert_int_equal(n, 1);
	free(vl);
	/* A table gone: every use of it fails. */
	schema_of(f->path, schema, sizeof(schema));
	snprintf(sql, sizeof(sql), "DROP TABLE %s.leases", schema);
	assert_int_equal(admin_exec(sql), 0);
	assert_int_equal(catalog_lease_begin(f->c, f->m.id, 2000, 2100, id, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	n = 99;
	assert_int_equal(catalog_lease_list(f->c, &ll, &n, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_null(ll);
	assert_int_equal(n, 0);
}

/* Ids travel to the server as elements of an array parameter: whatever
 * they hold (quotes, commas, braces, backslashes, the word NULL) is an id
 * to look up, never part of the array's syntax, and a batch larger than
 * one statement's share is answered whole and in order. */
static void test_ids_are_values(void **state)
{
	struct fx *f = *state;
	const uint8_t objs[] = { 0x41, 0x42 };
	char pack[65], stored[2][OBJID_HEX_LEN + 1];
	const char *odd[] = { "a\",\"b", "x\\", "}", "{", "NULL", "", "\"", stored[0], "'; --",
			      stored[1] };
	size_t n_odd = sizeof(odd) / sizeof(odd[0]);
	bool missing[16];
	struct object_loc loc[16];
	bool found[16];
	struct objid id;

	add_pack(f, 'e', objs, 2, pack);
	for (int i = 0; i < 2; i++) {
		memset(&id, 0, sizeof(id));
		id.b[0] = objs[i];
		objid_to_hex(&id, stored[i]);
	}
	assert_int_equal(catalog_objects_missing(f->c, f->m.id, odd, n_odd, missing, NULL), 0);
	assert_int_equal(catalog_objects_locate(f->c, f->m.id, odd, n_odd, loc, found, NULL), 0);
	for (size_t i = 0; i < n_odd; i++) {
		bool is_stored = odd[i] == stored[0] || odd[i] == stored[1];

		assert_true(missing[i] == !is_stored);
		assert_true(found[i] == is_stored);
	}
	assert_string_equal(loc[7].pack, pack);
	assert_true(loc[9].offset == 116 && loc[9].length == 100);

	/* 10,000 ids, stored ones among them: three statements' worth. */
	{
		const size_t n = 10000;
		char (*hex)[OBJID_HEX_LEN + 1] = malloc(n * sizeof(*hex));
		const char **ids = malloc(n * sizeof(*ids));
		bool *miss = malloc(n * sizeof(*miss));

		assert_non_null(hex);
		assert_non_null(ids);
		assert_non_null(miss);
		for (size_t i = 0; i < n; i++) {
			memset(&id, 0, sizeof(id));
			memcpy(id.b + 4, &i, sizeof(i));
			objid_to_hex(&id, hex[i]);
			ids[i] = hex[i];
		}
		ids[4095] = stored[0];
		ids[9999] = stored[1];
		assert_int_equal(catalog_objects_missing(f->c, f->m.id, ids, n, miss, NULL), 0);
		for (size_t i = 0; i < n; i++)
			assert_true(miss[i] == (i != 4095 && i != 9999));
		free(hex);
		free(ids);
		free(miss);
	}
}

/* Race KIDS processes, each with its own connection, each trying EACH
 * times: DO(c, child, try, arg) says 0 (done), 1 (refused by the limit)
 * or -1 (anything else). Counts the outcomes into OK, LIMITED, OTHER. */
typedef int (*race_fn)(struct catalog *c, int child, int attempt, void *arg);

static void race(const char *where, int kids, int each, race_fn fn, void *arg, int *ok,
		 int *limited, int *other)
{
	int go[2], results[2];
	pid_t pids[64];

	*ok = *limited = *other = 0;
	assert_true(kids <= 64);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(results), 0);
	for (int k = 0; k < kids; k++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct catalog *c = catalog_open(where, NULL);
			char byte;

			close(go[1]);
			/* Everyone connected first, then all at once. */
			if (read(go[0], &byte, 1) != 0)
				_exit(3);
			for (int i = 0; i < each; i++) {
				char r = c == NULL ? 'x' : "xol"[fn(c, k, i, arg) + 1];

				if (write(results[1], &r, 1) != 1)
					_exit(3);
			}
			catalog_close(c);
			_exit(0);
		}
		pids[k] = pid;
	}
	close(go[0]);
	close(results[1]);
	usleep(300000);
	close(go[1]); /* the start */
	for (;;) {
		char r;

		if (read(results[0], &r, 1) != 1)
			break;
		if (r == 'o')
			(*ok)++;
		else if (r == 'l')
			(*limited)++;
		else
			(*other)++;
	}
	close(results[0]);
	for (int k = 0; k < kids; k++) {
		int status;

		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

struct reg_race {
	const char *vault_id;
};

static int register_one(struct catalog *c, int child, int attempt, void *arg)
{
	const struct reg_race *a = arg;
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	struct registration r;
	struct machine m;
	char name[32];
	bool again;
	struct err e;

	memset(&r, 0, sizeof(r));
	snprintf(name, sizeof(name), "racer-%d-%d", child, attempt);
	r.vault_id = a->vault_id, r.credential_fingerprint = "fp1", r.name = name;
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = 2000;
	if (catalog_machine_register(c, &r, &m, &again, &e) == 0)
		return 0;
	if (e.code != ERR_LIMIT)
		fprintf(stderr, "register: %s\n", e.msg);
	return e.code == ERR_LIMIT ? 1 : -1;
}

/* 60 machines register at once into an empty vault, from 12 processes:
 * exactly 50 are in, the other 10 refused with ERR_LIMIT, and the vault's
 * count agrees. */
static void test_machine_limit_under_race(void **state)
{
	struct fx *f = *state;
	char url[384];
	struct vault v = f->v;
	struct reg_race a = { v.id };
	struct machine *ml;
	size_t n;
	int ok, limited, other;

	catalog_new_id(v.id);
	strcpy(v.name, "vault-race");
	assert_int_equal(catalog_vault_create(f->c, &v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(f->c, v.id, "02", "fp1", "cert", 1000, 1000 + 2 * DAY,
						NULL), 0);
	assert_int_equal(pg_where(f->path, url, sizeof(url)), 0);
	race(url, 12, 5, register_one, &a, &ok, &limited, &other);
	print_message("machine race: %d registered, %d refused by the limit, %d other\n", ok,
		      limited, other);
	assert_int_equal(other, 0);
	assert_int_equal(ok, CATALOG_MACHINES_MAX);
	assert_int_equal(limited, 60 - CATALOG_MACHINES_MAX);
	assert_int_equal(catalog_machine_list(f->c, v.id, &ml, &n, NULL), 0);
	free(ml);
	assert_int_equal(n, CATALOG_MACHINES_MAX);
	assert_int_equal(catalog_vault_get(f->c, f->sub, "vault-race", &v, NULL), 0);
	assert_int_equal(v.machines, CATALOG_MACHINES_MAX);
}

struct vault_race {
	const char *subscription;
};

static int create_one(struct catalog *c, int child, int attempt, void *arg)
{
	const struct vault_race *a = arg;
	struct vault v;
	struct err e;

	memset(&v, 0, sizeof(v));
	catalog_new_id(v.id);
	snprintf(v.subscription, sizeof(v.subscription), "%s", a->subscription);
	snprintf(v.name, sizeof(v.name), "race-%d-%d", child, attempt);
	strcpy(v.region, "local-1");
	strcpy(v.redundancy, "LRS");
	v.created = 2000;
	if (catalog_vault_create(c, &v, "c", "k", &e) == 0)
		return 0;
	if (e.code != ERR_LIMIT)
		fprintf(stderr, "vault: %s\n", e.msg);
	return e.code == ERR_LIMIT ? 1 : -1;
}

/* 30 vaults created at once in a new subscription, from 10 processes:
 * exactly 25 go in, the other 5 refused with ERR_LIMIT. */
static void test_vault_limit_under_race(void **state)
{
	struct fx *f = *state;
	char url[384];
	catalog_id sub;
	struct vault_race a = { sub };
	struct vault *vl;
	size_t n;
	int ok, limited, other;

	assert_int_equal(catalog_subscription_create(f->c, "race", 1000, sub, NULL), 0);
	assert_int_equal(pg_where(f->path, url, sizeof(url)), 0);
	race(url, 10, 3, create_one, &a, &ok, &limited, &other);
	print_message("vault race: %d created, %d refused by the limit, %d other\n", ok, limited,
		      other);
	assert_int_equal(other, 0);
	assert_int_equal(ok, CATALOG_VAULTS_MAX);
	assert_int_equal(limited, 30 - CATALOG_VAULTS_MAX);
	assert_int_equal(catalog_vault_list(f->c, sub, &vl, &n, NULL), 0);
	free(vl);
	assert_int_equal(n, CATALOG_VAULTS_MAX);
}

struct point_race {
	const char *machine_id;
	const char *hex;
};

static int commit_one(struct catalog *c, int child, int attempt, void *arg)
{
	const struct point_race *a = arg;
	const char *ids[1] = { a->hex };
	struct recovery_point rp;
	struct err e;

	(void)child;
	(void)attempt;
	if (catalog_point_commit(c, a->machine_id, a->hex, NULL, ids, 1, 5000, &rp, &e) == 0)
		return 0;
	if (e.code != ERR_LIMIT)
		fprintf(stderr, "commit: %s\n", e.msg);
	return e.code == ERR_LIMIT ? 1 : -1;
}

/* 372 points committed at once for one machine, from 12 processes:
 * exactly 366 are live, the other 6 refused with ERR_LIMIT. */
static void test_point_limit_under_race(void **state)
{
	struct fx *f = *state;
	char url[384], hex[OBJID_HEX_LEN + 1], pack[65];
	const uint8_t objs[] = { 0x51 };
	struct point_race a = { f->m.id, hex };
	struct recovery_point *list;
	struct objid id;
	size_t n;
	int ok, limited, other;

	add_pack(f, 'f', objs, 1, pack);
	memset(&id, 0, sizeof(id));
	id.b[0] = objs[0];
	objid_to_hex(&id, hex);
	assert_int_equal(pg_where(f->path, url, sizeof(url)), 0);
	race(url, 12, 31, commit_one, &a, &ok, &limited, &other);
	print_message("point race: %d committed, %d refused by the limit, %d other\n", ok, limited,
		      other);
	assert_int_equal(other, 0);
	assert_int_equal(ok, CATALOG_POINTS_MAX);
	assert_int_equal(limited, 12 * 31 - CATALOG_POINTS_MAX);
	assert_int_equal(catalog_point_list(f->c, f->m.id, false, &list, &n, NULL), 0);
	free(list);
	assert_int_equal(n, CATALOG_POINTS_MAX);
}

struct pin_race {
	const char *subscription;
};

static int pin_one(struct catalog *c, int child, int attempt, void *arg)
{
	const struct pin_race *a = arg;
	char actor[32];
	struct err e;

	(void)attempt;
	snprintf(actor, sizeof(actor), "machine:%d", child);
	if (catalog_pin_use(c, a->subscription, NULL, actor, "race-pin", 10000, &e) == 0)
		return 0;
	if (e.code != ERR_DENIED)
		fprintf(stderr, "pin: %s\n", e.msg);
	return e.code == ERR_DENIED ? 1 : -1;
}

static int nonce_one(struct catalog *c, int child, int attempt, void *arg)
{
	struct err e;

	(void)child;
	(void)attempt;
	(void)arg;
	if (catalog_nonce_use(c, "machine:race", "race-nonce", 10000, 10600, &e) == 0)
		return 0;
	if (e.code != ERR_DENIED)
		fprintf(stderr, "nonce: %s\n", e.msg);
	return e.code == ERR_DENIED ? 1 : -1;
}

/* A security PIN and a request's nonce, each spent by 10 processes at
 * once: exactly one use of each passes. */
static void test_single_use_under_race(void **state)
{
	struct fx *f = *state;
	char url[384];
	struct pin_race a = { f->sub };
	int ok, refused, other;

	assert_int_equal(catalog_pin_create(f->c, f->sub, "u1", "race-pin", 10000,
					    10000 + CATALOG_PIN_SECONDS, NULL), 0);
	assert_int_equal(pg_where(f->path, url, sizeof(url)), 0);
	race(url, 10, 1, pin_one, &a, &ok, &refused, &other);
	print_message("PIN race: %d used it, %d refused, %d other\n", ok, refused, other);
	assert_true(ok == 1 && refused == 9 && other == 0);
	race(url, 10, 1, nonce_one, NULL, &ok, &refused, &other);
	print_message("nonce race: %d spent it, %d refused as a replay, %d other\n", ok, refused,
		      other);
	assert_true(ok == 1 && refused == 9 && other == 0);
}

struct thread_race {
	struct catalog *c;
	const char *subscription;
	int child, ok, limited, other;
};

static void *thread_creates(void *arg)
{
	struct thread_race *t = arg;
	struct vault_race a = { t->subscription };

	for (int i = 0; i < 10; i++) {
		int r = create_one(t->c, t->child, i, &a);

		if (r == 0)
			t->ok++;
		else if (r == 1)
			t->limited++;
		else
			t->other++;
	}
	return NULL;
}

/* One catalog shared by 12 threads (more than its pool's connections),
 * 120 vault creations in a new subscription: exactly 25 go in. */
static void test_vault_limit_under_threads(void **state)
{
	struct fx *f = *state;
	catalog_id sub;
	struct thread_race t[12];
	pthread_t th[12];
	int ok = 0, limited = 0, other = 0;

	assert_int_equal(catalog_subscription_create(f->c, "threads", 1000, sub, NULL), 0);
	for (int i = 0; i < 12; i++) {
		t[i] = (struct thread_race){ f->c, sub, i, 0, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, thread_creates, &t[i]), 0);
	}
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		ok += t[i].ok, limited += t[i].limited, other += t[i].other;
	}
	print_message("thread race: %d created, %d refused by the limit, %d other\n", ok, limited,
		      other);
	assert_int_equal(other, 0);
	assert_int_equal(ok, CATALOG_VAULTS_MAX);
	assert_int_equal(limited, 120 - CATALOG_VAULTS_MAX);
}

/* ---- the server ---- */

/* Why without fsync: what is tested is what each call answers and leaves,
 * not a crash of the machine; with 5,000 commits in test_nonces alone, the
 * test took 10 to 45 s on a shared disk with fsync, against a budget of 60. */
static int run_script(const char *verb)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "PG_NO_SYNC=1 %s/scripts/pg %s %s >/dev/null", ARCA_SOURCE_DIR,
		 verb, server_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void stop_server(void)
{
	char cmd[128];

	if (admin)
		PQfinish(admin);
	admin = NULL;
	run_script("stop");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", server_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", server_dir);
}

/* SQLite's catalog moves to PostgreSQL and back, every row exactly: the
 * two backends list the same tables with the same columns (PostgreSQL's
 * ordering columns and schema table left out), and the order those
 * columns keep comes out the same (the first subscription stays first). */
static void test_rows_between_backends(void **state)
{
	struct fx *f = *state; /* on PostgreSQL: emptied below, the target */
	struct fx *s = NULL;
	const struct catalog_opener *was = opener;
	static const struct catalog_opener sq = { "sqlite", catalog_open, &catalog_sqlite_ops };
	struct catalog *back;
	struct copy c;
	char path[160], other[CATALOG_ID_LEN + 1], first[CATALOG_ID_LEN + 1];
	struct err e;

	/* The source: an SQLite fixture with a second subscription made
	 * after the first, at the same time: only the order of the rows
	 * tells which is first. */
	opener = &sq;
	assert_int_equal(setup((void **)&s), 0);
	fill_everything(s);
	assert_int_equal(catalog_subscription_create(s->c, "second", 1000, other, &e), 0);
	opener = was;
	/* The target: an empty PostgreSQL catalog of its own. */
	snprintf(path, sizeof(path), "%s/empty-target", f->dir);
	catalog_close(f->c);
	f->c = opener->open(path, &e);
	assert_non_null(f->c);
	c.from = s->c;
	c.fail_after = -1;
	assert_int_equal(catalog_rows_write(f->c, copy_fill, &c, &e), 0);
	assert_true(assert_same_rows(s->c, f->c) > 10);
	assert_int_equal(catalog_subscription_first(f->c, first, &e), 0);
	assert_string_equal(first, s->sub);
	/* And back to a new SQLite file. */
	snprintf(path, sizeof(path), "%s/back.db", s->dir);
	back = catalog_open(path, &e);
	assert_non_null(back);
	c.from = f->c;
	assert_int_equal(catalog_rows_write(back, copy_fill, &c, &e), 0);
	assert_true(assert_same_rows(s->c, back) > 10);
	assert_int_equal(catalog_subscription_first(back, first, &e), 0);
	assert_string_equal(first, s->sub);
	catalog_close(back);
	opener = &sq;
	teardown((void **)&s);
	opener = was;
}

static const struct catalog_opener pg_opener = { "postgresql", pg_catalog_at, &pg_ops_at };

int main(void)
{
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_migration_from_empty),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test_setup_teardown(test_lost_connection_and_broken_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_are_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_limit_under_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_limit_under_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_limit_under_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_point_limit_under_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_use_under_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_between_backends, setup, teardown),
	};
	int failed;

	strcpy(server_dir, "/tmp/arca-pg-XXXXXX");
	if (mkdtemp(server_dir) == NULL || chmod(server_dir, 0755) != 0) {
		fprintf(stderr, "cannot make a folder for the test server\n");
		return 1;
	}
	snprintf(server_url, sizeof(server_url), "postgresql:///arca?host=%s&user=arca", server_dir);
	if (run_script("start") != 0) {
		fprintf(stderr, "cannot start PostgreSQL with scripts/pg in %s\n", server_dir);
		stop_server();
		return 1;
	}
	admin = PQconnectdb(server_url);
	if (PQstatus(admin) != CONNECTION_OK || admin_exec("SET client_min_messages = warning")) {
		fprintf(stderr, "cannot connect to the test server: %s\n", PQerrorMessage(admin));
		stop_server();
		return 1;
	}
	pg_ops_at = catalog_pg_ops;
	pg_ops_at.open = pg_open_at;
	failed = run_conformance(&pg_opener, 1);
	opener = &pg_opener;
	failed += cmocka_run_group_tests_name("postgresql-own", own, NULL, NULL);
	stop_server();
	return failed;
}
