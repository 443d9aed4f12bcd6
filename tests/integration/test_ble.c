/* The BLE adapter end to end, on a real D-Bus: a private dbus-daemon, a
 * BlueZ double (python3-dbusmock's bluez5 template extended with adverts
 * and GATT objects: bluez_mock.py), gatewayd and the test LwM2M server.
 * Devices register; adverts become readings (read, observed); a GATT
 * device is read, notifies, is written, and is re-subscribed after its link
 * drops; a silent device goes down and comes back; a discovery rule admits
 * a new sensor; bluetoothd restarting and the controller going away and
 * back are recovered.  Waits are on events (the mock's, the server's, the
 * daemon's log); every process is stopped by its PID.
 *
 * Until the advert decoders are merged, the adapter links a stub that knows
 * plaintext BTHome only: the frames below are plain BTHome v2. */
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "../fw_image.h"

#define PYTHON "/usr/bin/python3"
#define DBUS_DAEMON "/usr/bin/dbus-daemon"

struct env {
	char *dir, *log, *addr;
	struct proc bus, mock, srv, gw;
	int port;
};

static struct env *E;

static const char config_tmpl[] =
	"gateway = { name = \"bt\"; state_dir = \"%s/state\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120; } );\n"
	"buses = ( { name = \"bt0\"; adapter = \"ble\"; controller = \"hci0\";\n"
	"            dbus_address = \"%s\";\n"
	"            discover = \"bthome-any\"; discover_mac_prefix = \"A4:C1:38\";\n"
	"            discover_max = 1; discover_remember = true; },\n"
	"          { name = \"bt1\"; adapter = \"ble\"; controller = \"hci1\";\n"
	"            dbus_address = \"%s\"; max_connections = 2; max_connecting = 1; } );\n"
	"profiles = ( { name = \"bthome-any\"; adapter = \"ble\"; format = \"bthome\";\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; measure = \"temperature\"; } );"
	" },\n"
	"  { name = \"ess-t\"; adapter = \"ble\"; timeout = 0;\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; characteristic = \"2A6E\";\n"
	"                 notify = true; } ); } );\n"
	"devices = (\n"
	"  { name = \"th\"; profile = \"bthome-any\"; bus = \"bt0\"; mac = \"A4:C1:38:00:00:01\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; measure = \"temperature\"; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; measure = \"humidity\"; },\n"
	"      { channel = \"b\"; path = \"/3/0/9\"; measure = \"battery\"; },\n"
	"      { channel = \"r\"; path = \"/4/0/2\"; measure = \"rssi\"; }\n"
	"    ); },\n"
	"  { name = \"ctl\"; adapter = \"ble\"; bus = \"bt0\";\n"
	"    points = ( { channel = \"seen\"; path = \"/3300/0/5700\"; measure = \"seen\"; },\n"
	"               { channel = \"adm\"; path = \"/3300/1/5700\"; measure = \"admitted\"; } ); },\n"
	"  { name = \"bath\"; profile = \"bthome-any\"; bus = \"bt0\"; mac = \"54:48:E6:8F:80:A5\";\n"
	"    bind_key = \"231d39c1d7cc1ab1aee224cd096db932\"; },\n"
	"  { name = \"quiet\"; profile = \"bthome-any\"; bus = \"bt0\"; mac = \"A4:C1:38:00:00:02\";\n"
	"    timeout = 3.0; },\n"
	"  { name = \"ess\"; adapter = \"ble\"; bus = \"bt0\"; mac = \"C0:FF:EE:00:00:02\"; timeout = 0;\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; characteristic = \"2A6E\"; notify = true; },\n"
	"      { channel = \"sp\"; path = \"/3308/0/5900\";\n"
	"        characteristic = \"12345678-1234-5678-1234-56789abcdef1\"; type = \"int16\";\n"
	"        scale = 0.1; }\n"
	"    ); },\n"
	"  { name = \"s1\"; profile = \"ess-t\"; bus = \"bt1\"; mac = \"C0:FF:EE:01:00:01\"; },\n"
	"  { name = \"s2\"; profile = \"ess-t\"; bus = \"bt1\"; mac = \"C0:FF:EE:01:00:02\"; },\n"
	"  { name = \"s3\"; profile = \"ess-t\"; bus = \"bt1\"; mac = \"C0:FF:EE:01:00:03\"; },\n"
	"  { name = \"fw\"; adapter = \"ble\"; bus = \"bt0\"; mac = \"C0:FF:EE:00:00:05\"; timeout = 0;\n"
	"    firmware = \"smp\"; },\n"
	"  { name = \"fwbad\"; adapter = \"ble\"; bus = \"bt0\"; mac = \"C0:FF:EE:00:00:06\";\n"
	"    timeout = 0; firmware = \"smp\"; fw_chunk_size = 64; }\n"
	");\n";

static const char bus_conf[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig><type>session</type><listen>unix:path=%s/bus</listen>\n"
	"<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	"<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n";

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void fail_dump(const char *what)
{
	h_dump_file(E->log);
	fail_msg("%s", what);
}

/* A command to the BlueZ double, and its answer. */
static void bz(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bz(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	json_t *ev;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h_send(&E->mock, "%s\n", line);
	for (;;) {
		ev = h_wait_event(&E->mock, "done", NULL, NULL, H_TIMEOUT_MS);
		if (!ev) {
			ev = h_wait_event(&E->mock, "failed", NULL, NULL, 0);
			fail_msg("mock: %s: %s", line, ev ? str(ev, "error") : "no answer");
		}
		json_decref(ev);
		return;
	}
}

/* The next event of that name; of hci0 (its path) for "filter" and
 * "discovery", since hci1 runs its own discovery too. */
static json_t *mock_event(const char *event)
{
	bool hci0 = strcmp(event, "filter") == 0 || strcmp(event, "discovery") == 0;
	json_t *ev = h_wait_event(&E->mock, event, hci0 ? "path" : NULL,
				  hci0 ? "/org/bluez/hci0" : NULL, H_TIMEOUT_MS);

	if (!ev) {
		h_dump_file(E->log);
		fail_msg("the BlueZ double saw no %s", event);
	}
	return ev;
}

/* How many lines of the daemon's log contain needle. */
static int log_count(const char *needle)
{
	FILE *f = fopen(E->log, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* Wait (inotify, with a deadline) until needle is on n lines of the log. */
static void wait_log(const char *needle, int n)
{
	struct timespec t0;
	int fd = inotify_init1(IN_CLOEXEC);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(fd >= 0);
	assert_true(inotify_add_watch(fd, E->log, IN_MODIFY) >= 0);
	while (log_count(needle) < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct timespec t;
		char ev[4096];
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = H_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
				       (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
			close(fd);
			h_dump_file(E->log);
			fail_msg("the log never had \"%s\" %d times", needle, n);
		}
		if (read(fd, ev, sizeof(ev)) < 0)
			break;
	}
	close(fd);
}

/* The dbus-daemon's address, from its --print-address line. */
static char *read_address(struct proc *p)
{
	char buf[512];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, H_TIMEOUT_MS) != 1)
			return NULL;
		r = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			return NULL;
		len += (size_t)r;
		buf[len] = '\0';
		if (strchr(buf, '\n')) {
			*strchr(buf, '\n') = '\0';
			return strdup(buf);
		}
	}
	return NULL;
}

static int group_setup(void **state)
{
	const char *eps[] = {"bt-th", "bt-quiet", "bt-ess", "bt-ctl", "bt-bath", "bt-s1", "bt-s2", "bt-s3",
			     "bt-fw", "bt-fwbad"};
	const char *script = getenv("top_srcdir");
	char *tmpl, *config, *path, *conf_arg, *script_path;
	FILE *f;
	json_t *ev;

	if (access(PYTHON, X_OK) != 0 || access(DBUS_DAEMON, X_OK) != 0 ||
	    system(PYTHON " -c 'import dbusmock, gi' 2>/dev/null") != 0) {
		printf("skipped: dbus-daemon, python3-dbusmock or python3-gi not installed\n");
		exit(77);
	}
	E = calloc(1, sizeof(*E));
	*state = E;
	E->dir = h_tmpdir();
	if (!E->dir)
		return -1;
	E->log = h_strf("%s/gatewayd.log", E->dir);
	path = h_strf("%s/state", E->dir);
	mkdir(path, 0700);
	free(path);

	/* A private bus, the daemon's pid ours to stop. */
	path = h_strf("%s/bus.conf", E->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, bus_conf, E->dir);
	fclose(f);
	conf_arg = h_strf("--config-file=%s", path);
	{
		char *argv[] = {DBUS_DAEMON, conf_arg, "--nofork", "--print-address=1", NULL};

		if (h_spawn(&E->bus, argv, true, NULL) < 0)
			return -1;
	}
	free(conf_arg);
	free(path);
	E->addr = read_address(&E->bus);
	if (!E->addr)
		return -1;

	/* BlueZ: one controller, two sensors that advertise, one GATT device. */
	script_path = h_strf("%s/tests/integration/bluez_mock.py", script ? script : "..");
	{
		char *argv[] = {PYTHON, script_path, E->addr, NULL};

		if (h_spawn(&E->mock, argv, true, NULL) < 0)
			return -1;
	}
	free(script_path);
	ev = h_wait_event(&E->mock, "ready", NULL, NULL, H_TIMEOUT_MS);
	if (!ev)
		return -1;
	json_decref(ev);
	bz("adapter hci0");
	bz("device hci0 A4:C1:38:00:00:01");
	bz("device hci0 A4:C1:38:00:00:02");
	bz("device hci0 C0:FF:EE:00:00:02");
	bz("device hci0 54:48:E6:8F:80:A5");
	bz("gatt C0:FF:EE:00:00:02 181a 2a6e 3408"); /* 21.00 °C */
	bz("gatt C0:FF:EE:00:00:02 12345678-1234-5678-1234-56789abcdef0 "
	     "12345678-1234-5678-1234-56789abcdef1 c800"); /* 200: 20.0 */
	/* A second controller whose GATT devices resolve only when told. */
	bz("adapter hci1");
	for (int i = 1; i <= 3; i++) {
		bz("device hci1 C0:FF:EE:01:00:0%d hold", i);
		bz("gatt C0:FF:EE:01:00:0%d 181a 2a6e 3408", i);
	}

	E->port = h_start_server(&E->srv, E->dir);
	if (E->port <= 0)
		return -1;
	tmpl = h_strf(config_tmpl, E->dir, E->addr, E->addr);
	config = h_write_config(E->dir, "gatewayd.conf", tmpl, E->port);
	free(tmpl);
	if (h_start_gatewayd(&E->gw, E->dir, config) < 0)
		return -1;
	free(config);
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
	int st = h_stop(&E->gw, SIGTERM, 10000), r = 0;

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("gatewayd exit status %d\n", st);
		h_dump_file(E->log);
		r = -1;
	}
	h_stop(&E->srv, SIGTERM, 5000);
	h_stop(&E->mock, SIGTERM, 5000);
	h_stop(&E->bus, SIGTERM, 5000);
	free(E->log);
	free(E->addr);
	h_tmpdir_remove(E->dir);
	free(E);
	return r;
}

static json_t *request(const char *verb, const char *ep, const char *path)
{
	/* Reads and observations as text; a write's path carries its payload. */
	json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "%s %s %s%s", verb, ep, path,
			      strcmp(verb, "write") ? " text" : "");

	assert_non_null(r);
	return r;
}

static double read_value(const char *ep, const char *path)
{
	json_t *r = request("read", ep, path);
	double v;

	if (strcmp(str(r, "code"), "2.05") != 0) {
		h_dump_file(E->log);
		fail_msg("read %s %s: %s", ep, path, json_dumps(r, 0));
	}
	v = strtod(str(r, "payload_text"), NULL);
	json_decref(r);
	return v;
}

static const char *read_code(const char *ep, const char *path, char code[8])
{
	json_t *r = request("read", ep, path);

	snprintf(code, 8, "%s", str(r, "code"));
	json_decref(r);
	return code;
}

static char *observe(const char *ep, const char *path, double *first, bool *has)
{
	json_t *r = request("observe", ep, path);
	char *id;

	*has = strcmp(str(r, "code"), "2.05") == 0;
	if (*has)
		*first = strtod(str(r, "payload_text"), NULL);
	id = strdup(str(r, "id"));
	json_decref(r);
	return id;
}

/* Wait until the resource shows want, on the observation's notifications. */
static void wait_value(const char *ep, const char *path, double want)
{
	double v = NAN;
	bool has;
	char *id = observe(ep, path, &v, &has);

	while (!has || fabs(v - want) > 1e-6) {
		json_t *n = h_wait_event(&E->srv, "notify", "id", id, H_TIMEOUT_MS);

		if (!n) {
			h_dump_file(E->log);
			fail_msg("%s %s: never showed %g (last %g)", ep, path, want, v);
		}
		has = strcmp(str(n, "code"), "2.05") == 0;
		v = strtod(str(n, "payload_text"), NULL);
		json_decref(n);
	}
	json_decref(h_request(&E->srv, H_TIMEOUT_MS, "cancel %s %s", ep, path));
	free(id);
}

/* One discovery session, with the filter the field notes ask for. */
static void discovery_is_set_up(void **state)
{
	json_t *ev = mock_event("filter"), *flt = json_object_get(ev, "filter");

	assert_string_equal(str(flt, "Transport"), "le");
	assert_true(json_is_true(json_object_get(flt, "DuplicateData")));
	assert_string_equal(str(ev, "path"), "/org/bluez/hci0");
	json_decref(ev);
	json_decref(mock_event("discovery"));
	/* The controller's own device: BlueZ knew four devices (the filter is
	 * set once their objects are read). */
	assert_true(fabs(read_value("bt-ctl", "/3300/0/5700") - 4) < 1e-6);
	assert_true(fabs(read_value("bt-ctl", "/3300/1/5700") - 0) < 1e-6);
	/* Reads before any advert: no value yet, an error and not a made-up one. */
	{
		char code[8];

		assert_string_not_equal(read_code("bt-th", "/3304/0/5700", code), "2.05");
	}
}

/* BTHome v2: battery 90 %, temperature 22.50 °C, humidity 50.55 %. */
static void adverts_give_readings(void **state)
{
	bz("sdata A4:C1:38:00:00:01 fcd2 40015a02ca0803bf13 -61");
	/* No value before that advert (a read fails, an observation too). */
	wait_log("A4:C1:38:00:00:01: first bthome readings (3)", 1);
	assert_true(fabs(read_value("bt-th", "/3303/0/5700") - 22.5) < 1e-6);
	assert_true(fabs(read_value("bt-th", "/3304/0/5700") - 50.55) < 1e-6);
	assert_true(fabs(read_value("bt-th", "/3/0/9") - 90) < 1e-6);
	assert_true(fabs(read_value("bt-th", "/4/0/2") - -61) < 1e-6);
}

static void an_advert_notifies_an_observer(void **state)
{
	double v;
	bool has;
	char *id = observe("bt-th", "/3303/0/5700", &v, &has);
	json_t *n;

	assert_true(has);
	assert_true(fabs(v - 22.5) < 1e-6);
	bz("sdata A4:C1:38:00:00:01 fcd2 4002fc08 -58"); /* 23.00 °C */
	for (;;) {
		n = h_wait_event(&E->srv, "notify", "id", id, H_TIMEOUT_MS);
		if (!n)
			fail_dump("no notification of the new temperature");
		v = strtod(str(n, "payload_text"), NULL);
		json_decref(n);
		if (fabs(v - 23.0) < 1e-6)
			break;
		assert_true(fabs(v - 22.5) < 1e-6);
	}
	json_decref(h_request(&E->srv, H_TIMEOUT_MS, "cancel bt-th /3303/0/5700"));
	free(id);
	/* A frame the decoder refuses is logged, and the last value stays. */
	bz("sdata A4:C1:38:00:00:01 fcd2 4002fc");
	wait_log("A4:C1:38:00:00:01: bthome advert not decoded", 1);
	assert_true(fabs(read_value("bt-th", "/3303/0/5700") - 23.0) < 1e-6);
}

static json_t *ess_connect(void)
{
	json_t *ev = h_wait_event(&E->mock, "connect", "address", "C0:FF:EE:00:00:02", H_TIMEOUT_MS);

	if (!ev)
		fail_dump("the GATT device was not connected");
	return ev;
}

/* BTHome with a bind key: bthome.io's encryption example (and
 * bthome-ble's, an older counter), refused in plaintext. */
static void encrypted_bthome(void **state)
{
	char code[8];

	bz("sdata 54:48:E6:8F:80:A5 fcd2 4002ca0903bf13");
	wait_log("54:48:E6:8F:80:A5: plaintext advert refused", 1);
	assert_string_not_equal(read_code("bt-bath", "/3303/0/5700", code), "2.05");
	/* Counter 0x33221100: 25.06 °C, 50.55 %. */
	bz("sdata 54:48:E6:8F:80:A5 fcd2 41a47266c95f730011223378237214");
	wait_log("54:48:E6:8F:80:A5: first bthome readings (2)", 1);
	assert_true(fabs(read_value("bt-bath", "/3303/0/5700") - 25.06) < 1e-6);
	/* The same values under counter 0x00112233: a replay. */
	bz("sdata 54:48:E6:8F:80:A5 fcd2 41e445f3c9962b332211006c7c4519");
	wait_log("54:48:E6:8F:80:A5: encrypted advert refused", 1);
	assert_true(fabs(read_value("bt-bath", "/3303/0/5700") - 25.06) < 1e-6);
}

/* ESS temperature read and notified; a vendor characteristic written
 * through the point's inverse transform; notifications re-armed after the
 * link drops. */
static void gatt_read_notify_write(void **state)
{
	json_t *ev, *r;

	json_decref(ess_connect());
	ev = mock_event("start_notify");
	assert_string_equal(str(ev, "uuid"), "00002a6e-0000-1000-8000-00805f9b34fb");
	json_decref(ev);
	assert_true(fabs(read_value("bt-ess", "/3303/0/5700") - 21.0) < 1e-6);
	assert_true(fabs(read_value("bt-ess", "/3308/0/5900") - 20.0) < 1e-6);
	bz("notify C0:FF:EE:00:00:02 2a6e 3509"); /* 23.57 °C */
	wait_value("bt-ess", "/3303/0/5700", 23.57);

	r = request("write", "bt-ess", "/3308/0/5900 text 25.5");
	if (strcmp(str(r, "code"), "2.04") != 0)
		fail_dump("write of the set point refused");
	json_decref(r);
	ev = mock_event("write");
	assert_string_equal(str(ev, "uuid"), "12345678-1234-5678-1234-56789abcdef1");
	assert_string_equal(str(ev, "value"), "ff00"); /* 255 x 0.1, int16 little-endian */
	json_decref(ev);
	assert_true(fabs(read_value("bt-ess", "/3308/0/5900") - 25.5) < 1e-6);
	/* Out of the characteristic's range: refused, nothing written. */
	r = request("write", "bt-ess", "/3308/0/5900 text 4000");
	assert_string_not_equal(str(r, "code"), "2.04");
	json_decref(r);

	/* The link drops: reconnected, subscribed again, notified again. */
	bz("disconnect C0:FF:EE:00:00:02");
	json_decref(ess_connect());
	ev = mock_event("start_notify");
	assert_string_equal(str(ev, "uuid"), "00002a6e-0000-1000-8000-00805f9b34fb");
	json_decref(ev);
	bz("notify C0:FF:EE:00:00:02 2a6e 0009"); /* 23.04 °C */
	wait_value("bt-ess", "/3303/0/5700", 23.04);
}

/* `quiet` has timeout = 3: down when silent, up on its next advert. */
static void a_silent_device_goes_down_and_comes_back(void **state)
{
	char code[8];
	json_t *r;

	/* Silent since the start (BlueZ knew it, with an RSSI): down after one
	 * timeout. */
	wait_log("A4:C1:38:00:00:02 silent for 3.0 s: down (1 times)", 1);
	assert_string_equal(read_code("bt-quiet", "/3303/0/5700", code), "5.03");
	bz("sdata A4:C1:38:00:00:02 fcd2 4002d007"); /* 20.00 °C */
	wait_log("A4:C1:38:00:00:02 heard again: up (after down 1 times)", 1);
	assert_true(fabs(read_value("bt-quiet", "/3303/0/5700") - 20.0) < 1e-6);
	wait_log("A4:C1:38:00:00:02 silent for 3.0 s: down (2 times)", 1);
	assert_string_equal(read_code("bt-quiet", "/3303/0/5700", code), "5.03");
	r = request("read", "bt-quiet", "/3/0/11/0");
	assert_string_equal(str(r, "payload_text"), "8");
	json_decref(r);
	bz("sdata A4:C1:38:00:00:02 fcd2 40029808"); /* 22.00 °C */
	wait_log("A4:C1:38:00:00:02 heard again: up (after down 2 times)", 1);
	assert_true(fabs(read_value("bt-quiet", "/3303/0/5700") - 22.0) < 1e-6);
	/* The others never noticed. */
	assert_true(fabs(read_value("bt-th", "/3304/0/5700") - 50.55) < 1e-6);
}

/* The rule admits a new BTHome sensor under A4:C1:38, up to its maximum. */
static void a_rule_admits_a_new_device(void **state)
{
	json_t *ev;
	char *path;
	FILE *f;
	char line[64] = "";

	bz("device hci0 A4:C1:38:00:00:99");
	bz("sdata A4:C1:38:00:00:99 fcd2 40020a0b"); /* 28.26 °C */
	ev = h_wait_event(&E->srv, "register", "ep", "bt-bthome-any-a4c138000099", H_TIMEOUT_MS);
	if (!ev)
		fail_dump("the admitted device did not register");
	json_decref(ev);
	bz("sdata A4:C1:38:00:00:99 fcd2 4002140b"); /* 28.36 °C */
	wait_log("A4:C1:38:00:00:99: first bthome readings (1)", 1);
	assert_true(fabs(read_value("bt-bthome-any-a4c138000099", "/3303/0/5700") - 28.36) < 1e-6);
	/* Remembered for the next start. */
	path = h_strf("%s/state/hci0.bthome-any.ble", E->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	free(path);
	assert_string_equal(line, "A4:C1:38:00:00:99\n");
	assert_true(fabs(read_value("bt-ctl", "/3300/1/5700") - 1) < 1e-6);
	/* A second one is past discover_max = 1; another prefix never matches. */
	bz("device hci0 A4:C1:38:00:00:98");
	bz("sdata A4:C1:38:00:00:98 fcd2 40020a0b");
	wait_log("rule bthome-any: 1 devices admitted, the maximum: A4:C1:38:00:00:98", 1);
	assert_int_equal(log_count("admits A4:C1:38:00:00:98"), 0);
}

/* ---- firmware over MCUmgr SMP ---- */

/* An MCUboot package in the test's directory; *pkg its bytes. */
static char *fw_package(const char *name, uint8_t major, uint8_t minor, uint16_t rev,
			uint32_t size, uint8_t **pkg, size_t *len)
{
	char *file = h_strf("%s/%s", E->dir, name);
	FILE *f = fopen(file, "wb");

	*pkg = fwi_mcuboot(size, major, minor, rev, 0, len);
	assert_non_null(*pkg);
	assert_non_null(f);
	assert_int_equal(fwrite(*pkg, 1, *len, f), *len);
	fclose(f);
	return file;
}

static json_t *fw_push(const char *ep, const char *file)
{
	json_t *r = h_request(&E->srv, 60000, "push %s /5/0/0 %s", ep, file);

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.04") != 0)
		fail_dump("push refused");
	return r;
}

/* The SMP device's next image state write. */
static json_t *fw_state(const char *mac)
{
	json_t *ev = h_wait_event(&E->mock, "state", "mac", mac, H_TIMEOUT_MS);

	if (!ev)
		fail_dump("no image state write");
	return ev;
}

static void fw_expect(const char *ep, const char *path, const char *want)
{
	json_t *r = request("read", ep, path);

	if (strcmp(str(r, "code"), "2.05") != 0 || strcmp(str(r, "payload_text"), want) != 0) {
		h_dump_file(E->log);
		fail_msg("%s %s: expected %s, got %s", ep, path, want, json_dumps(r, 0));
	}
	json_decref(r);
}

/* A package pushed to /5/0/0 and Update executed: the package is uploaded
 * over SMP (MTU 120: requests of 37 data bytes, answers in several
 * notifications), found in slot 1, tested, the device reset, and once it
 * is back with the new image, confirmed: Idle, result 1, /3/0/3 the new
 * version.  The device got the package byte for byte. */
static void firmware_over_smp_is_applied(void **state)
{
	uint8_t *pkg, digest[32];
	size_t len;
	char *file = fw_package("smp-1.2.3", 1, 2, 3, 3000, &pkg, &len), hex[65];
	json_t *ev, *r;

	bz("device hci0 C0:FF:EE:00:00:05");
	bz("smp C0:FF:EE:00:00:05 1.0.0 120");
	fw_expect("bt-fw", "/5/0/3", "0");
	json_decref(fw_push("bt-fw", file));
	wait_value("bt-fw", "/5/0/3", 2); /* Downloaded (into the daemon's spool) */
	r = request("execute", "bt-fw", "/5/0/2");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	ev = h_wait_event(&E->mock, "upload", "mac", "C0:FF:EE:00:00:05", 60000);
	if (!ev)
		fail_dump("the device never received the whole image");
	gnutls_hash_fast(GNUTLS_DIG_SHA256, pkg, len, digest);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	assert_string_equal(str(ev, "sha256"), hex);
	assert_int_equal(json_integer_value(json_object_get(ev, "size")), len);
	assert_true(json_is_true(json_object_get(ev, "ok")));
	json_decref(ev);
	ev = fw_state("C0:FF:EE:00:00:05");
	assert_false(json_is_true(json_object_get(ev, "confirm"))); /* test first */
	json_decref(ev);
	json_decref(mock_event("reset"));
	wait_log("C0:FF:EE:00:00:05: rebooting", 1);
	bz("boot C0:FF:EE:00:00:05");
	ev = fw_state("C0:FF:EE:00:00:05");
	assert_true(json_is_true(json_object_get(ev, "confirm"))); /* runs: confirmed */
	json_decref(ev);
	wait_value("bt-fw", "/5/0/3", 0);
	fw_expect("bt-fw", "/5/0/5", "1");
	fw_expect("bt-fw", "/3/0/3", "1.2.3");
	ev = h_wait_event(&E->mock, "smp-error", NULL, NULL, 0);
	if (ev)
		fail_msg("the SMP device saw a bad request: %s", str(ev, "error"));
	free(file);
	free(pkg);
}

/* The daemon stops while the device reboots into the new image: started
 * again, it asks the device (fw_recover) and confirms the image.  Runs
 * after the controller went away and back: the device is added again. */
static void firmware_over_smp_recovered_after_a_restart(void **state)
{
	uint8_t *pkg;
	size_t len;
	char *file = fw_package("smp-1.3.0", 1, 3, 0, 1000, &pkg, &len);
	char *config = h_strf("%s/gatewayd.conf", E->dir);
	json_t *r, *ev;
	int st;

	bz("device hci0 C0:FF:EE:00:00:05");
	bz("smp C0:FF:EE:00:00:05 1.2.3 120");
	json_decref(fw_push("bt-fw", file));
	wait_value("bt-fw", "/5/0/3", 2);
	r = request("execute", "bt-fw", "/5/0/2");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	ev = fw_state("C0:FF:EE:00:00:05");
	assert_false(json_is_true(json_object_get(ev, "confirm")));
	json_decref(ev);
	ev = h_wait_event(&E->mock, "reset", "mac", "C0:FF:EE:00:00:05", H_TIMEOUT_MS);
	if (!ev)
		fail_dump("no reset");
	json_decref(ev);
	/* Earlier restarts' registrations are not the next one. */
	while ((ev = h_wait_event(&E->srv, "register", "ep", "bt-fw", 0)))
		json_decref(ev);
	/* Stopped while the device reboots (Updating, the apply in flight). */
	st = h_stop(&E->gw, SIGTERM, 10000);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(h_start_gatewayd(&E->gw, E->dir, config), 0);
	ev = h_wait_event(&E->srv, "register", "ep", "bt-fw", H_TIMEOUT_MS);
	if (!ev)
		fail_dump("bt-fw did not register again");
	json_decref(ev);
	wait_log("fw: firmware: asking the device how the update ended", 1);
	bz("boot C0:FF:EE:00:00:05");
	ev = fw_state("C0:FF:EE:00:00:05");
	assert_true(json_is_true(json_object_get(ev, "confirm")));
	json_decref(ev);
	wait_value("bt-fw", "/5/0/3", 0);
	fw_expect("bt-fw", "/5/0/5", "1");
	fw_expect("bt-fw", "/3/0/3", "1.3.0");
	free(config);
	free(file);
	free(pkg);
}

/* A device out of reach: its update cannot start (three connection
 * attempts), result 8 as no deferral is allowed.  One that refuses the
 * image (SMP v2 error: bad header magic): result 5 (integrity check),
 * nothing is applied; one that boots its old image again after the reset:
 * result 8. */
static void firmware_over_smp_failures(void **state)
{
	uint8_t *pkg;
	size_t len;
	char *file = fw_package("smp-2.0.0", 2, 0, 0, 500, &pkg, &len);
	json_t *r, *ev;

	json_decref(fw_push("bt-fwbad", file));
	wait_value("bt-fwbad", "/5/0/3", 2);
	r = request("execute", "bt-fwbad", "/5/0/2");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	wait_value("bt-fwbad", "/5/0/5", 8);
	wait_log("C0:FF:EE:00:00:06: not reachable for the update", 1);
	fw_expect("bt-fwbad", "/5/0/3", "2"); /* the package stays for another try */

	/* In reach now, and Update again. */
	bz("device hci0 C0:FF:EE:00:00:06");
	bz("smp C0:FF:EE:00:00:06 1.0.0");
	bz("smp-mode C0:FF:EE:00:00:06 reject");
	r = request("execute", "bt-fwbad", "/5/0/2");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	wait_value("bt-fwbad", "/5/0/5", 5);
	fw_expect("bt-fwbad", "/5/0/3", "0");
	assert_int_equal(log_count("C0:FF:EE:00:00:06: SMP group 1 command 1: rc 23 (v2)"), 1);
	/* Taken now, but the device comes back with its old image. */
	bz("smp-mode C0:FF:EE:00:00:06 rollback");
	json_decref(fw_push("bt-fwbad", file));
	wait_value("bt-fwbad", "/5/0/3", 2);
	r = request("execute", "bt-fwbad", "/5/0/2");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	ev = h_wait_event(&E->mock, "reset", "mac", "C0:FF:EE:00:00:06", H_TIMEOUT_MS);
	if (!ev)
		fail_dump("no reset");
	json_decref(ev);
	wait_log("C0:FF:EE:00:00:06: rebooting", 1);
	bz("boot C0:FF:EE:00:00:06");
	wait_value("bt-fwbad", "/5/0/5", 8);
	wait_log("C0:FF:EE:00:00:06: back with another image than the new one", 1);
	fw_expect("bt-fwbad", "/3/0/3", "1.0.0"); /* what the device said it runs */
	free(file);
	free(pkg);
}

/* bluetoothd restarts; the controller goes away and comes back. */
static void bluez_restart_and_controller_loss_are_recovered(void **state)
{
	bz("restart");
	wait_log("bluetoothd (re)started", 1);
	json_decref(mock_event("discovery"));
	bz("sdata A4:C1:38:00:00:01 fcd2 40020009 -50"); /* 23.04 °C */
	wait_value("bt-th", "/3303/0/5700", 23.04);

	bz("remove-adapter hci0");
	wait_log("ble hci0: controller gone (removed)", 1);
	bz("adapter hci0");
	json_decref(mock_event("discovery"));
	bz("device hci0 A4:C1:38:00:00:01");
	bz("sdata A4:C1:38:00:00:01 fcd2 40026409 -52"); /* 24.04 °C */
	wait_value("bt-th", "/3303/0/5700", 24.04);
	assert_true(fabs(read_value("bt-th", "/4/0/2") - -52) < 1e-6);
}

/* What a rule admitted comes back after a restart, before any advert. */
static void admitted_devices_return_after_a_restart(void **state)
{
	char *config = h_strf("%s/gatewayd.conf", E->dir);
	int st = h_stop(&E->gw, SIGTERM, 10000);
	json_t *ev;

	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(h_start_gatewayd(&E->gw, E->dir, config), 0);
	free(config);
	ev = h_wait_event(&E->srv, "register", "ep", "bt-bthome-any-a4c138000099", H_TIMEOUT_MS);
	if (!ev)
		fail_dump("the remembered device did not come back");
	json_decref(ev);
	ev = h_wait_event(&E->srv, "register", "ep", "bt-th", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	bz("device hci0 A4:C1:38:00:00:99"); /* gone with the controller before */
	bz("sdata A4:C1:38:00:00:99 fcd2 40021e0b"); /* 28.46 °C */
	/* The log goes on from the first run (the same line once before). */
	wait_log("A4:C1:38:00:00:99: first bthome readings (1)", 2);
	assert_true(fabs(read_value("bt-bthome-any-a4c138000099", "/3303/0/5700") - 28.46) < 1e-6);
}

/* `gatewayd -t` names every bad key of the BLE adapter with file:line, and
 * passes the example configuration. */
static void config_errors_name_file_and_line(void **state)
{
	static const char bad[] =
		"gateway = { name = \"x\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"devices = (\n"
		"  { name = \"a\"; adapter = \"ble\"; mac = \"nonsense\"; },\n"
		"  { name = \"b\"; adapter = \"ble\"; mac = \"A4:C1:38:00:00:05\"; format = \"bthome\"; bind_key = \"12\"; },\n"
		"  { name = \"c\"; adapter = \"ble\"; mac = \"A4:C1:38:00:00:06\"; format = \"generic\";\n"
		"    company = 70000;\n"
		"    points = ( { channel = \"x\"; path = \"/3303/0/5700\"; measure = \"temperature\"; } ); },\n"
		"  { name = \"d\"; adapter = \"ble\"; controller = \"usb0\"; mac = \"A4:C1:38:00:00:07\"; },\n"
		"  { name = \"e\"; adapter = \"ble\"; mac = \"A4:C1:38:00:00:08\"; format = \"generic\"; uuid = \"181C\";\n"
		"    points = ( { channel = \"x\"; path = \"/3303/0/5700\"; measure = \"temperature\"; } ); },\n"
		"  { name = \"f\"; adapter = \"ble\"; mac = \"A4:C1:38:00:00:09\"; firmware = \"dfu\"; },\n"
		"  { name = \"g\"; adapter = \"ble\"; mac = \"A4:C1:38:00:00:0A\"; firmware = \"smp\";\n"
		"    fw_chunk_size = 8; }\n"
		");\n";
	char *conf = h_strf("%s/bad.conf", E->dir), *out = h_strf("%s/check.log", E->dir);
	char *bin = h_build_path("gatewayd/gatewayd");
	const char *adir = getenv("GW_ADAPTER_DIR");
	char *argv[] = {bin, "-t", "-c", conf, "-A", (char *)(adir ? adir : "."), NULL};
	struct proc p;
	FILE *f = fopen(conf, "w");
	int st;

	assert_non_null(f);
	fputs(bad, f);
	fclose(f);
	chmod(conf, 0600);
	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	st = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
	assert_true(h_wait_file_contains(out, "bad.conf:4: ", 0));
	assert_true(h_wait_file_contains(out, "expected a MAC address AA:BB:CC:DD:EE:FF, found \"nonsense\"", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:5: ", 0));
	assert_true(h_wait_file_contains(out, "expected 32 hexadecimal digits", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:7: ", 0));
	assert_true(h_wait_file_contains(out, "expected a company id 0..65535", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:9: ", 0));
	assert_true(h_wait_file_contains(out, "expected \"hciN\" or the controller's address", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:11: ", 0));
	assert_true(h_wait_file_contains(out, "`type` is required with format \"generic\"", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:12: devices.[5].firmware: expected \"smp\", found \"dfu\"", 0));
	assert_true(h_wait_file_contains(out, "bad.conf:14: devices.[6].fw_chunk_size", 0));
	free(conf);
	/* The shipped example is a valid configuration. */
	conf = h_strf("%s/config/ble-sensors.conf", getenv("top_srcdir") ? getenv("top_srcdir") : "..");
	argv[3] = conf;
	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	st = h_wait_exit(&p, H_TIMEOUT_MS);
	if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		h_dump_file(out);
		fail_msg("config/ble-sensors.conf does not check");
	}
	free(conf);
	free(out);
	free(bin);
}

/* A connect event of the second controller's devices, checked against its
 * budget: at most max_connecting (1) attempts, max_connections (2) links. */
static char *next_connect(void)
{
	json_t *ev;
	char *mac;

	for (;;) {
		ev = mock_event("connect");
		if (strncmp(str(ev, "address"), "C0:FF:EE:01:", 12) == 0)
			break;
		json_decref(ev); /* hci0's devices reconnecting */
	}
	assert_int_equal(json_integer_value(json_object_get(ev, "resolving")), 0);
	assert_true(json_integer_value(json_object_get(ev, "connected")) <= 1);
	mac = strdup(str(ev, "address"));
	json_decref(ev);
	return mac;
}

/* hci1 has max_connecting = 1 and max_connections = 2 for three devices
 * that all want a link: one attempt at a time, two links at most, the
 * third when a link drops. */
static void gatt_links_keep_the_controller_budget(void **state)
{
	char *a = next_connect(), *b, *c;

	bz("resolve %s", a);
	b = next_connect();
	assert_string_not_equal(a, b);
	bz("resolve %s", b);
	/* Both up: the third waits for a link to go. */
	bz("disconnect %s", a);
	c = next_connect();
	assert_string_not_equal(c, a);
	assert_string_not_equal(c, b);
	bz("resolve %s", c);
	free(a);
	free(b);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(discovery_is_set_up),
		cmocka_unit_test(adverts_give_readings),
		cmocka_unit_test(an_advert_notifies_an_observer),
		cmocka_unit_test(encrypted_bthome),
		cmocka_unit_test(gatt_read_notify_write),
		cmocka_unit_test(gatt_links_keep_the_controller_budget),
		cmocka_unit_test(a_silent_device_goes_down_and_comes_back),
		cmocka_unit_test(a_rule_admits_a_new_device),
		cmocka_unit_test(firmware_over_smp_is_applied),
		cmocka_unit_test(firmware_over_smp_failures),
		cmocka_unit_test(bluez_restart_and_controller_loss_are_recovered),
		cmocka_unit_test(admitted_devices_return_after_a_restart),
		cmocka_unit_test(config_errors_name_file_and_line),
		/* Last: it restarts the daemon, whose registrations would be
		 * taken for the next test's. */
		cmocka_unit_test(firmware_over_smp_recovered_after_a_restart),
	};

	if (getenv("TEST_FILTER")) /* one test (cmocka's pattern) while working on it */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
