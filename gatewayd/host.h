/* The host services table handed to adapters (struct gwd_host). */
#ifndef GW_HOST_H
#define GW_HOST_H

#include "gatewayd/adapter.h"
#include "loop.h"

/* The table.  Loop-bound services (timers, fd watches, post) need
 * host_bind_loop() first; without a loop (gatewayd -t) they fail -ENOTSUP,
 * which adapters never meet because device_new must do no I/O. */
const struct gwd_host *host_table(void);
void host_bind_loop(struct gw_loop *loop);
/* Who makes the devices adapters propose (propose_device, ABI 1.3): fn(ctx,
 * p) runs on the loop thread; NULL unbinds (proposals then fail -ENOSYS). */
void host_bind_proposer(int (*fn)(void *ctx, const struct gwd_device_proposal *p), void *ctx);

struct gw_adapter;
struct gwd_device;

/* Posts belong to an owner, found without the adapter's help: the adapter
 * whose code the posted function is, and the device when ud is the device
 * or its adapter context.  These drop an owner's pending posts; call them
 * when nothing of the owner's can post any more (after device_free, after
 * fini) and before its memory or code goes.  Without a loop, no-ops. */
void host_device_gone(const struct gwd_device *dev, const void *device_ctx);
void host_adapter_unloading(const struct gw_adapter *a);

#endif
