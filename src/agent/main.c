/*
 * main.c: the `arca` command line. It parses the command word and hands the
 * rest to one cmd_ function per command; each returns an exit code from
 * exit.h. Messages for people go to stderr, results to stdout, and every
 * command speaks --json.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "exitcode.h"

static void usage(FILE *f)
{
	fprintf(f,
		"arca %s: the arca backup agent\n"
		"\n"
		"Usage: arca COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  credentials check FILE   check a vault credentials file: who issued it,\n"
		"                           for which vault, and until when it is valid\n"
		"  version                  print the agent's version\n"
		"  help                     print this help\n"
		"\n"
		"Every command accepts --json for machine-readable output.\n"
		"Exit codes: 0 success, 1 failure, 2 usage error, 3 vault credentials\n"
		"invalid, 4 vault credentials expired.\n",
		ARCA_VERSION);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

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
	if (strcmp(cmd, "credentials") == 0)
		return cmd_credentials(argc - 1, argv + 1);
	fprintf(stderr, "arca: unknown command '%s'; run 'arca help' for the list\n", cmd);
	return EXIT_USAGE;
}
