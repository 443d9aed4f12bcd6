/* Send (POST /dp) and notification storing end to end: scheduled and
 * on-change Sends arrive with their records and times in the configured
 * format; Mute Send written by the server stops them and un-muting
 * resumes; notifications stored while the account is disabled arrive by
 * Send, in order and with their times, after the new registration; what
 * the bounded store dropped is logged and counted. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static const char config_tmpl[] =
	"gateway = { name = \"sd\"; store_count = 4; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120;\n"
	"              version = \"1.1\"; } );\n"
	"devices = (\n"
	"  { name = \"d\"; adapter = \"sim\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.2; waveform = \"sine\";\n"
	"        base = 20.0; amplitude = 5.0; period = 2.0; send_period = 1.0; },\n"
	"      { channel = \"n\"; path = \"/3200/0/5501\"; poll = 0.5; waveform = \"counter\";\n"
	"        base = 0.0; step = 1.0; period = 0.5; type = \"int\"; send_on_change = true; }\n"
	"    ); },\n"
	"  { name = \"j\"; adapter = \"sim\"; send_period = 1.0; send_format = \"senml-json\";\n"
	"    points = (\n"
	"      { channel = \"k\"; path = \"/3316/0/5700\"; poll = 0.5; waveform = \"constant\";\n"
	"        base = 12.0; }\n"
	"    ); }\n"
	");\n";

/* Case (1): the registration outlives a server that stops answering.
 * Short CoAP timeouts so the silence is noticed in seconds. */
static const char offline_tmpl[] =
	"gateway = { name = \"of\"; log_level = \"debug\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 300;\n"
	"              version = \"1.2\"; ack_timeout = 1; max_retransmit = 2; } );\n"
	"devices = (\n"
	"  { name = \"d\"; adapter = \"sim\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.2; waveform = \"sine\";\n"
	"        base = 20.0; amplitude = 5.0; period = 2.0; }\n"
	"    ); }\n"
	");\n";

/* Scheduled Sends of two points sharing a period: one Send, two records,
 * stored as one entry while the server is away. */
static const char offline_multi_tmpl[] =
	"gateway = { name = \"om\"; log_level = \"debug\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 300;\n"
	"              version = \"1.1\"; ack_timeout = 1; max_retransmit = 2; } );\n"
	"devices = (\n"
	"  { name = \"d\"; adapter = \"sim\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.2; waveform = \"constant\";\n"
	"        base = 20.0; send_period = 1.0; },\n"
	"      { channel = \"h\"; path = \"/3304/0/5700\"; poll = 0.2; waveform = \"constant\";\n"
	"        base = 40.0; send_period = 1.0; }\n"
	"    ); }\n"
	");\n";

/* A server without Send. */
static const char nosend_tmpl[] =
	"gateway = { name = \"ns\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; version = \"1.1\"; } );\n"
	"devices = (\n"
	"  { name = \"d\"; adapter = \"sim\"; send_period = 0.5;\n"
	"    points = ( { channel = \"k\"; path = \"/3316/0/5700\"; poll = 0.5;\n"
	"                 waveform = \"constant\"; base = 1.0; } ); }\n"
	");\n";

#define EP "sd-d"
#define EPN "ns-d"
#define EPO "of-d"
#define EPJ "sd-j"
#define EPM "om-d"

struct env {
	const char *tmpl, *ep, *server_opt;
	char *dir, *log;
	int port;
	struct proc srv, gw;
};

static int setup_with(void **state, const char *tmpl, const char *ep, const char *server_opt)
{
	struct env *e = calloc(1, sizeof(*e));
	char *conf;
	json_t *ev;

	*state = e;
	e->tmpl = tmpl;
	e->ep = ep;
	e->server_opt = server_opt;
	e->dir = h_tmpdir();
	if (asprintf(&e->log, "%s/gatewayd.log", e->dir) < 0)
		return -1;
	e->port = h_start_server_args(&e->srv, e->dir, 0, e->server_opt);
	if (e->port <= 0)
		return -1;
	conf = h_write_config(e->dir, "gatewayd.conf", e->tmpl, e->port);
	if (h_start_gatewayd(&e->gw, e->dir, conf) < 0)
		return -1;
	free(conf);
	ev = h_wait_event(&e->srv, "register", "ep", e->ep, H_TIMEOUT_MS);
	json_decref(ev);
	return ev ? 0 : -1;
}

static int setup(void **state)
{
	return setup_with(state, config_tmpl, EP, NULL);
}

static int setup_offline(void **state)
{
	return setup_with(state, offline_tmpl, EPO, NULL);
}

static int setup_offline_multi(void **state)
{
	return setup_with(state, offline_multi_tmpl, EPM, NULL);
}

static int setup_nosend(void **state)
{
	return setup_with(state, nosend_tmpl, EPN, "--no-send");
}

static int teardown(void **state)
{
	struct env *e = *state;
	int status = h_stop(&e->gw, SIGTERM, 5000);

	kill(e->srv.pid, SIGCONT); /* a test may have left it stopped */
	h_stop(&e->srv, SIGTERM, 5000);
	if (status != 0 || getenv("GW_TEST_DUMP"))
		h_dump_file(e->log);
	h_tmpdir_remove(e->dir);
	free(e->log);
	free(e);
	return status == 0 ? 0 : -1;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void expect(struct env *e, const char *code, const char *cmd)
{
	json_t *r = h_request(&e->srv, H_TIMEOUT_MS, "%s", cmd);

	if (!r)
		fail_msg("%s: no answer", cmd);
	if (strcmp(str(r, "code"), code) != 0)
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	json_decref(r);
}

/* The next Send of ep carrying path; its record's time and value. */
static json_t *next_send_with(struct env *e, const char *ep, const char *path, int timeout_ms,
			      double *t, double *v)
{
	long long deadline = (long long)time(NULL) * 1000 + timeout_ms;

	for (;;) {
		long long left = deadline - (long long)time(NULL) * 1000;
		json_t *ev = h_wait_event(&e->srv, "send", "ep", ep, left > 0 ? (int)left : 0);
		json_t *recs, *r;
		size_t i;

		if (!ev)
			return NULL;
		assert_string_equal(str(ev, "code"), "2.04");
		recs = json_object_get(ev, "records");
		json_array_foreach(recs, i, r) {
			if (strcmp(str(r, "path"), path) == 0) {
				*t = json_number_value(json_object_get(r, "time"));
				*v = json_number_value(json_object_get(r, "value"));
				return ev;
			}
		}
		json_decref(ev);
	}
}

static void sends_on_a_schedule_with_times(void **state)
{
	struct env *e = *state;
	double t1, t2, v;
	json_t *a, *b;

	a = next_send_with(e, EP, "/3303/0/5700", 5000, &t1, &v);
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "ct")), 112); /* SenML CBOR */
	assert_true(v >= 15.0 && v <= 25.0);
	/* The time is the wall clock's, seconds since the epoch. */
	assert_true(t1 > (double)time(NULL) - 5 && t1 <= (double)time(NULL) + 1);
	b = next_send_with(e, EP, "/3303/0/5700", 5000, &t2, &v);
	assert_non_null(b);
	assert_true(t2 >= t1);
	json_decref(a);
	json_decref(b);
}

static void sends_on_change(void **state)
{
	struct env *e = *state;
	double t, v1, v2;
	json_t *a, *b;

	a = next_send_with(e, EP, "/3200/0/5501", 5000, &t, &v1);
	assert_non_null(a);
	b = next_send_with(e, EP, "/3200/0/5501", 5000, &t, &v2);
	assert_non_null(b);
	/* A counter: each Send carries a new value. */
	assert_true(v2 > v1);
	json_decref(a);
	json_decref(b);
}

static void json_format_per_device(void **state)
{
	struct env *e = *state;
	double t, v;
	json_t *a = next_send_with(e, EPJ, "/3316/0/5700", 5000, &t, &v);

	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "ct")), 110); /* SenML JSON */
	assert_true(v > 11.9 && v < 12.1);
	assert_true(t > (double)time(NULL) - 5);
	json_decref(a);
}

/* Everything already received (before an instant the test controls). */
static void drain_sends(struct env *e)
{
	json_t *ev;

	while ((ev = h_wait_event(&e->srv, "send", NULL, NULL, 0)))
		json_decref(ev);
}

static void mute_send_stops_and_unmute_resumes(void **state)
{
	struct env *e = *state;
	double t, v;
	json_t *ev;

	expect(e, "2.04", "write " EPJ " /1/0/23 text 1");
	/* A Send already on its way when the write landed may still come. */
	ev = h_wait_event(&e->srv, "send", "ep", EPJ, 1500);
	json_decref(ev);
	drain_sends(e);
	/* Muted: three periods without a Send from it. */
	ev = h_wait_event(&e->srv, "send", "ep", EPJ, 3000);
	if (ev)
		fail_msg("Send while muted: %s", json_dumps(ev, 0));
	expect(e, "2.04", "write " EPJ " /1/0/23 text 0");
	ev = next_send_with(e, EPJ, "/3316/0/5700", 5000, &t, &v);
	assert_non_null(ev);
	json_decref(ev);
}

/* /1/0/6 and /1/0/23 are in the Server instance, readable and writable. */
static void server_resources_present(void **state)
{
	struct env *e = *state;
	json_t *r;

	r = h_request(&e->srv, H_TIMEOUT_MS, "read " EP " /1/0/6 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	assert_string_equal(str(r, "payload_text"), "1"); /* the spec's default */
	json_decref(r);
	expect(e, "2.04", "write " EP " /1/0/6 text 0");
	r = h_request(&e->srv, H_TIMEOUT_MS, "read " EP " /1/0/6 text");
	assert_non_null(r);
	assert_string_equal(str(r, "payload_text"), "0");
	json_decref(r);
	expect(e, "2.04", "write " EP " /1/0/6 text 1");
	r = h_request(&e->srv, H_TIMEOUT_MS, "read " EP " /1/0/23 text");
	assert_non_null(r);
	assert_string_equal(str(r, "code"), "2.05");
	assert_string_equal(str(r, "payload_text"), "0");
	json_decref(r);
}

static void stored_while_disabled_arrive_by_send(void **state)
{
	struct env *e = *state;
	double t_disable, t_register, last_t = 0;
	json_t *ev, *recs, *r;
	size_t i, stored = 0;

	/* Observe (pmin 0): every reading of the sine is a notification. */
	expect(e, "2.05", "observe " EP " /3303/0/5700 senml-json");
	expect(e, "2.04", "write " EP " /1/0/5 text 3");
	t_disable = (double)time(NULL);
	expect(e, "2.04", "execute " EP " /1/0/4");
	ev = h_wait_event(&e->srv, "deregister", "ep", EP, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	drain_sends(e);
	ev = h_wait_event(&e->srv, "register", "ep", EP, 10000);
	assert_non_null(ev);
	json_decref(ev);
	/* The new registration drops the observation: what was stored while
	 * disabled comes by Send before anything new, oldest first, with the
	 * times the values were taken (while disabled). */
	t_register = (double)time(NULL);
	assert_true(h_wait_file_contains(e->log, "delivered by Send", 5000));
	ev = h_wait_event(&e->srv, "send", "ep", EP, 5000);
	assert_non_null(ev);
	recs = json_object_get(ev, "records");
	json_array_foreach(recs, i, r) {
		double t = json_number_value(json_object_get(r, "time"));
		if (strcmp(str(r, "path"), "/3303/0/5700") != 0)
			continue;
		assert_true(t >= last_t);
		assert_true(t >= t_disable - 1 && t <= t_register + 1);
		last_t = t;
		stored++;
	}
	json_decref(ev);
	/* The store keeps 4 entries (notifications and scheduled Sends). */
	assert_true(stored >= 2 && stored <= 4);
	/* The store holds 4 entries; 3 s of readings overflowed it: the
	 * drops are logged with their count, not lost silently. */
	assert_true(h_wait_file_contains(e->log, "stored notification dropped (store or hqmax bound)", 1000));
	assert_true(h_wait_file_contains(e->log, "dropped so far", 1000));
}

static void server_without_send_is_not_hammered(void **state)
{
	struct env *e = *state;
	json_t *ev = h_wait_event(&e->srv, "send", "ep", EPN, 5000);
	int answered = 1;

	assert_non_null(ev);
	assert_string_equal(str(ev, "code"), "4.04");
	json_decref(ev);
	/* One 4.04 is one payload the server did not take (an object it does
	 * not know): dropped and logged.  Three in a row mean no Send here:
	 * logged once; no further Send for this registration (period 0.5 s). */
	assert_true(h_wait_file_contains(e->log, "that Send's data dropped", 2000));
	assert_true(h_wait_file_contains(e->log, "it has no Send", 3000));
	/* Those already answered (read from the pipe, not waited for). */
	while ((ev = h_wait_event(&e->srv, "send", "ep", EPN, 200))) {
		assert_string_equal(str(ev, "code"), "4.04");
		answered++;
		json_decref(ev);
	}
	assert_int_equal(answered, 3);
	ev = h_wait_event(&e->srv, "send", "ep", EPN, 2500);
	if (ev)
		fail_msg("Send after 4.04: %s", json_dumps(ev, 0));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stored_while_unreachable_arrive_on_the_observation(void **state)
{
	struct env *e = *state;
	double t_pause, t_resume, last_t = 0;
	json_t *r0, *ev, *recs, *rec;
	size_t i, stored = 0, live_after = 0;
	char *id;

	/* Every notification CON (so silence is noticed), at most 1 a second. */
	expect(e, "2.04", "raw " EPO " PUT /3303/0/5700?pmin=1&con=1 -");
	r0 = h_request(&e->srv, H_TIMEOUT_MS, "observe " EPO " /3303/0/5700 senml-json");
	assert_non_null(r0);
	assert_string_equal(str(r0, "code"), "2.05");
	id = strdup(str(r0, "id"));
	json_decref(r0);
	ev = h_wait_event(&e->srv, "notify", "id", id, 5000);
	assert_non_null(ev);
	json_decref(ev);
	/* The server stops answering (its datagrams wait unread). */
	t_pause = now_s();
	assert_int_equal(kill(e->srv.pid, SIGSTOP), 0);
	assert_true(h_wait_file_contains(e->log, "server unreachable", 20000));
	/* Three kept: the unacknowledged one and two taken since (pmin 1 s),
	 * well before the probing Update gives up (7 s and more). */
	assert_true(h_wait_file_contains(e->log, "notification stored (3 kept", 10000));
	t_resume = now_s();
	assert_int_equal(kill(e->srv.pid, SIGCONT), 0);
	/* The probing Update succeeds: registration and observation live on,
	 * and the stored notifications go out on it. */
	assert_true(h_wait_file_contains(e->log, "server reachable again", 30000));
	assert_true(h_wait_file_contains(e->log, "stored notification(s) delivered", 5000));
	while ((ev = h_wait_event(&e->srv, "notify", "id", id, 3000))) {
		bool timed = false;
		recs = json_object_get(ev, "senml");
		json_array_foreach(recs, i, rec) {
			double t = json_number_value(json_object_get(rec, "time"));
			if (t <= 0)
				continue; /* a live notification carries no time */
			timed = true;
			/* Taken while the server was away, delivered oldest first. */
			assert_true(t >= t_pause - 2 && t <= t_resume + 1);
			assert_true(t >= last_t);
			last_t = t;
			stored++;
		}
		if (!timed && stored)
			live_after++;
		json_decref(ev);
		if (live_after)
			break;
	}
	assert_true(stored >= 3);
	assert_true(live_after >= 1); /* the observation goes on */
	free(id);
}

/* 1.2's hqmax bounds what one observation keeps: its oldest go first,
 * and the drop is logged. */
static void hqmax_bounds_an_observation(void **state)
{
	struct env *e = *state;
	json_t *r0, *ev, *recs, *rec;
	size_t i, timed = 0, live_after = 0;
	char *id;

	expect(e, "2.04", "raw " EPO " PUT /3303/0/5700?pmin=1&con=1&hqmax=2 -");
	r0 = h_request(&e->srv, H_TIMEOUT_MS, "observe " EPO " /3303/0/5700 senml-cbor");
	assert_non_null(r0);
	assert_string_equal(str(r0, "code"), "2.05");
	id = strdup(str(r0, "id"));
	json_decref(r0);
	ev = h_wait_event(&e->srv, "notify", "id", id, 5000);
	assert_non_null(ev);
	json_decref(ev);
	/* A fresh log: the lines below must come from this episode. */
	assert_int_equal(truncate(e->log, 0), 0);
	assert_int_equal(kill(e->srv.pid, SIGSTOP), 0);
	assert_true(h_wait_file_contains(e->log, "stored notification dropped", 30000));
	assert_int_equal(kill(e->srv.pid, SIGCONT), 0);
	assert_true(h_wait_file_contains(e->log, "stored notification(s) delivered", 30000));
	while ((ev = h_wait_event(&e->srv, "notify", "id", id, 3000))) {
		bool has_time = false;
		recs = json_object_get(ev, "senml");
		json_array_foreach(recs, i, rec)
			if (json_number_value(json_object_get(rec, "time")) > 0)
				has_time = true;
		timed += has_time;
		if (!has_time && timed)
			live_after++;
		json_decref(ev);
		if (live_after)
			break;
	}
	/* At most hqmax stored notifications of this observation came back. */
	assert_true(timed >= 1 && timed <= 2);
	assert_true(live_after >= 1);
	free(id);
}

/* A stored Send of several records delivered by Send after the probing
 * Update: every record carries the time its entry was taken (not what
 * lies in memory after a single time). */
static void stored_multi_record_send_keeps_each_time(void **state)
{
	struct env *e = *state;
	double t_pause, t_resume, t, v;
	json_t *ev, *recs, *rec;
	size_t i, stored = 0;
	bool live = false;

	ev = next_send_with(e, EPM, "/3304/0/5700", 5000, &t, &v);
	assert_non_null(ev);
	assert_int_equal(json_array_size(json_object_get(ev, "records")), 2);
	json_decref(ev);
	t_pause = now_s();
	assert_int_equal(kill(e->srv.pid, SIGSTOP), 0);
	assert_true(h_wait_file_contains(e->log, "server unreachable", 20000));
	/* The Send that went unanswered is kept, not lost (storing is on),
	 * and so are the ones taken while the server is away. */
	assert_true(h_wait_file_contains(e->log, "unacknowledged Send kept", 1000));
	assert_true(h_wait_file_contains(e->log, "notification stored (", 5000));
	t_resume = now_s();
	assert_int_equal(kill(e->srv.pid, SIGCONT), 0);
	assert_true(h_wait_file_contains(e->log, "server reachable again", 30000));
	assert_true(h_wait_file_contains(e->log, "by Send", 5000));
	/* Until a live Send follows the stored ones (bounded). */
	for (int k = 0; k < 40 && !live; k++) {
		ev = h_wait_event(&e->srv, "send", "ep", EPM, 3000);
		if (!ev)
			break;
		recs = json_object_get(ev, "records");
		json_array_foreach(recs, i, rec) {
			t = json_number_value(json_object_get(rec, "time"));
			if (t < t_pause - 2 || t > now_s() + 1)
				fail_msg("record with a wrong time: %s", json_dumps(ev, 0));
			if (t <= t_resume + 1)
				stored++;
			else
				live = true;
		}
		json_decref(ev);
	}
	assert_true(live);
	/* At least the two stored entries, two records each. */
	assert_true(stored >= 4);
}

int main(void)
{
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(stored_while_unreachable_arrive_on_the_observation),
		cmocka_unit_test(hqmax_bounds_an_observation),
	};
	const struct CMUnitTest offline_multi[] = {
		cmocka_unit_test(stored_multi_record_send_keeps_each_time),
	};
	const struct CMUnitTest nosend[] = {
		cmocka_unit_test(server_without_send_is_not_hammered),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sends_on_a_schedule_with_times),
		cmocka_unit_test(sends_on_change),
		cmocka_unit_test(json_format_per_device),
		cmocka_unit_test(mute_send_stops_and_unmute_resumes),
		cmocka_unit_test(server_resources_present),
		cmocka_unit_test(stored_while_disabled_arrive_by_send),
	};

	int r;

	if (h_skip_without_sim())
		return 77;
	r = cmocka_run_group_tests(tests, setup, teardown);
	r += cmocka_run_group_tests(nosend, setup_nosend, teardown);
	r += cmocka_run_group_tests(offline_multi, setup_offline_multi, teardown);
	return r + cmocka_run_group_tests(offline, setup_offline, teardown);
}
