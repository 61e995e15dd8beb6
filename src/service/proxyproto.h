/*
 * proxyproto.h: the PROXY protocol, version 2, as a load balancer in front
 * of several services sends it (HAProxy's `send-proxy-v2`): a binary header
 * before the first byte of the connection's own stream (before TLS), naming
 * the client the balancer accepted. Only a parser: the caller reads the 16
 * fixed bytes, asks how many more the header has, reads those, and asks for
 * the address. Nothing here trusts the header; whether to believe it (only
 * from a configured balancer's address) is the caller's business.
 */
#ifndef ARCA_PROXYPROTO_H
#define ARCA_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

#define PROXY_V2_FIXED 16      /* signature, version and command, family, length */
#define PROXY_V2_REST_MAX 1024 /* address block and TLVs we accept after them */

/* Of the first PROXY_V2_FIXED bytes of a connection: 0 with *REST the
 * number of header bytes that follow them; -1 with E set (ERR_INVALID)
 * when they are not a version 2 header or announce more than
 * PROXY_V2_REST_MAX bytes. */
int proxy_v2_begin(const uint8_t *fixed, size_t *rest, struct err *e);

/* Of the whole header, LEN bytes at BUF (PROXY_V2_FIXED plus *REST as
 * proxy_v2_begin said): the client's address and port into *SS and *SSLEN
 * (AF_INET or AF_INET6), and *LOCAL false. A LOCAL command (the balancer's
 * own health check) or an address family other than TCP over IPv4 or IPv6
 * gives *LOCAL true and no address: the connection is the balancer's own.
 * 0, or -1 with E set (ERR_INVALID) for a header that is malformed: wrong
 * signature or version, a length that is not LEN's, an address block
 * shorter than its family needs, an unknown command. */
int proxy_v2_parse(const uint8_t *buf, size_t len, struct sockaddr_storage *ss, socklen_t *sslen,
		   bool *local, struct err *e);

#endif
