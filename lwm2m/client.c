#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "uri.h"
#include "security.h"
#include "send.h"

/* The registration sequence's defaults for a gateway.  The spec's (5
 * attempts 60 s apart doubling, one sequence, then bootstrap) suit a
 * device with a bootstrap server; a gateway usually has none, and must
 * never give up on its own: a server down for a day must find every device
 * back soon after it returns, without a restart.  So: attempts 2, 4, 8, 16
 * and 32 s apart (6 per sequence, about a minute, close to the retries of
 * earlier gatewayd versions), then 120 s between sequences, forever, and no
 * bootstrap on failure.  Every delay gets +-25% jitter so that a restarted
 * server is not hit by every device at the same instant. */
#define REG_RETRY_COUNT 6u
#define REG_RETRY_TIMER_S 2u
#define REG_SEQUENCE_DELAY_S 120u
/* A single delay is capped at a day (a server may write large values). */
#define REG_MAX_DELAY_S 86400u

void lwm_reg_policy_defaults(struct lwm_reg_policy *p)
{
	*p = (struct lwm_reg_policy){
		.retry_count = REG_RETRY_COUNT,
		.retry_timer_s = REG_RETRY_TIMER_S,
		.sequence_delay_s = REG_SEQUENCE_DELAY_S,
		.sequence_retries = LWM_REG_FOREVER,
	};
}

const char *lwm_client_state_name(enum lwm_client_state s)
{
	static const char *const names[] = {"idle", "registering", "registered", "updating",
					    "backoff", "deregistering", "stopped", "failed"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

struct lwm_model *lwm_client_model(struct lwm_client *c)
{
	return c->model;
}

uint16_t lwm_client_short_server_id(const struct lwm_client *c)
{
	return c->short_server_id;
}

uint16_t lwm_client_server_iid(const struct lwm_client *c)
{
	return c->server_iid;
}

const char *lwm_client_server_uri(const struct lwm_client *c)
{
	return c->server_uri;
}

struct lwm_client *lwm_client_sibling_by_server_iid(struct lwm_client *c, uint16_t server_iid)
{
	if (c->server_iid == server_iid)
		return c;
	/* Clients of one device sit next to each other in no particular
	 * order; the whole list is walked, only for rare server writes. */
	for (struct lwm_client *o = c->engine->clients; o; o = o->next)
		if (o->model == c->model && o->server_iid == server_iid)
			return o;
	return NULL;
}

void lwm_model_changed(struct lwm_client *c, const struct lwm_path *p)
{
	if (c->own_model) {
		lwm_client_values_changed(c, p);
		return;
	}
	for (struct lwm_client *o = c->engine->clients; o; o = o->next)
		if (o->model == c->model)
			lwm_client_values_changed(o, p);
}

const char *lwm_client_name(const struct lwm_client *c)
{
	return c->name;
}

const char *lwm_client_endpoint(const struct lwm_client *c)
{
	return c->endpoint;
}

enum lwm_client_state lwm_client_state(const struct lwm_client *c)
{
	return c->state;
}

const char *lwm_client_location(const struct lwm_client *c)
{
	return c->location;
}

const char *lwm_client_version(const struct lwm_client *c)
{
	return c->version;
}

void lwm_client_prefetch(const struct lwm_client *c)
{
	__builtin_prefetch(&c->state);
	__builtin_prefetch(&c->obs);
}

uint64_t lwm_client_last_update_ms(const struct lwm_client *c)
{
	return c->last_update_ms;
}

static bool is_registered(enum lwm_client_state s)
{
	return s == LWM_CLIENT_REGISTERED || s == LWM_CLIENT_UPDATING;
}

void lwm_client_set_state(struct lwm_client *c, enum lwm_client_state s)
{
	bool was = is_registered(c->state), now = is_registered(s);

	if (c->state == s)
		return;
	c->state = s;
	if (was && !now)
		c->engine->n_registered--;
	else if (!was && now)
		c->engine->n_registered++;
	if (c->ops && c->ops->state_changed)
		c->ops->state_changed(c, s, c->ud);
}

void lwm_client_refresh_time(struct lwm_client *c)
{
	struct lwm_path p = lwm_path_make(3, 3, 0, 13, 0);
	struct lwm_value v = {.type = LWM_T_TIME};

	if (!lwm_model_exists(c->model, &p))
		return;
	v.v.i = clock_wall_s() + c->time_offset;
	lwm_model_set(c->model, &p, &v);
}

void lwm_client_set_available(struct lwm_client *c, bool available)
{
	c->unavailable = !available;
}

bool lwm_client_available(const struct lwm_client *c)
{
	return !c->unavailable;
}

bool lwm_client_token_matches(const struct lwm_client *c, coap_bin_const_t tok)
{
	return c->pending != LWM_PENDING_NONE && tok.length == c->token_len &&
	       memcmp(tok.s, c->token, tok.length) == 0;
}

/* ---- core objects ---------------------------------------------------------- */

static int set_str(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid,
		   const char *s)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	struct lwm_value v = {.type = LWM_T_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return lwm_model_set(m, &p, &v);
}

static int set_int(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid, int64_t i)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	struct lwm_value v = {.type = LWM_T_INTEGER};

	v.v.i = i;
	return lwm_model_set(m, &p, &v);
}

static int set_bool(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid, bool b)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	struct lwm_value v = {.type = LWM_T_BOOLEAN};

	v.v.b = b;
	return lwm_model_set(m, &p, &v);
}

/* The Server instance's executables (Disable, Registration Update
 * Trigger) have no value; declared so that they can be executed. */
static int declare_executables(struct lwm_client *c)
{
	int r = 0;

	for (uint16_t rid = 4; rid <= 8; rid += 4) {
		struct lwm_path p = lwm_path_make(3, 1, c->server_iid, rid, 0);
		r |= lwm_model_add_resource(c->model, &p) < 0;
	}
	/* Bootstrap-Request Trigger, when there is a bootstrap server. */
	if (c->ops && c->ops->bootstrap_requested) {
		struct lwm_path p = lwm_path_make(3, 1, c->server_iid, 9, 0);
		r |= lwm_model_add_resource(c->model, &p) < 0;
	}
	return r ? -EINVAL : 0;
}

static int add_core_objects(struct lwm_client *c, const struct lwm_client_config *cfg)
{
	struct lwm_model *m = c->model;
	uint16_t si = c->security_iid, vi = c->server_iid;
	int r = 0;

	struct lwm_path sp = lwm_path_make(2, 0, si, 0, 0), vp = lwm_path_make(2, 1, vi, 0, 0);

	if (lwm_model_exists(m, &sp) || lwm_model_exists(m, &vp))
		return -EEXIST; /* another account has these ids */
	/* Security /0/si: the server account; never readable. */
	r |= lwm_model_add_instance(m, 0, si) < 0;
	r |= lwm_model_add_instance(m, 1, vi) < 0;
	r |= set_str(m, 0, si, 0, c->server_uri) < 0;
	r |= set_bool(m, 0, si, 1, false) < 0;
	r |= set_int(m, 0, si, 2, lwm_security_mode(c->security)) < 0;
	r |= set_int(m, 0, si, 10, c->short_server_id) < 0;
	/* Server /1/vi. */
	r |= set_int(m, 1, vi, 0, c->short_server_id) < 0;
	r |= set_int(m, 1, vi, 1, c->lifetime) < 0;
	r |= set_int(m, 1, vi, 5, 86400) < 0; /* Disable Timeout */
	r |= set_bool(m, 1, vi, 6, !cfg->no_storing) < 0; /* Notification Storing */
	r |= set_str(m, 1, vi, 7, c->binding) < 0;
	/* The 1.1 registration sequence; a 1.0 server does not know it. */
	if (strcmp(c->version, "1.0") != 0) {
		const struct lwm_reg_policy *g = &c->reg;
		r |= set_bool(m, 1, vi, 23, cfg->mute_send) < 0; /* Mute Send */
		if (g->has_priority)
			r |= set_int(m, 1, vi, 13, g->priority) < 0;
		r |= set_int(m, 1, vi, 14, g->initial_delay_s) < 0;
		r |= set_bool(m, 1, vi, 15, g->failure_block) < 0;
		r |= set_bool(m, 1, vi, 16, g->bootstrap_on_failure) < 0;
		r |= set_int(m, 1, vi, 17, g->retry_count) < 0;
		r |= set_int(m, 1, vi, 18, g->retry_timer_s) < 0;
		r |= set_int(m, 1, vi, 19, g->sequence_delay_s) < 0;
		r |= set_int(m, 1, vi, 20, g->sequence_retries) < 0;
	}
	r |= declare_executables(c) < 0;
	return r ? -EINVAL : 0;
}

/* Mandatory Server resources a bootstrap server may leave out get the
 * values in use: Notification Storing the spec's default (true), Binding
 * the client's. */
static void fill_mandatory(struct lwm_client *c)
{
	struct lwm_path p = lwm_path_make(3, 1, c->server_iid, 6, 0);

	if (!lwm_model_get(c->model, &p))
		set_bool(c->model, 1, c->server_iid, 6, true);
	p = lwm_path_make(3, 1, c->server_iid, 7, 0);
	if (!lwm_model_get(c->model, &p))
		set_str(c->model, 1, c->server_iid, 7, c->binding);
}

/* account_in_model: fill what the config left open from /0/si and /1/vi. */
static int account_from_model(struct lwm_client *c)
{
	struct lwm_path p;
	const struct lwm_value *v;

	p = lwm_path_make(2, 0, c->security_iid, 0, 0);
	if (!lwm_model_exists(c->model, &p))
		return -ENOENT;
	p = lwm_path_make(2, 1, c->server_iid, 0, 0);
	if (!lwm_model_exists(c->model, &p))
		return -ENOENT;
	if (!c->server_uri) {
		p = lwm_path_make(3, 0, c->security_iid, 0, 0);
		v = lwm_model_get(c->model, &p);
		if (!v || v->type != LWM_T_STRING || !v->v.bytes.len)
			return -EINVAL;
		c->server_uri = strndup((const char *)v->v.bytes.ptr, v->v.bytes.len);
		if (!c->server_uri)
			return -ENOMEM;
	}
	p = lwm_path_make(3, 1, c->server_iid, 0, 0);
	if (!c->short_server_id && (v = lwm_model_get(c->model, &p)) && v->v.i > 0 &&
	    v->v.i < 65535)
		c->short_server_id = (uint16_t)v->v.i;
	p = lwm_path_make(3, 1, c->server_iid, 1, 0);
	if (!c->lifetime && (v = lwm_model_get(c->model, &p)) && v->v.i > 0 &&
	    v->v.i <= UINT32_MAX)
		c->lifetime = (uint32_t)v->v.i;
	else if (!c->lifetime && v && v->v.i == 0 && lwm_lifetime_zero_ok(c->version))
		c->lifetime_infinite = true; /* 1.2: a lifetime of 0 is infinite */
	p = lwm_path_make(3, 1, c->server_iid, 7, 0);
	if (!c->binding && (v = lwm_model_get(c->model, &p)) && v->type == LWM_T_STRING &&
	    v->v.bytes.len)
		c->binding = strndup((const char *)v->v.bytes.ptr, v->v.bytes.len);
	return declare_executables(c);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void timer_cb(struct gw_timer *t, void *ud);
static void cancel_resolve(struct lwm_client *c);
static void startq_remove(struct lwm_client *c);
static void startq_push(struct lwm_client *c, bool deregister);
static bool start_budget(struct lwm_engine *e);

/* The engine counts the waiting clients: order_release walks every client,
 * which with none waiting is 10,000 walks of 10,000 at start-up. */
static void set_order_wait(struct lwm_client *c, bool on)
{
	if (c->order_wait == on)
		return;
	c->order_wait = on;
	if (on)
		c->engine->n_order_wait++;
	else
		c->engine->n_order_wait--;
}
static void send_deregister(struct lwm_client *c);

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int lwm_client_new(struct lwm_engine *e, const struct lwm_client_config *cfg,
		   const struct lwm_client_ops *ops, void *ud, struct lwm_client **out)
{
	struct lwm_client *c = calloc(1, sizeof(*c));
	bool secure = false;
	int r;

	if (!c)
		return -ENOMEM;
	c->owner.kind = LWM_OWNER_CLIENT;
	c->engine = e;
	c->ops = ops;
	c->ud = ud;
	c->name = dup_or_null(cfg->name ? cfg->name : cfg->endpoint);
	c->endpoint = dup_or_null(cfg->endpoint);
	c->server_uri = dup_or_null(cfg->server_uri);
	c->binding = dup_or_null(cfg->binding);
	snprintf(c->version, sizeof(c->version), "%s", cfg->version ? cfg->version : "1.1");
	memcpy(c->version_cfg, c->version, sizeof(c->version_cfg));
	c->lifetime = cfg->lifetime;
	c->ack_timeout_ms = cfg->ack_timeout_ms;
	c->max_retransmit = cfg->max_retransmit_set ? cfg->max_retransmit : -1;
	c->short_server_id = cfg->short_server_id;
	c->security_iid = cfg->security_iid;
	c->server_iid = cfg->server_iid;
	c->account_in_model = cfg->account_in_model;
	if (cfg->reg)
		c->reg = *cfg->reg;
	else
		lwm_reg_policy_defaults(&c->reg);
	c->own_model = !cfg->model;
	c->model = cfg->model ? cfg->model : lwm_model_new();
	gw_timer_init(&c->timer, e->timers, timer_cb, c);
	if (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC)
		c->security = lwm_security_dup(cfg->security);
	if (!c->name || !c->endpoint || (cfg->server_uri && !c->server_uri) ||
	    (cfg->binding && !c->binding) || !c->model ||
	    (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC && !c->security)) {
		r = -ENOMEM;
		goto fail;
	}
	if (c->account_in_model) {
		r = account_from_model(c);
		if (r < 0) {
			log_err(c->name, "no usable server account /0/%u, /1/%u in the model: %s",
				c->security_iid, c->server_iid, strerror(-r));
			goto fail;
		}
	}
	if (!c->server_uri) {
		r = -EINVAL;
		goto fail;
	}
	if (!c->binding && !(c->binding = strdup("U"))) {
		r = -ENOMEM;
		goto fail;
	}
	if (c->account_in_model)
		fill_mandatory(c);
	if (!c->lifetime && !c->lifetime_infinite)
		c->lifetime = 300;
	if (!c->short_server_id)
		c->short_server_id = 1;
	/* A name is resolved when a Register needs it, off the loop thread
	 * (send_register): one that does not resolve yet is a failed attempt
	 * retried like any other, not a reason to drop the device. */
	{
		char host[256], port[8];

		r = lwm_uri_split(c->server_uri, host, sizeof(host), port, &secure);
		if (r == 0) {
			r = lwm_uri_numeric(host, port, &c->server_addr);
			c->server_named = r == -EAGAIN;
			if (c->server_named)
				r = 0;
		}
	}
	if (r < 0) {
		log_err(c->name, "cannot use server %s: %s", c->server_uri, strerror(-r));
		goto fail;
	}
	/* NoSec only when the configuration says so: coap://, never coaps://. */
	if (secure != (c->security != NULL)) {
		log_err(c->name, "cannot use server %s: %s", c->server_uri,
			secure ? "coaps:// needs DTLS credentials"
			       : "DTLS credentials need a coaps:// server");
		r = -EINVAL;
		goto fail;
	}
	if (!c->account_in_model) {
		r = add_core_objects(c, cfg);
		if (r == -EEXIST)
			log_err(c->name, "server account /0/%u or /1/%u exists already",
				c->security_iid, c->server_iid);
		if (r < 0) {
			/* Take out only what this client added. */
			if (r != -EEXIST) {
				lwm_model_remove_instance(c->model, 0, c->security_iid);
				lwm_model_remove_instance(c->model, 1, c->server_iid);
			}
			goto fail;
		}
	}
	r = lwm_report_new(c, cfg);
	if (r < 0) {
		if (!c->account_in_model) {
			lwm_model_remove_instance(c->model, 0, c->security_iid);
			lwm_model_remove_instance(c->model, 1, c->server_iid);
		}
		goto fail;
	}
	lwm_engine_link(e, c);
	*out = c;
	return 0;
fail:
	lwm_security_free(c->security);
	if (c->own_model)
		lwm_model_free(c->model);
	free(c->name);
	free(c->endpoint);
	free(c->server_uri);
	free(c->binding);
	free(c);
	return r;
}

int lwm_client_new_from_model(struct lwm_engine *e, struct lwm_model *model,
			      uint16_t security_iid, uint16_t server_iid, const char *name,
			      const char *endpoint, const char *version,
			      const struct lwm_security *security,
			      const struct lwm_client_ops *ops, void *ud, struct lwm_client **out)
{
	struct lwm_client_config cc = {
		.name = name,
		.endpoint = endpoint,
		.version = version,
		.security = security,
		.model = model,
		.security_iid = security_iid,
		.server_iid = server_iid,
		.account_in_model = true,
	};

	if (!model)
		return -EINVAL;
	return lwm_client_new(e, &cc, ops, ud, out);
}

static void drop_session(struct lwm_client *c)
{
	if (!c->session)
		return;
	coap_session_set_app_data(c->session, NULL);
	lwm_engine_session_gone(c->engine, c->session);
	coap_session_release(c->session);
	c->session = NULL;
}

void lwm_client_free(struct lwm_client *c)
{
	if (!c)
		return;
	startq_remove(c);
	set_order_wait(c, false);
	cancel_resolve(c);
	lwm_ops_abandon_all(c);
	lwm_observe_free(c);
	lwm_report_free(c);
	free(c->attrs);
	gw_timer_disarm(&c->timer);
	lwm_client_set_state(c, LWM_CLIENT_STOPPED);
	drop_session(c);
	lwm_engine_unlink(c->engine, c);
	if (c->own_model) {
		lwm_model_free(c->model);
	} else if (!c->account_in_model) {
		/* The account goes with the client; the model stays. */
		lwm_model_remove_instance(c->model, 0, c->security_iid);
		lwm_model_remove_instance(c->model, 1, c->server_iid);
	}
	lwm_security_free(c->security);
	free(c->location);
	free(c->name);
	free(c->endpoint);
	free(c->server_uri);
	free(c->binding);
	free(c);
}

/* ---- the registration interface ---------------------------------------------- */

static void add_location_path(struct lwm_client *c, coap_optlist_t **opts)
{
	const char *s = c->location;

	while (*s == '/') {
		const char *seg = ++s;
		while (*s && *s != '/')
			s++;
		coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH, (size_t)(s - seg),
							   (const uint8_t *)seg));
	}
}

static void release_payload(coap_session_t *s, void *p)
{
	free(p);
}

static int send_request(struct lwm_client *c, coap_pdu_code_t code, enum lwm_pending what,
			coap_optlist_t **opts, struct lwm_buf *payload)
{
	coap_pdu_t *pdu;
	uint8_t fmt[4];

	if (!c->session) {
		char host[256];
		errno = 0;
		c->session = lwm_security_new_session(lwm_engine_context(c->engine, c->security),
						      &c->server_addr, c->security,
						      lwm_uri_host(c->server_uri, host, sizeof(host)));
		if (!c->session) {
			coap_delete_optlist(*opts);
			return errno == EMFILE ? -EMFILE : -ENOMEM;
		}
		coap_session_set_app_data(c->session, &c->owner);
		if (c->ack_timeout_ms)
			coap_session_set_ack_timeout(c->session, (coap_fixed_point_t){
				c->ack_timeout_ms / 1000, c->ack_timeout_ms % 1000});
		if (c->max_retransmit >= 0)
			coap_session_set_max_retransmit(c->session, (uint16_t)c->max_retransmit);
	}
	pdu = coap_new_pdu(COAP_MESSAGE_CON, code, c->session);
	if (!pdu) {
		coap_delete_optlist(*opts);
		return -ENOMEM;
	}
	coap_session_new_token(c->session, &c->token_len, c->token);
	coap_add_token(pdu, c->token_len, c->token);
	if (payload)
		coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
			coap_encode_var_safe(fmt, sizeof(fmt), LWM_FMT_LINK), fmt));
	coap_add_optlist_pdu(pdu, opts);
	coap_delete_optlist(*opts);
	*opts = NULL;
	if (payload && payload->len) {
		/* libcoap frees the payload when done (Block1 may keep it). */
		uint8_t *data = payload->data;
		size_t len = payload->len;
		payload->data = NULL;
		if (!coap_add_data_large_request(c->session, pdu, len, data, release_payload, data)) {
			coap_delete_pdu(pdu);
			return -ENOMEM;
		}
	}
	c->pending = what;
	if (coap_send(c->session, pdu) == COAP_INVALID_MID) {
		c->pending = LWM_PENDING_NONE;
		return -EIO;
	}
	lwm_engine_kick(c->engine);
	return 0;
}

/* The Content-Format the root link announces (1.1+).  One number, unquoted
 * (`</>;rt="oma.lwm2m";ct=110`), the form of the specification's examples:
 * RFC 7252 allows a quoted list, but servers in the field parse only a
 * single number there and answered a list with 4.00 to every Register.
 * SenML JSON: every 1.1 and 1.2 server decodes it, the strict parsers
 * know it in all their versions (SenML CBOR and TLV came to them later),
 * and gatewayd reads and writes it for every operation.  A server may still
 * ask for any other format the client has (TLV, SenML CBOR, LwM2M CBOR...). */
#define LWM_REG_CT LWM_FMT_SENML_JSON

static int build_links(struct lwm_client *c, struct lwm_buf *b)
{
	lwm_buf_init(b, 64 * 1024);
	/* The plain form (after a 4.00, see on_register_response): no root
	 * link and no object versions, as a 1.0 client sends them. */
	if (strcmp(c->version, "1.0") != 0 && !c->plain_links)
		lwm_buf_printf(b, "</>;rt=\"oma.lwm2m\";ct=%u", LWM_REG_CT);
	/* Only what this server may read (Access Control, acl.c). */
	return lwm_model_reg_links_visible(c->model, c->plain_links ? "1.0" : c->version,
					   lwm_client_visible, c, b);
}

/* b= and queue mode: in 1.0 Q is a letter of the binding ("UQ"); from 1.1
 * on, b= has only the transports and queue mode is the Q parameter. */
static void add_binding(struct lwm_client *c, coap_optlist_t **opts)
{
	char b[16];
	size_t n = 0;
	bool queue = false;

	if (strcmp(c->version, "1.0") == 0) {
		lwm_add_query(opts, "b", c->binding);
		return;
	}
	for (const char *p = c->binding; *p && n < sizeof(b) - 1; p++) {
		if (*p == 'Q')
			queue = true;
		else
			b[n++] = *p;
	}
	b[n] = '\0';
	lwm_add_query(opts, "b", n ? b : "U");
	if (queue)
		coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY, 1,
							   (const uint8_t *)"Q"));
}

static int resolve_server(struct lwm_client *c);

static int send_register(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;
	struct lwm_buf links;
	char lt[16];
	int r;

	/* A new session to a named server: look the name up again (the
	 * server may have moved since), without blocking the loop. */
	if (!c->session && c->server_named && !c->addr_fresh)
		return resolve_server(c);
	c->addr_fresh = false;

	/* A version lowered after a 4.12 holds for that registration only:
	 * any other Register tries the configured version again (the
	 * server may have been upgraded or replaced meanwhile). */
	if (!c->version_fallback)
		memcpy(c->version, c->version_cfg, sizeof(c->version));
	c->version_fallback = false;
	r = build_links(c, &links);
	if (r < 0) {
		lwm_buf_free(&links);
		return r;
	}
	coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 2, (const uint8_t *)"rd"));
	snprintf(lt, sizeof(lt), "%lu", (unsigned long)c->lifetime);
	lwm_add_query(&opts, "ep", c->endpoint);
	lwm_add_query(&opts, "lt", lt);
	lwm_add_query(&opts, "lwm2m", c->version);
	add_binding(c, &opts);
	r = send_request(c, COAP_REQUEST_CODE_POST, LWM_PENDING_REGISTER, &opts, &links);
	lwm_buf_free(&links);
	if (r == 0)
		lwm_client_set_state(c, LWM_CLIENT_REGISTERING);
	return r;
}

static void cancel_resolve(struct lwm_client *c)
{
	if (!c->resolving)
		return;
	c->engine->resolver.cancel(c->engine->resolver.ctx, c->resolving);
	c->resolving = NULL;
}

static void schedule_retry(struct lwm_client *c, const char *why);

static void resolved(void *ud, int err, const struct sockaddr *sa, socklen_t len)
{
	struct lwm_client *c = ud;
	int r;

	c->resolving = NULL;
	if (err < 0 || len > sizeof(c->server_addr.addr)) {
		/* Counted and retried like an unanswered Register. */
		schedule_retry(c, "the server's host name does not resolve");
		return;
	}
	coap_address_init(&c->server_addr);
	c->server_addr.size = len;
	memcpy(&c->server_addr.addr.sa, sa, len);
	c->addr_fresh = true;
	/* The Register takes its turn like any other (start_budget). */
	if (start_budget(c->engine)) {
		r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
	} else {
		startq_push(c, false);
	}
}

/* Resolve the server's name, then register (resolved).  Returns 0 while the
 * look-up runs, with the client REGISTERING. */
static int resolve_server(struct lwm_client *c)
{
	struct lwm_engine *e = c->engine;
	char host[256], port[8];
	bool secure;
	int r;

	if (c->resolving)
		return 0;
	r = lwm_uri_split(c->server_uri, host, sizeof(host), port, &secure);
	if (r < 0)
		return r;
	if (!e->resolver.start) {
		/* No resolver thread (tools, tests): the blocking look-up. */
		r = lwm_uri_lookup(host, port, &c->server_addr);
		if (r < 0) {
			schedule_retry(c, "the server's host name does not resolve");
			return 0;
		}
		c->addr_fresh = true;
		return send_register(c);
	}
	r = e->resolver.start(e->resolver.ctx, host, port, resolved, c, &c->resolving);
	if (r < 0)
		return r;
	log_debug(c->name, "resolving %s", host);
	lwm_client_set_state(c, LWM_CLIENT_REGISTERING);
	return 0;
}

static int send_update(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;
	struct lwm_buf links;
	int r;

	add_location_path(c, &opts);
	if (c->lifetime_changed) {
		char lt[16];
		snprintf(lt, sizeof(lt), "%lu", (unsigned long)c->lifetime);
		lwm_add_query(&opts, "lt", lt);
	}
	if (c->links_changed) {
		r = build_links(c, &links);
		if (r == 0)
			r = send_request(c, COAP_REQUEST_CODE_POST, LWM_PENDING_UPDATE, &opts, &links);
		lwm_buf_free(&links);
	} else {
		r = send_request(c, COAP_REQUEST_CODE_POST, LWM_PENDING_UPDATE, &opts, NULL);
	}
	if (r == 0)
		lwm_client_set_state(c, LWM_CLIENT_UPDATING);
	return r;
}

static void before_shutdown_delete(struct lwm_client *c);
static void forget_shutdown_delete(struct lwm_client *c);

int lwm_client_deregister(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;
	int r;

	gw_timer_disarm(&c->timer);
	startq_remove(c);
	cancel_resolve(c);
	c->initial_wait = false;
	set_order_wait(c, false);
	if (!is_registered(c->state) || !c->location) {
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		return -ENOTCONN;
	}
	if (c->engine->shutting_down) {
		/* The DELETE leaves from the start queue: a shutdown de-registers
		 * every client at once.  An answer to an earlier request no
		 * longer counts. */
		if (!start_budget(c->engine)) {
			c->pending = LWM_PENDING_NONE;
			lwm_client_set_state(c, LWM_CLIENT_DEREGISTERING);
			startq_push(c, true);
			return 0;
		}
	}
	add_location_path(c, &opts);
	before_shutdown_delete(c);
	r = send_request(c, COAP_REQUEST_CODE_DELETE, LWM_PENDING_DEREGISTER, &opts, NULL);
	if (r < 0) {
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		return r;
	}
	forget_shutdown_delete(c);
	lwm_client_set_state(c, LWM_CLIENT_DEREGISTERING);
	return 0;
}

/* A shutdown's DELETE leaves once and is not kept for retransmission.
 * libcoap 4.3.1 keeps the CONs awaiting an ACK in one list per context,
 * sorted by time, and walks it to the end for each one sent, each ACK and
 * (at exit, deleting from the tail) each one freed: with 10,000 devices
 * de-registering at once that is quadratic, and most of what a shutdown
 * cost (tests/bench/README.md).  The daemon waits for the answers less long
 * than the first retransmission would come (800 ms against ACK_TIMEOUT,
 * 2 s), so nothing is lost by dropping the DELETE from that list as soon as
 * it left: the answer still finds its client by token (on_response), and
 * the shutdown timer ends the wait for those that do not come.
 *
 * libcoap exports one way to drop a session's queued messages,
 * coap_session_disconnected; for plain UDP it keeps the socket and the
 * session (a DTLS session would lose its keys, and with them the answer, so
 * DTLS DELETEs stay queued).  Its NACKs for what it drops are ignored
 * (c->forgetting).  NSTART is lifted first so that the DELETE leaves at
 * once even behind a notification awaiting its ACK, rather than wait in the
 * session's delay queue, which this would empty unsent. */
static bool forgets_shutdown_delete(const struct lwm_client *c)
{
	return c->engine->shutting_down && c->session &&
	       coap_session_get_proto(c->session) == COAP_PROTO_UDP;
}

static void before_shutdown_delete(struct lwm_client *c)
{
	if (forgets_shutdown_delete(c))
		coap_session_set_nstart(c->session, UINT16_MAX);
}

static void forget_shutdown_delete(struct lwm_client *c)
{
	if (!forgets_shutdown_delete(c))
		return;
	c->forgetting = true;
	coap_session_disconnected(c->session, COAP_NACK_NOT_DELIVERABLE);
	c->forgetting = false;
}

static void send_deregister(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;

	add_location_path(c, &opts);
	before_shutdown_delete(c);
	if (send_request(c, COAP_REQUEST_CODE_DELETE, LWM_PENDING_DEREGISTER, &opts, NULL) < 0) {
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		lwm_engine_deregistered(c->engine);
		return;
	}
	forget_shutdown_delete(c);
}

/* When to send the Update: early enough that even a retransmitted request
 * (CoAP's MAX_TRANSMIT_WAIT is 93 s) lands before the lifetime ends. */
static uint64_t update_delay_ms(uint32_t lifetime)
{
	uint64_t lt = lifetime, margin = lt / 10;

	if (margin < 93)
		margin = 93;
	if (margin > lt / 2)
		margin = lt / 2;
	return (lt - margin) * 1000u;
}

bool lwm_lifetime_zero_ok(const char *version)
{
	/* Only the 1.2 Server object defines 0 as an infinite lifetime. */
	return strcmp(version, "1.2") >= 0;
}

/* The next Update; none for an infinite lifetime (0, LwM2M 1.2). */
static void arm_update(struct lwm_client *c)
{
	if (c->lifetime)
		gw_timer_arm(&c->timer, clock_now_ms() + update_delay_ms(c->lifetime));
}

/* A /1/x/rid value of this account: the model's (a server or bootstrap
 * server may have written it), else the configured one. */
static uint64_t reg_value(const struct lwm_client *c, uint16_t rid, uint64_t configured)
{
	struct lwm_path p = lwm_path_make(3, 1, c->server_iid, rid, 0);
	const struct lwm_value *v = lwm_model_get(c->model, &p);

	if (!v)
		return configured;
	switch (v->type) {
	case LWM_T_UNSIGNED:
		return v->v.u;
	case LWM_T_INTEGER:
		return v->v.i < 0 ? 0 : (uint64_t)v->v.i;
	case LWM_T_BOOLEAN:
		return v->v.b;
	default:
		return configured;
	}
}

static bool reg_priority(const struct lwm_client *c, uint64_t *prio)
{
	struct lwm_path p = lwm_path_make(3, 1, c->server_iid, 13, 0);

	if (!lwm_model_exists(c->model, &p) && !c->reg.has_priority)
		return false;
	*prio = reg_value(c, 13, c->reg.priority);
	return true;
}

/* +-25% jitter. */
static uint64_t jitter_ms(uint64_t ms)
{
	return ms - ms / 4 + (uint64_t)random() % (ms / 2 + 1);
}

static int send_register(struct lwm_client *c);
static void schedule_retry(struct lwm_client *c, const char *why);

/* ---- the registration order (/1/x/13, 14, 15) ---------------------------------- */

/* Does an earlier server in the Registration Priority Order still hold c
 * back (not registered yet, nor failed without blocking)? */
static bool order_blocked(const struct lwm_client *c)
{
	uint64_t mine, theirs;

	if (!reg_priority(c, &mine))
		return false;
	for (const struct lwm_client *o = c->engine->clients; o; o = o->next)
		if (o != c && o->model == c->model && !o->order_released &&
		    reg_priority(o, &theirs) && theirs < mine)
			return true;
	return false;
}

/* Register now, or after the Initial Registration Delay when this is the
 * first registration since the account was set up. */
static void start_now(struct lwm_client *c)
{
	uint64_t delay = c->initial_done ? 0 : reg_value(c, 14, c->reg.initial_delay_s);

	if (delay) {
		if (delay > REG_MAX_DELAY_S)
			delay = REG_MAX_DELAY_S;
		c->initial_wait = true;
		log_debug(c->name, "registering with %s in %u s (initial delay)", c->server_uri,
			  (unsigned)delay);
		gw_timer_arm(&c->timer, clock_now_ms() + delay * 1000u);
		return;
	}
	if (start_budget(c->engine)) {
		int r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
	} else {
		startq_push(c, false); /* the Register leaves in a later batch */
	}
}

/* c no longer holds later servers back: start those now free to go. */
static void order_release(struct lwm_client *c)
{
	if (c->order_released)
		return;
	c->order_released = true;
	if (c->engine->n_order_wait == 0)
		return;
	for (struct lwm_client *o = c->engine->clients; o; o = o->next)
		if (o->model == c->model && o->order_wait && !order_blocked(o)) {
			set_order_wait(o, false);
			start_now(o);
		}
}

/* ---- retries (/1/x/16..20) ------------------------------------------------------------ */

static void registration_failed(struct lwm_client *c, const char *why)
{
	bool bootstrap = reg_value(c, 16, c->reg.bootstrap_on_failure);

	free(c->location);
	c->location = NULL;
	lwm_client_set_state(c, LWM_CLIENT_FAILED);
	if (bootstrap)
		log_err(c->name, "registration with %s failed (%s) after %u attempt(s); "
			"bootstrap on registration failure is set", c->server_uri, why, c->failures);
	else
		log_err(c->name, "registration with %s failed (%s) after %u attempt(s); "
			"no more attempts (Communication Sequence Retry Count reached)",
			c->server_uri, why, c->failures);
	if (!reg_value(c, 15, c->reg.failure_block))
		order_release(c);
	if (bootstrap && c->ops && c->ops->registration_failed)
		c->ops->registration_failed(c, c->ud);
}

/* A registration attempt failed: the next one, a new sequence, or the end.
 * rejected: the server refused it (rather than not answering). */
static void schedule_retry_ex(struct lwm_client *c, const char *why, bool rejected)
{
	uint64_t count = reg_value(c, 17, c->reg.retry_count);
	uint64_t timer = reg_value(c, 18, c->reg.retry_timer_s);
	uint64_t seq_delay = reg_value(c, 19, c->reg.sequence_delay_s);
	uint64_t seqs = reg_value(c, 20, c->reg.sequence_retries);
	uint64_t delay_s, delay;
	bool new_sequence = false;

	c->failures++;
	c->attempt++;
	/* The session is replaced when the retry fires (the server may have
	 * lost ours); not here, because this may run inside libcoap's own
	 * callback for that session. */
	free(c->location);
	c->location = NULL;
	if (rejected && reg_value(c, 16, c->reg.bootstrap_on_failure))
		return registration_failed(c, why);
	if (c->attempt < (count ? count : 1)) {
		unsigned shift = c->attempt - 1 > 20 ? 20 : c->attempt - 1;
		/* Clamped first: a server-written timer shifted could wrap. */
		delay_s = (timer ? (timer > REG_MAX_DELAY_S ? REG_MAX_DELAY_S : timer) : 1)
			  << shift;
	} else {
		/* A communication sequence is over. */
		c->attempt = 0;
		c->sequence++;
		new_sequence = true;
		if (!reg_value(c, 15, c->reg.failure_block))
			order_release(c); /* later servers need not wait for us */
		if (seq_delay >= LWM_REG_NO_MORE_SEQUENCES ||
		    (seqs != LWM_REG_FOREVER && c->sequence >= seqs))
			return registration_failed(c, why);
		delay_s = seq_delay;
	}
	if (delay_s > REG_MAX_DELAY_S)
		delay_s = REG_MAX_DELAY_S;
	delay = jitter_ms(delay_s ? delay_s * 1000u : 1000u);
	if (c->failures == 1 || new_sequence)
		log_warn(c->name, "registration with %s failed (%s); %s in %.1f s (attempt %u)",
			 c->server_uri, why, new_sequence ? "next sequence" : "retrying",
			 delay / 1000.0, c->failures);
	else /* rate-limited above; every one when debugging */
		log_debug(c->name, "registration attempt %u failed (%s); retrying in %.1f s",
			  c->failures, why, delay / 1000.0);
	lwm_client_set_state(c, LWM_CLIENT_BACKOFF);
	gw_timer_arm(&c->timer, clock_now_ms() + delay);
}

static void schedule_retry(struct lwm_client *c, const char *why)
{
	schedule_retry_ex(c, why, false);
}

/* Registers sent in one loop turn at most.  Thousands of devices whose first
 * readings come in together would otherwise all register in one turn, and
 * libcoap 4.3.1 makes that go wrong: each CON it sends walks every request
 * still awaiting its ACK (seconds for 10,000), and when the turn is over
 * coap_io_do_epoll runs the retransmissions that fell due before it reads
 * the next datagram, so the answers already waiting are read only after the
 * same requests went out again: the server got 18,000 Registers for 10,000
 * devices.  Between batches the loop reads the answers. */
#define LWM_STARTS_PER_TURN 64 /* Registers and de-registering DELETEs */
/* A shutdown's DELETEs are not kept for retransmission (forget_shutdown_delete),
 * so that reason for small batches is gone; what is left is the loop turn
 * itself, whose prepare walks every session: 10,000 DELETEs 64 a turn took
 * 157 turns and most of the 800 ms a shutdown waits. */
#define LWM_SHUTDOWN_DELETES_PER_TURN 1024

static unsigned starts_per_turn(const struct lwm_engine *e)
{
	return e->shutting_down ? LWM_SHUTDOWN_DELETES_PER_TURN : LWM_STARTS_PER_TURN;
}

static void startq_remove(struct lwm_client *c)
{
	struct lwm_engine *e = c->engine;

	if (!c->start_queued)
		return;
	if (c->startq_prev)
		c->startq_prev->startq_next = c->startq_next;
	else
		e->startq_head = c->startq_next;
	if (c->startq_next)
		c->startq_next->startq_prev = c->startq_prev;
	else
		e->startq_tail = c->startq_prev;
	c->startq_prev = c->startq_next = NULL;
	c->start_queued = false;
}

/* May one more Register or DELETE leave now?  LWM_STARTS_PER_TURN per
 * timerq_run pass (a loop turn), and none ahead of those queued. */
static bool start_budget(struct lwm_engine *e)
{
	if (e->start_run != e->timers->runs) {
		e->start_run = e->timers->runs;
		e->starts_in_run = 0;
	}
	if (e->startq_head || e->starts_in_run >= starts_per_turn(e))
		return false;
	e->starts_in_run++;
	return true;
}

static void startq_push(struct lwm_client *c, bool deregister)
{
	struct lwm_engine *e = c->engine;

	c->startq_prev = e->startq_tail;
	c->startq_next = NULL;
	if (e->startq_tail)
		e->startq_tail->startq_next = c;
	else
		e->startq_head = c;
	e->startq_tail = c;
	c->start_queued = true;
	c->queued_deregister = deregister;
	if (!gw_timer_armed(&e->start_timer))
		gw_timer_arm(&e->start_timer, clock_now_ms());
}

void lwm_engine_run_starts(struct gw_timer *t, void *ud)
{
	struct lwm_engine *e = ud;

	if (e->start_run != e->timers->runs) {
		e->start_run = e->timers->runs;
		e->starts_in_run = 0;
	}
	while (e->startq_head && e->starts_in_run < starts_per_turn(e)) {
		struct lwm_client *c = e->startq_head;
		int r;

		e->starts_in_run++;
		startq_remove(c);
		if (c->queued_deregister) {
			send_deregister(c);
			continue;
		}
		r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
	}
	/* The rest a millisecond on: due now, timerq_run would run us again
	 * before the loop reads anything. */
	if (e->startq_head)
		gw_timer_arm(&e->start_timer, clock_now_ms() + 1);
}

int lwm_client_start(struct lwm_client *c)
{
	if (c->order_wait || c->start_queued ||
	    (c->state != LWM_CLIENT_IDLE && c->state != LWM_CLIENT_STOPPED &&
	     c->state != LWM_CLIENT_FAILED) ||
	    gw_timer_armed(&c->timer))
		return -EALREADY;
	c->failures = 0;
	c->attempt = 0;
	c->sequence = 0;
	c->plain_tried = false;
	c->order_released = false;
	c->initial_wait = false;
	lwm_client_set_state(c, LWM_CLIENT_IDLE);
	/* After the servers earlier in the Registration Priority Order. */
	if (order_blocked(c)) {
		set_order_wait(c, true);
		log_debug(c->name, "registration with %s waits for servers earlier in the order",
			  c->server_uri);
		return 0;
	}
	start_now(c);
	return 0;
}

void lwm_client_stop(struct lwm_client *c)
{
	c->disabled = false;
	lwm_client_deregister(c);
}

static void timer_cb(struct gw_timer *t, void *ud)
{
	struct lwm_client *c = ud;
	int r;

	if (c->disabled && c->disable_step == LWM_DISABLE_DEREGISTER) {
		/* The Execute has been answered: de-register now. */
		c->disable_step = LWM_DISABLE_DROP;
		if (lwm_client_deregister(c) < 0)
			gw_timer_arm(&c->timer, clock_now_ms());
		return;
	}
	if (c->disabled && c->disable_step == LWM_DISABLE_DROP) {
		/* De-registered: the connection is closed while disabled. */
		drop_session(c);
		c->disable_step = LWM_DISABLE_WAIT;
		gw_timer_arm(&c->timer, clock_now_ms() + (uint64_t)c->disable_s * 1000u);
		return;
	}
	if (c->disabled) {
		/* The Disable Timeout is over: back on the air. */
		c->disabled = false;
		drop_session(c);
		c->failures = 0;
		c->attempt = 0;
		c->sequence = 0;
		r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
		return;
	}
	if (c->initial_wait) {
		c->initial_wait = false;
		r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
		return;
	}
	switch (c->state) {
	case LWM_CLIENT_REGISTERED:
		r = send_update(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
		break;
	case LWM_CLIENT_BACKOFF:
		drop_session(c);
		r = send_register(c);
		if (r < 0)
			schedule_retry(c, strerror(-r));
		break;
	default:
		break;
	}
}

static char *location_of(const coap_pdu_t *pdu)
{
	coap_opt_filter_t f;
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	char buf[256];
	size_t len = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
	coap_option_iterator_init(pdu, &oi, &f);
	while ((opt = coap_option_next(&oi))) {
		size_t n = coap_opt_length(opt);
		if (len + n + 2 > sizeof(buf))
			return NULL;
		buf[len++] = '/';
		memcpy(buf + len, coap_opt_value(opt), n);
		len += n;
	}
	if (len == 0)
		return NULL;
	buf[len] = '\0';
	return strdup(buf);
}

static bool lower_version(char v[4])
{
	if (strcmp(v, "1.2") == 0)
		strcpy(v, "1.1");
	else if (strcmp(v, "1.1") == 0)
		strcpy(v, "1.0");
	else
		return false;
	return true;
}

static void on_register_response(struct lwm_client *c, unsigned code, const coap_pdu_t *rcvd)
{
	char why[48];

	if (code == 201) {
		char *loc = location_of(rcvd);
		if (!loc) {
			schedule_retry(c, "2.01 without Location-Path");
			return;
		}
		free(c->location);
		c->location = loc;
		/* A new registration: the server has forgotten our observations. */
		lwm_observe_drop_all(c, "new registration");
		if (c->plain_links && c->plain_tried)
			log_notice(c->name, "registered with %s as %s with the plain object list; "
				   "keeping it for this server", c->server_uri, c->endpoint);
		else if (c->failures)
			log_notice(c->name, "registered with %s as %s after %u failed attempt(s)",
				   c->server_uri, c->endpoint, c->failures);
		else
			log_info(c->name, "registered with %s as %s (%s, LwM2M %s)", c->server_uri,
				 c->endpoint, c->location, c->version);
		c->failures = 0;
		c->attempt = 0;
		c->sequence = 0;
		c->plain_tried = false; /* logged; a later 4.00 may try it again */
		c->initial_done = true;
		c->links_changed = false;
		c->last_update_ms = clock_now_ms();
		lwm_client_set_state(c, LWM_CLIENT_REGISTERED);
		order_release(c); /* the next servers in the order may go */
		arm_update(c);
		lwm_report_registered(c); /* stored notifications go by Send */
		return;
	}
	/* 4.12: the server does not speak our version; step down and retry now. */
	if (code == 412 && lower_version(c->version)) {
		log_notice(c->name, "server refused the LwM2M version; trying %s", c->version);
		c->version_fallback = true;
		if (send_register(c) == 0)
			return;
	}
	/* 4.00: the server may not parse what the registration announces (a
	 * root link's attributes, object versions).  Once, right away, the
	 * plain object list a 1.0 client sends, in the same version.  Accepted,
	 * it stays for this server; refused, the 4.00 was about something
	 * else, and the next attempts go as before. */
	if (code == 400 && !c->plain_links && !c->plain_tried && strcmp(c->version, "1.0") != 0) {
		log_notice(c->name, "%s answered 4.00 to the Register; trying once more with a "
			   "plain object list (no root link attributes, no object versions)",
			   c->server_uri);
		c->plain_links = c->plain_tried = true;
		c->version_fallback = true; /* keep c->version as it is */
		if (send_register(c) == 0)
			return;
	}
	if (c->plain_links && code == 400) {
		log_notice(c->name, "%s refused the plain object list too", c->server_uri);
		c->plain_links = false;
	}
	snprintf(why, sizeof(why), "server answered %u.%02u", code / 100, code % 100);
	/* A 4.xx is the server refusing us (a 5.xx may pass). */
	schedule_retry_ex(c, why, code >= 400 && code < 500);
}

static void on_update_response(struct lwm_client *c, unsigned code)
{
	char why[48];

	if (code == 204) {
		c->links_changed = false;
		c->lifetime_changed = false;
		c->last_update_ms = clock_now_ms();
		lwm_client_set_state(c, LWM_CLIENT_REGISTERED);
		arm_update(c);
		lwm_report_online(c); /* stored notifications on their observations */
		return;
	}
	/* Any failure means the registration may be gone: register anew. */
	snprintf(why, sizeof(why), "update answered %u.%02u", code / 100, code % 100);
	log_notice(c->name, "%s; registering again", why);
	free(c->location);
	c->location = NULL;
	if (send_register(c) < 0)
		schedule_retry(c, why);
}

void lwm_client_on_response(struct lwm_client *c, const coap_pdu_t *rcvd)
{
	coap_pdu_code_t pc = coap_pdu_get_code(rcvd);
	unsigned code = (pc >> 5) * 100 + (pc & 0x1f);
	enum lwm_pending what = c->pending;

	c->pending = LWM_PENDING_NONE;
	switch (what) {
	case LWM_PENDING_REGISTER:
		on_register_response(c, code, rcvd);
		break;
	case LWM_PENDING_UPDATE:
		on_update_response(c, code);
		break;
	case LWM_PENDING_DEREGISTER:
		if (code == 202)
			log_info(c->name, "de-registered from %s", c->server_uri);
		else
			log_warn(c->name, "de-register answered %u.%02u", code / 100, code % 100);
		free(c->location);
		c->location = NULL;
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		lwm_engine_deregistered(c->engine);
		if (c->disabled) /* the session goes from the timer, not in its callback */
			gw_timer_arm(&c->timer, clock_now_ms());
		break;
	default:
		break;
	}
}

/* The session or the registration on it may be gone: a new DTLS handshake
 * (a new session) and a new Register, soon.  Not a failed registration
 * attempt (those back off by the sequence, /1/x/17..20); only the next
 * Register failing is.  Within a random 0..1 s, so that a server that
 * closed every session at once does not get every device back at the same
 * instant.  The session is dropped when the timer fires, not here: this
 * runs inside libcoap's callbacks for it. */
static void recover(struct lwm_client *c)
{
	c->pending = LWM_PENDING_NONE; /* what was on the session is void */
	free(c->location);
	c->location = NULL;
	lwm_client_set_state(c, LWM_CLIENT_BACKOFF);
	gw_timer_arm(&c->timer, clock_now_ms() + (uint64_t)random() % 1001u);
}

void lwm_client_session_lost(struct lwm_client *c, const char *why)
{
	/* While registering, the request's own failure says what went wrong
	 * (a refused handshake, with its cause) and the sequence goes on. */
	if (c->state != LWM_CLIENT_REGISTERED && c->state != LWM_CLIENT_UPDATING)
		return;
	/* Disabled: the session is being closed anyway; no new one now. */
	if (c->disabled)
		return;
	log_notice(c->name, "DTLS session with %s lost (%s); new handshake and registration",
		   c->server_uri, why);
	recover(c);
}

void lwm_client_on_failure(struct lwm_client *c, const char *why)
{
	enum lwm_pending what = c->pending;

	/* A refused handshake: say why, as far as the handshake told us (only
	 * a Register starts a handshake; an Update goes on an old session). */
	if (c->security && what == LWM_PENDING_REGISTER && strncmp(why, "TLS", 3) == 0)
		why = lwm_security_failure(c->security, c->session);

	c->pending = LWM_PENDING_NONE;
	switch (what) {
	case LWM_PENDING_REGISTER:
		schedule_retry(c, why);
		break;
	case LWM_PENDING_UPDATE:
		/* Unanswered: the server may have lost our DTLS session
		 * (restarted) or no longer know our address (NAT rebinding),
		 * and then ignores what we send on it. */
		log_notice(c->name, "update to %s failed (%s); new %s and registration",
			   c->server_uri, why, c->security ? "DTLS handshake" : "session");
		recover(c);
		break;
	case LWM_PENDING_DEREGISTER:
		log_warn(c->name, "de-register failed: %s", why);
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		lwm_engine_deregistered(c->engine);
		if (c->disabled)
			gw_timer_arm(&c->timer, clock_now_ms());
		break;
	default:
		break;
	}
}

/* ---- operations the server triggers ------------------------------------------ */

int lwm_client_update_now(struct lwm_client *c)
{
	int r;

	if (c->state != LWM_CLIENT_REGISTERED)
		return -EAGAIN; /* an Update or Register is already on its way */
	gw_timer_disarm(&c->timer);
	r = send_update(c);
	if (r < 0)
		schedule_retry(c, strerror(-r));
	return r;
}

static void begin_disable(struct lwm_client *c, uint32_t seconds);

void lwm_client_disable(struct lwm_client *c, uint32_t seconds)
{
	log_notice(c->name, "disabled by the server for %u s", seconds);
	begin_disable(c, seconds);
}

void lwm_client_restart(struct lwm_client *c)
{
	log_notice(c->name, "registration with %s starts again", c->server_uri);
	begin_disable(c, 0);
}

static void begin_disable(struct lwm_client *c, uint32_t seconds)
{
	/* The Execute's answer goes first: de-register from the timer. */
	c->disabled = true;
	c->disable_step = LWM_DISABLE_DEREGISTER;
	c->disable_s = seconds;
	gw_timer_disarm(&c->timer);
	gw_timer_arm(&c->timer, clock_now_ms());
}

/* ---- attributes ------------------------------------------------------------------- */

static struct lwm_path_attrs *attrs_find(const struct lwm_client *c, const struct lwm_path *p)
{
	for (size_t i = 0; i < c->n_attrs; i++)
		if (lwm_path_cmp(&c->attrs[i].path, p) == 0)
			return &c->attrs[i];
	return NULL;
}

const struct lwm_attrs *lwm_client_attrs(const struct lwm_client *c, const struct lwm_path *p)
{
	const struct lwm_path_attrs *pa = attrs_find(c, p);

	return pa ? &pa->attrs : NULL;
}

int lwm_client_attrs_put(struct lwm_client *c, const struct lwm_path *p,
			 const struct lwm_attrs *a)
{
	struct lwm_path_attrs *pa = attrs_find(c, p);

	if (pa && a->set == 0) {
		*pa = c->attrs[--c->n_attrs];
		return 0;
	}
	if (!pa && a->set == 0)
		return 0;
	if (!pa) {
		struct lwm_path_attrs *n = realloc(c->attrs, (c->n_attrs + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->attrs = n;
		pa = &c->attrs[c->n_attrs++];
		pa->path = *p;
	}
	pa->attrs = *a;
	return 0;
}

void lwm_client_attrs_format(const struct lwm_client *c, const struct lwm_path *p,
			     struct lwm_buf *out)
{
	const struct lwm_attrs *a = lwm_client_attrs(c, p);
	char num[32];

	if (!a)
		return;
	if (a->set & LWM_ATTR_PMIN)
		lwm_buf_printf(out, ";pmin=%u", a->pmin);
	if (a->set & LWM_ATTR_PMAX)
		lwm_buf_printf(out, ";pmax=%u", a->pmax);
	if ((a->set & LWM_ATTR_GT) && lwm_fmt_double(a->gt, num) > 0)
		lwm_buf_printf(out, ";gt=%s", num);
	if ((a->set & LWM_ATTR_LT) && lwm_fmt_double(a->lt, num) > 0)
		lwm_buf_printf(out, ";lt=%s", num);
	if ((a->set & LWM_ATTR_ST) && lwm_fmt_double(a->st, num) > 0)
		lwm_buf_printf(out, ";st=%s", num);
	if (a->set & LWM_ATTR_EPMIN)
		lwm_buf_printf(out, ";epmin=%u", a->epmin);
	if (a->set & LWM_ATTR_EPMAX)
		lwm_buf_printf(out, ";epmax=%u", a->epmax);
	if (a->set & LWM_ATTR_EDGE)
		lwm_buf_printf(out, ";edge=%u", a->edge);
	if (a->set & LWM_ATTR_CON)
		lwm_buf_printf(out, ";con=%u", a->con);
	if (a->set & LWM_ATTR_HQMAX)
		lwm_buf_printf(out, ";hqmax=%u", a->hqmax);
}
