/* The test LwM2M server: registration interface (/rd) and server-initiated
 * requests matched back to the caller's request ids. */
#ifndef TS_SERVER_H
#define TS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Accepted LwM2M versions (bit mask). */
#define SRV_V1_0 1u
#define SRV_V1_1 2u
#define SRV_V1_2 4u

/* --refuse-register: which Registers get 4.00. */
#define SRV_REFUSE_NONE 0u
#define SRV_REFUSE_ALL 1u    /* every one */
#define SRV_REFUSE_STRICT 2u /* a root link's ct= that is not one bare number */
#define SRV_REFUSE_PLAIN 3u  /* any link attribute (only a plain object list passes) */

/* A PSK the server accepts: identity and key bytes (borrowed). */
struct srv_psk {
	const char *identity;
	uint8_t key[64];
	size_t key_len;
};

struct srv_config {
	const char *addr;	   /* listen address (borrowed) */
	uint16_t port;		   /* 0: ephemeral */
	bool demo;		   /* periodic reads */
	unsigned read_interval;	   /* demo, seconds */
	unsigned versions;	   /* SRV_V1_* */
	unsigned ack_timeout_ms;   /* 0: libcoap default (2 s) */
	int max_retransmit;	   /* < 0: libcoap default */
	unsigned response_timeout; /* seconds to wait for an answer */
	bool verbose;
	bool no_send;		   /* answer 4.04 to POST /dp (a server without Send) */
	unsigned refuse_register;  /* SRV_REFUSE_*: 4.00 to some or every Register */
	/* GET /NAME answered with the file DIR/NAME, block-wise (firmware
	 * packages to pull); NULL: no files. */
	const char *serve_dir;
	unsigned serve_szx;	   /* the largest block it sends (default 6: 1024) */
	/* DTLS: with any of these the endpoint is coaps (COAP_PROTO_DTLS). */
	struct srv_psk *psks;	   /* accepted identities and keys */
	size_t n_psks;
	const char *cert, *key;	   /* X.509 certificate (RPK: public key), private key */
	const char *ca;		   /* X.509: clients must have a certificate from it */
	bool rpk;		   /* raw public keys instead of certificates */
	/* Bootstrap mode, automatic: every Bootstrap-Request is answered with
	 * Delete /, one account (Security and Server instance bs_iid) for
	 * bs_uri and Finish.  NULL: bootstrap requests wait for commands. */
	const char *bs_uri;
	uint16_t bs_ssid;	   /* default 1 */
	uint32_t bs_lifetime;	   /* default 300 */
	const char *bs_psk_identity; /* with bs_psk: a PSK account */
	uint8_t bs_psk[64];
	size_t bs_psk_len;
};

/* A management server account to provision (bootstrap mode). */
struct srv_account {
	uint16_t iid;		/* Security and Server instance ids */
	uint16_t ssid;
	const char *uri;
	uint32_t lifetime;
	const char *psk_identity; /* NULL: NoSec */
	const uint8_t *psk;
	size_t psk_len;
};

/* Creates the CoAP context and endpoint; emits the "listening" event. */
int srv_start(const struct srv_config *cfg);
void srv_stop(void);
int srv_fd(void);

/* Handles ready CoAP I/O and due timers (demo reads, lifetime expiry). */
int srv_process(void);
/* Milliseconds until srv_process must run again; -1: only on I/O. */
int srv_next_timeout(void);

/* What a command asks the server to send to a client. */
struct srv_req_spec {
	const char *id;		/* caller's request id (copied) */
	const char *ep;		/* endpoint name */
	const char *op;		/* "read", "write", ... echoed in the response (static) */
	uint8_t method;		/* COAP_REQUEST_CODE_* */
	const char *path;	/* "/3/0/1", may carry "?a=b&c" as Uri-Query */
	int accept;		/* < 0: no Accept option */
	int ct;			/* < 0: no Content-Format option */
	int observe;		/* < 0: no Observe option */
	const uint8_t *payload; /* copied */
	size_t len;
};

/* Send a request; failures are reported as error events.  Returns 0 or a
 * negative errno. */
int srv_request(const struct srv_req_spec *spec);
/* Push body (taken) to path with PUT, application/octet-stream, one Block1
 * block of 16 << szx bytes at a time (Size1 on the first when size1), each
 * after the 2.31 Continue of the one before; with cut, stop sending once
 * cut bytes went (a "push-cut" event), as a server that dropped it. */
int srv_push(const char *id, const char *ep, const char *path, uint8_t *body, size_t len,
	     unsigned szx, size_t cut, bool size1);
/* Cancel the observation of path on ep (GET with Observe 1, same token). */
int srv_cancel(const char *id, const char *ep, const char *path);
/* Forget the observation of path on ep without telling the client, as a
 * server that lost its state does: the next notification is answered with
 * RST when it is confirmable (RFC 7641 3.6). */
int srv_forget(const char *id, const char *ep, const char *path);
/* Bootstrap-Write the account's Security (/0/iid) and Server (/1/iid)
 * instances to ep, as two requests with op "bs-write", in the format the
 * client asked for (pct) when we can encode it, else TLV. */
int srv_bootstrap_account(const char *id, const char *ep, const struct srv_account *a);

/* End ep's DTLS session with an alert (close_notify); a "response" event
 * with op "close". */
void srv_close(const char *id, const char *ep);

/* Emit the "list" event. */
void srv_list(void);
/* Emit the "served" event: what --serve answered so far. */
void srv_served(void);

#endif
