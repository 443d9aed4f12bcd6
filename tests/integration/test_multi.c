/* One device, several LwM2M servers: the device registers with two test
 * servers (two processes), each with its own Server instance in the one
 * shared data model; each server reads the device, observations stay with
 * the server that made them, Access Control gives the two servers different
 * rights, and shutdown de-registers from both. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

struct env {
	char *dir, *conf;
	struct proc a, b, gw;
	json_t *reg_a, *reg_b;
};

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *text;
	int pa, pb;

	*state = e;
	e->dir = h_tmpdir();
	pa = h_start_server_args(&e->a, e->dir, 0, NULL);
	pb = h_start_server_args(&e->b, e->dir, 0, NULL);
	if (pa <= 0 || pb <= 0)
		return -1;
	if (asprintf(&text,
		     "gateway = { name = \"mu\"; state_dir = \"%s\"; };\n"
		     "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 60; },\n"
		     "            { name = \"b\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 90;\n"
		     "              short_id = 7; } );\n"
		     "devices = ( { name = \"d\"; adapter = \"sim\";\n"
		     /* a owns everything; b reads, except 3304 which it may not see. */
		     "  access = ( { server = \"b\"; objects = [ 3304 ]; rights = \"\"; } );\n"
		     "  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.1;\n"
		     "               waveform = \"constant\"; base = 21.5; },\n"
		     "             { channel = \"h\"; path = \"/3304/0/5700\"; poll = 0.1;\n"
		     "               waveform = \"constant\"; base = 45.5; },\n"
		     "             { channel = \"relay\"; path = \"/3201/0/5550\"; poll = 0.1;\n"
		     "               waveform = \"output\"; type = \"bool\"; initial = false; },\n"
		     "             { channel = \"count\"; path = \"/3200/0/5501\"; poll = 0.1;\n"
		     "               waveform = \"counter\"; base = 100.0; step = 1.0; period = 0.1;\n"
		     "               type = \"int\"; },\n"
		     "             { channel = \"reset\"; path = \"/3200/0/5505\";\n"
		     "               waveform = \"execute\"; target = \"count\"; action = \"reset\"; }\n"
		     "  ); } );\n",
		     e->dir, pa, pb) < 0)
		return -1;
	e->conf = h_write_config(e->dir, "gatewayd.conf", text, 0);
	free(text);
	if (h_start_gatewayd(&e->gw, e->dir, e->conf) < 0)
		return -1;
	e->reg_a = h_wait_event(&e->a, "register", "ep", "mu-d", H_TIMEOUT_MS);
	e->reg_b = h_wait_event(&e->b, "register", "ep", "mu-d", H_TIMEOUT_MS);
	if (!e->reg_a || !e->reg_b) {
		char *log;
		if (asprintf(&log, "%s/gatewayd.log", e->dir) > 0) {
			h_dump_file(log);
			free(log);
		}
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	int status = 0;

	if (e->gw.pid > 0)
		status = h_stop(&e->gw, SIGTERM, 5000);
	if (e->a.pid > 0)
		h_stop(&e->a, SIGTERM, 5000);
	if (e->b.pid > 0)
		h_stop(&e->b, SIGTERM, 5000);
	json_decref(e->reg_a);
	json_decref(e->reg_b);
	if (e->dir)
		h_tmpdir_remove(e->dir);
	free(e->conf);
	free(e);
	return status == 0 ? 0 : -1;
}

static json_t *request(struct proc *srv, const char *code, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = h_request(srv, H_TIMEOUT_MS, "%s", cmd);
	if (!r)
		fail_msg("%s: no answer", cmd);
	if (strcmp(str(r, "code"), code) != 0)
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	return r;
}

/* Each server got the objects it may read and its own Server instance;
 * never the Security object. */
static void registers_with_both(void **state)
{
	struct env *e = *state;
	const char *la = str(e->reg_a, "links"), *lb = str(e->reg_b, "links");

	assert_non_null(strstr(la, "</1/0>"));
	assert_null(strstr(la, "</1/1>"));
	assert_non_null(strstr(lb, "</1/1>"));
	assert_null(strstr(lb, "</1/0>"));
	assert_non_null(strstr(la, "</3304/0>"));
	assert_null(strstr(lb, "</3304/0>"));
	assert_non_null(strstr(la, "</2/0>")); /* anyone may read Object 2 */
	assert_non_null(strstr(lb, "</2/0>"));
	for (size_t i = 0; i < 2; i++) {
		const char *links = i ? lb : la;
		assert_non_null(strstr(links, "</3/0>"));
		assert_non_null(strstr(links, "</3303/0>"));
		assert_non_null(strstr(links, "</3201/0>"));
		assert_null(strstr(links, "</0"));
	}
	assert_int_equal(json_integer_value(json_object_get(e->reg_a, "lt")), 60);
	assert_int_equal(json_integer_value(json_object_get(e->reg_b, "lt")), 90);
}

static double read_temperature(struct proc *srv)
{
	json_t *r = NULL;
	double v;

	/* The first reading may still be on its way: 5.03 until then. */
	for (int tries = 0; tries < 200; tries++) {
		json_decref(r);
		r = h_request(srv, H_TIMEOUT_MS, "read mu-d /3303/0/5700 text");
		if (r && strcmp(str(r, "code"), "2.05") == 0)
			break;
	}
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	v = atof(str(r, "payload_text"));
	json_decref(r);
	return v;
}

static void each_server_reads(void **state)
{
	struct env *e = *state;
	json_t *r;

	assert_float_equal(read_temperature(&e->a), 21.5, 1e-9);
	assert_float_equal(read_temperature(&e->b), 21.5, 1e-9);
	/* Each server's own Server instance, not the other's. */
	r = request(&e->a, "2.05", "read mu-d /1/0/0 text");
	assert_string_equal(str(r, "payload_text"), "1");
	json_decref(r);
	r = request(&e->b, "2.05", "read mu-d /1/1/0 text");
	assert_string_equal(str(r, "payload_text"), "7");
	json_decref(r);
	json_decref(request(&e->b, "4.01", "read mu-d /1/0/0 text"));
	json_decref(request(&e->a, "4.01", "read mu-d /1/1"));
	json_decref(request(&e->a, "4.01", "read mu-d /0/0"));
}

/* Write-Attributes and Observe are per server: B's observation notifies B
 * only; A's Registration Update Trigger updates A's registration only. */
static void observations_are_per_server(void **state)
{
	struct env *e = *state;
	json_t *r, *ev;

	json_decref(request(&e->b, "2.04", "raw mu-d PUT /3303/0/5700?pmax=1 -"));
	r = request(&e->b, "2.05", "observe mu-d /3303/0/5700 text");
	assert_true(json_is_true(json_object_get(r, "observing")));
	json_decref(r);
	ev = h_wait_event(&e->b, "notify", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* A has no attributes there: Discover shows none. */
	r = request(&e->a, "2.05", "discover mu-d /3303/0/5700");
	assert_null(strstr(str(r, "payload_text"), "pmax"));
	json_decref(r);
	r = request(&e->b, "2.05", "discover mu-d /3303/0/5700");
	assert_non_null(strstr(str(r, "payload_text"), "pmax=1"));
	json_decref(r);

	json_decref(request(&e->a, "2.04", "execute mu-d /1/0/8"));
	ev = h_wait_event(&e->a, "update", "ep", "mu-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
}

/* A server writes its own lifetime: that registration sends an Update
 * with the new lifetime, the other one is untouched. */
static void lifetime_write_updates_that_server(void **state)
{
	struct env *e = *state;
	json_t *ev, *r;

	json_decref(request(&e->b, "2.04", "write mu-d /1/1/1 text 120"));
	ev = h_wait_event(&e->b, "update", "ep", "mu-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 120);
	json_decref(ev);
	r = request(&e->a, "2.05", "read mu-d /1/0/1 text");
	assert_string_equal(str(r, "payload_text"), "60");
	json_decref(r);
	/* The 1.1 registration sequence is published, and writable. */
	r = request(&e->b, "2.05", "read mu-d /1/1/17 text");
	assert_string_equal(str(r, "payload_text"), "6");
	json_decref(r);
	json_decref(request(&e->b, "2.04", "write mu-d /1/1/17 text 3"));
	r = request(&e->b, "2.05", "read mu-d /1/1/17 text");
	assert_string_equal(str(r, "payload_text"), "3");
	json_decref(r);
	json_decref(request(&e->b, "4.05", "write mu-d /1/1/15 text 1")); /* R only */
}

/* The owner (a) reads, writes and executes; b reads but gets 4.01 on
 * write, execute, delete, and on the object hidden from it. */
static void rights_differ(void **state)
{
	struct env *e = *state;

	json_decref(request(&e->a, "2.04", "write mu-d /3201/0/5550 text 1"));
	json_decref(request(&e->b, "4.01", "write mu-d /3201/0/5550 text 0"));
	json_decref(request(&e->a, "2.05", "read mu-d /3201/0/5550 text"));
	json_decref(request(&e->b, "2.05", "read mu-d /3201/0/5550 text"));
	json_decref(request(&e->a, "2.04", "execute mu-d /3200/0/5505"));
	json_decref(request(&e->b, "4.01", "execute mu-d /3200/0/5505"));
	json_decref(request(&e->b, "4.01", "raw mu-d DELETE /3303/0"));
	json_decref(request(&e->a, "4.05", "raw mu-d DELETE /3303/0"));
	/* Another server's account: no rights at all. */
	json_decref(request(&e->b, "4.01", "write mu-d /1/0/1 text 30"));
	json_decref(request(&e->b, "4.01", "execute mu-d /1/0/8"));
	/* Hidden: read, discover, observe, attributes. */
	json_decref(request(&e->b, "4.01", "read mu-d /3304/0/5700 text"));
	json_decref(request(&e->b, "4.01", "read mu-d /3304"));
	json_decref(request(&e->b, "4.01", "discover mu-d /3304"));
	json_decref(request(&e->b, "4.01", "observe mu-d /3304/0/5700 text"));
	json_decref(request(&e->b, "4.01", "raw mu-d PUT /3304/0/5700?pmax=5 -"));
	json_decref(request(&e->a, "2.05", "read mu-d /3304/0/5700 text"));
}

/* The Access Control instance of /oid/0, from a's read of Object 2. */
static int ac_instance_of(struct env *e, int oid)
{
	json_t *r = request(&e->b, "2.05", "read mu-d /2 senml-json"), *rec;
	size_t i;
	int found = -1;

	json_array_foreach(json_object_get(r, "records"), i, rec) {
		int x;
		char tail[16];
		if (sscanf(str(rec, "path"), "/2/%d/%15s", &x, tail) == 2 &&
		    strcmp(tail, "0") == 0 &&
		    json_integer_value(json_object_get(rec, "value")) == oid)
			found = x;
	}
	json_decref(r);
	return found;
}

/* The ACL is read from the model's Object 2: when the owner grants b the
 * Write right there, b may write; b may not change Object 2 itself. */
static void owner_grants_through_object_2(void **state)
{
	struct env *e = *state;
	int ac = ac_instance_of(e, 3201);
	json_t *r;

	assert_true(ac >= 0);
	r = request(&e->b, "2.05", "read mu-d /2/%d/3 text", ac);
	assert_string_equal(str(r, "payload_text"), "1"); /* a owns it */
	json_decref(r);
	json_decref(request(&e->b, "4.01", "write mu-d /2/%d/2/7 text 3", ac));
	json_decref(request(&e->b, "4.01", "write mu-d /3201/0/5550 text 0"));
	json_decref(request(&e->a, "2.04", "write mu-d /2/%d/2/7 text 3", ac));
	json_decref(request(&e->b, "2.04", "write mu-d /3201/0/5550 text 0"));
	/* The default entry (key 0, "R") is still there for others. */
	r = request(&e->a, "2.05", "read mu-d /2/%d/2/0 text", ac);
	assert_string_equal(str(r, "payload_text"), "1");
	json_decref(r);
	json_decref(request(&e->b, "4.01", "raw mu-d POST /2 -"));
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

/* Write-Composite checks the Write right on each record's instance also
 * when the record adds a resource instance: b may not add its own entry
 * to an ACL it does not own (and so grant itself every right). */
static void composite_cannot_grant_itself(void **state)
{
	struct env *e = *state;
	int ac = ac_instance_of(e, 3303);
	char rec[128], *body;

	assert_true(ac >= 0);
	snprintf(rec, sizeof(rec), "[{\"n\":\"/2/%d/2/7\",\"v\":31}]", ac);
	body = hex(rec);
	json_decref(request(&e->b, "4.01", "raw mu-d IPATCH / %s ct=110", body));
	free(body);
	json_decref(request(&e->a, "4.04", "read mu-d /2/%d/2/7 text", ac));
	json_decref(request(&e->b, "4.01", "raw mu-d DELETE /3303/0"));
}

static void shutdown_deregisters_from_both(void **state)
{
	struct env *e = *state;
	json_t *da, *db;

	assert_int_equal(h_stop(&e->gw, SIGTERM, 5000), 0);
	e->gw.pid = 0;
	da = h_wait_event(&e->a, "deregister", "ep", "mu-d", H_TIMEOUT_MS);
	db = h_wait_event(&e->b, "deregister", "ep", "mu-d", H_TIMEOUT_MS);
	assert_non_null(da);
	assert_non_null(db);
	json_decref(da);
	json_decref(db);
}

/* Queue mode: LwM2M 1.0 puts Q in the binding (b=UQ); from 1.1 on b= has
 * the transports only and queue mode is the separate Q parameter. */
static void queue_mode_per_version(void **state)
{
	struct proc s10 = {0}, s11 = {0}, gw = {0};
	char *dir = h_tmpdir(), *text, *conf;
	int p10, p11;
	json_t *r10, *r11;

	(void)state;
	p10 = h_start_server_args(&s10, dir, 0, NULL);
	p11 = h_start_server_args(&s11, dir, 0, NULL);
	assert_true(p10 > 0 && p11 > 0);
	if (asprintf(&text,
		     "gateway = { name = \"q\"; state_dir = \"%s\"; };\n"
		     "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; version = \"1.0\";\n"
		     "              binding = \"UQ\"; },\n"
		     "            { name = \"b\"; uri = \"coap://127.0.0.1:%d\"; version = \"1.1\";\n"
		     "              binding = \"UQ\"; short_id = 7; } );\n"
		     "devices = ( { name = \"d\"; adapter = \"sim\";\n"
		     "  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.1;\n"
		     "               waveform = \"constant\"; base = 21.5; } ); } );\n",
		     dir, p10, p11) < 0)
		abort();
	conf = h_write_config(dir, "gatewayd.conf", text, 0);
	free(text);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	r10 = h_wait_event(&s10, "register", "ep", "q-d", H_TIMEOUT_MS);
	r11 = h_wait_event(&s11, "register", "ep", "q-d", H_TIMEOUT_MS);
	assert_non_null(r10);
	assert_non_null(r11);
	assert_string_equal(str(r10, "lwm2m"), "1.0");
	assert_string_equal(str(r10, "b"), "UQ");
	assert_true(json_is_true(json_object_get(r10, "queue")));
	assert_string_equal(str(r11, "lwm2m"), "1.1");
	assert_string_equal(str(r11, "b"), "U");
	assert_true(json_is_true(json_object_get(r11, "queue")));
	json_decref(r10);
	json_decref(r11);
	assert_int_equal(h_stop(&gw, SIGTERM, 5000), 0);
	h_stop(&s10, SIGTERM, 5000);
	h_stop(&s11, SIGTERM, 5000);
	h_tmpdir_remove(dir);
	free(conf);
}

/* Lifetime 0 is infinite in LwM2M 1.2: a 1.2 registration takes a DM
 * Write of 0 and tells its server (lt=0); for 1.1 it stays a bad value. */
static void lifetime_zero_only_in_1_2(void **state)
{
	struct proc s12 = {0}, s11 = {0}, gw = {0};
	char *dir = h_tmpdir(), *text, *conf;
	int p12, p11;
	json_t *ev;

	(void)state;
	p12 = h_start_server_args(&s12, dir, 0, NULL);
	p11 = h_start_server_args(&s11, dir, 0, NULL);
	assert_true(p12 > 0 && p11 > 0);
	if (asprintf(&text,
		     "gateway = { name = \"l\"; state_dir = \"%s\"; };\n"
		     "servers = ( { name = \"a\"; uri = \"coap://127.0.0.1:%d\"; version = \"1.2\";\n"
		     "              lifetime = 60; },\n"
		     "            { name = \"b\"; uri = \"coap://127.0.0.1:%d\"; version = \"1.1\";\n"
		     "              lifetime = 60; short_id = 7; } );\n"
		     "devices = ( { name = \"d\"; adapter = \"sim\";\n"
		     "  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.1;\n"
		     "               waveform = \"constant\"; base = 21.5; } ); } );\n",
		     dir, p12, p11) < 0)
		abort();
	conf = h_write_config(dir, "gatewayd.conf", text, 0);
	free(text);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	ev = h_wait_event(&s12, "register", "ep", "l-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&s11, "register", "ep", "l-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	json_decref(request(&s12, "2.04", "write l-d /1/0/1 text 0"));
	ev = h_wait_event(&s12, "update", "ep", "l-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 0);
	json_decref(ev);
	json_decref(request(&s12, "2.05", "read l-d /1/0/1 text"));
	json_decref(request(&s11, "4.00", "write l-d /1/1/1 text 0"));
	/* Back to a finite lifetime: told at once. */
	json_decref(request(&s12, "2.04", "write l-d /1/0/1 text 30"));
	ev = h_wait_event(&s12, "update", "ep", "l-d", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 30);
	json_decref(ev);
	assert_int_equal(h_stop(&gw, SIGTERM, 5000), 0);
	h_stop(&s12, SIGTERM, 5000);
	h_stop(&s11, SIGTERM, 5000);
	h_tmpdir_remove(dir);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registers_with_both),
		cmocka_unit_test(each_server_reads),
		cmocka_unit_test(observations_are_per_server),
		cmocka_unit_test(lifetime_write_updates_that_server),
		cmocka_unit_test(rights_differ),
		cmocka_unit_test(owner_grants_through_object_2),
		cmocka_unit_test(composite_cannot_grant_itself),
		cmocka_unit_test(shutdown_deregisters_from_both),
		cmocka_unit_test(queue_mode_per_version),
		cmocka_unit_test(lifetime_zero_only_in_1_2),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests(tests, setup, teardown);
}
