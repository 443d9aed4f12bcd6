#include "device_health.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

static void show_code(struct dev_health *h)
{
	struct lwm_path p = lwm_path_make(4, 3, 0, 11, 0);
	struct lwm_value v = {.type = LWM_T_INTEGER};

	if (!h->model)
		return;
	v.v.i = health_error_code(h);
	if (lwm_model_set(h->model, &p, &v) == 1 && h->changed)
		h->changed(&p, h->ud); /* observers */
}

int64_t health_error_code(const struct dev_health *h)
{
	return (h->down || h->n_stale) && !h->cleared ? HEALTH_PERIPHERAL_MALFUNCTION : 0;
}

bool health_is_stale(const struct dev_health *h, size_t i)
{
	return i < h->n_pts && h->pts[i].stale;
}

uint64_t health_limit_ms(uint32_t poll_ms, double factor, bool has_after, uint32_t after_ms)
{
	if (has_after)
		return after_ms;
	if (!poll_ms || !(factor > 0))
		return 0;
	return (uint64_t)llround((double)poll_ms * factor);
}

static bool power_of_ten(unsigned long k)
{
	while (k >= 10 && k % 10 == 0)
		k /= 10;
	return k == 1;
}

/* The earliest time a check can find something: a current point running
 * out of time, or (after Reset Error Code) a stale point's next limit. */
static void arm(struct dev_health *h)
{
	uint64_t next = UINT64_MAX;

	if (!h->tracking || !h->timer.q)
		return;
	for (size_t i = 0; i < h->n_pts; i++) {
		const struct health_point *pt = &h->pts[i];
		if (pt->limit_ms && (!pt->stale || h->cleared) && pt->fresh_ms + pt->limit_ms < next)
			next = pt->fresh_ms + pt->limit_ms;
	}
	if (next == UINT64_MAX)
		gw_timer_disarm(&h->timer);
	else
		gw_timer_arm(&h->timer, next);
}

static void check(struct gw_timer *t, void *ud)
{
	struct dev_health *h = ud;
	uint64_t now = clock_now_ms();
	bool report = false;

	for (size_t i = 0; i < h->n_pts; i++) {
		struct health_point *pt = &h->pts[i];
		char path[32];
		if (!pt->limit_ms || now - pt->fresh_ms < pt->limit_ms)
			continue;
		if (pt->stale) {
			/* Still silent after Reset Error Code: report again. */
			pt->fresh_ms = now;
			report |= h->cleared;
			continue;
		}
		pt->stale = true;
		h->n_stale++;
		report = true;
		/* A device slower than the limit would flap: say so, but not
		 * every time. */
		pt->said = power_of_ten(++pt->spells);
		lwm_path_format(&pt->path, path, sizeof(path));
		if (pt->said)
			log_warn(h->name, "%s stale: no value for %.1f s (limit %.1f s); reads answer "
				 "5.03 (%lu time%s so far)", path, (double)(now - pt->fresh_ms) / 1000.0,
				 (double)pt->limit_ms / 1000.0, pt->spells, pt->spells == 1 ? "" : "s");
		/* No current value to give: the model forgets it. */
		if (h->model && lwm_model_unset(h->model, &pt->path) == 1 && h->changed)
			h->changed(&pt->path, h->ud);
	}
	if (report) {
		h->cleared = false;
		show_code(h);
	}
	arm(h);
}

int health_init(struct dev_health *h, const char *name, struct lwm_model *model,
		struct timerq *q, size_t n, void (*changed)(const struct lwm_path *p, void *ud),
		void *ud)
{
	*h = (struct dev_health){.name = name, .model = model, .changed = changed, .ud = ud};
	h->timer.idx = SIZE_MAX;
	h->pts = calloc(n ? n : 1, sizeof(*h->pts));
	if (!h->pts)
		return -ENOMEM;
	h->n_pts = n;
	if (q)
		gw_timer_init(&h->timer, q, check, h);
	show_code(h);
	return 0;
}

void health_fini(struct dev_health *h)
{
	health_stop(h);
	free(h->pts);
	h->pts = NULL;
	h->n_pts = 0;
}

void health_point(struct dev_health *h, size_t i, const struct lwm_path *p, uint64_t limit_ms)
{
	if (i >= h->n_pts)
		return;
	h->pts[i].path = *p;
	h->pts[i].limit_ms = limit_ms;
}

void health_start(struct dev_health *h, uint64_t now_ms)
{
	for (size_t i = 0; i < h->n_pts; i++)
		if (!h->pts[i].stale)
			h->pts[i].fresh_ms = now_ms;
	h->tracking = true;
	arm(h);
}

void health_stop(struct dev_health *h)
{
	h->tracking = false;
	if (h->timer.q)
		gw_timer_disarm(&h->timer);
}

void health_fresh(struct dev_health *h, size_t i, uint64_t now_ms)
{
	struct health_point *pt;
	char path[32];

	if (i >= h->n_pts)
		return;
	pt = &h->pts[i];
	pt->fresh_ms = now_ms;
	if (!pt->stale)
		return; /* its deadline only moved later: the timer finds out */
	pt->stale = false;
	h->n_stale--;
	lwm_path_format(&pt->path, path, sizeof(path));
	if (pt->said)
		log_notice(h->name, "%s current again", path);
	if (!h->down && !h->n_stale)
		h->cleared = false; /* the next condition is reported afresh */
	show_code(h);
	if (h->tracking && h->timer.q &&
	    (!gw_timer_armed(&h->timer) || h->timer.due_ms > now_ms + pt->limit_ms))
		gw_timer_arm(&h->timer, now_ms + pt->limit_ms);
}

void health_set_down(struct dev_health *h, bool down)
{
	if (down == h->down)
		return;
	h->down = down;
	if (down || !h->n_stale)
		h->cleared = false;
	show_code(h);
}

void health_failure(struct dev_health *h)
{
	if (!h->down || !h->cleared)
		return;
	h->cleared = false;
	log_notice(h->name, "still down: error code reported again");
	show_code(h);
}

void health_reset_codes(struct dev_health *h, uint64_t now_ms)
{
	struct lwm_path p = lwm_path_make(3, 3, 0, 11, 0);

	log_notice(h->name, "error codes reset by the server%s",
		   h->down || h->n_stale ? "; still failing: reported again on the next failure"
					 : "");
	if (h->down || h->n_stale)
		h->cleared = true;
	/* A stale point reports again after another limit without a value. */
	for (size_t i = 0; i < h->n_pts; i++)
		if (h->pts[i].stale)
			h->pts[i].fresh_ms = now_ms;
	/* One instance, 0: drop any other instance first. */
	if (h->model)
		lwm_model_clear_instances(h->model, &p);
	show_code(h);
	arm(h);
}
