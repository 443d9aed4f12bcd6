/* The DTLS cipher suites LwM2M requires (TS Transport 1.1 section 5.2:
 * TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256 for
 * pre-shared keys, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 and
 * TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 for certificates and raw public
 * keys), each checked against an independent DTLS server that allows only
 * that one suite: GnuTLS's own gnutls-serv in UDP echo mode.  The handshake
 * succeeded when the server shows the daemon's Register, decrypted.
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

static void handshake(const struct suite *s)
{
	char *dir = h_tmpdir();
	char *out = h_strf("%s/gnutls-serv.out", dir);
	char *prio = priority(s);
	char *keys, *cmd, *conf, *devcred, *cfg;
	int port = h_free_udp_port();
	struct proc srv, gw;
	const char *mode = s->kind == PSK ? "psk" : s->kind == X509 ? "x509" : "rpk";

	switch (s->kind) {
	case PSK:
		keys = h_strf("%s/psk.txt", dir);
		{
			FILE *f = fopen(keys, "w");
			assert_non_null(f);
			fprintf(f, PSK_ID ":" PSK_KEY "\n");
			fclose(f);
		}
		cmd = h_strf("exec stdbuf -oL -eL " GNUTLS_SERV " --udp --echo -p %d --pskpasswd '%s' --priority '%s' "
			  ">>'%s' 2>&1", port, keys, prio, out);
		break;
	case X509:
		keys = NULL;
		cmd = h_strf("exec stdbuf -oL -eL " GNUTLS_SERV " --udp --echo -p %d --x509certfile '%s/server.pem' "
			  "--x509keyfile '%s/server.key' --priority '%s' >>'%s' 2>&1",
			  port, creds, creds, prio, out);
		break;
	default:
		keys = NULL;
		cmd = h_strf("exec stdbuf -oL -eL " GNUTLS_SERV " --udp --echo -p %d --rawpkfile '%s/rpk-server.pub' "
			  "--rawpkkeyfile '%s/rpk-server.key' --priority '%s' >>'%s' 2>&1",
			  port, creds, creds, prio, out);
		break;
	}
	{
		char *argv[] = {"/bin/sh", "-c", cmd, NULL};
		FILE *f = fopen(out, "w"); /* watched from before the server writes */
		assert_non_null(f);
		fclose(f);
		assert_int_equal(h_spawn(&srv, argv, false, NULL), 0);
	}
	assert_true(h_wait_file_contains(out, "listening on IPv4", H_TIMEOUT_MS));

	devcred = device_credentials(s->kind);
	cfg = h_strf("gateway = { name = \"suite\"; state_dir = \"%s\"; };\n"
		  "servers = ( { name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; security = \"%s\"; } );\n"
		  "devices = ( { name = \"%s\"; adapter = \"sim\"; %s\n"
		  "  points = ( { channel = \"t\"; path = \"/3303/0/5700\"; waveform = \"sine\";"
		  " base = 20.0; } ); } );\n",
		  dir, port, mode, s->name, devcred);
	conf = h_strf("%s/gatewayd.conf", dir);
	{
		FILE *f = fopen(conf, "w");
		assert_non_null(f);
		fputs(cfg, f);
		fclose(f);
	}
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	/* The echo server prints what it decrypted: the daemon's Register,
	 * with its endpoint name. */
	{
		char *ep = h_strf("ep=suite-%s", s->name);
		bool seen = h_wait_file_contains(out, ep, H_TIMEOUT_MS);
		if (!seen) {
			h_dump_file(out);
			free(ep);
			ep = h_strf("%s/gatewayd.log", dir);
			h_dump_file(ep);
		}
		free(ep);
		assert_true(seen);
	}
	h_stop(&gw, SIGKILL, 5000);
	h_stop(&srv, SIGTERM, 5000);
	free(cfg);
	free(conf);
	free(devcred);
	free(cmd);
	free(keys);
	free(prio);
	free(out);
	h_tmpdir_remove(dir);
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

static int group_setup(void **state)
{
	(void)state;
	creds = h_tmpdir();
	return creds && creds_make(creds) == 0 ? 0 : -1;
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
