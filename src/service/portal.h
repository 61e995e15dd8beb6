/*
 * portal.h: the web portal of arcad, the browser's side of the service. It
 * serves the portal's pages (plain HTML, CSS and JavaScript modules from
 * src/service/portal/, embedded at build time) with a strict
 * Content-Security-Policy, and keeps what browser sign-in needs:
 *
 * - the session cookie: the same session token as the API's bearer token,
 *   HttpOnly (page scripts never see it), SameSite=Strict, Secure over TLS;
 * - the CSRF token that every change made with that cookie must carry in
 *   X-CSRF-Token: an HMAC-SHA-256 of the session token under a key that
 *   lives in memory only (a restarted service hands out new ones; nothing
 *   about it is stored);
 * - the limit on sign-in attempts, per client address and per user name.
 *
 * The JSON API itself (api.c) decides which requests need what.
 */
#ifndef ARCA_PORTAL_H
#define ARCA_PORTAL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "http.h"

#define PORTAL_COOKIE "arca_session"
#define PORTAL_CSRF_HEADER "X-CSRF-Token"

/* Sign-in failures allowed in a row, and one more every this many seconds:
 * per client address, and (more) per user name. */
#define PORTAL_SIGNIN_BURST_PEER 10
#define PORTAL_SIGNIN_BURST_USER 20
#define PORTAL_SIGNIN_REFILL 30
/* How long an address where a user signed in stays known for that user:
 * the limit per user name does not refuse it (only its address's limit
 * does), so failures from elsewhere cannot lock the user out of it. */
#define PORTAL_SIGNIN_KNOWN (30 * 86400)

struct portal;

#define PORTAL_CSRF_KEY_LEN 32

struct catalog;

/* A portal whose sign-in limits are kept in CAT, shared by every service on
 * it (in memory when CAT is NULL), and whose CSRF tokens are keyed with
 * CSRF_KEY (PORTAL_CSRF_KEY_LEN bytes; every service of one catalog passes
 * the same key, so that a token one of them gave is good at the others),
 * or with a fresh random key when CSRF_KEY is NULL. It serves the agent
 * binary `arca` found beside the running arcad, when there is one. NULL
 * with E set. */
struct portal *portal_new(struct catalog *cat, const uint8_t *csrf_key, struct err *e);

/* Release P. P may be NULL. */
void portal_free(struct portal *p);

/* Answer REQ for a path outside /api/: a page or file of the portal (GET and
 * HEAD only), /download/arca, or 404. */
void portal_serve(const struct portal *p, const struct http_request *req,
		  struct http_response *res);

/* The session token of REQ's cookie (64 lowercase hex) into OUT. 0, or -1
 * when there is no such cookie. */
int portal_cookie_token(const struct http_request *req, char out[65]);

/* Set the session cookie to TOKEN for MAX_AGE seconds, or clear it when
 * TOKEN is NULL. Secure when REQ came over TLS. 0 or -1 (no room). */
int portal_set_cookie(const struct http_request *req, struct http_response *res,
		      const char *token, int max_age);

/* The CSRF token (64 hex) of session TOKEN. */
void portal_csrf(const struct portal *p, const char *token, char out[65]);

/* Whether SENT (the X-CSRF-Token header, may be NULL) is session TOKEN's
 * CSRF token; compared in constant time. */
bool portal_csrf_ok(const struct portal *p, const char *token, const char *sent);

/* In *WAIT, 0 when a sign-in from PEER as USER may be tried at NOW, else
 * the seconds to wait. The limit per user name leaves out a PEER known for
 * USER. 0, or -1 with E set when the limits could not be read (the sign-in
 * is then refused). */
int portal_signin_wait(struct portal *p, const char *peer, const char *user, int64_t now,
		       int *wait, struct err *e);

/* Record a failed sign-in from PEER as USER at NOW (a failure to record it
 * is logged). */
void portal_signin_failed(struct portal *p, const char *peer, const char *user, int64_t now);

/* Record a sign-in from PEER as USER at NOW: PEER is known for USER for
 * PORTAL_SIGNIN_KNOWN seconds. */
void portal_signin_succeeded(struct portal *p, const char *peer, const char *user, int64_t now);

#endif
