/* passphrase.c: passphrase rules and generator; see passphrase.h. */
#include "passphrase.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

/* 56 symbols: A-Z and a-z without I, O, l, o, and 2-9. log2(56) * 36 = 209
 * bits of entropy per generated passphrase. */
const char passphrase_alphabet[] =
	"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

/* Length in bytes of the UTF-8 sequence at P (0 if invalid), with its code
 * point in *CP. Rejects overlong forms, surrogates and values past U+10FFFF. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		n = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

int passphrase_check(const char *p, struct err *e)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t bytes = strlen(p), chars = 0;

	if (bytes > PASSPHRASE_MAX_BYTES)
		return err_set(e, ERR_PASSPHRASE,
			       "passphrase is %zu bytes long; the limit is %d bytes",
			       bytes, PASSPHRASE_MAX_BYTES);
	for (size_t i = 0; i < bytes; chars++) {
		uint32_t cp;
		size_t n = utf8_next(s + i, &cp);

		if (n == 0)
			return err_set(e, ERR_PASSPHRASE,
				       "passphrase is not valid UTF-8 (at byte %zu)", i);
		if (cp < 0x20 || cp == 0x7f)
			return err_set(e, ERR_PASSPHRASE,
				       "passphrase contains a control character (at byte %zu); "
				       "use printable characters only", i);
		i += n;
	}
	if (chars < PASSPHRASE_MIN_CHARS)
		return err_set(e, ERR_PASSPHRASE,
			       "passphrase has %zu characters; it needs at least %d",
			       chars, PASSPHRASE_MIN_CHARS);
	return 0;
}

int passphrase_generate(char out[PASSPHRASE_GEN_CHARS + 1], struct err *e)
{
	const uint32_t n = (uint32_t)(sizeof(passphrase_alphabet) - 1);

	if (sodium_init() < 0)
		return err_set(e, ERR_CRYPTO, "libsodium failed to initialise");
	for (size_t i = 0; i < PASSPHRASE_GEN_CHARS; i++)
		out[i] = passphrase_alphabet[randombytes_uniform(n)];
	out[PASSPHRASE_GEN_CHARS] = '\0';
	return 0;
}
