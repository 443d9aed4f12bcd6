/* DTLS credentials and the libcoap client sessions built from them.
 *
 * libcoap 4.3.1 keeps the certificate settings of client sessions per
 * context (the last coap_new_client_session_pki wins; PSK sessions live in
 * another context, see lwm_engine_context), so every PKI session
 * gets the same settings and our own callback does the real checks for the
 * session at hand: it finds the session's credentials through
 * lwm_security_of_session and verifies the chain, dates, name, pinned
 * certificate or raw public key itself, which also lets it say why a
 * handshake was refused. */
#include "security.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "dtls_poll.h"
#include "gatewayd/file.h"
#include "gatewayd/log.h"

/* libcoap's limits for a PSK identity and key. */
#define LWM_PSK_ID_MAX COAP_DTLS_MAX_PSK_IDENTITY
#define LWM_PSK_MAX COAP_DTLS_MAX_PSK
/* Larger PEM files are not credentials. */
#define LWM_PEM_MAX (256 * 1024)

/* What a handshake found out; mutable behind a const struct lwm_security. */
struct lwm_sec_state {
	char name[256];     /* the name the server's certificate must carry */
	char failure[200];  /* why our side refused the last handshake */
};

/* A blob read from a file: PEM text with its NUL (libcoap wants the length
 * to count it), or DER. */
struct lwm_blob {
	uint8_t *p;
	size_t len;
};

struct lwm_security {
	enum lwm_sec_mode mode;
	char *psk_identity;
	uint8_t psk[LWM_PSK_MAX];
	size_t psk_len;
	struct lwm_blob cert;       /* X.509 own certificate, PEM */
	struct lwm_blob key;        /* own private key, PEM (secret) */
	struct lwm_blob pub;        /* RPK own public key, PEM */
	struct lwm_blob trust;      /* X.509 CA file or pinned certificate, PEM */
	struct lwm_blob server_der; /* RPK server key / pinned certificate, DER */
	bool pinned;
	char *sni;
	struct lwm_sec_state *st;
};

static const char *const mode_names[] = {"psk", "rpk", "x509", "nosec"};

int lwm_security_mode_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (s && strcmp(s, mode_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *lwm_security_mode_name(enum lwm_sec_mode m)
{
	return (size_t)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

bool lwm_security_mode_supported(enum lwm_sec_mode m)
{
	const coap_tls_version_t *v;

	if (m == LWM_SEC_NOSEC)
		return true;
	if (!coap_dtls_is_supported())
		return false;
	v = coap_get_tls_library_version();
	/* Raw public keys arrived in GnuTLS 3.6.6 (libcoap 4.3.1 has no
	 * coap_dtls_rpk_is_supported yet). */
	if (m == LWM_SEC_RPK)
		return v && v->type == COAP_TLS_LIBRARY_GNUTLS && v->version >= 0x030606;
	return true;
}

/* ---- loading -------------------------------------------------------------- */

static void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

static void blob_free(struct lwm_blob *b, bool secret)
{
	if (secret)
		wipe_free(b->p, b->len);
	else
		free(b->p);
	b->p = NULL;
	b->len = 0;
}

/* Read a whole file, NUL-terminated (the NUL counted in len).  Never
 * blocks on a FIFO or device in a key's place (gw_file_read says how). */
static int read_file(const char *path, bool secret, struct lwm_blob *out, char *err,
		     size_t errlen)
{
	char *buf;
	size_t len;
	int r = gw_file_read(path, LWM_PEM_MAX, secret ? GW_FILE_SECRET : 0, &buf, &len, err,
			     errlen);

	if (r < 0)
		return r;
	if (len == 0) {
		free(buf);
		snprintf(err, errlen, "%s is empty", path);
		return -EINVAL;
	}
	out->p = (uint8_t *)buf;
	out->len = len + 1;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex (surrounding white space allowed) -> bytes.  The message never quotes
 * the input: it is a key. */
static int parse_hex_key(const char *s, size_t n, uint8_t *out, size_t *len, const char *what,
			 char *err, size_t errlen)
{
	size_t digits = 0;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
		     s[n - 1] == '\0'))
		n--;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n == 0 || n % 2 || n / 2 > LWM_PSK_MAX) {
		snprintf(err, errlen, "%s: expected 2 to %u hex digits (an even number), found %zu "
			 "characters", what, 2 * LWM_PSK_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0) {
			explicit_bzero(out, LWM_PSK_MAX);
			snprintf(err, errlen, "%s: expected hex digits, found another character at "
				 "position %zu", what, hi < 0 ? i + 1 : i + 2);
			return -EINVAL;
		}
		out[digits++] = (uint8_t)(hi << 4 | lo);
	}
	*len = digits;
	return 0;
}

/* Records which key a message belongs to. */
#define FAIL(k, code, ...)                                                                   \
	do {                                                                                 \
		if (key)                                                                     \
			*key = (k);                                                          \
		snprintf(err, errlen, __VA_ARGS__);                                          \
		r = (code);                                                                  \
		goto fail;                                                                   \
	} while (0)

/* Keys a mode does not use are an error: a stray key usually means the
 * wrong security mode was configured. */
static int check_unused(const struct lwm_security_params *p, const char **key, char *err,
			size_t errlen)
{
	static const char *const names[] = {
		"psk_identity", "psk_key", "psk_file", "certificate", "private_key",
		"public_key", "server_public_key", "ca_file", "server_certificate", "sni",
	};
	const char *vals[] = {
		p->psk_identity, p->psk_key, p->psk_file, p->certificate, p->private_key,
		p->public_key, p->server_public_key, p->ca_file, p->server_certificate, p->sni,
	};
	/* Bit i: names[i] is used by the mode. */
	static const unsigned used[] = {
		[LWM_SEC_PSK] = 0x007,
		[LWM_SEC_RPK] = 0x070,
		[LWM_SEC_X509] = 0x398,
		[LWM_SEC_NOSEC] = 0,
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (vals[i] && !(used[p->mode] & (1u << i))) {
			if (key)
				*key = names[i];
			snprintf(err, errlen, "%s is not used with security \"%s\"", names[i],
				 lwm_security_mode_name(p->mode));
			return -EINVAL;
		}
	}
	return 0;
}

static int load_psk(const struct lwm_security_params *p, struct lwm_security *s,
		    const char **key, char *err, size_t errlen)
{
	struct lwm_blob f = {0};
	int r;

	if (!p->psk_identity || !*p->psk_identity)
		FAIL("psk_identity", -EINVAL, "security \"psk\" needs psk_identity");
	if (strlen(p->psk_identity) > LWM_PSK_ID_MAX)
		FAIL("psk_identity", -EINVAL, "psk_identity: expected at most %u bytes, found %zu",
		     LWM_PSK_ID_MAX, strlen(p->psk_identity));
	if (!p->psk_key == !p->psk_file)
		FAIL(p->psk_key ? "psk_file" : "psk_key", -EINVAL,
		     "security \"psk\" needs exactly one of psk_key and psk_file");
	s->psk_identity = strdup(p->psk_identity);
	if (!s->psk_identity)
		FAIL(NULL, -ENOMEM, "out of memory");
	if (p->psk_key) {
		r = parse_hex_key(p->psk_key, strlen(p->psk_key), s->psk, &s->psk_len, "psk_key",
				  err, errlen);
		if (r < 0 && key)
			*key = "psk_key";
		return r;
	}
	r = read_file(p->psk_file, true, &f, err, errlen);
	if (r == 0) {
		char what[300];
		snprintf(what, sizeof(what), "psk_file %s", p->psk_file);
		r = parse_hex_key((const char *)f.p, f.len, s->psk, &s->psk_len, what, err, errlen);
	}
	blob_free(&f, true);
	if (r < 0 && key)
		*key = "psk_file";
	return r;
fail:
	return r;
}

static int load_pem(const char *k, const char *path, bool secret, struct lwm_blob *b,
		    const char **key, char *err, size_t errlen)
{
	int r = read_file(path, secret, b, err, errlen);

	if (r < 0 && key)
		*key = k;
	return r;
}

/* A GnuTLS datum into a blob: PEM with its NUL counted (what libcoap's PEM
 * buffers want), or DER as is.  The datum is wiped and freed. */
static int blob_from_datum(gnutls_datum_t *d, bool pem, struct lwm_blob *b)
{
	b->len = d->size + (pem ? 1 : 0);
	b->p = malloc(b->len);
	if (b->p) {
		memcpy(b->p, d->data, d->size);
		if (pem)
			b->p[d->size] = '\0';
	}
	explicit_bzero(d->data, d->size);
	gnutls_free(d->data);
	d->data = NULL;
	return b->p ? 0 : -ENOMEM;
}

/* A public key (SubjectPublicKeyInfo) or a certificate from PEM or DER
 * (in_pem) to PEM or normalised DER (out_pem): DER is the form libcoap
 * hands the certificate callback, PEM the form its key buffers take. */
static int pubkey_convert(const uint8_t *in, size_t len, bool in_pem, bool out_pem,
			  struct lwm_blob *b)
{
	gnutls_pubkey_t k;
	gnutls_datum_t d = {.data = (unsigned char *)in, .size = (unsigned)len}, out = {0};
	int r;

	if (gnutls_pubkey_init(&k) < 0)
		return -ENOMEM;
	r = gnutls_pubkey_import(k, &d, in_pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_pubkey_export2(k, out_pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
					  &out);
	gnutls_pubkey_deinit(k);
	return r < 0 ? -EINVAL : blob_from_datum(&out, out_pem, b);
}

static int cert_convert(const uint8_t *in, size_t len, bool in_pem, bool out_pem,
			struct lwm_blob *b)
{
	gnutls_x509_crt_t c;
	gnutls_datum_t d = {.data = (unsigned char *)in, .size = (unsigned)len}, out = {0};
	int r;

	if (gnutls_x509_crt_init(&c) < 0)
		return -ENOMEM;
	r = gnutls_x509_crt_import(c, &d, in_pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_x509_crt_export2(c, out_pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
					    &out);
	gnutls_x509_crt_deinit(c);
	return r < 0 ? -EINVAL : blob_from_datum(&out, out_pem, b);
}

static int pubkey_der(const struct lwm_blob *pem, struct lwm_blob *der)
{
	return pubkey_convert(pem->p, pem->len, true, false, der);
}

static int cert_der(const struct lwm_blob *pem, struct lwm_blob *der)
{
	return cert_convert(pem->p, pem->len, true, false, der);
}

static int load_rpk(const struct lwm_security_params *p, struct lwm_security *s,
		    const char **key, char *err, size_t errlen)
{
	struct lwm_blob der = {0};
	int r;

	if (!p->private_key || !p->public_key || !p->server_public_key)
		FAIL(!p->private_key ? "private_key" : !p->public_key ? "public_key"
							     : "server_public_key",
		     -EINVAL, "security \"rpk\" needs private_key, public_key and server_public_key");
	if ((r = load_pem("private_key", p->private_key, true, &s->key, key, err, errlen)) < 0 ||
	    (r = load_pem("public_key", p->public_key, false, &s->pub, key, err, errlen)) < 0)
		return r;
	if ((r = load_pem("server_public_key", p->server_public_key, false, &s->trust, key, err,
			  errlen)) < 0)
		return r;
	if (pubkey_der(&s->pub, &der) < 0)
		FAIL("public_key", -EINVAL, "%s: expected a PEM public key", p->public_key);
	blob_free(&der, false);
	/* libcoap shows the server's key as DER: keep it in that form only. */
	if (pubkey_der(&s->trust, &s->server_der) < 0)
		FAIL("server_public_key", -EINVAL, "%s: expected a PEM public key",
		     p->server_public_key);
	blob_free(&s->trust, false);
	return 0;
fail:
	return r;
}

static int load_x509(const struct lwm_security_params *p, struct lwm_security *s,
		     const char **key, char *err, size_t errlen)
{
	struct lwm_blob der = {0};
	int r;

	if (!p->certificate || !p->private_key)
		FAIL(!p->certificate ? "certificate" : "private_key", -EINVAL,
		     "security \"x509\" needs certificate and private_key");
	if (!p->ca_file == !p->server_certificate)
		FAIL(p->ca_file ? "server_certificate" : "ca_file", -EINVAL,
		     "security \"x509\" needs exactly one of ca_file and server_certificate");
	if ((r = load_pem("certificate", p->certificate, false, &s->cert, key, err, errlen)) < 0 ||
	    (r = load_pem("private_key", p->private_key, true, &s->key, key, err, errlen)) < 0)
		return r;
	if (cert_der(&s->cert, &der) < 0)
		FAIL("certificate", -EINVAL, "%s: expected a PEM certificate", p->certificate);
	blob_free(&der, false);
	if (p->ca_file) {
		r = load_pem("ca_file", p->ca_file, false, &s->trust, key, err, errlen);
		if (r < 0)
			return r;
		if (cert_der(&s->trust, &der) < 0)
			FAIL("ca_file", -EINVAL, "%s: expected PEM certificates", p->ca_file);
		blob_free(&der, false);
		return 0;
	}
	/* A pinned certificate is also the only trust anchor, so that the
	 * chain check accepts exactly that certificate. */
	r = load_pem("server_certificate", p->server_certificate, false, &s->trust, key, err,
		     errlen);
	if (r < 0)
		return r;
	if (cert_der(&s->trust, &s->server_der) < 0)
		FAIL("server_certificate", -EINVAL, "%s: expected a PEM certificate",
		     p->server_certificate);
	s->pinned = true;
	return 0;
fail:
	return r;
}

int lwm_security_load(const struct lwm_security_params *p, struct lwm_security **out,
		      const char **key, char *err, size_t errlen)
{
	struct lwm_security *s;
	int r;

	if (key)
		*key = NULL;
	if ((unsigned)p->mode > LWM_SEC_NOSEC) {
		snprintf(err, errlen, "unknown security mode");
		return -EINVAL;
	}
	r = check_unused(p, key, err, errlen);
	if (r < 0)
		return r;
	if (!lwm_security_mode_supported(p->mode)) {
		snprintf(err, errlen, "security \"%s\" is not supported by libcoap's DTLS library",
			 lwm_security_mode_name(p->mode));
		return -ENOTSUP;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->st = calloc(1, sizeof(*s->st)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->mode = p->mode;
	if (p->sni && !(s->sni = strdup(p->sni))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else if (p->mode == LWM_SEC_PSK) {
		r = load_psk(p, s, key, err, errlen);
	} else if (p->mode == LWM_SEC_RPK) {
		r = load_rpk(p, s, key, err, errlen);
	} else if (p->mode == LWM_SEC_X509) {
		r = load_x509(p, s, key, err, errlen);
	}
	if (r < 0) {
		lwm_security_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* ---- credentials as bytes (bootstrapped accounts) ----------------------- */

/* A DER private key (PKCS#8 unencrypted, PKCS#1 or SEC1) as PEM. */
static int privkey_from_der(const uint8_t *der, size_t len, struct lwm_blob *b)
{
	gnutls_x509_privkey_t k;
	gnutls_datum_t in = {.data = (unsigned char *)der, .size = (unsigned)len}, out = {0};
	int r;

	if (gnutls_x509_privkey_init(&k) < 0)
		return -ENOMEM;
	r = gnutls_x509_privkey_import2(k, &in, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN);
	if (r >= 0)
		r = gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &out);
	gnutls_x509_privkey_deinit(k);
	return r < 0 ? -EINVAL : blob_from_datum(&out, true, b);
}

int lwm_security_from_account(const struct lwm_security_account *a, struct lwm_security **out,
			      char *err, size_t errlen)
{
	struct lwm_security *s;
	int r = 0;

	*out = NULL;
	if (a->mode == LWM_SEC_NOSEC)
		return 0;
	if ((unsigned)a->mode > LWM_SEC_NOSEC || !lwm_security_mode_supported(a->mode)) {
		snprintf(err, errlen, "security mode %d is not supported", (int)a->mode);
		return -ENOTSUP;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->st = calloc(1, sizeof(*s->st)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->mode = a->mode;
	if (a->sni && !(s->sni = strdup(a->sni))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else if (a->mode == LWM_SEC_PSK) {
		if (!a->own_len || a->own_len > LWM_PSK_ID_MAX || !a->secret_len ||
		    a->secret_len > LWM_PSK_MAX || !(s->psk_identity = strndup((const char *)a->own,
									  a->own_len))) {
			r = -EINVAL;
			snprintf(err, errlen, "PSK identity of 1..%u bytes and key of 1..%u bytes "
				 "expected", LWM_PSK_ID_MAX, LWM_PSK_MAX);
		} else {
			memcpy(s->psk, a->secret, a->secret_len);
			s->psk_len = a->secret_len;
		}
	} else if (a->mode == LWM_SEC_RPK) {
		if (pubkey_convert(a->own, a->own_len, false, true, &s->pub) < 0) {
			r = -EINVAL;
			snprintf(err, errlen, "our public key (/0/x/3) is not a DER public key");
		} else if (pubkey_convert(a->server, a->server_len, false, false, &s->server_der) < 0) {
			r = -EINVAL;
			snprintf(err, errlen, "the server's public key (/0/x/4) is not a DER public key");
		}
	} else if (cert_convert(a->own, a->own_len, false, true, &s->cert) < 0) {
		r = -EINVAL;
		snprintf(err, errlen, "our certificate (/0/x/3) is not a DER certificate");
	} else if (cert_convert(a->server, a->server_len, false, true, &s->trust) < 0 ||
		   (a->pinned && cert_convert(a->server, a->server_len, false, false, &s->server_der) < 0)) {
		r = -EINVAL;
		snprintf(err, errlen, "the server's certificate (/0/x/4) is not a DER certificate");
	} else {
		s->pinned = a->pinned;
	}
	if (r == 0 && a->mode != LWM_SEC_PSK && privkey_from_der(a->secret, a->secret_len, &s->key) < 0) {
		r = -EINVAL;
		snprintf(err, errlen, "our private key (/0/x/5) is not a DER private key");
	}
	if (r < 0) {
		lwm_security_free(s);
		return r;
	}
	*out = s;
	return 0;
}

static int blob_dup(struct lwm_blob *to, const struct lwm_blob *from)
{
	if (!from->p)
		return 0;
	to->p = malloc(from->len);
	if (!to->p)
		return -ENOMEM;
	memcpy(to->p, from->p, from->len);
	to->len = from->len;
	return 0;
}

struct lwm_security *lwm_security_dup(const struct lwm_security *s)
{
	struct lwm_security *d;

	if (!s)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->mode = s->mode;
	memcpy(d->psk, s->psk, s->psk_len);
	d->psk_len = s->psk_len;
	d->pinned = s->pinned;
	d->st = calloc(1, sizeof(*d->st));
	if (!d->st || (s->psk_identity && !(d->psk_identity = strdup(s->psk_identity))) ||
	    (s->sni && !(d->sni = strdup(s->sni))) || blob_dup(&d->cert, &s->cert) < 0 ||
	    blob_dup(&d->key, &s->key) < 0 || blob_dup(&d->pub, &s->pub) < 0 ||
	    blob_dup(&d->trust, &s->trust) < 0 || blob_dup(&d->server_der, &s->server_der) < 0) {
		lwm_security_free(d);
		return NULL;
	}
	return d;
}

void lwm_security_free(struct lwm_security *s)
{
	if (!s)
		return;
	explicit_bzero(s->psk, sizeof(s->psk));
	blob_free(&s->key, true);
	blob_free(&s->cert, false);
	blob_free(&s->pub, false);
	blob_free(&s->trust, false);
	blob_free(&s->server_der, false);
	free(s->psk_identity);
	free(s->sni);
	free(s->st);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

enum lwm_sec_mode lwm_security_mode(const struct lwm_security *s)
{
	return s ? s->mode : LWM_SEC_NOSEC;
}

const char *lwm_security_psk_identity(const struct lwm_security *s)
{
	return s ? s->psk_identity : NULL;
}

/* ---- handshakes ------------------------------------------------------------ */

static int refuse(const struct lwm_security *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(const struct lwm_security *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->st->failure, sizeof(s->st->failure), fmt, ap);
	va_end(ap);
	return 0;
}

/* Why the chain check failed, in words. */
static const char *verify_status_text(unsigned status)
{
	if (status & GNUTLS_CERT_EXPIRED)
		return "has expired";
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return "is not valid yet";
	if (status & GNUTLS_CERT_REVOKED)
		return "is revoked";
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return "is for another name";
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return "is not signed by a trusted CA";
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		return "has a bad signature";
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return "uses an insecure algorithm";
	return "did not verify";
}

/* Whether what the server showed in RPK mode, der (a raw public key or an
 * X.509 certificate), is server_public_key.  libcoap 4.3.1 offers both types
 * for the server's certificate, whatever the mode, and a server holding both
 * (as popular servers' demos do) picks X.509.  In RPK mode the server is
 * known by its key alone (RFC 7250; the Security object's /0/x/4 holds that
 * key), and the handshake proves the server holds the key a certificate
 * carries as much as a bare key: a certificate counts for its key, and the
 * rest of it (names, dates, issuer, which nothing vouches for) is ignored.
 * (libcoap itself still refuses a self-signed or expired one first when the
 * context's last PKI setup was a raw-key one.) */
static bool shows_server_key(const struct lwm_security *s, const uint8_t *der, size_t len)
{
	struct lwm_blob spki = {0};
	gnutls_x509_crt_t c;
	gnutls_pubkey_t k;
	gnutls_datum_t d = {.data = (unsigned char *)der, .size = (unsigned)len}, out = {0};
	bool same;

	if (len == s->server_der.len && memcmp(der, s->server_der.p, len) == 0)
		return true;
	if (gnutls_x509_crt_init(&c) < 0)
		return false;
	if (gnutls_pubkey_init(&k) < 0) {
		gnutls_x509_crt_deinit(c);
		return false;
	}
	if (gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_pubkey_import_x509(k, c, 0) >= 0 &&
	    gnutls_pubkey_export2(k, GNUTLS_X509_FMT_DER, &out) >= 0)
		blob_from_datum(&out, false, &spki);
	gnutls_pubkey_deinit(k);
	gnutls_x509_crt_deinit(c);
	same = spki.p && spki.len == s->server_der.len &&
	       memcmp(spki.p, s->server_der.p, spki.len) == 0;
	blob_free(&spki, false);
	return same;
}

/* libcoap's certificate callback: 1 accepts the server, 0 refuses it. */
static int check_server(const char *cn, const uint8_t *der, size_t len, coap_session_t *session,
			unsigned depth, int validated, void *arg)
{
	const struct lwm_security *s = lwm_security_of_session(session);
	coap_tls_library_t lib;
	gnutls_session_t g;
	unsigned status = 0;

	(void)cn;
	(void)validated;
	(void)arg;
	if (!s || !s->st)
		return 0;
	if (depth != 0)
		return 1; /* the chain is checked as a whole at depth 0 */
	if (s->mode == LWM_SEC_RPK) {
		if (!shows_server_key(s, der, len))
			return refuse(s, "the server's public key is not server_public_key");
		return 1;
	}
	if (s->mode != LWM_SEC_X509)
		return refuse(s, "the server sent a certificate in %s mode",
			      lwm_security_mode_name(s->mode));
	if (s->pinned && (len != s->server_der.len || memcmp(der, s->server_der.p, len) != 0))
		return refuse(s, "the server's certificate is not the pinned server_certificate");
	g = coap_session_get_tls(session, &lib);
	if (!g || lib != COAP_TLS_LIBRARY_GNUTLS)
		return refuse(s, "cannot check the server's certificate");
	/* libcoap offers raw public keys in X.509 mode too. */
	if (gnutls_certificate_type_get2(g, GNUTLS_CTYPE_SERVER) != GNUTLS_CRT_X509)
		return refuse(s, "the server showed a raw public key, not a certificate");
	/* A pinned certificate needs no name: it is that very certificate. */
	if (gnutls_certificate_verify_peers3(g, s->pinned ? NULL : s->st->name, &status) < 0)
		return refuse(s, "cannot check the server's certificate");
	if (status)
		return refuse(s, "the server's certificate %s%s%s", verify_status_text(status),
			      (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? ": expected " : "",
			      (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? s->st->name : "");
	return 1;
}

/* An RPK session's own certificate check, in place of libcoap's.  RFC 7250:
 * in RPK mode the server is known by its key alone, so a raw public key or a
 * certificate (libcoap 4.3.1 offers both types) holding server_public_key is
 * the server, whoever signed the certificate and whatever its dates.
 * libcoap's check would refuse a self-signed or expired certificate before
 * asking check_server, and it keeps one set of PKI settings per context, so
 * this session-level hook replaces it for RPK sessions only.  GnuTLS: 0
 * accepts, anything else fails the handshake. */
static int verify_rpk_server(gnutls_session_t g)
{
	coap_session_t *session = gnutls_transport_get_ptr(g);
	const struct lwm_security *s = session ? lwm_security_of_session(session) : NULL;
	const gnutls_datum_t *peers;
	unsigned n = 0;
	gnutls_certificate_type_t type;

	if (!s || !s->st)
		return -1;
	if (gnutls_auth_get_type(g) != GNUTLS_CRD_CERTIFICATE)
		return 0; /* no certificate to check: the handshake's other checks decide */
	peers = gnutls_certificate_get_peers(g, &n);
	if (!peers || n == 0) {
		refuse(s, "the server showed no public key");
		return -1;
	}
	type = gnutls_certificate_type_get2(g, GNUTLS_CTYPE_SERVER);
	if (type != GNUTLS_CRT_X509 && type != GNUTLS_CRT_RAWPK) {
		refuse(s, "the server showed an unknown kind of credential");
		return -1;
	}
	/* A raw public key is its SubjectPublicKeyInfo; a certificate carries one. */
	if (!shows_server_key(s, peers[0].data, peers[0].size)) {
		refuse(s, "the server's public key is not server_public_key");
		return -1;
	}
	return 0;
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static coap_session_t *new_dtls_session(coap_context_t *ctx, const coap_address_t *server,
					const struct lwm_security *sec, const char *sni);

coap_session_t *lwm_security_new_session(coap_context_t *ctx, const coap_address_t *server,
					 const struct lwm_security *sec, const char *sni)
{
	coap_session_t *s;
	int probe;

	if (!ctx)
		return NULL;
	if (!sec || sec->mode == LWM_SEC_NOSEC)
		return coap_new_client_session(ctx, NULL, server, COAP_PROTO_UDP);
	/* libcoap would poll the session's socket with select(): our poll() instead
	 * (dtls_poll.c), so that any descriptor will do. */
	probe = lwm_dtls_poll_probe();
	s = new_dtls_session(ctx, server, sec, sni);
	if (s && lwm_dtls_poll_adopt(s, probe) < 0) {
		coap_session_release(s);
		s = NULL;
	}
	if (s && sec->mode == LWM_SEC_RPK) {
		coap_tls_library_t lib;
		gnutls_session_t g = coap_session_get_tls(s, &lib);

		/* The server's Certificate arrives after this returns: in time. */
		if (!g || lib != COAP_TLS_LIBRARY_GNUTLS) {
			coap_session_release(s);
			return NULL;
		}
		gnutls_session_set_verify_function(g, verify_rpk_server);
	}
	return s;
}

static coap_session_t *new_dtls_session(coap_context_t *ctx, const coap_address_t *server,
					const struct lwm_security *sec, const char *sni)
{
	const char *name;
	char *client_sni;

	name = sec->sni ? sec->sni : sni;
	snprintf(sec->st->name, sizeof(sec->st->name), "%s", name ? name : "");
	sec->st->failure[0] = '\0';
	/* RFC 6066: no IP literals in SNI. */
	client_sni = name && *name && !is_ip_literal(name) ? sec->st->name : NULL;
	if (sec->mode == LWM_SEC_PSK) {
		coap_dtls_cpsk_t c = {.version = COAP_DTLS_CPSK_SETUP_VERSION};

		c.client_sni = client_sni;
		c.psk_info.identity.s = (const uint8_t *)sec->psk_identity;
		c.psk_info.identity.length = strlen(sec->psk_identity);
		c.psk_info.key.s = sec->psk;
		c.psk_info.key.length = sec->psk_len;
		/* libcoap copies identity and key into the session. */
		return coap_new_client_session_psk2(ctx, NULL, server, COAP_PROTO_DTLS, &c);
	}
	coap_dtls_pki_t p = {.version = COAP_DTLS_PKI_SETUP_VERSION};
	/* The same settings for every PKI session (libcoap keeps them per
	 * context): libcoap lets everything through to check_server, which
	 * decides with this session's own credentials. */
	p.verify_peer_cert = 0;
	p.validate_cn_call_back = check_server;
	p.client_sni = client_sni;
	p.is_rpk_not_cert = sec->mode == LWM_SEC_RPK;
	p.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
	p.pki_key.key.pem_buf.public_cert = sec->mode == LWM_SEC_RPK ? sec->pub.p : sec->cert.p;
	p.pki_key.key.pem_buf.public_cert_len = sec->mode == LWM_SEC_RPK ? sec->pub.len
									  : sec->cert.len;
	p.pki_key.key.pem_buf.private_key = sec->key.p;
	p.pki_key.key.pem_buf.private_key_len = sec->key.len;
	if (sec->mode == LWM_SEC_X509) {
		p.pki_key.key.pem_buf.ca_cert = sec->trust.p;
		p.pki_key.key.pem_buf.ca_cert_len = sec->trust.len;
	}
	return coap_new_client_session_pki(ctx, NULL, server, COAP_PROTO_DTLS, &p);
}

const char *lwm_security_failure(const struct lwm_security *s, coap_session_t *session)
{
	(void)session;
	if (!s || s->mode == LWM_SEC_NOSEC)
		return NULL;
	if (s->st->failure[0])
		return s->st->failure;
	/* libcoap does not pass the server's alert on, so name the likely
	 * cause first and the other one a server may have. */
	switch (s->mode) {
	case LWM_SEC_PSK:
		return "DTLS handshake failed: the server refused the PSK identity or key "
		       "(or has no cipher suite in common)";
	case LWM_SEC_RPK:
		return "DTLS handshake failed: the server refused our public key "
		       "(or has no cipher suite in common)";
	default:
		return "DTLS handshake failed: the server refused our certificate "
		       "(or has no cipher suite in common)";
	}
}
