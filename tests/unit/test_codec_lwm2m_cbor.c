/* LwM2M CBOR (11544, LwM2M 1.2): nested maps keyed by path ids from the
 * root, keys that are arrays of ids (path compression) on input, and
 * rejection of malformed, truncated and oversized payloads. */
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


static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		assert_true(sscanf(s, "%2x", &v) == 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void expect_cbor(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			const char *hex)
{
	uint8_t want[256];
	size_t wlen = unhex(hex, want, sizeof(want));
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_CBOR, base, recs, n, &b), 0);
	if (b.len != wlen || memcmp(b.data, want, wlen) != 0) {
		char got[800];
		size_t o = 0;

		for (size_t i = 0; i < b.len && o + 4 < sizeof(got); i++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%02x ", b.data[i]);
		fail_msg("got  %s\nwant %s", got, hex);
	}
	lwm_buf_free(&b);
}

static enum lwm_type test_type(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3);
	if (p->id[0] == 3)
		return p->id[2] == 0 ? LWM_T_STRING : LWM_T_INTEGER;
	if (p->id[0] == 9 && p->id[2] <= LWM_T_CORELNK)
		return (enum lwm_type)p->id[2];
	return LWM_T_NONE;
}

static uint8_t *held; /* the last payload decoded: records borrow it */

static int free_held(void **state)
{
	free(held);
	held = NULL;
	return 0;
}

static int dec_hex(const struct lwm_path *base, const char *hex, struct lwm_record *recs,
		   size_t max, size_t *n, struct lwm_buf *scratch)
{
	uint8_t tmp[512];
	size_t len = unhex(hex, tmp, sizeof(tmp));

	free_held(NULL);
	held = malloc(len ? len : 1);
	assert_non_null(held);
	memcpy(held, tmp, len);
	return lwm_decode_ex(LWM_FMT_LWM2M_CBOR, base, held, len, test_type, NULL, recs, max, n,
			     scratch);
}

static void test_encode(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record r[4] = {rec(P3(3, 0, 0), LWM_T_STRING), rec(P4(3, 0, 11, 0), LWM_T_INTEGER),
				  rec(P4(3, 0, 11, 1), LWM_T_INTEGER), rec(P3(3, 1, 9), LWM_T_INTEGER)};

	r[0].value.v.bytes.ptr = (const uint8_t *)"Acme";
	r[0].value.v.bytes.len = 4;
	r[2].value.v.i = 8;
	r[3].value.v.i = 100;
	/* {3: {0: {0: "Acme", 11: {0: 0}}}} */
	expect_cbor(&inst, r, 2, "a1 03 a1 00 a2 00 64 41636d65 0b a1 00 00");
	/* a resource instance base still writes from the root */
	struct lwm_path ri = P4(3, 0, 11, 1);
	expect_cbor(&ri, &r[2], 1, "a1 03 a1 00 a1 0b a1 01 08");
	/* {3: {0: {0: "Acme", 11: {0: 0, 1: 8}}, 1: {9: 100}}} */
	struct lwm_path obj = lwm_path_make(1, 3, 0, 0, 0);
	expect_cbor(&obj, r, 4, "a1 03 a2 00 a2 00 64 41636d65 0b a2 00 00 01 08 01 a1 09 18 64");
	/* composite across objects; nothing */
	struct lwm_record c[2] = {rec(P3(1, 0, 1), LWM_T_UNSIGNED), rec(P3(65534, 65534, 65534),
									  LWM_T_OBJLNK)};
	c[0].value.v.u = 300;
	c[1].value.v.lnk.oid = 17;
	c[1].value.v.lnk.iid = 18;
	expect_cbor(&root, c, 2,
		    "a2 01 a1 00 a1 01 19 012c 19 fffe a1 19 fffe a1 19 fffe 65 31373a3138");
	expect_cbor(&inst, r, 0, "a0");

	struct lwm_buf b;
	lwm_buf_init(&b, 0);
	r[0].value.type = LWM_T_FLOAT;
	r[0].value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_CBOR, &inst, r, 1, &b), -EINVAL);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_CBOR, &obj, c, 1, &b), -EINVAL); /* outside */
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
	/* plain nesting */
	assert_int_equal(dec_hex(&inst, "a1 03 a1 00 a2 00 64 41636d65 0b a1 00 00", r, 8, &n,
				 &scratch),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_memory_equal(r[0].value.v.bytes.ptr, "Acme", 4);
	assert_int_equal(r[1].path.len, 4);
	assert_int_equal(r[1].path.id[2], 11);
	/* compressed keys: {[3, 0]: {0: "Acme", [11, 0]: 0}}, {[3, 0, 9]: 5},
	 * indefinite maps and key arrays */
	assert_int_equal(dec_hex(&inst, "a1 82 03 00 a2 00 64 41636d65 82 0b 00 00", r, 8, &n,
				 &scratch),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].path.len, 4);
	assert_int_equal(dec_hex(&inst, "bf 83 03 00 09 05 9f 03 00 0b 01 ff 18 2a ff", r, 8, &n,
				 &scratch),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].path.id[2], 9);
	assert_int_equal(r[0].value.v.i, 5);
	assert_int_equal(r[1].path.id[3], 1);
	assert_int_equal(r[1].value.v.i, 42);
	assert_int_equal(dec_hex(&inst, "a1 84 03 00 0b 07 20", r, 8, &n, &scratch), 0);
	assert_int_equal(r[0].path.id[3], 7);
	assert_int_equal(r[0].value.v.i, -1);
	/* every type, tag 1 on a time, an indefinite string */
	assert_int_equal(dec_hex(&root,
				 "a1 09 a1 00 a8 01 7f 61 61 61 62 ff 02 3b 7fffffffffffffff"
				 " 03 1b ffffffffffffffff 04 fb 3ff199999999999a 05 f5"
				 " 06 42 fbff 07 c1 1a 514b67b0 08 65 31373a3138",
				 r, 8, &n, &scratch),
			 0);
	assert_int_equal(n, 8);
	assert_memory_equal(r[0].value.v.bytes.ptr, "ab", 2);
	assert_true(r[1].value.v.i == INT64_MIN);
	assert_true(r[2].value.v.u == UINT64_MAX);
	assert_true(r[3].value.v.f == 1.1);
	assert_true(r[4].value.v.b);
	assert_int_equal(r[5].value.v.bytes.len, 2);
	assert_int_equal(r[6].value.type, LWM_T_TIME);
	assert_int_equal(r[6].value.v.i, 1363896240);
	assert_int_equal(r[7].value.type, LWM_T_OBJLNK);
	assert_int_equal(r[7].value.v.lnk.oid, 17);
	/* the indefinite string needed scratch */
	assert_int_equal(dec_hex(&root, "a1 09 a1 00 a1 01 7f 61 61 ff", r, 8, &n, NULL), -ENOBUFS);
	assert_int_equal(dec_hex(&root, "a1 09 a1 00 a1 01 61 61", r, 8, &n, NULL), 0);
	/* empty maps: nothing to write */
	assert_int_equal(dec_hex(&inst, "a0", r, 8, &n, &scratch), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec_hex(&inst, "a1 03 a1 00 a0", r, 8, &n, &scratch), 0);
	assert_int_equal(n, 0);
	lwm_buf_free(&scratch);
}

static void test_decode_errors(void **state)
{
	static const struct {
		const char *hex;
		int err;
	} bad[] = {
		{"", -EBADMSG},
		{"80", -EBADMSG},                       /* not a map */
		{"03", -EBADMSG},
		{"a1 03 05", -EBADMSG},                 /* value at an object */
		{"a1 03 a1 00 05", -EBADMSG},           /* value at an instance */
		{"a1 84 03 00 0b 00 a1 00 00", -EBADMSG}, /* map below a resource instance */
		{"a1 85 03 00 0b 00 01 00", -EBADMSG},  /* five ids */
		{"a1 03 a1 00 a1 0b a1 00 a1 00 00", -EBADMSG},
		{"a1 80 00", -EBADMSG},                 /* empty key */
		{"a1 20 00", -EBADMSG},                 /* negative key */
		{"a1 61 33 00", -EBADMSG},              /* text key */
		{"a1 19 ffff a1 00 a1 00 00", -EBADMSG}, /* id 65535 */
		{"a1 82 03 61 30 a1 00 00", -EBADMSG},
		{"a1 83 03 01 00 05", -EBADMSG},        /* outside base /3/0 */
		{"a2 83 03 00 09 01 83 03 00 09 02", -EBADMSG}, /* same path twice */
		{"a2 83 03 00 0b 01 84 03 00 0b 00 01", -EBADMSG}, /* resource + instance */
		{"a1 83 03 00 09 f6", -EBADMSG},        /* null */
		{"a1 83 03 00 09 81 01", -EBADMSG},     /* array value */
		{"a1 83 03 00 09 ff", -EBADMSG},
		{"a1 83 03 00 09 01 00", -EBADMSG},     /* trailing */
		{"a2 83 03 00 09 01", -EBADMSG},        /* truncated */
		{"bf 83 03 00 09 01", -EBADMSG},
		{"a1 9f 03 00 09 01", -EBADMSG},
		{"a1 83 03 00 00 62 c328", -EBADMSG},   /* invalid UTF-8 */
		{"a1 83 03 00 09 1c", -EBADMSG},
		{"a1 83 03 00 09 c2 41 01", -EBADMSG},  /* other tag */
		{"bb ffffffffffffffff", -EBADMSG},
		{"a1 83 03 00 09 f9 3e00", -EINVAL},    /* 1.5 for an Integer */
		{"a1 83 03 00 00 01", -EINVAL},         /* number for a String */
		{"a1 83 03 00 09 c1 00", -EINVAL},      /* time for an Integer */
	};
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = dec_hex(&inst, bad[i].hex, r, 4, &n, &scratch);

		if (got != bad[i].err)
			fail_msg("%s: got %d, want %d", bad[i].hex, got, bad[i].err);
		assert_int_equal(n, 0);
	}
	/* a map at a resource holds its instances; more than max */
	assert_int_equal(dec_hex(&inst, "a1 83 03 00 0b a2 00 01 01 02", r, 4, &n, &scratch), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].path.id[3], 1);
	assert_int_equal(dec_hex(&inst, "a1 83 03 00 0b a2 00 01 01 02", r, 1, &n, &scratch),
			 -E2BIG);
	assert_int_equal(n, 0);
	/* deep nesting is refused without recursing into it */
	uint8_t *deep = malloc(60000);
	assert_non_null(deep);
	memset(deep, 0xa1, 60000);
	for (size_t i = 1; i < 60000; i += 2)
		deep[i] = 0x00;
	assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_CBOR, &root, deep, 60000, test_type, NULL, r,
				       4, &n, &scratch),
			 -EBADMSG);
	free(deep);
	uint8_t *big = calloc(1, 70000);
	assert_non_null(big);
	big[0] = 0xa0;
	assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_CBOR, &root, big, 70000, test_type, NULL, r,
				       4, &n, &scratch),
			 -E2BIG);
	free(big);
	lwm_buf_free(&scratch);
}

static void test_round_trip_and_prefixes(void **state)
{
	struct lwm_path obj = lwm_path_make(1, 9, 0, 0, 0);
	struct lwm_record in[6], got[6];
	struct lwm_buf b, scratch;
	uint32_t x = 5;
	size_t n = 0, cnt;

	in[n] = rec(P3(9, 0, LWM_T_STRING), LWM_T_STRING);
	in[n].value.v.bytes.ptr = (const uint8_t *)"\xc3\xa9t\xc3\xa9";
	in[n++].value.v.bytes.len = 6;
	in[n] = rec(P4(9, 0, LWM_T_INTEGER, 0), LWM_T_INTEGER);
	in[n++].value.v.i = -70000;
	in[n] = rec(P4(9, 0, LWM_T_INTEGER, 65534), LWM_T_INTEGER);
	in[n++].value.v.i = INT64_MAX;
	in[n] = rec(P3(9, 0, LWM_T_FLOAT), LWM_T_FLOAT);
	in[n++].value.v.f = 0.1;
	in[n] = rec(P3(9, 1, LWM_T_OPAQUE), LWM_T_OPAQUE);
	in[n].value.v.bytes.ptr = (const uint8_t *)"\0\1";
	in[n++].value.v.bytes.len = 2;
	in[n] = rec(P3(9, 1, LWM_T_TIME), LWM_T_TIME);
	in[n++].value.v.i = -1;
	lwm_buf_init(&b, 0);
	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_encode(LWM_FMT_LWM2M_CBOR, &obj, in, n, &b), 0);
	assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_CBOR, &obj, b.data, b.len, test_type, NULL,
				       got, 6, &cnt, &scratch),
			 0);
	assert_int_equal(cnt, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(lwm_path_cmp(&got[i].path, &in[i].path), 0);
		assert_int_equal(got[i].value.type, in[i].value.type);
	}
	assert_memory_equal(got[0].value.v.bytes.ptr, in[0].value.v.bytes.ptr, 6);
	assert_int_equal(got[1].value.v.i, -70000);
	assert_true(got[2].value.v.i == INT64_MAX);
	assert_true(got[3].value.v.f == 0.1);
	assert_memory_equal(got[4].value.v.bytes.ptr, "\0\1", 2);
	assert_int_equal(got[5].value.v.i, -1);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = malloc(len + 1);

		memcpy(c, b.data, len);
		assert_int_equal(lwm_decode_ex(LWM_FMT_LWM2M_CBOR, &obj, c, len, test_type, NULL,
					       got, 6, &cnt, &scratch),
				 -EBADMSG);
		free(c);
	}
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *m = malloc(b.len);

		memcpy(m, b.data, b.len);
		for (int k = 0; k < 2; k++) {
			x = x * 1103515245 + 12345;
			m[(x >> 16) % b.len] = (uint8_t)(x >> 8);
		}
		(void)lwm_decode_ex(LWM_FMT_LWM2M_CBOR, &obj, m, b.len, test_type, NULL, got, 6,
				    &cnt, &scratch);
		free(m);
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
		cmocka_unit_test(test_round_trip_and_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, free_held);
}
