/*
 * fuzz_vaultcred.c: the vault-credentials parser on arbitrary bytes. Nothing
 * may crash, leak or print. A refusal must carry a code and a message. When
 * a file is accepted, writing the result and parsing that again must give
 * the same fields (the writer and the parser agree on every accepted file).
 * The seed corpus holds valid files made with a throwaway test PKI, plus
 * DTD, entity, encoding and structure edge cases.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vaultcred.h"

static int same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vaultcred *vc, *again;
	struct buf out = BUF_INIT;
	struct err e;

	err_clear(&e);
	if ((vc = vaultcred_parse(data, size, &e)) == NULL) {
		if (e.code == ERR_OK || e.msg[0] == '\0')
			abort();
		return 0;
	}
	if (vaultcred_write(vc, &out, &e) != 0)
		abort(); /* the writer refused what the parser accepted */
	if (out.len <= VAULTCRED_MAX_BYTES) {
		if ((again = vaultcred_parse(out.data, out.len, &e)) == NULL)
			abort();
		if (again->version != vc->version || again->issued != vc->issued ||
		    again->expires != vc->expires || !same(again->service_url, vc->service_url) ||
		    !same(again->subscription, vc->subscription) ||
		    !same(again->vault_id, vc->vault_id) ||
		    !same(again->vault_name, vc->vault_name) || !same(again->region, vc->region) ||
		    !same(again->cert_pem, vc->cert_pem) || !same(again->key_pem, vc->key_pem) ||
		    !same(again->trust_anchor_pem, vc->trust_anchor_pem))
			abort();
		vaultcred_free(again);
	}
	buf_wipe(&out);
	vaultcred_free(vc);
	return 0;
}
