/* application/cbor (60): one resource value.  Byte images from RFC 8949
 * Appendix A; floats in the shortest exact width; every width decoded. */
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

static const struct lwm_path res = {{9, 0, 1, 0}, 3};

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

static struct lwm_record rec_of(enum lwm_type t)
{
	struct lwm_record r;

	memset(&r, 0, sizeof(r));
	r.path = res;
	r.value.type = t;
	return r;
}

static void enc(const struct lwm_record *rec, const char *hex)
{
	uint8_t want[64];
	size_t wlen = unhex(hex, want, sizeof(want));
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, rec, 1, &b), 0);
	if (b.len != wlen || memcmp(b.data, want, wlen) != 0)
		fail_msg("want %s (len %zu, got %zu, first %02x)", hex, wlen, b.len,
			 b.len ? b.data[0] : 0);
	lwm_buf_free(&b);
}

static uint8_t *held; /* the last payload decoded: records borrow it */

static int free_held(void **state)
{
	free(held);
	held = NULL;
	return 0;
}

static enum lwm_type lookup_fixed(const struct lwm_path *p, void *ud)
{
	return *(enum lwm_type *)ud;
}

static int dec(const char *hex, enum lwm_type t, struct lwm_record *out, struct lwm_buf *scratch)
{
	uint8_t tmp[256];
	size_t len = unhex(hex, tmp, sizeof(tmp)), n;
	int r;

	free_held(NULL);
	held = malloc(len ? len : 1);
	assert_non_null(held);
	memcpy(held, tmp, len);
	r = lwm_decode_ex(LWM_FMT_CBOR, &res, held, len, lookup_fixed, &t, out, 1, &n, scratch);
	assert_int_equal(n, r == 0 ? 1 : 0);
	return r;
}

static void test_encode_rfc8949(void **state)
{
	struct lwm_record r;

	r = rec_of(LWM_T_INTEGER);
	r.value.v.i = 0;
	enc(&r, "00");
	r.value.v.i = 10;
	enc(&r, "0a");
	r.value.v.i = 23;
	enc(&r, "17");
	r.value.v.i = 24;
	enc(&r, "18 18");
	r.value.v.i = 100;
	enc(&r, "18 64");
	r.value.v.i = 1000;
	enc(&r, "19 03e8");
	r.value.v.i = 1000000;
	enc(&r, "1a 000f4240");
	r.value.v.i = 1000000000000;
	enc(&r, "1b 000000e8d4a51000");
	r.value.v.i = -1;
	enc(&r, "20");
	r.value.v.i = -10;
	enc(&r, "29");
	r.value.v.i = -100;
	enc(&r, "38 63");
	r.value.v.i = -1000;
	enc(&r, "39 03e7");
	r.value.v.i = INT64_MIN;
	enc(&r, "3b 7fffffffffffffff");
	r = rec_of(LWM_T_UNSIGNED);
	r.value.v.u = UINT64_MAX;
	enc(&r, "1b ffffffffffffffff");
	r = rec_of(LWM_T_TIME);
	r.value.v.i = 1363896240;
	enc(&r, "1a 514b67b0");

	r = rec_of(LWM_T_FLOAT);
	static const struct {
		double d;
		const char *hex;
	} fl[] = {
		{0.0, "f9 0000"},
		{-0.0, "f9 8000"},
		{1.0, "f9 3c00"},
		{1.1, "fb 3ff199999999999a"},
		{1.5, "f9 3e00"},
		{65504.0, "f9 7bff"},
		{100000.0, "fa 47c35000"},
		{3.4028234663852886e+38, "fa 7f7fffff"},
		{1.0e+300, "fb 7e37e43c8800759c"},
		{5.960464477539063e-8, "f9 0001"},
		{0.00006103515625, "f9 0400"},
		{-4.0, "f9 c400"},
		{-4.1, "fb c010666666666666"},
		{65505.0, "fa 477fe100"},   /* past the half range */
		{1.0 / 65536, "f9 0100"}, /* 2^-24 * 256: a half subnormal */
		{3.0 * 5.960464477539063e-8, "f9 0003"},
		{1e-8, "fb 3e45798ee2308c3a"}, /* below every half, not a single */
	};
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		r.value.v.f = fl[i].d;
		enc(&r, fl[i].hex);
	}

	r = rec_of(LWM_T_BOOLEAN);
	enc(&r, "f4");
	r.value.v.b = true;
	enc(&r, "f5");
	r = rec_of(LWM_T_STRING);
	r.value.v.bytes.ptr = (const uint8_t *)"";
	enc(&r, "60");
	r.value.v.bytes.ptr = (const uint8_t *)"IETF";
	r.value.v.bytes.len = 4;
	enc(&r, "64 49455446");
	r.value.v.bytes.ptr = (const uint8_t *)"\xc3\xbc";
	r.value.v.bytes.len = 2;
	enc(&r, "62 c3bc");
	r = rec_of(LWM_T_OPAQUE);
	r.value.v.bytes.ptr = (const uint8_t *)"\x01\x02\x03\x04";
	r.value.v.bytes.len = 4;
	enc(&r, "44 01020304");
	r = rec_of(LWM_T_OBJLNK);
	r.value.v.lnk.oid = 3;
	r.value.v.lnk.iid = 0;
	enc(&r, "63 333a30");
	r = rec_of(LWM_T_CORELNK);
	r.value.v.bytes.ptr = (const uint8_t *)"</3>";
	r.value.v.bytes.len = 4;
	enc(&r, "64 3c2f333e");
}

static void test_encode_rejects(void **state)
{
	struct lwm_record r[2];
	struct lwm_path inst = {{9, 0, 0, 0}, 2};
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	r[0] = rec_of(LWM_T_FLOAT);
	r[0].value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, r, 1, &b), -EINVAL);
	r[0].value.v.f = INFINITY;
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, r, 1, &b), -EINVAL);
	r[0] = rec_of(LWM_T_STRING);
	r[0].value.v.bytes.ptr = (const uint8_t *)"\xff";
	r[0].value.v.bytes.len = 1;
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, r, 1, &b), -EINVAL);
	r[0] = rec_of(LWM_T_NONE);
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, r, 1, &b), -EINVAL);
	/* one record, of the resource read */
	r[0] = rec_of(LWM_T_INTEGER);
	r[1] = r[0];
	r[1].path.id[2] = 2;
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, r, 2, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &inst, r, 1, &b), -ENOTSUP);
	assert_int_equal(lwm_encode(LWM_FMT_CBOR, &res, &r[1], 1, &b), -ENOTSUP);
	assert_int_equal(b.len, 0);
	lwm_buf_free(&b);
}

static void test_decode_each_type(void **state)
{
	struct lwm_record r;
	struct lwm_buf scratch;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(dec("39 03e7", LWM_T_INTEGER, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_INTEGER);
	assert_int_equal(r.value.v.i, -1000);
	assert_int_equal(lwm_path_cmp(&r.path, &res), 0);
	assert_int_equal(dec("3b 7fffffffffffffff", LWM_T_INTEGER, &r, &scratch), 0);
	assert_true(r.value.v.i == INT64_MIN);
	assert_int_equal(dec("1b ffffffffffffffff", LWM_T_UNSIGNED, &r, &scratch), 0);
	assert_true(r.value.v.u == UINT64_MAX);
	assert_int_equal(dec("18 64", LWM_T_FLOAT, &r, &scratch), 0);
	assert_true(r.value.v.f == 100.0);
	assert_int_equal(dec("f9 7bff", LWM_T_FLOAT, &r, &scratch), 0);
	assert_true(r.value.v.f == 65504.0);
	assert_int_equal(dec("f9 8000", LWM_T_FLOAT, &r, &scratch), 0);
	assert_true(r.value.v.f == 0.0 && signbit(r.value.v.f));
	assert_int_equal(dec("fa 47c35000", LWM_T_FLOAT, &r, &scratch), 0);
	assert_true(r.value.v.f == 100000.0);
	assert_int_equal(dec("fb 7e37e43c8800759c", LWM_T_FLOAT, &r, &scratch), 0);
	assert_true(r.value.v.f == 1.0e+300);
	assert_int_equal(dec("f5", LWM_T_BOOLEAN, &r, &scratch), 0);
	assert_true(r.value.v.b);
	assert_int_equal(dec("64 49455446", LWM_T_STRING, &r, &scratch), 0);
	assert_int_equal(r.value.v.bytes.len, 4);
	assert_memory_equal(r.value.v.bytes.ptr, "IETF", 4);
	assert_int_equal(scratch.len, 0);
	assert_int_equal(dec("44 01020304", LWM_T_OPAQUE, &r, &scratch), 0);
	assert_int_equal(r.value.v.bytes.len, 4);
	assert_int_equal(dec("6b 36353533353a3635353335", LWM_T_OBJLNK, &r, &scratch), 0);
	assert_int_equal(r.value.v.lnk.oid, 65535);
	assert_int_equal(r.value.v.lnk.iid, 65535);
	assert_int_equal(dec("64 3c2f333e", LWM_T_CORELNK, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_CORELNK);
	/* time: plain, tag 1 (RFC 8949 A), tag 1 on an integral float */
	assert_int_equal(dec("1a 514b67b0", LWM_T_TIME, &r, &scratch), 0);
	assert_int_equal(r.value.v.i, 1363896240);
	assert_int_equal(dec("c1 1a 514b67b0", LWM_T_TIME, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_TIME);
	assert_int_equal(r.value.v.i, 1363896240);
	assert_int_equal(dec("c1 fb 41d452d9ec000000", LWM_T_TIME, &r, &scratch), 0);
	assert_int_equal(r.value.v.i, 1363896240);
	/* without a type the CBOR item decides; tag 1 makes a time */
	assert_int_equal(dec("20", LWM_T_NONE, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_INTEGER);
	assert_int_equal(dec("1b ffffffffffffffff", LWM_T_NONE, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_UNSIGNED);
	assert_int_equal(dec("63 333a30", LWM_T_NONE, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_STRING);
	assert_int_equal(dec("40", LWM_T_NONE, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_OPAQUE);
	assert_int_equal(dec("c1 00", LWM_T_NONE, &r, &scratch), 0);
	assert_int_equal(r.value.type, LWM_T_TIME);
	/* indefinite-length strings (RFC 8949 A) go to scratch */
	assert_int_equal(dec("7f 65 7374726561 64 6d696e67 ff", LWM_T_STRING, &r, &scratch), 0);
	assert_int_equal(r.value.v.bytes.len, 9);
	assert_memory_equal(r.value.v.bytes.ptr, "streaming", 9);
	assert_int_equal(scratch.len, 9);
	assert_int_equal(dec("5f 42 0102 43 030405 ff", LWM_T_OPAQUE, &r, &scratch), 0);
	assert_memory_equal(r.value.v.bytes.ptr, "\x01\x02\x03\x04\x05", 5);
	assert_memory_equal(scratch.data, "streaming", 9); /* kept */
	assert_int_equal(dec("7f 62 333a 61 30 ff", LWM_T_OBJLNK, &r, NULL), 0);
	assert_int_equal(r.value.v.lnk.oid, 3);
	assert_int_equal(dec("5f 42 0102 ff", LWM_T_OPAQUE, &r, NULL), -ENOBUFS);
	assert_int_equal(dec("5f ff", LWM_T_OPAQUE, &r, NULL), 0);
	lwm_buf_free(&scratch);
}

static void test_decode_errors(void **state)
{
	static const struct {
		const char *hex;
		enum lwm_type t;
		int err;
	} bad[] = {
		{"", LWM_T_INTEGER, -EBADMSG},
		{"19 03", LWM_T_INTEGER, -EBADMSG},           /* truncated */
		{"01 01", LWM_T_INTEGER, -EBADMSG},           /* two items */
		{"81 01", LWM_T_INTEGER, -EBADMSG},           /* array */
		{"a1 01 01", LWM_T_INTEGER, -EBADMSG},        /* map */
		{"f6", LWM_T_INTEGER, -EBADMSG},              /* null */
		{"f7", LWM_T_INTEGER, -EBADMSG},              /* undefined */
		{"ff", LWM_T_INTEGER, -EBADMSG},              /* break */
		{"1c", LWM_T_INTEGER, -EBADMSG},              /* reserved */
		{"f8 20", LWM_T_INTEGER, -EBADMSG},           /* simple value */
		{"c2 41 01", LWM_T_INTEGER, -EBADMSG},        /* bignum tag */
		{"c1 c1 00", LWM_T_TIME, -EBADMSG},           /* nested tag */
		{"c1 61 31", LWM_T_TIME, -EBADMSG},           /* tag 1 on text */
		{"c1", LWM_T_TIME, -EBADMSG},
		{"c1 00", LWM_T_INTEGER, -EINVAL},            /* time tag, other type */
		{"62 c328", LWM_T_STRING, -EBADMSG},          /* invalid UTF-8 */
		{"7f 61 c3 61 bc ff", LWM_T_STRING, -EBADMSG}, /* split code point */
		{"7f 41 61 ff", LWM_T_STRING, -EBADMSG},      /* bytes chunk in text */
		{"7f 61 61", LWM_T_STRING, -EBADMSG},         /* no break */
		{"63 333a78", LWM_T_OBJLNK, -EBADMSG},        /* "3:x" */
		{"78 21 3131313131313131313131313131313131313131313131313131313131313a31",
		 LWM_T_OBJLNK, -EBADMSG},                    /* too long for a link */
		{"f9 3e00", LWM_T_INTEGER, -EINVAL},          /* 1.5 */
		{"1b 8000000000000000", LWM_T_INTEGER, -EINVAL},
		{"3b 8000000000000000", LWM_T_INTEGER, -EINVAL},
		{"20", LWM_T_UNSIGNED, -EINVAL},
		{"f9 7c00", LWM_T_FLOAT, -EINVAL},            /* infinity */
		{"f9 7e00", LWM_T_FLOAT, -EINVAL},            /* NaN */
		{"01", LWM_T_BOOLEAN, -EINVAL},
		{"f5", LWM_T_INTEGER, -EINVAL},
		{"41 61", LWM_T_STRING, -EINVAL},
		{"61 61", LWM_T_OPAQUE, -EINVAL},
		{"61 61", LWM_T_INTEGER, -EINVAL},
		{"01", LWM_T_OBJLNK, -EINVAL},
		{"5b 7fffffffffffffff", LWM_T_OPAQUE, -EBADMSG},
	};
	struct lwm_record r;
	struct lwm_buf scratch;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = dec(bad[i].hex, bad[i].t, &r, &scratch);

		if (got != bad[i].err)
			fail_msg("%s: got %d, want %d", bad[i].hex, got, bad[i].err);
	}
	/* a resource (instance) base only; room for the record */
	struct lwm_path inst = {{9, 0, 0, 0}, 2};
	size_t n;
	enum lwm_type t = LWM_T_INTEGER;
	static const uint8_t one[] = {0x01};
	assert_int_equal(lwm_decode(LWM_FMT_CBOR, &inst, one, 1, lookup_fixed, &t, &r, 1, &n),
			 -ENOTSUP);
	assert_int_equal(lwm_decode(LWM_FMT_CBOR, &res, one, 1, lookup_fixed, &t, &r, 0, &n),
			 -E2BIG);
	/* over 64 KiB */
	uint8_t *big = calloc(1, 70000);
	assert_non_null(big);
	big[0] = 0x5a;
	big[3] = (uint8_t)((70000 - 5) >> 8);
	big[4] = (uint8_t)(70000 - 5);
	big[2] = (uint8_t)((70000 - 5) >> 16);
	t = LWM_T_OPAQUE;
	assert_int_equal(lwm_decode(LWM_FMT_CBOR, &res, big, 70000, lookup_fixed, &t, &r, 1, &n),
			 -E2BIG);
	free(big);
	lwm_buf_free(&scratch);
}

/* Every prefix of valid payloads fails cleanly; mutations never crash. */
static void test_truncated_and_garbage(void **state)
{
	static const char *docs[] = {"1b 000000e8d4a51000", "fb 3ff199999999999a",
				     "7f 65 7374726561 64 6d696e67 ff", "c1 1a 514b67b0",
				     "6b 36353533353a3635353335"};
	static const enum lwm_type types[] = {LWM_T_INTEGER, LWM_T_FLOAT, LWM_T_STRING, LWM_T_TIME,
					      LWM_T_OBJLNK};
	struct lwm_buf scratch;
	struct lwm_record r;
	uint32_t x = 11;

	lwm_buf_init(&scratch, 0);
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		uint8_t buf[64];
		size_t dlen = unhex(docs[d], buf, sizeof(buf)), n;
		enum lwm_type t = types[d];

		for (size_t len = 0; len < dlen; len++) {
			uint8_t *c = malloc(len + 1);

			memcpy(c, buf, len);
			assert_int_equal(lwm_decode_ex(LWM_FMT_CBOR, &res, c, len, lookup_fixed, &t,
						       &r, 1, &n, &scratch),
					 -EBADMSG);
			free(c);
		}
		for (int iter = 0; iter < 3000; iter++) {
			uint8_t *m = malloc(dlen);

			memcpy(m, buf, dlen);
			x = x * 1103515245 + 12345;
			m[(x >> 16) % dlen] = (uint8_t)(x >> 8);
			(void)lwm_decode_ex(LWM_FMT_CBOR, &res, m, dlen, lookup_fixed, &t, &r, 1, &n,
					    &scratch);
			free(m);
			lwm_buf_reset(&scratch);
		}
	}
	lwm_buf_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_rfc8949),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_decode_each_type),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_truncated_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, free_held);
}
