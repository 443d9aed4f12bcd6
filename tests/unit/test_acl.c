/* The Access Control decision (lwm2m/acl.c) on a data model: the owner
 * rule, the server's own entry, the default entry, the servers' own
 * accounts, Object 2 itself, the object-level Create right, and no
 * control at all with one server. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lwm2m/acl.h"
#include "lwm2m/client_internal.h"
#include "lwm2m/model.h"

#define FULL (LWM_ACL_ALL & ~LWM_ACL_CREATE)

static void add_server(struct lwm_model *m, uint16_t iid, uint16_t ssid)
{
	struct lwm_path p = lwm_path_make(3, 1, iid, 0, 0);
	struct lwm_value v = {.type = LWM_T_INTEGER};

	v.v.i = ssid;
	assert_int_equal(lwm_model_add_instance(m, 1, iid), 0);
	assert_true(lwm_model_set(m, &p, &v) >= 0);
}

static struct lwm_model *two_servers(void)
{
	struct lwm_model *m = lwm_model_new();

	assert_non_null(m);
	add_server(m, 0, 1);
	assert_int_equal(lwm_model_add_instance(m, 3303, 0), 0);
	assert_int_equal(lwm_model_add_instance(m, 3303, 1), 0);
	assert_false(lwm_acl_enforced(m));
	add_server(m, 1, 7);
	assert_true(lwm_acl_enforced(m));
	return m;
}

static void one_server_may_do_everything(void **state)
{
	struct lwm_model *m = lwm_model_new();

	add_server(m, 0, 1);
	assert_int_equal(lwm_acl_rights(m, 1, 3303, 0), LWM_ACL_ALL);
	assert_int_equal(lwm_acl_rights(m, 1, 1, 0), LWM_ACL_ALL);
	assert_int_equal(lwm_acl_rights(m, 1, 0, 0), 0); /* never Security */
	lwm_model_free(m);
}

static void without_an_instance_nothing(void **state)
{
	struct lwm_model *m = two_servers();

	assert_int_equal(lwm_acl_rights(m, 1, 3303, 0), 0);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, 0), 0);
	assert_int_equal(lwm_acl_find(m, 3303, 0), -ENOENT);
	lwm_model_free(m);
}

static void owner_entry_and_default(void **state)
{
	struct lwm_model *m = two_servers();

	assert_int_equal(lwm_acl_add(m, 4, 3303, 0, 1), 0);
	assert_int_equal(lwm_acl_find(m, 3303, 0), 4);
	/* The owner without an entry: full; others: nothing. */
	assert_int_equal(lwm_acl_rights(m, 1, 3303, 0), FULL);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, 0), 0);
	/* The default entry serves servers without their own... */
	assert_int_equal(lwm_acl_set(m, 4, 0, LWM_ACL_READ), 0);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, 0), LWM_ACL_READ);
	assert_int_equal(lwm_acl_rights(m, 9, 3303, 0), LWM_ACL_READ);
	/* ...but not the owner, who keeps full rights. */
	assert_int_equal(lwm_acl_rights(m, 1, 3303, 0), FULL);
	/* A server's own entry wins, the owner's too. */
	assert_int_equal(lwm_acl_set(m, 4, 7, LWM_ACL_READ | LWM_ACL_WRITE), 0);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, 0), LWM_ACL_READ | LWM_ACL_WRITE);
	assert_int_equal(lwm_acl_set(m, 4, 1, LWM_ACL_READ), 0);
	assert_int_equal(lwm_acl_rights(m, 1, 3303, 0), LWM_ACL_READ);
	/* An entry of none is none. */
	assert_int_equal(lwm_acl_set(m, 4, 7, 0), 0);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, 0), 0);
	/* Other instances are not covered. */
	assert_int_equal(lwm_acl_rights(m, 1, 3303, 1), 0);
	lwm_model_free(m);
}

static void own_server_account(void **state)
{
	struct lwm_model *m = two_servers();
	unsigned own = LWM_ACL_READ | LWM_ACL_WRITE | LWM_ACL_EXECUTE;

	assert_int_equal(lwm_acl_rights(m, 1, 1, 0), own);
	assert_int_equal(lwm_acl_rights(m, 7, 1, 1), own);
	assert_int_equal(lwm_acl_rights(m, 7, 1, 0), 0);
	assert_int_equal(lwm_acl_rights(m, 1, 1, 1), 0);
	/* An Access Control instance for /1/1 (bootstrap) decides instead. */
	assert_int_equal(lwm_acl_add(m, 0, 1, 1, 7), 0);
	assert_int_equal(lwm_acl_set(m, 0, 1, LWM_ACL_READ), 0);
	assert_int_equal(lwm_acl_rights(m, 1, 1, 1), LWM_ACL_READ);
	lwm_model_free(m);
}

static void object_2_itself(void **state)
{
	struct lwm_model *m = two_servers();

	assert_int_equal(lwm_acl_add(m, 0, 3303, 0, 1), 0);
	assert_int_equal(lwm_acl_add(m, 1, 3303, 1, LWM_ACL_OBJECT), 0);
	assert_int_equal(lwm_acl_rights(m, 1, 2, 0), LWM_ACL_READ | LWM_ACL_WRITE);
	assert_int_equal(lwm_acl_rights(m, 7, 2, 0), LWM_ACL_READ);
	/* Owner 65535: changed by bootstrap only. */
	assert_int_equal(lwm_acl_rights(m, 1, 2, 1), LWM_ACL_READ);
	assert_int_equal(lwm_acl_rights(m, 7, 2, 1), LWM_ACL_READ);
	/* Nobody creates Access Control instances. */
	assert_int_equal(lwm_acl_rights(m, 1, 2, LWM_ACL_OBJECT), LWM_ACL_READ);
	lwm_model_free(m);
}

static void create_on_the_object_level_instance(void **state)
{
	struct lwm_model *m = two_servers();

	assert_int_equal(lwm_acl_rights(m, 7, 3303, LWM_ACL_OBJECT), 0);
	assert_int_equal(lwm_acl_add(m, 2, 3303, LWM_ACL_OBJECT, 7), 0);
	assert_int_equal(lwm_acl_rights(m, 7, 3303, LWM_ACL_OBJECT), LWM_ACL_CREATE);
	assert_int_equal(lwm_acl_rights(m, 1, 3303, LWM_ACL_OBJECT), 0);
	assert_int_equal(lwm_acl_set(m, 2, 1, LWM_ACL_CREATE), 0);
	assert_int_equal(lwm_acl_rights(m, 1, 3303, LWM_ACL_OBJECT), LWM_ACL_CREATE);
	lwm_model_free(m);
}

/* An object with no instances and no object-level Access Control
 * instance: there is nothing to deny, so a Read (Discover, Observe) of the
 * object is allowed (an empty 2.05), while Create still needs the
 * object-level right. */
static void object_without_instances(void **state)
{
	struct lwm_model *m = two_servers();
	struct lwm_client c = {.model = m, .short_server_id = 7};
	struct lwm_path obj = lwm_path_make(1, 3304, 0, 0, 0);
	struct lwm_path sec = lwm_path_make(1, 0, 0, 0, 0);
	assert_true(lwm_model_next_instance(m, 3304, -1) < 0);
	assert_true(lwm_client_may(&c, &obj, LWM_ACL_READ));
	assert_false(lwm_client_may(&c, &obj, LWM_ACL_CREATE));
	assert_false(lwm_client_may(&c, &sec, LWM_ACL_READ));
	/* An object with instances this server may not read: still refused. */
	obj = lwm_path_make(1, 3303, 0, 0, 0);
	assert_false(lwm_client_may(&c, &obj, LWM_ACL_READ));
	lwm_model_free(m);
}

static void parse_rights(void **state)
{
	unsigned bits = 99;

	assert_int_equal(lwm_acl_parse("", &bits), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(lwm_acl_parse("RWEDC", &bits), 0);
	assert_int_equal(bits, LWM_ACL_ALL);
	assert_int_equal(lwm_acl_parse("ER", &bits), 0);
	assert_int_equal(bits, LWM_ACL_READ | LWM_ACL_EXECUTE);
	assert_int_equal(lwm_acl_parse("RR", &bits), -EINVAL);
	assert_int_equal(lwm_acl_parse("r", &bits), -EINVAL);
	assert_int_equal(lwm_acl_parse("RX", &bits), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_server_may_do_everything),
		cmocka_unit_test(without_an_instance_nothing),
		cmocka_unit_test(owner_entry_and_default),
		cmocka_unit_test(own_server_account),
		cmocka_unit_test(object_2_itself),
		cmocka_unit_test(create_on_the_object_level_instance),
		cmocka_unit_test(object_without_instances),
		cmocka_unit_test(parse_rights),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
