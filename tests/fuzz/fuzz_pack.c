/*
 * fuzz_pack.c: the pack readers on arbitrary bytes. The keyless table reader
 * runs first, as the service would; when it accepts, every object is read with
 * the keys of a fixed master key, as the agent would. Nothing may crash, leak
 * or return bytes that failed authentication. The seed corpus holds packs
 * sealed under the same fixed key, so the fuzzer starts from valid packs.
 *
 * Why a second pass with the table's hash rewritten: a mutation of the table
 * almost never keeps its SHA-256, so without the rewrite the structure checks
 * behind the hash (counts, kinds, gaps, overlaps, duplicates) would be
 * reached only by the seeds. The rewrite is done on a copy, where the
 * trailer says the table is, before the reader sees it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "bytes.h"
#include "keys.h"
#include "pack.h"

static const struct keys *fuzz_keys(void)
{
	static struct keys *k;
	uint8_t master[KEY_LEN];

	if (k == NULL) {
		memset(master, 0x5a, sizeof(master));
		if ((k = keys_from_master(master, NULL)) == NULL)
			abort();
	}
	return k;
}

static void read_pack(const uint8_t *data, size_t size)
{
	struct pack_entry *ents;
	struct buf out = BUF_INIT;
	size_t n;

	if (pack_toc_read(data, size, &ents, &n, NULL) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t before = out.len;

		if (pack_object_read(fuzz_keys(), data, size, &ents[i], &out, NULL) != 0 &&
		    out.len != before)
			abort(); /* a failed read must leave nothing behind */
	}
	free(ents);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint64_t off, len;

	read_pack(data, size);
	if (size < PACK_TRAILER_LEN)
		return 0;
	off = le64_get(data + size - PACK_TRAILER_LEN);
	len = le32_get(data + size - PACK_TRAILER_LEN + 8);
	if (off > size - PACK_TRAILER_LEN || len > size - PACK_TRAILER_LEN - off)
		return 0;
	if ((copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data, size);
	SHA256(copy + off, len, copy + size - PACK_TRAILER_LEN + 16);
	read_pack(copy, size);
	free(copy);
	return 0;
}
