/* Cycles of a device whose adapter reads all its channels at once on a
 * worker thread (sysfs, i2c): a cycle every `interval`, the daemon's reads
 * that arrive together sharing one cycle (started from a deferral timer,
 * never inside the read op), DOWN/backoff health (gw_health.h) judged from
 * whole cycles, and each channel's outcome reported, its waiting reads
 * completed and its errors logged once per kind.  Loop thread only; the
 * adapter owns the worker and says when a cycle is done. */
#ifndef GW_CYCLE_H
#define GW_CYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "gatewayd/adapter.h"
#include "gw_health.h"

/* A read op waiting for a cycle. */
struct gw_waiter {
	struct gw_waiter *next;
	struct gwd_op *op;
	gwd_channel_t ch;
	int status; /* for ops failed at once */
};

struct gw_cycle {
	const struct gwd_host *host;
	struct gwd_device *dev;
	uint64_t interval_ms; /* 0: only the daemon's reads start cycles */
	struct gw_health health;
	uint64_t n_errors; /* failed channel reads since the device was made */
	/* The adapter's: queue one cycle of every channel (all) or of those
	 * gw_cycle_wants() names, calling gw_cycle_begin() when it did. */
	void (*start)(void *ud, bool all);
	void *ud;

	bool started, busy;
	uint64_t next;
	struct gwd_timer *cycle_timer, *defer_timer;
	struct gw_waiter *waiting;  /* reads for the next cycle */
	struct gw_waiter *in_cycle; /* reads riding the cycle in flight */
	struct gw_waiter *fail_now; /* ops to fail from the defer timer */
};

void gw_cycle_init(struct gw_cycle *c, const struct gwd_host *host, struct gwd_device *dev,
		   void (*start)(void *ud, bool all), void *ud);
/* Timers made, health reset (UP told to the host), the first cycle now
 * when interval_ms is set. */
int gw_cycle_start(struct gw_cycle *c);
/* Timers disarmed, every pending read completed with -ECANCELED. */
void gw_cycle_stop(struct gw_cycle *c);
/* Timers freed (after stop). */
void gw_cycle_fini(struct gw_cycle *c);

/* The read op of the ABI. */
int gw_cycle_read(struct gw_cycle *c, gwd_channel_t ch, struct gwd_op *op);

/* For start(): whether a waiting read wants ch; the cycle is on its way
 * (the waiting reads now ride it); it could not be made (they fail). */
bool gw_cycle_wants(const struct gw_cycle *c, gwd_channel_t ch);
void gw_cycle_begin(struct gw_cycle *c);
void gw_cycle_fail_waiting(struct gw_cycle *c, int err);

/* For the cycle's results: whether ch's reads ride it; one channel's
 * outcome (reported, reads completed, an error logged once per kind in
 * *logged_err, under the channel's name), true when good; then the end of
 * the cycle (ok: some channel was good; else last_err and its message make
 * it a failed cycle). */
bool gw_cycle_carries(const struct gw_cycle *c, gwd_channel_t ch);
bool gw_cycle_result(struct gw_cycle *c, gwd_channel_t ch, int status, const struct gwd_value *v,
		     const char *msg, int *logged_err, const char *name);
void gw_cycle_end(struct gw_cycle *c, bool ok, int last_err, const char *last_msg);

#endif
