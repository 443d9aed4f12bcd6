/* Paths, growable buffers and the shortest round-trip double formatting. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wipe_check.h"

#include "lwm2m/lwm_types.h"

static int parse(const char *s, struct lwm_path *p)
{
	return lwm_path_parse(s, strlen(s), p);
}

static void test_type_names(void **state)
{
	assert_string_equal(lwm_type_name(LWM_T_NONE), "none");
	assert_string_equal(lwm_type_name(LWM_T_STRING), "String");
	assert_string_equal(lwm_type_name(LWM_T_INTEGER), "Integer");
	assert_string_equal(lwm_type_name(LWM_T_UNSIGNED), "Unsigned Integer");
	assert_string_equal(lwm_type_name(LWM_T_FLOAT), "Float");
	assert_string_equal(lwm_type_name(LWM_T_BOOLEAN), "Boolean");
	assert_string_equal(lwm_type_name(LWM_T_OPAQUE), "Opaque");
	assert_string_equal(lwm_type_name(LWM_T_TIME), "Time");
	assert_string_equal(lwm_type_name(LWM_T_OBJLNK), "Objlnk");
	assert_string_equal(lwm_type_name(LWM_T_CORELNK), "Corelnk");
	assert_string_equal(lwm_type_name((enum lwm_type)99), "invalid");
}

static void test_path_parse_valid(void **state)
{
	struct lwm_path p;

	assert_int_equal(parse("/", &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(parse("/3", &p), 0);
	assert_int_equal(p.len, 1);
	assert_int_equal(LWM_PATH_OID(&p), 3);
	assert_int_equal(parse("/3303/0/5700", &p), 0);
	assert_int_equal(p.len, 3);
	assert_int_equal(LWM_PATH_OID(&p), 3303);
	assert_int_equal(LWM_PATH_IID(&p), 0);
	assert_int_equal(LWM_PATH_RID(&p), 5700);
	assert_int_equal(parse("/3/0/11/7", &p), 0);
	assert_int_equal(p.len, 4);
	assert_int_equal(LWM_PATH_RIID(&p), 7);
	assert_int_equal(parse("/65534/65534/65534/65534", &p), 0);
	assert_int_equal(p.id[3], 65534);
	assert_int_equal(parse("/0/0", &p), 0);
	assert_int_equal(p.len, 2);
	/* len bounds the parse, the string need not be NUL-terminated there */
	assert_int_equal(lwm_path_parse("/3/0/1", 4, &p), 0);
	assert_int_equal(p.len, 2);
}

static void test_path_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"", "3", "3/0", "//", "/3//0", "/3/", "/3/0/", "/a", "/3a", "/3/0x1",
		"/65535", "/99999", "/4294967299", "/1000000000000000000003", "/1/2/3/4/5",
		"/1/2/3/4/", "/3/0 ", " /3", "/-1", "/+1", "/3/0/1?x", "/3.0",
	};
	struct lwm_path p = lwm_path_make(2, 7, 7, 0, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(lwm_path_parse(NULL, 0, &p), -EINVAL);
	assert_int_equal(lwm_path_parse("/3\0/1", 5, &p), -EINVAL); /* embedded NUL */
	/* out is untouched on failure */
	assert_int_equal(p.len, 2);
	assert_int_equal(p.id[0], 7);
}

static void test_path_format(void **state)
{
	char buf[32];
	struct lwm_path p = lwm_path_make(0, 0, 0, 0, 0);

	assert_int_equal(lwm_path_format(&p, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "/");
	p = lwm_path_make(4, 3, 0, 11, 2);
	assert_int_equal(lwm_path_format(&p, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "/3/0/11/2");
	p = lwm_path_make(4, 65534, 65534, 65534, 65534);
	assert_int_equal(lwm_path_format(&p, buf, sizeof(buf)), 24);
	assert_string_equal(buf, "/65534/65534/65534/65534");
	assert_int_equal(lwm_path_format(&p, buf, 25), 24);
	assert_int_equal(lwm_path_format(&p, buf, 24), -ENOSPC);
	assert_int_equal(lwm_path_format(&p, buf, 0), -ENOSPC);
	p.len = 0;
	assert_int_equal(lwm_path_format(&p, buf, 1), -ENOSPC);

	/* format and parse agree */
	p = lwm_path_make(3, 3303, 1, 5700, 0);
	assert_int_equal(lwm_path_format(&p, buf, sizeof(buf)), 12);
	struct lwm_path q;
	assert_int_equal(parse(buf, &q), 0);
	assert_int_equal(lwm_path_cmp(&p, &q), 0);
}

static void test_path_cmp(void **state)
{
	struct lwm_path root = lwm_path_make(0, 0, 0, 0, 0);
	struct lwm_path o3 = lwm_path_make(1, 3, 0, 0, 0);
	struct lwm_path i0 = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_path r6 = lwm_path_make(3, 3, 0, 6, 0);
	struct lwm_path r6i1 = lwm_path_make(4, 3, 0, 6, 1);
	struct lwm_path r7 = lwm_path_make(3, 3, 0, 7, 0);
	struct lwm_path i1 = lwm_path_make(2, 3, 1, 0, 0);
	struct lwm_path o4 = lwm_path_make(1, 4, 0, 0, 0);
	const struct lwm_path *order[] = {&root, &o3, &i0, &r6, &r6i1, &r7, &i1, &o4};
	size_t n = sizeof(order) / sizeof(order[0]);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int c = lwm_path_cmp(order[i], order[j]);

			if (i < j)
				assert_true(c < 0);
			else if (i > j)
				assert_true(c > 0);
			else
				assert_int_equal(c, 0);
		}
	}
	assert_true(lwm_path_starts_with(&r6i1, &r6));
	assert_true(lwm_path_starts_with(&r6i1, &root));
	assert_true(lwm_path_starts_with(&r6, &r6));
	assert_true(lwm_path_starts_with(&r6, &o3));
	assert_false(lwm_path_starts_with(&r6, &r6i1));
	assert_false(lwm_path_starts_with(&r7, &r6));
	assert_false(lwm_path_starts_with(&i1, &i0));
	assert_false(lwm_path_starts_with(&o4, &o3));
}

static void test_buf_grow(void **state)
{
	struct lwm_buf b;
	uint8_t expect[5000];

	lwm_buf_init(&b, 0);
	assert_null(b.data);
	for (size_t i = 0; i < sizeof(expect); i++) {
		expect[i] = (uint8_t)(i * 7);
		assert_int_equal(lwm_buf_putc(&b, expect[i]), 0);
	}
	assert_int_equal(b.len, sizeof(expect));
	assert_true(b.cap >= b.len);
	assert_memory_equal(b.data, expect, sizeof(expect));
	assert_int_equal(lwm_buf_append(&b, NULL, 0), 0);
	assert_int_equal(b.len, sizeof(expect));

	lwm_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_int_equal(lwm_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "42-x", 4);

	/* longer than printf's stack buffer */
	char big[1000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(lwm_buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, 4 + 1001);
	assert_int_equal(b.data[4], '<');
	assert_int_equal(b.data[b.len - 1], '>');
	assert_int_equal(b.data[500], 'q');
	lwm_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* A buffer that held a key gives no copy of it back unwiped: neither the
 * blocks left behind as it grows nor the last one. */
static void test_buf_wipes_what_it_gives_back(void **state)
{
	static const char key[] = "K3y-M4t3r1al-0x5EC2E7";
	static const uint8_t filler[700] = {0};
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_buf_append(&b, key, sizeof(key)), 0);
	wipe_check_arm(key, sizeof(key));
	for (int i = 0; i < 20; i++)
		assert_int_equal(lwm_buf_append(&b, filler, sizeof(filler)), 0);
	assert_memory_equal(b.data, key, sizeof(key));
	assert_int_equal(wipe_check_found(), 0);
	lwm_buf_free(&b);
	assert_int_equal(wipe_check_disarm(), 0);
}

static void test_buf_max(void **state)
{
	struct lwm_buf b;

	lwm_buf_init(&b, 10);
	assert_int_equal(lwm_buf_append(&b, "12345", 5), 0);
	assert_int_equal(lwm_buf_printf(&b, "%s", "67890"), 0); /* exactly max */
	assert_int_equal(b.len, 10);
	assert_true(b.cap <= 10);
	assert_int_equal(lwm_buf_putc(&b, 'x'), -E2BIG);
	assert_int_equal(b.err, -E2BIG);
	/* sticky: even an empty append reports it, and nothing changes */
	assert_int_equal(lwm_buf_append(&b, "", 0), -E2BIG);
	assert_int_equal(lwm_buf_printf(&b, "y"), -E2BIG);
	assert_int_equal(lwm_buf_reserve(&b, 0), -E2BIG);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "1234567890", 10);
	lwm_buf_reset(&b);
	assert_int_equal(b.err, 0);
	assert_int_equal(lwm_buf_printf(&b, "%s", "12345678901"), -E2BIG);
	assert_int_equal(b.len, 0);
	lwm_buf_reset(&b);
	assert_int_equal(lwm_buf_reserve(&b, 11), -E2BIG);
	lwm_buf_reset(&b);
	assert_int_equal(lwm_buf_append(&b, "a", (size_t)-1), -E2BIG);
	lwm_buf_free(&b);
}

static void test_buf_reserve(void **state)
{
	struct lwm_buf b;
	uint8_t *before;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_buf_append(&b, "ab", 2), 0);
	assert_int_equal(lwm_buf_reserve(&b, 1000), 0);
	assert_true(b.cap >= 1002);
	before = b.data;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(lwm_buf_putc(&b, 'z'), 0);
	assert_ptr_equal(b.data, before); /* no move within the reservation */
	assert_int_equal(b.len, 1002);
	lwm_buf_free(&b);
}

static void check_fmt(double d, const char *expect)
{
	char buf[32];
	int n = lwm_fmt_double(d, buf);

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	if (expect)
		assert_string_equal(buf, expect);
	/* exact round trip, including the sign of zero */
	double back = strtod(buf, NULL);
	assert_memory_equal(&back, &d, sizeof(d));
}

/* The definition lwm_fmt_double keeps to, done the slow way. */
static int fmt_reference(double d, char buf[32])
{
	int r = -1;

	for (int prec = 15; prec <= 17; prec++) {
		r = snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return r;
}

static void check_same(double d)
{
	char a[32], b[32];
	int n = lwm_fmt_double(d, a);

	assert_int_equal(n, fmt_reference(d, b));
	assert_string_equal(a, b);
}

/* Exactly "%.15g", "%.16g" or "%.17g", whichever reads back first. */
static void test_fmt_double_reference(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1du;

	for (int i = 0; i < 100000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d))
			check_same(d);
		/* Sensor-like values: decimals, scaled readings, sums. */
		check_same((double)(int64_t)(x % 2000001) / 1000.0 - 1000.0);
		check_same((double)(x % 65536) * 0.1);
		check_same(21.5 + 2.0 * (double)(x % 60000) / 60000.0 - 1.0);
	}
	/* Carries into a new digit, ties in the 17 digits, the e-style edges. */
	check_same(9.9999999999999995e22);
	check_same(0.99999999999999994);
	check_same(999999999999999.9);
	check_same(0.5);
	check_same(2.5e-5);
	check_same(1e-5);
	check_same(1e-4);
	check_same(0.0001234);
	check_same(1e15);
	check_same(1e16);
	check_same(123456789012345680.0);
	check_same(0.30000000000000004);
	check_same(5e-324);
	check_same(-5e-324);
	check_same(DBL_MAX);
	check_same(-DBL_MIN);
	check_same(1.0000000000000002);
	check_same(1.00000000000000050);
	/* Exact ties at 15 digits: half to even, as printf does. */
	check_same(123456789012345.5);
	check_same(123456789012344.5);
	check_same(-12345678901234.25);
	check_same(0.00010000000000000001);
	check_same(0.000099999999999999991);
	check_same(999999999999999.88);
	check_same(99999999999999.995);
	check_same(1e15 - 0.125);
	check_same(0x1p-13);
	check_same(0x1p40);
	check_same(0x1p-10 + 0x1p-62);
	for (int i = -14; i <= 49; i++) {
		check_same(ldexp(1.0, i));
		check_same(nextafter(ldexp(1.0, i), 0.0));
		check_same(nextafter(ldexp(1.0, i), INFINITY));
	}
	for (int i = -4; i <= 15; i++) {
		double p = pow(10.0, i);
		check_same(p);
		check_same(nextafter(p, 0.0));
		check_same(nextafter(p, INFINITY));
	}
}

static void test_fmt_double(void **state)
{
	char buf[32];

	check_fmt(21.5, "21.5");
	check_fmt(0.1, "0.1");
	check_fmt(-3.25, "-3.25");
	check_fmt(1e300, "1e+300");
	check_fmt(0.0, "0");
	check_fmt(-0.0, "-0");
	check_fmt(100.0, "100");
	check_fmt(1.0 / 3.0, "0.3333333333333333");
	check_fmt(0.1 + 0.2, "0.30000000000000004");
	check_fmt(DBL_MAX, "1.7976931348623157e+308");
	check_fmt(DBL_MIN, NULL);
	check_fmt(5e-324, "4.94065645841247e-324");
	check_fmt(9007199254740993.0, NULL);
	check_fmt((double)INT64_MAX, NULL);
	check_fmt((float)21.1, NULL);
	assert_int_equal(lwm_fmt_double(NAN, buf), -EINVAL);
	assert_int_equal(lwm_fmt_double(INFINITY, buf), -EINVAL);
	assert_int_equal(lwm_fmt_double(-INFINITY, buf), -EINVAL);

	/* many bit patterns (fixed seed): each round-trips in <= 24 chars */
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int i = 0; i < 100000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d))
			continue;
		check_fmt(d, NULL);
		assert_true(lwm_fmt_double(d, buf) <= 24);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_path_parse_valid),
		cmocka_unit_test(test_path_parse_invalid),
		cmocka_unit_test(test_path_format),
		cmocka_unit_test(test_path_cmp),
		cmocka_unit_test(test_buf_grow),
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_buf_wipes_what_it_gives_back),
		cmocka_unit_test(test_buf_reserve),
		cmocka_unit_test(test_fmt_double),
		cmocka_unit_test(test_fmt_double_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
