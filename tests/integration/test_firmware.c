/* Firmware forwarding end to end: the test server pushes packages by Block1
 * to sim devices' Object 5, observes State and Update Result through every
 * transition (with a pmin that must not swallow any), executes Update and
 * sees /3/0/3 change; failure paths with their Update Result; Cancel; the
 * daemon stopped in the middle of a push and in Downloaded.  Pulls through
 * the daemon: http:// from Python's http.server (http_files.py) with a
 * dropped connection, coap:// from a second test server's --serve, a
 * restart in the middle of a pull; the command hook; a Modbus device
 * updated through a register window on a real libmodbus slave. */
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
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
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
	struct proc http, files, slave; /* peers some tests start */
	int port;
	char *config;
	const char *const *eps; /* the endpoints a start waits for */
	bool skip;              /* what the test needs is not built */
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

static const char *const sim_eps[] = {"fw-fw",   "fw-fwbad", "fw-fwapply", "fw-plain",
				       "fw-hook", "fw-hook5", NULL};

static int start_daemon(struct env *e)
{
	if (h_start_gatewayd(&e->gw, e->dir, e->config) < 0)
		return -1;
	for (int i = 0; e->eps[i]; i++)
		if (!wait_register(e, e->eps[i], NULL))
			return -1;
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *tmpl, *flashed, *fail5, *example, top[PATH_MAX];
	FILE *f;

	*state = e;
	if (h_skip_without_sim())
		return -1;
	e->dir = h_tmpdir();
	if (!e->dir)
		return -1;
	e->eps = sim_eps;
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	/* The hooks: the example script, copying into dir/flashed, and one
	 * that fails its integrity check (exit 5). */
	flashed = h_strf("%s/flashed", e->dir);
	fail5 = h_strf("%s/fail5.sh", e->dir);
	if (mkdir(flashed, 0700) < 0 || !(f = fopen(fail5, "w")))
		return -1;
	fputs("#!/bin/sh\necho progress 50\necho 'bad image' >&2\nexit 5\n", f);
	fclose(f);
	if (!realpath(getenv("top_srcdir") ? getenv("top_srcdir") : ".", top))
		return -1;
	example = h_strf("%s/config/firmware-hook-example.sh", top);
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
		"                 waveform = \"constant\"; base = 20.0; } ); },\n"
		"  { name = \"hook\"; adapter = \"sim\"; firmware_command = \"%s %s\";\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		"                 waveform = \"constant\"; base = 20.0; } ); },\n"
		"  { name = \"hook5\"; adapter = \"sim\"; firmware_command = \"/bin/sh %s %%f\";\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		"                 waveform = \"constant\"; base = 20.0; } ); }\n"
		");\n",
		e->dir, example, flashed, fail5);
	free(example);
	free(flashed);
	free(fail5);
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
	h_stop(&e->http, SIGTERM, 5000);
	h_stop(&e->files, SIGTERM, 5000);
	h_stop(&e->slave, SIGTERM, 5000);
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

/* ---- pulls through the daemon --------------------------------------------------- */

static void write_uri(struct env *e, const char *ep, const char *code, const char *uri)
{
	json_t *r = request_ok(e, code, "write %s /5/0/1 text %s", ep, uri);

	json_decref(r);
}

/* The HTTP server's next "request" event for path: its Range and code. */
static void expect_http_request(struct env *e, const char *path, const char *range, int code)
{
	json_t *ev = h_wait_event(&e->http, "request", "path", path, 30000), *rng;

	if (!ev) {
		dump_log(e);
		fail_msg("no HTTP request for %s", path);
	}
	rng = json_object_get(ev, "range");
	if (range ? !json_is_string(rng) || strcmp(json_string_value(rng), range) != 0 :
		    !json_is_null(rng)) {
		dump_log(e);
		fail_msg("HTTP request for %s: range %s, expected %s", path,
			 json_is_string(rng) ? json_string_value(rng) : "none", range ? range : "none");
	}
	assert_int_equal(json_integer_value(json_object_get(ev, "code")), code);
	json_decref(ev);
}

static void expect_version(struct env *e, const char *ep, const char *want)
{
	json_t *r = request_ok(e, "2.05", "read %s /3/0/3 text", ep);

	if (strcmp(str(r, "payload_text"), want) != 0) {
		dump_log(e);
		fail_msg("%s /3/0/3 is \"%s\", expected \"%s\"", ep, str(r, "payload_text"), want);
	}
	json_decref(r);
}

/* The sim device fw-fw holds exactly img. */
static void expect_slot(struct env *e, const uint8_t *img, size_t len)
{
	char *slot = h_strf("%s/fw.slot.sim", e->dir);
	FILE *f = fopen(slot, "rb");
	uint8_t *got = malloc(len + 1);

	assert_non_null(f);
	assert_int_equal(fread(got, 1, len + 1, f), len);
	fclose(f);
	assert_memory_equal(got, img, len);
	free(got);
	free(slot);
}

/* Update a Downloaded fw-fw: Updating, Idle, result 1, the new version. */
static void update_and_expect(struct env *e, const char *st, const char *version)
{
	static const long upd[] = {3, 0};
	json_t *r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/2");

	json_decref(r);
	expect_notifies(e, st, upd, 2);
	expect_int(e, "fw-fw", "/5/0/5", 1);
	expect_version(e, "fw-fw", version);
}

/* An HTTP pull whose connection drops after 300000 bytes: the daemon asks
 * for the rest with a Range, stays in Downloading meanwhile, and the
 * package is applied whole. */
static void pull_http_resumed_after_a_drop_is_applied(void **state)
{
	struct env *e = *state;
	const char *const extra[] = {"--drop-after", "300000", NULL};
	size_t len;
	uint8_t *img = image(MIB, 6, 2, &len);
	char *file = write_file(e, "pkg-6.2.4", img, len), *uri;
	char *st = observe(e, "fw-fw", "/5/0/3");
	static const long downloads[] = {1, 2};
	int port = h_start_http(&e->http, e->dir, extra);
	json_t *ev;

	assert_true(port > 0);
	uri = h_strf("http://127.0.0.1:%d/pkg-6.2.4", port);
	write_uri(e, "fw-fw", "2.04", uri);
	expect_notifies(e, st, downloads, 2);
	expect_http_request(e, "/pkg-6.2.4", NULL, 200);
	ev = h_wait_event(&e->http, "dropped", "path", "/pkg-6.2.4", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	expect_http_request(e, "/pkg-6.2.4", "bytes=300000-", 206);
	{
		json_t *r = request_ok(e, "2.05", "read %s /5/0/1 text", "fw-fw");
		assert_string_equal(str(r, "payload_text"), uri);
		json_decref(r);
	}
	update_and_expect(e, st, "6.2.4");
	expect_slot(e, img, len);
	assert_false(file_exists(e, "fw.fw.part"));
	assert_false(file_exists(e, "fw.fw.pkg"));
	assert_int_equal(h_stop(&e->http, SIGTERM, H_TIMEOUT_MS), 0);
	free(uri);
	free(st);
	free(file);
	free(img);
}

/* Pulls that fail, each with its result and back to Idle; a download
 * that starts first resets the result to 0 (and the observer sees it). */
static void pull_failures_give_their_results(void **state)
{
	struct env *e = *state;
	int port = h_start_http(&e->http, e->dir, NULL);
	char *res = observe(e, "fw-fw", "/5/0/5"), *uri;
	static const long started_7[] = {0, 7}, just_9[] = {9}, just_7[] = {7};

	assert_true(port > 0);
	/* No such package: 404, result 7 (invalid URI). */
	uri = h_strf("http://127.0.0.1:%d/missing.bin", port);
	write_uri(e, "fw-fw", "2.04", uri);
	expect_http_request(e, "/missing.bin", NULL, 404);
	expect_notifies(e, res, just_7, 1);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	assert_false(file_exists(e, "fw.fw.part"));
	free(uri);
	/* A host name that does not resolve: 7. */
	write_uri(e, "fw-fw", "2.04", "http://nx.invalid/pkg.bin");
	expect_notifies(e, res, started_7, 2);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	/* A scheme this build cannot pull: 9, without downloading. */
	write_uri(e, "fw-fw", "2.04", "ftp://127.0.0.1/pkg.bin");
	expect_notifies(e, res, just_9, 1);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	/* Not a URI at all: refused, 7. */
	write_uri(e, "fw-fw", "4.00", "no-scheme-here");
	expect_notifies(e, res, just_7, 1);
	expect_int(e, "fw-fw", "/5/0/3", 0);
	/* The other devices were served all along. */
	expect_int(e, "fw-plain", "/3303/0/5700", 20);
	assert_int_equal(h_stop(&e->http, SIGTERM, H_TIMEOUT_MS), 0);
	free(res);
}

/* A coap:// pull, block-wise, from a second test server's --serve. */
static void pull_coap_from_the_test_server_is_applied(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(MIB / 2, 7, 0, &len);
	char *file = write_file(e, "pkg-7.0.4", img, len), *uri;
	char *serve = h_strf("--serve=%s", e->dir), *st = observe(e, "fw-fw", "/5/0/3");
	const char *const extra[] = {serve, NULL};
	static const long downloads[] = {1, 2};
	int port = h_start_server_argv(&e->files, e->dir, 0, extra);

	assert_true(port > 0);
	uri = h_strf("coap://127.0.0.1:%d/pkg-7.0.4", port);
	write_uri(e, "fw-fw", "2.04", uri);
	expect_notifies(e, st, downloads, 2);
	update_and_expect(e, st, "7.0.4");
	expect_slot(e, img, len);
	assert_int_equal(h_stop(&e->files, SIGTERM, H_TIMEOUT_MS), 0);
	free(uri);
	free(serve);
	free(st);
	free(file);
	free(img);
}

/* Wait (inotify, with a deadline) until the file at path holds at least
 * size bytes. */
static bool wait_file_size(const char *path, off_t size, int timeout_ms)
{
	int fd = inotify_init1(IN_CLOEXEC);
	struct stat st;
	bool ok = false;

	assert_true(fd >= 0);
	if (inotify_add_watch(fd, path, IN_MODIFY) < 0) {
		close(fd);
		return false;
	}
	/* Watch first, then look, so that no write slips between the two. */
	while (!(ok = stat(path, &st) == 0 && st.st_size >= size)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char ev[4096];
		if (poll(&pfd, 1, timeout_ms) != 1 || read(fd, ev, sizeof(ev)) < 0)
			break;
	}
	close(fd);
	return ok;
}

/* The daemon stopped while an HTTP pull is mid-transfer (the server stalls
 * after 200000 bytes): restarted, it asks for the rest from what its spool
 * holds, and the package is applied whole. */
static void restart_mid_pull_resumes_from_the_spool(void **state)
{
	struct env *e = *state;
	const char *const stall[] = {"--stall-after", "200000", NULL};
	size_t len;
	uint8_t *img = image(MIB, 8, 0, &len);
	char *file = write_file(e, "pkg-8.0.4", img, len), *uri, *part, *st, portarg[16];
	static const long one[] = {1};
	int port = h_start_http(&e->http, e->dir, stall);
	json_t *ev;
	struct stat sb;

	assert_true(port > 0);
	st = observe(e, "fw-fw", "/5/0/3");
	uri = h_strf("http://127.0.0.1:%d/pkg-8.0.4", port);
	write_uri(e, "fw-fw", "2.04", uri);
	expect_notifies(e, st, one, 1);
	free(st);
	ev = h_wait_event(&e->http, "stalled", "path", "/pkg-8.0.4", 30000);
	assert_non_null(ev);
	json_decref(ev);
	part = h_strf("%s/fw.fw.part", e->dir);
	assert_true(wait_file_size(part, 200000, 30000));
	stop_daemon(e);
	assert_int_equal(stat(part, &sb), 0);
	assert_int_equal(sb.st_size, 200000);
	/* The stalled server answers nothing more: another takes its port. */
	assert_int_equal(h_stop(&e->http, SIGTERM, H_TIMEOUT_MS), 0);
	snprintf(portarg, sizeof(portarg), "%d", port);
	{
		const char *const same[] = {"--port", portarg, NULL};
		assert_int_equal(h_start_http(&e->http, e->dir, same), port);
	}
	assert_int_equal(start_daemon(e), 0);
	expect_http_request(e, "/pkg-8.0.4", "bytes=200000-", 206);
	st = observe(e, "fw-fw", "/5/0/3");
	if (read_int(e, "fw-fw", "/5/0/3") != 2)
		wait_int(e, "fw-fw", st, 2);
	{
		char *log = h_strf("%s/gatewayd.log", e->dir);
		assert_true(h_wait_file_contains(log, "resuming the download of", 0));
		free(log);
	}
	update_and_expect(e, st, "8.0.4");
	expect_slot(e, img, len);
	assert_int_equal(h_stop(&e->http, SIGTERM, H_TIMEOUT_MS), 0);
	free(st);
	free(part);
	free(uri);
	free(file);
	free(img);
}

/* Cancel while a pull is mid-transfer (the server stalls): result 10, Idle,
 * nothing left in the spool. */
static void cancel_mid_pull_gives_10(void **state)
{
	struct env *e = *state;
	const char *const stall[] = {"--stall-after", "100000", NULL};
	size_t len;
	uint8_t *img = image(MIB, 8, 1, &len);
	char *file = write_file(e, "pkg-8.1.4", img, len), *uri;
	char *st = observe(e, "fw-fw", "/5/0/3"), *part = h_strf("%s/fw.fw.part", e->dir);
	static const long one[] = {1}, zero[] = {0}, ten[] = {10};
	int port = h_start_http(&e->http, e->dir, stall);
	char *res = observe(e, "fw-fw", "/5/0/5");
	json_t *ev, *r;

	assert_true(port > 0);
	uri = h_strf("http://127.0.0.1:%d/pkg-8.1.4", port);
	write_uri(e, "fw-fw", "2.04", uri);
	expect_notifies(e, st, one, 1);
	ev = h_wait_event(&e->http, "stalled", "path", "/pkg-8.1.4", 30000);
	assert_non_null(ev);
	json_decref(ev);
	assert_true(wait_file_size(part, 100000, 30000));
	r = request_ok(e, "2.04", "execute %s %s", "fw-fw", "/5/0/10");
	json_decref(r);
	expect_notifies(e, res, ten, 1);
	expect_notifies(e, st, zero, 1);
	assert_false(file_exists(e, "fw.fw.part"));
	assert_false(file_exists(e, "fw.fw.pkg"));
	assert_int_equal(h_stop(&e->http, SIGTERM, H_TIMEOUT_MS), 0);
	free(res);
	free(part);
	free(st);
	free(uri);
	free(file);
	free(img);
}

/* ---- the command hook through the daemon ------------------------------------------------ */

static void hook_sets_the_version_and_its_exit_status_maps(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = image(200 * 1024, 9, 1, &len);
	char *file = write_file(e, "pkg-9.1.4", img, len), *res;
	json_t *r;

	/* The example script copies the package and prints its version. */
	res = observe(e, "fw-hook", "/5/0/5");
	r = push(e, "fw-hook", file, "size1");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	expect_int(e, "fw-hook", "/5/0/3", 2);
	r = request_ok(e, "2.04", "execute %s %s", "fw-hook", "/5/0/2");
	json_decref(r);
	wait_int(e, "fw-hook", res, 1);
	expect_int(e, "fw-hook", "/5/0/3", 0);
	expect_version(e, "fw-hook", "9.1.4");
	{
		/* <device name>.bin, from GATEWAYD_DEVICE */
		char *bin = h_strf("%s/flashed/hook.bin", e->dir);
		FILE *f = fopen(bin, "rb");
		uint8_t *got = malloc(len + 1);
		assert_non_null(f);
		assert_int_equal(fread(got, 1, len + 1, f), len);
		fclose(f);
		assert_memory_equal(got, img, len);
		free(got);
		free(bin);
	}
	free(res);
	/* A script exiting 5: integrity check failed, 5. */
	res = observe(e, "fw-hook5", "/5/0/5");
	r = push(e, "fw-hook5", file, "");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	r = request_ok(e, "2.04", "execute %s %s", "fw-hook5", "/5/0/2");
	json_decref(r);
	wait_int(e, "fw-hook5", res, 5);
	expect_int(e, "fw-hook5", "/5/0/3", 0);
	assert_false(file_exists(e, "hook5.fw.pkg"));
	expect_version(e, "fw-hook", "9.1.4");
	free(res);
	free(file);
	free(img);
}

/* ---- a Modbus device through the daemon -------------------------------------------- */

static const char *const mb_eps[] = {"fw-rc", "fw-nb", NULL};

/* A command to the Modbus slave, waiting for its acknowledgement. */
static void slave(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slave(struct env *e, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	json_t *ok;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h_send(&e->slave, "%s", line);
	ok = h_wait_event(&e->slave, "ok", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ok);
	json_decref(ok);
}

/* The slave of tests/integration/modbus_slave.c (its fixed firmware map:
 * window from 100, command 200, status 201, size 202, offset 204, length
 * 206, CRC 207) with unit 1, updated through a register window, and unit
 * 2, its neighbour on the same connection, polled every 20 ms. */
static int mb_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *adir = getenv("GW_ADAPTER_DIR");
	char *so = h_strf("%s/modbus.so", adir ? adir : ".");
	char *bin = h_build_path("tests/integration/modbus_slave"), *log, *tmpl;
	char *argv[] = {bin, "--tcp", "0", "--units", "1,2", NULL};
	json_t *ev;
	int tcp_port;

	*state = e;
	e->skip = access(so, R_OK) != 0 || access(bin, X_OK) != 0;
	free(so);
	if (e->skip || h_skip_without_sim()) {
		e->skip = true;
		free(bin);
		return 0;
	}
	e->dir = h_tmpdir();
	if (!e->dir)
		return -1;
	e->eps = mb_eps;
	log = h_strf("%s/slave.log", e->dir);
	if (h_spawn(&e->slave, argv, true, log) < 0 ||
	    !(ev = h_wait_event(&e->slave, "listening", NULL, NULL, H_TIMEOUT_MS)))
		return -1;
	free(log);
	free(bin);
	tcp_port = (int)json_integer_value(json_object_get(ev, "port"));
	json_decref(ev);
	slave(e, "set 1 h 0 2301");
	slave(e, "set 2 h 0 215");
	slave(e, "ident 1 Acme RC-2 1.0.0");
	/* Window, CRC-16 per chunk, status busy once after each command, and
	 * one unanswered request after the apply (its reboot). */
	slave(e, "fw 1 1 0 10000 32 1 1 1");
	slave(e, "fwnext 1 3.1.4");
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	tmpl = h_strf(
		"gateway = { name = \"fw\"; endpoint_pattern = \"%%g-%%d\"; state_dir = \"%s\"; };\n"
		"servers = ( { name = \"test\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
		"buses = ( { name = \"plc\"; adapter = \"modbus\"; host = \"127.0.0.1\"; port = %d; } );\n"
		"profiles = ( { name = \"rc2\"; adapter = \"modbus\"; interval = 0.2; timeout = 0.3;\n"
		"    fw_transport = \"register_window\"; fw_window = 100; fw_window_size = 64;\n"
		"    fw_offset_reg = 204; fw_length_reg = 206; fw_crc = \"chunk16\"; fw_crc_reg = 207;\n"
		"    fw_chunk_value = 3; fw_command_reg = 200; fw_status_reg = 201; fw_size_reg = 202;\n"
		"    fw_status_interval = 0.01; fw_reboot_time = 0.05; fw_apply_timeout = 20.0;\n"
		"    points = ( { channel = \"v\"; path = \"/3316/0/5700\"; address = 0;\n"
		"                 type = \"int16\"; scale = 0.1; } ); } );\n"
		"devices = (\n"
		"  { name = \"rc\"; profile = \"rc2\"; bus = \"plc\"; unit = 1; },\n"
		"  { name = \"nb\"; adapter = \"modbus\"; bus = \"plc\"; unit = 2; interval = 0.02;\n"
		"    identify = false;\n"
		"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; address = 0;\n"
		"                 type = \"int16\"; scale = 0.1; } ); }\n"
		");\n",
		e->dir, tcp_port);
	e->config = h_write_config(e->dir, "gatewayd.conf", tmpl, e->port);
	free(tmpl);
	return start_daemon(e);
}

static int mb_teardown(void **state)
{
	struct env *e = *state;

	if (e && e->skip) {
		free(e);
		return 0;
	}
	return teardown(state);
}

/* A 64 KiB package pushed to the Modbus device's /5/0/0 and applied: the
 * slave holds it byte for byte, /3/0/3 is the version the device reports
 * (FC 43/14) after its reboot, and the neighbour on the same connection
 * was polled between the chunks while the device itself was not. */
static void modbus_register_window_through_the_daemon(void **state)
{
	struct env *e = *state;
	size_t len, chunks, n = 0, nb_during = 0, own_polls = 0, since = 0, worst = 0;
	uint8_t *img, *got;
	char *file, *res, *dump;
	json_t *r, *ev;
	FILE *f;

	if (e->skip)
		skip();
	img = image(64 * 1024, 3, 1, &len);
	chunks = (len + 127) / 128;
	file = write_file(e, "pkg-3.1.4", img, len);
	expect_int(e, "fw-rc", "/5/0/3", 0);
	r = push(e, "fw-rc", file, "size1");
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	expect_int(e, "fw-rc", "/5/0/3", 2);
	res = observe(e, "fw-rc", "/5/0/5");
	r = request_ok(e, "2.04", "execute %s %s", "fw-rc", "/5/0/2");
	json_decref(r);
	/* The slave's requests in the order it saw them, from the first chunk
	 * written into the window to the last. */
	while (n < chunks) {
		int unit, fc, addr;
		ev = h_wait_event(&e->slave, "request", NULL, NULL, 30000);
		if (!ev) {
			dump_log(e);
			fail_msg("the slave saw %zu of %zu chunks", n, chunks);
		}
		unit = (int)json_integer_value(json_object_get(ev, "unit"));
		fc = (int)json_integer_value(json_object_get(ev, "fc"));
		addr = (int)json_integer_value(json_object_get(ev, "addr"));
		json_decref(ev);
		if (unit == 1 && fc == 16 && addr == 100) {
			n++;
			since++;
		} else if (n > 0 && unit == 2 && fc == 3) {
			nb_during++;
			if (since > worst)
				worst = since;
			since = 0;
		} else if (n > 0 && unit == 1 && fc == 3 && addr == 0) {
			own_polls++;
		}
	}
	printf("modbus update: %zu chunks; the neighbour read %zu times meanwhile, at most %zu "
	       "chunk(s) between two of its reads; the device's own polls meanwhile: %zu\n",
	       chunks, nb_during, worst, own_polls);
	wait_int(e, "fw-rc", res, 1);
	expect_int(e, "fw-rc", "/5/0/3", 0);
	expect_version(e, "fw-rc", "3.1.4");
	dump = h_strf("%s/slave-image", e->dir);
	slave(e, "fwdump 1 %s", dump);
	f = fopen(dump, "rb");
	assert_non_null(f);
	got = malloc(len + 1);
	assert_int_equal(fread(got, 1, len + 1, f), len);
	fclose(f);
	assert_memory_equal(got, img, len);
	/* The device was not polled while it took its chunks; its neighbour
	 * was, between them, and still is. */
	assert_int_equal(own_polls, 0);
	assert_true(nb_during >= 3);
	expect_int(e, "fw-nb", "/3303/0/5700", 21);
	free(got);
	free(dump);
	free(res);
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
		cmocka_unit_test_setup_teardown(pull_http_resumed_after_a_drop_is_applied, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pull_failures_give_their_results, setup, teardown),
		cmocka_unit_test_setup_teardown(pull_coap_from_the_test_server_is_applied, setup,
						teardown),
		cmocka_unit_test_setup_teardown(restart_mid_pull_resumes_from_the_spool, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cancel_mid_pull_gives_10, setup, teardown),
		cmocka_unit_test_setup_teardown(hook_sets_the_version_and_its_exit_status_maps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(modbus_register_window_through_the_daemon, mb_setup,
						mb_teardown),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
