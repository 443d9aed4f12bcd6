/* gatewayd's resolver (issue 16, item 12a): look-ups run on its worker
 * thread and their answers come back on the loop thread, through the loop;
 * a look-up held open does not hold up the loop; requests for one name
 * share a look-up; a cancelled request is never answered; freeing the
 * resolver does not wait for a look-up in progress.  The look-up function
 * is the test's: no name reaches the system resolver.  Waits are on the
 * loop, with a deadline; nothing sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "gatewayd/loop.h"
#include "gatewayd/resolver.h"
#include "gatewayd/timerq.h"

#define DEADLINE_MS 10000

/* ---- the look-up: "held.test" waits until released, "nx.test" fails ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool release, in_lookup;
static int lookups;

static int fake_lookup(const char *host, const char *port, struct sockaddr_storage *out,
		       socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;

	pthread_mutex_lock(&mu);
	lookups++;
	in_lookup = true;
	pthread_cond_broadcast(&cv);
	if (strcmp(host, "held.test") == 0)
		while (!release)
			pthread_cond_wait(&cv, &mu);
	in_lookup = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (strcmp(host, "nx.test") == 0)
		return -EHOSTUNREACH;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*sin);
	return 0;
}

static void set_release(bool on)
{
	pthread_mutex_lock(&mu);
	release = on;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Until the worker is inside the look-up (a condition wait, not a sleep). */
static void wait_in_lookup(void)
{
	pthread_mutex_lock(&mu);
	while (!in_lookup)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static bool lookup_running(void)
{
	bool r;

	pthread_mutex_lock(&mu);
	r = in_lookup;
	pthread_mutex_unlock(&mu);
	return r;
}

/* ---- answers ------------------------------------------------------------- */

struct answer {
	int calls, err;
	uint16_t port;
	pthread_t thread;
};

static void on_done(void *ud, int err, const struct sockaddr *sa, socklen_t len)
{
	struct answer *a = ud;

	a->calls++;
	a->err = err;
	a->thread = pthread_self();
	if (err == 0) {
		assert_int_equal(len, sizeof(struct sockaddr_in));
		a->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	}
}

struct env {
	struct gw_loop *loop;
	struct gw_resolver *rs;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	log_setup(LOG_TARGET_STDERR, LOG_WARNING);
	lookups = 0;
	release = in_lookup = false;
	if (!e || loop_new(&e->loop) < 0 || resolver_new(e->loop, fake_lookup, &e->rs) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	set_release(true);
	resolver_free(e->rs);
	loop_free(e->loop);
	free(e);
	return 0;
}

/* Run the loop until *calls reaches n; false at the deadline. */
static bool run_until(struct env *e, const int *calls, int n)
{
	uint64_t deadline = clock_now_ms() + DEADLINE_MS;

	while (*calls < n) {
		if (clock_now_ms() >= deadline)
			return false;
		sd_event_run(loop_sd_event(e->loop), 100000);
	}
	return true;
}

static void answer_comes_back_on_the_loop(void **state)
{
	struct env *e = *state;
	struct answer a = {0}, b = {0};
	void *h;

	assert_int_equal(resolver_start(e->rs, "a.test", "5683", on_done, &a, &h), 0);
	assert_int_equal(resolver_start(e->rs, "nx.test", "5684", on_done, &b, &h), 0);
	assert_int_equal(a.calls, 0); /* never inside start */
	assert_true(run_until(e, &b.calls, 1));
	assert_true(run_until(e, &a.calls, 1));
	assert_int_equal(a.err, 0);
	assert_int_equal(a.port, 5683);
	assert_true(pthread_equal(a.thread, pthread_self()));
	assert_int_equal(b.err, -EHOSTUNREACH);
}

static void tick(struct gw_timer *t, void *ud)
{
	(*(int *)ud)++;
}

/* While a look-up hangs, the loop runs its timers; requests for the same
 * name share the look-up; a cancelled one is not answered. */
static void held_lookup_does_not_hold_the_loop(void **state)
{
	struct env *e = *state;
	struct answer a = {0}, b = {0}, c = {0};
	struct gw_timer t;
	int ticks = 0;
	void *ha, *hb, *hc;

	assert_int_equal(resolver_start(e->rs, "held.test", "5683", on_done, &a, &ha), 0);
	wait_in_lookup();
	assert_int_equal(resolver_start(e->rs, "held.test", "5683", on_done, &b, &hb), 0);
	assert_int_equal(resolver_start(e->rs, "held.test", "5683", on_done, &c, &hc), 0);
	gw_timer_init(&t, loop_timers(e->loop), tick, &ticks);
	gw_timer_arm(&t, clock_now_ms());
	assert_true(run_until(e, &ticks, 1));
	assert_true(lookup_running());
	assert_int_equal(a.calls + b.calls + c.calls, 0);

	resolver_cancel(e->rs, hb);
	set_release(true);
	assert_true(run_until(e, &c.calls, 1));
	assert_true(run_until(e, &a.calls, 1));
	assert_int_equal(b.calls, 0);
	assert_int_equal(lookups, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(c.err, 0);
}

/* Freeing the resolver returns while the worker is still in a look-up. */
static void free_does_not_wait_for_a_lookup(void **state)
{
	struct env *e = *state;
	struct answer a = {0};
	void *h;

	assert_int_equal(resolver_start(e->rs, "held.test", "5683", on_done, &a, &h), 0);
	wait_in_lookup();
	resolver_free(e->rs);
	e->rs = NULL;
	assert_true(lookup_running()); /* returned without it */
	set_release(true);
	pthread_mutex_lock(&mu);
	while (in_lookup)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	sd_event_run(loop_sd_event(e->loop), 0);
	assert_int_equal(a.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(answer_comes_back_on_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(held_lookup_does_not_hold_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(free_does_not_wait_for_a_lookup, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
