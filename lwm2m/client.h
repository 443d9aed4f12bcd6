/* One LwM2M client: a downstream device as the management server sees it. */
#ifndef LWM_CLIENT_H
#define LWM_CLIENT_H

#include <stdint.h>

#include "block1.h"
#include "engine.h"
#include "model.h"

struct lwm_client;
struct lwm_security;

enum lwm_client_state {
	LWM_CLIENT_IDLE = 0,       /* created, not started */
	LWM_CLIENT_REGISTERING,
	LWM_CLIENT_REGISTERED,
	LWM_CLIENT_UPDATING,       /* registered; an Update is in flight */
	LWM_CLIENT_BACKOFF,        /* waiting to retry registration */
	LWM_CLIENT_DEREGISTERING,
	LWM_CLIENT_STOPPED,
	LWM_CLIENT_FAILED,         /* every registration sequence failed */
};

const char *lwm_client_state_name(enum lwm_client_state s);

/* The LwM2M 1.1 registration sequence (Server object /1/x/13..20).  The
 * client reads the values from its Server instance when it needs them, so
 * a server's or bootstrap server's writes take effect; these are what it
 * starts with (and uses when the instance lacks a resource). */
struct lwm_reg_policy {
	bool has_priority;          /* /1/x/13 Registration Priority Order */
	uint32_t priority;
	uint32_t initial_delay_s;   /* 14 Initial Registration Delay Timer */
	bool failure_block;         /* 15 Registration Failure Block */
	bool bootstrap_on_failure;  /* 16 Bootstrap on Registration Failure */
	uint32_t retry_count;       /* 17 Communication Retry Count */
	uint32_t retry_timer_s;     /* 18 Communication Retry Timer */
	uint32_t sequence_delay_s;  /* 19 Communication Sequence Delay Timer */
	uint32_t sequence_retries;  /* 20 Communication Sequence Retry Count */
};
/* /1/x/19: no further sequence.  /1/x/20: sequences without end. */
#define LWM_REG_NO_MORE_SEQUENCES UINT32_MAX
#define LWM_REG_FOREVER UINT32_MAX
/* The gateway's defaults (client.c says why they differ from the spec's). */
void lwm_reg_policy_defaults(struct lwm_reg_policy *p);

struct lwm_client_config {
	const char *name;       /* for log lines (the device's name); copied */
	const char *endpoint;   /* endpoint client name; copied */
	const char *server_uri; /* coap://host[:port] or coaps://; copied */
	/* DTLS credentials (lwm2m/security.h), required by coaps://; NULL for
	 * NoSec.  Copied (the copy is wiped when the client is freed). */
	const struct lwm_security *security;
	uint32_t lifetime;      /* seconds */
	const char *version;    /* "1.0", "1.1" or "1.2"; copied */
	const char *binding;    /* "U"...; copied */
	uint16_t short_server_id;
	/* The device's data model, shared by all the clients of one device (one
	 * per server) and owned by the caller: borrowed, it must outlive the
	 * client.  NULL: the client makes a private model (tests, one server). */
	struct lwm_model *model;
	/* The instance ids of this account's Security (/0/security_iid) and
	 * Server (/1/server_iid) instances in the model. */
	uint16_t security_iid, server_iid;
	/* false: the client adds /0/security_iid and /1/server_iid to the model,
	 * filled from this config, and removes them when freed.
	 * true: the account is already in the model (e.g. written there by a
	 * bootstrap server) and stays there when the client is freed; the
	 * client takes the server URI (/0/x/0, unless server_uri is set), the
	 * Short Server ID (/1/x/0), the lifetime (/1/x/1) and the binding
	 * (/1/x/7) from the model when this config leaves them 0 / NULL.
	 * DTLS credentials still come from `security` (the caller builds them
	 * from /0/x).  lwm_client_new_from_model is the short form. */
	bool account_in_model;
	/* NULL: lwm_reg_policy_defaults. */
	const struct lwm_reg_policy *reg;
	/* Notification storing (send.c): the initial /1/x/6 (the spec's
	 * default, true, unless no_storing) and the store's bounds per client
	 * (0: 256 entries, 64 KiB). */
	bool no_storing;
	uint32_t store_count, store_bytes;
	/* The initial Mute Send (/1/x/23, 1.1+). */
	bool mute_send;
	/* CoAP transmission parameters (RFC 7252 4.8): ACK_TIMEOUT in ms and
	 * MAX_RETRANSMIT (when max_retransmit_set); unset: libcoap's defaults
	 * (2 s, 4).  They decide how soon an unreachable server is noticed. */
	uint32_t ack_timeout_ms;
	bool max_retransmit_set;
	uint16_t max_retransmit;
};

/* A server operation the device must carry out (write, execute).  The
 * device layer finishes it with lwm_op_complete, possibly much later; the
 * engine answers the server then (a separate response when it takes long). */
struct lwm_op;

/* Return values of the device callbacks below. */
#define LWM_OP_DONE 0    /* carried out now: answer success */
#define LWM_OP_PENDING 1 /* lwm_op_complete will follow */

struct lwm_client_ops {
	/* The registration state changed (optional). */
	void (*state_changed)(struct lwm_client *c, enum lwm_client_state s, void *ud);
	/* True when the device (not the LwM2M layer) owns the resource at p
	 * (len 3): its writes and executes go to the callbacks below. */
	bool (*owns)(struct lwm_client *c, const struct lwm_path *p, void *ud);
	/* Validate every record (already typed and known writable) and start
	 * writing them.  Nothing may be applied unless all are valid: return a
	 * negative errno (-ERANGE, -EINVAL ...) before touching the device.
	 * Returns LWM_OP_DONE, LWM_OP_PENDING or a negative errno. */
	int (*write)(struct lwm_client *c, const struct lwm_record *recs, size_t n,
		     struct lwm_op *op, void *ud);
	/* Execute the resource at p with the given arguments (may be empty). */
	int (*execute)(struct lwm_client *c, const struct lwm_path *p, const uint8_t *args,
		       size_t len, struct lwm_op *op, void *ud);
	/* Observations at or above p came or went, or their attributes changed:
	 * lwm_client_sample_ms may answer differently now (optional). */
	void (*sampling_changed)(struct lwm_client *c, const struct lwm_path *p, void *ud);
	/* Registration with this server failed for good (every sequence
	 * of /1/x/17..20 exhausted, or the server refused it) and its
	 * Bootstrap on Registration Failure (/1/x/16) is true: the device
	 * layer should bootstrap (optional).  The client stays
	 * LWM_CLIENT_FAILED until lwm_client_start or lwm_client_free.  It
	 * may run inside libcoap's handler for the client's session: free
	 * or restart the client later (a timer), not from here. */
	void (*registration_failed)(struct lwm_client *c, void *ud);
	/* The server wrote a value the LwM2M layer keeps itself (optional):
	 * the device layer persists what must survive a restart. */
	void (*stored)(struct lwm_client *c, const struct lwm_path *p, const struct lwm_value *v,
		       void *ud);
	/* The server executed the Bootstrap-Request Trigger (/1/x/9); it was
	 * answered 2.04.  Runs inside the request's handler: start the
	 * bootstrap from a timer, never free the client here.  NULL: the
	 * client has no /1/x/9 (no bootstrap server). */
	void (*bootstrap_requested)(struct lwm_client *c, void *ud);
	/* A Write to the device-owned resource p (len 3) comes block-wise
	 * (Block1, more than one block): a sink to stream its body into
	 * instead of memory (lwm2m/block1.h), e.g. a firmware spool file, or
	 * NULL for the memory default.  *limit is what the body may hold (the
	 * engine's bound on entry); size1 the peer's Size1 (0: not sent).
	 * When the last block arrives, the device's write callback runs with
	 * an empty value for p: the body is in the sink.  Optional. */
	struct lwm_block1_sink *(*body_sink)(struct lwm_client *c, const struct lwm_path *p,
					     uint16_t format, uint64_t size1, size_t *limit,
					     void *ud);
};

/* Finish a pending op: status 0 or a negative errno, mapped to a CoAP code
 * (-ERANGE/-EINVAL 4.00, -EPERM 4.05, -ENOENT 4.04, -ETIMEDOUT 5.04,
 * -EHOSTDOWN/-ENODEV 5.03, -ENOTSUP 5.01, anything else 5.00).  Each
 * pending op is completed exactly once; it may outlive its client, and
 * completing it then is harmless. */
void lwm_op_complete(struct lwm_op *op, int status);

/* Notification attributes (Write-Attributes), stored per path for
 * observations.  A field is in force when its bit is set in `set`. */
enum lwm_attr_bit {
	LWM_ATTR_PMIN = 1 << 0,
	LWM_ATTR_PMAX = 1 << 1,
	LWM_ATTR_GT = 1 << 2,
	LWM_ATTR_LT = 1 << 3,
	LWM_ATTR_ST = 1 << 4,
	LWM_ATTR_EPMIN = 1 << 5,
	LWM_ATTR_EPMAX = 1 << 6,
	LWM_ATTR_EDGE = 1 << 7,
	LWM_ATTR_CON = 1 << 8,
	LWM_ATTR_HQMAX = 1 << 9,
};

struct lwm_attrs {
	uint32_t set;
	uint32_t pmin, pmax, epmin, epmax, hqmax; /* seconds / count */
	double gt, lt, st;
	uint8_t edge, con;                        /* 0 or 1 */
};

/* Parse a Write-Attributes query ("pmin=10&pmax=60&gt", an attribute
 * without a value removes it) onto `attrs`, validating each value and the
 * combination (pmin <= pmax, epmin <= epmax, st >= 0, lt < gt and, with st,
 * lt + 2*st < gt; gt/lt/st only on numeric resources, edge only on
 * boolean ones; type says which the target is).  Returns 0 or -EINVAL
 * (nothing changed). */
#define LWM_ATTR_ON_OTHER 0
#define LWM_ATTR_ON_NUMBER 1
#define LWM_ATTR_ON_BOOLEAN 2
/* Or'ed into type: the registration is LwM2M 1.0 (pmin pmax gt lt st
 * only) or 1.1 (and epmin epmax); without either, 1.2 (and edge con
 * hqmax).  lwm_attr_version gives the flag for a version string. */
#define LWM_ATTR_V1_0 0x100
#define LWM_ATTR_V1_1 0x200
int lwm_attrs_apply_query(struct lwm_attrs *attrs, const char *query, size_t len, int level,
			  int type);
int lwm_attr_version(const char *version);
/* LWM_ATTR_ON_NUMBER, _BOOLEAN or _OTHER for the resource at p (len >= 3),
 * from the object table; _OTHER for objects and instances. */
int lwm_attr_target(const struct lwm_path *p);
/* The attributes attached to exactly p, or NULL. */
const struct lwm_attrs *lwm_client_attrs(const struct lwm_client *c, const struct lwm_path *p);

/* Create a client, one registration with one server.  Unless
 * cfg->account_in_model, its Security (/0/security_iid) and Server
 * (/1/server_iid) instances are added to the model, filled from cfg.  ops and ud are borrowed for the client's lifetime. */
int lwm_client_new(struct lwm_engine *e, const struct lwm_client_config *cfg,
		   const struct lwm_client_ops *ops, void *ud, struct lwm_client **out);
/* A client for an account that is already in `model` (Security
 * /0/security_iid and Server /1/server_iid, e.g. bootstrapped): the same as
 * lwm_client_new with account_in_model set and every other field taken from
 * the model.  security: DTLS credentials for a coaps:// URI, else NULL. */
int lwm_client_new_from_model(struct lwm_engine *e, struct lwm_model *model,
			      uint16_t security_iid, uint16_t server_iid, const char *name,
			      const char *endpoint, const char *version,
			      const struct lwm_security *security,
			      const struct lwm_client_ops *ops, void *ud, struct lwm_client **out);
/* Free without any network traffic (see lwm_engine_shutdown to de-register). */
void lwm_client_free(struct lwm_client *c);

/* The (possibly shared) model the client serves. */
struct lwm_model *lwm_client_model(struct lwm_client *c);
uint16_t lwm_client_short_server_id(const struct lwm_client *c);
uint16_t lwm_client_server_iid(const struct lwm_client *c);
const char *lwm_client_server_uri(const struct lwm_client *c);
const char *lwm_client_name(const struct lwm_client *c);
const char *lwm_client_endpoint(const struct lwm_client *c);
enum lwm_client_state lwm_client_state(const struct lwm_client *c);
/* "/rd/5" once registered, else NULL. */
const char *lwm_client_location(const struct lwm_client *c);
/* The LwM2M version the server accepted (after any 4.12 fall-back). */
const char *lwm_client_version(const struct lwm_client *c);
/* For the control socket: when the last Register or Update succeeded
 * (clock_now_ms; 0: never), the observations the server holds, and the
 * notifications stored while it could not be reached. */
uint64_t lwm_client_last_update_ms(const struct lwm_client *c);
size_t lwm_client_observation_count(const struct lwm_client *c);
size_t lwm_client_stored_count(const struct lwm_client *c);
/* Hint: those three will be asked for soon. */
void lwm_client_prefetch(const struct lwm_client *c);

/* Whether the device behind the client answers.  While unavailable, reads
 * of its own objects answer 5.03 Service Unavailable at once instead of
 * serving stale values; the core objects (0..7) stay readable, so a server
 * can see the Device object's error code. */
void lwm_client_set_available(struct lwm_client *c, bool available);
bool lwm_client_available(const struct lwm_client *c);

/* Bring time-dependent resources up to date before a read (the Device
 * object's Current Time: the wall clock plus what a server's write of it
 * set; the system clock itself is never changed). */
void lwm_client_refresh_time(struct lwm_client *c);

/* Open the session and register, as the registration sequence of the
 * Server instance says: after the servers earlier in the Registration
 * Priority Order, after the Initial Registration Delay, failures retried in
 * communication sequences (with +-25% jitter on every delay).  Also
 * restarts a FAILED or STOPPED client.  The first Register leaves on this
 * loop turn or a later one (a few dozen leave per turn). */
int lwm_client_start(struct lwm_client *c);
/* De-register when registered (the answer is not waited for) and stop
 * retrying; lwm_client_start may follow. */
void lwm_client_stop(struct lwm_client *c);
/* As a rebooted device does: de-register (when registered), close the
 * session and register again, from a timer (the caller's answer goes
 * first).  The same path as Disable with a Disable Timeout of 0. */
void lwm_client_restart(struct lwm_client *c);

/* Information reporting (observe.c).  The value at p (len 3 or 4) changed
 * in the model: notify its observers as their attributes allow.  Costs a
 * few hash lookups, nothing when p is not observed. */
void lwm_client_values_changed(struct lwm_client *c, const struct lwm_path *p);
/* The same for a value whose every change is an event the server must see
 * (Object 5 State and Update Result): its observers are notified at once,
 * with the value the model holds now, whatever their pmin and other
 * conditions, so that a transition is never coalesced away by the next
 * one.  pmin and pmax then run from this notification. */
void lwm_client_values_changed_now(struct lwm_client *c, const struct lwm_path *p);
/* Send (POST /dp, LwM2M 1.1+; send.c): what the client sends by itself.
 * Each item is a path (resource or instance) sent every period_ms (0:
 * never) and/or when its value changes; items with the same period go in
 * one Send.  format LWM_FMT_SENML_CBOR or _SENML_JSON.  Replaces any
 * earlier configuration.  0, -ENOTSUP (format), -ENOMEM. */
struct lwm_send_item {
	struct lwm_path path;
	uint32_t period_ms;
	bool on_change;
};
int lwm_client_send_config(struct lwm_client *c, uint16_t format,
			   const struct lwm_send_item *items, size_t n);

/* How often the resource at p should be sampled for its observations, in
 * ms; 0 when nothing observing it asks for more than its configuration. */
uint32_t lwm_client_sample_ms(const struct lwm_client *c, const struct lwm_path *p);

#endif
