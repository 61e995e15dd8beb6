/*
 * main.c: the `arca` command line. It parses the command word and hands the
 * rest to one cmd_ function per command; each returns an exit code from
 * exit.h. Messages for people go to stderr, results to stdout, and every
 * command speaks --json.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "err.h"
#include "exitcode.h"

void cmd_print_json(const json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

void cmd_error(const char *cmd, int json, const struct err *e)
{
	if (json) {
		json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", err_code_name(e->code),
				      "message", e->msg);

		cmd_print_json(o);
		json_decref(o);
	}
	fprintf(stderr, "arca %s: %s\n", cmd, e->msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"arca %s: the arca backup agent\n"
		"\n"
		"Usage: arca COMMAND [OPTIONS]\n"
		"\n"
		"Setup:\n"
		"  register --vault-credentials FILE   register this machine to a vault\n"
		"      [--home DIR] [--cache DIR] [--machine-name NAME]\n"
		"      [--proxy URL [--proxy-user USER] [--proxy-password-file FILE]]\n"
		"      [--generate-passphrase | --passphrase-file FILE]\n"
		"      [--passphrase-out FILE | --confirm-saved]\n"
		"  properties [--proxy URL | --no-proxy] [--cache DIR]\n"
		"      [--throttle-work RATE] [--throttle-other RATE] [--work-hours 9-17]\n"
		"      [--change-passphrase --passphrase-file FILE --pin PIN]\n"
		"      [--add-passphrase --passphrase-file FILE --recovery-kit FILE]\n"
		"  credentials check FILE   check a vault credentials file\n"
		"\n"
		"Backup:\n"
		"  backup PATH... [--exclude PATTERN]... [--include PATTERN]...\n"
		"  policy show | preview    the schedule and retention; what retention keeps\n"
		"  policy set --schedule HH:MM[,HH:MM[,HH:MM]] [--days mon,...]\n"
		"      [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
		"      [--path PATH]... [--include P]... [--exclude P]...\n"
		"      [--verify-every DAYS --verify-sample PERCENT]\n"
		"  agent                    the resident agent: backs up on the schedule\n"
		"\n"
		"Recovery (add --from-machine NAME [--passphrase-file F] [--wrapped-key KIT]\n"
		"to read another machine of the vault):\n"
		"  recovery-points          list the recovery points\n"
		"  ls POINT [PATH]          list a folder of a recovery point\n"
		"  find PATTERN             find files across recovery points\n"
		"  restore POINT [PATH...] --target DIR\n"
		"      [--on-conflict overwrite|keep-both|skip] [--no-permissions]\n"
		"  verify [--read-data [--sample PERCENT]] [POINT...]\n"
		"                           check that recovery points can be restored\n"
		"  mount MOUNTPOINT [--foreground] [--cache-size MIB] [--machine NAME]\n"
		"                           the recovery points as a read-only folder\n"
		"  umount MOUNTPOINT        unmount it\n"
		"  POINT is 'latest' or a recovery point id (or a unique prefix of one)\n"
		"\n"
		"  version                  print the agent's version\n"
		"  help                     print this help\n"
		"\n"
		"Every command accepts --home DIR (default /var/lib/arca) and --json.\n"
		"\n"
		"Exit codes:\n"
		"  0  success\n"
		"  1  failure; the message says why\n"
		"  2  usage error\n"
		"  3  vault credentials invalid, superseded or unreadable\n"
		"  4  vault credentials expired\n"
		"  5  partial: done, but some entries were skipped or not restored (listed)\n"
		"  6  the passphrase is wrong or breaks the rules\n"
		"  7  the cache folder has less free space than the backup needs\n"
		"  8  verify found damaged recovery points (listed)\n"
		"  9  the change waits for the guard's approval (the request id is printed)\n",
		ARCA_VERSION);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* Why a fixed threshold: glibc raises it as large blocks are freed,
	 * after which the buffers of a few MiB that backups and restores
	 * hold and drop (chunks, packs, windows of fetched objects) come from
	 * the threads' arenas, which keep what was freed: the peak memory
	 * then grows with each thread's largest buffers. Fixed, every such
	 * buffer is its own mapping, given back when freed, and the agent's
	 * memory follows what it holds (the buffers it reuses are kept). */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (cmd == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "credentials", cmd_credentials },   { "register", cmd_register },
		{ "properties", cmd_properties },     { "backup", cmd_backup },
		{ "recovery-points", cmd_recovery_points }, { "ls", cmd_ls },
		{ "find", cmd_find },                 { "restore", cmd_restore },
		{ "policy", cmd_policy },             { "agent", cmd_agent },
		{ "verify", cmd_verify },             { "mount", cmd_mount },
		{ "umount", cmd_umount },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "arca: unknown command '%s'; run 'arca help' for the list\n", cmd);
	return EXIT_USAGE;
}
