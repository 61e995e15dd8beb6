/* cmd_version.c: `arca version [--json]`. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "exitcode.h"

int cmd_version(int argc, char **argv)
{
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "arca version: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (json) {
		json_t *o = json_pack("{s:s}", "version", ARCA_VERSION);

		cmd_print_json(o);
		json_decref(o);
	} else {
		printf("arca %s\n", ARCA_VERSION);
	}
	return EXIT_OK;
}
