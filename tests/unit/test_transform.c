/* The point transform between channel values and resource values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/transform.h"
#include "lwm2m/codec.h"

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

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf, NULL), 0);
	assert_int_equal(v.type, LWM_T_FLOAT);
	assert_float_equal(v.v.f, 25.5, 1e-9);
}

static void integers_pass_untouched(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_int(INT64_MAX - 1);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), 0);
	assert_true(v.v.i == INT64_MAX - 1); /* a double would have lost digits */
}

static void rounds_into_integer(void **state)
{
	struct cfg_point p = point(0.5, 0.0);
	struct gwd_value raw = gwd_value_int(5);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), 0);
	assert_int_equal(v.v.i, 3); /* 2.5 rounds away from zero */
	raw = gwd_value_double(-1.0);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), -ERANGE);
}

static void booleans_and_strings(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_bool(true);
	struct gwd_value s = {.type = GWD_V_STRING};
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_BOOLEAN, &v, buf, NULL), 0);
	assert_true(v.v.b);
	raw = gwd_value_double(0.0);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_BOOLEAN, &v, buf, NULL), 0);
	assert_false(v.v.b);
	raw = gwd_value_double(21.5);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf, NULL), 0);
	assert_int_equal(v.v.bytes.len, 4);
	assert_memory_equal(v.v.bytes.ptr, "21.5", 4);
	s.v.bytes.ptr = "abc";
	s.v.bytes.len = 3;
	assert_int_equal(transform_to_resource(&p, &s, LWM_T_FLOAT, &v, buf, NULL), -EINVAL);
	assert_int_equal(transform_to_resource(&p, &s, LWM_T_STRING, &v, buf, NULL), 0);
	assert_memory_equal(v.v.bytes.ptr, "abc", 3);
}

static void non_finite_refused(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_double(__builtin_nan(""));
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf, NULL), -EINVAL);
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

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_FLOAT, &v, buf, NULL), 0);
	assert_int_equal(transform_to_device(&p, &v, &back), 0);
	assert_float_equal(back.v.d, 1234.0, 1e-6);
}

/* Unsigned readings above 2^63 (issue 16, item 15): llround() overflowed. */
static void unsigned_above_2p63(void **state)
{
	struct cfg_point p = point(1.0, 1.0);
	struct gwd_value raw = {.type = GWD_V_UINT};
	struct lwm_value v;
	char buf[32];

	raw.v.u = (UINT64_C(1) << 63) + 1;
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), 0);
	assert_true(v.v.u == (UINT64_C(1) << 63) + 2);
	raw.v.u = UINT64_MAX;
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), -ERANGE);
	/* through a double: 1.5e19 is an integer a double holds exactly */
	p = point(1.0, 0.0);
	raw = gwd_value_double(1.5e19);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), 0);
	assert_true(v.v.u == UINT64_C(15000000000000000000));
	raw = gwd_value_double(0x1p64);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), -ERANGE);
	raw = gwd_value_double(0x1p63);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), -ERANGE);
	raw = gwd_value_double(-0x1p63);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), 0);
	assert_true(v.v.i == INT64_MIN);
	/* a string resource gets every digit */
	raw.type = GWD_V_UINT;
	raw.v.u = UINT64_MAX;
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf, NULL), 0);
	assert_int_equal(v.v.bytes.len, 20);
	assert_memory_equal(v.v.bytes.ptr, "18446744073709551615", 20);
}

/* Integers past 2^53 stay exact with an integral transform, whatever the
 * signedness of reading and resource. */
static void integers_exact_with_integral_transform(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = gwd_value_int((INT64_C(1) << 53) + 1);
	struct lwm_value v;
	char buf[32];

	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), 0);
	assert_true(v.v.u == (UINT64_C(1) << 53) + 1);
	p = point(4.0, -3.0);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), 0);
	assert_true(v.v.i == (INT64_C(1) << 55) + 1);
	raw = gwd_value_int(-1);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_UNSIGNED, &v, buf, NULL), -ERANGE);
	raw = gwd_value_int(INT64_MAX);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_INTEGER, &v, buf, NULL), -ERANGE);
}

/* Writes (issue 16, item 15): integers reach the adapter exactly, as
 * integers, and min/max compare exactly. */
static void writes_keep_integers_exact(void **state)
{
	struct cfg_point p = point(1.0, 0.0);
	struct lwm_value in = {.type = LWM_T_INTEGER};
	struct gwd_value out;

	in.v.i = (INT64_C(1) << 53) + 1;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_INT);
	assert_true(out.v.i == (INT64_C(1) << 53) + 1);
	in.v.i = INT64_MIN;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_INT);
	assert_true(out.v.i == INT64_MIN);
	in.type = LWM_T_UNSIGNED;
	in.v.u = UINT64_MAX;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_UINT);
	assert_true(out.v.u == UINT64_MAX);

	/* scale 0.1 (tenths): raw = value * 10, exactly */
	p = point(0.1, 0.0);
	in.type = LWM_T_INTEGER;
	in.v.i = (INT64_C(1) << 53) + 1;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_INT);
	assert_true(out.v.i == ((INT64_C(1) << 53) + 1) * 10);
	in.v.i = INT64_MAX / 4; /* times 10 is past 64 bits */
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);

	/* scale 4, offset -3: raw = (value + 3) / 4 when it divides ... */
	p = point(4.0, -3.0);
	in.v.i = (INT64_C(1) << 55) + 1;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_INT);
	assert_true(out.v.i == (INT64_C(1) << 53) + 1);
	/* ... and a fraction for the adapter to round when it does not */
	in.v.i = 3;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	assert_int_equal(out.type, GWD_V_DOUBLE);
	assert_float_equal(out.v.d, 1.5, 0);

	/* min/max compare exactly: 2^53 + 1 is above a max of 2^53 */
	p = point(1.0, 0.0);
	p.has_max = true;
	p.max = 0x1p53;
	in.v.i = (INT64_C(1) << 53) + 1;
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);
	in.v.i = INT64_C(1) << 53;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	p.has_max = false;
	p.has_min = true;
	p.min = 0.5;
	in.v.i = 0;
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);
	in.v.i = 1;
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	in.type = LWM_T_UNSIGNED;
	in.v.u = UINT64_MAX;
	p.has_max = true;
	p.max = 0x1p64; /* above every uint64: no refusal */
	assert_int_equal(transform_to_device(&p, &in, &out), 0);
	p.max = 0x1p63;
	assert_int_equal(transform_to_device(&p, &in, &out), -ERANGE);
}

/* Device text for a String resource is made valid UTF-8 (issue 16, item
 * 15): each maximal invalid subsequence becomes one U+FFFD. */
static void device_text_repaired(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"ok \xc3\xa9", "ok \xc3\xa9"},                /* valid: untouched */
		{"a\xff" "b", "a\xef\xbf\xbd" "b"},            /* stray byte */
		{"\xe2\x82", "\xef\xbf\xbd"},                  /* truncated at the end */
		{"\xe2\x82x", "\xef\xbf\xbdx"},                /* truncated inside */
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},      /* overlong '/' */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf0\x9f\x98", "\xef\xbf\xbd"},
		{"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
	};
	struct cfg_point p = point(1.0, 0.0);
	struct gwd_value raw = {.type = GWD_V_STRING};
	struct lwm_value v;
	struct lwm_buf text;
	char buf[32];

	lwm_buf_init(&text, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw.v.bytes.ptr = cases[i].in;
		raw.v.bytes.len = strlen(cases[i].in);
		assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf, &text), 0);
		if (v.v.bytes.len != strlen(cases[i].want) ||
		    memcmp(v.v.bytes.ptr, cases[i].want, v.v.bytes.len))
			fail_msg("case %zu: got %zu bytes", i, v.v.bytes.len);
		assert_true(lwm_utf8_valid(v.v.bytes.ptr, v.v.bytes.len));
		lwm_buf_reset(&text);
	}
	/* bytes from a BYTES channel too; an Opaque resource keeps them */
	raw.type = GWD_V_BYTES;
	raw.v.bytes.ptr = "\xff";
	raw.v.bytes.len = 1;
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf, &text), 0);
	assert_int_equal(v.v.bytes.len, 3);
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_OPAQUE, &v, buf, &text), 0);
	assert_int_equal(v.v.bytes.len, 1);
	assert_ptr_equal(v.v.bytes.ptr, raw.v.bytes.ptr);
	/* no buffer: refused rather than passed on */
	raw.type = GWD_V_STRING;
	assert_int_equal(transform_to_resource(&p, &raw, LWM_T_STRING, &v, buf, NULL), -EINVAL);
	lwm_buf_free(&text);
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
		cmocka_unit_test(unsigned_above_2p63),
		cmocka_unit_test(integers_exact_with_integral_transform),
		cmocka_unit_test(writes_keep_integers_exact),
		cmocka_unit_test(device_text_repaired),
	};
	return cmocka_run_group_tests_name("transform", tests, NULL, NULL);
}
