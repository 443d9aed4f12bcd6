/* The "sysfs" adapter: sensors that have a kernel driver (IIO, hwmon,
 * 1-Wire thermometers, thermal zones) as gatewayd devices.
 *
 * Reading a sysfs file can take long: a 1-Wire thermometer converts for up
 * to 750 ms inside read(), an I2C driver may wait for its chip.  So each
 * device has a worker thread that does every file access (sf_read.c); the
 * loop thread only plans cycles and delivers results.  Like the modbus
 * adapter, results come back through an eventfd the loop watches rather than
 * host->post(): a posted call cannot be taken back, and one still queued when
 * the device is freed (or the adapter unloaded) would run on freed memory,
 * while a watch is removed synchronously in device_free.
 *
 * The device reads all its channels in one cycle every `interval` seconds
 * and reports them; reads from the daemon (points with `poll`) that arrive
 * together share one cycle of just the channels they need.  Health follows
 * the modbus adapter: a cycle in which every channel failed is a failed
 * cycle; after `down_after` of them the device is down and probed with a
 * capped, jittered exponential backoff.  Users' documentation: README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gatewayd/adapter.h"
#include "sf_read.h"
#include "../common/gw_health.h"

#define HOST_HAS(h, member)                                                     \
	(offsetof(struct gwd_host, member) + sizeof((h)->member) <= (h)->size && (h)->member)

struct sf_adapter {
	const struct gwd_host *host;
};

struct sf_point {
	char *name;
	struct sf_chan c; /* the worker reads it; only the worker changes c.dir */
	int logged_err;   /* loop: the error last logged for this channel, 0: none */
};

/* One channel's outcome in a cycle. */
struct sf_result {
	uint32_t ch;
	int status;
	double value;
	char msg[SF_MSG_LEN];
};

struct sf_job {
	struct sf_job *next;
	uint64_t gen; /* the device's generation when queued */
	size_t n;
	struct sf_result *res; /* owned */
};

/* A read op waiting for a cycle. */
struct sf_waiter {
	struct sf_waiter *next;
	struct gwd_op *op;
	gwd_channel_t ch;
	int status; /* for ops failed at once */
};

struct sf_dev {
	const struct gwd_host *host;
	struct gwd_device *dev;

	/* config */
	const char *root; /* borrowed from the config */
	uint64_t interval_ms;
	struct sf_point *pt;
	size_t n_pt, cap_pt;

	/* the worker: mu guards todo, done, quit */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sf_job *todo, *todo_tail, *done, *done_tail;
	bool quit, running;
	pthread_t thr;
	int efd;
	struct gwd_watch *watch;

	/* loop thread */
	bool started;
	uint64_t gen; /* bumped at stop: jobs of an older generation are stale */
	struct gwd_timer *cycle_timer, *defer_timer;
	uint64_t next_cycle;
	bool cycle_busy;
	struct sf_waiter *waiting;  /* reads for the next cycle */
	struct sf_waiter *in_cycle; /* reads riding the cycle in flight */
	struct sf_waiter *fail_now; /* ops to fail from the defer timer */

	struct gw_health health;
	uint64_t n_errors; /* failed channel reads since start */
};

/* ---- helpers ------------------------------------------------------------------ */

static void check_range(const struct gwd_host *h, const struct gwd_cfg *n, const char *key,
			double v, double min, double max, int *err)
{
	if (isnan(v) || v < min || v > max)
		*err = h->cfg_error(n, key, "expected a number from %g to %g, found %g", min, max,
				    v);
}

static uint64_t ms_of(double s)
{
	return (uint64_t)llround(s * 1000.0);
}

static void job_free(struct sf_job *j)
{
	if (j) {
		free(j->res);
		free(j);
	}
}

static void job_push(struct sf_job **head, struct sf_job **tail, struct sf_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* ---- the worker thread --------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct sf_dev *d = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct sf_job *j;

		while (!d->quit && !d->todo)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->quit)
			break;
		j = d->todo;
		d->todo = j->next;
		if (!d->todo)
			d->todo_tail = NULL;
		pthread_mutex_unlock(&d->mu);
		for (size_t i = 0; i < j->n; i++) {
			struct sf_result *r = &j->res[i];

			r->status = sf_read_channel(d->root, &d->pt[r->ch].c, &r->value, r->msg,
						    sizeof(r->msg));
		}
		pthread_mutex_lock(&d->mu);
		job_push(&d->done, &d->done_tail, j);
		/* An eventfd write only fails on counter overflow. */
		if (write(d->efd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static int worker_start(struct sf_dev *d)
{
	int r;

	if (d->running)
		return 0;
	if (d->efd < 0) {
		d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->efd < 0)
			return -errno;
	}
	d->quit = false;
	r = pthread_create(&d->thr, NULL, worker_main, d);
	if (r)
		return -r;
	d->running = true;
	return 0;
}

/* Stop and join the worker: waits for the file read in progress, if any. */
static void worker_stop(struct sf_dev *d)
{
	if (!d->running)
		return;
	pthread_mutex_lock(&d->mu);
	d->quit = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thr, NULL);
	d->running = false;
}

static void worker_submit(struct sf_dev *d, struct sf_job *j)
{
	pthread_mutex_lock(&d->mu);
	job_push(&d->todo, &d->todo_tail, j);
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* ---- adapter -------------------------------------------------------------------- */

static int sf_init(const struct gwd_host *host, void **adapter_ctx)
{
	struct sf_adapter *ad;

	if (host->abi_major != GWD_ADAPTER_ABI_MAJOR ||
	    host->size < offsetof(struct gwd_host, fw_progress) + sizeof(host->fw_progress))
		return -EPROTO;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	ad->host = host;
	*adapter_ctx = ad;
	return 0;
}

static void sf_fini(void *adapter_ctx)
{
	free(adapter_ctx);
}

/* ---- configuration -------------------------------------------------------------- */

static void dev_destroy(struct sf_dev *d);

static int sf_device_new(void *adapter_ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			 const struct gwd_cfg *bus, void **device_ctx)
{
	struct sf_adapter *ad = adapter_ctx;
	const struct gwd_host *h = ad->host;
	struct sf_dev *d = calloc(1, sizeof(*d));
	int64_t down_after = 3;
	double interval = 0.0, backoff_max = 60.0;
	int err = 0;

	if (!d)
		return -ENOMEM;
	d->host = h;
	d->dev = dev;
	d->efd = -1;
	d->root = "/sys";
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	gwd_cfg_read_string(h, device, "root", &d->root, &err);
	gwd_cfg_read_double(h, device, "interval", &interval, &err);
	gwd_cfg_read_int(h, device, "down_after", &down_after, &err);
	gwd_cfg_read_double(h, device, "backoff_max", &backoff_max, &err);
	if (d->root[0] != '/')
		err = h->cfg_error(device, "root", "expected an absolute path, found \"%s\"",
				   d->root);
	check_range(h, device, "interval", interval, 0, 86400, &err);
	check_range(h, device, "down_after", (double)down_after, 1, 1000, &err);
	check_range(h, device, "backoff_max", backoff_max, 1, 86400, &err);
	if (err < 0) {
		dev_destroy(d);
		return -EINVAL;
	}
	d->interval_ms = ms_of(interval);
	if (interval > 0 && !d->interval_ms)
		d->interval_ms = 1;
	gw_health_init(&d->health, (unsigned)down_after, ms_of(backoff_max),
		       0x9e3779b97f4a7c15ULL ^ (uintptr_t)d);
	*device_ctx = d;
	return 0;
}

/* A name that becomes one path component, or is compared with a file's
 * content: no slash, not empty, not "." or "..". */
static bool name_ok(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* An IIO channel or hwmon attribute: a lower-case letter, then letters,
 * digits and underscores. */
static bool attr_ok(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A required string key; reports its absence with what it is for. */
static const char *required(const struct gwd_host *h, const struct gwd_cfg *point,
			    const char *key, const char *what, int *err)
{
	const char *s = NULL;
	int r = h->cfg_string(point, key, &s);

	if (r == -ENOENT)
		*err = h->cfg_error(point, key, "required: %s", what);
	else if (r < 0)
		*err = -EINVAL;
	else if (!name_ok(s))
		*err = h->cfg_error(point, key, "expected %s, found \"%s\"", what, s);
	else
		return s;
	return NULL;
}

static int source_config(struct sf_dev *d, const struct gwd_cfg *point, struct sf_chan *c)
{
	const struct gwd_host *h = d->host;
	const char *match = NULL, *attr = NULL, *parent = NULL, *file = "auto";
	char *a = NULL;
	int err = 0;

	switch (c->src) {
	case SF_IIO:
		match = required(h, point, "device", "the IIO device's name (its `name` file)",
				 &err);
		attr = required(h, point, "attribute",
				"the IIO channel, e.g. \"temp\", \"pressure\", \"voltage0\"", &err);
		gwd_cfg_read_string(h, point, "parent", &parent, &err);
		break;
	case SF_HWMON:
		match = required(h, point, "chip", "the hwmon chip's name (its `name` file)", &err);
		attr = required(h, point, "attribute",
				"the hwmon attribute, e.g. \"temp1\", \"in0\", \"humidity1\"", &err);
		gwd_cfg_read_string(h, point, "parent", &parent, &err);
		break;
	case SF_W1:
		match = required(h, point, "id", "the 1-Wire slave id, e.g. \"28-0316a2796fff\"",
				 &err);
		gwd_cfg_read_string(h, point, "file", &file, &err);
		if (sf_w1_file_parse(file, &c->w1_file) < 0)
			err = h->cfg_error(point, "file",
					   "expected \"auto\", \"w1_slave\" or \"temperature\", "
					   "found \"%s\"",
					   file);
		break;
	case SF_THERMAL:
		match = required(h, point, "zone",
				 "the thermal zone's type (its `type` file), e.g. \"cpu-thermal\"",
				 &err);
		break;
	}
	if (parent && !name_ok(parent))
		err = h->cfg_error(point, "parent",
				   "expected one component of the device's path, e.g. \"1-0076\", "
				   "found \"%s\"",
				   parent);
	if (attr) {
		size_t n = strlen(attr);

		/* "temp1_input" is as good as "temp1". */
		if (c->src == SF_HWMON && n > 6 && strcmp(attr + n - 6, "_input") == 0)
			n -= 6;
		a = strndup(attr, n);
		if (!a)
			return -ENOMEM;
		if (!attr_ok(a))
			err = h->cfg_error(point, "attribute",
					   "expected lower-case letters, digits and underscores, "
					   "found \"%s\"",
					   attr);
		else if (c->src == SF_HWMON && !sf_hwmon_unit(a, &c->unit))
			err = h->cfg_error(point, "attribute",
					   "unknown hwmon attribute \"%s\" (known: tempN, inN, currN, "
					   "powerN, energyN, humidityN, fanN)",
					   attr);
		else if (c->src == SF_IIO)
			c->unit = sf_iio_unit(a);
	}
	if (c->src == SF_W1 || c->src == SF_THERMAL)
		c->unit = 1e-3; /* millidegrees Celsius */
	c->attr = a;
	if (err < 0)
		return -EINVAL;
	c->match = strdup(match);
	if (!c->match || (parent && !(c->parent = strdup(parent))))
		return -ENOMEM;
	return 0;
}

static int sf_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			  gwd_channel_t *out)
{
	struct sf_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	const char *source = NULL;
	struct sf_point p = {0};
	int err = 0, r;

	if (d->n_pt == d->cap_pt) {
		size_t cap = d->cap_pt ? 2 * d->cap_pt : 4;
		struct sf_point *v = realloc(d->pt, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->pt = v;
		d->cap_pt = cap;
	}
	gwd_cfg_read_string(h, point, "source", &source, &err);
	if (!source) {
		if (err == 0)
			h->cfg_error(point, "source", "required: \"iio\", \"hwmon\", \"w1\" or "
				     "\"thermal\"");
		return -EINVAL;
	}
	if (sf_source_parse(source, &p.c.src) < 0)
		return h->cfg_error(point, "source",
				    "expected \"iio\", \"hwmon\", \"w1\" or \"thermal\", found \"%s\"",
				    source);
	r = source_config(d, point, &p.c);
	if (r == 0 && err == 0 && !(p.name = strdup(channel)))
		r = -ENOMEM;
	if (r < 0 || err < 0) {
		sf_chan_clear(&p.c);
		return r == -ENOMEM ? r : -EINVAL;
	}
	d->pt[d->n_pt] = p;
	*out = (gwd_channel_t)d->n_pt++;
	return 0;
}

/* ---- ops completion --------------------------------------------------------------- */

static void waiter_push(struct sf_waiter **list, struct sf_waiter *w)
{
	w->next = *list;
	*list = w;
}

static void complete_list(struct sf_dev *d, struct sf_waiter **list, int status)
{
	while (*list) {
		struct sf_waiter *w = *list;

		*list = w->next;
		d->host->complete(w->op, status ? status : w->status, NULL);
		free(w);
	}
}

static void finish_waiters(struct sf_dev *d, gwd_channel_t ch, int status,
			   const struct gwd_value *v)
{
	struct sf_waiter **pp = &d->in_cycle;

	while (*pp) {
		struct sf_waiter *w = *pp;

		if (w->ch == ch) {
			*pp = w->next;
			d->host->complete(w->op, status, status == 0 ? v : NULL);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void arm_defer(struct sf_dev *d)
{
	d->host->timer_arm(d->defer_timer, d->host->now_ms());
}

/* ---- health ------------------------------------------------------------------- */

static void set_state(struct sf_dev *d, bool down, int cause)
{
	if (HOST_HAS(d->host, set_state))
		d->host->set_state(d->dev, down ? GWD_STATE_DOWN : GWD_STATE_UP, cause);
}

static void note_ok(struct sf_dev *d)
{
	if (gw_health_ok(&d->health)) {
		set_state(d, false, 0);
		d->host->log(d->dev, GWD_LOG_NOTICE,
			     "readings again: device up (%" PRIu64 " failed reads so far)",
			     d->n_errors);
	}
}

/* Every channel of a cycle failed; the channels have logged why. */
static void note_failure(struct sf_dev *d, int err, const char *msg)
{
	if (gw_health_fail(&d->health)) {
		set_state(d, true, err);
		d->host->log(d->dev, GWD_LOG_WARNING,
			     "down after %u failed cycles (last: %s); retrying with backoff up "
			     "to %" PRIu64 " s",
			     d->health.failures, msg[0] ? msg : strerror(-err),
			     d->health.backoff_max_ms / 1000);
	}
}

/* ---- cycles -------------------------------------------------------------------- */

static bool waiting_for(const struct sf_waiter *list, gwd_channel_t ch)
{
	for (; list; list = list->next)
		if (list->ch == ch)
			return true;
	return false;
}

/* Queue one cycle of every channel (all), or of the channels the waiting
 * reads need. */
static void start_cycle(struct sf_dev *d, bool all)
{
	struct sf_job *j;
	size_t n = 0;

	if (d->cycle_busy || !d->n_pt)
		return;
	j = calloc(1, sizeof(*j));
	if (j)
		j->res = calloc(d->n_pt, sizeof(*j->res));
	if (!j || !j->res) {
		job_free(j);
		complete_list(d, &d->waiting, -ENOMEM);
		return;
	}
	for (uint32_t i = 0; i < d->n_pt; i++)
		if (all || waiting_for(d->waiting, i))
			j->res[n++].ch = i;
	j->n = n;
	j->gen = d->gen;
	while (d->waiting) {
		struct sf_waiter *w = d->waiting;

		d->waiting = w->next;
		waiter_push(&d->in_cycle, w);
	}
	d->cycle_busy = true;
	worker_submit(d, j);
}

static void schedule_cycle(struct sf_dev *d)
{
	uint64_t now = d->host->now_ms();

	if (!d->started)
		return;
	if (d->health.down) {
		d->next_cycle = now + gw_health_retry_ms(&d->health);
		d->host->timer_arm(d->cycle_timer, d->next_cycle);
		return;
	}
	if (!d->interval_ms) {
		d->host->timer_disarm(d->cycle_timer);
		return;
	}
	/* Keep to the grid; skip slots already missed. */
	if (d->next_cycle <= now)
		d->next_cycle += ((now - d->next_cycle) / d->interval_ms + 1) * d->interval_ms;
	d->host->timer_arm(d->cycle_timer, d->next_cycle);
}

static void cycle_done(struct sf_dev *d, struct sf_job *j)
{
	const char *last_msg = "";
	int last_err = 0;
	bool ok = false;

	d->cycle_busy = false;
	for (size_t i = 0; i < j->n; i++) {
		const struct sf_result *r = &j->res[i];
		struct sf_point *p = &d->pt[r->ch];

		if (r->status == 0) {
			struct gwd_value v = gwd_value_double(r->value);

			ok = true;
			if (p->logged_err)
				d->host->log(d->dev, GWD_LOG_NOTICE, "channel %s: reading again",
					     p->name);
			p->logged_err = 0;
			d->host->report(d->dev, r->ch, &v);
			finish_waiters(d, r->ch, 0, &v);
			continue;
		}
		d->n_errors++;
		/* Once per channel and kind of error, not once per cycle. */
		if (p->logged_err != r->status)
			d->host->log(d->dev, GWD_LOG_WARNING, "channel %s: %s", p->name,
				     r->msg[0] ? r->msg : strerror(-r->status));
		p->logged_err = r->status;
		d->host->report_error(d->dev, r->ch, r->status);
		finish_waiters(d, r->ch, r->status, NULL);
		last_err = r->status;
		last_msg = r->msg;
	}
	/* Reads of channels the cycle did not carry (none, normally). */
	while (d->in_cycle) {
		struct sf_waiter *w = d->in_cycle;

		d->in_cycle = w->next;
		waiter_push(&d->waiting, w);
	}
	if (ok)
		note_ok(d);
	else if (last_err)
		note_failure(d, last_err, last_msg);
	if (d->waiting)
		arm_defer(d);
	schedule_cycle(d);
}

/* The worker says cycles are done. */
static void on_done(int fd, uint32_t revents, void *ud)
{
	struct sf_dev *d = ud;
	struct sf_job *list;
	uint64_t n;

	if (read(d->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&d->mu);
	list = d->done;
	d->done = d->done_tail = NULL;
	pthread_mutex_unlock(&d->mu);
	while (list) {
		struct sf_job *j = list;

		list = j->next;
		if (d->started && j->gen == d->gen)
			cycle_done(d, j);
		job_free(j);
	}
}

/* ---- timers -------------------------------------------------------------------- */

static void on_cycle_timer(void *ud)
{
	struct sf_dev *d = ud;

	if (!d->started)
		return;
	start_cycle(d, true);
	if (!d->cycle_busy)
		schedule_cycle(d);
	/* else cycle_done schedules the next one. */
}

static void on_defer_timer(void *ud)
{
	struct sf_dev *d = ud;

	complete_list(d, &d->fail_now, 0);
	if (!d->started)
		return;
	if (d->health.down) {
		/* A device that is down answers at once instead of hanging. */
		complete_list(d, &d->waiting, -EHOSTDOWN);
		return;
	}
	if (d->waiting)
		start_cycle(d, false);
}

/* ---- device life cycle ------------------------------------------------------------- */

static int sf_device_start(void *device_ctx)
{
	struct sf_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	int r;

	if (d->started)
		return -EALREADY;
	if (!d->cycle_timer && (r = h->timer_new(on_cycle_timer, d, &d->cycle_timer)) < 0)
		return r;
	if (!d->defer_timer && (r = h->timer_new(on_defer_timer, d, &d->defer_timer)) < 0)
		return r;
	r = worker_start(d);
	if (r < 0)
		return r;
	if (!d->watch && (r = h->watch_fd(d->efd, GWD_EV_IN, on_done, d, &d->watch)) < 0)
		return r;
	d->started = true;
	d->cycle_busy = false;
	gw_health_reset(&d->health);
	/* The adapter judges health from the start: the host's own judgement
	 * counts channel errors, and a device with some failing channels and
	 * some good ones is not down. */
	set_state(d, false, 0);
	d->next_cycle = h->now_ms();
	if (d->interval_ms)
		h->timer_arm(d->cycle_timer, d->next_cycle);
	return 0;
}

static void sf_device_stop(void *device_ctx)
{
	struct sf_dev *d = device_ctx;

	if (!d->started)
		return;
	d->started = false;
	d->gen++;
	d->cycle_busy = false;
	d->host->timer_disarm(d->cycle_timer);
	d->host->timer_disarm(d->defer_timer);
	complete_list(d, &d->fail_now, -ECANCELED);
	complete_list(d, &d->waiting, -ECANCELED);
	complete_list(d, &d->in_cycle, -ECANCELED);
}

static void dev_destroy(struct sf_dev *d)
{
	const struct gwd_host *h = d->host;

	worker_stop(d);
	if (d->watch)
		h->unwatch_fd(d->watch);
	if (d->efd >= 0)
		close(d->efd);
	while (d->todo) {
		struct sf_job *j = d->todo;

		d->todo = j->next;
		job_free(j);
	}
	while (d->done) {
		struct sf_job *j = d->done;

		d->done = j->next;
		job_free(j);
	}
	if (d->cycle_timer)
		h->timer_free(d->cycle_timer);
	if (d->defer_timer)
		h->timer_free(d->defer_timer);
	for (size_t i = 0; i < d->n_pt; i++) {
		free(d->pt[i].name);
		sf_chan_clear(&d->pt[i].c);
	}
	free(d->pt);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}

static void sf_device_free(void *device_ctx)
{
	struct sf_dev *d = device_ctx;

	if (!d)
		return;
	sf_device_stop(d);
	dev_destroy(d);
}

/* ---- channel ops ------------------------------------------------------------------ */

static int sf_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct sf_dev *d = device_ctx;
	struct sf_waiter *w;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op = op;
	w->ch = ch;
	if (d->health.down) {
		w->status = -EHOSTDOWN;
		waiter_push(&d->fail_now, w);
	} else {
		/* Reads arriving together (the daemon polls all due points in
		 * one pass) share one cycle: it starts from the defer timer. */
		waiter_push(&d->waiting, w);
	}
	arm_defer(d);
	return 0;
}

static int sf_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		    struct gwd_op *op)
{
	return -EPERM; /* sensors only */
}

static int sf_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		      struct gwd_op *op)
{
	return -EOPNOTSUPP;
}

static const struct gwd_adapter_ops sf_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = sf_init,
	.fini = sf_fini,
	.device_new = sf_device_new,
	.channel_new = sf_channel_new,
	.device_start = sf_device_start,
	.device_stop = sf_device_stop,
	.device_free = sf_device_free,
	.read = sf_read,
	.write = sf_write,
	.execute = sf_execute,
};

GWD_ADAPTER_DEFINE("sysfs", "0.1.0", &sf_ops);
