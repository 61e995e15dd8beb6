/*
 * http.c: libmicrohttpd glue; see http.h.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers, then with pieces of the body, then with no more data.
 * The first call decides where the body may go: a request that matches an
 * upload rule is checked by its declared length and by the admission
 * function, and only then gets a spool file; a refusal is queued at once,
 * which makes libmicrohttpd answer without reading the body and close the
 * connection. Other bodies stay in a buffer bounded by HTTP_BODY_MAX (413
 * past it). The application handler is called once, at the end; the ticket
 * of an admitted request is released right after it, or, for a request that
 * never got there (a client gone mid-body), when libmicrohttpd reports the
 * request completed.
 *
 * Why a deadline on requests as well as libmicrohttpd's timeout: that one
 * counts idle seconds, so a client that sends a byte now and then (headers
 * dribbled, a body sent slowly) would hold its connection, and the thread
 * serving it, for ever. A request must be whole (its headers, and a body
 * kept in memory) within the timeout of the moment its connection began
 * waiting for it; an admitted upload is exempt once admitted (it is signed,
 * and bounded per machine). A watcher thread shuts down the socket of a
 * connection past its deadline, which ends it. The watch table is updated
 * under a mutex, and libmicrohttpd reports a connection closed before it
 * closes the socket, so the watcher never shuts down a reused descriptor.
 */
#include "http.h"
#include "proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>

/* Per-connection buffer: upload bodies arrive in pieces of about this size.
 * libmicrohttpd's default (32 KiB) means hundreds of calls per MiB. */
#define CONN_MEMORY (256u << 10)

/* Bytes a streamed response asks its producer for at a time: few calls per
 * MiB, and bounded memory per connection. */
#define STREAM_BLOCK (256u << 10)

/* A JSON request declaring more than this is refused from its headers;
 * up to it, an oversized body is read and discarded so that its client
 * reads the 413 (admit_request). */
#define HTTP_DRAIN_MAX (16u << 20)

/* Connections from a balancer whose PROXY header is awaited at once, and
 * the seconds each may take to send it: a balancer sends it with its
 * first packet, so a slow one is not a balancer at work. */
#define GREETING_MAX 64
#define GREETING_SECONDS 5

/* A connection the watcher keeps an eye on: its deadline, or 0 while it is
 * not waiting for a request to be whole. */
struct watch {
	struct MHD_Connection *c; /* NULL: a free slot */
	int fd;
	int64_t deadline; /* monotonic seconds */
};

struct http_server {
	struct MHD_Daemon *d;
	http_handler h;
	void *ctx;
	uint16_t port;
	bool tls;
	struct {
		char method[8];
		char prefix[64];
		uint64_t max;
	} uploads[4];
	int n_uploads;
	char spool[PATH_MAX];
	http_admit_fn admit;
	http_release_fn release;
	unsigned timeout;
	pthread_mutex_t mu; /* guards WATCH and STOP */
	pthread_cond_t cv;
	pthread_t watcher;
	bool watching, stop;
	struct watch watch[HTTP_CONNECTIONS_MAX];
	int64_t log_minute; /* guarded by MU, like the two counts */
	unsigned logged, log_dropped;
	/* Behind trusted balancers (http_limits.proxies): our own listening
	 * socket, the thread accepting on it, their addresses, and the
	 * connections whose PROXY header is being read (descriptors, -1 for a
	 * free slot; guarded by MU with N_GREETING and CLOSING). */
	int lfd;
	bool accepting, closing;
	pthread_t acceptor;
	struct sockaddr_storage proxy[HTTP_PROXIES_MAX];
	size_t n_proxy;
	int greeting[GREETING_MAX];
	unsigned n_greeting;
};

/* libmicrohttpd's own messages (a connection refused by a limit, a client
 * gone mid-request) go to stderr, at most LOG_PER_MINUTE lines a minute:
 * a flood of connections must not become a flood of log lines, nor block
 * the service on a log pipe that is read slowly. */
#define LOG_PER_MINUTE 20

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* Connection C's deadline: SET a fresh one (the timeout from now), or none. */
static void watch_deadline(struct http_server *s, struct MHD_Connection *c, bool set)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct watch *w = ci ? ci->socket_context : NULL;

	if (w == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	w->deadline = set ? mono_now() + s->timeout : 0;
	pthread_mutex_unlock(&s->mu);
}

static void notify_cb(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct watch *w = *socket_context;

	pthread_mutex_lock(&s->mu);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		for (size_t i = 0; ci && i < HTTP_CONNECTIONS_MAX; i++)
			if (s->watch[i].c == NULL) {
				s->watch[i].c = c;
				s->watch[i].fd = ci->connect_fd;
				s->watch[i].deadline = mono_now() + s->timeout;
				*socket_context = &s->watch[i];
				break;
			}
	} else if (w) {
		w->c = NULL;
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&s->mu);
}

static void log_cb(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	int64_t minute = mono_now() / 60;
	unsigned dropped = 0;
	bool show;

	pthread_mutex_lock(&s->mu);
	if (minute != s->log_minute) {
		dropped = s->log_dropped;
		s->log_minute = minute;
		s->logged = s->log_dropped = 0;
	}
	show = s->logged < LOG_PER_MINUTE;
	if (show)
		s->logged++;
	else
		s->log_dropped++;
	pthread_mutex_unlock(&s->mu);
	if (dropped)
		fprintf(stderr, "arcad: http: %u more messages of the last minute not shown\n", dropped);
	if (show) {
		fputs("arcad: http: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
}

/* The watcher: once a second, end the connections past their deadline. */
static void *watcher_main(void *arg)
{
	struct http_server *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;
		int64_t now = mono_now();

		for (size_t i = 0; i < HTTP_CONNECTIONS_MAX; i++) {
			struct watch *w = &s->watch[i];

			if (w->c && w->deadline && now >= w->deadline) {
				shutdown(w->fd, SHUT_RDWR);
				w->deadline = 0;
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct pending {
	struct buf body;
	bool too_large;
	bool failed;       /* the spool file could not be written */
	bool full;         /* ...because its file system is full */
	int fd;            /* spool file, or -1 */
	char path[PATH_MAX];
	uint64_t size, max;
	EVP_MD_CTX *sha;
	bool answered;     /* a refusal was queued on the first call */
	bool admitted;     /* TICKET came from the admission function */
	void *ticket;
};

int http_add_upload(struct http_server *s, const char *method, const char *path_prefix,
		    uint64_t max, const char *spool_dir)
{
	if (s->n_uploads >= 4)
		return -1;
	snprintf(s->uploads[s->n_uploads].method, sizeof(s->uploads[0].method), "%s", method);
	snprintf(s->uploads[s->n_uploads].prefix, sizeof(s->uploads[0].prefix), "%s", path_prefix);
	s->uploads[s->n_uploads++].max = max;
	snprintf(s->spool, sizeof(s->spool), "%s", spool_dir);
	return 0;
}

void http_set_admission(struct http_server *s, http_admit_fn admit, http_release_fn release)
{
	s->admit = admit;
	s->release = release;
}

void http_respond_file(struct http_response *res, int fd, uint64_t offset, uint64_t len)
{
	res->use_fd = true;
	res->fd = fd;
	res->fd_offset = offset;
	res->fd_len = len;
}

/* The size limit of an upload rule that METHOD URL matches, or 0. */
static uint64_t upload_max(const struct http_server *s, const char *method, const char *url)
{
	for (int i = 0; i < s->n_uploads; i++)
		if (strcmp(method, s->uploads[i].method) == 0 &&
		    strncmp(url, s->uploads[i].prefix, strlen(s->uploads[i].prefix)) == 0)
			return s->uploads[i].max;
	return 0;
}

bool http_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* libmicrohttpd's URL unescaping, except that an escaped NUL (%00) does not
 * end the path early: "/a%00.html" must not become "/a". It becomes DEL,
 * which no route or page has. */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *uri)
{
	size_t n = MHD_http_unescape(uri);

	(void)cls, (void)c;
	for (size_t i = 0; i < n; i++)
		if (uri[i] == 0)
			uri[i] = 0x7f;
	return n;
}

static const char *mhd_header(void *conn, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)conn, MHD_HEADER_KIND, name);
}

int http_set_header(struct http_response *res, const char *name, const char *value)
{
	struct http_header_line *h;

	if (res->n_headers >= HTTP_HEADERS_MAX || strlen(name) >= sizeof(h->name) ||
	    strlen(value) >= sizeof(h->value))
		return -1;
	h = &res->headers[res->n_headers++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->value, sizeof(h->value), "%s", value);
	return 0;
}

/* The client's address of connection C as text, or "" when unknown. */
static void peer_of(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = 0;
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return req->header ? req->header(req->conn, name) : NULL;
}

/* A streamed body: what libmicrohttpd's content reader needs besides POS. */
struct stream {
	http_stream_fn fn;
	void *arg;
	void (*free_fn)(void *arg);
	uint64_t len;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t got = 0;

	if (pos >= st->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > st->len - pos)
		max = (size_t)(st->len - pos);
	/* 0 bytes would make libmicrohttpd ask again at once: an error too. */
	if (st->fn(st->arg, pos, (uint8_t *)buf, max, &got) != 0 || got == 0 || got > max)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return (ssize_t)got;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	if (st->free_fn)
		st->free_fn(st->arg);
	free(st);
}

void http_respond_stream(struct http_response *res, uint64_t len, http_stream_fn fn, void *arg,
			 void (*free_fn)(void *arg))
{
	res->stream = fn;
	res->stream_arg = arg;
	res->stream_free = free_fn;
	res->stream_len = len;
}

/* The libmicrohttpd response for RES, or NULL. A stream's argument is
 * released here when no response takes it over. */
static struct MHD_Response *response_of(struct http_response *res)
{
	struct MHD_Response *r;
	struct stream *st;

	if (res->use_fd)
		return MHD_create_response_from_fd_at_offset64(res->fd_len, res->fd, res->fd_offset);
	if (res->stream == NULL)
		return MHD_create_response_from_buffer(res->body.len, res->body.data,
						       MHD_RESPMEM_MUST_COPY);
	if ((st = malloc(sizeof(*st))) == NULL) {
		if (res->stream_free)
			res->stream_free(res->stream_arg);
		return NULL;
	}
	*st = (struct stream){ res->stream, res->stream_arg, res->stream_free, res->stream_len };
	/* No bigger block than the response: libmicrohttpd allocates and
	 * zeroes the whole block for every response, and most of a restore's
	 * ranges are a few KiB. */
	r = MHD_create_response_from_callback(st->len, st->len > 0 && st->len < STREAM_BLOCK
					      ? (size_t)st->len : STREAM_BLOCK, stream_read, st,
					      stream_free);
	if (r == NULL)
		stream_free(st);
	return r;
}

/* A decimal number at *P, digits only (strtoull would take signs and
 * spaces), into *V, moving *P past it. 0, or -1 for no digit or overflow. */
static int decimal(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	return 0;
}

int http_length(const char *value, uint64_t *len)
{
	*len = 0;
	if (value == NULL)
		return 0;
	if (decimal(&value, len) == 0 && *value == 0)
		return 0;
	*len = 0;
	return -1;
}

int http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
	const char *p = value;
	uint64_t a, b = UINT64_MAX;

	if (p == NULL || strncmp(p, "bytes=", 6) != 0)
		return -1;
	p += 6;
	if (decimal(&p, &a) != 0 || *p++ != '-')
		return -1;
	if (*p && (decimal(&p, &b) != 0 || *p))
		return -1;
	if (a > b || a >= size)
		return 1;
	*first = a;
	*last = b < size ? b : size - 1;
	return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, struct http_response *res)
{
	struct MHD_Response *r = response_of(res);
	enum MHD_Result ok;
	bool cache_set = false;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", res->content_type ? res->content_type
								     : "application/json");
	for (int i = 0; i < res->n_headers; i++) {
		MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
		cache_set |= strcasecmp(res->headers[i].name, "Cache-Control") == 0;
	}
	if (!cache_set)
		MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (res->disposition[0])
		MHD_add_response_header(r, "Content-Disposition", res->disposition);
	if (res->content_range[0])
		MHD_add_response_header(r, "Content-Range", res->content_range);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	ok = MHD_queue_response(c, (unsigned)res->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Fill RES with the error answer STATUS, CODE, MSG. */
static void error_response(struct http_response *res, int status, const char *code,
			   const char *msg)
{
	char text[400];
	int n = snprintf(text, sizeof(text), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
			 code, msg);

	res->status = status;
	buf_append(&res->body, text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0, NULL);
}

/* The request C's headers as an http_request without a body. */
static void head_of(struct http_server *s, struct MHD_Connection *c, const char *url,
		    const char *method, struct http_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = url;
	req->header = mhd_header;
	req->conn = c;
	req->tls = s->tls;
	peer_of(c, req->peer, sizeof(req->peer));
}

/* The declared length of C's body into *LEN (http_length). */
static int declared_length(struct MHD_Connection *c, uint64_t *len)
{
	return http_length(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_LENGTH), len);
}

/*
 * The first call for a request: where may its body go? Fills RES and
 * returns -1 to refuse it before a byte of the body is read; 0 with P set
 * up (a spool file for an admitted upload, else the memory buffer).
 */
static int admit_request(struct http_server *s, struct MHD_Connection *c, const char *url,
			 const char *method, struct pending *p, struct http_response *res)
{
	struct http_request req;
	uint64_t max = upload_max(s, method, url), len;
	bool chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;

	if (declared_length(c, &len) != 0) {
		error_response(res, 400, "invalid", "Content-Length must be a decimal number");
		return -1;
	}
	/* Why read an oversized JSON body to its end (discarding past the
	 * limit) rather than refuse it at once: the client then reads the 413,
	 * where an early answer would reach most clients as a reset
	 * connection. It costs bandwidth, never memory past the limit or disk.
	 * Only up to HTTP_DRAIN_MAX declared: no client of the JSON API sends
	 * more, and a length like 10^12 would only hold the connection until
	 * its deadline, so it is refused from the headers. */
	if (max == 0) {
		if (len > HTTP_DRAIN_MAX) {
			error_response(res, 413, "too_large",
				       "request body is over the limit for this path");
			return -1;
		}
		p->max = HTTP_BODY_MAX;
		return 0;
	}
	if (chunked) {
		error_response(res, 411, "length_required", "an upload must declare its length "
			       "in Content-Length; chunked bodies are not taken on this path");
		return -1;
	}
	if (len > max) {
		error_response(res, 413, "too_large", "request body is over the limit for this path");
		return -1;
	}
	if (s->admit == NULL) {
		error_response(res, 403, "denied", "this service takes no uploads on this path");
		return -1;
	}
	head_of(s, c, url, method, &req);
	req.body_len = (size_t)len;
	if (s->admit(s->ctx, &req, &p->ticket, res) != 0) {
		if (res->status == 0)
			error_response(res, 403, "denied", "this upload was not admitted");
		return -1;
	}
	p->admitted = true;
	p->max = len;
	if (snprintf(p->path, sizeof(p->path), "%s/upload.XXXXXX", s->spool) >=
		    (int)sizeof(p->path) ||
	    (p->fd = mkostemp(p->path, O_CLOEXEC)) < 0) {
		p->failed = true;
		p->full = errno == ENOSPC || errno == EDQUOT;
		p->path[0] = 0;
	}
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	struct pending *p = *state;
	struct http_request req;
	struct http_response res;
	enum MHD_Result ok;

	(void)version;
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL || (p->sha = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(p->sha, EVP_sha256(), NULL) != 1) {
			if (p)
				EVP_MD_CTX_free(p->sha);
			free(p);
			return MHD_NO;
		}
		p->fd = -1;
		*state = p;
		memset(&res, 0, sizeof(res));
		if (admit_request(s, c, url, method, p, &res) == 0) {
			if (p->fd >= 0)
				watch_deadline(s, c, false); /* an admitted upload */
			return MHD_YES;
		}
		/* Queued before the body: libmicrohttpd answers without reading
		 * it and closes the connection afterwards. */
		p->answered = true;
		ok = respond(c, &res);
		buf_free(&res.body);
		return ok;
	}
	if (p->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (p->too_large || p->failed || p->size + *upload_size > p->max) {
			p->too_large = !p->failed;
		} else if (p->fd >= 0) {
			size_t done = 0;
			ssize_t n = 0;

			while (done < *upload_size &&
			       (n = write(p->fd, upload + done, *upload_size - done)) > 0)
				done += (size_t)n;
			if (done < *upload_size) {
				p->failed = true;
				p->full = n < 0 && (errno == ENOSPC || errno == EDQUOT);
			}
		} else if (buf_append(&p->body, upload, *upload_size, NULL) != 0) {
			p->failed = true;
		}
		if (!p->too_large && !p->failed) {
			EVP_DigestUpdate(p->sha, upload, *upload_size);
			p->size += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	watch_deadline(s, c, false); /* whole: answered however long it takes */
	memset(&res, 0, sizeof(res));
	if (p->too_large || p->failed) {
		char msg[400];
		int n = snprintf(msg, sizeof(msg), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
				 p->full ? "full" : p->failed ? "io" : "too_large", p->full
				 ? "the service's storage is full (its data folder has no room for "
				   "the upload): the service's operator must free space or add "
				   "storage to its data folder; recovery points already committed "
				   "are unharmed, and the next backup resumes where this one stopped"
				 : p->failed
				 ? "the service could not store the request body; retry later"
				 : "request body is over the limit for this path");

		if (p->full)
			fprintf(stderr, "arcad: out of space: the data folder has no room for an "
				"upload\n");
		res.status = p->full ? 507 : p->failed ? 500 : 413;
		buf_append(&res.body, msg, (size_t)n, NULL);
	} else {
		head_of(s, c, url, method, &req);
		req.body = p->fd >= 0 ? NULL : p->body.data;
		req.body_len = (size_t)p->size;
		req.body_file = p->fd >= 0 ? p->path : NULL;
		EVP_DigestFinal_ex(p->sha, req.body_sha256, NULL);
		req.ticket = p->ticket;
		if (p->fd >= 0) {
			close(p->fd);
			p->fd = -1;
		}
		s->h(s->ctx, &req, &res);
	}
	/* Before answering, so that a client that got its answer never sees
	 * the upload's temporary file (the handler may have moved it already),
	 * nor its reservation still held when it sends the next upload. */
	if (p->path[0]) {
		unlink(p->path);
		p->path[0] = 0;
	}
	if (p->admitted) {
		p->admitted = false;
		if (s->release)
			s->release(s->ctx, p->ticket);
		p->ticket = NULL;
	}
	ok = respond(c, &res);
	buf_free(&res.body);
	return ok;
}

static void done_cb(void *cls, struct MHD_Connection *c, void **state,
		    enum MHD_RequestTerminationCode why)
{
	struct http_server *s = cls;
	struct pending *p = *state;

	(void)why;
	watch_deadline(s, c, true); /* the next request on this connection */
	if (p) {
		if (p->admitted && s->release)
			s->release(s->ctx, p->ticket);
		if (p->fd >= 0)
			close(p->fd);
		if (p->path[0])
			unlink(p->path); /* gone already if the handler kept it */
		EVP_MD_CTX_free(p->sha);
		buf_free(&p->body);
		free(p);
		*state = NULL;
	}
}

/* ---- behind a load balancer: the PROXY protocol ---- */

/* Whether SA (an accepted peer) is one of the trusted balancers. An IPv4
 * balancer reached over an IPv6 socket shows as ::ffff:a.b.c.d. */
static bool is_proxy(const struct http_server *s, const struct sockaddr *sa)
{
	struct in_addr v4;
	bool have_v4 = false;

	if (sa->sa_family == AF_INET) {
		v4 = ((const struct sockaddr_in *)sa)->sin_addr;
		have_v4 = true;
	} else if (sa->sa_family == AF_INET6 &&
		   IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		memcpy(&v4, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr + 12, 4);
		have_v4 = true;
	}
	for (size_t i = 0; i < s->n_proxy; i++) {
		const struct sockaddr *p = (const struct sockaddr *)&s->proxy[i];

		if (p->sa_family == AF_INET && have_v4 &&
		    ((const struct sockaddr_in *)p)->sin_addr.s_addr == v4.s_addr)
			return true;
		if (p->sa_family == AF_INET6 && sa->sa_family == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)p)->sin6_addr,
			   &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) == 0)
			return true;
	}
	return false;
}

/* Read exactly N bytes from FD (a blocking socket with a receive timeout).
 * 0, or -1 on a timeout, an error or the peer gone. */
static int read_exact(int fd, uint8_t *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, buf, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

static void say(struct http_server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_cb(s, fmt, ap);
	va_end(ap);
}

struct greeting {
	struct http_server *s;
	int slot, fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

/* One balancer's connection: read its PROXY header (the bytes of the
 * header only, never a byte of the TLS or HTTP stream behind it), then
 * give the connection to libmicrohttpd as the client's. A LOCAL header
 * (the balancer's health check) keeps the balancer's own address. */
static void *greet(void *arg)
{
	struct greeting *g = arg;
	struct http_server *s = g->s;
	uint8_t hdr[PROXY_V2_FIXED + PROXY_V2_REST_MAX];
	struct sockaddr_storage client;
	socklen_t client_len;
	struct timeval tv = { GREETING_SECONDS, 0 }, none = { 0, 0 };
	size_t rest = 0;
	bool local = true, ok = false, closing;
	struct err e;

	err_clear(&e);
	setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (read_exact(g->fd, hdr, PROXY_V2_FIXED) != 0)
		err_set(&e, ERR_IO, "no PROXY protocol header within %d seconds", GREETING_SECONDS);
	else if (proxy_v2_begin(hdr, &rest, &e) == 0) {
		if (read_exact(g->fd, hdr + PROXY_V2_FIXED, rest) != 0)
			err_set(&e, ERR_IO, "a PROXY protocol header cut short");
		else if (proxy_v2_parse(hdr, PROXY_V2_FIXED + rest, &client, &client_len, &local,
					&e) == 0)
			ok = true;
	}
	setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	/* Out of the slots under MU first, so that http_stop no longer shuts
	 * the socket down; handed over without MU held (libmicrohttpd calls
	 * back into this module, which takes it); counted out last: http_stop
	 * waits for the count to reach zero before it stops the daemon that
	 * MHD_add_connection needs. */
	pthread_mutex_lock(&s->mu);
	s->greeting[g->slot] = -1;
	closing = s->closing;
	pthread_mutex_unlock(&s->mu);
	if (ok && !closing) {
		const struct sockaddr *sa = local ? (const struct sockaddr *)&g->peer
						  : (const struct sockaddr *)&client;
		socklen_t sl = local ? g->peer_len : client_len;

		MHD_add_connection(s->d, g->fd, sa, sl); /* it closes the socket if it fails */
	} else {
		close(g->fd);
	}
	pthread_mutex_lock(&s->mu);
	s->n_greeting--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (!ok && e.code != ERR_OK)
		say(s, "a connection from the load balancer closed: %s\n", e.msg);
	free(g);
	return NULL;
}

/* Start reading the PROXY header of balancer connection FD from PEER on a
 * thread of its own, in one of GREETING_MAX slots; with none free (or no
 * thread to be had) the connection is closed. */
static void greet_later(struct http_server *s, int fd, const struct sockaddr_storage *peer,
			socklen_t peer_len)
{
	struct greeting *g = calloc(1, sizeof(*g));
	pthread_attr_t attr;
	pthread_t t;
	int slot = -1;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; g && i < GREETING_MAX && slot < 0; i++)
		if (s->greeting[i] < 0)
			slot = i;
	if (slot >= 0) {
		s->greeting[slot] = fd;
		s->n_greeting++;
	}
	pthread_mutex_unlock(&s->mu);
	if (slot < 0) {
		free(g);
		close(fd);
		say(s, "more than %d connections from the load balancer await their PROXY header; "
		    "one closed\n", GREETING_MAX);
		return;
	}
	*g = (struct greeting){ s, slot, fd, *peer, peer_len };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, greet, g) != 0) {
		pthread_mutex_lock(&s->mu);
		s->greeting[slot] = -1;
		s->n_greeting--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		close(fd);
		free(g);
	}
	pthread_attr_destroy(&attr);
}

/* The acceptor: a balancer's connections go to greet, any other client's
 * straight to libmicrohttpd with its own address (a header it might send
 * is then just bad HTTP or TLS). */
static void *acceptor_main(void *arg)
{
	struct http_server *s = arg;

	for (;;) {
		struct pollfd p = { s->lfd, POLLIN, 0 };
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		bool closing;
		int fd;

		pthread_mutex_lock(&s->mu);
		closing = s->closing;
		pthread_mutex_unlock(&s->mu);
		if (closing)
			break;
		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((fd = accept4(s->lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC)) < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				poll(NULL, 0, 100); /* out of descriptors: let some close */
			continue;
		}
		if (is_proxy(s, (struct sockaddr *)&peer))
			greet_later(s, fd, &peer, len);
		else
			MHD_add_connection(s->d, fd, (struct sockaddr *)&peer, len);
	}
	return NULL;
}

/* Take the balancers' addresses from LIM into S. 0, or -1 with E set. */
static int set_proxies(struct http_server *s, const struct http_limits *lim, struct err *e)
{
	if (lim->n_proxies > HTTP_PROXIES_MAX)
		return err_set(e, ERR_INVALID, "at most %d load balancer addresses, not %zu",
			       HTTP_PROXIES_MAX, lim->n_proxies);
	for (size_t i = 0; i < lim->n_proxies; i++) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&s->proxy[i];
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&s->proxy[i];

		if (inet_pton(AF_INET, lim->proxies[i], &a4->sin_addr) == 1)
			a4->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, lim->proxies[i], &a6->sin6_addr) == 1)
			a6->sin6_family = AF_INET6;
		else
			return err_set(e, ERR_INVALID, "load balancer address '%s' is not an IPv4 or "
				       "IPv6 address", lim->proxies[i]);
	}
	s->n_proxy = lim->n_proxies;
	return 0;
}

/* Our own listening socket on SS (its family's size SL), for the acceptor.
 * The descriptor, or -1 with E set. */
static int listen_on(const struct sockaddr_storage *ss, socklen_t sl, struct err *e)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0) {
		err_set(e, ERR_IO, "cannot make a listening socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
		close(fd);
		return -1; /* the caller says "cannot listen" */
	}
	return fd;
}

struct http_server *http_start(const char *host, uint16_t port, const char *cert_pem,
			       const char *key_pem, const struct http_limits *lim, http_handler h,
			       void *ctx, struct err *e)
{
	const struct http_limits def = { HTTP_TIMEOUT_DEFAULT, HTTP_PER_ADDRESS_DEFAULT, NULL, 0 };
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	const char *bind_host = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, bind_host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, bind_host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		err_set(e, ERR_INVALID, "listen address %s is not an IPv4 or IPv6 address", host);
		return NULL;
	}
	if (lim == NULL)
		lim = &def;
	if (lim->timeout < 1 || lim->timeout > 3600 || lim->per_address < 1 ||
	    lim->per_address > HTTP_CONNECTIONS_MAX) {
		err_set(e, ERR_INVALID, "a connection timeout of 1 to 3600 seconds and 1 to %d "
			"connections per address, please", HTTP_CONNECTIONS_MAX);
		return NULL;
	}
	if ((cert_pem == NULL) != (key_pem == NULL)) {
		err_set(e, ERR_INVALID, "TLS needs both a certificate and a key");
		return NULL;
	}
	if (cert_pem == NULL && !http_is_loopback(host)) {
		err_set(e, ERR_INVALID, "plain HTTP is allowed only on a loopback address, not on %s; "
			"serve HTTPS there", host);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_oom(e);
		return NULL;
	}
	s->h = h;
	s->ctx = ctx;
	s->timeout = lim->timeout;
	s->lfd = -1;
	for (size_t i = 0; i < GREETING_MAX; i++)
		s->greeting[i] = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (set_proxies(s, lim, e) != 0) {
		http_stop(s);
		return NULL;
	}
	/* Behind balancers we accept ourselves, to read each one's PROXY
	 * header before libmicrohttpd (and TLS) sees a byte; the daemon then
	 * has no socket of its own. */
	if (s->n_proxy > 0) {
		socklen_t sl = ss.ss_family == AF_INET ? sizeof(*a4) : sizeof(*a6);

		if ((s->lfd = listen_on(&ss, sl, e)) < 0) {
			if (e->code == ERR_OK)
				err_set(e, ERR_IO, "cannot listen on %s port %u (in use, or not an "
					"address of this machine)", host, port);
			http_stop(s);
			return NULL;
		}
		if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) != 0) {
			err_set(e, ERR_IO, "cannot read the listening socket's port: %s",
				strerror(errno));
			http_stop(s);
			return NULL;
		}
		flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	}
	if (cert_pem)
		flags |= MHD_USE_TLS;
	s->tls = cert_pem != NULL;
	s->d = cert_pem
		? MHD_start_daemon(flags, 0, NULL, NULL, access_cb, s,
				   MHD_OPTION_EXTERNAL_LOGGER, log_cb, s,
				   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				   MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
				   MHD_OPTION_NOTIFY_COMPLETED, done_cb, s,
				   MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s,
				   MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL,
				   MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout,
				   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				   MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_address, MHD_OPTION_END)
		: MHD_start_daemon(flags, 0, NULL, NULL, access_cb, s,
				   MHD_OPTION_EXTERNAL_LOGGER, log_cb, s,
				   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				   MHD_OPTION_NOTIFY_COMPLETED, done_cb, s,
				   MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s,
				   MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL,
				   MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout,
				   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				   MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_address, MHD_OPTION_END);
	if (s->d == NULL) {
		err_set(e, ERR_IO, "cannot listen on %s port %u (in use, or not an address of this "
			"machine)", host, port);
		http_stop(s);
		return NULL;
	}
	if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0) {
		err_set(e, ERR_IO, "cannot start the thread that ends overdue requests");
		http_stop(s);
		return NULL;
	}
	s->watching = true;
	if (s->lfd >= 0) {
		s->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
		if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
			err_set(e, ERR_IO, "cannot start the thread that accepts connections");
			http_stop(s);
			return NULL;
		}
		s->accepting = true;
		return s;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	return s;
}

uint16_t http_port(const struct http_server *s)
{
	return s->port;
}

void http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* Behind balancers: no new connection, and none half-greeted, may
	 * reach the daemon once it is stopping. */
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	for (size_t i = 0; i < GREETING_MAX; i++)
		if (s->greeting[i] >= 0)
			shutdown(s->greeting[i], SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	if (s->accepting)
		pthread_join(s->acceptor, NULL);
	pthread_mutex_lock(&s->mu);
	while (s->n_greeting > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->watching) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->watcher, NULL);
	}
	if (s->lfd >= 0)
		close(s->lfd); /* after the daemon: its threads may still refer to it */
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
