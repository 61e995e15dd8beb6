/*
 * migrate.c: a whole service moved to other backends (migrate.h).
 *
 * Packs first: the copies to make are read from the source's catalog
 * (every listed pack in its vault's region and, for a GRS vault, in the
 * paired region, unless it is still queued for replication and the pair
 * has no copy yet; every pack waiting to be deleted that is still stored),
 * then each is copied by store_copy, which streams it from the source's
 * store in pieces, hashes it and fails the destination's put (which then
 * keeps nothing) unless the bytes hash to the pack's id; its size is
 * checked against the catalog's first. Then the catalog, table by table in the destination's order
 * (tables before those whose foreign keys reference them), in the one
 * transaction of catalog_rows_write, each table's rows digested on the
 * way. Last the destination is read back: each table's digest and number
 * of rows, each copy's size.
 */
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "catalog.h"
#include "service.h"
#include "store.h"

/* ---- the catalog ---- */

/* An order-free digest of a table's rows: the sum of each row's hash,
 * and their number. */
struct digest {
	uint64_t sum[2];
	int64_t rows;
};

static void digest_add(struct digest *d, const struct catalog_value *v, size_t n)
{
	crypto_generichash_state h;
	uint64_t out[2];

	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	for (size_t i = 0; i < n; i++) {
		uint8_t t = (uint8_t)v[i].type, len[8];

		crypto_generichash_update(&h, &t, 1);
		if (v[i].type == CATALOG_VINT) {
			for (int k = 0; k < 8; k++)
				len[k] = (uint8_t)((uint64_t)v[i].i >> (8 * k));
			crypto_generichash_update(&h, len, 8);
		} else if (v[i].type != CATALOG_VNULL) {
			for (int k = 0; k < 8; k++)
				len[k] = (uint8_t)((uint64_t)v[i].len >> (8 * k));
			crypto_generichash_update(&h, len, 8);
			crypto_generichash_update(&h, v[i].p, v[i].len);
		}
	}
	crypto_generichash_final(&h, (uint8_t *)out, sizeof(out));
	d->sum[0] += out[0];
	d->sum[1] += out[1];
	d->rows++;
}

static int digest_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	(void)e;
	digest_add(arg, v, n);
	return 0;
}

/* The source's and the destination's tables must be the same: names and
 * columns (both lists sorted the same way by their backends). */
static int same_tables(const struct catalog_table *a, size_t na, const struct catalog_table *b,
		       size_t nb, struct err *e)
{
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;

		while (j < nb && strcmp(a[i].name, b[j].name) != 0)
			j++;
		if (j == nb)
			return err_set(e, ERR_INVALID, "the destination's catalog has no table %s: "
				       "the two catalogs are of different arcad versions; run the same "
				       "arcad on both", a[i].name);
		if (a[i].ncols != b[j].ncols)
			return err_set(e, ERR_INVALID, "table %s has %zu columns in the source's "
				       "catalog and %zu in the destination's: the two catalogs are of "
				       "different arcad versions; run the same arcad on both",
				       a[i].name, a[i].ncols, b[j].ncols);
		for (size_t k = 0; k < a[i].ncols; k++)
			if (strcmp(a[i].cols[k], b[j].cols[k]) != 0)
				return err_set(e, ERR_INVALID, "table %s has column %s in one catalog "
					       "and %s in the other: the two catalogs are of different "
					       "arcad versions; run the same arcad on both", a[i].name,
					       a[i].cols[k], b[j].cols[k]);
	}
	if (na != nb)
		return err_set(e, ERR_INVALID, "the destination's catalog has %zu tables, the "
			       "source's %zu: the two catalogs are of different arcad versions; run "
			       "the same arcad on both", nb, na);
	return 0;
}

/* rows_read's stop at the first row of a table that should be empty. */
struct first_row {
	bool found;
};

static int first_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	(void)v;
	(void)n;
	((struct first_row *)arg)->found = true;
	return err_set(e, ERR_EXISTS, "a row");
}

struct fill {
	struct catalog *from;
	const struct catalog_table *t; /* the destination's, in its order */
	size_t n;
	struct digest *d;             /* per table of T, of what was put */
	struct catalog_sink *k;
	size_t at;                    /* the table being put */
};

static int put_row(void *arg, const struct catalog_value *v, size_t n, struct err *e)
{
	struct fill *f = arg;

	digest_add(&f->d[f->at], v, n);
	return f->k->put(f->k, f->t[f->at].name, v, n, e);
}

static int fill(void *arg, struct catalog_sink *k, struct err *e)
{
	struct fill *f = arg;

	/* The destination may run FILL again (a transaction it retried). */
	memset(f->d, 0, f->n * sizeof(*f->d));
	f->k = k;
	for (f->at = 0; f->at < f->n; f->at++)
		if (catalog_rows_read(f->from, f->t[f->at].name, put_row, f, e) != 0)
			return err_prefix(e, "copying table %s: ", f->t[f->at].name);
	return 0;
}

/* ---- the packs ---- */

struct copy {
	char pack[65];
	const struct region *from, *to;
	int64_t size; /* -1: a pack waiting to be deleted, at whatever size it is */
};

struct copies {
	struct copy *v;
	size_t n, cap;
};

static int copies_add(struct copies *c, const char *pack, const struct region *from,
		      const struct region *to, int64_t size, struct err *e)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct copy *v = cap < SIZE_MAX / sizeof(*v) ? realloc(c->v, cap * sizeof(*v)) : NULL;

		if (v == NULL)
			return err_oom(e);
		c->v = v;
		c->cap = cap;
	}
	snprintf(c->v[c->n].pack, sizeof(c->v[c->n].pack), "%s", pack);
	c->v[c->n].from = from;
	c->v[c->n].to = to;
	c->v[c->n].size = size;
	c->n++;
	return 0;
}

/* Region NAME of the source and the destination's of the same name. */
static int regions_of(struct service *from, struct service *to, const char *name,
		      const struct region **a, const struct region **b, struct err *e)
{
	if ((*a = service_region(from, name)) == NULL)
		return err_set(e, ERR_INVALID, "the source's catalog names region %s, which its "
			       "arcad.json does not have; put it back", name);
	if ((*b = service_region(to, name)) == NULL)
		return err_set(e, ERR_INVALID, "the destination's arcad.json has no region %s; add "
			       "it (a store for that region's packs)", name);
	return 0;
}

/* Every copy to make, from the source's catalog. */
static int list_copies(struct service *from, struct service *to, struct copies *c,
		       int64_t *packs, struct err *e)
{
	struct pack_use *u = NULL;
	struct doomed *d = NULL;
	struct vault *vaults = NULL;
	struct replica *q = NULL;
	size_t nu = 0, nd = 0, nv = 0, nq = 0;
	int rc = -1;

	if (catalog_pack_usage(from->cat, NULL, &u, &nu, e) != 0 ||
	    catalog_doomed_due(from->cat, INT64_MAX, &d, &nd, e) != 0 ||
	    catalog_replica_list(from->cat, NULL, INT64_MAX, 0, &q, &nq, e) != 0)
		goto out;
	*packs = (int64_t)nu;
	for (size_t i = 0; i < nu; i++) {
		const struct region *a, *b;
		const char *pair;
		size_t k = 0;
		bool queued;

		while (k < nv && strcmp(vaults[k].id, u[i].vault_id) != 0)
			k++;
		if (k == nv) {
			struct vault *nvv = realloc(vaults, (nv + 1) * sizeof(*vaults));

			if (nvv == NULL) {
				err_oom(e);
				goto out;
			}
			vaults = nvv;
			if (catalog_vault_by_id(from->cat, u[i].vault_id, &vaults[nv], e) != 0)
				goto out;
			nv++;
		}
		if (regions_of(from, to, vaults[k].region, &a, &b, e) != 0 ||
		    copies_add(c, u[i].id, a, b, u[i].size, e) != 0)
			goto out;
		/* A pack still queued for GRS replication may have no pair copy
		 * yet: copied when it has one (its size unchecked, as a doomed
		 * pack's), else left to the destination's replicator, whose
		 * queue row the catalog's copy carries over. */
		queued = false;
		for (size_t j = 0; j < nq && !queued; j++)
			queued = strcmp(q[j].pack, u[i].id) == 0;
		if (strcmp(vaults[k].redundancy, "GRS") == 0 &&
		    (pair = service_pair_of(from, vaults[k].region)) != NULL &&
		    (regions_of(from, to, pair, &a, &b, e) != 0 ||
		     copies_add(c, u[i].id, a, b, queued ? -1 : u[i].size, e) != 0))
			goto out;
	}
	for (size_t i = 0; i < nd; i++) {
		const char *where[2] = { d[i].region, d[i].pair };

		for (int k = 0; k < 2; k++) {
			const struct region *a, *b;

			if (where[k][0] == 0)
				continue;
			if (regions_of(from, to, where[k], &a, &b, e) != 0 ||
			    copies_add(c, d[i].pack, a, b, -1, e) != 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(u);
	free(d);
	free(q);
	free(vaults);
	return rc;
}

/* Make copy C: 1 when the destination had it at its size already, 0 when
 * copied (adding its bytes to *BYTES), 2 for a pack waiting to be deleted
 * (or a pair copy still queued for replication) that the source does not
 * store; -1 with E set. */
static int copy_one(const struct copy *c, int64_t *bytes, struct err *e)
{
	uint64_t size = 0, have = 0;
	int st;

	if ((st = store_stat(c->from->store, c->pack, &size, e)) < 0)
		return err_prefix(e, "pack %s in region %s of the source: ", c->pack, c->from->name);
	if (st == 0) {
		if (c->size < 0)
			return 2;
		return err_set(e, ERR_NOT_FOUND, "pack %s is missing from region %s of the source; "
			       "run `arcad verify` on the source, and `arcad pack forget` what it "
			       "finds lost, before migrating", c->pack, c->from->name);
	}
	if (c->size >= 0 && size != (uint64_t)c->size)
		return err_set(e, ERR_CORRUPT, "pack %s in region %s of the source has %llu bytes, "
			       "not the catalog's %lld; run `arcad verify` on the source", c->pack,
			       c->from->name, (unsigned long long)size, (long long)c->size);
	if ((st = store_stat(c->to->store, c->pack, &have, e)) < 0)
		return err_prefix(e, "pack %s in region %s of the destination: ", c->pack,
				  c->to->name);
	if (st == 1 && have == size)
		return 1;
	/* A copy of another size (damaged) goes; store_copy keeps one there. */
	if (st == 1 && store_remove(c->to->store, c->pack, e) != 0)
		return err_prefix(e, "pack %s in region %s of the destination, of the wrong size: ",
				  c->pack, c->to->name);
	/* The bytes are hashed on the way; a damaged source is never copied. */
	if (store_copy(c->from->store, c->to->store, c->pack, e) != 0) {
		if (e->code == ERR_INVALID || e->code == ERR_NOT_FOUND) {
			char why[sizeof(e->msg)];

			snprintf(why, sizeof(why), "%s", e->msg);
			return err_set(e, ERR_CORRUPT, "pack %s in region %s of the source is damaged "
				       "(%s); run `arcad verify` on the source", c->pack,
				       c->from->name, why);
		}
		return err_prefix(e, "copying pack %s to region %s: ", c->pack, c->to->name);
	}
	*bytes += (int64_t)size;
	return 0;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the whole ---- */

int migrate_check(struct service *from, struct service *to, struct catalog_table **tables,
		  size_t *n, struct err *e)
{
	struct catalog_table *ta = NULL, *tb = NULL;
	size_t na = 0, nb = 0;
	int rc = -1;

	for (size_t i = 0; i < from->n_regions; i++) {
		const struct region *g = service_region(to, from->regions[i].name);

		if (g == NULL) {
			err_set(e, ERR_INVALID, "the destination's arcad.json has no region %s; add "
				"it (a store for that region's packs)", from->regions[i].name);
			goto out;
		}
		if (strcmp(g->pair, from->regions[i].pair) != 0) {
			err_set(e, ERR_INVALID, "region %s is paired with \"%s\" in the source's "
				"arcad.json and with \"%s\" in the destination's; GRS copies go to "
				"the pair: make them the same", g->name, from->regions[i].pair,
				g->pair);
			goto out;
		}
	}
	if (catalog_tables(from->cat, &ta, &na, e) != 0 ||
	    catalog_tables(to->cat, &tb, &nb, e) != 0 || same_tables(ta, na, tb, nb, e) != 0)
		goto out;
	for (size_t i = 0; i < nb; i++) {
		struct first_row fr = { false };
		struct err le;

		if (catalog_rows_read(to->cat, tb[i].name, first_row, &fr, &le) != 0) {
			if (fr.found)
				err_set(e, ERR_EXISTS, "the destination's catalog is not empty (table %s "
					"holds rows): migrate only into a new catalog (an empty "
					"PostgreSQL database, or a data folder without catalog.db)",
					tb[i].name);
			else if (e)
				*e = le;
			goto out;
		}
	}
	rc = 0;
out:
	catalog_tables_free(ta, na);
	if (rc == 0 && tables) {
		*tables = tb;
		*n = nb;
	} else {
		catalog_tables_free(tb, nb);
	}
	return rc;
}

int migrate_run(struct service *from, struct service *to, migrate_progress_fn progress,
		void *arg, struct migrate_report *r, struct err *e)
{
	struct catalog_table *tb = NULL;
	size_t nb = 0;
	struct copies c = { NULL, 0, 0 };
	struct digest *put = NULL, got;
	struct timespec t0;
	int64_t bytes_total = 0;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (migrate_check(from, to, &tb, &nb, e) != 0)
		goto out;
	if (list_copies(from, to, &c, &r->packs, e) != 0)
		goto out;
	for (size_t i = 0; i < c.n; i++)
		bytes_total += c.v[i].size > 0 ? c.v[i].size : 0;

	/* The packs. */
	for (size_t i = 0; i < c.n; i++) {
		int st = copy_one(&c.v[i], &r->bytes, e);

		if (st < 0)
			goto out;
		if (st == 0)
			r->copied++;
		else if (st == 1)
			r->skipped++;
		if (progress)
			progress(arg, (int64_t)i + 1, (int64_t)c.n, r->bytes, bytes_total);
	}

	/* The catalog, in one transaction. */
	if ((put = calloc(nb ? nb : 1, sizeof(*put))) == NULL) {
		err_oom(e);
		goto out;
	}
	{
		struct fill f = { from->cat, tb, nb, put, NULL, 0 };

		if (catalog_rows_write(to->cat, fill, &f, e) != 0)
			goto out;
	}

	/* The check: what the destination holds now. */
	for (size_t i = 0; i < nb; i++) {
		memset(&got, 0, sizeof(got));
		if (catalog_rows_read(to->cat, tb[i].name, digest_row, &got, e) != 0)
			goto out;
		if (got.rows != put[i].rows || got.sum[0] != put[i].sum[0] ||
		    got.sum[1] != put[i].sum[1]) {
			err_set(e, ERR_CORRUPT, "table %s of the destination holds %lld rows after "
				"the copy of %lld, or not the same ones", tb[i].name,
				(long long)got.rows, (long long)put[i].rows);
			goto out;
		}
		r->rows += got.rows;
	}
	r->tables = (int64_t)nb;
	for (size_t i = 0; i < c.n; i++) {
		uint64_t size = 0;
		int st = store_stat(c.v[i].to->store, c.v[i].pack, &size, e);

		if (st < 0)
			goto out;
		if (c.v[i].size < 0 && st == 0)
			continue; /* waiting to be deleted, or to be replicated, and not in the source */
		if (st == 0 || (c.v[i].size >= 0 && size != (uint64_t)c.v[i].size)) {
			err_set(e, ERR_CORRUPT, "pack %s is %s in region %s of the destination after "
				"the copy", c.v[i].pack, st ? "of another size" : "missing",
				c.v[i].to->name);
			goto out;
		}
		r->copies++;
	}
	rc = 0;
out:
	r->seconds = since(&t0);
	free(put);
	free(c.v);
	catalog_tables_free(tb, nb);
	return rc;
}
