/* DTLS end to end: the test server on coaps with PSK, X.509 and raw public
 * keys, gatewayd with per-device credentials made at test time.  Each
 * credential kind registers and serves reads; each kind of refused handshake
 * is reported with its cause and retried, while a second device of the same
 * daemon registers; key material never reaches the log; a key file others
 * can read is refused by gatewayd -t with the file's name. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>

#include "creds.h"
#include "harness.h"

#define KEY_GOOD "0123456789abcdef0123456789abcdef"
#define KEY_BAD "fedcba9876543210fedcba9876543210"
#define KEY_WRONG "00112233445566778899aabbccddeeff"

/* Test credentials, made once for all tests. */
static char *creds;

struct env {
	char *dir;
	struct proc srv[3];
	int port[3];
	size_t n_srv;
	struct proc gw;
	char *log;
};

/* t with every "@C@" replaced by the credentials directory. */
static char *with_creds(const char *t)
{
	size_t n = 1;
	char *out, *o;

	for (const char *p = t; *p; p++)
		n += strncmp(p, "@C@", 3) == 0 ? strlen(creds) : 1;
	out = o = malloc(n);
	assert_non_null(out);
	while (*t) {
		if (strncmp(t, "@C@", 3) == 0) {
			o = stpcpy(o, creds);
			t += 3;
		} else {
			*o++ = *t++;
		}
	}
	*o = '\0';
	return out;
}

static int group_setup(void **state)
{
	(void)state;
	if (h_skip_without_sim())
		return -1;
	creds = h_tmpdir();
	return creds && creds_make(creds) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	h_tmpdir_remove(creds);
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = h_tmpdir();
	e->log = h_strf("%s/gatewayd.log", e->dir);
	e->gw.pid = -1;
	*state = e;
	return e->dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (e->gw.pid > 0)
		h_stop(&e->gw, SIGKILL, 5000);
	for (size_t i = 0; i < e->n_srv; i++)
		h_stop(&e->srv[i], SIGTERM, 5000);
	free(e->log);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

/* Start a test server with these options (NULL-terminated); its port. */
static int start_server(struct env *e, const char *const *opts)
{
	char *bin = h_build_path("tests/lwm2m-server/lwm2m-test-server");
	char *log = h_strf("%s/server%zu.log", e->dir, e->n_srv);
	char *argv[24] = {bin, "-a", "127.0.0.1", "-p", "0"};
	struct proc *p = &e->srv[e->n_srv];
	size_t n = 5;
	json_t *ev;
	int port = -1;

	for (; *opts && n < 23; opts++)
		argv[n++] = with_creds(*opts);
	argv[n] = NULL;
	if (h_spawn(p, argv, true, log) == 0) {
		e->n_srv++;
		ev = h_wait_event(p, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev && json_is_true(json_object_get(ev, "secure")))
			port = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	for (size_t i = 5; i < n; i++)
		free(argv[i]);
	free(log);
	free(bin);
	assert_true(port > 0);
	e->port[e->n_srv - 1] = port;
	return port;
}

/* A sim device: name, its server, credential keys ("@C@" is the creds dir). */
static char *device(const char *name, const char *server, const char *keys)
{
	char *k = with_creds(keys);
	char *d = h_strf("  { name = \"%s\"; adapter = \"sim\"; manufacturer = \"Acme\"; servers = [ \"%s\" ];\n"
		      "    %s\n"
		      "    points = ( { channel = \"t\"; path = \"/3303/0/5700\"; poll = 1.0;\n"
		      "                 waveform = \"constant\"; base = 21.5; } ); }",
		      name, server, k);
	free(k);
	return d;
}

static void start_gatewayd(struct env *e, const char *servers, const char *devices)
{
	char *conf = h_strf("gateway = { name = \"dtls\"; endpoint_pattern = \"%%d\"; };\n"
			 "servers = ( %s );\ndevices = (\n%s\n);\n",
			 servers, devices);
	char *path = h_write_config(e->dir, "gatewayd.conf", conf, 0);

	assert_int_equal(h_start_gatewayd(&e->gw, e->dir, path), 0);
	free(path);
	free(conf);
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void fail_with_log(struct env *e, const char *what)
{
	h_dump_file(e->log);
	fail_msg("%s", what);
}

/* ep registers over DTLS (with identity, when non-NULL) and answers a read. */
static void registers_and_reads(struct env *e, struct proc *srv, const char *ep,
				const char *identity)
{
	json_t *reg = h_wait_event(srv, "register", "ep", ep, H_TIMEOUT_MS);
	json_t *r;

	if (!reg)
		fail_with_log(e, ep);
	assert_true(json_is_true(json_object_get(reg, "secure")));
	if (identity)
		assert_string_equal(str(reg, "identity"), identity);
	json_decref(reg);
	r = h_request(srv, H_TIMEOUT_MS, "read %s /3/0/0 text", ep);
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	assert_string_equal(str(r, "payload_text"), "Acme");
	json_decref(r);
}

/* The device's failure is logged with its cause, and retried (gatewayd runs
 * with -l debug, so every attempt is logged). */
static void failure_retried(struct env *e, const char *dev, int port, const char *cause)
{
	char *first = h_strf("%s: registration with coaps://127.0.0.1:%d failed (%s)", dev, port, cause);
	char *again = h_strf("%s: registration attempt 2 failed (%s)", dev, cause);

	if (!h_wait_file_contains(e->log, first, H_TIMEOUT_MS))
		fail_with_log(e, first);
	if (!h_wait_file_contains(e->log, again, H_TIMEOUT_MS))
		fail_with_log(e, again);
	free(first);
	free(again);
}

/* ep (on the first server) still answers. */
static void registers_still(struct env *e, const char *ep)
{
	json_t *r = h_request(&e->srv[0], H_TIMEOUT_MS, "read %s /3303/0/5700 text", ep);

	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	json_decref(r);
}

/* SIGTERM: gatewayd de-registers and exits 0 (under GW_VALGRIND=1, 99 on
 * any memory error or leak). */
static void stop_clean(struct env *e)
{
	int status = h_stop(&e->gw, SIGTERM, 60000);

	e->gw.pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_with_log(e, "gatewayd did not exit cleanly");
}

static bool file_has(const char *path, const char *s)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 22);
	bool found;

	assert_non_null(f);
	fread(buf, 1, (1 << 22) - 1, f);
	fclose(f);
	found = strstr(buf, s) != NULL;
	free(buf);
	return found;
}

static void psk(void **state)
{
	struct env *e = *state;
	const char *opts[] = {"--psk", "good:" KEY_GOOD, "--psk", "bad:" KEY_BAD, NULL};
	int port = start_server(e, opts);
	char *servers = h_strf("{ name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; }",
			    port);
	char *d1 = device("good", "s", "psk_identity = \"good\"; psk_key = \"" KEY_GOOD "\";");
	char *d2 = device("bad", "s", "psk_identity = \"bad\"; psk_key = \"" KEY_WRONG "\";");
	char *d3 = device("stranger", "s", "psk_identity = \"nobody\"; psk_key = \"" KEY_GOOD "\";");
	char *devs = h_strf("%s,\n%s,\n%s", d1, d2, d3);
	json_t *ev;

	start_gatewayd(e, servers, devs);
	registers_and_reads(e, &e->srv[0], "good", "good");
	/* The wrong key and the unknown identity: refused, said why, retried. */
	failure_retried(e, "bad", port,
			"DTLS handshake failed: the server refused the PSK identity or key "
			"(or has no cipher suite in common)");
	failure_retried(e, "stranger", port,
			"DTLS handshake failed: the server refused the PSK identity or key "
			"(or has no cipher suite in common)");
	ev = h_wait_event(&e->srv[0], "rejected", "identity", "nobody", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	ev = h_wait_event(&e->srv[0], "rejected", "identity", "nobody", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	registers_still(e, "good");
	/* Keys never reach the log (gatewayd runs with -l debug here). */
	assert_false(file_has(e->log, KEY_GOOD));
	assert_false(file_has(e->log, KEY_WRONG));
	stop_clean(e);
	free(devs);
	free(d1);
	free(d2);
	free(d3);
	free(servers);
}

/* Two PSK servers, each knowing the device by a different identity and
 * key: the device-level keys serve the first, its credentials entry the
 * second, and it registers with both. */
static void psk_per_server(void **state)
{
	struct env *e = *state;
	const char *oa[] = {"--psk", "dev-a:" KEY_GOOD, NULL};
	const char *ob[] = {"--psk", "dev-b:" KEY_BAD, NULL};
	int pa = start_server(e, oa), pb = start_server(e, ob);
	char *servers = h_strf("{ name = \"a\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; },\n"
			    "{ name = \"b\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; }",
			    pa, pb);
	char *d = device("two", "a\", \"b",
			 "psk_identity = \"dev-a\"; psk_key = \"" KEY_GOOD "\";\n"
			 "    credentials = ( { server = \"b\"; psk_identity = \"dev-b\";\n"
			 "                      psk_key = \"" KEY_BAD "\"; } );");

	start_gatewayd(e, servers, d);
	registers_and_reads(e, &e->srv[0], "two", "dev-a");
	registers_and_reads(e, &e->srv[1], "two", "dev-b");
	stop_clean(e);
	free(d);
	free(servers);
}

static void x509(void **state)
{
	struct env *e = *state;
	/* The server wants client certificates from the CA. */
	const char *good[] = {"--cert", "@C@/server.pem", "--key", "@C@/server.key", "--ca",
			      "@C@/ca.pem", NULL};
	const char *expired[] = {"--cert", "@C@/expired.pem", "--key", "@C@/server.key", NULL};
	const char *other[] = {"--cert", "@C@/other.pem", "--key", "@C@/other.key", NULL};
	int p0 = start_server(e, good), p1 = start_server(e, expired), p2 = start_server(e, other);
	char *servers = h_strf("{ name = \"good\"; uri = \"coaps://127.0.0.1:%d\"; security = \"x509\"; },\n"
			    "{ name = \"expired\"; uri = \"coaps://127.0.0.1:%d\"; security = \"x509\"; },\n"
			    "{ name = \"other\"; uri = \"coaps://127.0.0.1:%d\"; security = \"x509\"; }",
			    p0, p1, p2);
	const char *own = "certificate = \"@C@/client.pem\"; private_key = \"@C@/client.key\";";
	char *ca = h_strf("%s ca_file = \"@C@/ca.pem\"; sni = \"lwm2m.test\";", own);
	char *pin = h_strf("%s server_certificate = \"@C@/server.pem\";", own);
	char *name = h_strf("%s ca_file = \"@C@/ca.pem\"; sni = \"elsewhere.test\";", own);
	char *d[5] = {
		device("x-ca", "good", ca), device("x-pin", "good", pin),
		device("x-name", "good", name), device("x-exp", "expired", ca),
		device("x-other", "other", ca),
	};
	char *devs = h_strf("%s,\n%s,\n%s,\n%s,\n%s", d[0], d[1], d[2], d[3], d[4]);

	start_gatewayd(e, servers, devs);
	registers_and_reads(e, &e->srv[0], "x-ca", NULL);
	registers_and_reads(e, &e->srv[0], "x-pin", NULL);
	failure_retried(e, "x-exp", p1, "the server's certificate has expired");
	failure_retried(e, "x-other", p2, "the server's certificate is not signed by a trusted CA");
	failure_retried(e, "x-name", p0,
			"the server's certificate is for another name: expected elsewhere.test");
	/* The good ones were not disturbed. */
	registers_still(e, "x-ca");
	registers_still(e, "x-pin");
	stop_clean(e);
	for (int i = 0; i < 5; i++)
		free(d[i]);
	free(devs);
	free(ca);
	free(pin);
	free(name);
	free(servers);
}

/* Hold every descriptor below `above` (in this process, inherited by the next child:
 * no close-on-exec), so that every socket that child opens gets a higher one.  The
 * number held, or -1 when the open-file limit does not allow it. */
static int hold_descriptors_below(int above, int *held, int cap)
{
	struct rlimit rl;
	int n = 0, fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < (rlim_t)above + 256)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	while (n < cap && (fd = open("/dev/null", O_RDONLY)) >= 0) {
		held[n++] = fd;
		if (fd >= above)
			break;
	}
	return n;
}

/* gatewayd's sockets at or above `from`, from /proc. */
static int sockets_from(pid_t pid, int from)
{
	char *dir = h_strf("/proc/%d/fd", (int)pid), link[64];
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char *path;
		ssize_t l;

		if (atoi(de->d_name) < from)
			continue;
		path = h_strf("%s/%s", dir, de->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && strncmp(link, "socket:", 7) == 0)
			n++;
		free(path);
	}
	closedir(d);
	free(dir);
	return n;
}

/* libcoap 4.3.1 polls a DTLS socket with select(), which cannot take a descriptor of
 * 1,024 or more (glibc aborts).  gatewayd gives every DTLS session a poll()-based
 * function instead: PSK and RPK devices whose sockets are all above 1,100 register
 * and answer reads. */
static void high_descriptors(void **state)
{
	struct env *e = *state;
	const char *opts[] = {"--psk", "hi-psk:" KEY_GOOD, NULL};
	static int held[1200];
	char *servers, *d1;
	int port, n;

	port = start_server(e, opts);
	n = hold_descriptors_below(1100, held, 1200);
	if (n < 0)
		skip();
	servers = h_strf("{ name = \"p\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; }",
			 port);
	d1 = device("hi-psk", "p", "psk_identity = \"hi-psk\"; psk_key = \"" KEY_GOOD "\";");
	start_gatewayd(e, servers, d1);
	for (int i = 0; i < n; i++)
		close(held[i]);
	registers_and_reads(e, &e->srv[0], "hi-psk", "hi-psk");
	assert_true(sockets_from(e->gw.pid, 1100) >= 1);
	stop_clean(e);
	free(d1);
	free(servers);
}

/* The same on a lossy path: the relay drops the device's first datagram (the
 * ClientHello), so the handshake completes only if GnuTLS sends it again, which it
 * does when the pull-timeout function says that nothing arrived (dtls_poll.c).  It
 * is the same session that completes: the relay sees a single client socket. */
static void high_descriptors_retransmit(void **state)
{
	struct env *e = *state;
	const char *opts[] = {"--psk", "hi-psk:" KEY_GOOD, NULL};
	static int held[1200];
	char *bin = h_build_path("tests/integration/udp-relay"), *up, *log;
	char *argv[4], *servers, *d1;
	struct proc relay;
	json_t *ev;
	int port, relay_port, n;

	port = start_server(e, opts);
	up = h_strf("%d", port);
	log = h_strf("%s/relay.log", e->dir);
	argv[0] = bin;
	argv[1] = "-u";
	argv[2] = up;
	argv[3] = NULL;
	assert_int_equal(h_spawn(&relay, argv, true, log), 0);
	ev = h_wait_event(&relay, "listening", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	relay_port = (int)json_integer_value(json_object_get(ev, "port"));
	json_decref(ev);
	h_send(&relay, "drop 1\n");
	n = hold_descriptors_below(1100, held, 1200);
	if (n < 0) {
		h_stop(&relay, SIGTERM, 5000);
		skip();
	}
	servers = h_strf("{ name = \"p\"; uri = \"coaps://127.0.0.1:%d\"; security = \"psk\"; }",
			 relay_port);
	d1 = device("hi-psk", "p", "psk_identity = \"hi-psk\"; psk_key = \"" KEY_GOOD "\";");
	start_gatewayd(e, servers, d1);
	for (int i = 0; i < n; i++)
		close(held[i]);
	ev = h_wait_event(&relay, "dropped", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	registers_and_reads(e, &e->srv[0], "hi-psk", "hi-psk");
	/* One flow: the retransmission came from the same socket, the same session. */
	h_send(&relay, "flows\n");
	ev = h_wait_event(&relay, "flows", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	if (json_integer_value(json_object_get(ev, "n")) != 1) h_dump_file(e->log);
	assert_int_equal(json_integer_value(json_object_get(ev, "n")), 1);
	json_decref(ev);
	stop_clean(e);
	h_stop(&relay, SIGTERM, 5000);
	free(d1);
	free(servers);
	free(log);
	free(up);
	free(bin);
}

static void rpk(void **state)
{
	struct env *e = *state;
	const char *opts[] = {"--rpk", "--cert", "@C@/rpk-server.pub", "--key",
			      "@C@/rpk-server.key", NULL};
	int port;
	char *servers, *d1, *d2, *devs;

	/* libcoap does raw public keys with GnuTLS 3.6.6 and later. */
	if (!gnutls_check_version("3.6.6"))
		skip();
	port = start_server(e, opts);
	servers = h_strf("{ name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; security = \"rpk\"; }", port);
	d1 = device("r-good", "s",
		    "private_key = \"@C@/rpk-client.key\"; public_key = \"@C@/rpk-client.pub\";"
		    " server_public_key = \"@C@/rpk-server.pub\";");
	d2 = device("r-bad", "s",
		    "private_key = \"@C@/rpk-client.key\"; public_key = \"@C@/rpk-client.pub\";"
		    " server_public_key = \"@C@/rpk-other.pub\";");
	devs = h_strf("%s,\n%s", d1, d2);
	start_gatewayd(e, servers, devs);
	registers_and_reads(e, &e->srv[0], "r-good", NULL);
	failure_retried(e, "r-bad", port, "the server's public key is not server_public_key");
	registers_still(e, "r-good");
	stop_clean(e);
	free(devs);
	free(d1);
	free(d2);
	free(servers);
}

/* gatewayd -t refuses key files others can read, naming each file. */
static void readable_key_refused(void **state)
{
	struct env *e = *state;
	char *pskf = h_strf("%s/psk.hex", e->dir);
	char *keyf = h_strf("%s/client.key", e->dir);
	char *out = h_strf("%s/check.out", e->dir);
	char *bin = h_build_path("gatewayd/gatewayd");
	char *conf, *path, *d1, *d2, *devs, *want;
	struct proc p;
	FILE *f;
	int status;

	f = fopen(pskf, "w");
	assert_non_null(f);
	fputs(KEY_GOOD "\n", f);
	fclose(f);
	chmod(pskf, 0644);
	/* A copy of a good key, made readable by the group. */
	want = h_strf("cp %s/client.key %s && chmod 640 %s", creds, keyf, keyf);
	assert_int_equal(system(want), 0);
	free(want);
	d1 = h_strf("  { name = \"p\"; adapter = \"sim\"; servers = [ \"s\" ];\n"
		 "    psk_identity = \"p\"; psk_file = \"%s\"; }", pskf);
	d2 = h_strf("  { name = \"x\"; adapter = \"sim\"; servers = [ \"x\" ];\n"
		 "    certificate = \"%s/client.pem\"; private_key = \"%s\"; ca_file = \"%s/ca.pem\"; }",
		 creds, keyf, creds);
	devs = h_strf("%s,\n%s", d1, d2);
	conf = h_strf("gateway = { name = \"t\"; };\n"
		   "servers = ( { name = \"s\"; uri = \"coaps://127.0.0.1:5684\"; security = \"psk\"; },\n"
		   "            { name = \"x\"; uri = \"coaps://127.0.0.1:5685\"; security = \"x509\"; } );\n"
		   "devices = (\n%s\n);\n",
		   devs);
	path = h_write_config(e->dir, "readable.conf", conf, 0);
	{
		char *argv[] = {bin, "-t", "-c", path, "-A", getenv("GW_ADAPTER_DIR"), NULL};
		assert_int_equal(h_spawn(&p, argv, false, out), 0);
	}
	status = h_wait_exit(&p, H_TIMEOUT_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	want = h_strf("key file %s can be read or written by group or others (mode 0644)", pskf);
	if (!file_has(out, want)) {
		h_dump_file(out);
		fail_msg("missing: %s", want);
	}
	free(want);
	want = h_strf("key file %s can be read or written by group or others (mode 0640)", keyf);
	if (!file_has(out, want)) {
		h_dump_file(out);
		fail_msg("missing: %s", want);
	}
	free(want);
	free(path);
	free(conf);
	free(devs);
	free(d1);
	free(d2);
	free(bin);
	free(out);
	free(keyf);
	free(pskf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(psk, setup, teardown),
		cmocka_unit_test_setup_teardown(psk_per_server, setup, teardown),
		cmocka_unit_test_setup_teardown(x509, setup, teardown),
		cmocka_unit_test_setup_teardown(rpk, setup, teardown),
		cmocka_unit_test_setup_teardown(readable_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(high_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(high_descriptors_retransmit, setup, teardown),
	};

	if (h_skip_without_sim())
		return 77;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
