/* pki.c: certificate authorities with OpenSSL; see pki.h. */
#include "pki.h"

#include "bytes.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int ossl_fail(struct err *e, const char *what)
{
	unsigned long code = ERR_get_error();
	char buf[256] = "";

	if (code)
		ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(e, ERR_CRYPTO, "%s failed%s%s", what, code ? ": " : "", buf);
}

EVP_PKEY *pki_key_new(struct err *e)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (k == NULL)
		ossl_fail(e, "EC P-256 key generation");
	return k;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate skeleton: version 3, random serial, subject CN, validity. */
static X509 *skeleton(EVP_PKEY *pub, const char *cn, int64_t nb, int64_t na)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	rnd[0] &= 0x7f; /* positive */
	rnd[0] |= 0x01; /* and non-zero */
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	if (!X509_set_version(x, 2) || !X509_set_pubkey(x, pub) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na))
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		goto out;
	ok = 1;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

X509 *pki_ca_new(EVP_PKEY *key, const char *cn, int64_t now, int64_t seconds, struct err *e)
{
	X509 *x = skeleton(key, cn, now - 300, now + seconds);

	if (x == NULL || !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(x, x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		ossl_fail(e, "creating a CA certificate");
		return NULL;
	}
	return x;
}

/* "DNS:a,DNS:b,IP:1.2.3.4" from the lists, or "" when both are empty. */
static int san_text(const struct pki_leaf *l, struct buf *b, struct err *e)
{
	for (int ip = 0; ip < 2; ip++) {
		const char *const *v = ip ? l->ips : l->dns;

		for (; v && *v; v++) {
			if ((b->len && buf_append_u8(b, ',', e)) ||
			    buf_append(b, ip ? "IP:" : "DNS:", ip ? 3 : 4, e) ||
			    buf_append(b, *v, strlen(*v), e))
				return -1;
		}
	}
	return buf_append_u8(b, 0, e);
}

X509 *pki_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const struct pki_leaf *l,
		struct err *e)
{
	struct buf san = BUF_INIT;
	X509 *x = NULL;

	if (san_text(l, &san, e) != 0)
		return NULL;
	x = skeleton(pub, l->cn, l->not_before, l->not_after);
	if (x == NULL || !X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) ||
	    !add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca_cert, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, ca_cert, NID_ext_key_usage, l->server ? "serverAuth" : "clientAuth") ||
	    !add_ext(x, ca_cert, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always") ||
	    (san.len > 1 && !add_ext(x, ca_cert, NID_subject_alt_name, (const char *)san.data)) ||
	    !X509_sign(x, ca_key, EVP_sha256())) {
		X509_free(x);
		x = NULL;
		ossl_fail(e, "issuing a certificate");
	}
	buf_free(&san);
	return x;
}

static int bio_out(BIO *b, struct buf *out, struct err *e)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0)
		return ossl_fail(e, "writing PEM");
	if (buf_append(out, p, (size_t)n, e) != 0 || buf_append_u8(out, 0, e) != 0)
		return -1;
	out->len--; /* the NUL is there but not counted */
	return 0;
}

int pki_cert_pem(X509 *x, struct buf *out, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1;

	if (b && PEM_write_bio_X509(b, x))
		rc = bio_out(b, out, e);
	else
		ossl_fail(e, "writing a certificate");
	BIO_free(b);
	return rc;
}

int pki_key_pem(EVP_PKEY *k, struct buf *out, struct err *e)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int rc = -1;

	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		rc = bio_out(b, out, e);
	else
		ossl_fail(e, "writing a private key");
	BIO_free(b);
	return rc;
}

X509 *pki_cert_parse(const char *pem, struct err *e)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	if (x == NULL)
		err_set(e, ERR_INVALID, "not a PEM certificate");
	return x;
}

EVP_PKEY *pki_key_parse(const char *pem, struct err *e)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	if (k == NULL)
		err_set(e, ERR_INVALID, "not a PEM private key");
	return k;
}

void pki_serial_hex(X509 *x, char *out, size_t outlen)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(out, outlen, "%s", hex ? hex : "");
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	OPENSSL_free(hex);
	BN_free(bn);
}

void pki_fingerprint(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int n = sizeof(md);
	static const char hex[] = "0123456789abcdef";

	if (!X509_digest(x, EVP_sha256(), md, &n))
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = 0;
}

int pki_verify(X509 *cert, X509 *ca, int64_t now, struct err *e)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	time_t t = (time_t)now;

	if (X509_check_issued(ca, cert) != X509_V_OK || pub == NULL || X509_verify(cert, pub) != 1) {
		ERR_clear_error();
		return err_set(e, ERR_CREDENTIALS, "certificate was not issued by this vault");
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &t) <= 0)
		return err_set(e, ERR_EXPIRED, "certificate has expired");
	if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
		return err_set(e, ERR_CREDENTIALS, "certificate is not valid yet");
	return 0;
}

EVP_PKEY *pki_pubkey_parse(const char *pem, struct err *e)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	if (k == NULL)
		err_set(e, ERR_INVALID, "not a PEM public key");
	return k;
}

int pki_check_signature(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			size_t siglen, struct err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ed = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519, ok = 0;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, ed ? NULL : EVP_sha256(), NULL, key) == 1)
		ok = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : err_set(e, ERR_DENIED, "signature does not verify");
}

/* Slots of the key cache: several times the machines a service usually
 * serves at once; an entry is a few hundred bytes and a key. */
#define KEY_CACHE_SLOTS 256

struct key_entry {
	char *id, *pem; /* NULL: empty */
	EVP_PKEY *key;
};

struct pki_key_cache {
	pthread_mutex_t mu;
	struct key_entry e[KEY_CACHE_SLOTS];
};

struct pki_key_cache *pki_key_cache_new(struct err *e)
{
	struct pki_key_cache *kc = calloc(1, sizeof(*kc));

	if (kc == NULL) {
		err_oom(e);
		return NULL;
	}
	pthread_mutex_init(&kc->mu, NULL);
	return kc;
}

static void entry_clear(struct key_entry *k)
{
	free(k->id);
	free(k->pem);
	EVP_PKEY_free(k->key);
	memset(k, 0, sizeof(*k));
}

void pki_key_cache_free(struct pki_key_cache *kc)
{
	if (kc == NULL)
		return;
	for (int i = 0; i < KEY_CACHE_SLOTS; i++)
		entry_clear(&kc->e[i]);
	pthread_mutex_destroy(&kc->mu);
	free(kc);
}

static struct key_entry *slot_of(struct pki_key_cache *kc, const char *id)
{
	return &kc->e[str_hash(id) % KEY_CACHE_SLOTS];
}

/*
 * Why sharing one EVP_PKEY between threads is safe: OpenSSL 3 lets threads
 * use a key concurrently as long as none changes it, and verifying does
 * not; the reference count is atomic. The parse happens outside the lock,
 * so a slow parse holds up no other machine's request.
 */
EVP_PKEY *pki_key_cache_get(struct pki_key_cache *kc, const char *id, const char *pem,
			    struct err *e)
{
	struct key_entry *k = slot_of(kc, id), fresh = { 0 };
	EVP_PKEY *key = NULL;

	pthread_mutex_lock(&kc->mu);
	if (k->key && strcmp(k->id, id) == 0 && strcmp(k->pem, pem) == 0 &&
	    EVP_PKEY_up_ref(k->key) == 1)
		key = k->key;
	pthread_mutex_unlock(&kc->mu);
	if (key)
		return key;
	if ((key = pki_pubkey_parse(pem, e)) == NULL)
		return NULL;
	/* Why a failure to keep it is no error: the key is parsed; the next
	 * request parses it again. */
	if ((fresh.id = strdup(id)) == NULL || (fresh.pem = strdup(pem)) == NULL ||
	    EVP_PKEY_up_ref(key) != 1) {
		free(fresh.id);
		free(fresh.pem);
		return key;
	}
	fresh.key = key;
	pthread_mutex_lock(&kc->mu);
	entry_clear(k);
	*k = fresh;
	pthread_mutex_unlock(&kc->mu);
	return key;
}
