/* SenML path lists (Read-Composite / Observe-Composite FETCH bodies,
 * Write-Composite iPATCH names) in JSON and CBOR, and composite payloads:
 * records from several objects encoded from the root and decoded back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/codec.h"

static const struct lwm_path root = {{0, 0, 0, 0}, 0};

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

/* Exact-size heap copies: ASan sees any read past the end. */
static int paths_json(const char *json, struct lwm_path *paths, size_t max, size_t *n)
{
	size_t len = strlen(json);
	uint8_t *c = malloc(len ? len : 1);
	int r;

	assert_non_null(c);
	memcpy(c, json, len);
	r = lwm_senml_paths_decode(LWM_FMT_SENML_JSON, c, len, paths, max, n);
	free(c);
	return r;
}

static int paths_cbor(uint16_t format, const char *hex, struct lwm_path *paths, size_t max,
		      size_t *n)
{
	uint8_t tmp[512];
	size_t len = unhex(hex, tmp, sizeof(tmp));
	uint8_t *c = malloc(len ? len : 1);
	int r;

	assert_non_null(c);
	memcpy(c, tmp, len);
	r = lwm_senml_paths_decode(format, c, len, paths, max, n);
	free(c);
	return r;
}

static void expect_path(const struct lwm_path *got, const char *want)
{
	char buf[32];

	assert_true(lwm_path_format(got, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, want);
}

static void test_json_lists(void **state)
{
	struct lwm_path p[8];
	size_t n = 99;

	/* the FETCH body of a Read-Composite */
	assert_int_equal(paths_json("[{\"n\":\"/3/0/0\"},{\"bn\":\"/3303/0/\",\"n\":\"5700\"}]", p,
				    8, &n),
			 0);
	assert_int_equal(n, 2);
	expect_path(&p[0], "/3/0/0");
	expect_path(&p[1], "/3303/0/5700");
	/* every level; a trailing '/' names the level above; bn carries over;
	 * a bn-only record; values (Write-Composite) skipped */
	assert_int_equal(paths_json("[{\"n\":\"/3\"},{\"n\":\"/3/0/\"},{\"n\":\"/\"},"
				    "{\"n\":\"/3/0/11/0\"},{\"bn\":\"/1/0/\"},{\"n\":\"1\",\"v\":5},"
				    "{\"bn\":\"/5/\",\"n\":\"0/\",\"vs\":\"x\"},{\"bn\":\"/\",\"n\":\"3/0/0\"}]",
				    p, 8, &n),
			 0);
	assert_int_equal(n, 8);
	expect_path(&p[0], "/3");
	expect_path(&p[1], "/3/0");
	assert_int_equal(p[2].len, 0);
	expect_path(&p[3], "/3/0/11/0");
	expect_path(&p[4], "/1/0");
	expect_path(&p[5], "/1/0/1");
	expect_path(&p[6], "/5/0");
	expect_path(&p[7], "/3/0/0");
	/* the ETCH format number works too; an empty list is empty */
	static const char etch[] = "[{\"n\":\"/3/0\"}]";
	assert_int_equal(lwm_senml_paths_decode(LWM_FMT_SENML_ETCH_JSON, (const uint8_t *)etch,
						sizeof(etch) - 1, p, 8, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(paths_json("[]", p, 8, &n), 0);
	assert_int_equal(n, 0);
}

static void test_json_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"{\"n\":\"/3\"}",
		"[1]",
		"[{}]",                          /* no name */
		"[{\"n\":\"\"}]",
		"[{\"n\":\"3/0\"}]",             /* relative without bn */
		"[{\"n\":\"/3//\"}]",
		"[{\"n\":\"/3/0/1/2/3\"}]",      /* too deep */
		"[{\"n\":\"/65535\"}]",
		"[{\"n\":\"/x\"}]",
		"[{\"n\":5}]",
		"[{\"bn\":5,\"n\":\"/3\"}]",
		"[{\"n\":\"/3\",\"x_\":1}]",     /* must-understand key */
		"[{\"n\":\"/3\"}",               /* truncated */
		"[{\"n\":\"/3\"}] 1",
		"[{\"n\":\"/3\",\"n\":\"/4\"}]", /* duplicate key */
	};
	struct lwm_path p[4];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = paths_json(bad[i], p, 4, &n);

		if (got != -EBADMSG)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	assert_int_equal(paths_json("[{\"n\":\"/1\"},{\"n\":\"/2\"},{\"n\":\"/3\"}]", p, 2, &n),
			 -E2BIG);
	assert_int_equal(paths_json("[[[[[[[[[[1]]]]]]]]]]", p, 4, &n), -E2BIG);
	assert_int_equal(n, 0);
	static const char one[] = "[{\"n\":\"/3\"}]";
	assert_int_equal(lwm_senml_paths_decode(LWM_FMT_TLV, (const uint8_t *)one, sizeof(one) - 1,
						p, 4, &n),
			 -ENOTSUP);
	/* over 64 KiB */
	size_t len = 70000;
	char *big = malloc(len + 1);
	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, one, sizeof(one) - 1);
	big[len] = '\0';
	assert_int_equal(paths_json(big, p, 4, &n), -E2BIG);
	free(big);
}

static void test_cbor_lists(void **state)
{
	struct lwm_path p[8];
	size_t n;

	/* [{0: "/3/0/0"}, {-2: "/3303/0/", 0: "5700"}] */
	assert_int_equal(paths_cbor(LWM_FMT_SENML_CBOR,
				    "82 a1 00 66 2f332f302f30 a2 21 68 2f333330332f302f 00 64 35373030",
				    p, 8, &n),
			 0);
	assert_int_equal(n, 2);
	expect_path(&p[0], "/3/0/0");
	expect_path(&p[1], "/3303/0/5700");
	/* indefinite array, levels, trailing '/', values skipped */
	assert_int_equal(paths_cbor(LWM_FMT_SENML_ETCH_CBOR,
				    "9f a1 00 62 2f33 a1 00 65 2f332f302f a1 00 61 2f"
				    " a2 00 66 2f312f302f31 02 82 01 02"
				    " a2 21 63 2f352f 00 7f 61 30 61 2f ff ff",
				    p, 8, &n),
			 0);
	assert_int_equal(n, 5);
	expect_path(&p[0], "/3");
	expect_path(&p[1], "/3/0");
	assert_int_equal(p[2].len, 0);
	expect_path(&p[3], "/1/0/1");
	expect_path(&p[4], "/5/0");
}

static void test_cbor_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"a1 00 62 2f33",                /* not an array */
		"81 01",
		"81 a0",                        /* no name */
		"81 a1 00 60",
		"81 a1 00 62 3300",
		"81 a1 00 41 2f",               /* name as bytes */
		"81 a1 00 6a 2f332f302f312f322f33", /* too deep */
		"81 a1 00 62 2f33 00",          /* trailing */
		"82 a1 00 62 2f33",             /* truncated */
		"81 a2 00 62 2f33 00 62 2f34",  /* duplicate label */
		"81 a2 00 62 2f33 62 785f 01",  /* must-understand */
		"81 a2 00 62 2f33 02 1c",       /* malformed skipped value */
	};
	struct lwm_path p[4];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = paths_cbor(LWM_FMT_SENML_CBOR, bad[i], p, 4, &n);

		if (got != -EBADMSG)
			fail_msg("%s: got %d", bad[i], got);
		assert_int_equal(n, 0);
	}
	assert_int_equal(paths_cbor(LWM_FMT_SENML_CBOR, "83 a1 00 62 2f31 a1 00 62 2f32 a1 00 62 2f33",
				    p, 2, &n),
			 -E2BIG);
	assert_int_equal(paths_cbor(LWM_FMT_SENML_CBOR,
				    "81 a2 00 62 2f33 02 81 81 81 81 81 81 81 01", p, 4, &n),
			 -E2BIG);
	/* every prefix of a list fails cleanly */
	static const char *doc = "9f a1 00 66 2f332f302f30 a2 21 68 2f333330332f302f 00 64 35373030 ff";
	uint8_t d[64];
	size_t dlen = unhex(doc, d, sizeof(d));

	for (size_t len = 0; len < dlen; len++) {
		uint8_t *c = malloc(len + 1);

		memcpy(c, d, len);
		assert_int_equal(lwm_senml_paths_decode(LWM_FMT_SENML_CBOR, c, len, p, 4, &n),
				 -EBADMSG);
		free(c);
	}
	assert_int_equal(lwm_senml_paths_decode(LWM_FMT_SENML_CBOR, d, dlen, p, 4, &n), 0);
	assert_int_equal(n, 2);
}

static enum lwm_type composite_type(const struct lwm_path *p, void *ud)
{
	if (p->id[0] == 3 && p->id[2] == 0)
		return LWM_T_STRING;
	if (p->id[0] == 3303)
		return LWM_T_FLOAT;
	return LWM_T_INTEGER;
}

/* Read-Composite answers: records of several objects under the root, then
 * read back as a Write-Composite would be. */
static void test_composite_round_trip(void **state)
{
	static const uint16_t fmts[][2] = {
		{LWM_FMT_SENML_JSON, LWM_FMT_SENML_ETCH_JSON},
		{LWM_FMT_SENML_CBOR, LWM_FMT_SENML_ETCH_CBOR},
		{LWM_FMT_LWM2M_CBOR, LWM_FMT_LWM2M_CBOR},
		{LWM_FMT_LWM2M_JSON, LWM_FMT_LWM2M_JSON},
	};
	struct lwm_record in[4], got[4];
	struct lwm_buf b, scratch;
	size_t n;

	memset(in, 0, sizeof(in));
	in[0].path = lwm_path_make(3, 1, 0, 1, 0);
	in[0].value.type = LWM_T_INTEGER;
	in[0].value.v.i = 300;
	in[1].path = lwm_path_make(3, 3, 0, 0, 0);
	in[1].value.type = LWM_T_STRING;
	in[1].value.v.bytes.ptr = (const uint8_t *)"Acme";
	in[1].value.v.bytes.len = 4;
	in[2].path = lwm_path_make(4, 3, 0, 11, 0);
	in[2].value.type = LWM_T_INTEGER;
	in[3].path = lwm_path_make(3, 3303, 7, 5700, 0);
	in[3].value.type = LWM_T_FLOAT;
	in[3].value.v.f = -12.25;
	lwm_buf_init(&b, 0);
	lwm_buf_init(&scratch, 0);
	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		lwm_buf_reset(&b);
		lwm_buf_reset(&scratch);
		assert_int_equal(lwm_encode(fmts[f][0], &root, in, 4, &b), 0);
		assert_int_equal(lwm_decode_ex(fmts[f][1], &root, b.data, b.len, composite_type,
					       NULL, got, 4, &n, &scratch),
				 0);
		assert_int_equal(n, 4);
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(lwm_path_cmp(&got[i].path, &in[i].path), 0);
			assert_int_equal(got[i].value.type, in[i].value.type);
		}
		assert_memory_equal(got[1].value.v.bytes.ptr, "Acme", 4);
		assert_true(got[3].value.v.f == -12.25);
		if (fmts[f][0] == LWM_FMT_LWM2M_CBOR || fmts[f][0] == LWM_FMT_LWM2M_JSON)
			continue;
		/* and the same payload read as a path list */
		struct lwm_path p[4];
		assert_int_equal(lwm_senml_paths_decode(fmts[f][1], b.data, b.len, p, 4, &n), 0);
		assert_int_equal(n, 4);
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(lwm_path_cmp(&p[i], &in[i].path), 0);
	}
	/* TLV cannot hold several objects */
	lwm_buf_reset(&b);
	assert_int_equal(lwm_encode(LWM_FMT_TLV, &root, in, 4, &b), -ENOTSUP);
	lwm_buf_free(&b);
	lwm_buf_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_lists),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_cbor_lists),
		cmocka_unit_test(test_cbor_errors),
		cmocka_unit_test(test_composite_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
