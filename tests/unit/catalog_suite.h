/*
 * catalog_suite.h: what the catalog's tests share: the backend under test
 * (OPENER), a fixture with one subscription, vault and registered machine
 * on it, and helpers that store packs and commit points. The conformance
 * suite (test_catalog.c) runs every backend's opener through the same
 * tests; a backend's own tests (test_catalog_sqlite.c) use its opener alone.
 */
#ifndef ARCA_TEST_CATALOG_SUITE_H
#define ARCA_TEST_CATALOG_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "keys.h"
#include "pack.h"

#define DAY 86400

/* How a test opens a backend's catalog at WHERE (made under the test's
 * own folder: a file for SQLite), fresh or again. */
struct catalog_opener {
	const char *name;
	struct catalog *(*open)(const char *where, struct err *e);
	const struct catalog_ops *ops; /* its backend, to open with other rules */
};

static const struct catalog_opener *opener; /* the backend under test */

struct fx {
	char dir[64], path[96];
	struct catalog *c;
	catalog_id sub;
	struct vault v;
	struct machine m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct registration r;
	uint8_t blob[KEYS_WRAPPED_LEN] = { 0 };
	bool again;

	strcpy(f->dir, "/tmp/arca-catalog-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	f->c = opener->open(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(catalog_subscription_create(f->c, "s", 1000, f->sub, NULL), 0);
	catalog_new_id(f->v.id);
	strcpy(f->v.subscription, f->sub);
	strcpy(f->v.name, "vault-a");
	strcpy(f->v.region, "local-1");
	strcpy(f->v.redundancy, "GRS");
	assert_int_equal(catalog_vault_create(f->c, &f->v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(f->c, f->v.id, "01", "fp1", "cert", 1000, 1000 + 2 * DAY, NULL), 0);
	memset(&r, 0, sizeof(r));
	r.vault_id = f->v.id, r.credential_fingerprint = "fp1", r.name = "m1";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = 1000;
	assert_int_equal(catalog_machine_register(f->c, &r, &f->m, &again, NULL), 0);
	assert_false(again);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	catalog_close(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Store one pack with one object and commit a point on it at T. */
__attribute__((unused)) static void commit_point(struct fx *f, int64_t t, struct recovery_point *rp)
{
	struct pack_entry ent;
	char hex[OBJID_HEX_LEN + 1], pack[65];
	const char *ids[1] = { hex };

	memset(&ent, 0, sizeof(ent));
	ent.id.b[0] = 0xab;
	ent.kind = 1, ent.offset = 16, ent.length = 100;
	objid_to_hex(&ent.id, hex);
	memset(pack, 'c', 64);
	pack[64] = 0;
	assert_int_equal(catalog_pack_add(f->c, f->m.id, pack, 1000, &ent, 1, t, NULL), 0);
	assert_int_equal(catalog_point_commit(f->c, f->m.id, hex, NULL, ids, 1, t, rp, NULL), 0);
	assert_true(rp->created == t);
}

/* Store pack PACK_CH (its id 64 times that letter) holding objects with
 * first bytes FIRST[0..N). */
__attribute__((unused)) static void add_pack(struct fx *f, char pack_ch, const uint8_t *first, size_t n, char *pack)
{
	struct pack_entry ents[8];

	memset(ents, 0, sizeof(ents));
	for (size_t i = 0; i < n; i++) {
		ents[i].id.b[0] = first[i];
		ents[i].kind = 1, ents[i].offset = 16 + 100 * i, ents[i].length = 100;
	}
	memset(pack, pack_ch, 64);
	pack[64] = 0;
	assert_int_equal(catalog_pack_add(f->c, f->m.id, pack, 1000, ents, n, 1000, NULL), 0);
}

/* Commit a point referencing the objects with first bytes FIRST[0..N). */
__attribute__((unused)) static void commit_refs(struct fx *f, const uint8_t *first, size_t n, int64_t t,
			struct recovery_point *rp)
{
	char hex[8][OBJID_HEX_LEN + 1];
	const char *ids[8];

	for (size_t i = 0; i < n; i++) {
		struct objid id;

		memset(&id, 0, sizeof(id));
		id.b[0] = first[i];
		objid_to_hex(&id, hex[i]);
		ids[i] = hex[i];
	}
	assert_int_equal(catalog_point_commit(f->c, f->m.id, "m", NULL, ids, n, t, rp, NULL), 0);
}

#endif
