/*
 * cmd_restore.c: the recovery commands: `arca recovery-points`, `arca ls`,
 * `arca find` and `arca restore`, on this machine's data or, with
 * --from-machine NAME and that machine's passphrase, on another machine's
 * data of the same vault (read only); and `arca verify`, whether the
 * points can be restored (verify.h), also run by the resident agent.
 */
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cmd.h"
#include "compress.h"
#include "exitcode.h"
#include "kit.h"
#include "opts.h"
#include "passphrase.h"
#include "reply.h"
#include "repo.h"
#include "restore.h"
#include "show.h"
#include "snapshot.h"
#include "state.h"
#include "term.h"
#include "verify.h"

int abs_path(const char *path, char *out, size_t size);

/* A path inside a recovery point: absolute, "/" when relative. */
static int point_path(const char *in, char *out, size_t size)
{
	char tmp[PATH_MAX + 2];

	snprintf(tmp, sizeof(tmp), "%s%s", in[0] == '/' ? "" : "/", in);
	return abs_path(tmp, out, size);
}

void recovery_close(struct recovery_ctx *x)
{
	json_decref(x->points);
	compress_ctx_free(x->repo.cctx);
	tree_cache_free(x->repo.tc);
	keys_free(x->other);
	client_free(x->c);
	state_free(&x->s);
}

/* Load the agent, open the keys (ours, or the source machine's with its
 * passphrase), and list the recovery points. */
/* The wrapped key in FILE: a raw blob (wrapped-2.key), or the "Wrapped key"
 * line of a second-passphrase kit (kit.h). */
static int read_wrapped(const char *file, uint8_t blob[KEYS_WRAPPED_LEN], struct err *e)
{
	struct buf b = BUF_INIT;
	int rc = -1;

	if (state_read_file(file, KIT_MAX_BYTES, &b, e) == 0 && kit_parse(b.data, b.len, blob, e) == 0)
		rc = 0;
	else
		err_prefix(e, "--wrapped-key %s: ", file);
	buf_free(&b);
	return rc;
}

int recovery_open(struct recovery_ctx *x, const char *home, const char *from, const char *pass_file,
		  const char *wrapped_file, struct err *e)
{
	char path[128];
	json_t *ans;

	memset(x, 0, sizeof(*x));
	if (state_load(&x->s, home, from == NULL, e) || (x->c = state_client(&x->s, e)) == NULL ||
	    (x->repo.cctx = compress_ctx_new(e)) == NULL)
		return -1;
	x->repo.c = x->c;
	x->repo.keys = x->s.keys;
	if (from) {
		char pass[PASSPHRASE_MAX_BYTES + 2];
		uint8_t blob[KEYS_WRAPPED_LEN];
		size_t len = 0;

		snprintf(path, sizeof(path), "/machines/%s", from);
		if (strchr(from, '/') || (ans = client_json(x->c, "GET", path, NULL, NULL, NULL, e)) == NULL)
			return err_prefix(e, "machine %s: ", from);
		if (reply_wrapped_key(ans, blob, e)) {
			json_decref(ans);
			return err_prefix(e, "machine %s: ", from);
		}
		len = KEYS_WRAPPED_LEN;
		json_decref(ans);
		if (wrapped_file) {
			uint8_t own[KEY_ID_LEN], theirs[KEY_ID_LEN];

			/* Another blob, e.g. the second passphrase's: it must wrap
			 * the same master key as the service's. */
			if (keys_wrapped_key_id(blob, len, theirs, e) ||
			    read_wrapped(wrapped_file, blob, e) ||
			    keys_wrapped_key_id(blob, KEYS_WRAPPED_LEN, own, e))
				return -1;
			len = KEYS_WRAPPED_LEN;
			if (memcmp(own, theirs, KEY_ID_LEN) != 0)
				return err_set(e, ERR_INVALID, "%s wraps another master key than "
					       "machine %s's", wrapped_file, from);
		}
		if (pass_file ? term_read_secret_file(pass_file, pass, sizeof(pass), e)
			      : term_ask("Passphrase of the source machine: ", 1, pass, sizeof(pass), e))
			return -1;
		x->other = keys_unwrap(blob, len, pass, e);
		sodium_memzero(pass, sizeof(pass));
		if (x->other == NULL) {
			if (e->code == ERR_PASSPHRASE)
				err_set(e, ERR_PASSPHRASE, "the passphrase does not open machine %s's "
					"key: check it against that machine's recovery kit", from);
			return -1;
		}
		x->repo.keys = x->other;
		x->repo.machine = from;
		snprintf(path, sizeof(path), "/machines/%s/recovery-points", from);
	} else {
		snprintf(path, sizeof(path), "/recovery-points");
		/* Our own trees may be in the cache; another machine's never are. */
		if ((x->repo.tc = tree_cache_new(x->s.cache, e)) == NULL)
			return -1;
	}
	if ((ans = client_json(x->c, "GET", path, NULL, NULL, NULL, e)) == NULL)
		return -1;
	x->points = json_incref(reply_points(ans, e));
	json_decref(ans);
	return x->points ? 0 : -1;
}

/* The recovery point named ID ("latest", a full id or a unique prefix). */
static json_t *find_point(struct recovery_ctx *x, const char *id, struct err *e)
{
	json_t *p, *hit = NULL;
	size_t i, n = json_array_size(x->points);

	if (n == 0) {
		err_set(e, ERR_NOT_FOUND, "there is no recovery point yet: run 'arca backup' first");
		return NULL;
	}
	if (strcmp(id, "latest") == 0)
		return json_array_get(x->points, n - 1);
	json_array_foreach(x->points, i, p) {
		const char *pid = json_string_value(json_object_get(p, "id"));

		if (pid && strncmp(pid, id, strlen(id)) == 0) {
			if (hit) {
				err_set(e, ERR_INVALID, "'%s' names more than one recovery point: give "
					"more of its id", id);
				return NULL;
			}
			hit = p;
		}
	}
	if (hit == NULL)
		err_set(e, ERR_NOT_FOUND, "no recovery point '%s': 'arca recovery-points' lists them",
			id);
	return hit;
}

/* Open recovery point P (an entry of the service's list) for reading. */
static struct snapshot *point_open(struct recovery_ctx *x, json_t *p, struct err *e)
{
	return snapshot_open(&x->repo, json_string_value(json_object_get(p, "meta")), e);
}

/* Common options. */
struct ropts {
	const char *home, *from, *pass_file, *target, *conflict, *wrapped;
	int json, no_perms;
	char *pos[64];
	int n_pos;
};

static int parse(const char *cmd, int argc, char **argv, struct ropts *o)
{
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &o->json },
		{ "--no-permissions", OPT_FLAG, &o->no_perms },
		{ "--home", OPT_VALUE, &o->home },
		{ "--from-machine", OPT_VALUE, &o->from },
		{ "--passphrase-file", OPT_VALUE, &o->pass_file },
		{ "--wrapped-key", OPT_VALUE, &o->wrapped },
		{ "--target", OPT_VALUE, &o->target },
		{ "--on-conflict", OPT_VALUE, &o->conflict },
		{ NULL, OPT_FLAG, NULL },
	};
	struct opt_list pos = { NULL, 0 };
	struct err e;
	int rc;

	memset(o, 0, sizeof(*o));
	o->home = STATE_HOME_DEFAULT;
	if ((rc = opt_parse(table, argc, argv, 1, &pos, &e)) != 0)
		fprintf(stderr, "arca %s: %s\n", cmd, e.msg);
	/* More than 64 arguments: the rest are not looked at, as before. */
	for (size_t i = 0; i < pos.n && o->n_pos < 64; i++)
		o->pos[o->n_pos++] = pos.v[i];
	opt_list_free(&pos);
	return rc;
}

static int exit_of(const struct err *e)
{
	return e->code == ERR_PASSPHRASE ? EXIT_PASSPHRASE : EXIT_FAIL;
}

int cmd_recovery_points(int argc, char **argv)
{
	struct ropts o;
	struct recovery_ctx x;
	struct err e;
	json_t *p;
	size_t i;

	if (parse("recovery-points", argc, argv, &o))
		return EXIT_USAGE;
	err_clear(&e);
	/* Listing needs no keys: the service lists the points. */
	memset(&x, 0, sizeof(x));
	if (state_load(&x.s, o.home, 0, &e) || (x.c = state_client(&x.s, &e)) == NULL) {
		cmd_error("recovery-points", o.json, &e);
		recovery_close(&x);
		return EXIT_FAIL;
	}
	{
		char path[128];
		json_t *ans;

		if (o.from)
			snprintf(path, sizeof(path), "/machines/%s/recovery-points", o.from);
		else
			snprintf(path, sizeof(path), "/recovery-points");
		if ((ans = client_json(x.c, "GET", path, NULL, NULL, NULL, &e)) == NULL) {
			cmd_error("recovery-points", o.json, &e);
			recovery_close(&x);
			return EXIT_FAIL;
		}
		x.points = json_incref(reply_points(ans, &e));
		json_decref(ans);
		if (x.points == NULL) {
			cmd_error("recovery-points", o.json, &e);
			recovery_close(&x);
			return EXIT_FAIL;
		}
	}
	if (o.json) {
		json_t *out = json_pack("{s:O}", "recovery_points", x.points);

		cmd_print_json(out);
		json_decref(out);
	} else {
		printf("%-34s  %-20s  %10s  %14s\n", "RECOVERY POINT", "CREATED (UTC)", "OBJECTS",
		       "STORED BYTES");
		json_array_foreach(x.points, i, p)
			printf("%-34s  %-20s  %10lld  %14lld\n",
			       json_string_value(json_object_get(p, "id")),
			       json_string_value(json_object_get(p, "created")),
			       (long long)json_integer_value(json_object_get(p, "objects")),
			       (long long)json_integer_value(json_object_get(p, "bytes")));
		if (json_array_size(x.points) == 0)
			printf("(none yet: run 'arca backup PATH ...')\n");
	}
	recovery_close(&x);
	return EXIT_OK;
}

static const char *type_name(int t)
{
	static const char *n[] = { "?", "file", "dir", "symlink", "chr", "blk", "fifo", "socket" };

	return t >= 1 && t <= 7 ? n[t] : "?";
}

static json_t *entry_json(const struct tree_entry *x, const char *path)
{
	char when[32];
	time_t t = (time_t)x->mtime.sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:s,s:s,s:I,s:s?,s:s?,s:i,s:s,s:s?}", "name", x->name, "path", path,
			 "type", type_name(x->type), "size", (json_int_t)x->size, "user", x->user,
			 "group", x->group, "mode", (int)x->mode, "mtime", when, "target",
			 x->target);
}

static void print_entry(const struct tree_entry *x, const char *path)
{
	char when[32], mode[11] = "----------";
	time_t t = (time_t)x->mtime.sec;
	struct tm tm;
	const char *tc = "?-dlcbps";

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	mode[0] = tc[x->type < 8 ? x->type : 0];
	for (int i = 0; i < 9; i++)
		if (x->mode & (1u << (8 - i)))
			mode[1 + i] = "rwxrwxrwx"[i];
	printf("%s %-8s %-8s %12llu %s %s%s%s\n", mode, x->user ? x->user : "?",
	       x->group ? x->group : "?", (unsigned long long)x->size, when, path,
	       x->target ? " -> " : "", x->target ? x->target : "");
}

int cmd_ls(int argc, char **argv)
{
	struct ropts o;
	struct recovery_ctx x;
	struct err e;
	struct snapshot *sn = NULL;
	struct snapshot_entry ent = { NULL, NULL };
	const struct tree_entry *x_ent;
	struct tree *dir = NULL;
	json_t *p, *out = json_array();
	char path[PATH_MAX] = "/";
	int rc = EXIT_FAIL;

	if (parse("ls", argc, argv, &o) || o.n_pos < 1 || o.n_pos > 2) {
		fprintf(stderr, "usage: arca ls RECOVERY-POINT [PATH] [--from-machine NAME] [--json]\n");
		json_decref(out);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (o.n_pos == 2 && point_path(o.pos[1], path, sizeof(path)) != 0) {
		fprintf(stderr, "arca ls: the path is too long\n");
		json_decref(out);
		return EXIT_USAGE;
	}
	if (recovery_open(&x, o.home, o.from, o.pass_file, o.wrapped, &e) || (p = find_point(&x, o.pos[0], &e)) == NULL ||
	    (sn = point_open(&x, p, &e)) == NULL || snapshot_lookup(sn, &x.repo, path, &ent, &e))
		goto fail;
	/* A folder (the root when the entry is NULL) lists its entries. */
	x_ent = ent.e;
	if (x_ent == NULL || x_ent->type == TREE_DIR) {
		if ((dir = snapshot_list(sn, &x.repo, x_ent, &e)) == NULL)
			goto fail;
	} else {
		if (o.json)
			json_array_append_new(out, entry_json(x_ent, path));
		else
			print_entry(x_ent, path);
	}
	{
		const struct tree *show = dir;

		for (size_t i = 0; show && i < show->n; i++) {
			char child[PATH_MAX + 256];

			snprintf(child, sizeof(child), "%s%s%s", path, strcmp(path, "/") ? "/" : "",
				 show->e[i].name);
			if (o.json)
				json_array_append_new(out, entry_json(&show->e[i], child));
			else
				print_entry(&show->e[i], child);
		}
	}
	if (o.json) {
		json_t *j = json_pack("{s:s,s:s,s:O}", "recovery_point",
				      json_string_value(json_object_get(p, "id")), "path", path,
				      "entries", out);

		cmd_print_json(j);
		json_decref(j);
	}
	rc = EXIT_OK;
	goto out;
fail:
	cmd_error("ls", o.json, &e);
	rc = exit_of(&e);
out:
	json_decref(out);
	tree_free(dir);
	snapshot_entry_free(&ent);
	snapshot_close(sn);
	recovery_close(&x);
	return rc;
}

/* Walk folder DIR of SN (NULL: the root) below PATH, printing entries that
 * match PAT. */
static int find_walk(struct recovery_ctx *x, const struct snapshot *sn, const struct tree_entry *dir,
		     const char *path, const char *pat, const char *point, const char *created,
		     json_t *out, size_t *hits, struct err *e)
{
	struct tree *t = snapshot_list(sn, &x->repo, dir, e);

	if (t == NULL)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct tree_entry *ent = &t->e[i];
		char child[8192];

		snprintf(child, sizeof(child), "%s/%s", path, ent->name);
		if (fnmatch(pat, ent->name, 0) == 0 || fnmatch(pat, child, 0) == 0) {
			(*hits)++;
			if (x->json) {
				json_t *j = entry_json(ent, child);

				json_object_set_new(j, "recovery_point", json_string(point));
				json_object_set_new(j, "created", json_string(created));
				json_array_append_new(out, j);
			} else {
				printf("%s  %s  %s%s\n", point, created, child,
				       ent->type == TREE_DIR ? "/" : "");
			}
		}
		if (ent->type == TREE_DIR &&
		    find_walk(x, sn, ent, child, pat, point, created, out, hits, e)) {
			tree_free(t);
			return -1;
		}
	}
	tree_free(t);
	return 0;
}

int cmd_find(int argc, char **argv)
{
	struct ropts o;
	struct recovery_ctx x;
	struct err e;
	json_t *p, *out = json_array();
	size_t i, hits = 0;
	int rc = EXIT_FAIL;

	if (parse("find", argc, argv, &o) || o.n_pos != 1) {
		fprintf(stderr, "usage: arca find PATTERN [--from-machine NAME] [--json]\n"
				"  PATTERN is a shell pattern matched against names and full "
				"paths, e.g. '*.pdf' or '/home/*/notes.txt'\n");
		json_decref(out);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (recovery_open(&x, o.home, o.from, o.pass_file, o.wrapped, &e))
		goto fail;
	x.json = o.json;
	json_array_foreach(x.points, i, p) {
		struct snapshot *sn;
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *created = json_string_value(json_object_get(p, "created"));
		int walked;

		if ((sn = point_open(&x, p, &e)) == NULL)
			goto fail;
		walked = find_walk(&x, sn, NULL, "", o.pos[0], id, created, out, &hits, &e);
		snapshot_close(sn);
		if (walked)
			goto fail;
	}
	if (o.json) {
		json_t *j = json_pack("{s:s,s:O}", "pattern", o.pos[0], "matches", out);

		cmd_print_json(j);
		json_decref(j);
	} else if (hits == 0) {
		fprintf(stderr, "arca find: nothing matches '%s' in %zu recovery points\n", o.pos[0],
			json_array_size(x.points));
	}
	rc = EXIT_OK;
	goto out;
fail:
	cmd_error("find", o.json, &e);
	rc = exit_of(&e);
out:
	json_decref(out);
	recovery_close(&x);
	return rc;
}

int cmd_restore(int argc, char **argv)
{
	struct ropts o;
	struct recovery_ctx x;
	struct err e;
	struct restore_opts ro;
	struct restore_result res;
	struct restore_events ev;
	struct show sh;
	struct snapshot *sn = NULL;
	json_t *p;
	char *paths[64], target[PATH_MAX];
	int rc = EXIT_FAIL;

	memset(&res, 0, sizeof(res));
	if (parse("restore", argc, argv, &o) || o.n_pos < 1 || o.target == NULL) {
		fprintf(stderr, "usage: arca restore RECOVERY-POINT [PATH ...] --target DIR\n"
				"         [--on-conflict overwrite|keep-both|skip] [--no-permissions]\n"
				"         [--from-machine NAME [--passphrase-file FILE] [--wrapped-key KIT]]\n"
				"         [--json]\n"
				"  RECOVERY-POINT is 'latest' or an id from 'arca recovery-points'\n");
		return EXIT_USAGE;
	}
	memset(&ro, 0, sizeof(ro));
	ro.on_conflict = CONFLICT_OVERWRITE;
	if (o.conflict) {
		if (strcmp(o.conflict, "overwrite") == 0)
			ro.on_conflict = CONFLICT_OVERWRITE;
		else if (strcmp(o.conflict, "keep-both") == 0)
			ro.on_conflict = CONFLICT_KEEP_BOTH;
		else if (strcmp(o.conflict, "skip") == 0)
			ro.on_conflict = CONFLICT_SKIP;
		else {
			fprintf(stderr, "arca restore: --on-conflict takes overwrite, keep-both or "
					"skip, not '%s'\n", o.conflict);
			return EXIT_USAGE;
		}
	}
	if (abs_path(o.target, target, sizeof(target)) != 0) {
		fprintf(stderr, "arca restore: the target path is too long\n");
		return EXIT_USAGE;
	}
	ro.target = target;
	ro.no_permissions = o.no_perms;
	show_init(&sh, "restore", !o.json && isatty(STDERR_FILENO));
	show_restore_events(&sh, &ev);
	ro.ev = &ev;
	for (int i = 1; i < o.n_pos; i++) {
		char pth[PATH_MAX];

		if (point_path(o.pos[i], pth, sizeof(pth)) != 0) {
			fprintf(stderr, "arca restore: a path is too long\n");
			return EXIT_USAGE;
		}
		paths[ro.n_paths++] = strdup(pth);
	}
	ro.paths = paths;
	err_clear(&e);
	if (recovery_open(&x, o.home, o.from, o.pass_file, o.wrapped, &e) || (p = find_point(&x, o.pos[0], &e)) == NULL ||
	    (sn = point_open(&x, p, &e)) == NULL)
		goto fail;
	ro.state = &x.s;
	{
		json_t *jb = json_pack("{s:s}", "kind", "restore"), *job;
		struct err je;

		job = client_json(x.c, "POST", "/jobs", jb, NULL, NULL, &je);
		json_decref(jb);
		if (restore_run(sn, &x.repo, &ro, &res, &e) != 0) {
			show_end(&sh);
			json_decref(job);
			goto fail;
		}
		if (job && reply_id(job, "id", NULL)) {
			char jp[128];
			json_t *end = json_pack("{s:s,s:I,s:I,s:{s:O}}", "status",
						json_array_size(res.failed) ? "partial" : "complete",
						"files", (json_int_t)res.files, "bytes_read",
						(json_int_t)res.bytes, "report", "skipped", res.failed);

			snprintf(jp, sizeof(jp), "/jobs/%s", reply_id(job, "id", NULL));
			json_decref(client_json(x.c, "PATCH", jp, end, NULL, NULL, &je));
			json_decref(end);
		}
		json_decref(job);
	}
	rc = json_array_size(res.failed) ? EXIT_PARTIAL : EXIT_OK;
	if (o.json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:O}", "status",
				      rc ? "partial" : "complete", "recovery_point",
				      json_string_value(json_object_get(p, "id")), "target", target,
				      "files", (json_int_t)res.files, "dirs", (json_int_t)res.dirs,
				      "links", (json_int_t)res.links, "others", (json_int_t)res.others,
				      "bytes", (json_int_t)res.bytes, "skipped_existing",
				      (json_int_t)res.skipped_existing, "duration", res.seconds,
				      "failed", res.failed);

		cmd_print_json(j);
		json_decref(j);
	} else {
		printf("Restored %llu files, %llu folders, %llu links and %llu other entries "
		       "(%llu bytes) to %s in %.1f s.\n",
		       (unsigned long long)res.files, (unsigned long long)res.dirs,
		       (unsigned long long)res.links, (unsigned long long)res.others,
		       (unsigned long long)res.bytes, target, res.seconds);
		if (res.skipped_existing)
			printf("%llu entries were there already and were kept (--on-conflict skip).\n",
			       (unsigned long long)res.skipped_existing);
		if (rc)
			printf("%zu entries could not be restored; they are listed above.\n",
			       json_array_size(res.failed));
	}
	goto out;
fail:
	cmd_error("restore", o.json, &e);
	rc = exit_of(&e);
out:
	json_decref(res.failed);
	for (size_t i = 0; i < ro.n_paths; i++)
		free(paths[i]);
	snapshot_close(sn);
	recovery_close(&x);
	return rc;
}

/* The JSON of a verify's result (docs/AGENT.md), REPORT included. */
static json_t *verify_json(const struct verify_result *r, const struct verify_opts *vo)
{
	return json_pack("{s:s,s:b,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:O}", "status",
			 r->damaged_points ? "damaged" : "ok", "read_data", vo->read_data,
			 "sample", vo->read_data ? vo->sample : 0.0, "points",
			 (json_int_t)r->points, "objects", (json_int_t)r->objects, "trees",
			 (json_int_t)r->trees, "data_objects", (json_int_t)r->data_objects,
			 "data_read", (json_int_t)r->data_read, "bytes_read",
			 (json_int_t)r->bytes_read, "packs", (json_int_t)r->packs, "missing",
			 (json_int_t)r->missing, "damaged", (json_int_t)r->damaged, "duration",
			 r->seconds, "damaged_points", r->report);
}

/* Record a verify on the service as a job of kind "verify": complete when
 * it found nothing, failed (which raises a verify.failed alert) when it
 * found damage or could not run. Best effort: the result stands either way. */
static void verify_job(struct client *c, json_t *job, const struct verify_result *r,
		       const struct verify_opts *vo, const struct err *fail)
{
	json_t *end, *rep, *ans;
	char path[128];
	struct err je;

	if (job == NULL || reply_id(job, "id", NULL) == NULL)
		return;
	if (fail) {
		rep = json_pack("{s:s}", "error", fail->msg);
	} else {
		json_t *pts = json_array(), *p;
		size_t i;

		json_array_foreach(r->report, i, p)
			json_array_append(pts, json_object_get(p, "id"));
		rep = json_pack("{s:{s:b,s:f,s:I,s:I,s:I,s:I,s:I,s:o}}", "verify", "read_data",
				vo->read_data, "sample", vo->read_data ? vo->sample : 0.0, "points",
				(json_int_t)r->points, "objects", (json_int_t)r->objects,
				"data_read", (json_int_t)r->data_read, "missing",
				(json_int_t)r->missing, "damaged", (json_int_t)r->damaged,
				"damaged_points", pts);
	}
	end = json_pack("{s:s,s:I,s:I,s:o}", "status",
			fail || r->damaged_points ? "failed" : "complete", "files",
			(json_int_t)(fail ? 0 : r->objects), "bytes_read",
			(json_int_t)(fail ? 0 : r->bytes_read), "report", rep);
	snprintf(path, sizeof(path), "/jobs/%s", reply_id(job, "id", NULL));
	if ((ans = client_json(c, "PATCH", path, end, NULL, NULL, &je)) == NULL)
		fprintf(stderr, "arca verify: note: the outcome was not recorded on the service: "
			"%s\n", je.msg);
	json_decref(ans);
	json_decref(end);
}

int verify_machine(const char *home, const char *from, const char *pass_file,
		   const char *wrapped, char *const *names, size_t n_names,
		   const struct verify_opts *vo, struct verify_result *res, struct err *e)
{
	struct recovery_ctx x;
	json_t *pts = NULL, *job = NULL, *jb;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (recovery_open(&x, home, from, pass_file, wrapped, e))
		goto out;
	if (n_names == 0) {
		pts = json_incref(x.points);
	} else {
		pts = json_array();
		for (size_t i = 0; i < n_names; i++) {
			json_t *p = find_point(&x, names[i], e);

			if (p == NULL)
				goto out;
			json_array_append(pts, p);
		}
	}
	jb = json_pack("{s:s}", "kind", "verify");
	job = client_json(x.c, "POST", "/jobs", jb, NULL, NULL, NULL);
	json_decref(jb);
	rc = verify_run(&x.repo, pts, vo, res, e);
	verify_job(x.c, job, res, vo, rc ? e : NULL);
out:
	json_decref(job);
	json_decref(pts);
	recovery_close(&x);
	return rc;
}

int cmd_verify(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT, *from = NULL, *pass_file = NULL, *wrapped = NULL;
	const char *sample = NULL;
	int json = 0, read_data = 0, rc;
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &json },
		{ "--home", OPT_VALUE, &home },
		{ "--read-data", OPT_FLAG, &read_data },
		{ "--sample", OPT_VALUE, &sample },
		{ "--from-machine", OPT_VALUE, &from },
		{ "--passphrase-file", OPT_VALUE, &pass_file },
		{ "--wrapped-key", OPT_VALUE, &wrapped },
		{ NULL, OPT_FLAG, NULL },
	};
	struct opt_list pos = { NULL, 0 };
	struct verify_opts vo = { 0, 100, NULL };
	struct verify_events ev;
	struct verify_result res;
	struct show sh;
	struct err e;

	if (opt_parse(table, argc, argv, 1, &pos, &e) != 0) {
		fprintf(stderr, "arca verify: %s\n", e.msg);
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	if (sample) {
		char *end;

		vo.sample = strtod(sample, &end);
		if (!read_data || end == sample || *end != '\0' || !(vo.sample > 0 && vo.sample <= 100)) {
			fprintf(stderr, "arca verify: --sample takes a percentage above 0 and up to 100 "
				"of the data objects to read, with --read-data\n");
			opt_list_free(&pos);
			return EXIT_USAGE;
		}
	}
	vo.read_data = read_data;
	show_init(&sh, "verify", !json && isatty(STDERR_FILENO));
	show_verify_events(&sh, &ev);
	vo.ev = &ev;
	err_clear(&e);
	if (verify_machine(home, from, pass_file, wrapped, pos.v, pos.n, &vo, &res, &e) != 0) {
		show_end(&sh);
		cmd_error("verify", json, &e);
		opt_list_free(&pos);
		return exit_of(&e);
	}
	opt_list_free(&pos);
	rc = res.damaged_points ? EXIT_DAMAGED : EXIT_OK;
	if (json) {
		json_t *j = verify_json(&res, &vo);

		cmd_print_json(j);
		json_decref(j);
	} else {
		json_t *p, *f;
		size_t i, k;

		json_array_foreach(res.report, i, p) {
			printf("Recovery point %s (%s) is damaged:\n",
			       json_string_value(json_object_get(p, "id")),
			       json_string_value(json_object_get(p, "created")) ?
				       json_string_value(json_object_get(p, "created")) : "?");
			json_array_foreach(json_object_get(p, "files"), k, f)
				printf("  %s: %s\n", json_string_value(json_object_get(f, "path")),
				       json_string_value(json_object_get(f, "problem")));
			if (json_integer_value(json_object_get(p, "more_files")))
				printf("  and %lld more paths\n",
				       (long long)json_integer_value(json_object_get(p, "more_files")));
		}
		printf("Verified %llu recovery points: %llu objects (%llu file chunks) in the "
		       "catalog and the store", (unsigned long long)res.points,
		       (unsigned long long)res.objects, (unsigned long long)res.data_objects);
		if (vo.read_data)
			printf(", %llu chunks read and authenticated (%llu bytes)",
			       (unsigned long long)res.data_read, (unsigned long long)res.bytes_read);
		printf(", in %.1f s.\n", res.seconds);
		if (rc)
			printf("%llu recovery points are damaged: %llu objects missing, %llu damaged.\n",
			       (unsigned long long)res.damaged_points, (unsigned long long)res.missing,
			       (unsigned long long)res.damaged);
		else
			printf("No damage found.\n");
	}
	json_decref(res.report);
	return rc;
}
