/*
 * vaultcred.c: reading and writing the vault-credentials XML file.
 *
 * Design note. The file is outside input, and XML parsers are a classic
 * source of trouble (external entities, entity expansion bombs, network
 * fetches). So:
 *  - the size is bounded before libxml2 sees a byte;
 *  - the parse uses its own parser context with XML_PARSE_NONET and never
 *    XML_PARSE_NOENT or XML_PARSE_DTDLOAD;
 *  - SAX hooks on that context stop the parser at the first <!DOCTYPE,
 *    entity declaration or entity reference, before libxml2 processes any of
 *    it, and the finished tree is checked again for a DTD and entity nodes;
 *  - libxml2's error output goes to a structured handler on the same context
 *    that only records the first message (library code never prints, and no
 *    global handler is touched, so parses in other threads are unaffected).
 * The tree is then walked once: a root <VaultCredentials version="N">, and
 * exactly one of each field element, holding only text. Each field is
 * trimmed of surrounding whitespace and checked by its own rule; the three
 * PEMs are checked with OpenSSL.
 *
 * The writer validates with the same checks, then prints a fixed layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "bytes.h"
#include "vaultcred.h"

/* Bounds on the plain text fields. Generous, but a bound. */
#define URL_MAX 2048
#define ID_MAX 128
#define REGION_MAX 64
#define VNAME_MIN 2
#define VNAME_MAX 50
#define TIME_LEN 20              /* YYYY-MM-DDTHH:MM:SSZ */
#define TIME_BUF 32              /* a buffer for one, with room to spare */
#define TIME_MAX 253402300799LL  /* 9999-12-31T23:59:59Z */

static const char msg_copy[] =
	"copy the vault credentials file to a local folder and retry";

/* ---- fields ------------------------------------------------------------ */

enum field {
	F_URL, F_SUBSCRIPTION, F_VAULT_ID, F_VAULT_NAME, F_REGION,
	F_ISSUED, F_EXPIRES, F_CERT, F_KEY, F_ANCHOR, F_COUNT
};

/* Element names, in the order the writer prints them. */
static const char *const field_name[F_COUNT] = {
	"ServiceUrl", "Subscription", "VaultId", "VaultName", "Region",
	"IssuedAt", "ExpiresAt", "Certificate", "PrivateKey", "TrustAnchor",
};

static int bad(struct err *e, enum field f, const char *rule)
{
	return err_set(e, ERR_CREDENTIALS, "element <%s> %s", field_name[f], rule);
}

/* Vault naming rule (SPEC section 1): 2-50 letters, digits and '-', starting
 * with a letter. ASCII only. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < VNAME_MIN || n > VNAME_MAX)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

int vaultcred_check_name(const char *name, struct err *e)
{
	size_t n = strlen(name);

	if (name_ok(name))
		return 0;
	if (n < VNAME_MIN || n > VNAME_MAX)
		return err_set(e, ERR_INVALID, "vault name must be %d to %d characters long (it has %zu)",
			       VNAME_MIN, VNAME_MAX, n);
	return err_set(e, ERR_INVALID, "vault name may hold only letters, digits and '-', and must "
		       "start with a letter");
}

/* 1..MAX bytes of printable ASCII without spaces. */
static bool token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static int check_url(const char *s, struct err *e)
{
	const char *host;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return bad(e, F_URL, "must start with https:// or http://");
	if (!token_ok(s, URL_MAX))
		return bad(e, F_URL, "must be at most 2048 printable characters without spaces");
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return bad(e, F_URL, "must name a host after the scheme");
	return 0;
}

/* ---- times ------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm;
 * exact for every date this file allows). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parse exactly YYYY-MM-DDTHH:MM:SSZ (UTC, 1970..9999, no leap seconds). */
static int parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, se;

	if (strlen(s) != TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

static bool time_in_range(int64_t t)
{
	return t >= 0 && t <= TIME_MAX;
}

/* Format T (in range) as YYYY-MM-DDTHH:MM:SSZ into OUT[TIME_BUF]. */
static void format_time(int64_t t, char out[TIME_BUF])
{
	int y, m, d;
	int64_t s = t % 86400;

	civil_from_days(t / 86400, &y, &m, &d);
	snprintf(out, TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
		 (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

static int check_times(int64_t issued, int64_t expires, struct err *e)
{
	if (!time_in_range(issued))
		return bad(e, F_ISSUED, "must be a time between 1970 and 9999");
	if (!time_in_range(expires))
		return bad(e, F_EXPIRES, "must be a time between 1970 and 9999");
	if (expires <= issued)
		return bad(e, F_EXPIRES, "must be later than <IssuedAt>");
	return 0;
}

/* ---- PEMs -------------------------------------------------------------- */

/* Never prompt for a passphrase: an encrypted key is refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static bool starts_with(const char *s, const char *pre)
{
	return strncmp(s, pre, strlen(pre)) == 0;
}

/* PEM text must be one block: it starts with its BEGIN line, ends with its
 * END line (trailing whitespace allowed), and has no second BEGIN. Only
 * printable ASCII and line breaks and tabs. OpenSSL alone would skip junk
 * around the block. LABEL NULL accepts any "... PRIVATE KEY" label. */
static bool pem_shape_ok(const char *s, const char *label)
{
	const char *end, *p;
	size_t n = strlen(s);
	char want[64];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c <= 0x7e)))
			return false;
	}
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
			 s[n - 1] == '\t'))
		n--;
	if (!starts_with(s, "-----BEGIN ") || strstr(s + 1, "-----BEGIN ") != NULL)
		return false;
	if (label == NULL) {
		/* "-----BEGIN X-----" where X ends in "PRIVATE KEY" and is not
		 * the encrypted PKCS#8 form. */
		p = strstr(s + 11, "-----");
		if (p == NULL || p - (s + 11) < 11 || memcmp(p - 11, "PRIVATE KEY", 11) != 0 ||
		    starts_with(s, "-----BEGIN ENCRYPTED"))
			return false;
		if ((size_t)(p - (s + 11)) >= sizeof(want) - 16)
			return false;
		snprintf(want, sizeof(want), "-----END %.*s-----", (int)(p - (s + 11)), s + 11);
	} else {
		char begin[64];

		snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
		if (!starts_with(s, begin))
			return false;
		snprintf(want, sizeof(want), "-----END %s-----", label);
	}
	if (n < strlen(want))
		return false;
	end = s + n - strlen(want);
	return memcmp(end, want, strlen(want)) == 0 && strstr(s, "-----END ") == end;
}

static X509 *pem_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = NULL;

	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
	BIO_free(bio);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = NULL;

	if (bio != NULL)
		k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	return k;
}

/* Check the three PEMs: two X.509 certificates and a private key that
 * matches the credential certificate's public key. When the trust anchor is
 * the certificate's issuer (names and key identifiers agree), the
 * certificate's signature must verify with the anchor's key: this catches
 * an altered certificate before the service sees it. A certificate issued
 * by another CA (a vault CA the file does not carry) is left to the
 * service, which keeps every certificate it issued and compares at
 * registration. */
static int check_pems(const char *cert_pem, const char *key_pem, const char *anchor_pem,
		      struct err *e)
{
	X509 *cert = NULL, *anchor = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (!pem_shape_ok(cert_pem, "CERTIFICATE"))
		bad(e, F_CERT, "must hold exactly one PEM block \"-----BEGIN CERTIFICATE-----\"");
	else if ((cert = pem_cert(cert_pem)) == NULL)
		bad(e, F_CERT, "is not a PEM X.509 certificate OpenSSL can read");
	else if (!pem_shape_ok(key_pem, NULL))
		bad(e, F_KEY, "must hold exactly one unencrypted PEM private key block");
	else if ((key = pem_key(key_pem)) == NULL)
		bad(e, F_KEY, "is not a PEM private key OpenSSL can read");
	else if (X509_get0_pubkey(cert) == NULL || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1)
		bad(e, F_KEY, "does not match the public key of <Certificate>");
	else if (!pem_shape_ok(anchor_pem, "CERTIFICATE"))
		bad(e, F_ANCHOR, "must hold exactly one PEM block \"-----BEGIN CERTIFICATE-----\"");
	else if ((anchor = pem_cert(anchor_pem)) == NULL)
		bad(e, F_ANCHOR, "is not a PEM X.509 certificate OpenSSL can read");
	else if (X509_check_issued(anchor, cert) == X509_V_OK &&
		 X509_verify(cert, X509_get0_pubkey(anchor)) != 1)
		bad(e, F_CERT, "names <TrustAnchor> as its issuer but its signature does "
			       "not verify with that certificate's key (the file was altered)");
	else
		rc = 0;
	/* Why: leave no OpenSSL errors behind for an unrelated later call. */
	ERR_clear_error();
	X509_free(anchor);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* ---- validation shared by writer and parser --------------------------- */

static int check_fields(const struct vaultcred *vc, struct err *e)
{
	const char *s[] = { vc->service_url, vc->subscription, vc->vault_id, vc->vault_name,
			    vc->region, vc->cert_pem, vc->key_pem, vc->trust_anchor_pem };
	const enum field f[] = { F_URL, F_SUBSCRIPTION, F_VAULT_ID, F_VAULT_NAME,
				 F_REGION, F_CERT, F_KEY, F_ANCHOR };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i] == NULL)
			return bad(e, f[i], "is missing");
	if (check_url(vc->service_url, e) != 0)
		return -1;
	if (!token_ok(vc->subscription, ID_MAX))
		return bad(e, F_SUBSCRIPTION, "must be 1 to 128 printable characters without spaces");
	if (!token_ok(vc->vault_id, ID_MAX))
		return bad(e, F_VAULT_ID, "must be 1 to 128 printable characters without spaces");
	if (!name_ok(vc->vault_name))
		return bad(e, F_VAULT_NAME, "must be 2 to 50 letters, digits and '-', "
					     "starting with a letter");
	if (!token_ok(vc->region, REGION_MAX))
		return bad(e, F_REGION, "must be 1 to 64 printable characters without spaces");
	if (check_times(vc->issued, vc->expires, e) != 0)
		return -1;
	return check_pems(vc->cert_pem, vc->key_pem, vc->trust_anchor_pem, e);
}

/* ---- writer ------------------------------------------------------------ */

static bool is_xml_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Append the N bytes at S with &, <, > and " escaped, and CR as "&#13;". */
static int append_escaped(struct buf *out, const char *s, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		int rc;

		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		/* Why: a parser turns a raw CR into LF; only a reference
		 * brings a CR (from "&#13;" in the file read) back intact. */
		case '\r': rep = "&#13;"; break;
		default: break;
		}
		rc = rep ? buf_append(out, rep, strlen(rep), e) : buf_append_u8(out, (uint8_t)s[i], e);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int append_str(struct buf *out, const char *s, struct err *e)
{
	return buf_append(out, s, strlen(s), e);
}

/* Append "  <NAME>VALUE</NAME>\n"; a PEM value goes on its own lines. */
static int append_field(struct buf *out, enum field f, const char *value, bool pem,
			struct err *e)
{
	size_t n = strlen(value);

	/* Trim the PEM's trailing whitespace, as the parser does; the layout
	 * adds exactly one line break. */
	while (pem && n > 0 && is_xml_space(value[n - 1]))
		n--;
	if (append_str(out, "  <", e) || append_str(out, field_name[f], e) ||
	    append_str(out, pem ? ">\n" : ">", e))
		return -1;
	if (append_escaped(out, value, n, e) || (pem && append_str(out, "\n", e)))
		return -1;
	if (append_str(out, "</", e) || append_str(out, field_name[f], e) ||
	    append_str(out, ">\n", e))
		return -1;
	return 0;
}

int vaultcred_write(const struct vaultcred *vc, struct buf *out, struct err *e)
{
	char issued[TIME_BUF], expires[TIME_BUF], head[128];
	const char *all[] = { vc->service_url, vc->subscription, vc->vault_id, vc->vault_name,
			      vc->region, vc->cert_pem, vc->key_pem, vc->trust_anchor_pem };
	size_t start = out->len, need = 1024; /* markup and times */

	if (vc->version != VAULTCRED_VERSION)
		return err_set(e, ERR_CREDENTIALS,
			       "vault credentials version %d cannot be written; this agent "
			       "writes version %d", vc->version, VAULTCRED_VERSION);
	if (check_fields(vc, e) != 0)
		return -1;
	/* Why reserve: growing OUT after the key is in would leave a copy of
	 * it in freed memory. Each byte escapes to at most 6 ("&quot;"). */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		size_t n;

		if (!size_mul(strlen(all[i]), 6, &n) || !size_add(need, n, &need))
			return err_set(e, ERR_TOO_LARGE, "vault credentials fields are too long");
	}
	if (buf_reserve(out, need, e) != 0)
		return -1;
	format_time(vc->issued, issued);
	format_time(vc->expires, expires);
	snprintf(head, sizeof(head),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<VaultCredentials version=\"%d\">\n", VAULTCRED_VERSION);
	if (append_str(out, head, e) ||
	    append_field(out, F_URL, vc->service_url, false, e) ||
	    append_field(out, F_SUBSCRIPTION, vc->subscription, false, e) ||
	    append_field(out, F_VAULT_ID, vc->vault_id, false, e) ||
	    append_field(out, F_VAULT_NAME, vc->vault_name, false, e) ||
	    append_field(out, F_REGION, vc->region, false, e) ||
	    append_field(out, F_ISSUED, issued, false, e) ||
	    append_field(out, F_EXPIRES, expires, false, e) ||
	    append_field(out, F_CERT, vc->cert_pem, true, e) ||
	    append_field(out, F_KEY, vc->key_pem, true, e) ||
	    append_field(out, F_ANCHOR, vc->trust_anchor_pem, true, e) ||
	    append_str(out, "</VaultCredentials>\n", e)) {
		/* Leave OUT as it was, with no trace of the key. */
		if (out->data != NULL)
			sodium_memzero(out->data + start, out->len - start);
		out->len = start;
		return -1;
	}
	return 0;
}

/* ---- parser ------------------------------------------------------------ */

/* Per-parse state, reached from libxml2 callbacks through ctxt->_private. */
struct parse_state {
	bool dtd;        /* a DOCTYPE, entity declaration or reference was seen */
	bool have_error;
	int line;
	char msg[160];   /* libxml2's first error, one line */
};

static struct parse_state *state_of(void *ctx)
{
	return (struct parse_state *)((xmlParserCtxtPtr)ctx)->_private;
}

/* libxml2 2.12 made the error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

/* Record the first error in ST, print nothing. */
static void record_error(struct parse_state *st, xml_error_arg err)
{
	size_t n;

	if (st == NULL || err == NULL || st->have_error)
		return;
	st->have_error = true;
	st->line = err->line;
	snprintf(st->msg, sizeof(st->msg), "%s", err->message ? err->message : "unknown error");
	n = strlen(st->msg);
	while (n > 0 && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
		st->msg[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)st->msg[i] < 0x20)
			st->msg[i] = ' ';
}

/* Structured handler on the parser context: CTX is the context. */
static void on_parse_error(void *ctx, xml_error_arg err)
{
	if (ctx != NULL)
		record_error(state_of(ctx), err);
}

/* Thread's structured handler during a parse, for the errors libxml2 raises
 * without a parser context (character encoding conversion): CTX is ST. */
static void on_other_error(void *ctx, xml_error_arg err)
{
	record_error(ctx, err);
}

/* SAX hooks that stop the parse before libxml2 acts on any DTD content. */
static void on_dtd(void *ctx)
{
	state_of(ctx)->dtd = true;
	xmlStopParser((xmlParserCtxtPtr)ctx);
}

static void on_subset(void *ctx, const xmlChar *name, const xmlChar *eid, const xmlChar *sid)
{
	(void)name, (void)eid, (void)sid;
	on_dtd(ctx);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pid,
			   const xmlChar *sid, xmlChar *content)
{
	(void)name, (void)type, (void)pid, (void)sid, (void)content;
	on_dtd(ctx);
}

static void on_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	on_dtd(ctx);
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
	/* Predefined entities (&amp; ...) never reach here; anything else is
	 * a reference to a declared or undeclared entity. */
	(void)name;
	on_dtd(ctx);
	return NULL;
}

/* Wipe the text of every <PrivateKey> under the root in place, before the
 * tree is freed (best effort, see the format notes; strings interned in the
 * dictionary are shared, short, and left alone). */
static void wipe_keys(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	for (xmlNodePtr n = root ? root->children : NULL; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(n->name, (const xmlChar *)field_name[F_KEY]) != 0)
			continue;
		for (xmlNodePtr c = n->children; c != NULL; c = c->next)
			if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
			    c->content != NULL &&
			    (doc->dict == NULL || !xmlDictOwns(doc->dict, c->content)))
				sodium_memzero(c->content, strlen((const char *)c->content));
	}
}

static bool is_blank(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!is_xml_space(*s))
			return false;
	return true;
}

/* Concatenated text of element N, trimmed of surrounding whitespace, as a
 * new string (wiped-on-free is the caller's business). Refuses children
 * other than text and comments, and attributes. */
static int element_text(xmlNodePtr n, enum field f, char **out, struct err *e)
{
	struct buf b = BUF_INIT;
	size_t lo = 0, hi, total = 0;

	if (n->properties != NULL)
		return bad(e, f, "must have no attributes");
	/* Why two passes: one allocation, so that growing never leaves a copy
	 * of the key behind in freed memory. */
	for (xmlNodePtr c = n->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
		    c->content != NULL &&
		    !size_add(total, strlen((const char *)c->content), &total))
			return bad(e, f, "is too long");
	if (buf_reserve(&b, total, e) != 0)
		return -1;
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) {
			buf_wipe(&b);
			return bad(e, f, "must hold only text");
		}
		if (c->content != NULL &&
		    buf_append(&b, c->content, strlen((const char *)c->content), e) != 0) {
			buf_wipe(&b);
			return -1;
		}
	}
	hi = b.len;
	while (lo < hi && is_xml_space(b.data[lo]))
		lo++;
	while (hi > lo && is_xml_space(b.data[hi - 1]))
		hi--;
	/* A PEM keeps one final line break, as PEM files have. */
	bool pem = f == F_CERT || f == F_KEY || f == F_ANCHOR;
	char *s = malloc(hi - lo + 2);

	if (s == NULL) {
		buf_wipe(&b);
		return err_oom(e);
	}
	if (hi > lo)
		memcpy(s, b.data + lo, hi - lo);
	s[hi - lo] = '\0';
	if (pem && hi > lo)
		s[hi - lo] = '\n', s[hi - lo + 1] = '\0';
	buf_wipe(&b);
	*out = s;
	return 0;
}

/* version="N": decimal, no sign, no leading zero, at most 9 digits. */
static int parse_version(xmlNodePtr root, int *version, struct err *e)
{
	xmlChar *v = xmlGetNoNsProp(root, (const xmlChar *)"version");
	const char *s = (const char *)v;
	size_t n;
	int rc = -1;

	if (v == NULL) {
		return err_set(e, ERR_CREDENTIALS,
			       "element <VaultCredentials> has no version attribute");
	}
	n = strlen(s);
	if (n == 0 || n > 9 || (s[0] == '0') || digits(s, (int)n) < 1)
		err_set(e, ERR_CREDENTIALS,
			"element <VaultCredentials> attribute version must be a positive "
			"decimal number");
	else if ((*version = digits(s, (int)n)) > VAULTCRED_VERSION)
		err_set(e, ERR_UNSUPPORTED,
			"vault credentials format version %d is newer than this agent "
			"supports; update the agent", *version);
	else
		rc = 0;
	xmlFree(v);
	return rc;
}

static void set_field(struct vaultcred *vc, enum field f, char *s)
{
	char **slot[F_COUNT] = {
		[F_URL] = &vc->service_url, [F_SUBSCRIPTION] = &vc->subscription,
		[F_VAULT_ID] = &vc->vault_id, [F_VAULT_NAME] = &vc->vault_name,
		[F_REGION] = &vc->region, [F_CERT] = &vc->cert_pem,
		[F_KEY] = &vc->key_pem, [F_ANCHOR] = &vc->trust_anchor_pem,
	};

	*slot[f] = s;
}

/* Walk the tree of a well-formed document into VC. */
static int read_tree(xmlDocPtr doc, struct vaultcred *vc, struct err *e)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	bool seen[F_COUNT] = { false };

	if (root == NULL || root->ns != NULL ||
	    xmlStrcmp(root->name, (const xmlChar *)"VaultCredentials") != 0)
		return err_set(e, ERR_CREDENTIALS,
			       "the root element must be <VaultCredentials>");
	for (xmlAttrPtr a = root->properties; a != NULL; a = a->next)
		if (a->ns != NULL || xmlStrcmp(a->name, (const xmlChar *)"version") != 0)
			return err_set(e, ERR_CREDENTIALS,
				       "element <VaultCredentials> has an unknown attribute");
	if (parse_version(root, &vc->version, e) != 0)
		return -1;
	for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
		enum field f;
		char *s = NULL;
		int rc;

		if (c->type == XML_COMMENT_NODE)
			continue;
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			if (!is_blank(c->content))
				return err_set(e, ERR_CREDENTIALS,
					       "element <VaultCredentials> holds text outside "
					       "its child elements");
			continue;
		}
		if (c->type != XML_ELEMENT_NODE)
			return err_set(e, ERR_CREDENTIALS,
				       "element <VaultCredentials> holds something other "
				       "than elements (an entity or processing instruction)");
		for (f = 0; f < F_COUNT; f++)
			if (xmlStrcmp(c->name, (const xmlChar *)field_name[f]) == 0)
				break;
		if (f == F_COUNT || c->ns != NULL)
			return err_set(e, ERR_CREDENTIALS,
				       "element <%.64s> is not part of vault credentials "
				       "version %d", (const char *)c->name, vc->version);
		if (seen[f])
			return bad(e, f, "appears more than once");
		seen[f] = true;
		if (element_text(c, f, &s, e) != 0)
			return -1;
		if (f == F_ISSUED || f == F_EXPIRES) {
			rc = parse_time(s, f == F_ISSUED ? &vc->issued : &vc->expires);
			free(s);
			if (rc != 0)
				return bad(e, f, "must be a UTC time written YYYY-MM-DDTHH:MM:SSZ");
		} else {
			set_field(vc, f, s);
		}
	}
	for (enum field f = 0; f < F_COUNT; f++)
		if (!seen[f])
			return bad(e, f, "is missing");
	return check_fields(vc, e);
}

/* True when the tree holds any DTD or entity node (belt to the SAX braces). */
static bool has_entities(xmlNodePtr n)
{
	for (; n != NULL; n = n->next) {
		if (n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_NODE ||
		    n->type == XML_ENTITY_DECL || n->type == XML_DTD_NODE ||
		    n->type == XML_DOCUMENT_TYPE_NODE)
			return true;
		if (n->type == XML_ELEMENT_NODE && has_entities(n->children))
			return true;
	}
	return false;
}

struct vaultcred *vaultcred_parse(const uint8_t *p, size_t len, struct err *e)
{
	struct parse_state st = { 0 };
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	struct vaultcred *vc = NULL;
	xmlStructuredErrorFunc old_handler;
	void *old_ctx;
	int ok = -1;

	/* Why first: nothing of an oversized file reaches libxml2. */
	if (len > VAULTCRED_MAX_BYTES) {
		err_set(e, ERR_CREDENTIALS,
			"vault credentials file is %zu bytes; the limit is %d bytes", len,
			VAULTCRED_MAX_BYTES);
		return NULL;
	}
	if (len == 0 || p == NULL) {
		err_set(e, ERR_CREDENTIALS, "vault credentials file is empty");
		return NULL;
	}
	if ((vc = calloc(1, sizeof(*vc))) == NULL) {
		err_oom(e);
		return NULL;
	}
	xmlInitParser();
	if ((ctxt = xmlNewParserCtxt()) == NULL) {
		err_oom(e);
		goto out;
	}
	ctxt->_private = &st;
	ctxt->sax->serror = on_parse_error;
	ctxt->sax->internalSubset = on_subset;
	ctxt->sax->externalSubset = on_subset;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->reference = on_reference;
	ctxt->sax->getEntity = on_get_entity;
	ctxt->sax->getParameterEntity = on_get_entity;
	/* Why save and restore: libxml2 keeps this handler per thread; we
	 * borrow it for this parse only and give the caller's back. */
	old_handler = xmlStructuredError;
	old_ctx = xmlStructuredErrorContext;
	xmlSetStructuredErrorFunc(&st, on_other_error);
	doc = xmlCtxtReadMemory(ctxt, (const char *)p, (int)len, "VaultCredentials", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlSetStructuredErrorFunc(old_ctx, old_handler);
	if (st.dtd || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL ||
				       has_entities(doc->children)))) {
		err_set(e, ERR_CREDENTIALS,
			"vault credentials file has a DOCTYPE or entities, which are not "
			"allowed");
		goto out;
	}
	if (doc == NULL || !ctxt->wellFormed) {
		if (st.have_error && st.line > 0)
			err_set(e, ERR_CREDENTIALS,
				"vault credentials file is not well-formed XML (line %d: %s)",
				st.line, st.msg);
		else if (st.have_error)
			err_set(e, ERR_CREDENTIALS,
				"vault credentials file is not well-formed XML (%s)", st.msg);
		else
			err_set(e, ERR_CREDENTIALS,
				"vault credentials file is not well-formed XML");
		goto out;
	}
	ok = read_tree(doc, vc, e);
out:
	if (doc != NULL) {
		wipe_keys(doc);
		xmlFreeDoc(doc);
	}
	if (ctxt != NULL)
		xmlFreeParserCtxt(ctxt);
	if (ok != 0) {
		vaultcred_free(vc);
		vc = NULL;
	}
	return vc;
}

/* ---- files ------------------------------------------------------------- */

/* err_errno put the system's words last; add the advice after them. */
static void add_copy_advice(struct err *e)
{
	size_t n;

	if (e == NULL)
		return;
	n = strlen(e->msg);
	if (n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, "; %s", msg_copy);
}

/* PATH as a message shows it: whole when short, else "..." and its last
 * PATH_SHOWN_MAX - 3 bytes, so that the system's words and the advice after
 * it always fit in struct err. */
#define PATH_SHOWN_MAX 200

static const char *shown_path(const char *path, char out[PATH_SHOWN_MAX + 1])
{
	size_t n = strlen(path);

	if (n <= PATH_SHOWN_MAX)
		return path;
	snprintf(out, PATH_SHOWN_MAX + 1, "...%s", path + n - (PATH_SHOWN_MAX - 3));
	return out;
}

struct vaultcred *vaultcred_load(const char *path, struct err *e)
{
	struct vaultcred *vc = NULL;
	struct stat st;
	uint8_t *data = NULL;
	size_t cap = VAULTCRED_MAX_BYTES + 1, len = 0;
	char short_path[PATH_SHOWN_MAX + 1];
	const char *shown;
	int fd;

	if (path == NULL) {
		err_set(e, ERR_INVALID, "no vault credentials file was given");
		return NULL;
	}
	shown = shown_path(path, short_path);

	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		err_errno(e, "cannot open vault credentials file %s", shown);
		add_copy_advice(e);
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		err_errno(e, "cannot read vault credentials file %s", shown);
		add_copy_advice(e);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err_set(e, ERR_IO, "cannot read vault credentials file %s: it is a folder, not a "
			"file; %s", shown, msg_copy);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_IO, "cannot read vault credentials file %s: not a regular file; "
			"%s", shown, msg_copy);
		goto out;
	}
	if (st.st_size > VAULTCRED_MAX_BYTES) {
		err_set(e, ERR_CREDENTIALS, "vault credentials file %s is %jd bytes; the limit "
			"is %d bytes", shown, (intmax_t)st.st_size, VAULTCRED_MAX_BYTES);
		goto out;
	}
	if ((data = malloc(cap)) == NULL) {
		err_oom(e);
		goto out;
	}
	/* Read up to one byte past the bound, whatever fstat said: the file
	 * may have grown since. */
	while (len < cap) {
		ssize_t n = read(fd, data + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_errno(e, "cannot read vault credentials file %s", shown);
			add_copy_advice(e);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > VAULTCRED_MAX_BYTES) {
		err_set(e, ERR_CREDENTIALS, "vault credentials file %s is more than %d bytes; "
			"the limit is %d bytes", shown, VAULTCRED_MAX_BYTES, VAULTCRED_MAX_BYTES);
		goto out;
	}
	if ((vc = vaultcred_parse(data, len, e)) == NULL)
		err_prefix(e, "%s: ", shown);
out:
	if (data != NULL) {
		sodium_memzero(data, cap);
		free(data);
	}
	close(fd);
	return vc;
}

static void free_str(char *s, bool wipe)
{
	if (s != NULL && wipe)
		sodium_memzero(s, strlen(s));
	free(s);
}

void vaultcred_free(struct vaultcred *vc)
{
	if (vc == NULL)
		return;
	free_str(vc->service_url, false);
	free_str(vc->subscription, false);
	free_str(vc->vault_id, false);
	free_str(vc->vault_name, false);
	free_str(vc->region, false);
	free_str(vc->cert_pem, false);
	free_str(vc->key_pem, true);
	free_str(vc->trust_anchor_pem, false);
	free(vc);
}

/* ---- names and times -------------------------------------------------- */

int vaultcred_filename(const char *vault_name, int64_t issued, char *out, size_t outlen,
		       struct err *e)
{
	int y, m, d, n;

	if (vault_name == NULL || !name_ok(vault_name))
		return err_set(e, ERR_INVALID, "vault name '%.60s' must be 2 to 50 letters, "
			       "digits and '-', starting with a letter",
			       vault_name ? vault_name : "");
	if (!time_in_range(issued))
		return err_set(e, ERR_INVALID, "issue time %" PRId64 " is outside 1970..9999",
			       issued);
	civil_from_days(issued / 86400, &y, &m, &d);
	n = snprintf(out, outlen, "%s_%04d-%02d-%02d.VaultCredentials", vault_name, y, m, d);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return err_set(e, ERR_INVALID, "a buffer of %zu bytes cannot hold the vault "
			       "credentials file name (%d bytes needed)", outlen, n + 1);
	}
	return 0;
}

int vaultcred_check_time(const struct vaultcred *vc, int64_t now, struct err *e)
{
	if (now >= vc->expires)
		return err_set(e, ERR_EXPIRED, "Vault credentials file provided has expired");
	/* Unsigned difference: no overflow whatever NOW is. */
	if (vc->issued > now && (uint64_t)vc->issued - (uint64_t)now > VAULTCRED_MAX_SKEW)
		return err_set(e, ERR_CREDENTIALS,
			       "vault credentials were issued %" PRIu64 " seconds in the "
			       "future; check the clock of this machine and of the service",
			       (uint64_t)vc->issued - (uint64_t)now);
	return 0;
}
