/* The LwM2M client's accounts in a shared data model: several clients (one
 * per server) serving one model, each adding and removing its own Security
 * and Server instances, and a client made for an account that is already
 * in the model (the bootstrap path).  Then the 1.1 registration sequence
 * (/1/x/13..20) on the fake clock: retries, sequences, the end of them,
 * the bootstrap hook, the priority order and its failure block; a lost
 * session (an unanswered Update, a closed DTLS session).  Failures
 * and answers are handed to the client directly: nothing waits. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "gatewayd/timerq.h"
#include "lwm2m/client.h"
#include "lwm2m/client_internal.h"
#include "lwm2m/engine.h"
#include "lwm2m/model.h"

struct env {
	int sink;           /* a UDP socket nobody reads: a silent server */
	char sink_uri[64];
	struct timerq timers;
	struct lwm_engine *engine;
	struct lwm_model *model;
	/* The last request read from the sink (next_register), for reply. */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint8_t mid[2], token[8];
	size_t token_len;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	*state = e;
	log_setup(LOG_TARGET_STDERR, LOG_CRIT);
	e->sink = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e->sink < 0 || bind(e->sink, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(e->sink, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	snprintf(e->sink_uri, sizeof(e->sink_uri), "coap://127.0.0.1:%u", ntohs(sa.sin_port));
	clock_fake_set(1000000);
	timerq_init(&e->timers);
	e->model = lwm_model_new();
	if (!e->model || lwm_engine_new(&e->timers, &e->engine) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	lwm_engine_free(e->engine);
	lwm_model_free(e->model);
	timerq_fini(&e->timers);
	close(e->sink);
	clock_fake_off();
	free(e);
	return 0;
}

static struct lwm_client *client(struct env *e, uint16_t iid, uint16_t ssid, int expect)
{
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "ep",
		.server_uri = "coap://127.0.0.1:5683",
		.lifetime = 100u + iid,
		.short_server_id = ssid,
		.model = e->model,
		.security_iid = iid,
		.server_iid = iid,
	};

	assert_int_equal(lwm_client_new(e->engine, &cc, NULL, NULL, &c), expect);
	return c;
}

static int64_t int_at(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	const struct lwm_value *v = lwm_model_get(m, &p);

	assert_non_null(v);
	return v->v.i;
}

static bool has_instance(struct lwm_model *m, uint16_t oid, uint16_t iid)
{
	struct lwm_path p = lwm_path_make(2, oid, iid, 0, 0);

	return lwm_model_exists(m, &p);
}

static void accounts_share_one_model(void **state)
{
	struct env *e = *state;
	struct lwm_client *a = client(e, 0, 1, 0), *b = client(e, 1, 7, 0);
	struct lwm_buf links;

	assert_ptr_equal(lwm_client_model(a), e->model);
	assert_ptr_equal(lwm_client_model(b), e->model);
	assert_int_equal(int_at(e->model, 1, 0, 0), 1);
	assert_int_equal(int_at(e->model, 1, 1, 0), 7);
	assert_int_equal(int_at(e->model, 1, 1, 1), 101);
	assert_int_equal(int_at(e->model, 0, 1, 10), 7);
	/* The registration payload lists both Server instances, no /0. */
	lwm_buf_init(&links, 4096);
	assert_int_equal(lwm_model_reg_links(e->model, "1.1", &links), 0);
	lwm_buf_append(&links, "", 1);
	assert_non_null(strstr((const char *)links.data, "</1/0>,</1/1>"));
	assert_null(strstr((const char *)links.data, "</0"));
	lwm_buf_free(&links);
	/* Instance ids taken: refused, and nothing of the others touched. */
	assert_null(client(e, 1, 9, -EEXIST));
	assert_int_equal(int_at(e->model, 1, 1, 0), 7);
	/* A freed client takes its account with it, only its own. */
	lwm_client_free(a);
	assert_false(has_instance(e->model, 0, 0));
	assert_false(has_instance(e->model, 1, 0));
	assert_true(has_instance(e->model, 1, 1));
	lwm_client_free(b);
	assert_int_equal(lwm_model_entry_count(e->model), 0);
}

static void set_res(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid,
		    const struct lwm_value *v)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);

	assert_true(lwm_model_set(m, &p, v) >= 0);
}

static void client_from_an_account_in_the_model(void **state)
{
	struct env *e = *state;
	struct lwm_value uri = {.type = LWM_T_STRING}, i = {.type = LWM_T_INTEGER};
	struct lwm_value bind = {.type = LWM_T_STRING};
	struct lwm_client *c = NULL;

	/* What a bootstrap server would have written. */
	assert_int_equal(lwm_model_add_instance(e->model, 0, 5), 0);
	assert_int_equal(lwm_model_add_instance(e->model, 1, 3), 0);
	uri.v.bytes.ptr = (const uint8_t *)"coap://127.0.0.1:5690";
	uri.v.bytes.len = strlen("coap://127.0.0.1:5690");
	set_res(e->model, 0, 5, 0, &uri);
	i.v.i = 42;
	set_res(e->model, 0, 5, 10, &i);
	set_res(e->model, 1, 3, 0, &i);
	i.v.i = 77;
	set_res(e->model, 1, 3, 1, &i);
	bind.v.bytes.ptr = (const uint8_t *)"UQ";
	bind.v.bytes.len = 2;
	set_res(e->model, 1, 3, 7, &bind);

	/* Not there: refused. */
	assert_int_equal(lwm_client_new_from_model(e->engine, e->model, 5, 4, "d", "ep", NULL, NULL,
						   NULL, NULL, &c),
			 -ENOENT);
	assert_int_equal(lwm_client_new_from_model(e->engine, e->model, 5, 3, "d", "ep", NULL, NULL,
						   NULL, NULL, &c),
			 0);
	assert_int_equal(lwm_client_short_server_id(c), 42);
	assert_int_equal(lwm_client_server_iid(c), 3);
	assert_string_equal(lwm_client_server_uri(c), "coap://127.0.0.1:5690");
	/* The executables are declared for the server to use. */
	{
		struct lwm_path p = lwm_path_make(3, 1, 3, 8, 0);
		assert_true(lwm_model_exists(e->model, &p));
	}
	/* Mandatory Notification Storing, left out by the bootstrap server,
	 * reads as its default; the Binding written stays. */
	{
		struct lwm_path p = lwm_path_make(3, 1, 3, 6, 0);
		const struct lwm_value *v = lwm_model_get(e->model, &p);
		assert_non_null(v);
		assert_true(v->v.b);
		p = lwm_path_make(3, 1, 3, 7, 0);
		v = lwm_model_get(e->model, &p);
		assert_non_null(v);
		assert_int_equal(v->v.bytes.len, 2);
		assert_memory_equal(v->v.bytes.ptr, "UQ", 2);
	}
	/* The account is not the client's: it stays in the model. */
	lwm_client_free(c);
	assert_true(has_instance(e->model, 0, 5));
	assert_true(has_instance(e->model, 1, 3));
	assert_int_equal(int_at(e->model, 1, 3, 1), 77);
}

/* ---- the registration sequence ------------------------------------------------ */

static int failed_calls;

static void on_failed(struct lwm_client *c, void *ud)
{
	failed_calls++;
}

static const struct lwm_client_ops seq_ops = {.registration_failed = on_failed};

static struct lwm_client *seq_client(struct env *e, uint16_t iid, const struct lwm_reg_policy *reg)
{
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "ep",
		.server_uri = e->sink_uri, /* nothing answers: the tests decide */
		.short_server_id = (uint16_t)(iid + 1),
		.model = e->model,
		.security_iid = iid,
		.server_iid = iid,
		.reg = reg,
	};

	assert_int_equal(lwm_client_new(e->engine, &cc, &seq_ops, NULL, &c), 0);
	return c;
}

/* The attempt in flight failed (no answer); the retry's delay in ms. */
static uint64_t fail_attempt(struct lwm_client *c)
{
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	lwm_client_on_failure(c, "no answer from server");
	if (lwm_client_state(c) != LWM_CLIENT_BACKOFF)
		return 0;
	assert_true(gw_timer_armed(&c->timer));
	return c->timer.due_ms - clock_now_ms();
}

/* delay is `s` seconds give or take the 25% jitter. */
static void assert_about(uint64_t delay_ms, uint64_t s)
{
	if (delay_ms < s * 750 || delay_ms > s * 1250)
		fail_msg("delay %llu ms, expected %llu s +-25%%", (unsigned long long)delay_ms,
			 (unsigned long long)s);
}

/* Let the clock reach the retry; the next attempt goes out. */
static void wait_retry(struct env *e, struct lwm_client *c)
{
	clock_fake_advance(c->timer.due_ms - clock_now_ms());
	timerq_run(&e->timers, clock_now_ms());
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
}

static void answer(struct lwm_client *c, unsigned code)
{
	coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_ACK, COAP_RESPONSE_CODE(code), 1, 256);

	assert_non_null(pdu);
	if (code == 201) {
		coap_add_option(pdu, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *)"rd");
		coap_add_option(pdu, COAP_OPTION_LOCATION_PATH, 1, (const uint8_t *)"1");
	}
	lwm_client_on_response(c, pdu);
	coap_delete_pdu(pdu);
}

static void sequences_then_the_end(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c;

	lwm_reg_policy_defaults(&reg);
	reg.retry_count = 3;
	reg.retry_timer_s = 10;
	reg.sequence_delay_s = 100;
	reg.sequence_retries = 2;
	reg.bootstrap_on_failure = true;
	c = seq_client(e, 0, &reg);
	failed_calls = 0;
	assert_int_equal(lwm_client_start(c), 0);
	for (int seq = 0; seq < 2; seq++) {
		assert_about(fail_attempt(c), 10); /* retry timer * 2^0 */
		wait_retry(e, c);
		assert_about(fail_attempt(c), 20); /* * 2^1 */
		wait_retry(e, c);
		if (seq == 1)
			break;
		assert_about(fail_attempt(c), 100); /* third attempt: sequence over */
		wait_retry(e, c);
	}
	/* The second sequence's last attempt: all sequences are spent. */
	assert_int_equal(failed_calls, 0);
	assert_int_equal(fail_attempt(c), 0);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_FAILED);
	assert_false(gw_timer_armed(&c->timer));
	assert_int_equal(failed_calls, 1);
	/* Started again (after a bootstrap), it begins afresh. */
	assert_int_equal(lwm_client_start(c), 0);
	assert_about(fail_attempt(c), 10);
	lwm_client_free(c);
}

static void without_bootstrap_no_hook(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c;

	lwm_reg_policy_defaults(&reg);
	reg.retry_count = 1;
	reg.sequence_retries = 1;
	c = seq_client(e, 0, &reg);
	failed_calls = 0;
	assert_int_equal(lwm_client_start(c), 0);
	assert_int_equal(fail_attempt(c), 0);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_FAILED);
	assert_int_equal(failed_calls, 0);
	lwm_client_free(c);
}

/* The defaults never give up: 2, 4, 8, 16, 32 s, then 120 s, again. */
static void defaults_keep_trying(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = seq_client(e, 0, NULL);
	static const uint64_t expect[] = {2, 4, 8, 16, 32, 120};

	assert_int_equal(lwm_client_start(c), 0);
	for (int i = 0; i < 60; i++) {
		assert_about(fail_attempt(c), expect[i % 6]);
		wait_retry(e, c);
	}
	/* Success ends the sequence: the next failure starts at 2 s. */
	answer(c, 201);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
	lwm_client_free(c);
}

/* The lost session comes back within a second, not by the sequence. */
static void assert_prompt(struct lwm_client *c)
{
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_BACKOFF);
	assert_true(gw_timer_armed(&c->timer));
	assert_true(c->timer.due_ms - clock_now_ms() <= 1000);
	assert_null(lwm_client_location(c));
}

/* An unanswered Update (a restarted server, NAT rebinding) and a session
 * libcoap closed (an alert, ICMP): a new session and Register at once; only
 * a failing Register enters the registration sequence. */
static void lost_session_registers_again(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = seq_client(e, 0, NULL);

	assert_int_equal(lwm_client_start(c), 0);
	answer(c, 201);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
	/* The Update is due, and goes unanswered. */
	clock_fake_advance(c->timer.due_ms - clock_now_ms());
	timerq_run(&e->timers, clock_now_ms());
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_UPDATING);
	lwm_client_on_failure(c, "no answer from server");
	assert_prompt(c);
	wait_retry(e, c);
	/* While registering, a closed session is the attempt's own failure. */
	lwm_client_session_lost(c, "test");
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	assert_about(fail_attempt(c), 2); /* the sequence's first retry */
	wait_retry(e, c);
	answer(c, 201);
	/* Registered, libcoap closes the session: the same, at once. */
	lwm_client_session_lost(c, "test");
	assert_prompt(c);
	/* What was pending on the old session is void. */
	lwm_client_on_failure(c, "TLS failure");
	assert_prompt(c);
	wait_retry(e, c);
	answer(c, 201);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
	lwm_client_free(c);
}

/* What a server writes into /1/x/17..20 is what the client uses. */
static void server_written_values_apply(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = seq_client(e, 0, NULL);
	struct lwm_path p = lwm_path_make(3, 1, 0, 17, 0);
	struct lwm_value v = {.type = LWM_T_UNSIGNED};

	v.v.u = 1;
	assert_true(lwm_model_set(e->model, &p, &v) >= 0);
	p = lwm_path_make(3, 1, 0, 19, 0);
	v.v.u = 40;
	assert_true(lwm_model_set(e->model, &p, &v) >= 0);
	assert_int_equal(lwm_client_start(c), 0);
	assert_about(fail_attempt(c), 40); /* each attempt is a sequence */
	wait_retry(e, c);
	assert_about(fail_attempt(c), 40);
	lwm_client_free(c);
}

/* A huge Communication Retry Timer (/1/x/18) written by a server is
 * capped at a day: shifted for later attempts it must not wrap around
 * to a short delay. */
static void huge_retry_timer_is_capped(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c;
	struct lwm_path p = lwm_path_make(3, 1, 0, 18, 0);
	struct lwm_value v = {.type = LWM_T_UNSIGNED};

	lwm_reg_policy_defaults(&reg);
	reg.retry_count = 30;
	c = seq_client(e, 0, &reg);
	v.v.u = UINT64_C(1) << 50; /* << 14 and more: 0 in 64 bits */
	assert_true(lwm_model_set(e->model, &p, &v) >= 0);
	assert_int_equal(lwm_client_start(c), 0);
	for (int i = 0; i < 25; i++) {
		assert_about(fail_attempt(c), 86400);
		wait_retry(e, c);
	}
	lwm_client_free(c);
}

/* 4.12: the client steps down (1.2, 1.1) for that registration; a later
 * fresh Register (the Update was refused: the server lost us) tries the
 * configured version again. */
static void lowered_version_is_not_kept(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "ep",
		.server_uri = e->sink_uri,
		.short_server_id = 1,
		.version = "1.2",
		.model = e->model,
	};

	assert_int_equal(lwm_client_new(e->engine, &cc, &seq_ops, NULL, &c), 0);
	assert_int_equal(lwm_client_start(c), 0);
	assert_string_equal(lwm_client_version(c), "1.2");
	answer(c, 412);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	assert_string_equal(lwm_client_version(c), "1.1");
	answer(c, 201);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
	assert_string_equal(lwm_client_version(c), "1.1");
	assert_int_equal(lwm_client_update_now(c), 0);
	answer(c, 404);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	assert_string_equal(lwm_client_version(c), "1.2");
	lwm_client_free(c);
}

/* A Lifetime of 0 in the account: infinite for a 1.2 registration (lt=0,
 * no Update ever scheduled); for 1.1 it is not a lifetime (the default). */
static void lifetime_zero_is_infinite_in_1_2(void **state)
{
	struct env *e = *state;
	struct lwm_value uri = {.type = LWM_T_STRING}, i = {.type = LWM_T_INTEGER};
	static const char *const versions[] = {"1.2", "1.1"};

	uri.v.bytes.ptr = (const uint8_t *)e->sink_uri;
	uri.v.bytes.len = strlen(e->sink_uri);
	for (int k = 0; k < 2; k++) {
		struct lwm_client *c = NULL;
		assert_int_equal(lwm_model_add_instance(e->model, 0, 5), 0);
		assert_int_equal(lwm_model_add_instance(e->model, 1, 3), 0);
		set_res(e->model, 0, 5, 0, &uri);
		i.v.i = 42;
		set_res(e->model, 0, 5, 10, &i);
		set_res(e->model, 1, 3, 0, &i);
		i.v.i = 0;
		set_res(e->model, 1, 3, 1, &i);
		assert_int_equal(lwm_client_new_from_model(e->engine, e->model, 5, 3, "d", "ep",
							   versions[k], NULL, NULL, NULL, &c),
				 0);
		assert_int_equal(lwm_client_start(c), 0);
		answer(c, 201);
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
		if (k == 0) {
			assert_int_equal(c->lifetime, 0);
			assert_false(gw_timer_armed(&c->timer)); /* no Update, ever */
		} else {
			assert_int_equal(c->lifetime, 300);
			assert_true(gw_timer_armed(&c->timer));
		}
		lwm_client_free(c);
		lwm_model_remove_instance(e->model, 0, 5);
		lwm_model_remove_instance(e->model, 1, 3);
	}
}

/* A 4.xx is a refusal: with bootstrap on failure, the end at once;
 * without, an ordinary failed attempt. */
static void refusal(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c;

	lwm_reg_policy_defaults(&reg);
	c = seq_client(e, 0, &reg);
	assert_int_equal(lwm_client_start(c), 0);
	answer(c, 403);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_BACKOFF);
	lwm_client_free(c);

	reg.bootstrap_on_failure = true;
	c = seq_client(e, 0, &reg);
	failed_calls = 0;
	assert_int_equal(lwm_client_start(c), 0);
	answer(c, 403);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_FAILED);
	assert_int_equal(failed_calls, 1);
	lwm_client_free(c);
}

/* ---- what a Register carries ---------------------------------------------------- */

/* The next datagram a client sent to the sink server, as a Register's
 * query ("ep=..&lt=..") and payload.  The client sends before it returns,
 * so the datagram is there: poll only waits for it to be readable. */
static void next_register(struct env *e, char *query, size_t qcap, char *payload, size_t pcap)
{
	struct pollfd pfd = {.fd = e->sink, .events = POLLIN};
	uint8_t buf[4096];
	const uint8_t *data;
	size_t dlen = 0, ql = 0;
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	coap_pdu_t *pdu;
	ssize_t n;

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	e->peer_len = sizeof(e->peer);
	n = recvfrom(e->sink, buf, sizeof(buf), 0, (struct sockaddr *)&e->peer, &e->peer_len);
	assert_true(n > 4);
	pdu = coap_pdu_init(0, 0, 0, (size_t)n);
	assert_non_null(pdu);
	assert_int_equal(coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu), 1);
	assert_int_equal(coap_pdu_get_code(pdu), COAP_REQUEST_CODE_POST);
	memcpy(e->mid, buf + 2, 2);
	e->token_len = buf[0] & 0x0f;
	assert_true(e->token_len <= sizeof(e->token) && (size_t)n >= 4 + e->token_len);
	memcpy(e->token, buf + 4, e->token_len);
	query[0] = '\0';
	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
	coap_option_iterator_init(pdu, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		int w = snprintf(query + ql, qcap - ql, "%s%.*s", ql ? "&" : "",
				 (int)coap_opt_length(o), (const char *)coap_opt_value(o));
		assert_true(w > 0 && (size_t)w < qcap - ql);
		ql += (size_t)w;
	}
	if (!coap_get_data(pdu, &dlen, &data))
		dlen = 0;
	assert_true(dlen < pcap);
	if (dlen)
		memcpy(payload, data, dlen);
	payload[dlen] = '\0';
	coap_delete_pdu(pdu);
}

/* Answer the last request read by next_register, through the network (a
 * piggybacked ACK), and let the client take it in: libcoap then sees the
 * exchange end, so that the client's next request may leave (NSTART 1). */
static void reply(struct env *e, unsigned code)
{
	uint8_t b[32];
	size_t n = 0;
	struct pollfd pfd = {.fd = lwm_engine_fd(e->engine), .events = POLLIN};

	b[n++] = 0x60 | (uint8_t)e->token_len; /* version 1, ACK */
	b[n++] = (uint8_t)(((code / 100) << 5) | (code % 100));
	b[n++] = e->mid[0];
	b[n++] = e->mid[1];
	memcpy(b + n, e->token, e->token_len);
	n += e->token_len;
	if (code == 201) {
		/* Location-Path (8) "rd", then "1" */
		b[n++] = 0x82;
		b[n++] = 'r';
		b[n++] = 'd';
		b[n++] = 0x01;
		b[n++] = '1';
	}
	assert_int_equal(sendto(e->sink, b, n, 0, (struct sockaddr *)&e->peer, e->peer_len),
			 (ssize_t)n);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	lwm_engine_io(e->engine);
}

static struct lwm_client *versioned_client(struct env *e, const char *version,
					   const struct lwm_reg_policy *reg)
{
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "ep",
		.server_uri = e->sink_uri,
		.short_server_id = 1,
		.version = version,
		.model = e->model,
		.reg = reg,
	};
	struct lwm_path p = lwm_path_make(2, 3303, 0, 0, 0);

	assert_int_equal(lwm_client_new(e->engine, &cc, &seq_ops, NULL, &c), 0);
	if (!lwm_model_exists(e->model, &p))
		assert_int_equal(lwm_model_add_instance(e->model, 3303, 0), 0);
	return c;
}

/* The root link announces one Content-Format, a bare number, as servers
 * that parse it strictly expect (a quoted list got 4.00 from one);
 * rt's value is quoted, object versions are bare (`ver=1.1`).  1.0 has no
 * root link at all. */
static void register_announces_one_format_unquoted(void **state)
{
	struct env *e = *state;
	static const char *const versions[] = {"1.1", "1.2", "1.0"};
	static const char *const expect[] = {
		"</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</3303>;ver=1.1,</3303/0>",
		"</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.2,</1/0>,</3303>;ver=1.1,</3303/0>",
		"</1/0>,</3303/0>",
	};
	char q[512], pl[1024];

	for (int i = 0; i < 3; i++) {
		struct lwm_client *c = versioned_client(e, versions[i], NULL);
		assert_int_equal(lwm_client_start(c), 0);
		next_register(e, q, sizeof(q), pl, sizeof(pl));
		assert_string_equal(pl, expect[i]);
		lwm_client_free(c);
	}
}

/* 4.00 to a Register: one more Register at once, in the same version,
 * with the plain object list; accepted, the plain list stays for the
 * server (the next Register too).  Logged once. */
static void bad_request_retries_once_plain(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = versioned_client(e, "1.1", NULL);
	char q[512], pl[1024];

	assert_int_equal(lwm_client_start(c), 0);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_non_null(strstr(pl, "ct=110"));
	reply(e, 400);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_string_equal(pl, "</1/0>,</3303/0>");
	assert_non_null(strstr(q, "lwm2m=1.1"));
	reply(e, 201);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
	/* The registration is lost (an Update refused): the plain list again. */
	assert_int_equal(lwm_client_update_now(c), 0);
	next_register(e, q, sizeof(q), pl, sizeof(pl)); /* the Update */
	reply(e, 404);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_string_equal(pl, "</1/0>,</3303/0>");
	lwm_client_free(c);
}

/* A server that refuses the plain list too: the plain try happened once,
 * then the sequence goes on as for any refusal (the next attempts in the
 * usual form, no second plain try); with bootstrap on registration
 * failure, the end after those two Registers. */
static void bad_request_to_both_forms(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c = versioned_client(e, "1.2", NULL);
	char q[512], pl[1024];

	assert_int_equal(lwm_client_start(c), 0);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	reply(e, 412); /* 1.1 then, for this registration */
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_non_null(strstr(q, "lwm2m=1.1"));
	reply(e, 400);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_string_equal(pl, "</1/0>,</3303/0>");
	assert_non_null(strstr(q, "lwm2m=1.1")); /* the lowered version stays */
	reply(e, 400);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_BACKOFF);
	assert_about(c->timer.due_ms - clock_now_ms(), 2);
	wait_retry(e, c);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	assert_non_null(strstr(pl, "ct=110"));
	reply(e, 400);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_BACKOFF);
	lwm_client_free(c);

	lwm_reg_policy_defaults(&reg);
	reg.bootstrap_on_failure = true;
	c = versioned_client(e, "1.1", &reg);
	failed_calls = 0;
	assert_int_equal(lwm_client_start(c), 0);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	reply(e, 400);
	assert_int_equal(failed_calls, 0);
	next_register(e, q, sizeof(q), pl, sizeof(pl));
	reply(e, 400);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_FAILED);
	assert_int_equal(failed_calls, 1);
	lwm_client_free(c);
}

/* Registration Priority Order: b (2) waits for a (1), then its Initial
 * Registration Delay; c (no order) is not held back. */
static void priority_order(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy ra, rb;
	struct lwm_client *a, *b, *c;
	uint64_t t0;

	lwm_reg_policy_defaults(&ra);
	ra.has_priority = true;
	ra.priority = 1;
	rb = ra;
	rb.priority = 2;
	rb.initial_delay_s = 5;
	a = seq_client(e, 0, &ra);
	b = seq_client(e, 1, &rb);
	c = seq_client(e, 2, NULL);
	assert_int_equal(lwm_client_start(b), 0);
	assert_int_equal(lwm_client_start(c), 0);
	assert_int_equal(lwm_client_start(a), 0);
	assert_int_equal(lwm_client_state(a), LWM_CLIENT_REGISTERING);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	assert_int_equal(lwm_client_state(b), LWM_CLIENT_IDLE);
	assert_false(gw_timer_armed(&b->timer));
	answer(a, 201);
	assert_int_equal(lwm_client_state(a), LWM_CLIENT_REGISTERED);
	/* b now waits its initial delay, exactly (no jitter on it). */
	t0 = clock_now_ms();
	assert_true(gw_timer_armed(&b->timer));
	assert_int_equal(b->timer.due_ms, t0 + 5000);
	clock_fake_advance(4999);
	timerq_run(&e->timers, clock_now_ms());
	assert_int_equal(lwm_client_state(b), LWM_CLIENT_IDLE);
	clock_fake_advance(1);
	timerq_run(&e->timers, clock_now_ms());
	assert_int_equal(lwm_client_state(b), LWM_CLIENT_REGISTERING);
	/* The initial delay is for the first registration only. */
	answer(b, 201);
	lwm_client_free(a);
	lwm_client_free(b);
	lwm_client_free(c);
}

/* Registration Failure Block: a failing a that blocks keeps b waiting;
 * one that does not lets b go once a's sequence has failed. */
static void failure_block(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy ra, rb;
	struct lwm_client *a, *b;

	for (int block = 1; block >= 0; block--) {
		lwm_reg_policy_defaults(&ra);
		ra.has_priority = true;
		ra.priority = 1;
		ra.retry_count = 2;
		ra.failure_block = block;
		rb = ra;
		rb.priority = 2;
		a = seq_client(e, 0, &ra);
		b = seq_client(e, 1, &rb);
		assert_int_equal(lwm_client_start(a), 0);
		assert_int_equal(lwm_client_start(b), 0);
		assert_int_equal(lwm_client_state(b), LWM_CLIENT_IDLE);
		fail_attempt(a);
		assert_int_equal(lwm_client_state(b), LWM_CLIENT_IDLE); /* in a's sequence */
		wait_retry(e, a);
		fail_attempt(a); /* a's first sequence is over */
		assert_int_equal(lwm_client_state(b),
				 block ? LWM_CLIENT_IDLE : LWM_CLIENT_REGISTERING);
		if (block) {
			/* ...until a registers. */
			wait_retry(e, a);
			answer(a, 201);
			assert_int_equal(lwm_client_state(b), LWM_CLIENT_REGISTERING);
		}
		lwm_client_free(b);
		lwm_client_free(a);
	}
}

/* Disable: the Execute is answered before anything else goes out (the
 * DELETE leaves from the timer); once de-registered the session is
 * closed; after the Disable Timeout the client registers again.  A
 * Disable Timeout of 0 means registering again at once. */
static void disable_answers_first_then_closes(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = seq_client(e, 0, NULL);

	for (uint32_t secs = 30;; secs = 0) {
		assert_int_equal(lwm_client_start(c), 0);
		answer(c, 201);
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
		lwm_client_disable(c, secs);
		/* Inside the Execute's handler: nothing sent yet. */
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
		assert_true(c->disabled);
		/* A session lost now starts no new registration. */
		lwm_client_session_lost(c, "test");
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERED);
		timerq_run(&e->timers, clock_now_ms());
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_DEREGISTERING);
		assert_non_null(c->session);
		answer(c, 202);
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_STOPPED);
		if (secs == 0) {
			/* Session dropped and registering again in the same pass. */
			timerq_run(&e->timers, clock_now_ms());
			assert_false(c->disabled);
			assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
			break;
		}
		timerq_run(&e->timers, clock_now_ms());
		assert_null(c->session); /* the connection is closed while disabled */
		assert_true(c->disabled);
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_STOPPED);
		assert_int_equal(c->timer.due_ms - clock_now_ms(), 30000);
		clock_fake_advance(30000);
		timerq_run(&e->timers, clock_now_ms());
		assert_false(c->disabled);
		assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
		answer(c, 201);
		lwm_client_stop(c);
		answer(c, 202);
	}
	lwm_client_free(c);
}

/* ---- server host names (issue 16, item 12a/b) ---------------------------------- */

/* A resolver that holds every look-up until the test answers it.  The name
 * used, "localhost", is in /etc/hosts: before names were resolved off the
 * loop, lwm_client_new looked it up there at once (no DNS traffic either
 * way); now only this resolver sees it. */
static struct {
	int starts, cancels;
	char host[64], port[8];
	void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len);
	void *ud;
	bool held;
} fr;

static int fr_start(void *ctx, const char *host, const char *port,
		    void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len),
		    void *ud, void **handle)
{
	assert_false(fr.held); /* one at a time in these tests */
	fr.starts++;
	snprintf(fr.host, sizeof(fr.host), "%s", host);
	snprintf(fr.port, sizeof(fr.port), "%s", port);
	fr.done = done;
	fr.ud = ud;
	fr.held = true;
	*handle = &fr;
	return 0;
}

static void fr_cancel(void *ctx, void *handle)
{
	assert_ptr_equal(handle, &fr);
	assert_true(fr.held);
	fr.held = false;
	fr.cancels++;
}

static void fr_answer(int err, const struct sockaddr_in *sin)
{
	assert_true(fr.held);
	fr.held = false;
	fr.done(fr.ud, err, (const struct sockaddr *)sin, sin ? sizeof(*sin) : 0);
}

static const struct lwm_resolver fake_resolver = {.start = fr_start, .cancel = fr_cancel};

static struct lwm_client *named_client(struct env *e, uint16_t iid,
				       const struct lwm_reg_policy *reg)
{
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "named",
		.server_uri = "coap://localhost:5683",
		.short_server_id = (uint16_t)(iid + 1),
		.model = e->model,
		.security_iid = iid,
		.server_iid = iid,
		.reg = reg,
	};

	memset(&fr, 0, sizeof(fr));
	lwm_engine_set_resolver(e->engine, &fake_resolver);
	assert_int_equal(lwm_client_new(e->engine, &cc, &seq_ops, NULL, &c), 0);
	return c;
}

static void sink_addr(struct env *e, struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);

	assert_int_equal(getsockname(e->sink, (struct sockaddr *)sin, &len), 0);
}

/* The Register waits for the look-up, which does not hold up the loop: a
 * client with an address registers meanwhile.  Then the answer is used. */
static void name_resolved_off_the_loop(void **state)
{
	struct env *e = *state;
	struct lwm_client *c = named_client(e, 0, NULL), *other = seq_client(e, 1, NULL);
	struct sockaddr_in sin;
	const coap_address_t *remote;

	assert_int_equal(fr.starts, 0); /* nothing looked up when made */
	assert_int_equal(lwm_client_start(c), 0);
	assert_int_equal(fr.starts, 1);
	assert_string_equal(fr.host, "localhost");
	assert_string_equal(fr.port, "5683");
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	assert_null(c->session); /* nothing sent yet */

	assert_int_equal(lwm_client_start(other), 0);
	assert_int_equal(lwm_client_state(other), LWM_CLIENT_REGISTERING);
	assert_int_equal(other->pending, LWM_PENDING_REGISTER);

	sink_addr(e, &sin);
	fr_answer(0, &sin);
	assert_int_equal(c->pending, LWM_PENDING_REGISTER);
	assert_non_null(c->session);
	remote = coap_session_get_addr_remote(c->session);
	assert_int_equal(coap_address_get_port(remote), ntohs(sin.sin_port));
	lwm_client_free(other);
	lwm_client_free(c);
	assert_int_equal(fr.cancels, 0);
}

/* A name that does not resolve is a failed attempt: the client stays and
 * retries on the registration back-off, looking the name up again. */
static void unresolved_name_is_retried(void **state)
{
	struct env *e = *state;
	struct lwm_reg_policy reg;
	struct lwm_client *c;

	lwm_reg_policy_defaults(&reg);
	reg.retry_count = 3;
	reg.retry_timer_s = 10;
	c = named_client(e, 0, &reg);
	assert_int_equal(lwm_client_start(c), 0);
	assert_int_equal(fr.starts, 1);
	fr_answer(-EHOSTUNREACH, NULL);
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_BACKOFF);
	assert_true(gw_timer_armed(&c->timer));
	assert_about(c->timer.due_ms - clock_now_ms(), 10);

	clock_fake_advance(c->timer.due_ms - clock_now_ms());
	timerq_run(&e->timers, clock_now_ms());
	assert_int_equal(fr.starts, 2); /* looked up again */
	assert_int_equal(lwm_client_state(c), LWM_CLIENT_REGISTERING);
	/* Freed while the look-up runs: it is cancelled, its answer never comes. */
	lwm_client_free(c);
	assert_int_equal(fr.cancels, 1);
	assert_false(fr.held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(accounts_share_one_model, setup, teardown),
		cmocka_unit_test_setup_teardown(name_resolved_off_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(unresolved_name_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(client_from_an_account_in_the_model, setup,
						teardown),
		cmocka_unit_test_setup_teardown(sequences_then_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(without_bootstrap_no_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(defaults_keep_trying, setup, teardown),
		cmocka_unit_test_setup_teardown(server_written_values_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_session_registers_again, setup, teardown),
		cmocka_unit_test_setup_teardown(huge_retry_timer_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(lowered_version_is_not_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(lifetime_zero_is_infinite_in_1_2, setup, teardown),
		cmocka_unit_test_setup_teardown(refusal, setup, teardown),
		cmocka_unit_test_setup_teardown(register_announces_one_format_unquoted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_request_retries_once_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_request_to_both_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_block, setup, teardown),
		cmocka_unit_test_setup_teardown(disable_answers_first_then_closes, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
