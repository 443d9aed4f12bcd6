/* The sysfs adapter end to end: gatewayd reads a temporary tree laid out
 * like /sys (a DS18B20 on 1-Wire, a BME280 through the kernel's IIO driver,
 * an hwmon chip that is not there), registers each device with the test
 * LwM2M server, answers reads with the tree's values, notifies an
 * observation when the test rewrites a file, and shows the missing chip as
 * down (5.03) with a clear log line.  Waits are on events; every process is
 * stopped by its PID. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

struct env {
	char *dir, *log, *root;
	struct proc srv, gw;
	int port;
};

static struct env *E;

static const char config_tmpl[] =
	"gateway = { name = \"sf\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120; } );\n"
	"profiles = ( { name = \"kernel\"; adapter = \"sysfs\"; root = \"%s\"; interval = 0.1; } );\n"
	"devices = (\n"
	"  { name = \"ds\"; profile = \"kernel\";\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; source = \"w1\";\n"
	"                 id = \"28-0316a2796fff\"; } ); },\n"
	"  { name = \"bme\"; profile = \"kernel\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; source = \"iio\"; device = \"bme280\";\n"
	"        attribute = \"temp\"; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; source = \"iio\"; device = \"bme280\";\n"
	"        attribute = \"humidityrelative\"; },\n"
	"      { channel = \"p\"; path = \"/3315/0/5700\"; source = \"iio\"; device = \"bme280\";\n"
	"        attribute = \"pressure\"; }\n"
	"    ); },\n"
	"  { name = \"gone\"; profile = \"kernel\"; down_after = 1;\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; source = \"hwmon\";\n"
	"                 chip = \"sht3x\"; attribute = \"temp1\"; } ); }\n"
	");\n";

static void put(const char *rel, const char *content)
{
	char *path = h_strf("%s/%s", E->root, rel), *tmp = h_strf("%s.new", path), *p;
	FILE *f;

	/* Directories first. */
	for (p = strchr(path + strlen(E->root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	/* Atomic, as the kernel's files never show half a value. */
	assert_int_equal(rename(tmp, path), 0);
	free(tmp);
	free(path);
}

static int group_setup(void **state)
{
	const char *eps[] = {"sf-ds", "sf-bme", "sf-gone"};
	char *tmpl, *config;
	json_t *ev;

	E = calloc(1, sizeof(*E));
	*state = E;
	E->dir = h_tmpdir();
	if (!E->dir)
		return -1;
	E->log = h_strf("%s/gatewayd.log", E->dir);
	E->root = h_strf("%s/sys", E->dir);
	mkdir(E->root, 0755);
	put("bus/w1/devices/28-0316a2796fff/w1_slave",
	    "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n");
	put("bus/iio/devices/iio:device0/name", "bme280\n");
	put("bus/iio/devices/iio:device0/in_temp_input", "21500\n");
	put("bus/iio/devices/iio:device0/in_humidityrelative_input", "48250\n");
	put("bus/iio/devices/iio:device0/in_pressure_input", "99.870000\n");
	put("class/hwmon/hwmon0/name", "cpu_thermal\n");
	put("class/hwmon/hwmon0/temp1_input", "45000\n");

	E->port = h_start_server(&E->srv, E->dir);
	if (E->port <= 0)
		return -1;
	tmpl = h_strf(config_tmpl, E->root);
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
	/* A clean exit: workers joined, nothing left (ASan builds fail here). */
	int st = h_stop(&E->gw, SIGTERM, 10000), r = 0;

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("gatewayd exit status %d\n", st);
		h_dump_file(E->log);
		r = -1;
	}
	h_stop(&E->srv, SIGTERM, 5000);
	free(E->log);
	free(E->root);
	h_tmpdir_remove(E->dir);
	free(E);
	return r;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* Observe a resource as text: its first value, and the observation's id. */
static char *observe(const char *ep, const char *path, double *first)
{
	json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "observe %s %s text", ep, path);
	char *id;

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.05") != 0)
		fail_msg("observe %s %s: %s", ep, path, json_dumps(r, 0));
	assert_true(json_is_true(json_object_get(r, "observing")));
	*first = strtod(str(r, "payload_text"), NULL);
	id = strdup(str(r, "id"));
	json_decref(r);
	return id;
}

/* The resource's value as read now; fails on anything but 2.05. */
static double read_value(const char *ep, const char *path)
{
	json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "read %s %s text", ep, path);
	double v;

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.05") != 0) {
		h_dump_file(E->log);
		fail_msg("read %s %s: %s", ep, path, json_dumps(r, 0));
	}
	v = strtod(str(r, "payload_text"), NULL);
	json_decref(r);
	return v;
}

/* Wait until the resource shows want: its first report may still be on the
 * way when the device registers.  Event driven: an observation's
 * notifications. */
static void wait_value(const char *ep, const char *path, double want)
{
	double v;
	char *id = observe(ep, path, &v);
	json_t *r;

	while (fabs(v - want) > 1e-9) {
		json_t *n = h_wait_event(&E->srv, "notify", "id", id, H_TIMEOUT_MS);

		if (!n) {
			h_dump_file(E->log);
			fail_msg("%s %s: never showed %g (last %g)", ep, path, want, v);
		}
		v = strtod(str(n, "payload_text"), NULL);
		json_decref(n);
	}
	r = h_request(&E->srv, H_TIMEOUT_MS, "cancel %s %s", ep, path);
	json_decref(r);
	free(id);
}

static void reads_give_the_tree_values(void **state)
{
	wait_value("sf-ds", "/3303/0/5700", 23.125);
	wait_value("sf-bme", "/3315/0/5700", 998.7);
	assert_true(fabs(read_value("sf-ds", "/3303/0/5700") - 23.125) < 1e-9);
	assert_true(fabs(read_value("sf-bme", "/3303/0/5700") - 21.5) < 1e-9);
	assert_true(fabs(read_value("sf-bme", "/3304/0/5700") - 48.25) < 1e-9);
	assert_true(fabs(read_value("sf-bme", "/3315/0/5700") - 998.7) < 1e-9); /* hPa */
}

static void observe_sees_a_rewritten_file(void **state)
{
	double v;
	char *id = observe("sf-ds", "/3303/0/5700", &v);
	json_t *n;

	assert_true(fabs(v - 23.125) < 1e-9);
	/* The next conversion reads 24.5 degrees. */
	put("bus/w1/devices/28-0316a2796fff/w1_slave",
	    "88 01 4b 46 7f ff 08 10 c2 : crc=c2 YES\n88 01 4b 46 7f ff 08 10 c2 t=24500\n");
	for (;;) {
		n = h_wait_event(&E->srv, "notify", "id", id, H_TIMEOUT_MS);
		if (!n) {
			h_dump_file(E->log);
			fail_msg("no notification of the new temperature");
		}
		assert_string_equal(str(n, "code"), "2.05");
		v = strtod(str(n, "payload_text"), NULL);
		json_decref(n);
		if (fabs(v - 24.5) < 1e-9)
			break;
		/* Only the old value may come before the new one. */
		assert_true(fabs(v - 23.125) < 1e-9);
	}
	/* A bad CRC is an error of that sensor: no new value is notified, and
	 * the log says why. */
	put("bus/w1/devices/28-0316a2796fff/w1_slave",
	    "88 01 4b 46 7f ff 08 10 ff : crc=c2 NO\n88 01 4b 46 7f ff 08 10 ff t=85000\n");
	if (!h_wait_file_contains(E->log, "28-0316a2796fff/w1_slave: CRC check failed",
				  H_TIMEOUT_MS)) {
		h_dump_file(E->log);
		fail_msg("the bad CRC was not logged");
	}
	assert_true(fabs(read_value("sf-bme", "/3303/0/5700") - 21.5) < 1e-9);
	free(id);
}

static void a_missing_chip_is_down(void **state)
{
	json_t *r;

	if (!h_wait_file_contains(E->log, "no hwmon chip named \"sht3x\"", H_TIMEOUT_MS) ||
	    !h_wait_file_contains(E->log, "gone: down after 1 failed cycles", H_TIMEOUT_MS)) {
		h_dump_file(E->log);
		fail_msg("the missing chip was not reported");
	}
	r = h_request(&E->srv, H_TIMEOUT_MS, "read sf-gone /3303/0/5700 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "5.03");
	json_decref(r);
	/* Object 3's Error Code: 8, peripheral malfunction. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "read sf-gone /3/0/11/0 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	assert_string_equal(str(r, "payload_text"), "8");
	json_decref(r);
	/* The others are unharmed. */
	assert_true(fabs(read_value("sf-bme", "/3304/0/5700") - 48.25) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_give_the_tree_values),
		cmocka_unit_test(observe_sees_a_rewritten_file),
		cmocka_unit_test(a_missing_chip_is_down),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
