#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static int write_datum(const char *dir, const char *name, const gnutls_datum_t *d, mode_t mode)
{
	char path[4096];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, d->data, d->size) != (ssize_t)d->size)
		r = -EIO;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int new_key(gnutls_x509_privkey_t *k)
{
	if (gnutls_x509_privkey_init(k) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_generate(*k, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		return -EIO;
	return 0;
}

static int save_key(const char *dir, const char *name, gnutls_x509_privkey_t k)
{
	gnutls_datum_t d = {0};
	int r;

	if (gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	r = write_datum(dir, name, &d, 0600);
	gnutls_free(d.data);
	return r;
}

static int save_pub(const char *dir, const char *name, gnutls_x509_privkey_t k)
{
	gnutls_privkey_t pk = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d = {0};
	int r = -EIO;

	if (gnutls_privkey_init(&pk) >= 0 && gnutls_privkey_import_x509(pk, k, 0) >= 0 &&
	    gnutls_pubkey_init(&pub) >= 0 && gnutls_pubkey_import_privkey(pub, pk, 0, 0) >= 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &d) >= 0)
		r = write_datum(dir, name, &d, 0644);
	gnutls_free(d.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (pk)
		gnutls_privkey_deinit(pk);
	return r;
}

/* A certificate for key, signed by (ca, ca_key), or self-signed when ca is
 * NULL; valid from..until (offsets from now, in seconds). */
static int make_cert(gnutls_x509_crt_t *out, gnutls_x509_privkey_t key, const char *cn,
		     bool is_ca, bool server, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
		     long from, long until, unsigned serial)
{
	gnutls_x509_crt_t c;
	unsigned char sn[4] = {0, 0, (unsigned char)(serial >> 8), (unsigned char)serial};
	char dn[128];
	time_t now = time(NULL);
	int r = 0;

	if (gnutls_x509_crt_init(&c) < 0)
		return -ENOMEM;
	snprintf(dn, sizeof(dn), "CN=%s", cn);
	r |= gnutls_x509_crt_set_version(c, 3);
	r |= gnutls_x509_crt_set_serial(c, sn, sizeof(sn));
	r |= gnutls_x509_crt_set_activation_time(c, now + from);
	r |= gnutls_x509_crt_set_expiration_time(c, now + until);
	r |= gnutls_x509_crt_set_dn(c, dn, NULL);
	r |= gnutls_x509_crt_set_key(c, key);
	if (is_ca) {
		r |= gnutls_x509_crt_set_basic_constraints(c, 1, -1);
		r |= gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN);
	} else {
		r |= gnutls_x509_crt_set_basic_constraints(c, 0, -1);
		r |= gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE);
		r |= gnutls_x509_crt_set_key_purpose_oid(
			c, server ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT, 0);
		if (server)
			r |= gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, cn,
								  (unsigned)strlen(cn),
								  GNUTLS_FSAN_SET);
	}
	r |= gnutls_x509_crt_sign2(c, ca ? ca : c, ca ? ca_key : key, GNUTLS_DIG_SHA256, 0);
	if (r < 0) {
		gnutls_x509_crt_deinit(c);
		return -EIO;
	}
	*out = c;
	return 0;
}

static int save_cert(const char *dir, const char *name, gnutls_x509_crt_t c)
{
	gnutls_datum_t d = {0};
	int r;

	if (gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	r = write_datum(dir, name, &d, 0644);
	gnutls_free(d.data);
	return r;
}

int creds_make(const char *dir)
{
	gnutls_x509_privkey_t ca_key = NULL, srv_key = NULL, oth_key = NULL, cli_key = NULL,
			      rs = NULL, rc = NULL, ro = NULL;
	gnutls_x509_crt_t ca = NULL, srv = NULL, exp = NULL, oth = NULL, cli = NULL;
	const long day = 86400;
	int r;

	if ((r = new_key(&ca_key)) < 0 || (r = new_key(&srv_key)) < 0 ||
	    (r = new_key(&oth_key)) < 0 || (r = new_key(&cli_key)) < 0 ||
	    (r = new_key(&rs)) < 0 || (r = new_key(&rc)) < 0 || (r = new_key(&ro)) < 0)
		goto out;
	if ((r = make_cert(&ca, ca_key, "gatewayd test CA", true, false, NULL, NULL, -day, 30 * day,
			   1)) < 0 ||
	    (r = make_cert(&srv, srv_key, "lwm2m.test", false, true, ca, ca_key, -day, 30 * day,
			   2)) < 0 ||
	    (r = make_cert(&exp, srv_key, "lwm2m.test", false, true, ca, ca_key, -3 * day, -day,
			   3)) < 0 ||
	    (r = make_cert(&oth, oth_key, "lwm2m.test", false, true, NULL, NULL, -day, 30 * day,
			   4)) < 0 ||
	    (r = make_cert(&cli, cli_key, "dev", false, false, ca, ca_key, -day, 30 * day, 5)) < 0)
		goto out;
	if ((r = save_cert(dir, "ca.pem", ca)) < 0 || (r = save_cert(dir, "server.pem", srv)) < 0 ||
	    (r = save_key(dir, "server.key", srv_key)) < 0 ||
	    (r = save_pub(dir, "server.pub", srv_key)) < 0 ||
	    (r = save_cert(dir, "expired.pem", exp)) < 0 ||
	    (r = save_cert(dir, "other.pem", oth)) < 0 ||
	    (r = save_key(dir, "other.key", oth_key)) < 0 ||
	    (r = save_pub(dir, "other.pub", oth_key)) < 0 ||
	    (r = save_cert(dir, "client.pem", cli)) < 0 ||
	    (r = save_key(dir, "client.key", cli_key)) < 0 ||
	    (r = save_key(dir, "rpk-server.key", rs)) < 0 ||
	    (r = save_pub(dir, "rpk-server.pub", rs)) < 0 ||
	    (r = save_key(dir, "rpk-client.key", rc)) < 0 ||
	    (r = save_pub(dir, "rpk-client.pub", rc)) < 0 ||
	    (r = save_pub(dir, "rpk-other.pub", ro)) < 0)
		goto out;
out:;
	gnutls_x509_crt_t certs[] = {ca, srv, exp, oth, cli};
	gnutls_x509_privkey_t keys[] = {ca_key, srv_key, oth_key, cli_key, rs, rc, ro};
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
		if (certs[i])
			gnutls_x509_crt_deinit(certs[i]);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i])
			gnutls_x509_privkey_deinit(keys[i]);
	return r;
}
