/*
 * fuzz_reply.c: the service's JSON answers as the agent reads them
 * (reply.h). The first byte picks the answer; the rest is its body. The
 * asked ids are fixed: ids[i] = 32 bytes of value i (i = 0..3), then id 1
 * again, so the corpus can answer them and repeats are exercised.
 *   0: POST /objects/locate   every placed id was asked, each answer
 *                             entry places one asked position, places fit
 *   1: POST /objects/missing  the same for missing ids
 *   2: GET /recovery-points   every point has what the callers use
 *   3: a wrapped key          accepted keys have a sound shape
 *   4: POST /register         the machine id is fit for a header
 *   5: an error answer        a message without control characters
 *   6: an id (job, lease)     fit for a request path: letters, digits, . _ -;
 *                             a lease's "expires" time
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "pack.h"
#include "reply.h"

#define N_ASKED 5

/* Undefined behaviour is a finding, not a warning: stop at the first. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void asked(struct objid ids[N_ASKED])
{
	for (int i = 0; i < N_ASKED; i++)
		memset(ids[i].b, i == 4 ? 1 : i, OBJID_LEN);
}

/* How many entries of LIST name the id at position I of IDS. */
static size_t count(json_t *list, const char *key, const struct objid *id)
{
	char hex[OBJID_HEX_LEN + 1];
	json_t *v;
	size_t k, n = 0;

	objid_to_hex(id, hex);
	json_array_foreach(list, k, v) {
		const char *s = json_string_value(key ? json_object_get(v, key) : v);

		n += s && strcmp(s, hex) == 0;
	}
	return n;
}

static void check_error(const uint8_t *data, size_t size)
{
	struct err e;
	json_t *keep = NULL;
	int breaks = 0;

	if (reply_error(data, size, 400 + (long)(size % 200), &keep, &e) != -1 || e.msg[0] == 0)
		abort();
	for (const char *c = e.msg; *c; c++) {
		if (*c == '\n')
			breaks++;
		else if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort();
	}
	if (breaks > 1)
		abort();
	json_decref(keep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct objid ids[N_ASKED];
	struct err e;
	json_t *j;

	if (size < 1)
		return 0;
	asked(ids);
	if (data[0] % 7 == 5) {
		check_error(data + 1, size - 1);
		return 0;
	}
	if ((j = json_loadb((const char *)data + 1, size - 1, 0, NULL)) == NULL)
		return 0;
	switch (data[0] % 7) {
	case 0: {
		struct reply_loc loc[N_ASKED];

		if (reply_locate(j, ids, N_ASKED, loc, &e) != 0) {
			if (e.code != ERR_CORRUPT && e.code != ERR_NOMEM)
				abort();
			break;
		}
		for (int i = 0; i < N_ASKED; i++) {
			/* Positions of one id are placed in order, as often as named. */
			size_t named = count(json_object_get(j, "objects"), "id", &ids[i]);
			size_t placed = 0, before = 0;

			for (int k = 0; k < N_ASKED; k++)
				if (objid_cmp(&ids[k], &ids[i]) == 0) {
					placed += loc[k].found != 0;
					before += k < i;
				}
			if (placed != named || (loc[i].found && before >= named) ||
			    (!loc[i].found && before < named))
				abort();
			if (loc[i].found &&
			    (strlen(loc[i].pack) != OBJID_HEX_LEN || loc[i].length < OBJECT_OVERHEAD ||
			     loc[i].offset + loc[i].length > PACK_MAX_BYTES))
				abort();
		}
		break;
	}
	case 1: {
		bool missing[N_ASKED];

		if (reply_missing(j, ids, N_ASKED, missing, &e) != 0) {
			if (e.code != ERR_CORRUPT && e.code != ERR_NOMEM)
				abort();
			break;
		}
		for (int i = 0; i < N_ASKED; i++) {
			size_t named = count(json_object_get(j, "missing"), NULL, &ids[i]);
			size_t marked = 0, before = 0;

			for (int k = 0; k < N_ASKED; k++)
				if (objid_cmp(&ids[k], &ids[i]) == 0) {
					marked += missing[k];
					before += k < i;
				}
			if (marked != named || missing[i] != (before < named))
				abort();
		}
		break;
	}
	case 2: {
		json_t *points = reply_points(j, &e), *p;
		size_t i;

		if (points == NULL) {
			if (e.code != ERR_CORRUPT)
				abort();
			break;
		}
		json_array_foreach(points, i, p) {
			struct objid meta;
			const char *id = json_string_value(json_object_get(p, "id"));

			if (id == NULL || id[0] == 0 || strchr(id, '/') || strlen(id) > REPLY_ID_MAX ||
			    objid_from_hex(json_string_value(json_object_get(p, "meta")), &meta,
					   NULL) != 0 ||
			    json_string_value(json_object_get(p, "created")) == NULL ||
			    json_integer_value(json_object_get(p, "objects")) < 0 ||
			    json_integer_value(json_object_get(p, "bytes")) < 0)
				abort();
		}
		break;
	}
	case 3: {
		uint8_t blob[KEYS_WRAPPED_LEN], id[KEY_ID_LEN];

		if (reply_wrapped_key(j, blob, &e) != 0) {
			if (e.code != ERR_CORRUPT && e.code != ERR_UNSUPPORTED)
				abort();
			break;
		}
		if (keys_wrapped_key_id(blob, sizeof(blob), id, NULL) != 0)
			abort();
		break;
	}
	case 6: {
		const char *id = reply_id(j, "id", &e);

		if (id == NULL) {
			if (e.code != ERR_CORRUPT)
				abort();
			break;
		}
		if (id[0] == 0 || strlen(id) > REPLY_ID_MAX ||
		    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			    strlen(id))
			abort();
		/* A lease's answer carries its end too. */
		{
			int64_t t;

			if (reply_time(j, "expires", &t, &e) == 0 ? t < 0 : e.code != ERR_CORRUPT)
				abort();
		}
		break;
	}
	case 4: {
		const char *id = reply_register(j, &e);

		if (id == NULL) {
			if (e.code != ERR_CORRUPT)
				abort();
			break;
		}
		if (id[0] == 0 || strlen(id) > REPLY_ID_MAX || strpbrk(id, "\r\n ") != NULL)
			abort();
		break;
	}
	}
	/* Every input is also an answer to POST /packs/present. */
	{
		static const char *const packs[] = {
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		};
		enum reply_pack_state st[2];

		if (reply_present(j, packs, 2, st, &e) != 0) {
			if (e.code != ERR_CORRUPT)
				abort();
		} else {
			for (int i = 0; i < 2; i++)
				if (st[i] < REPLY_PACK_PRESENT || st[i] > REPLY_PACK_ERROR)
					abort();
		}
	}
	json_decref(j);
	return 0;
}
