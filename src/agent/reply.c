/*
 * reply.c: checking the service's answers. Ids in answers are matched to
 * the ids asked through a map from id to the chain of its asked positions,
 * so an answer in any order, with repeated ids, is read right, and one that
 * names an id more often than it was asked is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "idmap.h"
#include "object.h"
#include "pack.h"
#include "reply.h"

/* The asked ids, for matching an answer's ids to their positions. */
struct asked {
	struct idmap first; /* id -> size_t: first position not yet answered, +1 (0: none) */
	size_t *next;       /* position -> next position of the same id, +1 (0: none) */
};

static int asked_init(struct asked *a, const struct objid *ids, size_t n, struct err *e)
{
	bool added;

	idmap_init(&a->first, sizeof(size_t));
	if ((a->next = calloc(n ? n : 1, sizeof(*a->next))) == NULL)
		return err_oom(e);
	/* Build chains backwards so each starts at the earliest position. */
	for (size_t i = n; i-- > 0;) {
		size_t *f = idmap_put(&a->first, &ids[i], &added);

		if (f == NULL) {
			idmap_free(&a->first);
			free(a->next);
			return err_oom(e);
		}
		a->next[i] = *f;
		*f = i + 1;
	}
	return 0;
}

static void asked_free(struct asked *a)
{
	idmap_free(&a->first);
	free(a->next);
}

static int is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != OBJID_HEX_LEN)
		return 0;
	for (size_t i = 0; i < OBJID_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* The position of the next unanswered ask of the hex id V, or -1 with E
 * set (WHAT names the answer, K the entry). */
static int take(struct asked *a, json_t *v, const char *what, size_t k, size_t *pos,
		struct err *e)
{
	const char *hex = json_string_value(v);
	struct objid id;
	size_t *f;

	if (!is_hex64(hex) || objid_from_hex(hex, &id, NULL) != 0)
		return err_set(e, ERR_CORRUPT, "the service's answer to %s: entry %zu has no object "
			       "id of 64 lowercase hex digits", what, k + 1);
	if ((f = idmap_get(&a->first, &id)) == NULL || *f == 0)
		return err_set(e, ERR_CORRUPT, "the service's answer to %s: entry %zu names object "
			       "%.16s, which was not asked about (or more often than asked)", what,
			       k + 1, hex);
	*pos = *f - 1;
	*f = a->next[*pos];
	return 0;
}

int reply_locate(json_t *ans, const struct objid *ids, size_t n, struct reply_loc *loc,
		 struct err *e)
{
	static const char what[] = "POST /objects/locate";
	json_t *list = json_object_get(ans, "objects"), *v;
	struct asked a;
	size_t k, pos;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		loc[i].found = 0;
	if (!json_is_array(list))
		return err_set(e, ERR_CORRUPT, "the service's answer to %s has no \"objects\" list",
			       what);
	if (asked_init(&a, ids, n, e))
		return -1;
	json_array_foreach(list, k, v) {
		json_t *off = json_object_get(v, "offset"), *len = json_object_get(v, "length");
		const char *pack = json_string_value(json_object_get(v, "pack"));
		json_int_t o, l;

		if (take(&a, json_object_get(v, "id"), what, k, &pos, e))
			goto out;
		if (!is_hex64(pack)) {
			err_set(e, ERR_CORRUPT, "the service's answer to %s: entry %zu has no pack id "
				"of 64 lowercase hex digits", what, k + 1);
			goto out;
		}
		if (!json_is_integer(off) || !json_is_integer(len) ||
		    (o = json_integer_value(off)) < 0 || (l = json_integer_value(len)) < OBJECT_OVERHEAD ||
		    (uint64_t)l > UINT32_MAX || (uint64_t)o > PACK_MAX_BYTES - (uint64_t)l) {
			err_set(e, ERR_CORRUPT, "the service's answer to %s: entry %zu has no offset "
				"and length that fit in a pack", what, k + 1);
			goto out;
		}
		memcpy(loc[pos].pack, pack, sizeof(loc[pos].pack));
		loc[pos].offset = (uint64_t)o;
		loc[pos].length = (uint32_t)l;
		loc[pos].found = 1;
	}
	rc = 0;
out:
	asked_free(&a);
	return rc;
}

int reply_present(json_t *ans, const char *const *packs, size_t n,
		  enum reply_pack_state *state, struct err *e)
{
	static const char *const names[] = { "present", "absent", "unknown", "error" };
	json_t *list = json_object_get(ans, "packs"), *v;
	size_t k;

	if (!json_is_array(list) || json_array_size(list) != n)
		return err_set(e, ERR_CORRUPT, "the service's answer to POST /packs/present has no "
			       "\"packs\" list of one entry per pack asked");
	json_array_foreach(list, k, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *st = json_string_value(json_object_get(v, "state"));
		size_t i;

		if (id == NULL || strcmp(id, packs[k]) != 0)
			return err_set(e, ERR_CORRUPT, "the service's answer to POST /packs/present: "
				       "entry %zu is not the pack asked there", k + 1);
		for (i = 0; i < 4 && (st == NULL || strcmp(st, names[i]) != 0); i++)
			;
		if (i == 4)
			return err_set(e, ERR_CORRUPT, "the service's answer to POST /packs/present: "
				       "entry %zu has no state present, absent, unknown or error",
				       k + 1);
		state[k] = (enum reply_pack_state)(REPLY_PACK_PRESENT + i);
	}
	return 0;
}

int reply_missing(json_t *ans, const struct objid *ids, size_t n, bool *missing,
		  struct err *e)
{
	static const char what[] = "POST /objects/missing";
	json_t *list = json_object_get(ans, "missing"), *v;
	struct asked a;
	size_t k, pos;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		missing[i] = false;
	if (!json_is_array(list))
		return err_set(e, ERR_CORRUPT, "the service's answer to %s has no \"missing\" list",
			       what);
	if (asked_init(&a, ids, n, e))
		return -1;
	json_array_foreach(list, k, v) {
		if (take(&a, v, what, k, &pos, e))
			goto out;
		missing[pos] = true;
	}
	rc = 0;
out:
	asked_free(&a);
	return rc;
}

/* Whether S is 1 to REPLY_ID_MAX printable ASCII characters, none of them
 * a '/' when NO_SLASH. */
static int good_id(const char *s, int no_slash)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > REPLY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    (no_slash && s[i] == '/'))
			return 0;
	return 1;
}

json_t *reply_points(json_t *ans, struct err *e)
{
	json_t *list = json_object_get(ans, "recovery_points"), *p;
	size_t i;

	if (!json_is_array(list)) {
		err_set(e, ERR_CORRUPT, "the service's answer listing recovery points has no "
			"\"recovery_points\" list");
		return NULL;
	}
	json_array_foreach(list, i, p) {
		const char *why = NULL;
		json_t *objects = json_object_get(p, "objects"), *bytes = json_object_get(p, "bytes");

		if (!json_is_object(p))
			why = "is not an object";
		else if (!good_id(json_string_value(json_object_get(p, "id")), 1))
			why = "has no \"id\" of 1 to 63 printable characters";
		else if (!is_hex64(json_string_value(json_object_get(p, "meta"))))
			why = "has no \"meta\" object id";
		else if (!json_is_string(json_object_get(p, "created")))
			why = "has no \"created\" time";
		else if ((objects && (!json_is_integer(objects) || json_integer_value(objects) < 0)) ||
			 (bytes && (!json_is_integer(bytes) || json_integer_value(bytes) < 0)))
			why = "has \"objects\" or \"bytes\" that are not whole numbers >= 0";
		if (why) {
			err_set(e, ERR_CORRUPT, "the service's answer listing recovery points: point "
				"%zu %s", i + 1, why);
			return NULL;
		}
	}
	return list;
}

int reply_wrapped_key(json_t *obj, uint8_t blob[KEYS_WRAPPED_LEN], struct err *e)
{
	const char *b64 = json_string_value(json_object_get(obj, "wrapped_key"));
	uint8_t id[KEY_ID_LEN], big[2 * KEYS_WRAPPED_LEN];
	size_t len = 0;

	if (b64 == NULL)
		return err_set(e, ERR_CORRUPT, "the service's answer holds no \"wrapped_key\"");
	if (sodium_base642bin(big, sizeof(big), b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return err_set(e, ERR_CORRUPT, "the service's \"wrapped_key\" is not base64 of a "
			       "wrapped key");
	if (keys_wrapped_key_id(big, len, id, e) != 0)
		return err_prefix(e, "the service's \"wrapped_key\": ");
	memcpy(blob, big, KEYS_WRAPPED_LEN);
	return 0;
}

const char *reply_register(json_t *ans, struct err *e)
{
	const char *id = json_string_value(json_object_get(ans, "machine_id"));
	json_t *cert = json_object_get(ans, "certificate");

	if (!good_id(id, 0)) {
		err_set(e, ERR_CORRUPT, "the service's answer to POST /register has no "
			"\"machine_id\" of 1 to %d printable characters", REPLY_ID_MAX);
		return NULL;
	}
	if (cert != NULL && !json_is_string(cert)) {
		err_set(e, ERR_CORRUPT, "the service's answer to POST /register has a "
			"\"certificate\" that is not text");
		return NULL;
	}
	return id;
}

const char *reply_id(json_t *ans, const char *key, struct err *e)
{
	const char *id = json_string_value(json_object_get(ans, key));
	size_t n = id ? strlen(id) : 0;

	/* Why so strict: it goes into a request path, where '/', '?', '#' or
	 * '%' would name another resource. The service's ids are hex. */
	if (n == 0 || n > REPLY_ID_MAX ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
		err_set(e, ERR_CORRUPT, "the service's answer has no \"%s\" of 1 to %d letters, "
			"digits, '.', '_' or '-'", key, REPLY_ID_MAX);
		return NULL;
	}
	return id;
}

int reply_time(json_t *ans, const char *key, int64_t *t, struct err *e)
{
	const char *s = json_string_value(json_object_get(ans, key));
	struct tm tm;
	int y, mo, d, h, mi, sec, used = 0;

	/* Why each field is bounded: timegm would quietly carry 99:99 over. */
	if (s == NULL || strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 20 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || strspn(s, "0123456789-T:Z") != 20)
		return err_set(e, ERR_CORRUPT, "the service's answer has no \"%s\" time of the form "
			       "YYYY-MM-DDTHH:MM:SSZ", key);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	*t = (int64_t)timegm(&tm);
	return 0;
}

static enum err_code code_of(const char *code, long status)
{
	static const struct {
		const char *name;
		enum err_code code;
	} map[] = {
		{ "limit", ERR_LIMIT },       { "not_found", ERR_NOT_FOUND },
		{ "denied", ERR_DENIED },     { "exists", ERR_EXISTS },
		{ "locked", ERR_LOCKED },     { "invalid", ERR_INVALID },
		{ "too_large", ERR_TOO_LARGE }, { "credentials_expired", ERR_EXPIRED },
		{ "credentials_invalid", ERR_CREDENTIALS }, { "forbidden", ERR_DENIED },
		{ "full", ERR_FULL },
	};

	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].name) == 0)
			return map[i].code;
	return status >= 500 ? ERR_IO : ERR_INVALID;
}

/* Replace control characters in E's message (from the service) with '?',
 * from byte FROM on. */
static void clean(struct err *e, size_t from)
{
	for (char *c = e->msg + from; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

int reply_error(const uint8_t *body, size_t len, long status, json_t **keep, struct err *e)
{
	json_t *j = json_loadb((const char *)body, len, 0, NULL);
	json_t *err = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	const char *detail = json_string_value(json_object_get(err, "detail"));
	struct err tmp;

	if (e == NULL)
		e = &tmp;
	*keep = json_incref(err);
	if (msg == NULL || msg[0] == '\0') {
		err_set(e, status >= 500 ? ERR_IO : ERR_INVALID,
			"the service answered HTTP %ld without an error message", status);
	} else if (detail) {
		size_t at;

		err_set(e, code_of(code, status), "%s", msg);
		clean(e, 0);
		at = strlen(e->msg);
		err_set(e, e->code, "%s\n  %s", msg, detail);
		clean(e, 0);
		if (at < strlen(e->msg))
			e->msg[at] = '\n'; /* the one line break, ours */
	} else {
		err_set(e, code_of(code, status), "%s", msg);
		clean(e, 0);
	}
	json_decref(j);
	return -1;
}
