/* One LwM2M client: a downstream device as the management server sees it. */
#ifndef LWM_CLIENT_H
#define LWM_CLIENT_H

#include <stdint.h>

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
};

const char *lwm_client_state_name(enum lwm_client_state s);

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
	/* The server wrote a value the LwM2M layer keeps itself (optional):
	 * the device layer persists what must survive a restart. */
	void (*stored)(struct lwm_client *c, const struct lwm_path *p, const struct lwm_value *v,
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
int lwm_attrs_apply_query(struct lwm_attrs *attrs, const char *query, size_t len, int level,
			  int type);
/* LWM_ATTR_ON_NUMBER, _BOOLEAN or _OTHER for the resource at p (len >= 3),
 * from the object table; _OTHER for objects and instances. */
int lwm_attr_target(const struct lwm_path *p);
/* The attributes attached to exactly p, or NULL. */
const struct lwm_attrs *lwm_client_attrs(const struct lwm_client *c, const struct lwm_path *p);

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

/* Bring time-dependent resources up to date before a read (the Device
 * object's Current Time: the wall clock plus what a server's write of it
 * set; the system clock itself is never changed). */
void lwm_client_refresh_time(struct lwm_client *c);

/* Open the session and register, on this loop turn or a later one (a few
 * dozen Registers leave per turn).  Failures are retried with backoff. */
int lwm_client_start(struct lwm_client *c);

/* Information reporting (observe.c).  The value at p (len 3 or 4) changed
 * in the model: notify its observers as their attributes allow.  Costs a
 * few hash lookups, nothing when p is not observed. */
void lwm_client_values_changed(struct lwm_client *c, const struct lwm_path *p);
/* How often the resource at p should be sampled for its observations, in
 * ms; 0 when nothing observing it asks for more than its configuration. */
uint32_t lwm_client_sample_ms(const struct lwm_client *c, const struct lwm_path *p);

#endif
