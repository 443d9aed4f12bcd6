/* The device layer with the real sim adapter, loaded through the loader:
 * channel -> /oid/iid/rid mapping into each resource type, the transform,
 * IPSO min/max, polling on the fake clock, and device health. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/config.h"
#include "gatewayd/device.h"
#include "gatewayd/host.h"
#include "gatewayd/loader.h"
#include "gatewayd/log.h"
#include "gatewayd/loop.h"
#include "lwm2m/client.h"
#include "lwm2m/client_internal.h"
#include "lwm2m/engine.h"

struct env {
	struct cfg *cfg;
	struct gw_loop *loop;
	struct loader_set *adapters;
	struct lwm_engine *engine;
	struct gwd_device *dev[3];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *src = getenv("top_srcdir");
	const char *adir = getenv("GW_ADAPTER_DIR");
	char path[512];
	struct gw_adapter *sim;

	*state = e;
	log_setup(LOG_TARGET_STDERR, LOG_WARNING);
	clock_fake_set(100000);
	snprintf(path, sizeof(path), "%s/tests/fixtures/device/mapping.conf", src ? src : ".");
	if (cfg_load(path, &e->cfg) < 0 || !adir)
		return -1;
	if (loop_new(&e->loop) < 0)
		return -1;
	host_bind_loop(e->loop);
	if (loader_set_new(adir, host_table(), &e->adapters) < 0 ||
	    loader_set_get(e->adapters, "sim", &sim) < 0)
		return -1;
	if (lwm_engine_new(loop_timers(e->loop), &e->engine) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (device_create(e->cfg, &e->cfg->devices[i], sim, e->engine, loop_timers(e->loop),
				  &e->dev[i]) < 0)
			return -1;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	for (int i = 0; i < 3; i++)
		device_destroy(e->dev[i]);
	lwm_engine_free(e->engine);
	loader_set_free(e->adapters);
	host_bind_loop(NULL);
	loop_free(e->loop);
	cfg_free(e->cfg);
	clock_fake_off();
	free(e);
	return 0;
}

static const struct lwm_value *value(struct gwd_device *d, uint16_t oid, uint16_t iid,
				     uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);

	return lwm_model_get(lwm_client_model(device_client(d)), &p);
}

static int64_t error_code(struct gwd_device *d)
{
	struct lwm_path p = lwm_path_make(4, 3, 0, 11, 0);
	const struct lwm_value *v = lwm_model_get(lwm_client_model(device_client(d)), &p);

	assert_non_null(v);
	return v->v.i;
}

/* Let every due read happen and complete at the current fake time. */
static void settle(struct env *e)
{
	for (int i = 0; i < 8; i++)
		loop_dispatch_pending(e->loop);
}

static void advance(struct env *e, uint64_t ms)
{
	clock_fake_advance(ms);
	settle(e);
}

static void maps_each_type(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[0];
	const struct lwm_value *v;

	assert_null(value(d, 3303, 0, 5700)); /* nothing read before start */
	assert_int_equal(device_start(d), 0);
	settle(e);

	v = value(d, 3303, 0, 5700); /* 655 * 0.1 - 40 */
	assert_non_null(v);
	assert_int_equal(v->type, LWM_T_FLOAT);
	assert_float_equal(v->v.f, 25.5, 1e-9);

	v = value(d, 3200, 0, 5501); /* Integer resource from an int channel */
	assert_non_null(v);
	assert_int_equal(v->type, LWM_T_INTEGER);
	assert_int_equal(v->v.i, 10);

	v = value(d, 3201, 0, 5550); /* Boolean */
	assert_non_null(v);
	assert_int_equal(v->type, LWM_T_BOOLEAN);
	assert_true(v->v.b);

	v = value(d, 3341, 0, 5527); /* String resource from a number */
	assert_non_null(v);
	assert_int_equal(v->type, LWM_T_STRING);
	assert_int_equal(v->v.bytes.len, 4);
	assert_memory_equal(v->v.bytes.ptr, "12.5", 4);

	/* A string reading for the String resource (channel "label", the
	 * fifth) with invalid UTF-8 is repaired on its way in. */
	{
		struct gwd_value sv = {.type = GWD_V_STRING};

		sv.v.bytes.ptr = "ab\xc3";
		sv.v.bytes.len = 3;
		device_report(d, 4, &sv);
		v = value(d, 3341, 0, 5527);
		assert_int_equal(v->v.bytes.len, 5);
		assert_memory_equal(v->v.bytes.ptr, "ab\xef\xbf\xbd", 5);
	}

	/* Identity from the config, defaults otherwise. */
	v = value(d, 3, 0, 0);
	assert_non_null(v);
	assert_memory_equal(v->v.bytes.ptr, "Acme", 4);
	v = value(d, 3, 0, 2); /* serial defaults to the device name */
	assert_memory_equal(v->v.bytes.ptr, "mapped", 6);
	assert_int_equal(error_code(d), 0);
}

static void polls_on_the_clock_and_tracks_min_max(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[0];
	const struct lwm_value *v;

	/* The sine (period 4 s) was read at t = 0: 20.0. */
	assert_float_equal(value(d, 3303, 1, 5700)->v.f, 20.0, 1e-9);
	advance(e, 999); /* not yet due: no new read */
	assert_float_equal(value(d, 3303, 1, 5700)->v.f, 20.0, 1e-9);
	advance(e, 1); /* t = 1 s: a quarter period, the peak */
	assert_float_equal(value(d, 3303, 1, 5700)->v.f, 22.0, 1e-9);
	assert_int_equal(value(d, 3200, 0, 5501)->v.i, 11); /* the counter stepped */
	advance(e, 2000); /* t = 3 s: the trough */
	assert_float_equal(value(d, 3303, 1, 5700)->v.f, 18.0, 1e-9);
	v = value(d, 3303, 1, 5601);
	assert_non_null(v);
	assert_float_equal(v->v.f, 18.0, 1e-9);
	v = value(d, 3303, 1, 5602);
	assert_non_null(v);
	assert_float_equal(v->v.f, 22.0, 1e-9);
}

static void failing_device_goes_down_and_recovers(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[1];

	assert_int_equal(device_start(d), 0);
	settle(e); /* op 1 succeeds */
	assert_float_equal(value(d, 3316, 0, 5700)->v.f, 230.0, 0);
	assert_false(device_is_down(d));
	for (int i = 0; i < DEVICE_DOWN_AFTER; i++)
		advance(e, 1000); /* ops 2..4 fail */
	assert_true(device_is_down(d));
	assert_int_equal(error_code(d), 8); /* peripheral malfunction */
	/* Three polls without a value: past the default stale limit (3 x the
	 * poll period), the last good value is no longer served. */
	assert_null(value(d, 3316, 0, 5700));
	advance(e, 1000); /* op 5 succeeds again */
	assert_false(device_is_down(d));
	assert_int_equal(error_code(d), 0);
	assert_float_equal(value(d, 3316, 0, 5700)->v.f, 230.0, 0);
	/* The other device kept its schedule meanwhile. */
	assert_true(value(e->dev[0], 3200, 0, 5501)->v.i > 11);
}

/* Execute /3/0/rid as a server's Execute reaches the device layer. */
static int execute_obj3(struct gwd_device *d, uint16_t rid)
{
	struct lwm_client *c = device_client(d);
	struct lwm_path p = lwm_path_make(3, 3, 0, rid, 0);

	assert_true(lwm_model_exists(lwm_client_model(c), &p));
	assert_true(c->ops->owns(c, &p, c->ud));
	return c->ops->execute(c, &p, NULL, 0, NULL, c->ud);
}

static size_t error_code_instances(struct gwd_device *d)
{
	struct lwm_path p = lwm_path_make(3, 3, 0, 11, 0);
	const struct lwm_record *recs;
	size_t n;

	assert_int_equal(lwm_model_read(lwm_client_model(device_client(d)), &p, &recs, &n), 0);
	return n;
}

/* Item 8: a device that stops answering without an error goes stale after
 * 3 poll periods: its point has no value (a Read answers 5.03) and Error
 * Code 8 shows; Reset Error Code clears it until another limit passes in
 * silence; the next value brings it back.  A point without a poll period
 * is never stale by default. */
static void silent_device_goes_stale_and_recovers(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[2];
	struct lwm_path p = lwm_path_make(3, 3316, 0, 5700, 0);
	const struct lwm_record *recs;
	size_t n;

	assert_int_equal(device_start(d), 0);
	settle(e);		/* ops 0 (v) and 1 (push) */
	advance(e, 1000);	/* op 2: the last answer, at t = 1 s */
	assert_float_equal(value(d, 3316, 0, 5700)->v.f, 12.0, 0);
	advance(e, 1000);	/* op 3 is never answered */
	advance(e, 1000);
	advance(e, 999);	/* t = 3.999 s: 2.999 s old, not stale yet */
	assert_non_null(value(d, 3316, 0, 5700));
	assert_int_equal(error_code(d), 0);
	advance(e, 1);		/* 3 s old: stale */
	assert_null(value(d, 3316, 0, 5700));
	assert_int_equal(lwm_model_read(lwm_client_model(device_client(d)), &p, &recs, &n),
			 -ENODATA); /* what the engine answers 5.03 */
	assert_int_equal(error_code(d), 8);
	assert_false(device_is_down(d)); /* no failure was reported */
	/* The push-only point keeps its value: no poll period, no limit. */
	assert_float_equal(value(d, 3303, 0, 5700)->v.f, 21.0, 0);

	/* Reset Error Code: one instance, 0, while it is still silent ... */
	assert_int_equal(execute_obj3(d, 12), LWM_OP_DONE);
	assert_int_equal(error_code(d), 0);
	assert_int_equal(error_code_instances(d), 1);
	advance(e, 1000);
	advance(e, 1000);
	advance(e, 999);
	assert_int_equal(error_code(d), 0);
	/* ... until another limit passes without a value. */
	advance(e, 1);
	assert_int_equal(error_code(d), 8);

	/* t = 10 s: its report brings the value back and clears the code. */
	advance(e, 1000);
	advance(e, 1000);
	assert_null(value(d, 3316, 0, 5700));
	advance(e, 1000);
	assert_float_equal(value(d, 3316, 0, 5700)->v.f, 12.0, 0);
	assert_int_equal(error_code(d), 0);
}

/* Item 3: Reboot is answered at once, then the gateway restarts the
 * adapter's device: the sim starts its waveforms again from t = 0, so the
 * counter is back at its base.  Reset Error Code on a device that is
 * well changes nothing but answers too. */
static void reboot_restarts_the_device(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[0];

	assert_true(value(d, 3200, 0, 5501)->v.i > 10); /* counted since start */
	assert_int_equal(execute_obj3(d, 4), LWM_OP_DONE);
	/* Not inside the Execute: the answer goes first. */
	assert_true(value(d, 3200, 0, 5501)->v.i > 10);
	settle(e);
	assert_int_equal(value(d, 3200, 0, 5501)->v.i, 10);
	assert_true(lwm_client_available(device_client(d)));
	advance(e, 1000);
	assert_int_equal(value(d, 3200, 0, 5501)->v.i, 11); /* and polls on */
	assert_int_equal(execute_obj3(d, 12), LWM_OP_DONE);
	assert_int_equal(error_code(d), 0);
}

/* Item 3: Reset Error Code on a device that is down: /3/0/11 holds 0 (reads
 * still answer 5.03), and its next failure reports 8 again. */
static void reset_error_code_of_a_down_device(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[0];
	const struct gwd_host *h = host_table();

	h->set_state(d, GWD_STATE_DOWN, -ETIMEDOUT);
	assert_int_equal(error_code(d), 8);
	assert_int_equal(execute_obj3(d, 12), LWM_OP_DONE);
	assert_int_equal(error_code(d), 0);
	assert_int_equal(error_code_instances(d), 1);
	assert_true(device_is_down(d));
	assert_false(lwm_client_available(device_client(d)));
	h->report_error(d, GWD_CHANNEL_ALL, -EIO);
	assert_int_equal(error_code(d), 8);
	h->set_state(d, GWD_STATE_UP, 0);
	assert_int_equal(error_code(d), 0);
	/* A new failure after recovery is reported as usual. */
	h->set_state(d, GWD_STATE_DOWN, -EIO);
	assert_int_equal(error_code(d), 8);
	h->set_state(d, GWD_STATE_UP, 0);
}

/* Tests that drive real devices need the sim adapter; it is absent when
 * configured with --disable-sim, and then these tests are skipped. */
static int skip_without_sim(void)
{
	const char *dir = getenv("GW_ADAPTER_DIR");
	char path[1024];

	snprintf(path, sizeof(path), "%s/sim.so", dir ? dir : ".");
	if (access(path, R_OK) != 0) {
		printf("skipped: %s not built\n", path);
		return 77;
	}
	return 0;
}

static void adapter_reported_identity_and_state(void **state)
{
	struct env *e = *state;
	struct gwd_device *d = e->dev[0];
	const struct gwd_host *h = host_table();
	const struct lwm_value *v;

	assert_true(h->abi_minor >= 1);
	/* The config sets the manufacturer: the device's claim does not win. */
	h->set_identity(d, GWD_ID_MANUFACTURER, "Other Corp");
	v = value(d, 3, 0, 0);
	assert_memory_equal(v->v.bytes.ptr, "Acme", 4);
	/* The config leaves the firmware version open: the device fills it. */
	h->set_identity(d, GWD_ID_FIRMWARE, "3.1.4");
	v = value(d, 3, 0, 3);
	assert_non_null(v);
	assert_int_equal(v->v.bytes.len, 5);
	assert_memory_equal(v->v.bytes.ptr, "3.1.4", 5);
	/* Device text enters the model as UTF-8: U+FFFD for what is not. */
	h->set_identity(d, GWD_ID_FIRMWARE, "3.1\xff");
	v = value(d, 3, 0, 3);
	assert_int_equal(v->v.bytes.len, 6);
	assert_memory_equal(v->v.bytes.ptr, "3.1\xef\xbf\xbd", 6);

	/* Adapter-judged health: DOWN sets error code 8 and makes the client
	 * unavailable; UP clears both. */
	h->set_state(d, GWD_STATE_DOWN, -ETIMEDOUT);
	assert_true(device_is_down(d));
	assert_int_equal(error_code(d), 8);
	assert_false(lwm_client_available(device_client(d)));
	/* The daemon's own success counting no longer overrides the adapter. */
	advance(e, 1000);
	assert_true(device_is_down(d));
	h->set_state(d, GWD_STATE_UP, 0);
	assert_false(device_is_down(d));
	assert_int_equal(error_code(d), 0);
	assert_true(lwm_client_available(device_client(d)));
}

/* ABI 1.2: the adapter learns the daemon's state directory. */
static void adapter_learns_state_dir(void **state)
{
	struct env *e = *state;
	const struct gwd_host *h = host_table();

	assert_true(h->abi_minor >= 2);
	assert_true(h->size >= offsetof(struct gwd_host, state_dir) + sizeof(h->state_dir));
	assert_non_null(e->cfg->gateway.state_dir);
	assert_string_equal(h->state_dir(e->dev[0]), e->cfg->gateway.state_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(maps_each_type),
		cmocka_unit_test(polls_on_the_clock_and_tracks_min_max),
		cmocka_unit_test(failing_device_goes_down_and_recovers),
		cmocka_unit_test(adapter_reported_identity_and_state),
		cmocka_unit_test(adapter_learns_state_dir),
		cmocka_unit_test(silent_device_goes_stale_and_recovers),
		cmocka_unit_test(reboot_restarts_the_device),
		cmocka_unit_test(reset_error_code_of_a_down_device),
	};
	if (skip_without_sim())
		return 77;
	return cmocka_run_group_tests_name("device", tests, setup, teardown);
}
