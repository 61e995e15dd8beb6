/*
 * fuzz_api.c: the JSON API's request handling on arbitrary bodies. A real
 * service (catalog, CA, stores) lives in a temporary folder for the whole
 * run; each input picks a route by its first byte and sends the rest as the
 * body, signed in as the owner. Handlers must answer every input with a
 * well-formed JSON reply (or a file), never crash, leak or hang.
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
};

static const char *header(void *conn, const char *name)
{
	(void)conn;
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
	struct service_init_opts o = { dir, "owner", "fuzz password 123", NULL };
	const char signin[] = "{\"user\":\"owner\",\"password\":\"fuzz password 123\"}";
	const char vault[] = "{\"name\":\"fuzz-vault\",\"region\":\"local-1\"}";
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response res;
	size_t r;

	if (svc.cat == NULL)
		setup();
	if (size == 0)
		return 0;
	r = data[0] % (sizeof(routes) / sizeof(routes[0]));
	call(routes[r].method, routes[r].path, data + 1, size - 1, &res);
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
