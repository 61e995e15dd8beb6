/*
 * fuzz_kit.c: the second passphrase's kit reader (kit_parse) on arbitrary
 * bytes. A key it accepts must have a sound shape (keys_wrapped_key_id),
 * and must come back the same from the kit text kit_format writes for it
 * and from the raw form; a refusal must say why with one of its documented
 * codes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

/* Undefined behaviour is a finding, not a warning: stop at the first. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t blob[KEYS_WRAPPED_LEN], again[KEYS_WRAPPED_LEN], id[KEY_ID_LEN];
	struct buf text = BUF_INIT;
	struct err e;

	if (kit_parse(data, size, blob, &e) != 0) {
		if (e.msg[0] == 0 ||
		    (e.code != ERR_CORRUPT && e.code != ERR_INVALID && e.code != ERR_TOO_LARGE &&
		     e.code != ERR_UNSUPPORTED))
			abort();
		return 0;
	}
	if (keys_wrapped_key_id(blob, sizeof(blob), id, NULL) != 0)
		abort();
	if (kit_format("machine", "vault", "https://vault.example:8443", blob, &text, NULL) != 0 ||
	    kit_parse(text.data, text.len, again, NULL) != 0 || memcmp(blob, again, sizeof(blob)) != 0)
		abort();
	memset(again, 0, sizeof(again));
	if (kit_parse(blob, sizeof(blob), again, NULL) != 0 || memcmp(blob, again, sizeof(blob)) != 0)
		abort();
	buf_free(&text);
	return 0;
}
