/* SenML JSON (110): exact encoder output, decoding with types from lookup,
 * and rejection of malformed, oversized and deeply nested payloads. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/codec.h"

#include "codec_test.h"


static void expect_json(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			const char *expect)
{
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, base, recs, n, &b), 0);
	if (b.len != strlen(expect) || memcmp(b.data, expect, b.len) != 0)
		fail_msg("got  %.*s\nwant %s", (int)b.len, (const char *)b.data, expect);
	lwm_buf_free(&b);
}

/* Types of the resources used below; resource id = type elsewhere. */
static enum lwm_type test_type(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3);
	if (p->id[0] == 3303) {
		switch (p->id[2]) {
		case 5700:
			return LWM_T_FLOAT;
		case 5701:
			return LWM_T_STRING;
		case 5750:
			return LWM_T_STRING;
		default:
			return LWM_T_NONE;
		}
	}
	if (p->id[0] == 9 && p->id[2] <= LWM_T_CORELNK)
		return (enum lwm_type)p->id[2];
	return LWM_T_NONE;
}

static int dec(const struct lwm_path *base, const char *json, struct lwm_record *recs,
	       size_t max, size_t *n, struct lwm_buf *scratch)
{
	/* exact-size heap copy, no NUL: ASan sees any read past the end */
	size_t len = strlen(json);
	char *c = malloc(len ? len : 1);
	int r;

	assert_non_null(c);
	memcpy(c, json, len);
	r = lwm_decode_ex(LWM_FMT_SENML_JSON, base, (const uint8_t *)c, len, test_type, NULL,
			  recs, max, n, scratch);
	free(c);
	return r;
}

static void test_encode_instance(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[2] = {rec(P3(3303, 0, 5700), LWM_T_FLOAT),
				  str(P3(3303, 0, 5701), LWM_T_STRING, "Cel", 3)};

	r[0].value.v.f = 21.5;
	expect_json(&inst, r, 2,
		    "[{\"bn\":\"/3303/0/\",\"n\":\"5700\",\"v\":21.5},{\"n\":\"5701\",\"vs\":\"Cel\"}]");
	/* a resource base still names relative to its instance */
	struct lwm_path res = P3(3303, 0, 5700);
	expect_json(&res, r, 1, "[{\"bn\":\"/3303/0/\",\"n\":\"5700\",\"v\":21.5}]");
	/* object base */
	struct lwm_path obj = lwm_path_make(1, 3303, 0, 0, 0);
	expect_json(&obj, r, 2,
		    "[{\"bn\":\"/3303/\",\"n\":\"0/5700\",\"v\":21.5},{\"n\":\"0/5701\",\"vs\":\"Cel\"}]");
	/* root (composite) */
	expect_json(&root, r, 1, "[{\"bn\":\"/\",\"n\":\"3303/0/5700\",\"v\":21.5}]");
	/* nothing */
	expect_json(&inst, r, 0, "[]");
}

static void test_encode_multiple_resource(void **state)
{
	struct lwm_path res = P3(3, 0, 11);
	struct lwm_path ri = P4(3, 0, 11, 1);
	struct lwm_record r[2] = {rec(P4(3, 0, 11, 0), LWM_T_INTEGER),
				  rec(P4(3, 0, 11, 1), LWM_T_INTEGER)};

	r[0].value.v.i = 0;
	r[1].value.v.i = 8;
	expect_json(&res, r, 2,
		    "[{\"bn\":\"/3/0/\",\"n\":\"11/0\",\"v\":0},{\"n\":\"11/1\",\"v\":8}]");
	expect_json(&ri, &r[1], 1, "[{\"bn\":\"/3/0/\",\"n\":\"11/1\",\"v\":8}]");
}

static void test_encode_values(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_record r;
	static const uint8_t bin[] = {0xfb, 0xff};
	static const uint8_t five[] = {1, 2, 3, 4, 5};

	r = rec(P3(9, 0, 1), LWM_T_INTEGER);
	r.value.v.i = INT64_MIN;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":-9223372036854775808}]");
	r = rec(P3(9, 0, 1), LWM_T_UNSIGNED);
	r.value.v.u = UINT64_MAX;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":18446744073709551615}]");
	r = rec(P3(9, 0, 1), LWM_T_TIME);
	r.value.v.i = 1700000000;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":1700000000}]");
	r = rec(P3(9, 0, 1), LWM_T_FLOAT);
	r.value.v.f = 0.1;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":0.1}]");
	r.value.v.f = -1e300;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":-1e+300}]");
	r = rec(P3(9, 0, 1), LWM_T_BOOLEAN);
	r.value.v.b = true;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vb\":true}]");
	r.value.v.b = false;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vb\":false}]");
	r = rec(P3(9, 0, 1), LWM_T_OBJLNK);
	r.value.v.lnk.oid = 65535;
	r.value.v.lnk.iid = 65535;
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vlo\":\"65535:65535\"}]");
	/* base64url, no padding: fb ff -> "-_8" */
	r = str(P3(9, 0, 1), LWM_T_OPAQUE, (const char *)bin, 2);
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vd\":\"-_8\"}]");
	r = str(P3(9, 0, 1), LWM_T_OPAQUE, (const char *)five, 5);
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vd\":\"AQIDBAU\"}]");
	r = str(P3(9, 0, 1), LWM_T_OPAQUE, "", 0);
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vd\":\"\"}]");
	r = str(P3(9, 0, 1), LWM_T_CORELNK, "</3/0>;ver=1.1", 14);
	expect_json(&inst, &r, 1, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vs\":\"</3/0>;ver=1.1\"}]");
}

static void test_encode_escapes(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	/* quote, backslash, newline, tab, CR, 0x01, 0x1f, NUL, DEL, then UTF-8 */
	static const char s[] = "a\"b\\c\nd\te\rf\x01g\x1fh\0i\x7f"
				"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/";
	struct lwm_record r = str(P3(9, 0, 1), LWM_T_STRING, s, sizeof(s) - 1);

	expect_json(&inst, &r, 1,
		    "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vs\":\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001fh"
		    "\\u0000i\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\"}]");

	/* and jansson reads it back to the same bytes */
	struct lwm_buf b, scratch;
	struct lwm_record got;
	size_t n;

	lwm_buf_init(&b, 0);
	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_senml_json_encode(&inst, &r, 1, &b), 0);
	/* NUL in a string is refused by the decoder: drop it from this check */
	r.value.v.bytes.len = 13;
	lwm_buf_reset(&b);
	assert_int_equal(lwm_senml_json_encode(&inst, &r, 1, &b), 0);
	assert_int_equal(lwm_senml_json_decode_ex(&inst, b.data, b.len, NULL, NULL, &got, 1, &n,
						  &scratch),
			 0);
	assert_int_equal(got.value.type, LWM_T_STRING);
	assert_int_equal(got.value.v.bytes.len, 13);
	assert_memory_equal(got.value.v.bytes.ptr, s, 13);
	lwm_buf_free(&b);
	lwm_buf_free(&scratch);
}

static void test_encode_rejects(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_buf b;
	struct lwm_record r;

	lwm_buf_init(&b, 0);
	r = rec(P3(9, 0, 1), LWM_T_FLOAT);
	r.value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	r.value.v.f = INFINITY;
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	r = str(P3(9, 0, 1), LWM_T_STRING, "\xff", 1);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	r = str(P3(9, 0, 1), LWM_T_STRING, "\xed\xbf\xbf", 3);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	r = rec(P3(9, 0, 1), LWM_T_NONE);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	r = rec(P3(8, 0, 1), LWM_T_BOOLEAN);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm_buf_free(&b);
	lwm_buf_init(&b, 10);
	r = rec(P3(9, 0, 1), LWM_T_BOOLEAN);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, &r, 1, &b), -E2BIG);
	lwm_buf_free(&b);
}

static void test_decode_basic(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n = 99;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(dec(&inst,
			     "[{\"bn\":\"/3303/0/\",\"n\":\"5700\",\"v\":21.5},"
			     "{\"n\":\"5701\",\"vs\":\"Cel\"}]",
			     r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 2);
	struct lwm_path p5700 = P3(3303, 0, 5700), p5701 = P3(3303, 0, 5701);
	assert_int_equal(lwm_path_cmp(&r[0].path, &p5700), 0);
	assert_int_equal(r[0].value.type, LWM_T_FLOAT);
	assert_true(r[0].value.v.f == 21.5);
	assert_int_equal(lwm_path_cmp(&r[1].path, &p5701), 0);
	assert_int_equal(r[1].value.type, LWM_T_STRING);
	assert_int_equal(r[1].value.v.bytes.len, 3);
	assert_memory_equal(r[1].value.v.bytes.ptr, "Cel", 3);

	/* an integral JSON number for a Float resource */
	assert_int_equal(dec(&inst, "[{\"bn\":\"/3303/0/5700\",\"v\":21}]", r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].value.type, LWM_T_FLOAT);
	assert_true(r[0].value.v.f == 21.0);

	/* no bn: full names; bn changes midway; key order does not matter */
	assert_int_equal(dec(&root,
			     "[{\"n\":\"/3303/0/5700\",\"v\":1.5},"
			     "{\"v\":2,\"n\":\"5700\",\"bn\":\"/3303/1/\"},"
			     "{\"n\":\"5701\",\"vs\":\"\"},"
			     "{\"bn\":\"/9/0/5/\",\"n\":\"3\",\"vb\":true}]",
			     r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].path.id[1], 0);
	assert_int_equal(r[1].path.id[1], 1);
	assert_true(r[1].value.v.f == 2.0);
	assert_int_equal(r[2].path.id[1], 1);
	assert_int_equal(r[2].path.id[2], 5701);
	assert_int_equal(r[2].value.v.bytes.len, 0);
	assert_int_equal(r[3].path.len, 4);
	assert_int_equal(r[3].path.id[3], 3);
	assert_int_equal(r[3].value.type, LWM_T_BOOLEAN);
	assert_true(r[3].value.v.b);
	lwm_buf_free(&scratch);
}

static void test_decode_types(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_record r[12];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(dec(&inst,
			     "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"vs\":\"caf\\u00e9 \\ud83d\\ude00\\n\"},"
			     "{\"n\":\"2\",\"v\":-9223372036854775808},"
			     "{\"n\":\"3\",\"v\":9223372036854775807},"
			     "{\"n\":\"4\",\"v\":-1.25e-3},"
			     "{\"n\":\"5\",\"vb\":false},"
			     "{\"n\":\"6\",\"vd\":\"-_8\"},"
			     "{\"n\":\"7\",\"v\":1.7e9},"
			     "{\"n\":\"8\",\"vlo\":\"3:65535\"},"
			     "{\"n\":\"9\",\"vs\":\"</1>\"}]",
			     r, 12, &n, &scratch),
			 0);
	assert_int_equal(n, 9);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_int_equal(r[0].value.v.bytes.len, 11);
	assert_memory_equal(r[0].value.v.bytes.ptr, "caf\xc3\xa9 \xf0\x9f\x98\x80\n", 11);
	assert_int_equal(r[1].value.type, LWM_T_INTEGER);
	assert_true(r[1].value.v.i == INT64_MIN);
	assert_int_equal(r[2].value.type, LWM_T_UNSIGNED);
	assert_true(r[2].value.v.u == (uint64_t)INT64_MAX);
	assert_int_equal(r[3].value.type, LWM_T_FLOAT);
	assert_true(r[3].value.v.f == -1.25e-3);
	assert_int_equal(r[4].value.type, LWM_T_BOOLEAN);
	assert_false(r[4].value.v.b);
	assert_int_equal(r[5].value.type, LWM_T_OPAQUE);
	assert_int_equal(r[5].value.v.bytes.len, 2);
	assert_memory_equal(r[5].value.v.bytes.ptr, "\xfb\xff", 2);
	assert_int_equal(r[6].value.type, LWM_T_TIME);
	assert_int_equal(r[6].value.v.i, 1700000000);
	assert_int_equal(r[7].value.type, LWM_T_OBJLNK);
	assert_int_equal(r[7].value.v.lnk.oid, 3);
	assert_int_equal(r[7].value.v.lnk.iid, 65535);
	assert_int_equal(r[8].value.type, LWM_T_CORELNK);
	/* every byte value lives in scratch, which did not move */
	assert_true(r[0].value.v.bytes.ptr >= scratch.data &&
		    r[8].value.v.bytes.ptr + 4 <= scratch.data + scratch.len);
	assert_memory_equal(r[8].value.v.bytes.ptr, "</1>", 4);

	/* without lookup the value key decides */
	static const char nolookup[] = "[{\"n\":\"/1/2/3\",\"v\":5},{\"n\":\"/1/2/4\",\"v\":5.5},"
				       "{\"n\":\"/1/2/5\",\"vd\":\"AA\"}]";
	assert_int_equal(lwm_senml_json_decode_ex(&root, (const uint8_t *)nolookup,
						  sizeof(nolookup) - 1, NULL, NULL, r, 12, &n,
						  &scratch),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].value.type, LWM_T_INTEGER);
	assert_int_equal(r[1].value.type, LWM_T_FLOAT);
	assert_int_equal(r[2].value.type, LWM_T_OPAQUE);
	assert_int_equal(r[2].value.v.bytes.len, 1);
	lwm_buf_free(&scratch);
}

static void test_decode_coercion_errors(void **state)
{
	static const char *const bad[] = {
		"[{\"n\":\"/9/0/2\",\"v\":1.5}]",                  /* Integer, not integral */
		"[{\"n\":\"/9/0/2\",\"v\":1e19}]",                 /* Integer, out of range */
		"[{\"n\":\"/9/0/2\",\"v\":-9.3e18}]",
		"[{\"n\":\"/9/0/3\",\"v\":-1}]",                   /* Unsigned, negative */
		"[{\"n\":\"/9/0/3\",\"v\":-0.5}]",
		"[{\"n\":\"/9/0/3\",\"v\":2e19}]",
		"[{\"n\":\"/9/0/7\",\"v\":0.5}]",                  /* Time */
		"[{\"n\":\"/9/0/5\",\"v\":1}]",                    /* Boolean as a number */
		"[{\"n\":\"/9/0/5\",\"vs\":\"true\"}]",
		"[{\"n\":\"/9/0/2\",\"vs\":\"12\"}]",              /* Integer as a string */
		"[{\"n\":\"/9/0/4\",\"vb\":true}]",
		"[{\"n\":\"/9/0/1\",\"vd\":\"AA\"}]",              /* String as opaque */
		"[{\"n\":\"/9/0/6\",\"vs\":\"AA\"}]",              /* Opaque as a string */
		"[{\"n\":\"/9/0/8\",\"vs\":\"3:0\"}]",             /* Objlnk as a string */
		"[{\"n\":\"/9/0/1\",\"vlo\":\"3:0\"}]",
	};
	struct lwm_record r[2];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = dec(&root, bad[i], r, 2, &n, &scratch);

		if (got != -EINVAL)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	/* the exact limits are accepted */
	assert_int_equal(dec(&root, "[{\"n\":\"/9/0/2\",\"v\":-9.2233720368547758e18}]", r, 2, &n,
			     &scratch),
			 0);
	assert_true(r[0].value.v.i == INT64_MIN);
	assert_int_equal(dec(&root, "[{\"n\":\"/9/0/3\",\"v\":1.8e19}]", r, 2, &n, &scratch), 0);
	assert_true(r[0].value.v.u == 18000000000000000000u);
	assert_int_equal(dec(&root, "[{\"n\":\"/9/0/2\",\"v\":-3.0}]", r, 2, &n, &scratch), 0);
	assert_true(r[0].value.v.i == -3);
	lwm_buf_free(&scratch);
}

static void test_decode_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"{\"bn\":\"/3303/0/\",\"n\":\"5700\",\"v\":1}",     /* not an array */
		"\"x\"",
		"5",
		"[1]",                                                 /* not an object */
		"[[]]",
		"[{\"bn\":\"/3303/x/\",\"n\":\"5700\",\"v\":1}]",  /* bad bn */
		"[{\"bn\":\"3303/0/\",\"n\":\"5700\",\"v\":1}]",
		"[{\"bn\":5,\"n\":\"5700\",\"v\":1}]",
		"[{\"bn\":\"/3303/0/\",\"n\":\"5700/\",\"v\":1}]", /* bad n */
		"[{\"bn\":\"/3303/0/\",\"n\":\"\",\"v\":1}]",
		"[{\"bn\":\"/3303/0/\",\"n\":5700,\"v\":1}]",
		"[{\"n\":\"/3303/0/65535\",\"v\":1}]",
		"[{\"n\":\"/3303/0/5700/0/1\",\"v\":1}]",
		"[{\"n\":\"/3303/0\",\"v\":1}]",                     /* not a resource */
		"[{\"v\":1}]",                                         /* no name */
		"[{\"n\":\"/3303/1/5700\",\"v\":1}]",                /* outside base */
		"[{\"n\":\"/3303/0/5700\",\"n\":\"/3303/0/5701\",\"v\":1}]", /* duplicate key */
		"[{\"n\":\"/3303/0/5700\",\"v\":1,\"v\":2}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":1,\"vs\":\"a\"}]", /* two values */
		"[{\"n\":\"/3303/0/5700\"}]",                        /* no value */
		"[{\"n\":\"/3303/0/5700\",\"v\":\"21\"}]",          /* wrong JSON types */
		"[{\"n\":\"/3303/0/5701\",\"vs\":5}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":null}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":[1]}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":{\"a\":1}}]",
		"[{\"n\":\"/3303/0/5700\",\"vb\":1}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":1,\"t\":\"now\"}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":1,\"bv\":1}]",     /* base value unsupported */
		"[{\"n\":\"/3303/0/5700\",\"v\":1,\"x_\":1}]",     /* must-understand key */
		"[{\"n\":\"/3303/0/5700\",\"v\":1},{\"n\":\"/3303/0/5700\",\"v\":2}]", /* dup path */
		"[{\"n\":\"/3303/0/5700\",\"v\":1}] x",            /* trailing garbage */
		"[{\"n\":\"/3303/0/5700\",\"v\":1}",                /* truncated */
		"[{\"n\":\"/3303/0/5700\",\"v\":1},]",
		"[{\"n\":\"/3303/0/5700\",\"v\":01}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":NaN}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":1e999}]",
		"[{\"n\":\"/3303/0/5700\",\"v\":99999999999999999999}]",
		"[{\"n\":\"/3303/0/5701\",\"vs\":\"\xff\"}]",       /* invalid UTF-8 */
		"[{\"n\":\"/3303/0/5701\",\"vs\":\"a\\u0000b\"}]", /* NUL */
		"[{\"n\":\"/3303/0/5701\",\"vs\":\"\\ud800\"}]",   /* lone surrogate */
		"[{\"n\":\"/9/0/6\",\"vd\":\"AQID+A\"}]",            /* base64, not base64url */
		"[{\"n\":\"/9/0/6\",\"vd\":\"A\"}]",
		"[{\"n\":\"/9/0/6\",\"vd\":\"AB\"}]",                /* trailing bits */
		"[{\"n\":\"/9/0/6\",\"vd\":\"AA=\"}]",
		"[{\"n\":\"/9/0/8\",\"vlo\":\"3\"}]",
		"[{\"n\":\"/9/0/8\",\"vlo\":\"3:70000\"}]",
		"[{\"n\":\"/9/0/8\",\"vlo\":\"-1:0\"}]",
		"\xef\xbb\xbf[]",                                      /* BOM */
	};
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct lwm_path *base = strstr(bad[i], "/9/0/") ? &root : &inst;
		int got = dec(base, bad[i], r, 4, &n, &scratch);

		if (got != -EBADMSG)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	/* unknown keys without '_' are ignored; t, bt, u, bver checked and ignored */
	assert_int_equal(dec(&inst,
			     "[{\"bver\":10,\"bt\":1.5,\"n\":\"/3303/0/5700\",\"v\":1,\"t\":-5,"
			     "\"u\":\"Cel\",\"foo\":[1,{\"x\":2}]}]",
			     r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 1);
	/* an empty array is an empty write */
	assert_int_equal(dec(&inst, " [ ] ", r, 4, &n, &scratch), 0);
	assert_int_equal(n, 0);
	lwm_buf_free(&scratch);
}

/* A NUL byte is never JSON: not after a number (issue 16, item 9: jansson
 * read [{"n":"/1/0/1","v":42<NUL>}] as 42), nor anywhere else. */
static void test_decode_nul_bytes(void **state)
{
	static const struct {
		const char *json;
		size_t len;
	} bad[] = {
#define NUL_CASE(s) {s, sizeof(s) - 1}
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":42\0}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":4\0002}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":42.5\0}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":1e3\0}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":true\0}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"v\":42}]\0"),
		NUL_CASE("\0[{\"n\":\"/1/0/1\",\"v\":42}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\0\"v\":42}]"),
		NUL_CASE("[{\"n\":\"/1/0/1\",\"vs\":\"a\0b\"}]"),
#undef NUL_CASE
	};
	struct lwm_record r[4];
	struct lwm_buf scratch;
	struct lwm_path paths[4];
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* exact-size heap copy: nothing after the payload */
		uint8_t *c = malloc(bad[i].len);
		int got;

		assert_non_null(c);
		memcpy(c, bad[i].json, bad[i].len);
		got = lwm_decode_ex(LWM_FMT_SENML_JSON, &root, c, bad[i].len, NULL, NULL, r, 4,
				    &n, &scratch);
		if (got != -EBADMSG)
			fail_msg("case %zu: got %d", i, got);
		assert_int_equal(n, 0);
		got = lwm_senml_paths_decode(LWM_FMT_SENML_JSON, c, bad[i].len, paths, 4, &n);
		if (got != -EBADMSG)
			fail_msg("paths, case %zu: got %d", i, got);
		assert_int_equal(n, 0);
		free(c);
		lwm_buf_reset(&scratch);
	}
	lwm_buf_free(&scratch);
}

static void test_decode_limits(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;
	char *big;

	lwm_buf_init(&scratch, 0);
	/* more records than room */
	assert_int_equal(dec(&inst,
			     "[{\"n\":\"/3303/0/5700\",\"v\":1},{\"n\":\"/3303/0/5701\",\"vs\":\"a\"},"
			     "{\"n\":\"/3303/0/5702\",\"v\":1}]",
			     r, 2, &n, &scratch),
			 -E2BIG);
	assert_int_equal(n, 0);
	/* deep nesting, even where ignored */
	assert_int_equal(dec(&inst, "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", r, 4, &n, &scratch),
			 -E2BIG);
	assert_int_equal(dec(&inst,
			     "[{\"n\":\"/3303/0/5700\",\"v\":1,\"foo\":[[[[[[[[[[1]]]]]]]]]]}]", r,
			     4, &n, &scratch),
			 -E2BIG);
	/* brackets inside strings do not count */
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"[[[[[[[[[[[[\\\"[[[[\"}]", r,
			     4, &n, &scratch),
			 0);
	assert_int_equal(r[0].value.v.bytes.len, 17);

	/* over 64 KiB, even when well-formed */
	size_t len = 70000;
	big = malloc(len + 1);
	assert_non_null(big);
	int k = snprintf(big, len + 1, "[{\"n\":\"/3303/0/5701\",\"vs\":\"");
	memset(big + k, 'a', len - (size_t)k - 3);
	memcpy(big + len - 3, "\"}]", 4);
	assert_int_equal(dec(&inst, big, r, 4, &n, &scratch), -E2BIG);
	/* just under the limit is fine */
	big[65536 - 3] = '\0';
	memcpy(big + 65536 - 3, "\"}]", 4);
	assert_int_equal(dec(&inst, big, r, 4, &n, &scratch), 0);
	assert_int_equal(r[0].value.v.bytes.len, 65536 - 3 - (size_t)k);
	free(big);

	/* no scratch: fine without string values, -ENOBUFS with them */
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5700\",\"v\":1}]", r, 4, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"\"}]", r, 4, &n, NULL), 0);
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"a\"}]", r, 4, &n, NULL),
			 -ENOBUFS);
	static const char one[] = "[{\"n\":\"/3303/0/5701\",\"vs\":\"a\"}]";
	assert_int_equal(lwm_decode(LWM_FMT_SENML_JSON, &inst, (const uint8_t *)one,
				    sizeof(one) - 1, test_type, NULL, r, 4, &n),
			 -ENOBUFS);
	/* scratch's own limit */
	lwm_buf_free(&scratch);
	lwm_buf_init(&scratch, 3);
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"abcd\"}]", r, 4, &n,
			     &scratch),
			 -E2BIG);
	lwm_buf_reset(&scratch); /* its error is sticky */
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"abc\"}]", r, 4, &n,
			     &scratch),
			 0);
	lwm_buf_free(&scratch);
}

/* Scratch keeps earlier bytes and hands out pointers that stay valid. */
static void test_scratch_appends(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record a, b2[2];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_buf_append(&scratch, "keep", 4), 0);
	assert_int_equal(dec(&inst, "[{\"n\":\"/3303/0/5701\",\"vs\":\"first\"}]", &a, 1, &n,
			     &scratch),
			 0);
	assert_memory_equal(scratch.data, "keep", 4);
	assert_memory_equal(a.value.v.bytes.ptr, "first", 5);
	assert_int_equal(dec(&inst,
			     "[{\"n\":\"/3303/0/5701\",\"vs\":\"second\"},"
			     "{\"n\":\"/3303/0/5750\",\"vs\":\"third\"}]",
			     b2, 2, &n, &scratch),
			 0);
	assert_memory_equal(scratch.data, "keepfirst", 9);
	assert_memory_equal(b2[0].value.v.bytes.ptr, "second", 6);
	assert_memory_equal(b2[1].value.v.bytes.ptr, "third", 5);
	lwm_buf_free(&scratch);
}

/* Every type: encode, then decode with and without the resource types. */
static void test_round_trip(void **state)
{
	static const uint8_t bin[] = {0, 1, 2, 0xfe, 0xff, 0x80, 0x3e, 0x3f};
	struct lwm_path inst = lwm_path_make(2, 9, 4, 0, 0);
	struct lwm_record in[12], got[12];
	struct lwm_buf b, scratch;
	size_t n = 0, cnt;

	in[n] = str(P3(9, 4, LWM_T_STRING), LWM_T_STRING, "x \"\\\x1f\xc3\xa9", 7);
	n++;
	in[n] = rec(P3(9, 4, LWM_T_INTEGER), LWM_T_INTEGER);
	in[n++].value.v.i = INT64_MIN;
	in[n] = rec(P3(9, 4, LWM_T_UNSIGNED), LWM_T_UNSIGNED);
	in[n++].value.v.u = INT64_MAX;
	in[n] = rec(P3(9, 4, LWM_T_FLOAT), LWM_T_FLOAT);
	in[n++].value.v.f = 1.0 / 3.0;
	in[n] = rec(P3(9, 4, LWM_T_BOOLEAN), LWM_T_BOOLEAN);
	in[n++].value.v.b = true;
	in[n] = str(P3(9, 4, LWM_T_OPAQUE), LWM_T_OPAQUE, (const char *)bin, sizeof(bin));
	n++;
	in[n] = rec(P3(9, 4, LWM_T_TIME), LWM_T_TIME);
	in[n++].value.v.i = -86400;
	in[n] = rec(P4(9, 4, LWM_T_OBJLNK, 0), LWM_T_OBJLNK);
	in[n].value.v.lnk.oid = 3, in[n++].value.v.lnk.iid = 0;
	in[n] = rec(P4(9, 4, LWM_T_OBJLNK, 7), LWM_T_OBJLNK);
	in[n].value.v.lnk.oid = 65535, in[n++].value.v.lnk.iid = 65535;
	in[n] = str(P3(9, 4, LWM_T_CORELNK), LWM_T_CORELNK, "</3>", 4);
	n++;

	lwm_buf_init(&b, 0);
	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_JSON, &inst, in, n, &b), 0);
	assert_int_equal(lwm_decode_ex(LWM_FMT_SENML_JSON, &inst, b.data, b.len, test_type, NULL,
				       got, 12, &cnt, &scratch),
			 0);
	assert_int_equal(cnt, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(lwm_path_cmp(&got[i].path, &in[i].path), 0);
		assert_int_equal(got[i].value.type, in[i].value.type);
		switch (in[i].value.type) {
		case LWM_T_STRING:
		case LWM_T_OPAQUE:
		case LWM_T_CORELNK:
			assert_int_equal(got[i].value.v.bytes.len, in[i].value.v.bytes.len);
			assert_memory_equal(got[i].value.v.bytes.ptr, in[i].value.v.bytes.ptr,
					    in[i].value.v.bytes.len);
			break;
		case LWM_T_FLOAT:
			assert_memory_equal(&got[i].value.v.f, &in[i].value.v.f, sizeof(double));
			break;
		case LWM_T_BOOLEAN:
			assert_true(got[i].value.v.b == in[i].value.v.b);
			break;
		case LWM_T_OBJLNK:
			assert_int_equal(got[i].value.v.lnk.oid, in[i].value.v.lnk.oid);
			assert_int_equal(got[i].value.v.lnk.iid, in[i].value.v.lnk.iid);
			break;
		default:
			assert_true(got[i].value.v.u == in[i].value.v.u);
			break;
		}
	}
	lwm_buf_free(&b);
	lwm_buf_free(&scratch);
}

static void test_truncated_and_garbage(void **state)
{
	static const char doc[] =
		"[{\"bn\":\"/3303/0/\",\"n\":\"5700\",\"v\":21.5},{\"n\":\"5701\",\"vs\":\"C\\u00e9l\"}]";
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;
	uint32_t x = 7;

	lwm_buf_init(&scratch, 0);
	for (size_t len = 0; len < sizeof(doc) - 1; len++) {
		char *c = malloc(len + 1);

		memcpy(c, doc, len);
		assert_int_equal(lwm_senml_json_decode_ex(&inst, (const uint8_t *)c, len, test_type,
							  NULL, r, 4, &n, &scratch),
				 -EBADMSG);
		free(c);
		lwm_buf_reset(&scratch);
	}
	for (int iter = 0; iter < 20000; iter++) {
		char m[sizeof(doc) - 1];

		memcpy(m, doc, sizeof(m));
		for (int k = 0; k < 2; k++) {
			x = x * 1103515245 + 12345;
			m[(x >> 16) % sizeof(m)] = (char)(x >> 8);
		}
		(void)lwm_senml_json_decode_ex(&inst, (const uint8_t *)m, sizeof(m), test_type,
					       NULL, r, 4, &n, &scratch);
		lwm_buf_reset(&scratch);
	}
	lwm_buf_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_instance),
		cmocka_unit_test(test_encode_multiple_resource),
		cmocka_unit_test(test_encode_values),
		cmocka_unit_test(test_encode_escapes),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_decode_basic),
		cmocka_unit_test(test_decode_types),
		cmocka_unit_test(test_decode_coercion_errors),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_nul_bytes),
		cmocka_unit_test(test_decode_limits),
		cmocka_unit_test(test_scratch_appends),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
