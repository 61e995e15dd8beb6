/*
 * show.h: how the command line shows an engine at work. The backup and
 * restore engines report through events (backup.h, restore.h) and never
 * write to the terminal; this module turns those events into the one-line
 * progress display and the "arca CMD: ..." messages on stderr.
 */
#ifndef ARCA_AGENT_SHOW_H
#define ARCA_AGENT_SHOW_H

#include <time.h>

#include "backup.h"
#include "restore.h"
#include "verify.h"

struct show {
	const char *cmd;      /* the command word in messages: "backup", "restore" */
	int progress;         /* draw a progress line on stderr */
	int drawn;            /* a progress line is on the screen, not ended */
	struct timespec last; /* when the line was last drawn */
};

/* Start showing command CMD (a string that outlives SH), with a progress
 * line when PROGRESS. */
void show_init(struct show *sh, const char *cmd, int progress);

/* Events that show a backup: skipped entries and notes on stderr, and the
 * progress line when SH has one. EV points at SH until it is done with. */
void show_backup_events(struct show *sh, struct backup_events *ev);

/* Events that show a restore: failed entries on stderr and the progress
 * line when SH has one. */
void show_restore_events(struct show *sh, struct restore_events *ev);

/* Events that show a verify: the progress line (objects and bytes
 * checked, rate) when SH has one. */
void show_verify_events(struct show *sh, struct verify_events *ev);

/* End a progress line left open (an engine that failed midway), so the next
 * message starts on a line of its own. */
void show_end(struct show *sh);

#endif
