/*
 * err.h: errors are values. A failing function returns -1 (or NULL) and
 * fills a struct err with a code a program can branch on and a message a
 * person can act on: what failed, on what, and what to do. Library code never
 * prints; the binaries decide how an error reaches a person.
 *
 * Every function that takes a struct err * accepts NULL there, for callers
 * that only need the return value.
 */
#ifndef ARCA_ERR_H
#define ARCA_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM,       /* out of memory */
	ERR_IO,          /* a system call on a file failed; message holds errno text */
	ERR_INVALID,     /* bad argument or bad input: the message says which */
	ERR_TOO_LARGE,   /* a length is over its bound */
	ERR_UNSUPPORTED, /* a format version or feature this build does not know */
	ERR_CORRUPT,     /* stored bytes fail authentication or structure checks */
	ERR_PASSPHRASE,  /* a passphrase does not open a wrapped key, or breaks a rule */
	ERR_EXPIRED,     /* a credential is past its expiry */
	ERR_CREDENTIALS, /* vault credentials are invalid */
	ERR_CRYPTO,      /* a cryptographic library call failed unexpectedly */
	ERR_NOT_FOUND,   /* no such thing (vault, user, token, ...) */
	ERR_EXISTS,      /* a thing of that name exists already */
	ERR_LIMIT,       /* a limit of the product is reached: the message names it */
	ERR_DENIED,      /* not signed in, or not allowed */
	ERR_LOCKED,      /* the thing cannot change in its present state */
	ERR_FULL,        /* a file system is full (ENOSPC, EDQUOT): free space, then retry */
};

#define ERR_MSG_MAX 512

struct err {
	enum err_code code;
	char msg[ERR_MSG_MAX];
};

/* Clear E to ERR_OK with an empty message. E may be NULL. */
void err_clear(struct err *e);

/* Set E to CODE with a printf-style message. Returns -1, so that
 * `return err_set(...)` ends a failing function. E may be NULL. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As err_set with ERR_IO, appending ": " and strerror(errno). Reads errno
 * before anything else can change it; a full file system (ENOSPC, EDQUOT)
 * is ERR_FULL instead, so that it reaches a person as itself. Returns -1. */
int err_errno(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set E to ERR_NOMEM. Returns -1. */
int err_oom(struct err *e);

/* Prefix E's message with a printf-style context ("reading pack 3f2a: ").
 * Keeps the code. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A short stable name for CODE ("corrupt", "io", ...), for JSON output. */
const char *err_code_name(enum err_code code);

#endif
