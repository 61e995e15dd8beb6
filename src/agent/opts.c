/*
 * opts.c: table-driven parsing of a command's arguments.
 */
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static int list_add(struct opt_list *l, char *s, struct err *e)
{
	char **g = realloc(l->v, (l->n + 1) * sizeof(*g));

	if (g == NULL)
		return err_oom(e);
	l->v = g;
	l->v[l->n++] = s;
	return 0;
}

static const struct opt *find(const struct opt *table, const char *name)
{
	for (; table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

int opt_parse(const struct opt *table, int argc, char **argv, int first, struct opt_list *pos,
	      struct err *e)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o;

		if (a[0] != '-' || a[1] == '\0') {
			if (pos == NULL)
				return err_set(e, ERR_INVALID, "unexpected argument '%s'", a);
			if (list_add(pos, argv[i], e))
				return -1;
			continue;
		}
		if ((o = find(table, a)) == NULL)
			return err_set(e, ERR_INVALID, "unknown option '%s'; see 'arca help'", a);
		if (o->kind == OPT_FLAG) {
			*(int *)o->dest = 1;
			continue;
		}
		if (i + 1 >= argc)
			return err_set(e, ERR_INVALID, "%s needs a value", a);
		i++;
		if (o->kind == OPT_VALUE)
			*(const char **)o->dest = argv[i];
		else if (list_add(o->dest, argv[i], e))
			return -1;
	}
	return 0;
}

void opt_list_free(struct opt_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
