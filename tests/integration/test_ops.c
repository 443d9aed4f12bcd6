/* Device Management operations beyond Read, end to end: Write (replace and
 * partial update) through the inverse transform and range check to the
 * adapter, Execute on the device, on the IPSO pattern and on the Server
 * object, Write-Attributes and Discover, Create and Delete, and the error
 * codes for each, including a device too slow to answer. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"

static const char config_tmpl[] =
	"gateway = { name = \"op\"; state_dir = \"@STATE@\"; operation_timeout = 3.0; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60;\n"
	"              version = \"1.2\"; } );\n"
	"devices = (\n"
	"  { name = \"io\"; adapter = \"sim\";\n"
	"    points = (\n"
	"      { channel = \"relay\"; path = \"/3201/0/5550\"; poll = 0.2; waveform = \"output\";\n"
	"        type = \"bool\"; initial = false; },\n"
	/* A set point in tenths of a degree on the device, degrees on LwM2M. */
	"      { channel = \"sp\"; path = \"/3308/0/5900\"; poll = 0.2; scale = 0.1; units = \"Cel\";\n"
	"        min = 5.0; max = 30.0; waveform = \"output\"; initial = 200.0; },\n"
	"      { channel = \"count\"; path = \"/3200/0/5501\"; poll = 0.2; waveform = \"counter\";\n"
	"        base = 100.0; step = 1.0; period = 0.1; type = \"int\"; },\n"
	"      { channel = \"reset\"; path = \"/3200/0/5505\"; waveform = \"execute\";\n"
	"        target = \"count\"; action = \"reset\"; },\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.2; waveform = \"sine\";\n"
	"        base = 20.0; amplitude = 5.0; period = 2.0; min = -40.0; max = 85.0; },\n"
	"      { channel = \"text\"; path = \"/3341/0/5527\"; poll = 0.2; waveform = \"output\";\n"
	"        type = \"string\"; initial = \"hello\"; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; poll = 0.2; waveform = \"constant\";\n"
	"        base = 45.5; }\n"
	"    ); },\n"
	"  { name = \"slow\"; adapter = \"sim\"; fail = \"timeout\"; fail_delay = 20.0; fail_after = 2;\n"
	"    points = ( { channel = \"o\"; path = \"/3201/0/5550\"; waveform = \"output\";\n"
	"                 type = \"bool\"; initial = false; poll = 0.0; } ); },\n"
	/* Answers two reads, then never the third, without an error: stale
	 * after 3 x 0.2 s.  A Reboot cancels that read; the next are answered. */
	"  { name = \"mute\"; adapter = \"sim\"; fail = \"silent\"; fail_after = 2; fail_for = 1;\n"
	"    points = ( { channel = \"v\"; path = \"/3316/0/5700\"; poll = 0.2;\n"
	"                 waveform = \"constant\"; base = 230.0; } ); }\n"
	");\n";

static const char *str(json_t *o, const char *key);

struct env {
	char *dir, *conf;
	struct proc srv, gw;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *conf;
	int port;
	json_t *ev;

	*state = e;
	e->dir = h_tmpdir();
	port = h_start_server(&e->srv, e->dir);
	if (port <= 0)
		return -1;
	{
		/* The daemon keeps its state in the test's directory. */
		char *tmpl = strdup(config_tmpl), *at = strstr(tmpl, "@STATE@"), *text;
		*at = '\0';
		if (asprintf(&text, "%s%s%s", tmpl, e->dir, at + strlen("@STATE@")) < 0)
			return -1;
		conf = h_write_config(e->dir, "gatewayd.conf", text, port);
		free(text);
		free(tmpl);
	}
	e->conf = conf;
	if (h_start_gatewayd(&e->gw, e->dir, conf) < 0)
		return -1;
	ev = h_wait_event(&e->srv, "register", "ep", "op-io", H_TIMEOUT_MS);
	json_decref(ev);
	if (!ev)
		return -1;
	ev = h_wait_event(&e->srv, "register", "ep", "op-slow", H_TIMEOUT_MS);
	json_decref(ev);
	if (!ev)
		return -1;
	ev = h_wait_event(&e->srv, "register", "ep", "op-mute", H_TIMEOUT_MS);
	json_decref(ev);
	if (!ev)
		return -1;
	/* Registration can come before the devices' first readings (slowly,
	 * under valgrind): until then a read answers 5.03.  Ask until every
	 * point has a value; each attempt waits for its answer. */
	{
		static const char *const ready[] = {"/3201/0/5550", "/3308/0/5900", "/3200/0/5501",
						    "/3303/0/5700", "/3341/0/5527", "/3304/0/5700"};
		for (size_t i = 0; i < sizeof(ready) / sizeof(ready[0]); i++) {
			bool ok = false;
			for (int tries = 0; tries < 200 && !ok; tries++) {
				json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "read op-io %s text",
						      ready[i]);
				ok = r && strcmp(str(r, "code"), "2.05") == 0;
				json_decref(r);
			}
			if (!ok)
				return -1;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	int status = h_stop(&e->gw, SIGTERM, 5000);

	h_stop(&e->srv, SIGTERM, 5000);
	h_tmpdir_remove(e->dir);
	free(e->conf);
	free(e);
	/* A clean exit also means no leak when run under valgrind. */
	return status == 0 ? 0 : -1;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* Send a command; check the answer's code; return the answer. */
static json_t *expect(struct env *e, const char *code, const char *fmt, ...)
{
	char cmd[8192];
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

static void check(struct env *e, const char *code, const char *cmd)
{
	json_decref(expect(e, code, "%s", cmd));
}

static void read_text_is(struct env *e, const char *path, const char *want)
{
	json_t *r = expect(e, "2.05", "read op-io %s text", path);

	assert_string_equal(str(r, "payload_text"), want);
	json_decref(r);
}

static void write_reaches_the_device(void **state)
{
	struct env *e = *state;

	read_text_is(e, "/3201/0/5550", "0");
	check(e, "2.04", "write op-io /3201/0/5550 text 1");
	read_text_is(e, "/3201/0/5550", "1");
	check(e, "2.04", "write op-io /3201/0/5550 tlv 0");
	read_text_is(e, "/3201/0/5550", "0");
	check(e, "2.04", "write op-io /3201/0/5550 senml-json 1");
	read_text_is(e, "/3201/0/5550", "1");
}

static void write_goes_through_the_inverse_transform(void **state)
{
	struct env *e = *state;

	read_text_is(e, "/3308/0/5900", "20"); /* 200 on the device */
	check(e, "2.04", "write op-io /3308/0/5900 text 21.5");
	/* Read back through the device: 215 tenths, 21.5 degrees. */
	read_text_is(e, "/3308/0/5900", "21.5");
	/* Outside the point's min/max: refused, nothing written. */
	check(e, "4.00", "write op-io /3308/0/5900 text 30.5");
	check(e, "4.00", "write op-io /3308/0/5900 text 4");
	read_text_is(e, "/3308/0/5900", "21.5");
}

static void partial_update_on_an_instance(void **state)
{
	struct env *e = *state;

	/* POST /3201/0 with TLV: resource 5550 (0x15AE) = 1.
	 * 0xE1 = resource with value, 16-bit id, 1-byte value. */
	check(e, "2.04", "raw op-io POST /3201/0 e115ae01 ct=11542");
	read_text_is(e, "/3201/0/5550", "1");
	/* PUT (replace) on the instance with SenML JSON. */
	check(e, "2.04", "raw op-io PUT /3201/0 "
		  "5b7b22626e223a222f333230312f302f222c226e223a2235353530222c227662223a66616c73657d5d"
		  " ct=110");
	read_text_is(e, "/3201/0/5550", "0");
}

static void write_errors(void **state)
{
	struct env *e = *state;

	check(e, "4.05", "write op-io /3303/0/5700 text 5");    /* Sensor Value is R */
	check(e, "4.04", "write op-io /3303/0/5821 text 1");    /* not in this device */
	check(e, "4.04", "write op-io /3308/1/5900 text 20");   /* no such instance */
	check(e, "4.01", "write op-io /0/0/0 text coap://x");   /* Security */
	check(e, "4.15", "raw op-io PUT /3201/0/5550 31 ct=1234");
	check(e, "4.00", "raw op-io PUT /3201/0/5550 31");     /* no Content-Format */
	check(e, "4.00", "raw op-io PUT /3201/0/5550 37 ct=0"); /* "7": not 0/1 */
	check(e, "4.00", "raw op-io PUT /3201/0/5550 e115ae ct=11542"); /* truncated TLV */
	check(e, "4.00", "write op-io /3201/0/5550 text 2");    /* not a boolean */
	/* A TLV that also writes a read-only resource: nothing is applied. */
}

static void mixed_write_is_all_or_nothing(void **state)
{
	struct env *e = *state;

	/* POST /3308/0: 5900 = 25 (valid) and 5701 (Sensor Units, read-only):
	 * [{"bn":"/3308/0/","n":"5900","v":25},{"n":"5701","vs":"K"}] */
	read_text_is(e, "/3308/0/5900", "21.5");
	check(e, "4.05", "raw op-io POST /3308/0 "
		  "5b7b22626e223a222f333330382f302f222c226e223a2235393030222c2276223a32357d2c"
		  "7b226e223a2235373031222c227673223a224b227d5d ct=110");
	read_text_is(e, "/3308/0/5900", "21.5");
}

static void execute_routes_to_the_device(void **state)
{
	struct env *e = *state;
	json_t *r;
	long before, after;

	r = expect(e, "2.05", "read op-io /3200/0/5501 text");
	before = atol(str(r, "payload_text"));
	json_decref(r);
	assert_true(before >= 100);
	check(e, "2.04", "execute op-io /3200/0/5505");
	/* The counter starts again from its base, and the adapter reports the
	 * reset along with the completion, so the cache already shows it. */
	r = expect(e, "2.05", "read op-io /3200/0/5501 text");
	after = atol(str(r, "payload_text"));
	json_decref(r);
	assert_true(after < before);
	check(e, "4.05", "execute op-io /3200/0/5501");      /* not executable */
	check(e, "4.04", "execute op-io /3200/0/5504");      /* not mapped */
	check(e, "4.01", "execute op-io /0/0/1");
}

static void execute_ipso_reset_min_max(void **state)
{
	struct env *e = *state;
	json_t *r;

	check(e, "2.04", "execute op-io /3303/0/5605");
	r = expect(e, "2.05", "read op-io /3303/0 senml-json");
	{
		json_t *recs = json_object_get(r, "records"), *x;
		size_t i;
		double min = -1, max = -2;
		json_array_foreach(recs, i, x) {
			if (!strcmp(str(x, "path"), "/3303/0/5601"))
				min = json_number_value(json_object_get(x, "value"));
			if (!strcmp(str(x, "path"), "/3303/0/5602"))
				max = json_number_value(json_object_get(x, "value"));
		}
		/* Reset to the value at the time; polling may have moved them
		 * apart since, but never beyond the sine's range. */
		assert_true(min >= 15.0 && max <= 25.0 && min <= max);
	}
	json_decref(r);
}

static void execute_registration_update_trigger(void **state)
{
	struct env *e = *state;
	json_t *ev;

	check(e, "2.04", "execute op-io /1/0/8");
	ev = h_wait_event(&e->srv, "update", "ep", "op-io", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
}

static void writing_the_lifetime_updates_the_registration(void **state)
{
	struct env *e = *state;
	json_t *ev;

	check(e, "2.04", "write op-io /1/0/1 text 120");
	ev = h_wait_event(&e->srv, "update", "ep", "op-io", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 120);
	json_decref(ev);
	read_text_is(e, "/1/0/1", "120");
	/* (0 means "no limit" for this 1.2 registration: test_multi.) */
	check(e, "4.00", "write op-io /1/0/1 text -5");
}

static void write_attributes_and_discover(void **state)
{
	struct env *e = *state;
	json_t *r;

	check(e, "2.04", "raw op-io PUT /3303/0/5700?pmin=5&pmax=60&gt=25&lt=15&st=0.5");
	check(e, "2.04", "raw op-io PUT /3303/0?pmax=120");
	check(e, "4.05", "discover op-io /"); /* not a target of Discover */
	r = expect(e, "2.05", "discover op-io /3303/0");
	assert_non_null(strstr(str(r, "payload_text"), "</3303/0>;pmax=120"));
	assert_non_null(strstr(str(r, "payload_text"),
			       "</3303/0/5700>;pmin=5;pmax=60;gt=25;lt=15;st=0.5"));
	json_decref(r);
	/* Removing one attribute keeps the others. */
	check(e, "2.04", "raw op-io PUT /3303/0/5700?gt&lt&st");
	r = expect(e, "2.05", "discover op-io /3303/0/5700");
	assert_non_null(strstr(str(r, "payload_text"), "</3303/0/5700>;pmin=5;pmax=60"));
	assert_null(strstr(str(r, "payload_text"), "gt="));
	json_decref(r);
	/* Invalid: pmin > pmax, negative step, lt >= gt, gt on an instance,
	 * a step on a boolean, unknown attribute, garbage value. */
	check(e, "4.00", "raw op-io PUT /3303/0/5700?pmin=70&pmax=60");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?st=-1");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?gt=10&lt=20");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?gt=10&lt=5&st=3");
	check(e, "4.00", "raw op-io PUT /3303/0?gt=10");
	check(e, "4.00", "raw op-io PUT /3201/0/5550?st=1");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?edge=1"); /* edge: booleans only */
	check(e, "2.04", "raw op-io PUT /3201/0/5550?edge=1");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?colour=red");
	check(e, "4.00", "raw op-io PUT /3303/0/5700?pmin=abc");
	check(e, "4.04", "raw op-io PUT /3303/7?pmin=1");
	/* Nothing of a refused request was kept. */
	r = expect(e, "2.05", "discover op-io /3303/0/5700");
	assert_non_null(strstr(str(r, "payload_text"), "</3303/0/5700>;pmin=5;pmax=60"));
	json_decref(r);
}

static void create_and_delete(void **state)
{
	struct env *e = *state;

	check(e, "4.05", "raw op-io POST /3303 -");     /* Create: instances are fixed */
	check(e, "4.04", "raw op-io POST /9999 -");     /* no such object */
	check(e, "4.05", "raw op-io DELETE /3303/0");   /* a physical sensor */
	check(e, "4.04", "raw op-io DELETE /3303/9");
	check(e, "4.05", "raw op-io DELETE /3303/0/5700");
	check(e, "4.01", "raw op-io DELETE /0/0");
}

static void slow_device_gets_a_separate_answer(void **state)
{
	struct env *e = *state;
	json_t *r;

	/* The initial read and the first write succeed; the second write
	 * hangs until the gateway gives up on the device (operation_timeout,
	 * 3 s here) and answers 5.04. */
	check(e, "2.04", "write op-slow /3201/0/5550 text 1");
	r = h_request(&e->srv, 15000, "write op-slow /3201/0/5550 text 0");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "5.04");
	json_decref(r);
	/* Meanwhile the other device was served as usual. */
	json_decref(expect(e, "2.05", "read op-io /3201/0/5550 text"));
}

static char *hex(const char *s)
{
	size_t n = strlen(s);
	char *h = malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++)
		sprintf(h + 2 * i, "%02x", (unsigned char)s[i]);
	h[2 * n] = '\0';
	return h;
}

static json_t *record(json_t *resp, const char *path)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(resp, "records"), i, r)
		if (strcmp(str(r, "path"), path) == 0)
			return json_object_get(r, "value");
	return NULL;
}

static void read_composite(void **state)
{
	struct env *e = *state;
	char *body = hex("[{\"n\":\"/3304/0/5700\"},{\"n\":\"/3201/0\"},{\"n\":\"/3/0/0\"},"
			 "{\"n\":\"/3303/5\"}]");
	json_t *r;

	/* SenML-ETCH JSON path list, answered in SenML JSON and in SenML CBOR;
	 * /3303/5 does not exist and is left out. */
	r = expect(e, "2.05", "raw op-io FETCH / %s ct=320 accept=110", body);
	assert_float_equal(json_number_value(record(r, "/3304/0/5700")), 45.5, 0);
	assert_non_null(record(r, "/3201/0/5550"));
	assert_string_equal(json_string_value(record(r, "/3/0/0")), "gatewayd");
	json_decref(r);
	r = expect(e, "2.05", "raw op-io FETCH / %s ct=320 accept=112", body);
	assert_int_equal(json_integer_value(json_object_get(r, "ct")), 112);
	assert_float_equal(json_number_value(record(r, "/3304/0/5700")), 45.5, 0);
	json_decref(r);
	free(body);
	body = hex("[{\"n\":\"/0/0\"}]");
	check(e, "4.01", "raw op-io FETCH / 5b7b226e223a222f302f30227d5d ct=320 accept=110");
	free(body);
	body = hex("[{\"n\":\"/3305\"}]");
	json_decref(expect(e, "4.04", "raw op-io FETCH / %s ct=320 accept=110", body));
	free(body);
	check(e, "4.00", "raw op-io FETCH / 5b7b ct=320 accept=110"); /* truncated */
	check(e, "4.15", "raw op-io FETCH / 5b5d ct=0 accept=110");
	check(e, "4.05", "raw op-io FETCH /3303 5b5d ct=320 accept=110");
}

static void write_composite(void **state)
{
	struct env *e = *state;
	char *body = hex("[{\"n\":\"/3201/0/5550\",\"vb\":true},"
			 "{\"n\":\"/3308/0/5900\",\"v\":22.5}]");

	json_decref(expect(e, "2.04", "raw op-io IPATCH / %s ct=110", body));
	free(body);
	read_text_is(e, "/3201/0/5550", "1");
	read_text_is(e, "/3308/0/5900", "22.5");
	/* One bad record (out of the set point's range) refuses them all. */
	body = hex("[{\"n\":\"/3201/0/5550\",\"vb\":false},"
		   "{\"n\":\"/3308/0/5900\",\"v\":99}]");
	json_decref(expect(e, "4.00", "raw op-io IPATCH / %s ct=110", body));
	free(body);
	read_text_is(e, "/3201/0/5550", "1");
	read_text_is(e, "/3308/0/5900", "22.5");
}

static void large_values_go_block_wise(void **state)
{
	struct env *e = *state;
	char big[3001];
	json_t *r;

	/* 3000 bytes: more than one CoAP block each way (Block1 for the
	 * write, Block2 for the read). */
	for (int i = 0; i < 3000; i++)
		big[i] = (char)('a' + i % 26);
	big[3000] = '\0';
	read_text_is(e, "/3341/0/5527", "hello");
	json_decref(expect(e, "2.04", "write op-io /3341/0/5527 text %s", big));
	r = expect(e, "2.05", "read op-io /3341/0/5527 text");
	assert_int_equal(strlen(str(r, "payload_text")), 3000);
	assert_string_equal(str(r, "payload_text"), big);
	json_decref(r);
}

static void reads_in_every_format(void **state)
{
	struct env *e = *state;
	static const char *const instance_fmts[] = {"tlv", "senml-json", "senml-cbor",
						    "lwm2m-json", "lwm2m-cbor"};
	json_t *r;

	for (size_t i = 0; i < sizeof(instance_fmts) / sizeof(instance_fmts[0]); i++) {
		r = expect(e, "2.05", "read op-io /3304/0 %s", instance_fmts[i]);
		if (!record(r, "/3304/0/5700"))
			fail_msg("%s: %s", instance_fmts[i], json_dumps(r, 0));
		assert_float_equal(json_number_value(record(r, "/3304/0/5700")), 45.5, 0);
		json_decref(r);
	}
	/* Single-value formats. */
	r = expect(e, "2.05", "read op-io /3304/0/5700 cbor");
	assert_int_equal(json_integer_value(json_object_get(r, "ct")), 60);
	assert_float_equal(json_number_value(record(r, "/3304/0/5700")), 45.5, 0);
	json_decref(r);
	r = expect(e, "2.05", "read op-io /3304/0/5700 text");
	assert_int_equal(json_integer_value(json_object_get(r, "ct")), 0);
	json_decref(r);
	check(e, "4.06", "read op-io /3304/0 cbor"); /* CBOR carries one value */
}

static void device_time_and_sensor_range(void **state)
{
	struct env *e = *state;
	json_t *r;
	long long t;

	/* Current Time follows the clock... */
	r = expect(e, "2.05", "read op-io /3/0/13 text");
	t = atoll(str(r, "payload_text"));
	json_decref(r);
	assert_true(llabs(t - (long long)time(NULL)) < 60);
	/* ...and a server may set it (an offset: the system clock stays). */
	check(e, "2.04", "write op-io /3/0/13 text 1000000000");
	r = expect(e, "2.05", "read op-io /3/0/13 text");
	t = atoll(str(r, "payload_text"));
	json_decref(r);
	assert_true(t >= 1000000000 && t < 1000000060);
	json_decref(expect(e, "2.05", "read op-io /3/0/14 text")); /* UTC Offset */
	/* A read-only point's limits are the sensor's range. */
	read_text_is(e, "/3303/0/5603", "-40");
	read_text_is(e, "/3303/0/5604", "85");
}

/* The file is written off the loop thread (issue 16, item 12d): a FIFO left
 * at its temporary name, which blocked the loop in open(2) for good when
 * the loop wrote the file itself, delays nothing; and of two writes in a
 * row, the last survives the restart that follows at once. */
static void application_type_survives_a_restart(void **state)
{
	struct env *e = *state;
	char *fifo = h_strf("%s/io.apptype.tmp", e->dir);
	json_t *ev;

	assert_int_equal(mkfifo(fifo, 0600), 0);
	free(fifo);
	read_text_is(e, "/3303/0/5750", "");
	check(e, "2.04", "write op-io /3303/0/5750 text Outdoor");
	read_text_is(e, "/3303/0/5750", "Outdoor");
	check(e, "2.04", "write op-io /3303/0/5750 text Outdoor north");
	read_text_is(e, "/3303/0/5750", "Outdoor north");
	/* Restart the daemon: the server names the sensor once. */
	assert_int_equal(WEXITSTATUS(h_stop(&e->gw, SIGTERM, 5000)), 0);
	ev = h_wait_event(&e->srv, "deregister", "ep", "op-io", H_TIMEOUT_MS);
	json_decref(ev);
	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, e->conf), 0);
	ev = h_wait_event(&e->srv, "register", "ep", "op-io", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	read_text_is(e, "/3303/0/5750", "Outdoor north");
}

/* Disable with a Disable Timeout of 0: 0 s, not the 86400 s default for an
 * unset timeout; the 2.04 comes, then the de-register, then at once a new
 * registration. */
static void disable_timeout_zero_registers_again(void **state)
{
	struct env *e = *state;
	json_t *ev;

	check(e, "2.04", "write op-io /1/0/5 text 0");
	check(e, "2.04", "execute op-io /1/0/4");
	ev = h_wait_event(&e->srv, "deregister", "ep", "op-io", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&e->srv, "register", "ep", "op-io", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	read_text_is(e, "/1/0/5", "0");
}

/* The Error Code's only instance, from a read or notification in SenML. */
static long error_code_in(json_t *r)
{
	json_t *recs = json_object_get(r, "records");

	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(str(json_array_get(recs, 0), "path"), "/3/0/11/0");
	return (long)json_number_value(json_object_get(json_array_get(recs, 0), "value"));
}

/* Observe /3/0/11 of op-mute; wait until it shows want.  Returns the id. */
static char *observe_error_code_until(struct env *e, long want)
{
	json_t *r = expect(e, "2.05", "observe op-mute /3/0/11 senml-json");
	char *id = strdup(str(r, "id"));
	long code = error_code_in(r);

	assert_true(json_is_true(json_object_get(r, "observing")));
	json_decref(r);
	while (code != want) {
		json_t *n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
		if (!n)
			fail_msg("no notification of /3/0/11 = %ld", want);
		code = error_code_in(n);
		json_decref(n);
	}
	return id;
}

/* Items 8 and 3: a device that stops answering without an error is stale
 * after 3 poll periods: its point reads 5.03 and /3/0/11 shows 8.  Reset
 * Error Code (2.04) clears it to 0 until another limit passes in silence.
 * Reboot (2.04) restarts the device's adapter state, which cancels the
 * read it never answered, and its registration: the next values come, and
 * with them 2.05 and error code 0. */
static void silent_device_stale_reset_and_reboot(void **state)
{
	struct env *e = *state;
	char *id = observe_error_code_until(e, 8);
	json_t *n, *r;

	check(e, "5.03", "read op-mute /3316/0/5700 text");
	r = expect(e, "2.05", "read op-mute /3/0/11 senml-json");
	assert_int_equal(error_code_in(r), 8);
	json_decref(r);

	check(e, "2.04", "execute op-mute /3/0/12");
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS);
	assert_non_null(n);
	assert_int_equal(error_code_in(n), 0);
	json_decref(n);
	n = h_wait_event(&e->srv, "notify", "id", id, H_TIMEOUT_MS); /* still silent */
	assert_non_null(n);
	assert_int_equal(error_code_in(n), 8);
	json_decref(n);
	json_decref(expect(e, "2.05", "cancel op-mute /3/0/11"));
	free(id);

	check(e, "2.04", "execute op-mute /3/0/4");
	n = h_wait_event(&e->srv, "deregister", "ep", "op-mute", H_TIMEOUT_MS);
	assert_non_null(n);
	json_decref(n);
	n = h_wait_event(&e->srv, "register", "ep", "op-mute", H_TIMEOUT_MS);
	assert_non_null(n);
	json_decref(n);
	free(observe_error_code_until(e, 0));
	r = expect(e, "2.05", "read op-mute /3316/0/5700 text");
	assert_string_equal(str(r, "payload_text"), "230");
	json_decref(r);
	/* The other devices' Reboot and Reset Error Code answer too. */
	check(e, "2.04", "execute op-io /3/0/12");
	check(e, "4.05", "execute op-io /3/0/11");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_reaches_the_device),
		cmocka_unit_test(write_goes_through_the_inverse_transform),
		cmocka_unit_test(partial_update_on_an_instance),
		cmocka_unit_test(write_errors),
		cmocka_unit_test(mixed_write_is_all_or_nothing),
		cmocka_unit_test(execute_routes_to_the_device),
		cmocka_unit_test(execute_ipso_reset_min_max),
		cmocka_unit_test(execute_registration_update_trigger),
		cmocka_unit_test(writing_the_lifetime_updates_the_registration),
		cmocka_unit_test(write_attributes_and_discover),
		cmocka_unit_test(create_and_delete),
		cmocka_unit_test(read_composite),
		cmocka_unit_test(write_composite),
		cmocka_unit_test(large_values_go_block_wise),
		cmocka_unit_test(reads_in_every_format),
		cmocka_unit_test(device_time_and_sensor_range),
		cmocka_unit_test(slow_device_gets_a_separate_answer),
		cmocka_unit_test(application_type_survives_a_restart),
		cmocka_unit_test(disable_timeout_zero_registers_again),
		cmocka_unit_test(silent_device_stale_reset_and_reboot),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("ops", tests, setup, teardown);
}
