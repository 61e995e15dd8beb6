/*
 * api/machines.c: machines: registration with vault credentials, the list
 * of a vault's machines, a machine's own record and another's as the source
 * of a restore, deletion and undeletion, the passphrase change (rewrap) and
 * the renewal of a machine's certificate.
 */
#include "internal.h"
#include "ratelimit.h"

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
 *
 * The steps, each of which answers when it refuses: reg_parse (the body),
 * reg_credentials (the certificate is this vault's, valid now),
 * reg_signed (signed by the credentials' key, proven by the master key's
 * verifier), the clock and the nonce, reg_issue (the machine's certificate),
 * then the catalog's registration and reg_refused or reg_accepted.
 */

/* A registration in progress: the request's fields (pointers into J) and
 * decoded values, and what the steps load; reg_free releases it. */
struct reg {
	json_t *j;
	const char *vault_id, *cert_pem, *name, *pub_pem, *nonce;
	int64_t t;
	uint8_t wrapped[KEYS_WRAPPED_LEN + 1], sig[512];
	uint8_t verifier[KEYS_VERIFIER_LEN + 1], proof[KEYS_PROOF_LEN + 1];
	size_t wrapped_len, sig_len;
	char key_id[33], ver_hex[2 * KEYS_VERIFIER_LEN + 1];
	struct buf msg, mcert;     /* the signed message; the issued certificate */
	X509 *cred, *ca, *issued;
	EVP_PKEY *ca_key, *pub;
	struct vault v;
	int64_t cert_expires;
};

static void reg_free(struct reg *r)
{
	buf_free(&r->msg);
	buf_free(&r->mcert);
	X509_free(r->cred);
	X509_free(r->ca);
	X509_free(r->issued);
	EVP_PKEY_free(r->ca_key);
	EVP_PKEY_free(r->pub);
	json_decref(r->j);
}

/* The request's members and their decoded values into R. 0, or -1 after
 * replying 400. */
static int reg_parse(struct call *c, struct reg *r)
{
	const char *wrapped_b64, *sig_b64, *ver_b64, *proof_b64;
	uint8_t kid[KEY_ID_LEN];
	size_t ver_len = 0, proof_len = 0;
	struct err e;
	json_t *jt;
	int bad = 0;

	r->vault_id = member(c, r->j, "vault_id", 1, &bad);
	r->cert_pem = bad ? NULL : member(c, r->j, "credential_certificate", 1, &bad);
	r->name = bad ? NULL : member(c, r->j, "machine_name", 1, &bad);
	r->pub_pem = bad ? NULL : member(c, r->j, "machine_public_key", 1, &bad);
	wrapped_b64 = bad ? NULL : member(c, r->j, "wrapped_key", 1, &bad);
	r->nonce = bad ? NULL : member(c, r->j, "nonce", 1, &bad);
	sig_b64 = bad ? NULL : member(c, r->j, "signature", 1, &bad);
	ver_b64 = bad ? NULL : member(c, r->j, "verifier", 1, &bad);
	proof_b64 = bad ? NULL : member(c, r->j, "proof", 1, &bad);
	if (bad)
		return -1;
	if (!json_is_integer(jt = json_object_get(r->j, "time"))) {
		reply_msg(c, ERR_INVALID, "\"time\" must be the Unix time of the request, an integer");
		return -1;
	}
	r->t = (int64_t)json_integer_value(jt);
	if (check_machine_name(r->name) != 0) {
		reply_msg(c, ERR_INVALID, "machine name must be 1 to 64 letters, digits, '-', '.' or "
			  "'_', starting with a letter or digit");
		return -1;
	}
	if (strlen(r->nonce) < 16 || strlen(r->nonce) > 64) {
		reply_msg(c, ERR_INVALID, "\"nonce\" must be 16 to 64 characters");
		return -1;
	}
	if (sodium_base642bin(r->wrapped, sizeof(r->wrapped), wrapped_b64, strlen(wrapped_b64), NULL,
			      &r->wrapped_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    keys_wrapped_key_id(r->wrapped, r->wrapped_len, kid, &e) != 0) {
		reply_msg(c, ERR_INVALID, "\"wrapped_key\" must be a wrapped master key, in base64");
		return -1;
	}
	sodium_bin2hex(r->key_id, sizeof(r->key_id), kid, sizeof(kid));
	if (sodium_base642bin(r->verifier, sizeof(r->verifier), ver_b64, strlen(ver_b64), NULL,
			      &ver_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    ver_len != KEYS_VERIFIER_LEN ||
	    sodium_base642bin(r->proof, sizeof(r->proof), proof_b64, strlen(proof_b64), NULL,
			      &proof_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    proof_len != KEYS_PROOF_LEN) {
		reply_msg(c, ERR_INVALID, "\"verifier\" must be a 32-byte and \"proof\" a 64-byte "
			  "Ed25519 value, in base64 (docs/API.md, POST /register)");
		return -1;
	}
	sodium_bin2hex(r->ver_hex, sizeof(r->ver_hex), r->verifier, KEYS_VERIFIER_LEN);
	if (sodium_base642bin(r->sig, sizeof(r->sig), sig_b64, strlen(sig_b64), NULL, &r->sig_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		reply_msg(c, ERR_INVALID, "\"signature\" must be base64");
		return -1;
	}
	if ((r->pub = pki_pubkey_parse(r->pub_pem, &e)) == NULL) {
		reply_msg(c, ERR_INVALID, "\"machine_public_key\" must be a PEM public key");
		return -1;
	}
	return 0;
}

/* The credentials: this vault's, issued by its CA, valid now. Loads the
 * vault, its CA and the credentials' certificate into R. 0, or -1 after
 * replying 403. */
static int reg_credentials(struct call *c, struct reg *r)
{
	struct err e;

	if ((r->cred = pki_cert_parse(r->cert_pem, &e)) == NULL ||
	    catalog_vault_by_id(c->s->cat, r->vault_id, &r->v, &e) != 0)
		goto refused;
	/* The vault's CA failing to load is the service's fault, not the
	 * credentials'. */
	if (service_vault_ca(c->s, r->v.id, &r->ca, &r->ca_key, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	if (pki_verify(r->cred, r->ca, c->now, &e) == 0)
		return 0;
refused:
	if (e.code != ERR_EXPIRED)
		e.code = ERR_CREDENTIALS;
	reply_credentials(c, &e);
	return -1;
}

/* Possession of the credentials' key (it signed this registration) and of
 * the verifier's secret key, that is, of the master key it is derived from
 * (what a re-registration must prove). 0, or -1 after replying. */
static int reg_signed(struct call *c, struct reg *r)
{
	char pub_hash[65], wrapped_hash[65], line[640];
	struct err e;
	int n;

	sha256_hex(r->pub_pem, strlen(r->pub_pem), pub_hash);
	sha256_hex(r->wrapped, r->wrapped_len, wrapped_hash);
	n = snprintf(line, sizeof(line), "%s\n%s\n%lld\n%s\n%s\n%s\n%s\n", r->vault_id, r->name,
		     (long long)r->t, r->nonce, pub_hash, wrapped_hash, r->ver_hex);
	if (buf_append(&r->msg, "arca-register-v2\n", 17, &e) != 0 || n < 0 ||
	    (size_t)n >= sizeof(line) || buf_append(&r->msg, line, (size_t)n, &e) != 0) {
		if (n < 0 || (size_t)n >= sizeof(line))
			err_set(&e, ERR_INVALID, "the registration's fields are too long");
		reply_err(c, &e);
		return -1;
	}
	if (pki_check_signature(X509_get0_pubkey(r->cred), r->msg.data, r->msg.len, r->sig,
				r->sig_len, &e) != 0) {
		err_set(&e, ERR_CREDENTIALS, "the registration is not signed by the vault "
			"credentials' private key");
		reply_credentials(c, &e);
		return -1;
	}
	if (keys_proof_check(r->verifier, r->msg.data, r->msg.len, r->proof, &e) != 0) {
		reply_msg(c, ERR_INVALID, "the registration's proof does not verify with its "
			  "verifier: the agent must sign it with the machine's master key");
		return -1;
	}
	return 0;
}

/* The machine's own certificate from the vault's CA, valid a year, into
 * R->mcert. 0, or -1 after replying. */
static int reg_issue(struct call *c, struct reg *r)
{
	struct pki_leaf leaf;
	char cn[160];
	struct err e;

	snprintf(cn, sizeof(cn), "arca machine %s/%s", r->v.name, r->name);
	memset(&leaf, 0, sizeof(leaf));
	leaf.cn = cn;
	leaf.not_before = c->now - 300;
	leaf.not_after = c->now + CERT_SECONDS;
	r->cert_expires = leaf.not_after;
	if ((r->issued = pki_issue(r->ca, r->ca_key, r->pub, &leaf, &e)) == NULL ||
	    pki_cert_pem(r->issued, &r->mcert, &e)) {
		reply_err(c, &e);
		return -1;
	}
	return 0;
}

/* The catalog refused the registration with E (AGAIN: the name is taken by
 * a machine of the vault, M). Answer it; a refused takeover raises an
 * alert, and a key mismatch sends back the machine's wrapped key. */
static void reg_refused(struct call *c, struct reg *r, const struct machine *m, bool again,
			struct err *e)
{
	uint8_t *old = NULL;
	size_t old_len = 0;

	if (e->code == ERR_KEY_MISMATCH && again) {
		struct err ae;
		char amsg[320];

		snprintf(amsg, sizeof(amsg), "a registration with vault credentials under the "
			 "name of machine %s was refused: it did not prove the machine's master "
			 "key. If nobody is reinstalling that machine, someone holds this vault's "
			 "credentials: download new ones, which voids the old", r->name);
		/* Refused either way; a record that fails is on stderr. */
		(void)alert_raise(c->s, r->v.subscription, c->now, "machine.takeover_refused",
				  r->name, amsg, &ae);
		(void)audit_log(c->s, r->v.subscription, c->now, r->name, "machine.takeover_refused",
				r->name, r->v.name, &ae);
	}
	if (e->code == ERR_CREDENTIALS) {
		reply_credentials(c, e);
	} else if (e->code == ERR_KEY_MISMATCH && again &&
		   catalog_machine_wrapped_key(c->s->cat, m->id, &old, &old_len, NULL) == 0) {
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
					     "message", e->msg, "wrapped_key", b64));
	} else {
		reply_err(c, e);
	}
	free(old);
}

/* The machine M is registered (AGAIN: re-registered, which raises an
 * alert): audit it and answer with its certificate. Why a registration
 * that cannot be recorded fails: without its certificate the machine signs
 * nothing, and the agent registers again (proving its master key). */
static void reg_accepted(struct call *c, struct reg *r, const struct machine *m, bool again)
{
	struct err e;

	if (audit_log(c->s, r->v.subscription, c->now, r->name, again ? "machine.reregister"
		      : "machine.register", r->name, r->v.name, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	if (again) {
		char amsg[320];

		snprintf(amsg, sizeof(amsg), "machine %s was registered again, with a new machine key, "
			 "by an agent that proved its master key (its passphrase opened it); its "
			 "recovery points are kept. If nobody reinstalled it, change its passphrase",
			 r->name);
		if (alert_raise(c->s, r->v.subscription, c->now, "machine.reregistered", r->name,
				amsg, &e) != 0) {
			reply_err(c, &e);
			return;
		}
	}
	reply_json(c, 201, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "machine_id", m->id, "machine_name",
				     m->name, "vault_id", r->v.id, "vault_name", r->v.name, "certificate",
				     (const char *)r->mcert.data, "reregistered", again));
}

void h_register(struct call *c)
{
	struct reg r = { .msg = BUF_INIT, .mcert = BUF_INIT };
	struct registration in;
	struct machine m;
	char fp[65], principal[160];
	struct err e;
	bool again = false, ok = false;
	char peer[80];
	int wait;

	/* Failed registrations are limited per client address (service.h);
	 * accepted ones are not counted. */
	snprintf(peer, sizeof(peer), "peer:%s", c->req->peer);
	if (ratelimit_check(c->s->registrations, peer, c->now, &wait, &e) != 0) {
		reply_err(c, &e); /* limits that cannot be read refuse the registration */
		return;
	}
	if (wait > 0) {
		reply_limited(c, wait, "registrations from this address");
		return;
	}
	if ((r.j = body_json(c)) == NULL)
		goto out;
	if (reg_parse(c, &r) != 0 || reg_credentials(c, &r) != 0 || reg_signed(c, &r) != 0 ||
	    check_clock(c, r.t) != 0)
		goto out;
	snprintf(principal, sizeof(principal), "register:%s", r.v.id);
	if (catalog_nonce_use(c->s->cat, principal, r.nonce, c->now, c->now + NONCE_KEEP, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	pki_fingerprint(r.cred, fp);
	if (reg_issue(c, &r) != 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.vault_id = r.v.id;
	in.credential_fingerprint = fp;
	in.name = r.name;
	in.public_key_pem = r.pub_pem;
	in.cert_pem = (const char *)r.mcert.data;
	in.wrapped_key = r.wrapped;
	in.wrapped_len = r.wrapped_len;
	in.key_id = r.key_id;
	in.verifier = r.verifier;
	in.cert_expires = r.cert_expires;
	in.now = c->now;
	if (catalog_machine_register(c->s->cat, &in, &m, &again, &e) != 0) {
		reg_refused(c, &r, &m, again, &e);
	} else {
		reg_accepted(c, &r, &m, again);
		ok = true;
	}
out:
	if (!ok && ratelimit_record(c->s->registrations, peer, c->now, &e) != 0)
		fprintf(stderr, "arcad: recording a failed registration from %s: %s\n",
			c->req->peer, e.msg);
	reg_free(&r);
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
	json_t *args;
	struct err e;
	int gate;

	if (vault_machine(c, &v, &m) != 0)
		return;
	snprintf(target, sizeof(target), "%s/%s", v.name, m.name);
	if (require_pin(c, "delete machine", target) != 0)
		return;
	snprintf(msg, sizeof(msg), "delete machine %s and its recovery points", target);
	args = json_pack("{s:s,s:s,s:s}", "vault_id", v.id, "machine_id", m.id, "target", target);
	gate = approval_gate(c, "machine.delete", target, msg, args);
	json_decref(args);
	if (gate != 0)
		return;
	if (catalog_machine_delete(c->s->cat, v.id, m.name, c->now, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	snprintf(msg, sizeof(msg), "machine %s was deleted by %s; its data can be undeleted for "
		 "%d days", target, c->who.name, CATALOG_SOFT_DELETE_DAYS);
	/* A deletion nobody hears of is what the alert is for: without its
	 * record and its alert, the machine is undeleted and the request
	 * fails (the PIN is spent; pin.used was raised). */
	if (audit(c, "machine.delete", target, "soft delete: restorable for 14 days", &e) != 0 ||
	    alert_raise(c->s, c->who.subscription, c->now, "machine.deleted", target, msg, &e) != 0) {
		struct err ue;

		if (catalog_machine_undelete(c->s->cat, v.id, m.name, &ue) == 0) {
			err_prefix(&e, "machine %s was not deleted: ", target);
		} else {
			fprintf(stderr, "arcad: undeleting machine %s, whose deletion could not be "
				"recorded: %s\n", target, ue.msg);
			err_prefix(&e, "machine %s was deleted, and could not be undeleted: ", target);
		}
		reply_err(c, &e);
		return;
	}
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
	if (audit(c, "machine.undelete", target, "", &e) != 0) {
		reply_err(c, &e); /* undeleted all the same */
		return;
	}
	reply_json(c, 200, json_pack("{s:s}", "undeleted", m.name));
}

/* PUT /machine/wrapped-key {"wrapped_key": base64} (machine, security PIN):
 * a passphrase change. The blob must wrap the same master key, so no data is
 * re-encrypted or uploaded again; the change raises an alert. */
void h_machine_rewrap(struct call *c)
{
	json_t *j = body_json(c);
	const char *b64;
	uint8_t blob[KEYS_WRAPPED_LEN + 1], kid[KEY_ID_LEN], *old = NULL;
	size_t len = 0, old_len = 0;
	char key_id[33], target[160], msg[256];
	json_t *args;
	struct vault v;
	struct err e;
	int bad = 0, gate;

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
	/* The wrapped key it replaces, to put back if the change cannot be
	 * recorded. */
	if (catalog_machine_wrapped_key(c->s->cat, c->machine.id, &old, &old_len, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	if (require_pin(c, "change the passphrase of", target) != 0)
		goto out;
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	/* Held or not, another master key is no passphrase change. */
	if (strcmp(key_id, c->machine.key_id) != 0) {
		reply_msg(c, ERR_INVALID, "this wrapped key holds another master key: a passphrase "
			  "change must wrap the same key");
		goto out;
	}
	snprintf(msg, sizeof(msg), "change the passphrase of machine %s", target);
	args = json_pack("{s:s,s:s,s:s}", "vault_id", v.id, "wrapped_key", b64, "target", target);
	gate = approval_gate(c, "passphrase.change", target, msg, args);
	json_decref(args);
	if (gate != 0)
		goto out;
	sodium_bin2hex(key_id, sizeof(key_id), kid, sizeof(kid));
	if (catalog_machine_set_wrapped_key(c->s->cat, c->machine.id, blob, len, key_id, &e) != 0) {
		reply_err(c, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "the passphrase of machine %s was changed", target);
	/* A passphrase changed in silence could lock the owner out of the
	 * master key: without its record and its alert, the old wrapped key
	 * is put back and the request fails. The agent keeps its old state
	 * on any error, so the two agree either way. */
	if (audit(c, "passphrase.change", target, "", &e) != 0 ||
	    alert_raise(c->s, v.subscription, c->now, "passphrase.changed", target, msg, &e) != 0) {
		struct err ue;

		if (catalog_machine_set_wrapped_key(c->s->cat, c->machine.id, old, old_len,
						    c->machine.key_id, &ue) == 0) {
			err_prefix(&e, "the passphrase was not changed: ");
		} else {
			fprintf(stderr, "arcad: putting back the wrapped key of machine %s, whose "
				"passphrase change could not be recorded: %s\n", target, ue.msg);
			err_prefix(&e, "the passphrase was changed, and the old one could not be put "
				   "back: ");
		}
		reply_err(c, &e);
		goto out;
	}
	reply_json(c, 200, json_pack("{s:s,s:s}", "machine", c->machine.name, "key_id", key_id));
out:
	free(old);
	json_decref(j);
}

/* POST /machine/certificate (machine): a new certificate from the vault's CA
 * for the machine's key, valid a year, in the certificate's last 60 days
 * (ERR_LOCKED before). The agent renews 30 days before expiry; a machine
 * away past it signs nothing and registers again with fresh vault
 * credentials and its passphrase. */
void h_machine_renew(struct call *c)
{
	char *pub_pem = NULL, cn[160];
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
	    service_vault_ca(c->s, v.id, &ca, &ca_key, &e) != 0)
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
	free(pub_pem);
	buf_free(&cert);
	X509_free(ca);
	X509_free(x);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
}
