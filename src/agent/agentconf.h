/*
 * agentconf.h: agent.json, the agent's settings in its install folder
 * (state.h), as text: parsed with every field checked, and written. The
 * parser and the writer are inverses: parsing what the writer wrote gives
 * the same settings.
 */
#ifndef ARCA_AGENT_AGENTCONF_H
#define ARCA_AGENT_AGENTCONF_H

#include <stddef.h>

#include "err.h"
#include "state.h"

#define AGENTCONF_MAX_BYTES (1 << 20)
#define AGENTCONF_ID_MAX 63 /* machine_id: sent in a header, kept in 64 bytes */

/* Fill the agent.json fields of S (service_url ... work_end; S's strings
 * owned by S, freed by state_free) from TEXT[0..LEN). Returns 0; or -1 with
 * E set to ERR_CORRUPT, a message naming the field and the rule (a required
 * string missing or empty, a field of the wrong type, a rate below 0, work
 * hours outside 0..24 or not in order, a machine id that cannot go in a
 * request header), or ERR_NOMEM. On failure S's fields may be half filled:
 * state_free them. */
int agentconf_parse(const char *text, size_t len, struct state *s, struct err *e);

/* The agent.json text of S (caller frees), or NULL with E set. */
char *agentconf_dump(const struct state *s, struct err *e);

#endif
