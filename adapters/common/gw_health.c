/* See gw_health.h. */
#include "gw_health.h"

#include "gatewayd/adapter.h"

void gw_health_init(struct gw_health *h, unsigned down_after, uint64_t backoff_max_ms,
		    uint64_t seed)
{
	h->down_after = down_after;
	h->backoff_max_ms = backoff_max_ms;
	h->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	gw_health_reset(h);
}

void gw_health_reset(struct gw_health *h)
{
	h->failures = 0;
	h->down = false;
	h->backoff_ms = 0;
}

bool gw_health_ok(struct gw_health *h)
{
	bool was_down = h->down;

	gw_health_reset(h);
	return was_down;
}

bool gw_health_fail(struct gw_health *h)
{
	bool went_down = false;

	h->failures++;
	if (!h->down && h->failures >= h->down_after)
		h->down = went_down = true;
	if (h->down) {
		uint64_t base = h->backoff_ms ? 2 * h->backoff_ms : 1000;

		h->backoff_ms = base < h->backoff_max_ms ? base : h->backoff_max_ms;
	}
	return went_down;
}

uint64_t gw_health_retry_ms(struct gw_health *h)
{
	uint64_t b = h->backoff_ms ? h->backoff_ms : 1000;
	uint64_t jitter = b / 4 ? gwd_jitter_next(&h->rng) % (b / 4 + 1) : 0;

	/* Within [7/8 b, 9/8 b]. */
	return b - b / 8 + jitter;
}
