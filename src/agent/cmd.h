/*
 * cmd.h: one function per `arca` command. Each takes the arguments after
 * `arca` (argv[0] is the command word) and returns an exit code (exitcode.h).
 */
#ifndef ARCA_CMD_H
#define ARCA_CMD_H

#include <stddef.h>

#include <jansson.h>

#include "repo.h"
#include "state.h"

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

int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);

/* What the recovery commands (restore, ls, find, verify, mount) open: the
 * agent in its install folder, a connection, the keys of the machine read
 * (ours, or another's of the vault opened with its passphrase, read only),
 * a repo over them and the service's list of that machine's points. */
struct recovery_ctx {
	struct state s;
	struct client *c;
	struct keys *other; /* the source machine's keys, for --from-machine */
	struct repo repo;
	json_t *points;
	int json;
};

/* Open X for this machine in HOME, or for machine FROM of the vault with
 * its passphrase (from PASS_FILE, else asked on the terminal) and, when
 * WRAPPED is not NULL, the second passphrase's kit. 0, or -1 with E set
 * (ERR_PASSPHRASE for a passphrase that does not open the key); either way
 * recovery_close(X) after. */
int recovery_open(struct recovery_ctx *x, const char *home, const char *from,
		  const char *pass_file, const char *wrapped, struct err *e);
/* Free what X holds. */
void recovery_close(struct recovery_ctx *x);

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
