/*
 * service.h: one running vault service: its data folder, configuration,
 * catalog and certificate authority, and the two things a person does with
 * it from the command line: initialise a data folder, and open one to serve.
 *
 * A data folder holds arcad.json (regions, the public URL and, optionally,
 * "catalog": the address of a PostgreSQL catalog), catalog.db (the SQLite
 * catalog, unless arcad.json names another),
 * tls/ (the service CA and its key, mode 0600), keys/catalog.key (the
 * catalog key that seals the vaults' CA keys in the catalog, mode 0600:
 * seal.h; arcad.json's "catalog_key" may put it elsewhere) and
 * store/<region>/, unless a region's "store" names a bucket on an S3
 * endpoint instead of a folder (docs/SCALE.md, "The S3 store"), and
 * arcad.lock, the folder's lock between serve and migrate (service_lock).
 */
#ifndef ARCA_SERVICE_H
#define ARCA_SERVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "err.h"

#define SERVICE_REGIONS_MAX 16
#define SERVICE_PASSWORD_LEN 24

struct store;
struct portal;
struct pki_key_cache;
struct seal_key;
struct buf;

/* A region's store on the S3 API (arcad.json's "store": {"s3": {...}}). */
struct region_s3 {
	char endpoint[320];
	char bucket[64];
	char region[65];      /* the signing region */
	char access_key[129];
	char prefix[201];
	char *secret;         /* the secret key: wiped and freed by service_close */
	uint64_t part_size, multipart_above; /* 0: store_s3.h's defaults */
};

struct region {
	char name[65];
	char store_path[PATH_MAX]; /* folder of the local store ("" with S3) */
	int on_s3;                 /* 1: the store is S3's, set in S3 */
	struct region_s3 s3;
	char pair[65];             /* GRS copies go to this region ("" = none) */
	struct store *store;       /* open while the service is */
};

struct service {
	char data[PATH_MAX];
	char catalog[1024];   /* the catalog's address: a path, or postgresql://... */
	struct catalog *cat;
	struct region regions[SERVICE_REGIONS_MAX];
	size_t n_regions;
	X509 *ca_cert;    /* the service CA: signs the TLS certificate */
	EVP_PKEY *ca_key;
	char *ca_pem;     /* the trust anchor carried by vault credentials */
	char url[512];    /* the URL agents use; set by service_set_url */
	struct portal *portal; /* the web portal: CSRF key, sign-in limits */
	struct staging *staging; /* uploads in flight per machine (staging.h) */
	char tmp[PATH_MAX];    /* spooled request bodies and uploads in progress */
	struct uploads *uploads; /* resumable uploads in progress, in TMP (upload.h) */
	struct pki_key_cache *keys; /* machines' parsed public keys (pki.h) */
	struct ratelimit *registrations; /* failed registrations per client address */
	char catalog_key[PATH_MAX]; /* the catalog key file (seal.h) */
	struct seal_key *seal;      /* its key: seals the vaults' CA keys */
	size_t keys_sealed;         /* plain CA keys service_open sealed */
	int key_created;            /* service_open made the key file (see there) */
};

/* Failed registrations (POST /register) allowed from one client address in
 * a row, and one more every this many seconds. Why: a registration proves
 * nothing guessable, but each attempt costs the service certificate and
 * signature checks, and a flood of them hides a stolen file's use. */
#define SERVICE_REGISTER_BURST 20
#define SERVICE_REGISTER_REFILL 30

/* What `arcad init` is told. */
struct service_init_opts {
	const char *data;     /* folder to create or fill (must hold no catalog yet) */
	const char *user;     /* owner's user name */
	const char *password; /* NULL: generate one, returned in GENERATED */
	const char *subscription;
	const char *catalog;  /* a postgresql:// address; NULL: catalog.db in DATA */
};

/* Create a data folder: configuration with two paired regions, catalog, the
 * service CA, the first subscription and its owner. With no password given,
 * writes a new one (SERVICE_PASSWORD_LEN characters) to GENERATED. With a
 * catalog address (postgresql://...), the catalog is that database, and
 * arcad.json names it. 0, or -1 with E set (ERR_EXISTS when DATA already
 * holds a catalog, or the database holds a subscription already;
 * ERR_INVALID for an address that is not postgresql://). */
int service_init(const struct service_init_opts *o, char generated[SERVICE_PASSWORD_LEN + 1],
		 struct err *e);

/* Open the data folder DATA into S. 0, or -1 with E set.
 *
 * Secrets at rest: it loads the catalog key (refusing a key file that
 * others may read or write, or of another owner), checks that it opens
 * every sealed CA key in the catalog (a wrong key file is refused at
 * start, not at the first use), and seals, in one transaction, the CA keys
 * an older arcad stored as plain PEM (counted in S->keys_sealed). A missing
 * key file is refused when the catalog holds any sealed key; when it holds
 * none (a data folder of an older arcad), the key file is made and
 * S->key_created set, for the caller to tell the person to keep a copy. */
int service_open(struct service *s, const char *data, struct err *e);

/* service_open, with the catalog at CATALOG (a postgresql:// address, or
 * the path of an SQLite file) instead of the one arcad.json names; CATALOG
 * NULL: that one. */
int service_open_catalog(struct service *s, const char *data, const char *catalog,
			 struct err *e);

/* Whether WHERE is the address of a catalog on a database server
 * (postgresql:// or postgres://) rather than the path of an SQLite file. */
int service_catalog_is_server(const char *where);

/* Release what S holds. */
void service_close(struct service *s);

/* The CA of vault VAULT_ID: its certificate and its private key, opened
 * from the sealed form in the catalog with the catalog key. The caller
 * frees both (X509_free, EVP_PKEY_free). -1 with E set (ERR_NOT_FOUND for
 * no such vault, ERR_CORRUPT when the key does not open). */
int service_vault_ca(struct service *s, const char *vault_id, X509 **cert, EVP_PKEY **key,
		     struct err *e);

/* The sealed form of the vault CA key KEY_PEM for vault VAULT_ID, as the
 * catalog stores it, appended to OUT (NUL-terminated). 0 or -1. */
int service_seal_ca_key(struct service *s, const char *vault_id, const char *key_pem,
			struct buf *out, struct err *e);

/* A fresh TLS certificate and key (PEM, caller frees both) for the names
 * HOSTS (NULL-terminated; localhost, 127.0.0.1 and ::1 are always in),
 * signed by the service CA and valid 90 days. 0 or -1. */
int service_tls_cert(struct service *s, const char *const *hosts, int64_t now, char **cert_pem,
		     char **key_pem, struct err *e);

/* The TLS certificate and key (PEM, caller frees) to serve HOST with: the
 * one in tls/server.pem when it names HOST and has over 30 days left, else a
 * fresh one from service_tls_cert, saved there (key mode 0600). 0 or -1. */
int service_tls_for(struct service *s, const char *host, int64_t now, char **cert_pem,
		    char **key_pem, struct err *e);

/* Set the URL agents reach the service at: the configured one, else
 * SCHEME://HOST:PORT. */
void service_set_url(struct service *s, const char *scheme, const char *host, unsigned port);

/* The region called NAME, or NULL. */
const struct region *service_region(const struct service *s, const char *name);
/* The region GRS copies of REGION go to, or NULL (catalog_pair_fn; S is the
 * struct service). */
const char *service_pair_of(void *s, const char *region);

/*
 * For arcad migrate (migrate.h), and serve's guard against it.
 *
 * The lock of data folder DATA: the file arcad.lock in it, held with
 * flock while the process lives. arcad serve holds it shared (several
 * services may share a folder), arcad migrate exclusive, so that neither
 * starts while the other runs. 0 with *FD the lock's descriptor (released
 * by service_unlock); -1 with ERR_LOCKED saying who holds it,
 * ERR_NOT_FOUND when there is no folder DATA, or another error.
 */
int service_lock(const char *data, bool exclusive, int *fd, struct err *e);
void service_unlock(int fd);

/* Open only DATA's configuration, catalog and stores into S (no keys, no
 * TLS, nothing written to the folder), for service_close. CREATE: an SQLite
 * catalog not there yet is made; else one missing is ERR_NOT_FOUND. 0, or
 * -1 with E set. */
int service_open_stores(struct service *s, const char *data, bool create, struct err *e);

/* Write DATA/arcad.json for the embedded defaults with FROM's regions (the
 * same names and pairs), each a folder store/<name> of DATA (made). 0 or
 * -1. */
int service_write_folders_config(const struct service *from, const char *data, struct err *e);

/* The secrets a data folder's catalog needs, copied from FROM's folder to
 * TO's: the catalog key (at each one's configured place: the sealed vault
 * CA keys open with it alone) and the service CA (tls/ca.pem, tls/ca.key:
 * the agents' trust anchor). A file TO has already must be the same
 * (ERR_EXISTS otherwise); one FROM lacks is ERR_NOT_FOUND. 0 or -1. */
int service_copy_secrets(const struct service *from, const struct service *to, struct err *e);

/* The service's clock, in Unix seconds. Retention, expiry and commit times
 * all come from here. In a test build (-Dtest_clock=true) the environment
 * variable ARCA_TEST_CLOCK_OFFSET moves it by that many seconds; other
 * builds ignore the variable. */
int64_t service_now(void);

/* Whether this build takes an injected clock. */
int service_test_clock(void);

/* How long a backup's lease lasts from its start or latest renewal, in
 * seconds: SERVICE_LEASE_SECONDS. A test build (-Dtest_clock=true) takes
 * another length from ARCA_TEST_LEASE_SECONDS (1 or more), so that tests see
 * leases renewed and expire in seconds; other builds ignore the variable. */
#define SERVICE_LEASE_SECONDS (6 * 3600)
int64_t service_lease_seconds(void);

/* The hex SHA-256 of a bearer token, as the catalog stores it. */
void service_token_hash(const char *token, char out[65]);

#endif
