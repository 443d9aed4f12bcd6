/* The timer heap: order, re-arming, disarming, callbacks that re-arm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gatewayd/timerq.h"

static int order[64];
static int n_order;

static void record(struct gw_timer *t, void *ud)
{
	order[n_order++] = (int)(intptr_t)ud;
}

static void fires_in_deadline_order(void **state)
{
	struct timerq q;
	struct gw_timer t[6];
	static const uint64_t due[] = {50, 10, 40, 20, 60, 30};

	timerq_init(&q);
	n_order = 0;
	for (int i = 0; i < 6; i++) {
		gw_timer_init(&t[i], &q, record, (void *)(intptr_t)due[i]);
		assert_int_equal(gw_timer_arm(&t[i], due[i]), 0);
	}
	assert_int_equal(timerq_earliest(&q), 10);
	assert_int_equal(timerq_run(&q, 35), 3);
	assert_int_equal(n_order, 3);
	assert_int_equal(order[0], 10);
	assert_int_equal(order[1], 20);
	assert_int_equal(order[2], 30);
	assert_int_equal(timerq_earliest(&q), 40);
	assert_int_equal(timerq_run(&q, 1000), 3);
	assert_int_equal(order[5], 60);
	assert_int_equal(timerq_earliest(&q), UINT64_MAX);
	timerq_fini(&q);
}

static void rearm_and_disarm(void **state)
{
	struct timerq q;
	struct gw_timer a, b, c;

	timerq_init(&q);
	n_order = 0;
	gw_timer_init(&a, &q, record, (void *)1);
	gw_timer_init(&b, &q, record, (void *)2);
	gw_timer_init(&c, &q, record, (void *)3);
	gw_timer_arm(&a, 10);
	gw_timer_arm(&b, 20);
	gw_timer_arm(&c, 30);
	gw_timer_arm(&a, 25); /* later */
	gw_timer_arm(&c, 5);  /* earlier */
	gw_timer_disarm(&b);
	assert_false(gw_timer_armed(&b));
	gw_timer_disarm(&b); /* twice is harmless */
	assert_int_equal(timerq_run(&q, 100), 2);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_false(gw_timer_armed(&a));
	timerq_fini(&q);
}

static int periodic_count;

static void periodic(struct gw_timer *t, void *ud)
{
	periodic_count++;
	if (periodic_count < 5)
		gw_timer_arm(t, t->due_ms + 10);
}

static void callback_may_rearm(void **state)
{
	struct timerq q;
	struct gw_timer t;

	timerq_init(&q);
	periodic_count = 0;
	gw_timer_init(&t, &q, periodic, NULL);
	gw_timer_arm(&t, 10);
	/* Re-armed into the past-or-now window: keeps firing within one run. */
	assert_int_equal(timerq_run(&q, 35), 3);
	assert_int_equal(periodic_count, 3);
	assert_int_equal(timerq_earliest(&q), 40);
	timerq_run(&q, 1000);
	assert_int_equal(periodic_count, 5);
	timerq_fini(&q);
}

static uint64_t seen_earliest;
static int changes;

static void on_change(struct timerq *q, uint64_t earliest, void *ud)
{
	seen_earliest = earliest;
	changes++;
}

static void reports_earliest_changes(void **state)
{
	struct timerq q;
	struct gw_timer a, b;

	timerq_init(&q);
	q.on_change = on_change;
	changes = 0;
	gw_timer_init(&a, &q, record, NULL);
	gw_timer_init(&b, &q, record, NULL);
	gw_timer_arm(&a, 100);
	assert_int_equal(seen_earliest, 100);
	gw_timer_arm(&b, 200); /* not earlier: no change */
	assert_int_equal(changes, 1);
	gw_timer_disarm(&a);
	assert_int_equal(seen_earliest, 200);
	gw_timer_disarm(&b);
	assert_int_equal(seen_earliest, UINT64_MAX);
	timerq_fini(&q);
}

static void many_timers_stay_ordered(void **state)
{
	enum { N = 2000 };
	struct timerq q;
	struct gw_timer *t = calloc(N, sizeof(*t));
	uint64_t last = 0;
	unsigned seed = 12345;

	timerq_init(&q);
	n_order = 0;
	for (int i = 0; i < N; i++) {
		gw_timer_init(&t[i], &q, record, NULL);
		seed = seed * 1103515245u + 12345u;
		gw_timer_arm(&t[i], seed % 100000);
	}
	for (int i = 0; i < N; i += 3)
		gw_timer_disarm(&t[i]);
	while (timerq_earliest(&q) != UINT64_MAX) {
		uint64_t e = timerq_earliest(&q);
		assert_true(e >= last);
		last = e;
		n_order = 0;
		timerq_run(&q, e);
	}
	timerq_fini(&q);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fires_in_deadline_order),
		cmocka_unit_test(rearm_and_disarm),
		cmocka_unit_test(callback_may_rearm),
		cmocka_unit_test(reports_earliest_changes),
		cmocka_unit_test(many_timers_stay_ordered),
	};
	return cmocka_run_group_tests_name("timerq", tests, NULL, NULL);
}
