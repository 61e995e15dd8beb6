/*
 * store_s3.h: the store contract (store.h) on the S3 API: a bucket of an
 * object store (Ceph's RADOS Gateway, MinIO, AWS), each pack one object
 * named <prefix><id>. Requests are signed with libcurl's SigV4 and carry
 * the SHA-256 of their body, which the server checks; a pack's body hash
 * is its id, so the server refuses bytes that are not the pack.
 *
 * Packs above a size go up as multipart uploads, in parts read into memory
 * one at a time (the part size bounds a put's memory); smaller ones go up
 * in one PUT streamed from the reader. S3 makes an object visible whole or
 * not at all, and durable when the PUT (or the multipart completion) has
 * answered: that is the contract's atomicity and durability.
 *
 * The parsers of the server's XML answers are declared here too, for their
 * unit tests and fuzz target: everything the server sends is outside input.
 */
#ifndef ARCA_STORE_S3_H
#define ARCA_STORE_S3_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Defaults of the sizes below. */
#define STORE_S3_PART_SIZE (16ull << 20)       /* bytes a part of a multipart upload */
#define STORE_S3_MULTIPART_ABOVE (64ull << 20) /* packs larger go up in parts */
#define STORE_S3_PREFIX "packs/"

struct store_s3_config {
	const char *endpoint;   /* "http://host:port" or "https://host", no path */
	const char *bucket;     /* 3 to 63 of a-z, 0-9, '.', '-'; made if missing */
	const char *region;     /* the signing region ("default" on RGW, "us-east-1") */
	const char *access_key;
	const char *secret_key;
	const char *prefix;     /* key prefix; NULL: STORE_S3_PREFIX */
	uint64_t part_size;     /* 0: STORE_S3_PART_SIZE */
	uint64_t multipart_above; /* 0: STORE_S3_MULTIPART_ABOVE */
	int retries;            /* tries after the first on a 5xx or a network error; <0: 4 */
};

/* Open the bucket of C as a store (the strings are copied), creating the
 * bucket when it does not exist yet: the endpoint is asked at once, so a
 * wrong address, key or bucket is reported here. NULL with E set. */
struct store *store_s3_open(const struct store_s3_config *c, struct err *e);

/* ---- the server's answers (outside input) ---- */

/* Read one page of a ListObjectsV2 answer (LEN bytes of XML): call FN with
 * the id of every key that is PREFIX followed by a pack id (other keys are
 * not packs and are skipped). *NEXT is set to a new string (the caller
 * frees it) holding the continuation token when the listing goes on, NULL
 * when this was the last page. 0; -1 with E set for an answer that is not
 * such a page (ERR_CORRUPT), or when FN stops the listing. */
int store_s3_parse_list(const char *xml, size_t len, const char *prefix, store_list_fn fn,
			void *arg, char **next, struct err *e);

/* The UploadId of an InitiateMultipartUploadResult (LEN bytes of XML), a
 * new string the caller frees. NULL with E set (ERR_CORRUPT). */
char *store_s3_parse_upload_id(const char *xml, size_t len, struct err *e);

/* Whether LEN bytes of XML are a CompleteMultipartUploadResult: 0; -1 with
 * E set (ERR_CORRUPT, or the error the server put in a 200 answer). */
int store_s3_parse_complete(const char *xml, size_t len, struct err *e);

/* The <Code> of an S3 <Error> answer into CODE (CAP bytes, at least 1),
 * "" when the answer is not one. Never fails. */
void store_s3_parse_error(const char *xml, size_t len, char *code, size_t cap);

#endif
