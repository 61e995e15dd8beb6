/*
 * client.h: the agent's HTTP client for the arcad API. One client is one
 * libcurl handle (a kept-alive connection), for one thread at a time. It
 * trusts only the service's own TLS anchor (from the vault credentials),
 * goes through a proxy when one is set (with a user name and password for an
 * authenticating one), and signs every request with the machine key once the
 * machine is known (docs/API.md, "Machine-signed requests").
 *
 * A service error answer ({"error": {"code", "message"}}) becomes a struct
 * err whose message is the service's; a proxy or network failure says which.
 * A request that may be sent twice (reads, pack uploads, the questions about
 * objects, the lease's requests) is tried again, signed anew, after a failed
 * connection: up to six tries with backoff, each told on stderr. Any other
 * request fails at once with ERR_IO and *STATUS 0, for the caller to check
 * what happened (the commit, backup.c).
 */
#ifndef ARCA_AGENT_CLIENT_H
#define ARCA_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "buf.h"
#include "err.h"

struct client_opts {
	const char *url;        /* https://host:port of the service */
	const char *ca_pem;     /* trust anchor of the service's TLS certificate */
	const char *proxy;      /* proxy URL, or NULL */
	const char *proxy_user; /* or NULL */
	const char *proxy_pass; /* or NULL */
};

struct client;

/* A client, or NULL with E set. Copies what it needs of O. */
struct client *client_new(const struct client_opts *o, struct err *e);
void client_free(struct client *c);

/* Sign every later request as MACHINE_ID with KEY (borrowed; must outlive
 * the client). */
void client_set_machine(struct client *c, const char *machine_id, EVP_PKEY *key);

/* Limit upload speed to RATE bytes a second (0: no limit). */
void client_set_rate(struct client *c, uint64_t rate);

/* One request to PATH (under /api/v1) with BODY[0..LEN) of content type
 * CTYPE (NULL when there is no body), plus the "Name: value" lines of
 * HEADERS (NULL-terminated, or NULL). The answer's body goes to OUT and its
 * status to *STATUS. Returns 0 when the service answered 2xx; -1 with E set
 * when it answered an error (its message, mapped to an err code), or when
 * the connection or the proxy failed. An answer longer than 2 MiB (no answer
 * of the API comes near) is cut off and refused: -1 with ERR_CORRUPT. */
int client_call(struct client *c, const char *method, const char *path, const char *ctype,
		const void *body, size_t len, const char *const *headers, struct buf *out,
		long *status, struct err *e);

/* client_call without a body, for an answer of at most MAX bytes (a pack
 * range: the length asked for); a longer one is cut off there and refused
 * with ERR_CORRUPT. */
int client_call_max(struct client *c, const char *method, const char *path,
		    const char *const *headers, size_t max, struct buf *out, long *status,
		    struct err *e);

/* client_call for a body whose SHA-256 the caller knows already (SHA, 64
 * lowercase hex digits): a pack, whose id is that hash. Saves hashing 16 MiB
 * again; the service checks the hash against the bytes all the same. */
int client_call_hashed(struct client *c, const char *method, const char *path, const char *ctype,
		       const void *body, size_t len, const char sha[65], struct buf *out,
		       long *status, struct err *e);

/* client_call with a JSON body (BODY borrowed, or NULL) and a JSON answer.
 * Returns the parsed answer (caller decrefs), or NULL with E set. */
json_t *client_json(struct client *c, const char *method, const char *path, json_t *body,
		    const char *const *headers, long *status, struct err *e);

/* client_json with a body that is JSON text already (TEXT[0..LEN), or
 * NULL): for bodies of many thousand ids, built without a json_t each. */
json_t *client_json_text(struct client *c, const char *method, const char *path,
			 const char *text, size_t len, const char *const *headers, long *status,
			 struct err *e);

/* The "error" object of the service's last error answer, or NULL; valid
 * until the next call. */
json_t *client_error_body(struct client *c);

/* Sign MSG[0..LEN) with KEY (ECDSA or Ed25519 over SHA-256) and append the
 * base64 of the signature to OUT as a NUL-terminated string. 0 or -1. */
int client_sign_b64(EVP_PKEY *key, const void *msg, size_t len, struct buf *out,
		    struct err *e);

/* Hex SHA-256 of DATA[0..LEN) into OUT. */
void client_sha256_hex(const void *data, size_t len, char out[65]);

#endif
