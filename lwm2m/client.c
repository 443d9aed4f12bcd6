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
#include "security.h"

/* Registration retry: exponential from RETRY_MIN_S up to RETRY_MAX_S, with
 * +-25% jitter so that a restarted server is not hit by every device at the
 * same instant. (The Server object's 1.1 retry resources refine this later.) */
#define RETRY_MIN_S 2u
#define RETRY_MAX_S 120u

const char *lwm_client_state_name(enum lwm_client_state s)
{
	static const char *const names[] = {"idle", "registering", "registered", "updating",
					    "backoff", "deregistering", "stopped"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

struct lwm_model *lwm_client_model(struct lwm_client *c)
{
	return c->model;
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

static int set_str(struct lwm_model *m, uint16_t oid, uint16_t rid, const char *s)
{
	struct lwm_path p = lwm_path_make(3, oid, 0, rid, 0);
	struct lwm_value v = {.type = LWM_T_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return lwm_model_set(m, &p, &v);
}

static int set_int(struct lwm_model *m, uint16_t oid, uint16_t rid, int64_t i)
{
	struct lwm_path p = lwm_path_make(3, oid, 0, rid, 0);
	struct lwm_value v = {.type = LWM_T_INTEGER};

	v.v.i = i;
	return lwm_model_set(m, &p, &v);
}

static int set_bool(struct lwm_model *m, uint16_t oid, uint16_t rid, bool b)
{
	struct lwm_path p = lwm_path_make(3, oid, 0, rid, 0);
	struct lwm_value v = {.type = LWM_T_BOOLEAN};

	v.v.b = b;
	return lwm_model_set(m, &p, &v);
}

static int add_core_objects(struct lwm_client *c)
{
	struct lwm_model *m = c->model;
	int r = 0;

	/* Security /0/0: the server account; never readable. */
	r |= lwm_model_add_instance(m, 0, 0) < 0;
	r |= set_str(m, 0, 0, c->server_uri) < 0;
	r |= set_bool(m, 0, 1, false) < 0;
	r |= set_int(m, 0, 2, lwm_security_mode(c->security)) < 0;
	r |= set_int(m, 0, 10, c->short_server_id) < 0;
	/* Server /1/0. */
	r |= lwm_model_add_instance(m, 1, 0) < 0;
	r |= set_int(m, 1, 0, c->short_server_id) < 0;
	r |= set_int(m, 1, 1, c->lifetime) < 0;
	r |= set_int(m, 1, 5, 86400) < 0; /* Disable Timeout */
	r |= set_bool(m, 1, 6, false) < 0;
	r |= set_str(m, 1, 7, c->binding) < 0;
	/* Disable and Registration Update Trigger: executable, no value. */
	for (uint16_t rid = 4; rid <= 8; rid += 4) {
		struct lwm_path p = lwm_path_make(3, 1, 0, rid, 0);
		r |= lwm_model_add_resource(m, &p) < 0;
	}
	return r ? -EINVAL : 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

static void timer_cb(struct gw_timer *t, void *ud);
static void startq_remove(struct lwm_client *c);
static void startq_push(struct lwm_client *c, bool deregister);
static void send_deregister(struct lwm_client *c);

static int resolve(const char *uri, coap_address_t *out, bool *secure)
{
	coap_uri_t u;
	char host[256];
	char port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	int r;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		return -EINVAL;
	if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
		return -EPROTONOSUPPORT;
	*secure = u.scheme == COAP_URI_SCHEME_COAPS;
	if (u.host.length == 0 || u.host.length >= sizeof(host))
		return -EINVAL;
	memcpy(host, u.host.s, u.host.length);
	host[u.host.length] = '\0';
	/* coap_split_uri fills in the scheme's default port (5683 / 5684). */
	snprintf(port, sizeof(port), "%u", u.port ? u.port : *secure ? 5684u : 5683u);
	/* Numeric addresses resolve without blocking; a host name blocks once
	 * here, at start-up. */
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return -EHOSTUNREACH;
	coap_address_init(out);
	out->size = res->ai_addrlen;
	memcpy(&out->addr.sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* The URI's host: the name a server certificate must carry by default. */
static const char *uri_host(const char *uri, char *buf, size_t size)
{
	coap_uri_t u;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0 || u.host.length >= size)
		return NULL;
	memcpy(buf, u.host.s, u.host.length);
	buf[u.host.length] = '\0';
	return buf;
}

const struct lwm_security *lwm_security_of_session(coap_session_t *s)
{
	const struct lwm_client *c = s ? coap_session_get_app_data(s) : NULL;

	return c ? c->security : NULL;
}

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
	c->engine = e;
	c->ops = ops;
	c->ud = ud;
	c->name = dup_or_null(cfg->name ? cfg->name : cfg->endpoint);
	c->endpoint = dup_or_null(cfg->endpoint);
	c->server_uri = dup_or_null(cfg->server_uri);
	c->binding = dup_or_null(cfg->binding ? cfg->binding : "U");
	snprintf(c->version, sizeof(c->version), "%s", cfg->version ? cfg->version : "1.1");
	c->lifetime = cfg->lifetime ? cfg->lifetime : 300;
	c->short_server_id = cfg->short_server_id ? cfg->short_server_id : 1;
	c->model = lwm_model_new();
	gw_timer_init(&c->timer, e->timers, timer_cb, c);
	if (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC)
		c->security = lwm_security_dup(cfg->security);
	if (!c->name || !c->endpoint || !c->server_uri || !c->binding || !c->model ||
	    (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC && !c->security)) {
		r = -ENOMEM;
		goto fail;
	}
	r = resolve(c->server_uri, &c->server_addr, &secure);
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
	r = add_core_objects(c);
	if (r < 0)
		goto fail;
	lwm_engine_link(e, c);
	*out = c;
	return 0;
fail:
	lwm_security_free(c->security);
	lwm_model_free(c->model);
	free(c->name);
	free(c->endpoint);
	free(c->server_uri);
	free(c->binding);
	free(c);
	return r;
}

static void drop_session(struct lwm_client *c)
{
	if (!c->session)
		return;
	coap_session_set_app_data(c->session, NULL);
	coap_session_release(c->session);
	c->session = NULL;
}

void lwm_client_free(struct lwm_client *c)
{
	if (!c)
		return;
	startq_remove(c);
	lwm_ops_abandon_all(c);
	lwm_observe_free(c);
	free(c->attrs);
	gw_timer_disarm(&c->timer);
	lwm_client_set_state(c, LWM_CLIENT_STOPPED);
	drop_session(c);
	lwm_engine_unlink(c->engine, c);
	lwm_model_free(c->model);
	lwm_security_free(c->security);
	free(c->location);
	free(c->name);
	free(c->endpoint);
	free(c->server_uri);
	free(c->binding);
	free(c);
}

/* ---- the registration interface ---------------------------------------------- */

/* Append one Uri-Query option "key=value". */
static void add_query(coap_optlist_t **opts, const char *key, const char *value)
{
	char q[300];
	int len = snprintf(q, sizeof(q), "%s=%s", key, value);

	if (len > 0 && (size_t)len < sizeof(q))
		coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY, (size_t)len,
							   (const uint8_t *)q));
}

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
		c->session = lwm_security_new_session(c->engine->ctx, &c->server_addr, c->security,
						      uri_host(c->server_uri, host, sizeof(host)));
		if (!c->session) {
			coap_delete_optlist(*opts);
			return errno == EMFILE ? -EMFILE : -ENOMEM;
		}
		coap_session_set_app_data(c->session, c);
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

static int build_links(struct lwm_client *c, struct lwm_buf *b)
{
	lwm_buf_init(b, 64 * 1024);
	/* 1.1+ announces the formats it reads and writes beyond the mandatory. */
	if (strcmp(c->version, "1.0") != 0)
		lwm_buf_printf(b, "</>;rt=\"oma.lwm2m\";ct=\"%u %u\"", LWM_FMT_SENML_JSON, LWM_FMT_TLV);
	return lwm_model_reg_links(c->model, c->version, b);
}

static int send_register(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;
	struct lwm_buf links;
	char lt[16];
	int r;

	r = build_links(c, &links);
	if (r < 0) {
		lwm_buf_free(&links);
		return r;
	}
	coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 2, (const uint8_t *)"rd"));
	snprintf(lt, sizeof(lt), "%lu", (unsigned long)c->lifetime);
	add_query(&opts, "ep", c->endpoint);
	add_query(&opts, "lt", lt);
	add_query(&opts, "lwm2m", c->version);
	add_query(&opts, "b", c->binding);
	r = send_request(c, COAP_REQUEST_CODE_POST, LWM_PENDING_REGISTER, &opts, &links);
	lwm_buf_free(&links);
	if (r == 0)
		lwm_client_set_state(c, LWM_CLIENT_REGISTERING);
	return r;
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
		add_query(&opts, "lt", lt);
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

int lwm_client_deregister(struct lwm_client *c)
{
	gw_timer_disarm(&c->timer);
	startq_remove(c);
	if (!is_registered(c->state) || !c->location) {
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		return -ENOTCONN;
	}
	/* The DELETE leaves from the start queue: a shutdown de-registers every
	 * client at once.  An answer to an earlier request no longer counts. */
	c->pending = LWM_PENDING_NONE;
	lwm_client_set_state(c, LWM_CLIENT_DEREGISTERING);
	startq_push(c, true);
	return 0;
}

static void send_deregister(struct lwm_client *c)
{
	coap_optlist_t *opts = NULL;

	add_location_path(c, &opts);
	if (send_request(c, COAP_REQUEST_CODE_DELETE, LWM_PENDING_DEREGISTER, &opts, NULL) < 0) {
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		lwm_engine_deregistered(c->engine);
	}
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

static uint64_t retry_delay_ms(struct lwm_client *c)
{
	unsigned shift = c->failures > 7 ? 7 : c->failures;
	uint64_t base = (uint64_t)RETRY_MIN_S << shift;
	uint64_t ms;

	if (base > RETRY_MAX_S)
		base = RETRY_MAX_S;
	ms = base * 1000u;
	/* +-25% jitter. */
	return ms - ms / 4 + (uint64_t)random() % (ms / 2 + 1);
}

static void schedule_retry(struct lwm_client *c, const char *why)
{
	uint64_t delay;

	c->failures++;
	delay = retry_delay_ms(c);
	/* The session is replaced when the retry fires (the server may have
	 * lost ours); not here, because this may run inside libcoap's own
	 * callback for that session. */
	free(c->location);
	c->location = NULL;
	if (c->failures == 1 || c->failures % 10 == 0)
		log_warn(c->name, "registration with %s failed (%s); retrying in %.1f s (attempt %u)",
			 c->server_uri, why, delay / 1000.0, c->failures);
	else /* rate-limited above; every one when debugging */
		log_debug(c->name, "registration attempt %u failed (%s); retrying in %.1f s",
			  c->failures, why, delay / 1000.0);
	lwm_client_set_state(c, LWM_CLIENT_BACKOFF);
	gw_timer_arm(&c->timer, clock_now_ms() + delay);
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

	for (unsigned i = 0; i < LWM_STARTS_PER_TURN && e->startq_head; i++) {
		struct lwm_client *c = e->startq_head;
		int r;

		startq_remove(c);
		if (c->queued_deregister) {
			send_deregister(c);
			continue;
		}
		c->failures = 0;
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
	if ((c->state != LWM_CLIENT_IDLE && c->state != LWM_CLIENT_STOPPED) || c->start_queued)
		return -EALREADY;
	startq_push(c, false);
	return 0;
}

static void timer_cb(struct gw_timer *t, void *ud)
{
	struct lwm_client *c = ud;
	int r;

	if (c->disabled) {
		/* The Disable Timeout is over: back on the air. */
		c->disabled = false;
		drop_session(c);
		c->failures = 0;
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
		if (c->failures)
			log_notice(c->name, "registered with %s as %s after %u failed attempt(s)",
				   c->server_uri, c->endpoint, c->failures);
		else
			log_info(c->name, "registered with %s as %s (%s, LwM2M %s)", c->server_uri,
				 c->endpoint, c->location, c->version);
		c->failures = 0;
		c->links_changed = false;
		lwm_client_set_state(c, LWM_CLIENT_REGISTERED);
		gw_timer_arm(&c->timer, clock_now_ms() + update_delay_ms(c->lifetime));
		return;
	}
	/* 4.12: the server does not speak our version; step down and retry now. */
	if (code == 412 && lower_version(c->version)) {
		log_notice(c->name, "server refused the LwM2M version; trying %s", c->version);
		if (send_register(c) == 0)
			return;
	}
	snprintf(why, sizeof(why), "server answered %u.%02u", code / 100, code % 100);
	schedule_retry(c, why);
}

static void on_update_response(struct lwm_client *c, unsigned code)
{
	char why[48];

	if (code == 204) {
		c->links_changed = false;
		c->lifetime_changed = false;
		lwm_client_set_state(c, LWM_CLIENT_REGISTERED);
		gw_timer_arm(&c->timer, clock_now_ms() + update_delay_ms(c->lifetime));
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
		break;
	default:
		break;
	}
}

void lwm_client_on_failure(struct lwm_client *c, const char *why)
{
	enum lwm_pending what = c->pending;

	/* A refused handshake: say why, as far as the handshake told us. */
	if (c->security && strncmp(why, "TLS", 3) == 0)
		why = lwm_security_failure(c->security, c->session);

	c->pending = LWM_PENDING_NONE;
	switch (what) {
	case LWM_PENDING_REGISTER:
		schedule_retry(c, why);
		break;
	case LWM_PENDING_UPDATE:
		log_notice(c->name, "update failed (%s); registering again", why);
		schedule_retry(c, why);
		break;
	case LWM_PENDING_DEREGISTER:
		log_warn(c->name, "de-register failed: %s", why);
		lwm_client_set_state(c, LWM_CLIENT_STOPPED);
		lwm_engine_deregistered(c->engine);
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

void lwm_client_disable(struct lwm_client *c, uint32_t seconds)
{
	log_notice(c->name, "disabled by the server for %u s", seconds);
	lwm_client_deregister(c);
	c->disabled = true;
	gw_timer_arm(&c->timer, clock_now_ms() + (uint64_t)seconds * 1000u);
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
