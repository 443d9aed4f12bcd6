/* The LwM2M client's accounts in a shared data model: several clients (one
 * per server) serving one model, each adding and removing its own Security
 * and Server instances, and a client made for an account that is already
 * in the model (the bootstrap path). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "gatewayd/timerq.h"
#include "lwm2m/client.h"
#include "lwm2m/engine.h"
#include "lwm2m/model.h"

struct env {
	struct timerq timers;
	struct lwm_engine *engine;
	struct lwm_model *model;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	log_setup(LOG_TARGET_STDERR, LOG_CRIT);
	clock_fake_set(1000000);
	timerq_init(&e->timers);
	e->model = lwm_model_new();
	if (!e->model || lwm_engine_new(&e->timers, &e->engine) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	lwm_engine_free(e->engine);
	lwm_model_free(e->model);
	timerq_fini(&e->timers);
	clock_fake_off();
	free(e);
	return 0;
}

static struct lwm_client *client(struct env *e, uint16_t iid, uint16_t ssid, int expect)
{
	struct lwm_client *c = NULL;
	struct lwm_client_config cc = {
		.endpoint = "ep",
		.server_uri = "coap://127.0.0.1:5683",
		.lifetime = 100u + iid,
		.short_server_id = ssid,
		.model = e->model,
		.security_iid = iid,
		.server_iid = iid,
	};

	assert_int_equal(lwm_client_new(e->engine, &cc, NULL, NULL, &c), expect);
	return c;
}

static int64_t int_at(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	const struct lwm_value *v = lwm_model_get(m, &p);

	assert_non_null(v);
	return v->v.i;
}

static bool has_instance(struct lwm_model *m, uint16_t oid, uint16_t iid)
{
	struct lwm_path p = lwm_path_make(2, oid, iid, 0, 0);

	return lwm_model_exists(m, &p);
}

static void accounts_share_one_model(void **state)
{
	struct env *e = *state;
	struct lwm_client *a = client(e, 0, 1, 0), *b = client(e, 1, 7, 0);
	struct lwm_buf links;

	assert_ptr_equal(lwm_client_model(a), e->model);
	assert_ptr_equal(lwm_client_model(b), e->model);
	assert_int_equal(int_at(e->model, 1, 0, 0), 1);
	assert_int_equal(int_at(e->model, 1, 1, 0), 7);
	assert_int_equal(int_at(e->model, 1, 1, 1), 101);
	assert_int_equal(int_at(e->model, 0, 1, 10), 7);
	/* The registration payload lists both Server instances, no /0. */
	lwm_buf_init(&links, 4096);
	assert_int_equal(lwm_model_reg_links(e->model, "1.1", &links), 0);
	lwm_buf_append(&links, "", 1);
	assert_non_null(strstr((const char *)links.data, "</1/0>,</1/1>"));
	assert_null(strstr((const char *)links.data, "</0"));
	lwm_buf_free(&links);
	/* Instance ids taken: refused, and nothing of the others touched. */
	assert_null(client(e, 1, 9, -EEXIST));
	assert_int_equal(int_at(e->model, 1, 1, 0), 7);
	/* A freed client takes its account with it, only its own. */
	lwm_client_free(a);
	assert_false(has_instance(e->model, 0, 0));
	assert_false(has_instance(e->model, 1, 0));
	assert_true(has_instance(e->model, 1, 1));
	lwm_client_free(b);
	assert_int_equal(lwm_model_entry_count(e->model), 0);
}

static void set_res(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid,
		    const struct lwm_value *v)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);

	assert_true(lwm_model_set(m, &p, v) >= 0);
}

static void client_from_an_account_in_the_model(void **state)
{
	struct env *e = *state;
	struct lwm_value uri = {.type = LWM_T_STRING}, i = {.type = LWM_T_INTEGER};
	struct lwm_value bind = {.type = LWM_T_STRING};
	struct lwm_client *c = NULL;

	/* What a bootstrap server would have written. */
	assert_int_equal(lwm_model_add_instance(e->model, 0, 5), 0);
	assert_int_equal(lwm_model_add_instance(e->model, 1, 3), 0);
	uri.v.bytes.ptr = (const uint8_t *)"coap://127.0.0.1:5690";
	uri.v.bytes.len = strlen("coap://127.0.0.1:5690");
	set_res(e->model, 0, 5, 0, &uri);
	i.v.i = 42;
	set_res(e->model, 0, 5, 10, &i);
	set_res(e->model, 1, 3, 0, &i);
	i.v.i = 77;
	set_res(e->model, 1, 3, 1, &i);
	bind.v.bytes.ptr = (const uint8_t *)"UQ";
	bind.v.bytes.len = 2;
	set_res(e->model, 1, 3, 7, &bind);

	/* Not there: refused. */
	assert_int_equal(lwm_client_new_from_model(e->engine, e->model, 5, 4, "d", "ep", NULL, NULL,
						   NULL, NULL, &c),
			 -ENOENT);
	assert_int_equal(lwm_client_new_from_model(e->engine, e->model, 5, 3, "d", "ep", NULL, NULL,
						   NULL, NULL, &c),
			 0);
	assert_int_equal(lwm_client_short_server_id(c), 42);
	assert_int_equal(lwm_client_server_iid(c), 3);
	assert_string_equal(lwm_client_server_uri(c), "coap://127.0.0.1:5690");
	/* The executables are declared for the server to use. */
	{
		struct lwm_path p = lwm_path_make(3, 1, 3, 8, 0);
		assert_true(lwm_model_exists(e->model, &p));
	}
	/* The account is not the client's: it stays in the model. */
	lwm_client_free(c);
	assert_true(has_instance(e->model, 0, 5));
	assert_true(has_instance(e->model, 1, 3));
	assert_int_equal(int_at(e->model, 1, 3, 1), 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(accounts_share_one_model, setup, teardown),
		cmocka_unit_test_setup_teardown(client_from_an_account_in_the_model, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
