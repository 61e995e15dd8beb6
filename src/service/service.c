/* service.c: data folder, configuration and CA of the service; see service.h. */
#include "service.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		const char *store = json_string_value(json_object_get(r, "store"));
		const char *pair = json_string_value(json_object_get(r, "pair"));
		struct region *g = &s->regions[i];

		if (name == NULL || store == NULL || strlen(name) == 0 || strlen(name) >= sizeof(g->name)) {
			err_set(e, ERR_INVALID, "%s: region %zu needs a \"name\" and a \"store\"", path, i);
			goto out;
		}
		snprintf(g->name, sizeof(g->name), "%s", name);
		snprintf(g->pair, sizeof(g->pair), "%s", pair ? pair : "");
		if (store[0] == '/')
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
	if ((s->portal = portal_new(e)) == NULL || (s->keys = pki_key_cache_new(e)) == NULL ||
	    (s->registrations = ratelimit_new(1024, SERVICE_REGISTER_BURST, SERVICE_REGISTER_REFILL,
					      e)) == NULL)
		goto fail;
	/* One slot per connection the server takes: each upload is one. */
	if ((s->staging = staging_new(HTTP_CONNECTIONS_MAX, STAGING_UPLOADS_MAX, STAGING_BYTES_MAX,
				      e)) == NULL)
		goto fail;
	for (size_t i = 0; i < s->n_regions; i++)
		if ((s->regions[i].store = store_fs_open(s->regions[i].store_path, e)) == NULL)
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
	for (size_t i = 0; i < s->n_regions; i++)
		store_close(s->regions[i].store);
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
