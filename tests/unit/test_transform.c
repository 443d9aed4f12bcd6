/* The point transform between channel values and resource values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/transform.h"

static struct cfg_point point(double scale, double offset)
{
	struct cfg_point p = {.channel = "x", .scale = scale, .offset = offset};
	return p;
}

static void scale_and_offset_into_float(void **state)
{
	struct cfg_point p = point(0.1, -40.0);
	struct gwd_value raw = gwd_value_int(655);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf), 0);
	assert_int_equal(v.type, LWM_T_FLOAT);
	assert_float_equal(v.v.f, 25.5, 1e-9);
}

static void integers_pass_untouched(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_int(INT64_MAX - 1);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf), 0);
	assert_true(v.v.i == INT64_MAX - 1); /* a double would have lost digits */
}

static void rounds_into_integer(void **state)
{
	struct cfg_point p = point(0.5, 0.0);
	struct gwd_value raw = gwd_value_int(5);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf), 0);
	assert_int_equal(v.v.i, 3); /* 2.5 rounds away from zero */
	raw = gwd_value_double(-1.0);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf), -ERANGE);
}

static void booleans_and_strings(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_bool(true);
	struct gwd_value s = {.type = GWD_V_STRING};
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_BOOLEAN, &v, buf), 0);
	assert_true(v.v.b);
	raw = gwd_value_double(0.0);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_BOOLEAN, &v, buf), 0);
	assert_false(v.v.b);
	raw = gwd_value_double(21.5);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf), 0);
	assert_int_equal(v.v.bytes.len, 4);
	assert_memory_equal(v.v.bytes.ptr, "21.5", 4);
	s.v.bytes.ptr = "abc";
	s.v.bytes.len = 3;
	assert_int_equal(transform_to_resource(&p, &s, LWM_T_FLOAT, &v, buf), -EINVAL);
	assert_int_equal(transform_to_resource(&p, &s, LWM_T_STRING, &v, buf), 0);
	assert_memory_equal(v.v.bytes.ptr, "abc", 3);
}

static void non_finite_refused(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_double(__builtin_nan(""));
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf), -EINVAL);
}

static void inverse_with_range_check(void **state)
{
	struct cfg_point p = point(0.1, -40.0);
	struct lwm_value in = {.type = LWM_T_FLOAT};
	struct gwd_value out;

	p.has_min = p.has_max = true;
	p.min = -40.0;
	p.max = 125.0;
	in.v.f = 25.5;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_DOUBLE);
	assert_float_equal(out.v.d, 655.0, 1e-9);
	in.v.f = 125.5;
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);
	in.type = LWM_T_INTEGER;
	in.v.i = -41;
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);
	in.type = LWM_T_BOOLEAN;
	in.v.b = true;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_BOOL);
}

static void round_trip(void **state)
{
	struct cfg_point p = point(0.01, 273.15);
	struct gwd_value raw = gwd_value_double(1234.0), back;
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf), 0);
	assert_int_equal(transform_to_device(&p, &v, &back), 0);
	assert_float_equal(back.v.d, 1234.0, 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scale_and_offset_into_float),
		cmocka_unit_test(integers_pass_untouched),
		cmocka_unit_test(rounds_into_integer),
		cmocka_unit_test(booleans_and_strings),
		cmocka_unit_test(non_finite_refused),
		cmocka_unit_test(inverse_with_range_check),
		cmocka_unit_test(round_trip),
	};
	return cmocka_run_group_tests_name("transform", tests, NULL, NULL);
}
