/* Intrusive one-shot timers in a binary min-heap.  Thousands of devices cost
 * one heap entry each and the loop one wake-up at the earliest deadline:
 * there is no per-timer kernel or sd-event object. */
#ifndef GW_TIMERQ_H
#define GW_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timerq;

struct gw_timer {
	uint64_t due_ms;
	size_t idx; /* position in the heap; SIZE_MAX when not armed */
	void (*cb)(struct gw_timer *t, void *ud);
	void *ud;
	struct timerq *q;
};

/* A heap slot keeps the deadline beside the timer: sifting compares slots
 * without touching thousands of timers scattered in memory. */
struct timerq_slot {
	uint64_t due_ms;
	struct gw_timer *t;
};

struct timerq {
	struct timerq_slot *heap;
	size_t n, cap;
	uint64_t runs; /* timerq_run calls so far: tells loop turns apart */
	/* Called when the earliest deadline changes (UINT64_MAX: none). */
	void (*on_change)(struct timerq *q, uint64_t earliest_ms, void *ud);
	void *on_change_ud;
};

void timerq_init(struct timerq *q);
void timerq_fini(struct timerq *q);
void gw_timer_init(struct gw_timer *t, struct timerq *q,
		   void (*cb)(struct gw_timer *t, void *ud), void *ud);
/* (Re)arm at an absolute monotonic time.  Returns 0 or -ENOMEM. */
int gw_timer_arm(struct gw_timer *t, uint64_t due_ms);
void gw_timer_disarm(struct gw_timer *t);
bool gw_timer_armed(const struct gw_timer *t);
/* Earliest deadline or UINT64_MAX. */
uint64_t timerq_earliest(const struct timerq *q);
/* Fire every timer due at or before now, earliest first; a callback may
 * re-arm (for a later time) or disarm any timer.  Returns how many fired. */
size_t timerq_run(struct timerq *q, uint64_t now_ms);

#endif
