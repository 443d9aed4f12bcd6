/* The DTLS cipher suites LwM2M requires (TS Transport 1.1 section 5.2:
 * TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256 for
 * pre-shared keys, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 and
 * TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 for certificates and raw public
 * keys), each checked against an independent DTLS server that allows only
 * that one suite: GnuTLS's own gnutls-serv in UDP echo mode.  The handshake
 * succeeded when the server shows the daemon's Register, decrypted.
 * Then how the device knows the server against the same server: a raw-key
 * device against a server that also has a certificate, and certificate and
 * raw-key devices against servers that show none.
 * Skipped (77) without gnutls-serv (Debian package gnutls-bin). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "creds.h"
#include "harness.h"

#define GNUTLS_SERV "/usr/bin/gnutls-serv"
#define PSK_ID "suite-dev"
#define PSK_KEY "00112233445566778899aabbccddeeff"

static char *creds;

enum kind { PSK, X509, RPK };

struct suite {
	const char *name;
	enum kind kind;
	const char *kx, *cipher, *mac;
};

/* One DTLS 1.2 suite and certificate type only, so that a handshake
 * succeeds only if the daemon offers exactly that suite. */
static char *priority(const struct suite *s)
{
	return h_strf("NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+%s:-CIPHER-ALL:+%s:-MAC-ALL:+%s%s",
		   s->kx, s->cipher, s->mac,
		   s->kind == RPK ? ":-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK"
				  : s->kind == X509 ? ":-CTYPE-ALL:+CTYPE-X509" : "");
}

static char *device_credentials(enum kind k)
{
	switch (k) {
	case PSK:
		return h_strf("psk_identity = \"" PSK_ID "\"; psk_key = \"" PSK_KEY "\";");
	case X509:
		return h_strf("certificate = \"%s/client.pem\"; private_key = \"%s/client.key\"; "
			   "ca_file = \"%s/ca.pem\"; sni = \"lwm2m.test\";",
			   creds, creds, creds);
	default:
		return h_strf("private_key = \"%s/rpk-client.key\"; public_key = \"%s/rpk-client.pub\"; "
			   "server_public_key = \"%s/rpk-server.pub\";",
			   creds, creds, creds);
	}
}

/* gnutls-serv in UDP echo mode on a port of its own; what it prints goes to
 * out. */
struct serv {
	struct proc p;
	char *out;
	int port;
};

static void serv_start(struct serv *sv, const char *dir, const char *args, const char *prio)
{
	char *cmd;

	sv->out = h_strf("%s/gnutls-serv.out", dir);
	sv->port = h_free_udp_port();
	cmd = h_strf("exec stdbuf -oL -eL " GNUTLS_SERV " --udp --echo -p %d %s --priority '%s' "
		     ">>'%s' 2>&1", sv->port, args, prio, sv->out);
	{
		char *argv[] = {"/bin/sh", "-c", cmd, NULL};
		FILE *f = fopen(sv->out, "w"); /* watched from before the server writes */
		assert_non_null(f);
		fclose(f);
		assert_int_equal(h_spawn(&sv->p, argv, false, NULL), 0);
	}
	if (!h_wait_file_contains(sv->out, "listening on IPv4", H_TIMEOUT_MS)) {
		h_dump_file(sv->out);
		fail_msg("gnutls-serv did not start");
	}
	free(cmd);
}

static void serv_stop(struct serv *sv)
{
	h_stop(&sv->p, SIGTERM, 5000);
	free(sv->out);
}

/* gatewayd with one sim device "name" (endpoint suite-name) of the given
 * security mode and credentials, towards sv. */
static void gw_start(struct proc *gw, const char *dir, const struct serv *sv, const char *mode,
		     const char *name, const char *devcred)
{
	char *cfg = h_strf("gateway = { name = \"suite\"; state_dir = \"%s\"; };\n"
			   "servers = ( { name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; "
			   "security = \"%s\"; } );\n"
			   "devices = ( { name = \"%s\"; adapter = \"sim\"; %s\n"
			   "  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; "
			   "waveform = \"sine\"; base = 20.0; } ); } );\n",
			   dir, sv->port, mode, name, devcred);
	char *conf = h_strf("%s/gatewayd.conf", dir);
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fputs(cfg, f);
	fclose(f);
	assert_int_equal(h_start_gatewayd(gw, dir, conf), 0);
	free(cfg);
	free(conf);
}

static void dump_both(const char *dir, const struct serv *sv)
{
	char *log = h_strf("%s/gatewayd.log", dir);

	h_dump_file(sv->out);
	h_dump_file(log);
	free(log);
}

/* The echo server prints what it decrypted: the device's Register, with its
 * endpoint name. */
static void registers(const char *dir, const struct serv *sv, const char *name)
{
	char *ep = h_strf("ep=suite-%s", name);
	bool seen = h_wait_file_contains(sv->out, ep, H_TIMEOUT_MS);

	if (!seen)
		dump_both(dir, sv);
	free(ep);
	assert_true(seen);
}

/* The device refused the server during the handshake, for cause: its first
 * registration attempt failed so (a completed handshake would leave the
 * Register unanswered by the echo server, not failed), and nothing reached
 * the server decrypted. */
static void refused(const char *dir, const struct serv *sv, const char *name, const char *cause)
{
	char *log = h_strf("%s/gatewayd.log", dir);
	char *line = h_strf("%s: registration with coaps://127.0.0.1:%d failed (%s", name, sv->port,
			    cause);
	bool seen = h_wait_file_contains(log, line, H_TIMEOUT_MS);

	if (!seen || h_wait_file_contains(sv->out, "ep=", 0))
		dump_both(dir, sv);
	assert_true(seen);
	assert_false(h_wait_file_contains(sv->out, "ep=", 0));
	free(line);
	free(log);
}

/* tmpl with every @C@ replaced by the credentials directory. */
static char *in_creds(const char *tmpl)
{
	char *s = h_strf("%s", tmpl), *c;

	while ((c = strstr(s, "@C@"))) {
		char *n = h_strf("%.*s%s%s", (int)(c - s), s, creds, c + 3);
		free(s);
		s = n;
	}
	return s;
}

enum outcome {
	REGISTERS,   /* the handshake succeeds and the Register gets through */
	REFUSES,     /* the device refuses the server, for a cause it logs */
	NO_SUITE,    /* the server finds no cipher suite it allows in the
		      * device's offer */
};

/* A device of mode with devcred against gnutls-serv run with args and prio
 * (@C@: the credentials directory), with outcome (cause: what the device
 * logs when it REFUSES). */
static void against(const char *args, const char *prio, const char *mode, const char *name,
		    const char *devcred, enum outcome outcome, const char *cause)
{
	char *dir = h_tmpdir();
	char *a = in_creds(args), *d = in_creds(devcred);
	struct serv sv;
	struct proc gw;

	serv_start(&sv, dir, a, prio);
	gw_start(&gw, dir, &sv, mode, name, d);
	switch (outcome) {
	case REGISTERS:
		registers(dir, &sv, name);
		break;
	case REFUSES:
		refused(dir, &sv, name, cause);
		break;
	case NO_SUITE: {
		/* The server says so and sends no alert: the device retries its
		 * hello until libcoap gives up, long after. */
		bool seen = h_wait_file_contains(
			sv.out, "Error in handshake(): No supported cipher suites have been found.",
			H_TIMEOUT_MS);
		if (!seen || h_wait_file_contains(sv.out, "ep=", 0))
			dump_both(dir, &sv);
		assert_true(seen);
		assert_false(h_wait_file_contains(sv.out, "ep=", 0));
		break;
	}
	}
	h_stop(&gw, SIGKILL, 5000);
	serv_stop(&sv);
	free(a);
	free(d);
	h_tmpdir_remove(dir);
}

static void handshake(const struct suite *s)
{
	static const char *const args[] = {
		[PSK] = "--pskpasswd '@C@/psk.txt'",
		[X509] = "--x509certfile '@C@/server.pem' --x509keyfile '@C@/server.key'",
		[RPK] = "--rawpkfile '@C@/rpk-server.pub' --rawpkkeyfile '@C@/rpk-server.key'",
	};
	static const char *const modes[] = {[PSK] = "psk", [X509] = "x509", [RPK] = "rpk"};
	char *prio = priority(s), *devcred = device_credentials(s->kind);

	against(args[s->kind], prio, modes[s->kind], s->name, devcred, REGISTERS, NULL);
	free(devcred);
	free(prio);
}

static void psk_aes_128_ccm_8(void **state)
{
	(void)state;
	handshake(&(struct suite){"psk-ccm8", PSK, "PSK", "AES-128-CCM-8", "AEAD"});
}

static void psk_aes_128_cbc_sha256(void **state)
{
	(void)state;
	handshake(&(struct suite){"psk-cbc", PSK, "PSK", "AES-128-CBC", "SHA256"});
}

static void ecdhe_ecdsa_aes_128_ccm_8_x509(void **state)
{
	(void)state;
	handshake(&(struct suite){"x509-ccm8", X509, "ECDHE-ECDSA", "AES-128-CCM-8", "AEAD"});
}

static void ecdhe_ecdsa_aes_128_gcm_sha256_x509(void **state)
{
	(void)state;
	handshake(&(struct suite){"x509-gcm", X509, "ECDHE-ECDSA", "AES-128-GCM", "AEAD"});
}

static void ecdhe_ecdsa_aes_128_ccm_8_rpk(void **state)
{
	(void)state;
	handshake(&(struct suite){"rpk-ccm8", RPK, "ECDHE-ECDSA", "AES-128-CCM-8", "AEAD"});
}

/* ---- the server's identity ------------------------------------------------ */

#define RPK_DEV "private_key = \"@C@/rpk-client.key\"; public_key = \"@C@/rpk-client.pub\"; "
#define X509_DEV "certificate = \"@C@/client.pem\"; private_key = \"@C@/client.key\"; " \
		 "ca_file = \"@C@/ca.pem\"; sni = \"lwm2m.test\";"
/* A server offering both an X.509 certificate and a raw public key, of
 * the same key pair, on one endpoint. */
#define BOTH(pem, key, pub) "--x509certfile '@C@/" pem "' --x509keyfile '@C@/" key "' " \
			    "--rawpkfile '@C@/" pub "' --rawpkkeyfile '@C@/" key "'"
#define BOTH_PRIO "NORMAL:+CTYPE-SRV-ALL:+CTYPE-CLI-ALL"

/* Item: libcoap 4.3.1 offers X.509 and raw public keys for the server's
 * certificate type, whatever the mode, and such a server picks X.509.  In
 * RPK mode the server is known by its key alone (RFC 7250; /0/x/4 holds
 * that key): a certificate carrying server_public_key, whoever signed it,
 * proves the same as the bare key, and is accepted. */
static void rpk_server_shows_certificate(void **state)
{
	(void)state;
	against(BOTH("server.pem", "server.key", "server.pub"), BOTH_PRIO, "rpk", "rpk-ca",
		RPK_DEV "server_public_key = \"@C@/server.pub\";", REGISTERS, NULL);
}

/* ... whatever signed it: a self-signed certificate too (libcoap's own
 * check would refuse it as "Self-signed" before asking ours). */
static void rpk_server_shows_self_signed_certificate(void **state)
{
	(void)state;
	against(BOTH("other.pem", "other.key", "other.pub"), BOTH_PRIO, "rpk", "rpk-self",
		RPK_DEV "server_public_key = \"@C@/other.pub\";", REGISTERS, NULL);
}

/* ... or an expired one: the key is what RPK mode trusts, not the dates. */
static void rpk_server_shows_expired_certificate(void **state)
{
	(void)state;
	against(BOTH("expired.pem", "server.key", "server.pub"), BOTH_PRIO, "rpk", "rpk-expired",
		RPK_DEV "server_public_key = \"@C@/server.pub\";", REGISTERS, NULL);
}

/* ... and a certificate with another key is not. */
static void rpk_server_shows_certificate_of_other_key(void **state)
{
	(void)state;
	against(BOTH("server.pem", "server.key", "server.pub"), BOTH_PRIO, "rpk", "rpk-wrong",
		RPK_DEV "server_public_key = \"@C@/rpk-other.pub\";", REFUSES,
		"the server's public key is not server_public_key");
}

/* Item: a server that shows no certificate at all, with every credential at
 * hand but only anonymous Diffie-Hellman, or pre-shared keys, allowed; or,
 * to an X.509 device, a bare raw public key.  libcoap asks our certificate
 * callback nothing then: the device must refuse the server all the same. */
#define ANY_CREDS BOTH("server.pem", "server.key", "server.pub") " --pskpasswd '@C@/psk.txt'"
#define ANON_PRIO "NORMAL:+CTYPE-SRV-ALL:+CTYPE-CLI-ALL:-KX-ALL:+ANON-ECDH:+ANON-DH"
#define PSK_PRIO "NORMAL:+CTYPE-SRV-ALL:+CTYPE-CLI-ALL:-KX-ALL:+PSK:+ECDHE-PSK:+DHE-PSK"

static void x509_anonymous_server_refused(void **state)
{
	(void)state;
	against(ANY_CREDS, ANON_PRIO, "x509", "x509-anon", X509_DEV, NO_SUITE, NULL);
}

static void rpk_anonymous_server_refused(void **state)
{
	(void)state;
	against(ANY_CREDS, ANON_PRIO, "rpk", "rpk-anon",
		RPK_DEV "server_public_key = \"@C@/server.pub\";", NO_SUITE, NULL);
}

static void x509_psk_server_refused(void **state)
{
	(void)state;
	against(ANY_CREDS, PSK_PRIO, "x509", "x509-psk", X509_DEV, NO_SUITE, NULL);
}

static void rpk_psk_server_refused(void **state)
{
	(void)state;
	against(ANY_CREDS, PSK_PRIO, "rpk", "rpk-psk",
		RPK_DEV "server_public_key = \"@C@/server.pub\";", NO_SUITE, NULL);
}

static void x509_raw_key_server_refused(void **state)
{
	(void)state;
	against("--rawpkfile '@C@/server.pub' --rawpkkeyfile '@C@/server.key'",
		"NORMAL:-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-ALL", "x509", "x509-raw", X509_DEV,
		REFUSES, "the server showed a raw public key, not a certificate");
}

static int group_setup(void **state)
{
	char *psk;
	FILE *f;

	(void)state;
	creds = h_tmpdir();
	if (!creds || creds_make(creds) != 0)
		return -1;
	/* For a server that knows pre-shared keys only. */
	psk = h_strf("%s/psk.txt", creds);
	f = fopen(psk, "w");
	free(psk);
	if (!f)
		return -1;
	fprintf(f, PSK_ID ":" PSK_KEY "\n");
	return fclose(f) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	h_tmpdir_remove(creds);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(psk_aes_128_ccm_8),
		cmocka_unit_test(psk_aes_128_cbc_sha256),
		cmocka_unit_test(ecdhe_ecdsa_aes_128_ccm_8_x509),
		cmocka_unit_test(ecdhe_ecdsa_aes_128_gcm_sha256_x509),
		cmocka_unit_test(ecdhe_ecdsa_aes_128_ccm_8_rpk),
		cmocka_unit_test(rpk_server_shows_certificate),
		cmocka_unit_test(rpk_server_shows_certificate_of_other_key),
		cmocka_unit_test(rpk_server_shows_self_signed_certificate),
		cmocka_unit_test(rpk_server_shows_expired_certificate),
		cmocka_unit_test(x509_anonymous_server_refused),
		cmocka_unit_test(rpk_anonymous_server_refused),
		cmocka_unit_test(x509_psk_server_refused),
		cmocka_unit_test(rpk_psk_server_refused),
		cmocka_unit_test(x509_raw_key_server_refused),
	};

	if (h_skip_without_sim())
		return 77;
	if (access(GNUTLS_SERV, X_OK) != 0) {
		fprintf(stderr, "skipped: %s not installed (Debian package gnutls-bin)\n",
			GNUTLS_SERV);
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
