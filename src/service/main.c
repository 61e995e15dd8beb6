/*
 * main.c: the `arcad` command line, the vault service. It parses the command
 * word and hands the rest to the command's function; each returns an exit
 * code: 0 success, 1 failure, 2 usage error.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "gc.h"
#include "replicate.h"
#include "ops.h"
#include "passphrase.h"
#include "http.h"
#include "migrate.h"
#include "pack.h"
#include "portal.h"
#include "service.h"
#include "upload.h"
#include "verify.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"

/* The one usage error of arcad, for an unknown command, option or
 * argument: "arcad[ CMD]: WHAT 'WORD'; run 'arcad help' for the list". 2. */
static int usage_error(const char *cmd, const char *what, const char *word)
{
	fprintf(stderr, "arcad%s%s: %s '%s'; run 'arcad help' for the list\n", cmd ? " " : "",
		cmd ? cmd : "", what, word);
	return 2;
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--json") == 0) {
		json_t *o = json_pack("{s:s,s:b}", "version", ARCA_VERSION, "test_clock",
				      service_test_clock());

		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
		return 0;
	}
	if (argc > 1)
		return usage_error("version", "unknown option", argv[1]);
	printf("arcad %s\n", ARCA_VERSION);
	return 0;
}

/* The value of option NAME at argv[*i], advancing *i; NULL (after saying so)
 * when it is missing. */
static const char *optval(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "arcad: %s needs a value\n", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

/* TEXT as a whole number from LO to HI into *OUT: 0, or -1. */
static int parse_limit(const char *text, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int read_secret_file(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t len;

	if (f == NULL || fgets(out, (int)n, f) == NULL) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	len = strcspn(out, "\r\n");
	out[len] = 0;
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	struct service_init_opts o = { NULL, "owner", NULL, NULL, NULL };
	char generated[SERVICE_PASSWORD_LEN + 1], given[256];
	struct err e;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "--data") == 0 && (v = optval(argc, argv, &i)))
			o.data = v;
		else if (strcmp(argv[i], "--user") == 0 && (v = optval(argc, argv, &i)))
			o.user = v;
		else if (strcmp(argv[i], "--catalog") == 0 && (v = optval(argc, argv, &i)))
			o.catalog = v;
		else if (strcmp(argv[i], "--password-file") == 0 && (v = optval(argc, argv, &i))) {
			if (read_secret_file(v, given, sizeof(given)) != 0) {
				fprintf(stderr, "arcad init: cannot read the password from %s\n", v);
				return 1;
			}
			o.password = given;
		} else {
			if (v == NULL && i < argc && argv[i][0] == '-' && strcmp(argv[i], "--data") &&
			    strcmp(argv[i], "--user") && strcmp(argv[i], "--password-file") &&
			    strcmp(argv[i], "--catalog"))
				return usage_error("init", "unknown option", argv[i]);
			return 2;
		}
	}
	if (o.data == NULL) {
		fprintf(stderr, "usage: arcad init --data DIR [--user NAME] [--password-file FILE]\n"
				"         [--catalog postgresql://...]\n");
		return 2;
	}
	if (service_init(&o, generated, &e) != 0) {
		fprintf(stderr, "arcad init: %s\n", e.msg);
		return 1;
	}
	printf("Initialised %s.\n", o.data);
	printf("Owner: %s\n", o.user);
	if (generated[0])
		printf("Password: %s\n(shown once: keep it in a password manager)\n", generated);
	printf("Catalog key: %s/keys/catalog.key (seals the vaults' CA keys; keep a copy of it "
	       "apart from your backups of the catalog: without it they cannot be opened)\n", o.data);
	printf("Start the service with: arcad serve --data %s\n", o.data);
	sodium_memzero(generated, sizeof(generated));
	sodium_memzero(given, sizeof(given));
	return 0;
}

/* Split "HOST:PORT" or "[V6]:PORT". 0 or -1. */
static int parse_listen(const char *s, char *host, size_t n, unsigned *port)
{
	const char *colon;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= n)
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = 0;
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= n)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	p = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

static volatile sig_atomic_t stopping;

#define PURGE_EVERY 3600 /* seconds between purges of what was soft-deleted */

/* Forget uploads in progress nobody touched for a day (upload.h): leases
 * expire by themselves, there is no lock for a person to clean up. */
static void expire_uploads(struct service *s)
{
	struct err e;

	if (uploads_expire(s->uploads, time(NULL), &e) < 0)
		fprintf(stderr, "arcad: expiring uploads in progress: %s\n", e.msg);
}

/* Purge what was soft-deleted more than 14 days ago, and expire stale
 * uploads, now and every hour, until the service stops. */
/* Retention on the timer too, so a machine that stopped backing up still
 * has its old points expire (never its last one). */
static void apply_retention(struct service *s)
{
	catalog_id *ids = NULL;
	size_t n = 0;
	struct err e;

	if (catalog_policy_machines(s->cat, &ids, &n, &e) != 0) {
		fprintf(stderr, "arcad: retention: %s\n", e.msg);
		return;
	}
	for (size_t i = 0; i < n && !stopping; i++) {
		json_t *rep = NULL;

		if (ops_check_missed(s, ids[i], service_now(), &e) < 0)
			fprintf(stderr, "arcad: checking machine %s's schedule: %s\n", ids[i], e.msg);
		if (ops_retention(s, ids[i], service_now(), 0, &rep, &e) != 0)
			fprintf(stderr, "arcad: retention of machine %s: %s\n", ids[i], e.msg);
		else if (json_array_size(json_object_get(rep, "remove")))
			printf("arcad: retention expired %zu recovery points of machine %s\n",
			       json_array_size(json_object_get(rep, "remove")), ids[i]);
		json_decref(rep);
	}
	free(ids);
}

/* Whether this service does the timer's collection duty now: one service
 * of a catalog at a time (catalog_duty_take), the same one while it lives;
 * when it stops taking it (stopped, or dead), another takes over once its
 * time runs out. */
static int collector_duty(struct service *s, const char *me, int64_t now)
{
	struct err e;
	int r = catalog_duty_take(s->cat, "collector", me, now, now + PURGE_EVERY + 600, &e);

	if (r < 0)
		fprintf(stderr, "arcad: taking the collector's duty: %s\n", e.msg);
	return r == 1;
}

static void *purger(void *arg)
{
	struct service *s = arg;
	catalog_id me;

	catalog_new_id(me);
	for (unsigned i = 0; !stopping; i++) {
		if (i % PURGE_EVERY == 0)
			expire_uploads(s); /* this service's own, in its tmp/ */
		if (i % PURGE_EVERY == 0 && collector_duty(s, me, service_now())) {
			int64_t p, m, now = service_now();
			struct err e;

			if (catalog_purge(s->cat, now, now + GC_GRACE, service_pair_of, s, &p, &m,
					  &e) != 0)
				fprintf(stderr, "arcad: purge: %s\n", e.msg);
			else if (p || m)
				printf("arcad: purged %lld recovery points and %lld machines deleted "
				       "over %d days ago\n", (long long)p, (long long)m,
				       CATALOG_SOFT_DELETE_DAYS);
			apply_retention(s);
			{
				struct gc_stats st;

				if (gc_run(s, NULL, service_now(), &st, &e) != 0)
					fprintf(stderr, "arcad: collecting space: %s\n", e.msg);
				else if (st.packs_dropped || st.packs_rewritten || st.files_deleted)
					printf("arcad: collected space: %lld packs dropped, %lld "
					       "rewritten, %lld files deleted; %lld bytes before, "
					       "%lld after\n", (long long)st.packs_dropped,
					       (long long)st.packs_rewritten,
					       (long long)st.files_deleted,
					       (long long)st.bytes_before, (long long)st.bytes_after);
			}
		}
		sleep(1);
	}
	return NULL;
}

/*
 * The replicator (replicate.h): once a second, the service that holds the
 * duty "replicator" (one of a catalog's services at a time; another takes
 * over REPLICATE_DUTY_SECONDS after it stops renewing it) copies the GRS
 * packs due to their paired regions. A thread of its own: a long pass of
 * the collector does not hold up the copies, nor they the collector.
 */
static void *replicator(void *arg)
{
	struct service *s = arg;
	catalog_id me;

	catalog_new_id(me);
	while (!stopping) {
		int64_t now = service_now();
		struct replicate_stats st;
		struct err e;
		int d = catalog_duty_take(s->cat, REPLICATE_DUTY, me, now,
					  now + REPLICATE_DUTY_SECONDS, &e);

		if (d < 0)
			fprintf(stderr, "arcad: taking the replicator's duty: %s\n", e.msg);
		else if (d == 1 && replicate_pass(s, me, now, &stopping, &st, &e) != 0)
			fprintf(stderr, "arcad: %s\n", e.msg);
		else if (d == 1 && st.copied)
			printf("arcad: replicated %lld packs to their paired regions\n",
			       (long long)st.copied);
		fflush(stdout);
		sleep(1);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* arcad's one HTTP handler: the JSON API under /api/, the portal's pages
 * everywhere else. */
static void handle(void *ctx, const struct http_request *req, struct http_response *res)
{
	struct service *s = ctx;

	if (strncmp(req->path, "/api/", 5) == 0)
		api_handle(ctx, req, res);
	else
		portal_serve(s->portal, req, res);
}

/* What service_open did to the secrets at rest, told once, to F. */
static void say_sealing(FILE *f, const struct service *s)
{
	if (s->key_created)
		fprintf(f, "arcad: made the catalog key %s, which seals the vaults' CA keys in the "
			"catalog; keep a copy of it apart from your backups of the catalog\n",
			s->catalog_key);
	if (s->keys_sealed)
		fprintf(f, "arcad: sealed %zu vault CA keys stored in plain form with the catalog "
			"key\n", s->keys_sealed);
}

static int cmd_serve(int argc, char **argv)
{
	const char *data = NULL, *listen = DEFAULT_LISTEN, *catalog = NULL;
	struct http_limits lim = { HTTP_TIMEOUT_DEFAULT, HTTP_PER_ADDRESS_DEFAULT, NULL, 0 };
	const char *proxies[HTTP_PROXIES_MAX];
	int plain = 0, rc = 1;
	char host[256];
	unsigned port;
	struct service s;
	struct http_server *srv = NULL;
	char *cert = NULL, *key = NULL;
	struct err e;
	struct sigaction sa;
	pthread_t purge_thread, replicate_thread;
	int have_purger = 0, have_replicator = 0, lock = -1;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "--data") == 0 && (v = optval(argc, argv, &i)))
			data = v;
		else if (strcmp(argv[i], "--catalog") == 0 && (v = optval(argc, argv, &i)))
			catalog = v;
		else if (strcmp(argv[i], "--listen") == 0 && (v = optval(argc, argv, &i)))
			listen = v;
		else if (strcmp(argv[i], "--http") == 0)
			plain = 1;
		else if (strcmp(argv[i], "--connection-timeout") == 0 && (v = optval(argc, argv, &i))) {
			if (parse_limit(v, 1, 3600, &lim.timeout))
				return usage_error("serve", "--connection-timeout takes 1 to 3600 seconds, "
						   "not", v);
		} else if (strcmp(argv[i], "--connections-per-address") == 0 &&
			   (v = optval(argc, argv, &i))) {
			if (parse_limit(v, 1, HTTP_CONNECTIONS_MAX, &lim.per_address))
				return usage_error("serve", "--connections-per-address takes 1 to 256, not",
						   v);
		} else if (strcmp(argv[i], "--proxy") == 0 && (v = optval(argc, argv, &i))) {
			if (lim.n_proxies >= HTTP_PROXIES_MAX)
				return usage_error("serve", "--proxy may be given at most 8 times; one "
						   "more was", v);
			proxies[lim.n_proxies++] = v;
			lim.proxies = proxies;
		} else {
			if (i < argc && strcmp(argv[i], "--data") && strcmp(argv[i], "--listen") &&
			    strcmp(argv[i], "--catalog") &&
			    strcmp(argv[i], "--connection-timeout") &&
			    strcmp(argv[i], "--connections-per-address") && strcmp(argv[i], "--proxy"))
				return usage_error("serve", "unknown option", argv[i]);
			return 2;
		}
	}
	if (data == NULL) {
		fprintf(stderr, "usage: arcad serve --data DIR [--listen HOST:PORT] [--http]\n"
				"         [--connection-timeout SECONDS] [--connections-per-address N]\n"
				"         [--catalog postgresql://...] [--proxy BALANCER_ADDRESS]...\n");
		return 2;
	}
	if (parse_listen(listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "arcad serve: --listen wants HOST:PORT or [IPv6]:PORT, not '%s'\n", listen);
		return 2;
	}
	if (plain && !http_is_loopback(host)) {
		fprintf(stderr, "arcad serve: plain HTTP is allowed only on a loopback address "
				"(127.0.0.1, ::1); %s is not one. Drop --http to serve HTTPS.\n", host);
		return 2;
	}
	if (catalog && !service_catalog_is_server(catalog)) {
		fprintf(stderr, "arcad serve: --catalog takes the address of a PostgreSQL database "
				"(postgresql://...), not '%s'\n", catalog);
		return 2;
	}
	/* Held until the process ends: arcad migrate does not copy a folder
	 * that is served, nor is a folder served while it is copied. */
	if (service_lock(data, false, &lock, &e) != 0) {
		fprintf(stderr, "arcad serve: %s\n", e.msg);
		return 1;
	}
	if (service_open_catalog(&s, data, catalog, &e) != 0) {
		fprintf(stderr, "arcad serve: %s\n", e.msg);
		service_unlock(lock);
		return 1;
	}
	if (!plain) {
		/* The transport's certificate follows the real clock, never a test's. */
		if (service_tls_for(&s, host, (int64_t)time(NULL), &cert, &key, &e) != 0) {
			fprintf(stderr, "arcad serve: TLS certificate: %s\n", e.msg);
			goto out;
		}
	}
	if ((srv = http_start(host, (uint16_t)port, cert, key, &lim, handle, &s, &e)) == NULL) {
		fprintf(stderr, "arcad serve: %s\n", e.msg);
		goto out;
	}
	/* Packs (up to the pack format's limit) and recovery points (their lists of
	 * object ids) arrive as files, not in memory: only a machine's signed
	 * requests, admitted from their headers before any byte is stored. */
	http_set_admission(srv, api_admit, api_release);
	http_add_upload(srv, "PUT", "/api/v1/packs/", PACK_MAX_BYTES, s.tmp);
	http_add_upload(srv, "POST", "/api/v1/recovery-points", 256u << 20, s.tmp);
	service_set_url(&s, plain ? "http" : "https", host, http_port(srv));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("arcad: serving %s\n", s.url);
	printf("arcad: API at %s/api/v1/; the TLS trust anchor is %s/tls/ca.pem\n", s.url, data);
	printf("arcad: portal at %s/ (sign in with a user of the subscription)\n", s.url);
	say_sealing(stdout, &s);
	fflush(stdout);
	if (pthread_create(&purge_thread, NULL, purger, &s) == 0)
		have_purger = 1;
	if (pthread_create(&replicate_thread, NULL, replicator, &s) == 0)
		have_replicator = 1;
	/* Why poll rather than pause(): a signal may land on any thread (the
	 * server's or the purger's); the flag reaches us either way. */
	while (!stopping) {
		struct timespec t = { 0, 100 * 1000 * 1000 };

		nanosleep(&t, NULL);
	}
	fflush(stdout);
	printf("arcad: stopping\n");
	rc = 0;
out:
	stopping = 1;
	if (have_purger)
		pthread_join(purge_thread, NULL);
	if (have_replicator)
		pthread_join(replicate_thread, NULL);
	http_stop(srv);
	if (key)
		sodium_memzero(key, strlen(key));
	free(key);
	free(cert);
	service_close(&s);
	service_unlock(lock);
	return rc;
}

/* ---- admin commands: the same code as the API, on the data folder ---- */

struct admin {
	const char *data, *region, *redundancy, *out, *password_file, *url, *role;
	const char *arg[2];
	int nargs, json;
	int64_t now;    /* the service's clock when the command started */
	struct service s;
	catalog_id sub;
};

/* Parse the options of the admin command LABEL ("vault create") from
 * argv[2]. 0, or 2 (usage). */
static int admin_parse(const char *label, int argc, char **argv, struct admin *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--data") == 0)
			slot = &a->data;
		else if (strcmp(argv[i], "--region") == 0)
			slot = &a->region;
		else if (strcmp(argv[i], "--redundancy") == 0)
			slot = &a->redundancy;
		else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)
			slot = &a->out;
		else if (strcmp(argv[i], "--password-file") == 0)
			slot = &a->password_file;
		else if (strcmp(argv[i], "--url") == 0)
			slot = &a->url;
		else if (strcmp(argv[i], "--role") == 0)
			slot = &a->role;
		else if (strcmp(argv[i], "--json") == 0) {
			a->json = 1;
			continue;
		} else if (argv[i][0] == '-') {
			return usage_error(label, "unknown option", argv[i]);
		} else if (a->nargs == 2) {
			return usage_error(label, "unexpected argument", argv[i]);
		} else {
			a->arg[a->nargs++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "arcad: %s needs a value\n", argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	if (a->data == NULL) {
		fprintf(stderr, "arcad %s: --data DIR is required\n", label);
		return 2;
	}
	return 0;
}

static int admin_fail(const char *what, const struct err *e, int json)
{
	if (json) {
		json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", err_code_name(e->code),
				      "message", e->msg);

		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		fprintf(stderr, "arcad %s: %s\n", what, e->msg);
	}
	return 1;
}

static void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(o);
}

static json_t *vault_obj(const struct vault *v)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:s}", "id", v->id, "name", v->name, "region",
			 v->region, "redundancy", v->redundancy, "redundancy_locked", v->locked,
			 "machines", v->machines, "immutability",
			 catalog_immutability_name(v->immutability));
}


/* Record ACTION on TARGET in the audit log of the first subscription. 0, or
 * -1 with E set. Why an admin command whose record fails fails too: the
 * audit log is how the subscription's people learn what was done in it,
 * whoever did it. */
static int admin_audit(struct admin *a, const char *action, const char *target, struct err *e)
{
	if (catalog_audit(a->s.cat, a->sub, a->now, "arcad admin", action, target, "", e) == 0)
		return 0;
	return err_prefix(e, "%s on %s could not be recorded in the audit log: ", action, target);
}

/* Each admin command: 0 done, 1 a failure (said), 2 a usage error (said),
 * or -1 with E set. */

static int admin_vault_create(struct admin *a, struct err *e)
{
	struct vault v;

	if (ops_vault_create(&a->s, a->sub, "arcad admin", a->arg[0], a->region ? a->region
			     : a->s.regions[0].name, a->redundancy, a->now, &v, e) != 0)
		return -1;
	if (a->json)
		print_json(vault_obj(&v));
	else
		printf("Created vault %s in %s (%s).\n", v.name, v.region, v.redundancy);
	return 0;
}

static int admin_vault_list(struct admin *a, struct err *e)
{
	struct vault *v = NULL;
	size_t n = 0;

	if (catalog_vault_list(a->s.cat, a->sub, &v, &n, e) != 0)
		return -1;
	if (a->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, vault_obj(&v[i]));
		print_json(json_pack("{s:o}", "vaults", arr));
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%-50s %-10s %s%s  %d machines\n", v[i].name, v[i].region,
			       v[i].redundancy, v[i].locked ? " (locked)" : "", v[i].machines);
	}
	free(v);
	return 0;
}

static int admin_vault_show(struct admin *a, struct err *e)
{
	struct vault v;
	json_t *rep = NULL, *j;
	char line[512];

	if (catalog_vault_get(a->s.cat, a->sub, a->arg[0], &v, e) != 0 ||
	    ops_replication(&a->s, &v, a->now, &rep, e) != 0)
		return -1;
	if (a->json) {
		j = vault_obj(&v);
		if (rep)
			json_object_set(j, "replication", rep);
		print_json(j);
	} else {
		printf("vault %s\n  id: %s\n  region: %s\n  redundancy: %s%s\n  machines: %d of 50\n"
		       "  immutability: %s\n", v.name, v.id, v.region, v.redundancy,
		       v.locked ? " (locked)" : "", v.machines,
		       catalog_immutability_name(v.immutability));
		if (rep) {
			ops_replication_text(rep, line, sizeof(line));
			printf("  replication: %s\n", line);
		}
	}
	json_decref(rep);
	return 0;
}

static int admin_vault_delete(struct admin *a, struct err *e)
{

	if (catalog_vault_delete(a->s.cat, a->sub, a->arg[0], e) != 0)
		return -1;
	if (admin_audit(a, "vault.delete", a->arg[0], e) != 0)
		return err_prefix(e, "vault %s was deleted, but ", a->arg[0]);
	if (a->json)
		print_json(json_pack("{s:s}", "deleted", a->arg[0]));
	else
		printf("Deleted vault %s.\n", a->arg[0]);
	return 0;
}

/* The catalog refuses to unlock a locked vault, so this command cannot
 * either: it goes through the same transaction as the API. */
static int admin_vault_immutability(struct admin *a, struct err *e)
{
	struct vault v;
	int st;

	if ((st = catalog_immutability_parse(a->arg[1], e)) < 0 ||
	    ops_vault_immutability(&a->s, a->sub, "arcad admin", a->arg[0], st, a->now, &v, e) != 0)
		return -1;
	if (a->json)
		print_json(vault_obj(&v));
	else
		printf("Vault %s is %s%s.\n", v.name, catalog_immutability_name(v.immutability),
		       v.immutability == IMMUT_LOCKED ? " (for ever: it can never be made mutable "
		       "again)" : "");
	return 0;
}

static int admin_vault_credentials(struct admin *a, struct err *e)
{
	struct buf file = BUF_INIT;
	char name[VAULTCRED_FILENAME_MAX];
	FILE *f;
	int fd;

	if (a->out == NULL) {
		fprintf(stderr, "arcad vault credentials: -o FILE is required\n");
		return 2;
	}
	if (a->url)
		snprintf(a->s.url, sizeof(a->s.url), "%s", a->url);
	else
		service_set_url(&a->s, "https", "127.0.0.1", 8443);
	if (ops_credentials_issue(&a->s, a->sub, "arcad admin", a->arg[0], a->now, &file, name, e) != 0)
		return -1;
	fd = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || fwrite(file.data, 1, file.len, f) != file.len || fclose(f) != 0) {
		err_errno(e, "write %s", a->out);
		buf_wipe(&file);
		return -1;
	}
	buf_wipe(&file);
	if (a->json)
		print_json(json_pack("{s:s,s:s,s:s}", "file", a->out, "name", name, "service_url",
				     a->s.url));
	else
		printf("Wrote vault credentials for %s to %s (valid 48 hours; any earlier file of "
		       "this vault no longer registers machines).\n", a->arg[0], a->out);
	return 0;
}

static int admin_machine_list(struct admin *a, struct err *e)
{
	struct vault v;
	struct machine *m = NULL;
	size_t n = 0;

	if (catalog_vault_get(a->s.cat, a->sub, a->arg[0], &v, e) != 0 ||
	    catalog_machine_list(a->s.cat, v.id, &m, &n, e) != 0)
		return -1;
	if (a->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:b}", "id", m[i].id, "name",
							     m[i].name, "deleted", m[i].deleted != 0));
		print_json(json_pack("{s:o}", "machines", arr));
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%-64s %s%s\n", m[i].name, m[i].id, m[i].deleted ? " (deleted)" : "");
	}
	free(m);
	return 0;
}

/* The new user's password into PW: from --password-file, or generated.
 * 0, or -1 with E set. */
static int admin_password(struct admin *a, char pw[256], struct err *e)
{
	char gen[PASSPHRASE_GEN_CHARS + 1];

	if (a->password_file) {
		if (read_secret_file(a->password_file, pw, 256) != 0 || strlen(pw) < 12)
			return err_set(e, ERR_INVALID, "the password in %s must have at least 12 "
				       "characters", a->password_file);
		return 0;
	}
	if (passphrase_generate(gen, e) != 0)
		return -1;
	memcpy(pw, gen, SERVICE_PASSWORD_LEN);
	pw[SERVICE_PASSWORD_LEN] = 0;
	sodium_memzero(gen, sizeof(gen));
	return 0;
}

static int admin_user_add(struct admin *a, struct err *e)
{
	char pw[256], hash[crypto_pwhash_STRBYTES];
	struct err ae;
	int audited;

	if (a->role && !api_role_exists(a->role))
		return err_set(e, ERR_INVALID, "--role must be owner, backup-operator, "
			       "restore-operator, reader or security-admin, not %s", a->role);
	if (admin_password(a, pw, e) != 0)
		return -1;
	if (crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0 ||
	    catalog_user_create(a->s.cat, a->sub, a->arg[0], hash, a->now, e) != 0) {
		sodium_memzero(pw, sizeof(pw));
		return -1;
	}
	/* A user is created an owner; another role is set at once, and a user
	 * whose role could not be set is removed again rather than left an
	 * owner. */
	if (a->role && strcmp(a->role, CATALOG_OWNER) != 0) {
		struct user_change ch = { .what = USER_ROLE, .role = a->role, .may_touch_owner = true };
		struct user_change rm = { .what = USER_REMOVE, .may_touch_owner = true };
		struct err re;

		if (catalog_user_change(a->s.cat, a->sub, a->arg[0], &ch, e) != 0) {
			sodium_memzero(pw, sizeof(pw));
			if (catalog_user_change(a->s.cat, a->sub, a->arg[0], &rm, &re) != 0)
				return err_prefix(e, "user %s was added as an owner, and could not be "
						  "removed (%s): remove them: ", a->arg[0], re.msg);
			return err_prefix(e, "user %s was not added: ", a->arg[0]);
		}
	}
	/* Unrecorded, the user exists all the same: the password is shown
	 * (it is shown only once), then the failure. */
	audited = admin_audit(a, "user.create", a->arg[0], &ae) == 0;
	if (a->json)
		print_json(json_pack("{s:s,s:s,s:s?}", "user", a->arg[0], "role",
				     a->role ? a->role : CATALOG_OWNER, "password",
				     a->password_file ? NULL : pw));
	else if (a->password_file)
		printf("Added user %s (%s).\n", a->arg[0], a->role ? a->role : CATALOG_OWNER);
	else
		printf("Added user %s (%s).\nPassword: %s\n(shown once)\n", a->arg[0],
		       a->role ? a->role : CATALOG_OWNER, pw);
	sodium_memzero(pw, sizeof(pw));
	if (!audited) {
		fprintf(stderr, "arcad user add: user %s was added, but %s\n", a->arg[0], ae.msg);
		return 1;
	}
	return 0;
}

/* `arcad guard set NAME|none`: the host's admin names the guard, or
 * nobody, whoever the guard is now (a guard who lost their password and
 * second factor could approve nothing, a change of guard included). Not
 * held for approval: the host's admin can change the catalog anyway
 * (docs/THREAT-MODEL.md); audited, and alerted so that the subscription's
 * people hear of it. */
static int admin_guard_set(struct admin *a, struct err *e)
{
	const char *name = strcmp(a->arg[0], "none") == 0 ? NULL : a->arg[0];
	char msg[256];

	if (catalog_guard_set(a->s.cat, a->sub, name, 0, true, e) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "the service's administrator %s (arcad guard set)",
		 name ? "named a new guard" : "removed the guard");
	if (admin_audit(a, "guard.set", name ? name : "none", e) != 0 ||
	    catalog_alert(a->s.cat, a->sub, a->now, "guard.set", name ? name : "none", msg, e) != 0) {
		fprintf(stderr, "arcad guard set: the guard was changed, but %s\n", e->msg);
		return 1;
	}
	if (a->json)
		print_json(json_pack("{s:s?}", "guard", name));
	else
		printf(name ? "The guard is %s.\n" : "No guard%s: critical operations run at once.\n",
		       name ? name : "");
	return 0;
}

static int admin_token_create(struct admin *a, struct err *e)
{
	struct principal p;
	uint8_t raw[32];
	char token[65], th[65];
	catalog_id id;

	memset(&p, 0, sizeof(p));
	snprintf(p.subscription, sizeof(p.subscription), "%s", a->sub);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
	service_token_hash(token, th);
	if (catalog_token_create(a->s.cat, &p, a->arg[0], th, a->now, id, e) != 0)
		return -1;
	/* An unrecorded token is taken back, never shown. */
	if (admin_audit(a, "token.create", a->arg[0], e) != 0) {
		struct err ue;

		sodium_memzero(token, sizeof(token));
		if (catalog_token_delete(a->s.cat, a->sub, id, &ue) != 0)
			err_set(e, ue.code, "API token %s was created but could not be recorded in "
				"the audit log, nor deleted again: %s", a->arg[0], ue.msg);
		return -1;
	}
	if (a->json)
		print_json(json_pack("{s:s,s:s,s:s}", "id", id, "name", a->arg[0], "token", token));
	else
		printf("API token %s: %s\n(shown once; send it as \"Authorization: Bearer TOKEN\")\n",
		       a->arg[0], token);
	sodium_memzero(token, sizeof(token));
	return 0;
}

/* ---- the operator's view of packs, leases and space ---- */

static int admin_pack_list(struct admin *a, struct err *e)
{
	struct pack_use *u = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	if (catalog_pack_usage(a->s.cat, NULL, &u, &n, e) != 0) {
		json_decref(arr);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (a->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I}", "id", u[i].id,
							     "machine", u[i].machine_id, "vault",
							     u[i].vault_id, "size", (json_int_t)u[i].size));
		else
			printf("%s %s %lld\n", u[i].id, u[i].machine_id, (long long)u[i].size);
	}
	if (a->json)
		print_json(json_pack("{s:o}", "packs", arr));
	else
		json_decref(arr);
	free(u);
	return 0;
}

/* A pack whose file is lost or damaged is forgotten, so that its objects
 * count as missing and the next backup that has their source sends them
 * again (SPEC section 7, rule 6: the store is the truth). */
static int admin_pack_forget(struct admin *a, struct err *e)
{
	if (catalog_pack_forget(a->s.cat, a->arg[0], a->now + GC_GRACE, service_pair_of, &a->s,
				e) != 0)
		return -1;
	if (admin_audit(a, "pack.forget", a->arg[0], e) != 0)
		return -1;
	if (a->json)
		print_json(json_pack("{s:s}", "forgotten", a->arg[0]));
	else
		printf("Forgot pack %s: its objects are missing now, and the next backup of its "
		       "machine that still has their source uploads them again. Recovery points "
		       "that need them stay unrestorable in part until then.\n", a->arg[0]);
	return 0;
}

static int admin_lease_list(struct admin *a, struct err *e)
{
	struct lease *l = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	if (catalog_lease_list(a->s.cat, &l, &n, e) != 0) {
		json_decref(arr);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (a->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:b}", "id", l[i].id,
							     "machine", l[i].machine_id, "started",
							     (json_int_t)l[i].started, "expires",
							     (json_int_t)l[i].expires, "expired",
							     l[i].expires <= a->now));
		else
			printf("%s machine %s, %s\n", l[i].id, l[i].machine_id,
			       l[i].expires <= a->now ? "expired" : "in force");
	}
	if (a->json)
		print_json(json_pack("{s:o}", "leases", arr));
	else
		json_decref(arr);
	free(l);
	return 0;
}

/* End a backup's lease, whoever holds it: the collector need not wait for
 * a backup the operator knows is over. */
static int admin_lease_end(struct admin *a, struct err *e)
{
	struct lease *l = NULL;
	size_t n = 0, i;
	int rc;

	if (catalog_lease_list(a->s.cat, &l, &n, e) != 0)
		return -1;
	for (i = 0; i < n && strcmp(l[i].id, a->arg[0]) != 0; i++)
		;
	rc = i < n ? catalog_lease_end(a->s.cat, l[i].machine_id, l[i].id, e)
		   : err_set(e, ERR_NOT_FOUND, "no backup lease %.40s", a->arg[0]);
	free(l);
	if (rc != 0 || admin_audit(a, "lease.end", a->arg[0], e) != 0)
		return -1;
	if (a->json)
		print_json(json_pack("{s:s}", "ended", a->arg[0]));
	else
		printf("Ended backup lease %s.\n", a->arg[0]);
	return 0;
}

/* What a collection pass would free now, read from the catalog only. */
static int admin_space_preview(struct admin *a, struct err *e)
{
	struct vault v;
	struct gc_stats st;

	if (a->nargs > 1)
		return err_set(e, ERR_INVALID, "one vault at most");
	if (a->nargs == 1 && catalog_vault_get(a->s.cat, a->sub, a->arg[0], &v, e) != 0)
		return -1;
	if (gc_preview(&a->s, a->nargs == 1 ? v.id : NULL, &st, e) != 0)
		return -1;
	if (a->json)
		print_json(json_pack("{s:I,s:I,s:I,s:I,s:I}", "packs_seen", (json_int_t)st.packs_seen,
				     "packs_to_drop", (json_int_t)st.packs_dropped,
				     "packs_to_rewrite", (json_int_t)st.packs_rewritten,
				     "bytes_before", (json_int_t)st.bytes_before, "bytes_after",
				     (json_int_t)st.bytes_after));
	else
		printf("%lld packs, %lld bytes: a pass would drop %lld and rewrite %lld, leaving "
		       "%lld bytes\n", (long long)st.packs_seen, (long long)st.bytes_before,
		       (long long)st.packs_dropped, (long long)st.packs_rewritten,
		       (long long)st.bytes_after);
	return 0;
}

/*
 * The admin commands: their two words, what follows them (the usage), how
 * many arguments that names (-1: not checked), the function, and a line
 * of help. `arcad help` lists them from here.
 */
static const struct admin_cmd {
	const char *name;
	const char *usage;
	int nargs;
	int (*fn)(struct admin *a, struct err *e);
	const char *help;
} admin_cmds[] = {
	{ "vault create", "--data DIR NAME [--region R] [--redundancy LRS|GRS]", 1,
	  admin_vault_create, "create a vault of the first subscription" },
	{ "vault list", "--data DIR", -1, admin_vault_list, "the vaults" },
	{ "vault show", "--data DIR NAME", 1, admin_vault_show, "one vault" },
	{ "vault delete", "--data DIR NAME", 1, admin_vault_delete, "delete a vault" },
	{ "vault immutability", "--data DIR NAME mutable|immutable|locked", 2,
	  admin_vault_immutability, "make a vault immutable, or lock it (for ever)" },
	{ "vault credentials", "--data DIR NAME -o FILE [--url URL]", 1, admin_vault_credentials,
	  "vault credentials, written to FILE (mode 0600)" },
	{ "machine list", "--data DIR VAULT", 1, admin_machine_list, "a vault's machines" },
	{ "user add", "--data DIR NAME [--role ROLE] [--password-file FILE]", 1, admin_user_add,
	  "a user with ROLE (default owner); a password is generated and printed once unless "
	  "given" },
	{ "token create", "--data DIR NAME", 1, admin_token_create, "an API token, printed once" },
	{ "guard set", "--data DIR NAME|none", 1, admin_guard_set,
	  "name the guard (a security-admin) or none, whoever it is now; not held for approval" },
	{ "pack list", "--data DIR", 0, admin_pack_list, "the packs the catalog lists, in every vault" },
	{ "pack forget", "--data DIR PACK", 1, admin_pack_forget,
	  "forget a lost or damaged pack; the next backup resends its objects" },
	{ "lease list", "--data DIR", 0, admin_lease_list, "the backups' leases, in every vault" },
	{ "lease end", "--data DIR LEASE", 1, admin_lease_end,
	  "end a backup's lease before it expires" },
	{ "space preview", "--data DIR [VAULT]", -1, admin_space_preview,
	  "what a collection pass would drop and rewrite (changes nothing)" },
};

#define N_ADMIN_CMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

/* Whether WORD starts an admin command ("vault", "machine", ...). */
static bool admin_word(const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i < N_ADMIN_CMDS; i++)
		if (strncmp(admin_cmds[i].name, word, n) == 0 && admin_cmds[i].name[n] == ' ')
			return true;
	return false;
}

/* argv[0] is the command's first word, argv[1] its second. */
static int cmd_admin(int argc, char **argv)
{
	const struct admin_cmd *cmd = NULL;
	struct admin a;
	struct err e;
	char label[64];
	int rc;

	if (argc < 2)
		return usage_error(NULL, "incomplete command", argv[0]);
	snprintf(label, sizeof(label), "%s %s", argv[0], argv[1]);
	for (size_t i = 0; i < N_ADMIN_CMDS && cmd == NULL; i++)
		if (strcmp(admin_cmds[i].name, label) == 0)
			cmd = &admin_cmds[i];
	if (cmd == NULL)
		return usage_error(NULL, "unknown command", label);
	if ((rc = admin_parse(label, argc, argv, &a)) != 0)
		return rc;
	if (cmd->nargs >= 0 && a.nargs != cmd->nargs) {
		fprintf(stderr, "usage: arcad %s %s\n", cmd->name, cmd->usage);
		return 2;
	}
	a.now = service_now();
	if (service_open(&a.s, a.data, &e) != 0 || catalog_subscription_first(a.s.cat, a.sub, &e) != 0)
		return admin_fail(label, &e, a.json);
	say_sealing(stderr, &a.s);
	if ((rc = cmd->fn(&a, &e)) < 0)
		rc = admin_fail(label, &e, a.json);
	service_close(&a.s);
	return rc;
}

/* ---- arcad verify: the stores checked against the catalog ---- */

#define EXIT_DAMAGE 3 /* verify found damage */

/* Whether a progress line is due: always for the last one (DONE), else
 * when EVERY_NS have passed since *LAST, which it then moves to now. */
static bool progress_due(struct timespec *last, long every_ns, bool done)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!done && (now.tv_sec - last->tv_sec) * 1000000000L + (now.tv_nsec - last->tv_nsec) <
			     every_ns)
		return false;
	*last = now;
	return true;
}

/* The progress line on a terminal, redrawn at most ten times a second. */
struct verify_line {
	bool on;
	struct timespec last;
};

static void verify_progress(void *arg, int64_t copies, int64_t copies_total, int64_t bytes,
			    int64_t bytes_total)
{
	struct verify_line *l = arg;

	if (!progress_due(&l->last, 100000000L, copies >= copies_total))
		return;
	fprintf(stderr, "\rverify: %lld of %lld pack copies, %.1f of %.1f MiB checked ",
		(long long)copies, (long long)copies_total, (double)bytes / 1048576.0,
		(double)bytes_total / 1048576.0);
	l->on = true;
}

static json_t *verify_json(const struct verify_report *r)
{
	json_t *bad = json_array(), *strays = json_array(), *pts = json_array();

	for (size_t i = 0; i < r->n_bad; i++) {
		const struct verify_bad *b = &r->bad[i];

		json_array_append_new(bad, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "id", b->pack,
						     "region", b->region, "vault_id", b->vault_id,
						     "machine", b->machine_id, "problem",
						     verify_problem_name(b->problem), "size",
						     (json_int_t)b->size, "size_found",
						     (json_int_t)b->size_found));
	}
	for (size_t i = 0; i < r->n_strays; i++)
		json_array_append_new(strays, json_pack("{s:s,s:s,s:I}", "id", r->strays[i].pack,
							"region", r->strays[i].region, "size",
							(json_int_t)r->strays[i].size));
	for (size_t i = 0; i < r->n_damaged; i++) {
		const struct verify_point *p = &r->damaged[i];

		json_array_append_new(pts, json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:I,s:I,s:b}", "id",
						     p->point_id, "machine", p->machine_id,
						     "machine_name", p->machine, "vault", p->vault,
						     "created", (json_int_t)p->created, "deleted",
						     p->deleted != 0, "objects_damaged",
						     (json_int_t)p->objects_damaged,
						     "objects_unplaced",
						     (json_int_t)p->objects_unplaced,
						     "references_lost", p->refs_lost));
	}
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "clean", verify_clean(r),
			 "vaults", (json_int_t)r->vaults, "machines", (json_int_t)r->machines,
			 "points", (json_int_t)r->points, "packs", (json_int_t)r->packs, "copies",
			 (json_int_t)r->copies, "bytes", (json_int_t)r->bytes,
			 "replication_pending", (json_int_t)r->pending, "bad_packs", bad,
			 "stray_packs", strays, "damaged_points", pts);
}

static void verify_text(const struct verify_report *r)
{
	for (size_t i = 0; i < r->n_bad; i++) {
		const struct verify_bad *b = &r->bad[i];

		if (b->problem == VERIFY_MISSING)
			printf("pack %s of machine %s is missing from region %s\n", b->pack,
			       b->machine_id, b->region);
		else if (b->problem == VERIFY_SIZE)
			printf("pack %s of machine %s in region %s has %lld bytes, not %lld\n",
			       b->pack, b->machine_id, b->region, (long long)b->size_found,
			       (long long)b->size);
		else
			printf("pack %s of machine %s in region %s is damaged: its SHA-256 is not "
			       "its id\n", b->pack, b->machine_id, b->region);
	}
	for (size_t i = 0; i < r->n_strays; i++)
		printf("stray pack %s in region %s (%lld bytes): stored, but the catalog does not "
		       "list it\n", r->strays[i].pack, r->strays[i].region,
		       (long long)r->strays[i].size);
	for (size_t i = 0; i < r->n_damaged; i++) {
		const struct verify_point *p = &r->damaged[i];

		printf("recovery point %s%s of machine %s (%s) in vault %s is damaged: ", p->point_id,
		       p->deleted ? " (deleted)" : "", p->machine, p->machine_id, p->vault);
		if (p->refs_lost)
			printf("the catalog lost the list of objects it references\n");
		else
			printf("%lld of its objects are in damaged or missing packs, %lld have no "
			       "recorded pack\n", (long long)p->objects_damaged,
			       (long long)p->objects_unplaced);
	}
	printf("Checked %lld packs (%lld copies, %lld bytes) in %lld vaults, and %lld recovery "
	       "points of %lld machines: ", (long long)r->packs, (long long)r->copies,
	       (long long)r->bytes, (long long)r->vaults, (long long)r->points,
	       (long long)r->machines);
	if (verify_clean(r))
		printf("no damage found.\n");
	else
		printf("%zu bad pack copies, %zu stray packs, %zu damaged recovery points.\n",
		       r->n_bad, r->n_strays, r->n_damaged);
	if (r->pending)
		printf("Replication pending: %lld GRS pack copies are not in their paired region "
		       "yet (queued, not damage; see the vault's replication).\n",
		       (long long)r->pending);
}

static int cmd_verify(int argc, char **argv)
{
	const char *data = NULL, *vault = NULL;
	struct verify_line line = { 0 };
	struct verify_opts o = { 0 };
	struct verify_report r;
	struct service s;
	catalog_id sub;
	struct err e;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--vault") == 0) {
			const char **slot = strcmp(argv[i], "--data") == 0 ? &data : &vault;

			if ((*slot = optval(argc, argv, &i)) == NULL)
				return 2;
		} else if (argv[i][0] == '-')
			return usage_error("verify", "unknown option", argv[i]);
		else
			return usage_error("verify", "unexpected argument", argv[i]);
	}
	if (data == NULL) {
		fprintf(stderr, "usage: arcad verify --data DIR [--vault NAME] [--json]\n");
		return 2;
	}
	if (service_open(&s, data, &e) != 0)
		return admin_fail("verify", &e, json);
	if (catalog_subscription_first(s.cat, sub, &e) != 0) {
		service_close(&s);
		return admin_fail("verify", &e, json);
	}
	o.subscription = sub;
	o.vault = vault;
	if (isatty(STDERR_FILENO)) {
		o.progress = verify_progress;
		o.arg = &line;
	}
	rc = verify_run(&s, &o, &r, &e);
	if (line.on)
		fputc('\n', stderr);
	if (rc != 0) {
		rc = admin_fail("verify", &e, json);
	} else {
		if (json)
			print_json(verify_json(&r));
		else
			verify_text(&r);
		rc = verify_clean(&r) ? 0 : EXIT_DAMAGE;
	}
	verify_report_free(&r);
	service_close(&s);
	return rc;
}

/* ---- arcad migrate: a whole service moved to other backends ---- */

/* A progress line per pack copy, at most every half second (and the last). */
struct migrate_line {
	struct timespec last;
};

static void migrate_progress(void *arg, int64_t done, int64_t total, int64_t bytes,
			     int64_t bytes_total)
{
	struct migrate_line *l = arg;

	if (!progress_due(&l->last, 500000000L, done >= total))
		return;
	fprintf(stderr, "migrate: %lld of %lld pack copies, %.1f of %.1f MiB copied\n",
		(long long)done, (long long)total, (double)bytes / 1048576.0,
		(double)bytes_total / 1048576.0);
}

static int cmd_migrate(int argc, char **argv)
{
	const char *data = NULL, *to = NULL;
	struct service from, dest;
	struct migrate_report r;
	struct migrate_line line = { { 0, 0 } };
	char a[PATH_MAX], b[PATH_MAX], conf[PATH_MAX];
	int lock_from = -1, lock_to = -1, rc = 1, opened = 0;
	struct err e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--to") == 0) {
			const char **slot = strcmp(argv[i], "--data") == 0 ? &data : &to;

			if ((*slot = optval(argc, argv, &i)) == NULL)
				return 2;
		} else if (argv[i][0] == '-') {
			return usage_error("migrate", "unknown option", argv[i]);
		} else {
			return usage_error("migrate", "unexpected argument", argv[i]);
		}
	}
	if (data == NULL || to == NULL) {
		fprintf(stderr, "usage: arcad migrate --data DIR --to NEWDIR\n");
		return 2;
	}
	if (realpath(data, a) == NULL) {
		fprintf(stderr, "arcad migrate: %s: %s\n", data, strerror(errno));
		return 1;
	}
	if ((mkdir(to, 0700) != 0 && errno != EEXIST) || realpath(to, b) == NULL) {
		fprintf(stderr, "arcad migrate: cannot create %s: %s\n", to, strerror(errno));
		return 1;
	}
	if (strcmp(a, b) == 0) {
		fprintf(stderr, "arcad migrate: --to must be another data folder than --data\n");
		return 2;
	}
	if (service_lock(data, true, &lock_from, &e) != 0 ||
	    service_lock(to, true, &lock_to, &e) != 0 ||
	    service_open_stores(&from, data, false, &e) != 0)
		goto fail;
	opened = 1;
	/* No arcad.json in the destination: the embedded defaults, with the
	 * source's regions. */
	snprintf(conf, sizeof(conf), "%s/arcad.json", to);
	if (access(conf, F_OK) != 0 && service_write_folders_config(&from, to, &e) != 0)
		goto fail;
	if (service_open_stores(&dest, to, true, &e) != 0)
		goto fail;
	opened = 2;
	fprintf(stderr, "migrate: from %s (catalog on %s) to %s (catalog on %s)\n", data,
		catalog_backend_name(from.cat), to, catalog_backend_name(dest.cat));
	/* The refusals first, then the secrets (a destination refused keeps
	 * its own), then the copy. */
	if (migrate_check(&from, &dest, NULL, NULL, &e) != 0 ||
	    service_copy_secrets(&from, &dest, &e) != 0 ||
	    migrate_run(&from, &dest, migrate_progress, &line, &r, &e) != 0)
		goto fail;
	printf("Migrated %s to %s: %lld tables, %lld rows; %lld packs in %lld copies (%lld "
	       "copied now, %lld there already), %lld bytes copied, in %.1f s.\n", data, to,
	       (long long)r.tables, (long long)r.rows, (long long)r.packs, (long long)r.copies,
	       (long long)r.copied, (long long)r.skipped, (long long)r.bytes, r.seconds);
	printf("The catalog key and the service CA were copied to %s; keep its catalog key "
	       "with it. Start the service with: arcad serve --data %s\n", to, to);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "arcad migrate: %s\n", e.msg);
out:
	if (opened == 2)
		service_close(&dest);
	if (opened >= 1)
		service_close(&from);
	service_unlock(lock_to);
	service_unlock(lock_from);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"arcad %s: the arca vault service\n"
		"\n"
		"Usage: arcad COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  init --data DIR [--user NAME] [--password-file FILE] [--catalog URL]\n"
		"                     create a data folder: catalog, certificate authority,\n"
		"                     the first subscription and its owner (a password is\n"
		"                     generated and printed once unless given); the catalog\n"
		"                     is catalog.db in DIR, or the PostgreSQL database at\n"
		"                     --catalog postgresql://... (kept in arcad.json)\n"
		"  serve --data DIR [--listen HOST:PORT] [--http]\n"
		"        [--connection-timeout SECONDS] [--connections-per-address N]\n"
		"        [--catalog URL] [--proxy ADDRESS]...\n"
		"                     serve the API over HTTPS (default %s);\n"
		"                     --http serves plain HTTP, on a loopback address only;\n"
		"                     a connection idle 120 s is closed, and one address may\n"
		"                     hold 64 connections; --catalog postgresql://...\n"
		"                     overrides arcad.json's; --proxy names a load balancer\n"
		"                     whose connections carry the client's address in a\n"
		"                     PROXY protocol v2 header (HAProxy's send-proxy-v2)\n",
		ARCA_VERSION, DEFAULT_LISTEN);
	for (size_t i = 0; i < N_ADMIN_CMDS; i++)
		fprintf(f, "  %s %s\n                     %s\n", admin_cmds[i].name, admin_cmds[i].usage,
			admin_cmds[i].help);
	fprintf(f,
		"                     the admin commands act on the first subscription;\n"
		"                     every one takes --json\n"
		"  verify --data DIR [--vault NAME] [--json]\n"
		"                     check every pack the catalog lists, in each region that\n"
		"                     holds a copy, by size and SHA-256, list stray packs and\n"
		"                     name the damaged recovery points (needs no keys; safe\n"
		"                     while the service runs); exit code 3 when damage is found\n"
		"  migrate --data DIR --to NEWDIR\n"
		"                     copy the whole service (catalog, packs, catalog key,\n"
		"                     service CA) to the catalog and stores NEWDIR/arcad.json\n"
		"                     names (PostgreSQL, S3), or to the embedded defaults when\n"
		"                     NEWDIR has none; the service must be stopped; a run\n"
		"                     that was interrupted can be run again\n"
		"  version [--json]   print the service's version\n"
		"  help               print this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage error, 3 damage found (verify).\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(argc - 1, argv + 1);
	if (admin_word(cmd))
		return cmd_admin(argc - 1, argv + 1);
	return usage_error(NULL, "unknown command", cmd);
}
