/*
 * fuzz_api.c: the JSON API's request handling on arbitrary bodies. A real
 * service (catalog, CA, stores) lives in a temporary folder for the whole
 * run; each input picks a route by its first byte and sends the rest as the
 * body, signed in as the owner. Handlers must answer every input with a
 * well-formed JSON reply (or a file), never crash, leak or hang.
 *
 * The machine routes take their signing headers (X-Arca-Machine, -Time,
 * -Nonce, -Content-SHA256, Content-Length, X-Arca-Signature) from the
 * input's first six lines, the rest as the body; the upload route goes
 * through api_admit first, as the server does before reading a body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "http.h"
#include "service.h"

static struct service svc;
static char bearer[80];
static char dir[] = "/tmp/arca-fuzz-api-XXXXXX";

static void cleanup(void)
{
	char cmd[64];

	service_close(&svc);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_api: could not remove %s\n", dir);
}

static const struct {
	const char *method, *path;
} routes[] = {
	{ "POST", "/api/v1/session" },
	{ "POST", "/api/v1/vaults" },
	{ "PATCH", "/api/v1/vaults/fuzz-vault" },
	{ "POST", "/api/v1/tokens" },
	{ "POST", "/api/v1/register" },
	{ "POST", "/api/v1/vaults/fuzz-vault/credentials" },
	{ "GET", "/api/v1/vaults/fuzz-vault" },
	{ "DELETE", "/api/v1/vaults/fuzz-vault/machines/x" },
	{ "GET", "/api/v1/audit" },
	{ "POST", "/api/v1/pin" },
	{ "GET", "/api/v1/machine" },
	{ "PUT", "/api/v1/packs/0000000000000000000000000000000000000000000000000000000000000000" },
	/* users, invitations and the second factor */
	{ "POST", "/api/v1/users" },
	{ "PATCH", "/api/v1/users/fuzz-user" },
	{ "POST", "/api/v1/users/fuzz-user/reset" },
	{ "POST", "/api/v1/invitation" },
	{ "POST", "/api/v1/session/totp/confirm" },
	{ "DELETE", "/api/v1/session/totp" },
};

#define FIRST_MACHINE_ROUTE 10
#define AFTER_MACHINE_ROUTES 13

/* The machine routes' signing headers, from the input. */
static const char *const signing[] = { "X-Arca-Machine", "X-Arca-Time", "X-Arca-Nonce",
				       "X-Arca-Content-SHA256", "Content-Length",
				       "X-Arca-Signature" };
static char signing_value[6][128];
static int signing_on;

static const char *header(void *conn, const char *name)
{
	(void)conn;
	for (int i = 0; signing_on && i < 6; i++)
		if (strcmp(name, signing[i]) == 0)
			return signing_value[i];
	if (strcmp(name, "Authorization") == 0)
		return bearer;
	if (strcmp(name, "X-Arca-PIN") == 0)
		return "00000000";
	return NULL;
}

static void call(const char *method, const char *path, const uint8_t *body, size_t len,
		 struct http_response *res)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(*res));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = len;
	req.header = header;
	api_handle(&svc, &req, res);
}

static void setup(void)
{
	char generated[SERVICE_PASSWORD_LEN + 1];
	struct service_init_opts o = { dir, "owner", "fuzz password 123", NULL, NULL };
	const char signin[] = "{\"user\":\"owner\",\"password\":\"fuzz password 123\"}";
	const char vault[] = "{\"name\":\"fuzz-vault\",\"region\":\"local-1\"}";
	const char user[] = "{\"name\":\"fuzz-user\",\"role\":\"reader\"}";
	struct http_response res;
	struct err e;
	json_t *j;

	if (mkdtemp(dir) == NULL || service_init(&o, generated, &e) != 0 ||
	    service_open(&svc, dir, &e) != 0) {
		fprintf(stderr, "fuzz_api: setup failed\n");
		abort();
	}
	atexit(cleanup);
	snprintf(svc.url, sizeof(svc.url), "https://127.0.0.1:1");
	call("POST", "/api/v1/session", (const uint8_t *)signin, sizeof(signin) - 1, &res);
	j = json_loadb((const char *)res.body.data, res.body.len, 0, NULL);
	if (res.status != 201 || j == NULL)
		abort();
	snprintf(bearer, sizeof(bearer), "Bearer %s", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	buf_free(&res.body);
	call("POST", "/api/v1/vaults", (const uint8_t *)vault, sizeof(vault) - 1, &res);
	buf_free(&res.body);
	call("POST", "/api/v1/users", (const uint8_t *)user, sizeof(user) - 1, &res);
	if (res.status != 201)
		abort();
	buf_free(&res.body);
}

/* Fill the signing headers from the first lines of DATA; the rest of it,
 * from *OFF, is the body. */
static void take_signing(const uint8_t *data, size_t size, size_t *off)
{
	for (int i = 0; i < 6; i++) {
		size_t n = 0;

		while (*off < size && data[*off] != '\n') {
			if (n + 1 < sizeof(signing_value[i]) && data[*off] != 0)
				signing_value[i][n++] = (char)data[*off];
			(*off)++;
		}
		signing_value[i][n] = 0;
		if (*off < size)
			(*off)++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response res;
	size_t r, off = 1;

	if (svc.cat == NULL)
		setup();
	if (size == 0)
		return 0;
	r = data[0] % (sizeof(routes) / sizeof(routes[0]));
	signing_on = r >= FIRST_MACHINE_ROUTE && r < AFTER_MACHINE_ROUTES;
	if (signing_on)
		take_signing(data, size, &off);
	if (strcmp(routes[r].method, "PUT") == 0) {
		struct http_request req;
		void *ticket = NULL;

		memset(&req, 0, sizeof(req));
		memset(&res, 0, sizeof(res));
		req.method = routes[r].method;
		req.path = routes[r].path;
		req.header = header;
		if (api_admit(&svc, &req, &ticket, &res) == 0) {
			api_release(&svc, ticket);
		} else if (res.status < 400 || res.status > 599) {
			abort();
		}
		buf_free(&res.body);
	}
	call(routes[r].method, routes[r].path, data + off, size - off, &res);
	signing_on = 0;
	if (res.status < 200 || res.status > 599)
		abort();
	/* Every answer but a credentials file is a JSON object. */
	if (res.content_type == NULL || strcmp(res.content_type, "application/json") == 0) {
		json_t *j = json_loadb((const char *)res.body.data, res.body.len, 0, NULL);

		if (!json_is_object(j))
			abort();
		json_decref(j);
	}
	buf_free(&res.body);
	return 0;
}
