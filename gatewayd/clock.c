#include "clock.h"

#include <stdbool.h>
#include <time.h>

/* The fake clock is only ever set by tests on the loop thread. */
static bool fake_on;
static uint64_t fake_ms;

uint64_t clock_now_ms(void)
{
	struct timespec ts;

	if (fake_on)
		return fake_ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t clock_wall_s(void)
{
	/* A fixed epoch offset keeps fake wall time plausible and deterministic. */
	if (fake_on)
		return 1700000000 + (int64_t)(fake_ms / 1000u);
	return (int64_t)time(NULL);
}

void clock_fake_set(uint64_t ms)
{
	fake_on = true;
	fake_ms = ms;
}

void clock_fake_advance(uint64_t ms)
{
	fake_ms += ms;
}

void clock_fake_off(void)
{
	fake_on = false;
}
