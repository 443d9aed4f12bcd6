/* The Modbus codec against hand-computed register images: every type, every
 * order, and the round trip through mb_encode. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/modbus/mb_codec.h"

static struct mb_format fmt(const char *type, const char *order)
{
	struct mb_format f = {0};

	assert_int_equal(mb_type_parse(type, &f.type), 0);
	assert_int_equal(mb_order_parse(order, &f.swap_bytes, &f.swap_words), 0);
	return f;
}

/* Decode regs, check the value, then encode it back to the same image. */
static void check_int(struct mb_format f, const uint16_t *regs, int64_t want)
{
	struct gwd_value v;
	uint16_t back[4] = {0};
	unsigned n = mb_format_regs(&f);

	assert_int_equal(mb_decode(&f, regs, &v, NULL, 0), 0);
	assert_int_equal(v.type, GWD_V_INT);
	assert_int_equal(v.v.i, want);
	assert_int_equal(mb_encode(&f, &v, back), 0);
	assert_memory_equal(back, regs, n * sizeof(uint16_t));
	/* The daemon hands writes over as doubles. */
	if (llabs(want) < (1LL << 52)) {
		struct gwd_value d = gwd_value_double((double)want);

		memset(back, 0, sizeof(back));
		assert_int_equal(mb_encode(&f, &d, back), 0);
		assert_memory_equal(back, regs, n * sizeof(uint16_t));
	}
}

static void check_double(struct mb_format f, const uint16_t *regs, double want)
{
	struct gwd_value v;
	uint16_t back[4] = {0};

	assert_int_equal(mb_decode(&f, regs, &v, NULL, 0), 0);
	assert_int_equal(v.type, GWD_V_DOUBLE);
	assert_true(v.v.d == want);
	assert_int_equal(mb_encode(&f, &v, back), 0);
	assert_memory_equal(back, regs, mb_format_regs(&f) * sizeof(uint16_t));
}

static void int16_types(void **state)
{
	check_int(fmt("int16", "ABCD"), (uint16_t[]){0xff85}, -123);
	check_int(fmt("int16", "BADC"), (uint16_t[]){0x85ff}, -123);
	check_int(fmt("int16", "CDAB"), (uint16_t[]){0xff85}, -123); /* no words to swap */
	check_int(fmt("uint16", "ABCD"), (uint16_t[]){0xfffe}, 65534);
	check_int(fmt("uint16", "DCBA"), (uint16_t[]){0xfeff}, 65534);
}

/* 0x11223344 = 287454020 in each order. */
static void int32_orders(void **state)
{
	check_int(fmt("uint32", "ABCD"), (uint16_t[]){0x1122, 0x3344}, 287454020);
	check_int(fmt("uint32", "DCBA"), (uint16_t[]){0x4433, 0x2211}, 287454020);
	check_int(fmt("uint32", "BADC"), (uint16_t[]){0x2211, 0x4433}, 287454020);
	check_int(fmt("uint32", "CDAB"), (uint16_t[]){0x3344, 0x1122}, 287454020);
	check_int(fmt("int32", "ABCD"), (uint16_t[]){0xffff, 0xfffe}, -2);
	check_int(fmt("int32", "CDAB"), (uint16_t[]){0xfffe, 0xffff}, -2);
	check_int(fmt("uint32", "ABCD"), (uint16_t[]){0xffff, 0xffff}, 4294967295LL);
}

/* 0x0102030405060708 = 72623859790382856. */
static void int64_orders(void **state)
{
	const int64_t x = 72623859790382856LL;
	struct gwd_value v;

	check_int(fmt("int64", "ABCDEFGH"), (uint16_t[]){0x0102, 0x0304, 0x0506, 0x0708}, x);
	check_int(fmt("int64", "HGFEDCBA"), (uint16_t[]){0x0807, 0x0605, 0x0403, 0x0201}, x);
	check_int(fmt("int64", "BADCFEHG"), (uint16_t[]){0x0201, 0x0403, 0x0605, 0x0807}, x);
	check_int(fmt("int64", "GHEFCDAB"), (uint16_t[]){0x0708, 0x0506, 0x0304, 0x0102}, x);
	check_int(fmt("int64", "ABCD"), (uint16_t[]){0xffff, 0xffff, 0xffff, 0xfff6}, -10);
	/* uint64 above INT64_MAX comes back as GWD_V_UINT. */
	struct mb_format f = fmt("uint64", "ABCDEFGH");
	uint16_t regs[4] = {0xffff, 0xffff, 0xffff, 0xfffe}, back[4];

	assert_int_equal(mb_decode(&f, regs, &v, NULL, 0), 0);
	assert_int_equal(v.type, GWD_V_UINT);
	assert_true(v.v.u == UINT64_MAX - 1);
	assert_int_equal(mb_encode(&f, &v, back), 0);
	assert_memory_equal(back, regs, sizeof(regs));
}

static void int8_halves(void **state)
{
	struct mb_format f = fmt("int8h", "ABCD");
	uint16_t r[1] = {0x80ff};
	struct gwd_value v;

	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_int_equal(v.v.i, -128);
	f = fmt("int8l", "ABCD");
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_int_equal(v.v.i, -1);
	f = fmt("uint8h", "ABCD");
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_int_equal(v.v.i, 128);
	f = fmt("uint8l", "ABCD");
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_int_equal(v.v.i, 255);
	/* Writing one half keeps the other. */
	v = gwd_value_double(0x12);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x8012);
	f = fmt("int8h", "ABCD");
	v = gwd_value_double(-2);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0xfe12);
	v = gwd_value_double(128);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
}

static void bits(void **state)
{
	struct mb_format f = fmt("bit", "ABCD");
	uint16_t r[1] = {0x0020};
	struct gwd_value v;

	f.bit = 5;
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_int_equal(v.type, GWD_V_BOOL);
	assert_true(v.v.b);
	f.bit = 4;
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_false(v.v.b);
	v = gwd_value_bool(true);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x0030);
	f.bit = 5;
	v = gwd_value_double(0.0);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x0010);
	v = gwd_value_double(2.0);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	/* Coils: one bit per element. */
	f = fmt("bool", "ABCD");
	r[0] = 1;
	assert_int_equal(mb_decode(&f, r, &v, NULL, 0), 0);
	assert_true(v.v.b);
}

static void floats(void **state)
{
	/* 230.5 = 0x43668000 as float32. */
	check_double(fmt("float32", "ABCD"), (uint16_t[]){0x4366, 0x8000}, 230.5);
	check_double(fmt("float32", "CDAB"), (uint16_t[]){0x8000, 0x4366}, 230.5);
	check_double(fmt("float32", "BADC"), (uint16_t[]){0x6643, 0x0080}, 230.5);
	check_double(fmt("float32", "DCBA"), (uint16_t[]){0x0080, 0x6643}, 230.5);
	/* -1.5 = 0xBFF8000000000000 as float64. */
	check_double(fmt("float64", "ABCDEFGH"), (uint16_t[]){0xbff8, 0, 0, 0}, -1.5);
	check_double(fmt("float64", "GHEFCDAB"), (uint16_t[]){0, 0, 0, 0xbff8}, -1.5);
	check_double(fmt("float64", "HGFEDCBA"), (uint16_t[]){0, 0, 0, 0xf8bf}, -1.5);
	/* float16: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, 2^-24 = 0x0001. */
	check_double(fmt("float16", "ABCD"), (uint16_t[]){0x3c00}, 1.0);
	check_double(fmt("float16", "ABCD"), (uint16_t[]){0xc100}, -2.5);
	check_double(fmt("float16", "ABCD"), (uint16_t[]){0x7bff}, 65504.0);
	check_double(fmt("float16", "ABCD"), (uint16_t[]){0x0001}, ldexp(1, -24));
	check_double(fmt("float16", "BADC"), (uint16_t[]){0x003c}, 1.0);

	struct mb_format f = fmt("float16", "ABCD");
	struct gwd_value v = gwd_value_double(70000.0);
	uint16_t r[4];

	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	f = fmt("float32", "ABCD");
	v = gwd_value_double(NAN);
	assert_int_equal(mb_encode(&f, &v, r), -EINVAL);
	v = gwd_value_double(1e300);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
}

static void fixed_point(void **state)
{
	struct mb_format f = fmt("fixed16", "ABCD");

	f.frac = 8; /* Q8.8: 0x1980 = 25.5 */
	check_double(f, (uint16_t[]){0x1980}, 25.5);
	check_double(f, (uint16_t[]){0xff80}, -0.5);
	f = fmt("fixed32", "CDAB");
	f.frac = 16; /* Q16.16: -1.25 = 0xFFFEC000 */
	check_double(f, (uint16_t[]){0xc000, 0xfffe}, -1.25);
}

static void bcd(void **state)
{
	struct mb_format f = fmt("bcd16", "ABCD");
	struct gwd_value v;
	uint16_t r[2];

	check_int(f, (uint16_t[]){0x1234}, 1234);
	check_int(fmt("bcd32", "ABCD"), (uint16_t[]){0x0012, 0x3456}, 123456);
	check_int(fmt("bcd32", "CDAB"), (uint16_t[]){0x3456, 0x0012}, 123456);
	assert_int_equal(mb_decode(&f, (uint16_t[]){0x12a4}, &v, NULL, 0), -EBADMSG);
	v = gwd_value_double(10000);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	v = gwd_value_double(-1);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
}

static void strings(void **state)
{
	struct mb_format f = fmt("string", "ABCD");
	uint16_t r[4] = {0x4142, 0x4344, 0x4520, 0x0000}; /* "ABCDE " NUL NUL */
	struct gwd_value v;
	char buf[16];

	f.len = 4;
	assert_int_equal(mb_decode(&f, r, &v, buf, sizeof(buf)), 0);
	assert_int_equal(v.type, GWD_V_STRING);
	assert_int_equal(v.v.bytes.len, 5);
	assert_memory_equal(v.v.bytes.ptr, "ABCDE", 5);
	f = fmt("string", "BADC");
	f.len = 4;
	r[0] = 0x4241;
	r[1] = 0x4443;
	r[2] = 0x0045;
	assert_int_equal(mb_decode(&f, r, &v, buf, sizeof(buf)), 0);
	assert_int_equal(v.v.bytes.len, 5);
	assert_memory_equal(v.v.bytes.ptr, "ABCDE", 5);

	uint16_t w[4];
	struct gwd_value s = {.type = GWD_V_STRING};

	s.v.bytes.ptr = "XYZ";
	s.v.bytes.len = 3;
	assert_int_equal(mb_encode(&f, &s, w), 0);
	assert_int_equal(w[0], 0x5958);
	assert_int_equal(w[1], 0x005a);
	assert_int_equal(w[2], 0);
	s.v.bytes.ptr = "123456789";
	s.v.bytes.len = 9;
	assert_int_equal(mb_encode(&f, &s, w), -ERANGE);
	v = gwd_value_double(1.0);
	assert_int_equal(mb_encode(&f, &v, w), -EINVAL);
}

static void ranges_and_rounding(void **state)
{
	struct mb_format f = fmt("int16", "ABCD");
	struct gwd_value v = gwd_value_double(32767.4);
	uint16_t r[4];

	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x7fff);
	v = gwd_value_double(32767.6);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	v = gwd_value_double(-32768.0);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x8000);
	/* 23.5 / 0.1 arrives as 234.99999999999997: it must be 235. */
	v = gwd_value_double(23.5 / 0.1);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 235);
	f = fmt("uint16", "ABCD");
	v = gwd_value_double(-1);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	f = fmt("int64", "ABCDEFGH");
	v = gwd_value_double(0x1p63);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	f = fmt("uint64", "ABCDEFGH");
	v = gwd_value_int(-1);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	v = gwd_value_bool(true);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[3], 1);
}

/* Integers from an integral inverse transform (issue 16, item 15) reach
 * the registers with every bit, and are range-checked exactly. */
static void exact_integer_writes(void **state)
{
	struct mb_format f = fmt("int64", "ABCDEFGH");
	struct gwd_value v = gwd_value_int((INT64_C(1) << 53) + 1);
	struct gwd_value u = {.type = GWD_V_UINT};
	uint16_t r[4];

	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x0020);
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], 0);
	assert_int_equal(r[3], 1);
	v = gwd_value_int(INT64_MIN);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x8000);
	assert_int_equal(r[3], 0);
	u.v.u = UINT64_C(1) << 63;
	assert_int_equal(mb_encode(&f, &u, r), -ERANGE);
	f = fmt("uint64", "ABCDEFGH");
	u.v.u = UINT64_MAX;
	assert_int_equal(mb_encode(&f, &u, r), 0);
	assert_int_equal(r[0], 0xffff);
	assert_int_equal(r[3], 0xffff);
	u.v.u = UINT64_MAX - 1;
	assert_int_equal(mb_encode(&f, &u, r), 0);
	assert_int_equal(r[3], 0xfffe);
	f = fmt("uint32", "ABCD");
	v = gwd_value_int(INT64_C(1) << 32);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	v = gwd_value_int(UINT32_MAX);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0xffff);
	f = fmt("int16", "ABCD");
	v = gwd_value_int(32768);
	assert_int_equal(mb_encode(&f, &v, r), -ERANGE);
	v = gwd_value_int(-32768);
	assert_int_equal(mb_encode(&f, &v, r), 0);
	assert_int_equal(r[0], 0x8000);
}

static void names(void **state)
{
	enum mb_table t;
	enum mb_type ty;
	bool b, w;

	assert_int_equal(mb_table_parse("input", &t), 0);
	assert_int_equal(t, MB_INPUT);
	assert_int_equal(mb_table_read_fc(t), 4);
	assert_int_equal(mb_table_parse("inputs", &t), -EINVAL);
	assert_int_equal(mb_type_parse("float", &ty), -EINVAL);
	assert_int_equal(mb_order_parse("ACBD", &b, &w), -EINVAL);
	assert_string_equal(mb_type_name(MB_T_BCD32), "bcd32");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(int16_types),  cmocka_unit_test(int32_orders),
		cmocka_unit_test(int64_orders), cmocka_unit_test(int8_halves),
		cmocka_unit_test(bits),         cmocka_unit_test(floats),
		cmocka_unit_test(fixed_point),  cmocka_unit_test(bcd),
		cmocka_unit_test(strings),      cmocka_unit_test(ranges_and_rounding),
		cmocka_unit_test(exact_integer_writes),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
