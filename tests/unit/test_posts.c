/* Posts to the loop belong to an owner and never outlive it (issue 16,
 * item 11).  The "poster" fixture adapter posts from a worker thread, as
 * adapter.h advises, a call on its device's context and a call of its own;
 * then the device goes (the calls on it must be dropped, not run on freed
 * memory) or the daemon shuts down in main.c's order (no call may run once
 * the adapter is unloaded).  Run under ASan or valgrind to see the freed
 * memory; without the fix the shutdown case also dies of SIGSEGV. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/config.h"
#include "gatewayd/device.h"
#include "gatewayd/gateway.h"
#include "gatewayd/host.h"
#include "gatewayd/loader.h"
#include "gatewayd/log.h"
#include "gatewayd/loop.h"
#include "lwm2m/engine.h"

static const char *fixture_dir(void)
{
	const char *d = getenv("GW_FIXTURE_ADAPTER_DIR");

	assert_non_null(d);
	return d;
}

static struct cfg *load_cfg(void)
{
	const char *src = getenv("top_srcdir");
	struct cfg *cfg = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/tests/fixtures/device/poster.conf", src ? src : ".");
	assert_int_equal(cfg_load(path, &cfg), 0);
	return cfg;
}

/* The fixture's counter `name`, read while the adapter is loaded. */
static unsigned counter(const char *name)
{
	char path[512];
	void *h;
	unsigned *p, v;

	snprintf(path, sizeof(path), "%s/poster.so", fixture_dir());
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(h);
	p = dlsym(h, name);
	assert_non_null(p);
	v = *p;
	dlclose(h); /* NOLOAD took a reference too */
	return v;
}

/* A device removed while its worker's calls wait in the queue: the call on
 * its context is dropped; the adapter's own call still runs. */
static void device_gone_drops_its_posts(void **state)
{
	struct cfg *cfg = load_cfg();
	struct gw_loop *loop;
	struct loader_set *set;
	struct gw_adapter *a;
	struct lwm_engine *engine;
	struct gwd_device *d;

	assert_int_equal(loop_new(&loop), 0);
	host_bind_loop(loop);
	assert_int_equal(loader_set_new(fixture_dir(), host_table(), &set), 0);
	assert_int_equal(loader_set_get(set, "poster", &a), 0);
	assert_int_equal(lwm_engine_new(loop_timers(loop), &engine), 0);
	assert_int_equal(device_create(cfg, &cfg->devices[0], a, engine, loop_timers(loop), &d),
			 0);
	assert_int_equal(device_start(d), 0);
	device_destroy(d); /* stop joins the worker: both calls are queued */
	assert_int_equal(counter("poster_device_calls"), 0);
	loop_dispatch_pending(loop);
	assert_int_equal(counter("poster_device_calls"), 0);
	assert_int_equal(counter("poster_adapter_calls"), 1);
	lwm_engine_free(engine);
	loader_set_free(set);
	host_bind_loop(NULL);
	loop_free(loop);
	cfg_free(cfg);
}

/* main.c's order: the loop has stopped with calls still queued, the gateway
 * (devices, then adapters) goes, then the loop.  Nothing queued may run
 * after the adapter is unloaded. */
static void shutdown_with_posts_queued(void **state)
{
	struct cfg *cfg = load_cfg();
	struct gw_loop *loop;
	struct loader_set *set;
	struct gateway *gw;

	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(loader_set_new(fixture_dir(), host_table(), &set), 0);
	assert_int_equal(gateway_new(cfg, loop, set, &gw), 0);
	assert_int_equal(gateway_start(gw), 2);
	gateway_free(gw);
	loop_free(loop); /* ran the adapter's calls after dlclose: SIGSEGV */
	host_bind_loop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: a failed test may leave the adapter loaded. */
		cmocka_unit_test(shutdown_with_posts_queued),
		cmocka_unit_test(device_gone_drops_its_posts),
	};

	log_setup(LOG_TARGET_STDERR, LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
