/* The one clock.  Everything that needs "now" asks here, so tests can fake it. */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC, or the fake clock when set). */
uint64_t clock_now_ms(void);
/* Wall-clock seconds since the epoch (CLOCK_REALTIME, or fake). */
int64_t clock_wall_s(void);

/* Tests: freeze the clock at ms / advance it.  clock_fake_off() restores. */
void clock_fake_set(uint64_t ms);
void clock_fake_advance(uint64_t ms);
void clock_fake_off(void);

#endif
