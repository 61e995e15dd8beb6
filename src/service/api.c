/*
 * api.c: the packs of the API: uploads (whole or resumable), their progress,
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

/*
 * PUT /packs/{id}: store a pack. The body's SHA-256 must be the id (so a
 * damaged upload is refused), the table of contents must check out without
 * keys; then the pack goes to the region's store and its objects into the
 * catalog. Uploading a pack that is stored already is a no-op: a client that
 * lost its connection just sends it again.
 */
/* Check the complete pack in file PATH (LEN bytes) without keys, move it into
 * the store of the machine's region (and, for GRS, copy it to the pair's),
 * record its objects, and answer. */
static void store_pack_file(struct call *c, const char *id, const char *path, size_t len)
{
	struct pack_entry *ents = NULL;
	const uint8_t *map = MAP_FAILED;
	struct store *st, *pair = NULL;
	size_t n = 0;
	struct err e;
	int fd;

	if ((st = machine_store_pair(c, &pair, &e)) == NULL)
		goto fail;
	if (len == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_set(&e, ERR_INVALID, "the pack is empty");
		goto fail;
	}
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		err_errno(&e, "map the upload");
		goto fail;
	}
	if (pack_toc_read(map, len, &ents, &n, &e) != 0) {
		err_prefix(&e, "the pack's table of contents does not check out: ");
		e.code = ERR_INVALID;
		goto fail;
	}
	/* Why copy before acknowledging: a GRS vault promises the second copy.
	 * Store and record under gc_upload_begin (gc.h): the sweeper cannot
	 * delete the file of a doomed pack sent again in between. */
	gc_upload_begin();
	if (store_put_file(st, id, path, &e) != 0 || (pair && store_copy(st, pair, id, &e) != 0) ||
	    catalog_pack_add(c->s->cat, c->machine.id, id, len, ents, n, c->now, &e) != 0) {
		gc_upload_end();
		goto fail;
	}
	gc_upload_end();
	reply_json(c, 201, json_pack("{s:s,s:I,s:I}", "id", id, "objects", (json_int_t)n, "size",
				     (json_int_t)len));
	goto out;
fail:
	reply_err(c, &e);
out:
	if (map != MAP_FAILED)
		munmap((void *)map, len);
	free(ents);
}

#define PARTIAL_PATH_MAX (PATH_MAX + 128)

/* Where a resumable upload of pack ID by the calling machine collects. */
static void partial_path(struct call *c, const char *id, char out[PARTIAL_PATH_MAX])
{
	snprintf(out, PARTIAL_PATH_MAX, "%s/partial-%.32s-%.64s", c->s->tmp, c->machine.id, id);
}

/* The bytes that the calling machine's resumable uploads in progress hold
 * in the upload folder, into *HELD. 0, or -1 with E set. */
int partial_bytes(struct call *c, uint64_t *held, struct err *e)
{
	char prefix[64], path[PARTIAL_PATH_MAX + 256];
	DIR *d = opendir(c->s->tmp);
	struct dirent *de;
	struct stat st;
	size_t n;

	*held = 0;
	if (d == NULL)
		return err_errno(e, "open the upload folder %s", c->s->tmp);
	n = (size_t)snprintf(prefix, sizeof(prefix), "partial-%.32s-", c->machine.id);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, n) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->s->tmp, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			*held += (uint64_t)st.st_size;
	}
	closedir(d);
	return 0;
}

static int64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* SHA-256 of the file PATH as hex. 0 or -1. */
static int file_sha256(const char *path, char hex[65])
{
	uint8_t buf[1 << 16], md[32];
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	ssize_t r;

	if (x && fd >= 0 && EVP_DigestInit_ex(x, EVP_sha256(), NULL) == 1) {
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			EVP_DigestUpdate(x, buf, (size_t)r);
		if (r == 0 && EVP_DigestFinal_ex(x, md, NULL) == 1) {
			sodium_bin2hex(hex, 65, md, sizeof(md));
			rc = 0;
		}
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(x);
	return rc;
}

/* Append the spooled body to the partial upload at PARTIAL. 0 or -1. */
static int append_body(struct call *c, const char *partial, struct err *e)
{
	uint8_t buf[1 << 16];
	int in = open(c->req->body_file, O_RDONLY | O_CLOEXEC);
	int out = open(partial, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	ssize_t r = -1;
	int rc = -1;

	if (in >= 0 && out >= 0) {
		while ((r = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)r) != r) {
				r = -1;
				break;
			}
		if (r == 0 && fsync(out) == 0)
			rc = 0;
	}
	if (rc != 0)
		err_errno(e, "append to the upload in progress");
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
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
 * upload in progress is a lease, not a lock: the service forgets it after a
 * day, and nothing else waits on it.
 */
void h_pack_put(struct call *c)
{
	const char *id = c->arg[0], *total_h = http_header(c->req, "X-Arca-Length");
	const char *off_h = http_header(c->req, "X-Arca-Offset");
	char hex[65], partial[PARTIAL_PATH_MAX];
	catalog_id owner;
	struct err e;
	long long total, off;
	int64_t have;

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
		sodium_bin2hex(hex, sizeof(hex), c->req->body_sha256, 32);
		if (strcmp(hex, id) != 0) {
			reply_msg(c, ERR_INVALID, "the uploaded bytes' SHA-256 is not the pack id: the "
				  "upload was damaged or cut short; send the pack again");
			return;
		}
		store_pack_file(c, id, c->req->body_file, c->req->body_len);
		return;
	}
	total = atoll(total_h);
	off = off_h ? atoll(off_h) : 0;
	if (total <= 0 || (uint64_t)total > PACK_MAX_BYTES || off < 0) {
		reply_msg(c, ERR_INVALID, "X-Arca-Length must be the pack's size and X-Arca-Offset the "
			  "byte the body starts at");
		return;
	}
	partial_path(c, id, partial);
	have = file_size(partial);
	if (off != have) {
		reply_json(c, 409, json_pack("{s:{s:s,s:s},s:I}", "error", "code", "offset", "message",
					     "the upload in progress has another length: resume at "
					     "\"received\"", "received", (json_int_t)have));
		return;
	}
	if ((uint64_t)have + c->req->body_len > (uint64_t)total) {
		unlink(partial);
		reply_msg(c, ERR_INVALID, "the pieces are longer than X-Arca-Length; start again");
		return;
	}
	if (append_body(c, partial, &e) != 0) {
		reply_err(c, &e);
		return;
	}
	have += (int64_t)c->req->body_len;
	if (have < total) {
		reply_json(c, 202, json_pack("{s:s,s:I}", "id", id, "received", (json_int_t)have));
		return;
	}
	if (file_sha256(partial, hex) != 0 || strcmp(hex, id) != 0) {
		unlink(partial);
		reply_msg(c, ERR_INVALID, "the assembled pack's SHA-256 is not its id; start again");
		return;
	}
	store_pack_file(c, id, partial, (size_t)have);
	unlink(partial); /* gone already when stored */
}

/* GET /packs/{id}/upload: how much of a resumable upload the service has. */
void h_pack_progress(struct call *c)
{
	char partial[PARTIAL_PATH_MAX];

	if (!is_hex64(c->arg[0])) {
		reply_msg(c, ERR_INVALID, "a pack id is 64 lowercase hex digits");
		return;
	}
	partial_path(c, c->arg[0], partial);
	reply_json(c, 200, json_pack("{s:s,s:I}", "id", c->arg[0], "received",
				     (json_int_t)file_size(partial)));
}

/* GET /packs/{id}, with an optional "Range: bytes=FIRST-[LAST]": a pack of
 * the calling machine's vault. */
void h_pack_get(struct call *c)
{
	const char *id = c->arg[0], *range = http_header(c->req, "Range");
	catalog_id owner;
	struct machine m;
	char *pub = NULL;
	struct store *st;
	uint64_t size, first = 0, last;
	struct err e;
	int fd;

	/* A doomed pack stays readable until its file goes: a restore may
	 * have located an object there just before the collector moved it. */
	e.code = ERR_NOT_FOUND;
	if (!is_hex64(id) || catalog_pack_reader(c->s->cat, id, owner, &e) != 0 ||
	    catalog_machine_get(c->s->cat, owner, &m, &pub, &e) != 0 ||
	    strcmp(m.vault_id, c->machine.vault_id) != 0) {
		free(pub);
		if (e.code == ERR_NOT_FOUND)
			reply_msg(c, ERR_NOT_FOUND, "no such pack in this vault");
		else
			reply_err(c, &e); /* the catalog could not tell: not "absent" */
		return;
	}
	free(pub);
	if ((st = machine_store(c, &e)) == NULL || (fd = store_open(st, id, &size, &e)) < 0) {
		reply_err(c, &e);
		return;
	}
	last = size ? size - 1 : 0;
	if (range) {
		char *end;
		unsigned long long a, b;

		if (strncmp(range, "bytes=", 6) != 0 || (a = strtoull(range + 6, &end, 10), *end != '-') ||
		    end == range + 6) {
			close(fd);
			reply_msg(c, ERR_INVALID, "Range must be bytes=FIRST-LAST or bytes=FIRST-");
			return;
		}
		if (end[1] == 0) {
			b = last;
		} else {
			const char *rest = end + 1;

			b = strtoull(rest, &end, 10);
			if (end == rest)
				end = (char *)"x"; /* no digits: refuse below */
		}
		if (*end && !(end[0] == '-' && end[1] == 0)) {
			close(fd);
			reply_msg(c, ERR_INVALID, "Range must be bytes=FIRST-LAST or bytes=FIRST-");
			return;
		}
		if (a > b || a >= size) {
			close(fd);
			c->res->status = 416;
			snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes */%llu",
				 (unsigned long long)size);
			return;
		}
		first = a;
		last = b < size ? b : size - 1;
		c->res->status = 206;
		snprintf(c->res->content_range, sizeof(c->res->content_range), "bytes %llu-%llu/%llu",
			 (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
	} else {
		c->res->status = 200;
	}
	c->res->content_type = "application/octet-stream";
	http_respond_file(c->res, fd, first, size ? last - first + 1 : 0);
}
