/* The device layer: one downstream device, its adapter instance, its points
 * (channel <-> /oid/iid/rid with the transform), its data model and one
 * LwM2M client (registration) per server, all serving that model.
 * Readings flow adapter -> point -> transform -> the client's data model. */
#ifndef GW_DEVICE_H
#define GW_DEVICE_H

#include "config.h"
#include "gatewayd/adapter.h"
#include "loader.h"
#include "lwm2m/engine.h"
#include "lwm2m/client.h"
#include "timerq.h"

/* Consecutive failed operations after which a device counts as down
 * (Object 3 Error Code 8, peripheral malfunction). */
#define DEVICE_DOWN_AFTER 3

/* Longest a device's registration waits for its first readings. */
#define READY_WAIT_MS 5000

/* Check what the daemon alone can check of a device's points against the
 * object table (object and resource exist, resource is single-instance and
 * readable or writable); errors are added to cfg's diags.  Returns the
 * number of errors. */
size_t device_check_points(struct cfg *cfg, const struct cfg_device *dc);

/* Create a device: the adapter validates its config (device_new,
 * channel_new).  With engine == NULL nothing else happens (gatewayd -t);
 * otherwise the LwM2M client and its data model are built too.  cfg, dc and
 * adapter are borrowed for the device's lifetime. */
int device_create(const struct cfg *cfg, const struct cfg_device *dc, struct gw_adapter *adapter,
		  struct lwm_engine *engine, struct timerq *timers, struct gwd_device **out);
/* Start the adapter's I/O, polling and registration. */
int device_start(struct gwd_device *d);
/* Stop the adapter's I/O (it completes what is pending) and polling. */
void device_stop(struct gwd_device *d);
void device_destroy(struct gwd_device *d);
/* Take a running (or never started) device out of service: stop its
 * adapter I/O and polling, and de-register each registration.  done(d, ud)
 * runs from a timer once every De-register was answered (or failed), or
 * after timeout_ms; the caller then destroys d.  The engine's shutdown
 * (lwm_engine_shutdown) may overtake it; device_destroy is always safe. */
void device_retire(struct gwd_device *d, uint32_t timeout_ms,
		   void (*done)(struct gwd_device *d, void *ud), void *ud);

const char *device_name(const struct gwd_device *d);
/* gateway.state_dir; borrowed from the config (host service, ABI 1.2). */
const char *device_state_dir(const struct gwd_device *d);
/* The registration with the device's first server (NULL without engine). */
struct lwm_client *device_client(struct gwd_device *d);
/* One registration per server of the device, in its config order. */
size_t device_client_count(const struct gwd_device *d);
struct lwm_client *device_client_at(struct gwd_device *d, size_t i);
/* The data model all the device's registrations share. */
struct lwm_model *device_model(struct gwd_device *d);
bool device_is_down(const struct gwd_device *d);

/* Read-only state for the control socket (ctl.c). */
struct device_counters {
	uint64_t reads;    /* reads completed (values or failures) */
	uint64_t writes;   /* writes completed */
	uint64_t executes; /* executes completed */
	uint64_t errors;   /* failed operations of any kind */
	uint64_t timeouts; /* of those, timed out */
};
bool device_is_started(const struct gwd_device *d);
/* Negative errno of the failure that last counted against the device (0:
 * none): the cause shown while it is down. */
int device_down_cause(const struct gwd_device *d);
const char *device_adapter_name(const struct gwd_device *d);
/* The adapter's own account of how it reads the device (ABI 1.4 describe_plan):
 * the length it wanted, -ENOTSUP when the adapter has none, or its negative errno. */
int device_describe_plan(const struct gwd_device *d, char *buf, size_t len);
const struct cfg_device *device_config(const struct gwd_device *d); /* borrowed */
const struct device_counters *device_counters(const struct gwd_device *d);
/* clock_now_ms of the last value that reached the model; 0: none yet. */
uint64_t device_last_reading_ms(const struct gwd_device *d);
/* Walking thousands of devices (gatewayctl devices): bring what stage 0,
 * then stage 1 of a device reads into the cache, a few devices ahead. */
void device_prefetch(const struct gwd_device *d, int stage);
/* Its Object 5 (firmware.h), NULL when nothing can update it. */
struct fw_obj *device_firmware(const struct gwd_device *d);
/* Restart the device alone, as Execute /3/0/4 Reboot does: its adapter
 * state and registrations, from a timer.  -ENOTCONN when not started. */
int device_restart(struct gwd_device *d);

/* Host services (see struct gwd_host). */
void device_report(struct gwd_device *d, gwd_channel_t ch, const struct gwd_value *v);
void device_report_error(struct gwd_device *d, gwd_channel_t ch, int err);
void device_complete(struct gwd_op *op, int status, const struct gwd_value *v);
void device_set_identity(struct gwd_device *d, enum gwd_identity field, const char *value);
void device_set_state(struct gwd_device *d, enum gwd_device_state state, int cause);
void device_fw_progress(struct gwd_device *d, unsigned percent);

#endif
