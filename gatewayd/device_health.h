/* A device's health as Object 3 shows it: the Error Code (/3/0/11) from
 * the device's conditions (down, stale points), Reset Error Code
 * (/3/0/12), and stale values.
 *
 * Stale: a point whose last value is older than its limit (its poll period
 * times stale_factor, or stale_after) no longer has a current value.  Its
 * value leaves the data model, so a Read of it answers 5.03 as before the
 * first reading, and the device reports Error Code 8 (peripheral
 * malfunction), as for a device that fails loudly.  The next value that
 * arrives (poll or report) makes it current again.
 *
 * Error Code: 8 while the device is down or a point is stale, 0 otherwise.
 * Reset Error Code clears it to the single instance 0 while the conditions
 * last; a condition then reports again on its next evidence: a failed
 * operation of a down device, another limit without a value for a stale
 * point, or a new condition. */
#ifndef GW_DEVICE_HEALTH_H
#define GW_DEVICE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/model.h"
#include "timerq.h"

/* Object 3 Error Code for every condition gatewayd records. */
#define HEALTH_PERIPHERAL_MALFUNCTION 8

struct health_point {
	struct lwm_path path;
	uint64_t limit_ms; /* 0: never stale */
	uint64_t fresh_ms; /* when its last value arrived (or tracking began) */
	bool stale;
	bool said;         /* this stale spell was logged */
	unsigned long spells; /* times it went stale: the 1st, 10th, 100th... are logged */
};

struct dev_health {
	const char *name;         /* for log lines; borrowed */
	struct lwm_model *model;  /* borrowed; NULL: nothing to show (gatewayd -t) */
	/* A value in the model changed (observers); ud borrowed. */
	void (*changed)(const struct lwm_path *p, void *ud);
	void *ud;
	struct health_point *pts; /* owned */
	size_t n_pts, n_stale;
	bool down;                /* the device fails loudly */
	bool cleared;             /* Reset Error Code since the last evidence */
	bool tracking;            /* started: stale checks run */
	struct gw_timer timer;    /* the next stale check */
};

/* n points, each never stale until health_point gives it a limit.  q may be
 * NULL (no stale checks). */
int health_init(struct dev_health *h, const char *name, struct lwm_model *model,
		struct timerq *q, size_t n, void (*changed)(const struct lwm_path *p, void *ud),
		void *ud);
void health_fini(struct dev_health *h);
void health_point(struct dev_health *h, size_t i, const struct lwm_path *p, uint64_t limit_ms);

/* The stale limit of a point: stale_after when set, else factor times its
 * poll period; 0 (never) without either. */
uint64_t health_limit_ms(uint32_t poll_ms, double factor, bool has_after, uint32_t after_ms);

/* Stale checks start counting from now / stop. */
void health_start(struct dev_health *h, uint64_t now_ms);
void health_stop(struct dev_health *h);

/* A value of point i arrived. */
void health_fresh(struct dev_health *h, size_t i, uint64_t now_ms);
/* The device's down verdict; and a failed operation, which re-reports a
 * down device's code after Reset Error Code. */
void health_set_down(struct dev_health *h, bool down);
void health_failure(struct dev_health *h);
/* Execute /3/0/12. */
void health_reset_codes(struct dev_health *h, uint64_t now_ms);

/* What /3/0/11/0 holds. */
int64_t health_error_code(const struct dev_health *h);
bool health_is_stale(const struct dev_health *h, size_t i);

#endif
