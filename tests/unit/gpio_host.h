/* The fake host the gpio adapter tests hand the adapter: config tables,
 * a fake clock with timers, fd watches dispatched by a test-driven loop,
 * and records of reports and completions.  Included by test_gpio.c (fake
 * chip) and test_gpio_sim.c (the kernel's gpio-sim chip): one copy. */
#ifndef GPIO_HOST_H
#define GPIO_HOST_H

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatewayd/adapter.h"

extern const struct gwd_adapter_descriptor gwd_adapter_descriptor;
/* ---- fake config ------------------------------------------------------------ */

enum kv_type { KV_END, KV_INT, KV_DOUBLE, KV_BOOL, KV_STRING };

struct kv {
	const char *key;
	enum kv_type type;
	int64_t i;
	double d;
	bool b;
	const char *s;
	bool read;
};

#define KI(k, v) {.key = (k), .type = KV_INT, .i = (v)}
#define KD(k, v) {.key = (k), .type = KV_DOUBLE, .d = (v)}
#define KB(k, v) {.key = (k), .type = KV_BOOL, .b = (v)}
#define KS(k, v) {.key = (k), .type = KV_STRING, .s = (v)}
#define KEND {.type = KV_END}

struct gwd_cfg {
	const char *path;
	struct kv *kv;
};

struct gwd_device {
	const char *name;
	int state; /* -1 never set */
	int cause;
	unsigned downs;
};

enum rec_kind { R_REPORT, R_ERROR, R_COMPLETE };

struct rec {
	enum rec_kind kind;
	struct gwd_device *dev;
	gwd_channel_t ch;
	int status;
	int op;
	bool has_v;
	struct gwd_value v;
};

static struct {
	uint64_t now;
	struct rec recs[512];
	size_t n_recs;
	char errors[16][256];
	size_t n_errors;
	char logs[32][300];
	size_t n_logs;
	char state_dir[64];
} fx;

static char op_slots[64];

static struct gwd_op *OP(int i)
{
	return (struct gwd_op *)&op_slots[i];
}

static struct kv *get(const struct gwd_cfg *n, const char *key)
{
	for (struct kv *e = n->kv; e && e->type != KV_END; e++)
		if (strcmp(e->key, key) == 0) {
			e->read = true;
			return e;
		}
	return NULL;
}

static int add_error(const struct gwd_cfg *n, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int add_error(const struct gwd_cfg *n, const char *key, const char *fmt, va_list ap)
{
	char msg[200];

	assert_true(fx.n_errors < 16);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(fx.errors[fx.n_errors++], sizeof(fx.errors[0]), "%s%s%s: %s", n->path,
		 key ? "." : "", key ? key : "", msg);
	return -EINVAL;
}

static int fake_cfg_error(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fake_cfg_error(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = add_error(n, key, fmt, ap);
	va_end(ap);
	return r;
}

static int fake_cfg_int(const struct gwd_cfg *n, const char *key, int64_t *out)
{
	struct kv *e = get(n, key);

	if (!e)
		return -ENOENT;
	if (e->type != KV_INT)
		return fake_cfg_error(n, key, "expected an integer");
	*out = e->i;
	return 0;
}

static int fake_cfg_double(const struct gwd_cfg *n, const char *key, double *out)
{
	struct kv *e = get(n, key);

	if (!e)
		return -ENOENT;
	if (e->type == KV_INT)
		*out = (double)e->i;
	else if (e->type == KV_DOUBLE)
		*out = e->d;
	else
		return fake_cfg_error(n, key, "expected a number");
	return 0;
}

static int fake_cfg_bool(const struct gwd_cfg *n, const char *key, bool *out)
{
	struct kv *e = get(n, key);

	if (!e)
		return -ENOENT;
	if (e->type != KV_BOOL)
		return fake_cfg_error(n, key, "expected a boolean");
	*out = e->b;
	return 0;
}

static int fake_cfg_string(const struct gwd_cfg *n, const char *key, const char **out)
{
	struct kv *e = get(n, key);

	if (!e)
		return -ENOENT;
	if (e->type != KV_STRING)
		return fake_cfg_error(n, key, "expected a string");
	*out = e->s;
	return 0;
}

/* Keys of a node nobody read (the real host reports them as unknown). */
__attribute__((unused)) static const char *unread(const struct gwd_cfg *n)
{
	for (struct kv *e = n->kv; e && e->type != KV_END; e++)
		if (!e->read)
			return e->key;
	return NULL;
}

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
{
	va_list ap;
	int n;

	assert_true(fx.n_logs < 32);
	n = snprintf(fx.logs[fx.n_logs], sizeof(fx.logs[0]), "%s: ", dev ? dev->name : "-");
	va_start(ap, fmt);
	vsnprintf(fx.logs[fx.n_logs] + n, sizeof(fx.logs[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	fx.n_logs++;
}

static bool logged(const char *needle)
{
	for (size_t i = 0; i < fx.n_logs; i++)
		if (strstr(fx.logs[i], needle))
			return true;
	return false;
}

/* ---- fake timers and fd watches ------------------------------------------------ */

struct gwd_timer {
	void (*cb)(void *ud);
	void *ud;
	bool armed;
	uint64_t due;
};

static struct gwd_timer *timers[32];

static int fake_timer_new(void (*cb)(void *ud), void *ud, struct gwd_timer **out)
{
	struct gwd_timer *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->cb = cb;
	t->ud = ud;
	for (size_t i = 0; i < 32; i++)
		if (!timers[i]) {
			timers[i] = t;
			*out = t;
			return 0;
		}
	fail_msg("too many timers");
	return -ENOMEM;
}

static void fake_timer_arm(struct gwd_timer *t, uint64_t due)
{
	t->armed = true;
	t->due = due;
}

static void fake_timer_disarm(struct gwd_timer *t)
{
	t->armed = false;
}

static void fake_timer_free(struct gwd_timer *t)
{
	for (size_t i = 0; i < 32; i++)
		if (timers[i] == t)
			timers[i] = NULL;
	free(t);
}

static uint64_t fake_now(void)
{
	return fx.now;
}

struct gwd_watch {
	int fd;
	void (*cb)(int fd, uint32_t revents, void *ud);
	void *ud;
};

static struct gwd_watch *watches[16];

static int fake_watch_fd(int fd, uint32_t events, void (*cb)(int, uint32_t, void *), void *ud,
			 struct gwd_watch **out)
{
	struct gwd_watch *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	assert_int_equal(events, GWD_EV_IN);
	*w = (struct gwd_watch){.fd = fd, .cb = cb, .ud = ud};
	for (size_t i = 0; i < 16; i++)
		if (!watches[i]) {
			watches[i] = w;
			*out = w;
			return 0;
		}
	fail_msg("too many watches");
	return -ENOMEM;
}

static void fake_unwatch_fd(struct gwd_watch *w)
{
	for (size_t i = 0; i < 16; i++)
		if (watches[i] == w)
			watches[i] = NULL;
	free(w);
}

__attribute__((unused)) static size_t live_watches(void)
{
	size_t n = 0;

	for (size_t i = 0; i < 16; i++)
		n += watches[i] != NULL;
	return n;
}

/* The loop's view: which watched fds are readable (poll with no wait). */

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Fire every timer due by now, earliest first. */
static void run_timers(void)
{
	for (;;) {
		struct gwd_timer *t = NULL;

		for (size_t i = 0; i < 32; i++)
			if (timers[i] && timers[i]->armed && timers[i]->due <= fx.now &&
			    (!t || timers[i]->due < t->due))
				t = timers[i];
		if (!t)
			return;
		t->armed = false;
		t->cb(t->ud);
	}
}

/* One loop iteration: readable fds, then due timers.  Returns the number
 * of fd callbacks made. */
static unsigned loop_once(void)
{
	unsigned n = 0;

	for (size_t i = 0; i < 16; i++)
		if (watches[i] && readable(watches[i]->fd)) {
			watches[i]->cb(watches[i]->fd, GWD_EV_IN, watches[i]->ud);
			n++;
		}
	run_timers();
	return n;
}

/* The loop until no fd is readable. */
static void loop_drain(void)
{
	while (loop_once())
		;
}

/* Move the clock to `to`, running the loop at each timer's due time. */
__attribute__((unused)) static void advance_to(uint64_t to)
{
	loop_drain();
	for (;;) {
		struct gwd_timer *t = NULL;

		for (size_t i = 0; i < 32; i++)
			if (timers[i] && timers[i]->armed && timers[i]->due <= to &&
			    (!t || timers[i]->due < t->due))
				t = timers[i];
		if (!t)
			break;
		if (t->due > fx.now)
			fx.now = t->due;
		run_timers();
		loop_drain();
	}
	fx.now = to;
}

/* ---- reports and completions -------------------------------------------------------- */

static struct rec *record(enum rec_kind kind)
{
	assert_true(fx.n_recs < 512);
	memset(&fx.recs[fx.n_recs], 0, sizeof(fx.recs[0]));
	fx.recs[fx.n_recs].kind = kind;
	return &fx.recs[fx.n_recs++];
}

static void fake_report(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v)
{
	struct rec *r = record(R_REPORT);

	r->dev = dev;
	r->ch = ch;
	r->has_v = true;
	r->v = *v;
}

static void fake_report_error(struct gwd_device *dev, gwd_channel_t ch, int err)
{
	struct rec *r = record(R_ERROR);

	r->dev = dev;
	r->ch = ch;
	r->status = err;
}

static int in_op;

static void fake_complete(struct gwd_op *op, int status, const struct gwd_value *v)
{
	struct rec *r;

	assert_int_equal(in_op, 0); /* never from inside the op */
	r = record(R_COMPLETE);
	r->op = (int)((char *)op - op_slots);
	r->status = status;
	r->has_v = v != NULL;
	if (v)
		r->v = *v;
}

static const char *fake_device_name(const struct gwd_device *dev)
{
	return dev->name;
}

static void fake_set_state(struct gwd_device *dev, enum gwd_device_state state, int cause)
{
	if (state == GWD_STATE_DOWN && dev->state != GWD_STATE_DOWN)
		dev->downs++;
	dev->state = (int)state;
	dev->cause = cause;
}

static const char *fake_state_dir(const struct gwd_device *dev)
{
	return fx.state_dir;
}

static const struct gwd_host host = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = fake_log,
	.cfg_int = fake_cfg_int,
	.cfg_double = fake_cfg_double,
	.cfg_bool = fake_cfg_bool,
	.cfg_string = fake_cfg_string,
	.cfg_error = fake_cfg_error,
	.watch_fd = fake_watch_fd,
	.unwatch_fd = fake_unwatch_fd,
	.timer_new = fake_timer_new,
	.timer_arm = fake_timer_arm,
	.timer_disarm = fake_timer_disarm,
	.timer_free = fake_timer_free,
	.now_ms = fake_now,
	.report = fake_report,
	.report_error = fake_report_error,
	.complete = fake_complete,
	.device_name = fake_device_name,
	.set_state = fake_set_state,
	.state_dir = fake_state_dir,
};

/* ---- driving the plugin ------------------------------------------------------------ */

#define T0 UINT64_C(1000000)

static const struct gwd_adapter_ops *ops;
static void *actx;

struct dut {
	struct gwd_device dev;
	struct gwd_cfg node;
	struct gwd_cfg pts[8];
	gwd_channel_t ch[8];
	size_t n;
	void *ctx;
};

/* device_new + channel_new of every point; returns the first error. */
static int make(struct dut *u, const char *name, struct kv *dev_kv, struct kv **pt_kv, size_t n)
{
	int r;

	memset(u, 0, sizeof(*u));
	u->dev.name = name;
	u->dev.state = -1;
	u->node = (struct gwd_cfg){.path = "devices.[0]", .kv = dev_kv};
	r = ops->device_new(actx, &u->dev, &u->node, NULL, &u->ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		static char paths[8][40];
		int rc;

		snprintf(paths[i], sizeof(paths[i]), "devices.[0].points.[%zu]", i);
		u->pts[i] = (struct gwd_cfg){.path = paths[i], .kv = pt_kv[i]};
		rc = ops->channel_new(u->ctx, "c", &u->pts[i], &u->ch[i]);
		if (rc < 0 && r == 0)
			r = rc;
	}
	u->n = n;
	return r;
}

static void destroy(struct dut *u)
{
	ops->device_stop(u->ctx);
	ops->device_free(u->ctx);
}

/* The last value reported for channel ch of u since record index from. */
static const struct rec *last_report(const struct dut *u, gwd_channel_t ch, size_t from)
{
	const struct rec *r = NULL;

	for (size_t i = from; i < fx.n_recs; i++)
		if (fx.recs[i].kind == R_REPORT && fx.recs[i].dev == &u->dev && fx.recs[i].ch == ch)
			r = &fx.recs[i];
	return r;
}

__attribute__((unused)) static size_t count_reports(const struct dut *u, gwd_channel_t ch, size_t from)
{
	size_t n = 0;

	for (size_t i = from; i < fx.n_recs; i++)
		n += fx.recs[i].kind == R_REPORT && fx.recs[i].dev == &u->dev && fx.recs[i].ch == ch;
	return n;
}

static const struct rec *completion(int op)
{
	for (size_t i = 0; i < fx.n_recs; i++)
		if (fx.recs[i].kind == R_COMPLETE && fx.recs[i].op == op)
			return &fx.recs[i];
	return NULL;
}

/* Read channel ch through the adapter: its value, after the deferral. */
__attribute__((unused)) static struct gwd_value read_ch(struct dut *u, gwd_channel_t ch, int op)
{
	const struct rec *r;

	in_op = 1;
	assert_int_equal(ops->read(u->ctx, ch, OP(op)), 0);
	in_op = 0;
	assert_null(completion(op)); /* not inside the call */
	run_timers();
	r = completion(op);
	assert_non_null(r);
	assert_int_equal(r->status, 0);
	assert_true(r->has_v);
	return r->v;
}

static int write_ch(struct dut *u, gwd_channel_t ch, struct gwd_value v, int op)
{
	const struct rec *r;
	int rc;

	in_op = 1;
	rc = ops->write(u->ctx, ch, &v, OP(op));
	in_op = 0;
	if (rc < 0)
		return rc;
	run_timers();
	r = completion(op);
	assert_non_null(r);
	return r->status;
}

static int exec_ch(struct dut *u, gwd_channel_t ch, const char *args, int op)
{
	const struct rec *r;
	int rc;

	in_op = 1;
	rc = ops->execute(u->ctx, ch, args, strlen(args), OP(op));
	in_op = 0;
	if (rc < 0)
		return rc;
	run_timers();
	r = completion(op);
	assert_non_null(r);
	return r->status;
}

#endif
