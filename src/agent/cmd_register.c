/*
 * cmd_register.c: `arca register`, SPEC section 4 steps 1 to 4: check the
 * vault credentials, settle the encryption passphrase and save it (the
 * recovery kit), make the machine's keys, register with the service, and
 * write the agent's state. Nothing is registered unless the passphrase was
 * saved first; nothing is written to the install folder unless the service
 * registered the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "client.h"
#include "cmd.h"
#include "exitcode.h"
#include "keys.h"
#include "opts.h"
#include "passphrase.h"
#include "reply.h"
#include "state.h"
#include "term.h"
#include "vaultcred.h"

static const char usage_text[] =
	"usage: arca register --vault-credentials FILE [--home DIR] [--cache DIR]\n"
	"         [--machine-name NAME] [--proxy URL [--proxy-user USER]\n"
	"         [--proxy-password-file FILE]]\n"
	"         [--generate-passphrase | --passphrase-file FILE]\n"
	"         [--passphrase-out FILE | --confirm-saved] [--json]\n";

static const char keep_away[] =
	"Keep the passphrase in a secure location away from this machine (on paper, in a\n"
	"password manager, or on a drive kept elsewhere). A lost passphrase cannot be\n"
	"recovered by anyone, not even the vault service: without it these backups\n"
	"cannot be restored.\n";

/* Make DIR (and its parents) with MODE for the last one. */
int mkdirs(const char *dir, int mode, struct err *e)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return err_set(e, ERR_INVALID, "bad folder name '%s'", dir);
	memcpy(p, dir, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return err_errno(e, "cannot make the folder %s", p);
		*s = '/';
	}
	if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
		return err_errno(e, "cannot make the folder %s", p);
	return 0;
}

static int write_kit(const char *path, const char *pass, const struct vaultcred *vc,
		     const char *machine, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f;
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	if (fd < 0)
		return err_errno(e, "cannot write the recovery kit %s%s", path,
				 errno == EEXIST ? " (a file of that name exists: choose another "
						   "name, nothing is overwritten)" : "");
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	f = fdopen(fd, "w");
	fprintf(f,
		"arca recovery kit\n"
		"\n"
		"Passphrase:   %s\n"
		"Vault:        %s (%s)\n"
		"Machine:      %s\n"
		"Service:      %s\n"
		"Subscription: %s\n"
		"Created:      %s\n"
		"\n%s\n"
		"To restore this machine's files on another machine, register that machine\n"
		"to the same vault with fresh vault credentials, then run\n"
		"  arca restore --from-machine %s latest --target DIR\n"
		"and give this passphrase when asked.\n",
		pass, vc->vault_name, vc->vault_id, machine, vc->service_url, vc->subscription,
		when, keep_away, machine);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		err_errno(e, "cannot write the recovery kit %s", path);
		fclose(f);
		unlink(path);
		return -1;
	}
	fclose(f);
	return 0;
}

static int cred_exit(const struct err *e)
{
	if (e->code == ERR_EXPIRED)
		return EXIT_CRED_EXPIRED;
	if (e->code == ERR_CREDENTIALS || e->code == ERR_IO)
		return EXIT_CRED_INVALID;
	return EXIT_FAIL;
}

static void cred_message(const struct err *e)
{
	if (e->code == ERR_EXPIRED && strncmp(e->msg, "Vault credentials", 17) != 0)
		fprintf(stderr, "Vault credentials file provided has expired\n  %s\n", e->msg);
	else if (e->code == ERR_CREDENTIALS && strncmp(e->msg, "Invalid vault", 13) != 0)
		fprintf(stderr, "Invalid vault credentials provided\n  %s\n", e->msg);
	else
		fprintf(stderr, "%s\n", e->msg);
	if (e->code == ERR_EXPIRED || e->code == ERR_CREDENTIALS)
		fprintf(stderr, "  Download a new vault credentials file from the vault's Quick "
				"Start page and retry.\n");
}

struct reg_args {
	const char *creds, *home, *cache, *name, *proxy, *proxy_user, *proxy_pw_file;
	const char *pass_file, *kit;
	int generate, confirmed, json;
};

static int parse(int argc, char **argv, struct reg_args *a)
{
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &a->json },
		{ "--generate-passphrase", OPT_FLAG, &a->generate },
		{ "--confirm-saved", OPT_FLAG, &a->confirmed },
		{ "--vault-credentials", OPT_VALUE, &a->creds },
		{ "--home", OPT_VALUE, &a->home },
		{ "--cache", OPT_VALUE, &a->cache },
		{ "--machine-name", OPT_VALUE, &a->name },
		{ "--proxy", OPT_VALUE, &a->proxy },
		{ "--proxy-user", OPT_VALUE, &a->proxy_user },
		{ "--proxy-password-file", OPT_VALUE, &a->proxy_pw_file },
		{ "--passphrase-file", OPT_VALUE, &a->pass_file },
		{ "--passphrase-out", OPT_VALUE, &a->kit },
		{ "--recovery-kit", OPT_VALUE, &a->kit },
		{ NULL, OPT_FLAG, NULL },
	};
	struct err e;

	memset(a, 0, sizeof(*a));
	a->home = STATE_HOME_DEFAULT;
	a->cache = NULL;
	if (opt_parse(table, argc, argv, 1, NULL, &e) != 0) {
		fprintf(stderr, "arca register: %s\n%s", e.msg, usage_text);
		return -1;
	}
	if (a->creds == NULL) {
		fprintf(stderr, "arca register: --vault-credentials FILE is required\n%s",
			usage_text);
		return -1;
	}
	if (a->generate && a->pass_file) {
		fprintf(stderr, "arca register: choose --generate-passphrase or "
				"--passphrase-file, not both\n");
		return -1;
	}
	return 0;
}

/* Settle the passphrase: generated, from a file, or asked twice. */
static int get_passphrase(const struct reg_args *a, char *pass, size_t size, int *generated,
			  struct err *e)
{
	char again[PASSPHRASE_MAX_BYTES + 2];

	*generated = 0;
	if (a->generate)
		return *generated = 1, passphrase_generate(pass, e);
	if (a->pass_file)
		return term_read_secret_file(a->pass_file, pass, size, e) ||
		       passphrase_check(pass, e);
	if (!term_interactive())
		return err_set(e, ERR_INVALID, "choose the encryption passphrase: "
					       "--generate-passphrase, or --passphrase-file FILE");
	for (;;) {
		if (term_ask("Passphrase (at least 16 characters; empty to generate one): ", 1,
			     pass, size, e))
			return -1;
		if (pass[0] == '\0') {
			*generated = 1;
			return passphrase_generate(pass, e);
		}
		if (passphrase_check(pass, e) != 0) {
			fprintf(stderr, "%s\n", e->msg);
			continue;
		}
		if (term_ask("Passphrase again: ", 1, again, sizeof(again), e))
			return -1;
		if (strcmp(pass, again) == 0)
			break;
		fprintf(stderr, "The two passphrases differ; try again.\n");
	}
	sodium_memzero(again, sizeof(again));
	return 0;
}

/* Make sure the passphrase is saved before anything is registered. */
static int save_passphrase(const struct reg_args *a, const char *pass, int generated,
			   const struct vaultcred *vc, const char *machine, const char **kit,
			   struct err *e)
{
	char answer[64], path[1024];

	*kit = NULL;
	if (a->kit) {
		if (write_kit(a->kit, pass, vc, machine, e))
			return -1;
		*kit = a->kit;
		return 0;
	}
	if (a->confirmed && !generated)
		return 0;
	if (!term_interactive())
		return err_set(e, ERR_INVALID, "registration finishes only once the passphrase is "
					       "saved: give --passphrase-out FILE for a recovery "
					       "kit%s", generated ? "" : ", or --confirm-saved once "
					       "you have written it down");
	if (generated)
		fprintf(stderr, "Your passphrase is:\n\n    %s\n\n", pass);
	fprintf(stderr, "%s", keep_away);
	for (;;) {
		if (term_ask("Save a recovery kit to which file? (empty if you wrote the "
			     "passphrase down): ", 0, path, sizeof(path), e))
			return -1;
		if (path[0]) {
			if (write_kit(path, pass, vc, machine, e) == 0) {
				static char kept[1024];

				snprintf(kept, sizeof(kept), "%s", path);
				*kit = kept;
				return 0;
			}
			fprintf(stderr, "%s\n", e->msg);
			continue;
		}
		if (term_ask("Type 'saved' once the passphrase is written down: ", 0, answer,
			     sizeof(answer), e))
			return -1;
		if (strcmp(answer, "saved") == 0)
			return 0;
	}
}

/* POST /register (docs/API.md): the message signed by the credentials' key
 * and, as the proof that this agent holds the machine's master key, by the
 * verifier key derived from KEYS. */
static int do_register(struct client *c, const struct vaultcred *vc, const char *name,
		       const char *pub_pem, const struct buf *wrapped, const struct keys *keys,
		       json_t **out, struct err *e)
{
	EVP_PKEY *ckey = NULL;
	BIO *bio = BIO_new_mem_buf(vc->key_pem, -1);
	char t[24], nonce[33], hpub[65], hwrap[65], hver[2 * KEYS_VERIFIER_LEN + 1];
	char ver64[sodium_base64_ENCODED_LEN(KEYS_VERIFIER_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char proof64[sodium_base64_ENCODED_LEN(KEYS_PROOF_LEN, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t nb[16], ver[KEYS_VERIFIER_LEN], proof[KEYS_PROOF_LEN];
	struct buf msg = BUF_INIT, sig = BUF_INIT;
	char *b64 = NULL;
	size_t b64len = sodium_base64_ENCODED_LEN(wrapped->len, sodium_base64_VARIANT_ORIGINAL);
	json_t *body = NULL;
	int rc = -1;

	if (bio == NULL || (ckey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		err_set(e, ERR_CREDENTIALS, "Invalid vault credentials provided\n  the private "
					    "key cannot be read");
		goto out;
	}
	snprintf(t, sizeof(t), "%lld", (long long)state_now());
	randombytes_buf(nb, sizeof(nb));
	sodium_bin2hex(nonce, sizeof(nonce), nb, sizeof(nb));
	client_sha256_hex(pub_pem, strlen(pub_pem), hpub);
	client_sha256_hex(wrapped->data, wrapped->len, hwrap);
	keys_verifier(keys, ver);
	sodium_bin2hex(hver, sizeof(hver), ver, sizeof(ver));
	if (buf_append(&msg, "arca-register-v2\n", 17, e))
		goto out;
	{
		const char *parts[] = { vc->vault_id, name, t, nonce, hpub, hwrap, hver };

		for (size_t i = 0; i < 7; i++)
			if (buf_append(&msg, parts[i], strlen(parts[i]), e) ||
			    buf_append(&msg, "\n", 1, e))
				goto out;
	}
	if (client_sign_b64(ckey, msg.data, msg.len, &sig, e))
		goto out;
	keys_prove(keys, msg.data, msg.len, proof);
	sodium_bin2base64(ver64, sizeof(ver64), ver, sizeof(ver), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(proof64, sizeof(proof64), proof, sizeof(proof),
			  sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(b64len)) == NULL) {
		err_oom(e);
		goto out;
	}
	sodium_bin2base64(b64, b64len, wrapped->data, wrapped->len,
			  sodium_base64_VARIANT_ORIGINAL);
	body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "vault_id", vc->vault_id,
			 "credential_certificate", vc->cert_pem, "machine_name", name,
			 "machine_public_key", pub_pem, "wrapped_key", b64, "time",
			 (json_int_t)strtoll(t, NULL, 10), "nonce", nonce, "signature",
			 (const char *)sig.data, "verifier", ver64, "proof", proof64);
	if (body == NULL) {
		err_oom(e);
		goto out;
	}
	if ((*out = client_json(c, "POST", "/register", body, NULL, NULL, e)) != NULL)
		rc = 0;
out:
	json_decref(body);
	free(b64);
	buf_free(&msg);
	buf_free(&sig);
	BIO_free(bio);
	EVP_PKEY_free(ckey);
	return rc;
}

/* The machine NAME exists with another master key: the service answered
 * with its wrapped key. If PASS opens it, register again with that master
 * key (its points stay readable) and replace *KEYS and *WRAPPED. 0 when
 * registered, else -1 with E saying what to do. */
static int takeover(struct client *c, const struct vaultcred *vc, const char *name,
		    const char *pub, const char *pass, struct keys **keys, struct buf *wrapped,
		    json_t **ans, struct err *e)
{
	json_t *body = client_error_body(c);
	uint8_t blob[KEYS_WRAPPED_LEN];
	size_t len = KEYS_WRAPPED_LEN;
	struct keys *old;
	struct err oe;

	/* Only the 409 key_mismatch answer carries the machine's wrapped key;
	 * any other failure stands as it is. */
	if (json_object_get(body, "wrapped_key") == NULL)
		return -1;
	if (reply_wrapped_key(body, blob, &oe))
		return err_set(e, ERR_CORRUPT, "machine %s is registered already, with another "
			       "master key, and the service's copy of its key cannot be read (%s); "
			       "choose another --machine-name, or report this to the service's "
			       "operator", name, oe.msg);
	if ((old = keys_unwrap(blob, len, pass, &oe)) == NULL)
		return err_set(e, ERR_PASSPHRASE, "machine %s is registered already, with another "
			       "passphrase. To take it over (keeping its recovery points), register "
			       "with that machine's passphrase (--passphrase-file, from its recovery "
			       "kit); or choose another --machine-name", name);
	keys_free(*keys);
	*keys = old;
	buf_wipe(wrapped);
	if (keys_wrap(old, pass, NULL, wrapped, e))
		return -1;
	return do_register(c, vc, name, pub, wrapped, old, ans, e);
}

static char *pem_of(EVP_PKEY *k, int private)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *s = NULL;
	long n;

	if (b && (private ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
			  : PEM_write_bio_PUBKEY(b, k)) == 1 &&
	    (n = BIO_get_mem_data(b, &p)) > 0 && (s = malloc((size_t)n + 1)) != NULL) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(b);
	return s;
}

/* Write the agent's state for the machine the service registered (ANS):
 * its settings (S, kept from a registration before when REREG), keys,
 * certificate and trust anchor under A->home. 0, or -1 with E set. */
static int write_state(const struct reg_args *a, const struct vaultcred *vc, json_t *ans,
		       const char *name, int rereg, const char *priv, const struct keys *keys,
		       const struct buf *wrapped, const char *proxy_pass, struct state *s,
		       struct err *e)
{
	char cache_def[4200];
	const char *id, *cert = json_string_value(json_object_get(ans, "certificate"));

	snprintf(cache_def, sizeof(cache_def), "%s", a->cache ? a->cache : STATE_CACHE_DEFAULT);
	if (!rereg) {
		state_free(s);
		memset(s, 0, sizeof(*s));
		s->work_start = 9, s->work_end = 17;
	}
	free(s->home), free(s->service_url), free(s->vault_id), free(s->vault_name);
	free(s->subscription), free(s->region), free(s->machine_id), free(s->machine_name);
	s->home = strdup(a->home);
	s->service_url = strdup(vc->service_url);
	s->vault_id = strdup(vc->vault_id);
	s->vault_name = strdup(vc->vault_name);
	s->subscription = strdup(vc->subscription);
	s->region = strdup(vc->region);
	s->machine_id = NULL;
	s->machine_name = strdup(name);
	if ((id = reply_register(ans, e)) == NULL)
		return err_prefix(e, "nothing was written to %s: ", a->home);
	s->machine_id = strdup(id);
	if (!rereg || a->cache) {
		free(s->cache);
		s->cache = strdup(cache_def);
	}
	if (a->proxy) {
		free(s->proxy), free(s->proxy_user);
		s->proxy = strdup(a->proxy);
		s->proxy_user = a->proxy_user ? strdup(a->proxy_user) : NULL;
	}
	if (mkdirs(a->home, 0700, e) || chmod(a->home, 0700) != 0 ||
	    mkdirs(s->cache, 0700, e) ||
	    state_write_file(a->home, "ca.pem", vc->trust_anchor_pem,
			     strlen(vc->trust_anchor_pem), 0644, e) ||
	    state_write_file(a->home, "machine.key", priv, strlen(priv), 0600, e) ||
	    state_write_file(a->home, "machine.pem", cert ? cert : "", cert ? strlen(cert) : 0,
			     0644, e) ||
	    state_write_file(a->home, "master.key", keys->master, KEY_LEN, 0600, e) ||
	    state_write_file(a->home, "wrapped.key", wrapped->data, wrapped->len, 0600, e) ||
	    (proxy_pass[0] && state_write_file(a->home, "proxy.pass", proxy_pass,
					       strlen(proxy_pass), 0600, e)) ||
	    state_save(s, e))
		return -1;
	return 0;
}

/* Say what was registered: JSON with --json, else a few lines for a person. */
static void show_result(const struct reg_args *a, const struct state *s, json_t *ans,
			const char *kit, int generated, int rereg)
{
	int again = json_is_true(json_object_get(ans, "reregistered"));

	if (a->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:b,s:b}", "machine_id",
				      s->machine_id, "machine_name", s->machine_name, "vault",
				      s->vault_name, "home", s->home, "cache", s->cache,
				      "recovery_kit", kit, "passphrase_generated", generated,
				      "reregistered", again);

		cmd_print_json(o);
		json_decref(o);
		return;
	}
	printf("Machine %s is registered to vault %s%s.\n", s->machine_name, s->vault_name,
	       again ? " (registered again: its recovery points are kept)" : "");
	if (kit)
		printf("The recovery kit with the passphrase is in %s.\n", kit);
	if (!rereg)
		printf("%s", keep_away);
	printf("Back up now with: arca backup%s%s PATH ...\n",
	       strcmp(a->home, STATE_HOME_DEFAULT) ? " --home " : "",
	       strcmp(a->home, STATE_HOME_DEFAULT) ? a->home : "");
}

int cmd_register(int argc, char **argv)
{
	struct reg_args a;
	struct vaultcred *vc = NULL;
	struct err e;
	char pass[PASSPHRASE_MAX_BYTES + 2] = "", host[256];
	char proxy_pass[1024] = "";
	const char *kit = NULL, *name;
	struct keys *keys = NULL;
	struct buf wrapped = BUF_INIT, old = BUF_INIT;
	EVP_PKEY *mkey = NULL;
	char *pub = NULL, *priv = NULL;
	struct client *c = NULL;
	json_t *ans = NULL;
	struct state s;
	int generated = 0, rc = EXIT_FAIL, rereg = 0;
	char path[4200];

	memset(&s, 0, sizeof(s));
	err_clear(&e);
	if (parse(argc, argv, &a))
		return EXIT_USAGE;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "machine");
	host[sizeof(host) - 1] = '\0';
	name = a.name ? a.name : host;

	/* 1-2: vault identification. */
	if ((vc = vaultcred_load(a.creds, &e)) == NULL ||
	    vaultcred_check_time(vc, state_now(), &e) != 0) {
		cred_message(&e);
		rc = cred_exit(&e);
		goto out;
	}
	if (a.proxy_pw_file &&
	    term_read_secret_file(a.proxy_pw_file, proxy_pass, sizeof(proxy_pass), &e)) {
		fprintf(stderr, "arca register: %s\n", e.msg);
		goto out;
	}
	if (a.proxy_user && !a.proxy_pw_file && term_interactive() &&
	    term_ask("Proxy password: ", 1, proxy_pass, sizeof(proxy_pass), &e)) {
		fprintf(stderr, "arca register: %s\n", e.msg);
		goto out;
	}

	/* 3: encryption setting. An agent already installed here registers
	 * again with its own master key, which the passphrase must open. */
	snprintf(path, sizeof(path), "%s/wrapped.key", a.home);
	if (access(path, F_OK) == 0) {
		struct err e2;

		rereg = 1;
		/* The old install's keys are read below: not from files others
		 * could have read or replaced. */
		if (state_check_private(a.home, &e) != 0)
			goto fail;
		if (state_load(&s, a.home, 1, &e2) == 0 && strcmp(s.vault_id, vc->vault_id) != 0) {
			fprintf(stderr, "arca register: %s holds a machine of vault %s; these "
					"credentials are for vault %s. Use another --home.\n",
				a.home, s.vault_name ? s.vault_name : s.vault_id, vc->vault_name);
			rc = EXIT_USAGE;
			goto out;
		}
		if (a.name == NULL && s.machine_name)
			name = s.machine_name;
		if (a.pass_file == NULL && !term_interactive()) {
			fprintf(stderr, "arca register: this agent is registered already; to "
					"register it again give its passphrase "
					"(--passphrase-file FILE)\n");
			rc = EXIT_USAGE;
			goto out;
		}
		if (a.pass_file ? term_read_secret_file(a.pass_file, pass, sizeof(pass), &e)
				: term_ask("Passphrase of this machine: ", 1, pass, sizeof(pass), &e))
			goto fail;
		if (state_read_file(path, 4096, &old, &e) ||
		    (keys = keys_unwrap(old.data, old.len, pass, &e)) == NULL)
			goto fail;
	} else {
		if (get_passphrase(&a, pass, sizeof(pass), &generated, &e))
			goto fail;
		if (save_passphrase(&a, pass, generated, vc, name, &kit, &e))
			goto fail;
		if ((keys = keys_generate(&e)) == NULL)
			goto fail;
	}
	if (keys_wrap(keys, pass, NULL, &wrapped, &e))
		goto fail;
	if ((mkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (pub = pem_of(mkey, 0)) == NULL || (priv = pem_of(mkey, 1)) == NULL) {
		err_set(&e, ERR_CRYPTO, "cannot make the machine key");
		goto fail;
	}

	/* 4: register. */
	{
		struct client_opts o = { vc->service_url, vc->trust_anchor_pem, a.proxy,
					 a.proxy_user, proxy_pass[0] ? proxy_pass : NULL };

		if ((c = client_new(&o, &e)) == NULL)
			goto fail;
	}
	if (do_register(c, vc, name, pub, &wrapped, keys, &ans, &e) &&
	    takeover(c, vc, name, pub, pass, &keys, &wrapped, &ans, &e)) {
		if (kit)
			unlink(kit);
		if (e.code == ERR_EXPIRED || e.code == ERR_CREDENTIALS) {
			cred_message(&e);
			rc = cred_exit(&e);
			goto out;
		}
		goto fail;
	}

	/* The service registered the machine: write the agent's state. */
	if (write_state(&a, vc, ans, name, rereg, priv, keys, &wrapped, proxy_pass, &s, &e))
		goto fail;
	show_result(&a, &s, ans, kit, generated, rereg);
	rc = EXIT_OK;
	goto out;
fail:
	cmd_error("register", a.json, &e);
	rc = e.code == ERR_PASSPHRASE ? EXIT_PASSPHRASE : EXIT_FAIL;
out:
	sodium_memzero(pass, sizeof(pass));
	sodium_memzero(proxy_pass, sizeof(proxy_pass));
	if (priv) {
		sodium_memzero(priv, strlen(priv));
		free(priv);
	}
	free(pub);
	json_decref(ans);
	client_free(c);
	EVP_PKEY_free(mkey);
	buf_wipe(&wrapped);
	buf_free(&old);
	keys_free(keys);
	vaultcred_free(vc);
	state_free(&s);
	return rc;
}
