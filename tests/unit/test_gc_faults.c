/*
 * test_gc_faults.c: the service's own space collector (gc_run, not a copy
 * of its logic) over a catalog whose database fails at each I/O in turn.
 *
 * One machine of a GRS vault holds three packs: one a recovery point needs
 * whole, one it needs a quarter of (to be rewritten) and one it needs none
 * of (to be dropped). For N = 1, 2, ... a fresh copy of the catalog and of
 * both regions' stores is collected with the Nth I/O failing, until a pass
 * no longer reaches the Nth. After every pass, read again without faults,
 * every object the point references must still be listed in a pack whose
 * file is in both stores: a failed read never makes the collector drop
 * what a point needs. A pass that succeeds does no more than a pass
 * without faults; a pass whose first catalog read fails drops nothing.
 * The number of fault points tried is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "catalog.h"
#include "catalog_sqlite.h"
#include "gc.h"
#include "keys.h"
#include "objid.h"
#include "pack.h"
#include "service.h"
#include "store.h"

#include "fault_vfs.h"

#define T0 1000000
#define DAY 86400
#define PER_PACK 4

/* gc.c finds a vault's stores among the service's regions. */
const struct region *service_region(const struct service *s, const char *name)
{
	for (size_t i = 0; i < s->n_regions; i++)
		if (strcmp(s->regions[i].name, name) == 0)
			return &s->regions[i];
	return NULL;
}

static char dir[64];
static catalog_id machine;
static struct objid live[PER_PACK + 1]; /* what the point references */
static size_t n_live;

static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	assert_int_equal(system(cmd), 0);
}

/* A pack of PER_PACK sealed objects, put into both stores and listed;
 * its ids into IDS. */
static void make_pack(struct catalog *c, struct store *st[2], const struct keys *k,
		      struct objid ids[PER_PACK])
{
	struct pack_writer *w = pack_writer_new(k, 1, NULL);
	struct buf out = BUF_INIT;
	uint8_t pid[PACK_ID_LEN], data[2000];
	struct pack_entry ents[PER_PACK];
	char hex[65];

	assert_non_null(w);
	for (int i = 0; i < PER_PACK; i++) {
		randombytes_buf(data, sizeof(data));
		objid_compute(k, data, sizeof(data), &ids[i]);
		assert_int_equal(pack_writer_add(w, OBJECT_DATA, &ids[i], data, sizeof(data), NULL), 0);
	}
	/* The table as written: finishing the pack consumes the writer's. */
	memcpy(ents, pack_writer_entries(w), sizeof(ents));
	assert_int_equal(pack_writer_finish(w, &out, pid, NULL), 0);
	sodium_bin2hex(hex, sizeof(hex), pid, sizeof(pid));
	for (int i = 0; i < 2; i++)
		assert_int_equal(store_put_mem(st[i], hex, out.data, out.len, NULL), 0);
	assert_int_equal(catalog_pack_add(c, machine, hex, out.len, ents, PER_PACK, T0, NULL), 0);
	pack_writer_free(w);
	buf_free(&out);
}

/* The catalog and stores every pass starts from, in DIR/seed. */
static void seed(void)
{
	char path[128], root[2][128];
	uint8_t master[KEY_LEN], blob[KEYS_WRAPPED_LEN] = { 0 };
	struct objid whole[PER_PACK], quarter[PER_PACK], dead[PER_PACK];
	char hex[PER_PACK + 1][OBJID_HEX_LEN + 1];
	const char *ids[PER_PACK + 1];
	struct registration r = { 0 };
	struct recovery_point rp;
	struct store *st[2];
	struct catalog *c;
	struct keys *k;
	struct vault v = { 0 };
	struct machine m;
	catalog_id sub;
	struct err e;
	bool again;

	sh("mkdir -p %s/seed/r1 %s/seed/r2", dir, dir);
	snprintf(path, sizeof(path), "%s/seed/catalog.db", dir);
	assert_non_null(c = catalog_sqlite_open(path, NULL, NULL));
	assert_int_equal(catalog_subscription_create(c, "s", T0, sub, NULL), 0);
	catalog_new_id(v.id);
	strcpy(v.subscription, sub);
	strcpy(v.name, "vault-a");
	strcpy(v.region, "r1");
	strcpy(v.redundancy, "GRS");
	assert_int_equal(catalog_vault_create(c, &v, "cert", "key", NULL), 0);
	assert_int_equal(catalog_credential_add(c, v.id, "01", "fp", "cert", T0, T0 + DAY, NULL), 0);
	r.vault_id = v.id, r.credential_fingerprint = "fp", r.name = "m1";
	r.public_key_pem = "pub", r.cert_pem = "cert", r.wrapped_key = blob;
	r.wrapped_len = sizeof(blob), r.key_id = "00", r.now = T0;
	assert_int_equal(catalog_machine_register(c, &r, &m, &again, NULL), 0);
	memcpy(machine, m.id, sizeof(machine));
	for (int i = 0; i < 2; i++) {
		snprintf(root[i], sizeof(root[i]), "%s/seed/r%d", dir, i + 1);
		assert_non_null(st[i] = store_fs_open(root[i], NULL));
	}
	randombytes_buf(master, sizeof(master));
	assert_non_null(k = keys_from_master(master, NULL));
	make_pack(c, st, k, whole);
	make_pack(c, st, k, quarter);
	make_pack(c, st, k, dead);
	memcpy(live, whole, sizeof(whole));
	live[PER_PACK] = quarter[0];
	n_live = PER_PACK + 1;
	for (size_t i = 0; i < n_live; i++) {
		objid_to_hex(&live[i], hex[i]);
		ids[i] = hex[i];
	}
	if (catalog_point_commit(c, machine, hex[0], NULL, ids, n_live, T0 + 1, &rp, &e) != 0)
		fail_msg("commit: %s", e.msg);
	keys_free(k);
	for (int i = 0; i < 2; i++)
		store_close(st[i]);
	catalog_close(c);
}

struct pass {
	int rc, fired;
	struct gc_stats st;
};

/* Collect a fresh copy of the seed with the FAIL-th I/O failing (0: none),
 * then check, without faults, that the point's objects all survived. */
static struct pass collect(long fail)
{
	char path[128], root[128];
	struct service s;
	struct pass p = { 0 };
	struct err e;
	bool found[PER_PACK + 1];
	struct object_loc loc[PER_PACK + 1];
	char hex[PER_PACK + 1][OBJID_HEX_LEN + 1];
	const char *ids[PER_PACK + 1];

	sh("rm -rf %s/run && cp -a %s/seed run", dir, dir); /* run: in DIR, the cwd */
	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/run/catalog.db", dir);
	s.n_regions = 2;
	for (int i = 0; i < 2; i++) {
		snprintf(s.regions[i].name, sizeof(s.regions[i].name), "r%d", i + 1);
		snprintf(s.regions[i].pair, sizeof(s.regions[i].pair), "r%d", 2 - i);
		snprintf(root, sizeof(root), "%s/run/r%d", dir, i + 1);
		assert_non_null(s.regions[i].store = store_fs_open(root, NULL));
	}
	io_count = 0, fired = 0, fail_at = fail;
	if ((s.cat = catalog_sqlite_open(path, "arca-fault", &e)) != NULL) {
		p.rc = gc_run(&s, NULL, T0 + 2, &p.st, &e);
		catalog_close(s.cat);
	} else {
		p.rc = -1;
	}
	p.fired = fired;
	fail_at = 0;
	/* Read back without faults: every referenced object is still listed,
	 * in a pack both stores hold. */
	assert_non_null(s.cat = catalog_sqlite_open(path, NULL, NULL));
	for (size_t i = 0; i < n_live; i++) {
		objid_to_hex(&live[i], hex[i]);
		ids[i] = hex[i];
	}
	assert_int_equal(catalog_objects_locate(s.cat, machine, ids, n_live, loc, found, NULL), 0);
	for (size_t i = 0; i < n_live; i++) {
		catalog_id owner;

		if (!found[i])
			fail_msg("fault %ld: object %zu of the point lost its record", fail, i);
		assert_int_equal(catalog_pack_owner(s.cat, loc[i].pack, owner, NULL), 0);
		for (int r = 0; r < 2; r++)
			if (store_stat(s.regions[r].store, loc[i].pack, NULL, NULL) != 1)
				fail_msg("fault %ld: pack %.16s of the point is gone from r%d", fail,
					 loc[i].pack, r + 1);
	}
	catalog_close(s.cat);
	for (int i = 0; i < 2; i++)
		store_close(s.regions[i].store);
	return p;
}

static void test_collector_under_faults(void **state)
{
	struct pass clean, p;
	long n, failed = 0;

	(void)state;
	strcpy(dir, "/tmp/arca-gc-faults-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	vfs_register();
	seed();
	clean = collect(0);
	assert_int_equal(clean.rc, 0);
	assert_true(clean.st.packs_dropped == 1 && clean.st.packs_rewritten == 1);
	for (n = 1;; n++) {
		p = collect(n);
		if (!p.fired)
			break;
		if (p.rc != 0) {
			failed++;
		} else {
			assert_true(p.st.packs_dropped <= clean.st.packs_dropped);
			assert_true(p.st.packs_rewritten <= clean.st.packs_rewritten);
		}
		if (n == 1) /* the first read failed: nothing is dropped */
			assert_true(p.rc != 0 && p.st.packs_dropped == 0 && p.st.packs_rewritten == 0);
	}
	printf("note: gc faults: %ld points tried, %ld passes failed, 0 objects a point needs "
	       "lost\n", n - 1, failed);
	assert_true(n > 10);
	sh("rm -rf %s%s", dir, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collector_under_faults),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
