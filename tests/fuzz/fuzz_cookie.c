/*
 * fuzz_cookie.c: the portal's reading of the Cookie header (a browser's,
 * or anyone's, bytes) and its CSRF check. Neither may crash or read out of
 * bounds, a token it returns is 64 lowercase hex digits, and no input but
 * the right HMAC passes the CSRF check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portal.h"

static const char *cookie;

static const char *header(void *conn, const char *name)
{
	(void)conn;
	return strcmp(name, "Cookie") == 0 ? cookie : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct portal *p;
	struct http_request req;
	char *text, token[65], csrf[65];

	if (p == NULL && (p = portal_new(NULL, NULL, NULL)) == NULL)
		abort();
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	memset(&req, 0, sizeof(req));
	req.header = header;
	cookie = text;
	if (portal_cookie_token(&req, token) == 0) {
		if (strlen(token) != 64 || strspn(token, "0123456789abcdef") != 64)
			abort();
		portal_csrf(p, token, csrf);
		if (!portal_csrf_ok(p, token, csrf))
			abort();
	}
	/* The input itself as a CSRF token for a fixed session: never valid
	 * unless it is that session's HMAC. */
	portal_csrf(p, "0000000000000000000000000000000000000000000000000000000000000000", csrf);
	if (portal_csrf_ok(p, "0000000000000000000000000000000000000000000000000000000000000000", text) &&
	    strcmp(text, csrf) != 0)
		abort();
	free(text);
	return 0;
}
