/* test_proxyproto.c: the PROXY protocol v2 reader on good and bad headers,
 * and the HTTP server behind a "balancer": a connection from a trusted
 * address is served as the client its header names, one without a header
 * is closed, and an untrusted client's header is not believed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "proxyproto.h"

static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* A v2 header into OUT: command CMD, family byte FAM, then the N bytes of
 * BODY. Its length. */
static size_t header(uint8_t *out, uint8_t cmd, uint8_t fam, const uint8_t *body, size_t n)
{
	memcpy(out, sig, 12);
	out[12] = (uint8_t)(0x20 | cmd);
	out[13] = fam;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
	if (n)
		memcpy(out + 16, body, n);
	return 16 + n;
}

/* An IPv4 PROXY header from SRC:PORT to 127.0.0.1:443, with EXTRA bytes of
 * TLV after the addresses. */
static size_t header4(uint8_t *out, const char *src, uint16_t port, size_t extra)
{
	uint8_t body[12 + 64];

	memset(body, 0, sizeof(body));
	inet_pton(AF_INET, src, body);
	inet_pton(AF_INET, "127.0.0.1", body + 4);
	body[8] = (uint8_t)(port >> 8), body[9] = (uint8_t)port;
	body[10] = 1, body[11] = 0xbb;
	for (size_t i = 0; i < extra; i++)
		body[12 + i] = (uint8_t)i;
	return header(out, 1, 0x11, body, 12 + extra);
}

static int parse(const uint8_t *h, size_t n, struct sockaddr_storage *ss, bool *local,
		 struct err *e)
{
	socklen_t sl;
	size_t rest;

	if (n >= PROXY_V2_FIXED && proxy_v2_begin(h, &rest, e) == 0 && rest != n - PROXY_V2_FIXED)
		fail_msg("begin announced %zu more bytes of %zu", rest, n - PROXY_V2_FIXED);
	return proxy_v2_parse(h, n, ss, &sl, local, e);
}

static void test_good_headers(void **state)
{
	uint8_t h[128], body[36];
	struct sockaddr_storage ss;
	char text[64];
	bool local;
	struct err e;
	size_t n;

	(void)state;
	/* IPv4, with and without TLVs after the addresses */
	for (size_t extra = 0; extra <= 40; extra += 20) {
		n = header4(h, "198.51.100.9", 40000, extra);
		assert_int_equal(parse(h, n, &ss, &local, &e), 0);
		assert_false(local);
		assert_int_equal(ss.ss_family, AF_INET);
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
		assert_string_equal(text, "198.51.100.9");
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 40000);
	}
	/* IPv6 */
	memset(body, 0, sizeof(body));
	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "::1", body + 16);
	body[32] = 0x12, body[33] = 0x34;
	n = header(h, 1, 0x21, body, 36);
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_false(local);
	assert_int_equal(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text));
	assert_string_equal(text, "2001:db8::7");
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 0x1234);
	/* LOCAL (a health check), with or without an address block */
	n = header(h, 0, 0x00, NULL, 0);
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_true(local);
	n = header(h, 0, 0x11, body, 12);
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_true(local);
	/* PROXY for a family we have no address for: the balancer's own */
	n = header(h, 1, 0x00, NULL, 0);
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_true(local);
	n = header(h, 1, 0x31, body, 36); /* Unix sockets */
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_true(local);
	n = header(h, 1, 0x12, body, 12); /* IPv4 datagrams */
	assert_int_equal(parse(h, n, &ss, &local, &e), 0);
	assert_true(local);
}

static void test_bad_headers(void **state)
{
	uint8_t h[2048], body[36] = { 0 };
	struct sockaddr_storage ss;
	bool local;
	struct err e;
	size_t n, rest;

	(void)state;
	/* not a header at all: HTTP, TLS, version 1's text */
	assert_int_equal(proxy_v2_begin((const uint8_t *)"GET / HTTP/1.1\r\nHo", &rest, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "send-proxy-v2"));
	assert_int_equal(proxy_v2_begin((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
						      "\x03\x03\x00\x00\x00\x00\x00", &rest, &e), -1);
	assert_int_equal(proxy_v2_begin((const uint8_t *)"PROXY TCP4 1.2.3.4 ", &rest, &e), -1);
	/* every single byte of the signature flipped */
	for (int i = 0; i < 12; i++) {
		n = header4(h, "192.0.2.1", 1, 0);
		h[i] ^= 0x40;
		assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	}
	/* version 1 or 3 in the binary form */
	n = header4(h, "192.0.2.1", 1, 0);
	h[12] = 0x11;
	assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	assert_non_null(strstr(e.msg, "version 1"));
	h[12] = 0x31;
	assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	/* an unknown command */
	n = header4(h, "192.0.2.1", 1, 0);
	h[12] = 0x2f;
	assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	assert_non_null(strstr(e.msg, "command 15"));
	/* address blocks shorter than their family needs */
	n = header(h, 1, 0x11, body, 11);
	assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	assert_non_null(strstr(e.msg, "needs 12"));
	n = header(h, 1, 0x21, body, 35);
	assert_int_equal(parse(h, n, &ss, &local, &e), -1);
	assert_non_null(strstr(e.msg, "needs 36"));
	/* a length over the bound, whatever follows */
	n = header(h, 1, 0x11, body, 12);
	h[14] = 0x04, h[15] = 0x01; /* 1025 */
	assert_int_equal(proxy_v2_begin(h, &rest, &e), -1);
	assert_non_null(strstr(e.msg, "at most"));
	h[14] = 0xff, h[15] = 0xff;
	assert_int_equal(proxy_v2_begin(h, &rest, &e), -1);
	/* a buffer whose size is not what the header announces, or cut short */
	n = header4(h, "192.0.2.1", 1, 0);
	assert_int_equal(proxy_v2_parse(h, n - 1, &ss, &(socklen_t){ 0 }, &local, &e), -1);
	assert_int_equal(proxy_v2_parse(h, n + 1, &ss, &(socklen_t){ 0 }, &local, &e), -1);
	assert_int_equal(proxy_v2_parse(h, 15, &ss, &(socklen_t){ 0 }, &local, &e), -1);
	assert_true(local); /* an error leaves no address */
}

/* ---- the server behind a balancer ---- */

static void peer_handler(void *ctx, const struct http_request *req, struct http_response *res)
{
	(void)ctx;
	res->status = 200;
	res->content_type = "text/plain";
	buf_append(&res->body, req->peer, strlen(req->peer), NULL);
}

/* Connect to 127.0.0.1:PORT from local address FROM, send the N bytes of
 * PRE and then a GET, and read the answer into OUT (NUL-ended). The bytes
 * read (0: closed without an answer). */
static size_t ask(uint16_t port, const char *from, const uint8_t *pre, size_t n, char *out,
		  size_t cap)
{
	struct sockaddr_in a = { 0 }, src = { 0 };
	struct timeval tv = { 10, 0 };
	const char *get = "GET /x HTTP/1.0\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;
	ssize_t r;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	src.sin_family = AF_INET;
	inet_pton(AF_INET, from, &src.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (n)
		assert_int_equal(send(fd, pre, n, MSG_NOSIGNAL), (ssize_t)n);
	send(fd, get, strlen(get), MSG_NOSIGNAL);
	while (got + 1 < cap && (r = recv(fd, out + got, cap - 1 - got, 0)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(fd);
	return got;
}

static void test_server_behind_balancer(void **state)
{
	const char *trusted[] = { "127.0.0.2", "::2" };
	struct http_limits lim = { 30, 4, trusted, 2 };
	struct http_server *s;
	uint8_t h[64];
	char out[4096];
	struct err e;
	size_t n;

	(void)state;
	s = http_start("127.0.0.1", 0, NULL, NULL, &lim, peer_handler, NULL, &e);
	if (s == NULL)
		fail_msg("start: %s", e.msg);
	/* from the balancer, with a header: served as the named client */
	n = header4(h, "198.51.100.23", 5555, 0);
	assert_true(ask(http_port(s), "127.0.0.2", h, n, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, " 200 "));
	assert_non_null(strstr(out, "\r\n\r\n198.51.100.23"));
	/* a health check (LOCAL): the balancer's own address */
	n = header(h, 0, 0, NULL, 0);
	assert_true(ask(http_port(s), "127.0.0.2", h, n, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "\r\n\r\n127.0.0.2"));
	/* from the balancer without a header: closed, nothing served */
	assert_int_equal(ask(http_port(s), "127.0.0.2", NULL, 0, out, sizeof(out)), 0);
	/* a malformed header: closed */
	n = header4(h, "198.51.100.23", 5555, 0);
	h[12] = 0x11;
	assert_int_equal(ask(http_port(s), "127.0.0.2", h, n, out, sizeof(out)), 0);
	/* a client elsewhere is served as itself ... */
	assert_true(ask(http_port(s), "127.0.0.3", NULL, 0, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "\r\n\r\n127.0.0.3"));
	/* ... and its header is not believed: it is just a bad request */
	n = header4(h, "198.51.100.23", 5555, 0);
	ask(http_port(s), "127.0.0.3", h, n, out, sizeof(out));
	assert_null(strstr(out, "198.51.100.23"));
	http_stop(s);
}

/* The per-address bound counts the clients the balancer names, not the
 * balancer: five clients through it may hold a connection each where one
 * address may hold four, and one client named five times gets four. */
static void named_five(bool same)
{
	const char *trusted[] = { "127.0.0.2" };
	struct http_limits lim = { 30, 4, trusted, 1 };
	struct sockaddr_in a = { 0 }, src = { 0 };
	struct http_server *s;
	int fds[5];
	uint8_t h[64];
	char out[4096], name[32];
	struct err e;

	s = http_start("127.0.0.1", 0, NULL, NULL, &lim, peer_handler, NULL, &e);
	if (s == NULL)
		fail_msg("start: %s", e.msg);
	a.sin_family = AF_INET;
	a.sin_port = htons(http_port(s));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	src.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
	for (int i = 0; i < 5; i++) {
		size_t n;

		snprintf(name, sizeof(name), "198.51.100.%d", same ? 50 : 10 + i);
		n = header4(h, name, (uint16_t)(1000 + i), 0);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(bind(fds[i], (struct sockaddr *)&src, sizeof(src)), 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(send(fds[i], h, n, MSG_NOSIGNAL), (ssize_t)n);
		usleep(100 * 1000); /* in order: the fifth is the one over the bound */
	}
	/* each held connection is served in turn: none was refused, or (one
	 * client) only the fifth */
	for (int i = 0; i < 5; i++) {
		const char *get = "GET /x HTTP/1.0\r\n\r\n";
		struct timeval tv = { 10, 0 };
		size_t got = 0;
		ssize_t r;

		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		send(fds[i], get, strlen(get), MSG_NOSIGNAL);
		while (got + 1 < sizeof(out) &&
		       (r = recv(fds[i], out + got, sizeof(out) - 1 - got, 0)) > 0)
			got += (size_t)r;
		out[got] = 0;
		snprintf(name, sizeof(name), "198.51.100.%d", same ? 50 : 10 + i);
		if (same && i == 4) {
			if (got != 0)
				fail_msg("a fifth connection of one client was served: \"%s\"", out);
		} else if (strstr(out, name) == NULL) {
			fail_msg("client %d (%s): answer \"%s\"", i, same ? "one" : "five", out);
		}
		close(fds[i]);
	}
	http_stop(s);
}

static void test_limit_counts_named_clients(void **state)
{
	(void)state;
	named_five(true);
	named_five(false);
}

static void test_bad_balancer_address(void **state)
{
	const char *bad[] = { "balancer.example" };
	struct http_limits lim = { 30, 4, bad, 1 };
	struct err e;

	(void)state;
	assert_null(http_start("127.0.0.1", 0, NULL, NULL, &lim, peer_handler, NULL, &e));
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "balancer.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_headers),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_server_behind_balancer),
		cmocka_unit_test(test_limit_counts_named_clients),
		cmocka_unit_test(test_bad_balancer_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
