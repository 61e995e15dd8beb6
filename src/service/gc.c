/* gc.c: the space collector; see gc.h. */
#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "catalog.h"
#include "pack.h"
#include "store.h"

static pthread_mutex_t one_pass = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t uploads = PTHREAD_RWLOCK_INITIALIZER; /* see gc.h */

void gc_upload_begin(void)
{
	pthread_rwlock_rdlock(&uploads);
}

void gc_upload_end(void)
{
	pthread_rwlock_unlock(&uploads);
}

/* The stores of a vault: its region's, and the pair's for GRS. */
static int stores_of(struct service *s, const char *vault_id, const struct region **r,
		     const struct region **pair, struct err *e)
{
	struct vault v;

	if (catalog_vault_by_id(s->cat, vault_id, &v, e) != 0)
		return -1;
	if ((*r = service_region(s, v.region)) == NULL)
		return err_set(e, ERR_NOT_FOUND, "region %s is not configured", v.region);
	*pair = strcmp(v.redundancy, "GRS") == 0 && (*r)->pair[0] ? service_region(s, (*r)->pair)
								    : NULL;
	return 0;
}

/* What one machine's recovery points reference, as of a mark. */
struct live {
	catalog_id machine_id;
	struct objid *ids; /* sorted, unique */
	size_t n;
	int64_t mark;
};

static bool is_live(const struct live *lv, const struct objid *id)
{
	/* A machine without points has no list (bsearch must not see NULL). */
	return lv->n > 0 && bsearch(id, lv->ids, lv->n, sizeof(*lv->ids),
		       (int (*)(const void *, const void *))objid_cmp) != NULL;
}

/* What a pass does with a measured pack: the one rule, for gc_run and
 * gc_preview alike. */
enum verdict { KEEP, DROP, REWRITE };

static enum verdict verdict_of(const struct pack_use *u)
{
	if (u->live_objects == 0)
		return DROP;
	if ((double)u->live_bytes < GC_REWRITE_BELOW * (double)u->size)
		return REWRITE;
	return KEEP;
}

/* Packs come by machine: LV holds what MACHINE_ID's points reference,
 * marked once when its first pack comes. 0, or -1 with E set. */
static int mark_of(struct service *s, struct live *lv, const char *machine_id, struct err *e)
{
	if (strcmp(lv->machine_id, machine_id) == 0)
		return 0;
	free(lv->ids);
	lv->ids = NULL;
	lv->n = 0;
	snprintf(lv->machine_id, sizeof(lv->machine_id), "%s", machine_id);
	return catalog_refs_mark(s->cat, lv->machine_id, &lv->ids, &lv->n, &lv->mark, e);
}

/* Count pack U's objects and its live ones, and their bytes. */
static int measure(struct service *s, struct pack_use *u, const struct live *lv, struct err *e)
{
	struct pack_obj *o = NULL;
	size_t n = 0;

	if (catalog_pack_objects(s->cat, u->machine_id, u->id, &o, &n, e) != 0)
		return -1;
	u->objects = (int64_t)n;
	for (size_t i = 0; i < n; i++) {
		if (is_live(lv, &o[i].id)) {
			u->live_objects++;
			u->live_bytes += o[i].length;
		}
	}
	free(o);
	return 0;
}

/* Copy the live objects of pack U into a new pack and move them there. */
static int rewrite(struct service *s, const struct pack_use *u, const struct live *lv,
		   const struct region *r, const struct region *pair, int64_t now,
		   int64_t *new_size, struct err *e)
{
	char new_hex[65];
	size_t n_ents = 0;
	struct pack_entry *ents = NULL;
	struct pack_writer *w = NULL;
	struct buf out = BUF_INIT;
	uint8_t *data = NULL, new_id[PACK_ID_LEN];
	uint64_t size;
	int rc = -1;

	if (store_get_all(r->store, u->id, &data, &size, e) != 0)
		goto out;
	if (pack_toc_read(data, size, &ents, &n_ents, e) != 0 ||
	    (w = pack_writer_new(NULL, 0, e)) == NULL)
		goto out;
	for (size_t i = 0; i < n_ents; i++)
		if (is_live(lv, &ents[i].id) && pack_writer_add_sealed(w, &ents[i],
								       data + ents[i].offset, e))
			goto out;
	if (pack_writer_count(w) == 0) {
		err_set(e, ERR_LOCKED, "no live object left to copy");
		goto out;
	}
	free(ents);
	ents = NULL;
	n_ents = pack_writer_count(w);
	if ((ents = malloc(n_ents * sizeof(*ents))) == NULL) {
		err_oom(e);
		goto out;
	}
	memcpy(ents, pack_writer_entries(w), n_ents * sizeof(*ents));
	if (pack_writer_finish(w, &out, new_id, e) != 0)
		goto out;
	sodium_bin2hex(new_hex, sizeof(new_hex), new_id, sizeof(new_id));
	/* Doomed first: if we crash before the move, the new file goes later. */
	if (catalog_gc_doom(s->cat, u->machine_id, new_hex, r->name, pair ? pair->name : "",
			    now + 86400, e) != 0)
		goto out;
	if (store_put_mem_each((struct store *[]){ r->store, pair ? pair->store : NULL },
			       pair ? 2 : 1, new_hex, out.data, out.len, e) != 0)
		goto out;
	if (catalog_gc_move(s->cat, u->machine_id, u->id, new_hex, out.len, ents, n_ents, lv->mark,
			    r->name, pair ? pair->name : "", now, now + GC_GRACE, e) != 0)
		goto out; /* the new file stays doomed and goes in a day */
	*new_size = (int64_t)out.len;
	rc = 0;
out:
	free(data);
	free(ents);
	pack_writer_free(w);
	buf_free(&out);
	return rc;
}

/* Delete the files of doomed packs whose time has come. */
/* Delete the files of doomed packs whose time has come. 0; or -1 with E
 * set when the catalog could not say what is due or whether a pack may go:
 * the pass stops there (a file it could not delete, or a region no longer
 * configured, waits for a later pass). */
static int sweep(struct service *s, int64_t now, struct gc_stats *st, struct err *e)
{
	struct doomed *d = NULL;
	size_t n = 0;
	int rc = 0;

	if (catalog_doomed_due(s->cat, now, &d, &n, e) != 0)
		return err_prefix(e, "collecting space: the packs due for deletion: ");
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct region *r = service_region(s, d[i].region);
		const struct region *p = d[i].pair[0] ? service_region(s, d[i].pair) : NULL;
		struct err fe;
		int claim, gone;

		if (r == NULL || (d[i].pair[0] && p == NULL)) {
			/* Its files stay until the region is configured again:
			 * forgetting the doom would leave them forever. */
			fprintf(stderr, "arcad: pack %.16s is due for deletion in regions %s and %s, "
				"not both configured; its files stay\n", d[i].pack, d[i].region,
				d[i].pair[0] ? d[i].pair : "(none)");
			continue;
		}
		/* Exclusive: no upload of this service stores and records a pack
		 * meanwhile; the claim keeps those of every service off this
		 * pack (catalog_pack_hold) until its files are gone. */
		pthread_rwlock_wrlock(&uploads);
		if ((claim = catalog_doomed_claim(s->cat, d[i].pack, now, e)) != 1) {
			pthread_rwlock_unlock(&uploads);
			if (claim < 0)
				rc = err_prefix(e, "collecting space: sweeping pack %.16s: ", d[i].pack);
			continue; /* sent again, or no longer doomed */
		}
		gone = store_remove(r->store, d[i].pack, &fe) == 0 &&
		       !(p && store_remove(p->store, d[i].pack, &fe) != 0);
		pthread_rwlock_unlock(&uploads);
		if (!gone) {
			fprintf(stderr, "arcad: deleting pack %.16s: %s\n", d[i].pack, fe.msg);
			continue; /* tried again next pass */
		}
		if (catalog_doomed_done(s->cat, d[i].pack, &fe) == 0)
			st->files_deleted++;
		else /* deleted already: the next pass finds nothing to delete */
			fprintf(stderr, "arcad: pack %.16s: %s\n", d[i].pack, fe.msg);
	}
	free(d);
	return rc;
}

/*
 * Why a pass stops at the first failed read: the collector decides what to
 * drop from what it read, and an answer it could not read in full (a mark
 * with part of the references, a pack with part of its objects) would look
 * like dead data. So after any read fails, the pass drops and rewrites
 * nothing more, for any machine, and reports the failure; what it did
 * before stays done (each step was checked on its own).
 */
int gc_run(struct service *s, const char *vault_id, int64_t now, struct gc_stats *st,
	   struct err *e)
{
	struct pack_use *u = NULL;
	struct live lv = { .machine_id = "" };
	struct err pe = { 0 };
	size_t n = 0, i;
	int rc = -1;
	char skipped[65] = "";

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&one_pass);
	if (sweep(s, now, st, e) != 0)
		goto out;
	if (catalog_pack_usage(s->cat, vault_id, &u, &n, e) != 0) {
		err_prefix(e, "collecting space: listing the packs: ");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct region *r = NULL, *pair = NULL;
		int64_t after = u[i].size;
		int r_ok = -1;
		bool dropping = false;

		st->packs_seen++;
		st->bytes_before += u[i].size;
		/* Packs come by machine: mark each machine's references once. */
		if (mark_of(s, &lv, u[i].machine_id, e) != 0) {
			err_prefix(e, "collecting machine %.16s: ", lv.machine_id);
			goto out;
		}
		if (strcmp(skipped, u[i].machine_id) == 0) {
			st->bytes_after += u[i].size;
			continue;
		}
		if (stores_of(s, u[i].vault_id, &r, &pair, &pe) != 0) {
			/* A vault whose region is not configured (a definite
			 * answer) keeps its packs; a read that failed ends the pass. */
			if (pe.code != ERR_NOT_FOUND)
				break;
			st->bytes_after += u[i].size;
			continue;
		}
		if (measure(s, &u[i], &lv, e) != 0) {
			err_prefix(e, "collecting pack %.16s: ", u[i].id);
			goto out;
		}
		if (verdict_of(&u[i]) == DROP) {
			dropping = true;
			r_ok = catalog_gc_drop(s->cat, u[i].machine_id, u[i].id, lv.mark, r->name,
					       pair ? pair->name : "", now, now + GC_GRACE, &pe);
			if (r_ok == 0) {
				st->packs_dropped++;
				after = 0;
			}
		} else if (verdict_of(&u[i]) == REWRITE) {
			int64_t ns = 0;

			r_ok = rewrite(s, &u[i], &lv, r, pair, now, &ns, &pe);
			if (r_ok == 0) {
				st->packs_rewritten++;
				after = ns;
			}
		} else {
			r_ok = 0;
		}
		if (r_ok != 0 && pe.code == ERR_LOCKED) {
			/* A backup of this machine is in progress: its turn comes
			 * next pass. */
			snprintf(skipped, sizeof(skipped), "%s", u[i].machine_id);
			st->machines_skipped++;
		} else if (r_ok != 0 && dropping) {
			/* The catalog failed (the drop changed nothing): stop. */
			break;
		} else if (r_ok != 0) {
			fprintf(stderr, "arcad: collecting pack %.16s: %s\n", u[i].id, pe.msg);
		}
		st->bytes_after += after;
	}
	if (i < n) {
		/* Stopped at pack I by a failure PE tells. */
		err_set(e, pe.code, "collecting pack %.16s: %s", u[i].id, pe.msg);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&one_pass);
	free(lv.ids);
	free(u);
	return rc;
}

int gc_preview(struct service *s, const char *vault_id, struct gc_stats *st, struct err *e)
{
	struct pack_use *u = NULL;
	struct live lv = { .machine_id = "" };
	size_t n = 0;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (catalog_pack_usage(s->cat, vault_id, &u, &n, e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (mark_of(s, &lv, u[i].machine_id, e) != 0 || measure(s, &u[i], &lv, e) != 0)
			goto out;
		st->packs_seen++;
		st->bytes_before += u[i].size;
		switch (verdict_of(&u[i])) {
		case DROP:
			st->packs_dropped++;
			break;
		case REWRITE:
			st->packs_rewritten++;
			st->bytes_after += u[i].live_bytes;
			break;
		case KEEP:
			st->bytes_after += u[i].size;
			break;
		}
	}
	rc = 0;
out:
	free(lv.ids);
	free(u);
	return rc;
}
