/* Firmware forwarding end to end: the test server pushes packages by Block1
 * to sim devices' Object 5, observes State and Update Result through every
 * transition (with a pmin that must not swallow any), executes Update and
 * sees /3/0/3 change; failure paths with their Update Result; Cancel; the
 * daemon stopped in the middle of a push and in Downloaded. */
#include <errno.h>
#include <fcntl.h>
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
#include "../fw_image.h"

#define MIB (1024u * 1024u)

struct env {
	char *dir;
	struct proc srv, gw;
	int port;
	char *config;
	unsigned obs;
};

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void dump_log(struct env *e)
{
	char *log = h_strf("%s/gatewayd.log", e->dir);

	h_dump_file(log);
	free(log);
}

static bool wait_register(struct env *e, const char *ep, json_t **out)
{
	json_t *r = h_wait_event(&e->srv, "register", "ep", ep, H_TIMEOUT_MS);

	if (!r) {
		dump_log(e);
		return false;
	}
	if (out)
		*out = r;
	else
		json_decref(r);
	return true;
}

static int start_daemon(struct env *e)
{
	if (h_start_gatewayd(&e->gw, e->dir, e->config) < 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		static const char *const eps[] = {"fw-fw", "fw-fwbad", "fw-fwapply", "fw-plain"};
		if (!wait_register(e, eps[i], NULL))
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *tmpl;

	*state = e;
	if (h_skip_without_sim())
		return -1;
	e->dir = h_tmpdir();
	if (!e->dir)
		return -1;
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	tmpl = h_strf(
		"gateway = { name = \"fw\"; endpoint_pattern = \"%%g-%%d\"; state_dir = \"%s\";\n"
		"  firmware_max_size = 2097152; };\n"
		"servers = ( { name = \"test\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
		"profiles = ( { name = \"updatable\"; adapter = \"sim\"; firmware = true;\n"
		"    fw_reboot_time = 0.3; fw_version = \"1.0.0\";\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		"                 waveform = \"constant\"; base = 20.0; } ); } );\n"
		"devices = (\n"
		"  { name = \"fw\"; profile = \"updatable\"; },\n"
		"  { name = \"fwbad\"; profile = \"updatable\"; fw_fail = \"corrupt\"; },\n"
		"  { name = \"fwapply\"; profile = \"updatable\"; fw_fail = \"apply\"; },\n"
		"  { name = \"plain\"; adapter = \"sim\";\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		"                 waveform = \"constant\"; base = 20.0; } ); }\n"
		");\n",
		e->dir);
	e->config = h_write_config(e->dir, "gatewayd.conf", tmpl, e->port);
	free(tmpl);
	return start_daemon(e);
}

/* Stop the daemon by its PID; it must exit cleanly (under GW_VALGRIND=1,
 * 99 on any memory error or leak). */
static void stop_daemon(struct env *e)
{
	int st = h_stop(&e->gw, SIGTERM, 10000);

	if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		dump_log(e);
		fail_msg("gatewayd did not exit cleanly (status %d)", st);
	}
}

static int teardown(void **state)
{
	struct env *e = *state;
	int st = 0;

	if (!e)
		return 0;
	if (e->gw.pid > 0)
		st = h_stop(&e->gw, SIGTERM, 10000);
	if (e->srv.pid > 0)
		h_stop(&e->srv, SIGTERM, 5000);
	if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		dump_log(e);
		fprintf(stderr, "gatewayd did not exit cleanly (status %d)\n", st);
		st = -1;
	} else {
		st = 0;
	}
	free(e->config);
	if (e->dir)
		h_tmpdir_remove(e->dir);
	free(e);
	return st;
}

/* A file in the test's directory holding data. */
static char *write_file(struct env *e, const char *name, const uint8_t *data, size_t len)
{
	char *path = h_strf("%s/%s", e->dir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static bool file_exists(struct env *e, const char *name)
{
	char *path = h_strf("%s/%s", e->dir, name);
	struct stat st;
	bool r = stat(path, &st) == 0;

	free(path);
	return r;
}

static json_t *request_ok(struct env *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *request_ok(struct env *e, const char *code, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = h_request(&e->srv, 30000, "%s", cmd);
	assert_non_null(r);
	if (strcmp(str(r, "code"), code) != 0) {
		dump_log(e);
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	}
	return r;
}

static long read_int(struct env *e, const char *ep, const char *path)
{
	json_t *r = request_ok(e, "2.05", "read %s %s text", ep, path);
	long v = atol(str(r, "payload_text"));

	json_decref(r);
	return v;
}

static void expect_int(struct env *e, const char *ep, const char *path, long want)
{
	long v = read_int(e, ep, path);

	if (v != want) {
		dump_log(e);
		fail_msg("%s %s: expected %ld, read %ld", ep, path, want, v);
	}
}

/* Observe path (text) with a pmin that would coalesce a burst; returns the
 * observation's id. */
static char *observe(struct env *e, const char *ep, const char *path)
{
	char *id = h_strf("obs%u", ++e->obs);
	json_t *r;

	r = request_ok(e, "2.04", "raw %s PUT %s?pmin=30 -", ep, path);
	json_decref(r);
	h_send(&e->srv, "observe %s %s %s text", id, ep, path);
	r = h_wait_event(&e->srv, "response", "id", id, H_TIMEOUT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "observing")));
	json_decref(r);
	return id;
}

/* The next notifications of observation id carry exactly these values. */
static void expect_notifies(struct env *e, const char *id, const long *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *ev = h_wait_event(&e->srv, "notify", "id", id, 30000);
		if (!ev) {
			dump_log(e);
			fail_msg("observation %s: no notification #%zu (expected %ld)", id, i + 1,
				 want[i]);
		}
		if (atol(str(ev, "payload_text")) != want[i]) {
			dump_log(e);
			fail_msg("observation %s: notification #%zu is %s, expected %ld", id, i + 1,
				 str(ev, "payload_text"), want[i]);
		}
		json_decref(ev);
	}
}

/* Wait until path reads want (the daemon acts on its own: an event, then
 * reads; a bounded number of reads, each an exchange with the daemon). */
static void wait_int(struct env *e, const char *ep, const char *obs_id, long want)
{
	for (int i = 0; i < 100; i++) {
		json_t *ev = h_wait_event(&e->srv, "notify", "id", obs_id, 30000);
		long v;
		assert_non_null(ev);
		v = atol(str(ev, "payload_text"));
		json_decref(ev);
		if (v == want)
			return;
	}
	dump_log(e);
	fail_msg("%s: never saw %ld", ep, want);
}

static uint8_t *image(size_t size, uint8_t major, uint8_t minor, size_t *len)
{
	uint8_t *img = fwi_mcuboot((uint32_t)(size - 72), major, minor, 4, 0, len);

	assert_non_null(img);
	return img;
}

static json_t *push(struct env *e, const char *ep, const char *file, const char *opts)
{
	char *args = h_strf("/5/0/0 %s %s", file, opts);
	json_t *r = h_request(&e->srv, 60000, "push %s %s", ep, args);

	free(args);
	assert_non_null(r);
	return r;
}

static void push_1mib_is_applied_and_every_state_seen(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(MIB, 2, 3, &len);
	char *file = write_file(e, "pkg-2.3.4", img, len);
	char *st = observe(e, "fw-fw", "/5/0/3"), *res = observe(e, "fw-fw", "/5/0/5");
	static const long downloads[] = {0, 1, 2}, updates[] = {3, 0};
	json_t *r;
	char *slot;

	expect_int(e, "fw-fw", "/5/0/9", 2); /* push and pull (coap, coaps, http, https) */
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fw", "/3/0/3");
	assert_string_equal(str(r, "payload_text"), "1.0.0");
	json_decref(r);
	r = push(e, "fw-fw", file, "size1");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	/* The observe's own answer carried 0; then each transition at once,
	 * though pmin is 30 s. */
	expect_notifies(e, st, downloads + 1, 2);
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fw", "/5/0/7");
	assert_string_equal(str(r, "payload_text"), "2.3.4"); /* from the MCUboot header */
	json_decref(r);
	r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/2");
	json_decref(r);
	expect_notifies(e, st, updates, 2);
	{
		static const long one[] = {1};
		expect_notifies(e, res, one, 1);
	}
	expect_int(e, "fw-fw", "/5/0/5", 1);
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fw", "/3/0/3");
	assert_string_equal(str(r, "payload_text"), "2.3.4");
	json_decref(r);
	/* The device holds exactly the package; the spool is gone. */
	slot = h_strf("%s/fw.slot.sim", e->dir);
	{
		FILE *f = fopen(slot, "rb");
		uint8_t *got = malloc(len + 1);
		assert_non_null(f);
		assert_int_equal(fread(got, 1, len + 1, f), len);
		fclose(f);
		assert_memory_equal(got, img, len);
		free(got);
	}
	assert_false(file_exists(e, "fw.fw.pkg"));
	assert_false(file_exists(e, "fw.fw.part"));
	free(slot);
	free(st);
	free(res);
	free(file);
	free(img);
}

static void only_updatable_devices_have_object_5(void **state)
{
	struct env *e = *state;
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-plain", "/5/0/3");

	assert_non_null(r);
	assert_string_equal(str(r, "code"), "4.04");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	/* A package in one request (no Block1) is taken too. */
	{
		uint8_t raw[600];
		char *file;
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (uint8_t)(i * 13);
		file = write_file(e, "small", raw, sizeof(raw));
		r = push(e, "fw-fw", file, "");
		assert_string_equal(str(r, "code"), "2.04");
		json_decref(r);
		expect_int(e, "fw-fw", "/5/0/3", 2);
		free(file);
	}
}

static void failures_give_their_results(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(64 * 1024, 3, 0, &len), *big;
	char *file = write_file(e, "pkg-3.0.4", img, len), *bad, *bigfile;
	char *res;
	json_t *r;

	/* Too large for firmware_max_size: 4.13 before a byte is stored, 2. */
	big = calloc(1, 3 * MIB);
	bigfile = write_file(e, "big", big, 3 * MIB);
	r = push(e, "fw-fw", bigfile, "size1");
	assert_string_equal(str(r, "code"), "4.13");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/5", 2);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	assert_false(file_exists(e, "fw.fw.part"));
	/* Without Size1: refused when the limit is passed, nothing kept. */
	r = push(e, "fw-fw", bigfile, "");
	assert_string_equal(str(r, "code"), "4.13");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/5", 2);
	assert_false(file_exists(e, "fw.fw.part"));
	/* A package whose digest does not match: 4.00, 5, spool deleted. */
	img[len / 2] ^= 1;
	bad = write_file(e, "bad", img, len);
	img[len / 2] ^= 1;
	r = push(e, "fw-fw", bad, "");
	assert_string_equal(str(r, "code"), "4.00");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/5", 5);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	assert_false(file_exists(e, "fw.fw.part"));
	assert_false(file_exists(e, "fw.fw.pkg"));
	/* Update outside Downloaded: 4.05. */
	r = request_ok(e, "4.05", "execute %s %s", "fw-fw", "/5/0/2");
	json_decref(r);
	/* The device finds its copy corrupt: 5, and back to Idle. */
	res = observe(e, "fw-fwbad", "/5/0/5");
	r = push(e, "fw-fwbad", file, "");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	r = request_ok(e, "2.04", "execute %s %s", "fw-fwbad", "/5/0/2");
	json_decref(r);
	wait_int(e, "fw-fwbad", res, 5);
	expect_int(e, "fw-fwbad", "/5/0/3", 0);
	free(res);
	/* Applying fails on the device: 8, the package kept (Downloaded). */
	res = observe(e, "fw-fwapply", "/5/0/5");
	r = push(e, "fw-fwapply", file, "");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	r = request_ok(e, "2.04", "execute %s %s", "fw-fwapply", "/5/0/2");
	json_decref(r);
	wait_int(e, "fw-fwapply", res, 8);
	expect_int(e, "fw-fwapply", "/5/0/3", 2);
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fwapply", "/3/0/3");
	assert_string_equal(str(r, "payload_text"), "1.0.0");
	json_decref(r);
	/* The other devices were served all along. */
	expect_int(e, "fw-plain", "/3303/0/5700", 20);
	free(res);
	free(bad);
	free(bigfile);
	free(big);
	free(file);
	free(img);
}

static void cancel_gives_10(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(256 * 1024, 4, 0, &len);
	char *file = write_file(e, "pkg-4.0.4", img, len);
	json_t *ev, *r;
	char *args = h_strf("p1 fw-fw /5/0/0 %s cut=65536", file);

	/* Cancel while Downloading: the rest of the push is refused. */
	h_send(&e->srv, "push %s", args);
	ev = h_wait_event(&e->srv, "push-cut", "id", "p1", 30000);
	assert_non_null(ev);
	json_decref(ev);
	expect_int(e, "fw-fw", "/5/0/3", 1);
	assert_true(file_exists(e, "fw.fw.part"));
	r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/10");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/5", 10);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	assert_false(file_exists(e, "fw.fw.part"));
	/* Cancel while Downloaded. */
	r = push(e, "fw-fw", file, "");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/3", 2);
	r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/10");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/5", 10);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	assert_false(file_exists(e, "fw.fw.pkg"));
	/* Cancel in Idle: nothing to cancel, 4.05. */
	r = request_ok(e, "4.05", "execute %s %s", "fw-fw", "/5/0/10");
	json_decref(r);
	/* An empty Package resets a Downloaded one to Idle, result 0. */
	r = push(e, "fw-fw", file, "");
	json_decref(r);
	r = request_ok(e, "2.04", "write %s %s opaque ", "fw-fw", "/5/0/0");
	json_decref(r);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	expect_int(e, "fw-fw", "/5/0/5", 0);
	free(args);
	free(file);
	free(img);
}

static void restart_mid_push_and_in_downloaded(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(MIB, 5, 1, &len);
	char *file = write_file(e, "pkg-5.1.4", img, len);
	char *args = h_strf("p2 fw-fw /5/0/0 %s cut=400000", file);
	json_t *ev, *r;

	/* Stopped in the middle of a push: nothing half-written stays, 4. */
	h_send(&e->srv, "push %s", args);
	ev = h_wait_event(&e->srv, "push-cut", "id", "p2", 30000);
	assert_non_null(ev);
	json_decref(ev);
	expect_int(e, "fw-fw", "/5/0/3", 1);
	stop_daemon(e);
	assert_int_equal(start_daemon(e), 0);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	expect_int(e, "fw-fw", "/5/0/5", 4);
	assert_false(file_exists(e, "fw.fw.part"));
	/* Stopped in Downloaded: the package is still there after. */
	r = push(e, "fw-fw", file, "");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	stop_daemon(e);
	assert_int_equal(start_daemon(e), 0);
	expect_int(e, "fw-fw", "/5/0/3", 2);
	{
		char *st = observe(e, "fw-fw", "/5/0/3");
		static const long upd[] = {3, 0};
		r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/2");
		json_decref(r);
		expect_notifies(e, st, upd, 2);
		free(st);
	}
	expect_int(e, "fw-fw", "/5/0/5", 1);
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fw", "/3/0/3");
	assert_string_equal(str(r, "payload_text"), "5.1.4");
	json_decref(r);
	/* And the device keeps running it after another restart. */
	stop_daemon(e);
	assert_int_equal(start_daemon(e), 0);
	r = h_request(&e->srv, H_TIMEOUT_MS, "read %s %s text", "fw-fw", "/3/0/3");
	assert_string_equal(str(r, "payload_text"), "5.1.4");
	json_decref(r);
	free(args);
	free(file);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(push_1mib_is_applied_and_every_state_seen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(only_updatable_devices_have_object_5, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failures_give_their_results, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_gives_10, setup, teardown),
		cmocka_unit_test_setup_teardown(restart_mid_push_and_in_downloaded, setup,
						teardown),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
