/*
 * api/routes.c: the one route table of the API and its dispatcher.
 *
 * Routing is a table of (method, path pattern) → handler, where a pattern
 * segment "*" captures one path segment. Every handler but sign-in and
 * health runs for an authenticated principal of one subscription, and sees
 * only that subscription's rows. A user's request is checked against the
 * access table (api/access.c) before its handler runs.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const struct route routes[] = {
	{ "GET", "/api/v1/health", h_health, 1 },
	{ "POST", "/api/v1/session", h_signin, 1 },
	{ "DELETE", "/api/v1/session", h_signout, 0 },
	{ "GET", "/api/v1/session", h_whoami, 0 },
	{ "POST", "/api/v1/session/totp", h_totp_begin, 0 },
	{ "POST", "/api/v1/session/totp/confirm", h_totp_confirm, 0 },
	{ "DELETE", "/api/v1/session/totp", h_totp_delete, 0 },
	{ "POST", "/api/v1/invitation", h_invitation, AUTH_NONE },
	{ "GET", "/api/v1/settings", h_settings_get, 0 },
	{ "PUT", "/api/v1/settings", h_settings_put, 0 },
	{ "GET", "/api/v1/users", h_user_list, 0 },
	{ "POST", "/api/v1/users", h_user_invite, 0 },
	{ "PATCH", "/api/v1/users/*", h_user_patch, 0 },
	{ "DELETE", "/api/v1/users/*", h_user_delete, 0 },
	{ "POST", "/api/v1/users/*/reset", h_user_reset, 0 },
	{ "GET", "/api/v1/tokens", h_token_list, 0 },
	{ "POST", "/api/v1/tokens", h_token_create, 0 },
	{ "DELETE", "/api/v1/tokens/*", h_token_delete, 0 },
	{ "GET", "/api/v1/regions", h_regions, 0 },
	{ "GET", "/api/v1/vaults", h_vault_list, 0 },
	{ "POST", "/api/v1/vaults", h_vault_create, 0 },
	{ "GET", "/api/v1/vaults/*", h_vault_get, 0 },
	{ "PATCH", "/api/v1/vaults/*", h_vault_patch, 0 },
	{ "PUT", "/api/v1/vaults/*", h_vault_patch, 0 },
	{ "DELETE", "/api/v1/vaults/*", h_vault_delete, 0 },
	{ "POST", "/api/v1/vaults/*/credentials", h_credentials, 0 },
	{ "GET", "/api/v1/vaults/*/machines", h_machine_list, 0 },
	{ "DELETE", "/api/v1/vaults/*/machines/*", h_machine_delete, 0 },
	{ "POST", "/api/v1/vaults/*/machines/*/undelete", h_machine_undelete, 0 },
	{ "GET", "/api/v1/vaults/*/machines/*/recovery-points", h_machine_points, 0 },
	{ "DELETE", "/api/v1/vaults/*/machines/*/recovery-points/*", h_point_delete, 0 },
	{ "POST", "/api/v1/vaults/*/machines/*/recovery-points/*/undelete", h_point_undelete, 0 },
	{ "POST", "/api/v1/pin", h_pin, 0 },
	{ "GET", "/api/v1/approvals", h_approval_list, 0 },
	{ "POST", "/api/v1/approvals/*/approve", h_approval_approve, 0 },
	{ "POST", "/api/v1/approvals/*/refuse", h_approval_refuse, 0 },
	{ "PUT", "/api/v1/vaults/*/machines/*/policy", h_policy_set, 0 },
	{ "GET", "/api/v1/vaults/*/machines/*/policy", h_policy_get, 0 },
	{ "GET", "/api/v1/machine/policy", h_machine_policy, AUTH_MACHINE },
	{ "PUT", "/api/v1/machine/policy", h_machine_policy_set, AUTH_MACHINE },
	{ "GET", "/api/v1/vaults/*/machines/*/policy/preview", h_policy_preview, 0 },
	{ "GET", "/api/v1/machine/policy/preview", h_machine_policy_preview, AUTH_MACHINE },
	{ "GET", "/api/v1/alerts", h_alerts, 0 },
	{ "GET", "/api/v1/audit", h_audit, 0 },
	{ "POST", "/api/v1/register", h_register, AUTH_NONE },
	{ "GET", "/api/v1/machine", h_machine_self, AUTH_MACHINE },
	{ "PUT", "/api/v1/packs/*", h_pack_put, AUTH_MACHINE },
	{ "GET", "/api/v1/packs/*", h_pack_get, AUTH_MACHINE },
	{ "GET", "/api/v1/packs/*/upload", h_pack_progress, AUTH_MACHINE },
	{ "POST", "/api/v1/objects/missing", h_objects_missing, AUTH_MACHINE },
	{ "POST", "/api/v1/objects/locate", h_objects_locate, AUTH_MACHINE },
	{ "POST", "/api/v1/packs/present", h_packs_present, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points", h_point_commit, AUTH_MACHINE },
	{ "GET", "/api/v1/recovery-points", h_point_list, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points/begin", h_point_begin, AUTH_MACHINE },
	{ "POST", "/api/v1/recovery-points/lease/*/renew", h_lease_renew, AUTH_MACHINE },
	{ "DELETE", "/api/v1/recovery-points/lease/*", h_lease_release, AUTH_MACHINE },
	{ "GET", "/api/v1/recovery-points/*", h_point_show, AUTH_MACHINE },
	{ "GET", "/api/v1/machines/*", h_source_machine, AUTH_MACHINE },
	{ "PUT", "/api/v1/machine/wrapped-key", h_machine_rewrap, AUTH_MACHINE },
	{ "POST", "/api/v1/machine/certificate", h_machine_renew, AUTH_MACHINE },
	{ "GET", "/api/v1/machines/*/recovery-points", h_source_points, AUTH_MACHINE },
	{ "POST", "/api/v1/jobs", h_job_start, AUTH_MACHINE },
	{ "PATCH", "/api/v1/jobs/*", h_job_end, AUTH_MACHINE },
	{ "GET", "/api/v1/vaults/*/jobs", h_job_list, 0 },
	{ "GET", "/api/v1/vaults/*/usage", h_usage, 0 },
	{ "POST", "/api/v1/vaults/*/collect", h_collect, 0 },
};

/* Match PATH against PATTERN, capturing "*" segments into ARG (pointers into
 * COPY, which is PATH split at '/'). */
static int match(const char *pattern, char *copy, const char **arg)
{
	char *save = NULL, *seg = strtok_r(copy, "/", &save);
	const char *p = pattern + 1;
	int n = 0;

	while (*p || seg) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (seg == NULL || len == 0)
			return 0;
		if (len == 1 && *p == '*') {
			if (n >= MAX_SEGMENTS)
				return 0;
			arg[n++] = seg;
		} else if (strlen(seg) != len || strncmp(seg, p, len) != 0) {
			return 0;
		}
		p = end ? end + 1 : p + len;
		seg = strtok_r(NULL, "/", &save);
	}
	return 1;
}

/* The route of the call's request into *R, its "*" segments captured in
 * C->arg (pointers into COPY). 0; or -1 after replying 404 (no such path) or
 * 405 (no such method on it). */
int route_of(struct call *c, char copy[1024], const struct route **r)
{
	int path_found = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (snprintf(copy, 1024, "%s", c->req->path) >= 1024)
			break;
		if (!match(routes[i].pattern, copy, c->arg))
			continue;
		path_found = 1;
		if (strcmp(routes[i].method, c->req->method) != 0)
			continue;
		*r = &routes[i];
		return 0;
	}
	if (path_found) {
		reply_json(c, 405, json_pack("{s:{s:s,s:s}}", "error", "code", "method",
					     "message", "this method is not allowed on this path"));
		return -1;
	}
	reply_json(c, 404, json_pack("{s:{s:s,s:s}}", "error", "code", "not_found", "message",
				     "no such API path; see docs/API.md"));
	return -1;
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *res)
{
	const struct upload_ticket *t = req->ticket;
	const struct route *r;
	struct call c;
	char copy[1024];

	memset(&c, 0, sizeof(c));
	c.s = ctx;
	c.req = req;
	c.res = res;
	c.now = service_now();
	if (route_of(&c, copy, &r) != 0)
		return;
	if (r->auth == AUTH_MACHINE) {
		/* An admitted upload was authenticated from its headers (its
		 * nonce is spent): it brings who signed it and what. */
		if (t) {
			c.machine = t->machine;
			c.body_len = t->body_len;
			memcpy(c.body_sha, t->body_sha, sizeof(c.body_sha));
		} else if (machine_auth(&c) != 0) {
			return;
		}
		if (body_signed(&c) != 0)
			return;
	} else if (r->auth == AUTH_USER && (user_auth(&c) != 0 || access_check(&c, r) != 0)) {
		return;
	}
	r->fn(&c);
}
