/* The gpio adapter end to end: gatewayd loads a test build of the adapter
 * whose chip is the fake one (tests/fixtures/gpio: gpio.so with
 * gpio_chip_fake.c and fake_ctl.c, never installed), driven through the
 * fake's control socket, with the test LwM2M server: registration, reads,
 * observe of an input edge, writes and a pulse to an output, server writes
 * and executes on an input, a busy line, and the counter kept across a
 * restart of the daemon.  No sleeps: every wait is on an event, with a
 * deadline.  Every process is stopped by its PID. */
#include <errno.h>
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

static const char config_tmpl[] =
	"gateway = { name = \"pi\"; state_dir = \"%s\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120; } );\n"
	"devices = (\n"
	"  { name = \"door\"; adapter = \"gpio\"; chip = \"pinctrl-fake\";\n"
	"    points = (\n"
	"      { channel = \"open\"; path = \"/3200/0/5500\"; line = \"DOOR\"; bias = \"pull-up\";\n"
	"        active_low = true; },\n"
	"      { channel = \"n\"; path = \"/3200/0/5501\"; line = \"DOOR\"; function = \"counter\"; }\n"
	"    ); },\n"
	"  { name = \"meter\"; adapter = \"gpio\"; chip = \"/dev/pinctrl-fake\";\n"
	"    points = (\n"
	"      { channel = \"in\"; path = \"/3200/0/5500\"; line = \"METER\"; bias = \"pull-up\";\n"
	"        active_low = true; edge = \"rising\"; persist_counter = true; },\n"
	"      { channel = \"count\"; path = \"/3200/0/5501\"; line = \"METER\"; function = \"counter\"; },\n"
	"      { channel = \"db\"; path = \"/3200/0/5503\"; line = \"METER\"; function = \"debounce\"; },\n"
	"      { channel = \"edge\"; path = \"/3200/0/5504\"; line = \"METER\"; function = \"edge\"; },\n"
	"      { channel = \"reset\"; path = \"/3200/0/5505\"; line = \"METER\";\n"
	"        function = \"counter_reset\"; }\n"
	"    ); },\n"
	"  { name = \"relay\"; adapter = \"gpio\"; chip = \"pinctrl-fake\";\n"
	"    points = (\n"
	"      { channel = \"on\"; path = \"/3201/0/5550\"; line = \"RELAY\"; direction = \"output\"; },\n"
	"      { channel = \"pulse\"; path = \"/3340/0/5523\"; line = \"RELAY\"; function = \"pulse\";\n"
	"        pulse_ms = 100; }\n"
	"    ); },\n"
	/* Asks for the door's line, which "door" holds already. */
	"  { name = \"dup\"; adapter = \"gpio\"; chip = \"pinctrl-fake\";\n"
	"    points = ( { channel = \"s\"; path = \"/3200/0/5500\"; line = \"DOOR\"; } ); }\n"
	");\n";

#define LINE_DOOR 0
#define LINE_METER 1
#define LINE_RELAY 2

struct env {
	char *dir, *conf, *log, *sock;
	int port, ctl;
	struct proc srv, gw;
};

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static json_t *expect(struct env *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *expect(struct env *e, const char *code, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = h_request(&e->srv, H_TIMEOUT_MS, "%s", cmd);
	if (!r)
		fail_msg("%s: no answer", cmd);
	if (strcmp(str(r, "code"), code) != 0)
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	return r;
}

/* The text payload of a read that must succeed. */
static char *read_text(struct env *e, const char *ep, const char *path)
{
	json_t *r = expect(e, "2.05", "read %s %s text", ep, path);
	char *s = strdup(str(r, "payload_text"));

	json_decref(r);
	return s;
}

static void assert_reads(struct env *e, const char *ep, const char *path, const char *want)
{
	char *s = read_text(e, ep, path);

	if (strcmp(s, want) != 0)
		fail_msg("read %s %s: expected \"%s\", got \"%s\"", ep, path, want, s);
	free(s);
}

/* One command to the fake chip in the daemon; its answer. */
static char *ctl(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *ctl(struct env *e, const char *fmt, ...)
{
	char line[128], ans[128];
	size_t len = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	assert_int_equal(write(e->ctl, line, strlen(line)), (ssize_t)strlen(line));
	while (len == 0 || ans[len - 1] != '\n') {
		struct pollfd p = {.fd = e->ctl, .events = POLLIN};
		ssize_t n;

		assert_int_equal(poll(&p, 1, H_TIMEOUT_MS), 1);
		n = read(e->ctl, ans + len, sizeof(ans) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	ans[len - 1] = '\0';
	return strdup(ans);
}

static void ctl_ok(struct env *e, const char *cmd, const char *want)
{
	char *a = ctl(e, "%s", cmd);

	if (strcmp(a, want) != 0)
		fail_msg("fake chip: %s: expected \"%s\", got \"%s\"", cmd, want, a);
	free(a);
}

/* Notifications of observation id until one carries want. */
static void wait_notified(struct env *e, const char *id, const char *want)
{
	for (;;) {
		json_t *n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
		bool done;

		if (!n)
			fail_msg("no notification of \"%s\"", want);
		done = strcmp(str(n, "payload_text"), want) == 0;
		json_decref(n);
		if (done)
			return;
	}
}

static int connect_ctl(struct env *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->sock);
	e->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return e->ctl >= 0 && connect(e->ctl, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -1;
}

static int start_daemon(struct env *e)
{
	const char *eps[] = {"pi-door", "pi-meter", "pi-relay"};

	if (h_start_gatewayd(&e->gw, e->dir, e->conf) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		json_t *ev = h_wait_event(&e->srv, "register", "ep", eps[i], H_TIMEOUT_MS);

		if (!ev)
			return -1;
		json_decref(ev);
	}
	/* The socket is bound when the daemon loads the adapter, long before
	 * the devices register. */
	return connect_ctl(e);
}

static int stop_daemon(struct env *e)
{
	int status;

	if (e->ctl >= 0)
		close(e->ctl);
	e->ctl = -1;
	status = h_stop(&e->gw, SIGTERM, 5000);
	if (status != 0)
		h_dump_file(e->log);
	return status;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *tmpl, *adir;

	*state = e;
	e->ctl = -1;
	e->dir = h_tmpdir();
	if (!e->dir)
		return -1;
	e->log = h_strf("%s/gatewayd.log", e->dir);
	e->sock = h_strf("%s/gpio.sock", e->dir);
	/* Only the daemon this test starts sees these. */
	adir = h_build_path("tests/fixtures/gpio/.libs");
	setenv("GW_ADAPTER_DIR", adir, 1);
	free(adir);
	setenv("GWD_GPIO_FAKE_CHIP", "pinctrl-fake:DOOR,METER,RELAY", 1);
	setenv("GWD_GPIO_FAKE_CTL", e->sock, 1);
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	tmpl = h_strf(config_tmpl, e->dir);
	e->conf = h_write_config(e->dir, "gatewayd.conf", tmpl, e->port);
	free(tmpl);
	return start_daemon(e);
}

static int teardown(void **state)
{
	struct env *e = *state;
	int status = e->gw.pid > 0 ? stop_daemon(e) : 0;

	h_stop(&e->srv, SIGTERM, 5000);
	h_tmpdir_remove(e->dir);
	free(e->conf);
	free(e->log);
	free(e->sock);
	free(e);
	return status == 0 ? 0 : -1;
}

static void registers_reads_and_observes_an_edge(void **state)
{
	struct env *e = *state;
	json_t *r, *n;
	char *id;

	/* The door is closed: the pull-up holds the line high, active low. */
	assert_reads(e, "pi-door", "/3200/0/5500", "0");
	assert_reads(e, "pi-door", "/3200/0/5501", "0");
	r = expect(e, "2.05", "observe pi-door /3200/0/5500 text");
	id = strdup(str(r, "id"));
	json_decref(r);
	/* It opens: the edge reaches the server without any polling. */
	ctl_ok(e, "edge 0 0", "ok");
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
	assert_non_null(n);
	assert_string_equal(str(n, "payload_text"), "1");
	json_decref(n);
	assert_reads(e, "pi-door", "/3200/0/5501", "1");
	json_decref(expect(e, "2.05", "cancel pi-door /3200/0/5500"));
	free(id);
}

static void writes_and_pulses_an_output(void **state)
{
	struct env *e = *state;
	json_t *r, *n;
	char *id;

	assert_reads(e, "pi-relay", "/3201/0/5550", "0");
	ctl_ok(e, "level 2", "ok 0");
	json_decref(expect(e, "2.04", "write pi-relay /3201/0/5550 text 1"));
	ctl_ok(e, "level 2", "ok 1");
	assert_reads(e, "pi-relay", "/3201/0/5550", "1");
	json_decref(expect(e, "2.04", "write pi-relay /3201/0/5550 text 0"));
	ctl_ok(e, "level 2", "ok 0");
	/* A value that is not a boolean changes nothing. */
	r = h_request(&e->srv, H_TIMEOUT_MS, "write pi-relay /3201/0/5550 text 7");
	assert_non_null(r);
	assert_true(str(r, "code")[0] == '4');
	json_decref(r);
	ctl_ok(e, "level 2", "ok 0");

	/* A pulse: on at once, off again by the adapter's timer, which the
	 * observation shows. */
	r = expect(e, "2.05", "observe pi-relay /3201/0/5550 text");
	id = strdup(str(r, "id"));
	json_decref(r);
	json_decref(expect(e, "2.04", "execute pi-relay /3340/0/5523 0='200'"));
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
	assert_non_null(n);
	assert_string_equal(str(n, "payload_text"), "1");
	json_decref(n);
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
	assert_non_null(n);
	assert_string_equal(str(n, "payload_text"), "0");
	json_decref(n);
	ctl_ok(e, "level 2", "ok 0");
	json_decref(expect(e, "2.05", "cancel pi-relay /3201/0/5550"));
	free(id);
}

static void meter_counts_with_server_settings_and_keeps_its_count(void **state)
{
	struct env *e = *state;
	char *path, *id, *sid;
	FILE *f;
	char line[256] = "";
	json_t *o;

	/* The counter's and the state's observations say when the daemon has
	 * seen an edge: the fake's fd and the server's request race otherwise. */
	o = expect(e, "2.05", "observe pi-meter /3200/0/5501 text");
	id = strdup(str(o, "id"));
	json_decref(o);
	o = expect(e, "2.05", "observe pi-meter /3200/0/5500 text");
	sid = strdup(str(o, "id"));
	json_decref(o);
	/* Rising edges (the meter's pulse starts: the line goes low). */
	for (int i = 0; i < 3; i++) {
		char want[8];

		ctl_ok(e, "edge 1 0", "ok");
		snprintf(want, sizeof(want), "%d", i + 1);
		wait_notified(e, id, want);
		ctl_ok(e, "edge 1 1", "ok");
		wait_notified(e, sid, "0");
	}
	/* The server selects falling edges; the next pulse counts on its end. */
	json_decref(expect(e, "2.04", "write pi-meter /3200/0/5504 text 1"));
	assert_reads(e, "pi-meter", "/3200/0/5504", "1");
	ctl_ok(e, "edge 1 0", "ok");
	wait_notified(e, sid, "1");
	assert_reads(e, "pi-meter", "/3200/0/5501", "3");
	ctl_ok(e, "edge 1 1", "ok");
	wait_notified(e, id, "4");
	json_decref(expect(e, "2.05", "cancel pi-meter /3200/0/5501"));
	json_decref(expect(e, "2.05", "cancel pi-meter /3200/0/5500"));
	free(id);
	free(sid);
	/* Out of the IPSO range 1..3: refused by the device layer's check. */
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "write pi-meter /3200/0/5504 text 7");
	assert_non_null(r);
	assert_true(str(r, "code")[0] == '4');
	json_decref(r);
	json_decref(expect(e, "2.04", "write pi-meter /3200/0/5503 text 25"));
	assert_reads(e, "pi-meter", "/3200/0/5503", "25");

	/* The daemon restarts: the count is on disk and comes back. */
	assert_int_equal(stop_daemon(e), 0);
	path = h_strf("%s/meter.gpio", e->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "counter\t/dev/pinctrl-fake\tMETER\t4\n");
	assert_int_equal(start_daemon(e), 0);
	assert_reads(e, "pi-meter", "/3200/0/5501", "4");
	/* Counter Reset (5505). */
	json_decref(expect(e, "2.04", "execute pi-meter /3200/0/5505"));
	assert_reads(e, "pi-meter", "/3200/0/5501", "0");
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "counter\t/dev/pinctrl-fake\tMETER\t0\n");
	free(path);
}

/* The line "dup" wants is held: a clear message, that device is DOWN, and
 * every other device is served. */
static void busy_line_takes_only_its_device_down(void **state)
{
	struct env *e = *state;
	json_t *ev;

	assert_true(h_wait_file_contains(e->log,
					 "chip \"pinctrl-fake\" line \"DOOR\": busy, held by "
					 "\"gatewayd\"",
					 H_TIMEOUT_MS));
	assert_reads(e, "pi-door", "/3200/0/5500", "0");
	assert_reads(e, "pi-relay", "/3201/0/5550", "0");
	/* The DOWN device registers after its start-up wait and answers 5.03. */
	ev = h_wait_event(&e->srv, "register", "ep", "pi-dup", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	json_decref(expect(e, "5.03", "read pi-dup /3200/0/5500 text"));
	/* Object 3 says why: Error Code 8, peripheral malfunction. */
	assert_reads(e, "pi-dup", "/3/0/11/0", "8");
}

/* The Raspberry Pi example stays valid with the real plugin (a check does
 * no I/O, so no chip is needed). */
static void raspberry_pi_example_checks(void **state)
{
	char *bin = h_build_path("gatewayd/gatewayd");
	char *adir = h_build_path("adapters/.libs");
	const char *src = getenv("top_srcdir");
	char *conf = h_strf("%s/config/raspberry-pi.conf", src ? src : ".");
	char *argv[] = {bin, "-t", "-c", conf, "-A", adir, NULL};
	struct proc p = {0};
	int status;

	assert_int_equal(h_spawn(&p, argv, false, NULL), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_int_equal(status, 0);
	free(bin);
	free(adir);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(registers_reads_and_observes_an_edge, setup,
						teardown),
		cmocka_unit_test_setup_teardown(writes_and_pulses_an_output, setup, teardown),
		cmocka_unit_test_setup_teardown(meter_counts_with_server_settings_and_keeps_its_count,
						setup, teardown),
		cmocka_unit_test_setup_teardown(busy_line_takes_only_its_device_down, setup,
						teardown),
		cmocka_unit_test(raspberry_pi_example_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
