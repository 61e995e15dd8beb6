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
#include "state.h"

static const char usage_text[] =
	"usage: arca policy show [--json]\n"
	"       arca policy preview [--json]\n"
	"       arca policy set --schedule HH:MM[,HH:MM[,HH:MM]] [--days mon,tue,...]\n"
	"           [--keep-daily N] [--keep-weekly N [--weekly-day sun]]\n"
	"           [--keep-monthly N [--monthly-day 1..28|last]]\n"
	"           [--keep-yearly N [--yearly-month 1..12] [--yearly-day 1..28|last]]\n"
	"           [--path PATH]... [--include PATTERN]... [--exclude PATTERN]...\n"
	"           [--json]\n"
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

int cmd_policy(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT, *verb = argc > 1 ? argv[1] : "";
	json_t *body = json_object(), *ans = NULL;
	struct state s;
	struct client *c = NULL;
	struct err e;
	int json = 0, rc = EXIT_FAIL;

	memset(&s, 0, sizeof(s));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		static const struct {
			const char *opt, *key;
			int kind; /* 0 integer, 1 list, 2 string, 3 number or last, 4 appended */
		} opts[] = {
			{ "--schedule", "schedule", 1 },    { "--days", "days", 1 },
			{ "--keep-daily", "keep_daily", 0 }, { "--keep-weekly", "keep_weekly", 0 },
			{ "--keep-monthly", "keep_monthly", 0 }, { "--keep-yearly", "keep_yearly", 0 },
			{ "--weekly-day", "weekly_day", 2 }, { "--monthly-day", "monthly_day", 3 },
			{ "--yearly-month", "yearly_month", 0 }, { "--yearly-day", "yearly_day", 3 },
			{ "--path", "paths", 4 },           { "--include", "include", 4 },
			{ "--exclude", "exclude", 4 },
		};
		size_t k;

		if (strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		}
		if (strcmp(a, "--home") == 0) {
			if (v == NULL)
				goto usage;
			home = v;
			i++;
			continue;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]) && strcmp(a, opts[k].opt); k++)
			;
		if (k == sizeof(opts) / sizeof(opts[0]) || v == NULL || strcmp(verb, "set") != 0)
			goto usage;
		switch (opts[k].kind) {
		case 0: {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || end == v) {
				fprintf(stderr, "arca policy: %s takes a whole number\n", a);
				goto usage_quiet;
			}
			json_object_set_new(body, opts[k].key, json_integer(n));
			break;
		}
		case 1: json_object_set_new(body, opts[k].key, split(v)); break;
		case 2: json_object_set_new(body, opts[k].key, json_string(v)); break;
		case 3: json_object_set_new(body, opts[k].key, number_or_last(v)); break;
		default: {
			json_t *list = json_object_get(body, opts[k].key);

			if (list == NULL)
				json_object_set_new(body, opts[k].key, list = json_array());
			if (strcmp(opts[k].key, "paths") == 0 && v[0] != '/') {
				fprintf(stderr, "arca policy: --path takes an absolute path\n");
				goto usage_quiet;
			}
			json_array_append_new(list, json_string(v));
		}
		}
		i++;
	}
	if (strcmp(verb, "show") && strcmp(verb, "set") && strcmp(verb, "preview"))
		goto usage;
	err_clear(&e);
	if (state_load(&s, home, 0, &e) || (c = state_client(&s, &e)) == NULL)
		goto fail;
	if (strcmp(verb, "set") == 0) {
		/* No PIN to send: the service refuses a shorter retention from a
		 * machine whatever it sends, and says who can set it and where. */
		if ((ans = client_json(c, "PUT", "/machine/policy", body, NULL, NULL, &e)) == NULL)
			goto fail;
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
