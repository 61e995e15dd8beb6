/*
 * test_vaultcred.c: the vault-credentials file: write and parse round trip,
 * file names, validity period, every rejection the parser promises, loading
 * from disk, silence on stderr, and single-byte flips of a valid file.
 *
 * The PKI is made here with OpenSSL, as the service makes it: a vault CA
 * (EC P-256, self-signed), a credential certificate it signs, the
 * credential key, and a stray key that matches nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vaultcred.h"

/* 2026-11-24T10:00:00Z and 48 hours later. */
#define T_ISSUED 1795514400LL
#define T_EXPIRES (T_ISSUED + 48 * 3600)

static char *ca_pem, *cert_pem, *key_pem, *other_key_pem, *other_cert_pem;
static char *foreign_cert_pem; /* the credential key, issued by another CA */
static char *forged_cert_pem;  /* the credential key, "issued" by our CA's name, wrong key */
static char tmpdir[64];

/* ---- PKI ---------------------------------------------------------------- */

static char *bio_string(BIO *bio)
{
	char *p, *s;
	long n = BIO_get_mem_data(bio, &p);

	s = malloc((size_t)n + 1);
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	return s;
}

static char *key_to_pem(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());

	PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	return bio_string(bio);
}

static char *cert_to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());

	PEM_write_bio_X509(bio, x);
	return bio_string(bio);
}

/* A certificate for KEY named CN, signed by SIGNER (itself when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3 * 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	EVP_PKEY *by = signer ? signer : key;

	/* Ed25519 signs without a separate digest. */
	assert_true(X509_sign(x, by, EVP_PKEY_id(by) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) >
		    0);
	X509_NAME_free(name);
	return x;
}

static int setup(void **state)
{
	(void)state;
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	EVP_PKEY *other = EVP_EC_gen("P-256"), *fca_key = EVP_EC_gen("P-256");
	X509 *ca, *cert, *ocert, *fca, *fcert, *impostor, *forged;

	if (ca_key == NULL || key == NULL || other == NULL || fca_key == NULL)
		return -1;
	ca = make_cert(ca_key, "arca vault CA", NULL, NULL);
	cert = make_cert(key, "vault credential", ca, ca_key);
	ocert = make_cert(other, "other", ca, ca_key);
	fca = make_cert(fca_key, "another vault CA", NULL, NULL);
	fcert = make_cert(key, "vault credential", fca, fca_key);
	impostor = make_cert(fca_key, "arca vault CA", NULL, NULL);
	forged = make_cert(key, "vault credential", impostor, fca_key);
	foreign_cert_pem = cert_to_pem(fcert);
	forged_cert_pem = cert_to_pem(forged);
	X509_free(fca), X509_free(fcert), X509_free(impostor), X509_free(forged);
	EVP_PKEY_free(fca_key);
	ca_pem = cert_to_pem(ca);
	cert_pem = cert_to_pem(cert);
	other_cert_pem = cert_to_pem(ocert);
	key_pem = key_to_pem(key);
	other_key_pem = key_to_pem(other);
	X509_free(ca), X509_free(cert), X509_free(ocert);
	EVP_PKEY_free(ca_key), EVP_PKEY_free(key), EVP_PKEY_free(other);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vaultcred.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(ca_pem), free(cert_pem), free(key_pem), free(other_key_pem), free(other_cert_pem);
	free(foreign_cert_pem), free(forged_cert_pem);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------ */

static struct vaultcred sample(void)
{
	struct vaultcred vc = {
		.version = VAULTCRED_VERSION,
		.service_url = "https://vault.example.net:8443/",
		.subscription = "sub-0001",
		.vault_id = "0b6f3c1e-1111-4a4a-8b8b-123456789abc",
		.vault_name = "backup-vault",
		.region = "local-1",
		.issued = T_ISSUED,
		.expires = T_EXPIRES,
		.cert_pem = cert_pem,
		.key_pem = key_pem,
		.trust_anchor_pem = ca_pem,
	};
	return vc;
}

/* The sample written to a NUL-terminated string (caller frees). */
static char *sample_text(void)
{
	struct vaultcred vc = sample();
	struct buf b = BUF_INIT;
	struct err e;
	char *s;

	assert_int_equal(vaultcred_write(&vc, &b, &e), 0);
	s = malloc(b.len + 1);
	memcpy(s, b.data, b.len);
	s[b.len] = '\0';
	buf_wipe(&b);
	return s;
}

/* S with the first occurrence of FROM replaced by TO (caller frees). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n;
	char *r;

	assert_non_null(at);
	n = strlen(s) - strlen(from) + strlen(to);
	r = malloc(n + 1);
	memcpy(r, s, (size_t)(at - s));
	strcpy(r + (at - s), to);
	strcat(r, at + strlen(from));
	return r;
}

/* Parse TEXT, expect failure with CODE and every NEEDLE in the message. */
static void expect_reject(const char *text, enum err_code code, const char *needle,
			  const char *needle2)
{
	struct err e;
	struct vaultcred *vc;

	err_clear(&e);
	vc = vaultcred_parse((const uint8_t *)text, strlen(text), &e);
	if (vc != NULL)
		fail_msg("accepted:\n%s", text);
	assert_int_equal(e.code, code);
	if (needle && strstr(e.msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", e.msg, needle);
	if (needle2 && strstr(e.msg, needle2) == NULL)
		fail_msg("message '%s' lacks '%s'", e.msg, needle2);
}

/* Replace FROM by TO in the sample and expect rejection. */
static void reject_edit(const char *from, const char *to, enum err_code code,
			const char *needle, const char *needle2)
{
	char *good = sample_text(), *bad = replace(good, from, to);

	expect_reject(bad, code, needle, needle2);
	free(bad);
	free(good);
}

static struct vaultcred *parse_str(const char *s, struct err *e)
{
	return vaultcred_parse((const uint8_t *)s, strlen(s), e);
}

/* ---- round trip ---------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	(void)state;
	struct vaultcred in = sample(), *out;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	struct err e;

	assert_int_equal(vaultcred_write(&in, &b, &e), 0);
	assert_true(b.len > 1000 && b.len < VAULTCRED_MAX_BYTES);
	out = vaultcred_parse(b.data, b.len, &e);
	if (out == NULL)
		fail_msg("%s", e.msg);
	assert_int_equal(out->version, VAULTCRED_VERSION);
	assert_string_equal(out->service_url, in.service_url);
	assert_string_equal(out->subscription, in.subscription);
	assert_string_equal(out->vault_id, in.vault_id);
	assert_string_equal(out->vault_name, in.vault_name);
	assert_string_equal(out->region, in.region);
	assert_int_equal(out->issued, T_ISSUED);
	assert_int_equal(out->expires, T_EXPIRES);
	assert_string_equal(out->cert_pem, cert_pem);
	assert_string_equal(out->key_pem, key_pem);
	assert_string_equal(out->trust_anchor_pem, ca_pem);
	assert_non_null(strstr((char *)b.data, "<IssuedAt>2026-11-24T10:00:00Z</IssuedAt>"));
	assert_non_null(strstr((char *)b.data, "<ExpiresAt>2026-11-26T10:00:00Z</ExpiresAt>"));
	/* Writing what was read gives the same bytes. */
	assert_int_equal(vaultcred_write(out, &b2, &e), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	vaultcred_free(out);
	vaultcred_free(NULL);
	buf_wipe(&b);
	buf_wipe(&b2);
}

/* Text that needs escaping survives; write appends to what OUT holds. */
static void test_roundtrip_escaping_and_append(void **state)
{
	(void)state;
	struct vaultcred in = sample(), *out;
	struct buf b = BUF_INIT;
	struct err e;

	in.subscription = "a&b<c>\"d'";
	in.service_url = "http://h/?x=1&y=<2>";
	assert_int_equal(buf_append(&b, "xyz", 3, &e), 0);
	assert_int_equal(vaultcred_write(&in, &b, &e), 0);
	assert_memory_equal(b.data, "xyz<?xml", 8);
	assert_non_null(strstr((char *)b.data + 3, "a&amp;b&lt;c&gt;&quot;d'"));
	out = vaultcred_parse(b.data + 3, b.len - 3, &e);
	if (out == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(out->subscription, in.subscription);
	assert_string_equal(out->service_url, in.service_url);
	vaultcred_free(out);
	buf_wipe(&b);
}

/* Ed25519 keys work as well as P-256 ones, signature check included; an
 * Ed25519 key with a P-256 certificate does not match. */
static void test_roundtrip_ed25519(void **state)
{
	(void)state;
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *ca, *cert, *forged;
	struct vaultcred in = sample(), *out;
	struct buf b = BUF_INIT;
	struct err e;
	char *ca_p, *cert_p, *key_p, *forged_p, *text, *bad;

	assert_non_null(ca_key), assert_non_null(key), assert_non_null(other);
	ca = make_cert(ca_key, "arca vault CA", NULL, NULL);
	cert = make_cert(key, "vault credential", ca, ca_key);
	forged = make_cert(key, "vault credential", ca, other);
	ca_p = cert_to_pem(ca), cert_p = cert_to_pem(cert), key_p = key_to_pem(key);
	forged_p = cert_to_pem(forged);
	in.cert_pem = cert_p, in.key_pem = key_p, in.trust_anchor_pem = ca_p;
	assert_int_equal(vaultcred_write(&in, &b, &e), 0);
	out = vaultcred_parse(b.data, b.len, &e);
	if (out == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(out->cert_pem, cert_p);
	assert_string_equal(out->key_pem, key_p);
	assert_string_equal(out->trust_anchor_pem, ca_p);
	vaultcred_free(out);
	text = malloc(b.len + 1);
	memcpy(text, b.data, b.len), text[b.len] = '\0';
	/* Named as issued by the anchor, signed by another key. */
	bad = replace(text, cert_p, forged_p);
	expect_reject(bad, ERR_CREDENTIALS, "<Certificate>", "signature does not verify");
	free(bad);
	/* The P-256 key of the sample with this Ed25519 certificate. */
	bad = replace(text, key_p, key_pem);
	expect_reject(bad, ERR_CREDENTIALS, "<PrivateKey>", "does not match");
	free(bad), free(text);
	buf_wipe(&b);
	free(ca_p), free(cert_p), free(key_p), free(forged_p);
	X509_free(ca), X509_free(cert), X509_free(forged);
	EVP_PKEY_free(ca_key), EVP_PKEY_free(key), EVP_PKEY_free(other);
}

/* A carriage return can only reach a parsed value through "&#13;" (XML
 * turns raw CRs into LFs); the writer must give it back the same way, and
 * PEMs with CRLF line ends must survive write and parse unchanged. */
static void test_roundtrip_carriage_returns(void **state)
{
	(void)state;
	char *good = sample_text(), *crlf, *text;
	struct vaultcred in = sample(), *out, *again;
	struct buf b = BUF_INIT;
	struct err e;
	size_t n = 0;

	text = replace(good, "-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----&#13;\n");
	out = parse_str(text, &e);
	if (out == NULL)
		fail_msg("%s", e.msg);
	assert_non_null(strstr(out->cert_pem, "-----\r\n"));
	assert_int_equal(vaultcred_write(out, &b, &e), 0);
	assert_non_null(strstr((char *)b.data, "&#13;"));
	again = vaultcred_parse(b.data, b.len, &e);
	if (again == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(again->cert_pem, out->cert_pem);
	vaultcred_free(again), vaultcred_free(out), free(text);
	buf_wipe(&b);

	/* Every line of the key ends in CRLF. */
	crlf = malloc(strlen(key_pem) * 2 + 1);
	for (const char *p = key_pem; *p != '\0'; p++) {
		if (*p == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *p;
	}
	crlf[n] = '\0';
	in.key_pem = crlf;
	assert_int_equal(vaultcred_write(&in, &b, &e), 0);
	out = vaultcred_parse(b.data, b.len, &e);
	if (out == NULL)
		fail_msg("%s", e.msg);
	/* The final CRLF is trimmed to one LF, as for every PEM; the rest stays. */
	crlf[n - 2] = '\n', crlf[n - 1] = '\0';
	assert_string_equal(out->key_pem, crlf);
	vaultcred_free(out);
	buf_wipe(&b);
	free(crlf);
	free(good);
}

/* A file laid out the way the service and people write it: PEMs inline,
 * comments, CRLF line ends, a CDATA section, different indentation. */
static void test_parse_handwritten(void **state)
{
	(void)state;
	char text[16384];
	struct err e;
	struct vaultcred *vc;

	snprintf(text, sizeof(text),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		 "<!-- issued by arcad -->\r\n"
		 "<VaultCredentials version=\"1\">\r\n"
		 "<ServiceUrl>https://127.0.0.1:8443</ServiceUrl><Subscription>sub-1</Subscription>\n"
		 "\t<VaultId> v1 </VaultId><!-- id -->\n"
		 "<VaultName>ab</VaultName><Region><![CDATA[local-1]]></Region>\n"
		 "<ExpiresAt>2026-11-26T10:00:00Z</ExpiresAt><IssuedAt>2026-11-24T10:00:00Z</IssuedAt>\n"
		 "<Certificate>%s</Certificate>\n<PrivateKey>%s</PrivateKey>\n"
		 "<TrustAnchor>\n\n  %s  </TrustAnchor>\n"
		 "</VaultCredentials>\n<!-- end -->\n",
		 cert_pem, key_pem, ca_pem);
	vc = parse_str(text, &e);
	if (vc == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(vc->vault_id, "v1");
	assert_string_equal(vc->vault_name, "ab");
	assert_string_equal(vc->region, "local-1");
	assert_string_equal(vc->trust_anchor_pem, ca_pem);
	assert_string_equal(vc->key_pem, key_pem);
	assert_int_equal(vc->issued, T_ISSUED);
	vaultcred_free(vc);
}

static void test_write_rejects(void **state)
{
	(void)state;
	struct vaultcred vc;
	struct buf b = BUF_INIT;
	struct err e;

	assert_int_equal(buf_append(&b, "keep", 4, &e), 0);
	vc = sample(), vc.version = 2;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_int_equal(e.code, ERR_CREDENTIALS);
	vc = sample(), vc.region = NULL;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<Region> is missing"));
	vc = sample(), vc.vault_name = "9lives";
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<VaultName>"));
	vc = sample(), vc.key_pem = other_key_pem;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "does not match"));
	vc = sample(), vc.expires = vc.issued;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<ExpiresAt>"));
	vc = sample(), vc.issued = -1;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<IssuedAt>"));
	vc = sample(), vc.expires = 253402300800LL;
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<ExpiresAt>"));
	vc = sample(), vc.subscription = "has space";
	assert_int_equal(vaultcred_write(&vc, &b, &e), -1);
	assert_non_null(strstr(e.msg, "<Subscription>"));
	/* Nothing was appended by the failures. */
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	buf_free(&b);
}

/* ---- names and times ------------------------------------------------------ */

static void test_filename(void **state)
{
	(void)state;
	char out[VAULTCRED_FILENAME_MAX], small[20];
	char longname[51];
	struct err e;

	assert_int_equal(vaultcred_filename("backup-vault", T_ISSUED, out, sizeof(out), &e), 0);
	assert_string_equal(out, "backup-vault_2026-11-24.VaultCredentials");
	/* The date is UTC and changes exactly at midnight. */
	assert_int_equal(vaultcred_filename("v1", 1795564799, out, sizeof(out), &e), 0);
	assert_string_equal(out, "v1_2026-11-24.VaultCredentials");
	assert_int_equal(vaultcred_filename("v1", 1795564800, out, sizeof(out), &e), 0);
	assert_string_equal(out, "v1_2026-11-25.VaultCredentials");
	assert_int_equal(vaultcred_filename("Leap", 951782400, out, sizeof(out), &e), 0);
	assert_string_equal(out, "Leap_2000-02-29.VaultCredentials");
	assert_int_equal(vaultcred_filename("Z", 0, out, sizeof(out), &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	/* The longest name fits VAULTCRED_FILENAME_MAX exactly. */
	memset(longname, 'a', 50);
	longname[50] = '\0';
	assert_int_equal(vaultcred_filename(longname, 253402300799LL, out, sizeof(out), &e), 0);
	assert_int_equal(strlen(out) + 1, VAULTCRED_FILENAME_MAX);
	assert_int_equal(vaultcred_filename(longname, 0, out, sizeof(out) - 1, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_string_equal(out, "");
	assert_int_equal(vaultcred_filename("backup-vault", T_ISSUED, small, sizeof(small), &e), -1);
	assert_int_equal(vaultcred_filename("1abc", T_ISSUED, out, sizeof(out), &e), -1);
	assert_int_equal(vaultcred_filename("a_b", T_ISSUED, out, sizeof(out), &e), -1);
	assert_int_equal(vaultcred_filename("ab/../x", T_ISSUED, out, sizeof(out), &e), -1);
	assert_int_equal(vaultcred_filename(NULL, T_ISSUED, out, sizeof(out), &e), -1);
	assert_int_equal(vaultcred_filename("ab", -1, out, sizeof(out), &e), -1);
	assert_int_equal(vaultcred_filename("ab", 253402300800LL, out, sizeof(out), &e), -1);
}

static void test_check_time(void **state)
{
	(void)state;
	struct vaultcred vc = sample();
	struct err e;

	assert_int_equal(vaultcred_check_time(&vc, T_ISSUED, &e), 0);
	assert_int_equal(vaultcred_check_time(&vc, T_EXPIRES - 1, &e), 0);
	assert_int_equal(vaultcred_check_time(&vc, T_EXPIRES, &e), -1);
	assert_int_equal(e.code, ERR_EXPIRED);
	assert_string_equal(e.msg, "Vault credentials file provided has expired");
	assert_int_equal(vaultcred_check_time(&vc, T_EXPIRES + 86400, &e), -1);
	assert_string_equal(e.msg, "Vault credentials file provided has expired");
	/* Five minutes of clock skew are forgiven, not more. */
	assert_int_equal(vaultcred_check_time(&vc, T_ISSUED - 300, &e), 0);
	err_clear(&e);
	assert_int_equal(vaultcred_check_time(&vc, T_ISSUED - 301, &e), -1);
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_non_null(strstr(e.msg, "clock"));
}

/* ---- rejections ----------------------------------------------------------- */

static void test_reject_size_and_garbage(void **state)
{
	(void)state;
	char *good = sample_text(), *big;
	size_t n = strlen(good), pad = VAULTCRED_MAX_BYTES + 1 - n;
	struct err e;

	/* One byte over the bound, with the excess in a harmless comment. */
	big = malloc(VAULTCRED_MAX_BYTES + 2);
	memcpy(big, good, n);
	memcpy(big + n, "<!--", 4);
	memset(big + n + 4, 'x', pad - 7);
	memcpy(big + n + pad - 3, "-->", 3);
	big[VAULTCRED_MAX_BYTES + 1] = '\0';
	assert_int_equal(strlen(big), VAULTCRED_MAX_BYTES + 1);
	expect_reject(big, ERR_CREDENTIALS, "65537", "65536");
	/* At the bound it is still accepted. */
	big[n + pad - 4] = '-', big[n + pad - 3] = '-', big[n + pad - 2] = '>';
	big[VAULTCRED_MAX_BYTES] = '\0';
	struct vaultcred *vc = parse_str(big, &e);
	if (vc == NULL)
		fail_msg("%s", e.msg);
	vaultcred_free(vc);
	free(big);

	expect_reject("\x00\x01not xml at all", ERR_CREDENTIALS, "empty", NULL);
	assert_null(vaultcred_parse((const uint8_t *)"\x00\x01not xml", 10, &e));
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_non_null(strstr(e.msg, "XML"));
	expect_reject("not xml at all", ERR_CREDENTIALS, "well-formed", NULL);
	expect_reject("<a>", ERR_CREDENTIALS, "well-formed", NULL);
	expect_reject("<a/>", ERR_CREDENTIALS, "root", NULL);
	expect_reject("<VaultCredentials version=\"1\"/>", ERR_CREDENTIALS, "missing", NULL);
	assert_null(vaultcred_parse(NULL, 0, &e));
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_null(vaultcred_parse((const uint8_t *)"x", 0, NULL));
	free(good);
}

/* Every prefix of a valid file is refused. */
static void test_reject_truncated(void **state)
{
	(void)state;
	char *good = sample_text();
	size_t n = strlen(good);
	struct err e;

	for (size_t i = 0; i < n - 1; i++) {
		struct vaultcred *vc = vaultcred_parse((const uint8_t *)good, i, &e);

		if (vc != NULL)
			fail_msg("prefix of %zu bytes accepted", i);
		assert_int_equal(e.code, ERR_CREDENTIALS);
	}
	free(good);
}

static void test_reject_dtd_and_entities(void **state)
{
	(void)state;
	const char *decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
	char *good = sample_text(), *bad, *bad2;

	reject_edit(decl, "<?xml version=\"1.0\"?>\n<!DOCTYPE VaultCredentials>\n",
		    ERR_CREDENTIALS, "DOCTYPE", NULL);
	/* The parser stops at the DOCTYPE itself, whatever follows it. */
	expect_reject("<!DOCTYPE VaultCredentials [ <!ELEMENT", ERR_CREDENTIALS, "DOCTYPE", NULL);
	/* External entity (XXE). */
	bad = replace(good, decl, "<?xml version=\"1.0\"?>\n<!DOCTYPE VaultCredentials "
			    "[<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n");
	bad2 = replace(bad, "<Region>local-1", "<Region>&x;");
	expect_reject(bad2, ERR_CREDENTIALS, "DOCTYPE", NULL);
	free(bad), free(bad2);
	/* External DTD. */
	reject_edit(decl, "<?xml version=\"1.0\"?>\n<!DOCTYPE VaultCredentials SYSTEM "
		    "\"file:///etc/passwd\">\n", ERR_CREDENTIALS, "DOCTYPE", NULL);
	/* Billion laughs. */
	bad = replace(good, decl,
		      "<?xml version=\"1.0\"?>\n<!DOCTYPE VaultCredentials [\n"
		      " <!ENTITY lol \"lol\">\n"
		      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		      "]>\n");
	bad2 = replace(bad, "<Subscription>sub-0001", "<Subscription>&lol9;");
	expect_reject(bad2, ERR_CREDENTIALS, "DOCTYPE", NULL);
	free(bad), free(bad2);
	/* A reference to an entity nobody declared, in text and in an attribute. */
	reject_edit("<Region>local-1", "<Region>&x;", ERR_CREDENTIALS, NULL, NULL);
	reject_edit("version=\"1\"", "version=\"&x;\"", ERR_CREDENTIALS, NULL, NULL);
	/* Predefined and character references are ordinary text. */
	bad = replace(good, "<Region>local-1", "<Region>&#108;ocal&#x2d;1&amp;");
	{
		struct err e;
		struct vaultcred *vc = parse_str(bad, &e);

		if (vc == NULL)
			fail_msg("%s", e.msg);
		assert_string_equal(vc->region, "local-1&");
		vaultcred_free(vc);
	}
	free(bad);
	/* Processing instructions inside the root are refused. */
	reject_edit("<Region>", "<?pi x?><Region>", ERR_CREDENTIALS, "processing", NULL);
	free(good);
}

static void test_reject_structure(void **state)
{
	(void)state;
	char *good = sample_text(), *bad;

	reject_edit("  <Region>local-1</Region>\n", "", ERR_CREDENTIALS, "<Region>", "missing");
	reject_edit("  <Region>local-1</Region>\n",
		    "  <Region>local-1</Region>\n  <Region>local-2</Region>\n", ERR_CREDENTIALS,
		    "<Region>", "more than once");
	reject_edit("  <Region>", "  <Extra>1</Extra>\n  <Region>", ERR_CREDENTIALS, "<Extra>",
		    "not part");
	reject_edit("  <Region>", "  hello <Region>", ERR_CREDENTIALS, "text outside", NULL);
	reject_edit("<Region>local-1", "<Region>local-1<b/>", ERR_CREDENTIALS, "<Region>",
		    "only text");
	reject_edit("<Region>", "<Region id=\"1\">", ERR_CREDENTIALS, "<Region>", "attributes");
	reject_edit("<VaultCredentials version=\"1\">", "<VaultCredentials version=\"1\" x=\"y\">",
		    ERR_CREDENTIALS, "attribute", NULL);
	reject_edit("<VaultCredentials version=\"1\">",
		    "<VaultCredentials xmlns=\"urn:x\" version=\"1\">", ERR_CREDENTIALS, "root",
		    NULL);
	/* Wrong root name. */
	bad = replace(good, "<VaultCredentials version", "<VaultCredential version");
	char *bad2 = replace(bad, "</VaultCredentials>", "</VaultCredential>");
	expect_reject(bad2, ERR_CREDENTIALS, "root", NULL);
	free(bad), free(bad2);
	/* Mismatched tags. */
	reject_edit("</Region>", "</Regio>", ERR_CREDENTIALS, "well-formed", "line");
	free(good);
}

static void test_reject_version(void **state)
{
	(void)state;
	reject_edit(" version=\"1\"", "", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"abc\"", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"0\"", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"01\"", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"-1\"", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"\"", ERR_CREDENTIALS, "version", NULL);
	reject_edit("version=\"1\"", "version=\"99999999999\"", ERR_CREDENTIALS, "version", NULL);

	char *good = sample_text(), *bad = replace(good, "version=\"1\"", "version=\"2\"");
	struct err e;

	/* A newer file is refused before its (unknown) elements are judged. */
	char *bad2 = replace(bad, "<Region>", "<NewThing>x</NewThing><Region>");
	assert_null(parse_str(bad2, &e));
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_string_equal(e.msg, "vault credentials format version 2 is newer than this "
				   "agent supports; update the agent");
	free(bad2), free(bad), free(good);
}

static void test_reject_names(void **state)
{
	(void)state;
	const char *names[] = { "9lives", "a", "bad_name", "-ab", "ab cd", "caf\xc3\xa9",
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 51 */ };
	char to[256], *good = sample_text(), *ok;
	struct vaultcred *vc;
	struct err e;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(to, sizeof(to), "<VaultName>%s<", names[i]);
		reject_edit("<VaultName>backup-vault<", to, ERR_CREDENTIALS, "<VaultName>",
			    "letter");
	}
	/* The shortest and longest names pass. */
	ok = replace(good, "<VaultName>backup-vault<", "<VaultName>Z9<");
	assert_non_null(vc = parse_str(ok, &e));
	vaultcred_free(vc);
	free(ok);
	ok = replace(good, "<VaultName>backup-vault<",
		     "<VaultName>a-------------------------------------------------<");
	assert_non_null(vc = parse_str(ok, &e));
	assert_int_equal(strlen(vc->vault_name), 50);
	vaultcred_free(vc);
	free(ok);
	free(good);
}

static void test_reject_fields(void **state)
{
	(void)state;
	const char *urls[] = { "ftp://x", "https://", "https:///x", "https://a b", "vault.example",
			       "HTTPS://x", "" };
	const char *times[] = { "2026-02-30T00:00:00Z", "2026-11-24 10:00:00Z",
				"2026-11-24T24:00:00Z", "2026-11-24T10:00:00+01:00",
				"2026-11-24T10:00:60Z", "1969-12-31T23:59:59Z",
				"2026-11-24T10:00:00", "2026-13-01T00:00:00Z", "2026-1-24T10:00:00Z",
				"+026-11-24T10:00:00Z", "" };
	char to[256];

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		snprintf(to, sizeof(to), "<ServiceUrl>%s<", urls[i]);
		reject_edit("<ServiceUrl>https://vault.example.net:8443/<", to, ERR_CREDENTIALS,
			    "<ServiceUrl>", NULL);
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		snprintf(to, sizeof(to), "<IssuedAt>%s<", times[i]);
		reject_edit("<IssuedAt>2026-11-24T10:00:00Z<", to, ERR_CREDENTIALS, "<IssuedAt>",
			    "YYYY-MM-DDTHH:MM:SSZ");
		snprintf(to, sizeof(to), "<ExpiresAt>%s<", times[i]);
		reject_edit("<ExpiresAt>2026-11-26T10:00:00Z<", to, ERR_CREDENTIALS,
			    "<ExpiresAt>", NULL);
	}
	/* Expiry at or before issue. */
	reject_edit("<ExpiresAt>2026-11-26T10:00:00Z<", "<ExpiresAt>2026-11-24T10:00:00Z<",
		    ERR_CREDENTIALS, "<ExpiresAt>", "later than <IssuedAt>");
	reject_edit("<ExpiresAt>2026-11-26T10:00:00Z<", "<ExpiresAt>2026-11-24T09:59:59Z<",
		    ERR_CREDENTIALS, "<ExpiresAt>", "later than <IssuedAt>");
	/* Empty or blank ids. */
	reject_edit("<VaultId>0b6f3c1e-1111-4a4a-8b8b-123456789abc<", "<VaultId><",
		    ERR_CREDENTIALS, "<VaultId>", "1 to 128");
	reject_edit("<Subscription>sub-0001<", "<Subscription>   \n <", ERR_CREDENTIALS,
		    "<Subscription>", NULL);
	reject_edit("<Region>local-1<", "<Region><", ERR_CREDENTIALS, "<Region>", NULL);
	reject_edit("<Region>local-1<", "<Region>local 1<", ERR_CREDENTIALS, "<Region>", NULL);
	/* Leap day accepted, and 29 February of a common year refused. */
	reject_edit("<IssuedAt>2026-11-24T10:00:00Z<", "<IssuedAt>2026-02-29T10:00:00Z<",
		    ERR_CREDENTIALS, "<IssuedAt>", NULL);
}

static void test_reject_pems(void **state)
{
	(void)state;
	char *good = sample_text(), *bad, *bad2, mid[41], *tampered;
	struct err e;

	/* Garbage in place of the certificate's base64. */
	memcpy(mid, cert_pem + 40, 40), mid[40] = '\0';
	tampered = replace(cert_pem, mid, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
	bad = replace(good, cert_pem, tampered);
	expect_reject(bad, ERR_CREDENTIALS, "<Certificate>", NULL);
	free(bad), free(tampered);
	/* Text around the block. */
	reject_edit("<Certificate>\n", "<Certificate>\nhello\n", ERR_CREDENTIALS, "<Certificate>",
		    "exactly one");
	reject_edit("-----END CERTIFICATE-----\n</Certificate>",
		    "-----END CERTIFICATE-----\nx</Certificate>", ERR_CREDENTIALS, "<Certificate>",
		    NULL);
	/* A stray END line after the block. */
	reject_edit("-----END CERTIFICATE-----\n</Certificate>",
		    "-----END CERTIFICATE-----\n-----END CERTIFICATE-----\n</Certificate>",
		    ERR_CREDENTIALS, "<Certificate>", "exactly one");
	/* Two certificates. */
	bad = replace(good, cert_pem, "");
	{
		char *two = malloc(strlen(cert_pem) * 2 + 1);

		strcpy(two, cert_pem), strcat(two, cert_pem);
		free(bad);
		bad = replace(good, cert_pem, two);
		expect_reject(bad, ERR_CREDENTIALS, "<Certificate>", "exactly one");
		free(two);
	}
	free(bad);
	/* An altered certificate (as a person editing the serial would). */
	memcpy(mid, cert_pem + 40, 20), mid[20] = '\0';
	{
		char rev[21];

		for (int i = 0; i < 20; i++)
			rev[i] = mid[19 - i];
		rev[20] = '\0';
		tampered = replace(cert_pem, mid, rev);
	}
	bad = replace(good, cert_pem, tampered);
	expect_reject(bad, ERR_CREDENTIALS, "<Certificate>", NULL);
	free(bad), free(tampered);
	/* A certificate naming our CA as issuer, signed by another key. */
	bad = replace(good, cert_pem, forged_cert_pem);
	expect_reject(bad, ERR_CREDENTIALS, "<Certificate>", "signature does not verify");
	free(bad);
	/* A certificate from another CA cannot be checked here: accepted, left
	 * to the service. */
	bad = replace(good, cert_pem, foreign_cert_pem);
	{
		struct vaultcred *vc = parse_str(bad, &e);

		if (vc == NULL)
			fail_msg("%s", e.msg);
		vaultcred_free(vc);
	}
	free(bad);
	/* A key that is not the certificate's. */
	bad = replace(good, key_pem, other_key_pem);
	expect_reject(bad, ERR_CREDENTIALS, "<PrivateKey>", "does not match");
	free(bad);
	/* A certificate for another key, with the original key. */
	bad = replace(good, cert_pem, other_cert_pem);
	expect_reject(bad, ERR_CREDENTIALS, "<PrivateKey>", "does not match");
	free(bad);
	/* A certificate where the key goes, a key where a certificate goes. */
	bad = replace(good, key_pem, ca_pem);
	expect_reject(bad, ERR_CREDENTIALS, "<PrivateKey>", NULL);
	free(bad);
	bad = replace(good, ca_pem, key_pem);
	bad2 = replace(bad, "<TrustAnchor>", "<TrustAnchor>");
	expect_reject(bad2, ERR_CREDENTIALS, "<TrustAnchor>", NULL);
	free(bad), free(bad2);
	/* An encrypted key is refused, never prompted for. */
	reject_edit("BEGIN PRIVATE KEY", "BEGIN ENCRYPTED PRIVATE KEY", ERR_CREDENTIALS,
		    "<PrivateKey>", NULL);
	/* A broken key body. */
	memcpy(mid, key_pem + 40, 20), mid[20] = '\0';
	tampered = replace(key_pem, mid, "AAAAAAAAAAAAAAAAAAAA");
	bad = replace(good, key_pem, tampered);
	expect_reject(bad, ERR_CREDENTIALS, "<PrivateKey>", NULL);
	free(bad), free(tampered);
	/* A broken trust anchor. */
	memcpy(mid, ca_pem + 100, 20), mid[20] = '\0';
	tampered = replace(ca_pem, mid, "####################");
	bad = replace(good, ca_pem, tampered);
	expect_reject(bad, ERR_CREDENTIALS, "<TrustAnchor>", NULL);
	free(bad), free(tampered);
	/* Empty PEMs. */
	bad = replace(good, ca_pem, "");
	expect_reject(bad, ERR_CREDENTIALS, "<TrustAnchor>", NULL);
	free(bad);
	free(good);
}

/* ---- files ---------------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
	(void)state;
	char path[256], missing[256], fifo[256];
	char *good = sample_text(), *big;
	struct vaultcred *vc;
	struct err e;

	snprintf(path, sizeof(path), "%s/backup-vault_2026-11-24.VaultCredentials", tmpdir);
	write_file(path, good, strlen(good));
	vc = vaultcred_load(path, &e);
	if (vc == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(vc->vault_name, "backup-vault");
	assert_string_equal(vc->key_pem, key_pem);
	vaultcred_free(vc);

	/* A missing path: ERR_IO, the path, and what to do. */
	snprintf(missing, sizeof(missing), "%s/nowhere/x.VaultCredentials", tmpdir);
	assert_null(vaultcred_load(missing, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, missing));
	assert_non_null(strstr(e.msg, "copy the vault credentials file to a local folder"));
	assert_non_null(strstr(e.msg, "No such file"));
	/* A folder. */
	assert_null(vaultcred_load(tmpdir, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, tmpdir));
	assert_non_null(strstr(e.msg, "it is a folder"));
	assert_non_null(strstr(e.msg, "copy the vault credentials file to a local folder"));
	/* A path too long to show whole: its end is shown, and the advice
	 * still fits. */
	{
		char deep[600];
		size_t len = (size_t)snprintf(deep, sizeof(deep), "%s/", tmpdir);

		while (len < 500)
			deep[len++] = 'd';
		snprintf(deep + len, sizeof(deep) - len, "/end-of-path.VaultCredentials");
		assert_null(vaultcred_load(deep, &e));
		assert_int_equal(e.code, ERR_IO);
		assert_non_null(strstr(e.msg, "ddd/end-of-path.VaultCredentials"));
		assert_non_null(strstr(e.msg, "..."));
		assert_non_null(strstr(e.msg, "copy the vault credentials file to a local "
					      "folder and retry"));
	}
	/* No permission (meaningless for root, who reads anything). */
	if (geteuid() != 0) {
		char locked[256];

		snprintf(locked, sizeof(locked), "%s/locked.VaultCredentials", tmpdir);
		write_file(locked, good, strlen(good));
		assert_int_equal(chmod(locked, 0), 0);
		assert_null(vaultcred_load(locked, &e));
		assert_int_equal(e.code, ERR_IO);
		assert_non_null(strstr(e.msg, locked));
		assert_non_null(strstr(e.msg, "copy the vault credentials file"));
	}
	assert_null(vaultcred_load(NULL, &e));
	assert_int_equal(e.code, ERR_INVALID);
	/* A FIFO must not hang the reader. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_null(vaultcred_load(fifo, &e));
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "regular"));
	/* Too big: both sizes in the message, nothing parsed. */
	big = calloc(1, 100000);
	memset(big, ' ', 100000);
	write_file(path, big, 100000);
	assert_null(vaultcred_load(path, &e));
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_non_null(strstr(e.msg, "100000"));
	assert_non_null(strstr(e.msg, "65536"));
	/* Invalid content: the path and the reason. */
	write_file(path, good, strlen(good) / 2);
	assert_null(vaultcred_load(path, &e));
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "well-formed"));
	/* Empty file. */
	write_file(path, "", 0);
	assert_null(vaultcred_load(path, &e));
	assert_int_equal(e.code, ERR_CREDENTIALS);
	assert_null(vaultcred_load(missing, NULL));
	free(big);
	free(good);
}

/* ---- quietness ------------------------------------------------------------ */

static int caller_handler_calls;
static void caller_handler(void *ctx, xmlErrorPtr err)
{
	(void)ctx, (void)err;
	caller_handler_calls++;
}

/* Nothing reaches stderr, whatever the input; the thread's own libxml2
 * error handler is given back untouched. */
static void test_silent(void **state)
{
	(void)state;
	static const char *inputs[] = {
		"<a>", "<?xml version=\"1.0\" encoding=\"bogus-enc\"?><a/>",
		"<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><a>\x1b$B\xff\xfe</a>",
		"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
		"<?xml version=\"1.0\" encoding=\"EUC-JP\"?><a>\xff\xff\xff</a>",
		"<a>\xc3\x28</a>", "<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://x/\"> %p;]><a/>",
		"<a>&undefined;</a>", "\xef\xbb\xbf<a></b>",
	};
	char path[256];
	FILE *f;
	int saved = dup(2), fd;
	struct err e;
	long size;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	xmlSetStructuredErrorFunc(&e, caller_handler);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		assert_null(parse_str(inputs[i], &e));
	/* Our handler is still the thread's: it catches a direct libxml2 error. */
	assert_int_equal(caller_handler_calls, 0);
	xmlDocPtr d = xmlReadMemory("<a>", 3, "x", NULL, XML_PARSE_NONET);
	assert_null(d);
	assert_true(caller_handler_calls > 0);
	xmlSetStructuredErrorFunc(NULL, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_int_equal(size, 0);
}

/* ---- flips ---------------------------------------------------------------- */

/* Flipping any single byte of a valid file never crashes; a refusal always
 * comes with a code and a message, and an acceptance gives a valid result. */
static void test_flip_every_byte(void **state)
{
	(void)state;
	char *good = sample_text();
	size_t n = strlen(good), refused = 0;
	uint8_t *p = malloc(n);

	for (size_t i = 0; i < n; i++) {
		static const uint8_t masks[] = { 0x01, 0x80 };

		for (size_t m = 0; m < sizeof(masks); m++) {
			struct err e;
			struct vaultcred *vc;

			memcpy(p, good, n);
			p[i] ^= masks[m];
			err_clear(&e);
			vc = vaultcred_parse(p, n, &e);
			if (vc == NULL) {
				assert_int_not_equal(e.code, ERR_OK);
				assert_true(e.msg[0] != '\0');
				refused++;
			} else {
				/* Accepted means still valid: the writer,
				 * which checks everything again, agrees. */
				struct buf b = BUF_INIT;

				if (vaultcred_write(vc, &b, &e) != 0)
					fail_msg("flip at %zu accepted but not writable: %s", i,
						 e.msg);
				buf_wipe(&b);
			}
			vaultcred_free(vc);
		}
	}
	/* Most flips break something; the few that do not are in places no
	 * check covers (a certificate's signature bytes, whitespace). */
	assert_true(refused > n);
	free(p);
	free(good);
}

/* The vault-name rule on its own, as the service applies it to new vaults. */
static void test_check_name(void **state)
{
	(void)state;
	struct err e;
	char fifty[51], fiftyone[52];

	memset(fifty, 'a', 50);
	fifty[50] = 0;
	memset(fiftyone, 'a', 51);
	fiftyone[51] = 0;
	assert_int_equal(vaultcred_check_name("ab", &e), 0);
	assert_int_equal(vaultcred_check_name("Backup-Vault-2", &e), 0);
	assert_int_equal(vaultcred_check_name(fifty, &e), 0);
	assert_int_equal(vaultcred_check_name("a", &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "2 to 50"));
	assert_int_equal(vaultcred_check_name(fiftyone, &e), -1);
	assert_non_null(strstr(e.msg, "it has 51"));
	assert_int_equal(vaultcred_check_name("1abc", &e), -1);
	assert_non_null(strstr(e.msg, "start with a letter"));
	assert_int_equal(vaultcred_check_name("ab_c", &e), -1);
	assert_int_equal(vaultcred_check_name("ab c", &e), -1);
	assert_int_equal(vaultcred_check_name("-abc", &e), -1);
	assert_int_equal(vaultcred_check_name("caf\xc3\xa9", &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_escaping_and_append),
		cmocka_unit_test(test_roundtrip_ed25519),
		cmocka_unit_test(test_roundtrip_carriage_returns),
		cmocka_unit_test(test_parse_handwritten),
		cmocka_unit_test(test_write_rejects),
		cmocka_unit_test(test_filename),
		cmocka_unit_test(test_check_time),
		cmocka_unit_test(test_reject_size_and_garbage),
		cmocka_unit_test(test_reject_truncated),
		cmocka_unit_test(test_reject_dtd_and_entities),
		cmocka_unit_test(test_reject_structure),
		cmocka_unit_test(test_reject_version),
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_reject_fields),
		cmocka_unit_test(test_reject_pems),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_silent),
		cmocka_unit_test(test_flip_every_byte),
		cmocka_unit_test(test_check_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
