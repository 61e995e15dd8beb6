/*
 * fuzz_s3_xml.c: the S3 store's readers of the server's XML answers (a
 * listing page, a multipart upload's start and completion, an error) on
 * any bytes. They may not crash, leak or read out of bounds; every id a
 * listing reports is 64 lowercase hex digits; a page that fails sets no
 * continuation token; an error code is short and printable.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_s3.h"

static int check_id(void *arg, const char *id, struct err *e)
{
	(void)arg;
	(void)e;
	if (strlen(id) != 64)
		abort();
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	char *next = (char *)1, *id, code[80];
	struct err e;

	if (store_s3_parse_list(xml, size, "packs/", check_id, NULL, &next, &e) != 0 && next)
		abort();
	free(next);
	if (store_s3_parse_list(xml, size, "", check_id, NULL, &next, &e) == 0)
		free(next);
	if ((id = store_s3_parse_upload_id(xml, size, &e)) != NULL && id[0] == 0)
		abort();
	free(id);
	(void)store_s3_parse_complete(xml, size, &e);
	store_s3_parse_error(xml, size, code, sizeof(code));
	for (const char *p = code; *p; p++)
		if (!isprint((unsigned char)*p))
			abort();
	if (strlen(code) > 64)
		abort();
	return 0;
}
