/*
 * opts.h: the one option parser of the agent's commands. Each command
 * describes its options in a table (name, whether it takes a value, where
 * the value goes) and gets the same behaviour and the same messages: an
 * option that is not in the table, or one that lacks its value, is refused
 * with one message for every command.
 */
#ifndef ARCA_AGENT_OPTS_H
#define ARCA_AGENT_OPTS_H

#include <stddef.h>

#include "err.h"

enum opt_kind {
	OPT_FLAG,  /* no value: DEST is an int set to 1 */
	OPT_VALUE, /* one value: DEST is a const char * (the last one given wins) */
	OPT_LIST,  /* a value, repeatable: DEST is a struct opt_list, in order */
};

/* Values given to a repeatable option (or the positional arguments). The
 * strings are argv's own; V is the parser's, freed with opt_list_free. */
struct opt_list {
	char **v;
	size_t n;
};

struct opt {
	const char *name; /* "--home"; a table ends with a NULL name */
	enum opt_kind kind;
	void *dest;
};

/* Parse ARGV[FIRST..ARGC) against TABLE. Arguments that are not options
 * ("-" alone is not one) go to POS in order; with POS NULL they are
 * refused. 0, or -1 with E set (ERR_INVALID) and a message that names the
 * argument: "unknown option '--x'; see 'arca help'", "--home needs a
 * value", "unexpected argument 'x'". On failure the lists keep what was
 * parsed; free them all the same. */
int opt_parse(const struct opt *table, int argc, char **argv, int first, struct opt_list *pos,
	      struct err *e);

/* Free L's array (not the strings, which are argv's) and empty it. */
void opt_list_free(struct opt_list *l);

#endif
