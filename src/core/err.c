/* err.c: the error record; see err.h. */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

static void set_v(struct err *e, enum err_code code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	set_v(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int err_errno(struct err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	set_v(e, saved == ENOSPC || saved == EDQUOT ? ERR_FULL : ERR_IO, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
	return -1;
}

int err_oom(struct err *e)
{
	return err_set(e, ERR_NOMEM, "out of memory");
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n, keep;
	va_list ap;

	if (e == NULL)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	/* Why by hand: the message is cut at ERR_MSG_MAX on purpose. */
	n = strlen(e->msg);
	keep = strnlen(old, sizeof(old));
	if (keep > sizeof(e->msg) - 1 - n)
		keep = sizeof(e->msg) - 1 - n;
	memcpy(e->msg + n, old, keep);
	e->msg[n + keep] = '\0';
	return -1;
}

const char *err_code_name(enum err_code code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "nomem";
	case ERR_IO: return "io";
	case ERR_INVALID: return "invalid";
	case ERR_TOO_LARGE: return "too_large";
	case ERR_UNSUPPORTED: return "unsupported";
	case ERR_CORRUPT: return "corrupt";
	case ERR_PASSPHRASE: return "passphrase";
	case ERR_EXPIRED: return "expired";
	case ERR_CREDENTIALS: return "credentials";
	case ERR_NOT_FOUND: return "not_found";
	case ERR_EXISTS: return "exists";
	case ERR_LIMIT: return "limit";
	case ERR_DENIED: return "denied";
	case ERR_LOCKED: return "locked";
	case ERR_CRYPTO: return "crypto";
	case ERR_FULL: return "full";
	}
	return "unknown";
}
