/*
 * proxyproto.c: the PROXY protocol version 2 header; see proxyproto.h.
 *
 * The layout (HAProxy's proxy-protocol.txt, section 2.2): the 12-byte
 * signature, a byte whose high four bits are the version (2) and low four
 * the command (0 LOCAL, 1 PROXY), a byte whose high four bits are the
 * address family (0 unspecified, 1 IPv4, 2 IPv6, 3 Unix) and low four the
 * transport (1 stream), a 16-bit big-endian length of what follows, then
 * the addresses (source, destination, source port, destination port, all
 * in network order) and optional TLVs, which we skip.
 */
#include "proxyproto.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

int proxy_v2_begin(const uint8_t *fixed, size_t *rest, struct err *e)
{
	size_t n;

	if (memcmp(fixed, sig, sizeof(sig)) != 0)
		return err_set(e, ERR_INVALID, "the connection does not begin with a PROXY "
			       "protocol version 2 header; set send-proxy-v2 on the balancer's "
			       "server lines");
	if ((fixed[12] >> 4) != 2)
		return err_set(e, ERR_INVALID, "PROXY protocol version %u; only version 2 is "
			       "spoken", fixed[12] >> 4);
	n = (size_t)fixed[14] << 8 | fixed[15];
	if (n > PROXY_V2_REST_MAX)
		return err_set(e, ERR_INVALID, "a PROXY protocol header of %zu bytes; at most %d "
			       "are accepted", n + PROXY_V2_FIXED,
			       PROXY_V2_FIXED + PROXY_V2_REST_MAX);
	*rest = n;
	return 0;
}

int proxy_v2_parse(const uint8_t *buf, size_t len, struct sockaddr_storage *ss, socklen_t *sslen,
		   bool *local, struct err *e)
{
	size_t rest;
	unsigned cmd, fam, proto;
	const uint8_t *a;

	memset(ss, 0, sizeof(*ss));
	*sslen = 0;
	*local = true;
	if (len < PROXY_V2_FIXED)
		return err_set(e, ERR_INVALID, "a PROXY protocol header cut short");
	if (proxy_v2_begin(buf, &rest, e) != 0)
		return -1;
	if (len != PROXY_V2_FIXED + rest)
		return err_set(e, ERR_INVALID, "a PROXY protocol header of %zu bytes announces %zu",
			       len, PROXY_V2_FIXED + rest);
	cmd = buf[12] & 0xf;
	fam = buf[13] >> 4;
	proto = buf[13] & 0xf;
	a = buf + PROXY_V2_FIXED;
	if (cmd == 0)
		return 0; /* LOCAL: the balancer's own connection */
	if (cmd != 1)
		return err_set(e, ERR_INVALID, "PROXY protocol command %u is neither LOCAL nor "
			       "PROXY", cmd);
	if (fam == 1 && proto == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (rest < 12)
			return err_set(e, ERR_INVALID, "a PROXY protocol IPv4 address block of %zu "
				       "bytes; it needs 12", rest);
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		*sslen = sizeof(*s4);
	} else if (fam == 2 && proto == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (rest < 36)
			return err_set(e, ERR_INVALID, "a PROXY protocol IPv6 address block of %zu "
				       "bytes; it needs 36", rest);
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		*sslen = sizeof(*s6);
	} else {
		return 0; /* unspecified, Unix or datagram: no client address to give */
	}
	*local = false;
	return 0;
}
