/*
 * main.c: the `arcad` command line, the vault service. It parses the command
 * word and hands the rest to the command's function; each returns an exit
 * code: 0 success, 1 failure, 2 usage error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "http.h"
#include "pack.h"
#include "service.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"

static void usage(FILE *f)
{
	fprintf(f,
		"arcad %s: the arca vault service\n"
		"\n"
		"Usage: arcad COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  init --data DIR [--user NAME] [--password-file FILE]\n"
		"                     create a data folder: catalog, certificate authority,\n"
		"                     the first subscription and its owner (a password is\n"
		"                     generated and printed once unless given)\n"
		"  serve --data DIR [--listen HOST:PORT] [--http]\n"
		"                     serve the API over HTTPS (default %s);\n"
		"                     --http serves plain HTTP, on a loopback address only\n"
		"  version [--json]   print the service's version\n"
		"  help               print this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage error.\n",
		ARCA_VERSION, DEFAULT_LISTEN);
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
	if (argc > 1) {
		fprintf(stderr, "arcad version: unknown option '%s'\n", argv[1]);
		return 2;
	}
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
	struct service_init_opts o = { NULL, "owner", NULL, NULL };
	char generated[SERVICE_PASSWORD_LEN + 1], given[256];
	struct err e;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "--data") == 0 && (v = optval(argc, argv, &i)))
			o.data = v;
		else if (strcmp(argv[i], "--user") == 0 && (v = optval(argc, argv, &i)))
			o.user = v;
		else if (strcmp(argv[i], "--password-file") == 0 && (v = optval(argc, argv, &i))) {
			if (read_secret_file(v, given, sizeof(given)) != 0) {
				fprintf(stderr, "arcad init: cannot read the password from %s\n", v);
				return 1;
			}
			o.password = given;
		} else {
			if (v == NULL && i < argc && argv[i][0] == '-' && strcmp(argv[i], "--data") &&
			    strcmp(argv[i], "--user") && strcmp(argv[i], "--password-file"))
				fprintf(stderr, "arcad init: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (o.data == NULL) {
		fprintf(stderr, "usage: arcad init --data DIR [--user NAME] [--password-file FILE]\n");
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

/* Purge what was soft-deleted more than 14 days ago, now and every hour,
 * until the service stops. */
static void *purger(void *arg)
{
	struct service *s = arg;

	for (unsigned i = 0; !stopping; i++) {
		if (i % PURGE_EVERY == 0) {
			int64_t p, m;
			struct err e;

			if (catalog_purge(s->cat, service_now(), &p, &m, &e) != 0)
				fprintf(stderr, "arcad: purge: %s\n", e.msg);
			else if (p || m)
				printf("arcad: purged %lld recovery points and %lld machines deleted "
				       "over %d days ago\n", (long long)p, (long long)m,
				       CATALOG_SOFT_DELETE_DAYS);
		}
		sleep(1);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int cmd_serve(int argc, char **argv)
{
	const char *data = NULL, *listen = DEFAULT_LISTEN;
	int plain = 0, rc = 1;
	char host[256];
	unsigned port;
	struct service s;
	struct http_server *srv = NULL;
	char *cert = NULL, *key = NULL;
	struct err e;
	struct sigaction sa;
	pthread_t purge_thread;
	int have_purger = 0;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "--data") == 0 && (v = optval(argc, argv, &i)))
			data = v;
		else if (strcmp(argv[i], "--listen") == 0 && (v = optval(argc, argv, &i)))
			listen = v;
		else if (strcmp(argv[i], "--http") == 0)
			plain = 1;
		else {
			if (i < argc && strcmp(argv[i], "--data") && strcmp(argv[i], "--listen"))
				fprintf(stderr, "arcad serve: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (data == NULL) {
		fprintf(stderr, "usage: arcad serve --data DIR [--listen HOST:PORT] [--http]\n");
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
	if (service_open(&s, data, &e) != 0) {
		fprintf(stderr, "arcad serve: %s\n", e.msg);
		return 1;
	}
	if (!plain) {
		const char *hosts[] = { host, NULL };

		/* The transport's certificate follows the real clock, never a test's. */
		if (service_tls_cert(&s, hosts, (int64_t)time(NULL), &cert, &key, &e) != 0) {
			fprintf(stderr, "arcad serve: TLS certificate: %s\n", e.msg);
			goto out;
		}
	}
	if ((srv = http_start(host, (uint16_t)port, cert, key, api_handle, &s, &e)) == NULL) {
		fprintf(stderr, "arcad serve: %s\n", e.msg);
		goto out;
	}
	/* Packs (up to the pack format's limit) and recovery points (their lists of
	 * object ids) arrive as files, not in memory. */
	http_add_upload(srv, "PUT", "/api/v1/packs/", PACK_MAX_BYTES, s.tmp);
	http_add_upload(srv, "POST", "/api/v1/recovery-points", 256u << 20, s.tmp);
	service_set_url(&s, plain ? "http" : "https", host, http_port(srv));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("arcad: serving %s\n", s.url);
	printf("arcad: API at %s/api/v1/; the TLS trust anchor is %s/tls/ca.pem\n", s.url, data);
	fflush(stdout);
	if (pthread_create(&purge_thread, NULL, purger, &s) == 0)
		have_purger = 1;
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
	http_stop(srv);
	if (key)
		sodium_memzero(key, strlen(key));
	free(key);
	free(cert);
	service_close(&s);
	return rc;
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
	fprintf(stderr, "arcad: unknown command '%s'; run 'arcad help' for the list\n", cmd);
	return 2;
}
