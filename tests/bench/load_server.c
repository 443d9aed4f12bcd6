/* bench-load-server: a lean LwM2M registration server for gatewayd's benchmarks, on libcoap.
 *
 * The test server prints a JSON event per registration, which costs more than the
 * registration itself at 10,000 devices; this one keeps counts and timestamps only and
 * prints a line when asked (commands on stdin, answers as JSON lines on stdout).
 *
 * It also serves as the "bare libcoap" partner for the floors (--bare): a plain CoAP
 * server with one observable resource, optionally changed as fast as the loop turns
 * (--notify-fast, implies --bare), so that gatewayd's figures sit beside libcoap's own in the same run.
 *
 *   bench-load-server [-a ADDR] [-p PORT] [--rcvbuf BYTES] [--psk-key HEX]
 *                     [--bare] [--notify-fast [--notify-burst N]]
 *
 * --psk-key: DTLS with this pre-shared key (hex) for every identity.
 *
 * Commands (ID is echoed back):
 *   wait ID N TIMEOUT_MS      until N distinct endpoints are registered: "waited" with
 *                             reached_us (CLOCK_MONOTONIC, microseconds) of the N-th
 *   read ID EP|- PATH COUNT   COUNT sequential confirmable GETs to a registered endpoint
 *                             (- : the first one): "read" with p50_us, p99_us
 *   readaddr ID HOST PORT PATH COUNT   the same against any CoAP server (the floor)
 *   observe ID PATH [WINDOW]  observe PATH on every registered endpoint, up to WINDOW
 *                             (default 64) set-ups in flight at once: "observed" with
 *                             done_us (CLOCK_MONOTONIC) and the notifications that
 *                             arrived meanwhile
 *   observeaddr ID HOST PORT PATH      observe a bare server
 *   count ID WINDOW_MS        notifications received during the window: "count"
 *   leancount ID WINDOW_MS    the same, read straight off the socket with recvmmsg and a
 *                             minimal parse (token kind, code, Observe present), libcoap
 *                             left out: "leancount" with notifications (gatewayd's),
 *                             notifications_raw (bench-raw-notifier's), notifications_bare
 *                             (libcoap's), other, acked, cpu_us (this process's CPU time
 *                             in the window) and sample (one of gatewayd's, in hex)
 *   drain ID IDLE_MS          run until nothing arrived for IDLE_MS (at most 20 s): what
 *                             senders that have gone left in the socket is taken in;
 *                             "drain" with the requests taken and the time it took
 *   stats ID                  counters: "stats" (register, deregister, send: the POST /dp
 *                             it answered 2.04, ...)
 *   quit
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>

#define TOK_READ 'R'
#define TOK_OBSERVE 'O'      /* a registered client's resource */
#define TOK_OBSERVE_BARE 'P' /* a bare server's (the libcoap reference) */
#define TOK_RAW 'Q'          /* bench-raw-notifier's (the raw floor) */
#define REQ_TIMEOUT_US 5000000
#define PREPARE_INTERVAL_US 10000
#define OBSERVE_WINDOW 64
#define OBSERVE_TIMEOUT_US 30000000

enum obs_state { OBS_NONE, OBS_PENDING, OBS_ON };

struct reg {
	char *ep;
	coap_session_t *session; /* referenced while registered */
	bool active;
	enum obs_state obs;
	int reg_mid;     /* Message ID of the last Register: its retransmission */
	uint64_t reg_us; /* (same session, same ID) is a duplicate, not counted */
};

static struct {
	coap_context_t *ctx;
	coap_resource_t *bare_res;
	bool bare, notify_fast;
	unsigned notify_burst; /* --notify-fast: notifications per loop turn */
	uint16_t port;
	int sock_fd;
	int observe_addr_fd; /* the socket of the last observeaddr's session, or -1 */
	/* Registrations, by index (the N of rd/N) and by endpoint name (open hash). */
	struct reg *regs;
	size_t n_regs, cap_regs;
	size_t *hash; /* index + 1; 0 = empty */
	size_t hash_cap;
	size_t n_active;
	uint64_t *reach_us; /* reach_us[k]: when k endpoints were first registered */
	size_t reach_cap;
	uint64_t n_register, n_update, n_deregister, n_bad, n_send;
	uint64_t n_register_dup, dup_delay_max_us; /* retransmitted Registers */
	/* The one synchronous request in flight (reads, observe set-up). */
	uint32_t cur_seq;
	bool cur_done;
	unsigned cur_code;
	bool cur_observe;
	uint64_t t_done_us;
	/* Observations: set-ups in flight (concurrent "observe"). */
	size_t obs_in_flight;
	uint64_t n_notify, n_notify_bare, n_observed, n_not_observed, n_obs_failed;
	unsigned bare_value;
	uint64_t bare_bytes; /* what the bare Block1 receiver took in */
	bool quit;
} S;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- endpoint table -------------------------------------------------------------- */

static uint64_t hash_str(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static void hash_insert(size_t idx)
{
	const char *ep = S.regs[idx].ep;
	size_t i = hash_str(ep, strlen(ep)) & (S.hash_cap - 1);

	while (S.hash[i])
		i = (i + 1) & (S.hash_cap - 1);
	S.hash[i] = idx + 1;
}

static long reg_find(const char *ep, size_t len)
{
	size_t i;

	if (!S.hash_cap)
		return -1;
	i = hash_str(ep, len) & (S.hash_cap - 1);
	while (S.hash[i]) {
		struct reg *r = &S.regs[S.hash[i] - 1];
		if (strlen(r->ep) == len && memcmp(r->ep, ep, len) == 0)
			return (long)(S.hash[i] - 1);
		i = (i + 1) & (S.hash_cap - 1);
	}
	return -1;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "bench-load-server: out of memory\n");
		exit(1);
	}
	return p;
}

static long reg_add(const char *ep, size_t len)
{
	if (S.n_regs == S.cap_regs) {
		S.cap_regs = S.cap_regs ? S.cap_regs * 2 : 1024;
		S.regs = xrealloc(S.regs, S.cap_regs * sizeof(*S.regs));
	}
	/* Keep the hash at most half full. */
	if ((S.n_regs + 1) * 2 > S.hash_cap) {
		S.hash_cap = S.hash_cap ? S.hash_cap * 2 : 2048;
		free(S.hash);
		S.hash = calloc(S.hash_cap, sizeof(*S.hash));
		if (!S.hash)
			exit(1);
		for (size_t i = 0; i < S.n_regs; i++)
			hash_insert(i);
	}
	S.regs[S.n_regs] = (struct reg){.ep = strndup(ep, len), .reg_mid = -1};
	if (!S.regs[S.n_regs].ep)
		exit(1);
	hash_insert(S.n_regs);
	return (long)S.n_regs++;
}

static void set_active(struct reg *r, coap_session_t *s, bool active)
{
	coap_session_t *old = r->session;

	/* Reference the new session before letting go of the old: they may be the same. */
	r->session = active ? coap_session_reference(s) : NULL;
	if (old)
		coap_session_release(old);
	if (r->obs == OBS_PENDING)
		S.obs_in_flight--;
	r->obs = OBS_NONE;
	if (r->active == active)
		return;
	r->active = active;
	if (!active) {
		S.n_active--;
		return;
	}
	S.n_active++;
	if (S.n_active >= S.reach_cap) {
		size_t old_cap = S.reach_cap;
		S.reach_cap = S.reach_cap ? S.reach_cap * 2 : 1024;
		S.reach_us = xrealloc(S.reach_us, S.reach_cap * sizeof(*S.reach_us));
		memset(S.reach_us + old_cap, 0, (S.reach_cap - old_cap) * sizeof(*S.reach_us));
	}
	/* The first time this many were registered at once. */
	if (S.reach_us[S.n_active] == 0)
		S.reach_us[S.n_active] = now_us();
}

/* ---- the registration interface ------------------------------------------------- */

static const uint8_t *query_value(const coap_pdu_t *req, const char *key, size_t *len)
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	size_t kl = strlen(key);

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
	coap_option_iterator_init(req, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		const uint8_t *v = coap_opt_value(o);
		size_t n = coap_opt_length(o);
		if (n > kl && memcmp(v, key, kl) == 0 && v[kl] == '=') {
			*len = n - kl - 1;
			return v + kl + 1;
		}
	}
	return NULL;
}

/* Uri-Path segments: up to 4, as (pointer, length). */
static int path_segments(const coap_pdu_t *req, const uint8_t *seg[4], size_t len[4])
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	int n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(req, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		if (n == 4)
			return -1;
		seg[n] = coap_opt_value(o);
		len[n++] = coap_opt_length(o);
	}
	return n;
}

static long location_index(const uint8_t *s, size_t len)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v < (long)S.n_regs ? v : -1;
}

static void on_rd(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
		  const coap_string_t *query, coap_pdu_t *resp)
{
	const uint8_t *seg[4];
	size_t len[4], eplen;
	int n = path_segments(req, seg, len);
	coap_pdu_code_t code = coap_pdu_get_code(req);
	const uint8_t *ep;
	char loc[16];
	long idx;

	if (n == 1 && len[0] == 2 && memcmp(seg[0], "dp", 2) == 0 &&
	    code == COAP_REQUEST_CODE_POST) {
		/* A Send: counted, its payload not looked at. */
		S.n_send++;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
		return;
	}
	if (n < 1 || len[0] != 2 || memcmp(seg[0], "rd", 2) != 0 || n > 2) {
		S.n_bad++;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
		return;
	}
	if (n == 1) {
		ep = query_value(req, "ep", &eplen);
		if (code != COAP_REQUEST_CODE_POST || !ep || eplen == 0) {
			S.n_bad++;
			coap_pdu_set_code(resp, COAP_RESPONSE_CODE(400));
			return;
		}
		idx = reg_find((const char *)ep, eplen);
		if (idx < 0)
			idx = reg_add((const char *)ep, eplen);
		if (S.regs[idx].active && S.regs[idx].session == s &&
		    S.regs[idx].reg_mid == coap_pdu_get_mid(req)) {
			/* A retransmission whose first copy we answered (RFC 7252 4.5):
			 * the same answer again, counted apart. */
			uint64_t d = now_us() - S.regs[idx].reg_us;
			S.n_register_dup++;
			if (d > S.dup_delay_max_us)
				S.dup_delay_max_us = d;
		} else {
			set_active(&S.regs[idx], s, true);
			S.regs[idx].reg_mid = coap_pdu_get_mid(req);
			S.regs[idx].reg_us = now_us();
			S.n_register++;
		}
		coap_add_option(resp, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *)"rd");
		coap_add_option(resp, COAP_OPTION_LOCATION_PATH,
				(size_t)snprintf(loc, sizeof(loc), "%ld", idx), (const uint8_t *)loc);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(201));
		return;
	}
	idx = location_index(seg[1], len[1]);
	if (idx < 0 || !S.regs[idx].active) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
		return;
	}
	if (code == COAP_REQUEST_CODE_POST) {
		/* The client may have moved to a new port (NAT, restart). */
		set_active(&S.regs[idx], s, true);
		S.n_update++;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
	} else if (code == COAP_REQUEST_CODE_DELETE) {
		set_active(&S.regs[idx], NULL, false);
		S.n_deregister++;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(202));
	} else {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(405));
	}
}

/* ---- the bare libcoap server -------------------------------------------------------- */

static void on_bare_get(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			const coap_string_t *query, coap_pdu_t *resp)
{
	char v[16];
	int n = snprintf(v, sizeof(v), "%u.5", S.bare_value);

	/* The same Content-Format option the daemon sends for a text value. */
	coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
	coap_add_data(resp, (size_t)n, (const uint8_t *)v);
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
}

/* The bare partner's Block1 receiver: libcoap puts the body together itself
 * (COAP_BLOCK_SINGLE_BODY) and answers each block; the handler sees it whole. */
static void on_bare_put(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			const coap_string_t *query, coap_pdu_t *resp)
{
	size_t len, off, total;
	const uint8_t *data;

	if (coap_get_data_large(req, &len, &data, &off, &total))
		S.bare_bytes += len;
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
}

/* ---- requests we send ------------------------------------------------------------- */

static void make_token(uint8_t tok[8], char kind, uint32_t a)
{
	memset(tok, 0, 8);
	tok[0] = (uint8_t)kind;
	memcpy(tok + 1, &a, sizeof(a));
}

static int send_get(coap_session_t *s, const char *path, char kind, uint32_t a, bool observe)
{
	coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, s);
	uint8_t tok[8], buf[4];
	const char *p = path;

	if (!pdu)
		return -ENOMEM;
	make_token(tok, kind, a);
	coap_add_token(pdu, sizeof(tok), tok);
	if (observe)
		coap_add_option(pdu, COAP_OPTION_OBSERVE,
				coap_encode_var_safe(buf, sizeof(buf), COAP_OBSERVE_ESTABLISH), buf);
	while (*p == '/') {
		const char *seg = ++p;
		while (*p && *p != '/')
			p++;
		if (p > seg)
			coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)(p - seg),
					(const uint8_t *)seg);
	}
	return coap_send(s, pdu) == COAP_INVALID_MID ? -EIO : 0;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
				   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
	coap_bin_const_t tok = coap_pdu_get_token(rcvd);
	coap_pdu_code_t pc = coap_pdu_get_code(rcvd);
	coap_opt_iterator_t oi;
	uint32_t a;
	bool obs;

	if (tok.length != 8)
		return COAP_RESPONSE_FAIL;
	memcpy(&a, tok.s + 1, sizeof(a));
	obs = coap_check_option(rcvd, COAP_OPTION_OBSERVE, &oi) != NULL;
	if (tok.s[0] == TOK_READ && a == S.cur_seq && !S.cur_done) {
		S.t_done_us = now_us();
		S.cur_done = true;
		S.cur_code = (pc >> 5) * 100 + (pc & 0x1f);
		S.cur_observe = obs;
		return COAP_RESPONSE_OK;
	}
	if (tok.s[0] == TOK_OBSERVE) {
		/* a: the registration.  The first answer sets the observation up;
		 * the rest are notifications. */
		struct reg *r = a < S.n_regs ? &S.regs[a] : NULL;

		if (!r || r->session != s)
			return COAP_RESPONSE_FAIL;
		if (r->obs == OBS_PENDING) {
			S.obs_in_flight--;
			if (pc != COAP_RESPONSE_CODE(205)) {
				S.n_obs_failed++;
				r->obs = OBS_NONE;
			} else if (!obs) {
				S.n_not_observed++;
				r->obs = OBS_NONE;
			} else {
				S.n_observed++;
				r->obs = OBS_ON;
			}
		} else if (obs && r->obs == OBS_ON) {
			S.n_notify++;
		}
		return COAP_RESPONSE_OK;
	}
	if (tok.s[0] == TOK_OBSERVE_BARE) {
		/* The first answer sets the observation up; the rest are notifications. */
		if (a == S.cur_seq && !S.cur_done) {
			S.cur_done = true;
			S.cur_code = (pc >> 5) * 100 + (pc & 0x1f);
			S.cur_observe = obs;
		} else if (obs) {
			S.n_notify_bare++;
		}
		return COAP_RESPONSE_OK;
	}
	return COAP_RESPONSE_FAIL; /* unknown token: RST */
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t r,
		    const coap_mid_t mid)
{
	coap_bin_const_t tok;
	uint32_t a;

	if (!sent)
		return;
	tok = coap_pdu_get_token(sent);
	if (tok.length != 8)
		return;
	memcpy(&a, tok.s + 1, sizeof(a));
	if (tok.s[0] == TOK_OBSERVE) {
		if (a < S.n_regs && S.regs[a].obs == OBS_PENDING) {
			S.regs[a].obs = OBS_NONE;
			S.obs_in_flight--;
			S.n_obs_failed++;
		}
		return;
	}
	if (a == S.cur_seq && !S.cur_done) {
		S.cur_done = true;
		S.cur_code = 0;
	}
}

/* Handle every datagram queued, then let libcoap do its timers once.  coap_io_process
 * would walk all sessions (coap_io_prepare_io) for each datagram it reads: with 10,000
 * registered clients that walk, not the registrations, was most of this server's time. */
static void drain_coap(void)
{
	int fd = coap_context_get_coap_fd(S.ctx);

	for (int batch = 0; batch < 256; batch++) {
		struct epoll_event ev[64];
		int n = epoll_wait(fd, ev, 64, 0);

		if (n <= 0)
			break;
		coap_io_do_epoll(S.ctx, ev, (size_t)n);
	}
}

/* Run the CoAP side until the request in flight is answered or the deadline passes;
 * libcoap's timers (retransmissions) at most every PREPARE_INTERVAL_US. */
static bool run_until_done(uint64_t deadline_us)
{
	static uint64_t next_prepare_us;

	while (!S.cur_done) {
		struct pollfd pfd = {.fd = coap_context_get_coap_fd(S.ctx), .events = POLLIN};
		uint64_t t = now_us();
		uint64_t left_ms;
		int timeout;

		if (t >= deadline_us)
			return false;
		left_ms = (deadline_us - t) / 1000 + 1;
		if (t >= next_prepare_us) {
			coap_tick_t now;
			unsigned ms;

			coap_ticks(&now);
			ms = coap_io_prepare_epoll(S.ctx, now);
			next_prepare_us = t + PREPARE_INTERVAL_US;
			timeout = ms == 0 || ms > left_ms ? (int)left_ms : (int)ms;
		} else {
			timeout = (int)((next_prepare_us - t) / 1000 + 1);
			if ((uint64_t)timeout > left_ms)
				timeout = (int)left_ms;
		}
		if (poll(&pfd, 1, timeout) > 0)
			drain_coap();
	}
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *v, size_t n, unsigned pct)
{
	size_t i;

	if (n == 0)
		return 0;
	/* Nearest rank. */
	i = (n * pct + 99) / 100;
	return v[i ? i - 1 : 0];
}

static void timed_reads(const char *id, coap_session_t *s, const char *path, unsigned count)
{
	uint64_t *rtt = calloc(count ? count : 1, sizeof(*rtt));
	unsigned ok = 0, failed = 0, last_code = 0;

	if (!rtt)
		exit(1);
	for (unsigned i = 0; i < count; i++) {
		uint64_t t0;

		S.cur_seq++;
		S.cur_done = false;
		t0 = now_us();
		if (send_get(s, path, TOK_READ, S.cur_seq, false) < 0 ||
		    !run_until_done(t0 + REQ_TIMEOUT_US) || S.cur_code != 205) {
			failed++;
			last_code = S.cur_done ? S.cur_code : 0;
			continue;
		}
		rtt[ok++] = S.t_done_us - t0;
	}
	qsort(rtt, ok, sizeof(*rtt), cmp_u64);
	printf("{\"event\":\"read\",\"id\":\"%s\",\"n\":%u,\"failed\":%u,\"last_code\":%u,"
	       "\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 ",\"min_us\":%" PRIu64 "}\n",
	       id, ok, failed, last_code, percentile(rtt, ok, 50), percentile(rtt, ok, 99),
	       ok ? rtt[0] : 0);
	free(rtt);
}

/* Push a file to path, Block1 of 1024 bytes, one block per answer (2.31 Continue), the
 * way an LwM2M server sends a firmware package; timed from the first block out to the
 * last answer in.  An empty file: one PUT without payload. */
static void timed_push(const char *id, coap_session_t *s, const char *path, const char *file)
{
	FILE *f = fopen(file, "rb");
	uint8_t *body = NULL;
	size_t len = 0, cap = 0, off = 0;
	unsigned code = 0;
	uint32_t num = 0;
	bool failed = false;
	uint64_t t0;

	while (f) {
		size_t n;
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			body = xrealloc(body, cap);
		}
		n = fread(body + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (f)
		fclose(f);
	t0 = now_us();
	do {
		size_t n = len - off < 1024 ? len - off : 1024;
		bool more = off + n < len;
		coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_PUT, s);
		uint8_t tok[8], buf[4];
		const char *p = path;

		if (!pdu) {
			failed = true;
			break;
		}
		S.cur_seq++;
		S.cur_done = false;
		make_token(tok, TOK_READ, S.cur_seq);
		coap_add_token(pdu, sizeof(tok), tok);
		while (*p == '/') {
			const char *seg = ++p;
			while (*p && *p != '/')
				p++;
			if (p > seg)
				coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)(p - seg),
						(const uint8_t *)seg);
		}
		coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
				coap_encode_var_safe(buf, sizeof(buf), 42), buf);
		if (len) {
			coap_add_option(pdu, COAP_OPTION_BLOCK1,
					coap_encode_var_safe(buf, sizeof(buf),
							     num << 4 | (more ? 8u : 0u) | 6u), buf);
			if (num == 0)
				coap_add_option(pdu, COAP_OPTION_SIZE1,
						coap_encode_var_safe(buf, sizeof(buf), (unsigned)len),
						buf);
			coap_add_data(pdu, n, body + off);
		}
		if (coap_send(s, pdu) == COAP_INVALID_MID ||
		    !run_until_done(now_us() + REQ_TIMEOUT_US)) {
			failed = true;
			break;
		}
		code = S.cur_code;
		if (code != (more ? 231u : 204u)) {
			failed = true;
			break;
		}
		off += n;
		num++;
	} while (off < len);
	printf("{\"event\":\"push\",\"id\":\"%s\",\"bytes\":%zu,\"us\":%" PRIu64
	       ",\"code\":%u,\"failed\":%d}\n", id, off, now_us() - t0, code, failed);
	free(body);
}

static coap_session_t *session_to(const char *host, const char *port)
{
	coap_address_t a;
	coap_session_t *s;

	coap_address_init(&a);
	a.addr.sin.sin_family = AF_INET;
	a.addr.sin.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &a.addr.sin.sin_addr) != 1)
		return NULL;
	a.size = sizeof(a.addr.sin);
	s = coap_new_client_session(S.ctx, NULL, &a, COAP_PROTO_UDP);
	return s;
}

/* The descriptor of the client session to HOST:PORT that session_to made: libcoap 4.3.1
 * does not hand it out, so find the UDP socket connected there. */
static int socket_to(const char *host, const char *port)
{
	struct sockaddr_in want = {.sin_family = AF_INET}, peer;
	struct rlimit rl;

	want.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &want.sin_addr) != 1 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	for (int fd = 3; fd < (int)rl.rlim_cur && fd < 65536; fd++) {
		socklen_t pl = sizeof(peer);
		int type;
		socklen_t tl = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM &&
		    getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
		    peer.sin_family == AF_INET && peer.sin_port == want.sin_port &&
		    peer.sin_addr.s_addr == want.sin_addr.s_addr)
			return fd;
	}
	return -1;
}

/* Set one observation up and wait for its first answer. */
static bool observe_one(coap_session_t *s, const char *path, char kind)
{
	S.cur_seq++;
	S.cur_done = false;
	if (send_get(s, path, kind, S.cur_seq, true) < 0 ||
	    !run_until_done(now_us() + REQ_TIMEOUT_US) || S.cur_code != 205) {
		S.n_obs_failed++;
		return false;
	}
	if (!S.cur_observe) {
		S.n_not_observed++;
		return false;
	}
	S.n_observed++;
	return true;
}

/* Observe path on every registered endpoint not observed yet, up to window set-ups in
 * flight at once: one at a time, 1,000 set-ups took longer than the values held still. */
static void observe_all(const char *id, const char *path, size_t window)
{
	uint64_t before = S.n_observed, nob = S.n_not_observed, fail = S.n_obs_failed;
	uint64_t notified = S.n_notify, t0 = now_us(), deadline = t0 + OBSERVE_TIMEOUT_US;
	size_t next = 0;

	for (;;) {
		for (; next < S.n_regs && S.obs_in_flight < window; next++) {
			struct reg *r = &S.regs[next];
			if (!r->active || r->obs != OBS_NONE)
				continue;
			r->obs = OBS_PENDING;
			S.obs_in_flight++;
			if (send_get(r->session, path, TOK_OBSERVE, (uint32_t)next, true) < 0) {
				r->obs = OBS_NONE;
				S.obs_in_flight--;
				S.n_obs_failed++;
			}
		}
		if (S.obs_in_flight == 0 && next >= S.n_regs)
			break;
		/* Turn the loop once: an answer frees a slot in the window. */
		S.cur_seq++;
		S.cur_done = false;
		if (!run_until_done(now_us() + 1000) && now_us() >= deadline)
			break;
	}
	/* Unanswered by the deadline: failed. */
	for (size_t i = 0; i < S.n_regs; i++)
		if (S.regs[i].obs == OBS_PENDING) {
			S.regs[i].obs = OBS_NONE;
			S.obs_in_flight--;
			S.n_obs_failed++;
		}
	printf("{\"event\":\"observed\",\"id\":\"%s\",\"observed\":%" PRIu64
	       ",\"not_observed\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"done_us\":%" PRIu64
	       ",\"setup_us\":%" PRIu64 ",\"notified_meanwhile\":%" PRIu64 "}\n",
	       id, S.n_observed - before, S.n_not_observed - nob, S.n_obs_failed - fail, now_us(),
	       now_us() - t0, S.n_notify - notified);
}

/* ---- commands --------------------------------------------------------------------- */

static void print_stats(const char *id)
{
	unsigned long drops = 0;
	FILE *f = fopen("/proc/net/udp", "r");
	char line[512], want[16];

	/* The kernel's count of datagrams dropped on our socket (receive buffer full). */
	snprintf(want, sizeof(want), ":%04X ", S.port);
	while (f && fgets(line, sizeof(line), f)) {
		char *local = strchr(line, ':');
		if (local && (local = strchr(local + 1, ':')) && strncmp(local, want, 6) == 0) {
			char *last = strrchr(line, ' ');
			if (last)
				drops = strtoul(last + 1, NULL, 10);
		}
	}
	if (f)
		fclose(f);
	printf("{\"event\":\"stats\",\"id\":\"%s\",\"active\":%zu,\"endpoints\":%zu,"
	       "\"register\":%" PRIu64 ",\"update\":%" PRIu64 ",\"deregister\":%" PRIu64
	       ",\"bad\":%" PRIu64 ",\"notify\":%" PRIu64 ",\"observed\":%" PRIu64
	       ",\"not_observed\":%" PRIu64 ",\"observe_failed\":%" PRIu64 ",\"udp_drops\":%lu"
	       ",\"register_dup\":%" PRIu64 ",\"dup_delay_max_us\":%" PRIu64
	       ",\"send\":%" PRIu64 "}\n",
	       id, S.n_active, S.n_regs, S.n_register, S.n_update, S.n_deregister, S.n_bad,
	       S.n_notify, S.n_observed, S.n_not_observed, S.n_obs_failed, drops, S.n_register_dup,
	       S.dup_delay_max_us, S.n_send);
}

/* A pending "wait" command; checked after every turn of the loop. */
static struct {
	char id[32];
	size_t n;
	uint64_t deadline_us;
	bool on;
} W;

static void check_wait(void)
{
	bool reached;

	if (!W.on)
		return;
	reached = S.n_active >= W.n && W.n < S.reach_cap;
	if (!reached && now_us() < W.deadline_us)
		return;
	printf("{\"event\":\"waited\",\"id\":\"%s\",\"ok\":%s,\"registered\":%zu,"
	       "\"reached_us\":%" PRIu64 ",\"first_us\":%" PRIu64 "}\n",
	       W.id, reached ? "true" : "false", S.n_active, reached ? S.reach_us[W.n] : 0,
	       S.reach_cap > 1 ? S.reach_us[1] : 0);
	W.on = false;
}

/* ---- lean counting ---------------------------------------------------------------- */

/* Does this CoAP message carry an Observe option (number 6)?  Options are in order, so
 * the walk stops at the first number above 6. */
static bool has_observe(const uint8_t *p, size_t len, size_t off)
{
	unsigned num = 0;

	while (off < len && p[off] != 0xff) {
		unsigned d = p[off] >> 4, l = p[off] & 0x0f;

		off++;
		if (d == 13) {
			if (off >= len)
				return false;
			d = 13u + p[off++];
		} else if (d == 14) {
			if (off + 1 >= len)
				return false;
			d = 269u + ((unsigned)p[off] << 8 | p[off + 1]);
			off += 2;
		} else if (d == 15) {
			return false;
		}
		if (l == 13) {
			if (off >= len)
				return false;
			l = 13u + p[off++];
		} else if (l == 14) {
			if (off + 1 >= len)
				return false;
			l = 269u + ((unsigned)p[off] << 8 | p[off + 1]);
			off += 2;
		} else if (l == 15) {
			return false;
		}
		num += d;
		if (num == COAP_OPTION_OBSERVE)
			return true;
		if (num > COAP_OPTION_OBSERVE)
			return false;
		off += l;
	}
	return false;
}

/* Count notifications for a window straight off the endpoint's socket: recvmmsg, 64 at
 * a time, and a parse of the header, token and options only, so that this receiver
 * takes several times what any sender here can offer (the bench reports its rate per
 * CPU second).  A confirmable one is acknowledged, as a server would.  libcoap sees
 * nothing meanwhile; whatever else arrives is counted as "other" and dropped. */
static void lean_count(const char *id, unsigned window_ms)
{
	enum { BATCH = 64, DGRAM = 1536 };
	static uint8_t bufs[BATCH][DGRAM];
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov[BATCH];
	static struct sockaddr_storage from[BATCH];
	static uint8_t sample[DGRAM];
	size_t sample_len = 0;
	uint64_t n_gw = 0, n_raw = 0, n_bare = 0, other = 0, acked = 0;
	uint64_t t0 = now_us(), end = t0 + (uint64_t)window_ms * 1000u, t1;
	struct rusage r0, r1;

	getrusage(RUSAGE_SELF, &r0);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = S.sock_fd, .events = POLLIN},
					{.fd = S.observe_addr_fd, .events = POLLIN}};
		uint64_t t = now_us();
		int n, fd;

		if (t >= end)
			break;
		if (poll(pfd, 2, (int)((end - t) / 1000 + 1)) <= 0)
			continue;
		fd = pfd[0].revents ? S.sock_fd : S.observe_addr_fd;
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = DGRAM};
			msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1,
				.msg_name = &from[i], .msg_namelen = sizeof(from[i])};
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			const uint8_t *p = bufs[i];
			size_t len = msgs[i].msg_len;
			unsigned tkl = len >= 4 ? p[0] & 0x0f : 0;

			if (len < 4 || (p[0] >> 6) != 1 || tkl < 1 || tkl > 8 || 4 + tkl > len ||
			    p[1] != COAP_RESPONSE_CODE(205) || !has_observe(p, len, 4 + tkl)) {
				other++;
				continue;
			}
			if (((p[0] >> 4) & 3) == COAP_MESSAGE_CON) {
				uint8_t ack[4] = {0x60, 0, p[2], p[3]};

				if (sendto(fd, ack, sizeof(ack), 0,
					   (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen) ==
				    (ssize_t)sizeof(ack))
					acked++;
			}
			switch (p[4]) {
			case TOK_OBSERVE:
				n_gw++;
				memcpy(sample, p, len);
				sample_len = len;
				break;
			case TOK_RAW:
				n_raw++;
				break;
			case TOK_OBSERVE_BARE:
				n_bare++;
				break;
			default:
				other++;
			}
		}
	}
	t1 = now_us();
	getrusage(RUSAGE_SELF, &r1);
	printf("{\"event\":\"leancount\",\"id\":\"%s\",\"notifications\":%" PRIu64
	       ",\"notifications_raw\":%" PRIu64 ",\"notifications_bare\":%" PRIu64
	       ",\"other\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"window_us\":%" PRIu64
	       ",\"cpu_us\":%" PRIu64 ",\"sample\":\"",
	       id, n_gw, n_raw, n_bare, other, acked, t1 - t0,
	       (uint64_t)((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
			   r0.ru_stime.tv_sec) * 1000000 +
			  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec -
			   r0.ru_stime.tv_usec)));
	for (size_t i = 0; i < sample_len; i++)
		printf("%02x", sample[i]);
	printf("\"}\n");
}

static void command(char *line)
{
	char *argv[8];
	int argc = 0;

	for (char *tok = strtok(line, " \t\r\n"); tok && argc < 8; tok = strtok(NULL, " \t\r\n"))
		argv[argc++] = tok;
	if (argc == 0)
		return;
	if (strcmp(argv[0], "quit") == 0) {
		S.quit = true;
	} else if (strcmp(argv[0], "stats") == 0 && argc == 2) {
		print_stats(argv[1]);
	} else if (strcmp(argv[0], "wait") == 0 && argc == 4) {
		snprintf(W.id, sizeof(W.id), "%s", argv[1]);
		W.n = strtoul(argv[2], NULL, 10);
		W.deadline_us = now_us() + strtoull(argv[3], NULL, 10) * 1000u;
		W.on = true;
		check_wait();
	} else if (strcmp(argv[0], "read") == 0 && argc == 5) {
		long idx = strcmp(argv[2], "-") == 0 ? (S.n_regs ? 0 : -1)
						      : reg_find(argv[2], strlen(argv[2]));
		if (idx < 0 || !S.regs[idx].active)
			printf("{\"event\":\"error\",\"id\":\"%s\",\"msg\":\"not registered\"}\n",
			       argv[1]);
		else
			timed_reads(argv[1], S.regs[idx].session, argv[3],
				    (unsigned)strtoul(argv[4], NULL, 10));
	} else if (strcmp(argv[0], "readaddr") == 0 && argc == 6) {
		coap_session_t *s = session_to(argv[2], argv[3]);
		if (!s) {
			printf("{\"event\":\"error\",\"id\":\"%s\",\"msg\":\"bad address\"}\n", argv[1]);
			return;
		}
		timed_reads(argv[1], s, argv[4], (unsigned)strtoul(argv[5], NULL, 10));
		coap_session_release(s);
	} else if (strcmp(argv[0], "push") == 0 && argc == 5) {
		long idx = strcmp(argv[2], "-") == 0 ? (S.n_regs ? 0 : -1)
						      : reg_find(argv[2], strlen(argv[2]));
		if (idx < 0 || !S.regs[idx].active)
			printf("{\"event\":\"error\",\"id\":\"%s\",\"msg\":\"not registered\"}\n",
			       argv[1]);
		else
			timed_push(argv[1], S.regs[idx].session, argv[3], argv[4]);
	} else if (strcmp(argv[0], "pushaddr") == 0 && argc == 6) {
		coap_session_t *s = session_to(argv[2], argv[3]);
		if (!s) {
			printf("{\"event\":\"error\",\"id\":\"%s\",\"msg\":\"bad address\"}\n", argv[1]);
			return;
		}
		timed_push(argv[1], s, argv[4], argv[5]);
		coap_session_release(s);
	} else if (strcmp(argv[0], "observe") == 0 && (argc == 3 || argc == 4)) {
		long w = argc == 4 ? atol(argv[3]) : OBSERVE_WINDOW;
		observe_all(argv[1], argv[2], w > 0 ? (size_t)w : OBSERVE_WINDOW);
	} else if (strcmp(argv[0], "observeaddr") == 0 && argc == 5) {
		/* The session lives as long as the observation: never released. */
		coap_session_t *s = session_to(argv[2], argv[3]);
		bool ok = s && observe_one(s, argv[4], TOK_OBSERVE_BARE);

		S.observe_addr_fd = s ? socket_to(argv[2], argv[3]) : -1;
		printf("{\"event\":\"observed\",\"id\":\"%s\",\"observed\":%d,\"not_observed\":0,"
		       "\"failed\":%d}\n", argv[1], ok, !ok);
	} else if (strcmp(argv[0], "leancount") == 0 && argc == 3) {
		lean_count(argv[1], (unsigned)strtoul(argv[2], NULL, 10));
	} else if (strcmp(argv[0], "drain") == 0 && argc == 3) {
		/* Slices of the idle time: the requests counted so far tell whether
		 * anything arrived in the last one. */
		uint64_t idle_us = strtoull(argv[2], NULL, 10) * 1000u, t0 = now_us();
		uint64_t seen = S.n_register + S.n_update + S.n_deregister + S.n_send + S.n_bad;
		uint64_t first = seen, quiet_since = t0;

		S.cur_done = false;
		S.cur_seq++;
		while (now_us() - quiet_since < idle_us && now_us() - t0 < 20000000u) {
			uint64_t n;

			run_until_done(now_us() + 20000u);
			n = S.n_register + S.n_update + S.n_deregister + S.n_send + S.n_bad;
			if (n != seen) {
				seen = n;
				quiet_since = now_us();
			}
		}
		printf("{\"event\":\"drain\",\"id\":\"%s\",\"requests\":%" PRIu64
		       ",\"window_us\":%" PRIu64 "}\n", argv[1], seen - first, now_us() - t0);
	} else if (strcmp(argv[0], "count") == 0 && argc == 3) {
		uint64_t t0 = now_us(), n0 = S.n_notify, b0 = S.n_notify_bare, t1;
		uint64_t end = t0 + strtoull(argv[2], NULL, 10) * 1000u;
		/* A timed window, not a wait for an event: run the loop until it ends. */
		S.cur_done = false;
		S.cur_seq++;
		run_until_done(end);
		t1 = now_us();
		printf("{\"event\":\"count\",\"id\":\"%s\",\"notifications\":%" PRIu64
		       ",\"notifications_bare\":%" PRIu64 ",\"window_us\":%" PRIu64 "}\n", argv[1],
		       S.n_notify - n0, S.n_notify_bare - b0, t1 - t0);
	} else {
		printf("{\"event\":\"error\",\"id\":\"%s\",\"msg\":\"bad command\"}\n",
		       argc > 1 ? argv[1] : "");
	}
}

static void read_stdin(void)
{
	static char buf[8192];
	static size_t len;
	ssize_t r = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
	char *nl;

	if (r <= 0) {
		S.quit = true;
		return;
	}
	len += (size_t)r;
	while ((nl = memchr(buf, '\n', len))) {
		size_t n = (size_t)(nl - buf) + 1;
		*nl = '\0';
		command(buf);
		memmove(buf, buf + n, len - n);
		len -= n;
	}
	if (len == sizeof(buf) - 1)
		len = 0; /* an over-long line: drop it */
}

/* ---- set-up --------------------------------------------------------------------------- */

/* A burst of thousands of registrations overflows the default receive buffer (212 KiB):
 * the kernel drops them and every client waits its full retransmission timeout. */
static int grow_rcvbuf(int fd, int bytes)
{
	int got = 0;
	socklen_t l = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &l);
	return got;
}

static bool parse_addr(const char *host, uint16_t port, coap_address_t *a)
{
	coap_address_init(a);
	a->addr.sin.sin_family = AF_INET;
	a->addr.sin.sin_port = htons(port);
	a->size = sizeof(a->addr.sin);
	return inet_pton(AF_INET, host, &a->addr.sin.sin_addr) == 1;
}

static coap_bin_const_t psk_key_bin;

/* Every identity has the one key (libcoap with GnuTLS asks per identity). */
static const coap_bin_const_t *psk_for_identity(coap_bin_const_t *identity, coap_session_t *s,
						void *arg)
{
	return &psk_key_bin;
}

static void on_term(int sig)
{
	S.quit = true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"rcvbuf", required_argument, NULL, 'r'},
		{"psk-key", required_argument, NULL, 'k'},
		{"bare", no_argument, NULL, 'B'},
		{"notify-fast", no_argument, NULL, 'F'},
		{"notify-burst", required_argument, NULL, 'N'},
		{0},
	};
	const char *host = "127.0.0.1", *psk_key = NULL;
	int port = 0, rcvbuf = 16 << 20, opt, got;
	coap_address_t addr;
	coap_endpoint_t *ep;
	coap_resource_t *r;
	struct sockaddr_in bound;
	socklen_t bl = sizeof(bound);

	while ((opt = getopt_long(argc, argv, "a:p:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'r':
			rcvbuf = atoi(optarg);
			break;
		case 'k':
			psk_key = optarg;
			break;
		case 'B':
			S.bare = true;
			break;
		case 'F':
			S.notify_fast = S.bare = true;
			break;
		case 'N':
			S.notify_burst = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [--rcvbuf BYTES] "
				"[--psk-key KEY] [--bare [--notify-fast]]\n", argv[0]);
			return 2;
		}
	}
	if (S.notify_burst == 0)
		S.notify_burst = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	coap_startup();
	coap_set_log_level(LOG_ERR);
	S.ctx = coap_new_context(NULL);
	if (!S.ctx || !parse_addr(host, (uint16_t)port, &addr))
		return 1;
	coap_context_set_block_mode(S.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
	if (psk_key) {
		/* One key for every identity: enough for a benchmark.  In hex, as
		 * gatewayd's psk_key. */
		static coap_dtls_spsk_t spsk = {.version = COAP_DTLS_SPSK_SETUP_VERSION};
		static uint8_t key[64];
		size_t kl = strlen(psk_key) / 2;
		unsigned byte;

		if (strlen(psk_key) % 2 || kl == 0 || kl > sizeof(key)) {
			fprintf(stderr, "bench-load-server: --psk-key wants 1 to 64 bytes in hex\n");
			return 2;
		}
		for (size_t i = 0; i < kl; i++) {
			if (sscanf(psk_key + 2 * i, "%2x", &byte) != 1) {
				fprintf(stderr, "bench-load-server: --psk-key is not hex\n");
				return 2;
			}
			key[i] = (uint8_t)byte;
		}
		spsk.psk_info.key.s = key;
		spsk.psk_info.key.length = kl;
		psk_key_bin = spsk.psk_info.key;
		spsk.validate_id_call_back = psk_for_identity;
		if (!coap_dtls_is_supported() || !coap_context_set_psk2(S.ctx, &spsk)) {
			fprintf(stderr, "bench-load-server: DTLS PSK not available\n");
			return 1;
		}
	}
	ep = coap_new_endpoint(S.ctx, &addr, psk_key ? COAP_PROTO_DTLS : COAP_PROTO_UDP);
	if (!ep) {
		fprintf(stderr, "bench-load-server: cannot bind %s:%d\n", host, port);
		return 1;
	}
	coap_register_response_handler(S.ctx, on_response);
	coap_register_nack_handler(S.ctx, on_nack);
	if (S.bare) {
		r = coap_resource_init(coap_make_str_const("3303/0/5700"), 0);
		coap_register_request_handler(r, COAP_REQUEST_GET, on_bare_get);
		coap_resource_set_get_observable(r, 1);
		S.bare_res = r;
		coap_add_resource(S.ctx, r);
		r = coap_resource_init(coap_make_str_const("5/0/0"), 0);
		coap_register_request_handler(r, COAP_REQUEST_PUT, on_bare_put);
	} else {
		r = coap_resource_unknown_init2(on_rd, 0);
		coap_register_request_handler(r, COAP_REQUEST_POST, on_rd);
		coap_register_request_handler(r, COAP_REQUEST_DELETE, on_rd);
	}
	coap_add_resource(S.ctx, r);

	/* Which port we got: the only UDP socket bound so far is the endpoint's. */
	S.sock_fd = S.observe_addr_fd = -1;
	for (int fd = 3; fd < 1024 && S.sock_fd < 0; fd++) {
		int type;
		socklen_t tl = sizeof(type);
		bl = sizeof(bound);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM &&
		    getsockname(fd, (struct sockaddr *)&bound, &bl) == 0 &&
		    bound.sin_family == AF_INET && (port == 0 || ntohs(bound.sin_port) == port))
			S.sock_fd = fd;
	}
	if (S.sock_fd < 0) {
		fprintf(stderr, "bench-load-server: endpoint socket not found\n");
		return 1;
	}
	S.port = ntohs(bound.sin_port);
	got = grow_rcvbuf(S.sock_fd, rcvbuf);
	printf("{\"event\":\"listening\",\"port\":%u,\"rcvbuf\":%d,\"bare\":%s}\n", S.port, got,
	       S.bare ? "true" : "false");

	uint64_t next_prepare_us = 0;

	while (!S.quit) {
		struct pollfd pfd[2] = {
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = coap_context_get_coap_fd(S.ctx), .events = POLLIN},
		};
		coap_tick_t now;
		unsigned ms;
		int timeout;

		/* The floor sender: a new value every turn while anyone observes. */
		if (S.notify_fast && S.bare_res) {
			/* libcoap sends each at once (coap_check_notify). */
			for (unsigned i = 0; i < S.notify_burst; i++) {
				S.bare_value++;
				coap_resource_notify_observers(S.bare_res, NULL);
			}
		}
		/* At most every PREPARE_INTERVAL_US: it walks every session (see drain_coap). */
		if (now_us() >= next_prepare_us) {
			coap_ticks(&now);
			ms = coap_io_prepare_epoll(S.ctx, now);
			next_prepare_us = now_us() + PREPARE_INTERVAL_US;
			timeout = ms == 0 ? -1 : (int)ms;
		} else {
			timeout = (int)((next_prepare_us - now_us()) / 1000 + 1);
		}
		if (S.notify_fast)
			timeout = 0;
		if (W.on) {
			uint64_t t = now_us();
			int left = W.deadline_us > t ? (int)((W.deadline_us - t) / 1000 + 1) : 0;
			if (timeout < 0 || timeout > left)
				timeout = left;
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents || S.notify_fast)
			drain_coap();
		if (pfd[0].revents)
			read_stdin();
		check_wait();
	}
	print_stats("exit");
	for (size_t i = 0; i < S.n_regs; i++) {
		if (S.regs[i].session)
			coap_session_release(S.regs[i].session);
		free(S.regs[i].ep);
	}
	free(S.regs);
	free(S.hash);
	free(S.reach_us);
	coap_free_context(S.ctx);
	coap_cleanup();
	return 0;
}
