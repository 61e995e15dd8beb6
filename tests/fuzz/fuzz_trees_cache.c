/*
 * fuzz_trees_cache.c: the scan of the agent's tree cache (trees.dat,
 * cache_trees_scan) on arbitrary bytes. What it accepts must index records
 * that lie wholly inside the file, end at a record boundary, and rebuild to
 * the same index from the records it found (each id's last record); what it
 * refuses must say why with a cache error code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cachefile.h"

struct mem {
	const uint8_t *p;
	size_t n;
};

/* Undefined behaviour is a finding, not a warning: stop at the first. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int mem_read(void *arg, uint64_t off, void *buf, size_t n)
{
	const struct mem *m = arg;

	if (off > m->n || n > m->n - off)
		abort(); /* the scanner never reads past the size it was given */
	memcpy(buf, m->p + off, n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size };
	struct idmap at, again;
	struct buf file = BUF_INIT;
	struct err e;
	uint64_t end, end2;
	const struct objid *k;
	void *v;
	size_t i = 0;
	uint64_t bound = size > 64 && (data[size - 1] & 1) ? size - 1 : (uint64_t)-1;

	idmap_init(&at, 2 * sizeof(uint64_t));
	idmap_init(&again, 2 * sizeof(uint64_t));
	if (cache_trees_scan(mem_read, &m, size, bound, &at, &end, &e) != 0) {
		if (e.msg[0] == 0 || at.n != 0 ||
		    (e.code != ERR_CORRUPT && e.code != ERR_UNSUPPORTED && e.code != ERR_TOO_LARGE &&
		     e.code != ERR_NOMEM))
			abort();
		goto out;
	}
	if (end < CACHE_MAGIC_LEN || end > size || memcmp(data, cache_trees_magic, CACHE_MAGIC_LEN) != 0)
		abort();
	/* What is left after END is a torn record: too short for its head, or
	 * shorter than its head says. */
	if (size - end >= CACHE_TREES_HEAD &&
	    le32_get(data + end + OBJID_LEN) <= size - end - CACHE_TREES_HEAD)
		abort();
	/* Write each id's last record back: a file of the same index. */
	if (buf_append(&file, cache_trees_magic, CACHE_MAGIC_LEN, NULL))
		abort();
	while (idmap_next(&at, &i, &k, &v)) {
		const uint64_t *ol = v;
		uint8_t head[CACHE_TREES_HEAD];

		if (ol[0] < CACHE_MAGIC_LEN + CACHE_TREES_HEAD || ol[0] > end || ol[1] > end - ol[0] ||
		    memcmp(data + ol[0] - CACHE_TREES_HEAD, k->b, OBJID_LEN) != 0)
			abort();
		cache_trees_head(head, k, (uint32_t)ol[1]);
		if (memcmp(head, data + ol[0] - CACHE_TREES_HEAD, CACHE_TREES_HEAD) != 0 ||
		    buf_append(&file, head, sizeof(head), NULL) ||
		    buf_append(&file, data + ol[0], ol[1], NULL))
			abort();
	}
	m = (struct mem){ file.data, file.len };
	if (cache_trees_scan(mem_read, &m, file.len, (uint64_t)-1, &again, &end2, NULL) != 0 ||
	    end2 != file.len || again.n != at.n)
		abort();
	i = 0;
	while (idmap_next(&again, &i, &k, &v)) {
		const uint64_t *a = v, *b = idmap_get(&at, k);

		if (b == NULL || a[1] != b[1] || memcmp(file.data + a[0], data + b[0], a[1]) != 0)
			abort();
	}
out:
	buf_free(&file);
	idmap_free(&at);
	idmap_free(&again);
	return 0;
}
