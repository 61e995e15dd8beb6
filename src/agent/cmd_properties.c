/*
 * cmd_properties.c: `arca properties`: show and change the agent's
 * properties (SPEC section 4, "Change properties"): the proxy, bandwidth
 * throttling by work hours, the cache folder (its contents move along), and
 * the passphrase (the master key is wrapped anew; no data is re-encrypted or
 * uploaded; the service asks for a security PIN from the portal). A second
 * passphrase can be added, wrapping the same master key, for a recovery kit
 * kept offline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cmd.h"
#include "exitcode.h"
#include "opts.h"
#include "keys.h"
#include "kit.h"
#include "passphrase.h"
#include "state.h"
#include "term.h"

int mkdirs(const char *dir, int mode, struct err *e);

/* "10M", "512k", "1G" or plain bytes, a second; 0 = unlimited. */
static int parse_rate(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;

	if (end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024, end++; break;
	case 'm': case 'M': mul = 1024 * 1024, end++; break;
	case 'g': case 'G': mul = 1024ull * 1024 * 1024, end++; break;
	default: break;
	}
	if (*end != '\0')
		return -1;
	*out = v * mul;
	return 0;
}

/* Move the cache folder FROM's contents to TO (a rename when they share a
 * file system, else a copy of its files; the cache is only a copy of what
 * the service holds, so a failure loses nothing). */
static int move_cache(const char *from, const char *to, struct err *e)
{
	const char *names[] = { "stored.ids", "files.idx", "trees.dat" };
	char a[4200], b[4200];

	if (mkdirs(to, 0700, e))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		struct buf data = BUF_INIT;

		snprintf(a, sizeof(a), "%s/%s", from, names[i]);
		if (access(a, F_OK) != 0)
			continue;
		snprintf(b, sizeof(b), "%s/%s", to, names[i]);
		if (rename(a, b) != 0) {
			if (state_read_file(a, (size_t)1 << 34, &data, e) ||
			    state_write_file(to, names[i], data.data, data.len, 0600, e)) {
				buf_free(&data);
				return -1;
			}
			buf_free(&data);
			unlink(a);
		}
	}
	return 0;
}

static void show(const struct state *s, int json)
{
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:{s:I,s:I,s:i,s:i}}",
				      "home", s->home, "service_url", s->service_url, "vault",
				      s->vault_name ? s->vault_name : s->vault_id, "machine",
				      s->machine_name, "cache", s->cache, "proxy", s->proxy,
				      "proxy_user", s->proxy_user, "throttle", "work_rate",
				      (json_int_t)s->rate_work, "other_rate",
				      (json_int_t)s->rate_other, "work_start", s->work_start,
				      "work_end", s->work_end);

		cmd_print_json(j);
		json_decref(j);
		return;
	}
	printf("Machine:       %s (vault %s)\n", s->machine_name,
	       s->vault_name ? s->vault_name : s->vault_id);
	printf("Service:       %s\n", s->service_url);
	printf("Install:       %s\n", s->home);
	printf("Cache folder:  %s\n", s->cache);
	printf("Proxy:         %s%s%s\n", s->proxy ? s->proxy : "none",
	       s->proxy_user ? " as " : "", s->proxy_user ? s->proxy_user : "");
	printf("Throttling:    work hours %02d:00-%02d:00 Mon-Fri: %s; other hours: %s\n",
	       s->work_start, s->work_end, s->rate_work ? "" : "unlimited",
	       s->rate_other ? "" : "unlimited");
	if (s->rate_work || s->rate_other)
		printf("               (bytes a second: work %llu, other %llu; 0 is unlimited)\n",
		       (unsigned long long)s->rate_work, (unsigned long long)s->rate_other);
}

/* Write the second passphrase's kit for BLOB to KIT (a new file). */
static int write_kit(const struct state *s, const struct buf *blob, const char *kit,
		     struct err *e)
{
	struct buf text = BUF_INIT;
	FILE *f = NULL;

	if (kit_format(s->machine_name, s->vault_name ? s->vault_name : s->vault_id,
		       s->service_url, blob->data, &text, e) ||
	    (f = fopen(kit, "wx")) == NULL || fwrite(text.data, 1, text.len, f) != text.len) {
		if (f)
			fclose(f);
		buf_free(&text);
		if (e->code != ERR_NOMEM)
			err_errno(e, "cannot write %s", kit);
		return -1;
	}
	chmod(kit, 0600);
	fclose(f);
	buf_free(&text);
	return 0;
}

/* Give the service BLOB, the master key under the new passphrase, with the
 * person's security PIN (PIN, or asked), then keep the same here. 0; 1
 * when the change waits for the guard's approval (the blob kept as
 * wrapped-pending.key, the request's id in APPROVAL); -1 with E set. */
static int send_wrapped(struct state *s, const struct buf *blob, const char *pin,
			char approval[64], struct err *e)
{
	struct client *c;
	json_t *body, *ans;
	long status = 0;
	char b64[512], hdr[64], pinb[32] = "";
	const char *hs[] = { hdr, NULL };

	if (pin == NULL && term_ask("Security PIN (generate one in the portal): ", 0, pinb,
				    sizeof(pinb), e))
		return -1;
	snprintf(hdr, sizeof(hdr), "X-Arca-PIN: %s", pin ? pin : pinb);
	sodium_bin2base64(b64, sizeof(b64), blob->data, blob->len,
			  sodium_base64_VARIANT_ORIGINAL);
	if ((c = state_client(s, e)) == NULL)
		return -1;
	body = json_pack("{s:s}", "wrapped_key", b64);
	ans = client_json(c, "PUT", "/machine/wrapped-key", body, hs, &status, e);
	json_decref(body);
	client_free(c);
	if (ans == NULL)
		return -1;
	if (status == 202) {
		const char *id = json_string_value(json_object_get(json_object_get(ans, "approval"),
								   "id"));

		snprintf(approval, 64, "%s", id ? id : "?");
		json_decref(ans);
		return state_write_file(s->home, "wrapped-pending.key", blob->data, blob->len, 0600,
					e) == 0 ? 1 : -1;
	}
	json_decref(ans);
	/* The service holds the new blob: keep the same here. */
	return state_write_file(s->home, "wrapped.key", blob->data, blob->len, 0600, e);
}

/* A new passphrase (from PASS_FILE, or asked twice): a second one beside
 * the first (ADD, its kit written to KIT when given), or one that replaces
 * it on the service and here. 0; 1 when the change waits for the guard's
 * approval; -1 with E set. */
static int new_passphrase(struct state *s, int add, const char *pass_file, const char *kit,
			  const char *pin, int json, struct err *e)
{
	char pass[PASSPHRASE_MAX_BYTES + 2], again[PASSPHRASE_MAX_BYTES + 2], approval[64] = "";
	struct buf blob = BUF_INIT;
	int rc = -1, sent = 0;

	if (pass_file ? term_read_secret_file(pass_file, pass, sizeof(pass), e)
		      : term_ask("New passphrase (at least 16 characters): ", 1, pass,
				 sizeof(pass), e))
		goto out;
	if (passphrase_check(pass, e))
		goto out;
	if (!pass_file) {
		if (term_ask("New passphrase again: ", 1, again, sizeof(again), e))
			goto out;
		if (strcmp(pass, again) != 0) {
			err_set(e, ERR_PASSPHRASE, "the two passphrases differ");
			goto out;
		}
	}
	if (keys_wrap(s->keys, pass, NULL, &blob, e))
		goto out;
	if (add) {
		/* A second passphrase: its blob is kept here and in the kit. */
		if (state_write_file(s->home, "wrapped-2.key", blob.data, blob.len, 0600, e) ||
		    (kit && write_kit(s, &blob, kit, e)))
			goto out;
	} else if ((sent = send_wrapped(s, &blob, pin, approval, e)) < 0) {
		goto out;
	}
	if (sent == 1) {
		if (json)
			printf("{\"pending\": true, \"approval\": \"%s\"}\n", approval);
		else
			printf("The passphrase change waits for the guard's approval (request %s).\n"
			       "Until the guard approves it, the old passphrase stays in force; once\n"
			       "approved, the new one replaces it on the service, and here at the next\n"
			       "`arca properties`. Keep both until then.\n", approval);
		rc = 1;
		goto out;
	}
	if (!json)
		printf(add ? "A second passphrase now opens this machine's data.\n"
			   : "The passphrase is changed; no data was re-encrypted or "
			     "uploaded. The old passphrase no longer opens this "
			     "machine's key.\n");
	rc = 0;
out:
	sodium_memzero(pass, sizeof(pass));
	sodium_memzero(again, sizeof(again));
	buf_free(&blob);
	return rc;
}

int cmd_properties(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT, *proxy = NULL, *proxy_user = NULL, *pw_file = NULL;
	const char *cache = NULL, *work = NULL, *other = NULL, *hours = NULL;
	const char *new_pass_file = NULL, *pin = NULL, *kit = NULL;
	int json = 0, no_proxy = 0, change_pass = 0, add_pass = 0, changed = 0, rc = EXIT_FAIL;
	struct state s;
	struct err e;

	{
		const struct opt table[] = {
			{ "--json", OPT_FLAG, &json },
			{ "--no-proxy", OPT_FLAG, &no_proxy },
			{ "--change-passphrase", OPT_FLAG, &change_pass },
			{ "--add-passphrase", OPT_FLAG, &add_pass },
			{ "--home", OPT_VALUE, &home },
			{ "--proxy", OPT_VALUE, &proxy },
			{ "--proxy-user", OPT_VALUE, &proxy_user },
			{ "--proxy-password-file", OPT_VALUE, &pw_file },
			{ "--cache", OPT_VALUE, &cache },
			{ "--throttle-work", OPT_VALUE, &work },
			{ "--throttle-other", OPT_VALUE, &other },
			{ "--work-hours", OPT_VALUE, &hours },
			{ "--passphrase-file", OPT_VALUE, &new_pass_file },
			{ "--new-passphrase-file", OPT_VALUE, &new_pass_file },
			{ "--pin", OPT_VALUE, &pin },
			{ "--passphrase-out", OPT_VALUE, &kit },
			{ "--recovery-kit", OPT_VALUE, &kit },
			{ NULL, OPT_FLAG, NULL },
		};

		if (opt_parse(table, argc, argv, 1, NULL, &e) != 0) {
			fprintf(stderr, "arca properties: %s\n", e.msg);
			return EXIT_USAGE;
		}
	}
	err_clear(&e);
	if (state_load(&s, home, change_pass || add_pass, &e)) {
		fprintf(stderr, "arca properties: %s\n", e.msg);
		state_free(&s);
		return EXIT_FAIL;
	}
	{
		/* A passphrase change the guard approved since: keep the same here. */
		struct client *c = state_client(&s, &e);
		int r = c ? state_sync_wrapped(&s, c, &e) : -1;

		client_free(c);
		if (r < 0)
			fprintf(stderr, "arca properties: warning: cannot check the passphrase change "
				"waiting for approval: %s\n", e.msg);
		else if (r == 1 && !json)
			printf("The passphrase change was approved: the new passphrase is in force.\n");
		err_clear(&e);
	}
	if (no_proxy || proxy) {
		free(s.proxy), free(s.proxy_user);
		s.proxy = proxy ? strdup(proxy) : NULL;
		s.proxy_user = proxy && proxy_user ? strdup(proxy_user) : NULL;
		changed = 1;
		if (s.proxy_user) {
			char pw[1024] = "";

			if (pw_file ? term_read_secret_file(pw_file, pw, sizeof(pw), &e)
				    : term_ask("Proxy password: ", 1, pw, sizeof(pw), &e))
				goto fail;
			if (state_write_file(s.home, "proxy.pass", pw, strlen(pw), 0600, &e))
				goto fail;
			sodium_memzero(pw, sizeof(pw));
		}
	}
	if (work || other || hours) {
		int a, b;

		if ((work && parse_rate(work, &s.rate_work)) ||
		    (other && parse_rate(other, &s.rate_other))) {
			fprintf(stderr, "arca properties: a rate is bytes a second, with k, M or G, "
					"e.g. 2M; 0 is unlimited\n");
			rc = EXIT_USAGE;
			goto out;
		}
		if (hours) {
			if (sscanf(hours, "%d-%d", &a, &b) != 2 || a < 0 || b > 24 || a >= b) {
				fprintf(stderr, "arca properties: --work-hours takes START-END in "
						"whole hours, e.g. 9-17\n");
				rc = EXIT_USAGE;
				goto out;
			}
			s.work_start = a, s.work_end = b;
		}
		changed = 1;
	}
	if (cache && strcmp(cache, s.cache) != 0) {
		if (move_cache(s.cache, cache, &e))
			goto fail;
		free(s.cache);
		s.cache = strdup(cache);
		changed = 1;
	}
	if (change_pass || add_pass) {
		int r = new_passphrase(&s, add_pass, new_pass_file, kit, pin, json, &e);

		if (r < 0)
			goto fail;
		if (r == 1) {
			rc = EXIT_PENDING;
			if (changed && state_save(&s, &e))
				goto fail;
			goto out;
		}
	}
	if (changed && state_save(&s, &e))
		goto fail;
	show(&s, json);
	rc = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "arca properties: %s\n", e.msg);
	rc = e.code == ERR_PASSPHRASE ? EXIT_PASSPHRASE : EXIT_FAIL;
out:
	state_free(&s);
	return rc;
}
