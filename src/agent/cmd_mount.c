/*
 * cmd_mount.c: `arca mount` and `arca umount`: this machine's recovery
 * points (or, with --machine NAME and that machine's passphrase, another
 * machine's of the vault) as a read-only file system (mount.h), and its
 * unmounting. Reads go through a chunk cache in the cache folder
 * (chunkcache.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "chunkcache.h"
#include "cmd.h"
#include "exitcode.h"
#include "mount.h"
#include "opts.h"

int abs_path(const char *path, char *out, size_t size);

struct say {
	int json;
	size_t points;
	const char *machine;
};

/* Messages of a mount in the background reach syslog; in the foreground
 * stderr as well. */
static void say_log(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "arca mount: %s\n", msg);
	syslog(LOG_WARNING, "%s", msg);
}

static void say_ready(void *arg, const char *mp)
{
	struct say *s = arg;

	if (s->json) {
		json_t *j = json_pack("{s:s,s:I,s:s?}", "mountpoint", mp, "points",
				      (json_int_t)s->points, "machine", s->machine);

		cmd_print_json(j);
		json_decref(j);
	} else {
		printf("Mounted %zu recovery points%s%s on %s (read only): by-time/, by-id/ and "
		       "latest. 'arca umount %s' unmounts it.\n", s->points,
		       s->machine ? " of machine " : "", s->machine ? s->machine : "", mp, mp);
	}
	/* Before the fork of the background: the text must not be there twice. */
	fflush(stdout);
	fflush(stderr);
}

int cmd_mount(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT, *machine = NULL, *from = NULL, *pass_file = NULL;
	const char *wrapped = NULL, *size = NULL;
	int json = 0, foreground = 0, rc = EXIT_FAIL;
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &json },
		{ "--foreground", OPT_FLAG, &foreground },
		{ "--home", OPT_VALUE, &home },
		{ "--machine", OPT_VALUE, &machine },
		{ "--from-machine", OPT_VALUE, &from },
		{ "--passphrase-file", OPT_VALUE, &pass_file },
		{ "--wrapped-key", OPT_VALUE, &wrapped },
		{ "--cache-size", OPT_VALUE, &size },
		{ NULL, OPT_FLAG, NULL },
	};
	struct opt_list pos = { NULL, 0 };
	struct recovery_ctx x;
	struct chunk_cache *cc = NULL;
	struct mount_source src;
	struct mount_events ev;
	struct say say;
	uint64_t limit = CHUNK_CACHE_LIMIT_DEFAULT;
	char mp[PATH_MAX], dir[PATH_MAX + 300];
	struct err e;

	int bad;

	err_clear(&e);
	if ((bad = opt_parse(table, argc, argv, 1, &pos, &e)) != 0 || pos.n != 1) {
		if (bad)
			fprintf(stderr, "arca mount: %s\n", e.msg);
		fprintf(stderr, "usage: arca mount MOUNTPOINT [--foreground] [--cache-size MIB]\n"
				"         [--machine NAME [--passphrase-file FILE] [--wrapped-key KIT]]\n"
				"         [--json]\n");
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	if (machine && from && strcmp(machine, from) != 0) {
		fprintf(stderr, "arca mount: --machine and --from-machine name two machines; "
				"give one\n");
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	if (machine == NULL)
		machine = from;
	if (size) {
		char *end;
		unsigned long long mib = strtoull(size, &end, 10);

		if (end == size || *end != '\0' || mib < 16 || mib > (1ull << 24)) {
			fprintf(stderr, "arca mount: --cache-size takes the chunk cache's size in "
					"MiB, from 16 up, not '%s'\n", size);
			opt_list_free(&pos);
			return EXIT_USAGE;
		}
		limit = mib << 20;
	}
	if (abs_path(pos.v[0], mp, sizeof(mp)) != 0) {
		fprintf(stderr, "arca mount: the mount point's path is too long\n");
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	opt_list_free(&pos);
	err_clear(&e);
	memset(&x, 0, sizeof(x));
	/* FUSE first: its absence is the likelier problem, and it needs no
	 * passphrase to find. */
	if (mount_check_fuse(&e) || recovery_open(&x, home, machine, pass_file, wrapped, &e))
		goto fail;
	snprintf(dir, sizeof(dir), "%s/%s%s%s", x.s.cache, CHUNK_CACHE_DIR, machine ? "-" : "",
		 machine ? machine : "");
	if ((cc = chunk_cache_open(dir, limit, x.repo.keys, &e)) == NULL)
		goto fail;
	openlog("arca-mount", LOG_PID, LOG_DAEMON);
	memset(&src, 0, sizeof(src));
	src.s = &x.s;
	src.keys = x.repo.keys;
	src.machine = machine;
	src.tc = x.repo.tc;
	src.cc = cc;
	src.points = x.points;
	say.json = json;
	say.points = json_array_size(x.points);
	say.machine = machine;
	ev.log = say_log;
	ev.ready = say_ready;
	ev.arg = &say;
	if (mount_serve(&src, mp, foreground, &ev, &e))
		goto fail;
	rc = EXIT_OK;
	goto out;
fail:
	cmd_error("mount", json, &e);
	rc = e.code == ERR_PASSPHRASE ? EXIT_PASSPHRASE : EXIT_FAIL;
out:
	chunk_cache_free(cc);
	recovery_close(&x);
	closelog();
	return rc;
}

int cmd_umount(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT;
	int json = 0;
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &json },
		{ "--home", OPT_VALUE, &home },
		{ NULL, OPT_FLAG, NULL },
	};
	struct opt_list pos = { NULL, 0 };
	char mp[PATH_MAX];
	struct err e;

	int bad;

	err_clear(&e);
	if ((bad = opt_parse(table, argc, argv, 1, &pos, &e)) != 0 || pos.n != 1) {
		if (bad)
			fprintf(stderr, "arca umount: %s\n", e.msg);
		fprintf(stderr, "usage: arca umount MOUNTPOINT [--json]\n");
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	(void)home;
	if (abs_path(pos.v[0], mp, sizeof(mp)) != 0) {
		fprintf(stderr, "arca umount: the mount point's path is too long\n");
		opt_list_free(&pos);
		return EXIT_USAGE;
	}
	opt_list_free(&pos);
	err_clear(&e);
	if (mount_unmount(mp, &e)) {
		cmd_error("umount", json, &e);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *j = json_pack("{s:s}", "unmounted", mp);

		cmd_print_json(j);
		json_decref(j);
	}
	return EXIT_OK;
}
