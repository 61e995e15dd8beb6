/*
 * fuzz_tree.c: the tree decoder on arbitrary bytes. Whatever it accepts must
 * re-encode to exactly the input: the format is canonical, so a second
 * encoding of one tree would be a bug (it would also defeat deduplication).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf again = BUF_INIT;
	struct tree *t = tree_decode(data, size, NULL);

	if (t == NULL)
		return 0;
	if (tree_encode(t, &again, NULL) != 0 || again.len != size ||
	    (size && memcmp(again.data, data, size) != 0))
		abort();
	for (size_t i = 0; i < t->n; i++)
		if (tree_find(t, t->e[i].name) != &t->e[i])
			abort();
	buf_free(&again);
	tree_free(t);
	return 0;
}
