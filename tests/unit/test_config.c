/* Unit tests for the configuration loader (gatewayd/config.c).
 *
 * Fixtures live in tests/fixtures/config/.  Expected diagnostics are
 * written relative to that directory and prefixed with its path at run
 * time, then compared exactly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatewayd/config.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef ADAPTERDIR
#define ADAPTERDIR "/usr/local/lib/gatewayd/adapters"
#endif

static char fixdir[PATH_MAX + 32];

/* $top_srcdir/tests/fixtures/config, else relative to this binary
 * (tests/unit/test_config -> tests/fixtures/config). */
static void fixdir_init(void)
{
	const char *top = getenv("top_srcdir");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (top && *top) {
		snprintf(fixdir, sizeof(fixdir), "%s/tests/fixtures/config", top);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(fixdir, sizeof(fixdir), "tests/fixtures/config");
		return;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(fixdir, sizeof(fixdir), "%s/../fixtures/config", exe);
}

/* The fixtures hold inline keys, which a file others can read may not
 * (a checkout makes them 0644): work on a private 0600 copy. */
static char fixcopy[64];
static char fixsrc[PATH_MAX + 32]; /* the fixtures in the source tree */

static void fixdir_copy(void)
{
	DIR *dir = opendir(fixdir);
	struct dirent *e;

	snprintf(fixcopy, sizeof(fixcopy), "/tmp/test_config_fix.XXXXXX");
	if (!dir || !mkdtemp(fixcopy)) {
		perror(fixdir);
		exit(1);
	}
	while ((e = readdir(dir))) {
		char src[PATH_MAX + 300], dst[PATH_MAX + 300], buf[8192];
		FILE *in, *out;
		size_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", fixdir, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", fixcopy, e->d_name);
		in = fopen(src, "r");
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
		out = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!in || !out) {
			perror(src);
			exit(1);
		}
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, n, out);
		fclose(in);
		fclose(out);
	}
	closedir(dir);
	snprintf(fixsrc, sizeof(fixsrc), "%s", fixdir);
	snprintf(fixdir, sizeof(fixdir), "%s", fixcopy);
}

static int fixdir_remove(void **state)
{
	DIR *dir = opendir(fixcopy);
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		char path[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fixcopy, e->d_name);
		unlink(path);
	}
	if (dir)
		closedir(dir);
	rmdir(fixcopy);
	return 0;
}

static const char *fixture(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	return path;
}

static struct cfg *load(const char *name, int expect_rc)
{
	struct cfg *cfg = NULL;
	int r = cfg_load(fixture(name), &cfg);

	assert_int_equal(r, expect_rc);
	assert_non_null(cfg);
	return cfg;
}

static void print_diags(const struct cfg *cfg, size_t from)
{
	for (size_t i = from; i < cfg->n_diags; i++) {
		char *s = cfg_diag_format(&cfg->diags[i]);

		print_message("  diag[%zu] %s\n", i, s);
		free(s);
	}
}

/* Compare diags[from..] with expected (NULL-terminated), each given as
 * "<fixture file>:<line>: <path>: <msg>" relative to the fixtures dir. */
static void assert_diags_from(const struct cfg *cfg, size_t from, const char *const *expected)
{
	size_t n = 0;

	while (expected[n])
		n++;
	if (cfg->n_diags - from != n)
		print_diags(cfg, from);
	assert_int_equal(cfg->n_diags - from, n);
	for (size_t i = 0; i < n; i++) {
		char want[PATH_MAX + 1024];
		char *got = cfg_diag_format(&cfg->diags[from + i]);

		assert_non_null(got);
		snprintf(want, sizeof(want), "%s/%s", fixdir, expected[i]);
		if (strcmp(got, want) != 0)
			print_diags(cfg, from);
		assert_string_equal(got, want);
		free(got);
	}
}

static void assert_diags(const struct cfg *cfg, const char *const *expected)
{
	assert_diags_from(cfg, 0, expected);
}

static void check_bad(const char *name, const char *const *expected)
{
	struct cfg *cfg = load(name, -EINVAL);

	assert_diags(cfg, expected);
	cfg_free(cfg);
}

/* ---- the good config ---------------------------------------------------- */

static void test_good_values(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	const struct cfg_device *d;
	const struct cfg_point *p;

	assert_int_equal(cfg->n_diags, 0);
	assert_string_equal(cfg->file, fixture("good.conf"));

	assert_string_equal(cfg->gateway.name, "gw1");
	assert_string_equal(cfg->gateway.endpoint_pattern, "%g-%d-100%%");
	assert_string_equal(cfg->gateway.state_dir, "/tmp/gatewayd-state");
	assert_string_equal(cfg->gateway.adapter_dir, "/opt/gatewayd/adapters");
	assert_int_equal(cfg->gateway.log_level, 7);

	assert_int_equal(cfg->n_servers, 2);
	assert_string_equal(cfg->servers[0].name, "local");
	assert_string_equal(cfg->servers[0].uri, "coap://127.0.0.1:5683");
	assert_int_equal(cfg->servers[0].lifetime, 120);
	assert_string_equal(cfg->servers[0].version, "1.2");
	assert_string_equal(cfg->servers[0].binding, "UQ");
	assert_int_equal(cfg->servers[0].short_id, 101);
	assert_non_null(cfg->servers[0].setting);
	assert_string_equal(cfg->servers[1].name, "cloud");
	assert_string_equal(cfg->servers[1].uri, "coaps://[::1]:5684");
	assert_int_equal(cfg->servers[1].lifetime, 300);
	assert_string_equal(cfg->servers[1].version, "1.1");
	assert_string_equal(cfg->servers[1].binding, "U");
	assert_int_equal(cfg->servers[1].short_id, 2); /* index + 1 */
	assert_string_equal(cfg->servers[0].security, "nosec"); /* coap:// default */
	assert_string_equal(cfg->servers[1].security, "psk");

	assert_int_equal(cfg->n_buses, 1);
	assert_string_equal(cfg->buses[0].name, "rs485-1");
	assert_string_equal(cfg->buses[0].adapter, "modbus");
	assert_ptr_equal(cfg->buses[0].node.cfg, cfg);
	assert_non_null(cfg->buses[0].node.own);
	assert_null(cfg->buses[0].node.fallback);

	assert_int_equal(cfg->n_profiles, 1);
	assert_string_equal(cfg->profiles[0].name, "th-sensor");
	/* Included settings keep the included file's name. */
	assert_string_equal(config_setting_source_file(cfg->profiles[0].setting),
			    "good-profiles.inc");

	assert_int_equal(cfg->n_devices, 3);

	/* th-1: everything from the profile except its serial. */
	d = &cfg->devices[0];
	assert_string_equal(d->name, "th-1");
	assert_string_equal(d->endpoint, "gw1-th-1-100%");
	assert_string_equal(d->adapter, "sim");
	assert_null(d->bus);
	assert_ptr_equal(d->profile, &cfg->profiles[0]);
	assert_string_equal(d->manufacturer, "Acme");
	assert_string_equal(d->model, "TH-1");
	assert_string_equal(d->serial, "SN-0001");
	assert_string_equal(d->firmware_version, "1.0.3");
	assert_int_equal(d->n_servers, 1);
	assert_ptr_equal(d->servers[0], &cfg->servers[0]);
	assert_ptr_equal(d->node.cfg, cfg);
	assert_ptr_equal(d->node.fallback, cfg->profiles[0].setting);
	assert_int_equal(d->n_points, 2);
	p = &d->points[0];
	assert_string_equal(p->channel, "temperature");
	assert_int_equal(p->oid, 3303);
	assert_int_equal(p->iid, 0);
	assert_int_equal(p->rid, 5700);
	assert_true(p->scale == 1.0);
	assert_true(p->offset == -0.5);
	assert_true(p->has_min && p->min == -40.0);
	assert_true(p->has_max && p->max == 125.0);
	assert_int_equal(p->poll_ms, 10000);
	assert_null(p->node.fallback);
	p = &d->points[1];
	assert_string_equal(p->channel, "humidity");
	assert_int_equal(p->oid, 65534);
	assert_int_equal(p->iid, 65534);
	assert_int_equal(p->rid, 0);
	assert_true(p->scale == 1.0 && p->offset == 0.0);
	assert_false(p->has_min);
	assert_false(p->has_max);
	assert_int_equal(p->poll_ms, 0);

	/* th-2: explicit endpoint, own model, own points replace the profile's. */
	d = &cfg->devices[1];
	assert_string_equal(d->name, "th-2");
	assert_string_equal(d->endpoint, "explicit-th-2");
	assert_string_equal(d->adapter, "sim");
	assert_string_equal(d->manufacturer, "Acme");
	assert_string_equal(d->model, "TH-2b");
	assert_null(d->serial);
	assert_int_equal(d->n_servers, 2); /* default: all servers */
	assert_ptr_equal(d->servers[0], &cfg->servers[0]);
	assert_ptr_equal(d->servers[1], &cfg->servers[1]);
	/* Its own credentials entry for "cloud"; nothing for NoSec "local". */
	assert_null(d->server_credentials[0].psk_identity);
	assert_string_equal(d->server_credentials[1].psk_identity, "th-2");
	assert_string_equal(d->server_credentials[1].psk_key, "00112233");
	assert_int_equal(d->n_points, 1);
	assert_string_equal(d->points[0].channel, "humidity");
	assert_int_equal(d->points[0].oid, 3304);
	assert_int_equal(d->points[0].poll_ms, 2500);

	/* meter: no profile, on a bus. */
	d = &cfg->devices[2];
	assert_string_equal(d->name, "meter");
	assert_string_equal(d->endpoint, "gw1-meter-100%");
	assert_string_equal(d->adapter, "modbus");
	assert_ptr_equal(d->bus, &cfg->buses[0]);
	assert_null(d->profile);
	assert_null(d->node.fallback);
	assert_null(d->manufacturer);
	assert_null(d->model);
	assert_null(d->serial);
	assert_null(d->firmware_version);
	/* Device-level keys serve its secure server ("cloud"). */
	assert_null(d->server_credentials[0].psk_identity);
	assert_string_equal(d->server_credentials[1].psk_identity, "meter");
	assert_string_equal(d->credentials.psk_identity, "meter");
	assert_int_equal(d->n_points, 1);
	p = &d->points[0];
	assert_string_equal(p->channel, "volts");
	assert_int_equal(p->oid, 3316);
	assert_true(p->scale == 0.1);
	assert_true(p->offset == 1.0); /* an integer is accepted as a float */
	assert_true(p->has_min && p->min == 0.0);
	assert_true(p->has_max && p->max == 500.0);

	cfg_free(cfg);
}

/* systemd's StateDirectory= (one instance of gatewayd@.service) sets the default; a
 * state_dir in the file still wins, and a list of several directories is not taken. */
static void test_state_dir_from_systemd(void **state)
{
	struct cfg *cfg;

	(void)state;
	setenv("STATE_DIRECTORY", "/var/lib/gatewayd/plant-a", 1);
	cfg = load("minimal.conf", 0);
	assert_string_equal(cfg->gateway.state_dir, "/var/lib/gatewayd/plant-a");
	cfg_free(cfg);
	cfg = load("good.conf", 0);
	assert_string_equal(cfg->gateway.state_dir, "/tmp/gatewayd-state");
	cfg_free(cfg);
	setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
	cfg = load("minimal.conf", 0);
	assert_string_equal(cfg->gateway.state_dir, LOCALSTATEDIR "/lib/gatewayd");
	cfg_free(cfg);
	unsetenv("STATE_DIRECTORY");
}

/* The control socket's keys: defaults (also from $RUNTIME_DIRECTORY),
 * values, and each error at its line. */
static void test_control_socket(void **state)
{
	static const char *const diags[] = {
		"bad-control.conf:2: gateway.control_socket: expected an absolute path or \"\", found \"run/gatewayd.sock\"",
		"bad-control.conf:3: gateway.control_mode: expected a string of octal permission bits 0..0777, such as \"0660\", found 660",
		"bad-control.conf:4: gateway.control_group: no such group \"no-such-group-gatewayd\"",
		NULL,
	};
	static const char *const diags2[] = {
		"bad-control2.conf:2: gateway.control_socket: path longer than 107 bytes",
		"bad-control2.conf:3: gateway.control_mode: expected a string of octal permission bits 0..0777, such as \"0660\", found \"0999\"",
		NULL,
	};
	struct cfg *cfg = load("minimal.conf", 0);

	assert_string_equal(cfg->gateway.control_socket, "/run/gatewayd/gatewayd.sock");
	assert_int_equal(cfg->gateway.control_mode, 0660);
	assert_false(cfg->gateway.has_control_group);
	cfg_free(cfg);
	setenv("RUNTIME_DIRECTORY", "/run/gatewayd/plant-a", 1);
	cfg = load("minimal.conf", 0);
	assert_string_equal(cfg->gateway.control_socket, "/run/gatewayd/plant-a/gatewayd.sock");
	cfg_free(cfg);
	unsetenv("RUNTIME_DIRECTORY");

	cfg = load("good-control.conf", 0);
	assert_string_equal(cfg->gateway.control_socket, "/tmp/gatewayd-test.sock");
	assert_int_equal(cfg->gateway.control_mode, 0640);
	assert_true(cfg->gateway.has_control_group);
	assert_int_equal(cfg->gateway.control_gid, 0);
	cfg_free(cfg);

	cfg = load("bad-control.conf", -EINVAL);
	assert_diags(cfg, diags);
	cfg_free(cfg);
	cfg = load("bad-control2.conf", -EINVAL);
	assert_diags(cfg, diags2);
	cfg_free(cfg);
}

static void test_minimal_defaults(void **state)
{
	struct cfg *cfg = load("minimal.conf", 0);
	char host[256] = "";
	char ep[300];

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(cfg->gateway.name, host);
	assert_string_equal(cfg->gateway.endpoint_pattern, "%g-%d");
	assert_string_equal(cfg->gateway.state_dir, LOCALSTATEDIR "/lib/gatewayd");
	assert_string_equal(cfg->gateway.adapter_dir, ADAPTERDIR);
	assert_int_equal(cfg->gateway.log_level, 6);
	assert_int_equal(cfg->gateway.operation_timeout_ms, 30000);
	assert_int_equal(cfg->gateway.max_write_body, 0);   /* the engine's default */
	assert_int_equal(cfg->gateway.max_observations, 0); /* the engine's default */
	assert_int_equal(cfg->servers[0].short_id, 1);
	assert_int_equal(cfg->n_devices, 1);
	snprintf(ep, sizeof(ep), "%s-d", host);
	assert_string_equal(cfg->devices[0].endpoint, ep);
	assert_string_equal(cfg->devices[0].adapter, "sim");
	/* "points = ();" on the device replaces the profile's one point. */
	assert_int_equal(cfg->devices[0].n_points, 0);
	assert_int_equal(cfg->devices[0].n_servers, 1);
	/* Nobody uses the bus or the second profile: their keys are unused,
	 * not unknown. */
	assert_int_equal(cfg->n_buses, 1);
	assert_int_equal(cfg->n_profiles, 2);
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	assert_int_equal(cfg->n_diags, 0);
	cfg_free(cfg);
}

/* Send and notification storing keys, and their defaults. */
static void test_send_and_storing(void **state)
{
	struct cfg *cfg = load("good-send.conf", 0);
	const struct cfg_device *d = &cfg->devices[0];

	assert_int_equal(cfg->n_diags, 0);
	assert_int_equal(cfg->gateway.store_count, 100);
	assert_int_equal(cfg->gateway.store_bytes, 16384);
	assert_int_equal(cfg->gateway.operation_timeout_ms, 2500);
	assert_int_equal(cfg->gateway.max_write_body, 4096);
	assert_int_equal(cfg->gateway.max_observations, 16);
	assert_false(cfg->servers[0].notification_storing);
	assert_true(cfg->servers[0].mute_send);
	assert_int_equal(cfg->servers[0].store_count, 10);
	assert_int_equal(cfg->servers[0].store_bytes, 0); /* the gateway's */
	assert_int_equal(cfg->servers[0].ack_timeout_ms, 1500);
	assert_int_equal(cfg->servers[0].max_retransmit, 2);
	/* Defaults: storing on (the spec's), Send not muted, libcoap timing. */
	assert_true(cfg->servers[1].notification_storing);
	assert_false(cfg->servers[1].mute_send);
	assert_int_equal(cfg->servers[1].ack_timeout_ms, 0);
	assert_int_equal(cfg->servers[1].max_retransmit, -1);
	assert_int_equal(d->send_period_ms, 30000);
	assert_false(d->send_on_change);
	assert_int_equal(d->send_format, 110);
	assert_false(d->points[0].has_send_period);
	assert_true(d->points[1].has_send_period);
	assert_int_equal(d->points[1].send_period_ms, 0);
	assert_true(d->points[1].has_send_on_change);
	assert_true(d->points[1].send_on_change);
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	cfg_free(cfg);
}

static void test_bad_send(void **state)
{
	static const char *const diags[] = {
		"bad-send.conf:1: gateway.store_count: expected an integer 1..1000000, found 0",
		"bad-send.conf:1: gateway.store_bytes: expected an integer 1024..67108864, found 10",
		"bad-send.conf:1: gateway.operation_timeout: expected a number of seconds 1..3600, found 0.5",
		"bad-send.conf:1: gateway.max_write_body: expected an integer 1024..131072, found 131073",
		"bad-send.conf:1: gateway.max_observations: expected an integer 1..65536, found 0",
		"bad-send.conf:3: servers.[0].notification_storing: expected true or false, found 1",
		"bad-send.conf:4: servers.[0].mute_send: expected true or false, found \"no\"",
		"bad-send.conf:3: servers.[0].ack_timeout: expected a number of seconds 1..60, found 0.5",
		"bad-send.conf:4: servers.[0].max_retransmit: expected an integer 0..20, found 30",
		"bad-send.conf:12: devices.[0].points.[0].send_period: expected 0 or a number of seconds 0.1..4294967, found 0.01",
		"bad-send.conf:10: devices.[0].send_period: expected 0 or a number of seconds 0.1..4294967, found -5",
		"bad-send.conf:10: devices.[0].send_on_change: expected true or false, found \"yes\"",
		"bad-send.conf:10: devices.[0].send_format: expected \"senml-cbor\" or \"senml-json\", found \"cbor\"",
		NULL,
	};
	check_bad("bad-send.conf", diags);
}

/* Item 8: stale_after / stale_factor on profile, device and point; the
 * device's own keys replace its profile's, a point's the device's. */
static void test_stale(void **state)
{
	struct cfg *cfg = load("good-stale.conf", 0);
	const struct cfg_device *d;

	assert_int_equal(cfg->n_diags, 0);
	assert_int_equal(cfg->n_devices, 3);
	d = &cfg->devices[0]; /* the profile's */
	assert_true(d->stale.has_stale_after);
	assert_int_equal(d->stale.stale_after_ms, 60000);
	d = &cfg->devices[1]; /* its own factor, not the profile's stale_after */
	assert_false(d->stale.has_stale_after);
	assert_true(d->stale.stale_factor == 5.0);
	d = &cfg->devices[2]; /* the default */
	assert_false(d->stale.has_stale_after);
	assert_true(d->stale.stale_factor == CFG_DEFAULT_STALE_FACTOR);
	assert_false(d->points[0].stale.has_stale_after || d->points[0].stale.has_stale_factor);
	assert_true(d->points[1].stale.has_stale_after);
	assert_int_equal(d->points[1].stale.stale_after_ms, 0);
	assert_true(d->points[2].stale.has_stale_factor);
	assert_true(d->points[2].stale.stale_factor == 0.0);
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	cfg_free(cfg);
}

static void test_bad_stale(void **state)
{
	static const char *const diags[] = {
		"bad-stale.conf:6: devices.[0].points.[0].stale_factor: expected 0 (never stale) or a number of poll periods 2..1000, found \"3\"",
		"bad-stale.conf:7: devices.[0].points.[1].stale_after: expected 0 or a number of seconds 0.1..4294967, found 0.01",
		"bad-stale.conf:7: devices.[0].points.[1].stale_factor: expected 0 (never stale) or a number of poll periods 2..1000, found 1001",
		"bad-stale.conf:4: devices.[0].stale_after: expected 0 or a number of seconds 0.1..4294967, found -1",
		"bad-stale.conf:4: devices.[0].stale_factor: expected 0 (never stale) or a number of poll periods 2..1000, found 1.5",
		NULL,
	};
	check_bad("bad-stale.conf", diags);
}

/* Firmware keys (issue 11): the gateway's limit, a device's hook and raw
 * digest, from its profile unless it sets its own; bad values named. */
static void test_firmware_keys(void **state)
{
	static const char good[] =
		"gateway = { firmware_max_size = 1048576; firmware_give_up = 90; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"profiles = ( { name = \"p\"; adapter = \"sim\"; firmware_command = \"flash %f\";\n"
		"  firmware_sha256 = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"; } );\n"
		"devices = ( { name = \"a\"; profile = \"p\"; },\n"
		"  { name = \"b\"; profile = \"p\"; firmware_command = \"other\"; },\n"
		"  { name = \"c\"; adapter = \"sim\"; } );\n";
	static const char bad[] =
		"gateway = { firmware_max_size = 100; firmware_give_up = 0.5; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"devices = ( { name = \"a\"; adapter = \"sim\";\n"
		"  firmware_sha256 = \"not-hex\"; firmware_command = \"\"; } );\n";
	static const char *const diags[] = {
		"bad:1: gateway.firmware_max_size: expected an integer 1024..9223372036854775807, found 100",
		"bad:1: gateway.firmware_give_up: expected a number of seconds 1..86400, found 0.5",
		"bad:4: devices.[0].firmware_command: expected a command line, found \"\"",
		"bad:4: devices.[0].firmware_sha256: expected 64 hexadecimal digits (a SHA-256 digest), found \"not-hex\"",
		NULL,
	};
	struct cfg *cfg;

	assert_int_equal(cfg_load_text("good", good, &cfg), 0);
	assert_int_equal(cfg->gateway.firmware_max_size, 1048576);
	assert_int_equal(cfg->gateway.firmware_give_up_ms, 90000);
	assert_string_equal(cfg->devices[0].firmware_command, "flash %f");
	assert_true(cfg->devices[0].has_firmware_sha256);
	assert_int_equal(cfg->devices[0].firmware_sha256[1], 0x11);
	assert_int_equal(cfg->devices[0].firmware_sha256[31], 0xff);
	assert_string_equal(cfg->devices[1].firmware_command, "other");
	assert_null(cfg->devices[2].firmware_command);
	assert_false(cfg->devices[2].has_firmware_sha256);
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	cfg_free(cfg);
	assert_int_equal(cfg_load_text("bad", bad, &cfg), -EINVAL);
	for (size_t i = 0; diags[i] || i < cfg->n_diags; i++) {
		char *m;
		assert_non_null(diags[i]);
		assert_true(i < cfg->n_diags);
		m = cfg_diag_format(&cfg->diags[i]);
		assert_string_equal(m, diags[i]);
		free(m);
	}
	cfg_free(cfg);
}

/* The shipped example must stay a valid configuration. */
static void test_example_loads(void **state)
{
	char path[PATH_MAX + 128];
	struct cfg *cfg = NULL;

	snprintf(path, sizeof(path), "%s/../../../config/gatewayd.conf.example", fixsrc);
	assert_int_equal(cfg_load(path, &cfg), 0);
	assert_non_null(cfg);
	if (cfg->n_diags)
		print_diags(cfg, 0);
	assert_int_equal(cfg->n_diags, 0);
	assert_int_equal(cfg->n_devices, 2);
	assert_string_equal(cfg->devices[0].endpoint, "gw1-th-1");
	assert_int_equal(cfg->devices[0].n_points, 2);
	assert_int_equal(cfg->devices[1].n_points, 1);
	cfg_free(cfg);
}

/* gateway.firmware_ca_file and firmware_give_up (pulling packages): their
 * defaults, their values, and their errors with file:line. */
static void test_firmware_fetch_keys(void **state)
{
	static const char servers[] =
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"devices = ( { name = \"d\"; adapter = \"sim\"; } );\n";
	struct cfg *cfg = NULL;
	char *text = NULL;
	char *msg;

	assert_int_equal(cfg_load_text("fw", servers, &cfg), 0);
	assert_null(cfg->gateway.firmware_ca_file);
	assert_int_equal(cfg->gateway.firmware_give_up_ms, 600000);
	cfg_free(cfg);

	assert_true(asprintf(&text, "gateway = { firmware_ca_file = \"/etc/fw-ca.pem\";\n"
			     "  firmware_give_up = 90.5; };\n%s", servers) > 0);
	assert_int_equal(cfg_load_text("fw", text, &cfg), 0);
	assert_string_equal(cfg->gateway.firmware_ca_file, "/etc/fw-ca.pem");
	assert_int_equal(cfg->gateway.firmware_give_up_ms, 90500);
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	cfg_free(cfg);
	free(text);

	assert_true(asprintf(&text, "gateway = {\n  firmware_ca_file = \"ca.pem\";\n"
			     "  firmware_give_up = 0; };\n%s", servers) > 0);
	assert_int_equal(cfg_load_text("fw", text, &cfg), -EINVAL);
	assert_int_equal(cfg->n_diags, 2);
	msg = cfg_diag_format(&cfg->diags[0]);
	assert_string_equal(msg, "fw:2: gateway.firmware_ca_file: expected an absolute path, "
			    "found \"ca.pem\"");
	free(msg);
	msg = cfg_diag_format(&cfg->diags[1]);
	assert_string_equal(msg, "fw:3: gateway.firmware_give_up: expected a number of seconds "
			    "1..86400, found 0");
	free(msg);
	assert_int_equal(cfg->gateway.firmware_give_up_ms, 600000);
	cfg_free(cfg);
	free(text);
}

/* ---- getters for adapters ----------------------------------------------- */

/* cfg_write_setting writes what reads back the same (a proposed device's
 * configuration is made from it), and cfg_load_text names its text in diags. */
static char *written(const config_setting_t *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cfg_write_setting(f, s);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_write_setting_round_trip(void **state)
{
	static const char text[] =
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
		"devices = ( { name = \"d\"; adapter = \"sim\";\n"
		"  s = \"q\\\"b\\\\n\\nt\\tx\"; i = -7; big = 9000000000L; f = 2.0; e = 1e300;\n"
		"  t = true; no = false; arr = [1, 2, 3]; l = ( \"a\", 1.5, { k = 1; } );\n"
		"  g = { inner = \"v\"; }; } );\n";
	struct cfg *a = NULL, *b = NULL;
	config_setting_t *da, *db;
	char *wa, *wb, *again;
	double d;
	long long i;
	const char *str;

	assert_int_equal(cfg_load_text("first", text, &a), 0);
	da = config_setting_get_elem(config_lookup(&a->lc, "devices"), 0);
	wa = written(da);
	again = NULL;
	assert_true(asprintf(&again, "servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:5683\"; } );\n"
			     "devices = ( %s );\n", wa) > 0);
	assert_int_equal(cfg_load_text("second", again, &b), 0);
	db = config_setting_get_elem(config_lookup(&b->lc, "devices"), 0);
	wb = written(db);
	assert_string_equal(wa, wb);
	assert_int_equal(config_setting_lookup_string(db, "s", &str), CONFIG_TRUE);
	assert_string_equal(str, "q\"b\\n\nt\tx");
	assert_int_equal(config_setting_lookup_int64(db, "big", &i), CONFIG_TRUE);
	assert_true(i == 9000000000LL);
	assert_int_equal(config_setting_lookup_float(db, "f", &d), CONFIG_TRUE);
	assert_true(d == 2.0);
	assert_int_equal(config_setting_lookup_float(db, "e", &d), CONFIG_TRUE);
	assert_true(d == 1e300);
	assert_int_equal(config_setting_type(config_setting_lookup(db, "arr")), CONFIG_TYPE_ARRAY);
	assert_int_equal(config_setting_type(config_setting_lookup(db, "l")), CONFIG_TYPE_LIST);
	free(wa);
	free(wb);
	free(again);
	cfg_free(a);
	cfg_free(b);

	/* A broken text: the diag names the text. */
	assert_int_equal(cfg_load_text("proposed device x", "devices = ( { name = 1; } );\n", &a),
			 -EINVAL);
	assert_true(a->n_diags > 0);
	assert_string_equal(a->diags[0].file, "proposed device x");
	cfg_free(a);
}

static void test_node_getters(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	const struct gwd_cfg *th1 = &cfg->devices[0].node;
	const struct gwd_cfg *th2 = &cfg->devices[1].node;
	const struct gwd_cfg *bus = &cfg->buses[0].node;
	const struct gwd_cfg *pt = &cfg->devices[0].points[0].node;
	int64_t i = -1;
	double d = -1;
	bool b = false;
	const char *s = NULL;
	static const char *const diags[] = {
		"good-profiles.inc:9: profiles.[0].period: expected an integer, found 600.0",
		"good.conf:35: devices.[0].seed: expected a string, found 7",
		"good.conf:36: devices.[0].big: expected true or false, found 5000000000",
		NULL,
	};

	/* Own keys, ints widening to int64 and to double. */
	assert_int_equal(cfg_node_int(th1, "seed", &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(cfg_node_int(th1, "big", &i), 0);
	assert_true(i == 5000000000LL);
	assert_int_equal(cfg_node_double(th1, "seed", &d), 0);
	assert_true(d == 7.0);
	assert_int_equal(cfg_node_double(th1, "big", &d), 0);
	assert_true(d == 5e9);

	/* Fallback to the profile, and the device overriding it. */
	assert_int_equal(cfg_node_double(th1, "period", &d), 0);
	assert_true(d == 600.0);
	assert_int_equal(cfg_node_bool(th1, "enabled", &b), 0);
	assert_true(b);
	assert_int_equal(cfg_node_double(th2, "period", &d), 0);
	assert_true(d == 60.0);

	/* Absent keys leave out untouched. */
	i = 42;
	assert_int_equal(cfg_node_int(th1, "nope", &i), -ENOENT);
	assert_int_equal(i, 42);
	assert_int_equal(cfg_node_string(th1, NULL, &s), -ENOENT);

	/* The daemon's keys are never handed to adapters, even via fallback. */
	s = NULL;
	assert_int_equal(cfg_node_string(th1, "name", &s), -ENOENT);
	assert_int_equal(cfg_node_string(th1, "manufacturer", &s), -ENOENT);
	assert_int_equal(cfg_node_string(th1, "adapter", &s), -ENOENT);
	assert_int_equal(cfg_node_string(bus, "adapter", &s), -ENOENT);
	assert_int_equal(cfg_node_string(pt, "path", &s), -ENOENT);
	assert_int_equal(cfg_node_double(pt, "scale", &d), -ENOENT);
	assert_null(s);

	assert_int_equal(cfg_node_string(bus, "device", &s), 0);
	assert_string_equal(s, "/dev/ttyUSB0");
	assert_int_equal(cfg_node_string(pt, "waveform", &s), 0);
	assert_string_equal(s, "sine");
	assert_int_equal(cfg_node_double(bus, "baud", &d), 0);
	assert_true(d == 9600.0);
	assert_int_equal(cfg->n_diags, 0);

	/* Wrong types: -EINVAL and a diag where the value was found (the
	 * profile's file for a fallback), reported once however often. */
	assert_int_equal(cfg_node_int(th1, "period", &i), -EINVAL);
	assert_int_equal(cfg_node_int(th1, "period", &i), -EINVAL);
	assert_int_equal(cfg_node_string(th1, "seed", &s), -EINVAL);
	assert_int_equal(cfg_node_bool(th1, "big", &b), -EINVAL);
	assert_diags(cfg, diags);
	cfg_free(cfg);
}

static void test_node_errors(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	const struct gwd_cfg *th1 = &cfg->devices[0].node;
	const struct gwd_cfg *pt = &cfg->devices[2].points[0].node;
	static const char *const diags[] = {
		"good.conf:35: devices.[0].seed: seed 7 is odd",
		"good-profiles.inc:9: profiles.[0].period: too long",
		"good.conf:30: devices.[0]: missing key 'port'",
		"good.conf:30: devices.[0]: bad combination",
		"good.conf:62: devices.[2].points.[0].register: not a holding register",
		"good.conf:55: devices.[2].points.[0]: hidden key",
		NULL,
	};

	assert_int_equal(cfg_node_error(th1, "seed", "seed %d is odd", 7), -EINVAL);
	assert_int_equal(cfg_node_error(th1, "period", "too long"), -EINVAL);
	assert_int_equal(cfg_node_error(th1, "port", "missing key '%s'", "port"), -EINVAL);
	assert_int_equal(cfg_node_error(th1, NULL, "bad combination"), -EINVAL);
	assert_int_equal(cfg_node_error(pt, "register", "not a holding register"), -EINVAL);
	/* A reserved key is not the adapter's: point at the group. */
	assert_int_equal(cfg_node_error(pt, "path", "hidden key"), -EINVAL);
	assert_diags(cfg, diags);
	cfg_free(cfg);
}

/* ---- keys nobody read ---------------------------------------------------- */

static void test_unknown_keys_unread(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	static const char *const diags[] = {
		"good.conf:23: buses.[0].device: unknown key 'device'",
		"good.conf:23: buses.[0].baud: unknown key 'baud'",
		"good-profiles.inc:9: profiles.[0].period: unknown key 'period'",
		"good-profiles.inc:10: profiles.[0].enabled: unknown key 'enabled'",
		"good.conf:35: devices.[0].seed: unknown key 'seed'",
		"good.conf:36: devices.[0].big: unknown key 'big'",
		"good-profiles.inc:19: profiles.[0].points.[0].waveform: unknown key 'waveform'",
		"good.conf:44: devices.[1].period: unknown key 'period'",
		"good.conf:46: devices.[1].points.[0].waveform: unknown key 'waveform'",
		"good.conf:53: devices.[2].unit: unknown key 'unit'",
		"good.conf:62: devices.[2].points.[0].register: unknown key 'register'",
		NULL,
	};

	/* Nothing was read: every adapter key is unknown, including the
	 * profile's, which th-1 uses. */
	assert_int_equal(cfg_check_unknown_keys(cfg), 11);
	assert_diags(cfg, diags);
	/* Asking again adds nothing. */
	assert_int_equal(cfg_check_unknown_keys(cfg), 0);
	assert_int_equal(cfg->n_diags, 11);
	cfg_free(cfg);
}

static void test_unknown_keys_after_reads(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	struct cfg_device *th1 = &cfg->devices[0], *th2 = &cfg->devices[1], *meter = &cfg->devices[2];
	int64_t i;
	double d;
	bool b;
	const char *s;
	static const char *const diags[] = {
		"good.conf:36: devices.[0].big: unknown key 'big'",
		NULL,
	};

	assert_int_equal(cfg_node_string(&cfg->buses[0].node, "device", &s), 0);
	assert_int_equal(cfg_node_int(&cfg->buses[0].node, "baud", &i), 0);
	assert_int_equal(cfg_node_int(&th1->node, "seed", &i), 0);
	/* Read through th-1's fallback: marks the profile's settings. */
	assert_int_equal(cfg_node_double(&th1->node, "period", &d), 0);
	assert_int_equal(cfg_node_bool(&th1->node, "enabled", &b), 0);
	assert_int_equal(cfg_node_string(&th1->points[0].node, "waveform", &s), 0);
	assert_int_equal(cfg_node_double(&th2->node, "period", &d), 0);
	assert_int_equal(cfg_node_string(&th2->points[0].node, "waveform", &s), 0);
	assert_int_equal(cfg_node_int(&meter->node, "unit", &i), 0);
	assert_int_equal(cfg_node_int(&meter->points[0].node, "register", &i), 0);

	assert_int_equal(cfg_check_unknown_keys(cfg), 1);
	assert_diags(cfg, diags);
	cfg_free(cfg);
}

static void test_unknown_keys_override(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	double d;
	size_t n;

	/* th-2 overrides the profile's period: reading it there means the
	 * key is known, so neither copy is reported. */
	assert_int_equal(cfg_node_double(&cfg->devices[1].node, "period", &d), 0);
	n = cfg_check_unknown_keys(cfg);
	assert_int_equal(n, 9);
	for (size_t k = 0; k < cfg->n_diags; k++) {
		assert_null(strstr(cfg->diags[k].path, "profiles.[0].period"));
		assert_null(strstr(cfg->diags[k].path, "devices.[1].period"));
	}
	cfg_free(cfg);
}

/* ---- bad configs --------------------------------------------------------- */

static void test_bad_syntax(void **state)
{
	static const char *const diags[] = {
		"bad-syntax.conf:3: syntax error",
		NULL,
	};
	check_bad("bad-syntax.conf", diags);
}

static void test_bad_unknown_key(void **state)
{
	static const char *const diags[] = {
		"bad-unknown-key.conf:3: gateway.colour: unknown key 'colour'",
		"bad-unknown-key.conf:5: servers.[0].port: unknown key 'port'",
		NULL,
	};
	check_bad("bad-unknown-key.conf", diags);
}

static void test_bad_type(void **state)
{
	static const char *const diags[] = {
		"bad-type.conf:2: servers.[0].lifetime: expected an integer 1..2147483647, found 30.5",
		"bad-type.conf:2: servers.[0].short_id: expected an integer 1..65534, found \"abc\"",
		"bad-type.conf:5: devices.[0].adapter: expected a name of [A-Za-z0-9._-], found 5",
		"bad-type.conf:5: devices.[0].manufacturer: expected a string, found true",
		"bad-type.conf:6: devices.[0].points.[0].scale: expected a finite non-zero number, found \"x\"",
		NULL,
	};
	check_bad("bad-type.conf", diags);
}

static void test_bad_range(void **state)
{
	static const char *const diags[] = {
		"bad-range.conf:2: servers.[0].lifetime: expected an integer 1..2147483647, found 0",
		"bad-range.conf:2: servers.[0].short_id: expected an integer 1..65534, found 70000",
		"bad-range.conf:9: devices.[0].points.[0].scale: expected a finite non-zero number, found 0",
		"bad-range.conf:9: devices.[0].points.[0].poll: expected a number of seconds 0..4294967, found -1",
		"bad-range.conf:10: devices.[0].points.[1].max: expected a number >= min (10), found 5",
		NULL,
	};
	check_bad("bad-range.conf", diags);
}

static void test_bad_path(void **state)
{
	static const char *const diags[] = {
		"bad-path.conf:7: devices.[0].points.[0].path: expected /oid/iid/rid with ids 0..65534, found \"/3303/0\"",
		"bad-path.conf:8: devices.[0].points.[1].path: expected /oid/iid/rid with ids 0..65534, found \"/3303/0/70000\"",
		"bad-path.conf:9: devices.[0].points.[2].path: expected /oid/iid/rid with ids 0..65534, found \"3303/0/5700\"",
		"bad-path.conf:10: devices.[0].points.[3].path: expected /oid/iid/rid with ids 0..65534, found \"/3303/0/5700/\"",
		"bad-path.conf:11: devices.[0].points.[4].path: expected /oid/iid/rid with ids 0..65534, found \"/3303/x/5700\"",
		"bad-path.conf:13: devices.[0].points.[6].path: duplicate path \"/3303/0/5700\", also used by devices.[0].points.[5]",
		NULL,
	};
	check_bad("bad-path.conf", diags);
}

static void test_bad_dup_device(void **state)
{
	static const char *const diags[] = {
		"bad-dup-device.conf:5: devices.[2].name: duplicate device name \"th-1\", first defined at devices.[0]",
		NULL,
	};
	check_bad("bad-dup-device.conf", diags);
}

static void test_bad_dup_endpoint(void **state)
{
	static const char *const diags[] = {
		"bad-dup-endpoint.conf:5: devices.[1].endpoint: duplicate endpoint \"gw-a-b\", also used by device \"a-b\"",
		"bad-dup-endpoint.conf:7: devices.[3]: duplicate endpoint \"gw-d\", also used by device \"e\"",
		NULL,
	};
	check_bad("bad-dup-endpoint.conf", diags);
}

static void test_bad_references(void **state)
{
	static const char *const diags[] = {
		"bad-references.conf:5: devices.[0].profile: expected the name of a defined profile, found \"nope\"",
		"bad-references.conf:6: devices.[1].bus: expected the name of a defined bus, found \"nope\"",
		"bad-references.conf:6: devices.[1].servers.[1]: expected the name of a defined server, found \"nope\"",
		"bad-references.conf:6: devices.[1].servers.[2]: duplicate server \"s\"",
		"bad-references.conf:7: devices.[2]: missing required key 'adapter' or 'profile'",
		"bad-references.conf:8: devices.[3].adapter: expected adapter \"sim\" (from profile \"p\"), found \"modbus\"",
		"bad-references.conf:9: devices.[4].bus: expected a bus of adapter \"sim\", found bus \"bus1\" of adapter \"modbus\"",
		NULL,
	};
	check_bad("bad-references.conf", diags);
}

static void test_bootstrap(void **state)
{
	struct cfg *cfg = load("good-bootstrap.conf", 0);

	assert_true(cfg->servers[0].bootstrap);
	assert_false(cfg->servers[1].bootstrap);
	assert_int_equal(cfg->servers[0].finish_timeout_s, 30);
	assert_int_equal(cfg->servers[1].finish_timeout_s, 0); /* EXCHANGE_LIFETIME */
	/* A bootstrapping device has its bootstrap server and no other. */
	assert_ptr_equal(cfg->devices[0].bootstrap, &cfg->servers[0]);
	assert_int_equal(cfg->devices[0].n_servers, 0);
	assert_string_equal(cfg->devices[0].credentials.psk_identity, "a");
	/* The default server list leaves bootstrap servers out. */
	assert_null(cfg->devices[1].bootstrap);
	assert_int_equal(cfg->devices[1].n_servers, 1);
	assert_ptr_equal(cfg->devices[1].servers[0], &cfg->servers[1]);
	cfg_free(cfg);
}

static void test_bad_bootstrap(void **state)
{
	static const char *const diags[] = {
		"bad-bootstrap.conf:4: servers.[1].bootstrap: expected true or false, found \"yes\"",
		"bad-bootstrap.conf:5: servers.[2].finish_timeout: expected an integer 1..86400, found 0",
		"bad-bootstrap.conf:6: servers.[3].finish_timeout: finish_timeout is for a bootstrap server (bootstrap = true)",
		"bad-bootstrap.conf:9: devices.[0].servers.[1]: a second bootstrap server \"bs3\"; a device has at most one (\"bs1\")",
		"bad-bootstrap.conf:10: devices.[1].servers: a device with a bootstrap server (\"bs1\") gets its servers from it; expected no other server, found \"dm\"",
		NULL,
	};
	check_bad("bad-bootstrap.conf", diags);
}

/* Per-server credentials: each entry names one of the device's servers
 * once, carries only credential keys, and is checked against that
 * server's mode; a secure server without an entry needs device keys. */
static void test_bad_credentials(void **state)
{
	static const char *const diags[] = {
		"bad-credentials.conf:8: devices.[1].credentials.[0].server: expected the name of one of the device's servers, found \"nope\"",
		"bad-credentials.conf:10: devices.[1].credentials.[2].server: duplicate credentials for server \"a\"",
		"bad-credentials.conf:11: devices.[1].credentials.[3].colour: unknown key 'colour'",
		"bad-credentials.conf:12: devices.[1].credentials.[4]: expected a group { server = \"name\"; ... }, found \"n\"",
		"bad-credentials.conf:9: devices.[1].credentials.[1].psk_key: psk_key: expected hex digits, found another character at position 1 (server \"a\")",
		"bad-credentials.conf:13: devices.[2]: security \"psk\" needs psk_identity (server \"a\")",
		"bad-credentials.conf:15: devices.[3].credentials: expected a list of groups ( { server = \"name\"; ... } ), found 5",
		NULL,
	};
	struct cfg *cfg = load("bad-credentials.conf", -EINVAL);
	const struct cfg_device *d = &cfg->devices[0];

	assert_diags(cfg, diags);
	/* "ok": device keys for "a", its entry for "b", nothing for "n". */
	assert_string_equal(d->name, "ok");
	assert_string_equal(d->server_credentials[0].psk_identity, "dev");
	assert_string_equal(d->server_credentials[1].psk_identity, "devb");
	assert_string_equal(d->server_credentials[1].psk_key, "2233");
	assert_null(d->server_credentials[2].psk_identity);
	cfg_free(cfg);
}

/* Access lists: servers of the device or "*", RWEDC rights, object ids
 * other than 0..2, no server given rights twice for one object. */
static void test_bad_access(void **state)
{
	static const char *const diags[] = {
		"bad-access.conf:8: devices.[1].access.[0].server: expected \"*\" or the name of one of the device's servers, found \"c\"",
		"bad-access.conf:9: devices.[1].access.[1].rights: expected letters of R, W, E, D and C, each at most once, found \"RX\"",
		"bad-access.conf:10: devices.[1].access.[2].objects.[0]: expected an object id 3..65534, found 1 (each server has its own Server instance)",
		"bad-access.conf:11: devices.[1].access.[3].objects.[1]: duplicate object 3303",
		"bad-access.conf:13: devices.[1].access.[5]: rights of server \"a\" for object 3303 given twice, first at devices.[1].access.[4]",
		"bad-access.conf:14: devices.[1].access.[6].colour: unknown key 'colour'",
		"bad-access.conf:14: devices.[1].access.[6].objects: expected at least one object id, found none",
		"bad-access.conf:15: devices.[1].access.[7]: missing required key 'server'",
		"bad-access.conf:16: devices.[1].access.[8]: expected a group { server = \"name\"; rights = \"R\"; }, found \"b\"",
		"bad-access.conf:17: devices.[2].access: expected a list of groups ( { server = \"name\"; rights = \"R\"; } ), found 3",
		NULL,
	};
	struct cfg *cfg = load("bad-access.conf", -EINVAL);
	const struct cfg_device *d = &cfg->devices[0];

	assert_diags(cfg, diags);
	assert_string_equal(d->name, "ok");
	assert_int_equal(d->n_access, 2);
	assert_ptr_equal(d->access[0].server, &cfg->servers[1]);
	assert_int_equal(d->access[0].n_objects, 2);
	assert_int_equal(d->access[0].objects[0], 3303);
	assert_int_equal(d->access[0].objects[1], 3);
	assert_int_equal(d->access[0].rights, 3); /* R | W */
	assert_null(d->access[1].server); /* "*" */
	assert_int_equal(d->access[1].n_objects, 0);
	assert_int_equal(d->access[1].rights, 0);
	cfg_free(cfg);
}

/* The registration sequence keys: defaults, values, ranges and types. */
static void test_bad_sequence(void **state)
{
	static const char *const diags[] = {
		"bad-sequence.conf:7: servers.[3].priority_order: expected an integer 0..4294967295, found -1",
		"bad-sequence.conf:8: servers.[3].initial_delay: expected an integer 0..86400, found \"5\"",
		"bad-sequence.conf:7: servers.[3].failure_block: expected true or false, found 1",
		"bad-sequence.conf:6: servers.[3].retry_count: expected an integer 1..1000, found 0",
		"bad-sequence.conf:6: servers.[3].retry_timer: expected an integer 1..86400, found 0",
		"bad-sequence.conf:7: servers.[3].sequence_delay: expected an integer 1..86400, found 90000",
		NULL,
	};
	struct cfg *cfg = load("bad-sequence.conf", -EINVAL);
	const struct cfg_server *a = &cfg->servers[0], *b = &cfg->servers[1];

	assert_diags(cfg, diags);
	/* Defaults: never give up. */
	assert_false(a->has_priority);
	assert_int_equal(a->initial_delay, 0);
	assert_false(a->failure_block);
	assert_false(a->bootstrap_on_failure);
	assert_int_equal(a->retry_count, 6);
	assert_int_equal(a->retry_timer, 2);
	assert_int_equal(a->sequence_delay, 120);
	assert_int_equal(a->sequence_retry_count, UINT32_MAX);
	assert_true(b->has_priority);
	assert_int_equal(b->priority_order, 3);
	assert_int_equal(b->initial_delay, 10);
	assert_true(b->failure_block);
	assert_true(b->bootstrap_on_failure);
	assert_int_equal(b->retry_count, 2);
	assert_int_equal(b->retry_timer, 30);
	assert_int_equal(b->sequence_delay, 600);
	assert_int_equal(b->sequence_retry_count, 4);
	assert_int_equal(cfg->servers[2].sequence_retry_count, UINT32_MAX); /* 0: forever */
	cfg_free(cfg);
}

static void test_bad_many(void **state)
{
	struct cfg *cfg = load("bad-many.conf", -EINVAL);
	static const char *const diags[] = {
		"bad-many.conf:15: wat: unknown key 'wat'",
		"bad-many.conf:3: gateway.endpoint_pattern: expected a pattern of text, %g, %d and %%, found \"%g-%x\"",
		"bad-many.conf:4: gateway.state_dir: expected an absolute path, found \"var/lib/gatewayd\"",
		"bad-many.conf:5: gateway.log_level: expected one of err, warning, notice, info, debug, found \"verbose\"",
		"bad-many.conf:8: servers.[0].name: expected a name of [A-Za-z0-9._-], found \"a b\"",
		"bad-many.conf:8: servers.[0].uri: expected coap://host[:port] or coaps://host[:port], found \"http://example.com\"",
		"bad-many.conf:9: servers.[1].uri: expected coap://host[:port] or coaps://host[:port], found \"coap://:5683\"",
		"bad-many.conf:9: servers.[1].version: expected \"1.0\", \"1.1\" or \"1.2\", found \"2.0\"",
		"bad-many.conf:9: servers.[1].binding: expected a binding of the letters U, Q, S, T, N, found \"UX\"",
		"bad-many.conf:10: servers.[2].name: duplicate server name \"ok\", first defined at servers.[1]",
		"bad-many.conf:10: servers.[2].uri: expected coap://host[:port] or coaps://host[:port], found \"coap://host:99999\"",
		"bad-many.conf:10: servers.[2].version: expected a string, found 1.1",
		"bad-many.conf:13: devices.[0].servers: expected at least one server name, found none",
		"bad-many.conf:14: devices.[1]: expected a group, found \"not a group\"",
		NULL,
	};
	static const char *const unknown[] = {
		"bad-many.conf:13: devices.[0].extra: unknown key 'extra'",
		NULL,
	};
	size_t before;

	assert_diags(cfg, diags);
	/* Adapter keys in device groups are only judged after adapters ran. */
	before = cfg->n_diags;
	assert_int_equal(cfg_check_unknown_keys(cfg), 1);
	assert_diags_from(cfg, before, unknown);
	cfg_free(cfg);
}

static void test_bad_include(void **state)
{
	static const char *const diags[] = {
		"bad-include.inc:2: devices.[0].endpoint: expected an endpoint name without spaces or control characters, found \"\"",
		NULL,
	};
	check_bad("bad-include.conf", diags);
}

static void test_bad_include_missing(void **state)
{
	static const char *const diags[] = {
		"bad-include-missing.conf:2: cannot open include file",
		NULL,
	};
	check_bad("bad-include-missing.conf", diags);
}

static void test_bad_empty(void **state)
{
	static const char *const diags[] = {
		"bad-empty.conf: missing required key 'servers'",
		"bad-empty.conf: missing required key 'devices'",
		NULL,
	};
	check_bad("bad-empty.conf", diags);
}

static void test_missing_file(void **state)
{
	struct cfg *cfg = NULL;
	static const char *const diags[] = {
		"no-such.conf: cannot open: No such file or directory",
		NULL,
	};

	assert_int_equal(cfg_load(fixture("no-such.conf"), &cfg), -ENOENT);
	assert_non_null(cfg);
	assert_diags(cfg, diags);
	cfg_free(cfg);
}

/* ---- what libconfig 1.5 gets wrong silently ------------------------------ */

/* Write len bytes of text to a fresh file in the private fixtures copy
 * (removed with it). */
static char *write_tmp(const char *name, const char *text, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixcopy, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

static void assert_tmp_diags(const struct cfg *cfg, const char *path,
			     const char *const *expected)
{
	size_t n = 0;

	while (expected[n])
		n++;
	if (cfg->n_diags != n)
		print_diags(cfg, 0);
	assert_int_equal(cfg->n_diags, n);
	for (size_t i = 0; i < n; i++) {
		char want[1024];
		char *got = cfg_diag_format(&cfg->diags[i]);

		snprintf(want, sizeof(want), "%s%s", path, expected[i]);
		if (strcmp(got, want) != 0)
			print_diags(cfg, 0);
		assert_string_equal(got, want);
		free(got);
	}
}

/* A NUL byte used to end the string (and the whole text) early, and the
 * check said OK. */
static void test_nul_byte(void **state)
{
	static const char text[] =
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1\"; } );\n"
		"devices = ( { name = \"d\"; adapter = \"sim\";\n"
		"  manufacturer = \"ab\0cd\"; } );\n"
		"# \0 here too\n";
	static const char *const diags[] = {
		":3: a NUL byte inside a string, which would cut it short",
		":4: a NUL byte; a config file is text",
		NULL,
	};
	char *path = write_tmp("nul.conf", text, sizeof(text) - 1);
	struct cfg *cfg = NULL;

	assert_int_equal(cfg_load(path, &cfg), -EINVAL);
	assert_non_null(cfg);
	assert_tmp_diags(cfg, path, diags);
	assert_false(cfg->parsed);
	/* The gateway's settings keep their defaults for whoever looks. */
	assert_non_null(cfg->gateway.models_dir);
	assert_non_null(cfg->gateway.state_dir);
	cfg_free(cfg);
}

/* Integers past 32 bits without the L suffix: libconfig 1.5 cut them to 32
 * bits, so 2147483648 was "found -2147483648" and 4294967297 passed as 1. */
static void test_wide_integers(void **state)
{
	static const char text[] =
		"gateway = { registration_rate = 4294967297; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1\"; lifetime = 2147483648;\n"
		"  short_id = -2147483649; priority_order = 0x100000000; } );\n"
		"devices = ( { name = \"d\"; adapter = \"sim\"; x = 99999999999999999999L; } );\n";
	static const char *const diags[] = {
		":1: 4294967297 does not fit a plain (32-bit) integer, which this libconfig "
		"would read as another number; write 4294967297L",
		":2: 2147483648 does not fit a plain (32-bit) integer, which this libconfig "
		"would read as another number; write 2147483648L",
		":3: -2147483649 does not fit a plain (32-bit) integer, which this libconfig "
		"would read as another number; write -2147483649L",
		":3: 0x100000000 does not fit a plain (32-bit) integer, which this libconfig "
		"would read as another number; write 0x100000000L",
		":4: 99999999999999999999L does not fit 64 bits",
		NULL,
	};
	/* With the suffix the value arrives whole and the range check says
	 * what it found. */
	static const char wide[] =
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1\"; lifetime = 2147483648L;\n"
		"  priority_order = 4294967295L; } );\n"
		"devices = ( { name = \"d2\"; adapter = \"sim\"; data_bits = 8; a1 = 1.5e10;\n"
		"  b = \"12345678901 in a string\"; } ); # 99999999999 in a comment\n";
	static const char *const wide_diags[] = {
		":1: servers.[0].lifetime: expected an integer 1..2147483647, found 2147483648",
		NULL,
	};
	char *path = write_tmp("wide.conf", text, sizeof(text) - 1);
	struct cfg *cfg = NULL;

	assert_int_equal(cfg_load(path, &cfg), -EINVAL);
	assert_tmp_diags(cfg, path, diags);
	cfg_free(cfg);

	path = write_tmp("wide-l.conf", wide, sizeof(wide) - 1);
	assert_int_equal(cfg_load(path, &cfg), -EINVAL);
	assert_tmp_diags(cfg, path, wide_diags);
	assert_true(cfg->parsed);
	assert_int_equal(cfg->servers[0].priority_order, 4294967295u);
	cfg_free(cfg);
}

/* An inline psk_key is held to the key files' rule: refused in a file
 * group or others can read, accepted in a 0600 one. */
static void test_inline_key_in_readable_file(void **state)
{
	static const char text[] =
		"servers = ( { name = \"s\"; uri = \"coaps://127.0.0.1\"; security = \"psk\"; } );\n"
		"devices = ( { name = \"d\"; adapter = \"sim\"; psk_identity = \"d\";\n"
		"  psk_key = \"00112233\"; } );\n";
	char *path = write_tmp("inline-key.conf", text, sizeof(text) - 1);
	char want[600];
	struct cfg *cfg = NULL;

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(cfg_load(path, &cfg), -EINVAL);
	snprintf(want, sizeof(want),
		 ":3: devices.[0].psk_key: a key in a file group or others can read or write "
		 "(mode 0644): chmod 600 %s, or move the key to a psk_file",
		 path);
	assert_tmp_diags(cfg, path, (const char *const[]){want, NULL});
	cfg_free(cfg);

	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(cfg_load(path, &cfg), 0);
	assert_string_equal(cfg->devices[0].credentials.psk_key, "00112233");
	cfg_free(cfg);
}

/* ---- small pieces -------------------------------------------------------- */

static void test_diag_format(void **state)
{
	struct cfg_diag full = {.file = "a.conf", .line = 3, .path = "x.y", .msg = "bad"};
	struct cfg_diag noline = {.file = "a.conf", .line = 0, .path = "x", .msg = "bad"};
	struct cfg_diag nopath = {.file = "a.conf", .line = 7, .path = "", .msg = "bad"};
	struct cfg_diag nothing = {.file = NULL, .line = 0, .path = NULL, .msg = "bad"};
	char *s;

	s = cfg_diag_format(&full);
	assert_string_equal(s, "a.conf:3: x.y: bad");
	free(s);
	s = cfg_diag_format(&noline);
	assert_string_equal(s, "a.conf: x: bad");
	free(s);
	s = cfg_diag_format(&nopath);
	assert_string_equal(s, "a.conf:7: bad");
	free(s);
	s = cfg_diag_format(&nothing);
	assert_string_equal(s, "bad");
	free(s);
}

static void test_diag_add(void **state)
{
	struct cfg *cfg = load("good.conf", 0);
	static const char *const diags[] = {
		"good.conf:13: servers.[0].uri: unreachable (5 tries)",
		"good.conf: whole file",
		NULL,
	};

	cfg_diag_add(cfg, config_setting_get_member(cfg->servers[0].setting, "uri"),
		     "unreachable (%d tries)", 5);
	cfg_diag_add(cfg, NULL, "whole file");
	assert_diags(cfg, diags);
	cfg_free(cfg);
}

static void test_log_level(void **state)
{
	assert_int_equal(cfg_parse_log_level("err"), 3);
	assert_int_equal(cfg_parse_log_level("warning"), 4);
	assert_int_equal(cfg_parse_log_level("notice"), 5);
	assert_int_equal(cfg_parse_log_level("info"), 6);
	assert_int_equal(cfg_parse_log_level("debug"), 7);
	assert_int_equal(cfg_parse_log_level("verbose"), -EINVAL);
	assert_int_equal(cfg_parse_log_level(""), -EINVAL);
	assert_int_equal(cfg_parse_log_level(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_control_socket),
		cmocka_unit_test(test_state_dir_from_systemd),
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_send_and_storing),
		cmocka_unit_test(test_bad_send),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_bad_stale),
		cmocka_unit_test(test_firmware_keys),
		cmocka_unit_test(test_node_getters),
		cmocka_unit_test(test_write_setting_round_trip),
		cmocka_unit_test(test_firmware_fetch_keys),
		cmocka_unit_test(test_node_errors),
		cmocka_unit_test(test_unknown_keys_unread),
		cmocka_unit_test(test_unknown_keys_after_reads),
		cmocka_unit_test(test_unknown_keys_override),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_bad_unknown_key),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_bad_range),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_bad_dup_device),
		cmocka_unit_test(test_bad_dup_endpoint),
		cmocka_unit_test(test_bad_references),
		cmocka_unit_test(test_bootstrap),
		cmocka_unit_test(test_bad_bootstrap),
		cmocka_unit_test(test_bad_credentials),
		cmocka_unit_test(test_bad_access),
		cmocka_unit_test(test_bad_sequence),
		cmocka_unit_test(test_bad_many),
		cmocka_unit_test(test_bad_include),
		cmocka_unit_test(test_bad_include_missing),
		cmocka_unit_test(test_bad_empty),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_wide_integers),
		cmocka_unit_test(test_inline_key_in_readable_file),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_diag_add),
		cmocka_unit_test(test_log_level),
	};

	fixdir_init();
	fixdir_copy();
	return cmocka_run_group_tests(tests, NULL, fixdir_remove);
}
