/* The control socket and gatewayctl against a running daemon: every
 * command's answer checked by value, gatewayctl's tables and exit codes,
 * the socket's mode and group, and clients that send garbage, nothing, or
 * never read their answers while others are served. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

/* Longer than the daemon's longest request line (CTL_LINE_MAX). */
#define CTL_TEST_LONG 5000

struct env {
	char *dir, *conf, *sock, *log;
	struct proc srv, gw;
	int port;
	gid_t gid;
	char group[64];
};

/* A group the socket can be given: not the process's own when root can
 * choose, so that the test sees the configured one applied. */
static gid_t pick_group(char *name, size_t len)
{
	struct group *g = NULL;

	if (geteuid() == 0) {
		setgrent();
		while ((g = getgrent()) && g->gr_gid == getegid())
			;
		endgrent();
	}
	if (!g)
		g = getgrgid(getegid());
	assert_non_null(g);
	snprintf(name, len, "%s", g->gr_name);
	return g->gr_gid;
}

static void start(struct env *e)
{
	char *tmpl;
	json_t *ev;

	memset(e, 0, sizeof(*e));
	e->dir = h_tmpdir();
	e->port = h_start_server(&e->srv, e->dir);
	assert_true(e->port > 0);
	e->sock = h_strf("%s/ctl.sock", e->dir);
	e->log = h_strf("%s/gatewayd.log", e->dir);
	e->gid = pick_group(e->group, sizeof(e->group));
	/* a answers; b fails every read and goes down. */
	tmpl = h_strf(
		"gateway = { name = \"d\"; state_dir = \"%s\"; control_socket = \"%s\";\n"
		"  control_mode = \"0620\"; control_group = \"%s\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; } );\n"
		"devices = ( { name = \"a\"; adapter = \"sim\";\n"
		"  points = ( { channel = \"x\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		"               waveform = \"constant\"; base = 1.5; } ); },\n"
		"  { name = \"b\"; adapter = \"sim\"; fail = \"error\";\n"
		"  points = ( { channel = \"y\"; path = \"/3303/0/5700\"; poll = 0.1;\n"
		"               waveform = \"constant\"; base = 2.5; } ); } );\n",
		e->dir, e->sock, e->group);
	e->conf = h_write_config(e->dir, "gatewayd.conf", tmpl, e->port);
	free(tmpl);
	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, e->conf), 0);
	ev = h_wait_event(&e->srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	if (!ev)
		h_dump_file(e->log);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&e->srv, "register", "ep", "d-b", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	assert_true(h_wait_file_contains(e->log, "b: device down after", H_TIMEOUT_MS));
	assert_true(h_wait_file_contains(e->log, "control socket: ", H_TIMEOUT_MS));
}

static void stop(struct env *e)
{
	int status = h_stop(&e->gw, SIGTERM, 5000);

	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	h_stop(&e->srv, SIGTERM, 5000);
	/* The daemon removes its socket on the way out. */
	assert_int_equal(access(e->sock, F_OK), -1);
	free(e->sock);
	free(e->log);
	free(e->conf);
	h_tmpdir_remove(e->dir);
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/* One answer line, within the deadline; NULL when the daemon closed. */
static char *read_line(int fd)
{
	static char buf[1 << 20];
	size_t have = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;

		if (poll(&p, 1, H_TIMEOUT_MS) != 1)
			fail_msg("no answer from the control socket");
		/* One byte at a time past the line would eat the next answer:
		 * peek, then take up to the newline. */
		n = recv(fd, buf + have, sizeof(buf) - 1 - have, MSG_PEEK);
		if (n <= 0)
			return NULL;
		nl = memchr(buf + have, '\n', (size_t)n);
		n = recv(fd, buf + have, nl ? (size_t)(nl - (buf + have)) + 1 : (size_t)n, 0);
		assert_true(n > 0);
		have += (size_t)n;
		if (nl) {
			buf[have - 1] = '\0';
			return strdup(buf);
		}
		assert_true(have < sizeof(buf) - 1);
	}
}

static json_t *call(int fd, const char *req)
{
	char *line;
	json_t *a;
	json_error_t err;

	send_all(fd, req, strlen(req));
	send_all(fd, "\n", 1);
	line = read_line(fd);
	assert_non_null(line);
	a = json_loads(line, 0, &err);
	if (!json_is_object(a))
		fail_msg("answer to %s is not a JSON object: %s", req, line);
	free(line);
	return a;
}

static json_t *request(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *request(struct env *e, const char *fmt, ...)
{
	char *req;
	va_list ap;
	int fd = ctl_connect(e->sock);
	json_t *a;

	va_start(ap, fmt);
	assert_true(vasprintf(&req, fmt, ap) >= 0);
	va_end(ap);
	a = call(fd, req);
	close(fd);
	free(req);
	return a;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s)
		fail_msg("no string \"%s\" in %s", key, json_dumps(o, JSON_COMPACT));
	return s;
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("no integer \"%s\" in %s", key, json_dumps(o, JSON_COMPACT));
	return json_integer_value(v);
}

static void assert_ok(json_t *a)
{
	if (!json_is_true(json_object_get(a, "ok")))
		fail_msg("not ok: %s", json_dumps(a, JSON_COMPACT));
}

/* Takes a. */
static void assert_error(json_t *a, const char *needle)
{
	if (!json_is_false(json_object_get(a, "ok")) || !strstr(str(a, "error"), needle))
		fail_msg("expected an error with \"%s\": %s", needle, json_dumps(a, JSON_COMPACT));
	json_decref(a);
}

static json_t *find_device(json_t *devices, const char *name)
{
	json_t *d;
	size_t i;

	json_array_foreach(devices, i, d)
		if (strcmp(str(d, "name"), name) == 0)
			return d;
	fail_msg("no device %s", name);
	return NULL;
}

static void socket_has_configured_mode_and_group(struct env *e)
{
	struct stat st;

	assert_int_equal(stat(e->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	assert_int_equal(st.st_gid, e->gid);
}

static void check_status(struct env *e)
{
	json_t *a = request(e, "{\"command\":\"status\"}");
	json_t *devs = json_object_get(a, "devices"), *srv;
	char uri[64];

	assert_ok(a);
	assert_int_equal(num(a, "pid"), e->gw.pid);
	assert_string_equal(str(a, "config"), e->conf);
	assert_true(str(a, "version")[0] != '\0');
	assert_string_equal(str(a, "log_level"), "debug"); /* the harness's -l debug */
	assert_true(json_number_value(json_object_get(a, "uptime")) > 0);
	assert_int_equal(num(devs, "total"), 2);
	assert_int_equal(num(devs, "up"), 1);
	assert_int_equal(num(devs, "down"), 1);
	assert_int_equal(num(a, "registered"), 2);
	assert_int_equal(json_array_size(json_object_get(a, "servers")), 1);
	srv = json_array_get(json_object_get(a, "servers"), 0);
	snprintf(uri, sizeof(uri), "coap://127.0.0.1:%d", e->port);
	assert_string_equal(str(srv, "name"), "s");
	assert_string_equal(str(srv, "uri"), uri);
	assert_int_equal(num(srv, "registrations"), 2);
	assert_int_equal(num(srv, "registered"), 2);
	json_decref(a);
}

static void check_devices(struct env *e, size_t a_observations)
{
	json_t *ans = request(e, "{\"command\":\"devices\"}");
	json_t *list = json_object_get(ans, "devices"), *a, *b, *reg;
	char uri[64];

	assert_ok(ans);
	snprintf(uri, sizeof(uri), "coap://127.0.0.1:%d", e->port);
	assert_int_equal(json_array_size(list), 2);
	a = find_device(list, "a");
	assert_string_equal(str(a, "adapter"), "sim");
	assert_string_equal(str(a, "state"), "UP");
	assert_true(json_is_null(json_object_get(a, "cause")));
	assert_true(json_number_value(json_object_get(a, "last_reading_age")) >= 0);
	assert_true(json_is_number(json_object_get(a, "last_reading_age")));
	assert_int_equal(num(a, "observations"), a_observations);
	assert_int_equal(num(a, "stored"), 0);
	assert_string_equal(str(a, "firmware"), "none");
	assert_int_equal(json_array_size(json_object_get(a, "registrations")), 1);
	reg = json_array_get(json_object_get(a, "registrations"), 0);
	assert_string_equal(str(reg, "server"), uri);
	assert_string_equal(str(reg, "state"), "registered");
	assert_true(json_is_number(json_object_get(reg, "last_update_age")));
	assert_int_equal(num(reg, "observations"), a_observations);

	b = find_device(list, "b");
	assert_string_equal(str(b, "state"), "DOWN");
	assert_string_equal(str(b, "cause"), strerror(EIO));
	/* Never a value: null, not 0. */
	assert_true(json_is_null(json_object_get(b, "last_reading_age")));
	json_decref(ans);
}

static void check_device(struct env *e)
{
	json_t *ans = request(e, "{\"command\":\"device\",\"name\":\"b\"}");
	json_t *d = json_object_get(ans, "device"), *k = json_object_get(d, "counters");

	assert_ok(ans);
	assert_string_equal(str(d, "name"), "b");
	assert_string_equal(str(d, "endpoint"), "d-b");
	assert_string_equal(str(d, "state"), "DOWN");
	assert_int_equal(num(d, "points"), 1);
	/* Every read of b failed: as many errors as reads, at least the 3
	 * that made it down; nothing else happened. */
	assert_true(num(k, "reads") >= 3);
	assert_true(num(k, "errors") >= num(k, "reads"));
	assert_int_equal(num(k, "writes"), 0);
	assert_int_equal(num(k, "timeouts"), 0);
	json_decref(ans);

	ans = request(e, "{\"command\":\"device\",\"name\":\"a\"}");
	d = json_object_get(ans, "device");
	k = json_object_get(d, "counters");
	assert_ok(ans);
	assert_string_equal(str(d, "state"), "UP");
	assert_true(num(k, "reads") >= 1);
	assert_int_equal(num(k, "errors"), 0);
	json_decref(ans);

	assert_error(request(e, "{\"command\":\"device\",\"name\":\"zz\"}"), "no device named \"zz\"");
	assert_error(request(e, "{\"command\":\"device\"}"), "needs \"name\"");
}

static void check_plan(struct env *e)
{
	json_t *ans = request(e, "{\"command\":\"plan\",\"name\":\"a\"}");
	json_t *pt;

	assert_ok(ans);
	assert_string_equal(str(ans, "device"), "a");
	assert_string_equal(str(ans, "adapter"), "sim");
	assert_true(json_is_null(json_object_get(ans, "adapter_plan")));
	assert_non_null(strstr(str(ans, "note"), "no read plan"));
	assert_int_equal(json_array_size(json_object_get(ans, "points")), 1);
	pt = json_array_get(json_object_get(ans, "points"), 0);
	assert_string_equal(str(pt, "channel"), "x");
	assert_string_equal(str(pt, "path"), "/3303/0/5700");
	assert_true(json_number_value(json_object_get(pt, "poll")) == 1.0);
	json_decref(ans);
}

/* The value after `prefix` on a line of the text; -1 when absent. */
static double metric(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);

	return p ? atof(p + strlen(prefix)) : -1;
}

static void check_metrics(struct env *e)
{
	json_t *ans = request(e, "{\"command\":\"metrics\"}");
	const char *t;
	size_t len;

	assert_ok(ans);
	assert_string_equal(str(ans, "format"), "openmetrics-text");
	t = str(ans, "text");
	len = strlen(t);
	assert_true(len > 6 && strcmp(t + len - 6, "# EOF\n") == 0);
	assert_true(metric(t, "\ngatewayd_devices{state=\"up\"} ") == 1);
	assert_true(metric(t, "\ngatewayd_devices{state=\"down\"} ") == 1);
	assert_true(metric(t, "\ngatewayd_registered ") == 2);
	assert_true(metric(t, "\ngatewayd_device_up{device=\"a\",adapter=\"sim\"} ") == 1);
	assert_true(metric(t, "\ngatewayd_device_up{device=\"b\",adapter=\"sim\"} ") == 0);
	assert_true(metric(t, "\ngatewayd_device_reads_total{device=\"a\",adapter=\"sim\"} ") >= 1);
	assert_true(metric(t, "\ngatewayd_device_errors_total{device=\"b\",adapter=\"sim\"} ") >= 3);
	assert_true(metric(t, "\ngatewayd_device_errors_total{device=\"a\",adapter=\"sim\"} ") == 0);
	assert_true(metric(t, "\ngatewayd_device_registered{device=\"a\",adapter=\"sim\"} ") == 1);
	assert_non_null(strstr(t, "\n# TYPE gatewayd_device_reads counter\n"));
	json_decref(ans);
}

static void check_log_level(struct env *e)
{
	json_t *ans;

	ans = request(e, "{\"command\":\"log-level\",\"level\":\"warning\"}");
	assert_ok(ans);
	assert_string_equal(str(ans, "log_level"), "warning");
	json_decref(ans);
	ans = request(e, "{\"command\":\"log-level\",\"level\":\"debug\",\"name\":\"a\"}");
	assert_ok(ans);
	assert_string_equal(str(ans, "device"), "a");
	json_decref(ans);

	ans = request(e, "{\"command\":\"status\"}");
	assert_string_equal(str(ans, "log_level"), "warning");
	json_decref(ans);
	ans = request(e, "{\"command\":\"device\",\"name\":\"a\"}");
	assert_string_equal(str(json_object_get(ans, "device"), "log_level"), "debug");
	json_decref(ans);
	ans = request(e, "{\"command\":\"device\",\"name\":\"b\"}");
	assert_string_equal(str(json_object_get(ans, "device"), "log_level"), "warning");
	json_decref(ans);
	/* Below the global level, above a's own: a's restart notice is
	 * logged (the first restart of the test). */
	ans = request(e, "{\"command\":\"restart\",\"name\":\"a\"}");
	assert_ok(ans);
	json_decref(ans);
	assert_true(h_wait_file_contains(e->log, "a: restart requested through the control socket",
					 H_TIMEOUT_MS));
	ans = h_wait_event(&e->srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ans);
	json_decref(ans);

	assert_error(request(e, "{\"command\":\"log-level\",\"level\":\"loud\"}"),
		     "unknown log level \"loud\"");
	assert_error(request(e, "{\"command\":\"log-level\",\"level\":\"info\",\"name\":\"zz\"}"),
		     "no device named \"zz\"");
	ans = request(e, "{\"command\":\"log-level\",\"level\":\"default\",\"name\":\"a\"}");
	assert_ok(ans);
	json_decref(ans);
	ans = request(e, "{\"command\":\"device\",\"name\":\"a\"}");
	assert_string_equal(str(json_object_get(ans, "device"), "log_level"), "warning");
	json_decref(ans);
	json_decref(request(e, "{\"command\":\"log-level\",\"level\":\"debug\"}"));
}

static void check_restart(struct env *e)
{
	json_t *ans = request(e, "{\"command\":\"restart\",\"name\":\"a\"}"), *ev;

	assert_ok(ans);
	assert_string_equal(str(ans, "device"), "a");
	assert_true(json_is_true(json_object_get(ans, "restarting")));
	json_decref(ans);
	/* Its registration is made again, as after a reboot. */
	ev = h_wait_event(&e->srv, "register", "ep", "d-a", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	assert_error(request(e, "{\"command\":\"restart\",\"name\":\"zz\"}"), "no device");
}

static void check_reload(struct env *e)
{
	json_t *ans = request(e, "{\"command\":\"reload\"}");
	char *bad;
	FILE *f;

	assert_ok(ans);
	assert_true(json_is_true(json_object_get(ans, "reloaded")));
	json_decref(ans);
	/* A broken file: an error naming it; the daemon goes on serving. */
	bad = h_strf("%s.good", e->conf);
	assert_int_equal(rename(e->conf, bad), 0);
	f = fopen(e->conf, "w");
	assert_non_null(f);
	fputs("gateway = {\n", f);
	fclose(f);
	ans = request(e, "{\"command\":\"reload\"}");
	assert_error(ans, e->conf);
	assert_true(h_wait_file_contains(e->log, "syntax error", H_TIMEOUT_MS));
	assert_int_equal(rename(bad, e->conf), 0);
	free(bad);
	ans = request(e, "{\"command\":\"status\"}");
	assert_ok(ans);
	assert_int_equal(num(json_object_get(ans, "devices"), "total"), 2);
	json_decref(ans);
}

static void every_command_answers_with_its_values(void **state)
{
	struct env e;
	json_t *r;

	if (h_skip_without_sim())
		skip();
	start(&e);
	socket_has_configured_mode_and_group(&e);
	check_status(&e);
	check_devices(&e, 0);
	/* An observation shows in the device's line. */
	r = h_request(&e.srv, H_TIMEOUT_MS, "observe d-a /3303/0/5700 text");
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "observing")));
	json_decref(r);
	check_devices(&e, 1);
	check_device(&e);
	check_plan(&e);
	check_metrics(&e);
	check_log_level(&e);
	check_restart(&e);
	check_reload(&e);
	stop(&e);
}

/* Garbage gets an error and the connection stays usable; a silent client,
 * a client that never reads, and an overlong line hold nobody up. */
static void bad_clients_do_not_block_others(void **state)
{
	struct env e;
	int silent, garbage, flood, longline;
	char big[CTL_TEST_LONG];
	json_t *a;
	char *line;

	if (h_skip_without_sim())
		skip();
	start(&e);
	silent = ctl_connect(e.sock);
	garbage = ctl_connect(e.sock);

	a = call(garbage, "hello daemon");
	assert_error(a, "not a JSON request");
	a = call(garbage, "[1,2]");
	assert_error(a, "a request is an object with a \"command\"");
	a = call(garbage, "{\"command\":\"shutdown\"}");
	assert_error(a, "unknown command \"shutdown\"");
	a = call(garbage, "{\"command\":\"status\"}");
	assert_ok(a);
	json_decref(a);

	/* Many requests, no reads: the daemon answers one at a time and
	 * stops reading this client while its answer waits. */
	flood = ctl_connect(e.sock);
	fcntl(flood, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 20000; i++) {
		static const char req[] = "{\"command\":\"devices\"}\n";
		if (send(flood, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
	}

	/* A line longer than the daemon takes: an error, then the end. */
	longline = ctl_connect(e.sock);
	memset(big, 'x', sizeof(big));
	send_all(longline, big, sizeof(big));
	line = read_line(longline);
	assert_non_null(line);
	assert_non_null(strstr(line, "request longer than"));
	free(line);
	assert_null(read_line(longline));
	close(longline);

	/* Meanwhile another client, and the devices, are served. */
	a = request(&e, "{\"command\":\"devices\"}");
	assert_ok(a);
	assert_int_equal(json_array_size(json_object_get(a, "devices")), 2);
	json_decref(a);
	a = h_request(&e.srv, H_TIMEOUT_MS, "read d-a /3303/0/5700 text");
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(a, "payload_text")), "1.5");
	json_decref(a);

	close(flood);
	close(garbage);
	close(silent);
	stop(&e);
}

/* Run gatewayctl; its standard output and error into *out, *err (freed by
 * the caller); returns its exit status. */
static int gatewayctl(char **out, char **err, const char *const args[])
{
	char *bin = h_build_path("gatewayd/gatewayctl");
	char *dir = h_tmpdir(), *errpath = h_strf("%s/err", dir);
	char *argv[12] = {bin};
	struct proc p;
	size_t n, len = 0, cap = 1 << 16;
	int status;
	FILE *f;

	for (n = 0; args[n] && n < 10; n++)
		argv[n + 1] = (char *)args[n];
	argv[n + 1] = NULL;
	assert_int_equal(h_spawn(&p, argv, true, errpath), 0);
	close(p.in_fd);
	*out = malloc(cap);
	for (;;) {
		struct pollfd pf = {.fd = p.out_fd, .events = POLLIN};
		ssize_t r;
		if (poll(&pf, 1, H_TIMEOUT_MS) != 1)
			break;
		r = read(p.out_fd, *out + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		assert_true(len < cap - 1);
	}
	(*out)[len] = '\0';
	close(p.out_fd);
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(status != -1 && WIFEXITED(status));
	f = fopen(errpath, "r");
	*err = calloc(1, 4096);
	if (f) {
		size_t r = fread(*err, 1, 4095, f);
		(*err)[r] = '\0';
		fclose(f);
	}
	free(errpath);
	free(bin);
	h_tmpdir_remove(dir);
	return WEXITSTATUS(status);
}

static void gatewayctl_prints_tables_and_exit_codes(void **state)
{
	struct env e;
	char *out, *err, *want, *line;
	char *nosock;

	if (h_skip_without_sim())
		skip();
	start(&e);

	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "status", NULL}), 0);
	if (!strstr(out, "devices: 2 (1 up, 1 down)\n") || !strstr(out, "registered: 2\n"))
		fail_msg("status output:\n%s", out);
	want = h_strf("server s: coap://127.0.0.1:%d, 2 of 2 registration(s) registered\n",
		      e.port);
	if (!strstr(out, want))
		fail_msg("missing \"%s\" in:\n%s", want, out);
	free(want);
	free(out);
	free(err);

	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "devices", NULL}), 0);
	if (strncmp(out, "NAME ", 5) != 0 || !strstr(out, "REGISTRATIONS\n"))
		fail_msg("devices header:\n%s", out);
	line = strstr(out, "\na ");
	assert_non_null(line);
	want = h_strf("registered coap://127.0.0.1:%d (update ", e.port);
	if (!strstr(line, " sim ") || !strstr(line, " UP ") || !strstr(line, " none ") ||
	    !strstr(line, want))
		fail_msg("device a's line:\n%s", out);
	free(want);
	line = strstr(out, "\nb ");
	assert_non_null(line);
	want = h_strf(" DOWN (%s) ", strerror(EIO));
	if (!strstr(line, want))
		fail_msg("device b's line:\n%s", out);
	free(want);
	free(out);
	free(err);

	/* --json: the daemon's answer as it is. */
	assert_int_equal(gatewayctl(&out, &err,
				    (const char *[]){"-s", e.sock, "--json", "device", "a", NULL}),
			 0);
	assert_non_null(strstr(out, "{\"ok\":true,\"device\":{\"name\":\"a\""));
	free(out);
	free(err);

	/* 1: the daemon refused; 2: usage; 3: no daemon. */
	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "device", "zz", NULL}),
			 1);
	assert_non_null(strstr(err, "no device named \"zz\""));
	free(out);
	free(err);
	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "frobnicate", NULL}),
			 2);
	free(out);
	free(err);
	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "device", NULL}), 2);
	free(out);
	free(err);
	nosock = h_strf("%s/none.sock", e.dir);
	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", nosock, "status", NULL}), 3);
	assert_non_null(strstr(err, "cannot connect"));
	free(nosock);
	free(out);
	free(err);

	assert_int_equal(gatewayctl(&out, &err, (const char *[]){"-s", e.sock, "metrics", NULL}), 0);
	assert_true(strlen(out) > 6 && strcmp(out + strlen(out) - 6, "# EOF\n") == 0);
	free(out);
	free(err);
	stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_command_answers_with_its_values),
		cmocka_unit_test(bad_clients_do_not_block_others),
		cmocka_unit_test(gatewayctl_prints_tables_and_exit_codes),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
