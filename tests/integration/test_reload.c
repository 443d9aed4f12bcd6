/* Live per-device reload: the file is edited, SIGHUP sent to the daemon's
 * PID, and only what changed is touched.  Everything is waited for on
 * events: the test servers' JSON events, the daemon's READY=1 on a
 * NOTIFY_SOCKET the test provides, or its log lines. */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

struct env {
	char *dir, *conf, *log;
	struct proc a, b;  /* two test servers */
	int port_a, port_b;
	struct proc gw;
	int notify_fd;
	char *notify_path;
	char status[512];  /* the last STATUS= seen with READY=1 */
};

/* Write the config: servers a and b (b's lifetime given), a profile p
 * whose constant is p_base, and the devices' text. */
static void write_conf(struct env *e, int lifetime_b, const char *p_base, const char *devices)
{
	char *tmp = h_strf("%s.new", e->conf);
	FILE *f = fopen(tmp, "w");

	assert_non_null(f);
	fprintf(f,
		"gateway = { name = \"r\"; };\n"
		"servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; },\n"
		"            { name = \"b\"; uri = \"coap://127.0.0.1:%d\"; lifetime = %d; } );\n"
		"profiles = ( { name = \"p\"; adapter = \"sim\";\n"
		"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; waveform = \"constant\";\n"
		"               base = %s; } ); } );\n"
		"devices = (\n%s);\n",
		e->port_a, e->port_b, lifetime_b, p_base, devices);
	assert_int_equal(fclose(f), 0);
	/* The daemon never sees half a file. */
	assert_int_equal(rename(tmp, e->conf), 0);
	free(tmp);
}

/* A sim device on server srv with a constant point. */
static char *constant_dev(const char *name, const char *srv, const char *base)
{
	return h_strf("{ name = \"%s\"; adapter = \"sim\"; servers = [\"%s\"];\n"
		      "  points = ( { channel = \"x\"; path = \"/3303/0/5700\";\n"
		      "               waveform = \"constant\"; base = %s; } ); }",
		      name, srv, base);
}

/* The device whose observation must survive: a counter that steps every
 * 0.2 s, so that notifications keep coming.  keys_swapped writes the same
 * settings in another order (which must count as unchanged). */
static char *counter_dev(bool keys_swapped)
{
	if (keys_swapped)
		return h_strf("{ adapter = \"sim\"; name = \"keep\"; servers = [\"a\"];\n"
			      "  points = ( { period = 0.2; channel = \"c\"; waveform = \"counter\";\n"
			      "               path = \"/3303/0/5700\"; poll = 0.1; } ); }");
	return h_strf("{ name = \"keep\"; adapter = \"sim\"; servers = [\"a\"];\n"
		      "  points = ( { channel = \"c\"; path = \"/3303/0/5700\"; poll = 0.1;\n"
		      "               waveform = \"counter\"; period = 0.2; } ); }");
}

static void start(struct env *e, const char *devices)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(e, 0, sizeof(*e));
	e->dir = h_tmpdir();
	assert_non_null(e->dir);
	e->port_a = h_start_server(&e->a, e->dir);
	e->port_b = h_start_server(&e->b, e->dir);
	assert_true(e->port_a > 0 && e->port_b > 0);
	e->conf = h_strf("%s/gatewayd.conf", e->dir);
	e->log = h_strf("%s/gatewayd.log", e->dir);
	write_conf(e, 300, "1.5", devices);
	e->notify_path = h_strf("%s/notify", e->dir);
	e->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->notify_path);
	assert_int_equal(bind(e->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", e->notify_path, 1);
	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, e->conf), 0);
	unsetenv("NOTIFY_SOCKET");
}

static void finish(struct env *e)
{
	h_stop(&e->gw, SIGTERM, 5000);
	h_stop(&e->a, SIGTERM, 5000);
	h_stop(&e->b, SIGTERM, 5000);
	close(e->notify_fd);
	free(e->notify_path);
	free(e->conf);
	free(e->log);
	h_tmpdir_remove(e->dir);
}

/* Wait for a datagram containing `what`; a STATUS= line in it is kept. */
static bool notified(struct env *e, const char *what)
{
	char buf[1024];

	for (;;) {
		struct pollfd pfd = {.fd = e->notify_fd, .events = POLLIN};
		const char *st;
		ssize_t n;

		if (poll(&pfd, 1, H_TIMEOUT_MS) != 1)
			return false;
		n = recv(e->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		if (!strstr(buf, what))
			continue;
		st = strstr(buf, "STATUS=");
		snprintf(e->status, sizeof(e->status), "%s", st ? st + 7 : "");
		return true;
	}
}

/* SIGHUP, then RELOADING=1 and READY=1 with the STATUS line. */
static void reload(struct env *e, const char *want_status)
{
	assert_int_equal(kill(e->gw.pid, SIGHUP), 0);
	assert_true(notified(e, "RELOADING=1"));
	assert_true(notified(e, "READY=1"));
	if (!strstr(e->status, want_status)) {
		h_dump_file(e->log);
		fail_msg("STATUS \"%s\", expected \"%s\"", e->status, want_status);
	}
}

/* The daemon has taken the server's answer to dev's Register in (the server's
 * "register" event comes before that): only then is there a registration to end.
 * A device retired while its Register is still unanswered sends no De-register. */
static void registered(struct env *e, const char *dev)
{
	char *line = h_strf("%s: registered with", dev);

	if (!h_wait_file_contains(e->log, line, H_TIMEOUT_MS)) {
		h_dump_file(e->log);
		fail_msg("%s never registered", dev);
	}
	free(line);
}

static void expect_event(struct proc *srv, const char *event, const char *ep)
{
	json_t *ev = h_wait_event(srv, event, "ep", ep, H_TIMEOUT_MS);

	if (!ev)
		fail_msg("no %s event for %s", event, ep);
	json_decref(ev);
}

/* Nothing of this kind was seen from ep so far (events already received
 * are in the backlog; a round trip before this makes "so far" mean
 * something). */
static void expect_no_event(struct proc *srv, const char *event, const char *ep)
{
	json_t *ev = h_wait_event(srv, event, "ep", ep, 0);

	if (ev)
		fail_msg("unexpected %s event for %s: %s", event, ep, json_dumps(ev, 0));
}

static void expect_read(struct proc *srv, const char *ep, const char *value)
{
	json_t *ev = h_request(srv, H_TIMEOUT_MS, "read %s /3303/0/5700 text", ep);

	assert_non_null(ev);
	if (strcmp(json_string_value(json_object_get(ev, "payload_text")) ?: "", value) != 0)
		fail_msg("%s: read %s, expected %s", ep, json_dumps(ev, 0), value);
	json_decref(ev);
}

static json_int_t seq_of(json_t *n)
{
	return json_integer_value(json_object_get(n, "seq"));
}

static void add_remove_change_keep_others_untouched(void **state)
{
	struct env e;
	char *keep = counter_dev(false), *gone = constant_dev("gone", "a", "1.5");
	char *chg = constant_dev("chg", "a", "1.5"), *chg2 = constant_dev("chg", "a", "2.5");
	char *added = constant_dev("new", "a", "3.5"), *keep2 = counter_dev(true);
	char *devs = h_strf("%s,\n%s,\n%s\n", keep, gone, chg);
	/* Reordered too: order in the file means nothing. */
	char *devs2 = h_strf("%s,\n%s,\n%s\n", added, chg2, keep2);
	json_t *obs, *n;
	char *id;
	json_int_t seq = 0;

	start(&e, devs);
	assert_true(notified(&e, "READY=1"));
	expect_event(&e.a, "register", "r-keep");
	expect_event(&e.a, "register", "r-gone");
	expect_event(&e.a, "register", "r-chg");
	registered(&e, "gone");
	registered(&e, "chg");
	obs = h_request(&e.a, H_TIMEOUT_MS, "observe r-keep /3303/0/5700 text");
	assert_non_null(obs);
	assert_true(json_is_true(json_object_get(obs, "observing")));
	id = strdup(json_string_value(json_object_get(obs, "id")));
	json_decref(obs);
	n = h_wait_event(&e.a, "notify", "id", id, H_TIMEOUT_MS);
	assert_non_null(n);
	json_decref(n);

	write_conf(&e, 300, "1.5", devs2);
	reload(&e, "reload: 1 added, 1 removed, 1 restarted, 1 unchanged");
	expect_event(&e.a, "deregister", "r-gone");
	expect_event(&e.a, "deregister", "r-chg");
	expect_event(&e.a, "register", "r-chg");
	expect_event(&e.a, "register", "r-new");
	expect_read(&e.a, "r-chg", "2.5");
	expect_read(&e.a, "r-new", "3.5");
	/* r-gone is no longer served. */
	n = h_request(&e.a, H_TIMEOUT_MS, "read r-gone /3303/0/5700 text");
	assert_non_null(n);
	assert_string_equal(json_string_value(json_object_get(n, "event")), "error");
	json_decref(n);

	/* The unchanged device's observation goes on: notifications that
	 * were on their way during the reload, then a new one, on the same
	 * observation with a growing sequence. */
	while ((n = h_wait_event(&e.a, "notify", "id", id, 0))) {
		seq = seq_of(n);
		json_decref(n);
	}
	n = h_wait_event(&e.a, "notify", "id", id, H_TIMEOUT_MS);
	if (!n) {
		h_dump_file(e.log);
		fail_msg("the unchanged device's observation stopped with the reload");
	}
	assert_true(seq_of(n) > seq);
	json_decref(n);
	/* And it never left or came again. */
	expect_no_event(&e.a, "deregister", "r-keep");
	expect_no_event(&e.a, "register", "r-keep");
	assert_true(h_wait_file_contains(e.log, "reload: changed: restarting it", H_TIMEOUT_MS));

	finish(&e);
	free(id);
	free(keep);
	free(keep2);
	free(gone);
	free(chg);
	free(chg2);
	free(added);
	free(devs);
	free(devs2);
}

static void broken_file_changes_nothing(void **state)
{
	struct env e;
	char *x = constant_dev("x", "a", "1.5"), *y = constant_dev("y", "b", "1.5");
	char *x2 = constant_dev("x", "a", "9.5"), *z = constant_dev("z", "a", "1.5");
	char *devs = h_strf("%s,\n%s\n", x, y);
	/* x changed, y removed, z added, and z has a key nobody knows. */
	char *bad = h_strf("%s,\n%.*s colour = \"red\"; }\n", x2, (int)strlen(z) - 1, z);

	start(&e, devs);
	expect_event(&e.a, "register", "r-x");
	expect_event(&e.b, "register", "r-y");
	write_conf(&e, 300, "1.5", bad);
	reload(&e, "reload failed");
	assert_true(h_wait_file_contains(e.log, "keeping the running configuration", H_TIMEOUT_MS));
	/* The error names file:line and the setting. */
	if (!h_wait_file_contains(e.log, "gatewayd.conf:13: devices.[1].colour: unknown key",
				  H_TIMEOUT_MS)) {
		h_dump_file(e.log);
		fail_msg("no file:line error for the unknown key");
	}
	/* Still the old configuration, after a round trip with each server. */
	expect_read(&e.a, "r-x", "1.5");
	expect_read(&e.b, "r-y", "1.5");
	expect_no_event(&e.a, "deregister", "r-x");
	expect_no_event(&e.a, "register", "r-x");
	expect_no_event(&e.a, "register", "r-z");
	expect_no_event(&e.b, "deregister", "r-y");
	expect_no_event(&e.b, "register", "r-y");

	/* Fixed, it applies. */
	write_conf(&e, 300, "1.5", devs);
	reload(&e, "reload: 0 added, 0 removed, 0 restarted, 2 unchanged");
	finish(&e);
	free(x);
	free(y);
	free(x2);
	free(z);
	free(devs);
	free(bad);
}

static void changed_server_or_profile_restarts_only_its_devices(void **state)
{
	struct env e;
	char *a1 = constant_dev("a1", "a", "1.5"), *b1 = constant_dev("b1", "b", "1.5");
	char *devs = h_strf("%s,\n{ name = \"a2\"; profile = \"p\"; servers = [\"a\"]; },\n%s\n",
			    a1, b1);
	json_t *ev;

	start(&e, devs);
	expect_event(&e.a, "register", "r-a1");
	expect_event(&e.a, "register", "r-a2");
	ev = h_wait_event(&e.b, "register", "ep", "r-b1", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 300);
	json_decref(ev);
	registered(&e, "b1");
	registered(&e, "a2");

	/* Server b's lifetime: b1 registers again with it, a1 and a2 stay. */
	write_conf(&e, 120, "1.5", devs);
	reload(&e, "reload: 0 added, 0 removed, 1 restarted, 2 unchanged");
	expect_event(&e.b, "deregister", "r-b1");
	ev = h_wait_event(&e.b, "register", "ep", "r-b1", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 120);
	json_decref(ev);
	expect_read(&e.a, "r-a1", "1.5");
	expect_read(&e.a, "r-a2", "1.5");

	/* Profile p: only a2, which uses it. */
	write_conf(&e, 120, "4.5", devs);
	reload(&e, "reload: 0 added, 0 removed, 1 restarted, 2 unchanged");
	expect_event(&e.a, "deregister", "r-a2");
	expect_event(&e.a, "register", "r-a2");
	expect_read(&e.a, "r-a2", "4.5");
	expect_read(&e.a, "r-a1", "1.5");
	expect_read(&e.b, "r-b1", "1.5");
	expect_no_event(&e.a, "deregister", "r-a1");
	expect_no_event(&e.a, "register", "r-a1");
	expect_no_event(&e.b, "deregister", "r-b1");
	expect_no_event(&e.b, "register", "r-b1");
	finish(&e);
	free(a1);
	free(b1);
	free(devs);
}

/* An adapter proposes a device from a rule (ABI 1.3 propose_device): it is
 * made, registers and serves; a bad rule or a bad key is refused and
 * logged; a reload leaves it alone until the file has a device of that
 * name, which then replaces it. */
static void adapter_proposes_a_device(void **state)
{
	static const char scanners[] =
		"{ name = \"scan\"; adapter = \"finder\"; propose = \"s1\"; rule = \"found\";\n"
		"  value = 7.5; points = ( { channel = \"t\"; path = \"/3303/0/5700\"; } ); },\n"
		"{ name = \"scan2\"; adapter = \"finder\"; propose = \"s2\"; rule = \"nosuch\";\n"
		"  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; } ); },\n"
		"{ name = \"scan3\"; adapter = \"finder\"; propose = \"s3\"; rule = \"found\";\n"
		"  bad_key = true; points = ( { channel = \"t\"; path = \"/3303/0/5700\"; } ); }";
	struct env e;
	char *fixtures = h_build_path("tests/fixtures/adapters/.libs");
	char *old = getenv("GW_ADAPTER_DIR") ? strdup(getenv("GW_ADAPTER_DIR")) : NULL;
	char *devs, *tmp;
	FILE *f;
	json_t *ev;

	memset(&e, 0, sizeof(e));
	e.dir = h_tmpdir();
	e.port_a = h_start_server(&e.a, e.dir);
	assert_true(e.port_a > 0);
	e.conf = h_strf("%s/gatewayd.conf", e.dir);
	e.log = h_strf("%s/gatewayd.log", e.dir);
	devs = h_strf(
		"gateway = { name = \"r\"; };\n"
		"servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; } );\n"
		"profiles = ( { name = \"found\"; adapter = \"finder\";\n"
		"  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; } ); } );\n"
		"devices = (\n%s\n);\n", e.port_a, scanners);
	f = fopen(e.conf, "w");
	assert_non_null(f);
	fputs(devs, f);
	fclose(f);
	e.notify_fd = -1;
	setenv("GW_ADAPTER_DIR", fixtures, 1);
	assert_int_equal(h_start_gatewayd(&e.gw, e.dir, e.conf), 0);
	if (old)
		setenv("GW_ADAPTER_DIR", old, 1);
	expect_event(&e.a, "register", "r-scan");
	expect_event(&e.a, "register", "r-s1");
	expect_read(&e.a, "r-s1", "8.5");
	assert_true(h_wait_file_contains(e.log, "finder: proposal s1: accepted", H_TIMEOUT_MS));
	assert_true(h_wait_file_contains(e.log, "no rule (profile) \"nosuch\"", H_TIMEOUT_MS));
	assert_true(h_wait_file_contains(e.log, "finder: proposal s2: No such file or directory",
					 H_TIMEOUT_MS));
	assert_true(h_wait_file_contains(e.log, "finder: proposal s3: Invalid argument",
					 H_TIMEOUT_MS));

	/* The same file again: the proposed device is not the file's to remove. */
	assert_int_equal(kill(e.gw.pid, SIGHUP), 0);
	assert_true(h_wait_file_contains(e.log, "reload: 0 added, 0 removed, 0 restarted, "
					 "3 unchanged", H_TIMEOUT_MS));
	expect_read(&e.a, "r-s1", "8.5");
	expect_no_event(&e.a, "deregister", "r-s1");

	/* The file takes the name over: its device replaces the proposed one. */
	free(devs);
	devs = h_strf(
		"gateway = { name = \"r\"; };\n"
		"servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; } );\n"
		"profiles = ( { name = \"found\"; adapter = \"finder\";\n"
		"  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; } ); } );\n"
		"devices = (\n%s,\n{ name = \"s1\"; profile = \"found\"; value = 1.5; }\n);\n",
		e.port_a, scanners);
	tmp = h_strf("%s.new", e.conf);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(devs, f);
	fclose(f);
	assert_int_equal(rename(tmp, e.conf), 0);
	assert_int_equal(kill(e.gw.pid, SIGHUP), 0);
	assert_true(h_wait_file_contains(e.log, "reload: 0 added, 0 removed, 1 restarted, "
					 "3 unchanged", H_TIMEOUT_MS));
	expect_event(&e.a, "deregister", "r-s1");
	ev = h_wait_event(&e.a, "register", "ep", "r-s1", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	expect_read(&e.a, "r-s1", "1.5");

	h_stop(&e.gw, SIGTERM, 5000);
	h_stop(&e.a, SIGTERM, 5000);
	free(e.conf);
	free(e.log);
	h_tmpdir_remove(e.dir);
	free(tmp);
	free(devs);
	free(fixtures);
	free(old);
}

/* With registration_rate set, devices a reload adds start through the
 * pacer: while it still works through the start-up's devices, and after. */
static void added_devices_are_paced(void **state)
{
	struct env e;
	char *x = constant_dev("x", "a", "1.5"), *y = constant_dev("y", "a", "1.5");
	char *z = constant_dev("z", "a", "1.5"), *w = constant_dev("w", "a", "2.5");
	char *text, *tmp;
	FILE *f;

	memset(&e, 0, sizeof(e));
	e.notify_fd = -1;
	e.dir = h_tmpdir();
	e.port_a = h_start_server(&e.a, e.dir);
	assert_true(e.port_a > 0);
	e.conf = h_strf("%s/gatewayd.conf", e.dir);
	e.log = h_strf("%s/gatewayd.log", e.dir);
	tmp = h_strf("%s.new", e.conf);
	/* 2 per second: y starts half a second after x. */
	text = h_strf("gateway = { name = \"r\"; registration_rate = 2; };\n"
		      "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; } );\n"
		      "devices = (\n%s,\n%s\n);\n", e.port_a, x, y);
	f = fopen(e.conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(h_start_gatewayd(&e.gw, e.dir, e.conf), 0);
	expect_event(&e.a, "register", "r-x");
	/* z comes while y may still wait for its turn; then w after all. */
	free(text);
	text = h_strf("gateway = { name = \"r\"; registration_rate = 2; };\n"
		      "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; } );\n"
		      "devices = (\n%s,\n%s,\n%s\n);\n", e.port_a, x, y, z);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, e.conf), 0);
	assert_int_equal(kill(e.gw.pid, SIGHUP), 0);
	assert_true(h_wait_file_contains(e.log, "reload: 1 added, 0 removed, 0 restarted, "
					 "2 unchanged", H_TIMEOUT_MS));
	expect_event(&e.a, "register", "r-y");
	expect_event(&e.a, "register", "r-z");
	free(text);
	text = h_strf("gateway = { name = \"r\"; registration_rate = 2; };\n"
		      "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; } );\n"
		      "devices = (\n%s,\n%s,\n%s,\n%s\n);\n", e.port_a, x, y, z, w);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, e.conf), 0);
	assert_int_equal(kill(e.gw.pid, SIGHUP), 0);
	assert_true(h_wait_file_contains(e.log, "reload: 1 added, 0 removed, 0 restarted, "
					 "3 unchanged", H_TIMEOUT_MS));
	expect_event(&e.a, "register", "r-w");
	expect_read(&e.a, "r-w", "2.5");
	expect_no_event(&e.a, "register", "r-x");
	expect_no_event(&e.a, "register", "r-y");

	h_stop(&e.gw, SIGTERM, 5000);
	h_stop(&e.a, SIGTERM, 5000);
	free(e.conf);
	free(e.log);
	h_tmpdir_remove(e.dir);
	free(tmp);
	free(text);
	free(x);
	free(y);
	free(z);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_remove_change_keep_others_untouched),
		cmocka_unit_test(broken_file_changes_nothing),
		cmocka_unit_test(changed_server_or_profile_restarts_only_its_devices),
		cmocka_unit_test(adapter_proposes_a_device),
		cmocka_unit_test(added_devices_are_paced),
	};

	if (h_skip_without_sim())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
