/* A device's health as the adapters that judge it themselves keep it
 * (sysfs, i2c): consecutive failed cycles, DOWN after `down_after` of them,
 * then probes with a capped exponential backoff, jittered so that devices
 * that failed together do not retry together; UP again on the first good
 * cycle.  Pure bookkeeping: the adapter logs and tells the host. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct gw_health {
	/* settings */
	unsigned down_after;
	uint64_t backoff_max_ms;
	/* state */
	unsigned failures; /* consecutive failed cycles */
	bool down;
	uint64_t backoff_ms;
	uint64_t rng;
};

/* Settings in place; the state as for a device that just started. */
void gw_health_init(struct gw_health *h, unsigned down_after, uint64_t backoff_max_ms,
		    uint64_t seed);
void gw_health_reset(struct gw_health *h);
/* A good cycle.  True when the device was down (it is up now). */
bool gw_health_ok(struct gw_health *h);
/* A failed cycle.  True when the device has just gone down. */
bool gw_health_fail(struct gw_health *h);
/* While down: milliseconds to the next probe (the backoff, jittered). */
uint64_t gw_health_retry_ms(struct gw_health *h);

#endif
