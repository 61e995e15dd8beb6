/*
 * verify.c: the stores checked against the catalog without keys (verify.h).
 *
 * For each vault checked: its machines, their recovery points and each
 * point's references are read first, then the packs the catalog lists and
 * the objects each holds; every copy of a listed pack is stat'ed and, at
 * the listed size, streamed through a SHA-256. A point is damaged when one
 * of its references has no place among the listed packs, or lies in a pack
 * one of whose copies is bad. Last, each store the vaults use is listed and
 * what the catalog neither lists nor waits to delete is a stray; strays are
 * looked up once more after the listing, so that a pack recorded meanwhile
 * (an upload finishing beside a running service) is not one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "objid.h"
#include "service.h"
#include "store.h"
#include "verify.h"

#define PROGRESS_EVERY (8 << 20) /* bytes between progress calls inside a pack */

/* Grow the array *V of *N elements of SIZE bytes by one, zeroed: its new
 * last element, or NULL out of memory (E set). */
static void *push(void **v, size_t *n, size_t size, struct err *e)
{
	void *nv = *n < SIZE_MAX / size - 1 ? realloc(*v, (*n + 1) * size) : NULL;

	if (nv == NULL) {
		err_oom(e);
		return NULL;
	}
	*v = nv;
	memset((char *)nv + *n * size, 0, size);
	return (char *)nv + (*n)++ * size;
}

static int cmp_id65(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* A sorted set of pack ids (65 bytes each). */
struct idset {
	char (*ids)[65];
	size_t n;
};

static int idset_add(struct idset *s, const char *id, struct err *e)
{
	char *slot = push((void **)&s->ids, &s->n, 65, e);

	if (slot == NULL)
		return -1;
	snprintf(slot, 65, "%s", id);
	return 0;
}

static void idset_sort(struct idset *s)
{
	if (s->n)
		qsort(s->ids, s->n, 65, cmp_id65);
}

static bool idset_has(const struct idset *s, const char *id)
{
	return s->n && bsearch(id, s->ids, s->n, 65, cmp_id65) != NULL;
}

/* What the catalog knows: every listed pack of any vault, and every file
 * it waits to delete. */
static int catalog_packs(struct service *s, struct idset *out, struct err *e)
{
	struct pack_use *u = NULL;
	struct doomed *d = NULL;
	size_t nu = 0, nd = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (catalog_pack_usage(s->cat, NULL, &u, &nu, e) != 0 ||
	    catalog_doomed_due(s->cat, INT64_MAX, &d, &nd, e) != 0)
		goto out;
	for (size_t i = 0; i < nu; i++)
		if (idset_add(out, u[i].id, e) != 0)
			goto out;
	for (size_t i = 0; i < nd; i++)
		if (idset_add(out, d[i].pack, e) != 0)
			goto out;
	idset_sort(out);
	rc = 0;
out:
	free(u);
	free(d);
	if (rc) {
		free(out->ids);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* ---- one copy of a pack, streamed through a SHA-256 ---- */

struct hashing {
	EVP_MD_CTX *md;
	struct verify_report *r;
	const struct verify_opts *o;
	int64_t copies_total, since;
};

static int hash_write(void *arg, const uint8_t *buf, size_t len, struct err *e)
{
	struct hashing *h = arg;

	if (EVP_DigestUpdate(h->md, buf, len) != 1)
		return err_set(e, ERR_IO, "verify: SHA-256 failed");
	h->r->bytes += (int64_t)len;
	h->since += (int64_t)len;
	if (h->since >= PROGRESS_EVERY && h->o->progress) {
		h->since = 0;
		h->o->progress(h->o->arg, h->r->copies, h->copies_total, h->r->bytes,
			       h->r->bytes_total);
	}
	return 0;
}

/* Check the copy of pack U in REGION's store: 0 good, 1 bad (recorded in
 * R), -1 with E set when the store could not tell. */
static int check_copy(const struct region *region, const struct pack_use *u, struct hashing *h,
		      struct err *e)
{
	struct verify_bad *b;
	uint64_t size = 0;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[65];
	int st;
	enum verify_problem problem;
	struct store_writer w = { hash_write, h };
	struct err ge;

	if ((st = store_stat(region->store, u->id, &size, e)) < 0)
		return err_prefix(e, "verify: pack %s in region %s: ", u->id, region->name);
	if (st == 0) {
		problem = VERIFY_MISSING;
	} else if ((int64_t)size != u->size) {
		problem = VERIFY_SIZE;
	} else {
		if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
			return err_set(e, ERR_IO, "verify: SHA-256 failed");
		if (store_get(region->store, u->id, 0, size, &w, &ge) != 0) {
			if (ge.code != ERR_NOT_FOUND) {
				if (e)
					*e = ge;
				return err_prefix(e, "verify: pack %s in region %s: ", u->id,
						  region->name);
			}
			problem = VERIFY_MISSING; /* gone between stat and get */
			size = 0;
			st = 0;
		} else {
			if (EVP_DigestFinal_ex(h->md, md, &mdlen) != 1 || mdlen != 32)
				return err_set(e, ERR_IO, "verify: SHA-256 failed");
			for (unsigned i = 0; i < 32; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			if (strcmp(hex, u->id) == 0)
				return 0;
			problem = VERIFY_CHECKSUM;
		}
	}
	if ((b = push((void **)&h->r->bad, &h->r->n_bad, sizeof(*b), e)) == NULL)
		return -1;
	snprintf(b->pack, sizeof(b->pack), "%s", u->id);
	snprintf(b->region, sizeof(b->region), "%s", region->name);
	snprintf(b->vault_id, sizeof(b->vault_id), "%s", u->vault_id);
	snprintf(b->machine_id, sizeof(b->machine_id), "%s", u->machine_id);
	b->problem = problem;
	b->size = u->size;
	b->size_found = st ? (int64_t)size : -1;
	return 1;
}

/* ---- one vault ---- */

/* An object of a machine and the pack (an index into the vault's list)
 * the catalog places it in. */
struct placed {
	struct objid id;
	size_t pack;
};

static int cmp_placed(const void *a, const void *b)
{
	return objid_cmp(&((const struct placed *)a)->id, &((const struct placed *)b)->id);
}

/* A machine's points with their references, read before its packs. */
struct mpoints {
	struct recovery_point *pts;
	size_t n;
	struct objid **refs; /* per point; NULL: the catalog holds none */
	size_t *n_refs;
};

static void mpoints_free(struct mpoints *m)
{
	for (size_t i = 0; i < m->n && m->refs; i++)
		free(m->refs[i]);
	free(m->refs);
	free(m->n_refs);
	free(m->pts);
	memset(m, 0, sizeof(*m));
}

static int mpoints_read(struct service *s, const char *machine_id, struct mpoints *m,
			struct err *e)
{
	memset(m, 0, sizeof(*m));
	if (catalog_point_list(s->cat, machine_id, true, &m->pts, &m->n, e) != 0)
		return -1;
	if ((m->refs = calloc(m->n ? m->n : 1, sizeof(*m->refs))) == NULL ||
	    (m->n_refs = calloc(m->n ? m->n : 1, sizeof(*m->n_refs))) == NULL)
		return err_oom(e);
	for (size_t i = 0; i < m->n; i++) {
		struct err le;

		if (catalog_point_refs(s->cat, machine_id, m->pts[i].id, &m->refs[i], &m->n_refs[i],
				       &le) == 0)
			continue;
		/* No references: damage, told by judge_points (a soft-deleted point
		 * purged while this ran shows so too; a second run tells). */
		if (le.code != ERR_NOT_FOUND) {
			if (e)
				*e = le;
			return -1;
		}
		m->refs[i] = NULL;
	}
	return 0;
}

/* Name the damaged points of machine M of vault V into R: PL (NP) are the
 * machine's placed objects, sorted; BAD[k] whether pack k of the vault's
 * list has a bad copy. */
static int judge_points(const struct vault *v, const struct machine *m, const struct mpoints *mp,
			const struct placed *pl, size_t np, const bool *bad,
			struct verify_report *r, struct err *e)
{
	for (size_t i = 0; i < mp->n; i++) {
		int64_t damaged = 0, unplaced = 0;
		bool lost = mp->refs[i] == NULL;
		struct verify_point *p;

		r->points++;
		for (size_t j = 0; !lost && j < mp->n_refs[i]; j++) {
			struct placed key = { .id = mp->refs[i][j] };
			const struct placed *hit = np ? bsearch(&key, pl, np, sizeof(*pl), cmp_placed)
						      : NULL;

			if (hit == NULL)
				unplaced++;
			else if (bad[hit->pack])
				damaged++;
		}
		if (!lost && damaged == 0 && unplaced == 0)
			continue;
		if ((p = push((void **)&r->damaged, &r->n_damaged, sizeof(*p), e)) == NULL)
			return -1;
		snprintf(p->vault_id, sizeof(p->vault_id), "%s", v->id);
		snprintf(p->vault, sizeof(p->vault), "%s", v->name);
		snprintf(p->machine_id, sizeof(p->machine_id), "%s", m->id);
		snprintf(p->machine, sizeof(p->machine), "%s", m->name);
		snprintf(p->point_id, sizeof(p->point_id), "%s", mp->pts[i].id);
		p->created = mp->pts[i].created;
		p->deleted = mp->pts[i].deleted;
		p->objects_damaged = damaged;
		p->objects_unplaced = unplaced;
		p->refs_lost = lost;
	}
	return 0;
}

/* The placed objects of machine MACHINE_ID: the objects of each of its
 * packs in U (N), sorted by id, into *OUT (*N_OUT). */
static int machine_objects(struct service *s, const char *machine_id, const struct pack_use *u,
			   size_t n, struct placed **out, size_t *n_out, struct err *e)
{
	*out = NULL;
	*n_out = 0;
	for (size_t k = 0; k < n; k++) {
		struct pack_obj *o = NULL;
		size_t no = 0;
		struct placed *grown;

		if (strcmp(u[k].machine_id, machine_id) != 0)
			continue;
		if (catalog_pack_objects(s->cat, machine_id, u[k].id, &o, &no, e) != 0)
			return -1;
		if (no && (no > SIZE_MAX / sizeof(**out) - *n_out ||
			   (grown = realloc(*out, (*n_out + no) * sizeof(**out))) == NULL)) {
			free(o);
			return err_oom(e);
		} else if (no) {
			*out = grown;
		}
		for (size_t i = 0; i < no; i++) {
			(*out)[*n_out].id = o[i].id;
			(*out)[(*n_out)++].pack = k;
		}
		free(o);
	}
	if (*n_out)
		qsort(*out, *n_out, sizeof(**out), cmp_placed);
	return 0;
}

struct vault_state {
	struct machine *m;
	size_t nm;
	struct mpoints *mp;
	struct pack_use *u;
	size_t nu;
	bool *bad;
	struct placed *pl;
};

static void vault_state_free(struct vault_state *vs)
{
	for (size_t i = 0; i < vs->nm && vs->mp; i++)
		mpoints_free(&vs->mp[i]);
	free(vs->mp);
	free(vs->m);
	free(vs->u);
	free(vs->bad);
	free(vs->pl);
	memset(vs, 0, sizeof(*vs));
}

/* The packs of GRS vault V waiting in the replication queue, into OUT. */
static int pending_read(struct service *s, const struct vault *v, struct idset *out,
			struct err *e)
{
	struct replica *q = NULL;
	size_t n = 0;
	int rc = 0;

	if (catalog_replica_list(s->cat, v->id, INT64_MAX, 0, &q, &n, e) != 0)
		return err_prefix(e, "verify: vault %s's replication queue: ", v->name);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = idset_add(out, q[i].pack, e);
	free(q);
	if (rc == 0)
		idset_sort(out);
	return rc;
}

/* The regions holding vault V's copies into REG (2 at most); how many. */
static size_t vault_regions(struct service *s, const struct vault *v, const struct region **reg,
			    struct err *e)
{
	const char *pair;
	size_t n = 0;

	if ((reg[0] = service_region(s, v->region)) == NULL) {
		err_set(e, ERR_INVALID, "vault %s is in region %s, which arcad.json does not "
			"configure; add the region back to check its packs", v->name, v->region);
		return 0;
	}
	n = 1;
	if (strcmp(v->redundancy, "GRS") == 0 && (pair = service_pair_of(s, v->region)) != NULL &&
	    (reg[1] = service_region(s, pair)) != NULL)
		n = 2;
	return n;
}

static int check_vault(struct service *s, const struct verify_opts *o, const struct vault *v,
		       struct verify_report *r, struct hashing *h, struct err *e)
{
	struct vault_state vs = { 0 };
	struct idset pend = { 0 };
	const struct region *reg[2];
	size_t nreg, np;
	int rc = -1;

	if ((nreg = vault_regions(s, v, reg, e)) == 0)
		return -1;
	r->vaults++;
	/* Points and their references first: a pack recorded after them only
	 * adds places. */
	if (catalog_machine_list(s->cat, v->id, &vs.m, &vs.nm, e) != 0)
		goto out;
	if ((vs.mp = calloc(vs.nm ? vs.nm : 1, sizeof(*vs.mp))) == NULL) {
		err_oom(e);
		goto out;
	}
	for (size_t i = 0; i < vs.nm; i++)
		if (mpoints_read(s, vs.m[i].id, &vs.mp[i], e) != 0)
			goto out;
	if (catalog_pack_usage(s->cat, v->id, &vs.u, &vs.nu, e) != 0)
		goto out;
	if ((vs.bad = calloc(vs.nu ? vs.nu : 1, sizeof(*vs.bad))) == NULL) {
		err_oom(e);
		goto out;
	}
	/* The queue after the packs: a pack listed above is either still
	 * queued now, or its copy was made before this read. */
	if (nreg == 2 && pending_read(s, v, &pend, e) != 0)
		goto out;
	r->packs += (int64_t)vs.nu;
	h->copies_total += (int64_t)(vs.nu * nreg);
	for (size_t k = 0; k < vs.nu; k++)
		r->bytes_total += vs.u[k].size * (int64_t)nreg;
	for (size_t k = 0; k < vs.nu; k++) {
		for (size_t g = 0; g < nreg; g++) {
			int st;

			if (g == 1 && idset_has(&pend, vs.u[k].id)) {
				if ((st = store_stat(reg[g]->store, vs.u[k].id, NULL, e)) < 0) {
					err_prefix(e, "verify: pack %s in region %s: ", vs.u[k].id,
						   reg[g]->name);
					goto out;
				}
				if (st == 0) {
					r->pending++;
					r->copies++;
					continue;
				}
			}
			st = check_copy(reg[g], &vs.u[k], h, e);

			if (st < 0)
				goto out;
			if (st == 1)
				vs.bad[k] = true;
			r->copies++;
			if (o->progress)
				o->progress(o->arg, r->copies, h->copies_total, r->bytes,
					    r->bytes_total);
		}
	}
	for (size_t i = 0; i < vs.nm; i++) {
		r->machines++;
		free(vs.pl);
		vs.pl = NULL;
		if (machine_objects(s, vs.m[i].id, vs.u, vs.nu, &vs.pl, &np, e) != 0 ||
		    judge_points(v, &vs.m[i], &vs.mp[i], vs.pl, np, vs.bad, r, e) != 0)
			goto out;
	}
	rc = 0;
out:
	free(pend.ids);
	vault_state_free(&vs);
	return rc;
}

/* ---- strays ---- */

struct listing {
	const struct idset *known;
	struct idset found; /* not known */
};

static int list_one(void *arg, const char *id, struct err *e)
{
	struct listing *l = arg;

	return idset_has(l->known, id) ? 0 : idset_add(&l->found, id, e);
}

/* List each store of the regions REG (N, no duplicates) for packs the
 * catalog neither lists nor waits to delete, into R. */
static int find_strays(struct service *s, const struct region *const *reg, size_t n,
		       struct verify_report *r, struct err *e)
{
	struct idset known, again = { 0 };
	int rc = -1;

	if (catalog_packs(s, &known, e) != 0)
		return -1;
	for (size_t g = 0; g < n; g++) {
		struct listing l = { &known, { 0 } };

		if (store_list(reg[g]->store, list_one, &l, e) != 0) {
			free(l.found.ids);
			err_prefix(e, "verify: listing the store of region %s: ", reg[g]->name);
			goto out;
		}
		/* Asked once more: an upload recorded while the store was listed. */
		free(again.ids);
		memset(&again, 0, sizeof(again));
		if (l.found.n && catalog_packs(s, &again, e) != 0) {
			free(l.found.ids);
			goto out;
		}
		for (size_t i = 0; i < l.found.n; i++) {
			struct verify_stray *st;
			uint64_t size = 0;
			int there;

			if (idset_has(&again, l.found.ids[i]))
				continue;
			if ((there = store_stat(reg[g]->store, l.found.ids[i], &size, e)) < 0) {
				free(l.found.ids);
				goto out;
			}
			if (there == 0)
				continue; /* removed since the listing */
			if ((st = push((void **)&r->strays, &r->n_strays, sizeof(*st), e)) == NULL) {
				free(l.found.ids);
				goto out;
			}
			snprintf(st->pack, sizeof(st->pack), "%s", l.found.ids[i]);
			snprintf(st->region, sizeof(st->region), "%s", reg[g]->name);
			st->size = (int64_t)size;
		}
		free(l.found.ids);
	}
	rc = 0;
out:
	free(known.ids);
	free(again.ids);
	return rc;
}

int verify_run(struct service *s, const struct verify_opts *o, struct verify_report *r,
	       struct err *e)
{
	struct vault *v = NULL;
	size_t nv = 0, nstores = 0;
	const struct region *stores[SERVICE_REGIONS_MAX];
	struct hashing h = { 0 };
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (o->vault) {
		if ((v = malloc(sizeof(*v))) == NULL)
			return err_oom(e);
		if (catalog_vault_get(s->cat, o->subscription, o->vault, v, e) != 0)
			goto out;
		nv = 1;
	} else if (catalog_vault_list(s->cat, o->subscription, &v, &nv, e) != 0) {
		goto out;
	}
	if ((h.md = EVP_MD_CTX_new()) == NULL) {
		err_oom(e);
		goto out;
	}
	h.r = r;
	h.o = o;
	for (size_t i = 0; i < nv; i++) {
		const struct region *reg[2];
		size_t n = vault_regions(s, &v[i], reg, e);

		if (n == 0)
			goto out;
		for (size_t g = 0; g < n; g++) {
			size_t j;

			for (j = 0; j < nstores && stores[j] != reg[g]; j++)
				;
			if (j == nstores)
				stores[nstores++] = reg[g];
		}
		if (check_vault(s, o, &v[i], r, &h, e) != 0)
			goto out;
	}
	/* Without a vault named, every configured store is listed: a stray may
	 * be in a region no vault uses any more. */
	if (o->vault == NULL)
		for (size_t g = 0; g < s->n_regions; g++) {
			size_t j;

			for (j = 0; j < nstores && stores[j] != &s->regions[g]; j++)
				;
			if (j == nstores)
				stores[nstores++] = &s->regions[g];
		}
	if (find_strays(s, stores, nstores, r, e) != 0)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(h.md);
	free(v);
	return rc;
}

bool verify_clean(const struct verify_report *r)
{
	return r->n_bad == 0 && r->n_strays == 0 && r->n_damaged == 0;
}

const char *verify_problem_name(enum verify_problem p)
{
	switch (p) {
	case VERIFY_MISSING:
		return "missing";
	case VERIFY_SIZE:
		return "size";
	case VERIFY_CHECKSUM:
		return "checksum";
	}
	return "?";
}

void verify_report_free(struct verify_report *r)
{
	free(r->bad);
	free(r->strays);
	free(r->damaged);
	memset(r, 0, sizeof(*r));
}
