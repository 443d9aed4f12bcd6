/* A client's data model: instances, values, reads, registration links. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lwm2m/model.h"
#include "wipe_check.h"

static struct lwm_value fval(double f)
{
	struct lwm_value v = {.type = LWM_T_FLOAT};
	v.v.f = f;
	return v;
}

static struct lwm_value sval(const char *s)
{
	struct lwm_value v = {.type = LWM_T_STRING};
	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return v;
}

static struct lwm_model *sample(void)
{
	struct lwm_model *m = lwm_model_new();
	struct lwm_path p;
	struct lwm_value v;

	assert_non_null(m);
	assert_int_equal(lwm_model_add_instance(m, 3303, 0), 0);
	assert_int_equal(lwm_model_add_instance(m, 3, 0), 0);
	assert_int_equal(lwm_model_add_instance(m, 0, 0), 0);
	p = lwm_path_make(3, 3303, 0, 5700, 0);
	v = fval(21.5);
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	p = lwm_path_make(3, 3, 0, 0, 0);
	v = sval("Acme");
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	p = lwm_path_make(4, 3, 0, 11, 0); /* Error Code, a multiple resource */
	v = (struct lwm_value){.type = LWM_T_INTEGER};
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	p = lwm_path_make(3, 0, 0, 0, 0);
	v = sval("coap://secret");
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	return m;
}

static void set_reports_change(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_path p = lwm_path_make(3, 3303, 0, 5700, 0);
	struct lwm_value v = fval(21.5);

	assert_int_equal(lwm_model_set(m, &p, &v), 0); /* same value */
	v = fval(22.0);
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	assert_float_equal(lwm_model_get(m, &p)->v.f, 22.0, 0);
	lwm_model_free(m);
}

static void set_refuses_what_does_not_exist(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_path p = lwm_path_make(3, 3303, 1, 5700, 0); /* no instance 1 */
	struct lwm_value v = fval(1);

	assert_int_equal(lwm_model_set(m, &p, &v), -ENOENT);
	p = lwm_path_make(3, 3303, 0, 9999, 0); /* no such resource */
	assert_int_equal(lwm_model_set(m, &p, &v), -ENOENT);
	p = lwm_path_make(4, 3303, 0, 5700, 0); /* single resource has no instances */
	assert_int_equal(lwm_model_set(m, &p, &v), -ENOENT);
	assert_int_equal(lwm_model_add_instance(m, 3303, 0), -EEXIST);
	assert_int_equal(lwm_model_add_instance(m, 60000, 0), -ENOENT);
	lwm_model_free(m);
}

static void converts_only_without_loss(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_path p = lwm_path_make(4, 3, 0, 11, 0); /* Integer */
	struct lwm_value v = fval(8.0);

	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	assert_int_equal(lwm_model_get(m, &p)->type, LWM_T_INTEGER);
	assert_int_equal(lwm_model_get(m, &p)->v.i, 8);
	v = fval(8.5);
	assert_int_equal(lwm_model_set(m, &p, &v), -EINVAL);
	v = sval("8");
	assert_int_equal(lwm_model_set(m, &p, &v), -EINVAL);
	/* the whole 64-bit range, exactly at its ends (issue 16, item 15) */
	v = fval(-0x1p63);
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	assert_true(lwm_model_get(m, &p)->v.i == INT64_MIN);
	v = fval(0x1p63);
	assert_int_equal(lwm_model_set(m, &p, &v), -EINVAL);
	assert_int_equal(lwm_model_add_instance(m, 0, 1), 0);
	p = lwm_path_make(4, 0, 1, 16, 0); /* Unsigned Integer */
	v = fval(0x1p64 - 0x1p11); /* the largest double below 2^64 */
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	assert_true(lwm_model_get(m, &p)->v.u == UINT64_MAX - 2047);
	v = fval(0x1p64);
	assert_int_equal(lwm_model_set(m, &p, &v), -EINVAL);
	lwm_model_free(m);
}

static void read_levels(void **state)
{
	struct lwm_model *m = sample();
	const struct lwm_record *r;
	size_t n;
	struct lwm_path p = lwm_path_make(2, 3, 0, 0, 0);

	assert_int_equal(lwm_model_read(m, &p, &r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].path.len, 3);
	assert_int_equal(LWM_PATH_RID(&r[0].path), 0);
	assert_int_equal(r[1].path.len, 4);
	assert_int_equal(LWM_PATH_RID(&r[1].path), 11);

	p = lwm_path_make(1, 3303, 0, 0, 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_float_equal(r[0].value.v.f, 21.5, 0);

	p = lwm_path_make(4, 3, 0, 11, 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), 0);
	assert_int_equal(n, 1);
	lwm_model_free(m);
}

static void read_errors(void **state)
{
	struct lwm_model *m = sample();
	const struct lwm_record *r;
	size_t n;
	struct lwm_path p = lwm_path_make(2, 3303, 7, 0, 0);

	assert_int_equal(lwm_model_read(m, &p, &r, &n), -ENOENT);
	p = lwm_path_make(1, 3304, 0, 0, 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), -ENOENT);
	/* The Security object is never readable by a management server. */
	p = lwm_path_make(1, 0, 0, 0, 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), -EACCES);
	p = lwm_path_make(3, 0, 0, 0, 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), -EACCES);
	/* Declared but never delivered by the device. */
	p = lwm_path_make(3, 3303, 0, 5701, 0);
	assert_int_equal(lwm_model_add_resource(m, &p), 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), -ENODATA);
	/* Reboot /3/0/4 is executable: not readable. */
	p = lwm_path_make(3, 3, 0, 4, 0);
	assert_int_equal(lwm_model_add_resource(m, &p), 0);
	assert_int_equal(lwm_model_read(m, &p, &r, &n), -EPERM);
	lwm_model_free(m);
}

static void expect_links(struct lwm_model *m, const char *version, const char *expect)
{
	struct lwm_buf b;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_model_reg_links(m, version, &b), 0);
	assert_int_equal(b.len, strlen(expect));
	assert_memory_equal(b.data, expect, b.len);
	lwm_buf_free(&b);
}

static void registration_links(void **state)
{
	struct lwm_model *m = sample();

	/* The registry defines Device as 1.2 and Temperature as 1.1. */
	assert_string_equal(lwm_objdef_find(3)->version, "1.2");
	assert_string_equal(lwm_objdef_find(3303)->version, "1.1");
	/* 1.0 has no ver attribute; the Security object is never listed. */
	expect_links(m, "1.0", "</3/0>,</3303/0>");
	/* A 1.1 client implements OMA objects at most at 1.1. */
	expect_links(m, "1.1", "</3>;ver=1.1,</3/0>,</3303>;ver=1.1,</3303/0>");
	expect_links(m, "1.2", "</3>;ver=1.2,</3/0>,</3303>;ver=1.1,</3303/0>");
	lwm_model_free(m);
}

static void discover_lists_dim(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_buf b;
	struct lwm_path p = lwm_path_make(2, 3, 0, 0, 0);
	const char *expect = "</3/0>,</3/0/0>,</3/0/11>;dim=1";

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_model_discover(m, &p, NULL, NULL, &b), 0);
	assert_int_equal(b.len, strlen(expect));
	assert_memory_equal(b.data, expect, b.len);
	p = lwm_path_make(1, 0, 0, 0, 0);
	assert_int_equal(lwm_model_discover(m, &p, NULL, NULL, &b), -EACCES);
	lwm_buf_free(&b);
	lwm_model_free(m);
}

/* Keys a bootstrap server wrote into a Security instance are wiped when
 * they are replaced, when the instance goes and when the model does. */
static void secrets_are_wiped(void **state)
{
	static const uint8_t key1[] = "psk-one-0123456789abcdef";
	static const uint8_t key2[] = "psk-two-fedcba9876543210";
	struct lwm_model *m = lwm_model_new();
	struct lwm_path p = lwm_path_make(3, 0, 1, 5, 0); /* Secret Key */
	struct lwm_value v = {.type = LWM_T_OPAQUE};

	assert_non_null(m);
	assert_int_equal(lwm_model_add_instance(m, 0, 1), 0);
	v.v.bytes.ptr = key1;
	v.v.bytes.len = sizeof(key1);
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	wipe_check_arm(key1, sizeof(key1));
	v.v.bytes.ptr = key2;
	v.v.bytes.len = sizeof(key2);
	assert_int_equal(lwm_model_set(m, &p, &v), 1); /* key1 replaced */
	assert_int_equal(wipe_check_disarm(), 0);
	wipe_check_arm(key2, sizeof(key2));
	assert_int_equal(lwm_model_remove_instance(m, 0, 1), 0);
	assert_int_equal(wipe_check_disarm(), 0);

	assert_int_equal(lwm_model_add_instance(m, 0, 1), 0);
	assert_int_equal(lwm_model_set(m, &p, &v), 1);
	wipe_check_arm(key2, sizeof(key2));
	lwm_model_free(m);
	assert_int_equal(wipe_check_disarm(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_reports_change),
		cmocka_unit_test(set_refuses_what_does_not_exist),
		cmocka_unit_test(converts_only_without_loss),
		cmocka_unit_test(read_levels),
		cmocka_unit_test(read_errors),
		cmocka_unit_test(registration_links),
		cmocka_unit_test(discover_lists_dim),
		cmocka_unit_test(secrets_are_wiped),
	};
	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
