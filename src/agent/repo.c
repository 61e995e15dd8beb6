/*
 * repo.c: objects back from the service.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "state.h"

#define LOCATE_BATCH 4096
#define RUN_MAX (32u << 20) /* most bytes fetched by one range request */

struct loc {
	char pack[65];
	uint64_t offset;
	uint32_t length;
	int found;
};

void repo_cache_put(const char *cache, const struct objid *id, const uint8_t *sealed,
		    size_t len)
{
	char dir[4200], hex[OBJID_HEX_LEN + 1];

	if (cache == NULL)
		return;
	objid_to_hex(id, hex);
	snprintf(dir, sizeof(dir), "%s/objects", cache);
	mkdir(dir, 0700);
	state_write_file(dir, hex, sealed, len, 0600, NULL);
}

static int cache_get(const char *cache, const struct objid *id, struct buf *out)
{
	char path[4200], hex[OBJID_HEX_LEN + 1];

	if (cache == NULL)
		return -1;
	objid_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/objects/%s", cache, hex);
	if (access(path, F_OK) != 0)
		return -1;
	return state_read_file(path, OBJECT_MAX_PLAIN, out, NULL);
}

/* Locate N ids into LOC. */
static int locate(struct repo *r, const struct objid *ids, size_t n, struct loc *loc,
		  struct err *e)
{
	for (size_t at = 0; at < n; at += LOCATE_BATCH) {
		size_t m = n - at < LOCATE_BATCH ? n - at : LOCATE_BATCH;
		json_t *a = json_array(), *body, *ans, *v;
		char hex[OBJID_HEX_LEN + 1];
		size_t k;

		for (size_t i = 0; i < m; i++) {
			objid_to_hex(&ids[at + i], hex);
			json_array_append_new(a, json_string(hex));
			loc[at + i].found = 0;
		}
		body = json_pack("{s:o}", "ids", a);
		if (r->machine)
			json_object_set_new(body, "machine", json_string(r->machine));
		ans = client_json(r->c, "POST", "/objects/locate", body, NULL, NULL, e);
		json_decref(body);
		if (ans == NULL)
			return -1;
		/* The service answers in the order asked, leaving out what it
		 * does not hold. */
		size_t i = 0;

		json_array_foreach(json_object_get(ans, "objects"), k, v) {
			const char *id = json_string_value(json_object_get(v, "id"));
			const char *pack = json_string_value(json_object_get(v, "pack"));

			for (; id && pack && i < m; i++) {
				objid_to_hex(&ids[at + i], hex);
				if (strcmp(hex, id) != 0)
					continue;
				snprintf(loc[at + i].pack, sizeof(loc[at + i].pack), "%s", pack);
				loc[at + i].offset = (uint64_t)json_integer_value(
					json_object_get(v, "offset"));
				loc[at + i].length = (uint32_t)json_integer_value(
					json_object_get(v, "length"));
				loc[at + i].found = 1;
				i++;
				break;
			}
		}
		json_decref(ans);
	}
	return 0;
}

/* Fetch bytes [OFF, OFF+LEN) of PACK into OUT. */
static int fetch(struct repo *r, const char *pack, uint64_t off, uint64_t len, struct buf *out,
		 struct err *e)
{
	char path[128], range[96];
	const char *h[] = { range, NULL };
	long st;

	snprintf(path, sizeof(path), "/packs/%s", pack);
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	if (client_call(r->c, "GET", path, NULL, NULL, 0, h, out, &st, e))
		return -1;
	if (out->len != len)
		return err_set(e, ERR_CORRUPT, "pack %.16s answered %zu bytes for a range of %llu",
			       pack, out->len, (unsigned long long)len);
	return 0;
}

int repo_read(struct repo *r, const struct objid *id, enum object_kind want, struct buf *out,
	      struct err *e)
{
	struct buf sealed = BUF_INIT;
	struct loc l;
	enum object_kind kind;
	char hex[OBJID_HEX_LEN + 1];
	int cached = 0, rc = -1;

	objid_to_hex(id, hex);
	if (want != OBJECT_DATA && cache_get(r->cache, id, &sealed) == 0)
		cached = 1;
	if (!cached) {
		if (locate(r, id, 1, &l, e))
			goto out;
		if (!l.found) {
			err_set(e, ERR_NOT_FOUND, "object %.16s is not stored on the service", hex);
			goto out;
		}
		if (fetch(r, l.pack, l.offset, l.length, &sealed, e))
			goto out;
	}
	if (object_open_ctx(r->cctx, r->keys, id, sealed.data, sealed.len, &kind, out, e)) {
		if (cached) { /* a damaged cache copy: ask the service instead */
			char path[4200];

			snprintf(path, sizeof(path), "%s/objects/%s", r->cache, hex);
			unlink(path);
			buf_free(&sealed);
			return repo_read(r, id, want, out, e);
		}
		err_prefix(e, "object %.16s: ", hex);
		goto out;
	}
	if (kind != want) {
		err_set(e, ERR_CORRUPT, "object %.16s is of kind %d, not %d", hex, kind, want);
		goto out;
	}
	if (!cached && want != OBJECT_DATA)
		repo_cache_put(r->cache, id, sealed.data, sealed.len);
	rc = 0;
out:
	buf_free(&sealed);
	return rc;
}

struct tree *repo_tree(struct repo *r, const struct objid *id, struct err *e)
{
	struct buf plain = BUF_INIT;
	struct tree *t = NULL;

	if (repo_read(r, id, OBJECT_TREE, &plain, e) == 0)
		t = tree_decode(plain.data, plain.len, e);
	buf_free(&plain);
	return t;
}

json_t *repo_meta(struct repo *r, const char *meta_hex, struct err *e)
{
	struct objid id;
	struct buf plain = BUF_INIT;
	json_t *j = NULL;
	json_error_t je;

	if (objid_from_hex(meta_hex, &id, e) || repo_read(r, &id, OBJECT_META, &plain, e))
		goto out;
	if ((j = json_loadb((const char *)plain.data, plain.len, 0, &je)) == NULL ||
	    !json_is_string(json_object_get(j, "root"))) {
		json_decref(j);
		j = NULL;
		err_set(e, ERR_CORRUPT, "the recovery point's record is damaged");
	}
out:
	buf_free(&plain);
	return j;
}

int repo_read_chunks(struct repo *r, const struct tree_chunk *chunks, size_t n,
		     repo_chunk_fn fn, void *arg, struct err *e)
{
	struct objid *ids = calloc(n ? n : 1, sizeof(*ids));
	struct loc *loc = calloc(n ? n : 1, sizeof(*loc));
	struct buf run = BUF_INIT, plain = BUF_INIT;
	int rc = -1;
	size_t i = 0;

	if (ids == NULL || loc == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t k = 0; k < n; k++)
		ids[k] = chunks[k].id;
	if (locate(r, ids, n, loc, e))
		goto out;
	while (i < n) {
		size_t j = i + 1;
		uint64_t end;
		struct err fe;
		int fetched;

		if (!loc[i].found) {
			char hex[OBJID_HEX_LEN + 1];

			objid_to_hex(&ids[i], hex);
			err_set(&fe, ERR_NOT_FOUND, "chunk %.16s is missing on the service", hex);
			if (fn(arg, i, NULL, 0, &fe))
				goto stopped;
			i++;
			continue;
		}
		/* A run of chunks lying back to back in one pack: one request. */
		end = loc[i].offset + loc[i].length;
		while (j < n && loc[j].found && strcmp(loc[j].pack, loc[i].pack) == 0 &&
		       loc[j].offset == end && end - loc[i].offset + loc[j].length <= RUN_MAX)
			end += loc[j++].length;
		fetched = fetch(r, loc[i].pack, loc[i].offset, end - loc[i].offset, &run, &fe) == 0;
		for (size_t k = i; k < j; k++) {
			enum object_kind kind;
			struct err oe;

			buf_reset(&plain);
			if (!fetched) {
				if (fn(arg, k, NULL, 0, &fe))
					goto stopped;
				continue;
			}
			if (object_open_ctx(r->cctx, r->keys, &ids[k],
					    run.data + (loc[k].offset - loc[i].offset),
					    loc[k].length, &kind, &plain, &oe) != 0 ||
			    (kind != OBJECT_DATA &&
			     err_set(&oe, ERR_CORRUPT, "a chunk is not a data object")) ||
			    (plain.len != chunks[k].len &&
			     err_set(&oe, ERR_CORRUPT, "a chunk has %zu bytes, the tree says %u",
				     plain.len, chunks[k].len))) {
				if (fn(arg, k, NULL, 0, &oe))
					goto stopped;
				continue;
			}
			if (fn(arg, k, plain.data, plain.len, NULL))
				goto stopped;
		}
		i = j;
	}
	rc = 0;
	goto out;
stopped:
	err_set(e, ERR_CORRUPT, "stopped reading a file's chunks");
out:
	buf_free(&run);
	buf_wipe(&plain);
	free(ids);
	free(loc);
	return rc;
}
