/* The running gateway: the config, the loaded adapters, the devices and the
 * LwM2M engine, all on one loop. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdio.h>

#include "config.h"
#include "loader.h"
#include "loop.h"

struct gateway;

/* The adapter directory in force: override (-A) when set, else the
 * config's, else the built-in default. */
const char *gateway_adapter_dir(const struct cfg *cfg, const char *override);

/* Check a loaded config the way the daemon would use it: load each adapter
 * (through adapters, which keeps them loaded for gateway_new), let it
 * validate its devices and points, check points against the object table,
 * and report keys nobody read.  Errors go into cfg's diags; returns their
 * count. */
size_t gateway_check(struct cfg *cfg, struct loader_set *adapters);
/* Print every diag, one per line. */
void gateway_print_diags(const struct cfg *cfg, FILE *f);

/* Build devices and clients.  cfg and adapters are taken (freed by
 * gateway_free, also on failure). */
int gateway_new(struct cfg *cfg, struct gw_loop *loop, struct loader_set *adapters,
		struct gateway **out);
/* Start every device; a device that fails to start is logged and left out,
 * the others run.  Returns the number started.  With gateway.registration_rate
 * set, devices start (and register) at that rate from a timer; those still
 * queued count as started, and gateway_stop leaves them unstarted. */
size_t gateway_start(struct gateway *gw);
/* De-register every client (at most timeout_ms), stop the devices, then
 * call done(ud). */
void gateway_stop(struct gateway *gw, uint32_t timeout_ms, void (*done)(void *ud), void *ud);
void gateway_free(struct gateway *gw);

/* Devices made and taken away at run time: the one mechanism behind
 * reload, the control socket and adapters that discover devices.
 *
 * Add dc's device and start it (at its pacing turn when
 * gateway.registration_rate is set).  dc is borrowed for the device's
 * lifetime and must belong to the gateway's current configuration
 * (gateway_config).  -EEXIST when a device of that name runs, -EBUSY while
 * one is still being removed, -ESHUTDOWN while stopping, or device_create's
 * error (logged). */
int gateway_add_device(struct gateway *gw, const struct cfg_device *dc);
/* De-register the device (waiting at most 2 s for the answers), stop it and
 * free it; the other devices are not touched.  Returns at once (-ENOENT:
 * no such device); the device is gone from the count now. */
int gateway_remove_device(struct gateway *gw, const char *name);
/* The same, then the device is made again from the current configuration
 * (when it still has it) and registers afresh.  Re-creations, and devices a
 * reload adds while others are being removed, wait until every device being
 * removed is gone: an adapter never holds the old and the new instance of a
 * device (or of the bus they share) side by side. */
int gateway_restart_device(struct gateway *gw, const char *name);
/* The configuration in force (the last one loaded); borrowed until the
 * next reload. */
const struct cfg *gateway_config(const struct gateway *gw);

struct gateway_reload_result {
	size_t added, removed, restarted, unchanged;
	/* An invalid file: every error, "file:line: path: message" one per
	 * line (they are logged too); owned by the caller (free).  NULL
	 * otherwise. */
	char *errors;
};

/* Re-read the config file (SIGHUP, gatewayctl reload).  It is checked in
 * full first: an invalid file changes nothing, its errors are logged and
 * -EINVAL returned.  Otherwise only what changed is touched, device by
 * device (by name): a new device is added, a removed one removed, a device
 * whose effective configuration differs (its own settings, its profile's,
 * bus's or servers', the gateway's state_dir and store bounds) is
 * restarted; the others keep running untouched, registrations,
 * observations and sessions included.  The log level and operation
 * timeout apply at once; models_dir and adapter_dir at the next restart.
 * res (may be NULL) says what was done.  -ESHUTDOWN while stopping. */
int gateway_reload(struct gateway *gw, struct gateway_reload_result *res);

size_t gateway_device_count(const struct gateway *gw);
size_t gateway_registered_count(const struct gateway *gw);

/* Read-only views for the control socket (ctl.c); borrowed. */
struct gwd_device;
struct gwd_device *gateway_device_at(const struct gateway *gw, size_t i);
/* NULL when no device has that name. */
struct gwd_device *gateway_find_device(const struct gateway *gw, const char *name);
const struct cfg *gateway_config(const struct gateway *gw);

#endif
