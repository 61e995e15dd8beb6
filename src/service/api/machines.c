/*
 * api/machines.c: machines: registration with vault credentials, the list
 * of a vault's machines, a machine's own record and another's as the source
 * of a restore, deletion and undeletion, the passphrase change (rewrap) and
 * the renewal of a machine's certificate.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "pki.h"

/* SPEC section 3's exact words, with what was wrong as detail. */
static void reply_credentials(struct call *c, const struct err *why)
{
	int expired = why->code == ERR_EXPIRED;

	reply_json(c, 403, json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				     expired ? "credentials_expired" : "credentials_invalid",
				     "message", expired ? "Vault credentials file provided has expired"
							: "Invalid vault credentials provided",
				     "detail", why->msg));
}

static int check_machine_name(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > 64 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') ||
				     (n[0] >= '0' && n[0] <= '9')))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.' || ch == '_'))
			return -1;
	}
	return 0;
}

/*
 * POST /register: a machine proves it holds the vault credentials' private
 * key by signing what it registers; the service checks the certificate's
 * chain, validity and that it is the vault's latest, then issues the machine
 * its own certificate and keeps its wrapped master key (which it cannot open).
 */
void h_register(struct call *c)
{
	json_t *j = body_json(c), *jt;
	const char *vault_id, *cert_pem, *name, *pub_pem, *wrapped_b64, *nonce, *sig_b64;
	const char *ver_b64, *proof_b64;
	uint8_t wrapped[KEYS_WRAPPED_LEN + 1], sig[512], kid[KEY_ID_LEN];
	uint8_t verifier[KEYS_VERIFIER_LEN + 1], proof[KEYS_PROOF_LEN + 1];
	size_t wrapped_len = 0, sig_len = 0, ver_len = 0, proof_len = 0;
	char pub_hash[65], wrapped_hash[65], fp[65], key_id[33], cn[160];
	char ver_hex[2 * KEYS_VERIFIER_LEN + 1];
	struct buf msg = BUF_INIT, mcert = BUF_INIT;
	X509 *cred = NULL, *ca = NULL, *issued = NULL;
	EVP_PKEY *ca_key = NULL, *pub = NULL;
	char *ca_pem = NULL, *ca_key_pem = NULL;
	struct vault v;
	struct machine m;
	struct registration r;
	struct pki_leaf leaf;
	struct err e;
	int64_t t;
	bool again = false;
	int bad = 0;

	if (j == NULL)
		return;
	vault_id = member(c, j, "vault_id", 1, &bad);
	cert_pem = bad ? NULL : member(c, j, "credential_certificate", 1, &bad);
	name = bad ? NULL : member(c, j, "machine_name", 1, &bad);
	pub_pem = bad ? NULL : member(c, j, "machine_public_key", 1, &bad);
	wrapped_b64 = bad ? NULL : member(c, j, "wrapped_key", 1, &bad);
	nonce = bad ? NULL : member(c, j, "nonce", 1, &bad);
	sig_b64 = bad ? NULL : member(c, j, "signature", 1, &bad);
	ver_b64 = bad ? NULL : member(c, j, "verifier", 1, &bad);
	proof_b64 = bad ? NULL : member(c, j, "proof", 1, &bad);
	if (bad)
		goto out;
	if (!json_is_integer(jt = json_object_get(j, "time"))) {
		reply_msg(c, ERR_INVALID, "\"time\" must be the Unix time of the request, an integer");
		goto out;
	}
	t = (int64_t)json_integer_value(jt);
	if (check_machine_name(name) != 0) {
		reply_msg(c, ERR_INVALID, "machine name must be 1 to 64 letters, digits, '-', '.' or "
			  "'_', starting with a letter or digit");
		goto out;
	}
	if (strlen(nonce) < 16 || strlen(nonce) > 64) {
		reply_msg(c, ERR_INVALID, "\"nonce\" must be 16 to 64 characters");
		goto out;
	}
	if (sodium_base642bin(wrapped, sizeof(wrapped), wrapped_b64, strlen(wrapped_b64), NULL,
			      &wrapped_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(wrapped, wrapped_len, kid, &e) != 0) {
		reply_msg(c, ERR_INVALID, "\"wrapped_key\" must be a wrapped master key, in base64");
		goto out;
	}
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	if (sodium_base642bin(verifier, sizeof(verifier), ver_b64, strlen(ver_b64), NULL, &ver_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || ver_len != KEYS_VERIFIER_LEN ||
	    sodium_base642bin(proof, sizeof(proof), proof_b64, strlen(proof_b64), NULL, &proof_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || proof_len != KEYS_PROOF_LEN) {
		reply_msg(c, ERR_INVALID, "\"verifier\" must be a 32-byte and \"proof\" a 64-byte "
			  "Ed25519 value, in base64 (docs/API.md, POST /register)");
		goto out;
	}
	sodium_bin2hex(ver_hex, sizeof(ver_hex), verifier, KEYS_VERIFIER_LEN);
	if (sodium_base642bin(sig, sizeof(sig), sig_b64, strlen(sig_b64), NULL, &sig_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		reply_msg(c, ERR_INVALID, "\"signature\" must be base64");
		goto out;
	}
	if ((pub = pki_pubkey_parse(pub_pem, &e)) == NULL) {
		reply_msg(c, ERR_INVALID, "\"machine_public_key\" must be a PEM public key");
		goto out;
	}
	/* The credentials: this vault's, issued by its CA, valid now. */
	if ((cred = pki_cert_parse(cert_pem, &e)) == NULL ||
	    catalog_vault_by_id(c->s->cat, vault_id, &v, &e) != 0 ||
	    catalog_vault_ca(c->s->cat, v.id, &ca_pem, &ca_key_pem, &e) != 0 ||
	    (ca = pki_cert_parse(ca_pem, &e)) == NULL || (ca_key = pki_key_parse(ca_key_pem, &e)) == NULL ||
	    pki_verify(cred, ca, c->now, &e) != 0) {
		if (e.code != ERR_EXPIRED)
			e.code = ERR_CREDENTIALS;
		reply_credentials(c, &e);
		goto out;
	}
	/* Possession of the credentials' key: it signed this registration. */
	sha256_hex(pub_pem, strlen(pub_pem), pub_hash);
	sha256_hex(wrapped, wrapped_len, wrapped_hash);
	if (buf_append(&msg, "arca-register-v2\n", 17, &e) != 0)
		goto fail;
	{
		char line[640];
		int n = snprintf(line, sizeof(line), "%s\n%s\n%lld\n%s\n%s\n%s\n%s\n", vault_id, name,
				 (long long)t, nonce, pub_hash, wrapped_hash, ver_hex);

		if (n < 0 || (size_t)n >= sizeof(line) || buf_append(&msg, line, (size_t)n, &e) != 0)
			goto fail;
	}
	if (pki_check_signature(X509_get0_pubkey(cred), msg.data, msg.len, sig, sig_len, &e) != 0) {
		err_set(&e, ERR_CREDENTIALS, "the registration is not signed by the vault "
			"credentials' private key");
		reply_credentials(c, &e);
		goto out;
	}
	/* Possession of the verifier's secret key, that is, of the master key
	 * it is derived from: what a re-registration must prove. */
	if (keys_proof_check(verifier, msg.data, msg.len, proof, &e) != 0) {
		reply_msg(c, ERR_INVALID, "the registration's proof does not verify with its "
			  "verifier: the agent must sign it with the machine's master key");
		goto out;
	}
	if (check_clock(c, t) != 0)
		goto out;
	{
		char principal[160];

		snprintf(principal, sizeof(principal), "register:%s", v.id);
		if (catalog_nonce_use(c->s->cat, principal, nonce, c->now, c->now + NONCE_KEEP,
				      &e) != 0) {
			reply_err(c, &e);
			goto out;
		}
	}
	/* The machine's own certificate from the vault's CA, valid a year. */
	snprintf(cn, sizeof(cn), "arca machine %s/%s", v.name, name);
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = cn;
	leaf.not_before = c->now - 300;
	leaf.not_after = c->now + CERT_SECONDS;
	pki_fingerprint(cred, fp);
	if ((issued = pki_issue(ca, ca_key, pub, &leaf, &e)) == NULL || pki_cert_pem(issued, &mcert, &e))
		goto fail;
	memset(&r, 0, sizeof(r));
	r.vault_id = v.id;
	r.credential_fingerprint = fp;
	r.name = name;
	r.public_key_pem = pub_pem;
	r.cert_pem = (const char *)mcert.data;
	r.wrapped_key = wrapped;
	r.wrapped_len = wrapped_len;
	r.key_id = key_id;
	r.verifier = verifier;
	r.cert_expires = leaf.not_after;
	r.now = c->now;
	if (catalog_machine_register(c->s->cat, &r, &m, &again, &e) != 0) {
		uint8_t *old = NULL;
		size_t old_len = 0;

		if (e.code == ERR_KEY_MISMATCH && again) {
			char amsg[320];

			snprintf(amsg, sizeof(amsg), "a registration with vault credentials under the "
				 "name of machine %s was refused: it did not prove the machine's master "
				 "key. If nobody is reinstalling that machine, someone holds this vault's "
				 "credentials: download new ones, which voids the old", name);
			catalog_alert(c->s->cat, v.subscription, c->now, "machine.takeover_refused", name,
				      amsg, NULL);
			catalog_audit(c->s->cat, v.subscription, c->now, name, "machine.takeover_refused",
				      name, v.name, NULL);
		}
		if (e.code == ERR_CREDENTIALS) {
			reply_credentials(c, &e);
		} else if (e.code == ERR_KEY_MISMATCH && again &&
			   catalog_machine_wrapped_key(c->s->cat, m.id, &old, &old_len, NULL) == 0) {
			/* The machine's wrapped key, which its passphrase opens: the
			 * agent opens it and registers again with the proof of that
			 * master key. A holder of vault credentials can read it
			 * anyway (by registering a machine and asking for
			 * another's), and it opens only with the passphrase. */
			char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];

			sodium_bin2base64(b64, sizeof(b64), old,
					  old_len > KEYS_WRAPPED_LEN ? KEYS_WRAPPED_LEN : old_len,
					  sodium_base64_VARIANT_ORIGINAL);
			reply_json(c, 409, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "key_mismatch",
						     "message", e.msg, "wrapped_key", b64));
		} else {
			reply_err(c, &e);
		}
		free(old);
		goto out;
	}
	catalog_audit(c->s->cat, v.subscription, c->now, name, again ? "machine.reregister"
		      : "machine.register", name, v.name, NULL);
	if (again) {
		char amsg[320];

		snprintf(amsg, sizeof(amsg), "machine %s was registered again, with a new machine key, "
			 "by an agent that proved its master key (its passphrase opened it); its "
			 "recovery points are kept. If nobody reinstalled it, change its passphrase",
			 name);
		catalog_alert(c->s->cat, v.subscription, c->now, "machine.reregistered", name, amsg, NULL);
	}
	reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "machine_id", m.id, "machine_name",
				     m.name, "vault_id", v.id, "vault_name", v.name, "certificate",
				     (const char *)mcert.data, "reregistered", again));
	goto out;
fail:
	reply_err(c, &e);
out:
	if (ca_key_pem)
		sodium_memzero(ca_key_pem, strlen(ca_key_pem));
	free(ca_key_pem);
	free(ca_pem);
	buf_free(&msg);
	buf_free(&mcert);
	X509_free(cred);
	X509_free(ca);
	X509_free(issued);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
	json_decref(j);
}

static json_t *machine_json(const struct machine *m)
{
	char reg[32], seen[32], del[32], cert[32];

	fmt_time(m->registered, reg);
	fmt_time(m->last_seen, seen);
	fmt_time(m->deleted, del);
	fmt_time(m->cert_expires, cert);
	return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s}", "id", m->id, "name", m->name, "key_id",
			 m->key_id, "registered", reg, "last_seen", m->last_seen ? seen : NULL,
			 "deleted", m->deleted ? del : NULL, "certificate_expires", cert);
}

void h_machine_list(struct call *c)
{
	struct vault v;
	struct machine *m = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], &v, &e) != 0 ||
	    catalog_machine_list(c->s->cat, v.id, &m, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, machine_json(&m[i]));
	free(m);
	reply_json(c, 200, json_pack("{s:o,s:i}", "machines", a, "machines_max", CATALOG_MACHINES_MAX));
}

/* GET /machine: the calling machine as the service knows it, with its
 * wrapped master key, from which a lost agent state can be rebuilt. */
void h_machine_self(struct call *c)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	struct err e;
	json_t *j;

	if (catalog_machine_wrapped_key(c->s->cat, c->machine.id, &blob, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (len > KEYS_WRAPPED_LEN)
		len = KEYS_WRAPPED_LEN;
	sodium_bin2base64(b64, sizeof(b64), blob, len, sodium_base64_VARIANT_ORIGINAL);
	free(blob);
	j = machine_json(&c->machine);
	json_object_set_new(j, "vault_id", json_string(c->machine.vault_id));
	json_object_set_new(j, "wrapped_key", json_string(b64));
	reply_json(c, 200, j);
}

/* The machine called arg[0] in the caller's vault, live: the source of a
 * restore on another machine. 0, or -1 after replying 404. */
static int source_machine(struct call *c, struct machine *m)
{
	struct err e;

	if (catalog_machine_by_name(c->s->cat, c->machine.vault_id, c->arg[0], m, &e) != 0 ||
	    m->deleted) {
		reply_msg(c, ERR_NOT_FOUND, "no machine of that name in this vault");
		return -1;
	}
	return 0;
}

/* GET /machines/{name} (machine): another machine of the same vault, with its
 * wrapped master key, for a restore here with that machine's passphrase.
 * Read only: nothing of the source can be changed through it. */
void h_source_machine(struct call *c)
{
	struct machine m;
	uint8_t *blob = NULL;
	size_t len = 0;
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	struct err e;
	json_t *j;

	if (source_machine(c, &m) != 0)
		return;
	if (catalog_machine_wrapped_key(c->s->cat, m.id, &blob, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), blob, len > KEYS_WRAPPED_LEN ? KEYS_WRAPPED_LEN : len,
			  sodium_base64_VARIANT_ORIGINAL);
	free(blob);
	j = machine_json(&m);
	json_object_set_new(j, "wrapped_key", json_string(b64));
	reply_json(c, 200, j);
}

void h_source_points(struct call *c)
{
	struct machine m;
	struct recovery_point *p = NULL;
	size_t n = 0;
	struct err e;
	json_t *a;

	if (source_machine(c, &m) != 0)
		return;
	if (catalog_point_list(c->s->cat, m.id, false, &p, &n, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, point_json(&p[i]));
	free(p);
	reply_json(c, 200, json_pack("{s:s,s:o}", "machine", m.name, "recovery_points", a));
}

void h_machine_delete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[160], msg[512];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (require_pin(c, "delete machine", target) != 0)
		return;
	if (catalog_machine_delete(c->s->cat, v.id, m.name, c->now, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "machine.delete", target, "soft delete: restorable for 14 days");
	snprintf(msg, sizeof(msg), "machine %s was deleted by %s; its data can be undeleted for "
		 "%d days", target, c->who.name, CATALOG_SOFT_DELETE_DAYS);
	catalog_alert(c->s->cat, c->who.subscription, c->now, "machine.deleted", target, msg, NULL);
	reply_json(c, 200, json_pack("{s:s,s:i}", "deleted", m.name, "restorable_days",
				     CATALOG_SOFT_DELETE_DAYS));
}

void h_machine_undelete(struct call *c)
{
	struct vault v;
	struct machine m;
	char target[160];
	struct err e;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (catalog_machine_undelete(c->s->cat, v.id, m.name, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	audit(c, "machine.undelete", target, "");
	reply_json(c, 200, json_pack("{s:s}", "undeleted", m.name));
}

/* PUT /machine/wrapped-key {"wrapped_key": base64} (machine, security PIN):
 * a passphrase change. The blob must wrap the same master key, so no data is
 * re-encrypted or uploaded again; the change raises an alert. */
void h_machine_rewrap(struct call *c)
{
	json_t *j = body_json(c);
	const char *b64;
	uint8_t blob[KEYS_WRAPPED_LEN + 1], kid[KEY_ID_LEN];
	size_t len = 0;
	char key_id[33], target[160], msg[256];
	struct vault v;
	struct err e;
	int bad = 0;

	if (j == NULL)
		return;
	b64 = member(c, j, "wrapped_key", 1, &bad);
	if (bad)
		goto out;
	if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(blob, len, kid, &e) != 0) {
		reply_msg(c, ERR_INVALID, "\"wrapped_key\" must be a wrapped master key, in base64");
		goto out;
	}
	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	/* A person of the subscription generated the PIN in the portal. */
	snprintf(c->who.subscription, sizeof(c->who.subscription), "%s", v.subscription);
	snprintf(c->who.name, sizeof(c->who.name), "machine:%s", c->machine.name);
	snprintf(target, sizeof(target), "%s/%s", v.name, c->machine.name);
	if (require_pin(c, "change the passphrase of", target) != 0)
		goto out;
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	if (catalog_machine_set_wrapped_key(c->s->cat, c->machine.id, blob, len, key_id, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	audit(c, "passphrase.change", target, "");
	snprintf(msg, sizeof(msg), "the passphrase of machine %s was changed", target);
	catalog_alert(c->s->cat, v.subscription, c->now, "passphrase.changed", target, msg, NULL);
	reply_json(c, 200, json_pack("{s:s,s:s}", "machine", c->machine.name, "key_id", key_id));
out:
	json_decref(j);
}

/* POST /machine/certificate (machine): a new certificate from the vault's CA
 * for the machine's key, valid a year, in the certificate's last 60 days
 * (ERR_LOCKED before). The agent renews 30 days before expiry; a machine
 * away past it signs nothing and registers again with fresh vault
 * credentials and its passphrase. */
void h_machine_renew(struct call *c)
{
	char *ca_pem = NULL, *ca_key_pem = NULL, *pub_pem = NULL, cn[160];
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *pub = NULL;
	struct buf cert = BUF_INIT;
	struct pki_leaf leaf;
	struct machine m;
	struct vault v;
	struct err e;

	if (c->machine.cert_expires - c->now > CERT_RENEW_SECONDS) {
		char from[32], msg[200];

		fmt_time(c->machine.cert_expires - CERT_RENEW_SECONDS, from);
		snprintf(msg, sizeof(msg), "this machine's certificate is renewed in its last %d days; "
			 "renew it from %s", CERT_RENEW_SECONDS / 86400, from);
		reply_msg(c, ERR_LOCKED, msg);
		return;
	}
	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, &e) != 0 ||
	    catalog_machine_get(c->s->cat, c->machine.id, &m, &pub_pem, &e) != 0 ||
	    (pub = pki_pubkey_parse(pub_pem, &e)) == NULL ||
	    catalog_vault_ca(c->s->cat, v.id, &ca_pem, &ca_key_pem, &e) != 0 ||
	    (ca = pki_cert_parse(ca_pem, &e)) == NULL || (ca_key = pki_key_parse(ca_key_pem, &e)) == NULL)
		goto fail;
	snprintf(cn, sizeof(cn), "arca machine %s/%s", v.name, m.name);
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = cn;
	leaf.not_before = c->now - 300;
	leaf.not_after = c->now + CERT_SECONDS;
	if ((x = pki_issue(ca, ca_key, pub, &leaf, &e)) == NULL || pki_cert_pem(x, &cert, &e) ||
	    catalog_machine_set_cert(c->s->cat, m.id, (const char *)cert.data, c->now,
				     leaf.not_after, &e))
		goto fail;
	reply_json(c, 201, json_pack("{s:s}", "certificate", (const char *)cert.data));
	goto out;
fail:
	reply_err(c, &e);
out:
	if (ca_key_pem)
		sodium_memzero(ca_key_pem, strlen(ca_key_pem));
	free(ca_key_pem);
	free(ca_pem);
	free(pub_pem);
	buf_free(&cert);
	X509_free(ca);
	X509_free(x);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
}
