/* A client's DTLS credentials (the LwM2M Security object's account) and the
 * libcoap session built from them: pre-shared key, raw public key or X.509.
 *
 * Key material is read once, kept in memory only as long as the client
 * lives, wiped when freed, and never logged. */
#ifndef LWM_SECURITY_H
#define LWM_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#include <coap3/coap.h>

/* The values are those of the Security object's Security Mode (/0/x/2). */
enum lwm_sec_mode {
	LWM_SEC_PSK = 0,
	LWM_SEC_RPK = 1,
	LWM_SEC_X509 = 2,
	LWM_SEC_NOSEC = 3,
};

/* What the configuration says; every pointer is borrowed and may be NULL.
 * Files are PEM.  The PSK comes from psk_key (hex) or psk_file (a file
 * holding the hex key); exactly one of the two. */
struct lwm_security_params {
	enum lwm_sec_mode mode;
	const char *psk_identity;
	const char *psk_key;
	const char *psk_file;
	const char *certificate;        /* X.509: the device's certificate */
	const char *private_key;        /* X.509, RPK: the device's private key */
	const char *public_key;         /* RPK: the device's public key */
	const char *server_public_key;  /* RPK: the only key the server may show */
	const char *ca_file;            /* X.509: trust anchors for the server */
	const char *server_certificate; /* X.509: the server's pinned certificate */
	const char *sni;                /* X.509: SNI and the name checked (default:
					 * the server URI's host) */
};

struct lwm_security;

/* "nosec", "psk", "rpk", "x509"; -EINVAL when unknown. */
int lwm_security_mode_parse(const char *s);
const char *lwm_security_mode_name(enum lwm_sec_mode m);
/* Whether libcoap's DTLS library can do this mode (RPK needs GnuTLS 3.6.6). */
bool lwm_security_mode_supported(enum lwm_sec_mode m);

/* Check p and read every file it names.  On error returns a negative errno,
 * writes a message into err (naming the file when a file is at fault, never
 * a key) and sets *key (when key is non-NULL) to the config key at fault
 * ("psk_key", "private_key" ...).  Free with lwm_security_free. */
int lwm_security_load(const struct lwm_security_params *p, struct lwm_security **out,
		      const char **key, char *err, size_t errlen);
/* Credentials given as bytes, as a bootstrap server writes them into a
 * Security instance (every pointer borrowed; lengths in bytes):
 *   PSK   own: the PSK identity (/0/x/3), secret: the key (/0/x/5);
 *   RPK   own: our public key (/0/x/3, DER SubjectPublicKeyInfo), server:
 *         the server's (/0/x/4, same form), secret: our private key (/0/x/5,
 *         DER: PKCS#8, or the algorithm's own form);
 *   X.509 own: our certificate (/0/x/3, DER), secret: our private key,
 *         server (/0/x/4, DER certificate): the only certificate the server
 *         may show when pinned, else the trust anchor its chain must reach;
 *         sni: the name sent and, unless pinned, checked (NULL: the
 *         server URI's host). */
struct lwm_security_account {
	enum lwm_sec_mode mode;
	const uint8_t *own, *server, *secret;
	size_t own_len, server_len, secret_len;
	bool pinned;
	const char *sni;
};

/* The same as lwm_security_load, from bytes.  The message never quotes a
 * key. */
int lwm_security_from_account(const struct lwm_security_account *a, struct lwm_security **out,
			      char *err, size_t errlen);

/* A deep copy (NULL on allocation failure). */
struct lwm_security *lwm_security_dup(const struct lwm_security *s);
/* Wipes the key material; NULL is fine. */
void lwm_security_free(struct lwm_security *s);

enum lwm_sec_mode lwm_security_mode(const struct lwm_security *s);
/* The PSK identity (for log lines and tests: an identity is not a secret). */
const char *lwm_security_psk_identity(const struct lwm_security *s);

/* A client session towards server with sec's credentials (sec NULL or
 * NoSec: plain UDP).  sni (may be NULL) is sent and checked against the
 * server's certificate when sec does not set its own.  sec must outlive the
 * session: the certificate checks look at it during handshakes; the session's
 * app data must be set to something lwm_security_of_session can map back
 * (see below) before the first I/O.  NULL on failure. */
coap_session_t *lwm_security_new_session(coap_context_t *ctx, const coap_address_t *server,
					 const struct lwm_security *sec, const char *sni);

/* Why the last handshake of a session failed ("the server's certificate has
 * expired", "received alert: Decrypt error" ...), or NULL when unknown.
 * Valid until the next handshake of the same credentials. */
const char *lwm_security_failure(const struct lwm_security *s, coap_session_t *session);

/* Provided by the user of this module (client.c): the credentials behind a
 * session, for libcoap's certificate callbacks, which are per context. */
const struct lwm_security *lwm_security_of_session(coap_session_t *s);

#endif
