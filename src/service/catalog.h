/*
 * catalog.h: the service's catalog, everything it knows apart from stored
 * packs: subscriptions, users and their sessions, API tokens, vaults with
 * their certificate authorities, issued vault credentials, machines, the
 * packs and objects they stored, recovery points, leases, jobs, policies,
 * alerts and the audit log.
 *
 * The catalog is a contract with several possible backends: struct
 * catalog_ops below is the table of functions a backend implements, each
 * with its full contract; the rest of arcad calls catalog_xxx(c, ...),
 * which passes the call to C's backend. The backends are SQLite
 * (catalog_sqlite.c: one file, WAL mode, versioned migrations), the
 * default, and PostgreSQL (catalog_pg.c: a database server that several
 * services share).
 *
 * Limits of SPEC section 1 that concern the catalog's own rows (25 vaults
 * per subscription, vault names unique per subscription, 50 machines per
 * vault, 366 points per machine, redundancy locked after the first
 * registration) are enforced by the backend inside the transaction that
 * writes, so that two concurrent requests cannot both pass a check.
 *
 * So is a vault's immutability (docs/RETENTION.md, "Immutable vaults"): in
 * an immutable or locked vault no transaction of the catalog deletes,
 * purges or forgets a recovery point, a machine or a pack before the
 * retain-until time of every point concerned, and a locked vault never
 * becomes mutable again. The check and the change are one transaction, so
 * no caller (a route, an admin command, retention, the collector) can
 * come between them or go around them.
 */
#ifndef ARCA_CATALOG_H
#define ARCA_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "objid.h"

/* catalog_machine_register's refusal of a re-registration that does not
 * prove the machine's master key (the error code is ERR_EXISTS, the message
 * says so). */
#define ERR_KEY_MISMATCH ERR_EXISTS

#define CATALOG_ID_LEN 32 /* ids are 32 lowercase hex digits */
#define CATALOG_VAULTS_MAX 25

struct catalog;

typedef char catalog_id[CATALOG_ID_LEN + 1];

#define CATALOG_ROLE_LEN 24     /* a role's name and its NUL */
#define CATALOG_OWNER "owner"   /* the role of which one enabled user always remains */
#define CATALOG_TOTP_LEN 256    /* a second factor's secret as stored, and its NUL */

/* Who a request acts for: a signed-in user or an API token, always of one
 * subscription. */
struct principal {
	catalog_id subscription;
	catalog_id actor;  /* user id or token id */
	char name[128];    /* user name, or "token:<name>" for the audit log */
	bool is_token;
	char role[CATALOG_ROLE_LEN]; /* the role it acts with: the user's, or the token's */
	catalog_id user_id;          /* the user; for a token its maker ("" for a token
				      * made before roles, taken as an owner's) */
	char maker_role[CATALOG_ROLE_LEN]; /* a token's maker's role now ("owner" for "") */
	bool totp;                   /* the user has a confirmed second factor */
	bool totp_required;          /* the subscription requires one of every user */
	bool disabled;               /* (user_find) the user may not sign in */
};

/* A user of a subscription as the users' list shows it. */
struct user {
	catalog_id id;
	char name[128];
	char role[CATALOG_ROLE_LEN];
	bool disabled;
	bool totp;              /* a confirmed second factor */
	int64_t created;
	int64_t invite_expires; /* an invitation or reset not used yet ends then; 0: none */
};

/* A change to a user (user_change). */
enum user_what {
	USER_ROLE,    /* to ROLE */
	USER_DISABLE, /* may not sign in; its sessions end, its tokens stop working */
	USER_ENABLE,
	USER_REMOVE,  /* gone, with its sessions and the API tokens it made */
	USER_RESET,   /* its password and second factor cleared, its sessions ended,
		       * and a new one-time code (CODE_HASH, until EXPIRES) to set one */
};

struct user_change {
	enum user_what what;
	const char *role;      /* USER_ROLE */
	const char *code_hash; /* USER_RESET */
	int64_t expires;       /* USER_RESET */
	bool may_touch_owner;  /* the actor is an owner: it may change an owner, or make one */
};

/* A step of a user's second factor (totp_set). */
enum totp_what {
	TOTP_PENDING, /* SECRET is offered, waiting for a code to confirm it */
	TOTP_CONFIRM, /* the pending secret becomes the user's; STEP was its first code */
	TOTP_USE,     /* STEP's code was used: later than the last one used, or ERR_DENIED */
	TOTP_CLEAR,   /* no second factor */
};

/* A vault's immutability, in the order it can only rise once locked:
 * mutable (points are deleted as anyone asks), immutable (no point goes
 * before its retain-until time; can be made mutable again), locked
 * (immutable for ever). */
enum immutability {
	IMMUT_MUTABLE = 0,
	IMMUT_IMMUTABLE = 1,
	IMMUT_LOCKED = 2,
};

struct vault {
	catalog_id id;
	catalog_id subscription;
	char name[51];
	char region[65];
	char redundancy[4]; /* "LRS" or "GRS" */
	bool locked;        /* redundancy locked: a machine has registered */
	int machines;
	int64_t created;
	int immutability;   /* enum immutability */
};

#define CATALOG_MACHINES_MAX 50

struct machine {
	catalog_id id;
	catalog_id vault_id;
	char name[65];
	char key_id[33];     /* hex fingerprint of the master key (keys.h) */
	int64_t registered;  /* first registration */
	int64_t renewed;     /* latest registration or certificate */
	int64_t last_seen;
	int64_t deleted;     /* when soft-deleted, 0 when live */
	int64_t cert_expires; /* end of its certificate's validity */
};

/* What a registration brings. */
struct registration {
	const char *vault_id;
	const char *credential_fingerprint; /* must be the vault's latest */
	const char *name;
	const char *public_key_pem;         /* the machine's own key */
	const char *cert_pem;               /* the certificate the vault issues it */
	const uint8_t *wrapped_key;         /* the wrapped master key blob */
	size_t wrapped_len;
	const char *key_id;
	const uint8_t *verifier;            /* KEYS_VERIFIER_LEN bytes, proven by the caller */
	int64_t cert_expires;               /* end of the issued certificate's validity */
	int64_t now;
};

struct api_token {
	catalog_id id;
	char name[65];
	char role[CATALOG_ROLE_LEN];
	char maker[128];   /* its maker's name, "" for none (made before roles, or removed) */
	int64_t created;
	int64_t last_used; /* 0 = never */
};

struct audit_entry {
	int64_t id;
	int64_t time;
	char actor[128];
	char action[64];
	char target[128];
	char detail[256];
};

#define CATALOG_POINTS_MAX 366

struct pack_entry;

#define CATALOG_SOFT_DELETE_DAYS 14
#define CATALOG_PIN_SECONDS 300

struct recovery_point {
	catalog_id id;
	int64_t deleted;  /* when soft-deleted, 0 when live */
	char meta[65];   /* object id of the point's sealed record (root tree and totals) */
	char parent[33]; /* the point this one was made after, or "" */
	int64_t created; /* by the service's clock, at commit */
	int64_t objects; /* objects referenced */
	int64_t bytes;   /* stored bytes of those objects */
	/* The time before which, in an immutable vault, nothing may remove
	 * the point: raised by retention from the policy in force (never
	 * lowered); 0 until retention first evaluated it, which an immutable
	 * vault takes as "kept" (docs/RETENTION.md). */
	int64_t retain_until;
};

/* A pack of a machine, and (filled by the collector) how much of it
 * recovery points still need. */
struct pack_use {
	char id[65];
	catalog_id machine_id, vault_id;
	int64_t size, objects, live_objects, live_bytes;
};

/* A backup's lease (catalog_lease_list). */
struct lease {
	catalog_id id, machine_id;
	int64_t started, expires;
};

struct pack_obj {
	struct objid id;
	int64_t length;
};

struct doomed {
	char pack[65];
	char region[65], pair[65];
};

/* Where an object is stored: its pack, and its sealed bytes' place there. */
struct object_loc {
	char pack[65];
	int kind;
	uint64_t offset;
	uint32_t length;
};

/* The region a GRS vault in REGION copies its packs to, or NULL for none:
 * the service's configuration knows the pairs, not the catalog. */
typedef const char *(*catalog_pair_fn)(void *arg, const char *region);

/* Security PINs (docs/API.md): one is valid CATALOG_PIN_SECONDS for one
 * operation. CATALOG_PIN_ATTEMPTS wrong PINs of an actor within
 * CATALOG_PIN_LOCK_SECONDS of its first void its outstanding PINs and lock
 * it out of PINs for CATALOG_PIN_LOCK_SECONDS. */
#define CATALOG_PIN_ATTEMPTS 5
#define CATALOG_PIN_LOCK_SECONDS 900
#define CATALOG_LIMIT_KEY_MAX 200   /* bytes of a failure limit's key */
#define CATALOG_LIMIT_KEYS 100000   /* failure-limit keys remembered at once */
#define CATALOG_SWEEP_SECONDS 900   /* the collector's time to delete a claimed pack's files */

struct job {
	catalog_id id;
	catalog_id machine_id;
	char machine[65];
	char kind[16];    /* "backup", "restore" or "verify" */
	char status[16];  /* "running", "complete", "partial", "failed" */
	int64_t started, ended;
	int64_t files, bytes_read, bytes_stored;
	char point[33];   /* the recovery point it committed, or "" */
	char *report;     /* JSON text: warnings and what was skipped; caller frees */
};

/* The alert a job's end raises, recorded with it. */
struct job_alert {
	const char *subscription, *kind, *target, *message;
};

struct usage {
	catalog_id machine_id;
	char machine[65];
	int64_t packs, stored_bytes, points;
};

struct alert {
	int64_t id;
	int64_t time;
	char kind[64];
	char target[128];
	char message[256];
};

/*
 * GRS replication (docs/SCALE.md, "GRS"): a GRS vault's pack is stored in
 * its region's store when it is uploaded, and copied to the paired
 * region's store afterwards by the replicator. What is still to copy is a
 * queue in the catalog, one row a pack, written in the transaction that
 * records the pack (pack_add_replica), so that no stored pack is ever
 * recorded without it; a row goes when the copy is done (replica_done) or
 * the pack is doomed (its files go from both regions anyway).
 */
struct replica {
	char pack[65];
	catalog_id vault_id;
	char from[65], to[65]; /* the regions: the vault's, and its pair */
	int64_t size;          /* the pack's bytes */
	int64_t enqueued;      /* when the pack was recorded */
	int64_t attempts;      /* copies that failed */
	int64_t next_try;      /* not taken again before this time */
	char error[256];       /* the last failure's message, "" */
};

/* What a vault's queue holds (replica_lag). */
struct replica_lag {
	int64_t packs, bytes; /* waiting */
	int64_t oldest;       /* when the oldest waiting pack was recorded; 0: none waits */
	char error[256];      /* the most recent failure of a waiting pack, "" */
	int64_t attempts;     /* the most failed tries of a waiting pack */
};

/*
 * Multi-user approval (docs/API.md, "Approvals"). A subscription may name
 * a guard: one of its users with the role security-admin. While it has
 * one, each critical operation is stored as a request (struct approval)
 * that runs only after the guard approves it. The request holds exactly
 * what to run: its operation and ARGS (JSON text the service wrote). The
 * catalog decides each request once: pending becomes approved, refused or
 * expired in one transaction, by the guard of that moment, never by the
 * user (or machine) that asked.
 */
#define CATALOG_APPROVAL_HOURS 24      /* a request's default time to be decided */
#define CATALOG_APPROVAL_HOURS_MAX (30 * 24)
#define CATALOG_APPROVAL_ARGS_MAX 4096 /* bytes of a request's ARGS, its NUL included */
#define CATALOG_APPROVALS_PENDING 100  /* pending requests of a subscription at once */
#define CATALOG_APPROVALS_LIST 200     /* newest requests approval_list answers */

struct approval {
	catalog_id id;
	catalog_id subscription;
	char operation[32];      /* "point.delete", "machine.delete", ... (docs/API.md) */
	char summary[256];       /* what it does, for a person */
	char args[CATALOG_APPROVAL_ARGS_MAX]; /* what to run: JSON text */
	catalog_id requester;    /* the user id, or the machine id, that asked */
	char requested_by[128];  /* its name as the audit log has it */
	int64_t created, expires;
	char state[16];          /* "pending", "approved", "refused" or "expired" */
	char decided_by[128];    /* the guard's name, "" while pending or expired */
	int64_t decided;         /* when, 0 while pending */
	char result[256];        /* after an approval: "done", or why the run failed */
};

/* A subscription's guard and how long its requests wait. */
struct guard {
	catalog_id user_id;      /* "" for none */
	char name[128];
	int hours;               /* a request expires this long after it was made */
};

/*
 * The product's rules (SPEC sections 1, 2 and 7). They live here, above
 * the backends: catalog_open hands arca's (catalog_rules) to the backend it
 * opens, and a backend enforces them with these numbers inside its
 * transactions, the check and the change atomic, never with numbers of
 * its own; so a backend only stores, and keeps its transactions atomic.
 */
struct catalog_rules {
	int vaults_max;       /* vaults a subscription */
	int machines_max;     /* live machines a vault */
	int points_max;       /* live recovery points a machine */
	int soft_delete_days; /* a deleted point or machine stays restorable */
	int pin_seconds;      /* a security PIN is valid */
	int pin_attempts;     /* wrong PINs within pin_lock_seconds that lock an actor out */
	int pin_lock_seconds; /* for this long */
};
extern const struct catalog_rules catalog_rules;

/*
 * ---- The contract ----
 *
 * A backend implements every member of struct catalog_ops (none may be
 * NULL) on its own state, struct catalog_backend, which only it sees.
 * Callers never call a member: they call catalog_<member>(c, ...) below,
 * which passes the same arguments to C's backend. What each member must
 * do is said once, above the member. What holds for every member:
 *
 * Returns. 0 on success, or -1 with E set (E may be NULL); members that
 * answer a count or a yes/no say so. ERR_IO means the backend could not
 * read or write its database (or lost its connection): it is never turned
 * into another code, and no other code may stand for it. ERR_NOT_FOUND,
 * ERR_DENIED and the other refusals are answers, given only after the
 * backend read everything the answer depends on. A member never returns
 * success with part of an answer: a list is whole or the call fails.
 *
 * After an error. Nothing changed: each member that writes does all of
 * its reads and writes in one transaction, its checks included, and rolls
 * it back on any failure. (If the commit itself fails, as when a sync
 * fails after the log was written, the change may or may not have been
 * kept, but never part of it.) Output arguments are unspecified after an
 * error except where said: lists and strings are then NULL (and counts 0),
 * so that freeing them is always right.
 *
 * Ownership. Arguments stay the caller's; a backend copies what it keeps.
 * Lists (*OUT with *N) and strings it returns are the caller's, allocated
 * with malloc: free them with free(), a job list with
 * catalog_job_list_free. An empty list may be NULL with *N 0.
 *
 * Threads and services. Every member is safe to call from several threads
 * at once on one catalog, and each call is atomic: no other call, of this
 * process or of another service on the same database, sees or interleaves
 * with part of it. Limits checked by a member (25 vaults, 50 machines, 366
 * points, single-use PINs and nonces) are checked in the transaction that
 * writes, so two services cannot both pass one. The SQLite backend
 * serialises the calls of one process with one mutex around one
 * connection and takes the database's write lock (BEGIN IMMEDIATE) for
 * every transaction, so other processes wait (up to 10 s) rather than
 * interleave. The PostgreSQL backend runs every writing member in one
 * SERIALIZABLE transaction, run again whole when PostgreSQL aborts it for
 * a race with another service's (SQLSTATE 40001 or 40P01).
 *
 * Another backend is a file of its own that defines
 * struct catalog_backend and a const struct catalog_ops, adds itself to
 * the table of backends in catalog.c with the form of address it claims
 * (say "postgresql://..."), and is done when the conformance suite
 * (tests/unit/test_catalog.c, which runs every backend through the same
 * tests) passes on it; its own SQL-level tests go in a file of their own,
 * as tests/unit/test_catalog_sqlite.c does for SQLite.
 */
struct catalog_backend;

/* What policy_set calls, inside its transaction, in an immutable vault:
 * for the machine's N live points created at CREATED[0..N) (ascending),
 * set UNTIL[i] to the time until which the new policy keeps point i for
 * certain at NOW: NOW or later when it keeps the point now, less than NOW
 * when it would remove it now. 0, or -1 with E set. */
typedef int (*catalog_keep_fn)(void *arg, const int64_t *created, size_t n, int64_t now,
			       int64_t *until, struct err *e);

/* What vault_ca_keys_rewrite calls for each vault's CA key. */
typedef int (*catalog_ca_key_fn)(void *arg, const char *vault_id, const char *key_text,
				 char **replacement, struct err *e);

/*
 * Every row, backend-neutral (arcad migrate): what the members tables,
 * rows_read and rows_write below move between any two backends.
 *
 * A table is listed with its columns as the backend stores them, less the
 * backend's own bookkeeping: its schema version, SQLite's internal tables,
 * and an ordering column that stands for SQLite's rowid (a PostgreSQL
 * column filled from a sequence that is not in the primary key). Rows are
 * read in their insertion order (SQLite's rowid, that ordering column)
 * and written in that order, so an ordering column comes out in the same
 * order in the other backend.
 */
#define CATALOG_NAME_LEN 64 /* a table's or column's name and its NUL */

enum catalog_vtype { CATALOG_VNULL, CATALOG_VINT, CATALOG_VTEXT, CATALOG_VBLOB };

/* One value of a row: NULL, an integer, a text (P: LEN bytes and a NUL)
 * or a blob (P: LEN bytes). P is the caller's, valid during the call. */
struct catalog_value {
	enum catalog_vtype type;
	int64_t i;
	const void *p;
	size_t len;
};

struct catalog_table {
	char name[CATALOG_NAME_LEN];
	char (*cols)[CATALOG_NAME_LEN]; /* sorted by name; freed by catalog_tables_free */
	size_t ncols;
};

/* Called by rows_read with each row, its N values in the order of the
 * table's columns. 0 to go on, -1 with E set to stop (rows_read then
 * fails). */
typedef int (*catalog_row_fn)(void *arg, const struct catalog_value *v, size_t n,
			      struct err *e);

/* Where rows_write's FILL puts rows: PUT writes one row of TABLE, its N
 * values in the order of the table's columns. 0, or -1 with E set. */
struct catalog_sink {
	int (*put)(struct catalog_sink *k, const char *table, const struct catalog_value *v,
		   size_t n, struct err *e);
};

/* What rows_write calls, inside its transaction, to put every row. */
typedef int (*catalog_fill_fn)(void *arg, struct catalog_sink *k, struct err *e);

struct catalog_ops {
	const char *name; /* "sqlite" */

	/* Open (creating if needed) the catalog at WHERE, in the backend's
	 * form of address, and bring its schema up to date; every limit and
	 * period the backend enforces comes from RULES (kept by the caller
	 * while the catalog is open), never from numbers of its own. NULL
	 * with E set:
	 * ERR_IO when it cannot be opened or migrated (a failed migration
	 * leaves the previous version intact), ERR_UNSUPPORTED when its
	 * schema is newer than this arcad knows. */
	struct catalog_backend *(*open)(const char *where, const struct catalog_rules *rules,
					struct err *e);
	/* Release B. B may be NULL. */
	void (*close)(struct catalog_backend *b);

	/* ---- subscriptions, users, sessions, API tokens ---- */

	/* Create subscription NAME at NOW; fills ID with its new id. */
	int (*subscription_create)(struct catalog_backend *b, const char *name, int64_t now,
				   catalog_id id, struct err *e);
	/* The first subscription made (the one `arcad init` creates), into ID;
	 * ERR_NOT_FOUND when there is none. */
	int (*subscription_first)(struct catalog_backend *b, catalog_id id, struct err *e);
	/* Create user NAME of SUBSCRIPTION with PASSWORD_HASH at NOW;
	 * ERR_EXISTS when the name is taken (names are unique across
	 * subscriptions). */
	int (*user_create)(struct catalog_backend *b, const char *subscription, const char *name,
			   const char *password_hash, int64_t now, struct err *e);
	/* The password hash (into HASH of HASHLEN bytes) and principal of user
	 * NAME; ERR_NOT_FOUND if none. */
	int (*user_find)(struct catalog_backend *b, const char *name, char *hash, size_t hashlen,
			 struct principal *p, struct err *e);
	/* Sessions: TOKEN_HASH is the hex SHA-256 of the bearer token. Create
	 * one of USER_ID valid until EXPIRES; delete one (0 also when there
	 * was none). */
	int (*session_create)(struct catalog_backend *b, const char *token_hash, const char *user_id,
			      int64_t expires, struct err *e);
	int (*session_delete)(struct catalog_backend *b, const char *token_hash, struct err *e);
	/* Create API token NAME of P's subscription with TOKEN_HASH at NOW;
	 * fills ID. ERR_EXISTS when the subscription has a token of that name. */
	int (*token_create)(struct catalog_backend *b, const struct principal *p, const char *name,
			    const char *token_hash, int64_t now, catalog_id id, struct err *e);
	/* The API tokens of SUBSCRIPTION, oldest first (*OUT: caller frees). */
	int (*token_list)(struct catalog_backend *b, const char *subscription, struct api_token **out,
			  size_t *n, struct err *e);
	/* Delete token ID of SUBSCRIPTION; ERR_NOT_FOUND if it has none such. */
	int (*token_delete)(struct catalog_backend *b, const char *subscription, const char *id,
			    struct err *e);
	/* Who holds the bearer token whose hash is TOKEN_HASH at NOW: a live
	 * session or an API token (whose last use becomes NOW: a use that
	 * cannot be recorded fails). Fills P; ERR_DENIED if neither. */
	int (*authenticate)(struct catalog_backend *b, const char *token_hash, int64_t now,
			    struct principal *p, struct err *e);

	/* ---- users' roles, invitations and second factors ----
	 *
	 * A user has a role (text the API defines; user_create's users are
	 * CATALOG_OWNER), may be disabled, and may have a one-time code
	 * outstanding (an invitation, or a password reset: the hash of the
	 * code and its end) and a second factor (its secret as the caller
	 * stores it, a pending one while it is confirmed, and the last step
	 * used, -1 for none). A subscription may require a second factor of
	 * every user. user_find fills P's role, disabled, totp and
	 * totp_required too, and gives an empty HASH for a user who has no
	 * password yet. authenticate refuses (ERR_DENIED) sessions and tokens
	 * of a disabled user, and fills role, user_id, maker_role, totp and
	 * totp_required. token_create stores P's role as the token's and
	 * P's user_id as its maker; token_list gives both.
	 *
	 * Every change that would leave SUBSCRIPTION without an enabled owner
	 * (one with a password) is ERR_LOCKED, checked in the transaction
	 * that writes. */

	/* The users of SUBSCRIPTION by name (*OUT: caller frees). */
	int (*user_list)(struct catalog_backend *b, const char *subscription, struct user **out,
			 size_t *n, struct err *e);
	/* Create user NAME of SUBSCRIPTION with ROLE at NOW, without a
	 * password, and the one-time code CODE_HASH valid until EXPIRES that
	 * sets it. ERR_EXISTS when the name is taken. */
	int (*user_invite)(struct catalog_backend *b, const char *subscription, const char *name,
			   const char *role, const char *code_hash, int64_t expires, int64_t now,
			   struct err *e);
	/* Use user NAME's one-time code CODE_HASH at NOW: its password becomes
	 * PASSWORD_HASH and the code is spent. ERR_DENIED (one message) when
	 * the user has no such code, or it expired. */
	int (*user_accept)(struct catalog_backend *b, const char *name, const char *code_hash,
			   const char *password_hash, int64_t now, struct err *e);
	/* Change user NAME of SUBSCRIPTION as CH says. ERR_NOT_FOUND;
	 * ERR_DENIED when the user is an owner, or CH makes one, and
	 * CH->may_touch_owner is false; ERR_LOCKED (above). */
	int (*user_change)(struct catalog_backend *b, const char *subscription, const char *name,
			   const struct user_change *ch, struct err *e);
	/* User USER_ID's second factor: its SECRET and PENDING one (into
	 * buffers of CATALOG_TOTP_LEN; "" for none) and the last step used.
	 * ERR_NOT_FOUND. */
	int (*totp_get)(struct catalog_backend *b, const char *user_id, char *secret, char *pending,
			int64_t *last_step, struct err *e);
	/* Change user USER_ID's second factor as WHAT says (SECRET for
	 * TOTP_PENDING, STEP for TOTP_CONFIRM and TOTP_USE). ERR_NOT_FOUND
	 * for no such user, or TOTP_CONFIRM without a pending secret;
	 * ERR_DENIED for TOTP_USE of a step not after the last one used
	 * (a code used again). */
	int (*totp_set)(struct catalog_backend *b, const char *user_id, enum totp_what what,
			const char *secret, int64_t step, struct err *e);
	/* Whether SUBSCRIPTION requires a second factor of every user. */
	int (*subscription_require_totp)(struct catalog_backend *b, const char *subscription,
					 bool required, struct err *e);

	/* ---- vaults and their credentials ---- */

	/* Create vault V (its id, subscription, name, region, redundancy and
	 * creation time) with its CA's certificate and key. ERR_EXISTS for a
	 * name taken in the subscription, ERR_LIMIT for a 26th vault. */
	int (*vault_create)(struct catalog_backend *b, const struct vault *v, const char *ca_cert_pem,
			    const char *ca_key_pem, struct err *e);
	/* The vaults of SUBSCRIPTION by name (*OUT: caller frees). */
	int (*vault_list)(struct catalog_backend *b, const char *subscription, struct vault **out,
			  size_t *n, struct err *e);
	/* Vault NAME of SUBSCRIPTION into V; ERR_NOT_FOUND. */
	int (*vault_get)(struct catalog_backend *b, const char *subscription, const char *name,
			 struct vault *v, struct err *e);
	/* A vault by id, of any subscription (registration knows only the id);
	 * ERR_NOT_FOUND. */
	int (*vault_by_id)(struct catalog_backend *b, const char *id, struct vault *v, struct err *e);
	/* The vault's CA as PEM text; the caller frees both strings (NULL
	 * after an error). ERR_NOT_FOUND. */
	int (*vault_ca)(struct catalog_backend *b, const char *vault_id, char **cert_pem,
			char **key_pem, struct err *e);
	/* Rewrite the CA keys of every vault, of every subscription, in one
	 * transaction: FN is called with each vault's id and the key text
	 * stored for it, and either sets *REPLACEMENT to the text to store
	 * instead (malloc'd; the backend frees it) or leaves it NULL to keep
	 * the row as it is. When FN fails (-1 with E set) or a write does,
	 * nothing changes. *N counts the rows rewritten. (The service seals
	 * keys stored as plain PEM by an older arcad with this: seal.h.) */
	int (*vault_ca_keys_rewrite)(struct catalog_backend *b, catalog_ca_key_fn fn, void *arg,
				     size_t *n, struct err *e);
	/* Change redundancy; ERR_LOCKED once a machine has registered,
	 * ERR_NOT_FOUND for no such vault. */
	int (*vault_set_redundancy)(struct catalog_backend *b, const char *subscription,
				    const char *name, const char *redundancy, struct err *e);
	/* Delete a vault and its credentials; ERR_LOCKED while machines are
	 * registered (soft-deleted ones included), ERR_NOT_FOUND. */
	int (*vault_delete)(struct catalog_backend *b, const char *subscription, const char *name,
			    struct err *e);
	/* Set vault NAME's immutability to STATE (enum immutability).
	 * ERR_LOCKED, naming the rule, when the vault is locked and STATE is
	 * not IMMUT_LOCKED: a locked vault never becomes mutable, whoever
	 * asks. ERR_INVALID for a STATE out of the enum, ERR_NOT_FOUND. Fills
	 * V with the vault as it was before the change (V may be NULL). */
	int (*vault_set_immutability)(struct catalog_backend *b, const char *subscription,
				      const char *name, int state, struct vault *v,
				      struct err *e);
	/* Record vault credentials just issued for VAULT_ID: from now on they
	 * are the only valid ones of that vault (every earlier record is
	 * superseded). */
	int (*credential_add)(struct catalog_backend *b, const char *vault_id, const char *serial,
			      const char *fingerprint, const char *cert_pem, int64_t issued,
			      int64_t expires, struct err *e);
	/* The fingerprint of the vault's latest credentials and their end;
	 * ERR_NOT_FOUND if none. */
	int (*credential_latest)(struct catalog_backend *b, const char *vault_id,
				 char fingerprint[65], int64_t *expires, struct err *e);

	/* ---- machines ---- */

	/* Register a machine: checks, in one transaction, that the
	 * credentials are the vault's latest (ERR_CREDENTIALS) and the
	 * 50-machine limit (ERR_LIMIT). A new machine keeps R's wrapped key,
	 * key id and verifier. A machine of the same name registers again
	 * only when R's verifier (whose proof the caller checked) and key id
	 * are the ones stored at its first registration, else
	 * ERR_KEY_MISMATCH with M filled; it keeps its id, recovery points,
	 * wrapped key and verifier, and takes R's machine key and
	 * certificate. ERR_LOCKED for a soft-deleted machine. Locks the
	 * vault's redundancy. Fills M; *AGAIN tells that the name was
	 * registered already. */
	int (*machine_register)(struct catalog_backend *b, const struct registration *r,
				struct machine *m, bool *again, struct err *e);
	/* The machines of a vault by name, soft-deleted ones too (*OUT:
	 * caller frees). */
	int (*machine_list)(struct catalog_backend *b, const char *vault_id, struct machine **out,
			    size_t *n, struct err *e);
	/* A live machine by id, with its public key (caller frees; NULL
	 * after an error); ERR_NOT_FOUND. */
	int (*machine_get)(struct catalog_backend *b, const char *id, struct machine *m,
			   char **public_key_pem, struct err *e);
	/* The machine's wrapped master key blob (*BLOB of *LEN bytes: caller
	 * frees; NULL after an error); ERR_NOT_FOUND. */
	int (*machine_wrapped_key)(struct catalog_backend *b, const char *id, uint8_t **blob,
				   size_t *len, struct err *e);
	/* Replace a live machine's wrapped master key (a passphrase change):
	 * the new blob must wrap the same master key (same KEY_ID), else
	 * ERR_INVALID. */
	int (*machine_set_wrapped_key)(struct catalog_backend *b, const char *id,
				       const uint8_t *blob, size_t len, const char *key_id,
				       struct err *e);
	/* Record a renewed machine certificate at NOW, valid until EXPIRES (0
	 * also when the machine is not live: nothing changes). */
	int (*machine_set_cert)(struct catalog_backend *b, const char *id, const char *cert_pem,
				int64_t now, int64_t expires, struct err *e);
	/* Record that the machine was seen at NOW. */
	int (*machine_seen)(struct catalog_backend *b, const char *id, int64_t now, struct err *e);
	/* Soft-delete machine NAME of a vault at NOW: it can no longer sign
	 * in, its data stays restorable for 14 days; or bring it back,
	 * within the 50-machine limit (ERR_LIMIT), checked in the same
	 * transaction. ERR_NOT_FOUND for no such (live, or deleted) machine.
	 * In an immutable vault, deleting a machine with a point retained at
	 * NOW (a live one whose time is 0, or any whose time is after NOW) is
	 * ERR_LOCKED, naming the point and its time (catalog_refuse_retained). */
	int (*machine_delete)(struct catalog_backend *b, const char *vault_id, const char *name,
			      int64_t now, struct err *e);
	int (*machine_undelete)(struct catalog_backend *b, const char *vault_id, const char *name,
				struct err *e);
	/* A machine of a vault by name, live or soft-deleted; ERR_NOT_FOUND. */
	int (*machine_by_name)(struct catalog_backend *b, const char *vault_id, const char *name,
			       struct machine *m, struct err *e);

	/* Spend NONCE for PRINCIPAL (who signed: "machine:<id>",
	 * "register:<vault id>"), remembered until EXPIRES: 0 the first time,
	 * or when it was last used by a row that has expired by NOW; -1 with
	 * ERR_DENIED when PRINCIPAL used it before and that has not expired
	 * (a replay), or with ERR_IO. Durable and shared by every service on
	 * the catalog, and one principal's nonces never displace another's:
	 * the check and the record are one statement on the key (principal,
	 * nonce). Rows expired by NOW may be pruned in the same transaction
	 * (sqlite: at most once a minute, since an expired row is replaced). */
	int (*nonce_use)(struct catalog_backend *b, const char *principal, const char *nonce,
			 int64_t now, int64_t expires, struct err *e);

	/* Failure limits shared by every service on the catalog (the sign-in
	 * and registration limits): KEY (at most CATALOG_LIMIT_KEY_MAX bytes,
	 * its kind first, as "signin-peer:127.0.0.1") may fail BURST times,
	 * and once more every REFILL seconds. limit_wait puts in *WAIT the
	 * seconds until KEY may try again at NOW (0: it may now); limit_fail
	 * records a failure of KEY at NOW, in one transaction with the read
	 * it is based on. At most CATALOG_LIMIT_KEYS keys are remembered:
	 * past that, those nearest to having refilled are forgotten first, so
	 * that keys an attacker invents cannot grow the catalog. */
	int (*limit_wait)(struct catalog_backend *b, const char *key, int burst, int refill,
			  int64_t now, int *wait, struct err *e);
	int (*limit_fail)(struct catalog_backend *b, const char *key, int burst, int refill,
			  int64_t now, struct err *e);

	/* ---- packs, objects, recovery points ---- */

	/* Record a stored pack of MACHINE and the objects its table lists (an
	 * object already known for the machine keeps its first place), and,
	 * in the same transaction, cancel a pending deletion of its file (its
	 * `doomed` row): a pack sent again while it waited for deletion lives
	 * again. */
	int (*pack_add)(struct catalog_backend *b, const char *machine_id, const char *pack_id,
			uint64_t size, const struct pack_entry *ents, size_t n, int64_t now,
			struct err *e);
	/* The machine that uploaded pack ID, while the pack is listed;
	 * ERR_NOT_FOUND if it is not, ERR_IO if the catalog could not tell. */
	int (*pack_owner)(struct catalog_backend *b, const char *pack_id, catalog_id machine_id,
			  struct err *e);
	/* The machine that may read pack ID: its owner while it is listed,
	 * and also while it is doomed (dropped or rewritten by the collector)
	 * until its file is deleted, so that a restore that located an object
	 * there before the collector moved it still reads it. ERR_NOT_FOUND,
	 * or ERR_IO. */
	int (*pack_reader)(struct catalog_backend *b, const char *pack_id, catalog_id machine_id,
			   struct err *e);
	/* Of the N hex object ids IDS, mark in MISSING[i] those the machine
	 * has not stored. On an error MISSING is unspecified: never "stored"
	 * from a read that failed. */
	int (*objects_missing)(struct catalog_backend *b, const char *machine_id,
			       const char *const *ids, size_t n, bool *missing, struct err *e);
	/* Of the N hex object ids IDS, the place of each one MACHINE stored,
	 * in LOC[i] with FOUND[i] true; FOUND[i] false for the others. */
	int (*objects_locate)(struct catalog_backend *b, const char *machine_id,
			      const char *const *ids, size_t n, struct object_loc *loc, bool *found,
			      struct err *e);
	/* Commit a recovery point referencing the N objects IDS (all stored by
	 * the machine, else ERR_NOT_FOUND naming how many are missing; ids
	 * not of 64 hex digits are ERR_INVALID), at most CATALOG_POINTS_MAX
	 * live points (ERR_LIMIT). The time is NOW, the service's. Fills RP
	 * (zeroed after an error). */
	int (*point_commit)(struct catalog_backend *b, const char *machine_id, const char *meta,
			    const char *parent, const char *const *ids, size_t n, int64_t now,
			    struct recovery_point *rp, struct err *e);
	/* One live point of the machine, or ERR_NOT_FOUND. */
	int (*point_get)(struct catalog_backend *b, const char *machine_id, const char *point_id,
			 struct recovery_point *rp, struct err *e);
	/* The machine's points, oldest first: live ones only, or (ALL) with
	 * the soft-deleted ones too (*OUT: caller frees). */
	int (*point_list)(struct catalog_backend *b, const char *machine_id, bool all,
			  struct recovery_point **out, size_t *n, struct err *e);
	/* Soft-delete a live point at NOW, or bring a soft-deleted one back
	 * (ERR_LIMIT if that would make 367 live points). ERR_NOT_FOUND
	 * otherwise. In an immutable vault a point whose retain-until time is
	 * 0 or after NOW is not deleted: ERR_LOCKED (catalog_refuse_retained),
	 * whoever asks, retention included. */
	int (*point_delete)(struct catalog_backend *b, const char *machine_id, const char *point_id,
			    int64_t now, struct err *e);
	int (*point_undelete)(struct catalog_backend *b, const char *machine_id,
			      const char *point_id, struct err *e);
	/* Raise the retain-until time of the machine's points IDS[0..N) to
	 * UNTIL[i] where it is lower (never lowers one; an id the machine
	 * lacks is skipped: retention read the list a moment before). */
	int (*point_retain)(struct catalog_backend *b, const char *machine_id,
			    const char *const *ids, const int64_t *until, size_t n,
			    struct err *e);
	/* Purge what was soft-deleted before NOW - 14 days, in one
	 * transaction: points (their objects are then for the space collector
	 * to free), and machines with everything of theirs; a purged
	 * machine's pack files are doomed (doomed_due) after AFTER, in its
	 * vault's region's store and, for a GRS vault, in PAIR_OF(ARG,
	 * region)'s. *POINTS and *MACHINES count what went (0 after an
	 * error). In an immutable vault a point whose retain-until time is
	 * after NOW stays (soft-deleted, restorable), and so does a deleted
	 * machine that has one: they are purged by a later call, once their
	 * time has passed. (A time of 0 holds no purge: that point or machine
	 * was deleted while the vault was mutable, before retention evaluated
	 * it.) */
	int (*purge)(struct catalog_backend *b, int64_t now, int64_t after, catalog_pair_fn pair_of,
		     void *arg, int64_t *points, int64_t *machines, struct err *e);

	/* ---- backup leases ---- */

	/* Begin a backup: a lease on the machine's objects, so that
	 * collecting space leaves them alone until the backup commits or the
	 * lease expires at EXPIRES (no lock: a crashed client's lease just
	 * ends). Leases expired at NOW are deleted on the way. Fills ID. */
	int (*lease_begin)(struct catalog_backend *b, const char *machine_id, int64_t now,
			   int64_t expires, catalog_id id, struct err *e);
	/* Renew MACHINE's lease ID, still valid at NOW, to end at EXPIRES
	 * (never earlier than it ended already); *UNTIL gets its new end.
	 * ERR_NOT_FOUND for an unknown lease or another machine's (which is
	 * not told apart, nor changed), ERR_LOCKED for one that expired by
	 * NOW (it is not revived: the collector may have run since, so what
	 * the backup relied on may be gone). */
	int (*lease_renew)(struct catalog_backend *b, const char *machine_id, const char *id,
			   int64_t now, int64_t expires, int64_t *until, struct err *e);
	/* End MACHINE's lease ID (at commit, or when its backup fails),
	 * expired or not. ERR_NOT_FOUND for another machine's, an unknown or
	 * an ended one. */
	int (*lease_end)(struct catalog_backend *b, const char *machine_id, const char *id,
			 struct err *e);
	/* Every lease, expired or not, oldest first (*OUT: caller frees):
	 * what an operator sees with `arcad lease list`. */
	int (*lease_list)(struct catalog_backend *b, struct lease **out, size_t *n, struct err *e);

	/* ---- space collection (gc.c) ---- */

	/* Every pack of the machines of vault VAULT_ID (NULL: of all
	 * vaults), by machine (*OUT: caller frees; the live_ fields 0). */
	int (*pack_usage)(struct catalog_backend *b, const char *vault_id, struct pack_use **out,
			  size_t *n, struct err *e);
	/* Forget pack PACK, whose file an operator found lost or damaged:
	 * its object records and its row go, in one transaction, so that the
	 * service answers its objects missing and the next backup of its
	 * machine that still has their source uploads them again (SPEC
	 * section 7, rule 6); its files are doomed after AFTER in its vault's
	 * region and, for GRS, PAIR_OF(ARG, region)'s. Points that reference
	 * its objects keep their references (the collector keeps none of
	 * their objects alive that are not stored). ERR_NOT_FOUND for a pack
	 * the catalog does not list. In an immutable vault, ERR_LOCKED when a
	 * point of the pack's machine is retained at AFTER, when its file
	 * would go (as machine_delete: catalog_refuse_retained). */
	int (*pack_forget)(struct catalog_backend *b, const char *pack, int64_t after,
			   catalog_pair_fn pair_of, void *arg, struct err *e);
	/* The objects MACHINE's recovery points reference (live or
	 * soft-deleted: a soft-deleted point can come back), as of a mark:
	 * *IDS sorted and unique (caller frees), and *MARK, which gc_drop and
	 * gc_move take to re-check against the points committed since. Never
	 * part of the references: the collector would drop what they name. */
	int (*refs_mark)(struct catalog_backend *b, const char *machine_id, struct objid **ids,
			 size_t *n, int64_t *mark, struct err *e);
	/* The objects whose recorded place is PACK of MACHINE, sorted by id
	 * (*OUT: caller frees). */
	int (*pack_objects)(struct catalog_backend *b, const char *machine_id, const char *pack,
			    struct pack_obj **out, size_t *n, struct err *e);
	/* The objects point POINT_ID of MACHINE references (live or
	 * soft-deleted), sorted and unique (*IDS: caller frees): what
	 * `arcad verify` checks a point by. ERR_NOT_FOUND when the catalog
	 * holds no references for it (every committed point has some: its
	 * record at least), so a lost list is never an empty one. */
	int (*point_refs)(struct catalog_backend *b, const char *machine_id, const char *point_id,
			  struct objid **ids, size_t *n, struct err *e);
	/* Drop PACK of MACHINE, none of whose objects was live at MARK: its
	 * object rows and its row, and record its file as doomed (deleted
	 * from REGION's store and PAIR's, if any, after AFTER; MACHINE may
	 * read it until then: pack_reader), in one transaction. ERR_LOCKED,
	 * changing nothing, while the machine holds a lease at NOW (a backup
	 * in progress may rely on any of its objects) or when a point
	 * committed since MARK references one of them. */
	int (*gc_drop)(struct catalog_backend *b, const char *machine_id, const char *pack,
		       int64_t mark, const char *region, const char *pair, int64_t now,
		       int64_t after, struct err *e);
	/* Record that NEW, of MACHINE, is being written (doomed after AFTER
	 * unless a move completes): a crash leaves no orphan file behind for
	 * long. */
	int (*gc_doom)(struct catalog_backend *b, const char *machine_id, const char *pack,
		       const char *region, const char *pair, int64_t after, struct err *e);
	/* Move the live objects of OLD into NEW (stored already, of NEW_SIZE
	 * bytes, holding ENTS): in one transaction, add NEW, repoint the
	 * objects, drop OLD's other rows and OLD, doom OLD's file (readable
	 * by MACHINE until it goes, as with gc_drop) and undoom NEW's.
	 * ERR_LOCKED, changing nothing, under a lease or when a point
	 * committed since MARK references an object left out. */
	int (*gc_move)(struct catalog_backend *b, const char *machine_id, const char *old_pack,
		       const char *new_pack, uint64_t new_size, const struct pack_entry *ents,
		       size_t n, int64_t mark, const char *region, const char *pair, int64_t now,
		       int64_t after, struct err *e);
	/* Doomed pack files due at NOW (*OUT: caller frees); and forget one
	 * once its files are gone (0 also when it was not doomed). */
	int (*doomed_due)(struct catalog_backend *b, int64_t now, struct doomed **out, size_t *n,
			  struct err *e);
	int (*doomed_done)(struct catalog_backend *b, const char *pack, struct err *e);
	/* Whether the files of doomed PACK may be deleted at NOW: 1 when it
	 * is still doomed, no pack row lists it and no upload holds it
	 * (pack_hold); it is then marked as being swept until NOW +
	 * CATALOG_SWEEP_SECONDS, and pack_hold refuses it meanwhile. 0 when it
	 * is listed (a machine sent it again: its doom is dropped, in the same
	 * transaction), held, or no longer doomed; -1 on error. The caller
	 * deletes the files only on 1, within CATALOG_SWEEP_SECONDS, and then
	 * calls doomed_done. Every service on the catalog sees the same marks:
	 * an upload at one service and the collector at another cannot both
	 * act on a pack's files. */
	int (*doomed_claim)(struct catalog_backend *b, const char *pack, int64_t now, struct err *e);
	/* Before an upload stores PACK's files: HOLDER (the upload's own id)
	 * holds PACK until UNTIL, so that the collector leaves its files alone
	 * until pack_unhold (or UNTIL, when the upload died). ERR_LOCKED while
	 * the collector is deleting PACK's files at NOW (doomed_claim): the
	 * upload waits and asks again. */
	int (*pack_hold)(struct catalog_backend *b, const char *pack, const char *holder, int64_t now,
			 int64_t until, struct err *e);
	int (*pack_unhold)(struct catalog_backend *b, const char *pack, const char *holder,
			   struct err *e);
	/* Take (or keep) the duty NAME (as "collector") for HOLDER until
	 * UNTIL: 1 when HOLDER holds it now (no one did, the last holder's
	 * time ran out at NOW, or HOLDER held it already), 0 when another
	 * holder does; -1 on error. One service at a time does a duty. */
	int (*duty_take)(struct catalog_backend *b, const char *name, const char *holder, int64_t now,
			 int64_t until, struct err *e);

	/* ---- GRS replication queue (struct replica) ---- */

	/* pack_add, and in the same transaction the queue row of R (pack,
	 * vault, from, to and size as R says; enqueued and next try NOW, no
	 * attempt, no error). A row of the pack already queued stays as it is. */
	int (*pack_add_replica)(struct catalog_backend *b, const char *machine_id,
				const char *pack_id, uint64_t size, const struct pack_entry *ents,
				size_t n, int64_t now, const struct replica *r, struct err *e);
	/* The queued rows of vault VAULT_ID (NULL: of every vault) whose next
	 * try is at or before NOW, oldest enqueued first, at most LIMIT (0: no
	 * limit) (*OUT: caller frees). */
	int (*replica_list)(struct catalog_backend *b, const char *vault_id, int64_t now, int limit,
			    struct replica **out, size_t *n, struct err *e);
	/* PACK's copy is done: its row goes (0 also when there was none). */
	int (*replica_done)(struct catalog_backend *b, const char *pack, struct err *e);
	/* PACK's copy failed with ERROR: one more attempt, not taken again
	 * before NEXT_TRY. ERR_NOT_FOUND when no row of PACK is queued. */
	int (*replica_fail)(struct catalog_backend *b, const char *pack, int64_t next_try,
			    const char *error, struct err *e);
	/* What vault VAULT_ID's queue holds, in *LAG. */
	int (*replica_lag)(struct catalog_backend *b, const char *vault_id, struct replica_lag *lag,
			   struct err *e);

	/* ---- security PINs (docs/API.md) ---- */

	/* Store the hash of a new PIN of user USER_ID of SUBSCRIPTION valid
	 * until EXPIRES. ERR_LOCKED while the user is locked out at NOW. */
	int (*pin_create)(struct catalog_backend *b, const char *subscription, const char *user_id,
			  const char *pin_hash, int64_t now, int64_t expires, struct err *e);
	/* Use (consume, atomically) a PIN of SUBSCRIPTION with hash PIN_HASH
	 * that user USER_ID generated, or with USER_ID NULL any user of the
	 * subscription (the agent's passphrase change). ACTOR (the user id,
	 * or "machine:<id>") is whose failures count; with USER_ID NULL the
	 * last allowed failure voids all the subscription's outstanding PINs,
	 * else the user's. 0; -1 with ERR_DENIED when no such PIN is valid
	 * (the failure is counted and kept), ERR_LOCKED while ACTOR is locked
	 * out, ERR_IO on a database error (nothing counted). */
	int (*pin_use)(struct catalog_backend *b, const char *subscription, const char *user_id,
		       const char *actor, const char *pin_hash, int64_t now, struct err *e);

	/* ---- jobs, policies, alerts, audit ---- */

	/* Start a job of KIND of the machine at NOW; fills J (its id, kind,
	 * status "running", start). */
	int (*job_start)(struct catalog_backend *b, const char *machine_id, const char *kind,
			 int64_t now, struct job *j, struct err *e);
	/* End a running job of the machine with J's status, figures, point
	 * and report and, when ALERT is not NULL, raise that alert, in one
	 * transaction: the alert exists exactly when the end was recorded.
	 * ERR_NOT_FOUND for another machine's or an ended job. */
	int (*job_end)(struct catalog_backend *b, const char *machine_id, const struct job *j,
		       int64_t now, const struct job_alert *alert, struct err *e);
	/* The kind of the machine's job ID ("backup", "restore" or "verify")
	 * into KIND. ERR_NOT_FOUND for another machine's or an unknown job,
	 * or ERR_IO. */
	int (*job_kind)(struct catalog_backend *b, const char *machine_id, const char *job_id,
			char kind[16], struct err *e);
	/* The newest LIMIT jobs of a vault's machines, reports included
	 * (*OUT: caller frees with catalog_job_list_free). */
	int (*job_list)(struct catalog_backend *b, const char *vault_id, int limit, struct job **out,
			size_t *n, struct err *e);
	/* Stored bytes, packs and live recovery points per machine of a vault
	 * (*OUT: caller frees). */
	int (*usage)(struct catalog_backend *b, const char *vault_id, struct usage **out, size_t *n,
		     struct err *e);
	/* A machine's backup policy as JSON text (validated by the API;
	 * caller frees, NULL after an error), or ERR_NOT_FOUND. */
	int (*policy_get)(struct catalog_backend *b, const char *machine_id, char **json,
			  struct err *e);
	/* For the check of missed backups: when MACHINE's policy was last set
	 * (0 when it has none; -1 on failure), whether it started a backup
	 * job at or after SINCE, and whether an alert of KIND for TARGET was
	 * raised at or after SINCE (each 1, 0, or -1 on failure). */
	int64_t (*policy_updated)(struct catalog_backend *b, const char *machine_id, struct err *e);
	int (*job_since)(struct catalog_backend *b, const char *machine_id, int64_t since,
			 struct err *e);
	int (*alert_since)(struct catalog_backend *b, const char *subscription, const char *kind,
			   const char *target, int64_t since, struct err *e);
	/* The ids of the live machines that have a policy (*IDS: caller
	 * frees). */
	int (*policy_machines)(struct catalog_backend *b, catalog_id **ids, size_t *n,
			       struct err *e);
	/* Set MACHINE's policy to JSON at NOW, in one transaction, provided
	 * its stored policy is still PREV (NULL: it has none), else
	 * ERR_LOCKED: the caller's checks were made against PREV. With ALERT
	 * (an alert of the same shape as a job's) not NULL, raise it in that
	 * transaction: the alert exists exactly when the policy was stored.
	 * In an immutable vault, KEEP(KEEP_ARG, ...) tells, in the same
	 * transaction, until when the new policy keeps each live point; a
	 * point it would keep for less than its retain-until time (or, at 0,
	 * would remove now) refuses the change with ERR_LOCKED naming the point,
	 * its time and the rule; a NULL KEEP there is ERR_LOCKED too. In a
	 * mutable vault KEEP is not called (it may be NULL). */
	int (*policy_set)(struct catalog_backend *b, const char *machine_id, const char *prev,
			  const char *json, int64_t now, const struct job_alert *alert,
			  catalog_keep_fn keep, void *keep_arg, struct err *e);
	/*
	 * Multi-user approval. guard_get: SUBSCRIPTION's guard into *G
	 * (user_id "" for none). guard_set: name the user GUARD_NAME (of the
	 * subscription, enabled, role security-admin; else ERR_INVALID)
	 * the guard, only while the subscription has none (else ERR_LOCKED:
	 * changing or removing a guard is a request the guard approves); a
	 * NULL GUARD_NAME names nobody; HOURS > 0 sets how long requests
	 * wait (1..CATALOG_APPROVAL_HOURS_MAX, else ERR_INVALID), 0 keeps it.
	 * REPLACE (the host's admin commands only, never a route): name
	 * GUARD_NAME, or nobody for NULL, whoever is the guard now.
	 * While a user is the guard, user_change refuses (ERR_LOCKED) every
	 * change of that user: a reset, a role or a removal would hand the
	 * guard's powers to whoever makes it.
	 */
	int (*guard_get)(struct catalog_backend *b, const char *subscription, struct guard *g,
			 struct err *e);
	int (*guard_set)(struct catalog_backend *b, const char *subscription, const char *guard_name,
			 int hours, bool replace, struct err *e);
	/* Store A (its id, subscription, operation, summary, args, requester,
	 * requested_by, created and expires filled by the caller) as a
	 * pending request. ERR_LOCKED when the subscription has no guard;
	 * ERR_LIMIT past CATALOG_APPROVALS_PENDING pending requests. */
	int (*approval_create)(struct catalog_backend *b, const struct approval *a, struct err *e);
	/* The newest CATALOG_APPROVALS_LIST requests of SUBSCRIPTION, newest
	 * first (*OUT: caller frees); a pending one past its expiry at NOW is
	 * shown "expired". REQUESTER non-NULL: only the requests it made. */
	int (*approval_list)(struct catalog_backend *b, const char *subscription,
			     const char *requester, int64_t now, struct approval **out, size_t *n,
			     struct err *e);
	/* Decide request ID of SUBSCRIPTION as the user GUARD_ID at NOW:
	 * APPROVE or refuse it. In one transaction: ERR_NOT_FOUND for no such
	 * request; ERR_DENIED when GUARD_ID is not the subscription's guard
	 * now, or is the request's requester; ERR_LOCKED when it is not
	 * pending (decided already: one approval runs a request once). A
	 * pending request past its expiry becomes "expired" and the call
	 * succeeds with A->state "expired" (nothing else changes): the
	 * caller records the expiry and refuses. Else the request becomes
	 * "approved" or "refused" with GUARD_NAME and NOW; an approved
	 * "guard.change" also sets the guard (ARGS {"guard": user id or ""})
	 * in the same transaction, the new one checked as guard_set does.
	 * Fills *A with the request after the change. */
	int (*approval_decide)(struct catalog_backend *b, const char *subscription, const char *id,
			       const char *guard_id, const char *guard_name, bool approve,
			       int64_t now, struct approval *a, struct err *e);
	/* Record RESULT ("done", or why it failed) of approved request ID. */
	int (*approval_result)(struct catalog_backend *b, const char *id, const char *result,
			       struct err *e);
	/* Raise an alert for a subscription at NOW; list the newest LIMIT
	 * (*OUT: caller frees). */
	int (*alert)(struct catalog_backend *b, const char *subscription, int64_t now,
		     const char *kind, const char *target, const char *message, struct err *e);
	int (*alert_list)(struct catalog_backend *b, const char *subscription, int limit,
			  struct alert **out, size_t *n, struct err *e);
	/* The audit log of a subscription: add one entry (DETAIL may be
	 * NULL), or list the newest LIMIT (*OUT: caller frees). A caller that
	 * must not act unaudited checks the result. */
	int (*audit)(struct catalog_backend *b, const char *subscription, int64_t now,
		     const char *actor, const char *action, const char *target, const char *detail,
		     struct err *e);
	int (*audit_list)(struct catalog_backend *b, const char *subscription, int limit,
			  struct audit_entry **out, size_t *n, struct err *e);

	/* ---- every row, for moving a catalog to another backend ---- */

	/* Every table of the catalog (as said above struct catalog_value),
	 * each table after the tables its foreign keys reference (ERR_CORRUPT
	 * for a cycle); caller frees with catalog_tables_free. */
	int (*tables)(struct catalog_backend *b, struct catalog_table **out, size_t *n,
		      struct err *e);
	/* Every row of TABLE (one that tables lists; ERR_NOT_FOUND for
	 * another name) to FN, in insertion order, from one snapshot, memory
	 * bounded whatever the number of rows. */
	int (*rows_read)(struct catalog_backend *b, const char *table, catalog_row_fn fn, void *arg,
			 struct err *e);
	/* In one transaction: refuse (ERR_EXISTS, naming the table) unless
	 * every table is empty; call FILL, which puts rows through the sink
	 * it is given, values typed as rows_read gives them, table after
	 * table in the order tables lists them (a row may be checked against
	 * its foreign keys when it is put); then set every counter (SQLite's
	 * AUTOINCREMENT, PostgreSQL's sequences) past the largest value
	 * written; commit. Any failure (FILL's too) changes nothing. */
	int (*rows_write)(struct catalog_backend *b, catalog_fill_fn fill, void *arg, struct err *e);
};

/* The backends this arcad has. */
extern const struct catalog_ops catalog_sqlite_ops;
extern const struct catalog_ops catalog_pg_ops; /* catalog_pg.c */

/* ---- For callers ---- */

/* Open the catalog at WHERE with the backend that claims it: an address
 * postgresql://... or postgres://... is a PostgreSQL database (the backend
 * "postgresql", a libpq URI); any other WHERE is the path of an SQLite
 * file (the backend "sqlite"). NULL with E set (see catalog_ops.open). */
struct catalog *catalog_open(const char *where, struct err *e);

/* A catalog on backend OPS whose state B was opened already (a backend's
 * own entry points, and tests, use it). Takes B, and closes it on
 * failure. NULL with E set (ERR_NOMEM). */
struct catalog *catalog_of(const struct catalog_ops *ops, struct catalog_backend *b,
			   struct err *e);

/* Close C. C may be NULL. */
void catalog_close(struct catalog *c);

/* The name of C's backend ("sqlite" or "postgresql"). */
const char *catalog_backend_name(const struct catalog *c);

/* A new random id (32 hex digits). */
void catalog_new_id(catalog_id out);

/* "mutable", "immutable" or "locked" for enum immutability STATE ("?"
 * for another value). */
const char *catalog_immutability_name(int state);

/* The enum immutability named NAME, or -1 with ERR_INVALID saying the
 * three names. */
int catalog_immutability_parse(const char *name, struct err *e);

/* The one refusal of every backend for a point an immutable vault still
 * retains: ERR_LOCKED naming VAULT, POINT, its retain-until time UNTIL (0:
 * not evaluated yet) and when it can go. Returns -1. */
int catalog_refuse_retained(struct err *e, const char *vault, const char *point, int64_t until);

/* Free a job list and the reports in it. J may be NULL. */
void catalog_job_list_free(struct job *j, size_t n);

/*
 * Each of these calls the member of the same name of C's backend with the
 * same arguments, and returns what it returns: the contract is the
 * member's, above.
 */
int catalog_subscription_create(struct catalog *c, const char *name, int64_t now, catalog_id id,
				struct err *e);
int catalog_subscription_first(struct catalog *c, catalog_id id, struct err *e);
int catalog_user_create(struct catalog *c, const char *subscription, const char *name,
			const char *password_hash, int64_t now, struct err *e);
int catalog_user_find(struct catalog *c, const char *name, char *hash, size_t hashlen,
		      struct principal *p, struct err *e);
int catalog_session_create(struct catalog *c, const char *token_hash, const char *user_id,
			   int64_t expires, struct err *e);
int catalog_session_delete(struct catalog *c, const char *token_hash, struct err *e);
int catalog_token_create(struct catalog *c, const struct principal *p, const char *name,
			 const char *token_hash, int64_t now, catalog_id id, struct err *e);
int catalog_token_list(struct catalog *c, const char *subscription, struct api_token **out,
		       size_t *n, struct err *e);
int catalog_token_delete(struct catalog *c, const char *subscription, const char *id,
			 struct err *e);
int catalog_authenticate(struct catalog *c, const char *token_hash, int64_t now,
			 struct principal *p, struct err *e);
int catalog_user_list(struct catalog *c, const char *subscription, struct user **out, size_t *n,
		      struct err *e);
int catalog_user_invite(struct catalog *c, const char *subscription, const char *name,
			const char *role, const char *code_hash, int64_t expires, int64_t now,
			struct err *e);
int catalog_user_accept(struct catalog *c, const char *name, const char *code_hash,
			const char *password_hash, int64_t now, struct err *e);
int catalog_user_change(struct catalog *c, const char *subscription, const char *name,
			const struct user_change *ch, struct err *e);
int catalog_totp_get(struct catalog *c, const char *user_id, char *secret, char *pending,
		     int64_t *last_step, struct err *e);
int catalog_totp_set(struct catalog *c, const char *user_id, enum totp_what what,
		     const char *secret, int64_t step, struct err *e);
int catalog_subscription_require_totp(struct catalog *c, const char *subscription, bool required,
				      struct err *e);
int catalog_vault_create(struct catalog *c, const struct vault *v, const char *ca_cert_pem,
			 const char *ca_key_pem, struct err *e);
int catalog_vault_list(struct catalog *c, const char *subscription, struct vault **out, size_t *n,
		       struct err *e);
int catalog_vault_get(struct catalog *c, const char *subscription, const char *name,
		      struct vault *v, struct err *e);
int catalog_vault_by_id(struct catalog *c, const char *id, struct vault *v, struct err *e);
int catalog_vault_ca(struct catalog *c, const char *vault_id, char **cert_pem, char **key_pem,
		     struct err *e);
int catalog_vault_ca_keys_rewrite(struct catalog *c, catalog_ca_key_fn fn, void *arg, size_t *n,
				  struct err *e);
int catalog_vault_set_redundancy(struct catalog *c, const char *subscription, const char *name,
				 const char *redundancy, struct err *e);
int catalog_vault_delete(struct catalog *c, const char *subscription, const char *name,
			 struct err *e);
int catalog_vault_set_immutability(struct catalog *c, const char *subscription, const char *name,
				   int state, struct vault *v, struct err *e);
int catalog_credential_add(struct catalog *c, const char *vault_id, const char *serial,
			   const char *fingerprint, const char *cert_pem, int64_t issued,
			   int64_t expires, struct err *e);
int catalog_credential_latest(struct catalog *c, const char *vault_id, char fingerprint[65],
			      int64_t *expires, struct err *e);
int catalog_machine_register(struct catalog *c, const struct registration *r, struct machine *m,
			     bool *again, struct err *e);
int catalog_machine_list(struct catalog *c, const char *vault_id, struct machine **out, size_t *n,
			 struct err *e);
int catalog_machine_get(struct catalog *c, const char *id, struct machine *m, char **public_key_pem,
			struct err *e);
int catalog_machine_wrapped_key(struct catalog *c, const char *id, uint8_t **blob, size_t *len,
				struct err *e);
int catalog_machine_set_wrapped_key(struct catalog *c, const char *id, const uint8_t *blob,
				    size_t len, const char *key_id, struct err *e);
int catalog_machine_set_cert(struct catalog *c, const char *id, const char *cert_pem, int64_t now,
			     int64_t expires, struct err *e);
int catalog_machine_seen(struct catalog *c, const char *id, int64_t now, struct err *e);
int catalog_machine_delete(struct catalog *c, const char *vault_id, const char *name, int64_t now,
			   struct err *e);
int catalog_machine_undelete(struct catalog *c, const char *vault_id, const char *name,
			     struct err *e);
int catalog_machine_by_name(struct catalog *c, const char *vault_id, const char *name,
			    struct machine *m, struct err *e);
int catalog_nonce_use(struct catalog *c, const char *principal, const char *nonce, int64_t now,
		      int64_t expires, struct err *e);
int catalog_limit_wait(struct catalog *c, const char *key, int burst, int refill, int64_t now,
		       int *wait, struct err *e);
int catalog_limit_fail(struct catalog *c, const char *key, int burst, int refill, int64_t now,
		       struct err *e);
int catalog_pack_add(struct catalog *c, const char *machine_id, const char *pack_id, uint64_t size,
		     const struct pack_entry *ents, size_t n, int64_t now, struct err *e);
int catalog_pack_owner(struct catalog *c, const char *pack_id, catalog_id machine_id,
		       struct err *e);
int catalog_pack_reader(struct catalog *c, const char *pack_id, catalog_id machine_id,
			struct err *e);
int catalog_objects_missing(struct catalog *c, const char *machine_id, const char *const *ids,
			    size_t n, bool *missing, struct err *e);
int catalog_objects_locate(struct catalog *c, const char *machine_id, const char *const *ids,
			   size_t n, struct object_loc *loc, bool *found, struct err *e);
int catalog_point_commit(struct catalog *c, const char *machine_id, const char *meta,
			 const char *parent, const char *const *ids, size_t n, int64_t now,
			 struct recovery_point *rp, struct err *e);
int catalog_point_get(struct catalog *c, const char *machine_id, const char *point_id,
		      struct recovery_point *rp, struct err *e);
int catalog_point_list(struct catalog *c, const char *machine_id, bool all,
		       struct recovery_point **out, size_t *n, struct err *e);
int catalog_point_delete(struct catalog *c, const char *machine_id, const char *point_id,
			 int64_t now, struct err *e);
int catalog_point_undelete(struct catalog *c, const char *machine_id, const char *point_id,
			   struct err *e);
int catalog_point_retain(struct catalog *c, const char *machine_id, const char *const *ids,
			 const int64_t *until, size_t n, struct err *e);
int catalog_purge(struct catalog *c, int64_t now, int64_t after, catalog_pair_fn pair_of, void *arg,
		  int64_t *points, int64_t *machines, struct err *e);
int catalog_lease_begin(struct catalog *c, const char *machine_id, int64_t now, int64_t expires,
			catalog_id id, struct err *e);
int catalog_lease_renew(struct catalog *c, const char *machine_id, const char *id, int64_t now,
			int64_t expires, int64_t *until, struct err *e);
int catalog_lease_end(struct catalog *c, const char *machine_id, const char *id, struct err *e);
int catalog_lease_list(struct catalog *c, struct lease **out, size_t *n, struct err *e);
int catalog_pack_forget(struct catalog *c, const char *pack, int64_t after, catalog_pair_fn pair_of,
			void *arg, struct err *e);
int catalog_pack_usage(struct catalog *c, const char *vault_id, struct pack_use **out, size_t *n,
		       struct err *e);
int catalog_refs_mark(struct catalog *c, const char *machine_id, struct objid **ids, size_t *n,
		      int64_t *mark, struct err *e);
int catalog_pack_objects(struct catalog *c, const char *machine_id, const char *pack,
			 struct pack_obj **out, size_t *n, struct err *e);
int catalog_point_refs(struct catalog *c, const char *machine_id, const char *point_id,
		       struct objid **ids, size_t *n, struct err *e);
int catalog_gc_drop(struct catalog *c, const char *machine_id, const char *pack, int64_t mark,
		    const char *region, const char *pair, int64_t now, int64_t after,
		    struct err *e);
int catalog_gc_doom(struct catalog *c, const char *machine_id, const char *pack, const char *region,
		    const char *pair, int64_t after, struct err *e);
int catalog_gc_move(struct catalog *c, const char *machine_id, const char *old_pack,
		    const char *new_pack, uint64_t new_size, const struct pack_entry *ents,
		    size_t n, int64_t mark, const char *region, const char *pair, int64_t now,
		    int64_t after, struct err *e);
int catalog_doomed_due(struct catalog *c, int64_t now, struct doomed **out, size_t *n,
		       struct err *e);
int catalog_doomed_done(struct catalog *c, const char *pack, struct err *e);
int catalog_doomed_claim(struct catalog *c, const char *pack, int64_t now, struct err *e);
int catalog_pack_hold(struct catalog *c, const char *pack, const char *holder, int64_t now,
		      int64_t until, struct err *e);
int catalog_pack_unhold(struct catalog *c, const char *pack, const char *holder, struct err *e);
int catalog_duty_take(struct catalog *c, const char *name, const char *holder, int64_t now,
		      int64_t until, struct err *e);
int catalog_pack_add_replica(struct catalog *c, const char *machine_id, const char *pack_id,
			     uint64_t size, const struct pack_entry *ents, size_t n, int64_t now,
			     const struct replica *r, struct err *e);
int catalog_replica_list(struct catalog *c, const char *vault_id, int64_t now, int limit,
			 struct replica **out, size_t *n, struct err *e);
int catalog_replica_done(struct catalog *c, const char *pack, struct err *e);
int catalog_replica_fail(struct catalog *c, const char *pack, int64_t next_try, const char *error,
			 struct err *e);
int catalog_replica_lag(struct catalog *c, const char *vault_id, struct replica_lag *lag,
			struct err *e);
int catalog_pin_create(struct catalog *c, const char *subscription, const char *user_id,
		       const char *pin_hash, int64_t now, int64_t expires, struct err *e);
int catalog_pin_use(struct catalog *c, const char *subscription, const char *user_id,
		    const char *actor, const char *pin_hash, int64_t now, struct err *e);
int catalog_job_start(struct catalog *c, const char *machine_id, const char *kind, int64_t now,
		      struct job *j, struct err *e);
int catalog_job_end(struct catalog *c, const char *machine_id, const struct job *j, int64_t now,
		    const struct job_alert *alert, struct err *e);
int catalog_job_kind(struct catalog *c, const char *machine_id, const char *job_id,
		     char kind[16], struct err *e);
int catalog_job_list(struct catalog *c, const char *vault_id, int limit, struct job **out,
		     size_t *n, struct err *e);
int catalog_usage(struct catalog *c, const char *vault_id, struct usage **out, size_t *n,
		  struct err *e);
int catalog_policy_get(struct catalog *c, const char *machine_id, char **json, struct err *e);
int64_t catalog_policy_updated(struct catalog *c, const char *machine_id, struct err *e);
int catalog_job_since(struct catalog *c, const char *machine_id, int64_t since, struct err *e);
int catalog_alert_since(struct catalog *c, const char *subscription, const char *kind,
			const char *target, int64_t since, struct err *e);
int catalog_policy_machines(struct catalog *c, catalog_id **ids, size_t *n, struct err *e);
int catalog_policy_set(struct catalog *c, const char *machine_id, const char *prev,
		       const char *json, int64_t now, const struct job_alert *alert,
		       catalog_keep_fn keep, void *keep_arg, struct err *e);
int catalog_guard_get(struct catalog *c, const char *subscription, struct guard *g, struct err *e);
int catalog_guard_set(struct catalog *c, const char *subscription, const char *guard_name, int hours,
		      bool replace, struct err *e);
int catalog_approval_create(struct catalog *c, const struct approval *a, struct err *e);
int catalog_approval_list(struct catalog *c, const char *subscription, const char *requester,
			  int64_t now, struct approval **out, size_t *n, struct err *e);
int catalog_approval_decide(struct catalog *c, const char *subscription, const char *id,
			    const char *guard_id, const char *guard_name, bool approve, int64_t now,
			    struct approval *a, struct err *e);
int catalog_approval_result(struct catalog *c, const char *id, const char *result, struct err *e);
int catalog_alert(struct catalog *c, const char *subscription, int64_t now, const char *kind,
		  const char *target, const char *message, struct err *e);
int catalog_alert_list(struct catalog *c, const char *subscription, int limit, struct alert **out,
		       size_t *n, struct err *e);
int catalog_audit(struct catalog *c, const char *subscription, int64_t now, const char *actor,
		  const char *action, const char *target, const char *detail, struct err *e);
int catalog_audit_list(struct catalog *c, const char *subscription, int limit,
		       struct audit_entry **out, size_t *n, struct err *e);
int catalog_tables(struct catalog *c, struct catalog_table **out, size_t *n, struct err *e);
int catalog_rows_read(struct catalog *c, const char *table, catalog_row_fn fn, void *arg,
		      struct err *e);
int catalog_rows_write(struct catalog *c, catalog_fill_fn fill, void *arg, struct err *e);

/* Free a list of tables (catalog_tables). T may be NULL. */
void catalog_tables_free(struct catalog_table *t, size_t n);

/* Sort the N tables T so that each comes after the tables REFS says it
 * references: REFS(ARG, TABLE, I) is the name of TABLE's I-th referenced
 * table, NULL after the last. 0; -1 with ERR_CORRUPT for a cycle. (For the
 * backends' tables.) */
int catalog_tables_order(struct catalog_table *t, size_t n,
			 const char *(*refs)(void *arg, const char *table, size_t i), void *arg,
			 struct err *e);

#endif
