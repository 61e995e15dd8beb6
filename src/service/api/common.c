/*
 * api/common.c: what every handler of the API shares: JSON replies and
 * errors, the audit log, reading a JSON body, times, ids, and the vault,
 * machine and store a request names.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sodium.h>

/* What a reply that could not be built says instead. */
static const char reply_failed[] = "{\"error\":{\"code\":\"nomem\",\"message\":\"the "
	"service could not build its answer (out of memory); the request may have taken effect: "
	"check, then retry\"}}";

/*
 * Why a reply that cannot be built becomes a 500: a status sent with an
 * empty or cut body (BODY NULL from a failed json_pack, json_dumps or
 * buf_append out of memory) would tell a client that a 201 or a 200
 * succeeded with nothing in it. It is answered 500 with a fixed body, or
 * with none when even that cannot be appended.
 */
void reply_json(struct call *c, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	c->res->status = status;
	c->res->content_type = "application/json";
	if (text == NULL || buf_append(&c->res->body, text, strlen(text), NULL) != 0) {
		c->res->status = 500;
		buf_reset(&c->res->body);
		if (buf_append(&c->res->body, reply_failed, sizeof(reply_failed) - 1, NULL) != 0)
			buf_reset(&c->res->body);
	}
	free(text);
	json_decref(body);
}

static int status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID: return 400;
	case ERR_DENIED: return 401;
	case ERR_EXPIRED:
	case ERR_CREDENTIALS: return 403;
	case ERR_NOT_FOUND: return 404;
	case ERR_EXISTS:
	case ERR_LOCKED:
	case ERR_LIMIT: return 409;
	case ERR_TOO_LARGE: return 413;
	case ERR_FULL: return 507;
	default: return 500;
	}
}

void reply_err(struct call *c, const struct err *e)
{
	/* A full store or data folder: 507, in words the operator and the
	 * agent's user can act on; the operator sees it in the log too. */
	if (e->code == ERR_FULL) {
		struct err full = *e;

		fprintf(stderr, "arcad: out of space: %s\n", e->msg);
		err_prefix(&full, "the service's storage is full (");
		reply_json(c, 507, json_pack("{s:{s:s,s:s+}}", "error", "code", "full", "message",
					     full.msg, "): the service's operator must free space or add "
					     "storage to its data folder; recovery points already committed "
					     "are unharmed, and the next backup resumes where this one stopped"));
		return;
	}
	reply_json(c, status_of(e->code),
		   json_pack("{s:{s:s,s:s}}", "error", "code", err_code_name(e->code), "message", e->msg));
}

void reply_msg(struct call *c, enum err_code code, const char *msg)
{
	struct err e;

	err_set(&e, code, "%s", msg);
	reply_err(c, &e);
}

void reply_limited(struct call *c, int wait, const char *what)
{
	char msg[300], secs[16];

	snprintf(msg, sizeof(msg), "too many failed %s; wait %d seconds and try again", what, wait);
	snprintf(secs, sizeof(secs), "%d", wait);
	http_set_header(c->res, "Retry-After", secs);
	reply_json(c, 429, json_pack("{s:{s:s,s:s}}", "error", "code", "rate_limited", "message", msg));
}

int audit_log(struct service *s, const char *subscription, int64_t now, const char *actor,
	      const char *action, const char *target, const char *detail, struct err *e)
{
	if (catalog_audit(s->cat, subscription, now, actor, action, target, detail, e) == 0)
		return 0;
	fprintf(stderr, "arcad: the audit log of subscription %s could not record %s by %s on %s "
		"(%s): %s\n", subscription, action, actor, target, detail, e->msg);
	return err_prefix(e, "%s on %s could not be recorded in the audit log: ", action, target);
}

int alert_raise(struct service *s, const char *subscription, int64_t now, const char *kind,
		const char *target, const char *message, struct err *e)
{
	if (catalog_alert(s->cat, subscription, now, kind, target, message, e) == 0)
		return 0;
	fprintf(stderr, "arcad: the alert %s of subscription %s could not be recorded: %s (%s)\n",
		kind, subscription, message, e->msg);
	return err_prefix(e, "the alert %s on %s could not be recorded: ", kind, target);
}

int audit(struct call *c, const char *action, const char *target, const char *detail,
	  struct err *e)
{
	return audit_log(c->s, c->who.subscription, c->now, c->who.name, action, target, detail, e);
}

/* Whether the request's Content-Type is WANT (parameters such as charset
 * aside); a request without one is taken as WANT. */
bool content_type_is(struct call *c, const char *want)
{
	const char *ct = http_header(c->req, "Content-Type");
	size_t n = strlen(want);

	return ct == NULL || (strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';'));
}

/* The request body as a JSON object, or NULL after replying 400 (or 415 for
 * another content type). */
json_t *body_json(struct call *c)
{
	json_error_t je;
	json_t *j;

	if (c->req->body_len == 0) {
		reply_msg(c, ERR_INVALID, "this request needs a JSON object as its body");
		return NULL;
	}
	if (!content_type_is(c, "application/json")) {
		reply_json(c, 415, json_pack("{s:{s:s,s:s}}", "error", "code", "content_type", "message",
					     "send the body as JSON, with Content-Type: application/json"));
		return NULL;
	}
	j = json_loadb((const char *)c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "request body is not a JSON object: %s", j ? "wrong type" : je.text);
		json_decref(j);
		reply_msg(c, ERR_INVALID, msg);
		return NULL;
	}
	return j;
}

/* A string member of J, or NULL after replying 400 (REQUIRED) or NULL when
 * absent and optional. */
const char *member(struct call *c, json_t *j, const char *key, int required, int *bad)
{
	json_t *v = json_object_get(j, key);
	char msg[128];

	if (v == NULL && !required)
		return NULL;
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", key);
		reply_msg(c, ERR_INVALID, msg);
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

void fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];

	SHA256(p, n, md);
	sodium_bin2hex(out, 65, md, sizeof(md));
}

/* Hex ids from the JSON array J into IDS (pointers into J). -1 after
 * replying 400. */
int id_list(struct call *c, json_t *j, const char *what, const char ***ids, size_t *n)
{
	size_t i;
	json_t *v;
	char msg[128];

	if (!json_is_array(j)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be an array of object ids", what);
		reply_msg(c, ERR_INVALID, msg);
		return -1;
	}
	*n = json_array_size(j);
	if ((*ids = calloc(*n ? *n : 1, sizeof(**ids))) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		return -1;
	}
	json_array_foreach(j, i, v) {
		if (!is_hex64(json_string_value(v))) {
			snprintf(msg, sizeof(msg), "\"%s\"[%zu] is not an object id (64 lowercase hex "
				 "digits)", what, i);
			free(*ids);
			*ids = NULL;
			reply_msg(c, ERR_INVALID, msg);
			return -1;
		}
		(*ids)[i] = json_string_value(v);
	}
	return 0;
}

/* The vault arg[0] of the caller's subscription and its machine arg[1]. */
int vault_machine(struct call *c, struct vault *v, struct machine *m)
{
	struct err e;

	if (catalog_vault_get(c->s->cat, c->who.subscription, c->arg[0], v, &e) != 0 ||
	    catalog_machine_by_name(c->s->cat, v->id, c->arg[1], m, &e) != 0) {
		reply_err(c, &e);
		return -1;
	}
	return 0;
}

/* The store of the calling machine's vault's region; with PAIR, also the
 * store GRS copies go to (NULL for an LRS vault or a region without a pair). */
struct store *machine_store_pair(struct call *c, struct store **pair, struct err *e)
{
	struct vault v;
	const struct region *r, *p;

	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, e) != 0)
		return NULL;
	if ((r = service_region(c->s, v.region)) == NULL) {
		err_set(e, ERR_NOT_FOUND, "the vault's region %s is not in this service's "
			"configuration", v.region);
		return NULL;
	}
	if (pair) {
		p = strcmp(v.redundancy, "GRS") == 0 && r->pair[0] ? service_region(c->s, r->pair) : NULL;
		*pair = p ? p->store : NULL;
	}
	return r->store;
}

struct store *machine_store(struct call *c, struct err *e)
{
	return machine_store_pair(c, NULL, e);
}

/* Map a spooled upload read-only. NULL (and *LEN 0) for an empty file. */
const uint8_t *map_upload(struct call *c, size_t *len, struct err *e)
{
	int fd;
	void *p;

	*len = c->req->body_len;
	if (*len == 0)
		return NULL;
	if ((fd = open(c->req->body_file, O_RDONLY | O_CLOEXEC)) < 0) {
		err_errno(e, "open upload");
		return MAP_FAILED;
	}
	p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		err_errno(e, "map upload");
	return p;
}
