/* OMA TLV: byte images checked by hand against the TLV rules, the Device
 * object example of the LwM2M TS, and malformed input. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/codec.h"

#define P3(o, i, r) lwm_path_make(3, o, i, r, 0)
#define P4(o, i, r, ri) lwm_path_make(4, o, i, r, ri)

/* Device object (3) types, as the object table has them. */
static enum lwm_type device_type(const struct lwm_path *p, void *ud)
{
	assert_int_equal(p->len, 3);
	if (p->id[0] != 3)
		return LWM_T_NONE;
	switch (p->id[2]) {
	case 0: case 1: case 2: case 3: case 14: case 15: case 16:
		return LWM_T_STRING;
	case 6: case 7: case 8: case 9: case 10: case 11:
		return LWM_T_INTEGER;
	case 13:
		return LWM_T_TIME;
	default:
		return LWM_T_NONE;
	}
}

/* Tests set the type of every resource through ud. */
static enum lwm_type fixed_type(const struct lwm_path *p, void *ud)
{
	return *(const enum lwm_type *)ud;
}

/* Device instance /3/0, as in the TS's Read example. */
static const uint8_t device_tlv[] = {
	0xC8, 0x00, 0x14, 'O', 'p', 'e', 'n', ' ', 'M', 'o', 'b', 'i', 'l', 'e', ' ', 'A', 'l',
	'l', 'i', 'a', 'n', 'c', 'e',
	0xC8, 0x01, 0x16, 'L', 'i', 'g', 'h', 't', 'w', 'e', 'i', 'g', 'h', 't', ' ', 'M', '2',
	'M', ' ', 'C', 'l', 'i', 'e', 'n', 't',
	0xC8, 0x02, 0x09, '3', '4', '5', '0', '0', '0', '1', '2', '3',
	0xC3, 0x03, '1', '.', '0',
	0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05,
	0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88,
	0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84,
	0xC1, 0x09, 0x64,
	0xC1, 0x0A, 0x0F,
	0x83, 0x0B, 0x41, 0x00, 0x00,
	0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F,
	0xC6, 0x0E, '+', '0', '2', ':', '0', '0',
	0xC1, 0x10, 0x55,
};

static struct lwm_record str_rec(struct lwm_path p, const char *s)
{
	struct lwm_record r = {.path = p, .value = {.type = LWM_T_STRING}};

	r.value.v.bytes.ptr = (const uint8_t *)s;
	r.value.v.bytes.len = strlen(s);
	return r;
}

static struct lwm_record int_rec(struct lwm_path p, enum lwm_type t, int64_t i)
{
	struct lwm_record r = {.path = p, .value = {.type = t}};

	r.value.v.i = i;
	return r;
}

static size_t device_records(struct lwm_record *r)
{
	size_t n = 0;

	r[n++] = str_rec(P3(3, 0, 0), "Open Mobile Alliance");
	r[n++] = str_rec(P3(3, 0, 1), "Lightweight M2M Client");
	r[n++] = str_rec(P3(3, 0, 2), "345000123");
	r[n++] = str_rec(P3(3, 0, 3), "1.0");
	r[n++] = int_rec(P4(3, 0, 6, 0), LWM_T_INTEGER, 1);
	r[n++] = int_rec(P4(3, 0, 6, 1), LWM_T_INTEGER, 5);
	r[n++] = int_rec(P4(3, 0, 7, 0), LWM_T_INTEGER, 3800);
	r[n++] = int_rec(P4(3, 0, 7, 1), LWM_T_INTEGER, 5000);
	r[n++] = int_rec(P4(3, 0, 8, 0), LWM_T_INTEGER, 125);
	r[n++] = int_rec(P4(3, 0, 8, 1), LWM_T_INTEGER, 900);
	r[n++] = int_rec(P3(3, 0, 9), LWM_T_INTEGER, 100);
	r[n++] = int_rec(P3(3, 0, 10), LWM_T_INTEGER, 15);
	r[n++] = int_rec(P4(3, 0, 11, 0), LWM_T_INTEGER, 0);
	r[n++] = int_rec(P3(3, 0, 13), LWM_T_TIME, 1367491215);
	r[n++] = str_rec(P3(3, 0, 14), "+02:00");
	r[n++] = str_rec(P3(3, 0, 16), "U");
	return n;
}

static void assert_records_equal(const struct lwm_record *a, const struct lwm_record *b,
				 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(lwm_path_cmp(&a[i].path, &b[i].path), 0);
		assert_int_equal(a[i].value.type, b[i].value.type);
		switch (a[i].value.type) {
		case LWM_T_STRING:
		case LWM_T_OPAQUE:
		case LWM_T_CORELNK:
			assert_int_equal(a[i].value.v.bytes.len, b[i].value.v.bytes.len);
			assert_memory_equal(a[i].value.v.bytes.ptr, b[i].value.v.bytes.ptr,
					    a[i].value.v.bytes.len);
			break;
		case LWM_T_FLOAT:
			assert_memory_equal(&a[i].value.v.f, &b[i].value.v.f, sizeof(double));
			break;
		case LWM_T_BOOLEAN:
			assert_true(a[i].value.v.b == b[i].value.v.b);
			break;
		case LWM_T_OBJLNK:
			assert_int_equal(a[i].value.v.lnk.oid, b[i].value.v.lnk.oid);
			assert_int_equal(a[i].value.v.lnk.iid, b[i].value.v.lnk.iid);
			break;
		default:
			assert_true(a[i].value.v.u == b[i].value.v.u);
			break;
		}
	}
}

static void test_device_instance_encode(void **state)
{
	struct lwm_record recs[20];
	size_t n = device_records(recs);
	struct lwm_path base = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&base, recs, n, &b), 0);
	assert_int_equal(b.len, sizeof(device_tlv));
	assert_memory_equal(b.data, device_tlv, sizeof(device_tlv));

	/* on the object: the same wrapped in object instance 0 (121 bytes) */
	lwm_buf_reset(&b);
	base.len = 1;
	assert_int_equal(sizeof(device_tlv), 121);
	assert_int_equal(lwm_encode(LWM_FMT_TLV, &base, recs, n, &b), 0);
	assert_int_equal(b.len, 3 + sizeof(device_tlv));
	assert_memory_equal(b.data, "\x08\x00\x79", 3);
	assert_memory_equal(b.data + 3, device_tlv, sizeof(device_tlv));
	lwm_buf_free(&b);
}

static void test_device_instance_decode(void **state)
{
	struct lwm_record expect[20], got[20];
	size_t n = device_records(expect), cnt = 99;
	struct lwm_path base = lwm_path_make(2, 3, 0, 0, 0);

	assert_int_equal(lwm_tlv_decode(&base, device_tlv, sizeof(device_tlv), device_type, NULL,
					got, 20, &cnt),
			 0);
	assert_int_equal(cnt, n);
	assert_records_equal(got, expect, n);
	/* strings borrow from the payload */
	assert_ptr_equal(got[0].value.v.bytes.ptr, device_tlv + 3);

	/* exactly enough room, then one short */
	assert_int_equal(lwm_tlv_decode(&base, device_tlv, sizeof(device_tlv), device_type, NULL,
					got, n, &cnt),
			 0);
	assert_int_equal(lwm_tlv_decode(&base, device_tlv, sizeof(device_tlv), device_type, NULL,
					got, n - 1, &cnt),
			 -E2BIG);
	assert_int_equal(cnt, 0);
}

static void test_multiple_resource(void **state)
{
	static const uint8_t aps[] = {0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05};
	struct lwm_record recs[2] = {
		int_rec(P4(3, 0, 6, 0), LWM_T_INTEGER, 1),
		int_rec(P4(3, 0, 6, 1), LWM_T_INTEGER, 5),
	};
	struct lwm_record got[4];
	struct lwm_path res = P3(3, 0, 6);
	struct lwm_path ri = P4(3, 0, 6, 1);
	struct lwm_buf b;
	size_t cnt;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&res, recs, 2, &b), 0);
	assert_int_equal(b.len, sizeof(aps));
	assert_memory_equal(b.data, aps, sizeof(aps));
	assert_int_equal(lwm_tlv_decode(&res, b.data, b.len, device_type, NULL, got, 4, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_records_equal(got, recs, 2);

	/* bare resource instances addressed to the resource are accepted */
	assert_int_equal(lwm_tlv_decode(&res, aps + 2, 6, device_type, NULL, got, 4, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_records_equal(got, recs, 2);

	/* one resource instance */
	lwm_buf_reset(&b);
	assert_int_equal(lwm_tlv_encode(&ri, &recs[1], 1, &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "\x41\x01\x05", 3);
	assert_int_equal(lwm_tlv_decode(&ri, b.data, b.len, device_type, NULL, got, 4, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_records_equal(got, &recs[1], 1);

	/* 16-bit resource instance id: 0x61 = instance, 16-bit id, length 1 */
	recs[1].path.id[3] = 300;
	lwm_buf_reset(&b);
	assert_int_equal(lwm_tlv_encode(&res, recs, 2, &b), 0);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "\x87\x06\x41\x00\x01\x61\x01\x2c\x05", 9);
	lwm_buf_free(&b);
}

/* Encodes one resource /1/0/5 and compares with the expected bytes. */
static void enc1(const struct lwm_value *v, const uint8_t *expect, size_t len)
{
	struct lwm_record rec = {.path = P3(1, 0, 5), .value = *v}, got;
	struct lwm_path base = rec.path;
	struct lwm_buf b;
	enum lwm_type t = v->type;
	size_t cnt;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&base, &rec, 1, &b), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, expect, len);
	/* and back */
	assert_int_equal(lwm_tlv_decode(&base, b.data, b.len, fixed_type, &t, &got, 1, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_records_equal(&got, &rec, 1);
	lwm_buf_free(&b);
}

#define ENC(v, ...)                                                                          \
	do {                                                                                 \
		static const uint8_t e_[] = {__VA_ARGS__};                                   \
		enc1(&(v), e_, sizeof(e_));                                                  \
	} while (0)

static void test_integer_widths(void **state)
{
	struct lwm_value v = {.type = LWM_T_INTEGER};

	v.v.i = 0;
	ENC(v, 0xC1, 0x05, 0x00);
	v.v.i = 127;
	ENC(v, 0xC1, 0x05, 0x7F);
	v.v.i = -128;
	ENC(v, 0xC1, 0x05, 0x80);
	v.v.i = 128;
	ENC(v, 0xC2, 0x05, 0x00, 0x80);
	v.v.i = -129;
	ENC(v, 0xC2, 0x05, 0xFF, 0x7F);
	v.v.i = 32767;
	ENC(v, 0xC2, 0x05, 0x7F, 0xFF);
	v.v.i = -32768;
	ENC(v, 0xC2, 0x05, 0x80, 0x00);
	v.v.i = 32768;
	ENC(v, 0xC4, 0x05, 0x00, 0x00, 0x80, 0x00);
	v.v.i = -32769;
	ENC(v, 0xC4, 0x05, 0xFF, 0xFF, 0x7F, 0xFF);
	v.v.i = INT32_MAX;
	ENC(v, 0xC4, 0x05, 0x7F, 0xFF, 0xFF, 0xFF);
	v.v.i = INT32_MIN;
	ENC(v, 0xC4, 0x05, 0x80, 0x00, 0x00, 0x00);
	/* 8 bytes no longer fit the 3 length bits: a 1-byte length field */
	v.v.i = 2147483648;
	ENC(v, 0xC8, 0x05, 0x08, 0, 0, 0, 0, 0x80, 0, 0, 0);
	v.v.i = INT64_MIN;
	ENC(v, 0xC8, 0x05, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0);
	v.v.i = INT64_MAX;
	ENC(v, 0xC8, 0x05, 0x08, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
	v.v.i = -1;
	ENC(v, 0xC1, 0x05, 0xFF);

	v.type = LWM_T_TIME;
	v.v.i = 1367491215;
	ENC(v, 0xC4, 0x05, 0x51, 0x82, 0x42, 0x8F);

	/* unsigned: never with the top bit set while a wider size remains */
	v.type = LWM_T_UNSIGNED;
	v.v.u = 127;
	ENC(v, 0xC1, 0x05, 0x7F);
	v.v.u = 128;
	ENC(v, 0xC2, 0x05, 0x00, 0x80);
	v.v.u = 255;
	ENC(v, 0xC2, 0x05, 0x00, 0xFF);
	v.v.u = 65535;
	ENC(v, 0xC4, 0x05, 0x00, 0x00, 0xFF, 0xFF);
	v.v.u = 0x80000000u;
	ENC(v, 0xC8, 0x05, 0x08, 0, 0, 0, 0, 0x80, 0, 0, 0);
	v.v.u = UINT64_MAX;
	ENC(v, 0xC8, 0x05, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
}

static void test_unsigned_vs_signed_decode(void **state)
{
	static const uint8_t ff[] = {0xC1, 0x05, 0xFF};
	static const uint8_t ff2[] = {0xC2, 0x05, 0xFF, 0xFE};
	struct lwm_path base = P3(1, 0, 5);
	struct lwm_record r;
	enum lwm_type t = LWM_T_UNSIGNED;
	size_t cnt;

	assert_int_equal(lwm_tlv_decode(&base, ff, 3, fixed_type, &t, &r, 1, &cnt), 0);
	assert_true(r.value.v.u == 255);
	assert_int_equal(lwm_tlv_decode(&base, ff2, 4, fixed_type, &t, &r, 1, &cnt), 0);
	assert_true(r.value.v.u == 0xFFFE);
	t = LWM_T_INTEGER;
	assert_int_equal(lwm_tlv_decode(&base, ff, 3, fixed_type, &t, &r, 1, &cnt), 0);
	assert_true(r.value.v.i == -1);
	assert_int_equal(lwm_tlv_decode(&base, ff2, 4, fixed_type, &t, &r, 1, &cnt), 0);
	assert_true(r.value.v.i == -2);
}

static void test_floats_and_others(void **state)
{
	struct lwm_value v = {.type = LWM_T_FLOAT};

	/* 21.5 = 1.34375 * 2^4: float 0x41AC0000, exact in 4 bytes */
	v.v.f = 21.5;
	ENC(v, 0xC4, 0x05, 0x41, 0xAC, 0x00, 0x00);
	v.v.f = -0.0;
	ENC(v, 0xC4, 0x05, 0x80, 0x00, 0x00, 0x00);
	v.v.f = FLT_MAX;
	ENC(v, 0xC4, 0x05, 0x7F, 0x7F, 0xFF, 0xFF);
	/* 0.1 is not a float: 8 bytes, 0x3FB999999999999A */
	v.v.f = 0.1;
	ENC(v, 0xC8, 0x05, 0x08, 0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A);
	/* beyond float range: 8 bytes (1e39 = 0x480783E2F3F9AB7B? checked by round trip) */
	struct lwm_record rec = {.path = P3(1, 0, 5), .value = {.type = LWM_T_FLOAT}};
	struct lwm_buf b;
	rec.value.v.f = 1e39;
	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&rec.path, &rec, 1, &b), 0);
	assert_int_equal(b.len, 11);
	lwm_buf_free(&b);

	v.type = LWM_T_BOOLEAN;
	v.v.b = true;
	ENC(v, 0xC1, 0x05, 0x01);
	v.v.b = false;
	ENC(v, 0xC1, 0x05, 0x00);
	v.type = LWM_T_OBJLNK;
	v.v.lnk.oid = 3, v.v.lnk.iid = 0;
	ENC(v, 0xC4, 0x05, 0x00, 0x03, 0x00, 0x00);
	v.v.lnk.oid = 0x1234, v.v.lnk.iid = 0xFFFF;
	ENC(v, 0xC4, 0x05, 0x12, 0x34, 0xFF, 0xFF);
	v.type = LWM_T_OPAQUE;
	v.v.bytes.ptr = (const uint8_t *)"\x00\xff";
	v.v.bytes.len = 2;
	ENC(v, 0xC2, 0x05, 0x00, 0xFF);
	v.v.bytes.len = 0;
	ENC(v, 0xC0, 0x05);
	v.type = LWM_T_CORELNK;
	v.v.bytes.ptr = (const uint8_t *)"</3>";
	v.v.bytes.len = 4;
	ENC(v, 0xC4, 0x05, '<', '/', '3', '>');
	v.type = LWM_T_STRING;
	v.v.bytes.ptr = (const uint8_t *)"";
	v.v.bytes.len = 0;
	ENC(v, 0xC0, 0x05);
}

/* The sensor value of an IPSO temperature object: 16-bit resource id. */
static void test_16bit_ids_and_lengths(void **state)
{
	struct lwm_record rec = {.path = P3(3303, 0, 5700), .value = {.type = LWM_T_FLOAT}};
	struct lwm_path inst = lwm_path_make(2, 3303, 0, 0, 0);
	struct lwm_buf b;
	static uint8_t big[70000];
	struct lwm_record got;
	enum lwm_type t = LWM_T_OPAQUE;
	size_t cnt;

	rec.value.v.f = 31.0;
	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&inst, &rec, 1, &b), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "\xE4\x16\x44\x41\xF8\x00\x00", 7);

	/* length fields of 1, 2 and 3 bytes */
	memset(big, 'x', sizeof(big));
	rec.value.type = LWM_T_OPAQUE;
	rec.value.v.bytes.ptr = big;
	static const struct {
		size_t len;
		const char *hdr;
		size_t hlen;
	} cases[] = {
		{7, "\xE7\x16\x44", 3},
		{8, "\xE8\x16\x44\x08", 4},
		{255, "\xE8\x16\x44\xFF", 4},
		{256, "\xF0\x16\x44\x01\x00", 5},
		{65535, "\xF0\x16\x44\xFF\xFF", 5},
		{65536, "\xF8\x16\x44\x01\x00\x00", 6},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rec.value.v.bytes.len = cases[i].len;
		lwm_buf_reset(&b);
		assert_int_equal(lwm_tlv_encode(&inst, &rec, 1, &b), 0);
		assert_int_equal(b.len, cases[i].hlen + cases[i].len);
		assert_memory_equal(b.data, cases[i].hdr, cases[i].hlen);
		assert_int_equal(lwm_tlv_decode(&inst, b.data, b.len, fixed_type, &t, &got, 1, &cnt),
				 0);
		assert_int_equal(got.value.v.bytes.len, cases[i].len);
		assert_ptr_equal(got.value.v.bytes.ptr, b.data + cases[i].hlen);
	}

	/* an object instance whose content needs a 2-byte length */
	struct lwm_path obj = lwm_path_make(1, 3303, 0, 0, 0);
	rec.value.v.bytes.len = 300;
	lwm_buf_reset(&b);
	assert_int_equal(lwm_tlv_encode(&obj, &rec, 1, &b), 0);
	assert_int_equal(b.len, 4 + 5 + 300);
	assert_memory_equal(b.data, "\x10\x00\x01\x31\xF0\x16\x44\x01\x2C", 9);
	lwm_buf_free(&b);
}

static void test_object_level(void **state)
{
	struct lwm_record recs[4] = {
		int_rec(P3(3303, 0, 5700), LWM_T_INTEGER, 1),
		int_rec(P3(3303, 0, 5701), LWM_T_INTEGER, 2),
		int_rec(P3(3303, 2, 5700), LWM_T_INTEGER, 3),
		int_rec(P4(3303, 2, 5800, 4), LWM_T_INTEGER, 4),
	};
	static const uint8_t expect[] = {
		0x08, 0x00, 0x08, 0xE1, 0x16, 0x44, 0x01, 0xE1, 0x16, 0x45, 0x02,
		0x08, 0x02, 0x0A, 0xE1, 0x16, 0x44, 0x03, 0xA3, 0x16, 0xA8, 0x41, 0x04, 0x04,
	};
	struct lwm_path obj = lwm_path_make(1, 3303, 0, 0, 0);
	struct lwm_record got[4];
	enum lwm_type t = LWM_T_INTEGER;
	struct lwm_buf b;
	size_t cnt;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&obj, recs, 4, &b), 0);
	assert_int_equal(b.len, sizeof(expect));
	assert_memory_equal(b.data, expect, sizeof(expect));
	assert_int_equal(lwm_tlv_decode(&obj, b.data, b.len, fixed_type, &t, got, 4, &cnt), 0);
	assert_int_equal(cnt, 4);
	assert_records_equal(got, recs, 4);
	lwm_buf_free(&b);

	/* Create on the object with bare resources: the client picks the iid */
	assert_int_equal(lwm_tlv_decode(&obj, expect + 3, 8, fixed_type, &t, got, 4, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(got[0].path.len, 3);
	assert_int_equal(got[0].path.id[1], LWM_ID_NONE);
	assert_int_equal(got[1].path.id[2], 5701);

	/* an instance wrapper addressed to its own instance is accepted */
	struct lwm_path i2 = lwm_path_make(2, 3303, 2, 0, 0);
	assert_int_equal(lwm_tlv_decode(&i2, expect + 11, 13, fixed_type, &t, got, 4, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_records_equal(got, recs + 2, 2);
	struct lwm_path i1 = lwm_path_make(2, 3303, 1, 0, 0);
	assert_int_equal(lwm_tlv_decode(&i1, expect + 11, 13, fixed_type, &t, got, 4, &cnt),
			 -EBADMSG);
	/* but not two of them */
	assert_int_equal(lwm_tlv_decode(&i2, expect, sizeof(expect), fixed_type, &t, got, 4, &cnt),
			 -EBADMSG);
	/* empty payloads: nothing to write */
	assert_int_equal(lwm_tlv_decode(&obj, NULL, 0, fixed_type, &t, got, 4, &cnt), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(lwm_tlv_decode(&i2, NULL, 0, fixed_type, &t, got, 4, &cnt), 0);
	assert_int_equal(cnt, 0);
}

static void test_unknown_type_is_opaque(void **state)
{
	static const uint8_t p[] = {0xC2, 0x63, 0x01, 0x02}; /* /3/0/99 */
	struct lwm_path base = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record r;
	size_t cnt;

	assert_int_equal(lwm_tlv_decode(&base, p, sizeof(p), device_type, NULL, &r, 1, &cnt), 0);
	assert_int_equal(r.value.type, LWM_T_OPAQUE);
	assert_int_equal(r.value.v.bytes.len, 2);
	assert_int_equal(lwm_tlv_decode(&base, p, sizeof(p), NULL, NULL, &r, 1, &cnt), 0);
	assert_int_equal(r.value.type, LWM_T_OPAQUE);
	assert_int_equal(r.path.len, 3);
	assert_int_equal(r.path.id[2], 99);
}

static int dec_copy(const struct lwm_path *base, const uint8_t *p, size_t len,
		    lwm_type_lookup_fn lookup, void *ud)
{
	/* exact-size heap copy, so ASan sees any read past the end */
	uint8_t *c = malloc(len ? len : 1);
	struct lwm_record recs[32];
	size_t cnt = 77;
	int r;

	assert_non_null(c);
	if (len)
		memcpy(c, p, len);
	r = lwm_tlv_decode(base, c, len, lookup, ud, recs, 32, &cnt);
	if (r)
		assert_int_equal(cnt, 0);
	else
		assert_true(cnt <= 32);
	free(c);
	return r;
}

static void test_truncated(void **state)
{
	uint8_t wrapped[3 + sizeof(device_tlv)];
	struct lwm_path obj = lwm_path_make(1, 3, 0, 0, 0);
	struct lwm_path res = P3(3, 0, 0);
	struct lwm_path multi = P3(3, 0, 7);

	memcpy(wrapped, "\x08\x00\x79", 3);
	memcpy(wrapped + 3, device_tlv, sizeof(device_tlv));
	assert_int_equal(dec_copy(&obj, wrapped, sizeof(wrapped), device_type, NULL), 0);
	/* the instance wrapper makes every cut detectable */
	for (size_t len = 1; len < sizeof(wrapped); len++) {
		if (dec_copy(&obj, wrapped, len, device_type, NULL) != -EBADMSG)
			fail_msg("cut at %zu accepted", len);
	}
	for (size_t len = 0; len < 23; len++)
		assert_int_equal(dec_copy(&res, device_tlv, len, device_type, NULL), -EBADMSG);
	assert_int_equal(dec_copy(&res, device_tlv, 23, device_type, NULL), 0);
	/* Power Source Voltage: 88 07 08 ... */
	const uint8_t *psv = device_tlv + 73;
	assert_int_equal(psv[0], 0x88);
	assert_int_equal(dec_copy(&multi, psv, 11, device_type, NULL), 0);
	for (size_t len = 0; len < 11; len++)
		assert_int_equal(dec_copy(&multi, psv, len, device_type, NULL), -EBADMSG);
}

#define BAD(base, err, ...)                                                                  \
	do {                                                                                 \
		static const uint8_t b_[] = {__VA_ARGS__};                                   \
		int r_ = dec_copy(&(base), b_, sizeof(b_), fixed_type, &t);                  \
		if (r_ != (err))                                                             \
			fail_msg("line %d: got %d, want %d", __LINE__, r_, err);              \
	} while (0)

static void test_malformed(void **state)
{
	struct lwm_path obj = lwm_path_make(1, 3, 0, 0, 0);
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_path res = P3(3, 0, 6);
	struct lwm_path ri = P4(3, 0, 6, 1);
	enum lwm_type t = LWM_T_INTEGER;

	/* lengths past the end, in each length field size */
	BAD(inst, -EBADMSG, 0xC3, 0x00, 0x01, 0x02);
	BAD(inst, -EBADMSG, 0xC8, 0x00, 0x14, 'a');
	BAD(inst, -EBADMSG, 0xD0, 0x00, 0xFF, 0xFF, 0x00);
	BAD(inst, -EBADMSG, 0xD8, 0x00, 0xFF, 0xFF, 0xFF, 0x00);
	BAD(inst, -EBADMSG, 0xD8, 0x00, 0xFF);       /* length field cut */
	BAD(inst, -EBADMSG, 0xE1, 0x16);             /* 16-bit id cut */
	BAD(inst, -EBADMSG, 0xC1);                   /* id missing */
	BAD(inst, -EBADMSG, 0xC1, 0x00, 0x01, 0xC1); /* trailing half entry */
	/* a child running past its parent */
	BAD(obj, -EBADMSG, 0x02, 0x00, 0xC1, 0x00, 0x05);
	BAD(inst, -EBADMSG, 0x83, 0x06, 0x41, 0x00, 0x02, 0x01);
	BAD(inst, -EBADMSG, 0x82, 0x06, 0x41, 0x00, 0x01);
	/* wrong nesting */
	BAD(inst, -EBADMSG, 0x41, 0x00, 0x01);                   /* instance at top */
	BAD(obj, -EBADMSG, 0x03, 0x00, 0x41, 0x00, 0x01);        /* ...in an object instance */
	BAD(obj, -EBADMSG, 0x05, 0x00, 0x03, 0x01, 0xC1, 0x00, 0x01); /* instance in instance */
	BAD(inst, -EBADMSG, 0x83, 0x06, 0xC1, 0x00, 0x01);       /* resource in multiple */
	BAD(inst, -EBADMSG, 0x83, 0x06, 0x01, 0x00, 0x01);       /* instance in multiple */
	BAD(obj, -EBADMSG, 0x00, 0x00, 0xC1, 0x00, 0x01);        /* instance, then bare resource */
	BAD(res, -EBADMSG, 0x03, 0x06, 0xC1, 0x06, 0x01);        /* instance at resource */
	BAD(ri, -EBADMSG, 0xC1, 0x06, 0x01);                     /* resource at instance */
	/* ids not matching the path */
	BAD(res, -EBADMSG, 0xC1, 0x07, 0x01);
	BAD(res, -EBADMSG, 0x83, 0x07, 0x41, 0x00, 0x01);
	BAD(ri, -EBADMSG, 0x41, 0x02, 0x01);
	BAD(res, -EBADMSG, 0xC1, 0x06, 0x01, 0xC1, 0x06, 0x01); /* two at a resource */
	BAD(ri, -EBADMSG, 0x41, 0x01, 0x01, 0x41, 0x01, 0x01);
	/* reserved id 65535 */
	BAD(inst, -EBADMSG, 0xE1, 0xFF, 0xFF, 0x01);
	/* duplicates */
	BAD(inst, -EBADMSG, 0xC1, 0x05, 0x01, 0xC1, 0x05, 0x02);
	BAD(inst, -EBADMSG, 0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x00, 0x05);
	BAD(inst, -EBADMSG, 0xC1, 0x06, 0x01, 0x83, 0x06, 0x41, 0x00, 0x01);
	BAD(obj, -EBADMSG, 0x03, 0x00, 0xC1, 0x00, 0x01, 0x03, 0x00, 0xC1, 0x00, 0x01);
	/* integer sizes other than 1, 2, 4, 8 */
	BAD(inst, -EBADMSG, 0xC0, 0x05);
	BAD(inst, -EBADMSG, 0xC3, 0x05, 0x00, 0x00, 0x01);
	BAD(inst, -EBADMSG, 0xC5, 0x05, 0, 0, 0, 0, 1);
	BAD(inst, -EBADMSG, 0xC8, 0x05, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 1);
	t = LWM_T_UNSIGNED;
	BAD(inst, -EBADMSG, 0xC3, 0x05, 0x00, 0x00, 0x01);
	t = LWM_T_TIME;
	BAD(inst, -EBADMSG, 0xC6, 0x05, 0, 0, 0, 0, 0, 1);
	/* float sizes other than 4, 8; non-finite floats */
	t = LWM_T_FLOAT;
	BAD(inst, -EBADMSG, 0xC2, 0x05, 0x41, 0xAC);
	BAD(inst, -EBADMSG, 0xC1, 0x05, 0x41);
	BAD(inst, -EINVAL, 0xC4, 0x05, 0x7F, 0xC0, 0x00, 0x00);
	BAD(inst, -EINVAL, 0xC4, 0x05, 0xFF, 0x80, 0x00, 0x00);
	BAD(inst, -EINVAL, 0xC8, 0x05, 0x08, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0);
	/* booleans: one byte, 0 or 1 */
	t = LWM_T_BOOLEAN;
	BAD(inst, -EBADMSG, 0xC1, 0x05, 0x02);
	BAD(inst, -EBADMSG, 0xC1, 0x05, 0xFF);
	BAD(inst, -EBADMSG, 0xC2, 0x05, 0x00, 0x01);
	BAD(inst, -EBADMSG, 0xC0, 0x05);
	/* object links: 4 bytes */
	t = LWM_T_OBJLNK;
	BAD(inst, -EBADMSG, 0xC3, 0x05, 0x00, 0x03, 0x00);
	BAD(inst, -EBADMSG, 0xC5, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00);
	/* strings must be UTF-8 */
	t = LWM_T_STRING;
	BAD(inst, -EINVAL, 0xC2, 0x05, 0xC0, 0x80);
	BAD(inst, -EINVAL, 0xC1, 0x05, 0xFF);
	t = LWM_T_OPAQUE;
	BAD(inst, 0, 0xC2, 0x05, 0xC0, 0x80);
	/* TLV cannot address the root */
	struct lwm_path root = lwm_path_make(0, 0, 0, 0, 0);
	BAD(root, -ENOTSUP, 0xC1, 0x05, 0x01);
}

static void test_too_many_records(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_record recs[3];
	enum lwm_type t = LWM_T_INTEGER;
	size_t cnt;
	static const uint8_t p[] = {0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05,
				    0xC1, 0x07, 0x01, 0xC1, 0x08, 0x01};

	assert_int_equal(lwm_tlv_decode(&inst, p, sizeof(p), fixed_type, &t, recs, 3, &cnt),
			 -E2BIG);
	assert_int_equal(lwm_tlv_decode(&inst, p, 11, fixed_type, &t, recs, 3, &cnt), 0);
	assert_int_equal(cnt, 3);
	assert_int_equal(lwm_tlv_decode(&inst, p, sizeof(p), fixed_type, &t, recs, 0, &cnt),
			 -E2BIG);
}

static void test_encode_rejects(void **state)
{
	struct lwm_path inst = lwm_path_make(2, 3, 0, 0, 0);
	struct lwm_path root = lwm_path_make(0, 0, 0, 0, 0);
	struct lwm_path ri = P4(3, 0, 6, 0);
	struct lwm_record r[2] = {
		int_rec(P3(3, 0, 9), LWM_T_INTEGER, 1),
		int_rec(P3(3, 0, 10), LWM_T_INTEGER, 2),
	};
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_tlv_encode(&root, r, 2, &b), -ENOTSUP);
	/* unsorted, duplicated, outside base, not a resource */
	struct lwm_record sw[2] = {r[1], r[0]};
	assert_int_equal(lwm_tlv_encode(&inst, sw, 2, &b), -EINVAL);
	struct lwm_record dup[2] = {r[0], r[0]};
	assert_int_equal(lwm_tlv_encode(&inst, dup, 2, &b), -EINVAL);
	struct lwm_record out = int_rec(P3(4, 0, 1), LWM_T_INTEGER, 1);
	assert_int_equal(lwm_tlv_encode(&inst, &out, 1, &b), -EINVAL);
	struct lwm_record lvl = {.path = lwm_path_make(2, 3, 0, 0, 0)};
	assert_int_equal(lwm_tlv_encode(&inst, &lvl, 1, &b), -EINVAL);
	/* single and multiple at once */
	struct lwm_record mix[2] = {r[0], int_rec(P4(3, 0, 9, 0), LWM_T_INTEGER, 1)};
	assert_int_equal(lwm_tlv_encode(&inst, mix, 2, &b), -EINVAL);
	/* values TLV cannot carry */
	struct lwm_record bad = {.path = P3(3, 0, 9), .value = {.type = LWM_T_NONE}};
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), -EINVAL);
	bad.value.type = LWM_T_FLOAT;
	bad.value.v.f = NAN;
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), -EINVAL);
	bad.value.type = LWM_T_OPAQUE;
	bad.value.v.bytes.ptr = (const uint8_t *)"";
	bad.value.v.bytes.len = 0x1000000;
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), -EINVAL);
	/* a String that is not UTF-8 (issue 16, item 15) */
	bad.value.type = LWM_T_STRING;
	bad.value.v.bytes.ptr = (const uint8_t *)"a\xc3";
	bad.value.v.bytes.len = 2;
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), -EINVAL);
	bad.value.type = LWM_T_CORELNK;
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), -EINVAL);
	bad.value.type = LWM_T_OPAQUE; /* the same bytes are fine as opaque */
	assert_int_equal(lwm_tlv_encode(&inst, &bad, 1, &b), 0);
	lwm_buf_reset(&b);
	/* a resource instance base takes exactly its record */
	struct lwm_record two[2] = {int_rec(P4(3, 0, 6, 0), LWM_T_INTEGER, 1),
				    int_rec(P4(3, 0, 6, 1), LWM_T_INTEGER, 1)};
	assert_int_equal(lwm_tlv_encode(&ri, two, 2, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	/* the output limit surfaces as -E2BIG */
	lwm_buf_free(&b);
	lwm_buf_init(&b, 4);
	assert_int_equal(lwm_tlv_encode(&inst, r, 2, &b), -E2BIG);
	lwm_buf_free(&b);
}

static enum lwm_type id_type(const struct lwm_path *p, void *ud)
{
	return (enum lwm_type)p->id[2];
}

/* Every type through encode and decode at each base level. */
static void test_round_trip_all_types(void **state)
{
	static const uint8_t bin[] = {0xde, 0xad, 0xbe, 0xef};
	struct lwm_record in[12], got[12];
	struct lwm_buf b;
	size_t n = 0, cnt;

	in[n] = int_rec(P3(9, 1, LWM_T_STRING), LWM_T_STRING, 0);
	in[n].value.v.bytes.ptr = (const uint8_t *)"caf\xc3\xa9";
	in[n++].value.v.bytes.len = 5;
	in[n++] = int_rec(P3(9, 1, LWM_T_INTEGER), LWM_T_INTEGER, -123456789);
	in[n] = int_rec(P3(9, 1, LWM_T_UNSIGNED), LWM_T_UNSIGNED, 0);
	in[n++].value.v.u = 0x8000000000000000u;
	in[n] = int_rec(P3(9, 1, LWM_T_FLOAT), LWM_T_FLOAT, 0);
	in[n++].value.v.f = -273.15;
	in[n] = int_rec(P3(9, 1, LWM_T_BOOLEAN), LWM_T_BOOLEAN, 0);
	in[n++].value.v.b = true;
	in[n] = int_rec(P3(9, 1, LWM_T_OPAQUE), LWM_T_OPAQUE, 0);
	in[n].value.v.bytes.ptr = bin;
	in[n++].value.v.bytes.len = sizeof(bin);
	in[n++] = int_rec(P3(9, 1, LWM_T_TIME), LWM_T_TIME, 4102444800);
	in[n] = int_rec(P4(9, 1, LWM_T_OBJLNK, 0), LWM_T_OBJLNK, 0);
	in[n].value.v.lnk.oid = 3, in[n++].value.v.lnk.iid = 0;
	in[n] = int_rec(P4(9, 1, LWM_T_OBJLNK, 1), LWM_T_OBJLNK, 0);
	in[n].value.v.lnk.oid = 65535, in[n++].value.v.lnk.iid = 65535;
	in[n] = int_rec(P3(9, 1, LWM_T_CORELNK), LWM_T_CORELNK, 0);
	in[n].value.v.bytes.ptr = (const uint8_t *)"</3/0>";
	in[n++].value.v.bytes.len = 6;

	/* resource id = its type: the lookup is the identity */
	lwm_buf_init(&b, 0);
	for (uint8_t level = 1; level <= 2; level++) {
		struct lwm_path base = lwm_path_make(level, 9, 1, 0, 0);
		lwm_buf_reset(&b);
		assert_int_equal(lwm_encode(LWM_FMT_TLV, &base, in, n, &b), 0);
		assert_int_equal(lwm_decode(LWM_FMT_TLV, &base, b.data, b.len, id_type, NULL, got,
					    12, &cnt),
				 0);
		assert_int_equal(cnt, n);
		assert_records_equal(got, in, n);
		assert_int_equal(lwm_decode(LWM_FMT_TLV, &base, b.data, b.len, NULL, NULL, got, 12,
					    &cnt),
				 0);
		assert_int_equal(cnt, n);
		/* without lookup every value is raw opaque */
		for (size_t i = 0; i < n; i++)
			assert_int_equal(got[i].value.type, LWM_T_OPAQUE);
	}
	for (size_t i = 0; i < n; i++) {
		enum lwm_type t = in[i].value.type;
		struct lwm_path base = in[i].path;

		base.len = 3;
		lwm_buf_reset(&b);
		assert_int_equal(lwm_encode(LWM_FMT_TLV, &base, &in[i],
					    t == LWM_T_OBJLNK ? 2 : 1, &b),
				 0);
		assert_int_equal(lwm_decode(LWM_FMT_TLV, &base, b.data, b.len, fixed_type, &t, got,
					    12, &cnt),
				 0);
		assert_int_equal(cnt, t == LWM_T_OBJLNK ? 2 : 1);
		assert_records_equal(got, &in[i], cnt);
		if (t == LWM_T_OBJLNK)
			i++;
	}
	lwm_buf_free(&b);
}

static enum lwm_type mixed_type(const struct lwm_path *p, void *ud)
{
	return (enum lwm_type)(p->id[2] % 10);
}

/* Random and mutated payloads: any answer is fine, a crash is not. */
static void test_garbage(void **state)
{
	static const struct lwm_path bases[] = {
		{{3, 0, 0, 0}, 1}, {{3, 0, 0, 0}, 2}, {{3, 0, 6, 0}, 3}, {{3, 0, 6, 1}, 4}};
	uint8_t buf[64];
	uint32_t x = 12345;

	for (int iter = 0; iter < 50000; iter++) {
		size_t len;

		x = x * 1103515245 + 12345;
		len = (x >> 16) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			buf[i] = (uint8_t)(x >> 16);
		}
		dec_copy(&bases[iter & 3], buf, len, mixed_type, NULL);
	}
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t m[sizeof(device_tlv)];

		memcpy(m, device_tlv, sizeof(m));
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245 + 12345;
			m[(x >> 16) % sizeof(m)] ^= (uint8_t)(1u << ((x >> 8) & 7));
		}
		dec_copy(&bases[1], m, sizeof(m), device_type, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_instance_encode),
		cmocka_unit_test(test_device_instance_decode),
		cmocka_unit_test(test_multiple_resource),
		cmocka_unit_test(test_integer_widths),
		cmocka_unit_test(test_unsigned_vs_signed_decode),
		cmocka_unit_test(test_floats_and_others),
		cmocka_unit_test(test_16bit_ids_and_lengths),
		cmocka_unit_test(test_object_level),
		cmocka_unit_test(test_unknown_type_is_opaque),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_many_records),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_round_trip_all_types),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
