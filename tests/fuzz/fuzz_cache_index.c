/*
 * fuzz_cache_index.c: the agent's cache index files (stored.ids and
 * files.idx, cache_index_parse) on arbitrary bytes. The first byte picks
 * the file (even: stored.ids, a set; odd: files.idx, 40-byte values); the
 * rest is the file. What is accepted must write back (cache_index_write) to
 * a file of the same length that parses to the same map; what is refused
 * must leave the map empty and say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachefile.h"

#define FENT_LEN 40 /* backup.c's struct fent */

/* Undefined behaviour is a finding, not a warning: stop at the first. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idmap m, again;
	struct buf out = BUF_INIT;
	struct err e;
	const struct objid *k;
	void *v;
	size_t i = 0, vsize;
	const char *magic;

	if (size < 1)
		return 0;
	vsize = data[0] & 1 ? FENT_LEN : 0;
	magic = data[0] & 1 ? cache_fidx_magic : cache_ids_magic;
	data++, size--;
	idmap_init(&m, vsize);
	idmap_init(&again, vsize);
	if (cache_index_parse(data, size, magic, &m, &e) != 0) {
		if (e.msg[0] == 0 || m.n != 0 ||
		    (e.code != ERR_CORRUPT && e.code != ERR_UNSUPPORTED && e.code != ERR_NOMEM))
			abort();
		goto out;
	}
	if (m.n != (size - CACHE_MAGIC_LEN) / (OBJID_LEN + vsize) ||
	    cache_index_write(&m, magic, m.vsize, &out, NULL) != 0 || out.len != size ||
	    memcmp(out.data, data, CACHE_MAGIC_LEN) != 0 ||
	    cache_index_parse(out.data, out.len, magic, &again, NULL) != 0 || again.n != m.n)
		abort();
	while (idmap_next(&m, &i, &k, &v)) {
		const void *w = idmap_get(&again, k);

		if (w == NULL || memcmp(v, w, vsize) != 0)
			abort();
	}
out:
	buf_free(&out);
	idmap_free(&m);
	idmap_free(&again);
	return 0;
}
