/* service.c: data folder, configuration and CA of the service; see service.h. */
#include "service.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "passphrase.h"
#include "pki.h"
#include "portal.h"
#include "ratelimit.h"
#include "seal.h"
#include "secfile.h"
#include "staging.h"
#include "http.h"
#include "store.h"
#include "store_s3.h"
#include "upload.h"

static int path_join(char *out, size_t n, const char *a, const char *b, struct err *e)
{
	int k = snprintf(out, n, "%s/%s", a, b);

	if (k < 0 || (size_t)k >= n)
		return err_set(e, ERR_TOO_LARGE, "path %s/%s is too long", a, b);
	return 0;
}

static int mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return err_set(e, ERR_TOO_LARGE, "path %s is too long", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return err_errno(e, "create folder %s", tmp);
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return err_errno(e, "create folder %s", tmp);
	return 0;
}

/* Write LEN bytes to PATH atomically with MODE: temporary file, fsync,
 * rename, fsync of the folder. */
static int write_file(const char *path, const void *p, size_t len, mode_t mode, struct err *e)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;
	int fd, rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return err_set(e, ERR_TOO_LARGE, "path %s is too long", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		return err_errno(e, "create %s", tmp);
	if (write(fd, p, len) != (ssize_t)len || fsync(fd) != 0) {
		err_errno(e, "write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		err_errno(e, "rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = 0;
		if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	rc = 0;
	return rc;
}

static char *read_file(const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (f == NULL) {
		err_errno(e, "read %s", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0 || (s = malloc((size_t)n + 1)) == NULL ||
	    fread(s, 1, (size_t)n, f) != (size_t)n) {
		err_set(e, ERR_IO, "cannot read %s", path);
		free(s);
		s = NULL;
	} else {
		s[n] = 0;
	}
	fclose(f);
	return s;
}

int64_t service_now(void)
{
	return clock_now();
}

int service_test_clock(void)
{
	return clock_is_test();
}

int64_t service_lease_seconds(void)
{
#ifdef ARCA_TEST_CLOCK
	const char *v = getenv("ARCA_TEST_LEASE_SECONDS");
	long long n = v ? strtoll(v, NULL, 10) : 0;

	if (n > 0)
		return n;
#endif
	return SERVICE_LEASE_SECONDS;
}

void service_token_hash(const char *token, char out[65])
{
	unsigned char md[32];

	SHA256((const unsigned char *)token, strlen(token), md);
	sodium_bin2hex(out, 65, md, sizeof(md));
}

int service_init(const struct service_init_opts *o, char generated[SERVICE_PASSWORD_LEN + 1],
		 struct err *e)
{
	char path[PATH_MAX], hash[crypto_pwhash_STRBYTES];
	struct catalog *cat = NULL;
	struct buf pem = BUF_INIT, key = BUF_INIT;
	EVP_PKEY *k = NULL;
	X509 *ca = NULL;
	json_t *conf = NULL;
	char *text = NULL;
	catalog_id sub;
	const char *password = o->password;
	int64_t now = service_now();
	struct stat st;
	int rc = -1;

	generated[0] = 0;
	if (sodium_init() < 0)
		return err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
	if (o->catalog && !service_catalog_is_server(o->catalog))
		return err_set(e, ERR_INVALID, "--catalog takes the address of a PostgreSQL "
			       "database (postgresql://...); without it the catalog is catalog.db "
			       "in the data folder");
	if (path_join(path, sizeof(path), o->data, "catalog.db", e) != 0)
		return -1;
	if (stat(path, &st) == 0)
		return err_set(e, ERR_EXISTS, "%s holds a catalog already: this data folder is "
			       "initialised; run `arcad serve --data %s`", o->data, o->data);
	if (o->catalog) {
		/* A database that serves a subscription is another service's
		 * catalog: init never adds a second owner to it. */
		catalog_id first;
		struct err le;
		int r;

		if ((cat = catalog_open(o->catalog, e)) == NULL)
			return -1;
		r = catalog_subscription_first(cat, first, &le);
		catalog_close(cat);
		cat = NULL;
		if (r == 0)
			return err_set(e, ERR_EXISTS, "the catalog database holds a subscription "
				       "already: it is initialised; to run another service on it, "
				       "copy the first service's data folder (docs/SCALE.md)");
		if (le.code != ERR_NOT_FOUND)
			return err_set(e, le.code, "%s", le.msg);
	}
	if (mkdir_p(o->data, 0700, e) != 0)
		return -1;
	if (password == NULL) {
		/* The passphrase generator's alphabet reads well on a terminal. */
		char p[PASSPHRASE_GEN_CHARS + 1];

		if (passphrase_generate(p, e) != 0)
			return -1;
		memcpy(generated, p, SERVICE_PASSWORD_LEN);
		generated[SERVICE_PASSWORD_LEN] = 0;
		sodium_memzero(p, sizeof(p));
		password = generated;
	} else if (strlen(password) < 12) {
		return err_set(e, ERR_INVALID, "the owner's password needs at least 12 characters");
	}

	/* Configuration: two regions paired with each other for GRS. */
	conf = json_pack("{s:s, s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "url", "",
			 "regions", "name", "local-1", "store", "store/local-1", "pair", "local-2",
			 "name", "local-2", "store", "store/local-2", "pair", "local-1");
	if (conf && o->catalog && json_object_set_new(conf, "catalog", json_string(o->catalog)) != 0) {
		err_oom(e);
		goto out;
	}
	if (conf == NULL || (text = json_dumps(conf, JSON_INDENT(2))) == NULL) {
		err_oom(e);
		goto out;
	}
	if (path_join(path, sizeof(path), o->data, "arcad.json", e) ||
	    write_file(path, text, strlen(text), 0600, e))
		goto out;
	for (int i = 1; i <= 2; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "store/local-%d", i);
		if (path_join(path, sizeof(path), o->data, rel, e) || mkdir_p(path, 0700, e))
			goto out;
	}

	/* The service CA, valid 20 years: its certificate is the trust anchor. */
	if (path_join(path, sizeof(path), o->data, "tls", e) || mkdir_p(path, 0700, e))
		goto out;
	if ((k = pki_key_new(e)) == NULL || (ca = pki_ca_new(k, "arca service CA", now,
							       20LL * 365 * 86400, e)) == NULL ||
	    pki_cert_pem(ca, &pem, e) || pki_key_pem(k, &key, e))
		goto out;
	if (path_join(path, sizeof(path), o->data, "tls/ca.key", e) ||
	    write_file(path, key.data, key.len, 0600, e) ||
	    path_join(path, sizeof(path), o->data, "tls/ca.pem", e) ||
	    write_file(path, pem.data, pem.len, 0644, e))
		goto out;

	/* The TLS certificate for the loopback names; serve renews it as needed. */
	{
		struct service tmp;
		char *tc = NULL, *tk = NULL;

		memset(&tmp, 0, sizeof(tmp));
		snprintf(tmp.data, sizeof(tmp.data), "%s", o->data);
		tmp.ca_cert = ca;
		tmp.ca_key = k;
		if (service_tls_for(&tmp, "127.0.0.1", now, &tc, &tk, e) != 0)
			goto out;
		sodium_memzero(tk, strlen(tk));
		free(tk);
		free(tc);
	}

	/* The catalog key, before the catalog: every vault CA key the
	 * catalog will hold is sealed with it. One left by an init that
	 * failed later is kept, if it passes the checks a start makes: a key
	 * file is never replaced. */
	if (path_join(path, sizeof(path), o->data, "keys", e) || mkdir_p(path, 0700, e) ||
	    path_join(path, sizeof(path), o->data, "keys/catalog.key", e))
		goto out;
	if (seal_key_create(path, e) != 0) {
		struct seal_key *old;

		if (e == NULL || e->code != ERR_EXISTS || (old = seal_key_load(path, e)) == NULL)
			goto out;
		seal_key_free(old);
	}

	/* Catalog, subscription and owner. */
	if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		err_oom(e);
		goto out;
	}
	if (o->catalog)
		snprintf(path, sizeof(path), "%s", o->catalog);
	else if (path_join(path, sizeof(path), o->data, "catalog.db", e))
		goto out;
	if ((cat = catalog_open(path, e)) == NULL ||
	    catalog_subscription_create(cat, o->subscription ? o->subscription : "default", now, sub, e) ||
	    catalog_user_create(cat, sub, o->user, hash, now, e) ||
	    catalog_audit(cat, sub, now, "arcad init", "subscription.create", o->user, "", e))
		goto out;
	rc = 0;
out:
	catalog_close(cat);
	json_decref(conf);
	free(text);
	buf_free(&pem);
	buf_wipe(&key);
	EVP_PKEY_free(k);
	X509_free(ca);
	return rc;
}

/* Copy the string member NAME of O into OUT (CAP bytes). REQUIRED: absent
 * is an error; else OUT stays as it is. 0 or -1 with E set. */
static int s3_string(json_t *o, const char *name, int required, char *out, size_t cap,
		     const char *where, struct err *e)
{
	json_t *v = json_object_get(o, name);

	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
		return err_set(e, ERR_INVALID, "%s needs \"%s\": a string of 1 to %zu characters",
			       where, name, cap - 1);
	snprintf(out, cap, "%s", json_string_value(v));
	return 0;
}

/* A size in MiB, member NAME of O, into *OUT in bytes (absent: 0). */
static int s3_mib(json_t *o, const char *name, uint64_t *out, const char *where, struct err *e)
{
	json_t *v = json_object_get(o, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1024)
		return err_set(e, ERR_INVALID, "%s: \"%s\" must be a whole number of MiB from 1 to "
			       "1024", where, name);
	*out = (uint64_t)json_integer_value(v) << 20;
	return 0;
}

/*
 * A region's "store" as an object: {"s3": {"endpoint", "bucket", "region",
 * "access_key", and the secret key from "secret_key_file" (a file of
 * secrets, absolute or relative to the data folder) or "secret_key_env"
 * (the name of an environment variable); optional "prefix",
 * "part_size_mib", "multipart_above_mib"}}. The secret is never in
 * arcad.json itself, nor on a command line.
 */
static int load_s3_store(struct service *s, struct region *g, json_t *store, const char *path,
			 struct err *e)
{
	json_t *o = json_object_get(store, "s3"), *file, *env;
	char where[PATH_MAX + 100], secret_path[PATH_MAX];
	struct region_s3 *c = &g->s3;
	const char *v;
	size_t n;

	snprintf(where, sizeof(where), "%s: the S3 store of region %s", path, g->name);
	if (!json_is_object(o) || json_object_size(store) != 1)
		return err_set(e, ERR_INVALID, "%s: a region's \"store\" is a folder (a string) or "
			       "{\"s3\": {\"endpoint\", \"bucket\", \"region\", \"access_key\", "
			       "\"secret_key_file\" or \"secret_key_env\"}}", path);
	if (s3_string(o, "endpoint", 1, c->endpoint, sizeof(c->endpoint), where, e) ||
	    s3_string(o, "bucket", 1, c->bucket, sizeof(c->bucket), where, e) ||
	    s3_string(o, "region", 1, c->region, sizeof(c->region), where, e) ||
	    s3_string(o, "access_key", 1, c->access_key, sizeof(c->access_key), where, e) ||
	    s3_string(o, "prefix", 0, c->prefix, sizeof(c->prefix), where, e) ||
	    s3_mib(o, "part_size_mib", &c->part_size, where, e) ||
	    s3_mib(o, "multipart_above_mib", &c->multipart_above, where, e))
		return -1;
	{
		static const char *const known[] = { "endpoint", "bucket", "region", "access_key",
						      "secret_key_file", "secret_key_env", "prefix",
						      "part_size_mib", "multipart_above_mib",
						      "secret_key" };
		const char *k;
		json_t *v;

		json_object_foreach(o, k, v) {
			size_t i = 0;

			while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], k) != 0)
				i++;
			if (i == sizeof(known) / sizeof(known[0]))
				return err_set(e, ERR_INVALID, "%s: unknown key \"%.40s\" (the keys are "
					       "endpoint, bucket, region, access_key, secret_key_file "
					       "or secret_key_env, prefix, part_size_mib, "
					       "multipart_above_mib)", where, k);
		}
	}
	if (json_object_get(o, "secret_key"))
		return err_set(e, ERR_INVALID, "%s: the secret key may not be in %s; put it in a "
			       "file of mode 0600 named by \"secret_key_file\", or in an environment "
			       "variable named by \"secret_key_env\"", where, path);
	file = json_object_get(o, "secret_key_file");
	env = json_object_get(o, "secret_key_env");
	if ((file == NULL) == (env == NULL) || (file && !json_is_string(file)) ||
	    (env && !json_is_string(env)))
		return err_set(e, ERR_INVALID, "%s needs one of \"secret_key_file\" (a file of mode "
			       "0600 holding the secret key) and \"secret_key_env\" (the name of "
			       "an environment variable holding it)", where);
	if (file) {
		v = json_string_value(file);
		if (v[0] == '/')
			snprintf(secret_path, sizeof(secret_path), "%s", v);
		else if (path_join(secret_path, sizeof(secret_path), s->data, v, e) != 0)
			return -1;
		if (secfile_check(secret_path, e) != 0 ||
		    (c->secret = read_file(secret_path, e)) == NULL)
			return err_prefix(e, "%s: ", where);
	} else {
		v = getenv(json_string_value(env));
		if (v == NULL || v[0] == 0)
			return err_set(e, ERR_INVALID, "%s: the environment variable %s that should "
				       "hold the secret key is not set", where,
				       json_string_value(env));
		if ((c->secret = strdup(v)) == NULL)
			return err_oom(e);
	}
	n = strlen(c->secret);
	while (n > 0 && (c->secret[n - 1] == '\n' || c->secret[n - 1] == '\r'))
		c->secret[--n] = 0;
	if (n == 0)
		return err_set(e, ERR_INVALID, "%s: the secret key is empty", where);
	g->on_s3 = 1;
	return 0;
}

/* Open the store of region G. 0 or -1 with E set. */
static int open_store(struct region *g, struct err *e)
{
	struct store_s3_config c = { 0 };

	if (!g->on_s3) {
		g->store = store_fs_open(g->store_path, e);
		return g->store ? 0 : -1;
	}
	c.endpoint = g->s3.endpoint;
	c.bucket = g->s3.bucket;
	c.region = g->s3.region;
	c.access_key = g->s3.access_key;
	c.secret_key = g->s3.secret;
	c.prefix = g->s3.prefix[0] ? g->s3.prefix : NULL;
	c.part_size = g->s3.part_size;
	c.multipart_above = g->s3.multipart_above;
	c.retries = -1;
	if ((g->store = store_s3_open(&c, e)) == NULL)
		return err_prefix(e, "the store of region %s: ", g->name);
	return 0;
}

static int load_config(struct service *s, struct err *e)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *conf, *regions, *r, *url, *key, *cat;
	const char *k;
	size_t i;
	int rc = -1;

	if (path_join(path, sizeof(path), s->data, "arcad.json", e) != 0)
		return -1;
	if ((conf = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return err_set(e, ERR_INVALID, "%s: %s (line %d)", path, je.text, je.line);
	regions = json_object_get(conf, "regions");
	if (!json_is_array(regions) || json_array_size(regions) == 0 ||
	    json_array_size(regions) > SERVICE_REGIONS_MAX) {
		err_set(e, ERR_INVALID, "%s: \"regions\" must list 1 to %d regions", path,
			SERVICE_REGIONS_MAX);
		goto out;
	}
	json_array_foreach(regions, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		json_t *sj = json_object_get(r, "store");
		const char *store = json_string_value(sj);
		const char *pair = json_string_value(json_object_get(r, "pair"));
		struct region *g = &s->regions[i];

		if (name == NULL || (store == NULL && !json_is_object(sj)) || strlen(name) == 0 ||
		    strlen(name) >= sizeof(g->name)) {
			err_set(e, ERR_INVALID, "%s: region %zu needs a \"name\" and a \"store\"", path, i);
			goto out;
		}
		snprintf(g->name, sizeof(g->name), "%s", name);
		snprintf(g->pair, sizeof(g->pair), "%s", pair ? pair : "");
		/* Counted now, so that service_close frees what a region holds
		 * even when a later one is refused. */
		s->n_regions = i + 1;
		if (store == NULL) {
			if (load_s3_store(s, g, sj, path, e) != 0)
				goto out;
		} else if (store[0] == '/')
			snprintf(g->store_path, sizeof(g->store_path), "%s", store);
		else if (path_join(g->store_path, sizeof(g->store_path), s->data, store, e) != 0)
			goto out;
	}
	s->n_regions = json_array_size(regions);
	key = json_object_get(conf, "catalog_key");
	if (key && (!json_is_string(key) || json_string_length(key) == 0)) {
		err_set(e, ERR_INVALID, "%s: \"catalog_key\" must be the path of the catalog key "
			"file (absolute, or relative to the data folder)", path);
		goto out;
	}
	k = key ? json_string_value(key) : "keys/catalog.key";
	if (k[0] == '/')
		snprintf(s->catalog_key, sizeof(s->catalog_key), "%s", k);
	else if (path_join(s->catalog_key, sizeof(s->catalog_key), s->data, k, e) != 0)
		goto out;
	/* The catalog: a database server's address as it is, a path as the
	 * catalog key's (--catalog, given to service_open_catalog, wins). */
	cat = json_object_get(conf, "catalog");
	if (cat && (!json_is_string(cat) || json_string_length(cat) == 0 ||
		    json_string_length(cat) >= sizeof(s->catalog))) {
		err_set(e, ERR_INVALID, "%s: \"catalog\" must be the address of a PostgreSQL "
			"database (postgresql://...) or the path of an SQLite file", path);
		goto out;
	}
	k = cat ? json_string_value(cat) : "catalog.db";
	if (service_catalog_is_server(k) || k[0] == '/')
		snprintf(s->catalog, sizeof(s->catalog), "%s", k);
	else if (path_join(s->catalog, sizeof(s->catalog), s->data, k, e) != 0)
		goto out;
	url = json_object_get(conf, "url");
	snprintf(s->url, sizeof(s->url), "%s", json_is_string(url) ? json_string_value(url) : "");
	rc = 0;
out:
	json_decref(conf);
	return rc;
}

/* What open_seal's pass over the catalog's CA keys does with each. */
struct seal_pass {
	struct service *s;
	size_t sealed;     /* keys found sealed */
	int probe;         /* 1: no key yet: count only, change nothing */
};

static int seal_one(void *arg, const char *vault_id, const char *text, char **repl,
		    struct err *e)
{
	struct seal_pass *p = arg;
	struct buf out = BUF_INIT;
	char *plain;

	if (seal_is_sealed(text)) {
		p->sealed++;
		if (p->probe)
			return 0;
		/* Why open each one: a wrong key file is refused at start, with
		 * its name, rather than at a vault's first credential. */
		if ((plain = seal_open(p->s->seal, vault_id, text, e)) == NULL)
			return err_set(e, ERR_CORRUPT, "the catalog key %s does not open the CA key "
				       "of vault %s: it is not the key file the catalog's keys were "
				       "sealed with; put back the right one", p->s->catalog_key,
				       vault_id);
		seal_plain_free(plain);
		return 0;
	}
	if (p->probe)
		return 0;
	if (service_seal_ca_key(p->s, vault_id, text, &out, e) != 0)
		return -1;
	*repl = (char *)out.data;
	return 0;
}

/* Load the catalog key; make it only for a catalog that holds no sealed
 * key, since a new key would open none of them; then check and seal the
 * catalog's CA keys. */
static int open_seal(struct service *s, struct err *e)
{
	struct seal_pass p = { s, 0, 1 };
	struct err le;
	char dir[PATH_MAX], *slash;
	size_t n;

	if ((s->seal = seal_key_load(s->catalog_key, &le)) == NULL) {
		if (le.code != ERR_NOT_FOUND) {
			*e = le;
			return -1;
		}
		if (catalog_vault_ca_keys_rewrite(s->cat, seal_one, &p, &n, e) != 0)
			return err_prefix(e, "reading the catalog's CA keys: ");
		if (p.sealed > 0) {
			*e = le;
			return -1;
		}
		snprintf(dir, sizeof(dir), "%s", s->catalog_key);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = 0;
			if (dir[0] && mkdir_p(dir, 0700, e) != 0)
				return -1;
		}
		if (seal_key_create(s->catalog_key, e) != 0 ||
		    (s->seal = seal_key_load(s->catalog_key, e)) == NULL)
			return -1;
		s->key_created = 1;
	}
	p.probe = 0;
	p.sealed = 0;
	if (catalog_vault_ca_keys_rewrite(s->cat, seal_one, &p, &s->keys_sealed, e) != 0)
		return -1;
	return 0;
}

int service_seal_ca_key(struct service *s, const char *vault_id, const char *key_pem,
			struct buf *out, struct err *e)
{
	return seal_text(s->seal, vault_id, key_pem, out, e);
}

int service_vault_ca(struct service *s, const char *vault_id, X509 **cert, EVP_PKEY **key,
		     struct err *e)
{
	char *cert_pem = NULL, *text = NULL, *plain = NULL;
	int rc = -1;

	*cert = NULL;
	*key = NULL;
	if (catalog_vault_ca(s->cat, vault_id, &cert_pem, &text, e) != 0)
		return -1;
	if (!seal_is_sealed(text)) {
		err_set(e, ERR_CORRUPT, "the CA key of vault %s is not sealed in the catalog; "
			"restart arcad, which seals it", vault_id);
		goto out;
	}
	if ((plain = seal_open(s->seal, vault_id, text, e)) == NULL) {
		err_prefix(e, "the CA key of vault %s: ", vault_id);
		goto out;
	}
	if ((*cert = pki_cert_parse(cert_pem, e)) == NULL || (*key = pki_key_parse(plain, e)) == NULL)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		X509_free(*cert);
		*cert = NULL;
	}
	seal_plain_free(plain);
	free(text);
	free(cert_pem);
	return rc;
}

int service_catalog_is_server(const char *where)
{
	return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

int service_open(struct service *s, const char *data, struct err *e)
{
	return service_open_catalog(s, data, NULL, e);
}

int service_open_catalog(struct service *s, const char *data, const char *catalog,
			 struct err *e)
{
	char path[PATH_MAX], *key = NULL;
	uint8_t csrf[PORTAL_CSRF_KEY_LEN];

	memset(s, 0, sizeof(*s));
	if (sodium_init() < 0)
		return err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
	if (snprintf(s->data, sizeof(s->data), "%s", data) >= (int)sizeof(s->data))
		return err_set(e, ERR_TOO_LARGE, "path %s is too long", data);
	if (catalog && snprintf(s->catalog, sizeof(s->catalog), "%s", catalog) >=
			       (int)sizeof(s->catalog))
		return err_set(e, ERR_TOO_LARGE, "catalog address %.40s... is too long", catalog);
	if (path_join(path, sizeof(path), data, "arcad.json", e) != 0)
		return -1;
	if (access(path, R_OK) != 0)
		return err_set(e, ERR_NOT_FOUND, "%s is not an initialised data folder; run "
			       "`arcad init --data %s` first", data, data);
	if (load_config(s, e) != 0)
		goto fail;
	if (catalog)
		snprintf(s->catalog, sizeof(s->catalog), "%s", catalog);
	/* An SQLite catalog is a file of the data folder: without it, the
	 * folder was never initialised (a new empty catalog would hide that). */
	if (!service_catalog_is_server(s->catalog) && access(s->catalog, R_OK | W_OK) != 0) {
		err_set(e, ERR_NOT_FOUND, "%s is not an initialised data folder; run "
			"`arcad init --data %s` first", data, data);
		goto fail;
	}
	if ((s->cat = catalog_open(s->catalog, e)) == NULL || open_seal(s, e) != 0)
		goto fail;
	/* The CSRF key comes from the catalog key, which every service of
	 * one catalog shares: a form one service served posts to another. */
	if (seal_derive(s->seal, "portal csrf", csrf, sizeof(csrf), e) != 0)
		goto fail;
	s->portal = portal_new(s->cat, csrf, e);
	sodium_memzero(csrf, sizeof(csrf));
	if (s->portal == NULL || (s->keys = pki_key_cache_new(e)) == NULL ||
	    (s->registrations = ratelimit_shared(s->cat, "register-peer", SERVICE_REGISTER_BURST,
						 SERVICE_REGISTER_REFILL, e)) == NULL)
		goto fail;
	/* One slot per connection the server takes: each upload is one. */
	if ((s->staging = staging_new(HTTP_CONNECTIONS_MAX, STAGING_UPLOADS_MAX, STAGING_BYTES_MAX,
				      e)) == NULL)
		goto fail;
	for (size_t i = 0; i < s->n_regions; i++)
		if (open_store(&s->regions[i], e) != 0)
			goto fail;
	if (path_join(s->tmp, sizeof(s->tmp), data, "tmp", e) || mkdir_p(s->tmp, 0700, e) ||
	    (s->uploads = uploads_open(s->tmp, e)) == NULL)
		goto fail;
	/* The service CA's key stays a file of its own (the TLS layer reads
	 * it at start); it must be as private as the catalog key. */
	if (path_join(path, sizeof(path), data, "tls/ca.key", e) || secfile_check(path, e))
		goto fail;
	if (path_join(path, sizeof(path), data, "tls/ca.pem", e) ||
	    (s->ca_pem = read_file(path, e)) == NULL ||
	    (s->ca_cert = pki_cert_parse(s->ca_pem, e)) == NULL ||
	    path_join(path, sizeof(path), data, "tls/ca.key", e) ||
	    (key = read_file(path, e)) == NULL || (s->ca_key = pki_key_parse(key, e)) == NULL)
		goto fail;
	sodium_memzero(key, strlen(key));
	free(key);
	return 0;
fail:
	if (key) {
		sodium_memzero(key, strlen(key));
		free(key);
	}
	service_close(s);
	return -1;
}

void service_close(struct service *s)
{
	catalog_close(s->cat);
	portal_free(s->portal);
	ratelimit_free(s->registrations);
	pki_key_cache_free(s->keys);
	staging_free(s->staging);
	uploads_close(s->uploads);
	for (size_t i = 0; i < s->n_regions; i++) {
		store_close(s->regions[i].store);
		if (s->regions[i].s3.secret) {
			sodium_memzero(s->regions[i].s3.secret, strlen(s->regions[i].s3.secret));
			free(s->regions[i].s3.secret);
		}
	}
	X509_free(s->ca_cert);
	EVP_PKEY_free(s->ca_key);
	free(s->ca_pem);
	seal_key_free(s->seal);
	memset(s, 0, sizeof(*s));
}

int service_tls_cert(struct service *s, const char *const *hosts, int64_t now, char **cert_pem,
		     char **key_pem, struct err *e)
{
	const char *dns[20] = { "localhost" }, *ips[20] = { "127.0.0.1", "::1" };
	size_t nd = 1, ni = 2;
	struct buf c = BUF_INIT, k = BUF_INIT;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct pki_leaf leaf;
	int rc = -1;

	for (; hosts && *hosts; hosts++) {
		struct in6_addr a;
		int is_ip = inet_pton(AF_INET, *hosts, &a) == 1 || inet_pton(AF_INET6, *hosts, &a) == 1;

		if (strcmp(*hosts, "localhost") == 0 || strcmp(*hosts, "127.0.0.1") == 0 ||
		    strcmp(*hosts, "::1") == 0)
			continue;
		if (is_ip && ni < 19)
			ips[ni++] = *hosts;
		else if (!is_ip && nd < 19)
			dns[nd++] = *hosts;
	}
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = dns[nd > 1 ? 1 : 0];
	leaf.not_before = now - 300;
	leaf.not_after = now + 90LL * 86400;
	leaf.dns = dns;
	leaf.ips = ips;
	leaf.server = 1;
	if ((key = pki_key_new(e)) && (x = pki_issue(s->ca_cert, s->ca_key, key, &leaf, e)) &&
	    pki_cert_pem(x, &c, e) == 0 && pki_key_pem(key, &k, e) == 0) {
		*cert_pem = (char *)c.data;
		*key_pem = (char *)k.data;
		c.data = k.data = NULL;
		rc = 0;
	}
	buf_free(&c);
	buf_wipe(&k);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

int service_tls_for(struct service *s, const char *host, int64_t now, char **cert_pem,
		    char **key_pem, struct err *e)
{
	char cpath[PATH_MAX], kpath[PATH_MAX];
	const char *hosts[] = { host, NULL };
	X509 *x = NULL;
	time_t soon = (time_t)(now + 30LL * 86400);
	int ok = 0;

	if (path_join(cpath, sizeof(cpath), s->data, "tls/server.pem", e) ||
	    path_join(kpath, sizeof(kpath), s->data, "tls/server.key", e))
		return -1;
	*cert_pem = read_file(cpath, NULL);
	*key_pem = *cert_pem ? read_file(kpath, NULL) : NULL;
	if (*cert_pem && *key_pem && (x = pki_cert_parse(*cert_pem, NULL)) != NULL) {
		struct in6_addr a;
		int is_ip = inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;

		/* Reuse: issued by our CA, valid a month more, and naming HOST. */
		ok = X509_check_issued(s->ca_cert, x) == X509_V_OK &&
		     X509_cmp_time(X509_get0_notAfter(x), &soon) > 0 &&
		     (is_ip ? X509_check_ip_asc(x, host, 0) == 1
			    : X509_check_host(x, host, 0, 0, NULL) == 1);
		X509_free(x);
	}
	if (ok)
		return 0;
	if (*key_pem)
		sodium_memzero(*key_pem, strlen(*key_pem));
	free(*key_pem);
	free(*cert_pem);
	*cert_pem = *key_pem = NULL;
	if (service_tls_cert(s, hosts, now, cert_pem, key_pem, e) != 0)
		return -1;
	if (write_file(kpath, *key_pem, strlen(*key_pem), 0600, e) != 0 ||
	    write_file(cpath, *cert_pem, strlen(*cert_pem), 0644, e) != 0)
		return -1;
	return 0;
}

void service_set_url(struct service *s, const char *scheme, const char *host, unsigned port)
{
	if (s->url[0])
		return;
	snprintf(s->url, sizeof(s->url), strchr(host, ':') ? "%s://[%s]:%u" : "%s://%s:%u", scheme,
		 host, port);
}

const struct region *service_region(const struct service *s, const char *name)
{
	for (size_t i = 0; i < s->n_regions; i++)
		if (strcmp(s->regions[i].name, name) == 0)
			return &s->regions[i];
	return NULL;
}

const char *service_pair_of(void *s, const char *region)
{
	const struct region *r = service_region(s, region);

	return r && r->pair[0] ? r->pair : NULL;
}

/* ---- for arcad migrate: a data folder's parts, its lock, its secrets ---- */

int service_lock(const char *data, bool exclusive, int *fd, struct err *e)
{
	char path[PATH_MAX];

	*fd = -1;
	if (path_join(path, sizeof(path), data, "arcad.lock", e) != 0)
		return -1;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND, "%s is not an initialised data folder; run "
				       "`arcad init --data %s` first", data, data);
		return err_errno(e, "open the lock %s", path);
	}
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		if (exclusive)
			err_set(e, ERR_LOCKED, "a service is running on %s (arcad serve holds its "
				"lock %s); stop every arcad serve of this data folder first", data,
				path);
		else
			err_set(e, ERR_LOCKED, "%s is being migrated (arcad migrate holds its lock "
				"%s); start the service when the migration has ended", data, path);
	} else {
		err_errno(e, "lock %s", path);
	}
	close(*fd);
	*fd = -1;
	return -1;
}

void service_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int service_open_stores(struct service *s, const char *data, bool create, struct err *e)
{
	char path[PATH_MAX];

	memset(s, 0, sizeof(*s));
	if (sodium_init() < 0)
		return err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
	if (snprintf(s->data, sizeof(s->data), "%s", data) >= (int)sizeof(s->data))
		return err_set(e, ERR_TOO_LARGE, "path %s is too long", data);
	if (path_join(path, sizeof(path), data, "arcad.json", e) != 0)
		return -1;
	if (access(path, R_OK) != 0)
		return err_set(e, ERR_NOT_FOUND, "%s has no arcad.json: it is not an initialised "
			       "data folder", data);
	if (load_config(s, e) != 0)
		goto fail;
	if (!create && !service_catalog_is_server(s->catalog) && access(s->catalog, R_OK) != 0) {
		err_set(e, ERR_NOT_FOUND, "%s is not an initialised data folder (no catalog %s)",
			data, s->catalog);
		goto fail;
	}
	if ((s->cat = catalog_open(s->catalog, e)) == NULL)
		goto fail;
	for (size_t i = 0; i < s->n_regions; i++)
		if ((create && !s->regions[i].on_s3 && mkdir_p(s->regions[i].store_path, 0700, e)) ||
		    open_store(&s->regions[i], e) != 0)
			goto fail;
	return 0;
fail:
	service_close(s);
	return -1;
}

int service_write_folders_config(const struct service *from, const char *data, struct err *e)
{
	json_t *conf = json_object(), *regions = json_array();
	char path[PATH_MAX], rel[PATH_MAX];
	char *text = NULL;
	int rc = -1;

	if (conf == NULL || regions == NULL || json_object_set(conf, "regions", regions) != 0 ||
	    json_object_set_new(conf, "url", json_string(from->url)) != 0) {
		err_oom(e);
		goto out;
	}
	if (mkdir_p(data, 0700, e) != 0)
		goto out;
	for (size_t i = 0; i < from->n_regions; i++) {
		const struct region *g = &from->regions[i];
		json_t *r = json_pack("{s:s,s:s}", "name", g->name, "store", "");

		snprintf(rel, sizeof(rel), "store/%s", g->name);
		if (r == NULL || json_object_set_new(r, "store", json_string(rel)) != 0 ||
		    (g->pair[0] && json_object_set_new(r, "pair", json_string(g->pair)) != 0) ||
		    json_array_append_new(regions, r) != 0) {
			json_decref(r);
			err_oom(e);
			goto out;
		}
		if (path_join(path, sizeof(path), data, rel, e) != 0 || mkdir_p(path, 0700, e) != 0)
			goto out;
	}
	if ((text = json_dumps(conf, JSON_INDENT(2))) == NULL) {
		err_oom(e);
		goto out;
	}
	if (path_join(path, sizeof(path), data, "arcad.json", e) != 0 ||
	    write_file(path, text, strlen(text), 0600, e) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	json_decref(regions);
	json_decref(conf);
	return rc;
}

/* The whole small file PATH (a key, a certificate) into *OUT of *LEN
 * bytes, the caller wipes and frees it. 0; 1 when there is no such file;
 * -1 with E set. */
static int slurp(const char *path, uint8_t **out, size_t *len, struct err *e)
{
	struct buf b = BUF_INIT;
	uint8_t chunk[4096];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 1 : err_errno(e, "read %s", path);
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		if (b.len + (size_t)got > (1u << 20) || buf_append(&b, chunk, (size_t)got, e) != 0) {
			close(fd);
			buf_wipe(&b);
			return err_set(e, ERR_TOO_LARGE, "%s is too large for a key file", path);
		}
	sodium_memzero(chunk, sizeof(chunk));
	close(fd);
	if (got < 0) {
		buf_wipe(&b);
		return err_errno(e, "read %s", path);
	}
	*out = b.data ? b.data : calloc(1, 1);
	*len = b.len;
	return *out ? 0 : err_oom(e);
}

/* Copy FROM to TO (mode MODE) when TO is missing; when TO is there it must
 * hold the same bytes. WHAT names the file for messages. */
static int copy_same(const char *from, const char *to, mode_t mode, const char *what,
		     struct err *e)
{
	uint8_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	char dir[PATH_MAX], *slash;
	int r, rc = -1;

	if ((r = slurp(from, &a, &na, e)) != 0) {
		if (r == 1)
			err_set(e, ERR_NOT_FOUND, "the source has no %s %s; put it back before "
				"migrating", what, from);
		return -1;
	}
	if ((r = slurp(to, &b, &nb, e)) < 0)
		goto out;
	if (r == 0) {
		if (na != nb || sodium_memcmp(a, b, na) != 0) {
			err_set(e, ERR_EXISTS, "the destination holds another %s %s than the "
				"source's %s; remove it (the source's is copied) or migrate into a new "
				"data folder", what, to, from);
			goto out;
		}
		rc = 0;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", to);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = 0;
		if (dir[0] && mkdir_p(dir, 0700, e) != 0)
			goto out;
	}
	rc = write_file(to, a, na, mode, e);
out:
	if (a)
		sodium_memzero(a, na);
	if (b)
		sodium_memzero(b, nb);
	free(a);
	free(b);
	return rc;
}

int service_copy_secrets(const struct service *from, const struct service *to, struct err *e)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (secfile_check(from->catalog_key, e) != 0 ||
	    copy_same(from->catalog_key, to->catalog_key, 0600, "catalog key", e) != 0)
		return -1;
	if (path_join(a, sizeof(a), from->data, "tls/ca.key", e) ||
	    path_join(b, sizeof(b), to->data, "tls/ca.key", e) ||
	    copy_same(a, b, 0600, "service CA key", e) ||
	    path_join(a, sizeof(a), from->data, "tls/ca.pem", e) ||
	    path_join(b, sizeof(b), to->data, "tls/ca.pem", e) ||
	    copy_same(a, b, 0644, "service CA certificate", e))
		return -1;
	return 0;
}
