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

#endif
