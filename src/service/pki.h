/*
 * pki.h: the service's certificate authorities. The service has one CA
 * that signs its TLS certificate (its certificate is the trust anchor that
 * vault credentials carry), and each vault has its own CA that signs the
 * short-lived vault-credential certificates and, later, machine
 * certificates. Keys are EC P-256; certificates are X.509 v3, readable by
 * `openssl x509`. The service keeps CA keys; it never keeps the private key
 * of a credential certificate it issues.
 */
#ifndef ARCA_PKI_H
#define ARCA_PKI_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"

/* A new EC P-256 key. NULL with E set. */
EVP_PKEY *pki_key_new(struct err *e);

/* A self-signed CA certificate for KEY named CN, valid from NOW for
 * SECONDS. NULL with E set. */
X509 *pki_ca_new(EVP_PKEY *key, const char *cn, int64_t now, int64_t seconds, struct err *e);

/* What a certificate issued by a CA says. */
struct pki_leaf {
	const char *cn;          /* subject common name */
	int64_t not_before;      /* Unix seconds */
	int64_t not_after;
	const char *const *dns;  /* subjectAltName DNS names, NULL-terminated, or NULL */
	const char *const *ips;  /* subjectAltName IP addresses, NULL-terminated, or NULL */
	int server;              /* 1: TLS server usage; 0: client usage */
};

/* Issue a certificate for PUB described by L, signed by CA_CERT and CA_KEY,
 * with a random 128-bit serial. NULL with E set. */
X509 *pki_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const struct pki_leaf *l,
		struct err *e);

/* PEM text of a certificate, a private key (PKCS#8, unencrypted) or a
 * public key, appended to OUT with a NUL after it (not counted in len).
 * 0 or -1. */
int pki_cert_pem(X509 *x, struct buf *out, struct err *e);
int pki_key_pem(EVP_PKEY *k, struct buf *out, struct err *e);

/* Parse PEM text. NULL with E set (ERR_INVALID) on anything else. */
X509 *pki_cert_parse(const char *pem, struct err *e);
EVP_PKEY *pki_key_parse(const char *pem, struct err *e);

/* The certificate's serial number as lowercase hex into OUT (at least 41
 * bytes). */
void pki_serial_hex(X509 *x, char *out, size_t outlen);

/* SHA-256 of the certificate's DER as 64 hex digits and a NUL. */
void pki_fingerprint(X509 *x, char out[65]);

/* Parse a PEM public key (SubjectPublicKeyInfo). NULL with ERR_INVALID. */
EVP_PKEY *pki_pubkey_parse(const char *pem, struct err *e);

/*
 * Parsed public keys kept by their owner's id (a machine's), so that a
 * signed request does not parse its machine's PEM again: OpenSSL 3's
 * decoders made that the most of the service's work per request. Each
 * entry keeps the PEM text it was parsed from and answers only for the
 * same text, so a machine registered again with a new key is checked with
 * the new key at once. A fixed number of entries (a newer one replaces an
 * older of the same slot); thread-safe.
 */
struct pki_key_cache;

/* NULL with E set (ERR_NOMEM). */
struct pki_key_cache *pki_key_cache_new(struct err *e);
void pki_key_cache_free(struct pki_key_cache *kc);

/* The public key of PEM (as pki_pubkey_parse) for owner ID: the cached one
 * when ID's entry was parsed from the same text, else parsed now and kept.
 * A reference of the caller's (EVP_PKEY_free), or NULL with ERR_INVALID
 * (nothing kept) or ERR_NOMEM. */
EVP_PKEY *pki_key_cache_get(struct pki_key_cache *kc, const char *id, const char *pem,
			    struct err *e);

/* Whether SIG (DER ECDSA, or raw Ed25519) is KEY's signature of MSG with
 * SHA-256 (ECDSA) or pure Ed25519. 0, or -1 with ERR_DENIED. */
int pki_check_signature(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			size_t siglen, struct err *e);

/* Whether CERT was signed by CA (signature and issuer name), and is within
 * its validity at NOW. 0, or -1 with ERR_CREDENTIALS saying which. */
int pki_verify(X509 *cert, X509 *ca, int64_t now, struct err *e);

#endif
