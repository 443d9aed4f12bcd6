/* The i2c adapter end to end: gatewayd loads a test build of the adapter
 * whose bus is the fake one (tests/fixtures/i2c: i2c.so with i2c_bus_fake.c,
 * never installed), with chips' register images from a file the test
 * writes (and rewrites: the fake loads it again), and the test LwM2M
 * server: registration, reads of a BME280's temperature and pressure, an
 * observation that sees a new temperature, a write through a generic
 * register point read back from the chip, and a chip that does not answer
 * shown as down.  Waits are on events; every process is stopped by its
 * PID. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

struct env {
	char *dir, *log, *chips;
	struct proc srv, gw;
	int port;
};

static struct env *E;

static const char config_tmpl[] =
	"gateway = { name = \"pi\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120; } );\n"
	/* Two ways to name the bus: a `buses` group, or in the device. */
	"buses = ( { name = \"i2c-1\"; adapter = \"i2c\"; i2c_bus = \"/dev/i2c-1\"; } );\n"
	"devices = (\n"
	"  { name = \"climate\"; adapter = \"i2c\"; i2c_bus = \"/dev/i2c-1\"; chip = \"bme280\";\n"
	"    interval = 0.1;\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; measure = \"temperature\"; },\n"
	"      { channel = \"p\"; path = \"/3315/0/5700\"; measure = \"pressure\"; }\n"
	"    ); },\n"
	"  { name = \"heater\"; adapter = \"i2c\"; bus = \"i2c-1\"; address = 0x48;\n"
	"    points = (\n"
	"      { channel = \"sp\"; path = \"/3308/0/5900\"; register = 0x10; type = \"u16\";\n"
	"        order = \"little\"; writable = true; scale = 0.1; }\n"
	"    ); },\n"
	"  { name = \"absent\"; adapter = \"i2c\"; bus = \"i2c-1\"; chip = \"sht3x\";\n"
	"    address = 0x45; interval = 0.1; down_after = 1;\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; measure = \"temperature\"; } );\n"
	"  }\n"
	");\n";

/* The datasheet's example trimming values (see tests/unit/test_i2c.c). */
static const int T1 = 27504, T2 = 26435, T3 = -1000;
static const int P[9] = {36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000};
#define ADC_P 415148

/* The datasheet's floating-point temperature, an independent check. */
static double temperature(int adc_t)
{
	double v1 = (adc_t / 16384.0 - T1 / 1024.0) * T2;
	double d = adc_t / 131072.0 - T1 / 8192.0;

	return (v1 + d * d * T3) / 5120.0;
}

/* The chips' file: a BME280 at 0x76 reading adc_t, a register chip at 0x48
 * holding 200 (0x00c8, little-endian) at 0x10.  Replaced atomically. */
static void write_chips(int adc_t)
{
	char *tmp = h_strf("%s.new", E->chips);
	FILE *f = fopen(tmp, "w");
	uint8_t tp[26] = {0};
	int v[12] = {T1, T2, T3};

	assert_non_null(f);
	for (int i = 0; i < 9; i++)
		v[3 + i] = P[i];
	for (int i = 0; i < 12; i++) {
		tp[2 * i] = (uint8_t)(v[i] & 0xff);
		tp[2 * i + 1] = (uint8_t)((v[i] >> 8) & 0xff);
	}
	fprintf(f, "# BME280\nregs /dev/i2c-1 0x76 0xd0 60\nregs /dev/i2c-1 0x76 0x88");
	for (int i = 0; i < 26; i++)
		fprintf(f, " %02x", tp[i]);
	fprintf(f, "\nregs /dev/i2c-1 0x76 0xf7 %02x %02x %02x %02x %02x %02x 80 00\n",
		ADC_P >> 12, (ADC_P >> 4) & 0xff, (ADC_P & 0xf) << 4, adc_t >> 12,
		(adc_t >> 4) & 0xff, (adc_t & 0xf) << 4);
	fprintf(f, "regs /dev/i2c-1 0x48 0x10 c8 00\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, E->chips), 0);
	free(tmp);
}

static int group_setup(void **state)
{
	const char *eps[] = {"pi-climate", "pi-heater", "pi-absent"};
	char *config, *adir;
	json_t *ev;

	E = calloc(1, sizeof(*E));
	*state = E;
	E->dir = h_tmpdir();
	if (!E->dir)
		return -1;
	E->log = h_strf("%s/gatewayd.log", E->dir);
	E->chips = h_strf("%s/chips.txt", E->dir);
	write_chips(519888);
	/* Only the daemon this test starts sees these. */
	adir = h_build_path("tests/fixtures/i2c/.libs");
	setenv("GW_ADAPTER_DIR", adir, 1);
	free(adir);
	setenv("GWD_I2C_FAKE", E->chips, 1);
	E->port = h_start_server(&E->srv, E->dir);
	if (E->port <= 0)
		return -1;
	config = h_write_config(E->dir, "gatewayd.conf", config_tmpl, E->port);
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
	free(E->chips);
	h_tmpdir_remove(E->dir);
	free(E);
	return r;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

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

static void reads_a_bme280(void **state)
{
	assert_true(fabs(read_value("pi-climate", "/3303/0/5700") - 25.08) < 1e-9);
	assert_true(fabs(temperature(519888) - 25.08) < 0.005);
	/* 100653.25 Pa, in hPa. */
	assert_true(fabs(read_value("pi-climate", "/3315/0/5700") - 1006.5325) < 0.0001);
}

static void observe_sees_a_new_temperature(void **state)
{
	json_t *r = h_request(&E->srv, H_TIMEOUT_MS, "observe pi-climate /3303/0/5700 text");
	double want = round(temperature(530000) * 100) / 100, v;
	char *id;

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.05") != 0)
		fail_msg("observe: %s", json_dumps(r, 0));
	assert_true(json_is_true(json_object_get(r, "observing")));
	assert_true(fabs(strtod(str(r, "payload_text"), NULL) - 25.08) < 1e-9);
	id = strdup(str(r, "id"));
	json_decref(r);
	assert_true(want > 27 && want < 29);
	write_chips(530000);
	for (;;) {
		json_t *n = h_wait_event(&E->srv, "notify", "id", id, H_TIMEOUT_MS);

		if (!n) {
			h_dump_file(E->log);
			fail_msg("no notification of %.2f", want);
		}
		assert_string_equal(str(n, "code"), "2.05");
		v = strtod(str(n, "payload_text"), NULL);
		json_decref(n);
		if (fabs(v - want) < 1e-9)
			break;
		/* Only the old value may come before the new one. */
		assert_true(fabs(v - 25.08) < 1e-9);
	}
	r = h_request(&E->srv, H_TIMEOUT_MS, "cancel pi-climate /3303/0/5700");
	json_decref(r);
	free(id);
}

static void writes_a_generic_register(void **state)
{
	json_t *r;

	assert_true(fabs(read_value("pi-heater", "/3308/0/5900") - 20.0) < 1e-9);
	r = h_request(&E->srv, H_TIMEOUT_MS, "write pi-heater /3308/0/5900 text 21.5");
	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.04") != 0) {
		h_dump_file(E->log);
		fail_msg("write: %s", json_dumps(r, 0));
	}
	json_decref(r);
	/* Read back from the chip's register: 215 = 21.5 / 0.1. */
	assert_true(fabs(read_value("pi-heater", "/3308/0/5900") - 21.5) < 1e-9);
}

static void an_absent_chip_is_down(void **state)
{
	json_t *r;

	if (!h_wait_file_contains(E->log, "no answer (NAK) from sht3x at 0x45", H_TIMEOUT_MS) ||
	    !h_wait_file_contains(E->log, "absent: down after 1 failed cycles", H_TIMEOUT_MS)) {
		h_dump_file(E->log);
		fail_msg("the absent chip was not reported");
	}
	r = h_request(&E->srv, H_TIMEOUT_MS, "read pi-absent /3303/0/5700 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "5.03");
	json_decref(r);
	/* Object 3's Error Code: 8, peripheral malfunction. */
	r = h_request(&E->srv, H_TIMEOUT_MS, "read pi-absent /3/0/11/0 text");
	assert_non_null(r);
	assert_string_equal(str(r, "payload_text"), "8");
	json_decref(r);
	/* Its neighbours on the bus are unharmed. */
	assert_true(fabs(read_value("pi-heater", "/3308/0/5900") - 21.5) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_a_bme280),
		cmocka_unit_test(observe_sees_a_new_temperature),
		cmocka_unit_test(writes_a_generic_register),
		cmocka_unit_test(an_absent_chip_is_down),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
