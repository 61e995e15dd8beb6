/*
 * fuzz_sealed.c: the sealed form of the catalog's CA keys (seal.h) on
 * arbitrary text. Nothing may crash, leak or print; a refusal carries a
 * code and a message. Text that opens must be a secret sealed with the
 * fixed key for the fixed owner, so it seals again to text that opens to
 * the same secret; an owner other than the one it was sealed for never
 * opens it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seal_key *k;
	static const char owner[] = "0123456789abcdef0123456789abcdef";
	struct buf again = BUF_INIT;
	char *text, *plain, *p2;
	struct err e;

	if (k == NULL) {
		uint8_t raw[SEAL_KEY_LEN] = { 7 };

		if (sodium_init() < 0 || (k = seal_key_from(raw, NULL)) == NULL)
			abort();
	}
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	err_clear(&e);
	if ((plain = seal_open(k, owner, text, &e)) == NULL) {
		if (e.code == ERR_OK || e.msg[0] == '\0')
			abort();
		free(text);
		return 0;
	}
	if (seal_open(k, "another owner", text, &e) != NULL)
		abort();
	if (seal_text(k, owner, plain, &again, &e) != 0 ||
	    (p2 = seal_open(k, owner, (const char *)again.data, &e)) == NULL ||
	    strcmp(p2, plain) != 0)
		abort();
	seal_plain_free(p2);
	seal_plain_free(plain);
	buf_free(&again);
	free(text);
	return 0;
}
