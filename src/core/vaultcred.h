/*
 * vaultcred.h: the vault-credentials file (SPEC section 3), an XML document
 * named <vault name>_<YYYY-MM-DD>.VaultCredentials that a vault issues and an
 * agent uses, once, to register a machine. It carries where the service is,
 * which vault it is for, when it was issued and when it expires, a credential
 * certificate with its private key, and the trust anchor for the service's
 * TLS certificate.
 *
 * The one idea: the file comes from outside, so the parser trusts nothing.
 * It bounds the size before parsing, refuses any DTD or entity (no XXE, no
 * entity expansion), requires exactly one of each element and nothing else,
 * and checks every field's syntax and the PEMs with OpenSSL (the key must
 * match the certificate; when the trust anchor issued the certificate, the
 * signature must verify). Whether the file is still the latest one for its
 * vault only the service knows; it checks that at registration.
 *
 * Every rejection of file content is ERR_CREDENTIALS with a message that
 * names the element and the rule it breaks; a newer format version is
 * ERR_UNSUPPORTED. The library never prints, libxml2 included.
 */
#ifndef ARCA_VAULTCRED_H
#define ARCA_VAULTCRED_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define VAULTCRED_VERSION 1
#define VAULTCRED_MAX_BYTES (64 * 1024)

/* Longest file name vaultcred_filename can produce, with its NUL:
 * 50 (name) + 1 + 10 (date) + 17 (".VaultCredentials") + 1. */
#define VAULTCRED_FILENAME_MAX 79

/* How long vault credentials are valid, from issue to expiry (SPEC: 48 hours). */
#define VAULTCRED_VALIDITY (48 * 3600)

/* Most seconds IssuedAt may lie ahead of the checker's clock (clock skew). */
#define VAULTCRED_MAX_SKEW 300

struct vaultcred {
	int version;
	char *service_url, *subscription, *vault_id, *vault_name, *region;
	int64_t issued, expires; /* unix seconds UTC */
	char *cert_pem, *key_pem, *trust_anchor_pem;
};

/*
 * Validate VC by the same rules the parser applies (fields, times, PEMs, key
 * matching the certificate; version must be VAULTCRED_VERSION), then append
 * the XML document to OUT (fixed layout; &, <, >, " and CR escaped, so that
 * parsing the output gives back the same fields). OUT then holds the private
 * key: release it with buf_wipe. Returns 0, or -1 with E set (ERR_CREDENTIALS naming the field
 * and rule, ERR_NOMEM) and OUT as it was before the call.
 */
int vaultcred_write(const struct vaultcred *vc, struct buf *out, struct err *e);

/*
 * Parse and validate the LEN bytes at P (a whole file). Does not keep P.
 * Returns a new struct vaultcred (free with vaultcred_free), or NULL with E
 * set: ERR_CREDENTIALS (over VAULTCRED_MAX_BYTES, not well-formed XML, a DTD
 * or entity, a missing, repeated or unknown element, a field breaking its
 * rule, a PEM OpenSSL refuses, a key not matching the certificate, a
 * certificate issued by the trust anchor whose signature fails),
 * ERR_UNSUPPORTED (a newer format version), or ERR_NOMEM.
 * Does not look at the clock: see vaultcred_check_time.
 * Safe to call from several threads at once: each call has its own libxml2
 * parser context, and the calling thread's libxml2 error handler is borrowed
 * for the parse only and given back (libxml2 keeps it per thread).
 */
struct vaultcred *vaultcred_parse(const uint8_t *p, size_t len, struct err *e);

/*
 * Read the file at PATH (at most VAULTCRED_MAX_BYTES, regular files only)
 * and parse it as vaultcred_parse does. The read bytes are wiped before they
 * are freed. Returns a new struct vaultcred, or NULL with E set: ERR_IO when
 * PATH cannot be read (missing, a folder, no permission, not a regular file;
 * the message names PATH and suggests copying the file to a local folder and
 * retrying; a path over 200 bytes is shown by its end), otherwise as
 * vaultcred_parse, with PATH in the message. PATH NULL is ERR_INVALID.
 */
struct vaultcred *vaultcred_load(const char *path, struct err *e);

/* Free VC and its strings; key_pem is wiped first. VC may be NULL. */
void vaultcred_free(struct vaultcred *vc);

/*
 * Write "<vault name>_<YYYY-MM-DD>.VaultCredentials" for VAULT_NAME and the
 * UTC date of ISSUED into OUT (OUTLEN bytes, NUL included;
 * VAULTCRED_FILENAME_MAX always suffices). Returns 0, or -1 with E set:
 * ERR_INVALID for a vault name that breaks the naming rule, a time outside
 * 1970..9999, or OUT too small.
 */
int vaultcred_filename(const char *vault_name, int64_t issued, char *out, size_t outlen,
		       struct err *e);

/*
 * Check VC's validity period against NOW (unix seconds UTC). Returns 0, or
 * -1 with E set: ERR_EXPIRED with exactly "Vault credentials file provided
 * has expired" when NOW >= expires; ERR_CREDENTIALS when issued lies more
 * than VAULTCRED_MAX_SKEW seconds after NOW (a clock is wrong).
 */
int vaultcred_check_time(const struct vaultcred *vc, int64_t now, struct err *e);

/*
 * Check a vault name against the naming rule of SPEC section 1: 2 to 50
 * characters, ASCII letters, digits and '-', starting with a letter. Returns
 * 0, or -1 with ERR_INVALID and a message that says which part of the rule
 * NAME breaks.
 */
int vaultcred_check_name(const char *name, struct err *e);

#endif
