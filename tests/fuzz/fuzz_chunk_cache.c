/*
 * fuzz_chunk_cache.c: the mount's chunk cache folder (chunkcache.c) on
 * arbitrary files. The first byte picks what the folder holds: bit 0 names
 * the file by the id of its bytes (a good chunk) or by a fixed id (a
 * planted one), bit 1 adds a second file whose name is taken from the
 * input (any bytes a name may hold), bit 2 asks for another length than
 * the file's; the rest is the file's bytes. Whatever is there, the cache
 * must open, and give back bytes only when they are the chunk's: the id
 * of what it returns is the id asked for, at the length asked for.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkcache.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static char dir[64];
static struct keys *keys;

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return; /* a name the file system refuses */
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* The folder goes when the fuzzer ends (libFuzzer exits through exit). */
static void remove_dir(void)
{
	empty_dir();
	rmdir(dir);
	keys_free(keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_cache *cc;
	struct objid id, got;
	struct buf b = BUF_INIT;
	char hex[OBJID_HEX_LEN + 1];
	size_t want;
	uint8_t mode;

	if (keys == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz-chunk-cache-XXXXXX");
		if (mkdtemp(dir) == NULL || (keys = keys_generate(NULL)) == NULL)
			abort();
		atexit(remove_dir);
	}
	if (size < 1)
		return 0;
	mode = data[0];
	data++, size--;
	empty_dir();
	if (mode & 1)
		objid_compute(keys, data, size, &id);
	else
		memset(&id, 0xA5, sizeof(id));
	objid_to_hex(&id, hex);
	write_file(hex, data, size);
	if (mode & 2 && size > 0) {
		char name[256];
		size_t n = size < 64 ? size : 64, k = 0;

		for (size_t i = 0; i < n; i++)
			if (data[i] != '/' && data[i] != '\0')
				name[k++] = (char)data[i];
		name[k] = '\0';
		if (k && strcmp(name, ".") && strcmp(name, ".."))
			write_file(name, data, size);
	}
	want = mode & 4 ? size + 1 : size;
	if ((cc = chunk_cache_open(dir, 1 << 20, keys, NULL)) == NULL)
		abort(); /* a folder it can read always opens */
	if (chunk_cache_get(cc, &id, want, &b)) {
		objid_compute(keys, b.data, b.len, &got);
		if (b.len != want || memcmp(&got, &id, sizeof(id)) != 0)
			abort(); /* bytes that are not the chunk */
	}
	{
		void *ref;
		const uint8_t *p = chunk_cache_hold(cc, &id, want, &ref);

		if (p) {
			objid_compute(keys, p, want, &got);
			if (memcmp(&got, &id, sizeof(id)) != 0)
				abort();
			chunk_cache_release(cc, ref);
		}
	}
	if (chunk_cache_bytes(cc) > 1 << 20)
		abort(); /* over its limit */
	buf_free(&b);
	chunk_cache_free(cc);
	return 0;
}
