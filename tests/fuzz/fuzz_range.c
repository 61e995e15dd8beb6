/*
 * fuzz_range.c: the HTTP module's reading of a Range header (any client's
 * bytes) against resources of several sizes. It may not crash or read out
 * of bounds; a range it takes lies inside the resource (FIRST <= LAST <
 * SIZE); it refuses or finds unsatisfiable everything else, and leaves the
 * outputs alone then.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 10, 1u << 20, UINT64_MAX };
	char *text;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t first = 7, last = 7;
		int rc = http_range_parse(text, sizes[i], &first, &last);

		if (rc == 0 && !(first <= last && last < sizes[i]))
			abort();
		if (rc != 0 && (first != 7 || last != 7))
			abort();
		if (rc < -1 || rc > 1)
			abort();
	}
	free(text);
	return 0;
}
