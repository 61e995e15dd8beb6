/*
 * http.h: the service's HTTP server, a thin layer over libmicrohttpd. It
 * reads a whole request (method, path, headers, a bounded body), hands it to
 * one handler function, and sends back the response the handler filled in.
 * TLS (GnuTLS inside libmicrohttpd) is on unless plain HTTP was asked for,
 * which is allowed on loopback addresses only. The handler knows nothing of
 * libmicrohttpd.
 */
#ifndef ARCA_HTTP_H
#define ARCA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define HTTP_BODY_MAX (1u << 20) /* request bodies of the JSON API */

struct http_request {
	const char *method;
	const char *path; /* without the query string */
	const uint8_t *body;
	size_t body_len;
	void *conn; /* for http_header */
};

struct http_response {
	int status;
	const char *content_type;
	struct buf body;
	char disposition[160]; /* Content-Disposition, or empty */
};

/* The handler fills RES for REQ; it runs on a server thread. */
typedef void (*http_handler)(void *ctx, const struct http_request *req,
			     struct http_response *res);

struct http_server;

/* Whether HOST (an address literal or "localhost") is a loopback address. */
bool http_is_loopback(const char *host);

/* Start serving on HOST:PORT. With CERT_PEM and KEY_PEM, HTTPS; with both
 * NULL, plain HTTP, refused (ERR_INVALID) unless HOST is loopback. PORT 0
 * picks a free port (see http_port). NULL with E set. */
struct http_server *http_start(const char *host, uint16_t port, const char *cert_pem,
			       const char *key_pem, http_handler h, void *ctx, struct err *e);

/* The port the server listens on. */
uint16_t http_port(const struct http_server *s);

/* Stop serving and release S. S may be NULL. */
void http_stop(struct http_server *s);

/* A request header's value, or NULL. */
const char *http_header(const struct http_request *req, const char *name);

#endif
