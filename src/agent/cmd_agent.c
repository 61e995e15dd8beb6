/*
 * cmd_agent.c: `arca agent`, the resident agent (contrib/arca-agent.service
 * runs it). It keeps the machine's schedule: at each scheduled time of its
 * policy it backs up the policy's selection, never two at once; a backup
 * that fails is retried with backoff until it succeeds or the next
 * scheduled time comes, and then it is reported to the service as missed
 * (an alert), so silence is noticed. When the policy asks for a scheduled
 * verification, it runs `arca verify --read-data --sample P` after a
 * scheduled backup once "every_days" have passed since the last one
 * (verify.json in the install folder says when), recorded on the service
 * as a verify job. It picks up policy changes from the
 * service (keeping the last one it saw for when the service is away), and
 * logs to stderr, which systemd's journal keeps.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backup.h"
#include "cmd.h"
#include "exitcode.h"
#include "opts.h"
#include "reply.h"
#include "schedule.h"
#include "show.h"
#include "state.h"
#include "verify.h"

#define POLICY_EVERY 300   /* seconds between policy checks */
#define BACKOFF_FIRST 60   /* seconds before the first retry */
#define BACKOFF_MAX 1800   /* longest wait between retries */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void iso(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char when[32];
	va_list ap;

	iso(state_now(), when);
	fprintf(stderr, "%s arca agent: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The policy from the service, saved for later; else the saved one. */
static json_t *fetch_policy(struct state *s)
{
	struct client *c;
	struct err e;
	json_t *p = NULL;
	char path[4200];

	if ((c = state_client(s, &e)) != NULL &&
	    (p = client_json(c, "GET", "/machine/policy", NULL, NULL, NULL, &e)) != NULL) {
		char *text = json_dumps(p, JSON_INDENT(2));

		if (text)
			state_write_file(s->home, "policy.json", text, strlen(text), 0600, NULL);
		free(text);
	}
	client_free(c);
	if (p)
		return p;
	snprintf(path, sizeof(path), "%s/policy.json", s->home);
	if (access(path, F_OK) == 0) {
		struct buf b = BUF_INIT;
		json_error_t je;

		if (state_read_file(path, 1 << 20, &b, &e) == 0 &&
		    (p = json_loadb((const char *)b.data, b.len, 0, &je)) == NULL)
			err_set(&e, ERR_CORRUPT, "not JSON: %s", je.text);
		if (p == NULL)
			say("the saved policy %s is not usable (%s); waiting for the service's",
			    path, e.msg);
		buf_free(&b);
	}
	return p;
}

static int64_t backoff_first(void)
{
#ifdef ARCA_TEST_CLOCK
	const char *v = getenv("ARCA_TEST_BACKOFF");

	if (v)
		return strtoll(v, NULL, 10);
#endif
	return BACKOFF_FIRST;
}

/* Tell the service that the backup scheduled at SLOT was missed. */
static int report_missed(struct state *s, int64_t slot, const char *why)
{
	struct client *c;
	struct err e;
	json_t *body, *job;
	char when[32], path[128];
	int rc = -1;

	if ((c = state_client(s, &e)) == NULL)
		return -1;
	body = json_pack("{s:s}", "kind", "backup");
	job = client_json(c, "POST", "/jobs", body, NULL, NULL, &e);
	json_decref(body);
	if (job && reply_id(job, "id", &e) != NULL) {
		iso(slot, when);
		snprintf(path, sizeof(path), "/jobs/%s", reply_id(job, "id", NULL));
		body = json_pack("{s:s,s:{s:s,s:s}}", "status", "missed", "report", "scheduled", when,
				 "error", why);
		json_decref(job);
		job = client_json(c, "PATCH", path, body, NULL, NULL, &e);
		json_decref(body);
		rc = job ? 0 : -1;
	}
	json_decref(job);
	client_free(c);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **strings(json_t *a, size_t *n)
{
	char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	json_t *x;
	size_t i;

	*n = 0;
	json_array_foreach(a, i, x)
		if (v && json_is_string(x))
			v[(*n)++] = strdup(json_string_value(x));
	return v;
}

/* One backup of the policy's selection. 0, or -1 with WHY filled. */
static int run_backup(struct state *s, json_t *policy, char *why, size_t size)
{
	struct backup_opts o;
	struct backup_result r;
	struct backup_events ev;
	struct show sh;
	struct err e;
	int rc;

	memset(&o, 0, sizeof(o));
	show_init(&sh, "backup", 0);
	show_backup_events(&sh, &ev);
	o.ev = &ev;
	o.paths = strings(json_object_get(policy, "paths"), &o.n_paths);
	o.includes = strings(json_object_get(policy, "include"), &o.n_includes);
	o.excludes = strings(json_object_get(policy, "exclude"), &o.n_excludes);
	if (o.n_paths == 0) {
		snprintf(why, size, "the policy names no paths to back up: "
				    "'arca policy set --path PATH ...'");
		rc = -1;
	} else if ((rc = backup_run(s, &o, &r, &e)) != 0) {
		snprintf(why, size, "%s", e.msg);
	} else {
		say("recovery point %s: %s; %llu files read anew, %llu bytes stored, %.1f s", r.point,
		    json_array_size(r.skipped) ? "partial" : "complete",
		    (unsigned long long)(r.files_new + r.files_changed),
		    (unsigned long long)r.bytes_stored, r.seconds);
	}
	if (rc == 0 || o.n_paths)
		json_decref(r.skipped);
	free_list(o.paths, o.n_paths);
	free_list(o.includes, o.n_includes);
	free_list(o.excludes, o.n_excludes);
	return rc;
}

#define VERIFY_FILE "verify.json"

/* When the last scheduled verification ran (VERIFY_FILE in HOME), or 0
 * for never (or a file that cannot be read: verifying once more is the
 * safe side). */
static int64_t verify_last(const char *home)
{
	char path[4200];
	struct buf b = BUF_INIT;
	json_t *j = NULL;
	int64_t t = 0;

	snprintf(path, sizeof(path), "%s/%s", home, VERIFY_FILE);
	if (access(path, F_OK) == 0 && state_read_file(path, 4096, &b, NULL) == 0 &&
	    (j = json_loadb((const char *)b.data, b.len, 0, NULL)) != NULL &&
	    json_is_integer(json_object_get(j, "last")))
		t = json_integer_value(json_object_get(j, "last"));
	json_decref(j);
	buf_free(&b);
	return t;
}

/* The scheduled verification of SCHED, when due at NOW. The outcome goes
 * to the log and, as a verify job (an alert when it fails), to the
 * service; one that could not run is tried again after the next backup. */
static void maybe_verify(const char *home, const struct schedule *sched, int64_t now)
{
	struct verify_opts vo = { 1, sched->verify_sample, NULL };
	struct verify_result res;
	struct err e;
	char text[64];

	if (sched->verify_days == 0 || now - verify_last(home) < (int64_t)sched->verify_days * 86400)
		return;
	say("verifying the recovery points, reading %d%% of their data", sched->verify_sample);
	if (verify_machine(home, NULL, NULL, NULL, NULL, 0, &vo, &res, &e) != 0) {
		say("the verification could not run: %s", e.msg);
		return;
	}
	if (res.damaged_points)
		say("the verification found %llu damaged recovery points (%llu objects missing, "
		    "%llu damaged): run 'arca verify' for the files",
		    (unsigned long long)res.damaged_points, (unsigned long long)res.missing,
		    (unsigned long long)res.damaged);
	else
		say("the verification found no damage: %llu recovery points, %llu objects, %llu "
		    "chunks read, %.1f s", (unsigned long long)res.points,
		    (unsigned long long)res.objects, (unsigned long long)res.data_read, res.seconds);
	json_decref(res.report);
	snprintf(text, sizeof(text), "{\"last\": %lld}\n", (long long)now);
	if (state_write_file(home, VERIFY_FILE, text, strlen(text), 0600, &e) != 0)
		say("cannot record when the verification ran: %s", e.msg);
}

/* Sleep until T (or a stop), waking every second. */
static void sleep_until(int64_t t)
{
	while (!stopping && state_now() < t)
		sleep(1);
}

int cmd_agent(int argc, char **argv)
{
	const char *home = STATE_HOME_DEFAULT;
	struct sigaction sa;
	json_t *policy = NULL;
	struct schedule sched;
	int have_sched = 0;
	int64_t last = state_now(), checked = 0;
	struct { int64_t slot; char why[ERR_MSG_MAX]; } missed[16];
	int n_missed = 0;

	{
		int json = 0; /* accepted, as by every command; the agent logs text */
		const struct opt table[] = {
			{ "--home", OPT_VALUE, &home },
			{ "--json", OPT_FLAG, &json },
			{ NULL, OPT_FLAG, NULL },
		};
		struct err e;

		if (opt_parse(table, argc, argv, 1, NULL, &e) != 0) {
			fprintf(stderr, "arca agent: %s\nusage: arca agent [--home DIR]\n", e.msg);
			return EXIT_USAGE;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	say("started for %s", home);
	while (!stopping) {
		struct state s;
		struct err e;
		int64_t slot, now = state_now(), wait;
		char why[ERR_MSG_MAX] = "";

		if (state_load(&s, home, 1, &e) != 0) {
			say("%s", e.msg);
			state_free(&s);
			sleep_until(now + 60);
			continue;
		}
		/* Missed backups reach the service once it can be reached. */
		while (n_missed > 0 && report_missed(&s, missed[0].slot, missed[0].why) == 0) {
			memmove(&missed[0], &missed[1], (size_t)(n_missed - 1) * sizeof(missed[0]));
			n_missed--;
		}
		if (policy == NULL || now - checked >= POLICY_EVERY) {
			json_t *p = fetch_policy(&s);
			struct err ce;

			if (state_renew_certificate(&s, &ce) < 0)
				say("the machine's certificate was not renewed: %s", ce.msg);
			checked = now;
			if (p) {
				struct err pe;

				json_decref(policy);
				policy = p;
				if (!(have_sched = schedule_parse(policy, &sched, &pe) == 0))
					say("the policy cannot be followed: %s; fix it with 'arca policy "
					    "set' or in the portal", pe.msg);
			}
		}
		if (!have_sched || (slot = schedule_next(&sched, last)) < 0) {
			say("no backup policy yet: set one with 'arca policy set' or in the portal");
			state_free(&s);
			sleep_until(now + 60);
			continue;
		}
		if (slot > now) {
			char when[32];

			iso(slot, when);
			say("next backup at %s", when);
			state_free(&s);
			/* Wake for policy changes meanwhile. */
			sleep_until(slot < now + POLICY_EVERY ? slot : now + POLICY_EVERY);
			continue;
		}
		/* SLOT is due: back up, retrying until the next one is due. */
		wait = backoff_first();
		for (;;) {
			int64_t following = schedule_next(&sched, slot);

			if (run_backup(&s, policy, why, sizeof(why)) == 0) {
				why[0] = '\0';
				break;
			}
			say("backup failed: %s", why);
			if (stopping || (following > 0 && state_now() + wait >= following))
				break;
			say("retrying in %lld s", (long long)wait);
			sleep_until(state_now() + wait);
			wait = wait * 2 > BACKOFF_MAX ? BACKOFF_MAX : wait * 2;
		}
		if (why[0] && !stopping) {
			char when[32];

			iso(slot, when);
			say("the backup scheduled at %s was missed", when);
			if (n_missed < 16) {
				missed[n_missed].slot = slot;
				snprintf(missed[n_missed].why, sizeof(missed[n_missed].why), "%s", why);
				n_missed++;
			}
			if (report_missed(&s, slot, why) == 0)
				n_missed--;
		} else if (!stopping) {
			maybe_verify(home, &sched, state_now());
		}
		last = slot;
		state_free(&s);
	}
	say("stopped");
	json_decref(policy);
	return EXIT_OK;
}
