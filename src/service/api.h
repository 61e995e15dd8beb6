/*
 * api.h: the JSON API of the vault service, one handler for every request
 * (docs/API.md lists the endpoints). It authenticates the caller, checks the
 * input, calls the catalog and the PKI, writes the audit log for every
 * destructive or security-relevant action, and answers JSON, or an error as
 * {"error": {"code": "...", "message": "..."}} with a fitting HTTP status.
 */
#ifndef ARCA_API_H
#define ARCA_API_H

#include "http.h"
#include "service.h"

/* The http_handler of arcad; CTX is the struct service. */
void api_handle(void *ctx, const struct http_request *req, struct http_response *res);

#endif
