/* Pulling a firmware package (fw_fetch.h): http(s):// through libcurl's
 * multi interface on the loop's fd watches and one timer, coap(s):// with
 * block-wise GETs on the engine (lwm2m/coap_fetch.c).
 *
 * One download is a series of attempts; an attempt that ends without the
 * whole package (connection refused, reset, stalled, no CoAP answer) is
 * followed by another from the next byte still missing, after a backoff,
 * until give_up_ms has passed since the last byte came in.  Failures that
 * another attempt cannot cure (404, refused credentials, a malformed
 * answer) end the download at once.
 *
 * libcurl resolves host names itself: Debian's libcurl3-gnutls is built
 * with its threaded resolver (curl_version_info's AsynchDNS without
 * c-ares), one short-lived thread per look-up, never a blocking call on
 * the loop.  Numeric addresses need no look-up at all. */
#include "fw_fetch.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "build-aux/config.h"
#include "clock.h"
#include "log.h"
#include "loop.h"
#include "lwm2m/coap_fetch.h"
#include "lwm2m/security.h"

#define FW_GIVE_UP_DEFAULT_MS (10u * 60u * 1000u)
#define FW_BACKOFF_FIRST_MS 500u
#define FW_BACKOFF_MAX_MS 30000u
/* CoAP: the block size asked for (szx 6: 1024 bytes). */
#define FW_COAP_SZX 6u

/* In the order of the FW_PROTO_* bits. */
enum fw_scheme { FW_COAP, FW_COAPS, FW_HTTP, FW_HTTPS };

struct fw_fetcher {
	struct gw_loop *loop;
	struct lwm_engine *engine;
	CURLM *multi;
	struct gw_timer curl_timer;
	struct fw_fetch *list;
	struct fw_sock *socks; /* the sockets libcurl has us watch */
	/* Tests: CoAP transmission parameters for new downloads. */
	uint32_t coap_ack_timeout_ms;
	int coap_max_retransmit;
};

/* One socket libcurl asked us to watch. */
struct fw_sock {
	struct fw_fetcher *f;
	struct fw_sock *next;
	struct gw_watch *w;
	curl_socket_t fd;
};

struct fw_fetch {
	struct fw_fetcher *f;
	struct fw_fetch *prev, *next;
	enum fw_scheme scheme;
	char *uri;
	struct fw_fetch_ops ops;
	void *ud;
	uint64_t off;         /* the next byte to hand to data() */
	uint64_t total;       /* the size the peer said, once size_known */
	bool size_known;
	uint64_t give_up_ms;
	uint64_t last_byte_ms; /* or the start */
	bool answered;         /* the server answered something, ever */
	uint32_t backoff_ms;
	struct gw_timer timer; /* the next attempt, or done() */
	/* give_up_ms after the last byte, whatever an attempt is doing (a
	 * CoAP request's retransmissions, a stall libcurl is slow to see). */
	struct gw_timer watchdog;
	int status;            /* size()/data() stopped it with this */
	bool finishing;        /* done() is due: nothing else runs */
	bool in_done;
	int final;
	/* http(s) */
	CURL *easy;
	char *ca_file;
	int insecure;
	char *etag;           /* the first answer's, to tell a changed file */
	char *new_etag;       /* this attempt's answer's */
	long cr_start;        /* this answer's Content-Range first byte, or -1 */
	int64_t cr_total;     /* its total, or -1 */
	bool body_started;    /* this attempt's first body byte was seen */
	uint64_t skip;        /* bytes of this answer we already have */
	struct curl_slist *hdrs;
	char range[32];
	char errbuf[CURL_ERROR_SIZE];
	/* coap(s) */
	struct lwm_get *get;
	unsigned szx;         /* the block size in use (the server may lower it) */
};

static void attempt(struct fw_fetch *x);

/* ---- ending a download ----------------------------------------------------- */

static void unlink_fetch(struct fw_fetch *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->f->list = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void stop_http(struct fw_fetch *x)
{
	if (x->easy) {
		curl_multi_remove_handle(x->f->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
}

static void free_fetch(struct fw_fetch *x)
{
	gw_timer_disarm(&x->timer);
	gw_timer_disarm(&x->watchdog);
	stop_http(x);
	if (x->get)
		lwm_get_free(x->get);
	free(x->etag);
	free(x->new_etag);
	free(x->ca_file);
	free(x->uri);
	free(x);
}

/* done() runs from the fetch's own timer, never from inside libcurl's or
 * libcoap's callbacks (where the session or handle cannot be freed). */
static void finish(struct fw_fetch *x, int status)
{
	if (x->finishing)
		return;
	x->finishing = true;
	x->final = status;
	gw_timer_disarm(&x->watchdog);
	gw_timer_arm(&x->timer, clock_now_ms());
}

/* Re-armed lazily: bytes only move last_byte_ms, and the watchdog looks
 * again when it fires. */
static void watchdog_cb(struct gw_timer *t, void *ud)
{
	struct fw_fetch *x = ud;
	uint64_t now = clock_now_ms();

	if (x->finishing)
		return;
	if (now - x->last_byte_ms < x->give_up_ms) {
		gw_timer_arm(&x->watchdog, x->last_byte_ms + x->give_up_ms);
		return;
	}
	log_info(NULL, "firmware package %s: no data for %" PRIu64 " ms; giving up", x->uri,
		 now - x->last_byte_ms);
	stop_http(x);
	finish(x, x->answered ? -ECONNRESET : -ETIMEDOUT);
}

static void timer_cb(struct gw_timer *t, void *ud)
{
	struct fw_fetch *x = ud;

	if (!x->finishing) {
		attempt(x);
		return;
	}
	unlink_fetch(x);
	stop_http(x);
	if (x->final == 0)
		log_info(NULL, "firmware package %s: %" PRIu64 " bytes fetched", x->uri, x->off);
	else
		log_warn(NULL, "firmware package %s: download failed after %" PRIu64 " bytes: %s",
			 x->uri, x->off, strerror(-x->final));
	x->in_done = true;
	x->ops.done(x->ud, x->final);
	free_fetch(x);
}

/* An attempt ended without the whole package: another one after a
 * backoff, unless give_up_ms has passed since the last byte. */
static void retry(struct fw_fetch *x, const char *why)
{
	uint64_t now = clock_now_ms(), since = now - x->last_byte_ms, delay;

	if (x->finishing)
		return;
	if (since >= x->give_up_ms) {
		log_info(NULL, "firmware package %s: %s; giving up after %" PRIu64 " ms without data",
			 x->uri, why, since);
		finish(x, x->answered ? -ECONNRESET : -ETIMEDOUT);
		return;
	}
	delay = x->backoff_ms;
	if (delay > x->give_up_ms - since)
		delay = x->give_up_ms - since;
	x->backoff_ms = x->backoff_ms * 2 > FW_BACKOFF_MAX_MS ? FW_BACKOFF_MAX_MS
							     : x->backoff_ms * 2;
	log_info(NULL, "firmware package %s: %s; trying again from byte %" PRIu64 " in %" PRIu64
		 " ms", x->uri, why, x->off, delay);
	gw_timer_arm(&x->timer, now + delay);
}

/* Bytes came in: the give-up clock and the backoff start afresh. */
static void progress(struct fw_fetch *x)
{
	x->last_byte_ms = clock_now_ms();
	x->backoff_ms = FW_BACKOFF_FIRST_MS;
	x->answered = true;
}

/* The peer said the whole size: once to the user, and the same ever after
 * (a package that changed size between attempts is another package). */
static int take_size(struct fw_fetch *x, uint64_t total)
{
	if (x->size_known)
		return total == x->total ? 0 : -EPROTO;
	if (total < x->off)
		return -EPROTO;
	x->size_known = true;
	x->total = total;
	return x->ops.size ? x->ops.size(x->ud, total) : 0;
}

static int deliver(struct fw_fetch *x, const uint8_t *p, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if (x->size_known && (len > x->total || x->off > x->total - len))
		return -EPROTO; /* more than the peer said there was */
	r = x->ops.data(x->ud, x->off, p, len);
	if (r < 0)
		return r;
	x->off += len;
	progress(x);
	return 0;
}

/* ---- http(s):// ---------------------------------------------------------- */

static void check_done(struct fw_fetcher *f);

static void sock_cb(int fd, uint32_t revents, void *ud)
{
	struct fw_sock *s = ud;
	struct fw_fetcher *f = s->f;
	int flags = 0, running;

	if (revents & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	/* s may be freed inside (CURL_POLL_REMOVE). */
	curl_multi_socket_action(f->multi, fd, flags, &running);
	check_done(f);
}

static void sock_free(struct fw_fetcher *f, struct fw_sock *s)
{
	for (struct fw_sock **pp = &f->socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	loop_unwatch_fd(s->w);
	free(s);
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct fw_fetcher *f = userp;
	struct fw_sock *s = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(f->multi, fd, NULL);
			sock_free(f, s);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (s)
		return loop_watch_events(s->w, ev) < 0 ? -1 : 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->f = f;
	s->fd = fd;
	if (loop_watch_fd(f->loop, fd, ev, sock_cb, s, &s->w) < 0) {
		free(s);
		return -1;
	}
	curl_multi_assign(f->multi, fd, s);
	s->next = f->socks;
	f->socks = s;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fw_fetcher *f = userp;

	if (timeout_ms < 0)
		gw_timer_disarm(&f->curl_timer);
	else
		gw_timer_arm(&f->curl_timer, clock_now_ms() + (uint64_t)timeout_ms);
	return 0;
}

static void curl_due(struct gw_timer *t, void *ud)
{
	struct fw_fetcher *f = ud;
	int running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

/* One header line of an answer (each answer of a redirect chain starts
 * with its status line). */
static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct fw_fetch *x = ud;
	size_t len = size * n;
	char line[512];
	const char *v;

	if (len >= sizeof(line))
		return len; /* nothing we read is that long */
	memcpy(line, buf, len);
	line[len] = '\0';
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		x->cr_start = -1;
		x->cr_total = -1;
		free(x->new_etag);
		x->new_etag = NULL;
		return size * n;
	}
	if (strncasecmp(line, "Content-Range:", 14) == 0) {
		unsigned long long a, b, t;
		v = line + 14;
		while (*v == ' ' || *v == '\t')
			v++;
		if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			x->cr_start = (long)a;
			x->cr_total = (int64_t)t;
		} else if (sscanf(v, "bytes %llu-%llu/*", &a, &b) == 2) {
			x->cr_start = (long)a;
		} else if (sscanf(v, "bytes */%llu", &t) == 1) {
			x->cr_total = (int64_t)t;
		}
	} else if (strncasecmp(line, "ETag:", 5) == 0) {
		v = line + 5;
		while (*v == ' ' || *v == '\t')
			v++;
		free(x->new_etag);
		x->new_etag = *v ? strdup(v) : NULL;
	}
	return size * n;
}

/* The first body bytes of an attempt: which part of the package this is. */
static int body_start(struct fw_fetch *x)
{
	long code = 0;
	curl_off_t cl = -1;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	x->body_started = true;
	x->answered = true;
	if (code == 206) {
		/* The part asked for, from where we are. */
		if (x->cr_start < 0 || (uint64_t)x->cr_start != x->off)
			return -EPROTO;
		x->skip = 0;
		if (x->cr_total >= 0)
			return take_size(x, (uint64_t)x->cr_total);
		return 0;
	}
	if (code < 200 || code > 299)
		return -EPROTO;
	/* The whole package: a server without ranges, or a first attempt.
	 * What we already have is skipped, unless it is another package. */
	if (x->off > 0 && x->etag && (!x->new_etag || strcmp(x->etag, x->new_etag) != 0))
		return -EPROTO;
	x->skip = x->off;
	if (cl >= 0)
		return take_size(x, (uint64_t)cl);
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct fw_fetch *x = ud;
	size_t len = size * n, skip;
	int r;

	if (x->status)
		return 0;
	if (!x->body_started) {
		r = body_start(x);
		if (r < 0) {
			x->status = r;
			return 0;
		}
		if (!x->etag && x->new_etag)
			x->etag = strdup(x->new_etag);
	}
	skip = x->skip < len ? (size_t)x->skip : len;
	x->skip -= skip;
	r = deliver(x, (const uint8_t *)p + skip, len - skip);
	if (r < 0) {
		x->status = r;
		return 0; /* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	return len;
}

static int http_attempt(struct fw_fetch *x)
{
	uint64_t left = x->give_up_ms - (clock_now_ms() - x->last_byte_ms);
	long stall_s;
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	x->easy = c;
	x->body_started = false;
	x->cr_start = -1;
	x->cr_total = -1;
	x->skip = 0;
	x->errbuf[0] = '\0';
	/* A stalled transfer is a lost connection: at most 30 s (or the time
	 * left) below one byte a second. */
	stall_s = (long)((left + 999) / 1000);
	if (stall_s > 30)
		stall_s = 30;
	if (stall_s < 1)
		stall_s = 1;
	curl_easy_setopt(c, CURLOPT_URL, x->uri);
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "gatewayd/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < 30000 ? left : 30000));
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s);
	if (x->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, x->ca_file);
	if (x->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->off > 0) {
		/* RFC 9110 14.2: the rest, if it is still the same package. */
		snprintf(x->range, sizeof(x->range), "%" PRIu64 "-", x->off);
		curl_easy_setopt(c, CURLOPT_RANGE, x->range);
		curl_slist_free_all(x->hdrs);
		x->hdrs = NULL;
		if (x->etag) {
			char *h = malloc(strlen(x->etag) + 11);
			if (h) {
				sprintf(h, "If-Range: %s", x->etag);
				x->hdrs = curl_slist_append(NULL, h);
				free(h);
			}
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
		}
	}
	if (curl_multi_add_handle(x->f->multi, c) != CURLM_OK) {
		x->easy = NULL;
		curl_easy_cleanup(c);
		return -ENOMEM;
	}
	return 0;
}

/* What an HTTP status that ends an attempt means: 0 to try again. */
static int http_status_err(long code)
{
	switch (code) {
	case 404:
	case 410:
		return -ENOENT;
	case 401:
	case 403:
	case 407:
		return -EACCES;
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return 0; /* the server's trouble, maybe for a moment */
	default:
		return -EPROTO;
	}
}

static void http_ended(struct fw_fetch *x, CURLcode res)
{
	long code = 0;
	curl_off_t cl = -1;
	char why[CURL_ERROR_SIZE + 64];
	int err;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	if (code > 0)
		x->answered = true;
	snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
	stop_http(x);
	if (x->status)
		return finish(x, x->status);
	switch (res) {
	case CURLE_OK:
		/* An empty package has no body to say its size with. */
		if (!x->body_started && code == 200 && cl == 0 && (err = take_size(x, 0)) < 0)
			return finish(x, err);
		if (x->size_known && x->off < x->total)
			return retry(x, "the connection ended early");
		return finish(x, 0);
	case CURLE_HTTP_RETURNED_ERROR:
		if (code == 416 && x->cr_total >= 0 && (uint64_t)x->cr_total == x->off &&
		    take_size(x, (uint64_t)x->cr_total) == 0)
			return finish(x, 0); /* we had it all already */
		err = http_status_err(code);
		if (err == 0) {
			snprintf(why, sizeof(why), "HTTP status %ld", code);
			return retry(x, why);
		}
		log_warn(NULL, "firmware package %s: HTTP status %ld", x->uri, code);
		return finish(x, err);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return finish(x, -EPROTONOSUPPORT);
	case CURLE_URL_MALFORMAT:
		return finish(x, -EINVAL);
	case CURLE_COULDNT_RESOLVE_HOST:
		/* A name that never resolved is a wrong URI; one that stopped
		 * resolving mid-way may come back. */
		if (x->off == 0 && !x->answered) {
			log_warn(NULL, "firmware package %s: %s", x->uri, why);
			return finish(x, -EHOSTUNREACH);
		}
		return retry(x, why);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_LOGIN_DENIED:
		log_warn(NULL, "firmware package %s: TLS failed: %s", x->uri, why);
		return finish(x, -EACCES);
	case CURLE_OUT_OF_MEMORY:
		return finish(x, -ENOMEM);
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return retry(x, why);
	default:
		log_warn(NULL, "firmware package %s: %s", x->uri, why);
		return finish(x, -EPROTO);
	}
}

static void check_done(struct fw_fetcher *f)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(f->multi, &left))) {
		struct fw_fetch *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x && x->easy == m->easy_handle)
			http_ended(x, m->data.result);
	}
}

/* ---- coap(s):// ---------------------------------------------------------- */

static void coap_request(struct fw_fetch *x)
{
	uint32_t bs = 1u << (x->szx + 4);
	int r = lwm_get_block(x->get, (uint32_t)(x->off / bs), x->szx, !x->size_known);

	if (r < 0)
		finish(x, r);
}

static void coap_answer(void *ud, const struct lwm_get_answer *a)
{
	struct fw_fetch *x = ud;
	uint64_t start, bs;
	size_t skip;
	int r;

	if (x->finishing)
		return;
	x->answered = true;
	switch (a->code / 100) {
	case 2:
		break;
	case 4:
		if (a->code == 404 || a->code == 410)
			return finish(x, -ENOENT);
		if (a->code == 401 || a->code == 403)
			return finish(x, -EACCES);
		return finish(x, -EPROTO);
	default:
		if (a->code == 503 || a->code == 504)
			return retry(x, "the server is unavailable (5.03/5.04)");
		return finish(x, -EPROTO);
	}
	if (a->code != 205 && a->code != 203)
		return finish(x, -EPROTO);
	if (a->has_size2 && (r = take_size(x, a->size2)) < 0)
		return finish(x, r);
	if (!a->has_block2) {
		/* The whole body in one answer. */
		if (x->off > a->len)
			return finish(x, -EPROTO);
		if (!x->size_known && (r = take_size(x, a->len)) < 0)
			return finish(x, r);
		r = deliver(x, a->data + x->off, a->len - (size_t)x->off);
		return finish(x, r < 0 ? r : x->off == x->total ? 0 : -EPROTO);
	}
	/* RFC 7959 2.4: the server may answer with a smaller block; this
	 * block then starts at num times its size, and we go on with it. */
	if (a->szx > x->szx || a->szx > 6)
		return finish(x, -EPROTO);
	bs = 1u << (a->szx + 4);
	start = (uint64_t)a->num * bs;
	if (start > x->off || start + a->len < x->off || (a->more && a->len != bs))
		return finish(x, -EPROTO);
	x->szx = a->szx;
	skip = (size_t)(x->off - start);
	r = deliver(x, a->data + skip, a->len - skip);
	if (r < 0)
		return finish(x, r);
	if (!a->more) {
		if (!x->size_known && (r = take_size(x, x->off)) < 0)
			return finish(x, r);
		return finish(x, x->off == x->total ? 0 : -EPROTO);
	}
	coap_request(x);
}

static void coap_failed(void *ud, int err)
{
	struct fw_fetch *x = ud;

	if (x->finishing)
		return;
	switch (err) {
	case -EACCES: /* coap_fetch.c logged why */
		return finish(x, -EACCES);
	case -EHOSTUNREACH:
		if (x->off == 0 && !x->answered)
			return finish(x, -EHOSTUNREACH);
		return retry(x, "the host name does not resolve");
	default:
		/* The session is dropped in the attempt after the backoff. */
		return retry(x, err == -ETIMEDOUT ? "no answer from the server"
						  : "the connection was lost");
	}
}

static const struct lwm_get_ops coap_ops = {
	.answer = coap_answer,
	.failed = coap_failed,
};

/* ---- the download ------------------------------------------------------- */

static void attempt(struct fw_fetch *x)
{
	int r;

	if (x->scheme == FW_COAP || x->scheme == FW_COAPS) {
		lwm_get_reset(x->get); /* a new session: port, DTLS handshake */
		return coap_request(x);
	}
	r = http_attempt(x);
	if (r < 0)
		finish(x, r);
}

static int scheme_of(const char *uri, enum fw_scheme *s)
{
	static const struct {
		const char *prefix;
		enum fw_scheme s;
	} schemes[] = {
		{"http://", FW_HTTP}, {"https://", FW_HTTPS},
		{"coap://", FW_COAP}, {"coaps://", FW_COAPS},
	};
	const char *colon = strchr(uri, ':');

	if (!colon || colon == uri)
		return -EINVAL;
	for (const char *p = uri; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			return -EINVAL;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(uri, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) {
			*s = schemes[i].s;
			return 0;
		}
	return -EPROTONOSUPPORT;
}

/* A URI libcurl can parse, with a host. */
static int http_uri_ok(const char *uri)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host)
		r = 0;
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

int fw_fetch_start(struct fw_fetcher *f, const struct fw_fetch_params *p,
		   const struct fw_fetch_ops *ops, void *ud, struct fw_fetch **out)
{
	struct fw_fetch *x;
	enum fw_scheme s;
	int r;

	if (!p || !p->uri || !ops || !ops->data || !ops->done)
		return -EINVAL;
	r = scheme_of(p->uri, &s);
	if (r < 0)
		return r;
	if (!(fw_fetcher_protocols(f) & (1u << s)))
		return -EPROTONOSUPPORT;
	if ((s == FW_HTTP || s == FW_HTTPS) && (r = http_uri_ok(p->uri)) < 0)
		return r;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->f = f;
	x->scheme = s;
	x->ops = *ops;
	x->ud = ud;
	x->off = p->offset;
	x->give_up_ms = p->give_up_ms ? p->give_up_ms : FW_GIVE_UP_DEFAULT_MS;
	x->last_byte_ms = clock_now_ms();
	x->backoff_ms = FW_BACKOFF_FIRST_MS;
	x->insecure = p->insecure;
	x->szx = FW_COAP_SZX;
	gw_timer_init(&x->timer, loop_timers(f->loop), timer_cb, x);
	gw_timer_init(&x->watchdog, loop_timers(f->loop), watchdog_cb, x);
	x->uri = strdup(p->uri);
	if (!x->uri || (p->ca_file && !(x->ca_file = strdup(p->ca_file)))) {
		free_fetch(x);
		return -ENOMEM;
	}
	if (s == FW_COAP || s == FW_COAPS) {
		r = lwm_get_new(f->engine, p->uri, p->security, &coap_ops, x, &x->get);
		if (r < 0) {
			free_fetch(x);
			return r;
		}
		lwm_get_set_timing(x->get, f->coap_ack_timeout_ms, f->coap_max_retransmit);
		/* The first request goes out from the loop, as every later one. */
		gw_timer_arm(&x->timer, clock_now_ms());
	} else if ((r = http_attempt(x)) < 0) {
		free_fetch(x);
		return r;
	}
	gw_timer_arm(&x->watchdog, x->last_byte_ms + x->give_up_ms);
	x->next = f->list;
	if (f->list)
		f->list->prev = x;
	f->list = x;
	log_info(NULL, "firmware package %s: downloading from byte %" PRIu64, x->uri, x->off);
	*out = x;
	return 0;
}

void fw_fetch_cancel(struct fw_fetch *x)
{
	if (!x || x->in_done)
		return; /* freed when done() returns */
	unlink_fetch(x);
	free_fetch(x);
}

/* ---- the fetcher ---------------------------------------------------------- */

int fw_fetcher_new(struct gw_loop *loop, struct lwm_engine *engine, struct fw_fetcher **out)
{
	struct fw_fetcher *f;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	f->loop = loop;
	f->engine = engine;
	f->coap_max_retransmit = -1;
	gw_timer_init(&f->curl_timer, loop_timers(loop), curl_due, f);
	f->multi = curl_multi_init();
	if (!f->multi) {
		fw_fetcher_free(f);
		return -ENOMEM;
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	*out = f;
	return 0;
}

void fw_fetcher_free(struct fw_fetcher *f)
{
	if (!f)
		return;
	while (f->list)
		fw_fetch_cancel(f->list);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	/* Whatever libcurl did not take back itself in its clean-up. */
	while (f->socks)
		sock_free(f, f->socks);
	gw_timer_disarm(&f->curl_timer);
	curl_global_cleanup();
	free(f);
}

uint32_t fw_fetcher_protocols(const struct fw_fetcher *f)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	uint32_t p = 0;

	if (f->engine)
		p |= FW_PROTO_COAP | (coap_dtls_is_supported() ? FW_PROTO_COAPS : 0);
	for (const char *const *s = v->protocols; s && *s; s++) {
		if (strcmp(*s, "http") == 0)
			p |= FW_PROTO_HTTP;
		else if (strcmp(*s, "https") == 0 && (v->features & CURL_VERSION_SSL))
			p |= FW_PROTO_HTTPS;
	}
	return p;
}

void fw_fetcher_set_coap_timing(struct fw_fetcher *f, uint32_t ack_timeout_ms,
				int max_retransmit)
{
	f->coap_ack_timeout_ms = ack_timeout_ms;
	f->coap_max_retransmit = max_retransmit;
}
