/*
 * exitcode.h: the agent's documented exit codes (SPEC section 7, rule 5).
 * Scripts branch on these; never change the meaning of a number. The same
 * table is in `arca help` and docs/AGENT.md.
 */
#ifndef ARCA_EXITCODE_H
#define ARCA_EXITCODE_H

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,         /* the operation failed; the message says why */
	EXIT_USAGE = 2,        /* bad command line */
	EXIT_CRED_INVALID = 3, /* vault credentials invalid, superseded or unreadable */
	EXIT_CRED_EXPIRED = 4, /* vault credentials expired */
	EXIT_PARTIAL = 5,      /* done, but some files were skipped or could not be restored */
	EXIT_PASSPHRASE = 6,   /* the passphrase is wrong or breaks the rules */
	EXIT_CACHE_SPACE = 7,  /* the cache folder has less free space than the backup needs */
	EXIT_DAMAGED = 8,      /* verify ran and found damaged recovery points (listed) */
	EXIT_PENDING = 9,      /* the change waits for the guard's approval (request id printed) */
};

#endif
