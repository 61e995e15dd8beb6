/*
 * api/packs.c: the packs of the API: uploads (whole or resumable), their progress,
 * and range reads; see api.h and docs/API.md. The other resources and the
 * route table are under api/.
 */
#include "api/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "gc.h"
#include "pack.h"
#include "store.h"
#include "upload.h"

/*
 * PUT /packs/{id}: store a pack. The body's SHA-256 must be the id (so a
 * damaged upload is refused), the table of contents must check out without
 * keys; then the pack goes to the region's store and its objects into the
 * catalog. Uploading a pack that is stored already is a no-op: a client that
 * lost its connection just sends it again.
 */

#define HOLD_SECONDS 3600   /* an upload's hold on its pack, should it die */
#define HOLD_TRIES 100      /* times 0.1 s: waiting out a sweep of the pack */

/* Hold pack ID for this upload (catalog_pack_hold), waiting while the
 * collector (of any service) deletes an earlier copy's files. 0, or -1
 * with E set. */
static int hold_pack(struct call *c, const char *id, const char *holder, struct err *e)
{
	for (int i = 0;; i++) {
		int64_t now = service_now();

		if (catalog_pack_hold(c->s->cat, id, holder, now, now + HOLD_SECONDS, e) == 0)
			return 0;
		if (e->code != ERR_LOCKED || i == HOLD_TRIES)
			return -1;
		usleep(100000);
	}
}

/* Let go of pack ID; a failure only delays the collector (the hold runs
 * out), so it is logged. */
static void unhold_pack(struct call *c, const char *id, const char *holder)
{
	struct err e;

	if (catalog_pack_unhold(c->s->cat, id, holder, &e) != 0)
		fprintf(stderr, "arcad: letting go of pack %.16s: %s\n", id, e.msg);
}
/* The queue row of a GRS vault's pack ID of LEN bytes (replicate.h): from
 * the vault's region to its pair. 0, or -1 with E set. */
static int replica_of(struct call *c, const char *id, size_t len, struct replica *r,
		      struct err *e)
{
	struct vault v;
	const struct region *reg;

	memset(r, 0, sizeof(*r));
	if (catalog_vault_by_id(c->s->cat, c->machine.vault_id, &v, e) != 0)
		return -1;
	if ((reg = service_region(c->s, v.region)) == NULL)
		return err_set(e, ERR_NOT_FOUND, "the vault's region %s is not in this service's "
			       "configuration", v.region);
	snprintf(r->pack, sizeof(r->pack), "%s", id);
	snprintf(r->vault_id, sizeof(r->vault_id), "%s", v.id);
	snprintf(r->from, sizeof(r->from), "%s", reg->name);
	snprintf(r->to, sizeof(r->to), "%s", reg->pair);
	r->size = (int64_t)len;
	return 0;
}

/* Check the complete pack DATA (LEN bytes, the caller keeps it; the local
 * file PATH holds them too, or PATH is NULL) without keys, put it into the
 * store of the machine's region, record its objects (and, for GRS, its
 * row of the replication queue: the replicator copies it to the pair's
 * store afterwards, replicate.h), and answer. */
static void store_pack_file(struct call *c, const char *id, const char *path, const uint8_t *data,
			    size_t len)
{
	catalog_id holder;
	struct pack_entry *ents = NULL;
	struct store *st, *pair = NULL;
	struct replica rep;
	size_t n = 0;
	struct err e;
	int rc;

	if ((st = machine_store_pair(c, &pair, &e)) == NULL ||
	    (pair && replica_of(c, id, len, &rep, &e) != 0))
		goto fail;
	if (len == 0) {
		err_set(&e, ERR_INVALID, "the pack is empty");
		goto fail;
	}
	if (pack_toc_read(data, len, &ents, &n, &e) != 0) {
		err_prefix(&e, "the pack's table of contents does not check out: ");
		e.code = ERR_INVALID;
		goto fail;
	}
	/* Store and record holding the pack and under gc_upload_begin (gc.h):
	 * the sweeper of no service can delete the file of a doomed pack sent
	 * again in between. A GRS vault's second copy is the replicator's: the
	 * pack's queue row is written with the pack's record, in one
	 * transaction, so a pack acknowledged is a pack that will be copied
	 * (its lag shows in the vault's properties). */
	catalog_new_id(holder);
	if (hold_pack(c, id, holder, &e) != 0)
		goto fail;
	gc_upload_begin();
	rc = store_put_file_each(&st, 1, id, path, data, len, &e);
	if (rc == 0)
		rc = pair ? catalog_pack_add_replica(c->s->cat, c->machine.id, id, len, ents, n,
						     c->now, &rep, &e)
			  : catalog_pack_add(c->s->cat, c->machine.id, id, len, ents, n, c->now, &e);
	if (rc != 0) {
		gc_upload_end();
		unhold_pack(c, id, holder);
		goto fail;
	}
	gc_upload_end();
	unhold_pack(c, id, holder);
	reply_json(c, 201, json_pack("{s:s,s:I,s:I}", "id", id, "objects", (json_int_t)n, "size",
				     (json_int_t)len));
	goto out;
fail:
	reply_err(c, &e);
out:
	free(ents);
}

/* The bytes that the calling machine's resumable uploads in progress hold
 * (upload.h), into *HELD. 0, or -1 with E set. */
int partial_bytes(struct call *c, uint64_t *held, struct err *e)
{
	return uploads_held(c->s->uploads, c->machine.id, held, e);
}

/* The resumable upload of pack ID is complete: check that its bytes hash to
 * the id, store it, and forget it either way (stored, or damaged). */
static void store_partial(struct call *c, const char *id)
{
	const uint8_t *data;
	uint8_t md[32];
	char hex[65];
	size_t len;
	struct err e;

	if (uploads_map(c->s->uploads, c->machine.id, id, &data, &len, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	/* OpenSSL's SHA-256 uses the CPU's SHA instructions: packs are large. */
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md)); /* matches no id: refused below */
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, id) != 0)
		reply_msg(c, ERR_INVALID, "the assembled pack's SHA-256 is not its id; start again");
	else
		store_pack_file(c, id, NULL, data, len);
	uploads_unmap(data, len);
	uploads_discard(c->s->uploads, c->machine.id, id);
}

/* A whole pack in one request: its spooled body, hash-checked as it came. */
static void store_body(struct call *c, const char *id)
{
	const uint8_t *map;
	char hex[65];
	size_t len;
	struct err e;

	sodium_bin2hex(hex, sizeof(hex), c->req->body_sha256, 32);
	if (strcmp(hex, id) != 0) {
		reply_msg(c, ERR_INVALID, "the uploaded bytes' SHA-256 is not the pack id: the "
			  "upload was damaged or cut short; send the pack again");
		return;
	}
	if ((map = map_upload(c, &len, &e)) == MAP_FAILED) {
		reply_err(c, &e);
		return;
	}
	/* Why hand the store the spooled file: it was written once as it
	 * arrived; the store takes it as it is (the http module lets the
	 * handler move it) instead of writing its bytes a second time. */
	store_pack_file(c, id, c->req->body_file, map, len);
	if (map)
		munmap((void *)map, len);
}

/*
 * PUT /packs/{id}: store a pack. The body's SHA-256 must be the id (so a
 * damaged upload is refused), the table of contents must check out without
 * keys. Uploading a pack that is stored already is a no-op.
 *
 * Resumable form: with "X-Arca-Length: TOTAL" and "X-Arca-Offset: N" the body
 * is the piece of the pack from byte N; the service appends it to the upload
 * in progress when N is what it has (else 409 with what it has), answers 202
 * until TOTAL bytes are there, then checks and stores the whole pack. An
 * upload in progress is a lease, not a lock (upload.h).
 */
void h_pack_put(struct call *c)
{
	const char *id = c->arg[0], *total_h = http_header(c->req, "X-Arca-Length");
	const char *off_h = http_header(c->req, "X-Arca-Offset");
	catalog_id owner;
	struct err e;
	long long total, off;
	uint64_t have;
	int rc;

	if (!is_hex64(id)) {
		reply_msg(c, ERR_INVALID, "a pack id is 64 lowercase hex digits (the SHA-256 of the pack)");
		return;
	}
	if (catalog_pack_owner(c->s->cat, id, owner, &e) != 0) {
		if (e.code != ERR_NOT_FOUND) { /* could not tell: never store blind */
			reply_err(c, &e);
			return;
		}
	} else {
		if (strcmp(owner, c->machine.id) != 0) {
			reply_msg(c, ERR_EXISTS, "another machine stored this pack");
			return;
		}
		reply_json(c, 200, json_pack("{s:s,s:b}", "id", id, "already_stored", 1));
		return;
	}
	if (c->req->body_file == NULL) {
		reply_msg(c, ERR_INVALID, "send the pack as the request body");
		return;
	}
	if (!content_type_is(c, "application/octet-stream")) {
		reply_json(c, 415, json_pack("{s:{s:s,s:s}}", "error", "code", "content_type", "message",
					     "send the pack's bytes with Content-Type: application/octet-stream"));
		return;
	}
	if (total_h == NULL) {
		store_body(c, id);
		return;
	}
	total = atoll(total_h);
	off = off_h ? atoll(off_h) : 0;
	if (total <= 0 || (uint64_t)total > PACK_MAX_BYTES || off < 0) {
		reply_msg(c, ERR_INVALID, "X-Arca-Length must be the pack's size and X-Arca-Offset the "
			  "byte the body starts at");
		return;
	}
	rc = uploads_append(c->s->uploads, c->machine.id, id, (uint64_t)off, (uint64_t)total,
			    c->req->body_file, c->req->body_len, &have, &e);
	if (rc == 1) {
		reply_json(c, 409, json_pack("{s:{s:s,s:s},s:I}", "error", "code", "offset", "message",
					     "the upload in progress has another length: resume at "
					     "\"received\"", "received", (json_int_t)have));
		return;
	}
	if (rc != 0) {
		reply_err(c, &e);
		return;
	}
	if (have < (uint64_t)total) {
		reply_json(c, 202, json_pack("{s:s,s:I}", "id", id, "received", (json_int_t)have));
		return;
	}
	store_partial(c, id);
}

/* GET /packs/{id}/upload: how much of a resumable upload the service has. */
void h_pack_progress(struct call *c)
{
	uint64_t have;
	struct err e;

	if (!is_hex64(c->arg[0])) {
		reply_msg(c, ERR_INVALID, "a pack id is 64 lowercase hex digits");
		return;
	}
	if (uploads_received(c->s->uploads, c->machine.id, c->arg[0], &have, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	reply_json(c, 200, json_pack("{s:s,s:I}", "id", c->arg[0], "received", (json_int_t)have));
}

/* A range of a pack on its way to a client: the http module pulls pieces,
 * each one a get from the store. */
struct pack_stream {
	struct store *st;
	char id[65];
	uint64_t first;
};

static int pack_stream_read(void *arg, uint64_t pos, uint8_t *buf, size_t max, size_t *got)
{
	struct pack_stream *ps = arg;
	struct err e;

	if (store_read(ps->st, ps->id, ps->first + pos, buf, max, got, &e) != 0) {
		/* The client sees a cut response; the log says why. */
		fprintf(stderr, "arcad: reading pack %.16s: %s\n", ps->id, e.msg);
		return -1;
	}
	return 0;
}

/* Which of ST (the vault's region's store) and PAIR (its GRS copy's, or
 * NULL) pack ID is read from: the one that has it, its size in *SIZE and
 * *FOUND 1; or ST with *FOUND 0 when neither has it. When the region's own
 * store has no such pack or cannot be read (a lost disk, an unreachable
 * object store), the paired region's copy is read instead, and the log says
 * so. NULL with E set when no store could tell: never "absent" for an
 * error. */
static struct store *readable_store(struct store *st, struct store *pair, const char *id,
				    uint64_t *size, int *found, struct err *e)
{
	struct err pe;
	int rc, prc;

	*found = 0;
	if ((rc = store_stat(st, id, size, e)) > 0 || pair == NULL) {
		*found = rc > 0;
		return rc < 0 ? NULL : st;
	}
	if ((prc = store_stat(pair, id, size, &pe)) > 0) {
		fprintf(stderr, "arcad: pack %.16s: %s; read from the paired region's copy\n", id,
			rc < 0 ? e->msg : "missing from its region's store");
		*found = 1;
		return pair;
	}
	if (rc < 0)
		return NULL; /* the region's own store could not tell */
	if (prc < 0) {
		*e = pe;
		return NULL; /* absent here, and the pair could not tell */
	}
	return st;
}

/* GET /packs/{id}, with an optional "Range: bytes=FIRST-[LAST]": a pack of
 * the calling machine's vault. */
void h_pack_get(struct call *c)
{
	const char *id = c->arg[0], *range = http_header(c->req, "Range");
	catalog_id owner;
	struct machine m;
	struct pack_stream *ps;
	char *pub = NULL;
	struct store *st, *pair = NULL;
	uint64_t size = 0, first = 0, last;
	struct err e;
	int rc;

	/* A doomed pack stays readable until its file goes: a restore may
	 * have located an object there just before the collector moved it.
	 * Why the owner is read only when it is another machine: the caller's
	 * own packs (nearly every read of a restore) are of its vault. */
	e.code = ERR_NOT_FOUND;
	if (!is_hex64(id) || catalog_pack_reader(c->s->cat, id, owner, &e) != 0 ||
	    (strcmp(owner, c->machine.id) != 0 &&
	     (catalog_machine_get(c->s->cat, owner, &m, &pub, &e) != 0 ||
	      strcmp(m.vault_id, c->machine.vault_id) != 0))) {
		free(pub);
		if (e.code == ERR_NOT_FOUND)
			reply_msg(c, ERR_NOT_FOUND, "no such pack in this vault");
		else
			reply_err(c, &e); /* the catalog could not tell: not "absent" */
		return;
	}
	free(pub);
	if ((st = machine_store_pair(c, &pair, &e)) == NULL ||
	    (st = readable_store(st, pair, id, &size, &rc, &e)) == NULL) {
		reply_err(c, &e); /* the store could not tell: not "absent" */
		return;
	}
	if (rc == 0) {
		err_set(&e, ERR_NOT_FOUND, "no pack %.16s in this store", id);
		reply_err(c, &e);
		return;
	}
	last = size ? size - 1 : 0;
	c->res->status = 200;
	if (range && (rc = http_range_parse(range, size, &first, &last)) != 0) {
		if (rc < 0) {
			reply_msg(c, ERR_INVALID, "Range must be bytes=FIRST-LAST or bytes=FIRST-");
			return;
		}
		snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes */%llu",
			 (unsigned long long)size);
		reply_json(c, 416, json_pack("{s:{s:s,s:s}}", "error", "code", "range", "message",
					     "the range asks for no byte of the pack: FIRST is past "
					     "its end, or after LAST"));
		return;
	}
	if (range) {
		c->res->status = 206;
		snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes %llu-%llu/%llu",
			 (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		reply_msg(c, ERR_NOMEM, "out of memory");
		return;
	}
	ps->st = st;
	snprintf(ps->id, sizeof(ps->id), "%s", id);
	ps->first = first;
	c->res->content_type = "application/octet-stream";
	http_respond_stream(c->res, size ? last - first + 1 : 0, pack_stream_read, ps, free);
}

#define PRESENT_MAX 1000 /* packs asked about in one request: each is a stat */

/* What the store says of pack ID for the caller: "present" (readable: in
 * the region's store or, for a GRS vault, in the paired region's),
 * "absent", "unknown" (not a pack of the caller's vault in the catalog),
 * "error" (the store could not tell; logged). OURS caches the last other machine
 * found to be of the vault. NULL with E set when the catalog could not
 * tell. */
static const char *pack_state(struct call *c, struct store *st, struct store *pair, const char *id,
			      catalog_id ours, struct err *e)
{
	catalog_id owner;
	struct machine m;
	uint64_t size;
	int rc;

	if (catalog_pack_reader(c->s->cat, id, owner, e) != 0)
		return e->code == ERR_NOT_FOUND ? "unknown" : NULL;
	if (strcmp(owner, c->machine.id) != 0 && strcmp(owner, ours) != 0) {
		char *pub = NULL;

		rc = catalog_machine_get(c->s->cat, owner, &m, &pub, e);
		free(pub);
		if (rc != 0)
			return e->code == ERR_NOT_FOUND ? "unknown" : NULL;
		if (strcmp(m.vault_id, c->machine.vault_id) != 0)
			return "unknown"; /* never a word about another vault's packs */
		snprintf(ours, sizeof(catalog_id), "%s", owner);
	}
	if (readable_store(st, pair, id, &size, &rc, e) == NULL) {
		fprintf(stderr, "arcad: pack %.16s: %s\n", id, e->msg);
		return "error";
	}
	return rc ? "present" : "absent";
}

/*
 * POST /packs/present {"ids": [...]} (machine): whether each pack of the
 * caller's vault is really in the store, not only in the catalog (a verify
 * asks). Answers {"packs": [{"id", "state"}]}, one per id in the order
 * asked (pack_state). A catalog that cannot answer fails the request:
 * never "absent" or "unknown" for an error.
 */
void h_packs_present(struct call *c)
{
	json_t *j = body_json(c), *out = NULL;
	const char **ids = NULL;
	catalog_id ours = "";
	struct store *st, *pair = NULL;
	size_t n = 0;
	struct err e;

	if (j == NULL || id_list(c, json_object_get(j, "ids"), "ids", &ids, &n) != 0)
		goto done;
	if (n > PRESENT_MAX) {
		char msg[128];

		snprintf(msg, sizeof(msg), "ask about at most %d packs at once; this request names %zu",
			 PRESENT_MAX, n);
		reply_msg(c, ERR_LIMIT, msg);
		goto done;
	}
	if ((st = machine_store_pair(c, &pair, &e)) == NULL) {
		reply_err(c, &e);
		goto done;
	}
	out = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *state = pack_state(c, st, pair, ids[i], ours, &e);

		if (state == NULL) {
			reply_err(c, &e);
			goto done;
		}
		json_array_append_new(out, json_pack("{s:s,s:s}", "id", ids[i], "state", state));
	}
	reply_json(c, 200, json_pack("{s:o}", "packs", out));
	out = NULL;
done:
	json_decref(out);
	free(ids);
	json_decref(j);
}
