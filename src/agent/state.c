/*
 * state.c: the agent's install folder.
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
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "agentconf.h"
#include "clock.h"
#include "secfile.h"
#include "state.h"

static int write_file(const char *dir, const char *name, const void *p, size_t len, int mode,
		      int sync, struct err *e)
{
	char path[4096], tmp[4200];
	int fd, dfd;
	const uint8_t *b = p;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return err_errno(e, "cannot write %s", tmp);
	fchmod(fd, (mode_t)mode);
	while (len > 0) {
		ssize_t w = write(fd, b, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_errno(e, "cannot write %s", tmp);
			close(fd);
			unlink(tmp);
			return -1;
		}
		b += w, len -= (size_t)w;
	}
	if ((sync && fsync(fd) != 0) || close(fd) != 0) {
		err_errno(e, "cannot write %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		err_errno(e, "cannot rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (sync && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int state_write_file(const char *dir, const char *name, const void *p, size_t len, int mode,
		     struct err *e)
{
	return write_file(dir, name, p, len, mode, 1, e);
}

int state_write_hint(const char *dir, const char *name, const void *p, size_t len, int mode,
		     struct err *e)
{
	return write_file(dir, name, p, len, mode, 0, e);
}

int state_read_file(const char *path, size_t max, struct buf *out, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *p;
	ssize_t r;

	if (fd < 0)
		return err_errno(e, "cannot read %s", path);
	for (;;) {
		if ((p = buf_extend(out, 65536, e)) == NULL) {
			close(fd);
			return -1;
		}
		r = read(fd, p, 65536);
		if (r < 0 && errno == EINTR) {
			out->len -= 65536;
			continue;
		}
		if (r < 0) {
			out->len -= 65536;
			close(fd);
			return err_errno(e, "cannot read %s", path);
		}
		out->len -= 65536 - (size_t)r;
		if (r == 0)
			break;
		if (out->len > max) {
			close(fd);
			return err_set(e, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max);
		}
	}
	close(fd);
	return 0;
}

/* E (a parser's refusal of PATH) as what the person at the keyboard reads. */
static int state_damaged(const char *path, const char *home, struct err *e)
{
	char why[ERR_MSG_MAX];

	if (e == NULL)
		return -1;
	snprintf(why, sizeof(why), "%s", e->msg);
	return err_set(e, e->code, "%s is damaged: %s; fix it, or register again with 'arca "
		       "register --vault-credentials FILE --home %s' (recovery points are kept)",
		       path, why, home);
}

const char *state_home_arg(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--home") == 0)
			return argv[i + 1];
	return STATE_HOME_DEFAULT;
}

/* The files of the install folder that hold secrets, or that say where
 * the agent sends them (agent.json names the service and the proxy). */
static const char *const private_files[] = {
	"agent.json", "machine.key", "master.key", "wrapped.key", "wrapped-2.key", "proxy.pass",
	"wrapped-pending.key",
};

int state_check_private(const char *home, struct err *e)
{
	char path[4096];
	struct err fe;

	if (secfile_check_dir(home, e) != 0)
		return err_prefix(e, "the agent's install folder: ");
	for (size_t i = 0; i < sizeof(private_files) / sizeof(private_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", home, private_files[i]);
		if (secfile_check(path, &fe) == 0 || fe.code == ERR_NOT_FOUND)
			continue;
		*e = fe;
		return -1;
	}
	return 0;
}

int state_load(struct state *s, const char *home, int with_keys, struct err *e)
{
	char path[4096];
	struct buf b = BUF_INIT;
	BIO *bio;

	memset(s, 0, sizeof(*s));
	if ((s->home = strdup(home)) == NULL)
		return err_oom(e);
	snprintf(path, sizeof(path), "%s/agent.json", home);
	if (access(path, F_OK) != 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOT_FOUND,
				       "no agent is registered in %s: run 'arca register "
				       "--vault-credentials FILE --home %s' first", home, home);
		return err_errno(e, "cannot read %s (the agent's state is readable by root only)",
				 path);
	}
	/* Why before reading anything: a key others can read is no longer
	 * this machine's alone, and a file others can write may be theirs. */
	if (state_check_private(home, e) != 0)
		return -1;
	if (state_read_file(path, 1 << 20, &b, e))
		return -1;
	if (agentconf_parse((const char *)b.data, b.len, s, e)) {
		buf_free(&b);
		return state_damaged(path, home, e);
	}
	buf_free(&b);

	snprintf(path, sizeof(path), "%s/ca.pem", home);
	if (state_read_file(path, 1 << 20, &b, e) || buf_append_u8(&b, 0, e))
		return -1;
	s->ca_pem = (char *)b.data;
	b = (struct buf)BUF_INIT;
	if (s->proxy_user) {
		snprintf(path, sizeof(path), "%s/proxy.pass", home);
		if (state_read_file(path, 4096, &b, e) == 0 && buf_append_u8(&b, 0, e) == 0) {
			s->proxy_pass = (char *)b.data;
			b = (struct buf)BUF_INIT;
		}
		buf_free(&b);
	}
	snprintf(path, sizeof(path), "%s/machine.key", home);
	if ((bio = BIO_new_file(path, "r")) == NULL)
		return err_set(e, ERR_IO, "cannot read the machine key %s", path);
	s->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (s->key == NULL)
		return err_set(e, ERR_CORRUPT, "the machine key %s is damaged", path);
	if (with_keys) {
		snprintf(path, sizeof(path), "%s/master.key", home);
		if (state_read_file(path, 64, &b, e))
			return -1;
		if (b.len != KEY_LEN) {
			buf_wipe(&b);
			return err_set(e, ERR_CORRUPT, "%s is damaged", path);
		}
		s->keys = keys_from_master(b.data, e);
		buf_wipe(&b);
		if (s->keys == NULL)
			return -1;
	}
	return 0;
}

int state_save(const struct state *s, struct err *e)
{
	char *text = agentconf_dump(s, e);
	int rc;

	if (text == NULL)
		return -1;
	rc = state_write_file(s->home, "agent.json", text, strlen(text), 0600, e);
	free(text);
	return rc;
}

void state_free(struct state *s)
{
	free(s->home);
	free(s->service_url);
	free(s->vault_id);
	free(s->vault_name);
	free(s->subscription);
	free(s->region);
	free(s->machine_id);
	free(s->machine_name);
	free(s->cache);
	free(s->proxy);
	free(s->proxy_user);
	if (s->proxy_pass) {
		sodium_memzero(s->proxy_pass, strlen(s->proxy_pass));
		free(s->proxy_pass);
	}
	free(s->ca_pem);
	EVP_PKEY_free(s->key);
	keys_free(s->keys);
	memset(s, 0, sizeof(*s));
}

int64_t state_now(void)
{
	return clock_now();
}

uint64_t state_rate_now(const struct state *s)
{
	time_t t = (time_t)state_now();
	struct tm tm;
	int work;

	localtime_r(&t, &tm);
	if (s->work_start < s->work_end)
		work = tm.tm_wday >= 1 && tm.tm_wday <= 5 && tm.tm_hour >= s->work_start &&
		       tm.tm_hour < s->work_end;
	else
		work = 0;
	return work ? s->rate_work : s->rate_other;
}

struct client *state_client(const struct state *s, struct err *e)
{
	struct client_opts o = { s->service_url, s->ca_pem, s->proxy, s->proxy_user,
				 s->proxy_pass };
	struct client *c = client_new(&o, e);

	if (c) {
		client_set_machine(c, s->machine_id, s->key);
		client_set_rate(c, state_rate_now(s));
	}
	return c;
}

int state_sync_wrapped(const struct state *s, struct client *c, struct err *e)
{
	struct buf pending = BUF_INIT;
	uint8_t blob[1024];
	char path[4200];
	const char *b64;
	json_t *me = NULL;
	size_t len = 0;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/wrapped-pending.key", s->home);
	if (access(path, F_OK) != 0)
		return 0;
	if (state_read_file(path, sizeof(blob), &pending, e) != 0 ||
	    (me = client_json(c, "GET", "/machine", NULL, NULL, NULL, e)) == NULL)
		goto out;
	if ((b64 = json_string_value(json_object_get(me, "wrapped_key"))) == NULL ||
	    sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		err_set(e, ERR_IO, "the service's answer about this machine has no wrapped key");
		goto out;
	}
	rc = 0;
	if (len != pending.len || memcmp(blob, pending.data, len) != 0)
		goto out; /* still waiting, or refused: the service holds the old one */
	if (state_write_file(s->home, "wrapped.key", blob, len, 0600, e) != 0) {
		rc = -1;
		goto out;
	}
	if (unlink(path) != 0) {
		rc = err_errno(e, "cannot remove %s", path);
		goto out;
	}
	rc = 1;
out:
	json_decref(me);
	buf_wipe(&pending);
	return rc;
}

/* When the certificate in PATH ends, or 0 when it cannot be read. */
static int64_t cert_end(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	struct tm tm;
	int64_t end = 0;

	if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		end = (int64_t)timegm(&tm);
	X509_free(x);
	BIO_free(bio);
	return end;
}

int state_renew_certificate(const struct state *s, struct err *e)
{
	char path[4200];
	struct client *c;
	json_t *ans;
	const char *pem;
	int64_t end;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/machine.pem", s->home);
	end = cert_end(path);
	if (end && end - state_now() > (int64_t)STATE_CERT_RENEW_DAYS * 86400)
		return 0;
	if ((c = state_client(s, e)) == NULL)
		return -1;
	if ((ans = client_json(c, "POST", "/machine/certificate", NULL, NULL, NULL, e)) != NULL) {
		pem = json_string_value(json_object_get(ans, "certificate"));
		if (pem == NULL || strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
			err_set(e, ERR_CORRUPT, "the service's answer to a certificate renewal holds "
				"no certificate");
		else if (state_write_file(s->home, "machine.pem", pem, strlen(pem), 0644, e) == 0)
			rc = 1;
	}
	json_decref(ans);
	client_free(c);
	return rc;
}
