/* Bootstrap: a device configured with only a bootstrap server (the test
 * server in bootstrap mode) is given a management server account (a second
 * test server), registers there and serves reads; a restart with the same
 * state directory registers directly; the Bootstrap-Request Trigger
 * (/1/x/9) bootstraps again; a bootstrap without a server account is
 * refused at Finish (4.06) and retried, other devices unaffected. */
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

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "creds.h"
#include "harness.h"

/* Device "bt" bootstraps; device "plain" registers with the management
 * server directly (the default server list leaves bootstrap servers out). */
static const char config_tmpl[] =
	"gateway = { name = \"bs\"; endpoint_pattern = \"%%g-%%d\"; state_dir = \"%s\"; };\n"
	"servers = (\n"
	"  { name = \"boot\"; uri = \"coap://127.0.0.1:%d\"; bootstrap = true;\n"
	"    version = \"%s\"; finish_timeout = %d; },\n"
	"  { name = \"mgmt\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 60; }\n"
	");\n"
	"devices = (\n"
	"  { name = \"bt\"; adapter = \"sim\"; servers = [\"boot\"];\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
	"                 waveform = \"constant\"; base = 21.5; } ); },\n"
	"  { name = \"plain\"; adapter = \"sim\";\n"
	"    points = ( { channel = \"v\"; path = \"/3316/0/5700\"; poll = 1.0;\n"
	"                 waveform = \"constant\"; base = 230.0; } ); }\n"
	");\n";

/* DTLS with PSK both ways: to the bootstrap server with the configured key,
 * to the management server with the key the bootstrap server gave. */
static const char dtls_config_tmpl[] =
	"gateway = { name = \"bs\"; endpoint_pattern = \"%%g-%%d\"; state_dir = \"%s\"; };\n"
	"servers = ( { name = \"boot\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\";\n"
	"              bootstrap = true; } );\n"
	"devices = (\n"
	"  { name = \"bt\"; adapter = \"sim\"; psk_identity = \"bt-boot\";\n"
	"    psk_key = \"000102030405060708090a0b0c0d0e0f\";\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
	"                 waveform = \"constant\"; base = 21.5; } ); }\n"
	");\n";

/* One bootstrapping device only: its management server may be any kind. */
static const char single_config_tmpl[] =
	"gateway = { name = \"bs\"; endpoint_pattern = \"%%g-%%d\"; state_dir = \"%s\"; };\n"
	"servers = ( { name = \"boot\"; uri = \"coap://127.0.0.1:%d\"; bootstrap = true; } );\n"
	"devices = (\n"
	"  { name = \"bt\"; adapter = \"sim\";\n"
	"    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
	"                 waveform = \"constant\"; base = 21.5; } ); }\n"
	");\n";

struct env {
	char *dir, *config, *log;
	struct proc bs, mgmt, gw;
	int bs_port, mgmt_port;
};

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void dump_log(struct env *e)
{
	h_dump_file(e->log);
}

/* Wait for an event, dumping the daemon's log when it does not come. */
static json_t *expect(struct env *e, struct proc *p, const char *event, const char *key,
		      const char *value)
{
	json_t *ev = h_wait_event(p, event, key, value, H_TIMEOUT_MS);

	if (!ev) {
		dump_log(e);
		fail_msg("no %s event with %s=%s", event, key ? key : "-", value ? value : "-");
	}
	return ev;
}

/* The response to the automatic bootstrap's op (bs-delete, bs-write,
 * bs-finish) with code. */
static json_t *expect_auto(struct env *e, const char *op, const char *code)
{
	json_t *ev;

	for (;;) {
		ev = expect(e, &e->bs, "response", "id", "auto");
		if (strcmp(str(ev, "op"), op) == 0)
			break;
		json_decref(ev);
	}
	if (strcmp(str(ev, "code"), code) != 0) {
		dump_log(e);
		fail_msg("%s answered %s, expected %s: %s", op, str(ev, "code"), code,
			 json_dumps(ev, 0));
	}
	return ev;
}

/* The manual tests' bootstrap server may stay silent this long before its
 * Finish: long enough for a test's steps, short enough to wait for. */
#define MANUAL_FINISH_TIMEOUT_S 4

static int start(struct env *e, bool automatic, const char *version)
{
	char opt[128];
	const char *extra[] = {opt, NULL};
	FILE *f;

	e->dir = h_tmpdir();
	if (!e->dir || asprintf(&e->log, "%s/gatewayd.log", e->dir) < 0)
		return -1;
	e->mgmt_port = h_start_server(&e->mgmt, e->dir);
	if (e->mgmt_port <= 0)
		return -1;
	snprintf(opt, sizeof(opt), "--bootstrap-to=coap://127.0.0.1:%d", e->mgmt_port);
	e->bs_port = h_start_server_argv(&e->bs, e->dir, 0, automatic ? extra : NULL);
	if (e->bs_port <= 0)
		return -1;
	if (asprintf(&e->config, "%s/gatewayd.conf", e->dir) < 0 || !(f = fopen(e->config, "w")))
		return -1;
	fprintf(f, config_tmpl, e->dir, e->bs_port, version,
		automatic ? 247 : MANUAL_FINISH_TIMEOUT_S, e->mgmt_port);
	fclose(f);
	return h_start_gatewayd(&e->gw, e->dir, e->config);
}

static int setup_dtls(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char to[128];
	const char *mgmt_opts[] = {"--psk=bt-dm:a0a1a2a3a4a5a6a7", NULL};
	const char *bs_opts[] = {"--psk=bt-boot:000102030405060708090a0b0c0d0e0f", to,
				 "--bootstrap-psk=bt-dm:a0a1a2a3a4a5a6a7", NULL};
	FILE *f;

	*state = e;
	if (!e)
		return -1;
	e->dir = h_tmpdir();
	if (!e->dir || asprintf(&e->log, "%s/gatewayd.log", e->dir) < 0)
		return -1;
	e->mgmt_port = h_start_server_argv(&e->mgmt, e->dir, 0, mgmt_opts);
	if (e->mgmt_port <= 0)
		return -1;
	snprintf(to, sizeof(to), "--bootstrap-to=coaps://127.0.0.1:%d", e->mgmt_port);
	e->bs_port = h_start_server_argv(&e->bs, e->dir, 0, bs_opts);
	if (e->bs_port <= 0)
		return -1;
	if (asprintf(&e->config, "%s/gatewayd.conf", e->dir) < 0 || !(f = fopen(e->config, "w")))
		return -1;
	fprintf(f, dtls_config_tmpl, e->dir, e->bs_port);
	fclose(f);
	return h_start_gatewayd(&e->gw, e->dir, e->config);
}

/* The management server with certificates (X.509 when rpk is false, else
 * raw public keys); the bootstrap server driven step by step. */
static int setup_certs(struct env *e, bool rpk)
{
	char c[4][512];
	const char *x509_opts[] = {"--cert", c[0], "--key", c[1], "--ca", c[2], NULL};
	const char *rpk_opts[] = {"--rpk", "--cert", c[0], "--key", c[1], NULL};
	FILE *f;

	e->dir = h_tmpdir();
	if (!e->dir || asprintf(&e->log, "%s/gatewayd.log", e->dir) < 0 || creds_make(e->dir) < 0)
		return -1;
	snprintf(c[0], sizeof(c[0]), "%s/%s", e->dir, rpk ? "rpk-server.pub" : "server.pem");
	snprintf(c[1], sizeof(c[1]), "%s/%s", e->dir, rpk ? "rpk-server.key" : "server.key");
	snprintf(c[2], sizeof(c[2]), "%s/ca.pem", e->dir);
	/* h_start_server_argv splits --name=value; these are separate words. */
	{
		const char *const *o = rpk ? rpk_opts : x509_opts;
		char joined[8][600];
		const char *argv[8] = {0};
		size_t n = 0;
		for (size_t i = 0; o[i]; i++) {
			if (o[i][0] == '-' && o[i + 1] && o[i + 1][0] != '-') {
				snprintf(joined[n], sizeof(joined[n]), "%s=%s", o[i], o[i + 1]);
				i++;
			} else {
				snprintf(joined[n], sizeof(joined[n]), "%s", o[i]);
			}
			argv[n] = joined[n];
			n++;
		}
		e->mgmt_port = h_start_server_argv(&e->mgmt, e->dir, 0, argv);
	}
	if (e->mgmt_port <= 0)
		return -1;
	e->bs_port = h_start_server_argv(&e->bs, e->dir, 0, NULL);
	if (e->bs_port <= 0)
		return -1;
	if (asprintf(&e->config, "%s/gatewayd.conf", e->dir) < 0 || !(f = fopen(e->config, "w")))
		return -1;
	fprintf(f, single_config_tmpl, e->dir, e->bs_port);
	fclose(f);
	return h_start_gatewayd(&e->gw, e->dir, e->config);
}

/* The single bootstrapping device; the bootstrap server provisions it
 * on its own with an account for a management server started with
 * mgmt_opt (one --name=value option). */
static int setup_single(void **state, const char *mgmt_opt)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *mgmt_opts[] = {mgmt_opt, NULL};
	char to[128];
	const char *bs_opts[] = {to, NULL};
	FILE *f;

	*state = e;
	if (!e)
		return -1;
	e->dir = h_tmpdir();
	if (!e->dir || asprintf(&e->log, "%s/gatewayd.log", e->dir) < 0)
		return -1;
	e->mgmt_port = h_start_server_argv(&e->mgmt, e->dir, 0, mgmt_opts);
	if (e->mgmt_port <= 0)
		return -1;
	snprintf(to, sizeof(to), "--bootstrap-to=coap://127.0.0.1:%d", e->mgmt_port);
	e->bs_port = h_start_server_argv(&e->bs, e->dir, 0, bs_opts);
	if (e->bs_port <= 0)
		return -1;
	if (asprintf(&e->config, "%s/gatewayd.conf", e->dir) < 0 || !(f = fopen(e->config, "w")))
		return -1;
	fprintf(f, single_config_tmpl, e->dir, e->bs_port);
	fclose(f);
	return h_start_gatewayd(&e->gw, e->dir, e->config);
}

static int setup_refuse_all(void **state)
{
	return setup_single(state, "--refuse-register=all");
}

static int setup_refuse_strict(void **state)
{
	return setup_single(state, "--refuse-register=strict");
}

static int setup_refuse_plain(void **state)
{
	return setup_single(state, "--refuse-register=plain");
}

static int setup_x509(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? setup_certs(e, false) : -1;
}

static int setup_rpk(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? setup_certs(e, true) : -1;
}

static int setup_auto(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? start(e, true, "1.1") : -1;
}

static int setup_manual(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? start(e, false, "1.1") : -1;
}

static int setup_pack(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? start(e, true, "1.2") : -1;
}

static int setup_pack_manual(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	return e ? start(e, false, "1.2") : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	h_stop(&e->gw, SIGKILL, 5000);
	h_stop(&e->bs, SIGTERM, 5000);
	h_stop(&e->mgmt, SIGTERM, 5000);
	free(e->config);
	free(e->log);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static void read_temperature(struct env *e)
{
	json_t *r = h_request(&e->mgmt, H_TIMEOUT_MS, "read bs-bt /3303/0/5700 text");

	assert_non_null(r);
	if (strcmp(str(r, "code"), "2.05") != 0)
		fail_msg("read: %s", json_dumps(r, 0));
	assert_string_equal(str(r, "payload_text"), "21.5");
	json_decref(r);
}

/* Nothing from the bootstrap server so far: a "list" round trip makes
 * sure every event it printed before is read. */
static bool bootstrap_requested_since(struct env *e)
{
	json_t *ev;
	bool found;

	h_send(&e->bs, "list");
	json_decref(expect(e, &e->bs, "list", NULL, NULL));
	ev = h_wait_event(&e->bs, "bootstrap-request", NULL, NULL, 0);
	found = ev != NULL;
	json_decref(ev);
	return found;
}

/* From scratch: Bootstrap-Request with pct, the server's Delete, Writes and
 * Finish, then registration with the bootstrapped server and a read. */
static void bootstrap_from_scratch(void **state)
{
	struct env *e = *state;
	char *file;
	struct stat st;
	json_t *ev;

	ev = expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt");
	/* 1.1: the preferred format, SenML CBOR. */
	assert_int_equal(json_integer_value(json_object_get(ev, "pct")), 112);
	json_decref(ev);
	json_decref(expect_auto(e, "bs-delete", "2.02"));
	json_decref(expect_auto(e, "bs-write", "2.04"));
	json_decref(expect_auto(e, "bs-write", "2.04"));
	json_decref(expect_auto(e, "bs-finish", "2.04"));
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 300);
	assert_non_null(strstr(str(ev, "links"), "</3303/0>"));
	/* The bootstrapped Server instance; Security is never announced. */
	assert_non_null(strstr(str(ev, "links"), "</1/1>"));
	assert_null(strstr(str(ev, "links"), "</0"));
	json_decref(ev);
	read_temperature(e);
	/* The other device registered directly, without bootstrap. */
	json_decref(expect(e, &e->mgmt, "register", "ep", "bs-plain"));

	/* Saved with the keys' care: owner-only. */
	assert_true(asprintf(&file, "%s/bt.bootstrap", e->dir) > 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(file);
}

/* A restart with the same state directory registers directly. */
static void restart_registers_directly(void **state)
{
	struct env *e = *state;

	int status = h_stop(&e->gw, SIGTERM, 10000);

	/* A clean exit (under the sanitizers: no leak either). */
	assert_true(status >= 0 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	json_decref(expect(e, &e->mgmt, "deregister", "ep", "bs-bt"));
	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, e->config), 0);
	json_decref(expect(e, &e->mgmt, "register", "ep", "bs-bt"));
	/* Bootstrapping comes before registering: had there been one, the
	 * bootstrap server would have seen it by now. */
	assert_false(bootstrap_requested_since(e));
	assert_true(h_wait_file_contains(e->log, "registering directly", H_TIMEOUT_MS));
	read_temperature(e);
}

/* Bootstrap-Request Trigger: de-register, bootstrap, register again. */
static void trigger_bootstraps_again(void **state)
{
	struct env *e = *state;
	json_t *r, *ev;

	r = h_request(&e->mgmt, H_TIMEOUT_MS, "execute bs-bt /1/1/9");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.04");
	json_decref(r);
	json_decref(expect(e, &e->mgmt, "deregister", "ep", "bs-bt"));
	ev = expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt");
	json_decref(ev);
	json_decref(expect_auto(e, "bs-finish", "2.04"));
	json_decref(expect(e, &e->mgmt, "register", "ep", "bs-bt"));
	read_temperature(e);
}

static json_t *bs_request(struct env *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *bs_request(struct env *e, const char *code, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = h_request(&e->bs, H_TIMEOUT_MS, "%s", cmd);
	if (!r) {
		dump_log(e);
		fail_msg("%s: no answer", cmd);
	}
	if (strcmp(str(r, "code"), code) != 0) {
		dump_log(e);
		fail_msg("%s: %s, expected %s", cmd, json_dumps(r, 0), code);
	}
	return r;
}

/* Step by step: Discover and Read, a Finish without a Server instance
 * (4.06 with the reason); a server that does not correct it is given up
 * when the Finish timeout expires, and the Bootstrap-Request is retried; a
 * server that corrects it (a Write, then a new Finish) bootstraps the
 * device.  The device that needs no bootstrap is not held up. */
static void bad_bootstrap_is_refused_and_retried(void **state)
{
	struct env *e = *state;
	json_t *r;

	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.02", "bs-delete bs-bt /"));
	/* Only the bootstrap account is left. */
	r = bs_request(e, "2.05", "bs-discover bs-bt /");
	assert_non_null(strstr(str(r, "payload_text"), "</>;lwm2m=1.1"));
	assert_non_null(strstr(str(r, "payload_text"), "</0/0>"));
	assert_null(strstr(str(r, "payload_text"), "</1/"));
	json_decref(r);
	/* A Security instance and no Server instance. */
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/0 text coap://127.0.0.1:%d",
			       e->mgmt_port));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/1 text 0"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/2 text 3"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/10 text 7"));
	/* The bootstrap account cannot be deleted; it can be written. */
	json_decref(bs_request(e, "4.00", "bs-delete bs-bt /0/0"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/0/12 text 60"));
	r = bs_request(e, "4.06", "bs-finish bs-bt");
	assert_non_null(strstr(str(r, "payload_text"), "Short Server ID 7"));
	json_decref(r);
	/* No correction: the attempt ends when the Finish timeout expires
	 * (not at the 4.06), and the Bootstrap-Request is retried. */
	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	assert_true(h_wait_file_contains(e->log, "no Bootstrap-Finish in time after Finish refused",
					 0));
	/* The other device is registered and serves reads meanwhile. */
	json_decref(expect(e, &e->mgmt, "register", "ep", "bs-plain"));
	r = h_request(&e->mgmt, H_TIMEOUT_MS, "read bs-plain /3316/0/5700 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	json_decref(r);

	/* This time the server corrects a refused Finish in the same session:
	 * the session goes on after the 4.06. */
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/0 text coap://127.0.0.1:%d",
			       e->mgmt_port));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/1 text 0"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/2 text 3"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/10 text 7"));
	json_decref(bs_request(e, "4.06", "bs-finish bs-bt"));
	json_decref(bs_request(e, "2.04", "bs-account bs-bt 1 7 coap://127.0.0.1:%d 120",
			       e->mgmt_port));
	json_decref(h_wait_event(&e->bs, "response", "op", "bs-write", H_TIMEOUT_MS));
	r = bs_request(e, "2.05", "bs-discover bs-bt /");
	assert_non_null(strstr(str(r, "payload_text"), "</0/1>;ssid=7;uri=\"coap://127.0.0.1:"));
	assert_non_null(strstr(str(r, "payload_text"), "</1/1>;ssid=7"));
	json_decref(r);
	r = bs_request(e, "2.05", "bs-read bs-bt /1/1/1 text");
	assert_string_equal(str(r, "payload_text"), "120");
	json_decref(r);
	/* Bootstrap-Read is for /1 and /2 only. */
	json_decref(bs_request(e, "4.01", "bs-read bs-bt /0/1"));
	json_decref(bs_request(e, "2.04", "bs-finish bs-bt"));
	r = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_int_equal(json_integer_value(json_object_get(r, "lt")), 120);
	json_decref(r);
	read_temperature(e);
}

/* A bootstrap that fails leaves the bootstrap account as it was: here the
 * server turns it into a management account (the configured one comes
 * back at a free instance) and never finishes. */
static void failed_bootstrap_restores_bootstrap_account(void **state)
{
	struct env *e = *state;
	json_t *r;
	const char *links;

	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/0/1 text 0"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/0/10 text 9"));
	r = bs_request(e, "2.05", "bs-discover bs-bt /0");
	links = str(r, "payload_text");
	if (!strstr(links, "</0/0>;ssid=9") || !strstr(links, "</0/1>"))
		fail_msg("bootstrap account not moved: %s", links);
	json_decref(r);
	/* Silence: the attempt fails at the Finish timeout and is retried. */
	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	r = bs_request(e, "2.05", "bs-discover bs-bt /0");
	links = str(r, "payload_text");
	if (strcmp(links, "</>;lwm2m=1.1,</0>;ver=1.1,</0/0>") != 0)
		fail_msg("bootstrap account not restored: %s", links);
	json_decref(r);
}

/* s in hex, as the test server takes a whole instance's payload. */
static char *hex(const char *s)
{
	size_t n = strlen(s);
	char *h = malloc(2 * n + 1);

	assert_non_null(h);
	for (size_t i = 0; i < n; i++)
		snprintf(h + 2 * i, 3, "%02x", (unsigned char)s[i]);
	h[2 * n] = '\0';
	return h;
}

/* Bootstrap-Write answers 2.04, 4.00 or 4.15: resources the client does
 * not support are ignored, missing instances of the bootstrap objects are
 * created, and a device object's missing instance (hardware) is 4.00. */
static void bootstrap_write_rules(void **state)
{
	struct env *e = *state;
	char *payload = hex("[{\"bn\":\"/1/1/\",\"n\":\"0\",\"v\":7},{\"n\":\"1\",\"v\":120},"
			    "{\"n\":\"99\",\"v\":1},{\"n\":\"7\",\"vs\":\"U\"}]");
	json_t *r;

	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /1/1 senml-json %s", payload));
	free(payload);
	r = bs_request(e, "2.05", "bs-read bs-bt /1/1/1 text");
	assert_string_equal(str(r, "payload_text"), "120");
	json_decref(r);
	json_decref(bs_request(e, "4.04", "bs-read bs-bt /1/1/99 text"));
	/* A write larger than a block comes block-wise (Block1, put
	 * together by block1.c on the bootstrap session too). */
	{
		char big[2600], *bh;
		int n = snprintf(big, sizeof(big), "[{\"bn\":\"/1/1/\",\"n\":\"1\",\"v\":150},"
				 "{\"n\":\"99\",\"vs\":\"");
		memset(big + n, 'x', 2400);
		strcpy(big + n + 2400, "\"}]");
		bh = hex(big);
		/* (bs_request's buffer is too small for this command) */
		r = h_request(&e->bs, H_TIMEOUT_MS, "bs-write bs-bt /1/1 senml-json %s", bh);
		free(bh);
		assert_non_null(r);
		assert_string_equal(str(r, "code"), "2.04");
		json_decref(r);
		r = bs_request(e, "2.05", "bs-read bs-bt /1/1/1 text");
		assert_string_equal(str(r, "payload_text"), "150");
		json_decref(r);
	}
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /1/1/99 text 5"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /2/7/0 text 3"));
	r = bs_request(e, "2.05", "bs-read bs-bt /2/7/0 text");
	assert_string_equal(str(r, "payload_text"), "3");
	json_decref(r);
	json_decref(bs_request(e, "4.00", "bs-write bs-bt /3303/5/5700 text 1"));
	json_decref(bs_request(e, "4.00", "bs-write bs-bt /9999/0/0 text 1"));
	/* Bootstrap-Discover of an object: with its version; 4.04 for one
	 * the device does not have. */
	r = bs_request(e, "2.05", "bs-discover bs-bt /3303");
	assert_string_equal(str(r, "payload_text"), "</>;lwm2m=1.1,</3303>;ver=1.1,</3303/0>");
	json_decref(r);
	json_decref(bs_request(e, "4.04", "bs-discover bs-bt /3304"));
}

/* An account whose server never answers: after the Communication Retry
 * Count (/1/x/17, written 2 here) failed registrations of the one sequence
 * a bootstrapped account has, bootstrap again (/1/x/16 absent means true
 * for it). */
static void registration_failure_bootstraps_again(void **state)
{
	struct env *e = *state;
	int dead = h_free_udp_port();

	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.02", "bs-delete bs-bt /"));
	json_decref(bs_request(e, "2.04", "bs-account bs-bt 1 7 coap://127.0.0.1:%d 120", dead));
	json_decref(h_wait_event(&e->bs, "response", "op", "bs-write", H_TIMEOUT_MS));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /1/1/17 text 2"));
	json_decref(bs_request(e, "2.04", "bs-finish bs-bt"));
	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	assert_true(h_wait_file_contains(e->log, "failed for good: bootstrapping again",
					  H_TIMEOUT_MS));
	/* This time a server that answers. */
	json_decref(bs_request(e, "2.02", "bs-delete bs-bt /"));
	json_decref(bs_request(e, "2.04", "bs-account bs-bt 3 9 coap://127.0.0.1:%d 90",
			       e->mgmt_port));
	json_decref(h_wait_event(&e->bs, "response", "op", "bs-write", H_TIMEOUT_MS));
	json_decref(bs_request(e, "2.04", "bs-finish bs-bt"));
	json_decref(expect(e, &e->mgmt, "register", "ep", "bs-bt"));
	read_temperature(e);
}

/* The whole file, NUL-terminated; NULL when unreadable. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);
			if (!nb)
				break;
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* The delay in seconds the daemon's log gives for its n-th bootstrap
 * after one whose account did not register; -1 when not logged. */
static double logged_bootstrap_delay(struct env *e, unsigned n)
{
	char *text = slurp(e->log), pat[64], *p;
	double d = -1;

	snprintf(pat, sizeof(pat), "(%u bootstrap(s) since the last", n);
	if (text && (p = strstr(text, pat))) {
		/* "... bootstrapping again in 2.1 s (1 bootstrap(s) since ..." */
		while (p > text && p[-1] != '\n')
			p--;
		p = strstr(p, "bootstrapping again in ");
		if (p)
			d = strtod(p + strlen("bootstrapping again in "), NULL);
	}
	free(text);
	return d;
}

/* Every Register is refused (4.00): the usual form, then once the plain
 * object list.  A bootstrapped account asks for bootstrap on registration
 * failure, so the device bootstraps again, but after 2 s, then 4 s (the
 * back-off doubling, +-25%): never the loop of a hundred bootstraps a
 * second.  The events are counted, the waits read from the log: nothing
 * here is timed. */
static void refused_registration_backs_off(void **state)
{
	struct env *e = *state;
	json_t *ev;

	for (unsigned i = 0; i < 3; i++) {
		json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
		for (int k = 0; k < 2; k++) {
			ev = expect(e, &e->mgmt, "rejected", "op", "register");
			assert_string_equal(str(ev, "code"), "4.00");
			json_decref(ev);
		}
	}
	/* Nothing more yet: the next bootstrap is 8 s away. */
	assert_false(bootstrap_requested_since(e));
	h_send(&e->mgmt, "list");
	json_decref(expect(e, &e->mgmt, "list", NULL, NULL));
	ev = h_wait_event(&e->mgmt, "rejected", NULL, NULL, 0);
	assert_null(ev);
	assert_true(h_wait_file_contains(e->log, "trying once more with a plain object list",
					  H_TIMEOUT_MS));
	for (unsigned n = 1; n <= 2; n++) {
		double d = logged_bootstrap_delay(e, n), want = n == 1 ? 2 : 4;
		if (d < want * 0.75 || d > want * 1.25) {
			dump_log(e);
			fail_msg("bootstrap %u after %.1f s, expected %.0f s +-25%%", n + 1, d, want);
		}
	}
}

/* A server that reads ct= as one number (4.00 to a quoted list): the
 * first Register is accepted, and announces SenML JSON. */
static void strict_server_takes_the_first_register(void **state)
{
	struct env *e = *state;
	json_t *ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");

	assert_string_equal(str(ev, "lwm2m"), "1.1");
	assert_non_null(strstr(str(ev, "links"), "</>;rt=\"oma.lwm2m\";ct=110,"));
	json_decref(ev);
	ev = h_wait_event(&e->mgmt, "rejected", NULL, NULL, 0);
	assert_null(ev);
	read_temperature(e);
}

/* A server that takes only a plain object list: refused once, then
 * registered with it (same version), and served. */
static void plain_list_after_bad_request(void **state)
{
	struct env *e = *state;
	json_t *ev = expect(e, &e->mgmt, "rejected", "op", "register");

	json_decref(ev);
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_string_equal(str(ev, "lwm2m"), "1.1");
	assert_null(strchr(str(ev, "links"), ';'));
	assert_non_null(strstr(str(ev, "links"), "</3303/0>"));
	json_decref(ev);
	assert_true(h_wait_file_contains(e->log, "with the plain object list; keeping it",
					  H_TIMEOUT_MS));
	read_temperature(e);
}

static void psk_bootstrap_and_psk_account(void **state)
{
	struct env *e = *state;
	json_t *ev;

	ev = expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt");
	assert_true(json_is_true(json_object_get(ev, "secure")));
	assert_string_equal(str(ev, "identity"), "bt-boot");
	json_decref(ev);
	json_decref(expect_auto(e, "bs-finish", "2.04"));
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_true(json_is_true(json_object_get(ev, "secure")));
	assert_string_equal(str(ev, "identity"), "bt-dm");
	json_decref(ev);
	read_temperature(e);
	/* The key went to the state file, never to the log. */
	assert_false(h_wait_file_contains(e->log, "a0a1a2a3", 0));
}

/* LwM2M 1.2: the whole configuration in one Bootstrap-Pack. */
static void bootstrap_pack(void **state)
{
	struct env *e = *state;
	json_t *ev;

	ev = expect(e, &e->bs, "bootstrap-pack-request", "ep", "bs-bt");
	assert_string_equal(str(ev, "code"), "2.05");
	assert_int_equal(json_integer_value(json_object_get(ev, "accept")), 112);
	json_decref(ev);
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_string_equal(str(ev, "lwm2m"), "1.2");
	assert_non_null(strstr(str(ev, "links"), "</1/1>"));
	json_decref(ev);
	read_temperature(e);
	/* No Bootstrap-Request was needed. */
	assert_false(bootstrap_requested_since(e));
}

/* A server without a pack for us: the Bootstrap-Request follows at once. */
static void bootstrap_pack_falls_back(void **state)
{
	struct env *e = *state;
	json_t *ev;

	ev = expect(e, &e->bs, "bootstrap-pack-request", "ep", "bs-bt");
	assert_string_equal(str(ev, "code"), "4.04");
	json_decref(ev);
	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.04", "bs-account bs-bt 2 5 coap://127.0.0.1:%d 100",
			       e->mgmt_port));
	json_decref(h_wait_event(&e->bs, "response", "op", "bs-write", H_TIMEOUT_MS));
	json_decref(bs_request(e, "2.04", "bs-finish bs-bt"));
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_int_equal(json_integer_value(json_object_get(ev, "lt")), 100);
	json_decref(ev);
	read_temperature(e);
}

/* A PEM file of the credentials as the DER hex a bootstrap server writes:
 * a certificate, a public key, or a private key (PKCS#8). */
static char *der_hex(const char *dir, const char *name)
{
	char path[4096], *hex;
	gnutls_datum_t pem = {0}, der = {0};
	int r = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(gnutls_load_file(path, &pem), 0);
	if (strstr((const char *)pem.data, "CERTIFICATE")) {
		gnutls_x509_crt_t c;
		gnutls_x509_crt_init(&c);
		if (gnutls_x509_crt_import(c, &pem, GNUTLS_X509_FMT_PEM) >= 0)
			r = gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &der);
		gnutls_x509_crt_deinit(c);
	} else if (strstr((const char *)pem.data, "PUBLIC KEY")) {
		gnutls_pubkey_t k;
		gnutls_pubkey_init(&k);
		if (gnutls_pubkey_import(k, &pem, GNUTLS_X509_FMT_PEM) >= 0)
			r = gnutls_pubkey_export2(k, GNUTLS_X509_FMT_DER, &der);
		gnutls_pubkey_deinit(k);
	} else {
		gnutls_x509_privkey_t k;
		gnutls_x509_privkey_init(&k);
		if (gnutls_x509_privkey_import(k, &pem, GNUTLS_X509_FMT_PEM) >= 0)
			r = gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_DER, NULL,
							     GNUTLS_PKCS_PLAIN, &der);
		gnutls_x509_privkey_deinit(k);
	}
	gnutls_free(pem.data);
	assert_true(r >= 0);
	hex = malloc(2 * der.size + 1);
	assert_non_null(hex);
	for (unsigned i = 0; i < der.size; i++)
		snprintf(hex + 2 * i, 3, "%02x", der.data[i]);
	hex[2 * der.size] = '\0';
	gnutls_free(der.data);
	return hex;
}

/* Bootstrap-Write a certificate account, one resource at a time. */
static void provision_cert_account(struct env *e, int mode, const char *own, const char *server,
				   const char *key)
{
	char *own_hex = der_hex(e->dir, own), *srv_hex = der_hex(e->dir, server);
	char *key_hex = der_hex(e->dir, key);

	json_decref(expect(e, &e->bs, "bootstrap-request", "ep", "bs-bt"));
	json_decref(bs_request(e, "2.02", "bs-delete bs-bt /"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/0 text coaps://127.0.0.1:%d",
			       e->mgmt_port));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/1 text 0"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/2 text %d", mode));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/3 opaque %s", own_hex));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/4 opaque %s", srv_hex));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/5 opaque %s", key_hex));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /0/1/10 text 4"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /1/1/0 text 4"));
	json_decref(bs_request(e, "2.04", "bs-write bs-bt /1/1/1 text 60"));
	json_decref(bs_request(e, "2.04", "bs-finish bs-bt"));
	free(own_hex);
	free(srv_hex);
	free(key_hex);
}

/* X.509: our certificate and key, the server's certificate pinned
 * (Certificate Usage absent: 3, domain-issued). */
static void x509_account(void **state)
{
	struct env *e = *state;
	json_t *ev;

	provision_cert_account(e, 2, "client.pem", "server.pem", "client.key");
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_true(json_is_true(json_object_get(ev, "secure")));
	json_decref(ev);
	read_temperature(e);
}

/* Raw public keys: ours and the server's. */
static void rpk_account(void **state)
{
	struct env *e = *state;
	json_t *ev;

	provision_cert_account(e, 1, "rpk-client.pub", "rpk-server.pub", "rpk-client.key");
	ev = expect(e, &e->mgmt, "register", "ep", "bs-bt");
	assert_true(json_is_true(json_object_get(ev, "secure")));
	json_decref(ev);
	read_temperature(e);
}

int main(void)
{
	const struct CMUnitTest automatic[] = {
		cmocka_unit_test(bootstrap_from_scratch),
		cmocka_unit_test(restart_registers_directly),
		cmocka_unit_test(trigger_bootstraps_again),
	};
	const struct CMUnitTest manual[] = {
		cmocka_unit_test_setup_teardown(bad_bootstrap_is_refused_and_retried, setup_manual,
						teardown),
		cmocka_unit_test_setup_teardown(registration_failure_bootstraps_again, setup_manual,
						teardown),
		cmocka_unit_test_setup_teardown(failed_bootstrap_restores_bootstrap_account,
						setup_manual, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_write_rules, setup_manual, teardown),
	};
	const struct CMUnitTest pack[] = {
		cmocka_unit_test_setup_teardown(bootstrap_pack, setup_pack, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_pack_falls_back, setup_pack_manual,
						teardown),
	};
	const struct CMUnitTest refusing[] = {
		cmocka_unit_test_setup_teardown(refused_registration_backs_off, setup_refuse_all,
						teardown),
		cmocka_unit_test_setup_teardown(strict_server_takes_the_first_register,
						setup_refuse_strict, teardown),
		cmocka_unit_test_setup_teardown(plain_list_after_bad_request, setup_refuse_plain,
						teardown),
	};
	const struct CMUnitTest dtls[] = {
		cmocka_unit_test_setup_teardown(psk_bootstrap_and_psk_account, setup_dtls, teardown),
		cmocka_unit_test_setup_teardown(x509_account, setup_x509, teardown),
		cmocka_unit_test_setup_teardown(rpk_account, setup_rpk, teardown),
	};
	int skip = h_skip_without_sim(), r;

	if (skip)
		return skip;
	r = cmocka_run_group_tests_name("bootstrap, automatic", automatic, setup_auto, teardown);
	r |= cmocka_run_group_tests_name("bootstrap, step by step", manual, NULL, NULL);
	r |= cmocka_run_group_tests_name("servers that refuse Registers", refusing, NULL, NULL);
	r |= cmocka_run_group_tests_name("bootstrap over DTLS", dtls, NULL, NULL);
	return r | cmocka_run_group_tests_name("bootstrap pack (1.2)", pack, NULL, NULL);
}
