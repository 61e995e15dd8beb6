/*
 * show.c: engine events on the terminal. A message that comes while a
 * progress line is drawn clears that line first ("\r\033[K"), and the line
 * is drawn again at most twice a second, so a fast backup costs no time
 * in terminal writes.
 */
#include <stdio.h>

#include "show.h"

#define REDRAW_MS 500

void show_init(struct show *sh, const char *cmd, int progress)
{
	sh->cmd = cmd;
	sh->progress = progress;
	sh->drawn = 0;
	sh->last.tv_sec = 0;
	sh->last.tv_nsec = 0;
}

static const char *clear(const struct show *sh)
{
	return sh->progress ? "\r\033[K" : "";
}

/* Whether to draw now: always for the LAST line, else when REDRAW_MS have
 * passed since the line was last drawn. */
static int due(struct show *sh, int last)
{
	struct timespec now;

	if (!sh->progress)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && (now.tv_sec - sh->last.tv_sec) * 1000 +
			     (now.tv_nsec - sh->last.tv_nsec) / 1000000 < REDRAW_MS)
		return 0;
	sh->last = now;
	return 1;
}

static void finish_line(struct show *sh, int last)
{
	if (last)
		fputc('\n', stderr);
	sh->drawn = !last;
}

static void human(double v, char *out, size_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4)
		v /= 1024, i++;
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void backup_skipped(void *ctx, const char *path, const char *why)
{
	struct show *sh = ctx;

	fprintf(stderr, "%sarca %s: skipped %s: %s\n", clear(sh), sh->cmd, path, why);
}

static void backup_note(void *ctx, const char *why)
{
	struct show *sh = ctx;

	fprintf(stderr, "%sarca %s: note: %s\n", clear(sh), sh->cmd, why);
}

static void backup_progress(void *ctx, const struct backup_result *r, double t, int last)
{
	struct show *sh = ctx;
	char done[32], total[32], rate[32];

	if (!due(sh, last))
		return;
	human((double)r->bytes_read, done, sizeof(done));
	human((double)r->bytes_total, total, sizeof(total));
	human(t > 0 ? (double)r->bytes_read / t : 0, rate, sizeof(rate));
	fprintf(stderr, "\r\033[K%llu files, %s read of %s, %s/s",
		(unsigned long long)(r->files_new + r->files_changed + r->files_unchanged), done,
		total, rate);
	if (r->bytes_read > 0 && r->bytes_total > r->bytes_read && t > 1)
		fprintf(stderr, ", %.0f s left",
			t * (double)(r->bytes_total - r->bytes_read) / (double)r->bytes_read);
	finish_line(sh, last);
}

void show_backup_events(struct show *sh, struct backup_events *ev)
{
	ev->ctx = sh;
	ev->skipped = backup_skipped;
	ev->note = backup_note;
	ev->progress = backup_progress;
}

static void restore_failed(void *ctx, const char *path, const char *why)
{
	struct show *sh = ctx;

	fprintf(stderr, "%sarca %s: %s: %s\n", clear(sh), sh->cmd, path, why);
}

static void restore_progress(void *ctx, uint64_t files, uint64_t bytes, int last)
{
	struct show *sh = ctx;

	if (!due(sh, last))
		return;
	fprintf(stderr, "\r\033[K%llu files, %.1f MiB restored", (unsigned long long)files,
		(double)bytes / (1 << 20));
	finish_line(sh, last);
}

void show_restore_events(struct show *sh, struct restore_events *ev)
{
	ev->ctx = sh;
	ev->failed = restore_failed;
	ev->progress = restore_progress;
}

static void verify_progress(void *ctx, const struct verify_result *r, double t, int last)
{
	struct show *sh = ctx;
	char done[32], rate[32];

	if (!due(sh, last))
		return;
	human((double)r->bytes_read, done, sizeof(done));
	human(t > 0 ? (double)r->bytes_read / t : 0, rate, sizeof(rate));
	fprintf(stderr, "\r\033[K%llu points, %llu objects, %llu chunks read, %s read, %s/s",
		(unsigned long long)r->points, (unsigned long long)r->objects,
		(unsigned long long)r->data_read, done, rate);
	finish_line(sh, last);
}

void show_verify_events(struct show *sh, struct verify_events *ev)
{
	ev->ctx = sh;
	ev->progress = verify_progress;
}

void show_end(struct show *sh)
{
	if (sh->drawn)
		fputc('\n', stderr);
	sh->drawn = 0;
}
