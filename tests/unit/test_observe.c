/* Attribute semantics of observations, on the fake clock: each attribute
 * alone and combined, inheritance, Server defaults and the edge cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "lwm2m/observe.h"

/* Parse a query for a target at `level`: numeric (true) or other. */
static struct lwm_attrs q(const char *query, int level, bool numeric)
{
	struct lwm_attrs a = {0};

	assert_int_equal(lwm_attrs_apply_query(&a, query, strlen(query), level,
					       numeric ? LWM_ATTR_ON_NUMBER : LWM_ATTR_ON_OTHER),
			 0);
	return a;
}

static struct lwm_attrs resolve_one(struct lwm_attrs a)
{
	struct lwm_attrs out;
	const struct lwm_attrs *chain[] = {&a};

	lwm_obs_resolve(&out, chain, 1, 0, 0, 0);
	return out;
}

/* edge belongs to boolean resources only. */
static struct lwm_attrs one_bool(const char *query)
{
	struct lwm_attrs a = {0}, num = {0};

	assert_int_equal(lwm_attrs_apply_query(&a, query, strlen(query), 3, LWM_ATTR_ON_BOOLEAN),
			 0);
	assert_int_equal(lwm_attrs_apply_query(&num, query, strlen(query), 3, LWM_ATTR_ON_NUMBER),
			 -EINVAL);
	return resolve_one(a);
}

static struct lwm_attrs one(const char *query)
{
	struct lwm_attrs a = q(query, 3, true), out;
	const struct lwm_attrs *chain[] = {&a};

	lwm_obs_resolve(&out, chain, 1, 0, 0, 0);
	return out;
}

/* Each version defines its attributes: 1.0 pmin pmax gt lt st, 1.1 adds
 * epmin epmax, 1.2 edge con hqmax.  Others are undefined there: refused. */
static void attributes_follow_the_registration_version(void **state)
{
	static const char *const v11[] = {"epmin=1", "epmax=5"};
	static const char *const v12[] = {"con=1", "hqmax=3"};
	struct lwm_attrs a = {0};

	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(lwm_attrs_apply_query(&a, v11[i], strlen(v11[i]), 3,
						       LWM_ATTR_ON_NUMBER | LWM_ATTR_V1_0),
				 -EINVAL);
		assert_int_equal(lwm_attrs_apply_query(&a, v11[i], strlen(v11[i]), 3,
						       LWM_ATTR_ON_NUMBER | LWM_ATTR_V1_1),
				 0);
		assert_int_equal(lwm_attrs_apply_query(&a, v12[i], strlen(v12[i]), 3,
						       LWM_ATTR_ON_NUMBER | LWM_ATTR_V1_1),
				 -EINVAL);
		assert_int_equal(lwm_attrs_apply_query(&a, v12[i], strlen(v12[i]), 3,
						       LWM_ATTR_ON_NUMBER),
				 0);
	}
	assert_int_equal(lwm_attrs_apply_query(&a, "edge=1", 6, 3,
					       LWM_ATTR_ON_BOOLEAN | LWM_ATTR_V1_1),
			 -EINVAL);
	assert_int_equal(lwm_attrs_apply_query(&a, "edge=1", 6, 3, LWM_ATTR_ON_BOOLEAN), 0);
	assert_int_equal(lwm_attrs_apply_query(&a, "pmin=2&gt=5", 11, 3,
					       LWM_ATTR_ON_NUMBER | LWM_ATTR_V1_0),
			 0);
	assert_int_equal(lwm_attr_version("1.0"), LWM_ATTR_V1_0);
	assert_int_equal(lwm_attr_version("1.1"), LWM_ATTR_V1_1);
	assert_int_equal(lwm_attr_version("1.2"), 0);
}

/* Start an observation answered at the fake clock's now with value v. */
static struct lwm_obs_state start(double v)
{
	struct lwm_obs_state st = {0};

	lwm_obs_sent(&st, true, v, clock_now_ms());
	return st;
}

/* Feed a change at now+dt; returns the verdict (and the time in *at). */
static enum lwm_obs_verdict change(const struct lwm_attrs *a, struct lwm_obs_state *st,
				   double v, uint64_t *at)
{
	uint64_t dummy;

	return lwm_obs_on_change(a, st, true, v, clock_now_ms(), at ? at : &dummy);
}

static int setup(void **state)
{
	clock_fake_set(1000000);
	return 0;
}

static int teardown(void **state)
{
	clock_fake_off();
	return 0;
}

static void no_attributes_any_change_notifies_and_no_timer(void **state)
{
	struct lwm_attrs a = one("pmin");
	struct lwm_obs_state st = start(1);
	uint64_t at;

	/* Nothing pending, no pmax: no timer at all while values stand still. */
	assert_int_equal(lwm_obs_deadline(&a, &st), UINT64_MAX);
	clock_fake_advance(10);
	assert_int_equal(change(&a, &st, 1.5, &at), LWM_OBS_NOW);
	assert_int_equal(at, clock_now_ms());
}

static void pmin_delays_a_change(void **state)
{
	struct lwm_attrs a = one("pmin=5");
	struct lwm_obs_state st = start(1);
	uint64_t t0 = clock_now_ms(), at;

	clock_fake_advance(1000);
	assert_int_equal(change(&a, &st, 2, &at), LWM_OBS_LATER);
	assert_int_equal(at, t0 + 5000);
	assert_int_equal(lwm_obs_deadline(&a, &st), t0 + 5000);
	assert_false(lwm_obs_due(&a, &st, t0 + 4999));
	assert_true(lwm_obs_due(&a, &st, t0 + 5000));
	/* Further changes while pending keep the same deadline. */
	clock_fake_advance(1000);
	assert_int_equal(change(&a, &st, 3, &at), LWM_OBS_LATER);
	assert_int_equal(at, t0 + 5000);
	clock_fake_set(t0 + 5000);
	lwm_obs_sent(&st, true, 3, clock_now_ms());
	assert_int_equal(lwm_obs_deadline(&a, &st), UINT64_MAX);
	/* After pmin, a change goes out at once. */
	clock_fake_advance(6000);
	assert_int_equal(change(&a, &st, 4, &at), LWM_OBS_NOW);
}

static void pmax_forces_a_notification(void **state)
{
	struct lwm_attrs a = one("pmax=10");
	struct lwm_obs_state st = start(1);
	uint64_t t0 = clock_now_ms();

	assert_int_equal(lwm_obs_deadline(&a, &st), t0 + 10000);
	assert_false(lwm_obs_due(&a, &st, t0 + 9999));
	assert_true(lwm_obs_due(&a, &st, t0 + 10000));
	lwm_obs_sent(&st, true, 1, t0 + 10000);
	assert_int_equal(lwm_obs_deadline(&a, &st), t0 + 20000);
}

static void pmax_zero_means_none(void **state)
{
	struct lwm_attrs a = one("pmax=0");
	struct lwm_obs_state st = start(1);

	assert_int_equal(lwm_obs_deadline(&a, &st), UINT64_MAX);
}

static void pmin_and_pmax_together(void **state)
{
	struct lwm_attrs a = one("pmin=2&pmax=6");
	struct lwm_obs_state st = start(1);
	uint64_t t0 = clock_now_ms(), at;

	clock_fake_advance(500);
	assert_int_equal(change(&a, &st, 2, &at), LWM_OBS_LATER);
	assert_int_equal(lwm_obs_deadline(&a, &st), t0 + 2000);
	lwm_obs_sent(&st, true, 2, t0 + 2000);
	assert_int_equal(lwm_obs_deadline(&a, &st), t0 + 8000);
}

static void pmax_below_pmin_is_ignored(void **state)
{
	struct lwm_attrs in = {.set = LWM_ATTR_PMIN | LWM_ATTR_PMAX, .pmin = 10, .pmax = 5};
	struct lwm_obs_state st = start(1);

	assert_int_equal(lwm_obs_deadline(&in, &st), UINT64_MAX);
}

static void gt_notifies_on_crossing_only(void **state)
{
	struct lwm_attrs a = one("gt=10");
	struct lwm_obs_state st = start(5);

	assert_int_equal(change(&a, &st, 9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 11, NULL), LWM_OBS_NOW);
	lwm_obs_sent(&st, true, 11, clock_now_ms());
	assert_int_equal(change(&a, &st, 15, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 10, NULL), LWM_OBS_NOW); /* back to not above */
}

static void lt_notifies_on_crossing_only(void **state)
{
	struct lwm_attrs a = one("lt=0");
	struct lwm_obs_state st = start(5);

	assert_int_equal(change(&a, &st, 0, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, -1, NULL), LWM_OBS_NOW);
	lwm_obs_sent(&st, true, -1, clock_now_ms());
	assert_int_equal(change(&a, &st, -7, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 3, NULL), LWM_OBS_NOW);
}

static void gt_and_lt_together(void **state)
{
	struct lwm_attrs a = one("gt=10&lt=-10");
	struct lwm_obs_state st = start(0);

	assert_int_equal(change(&a, &st, 9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, -9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, -11, NULL), LWM_OBS_NOW);
	lwm_obs_sent(&st, true, -11, clock_now_ms());
	/* From below lt straight to above gt crosses both. */
	assert_int_equal(change(&a, &st, 20, NULL), LWM_OBS_NOW);
}

static void st_step_from_the_last_notified_value(void **state)
{
	struct lwm_attrs a = one("st=2");
	struct lwm_obs_state st = start(10);

	assert_int_equal(change(&a, &st, 11, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 11.9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 8, NULL), LWM_OBS_NOW);
	lwm_obs_sent(&st, true, 8, clock_now_ms());
	/* Small steps never add up against a moving reference. */
	assert_int_equal(change(&a, &st, 9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 9.9, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 10, NULL), LWM_OBS_NOW);
}

static void st_with_pmin(void **state)
{
	struct lwm_attrs a = one("st=1&pmin=3");
	struct lwm_obs_state st = start(0);
	uint64_t t0 = clock_now_ms(), at;

	clock_fake_advance(100);
	assert_int_equal(change(&a, &st, 0.5, &at), LWM_OBS_NONE);
	assert_int_equal(lwm_obs_deadline(&a, &st), UINT64_MAX); /* no timer for it */
	assert_int_equal(change(&a, &st, 1.5, &at), LWM_OBS_LATER);
	assert_int_equal(at, t0 + 3000);
}

static void gt_with_st_either_condition(void **state)
{
	struct lwm_attrs a = one("gt=100&st=5");
	struct lwm_obs_state st = start(0);

	assert_int_equal(change(&a, &st, 4, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&a, &st, 5, NULL), LWM_OBS_NOW);
}

static void non_numeric_any_change(void **state)
{
	struct lwm_attrs a = one("gt=10");
	struct lwm_obs_state st = {0};
	uint64_t at;

	lwm_obs_sent(&st, false, 0, clock_now_ms());
	assert_int_equal(lwm_obs_on_change(&a, &st, false, 0, clock_now_ms(), &at), LWM_OBS_NOW);
}

static void edge_rising_and_falling(void **state)
{
	struct lwm_attrs rise = one_bool("edge=1"), fall = one_bool("edge=0");
	struct lwm_obs_state st = start(0);

	assert_int_equal(change(&rise, &st, 1, NULL), LWM_OBS_NOW);
	st = start(1);
	assert_int_equal(change(&rise, &st, 0, NULL), LWM_OBS_NONE);
	assert_int_equal(change(&fall, &st, 0, NULL), LWM_OBS_NOW);
}

static void inheritance_most_specific_wins(void **state)
{
	struct lwm_attrs obj = q("pmin=10&pmax=100", 1, false);
	struct lwm_attrs inst = q("pmax=50", 2, false);
	struct lwm_attrs res = q("gt=3", 3, true);
	const struct lwm_attrs *chain[] = {NULL, &res, &inst, &obj};
	struct lwm_attrs out;

	lwm_obs_resolve(&out, chain, 4, 0, 0, 0);
	assert_int_equal(out.pmin, 10);
	assert_int_equal(out.pmax, 50);
	assert_true(out.set & LWM_ATTR_GT);
	assert_true(out.gt == 3.0);
}

static void request_attributes_override(void **state)
{
	struct lwm_attrs req = q("pmin=1", 3, true), res = q("pmin=20&pmax=30", 3, true);
	const struct lwm_attrs *chain[] = {&req, &res};
	struct lwm_attrs out;

	lwm_obs_resolve(&out, chain, 2, 0, 0, 0);
	assert_int_equal(out.pmin, 1);
	assert_int_equal(out.pmax, 30);
}

static void server_defaults_fill_in(void **state)
{
	struct lwm_attrs res = q("pmax=60", 3, true);
	const struct lwm_attrs *chain[] = {&res};
	struct lwm_attrs out;

	lwm_obs_resolve(&out, chain, 1, LWM_ATTR_PMIN | LWM_ATTR_PMAX, 5, 300);
	assert_int_equal(out.pmin, 5);   /* default */
	assert_int_equal(out.pmax, 60);  /* attached wins over the default */
	lwm_obs_resolve(&out, chain, 0, LWM_ATTR_PMAX, 0, 300);
	assert_int_equal(out.pmax, 300);
	assert_false(out.set & LWM_ATTR_PMIN);
}

static void sampling_needs(void **state)
{
	struct lwm_attrs none = {0};

	assert_int_equal(lwm_obs_sample_ms(&none), 0);
	assert_int_equal(lwm_obs_sample_ms(&(struct lwm_attrs){.set = LWM_ATTR_PMIN, .pmin = 2}),
			 2000);
	assert_int_equal(lwm_obs_sample_ms(&(struct lwm_attrs){.set = LWM_ATTR_PMAX, .pmax = 9}),
			 9000);
	/* epmax is the sampling period asked for; epmin bounds it below. */
	assert_int_equal(lwm_obs_sample_ms(&(struct lwm_attrs){
				 .set = LWM_ATTR_PMIN | LWM_ATTR_EPMAX, .pmin = 1, .epmax = 4}),
			 4000);
	assert_int_equal(lwm_obs_sample_ms(&(struct lwm_attrs){
				 .set = LWM_ATTR_PMIN | LWM_ATTR_EPMIN, .pmin = 1, .epmin = 3}),
			 3000);
	assert_int_equal(lwm_obs_sample_ms(&(struct lwm_attrs){.set = LWM_ATTR_EPMIN, .epmin = 3}),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_attributes_any_change_notifies_and_no_timer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pmin_delays_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(pmax_forces_a_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(pmax_zero_means_none, setup, teardown),
		cmocka_unit_test_setup_teardown(pmin_and_pmax_together, setup, teardown),
		cmocka_unit_test_setup_teardown(pmax_below_pmin_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(gt_notifies_on_crossing_only, setup, teardown),
		cmocka_unit_test_setup_teardown(lt_notifies_on_crossing_only, setup, teardown),
		cmocka_unit_test_setup_teardown(gt_and_lt_together, setup, teardown),
		cmocka_unit_test_setup_teardown(st_step_from_the_last_notified_value, setup, teardown),
		cmocka_unit_test_setup_teardown(st_with_pmin, setup, teardown),
		cmocka_unit_test_setup_teardown(gt_with_st_either_condition, setup, teardown),
		cmocka_unit_test_setup_teardown(non_numeric_any_change, setup, teardown),
		cmocka_unit_test_setup_teardown(edge_rising_and_falling, setup, teardown),
		cmocka_unit_test_setup_teardown(inheritance_most_specific_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(request_attributes_override, setup, teardown),
		cmocka_unit_test_setup_teardown(server_defaults_fill_in, setup, teardown),
		cmocka_unit_test_setup_teardown(sampling_needs, setup, teardown),
		cmocka_unit_test(attributes_follow_the_registration_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
