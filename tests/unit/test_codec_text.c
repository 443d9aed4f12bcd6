/* text/plain and application/octet-stream: one resource value. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/codec.h"

static const struct lwm_path res = {{3303, 0, 5700, 0}, 3};

static struct lwm_record rec_of(enum lwm_type t)
{
	struct lwm_record r;

	memset(&r, 0, sizeof(r));
	r.path = res;
	r.value.type = t;
	return r;
}

/* Encodes rec and compares the payload with expect. */
static void enc(const struct lwm_record *rec, const char *expect)
{
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_text_encode(rec, &b), 0);
	assert_int_equal(b.len, strlen(expect));
	assert_memory_equal(b.data, expect, b.len);
	lwm_buf_free(&b);
}

static int dec(const char *s, enum lwm_type t, struct lwm_record *out)
{
	return lwm_text_decode(&res, (const uint8_t *)s, strlen(s), t, out);
}

static void test_encode_each_type(void **state)
{
	struct lwm_record r;
	static const uint8_t five[] = {1, 2, 3, 4, 5};

	r = rec_of(LWM_T_INTEGER);
	r.value.v.i = -42;
	enc(&r, "-42");
	r.value.v.i = INT64_MIN;
	enc(&r, "-9223372036854775808");
	r.value.v.i = INT64_MAX;
	enc(&r, "9223372036854775807");
	r = rec_of(LWM_T_UNSIGNED);
	r.value.v.u = UINT64_MAX;
	enc(&r, "18446744073709551615");
	r = rec_of(LWM_T_FLOAT);
	r.value.v.f = 21.5;
	enc(&r, "21.5");
	r.value.v.f = 0.1;
	enc(&r, "0.1");
	r.value.v.f = -1e-300;
	enc(&r, "-1e-300");
	r = rec_of(LWM_T_BOOLEAN);
	r.value.v.b = true;
	enc(&r, "1");
	r.value.v.b = false;
	enc(&r, "0");
	r = rec_of(LWM_T_TIME);
	r.value.v.i = 1367491215;
	enc(&r, "1367491215");
	r = rec_of(LWM_T_OBJLNK);
	r.value.v.lnk.oid = 3;
	r.value.v.lnk.iid = 0;
	enc(&r, "3:0");
	r.value.v.lnk.oid = 65535;
	r.value.v.lnk.iid = 65535;
	enc(&r, "65535:65535");
	r = rec_of(LWM_T_STRING);
	r.value.v.bytes.ptr = (const uint8_t *)"Cel \xc2\xb0";
	r.value.v.bytes.len = 6;
	enc(&r, "Cel \xc2\xb0");
	r.value.v.bytes.len = 0;
	enc(&r, "");
	r = rec_of(LWM_T_CORELNK);
	r.value.v.bytes.ptr = (const uint8_t *)"</3/0>";
	r.value.v.bytes.len = 6;
	enc(&r, "</3/0>");
	/* The TS's own example: {1,2,3,4,5} is "AQIDBAU=" */
	r = rec_of(LWM_T_OPAQUE);
	r.value.v.bytes.ptr = five;
	r.value.v.bytes.len = 5;
	enc(&r, "AQIDBAU=");
	r.value.v.bytes.len = 4;
	enc(&r, "AQIDBA==");
	r.value.v.bytes.len = 3;
	enc(&r, "AQID");
}

static void test_encode_rejects(void **state)
{
	struct lwm_buf b;
	struct lwm_record r;

	lwm_buf_init(&b, 0);
	r = rec_of(LWM_T_NONE);
	assert_int_equal(lwm_text_encode(&r, &b), -EINVAL);
	r = rec_of(LWM_T_FLOAT);
	r.value.v.f = NAN;
	assert_int_equal(lwm_text_encode(&r, &b), -EINVAL);
	r.value.v.f = -INFINITY;
	assert_int_equal(lwm_text_encode(&r, &b), -EINVAL);
	/* text that is not UTF-8 is never sent (issue 16, item 15) */
	r = rec_of(LWM_T_STRING);
	r.value.v.bytes.ptr = (const uint8_t *)"a\xff";
	r.value.v.bytes.len = 2;
	assert_int_equal(lwm_text_encode(&r, &b), -EINVAL);
	r.value.type = LWM_T_CORELNK;
	assert_int_equal(lwm_text_encode(&r, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm_buf_free(&b);
}

static void test_decode_each_type(void **state)
{
	struct lwm_record r;

	assert_int_equal(dec("-42", LWM_T_INTEGER, &r), 0);
	assert_int_equal(r.value.type, LWM_T_INTEGER);
	assert_int_equal(r.value.v.i, -42);
	assert_int_equal(lwm_path_cmp(&r.path, &res), 0);
	assert_int_equal(dec("-9223372036854775808", LWM_T_INTEGER, &r), 0);
	assert_true(r.value.v.i == INT64_MIN);
	assert_int_equal(dec("9223372036854775807", LWM_T_INTEGER, &r), 0);
	assert_true(r.value.v.i == INT64_MAX);
	assert_int_equal(dec("007", LWM_T_INTEGER, &r), 0);
	assert_int_equal(r.value.v.i, 7);
	assert_int_equal(dec("18446744073709551615", LWM_T_UNSIGNED, &r), 0);
	assert_int_equal(r.value.type, LWM_T_UNSIGNED);
	assert_true(r.value.v.u == UINT64_MAX);
	assert_int_equal(dec("21.5", LWM_T_FLOAT, &r), 0);
	assert_int_equal(r.value.type, LWM_T_FLOAT);
	assert_true(r.value.v.f == 21.5);
	assert_int_equal(dec("-1.5e3", LWM_T_FLOAT, &r), 0);
	assert_true(r.value.v.f == -1500.0);
	assert_int_equal(dec("7", LWM_T_FLOAT, &r), 0);
	assert_true(r.value.v.f == 7.0);
	assert_int_equal(dec(".5", LWM_T_FLOAT, &r), 0);
	assert_true(r.value.v.f == 0.5);
	assert_int_equal(dec("1", LWM_T_BOOLEAN, &r), 0);
	assert_int_equal(r.value.type, LWM_T_BOOLEAN);
	assert_true(r.value.v.b);
	assert_int_equal(dec("0", LWM_T_BOOLEAN, &r), 0);
	assert_false(r.value.v.b);
	assert_int_equal(dec("1367491215", LWM_T_TIME, &r), 0);
	assert_int_equal(r.value.type, LWM_T_TIME);
	assert_int_equal(r.value.v.i, 1367491215);
	assert_int_equal(dec("3:0", LWM_T_OBJLNK, &r), 0);
	assert_int_equal(r.value.type, LWM_T_OBJLNK);
	assert_int_equal(r.value.v.lnk.oid, 3);
	assert_int_equal(r.value.v.lnk.iid, 0);
	assert_int_equal(dec("65535:65535", LWM_T_OBJLNK, &r), 0);
	assert_int_equal(r.value.v.lnk.oid, 65535);
	assert_int_equal(r.value.v.lnk.iid, 65535);

	const char *s = "h\xc3\xa9llo";
	assert_int_equal(dec(s, LWM_T_STRING, &r), 0);
	assert_int_equal(r.value.type, LWM_T_STRING);
	assert_ptr_equal(r.value.v.bytes.ptr, s); /* borrowed from the payload */
	assert_int_equal(r.value.v.bytes.len, 6);
	assert_int_equal(dec("", LWM_T_STRING, &r), 0);
	assert_int_equal(r.value.v.bytes.len, 0);
	assert_int_equal(dec("</1/0>", LWM_T_CORELNK, &r), 0);
	assert_int_equal(r.value.type, LWM_T_CORELNK);

	/* unknown resource: raw bytes, typed opaque, for the caller to reject */
	assert_int_equal(dec("xyz", LWM_T_NONE, &r), 0);
	assert_int_equal(r.value.type, LWM_T_OPAQUE);
	assert_int_equal(r.value.v.bytes.len, 3);
}

static void test_decode_malformed(void **state)
{
	static const struct {
		const char *s;
		enum lwm_type t;
		int err;
	} bad[] = {
		{"12abc", LWM_T_INTEGER, -EBADMSG},
		{"", LWM_T_INTEGER, -EBADMSG},
		{" 12", LWM_T_INTEGER, -EBADMSG},
		{"12 ", LWM_T_INTEGER, -EBADMSG},
		{"+12", LWM_T_INTEGER, -EBADMSG},
		{"-", LWM_T_INTEGER, -EBADMSG},
		{"--1", LWM_T_INTEGER, -EBADMSG},
		{"1.0", LWM_T_INTEGER, -EBADMSG},
		{"0x10", LWM_T_INTEGER, -EBADMSG},
		{"9223372036854775808", LWM_T_INTEGER, -EINVAL},
		{"-9223372036854775809", LWM_T_INTEGER, -EINVAL},
		{"99999999999999999999999x", LWM_T_INTEGER, -EBADMSG},
		{"1e3", LWM_T_TIME, -EBADMSG},
		{"-1", LWM_T_UNSIGNED, -EBADMSG},
		{"18446744073709551616", LWM_T_UNSIGNED, -EINVAL},
		{"", LWM_T_FLOAT, -EBADMSG},
		{"inf", LWM_T_FLOAT, -EBADMSG},
		{"nan", LWM_T_FLOAT, -EBADMSG},
		{"-infinity", LWM_T_FLOAT, -EBADMSG},
		{"0x1p3", LWM_T_FLOAT, -EBADMSG},
		{"1e", LWM_T_FLOAT, -EBADMSG},
		{"1e+", LWM_T_FLOAT, -EBADMSG},
		{".", LWM_T_FLOAT, -EBADMSG},
		{"1.2.3", LWM_T_FLOAT, -EBADMSG},
		{"21.5 ", LWM_T_FLOAT, -EBADMSG},
		{"1,5", LWM_T_FLOAT, -EBADMSG},
		{"1e400", LWM_T_FLOAT, -EINVAL},
		{"2", LWM_T_BOOLEAN, -EINVAL},
		{"true", LWM_T_BOOLEAN, -EINVAL},
		{"", LWM_T_BOOLEAN, -EINVAL},
		{"01", LWM_T_BOOLEAN, -EINVAL},
		{"3", LWM_T_OBJLNK, -EBADMSG},
		{"3:", LWM_T_OBJLNK, -EBADMSG},
		{":0", LWM_T_OBJLNK, -EBADMSG},
		{"3:0:1", LWM_T_OBJLNK, -EBADMSG},
		{"3: 0", LWM_T_OBJLNK, -EBADMSG},
		{"-3:0", LWM_T_OBJLNK, -EBADMSG},
		{"65536:0", LWM_T_OBJLNK, -EINVAL},
		{"0:65536", LWM_T_OBJLNK, -EINVAL},
		{"\xff", LWM_T_STRING, -EINVAL},
		{"a\xc0\x80", LWM_T_STRING, -EINVAL},     /* overlong NUL */
		{"\xed\xa0\x80", LWM_T_STRING, -EINVAL},  /* surrogate */
		{"\xf4\x90\x80\x80", LWM_T_STRING, -EINVAL}, /* past U+10FFFF */
		{"\xe2\x82", LWM_T_STRING, -EINVAL},      /* truncated sequence */
		{"\x80", LWM_T_CORELNK, -EINVAL},
		{"AQID*", LWM_T_OPAQUE, -EBADMSG},
		{"A", LWM_T_OPAQUE, -EBADMSG},
		{"AQ=", LWM_T_OPAQUE, -EBADMSG},
		{"A===", LWM_T_OPAQUE, -EBADMSG},
		{"AR==", LWM_T_OPAQUE, -EBADMSG}, /* non-zero trailing bits */
		{"-_8", LWM_T_OPAQUE, -EBADMSG},  /* base64url alphabet */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lwm_record r;
		int got = dec(bad[i].s, bad[i].t, &r);

		if (got != bad[i].err)
			fail_msg("\"%s\" as %s: got %d, want %d", bad[i].s,
				 lwm_type_name(bad[i].t), got, bad[i].err);
	}
}

/* Numbers end where the payload ends: a NUL or anything else after them
 * is refused, never read up to (the class of issue 16, item 9). */
static void test_decode_nul_and_trailing(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		enum lwm_type t;
	} bad[] = {
		{"42\0", 3, LWM_T_INTEGER},   {"42\0" "1", 4, LWM_T_INTEGER},
		{"\0" "42", 3, LWM_T_INTEGER}, {"42\0", 3, LWM_T_UNSIGNED},
		{"42\0", 3, LWM_T_TIME},      {"4.5\0", 4, LWM_T_FLOAT},
		{"4.5e1\0", 6, LWM_T_FLOAT},  {"4.5 ", 4, LWM_T_FLOAT},
		{"1\0", 2, LWM_T_BOOLEAN},    {"3:0\0", 4, LWM_T_OBJLNK},
		{"3\0:0", 4, LWM_T_OBJLNK},   {"AA==\0", 5, LWM_T_OPAQUE},
	};
	struct lwm_record r;
	struct lwm_buf scratch;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *c = malloc(bad[i].len);
		int got;

		assert_non_null(c);
		memcpy(c, bad[i].s, bad[i].len);
		got = lwm_text_decode_ex(&res, c, bad[i].len, bad[i].t, &r, &scratch);
		free(c);
		if (got != -EBADMSG && got != -EINVAL)
			fail_msg("case %zu: got %d", i, got);
	}
	lwm_buf_free(&scratch);
}

static void test_opaque_scratch(void **state)
{
	struct lwm_buf scratch;
	struct lwm_record r;
	const char *s = "AQIDBAU=";

	/* base64 output cannot borrow from the payload: scratch is needed */
	assert_int_equal(dec(s, LWM_T_OPAQUE, &r), -ENOBUFS);
	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_text_decode_ex(&res, (const uint8_t *)s, 8, LWM_T_OPAQUE, &r,
					    &scratch),
			 0);
	assert_int_equal(r.value.type, LWM_T_OPAQUE);
	assert_int_equal(r.value.v.bytes.len, 5);
	assert_memory_equal(r.value.v.bytes.ptr, "\1\2\3\4\5", 5);
	assert_ptr_equal(r.value.v.bytes.ptr, scratch.data);
	/* unpadded is accepted too */
	assert_int_equal(lwm_text_decode_ex(&res, (const uint8_t *)"AQIDBAU", 7, LWM_T_OPAQUE,
					    &r, &scratch),
			 0);
	assert_int_equal(r.value.v.bytes.len, 5);
	assert_memory_equal(r.value.v.bytes.ptr, "\1\2\3\4\5", 5);
	/* empty needs no scratch */
	assert_int_equal(dec("", LWM_T_OPAQUE, &r), 0);
	assert_int_equal(r.value.v.bytes.len, 0);
	lwm_buf_free(&scratch);

	/* a scratch limit bounds the expansion */
	lwm_buf_init(&scratch, 4);
	assert_int_equal(lwm_text_decode_ex(&res, (const uint8_t *)s, 8, LWM_T_OPAQUE, &r,
					    &scratch),
			 -E2BIG);
	lwm_buf_free(&scratch);
}

/* Every type survives encode then decode. */
static void test_round_trip(void **state)
{
	static const uint8_t bin[] = {0, 0xff, 0x10, 0x80, 0x7f};
	struct lwm_record in[12];
	size_t n = 0;

	in[n] = rec_of(LWM_T_INTEGER), in[n++].value.v.i = INT64_MIN;
	in[n] = rec_of(LWM_T_INTEGER), in[n++].value.v.i = 0;
	in[n] = rec_of(LWM_T_UNSIGNED), in[n++].value.v.u = UINT64_MAX;
	in[n] = rec_of(LWM_T_FLOAT), in[n++].value.v.f = 1.0 / 3.0;
	in[n] = rec_of(LWM_T_FLOAT), in[n++].value.v.f = -2.5e-310;
	in[n] = rec_of(LWM_T_BOOLEAN), in[n++].value.v.b = true;
	in[n] = rec_of(LWM_T_TIME), in[n++].value.v.i = -1;
	in[n] = rec_of(LWM_T_OBJLNK), in[n].value.v.lnk.oid = 1, in[n++].value.v.lnk.iid = 2;
	in[n] = rec_of(LWM_T_STRING);
	in[n].value.v.bytes.ptr = (const uint8_t *)"x\ny";
	in[n++].value.v.bytes.len = 3;
	in[n] = rec_of(LWM_T_CORELNK);
	in[n].value.v.bytes.ptr = (const uint8_t *)"</3>";
	in[n++].value.v.bytes.len = 4;
	in[n] = rec_of(LWM_T_OPAQUE);
	in[n].value.v.bytes.ptr = bin;
	in[n++].value.v.bytes.len = sizeof(bin);

	for (size_t i = 0; i < n; i++) {
		struct lwm_buf b, scratch;
		struct lwm_record out;
		size_t cnt;

		lwm_buf_init(&b, 0);
		lwm_buf_init(&scratch, 0);
		assert_int_equal(lwm_encode(LWM_FMT_TEXT, &res, &in[i], 1, &b), 0);
		assert_int_equal(lwm_text_decode_ex(&res, b.data, b.len, in[i].value.type, &out,
						    &scratch),
				 0);
		assert_int_equal(out.value.type, in[i].value.type);
		switch (in[i].value.type) {
		case LWM_T_FLOAT:
			assert_memory_equal(&out.value.v.f, &in[i].value.v.f, sizeof(double));
			break;
		case LWM_T_BOOLEAN:
			assert_true(out.value.v.b == in[i].value.v.b);
			break;
		case LWM_T_OBJLNK:
			assert_int_equal(out.value.v.lnk.oid, in[i].value.v.lnk.oid);
			assert_int_equal(out.value.v.lnk.iid, in[i].value.v.lnk.iid);
			break;
		case LWM_T_STRING:
		case LWM_T_CORELNK:
		case LWM_T_OPAQUE:
			assert_int_equal(out.value.v.bytes.len, in[i].value.v.bytes.len);
			assert_memory_equal(out.value.v.bytes.ptr, in[i].value.v.bytes.ptr,
					    in[i].value.v.bytes.len);
			break;
		default:
			assert_true(out.value.v.u == in[i].value.v.u);
			break;
		}
		/* and through the dispatcher */
		cnt = 9;
		lwm_buf_reset(&scratch);
		assert_int_equal(lwm_decode_ex(LWM_FMT_TEXT, &res, b.data, b.len, NULL, NULL, &out,
					       1, &cnt, &scratch),
				 0);
		assert_int_equal(cnt, 1);
		lwm_buf_free(&b);
		lwm_buf_free(&scratch);
	}
}

static enum lwm_type lookup_fixed(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3); /* always asked about the resource */
	return *(enum lwm_type *)ud;
}

static void test_dispatch(void **state)
{
	struct lwm_record recs[2];
	struct lwm_buf b;
	struct lwm_path inst = {{3303, 0, 0, 0}, 2};
	struct lwm_path ri = {{3, 0, 6, 1}, 4};
	enum lwm_type t = LWM_T_INTEGER;
	size_t n;

	recs[0] = rec_of(LWM_T_INTEGER);
	recs[0].value.v.i = 5;
	recs[1] = recs[0];
	recs[1].path.id[2] = 5701;
	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_encode(LWM_FMT_TEXT, &res, recs, 2, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_TEXT, &res, recs, 0, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_TEXT, &inst, recs, 1, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_TEXT, &res, &recs[1], 1, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_OPAQUE, &res, recs, 1, &b), -EINVAL);
	assert_int_equal(lwm_encode(LWM_FMT_LINK, &res, recs, 1, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_ETCH_JSON, &res, recs, 1, &b), -ENOTSUP);
	assert_int_equal(b.len, 0);
	/* a value error leaves out as it was */
	assert_int_equal(lwm_buf_append(&b, "keep", 4), 0);
	recs[0].value.type = LWM_T_FLOAT;
	recs[0].value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_TEXT, &res, recs, 1, &b), -EINVAL);
	assert_int_equal(b.len, 4);

	/* a text decode asks lookup for the type */
	assert_int_equal(lwm_decode(LWM_FMT_TEXT, &res, (const uint8_t *)"-7", 2, lookup_fixed,
				    &t, recs, 2, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].value.type, LWM_T_INTEGER);
	assert_int_equal(recs[0].value.v.i, -7);
	/* resource instance base: path kept, lookup asked for the resource */
	assert_int_equal(lwm_decode(LWM_FMT_TEXT, &ri, (const uint8_t *)"1", 1, lookup_fixed, &t,
				    recs, 2, &n),
			 0);
	assert_int_equal(recs[0].path.len, 4);
	assert_int_equal(recs[0].path.id[3], 1);
	assert_int_equal(lwm_decode(LWM_FMT_TEXT, &res, (const uint8_t *)"x", 1, lookup_fixed, &t,
				    recs, 2, &n),
			 -EBADMSG);
	assert_int_equal(n, 0);
	assert_int_equal(lwm_decode(LWM_FMT_TEXT, &inst, (const uint8_t *)"1", 1, lookup_fixed,
				    &t, recs, 2, &n),
			 -ENOTSUP);
	assert_int_equal(lwm_decode(LWM_FMT_TEXT, &res, (const uint8_t *)"1", 1, lookup_fixed, &t,
				    recs, 0, &n),
			 -E2BIG);
	assert_int_equal(lwm_decode(LWM_FMT_LINK, &res, (const uint8_t *)"1", 1, NULL, NULL, recs,
				    2, &n),
			 -ENOTSUP);

	/* octet-stream: raw bytes of an opaque (or unknown) resource */
	static const uint8_t raw[] = {0, 1, 0xff};
	t = LWM_T_OPAQUE;
	assert_int_equal(lwm_decode(LWM_FMT_OPAQUE, &res, raw, 3, lookup_fixed, &t, recs, 2, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].value.type, LWM_T_OPAQUE);
	assert_ptr_equal(recs[0].value.v.bytes.ptr, raw);
	assert_int_equal(recs[0].value.v.bytes.len, 3);
	assert_int_equal(lwm_decode(LWM_FMT_OPAQUE, &res, raw, 3, NULL, NULL, recs, 2, &n), 0);
	assert_int_equal(recs[0].value.type, LWM_T_OPAQUE);
	t = LWM_T_INTEGER;
	assert_int_equal(lwm_decode(LWM_FMT_OPAQUE, &res, raw, 3, lookup_fixed, &t, recs, 2, &n),
			 -EINVAL);
	lwm_buf_reset(&b);
	assert_int_equal(lwm_decode(LWM_FMT_OPAQUE, &res, raw, 3, NULL, NULL, recs, 2, &n), 0);
	assert_int_equal(lwm_encode(LWM_FMT_OPAQUE, &res, recs, 1, &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, raw, 3);
	lwm_buf_free(&b);

	assert_true(lwm_format_can_encode(LWM_FMT_TEXT));
	assert_true(lwm_format_can_encode(LWM_FMT_OPAQUE));
	assert_true(lwm_format_can_encode(LWM_FMT_TLV));
	assert_true(lwm_format_can_encode(LWM_FMT_SENML_JSON));
	assert_true(lwm_format_can_encode(LWM_FMT_SENML_CBOR));
	assert_false(lwm_format_can_encode(LWM_FMT_SENML_ETCH_CBOR));
	assert_false(lwm_format_can_encode(LWM_FMT_LINK));
	assert_true(lwm_format_can_decode(LWM_FMT_TLV));
	assert_true(lwm_format_can_decode(LWM_FMT_LWM2M_CBOR));
	assert_true(lwm_format_can_decode(LWM_FMT_SENML_ETCH_CBOR));
	assert_false(lwm_format_can_decode(LWM_FMT_LINK));
}

static void test_link_append(void **state)
{
	struct lwm_buf b;
	struct lwm_path root = {{0}, 0};
	struct lwm_path o3 = {{3, 0, 0, 0}, 1};
	struct lwm_path i30 = {{3, 0, 0, 0}, 2};

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_link_append(&b, &root, ";rt=\"oma.lwm2m\""), 0);
	assert_int_equal(lwm_link_append(&b, &o3, ";ver=1.2"), 0);
	assert_int_equal(lwm_link_append(&b, &i30, NULL), 0);
	assert_int_equal(b.len, strlen("</>;rt=\"oma.lwm2m\",</3>;ver=1.2,</3/0>"));
	assert_memory_equal(b.data, "</>;rt=\"oma.lwm2m\",</3>;ver=1.2,</3/0>", b.len);
	lwm_buf_free(&b);
	lwm_buf_init(&b, 8);
	assert_int_equal(lwm_link_append(&b, &i30, NULL), 0); /* "</3/0>" */
	assert_int_equal(lwm_link_append(&b, &i30, NULL), -E2BIG);
	lwm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_each_type),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_decode_each_type),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_nul_and_trailing),
		cmocka_unit_test(test_opaque_scratch),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_link_append),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
