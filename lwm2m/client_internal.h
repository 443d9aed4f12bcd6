/* Shared between engine.c and client.c only. */
#ifndef LWM_CLIENT_INTERNAL_H
#define LWM_CLIENT_INTERNAL_H

#include <coap3/coap.h>

#include "client.h"
#include "gatewayd/timerq.h"

#define LWM_TOKEN_MAX 8

struct lwm_engine {
	coap_context_t *ctx;
	struct timerq *timers;
	struct gw_timer io_timer;    /* libcoap's next retransmission */
	struct lwm_client *clients;  /* doubly linked list */
	size_t n_clients;
	size_t n_registered;
	/* Shutdown in progress. */
	bool shutting_down;
	size_t shutdown_pending;
	struct gw_timer shutdown_timer;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
	struct lwm_buf scratch;      /* response encoding, reused */
};

enum lwm_pending {
	LWM_PENDING_NONE = 0,
	LWM_PENDING_REGISTER,
	LWM_PENDING_UPDATE,
	LWM_PENDING_DEREGISTER,
};

struct lwm_client {
	struct lwm_engine *engine;
	struct lwm_client *prev, *next;
	char *name, *endpoint, *server_uri, *binding;
	char version[4];
	uint32_t lifetime;
	uint16_t short_server_id;
	const struct lwm_client_ops *ops;
	void *ud;

	coap_address_t server_addr;
	coap_session_t *session;
	struct lwm_model *model;

	enum lwm_client_state state;
	enum lwm_pending pending;
	uint8_t token[LWM_TOKEN_MAX];
	size_t token_len;
	char *location;       /* "/rd/xyz" */
	struct gw_timer timer; /* update, retry */
	unsigned failures;     /* consecutive registration failures */
	bool links_changed;
	bool unavailable;      /* the device behind it is down */
};

/* engine.c */
void lwm_engine_kick(struct lwm_engine *e);
void lwm_engine_link(struct lwm_engine *e, struct lwm_client *c);
void lwm_engine_unlink(struct lwm_engine *e, struct lwm_client *c);
/* A De-register ended, whatever its outcome (counts down a shutdown). */
void lwm_engine_deregistered(struct lwm_engine *e);

/* client.c */
void lwm_client_on_response(struct lwm_client *c, const coap_pdu_t *rcvd);
void lwm_client_on_failure(struct lwm_client *c, const char *why);
bool lwm_client_token_matches(const struct lwm_client *c, coap_bin_const_t tok);
int lwm_client_deregister(struct lwm_client *c);
void lwm_client_set_state(struct lwm_client *c, enum lwm_client_state s);

#endif
