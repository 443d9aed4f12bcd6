/* The "gpio" adapter: GPIO lines through the kernel's character device as
 * IPSO Digital Inputs (3200) and Digital Outputs (3201).
 *
 * Every chip call goes through gpio_chip.h; which backend is linked in
 * (libgpiod v1 in the plugin, a fake chip in tests) is decided by the build,
 * not by the config.  Users' documentation: adapters/gpio/README.md.
 *
 * A device has any number of lines.  A line is declared by its first point,
 * which carries its "state" and the line's settings; later points of the
 * same line (same chip and line) carry its other values:
 *
 *   input:  state (5500), counter (5501), polarity (5502), debounce (5503),
 *           edge (5504), counter_reset (5505, execute)
 *   output: state (5550), polarity (5551), pulse (execute)
 *
 * Inputs: the kernel reports both edges on the line's event fd, which the
 * daemon's loop watches; polarity, debounce and edge selection are applied
 * here, in software, so that a server's write takes effect at once without
 * re-requesting the line (libgpiod 1.6 has no debounce API).  Debounce: a
 * level counts once it has held for the debounce period, judged from the
 * kernel's event timestamps between events and, for the last event seen,
 * from a timer armed when it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/adapter.h"
#include "gpio_chip.h"

#define CONSUMER "gatewayd"
#define DEBOUNCE_MAX_MS 60000  /* a minute: anything longer is not a bounce */
#define PULSE_MAX_MS 86400000  /* a day */
#define NO_CH GWD_CHANNEL_ALL

/* IPSO 5504 Edge Selection. */
#define EDGE_FALLING 1
#define EDGE_RISING 2
#define EDGE_BOTH 3

enum gp_func {
	F_STATE,
	F_COUNTER,
	F_POLARITY,
	F_DEBOUNCE,
	F_EDGE,
	F_COUNTER_RESET,
	F_PULSE,
	F_COUNT_
};

static const char *const func_names[F_COUNT_] = {
	"state", "counter", "polarity", "debounce", "edge", "counter_reset", "pulse",
};

enum gp_safe { SAFE_OFF, SAFE_ON, SAFE_KEEP };

struct gp_device;

struct gp_line {
	struct gp_device *d;
	/* config */
	const char *chip_spec; /* borrowed from the config */
	const char *name;      /* line name, or NULL when addressed by offset */
	unsigned offset;       /* resolved at start when addressed by name */
	bool output;
	enum gpio_bias bias;
	bool active_low_cfg;
	enum gp_safe safe;
	bool initial;
	bool persist;
	/* values the server may change */
	bool active_low;
	uint32_t debounce_ms;
	int edge;
	/* run time */
	struct gpio_chip *chip;
	struct gpio_line *h;
	int fd;
	struct gwd_watch *watch;
	struct gwd_timer *timer; /* inputs: debounce; outputs: end of pulse */
	bool stable;       /* debounced physical level (inputs), driven level (outputs) */
	bool raw;          /* last physical level the kernel reported */
	bool pending;      /* raw differs from stable, waiting to hold */
	uint64_t last_ts;  /* kernel timestamp of the last event, ns */
	uint64_t counter;
	bool pulsing;
	gwd_channel_t ch[F_COUNT_]; /* NO_CH where no point carries it */
	char label[96];    /* "chip \"x\" line \"y\"" for messages */
};

struct gp_channel {
	enum gp_func func;
	struct gp_line *line;
	uint32_t pulse_ms;
};

struct gp_done {
	struct gp_done *next;
	struct gwd_op *op;
	int status;
	bool has_value;
	struct gwd_value value;
};

struct gp_device {
	const struct gwd_host *host;
	struct gwd_device *dev;
	const char *chip_spec;
	uint64_t save_ms, retry_ms;

	struct gp_line **lines;
	size_t n_lines;
	struct gp_channel *ch;
	size_t n_ch;

	struct gp_done *done, **done_tail;
	struct gwd_timer *done_timer, *save_timer, *retry_timer;
	bool started, up, loaded, dirty, logged_down;
};

/* ---- small helpers ------------------------------------------------------------ */

static const char *dev_name(const struct gp_device *d)
{
	const char *n = GWD_HOST_HAS(d->host, device_name) ? d->host->device_name(d->dev) : NULL;

	return n ? n : "gpio";
}

static bool value_bool(const struct gwd_value *v, bool *out)
{
	switch (v->type) {
	case GWD_V_BOOL:
		*out = v->v.b;
		return true;
	case GWD_V_INT:
		if (v->v.i != 0 && v->v.i != 1)
			return false;
		*out = v->v.i == 1;
		return true;
	case GWD_V_UINT:
		if (v->v.u > 1)
			return false;
		*out = v->v.u == 1;
		return true;
	case GWD_V_DOUBLE:
		if (v->v.d != 0.0 && v->v.d != 1.0)
			return false;
		*out = v->v.d == 1.0;
		return true;
	default:
		return false;
	}
}

static bool value_int(const struct gwd_value *v, int64_t *out)
{
	switch (v->type) {
	case GWD_V_INT:
		*out = v->v.i;
		return true;
	case GWD_V_UINT:
		*out = v->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->v.u;
		return true;
	case GWD_V_DOUBLE:
		if (v->v.d != (double)(int64_t)v->v.d)
			return false;
		*out = (int64_t)v->v.d;
		return true;
	default:
		return false;
	}
}

/* The value a channel shows now. */
static struct gwd_value channel_value(const struct gp_channel *c)
{
	const struct gp_line *l = c->line;

	switch (c->func) {
	case F_STATE:
		return gwd_value_bool(l->stable != l->active_low);
	case F_COUNTER:
		return gwd_value_int((int64_t)l->counter);
	case F_POLARITY:
		return gwd_value_bool(l->active_low);
	case F_DEBOUNCE:
		return gwd_value_int(l->debounce_ms);
	case F_EDGE:
		return gwd_value_int(l->edge);
	default:
		break;
	}
	return (struct gwd_value){.type = GWD_V_NONE};
}

static void report(struct gp_line *l, enum gp_func f)
{
	struct gp_device *d = l->d;
	struct gwd_value v;

	if (l->ch[f] == NO_CH)
		return;
	v = channel_value(&d->ch[l->ch[f]]);
	d->host->report(d->dev, l->ch[f], &v);
}

/* ---- deferred completions -------------------------------------------------------- */

static void done_fired(void *ud)
{
	struct gp_device *d = ud;

	while (d->done) {
		struct gp_done *p = d->done;

		d->done = p->next;
		if (!d->done)
			d->done_tail = &d->done;
		d->host->complete(p->op, p->status, p->has_value ? &p->value : NULL);
		free(p);
	}
}

/* Complete op from the loop, soon: never inside the op's own call. */
static int defer(struct gp_device *d, struct gwd_op *op, int status, const struct gwd_value *v)
{
	struct gp_done *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->op = op;
	p->status = status;
	if (v && status == 0) {
		p->has_value = true;
		p->value = *v; /* numbers and booleans only: nothing to own */
	}
	*d->done_tail = p;
	d->done_tail = &p->next;
	d->host->timer_arm(d->done_timer, d->host->now_ms());
	return 0;
}

/* ---- counters kept in STATE_DIR/<device>.gpio ----------------------------------- */

static bool any_persist(const struct gp_device *d)
{
	for (size_t i = 0; i < d->n_lines; i++)
		if (d->lines[i]->persist)
			return true;
	return false;
}

static int state_file(const struct gp_device *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.gpio", d->host->state_dir(d->dev), dev_name(d));

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* How a line is named in the state file: chip TAB line-name or #offset. */
static void line_key(const struct gp_line *l, char *buf, size_t len)
{
	if (l->name)
		snprintf(buf, len, "%s\t%s", l->chip_spec, l->name);
	else
		snprintf(buf, len, "%s\t#%u", l->chip_spec, l->offset);
}

/* Replace the file atomically: a crash leaves the old or the new one. */
static void counters_save(struct gp_device *d)
{
	char path[4096], tmp[4200], key[300];
	FILE *f;
	int fd;

	d->dirty = false;
	if (!any_persist(d) || state_file(d, path, sizeof(path)) < 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		d->host->log(d->dev, GWD_LOG_WARNING, "cannot keep the counters in %s: %s", tmp,
			     strerror(errno));
		return;
	}
	for (size_t i = 0; i < d->n_lines; i++) {
		const struct gp_line *l = d->lines[i];

		if (!l->persist)
			continue;
		line_key(l, key, sizeof(key));
		fprintf(f, "counter\t%s\t%" PRIu64 "\n", key, l->counter);
	}
	fd = fileno(f);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		d->host->log(d->dev, GWD_LOG_WARNING, "cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		d->host->log(d->dev, GWD_LOG_WARNING, "cannot replace %s: %s", path,
			     strerror(errno));
		unlink(tmp);
		return;
	}
	/* The rename itself must reach the disk too. */
	fd = open(d->host->state_dir(d->dev), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void counters_load(struct gp_device *d)
{
	char path[4096], line[600], key[300];
	FILE *f;

	if (!any_persist(d) || state_file(d, path, sizeof(path)) < 0)
		return;
	f = fopen(path, "r");
	if (!f) {
		if (errno != ENOENT)
			d->host->log(d->dev, GWD_LOG_WARNING, "cannot read %s: %s", path,
				     strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n'), *last;
		unsigned long long n;
		char *end;

		if (nl)
			*nl = '\0';
		last = strrchr(line, '\t');
		if (strncmp(line, "counter\t", 8) != 0 || !last)
			continue;
		*last = '\0';
		errno = 0;
		n = strtoull(last + 1, &end, 10);
		if (errno || *end || end == last + 1)
			continue;
		for (size_t i = 0; i < d->n_lines; i++) {
			struct gp_line *l = d->lines[i];

			line_key(l, key, sizeof(key));
			if (l->persist && strcmp(key, line + 8) == 0)
				l->counter = n;
		}
	}
	fclose(f);
}

static void save_fired(void *ud)
{
	counters_save(ud);
}

/* A counter changed: written within save_ms (at once with 0). */
static void counters_dirty(struct gp_device *d, const struct gp_line *l, bool now)
{
	if (!l->persist)
		return;
	if (now || d->save_ms == 0) {
		d->host->timer_disarm(d->save_timer);
		counters_save(d);
		return;
	}
	if (!d->dirty) {
		d->dirty = true;
		d->host->timer_arm(d->save_timer, d->host->now_ms() + d->save_ms);
	}
}

/* ---- inputs ---------------------------------------------------------------------- */

/* The debounced physical level became level. */
static void input_settle(struct gp_line *l, bool level)
{
	bool logical;

	if (level == l->stable)
		return;
	l->stable = level;
	logical = level != l->active_low;
	if (l->edge & (logical ? EDGE_RISING : EDGE_FALLING)) {
		l->counter++;
		report(l, F_COUNTER);
		counters_dirty(l->d, l, false);
	}
	report(l, F_STATE);
}

static void input_events(struct gp_line *l, const struct gpio_event *ev, size_t n)
{
	uint64_t hold_ns = (uint64_t)l->debounce_ms * 1000000u;

	for (size_t i = 0; i < n; i++) {
		if (l->debounce_ms == 0) {
			input_settle(l, ev[i].level != 0);
			continue;
		}
		/* The previous level held until this edge: long enough? */
		if (l->pending && ev[i].ts_ns - l->last_ts >= hold_ns)
			input_settle(l, l->raw);
		l->raw = ev[i].level != 0;
		l->last_ts = ev[i].ts_ns;
		l->pending = l->raw != l->stable;
	}
	if (l->debounce_ms == 0)
		return;
	if (l->pending)
		l->d->host->timer_arm(l->timer, l->d->host->now_ms() + l->debounce_ms);
	else
		l->d->host->timer_disarm(l->timer); /* bounced back: nothing happened */
}

static void line_lost(struct gp_line *l, int err);

static void input_readable(int fd, uint32_t revents, void *ud)
{
	struct gp_line *l = ud;
	struct gpio_event ev[16];
	int n;

	/* A bounded batch per wake-up: a line toggling fast cannot starve the
	 * loop; the rest waits for the next round. */
	n = gpio_backend.read_events(l->h, ev, 16);
	if (n < 0) {
		line_lost(l, n);
		return;
	}
	if (n == 0 && (revents & (GWD_EV_ERR | GWD_EV_HUP))) {
		line_lost(l, -ENODEV);
		return;
	}
	input_events(l, ev, (size_t)n);
}

static void debounce_fired(void *ud)
{
	struct gp_line *l = ud;

	if (!l->pending)
		return;
	l->pending = false;
	input_settle(l, l->raw);
}

/* ---- outputs --------------------------------------------------------------------- */

static int output_drive(struct gp_line *l, bool level)
{
	int r = gpio_backend.set_value(l->h, level);

	if (r < 0) {
		l->d->host->log(l->d->dev, GWD_LOG_ERR, "%s: cannot set the output: %s", l->label,
				strerror(-r));
		return r;
	}
	if (level != l->stable) {
		l->stable = level;
		report(l, F_STATE);
	}
	return 0;
}

static void pulse_fired(void *ud)
{
	struct gp_line *l = ud;

	l->pulsing = false;
	if (l->h)
		output_drive(l, l->active_low); /* logical off */
}

/* ---- opening and closing lines --------------------------------------------------- */

static void line_close(struct gp_line *l, bool safe)
{
	struct gp_device *d = l->d;

	if (l->watch) {
		d->host->unwatch_fd(l->watch);
		l->watch = NULL;
	}
	if (l->timer)
		d->host->timer_disarm(l->timer);
	l->pending = false;
	l->pulsing = false;
	if (l->h && l->output && safe && l->safe != SAFE_KEEP) {
		/* The safe state is logical under the configured polarity,
		 * whatever a server wrote since. */
		bool level = (l->safe == SAFE_ON) != l->active_low_cfg;

		if (gpio_backend.set_value(l->h, level) < 0)
			d->host->log(d->dev, GWD_LOG_ERR, "%s: cannot apply the safe state", l->label);
		else
			l->stable = level;
	}
	if (l->h) {
		gpio_backend.release(l->h);
		l->h = NULL;
	}
	if (l->chip) {
		gpio_backend.chip_close(l->chip);
		l->chip = NULL;
	}
	l->fd = -1;
}

static int line_open(struct gp_line *l, char *why, size_t len)
{
	struct gp_device *d = l->d;
	int r, level;

	r = gpio_backend.chip_open(l->chip_spec, &l->chip);
	if (r < 0) {
		snprintf(why, len, "chip \"%s\": %s", l->chip_spec,
			 r == -ENOENT ? "no such chip" : strerror(-r));
		return r;
	}
	if (l->name) {
		r = gpio_backend.line_find(l->chip, l->name, &l->offset);
		if (r < 0) {
			snprintf(why, len, "%s: %s", l->label,
				 r == -ENOENT ? "the chip has no line of that name" : strerror(-r));
			goto fail;
		}
	} else if (l->offset >= gpio_backend.num_lines(l->chip)) {
		r = -ENOENT;
		snprintf(why, len, "%s: the chip has %u lines", l->label,
			 gpio_backend.num_lines(l->chip));
		goto fail;
	}
	if (l->output)
		r = gpio_backend.request_output(l->chip, l->offset, CONSUMER,
						l->initial != l->active_low, &l->h);
	else
		r = gpio_backend.request_input(l->chip, l->offset, CONSUMER, l->bias, &l->h, &l->fd);
	if (r == -EBUSY) {
		const char *who = gpio_backend.line_consumer(l->chip, l->offset);

		snprintf(why, len, "%s: busy, held by %s%s%s", l->label, *who ? "\"" : "",
			 *who ? who : "another program", *who ? "\"" : "");
		goto fail;
	}
	if (r < 0) {
		snprintf(why, len, "%s: cannot request the line: %s", l->label, strerror(-r));
		goto fail;
	}
	if (l->output) {
		l->stable = l->initial != l->active_low;
		return 0;
	}
	level = gpio_backend.get_value(l->h);
	if (level < 0) {
		r = level;
		snprintf(why, len, "%s: cannot read the line: %s", l->label, strerror(-r));
		goto fail;
	}
	l->stable = l->raw = level != 0;
	l->pending = false;
	r = d->host->watch_fd(l->fd, GWD_EV_IN, input_readable, l, &l->watch);
	if (r < 0) {
		snprintf(why, len, "%s: cannot watch its events: %s", l->label, strerror(-r));
		goto fail;
	}
	return 0;
fail:
	line_close(l, false);
	return r;
}

static void close_all(struct gp_device *d, bool safe)
{
	for (size_t i = 0; i < d->n_lines; i++)
		line_close(d->lines[i], safe);
}

static void report_all(struct gp_device *d)
{
	for (size_t i = 0; i < d->n_lines; i++)
		for (int f = F_STATE; f <= F_EDGE; f++)
			report(d->lines[i], (enum gp_func)f);
}

/* Open every line; the device is UP only with all of them. */
static void open_all(struct gp_device *d)
{
	char why[400];
	int r = 0;

	for (size_t i = 0; i < d->n_lines && r == 0; i++)
		r = line_open(d->lines[i], why, sizeof(why));
	if (r < 0) {
		close_all(d, false);
		/* Logged once per outage; the daemon logs DOWN and recovery. */
		if (!d->logged_down)
			d->host->log(d->dev, GWD_LOG_ERR, "%s; retrying every %" PRIu64 " s", why,
				     d->retry_ms / 1000);
		d->logged_down = true;
		if (GWD_HOST_HAS(d->host, set_state))
			d->host->set_state(d->dev, GWD_STATE_DOWN, r);
		else
			d->host->report_error(d->dev, GWD_CHANNEL_ALL, r);
		d->up = false;
		if (d->retry_ms)
			d->host->timer_arm(d->retry_timer, d->host->now_ms() + d->retry_ms);
		return;
	}
	d->logged_down = false;
	d->up = true;
	if (GWD_HOST_HAS(d->host, set_state))
		d->host->set_state(d->dev, GWD_STATE_UP, 0);
	report_all(d);
}

static void retry_fired(void *ud)
{
	struct gp_device *d = ud;

	if (d->started && !d->up)
		open_all(d);
}

/* A line failed under us (chip unplugged, driver gone): the device is down
 * until every line opens again. */
static void line_lost(struct gp_line *l, int err)
{
	struct gp_device *d = l->d;

	d->host->log(d->dev, GWD_LOG_ERR, "%s: lost: %s", l->label, strerror(-err));
	close_all(d, false);
	d->up = false;
	d->logged_down = true;
	if (GWD_HOST_HAS(d->host, set_state))
		d->host->set_state(d->dev, GWD_STATE_DOWN, err);
	else
		d->host->report_error(d->dev, GWD_CHANNEL_ALL, err);
	if (d->retry_ms)
		d->host->timer_arm(d->retry_timer, d->host->now_ms() + d->retry_ms);
}

/* ---- adapter ops: config ----------------------------------------------------------- */

static int gp_init(const struct gwd_host *host, void **adapter_ctx)
{
	/* Everything up to device_name is used unconditionally. */
	if (GWD_HOST_REQUIRE(host, device_name) || !host->watch_fd)
		return -EPROTO;
	*adapter_ctx = (void *)host;
	return 0;
}

static void gp_fini(void *adapter_ctx)
{
}

static int gp_device_new(void *adapter_ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			 const struct gwd_cfg *bus, void **device_ctx)
{
	const struct gwd_host *h = adapter_ctx;
	struct gp_device *d;
	double save = 60.0, retry = 10.0;
	int err = 0;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->host = h;
	d->dev = dev;
	d->done_tail = &d->done;
	gwd_cfg_read_string(h, device, "chip", &d->chip_spec, &err);
	gwd_cfg_read_double(h, device, "counter_save_interval", &save, &err);
	gwd_cfg_read_double(h, device, "retry_interval", &retry, &err);
	gwd_cfg_check_range(h, device, "counter_save_interval", save, 0.0, 86400.0, &err);
	gwd_cfg_check_range(h, device, "retry_interval", retry, 0.0, 86400.0, &err);
	if (d->chip_spec && !*d->chip_spec)
		err = h->cfg_error(device, "chip", "expected a chip label or /dev/gpiochipN path");
	if (err < 0) {
		free(d);
		return -EINVAL;
	}
	d->save_ms = (uint64_t)(save * 1000.0 + 0.5);
	d->retry_ms = (uint64_t)(retry * 1000.0 + 0.5);
	if (retry > 0.0 && d->retry_ms < 100)
		d->retry_ms = 100;
	*device_ctx = d;
	return 0;
}

static bool same_line(const struct gp_line *l, const char *chip, const char *name, int64_t off)
{
	if (strcmp(l->chip_spec, chip) != 0)
		return false;
	return name ? l->name && strcmp(l->name, name) == 0 : !l->name && l->offset == off;
}

static int parse_func(const char *s, enum gp_func *out)
{
	for (int i = 0; i < F_COUNT_; i++)
		if (strcmp(s, func_names[i]) == 0) {
			*out = (enum gp_func)i;
			return 0;
		}
	return -EINVAL;
}

/* The settings of a line, read from the point that declares it. */
static void line_config(const struct gwd_host *h, const struct gwd_cfg *point, struct gp_line *l,
			int *err)
{
	const char *dir = "input", *bias = "as-is", *edge = "both", *safe = "off";
	int64_t debounce = 0;

	gwd_cfg_read_string(h, point, "direction", &dir, err);
	gwd_cfg_read_bool(h, point, "active_low", &l->active_low_cfg, err);
	l->active_low = l->active_low_cfg;
	if (strcmp(dir, "output") == 0) {
		l->output = true;
		gwd_cfg_read_bool(h, point, "initial", &l->initial, err);
		gwd_cfg_read_string(h, point, "safe_state", &safe, err);
		if (strcmp(safe, "off") == 0)
			l->safe = SAFE_OFF;
		else if (strcmp(safe, "on") == 0)
			l->safe = SAFE_ON;
		else if (strcmp(safe, "keep") == 0)
			l->safe = SAFE_KEEP;
		else
			*err = h->cfg_error(point, "safe_state",
					    "expected \"off\", \"on\" or \"keep\", found \"%s\"", safe);
		return;
	}
	if (strcmp(dir, "input") != 0) {
		*err = h->cfg_error(point, "direction", "expected \"input\" or \"output\", found \"%s\"",
				    dir);
		return;
	}
	gwd_cfg_read_string(h, point, "bias", &bias, err);
	gwd_cfg_read_int(h, point, "debounce", &debounce, err);
	gwd_cfg_read_string(h, point, "edge", &edge, err);
	gwd_cfg_read_bool(h, point, "persist_counter", &l->persist, err);
	if (strcmp(bias, "as-is") == 0)
		l->bias = GPIO_BIAS_AS_IS;
	else if (strcmp(bias, "disable") == 0)
		l->bias = GPIO_BIAS_DISABLE;
	else if (strcmp(bias, "pull-up") == 0)
		l->bias = GPIO_BIAS_PULL_UP;
	else if (strcmp(bias, "pull-down") == 0)
		l->bias = GPIO_BIAS_PULL_DOWN;
	else
		*err = h->cfg_error(point, "bias",
				    "expected \"as-is\", \"disable\", \"pull-up\" or \"pull-down\", "
				    "found \"%s\"",
				    bias);
	if (debounce < 0 || debounce > DEBOUNCE_MAX_MS)
		*err = h->cfg_error(point, "debounce",
				    "expected milliseconds from 0 to %d, found %" PRId64,
				    DEBOUNCE_MAX_MS, debounce);
	l->debounce_ms = (uint32_t)(debounce < 0 ? 0 : debounce);
	if (strcmp(edge, "rising") == 0)
		l->edge = EDGE_RISING;
	else if (strcmp(edge, "falling") == 0)
		l->edge = EDGE_FALLING;
	else if (strcmp(edge, "both") == 0)
		l->edge = EDGE_BOTH;
	else
		*err = h->cfg_error(point, "edge",
				    "expected \"rising\", \"falling\" or \"both\", found \"%s\"", edge);
}

static bool func_fits(enum gp_func f, bool output)
{
	if (output)
		return f == F_STATE || f == F_POLARITY || f == F_PULSE;
	return f != F_PULSE;
}

static int gp_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			  gwd_channel_t *out)
{
	struct gp_device *d = device_ctx;
	const struct gwd_host *h = d->host;
	const char *chip = d->chip_spec, *name = NULL, *func_s = "state";
	int64_t off = -1, pulse = 1000;
	struct gp_line *l = NULL;
	struct gp_channel *nc;
	enum gp_func f;
	int err = 0;

	gwd_cfg_read_string(h, point, "chip", &chip, &err);
	gwd_cfg_read_string(h, point, "line", &name, &err);
	gwd_cfg_read_int(h, point, "offset", &off, &err);
	gwd_cfg_read_string(h, point, "function", &func_s, &err);
	if (err < 0)
		return -EINVAL;
	if (!chip || !*chip)
		return h->cfg_error(point, "chip",
				    "required (here or in the device): a chip label or "
				    "/dev/gpiochipN path");
	if (name && off >= 0)
		return h->cfg_error(point, "offset", "give the line or its offset, not both");
	if (!name && off < 0)
		return h->cfg_error(point, "line",
				    "required: the line's name (or its offset with `offset`)");
	if (name && !*name)
		return h->cfg_error(point, "line", "expected a line name");
	if (!name && off > 65535)
		return h->cfg_error(point, "offset", "expected 0 to 65535, found %" PRId64, off);
	if (parse_func(func_s, &f) < 0)
		return h->cfg_error(point, "function",
				    "expected state, counter, polarity, debounce, edge, "
				    "counter_reset or pulse, found \"%s\"",
				    func_s);
	for (size_t i = 0; i < d->n_lines && !l; i++)
		if (same_line(d->lines[i], chip, name, off))
			l = d->lines[i];
	if (!l && f != F_STATE)
		return h->cfg_error(point, "function",
				    "the first point of a line carries its state and settings; "
				    "found \"%s\" first",
				    func_s);
	if (l && f == F_STATE)
		return h->cfg_error(point, "line", "this line is declared by an earlier point");
	if (l && !func_fits(f, l->output))
		return h->cfg_error(point, "function", "an %s line has no %s",
				    l->output ? "output" : "input", func_s);
	if (l && l->ch[f] != NO_CH)
		return h->cfg_error(point, "function", "the line's %s has a point already",
				    func_s);
	if (f == F_PULSE) {
		gwd_cfg_read_int(h, point, "pulse_ms", &pulse, &err);
		if (err == 0 && (pulse < 1 || pulse > PULSE_MAX_MS))
			err = h->cfg_error(point, "pulse_ms",
					   "expected milliseconds from 1 to %d, found %" PRId64,
					   PULSE_MAX_MS, pulse);
	}
	if (!l) {
		struct gp_line **v = realloc(d->lines, (d->n_lines + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->lines = v;
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->d = d;
		l->chip_spec = chip;
		l->name = name;
		l->offset = name ? 0 : (unsigned)off;
		l->fd = -1;
		for (int i = 0; i < F_COUNT_; i++)
			l->ch[i] = NO_CH;
		if (name)
			snprintf(l->label, sizeof(l->label), "chip \"%s\" line \"%s\"", chip, name);
		else
			snprintf(l->label, sizeof(l->label), "chip \"%s\" line %" PRId64, chip, off);
		line_config(h, point, l, &err);
		d->lines[d->n_lines++] = l;
	}
	if (err < 0)
		return -EINVAL;
	nc = realloc(d->ch, (d->n_ch + 1) * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	d->ch = nc;
	d->ch[d->n_ch] = (struct gp_channel){.func = f, .line = l, .pulse_ms = (uint32_t)pulse};
	l->ch[f] = (gwd_channel_t)d->n_ch;
	*out = (gwd_channel_t)d->n_ch++;
	(void)channel;
	return 0;
}

/* ---- adapter ops: life cycle -------------------------------------------------------- */

static int gp_device_start(void *device_ctx)
{
	struct gp_device *d = device_ctx;
	const struct gwd_host *h = d->host;
	int r;

	if (d->started)
		return -EALREADY;
	if (any_persist(d) && !GWD_HOST_HAS(h, state_dir)) {
		h->log(d->dev, GWD_LOG_ERR,
		       "persist_counter needs a gatewayd with adapter ABI 1.2 (state_dir)");
		return -ENOTSUP;
	}
	if (!d->done_timer && (r = h->timer_new(done_fired, d, &d->done_timer)) < 0)
		return r;
	if (!d->save_timer && (r = h->timer_new(save_fired, d, &d->save_timer)) < 0)
		return r;
	if (!d->retry_timer && (r = h->timer_new(retry_fired, d, &d->retry_timer)) < 0)
		return r;
	for (size_t i = 0; i < d->n_lines; i++) {
		struct gp_line *l = d->lines[i];

		if (!l->timer &&
		    (r = h->timer_new(l->output ? pulse_fired : debounce_fired, l, &l->timer)) < 0)
			return r;
	}
	if (!d->loaded) {
		counters_load(d);
		d->loaded = true;
	}
	d->started = true;
	/* A line that is busy or missing leaves the device DOWN (reads answer
	 * 5.03, Object 3 shows the error) and is retried; it is not an error
	 * of the daemon's, so the other devices carry on. */
	open_all(d);
	return 0;
}

static void gp_device_stop(void *device_ctx)
{
	struct gp_device *d = device_ctx;

	if (!d->started)
		return;
	d->started = false;
	d->host->timer_disarm(d->retry_timer);
	d->host->timer_disarm(d->done_timer);
	while (d->done) {
		struct gp_done *p = d->done;

		d->done = p->next;
		/* Their effect happened: they complete with their result. */
		d->host->complete(p->op, p->status, p->has_value ? &p->value : NULL);
		free(p);
	}
	d->done_tail = &d->done;
	if (d->dirty) {
		d->host->timer_disarm(d->save_timer);
		counters_save(d);
	}
	close_all(d, true);
	d->up = false;
}

static void gp_device_free(void *device_ctx)
{
	struct gp_device *d = device_ctx;

	if (!d)
		return;
	close_all(d, false);
	while (d->done) {
		struct gp_done *p = d->done;

		d->done = p->next;
		free(p);
	}
	for (size_t i = 0; i < d->n_lines; i++) {
		if (d->lines[i]->timer)
			d->host->timer_free(d->lines[i]->timer);
		free(d->lines[i]);
	}
	if (d->done_timer)
		d->host->timer_free(d->done_timer);
	if (d->save_timer)
		d->host->timer_free(d->save_timer);
	if (d->retry_timer)
		d->host->timer_free(d->retry_timer);
	free(d->lines);
	free(d->ch);
	free(d);
}

/* ---- adapter ops: read, write, execute ------------------------------------------------ */

static struct gp_channel *op_channel(struct gp_device *d, gwd_channel_t ch, int *err)
{
	if (ch >= d->n_ch) {
		*err = -EINVAL;
		return NULL;
	}
	if (!d->started || !d->up) {
		*err = -EHOSTDOWN;
		return NULL;
	}
	return &d->ch[ch];
}

static int gp_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct gp_device *d = device_ctx;
	struct gp_channel *c;
	struct gwd_value v;
	int err = 0;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	if (c->func == F_COUNTER_RESET || c->func == F_PULSE)
		return -EOPNOTSUPP;
	v = channel_value(c);
	return defer(d, op, 0, &v);
}

static int gp_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		    struct gwd_op *op)
{
	struct gp_device *d = device_ctx;
	struct gp_channel *c;
	struct gp_line *l;
	int64_t i;
	bool b;
	int err = 0;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	l = c->line;
	switch (c->func) {
	case F_STATE:
		if (!l->output)
			return -EOPNOTSUPP;
		if (!value_bool(v, &b))
			return -EINVAL;
		/* A write ends a pulse: the server's word is the last one. */
		if (l->pulsing) {
			l->pulsing = false;
			d->host->timer_disarm(l->timer);
		}
		err = output_drive(l, b != l->active_low);
		return defer(d, op, err < 0 ? -EIO : 0, NULL);
	case F_POLARITY:
		if (!value_bool(v, &b))
			return -EINVAL;
		if (b != l->active_low) {
			/* An output's line keeps its level: a polarity change never
			 * switches a relay.  Either way the state's meaning flips. */
			l->active_low = b;
			report(l, F_POLARITY);
			report(l, F_STATE);
		}
		return defer(d, op, 0, NULL);
	case F_DEBOUNCE:
		if (!value_int(v, &i))
			return -EINVAL;
		if (i < 0 || i > DEBOUNCE_MAX_MS)
			return -ERANGE;
		l->debounce_ms = (uint32_t)i;
		if (i == 0 && l->pending) {
			d->host->timer_disarm(l->timer);
			l->pending = false;
			input_settle(l, l->raw);
		}
		report(l, F_DEBOUNCE);
		return defer(d, op, 0, NULL);
	case F_EDGE:
		if (!value_int(v, &i))
			return -EINVAL;
		if (i < EDGE_FALLING || i > EDGE_BOTH)
			return -ERANGE;
		l->edge = (int)i;
		report(l, F_EDGE);
		return defer(d, op, 0, NULL);
	default:
		return -EOPNOTSUPP;
	}
}

/* The duration of a pulse: the execute's argument 0 in milliseconds
 * ("0='250'"), or the point's pulse_ms without one. */
static int pulse_args(const char *a, size_t len, uint32_t def, uint32_t *out)
{
	uint64_t ms = 0;
	size_t i;

	*out = def;
	if (len == 0)
		return 0;
	if (len < 5 || a[0] != '0' || a[1] != '=' || a[2] != '\'' || a[len - 1] != '\'')
		return -EINVAL;
	for (i = 3; i < len - 1; i++) {
		if (a[i] < '0' || a[i] > '9')
			return -EINVAL;
		ms = ms * 10 + (uint64_t)(a[i] - '0');
		if (ms > PULSE_MAX_MS)
			return -ERANGE;
	}
	if (ms == 0)
		return -ERANGE;
	*out = (uint32_t)ms;
	return 0;
}

static int gp_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		      struct gwd_op *op)
{
	struct gp_device *d = device_ctx;
	struct gp_channel *c;
	struct gp_line *l;
	uint32_t ms;
	int err = 0;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	l = c->line;
	if (c->func == F_COUNTER_RESET) {
		l->counter = 0;
		report(l, F_COUNTER);
		counters_dirty(d, l, true);
		return defer(d, op, 0, NULL);
	}
	if (c->func != F_PULSE)
		return -EOPNOTSUPP;
	err = pulse_args(args, len, c->pulse_ms, &ms);
	if (err < 0)
		return err;
	/* On now, off when the timer fires; a pulse during a pulse extends it. */
	err = output_drive(l, !l->active_low);
	if (err == 0) {
		l->pulsing = true;
		d->host->timer_arm(l->timer, d->host->now_ms() + ms);
	}
	return defer(d, op, err < 0 ? -EIO : 0, NULL);
}

static const struct gwd_adapter_ops gp_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = gp_init,
	.fini = gp_fini,
	.device_new = gp_device_new,
	.channel_new = gp_channel_new,
	.device_start = gp_device_start,
	.device_stop = gp_device_stop,
	.device_free = gp_device_free,
	.read = gp_read,
	.write = gp_write,
	.execute = gp_execute,
};

GWD_ADAPTER_DEFINE("gpio", "0.1.0", &gp_ops);
