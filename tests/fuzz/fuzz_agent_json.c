/*
 * fuzz_agent_json.c: the agent's JSON files in its install folder. The
 * first byte picks the parser, the rest is the file:
 *   even: agent.json (agentconf_parse). Accepted settings must write back
 *         (agentconf_dump) to a text that parses to the same settings.
 *   odd:  policy.json's schedule (schedule_parse). An accepted schedule's
 *         next time after any moment must be later, within 8 days, on an
 *         allowed weekday and at one of its times.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentconf.h"
#include "schedule.h"

/* Undefined behaviour is a finding, not a warning: stop at the first. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void conf_free(struct state *s)
{
	free(s->service_url), free(s->vault_id), free(s->vault_name), free(s->subscription);
	free(s->region), free(s->machine_id), free(s->machine_name), free(s->cache);
	free(s->proxy), free(s->proxy_user);
	memset(s, 0, sizeof(*s));
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void agent_json(const uint8_t *data, size_t size)
{
	struct state s, t;
	struct err e;
	char *text;

	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	if (agentconf_parse((const char *)data, size, &s, &e) != 0) {
		if (e.msg[0] == 0 || (e.code != ERR_CORRUPT && e.code != ERR_NOMEM))
			abort();
		conf_free(&s);
		return;
	}
	if ((text = agentconf_dump(&s, NULL)) == NULL ||
	    agentconf_parse(text, strlen(text), &t, NULL) != 0 ||
	    !same_str(s.service_url, t.service_url) || !same_str(s.vault_id, t.vault_id) ||
	    !same_str(s.vault_name, t.vault_name) || !same_str(s.subscription, t.subscription) ||
	    !same_str(s.region, t.region) || !same_str(s.machine_id, t.machine_id) ||
	    !same_str(s.machine_name, t.machine_name) || !same_str(s.cache, t.cache) ||
	    !same_str(s.proxy, t.proxy) || !same_str(s.proxy_user, t.proxy_user) ||
	    s.rate_work != t.rate_work || s.rate_other != t.rate_other ||
	    s.work_start != t.work_start || s.work_end != t.work_end ||
	    s.work_start < 0 || s.work_end > 24 || s.work_start > s.work_end)
		abort();
	free(text);
	conf_free(&s);
	conf_free(&t);
}

static void policy_json(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct schedule s;
	struct err e;

	if (schedule_parse(j, &s, &e) != 0) {
		if (e.msg[0] == 0 || e.code != ERR_CORRUPT)
			abort();
		json_decref(j);
		return;
	}
	if (s.n < 1 || s.n > SCHEDULE_MAX_TIMES || s.days == 0 || s.days > 0x7f)
		abort();
	/* Moments from the input's bytes, before and after the epoch. */
	for (int k = 0; k < 8; k++) {
		uint64_t h = 14695981039346656037ull + (uint64_t)k;
		int64_t t, next, day;
		int wd, hit = 0;

		for (size_t i = 0; i < size; i++)
			h = (h ^ data[i]) * 1099511628211ull;
		t = (int64_t)(h % (200ull * 365 * 86400)) - 100ll * 365 * 86400;
		next = schedule_next(&s, t);
		day = next - ((next % 86400) + 86400) % 86400;
		wd = (int)((((day / 86400) + 3) % 7 + 7) % 7);
		for (int i = 0; i < s.n; i++)
			hit |= day + (int64_t)s.mins[i] * 60 == next;
		if (next <= t || next > t + 8 * 86400 || !(s.days & (1u << wd)) || !hit)
			abort();
		/* No scheduled time lies between T and NEXT. */
		for (int64_t d = t - ((t % 86400) + 86400) % 86400; d <= day; d += 86400) {
			int w = (int)((((d / 86400) + 3) % 7 + 7) % 7);

			for (int i = 0; i < s.n && (s.days & (1u << w)); i++) {
				int64_t at = d + (int64_t)s.mins[i] * 60;

				if (at > t && at < next)
					abort();
			}
		}
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		policy_json(data + 1, size - 1);
	else
		agent_json(data + 1, size - 1);
	return 0;
}
