/*
 * cmd_policy.c: `arca policy show|set|preview`: the machine's backup policy
 * (schedule, retention, selection), kept on the service, which checks every
 * rule (at most 3 backups a day, retention floors, at most 366 points) and
 * applies retention itself; the agent keeps a copy in policy.json for the
 * resident agent. The machine can keep points longer, never shorter: a
 * change that would remove any point sooner is refused by the service
 * (even with a PIN) and made by a signed-in user in the portal or the API;
 * `arca policy show` then picks it up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "exitcode.h"
#include "opts.h"
#include "state.h"

static const char usage_text[] =
	"usage: arca policy show [--json]\n"
	"       arca policy preview [--json]\n"
	"       arca policy set --schedule HH:MM[,HH:MM[,HH:MM]] [--days mon,tue,...]\n"
	"           [--keep-daily N] [--keep-weekly N [--weekly-day sun]]\n"
	"           [--keep-monthly N [--monthly-day 1..28|last]]\n"
	"           [--keep-yearly N [--yearly-month 1..12] [--yearly-day 1..28|last]]\n"
	"           [--path PATH]... [--include PATTERN]... [--exclude PATTERN]...\n"
	"           [--verify-every DAYS --verify-sample PERCENT] [--json]\n"
	"Keeping points for less long is up to a signed-in user (portal or API,\n"
	"with the security PIN); a machine cannot do it.\n";

static json_t *split(const char *s)
{
	json_t *a = json_array();
	char *copy = strdup(s), *save = NULL, *t;

	for (t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(t));
	free(copy);
	return a;
}

static json_t *number_or_last(const char *s)
{
	char *end;
	long v;

	if (strcmp(s, "last") == 0)
		return json_string("last");
	v = strtol(s, &end, 10);
	return *end == '\0' && end != s ? json_integer(v) : json_string(s);
}

/* Print the string V from the service or policy.json with BEFORE: "?"
 * when it is not a string, and control characters shown as '?', so an
 * answer can neither crash the printing nor drive the terminal. */
static void put(const char *before, json_t *v)
{
	const char *t = json_string_value(v);

	fputs(before, stdout);
	if (t == NULL)
		t = "?";
	for (; *t; t++)
		putchar((unsigned char)*t < 0x20 || *t == 0x7f ? '?' : *t);
}

static void print_policy(json_t *p)
{
	json_t *v;
	size_t i;

	printf("Schedule:   ");
	json_array_foreach(json_object_get(p, "schedule"), i, v)
		put(i ? ", " : "", v);
	printf(" (UTC) on ");
	json_array_foreach(json_object_get(p, "days"), i, v)
		put(i ? "," : "", v);
	printf("\nRetention:  daily %lld days, weekly %lld weeks (",
	       (long long)json_integer_value(json_object_get(p, "keep_daily")),
	       (long long)json_integer_value(json_object_get(p, "keep_weekly")));
	put("", json_object_get(p, "weekly_day"));
	printf("), monthly %lld months (day ",
	       (long long)json_integer_value(json_object_get(p, "keep_monthly")));
	v = json_object_get(p, "monthly_day");
	json_is_string(v) ? put("", v) : (void)printf("%lld", (long long)json_integer_value(v));
	printf("), yearly %lld years\n", (long long)json_integer_value(json_object_get(p, "keep_yearly")));
	printf("At most:    %lld recovery points\n",
	       (long long)json_integer_value(json_object_get(p, "max_points")));
	if ((v = json_object_get(p, "verify")) != NULL && json_is_object(v))
		printf("Verify:     every %lld days, reading %lld%% of the data\n",
		       (long long)json_integer_value(json_object_get(v, "every_days")),
		       (long long)json_integer_value(json_object_get(v, "sample")));
	if (json_object_get(p, "paths")) {
		printf("Selection: ");
		json_array_foreach(json_object_get(p, "paths"), i, v)
			put(" ", v);
		json_array_foreach(json_object_get(p, "exclude"), i, v)
			put(" --exclude ", v);
		json_array_foreach(json_object_get(p, "include"), i, v)
			put(" --include ", v);
		printf("\n");
	}
}

/* The options of `arca policy set`, each a key of the policy. */
enum pkind { P_INTEGER, P_LIST, P_STRING, P_NUMBER_OR_LAST, P_APPENDED };

static const struct {
	const char *opt, *key;
	enum pkind kind;
} popts[] = {
	{ "--schedule", "schedule", P_LIST },
	{ "--days", "days", P_LIST },
	{ "--keep-daily", "keep_daily", P_INTEGER },
	{ "--keep-weekly", "keep_weekly", P_INTEGER },
	{ "--keep-monthly", "keep_monthly", P_INTEGER },
	{ "--keep-yearly", "keep_yearly", P_INTEGER },
	{ "--weekly-day", "weekly_day", P_STRING },
	{ "--monthly-day", "monthly_day", P_NUMBER_OR_LAST },
	{ "--yearly-month", "yearly_month", P_INTEGER },
	{ "--yearly-day", "yearly_day", P_NUMBER_OR_LAST },
	{ "--path", "paths", P_APPENDED },
	{ "--include", "include", P_APPENDED },
	{ "--exclude", "exclude", P_APPENDED },
	{ "--verify-every", "verify.every_days", P_INTEGER },
	{ "--verify-sample", "verify.sample", P_INTEGER },
};
#define N_POPTS (sizeof(popts) / sizeof(popts[0]))

/* What was given for each of popts. */
struct pvals {
	const char *val[N_POPTS];
	struct opt_list list[N_POPTS];
};

/* Put the given values into BODY. 0, or -1 with the reason on stderr. */
static int policy_body(const struct pvals *v, json_t *body)
{
	for (size_t k = 0; k < N_POPTS; k++) {
		const char *x = v->val[k];
		json_t *list;
		char *end;
		long n;

		switch (popts[k].kind) {
		case P_INTEGER:
			if (x == NULL)
				break;
			n = strtol(x, &end, 10);
			if (*end || end == x) {
				fprintf(stderr, "arca policy: %s takes a whole number\n", popts[k].opt);
				return -1;
			}
			if (strncmp(popts[k].key, "verify.", 7) == 0) { /* a member of "verify" */
				json_t *o = json_object_get(body, "verify");

				if (o == NULL)
					json_object_set_new(body, "verify", o = json_object());
				json_object_set_new(o, popts[k].key + 7, json_integer(n));
				break;
			}
			json_object_set_new(body, popts[k].key, json_integer(n));
			break;
		case P_LIST:
			if (x)
				json_object_set_new(body, popts[k].key, split(x));
			break;
		case P_STRING:
			if (x)
				json_object_set_new(body, popts[k].key, json_string(x));
			break;
		case P_NUMBER_OR_LAST:
			if (x)
				json_object_set_new(body, popts[k].key, number_or_last(x));
			break;
		case P_APPENDED:
			if (v->list[k].n == 0)
				break;
			json_object_set_new(body, popts[k].key, list = json_array());
			for (size_t i = 0; i < v->list[k].n; i++) {
				if (strcmp(popts[k].key, "paths") == 0 && v->list[k].v[i][0] != '/') {
					fprintf(stderr, "arca policy: --path takes an absolute path\n");
					return -1;
				}
				json_array_append_new(list, json_string(v->list[k].v[i]));
			}
		}
	}
	return 0;
}

/* Parse the arguments after the verb: --home, --json, and for `set` the
 * policy's options into BODY. 0, 1 for a usage error (the usage to show),
 * -1 for one already explained on stderr. */
static int policy_args(int argc, char **argv, const char *verb, const char **home, int *json,
		       json_t *body)
{
	struct pvals v;
	struct opt table[N_POPTS + 3];
	struct err e;
	int given = 0, rc = 0;

	memset(&v, 0, sizeof(v));
	table[0] = (struct opt){ "--json", OPT_FLAG, json };
	table[1] = (struct opt){ "--home", OPT_VALUE, home };
	for (size_t k = 0; k < N_POPTS; k++)
		table[2 + k] = (struct opt){ popts[k].opt,
					     popts[k].kind == P_APPENDED ? OPT_LIST : OPT_VALUE,
					     popts[k].kind == P_APPENDED ? (void *)&v.list[k]
									 : (void *)&v.val[k] };
	table[N_POPTS + 2] = (struct opt){ NULL, OPT_FLAG, NULL };
	if (opt_parse(table, argc, argv, 2, NULL, &e) != 0) {
		fprintf(stderr, "arca policy: %s\n", e.msg);
		rc = 1;
		goto out;
	}
	for (size_t k = 0; k < N_POPTS; k++)
		given |= v.val[k] != NULL || v.list[k].n > 0;
	if (given && strcmp(verb, "set") != 0)
		rc = 1; /* the policy's options are for `set` only */
	else if (policy_body(&v, body) != 0)
		rc = -1;
out:
	for (size_t k = 0; k < N_POPTS; k++)
		opt_list_free(&v.list[k]);
	return rc;
}

int cmd_policy(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT, *verb = argc > 1 ? argv[1] : "";
	json_t *body = json_object(), *ans = NULL;
	struct state s;
	struct client *c = NULL;
	struct err e;
	int json = 0, rc = EXIT_FAIL;

	memset(&s, 0, sizeof(s));
	switch (policy_args(argc, argv, verb, &home, &json, body)) {
	case 1:
		goto usage;
	case -1:
		goto usage_quiet;
	}
	if (strcmp(verb, "show") && strcmp(verb, "set") && strcmp(verb, "preview"))
		goto usage;
	err_clear(&e);
	if (state_load(&s, home, 0, &e) || (c = state_client(&s, &e)) == NULL)
		goto fail;
	if (strcmp(verb, "set") == 0) {
		long status = 0;

		/* No PIN to send: the service refuses a shorter retention from a
		 * machine whatever it sends, and says who can set it and where;
		 * with a guard, it holds it for the guard's approval (202). */
		if ((ans = client_json(c, "PUT", "/machine/policy", body, NULL, &status, &e)) == NULL)
			goto fail;
		if (status == 202) {
			json_t *a = json_object_get(ans, "approval");
			const char *id = json_string_value(json_object_get(a, "id"));
			const char *until = json_string_value(json_object_get(a, "expires"));

			if (json)
				cmd_print_json(ans);
			else
				printf("This policy shortens retention: it waits for the guard's "
				       "approval (request %s, until %s).\nThe current policy stays in "
				       "force until then; `arca policy show` shows which.\n",
				       id ? id : "?", until ? until : "?");
			rc = EXIT_PENDING;
			goto out;
		}
	} else if ((ans = client_json(c, "GET", strcmp(verb, "show") == 0 ? "/machine/policy"
								    : "/machine/policy/preview",
				      NULL, NULL, NULL, &e)) == NULL) {
		goto fail;
	}
	if (strcmp(verb, "preview") != 0) {
		char *text = json_dumps(ans, JSON_INDENT(2));

		/* The agent's copy, for the resident agent's schedule. */
		if (text == NULL || state_write_file(s.home, "policy.json", text, strlen(text), 0600, &e)) {
			free(text);
			goto fail;
		}
		free(text);
	}
	if (json) {
		cmd_print_json(ans);
	} else if (strcmp(verb, "preview") == 0) {
		json_t *v;
		size_t i;

		printf("Kept (%zu):\n", json_array_size(json_object_get(ans, "keep")));
		json_array_foreach(json_object_get(ans, "keep"), i, v) {
			json_t *w;
			size_t k;

			put("  ", json_object_get(v, "id"));
			put("  ", json_object_get(v, "created"));
			fputs("  ", stdout);
			json_array_foreach(json_object_get(v, "why"), k, w)
				put(k ? "," : "", w);
			printf("\n");
		}
		printf("Removed by the next retention run (%zu; restorable for 14 days after):\n",
		       json_array_size(json_object_get(ans, "remove")));
		json_array_foreach(json_object_get(ans, "remove"), i, v) {
			put("  ", json_object_get(v, "id"));
			put("  ", json_object_get(v, "created"));
			printf("\n");
		}
	} else {
		print_policy(ans);
	}
	rc = EXIT_OK;
	goto out;
usage:
	fprintf(stderr, "%s", usage_text);
usage_quiet:
	rc = EXIT_USAGE;
	goto out;
fail:
	cmd_error("policy", json, &e);
	rc = EXIT_FAIL;
out:
	json_decref(body);
	json_decref(ans);
	client_free(c);
	state_free(&s);
	return rc;
}
