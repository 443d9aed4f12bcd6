/* Send (POST /dp) and notification storing.
 *
 * What the specification asks, and how it is met here (TS Core 1.1/1.2):
 * - /1/x/6 Notification Storing When Disabled or Offline (default true):
 *   while the account is disabled or the client is offline, Notify
 *   operations are stored and reported once the server is reachable again.
 *   The client knows the server is unreachable when a CON notification or
 *   a registration request goes unanswered; it then holds notifications
 *   back and probes with an Update.  A failed CON therefore no longer ends
 *   the observation while storing is on (only a RST, the server saying it
 *   forgot the observation, does).
 * - Where the stored notifications go depends on what survived:
 *   (1) the Update succeeds: the registration and its observations live,
 *   so each stored notification goes out on its observation, in order; in
 *   SenML formats with its time (the 1.2 text on timestamped SenML in
 *   notifications is for exactly this), in other formats as it was;
 *   (2) the registration was lost (new Register, observations gone): the
 *   observations' tokens mean nothing to the server any more, so the
 *   values go by Send, SenML with bt/t, in order, when Send is allowed
 *   (1.1+, not muted, supported by the server); otherwise they are dropped,
 *   counted and logged.
 * - /1/x/23 Mute Send: true (or absent) switches Send off.  Muted data is
 *   not stored: muting is the server refusing Send, not the server being
 *   away.  Data a scheduled Send produces while offline is stored like a
 *   notification (key 0) when storing is on.
 * - A Send is kept (records and times) until its answer: when its CON goes
 *   unanswered and storing is on, its records go back to the store like an
 *   unacknowledged CON notification.  At most SEND_INFLIGHT Sends await an
 *   answer; the rest of the store goes as answers come.
 * - 4.05 / 5.01 to /dp: the server has no Send; logged once, Send stays
 *   off until the next registration.  4.04 means "Reported Object was not
 *   registered to the LwM2M Server": that payload is dropped (logged), and
 *   only SEND_404_LIMIT of them in a row switch Send off (a server that
 *   routes no /dp at all). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "send.h"

#define STORE_DEFAULT_COUNT 256
#define STORE_DEFAULT_BYTES (64u * 1024u)
#define SEND_MAX_RECORDS 64 /* per POST /dp when draining the store */
#define SEND_INFLIGHT 8     /* Sends awaiting an answer */
#define SEND_404_LIMIT 3    /* 4.04s in a row taken as "no Send here" */

struct lwm_report {
	struct lwm_client *c;
	struct lwm_store *store;
	uint64_t logged_dropped; /* drops already reported */
	uint64_t dropped_other;  /* could not be delivered (no Send, muted) */
	bool offline;
	bool unsupported;        /* the server has no Send (4.05, 5.01, 4.04s) */
	unsigned not_found;      /* 4.04s to /dp in a row */
	bool said_no_send;       /* "1.0 has no Send" logged */
	bool said_clock;         /* "wall clock not set" logged */
	/* What the device asked to send. */
	uint16_t format;
	struct lwm_send_item *items;
	bool *dirty;             /* per item: changed since the last Send */
	size_t n_items;
	struct gw_timer period_timer, change_timer;
	uint64_t *next_ms;       /* per item: its next periodic Send */
	/* Sends awaiting their answer. */
	struct {
		uint8_t tok[LWM_TOKEN_MAX];
		size_t len;
	} inflight[SEND_INFLIGHT];
	/* Their records while storing is on, key slot + 1. */
	struct lwm_store *pending;
	unsigned long failed;
	/* Reused between Sends. */
	struct lwm_record *recs;
	int64_t *times;
	size_t cap;
};

static bool power_of_ten(uint64_t k)
{
	while (k >= 10 && k % 10 == 0)
		k /= 10;
	return k == 1;
}

static const struct lwm_value *server_res(struct lwm_client *c, uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, 1, c->server_iid, rid, 0);

	return lwm_model_get(c->model, &p);
}

bool lwm_report_storing(struct lwm_client *c)
{
	const struct lwm_value *v = server_res(c, 6);

	/* Absent means on: 1.xml gives true as the default, and an account a
	 * bootstrap server wrote may well leave the resource out. */
	return !v || v->type != LWM_T_BOOLEAN || v->v.b;
}

static bool muted(struct lwm_client *c)
{
	const struct lwm_value *v = server_res(c, 23);

	/* Absent means muted (1.xml). */
	return !v || v->type != LWM_T_BOOLEAN || v->v.b;
}

static bool is_registered(const struct lwm_client *c)
{
	return c->session && !c->disabled &&
	       (c->state == LWM_CLIENT_REGISTERED || c->state == LWM_CLIENT_UPDATING);
}

/* Can a Send go out (now or once back)?  Logs the reason once when not. */
static bool send_allowed(struct lwm_client *c)
{
	if (strcmp(c->version, "1.0") == 0) {
		if (!c->report->said_no_send)
			log_notice(c->name, "Send is not available: registered with LwM2M 1.0");
		c->report->said_no_send = true;
		return false;
	}
	return !muted(c) && !c->report->unsupported;
}

static void log_drops(struct lwm_report *r, const char *why)
{
	uint64_t total = lwm_store_dropped(r->store) + r->dropped_other;

	/* Rate-limited: the 1st, 10th, 100th ... drop is logged. */
	for (uint64_t k = r->logged_dropped + 1; k <= total; k++)
		if (power_of_ten(k)) {
			log_warn(r->c->name, "stored notification dropped (%s); %llu dropped so far",
				 why, (unsigned long long)total);
			break;
		}
	r->logged_dropped = total;
}

uint64_t lwm_report_obs_key(const uint8_t *token, size_t len)
{
	uint64_t h = 14695981039346656037ull ^ len;

	for (size_t i = 0; i < len; i++)
		h = (h ^ token[i]) * 1099511628211ull;
	return h ? h : 1; /* 0 is a Send */
}

bool lwm_report_store(struct lwm_client *c, uint64_t key, uint32_t hqmax, int64_t time_s,
		      const struct lwm_record *recs, size_t n)
{
	struct lwm_report *r = c->report;
	size_t before;

	if (!r || !r->store || !lwm_report_storing(c))
		return false;
	before = lwm_store_count(r->store);
	lwm_store_push(r->store, key, hqmax, time_s, recs, n);
	if (before == 0 && lwm_store_count(r->store) == 1)
		log_info(c->name, "server unreachable or disabled: storing notifications");
	log_debug(c->name, "notification stored (%zu kept, %zu bytes)", lwm_store_count(r->store),
		  lwm_store_bytes(r->store));
	log_drops(r, "store or hqmax bound");
	return true;
}

bool lwm_report_holding(const struct lwm_client *c)
{
	return c->report && c->report->offline;
}

void lwm_report_offline(struct lwm_client *c, const char *why)
{
	struct lwm_report *r = c->report;

	if (!r || r->offline)
		return;
	r->offline = true;
	log_notice(c->name, "server unreachable (%s): holding notifications back, probing with an Update",
		   why);
	/* An Update in flight already is the probe. */
	if (c->state == LWM_CLIENT_REGISTERED)
		lwm_client_update_now(c);
}

/* ---- POST /dp --------------------------------------------------------------------- */

static void release_payload(coap_session_t *s, void *p)
{
	free(p);
}

static int free_slot(const struct lwm_report *r)
{
	for (int i = 0; i < SEND_INFLIGHT; i++)
		if (!r->inflight[i].len)
			return i;
	return -1;
}

/* Keep a Send's records, one entry per run of equal times, until its
 * answer (key slot + 1). */
static void keep_pending(struct lwm_report *r, int slot, const struct lwm_record *recs,
			 const int64_t *t, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && t[j] == t[i]; j++)
			;
		/* Not kept, or room made by dropping an older Send's copy: that
		 * data is lost should its Send go unanswered.  Say so. */
		if (lwm_store_push(r->pending, (uint64_t)slot + 1, 0, t[i], recs + i, j - i) != 0)
			log_warn(r->c->name, "Sends in flight exceed the store's bounds: one "
				 "is no longer kept for a resend");
	}
}

/* The records of an unanswered Send back into the store (storing on). */
static size_t restore_pending(struct lwm_report *r, int slot)
{
	struct lwm_store_entry e;
	size_t k = 0;

	for (size_t i = 0; lwm_store_at(r->pending, i, &e); i++)
		if (e.key == (uint64_t)slot + 1) {
			lwm_store_push(r->store, 0, 0, e.time_s, e.recs, e.n);
			k++;
		}
	lwm_store_remove_key(r->pending, (uint64_t)slot + 1);
	return k;
}

/* -EBUSY: SEND_INFLIGHT Sends await their answer already. */
static int post_dp(struct lwm_client *c, const struct lwm_record *recs, const int64_t *t,
		   size_t n)
{
	struct lwm_report *r = c->report;
	struct lwm_buf out;
	coap_pdu_t *pdu;
	uint8_t buf[4];
	int e, slot = free_slot(r);

	if (slot < 0)
		return -EBUSY;
	if (n && t[0] < LWM_SENML_T_ABS_MIN && !r->said_clock) {
		log_warn(c->name, "wall clock not set (%lld s): Send carries no times",
			 (long long)t[0]);
		r->said_clock = true;
	}
	lwm_buf_init(&out, 64 * 1024);
	e = lwm_senml_encode_timed(r->format, recs, t, n, &out);
	if (e < 0 || !out.len) {
		lwm_buf_free(&out);
		return e < 0 ? e : -ENODATA;
	}
	pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, c->session);
	if (!pdu) {
		lwm_buf_free(&out);
		return -ENOMEM;
	}
	coap_session_new_token(c->session, &r->inflight[slot].len, r->inflight[slot].tok);
	coap_add_token(pdu, r->inflight[slot].len, r->inflight[slot].tok);
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"dp");
	coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
			coap_encode_var_safe(buf, sizeof(buf), r->format), buf);
	/* libcoap owns the payload now (Block1 when large). */
	if (!coap_add_data_large_request(c->session, pdu, out.len, out.data, release_payload,
					 out.data)) {
		coap_delete_pdu(pdu);
		r->inflight[slot].len = 0;
		return -ENOMEM;
	}
	if (coap_send(c->session, pdu) == COAP_INVALID_MID) {
		r->inflight[slot].len = 0;
		return -EIO;
	}
	if (lwm_report_storing(c))
		keep_pending(r, slot, recs, t, n);
	lwm_engine_kick(c->engine);
	return 0;
}

static void deliver_stored(struct lwm_client *c, bool quiet);

static int grow(struct lwm_report *r, size_t need)
{
	if (need <= r->cap)
		return 0;
	{
		size_t cap = need * 2;
		struct lwm_record *nr = realloc(r->recs, cap * sizeof(*nr));
		int64_t *nt;
		if (!nr)
			return -ENOMEM;
		r->recs = nr;
		nt = realloc(r->times, cap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		r->times = nt;
		r->cap = cap;
	}
	return 0;
}

/* Send the records of the listed items (current values, now). */
static void send_items(struct lwm_client *c, const bool *which)
{
	struct lwm_report *r = c->report;
	int64_t now = clock_wall_s();
	size_t n = 0;

	/* The device is down: its values are not current, so they are not
	 * reported as taken now. */
	if (c->unavailable)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		const struct lwm_record *rr;
		size_t k;
		if (!which[i] || lwm_model_read(c->model, &r->items[i].path, &rr, &k) < 0)
			continue;
		if (grow(r, n + k) < 0)
			break;
		memcpy(r->recs + n, rr, k * sizeof(*rr));
		for (size_t j = 0; j < k; j++)
			r->times[n + j] = now;
		n += k;
	}
	if (!n || muted(c))
		return; /* muted: nothing sent, nothing stored */
	if (!is_registered(c) || r->offline) {
		if (!lwm_report_store(c, 0, 0, now, r->recs, n)) {
			r->dropped_other++;
			log_drops(r, "not registered");
		}
		return;
	}
	if (!send_allowed(c))
		return;
	/* Stored data still waiting for a free Send goes first. */
	if (free_slot(r) < 0 || (lwm_store_count(r->store) && lwm_report_storing(c))) {
		if (lwm_report_storing(c))
			lwm_store_push(r->store, 0, 0, now, r->recs, n);
		else
			r->dropped_other++;
		log_drops(r, "every Send slot awaiting its answer");
		deliver_stored(c, true);
		return;
	}
	if (post_dp(c, r->recs, r->times, n) < 0) {
		r->failed++;
		if (power_of_ten(r->failed))
			log_warn(c->name, "Send could not be sent; %lu so far", r->failed);
	}
}

static void period_cb(struct gw_timer *t, void *ud)
{
	struct lwm_client *c = ud;
	struct lwm_report *r = c->report;
	uint64_t now = clock_now_ms(), next = UINT64_MAX;
	bool *due = r->dirty + r->n_items; /* scratch half */
	bool any = false;

	for (size_t i = 0; i < r->n_items; i++) {
		due[i] = false;
		if (!r->items[i].period_ms)
			continue;
		if (r->next_ms[i] <= now) {
			due[i] = any = true;
			/* Items sharing a period go out together. */
			r->next_ms[i] += r->items[i].period_ms;
			if (r->next_ms[i] <= now)
				r->next_ms[i] = now + r->items[i].period_ms;
		}
		if (r->next_ms[i] < next)
			next = r->next_ms[i];
	}
	if (any)
		send_items(c, due);
	if (next != UINT64_MAX)
		gw_timer_arm(&r->period_timer, next);
}

static void change_cb(struct gw_timer *t, void *ud)
{
	struct lwm_client *c = ud;
	struct lwm_report *r = c->report;

	send_items(c, r->dirty);
	memset(r->dirty, 0, r->n_items * sizeof(*r->dirty));
}

void lwm_send_changed(struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_report *r = c->report;
	bool any = false;

	if (!r || !r->n_items)
		return;
	for (size_t i = 0; i < r->n_items; i++)
		if (r->items[i].on_change && lwm_path_starts_with(p, &r->items[i].path)) {
			r->dirty[i] = true;
			any = true;
		}
	/* On the loop's next turn: one reading's several values, one Send. */
	if (any && !gw_timer_armed(&r->change_timer))
		gw_timer_arm(&r->change_timer, clock_now_ms());
}

int lwm_client_send_config(struct lwm_client *c, uint16_t format,
			   const struct lwm_send_item *items, size_t n)
{
	struct lwm_report *r = c->report;
	uint64_t now = clock_now_ms();

	if (format != LWM_FMT_SENML_CBOR && format != LWM_FMT_SENML_JSON)
		return -ENOTSUP;
	gw_timer_disarm(&r->period_timer);
	gw_timer_disarm(&r->change_timer);
	free(r->items);
	free(r->dirty);
	free(r->next_ms);
	r->items = NULL;
	r->dirty = NULL;
	r->next_ms = NULL;
	r->n_items = 0;
	r->format = format;
	if (!n)
		return 0;
	r->items = malloc(n * sizeof(*items));
	r->dirty = calloc(2 * n, sizeof(*r->dirty));
	r->next_ms = calloc(n, sizeof(*r->next_ms));
	if (!r->items || !r->dirty || !r->next_ms)
		return -ENOMEM;
	memcpy(r->items, items, n * sizeof(*items));
	r->n_items = n;
	for (size_t i = 0; i < n; i++)
		if (items[i].period_ms) {
			r->next_ms[i] = now + items[i].period_ms;
			if (!gw_timer_armed(&r->period_timer) ||
			    r->period_timer.due_ms > r->next_ms[i])
				gw_timer_arm(&r->period_timer, r->next_ms[i]);
		}
	return 0;
}

bool lwm_send_response(struct lwm_client *c, const coap_pdu_t *rcvd)
{
	struct lwm_report *r = c->report;
	coap_bin_const_t tok = coap_pdu_get_token(rcvd);
	coap_pdu_code_t pc = coap_pdu_get_code(rcvd);
	unsigned code = (pc >> 5) * 100 + (pc & 0x1f);

	if (!r)
		return false;
	for (unsigned i = 0; i < SEND_INFLIGHT; i++) {
		if (!r->inflight[i].len || r->inflight[i].len != tok.length ||
		    memcmp(r->inflight[i].tok, tok.s, tok.length) != 0)
			continue;
		r->inflight[i].len = 0;
		/* Answered: delivered or refused, not kept either way. */
		lwm_store_remove_key(r->pending, (uint64_t)i + 1);
		if (code / 100 == 2) {
			r->not_found = 0;
		} else if (code == 405 || code == 501 ||
			   (code == 404 && ++r->not_found >= SEND_404_LIMIT)) {
			if (!r->unsupported)
				log_warn(c->name, "server answered %u.%02u to Send: it has no Send; "
					 "not sending until the next registration", code / 100,
					 code % 100);
			r->unsupported = true;
		} else if (code == 404) {
			/* TS Core: a reported Object not registered to the server. */
			r->dropped_other++;
			log_warn(c->name, "server answered 4.04 to Send (an object it does not "
				 "know?): that Send's data dropped");
		} else if (power_of_ten(++r->failed)) {
			log_warn(c->name, "Send answered %u.%02u; %lu failed so far", code / 100,
				 code % 100, r->failed);
		}
		/* A slot is free: what waits in the store can go on. */
		deliver_stored(c, true);
		return true;
	}
	return false;
}

bool lwm_send_nack(struct lwm_client *c, const coap_pdu_t *sent, coap_nack_reason_t reason)
{
	struct lwm_report *r = c->report;
	coap_bin_const_t tok = coap_pdu_get_token(sent);

	if (!r)
		return false;
	for (unsigned i = 0; i < SEND_INFLIGHT; i++) {
		if (!r->inflight[i].len || r->inflight[i].len != tok.length ||
		    memcmp(r->inflight[i].tok, tok.s, tok.length) != 0)
			continue;
		r->inflight[i].len = 0;
		if (reason == COAP_NACK_TOO_MANY_RETRIES || reason == COAP_NACK_ICMP_ISSUE) {
			/* The server is away, not refusing: keep the data like an
			 * unacknowledged CON notification (storing on). */
			size_t k = restore_pending(r, (int)i);
			if (k)
				log_debug(c->name, "unacknowledged Send kept (%zu entries)", k);
			else if (power_of_ten(++r->failed))
				log_warn(c->name, "Send not acknowledged; %lu lost so far", r->failed);
			lwm_report_offline(c, "Send not acknowledged");
			return true;
		}
		lwm_store_remove_key(r->pending, (uint64_t)i + 1);
		if (power_of_ten(++r->failed))
			log_warn(c->name, "Send not delivered (reason %d); %lu failed so far",
				 (int)reason, r->failed);
		return true;
	}
	return false;
}

/* ---- delivering what was stored ----------------------------------------------------- */

/* The first k entries' records and times into r->recs/r->times (the
 * records point into the store until those entries are popped); it stops
 * before an entry whose observation lives (that one goes on it). */
static size_t batch(struct lwm_client *c, size_t *k_out)
{
	struct lwm_report *r = c->report;
	struct lwm_store_entry e;
	size_t k = 0, n = 0;

	while (lwm_store_at(r->store, k, &e)) {
		if (n && (n + e.n > SEND_MAX_RECORDS || (e.key && lwm_observe_has_key(c, e.key))))
			break;
		if (grow(r, n + e.n) < 0)
			break;
		memcpy(r->recs + n, e.recs, e.n * sizeof(*e.recs));
		for (size_t j = 0; j < e.n; j++)
			r->times[n + j] = e.time_s;
		n += e.n;
		k++;
	}
	*k_out = k;
	return n;
}

/* What the store holds, oldest first: each on its observation while that
 * exists, the rest (Sends, observations gone) by Send in batches; what
 * cannot be sent is dropped, counted and logged.  Stops while the server
 * is away, and when every Send slot is taken (an answer resumes it). */
static void deliver_stored(struct lwm_client *c, bool quiet)
{
	struct lwm_report *r = c->report;
	struct lwm_store_entry e;
	size_t on_obs = 0, by_send = 0, k, n;

	while (!r->offline && is_registered(c) && lwm_store_peek(r->store, &e)) {
		if (e.key && lwm_observe_deliver(c, e.key, e.time_s, e.recs, e.n) == 0) {
			on_obs++;
			lwm_store_pop(r->store);
			continue;
		}
		if (!send_allowed(c)) {
			lwm_store_drop_oldest(r->store);
			continue;
		}
		if (free_slot(r) < 0)
			break;
		n = batch(c, &k);
		if (k == 0) { /* out of memory for even one entry */
			lwm_store_drop_oldest(r->store);
			continue;
		}
		/* The records point into the store: popped only once sent (the
		 * pending copy is made inside post_dp). */
		if (n && post_dp(c, r->recs, r->times, n) == 0) {
			for (size_t i = 0; i < k; i++)
				lwm_store_pop(r->store);
			by_send += k;
			continue;
		}
		for (size_t i = 0; i < k; i++)
			lwm_store_drop_oldest(r->store);
	}
	if (on_obs || by_send) {
		if (quiet)
			log_debug(c->name, "%zu stored notification(s) delivered, %zu by Send",
				  on_obs + by_send, by_send);
		else if (!on_obs)
			log_info(c->name, "%zu stored notification(s) delivered by Send", by_send);
		else
			log_info(c->name, "%zu stored notification(s) delivered, %zu by Send",
				 on_obs + by_send, by_send);
	}
	log_drops(r, send_allowed(c) ? "could not be delivered"
				     : "observation gone and Send unavailable");
}

size_t lwm_client_stored_count(const struct lwm_client *c)
{
	return c->report ? lwm_store_count(c->report->store) : 0;
}

void lwm_report_registered(struct lwm_client *c)
{
	struct lwm_report *r = c->report;

	if (!r)
		return;
	r->offline = false;
	/* Sends on an earlier session will not be answered: forget their
	 * tokens, which the new session may hand out again, and keep their
	 * data (storing on) as never acknowledged. */
	for (int i = 0; i < SEND_INFLIGHT; i++)
		if (r->inflight[i].len && lwm_report_storing(c))
			restore_pending(r, i);
		else
			lwm_store_remove_key(r->pending, (uint64_t)i + 1);
	memset(r->inflight, 0, sizeof(r->inflight));
	r->unsupported = false; /* perhaps a different server now: ask again */
	r->not_found = 0;
	r->said_no_send = false;
	if (lwm_store_count(r->store))
		deliver_stored(c, false);
}

void lwm_report_online(struct lwm_client *c)
{
	struct lwm_report *r = c->report;

	if (!r)
		return;
	if (r->offline)
		log_notice(c->name, "server reachable again");
	r->offline = false;
	/* The Update lives, but the server may have lost its observations
	 * (restarted): the next notification of each goes CON to find out. */
	lwm_observe_con_next(c);
	deliver_stored(c, false);
}

int lwm_report_new(struct lwm_client *c, const struct lwm_client_config *cfg)
{
	struct lwm_report *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->c = c;
	r->format = LWM_FMT_SENML_CBOR;
	r->store = lwm_store_new(cfg->store_count ? cfg->store_count : STORE_DEFAULT_COUNT,
				 cfg->store_bytes ? cfg->store_bytes : STORE_DEFAULT_BYTES);
	/* Sends awaiting their answer: bounded like the store. */
	r->pending = lwm_store_new(cfg->store_count ? cfg->store_count : STORE_DEFAULT_COUNT,
				   cfg->store_bytes ? cfg->store_bytes : STORE_DEFAULT_BYTES);
	if (!r->store || !r->pending) {
		lwm_store_free(r->store);
		lwm_store_free(r->pending);
		free(r);
		return -ENOMEM;
	}
	gw_timer_init(&r->period_timer, c->engine->timers, period_cb, c);
	gw_timer_init(&r->change_timer, c->engine->timers, change_cb, c);
	c->report = r;
	return 0;
}

void lwm_report_free(struct lwm_client *c)
{
	struct lwm_report *r = c->report;

	if (!r)
		return;
	if (lwm_store_count(r->store))
		log_warn(c->name, "%zu stored notification(s) discarded at shutdown",
			 lwm_store_count(r->store));
	gw_timer_disarm(&r->period_timer);
	gw_timer_disarm(&r->change_timer);
	lwm_store_free(r->store);
	lwm_store_free(r->pending);
	free(r->items);
	free(r->dirty);
	free(r->next_ms);
	free(r->recs);
	free(r->times);
	free(r);
	c->report = NULL;
}
