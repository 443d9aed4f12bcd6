/* Block-wise GETs (RFC 7959 Block2) to one resource, on the engine's
 * libcoap machinery (its epoll fd, its timers, its DTLS setup), for pulling
 * firmware packages (gatewayd/fw_fetch.c).  The caller drives the transfer:
 * it asks for one block at a time and gets each answer as it arrives, so
 * nothing holds the whole body.
 *
 * libcoap 4.3.1 sets its block mode per context (sessions copy it when
 * made), and in COAP_BLOCK_USE_LIBCOAP mode it asks for the blocks after
 * block 0 on its own.  So these sessions live in contexts of the engine's
 * own with block handling left to us (engine.c), beside the ones of the
 * LwM2M clients, on the same epoll fd and timer. */
#ifndef LWM_COAP_FETCH_H
#define LWM_COAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>

struct lwm_engine;
struct lwm_security;
struct lwm_get;

struct lwm_get_answer {
	unsigned code; /* e.g. 205 for 2.05 */
	bool has_block2;
	uint32_t num;  /* Block2 */
	bool more;
	unsigned szx;
	bool has_size2;
	uint64_t size2;
	const uint8_t *data;
	size_t len;
};

struct lwm_get_ops {
	/* The answer to the last lwm_get_block (stale ones are dropped). */
	void (*answer)(void *ud, const struct lwm_get_answer *a);
	/* The last request will get no answer: -ETIMEDOUT (retransmissions
	 * exhausted, or a 4.xx-less silence), -ECONNRESET (RST, ICMP error,
	 * the DTLS session closed), -EACCES (DTLS handshake failed),
	 * -EHOSTUNREACH (the host name does not resolve). */
	void (*failed)(void *ud, int err);
};

/* uri: coap:// or coaps:// (-EPROTONOSUPPORT otherwise, -EINVAL when it
 * does not parse); sec is copied and used for coaps:// (NULL: -EACCES).
 * Nothing is sent until lwm_get_block.  Neither callback runs inside a
 * lwm_get_* call. */
int lwm_get_new(struct lwm_engine *e, const char *uri, const struct lwm_security *sec,
		const struct lwm_get_ops *ops, void *ud, struct lwm_get **out);
/* Send GET with Block2 (num, szx), and Size2 0 when ask_size (RFC 7959
 * 4: asks the server for the size).  Opens the session (resolving the
 * host, the DTLS handshake) when there is none.  0 or a negative errno. */
int lwm_get_block(struct lwm_get *g, uint32_t num, unsigned szx, bool ask_size);
/* Forget the session (a lost connection): the next lwm_get_block makes a
 * new one.  Not from inside a callback. */
void lwm_get_reset(struct lwm_get *g);
/* Not from inside a callback. */
void lwm_get_free(struct lwm_get *g);
/* CoAP transmission parameters of the sessions (0 / negative: libcoap's
 * defaults, ACK_TIMEOUT 2 s, MAX_RETRANSMIT 4). */
void lwm_get_set_timing(struct lwm_get *g, uint32_t ack_timeout_ms, int max_retransmit);

/* engine.c's side: routing a fetch session's traffic here. */
void lwm_get_on_response(coap_session_t *s, const coap_pdu_t *rcvd);
void lwm_get_on_nack(coap_session_t *s, const coap_pdu_t *sent, coap_nack_reason_t reason);
void lwm_get_on_event(coap_session_t *s, coap_event_t ev);
const struct lwm_security *lwm_get_security(coap_session_t *s);

#endif
