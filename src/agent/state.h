/*
 * state.h: the agent's install folder (--home, default /var/lib/arca), mode
 * 0700 and readable by root only:
 *
 *   agent.json     service URL, vault, machine, cache folder, proxy, throttle
 *   ca.pem         the trust anchor of the service's TLS certificate
 *   machine.key    the machine's private key (PEM, 0600)
 *   machine.pem    the machine's certificate from the vault
 *   master.key     the 32-byte master key (0600), so that scheduled backups
 *                  need no passphrase
 *   wrapped.key    the master key wrapped by the passphrase (the service
 *                  keeps the same blob)
 *   proxy.pass     the proxy's password, when one is set (0600)
 *
 * Every file is written whole to a temporary name, synced and renamed.
 * state_load refuses an install folder whose files of secrets (agent.json,
 * machine.key, master.key, wrapped*.key, proxy.pass) others may read or
 * write, or that belong to another user, or a folder others may write to.
 */
#ifndef ARCA_AGENT_STATE_H
#define ARCA_AGENT_STATE_H

#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "client.h"
#include "err.h"
#include "keys.h"

#define STATE_HOME_DEFAULT "/var/lib/arca"
#define STATE_CACHE_DEFAULT "/var/cache/arca"

struct state {
	char *home;
	char *service_url, *vault_id, *vault_name, *subscription, *region;
	char *machine_id, *machine_name;
	char *cache;
	char *proxy, *proxy_user, *proxy_pass;
	/* Throttling: bytes a second in and out of work hours (0 = none). */
	uint64_t rate_work, rate_other;
	int work_start, work_end; /* hours, [start, end) */
	char *ca_pem;
	EVP_PKEY *key;
	struct keys *keys;
};

/* Load the agent installed in HOME. ERR_NOT_FOUND (with a message that says
 * to register) when nothing is there. WITH_KEYS also opens master.key. */
int state_load(struct state *s, const char *home, int with_keys, struct err *e);
/* Whether the install folder HOME and its files of secrets are private:
 * HOME owned by this user (or root) and writable by no one else; each of
 * those files that exists a regular file of this user with no access for
 * group or others. 0, or -1 with ERR_DENIED naming the file and the chmod
 * or chown to run (secfile.h). */
int state_check_private(const char *home, struct err *e);

/* Write agent.json from S (the other files are written by their own calls). */
int state_save(const struct state *s, struct err *e);
void state_free(struct state *s);

/* Write LEN bytes to DIR/NAME atomically with MODE, synced to disk. */
int state_write_file(const char *dir, const char *name, const void *p, size_t len, int mode,
		     struct err *e);
/* The same without syncing: for the cache, whose files are only hints (a
 * file lost in a crash is fetched again). */
int state_write_hint(const char *dir, const char *name, const void *p, size_t len, int mode,
		     struct err *e);
/* Read all of PATH (at most MAX bytes) into OUT. */
int state_read_file(const char *path, size_t max, struct buf *out, struct err *e);

/* The agent's clock: time(NULL), shifted by ARCA_TEST_CLOCK_OFFSET seconds
 * in test builds (meson -Dtest_clock=true) so that tests can move the agent
 * and the service through days and years together. */
int64_t state_now(void);

/* The upload rate for this hour by the throttle settings. */
uint64_t state_rate_now(const struct state *s);

/* A client for S's service, signed as S's machine. */
struct client *state_client(const struct state *s, struct err *e);

/* A passphrase change that waits for the guard's approval keeps its new
 * wrapped key in wrapped-pending.key; wrapped.key stays the one the
 * service holds. Once the service holds the pending one (the guard
 * approved), it becomes wrapped.key here too. 1 when it did, 0 when
 * nothing is pending or it still waits, -1 with E set. */
int state_sync_wrapped(const struct state *s, struct client *c, struct err *e);

/* Renew the machine's certificate (machine.pem in S's home) when it ends
 * within STATE_CERT_RENEW_DAYS by the agent's clock, or cannot be read: the
 * service then issues a new one for a year. 1 when renewed, 0 when not due,
 * -1 with E set (the old certificate stays). */
#define STATE_CERT_RENEW_DAYS 30
int state_renew_certificate(const struct state *s, struct err *e);

/* The home folder from "--home DIR" in ARGV, or the default. */
const char *state_home_arg(int argc, char **argv);

#endif
