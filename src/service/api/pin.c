/*
 * api/pin.c: the security PIN: a person generates one, and a critical
 * operation consumes it (require_pin), raising an alert every time.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static void pin_hash(const char *subscription, const char *pin, char out[65])
{
	char both[128];

	snprintf(both, sizeof(both), "%s:%s", subscription, pin);
	sha256_hex(both, strlen(both), out);
	sodium_memzero(both, sizeof(both));
}

/* POST /pin: a person signed in (a session, not an API token) gets a
 * security PIN of their own, valid five minutes for one critical operation
 * of theirs, or for their machine's passphrase change in the agent. */
void h_pin(struct call *c)
{
	char pin[9], hash[65], exp[32];
	struct err e;

	if (c->who.is_token) {
		reply_msg(c, ERR_DENIED, "a security PIN is for a person signed in, not an API token");
		return;
	}
	for (int i = 0; i < 8; i++)
		pin[i] = (char)('0' + randombytes_uniform(10));
	pin[8] = 0;
	pin_hash(c->who.subscription, pin, hash);
	if (catalog_pin_create(c->s->cat, c->who.subscription, c->who.actor, hash, c->now,
			       c->now + CATALOG_PIN_SECONDS, &e) != 0) {
		sodium_memzero(pin, sizeof(pin));
		reply_err(c, &e);
		return;
	}
	/* An unrecorded PIN is never shown: nobody can use it, and it
	 * expires with its five minutes. */
	if (audit(c, "pin.create", c->who.name, "", &e) != 0) {
		sodium_memzero(pin, sizeof(pin));
		reply_err(c, &e);
		return;
	}
	fmt_time(c->now + CATALOG_PIN_SECONDS, exp);
	reply_json(c, 201, json_pack("{s:s,s:s}", "pin", pin, "expires", exp));
	sodium_memzero(pin, sizeof(pin));
}

/* A critical operation WHAT on TARGET needs the X-Arca-PIN header: a PIN
 * the person signed in generated (never an API token's request), or for a
 * machine call (c->machine set, c->who filled for its subscription) one a
 * person of the machine's subscription generated. The PIN is consumed;
 * every use raises an alert. 0, or -1 after replying. */
int require_pin(struct call *c, const char *what, const char *target)
{
	const char *pin = http_header(c->req, "X-Arca-PIN");
	bool machine = c->machine.id[0] != 0;
	char hash[65], msg[512], actor[80];
	struct err e;

	if (!machine && c->who.is_token) {
		reply_msg(c, ERR_DENIED, "this operation needs a person signed in with a security PIN; "
			  "an API token cannot do it");
		return -1;
	}
	if (pin == NULL) {
		reply_msg(c, ERR_DENIED, "this operation needs a security PIN: generate one in the "
			  "portal (valid 5 minutes, for one operation) and send it as X-Arca-PIN");
		return -1;
	}
	if (machine)
		snprintf(actor, sizeof(actor), "machine:%s", c->machine.id);
	else
		snprintf(actor, sizeof(actor), "%s", c->who.actor);
	pin_hash(c->who.subscription, pin, hash);
	if (catalog_pin_use(c->s->cat, c->who.subscription, machine ? NULL : c->who.actor, actor, hash,
			    c->now, &e) != 0) {
		struct err ae;

		/* Refused either way; a record that fails is on stderr. */
		(void)audit(c, "pin.refused", target, what, &ae);
		reply_err(c, &e);
		return -1;
	}
	snprintf(msg, sizeof(msg), "security PIN used by %s to %s %s", c->who.name, what, target);
	/* The PIN is spent; the operation is not done yet: without its alert
	 * it is not done at all. */
	if (alert_raise(c->s, c->who.subscription, c->now, "pin.used", target, msg, &e) != 0) {
		err_prefix(&e, "the operation was refused, as nobody would hear of it: ");
		reply_err(c, &e);
		return -1;
	}
	return 0;
}
