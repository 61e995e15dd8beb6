/*
 * portal_files.h: the portal's static files, embedded in arcad at build time
 * (scripts/embed-files writes the table from src/service/portal/). Looking a
 * URL up in this table is the only way a page is found: no URL ever becomes
 * a file system path, so there is nothing to traverse.
 */
#ifndef ARCA_PORTAL_FILES_H
#define ARCA_PORTAL_FILES_H

#include <stddef.h>

struct portal_file {
	const char *path;         /* URL path, e.g. "/app.js" */
	const char *content_type; /* with charset for text */
	const unsigned char *data;
	size_t len;
	const char *etag;         /* quoted, from the content's SHA-256 */
};

extern const struct portal_file portal_files[];
extern const size_t portal_files_count;

#endif
