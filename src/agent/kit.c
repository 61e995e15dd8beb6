/*
 * kit.c: the second passphrase's kit, written and read. The reader takes
 * the line that starts "Wrapped key" and the base64 after its first ": ",
 * ignoring spaces and tabs (a kit typed back from paper), and refuses a
 * file with two such lines rather than guess which one is meant.
 */
#include <string.h>

#include <sodium.h>

#include "kit.h"

#define KEY_LINE "Wrapped key"

static const char fix[] = "give the kit that 'arca properties --add-passphrase --recovery-kit "
			  "FILE' wrote, or that machine's wrapped-2.key file";

int kit_format(const char *machine, const char *vault, const char *service,
	       const uint8_t blob[KEYS_WRAPPED_LEN], struct buf *out, struct err *e)
{
	char b64[sodium_base64_ENCODED_LEN(KEYS_WRAPPED_LEN, sodium_base64_VARIANT_ORIGINAL)];
	const char *parts[] = { "arca second passphrase kit\n\nMachine: ", machine,
				"\nVault:   ", vault, "\nService: ", service,
				"\n" KEY_LINE " (opens with the second passphrase): ", b64, "\n" };

	sodium_bin2base64(b64, sizeof(b64), blob, KEYS_WRAPPED_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (buf_append(out, parts[i], strlen(parts[i]), e))
			return -1;
	return 0;
}

/* Check BLOB's shape; prefix a refusal with WHERE. */
static int check(const uint8_t *blob, size_t len, const char *where, struct err *e)
{
	uint8_t id[KEY_ID_LEN];

	if (keys_wrapped_key_id(blob, len, id, e) == 0)
		return 0;
	return err_prefix(e, "%s: ", where);
}

int kit_parse(const uint8_t *p, size_t n, uint8_t blob[KEYS_WRAPPED_LEN], struct err *e)
{
	const uint8_t *val = NULL, *val_end = NULL;
	size_t line = 1, at_line = 0, len = 0;

	if (n > KIT_MAX_BYTES)
		return err_set(e, ERR_TOO_LARGE, "%zu bytes, more than a kit's %d: %s", n,
			       KIT_MAX_BYTES, fix);
	if (n >= 8 && memcmp(p, "ARCAWKEY", 8) == 0) {
		if (n != KEYS_WRAPPED_LEN)
			return err_set(e, ERR_CORRUPT, "a raw wrapped key of %zu bytes, not %d: the "
				       "file was cut short or had bytes added; use another copy, or %s",
				       n, KEYS_WRAPPED_LEN, fix);
		if (check(p, n, "the wrapped key", e))
			return -1;
		memcpy(blob, p, n);
		return 0;
	}
	if (memchr(p, '\0', n) != NULL)
		return err_set(e, ERR_INVALID, "binary data, not a kit or a wrapped key: %s", fix);
	for (size_t i = 0; i < n; line++) {
		const uint8_t *s = p + i, *nl = memchr(s, '\n', n - i);
		size_t ll = nl ? (size_t)(nl - s) : n - i;
		const uint8_t *colon;

		i += ll + (nl != NULL);
		if (ll < sizeof(KEY_LINE) - 1 || memcmp(s, KEY_LINE, sizeof(KEY_LINE) - 1) != 0)
			continue;
		if (val != NULL)
			return err_set(e, ERR_INVALID, "two \"" KEY_LINE "\" lines (%zu and %zu): keep "
				       "the one the kit was written with and retry", at_line, line);
		for (colon = s; colon + 1 < s + ll && !(colon[0] == ':' && colon[1] == ' '); colon++)
			;
		at_line = line;
		val = colon + 1 < s + ll ? colon + 2 : s + ll;
		val_end = s + ll;
	}
	if (val == NULL) {
		for (size_t i = 0; i + 11 <= n; i++)
			if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "Passphrase:", 11) == 0)
				return err_set(e, ERR_INVALID, "the recovery kit of the machine's own "
					       "passphrase, which holds no wrapped key: leave "
					       "--wrapped-key out to use that passphrase, or %s", fix);
		return err_set(e, ERR_INVALID, "no \"" KEY_LINE "\" line: %s", fix);
	}
	if (sodium_base642bin(blob, KEYS_WRAPPED_LEN, (const char *)val, (size_t)(val_end - val),
			      " \t\r", &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		/* Too long for the blob, or not base64: tell which. */
		uint8_t big[2 * KEYS_WRAPPED_LEN];

		if (sodium_base642bin(big, sizeof(big), (const char *)val, (size_t)(val_end - val),
				      " \t\r", &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 ||
		    len > KEYS_WRAPPED_LEN)
			return err_set(e, ERR_CORRUPT, "the wrapped key on line %zu is longer than "
				       "%d bytes: compare it with the kit as written", at_line,
				       KEYS_WRAPPED_LEN);
		return err_set(e, ERR_CORRUPT, "the wrapped key on line %zu is not valid base64 "
			       "(damaged or mistyped): compare it with the kit as written", at_line);
	}
	if (len != KEYS_WRAPPED_LEN)
		return err_set(e, ERR_CORRUPT, "the wrapped key on line %zu is %zu bytes, not %d: "
			       "part of it is missing; compare it with the kit as written", at_line,
			       len, KEYS_WRAPPED_LEN);
	{
		char where[64];

		snprintf(where, sizeof(where), "the wrapped key on line %zu", at_line);
		return check(blob, len, where, e);
	}
}
