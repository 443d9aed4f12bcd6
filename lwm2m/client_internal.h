/* Shared between engine.c and client.c only. */
#ifndef LWM_CLIENT_INTERNAL_H
#define LWM_CLIENT_INTERNAL_H

#include <coap3/coap.h>

#include "block1.h"
#include "client.h"
#include "gatewayd/timerq.h"

#define LWM_TOKEN_MAX 8
/* Default for how long a device may take over a write or execute before
 * the server is answered 5.04 Gateway Timeout: below common servers'
 * request timeouts.  lwm_engine_set_op_timeout changes it. */
#define LWM_OP_TIMEOUT_MS 30000u

struct lwm_engine {
	/* [0]: NoSec and PSK sessions; [1]: RPK and X.509, once needed. */
	coap_context_t *ctxs[2];
	int epfd;                    /* holds the contexts' epoll fds */
	struct timerq *timers;
	uint32_t op_timeout_ms;      /* a device's Write/Execute, then 5.04 */
	struct gw_timer io_timer;    /* libcoap's next retransmission */
	bool kick_pending;           /* io_timer is armed for this loop turn */
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
	struct lwm_record *acl_recs; /* a read with Access Control applied */
	size_t acl_cap;
	/* Clients whose Register (or, in a shutdown, DELETE) waits for its
	 * turn: at most LWM_STARTS_PER_TURN leave per loop turn, so that
	 * answers are read between batches (client.c). */
	struct lwm_client *startq_head, *startq_tail;
	struct gw_timer start_timer;
	size_t n_order_wait;         /* clients with order_wait set */
	uint64_t start_run;          /* the timerq_run the count below is of */
	unsigned starts_in_run;
	struct lwm_resolver resolver; /* start NULL: blocking look-ups */
	/* Block-wise request bodies being received (block1.c), and the one
	 * complete body the request handler now runs with. */
	struct lwm_block1_table block1;
	struct gw_timer block1_timer; /* drops stale transfers */
	size_t max_body;              /* lwm_engine_set_max_body */
	uint32_t max_obs;             /* lwm_engine_set_max_observations */
	const coap_pdu_t *body_req;
	const uint8_t *body;
	size_t body_len;
};

enum lwm_pending {
	LWM_PENDING_NONE = 0,
	LWM_PENDING_REGISTER,
	LWM_PENDING_UPDATE,
	LWM_PENDING_DEREGISTER,
};

/* What a session's app data points at: every owner of a session starts
 * with this, so the engine can route a session's traffic to a client or to
 * a bootstrap (bootstrap.c). */
enum lwm_owner_kind {
	LWM_OWNER_CLIENT = 1,
	LWM_OWNER_BOOTSTRAP,
};

struct lwm_owner {
	enum lwm_owner_kind kind;
};

struct lwm_client {
	struct lwm_owner owner; /* first: the session's app data */
	struct lwm_engine *engine;
	struct lwm_client *prev, *next;
	char *name, *endpoint, *server_uri, *binding;
	char version[4];
	char version_cfg[4];  /* configured; version may be lower after a 4.12 */
	bool version_fallback; /* this Register steps down after a 4.12 */
	/* The server answered 4.00 to a Register: the plain object list
	 * (no root link attributes, no object versions) was tried once
	 * (plain_tried) and, while plain_links, is what it gets. */
	bool plain_links, plain_tried;
	uint32_t lifetime;      /* 0: infinite (LwM2M 1.2 only), no Update */
	bool lifetime_infinite; /* 0 came from the account: not the default */
	uint16_t short_server_id;
	uint32_t ack_timeout_ms; /* 0: libcoap's default */
	int max_retransmit;      /* < 0: libcoap's default */
	const struct lwm_client_ops *ops;
	void *ud;

	coap_address_t server_addr;
	bool server_named;     /* the URI has a host name, not an address */
	bool addr_fresh;       /* server_addr was just resolved for this Register */
	void *resolving;       /* the resolver's handle while a look-up runs */
	struct lwm_security *security; /* owned copy; NULL: NoSec */
	coap_session_t *session;
	struct lwm_model *model;       /* borrowed unless own_model */
	bool own_model;
	bool account_in_model;         /* /0 and /1 instances are not ours */
	uint16_t security_iid, server_iid;

	enum lwm_client_state state;
	uint64_t last_update_ms; /* the last Register or Update that succeeded */
	enum lwm_pending pending;
	uint8_t token[LWM_TOKEN_MAX];
	size_t token_len;
	char *location;       /* "/rd/xyz" */
	struct gw_timer timer; /* update, retry */
	struct lwm_client *startq_prev, *startq_next;
	bool start_queued;     /* in the engine's start queue */
	bool queued_deregister; /* ... for its DELETE, not its Register */
	bool forgetting;        /* libcoap drops its queue: ignore the NACKs */
	unsigned failures;     /* consecutive registration failures */
	struct lwm_reg_policy reg; /* configured; /1/x/13..20 override */
	uint32_t attempt;      /* failed attempts in this sequence */
	uint32_t sequence;     /* failed sequences */
	bool order_wait;       /* waiting for servers earlier in the order */
	bool order_released;   /* no longer holds later servers back */
	bool initial_wait;     /* the timer is the Initial Registration Delay */
	bool initial_done;     /* registered once: no more initial delay */
	bool links_changed;
	bool lifetime_changed; /* the next Update carries lt= */
	bool unavailable;      /* the device behind it is down */
	int64_t time_offset;   /* a server's Current Time minus the wall clock */
	/* Write-Attributes, by path. */
	struct lwm_path_attrs *attrs;
	size_t n_attrs;
	/* Operations waiting for the device. */
	struct lwm_op *ops_pending;
	/* Disable (/1/x/4): off the air until this timer fires.  The timer
	 * first de-registers (after the Execute's answer), then drops the
	 * session, then waits the Disable Timeout. */
	bool disabled;
	enum { LWM_DISABLE_DEREGISTER, LWM_DISABLE_DROP, LWM_DISABLE_WAIT } disable_step;
	uint32_t disable_s;
	/* Observations (observe.c); NULL until the first Observe. */
	struct lwm_obs_table *obs;
	/* Send and notification storing (send.c). */
	struct lwm_report *report;
};

struct lwm_path_attrs {
	struct lwm_path path;
	struct lwm_attrs attrs;
};

/* A server request the device is carrying out (ops.c). */
struct lwm_op {
	struct lwm_client *client;  /* NULL once the client is gone */
	struct lwm_op *next;        /* in client->ops_pending */
	coap_session_t *session;
	coap_async_t *async;        /* the deferred response */
	struct gw_timer timeout;
	unsigned success_code;      /* 204 */
	int status;
	bool device_done;           /* lwm_op_complete was called */
	bool answered;              /* the engine is finished with it */
	/* LwM2M-layer records of the same request, applied on success. */
	struct lwm_record *local;
	size_t n_local;
	struct lwm_buf local_bytes;
	struct lwm_path path;       /* the request's path, for post-apply hooks */
};

/* acl.c: what this registration's server may do (lwm2m/acl.h). */
unsigned lwm_client_rights(const struct lwm_client *c, uint16_t oid, uint16_t iid);
/* May the server do `right` (LWM_ACL_*) at p?  For an object (len 1):
 * Create on its object-level instance, anything else on at least one
 * instance. */
bool lwm_client_may(const struct lwm_client *c, const struct lwm_path *p, unsigned right);
/* lwm_model_read as this server may see it: -EACCES for an instance it
 * may not read; an object's unreadable instances left out (-EACCES when
 * that is all of them).  The records live until the next read. */
int lwm_client_read(struct lwm_client *c, const struct lwm_path *p,
		    const struct lwm_record **recs, size_t *n);
/* An instance (len 2) the server may read (a visible() filter; ud: c). */
bool lwm_client_visible(const struct lwm_path *inst, void *ud);

/* engine.c */
void lwm_engine_kick(struct lwm_engine *e);
/* The context a session with these credentials (NULL: NoSec) belongs in;
 * NULL when it cannot be made. */
coap_context_t *lwm_engine_context(struct lwm_engine *e, const struct lwm_security *sec);
void lwm_respond_code(coap_pdu_t *resp, unsigned code);
/* The request's Uri-Path as an LwM2M path; -ENOENT when it is not one.
 * With first ("bs"), a path that is exactly that one segment sets
 * *first_seen (and p stays empty) instead. */
int lwm_request_path(const coap_pdu_t *req, const char *first, struct lwm_path *p,
		     bool *first_seen);
int lwm_request_uint_option(const coap_pdu_t *req, coap_option_num_t num, uint32_t *out);
/* The request's whole body: the one gatewayd reassembled from Block1
 * (block1.c) when req is the last block of one, else req's own payload. */
void lwm_request_data(const struct lwm_engine *e, const coap_pdu_t *req, const uint8_t **data,
		      size_t *len);
/* Where multi-block bodies go instead of memory (block1.h sink_for): the
 * hook for a streaming target such as a firmware package. */
void lwm_engine_set_block1_sink(struct lwm_engine *e,
				struct lwm_block1_sink *(*sink_for)(void *ud,
								    const struct lwm_block1_req *req,
								    size_t *limit),
				void *ud);
/* A session goes away: its unfinished Block1 transfers with it. */
void lwm_engine_session_gone(struct lwm_engine *e, const coap_session_t *s);
void lwm_respond_body(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		      coap_pdu_t *resp, const coap_string_t *query, unsigned code,
		      uint16_t format, struct lwm_buf *out);

/* ops.c: the server's operations other than Read and Discover. */
void lwm_ops_write(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
		   coap_pdu_t *resp, const struct lwm_path *p, bool replace);
void lwm_ops_execute(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
		     coap_pdu_t *resp, const struct lwm_path *p);
void lwm_ops_write_attributes(struct lwm_client *c, const coap_string_t *query,
			      coap_pdu_t *resp, const struct lwm_path *p);
void lwm_ops_create(struct lwm_client *c, coap_pdu_t *resp, const struct lwm_path *p);
void lwm_ops_read_composite(struct lwm_client *c, coap_session_t *s, coap_resource_t *res,
			    const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp);
void lwm_ops_write_composite(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
			     coap_pdu_t *resp);
void lwm_ops_delete(struct lwm_client *c, coap_pdu_t *resp, const struct lwm_path *p);
/* A triggered deferred response: answer it.  True when req was one. */
bool lwm_ops_resume(coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp);
/* The client is going away: abandon its pending operations. */
void lwm_ops_abandon_all(struct lwm_client *c);
/* Attach attributes to p (replacing; an empty set removes the entry). */
int lwm_client_attrs_put(struct lwm_client *c, const struct lwm_path *p,
			 const struct lwm_attrs *a);
/* Append ";pmin=..;pmax=.." for p's attributes (Discover). */
void lwm_client_attrs_format(const struct lwm_client *c, const struct lwm_path *p,
			     struct lwm_buf *out);
/* client.c: send an Update now (Registration Update Trigger, lifetime). */
int lwm_client_update_now(struct lwm_client *c);
/* client.c: a Lifetime (/1/x/1) of 0, infinite, exists from LwM2M 1.2 on. */
bool lwm_lifetime_zero_ok(const char *version);
/* client.c: Disable for `seconds`, then register again. */
void lwm_client_disable(struct lwm_client *c, uint32_t seconds);
void lwm_engine_link(struct lwm_engine *e, struct lwm_client *c);
void lwm_engine_unlink(struct lwm_engine *e, struct lwm_client *c);
/* A De-register ended, whatever its outcome (counts down a shutdown). */
void lwm_engine_deregistered(struct lwm_engine *e);

/* bootstrap.c: the traffic of a bootstrap session. */
struct lwm_bootstrap;
void lwm_bootstrap_on_request(struct lwm_bootstrap *b, coap_resource_t *r, coap_session_t *s,
			      const coap_pdu_t *req, const coap_string_t *query,
			      coap_pdu_t *resp);
void lwm_bootstrap_on_response(struct lwm_bootstrap *b, const coap_pdu_t *rcvd);
void lwm_bootstrap_on_failure(struct lwm_bootstrap *b, const coap_pdu_t *sent, const char *why);
const struct lwm_security *lwm_bootstrap_security(const struct lwm_bootstrap *b);
struct lwm_engine *lwm_bootstrap_engine(const struct lwm_bootstrap *b);
const char *lwm_bootstrap_name(const struct lwm_bootstrap *b);

/* client.c */
void lwm_client_on_response(struct lwm_client *c, const coap_pdu_t *rcvd);
void lwm_client_on_failure(struct lwm_client *c, const char *why);
/* libcoap closed c's established DTLS session (an alert, close_notify, an
 * ICMP error): register again on a new one. */
void lwm_client_session_lost(struct lwm_client *c, const char *why);
bool lwm_client_token_matches(const struct lwm_client *c, coap_bin_const_t tok);
/* De-register: 0 when a DELETE will go out (from the start queue; its answer
 * or failure ends in lwm_engine_deregistered), -ENOTCONN when not registered. */
int lwm_client_deregister(struct lwm_client *c);
/* The engine's start_timer: sends the next batch of queued Registers and
 * DELETEs. */
void lwm_engine_run_starts(struct gw_timer *t, void *ud);
void lwm_client_set_state(struct lwm_client *c, enum lwm_client_state s);
/* The client of the same model whose Server instance is /1/server_iid
 * (c itself when it is), or NULL. */
struct lwm_client *lwm_client_sibling_by_server_iid(struct lwm_client *c, uint16_t server_iid);
/* A value in c's model changed: notify the observers of every client that
 * shares the model (observations are per server). */
void lwm_model_changed(struct lwm_client *c, const struct lwm_path *p);

/* observe.c: Observe / Cancel around a Read (GET) or Read-Composite
 * (FETCH) carrying the Observe option.  begin runs before the read (Cancel
 * with 1; with 0 it checks the request's attributes and the registration's
 * max_observations, false when it answered an error itself); end runs
 * after it and keeps the observation when the read succeeded. */
bool lwm_observe_begin(struct lwm_client *c, const coap_pdu_t *req, const coap_string_t *query,
		       coap_pdu_t *resp, const struct lwm_path *p, uint32_t observe);
/* Between begin and end: a successful answer, about to get its payload,
 * gets the Observe option when begin accepted the registration. */
void lwm_observe_option(struct lwm_client *c, coap_pdu_t *resp);
void lwm_observe_end(struct lwm_client *c, const coap_pdu_t *req, coap_pdu_t *resp,
		     const struct lwm_path *p, uint32_t observe);
/* A notification failed (RST, CON unacknowledged): true when sent was one. */
bool lwm_observe_nack(struct lwm_client *c, const coap_pdu_t *sent, coap_nack_reason_t reason);
/* Write-Attributes at p: re-arm the observations it affects. */
void lwm_observe_attrs_changed(struct lwm_client *c, const struct lwm_path *p);
/* A new registration: the server forgot them (logged with why). */
void lwm_observe_drop_all(struct lwm_client *c, const char *why);
/* The client is freed. */
void lwm_observe_free(struct lwm_client *c);
/* Deliver a stored notification (taken at time_s) on the observation
 * whose lwm_report_obs_key is key: 0, or -ENOENT when it is gone. */
int lwm_observe_deliver(struct lwm_client *c, uint64_t key, int64_t time_s,
			const struct lwm_record *recs, size_t n);
/* The next notification of every observation goes CON: after an Update
 * or a re-established session, a server that forgot us answers it with a
 * RST (libcoap 4.3.1 does not hand a RST to a NON to us). */
void lwm_observe_con_next(struct lwm_client *c);
/* Is there an observation whose lwm_report_obs_key is key? */
bool lwm_observe_has_key(struct lwm_client *c, uint64_t key);

#endif
