/*
 * cmd_backup.c: `arca backup [PATH ...]`: back the paths up to a new
 * recovery point and report what happened, as text or JSON.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "backup.h"
#include "cmd.h"
#include "exitcode.h"
#include "opts.h"
#include "show.h"
#include "state.h"

/* PATH made absolute, with ".", ".." and repeated slashes resolved as
 * names (symlinks are not followed: the link itself is what is selected). */
int abs_path(const char *path, char *out, size_t size)
{
	char tmp[PATH_MAX * 2], *save = NULL, *c;
	size_t n = 0;

	if (path[0] == '/')
		snprintf(tmp, sizeof(tmp), "%s", path);
	else {
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return -1;
		snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
	}
	out[0] = '\0';
	for (c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			char *slash = strrchr(out, '/');

			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		if (n + strlen(c) + 2 > size)
			return -1;
		out[n++] = '/';
		strcpy(out + n, c);
		n += strlen(c);
	}
	if (n == 0)
		snprintf(out, size, "/");
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The paths to back up, made absolute, into O (owned). 0, or -1 when a path
 * is too long (said on stderr). */
static int take_paths(const struct opt_list *pos, struct backup_opts *o)
{
	if (pos->n && (o->paths = calloc(pos->n, sizeof(*o->paths))) == NULL)
		return -1;
	for (size_t i = 0; i < pos->n; i++) {
		char p[PATH_MAX];

		if (abs_path(pos->v[i], p, sizeof(p)) != 0 ||
		    (o->paths[o->n_paths] = strdup(p)) == NULL) {
			fprintf(stderr, "arca backup: the path '%s' is too long\n", pos->v[i]);
			return -1;
		}
		o->n_paths++;
	}
	return 0;
}

int cmd_backup(int argc, char **argv)
{
	struct backup_opts o;
	struct backup_result r;
	struct backup_events ev;
	struct show sh;
	struct state s;
	struct err e;
	const char *home = STATE_HOME_DEFAULT;
	int json = 0, rc = EXIT_USAGE;
	struct opt_list ex = { NULL, 0 }, in = { NULL, 0 }, pos = { NULL, 0 };
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &json },
		{ "--home", OPT_VALUE, &home },
		{ "--exclude", OPT_LIST, &ex },
		{ "--include", OPT_LIST, &in },
		{ NULL, OPT_FLAG, NULL },
	};

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	r.skipped = NULL;
	if (opt_parse(table, argc, argv, 1, &pos, &e) != 0) {
		fprintf(stderr, "arca backup: %s\n"
				"usage: arca backup [--home DIR] [--exclude PATTERN]... "
				"[--include PATTERN]... [--json] PATH...\n", e.msg);
		goto out;
	}
	/* The patterns are argv's own strings: O borrows them. */
	o.excludes = ex.v, o.n_excludes = ex.n;
	o.includes = in.v, o.n_includes = in.n;
	if (take_paths(&pos, &o) != 0)
		goto out;
	err_clear(&e);
	if (state_load(&s, home, 1, &e) != 0) {
		fprintf(stderr, "arca backup: %s\n", e.msg);
		rc = EXIT_FAIL;
		goto out;
	}
	if (o.n_paths == 0) {
		fprintf(stderr, "arca backup: name the files and folders to back up, e.g. "
				"'arca backup /home /etc'\n");
		goto out;
	}
	show_init(&sh, "backup", !json && isatty(STDERR_FILENO));
	show_backup_events(&sh, &ev);
	o.ev = &ev;
	/* Why not fail the backup: the certificate may have months left. */
	if (state_renew_certificate(&s, &e) < 0)
		fprintf(stderr, "arca backup: warning: the machine's certificate was not renewed: "
				"%s\n", e.msg);
	err_clear(&e);
	if (backup_run(&s, &o, &r, &e) != 0) {
		show_end(&sh);
		rc = e.code == ERR_LIMIT ? EXIT_CACHE_SPACE : EXIT_FAIL;
		if (json) {
			json_t *j = json_pack("{s:s,s:{s:s,s:s},s:O}", "status", "failed", "error",
					      "code", err_code_name(e.code), "message", e.msg,
					      "skipped", r.skipped);

			cmd_print_json(j);
			json_decref(j);
		}
		fprintf(stderr, "arca backup: %s\n", e.msg);
	} else {
		const char *status = json_array_size(r.skipped) ? "partial" : "complete";

		rc = json_array_size(r.skipped) ? EXIT_PARTIAL : EXIT_OK;
		if (json) {
			json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:O}",
					      "status", status, "recovery_point", r.point,
					      "files_new", (json_int_t)r.files_new,
					      "files_changed", (json_int_t)r.files_changed,
					      "files_unchanged", (json_int_t)r.files_unchanged,
					      "dirs", (json_int_t)r.dirs,
					      "bytes_read", (json_int_t)r.bytes_read,
					      "bytes_total", (json_int_t)r.bytes_total,
					      "bytes_stored", (json_int_t)r.bytes_stored,
					      "packs", (json_int_t)r.packs,
					      "duration", r.seconds, "skipped", r.skipped);

			cmd_print_json(j);
			json_decref(j);
		} else {
			printf("Recovery point %s: %s.\n"
			       "  files: %llu new, %llu changed, %llu unchanged; %llu folders\n"
			       "  read %llu bytes, stored %llu bytes in %llu packs, %.1f s\n",
			       r.point, status, (unsigned long long)r.files_new,
			       (unsigned long long)r.files_changed,
			       (unsigned long long)r.files_unchanged, (unsigned long long)r.dirs,
			       (unsigned long long)r.bytes_read, (unsigned long long)r.bytes_stored,
			       (unsigned long long)r.packs, r.seconds);
			if (json_array_size(r.skipped))
				printf("  %zu items skipped (listed above and in the job's report)\n",
				       json_array_size(r.skipped));
		}
	}
	json_decref(r.skipped);
out:
	free_list(o.paths, o.n_paths);
	opt_list_free(&ex);
	opt_list_free(&in);
	opt_list_free(&pos);
	state_free(&s);
	return rc;
}
