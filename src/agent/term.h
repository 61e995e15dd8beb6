/*
 * term.h: talking to a person at a terminal: prompts (secrets without echo),
 * reading a secret from a file, and the one-line progress display.
 */
#ifndef ARCA_AGENT_TERM_H
#define ARCA_AGENT_TERM_H

#include <stddef.h>

#include "err.h"

/* Whether stdin and stderr are both terminals. */
int term_interactive(void);
/* Ask PROMPT on the terminal and read one line into OUT (SIZE bytes), with
 * echo off when SECRET. 0, or -1 with E set (no terminal, end of input). */
int term_ask(const char *prompt, int secret, char *out, size_t size, struct err *e);
/* Read the first line of PATH into OUT (SIZE bytes), without its line end:
 * a passphrase, a password or a PIN given by file. 0 or -1 with E set. */
int term_read_secret_file(const char *path, char *out, size_t size, struct err *e);

#endif
