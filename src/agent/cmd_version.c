/* cmd_version.c: `arca version [--json]`. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "exitcode.h"
#include "opts.h"

int cmd_version(int argc, char **argv)
{
	int json = 0;
	const struct opt table[] = {
		{ "--json", OPT_FLAG, &json },
		{ NULL, OPT_FLAG, NULL },
	};
	struct err e;

	if (opt_parse(table, argc, argv, 1, NULL, &e) != 0) {
		fprintf(stderr, "arca version: %s\n", e.msg);
		return EXIT_USAGE;
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
