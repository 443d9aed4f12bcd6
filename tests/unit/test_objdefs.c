/* The generated object table and its lookups. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/objdefs.h"

static const struct lwm_res_def *res(uint16_t oid, uint16_t rid)
{
	const struct lwm_obj_def *o = lwm_objdef_find(oid);

	assert_non_null(o);
	return lwm_resdef_find(o, rid);
}

static void test_table_shape(void **state)
{
	assert_true(lwm_builtin_objdefs_count >= 100);
	for (size_t i = 0; i < lwm_builtin_objdefs_count; i++) {
		const struct lwm_obj_def *o = &lwm_builtin_objdefs[i];

		if (i > 0)
			assert_true(lwm_builtin_objdefs[i - 1].id < o->id);
		assert_non_null(o->name);
		assert_true(o->name[0] != '\0');
		assert_false(isspace((unsigned char)o->name[0]));
		assert_false(isspace((unsigned char)o->name[strlen(o->name) - 1]));
		assert_non_null(o->version);
		assert_true(isdigit((unsigned char)o->version[0]));
		assert_non_null(strchr(o->version, '.'));
		assert_non_null(o->urn);
		assert_true(o->nres == 0 || o->res != NULL);
		for (uint16_t k = 0; k < o->nres; k++) {
			const struct lwm_res_def *r = &o->res[k];

			if (k > 0)
				assert_true(o->res[k - 1].id < r->id);
			assert_true(r->type <= LWM_T_CORELNK);
			assert_true((r->ops & ~(LWM_OP_R | LWM_OP_W | LWM_OP_E)) == 0);
			/* executables carry no value; values are not executable */
			if (r->ops & LWM_OP_E)
				assert_int_equal(r->type, LWM_T_NONE);
			assert_non_null(r->name);
			assert_false(isspace((unsigned char)r->name[0]));
			assert_non_null(r->units);
			if (r->has_range)
				assert_true(r->range_min <= r->range_max);
			/* every entry is reachable by the binary searches */
			assert_ptr_equal(lwm_objdef_find(o->id), o);
			assert_ptr_equal(lwm_resdef_find(o, r->id), r);
		}
	}
}

static void test_temperature(void **state)
{
	const struct lwm_obj_def *o = lwm_objdef_find(3303);
	const struct lwm_res_def *r;

	assert_non_null(o);
	assert_int_equal(o->id, 3303);
	assert_string_equal(o->name, "Temperature");
	assert_true(o->multiple);
	assert_non_null(strstr(o->urn, "3303"));
	r = lwm_resdef_find(o, 5700);
	assert_non_null(r);
	assert_int_equal(r->id, 5700);
	assert_int_equal(r->type, LWM_T_FLOAT);
	assert_int_equal(r->ops, LWM_OP_R);
	assert_true(r->mandatory);
	assert_false(r->multiple);
	assert_string_equal(r->name, "Sensor Value");
	r = lwm_resdef_find(o, 5701);
	assert_non_null(r);
	assert_int_equal(r->type, LWM_T_STRING);
	r = lwm_resdef_find(o, 5605); /* Reset Min and Max Measured Values */
	assert_non_null(r);
	assert_int_equal(r->type, LWM_T_NONE);
	assert_int_equal(r->ops, LWM_OP_E);
}

static void test_device(void **state)
{
	const struct lwm_obj_def *o = lwm_objdef_find(3);
	const struct lwm_res_def *r;

	assert_non_null(o);
	assert_string_equal(o->name, "Device");
	assert_string_equal(o->version, "1.2");
	assert_string_equal(o->urn, "urn:oma:lwm2m:oma:3:1.2");
	assert_false(o->multiple);
	assert_true(o->mandatory);
	r = lwm_resdef_find(o, 11);
	assert_non_null(r);
	assert_string_equal(r->name, "Error Code");
	assert_true(r->multiple);
	assert_true(r->mandatory);
	assert_int_equal(r->type, LWM_T_INTEGER);
	r = lwm_resdef_find(o, 4);
	assert_non_null(r);
	assert_string_equal(r->name, "Reboot");
	assert_int_equal(r->type, LWM_T_NONE);
	assert_int_equal(r->ops, LWM_OP_E);
	r = lwm_resdef_find(o, 6);
	assert_true(r->multiple);
	assert_true(r->has_range);
	assert_true(r->range_min == 0.0);
	assert_true(r->range_max == 7.0);
	r = lwm_resdef_find(o, 13);
	assert_int_equal(r->type, LWM_T_TIME);
	assert_int_equal(r->ops, LWM_OP_R | LWM_OP_W);
	r = lwm_resdef_find(o, 9);
	assert_string_equal(r->units, "/100");
	assert_string_equal(res(3, 0)->units, "");
	assert_false(res(3, 0)->has_range);
	assert_int_equal(res(3, 22)->type, LWM_T_OBJLNK);
}

static void test_other_objects(void **state)
{
	const struct lwm_res_def *r = res(5, 0);

	assert_non_null(r);
	assert_string_equal(r->name, "Package");
	assert_int_equal(r->type, LWM_T_OPAQUE);
	assert_int_equal(r->ops, LWM_OP_W);
	assert_int_equal(res(5, 2)->type, LWM_T_NONE);
	assert_int_equal(res(5, 2)->ops, LWM_OP_E);
	assert_int_equal(res(5, 3)->type, LWM_T_INTEGER);
	/* Security: no operations for a management server */
	assert_int_equal(res(0, 0)->ops, 0);
	assert_int_equal(res(0, 0)->type, LWM_T_STRING);
	assert_int_equal(res(0, 1)->type, LWM_T_BOOLEAN);
	/* whitespace in the registry's names is tidied */
	assert_string_equal(res(0, 0)->name, "LWM2M Server URI");
	assert_string_equal(res(21, 3)->name, "OSCORE AEAD Algorithm");
	/* other types and units */
	assert_int_equal(res(0, 13)->type, LWM_T_UNSIGNED);
	assert_int_equal(res(1, 1)->units[0], 's');
	assert_int_equal(res(1, 1)->type, LWM_T_INTEGER);
	/* a negative range: Acceptable RSRP (NB-IoT), "-158..-44" */
	assert_true(res(13, 10)->has_range);
	assert_true(res(13, 10)->range_min == -158.0);
	assert_true(res(13, 10)->range_max == -44.0);
	/* a string's length range is not a value range */
	assert_false(res(5, 1)->has_range);
	assert_int_equal(res(5, 1)->type, LWM_T_STRING);
	assert_true(lwm_objdef_find(1)->multiple);
}

static void test_not_found(void **state)
{
	const struct lwm_obj_def *o = lwm_objdef_find(3303);

	assert_null(lwm_objdef_find(17));
	assert_null(lwm_objdef_find(9999));
	assert_null(lwm_objdef_find(65535));
	/* OMA's test objects are left out of the built-in table (gen-objdefs.py) */
	assert_null(lwm_objdef_find(3441));
	assert_null(lwm_objdef_find(3442));
	assert_null(lwm_resdef_find(o, 5699));
	assert_null(lwm_resdef_find(o, 0));
	assert_null(lwm_resdef_find(o, 65535));
	assert_null(lwm_resdef_find(NULL, 0));
	assert_non_null(lwm_objdef_find(lwm_builtin_objdefs[0].id));
	assert_non_null(lwm_objdef_find(lwm_builtin_objdefs[lwm_builtin_objdefs_count - 1].id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_shape),
		cmocka_unit_test(test_temperature),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_other_objects),
		cmocka_unit_test(test_not_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
