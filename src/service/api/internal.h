/*
 * api/internal.h: what the API's handlers share, behind api.h. A request
 * becomes a struct call: the service, the request and its response, the
 * authenticated caller (a person of a subscription, or a machine) and the
 * path segments the route captured. Every handler answers through
 * reply_json, reply_err or reply_msg, exactly once.
 *
 * One file per resource (session, vaults, machines, points, policy, jobs,
 * pin, packs), common.c for the helpers, auth.c for who is
 * calling, and routes.c for the one route table and its dispatcher.
 */
#ifndef ARCA_API_INTERNAL_H
#define ARCA_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "catalog.h"
#include "err.h"
#include "http.h"
#include "service.h"
#include "store.h"

#define SESSION_SECONDS (12 * 3600)
#define CERT_SECONDS (365 * 86400)      /* a machine certificate's validity */
#define CERT_RENEW_SECONDS (60 * 86400) /* renewable in its last 60 days */
#define REPLAY_WINDOW 300 /* seconds of clock skew a signed request may have */
/* How long a spent nonce is kept: a request with it passes the clock check
 * only while the service's clock is within REPLAY_WINDOW of its time, itself
 * within REPLAY_WINDOW of the clock when it was spent; twice that covers
 * several services on one catalog whose clocks differ a little too. */
#define NONCE_KEEP (2 * REPLAY_WINDOW)
#define MAX_SEGMENTS 8

struct route;

struct call {
	struct service *s;
	const struct http_request *req;
	struct http_response *res;
	struct principal who;
	struct machine machine; /* the caller, for machine-signed requests */
	const char *arg[MAX_SEGMENTS]; /* captured path segments */
	int64_t now;
	const char *token;  /* the caller's session or API token (user routes) */
	bool by_cookie;     /* TOKEN came in the portal's session cookie */
	char cookie[65];    /* where TOKEN points then */
	uint64_t body_len;  /* the signed Content-Length (machine requests) */
	char body_sha[65];  /* the signed X-Arca-Content-SHA256 (machine requests) */
};

/* What an admitted upload carries from its headers to its handler: who
 * signed it, what body they signed, what it reserved. */
struct upload_ticket {
	struct machine machine;
	uint64_t body_len;
	char body_sha[65];
};

/* ---- api/common.c: replies and helpers ---- */

/* Answer STATUS with BODY (consumed: its reference is dropped). */
void reply_json(struct call *c, int status, json_t *body);
/* Answer E as {"error": {"code", "message"}} with the status its code maps to. */
void reply_err(struct call *c, const struct err *e);
/* The spooled body of an admitted upload, mapped read-only (the caller
 * munmaps it): NULL and *LEN 0 for an empty body, MAP_FAILED with E set. */
const uint8_t *map_upload(struct call *c, size_t *len, struct err *e);
/* Answer CODE with the message MSG. */
void reply_msg(struct call *c, enum err_code code, const char *msg);
/* Answer 429 rate_limited with Retry-After: WAIT seconds, for too many
 * failed WHAT ("sign-ins from this address or for this user"). */
void reply_limited(struct call *c, int wait, const char *what);
/*
 * The audit log and the alerts, and what happens when they cannot be
 * written. The audit log is how a subscription's people learn what was
 * done in it, and an alert is how they hear at once of what may be an
 * attack (a PIN used, a machine deleted, a passphrase changed, credentials
 * downloaded); so neither is ever dropped in silence. A record that cannot
 * be written goes to the service's log (stderr) in full, so it is not lost,
 * and the request is answered with the error, never a success:
 *  - where nothing is done yet (pin.used, before the critical operation)
 *    the operation is refused;
 *  - where what was done hands out a secret (a session, an API token, a
 *    PIN, a machine's certificate, a credentials file) the secret is
 *    withheld, and a session or token made is taken back;
 *  - where it can be undone (a machine deleted, a passphrase changed), it
 *    is undone; the answer says whether that worked;
 *  - else (a deletion, an undeletion, a policy, a collection: committed
 *    already) the answer is a 500 that names the record which is missing.
 * A record of a refusal (pin.refused, machine.takeover_refused) that cannot
 * be written is logged; its request is refused anyway.
 */
/* Record ACTION on TARGET by ACTOR in SUBSCRIPTION's audit log. 0, or -1
 * with E set (and the record written to stderr instead). */
int audit_log(struct service *s, const char *subscription, int64_t now, const char *actor,
	      const char *action, const char *target, const char *detail, struct err *e);
/* Raise the alert KIND on TARGET for SUBSCRIPTION. 0, or -1 with E set (and
 * the alert written to stderr instead). */
int alert_raise(struct service *s, const char *subscription, int64_t now, const char *kind,
		const char *target, const char *message, struct err *e);
/* audit_log for the caller, in its subscription. */
int audit(struct call *c, const char *action, const char *target, const char *detail,
	  struct err *e);
/* Whether the request's Content-Type is WANT (parameters aside; none is WANT). */
bool content_type_is(struct call *c, const char *want);
/* The request body as a JSON object (the caller decrefs it), or NULL after
 * replying 400 (or 415 for another content type). */
json_t *body_json(struct call *c);
/* The string member KEY of J (pointing into J), or NULL: after replying 400
 * and setting *BAD when it is not a string or is REQUIRED and absent; or
 * when it is absent and optional. */
const char *member(struct call *c, json_t *j, const char *key, int required, int *bad);
/* T as an ISO 8601 UTC time. */
void fmt_time(int64_t t, char out[32]);
/* Whether S is 64 lowercase hex digits (an object, pack or meta id). */
int is_hex64(const char *s);
/* SHA-256 of N bytes at P as lowercase hex. */
void sha256_hex(const void *p, size_t n, char out[65]);
/* Hex ids from the JSON array J into *IDS (pointers into J; the caller
 * frees the array). 0, or -1 after replying 400. */
int id_list(struct call *c, json_t *j, const char *what, const char ***ids, size_t *n);
/* The vault arg[0] of the caller's subscription and its machine arg[1].
 * 0, or -1 after replying. */
int vault_machine(struct call *c, struct vault *v, struct machine *m);
/* The store of the calling machine's vault's region; with PAIR, also the
 * store GRS copies go to (NULL for an LRS vault or a region without a
 * pair). NULL with E set when the vault or its region cannot be found. */
struct store *machine_store_pair(struct call *c, struct store **pair, struct err *e);
/* machine_store_pair without the pair. */
struct store *machine_store(struct call *c, struct err *e);

/* ---- api/auth.c: who is calling ---- */

/* Authenticate a user's request (bearer token or the portal's cookie with
 * its CSRF token) into c->who. 0, or -1 after replying. */
int user_auth(struct call *c);
/* Whether T is within REPLAY_WINDOW of the service's clock. 0, or -1 after
 * replying 400. */
int check_clock(struct call *c, int64_t t);
/* Authenticate a machine-signed request from its headers alone into
 * c->machine, c->body_len and c->body_sha; spends its nonce. 0, or -1
 * after replying. */
int machine_auth(struct call *c);
/* Whether the body that arrived is the one the machine signed. 0, or -1
 * after replying 400. */
int body_signed(struct call *c);

/* ---- api/access.c: who may call what ---- */

/* The roles, as bits of the access table. */
enum {
	ROLE_OWNER = 1,
	ROLE_BACKUP = 2,   /* backup-operator */
	ROLE_RESTORE = 4,  /* restore-operator */
	ROLE_READER = 8,
	ROLE_SECURITY = 16, /* security-admin */
	ROLES_ALL = 31,
};
/* The bit of the role NAME, 0 for no role of that name. */
unsigned role_bit(const char *name);
/* Whether a holder of role HOLDER may hand out ROLE (to a token it makes,
 * or a user it invites): ROLE allows nothing HOLDER does not. */
bool role_covers(const char *holder, const char *role);
/* Whether the caller may use route R: its role in the access table, a
 * token's role still covered by its maker's, a second factor the
 * subscription requires enrolled. 0, or -1 after replying 403. */
int access_check(struct call *c, const struct route *r);
/* Answer 403 denied: WHAT needs one of the roles in ALLOWED, and the
 * caller acts as its role. */
void reply_role(struct call *c, unsigned allowed, const char *what);

/* ---- the handlers, one per route (api/routes.c lists them) ---- */

/* api/session.c */
void h_health(struct call *c);
void h_signin(struct call *c);
void h_whoami(struct call *c);
void h_signout(struct call *c);
void h_token_create(struct call *c);
void h_token_list(struct call *c);
void h_token_delete(struct call *c);
/* api/users.c */
void h_user_list(struct call *c);
void h_user_invite(struct call *c);
void h_user_patch(struct call *c);
void h_user_delete(struct call *c);
void h_user_reset(struct call *c);
void h_invitation(struct call *c);
void h_settings_get(struct call *c);
void h_settings_put(struct call *c);
void h_totp_begin(struct call *c);
void h_totp_confirm(struct call *c);
void h_totp_delete(struct call *c);
/* The second factor of the user P (with a confirmed one) checked with
 * CODE at NOW and its step spent. 1 when it passes; 0 when the code is
 * wrong or used already; -1 with E set when it could not be checked. */
int totp_passes(struct call *c, const struct principal *p, const char *code, struct err *e);
/* api/vaults.c */
void h_regions(struct call *c);
void h_vault_create(struct call *c);
void h_vault_list(struct call *c);
void h_vault_get(struct call *c);
void h_vault_patch(struct call *c);
void h_vault_delete(struct call *c);
void h_credentials(struct call *c);
void h_audit(struct call *c);
/* api/machines.c */
void h_register(struct call *c);
void h_machine_list(struct call *c);
void h_machine_self(struct call *c);
void h_source_machine(struct call *c);
void h_source_points(struct call *c);
void h_machine_delete(struct call *c);
void h_machine_undelete(struct call *c);
void h_machine_rewrap(struct call *c);
void h_machine_renew(struct call *c);
/* api/points.c */
void h_objects_missing(struct call *c);
void h_objects_locate(struct call *c);
void h_packs_present(struct call *c);
void h_point_commit(struct call *c);
void h_point_begin(struct call *c);
void h_lease_renew(struct call *c);
void h_lease_release(struct call *c);
void h_point_show(struct call *c);
void h_point_list(struct call *c);
void h_machine_points(struct call *c);
void h_point_delete(struct call *c);
void h_point_undelete(struct call *c);
/* A recovery point as the API shows it (a new reference). */
json_t *point_json(const struct recovery_point *p);
/* api/policy.c */
void h_policy_set(struct call *c);
void h_machine_policy_set(struct call *c);
void h_policy_get(struct call *c);
void h_policy_preview(struct call *c);
void h_machine_policy_preview(struct call *c);
void h_machine_policy(struct call *c);
/* api/jobs.c */
void h_job_start(struct call *c);
void h_job_end(struct call *c);
void h_job_list(struct call *c);
void h_usage(struct call *c);
void h_alerts(struct call *c);
void h_collect(struct call *c);
/* api/pin.c */
void h_pin(struct call *c);
/* A critical operation WHAT on TARGET needs the X-Arca-PIN header, which it
 * consumes, raising an alert. 0, or -1 after replying. */
int require_pin(struct call *c, const char *what, const char *target);
/* api/approvals.c: multi-user approval */
void h_approval_list(struct call *c);
void h_approval_approve(struct call *c);
void h_approval_refuse(struct call *c);
/* Hold critical operation OPERATION on TARGET (SUMMARY says what it does,
 * for a person) when the caller's subscription has a guard: store ARGS
 * (what to run; the caller keeps its reference) as a pending request,
 * audited and alerted, and answer 202 {"approval": {...}}. Call it after
 * every check of the operation and before doing anything. 0 when there is
 * no guard (go on); 1 after replying 202; -1 after replying an error. For
 * a machine's request c->who.subscription and c->who.name must be set. */
int approval_gate(struct call *c, const char *operation, const char *target, const char *summary,
		  json_t *args);
/* The "guard" and "approval_hours" members of a PUT /settings body J:
 * the first guard is named at once, a change or removal becomes a
 * request. 0 when the caller goes on; -1 after replying (202 for a
 * request, or an error). */
int guard_settings(struct call *c, json_t *j);
/* api/packs.c: the packs */
void h_pack_put(struct call *c);
void h_pack_progress(struct call *c);
void h_pack_get(struct call *c);
/* The bytes that the calling machine's resumable uploads in progress hold
 * in the upload folder, into *HELD. 0, or -1 with E set. */
int partial_bytes(struct call *c, uint64_t *held, struct err *e);

/* ---- api/routes.c: the route table ---- */

struct route {
	const char *method;
	const char *pattern; /* segments; "*" captures one */
	void (*fn)(struct call *);
	int auth;            /* AUTH_* */
};

enum { AUTH_USER = 0, AUTH_NONE = 1, AUTH_MACHINE = 2 };

/* The route of the call's request into *R, its "*" segments captured in
 * C->arg (pointers into COPY). 0; or -1 after replying 404 (no such path) or
 * 405 (no such method on it). */
int route_of(struct call *c, char copy[1024], const struct route **r);

#endif
