/* A lost DTLS session is re-established (issue 7).  Two PSK devices on one
 * test server, a third (X.509) on another.  The first server is restarted
 * on its port (stopped by its PID; the devices notice by an ICMP error or
 * an unanswered Update), ends the sessions with an alert (close_notify),
 * or the path to it is NAT-rebound by a UDP relay (udp_relay.c), so that it
 * no longer knows where the devices' records come from.  Each time both
 * devices make a new handshake, register again, serve reads and can be
 * observed again; the third device sees none of it.  Short lifetimes and
 * CoAP timeouts keep it to seconds. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "creds.h"
#include "harness.h"

#define KEY1 "0123456789abcdef0123456789abcdef"
#define KEY2 "fedcba9876543210fedcba9876543210"
/* Detection (an Update every lifetime/2 = 3 s, unanswered after at most
 * 1.5 * (1 + 2) s), a new handshake and Register: well within this. */
#define RECOVERY_MS 30000

static char *creds;

struct env {
	char *dir;
	struct proc srv, other, relay, gw;
	int port, other_port, relay_port;
	unsigned starts;
	char *log;
};

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static int group_setup(void **state)
{
	(void)state;
	if (h_skip_without_sim())
		return -1;
	creds = h_tmpdir();
	return creds && creds_make(creds) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	h_tmpdir_remove(creds);
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = h_tmpdir();
	e->log = h_strf("%s/gatewayd.log", e->dir);
	e->srv.pid = e->other.pid = e->relay.pid = e->gw.pid = -1;
	*state = e;
	return e->dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (e->gw.pid > 0)
		h_stop(&e->gw, SIGKILL, 5000);
	if (e->srv.pid > 0)
		h_stop(&e->srv, SIGTERM, 5000);
	if (e->other.pid > 0)
		h_stop(&e->other, SIGTERM, 5000);
	if (e->relay.pid > 0)
		h_stop(&e->relay, SIGTERM, 5000);
	free(e->log);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static void fail_with_log(struct env *e, const char *what)
{
	h_dump_file(e->log);
	fail_msg("%s", what);
}

/* A coaps test server on port (0: any) with these options; its port. */
static int spawn_server(struct env *e, struct proc *p, int port, const char *const *opts)
{
	char *bin = h_build_path("tests/lwm2m-server/lwm2m-test-server");
	char *log = h_strf("%s/server-%u.log", e->dir, e->starts++);
	char *portarg = h_strf("%d", port);
	char *argv[24] = {bin, "-a", "127.0.0.1", "-p", portarg};
	size_t n = 5;
	json_t *ev;
	int bound = -1;

	for (; *opts && n < 23; opts++)
		argv[n++] = h_strf("%s", *opts);
	argv[n] = NULL;
	if (h_spawn(p, argv, true, log) == 0) {
		ev = h_wait_event(p, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev && json_is_true(json_object_get(ev, "secure")))
			bound = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	for (size_t i = 5; i < n; i++)
		free(argv[i]);
	free(portarg);
	free(log);
	free(bin);
	assert_true(bound > 0);
	return bound;
}

/* The PSK server the two devices use (again on the same port). */
static void start_psk_server(struct env *e)
{
	static const char *const opts[] = {"--psk", "d1:" KEY1, "--psk", "d2:" KEY2, NULL};

	e->port = spawn_server(e, &e->srv, e->port, opts);
}

static void start_other_server(struct env *e)
{
	char *cert = h_strf("%s/server.pem", creds), *key = h_strf("%s/server.key", creds);
	const char *opts[] = {"--cert", cert, "--key", key, NULL};

	e->other_port = spawn_server(e, &e->other, 0, opts);
	free(cert);
	free(key);
}

static void start_relay(struct env *e)
{
	char *bin = h_build_path("tests/integration/udp-relay");
	char *up = h_strf("%d", e->port);
	char *log = h_strf("%s/relay.log", e->dir);
	char *argv[] = {bin, "-u", up, NULL};
	json_t *ev;

	assert_int_equal(h_spawn(&e->relay, argv, true, log), 0);
	ev = h_wait_event(&e->relay, "listening", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	e->relay_port = (int)json_integer_value(json_object_get(ev, "port"));
	json_decref(ev);
	free(log);
	free(up);
	free(bin);
}

/* A sim device with one temperature. */
#define SIM                                                                              \
	"adapter = \"sim\"; manufacturer = \"Acme\";\n"                                      \
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"           \
	"                 waveform = \"constant\"; base = 21.5; } );\n   "

/* d1 and d2 on "s" (at psk_port: the server, or the relay), d3 on "o" with
 * X.509, first: its certificate session must not spoil the PSK handshakes
 * that come after it (lwm_engine_context). */
static void start_gatewayd(struct env *e, int psk_port, int lifetime)
{
	char *conf = h_strf(
	    "gateway = { name = \"rec\"; endpoint_pattern = \"%%d\"; };\n"
	    "servers = (\n"
	    "  { name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; lifetime = %d;\n"
	    "    ack_timeout = 1.0; max_retransmit = 1; retry_timer = 1; },\n"
	    "  { name = \"o\"; uri = \"coaps://127.0.0.1:%d\"; security = \"x509\"; lifetime = 6;\n"
	    "    ack_timeout = 1.0; max_retransmit = 1; }\n"
	    ");\n"
	    "devices = (\n"
	    "  { name = \"d3\"; " SIM " servers = [ \"o\" ];\n"
	    "    certificate = \"%s/client.pem\"; private_key = \"%s/client.key\";\n"
	    "    ca_file = \"%s/ca.pem\"; sni = \"lwm2m.test\"; },\n"
	    "  { name = \"d1\"; " SIM " servers = [ \"s\" ];\n"
	    "    psk_identity = \"d1\"; psk_key = \"" KEY1 "\"; },\n"
	    "  { name = \"d2\"; " SIM " servers = [ \"s\" ];\n"
	    "    psk_identity = \"d2\"; psk_key = \"" KEY2 "\"; }\n"
	    ");\n",
	    psk_port, lifetime, e->other_port, creds, creds, creds);
	char *path = h_write_config(e->dir, "gatewayd.conf", conf, 0);

	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, path), 0);
	free(path);
	free(conf);
}

/* ep registers with srv (within timeout_ms); returns its peer address. */
static char *registered(struct env *e, struct proc *srv, const char *ep, int timeout_ms)
{
	json_t *reg = h_wait_event(srv, "register", "ep", ep, timeout_ms);
	char *peer;

	if (!reg)
		fail_with_log(e, ep);
	assert_true(json_is_true(json_object_get(reg, "secure")));
	peer = strdup(str(reg, "peer"));
	json_decref(reg);
	return peer;
}

static void reads(struct env *e, struct proc *srv, const char *ep)
{
	json_t *r = h_request(srv, H_TIMEOUT_MS, "read %s /3/0/0 text", ep);

	if (!r)
		fail_with_log(e, "no answer to a read");
	if (strcmp(str(r, "code"), "2.05") != 0)
		fail_msg("read %s: %s", ep, json_dumps(r, 0));
	assert_string_equal(str(r, "payload_text"), "Acme");
	json_decref(r);
}

/* The server observes ep's temperature (pmax 1) and gets notifications. */
static void observes(struct env *e, const char *ep)
{
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "raw %s PUT /3303/0/5700?pmax=1 -", ep);
	json_t *n;
	char *id;

	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	r = h_request(&e->srv, H_TIMEOUT_MS, "observe %s /3303/0/5700 text", ep);
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	assert_true(json_is_true(json_object_get(r, "observing")));
	id = strdup(str(r, "id"));
	json_decref(r);
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
	if (!n)
		fail_with_log(e, "no notification");
	assert_string_equal(str(n, "payload_text"), "21.5");
	json_decref(n);
	free(id);
}

/* Both devices of the first server are registered, readable, observable. */
static void first_server_serves(struct env *e, char **peer1, char **peer2, int timeout_ms)
{
	char *p1 = registered(e, &e->srv, "d1", timeout_ms);
	char *p2 = registered(e, &e->srv, "d2", timeout_ms);

	reads(e, &e->srv, "d1");
	reads(e, &e->srv, "d2");
	observes(e, "d1");
	observes(e, "d2");
	if (peer1)
		*peer1 = p1;
	else
		free(p1);
	if (peer2)
		*peer2 = p2;
	else
		free(p2);
}

static bool file_has(const char *path, const char *s)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 22);
	bool found;

	assert_non_null(f);
	fread(buf, 1, (1 << 22) - 1, f);
	fclose(f);
	found = strstr(buf, s) != NULL;
	free(buf);
	return found;
}

/* d3 registered once, still answers, and lost nothing. */
static void third_unaffected(struct env *e)
{
	json_t *again = h_wait_event(&e->other, "register", "ep", "d3", 0);

	if (again)
		fail_with_log(e, "d3 registered again");
	reads(e, &e->other, "d3");
	assert_false(file_has(e->log, "d3: DTLS session"));
	assert_false(file_has(e->log, "d3: update to"));
	assert_false(file_has(e->log, "d3: registration with"));
}

static void stop_clean(struct env *e)
{
	int status = h_stop(&e->gw, SIGTERM, 60000);

	e->gw.pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_with_log(e, "gatewayd did not exit cleanly");
}

static void start_all(struct env *e, bool relay, int lifetime)
{
	char *p;

	start_psk_server(e);
	start_other_server(e);
	if (relay)
		start_relay(e);
	start_gatewayd(e, relay ? e->relay_port : e->port, lifetime);
	p = registered(e, &e->other, "d3", H_TIMEOUT_MS);
	free(p);
	reads(e, &e->other, "d3");
}

/* Did both devices log that they noticed (any of the two ways)? */
static void noticed(struct env *e, const char *a, const char *b)
{
	const char *dev[] = {"d1", "d2"};

	for (int i = 0; i < 2; i++) {
		char *na = h_strf("%s: %s", dev[i], a), *nb = b ? h_strf("%s: %s", dev[i], b) : NULL;
		if (!file_has(e->log, na) && !(nb && file_has(e->log, nb)))
			fail_with_log(e, na);
		free(na);
		free(nb);
	}
}

/* The server is stopped by its PID and started again on its port with the
 * same keys and no memory of anyone.  A libcoap server sends no alert as it
 * goes: a device notices by an ICMP error (a notification sent while the
 * port is closed) or when its next Update goes unanswered. */
static void server_restart(void **state)
{
	struct env *e = *state;
	char *lost, *update;

	e->port = 0;
	start_all(e, false, 6);
	first_server_serves(e, NULL, NULL, H_TIMEOUT_MS);
	h_stop(&e->srv, SIGTERM, 5000);
	e->srv.pid = -1;
	/* The other server's device answers while this one is away. */
	reads(e, &e->other, "d3");
	start_psk_server(e);
	first_server_serves(e, NULL, NULL, RECOVERY_MS);
	lost = h_strf("DTLS session with coaps://127.0.0.1:%d lost", e->port);
	update = h_strf("update to coaps://127.0.0.1:%d failed (no answer from server); "
		     "new DTLS handshake and registration", e->port);
	noticed(e, lost, update);
	third_unaffected(e);
	stop_clean(e);
	free(lost);
	free(update);
}

/* The server ends the sessions with an alert (close_notify) and keeps the
 * registrations: the devices make a new handshake and register again at
 * once, not at their next Update (30 s away with a lifetime of 60). */
static void server_closes_sessions(void **state)
{
	struct env *e = *state;
	char *lost;
	json_t *r;

	e->port = 0;
	start_all(e, false, 60);
	first_server_serves(e, NULL, NULL, H_TIMEOUT_MS);
	r = h_request(&e->srv, H_TIMEOUT_MS, "close d1");
	assert_non_null(r);
	assert_string_equal(str(r, "event"), "response");
	json_decref(r);
	r = h_request(&e->srv, H_TIMEOUT_MS, "close d2");
	assert_non_null(r);
	assert_string_equal(str(r, "event"), "response");
	json_decref(r);
	first_server_serves(e, NULL, NULL, H_TIMEOUT_MS);
	lost = h_strf("DTLS session with coaps://127.0.0.1:%d lost (closed by an alert", e->port);
	noticed(e, lost, NULL);
	third_unaffected(e);
	stop_clean(e);
	free(lost);
}

/* NAT rebinding: the server sees the devices' records from new ports and
 * cannot match them to a session. */
static void nat_rebinding(void **state)
{
	struct env *e = *state;
	char *p1, *p2, *q1, *q2;
	json_t *ev;

	e->port = 0;
	start_all(e, true, 6);
	first_server_serves(e, &p1, &p2, H_TIMEOUT_MS);
	h_send(&e->relay, "rebind\n");
	ev = h_wait_event(&e->relay, "rebound", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* Registered again from elsewhere, readable and observable. */
	first_server_serves(e, &q1, &q2, RECOVERY_MS);
	assert_string_not_equal(p1, q1);
	assert_string_not_equal(p2, q2);
	if (!file_has(e->log, "d1: update to coaps://127.0.0.1:") ||
	    !file_has(e->log, "d2: update to coaps://127.0.0.1:"))
		fail_with_log(e, "the lost session was not noticed");
	third_unaffected(e);
	stop_clean(e);
	free(p1);
	free(p2);
	free(q1);
	free(q2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(server_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(server_closes_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(nat_rebinding, setup, teardown),
	};
	int r;

	if (h_skip_without_sim())
		return 77;
	r = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return r;
}
