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
#include "../common/gw_cycle.h"

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

struct sf_dev {
	const struct gwd_host *host;
	struct gwd_device *dev;

	/* config */
	const char *root; /* borrowed from the config */
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
	uint64_t gen; /* bumped at stop: jobs of an older generation are stale */
	struct gw_cycle c; /* cycles, reads, health */
};

/* ---- helpers ------------------------------------------------------------------ */

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

	if (GWD_HOST_REQUIRE(host, fw_progress))
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
static void start_cycle(void *ud, bool all);

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
	gwd_cfg_check_range(h, device, "interval", interval, 0, 86400, &err);
	gwd_cfg_check_range(h, device, "down_after", (double)down_after, 1, 1000, &err);
	gwd_cfg_check_range(h, device, "backoff_max", backoff_max, 1, 86400, &err);
	if (err < 0) {
		dev_destroy(d);
		return -EINVAL;
	}
	gw_cycle_init(&d->c, h, dev, start_cycle, d);
	d->c.interval_ms = gwd_ms_of(interval);
	if (interval > 0 && !d->c.interval_ms)
		d->c.interval_ms = 1;
	gw_health_init(&d->c.health, (unsigned)down_after, gwd_ms_of(backoff_max),
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

/* ---- cycles -------------------------------------------------------------------- */

/* Queue one cycle of every channel (all), or of the channels the waiting
 * reads need. */
static void start_cycle(void *ud, bool all)
{
	struct sf_dev *d = ud;
	struct sf_job *j;
	size_t n = 0;

	if (!d->n_pt)
		return;
	j = calloc(1, sizeof(*j));
	if (j)
		j->res = calloc(d->n_pt, sizeof(*j->res));
	if (!j || !j->res) {
		job_free(j);
		gw_cycle_fail_waiting(&d->c, -ENOMEM);
		return;
	}
	for (uint32_t i = 0; i < d->n_pt; i++)
		if (all || gw_cycle_wants(&d->c, i))
			j->res[n++].ch = i;
	j->n = n;
	j->gen = d->gen;
	gw_cycle_begin(&d->c);
	worker_submit(d, j);
}

static void cycle_done(struct sf_dev *d, struct sf_job *j)
{
	const char *last_msg = "";
	int last_err = 0;
	bool ok = false;

	for (size_t i = 0; i < j->n; i++) {
		const struct sf_result *r = &j->res[i];
		struct sf_point *p = &d->pt[r->ch];
		struct gwd_value v = gwd_value_double(r->value);

		if (gw_cycle_result(&d->c, r->ch, r->status, &v, r->msg, &p->logged_err, p->name)) {
			ok = true;
		} else {
			last_err = r->status;
			last_msg = r->msg;
		}
	}
	gw_cycle_end(&d->c, ok, last_err, last_msg);
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
		if (d->c.started && j->gen == d->gen)
			cycle_done(d, j);
		job_free(j);
	}
}

/* ---- device life cycle ------------------------------------------------------------- */

static int sf_device_start(void *device_ctx)
{
	struct sf_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	int r;

	if (d->c.started)
		return -EALREADY;
	r = worker_start(d);
	if (r < 0)
		return r;
	if (!d->watch && (r = h->watch_fd(d->efd, GWD_EV_IN, on_done, d, &d->watch)) < 0)
		return r;
	return gw_cycle_start(&d->c);
}

static void sf_device_stop(void *device_ctx)
{
	struct sf_dev *d = device_ctx;

	if (!d->c.started)
		return;
	d->gen++;
	gw_cycle_stop(&d->c);
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
	gw_cycle_fini(&d->c);
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

	if (!d->c.started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	return gw_cycle_read(&d->c, ch, op);
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
