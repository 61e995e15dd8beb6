/*
 * tool_pack.c: a test tool that makes a real pack, for the end-to-end tests
 * of the service's storage until the agent makes them by itself.
 *
 * usage: arca-test-pack OUT N SIZE SEED
 * Writes a pack of N objects of SIZE random bytes each (the last one a tree,
 * to mix kinds), sealed under a master key derived from SEED, to OUT, and
 * prints {"pack": id, "objects": [ids], "size": bytes} as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "pack.h"

int main(int argc, char **argv)
{
	uint8_t master[KEY_LEN], pid[PACK_ID_LEN];
	struct buf out = BUF_INIT;
	struct pack_writer *w;
	struct keys *k;
	struct err e;
	uint8_t *data;
	char hex[OBJID_HEX_LEN + 1];
	FILE *f;
	long n, size;

	if (argc != 5 || (n = atol(argv[2])) < 1 || (size = atol(argv[3])) < 1 ||
	    sodium_init() < 0) {
		fprintf(stderr, "usage: arca-test-pack OUT N SIZE SEED\n");
		return 2;
	}
	crypto_generichash(master, sizeof(master), (const uint8_t *)argv[4], strlen(argv[4]), NULL, 0);
	if ((k = keys_from_master(master, &e)) == NULL || (w = pack_writer_new(k, 3, &e)) == NULL ||
	    (data = malloc((size_t)size)) == NULL)
		return 1;
	printf("{\"objects\": [");
	for (long i = 0; i < n; i++) {
		struct objid id;

		randombytes_buf(data, (size_t)size);
		objid_compute(k, data, (size_t)size, &id);
		if (pack_writer_add(w, i == n - 1 ? OBJECT_TREE : OBJECT_DATA, &id, data, (size_t)size, &e)) {
			fprintf(stderr, "%s\n", e.msg);
			return 1;
		}
		objid_to_hex(&id, hex);
		printf("%s\"%s\"", i ? ", " : "", hex);
	}
	if (pack_writer_finish(w, &out, pid, &e) != 0 || (f = fopen(argv[1], "wb")) == NULL ||
	    fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
		fprintf(stderr, "cannot write the pack\n");
		return 1;
	}
	sodium_bin2hex(hex, sizeof(hex), pid, sizeof(pid));
	printf("], \"pack\": \"%s\", \"size\": %zu}\n", hex, out.len);
	buf_free(&out);
	free(data);
	pack_writer_free(w);
	keys_free(k);
	return 0;
}
