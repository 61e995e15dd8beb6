/*
 * http.h: the service's HTTP server, a thin layer over libmicrohttpd. It
 * reads a whole request (method, path, headers, a bounded body), hands it to
 * one handler function, and sends back the response the handler filled in.
 * TLS (GnuTLS inside libmicrohttpd) is on unless plain HTTP was asked for,
 * which is allowed on loopback addresses only. The handler knows nothing of
 * libmicrohttpd.
 *
 * Invariant: no byte of a body is stored on disk unless an admission
 * function accepted the request from its headers first. Bodies of other
 * requests stay in memory, at most HTTP_BODY_MAX bytes; a declared length
 * over the limit is refused before the body is read. The admission function
 * and its tickets are opaque here: this module knows nothing of the API.
 */
#ifndef ARCA_HTTP_H
#define ARCA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define HTTP_BODY_MAX (1u << 20) /* request bodies of the JSON API */
#define HTTP_CONNECTIONS_MAX 256  /* connections served at once */
#define HTTP_TIMEOUT_DEFAULT 120  /* seconds a connection may sit without a byte */
#define HTTP_PER_ADDRESS_DEFAULT 64 /* connections one client address may hold */

/* How long a connection may be idle, and how many one address may hold.
 * Why a limit per address: each connection holds a thread until it ends,
 * and a client that keeps many open (sending a byte now and then, which
 * no idle timeout ends) would otherwise take all HTTP_CONNECTIONS_MAX and
 * lock everyone else out. Behind a proxy or load balancer every client has
 * its address: raise the limit to HTTP_CONNECTIONS_MAX there (the proxy
 * then has to bound slow clients itself). */
struct http_limits {
	unsigned timeout;     /* seconds, 1 to 3600 */
	unsigned per_address; /* 1 to HTTP_CONNECTIONS_MAX */
	/* The addresses (IPv4 or IPv6 literals) of load balancers whose
	 * connections begin with a PROXY protocol version 2 header naming the
	 * client (HAProxy's send-proxy-v2), at most HTTP_PROXIES_MAX; none by
	 * default. A connection from one of them must carry the header (else
	 * it is closed), and the client it names is the connection's address
	 * for every limit and log; a connection from anywhere else is taken
	 * as it comes, any header in it unbelieved. */
	const char *const *proxies;
	size_t n_proxies;
};

#define HTTP_PROXIES_MAX 8

struct http_request {
	const char *method;
	const char *path; /* without the query string */
	const uint8_t *body; /* in memory (small bodies), or NULL when spooled */
	size_t body_len;     /* bytes in BODY, or in the spooled file */
	const char *body_file; /* an upload spooled to this file, or NULL; the
				* handler may rename it away, else it is removed */
	uint8_t body_sha256[32]; /* of the whole body, computed as it arrived */
	/* How http_header finds a header: the server's lookup, or a test's. */
	const char *(*header)(void *conn, const char *name);
	void *conn;
	bool tls;       /* the request came over TLS (cookies get Secure) */
	char peer[64];  /* the client's address, or "" when unknown */
	void *ticket;   /* what the admission function gave this request, or NULL */
};

#define HTTP_HEADERS_MAX 8

/* A response header a handler adds (see http_set_header). */
struct http_header_line {
	char name[40];
	char value[512];
};

/* Fill BUF with up to MAX bytes of a streamed body from byte POS of it
 * (see http_respond_stream) and set *GOT (at least 1 while POS is before
 * the end). 0, or -1 to cut the response off: the client then sees a body
 * shorter than its declared length and the connection closed. */
typedef int (*http_stream_fn)(void *arg, uint64_t pos, uint8_t *buf, size_t max, size_t *got);

struct http_response {
	int status;
	const char *content_type;
	struct buf body;
	char disposition[160]; /* Content-Disposition, or empty */
	bool use_fd;           /* send FD's range instead of BODY */
	int fd;
	uint64_t fd_offset, fd_len;
	http_stream_fn stream; /* or send what this produces (http_respond_stream) */
	void *stream_arg;
	void (*stream_free)(void *arg);
	uint64_t stream_len;
	char content_range[96]; /* Content-Range for a partial response, or empty */
	struct http_header_line headers[HTTP_HEADERS_MAX]; /* more headers */
	int n_headers;
};

/* The handler fills RES for REQ; it runs on a server thread. */
typedef void (*http_handler)(void *ctx, const struct http_request *req,
			     struct http_response *res);

struct http_server;

/* Whether HOST (an address literal or "localhost") is a loopback address. */
bool http_is_loopback(const char *host);

/* Start serving on HOST:PORT. With CERT_PEM and KEY_PEM, HTTPS; with both
 * NULL, plain HTTP, refused (ERR_INVALID) unless HOST is loopback. PORT 0
 * picks a free port (see http_port). LIM: the limits, or NULL for the
 * defaults; a proxy address that is not an address literal is
 * ERR_INVALID. NULL with E set. */
struct http_server *http_start(const char *host, uint16_t port, const char *cert_pem,
			       const char *key_pem, const struct http_limits *lim, http_handler h,
			       void *ctx, struct err *e);

/* The port the server listens on. */
uint16_t http_port(const struct http_server *s);

/* Let METHOD requests under PATH_PREFIX carry up to MAX bytes, spooled to a
 * temporary file in SPOOL_DIR instead of memory (at most 4 such rules). Such
 * a request must declare its length (Content-Length; a chunked one is
 * refused with 411) and be admitted (http_set_admission) before its body is
 * read; without an admission function every one is refused. Call before
 * requests come. 0, or -1 when the rules are full. */
int http_add_upload(struct http_server *s, const char *method, const char *path_prefix,
		    uint64_t max, const char *spool_dir);

/* Decide from REQ's method, path and headers alone whether its body may be
 * spooled: REQ has no body yet and BODY_LEN is its declared length. It runs
 * on a server thread before any body byte is read. 0 to admit, with *TICKET
 * set to what the handler then finds in req->ticket (it may be NULL); or -1
 * with RES filled in, which is sent at once, the body left unread and the
 * connection closed. */
typedef int (*http_admit_fn)(void *ctx, const struct http_request *req, void **ticket,
			     struct http_response *res);

/* Release TICKET, once, when the request it was given to ends, however it
 * ends: answered, refused, or its client gone in the middle of the body. */
typedef void (*http_release_fn)(void *ctx, void *ticket);

/* Admit spooled uploads with ADMIT and release their tickets with RELEASE,
 * both called with the handler's CTX. Call before requests come. */
void http_set_admission(struct http_server *s, http_admit_fn admit, http_release_fn release);

/* Stop serving and release S. S may be NULL. */
void http_stop(struct http_server *s);

/* Answer with LEN bytes of the open file FD from OFFSET (the response owns
 * FD from here on). */
void http_respond_file(struct http_response *res, int fd, uint64_t offset, uint64_t len);

/* Answer with a body of LEN bytes that FN produces piece by piece, as the
 * client takes them (memory stays at one piece whatever LEN is). FN runs on
 * the connection's thread, with ARG; FREE_FN (may be NULL) releases ARG once
 * the response is over, sent or not. */
void http_respond_stream(struct http_response *res, uint64_t len, http_stream_fn fn, void *arg,
			 void (*free_fn)(void *arg));

/* The value of a Content-Length header into *LEN: 0 when VALUE is NULL
 * (no header); 0, or -1 when it is not a plain decimal number that fits. */
int http_length(const char *value, uint64_t *len);

/* Parse the value of a Range header, "bytes=FIRST-LAST" or "bytes=FIRST-"
 * (digits only, one range), against a resource of SIZE bytes: 0 with the
 * inclusive range in *FIRST and *LAST (LAST cut at the end of the
 * resource); -1 when VALUE is malformed (answer 400); 1 when it is well
 * formed but asks for nothing there: FIRST past the end, or FIRST after
 * LAST (answer 416). */
int http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/* Add the response header NAME: VALUE (copied). A Cache-Control set here
 * replaces the default "no-store". 0, or -1 when the table is full or the
 * name or value does not fit. */
int http_set_header(struct http_response *res, const char *name, const char *value);

/* A request header's value, or NULL. */
const char *http_header(const struct http_request *req, const char *name);

#endif
