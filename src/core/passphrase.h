/*
 * passphrase.h: the rules a passphrase must meet and the generator of new
 * ones. A passphrase has at least 16 characters (Unicode code points of
 * valid UTF-8, not bytes); a generated one has 36 characters drawn
 * uniformly, by the system's CSPRNG, from an alphabet without look-alikes
 * (no 0/O/o, 1/l/I), so it can be read off paper and typed back.
 */
#ifndef ARCA_PASSPHRASE_H
#define ARCA_PASSPHRASE_H

#include <stddef.h>

#include "err.h"

#define PASSPHRASE_MIN_CHARS 16
#define PASSPHRASE_GEN_CHARS 36
#define PASSPHRASE_MAX_BYTES 1024

/* Check P against the rules. 0, or -1 with ERR_PASSPHRASE and a message that
 * says which rule failed (too short, with the count; too long; not valid
 * UTF-8; contains a control character such as a line break). */
int passphrase_check(const char *p, struct err *e);

/* Write a new 36-character passphrase and a NUL into OUT. 0, or -1 when the
 * CSPRNG cannot be initialised. */
int passphrase_generate(char out[PASSPHRASE_GEN_CHARS + 1], struct err *e);

/* The generator's alphabet, for tests and documentation. */
extern const char passphrase_alphabet[];

#endif
