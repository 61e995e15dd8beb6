/*
 * fuzz_proxy.c: the PROXY protocol v2 reader on any bytes a connection from
 * a balancer's address may begin with. It may not crash or read out of
 * bounds; what it takes announces exactly its own length, and an address
 * it gives is IPv4 or IPv6 of that family's size.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = 7;
	bool local = false;
	size_t rest = 0;
	int begun;

	if (size < PROXY_V2_FIXED)
		return 0;
	begun = proxy_v2_begin(data, &rest, NULL);
	if (begun == 0 && rest > PROXY_V2_REST_MAX)
		abort();
	if (proxy_v2_parse(data, size, &ss, &sl, &local, NULL) == 0) {
		if (begun != 0 || size != PROXY_V2_FIXED + rest)
			abort();
		if (!local && !((ss.ss_family == AF_INET && sl == sizeof(struct sockaddr_in)) ||
				(ss.ss_family == AF_INET6 && sl == sizeof(struct sockaddr_in6))))
			abort();
		if (local && sl != 0)
			abort();
	}
	return 0;
}
