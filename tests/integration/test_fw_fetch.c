/* The firmware package downloader (gatewayd/fw_fetch.c) on a real loop
 * against real peers on loopback: Python's own http.server (with byte
 * ranges and a connection it drops once, tests/integration/http_files.py)
 * for http:// and https://, and the test LwM2M server's --serve for
 * coap:// (through udp-relay to lose datagrams).  Every wait is on the
 * loop's events with a deadline; nothing sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "creds.h"
#include "gatewayd/clock.h"
#include "gatewayd/fw_fetch.h"
#include "gatewayd/log.h"
#include "gatewayd/loop.h"
#include "gatewayd/resolver.h"
#include "harness.h"
#include "lwm2m/engine.h"
#include "lwm2m/security.h"

#define PKG_SIZE (1024u * 1024u)
#define DEADLINE_MS 60000

static char *dir;
static uint8_t *pkg; /* the package's bytes, as written to dir/pkg.bin */

struct env {
	struct gw_loop *loop;
	struct lwm_engine *engine;
	struct gw_watch *engine_watch;
	struct fw_fetcher *f;
	struct gw_resolver *rs; /* when a test sets one */
};

/* What a download delivered. */
struct sink {
	uint8_t *buf;
	size_t cap;
	uint64_t first, next; /* the first offset seen, the next expected */
	bool started;
	uint64_t size;
	int size_calls;
	int fail_at_data; /* data() returns -ENOSPC from this call on (0: never) */
	int data_calls;
	bool done;
	int status;
	bool order_ok;
};

static int sink_size(void *ud, uint64_t total)
{
	struct sink *s = ud;

	s->size = total;
	s->size_calls++;
	return 0;
}

static int sink_data(void *ud, uint64_t off, const uint8_t *p, size_t len)
{
	struct sink *s = ud;

	s->data_calls++;
	if (s->fail_at_data && s->data_calls >= s->fail_at_data)
		return -ENOSPC;
	if (!s->started) {
		s->started = true;
		s->first = s->next = off;
	}
	if (off != s->next || off + len > s->cap)
		s->order_ok = false;
	else
		memcpy(s->buf + off, p, len);
	s->next = off + len;
	return 0;
}

static void sink_done(void *ud, int status)
{
	struct sink *s = ud;

	s->done = true;
	s->status = status;
}

static const struct fw_fetch_ops sink_ops = {
	.size = sink_size,
	.data = sink_data,
	.done = sink_done,
};

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->cap = PKG_SIZE;
	s->buf = calloc(1, PKG_SIZE);
	s->order_ok = true;
	assert_non_null(s->buf);
}

static void engine_cb(int fd, uint32_t revents, void *ud)
{
	lwm_engine_io(ud);
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(loop_new(&e->loop), 0);
	assert_int_equal(lwm_engine_new(loop_timers(e->loop), &e->engine), 0);
	assert_int_equal(loop_watch_fd(e->loop, lwm_engine_fd(e->engine), EPOLLIN, engine_cb,
				       e->engine, &e->engine_watch), 0);
	assert_int_equal(fw_fetcher_new(e->loop, e->engine, &e->f), 0);
}

static void env_fini(struct env *e)
{
	fw_fetcher_free(e->f);
	if (e->rs)
		resolver_free(e->rs); /* before the loop it borrows */
	loop_unwatch_fd(e->engine_watch);
	lwm_engine_free(e->engine);
	loop_free(e->loop);
}

/* Run the loop until the download ended (a deadline, not a sleep). */
static void run_until_done(struct env *e, struct sink *s)
{
	uint64_t end = clock_now_ms() + DEADLINE_MS;

	while (!s->done && clock_now_ms() < end)
		sd_event_run(loop_sd_event(e->loop), 200 * 1000);
	if (!s->done)
		print_error("not done: %d data calls, at byte %" PRIu64 "\n", s->data_calls, s->next);
	assert_true(s->done);
}

static void fetch(struct env *e, struct sink *s, const char *uri, uint64_t offset,
		  uint32_t give_up_ms)
{
	struct fw_fetch_params p = {.uri = uri, .offset = offset, .give_up_ms = give_up_ms};
	struct fw_fetch *x;

	assert_int_equal(fw_fetch_start(e->f, &p, &sink_ops, s, &x), 0);
	/* done() never runs inside fw_fetch_start. */
	assert_false(s->done);
	run_until_done(e, s);
}

static void assert_whole(const struct sink *s, uint64_t from)
{
	assert_int_equal(s->status, 0);
	assert_true(s->order_ok);
	assert_int_equal(s->first, from);
	assert_int_equal(s->next, PKG_SIZE);
	assert_int_equal(s->size, PKG_SIZE);
	assert_int_equal(s->size_calls, 1);
	assert_memory_equal(s->buf + from, pkg + from, PKG_SIZE - from);
}

/* ---- the HTTP server ------------------------------------------------------ */

static int start_http(struct proc *p, const char *const extra[])
{
	int port = h_start_http(p, dir, extra);

	assert_true(port > 0);
	return port;
}

static void stop(struct proc *p)
{
	assert_true(h_stop(p, SIGTERM, H_TIMEOUT_MS) != -1);
}

static void test_http_whole(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	assert_true(fw_fetcher_protocols(e.f) & FW_PROTO_HTTP);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_whole(&s, 0);
	ev = h_wait_event(&srv, "request", "path", "/pkg.bin", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "code")), 200);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* The server drops the connection after 300000 bytes: the rest comes with
 * a Range request, and the package is whole. */
static void test_http_resume(void **state)
{
	const char *const extra[] = {"--drop-after", "300000", NULL};
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, extra);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 20000);
	assert_whole(&s, 0);
	ev = h_wait_event(&srv, "dropped", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&srv, "request", "range", "bytes=300000-", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "code")), 206);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* The same from a server without ranges: the second answer is the whole
 * package again, and what we had is skipped. */
static void test_http_resume_no_range(void **state)
{
	const char *const extra[] = {"--drop-after", "300000", "--no-range", NULL};
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, extra);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 20000);
	assert_whole(&s, 0);
	ev = h_wait_event(&srv, "dropped", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&srv, "request", "range", "bytes=300000-", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "code")), 200);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* A download that starts from params.offset (a daemon restart). */
static void test_http_offset(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 524289, 0);
	assert_whole(&s, 524289);
	ev = h_wait_event(&srv, "request", "range", "bytes=524289-", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* An empty package: its size (0) is said, and it is complete. */
static void test_http_empty(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/empty.bin", port);

	env_init(&e);
	sink_init(&s);
	s.size = 1;
	fetch(&e, &s, uri, 0, 0);
	assert_int_equal(s.status, 0);
	assert_int_equal(s.size_calls, 1);
	assert_int_equal(s.size, 0);
	assert_int_equal(s.data_calls, 0);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

static void test_http_404(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/nothing.bin", port);

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_int_equal(s.status, -ENOENT);
	assert_int_equal(s.data_calls, 0);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* data() refusing (a full disk) ends the download with its status. */
static void test_http_data_error(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);

	env_init(&e);
	sink_init(&s);
	s.fail_at_data = 3;
	fetch(&e, &s, uri, 0, 0);
	assert_int_equal(s.status, -ENOSPC);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* A TCP port on loopback nobody listens on (bound, then closed). */
static int closed_tcp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A server gone silent mid-transfer (it keeps the connection and answers
 * nothing more): after give_up_ms without a byte, -ECONNRESET (it did
 * answer once), with every byte before it delivered. */
static void test_http_stalled(void **state)
{
	const char *const extra[] = {"--stall-after", "200000", NULL};
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, extra);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 1500);
	assert_int_equal(s.status, -ECONNRESET);
	assert_true(s.order_ok);
	assert_int_equal(s.next, 200000);
	assert_memory_equal(s.buf, pkg, 200000);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* Connection refused, again and again: after give_up_ms, -ETIMEDOUT (the
 * server never answered). */
static void test_http_refused(void **state)
{
	struct env e;
	struct sink s;
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", closed_tcp_port());
	uint64_t t0 = clock_now_ms();

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 1200);
	assert_int_equal(s.status, -ETIMEDOUT);
	/* It did try for give_up_ms (retries), not just once. */
	assert_true(clock_now_ms() - t0 >= 1200);
	free(s.buf);
	env_fini(&e);
	free(uri);
}

static void test_bad_uris(void **state)
{
	static const struct {
		const char *uri;
		int err;
	} cases[] = {
		{"http://", -EINVAL},
		{"no scheme at all", -EINVAL},
		{"ftp://127.0.0.1/pkg.bin", -EPROTONOSUPPORT},
		{"file:///etc/passwd", -EPROTONOSUPPORT},
		{"coap://", -EINVAL},
		{"coaps://127.0.0.1/pkg.bin", -EACCES}, /* no credentials given */
	};
	struct env e;
	struct sink s;
	struct fw_fetch *x = NULL;

	env_init(&e);
	sink_init(&s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fw_fetch_params p = {.uri = cases[i].uri};
		print_message("%s\n", cases[i].uri);
		assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), cases[i].err);
	}
	/* Nothing was called, and the loop has nothing left to run. */
	loop_dispatch_pending(e.loop);
	assert_false(s.done);
	free(s.buf);
	env_fini(&e);
}

/* A cancelled download is never heard of again. */
static void test_cancel(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, NULL);
	char *uri = h_strf("http://127.0.0.1:%d/pkg.bin", port);
	struct fw_fetch_params p = {.uri = uri};
	struct fw_fetch *x;

	env_init(&e);
	sink_init(&s);
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	/* Until some bytes came in. */
	for (uint64_t end = clock_now_ms() + DEADLINE_MS; s.data_calls == 0 && clock_now_ms() < end;)
		sd_event_run(loop_sd_event(e.loop), 200 * 1000);
	assert_true(s.data_calls > 0);
	fw_fetch_cancel(x);
	for (int i = 0; i < 20; i++)
		sd_event_run(loop_sd_event(e.loop), 0);
	assert_false(s.done);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* https://: a certificate the fetcher cannot trust is -EACCES; with
 * insecure (tests only) the same server gives the package. */
static void test_https(void **state)
{
	char *cert = h_strf("%s/server.pem", dir), *key = h_strf("%s/server.key", dir);
	char *ca = h_strf("%s/ca.pem", dir);
	const char *const extra[] = {"--tls", cert, key, NULL};
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_http(&srv, extra);
	char *uri = h_strf("https://127.0.0.1:%d/pkg.bin", port);
	struct fw_fetch_params p = {.uri = uri};
	struct fw_fetch *x;

	env_init(&e);
	if (!(fw_fetcher_protocols(e.f) & FW_PROTO_HTTPS)) {
		env_fini(&e);
		stop(&srv);
		skip();
	}
	/* The system's CAs do not know the test CA. */
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_int_equal(s.status, -EACCES);
	free(s.buf);
	/* The test CA, but the certificate is for lwm2m.test, not 127.0.0.1. */
	sink_init(&s);
	p.ca_file = ca;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_int_equal(s.status, -EACCES);
	free(s.buf);
	sink_init(&s);
	p.ca_file = NULL;
	p.insecure = 1;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_whole(&s, 0);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
	free(cert);
	free(key);
	free(ca);
}

/* ---- coap:// from the test LwM2M server's --serve ---------------------------- */

static int start_coap(struct proc *p, const char *const extra[])
{
	const char *args[8] = {NULL};
	char *serve = h_strf("--serve=%s", dir);
	size_t n = 0;
	int port;

	args[n++] = serve;
	for (size_t i = 0; extra && extra[i] && n < 7; i++)
		args[n++] = extra[i];
	port = h_start_server_argv(p, dir, 0, args);
	free(serve);
	assert_true(port > 0);
	return port;
}

static int start_relay(struct proc *p, int upstream)
{
	char *bin = h_build_path("tests/integration/udp-relay"), up[16];
	char *argv[] = {bin, "-u", up, NULL};
	json_t *ev;
	int port = -1;

	snprintf(up, sizeof(up), "%d", upstream);
	if (h_spawn(p, argv, true, NULL) == 0) {
		ev = h_wait_event(p, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev)
			port = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	free(bin);
	assert_true(port > 0);
	return port;
}

/* What the server's --serve answered so far (the "served" event). */
static json_t *served(struct proc *srv)
{
	json_t *ev;

	h_send(srv, "served");
	ev = h_wait_event(srv, "served", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	return ev;
}

static long jint(json_t *ev, const char *key)
{
	return (long)json_integer_value(json_object_get(ev, key));
}

static void test_coap_whole(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, NULL);
	char *uri = h_strf("coap://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	assert_true(fw_fetcher_protocols(e.f) & FW_PROTO_COAP);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_whole(&s, 0);
	/* Blocks of 1024 bytes, one request each, in order. */
	ev = served(&srv);
	assert_int_equal(jint(ev, "requests"), PKG_SIZE / 1024);
	assert_int_equal(jint(ev, "first_block"), 0);
	assert_int_equal(jint(ev, "last_block"), 1023);
	assert_int_equal(jint(ev, "last_szx"), 6);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* A server that sends 256-byte blocks: the download goes on with those. */
static void test_coap_small_blocks(void **state)
{
	const char *const extra[] = {"--serve-szx=4", NULL};
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, extra);
	char *uri = h_strf("coap://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_whole(&s, 0);
	/* The first request asks for 1024, every later one for 256. */
	ev = served(&srv);
	assert_int_equal(jint(ev, "requests"), PKG_SIZE / 256);
	assert_int_equal(jint(ev, "last_block"), PKG_SIZE / 256 - 1);
	assert_int_equal(jint(ev, "last_szx"), 4);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* From params.offset: the block holding it, and nothing before. */
static void test_coap_offset(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, NULL);
	char *uri = h_strf("coap://127.0.0.1:%d/pkg.bin", port);
	json_t *ev;

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 524289, 0);
	assert_whole(&s, 524289);
	ev = served(&srv);
	assert_int_equal(jint(ev, "requests"), 512);
	assert_int_equal(jint(ev, "first_block"), 512);
	assert_int_equal(jint(ev, "block0"), 0);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

static void test_coap_missing(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, NULL);
	char *uri = h_strf("coap://127.0.0.1:%d/nothing.bin", port);

	env_init(&e);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_int_equal(s.status, -ENOENT);
	assert_int_equal(s.data_calls, 0);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
}

/* Requests lost on the way (udp-relay drops them) until libcoap gives up
 * on the session: a new session asks for the next block, not block 0. */
static void test_coap_resume(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv, relay;
	int port = start_coap(&srv, NULL);
	int rport = start_relay(&relay, port);
	char *uri = h_strf("coap://127.0.0.1:%d/pkg.bin", rport);
	struct fw_fetch_params p = {.uri = uri, .give_up_ms = 30000};
	struct fw_fetch *x;
	json_t *ev;

	env_init(&e);
	/* ACK_TIMEOUT 1 s, one retransmission: two lost datagrams lose the
	 * session's request. */
	fw_fetcher_set_coap_timing(e.f, 1000, 1);
	sink_init(&s);
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	for (uint64_t end = clock_now_ms() + DEADLINE_MS; s.data_calls < 100 && clock_now_ms() < end;)
		sd_event_run(loop_sd_event(e.loop), 200 * 1000);
	assert_true(s.data_calls >= 100);
	h_send(&relay, "drop 2");
	run_until_done(&e, &s);
	assert_whole(&s, 0);
	for (int k = 0; k < 2; k++) {
		ev = h_wait_event(&relay, "dropped", NULL, NULL, H_TIMEOUT_MS);
		assert_non_null(ev);
		json_decref(ev);
	}
	/* Block 0 was asked for once: the new session went on from where
	 * the lost one was, and the end came through it (another source
	 * port through the relay). */
	ev = served(&srv);
	assert_int_equal(jint(ev, "block0"), 1);
	assert_int_equal(jint(ev, "last_block"), 1023);
	assert_int_equal(jint(ev, "peer_changes"), 1);
	assert_string_not_equal(json_string_value(json_object_get(ev, "first_peer")),
				json_string_value(json_object_get(ev, "last_peer")));
	assert_true(jint(ev, "requests") <= 1024 + 2);
	json_decref(ev);
	free(s.buf);
	env_fini(&e);
	stop(&relay);
	stop(&srv);
	free(uri);
}

/* Nobody at the port (ICMP port unreachable, again and again). */
static void test_coap_nobody(void **state)
{
	struct env e;
	struct sink s;
	char *uri = h_strf("coap://127.0.0.1:%d/pkg.bin", h_free_udp_port());

	env_init(&e);
	fw_fetcher_set_coap_timing(e.f, 1000, 0);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 1500);
	assert_int_equal(s.status, -ETIMEDOUT);
	free(s.buf);
	env_fini(&e);
	free(uri);
}

/* coaps:// with PSK: the right key gives the package, a wrong one -EACCES. */
static void test_coaps_psk(void **state)
{
	const char *const extra[] = {"--psk=fwdev:00112233445566778899aabbccddeeff", NULL};
	struct lwm_security_params good = {.mode = LWM_SEC_PSK, .psk_identity = "fwdev",
					   .psk_key = "00112233445566778899aabbccddeeff"};
	struct lwm_security_params bad = good;
	struct lwm_security *sgood, *sbad;
	char err[256];
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, extra);
	char *uri = h_strf("coaps://127.0.0.1:%d/pkg.bin", port);
	struct fw_fetch_params p = {.uri = uri, .give_up_ms = 50000};
	struct fw_fetch *x;

	bad.psk_key = "ffeeddccbbaa99887766554433221100";
	assert_int_equal(lwm_security_load(&good, &sgood, NULL, err, sizeof(err)), 0);
	assert_int_equal(lwm_security_load(&bad, &sbad, NULL, err, sizeof(err)), 0);
	env_init(&e);
	if (!(fw_fetcher_protocols(e.f) & FW_PROTO_COAPS)) {
		env_fini(&e);
		stop(&srv);
		skip();
	}
	sink_init(&s);
	p.security = sgood;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_whole(&s, 0);
	free(s.buf);
	sink_init(&s);
	p.security = sbad;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_int_equal(s.status, -EACCES);
	free(s.buf);
	env_fini(&e);
	lwm_security_free(sgood);
	lwm_security_free(sbad);
	stop(&srv);
	free(uri);
}

/* Host names through the daemon's resolver (its worker thread, a look-up
 * of the test's own: no name reaches the system's resolver): "files.test"
 * is loopback, "nx.test" does not resolve (-EHOSTUNREACH, at once). */
static int test_lookup(const char *host, const char *port, struct sockaddr_storage *out,
		       socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;

	if (strcmp(host, "files.test") != 0)
		return -EHOSTUNREACH;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*sin);
	return 0;
}

static void test_coap_names(void **state)
{
	struct env e;
	struct sink s;
	struct proc srv;
	struct lwm_resolver lr = {.start = resolver_start, .cancel = resolver_cancel};
	int port = start_coap(&srv, NULL);
	char *uri = h_strf("coap://files.test:%d/pkg.bin", port);
	char *nx = h_strf("coap://nx.test:%d/pkg.bin", port);

	env_init(&e);
	assert_int_equal(resolver_new(e.loop, test_lookup, &e.rs), 0);
	lr.ctx = e.rs;
	lwm_engine_set_resolver(e.engine, &lr);
	sink_init(&s);
	fetch(&e, &s, uri, 0, 0);
	assert_whole(&s, 0);
	free(s.buf);
	sink_init(&s);
	fetch(&e, &s, nx, 0, 0);
	assert_int_equal(s.status, -EHOSTUNREACH);
	free(s.buf);
	env_fini(&e);
	stop(&srv);
	free(uri);
	free(nx);
}

/* coaps:// with X.509 (the fetch contexts' certificate side): the server's
 * certificate checked against the CA and the name; a wrong name is
 * -EACCES. */
static void test_coaps_x509(void **state)
{
	char *cert = h_strf("--cert=%s/server.pem", dir), *key = h_strf("--key=%s/server.key", dir);
	char *cca = h_strf("--ca=%s/ca.pem", dir);
	char *ccert = h_strf("%s/client.pem", dir), *ckey = h_strf("%s/client.key", dir);
	char *ca = h_strf("%s/ca.pem", dir);
	const char *const extra[] = {cert, key, cca, NULL};
	struct lwm_security_params good = {.mode = LWM_SEC_X509, .certificate = ccert,
					   .private_key = ckey, .ca_file = ca,
					   .sni = "lwm2m.test"};
	struct lwm_security_params bad = good;
	struct lwm_security *sgood, *sbad;
	char err[256];
	struct env e;
	struct sink s;
	struct proc srv;
	int port = start_coap(&srv, extra);
	char *uri = h_strf("coaps://127.0.0.1:%d/pkg.bin", port);
	struct fw_fetch_params p = {.uri = uri, .give_up_ms = 50000};
	struct fw_fetch *x;

	bad.sni = "elsewhere.test";
	assert_int_equal(lwm_security_load(&good, &sgood, NULL, err, sizeof(err)), 0);
	assert_int_equal(lwm_security_load(&bad, &sbad, NULL, err, sizeof(err)), 0);
	env_init(&e);
	sink_init(&s);
	p.security = sgood;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_whole(&s, 0);
	free(s.buf);
	sink_init(&s);
	p.security = sbad;
	assert_int_equal(fw_fetch_start(e.f, &p, &sink_ops, &s, &x), 0);
	run_until_done(&e, &s);
	assert_int_equal(s.status, -EACCES);
	free(s.buf);
	env_fini(&e);
	lwm_security_free(sgood);
	lwm_security_free(sbad);
	stop(&srv);
	free(uri);
	free(cert);
	free(key);
	free(cca);
	free(ccert);
	free(ckey);
	free(ca);
}

/* ---- set-up --------------------------------------------------------------- */

static int setup(void **state)
{
	char *path;
	FILE *fp;
	uint32_t x = 0x12345678;

	dir = h_tmpdir();
	assert_non_null(dir);
	assert_int_equal(creds_make(dir), 0);
	pkg = malloc(PKG_SIZE);
	assert_non_null(pkg);
	for (size_t i = 0; i < PKG_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pkg[i] = (uint8_t)x;
	}
	path = h_strf("%s/pkg.bin", dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(pkg, 1, PKG_SIZE, fp), PKG_SIZE);
	fclose(fp);
	free(path);
	path = h_strf("%s/empty.bin", dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fclose(fp);
	free(path);
	return 0;
}

static int teardown(void **state)
{
	free(pkg);
	h_tmpdir_remove(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_uris),
		cmocka_unit_test(test_http_whole),
		cmocka_unit_test(test_http_resume),
		cmocka_unit_test(test_http_resume_no_range),
		cmocka_unit_test(test_http_offset),
		cmocka_unit_test(test_http_empty),
		cmocka_unit_test(test_http_404),
		cmocka_unit_test(test_http_data_error),
		cmocka_unit_test(test_http_refused),
		cmocka_unit_test(test_http_stalled),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_coap_whole),
		cmocka_unit_test(test_coap_small_blocks),
		cmocka_unit_test(test_coap_offset),
		cmocka_unit_test(test_coap_missing),
		cmocka_unit_test(test_coap_resume),
		cmocka_unit_test(test_coap_nobody),
		cmocka_unit_test(test_coap_names),
		cmocka_unit_test(test_coaps_psk),
		cmocka_unit_test(test_coaps_x509),
	};

	log_setup(LOG_TARGET_STDERR, LOG_INFO);
	return cmocka_run_group_tests(tests, setup, teardown);
}
