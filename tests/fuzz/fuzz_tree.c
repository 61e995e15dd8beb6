/*
 * fuzz_tree.c: the tree decoder on arbitrary bytes. Whatever it accepts must
 * re-encode to exactly the input: the format is canonical, so a second
 * encoding of one tree would be a bug (it would also defeat deduplication).
 * Every decoded entry must pass the entry rules, and be found by name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf again = BUF_INIT;
	struct err e;
	struct tree *t = tree_decode(data, size, &e);

	if (t == NULL) {
		if (e.msg[0] == 0 || (e.code != ERR_CORRUPT && e.code != ERR_UNSUPPORTED &&
				      e.code != ERR_TOO_LARGE && e.code != ERR_NOMEM))
			abort();
		return 0;
	}
	if (!t->sorted || tree_encode(t, &again, NULL) != 0 || again.len != size ||
	    memcmp(again.data, data, size) != 0)
		abort();
	for (size_t i = 0; i < t->n; i++)
		if (tree_entry_check(&t->e[i], NULL) != 0 || tree_find(t, t->e[i].name) != &t->e[i])
			abort();
	buf_free(&again);
	tree_free(t);
	return 0;
}
