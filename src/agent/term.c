/*
 * term.c: prompts and secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

int term_interactive(void)
{
	return isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int term_ask(const char *prompt, int secret, char *out, size_t size, struct err *e)
{
	struct termios old, quiet;
	int restore = 0;
	char *got;

	if (!term_interactive())
		return err_set(e, ERR_INVALID, "no terminal to ask '%s' on: give it by option", prompt);
	/* Why echo goes off before the prompt shows: TCSAFLUSH discards what
	 * was typed before it, and an answer typed (or pasted) as soon as the
	 * prompt appears must not be among that. */
	if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	got = fgets(out, (int)size, stdin);
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (got == NULL)
		return err_set(e, ERR_INVALID, "no answer to '%s'", prompt);
	chomp(out);
	return 0;
}

int term_read_secret_file(const char *path, char *out, size_t size, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	char *nl;

	if (fd < 0)
		return err_errno(e, "cannot read %s", path);
	do
		r = read(fd, out, size - 1);
	while (r < 0 && errno == EINTR);
	close(fd);
	if (r < 0)
		return err_errno(e, "cannot read %s", path);
	out[r] = '\0';
	if ((nl = strchr(out, '\n')) != NULL)
		*nl = '\0';
	else if ((size_t)r == size - 1)
		return err_set(e, ERR_TOO_LARGE, "the first line of %s is longer than %zu bytes",
			       path, size - 2);
	chomp(out);
	return 0;
}
