/*
 * cmd.h: one function per `arca` command. Each takes the arguments after
 * `arca` (argv[0] is the command word) and returns an exit code (exitcode.h).
 */
#ifndef ARCA_CMD_H
#define ARCA_CMD_H

struct err;
struct json_t;

#include <stddef.h>

/* Print O as one line of compact JSON on stdout: a command's --json answer. */
void cmd_print_json(const struct json_t *o);

/* Report a failed command: with JSON, {"error": {"code", "message"}} on
 * stdout; always "arca CMD: message" on stderr. */
void cmd_error(const char *cmd, int json, const struct err *e);

int cmd_version(int argc, char **argv);
int cmd_credentials(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_properties(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_recovery_points(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_find(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_verify(int argc, char **argv);

struct verify_opts;
struct verify_result;
/* What `arca verify` does, for the resident agent too: verify the points
 * NAMES (all of them when N_NAMES is 0) of this machine in HOME (or of
 * machine FROM, opened with PASS_FILE and WRAPPED as `arca restore` does),
 * and record the run as a job of kind "verify". 0 with RES filled (its
 * report the caller's), or -1 with E set when it could not run. */
int verify_machine(const char *home, const char *from, const char *pass_file,
		   const char *wrapped, char *const *names, size_t n_names,
		   const struct verify_opts *vo, struct verify_result *res, struct err *e);

#endif
