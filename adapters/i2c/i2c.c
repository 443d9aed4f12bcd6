/* The "i2c" adapter: chips without a kernel driver on /dev/i2c-N, as
 * gatewayd devices.  Built-in drivers (BME280, SHT3x, SHT4x, BH1750) and a
 * generic register point; the chip code is in i2c_chips.c, the bus calls
 * behind i2c_bus.h.
 *
 * One worker thread per bus (per /dev/i2c-N, shared by every device on it)
 * makes every transfer, one job at a time, writes first: the loop thread
 * only plans cycles and delivers results.  As in the sysfs and modbus
 * adapters, results come back through an eventfd the loop watches, not
 * host->post(): a posted call cannot be taken back, and one still queued
 * when a device is freed would run on freed memory, while a job is forgotten
 * synchronously (bus_forget) and a watch removed in device_free.  A job
 * carries copies of everything the worker needs, so the device may go while
 * its job runs.
 *
 * A device reads all its channels in one cycle every `interval` seconds;
 * reads from the daemon that arrive together share one cycle (gw_cycle.h,
 * shared with sysfs, as is the health bookkeeping): a cycle in which every channel failed
 * (a NAK, a bad CRC, a wrong chip id) is a failed cycle; after `down_after`
 * of them the device is DOWN and probed with a capped, jittered backoff, and
 * UP again on the first good read.  Other devices, even on the same bus, are
 * not affected.  Users' documentation: README.md. */
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
#include "i2c_bus.h"
#include "i2c_chips.h"
#include "../common/gw_cycle.h"

struct i2c_busw;

struct i2c_adapter {
	const struct gwd_host *host;
	struct i2c_busw *buses;     /* in use by devices */
	struct i2c_busw *lingering; /* released while a transfer ran: joined in fini */
};

/* ---- jobs ---------------------------------------------------------------------- */

/* One register of a job, with its outcome. */
struct i2c_item {
	uint32_t ch;
	struct i2c_reg reg;
	int status;
	struct gwd_value val;
	char msg[I2C_MSG_LEN];
};

enum job_kind { JOB_CYCLE, JOB_WRITE };

struct i2c_job {
	struct i2c_job *next;
	enum job_kind kind;
	void *owner; /* the device; NULL once forgotten.  Guarded by the bus's mu */
	struct gwd_op *op; /* JOB_WRITE; only the loop thread touches it */

	/* cycle: the chip's measurement (measure), and registers */
	bool measure;
	struct i2c_chip_cfg chip;
	int status;
	struct i2c_reading rd;
	char msg[I2C_MSG_LEN];
	struct i2c_item *it; /* owned */
	size_t n;
	bool probe; /* all channels (a scheduled cycle), not just reads */

	/* write: it[0] and the value */
	struct gwd_value wv;
};

static void job_free(struct i2c_job *j)
{
	if (j) {
		free(j->it);
		free(j);
	}
}

static void job_push(struct i2c_job **head, struct i2c_job **tail, struct i2c_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* ---- buses and their workers ------------------------------------------------------ */

struct i2c_busw {
	struct i2c_busw *next;
	struct i2c_adapter *ad;
	char *path;
	unsigned refs;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct i2c_job *wq, *wq_tail;     /* writes: served first */
	struct i2c_job *rq, *rq_tail;     /* cycles */
	struct i2c_job *done, *done_tail; /* for the loop */
	struct i2c_job *cur;              /* on the worker */
	bool quit, running;
	pthread_t thr;
	int efd;
	struct gwd_watch *watch;

	/* worker only */
	struct i2c_bus *bus;
};

static int bus_open(struct i2c_busw *b, char *msg, size_t msglen)
{
	int r;

	if (b->bus)
		return 0;
	r = i2c_bus_open(b->path, &b->bus);
	if (r == -ENOTTY)
		snprintf(msg, msglen, "cannot open %s: not an I2C bus device", b->path);
	else if (r < 0)
		snprintf(msg, msglen, "cannot open %s: %s", b->path, strerror(-r));
	return r;
}

static void run_job(struct i2c_busw *b, struct i2c_job *j)
{
	char msg[I2C_MSG_LEN];
	int r = bus_open(b, msg, sizeof(msg));

	if (r < 0) {
		j->status = r;
		memcpy(j->msg, msg, sizeof(msg));
		for (size_t i = 0; i < j->n; i++) {
			j->it[i].status = r;
			memcpy(j->it[i].msg, msg, sizeof(msg));
		}
		return;
	}
	if (j->kind == JOB_WRITE) {
		j->it[0].status =
		    i2c_reg_write(b->bus, &j->it[0].reg, &j->wv, j->it[0].msg, sizeof(j->it[0].msg));
		return;
	}
	if (j->measure)
		j->status = i2c_chip_measure(b->bus, &j->chip, &j->rd, j->msg, sizeof(j->msg));
	for (size_t i = 0; i < j->n; i++)
		j->it[i].status = i2c_reg_read(b->bus, &j->it[i].reg, &j->it[i].val, j->it[i].msg,
					       sizeof(j->it[i].msg));
}

static void *worker_main(void *arg)
{
	struct i2c_busw *b = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct i2c_job *j;

		while (!b->quit && !b->wq && !b->rq)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->quit)
			break;
		if (b->wq) {
			j = b->wq;
			if (!(b->wq = j->next))
				b->wq_tail = NULL;
		} else {
			j = b->rq;
			if (!(b->rq = j->next))
				b->rq_tail = NULL;
		}
		b->cur = j;
		pthread_mutex_unlock(&b->mu);
		run_job(b, j);
		pthread_mutex_lock(&b->mu);
		b->cur = NULL;
		job_push(&b->done, &b->done_tail, j);
		/* An eventfd write only fails on counter overflow. */
		if (write(b->efd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_mutex_unlock(&b->mu);
	i2c_bus_close(b->bus);
	b->bus = NULL;
	return NULL;
}

static void on_bus_done(int fd, uint32_t revents, void *ud);

static void bus_destroy(struct i2c_busw *b)
{
	if (b->running) {
		pthread_mutex_lock(&b->mu);
		b->quit = true;
		pthread_cond_broadcast(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thr, NULL);
	}
	for (struct i2c_job **q = &b->wq; q;
	     q = q == &b->wq ? &b->rq : q == &b->rq ? &b->done : NULL)
		while (*q) {
			struct i2c_job *j = *q;

			*q = j->next;
			job_free(j);
		}
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->path);
	free(b);
}

/* The bus of this path, shared; its worker started. */
static int bus_get(struct i2c_adapter *ad, const char *path, struct i2c_busw **out)
{
	struct i2c_busw *b;
	int r;

	for (b = ad->buses; b; b = b->next)
		if (strcmp(b->path, path) == 0) {
			b->refs++;
			*out = b;
			return 0;
		}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ad = ad;
	b->efd = -1;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	if (!(b->path = strdup(path))) {
		bus_destroy(b);
		return -ENOMEM;
	}
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		r = -errno;
		bus_destroy(b);
		return r;
	}
	if ((r = pthread_create(&b->thr, NULL, worker_main, b)) != 0) {
		bus_destroy(b);
		return -r;
	}
	b->running = true;
	r = ad->host->watch_fd(b->efd, GWD_EV_IN, on_bus_done, b, &b->watch);
	if (r < 0) {
		bus_destroy(b);
		return r;
	}
	b->refs = 1;
	b->next = ad->buses;
	ad->buses = b;
	*out = b;
	return 0;
}

/* A device lets go of its bus (its jobs already forgotten).  The last one
 * stops the worker; without waiting for a transfer in flight: such a bus
 * lingers until fini. */
static void bus_put(struct i2c_busw *b)
{
	struct i2c_adapter *ad = b->ad;
	struct i2c_busw **pp;
	bool busy;

	if (--b->refs)
		return;
	for (pp = &ad->buses; *pp != b; pp = &(*pp)->next) {
	}
	*pp = b->next;
	ad->host->unwatch_fd(b->watch);
	b->watch = NULL;
	pthread_mutex_lock(&b->mu);
	busy = b->cur != NULL;
	b->quit = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (busy) {
		b->next = ad->lingering;
		ad->lingering = b;
	} else {
		bus_destroy(b);
	}
}

static void bus_submit(struct i2c_busw *b, struct i2c_job *j)
{
	pthread_mutex_lock(&b->mu);
	if (j->kind == JOB_WRITE)
		job_push(&b->wq, &b->wq_tail, j);
	else
		job_push(&b->rq, &b->rq_tail, j);
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Unlink owner's jobs from a queue onto *out. */
static void take_owned(struct i2c_job **head, struct i2c_job **tail, void *owner,
		       struct i2c_job **out)
{
	struct i2c_job *keep = NULL, *keep_tail = NULL;

	while (*head) {
		struct i2c_job *j = *head;

		*head = j->next;
		if (j->owner == owner) {
			j->next = *out;
			*out = j;
		} else {
			job_push(&keep, &keep_tail, j);
		}
	}
	*head = keep;
	*tail = keep_tail;
}

/* Forget every job of owner, never waiting for the bus: queued and done
 * ones are returned (for their ops to be cancelled), the running one loses
 * its owner and is dropped when it comes back. *cur_op gets its op. */
static struct i2c_job *bus_forget(struct i2c_busw *b, void *owner, struct gwd_op **cur_op)
{
	struct i2c_job *out = NULL;

	*cur_op = NULL;
	pthread_mutex_lock(&b->mu);
	take_owned(&b->wq, &b->wq_tail, owner, &out);
	take_owned(&b->rq, &b->rq_tail, owner, &out);
	take_owned(&b->done, &b->done_tail, owner, &out);
	if (b->cur && b->cur->owner == owner) {
		b->cur->owner = NULL;
		*cur_op = b->cur->op;
		b->cur->op = NULL;
	}
	pthread_mutex_unlock(&b->mu);
	return out;
}

/* ---- devices ------------------------------------------------------------------------- */

struct i2c_point {
	char *name;
	bool is_reg;
	enum i2c_quantity q; /* !is_reg */
	struct i2c_reg reg;  /* is_reg */
	bool writable;
	int logged_err; /* the error last logged for this channel, 0: none */
};

struct i2c_dev {
	const struct gwd_host *host;
	struct i2c_adapter *ad;
	struct gwd_device *dev;

	/* config */
	const char *bus_path; /* borrowed from the config */
	struct i2c_chip_cfg chip;
	struct i2c_point *pt;
	size_t n_pt, cap_pt;

	/* loop thread */
	struct i2c_busw *bus;
	struct gw_cycle c; /* cycles, reads, health */
	int logged_write_err;
	uint64_t n_nak, n_crc; /* failed channel reads by kind, since made */
};

static const struct gwd_adapter_ops i2c_ops;

/* The index of v in a table of allowed values, or -1. */
static int code_of(double v, const double *tab, int n)
{
	for (int i = 0; i < n; i++)
		if (v == tab[i])
			return i;
	return -1;
}

static int i2c_init(const struct gwd_host *host, void **adapter_ctx)
{
	struct i2c_adapter *ad;

	if (GWD_HOST_REQUIRE(host, fw_progress))
		return -EPROTO;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	ad->host = host;
	*adapter_ctx = ad;
	return 0;
}

static void i2c_fini(void *adapter_ctx)
{
	struct i2c_adapter *ad = adapter_ctx;

	/* Devices are all freed: only buses released during a transfer are
	 * left; their workers have been told to quit. */
	while (ad->lingering) {
		struct i2c_busw *b = ad->lingering;

		ad->lingering = b->next;
		bus_destroy(b);
	}
	free(ad);
}

static void dev_destroy(struct i2c_dev *d);
static void start_cycle(void *ud, bool all);

/* The chip's own settings. */
static void chip_config(struct i2c_dev *d, const struct gwd_cfg *device, int *err)
{
	static const double os_tab[] = {1, 2, 4, 8, 16};
	static const double filter_tab[] = {0, 2, 4, 8, 16};
	static const double sb_tab[] = {0.5, 62.5, 125, 250, 500, 1000, 10, 20};
	static const char *const rep_tab[] = {"high", "medium", "low"};
	const struct gwd_host *h = d->host;
	const char *mode = "forced", *rep = "high";
	double os = 1, filter = 0, standby = 1000;
	int c;

	if (d->chip.chip == I2C_CHIP_BME280) {
		gwd_cfg_read_string(h, device, "mode", &mode, err);
		gwd_cfg_read_double(h, device, "oversampling", &os, err);
		gwd_cfg_read_double(h, device, "filter", &filter, err);
		gwd_cfg_read_double(h, device, "standby", &standby, err);
		if (strcmp(mode, "forced") != 0 && strcmp(mode, "normal") != 0)
			*err = h->cfg_error(device, "mode",
					    "expected \"forced\" or \"normal\", found \"%s\"", mode);
		d->chip.normal_mode = strcmp(mode, "normal") == 0;
		if ((c = code_of(os, os_tab, 5)) < 0)
			*err = h->cfg_error(device, "oversampling",
					    "expected 1, 2, 4, 8 or 16, found %g", os);
		d->chip.osrs = (uint8_t)(c + 1);
		if ((c = code_of(filter, filter_tab, 5)) < 0)
			*err = h->cfg_error(device, "filter",
					    "expected 0 (off), 2, 4, 8 or 16, found %g", filter);
		d->chip.filter = (uint8_t)(c < 0 ? 0 : c);
		if ((c = code_of(standby, sb_tab, 8)) < 0)
			*err = h->cfg_error(device, "standby",
					    "expected 0.5, 10, 20, 62.5, 125, 250, 500 or 1000 (ms), "
					    "found %g",
					    standby);
		d->chip.standby = (uint8_t)(c < 0 ? 0 : c);
	}
	if (d->chip.chip == I2C_CHIP_SHT3X || d->chip.chip == I2C_CHIP_SHT4X) {
		gwd_cfg_read_string(h, device, "repeatability", &rep, err);
		for (c = 0; c < 3 && strcmp(rep, rep_tab[c]) != 0; c++) {
		}
		if (c == 3)
			*err = h->cfg_error(device, "repeatability",
					    "expected \"high\", \"medium\" or \"low\", found \"%s\"",
					    rep);
		d->chip.repeat = (uint8_t)(c % 3);
	}
}

static int i2c_device_new(void *adapter_ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			  const struct gwd_cfg *bus, void **device_ctx)
{
	struct i2c_adapter *ad = adapter_ctx;
	const struct gwd_host *h = ad->host;
	struct i2c_dev *d = calloc(1, sizeof(*d));
	const char *chip = "generic";
	int64_t down_after = 3, addr = -1;
	double interval = 0.0, backoff_max = 60.0;
	int err = 0, r;

	if (!d)
		return -ENOMEM;
	d->host = h;
	d->ad = ad;
	d->dev = dev;
	/* The bus device: in the device's `buses` group when it names one
	 * (`bus = ...`), else in the device itself. */
	if (!bus)
		bus = device;
	r = h->cfg_string(bus, "i2c_bus", &d->bus_path);
	if (r == -ENOENT)
		err = h->cfg_error(bus, "i2c_bus", "required: the bus device, e.g. \"/dev/i2c-1\"");
	else if (r < 0)
		err = -EINVAL;
	else if (d->bus_path[0] != '/')
		err = h->cfg_error(bus, "i2c_bus", "expected an absolute path such as "
				   "\"/dev/i2c-1\", found \"%s\"", d->bus_path);
	gwd_cfg_read_string(h, device, "chip", &chip, &err);
	if (i2c_chip_parse(chip, &d->chip.chip) < 0)
		err = h->cfg_error(device, "chip",
				   "expected \"bme280\", \"sht3x\", \"sht4x\", \"bh1750\" or "
				   "\"generic\", found \"%s\"",
				   chip);
	gwd_cfg_read_int(h, device, "address", &addr, &err);
	if (addr < 0 && d->chip.chip == I2C_CHIP_GENERIC && err == 0)
		err = h->cfg_error(device, "address", "required for a generic chip: its 7-bit "
				   "address, e.g. 0x48");
	else if (addr < 0)
		addr = i2c_chip_default_addr(d->chip.chip);
	else if (addr < 0x03 || addr > 0x77)
		err = h->cfg_error(device, "address",
				   "expected a 7-bit address from 0x03 to 0x77, found 0x%" PRIx64,
				   (uint64_t)addr);
	d->chip.addr = (uint16_t)(addr & 0x7f);
	chip_config(d, device, &err);
	gwd_cfg_read_double(h, device, "interval", &interval, &err);
	gwd_cfg_read_int(h, device, "down_after", &down_after, &err);
	gwd_cfg_read_double(h, device, "backoff_max", &backoff_max, &err);
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

static int reg_config(struct i2c_dev *d, const struct gwd_cfg *point, int64_t reg,
		      struct i2c_point *p)
{
	const struct gwd_host *h = d->host;
	const char *type = NULL, *order = "big";
	int64_t len = -1;
	int err = 0;

	gwd_cfg_read_string(h, point, "type", &type, &err);
	gwd_cfg_read_string(h, point, "order", &order, &err);
	gwd_cfg_read_int(h, point, "length", &len, &err);
	gwd_cfg_read_bool(h, point, "writable", &p->writable, &err);
	if (reg < 0 || reg > 0xff)
		err = h->cfg_error(point, "register", "expected 0 to 255 (0xff), found %" PRId64,
				   reg);
	p->reg.addr = d->chip.addr;
	p->reg.reg = (uint8_t)reg;
	if (!type)
		err = h->cfg_error(point, "type", "required with `register`: u8, s8, u16, s16, "
				   "u32, s32 or float");
	else if (i2c_reg_type_parse(type, &p->reg) < 0)
		err = h->cfg_error(point, "type",
				   "expected u8, s8, u16, s16, u32, s32 or float, found \"%s\"",
				   type);
	else if (len >= 0 && len != p->reg.len)
		err = h->cfg_error(point, "length",
				   "a %s takes %u bytes, found %" PRId64 " (leave `length` out)",
				   type, p->reg.len, len);
	if (i2c_reg_order_parse(order, &p->reg) < 0)
		err = h->cfg_error(point, "order",
				   "expected \"big\", \"little\", \"ABCD\", \"DCBA\", \"BADC\" or "
				   "\"CDAB\", found \"%s\"",
				   order);
	return err;
}

static int i2c_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			   gwd_channel_t *out)
{
	struct i2c_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	const char *measure = NULL;
	int64_t reg = -1;
	struct i2c_point p = {0};
	int err = 0;

	if (d->n_pt == d->cap_pt) {
		size_t cap = d->cap_pt ? 2 * d->cap_pt : 4;
		struct i2c_point *v = realloc(d->pt, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->pt = v;
		d->cap_pt = cap;
	}
	gwd_cfg_read_string(h, point, "measure", &measure, &err);
	gwd_cfg_read_int(h, point, "register", &reg, &err);
	if (err < 0)
		return -EINVAL;
	if (measure && reg >= 0)
		return h->cfg_error(point, "register", "a point has `measure` or `register`, "
				    "not both");
	if (measure) {
		if (i2c_quantity_parse(measure, &p.q) < 0)
			return h->cfg_error(point, "measure",
					    "expected \"temperature\", \"humidity\", \"pressure\" "
					    "or \"illuminance\", found \"%s\"",
					    measure);
		if (!i2c_chip_measures(d->chip.chip, p.q))
			return h->cfg_error(point, "measure", "a %s does not measure %s",
					    i2c_chip_name(d->chip.chip), measure);
	} else if (reg >= 0 || d->chip.chip == I2C_CHIP_GENERIC) {
		p.is_reg = true;
		if (reg_config(d, point, reg, &p) < 0)
			return -EINVAL;
	} else {
		return h->cfg_error(point, "measure",
				    "required: what the %s measures, or `register` for a register "
				    "point",
				    i2c_chip_name(d->chip.chip));
	}
	if (!(p.name = strdup(channel)))
		return -ENOMEM;
	d->pt[d->n_pt] = p;
	*out = (gwd_channel_t)d->n_pt++;
	return 0;
}

/* ---- cycles ----------------------------------------------------------------------- */

/* Queue one cycle of every channel (all), or of those the waiting reads
 * need. */
static void start_cycle(void *ud, bool all)
{
	struct i2c_dev *d = ud;
	struct i2c_job *j;

	if (!d->n_pt)
		return;
	j = calloc(1, sizeof(*j));
	if (j)
		j->it = calloc(d->n_pt, sizeof(*j->it));
	if (!j || !j->it) {
		job_free(j);
		gw_cycle_fail_waiting(&d->c, -ENOMEM);
		return;
	}
	j->kind = JOB_CYCLE;
	j->owner = d;
	j->chip = d->chip;
	j->probe = all;
	for (uint32_t i = 0; i < d->n_pt; i++) {
		if (!all && !gw_cycle_wants(&d->c, i))
			continue;
		if (d->pt[i].is_reg) {
			j->it[j->n].ch = i;
			j->it[j->n++].reg = d->pt[i].reg;
		} else {
			j->measure = true;
		}
	}
	gw_cycle_begin(&d->c);
	bus_submit(d->bus, j);
}

/* Count a failed channel read by kind. */
static void count_err(struct i2c_dev *d, int status)
{
	if (status == -ENXIO || status == -EREMOTEIO)
		d->n_nak++;
	else if (status == -EBADMSG)
		d->n_crc++;
}

static void cycle_done(struct i2c_dev *d, struct i2c_job *j)
{
	const char *last_msg = "";
	int last_err = 0;
	bool ok = false, was_down = d->c.health.down;

	for (uint32_t i = 0; j->measure && i < d->n_pt; i++) {
		struct i2c_point *p = &d->pt[i];
		struct gwd_value v = gwd_value_double(j->rd.v[p->q]);
		int st = j->status;
		const char *msg = j->msg;

		if (p->is_reg || (!j->probe && !gw_cycle_carries(&d->c, i)))
			continue;
		if (st == 0 && !j->rd.have[p->q]) {
			st = -ENODATA;
			msg = "the chip skipped this measurement";
		}
		if (gw_cycle_result(&d->c, i, st, &v, msg, &p->logged_err, p->name))
			ok = true;
		else
			last_err = st, last_msg = msg, count_err(d, st);
	}
	for (size_t i = 0; i < j->n; i++) {
		const struct i2c_item *it = &j->it[i];
		struct i2c_point *p = &d->pt[it->ch];

		if (gw_cycle_result(&d->c, it->ch, it->status, &it->val, it->msg, &p->logged_err,
				    p->name))
			ok = true;
		else
			last_err = it->status, last_msg = it->msg, count_err(d, it->status);
	}
	gw_cycle_end(&d->c, ok, last_err, last_msg);
	if (was_down && !d->c.health.down)
		d->host->log(d->dev, GWD_LOG_NOTICE,
			     "failed reads so far: %" PRIu64 " not answered (NAK), %" PRIu64
			     " with a bad CRC, %" PRIu64 " other",
			     d->n_nak, d->n_crc, d->c.n_errors - d->n_nak - d->n_crc);
}

static void write_done(struct i2c_dev *d, struct i2c_job *j)
{
	const struct i2c_item *it = &j->it[0];

	if (it->status < 0) {
		if (d->logged_write_err != it->status)
			d->host->log(d->dev, GWD_LOG_WARNING, "channel %s: write failed: %s",
				     d->pt[it->ch].name, it->msg[0] ? it->msg : strerror(-it->status));
		d->logged_write_err = it->status;
	} else {
		d->logged_write_err = 0;
	}
	if (j->op)
		d->host->complete(j->op, it->status, NULL);
}

/* The bus's worker says jobs are done. */
static void on_bus_done(int fd, uint32_t revents, void *ud)
{
	struct i2c_busw *b = ud;
	struct i2c_job *list;
	uint64_t n;

	if (read(b->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&b->mu);
	list = b->done;
	b->done = b->done_tail = NULL;
	pthread_mutex_unlock(&b->mu);
	while (list) {
		struct i2c_job *j = list;
		struct i2c_dev *d = j->owner;

		list = j->next;
		/* A forgotten job's device may be gone: only its memory is left. */
		if (d && j->kind == JOB_WRITE)
			write_done(d, j);
		else if (d)
			cycle_done(d, j);
		job_free(j);
	}
}

/* ---- device life cycle --------------------------------------------------------------- */

static int i2c_device_start(void *device_ctx)
{
	struct i2c_dev *d = device_ctx;
	int r;

	if (d->c.started)
		return -EALREADY;
	if (!d->bus && (r = bus_get(d->ad, d->bus_path, &d->bus)) < 0)
		return r;
	return gw_cycle_start(&d->c);
}

static void i2c_device_stop(void *device_ctx)
{
	struct i2c_dev *d = device_ctx;
	struct i2c_job *gone;
	struct gwd_op *cur_op;

	if (!d->c.started)
		return;
	gw_cycle_stop(&d->c);
	gone = bus_forget(d->bus, d, &cur_op);
	if (cur_op)
		d->host->complete(cur_op, -ECANCELED, NULL);
	while (gone) {
		struct i2c_job *j = gone;

		gone = j->next;
		if (j->op)
			d->host->complete(j->op, -ECANCELED, NULL);
		job_free(j);
	}
}

static void dev_destroy(struct i2c_dev *d)
{
	if (d->bus)
		bus_put(d->bus);
	gw_cycle_fini(&d->c);
	for (size_t i = 0; i < d->n_pt; i++)
		free(d->pt[i].name);
	free(d->pt);
	free(d);
}

static void i2c_device_free(void *device_ctx)
{
	struct i2c_dev *d = device_ctx;

	if (!d)
		return;
	i2c_device_stop(d);
	dev_destroy(d);
}

/* ---- channel ops ---------------------------------------------------------------------- */

static int i2c_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct i2c_dev *d = device_ctx;

	if (ch >= d->n_pt)
		return -ENOENT;
	return gw_cycle_read(&d->c, ch, op);
}

static int i2c_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		     struct gwd_op *op)
{
	struct i2c_dev *d = device_ctx;
	struct i2c_job *j;
	uint8_t probe[4];

	if (!d->c.started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	if (!d->pt[ch].is_reg || !d->pt[ch].writable)
		return -EPERM;
	/* A value the register cannot hold is refused now, not on the bus. */
	if (v->type == GWD_V_STRING || v->type == GWD_V_BYTES)
		return -EINVAL;
	{
		int r = i2c_reg_encode(&d->pt[ch].reg, v, probe);

		if (r < 0)
			return r;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->it = calloc(1, sizeof(*j->it));
	if (!j || !j->it) {
		job_free(j);
		return -ENOMEM;
	}
	j->kind = JOB_WRITE;
	j->owner = d;
	j->op = op;
	j->it[0].ch = ch;
	j->it[0].reg = d->pt[ch].reg;
	j->n = 1;
	j->wv = *v;
	bus_submit(d->bus, j);
	return 0;
}

static int i2c_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		       struct gwd_op *op)
{
	return -EOPNOTSUPP;
}

static const struct gwd_adapter_ops i2c_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = i2c_init,
	.fini = i2c_fini,
	.device_new = i2c_device_new,
	.channel_new = i2c_channel_new,
	.device_start = i2c_device_start,
	.device_stop = i2c_device_stop,
	.device_free = i2c_device_free,
	.read = i2c_read,
	.write = i2c_write,
	.execute = i2c_execute,
};

GWD_ADAPTER_DEFINE("i2c", "0.1.0", &i2c_ops);
