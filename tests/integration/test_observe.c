/* Information reporting end to end: observations of sim points with
 * pmin/pmax/gt/lt/st set by Write-Attributes, timing bounds measured on
 * the notify events as they arrive, Cancel by the server's command and by
 * RST (a server that lost the observation), Observe-Composite, an
 * observation surviving an Update and dropped by a new registration. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"

static const char config_tmpl[] =
	"gateway = { name = \"ob\"; };\n"
	"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 120;\n"
	"              version = \"1.2\"; } );\n"
	"devices = (\n"
	"  { name = \"d\"; adapter = \"sim\";\n"
	"    points = (\n"
	"      { channel = \"t\"; path = \"/3303/0/5700\"; poll = 0.2; waveform = \"sine\";\n"
	"        base = 20.0; amplitude = 5.0; period = 2.0; },\n"
	"      { channel = \"saw\"; path = \"/3304/0/5700\"; poll = 0.2; waveform = \"sawtooth\";\n"
	"        base = 0.0; amplitude = 10.0; period = 2.0; },\n"
	"      { channel = \"n\"; path = \"/3200/0/5501\"; poll = 0.2; waveform = \"counter\";\n"
	"        base = 0.0; step = 1.0; period = 0.1; type = \"int\"; },\n"
	"      { channel = \"k\"; path = \"/3316/0/5700\"; poll = 0.2; waveform = \"constant\";\n"
	"        base = 12.0; }\n"
	"    ); }\n"
	");\n";

#define EP "ob-d"
/* Timing tolerance: loopback, a 0.2 s poll, a loaded CI machine. */
#define EARLY_MS 250
#define LATE_MS 900

struct env {
	char *dir;
	int port;
	struct proc srv, gw;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char *conf;
	json_t *ev;

	*state = e;
	e->dir = h_tmpdir();
	e->port = h_start_server(&e->srv, e->dir);
	if (e->port <= 0)
		return -1;
	conf = h_write_config(e->dir, "gatewayd.conf", config_tmpl, e->port);
	if (h_start_gatewayd(&e->gw, e->dir, conf) < 0)
		return -1;
	free(conf);
	ev = h_wait_event(&e->srv, "register", "ep", EP, H_TIMEOUT_MS);
	json_decref(ev);
	return ev ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;
	int status = h_stop(&e->gw, SIGTERM, 5000);
	char *log;

	h_stop(&e->srv, SIGTERM, 5000);
	if (status != 0 && asprintf(&log, "%s/gatewayd.log", e->dir) >= 0) {
		h_dump_file(log);
		free(log);
	}
	h_tmpdir_remove(e->dir);
	free(e);
	return status == 0 ? 0 : -1;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static json_t *expect(struct env *e, const char *code, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = h_request(&e->srv, H_TIMEOUT_MS, "%s", cmd);
	if (!r)
		fail_msg("%s: no answer", cmd);
	if (strcmp(str(r, "code"), code) != 0)
		fail_msg("%s: expected %s, got %s", cmd, code, json_dumps(r, 0));
	return r;
}

static void check(struct env *e, const char *code, const char *fmt, const char *arg)
{
	json_decref(expect(e, code, fmt, arg));
}

/* Observe path as text; returns the observation's id (caller frees). */
static char *observe(struct env *e, const char *path, double *first)
{
	json_t *r = expect(e, "2.05", "observe " EP " %s text", path);
	char *id = strdup(str(r, "id"));

	assert_true(json_is_true(json_object_get(r, "observing")));
	if (first)
		*first = atof(str(r, "payload_text"));
	json_decref(r);
	return id;
}

static json_t *next_notify(struct env *e, const char *id, int timeout_ms)
{
	return h_wait_event(&e->srv, "notify", "id", id, timeout_ms);
}

static double notify_value(json_t *n)
{
	assert_string_equal(str(n, "code"), "2.05");
	return atof(str(n, "payload_text"));
}

static void cancel(struct env *e, const char *path, const char *id)
{
	json_t *n;

	json_decref(expect(e, "2.05", "cancel " EP " %s", path));
	/* Notifications emitted before the cancel's answer are old news. */
	while ((n = next_notify(e, id, 0)))
		json_decref(n);
	/* None after it. */
	n = next_notify(e, id, 1500);
	if (n)
		fail_msg("notification after cancel: %s", json_dumps(n, 0));
}

static void pmin_and_pmax_bound_the_notifications(void **state)
{
	struct env *e = *state;
	long long last;
	char *id;

	check(e, "2.04", "raw " EP " PUT %s -", "/3303/0/5700?pmin=1&pmax=2");
	id = observe(e, "/3303/0/5700", NULL);
	last = mono_ms();
	for (int i = 0; i < 4; i++) {
		json_t *n = next_notify(e, id, 2000 + LATE_MS);
		long long now = mono_ms();
		if (!n)
			fail_msg("notification %d not within pmax", i + 1);
		notify_value(n);
		json_decref(n);
		/* The sine changes at every poll: each one waits for pmin. */
		if (now - last < 1000 - EARLY_MS)
			fail_msg("notification %d after %lld ms, pmin is 1 s", i + 1, now - last);
		last = now;
	}
	cancel(e, "/3303/0/5700", id);
	check(e, "2.04", "raw " EP " PUT %s -", "/3303/0/5700?pmin&pmax");
	free(id);
}

static void pmax_alone_repeats_an_unchanged_value(void **state)
{
	struct env *e = *state;
	long long last;
	char *id;

	check(e, "2.04", "raw " EP " PUT %s -", "/3316/0/5700?pmax=1");
	id = observe(e, "/3316/0/5700", NULL);
	last = mono_ms();
	for (int i = 0; i < 3; i++) {
		json_t *n = next_notify(e, id, 1000 + LATE_MS);
		long long now = mono_ms();
		if (!n)
			fail_msg("notification %d not within pmax", i + 1);
		assert_true(notify_value(n) == 12.0);
		json_decref(n);
		if (now - last < 1000 - EARLY_MS)
			fail_msg("notification %d after %lld ms, pmax is 1 s", i + 1, now - last);
		last = now;
	}
	cancel(e, "/3316/0/5700", id);
	free(id);
}

/* -5 < v <= 5 is the middle band; gt=5 and lt=-5 notify on leaving it. */
static int band(double v)
{
	return v > 5 ? 2 : v < -5 ? 0 : 1;
}

static void gt_and_lt_notify_on_crossings(void **state)
{
	struct env *e = *state;
	double prev;
	char *id;

	check(e, "2.04", "raw " EP " PUT %s -", "/3304/0/5700?gt=5&lt=-5");
	id = observe(e, "/3304/0/5700", &prev);
	for (int i = 0; i < 4; i++) {
		json_t *n = next_notify(e, id, 4000);
		double v;
		if (!n)
			fail_msg("no crossing notified (%d)", i + 1);
		v = notify_value(n);
		json_decref(n);
		if (band(v) == band(prev))
			fail_msg("notified %g after %g: no threshold crossed", v, prev);
		prev = v;
	}
	cancel(e, "/3304/0/5700", id);
	check(e, "2.04", "raw " EP " PUT %s -", "/3304/0/5700?gt&lt");
	free(id);
}

static void st_notifies_steps_only(void **state)
{
	struct env *e = *state;
	double prev;
	char *id;

	check(e, "2.04", "raw " EP " PUT %s -", "/3200/0/5501?st=5");
	id = observe(e, "/3200/0/5501", &prev);
	for (int i = 0; i < 4; i++) {
		json_t *n = next_notify(e, id, 3000);
		double v;
		if (!n)
			fail_msg("no step notified (%d)", i + 1);
		v = notify_value(n);
		json_decref(n);
		if (v - prev < 5 && prev - v < 5)
			fail_msg("notified %g after %g: less than st", v, prev);
		prev = v;
	}
	cancel(e, "/3200/0/5501", id);
	check(e, "2.04", "raw " EP " PUT %s -", "/3200/0/5501?st");
	free(id);
}

static void cancel_by_the_server_stops_notifications(void **state)
{
	struct env *e = *state;
	char *id = observe(e, "/3303/0/5700", NULL);
	json_t *n = next_notify(e, id, 3000);

	assert_non_null(n);
	json_decref(n);
	cancel(e, "/3303/0/5700", id);
	free(id);
}

static void composite_observe(void **state)
{
	struct env *e = *state;
	static const char body[] = "[{\"n\":\"/3303/0/5700\"},{\"n\":\"/3200/0/5501\"}]";
	char hex[2 * sizeof(body) + 1], id[64];
	json_t *r, *n, *recs;

	for (size_t i = 0; i < sizeof(body) - 1; i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)body[i]);
	r = expect(e, "2.05", "raw " EP " FETCH / %s ct=110 accept=110 observe=0", hex);
	assert_true(json_is_true(json_object_get(r, "observing")));
	assert_non_null(json_object_get(r, "records")); /* the payload survived the insert */
	snprintf(id, sizeof(id), "%s", str(r, "id"));
	json_decref(r);
	n = next_notify(e, id, 3000);
	assert_non_null(n);
	recs = json_object_get(n, "records");
	assert_int_equal(json_array_size(recs), 2);
	json_decref(n);
	/* Cancel-Composite: FETCH with Observe 1 and the same path list. */
	r = expect(e, "2.05", "raw " EP " FETCH / %s ct=110 accept=110 observe=1", hex);
	json_decref(r);
	while ((n = next_notify(e, id, 0)))
		json_decref(n);
	n = next_notify(e, id, 1500);
	if (n)
		fail_msg("composite notification after cancel: %s", json_dumps(n, 0));
}

/* RFC 7641: the token names an observation.  A cancel whose token is
 * unknown may only fall back to the path when that names one observation. */
static void unknown_token_cancel_spares_several(void **state)
{
	struct env *e = *state;
	char *a = observe(e, "/3200/0/5501", NULL), *b = observe(e, "/3200/0/5501", NULL);
	json_t *n;

	/* A fresh token, Observe 1: a plain read, neither observation ends. */
	json_decref(expect(e, "2.05", "raw " EP " GET /3200/0/5501 observe=1 -"));
	while ((n = next_notify(e, a, 0)))
		json_decref(n);
	while ((n = next_notify(e, b, 0)))
		json_decref(n);
	n = next_notify(e, a, 3000);
	assert_non_null(n);
	json_decref(n);
	n = next_notify(e, b, 3000);
	assert_non_null(n);
	json_decref(n);
	/* The test server cancels with a fresh token too, so these two stay
	 * until the next case's new registration drops them. */
	free(a);
	free(b);
}

/* An Observe-Composite that fails carries no Observe option (RFC 7641
 * 4.1) and starts nothing; attributes in it are not ignored silently. */
static void composite_observe_errors(void **state)
{
	struct env *e = *state;
	static const char missing[] = "[{\"n\":\"/3303/9/5700\"}]";
	static const char good[] = "[{\"n\":\"/3303/0/5700\"}]";
	char hm[2 * sizeof(missing) + 1], hg[2 * sizeof(good) + 1];
	json_t *r;

	for (size_t i = 0; i < sizeof(missing) - 1; i++)
		sprintf(hm + 2 * i, "%02x", (unsigned char)missing[i]);
	for (size_t i = 0; i < sizeof(good) - 1; i++)
		sprintf(hg + 2 * i, "%02x", (unsigned char)good[i]);
	r = expect(e, "4.04", "raw " EP " FETCH / %s ct=110 accept=110 observe=0", hm);
	assert_false(json_is_true(json_object_get(r, "observe_option")));
	json_decref(r);
	r = expect(e, "4.15", "raw " EP " FETCH / %s ct=0 accept=110 observe=0", hg);
	assert_false(json_is_true(json_object_get(r, "observe_option")));
	json_decref(r);
	/* Attributes attach to an Object or below, never to the root a
	 * composite observation stands on: refused, not ignored. */
	r = expect(e, "4.00", "raw " EP " FETCH /?pmin=1 %s ct=110 accept=110 observe=0", hg);
	assert_false(json_is_true(json_object_get(r, "observe_option")));
	json_decref(r);
}

static void observation_survives_an_update(void **state)
{
	struct env *e = *state;
	char *id = observe(e, "/3303/0/5700", NULL);
	json_t *n, *ev;

	json_decref(expect(e, "2.04", "execute " EP " %s", "/1/0/8"));
	ev = h_wait_event(&e->srv, "update", "ep", EP, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	while ((n = next_notify(e, id, 0)))
		json_decref(n);
	n = next_notify(e, id, 3000);
	assert_non_null(n);
	json_decref(n);
	cancel(e, "/3303/0/5700", id);
	free(id);
}

/* After an Update the next notification is confirmable, so a server that
 * lost the observation answers it with a RST; NON again after that. */
static void first_notification_after_an_update_is_con(void **state)
{
	struct env *e = *state;
	char *id = observe(e, "/3303/0/5700", NULL);
	json_t *n, *ev;

	n = next_notify(e, id, 3000);
	assert_non_null(n);
	assert_false(json_is_true(json_object_get(n, "con")));
	json_decref(n);
	json_decref(expect(e, "2.04", "execute " EP " %s", "/1/0/8"));
	ev = h_wait_event(&e->srv, "update", "ep", EP, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	/* One sent before the Update was answered may still be in the pipe;
	 * the one after it is CON. */
	for (int k = 0; k < 3; k++) {
		bool con;
		n = next_notify(e, id, 3000);
		assert_non_null(n);
		con = json_is_true(json_object_get(n, "con"));
		json_decref(n);
		if (con)
			break;
		assert_true(k < 2);
	}
	n = next_notify(e, id, 3000);
	assert_non_null(n);
	assert_false(json_is_true(json_object_get(n, "con")));
	json_decref(n);
	cancel(e, "/3303/0/5700", id);
	free(id);
}

static void new_registration_drops_observations(void **state)
{
	struct env *e = *state;
	char *id = observe(e, "/3303/0/5700", NULL), *log;
	json_t *ev;

	/* Disable for 1 s: de-register, then register anew. */
	json_decref(expect(e, "2.04", "write " EP " /1/0/5 text %s", "1"));
	json_decref(expect(e, "2.04", "execute " EP " %s", "/1/0/4"));
	ev = h_wait_event(&e->srv, "register", "ep", EP, H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	if (asprintf(&log, "%s/gatewayd.log", e->dir) < 0)
		abort();
	assert_true(h_wait_file_contains(log, "observation(s): new registration",
					 H_TIMEOUT_MS));
	free(log);
	free(id);
}

static void rst_from_a_server_that_forgot_cancels(void **state)
{
	struct env *e = *state;
	char *id, *log;
	json_t *n, *ev;

	/* Every notification CON: libcoap 4.3.1 does not pass a RST to a NON
	 * notification on to the application, so only a CON's RST cancels. */
	check(e, "2.04", "raw " EP " PUT %s -", "/3303/0/5700?con=1");
	id = observe(e, "/3303/0/5700", NULL);
	n = next_notify(e, id, 3000);
	assert_non_null(n);
	json_decref(n);
	/* The server loses the observation; its next notification gets a RST
	 * (RFC 7641 3.6), which ends the observation at the client. */
	h_send(&e->srv, "forget f1 " EP " /3303/0/5700");
	ev = h_wait_event(&e->srv, "forgotten", "id", "f1", H_TIMEOUT_MS);
	assert_non_null(ev);
	json_decref(ev);
	if (asprintf(&log, "%s/gatewayd.log", e->dir) < 0)
		abort();
	assert_true(h_wait_file_contains(log, "observation of /3303/0/5700 cancelled", H_TIMEOUT_MS));
	free(log);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pmin_and_pmax_bound_the_notifications),
		cmocka_unit_test(pmax_alone_repeats_an_unchanged_value),
		cmocka_unit_test(gt_and_lt_notify_on_crossings),
		cmocka_unit_test(st_notifies_steps_only),
		cmocka_unit_test(cancel_by_the_server_stops_notifications),
		cmocka_unit_test(composite_observe),
		cmocka_unit_test(composite_observe_errors),
		cmocka_unit_test(observation_survives_an_update),
		cmocka_unit_test(first_notification_after_an_update_is_con),
		cmocka_unit_test(unknown_token_cancel_spares_several),
		cmocka_unit_test(new_registration_drops_observations),
		cmocka_unit_test(rst_from_a_server_that_forgot_cancels),
	};

	if (h_skip_without_sim())
		return 77;
	return cmocka_run_group_tests(tests, setup, teardown);
}
