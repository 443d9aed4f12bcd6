/* One LwM2M client: a downstream device as the management server sees it. */
#ifndef LWM_CLIENT_H
#define LWM_CLIENT_H

#include <stdint.h>

#include "engine.h"
#include "model.h"

struct lwm_client;

enum lwm_client_state {
	LWM_CLIENT_IDLE = 0,       /* created, not started */
	LWM_CLIENT_REGISTERING,
	LWM_CLIENT_REGISTERED,
	LWM_CLIENT_UPDATING,       /* registered; an Update is in flight */
	LWM_CLIENT_BACKOFF,        /* waiting to retry registration */
	LWM_CLIENT_DEREGISTERING,
	LWM_CLIENT_STOPPED,
};

const char *lwm_client_state_name(enum lwm_client_state s);

struct lwm_client_config {
	const char *name;       /* for log lines (the device's name); copied */
	const char *endpoint;   /* endpoint client name; copied */
	const char *server_uri; /* coap://host[:port]; copied */
	uint32_t lifetime;      /* seconds */
	const char *version;    /* "1.0", "1.1" or "1.2"; copied */
	const char *binding;    /* "U"...; copied */
	uint16_t short_server_id;
};

struct lwm_client_ops {
	/* The registration state changed (optional). */
	void (*state_changed)(struct lwm_client *c, enum lwm_client_state s, void *ud);
};

/* Create a client with its Security (/0/0) and Server (/1/0) instances
 * filled from cfg.  ops and ud are borrowed for the client's lifetime. */
int lwm_client_new(struct lwm_engine *e, const struct lwm_client_config *cfg,
		   const struct lwm_client_ops *ops, void *ud, struct lwm_client **out);
/* Free without any network traffic (see lwm_engine_shutdown to de-register). */
void lwm_client_free(struct lwm_client *c);

struct lwm_model *lwm_client_model(struct lwm_client *c);
const char *lwm_client_name(const struct lwm_client *c);
const char *lwm_client_endpoint(const struct lwm_client *c);
enum lwm_client_state lwm_client_state(const struct lwm_client *c);
/* "/rd/5" once registered, else NULL. */
const char *lwm_client_location(const struct lwm_client *c);
/* The LwM2M version the server accepted (after any 4.12 fall-back). */
const char *lwm_client_version(const struct lwm_client *c);

/* Whether the device behind the client answers.  While unavailable, reads
 * of its own objects answer 5.03 Service Unavailable at once instead of
 * serving stale values; the core objects (0..7) stay readable, so a server
 * can see the Device object's error code. */
void lwm_client_set_available(struct lwm_client *c, bool available);
bool lwm_client_available(const struct lwm_client *c);

/* Open the session and register.  Failures are retried with backoff. */
int lwm_client_start(struct lwm_client *c);

#endif
