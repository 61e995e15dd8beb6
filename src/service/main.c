/*
 * main.c: the `arcad` command line, the vault service. It parses the command
 * word and hands the rest to the command's function; each returns an exit
 * code: 0 success, 1 failure, 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

static void usage(FILE *f)
{
	fprintf(f,
		"arcad %s: the arca vault service\n"
		"\n"
		"Usage: arcad COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  version [--json]   print the service's version\n"
		"  help               print this help\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage error.\n",
		ARCA_VERSION);
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--json") == 0) {
		json_t *o = json_pack("{s:s}", "version", ARCA_VERSION);

		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "arcad version: unknown option '%s'\n", argv[1]);
		return 2;
	}
	printf("arcad %s\n", ARCA_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	fprintf(stderr, "arcad: unknown command '%s'; run 'arcad help' for the list\n", cmd);
	return 2;
}
