/*
 * kit.h: the second passphrase's kit. `arca properties --add-passphrase
 * --recovery-kit FILE` writes a short text that carries the machine's
 * master key wrapped by the second passphrase, in base64 on its "Wrapped
 * key" line; `arca restore --from-machine NAME --wrapped-key FILE` reads it
 * back, or the raw 144-byte wrapped-2.key kept in the install folder. Every
 * refusal says what is wrong with the file and what to give instead.
 */
#ifndef ARCA_AGENT_KIT_H
#define ARCA_AGENT_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "keys.h"

#define KIT_MAX_BYTES 65536 /* a kit is about 400 bytes */

/* Append the kit text for BLOB (a wrapped key of KEYS_WRAPPED_LEN bytes) of
 * MACHINE in VAULT on SERVICE to OUT. 0 or -1. */
int kit_format(const char *machine, const char *vault, const char *service,
	       const uint8_t blob[KEYS_WRAPPED_LEN], struct buf *out, struct err *e);

/* The wrapped key in P[0..N): a raw wrapped key, or a kit's one "Wrapped
 * key" line. The blob's shape is checked (magic, checksum, version, KDF
 * bounds; not the passphrase). 0 with BLOB filled, or -1 with E set:
 * ERR_TOO_LARGE over KIT_MAX_BYTES; ERR_INVALID for a file that holds no
 * wrapped key (binary data, the first passphrase's recovery kit, no line) or
 * two; ERR_CORRUPT for a line that is not base64, a key of the wrong length
 * or a damaged key; ERR_UNSUPPORTED for a newer key format. */
int kit_parse(const uint8_t *p, size_t n, uint8_t blob[KEYS_WRAPPED_LEN], struct err *e);

#endif
