/* Information reporting: Observe, Cancel, Observe-Composite and the
 * notifications, with the LwM2M attributes applied per observation.
 *
 * Cost model: an observation whose values do not change costs nothing at
 * run time.  A changed value looks up the observers of its path and its
 * parents in the client's small hash table (at most five lookups); a timer
 * is armed only for a pmax deadline or for a change waiting for pmin.  A
 * notification is encoded into the engine's reused scratch buffer; the
 * only allocation on that path is libcoap's PDU. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "objdefs.h"
#include "observe.h"
#include "send.h"

/* ---- pure decision logic -------------------------------------------------------- */

void lwm_obs_resolve(struct lwm_attrs *out, const struct lwm_attrs *const *chain, size_t n,
		     uint32_t def_set, uint32_t def_pmin, uint32_t def_pmax)
{
	*out = (struct lwm_attrs){0};
	for (size_t i = 0; i < n; i++) {
		const struct lwm_attrs *a = chain[i];
		uint32_t take;
		if (!a)
			continue;
		/* Only what no more specific level has set yet. */
		take = a->set & ~out->set;
		if (take & LWM_ATTR_PMIN)
			out->pmin = a->pmin;
		if (take & LWM_ATTR_PMAX)
			out->pmax = a->pmax;
		if (take & LWM_ATTR_GT)
			out->gt = a->gt;
		if (take & LWM_ATTR_LT)
			out->lt = a->lt;
		if (take & LWM_ATTR_ST)
			out->st = a->st;
		if (take & LWM_ATTR_EPMIN)
			out->epmin = a->epmin;
		if (take & LWM_ATTR_EPMAX)
			out->epmax = a->epmax;
		if (take & LWM_ATTR_EDGE)
			out->edge = a->edge;
		if (take & LWM_ATTR_CON)
			out->con = a->con;
		if (take & LWM_ATTR_HQMAX)
			out->hqmax = a->hqmax;
		out->set |= take;
	}
	if ((def_set & LWM_ATTR_PMIN) && !(out->set & LWM_ATTR_PMIN)) {
		out->pmin = def_pmin;
		out->set |= LWM_ATTR_PMIN;
	}
	if ((def_set & LWM_ATTR_PMAX) && !(out->set & LWM_ATTR_PMAX)) {
		out->pmax = def_pmax;
		out->set |= LWM_ATTR_PMAX;
	}
}

static uint64_t pmin_ms(const struct lwm_attrs *a)
{
	return (a->set & LWM_ATTR_PMIN) ? (uint64_t)a->pmin * 1000u : 0;
}

/* 0 when there is no periodic notification. */
static uint64_t pmax_ms(const struct lwm_attrs *a)
{
	if (!(a->set & LWM_ATTR_PMAX) || a->pmax == 0)
		return 0;
	/* A pmax below pmin could never be honoured; the spec has it ignored. */
	if ((a->set & LWM_ATTR_PMIN) && a->pmax < a->pmin)
		return 0;
	return (uint64_t)a->pmax * 1000u;
}

/* Did last -> v cross the threshold (either way)? */
static bool crossed_above(double last, double v, double th)
{
	return (last > th) != (v > th);
}

static bool crossed_below(double last, double v, double th)
{
	return (last < th) != (v < th);
}

static bool qualifies(const struct lwm_attrs *a, const struct lwm_obs_state *st, bool numeric,
		      double v)
{
	uint32_t conds = a->set & (LWM_ATTR_GT | LWM_ATTR_LT | LWM_ATTR_ST | LWM_ATTR_EDGE);

	/* Without conditions, or without a number to apply them to, or with
	 * nothing notified to compare with, every change counts. */
	if (!conds || !numeric || !st->has_num)
		return true;
	if ((conds & LWM_ATTR_GT) && crossed_above(st->last_num, v, a->gt))
		return true;
	if ((conds & LWM_ATTR_LT) && crossed_below(st->last_num, v, a->lt))
		return true;
	if ((conds & LWM_ATTR_ST) && fabs(v - st->last_num) >= a->st)
		return true;
	/* edge (1.2, boolean resources): 1 the rising, 0 the falling edge. */
	if ((conds & LWM_ATTR_EDGE) && (st->last_num != 0) != (v != 0) && (v != 0) == (a->edge != 0))
		return true;
	return false;
}

enum lwm_obs_verdict lwm_obs_on_change(const struct lwm_attrs *a, struct lwm_obs_state *st,
				       bool numeric, double value, uint64_t now, uint64_t *at_ms)
{
	uint64_t earliest = st->last_ms + pmin_ms(a);

	if (!st->pending && !qualifies(a, st, numeric, value))
		return LWM_OBS_NONE;
	st->pending = true;
	if (now >= earliest) {
		*at_ms = now;
		return LWM_OBS_NOW;
	}
	*at_ms = earliest;
	return LWM_OBS_LATER;
}

uint64_t lwm_obs_deadline(const struct lwm_attrs *a, const struct lwm_obs_state *st)
{
	uint64_t due = UINT64_MAX, pmax = pmax_ms(a);

	if (st->pending)
		due = st->last_ms + pmin_ms(a);
	if (pmax && st->last_ms + pmax < due)
		due = st->last_ms + pmax;
	return due;
}

bool lwm_obs_due(const struct lwm_attrs *a, const struct lwm_obs_state *st, uint64_t now)
{
	return lwm_obs_deadline(a, st) <= now;
}

void lwm_obs_sent(struct lwm_obs_state *st, bool numeric, double value, uint64_t now)
{
	st->last_ms = now;
	st->pending = false;
	st->has_num = numeric;
	st->last_num = numeric ? value : 0.0;
}

uint32_t lwm_obs_sample_ms(const struct lwm_attrs *a)
{
	uint64_t need = 0;

	if ((a->set & LWM_ATTR_EPMAX) && a->epmax)
		need = (uint64_t)a->epmax * 1000u;
	else if (pmin_ms(a))
		need = pmin_ms(a);
	else if (pmax_ms(a))
		need = pmax_ms(a);
	if (need && (a->set & LWM_ATTR_EPMIN) && need < (uint64_t)a->epmin * 1000u)
		need = (uint64_t)a->epmin * 1000u;
	return need > UINT32_MAX ? UINT32_MAX : (uint32_t)need;
}

/* ---- the observation table -------------------------------------------------------- */

#define OBS_BUCKETS 32     /* per client; observations per device are few */
#define OBS_MAX_PATHS 64   /* paths of one Observe-Composite */

struct lwm_obs_watch {
	struct lwm_path path;
	struct lwm_obs *obs;
	struct lwm_obs_watch *next; /* in its bucket */
};

struct lwm_obs {
	struct lwm_obs_table *t;
	struct lwm_obs *next;       /* in t->list */
	uint8_t token[LWM_TOKEN_MAX];
	size_t token_len;
	uint16_t format;            /* the Observe answer's content format */
	bool composite;
	struct lwm_attrs req_attrs; /* carried in the Observe request (1.2) */
	struct lwm_obs_state st;
	uint32_t seq;               /* the last Observe number sent (24 bits) */
	unsigned since_con;         /* NON notifications since the last CON */
	uint64_t last_con_ms;
	struct gw_timer timer;
	/* The attributes obs_changed resolved for a notification due now:
	 * obs_timer on the next loop turn takes them instead of resolving
	 * again (the lookups were a tenth of the notification path). */
	struct lwm_attrs due_attrs;
	bool due_attrs_ok;
	bool said_too_large;        /* the oversize warning was given */
	size_t n_paths;
	struct lwm_obs_watch watch[]; /* one per observed path */
};

struct lwm_obs_table {
	struct lwm_client *c;
	struct lwm_obs *list;
	size_t n;
	struct lwm_obs_watch *buckets[OBS_BUCKETS];
	/* Records of a composite notification; grown, never shrunk. */
	struct lwm_record *recs;
	size_t recs_cap;
	/* The Observe being answered (between begin and end). */
	struct lwm_attrs new_attrs;
	uint32_t new_seq;
	bool add_option;            /* the answer gets Observe if it succeeds */
	unsigned long lost;         /* notifications that could not go out */
};

static unsigned path_hash(const struct lwm_path *p)
{
	uint32_t h = 2166136261u ^ p->len;

	for (uint8_t i = 0; i < p->len; i++)
		h = (h ^ p->id[i]) * 16777619u;
	return h % OBS_BUCKETS;
}

static struct lwm_obs_table *table_of(struct lwm_client *c, bool create)
{
	if (!c->obs && create) {
		c->obs = calloc(1, sizeof(*c->obs));
		if (c->obs)
			c->obs->c = c;
	}
	return c->obs;
}

static void sampling_changed(struct lwm_client *c, const struct lwm_obs *o)
{
	if (!c->ops || !c->ops->sampling_changed)
		return;
	for (size_t i = 0; i < o->n_paths; i++)
		c->ops->sampling_changed(c, &o->watch[i].path, c->ud);
}

static void obs_free(struct lwm_obs *o, bool notify_device)
{
	struct lwm_obs_table *t = o->t;

	for (size_t i = 0; i < o->n_paths; i++) {
		struct lwm_obs_watch **pp = &t->buckets[path_hash(&o->watch[i].path)];
		while (*pp && *pp != &o->watch[i])
			pp = &(*pp)->next;
		if (*pp)
			*pp = o->watch[i].next;
	}
	for (struct lwm_obs **pp = &t->list; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	t->n--;
	gw_timer_disarm(&o->timer);
	if (notify_device)
		sampling_changed(t->c, o);
	free(o);
}

static struct lwm_obs *find_token(struct lwm_obs_table *t, coap_bin_const_t tok)
{
	for (struct lwm_obs *o = t ? t->list : NULL; o; o = o->next)
		if (o->token_len == tok.length && memcmp(o->token, tok.s, tok.length) == 0)
			return o;
	return NULL;
}

size_t lwm_client_observation_count(const struct lwm_client *c)
{
	return c->obs ? c->obs->n : 0;
}

void lwm_observe_drop_all(struct lwm_client *c, const char *why)
{
	struct lwm_obs_table *t = c->obs;
	size_t n = t ? t->n : 0;

	while (t && t->list)
		obs_free(t->list, true);
	if (n)
		log_info(c->name, "dropped %zu observation(s): %s", n, why);
}

void lwm_observe_free(struct lwm_client *c)
{
	if (!c->obs)
		return;
	while (c->obs->list)
		obs_free(c->obs->list, false);
	free(c->obs->recs);
	free(c->obs);
	c->obs = NULL;
}

/* ---- attributes in force ------------------------------------------------------------ */

/* A resource of this registration's own Server instance. */
static const struct lwm_value *server_res(struct lwm_client *c, uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, 1, c->server_iid, rid, 0);
	const struct lwm_value *v = lwm_model_get(c->model, &p);

	return v && v->type == LWM_T_INTEGER ? v : NULL;
}

static void effective(struct lwm_obs *o, struct lwm_attrs *out)
{
	struct lwm_client *c = o->t->c;
	const struct lwm_attrs *chain[6];
	const struct lwm_value *dmin = server_res(c, 2), *dmax = server_res(c, 3);
	uint32_t def = 0;
	size_t n = 0;

	chain[n++] = &o->req_attrs;
	/* A composite observation has no level of its own to inherit from. */
	if (!o->composite) {
		struct lwm_path p = o->watch[0].path;
		for (; p.len >= 1; p.len--)
			chain[n++] = lwm_client_attrs(c, &p);
	}
	if (dmin && dmin->v.i >= 0)
		def |= LWM_ATTR_PMIN;
	if (dmax && dmax->v.i >= 0)
		def |= LWM_ATTR_PMAX;
	lwm_obs_resolve(out, chain, n, def, dmin ? (uint32_t)dmin->v.i : 0,
			dmax ? (uint32_t)dmax->v.i : 0);
}

/* The observed resource's value as a number, when it is one. */
static bool numeric_value(struct lwm_obs *o, double *out)
{
	const struct lwm_value *v;

	if (o->composite || o->watch[0].path.len < 3)
		return false;
	v = lwm_model_get(o->t->c->model, &o->watch[0].path);
	if (!v)
		return false;
	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		*out = (double)v->v.i;
		return true;
	case LWM_T_UNSIGNED:
		*out = (double)v->v.u;
		return true;
	case LWM_T_FLOAT:
		*out = v->v.f;
		return true;
	case LWM_T_BOOLEAN:
		*out = v->v.b ? 1.0 : 0.0;
		return true;
	default:
		return false;
	}
}

static void rearm(struct lwm_obs *o, const struct lwm_attrs *a)
{
	uint64_t due = lwm_obs_deadline(a, &o->st);

	if (due == UINT64_MAX)
		gw_timer_disarm(&o->timer);
	else
		gw_timer_arm(&o->timer, due);
}

/* ---- notifications ------------------------------------------------------------------- */

static bool want_con(struct lwm_obs *o, const struct lwm_attrs *a, uint64_t now)
{
	const struct lwm_value *mode = server_res(o->t->c, 26); /* Default Notification Mode */

	if (o->since_con + 1 >= LWM_OBS_CON_EVERY || now - o->last_con_ms >= LWM_OBS_CON_MAX_MS)
		return true;
	if (a->set & LWM_ATTR_CON)
		return a->con != 0;
	return mode && mode->v.i == 1;
}

static int record_cmp(const void *a, const void *b)
{
	return lwm_path_cmp(&((const struct lwm_record *)a)->path,
			    &((const struct lwm_record *)b)->path);
}

/* Collect the observation's records; *base is the encoder's base path. */
static int gather(struct lwm_obs *o, const struct lwm_record **recs, size_t *n,
		  struct lwm_path *base)
{
	struct lwm_obs_table *t = o->t;
	size_t total = 0;

	if (!o->composite) {
		*base = o->watch[0].path;
		return lwm_client_read(t->c, base, recs, n);
	}
	*base = (struct lwm_path){0};
	for (size_t i = 0; i < o->n_paths; i++) {
		const struct lwm_record *r;
		size_t k;
		/* Paths without a value yet are left out, as in Read-Composite. */
		if (lwm_client_read(t->c, &o->watch[i].path, &r, &k) < 0)
			continue;
		if (total + k > t->recs_cap) {
			size_t cap = (total + k) * 2;
			struct lwm_record *nr = realloc(t->recs, cap * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			t->recs = nr;
			t->recs_cap = cap;
		}
		memcpy(t->recs + total, r, k * sizeof(*r));
		total += k;
	}
	/* The encoders take records in path order, each path once. */
	qsort(t->recs, total, sizeof(*t->recs), record_cmp);
	{
		size_t w = 0;
		for (size_t i = 0; i < total; i++)
			if (w == 0 || lwm_path_cmp(&t->recs[w - 1].path, &t->recs[i].path) != 0)
				t->recs[w++] = t->recs[i];
		total = w;
	}
	*recs = t->recs;
	*n = total;
	return total ? 0 : -ENODATA;
}

static bool power_of_ten(unsigned long k)
{
	while (k >= 10 && k % 10 == 0)
		k /= 10;
	return k == 1;
}

static void note_lost(struct lwm_obs *o, const char *why)
{
	struct lwm_obs_table *t = o->t;

	/* Never silent, never a flood: the 1st, 10th, 100th ... is logged. */
	if (power_of_ten(++t->lost))
		log_warn(t->c->name, "notification not sent (%s); %lu so far", why, t->lost);
}

static int emit(struct lwm_obs *o, bool con, uint64_t now, struct lwm_buf *out);

static uint64_t obs_key(const struct lwm_obs *o)
{
	return lwm_report_obs_key(o->token, o->token_len);
}

static int send_notification(struct lwm_obs *o, const struct lwm_attrs *a, uint64_t now)
{
	struct lwm_client *c = o->t->c;
	struct lwm_buf *out = &c->engine->scratch;
	const struct lwm_record *recs;
	struct lwm_path base;
	size_t n;
	int r;

	if (c->unavailable && (o->composite || LWM_PATH_OID(&o->watch[0].path) >= 8))
		return -EHOSTDOWN; /* no current value: wait for the device */
	if (!c->session || c->disabled || lwm_report_holding(c) ||
	    (c->state != LWM_CLIENT_REGISTERED && c->state != LWM_CLIENT_UPDATING)) {
		/* Off the air: stored (/1/x/6) or counted lost. */
		if (gather(o, &recs, &n, &base) < 0 ||
		    !lwm_report_store(c, obs_key(o), (a->set & LWM_ATTR_HQMAX) ? a->hqmax : 0,
				      clock_wall_s(), recs, n))
			note_lost(o, "not registered");
		return -ENOTCONN;
	}
	r = gather(o, &recs, &n, &base);
	if (r < 0)
		return r;
	lwm_buf_reset(out);
	r = lwm_encode(o->format, &base, recs, n, out);
	if (r < 0) {
		note_lost(o, "cannot encode");
		return r;
	}
	return emit(o, want_con(o, a, now), now, out);
}

void lwm_observe_con_next(struct lwm_client *c)
{
	/* As if LWM_OBS_CON_EVERY - 1 NON had gone: want_con says CON. */
	for (struct lwm_obs *o = c->obs ? c->obs->list : NULL; o; o = o->next)
		o->since_con = LWM_OBS_CON_EVERY;
}

bool lwm_observe_has_key(struct lwm_client *c, uint64_t key)
{
	for (struct lwm_obs *o = c->obs ? c->obs->list : NULL; o; o = o->next)
		if (obs_key(o) == key)
			return true;
	return false;
}

int lwm_observe_deliver(struct lwm_client *c, uint64_t key, int64_t time_s,
			const struct lwm_record *recs, size_t n)
{
	struct lwm_buf *out = &c->engine->scratch;
	struct lwm_attrs a;
	struct lwm_obs *o;
	struct lwm_path base = {0};
	uint64_t now = clock_now_ms();
	int r;

	for (o = c->obs ? c->obs->list : NULL; o; o = o->next)
		if (obs_key(o) == key)
			break;
	if (!o)
		return -ENOENT;
	lwm_buf_reset(out);
	/* SenML carries the time the value was taken; other formats cannot. */
	if (o->format == LWM_FMT_SENML_JSON || o->format == LWM_FMT_SENML_CBOR) {
		int64_t t[OBS_MAX_PATHS * 4];
		if (n > sizeof(t) / sizeof(t[0]))
			return -E2BIG;
		for (size_t i = 0; i < n; i++)
			t[i] = time_s;
		r = lwm_senml_encode_timed(o->format, recs, t, n, out);
	} else {
		if (!o->composite)
			base = o->watch[0].path;
		r = lwm_encode(o->format, &base, recs, n, out);
	}
	if (r < 0) {
		note_lost(o, "cannot encode");
		return 0; /* counted: do not try it again by Send */
	}
	effective(o, &a);
	r = emit(o, want_con(o, &a, now), now, out);
	return r == -ENOTCONN ? -ENOENT : 0;
}

static int emit(struct lwm_obs *o, bool con, uint64_t now, struct lwm_buf *out)
{
	struct lwm_client *c = o->t->c;
	coap_session_t *s = c->session;
	coap_pdu_t *pdu;
	uint8_t buf[4];

	if (!s)
		return -ENOTCONN;
	pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, COAP_RESPONSE_CODE(205),
			    coap_new_message_id(s), coap_session_max_pdu_size(s));
	if (!pdu) {
		note_lost(o, "out of memory");
		return -ENOMEM;
	}
	o->seq = (o->seq + 1) & 0xFFFFFFu;
	/* Options in ascending order: Observe (6), then Content-Format (12). */
	if (!coap_add_token(pdu, o->token_len, o->token) ||
	    !coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof(buf), o->seq),
			     buf) ||
	    !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
			     coap_encode_var_safe(buf, sizeof(buf), o->format), buf) ||
	    !coap_add_data(pdu, out->len, out->data ? out->data : buf)) {
		/* Too big for one datagram: notifications are not sent
		 * block-wise (RFC 7959 2.6 would send the first block and let
		 * the server fetch the rest; not done with libcoap 4.3.1 for a
		 * notification built here).  Said once per observation. */
		coap_delete_pdu(pdu);
		if (!o->said_too_large) {
			char name[32] = "?";
			lwm_path_format(&o->watch[0].path, name, sizeof(name));
			log_warn(c->name, "notification of %s%s is %zu bytes, more than one "
				 "datagram (%zu): not sent (no block-wise notifications)", name,
				 o->composite ? " (composite)" : "", out->len,
				 coap_session_max_pdu_size(s));
			o->said_too_large = true;
		}
		note_lost(o, "payload too large");
		return -E2BIG;
	}
	if (coap_send(s, pdu) == COAP_INVALID_MID) {
		note_lost(o, "send failed");
		return -EIO;
	}
	if (con) {
		o->since_con = 0;
		o->last_con_ms = now;
	} else {
		o->since_con++;
	}
	lwm_engine_kick(c->engine);
	return 0;
}

static void obs_timer(struct gw_timer *tm, void *ud)
{
	struct lwm_obs *o = ud;
	struct lwm_attrs a;
	uint64_t now = clock_now_ms();
	double v = 0;
	bool num;

	if (o->due_attrs_ok)
		a = o->due_attrs;
	else
		effective(o, &a);
	o->due_attrs_ok = false;
	/* Attributes may have changed since the timer was armed. */
	if (!lwm_obs_due(&a, &o->st, now)) {
		rearm(o, &a);
		return;
	}
	num = numeric_value(o, &v);
	/* Sent or not, the period restarts: no retry storm while off the air. */
	send_notification(o, &a, now);
	lwm_obs_sent(&o->st, num, v, now);
	rearm(o, &a);
}

static void obs_changed(struct lwm_obs *o, uint64_t now)
{
	struct lwm_attrs a;
	uint64_t at;
	double v = 0;
	bool num;

	effective(o, &a);
	num = numeric_value(o, &v);
	switch (lwm_obs_on_change(&a, &o->st, num, v, now, &at)) {
	case LWM_OBS_NONE:
		return;
	case LWM_OBS_NOW:
		o->due_attrs = a;
		o->due_attrs_ok = true;
		break;
	case LWM_OBS_LATER:
		o->due_attrs_ok = false; /* resolved again when it is due */
		break;
	}
	/* Due now: fire on the loop's next turn, so that the several values
	 * one reading sets (value, min, max) go out in one notification. */
	if (!gw_timer_armed(&o->timer) || o->timer.due_ms > at)
		gw_timer_arm(&o->timer, at);
}

void lwm_client_values_changed(struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_obs_table *t = c->obs;
	uint64_t now;

	lwm_send_changed(c, p);
	if (!t || !t->n)
		return;
	now = clock_now_ms();
	/* Observers of p itself and of each of its parents, root included. */
	for (int len = p->len; len >= 0; len--) {
		struct lwm_path q = *p;
		q.len = (uint8_t)len;
		for (struct lwm_obs_watch *w = t->buckets[path_hash(&q)]; w; w = w->next)
			if (lwm_path_cmp(&w->path, &q) == 0)
				obs_changed(w->obs, now);
	}
}

void lwm_client_values_changed_now(struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_obs_table *t = c->obs;
	struct lwm_obs *hit[16];
	size_t n = 0;
	uint64_t now;

	lwm_send_changed(c, p);
	if (!t || !t->n)
		return;
	now = clock_now_ms();
	/* Observers of p and of its parents; an observation watching several
	 * of them (composite) is notified once. */
	for (int len = p->len; len >= 0; len--) {
		struct lwm_path q = *p;
		q.len = (uint8_t)len;
		for (struct lwm_obs_watch *w = t->buckets[path_hash(&q)]; w; w = w->next) {
			bool seen = false;
			if (lwm_path_cmp(&w->path, &q) != 0)
				continue;
			for (size_t i = 0; i < n; i++)
				seen |= hit[i] == w->obs;
			if (seen)
				continue;
			if (n == sizeof(hit) / sizeof(hit[0])) {
				obs_changed(w->obs, now); /* beyond: as usual */
				continue;
			}
			hit[n++] = w->obs;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct lwm_obs *o = hit[i];
		struct lwm_attrs a;
		double v = 0;
		bool num = numeric_value(o, &v);

		effective(o, &a);
		send_notification(o, &a, now);
		lwm_obs_sent(&o->st, num, v, now);
		rearm(o, &a);
	}
}

uint32_t lwm_client_sample_ms(const struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_obs_table *t = c->obs;
	uint32_t best = 0;

	if (!t || !t->n)
		return 0;
	for (int len = p->len; len >= 0; len--) {
		struct lwm_path q = *p;
		q.len = (uint8_t)len;
		for (struct lwm_obs_watch *w = t->buckets[path_hash(&q)]; w; w = w->next) {
			struct lwm_attrs a;
			uint32_t ms;
			if (lwm_path_cmp(&w->path, &q) != 0)
				continue;
			effective(w->obs, &a);
			ms = lwm_obs_sample_ms(&a);
			if (ms && (!best || ms < best))
				best = ms;
		}
	}
	return best;
}

void lwm_observe_attrs_changed(struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_obs_table *t = c->obs;

	/* Write-Attributes is rare: walking this client's observations is fine. */
	for (struct lwm_obs *o = t ? t->list : NULL; o; o = o->next) {
		bool affected = o->composite;
		for (size_t i = 0; i < o->n_paths && !affected; i++)
			affected = lwm_path_starts_with(&o->watch[i].path, p) ||
				   lwm_path_starts_with(p, &o->watch[i].path);
		if (affected) {
			struct lwm_attrs a;
			o->due_attrs_ok = false;
			effective(o, &a);
			rearm(o, &a);
			sampling_changed(c, o);
		}
	}
}

static enum lwm_type type_of(const struct lwm_path *p, void *ud)
{
	const struct lwm_obj_def *od = lwm_objdef_find(LWM_PATH_OID(p));
	const struct lwm_res_def *rd = od ? lwm_resdef_find(od, LWM_PATH_RID(p)) : NULL;

	return rd ? (enum lwm_type)rd->type : LWM_T_NONE;
}

/* Keep the values an unacknowledged CON notification carried, with the
 * time it went out. */
static void store_failed(struct lwm_obs *o, const coap_pdu_t *sent)
{
	struct lwm_client *c = o->t->c;
	struct lwm_record recs[OBS_MAX_PATHS * 4];
	struct lwm_buf scratch;
	struct lwm_attrs a;
	struct lwm_path base = {0};
	const uint8_t *data = NULL;
	size_t len = 0, n = 0;
	uint32_t cf = o->format;
	uint64_t age_ms = clock_now_ms() - o->last_con_ms;

	if (!coap_get_data(sent, &len, &data) || !len)
		return;
	if (!o->composite)
		base = o->watch[0].path;
	lwm_request_uint_option(sent, COAP_OPTION_CONTENT_FORMAT, &cf);
	lwm_buf_init(&scratch, 64 * 1024);
	effective(o, &a);
	if (lwm_decode_ex((uint16_t)cf, &base, data, len, type_of, c->model, recs,
			  sizeof(recs) / sizeof(recs[0]), &n, &scratch) < 0 ||
	    !lwm_report_store(c, obs_key(o), (a.set & LWM_ATTR_HQMAX) ? a.hqmax : 0,
			      clock_wall_s() - (int64_t)(age_ms / 1000), recs, n))
		note_lost(o, "not acknowledged");
	lwm_buf_free(&scratch);
}

bool lwm_observe_nack(struct lwm_client *c, const coap_pdu_t *sent, coap_nack_reason_t reason)
{
	struct lwm_obs *o;

	if (COAP_RESPONSE_CLASS(coap_pdu_get_code(sent)) != 2)
		return false;
	o = find_token(c->obs, coap_pdu_get_token(sent));
	if (!o)
		return false;
	/* With Notification Storing on, an unanswered CON means the server
	 * is unreachable, not that it forgot us: keep the observation, keep
	 * what the notification carried, and find out with an Update (send.c
	 * explains).  A RST still ends it. */
	if ((reason == COAP_NACK_TOO_MANY_RETRIES || reason == COAP_NACK_ICMP_ISSUE) &&
	    lwm_report_storing(c)) {
		store_failed(o, sent);
		lwm_report_offline(c, reason == COAP_NACK_ICMP_ISSUE ? "ICMP error"
								     : "notification not acknowledged");
		return true;
	}
	/* A RST says the server forgot it; a CON never acknowledged (or
	 * refused by the network: ICMP) says the server is gone.  Either way
	 * the observation ends (RFC 7641 3.6, LwM2M: a failed CON cancels). */
	if (reason == COAP_NACK_RST || reason == COAP_NACK_TOO_MANY_RETRIES ||
	    reason == COAP_NACK_ICMP_ISSUE) {
		char path[32] = "composite";
		if (!o->composite)
			lwm_path_format(&o->watch[0].path, path, sizeof(path));
		log_info(c->name, "observation of %s cancelled: %s", path,
			 reason == COAP_NACK_RST		? "reset by server"
			 : reason == COAP_NACK_ICMP_ISSUE ? "server unreachable (ICMP)"
							  : "notification not acknowledged");
		obs_free(o, true);
	} else {
		log_debug(c->name, "notification failed (reason %d)", (int)reason);
	}
	return true;
}

/* ---- Observe and Cancel requests -------------------------------------------------------- */

static int observe_paths(struct lwm_client *c, const coap_pdu_t *req, const struct lwm_path *p,
			 struct lwm_path *paths, size_t *n);

static bool same_paths(const struct lwm_obs *o, const struct lwm_path *paths, size_t n)
{
	if (o->n_paths != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lwm_path_cmp(&o->watch[i].path, &paths[i]) != 0)
			return false;
	return true;
}

static void cancel_by_paths(struct lwm_client *c, struct lwm_obs_table *t,
			    const coap_pdu_t *req, const struct lwm_path *p)
{
	struct lwm_path paths[OBS_MAX_PATHS];
	bool composite = coap_pdu_get_code(req) == COAP_REQUEST_CODE_FETCH;
	struct lwm_obs *match = NULL;
	size_t n = 0, found = 0;

	if (!t || observe_paths(c, req, p, paths, &n) < 0)
		return;
	for (struct lwm_obs *o = t->list; o; o = o->next)
		if (o->composite == composite && same_paths(o, paths, n)) {
			match = o;
			found++;
		}
	/* The token identifies an observation (RFC 7641): the path stands in
	 * for it only when it names exactly one; with several, which one the
	 * server meant is unknown, and ending all would end others' too. */
	if (found == 1)
		obs_free(match, true);
	else if (found > 1)
		log_notice(t->c->name, "cancel with an unknown token matches %zu observations: "
			   "none cancelled", found);
}

/* Will Read-Composite (ops.c) answer 2.05?  Its checks, in its order:
 * the path list decodes, the Accept is SenML or LwM2M CBOR, no path is in
 * /0, and at least one path is readable. */
static bool composite_will_read(struct lwm_client *c, const coap_pdu_t *req,
				const struct lwm_path *p)
{
	struct lwm_path paths[OBS_MAX_PATHS];
	size_t n = 0;
	uint32_t accept;
	bool any = false;

	if (observe_paths(c, req, p, paths, &n) < 0 || n == 0)
		return false;
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0 &&
	    accept != LWM_FMT_SENML_JSON && accept != LWM_FMT_SENML_CBOR &&
	    accept != LWM_FMT_LWM2M_CBOR)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct lwm_record *recs;
		size_t k;
		if (paths[i].len > 0 && LWM_PATH_OID(&paths[i]) == 0)
			return false;
		if (paths[i].len && lwm_client_read(c, &paths[i], &recs, &k) == 0 &&
		    !(c->unavailable && LWM_PATH_OID(&paths[i]) >= 8))
			any = true;
	}
	return any;
}

bool lwm_observe_begin(struct lwm_client *c, const coap_pdu_t *req, const coap_string_t *query,
		       coap_pdu_t *resp, const struct lwm_path *p, uint32_t observe)
{
	struct lwm_obs_table *t = table_of(c, observe == 0);
	struct lwm_obs *old = find_token(t, coap_pdu_get_token(req));

	if (observe == 1) {
		/* Cancel: the token names the observation (RFC 7641 3.6).  Some
		 * servers' stacks (libcoap 4.3.1 among them) put a fresh token on
		 * the cancel; then the path (or path list) names it. */
		if (old)
			obs_free(old, true);
		else
			cancel_by_paths(c, t, req, p);
		return true;
	}
	if (observe != 0)
		return true; /* not an Observe value we know: a plain read */
	if (!t) {
		lwm_respond_code(resp, 500);
		return false;
	}
	t->new_attrs = (struct lwm_attrs){0};
	/* 1.2: attributes carried in the Observe request itself. */
	if (query && query->length &&
	    lwm_attrs_apply_query(&t->new_attrs, (const char *)query->s, query->length, p->len,
				  lwm_attr_target(p) | lwm_attr_version(c->version)) < 0) {
		lwm_respond_code(resp, 400);
		return false;
	}
	/* What one registration may hold (max_observations): beyond it, a
	 * clear refusal rather than an observation the server believes in
	 * and never hears from.  A re-registration (same token) replaces its
	 * old one, so it always fits. */
	if (!old && t->n >= c->engine->max_obs) {
		log_warn(c->name, "Observe of a %u-level path refused with 5.03: this server "
			 "already holds %zu observation(s), the most max_observations allows",
			 (unsigned)p->len, t->n);
		lwm_respond_code(resp, 503);
		return false;
	}
	/* RFC 7641 4.1: no Observe on an error.  The option goes in once the
	 * answer is encoded (lwm_observe_option), as libcoap 4.3.1 can take
	 * no option out again; a read that cannot succeed is not observed
	 * at all. */
	if (coap_pdu_get_code(req) == COAP_REQUEST_CODE_GET) {
		const struct lwm_record *recs;
		size_t n;
		uint32_t accept;
		if ((lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0 &&
		     accept == LWM_FMT_LINK) ||
		    lwm_client_read(c, p, &recs, &n) < 0 ||
		    (c->unavailable && p->len >= 1 && LWM_PATH_OID(p) >= 8))
			return true;
	} else if (!composite_will_read(c, req, p)) {
		return true;
	}
	/* A re-registration with the same token continues its numbering. */
	t->new_seq = old ? (old->seq + 1) & 0xFFFFFFu : 1;
	t->add_option = true;
	return true;
}

void lwm_observe_option(struct lwm_client *c, coap_pdu_t *resp)
{
	struct lwm_obs_table *t = c->obs;
	uint8_t buf[4];

	if (!t || !t->add_option)
		return;
	t->add_option = false;
	coap_add_option(resp, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof(buf), t->new_seq),
			buf);
}

static int observe_paths(struct lwm_client *c, const coap_pdu_t *req, const struct lwm_path *p,
			 struct lwm_path *paths, size_t *n)
{
	const uint8_t *data = NULL;
	size_t len = 0;
	uint32_t cf;

	if (coap_pdu_get_code(req) != COAP_REQUEST_CODE_FETCH) {
		paths[0] = *p;
		*n = 1;
		return 0;
	}
	if (lwm_request_uint_option(req, COAP_OPTION_CONTENT_FORMAT, &cf) < 0 || cf > UINT16_MAX)
		return -EINVAL;
	lwm_request_data(c->engine, req, &data, &len);
	return lwm_senml_paths_decode((uint16_t)cf, data, len, paths, OBS_MAX_PATHS, n);
}

void lwm_observe_end(struct lwm_client *c, const coap_pdu_t *req, coap_pdu_t *resp,
		     const struct lwm_path *p, uint32_t observe)
{
	struct lwm_obs_table *t = c->obs;
	struct lwm_path paths[OBS_MAX_PATHS];
	struct lwm_obs *o, *old;
	struct lwm_attrs a;
	coap_bin_const_t tok = coap_pdu_get_token(req);
	uint32_t cf = LWM_FMT_TLV;
	size_t n = 0;
	double v = 0;
	bool num;
	coap_opt_iterator_t oi;

	if (t)
		t->add_option = false;
	if (observe != 0 || !t || !coap_check_option(resp, COAP_OPTION_OBSERVE, &oi))
		return;
	lwm_request_uint_option(resp, COAP_OPTION_CONTENT_FORMAT, &cf);
	/* Only a successful read is observed (a Discover never is). */
	if (coap_pdu_get_code(resp) != COAP_RESPONSE_CODE(205) || cf == LWM_FMT_LINK ||
	    tok.length > LWM_TOKEN_MAX || observe_paths(c, req, p, paths, &n) < 0 || n == 0)
		return;
	o = calloc(1, sizeof(*o) + n * sizeof(o->watch[0]));
	if (!o)
		return;
	old = find_token(t, tok);
	/* Its paths may differ from the new one's: their sampling is
	 * recomputed too. */
	if (old)
		obs_free(old, true);
	o->t = t;
	memcpy(o->token, tok.s, tok.length);
	o->token_len = tok.length;
	o->format = (uint16_t)cf;
	o->composite = coap_pdu_get_code(req) == COAP_REQUEST_CODE_FETCH;
	o->req_attrs = t->new_attrs;
	o->seq = t->new_seq;
	o->last_con_ms = clock_now_ms();
	o->n_paths = n;
	gw_timer_init(&o->timer, c->engine->timers, obs_timer, o);
	for (size_t i = 0; i < n; i++) {
		struct lwm_obs_watch *w = &o->watch[i];
		unsigned h = path_hash(&paths[i]);
		w->path = paths[i];
		w->obs = o;
		w->next = t->buckets[h];
		t->buckets[h] = w;
	}
	o->next = t->list;
	t->list = o;
	t->n++;
	/* The answer counts as the first notification: pmin and pmax run from now. */
	num = numeric_value(o, &v);
	lwm_obs_sent(&o->st, num, v, clock_now_ms());
	effective(o, &a);
	rearm(o, &a);
	sampling_changed(c, o);
}
