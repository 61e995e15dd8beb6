/*
 * fuzz_pack.c: the pack readers on arbitrary bytes. The keyless table reader
 * runs first, as the service would; when it accepts, every object is read with
 * the keys of a fixed master key, as the agent would. Nothing may crash, leak
 * or return bytes that failed authentication. The seed corpus holds packs
 * sealed under the same fixed key, so the fuzzer starts from valid packs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keys *k;
	struct pack_entry *ents;
	struct buf out = BUF_INIT;
	size_t n;

	if (k == NULL) {
		uint8_t master[KEY_LEN];

		memset(master, 0x5a, sizeof(master));
		if ((k = keys_from_master(master, NULL)) == NULL)
			abort();
	}
	if (pack_toc_read(data, size, &ents, &n, NULL) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t before = out.len;

		if (pack_object_read(k, data, size, &ents[i], &out, NULL) != 0 && out.len != before)
			abort(); /* a failed read must leave nothing behind */
	}
	free(ents);
	buf_free(&out);
	return 0;
}
