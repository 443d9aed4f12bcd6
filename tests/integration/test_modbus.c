/* The modbus adapter end to end: real libmodbus slaves (modbus_slave, on
 * loopback TCP and on a pty pair for RTU), gatewayd, and the test LwM2M
 * server.  Values are waited for by reading again after each new request
 * the slave sees: no sleeps.  Every process is stopped by its PID. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

struct env {
	char *dir, *log, *config;
	struct proc srv, gw, tcp, rtu;
	int port, tcp_port;
	char pty[128];
};

static struct env *E;

static const char config_tmpl[] =
	"gateway = { name = \"mb\"; control_socket = \"%s/ctl.sock\"; };\n"
	"servers = ( { name = \"test\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"buses = (\n"
	"  { name = \"plc\"; adapter = \"modbus\"; host = \"127.0.0.1\"; port = %d; },\n"
	"  { name = \"rs485\"; adapter = \"modbus\"; serial = \"%s\"; baud = 19200;\n"
	"    parity = \"none\"; frame_gap = 0.002; }\n"
	");\n"
	"profiles = (\n"
	"  { name = \"meter\"; adapter = \"modbus\"; interval = 0.2; timeout = 0.3;\n"
	"    down_after = 2; backoff_max = 1.0;\n"
	"    points = (\n"
	"      { channel = \"v\"; path = \"/3316/0/5700\"; scale = 0.1; address = 0;\n"
	"        type = \"int16\"; },\n"
	"      { channel = \"i\"; path = \"/3317/0/5700\"; address = 2; type = \"float32\";\n"
	"        byte_order = \"CDAB\"; },\n"
	"      { channel = \"p\"; path = \"/3328/0/5700\"; address = 50; },\n"
	"      { channel = \"e\"; path = \"/3331/0/5700\"; table = \"input\"; address = 10;\n"
	"        type = \"uint32\"; scale = 0.001; },\n"
	"      { channel = \"relay\"; path = \"/3201/0/5550\"; table = \"coil\"; address = 0; },\n"
	/* The meter's own reboot: coil 9 set to 1. */
	"      { channel = \"reboot\"; path = \"/3/0/4\"; table = \"coil\"; address = 9;\n"
	"        execute_value = 1; }\n"
	"    ); }\n"
	");\n"
	"devices = (\n"
	"  { name = \"pm\"; profile = \"meter\"; bus = \"plc\"; unit = 1; },\n"
	"  { name = \"pm2\"; profile = \"meter\"; bus = \"plc\"; unit = 2; identify = false; },\n"
	"  { name = \"split\"; adapter = \"modbus\"; bus = \"plc\"; unit = 3; interval = 0.2;\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; address = 100; type = \"int16\"; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; address = 105; }\n"
	"    ); },\n"
	/* A thermostat's set point: deci-degrees in holding register 200. */
	"  { name = \"thermo\"; adapter = \"modbus\"; bus = \"plc\"; unit = 2; interval = 0.2;\n"
	"    identify = false;\n"
	"    points = ( { channel = \"sp\"; path = \"/3308/0/5900\"; address = 200;\n"
	"                 type = \"int16\"; scale = 0.1; min = 5.0; max = 30.0; } ); },\n"
	"  { name = \"r1\"; adapter = \"modbus\"; bus = \"rs485\"; unit = 1; interval = 0.2;\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0; scale = 0.1;\n"
	"                 type = \"int16\"; } ); },\n"
	"  { name = \"r2\"; adapter = \"modbus\"; bus = \"rs485\"; unit = 2; interval = 0.2;\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0; scale = 0.1;\n"
	"                 type = \"int16\"; } ); }\n"
	");\n";

static int start_slave(struct proc *p, const char *mode, const char *port, const char *units)
{
	char *bin = h_build_path("tests/integration/modbus_slave");
	char *argv[] = {bin, (char *)mode, (char *)port, "--units", (char *)units, NULL};
	char *log;
	int r;

	if (!port) {
		argv[2] = "--units";
		argv[3] = (char *)units;
		argv[4] = NULL;
	}
	if (asprintf(&log, "%s/slave%s.log", E->dir, mode) < 0)
		abort();
	r = h_spawn(p, argv, true, log);
	free(log);
	free(bin);
	return r;
}

/* A slave command, waiting for its acknowledgement. */
static void slave(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slave(struct proc *p, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	json_t *ok;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h_send(p, "%s\n", line);
	ok = h_wait_event(p, "ok", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ok);
	json_decref(ok);
}

static int group_setup(void **state)
{
	json_t *ev;
	char *tmpl;
	const char *eps[] = {"mb-pm", "mb-pm2", "mb-split", "mb-thermo", "mb-r1", "mb-r2"};

	E = calloc(1, sizeof(*E));
	*state = E;
	E->dir = h_tmpdir();
	if (!E->dir || asprintf(&E->log, "%s/gatewayd.log", E->dir) < 0)
		return -1;
	if (start_slave(&E->tcp, "--tcp", "0", "1,2,3") < 0 ||
	    !(ev = h_wait_event(&E->tcp, "listening", NULL, NULL, H_TIMEOUT_MS)))
		return -1;
	E->tcp_port = (int)json_integer_value(json_object_get(ev, "port"));
	json_decref(ev);
	if (start_slave(&E->rtu, "--rtu", NULL, "1,2") < 0 ||
	    !(ev = h_wait_event(&E->rtu, "listening", NULL, NULL, H_TIMEOUT_MS)))
		return -1;
	snprintf(E->pty, sizeof(E->pty), "%s", json_string_value(json_object_get(ev, "pty")));
	json_decref(ev);

	/* Register images, hand-computed. */
	slave(&E->tcp, "set 1 h 0 2301");        /* 230.1 V */
	slave(&E->tcp, "set 1 h 2 0");           /* 1.5 A as float32 CDAB: 0000 3fc0 */
	slave(&E->tcp, "set 1 h 3 16320");
	slave(&E->tcp, "set 1 h 50 460");
	slave(&E->tcp, "set 1 i 10 1");          /* 123456 Wh = 0x0001e240 */
	slave(&E->tcp, "set 1 i 11 57920");
	slave(&E->tcp, "set 1 c 0 1");
	slave(&E->tcp, "ident 1 Acme PM-1 1.2.3");
	slave(&E->tcp, "set 2 h 0 2250");
	slave(&E->tcp, "exc 2 50 4");            /* pm2's power register: device failure */
	slave(&E->tcp, "set 2 h 200 205");       /* 20.5 degrees */
	slave(&E->tcp, "set 3 h 100 65526");     /* -10 */
	slave(&E->tcp, "set 3 h 105 55");
	slave(&E->tcp, "hole 3 102 2");
	slave(&E->rtu, "set 1 h 0 215");
	slave(&E->rtu, "set 2 h 0 65531");       /* -0.5 */

	E->port = h_start_server(&E->srv, E->dir);
	if (E->port <= 0)
		return -1;
	if (asprintf(&tmpl, config_tmpl, E->dir, E->tcp_port, E->pty) < 0)
		return -1;
	E->config = h_write_config(E->dir, "gatewayd.conf", tmpl, E->port);
	free(tmpl);
	if (h_start_gatewayd(&E->gw, E->dir, E->config) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		ev = h_wait_event(&E->srv, "register", "ep", eps[i], H_TIMEOUT_MS);
		if (!ev) {
			h_dump_file(E->log);
			return -1;
		}
		json_decref(ev);
	}
	return 0;
}

static int group_teardown(void **state)
{
	/* A clean exit: threads joined, nothing left (ASan builds fail here). */
	int st = h_stop(&E->gw, SIGTERM, 10000), r = 0;

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("gatewayd exit status %d\n", st);
		h_dump_file(E->log);
		r = -1;
	}
	h_stop(&E->srv, SIGTERM, 5000);
	h_stop(&E->tcp, SIGTERM, 5000);
	h_stop(&E->rtu, SIGTERM, 5000);
	free(E->config);
	free(E->log);
	h_tmpdir_remove(E->dir);
	free(E);
	return r;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* Read until the resource shows `want` (text format), waiting for the slave's
 * next request between attempts. */
static void wait_value(struct proc *sl, const char *ep, const char *path, const char *want)
{
	char last[256] = "";

	for (int i = 0; i < 200; i++) {
		json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "read %s %s text", ep, path);
		json_t *ev;
		bool ok;

		assert_non_null(r);
		snprintf(last, sizeof(last), "%s %s", str(r, "code"), str(r, "payload_text"));
		ok = strcmp(str(r, "code"), "2.05") == 0 &&
		     (strcmp(str(r, "payload_text"), want) == 0 ||
		      (strtod(want, NULL) != 0.0 &&
		       fabs(strtod(str(r, "payload_text"), NULL) - strtod(want, NULL)) < 1e-6));
		json_decref(r);
		if (ok)
			return;
		ev = h_wait_event(sl, "request", NULL, NULL, H_TIMEOUT_MS);
		if (!ev)
			break;
		json_decref(ev);
	}
	h_dump_file(E->log);
	fail_msg("%s %s: wanted %s, last read %s", ep, path, want, last);
}

static void wait_code(struct proc *sl, const char *ep, const char *path, const char *code)
{
	for (int i = 0; i < 200; i++) {
		json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "read %s %s text", ep, path);
		bool ok;

		assert_non_null(r);
		ok = strcmp(str(r, "code"), code) == 0;
		json_decref(r);
		if (ok)
			return;
		json_decref(h_wait_event(sl, "request", NULL, NULL, H_TIMEOUT_MS));
	}
	fail_msg("%s %s: never answered %s", ep, path, code);
}

static void log_has(const char *needle)
{
	if (!h_wait_file_contains(E->log, needle, H_TIMEOUT_MS)) {
		h_dump_file(E->log);
		fail_msg("gatewayd's log never said \"%s\"", needle);
	}
}

/* The slave's current value of one register or coil. */
static long slave_get(struct proc *p, const char *what)
{
	json_t *ev;
	long v;

	h_send(p, "get %s\n", what);
	ev = h_wait_event(p, "value", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	v = (long)json_integer_value(json_object_get(ev, "value"));
	json_decref(ev);
	return v;
}

static void lwm2m_writes_reach_the_registers(void **state)
{
	json_t *r;

	/* A coil (FC 5) from a boolean. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "write mb-pm /3201/0/5550 text 0");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "code")), "2.04");
	json_decref(r);
	assert_int_equal(slave_get(&E->tcp, "1 c 0"), 0);
	/* A holding register (FC 6) through the inverse transform:
	 * 21.5 degrees = 215 deci-degrees. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "write mb-thermo /3308/0/5900 text 21.5");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "code")), "2.04");
	json_decref(r);
	assert_int_equal(slave_get(&E->tcp, "2 h 200"), 215);
	/* Outside the point's range: refused before the bus sees anything. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "write mb-thermo /3308/0/5900 text 31");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "code")), "4.00");
	json_decref(r);
	assert_int_equal(slave_get(&E->tcp, "2 h 200"), 215);
	/* The server reads back what the device now holds. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "read mb-thermo /3308/0/5900 text");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "payload_text")), "21.5");
	json_decref(r);
}

static void tcp_reads_every_type(void **state)
{
	wait_value(&E->tcp, "mb-pm", "/3316/0/5700", "230.1");
	wait_value(&E->tcp, "mb-pm", "/3317/0/5700", "1.5");
	wait_value(&E->tcp, "mb-pm", "/3328/0/5700", "460");
	wait_value(&E->tcp, "mb-pm", "/3331/0/5700", "123.456");
	wait_value(&E->tcp, "mb-pm", "/3201/0/5550", "1");
	wait_value(&E->tcp, "mb-pm2", "/3316/0/5700", "225");
}

static void plan_is_batched(void **state)
{
	/* FC1 0, FC3 0-3, FC3 50, FC4 10-11: five points, four requests; the
	 * reboot coil is never read. */
	log_has("plan: 4 requests per cycle for 6 points: FC1 unit 1 0-0, FC3 unit 1 0-3, "
		"FC3 unit 1 50-50, FC4 unit 1 10-11");
}

/* One request on the control socket; the answer, parsed. */
static json_t *ctl_request(const char *line)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[16384];
	size_t n = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	json_t *ans;

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/ctl.sock", E->dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	while (!memchr(buf, '\n', n)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		assert_int_equal(poll(&p, 1, H_TIMEOUT_MS), 1);
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	ans = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(ans);
	return ans;
}

/* gatewayctl plan shows the adapter's own plan (ABI 1.4 describe_plan): the requests
 * of one cycle with the points each holds, and the point never read. */
static void plan_is_shown_by_gatewayctl(void **state)
{
	json_t *ans = ctl_request("{\"command\":\"plan\",\"name\":\"pm\"}\n");
	json_t *plan = json_object_get(ans, "adapter_plan");
	const char *want[] = {"FC1 unit 1 0-0: ", "FC3 unit 1 0-3: ", "FC3 unit 1 50-50: ",
			      "FC4 unit 1 10-11: ", "never read: "};

	assert_true(json_is_true(json_object_get(ans, "ok")));
	assert_true(json_is_array(plan));
	assert_int_equal(json_array_size(plan), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(strncmp(json_string_value(json_array_get(plan, i)), want[i],
					 strlen(want[i])), 0);
	assert_true(json_is_null(json_object_get(ans, "note")));
	json_decref(ans);
}

/* Item 3: Reboot mapped by the profile to a coil: the Execute writes it. */
static void reboot_writes_the_declared_coil(void **state)
{
	json_t *r;

	assert_int_equal(slave_get(&E->tcp, "1 c 9"), 0);
	r = h_request(&E->srv, H_TIMEOUT_MS, "execute mb-pm /3/0/4");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "code")), "2.04");
	json_decref(r);
	assert_int_equal(slave_get(&E->tcp, "1 c 9"), 1);
	/* The other meter, same profile, is untouched. */
	assert_int_equal(slave_get(&E->tcp, "2 c 9"), 0);
}

static void one_connection_per_endpoint(void **state)
{
	json_t *c = h_wait_event(&E->tcp, "connect", NULL, NULL, H_TIMEOUT_MS);

	assert_non_null(c);
	/* Three devices on one endpoint, one connection. */
	assert_int_equal(json_integer_value(json_object_get(c, "clients")), 1);
	json_decref(c);
	wait_value(&E->tcp, "mb-split", "/3304/0/5700", "55");
	c = h_wait_event(&E->tcp, "connect", NULL, NULL, 0);
	assert_null(c);
}

static void identification_fills_object_3(void **state)
{
	wait_value(&E->tcp, "mb-pm", "/3/0/0", "Acme");
	wait_value(&E->tcp, "mb-pm", "/3/0/1", "PM-1");
	wait_value(&E->tcp, "mb-pm", "/3/0/3", "1.2.3");
}

static void exception_is_a_point_error(void **state)
{
	log_has("channel p: FC3 unit 2 50-50 answered exception 4 (slave device failure)");
	/* The rest of the device is fine. */
	wait_value(&E->tcp, "mb-pm2", "/3316/0/5700", "225");
	wait_value(&E->tcp, "mb-pm2", "/3/0/11/0", "0");
}

static void illegal_address_splits(void **state)
{
	log_has("FC3 unit 3 100-105 answered illegal data address: split before 105");
	log_has("plan (after split): 2 requests per cycle for 2 points: FC3 unit 3 100-100, "
		"FC3 unit 3 105-105");
	wait_value(&E->tcp, "mb-split", "/3303/0/5700", "-10");
	wait_value(&E->tcp, "mb-split", "/3304/0/5700", "55");
}

static void rtu_several_units(void **state)
{
	wait_value(&E->rtu, "mb-r1", "/3303/0/5700", "21.5");
	wait_value(&E->rtu, "mb-r2", "/3303/0/5700", "-0.5");
	slave(&E->rtu, "set 2 h 0 300");
	wait_value(&E->rtu, "mb-r2", "/3303/0/5700", "30");
}

static void dead_slave_goes_down_and_recovers(void **state)
{
	slave(&E->tcp, "mute 2");
	log_has("unit 2 down after 2 failed cycles");
	/* Reads of a device that is down answer at once. */
	wait_code(&E->tcp, "mb-pm2", "/3316/0/5700", "5.03");
	wait_value(&E->tcp, "mb-pm2", "/3/0/11/0", "8");
	/* The other devices on the bus keep their schedule. */
	slave(&E->tcp, "set 1 h 0 2310");
	wait_value(&E->tcp, "mb-pm", "/3316/0/5700", "231");
	slave(&E->tcp, "set 2 h 0 2260");
	slave(&E->tcp, "unmute 2");
	log_has("unit 2 answers again: device up");
	wait_value(&E->tcp, "mb-pm2", "/3/0/11/0", "0");
	wait_value(&E->tcp, "mb-pm2", "/3316/0/5700", "226");
}

static void endpoint_drops_and_comes_back(void **state)
{
	json_t *c;

	slave(&E->tcp, "drop");
	c = h_wait_event(&E->tcp, "connect", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(c);
	json_decref(c);
	slave(&E->tcp, "set 1 h 0 2320");
	wait_value(&E->tcp, "mb-pm", "/3316/0/5700", "232");
}

static void endpoint_restarts(void **state)
{
	char port[16];
	json_t *ev;

	/* The PLC reboots: a new process on the same port, empty registers. */
	assert_true(h_stop(&E->tcp, SIGTERM, 5000) >= 0);
	snprintf(port, sizeof(port), "%d", E->tcp_port);
	assert_int_equal(start_slave(&E->tcp, "--tcp", port, "1,2,3"), 0);
	ev = h_wait_event(&E->tcp, "listening", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	slave(&E->tcp, "set 1 h 0 2330");
	wait_value(&E->tcp, "mb-pm", "/3316/0/5700", "233");
}

/* A reload that changes a serial bus's line setting: the new file is checked
 * beside the running devices (which still hold the port with the old
 * setting) without a conflict, and exactly the bus's two devices restart,
 * the new ones after the old ones are gone. */
static void reload_changes_a_serial_line(void **state)
{
	char *tmp = h_strf("%s.new", E->config), *text, *at;
	FILE *f = fopen(E->config, "r");
	json_t *ev;
	long n;

	assert_non_null(f);
	text = calloc(1, 65536);
	n = (long)fread(text, 1, 65535, f);
	fclose(f);
	assert_true(n > 0);
	at = strstr(text, "baud = 19200;\n    parity");
	assert_non_null(at);
	memcpy(at, "baud =  9600;", 13);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, E->config), 0);
	assert_int_equal(kill(E->gw.pid, SIGHUP), 0);
	if (!h_wait_file_contains(E->log, "reload: 0 added, 0 removed, 2 restarted, 4 unchanged",
				  H_TIMEOUT_MS)) {
		h_dump_file(E->log);
		fail_msg("the reload did not restart exactly the serial bus's devices");
	}
	ev = h_wait_event(&E->srv, "deregister", "ep", "mb-r1", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&E->srv, "deregister", "ep", "mb-r2", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&E->srv, "register", "ep", "mb-r1", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&E->srv, "register", "ep", "mb-r2", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	slave(&E->rtu, "set 1 h 0 222");
	wait_value(&E->rtu, "mb-r1", "/3303/0/5700", "22.2");
	free(text);
	free(tmp);
}

/* Two buses naming one serial port with other line settings: the second
 * used to get the first one's silently.  gatewayd -t names both. */
static void conflicting_serial_settings_refused(void **state)
{
	static const char conf_text[] =
		"gateway = { name = \"c\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"buses = (\n"
		"  { name = \"a\"; adapter = \"modbus\"; serial = \"/dev/ttyGW-TEST\"; baud = 19200; },\n"
		"  { name = \"b\"; adapter = \"modbus\"; serial = \"/dev/ttyGW-TEST\";\n"
		"    baud = 9600; parity = \"none\"; },\n"
		"  { name = \"c\"; adapter = \"modbus\"; serial = \"/dev/ttyGW-TEST\"; baud = 19200; }\n"
		");\n"
		"devices = (\n"
		"  { name = \"m1\"; adapter = \"modbus\"; bus = \"a\";\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0; } ); },\n"
		"  { name = \"m2\"; adapter = \"modbus\"; bus = \"b\"; unit = 2;\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0; } ); },\n"
		"  { name = \"m3\"; adapter = \"modbus\"; bus = \"c\"; unit = 3;\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0; } ); }\n"
		");\n";
	char *dir = h_tmpdir();
	char *conf = h_write_config(dir, "ports.conf", conf_text, 0);
	char *out = h_strf("%s/check.out", dir);
	char *bin = h_build_path("gatewayd/gatewayd");
	char *argv[] = {bin, "-t", "-c", conf, "-A", getenv("GW_ADAPTER_DIR"), NULL};
	char *want[3];
	struct proc p;
	int status;

	want[0] = h_strf("%s:6: buses.[1].baud: serial port /dev/ttyGW-TEST is also used by device "
			 "\"m1\" with 19200 baud, 8E1, RS-232; found 9600 baud, 8N1, RS-232: one "
			 "port has one line setting", conf);
	want[1] = h_strf("%s:4: buses.[0].baud: serial port /dev/ttyGW-TEST is also used by device "
			 "\"m2\" with 9600 baud, 8N1, RS-232: one port has one line setting", conf);
	want[2] = h_strf("%s: 2 error(s)", conf);
	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	for (int i = 0; i < 3; i++) {
		/* m3 agrees with m1: no third error. */
		if (!h_wait_file_contains(out, want[i], 0)) {
			h_dump_file(out);
			fail_msg("missing: %s", want[i]);
		}
		free(want[i]);
	}
	free(bin);
	free(out);
	free(conf);
	h_tmpdir_remove(dir);
}

int main(void)
{
	const char *adir = getenv("GW_ADAPTER_DIR");
	char so[1024];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcp_reads_every_type),
		cmocka_unit_test(lwm2m_writes_reach_the_registers),
		cmocka_unit_test(plan_is_batched),
		cmocka_unit_test(plan_is_shown_by_gatewayctl),
		cmocka_unit_test(reboot_writes_the_declared_coil),
		cmocka_unit_test(one_connection_per_endpoint),
		cmocka_unit_test(identification_fills_object_3),
		cmocka_unit_test(exception_is_a_point_error),
		cmocka_unit_test(illegal_address_splits),
		cmocka_unit_test(rtu_several_units),
		cmocka_unit_test(dead_slave_goes_down_and_recovers),
		cmocka_unit_test(endpoint_drops_and_comes_back),
		cmocka_unit_test(endpoint_restarts),
		cmocka_unit_test(conflicting_serial_settings_refused),
		cmocka_unit_test(reload_changes_a_serial_line),
	};

	snprintf(so, sizeof(so), "%s/modbus.so", adir ? adir : ".");
	if (access(so, R_OK) != 0) {
		printf("skipped: %s not built\n", so);
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
