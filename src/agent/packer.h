/*
 * packer.h: the back half of a backup. Objects go in as plaintext; worker
 * threads compress and seal them (object_seal), one pack writer gathers the
 * sealed objects into packs of up to 8 MiB, and an upload thread sends
 * finished packs to the service while the workers seal the next ones. The
 * caller (reading and chunking files) is never held up except when all of
 * this is behind, which bounds the memory in flight.
 */
#ifndef ARCA_AGENT_PACKER_H
#define ARCA_AGENT_PACKER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "objid.h"
#include "state.h"

struct pobj {
	struct objid id;
	uint8_t kind;     /* enum object_kind */
	struct buf plain; /* owned by the packer once given */
};

struct packer;
struct tree_cache;

/* A packer for S's machine with WORKERS sealing threads, keeping a copy of
 * each sealed tree and record in TC (not owned; NULL for none). NULL with
 * E set. */
struct packer *packer_new(const struct state *s, struct tree_cache *tc, int workers,
			  struct err *e);
/* Hand over N objects that this machine may not have stored yet (their
 * plaintexts move to the packer; OBJS[i].plain is left empty); the objects
 * the service holds already are dropped. Blocks while the workers are behind. -1 with the first
 * failure of a worker or an upload. */
int packer_put(struct packer *p, struct pobj *objs, size_t n, struct err *e);
/* An empty buffer for the next object's plaintext: one whose object the
 * workers have sealed, kept for reuse (its memory is already mapped), or a
 * new one. The caller owns it (hand it over in packer_put, or buf_free). */
struct buf packer_buf(struct packer *p);
/* Seal, pack and upload everything handed over, then stop the threads.
 * Fills the bytes and packs uploaded. 0, or -1 with the first failure. */
int packer_finish(struct packer *p, uint64_t *bytes, uint64_t *packs, struct err *e);
/* Stop (if not finished) and release. P may be NULL. */
void packer_free(struct packer *p);

#endif
