/*
 * reply.h: the service's JSON answers that the agent acts on, checked
 * whole before use (docs/API.md). The service is trusted with availability,
 * never with the agent's memory or its terminal: an answer that breaks its
 * shape is refused by field, an id the agent did not ask about is refused,
 * and text shown to a person has its control characters replaced.
 *
 * A refusal is ERR_CORRUPT with "the service's answer to WHAT ..." and what
 * is wrong; each function leaves its outputs unspecified on failure.
 */
#ifndef ARCA_AGENT_REPLY_H
#define ARCA_AGENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "keys.h"
#include "objid.h"

#define REPLY_ID_MAX 63 /* machine and recovery-point ids: printable ASCII */

/* Where an object lies: from POST /objects/locate. */
struct reply_loc {
	char pack[65];   /* 64 lowercase hex digits */
	uint64_t offset; /* offset + length <= PACK_MAX_BYTES */
	uint32_t length; /* >= OBJECT_OVERHEAD */
	int found;
};

/* POST /objects/locate's answer ANS to the N ids IDS (which may repeat):
 * fills LOC[i] for each id the answer places (found = 1) and clears found
 * for the others. Answers may come in any order; each answer entry places
 * one asked id. 0 or -1. */
int reply_locate(json_t *ans, const struct objid *ids, size_t n, struct reply_loc *loc,
		 struct err *e);

/* What the service's store says of a pack (POST /packs/present). */
enum reply_pack_state {
	REPLY_PACK_PRESENT = 1, /* the store has the pack's file */
	REPLY_PACK_ABSENT,      /* the store has no such file */
	REPLY_PACK_UNKNOWN,     /* the catalog holds no such pack of this vault */
	REPLY_PACK_ERROR,       /* the store could not tell (an I/O error) */
};

/* POST /packs/present's answer ANS to the N pack ids PACKS (64 lowercase
 * hex digits each): one entry per id, in the order asked, {"id", "state":
 * "present"|"absent"|"unknown"|"error"}. Fills STATE[i]. 0, or -1 with E
 * set (ERR_CORRUPT naming the entry) for any other answer. */
int reply_present(json_t *ans, const char *const *packs, size_t n,
		  enum reply_pack_state *state, struct err *e);

/* POST /objects/missing's answer ANS to the N ids IDS: MISSING[i] is set
 * for each asked id the answer lists (any order; one entry per asked
 * occurrence), cleared for the others. 0 or -1. */
int reply_missing(json_t *ans, const struct objid *ids, size_t n, bool *missing,
		  struct err *e);

/* GET /recovery-points (and /machines/NAME/recovery-points): the
 * "recovery_points" list of ANS (borrowed from ANS), each point an object
 * with "id" (1 to REPLY_ID_MAX printable ASCII characters, no '/'), "meta"
 * (an object id in hex), "created" (a string) and, when present, "objects"
 * and "bytes" (whole numbers >= 0). NULL with E set. */
json_t *reply_points(json_t *ans, struct err *e);

/* The "wrapped_key" of OBJ (GET /machines/NAME, or the 409 key_mismatch
 * error of POST /register): base64 of a wrapped key whose shape is checked.
 * 0 with BLOB filled, or -1 (ERR_CORRUPT, or ERR_UNSUPPORTED for a newer
 * key format). */
int reply_wrapped_key(json_t *obj, uint8_t blob[KEYS_WRAPPED_LEN], struct err *e);

/* POST /register's answer ANS: its "machine_id" (borrowed), which goes into
 * every later request's header, so 1 to REPLY_ID_MAX printable ASCII
 * characters; "certificate", when present, a string. NULL with E set. */
const char *reply_register(json_t *ans, struct err *e);

/* The id KEY of ANS (a job's "id" from POST /jobs, a backup's "lease",
 * a committed point's "id"), borrowed: 1 to REPLY_ID_MAX letters, digits,
 * '.', '_' or '-', since the agent puts it into request paths and bodies
 * and shows it. NULL with E set. */
const char *reply_id(json_t *ans, const char *key, struct err *e);

/* The time KEY of ANS (a lease's "expires"), "YYYY-MM-DDTHH:MM:SSZ" in UTC
 * as the service writes every time, into *T as Unix seconds. 0, or -1 with
 * E set (ERR_CORRUPT) for a missing or malformed time. */
int reply_time(json_t *ans, const char *key, int64_t *t, struct err *e);

/* An error answer BODY[0..LEN) with HTTP STATUS as E: the service's code
 * mapped to an err code, its message (and detail), control characters
 * replaced by '?'. *KEEP gets a reference to the answer's "error" object
 * (or NULL), for the caller to decref. Returns -1. */
int reply_error(const uint8_t *body, size_t len, long status, json_t **keep, struct err *e);

#endif
