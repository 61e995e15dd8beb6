/*
 * api.h: the JSON API of the vault service, one handler for every request
 * (docs/API.md lists the endpoints). It authenticates the caller, checks the
 * input, calls the catalog and the PKI, writes the audit log for every
 * destructive or security-relevant action, and answers JSON, or an error as
 * {"error": {"code": "...", "message": "..."}} with a fitting HTTP status.
 */
#ifndef ARCA_API_H
#define ARCA_API_H

#include <stdbool.h>
#include "http.h"
#include "service.h"

/* The http_handler of arcad; CTX is the struct service. A machine route
 * answers 400 when the body that arrived is not the one its signature
 * declared (length and SHA-256). */
void api_handle(void *ctx, const struct http_request *req, struct http_response *res);

/* The http_admit_fn of arcad's spooled uploads: the request must be a
 * machine route, signed (machine_auth, from the headers alone, which spends
 * its nonce), and within its machine's staging bounds (staging.h: uploads
 * in flight, and declared bytes plus its resumable uploads on disk), else
 * it is refused (401, 404, 405; 429 with Retry-After for the bounds). An
 * admitted request's ticket names the machine and the body it signed;
 * api_handle trusts it instead of authenticating again. */
int api_admit(void *ctx, const struct http_request *req, void **ticket, struct http_response *res);

/* The http_release_fn matching api_admit: gives back the reservation and
 * frees TICKET (NULL does nothing). */
void api_release(void *ctx, void *ticket);

/* Whether NAME is one of the roles of a subscription's users (owner,
 * backup-operator, restore-operator, reader, security-admin). */
bool api_role_exists(const char *name);

#endif
