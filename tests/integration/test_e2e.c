/* End to end: the test LwM2M server and gatewayd with three sim devices on
 * loopback.  Registration, reads of /3/0 and IPSO values in each format, the
 * error codes, and de-registration on SIGTERM.  (Malformed CoAP: test_malformed.) */
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

static const char config_tmpl[] =
	"gateway = { name = \"e2e\"; endpoint_pattern = \"%g-%d\"; };\n"
	"servers = ( { name = \"test\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = (\n"
	"  { name = \"th\"; adapter = \"sim\"; manufacturer = \"Acme Sensors\"; model = \"TH-1\";\n"
	"    serial = \"SN-0001\"; firmware_version = \"2.0.1\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0; waveform = \"sine\"; units = \"Cel\";\n"
	"        base = 21.0; amplitude = 3.0; period = 120.0; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; poll = 1.0; waveform = \"constant\"; base = 45.5; }\n"
	"    ); },\n"
	"  { name = \"meter\"; adapter = \"sim\";\n"
	"    points = ( { channel = \"v\"; path = \"/3316/0/5700\"; poll = 1.0; scale = 0.1;\n"
	"                 waveform = \"constant\"; base = 2301.0; } ); },\n"
	"  { name = \"relay\"; adapter = \"sim\";\n"
	"    points = ( { channel = \"r\"; path = \"/3201/0/5550\"; poll = 1.0; waveform = \"output\";\n"
	"                 type = \"bool\"; initial = true; } ); }\n"
	");\n";

struct env {
	char *dir;
	struct proc srv, gw;
	int port;
	char *config;
	json_t *reg[3];
};

static const char *const endpoints[] = {"e2e-th", "e2e-meter", "e2e-relay"};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	e->dir = h_tmpdir();
	if (!e->dir)
		return -1;
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	e->config = h_write_config(e->dir, "gatewayd.conf", config_tmpl, e->port);
	if (h_start_gatewayd(&e->gw, e->dir, e->config) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		e->reg[i] = h_wait_event(&e->srv, "register", "ep", endpoints[i], H_TIMEOUT_MS);
		if (!e->reg[i]) {
			char *log;
			if (asprintf(&log, "%s/gatewayd.log", e->dir) >= 0) {
				h_dump_file(log);
				free(log);
			}
			return -1;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	h_stop(&e->gw, SIGKILL, 5000);
	h_stop(&e->srv, SIGTERM, 5000);
	for (int i = 0; i < 3; i++)
		json_decref(e->reg[i]);
	free(e->config);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* The value of the record with `path` in a decoded response, or NULL. */
static json_t *record(json_t *resp, const char *path)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(resp, "records"), i, r)
		if (strcmp(str(r, "path"), path) == 0)
			return json_object_get(r, "value");
	return NULL;
}

static json_t *read_ok(struct env *e, const char *ep, const char *path, const char *fmt)
{
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s %s", ep, path, fmt);

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.05") != 0)
		fail_msg("read %s %s %s: %s", ep, path, fmt, json_dumps(r, 0));
	return r;
}

static void registration_is_complete(void **state)
{
	struct env *e = *state;

	for (int i = 0; i < 3; i++) {
		json_t *r = e->reg[i];
		const char *links = str(r, "links");
		assert_int_equal(json_integer_value(json_object_get(r, "lt")), 60);
		assert_string_equal(str(r, "lwm2m"), "1.1");
		assert_string_equal(str(r, "b"), "U");
		assert_non_null(strstr(links, "</>;rt=\"oma.lwm2m\""));
		assert_non_null(strstr(links, "</1/0>"));
		assert_non_null(strstr(links, "</3/0>"));
		assert_null(strstr(links, "</0")); /* Security is never announced */
	}
	assert_non_null(strstr(str(e->reg[0], "links"), "</3303/0>"));
	assert_non_null(strstr(str(e->reg[0], "links"), "</3304/0>"));
	assert_non_null(strstr(str(e->reg[1], "links"), "</3316/0>"));
	assert_non_null(strstr(str(e->reg[2], "links"), "</3201/0>"));
	/* Each device is its own client: its own UDP port. */
	assert_string_not_equal(str(e->reg[0], "peer"), str(e->reg[1], "peer"));
	assert_string_not_equal(str(e->reg[1], "peer"), str(e->reg[2], "peer"));
}

static void device_object_in_each_format(void **state)
{
	struct env *e = *state;
	static const char *const fmts[] = {"tlv", "senml-json"};

	for (size_t i = 0; i < 2; i++) {
		json_t *r = read_ok(e, "e2e-th", "/3/0", fmts[i]);
		assert_string_equal(json_string_value(record(r, "/3/0/0")), "Acme Sensors");
		assert_string_equal(json_string_value(record(r, "/3/0/1")), "TH-1");
		assert_string_equal(json_string_value(record(r, "/3/0/2")), "SN-0001");
		assert_string_equal(json_string_value(record(r, "/3/0/3")), "2.0.1");
		assert_int_equal(json_integer_value(record(r, "/3/0/11/0")), 0);
		json_decref(r);
	}
	{
		json_t *r = read_ok(e, "e2e-th", "/3/0/0", "text");
		assert_string_equal(str(r, "payload_text"), "Acme Sensors");
		json_decref(r);
	}
}

static double number(json_t *v)
{
	assert_true(json_is_number(v));
	return json_number_value(v);
}

static void ipso_values_in_each_format(void **state)
{
	struct env *e = *state;
	json_t *r;

	/* A constant channel has one right answer in every format. */
	r = read_ok(e, "e2e-th", "/3304/0/5700", "text");
	assert_string_equal(str(r, "payload_text"), "45.5");
	json_decref(r);
	r = read_ok(e, "e2e-th", "/3304/0/5700", "tlv");
	assert_float_equal(number(record(r, "/3304/0/5700")), 45.5, 0);
	json_decref(r);
	r = read_ok(e, "e2e-th", "/3304/0", "senml-json");
	assert_float_equal(number(record(r, "/3304/0/5700")), 45.5, 0);
	/* The IPSO sensor pattern keeps min/max measured beside the value. */
	assert_float_equal(number(record(r, "/3304/0/5601")), 45.5, 0);
	assert_float_equal(number(record(r, "/3304/0/5602")), 45.5, 0);
	json_decref(r);

	/* The transform: 2301 deci-volts -> 230.1 V. */
	r = read_ok(e, "e2e-meter", "/3316/0/5700", "senml-json");
	assert_float_equal(number(record(r, "/3316/0/5700")), 230.1, 1e-9);
	json_decref(r);

	/* A sine around 21 with amplitude 3 stays within its bounds. */
	r = read_ok(e, "e2e-th", "/3303/0", "tlv");
	{
		double t = number(record(r, "/3303/0/5700"));
		assert_true(t >= 18.0 && t <= 24.0);
		assert_true(number(record(r, "/3303/0/5601")) <= t);
		assert_true(number(record(r, "/3303/0/5602")) >= t);
		assert_string_equal(json_string_value(record(r, "/3303/0/5701")), "Cel");
	}
	json_decref(r);

	/* A boolean output reads as 1 in text. */
	r = read_ok(e, "e2e-relay", "/3201/0/5550", "text");
	assert_string_equal(str(r, "payload_text"), "1");
	json_decref(r);
}

static void expect_code(struct env *e, const char *cmd, const char *code)
{
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "%s", cmd);

	assert_non_null(r);
	if (strcmp(str(r, "code"), code) != 0)
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	json_decref(r);
}

static void error_codes(void **state)
{
	struct env *e = *state;

	expect_code(e, "read e2e-th /0/0 tlv", "4.01");      /* Security: never readable */
	expect_code(e, "read e2e-th /0 tlv", "4.01");
	expect_code(e, "read e2e-th /3303/9 tlv", "4.04");   /* no such instance */
	expect_code(e, "read e2e-th /3305 tlv", "4.04");     /* no such object */
	expect_code(e, "read e2e-th /3303/0/5603 text", "4.04"); /* no range configured */
	expect_code(e, "read e2e-th /3303/0 text", "4.06");  /* text is one value */
	expect_code(e, "read e2e-th /3303/0 9999", "4.06");  /* unknown format */
}

static void sigterm_deregisters_everything(void **state)
{
	struct env *e = *state;
	int status;

	kill(e->gw.pid, SIGTERM);
	for (int i = 0; i < 3; i++) {
		json_t *ev = h_wait_event(&e->srv, "deregister", "ep", endpoints[i], H_TIMEOUT_MS);
		assert_non_null(ev);
		assert_string_equal(str(ev, "location"), str(e->reg[i], "location"));
		json_decref(ev);
	}
	/* The daemon gives itself 0.8 s to de-register; its exit is bounded
	 * generously here so that a loaded CI machine does not fail the test. */
	status = h_wait_exit(&e->gw, 5000);
	assert_true(status != -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registration_is_complete),
		cmocka_unit_test(device_object_in_each_format),
		cmocka_unit_test(ipso_values_in_each_format),
		cmocka_unit_test(error_codes),
		cmocka_unit_test(sigterm_deregisters_everything),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("e2e", tests, setup, teardown);
}
