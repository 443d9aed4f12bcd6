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

/* Re-read the config file (SIGHUP).  An invalid file is reported and the
 * running config kept.  Returns 0 when the new file was valid. */
int gateway_reload(struct gateway *gw);

size_t gateway_device_count(const struct gateway *gw);
size_t gateway_registered_count(const struct gateway *gw);

/* Read-only views for the control socket (ctl.c); borrowed. */
struct gwd_device;
struct gwd_device *gateway_device_at(const struct gateway *gw, size_t i);
/* NULL when no device has that name. */
struct gwd_device *gateway_find_device(const struct gateway *gw, const char *name);
const struct cfg *gateway_config(const struct gateway *gw);

#endif
