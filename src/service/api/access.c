/*
 * api/access.c: who may call what. The roles of a subscription's users
 * and API tokens, and the one table of (method, path pattern) → the roles
 * allowed, which api_handle checks for every user route before its handler
 * runs (docs/API.md shows the same table, and tests/e2e/test_roles.py walks
 * it row by row). Machine-signed routes and the routes without sign-in are
 * not in it: a machine acts only on itself.
 *
 * A route of the route table that has no row here is refused to everyone:
 * a route added without deciding who may call it is closed, not open.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Each role, and the roles it covers: what a token its holder makes may
 * carry. Roles are not a ladder: a backup operator cannot do what a
 * security admin does, nor the other way round; the owner covers all. */
static const struct {
	const char *name;
	unsigned bit, covers;
} roles[] = {
	{ "owner", ROLE_OWNER, ROLES_ALL },
	{ "backup-operator", ROLE_BACKUP, ROLE_BACKUP | ROLE_RESTORE | ROLE_READER },
	{ "restore-operator", ROLE_RESTORE, ROLE_RESTORE | ROLE_READER },
	{ "reader", ROLE_READER, ROLE_READER },
	{ "security-admin", ROLE_SECURITY, ROLE_SECURITY | ROLE_READER },
};

#define O ROLE_OWNER
#define B ROLE_BACKUP
#define R ROLE_RESTORE
#define D ROLE_READER
#define S ROLE_SECURITY
#define ALL ROLES_ALL

/*
 * The access table. ENROLL marks what a user may do before enrolling a
 * second factor their subscription requires (who am I, sign out, enrol).
 * Some rows allow a role part of what the route does, and the handler
 * refuses the rest with the same 403: a backup operator sets a policy but
 * may not shorten retention (api/policy.c), and makes a vault immutable
 * but never mutable again (api/vaults.c).
 */
static const struct access {
	const char *method, *pattern;
	unsigned roles;
	bool enroll;
} table[] = {
	{ "GET", "/api/v1/session", ALL, true },
	{ "DELETE", "/api/v1/session", ALL, true },
	{ "POST", "/api/v1/session/totp", ALL, true },
	{ "POST", "/api/v1/session/totp/confirm", ALL, true },
	{ "DELETE", "/api/v1/session/totp", ALL, false },
	{ "GET", "/api/v1/settings", ALL, false },
	{ "PUT", "/api/v1/settings", O | S, false },
	{ "GET", "/api/v1/users", O | S, false },
	{ "POST", "/api/v1/users", O | S, false },
	{ "PATCH", "/api/v1/users/*", O | S, false },
	{ "DELETE", "/api/v1/users/*", O | S, false },
	{ "POST", "/api/v1/users/*/reset", O | S, false },
	{ "GET", "/api/v1/tokens", O | S, false },
	{ "POST", "/api/v1/tokens", ALL, false },
	{ "DELETE", "/api/v1/tokens/*", O | S, false },
	{ "GET", "/api/v1/regions", ALL, false },
	{ "GET", "/api/v1/vaults", ALL, false },
	{ "POST", "/api/v1/vaults", O | B, false },
	{ "GET", "/api/v1/vaults/*", ALL, false },
	{ "PATCH", "/api/v1/vaults/*", O | B, false },
	{ "PUT", "/api/v1/vaults/*", O | B, false },
	{ "DELETE", "/api/v1/vaults/*", O, false },
	{ "POST", "/api/v1/vaults/*/credentials", O | B | R, false },
	{ "GET", "/api/v1/vaults/*/machines", ALL, false },
	{ "DELETE", "/api/v1/vaults/*/machines/*", O, false },
	{ "POST", "/api/v1/vaults/*/machines/*/undelete", O | B, false },
	{ "GET", "/api/v1/vaults/*/machines/*/recovery-points", ALL, false },
	{ "DELETE", "/api/v1/vaults/*/machines/*/recovery-points/*", O, false },
	{ "POST", "/api/v1/vaults/*/machines/*/recovery-points/*/undelete", O | B, false },
	{ "POST", "/api/v1/pin", O | S, false },
	{ "GET", "/api/v1/approvals", ALL, false },
	{ "POST", "/api/v1/approvals/*/approve", S, false },
	{ "POST", "/api/v1/approvals/*/refuse", S, false },
	{ "PUT", "/api/v1/vaults/*/machines/*/policy", O | B, false },
	{ "GET", "/api/v1/vaults/*/machines/*/policy", ALL, false },
	{ "GET", "/api/v1/vaults/*/machines/*/policy/preview", ALL, false },
	{ "GET", "/api/v1/alerts", ALL, false },
	{ "GET", "/api/v1/audit", O | S, false },
	{ "GET", "/api/v1/vaults/*/jobs", ALL, false },
	{ "GET", "/api/v1/vaults/*/usage", ALL, false },
	{ "POST", "/api/v1/vaults/*/collect", O | B, false },
};

unsigned role_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].bit;
	return 0;
}

bool api_role_exists(const char *name)
{
	return role_bit(name) != 0;
}

bool role_covers(const char *holder, const char *role)
{
	unsigned want = role_bit(role);

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, holder) == 0)
			return want != 0 && (roles[i].covers & want) == want;
	return false;
}

/* The names of the roles in MASK, "owner or backup-operator", into OUT. */
static void role_names(unsigned mask, char *out, size_t cap)
{
	size_t len = 0;
	int n = 0, k = 0;

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		n += (mask & roles[i].bit) != 0;
	out[0] = 0;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]) && len < cap; i++) {
		if (!(mask & roles[i].bit))
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s%s", k == 0 ? "" :
					k == n - 1 ? " or " : ", ", roles[i].name);
		k++;
	}
}

void reply_role(struct call *c, unsigned allowed, const char *what)
{
	char names[128], msg[400];

	role_names(allowed, names, sizeof(names));
	snprintf(msg, sizeof(msg), "%s needs the role %s; %s acts as %s", what, names, c->who.name,
		 c->who.role[0] ? c->who.role : "no role");
	reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied", "message", msg));
}

int access_check(struct call *c, const struct route *r)
{
	const struct access *a = NULL;
	char what[160];

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].method, r->method) == 0 && strcmp(table[i].pattern, r->pattern) == 0)
			a = &table[i];
	if (a == NULL) {
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied", "message",
					     "no role may call this route: it has no row in the "
					     "service's access table"));
		return -1;
	}
	/* A token acts with its own role, and only while its maker still
	 * holds a role that covers it. */
	if (c->who.is_token && !role_covers(c->who.maker_role, c->who.role)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "API token %s carries the role %s, which its maker no "
			 "longer holds (%s now): make a new token", c->who.name + 6, c->who.role,
			 c->who.maker_role[0] ? c->who.maker_role : "no role");
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "denied", "message",
					     msg));
		return -1;
	}
	if (!c->who.is_token && c->who.totp_required && !c->who.totp && !a->enroll) {
		reply_json(c, 403, json_pack("{s:{s:s,s:s}}", "error", "code", "totp_enroll",
					     "message", "this subscription requires a second factor "
					     "of every user: enrol one first (POST /api/v1/session/totp, "
					     "then confirm it with a code), then sign in again"));
		return -1;
	}
	if ((a->roles & role_bit(c->who.role)) == 0) {
		snprintf(what, sizeof(what), "%s %s", r->method, r->pattern);
		reply_role(c, a->roles, what);
		return -1;
	}
	return 0;
}
