/* LwM2M JSON (11543, the LwM2M 1.0 format): exact encoder output, decoding
 * with types from lookup, rejection of malformed and oversized input. */
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
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_JSON, base, recs, n, &b), 0);
	if (b.len != strlen(expect) || memcmp(b.data, expect, b.len) != 0)
		fail_msg("got  %.*s\nwant %s", (int)b.len, (const char *)b.data, expect);
	lwm_buf_free(&b);
}

/* Device object types, and on object 9 resource id = type. */
static enum lwm_type test_type(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3);
	if (p->id[0] == 3) {
		switch (p->id[2]) {
		case 0:
		case 1:
			return LWM_T_STRING;
		case 9:
		case 11:
			return LWM_T_INTEGER;
		case 13:
			return LWM_T_TIME;
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
	size_t len = strlen(json);
	char *c = malloc(len ? len : 1);
	int r;

	assert_non_null(c);
	memcpy(c, json, len);
	r = lwm_decode_ex(LWM_FMT_LWM2M_JSON, base, (const uint8_t *)c, len, test_type, NULL,
			  recs, max, n, scratch);
	free(c);
	return r;
}

static void test_encode(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record r[5] = {str(P3(3, 0, 0), LWM_T_STRING, "Acme", 4),
				  rec(P3(3, 0, 9), LWM_T_INTEGER),
				  rec(P4(3, 0, 11, 0), LWM_T_INTEGER),
				  rec(P3(3, 0, 13), LWM_T_TIME),
				  rec(P3(3, 0, 20), LWM_T_FLOAT)};

	r[1].value.v.i = 85;
	r[3].value.v.i = 1367491215;
	r[4].value.v.f = -0.5;
	expect_json(&inst, r, 5,
		    "{\"bn\":\"/3/0/\",\"e\":[{\"n\":\"0\",\"sv\":\"Acme\"},{\"n\":\"9\",\"v\":85},"
		    "{\"n\":\"11/0\",\"v\":0},{\"n\":\"13\",\"v\":1367491215},"
		    "{\"n\":\"20\",\"v\":-0.5}]}");
	struct lwm_path obj = lwm_path_make(1, 3, 0, 0, 0);
	expect_json(&obj, r, 1, "{\"bn\":\"/3/\",\"e\":[{\"n\":\"0/0\",\"sv\":\"Acme\"}]}");
	expect_json(&root, r, 1, "{\"bn\":\"/\",\"e\":[{\"n\":\"3/0/0\",\"sv\":\"Acme\"}]}");
	expect_json(&inst, r, 0, "{\"bn\":\"/3/0/\",\"e\":[]}");

	struct lwm_path i9 = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_record v[6] = {rec(P3(9, 0, 1), LWM_T_UNSIGNED),
				  rec(P3(9, 0, 2), LWM_T_BOOLEAN),
				  rec(P3(9, 0, 3), LWM_T_OBJLNK),
				  str(P3(9, 0, 4), LWM_T_OPAQUE, "\xfb\xff", 2),
				  str(P3(9, 0, 5), LWM_T_STRING, "a\"\\\n\x01", 5),
				  str(P3(9, 0, 6), LWM_T_CORELNK, "</3>", 4)};
	v[0].value.v.u = UINT64_MAX;
	v[1].value.v.b = true;
	v[2].value.v.lnk.oid = 3;
	v[2].value.v.lnk.iid = 65535;
	expect_json(&i9, v, 6,
		    "{\"bn\":\"/9/0/\",\"e\":[{\"n\":\"1\",\"v\":18446744073709551615},"
		    "{\"n\":\"2\",\"bv\":true},{\"n\":\"3\",\"ov\":\"3:65535\"},"
		    "{\"n\":\"4\",\"sv\":\"+/8=\"},{\"n\":\"5\",\"sv\":\"a\\\"\\\\\\n\\u0001\"},"
		    "{\"n\":\"6\",\"sv\":\"</3>\"}]}");

	struct lwm_buf b;
	lwm_buf_init(&b, 0);
	v[0] = rec(P3(9, 0, 1), LWM_T_FLOAT);
	v[0].value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_JSON, &i9, v, 1, &b), -EINVAL);
	v[0] = str(P3(9, 0, 1), LWM_T_STRING, "\xff", 1);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_JSON, &i9, v, 1, &b), -EINVAL);
	v[0] = rec(P3(8, 0, 1), LWM_T_BOOLEAN);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_JSON, &i9, v, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm_buf_free(&b);
}

static void test_decode(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record r[8];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	/* the shape of the 1.0 TS example: Read of /3/0 */
	assert_int_equal(dec(&inst,
			     "{\"bn\":\"/3/0/\",\"e\":[{\"n\":\"0\",\"sv\":\"Open Mobile Alliance\"},"
			     "{\"n\":\"1\",\"sv\":\"Lightweight M2M Client\"},{\"n\":\"9\",\"v\":100},"
			     "{\"n\":\"11/0\",\"v\":0},{\"n\":\"13\",\"v\":1367491215,\"t\":-5}]}",
			     r, 8, &n, &scratch),
			 0);
	assert_int_equal(n, 5);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_int_equal(r[0].value.v.bytes.len, 20);
	assert_memory_equal(r[0].value.v.bytes.ptr, "Open Mobile Alliance", 20);
	assert_memory_equal(r[1].value.v.bytes.ptr, "Lightweight M2M Client", 22);
	assert_int_equal(r[2].value.v.i, 100);
	assert_int_equal(r[3].path.len, 4);
	assert_int_equal(r[3].path.id[3], 0);
	assert_int_equal(r[4].value.type, LWM_T_TIME);
	assert_int_equal(r[4].value.v.i, 1367491215);
	/* bn without its '/', no bn at all, bt */
	assert_int_equal(dec(&inst, "{\"bn\":\"/3/0\",\"e\":[{\"n\":\"9\",\"v\":5}]}", r, 8, &n,
			     &scratch),
			 0);
	assert_int_equal(r[0].path.id[2], 9);
	assert_int_equal(dec(&inst, "{\"bt\":1.5,\"e\":[{\"n\":\"/3/0/9\",\"v\":5}]}", r, 8, &n,
			     &scratch),
			 0);
	assert_int_equal(dec(&inst, "{\"bn\":\"/3/0/9\",\"e\":[{\"v\":5}]}", r, 8, &n, &scratch), 0);
	assert_int_equal(r[0].path.id[2], 9);
	/* every type on object 9 */
	struct lwm_path i9 = lwm_path_make(2, 9, 0, 0, 0);
	assert_int_equal(dec(&i9,
			     "{\"bn\":\"/9/0/\",\"e\":[{\"n\":\"1\",\"sv\":\"caf\\u00e9\"},"
			     "{\"n\":\"3\",\"v\":18446744073709551615e0},{\"n\":\"4\",\"v\":2.5},"
			     "{\"n\":\"5\",\"bv\":false},{\"n\":\"6\",\"sv\":\"+/8=\"},"
			     "{\"n\":\"8\",\"ov\":\"3:4\"},{\"n\":\"9\",\"sv\":\"</1>\"}]}",
			     r, 8, &n, &scratch),
			 -EINVAL); /* 1.8e19 as a double is 2^64: too big */
	assert_int_equal(dec(&i9,
			     "{\"bn\":\"/9/0/\",\"e\":[{\"n\":\"1\",\"sv\":\"caf\\u00e9\"},"
			     "{\"n\":\"3\",\"v\":9223372036854775807},{\"n\":\"4\",\"v\":2.5},"
			     "{\"n\":\"5\",\"bv\":false},{\"n\":\"6\",\"sv\":\"+/8\"},"
			     "{\"n\":\"8\",\"ov\":\"3:4\"},{\"n\":\"9\",\"sv\":\"</1>\"}]}",
			     r, 8, &n, &scratch),
			 0);
	assert_int_equal(n, 7);
	assert_int_equal(r[0].value.v.bytes.len, 5);
	assert_memory_equal(r[0].value.v.bytes.ptr, "caf\xc3\xa9", 5);
	assert_int_equal(r[1].value.type, LWM_T_UNSIGNED);
	assert_true(r[1].value.v.u == INT64_MAX);
	assert_true(r[2].value.v.f == 2.5);
	assert_false(r[3].value.v.b);
	assert_int_equal(r[4].value.type, LWM_T_OPAQUE);
	assert_int_equal(r[4].value.v.bytes.len, 2);
	assert_memory_equal(r[4].value.v.bytes.ptr, "\xfb\xff", 2);
	assert_int_equal(r[5].value.type, LWM_T_OBJLNK);
	assert_int_equal(r[5].value.v.lnk.iid, 4);
	assert_int_equal(r[6].value.type, LWM_T_CORELNK);
	assert_true(r[0].value.v.bytes.ptr >= scratch.data &&
		    r[6].value.v.bytes.ptr + 4 <= scratch.data + scratch.len);
	/* no scratch for strings: -ENOBUFS; fine without strings */
	assert_int_equal(dec(&inst, "{\"e\":[{\"n\":\"/3/0/0\",\"sv\":\"x\"}]}", r, 8, &n, NULL),
			 -ENOBUFS);
	assert_int_equal(dec(&inst, "{\"e\":[{\"n\":\"/3/0/9\",\"v\":1}]}", r, 8, &n, NULL), 0);
	/* without lookup sv is a string */
	static const char nl[] = "{\"e\":[{\"n\":\"/1/2/3\",\"sv\":\"AA==\"},{\"n\":\"/1/2/4\",\"v\":1}]}";
	assert_int_equal(lwm_lwm2m_json_decode_ex(&root, (const uint8_t *)nl, sizeof(nl) - 1, NULL,
						  NULL, r, 8, &n, &scratch),
			 0);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_int_equal(r[1].value.type, LWM_T_INTEGER);
	lwm_buf_free(&scratch);
}

static void test_decode_errors(void **state)
{
	static const struct {
		const char *json;
		int err;
	} bad[] = {
		{"", -EBADMSG},
		{"[]", -EBADMSG},
		{"{}", -EBADMSG},                                    /* no e */
		{"{\"e\":{}}", -EBADMSG},
		{"{\"bn\":5,\"e\":[]}", -EBADMSG},
		{"{\"bt\":\"x\",\"e\":[]}", -EBADMSG},
		{"{\"e\":[1]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\"}]}", -EBADMSG},          /* no value */
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":1,\"sv\":\"1\"}]}", -EBADMSG},
		{"{\"e\":[{\"n\":5,\"v\":1}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0\",\"v\":1}]}", -EBADMSG},      /* not a resource */
		{"{\"e\":[{\"n\":\"/3/1/9\",\"v\":1}]}", -EBADMSG},    /* outside base */
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":\"1\"}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":1,\"t\":\"x\"}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"bv\":1}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"ov\":3}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":1},{\"n\":\"/3/0/9\",\"v\":2}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":1}]", -EBADMSG},      /* truncated */
		{"{\"e\":[],\"e\":[]}", -EBADMSG},                   /* duplicate key */
		{"{\"e\":[{\"n\":\"/3/0/0\",\"sv\":\"\\ud800\"}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/0\",\"sv\":\"a\xff\"}]}", -EBADMSG}, /* not UTF-8 */
		{"{\"e\":[{\"n\":\"/9/0/6\",\"sv\":\"-_8\"}]}", -EBADMSG}, /* base64url */
		{"{\"e\":[{\"n\":\"/9/0/8\",\"ov\":\"3\"}]}", -EBADMSG},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"v\":1.5}]}", -EINVAL},
		{"{\"e\":[{\"n\":\"/3/0/9\",\"sv\":\"1\"}]}", -EINVAL},
		{"{\"e\":[{\"n\":\"/3/0/0\",\"v\":1}]}", -EINVAL},
		{"{\"e\":[{\"n\":\"/9/0/5\",\"v\":1}]}", -EINVAL},
		{"{\"e\":[{\"n\":\"/9/0/1\",\"ov\":\"3:0\"}]}", -EINVAL},
		{"{\"e\":[{\"n\":\"/9/0/3\",\"v\":-1}]}", -EINVAL},
		{"{\"e\":[[[[[[[[[[1]]]]]]]]]]}", -E2BIG},
	};
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
		int got = dec(strstr(bad[i].json, "/9/") ? &root : &inst, bad[i].json, r, 4, &n,
			      &scratch);

		if (got != bad[i].err)
			fail_msg("%s: got %d, want %d", bad[i].json, got, bad[i].err);
		assert_int_equal(n, 0);
	}
	assert_int_equal(dec(&root, "{\"e\":[{\"n\":\"/3/0/9\",\"v\":1},{\"n\":\"/3/0/11\",\"v\":1}]}",
			     r, 1, &n, &scratch),
			 -E2BIG);
	size_t len = 70000;
	char *big = malloc(len + 1);
	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, "{\"e\":[]}", 8);
	big[len] = '\0';
	assert_int_equal(dec(&root, big, r, 4, &n, &scratch), -E2BIG);
	free(big);
	lwm_buf_free(&scratch);
}

/* A NUL byte is never JSON (issue 16, item 9: jansson read
 * {"e":[{"n":"/1/0/1","v":42<NUL>}]} as 42). */
static void test_decode_nul_bytes(void **state)
{
	static const struct {
		const char *json;
		size_t len;
	} bad[] = {
#define NUL_CASE(s) {s, sizeof(s) - 1}
		NUL_CASE("{\"e\":[{\"n\":\"/1/0/1\",\"v\":42\0}]}"),
		NUL_CASE("{\"e\":[{\"n\":\"/1/0/1\",\"v\":42.5\0}]}"),
		NUL_CASE("{\"e\":[{\"n\":\"/1/0/1\",\"bv\":true\0}]}"),
		NUL_CASE("{\"bn\":\"/1/0/\",\"e\":[{\"n\":\"1\",\"v\":42}]}\0"),
		NUL_CASE("{\"e\":[{\"n\":\"/1/0/1\",\"sv\":\"a\0\"}]}"),
#undef NUL_CASE
	};
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *c = malloc(bad[i].len);
		int got;

		assert_non_null(c);
		memcpy(c, bad[i].json, bad[i].len);
		got = lwm_decode_ex(LWM_FMT_LWM2M_JSON, &root, c, bad[i].len, NULL, NULL, r, 4,
				    &n, &scratch);
		free(c);
		if (got != -EBADMSG)
			fail_msg("case %zu: got %d", i, got);
		assert_int_equal(n, 0);
		lwm_buf_reset(&scratch);
	}
	lwm_buf_free(&scratch);
}

static void test_round_trip_and_prefixes(void **state)
{
	static const uint8_t bin[] = {0, 1, 2, 0xfe, 0xff};
	struct lwm_path inst = lwm_path_make(2, 9, 4, 0, 0);
	struct lwm_record in[8], got[8];
	struct lwm_buf b, scratch;
	size_t n = 0, cnt;

	in[n] = str(P3(9, 4, LWM_T_STRING), LWM_T_STRING, "x \"\\\x1f\xc3\xa9", 7);
	n++;
	in[n] = rec(P3(9, 4, LWM_T_INTEGER), LWM_T_INTEGER);
	in[n++].value.v.i = INT64_MIN;
	in[n] = rec(P3(9, 4, LWM_T_FLOAT), LWM_T_FLOAT);
	in[n++].value.v.f = 1.0 / 3.0;
	in[n] = rec(P3(9, 4, LWM_T_BOOLEAN), LWM_T_BOOLEAN);
	in[n++].value.v.b = true;
	in[n] = str(P3(9, 4, LWM_T_OPAQUE), LWM_T_OPAQUE, (const char *)bin, sizeof(bin));
	n++;
	in[n] = rec(P4(9, 4, LWM_T_OBJLNK, 7), LWM_T_OBJLNK);
	in[n].value.v.lnk.oid = 65535, in[n++].value.v.lnk.iid = 1;
	lwm_buf_init(&b, 0);
	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_JSON, &inst, in, n, &b), 0);
	assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_JSON, &inst, b.data, b.len, test_type, NULL,
				       got, 8, &cnt, &scratch),
			 0);
	assert_int_equal(cnt, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(lwm_path_cmp(&got[i].path, &in[i].path), 0);
		assert_int_equal(got[i].value.type, in[i].value.type);
	}
	assert_memory_equal(got[0].value.v.bytes.ptr, in[0].value.v.bytes.ptr, 7);
	assert_true(got[1].value.v.i == INT64_MIN);
	assert_memory_equal(&got[2].value.v.f, &in[2].value.v.f, sizeof(double));
	assert_memory_equal(got[4].value.v.bytes.ptr, bin, sizeof(bin));
	assert_int_equal(got[5].value.v.lnk.oid, 65535);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = malloc(len + 1);

		memcpy(c, b.data, len);
		assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_JSON, &inst, c, len, test_type, NULL,
					       got, 8, &cnt, &scratch),
				 -EBADMSG);
		free(c);
		lwm_buf_reset(&scratch);
	}
	lwm_buf_free(&b);
	lwm_buf_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_decode_nul_bytes),
		cmocka_unit_test(test_round_trip_and_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
