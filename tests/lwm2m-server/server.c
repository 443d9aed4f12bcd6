/* The test LwM2M server on libcoap: registration interface, requests to
 * registered clients over the session they registered from, observations,
 * lifetime expiry and the demo's periodic reads. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "links.h"
#include "lwm2m/codec.h"
#include "output.h"
#include "send.h"
#include "server.h"

struct reg {
	struct reg *next;
	char *ep;
	char id[16];	   /* the <id> of /rd/<id> */
	char location[24]; /* "/rd/<id>" */
	char lwm2m[8];
	char binding[8];
	bool queue;
	unsigned long lt;
	char *links; /* payload text, owned */
	struct lnk_info objs;
	coap_session_t *sess; /* referenced */
	uint64_t expires_ms;
	bool demo_dev_due; /* demo: read /3/0 on the next pass */
	bool demo_tlv;	   /* demo: client refused SenML JSON */
	bool bootstrap;	   /* a Bootstrap-Request, not a registration */
	int pct;	   /* bootstrap: the client's preferred format, or -1 */
	bool bs_auto_due;  /* bootstrap: run the automatic sequence */
};

enum req_state { RQ_WAIT, RQ_OBSERVING, RQ_CANCEL };

struct req {
	struct req *next;
	uint8_t tok[8];
	size_t toklen;
	char *id, *ep, *path;
	const char *op;
	int accept;
	bool observe; /* the request asked to observe */
	bool demo;
	enum req_state state;
	char *obs_id;	      /* RQ_CANCEL: the observation's id */
	unsigned seq;	      /* notifications seen */
	uint64_t deadline_ms; /* RQ_WAIT, RQ_CANCEL: give up on the answer */
	coap_session_t *sess; /* referenced */
	/* A push (srv_push): the whole body, sent one Block1 block at a
	 * time, each after the 2.31 of the one before. */
	uint8_t *body;
	size_t body_len, sent, cut;
	unsigned szx;
	uint32_t num;
	bool size1;
};

static struct {
	struct srv_config cfg;
	coap_context_t *ctx;
	struct reg *regs;
	struct req *reqs;
	unsigned next_id;
	uint64_t next_demo_ms;
} S;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void peer_str(coap_session_t *s, char *buf, size_t size)
{
	const coap_address_t *a = coap_session_get_addr_remote(s);
	memset(buf, 0, size);
	if (!a || !coap_print_addr(a, (unsigned char *)buf, size - 1))
		snprintf(buf, size, "?");
}

static void code_str(coap_pdu_code_t code, char buf[8])
{
	snprintf(buf, 8, "%u.%02u", (unsigned)COAP_RESPONSE_CLASS(code), (unsigned)(code & 0x1f));
}

/* ---- registrations ---- */

static struct reg *reg_by_ep(const char *ep)
{
	for (struct reg *g = S.regs; g; g = g->next)
		if (!strcmp(g->ep, ep))
			return g;
	return NULL;
}

static struct reg *reg_by_id(const char *id, size_t len)
{
	for (struct reg *g = S.regs; g; g = g->next)
		if (strlen(g->id) == len && !memcmp(g->id, id, len))
			return g;
	return NULL;
}

static void req_remove(struct req *r);

/* A registration's end also ends its observations: later notifications
 * get a RST, as from a server that lost them. */
static void drop_observations(const char *ep)
{
	for (struct req *r = S.reqs, *next; r; r = next) {
		next = r->next;
		if (r->state == RQ_OBSERVING && !strcmp(r->ep, ep))
			req_remove(r);
	}
}

static void reg_free(struct reg *g)
{
	drop_observations(g->ep);
	if (g->sess)
		coap_session_release(g->sess);
	lnk_free(&g->objs);
	free(g->links);
	free(g->ep);
	free(g);
}

static void reg_unlink(struct reg *g)
{
	for (struct reg **pp = &S.regs; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			return;
		}
}

static void reg_set_session(struct reg *g, coap_session_t *s)
{
	if (g->sess == s)
		return;
	if (g->sess)
		coap_session_release(g->sess);
	g->sess = coap_session_reference(s);
	/* let tests make timeouts fast */
	if (S.cfg.ack_timeout_ms) {
		coap_fixed_point_t t = {(uint16_t)(S.cfg.ack_timeout_ms / 1000),
					(uint16_t)(S.cfg.ack_timeout_ms % 1000)};
		coap_session_set_ack_timeout(s, t);
	}
	if (S.cfg.max_retransmit >= 0)
		coap_session_set_max_retransmit(s, (uint16_t)S.cfg.max_retransmit);
}

/* Registration query parameters; strings point into the PDU's options. */
struct reg_params {
	const char *ep, *lt, *lwm2m, *b, *sms, *pct;
	size_t ep_len, lt_len, lwm2m_len, b_len, sms_len, pct_len;
	bool queue;
};

static void collect_params(const coap_pdu_t *req, struct reg_params *p)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *o;

	memset(p, 0, sizeof(*p));
	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
	coap_option_iterator_init(req, &it, &f);
	while ((o = coap_option_next(&it))) {
		const char *v = (const char *)coap_opt_value(o);
		size_t len = coap_opt_length(o);
		const char *eq = memchr(v, '=', len);
		size_t klen = eq ? (size_t)(eq - v) : len;
		const char *val = eq ? eq + 1 : v + len;
		size_t vlen = eq ? len - klen - 1 : 0;

#define PARAM(name, field)                                                                         \
	if (klen == sizeof(name) - 1 && !memcmp(v, name, klen)) {                                  \
		p->field = val;                                                                    \
		p->field##_len = vlen;                                                             \
		continue;                                                                          \
	}
		PARAM("ep", ep)
		PARAM("lt", lt)
		PARAM("lwm2m", lwm2m)
		PARAM("b", b)
		PARAM("sms", sms)
		PARAM("pct", pct)
#undef PARAM
		if (klen == 1 && v[0] == 'Q')
			p->queue = true;
		/* other parameters (d, pid, ...) are accepted and ignored */
	}
}

/* zero_ok: LwM2M 1.2, where a lifetime of 0 is infinite. */
static int parse_lt(const char *s, size_t len, unsigned long *out, bool zero_ok)
{
	unsigned long v = 0;

	if (!len || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if ((v == 0 && !zero_ok) || v > UINT32_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool valid_binding(const char *s, size_t len)
{
	if (!len || len > 4)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("UQSNT", s[i]))
			return false;
	return true;
}

/* 0 when acceptable, else the CoAP code to answer with. */
static unsigned check_version(const char *s, size_t len)
{
	static const struct {
		const char *v;
		unsigned bit;
	} known[] = {{"1.0", SRV_V1_0}, {"1.1", SRV_V1_1}, {"1.2", SRV_V1_2}};

	/* no lwm2m= at all means a 1.0 client */
	if (!s) {
		s = "1.0";
		len = 3;
	}
	if (len < 3 || len > 7 || s[0] < '0' || s[0] > '9' || s[1] != '.')
		return 400;
	for (size_t i = 2; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 400;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (len == 3 && !memcmp(s, known[i].v, 3))
			return (S.cfg.versions & known[i].bit) ? 0 : 412;
	return 412;
}

static int content_format(const coap_pdu_t *pdu)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);

	if (!o)
		return -1;
	return (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

static void reject(coap_session_t *s, coap_pdu_t *resp, const char *op, const char *location,
		   unsigned code, const char *msg)
{
	char peer[64], cs[8];
	json_t *ev = out_event("rejected");

	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
	coap_add_data(resp, strlen(msg), (const uint8_t *)msg);
	peer_str(s, peer, sizeof(peer));
	code_str(COAP_RESPONSE_CODE(code), cs);
	json_object_set_new(ev, "op", json_string(op));
	if (location)
		json_object_set_new(ev, "location", out_string(location, strlen(location)));
	json_object_set_new(ev, "code", json_string(cs));
	json_object_set_new(ev, "msg", json_string(msg));
	json_object_set_new(ev, "peer", json_string(peer));
	out_emit(ev);
}

/* Fetch the link payload.  0, or a CoAP code with *msg set. */
static unsigned get_links(const coap_pdu_t *req, const char **data, size_t *len,
			  struct lnk_info *info, const char **msg)
{
	size_t off, total;
	const uint8_t *p = NULL;
	int ct = content_format(req);

	*len = 0;
	*data = NULL;
	if (!coap_get_data_large(req, len, &p, &off, &total) || *len == 0)
		return 0;
	*data = (const char *)p;
	if (ct >= 0 && ct != LWM_FMT_LINK) {
		*msg = "payload must be application/link-format (40)";
		return 415;
	}
	int rc = lnk_parse(*data, *len, info);
	if (rc < 0) {
		lnk_free(info);
		*msg = rc == -ENOMEM ? "out of memory" : "payload is not CoRE link-format";
		return rc == -ENOMEM ? 500 : 400;
	}
	return 0;
}

/* Copy with a terminating NUL; payloads may hold NUL bytes themselves. */
static char *dup_bytes(const char *p, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

static json_t *objects_json(const struct lnk_info *info)
{
	json_t *a = json_array();
	char buf[32];

	for (size_t i = 0; i < info->nobj; i++)
		if (lwm_path_format(&info->objs[i].path, buf, sizeof(buf)) > 0)
			json_array_append_new(a, json_string(buf));
	return a;
}

/* "secure" and, for PSK, the identity the client used. */
static void add_security(json_t *ev, coap_session_t *s)
{
	const coap_bin_const_t *id;

	if (coap_session_get_proto(s) != COAP_PROTO_DTLS)
		return;
	json_object_set_new(ev, "secure", json_true());
	id = coap_session_get_psk_identity(s);
	if (id && id->length)
		json_object_set_new(ev, "identity", out_string((const char *)id->s, id->length));
}

/* --refuse-register: why this link payload is refused, or NULL. */
static const char *refusal(const char *links, size_t len, const struct lnk_info *info)
{
	switch (S.cfg.refuse_register) {
	case SRV_REFUSE_ALL:
		return "registration refused (--refuse-register all)";
	case SRV_REFUSE_STRICT:
		/* As servers do that read ct= as one number: no quotes, no list. */
		if (memmem(links, len, "ct=\"", 4))
			return "ct must be one number, unquoted";
		if (info->root_ct) {
			size_t n = strlen(info->root_ct);
			if (!n || n > 5 || strspn(info->root_ct, "0123456789") != n)
				return "ct must be one number, unquoted";
		}
		return NULL;
	case SRV_REFUSE_PLAIN:
		if (memchr(links, ';', len))
			return "link attributes not accepted";
		return NULL;
	default:
		return NULL;
	}
}

static void hnd_register(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			 const coap_string_t *query, coap_pdu_t *resp)
{
	struct reg_params p;
	struct lnk_info info = {0};
	unsigned long lt = 86400; /* the spec's default lifetime */
	const char *links = NULL, *msg = NULL;
	size_t links_len;
	unsigned code;
	char peer[64];

	collect_params(req, &p);
	code = 400;
	if (!p.ep || !p.ep_len || p.ep_len > 255)
		msg = "missing or bad ep";
	else if (p.lt && parse_lt(p.lt, p.lt_len, &lt,
				  p.lwm2m_len == 3 && !memcmp(p.lwm2m, "1.2", 3)) < 0)
		msg = "bad lt";
	else if (p.b && !valid_binding(p.b, p.b_len))
		msg = "bad b";
	else if ((code = check_version(p.lwm2m, p.lwm2m_len)))
		msg = code == 412 ? "LwM2M version not supported" : "bad lwm2m";
	else if (!(code = get_links(req, &links, &links_len, &info, &msg)) && !links) {
		code = 400;
		msg = "registration needs a link payload";
	} else if (!code && (msg = refusal(links, links_len, &info))) {
		code = 400;
	}
	if (msg) {
		lnk_free(&info);
		reject(s, resp, "register", NULL, code, msg);
		return;
	}

	struct reg *g = calloc(1, sizeof(*g));
	if (!g || !(g->ep = strndup(p.ep, p.ep_len)) || !(g->links = dup_bytes(links, links_len))) {
		if (g) {
			free(g->ep);
			free(g);
		}
		lnk_free(&info);
		reject(s, resp, "register", NULL, 500, "out of memory");
		return;
	}
	/* same endpoint again: the new registration replaces the old one */
	struct reg *old = reg_by_ep(g->ep);
	if (old) {
		reg_unlink(old);
		reg_free(old);
	}
	snprintf(g->id, sizeof(g->id), "%u", ++S.next_id);
	snprintf(g->location, sizeof(g->location), "/rd/%s", g->id);
	snprintf(g->lwm2m, sizeof(g->lwm2m), "%.*s", p.lwm2m ? (int)p.lwm2m_len : 3,
		 p.lwm2m ? p.lwm2m : "1.0");
	snprintf(g->binding, sizeof(g->binding), "%.*s", p.b ? (int)p.b_len : 1, p.b ? p.b : "U");
	g->queue = p.queue || memchr(g->binding, 'Q', strlen(g->binding));
	g->lt = lt;
	g->objs = info;
	g->expires_ms = lt ? now_ms() + lt * 1000u : UINT64_MAX; /* 0: infinite */
	g->demo_dev_due = S.cfg.demo;
	reg_set_session(g, s);
	g->next = S.regs;
	S.regs = g;

	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CREATED);
	coap_add_option(resp, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *)"rd");
	coap_add_option(resp, COAP_OPTION_LOCATION_PATH, strlen(g->id), (const uint8_t *)g->id);

	json_t *ev = out_event("register");
	peer_str(s, peer, sizeof(peer));
	json_object_set_new(ev, "ep", out_string(g->ep, strlen(g->ep)));
	json_object_set_new(ev, "location", json_string(g->location));
	json_object_set_new(ev, "lt", json_integer((json_int_t)g->lt));
	json_object_set_new(ev, "lwm2m", json_string(g->lwm2m));
	json_object_set_new(ev, "b", json_string(g->binding));
	if (g->queue)
		json_object_set_new(ev, "queue", json_true());
	if (p.sms)
		json_object_set_new(ev, "sms", out_string(p.sms, p.sms_len));
	json_object_set_new(ev, "links", out_string(g->links, links_len));
	json_object_set_new(ev, "objects", objects_json(&g->objs));
	if (strcmp(g->objs.root, "/"))
		json_object_set_new(ev, "root", out_string(g->objs.root, strlen(g->objs.root)));
	json_object_set_new(ev, "peer", json_string(peer));
	add_security(ev, s);
	out_emit(ev);
}

/* POST /bs?ep=..[&pct=..]: a client asks to be bootstrapped.  It is kept
 * like a registration (same endpoint table), so that the request commands
 * reach it; the automatic mode provisions it right after the answer. */
static void hnd_bootstrap(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			  const coap_string_t *query, coap_pdu_t *resp)
{
	struct reg_params p;
	unsigned long pct = 0;
	char peer[64];

	collect_params(req, &p);
	if (!p.ep || !p.ep_len || p.ep_len > 255) {
		reject(s, resp, "bootstrap", NULL, 400, "missing or bad ep");
		return;
	}
	if (p.pct && (parse_lt(p.pct, p.pct_len, &pct, false) < 0 || pct > 65535)) {
		reject(s, resp, "bootstrap", NULL, 400, "bad pct");
		return;
	}
	struct reg *g = calloc(1, sizeof(*g));
	if (!g || !(g->ep = strndup(p.ep, p.ep_len)) || !(g->links = strdup(""))) {
		if (g)
			free(g->ep);
		free(g);
		reject(s, resp, "bootstrap", NULL, 500, "out of memory");
		return;
	}
	struct reg *old = reg_by_ep(g->ep);
	if (old) {
		reg_unlink(old);
		reg_free(old);
	}
	g->bootstrap = true;
	g->pct = p.pct ? (int)pct : -1;
	snprintf(g->location, sizeof(g->location), "/bs");
	snprintf(g->lwm2m, sizeof(g->lwm2m), "%s", p.pct ? "1.1" : "1.0");
	snprintf(g->binding, sizeof(g->binding), "U");
	g->expires_ms = UINT64_MAX;
	g->bs_auto_due = S.cfg.bs_uri != NULL;
	reg_set_session(g, s);
	g->next = S.regs;
	S.regs = g;
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);

	json_t *ev = out_event("bootstrap-request");
	peer_str(s, peer, sizeof(peer));
	json_object_set_new(ev, "ep", out_string(g->ep, strlen(g->ep)));
	if (g->pct >= 0)
		json_object_set_new(ev, "pct", json_integer(g->pct));
	json_object_set_new(ev, "peer", json_string(peer));
	add_security(ev, s);
	out_emit(ev);
}

static void do_update(struct reg *g, coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp)
{
	struct reg_params p;
	struct lnk_info info = {0};
	unsigned long lt = g->lt;
	const char *links = NULL, *msg = NULL;
	size_t links_len;
	unsigned code;
	char peer[64];

	collect_params(req, &p);
	code = 400;
	if (p.lt && parse_lt(p.lt, p.lt_len, &lt, strcmp(g->lwm2m, "1.2") == 0) < 0)
		msg = "bad lt";
	else if (p.b && !valid_binding(p.b, p.b_len))
		msg = "bad b";
	else
		code = get_links(req, &links, &links_len, &info, &msg);
	if (msg) {
		reject(s, resp, "update", g->location, code, msg);
		return;
	}
	if (links) {
		char *copy = dup_bytes(links, links_len);
		if (!copy) {
			lnk_free(&info);
			reject(s, resp, "update", g->location, 500, "out of memory");
			return;
		}
		free(g->links);
		g->links = copy;
		lnk_free(&g->objs);
		g->objs = info;
	}
	g->lt = lt;
	if (p.b)
		snprintf(g->binding, sizeof(g->binding), "%.*s", (int)p.b_len, p.b);
	if (p.queue || (p.b && memchr(p.b, 'Q', p.b_len)))
		g->queue = true;
	g->expires_ms = lt ? now_ms() + lt * 1000u : UINT64_MAX; /* 0: infinite */
	/* the client may come back from another address (NAT rebinding) */
	reg_set_session(g, s);
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);

	json_t *ev = out_event("update");
	peer_str(s, peer, sizeof(peer));
	json_object_set_new(ev, "ep", out_string(g->ep, strlen(g->ep)));
	json_object_set_new(ev, "location", json_string(g->location));
	if (p.lt)
		json_object_set_new(ev, "lt", json_integer((json_int_t)g->lt));
	if (p.b)
		json_object_set_new(ev, "b", json_string(g->binding));
	if (p.sms)
		json_object_set_new(ev, "sms", out_string(p.sms, p.sms_len));
	if (links) {
		json_object_set_new(ev, "links", out_string(g->links, links_len));
		json_object_set_new(ev, "objects", objects_json(&g->objs));
	}
	json_object_set_new(ev, "peer", json_string(peer));
	out_emit(ev);
}

static void emit_gone(const char *event, struct reg *g)
{
	json_t *ev = out_event(event);
	json_object_set_new(ev, "ep", out_string(g->ep, strlen(g->ep)));
	json_object_set_new(ev, "location", json_string(g->location));
	out_emit(ev);
}

/* POST /dp: a client's Send.  Answered 2.04 unless --no-send (4.04). */
static void do_send(coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp)
{
	json_t *ev = out_event("send");
	const uint8_t *data = NULL;
	size_t len = 0, off, total;
	int ct = content_format(req);
	char peer[64];

	for (struct reg *g = S.regs; g; g = g->next)
		if (g->sess == s) {
			json_object_set_new(ev, "ep", out_string(g->ep, strlen(g->ep)));
			break;
		}
	coap_get_data_large(req, &len, &data, &off, &total);
	peer_str(s, peer, sizeof(peer));
	json_object_set_new(ev, "ct", json_integer(ct));
	json_object_set_new(ev, "peer", json_string(peer));
	if (S.cfg.no_send) {
		json_object_set_new(ev, "code", json_string("4.04"));
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
	} else {
		json_object_set_new(ev, "code", json_string("2.04"));
		send_add_records(ev, "records", ct, data, len);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
	}
	out_emit(ev);
}

/* --serve: GET /NAME answered with the file DIR/NAME one block at a time
 * (RFC 7959 Block2, at most 2^(serve_szx+4) bytes a block, a smaller size
 * than asked renumbering the block as 2.4 says), read from the file for
 * each request.  A transfer is a thousand requests: they are counted (the
 * "served" command tells), and only an answer other than 2.05 is an event
 * ("serve"). */
static struct {
	uint64_t requests, block0;
	long first_block, last_block;
	unsigned last_szx, peer_changes;
	char first_peer[64], last_peer[64];
} SV = {.first_block = -1, .last_block = -1};

static void serve_count(const char *peer, bool asked, const coap_block_t *b, unsigned szx)
{
	long num = asked ? (long)b->num : 0;

	if (SV.requests++ == 0) {
		snprintf(SV.first_peer, sizeof(SV.first_peer), "%s", peer);
		snprintf(SV.last_peer, sizeof(SV.last_peer), "%s", peer);
		SV.first_block = num;
	}
	if (strcmp(SV.last_peer, peer) != 0) {
		SV.peer_changes++;
		snprintf(SV.last_peer, sizeof(SV.last_peer), "%s", peer);
	}
	if (num == 0)
		SV.block0++;
	SV.last_block = num;
	SV.last_szx = szx;
}

void srv_served(void)
{
	json_t *ev = out_event("served");

	json_object_set_new(ev, "requests", json_integer((json_int_t)SV.requests));
	json_object_set_new(ev, "block0", json_integer((json_int_t)SV.block0));
	json_object_set_new(ev, "first_block", json_integer(SV.first_block));
	json_object_set_new(ev, "last_block", json_integer(SV.last_block));
	json_object_set_new(ev, "last_szx", json_integer(SV.last_szx));
	json_object_set_new(ev, "peer_changes", json_integer(SV.peer_changes));
	json_object_set_new(ev, "first_peer", json_string(SV.first_peer));
	json_object_set_new(ev, "last_peer", json_string(SV.last_peer));
	out_emit(ev);
}

static void serve_file(coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp,
		       const coap_string_t *path)
{
	char peer[64], code[8], file[4096];
	uint8_t buf[1024], opt[8];
	coap_opt_iterator_t oi;
	coap_block_t b = {.num = 0, .szx = 6};
	bool asked = coap_get_block(req, COAP_OPTION_BLOCK2, &b);
	unsigned szx = b.szx < S.cfg.serve_szx ? b.szx : S.cfg.serve_szx;
	uint64_t off = (uint64_t)b.num << (b.szx + 4), size;
	size_t bs = (size_t)1 << (szx + 4);
	ssize_t n = -1;
	struct stat st;
	int fd = -1;

	peer_str(s, peer, sizeof(peer));
	serve_count(peer, asked, &b, asked ? b.szx : szx);
	/* One plain name: nothing outside DIR. */
	if (path->length && !memchr(path->s, '/', path->length) && path->s[0] != '.') {
		snprintf(file, sizeof(file), "%s/%.*s", S.cfg.serve_dir, (int)path->length,
			 (const char *)path->s);
		fd = open(file, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
	} else if ((size = (uint64_t)st.st_size, off > size) || (off == size && off > 0)) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(402)); /* no such block */
	} else if ((n = pread(fd, buf, bs, (off_t)off)) < 0) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
	} else {
		bool more = off + (uint64_t)n < size;
		uint32_t num = (uint32_t)(off >> (szx + 4));
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
		coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
				coap_encode_var_safe(opt, sizeof(opt), 42), opt);
		if (asked || more)
			coap_add_option(resp, COAP_OPTION_BLOCK2,
					coap_encode_var_safe(opt, sizeof(opt),
							     (num << 4) | (more ? 8u : 0u) | szx),
					opt);
		if (coap_check_option(req, COAP_OPTION_SIZE2, &oi) || (more && off == 0))
			coap_add_option(resp, COAP_OPTION_SIZE2,
					coap_encode_var_safe8(opt, sizeof(opt), size), opt);
		coap_add_data(resp, (size_t)n, buf);
	}
	if (fd >= 0)
		close(fd);
	if (coap_pdu_get_code(resp) != COAP_RESPONSE_CODE(205)) {
		json_t *ev = out_event("serve");
		json_object_set_new(ev, "path", json_stringn((const char *)path->s, path->length));
		json_object_set_new(ev, "peer", json_string(peer));
		code_str(coap_pdu_get_code(resp), code);
		json_object_set_new(ev, "code", json_string(code));
		out_emit(ev);
	}
}

/* Everything not matched by a resource: /rd/<id> Update and De-register. */
static void hnd_unknown(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			const coap_string_t *query, coap_pdu_t *resp)
{
	coap_string_t *path = coap_get_uri_path(req);
	coap_pdu_code_t method = coap_pdu_get_code(req);
	const char *op = method == COAP_REQUEST_CODE_DELETE ? "deregister" : "update";
	char loc[300];
	struct reg *g = NULL;

	snprintf(loc, sizeof(loc), "/%.*s", path ? (int)path->length : 0,
		 path ? (const char *)path->s : "");
	if (method == COAP_REQUEST_CODE_POST && strcmp(loc, "/dp") == 0) {
		coap_delete_string(path);
		do_send(s, req, resp);
		return;
	}
	if (method == COAP_REQUEST_CODE_GET && S.cfg.serve_dir && path) {
		serve_file(s, req, resp, path);
		coap_delete_string(path);
		return;
	}
	if (path && path->length > 3 && !memcmp(path->s, "rd/", 3))
		g = reg_by_id((const char *)path->s + 3, path->length - 3);
	coap_delete_string(path);

	if (method != COAP_REQUEST_CODE_POST && method != COAP_REQUEST_CODE_DELETE) {
		reject(s, resp, "request", loc, g ? 405 : 404,
		       g ? "method not allowed" : "not found");
		return;
	}
	if (!g) {
		reject(s, resp, op, loc, 404, "unknown registration");
		return;
	}
	if (method == COAP_REQUEST_CODE_POST) {
		do_update(g, s, req, resp);
		return;
	}
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_DELETED);
	reg_unlink(g);
	emit_gone("deregister", g);
	reg_free(g);
}

/* ---- requests to clients ---- */

static void req_free(struct req *r)
{
	if (r->sess)
		coap_session_release(r->sess);
	free(r->id);
	free(r->ep);
	free(r->path);
	free(r->obs_id);
	free(r->body);
	free(r);
}

static void req_remove(struct req *r)
{
	for (struct req **pp = &S.reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	req_free(r);
}

static struct req *req_by_token(coap_session_t *s, coap_bin_const_t tok)
{
	for (struct req *r = S.reqs; r; r = r->next)
		if (r->sess == s && r->toklen == tok.length && !memcmp(r->tok, tok.s, tok.length))
			return r;
	return NULL;
}

static int add_uint_opt(coap_optlist_t **ol, uint16_t num, unsigned v)
{
	uint8_t buf[4];
	unsigned n = coap_encode_var_safe(buf, sizeof(buf), v);
	coap_optlist_t *o = coap_new_optlist(num, n, buf);
	return o && coap_insert_optlist(ol, o) ? 0 : -ENOMEM;
}

/* Uri-Path segments from "/a/b", Uri-Query from "?x=1&y". */
static int add_path_opts(coap_optlist_t **ol, const char *path)
{
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	size_t i = 0;

	if (plen == 0 || path[0] != '/')
		return -EINVAL;
	while (i < plen) {
		while (i < plen && path[i] == '/')
			i++;
		size_t start = i;
		while (i < plen && path[i] != '/')
			i++;
		if (i == start)
			break;
		if (i - start > 255)
			return -EINVAL;
		coap_optlist_t *o = coap_new_optlist(COAP_OPTION_URI_PATH, i - start,
						     (const uint8_t *)path + start);
		if (!o || !coap_insert_optlist(ol, o))
			return -ENOMEM;
	}
	while (q && *q) {
		q++;
		size_t n = strcspn(q, "&");
		if (n > 255)
			return -EINVAL;
		if (n) {
			coap_optlist_t *o =
			    coap_new_optlist(COAP_OPTION_URI_QUERY, n, (const uint8_t *)q);
			if (!o || !coap_insert_optlist(ol, o))
				return -ENOMEM;
		}
		q += n;
	}
	return 0;
}

static void release_payload(coap_session_t *s, void *p)
{
	free(p);
}

/* Build and send one request; tok/toklen reuse a token (observe cancel). */
static int send_pdu(coap_session_t *s, const struct srv_req_spec *sp, const uint8_t *tok,
		    size_t toklen, uint8_t out_tok[8], size_t *out_toklen)
{
	coap_optlist_t *ol = NULL;
	coap_pdu_t *pdu;
	int rc;

	pdu = coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t)sp->method, s);
	if (!pdu)
		return -ENOMEM;
	if (tok) {
		memcpy(out_tok, tok, toklen);
		*out_toklen = toklen;
	} else {
		coap_session_new_token(s, out_toklen, out_tok);
	}
	if (!coap_add_token(pdu, *out_toklen, out_tok)) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = add_path_opts(&ol, sp->path);
	if (!rc && sp->observe >= 0)
		rc = add_uint_opt(&ol, COAP_OPTION_OBSERVE, (unsigned)sp->observe);
	if (!rc && sp->ct >= 0)
		rc = add_uint_opt(&ol, COAP_OPTION_CONTENT_FORMAT, (unsigned)sp->ct);
	if (!rc && sp->accept >= 0)
		rc = add_uint_opt(&ol, COAP_OPTION_ACCEPT, (unsigned)sp->accept);
	if (rc)
		goto fail;
	if (ol && !coap_add_optlist_pdu(pdu, &ol)) {
		rc = -ENOMEM;
		goto fail;
	}
	coap_delete_optlist(ol);
	ol = NULL;
	if (sp->len) {
		/* libcoap keeps the body until the last Block1 went out */
		uint8_t *copy = malloc(sp->len);
		if (!copy) {
			rc = -ENOMEM;
			goto fail;
		}
		memcpy(copy, sp->payload, sp->len);
		if (!coap_add_data_large_request(s, pdu, sp->len, copy, release_payload, copy)) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (coap_send(s, pdu) == COAP_INVALID_MID)
		return -EIO;
	return 0;
fail:
	coap_delete_optlist(ol);
	coap_delete_pdu(pdu);
	return rc;
}

static int request_on(struct reg *g, const struct srv_req_spec *sp, bool demo)
{
	struct req *r = calloc(1, sizeof(*r));
	int rc;

	if (!r || !(r->id = strdup(sp->id)) || !(r->ep = strdup(g->ep)) ||
	    !(r->path = strdup(sp->path))) {
		if (r)
			req_free(r);
		out_error(sp->id, sp->ep, "out of memory");
		return -ENOMEM;
	}
	r->op = sp->op;
	r->accept = sp->accept;
	r->observe = sp->observe == 0;
	r->demo = demo;
	rc = send_pdu(g->sess, sp, NULL, 0, r->tok, &r->toklen);
	if (rc < 0) {
		req_free(r);
		out_error(sp->id, sp->ep, "%s", rc == -EINVAL ? "bad path" : "cannot send request");
		return rc;
	}
	r->sess = coap_session_reference(g->sess);
	r->deadline_ms = now_ms() + (uint64_t)S.cfg.response_timeout * 1000u;
	r->next = S.reqs;
	S.reqs = r;
	return 0;
}

/* The next block of a push, with the request's token. */
static int push_block(struct req *r)
{
	size_t bs = (size_t)16 << r->szx, n = r->body_len - r->sent < bs ? r->body_len - r->sent : bs;
	bool more = r->sent + n < r->body_len;
	coap_optlist_t *ol = NULL;
	coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_PUT, r->sess);
	int rc;

	if (!pdu)
		return -ENOMEM;
	rc = coap_add_token(pdu, r->toklen, r->tok) ? add_path_opts(&ol, r->path) : -ENOMEM;
	if (!rc)
		rc = add_uint_opt(&ol, COAP_OPTION_CONTENT_FORMAT, 42);
	if (!rc)
		rc = add_uint_opt(&ol, COAP_OPTION_BLOCK1, r->num << 4 | (more ? 8u : 0u) | r->szx);
	if (!rc && r->size1 && r->num == 0)
		rc = add_uint_opt(&ol, COAP_OPTION_SIZE1, (unsigned)r->body_len);
	if (!rc && !coap_add_optlist_pdu(pdu, &ol))
		rc = -ENOMEM;
	coap_delete_optlist(ol);
	if (!rc && n && !coap_add_data(pdu, n, r->body + r->sent))
		rc = -ENOMEM;
	if (rc) {
		coap_delete_pdu(pdu);
		return rc;
	}
	if (coap_send(r->sess, pdu) == COAP_INVALID_MID)
		return -EIO;
	r->sent += n;
	r->num++;
	return 0;
}

int srv_push(const char *id, const char *ep, const char *path, uint8_t *body, size_t len,
	     unsigned szx, size_t cut, bool size1)
{
	struct reg *g = reg_by_ep(ep);
	struct req *r;

	if (!g) {
		free(body);
		out_error(id, ep, "unknown endpoint");
		return -ENOENT;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->id = strdup(id)) || !(r->ep = strdup(g->ep)) || !(r->path = strdup(path))) {
		free(body);
		if (r)
			req_free(r);
		out_error(id, ep, "out of memory");
		return -ENOMEM;
	}
	r->op = "push";
	r->accept = -1;
	r->body = body;
	r->body_len = len;
	r->szx = szx;
	r->cut = cut;
	r->size1 = size1;
	r->sess = coap_session_reference(g->sess);
	coap_session_new_token(g->sess, &r->toklen, r->tok);
	if (push_block(r) < 0) {
		req_free(r);
		out_error(id, ep, "cannot send request");
		return -EIO;
	}
	r->deadline_ms = now_ms() + (uint64_t)S.cfg.response_timeout * 1000u;
	r->next = S.reqs;
	S.reqs = r;
	return 0;
}

int srv_request(const struct srv_req_spec *sp)
{
	struct reg *g = reg_by_ep(sp->ep);

	if (!g) {
		out_error(sp->id, sp->ep, "unknown endpoint");
		return -ENOENT;
	}
	return request_on(g, sp, false);
}

static int put_instance(struct reg *g, const char *id, const char *path,
			const struct lwm_path *base, const struct lwm_record *recs, size_t n)
{
	int fmt = g->pct >= 0 && lwm_format_can_encode((uint16_t)g->pct) && g->pct != LWM_FMT_TEXT &&
			  g->pct != LWM_FMT_OPAQUE && g->pct != LWM_FMT_CBOR && g->pct != LWM_FMT_LINK
		      ? g->pct
		      : LWM_FMT_TLV;
	struct lwm_buf buf;
	int rc;

	lwm_buf_init(&buf, 0);
	rc = lwm_encode((uint16_t)fmt, base, recs, n, &buf);
	if (rc < 0) {
		lwm_buf_free(&buf);
		out_error(id, g->ep, "cannot encode %s: %s", path, strerror(-rc));
		return rc;
	}
	struct srv_req_spec sp = {
	    .id = id,
	    .ep = g->ep,
	    .op = "bs-write",
	    .method = COAP_REQUEST_CODE_PUT,
	    .path = path,
	    .accept = -1,
	    .ct = fmt,
	    .observe = -1,
	    .payload = buf.data,
	    .len = buf.len,
	};
	rc = request_on(g, &sp, false);
	lwm_buf_free(&buf);
	return rc;
}

/* The records of an account: Security /0/iid (7) and Server /1/iid (4). */
static void account_records(const struct srv_account *a, struct lwm_record sec[7],
			    struct lwm_record srv[4])
{
	struct lwm_value *v;
	size_t n = 0;

	memset(sec, 0, 7 * sizeof(*sec));
	memset(srv, 0, 4 * sizeof(*srv));
#define REC(arr, oid, rid, t) (arr[n].path = lwm_path_make(3, oid, a->iid, rid, 0), arr[n].value.type = t, &arr[n++].value)
	v = REC(sec, 0, 0, LWM_T_STRING);
	v->v.bytes.ptr = (const uint8_t *)a->uri;
	v->v.bytes.len = strlen(a->uri);
	REC(sec, 0, 1, LWM_T_BOOLEAN)->v.b = false;
	REC(sec, 0, 2, LWM_T_INTEGER)->v.i = a->psk_identity ? 0 : 3;
	v = REC(sec, 0, 3, LWM_T_OPAQUE);
	v->v.bytes.ptr = (const uint8_t *)(a->psk_identity ? a->psk_identity : "");
	v->v.bytes.len = a->psk_identity ? strlen(a->psk_identity) : 0;
	v = REC(sec, 0, 4, LWM_T_OPAQUE);
	v->v.bytes.ptr = (const uint8_t *)"";
	v = REC(sec, 0, 5, LWM_T_OPAQUE);
	v->v.bytes.ptr = a->psk ? a->psk : (const uint8_t *)"";
	v->v.bytes.len = a->psk ? a->psk_len : 0;
	REC(sec, 0, 10, LWM_T_INTEGER)->v.i = a->ssid;
	n = 0;
	REC(srv, 1, 0, LWM_T_INTEGER)->v.i = a->ssid;
	REC(srv, 1, 1, LWM_T_INTEGER)->v.i = a->lifetime;
	REC(srv, 1, 6, LWM_T_BOOLEAN)->v.b = false;
	v = REC(srv, 1, 7, LWM_T_STRING);
	v->v.bytes.ptr = (const uint8_t *)"U";
	v->v.bytes.len = 1;
#undef REC
}

int srv_bootstrap_account(const char *id, const char *ep, const struct srv_account *a)
{
	struct reg *g = reg_by_ep(ep);
	struct lwm_record sec[7], srv[4];
	struct lwm_path base;
	char path[24];
	int rc;

	if (!g) {
		out_error(id, ep, "unknown endpoint");
		return -ENOENT;
	}
	account_records(a, sec, srv);
	base = lwm_path_make(2, 0, a->iid, 0, 0);
	snprintf(path, sizeof(path), "/0/%u", a->iid);
	rc = put_instance(g, id, path, &base, sec, 7);
	if (rc < 0)
		return rc;
	base = lwm_path_make(2, 1, a->iid, 0, 0);
	snprintf(path, sizeof(path), "/1/%u", a->iid);
	return put_instance(g, id, path, &base, srv, 4);
}

/* The account of the automatic mode (--bootstrap-to). */
static struct srv_account auto_account(void)
{
	struct srv_account a = {
	    .iid = 1,
	    .ssid = S.cfg.bs_ssid ? S.cfg.bs_ssid : 1,
	    .uri = S.cfg.bs_uri,
	    .lifetime = S.cfg.bs_lifetime ? S.cfg.bs_lifetime : 300,
	    .psk_identity = S.cfg.bs_psk_identity,
	    .psk = S.cfg.bs_psk_identity ? S.cfg.bs_psk : NULL,
	    .psk_len = S.cfg.bs_psk_len,
	};
	return a;
}

/* GET /bspack?ep=.. (LwM2M 1.2): the automatic mode's account as one
 * Bootstrap-Pack; 4.04 without --bootstrap-to. */
static void hnd_bootstrap_pack(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			       const coap_string_t *query, coap_pdu_t *resp)
{
	struct reg_params p;
	struct lwm_record recs[11];
	struct lwm_path root = {0};
	struct lwm_buf buf;
	coap_opt_iterator_t oi;
	coap_opt_t *opt = coap_check_option(req, COAP_OPTION_ACCEPT, &oi);
	unsigned accept = opt ? coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt))
			      : LWM_FMT_SENML_CBOR;
	unsigned code = 205;
	char peer[64], cs[8];

	collect_params(req, &p);
	if (!p.ep || !p.ep_len || p.ep_len > 255)
		code = 400;
	else if (!S.cfg.bs_uri)
		code = 404;
	else if (accept != LWM_FMT_SENML_CBOR && accept != LWM_FMT_SENML_JSON &&
		 accept != LWM_FMT_LWM2M_CBOR)
		code = 406;
	lwm_buf_init(&buf, 0);
	if (code == 205) {
		struct srv_account a = auto_account();
		account_records(&a, recs, recs + 7);
		if (lwm_encode((uint16_t)accept, &root, recs, 11, &buf) < 0)
			code = 500;
	}
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
	if (code == 205) {
		/* libcoap frees the body once sent (Block2 may keep it). */
		uint8_t *body = buf.data;
		buf.data = NULL;
		if (!coap_add_data_large_response(res, s, req, resp, query, (uint16_t)accept, -1, 0,
						  buf.len, body, release_payload, body))
			coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
	}

	json_t *ev = out_event("bootstrap-pack-request");
	peer_str(s, peer, sizeof(peer));
	snprintf(cs, sizeof(cs), "%u.%02u", code / 100, code % 100);
	if (p.ep)
		json_object_set_new(ev, "ep", out_string(p.ep, p.ep_len));
	json_object_set_new(ev, "accept", json_integer((json_int_t)accept));
	json_object_set_new(ev, "code", json_string(cs));
	json_object_set_new(ev, "peer", json_string(peer));
	add_security(ev, s);
	out_emit(ev);
	lwm_buf_free(&buf);
}

/* The automatic bootstrap: Delete /, one account, Finish. */
static void bootstrap_auto(struct reg *g)
{
	struct srv_req_spec del = {
	    .id = "auto", .ep = g->ep, .op = "bs-delete", .method = COAP_REQUEST_CODE_DELETE,
	    .path = "/", .accept = -1, .ct = -1, .observe = -1,
	};
	struct srv_req_spec fin = {
	    .id = "auto", .ep = g->ep, .op = "bs-finish", .method = COAP_REQUEST_CODE_POST,
	    .path = "/bs", .accept = -1, .ct = -1, .observe = -1,
	};
	struct srv_account a = auto_account();

	/* libcoap sends them one at a time (NSTART 1), in this order. */
	if (request_on(g, &del, false) == 0 && srv_bootstrap_account("auto", g->ep, &a) == 0)
		request_on(g, &fin, false);
}

int srv_forget(const char *id, const char *ep, const char *path)
{
	struct req *r;
	json_t *ev;

	for (r = S.reqs; r; r = r->next)
		if (r->state == RQ_OBSERVING && !strcmp(r->ep, ep) && !strcmp(r->path, path))
			break;
	if (!r) {
		out_error(id, ep, "no observation of %s", path);
		return -ENOENT;
	}
	ev = out_event("forgotten");
	json_object_set_new(ev, "id", json_string(id));
	json_object_set_new(ev, "ep", out_string(ep, strlen(ep)));
	json_object_set_new(ev, "path", out_string(path, strlen(path)));
	out_emit(ev);
	req_remove(r);
	return 0;
}

int srv_cancel(const char *id, const char *ep, const char *path)
{
	struct req *r;
	struct reg *g = reg_by_ep(ep);

	for (r = S.reqs; r; r = r->next)
		if (r->state == RQ_OBSERVING && !strcmp(r->ep, ep) && !strcmp(r->path, path))
			break;
	if (!r) {
		out_error(id, ep, "no observation of %s", path);
		return -ENOENT;
	}
	char *nid = strdup(id);
	if (!nid) {
		out_error(id, ep, "out of memory");
		return -ENOMEM;
	}
	struct srv_req_spec sp = {
	    .id = id,
	    .ep = ep,
	    .op = "cancel",
	    .method = COAP_REQUEST_CODE_GET,
	    .path = path,
	    .accept = r->accept,
	    .ct = -1,
	    .observe = 1,
	};
	uint8_t tok[8];
	size_t toklen;
	/* a deregistered client is still told, over the session it used */
	coap_session_t *s = g ? g->sess : r->sess;
	int rc = send_pdu(s, &sp, r->tok, r->toklen, tok, &toklen);
	if (rc < 0) {
		free(nid);
		out_error(id, ep, "cannot send request");
		return rc;
	}
	if (s != r->sess) {
		coap_session_release(r->sess);
		r->sess = coap_session_reference(s);
	}
	r->obs_id = r->id;
	r->id = nid;
	r->op = "cancel";
	r->observe = false;
	r->state = RQ_CANCEL;
	r->deadline_ms = now_ms() + (uint64_t)S.cfg.response_timeout * 1000u;
	return 0;
}

static json_t *response_event(const char *event, const char *id, const char *op,
			      const struct req *r, const coap_pdu_t *pdu)
{
	json_t *ev = out_event(event);
	char cs[8];
	size_t len = 0, off, total;
	const uint8_t *data = NULL;

	code_str(coap_pdu_get_code(pdu), cs);
	json_object_set_new(ev, "id", out_string(id, strlen(id)));
	json_object_set_new(ev, "ep", out_string(r->ep, strlen(r->ep)));
	json_object_set_new(ev, "op", json_string(op));
	json_object_set_new(ev, "path", out_string(r->path, strlen(r->path)));
	json_object_set_new(ev, "code", json_string(cs));
	if (!coap_get_data_large(pdu, &len, &data, &off, &total))
		len = 0;
	out_add_payload(ev, r->path, content_format(pdu), data, len);
	return ev;
}

/* Demo reads that a client refused as SenML JSON are retried in TLV. */
static bool demo_retry(struct req *r, coap_pdu_code_t code)
{
	struct reg *g;

	if (!r->demo || code != COAP_RESPONSE_CODE_NOT_ACCEPTABLE ||
	    r->accept != LWM_FMT_SENML_JSON || !(g = reg_by_ep(r->ep)))
		return false;
	g->demo_tlv = true;
	struct srv_req_spec sp = {
	    .id = r->id,
	    .ep = r->ep,
	    .op = "read",
	    .method = COAP_REQUEST_CODE_GET,
	    .path = r->path,
	    .accept = LWM_FMT_TLV,
	    .ct = -1,
	    .observe = -1,
	};
	request_on(g, &sp, true);
	return true;
}

/* Answer to a request (not a notification).  Returns true when the
 * entry stays: an observation was established. */
static int push_block(struct req *r);

static bool on_answer(struct req *r, const coap_pdu_t *pdu, bool ok, bool has_obs)
{
	if (r->body && coap_pdu_get_code(pdu) == COAP_RESPONSE_CODE(231) &&
	    r->sent < r->body_len) {
		/* Continue: the next block, unless the push is to be cut here. */
		if (r->cut && r->sent >= r->cut) {
			json_t *ev = out_event("push-cut");
			json_object_set_new(ev, "id", json_string(r->id));
			json_object_set_new(ev, "ep", json_string(r->ep));
			json_object_set_new(ev, "sent", json_integer((json_int_t)r->sent));
			out_emit(ev);
			return false;
		}
		if (push_block(r) == 0) {
			r->deadline_ms = now_ms() + (uint64_t)S.cfg.response_timeout * 1000u;
			return true;
		}
	}
	json_t *ev = response_event("response", r->id, r->op, r, pdu);

	if (r->observe) {
		json_object_set_new(ev, "observing", json_boolean(ok && has_obs));
		/* Whether the answer carried Observe at all (never on errors). */
		json_object_set_new(ev, "observe_option", json_boolean(has_obs));
	}
	out_emit(ev);
	if (r->observe && ok && has_obs) {
		r->state = RQ_OBSERVING;
		return true;
	}
	return false;
}

/* A notification; returns true while the observation goes on. */
static bool on_notify(struct req *r, const coap_pdu_t *pdu, bool ok, bool has_obs)
{
	/* until the cancel is answered, notifications belong to the observe */
	const char *id = r->state == RQ_CANCEL ? r->obs_id : r->id;
	json_t *ev = response_event("notify", id, "observe", r, pdu);

	json_object_set_new(ev, "seq", json_integer(++r->seq));
	json_object_set_new(ev, "con", json_boolean(coap_pdu_get_type(pdu) == COAP_MESSAGE_CON));
	/* SenML notifications may carry times (stored notifications). */
	{
		int ct = content_format(pdu);
		const uint8_t *data = NULL;
		size_t len = 0, off, total;
		if ((ct == LWM_FMT_SENML_JSON || ct == LWM_FMT_SENML_CBOR) &&
		    coap_get_data_large(pdu, &len, &data, &off, &total))
			send_add_records(ev, "senml", ct, data, len);
	}
	out_emit(ev);
	/* an error or a response without Observe ends it (RFC 7641) */
	return ok && has_obs;
}

static coap_response_t hnd_response(coap_session_t *s, const coap_pdu_t *sent,
				    const coap_pdu_t *rcvd, const coap_mid_t mid)
{
	coap_pdu_code_t code = coap_pdu_get_code(rcvd);
	coap_opt_iterator_t it;
	bool has_obs = coap_check_option(rcvd, COAP_OPTION_OBSERVE, &it) != NULL;
	bool ok = COAP_RESPONSE_CLASS(code) == 2;
	struct req *r = req_by_token(s, coap_pdu_get_token(rcvd));
	bool keep;

	if (code == COAP_EMPTY_CODE)
		return COAP_RESPONSE_OK;
	/* unknown token: a stale notification; the RST ends it at the client */
	if (!r)
		return COAP_RESPONSE_FAIL;
	if (r->state == RQ_OBSERVING || (r->state == RQ_CANCEL && ok && has_obs))
		keep = on_notify(r, rcvd, ok, has_obs);
	else if (demo_retry(r, code))
		keep = false;
	else
		keep = on_answer(r, rcvd, ok, has_obs);
	if (!keep)
		req_remove(r);
	return COAP_RESPONSE_OK;
}

/* Report a request that got no answer and forget it. */
static void req_fail(struct req *r, const char *msg)
{
	json_t *ev = out_event("error");
	json_object_set_new(ev, "id", out_string(r->id, strlen(r->id)));
	json_object_set_new(ev, "ep", out_string(r->ep, strlen(r->ep)));
	json_object_set_new(ev, "op", json_string(r->op));
	json_object_set_new(ev, "path", out_string(r->path, strlen(r->path)));
	json_object_set_new(ev, "msg", json_string(msg));
	out_emit(ev);
	req_remove(r);
}

static const char *nack_str(coap_nack_reason_t reason)
{
	switch (reason) {
	case COAP_NACK_TOO_MANY_RETRIES:
		return "timeout";
	case COAP_NACK_NOT_DELIVERABLE:
		return "not deliverable";
	case COAP_NACK_RST:
		return "reset by client";
	case COAP_NACK_TLS_FAILED:
		return "TLS failed";
	case COAP_NACK_ICMP_ISSUE:
		return "ICMP error";
	default:
		return "no response";
	}
}

static void hnd_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		     const coap_mid_t mid)
{
	struct req *r;

	if (!sent || !(r = req_by_token(s, coap_pdu_get_token(sent))))
		return;
	/* an observation stays alive; only its pending request failed */
	if (r->state == RQ_OBSERVING)
		return;
	req_fail(r, nack_str(reason));
}

void srv_close(const char *id, const char *ep)
{
	struct reg *g = reg_by_ep(ep);
	json_t *ev;

	if (!g || !g->sess || coap_session_get_proto(g->sess) != COAP_PROTO_DTLS) {
		out_error(id, ep, g ? "not a DTLS client" : "unknown endpoint");
		return;
	}
	/* libcoap frees the DTLS state with a close_notify to the client;
	 * the registration stays, as a server's idle timeout would leave it. */
	coap_session_disconnected(g->sess, COAP_NACK_NOT_DELIVERABLE);
	ev = out_event("response");
	json_object_set_new(ev, "id", out_string(id, strlen(id)));
	json_object_set_new(ev, "ep", out_string(ep, strlen(ep)));
	json_object_set_new(ev, "op", json_string("close"));
	out_emit(ev);
}

void srv_list(void)
{
	json_t *ev = out_event("list"), *arr = json_array();

	for (struct reg *g = S.regs; g; g = g->next) {
		json_t *c = json_object();
		json_object_set_new(c, "ep", out_string(g->ep, strlen(g->ep)));
		json_object_set_new(c, "location", json_string(g->location));
		json_object_set_new(c, "lt", json_integer((json_int_t)g->lt));
		json_object_set_new(c, "lwm2m", json_string(g->lwm2m));
		json_object_set_new(c, "b", json_string(g->binding));
		json_object_set_new(c, "objects", objects_json(&g->objs));
		json_array_append_new(arr, c);
	}
	json_object_set_new(ev, "clients", arr);
	out_emit(ev);
}

/* ---- timers: lifetime expiry and demo reads ---- */

static bool demo_pending(const struct reg *g, const char *path)
{
	for (struct req *r = S.reqs; r; r = r->next)
		if (r->demo && !strcmp(r->ep, g->ep) && !strcmp(r->path, path))
			return true;
	return false;
}

static void demo_read(struct reg *g, const char *path)
{
	if (demo_pending(g, path))
		return;
	struct srv_req_spec sp = {
	    .id = "demo",
	    .ep = g->ep,
	    .op = "read",
	    .method = COAP_REQUEST_CODE_GET,
	    .path = path,
	    .accept = g->demo_tlv ? LWM_FMT_TLV : LWM_FMT_SENML_JSON,
	    .ct = -1,
	    .observe = -1,
	};
	request_on(g, &sp, true);
}

static void demo_pass(uint64_t now)
{
	bool tick = now >= S.next_demo_ms;
	char path[32];

	if (tick)
		S.next_demo_ms = now + (uint64_t)S.cfg.read_interval * 1000u;
	for (struct reg *g = S.regs; g; g = g->next) {
		if (g->demo_dev_due) {
			g->demo_dev_due = false;
			demo_read(g, "/3/0");
		}
		if (!tick)
			continue;
		for (size_t i = 0; i < g->objs.nobj; i++) {
			const struct lwm_path *p = &g->objs.objs[i].path;
			uint16_t oid = LWM_PATH_OID(p);
			if (p->len != 2 || oid == 0 || oid == 1 || oid == 3)
				continue;
			if (lwm_path_format(p, path, sizeof(path)) > 0)
				demo_read(g, path);
		}
	}
}

static void expire_pass(uint64_t now)
{
	struct reg **pp = &S.regs;

	/* an empty ACK and then silence never produces a NACK */
	for (struct req *r = S.reqs, *next; r; r = next) {
		next = r->next;
		if (r->state != RQ_OBSERVING && now >= r->deadline_ms)
			req_fail(r, "timeout");
	}

	while (*pp) {
		struct reg *g = *pp;
		if (now >= g->expires_ms) {
			*pp = g->next;
			emit_gone("expired", g);
			reg_free(g);
		} else {
			pp = &g->next;
		}
	}
}

int srv_process(void)
{
	if (coap_io_process(S.ctx, COAP_IO_NO_WAIT) < 0)
		return -EIO;
	uint64_t now = now_ms();
	expire_pass(now);
	for (struct reg *g = S.regs; g; g = g->next)
		if (g->bs_auto_due) {
			g->bs_auto_due = false;
			bootstrap_auto(g);
		}
	if (S.cfg.demo)
		demo_pass(now);
	return 0;
}

int srv_next_timeout(void)
{
	coap_tick_t ticks;
	uint64_t now = now_ms(), next = UINT64_MAX;

	coap_ticks(&ticks);
	/* also runs libcoap's retransmissions that are due */
	unsigned coap_ms = coap_io_prepare_epoll(S.ctx, ticks);
	if (coap_ms)
		next = now + coap_ms;
	for (struct reg *g = S.regs; g; g = g->next) {
		if (g->expires_ms < next)
			next = g->expires_ms;
		if (g->bs_auto_due)
			next = now;
	}
	for (struct req *r = S.reqs; r; r = r->next)
		if (r->state != RQ_OBSERVING && r->deadline_ms < next)
			next = r->deadline_ms;
	if (S.cfg.demo) {
		if (S.next_demo_ms < next)
			next = S.next_demo_ms;
		for (struct reg *g = S.regs; g; g = g->next)
			if (g->demo_dev_due)
				next = now;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

/* ---- setup ---- */

/* libcoap binds with SO_REUSEADDR, so a second server on a busy port would
 * start and silently share it; probe with a plain socket first. */
static int port_free(const coap_address_t *addr)
{
	int fd = socket(addr->addr.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, &addr->addr.sa, addr->size) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void log_to_stderr(coap_log_t level, const char *msg)
{
	/* stdout carries the event stream: libcoap must never write there */
	fputs(msg, stderr);
}

/* The key of a PSK identity; an unknown one fails the handshake (and says
 * so, for tests). */
static const coap_bin_const_t *psk_for_identity(coap_bin_const_t *identity, coap_session_t *s,
						void *arg)
{
	static coap_bin_const_t key;

	(void)s;
	(void)arg;
	for (size_t i = 0; i < S.cfg.n_psks; i++) {
		const struct srv_psk *p = &S.cfg.psks[i];
		if (strlen(p->identity) == identity->length &&
		    memcmp(p->identity, identity->s, identity->length) == 0) {
			key.s = p->key;
			key.length = p->key_len;
			return &key;
		}
	}
	json_t *ev = out_event("rejected");
	json_object_set_new(ev, "op", json_string("handshake"));
	json_object_set_new(ev, "identity", out_string((const char *)identity->s, identity->length));
	json_object_set_new(ev, "msg", json_string("unknown PSK identity"));
	out_emit(ev);
	return NULL;
}

/* Accept any client key or certificate the TLS checks let through (with
 * --ca: only certificates from that CA). */
static int accept_client(const char *cn, const uint8_t *der, size_t len, coap_session_t *s,
			 unsigned depth, int validated, void *arg)
{
	(void)cn, (void)der, (void)len, (void)s, (void)depth, (void)arg;
	return validated;
}

static int setup_dtls(const struct srv_config *cfg)
{
	if (!coap_dtls_is_supported()) {
		fprintf(stderr, "lwm2m-test-server: libcoap has no DTLS\n");
		return -ENOTSUP;
	}
	if (cfg->n_psks) {
		coap_dtls_spsk_t sp = {.version = COAP_DTLS_SPSK_SETUP_VERSION};
		sp.validate_id_call_back = psk_for_identity;
		/* A default key libcoap insists on; the callback picks the real one. */
		sp.psk_info.key.s = cfg->psks[0].key;
		sp.psk_info.key.length = cfg->psks[0].key_len;
		if (!coap_context_set_psk2(S.ctx, &sp))
			return -EINVAL;
	}
	if (cfg->cert) {
		coap_dtls_pki_t pki = {.version = COAP_DTLS_PKI_SETUP_VERSION};
		pki.verify_peer_cert = cfg->ca != NULL;
		pki.cert_chain_validation = 1;
		pki.cert_chain_verify_depth = 3;
		pki.is_rpk_not_cert = cfg->rpk;
		pki.validate_cn_call_back = accept_client;
		if (cfg->rpk) {
			/* RPK keys cannot be files in libcoap: read them. */
			static char pub[16384], key[16384];
			size_t pl, kl;
			FILE *f = fopen(cfg->cert, "r"), *g = fopen(cfg->key, "r");
			pl = f ? fread(pub, 1, sizeof(pub) - 1, f) : 0;
			kl = g ? fread(key, 1, sizeof(key) - 1, g) : 0;
			if (f)
				fclose(f);
			if (g)
				fclose(g);
			if (!pl || !kl)
				return -ENOENT;
			pub[pl++] = key[kl++] = '\0';
			pki.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
			pki.pki_key.key.pem_buf.public_cert = (const uint8_t *)pub;
			pki.pki_key.key.pem_buf.public_cert_len = pl;
			pki.pki_key.key.pem_buf.private_key = (const uint8_t *)key;
			pki.pki_key.key.pem_buf.private_key_len = kl;
		} else {
			pki.pki_key.key_type = COAP_PKI_KEY_PEM;
			pki.pki_key.key.pem.public_cert = cfg->cert;
			pki.pki_key.key.pem.private_key = cfg->key;
			pki.pki_key.key.pem.ca_file = cfg->ca;
		}
		if (!coap_context_set_pki(S.ctx, &pki))
			return -EINVAL;
	}
	return 0;
}

int srv_start(const struct srv_config *cfg)
{
	struct addrinfo hints = {0}, *ai = NULL;
	coap_address_t addr;
	coap_endpoint_t *ep;
	coap_resource_t *r;
	char host[NI_MAXHOST];
	int rc;

	S.cfg = *cfg;
	coap_set_log_handler(log_to_stderr);
	coap_set_show_pdu_output(0);
	coap_set_log_level(cfg->verbose ? LOG_DEBUG : LOG_WARNING);
	coap_dtls_set_log_level(cfg->verbose ? LOG_DEBUG : LOG_WARNING);

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(cfg->addr, NULL, &hints, &ai);
	if (rc) {
		fprintf(stderr, "lwm2m-test-server: %s: %s\n", cfg->addr, gai_strerror(rc));
		return -EINVAL;
	}
	coap_address_init(&addr);
	addr.size = ai->ai_addrlen;
	memcpy(&addr.addr, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	coap_address_set_port(&addr, cfg->port);

	if (cfg->port && (rc = port_free(&addr)) < 0) {
		fprintf(stderr, "lwm2m-test-server: cannot listen on %s port %u: %s\n", cfg->addr,
			cfg->port, strerror(-rc));
		return rc;
	}
	S.ctx = coap_new_context(NULL);
	if (!S.ctx)
		return -ENOMEM;
	coap_context_set_block_mode(S.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
	coap_register_response_handler(S.ctx, hnd_response);
	coap_register_nack_handler(S.ctx, hnd_nack);
	bool secure = cfg->n_psks || cfg->cert;
	if (secure && (rc = setup_dtls(cfg)) < 0) {
		fprintf(stderr, "lwm2m-test-server: cannot set up DTLS: %s\n", strerror(-rc));
		return rc;
	}
	ep = coap_new_endpoint(S.ctx, &addr, secure ? COAP_PROTO_DTLS : COAP_PROTO_UDP);
	if (!ep) {
		fprintf(stderr, "lwm2m-test-server: cannot listen on %s port %u\n", cfg->addr,
			cfg->port);
		return -EADDRINUSE;
	}
	r = coap_resource_init(coap_make_str_const("rd"), 0);
	if (!r)
		return -ENOMEM;
	coap_register_request_handler(r, COAP_REQUEST_POST, hnd_register);
	coap_add_resource(S.ctx, r);
	r = coap_resource_init(coap_make_str_const("bs"), 0);
	if (!r)
		return -ENOMEM;
	coap_register_request_handler(r, COAP_REQUEST_POST, hnd_bootstrap);
	coap_add_resource(S.ctx, r);
	r = coap_resource_init(coap_make_str_const("bspack"), 0);
	if (!r)
		return -ENOMEM;
	coap_register_request_handler(r, COAP_REQUEST_GET, hnd_bootstrap_pack);
	coap_add_resource(S.ctx, r);
	r = coap_resource_unknown_init2(hnd_unknown, 0);
	if (!r)
		return -ENOMEM;
	coap_register_request_handler(r, COAP_REQUEST_POST, hnd_unknown);
	coap_register_request_handler(r, COAP_REQUEST_DELETE, hnd_unknown);
	coap_register_request_handler(r, COAP_REQUEST_GET, hnd_unknown);
	coap_add_resource(S.ctx, r);

	S.next_demo_ms = now_ms() + (uint64_t)cfg->read_interval * 1000u;

	/* no getter for the bound address in 4.3.1: the endpoint's description
	 * ("127.0.0.1:5683 UDP") carries the port the kernel picked for port 0 */
	const char *desc = coap_endpoint_str(ep);
	const char *sp = desc ? strchr(desc, ' ') : NULL;
	const char *colon = NULL;
	for (const char *c = desc; c && c < sp; c++)
		if (*c == ':')
			colon = c;
	unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : cfg->port;
	json_t *ev = out_event("listening");
	if (getnameinfo(&addr.addr.sa, addr.size, host, sizeof(host), NULL, 0, NI_NUMERICHOST))
		snprintf(host, sizeof(host), "%s", cfg->addr);
	json_object_set_new(ev, "addr", json_string(host));
	json_object_set_new(ev, "port", json_integer((json_int_t)port));
	if (secure)
		json_object_set_new(ev, "secure", json_true());
	out_emit(ev);
	return 0;
}

int srv_fd(void)
{
	return coap_context_get_coap_fd(S.ctx);
}

void srv_stop(void)
{
	while (S.regs) {
		struct reg *g = S.regs;
		S.regs = g->next;
		reg_free(g);
	}
	while (S.reqs) {
		struct req *r = S.reqs;
		S.reqs = r->next;
		req_free(r);
	}
	if (S.ctx)
		coap_free_context(S.ctx);
	S.ctx = NULL;
}
