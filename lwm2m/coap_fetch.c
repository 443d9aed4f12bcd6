/* Block-wise GETs for package downloads (coap_fetch.h). */
#include "coap_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "security.h"
#include "uri.h"

struct lwm_get {
	struct lwm_owner owner; /* first: the session's app data */
	struct lwm_engine *e;
	struct lwm_security *sec;
	bool secure;
	char host[256], port[8];
	coap_optlist_t *opts; /* Uri-Path and Uri-Query, kept for every request */
	coap_address_t addr;
	bool have_addr;
	void *resolving;
	coap_session_t *session;
	bool connected;       /* the session's DTLS handshake completed */
	uint8_t token[8];
	size_t token_len;
	bool waiting;         /* the last request is unanswered */
	/* A request waiting for the host name. */
	bool queued, q_size;
	uint32_t q_num;
	unsigned q_szx;
	uint32_t ack_ms;
	int max_retransmit;
	struct lwm_get_ops ops;
	void *ud;
};

static struct lwm_get *get_of(coap_session_t *s)
{
	struct lwm_owner *o = s ? coap_session_get_app_data(s) : NULL;

	return o && o->kind == LWM_OWNER_FETCH ? (struct lwm_get *)o : NULL;
}

const struct lwm_security *lwm_get_security(coap_session_t *s)
{
	struct lwm_get *g = get_of(s);

	return g ? g->sec : NULL;
}

/* Uri-Path and Uri-Query options from the URI (percent-decoded). */
static int add_uri_options(coap_optlist_t **opts, const coap_uri_t *u)
{
	unsigned char buf[1024], *b;
	size_t len = sizeof(buf);
	int n;

	if (u->path.length) {
		n = coap_split_path(u->path.s, u->path.length, buf, &len);
		if (n < 0)
			return -EINVAL;
		for (b = buf; n > 0; n--, b += coap_opt_size(b))
			if (!coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH,
									coap_opt_length(b),
									coap_opt_value(b))))
				return -ENOMEM;
	}
	if (u->query.length) {
		len = sizeof(buf);
		n = coap_split_query(u->query.s, u->query.length, buf, &len);
		if (n < 0)
			return -EINVAL;
		for (b = buf; n > 0; n--, b += coap_opt_size(b))
			if (!coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY,
									coap_opt_length(b),
									coap_opt_value(b))))
				return -ENOMEM;
	}
	return 0;
}

int lwm_get_new(struct lwm_engine *e, const char *uri, const struct lwm_security *sec,
		const struct lwm_get_ops *ops, void *ud, struct lwm_get **out)
{
	struct lwm_get *g;
	coap_uri_t u;
	int r;

	if (!e)
		return -EPROTONOSUPPORT;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->owner.kind = LWM_OWNER_FETCH;
	g->e = e;
	g->ops = *ops;
	g->ud = ud;
	g->max_retransmit = -1;
	r = lwm_uri_split(uri, g->host, sizeof(g->host), g->port, &g->secure);
	if (r == 0 && coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		r = -EINVAL;
	if (r == 0)
		r = add_uri_options(&g->opts, &u);
	if (r == 0 && g->secure) {
		if (!sec || lwm_security_mode(sec) == LWM_SEC_NOSEC)
			r = -EACCES; /* nothing to secure the session with */
		else if (!lwm_security_mode_supported(lwm_security_mode(sec)))
			r = -EPROTONOSUPPORT;
		else if (!(g->sec = lwm_security_dup(sec)))
			r = -ENOMEM;
	}
	if (r < 0) {
		lwm_get_free(g);
		return r;
	}
	*out = g;
	return 0;
}

void lwm_get_set_timing(struct lwm_get *g, uint32_t ack_timeout_ms, int max_retransmit)
{
	g->ack_ms = ack_timeout_ms;
	g->max_retransmit = max_retransmit;
}

static int send_block(struct lwm_get *g, uint32_t num, unsigned szx, bool ask_size)
{
	coap_pdu_t *pdu;
	uint8_t buf[4];

	if (!g->session) {
		coap_context_t *ctx = lwm_engine_fetch_context(g->e, g->sec);
		if (!ctx)
			return -ENOMEM;
		g->session = lwm_security_new_session(ctx, &g->addr, g->sec, g->host);
		if (!g->session)
			return -ENOMEM;
		g->connected = false;
		coap_session_set_app_data(g->session, &g->owner);
		if (g->ack_ms)
			coap_session_set_ack_timeout(g->session, (coap_fixed_point_t){
				g->ack_ms / 1000, g->ack_ms % 1000});
		if (g->max_retransmit >= 0)
			coap_session_set_max_retransmit(g->session, (uint16_t)g->max_retransmit);
	}
	pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, g->session);
	if (!pdu)
		return -ENOMEM;
	coap_session_new_token(g->session, &g->token_len, g->token);
	coap_add_token(pdu, g->token_len, g->token);
	if (!coap_add_optlist_pdu(pdu, &g->opts)) {
		coap_delete_pdu(pdu);
		return -ENOMEM;
	}
	coap_add_option(pdu, COAP_OPTION_BLOCK2,
			coap_encode_var_safe(buf, sizeof(buf), (num << 4) | (szx & 7)), buf);
	if (ask_size)
		coap_add_option(pdu, COAP_OPTION_SIZE2, 0, NULL);
	g->waiting = true;
	if (coap_send(g->session, pdu) == COAP_INVALID_MID) {
		g->waiting = false;
		return -EIO;
	}
	lwm_engine_kick(g->e);
	return 0;
}

static void resolved(void *ud, int err, const struct sockaddr *sa, socklen_t len)
{
	struct lwm_get *g = ud;

	g->resolving = NULL;
	if (err < 0 || len > sizeof(g->addr.addr)) {
		g->queued = false;
		g->ops.failed(g->ud, -EHOSTUNREACH);
		return;
	}
	coap_address_init(&g->addr);
	g->addr.size = len;
	memcpy(&g->addr.addr.sa, sa, len);
	g->have_addr = true;
	if (g->queued) {
		int r;
		g->queued = false;
		r = send_block(g, g->q_num, g->q_szx, g->q_size);
		if (r < 0)
			g->ops.failed(g->ud, r == -ENOMEM ? -ECONNRESET : r);
	}
}

int lwm_get_block(struct lwm_get *g, uint32_t num, unsigned szx, bool ask_size)
{
	struct lwm_engine *e = g->e;
	int r;

	if (num > 0xFFFFF || szx > 6)
		return -EFBIG; /* past what a Block2 option can number */
	if (!g->have_addr) {
		r = lwm_uri_numeric(g->host, g->port, &g->addr);
		if (r == -EAGAIN && !e->resolver.start)
			r = lwm_uri_lookup(g->host, g->port, &g->addr); /* tools, tests */
		if (r == -EAGAIN) {
			g->queued = true;
			g->q_num = num;
			g->q_szx = szx;
			g->q_size = ask_size;
			if (g->resolving)
				return 0;
			return e->resolver.start(e->resolver.ctx, g->host, g->port, resolved, g,
						 &g->resolving);
		}
		if (r < 0)
			return r;
		g->have_addr = true;
	}
	return send_block(g, num, szx, ask_size);
}

void lwm_get_reset(struct lwm_get *g)
{
	g->waiting = false;
	if (!g->session)
		return;
	coap_session_set_app_data(g->session, NULL);
	coap_session_release(g->session);
	g->session = NULL;
}

void lwm_get_free(struct lwm_get *g)
{
	if (!g)
		return;
	lwm_get_reset(g);
	if (g->resolving)
		g->e->resolver.cancel(g->e->resolver.ctx, g->resolving);
	coap_delete_optlist(g->opts);
	lwm_security_free(g->sec);
	free(g);
}

/* The handshake failed: say why, when the credentials' checks know. */
static void log_refused(struct lwm_get *g, coap_session_t *s)
{
	const char *why = g->sec ? lwm_security_failure(g->sec, s) : NULL;

	log_warn(NULL, "package download from %s:%s: %s", g->host, g->port,
		 why ? why : "DTLS handshake failed");
}

/* ---- engine.c's side ------------------------------------------------------ */

static bool token_is_ours(const struct lwm_get *g, coap_bin_const_t t)
{
	return g->waiting && t.length == g->token_len && memcmp(t.s, g->token, t.length) == 0;
}

void lwm_get_on_response(coap_session_t *s, const coap_pdu_t *rcvd)
{
	struct lwm_get *g = get_of(s);
	struct lwm_get_answer a = {0};
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	coap_block_t b;
	coap_pdu_code_t code;

	if (!g || s != g->session || !token_is_ours(g, coap_pdu_get_token(rcvd)))
		return; /* stale: an answer to an earlier request */
	code = coap_pdu_get_code(rcvd);
	g->waiting = false;
	a.code = COAP_RESPONSE_CLASS(code) * 100 + (code & 0x1f);
	if (coap_get_block(rcvd, COAP_OPTION_BLOCK2, &b)) {
		a.has_block2 = true;
		a.num = b.num;
		a.more = b.m;
		a.szx = b.szx;
	}
	if ((opt = coap_check_option(rcvd, COAP_OPTION_SIZE2, &oi)) && coap_opt_length(opt) <= 8) {
		a.has_size2 = true;
		a.size2 = 0;
		for (size_t i = 0; i < coap_opt_length(opt); i++)
			a.size2 = a.size2 << 8 | coap_opt_value(opt)[i];
	}
	if (!coap_get_data(rcvd, &a.len, &a.data)) {
		a.data = NULL;
		a.len = 0;
	}
	g->ops.answer(g->ud, &a);
}

void lwm_get_on_nack(coap_session_t *s, const coap_pdu_t *sent, coap_nack_reason_t reason)
{
	struct lwm_get *g = get_of(s);
	int err;

	if (!g || s != g->session || !sent || !token_is_ours(g, coap_pdu_get_token(sent)))
		return;
	g->waiting = false;
	switch (reason) {
	case COAP_NACK_TOO_MANY_RETRIES:
		err = -ETIMEDOUT;
		break;
	case COAP_NACK_TLS_FAILED:
		/* A handshake that never completed: the credentials (or no
		 * DTLS server there at all, which looks the same). */
		err = g->connected ? -ECONNRESET : -EACCES;
		break;
	default:
		err = -ECONNRESET;
		break;
	}
	if (err == -EACCES)
		log_refused(g, s);
	g->ops.failed(g->ud, err);
}

void lwm_get_on_event(coap_session_t *s, coap_event_t ev)
{
	struct lwm_get *g = get_of(s);

	if (!g || s != g->session)
		return;
	if (ev == COAP_EVENT_DTLS_CONNECTED) {
		g->connected = true;
		return;
	}
	if ((ev == COAP_EVENT_DTLS_CLOSED || ev == COAP_EVENT_DTLS_ERROR) && g->waiting) {
		g->waiting = false;
		if (!g->connected)
			log_refused(g, s);
		g->ops.failed(g->ud, g->connected ? -ECONNRESET : -EACCES);
	}
}
