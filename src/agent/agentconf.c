/*
 * agentconf.c: agent.json. Unknown keys are ignored (a newer agent may add
 * some); known ones must have their type, so a hand-edited file with a
 * mistake is refused by name rather than read as 0 or "unset".
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentconf.h"

/* Copy the string field K of O into *OUT (NULL when absent). REQUIRED
 * fields must be present and non-empty. 0 or -1. */
static int str_field(json_t *o, const char *k, int required, char **out, struct err *e)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return err_set(e, ERR_CORRUPT, "the field \"%s\" is missing", k);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, ERR_CORRUPT, "the field \"%s\" is not a string", k);
	if (required && json_string_length(v) == 0)
		return err_set(e, ERR_CORRUPT, "the field \"%s\" is empty", k);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(e, ERR_CORRUPT, "the field \"%s\" holds a NUL character", k);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return err_oom(e);
	return 0;
}

/* The integer field K of O in [LO, HI] into *OUT (0 when absent). */
static int int_field(json_t *o, const char *k, json_int_t lo, json_int_t hi, json_int_t *out,
		     struct err *e)
{
	json_t *v = json_object_get(o, k);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, ERR_CORRUPT, "the field \"%s\" is not a whole number", k);
	*out = json_integer_value(v);
	if (*out < lo || *out > hi)
		return err_set(e, ERR_CORRUPT, "the field \"%s\" is %lld, outside %lld to %lld", k,
			       (long long)*out, (long long)lo, (long long)hi);
	return 0;
}

int agentconf_parse(const char *text, size_t len, struct state *s, struct err *e)
{
	json_error_t je;
	json_t *j;
	json_int_t rw, ro, ws, we;
	int rc = -1;

	if (len > AGENTCONF_MAX_BYTES)
		return err_set(e, ERR_CORRUPT, "%zu bytes, over its bound of %d", len,
			       AGENTCONF_MAX_BYTES);
	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return err_set(e, ERR_CORRUPT, "not JSON: %s (line %d)", je.text, je.line);
	if (!json_is_object(j)) {
		err_set(e, ERR_CORRUPT, "not a JSON object");
		goto out;
	}
	if (str_field(j, "service_url", 1, &s->service_url, e) ||
	    str_field(j, "vault_id", 1, &s->vault_id, e) ||
	    str_field(j, "vault_name", 0, &s->vault_name, e) ||
	    str_field(j, "subscription", 0, &s->subscription, e) ||
	    str_field(j, "region", 0, &s->region, e) ||
	    str_field(j, "machine_id", 1, &s->machine_id, e) ||
	    str_field(j, "machine_name", 1, &s->machine_name, e) ||
	    str_field(j, "cache", 1, &s->cache, e) || str_field(j, "proxy", 0, &s->proxy, e) ||
	    str_field(j, "proxy_user", 0, &s->proxy_user, e) ||
	    int_field(j, "rate_work", 0, INT64_MAX, &rw, e) ||
	    int_field(j, "rate_other", 0, INT64_MAX, &ro, e) ||
	    int_field(j, "work_start", 0, 24, &ws, e) || int_field(j, "work_end", 0, 24, &we, e))
		goto out;
	if (ws > we) {
		err_set(e, ERR_CORRUPT, "the work hours end (%lld) before they start (%lld)",
			(long long)we, (long long)ws);
		goto out;
	}
	if (strlen(s->machine_id) > AGENTCONF_ID_MAX) {
		err_set(e, ERR_CORRUPT, "the field \"machine_id\" is longer than %d characters",
			AGENTCONF_ID_MAX);
		goto out;
	}
	for (const char *c = s->machine_id; *c; c++)
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
			err_set(e, ERR_CORRUPT, "the field \"machine_id\" holds a character other "
				"than printable ASCII");
			goto out;
		}
	s->rate_work = (uint64_t)rw;
	s->rate_other = (uint64_t)ro;
	s->work_start = (int)ws;
	s->work_end = (int)we;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

char *agentconf_dump(const struct state *s, struct err *e)
{
	json_t *j = json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s,s:s,s:s,s:s?,s:s?,s:I,s:I,s:i,s:i}",
			      "service_url", s->service_url, "vault_id", s->vault_id,
			      "vault_name", s->vault_name, "subscription", s->subscription,
			      "region", s->region, "machine_id", s->machine_id,
			      "machine_name", s->machine_name, "cache", s->cache,
			      "proxy", s->proxy, "proxy_user", s->proxy_user,
			      "rate_work", (json_int_t)s->rate_work,
			      "rate_other", (json_int_t)s->rate_other,
			      "work_start", s->work_start, "work_end", s->work_end);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	json_decref(j);
	if (text == NULL)
		err_set(e, j ? ERR_NOMEM : ERR_INVALID, "the agent's settings cannot be written: a "
			"required one is missing");
	return text;
}
