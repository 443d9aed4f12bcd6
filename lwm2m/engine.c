#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "acl.h"
#include "client_internal.h"
#include "coap_fetch.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "objdefs.h"
#include "oversize.h"
#include "send.h"
#include "security.h"

/* Objects 0..7 are the LwM2M core's own (Security, Server, Access Control,
 * Device, Connectivity, Firmware, Location, Statistics). */
#define LWM_CORE_OBJECTS_END 8

/* Largest response body we build; bigger reads are refused with 4.13. */
#define LWM_MAX_RESPONSE (256 * 1024)

static void io_timer_cb(struct gw_timer *t, void *ud)
{
	lwm_engine_io(ud);
}

/* Let libcoap send what is due and tell when it next needs us.  This walks
 * every session in libcoap 4.3.1, so it runs once per loop turn at most. */
static void prepare(struct lwm_engine *e)
{
	coap_tick_t now;
	unsigned ms = 0;

	e->kick_pending = false; /* whatever asked for it is covered now */
	coap_ticks(&now);
	for (int i = 0; i < LWM_ENGINE_CTXS; i++) {
		unsigned m = e->ctxs[i] ? coap_io_prepare_epoll(e->ctxs[i], now) : 0;
		/* 0 means libcoap has nothing scheduled. */
		if (m && (!ms || m < ms))
			ms = m;
	}
	if (ms == 0)
		gw_timer_disarm(&e->io_timer);
	else
		gw_timer_arm(&e->io_timer, clock_now_ms() + ms);
}

void lwm_engine_kick(struct lwm_engine *e)
{
	/* Something was queued: prepare on the next loop turn, once, however
	 * many requests and notifications this turn sends. */
	if (e->kick_pending)
		return;
	e->kick_pending = true;
	gw_timer_arm(&e->io_timer, clock_now_ms());
}

void lwm_engine_io(struct lwm_engine *e)
{
	/* One large batch: libcoap 4.3.1's coap_io_do_epoll ends every call with
	 * coap_io_prepare_epoll, a walk over every session of the context, so a
	 * turn that hands it 10,000 events 64 at a time walked 10,000 sessions
	 * 157 times (most of a 10,000-device shutdown, in perf). */
	static struct epoll_event ev[4096];

	/* Drain libcoap's epoll sets ourselves: coap_io_process would prepare
	 * (walk every session) before and after each batch. */
	for (int i = 0; i < LWM_ENGINE_CTXS; i++) {
		int fd, n;
		if (!e->ctxs[i])
			continue;
		fd = coap_context_get_coap_fd(e->ctxs[i]);
		do {
			n = epoll_wait(fd, ev, (int)(sizeof(ev) / sizeof(ev[0])), 0);
			for (int j = 0; j < n; j++) {
				/* libcoap 4.3.1 tags a socket's event with its
				 * coap_socket_t, whose first member is the fd (NULL:
				 * its timer). */
				/* A datagram taken off here is answered: libcoap must not
				 * read that socket this turn (it would take the next
				 * datagram, perhaps another oversized one, or fail with
				 * EAGAIN); level-triggered epoll brings the socket back. */
				if (ev[j].data.ptr && (ev[j].events & EPOLLIN) &&
				    lwm_oversize_take(*(const int *)ev[j].data.ptr, LWM_OVERSIZE_MTU))
					ev[j].events = 0;
			}
			if (n > 0)
				coap_io_do_epoll(e->ctxs[i], ev, (size_t)n);
		} while (n == (int)(sizeof(ev) / sizeof(ev[0])));
	}
	prepare(e);
}

int lwm_engine_fd(const struct lwm_engine *e)
{
	return e->epfd;
}

size_t lwm_engine_client_count(const struct lwm_engine *e)
{
	return e->n_clients;
}

size_t lwm_engine_registered_count(const struct lwm_engine *e)
{
	return e->n_registered;
}

void lwm_engine_link(struct lwm_engine *e, struct lwm_client *c)
{
	c->prev = NULL;
	c->next = e->clients;
	if (e->clients)
		e->clients->prev = c;
	e->clients = c;
	e->n_clients++;
}

void lwm_engine_unlink(struct lwm_engine *e, struct lwm_client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		e->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	e->n_clients--;
}

/* ---- responses to our requests (registration interface) ----------------- */

static struct lwm_owner *owner_of(const coap_session_t *s)
{
	return s ? coap_session_get_app_data(s) : NULL;
}

static struct lwm_client *client_of(const coap_session_t *s)
{
	struct lwm_owner *o = owner_of(s);

	return o && o->kind == LWM_OWNER_CLIENT ? (struct lwm_client *)o : NULL;
}

static struct lwm_bootstrap *bootstrap_of(const coap_session_t *s)
{
	struct lwm_owner *o = owner_of(s);

	return o && o->kind == LWM_OWNER_BOOTSTRAP ? (struct lwm_bootstrap *)o : NULL;
}

const struct lwm_security *lwm_security_of_session(coap_session_t *s)
{
	struct lwm_client *c = client_of(s);
	struct lwm_bootstrap *b = bootstrap_of(s);

	struct lwm_owner *o = owner_of(s);

	if (c)
		return c->security;
	if (o && o->kind == LWM_OWNER_FETCH)
		return lwm_get_security(s);
	return b ? lwm_bootstrap_security(b) : NULL;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
				   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
	struct lwm_client *c = client_of(session);
	struct lwm_bootstrap *b = bootstrap_of(session);
	struct lwm_owner *o = owner_of(session);

	if (o && o->kind == LWM_OWNER_FETCH) {
		lwm_get_on_response(session, rcvd);
		return COAP_RESPONSE_OK;
	}
	if (b) {
		lwm_bootstrap_on_response(b, rcvd);
		return COAP_RESPONSE_OK;
	}
	if (c && lwm_send_response(c, rcvd))
		return COAP_RESPONSE_OK;
	if (!c || !lwm_client_token_matches(c, coap_pdu_get_token(rcvd)))
		return COAP_RESPONSE_OK; /* stale or foreign: nothing waits for it */
	lwm_client_on_response(c, rcvd);
	return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
		    const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct lwm_client *c = client_of(session);
	static const char *const why[] = {"no answer from server", "not deliverable",
					  "reset by server", "TLS failure", "ICMP error",
					  "bad response", "TLS layer failure"};
	struct lwm_owner *o = owner_of(session);

	if (o && o->kind == LWM_OWNER_FETCH)
		return lwm_get_on_nack(session, sent, reason);

	if (c && c->forgetting)
		return; /* what a shutdown dropped on purpose (client.c) */
	/* A failed notification ends its observation (observe.c). */
	if (c && sent && (lwm_observe_nack(c, sent, reason) || lwm_send_nack(c, sent, reason)))
		return;
	if (!c || !sent || !lwm_client_token_matches(c, coap_pdu_get_token(sent)))
		return;
	lwm_client_on_failure(c, (size_t)reason < sizeof(why) / sizeof(why[0])
					 ? why[reason] : "request failed");
}

/* libcoap tears a DTLS session down on an alert (close_notify from a server
 * shutting down, a fatal alert) and on an ICMP error; the session is then
 * dead (libcoap 4.3.1 does not reconnect it) and only delays what is sent
 * on it.  Its client must start afresh.  Our own releases come here too,
 * after the app data is cleared, so they are not mistaken for a loss. */
static int on_event(coap_session_t *session, const coap_event_t event)
{
	struct lwm_client *c = client_of(session);
	struct lwm_owner *o = owner_of(session);

	if (o && o->kind == LWM_OWNER_FETCH) {
		lwm_get_on_event(session, event);
		return 0;
	}
	if (!c || c->session != session)
		return 0;
	switch (event) {
	case COAP_EVENT_DTLS_CLOSED:
		lwm_client_session_lost(c, "closed by an alert from the server or an ICMP error");
		break;
	case COAP_EVENT_DTLS_ERROR:
		lwm_client_session_lost(c, "DTLS alert from the server");
		break;
	default:
		break;
	}
	return 0;
}

/* ---- requests from the server ------------------------------------------- */

int lwm_request_path(const coap_pdu_t *req, const char *first, struct lwm_path *p,
		     bool *first_seen)
{
	coap_opt_filter_t f;
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	size_t first_len = first ? strlen(first) : 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(req, &oi, &f);
	*p = (struct lwm_path){0};
	if (first_seen)
		*first_seen = false;
	while ((opt = coap_option_next(&oi))) {
		const uint8_t *v = coap_opt_value(opt);
		size_t len = coap_opt_length(opt);
		uint32_t id = 0;
		/* A trailing empty segment ("/3/0/") is tolerated. */
		if (len == 0)
			continue;
		if (first && p->len == 0 && !*first_seen && len == first_len &&
		    memcmp(v, first, len) == 0) {
			*first_seen = true;
			continue;
		}
		if ((first_seen && *first_seen) || p->len == 4 || len > 5)
			return -ENOENT;
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9' || (i == 0 && v[i] == '0' && len > 1))
				return -ENOENT;
			id = id * 10 + (v[i] - '0');
		}
		if (id >= LWM_ID_NONE)
			return -ENOENT;
		p->id[p->len++] = (uint16_t)id;
	}
	return 0;
}

int lwm_request_uint_option(const coap_pdu_t *req, coap_option_num_t num, uint32_t *out)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt = coap_check_option(req, num, &oi);

	if (!opt)
		return -ENOENT;
	*out = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	return 0;
}

void lwm_respond_code(coap_pdu_t *resp, unsigned code)
{
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
}

static void release_buffer(coap_session_t *s, void *p)
{
	free(p);
}

/* Attach out's bytes as the (possibly block-wise) body; takes out's memory. */
void lwm_respond_body(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		      coap_pdu_t *resp, const coap_string_t *query, unsigned code,
		      uint16_t format, struct lwm_buf *out)
{
	uint8_t *data = out->data;
	size_t len = out->len;

	lwm_respond_code(resp, code);
	/* libcoap owns the copy until release_buffer: hand it the buffer and
	 * start the scratch afresh. */
	lwm_buf_init(out, LWM_MAX_RESPONSE);
	if (!data) {
		data = malloc(1);
		if (!data) {
			lwm_respond_code(resp, 500);
			return;
		}
	}
	/* libcoap 4.3.1 leaves out a Content-Format of 0 (text/plain), but
	 * LwM2M servers need it to tell text from other single values. */
	if (format == LWM_FMT_TEXT)
		coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
	if (!coap_add_data_large_response(r, s, req, resp, query, format, -1, 0, len, data,
					  release_buffer, data))
		lwm_respond_code(resp, 500);
}

static uint16_t default_format(const struct lwm_path *p, const struct lwm_record *recs,
			       size_t n)
{
	/* A single resource defaults to text (opaque for opaque data); anything
	 * larger to TLV, which every server understands. */
	if (p->len >= 3 && n == 1 && recs[0].path.len == p->len)
		return recs[0].value.type == LWM_T_OPAQUE ? LWM_FMT_OPAQUE : LWM_FMT_TEXT;
	return LWM_FMT_TLV;
}

static void discover_attrs(const struct lwm_path *p, struct lwm_buf *out, void *ud)
{
	lwm_client_attrs_format(ud, p, out);
}

static void handle_read(struct lwm_engine *e, struct lwm_client *c, coap_resource_t *r,
			coap_session_t *s, const coap_pdu_t *req, const coap_string_t *query,
			coap_pdu_t *resp, const struct lwm_path *p)
{
	const struct lwm_record *recs;
	size_t n;
	uint32_t accept;
	uint16_t fmt;
	int err;

	lwm_buf_reset(&e->scratch);
	/* A device that is down has no current values to give. */
	if (c->unavailable && p->len >= 1 && LWM_PATH_OID(p) >= LWM_CORE_OBJECTS_END &&
	    lwm_model_exists(c->model, p))
		return lwm_respond_code(resp, 503);
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0 && accept == LWM_FMT_LINK) {
		/* Discover targets an object, instance or resource: "/" is
		 * not a target of it. */
		if (p->len == 0)
			return lwm_respond_code(resp, 405);
		/* Discover needs the Read right; an object lists what this
		 * server may read of it (Access Control, acl.c). */
		if (p->len >= 1 && LWM_PATH_OID(p) != 0 && lwm_model_exists(c->model, p) &&
		    !lwm_client_may(c, p, LWM_ACL_READ))
			return lwm_respond_code(resp, 401);
		err = lwm_model_discover_visible(c->model, p, discover_attrs, lwm_client_visible, c,
						 &e->scratch);
		if (err == -ENOENT)
			return lwm_respond_code(resp, 404);
		if (err == -EACCES)
			return lwm_respond_code(resp, 401);
		if (err < 0)
			return lwm_respond_code(resp, 500);
		return lwm_respond_body(r, s, req, resp, query, 205, LWM_FMT_LINK, &e->scratch);
	}

	err = lwm_client_read(c, p, &recs, &n);
	switch (err) {
	case 0:
		break;
	case -ENOENT:
		return lwm_respond_code(resp, 404);
	case -EACCES: /* Security, or what Access Control denies this server */
		return lwm_respond_code(resp, 401);
	case -EPERM:
		return lwm_respond_code(resp, 405);
	case -ENODATA: /* the device has not delivered a value yet */
		return lwm_respond_code(resp, 503);
	default:
		return lwm_respond_code(resp, 500);
	}
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0) {
		if (accept > UINT16_MAX || !lwm_format_can_encode((uint16_t)accept))
			return lwm_respond_code(resp, 406);
		fmt = (uint16_t)accept;
	} else {
		fmt = default_format(p, recs, n);
	}
	err = lwm_encode(fmt, p, recs, n, &e->scratch);
	if (err == -ENOTSUP || err == -EINVAL)
		return lwm_respond_code(resp, 406); /* e.g. text/plain for an instance */
	if (err == -E2BIG)
		return lwm_respond_code(resp, 413);
	if (err < 0)
		return lwm_respond_code(resp, 500);
	lwm_observe_option(c, resp);
	lwm_respond_body(r, s, req, resp, query, 205, fmt, &e->scratch);
}

static bool has_payload(const coap_pdu_t *req)
{
	size_t len;
	const uint8_t *data;

	return coap_get_data(req, &len, &data) && len > 0;
}

/* ---- block-wise request bodies (block1.c) --------------------------------- */

/* A body for one value of a fixed-size type (number, boolean, time, object
 * link): what any format's encoding of one value takes, with room. */
#define LWM_SCALAR_BODY_MAX 1024u

void lwm_request_data(const struct lwm_engine *e, const coap_pdu_t *req, const uint8_t **data,
		      size_t *len)
{
	if (e && req == e->body_req) {
		*data = e->body;
		*len = e->body_len;
		return;
	}
	if (!coap_get_data(req, len, data)) {
		*data = NULL;
		*len = 0;
	}
}

/* What the target of a request can hold, known before a byte is stored. */
static size_t body_limit(const struct lwm_engine *e, const coap_pdu_t *req, bool bootstrap)
{
	const struct lwm_obj_def *o;
	const struct lwm_res_def *d;
	struct lwm_path p;

	if (bootstrap || coap_pdu_get_code(req) != COAP_REQUEST_CODE_PUT ||
	    lwm_request_path(req, NULL, &p, NULL) < 0 || p.len < 3)
		return e->max_body;
	o = lwm_objdef_find(LWM_PATH_OID(&p));
	d = o ? lwm_resdef_find(o, LWM_PATH_RID(&p)) : NULL;
	if (!d || (d->multiple && p.len == 3) || d->type == LWM_T_STRING ||
	    d->type == LWM_T_OPAQUE || d->type == LWM_T_CORELNK)
		return e->max_body;
	return LWM_SCALAR_BODY_MAX < e->max_body ? LWM_SCALAR_BODY_MAX : e->max_body;
}

/* The Uri-Path as "/a/b": a transfer's key.  False when it does not fit. */
static bool request_key(const coap_pdu_t *req, char *key, size_t cap)
{
	coap_opt_filter_t f;
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	size_t n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(req, &oi, &f);
	key[0] = '\0';
	while ((opt = coap_option_next(&oi))) {
		size_t len = coap_opt_length(opt);
		if (n + 1 + len >= cap)
			return false;
		key[n++] = '/';
		memcpy(key + n, coap_opt_value(opt), len);
		n += len;
		key[n] = '\0';
	}
	return true;
}

static void add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, uint32_t v)
{
	uint8_t buf[4];

	coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof(buf), v), buf);
}

static void block1_timer_cb(struct gw_timer *t, void *ud)
{
	struct lwm_engine *e = ud;
	uint64_t next = lwm_block1_expire(&e->block1, clock_now_ms());

	if (next)
		gw_timer_arm(&e->block1_timer, next);
}

/* The default sink_for: the client whose session it is may stream a Write
 * to a resource of its device's (lwm_client_ops.body_sink). */
static struct lwm_block1_sink *client_sink_for(void *ud, const struct lwm_block1_req *req,
					       size_t *limit)
{
	struct lwm_client *c = client_of((const coap_session_t *)req->session);
	struct lwm_path p;

	(void)ud;
	if (!c || !c->ops || !c->ops->body_sink || !c->ops->owns ||
	    (req->method != COAP_REQUEST_CODE_PUT && req->method != COAP_REQUEST_CODE_POST) ||
	    lwm_path_parse(req->key, strlen(req->key), &p) < 0 || p.len != 3 ||
	    !c->ops->owns(c, &p, c->ud) || !lwm_client_may(c, &p, LWM_ACL_WRITE))
		return NULL; /* the memory sink; the Write is refused at its end */
	return c->ops->body_sink(c, &p, req->format, req->has_size1 ? req->size1 : 0, limit,
				 c->ud);
}

void lwm_engine_set_block1_sink(struct lwm_engine *e,
				struct lwm_block1_sink *(*sink_for)(void *ud,
								    const struct lwm_block1_req *req,
								    size_t *limit),
				void *ud)
{
	e->block1.sink_for = sink_for;
	e->block1.sink_ud = ud;
}

void lwm_engine_session_gone(struct lwm_engine *e, const coap_session_t *s)
{
	lwm_block1_drop_session(&e->block1, s);
}

/* A request with Block1: true when it is answered here (2.31 Continue for a
 * block before the last, or an error).  When it completes a body, that body
 * is what lwm_request_data gives the handler, and *x holds it until
 * lwm_block1_done. */
static bool take_block1(struct lwm_engine *e, coap_session_t *s, const coap_pdu_t *req,
			coap_pdu_t *resp, bool bootstrap, const char *name,
			struct lwm_block1_xfer **x)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt = coap_check_option(req, COAP_OPTION_BLOCK1, &oi);
	char key[LWM_BLOCK1_KEY_MAX + 1];
	struct lwm_block1_req br = {.session = s, .key = key};
	struct lwm_block1_result res;
	uint32_t v, size1, cf;
	uint64_t next;

	*x = NULL;
	if (!opt)
		return false;
	if (coap_opt_length(opt) > 3 || !request_key(req, key, sizeof(key))) {
		lwm_respond_code(resp, 400);
		return true;
	}
	v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	br.num = v >> 4;
	br.more = v & 0x08;
	br.szx = v & 0x07;
	br.method = (uint8_t)coap_pdu_get_code(req);
	br.has_size1 = lwm_request_uint_option(req, COAP_OPTION_SIZE1, &size1) == 0;
	br.size1 = br.has_size1 ? size1 : 0;
	br.format = lwm_request_uint_option(req, COAP_OPTION_CONTENT_FORMAT, &cf) == 0 &&
				    cf <= UINT16_MAX
			    ? (uint16_t)cf : UINT16_MAX;
	if (!coap_get_data(req, &br.len, &br.data)) {
		br.data = NULL;
		br.len = 0;
	}
	br.limit = body_limit(e, req, bootstrap);
	lwm_block1_feed(&e->block1, &br, clock_now_ms(), &res);
	next = lwm_block1_expire(&e->block1, clock_now_ms());
	if (next)
		gw_timer_arm(&e->block1_timer, next);
	else
		gw_timer_disarm(&e->block1_timer);
	if (res.code == 0) {
		e->body_req = req;
		e->body = res.body;
		e->body_len = res.body_len;
		*x = res.xfer;
		/* The last block is acknowledged as such (RFC 7959 2.3). */
		add_uint_option(resp, COAP_OPTION_BLOCK1, (br.num << 4) | br.szx);
		return false;
	}
	lwm_respond_code(resp, res.code);
	/* libcoap echoes the Block1 of a block before the last itself. */
	if (br.more && !coap_check_option(resp, COAP_OPTION_BLOCK1, &oi))
		add_uint_option(resp, COAP_OPTION_BLOCK1, v);
	if (res.code == 413) {
		/* RFC 7959 2.9.3: Size1 says how much the target takes. */
		add_uint_option(resp, COAP_OPTION_SIZE1,
				res.size1 > UINT32_MAX ? UINT32_MAX : (uint32_t)res.size1);
		log_info(name, "block-wise request to %s refused: more than the %zu bytes it "
			 "can hold", key, (size_t)res.size1);
	} else if (res.code == 408) {
		log_info(name, "block-wise request to %s: block %u out of sequence or its "
			 "transfer expired; answered 4.08", key, br.num);
	}
	return true;
}

/* After the handler ran on a reassembled body: give it back. */
static void block1_finish(struct lwm_engine *e, struct lwm_block1_xfer *x)
{
	e->body_req = NULL;
	e->body = NULL;
	e->body_len = 0;
	lwm_block1_done(&e->block1, x);
}

static void client_request(struct lwm_client *c, coap_resource_t *r, coap_session_t *s,
			   const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp);

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		       const coap_string_t *query, coap_pdu_t *resp)
{
	struct lwm_client *c = client_of(s);
	struct lwm_bootstrap *b = bootstrap_of(s);
	struct lwm_block1_xfer *x;
	struct lwm_engine *e;

	/* A bootstrap server provisioning us (bootstrap.c). */
	if (b) {
		e = lwm_bootstrap_engine(b);
		if (take_block1(e, s, req, resp, true, lwm_bootstrap_name(b), &x))
			return;
		lwm_bootstrap_on_request(b, r, s, req, query, resp);
		return block1_finish(e, x);
	}
	/* The second call for a deferred operation: its answer is ready. */
	if (lwm_ops_resume(s, req, resp)) {
		coap_opt_iterator_t oi;
		coap_opt_t *opt = coap_check_option(req, COAP_OPTION_BLOCK1, &oi);
		/* The last block of a body, acknowledged as such. */
		if (opt && coap_pdu_get_code(resp) != 0)
			add_uint_option(resp, COAP_OPTION_BLOCK1,
					coap_decode_var_bytes(coap_opt_value(opt),
							      coap_opt_length(opt)) & ~0x08u);
		return;
	}
	/* A disabled account ignores the server's requests (no answer). */
	if (c && c->disabled)
		return;
	if (!c || c->state == LWM_CLIENT_STOPPED)
		return lwm_respond_code(resp, 404);
	e = c->engine; /* c may be gone after the request (a bootstrap trigger) */
	if (take_block1(e, s, req, resp, false, c->name, &x))
		return;
	client_request(c, r, s, req, query, resp);
	block1_finish(e, x);
}

/* A server's request to a running client, its body whole. */
static void client_request(struct lwm_client *c, coap_resource_t *r, coap_session_t *s,
			   const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp)
{
	struct lwm_path p;
	uint32_t observe;

	if (lwm_request_path(req, NULL, &p, NULL) < 0)
		return lwm_respond_code(resp, 404);
	switch (coap_pdu_get_code(req)) {
	case COAP_REQUEST_CODE_GET:
		/* Observe 0 / 1 (observe.c): a Read with the Observe option added. */
		if (lwm_request_uint_option(req, COAP_OPTION_OBSERVE, &observe) < 0)
			observe = UINT32_MAX;
		else if (!lwm_observe_begin(c, req, query, resp, &p, observe))
			break;
		lwm_client_refresh_time(c);
		handle_read(c->engine, c, r, s, req, query, resp, &p);
		if (observe != UINT32_MAX)
			lwm_observe_end(c, req, resp, &p, observe);
		break;
	case COAP_REQUEST_CODE_PUT:
		/* A PUT with a query and no body is Write-Attributes. */
		if (!has_payload(req) && query && query->length)
			lwm_ops_write_attributes(c, query, resp, &p);
		else
			lwm_ops_write(c, s, req, resp, &p, true);
		break;
	case COAP_REQUEST_CODE_POST:
		if (p.len == 1)
			lwm_ops_create(c, resp, &p);
		else if (p.len == 2)
			lwm_ops_write(c, s, req, resp, &p, false);
		else if (p.len == 3)
			lwm_ops_execute(c, s, req, resp, &p);
		else
			lwm_respond_code(resp, 405);
		break;
	case COAP_REQUEST_CODE_DELETE:
		lwm_ops_delete(c, resp, &p);
		break;
	case COAP_REQUEST_CODE_FETCH:
		if (p.len != 0)
			return lwm_respond_code(resp, 405);
		/* Observe-Composite (observe.c) around the Read-Composite. */
		if (lwm_request_uint_option(req, COAP_OPTION_OBSERVE, &observe) < 0)
			observe = UINT32_MAX;
		else if (!lwm_observe_begin(c, req, query, resp, &p, observe))
			break;
		lwm_client_refresh_time(c);
		lwm_ops_read_composite(c, s, r, req, query, resp);
		if (observe != UINT32_MAX)
			lwm_observe_end(c, req, resp, &p, observe);
		break;
	case COAP_REQUEST_CODE_IPATCH:
		if (p.len != 0)
			return lwm_respond_code(resp, 405);
		lwm_ops_write_composite(c, s, req, resp);
		break;
	default:
		lwm_respond_code(resp, 405);
		break;
	}
}

/* ---- life cycle ----------------------------------------------------------- */

/* The priority one of libcoap's messages gets in our log. */
static int coap_log_priority(int level, const char *message)
{
	/* libcoap 4.3.1 logs every RST it receives at LOG_ALERT; a server's
	 * RST is routine (it cancels an observation, observe.c says so). */
	if (strncmp(message, "got RST for mid=", 16) == 0)
		return LOG_DEBUG;
	/* Nothing one peer's packet or one session causes is an emergency
	 * of the whole system. */
	if (level < LOG_ERR)
		return LOG_ERR;
	return level > LOG_DEBUG ? LOG_DEBUG : level;
}

/* libcoap's messages go through our logger (journald fields, levels). */
static void coap_log_to_ours(coap_log_t level, const char *message)
{
	size_t len = strlen(message);

	while (len && message[len - 1] == '\n')
		len--;
	log_msg(coap_log_priority((int)level, message), NULL, "libcoap: %.*s", (int)len,
		message);
}

void lwm_engine_set_op_timeout(struct lwm_engine *e, uint32_t ms)
{
	e->op_timeout_ms = ms ? ms : LWM_OP_TIMEOUT_MS;
}

void lwm_engine_set_max_body(struct lwm_engine *e, size_t bytes)
{
	e->max_body = !bytes ? LWM_MAX_BODY_DEFAULT : bytes > LWM_MAX_BODY_MAX ? LWM_MAX_BODY_MAX
										: bytes;
}

void lwm_engine_set_max_observations(struct lwm_engine *e, uint32_t n)
{
	e->max_obs = n ? n : LWM_MAX_OBS_DEFAULT;
}

/* A libcoap context with our handlers, its epoll set in ours. */
static coap_context_t *new_context(struct lwm_engine *e, uint8_t block_mode)
{
	static const coap_request_t methods[] = {
		COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_DELETE,
		COAP_REQUEST_FETCH, COAP_REQUEST_IPATCH,
	};
	coap_context_t *ctx = coap_new_context(NULL);
	struct epoll_event ev = {.events = EPOLLIN};
	coap_resource_t *unknown;

	if (!ctx)
		return NULL;
	/* libcoap does Block2 and our own Block1 requests; the Block1 bodies
	 * we receive are built by block1.c (libcoap's SINGLE_BODY mode would
	 * allocate whatever Size1 a peer announces, and hand the handler a
	 * partial body when it cannot). */
	coap_context_set_block_mode(ctx, block_mode);
	coap_register_response_handler(ctx, on_response);
	coap_register_nack_handler(ctx, on_nack);
	coap_register_event_handler(ctx, on_event);
	/* Every path of every device is routed through our own data model. */
	unknown = coap_resource_unknown_init2(on_request, 0);
	if (!unknown)
		goto fail;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		coap_register_request_handler(unknown, methods[i], on_request);
	coap_add_resource(ctx, unknown);
	ev.data.fd = coap_context_get_coap_fd(ctx);
	if (ev.data.fd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto fail;
	return ctx;
fail:
	coap_free_context(ctx);
	return NULL;
}

coap_context_t *lwm_engine_context(struct lwm_engine *e, const struct lwm_security *sec)
{
	enum lwm_sec_mode m = sec ? lwm_security_mode(sec) : LWM_SEC_NOSEC;

	/* libcoap 4.3.1 with GnuTLS sets up every client session of a context
	 * for certificates once one PKI session was made in it, and a PSK
	 * server then refuses the handshake ("insufficient credentials"): PSK
	 * devices could no longer (re)connect in a gateway that also has RPK
	 * or X.509 devices.  So certificate and raw-key sessions live in a
	 * context of their own, made when the first is needed. */
	if (m != LWM_SEC_RPK && m != LWM_SEC_X509)
		return e->ctxs[0];
	if (!e->ctxs[1])
		e->ctxs[1] = new_context(e, COAP_BLOCK_USE_LIBCOAP);
	return e->ctxs[1];
}

coap_context_t *lwm_engine_fetch_context(struct lwm_engine *e, const struct lwm_security *sec)
{
	enum lwm_sec_mode m = sec ? lwm_security_mode(sec) : LWM_SEC_NOSEC;
	/* Apart from the clients' for the same reason as there, and with no
	 * block mode: the download asks for each block itself. */
	int i = m != LWM_SEC_RPK && m != LWM_SEC_X509 ? 2 : 3;

	if (!e->ctxs[i])
		e->ctxs[i] = new_context(e, 0);
	return e->ctxs[i];
}

int lwm_engine_new(struct timerq *timers, struct lwm_engine **out)
{
	struct lwm_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	coap_startup();
	coap_set_log_handler(coap_log_to_ours);
	/* libcoap's per-packet warnings (e.g. ICMP errors) are handled by us;
	 * show them only when debugging. */
	coap_set_log_level(log_get_level() >= LOG_DEBUG ? LOG_INFO : LOG_ERR);
	e->timers = timers;
	e->op_timeout_ms = LWM_OP_TIMEOUT_MS;
	e->max_body = LWM_MAX_BODY_DEFAULT;
	e->max_obs = LWM_MAX_OBS_DEFAULT;
	lwm_block1_init(&e->block1);
	e->block1.sink_for = client_sink_for;
	gw_timer_init(&e->block1_timer, timers, block1_timer_cb, e);
	gw_timer_init(&e->io_timer, timers, io_timer_cb, e);
	gw_timer_init(&e->start_timer, timers, lwm_engine_run_starts, e);
	lwm_buf_init(&e->scratch, LWM_MAX_RESPONSE);
	/* One fd for the daemon's loop, whatever number of contexts. */
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0 || !(e->ctxs[0] = new_context(e, COAP_BLOCK_USE_LIBCOAP))) {
		lwm_engine_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void lwm_engine_set_resolver(struct lwm_engine *e, const struct lwm_resolver *r)
{
	if (r)
		e->resolver = *r;
	else
		memset(&e->resolver, 0, sizeof(e->resolver));
}

void lwm_engine_free(struct lwm_engine *e)
{
	if (!e)
		return;
	gw_timer_disarm(&e->io_timer);
	gw_timer_disarm(&e->start_timer);
	gw_timer_disarm(&e->block1_timer);
	lwm_block1_clear(&e->block1);
	if (e->shutdown_timer.q)
		gw_timer_disarm(&e->shutdown_timer);
	for (int i = 0; i < LWM_ENGINE_CTXS; i++)
		if (e->ctxs[i])
			coap_free_context(e->ctxs[i]);
	if (e->epfd >= 0)
		close(e->epfd);
	lwm_buf_free(&e->scratch);
	free(e->acl_recs);
	coap_cleanup();
	free(e);
}

static void shutdown_finish(struct lwm_engine *e)
{
	void (*done)(void *) = e->shutdown_done;

	if (!done)
		return;
	e->shutdown_done = NULL;
	gw_timer_disarm(&e->shutdown_timer);
	done(e->shutdown_ud);
}

static void shutdown_timeout(struct gw_timer *t, void *ud)
{
	struct lwm_engine *e = ud;

	log_warn(NULL, "%zu de-registration(s) still unanswered; stopping anyway",
		 e->shutdown_pending);
	shutdown_finish(e);
}

void lwm_engine_deregistered(struct lwm_engine *e)
{
	if (!e->shutting_down || e->shutdown_pending == 0)
		return;
	if (--e->shutdown_pending == 0)
		shutdown_finish(e);
}

void lwm_engine_shutdown(struct lwm_engine *e, uint32_t timeout_ms,
			 void (*done)(void *ud), void *ud)
{
	e->shutting_down = true;
	e->shutdown_done = done;
	e->shutdown_ud = ud;
	e->shutdown_pending = 0;
	gw_timer_init(&e->shutdown_timer, e->timers, shutdown_timeout, e);
	for (struct lwm_client *c = e->clients; c; c = c->next)
		if (lwm_client_deregister(c) == 0)
			e->shutdown_pending++;
	lwm_engine_kick(e);
	if (e->shutdown_pending == 0)
		shutdown_finish(e);
	else
		gw_timer_arm(&e->shutdown_timer, clock_now_ms() + timeout_ms);
}
