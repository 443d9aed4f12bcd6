#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "device.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "resolver.h"
#include "statefile.h"
#include "lwm2m/client.h"
#include "lwm2m/engine.h"

#ifndef ADAPTERDIR
#define ADAPTERDIR "/usr/lib/gatewayd/adapters"
#endif

/* Registration pacing wakes at most this often and starts a batch each time: a timer per
 * device, or a wake-up per device at high rates, would cost more than the starts. */
#define PACE_MIN_INTERVAL_MS 10

struct gateway {
	struct cfg *cfg;
	struct gw_loop *loop;
	struct lwm_engine *engine;
	struct gw_resolver *resolver; /* server names, off the loop thread */
	struct gw_watch *coap_watch;
	struct loader_set *adapters;
	struct gwd_device **devices;
	size_t n_devices;
	size_t n_started;
	/* Registration pacing: devices [pace_next, n_devices) wait for pace_timer. */
	struct gw_timer pace_timer;
	size_t pace_next;
	uint64_t pace_t0;
	void (*stop_done)(void *ud);
	void *stop_ud;
};

static void pace_tick(struct gw_timer *t, void *ud);

const char *gateway_adapter_dir(const struct cfg *cfg, const char *override)
{
	if (override)
		return override;
	if (cfg && cfg->gateway.adapter_dir)
		return cfg->gateway.adapter_dir;
	return ADAPTERDIR;
}

void gateway_print_diags(const struct cfg *cfg, FILE *f)
{
	for (size_t i = 0; i < cfg->n_diags; i++) {
		char *s = cfg_diag_format(&cfg->diags[i]);
		fprintf(f, "%s\n", s ? s : cfg->diags[i].msg);
		free(s);
	}
}

static void adapter_diag(struct cfg *cfg, const struct cfg_device *dc, int err)
{
	const config_setting_t *s = dc->node.own;
	const config_setting_t *a = s ? config_setting_get_member(s, "adapter") : NULL;

	if (!a && dc->profile)
		a = config_setting_get_member(dc->profile->setting, "adapter");
	cfg_diag_add(cfg, a ? a : s, "adapter \"%s\" cannot be used: %s", dc->adapter,
		     err == -ENOENT ? "no such adapter in the adapter directory"
		     : err == -EPROTO ? "incompatible ABI version (see the log)"
				      : strerror(-err));
}

size_t gateway_check(struct cfg *cfg, struct loader_set *set)
{
	size_t before = cfg->n_diags, n_made = 0;
	/* Every device stays until all are checked, as they would run: an
	 * adapter can then see what devices share (a Modbus serial port). */
	struct gwd_device **made = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof(*made));

	if (!made) {
		cfg_diag_add(cfg, NULL, "out of memory");
		return cfg->n_diags;
	}
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct cfg_device *dc = &cfg->devices[i];
		struct gw_adapter *a;
		struct gwd_device *d;
		int r;

		device_check_points(cfg, dc);
		r = loader_set_get(set, dc->adapter, &a);
		if (r < 0) {
			adapter_diag(cfg, dc, r);
			continue;
		}
		/* The adapter reports its own errors through cfg_error. */
		if (device_create(cfg, dc, a, NULL, NULL, &d) == 0)
			made[n_made++] = d;
		else if (cfg->n_diags == before)
			cfg_diag_add(cfg, dc->node.own, "adapter %s refused the device", dc->adapter);
	}
	while (n_made)
		device_destroy(made[--n_made]);
	free(made);
	/* Only meaningful once every adapter has read what it knows. */
	if (cfg->n_diags == before)
		cfg_check_unknown_keys(cfg);
	return cfg->n_diags;
}

static void on_coap_readable(int fd, uint32_t revents, void *ud)
{
	struct gateway *gw = ud;

	lwm_engine_io(gw->engine);
}

int gateway_new(struct cfg *cfg, struct gw_loop *loop, struct loader_set *adapters,
		struct gateway **out)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	int r;

	if (!gw) {
		cfg_free(cfg);
		loader_set_free(adapters);
		return -ENOMEM;
	}
	gw->cfg = cfg;
	gw->loop = loop;
	gw->adapters = adapters;
	gw->devices = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof(*gw->devices));
	if (!gw->devices) {
		r = -ENOMEM;
		goto fail;
	}
	host_bind_loop(loop);
	gw_timer_init(&gw->pace_timer, loop_timers(loop), pace_tick, gw);
	r = lwm_engine_new(loop_timers(loop), &gw->engine);
	if (r < 0)
		goto fail;
	lwm_engine_set_op_timeout(gw->engine, cfg->gateway.operation_timeout_ms);
	r = resolver_new(loop, NULL, &gw->resolver);
	if (r < 0)
		goto fail;
	lwm_engine_set_resolver(gw->engine, &(struct lwm_resolver){
		.start = resolver_start, .cancel = resolver_cancel, .ctx = gw->resolver});
	r = loop_watch_fd(loop, lwm_engine_fd(gw->engine), EPOLLIN, on_coap_readable, gw,
			  &gw->coap_watch);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct cfg_device *dc = &cfg->devices[i];
		struct gw_adapter *a;
		r = loader_set_get(gw->adapters, dc->adapter, &a);
		if (r == 0)
			r = device_create(cfg, dc, a, gw->engine, loop_timers(loop),
					  &gw->devices[gw->n_devices]);
		if (r < 0) {
			/* One bad device must not take the others down. */
			log_err(dc->name, "device not created: %s", strerror(-r));
			continue;
		}
		gw->n_devices++;
	}
	*out = gw;
	return 0;
fail:
	gateway_free(gw);
	return r;
}

/* Start the devices whose turn has come: `rate` per second since pace_t0, the first at
 * once.  Re-arms the one pacing timer for the next batch. */
static void pace_tick(struct gw_timer *t, void *ud)
{
	struct gateway *gw = ud;
	uint64_t rate = gw->cfg->gateway.registration_rate;
	uint64_t now = clock_now_ms(), allowed, next;

	allowed = (now - gw->pace_t0) * rate / 1000u + 1u;
	while (gw->pace_next < gw->n_devices && gw->pace_next < allowed) {
		/* A failure was counted as started when queued; it is logged by the device. */
		if (device_start(gw->devices[gw->pace_next]) < 0)
			gw->n_started--;
		gw->pace_next++;
	}
	if (gw->pace_next >= gw->n_devices) {
		log_info(NULL, "registration pacing: all %zu device(s) started", gw->n_devices);
		return;
	}
	/* When the next device is due, but never sooner than the minimum interval. */
	next = gw->pace_t0 + (gw->pace_next * 1000u + rate - 1u) / rate;
	if (next < now + PACE_MIN_INTERVAL_MS)
		next = now + PACE_MIN_INTERVAL_MS;
	gw_timer_arm(&gw->pace_timer, next);
}

size_t gateway_start(struct gateway *gw)
{
	uint32_t rate = gw->cfg->gateway.registration_rate;

	gw->n_started = 0;
	if (rate == 0 || gw->n_devices <= 1) {
		for (size_t i = 0; i < gw->n_devices; i++)
			if (device_start(gw->devices[i]) == 0)
				gw->n_started++;
		return gw->n_started;
	}
	log_info(NULL, "registration pacing: starting %zu device(s) at %u per second (%.1f s)",
		 gw->n_devices, rate, (double)(gw->n_devices - 1) / rate);
	gw->n_started = gw->n_devices;
	gw->pace_next = 0;
	gw->pace_t0 = clock_now_ms();
	pace_tick(&gw->pace_timer, gw);
	return gw->n_started;
}

static void stop_devices(struct gateway *gw)
{
	for (size_t i = 0; i < gw->n_devices; i++)
		device_stop(gw->devices[i]);
}

static void deregistered(void *ud)
{
	struct gateway *gw = ud;

	stop_devices(gw);
	if (gw->stop_done)
		gw->stop_done(gw->stop_ud);
}

void gateway_stop(struct gateway *gw, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	gw->stop_done = done;
	gw->stop_ud = ud;
	/* Devices still waiting for their turn stay unstarted. */
	gw_timer_disarm(&gw->pace_timer);
	lwm_engine_shutdown(gw->engine, timeout_ms, deregistered, gw);
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	if (gw->pace_timer.q)
		gw_timer_disarm(&gw->pace_timer);
	for (size_t i = 0; i < gw->n_devices; i++)
		device_destroy(gw->devices[i]);
	statefile_flush(); /* the last values written reach the disk */
	free(gw->devices);
	loop_unwatch_fd(gw->coap_watch);
	resolver_free(gw->resolver); /* after the clients, who may use it */
	lwm_engine_free(gw->engine);
	loader_set_free(gw->adapters);
	cfg_free(gw->cfg);
	free(gw);
}

int gateway_reload(struct gateway *gw)
{
	struct cfg *ncfg = NULL;
	int r = cfg_load(gw->cfg->file, &ncfg);
	int level;

	if (r == 0 && gateway_check(ncfg, gw->adapters) > 0)
		r = -EINVAL;
	if (r < 0) {
		log_err(NULL, "reload: %s is invalid; keeping the running configuration",
			gw->cfg->file);
		if (ncfg)
			for (size_t i = 0; i < ncfg->n_diags; i++) {
				char *s = cfg_diag_format(&ncfg->diags[i]);
				log_err(NULL, "reload: %s", s ? s : ncfg->diags[i].msg);
				free(s);
			}
		cfg_free(ncfg);
		return r;
	}
	if (strcmp(ncfg->gateway.models_dir, gw->cfg->gateway.models_dir) != 0)
		log_notice(NULL, "reload: models_dir takes effect at the next restart");
	level = ncfg->gateway.log_level;
	log_set_level(level);
	log_notice(NULL, "reload: %s is valid; log level applied. Device, server and bus "
		   "changes take effect at the next restart (live per-device reload is not "
		   "implemented yet)", gw->cfg->file);
	cfg_free(ncfg);
	return 0;
}

size_t gateway_device_count(const struct gateway *gw)
{
	return gw->n_devices;
}

size_t gateway_registered_count(const struct gateway *gw)
{
	return lwm_engine_registered_count(gw->engine);
}

struct gwd_device *gateway_device_at(const struct gateway *gw, size_t i)
{
	return i < gw->n_devices ? gw->devices[i] : NULL;
}

struct gwd_device *gateway_find_device(const struct gateway *gw, const char *name)
{
	for (size_t i = 0; i < gw->n_devices; i++)
		if (strcmp(device_name(gw->devices[i]), name) == 0)
			return gw->devices[i];
	return NULL;
}

const struct cfg *gateway_config(const struct gateway *gw)
{
	return gw->cfg;
}
