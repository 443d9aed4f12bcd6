/* SenML CBOR (112): exact encoder output (byte images checked by hand
 * against RFC 8949 and RFC 8428 section 6), decoding with types from
 * lookup, indefinite lengths, and rejection of malformed, truncated,
 * oversized and deeply nested payloads. */
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


/* "82 a3 21" -> bytes; returns the count.  Spaces are ignored. */
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
	uint8_t want[512];
	size_t wlen = unhex(hex, want, sizeof(want));
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, base, recs, n, &b), 0);
	if (b.len != wlen || memcmp(b.data, want, wlen) != 0) {
		char got[1100];
		size_t o = 0;

		for (size_t i = 0; i < b.len && o + 4 < sizeof(got); i++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%02x ", b.data[i]);
		fail_msg("got  %s\nwant %s", got, hex);
	}
	lwm_buf_free(&b);
}

/* Types of the resources used below; on object 9, resource id = type. */
static enum lwm_type test_type(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3);
	if (p->id[0] == 3303) {
		switch (p->id[2]) {
		case 5700:
			return LWM_T_FLOAT;
		case 5701:
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

/* The payload the last dec_hex decoded: records borrow its bytes. */
static uint8_t *held;

static int free_held(void **state)
{
	free(held);
	held = NULL;
	return 0;
}

/* Decodes bytes given in hex from an exact-size heap copy, so that ASan
 * sees any read past the end; the copy lives until the next call. */
static int dec_hex(const struct lwm_path *base, const char *hex, struct lwm_record *recs,
		   size_t max, size_t *n, struct lwm_buf *scratch)
{
	uint8_t tmp[1024];
	size_t len = unhex(hex, tmp, sizeof(tmp));

	free_held(NULL);
	held = malloc(len ? len : 1);
	assert_non_null(held);
	memcpy(held, tmp, len);
	return lwm_decode_ex(LWM_FMT_SENML_CBOR, base, held, len, test_type, NULL, recs, max, n,
			     scratch);
}

static void test_encode_instance(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[2] = {rec(P3(3303, 0, 5700), LWM_T_FLOAT),
				  str(P3(3303, 0, 5701), LWM_T_STRING, "Cel", 3)};

	r[0].value.v.f = 21.5; /* half: 0 10011 0101100000 = 4d60 */
	/* [{-2: "/3303/0/", 0: "5700", 2: 21.5}, {0: "5701", 3: "Cel"}] */
	expect_cbor(&inst, r, 2,
		    "82 a3 21 68 2f333330332f302f 00 64 35373030 02 f9 4d60"
		    " a2 00 64 35373031 03 63 43656c");
	/* a resource base still names relative to its instance */
	struct lwm_path res = P3(3303, 0, 5700);
	expect_cbor(&res, r, 1, "81 a3 21 68 2f333330332f302f 00 64 35373030 02 f9 4d60");
	/* object base */
	struct lwm_path obj = lwm_path_make(1, 3303, 0, 0, 0);
	expect_cbor(&obj, r, 1, "81 a3 21 66 2f333330332f 00 66 302f35373030 02 f9 4d60");
	/* nothing */
	expect_cbor(&inst, r, 0, "80");
}

/* Composite: the root as base, records from several objects. */
static void test_encode_composite(void **state)
{
	struct lwm_record r[3] = {rec(P3(1, 0, 1), LWM_T_INTEGER),
				  str(P3(3, 0, 0), LWM_T_STRING, "Acme", 4),
				  rec(P4(3, 0, 11, 0), LWM_T_INTEGER)};

	r[0].value.v.i = 300;
	r[2].value.v.i = 0;
	/* [{-2: "/", 0: "1/0/1", 2: 300}, {0: "3/0/0", 3: "Acme"},
	 *  {0: "3/0/11/0", 2: 0}] */
	expect_cbor(&root, r, 3,
		    "83 a3 21 61 2f 00 65 312f302f31 02 19 012c"
		    " a2 00 65 332f302f30 03 64 41636d65"
		    " a2 00 68 332f302f31312f30 02 00");
}

static void test_encode_values(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_record r;
	static const uint8_t bin[] = {0xfb, 0xff};

	/* prefix {-2: "/9/0/", 0: "1", */
#define PFX "81 a3 21 65 2f392f302f 00 61 31 "
	r = rec(P3(9, 0, 1), LWM_T_INTEGER);
	r.value.v.i = INT64_MIN;
	expect_cbor(&inst, &r, 1, PFX "02 3b 7fffffffffffffff");
	r.value.v.i = -1000; /* RFC 8949 A: 39 03e7 */
	expect_cbor(&inst, &r, 1, PFX "02 39 03e7");
	r.value.v.i = 23;
	expect_cbor(&inst, &r, 1, PFX "02 17");
	r.value.v.i = 24;
	expect_cbor(&inst, &r, 1, PFX "02 18 18");
	r = rec(P3(9, 0, 1), LWM_T_UNSIGNED);
	r.value.v.u = UINT64_MAX;
	expect_cbor(&inst, &r, 1, PFX "02 1b ffffffffffffffff");
	r = rec(P3(9, 0, 1), LWM_T_TIME);
	r.value.v.i = 1363896240; /* RFC 8949 A, without the tag */
	expect_cbor(&inst, &r, 1, PFX "02 1a 514b67b0");
	r = rec(P3(9, 0, 1), LWM_T_FLOAT);
	r.value.v.f = 1.1;
	expect_cbor(&inst, &r, 1, PFX "02 fb 3ff199999999999a");
	r.value.v.f = 100000.0;
	expect_cbor(&inst, &r, 1, PFX "02 fa 47c35000");
	r.value.v.f = -4.0;
	expect_cbor(&inst, &r, 1, PFX "02 f9 c400");
	r = rec(P3(9, 0, 1), LWM_T_BOOLEAN);
	r.value.v.b = true;
	expect_cbor(&inst, &r, 1, PFX "04 f5");
	r.value.v.b = false;
	expect_cbor(&inst, &r, 1, PFX "04 f4");
	r = rec(P3(9, 0, 1), LWM_T_OBJLNK);
	r.value.v.lnk.oid = 65535;
	r.value.v.lnk.iid = 3;
	expect_cbor(&inst, &r, 1, PFX "63 766c6f 67 36353533353a33");
	r = str(P3(9, 0, 1), LWM_T_OPAQUE, (const char *)bin, 2);
	expect_cbor(&inst, &r, 1, PFX "08 42 fbff");
	r = str(P3(9, 0, 1), LWM_T_OPAQUE, "", 0);
	expect_cbor(&inst, &r, 1, PFX "08 40");
	r = str(P3(9, 0, 1), LWM_T_CORELNK, "</3>", 4);
	expect_cbor(&inst, &r, 1, PFX "03 64 3c2f333e");
	r = str(P3(9, 0, 1), LWM_T_STRING, "\xc3\xbc", 2);
	expect_cbor(&inst, &r, 1, PFX "03 62 c3bc");
#undef PFX
}

static void test_encode_rejects(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_buf b;
	struct lwm_record r;

	lwm_buf_init(&b, 0);
	r = rec(P3(9, 0, 1), LWM_T_FLOAT);
	r.value.v.f = NAN;
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -EINVAL);
	r.value.v.f = -INFINITY;
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -EINVAL);
	r = str(P3(9, 0, 1), LWM_T_STRING, "\xc3", 1);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -EINVAL);
	r = rec(P3(9, 0, 1), LWM_T_NONE);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -EINVAL);
	r = rec(P3(8, 0, 1), LWM_T_BOOLEAN); /* outside base */
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm_buf_free(&b);
	lwm_buf_init(&b, 10);
	r = rec(P3(9, 0, 1), LWM_T_BOOLEAN);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, &r, 1, &b), -E2BIG);
	lwm_buf_free(&b);
}

static void test_decode_basic(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_path p5700 = P3(3303, 0, 5700), p5701 = P3(3303, 0, 5701);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n = 99;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(dec_hex(&inst,
				 "82 a3 21 68 2f333330332f302f 00 64 35373030 02 f9 4d60"
				 " a2 00 64 35373031 03 63 43656c",
				 r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(lwm_path_cmp(&r[0].path, &p5700), 0);
	assert_int_equal(r[0].value.type, LWM_T_FLOAT);
	assert_true(r[0].value.v.f == 21.5);
	assert_int_equal(lwm_path_cmp(&r[1].path, &p5701), 0);
	assert_int_equal(r[1].value.type, LWM_T_STRING);
	assert_int_equal(r[1].value.v.bytes.len, 3);
	assert_memory_equal(r[1].value.v.bytes.ptr, "Cel", 3);
	assert_int_equal(scratch.len, 0); /* definite strings stay in the payload */

	/* an integer for a Float resource; single and double floats */
	assert_int_equal(dec_hex(&inst, "81 a2 00 6c 2f333330332f302f35373030 02 18 15", r, 4, &n,
				 &scratch),
			 0);
	assert_true(r[0].value.v.f == 21.0);
	assert_int_equal(dec_hex(&inst, "81 a2 00 6c 2f333330332f302f35373030 02 fa 47c35000", r,
				 4, &n, &scratch),
			 0);
	assert_true(r[0].value.v.f == 100000.0);
	assert_int_equal(dec_hex(&inst, "81 a2 00 6c 2f333330332f302f35373030 02 fb 3ff199999999999a",
				 r, 4, &n, &scratch),
			 0);
	assert_true(r[0].value.v.f == 1.1);
	/* half subnormal (RFC 8949 A: f9 0001 = 5.960464477539063e-8) */
	assert_int_equal(dec_hex(&inst, "81 a2 00 6c 2f333330332f302f35373030 02 f9 0001", r, 4,
				 &n, &scratch),
			 0);
	assert_true(r[0].value.v.f == 5.960464477539063e-8);

	/* indefinite array and maps, labels in any order, bn changing, time
	 * labels and unknown labels ignored, a nested value under one */
	assert_int_equal(dec_hex(&root,
				 "9f"
				 " bf 02 f9 3e00 00 6c 2f333330332f302f35373030 06 20 ff"
				 " bf 21 68 2f333330332f312f 00 64 35373030 02 02 22 18 64"
				 "   17 82 01 a1 01 02 ff"
				 " a2 00 64 35373031 03 60"
				 " a3 21 67 2f392f302f352f 00 61 33 04 f5"
				 " ff",
				 r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].path.id[1], 0);
	assert_true(r[0].value.v.f == 1.5);
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
	assert_int_equal(dec_hex(&inst,
				 "89"
				 " a3 21 65 2f392f302f 00 61 31 03 62 c3bc"    /* "ü" */
				 " a2 00 61 32 02 3b 7fffffffffffffff"        /* INT64_MIN */
				 " a2 00 61 33 02 1b ffffffffffffffff"        /* UINT64_MAX */
				 " a2 00 61 34 02 fb c010666666666666"        /* -4.1 */
				 " a2 00 61 35 04 f4"
				 " a2 00 61 36 08 42 fbff"
				 " a2 00 61 37 02 fa 4ecaa7e2"                /* 1.7e9 */
				 " a2 00 61 38 63 766c6f 67 333a3635353335"    /* "3:65535" */
				 " a2 00 61 39 03 64 3c2f313e",                /* "</1>" */
				 r, 12, &n, &scratch),
			 0);
	assert_int_equal(n, 9);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_int_equal(r[0].value.v.bytes.len, 2);
	assert_memory_equal(r[0].value.v.bytes.ptr, "\xc3\xbc", 2);
	assert_int_equal(r[1].value.type, LWM_T_INTEGER);
	assert_true(r[1].value.v.i == INT64_MIN);
	assert_int_equal(r[2].value.type, LWM_T_UNSIGNED);
	assert_true(r[2].value.v.u == UINT64_MAX);
	assert_int_equal(r[3].value.type, LWM_T_FLOAT);
	assert_true(r[3].value.v.f == -4.1);
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
	assert_memory_equal(r[8].value.v.bytes.ptr, "</1>", 4);

	/* without lookup the label and CBOR type decide */
	uint8_t b[64];
	size_t len = unhex("83 a2 00 66 2f312f322f33 02 05 a2 00 66 2f312f322f34 02 f9 3e00"
			   " a2 00 66 2f312f322f35 08 41 00",
			   b, sizeof(b));
	assert_int_equal(lwm_senml_cbor_decode_ex(&root, b, len, NULL, NULL, r, 12, &n, &scratch),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].value.type, LWM_T_INTEGER);
	assert_int_equal(r[1].value.type, LWM_T_FLOAT);
	assert_int_equal(r[2].value.type, LWM_T_OPAQUE);
	assert_int_equal(r[2].value.v.bytes.len, 1);
	lwm_buf_free(&scratch);
}

/* Strings in indefinite-length chunks end up whole in scratch. */
static void test_decode_indefinite_strings(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 9, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;
	/* RFC 8949 A: (_ "strea", "ming") and (_ h'0102', h'030405'); the
	 * names and vlo chunked too */
	static const char *doc = "83"
				 " a3 21 7f 63 2f392f 62 302f ff 00 61 31"
				 "   03 7f 65 7374726561 64 6d696e67 ff"
				 " a2 00 61 36 08 5f 42 0102 43 030405 ff"
				 " a2 00 7f 61 38 ff 63 766c6f 7f 62 333a 61 34 ff";

	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_buf_append(&scratch, "keep", 4), 0);
	assert_int_equal(dec_hex(&inst, doc, r, 4, &n, &scratch), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(scratch.data, "keep", 4);
	assert_int_equal(r[0].value.type, LWM_T_STRING);
	assert_int_equal(r[0].value.v.bytes.len, 9);
	assert_memory_equal(r[0].value.v.bytes.ptr, "streaming", 9);
	assert_int_equal(r[1].value.type, LWM_T_OPAQUE);
	assert_int_equal(r[1].value.v.bytes.len, 5);
	assert_memory_equal(r[1].value.v.bytes.ptr, "\x01\x02\x03\x04\x05", 5);
	assert_true(r[0].value.v.bytes.ptr >= scratch.data &&
		    r[1].value.v.bytes.ptr + 5 <= scratch.data + scratch.len);
	assert_int_equal(r[2].value.type, LWM_T_OBJLNK);
	assert_int_equal(r[2].value.v.lnk.oid, 3);
	assert_int_equal(r[2].value.v.lnk.iid, 4);
	/* no scratch: -ENOBUFS; empty chunked strings need none */
	assert_int_equal(dec_hex(&inst, doc, r, 4, &n, NULL), -ENOBUFS);
	assert_int_equal(n, 0);
	assert_int_equal(dec_hex(&inst, "81 a3 21 65 2f392f302f 00 61 31 03 7f ff", r, 4, &n, NULL),
			 0);
	assert_int_equal(r[0].value.v.bytes.len, 0);
	/* scratch's own limit */
	lwm_buf_free(&scratch);
	lwm_buf_init(&scratch, 8);
	assert_int_equal(dec_hex(&inst, doc, r, 4, &n, &scratch), -E2BIG);
	lwm_buf_free(&scratch);
}

static void test_decode_coercion_errors(void **state)
{
	/* {0: "/9/0/R", label: value} */
	static const char *const bad[] = {
		"81 a2 00 66 2f392f302f32 02 f9 3e00",       /* Integer, 1.5 */
		"81 a2 00 66 2f392f302f32 02 fb 43e0000000000000", /* Integer, 2^63 */
		"81 a2 00 66 2f392f302f32 02 1b 8000000000000000", /* Integer, 2^63 */
		"81 a2 00 66 2f392f302f32 02 3b 8000000000000000", /* below INT64_MIN */
		"81 a2 00 66 2f392f302f33 02 20",            /* Unsigned, -1 */
		"81 a2 00 66 2f392f302f33 02 f9 b800",       /* Unsigned, -0.5 */
		"81 a2 00 66 2f392f302f37 02 f9 3800",       /* Time, 0.5 */
		"81 a2 00 66 2f392f302f35 02 01",            /* Boolean as a number */
		"81 a2 00 66 2f392f302f35 03 64 74727565",   /* Boolean as a string */
		"81 a2 00 66 2f392f302f32 03 62 3132",       /* Integer as a string */
		"81 a2 00 66 2f392f302f34 04 f5",            /* Float as a boolean */
		"81 a2 00 66 2f392f302f31 08 41 41",         /* String as opaque */
		"81 a2 00 66 2f392f302f36 03 61 41",         /* Opaque as a string */
		"81 a2 00 66 2f392f302f38 03 63 333a30",     /* Objlnk as a string */
		"81 a2 00 66 2f392f302f31 63 766c6f 63 333a30", /* String as objlnk */
		"81 a2 00 66 2f392f302f34 02 f9 7c00",       /* infinity */
		"81 a2 00 66 2f392f302f34 02 f9 7e00",       /* NaN */
	};
	struct lwm_record r[2];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = dec_hex(&root, bad[i], r, 2, &n, &scratch);

		if (got != -EINVAL)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	/* the exact limits are accepted */
	assert_int_equal(dec_hex(&root, "81 a2 00 66 2f392f302f32 02 fb c3e0000000000000", r, 2, &n,
				 &scratch),
			 0);
	assert_true(r[0].value.v.i == INT64_MIN);
	assert_int_equal(dec_hex(&root, "81 a2 00 66 2f392f302f33 02 1b ffffffffffffffff", r, 2, &n,
				 &scratch),
			 0);
	assert_true(r[0].value.v.u == UINT64_MAX);
	assert_int_equal(dec_hex(&root, "81 a2 00 66 2f392f302f32 02 f9 c200", r, 2, &n, &scratch),
			 0);
	assert_true(r[0].value.v.i == -3);
	lwm_buf_free(&scratch);
}

static void test_decode_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"a1 00 61 61",                               /* not an array */
		"61 61",
		"05",
		"81 01",                                     /* not a map */
		"81 80",
		"81 a2 21 68 2f333330332f782f 00 61 31 02 01",  /* bn "/3303/x/" */
		"81 a2 21 05 02 01",                         /* bn not text */
		"81 a2 00 41 31 02 01",                      /* n as bytes */
		"81 a2 00 6c 2f333330332f302f35373030 02 01 ff", /* trailing break */
		"81 a2 00 6d 2f333330332f302f353730302f 02 01", /* n ends in '/' */
		"81 a2 00 60 02 01",                         /* empty name */
		"81 a2 00 67 2f333330332f30 02 01",         /* not a resource */
		"81 a1 02 01",                               /* no name */
		"81 a2 00 6c 2f333330332f312f35373030 02 01", /* outside base */
		"81 a3 00 6c 2f333330332f302f35373030 00 61 31 02 01", /* duplicate label */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 02 02",
		"81 a3 00 6c 2f333330332f302f35373030 02 01 03 61 61", /* two values */
		"81 a1 00 6c 2f333330332f302f35373030",      /* no value */
		"81 a2 00 6c 2f333330332f302f35373030 02 61 31", /* wrong CBOR types */
		"81 a2 00 6c 2f333330332f302f35373031 03 05",
		"81 a2 00 6c 2f333330332f302f35373030 02 f6",
		"81 a2 00 6c 2f333330332f302f35373030 02 f7",
		"81 a2 00 6c 2f333330332f302f35373030 02 81 01",
		"81 a2 00 6c 2f333330332f302f35373030 02 c1 01", /* tagged value */
		"81 a2 00 6c 2f333330332f302f35373030 04 01",
		"81 a2 00 6c 2f333330332f302f35373031 08 61 61",
		"81 a3 00 6c 2f333330332f302f35373030 02 01 06 61 61", /* t not a number */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 24 01", /* bv (base value) */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 25 01", /* bs */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 05 01", /* s */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 62 785f 01", /* "x_" */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 f5 01", /* key not int/text */
		"81 a3 00 6c 2f333330332f302f35373030 02 01 41 00 01",
		"82 a2 00 6c 2f333330332f302f35373030 02 01"
		"   a2 00 6c 2f333330332f302f35373030 02 02", /* dup path */
		"81 a2 00 6c 2f333330332f302f35373030 02 01 00", /* trailing garbage */
		"82 a2 00 6c 2f333330332f302f35373030 02 01", /* truncated */
		"9f a2 00 6c 2f333330332f302f35373030 02 01",
		"81 bf 00 6c 2f333330332f302f35373030 02 01",
		"81 bf 00 6c 2f333330332f302f35373030 02 ff", /* break for a value */
		"81 bf 00 6c 2f333330332f302f35373030 ff",
		"81 a2 00 6c 2f333330332f302f35373031 03 62 c328",   /* invalid UTF-8 */
		"81 a2 00 6c 2f333330332f302f35373031 03 63 eda080", /* surrogate */
		"81 a2 00 6c 2f333330332f302f35373031 03 7f 61 c3 61 bc ff", /* split code point */
		"81 a2 00 6c 2f333330332f302f35373031 03 7f 41 61 ff", /* chunk of bytes */
		"81 a2 00 6c 2f333330332f302f35373031 03 7f 7f ff ff", /* nested indefinite */
		"81 a2 00 6c 2f333330332f302f35373030 02 1c",  /* reserved */
		"81 a2 00 6c 2f333330332f302f35373030 02 f8 20", /* simple value */
		"81 a2 00 6c 2f333330332f302f35373030 02 f0",
		"81 a3 00 6c 2f333330332f302f35373030 02 01 29 c6 01", /* tag 6 */
		"ff",
		"9b ffffffffffffffff",                       /* huge counts */
		"81 bb ffffffffffffffff",
		"81 a2 00 7b ffffffffffffffff 02 01",
		"81 a2 00 6c 2f333330332f302f35373030 02 5b 7fffffffffffffff",
	};
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = dec_hex(&inst, bad[i], r, 4, &n, &scratch);

		if (got != -EBADMSG)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	/* bver, bt, t, ut, u, bu checked and ignored; unknown labels
	 * (integers, text) ignored with whatever value */
	assert_int_equal(dec_hex(&inst,
				 "81 ab 20 0a 22 f9 3e00 00 6c 2f333330332f302f35373030 02 01"
				 " 06 24 07 00 01 63 43656c 23 60 18 63 a1 01 80"
				 " 63 666f6f 82 01 c1 02 38 63 f6",
				 r, 4, &n, &scratch),
			 0);
	assert_int_equal(n, 1);
	/* an empty array is an empty write */
	assert_int_equal(dec_hex(&inst, "80", r, 4, &n, &scratch), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec_hex(&inst, "9f ff", r, 4, &n, &scratch), 0);
	assert_int_equal(n, 0);
	lwm_buf_free(&scratch);
}

static void test_decode_limits(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	size_t n;

	lwm_buf_init(&scratch, 0);
	/* more records than room, definite and indefinite */
	assert_int_equal(dec_hex(&inst, "83 a0 a0 a0", r, 2, &n, &scratch), -E2BIG);
	assert_int_equal(dec_hex(&inst,
				 "9f a2 00 6c 2f333330332f302f35373030 02 01"
				 " a2 00 6c 2f333330332f302f35373031 03 60"
				 " a2 00 6c 2f333330332f302f35373032 02 01 ff",
				 r, 2, &n, &scratch),
			 -E2BIG);
	assert_int_equal(n, 0);
	/* deep nesting under an ignored label: 6 levels fine, 7 too deep */
	assert_int_equal(dec_hex(&inst,
				 "81 a3 00 6c 2f333330332f302f35373030 02 01"
				 " 18 64 81 81 81 81 81 81 01",
				 r, 4, &n, &scratch),
			 0);
	assert_int_equal(dec_hex(&inst,
				 "81 a3 00 6c 2f333330332f302f35373030 02 01"
				 " 18 64 81 81 81 81 81 81 81 01",
				 r, 4, &n, &scratch),
			 -E2BIG);
	assert_int_equal(dec_hex(&inst,
				 "81 a3 00 6c 2f333330332f302f35373030 02 01"
				 " 18 64 9f 9f 9f 9f 9f 9f 9f ff ff ff ff ff ff ff",
				 r, 4, &n, &scratch),
			 -E2BIG);
	/* a long run of array heads is refused early, without recursion */
	uint8_t *deep = malloc(60000);
	assert_non_null(deep);
	memset(deep, 0x81, 60000);
	assert_int_equal(lwm_decode_ex(LWM_FMT_SENML_CBOR, &inst, deep, 60000, test_type, NULL,
				       r, 4, &n, &scratch),
			 -EBADMSG);
	free(deep);

	/* over 64 KiB, even when well-formed; just under is fine */
	size_t hdr = 24, len = 70000;
	uint8_t *big = malloc(len);
	assert_non_null(big);
	/* [{0: "/3303/0/5701", 3: "aaa..."}] with a 4-byte length */
	static const uint8_t h[] = {0x81, 0xa2, 0x00, 0x6c, '/', '3', '3', '0', '3', '/', '0',
				    '/',  '5',  '7',  '0',  '1', 0x03, 0x7a};
	memcpy(big, h, sizeof(h));
	hdr = sizeof(h) + 4;
	for (int pass = 0; pass < 2; pass++) {
		size_t total = pass ? 65536 : len, slen = total - hdr;

		big[sizeof(h)] = (uint8_t)(slen >> 24);
		big[sizeof(h) + 1] = (uint8_t)(slen >> 16);
		big[sizeof(h) + 2] = (uint8_t)(slen >> 8);
		big[sizeof(h) + 3] = (uint8_t)slen;
		memset(big + hdr, 'a', slen);
		assert_int_equal(lwm_decode_ex(LWM_FMT_SENML_CBOR, &inst, big, total, test_type,
					       NULL, r, 4, &n, &scratch),
				 pass ? 0 : -E2BIG);
		if (pass)
			assert_int_equal(r[0].value.v.bytes.len, slen);
	}
	free(big);
	lwm_buf_free(&scratch);
}

static void check_same(const struct lwm_record *got, const struct lwm_record *in, size_t n)
{
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
}

/* Every type: encode, then decode with the resource types. */
static void test_round_trip(void **state)
{
	static const uint8_t bin[] = {0, 1, 2, 0xfe, 0xff, 0x80, 0x3e, 0x3f};
	static const double floats[] = {0.0, -0.0, 1.0 / 3.0, 65504.0, 65505.0, 1e-8,
					5.960464477539063e-8, 3.4028234663852886e38, 1e300,
					-2.5, 0.1};
	struct lwm_path inst = lwm_path_make(2, 9, 4, 0, 0);
	struct lwm_record in[12], got[12];
	struct lwm_buf b, scratch;
	size_t n = 0, cnt;

	in[n] = str(P3(9, 4, LWM_T_STRING), LWM_T_STRING, "x \"\\\x1f\xc3\xa9", 7);
	n++;
	in[n] = rec(P3(9, 4, LWM_T_INTEGER), LWM_T_INTEGER);
	in[n++].value.v.i = INT64_MIN;
	in[n] = rec(P3(9, 4, LWM_T_UNSIGNED), LWM_T_UNSIGNED);
	in[n++].value.v.u = UINT64_MAX;
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
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, in, n, &b), 0);
	assert_int_equal(lwm_decode_ex(LWM_FMT_SENML_CBOR, &inst, b.data, b.len, test_type, NULL,
				       got, 12, &cnt, &scratch),
			 0);
	assert_int_equal(cnt, n);
	check_same(got, in, n);
	/* floats of every width, exactly */
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		in[0] = rec(P3(9, 4, LWM_T_FLOAT), LWM_T_FLOAT);
		in[0].value.v.f = floats[i];
		lwm_buf_reset(&b);
		assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &inst, in, 1, &b), 0);
		assert_int_equal(lwm_decode_ex(LWM_FMT_SENML_CBOR, &inst, b.data, b.len, test_type,
					       NULL, got, 12, &cnt, &scratch),
				 0);
		check_same(got, in, 1);
	}
	lwm_buf_free(&b);
	lwm_buf_free(&scratch);
}

static void test_truncated_and_garbage(void **state)
{
	static const char *doc = "9f a3 21 68 2f333330332f302f 00 64 35373030 02 fb 3ff199999999999a"
				 " bf 00 64 35373031 03 7f 63 43c3a9 61 6c ff ff ff";
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_record r[4];
	struct lwm_buf scratch;
	uint8_t d[128];
	size_t n, dlen = unhex(doc, d, sizeof(d));
	uint32_t x = 7;

	lwm_buf_init(&scratch, 0);
	assert_int_equal(lwm_senml_cbor_decode_ex(&inst, d, dlen, test_type, NULL, r, 4, &n,
						  &scratch),
			 0);
	assert_int_equal(n, 2);
	assert_memory_equal(r[1].value.v.bytes.ptr, "C\xc3\xa9l", 4);
	for (size_t len = 0; len < dlen; len++) {
		uint8_t *c = malloc(len + 1);

		memcpy(c, d, len);
		assert_int_equal(lwm_senml_cbor_decode_ex(&inst, c, len, test_type, NULL, r, 4, &n,
							  &scratch),
				 -EBADMSG);
		assert_int_equal(n, 0);
		free(c);
		lwm_buf_reset(&scratch);
	}
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *m = malloc(dlen);

		memcpy(m, d, dlen);
		for (int k = 0; k < 2; k++) {
			x = x * 1103515245 + 12345;
			m[(x >> 16) % dlen] = (uint8_t)(x >> 8);
		}
		(void)lwm_senml_cbor_decode_ex(&inst, m, dlen, test_type, NULL, r, 4, &n, &scratch);
		free(m);
		lwm_buf_reset(&scratch);
	}
	lwm_buf_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_instance),
		cmocka_unit_test(test_encode_composite),
		cmocka_unit_test(test_encode_values),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_decode_basic),
		cmocka_unit_test(test_decode_types),
		cmocka_unit_test(test_decode_indefinite_strings),
		cmocka_unit_test(test_decode_coercion_errors),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_limits),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, free_held);
}
