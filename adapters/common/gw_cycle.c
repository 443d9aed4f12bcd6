/* See gw_cycle.h. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cycle.h"

static void waiter_push(struct gw_waiter **list, struct gw_waiter *w)
{
	w->next = *list;
	*list = w;
}

static void complete_list(struct gw_cycle *c, struct gw_waiter **list, int status)
{
	while (*list) {
		struct gw_waiter *w = *list;

		*list = w->next;
		c->host->complete(w->op, status ? status : w->status, NULL);
		free(w);
	}
}

static bool waiting_for(const struct gw_waiter *list, gwd_channel_t ch)
{
	for (; list; list = list->next)
		if (list->ch == ch)
			return true;
	return false;
}

static void arm_defer(struct gw_cycle *c)
{
	c->host->timer_arm(c->defer_timer, c->host->now_ms());
}

static void set_state(struct gw_cycle *c, bool down, int cause)
{
	if (GWD_HOST_HAS(c->host, set_state))
		c->host->set_state(c->dev, down ? GWD_STATE_DOWN : GWD_STATE_UP, cause);
}

static void schedule(struct gw_cycle *c)
{
	uint64_t now = c->host->now_ms();

	if (!c->started)
		return;
	if (c->health.down) {
		c->next = now + gw_health_retry_ms(&c->health);
		c->host->timer_arm(c->cycle_timer, c->next);
		return;
	}
	if (!c->interval_ms) {
		c->host->timer_disarm(c->cycle_timer);
		return;
	}
	/* Keep to the grid; skip slots already missed. */
	if (c->next <= now)
		c->next += ((now - c->next) / c->interval_ms + 1) * c->interval_ms;
	c->host->timer_arm(c->cycle_timer, c->next);
}

static void on_cycle_timer(void *ud)
{
	struct gw_cycle *c = ud;

	if (!c->started)
		return;
	c->start(c->ud, true);
	if (!c->busy)
		schedule(c);
	/* else gw_cycle_end schedules the next one. */
}

static void on_defer_timer(void *ud)
{
	struct gw_cycle *c = ud;

	complete_list(c, &c->fail_now, 0);
	if (!c->started)
		return;
	if (c->health.down) {
		/* A device that is down answers at once instead of hanging. */
		complete_list(c, &c->waiting, -EHOSTDOWN);
		return;
	}
	if (c->waiting && !c->busy)
		c->start(c->ud, false);
}

void gw_cycle_init(struct gw_cycle *c, const struct gwd_host *host, struct gwd_device *dev,
		   void (*start)(void *ud, bool all), void *ud)
{
	c->host = host;
	c->dev = dev;
	c->start = start;
	c->ud = ud;
}

int gw_cycle_start(struct gw_cycle *c)
{
	const struct gwd_host *h = c->host;
	int r;

	if (!c->cycle_timer && (r = h->timer_new(on_cycle_timer, c, &c->cycle_timer)) < 0)
		return r;
	if (!c->defer_timer && (r = h->timer_new(on_defer_timer, c, &c->defer_timer)) < 0)
		return r;
	c->started = true;
	c->busy = false;
	gw_health_reset(&c->health);
	/* The adapter judges health from the start: the host's own judgement
	 * counts channel errors, and a device with some failing channels and
	 * some good ones is not down. */
	set_state(c, false, 0);
	c->next = h->now_ms();
	if (c->interval_ms)
		h->timer_arm(c->cycle_timer, c->next);
	return 0;
}

void gw_cycle_stop(struct gw_cycle *c)
{
	if (!c->started)
		return;
	c->started = false;
	c->busy = false;
	c->host->timer_disarm(c->cycle_timer);
	c->host->timer_disarm(c->defer_timer);
	complete_list(c, &c->fail_now, -ECANCELED);
	complete_list(c, &c->waiting, -ECANCELED);
	complete_list(c, &c->in_cycle, -ECANCELED);
}

void gw_cycle_fini(struct gw_cycle *c)
{
	if (c->cycle_timer)
		c->host->timer_free(c->cycle_timer);
	if (c->defer_timer)
		c->host->timer_free(c->defer_timer);
	c->cycle_timer = c->defer_timer = NULL;
}

int gw_cycle_read(struct gw_cycle *c, gwd_channel_t ch, struct gwd_op *op)
{
	struct gw_waiter *w;

	if (!c->started)
		return -ENOTCONN;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op = op;
	w->ch = ch;
	if (c->health.down) {
		w->status = -EHOSTDOWN;
		waiter_push(&c->fail_now, w);
	} else {
		/* Reads arriving together (the daemon polls all due points in
		 * one pass) share one cycle: it starts from the defer timer. */
		waiter_push(&c->waiting, w);
	}
	arm_defer(c);
	return 0;
}

bool gw_cycle_wants(const struct gw_cycle *c, gwd_channel_t ch)
{
	return waiting_for(c->waiting, ch);
}

void gw_cycle_begin(struct gw_cycle *c)
{
	while (c->waiting) {
		struct gw_waiter *w = c->waiting;

		c->waiting = w->next;
		waiter_push(&c->in_cycle, w);
	}
	c->busy = true;
}

void gw_cycle_fail_waiting(struct gw_cycle *c, int err)
{
	complete_list(c, &c->waiting, err);
}

bool gw_cycle_carries(const struct gw_cycle *c, gwd_channel_t ch)
{
	return waiting_for(c->in_cycle, ch);
}

static void finish_waiters(struct gw_cycle *c, gwd_channel_t ch, int status,
			   const struct gwd_value *v)
{
	struct gw_waiter **pp = &c->in_cycle;

	while (*pp) {
		struct gw_waiter *w = *pp;

		if (w->ch == ch) {
			*pp = w->next;
			c->host->complete(w->op, status, status == 0 ? v : NULL);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

bool gw_cycle_result(struct gw_cycle *c, gwd_channel_t ch, int status, const struct gwd_value *v,
		     const char *msg, int *logged_err, const char *name)
{
	if (status == 0) {
		if (*logged_err)
			c->host->log(c->dev, GWD_LOG_NOTICE, "channel %s: reading again", name);
		*logged_err = 0;
		c->host->report(c->dev, ch, v);
		finish_waiters(c, ch, 0, v);
		return true;
	}
	c->n_errors++;
	/* Once per channel and kind of error, not once per cycle. */
	if (*logged_err != status)
		c->host->log(c->dev, GWD_LOG_WARNING, "channel %s: %s", name,
			     msg && msg[0] ? msg : strerror(-status));
	*logged_err = status;
	c->host->report_error(c->dev, ch, status);
	finish_waiters(c, ch, status, NULL);
	return false;
}

void gw_cycle_end(struct gw_cycle *c, bool ok, int last_err, const char *last_msg)
{
	c->busy = false;
	/* Reads of channels the cycle did not carry (none, normally). */
	while (c->in_cycle) {
		struct gw_waiter *w = c->in_cycle;

		c->in_cycle = w->next;
		waiter_push(&c->waiting, w);
	}
	if (ok && gw_health_ok(&c->health)) {
		set_state(c, false, 0);
		c->host->log(c->dev, GWD_LOG_NOTICE,
			     "readings again: device up (%" PRIu64 " failed reads so far)",
			     c->n_errors);
	} else if (!ok && last_err && gw_health_fail(&c->health)) {
		/* The channels have logged why. */
		set_state(c, true, last_err);
		c->host->log(c->dev, GWD_LOG_WARNING,
			     "down after %u failed cycles (last: %s); retrying with backoff up "
			     "to %" PRIu64 " s",
			     c->health.failures,
			     last_msg && last_msg[0] ? last_msg : strerror(-last_err),
			     c->health.backoff_max_ms / 1000);
	}
	if (c->waiting)
		arm_defer(c);
	schedule(c);
}
