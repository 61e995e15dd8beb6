/*
 * portal.c: the portal's files, cookie, CSRF token and sign-in limits; see
 * portal.h.
 *
 * Why embedded files: `make run`, `make install` and a copied binary all
 * serve the same pages, and a URL is only ever a key into a fixed table, so
 * no request can name a file outside it (no "..", no symlinks, no encoding
 * tricks to get wrong).
 */
#include "portal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "portal_files.h"
#include "ratelimit.h"

/* What every page may do: scripts, styles and requests to this origin only,
 * no inline script or style, never framed. */
#define PORTAL_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'"

#define LIMIT_SLOTS 1024

struct portal {
	uint8_t csrf_key[crypto_auth_hmacsha256_KEYBYTES];
	struct ratelimit *by_peer, *by_user;
	/* Why a limiter of one token: an emptied bucket marks a (user, address)
	 * pair that signed in, for PORTAL_SIGNIN_KNOWN, in bounded memory. */
	struct ratelimit *known;
	char agent[PATH_MAX]; /* the agent binary beside arcad, or "" */
};

/* A sign-in limiter: shared in CAT under KIND, or in memory. */
static struct ratelimit *limiter(struct catalog *cat, const char *kind, int burst, int refill,
				 struct err *e)
{
	return cat ? ratelimit_shared(cat, kind, burst, refill, e)
		   : ratelimit_new(LIMIT_SLOTS, burst, refill, e);
}

struct portal *portal_new(struct catalog *cat, const uint8_t *csrf_key, struct err *e)
{
	struct portal *p;
	char self[PATH_MAX];
	ssize_t n;

	if (sodium_init() < 0) {
		err_set(e, ERR_CRYPTO, "libsodium could not start");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_oom(e);
		return NULL;
	}
	_Static_assert(sizeof(p->csrf_key) == PORTAL_CSRF_KEY_LEN, "the CSRF key's length");
	if (csrf_key)
		memcpy(p->csrf_key, csrf_key, sizeof(p->csrf_key));
	else
		crypto_auth_hmacsha256_keygen(p->csrf_key);
	if ((p->by_peer = limiter(cat, "signin-peer", PORTAL_SIGNIN_BURST_PEER, PORTAL_SIGNIN_REFILL,
				  e)) == NULL ||
	    (p->by_user = limiter(cat, "signin-user", PORTAL_SIGNIN_BURST_USER, PORTAL_SIGNIN_REFILL,
				  e)) == NULL ||
	    (p->known = limiter(cat, "signin-known", 1, PORTAL_SIGNIN_KNOWN, e)) == NULL) {
		portal_free(p);
		return NULL;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		char *slash;

		self[n] = 0;
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = 0;
			if (snprintf(p->agent, sizeof(p->agent), "%s/arca", self) >= (int)sizeof(p->agent) ||
			    access(p->agent, X_OK) != 0)
				p->agent[0] = 0;
		}
	}
	return p;
}

void portal_free(struct portal *p)
{
	if (p == NULL)
		return;
	ratelimit_free(p->by_peer);
	ratelimit_free(p->by_user);
	ratelimit_free(p->known);
	sodium_memzero(p->csrf_key, sizeof(p->csrf_key));
	free(p);
}

/* The headers of every portal response. */
static void page_headers(struct http_response *res)
{
	http_set_header(res, "Content-Security-Policy", PORTAL_CSP);
	http_set_header(res, "X-Frame-Options", "DENY");
	http_set_header(res, "Referrer-Policy", "no-referrer");
	http_set_header(res, "Cross-Origin-Opener-Policy", "same-origin");
}

/* Why a message that cannot be appended turns the status into 500: a
 * status with an empty body would pass for an answer. */
static void text_reply(struct http_response *res, int status, const char *msg)
{
	res->status = status;
	res->content_type = "text/plain; charset=utf-8";
	if (buf_append(&res->body, msg, strlen(msg), NULL) != 0)
		res->status = 500;
}

/* GET /download/arca: the agent binary beside this arcad, for the Quick
 * Start page's "Download the agent". */
static void serve_agent(const struct portal *p, struct http_response *res)
{
	struct stat st;
	int fd;

	if (!p->agent[0] || (fd = open(p->agent, O_RDONLY | O_CLOEXEC)) < 0) {
		text_reply(res, 404, "the agent binary (arca) is not installed beside this arcad; "
			   "install arca with `make install` on the machine to protect\n");
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		text_reply(res, 404, "the agent binary (arca) beside this arcad is not a file\n");
		return;
	}
	res->status = 200;
	res->content_type = "application/octet-stream";
	snprintf(res->disposition, sizeof(res->disposition), "attachment; filename=\"arca\"");
	http_respond_file(res, fd, 0, (uint64_t)st.st_size);
}

void portal_serve(const struct portal *p, const struct http_request *req,
		  struct http_response *res)
{
	const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
	const char *inm;

	page_headers(res);
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_set_header(res, "Allow", "GET, HEAD");
		text_reply(res, 405, "the portal's pages are read with GET\n");
		return;
	}
	if (strcmp(path, "/download/arca") == 0) {
		serve_agent(p, res);
		return;
	}
	for (size_t i = 0; i < portal_files_count; i++) {
		const struct portal_file *f = &portal_files[i];

		if (strcmp(f->path, path) != 0)
			continue;
		/* Why no-cache with an ETag: a browser revalidates each file, so a
		 * new arcad's pages are never mixed with an old one's modules. */
		http_set_header(res, "Cache-Control", "no-cache");
		http_set_header(res, "ETag", f->etag);
		res->content_type = f->content_type;
		inm = http_header(req, "If-None-Match");
		if (inm && strcmp(inm, f->etag) == 0) {
			res->status = 304;
			return;
		}
		res->status = 200;
		/* Never a 200 with an empty or cut page (out of memory). */
		if (buf_append(&res->body, f->data, f->len, NULL) != 0) {
			buf_reset(&res->body);
			text_reply(res, 500, "the service is out of memory; reload the page\n");
		}
		return;
	}
	text_reply(res, 404, "no such page; the portal starts at /\n");
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int portal_cookie_token(const struct http_request *req, char out[65])
{
	const char *h = http_header(req, "Cookie");
	const size_t name_len = strlen(PORTAL_COOKIE);

	/* Cookie: a=b; arca_session=<hex>; c=d */
	while (h && *h) {
		const char *end = strchr(h, ';');
		size_t len = end ? (size_t)(end - h) : strlen(h);

		while (len && *h == ' ') {
			h++;
			len--;
		}
		if (len > name_len && strncmp(h, PORTAL_COOKIE, name_len) == 0 && h[name_len] == '=' &&
		    is_hex64(h + name_len + 1, len - name_len - 1)) {
			memcpy(out, h + name_len + 1, 64);
			out[64] = 0;
			return 0;
		}
		h = end ? end + 1 : NULL;
	}
	return -1;
}

int portal_set_cookie(const struct http_request *req, struct http_response *res,
		      const char *token, int max_age)
{
	char v[256];

	snprintf(v, sizeof(v), "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", PORTAL_COOKIE,
		 token ? token : "", token ? max_age : 0, req->tls ? "; Secure" : "");
	return http_set_header(res, "Set-Cookie", v);
}

void portal_csrf(const struct portal *p, const char *token, char out[65])
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256(mac, (const uint8_t *)token, strlen(token), p->csrf_key);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
}

bool portal_csrf_ok(const struct portal *p, const char *token, const char *sent)
{
	char want[65];

	if (sent == NULL || strlen(sent) != 64)
		return false;
	portal_csrf(p, token, want);
	return sodium_memcmp(want, sent, 64) == 0;
}

/* The limiter keys of PEER and USER. */
static void keys(const char *peer, const char *user, char kp[80], char ku[160])
{
	snprintf(kp, 80, "peer:%s", peer ? peer : "");
	snprintf(ku, 160, "user:%.140s", user ? user : "");
}

/* The key of PEER known for USER into OUT: 0, or -1 when it does not fit
 * (then never known). */
static int known_key(const char *peer, const char *user, char out[128])
{
	int n = snprintf(out, 128, "%s|%s", peer ? peer : "", user ? user : "");

	return n > 0 && n < 128 ? 0 : -1;
}

int portal_signin_wait(struct portal *p, const char *peer, const char *user, int64_t now,
		       int *wait, struct err *e)
{
	char kp[80], ku[160], kk[128];
	int a = 0, b = 0, known = 0;

	*wait = 0;
	keys(peer, user, kp, ku);
	if (ratelimit_check(p->by_peer, kp, now, &a, e) != 0 ||
	    (known_key(peer, user, kk) == 0 && ratelimit_check(p->known, kk, now, &known, e) != 0))
		return -1;
	if (known == 0 && ratelimit_check(p->by_user, ku, now, &b, e) != 0)
		return -1;
	*wait = a > b ? a : b;
	return 0;
}

void portal_signin_failed(struct portal *p, const char *peer, const char *user, int64_t now)
{
	char kp[80], ku[160];
	struct err e;

	keys(peer, user, kp, ku);
	if (ratelimit_record(p->by_peer, kp, now, &e) != 0 ||
	    ratelimit_record(p->by_user, ku, now, &e) != 0)
		fprintf(stderr, "arcad: recording a failed sign-in of %.100s: %s\n", user, e.msg);
}

void portal_signin_succeeded(struct portal *p, const char *peer, const char *user, int64_t now)
{
	char kk[128];
	struct err e;
	int known = 0;

	if (known_key(peer, user, kk) != 0)
		return;
	if (ratelimit_check(p->known, kk, now, &known, &e) != 0 ||
	    (known == 0 && ratelimit_record(p->known, kk, now, &e) != 0))
		fprintf(stderr, "arcad: recording the sign-in of %.100s: %s\n", user, e.msg);
}
