/* The daemon's behaviour around its clients: configuration check, SIGHUP,
 * systemd notification, registration Update before the lifetime runs out,
 * and registration retries while the server is away. */
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static const char good_tmpl[] =
	"gateway = { name = \"d\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 2; } );\n"
	"devices = ( { name = \"a\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
	"               waveform = \"constant\"; base = 1.5; } ); } );\n";

/* One daemon error, one error only the adapter can see, one unknown key. */
static const char bad_conf[] =
	"gateway = { name = \"d\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; lifetime = 0; } );\n"
	"devices = ( { name = \"a\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"x\"; path = \"/3303/0/5700\";\n"
	"               waveform = \"triangle\"; } ); },\n"
	"  { name = \"b\"; adapter = \"sim\"; colour = \"red\";\n"
	"  points = ( { channel = \"y\"; path = \"/3303/0/5700\"; waveform = \"sine\"; } ); } );\n";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static void config_check_reports_every_error(void **state)
{
	char *dir = h_tmpdir();
	char *conf = h_write_config(dir, "bad.conf", bad_conf, 0);
	char *out = path_in(dir, "check.out");
	char *bin = h_build_path("gatewayd/gatewayd");
	const char *adir = getenv("GW_ADAPTER_DIR");
	char *argv[] = {bin, "-t", "-c", conf, "-A", (char *)adir, NULL};
	struct proc p;
	char expect[512];
	const char *text;
	int status;

	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	text = slurp(out);
	assert_non_null(text);
	/* The daemon's own error ... */
	snprintf(expect, sizeof(expect), "%s:2: servers.[0].lifetime:", conf);
	if (!strstr(text, expect))
		fail_msg("missing '%s' in:\n%s", expect, text);
	/* ... and, in the same run, what the adapter found in its keys. */
	snprintf(expect, sizeof(expect), "%s:5: devices.[0].points.[0].waveform:", conf);
	if (!strstr(text, expect))
		fail_msg("missing '%s' in:\n%s", expect, text);
	free(bin);
	free(out);
	free(conf);
	h_tmpdir_remove(dir);
}

static void config_check_reports_unknown_keys(void **state)
{
	char *dir = h_tmpdir();
	static const char conf_text[] =
		"gateway = { name = \"d\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"devices = ( { name = \"b\"; adapter = \"sim\"; colour = \"red\";\n"
		"  points = ( { channel = \"y\"; path = \"/3303/0/5700\"; waveform = \"sine\"; } ); } );\n";
	char *conf = h_write_config(dir, "unknown.conf", conf_text, 0);
	char *out = path_in(dir, "check.out");
	char *bin = h_build_path("gatewayd/gatewayd");
	char *argv[] = {bin, "-t", "-c", conf, "-A", getenv("GW_ADAPTER_DIR"), NULL};
	struct proc p;
	char expect[512];
	const char *text;
	int status;

	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_int_equal(WEXITSTATUS(status), 1);
	text = slurp(out);
	snprintf(expect, sizeof(expect), "%s:3: devices.[0].colour: unknown key", conf);
	if (!strstr(text, expect))
		fail_msg("missing '%s' in:\n%s", expect, text);
	free(bin);
	free(out);
	free(conf);
	h_tmpdir_remove(dir);
}

/* The first typo a new user makes: the checker names it and exits 1, it
 * does not crash (it used to load the models from an unset directory). */
static void config_check_survives_a_syntax_error(void **state)
{
	char *dir = h_tmpdir();
	char *conf = h_write_config(dir, "cut.conf", "gateway = {\n", 0);
	char *fifo = path_in(dir, "fifo.conf");
	char *out = path_in(dir, "check.out");
	char *bin = h_build_path("gatewayd/gatewayd");
	char *argv[] = {bin, "-t", "-c", conf, "-A", getenv("GW_ADAPTER_DIR"), NULL};
	struct proc p;
	char expect[512];
	const char *text;
	int status;

	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	text = slurp(out);
	snprintf(expect, sizeof(expect), "%s:2: syntax error", conf);
	if (!strstr(text, expect))
		fail_msg("missing '%s' in:\n%s", expect, text);

	/* A FIFO as the config file: refused, not waited on. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	argv[3] = fifo;
	assert_int_equal(h_spawn(&p, argv, false, out), 0);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	text = slurp(out);
	snprintf(expect, sizeof(expect), "%s: not a regular file", fifo);
	if (!strstr(text, expect))
		fail_msg("missing '%s' in:\n%s", expect, text);
	free(bin);
	free(out);
	free(fifo);
	free(conf);
	h_tmpdir_remove(dir);
}

/* A FIFO or a symlink to /dev/zero where a device's .apptype or .bootstrap
 * file belongs is refused with a log line; start-up goes on, the device
 * registers, and SIGTERM stops the daemon. */
static void special_files_in_state_dir_do_not_block(void **state)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = h_start_server(&srv, dir), status;
	char *tmpl = h_strf(
		"gateway = { name = \"d\"; state_dir = \"%s\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; },\n"
		"            { name = \"boot\"; uri = \"coap://127.0.0.1:%d\"; bootstrap = true; } );\n"
		"devices = ( { name = \"a\"; adapter = \"sim\"; servers = [ \"s\" ];\n"
		"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; waveform = \"constant\";\n"
		"               base = 1.5; } ); },\n"
		"  { name = \"b\"; adapter = \"sim\"; servers = [ \"boot\" ];\n"
		"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; waveform = \"constant\";\n"
		"               base = 1.5; } ); } );\n",
		dir, h_free_udp_port());
	char *conf = h_write_config(dir, "gatewayd.conf", tmpl, port);
	char *a_app = path_in(dir, "a.apptype"), *b_app = path_in(dir, "b.apptype");
	char *b_bs = path_in(dir, "b.bootstrap"), *log = path_in(dir, "gatewayd.log");
	char *want;
	json_t *ev;

	assert_true(port > 0);
	assert_int_equal(mkfifo(a_app, 0600), 0);
	assert_int_equal(mkfifo(b_bs, 0600), 0);
	assert_int_equal(symlink("/dev/zero", b_app), 0);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	ev = h_wait_event(&srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	if (!ev)
		h_dump_file(log);
	assert_non_null(ev);
	json_decref(ev);
	want = h_strf("%s is not a regular file", a_app);
	assert_true(h_wait_file_contains(log, want, H_TIMEOUT_MS));
	free(want);
	want = h_strf("%s is not a regular file", b_bs);
	assert_true(h_wait_file_contains(log, want, H_TIMEOUT_MS));
	free(want);
	want = h_strf("%s is a symbolic link, not a regular file", b_app);
	assert_true(h_wait_file_contains(log, want, H_TIMEOUT_MS));
	free(want);
	status = h_stop(&gw, SIGTERM, 5000);
	assert_true(status != -1 && WIFEXITED(status));
	h_stop(&srv, SIGTERM, 5000);
	free(a_app);
	free(b_app);
	free(b_bs);
	free(log);
	free(conf);
	free(tmpl);
	h_tmpdir_remove(dir);
}

/* A corrupt line in a .apptype file is skipped and said so; the good lines
 * are restored. */
static void corrupt_apptype_is_logged(void **state)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = h_start_server(&srv, dir);
	char *tmpl = h_strf(
		"gateway = { name = \"d\"; state_dir = \"%s\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; } );\n"
		"devices = ( { name = \"a\"; adapter = \"sim\";\n"
		"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; waveform = \"constant\";\n"
		"               base = 1.5; } ); } );\n",
		dir);
	char *conf = h_write_config(dir, "gatewayd.conf", tmpl, port);
	char *app = path_in(dir, "a.apptype"), *log = path_in(dir, "gatewayd.log");
	char *want;
	FILE *f = fopen(app, "w");
	json_t *ev;

	assert_non_null(f);
	/* "abc" in hex, then an odd digit, then not hex at all. */
	fputs("3303/0 616263\n3303/0 616\n3303/0 zz\n", f);
	fclose(f);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	ev = h_wait_event(&srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	want = h_strf("%s: 2 corrupt line(s) ignored, the first at line 2", app);
	if (!h_wait_file_contains(log, want, H_TIMEOUT_MS)) {
		h_dump_file(log);
		fail_msg("missing: %s", want);
	}
	free(want);
	ev = h_request(&srv, H_TIMEOUT_MS, "read d-a /3303/0/5750 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "payload_text")), "abc");
	json_decref(ev);
	h_stop(&gw, SIGTERM, 5000);
	h_stop(&srv, SIGTERM, 5000);
	free(app);
	free(log);
	free(conf);
	free(tmpl);
	h_tmpdir_remove(dir);
}

struct run {
	char *dir, *conf;
	struct proc srv, gw;
	int notify_fd;
	char *notify_path;
};

static void start_with_notify(struct run *r)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int port;

	r->dir = h_tmpdir();
	assert_non_null(r->dir);
	port = h_start_server(&r->srv, r->dir);
	assert_true(port > 0);
	r->conf = h_write_config(r->dir, "gatewayd.conf", good_tmpl, port);
	r->notify_path = path_in(r->dir, "notify");
	r->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", r->notify_path);
	assert_int_equal(bind(r->notify_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setenv("NOTIFY_SOCKET", r->notify_path, 1);
	assert_int_equal(h_start_gatewayd(&r->gw, r->dir, r->conf), 0);
	unsetenv("NOTIFY_SOCKET");
}

static void stop_run(struct run *r)
{
	h_stop(&r->gw, SIGKILL, 5000);
	h_stop(&r->srv, SIGTERM, 5000);
	close(r->notify_fd);
	free(r->notify_path);
	free(r->conf);
	h_tmpdir_remove(r->dir);
}

/* Wait for a notification datagram containing `what`. */
static bool notified(struct run *r, const char *what)
{
	char buf[512];

	for (;;) {
		struct pollfd pfd = {.fd = r->notify_fd, .events = POLLIN};
		ssize_t n;
		if (poll(&pfd, 1, H_TIMEOUT_MS) != 1)
			return false;
		n = recv(r->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		if (strstr(buf, what))
			return true;
	}
}

static void notifies_systemd_and_updates_registration(void **state)
{
	struct run r;
	json_t *ev;

	start_with_notify(&r);
	assert_true(notified(&r, "READY=1"));
	ev = h_wait_event(&r.srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* Lifetime 2 s: the Update must come before it runs out. */
	ev = h_wait_event(&r.srv, "update", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* And again: the registration is kept alive, not re-created. */
	ev = h_wait_event(&r.srv, "update", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&r.srv, "register", "ep", "d-a", 0);
	assert_null(ev);

	kill(r.gw.pid, SIGTERM);
	assert_true(notified(&r, "STOPPING=1"));
	ev = h_wait_event(&r.srv, "deregister", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	assert_int_equal(WEXITSTATUS(h_wait_exit(&r.gw, H_TIMEOUT_MS)), 0);
	stop_run(&r);
}

static void sighup_keeps_running_config_when_new_one_is_bad(void **state)
{
	struct run r;
	json_t *ev;
	char *log;
	FILE *f;

	start_with_notify(&r);
	ev = h_wait_event(&r.srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* Break the file, then ask for a reload. */
	f = fopen(r.conf, "w");
	assert_non_null(f);
	fputs("gateway = { name = \"d\"; nonsense = 1; };\n", f);
	fclose(f);
	kill(r.gw.pid, SIGHUP);
	assert_true(notified(&r, "RELOADING=1"));
	assert_true(notified(&r, "READY=1"));
	/* Still running the old configuration, still serving. */
	ev = h_request(&r.srv, H_TIMEOUT_MS, "read d-a /3303/0/5700 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "payload_text")), "1.5");
	json_decref(ev);
	log = path_in(r.dir, "gatewayd.log");
	assert_true(h_wait_file_contains(log, "keeping the running configuration", H_TIMEOUT_MS));
	assert_true(h_wait_file_contains(log, "gateway.nonsense: unknown key", H_TIMEOUT_MS));
	free(log);
	stop_run(&r);
}

static void retries_until_the_server_appears(void **state)
{
	char *dir = h_tmpdir();
	int port = h_free_udp_port();
	char *conf = h_write_config(dir, "gatewayd.conf", good_tmpl, port);
	struct proc srv, gw;
	json_t *ev;
	char *log;

	/* Nobody listens yet: the first Register fails (ICMP port unreachable). */
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	log = path_in(dir, "gatewayd.log");
	assert_true(h_wait_file_contains(log, "retrying in", H_TIMEOUT_MS));
	assert_int_equal(h_start_server_on(&srv, dir, port), port);
	ev = h_wait_event(&srv, "register", "ep", "d-a", H_TIMEOUT_MS + 5000);
	assert_non_null(ev);
	json_decref(ev);
	h_stop(&gw, SIGTERM, 5000);
	h_stop(&srv, SIGTERM, 5000);
	free(log);
	free(conf);
	h_tmpdir_remove(dir);
}

static void falls_back_to_an_older_lwm2m_version(void **state)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	char *conf;
	json_t *ev;
	int port = h_start_server_args(&srv, dir, 0, "--lwm2m-versions=1.0");

	assert_true(port > 0);
	conf = h_write_config(dir, "gatewayd.conf", good_tmpl, port);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	/* Configured as 1.1; the server answers 4.12 and the client steps down. */
	ev = h_wait_event(&srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "lwm2m")), "1.0");
	/* A 1.0 registration carries no 1.1 root link and no ver attributes. */
	assert_null(strstr(json_string_value(json_object_get(ev, "links")), "ver="));
	assert_null(strstr(json_string_value(json_object_get(ev, "links")), "</>"));
	json_decref(ev);
	h_stop(&gw, SIGTERM, 5000);
	h_stop(&srv, SIGTERM, 5000);
	free(conf);
	h_tmpdir_remove(dir);
}

static const char two_devices_tmpl[] =
	"gateway = { name = \"h\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = (\n"
	"  { name = \"ok\"; adapter = \"sim\";\n"
	"    points = ( { channel = \"x\"; path = \"/3303/0/5700\"; poll = 0.5;\n"
	"                 waveform = \"constant\"; base = 7.25; } ); },\n"
	"  { name = \"bad\"; adapter = \"sim\"; fail = \"error\"; fail_after = 1;\n"
	"    points = ( { channel = \"v\"; path = \"/3316/0/5700\"; poll = 0.5;\n"
	"                 waveform = \"constant\"; base = 230.0; } ); } );\n";

static void down_device_answers_5_03_and_others_keep_serving(void **state)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = h_start_server(&srv, dir);
	char *conf = h_write_config(dir, "gatewayd.conf", two_devices_tmpl, port);
	char *log = path_in(dir, "gatewayd.log");
	json_t *ev;

	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	ev = h_wait_event(&srv, "register", "ep", "h-bad", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	assert_true(h_wait_file_contains(log, "bad: device down", H_TIMEOUT_MS));
	ev = h_request(&srv, H_TIMEOUT_MS, "read h-bad /3316/0/5700 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "code")), "5.03");
	json_decref(ev);
	/* The Device object stays readable and says why. */
	ev = h_request(&srv, H_TIMEOUT_MS, "read h-bad /3/0/11/0 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "payload_text")), "8");
	json_decref(ev);
	/* The healthy device is unaffected. */
	ev = h_request(&srv, H_TIMEOUT_MS, "read h-ok /3303/0/5700 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "payload_text")), "7.25");
	json_decref(ev);
	h_stop(&gw, SIGTERM, 5000);
	h_stop(&srv, SIGTERM, 5000);
	free(log);
	free(conf);
	h_tmpdir_remove(dir);
}

/* Copy a fixture DDF file into dir. */
static void copy_fixture(const char *name, const char *dir)
{
	const char *src = getenv("top_srcdir");
	char from[1024], to[1024], buf[4096];
	FILE *in, *out;
	size_t n;

	snprintf(from, sizeof(from), "%s/tests/fixtures/ddf/%s", src ? src : ".", name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	in = fopen(from, "rb");
	out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static const char vendor_tmpl[] =
	"gateway = { name = \"v\"; models_dir = \"@MODELS@\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = ( { name = \"t\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"f\"; path = \"/3442/0/130\"; poll = 0.5;\n"
	"               waveform = \"constant\"; base = 2.75; } ); } );\n";

static char *vendor_config(const char *dir, const char *models, int port)
{
	char *text, *p, *conf;
	char tmpl[1024];

	snprintf(tmpl, sizeof(tmpl), "%s", vendor_tmpl);
	p = strstr(tmpl, "@MODELS@");
	if (asprintf(&text, "%.*s%s%s", (int)(p - tmpl), tmpl, models, p + strlen("@MODELS@")) < 0)
		abort();
	conf = h_write_config(dir, "gatewayd.conf", text, port);
	free(text);
	return conf;
}

static void vendor_objects_from_the_models_directory(void **state)
{
	char *dir = h_tmpdir();
	char *models = path_in(dir, "models");
	char *empty = path_in(dir, "empty");
	char *out = path_in(dir, "check.out");
	char *bin = h_build_path("gatewayd/gatewayd");
	struct proc srv, gw, chk;
	char *conf, expect[512];
	json_t *ev;
	int port, status;

	assert_int_equal(mkdir(models, 0755), 0);
	assert_int_equal(mkdir(empty, 0755), 0);
	/* Without the DDF file, 3442 is unknown: OMA's test object is not built in. */
	conf = vendor_config(dir, empty, 5683);
	{
		char *argv[] = {bin, "-t", "-c", conf, "-A", getenv("GW_ADAPTER_DIR"), NULL};
		assert_int_equal(h_spawn(&chk, argv, false, out), 0);
		status = h_wait_exit(&chk, H_TIMEOUT_MS);
		assert_int_equal(WEXITSTATUS(status), 1);
		snprintf(expect, sizeof(expect), "%s:4: devices.[0].points.[0].path: object 3442", conf);
		if (!strstr(slurp(out), expect))
			fail_msg("missing '%s' in:\n%s", expect, slurp(out));
	}
	free(conf);
	/* With it, a device maps it and a server reads it. */
	copy_fixture("3442.xml", models);
	port = h_start_server(&srv, dir);
	assert_true(port > 0);
	conf = vendor_config(dir, models, port);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	ev = h_wait_event(&srv, "register", "ep", "v-t", H_TIMEOUT_MS);
	assert_non_null(ev);
	assert_non_null(strstr(json_string_value(json_object_get(ev, "links")), "</3442/0>"));
	json_decref(ev);
	ev = h_request(&srv, H_TIMEOUT_MS, "read v-t /3442/0/130 text");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "code")), "2.05");
	assert_string_equal(json_string_value(json_object_get(ev, "payload_text")), "2.75");
	json_decref(ev);
	assert_int_equal(WEXITSTATUS(h_stop(&gw, SIGTERM, 5000)), 0);
	h_stop(&srv, SIGTERM, 5000);
	free(conf);
	free(bin);
	free(out);
	free(empty);
	free(models);
	h_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_check_reports_every_error),
		cmocka_unit_test(config_check_reports_unknown_keys),
		cmocka_unit_test(config_check_survives_a_syntax_error),
		cmocka_unit_test(special_files_in_state_dir_do_not_block),
		cmocka_unit_test(corrupt_apptype_is_logged),
		cmocka_unit_test(notifies_systemd_and_updates_registration),
		cmocka_unit_test(sighup_keeps_running_config_when_new_one_is_bad),
		cmocka_unit_test(retries_until_the_server_appears),
		cmocka_unit_test(falls_back_to_an_older_lwm2m_version),
		cmocka_unit_test(down_device_answers_5_03_and_others_keep_serving),
		cmocka_unit_test(vendor_objects_from_the_models_directory),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
