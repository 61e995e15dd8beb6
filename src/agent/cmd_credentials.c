/*
 * cmd_credentials.c: `arca credentials check FILE [--json]`: the agent's
 * side of vault identification (SPEC section 3). It reads the file, checks
 * its structure, keys and validity period, and says what it is for. Whether
 * the file is still the latest one for its vault only the service knows; it
 * checks that at registration.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "exitcode.h"
#include "opts.h"
#include "vaultcred.h"

static const char msg_expired[] = "Vault credentials file provided has expired";
static const char msg_invalid[] = "Invalid vault credentials provided";

static void fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Print a failure as text or JSON; return its exit code. */
static int report_error(int json, const char *path, const struct err *e)
{
	const char *head, *code;
	int rc;

	if (e->code == ERR_EXPIRED) {
		head = msg_expired, code = "credentials_expired", rc = EXIT_CRED_EXPIRED;
	} else if (e->code == ERR_IO) {
		head = NULL, code = "credentials_unreadable", rc = EXIT_CRED_INVALID;
	} else {
		head = msg_invalid, code = "credentials_invalid", rc = EXIT_CRED_INVALID;
	}
	if (json) {
		json_t *o = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", code,
				      "message", head ? head : e->msg, "detail", e->msg,
				      "file", path);

		cmd_print_json(o);
		json_decref(o);
	} else if (head != NULL) {
		fprintf(stderr, "%s\n  %s\n", head, e->msg);
		if (e->code == ERR_EXPIRED || e->code == ERR_CREDENTIALS)
			fprintf(stderr, "  Download a new vault credentials file from the "
					"vault's Quick Start page and retry.\n");
	} else {
		fprintf(stderr, "%s\n", e->msg);
	}
	return rc;
}

int cmd_credentials(int argc, char **argv)
{
	const char *path = NULL;
	struct vaultcred *vc = NULL;
	struct err e;
	int json = 0, rc;
	char issued[32], expires[32];
	int64_t now = (int64_t)time(NULL), left;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: arca credentials check FILE [--json]\n");
		return EXIT_USAGE;
	}
	{
		const struct opt table[] = {
			{ "--json", OPT_FLAG, &json },
			{ NULL, OPT_FLAG, NULL },
		};
		struct opt_list pos = { NULL, 0 };
		int bad = opt_parse(table, argc, argv, 2, &pos, &e);

		if (!bad && pos.n > 1)
			bad = err_set(&e, ERR_INVALID, "unexpected argument '%s'", pos.v[1]);
		path = pos.n ? pos.v[0] : NULL;
		opt_list_free(&pos);
		if (bad) {
			fprintf(stderr, "arca credentials check: %s\n", e.msg);
			return EXIT_USAGE;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "usage: arca credentials check FILE [--json]\n");
		return EXIT_USAGE;
	}

	err_clear(&e);
	if ((vc = vaultcred_load(path, &e)) == NULL || vaultcred_check_time(vc, now, &e) != 0) {
		rc = report_error(json, path, &e);
		vaultcred_free(vc);
		return rc;
	}
	fmt_time(vc->issued, issued);
	fmt_time(vc->expires, expires);
	left = vc->expires - now;
	if (json) {
		json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}",
				      "file", path, "version", vc->version,
				      "service_url", vc->service_url,
				      "subscription", vc->subscription,
				      "vault_id", vc->vault_id, "vault_name", vc->vault_name,
				      "region", vc->region, "issued", issued,
				      "expires", expires, "seconds_left", (json_int_t)left);

		cmd_print_json(o);
		json_decref(o);
	} else {
		printf("Vault credentials %s\n"
		       "  service:       %s\n"
		       "  subscription:  %s\n"
		       "  vault:         %s (%s)\n"
		       "  region:        %s\n"
		       "  issued:        %s\n"
		       "  expires:       %s (in %lld h %02lld min)\n"
		       "The file can register machines to this vault until it expires or a newer\n"
		       "file is downloaded; the service checks that at registration.\n",
		       path, vc->service_url, vc->subscription, vc->vault_name, vc->vault_id,
		       vc->region, issued, expires, (long long)(left / 3600),
		       (long long)(left % 3600 / 60));
	}
	vaultcred_free(vc);
	return EXIT_OK;
}
