/* The sim adapter: its pure model, and the plugin through a fake host with a
 * fake clock, fake timers and config nodes read from small tables. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/sim/sim_model.h"
#include "gatewayd/adapter.h"

extern const struct gwd_adapter_descriptor gwd_adapter_descriptor;

#define EPS 1e-9

/* ---- fake config: a node is a table of typed keys ---------------------- */

enum kv_type { KV_END, KV_INT, KV_DOUBLE, KV_BOOL, KV_STRING };

struct kv {
	const char *key;
	enum kv_type type;
	int64_t i;
	double d;
	bool b;
	const char *s;
	bool read; /* marked by the getters, like the real host */
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
};

/* ---- what the adapter did, in order -------------------------------------- */

enum rec_kind { R_REPORT, R_ERROR, R_COMPLETE };

struct rec {
	enum rec_kind kind;
	gwd_channel_t ch;
	int status;
	int op; /* index into ops_slots */
	bool has_v;
	struct gwd_value v;
	char str[64];
};

static struct {
	uint64_t now;
	struct rec recs[256];
	size_t n_recs;
	char errors[16][256];
	size_t n_errors;
	char logs[16][256];
	size_t n_logs;
	int in_op;          /* inside read/write/execute: complete() is a bug then */
	size_t timers_made;
	void (*on_complete)(int op, int status);
} fx;

static char op_slots[64];

static struct gwd_op *OP(int i)
{
	return (struct gwd_op *)&op_slots[i];
}

static struct kv *kv_find(const struct gwd_cfg *n, const char *key)
{
	for (struct kv *e = n->kv; e && e->type != KV_END; e++)
		if (strcmp(e->key, key) == 0)
			return e;
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

static int type_error(const struct gwd_cfg *n, const char *key, const char *want, ...)
    __attribute__((format(printf, 3, 4)));

static int type_error(const struct gwd_cfg *n, const char *key, const char *want, ...)
{
	va_list ap;
	int r;

	va_start(ap, want);
	r = add_error(n, key, want, ap);
	va_end(ap);
	return r;
}

static struct kv *get(const struct gwd_cfg *n, const char *key, enum kv_type t)
{
	struct kv *e = kv_find(n, key);

	if (e)
		e->read = true;
	return e;
}

static int fake_cfg_int(const struct gwd_cfg *n, const char *key, int64_t *out)
{
	struct kv *e = get(n, key, KV_INT);

	if (!e)
		return -ENOENT;
	if (e->type != KV_INT)
		return type_error(n, key, "expected an integer");
	*out = e->i;
	return 0;
}

/* Integers are accepted where a float is expected, as libconfig users expect. */
static int fake_cfg_double(const struct gwd_cfg *n, const char *key, double *out)
{
	struct kv *e = get(n, key, KV_DOUBLE);

	if (!e)
		return -ENOENT;
	if (e->type == KV_INT)
		*out = (double)e->i;
	else if (e->type == KV_DOUBLE)
		*out = e->d;
	else
		return type_error(n, key, "expected a number");
	return 0;
}

static int fake_cfg_bool(const struct gwd_cfg *n, const char *key, bool *out)
{
	struct kv *e = get(n, key, KV_BOOL);

	if (!e)
		return -ENOENT;
	if (e->type != KV_BOOL)
		return type_error(n, key, "expected a boolean");
	*out = e->b;
	return 0;
}

static int fake_cfg_string(const struct gwd_cfg *n, const char *key, const char **out)
{
	struct kv *e = get(n, key, KV_STRING);

	if (!e)
		return -ENOENT;
	if (e->type != KV_STRING)
		return type_error(n, key, "expected a string");
	*out = e->s;
	return 0;
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

/* Keys of a node nobody read (the real host reports them as unknown). */
static size_t unread(const struct gwd_cfg *n, const char **first)
{
	size_t count = 0;

	*first = NULL;
	for (struct kv *e = n->kv; e && e->type != KV_END; e++)
		if (!e->read && count++ == 0)
			*first = e->key;
	return count;
}

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
{
	va_list ap;
	int n;

	assert_true(fx.n_logs < 16);
	n = snprintf(fx.logs[fx.n_logs], sizeof(fx.logs[0]), "%s: ", dev ? dev->name : "-");
	va_start(ap, fmt);
	vsnprintf(fx.logs[fx.n_logs] + n, sizeof(fx.logs[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	fx.n_logs++;
}

/* ---- fake timers on the fake clock --------------------------------------- */

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
	for (size_t i = 0; i < 32; i++) {
		if (!timers[i]) {
			timers[i] = t;
			fx.timers_made++;
			*out = t;
			return 0;
		}
	}
	fail_msg("too many timers");
	return -ENOMEM;
}

static void fake_timer_arm(struct gwd_timer *t, uint64_t due)
{
	assert_false(fx.in_op && due < fx.now); /* sanity: due is absolute */
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

static size_t live_timers(void)
{
	size_t n = 0;

	for (size_t i = 0; i < 32; i++)
		n += timers[i] != NULL;
	return n;
}

static uint64_t fake_now(void)
{
	return fx.now;
}

/* Fire every timer due by now, earliest first, as the loop would. */
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

/* Move the clock to `to`, firing timers at their due times on the way. */
static void advance_to(uint64_t to)
{
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
	}
	fx.now = to;
}

/* ---- reports and completions -------------------------------------------- */

static struct rec *record(enum rec_kind kind)
{
	assert_true(fx.n_recs < 256);
	memset(&fx.recs[fx.n_recs], 0, sizeof(fx.recs[0]));
	fx.recs[fx.n_recs].kind = kind;
	return &fx.recs[fx.n_recs++];
}

static void store_value(struct rec *r, const struct gwd_value *v)
{
	r->has_v = v != NULL;
	if (!v)
		return;
	r->v = *v;
	if (v->type == GWD_V_STRING) {
		assert_true(v->v.bytes.len < sizeof(r->str));
		memcpy(r->str, v->v.bytes.ptr, v->v.bytes.len);
		r->str[v->v.bytes.len] = '\0';
		r->v.v.bytes.ptr = r->str;
	}
}

static void fake_report(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v)
{
	struct rec *r = record(R_REPORT);

	r->ch = ch;
	store_value(r, v);
}

static void fake_report_error(struct gwd_device *dev, gwd_channel_t ch, int err)
{
	struct rec *r = record(R_ERROR);

	r->ch = ch;
	r->status = err;
}

static void fake_complete(struct gwd_op *op, int status, const struct gwd_value *v)
{
	struct rec *r;

	assert_int_equal(fx.in_op, 0); /* never from inside the op that started it */
	r = record(R_COMPLETE);
	r->op = (int)((char *)op - op_slots);
	r->status = status;
	store_value(r, v);
	if (status != 0)
		assert_null(v);
	if (fx.on_complete)
		fx.on_complete(r->op, status);
}

static const char *fake_device_name(const struct gwd_device *dev)
{
	return dev->name;
}

/* Firmware: the state directory, the versions reported, the progress. */
static char fw_dir[64];
static char fw_identity[64];
static int fw_identities;

static const char *fake_state_dir(const struct gwd_device *dev)
{
	return fw_dir;
}

static void fake_set_identity(struct gwd_device *dev, enum gwd_identity field, const char *v)
{
	assert_int_equal(field, GWD_ID_FIRMWARE);
	snprintf(fw_identity, sizeof(fw_identity), "%s", v);
	fw_identities++;
}

static void fake_fw_progress(struct gwd_device *dev, unsigned percent)
{
	assert_true(percent <= 100);
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
	.timer_new = fake_timer_new,
	.timer_arm = fake_timer_arm,
	.timer_disarm = fake_timer_disarm,
	.timer_free = fake_timer_free,
	.now_ms = fake_now,
	.report = fake_report,
	.report_error = fake_report_error,
	.complete = fake_complete,
	.fw_progress = fake_fw_progress,
	.device_name = fake_device_name,
	.set_identity = fake_set_identity,
	.state_dir = fake_state_dir,
};

/* ---- driving the plugin ---------------------------------------------------- */

#define T0 UINT64_C(1000000) /* the clock when devices start */

static const struct gwd_adapter_ops *ops;
static void *actx;

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.now = T0;
	ops = gwd_adapter_descriptor.ops;
	assert_int_equal(ops->init(&host, &actx), 0);
	return 0;
}

static int teardown(void **state)
{
	ops->fini(actx);
	assert_int_equal(live_timers(), 0);
	return 0;
}

struct sim_dev {
	struct gwd_device dev;
	struct gwd_cfg cfg;
	void *ctx;
};

static int dev_new(struct sim_dev *d, const char *name, struct kv *keys)
{
	d->dev.name = name;
	d->cfg.path = name;
	d->cfg.kv = keys;
	return ops->device_new(actx, &d->dev, &d->cfg, NULL, &d->ctx);
}

static int chan_new(struct sim_dev *d, const char *channel, struct kv *keys, gwd_channel_t *out)
{
	/* The host keeps point nodes as long as the device: so do we. */
	static struct gwd_cfg nodes[32];
	static size_t n_nodes;
	struct gwd_cfg *node = &nodes[n_nodes++ % 32];

	node->path = channel;
	node->kv = keys;
	return ops->channel_new(d->ctx, channel, node, out);
}

static void dev_free(struct sim_dev *d)
{
	ops->device_stop(d->ctx);
	ops->device_free(d->ctx);
}

static int do_read(struct sim_dev *d, gwd_channel_t ch, int op)
{
	int r;

	fx.in_op++;
	r = ops->read(d->ctx, ch, OP(op));
	fx.in_op--;
	return r;
}

static int do_write(struct sim_dev *d, gwd_channel_t ch, struct gwd_value v, int op)
{
	int r;

	fx.in_op++;
	r = ops->write(d->ctx, ch, &v, OP(op));
	fx.in_op--;
	return r;
}

static int do_execute(struct sim_dev *d, gwd_channel_t ch, int op)
{
	int r;

	fx.in_op++;
	r = ops->execute(d->ctx, ch, NULL, 0, OP(op));
	fx.in_op--;
	return r;
}

/* The one completion recorded since mark, for op. */
static const struct rec *completion(size_t mark, int op)
{
	const struct rec *found = NULL;

	for (size_t i = mark; i < fx.n_recs; i++) {
		if (fx.recs[i].kind == R_COMPLETE && fx.recs[i].op == op) {
			assert_null(found);
			found = &fx.recs[i];
		}
	}
	assert_non_null(found);
	return found;
}

static size_t count_recs(size_t mark, enum rec_kind kind)
{
	size_t n = 0;

	for (size_t i = mark; i < fx.n_recs; i++)
		n += fx.recs[i].kind == kind;
	return n;
}

/* Read ch at device time t_ms (the clock moves there) and return the value. */
static struct gwd_value read_at(struct sim_dev *d, gwd_channel_t ch, uint64_t t_ms)
{
	size_t mark = fx.n_recs;
	const struct rec *r;

	advance_to(T0 + t_ms);
	assert_int_equal(do_read(d, ch, 0), 0);
	assert_int_equal(fx.n_recs, mark); /* deferred */
	run_timers();
	r = completion(mark, 0);
	assert_int_equal(r->status, 0);
	assert_true(r->has_v);
	return r->v;
}

static double read_double_at(struct sim_dev *d, gwd_channel_t ch, uint64_t t_ms)
{
	struct gwd_value v = read_at(d, ch, t_ms);

	assert_int_equal(v.type, GWD_V_DOUBLE);
	return v.v.d;
}

/* ---- the model -------------------------------------------------------------- */

static void test_prng_vectors(void **state)
{
	uint64_t s = 0;

	/* splitmix64's published reference outputs for seed 0. */
	assert_true(sim_splitmix64(&s) == UINT64_C(0xe220a8397b1dcdaf));
	assert_true(sim_splitmix64(&s) == UINT64_C(0x6e789e6aa1b965f4));
	assert_true(sim_splitmix64(&s) == UINT64_C(0x06c45d188009454f));
	/* FNV-1a 64 reference values. */
	assert_true(sim_hash_str("") == UINT64_C(0xcbf29ce484222325));
	assert_true(sim_hash_str("a") == UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(sim_hash_str("foobar") == UINT64_C(0x85944171f73967e8));
	assert_true(sim_channel_seed(1, "x") != sim_channel_seed(2, "x"));
	assert_true(sim_channel_seed(1, "x") != sim_channel_seed(1, "y"));
}

static void test_model_waves(void **state)
{
	struct sim_wave sine = {.kind = SIM_SINE, .base = 20, .amplitude = 5, .period_s = 60};
	struct sim_wave saw = {.kind = SIM_SAWTOOTH, .base = 0, .amplitude = 1, .period_s = 10};
	struct sim_wave sq = {.kind = SIM_SQUARE, .base = 1, .amplitude = 2, .period_s = 10};
	struct sim_wave k = {.kind = SIM_CONSTANT, .base = 7.25};
	struct sim_wave_state st;

	sim_wave_state_reset(&st);
	/* base + A sin(2 pi t / period) */
	assert_float_equal(sim_wave_value(&sine, &st, 0), 20.0, EPS);
	assert_float_equal(sim_wave_value(&sine, &st, 5000), 22.5, EPS); /* sin(pi/6) = 1/2 */
	assert_float_equal(sim_wave_value(&sine, &st, 15000), 25.0, EPS);
	assert_float_equal(sim_wave_value(&sine, &st, 45000), 15.0, EPS);
	assert_float_equal(sim_wave_value(&sine, &st, 75000), 25.0, EPS);
	/* base + A (2 t/period - 1): from base - A up to base + A */
	assert_float_equal(sim_wave_value(&saw, &st, 0), -1.0, EPS);
	assert_float_equal(sim_wave_value(&saw, &st, 2500), -0.5, EPS);
	assert_float_equal(sim_wave_value(&saw, &st, 7500), 0.5, EPS);
	assert_float_equal(sim_wave_value(&saw, &st, 10000), -1.0, EPS);
	/* base + A for the first half period, base - A for the second */
	assert_float_equal(sim_wave_value(&sq, &st, 0), 3.0, EPS);
	assert_float_equal(sim_wave_value(&sq, &st, 4999), 3.0, EPS);
	assert_float_equal(sim_wave_value(&sq, &st, 5000), -1.0, EPS);
	assert_float_equal(sim_wave_value(&sq, &st, 10000), 3.0, EPS);
	assert_float_equal(sim_wave_value(&k, &st, 123456), 7.25, EPS);
}

static void test_model_counter(void **state)
{
	struct sim_wave c = {.kind = SIM_COUNTER, .base = 10, .period_s = 1, .step = 2};
	struct sim_wave_state st;

	sim_wave_state_reset(&st);
	/* base + step * whole periods since the origin */
	assert_float_equal(sim_wave_value(&c, &st, 0), 10.0, EPS);
	assert_float_equal(sim_wave_value(&c, &st, 999), 10.0, EPS);
	assert_float_equal(sim_wave_value(&c, &st, 1000), 12.0, EPS);
	assert_float_equal(sim_wave_value(&c, &st, 3500), 16.0, EPS);
	sim_counter_reset(&st, 3500);
	assert_float_equal(sim_wave_value(&c, &st, 3500), 10.0, EPS);
	assert_float_equal(sim_wave_value(&c, &st, 4499), 10.0, EPS);
	assert_float_equal(sim_wave_value(&c, &st, 4500), 12.0, EPS);
	sim_counter_increment(&c, &st);
	assert_float_equal(sim_wave_value(&c, &st, 4500), 14.0, EPS);
}

static void test_model_random_walk(void **state)
{
	struct sim_wave w = {.kind = SIM_RANDOM_WALK, .base = 50, .amplitude = 0.5,
			     .period_s = 1, .step = 0.2, .seed = 1234};
	struct sim_wave_state a, b;
	double prev, v, first, u;
	bool moved = false;

	sim_wave_state_reset(&a);
	assert_float_equal(sim_wave_value(&w, &a, 999), 50.0, EPS);
	/* Step k is uniform in [-step, step) from splitmix64's k-th output. */
	u = (double)(sim_mix64(w.seed + UINT64_C(0x9e3779b97f4a7c15)) >> 11) * 0x1p-53;
	first = 50.0 + 0.2 * (2.0 * u - 1.0);
	assert_float_equal(sim_wave_value(&w, &a, 1000), first, EPS);

	prev = first;
	for (uint64_t t = 2000; t <= 500000; t += 1000) {
		v = sim_wave_value(&w, &a, t);
		assert_true(fabs(v - prev) <= 0.2 + EPS);
		assert_true(v >= 49.5 && v <= 50.5);
		moved |= v != prev;
		prev = v;
	}
	assert_true(moved);
	/* The cache is only a cache: a fresh state, or going back, agrees. */
	sim_wave_state_reset(&b);
	assert_float_equal(sim_wave_value(&w, &b, 500000), prev, 0.0);
	assert_float_equal(sim_wave_value(&w, &a, 1000), first, 0.0);
	/* Another seed walks elsewhere. */
	w.seed = 4321;
	sim_wave_state_reset(&b);
	assert_true(sim_wave_value(&w, &b, 500000) != prev);
}

static void test_model_failure_schedule(void **state)
{
	struct sim_fail f = {.mode = SIM_FAIL_ERROR, .after = 2, .count = 3};
	struct sim_fail forever = {.mode = SIM_FAIL_TIMEOUT, .after = 1};
	struct sim_fail none = {.mode = SIM_FAIL_NONE, .after = 0};
	bool want[] = {false, false, true, true, true, false, false};

	for (uint64_t i = 0; i < 7; i++)
		assert_int_equal(sim_fail_hits(&f, i), want[i]);
	assert_false(sim_fail_hits(&forever, 0));
	assert_true(sim_fail_hits(&forever, 1));
	assert_true(sim_fail_hits(&forever, 1000000));
	assert_false(sim_fail_hits(&none, 0));
}

static void test_model_names(void **state)
{
	enum sim_kind k;
	enum sim_type t;
	enum sim_action a;
	enum sim_fail_mode m;

	assert_int_equal(sim_kind_parse("random_walk", &k), 0);
	assert_int_equal(k, SIM_RANDOM_WALK);
	assert_string_equal(sim_kind_name(SIM_EXECUTE), "execute");
	assert_int_equal(sim_kind_parse("triangle", &k), -EINVAL);
	assert_int_equal(sim_kind_parse(NULL, &k), -EINVAL);
	assert_int_equal(sim_type_parse("bool", &t), 0);
	assert_int_equal(t, SIM_T_BOOL);
	assert_int_equal(sim_type_parse("float", &t), -EINVAL);
	assert_int_equal(sim_action_parse("toggle", &a), 0);
	assert_int_equal(a, SIM_TOGGLE);
	assert_int_equal(sim_fail_parse("silent", &m), 0);
	assert_int_equal(m, SIM_FAIL_SILENT);
	assert_int_equal(sim_fail_parse("Silent", &m), -EINVAL);
}

/* ---- the plugin ---------------------------------------------------------------- */

static void test_waveforms_through_host(void **state)
{
	struct kv dkeys[] = {KI("seed", 7), KEND};
	struct kv sine[] = {KS("waveform", "sine"), KD("base", 20), KD("amplitude", 5),
			    KD("period", 60), KEND};
	struct kv as_int[] = {KS("waveform", "sine"), KI("base", 20), KD("amplitude", 2.5),
			      KS("type", "int"), KEND};
	struct kv as_bool[] = {KS("waveform", "square"), KS("type", "bool"), KD("period", 10),
			       KEND};
	struct kv as_str[] = {KS("waveform", "sawtooth"), KS("type", "string"), KD("period", 10),
			      KEND};
	struct kv counter[] = {KS("waveform", "counter"), KI("base", 100), KI("step", 5), KEND};
	struct sim_dev d;
	gwd_channel_t c_sine, c_int, c_bool, c_str, c_cnt;
	struct gwd_value v;
	const char *left;

	assert_int_equal(dev_new(&d, "dev1", dkeys), 0);
	assert_int_equal(chan_new(&d, "temp", sine, &c_sine), 0);
	assert_int_equal(chan_new(&d, "temp_i", as_int, &c_int), 0);
	assert_int_equal(chan_new(&d, "flag", as_bool, &c_bool), 0);
	assert_int_equal(chan_new(&d, "label", as_str, &c_str), 0);
	assert_int_equal(chan_new(&d, "pulses", counter, &c_cnt), 0);
	assert_int_equal(unread(&d.cfg, &left), 0);
	assert_int_equal(fx.n_errors, 0);
	assert_int_equal(ops->device_start(d.ctx), 0);

	assert_float_equal(read_double_at(&d, c_sine, 0), 20.0, EPS);
	assert_float_equal(read_double_at(&d, c_sine, 15000), 25.0, EPS);
	assert_float_equal(read_double_at(&d, c_sine, 45000), 15.0, EPS);

	/* 20 + 2.5 sin(2 pi 75/60) = 22.5, rounded half away from zero */
	v = read_at(&d, c_int, 75000);
	assert_int_equal(v.type, GWD_V_INT);
	assert_int_equal(v.v.i, 23);

	/* square, base 0 amplitude 1: +1 then -1; bool is "> 0" */
	v = read_at(&d, c_bool, 80000);
	assert_int_equal(v.type, GWD_V_BOOL);
	assert_true(v.v.b);
	v = read_at(&d, c_bool, 85000);
	assert_false(v.v.b);

	/* sawtooth at 7.5 s of 10: 2 * 0.75 - 1 = 0.5, printed with %g */
	v = read_at(&d, c_str, 87500);
	assert_int_equal(v.type, GWD_V_STRING);
	assert_string_equal(v.v.bytes.ptr, "0.5");

	/* counter: 100 + 5 per second since start (period defaults to 1 s) */
	assert_float_equal(read_double_at(&d, c_cnt, 90999), 100.0 + 5 * 90, EPS);

	dev_free(&d);
}

static void test_restart_resets_time(void **state)
{
	struct kv saw[] = {KS("waveform", "sawtooth"), KD("period", 10), KEND};
	struct sim_dev d;
	gwd_channel_t ch;

	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "s", saw, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_int_equal(ops->device_start(d.ctx), -EALREADY);
	assert_float_equal(read_double_at(&d, ch, 2500), -0.5, EPS);
	ops->device_stop(d.ctx);
	assert_int_equal(do_read(&d, ch, 0), -ENOTCONN);
	assert_int_equal(ops->device_start(d.ctx), 0); /* at T0 + 2500 */
	assert_float_equal(read_double_at(&d, ch, 2500 + 7500), 0.5, EPS);
	dev_free(&d);
}

/* A random walk's value at device time t. */
static double walk_at(const char *devname, struct kv *dkeys, uint64_t t)
{
	struct kv walk[] = {KS("waveform", "random_walk"), KD("base", 10), KD("amplitude", 100),
			    KD("step", 1), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	double v;

	fx.now = T0;
	assert_int_equal(dev_new(&d, devname, dkeys), 0);
	assert_int_equal(chan_new(&d, "walk", walk, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	v = read_double_at(&d, ch, t);
	dev_free(&d);
	return v;
}

static void test_determinism(void **state)
{
	struct kv seed1[] = {KI("seed", 1), KEND};
	struct kv seed1b[] = {KI("seed", 1), KEND};
	struct kv seed2[] = {KI("seed", 2), KEND};
	double a = walk_at("x", seed1, 60000);

	assert_true(a != 10.0);
	/* The seed decides, not the name. */
	assert_float_equal(walk_at("y", seed1b, 60000), a, 0.0);
	assert_true(walk_at("x", seed2, 60000) != a);
	/* Without a seed, the device's name decides. */
	assert_float_equal(walk_at("pump", (struct kv[]){KEND}, 60000),
			   walk_at("pump", (struct kv[]){KEND}, 60000), 0.0);
	assert_true(walk_at("pump", (struct kv[]){KEND}, 60000) !=
		    walk_at("fan", (struct kv[]){KEND}, 60000));
}

static void test_output_write(void **state)
{
	struct kv out_d[] = {KS("waveform", "output"), KD("initial", 1.5), KEND};
	struct kv out_b[] = {KS("waveform", "output"), KS("type", "bool"), KEND};
	struct kv out_s[] = {KS("waveform", "output"), KS("type", "string"), KS("initial", "idle"),
			     KEND};
	struct kv wave[] = {KS("waveform", "constant"), KEND};
	struct sim_dev d;
	gwd_channel_t cd, cb, cs, cw;
	struct gwd_value v;
	const struct rec *r;
	size_t mark;

	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "setpoint", out_d, &cd), 0);
	assert_int_equal(chan_new(&d, "relay", out_b, &cb), 0);
	assert_int_equal(chan_new(&d, "mode", out_s, &cs), 0);
	assert_int_equal(chan_new(&d, "k", wave, &cw), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);

	assert_float_equal(read_double_at(&d, cd, 0), 1.5, 0.0);
	v = read_at(&d, cb, 0);
	assert_int_equal(v.type, GWD_V_BOOL);
	assert_false(v.v.b);

	/* A write takes effect at once: a read issued right after sees it. */
	mark = fx.n_recs;
	assert_int_equal(do_write(&d, cd, gwd_value_double(42.5), 1), 0);
	assert_int_equal(do_read(&d, cd, 2), 0);
	assert_int_equal(fx.n_recs, mark);
	run_timers();
	/* reported, then completed, then the read */
	assert_int_equal(fx.n_recs, mark + 3);
	r = &fx.recs[mark];
	assert_int_equal(r->kind, R_REPORT);
	assert_int_equal(r->ch, cd);
	assert_int_equal(r->v.type, GWD_V_DOUBLE);
	assert_float_equal(r->v.v.d, 42.5, 0.0);
	r = completion(mark, 1);
	assert_int_equal(r->status, 0);
	assert_false(r->has_v);
	r = completion(mark, 2);
	assert_float_equal(r->v.v.d, 42.5, 0.0);

	/* Numbers convert where nothing is lost. */
	assert_int_equal(do_write(&d, cd, gwd_value_int(3), 1), 0);
	assert_int_equal(do_write(&d, cb, gwd_value_int(1), 1), 0);
	assert_int_equal(do_write(&d, cb, gwd_value_int(2), 1), -EINVAL);
	assert_int_equal(do_write(&d, cb, gwd_value_double(0.5), 1), -EINVAL);
	run_timers();
	assert_float_equal(read_double_at(&d, cd, 0), 3.0, 0.0);
	assert_true(read_at(&d, cb, 0).v.b);

	/* Strings are copied: the caller's buffer may go away. */
	{
		char buf[] = "running";
		struct gwd_value s = {.type = GWD_V_STRING};

		s.v.bytes.ptr = buf;
		s.v.bytes.len = strlen(buf);
		assert_int_equal(do_write(&d, cs, s, 1), 0);
		memset(buf, 'X', sizeof(buf) - 1);
		run_timers();
	}
	v = read_at(&d, cs, 0);
	assert_int_equal(v.type, GWD_V_STRING);
	assert_string_equal(v.v.bytes.ptr, "running");
	assert_int_equal(do_write(&d, cs, gwd_value_int(1), 1), -EINVAL);

	/* Only outputs are writable; bad handles are refused. */
	assert_int_equal(do_write(&d, cw, gwd_value_double(1), 1), -EOPNOTSUPP);
	assert_int_equal(do_read(&d, 99, 1), -ENOENT);
	dev_free(&d);
}

static void test_execute(void **state)
{
	struct kv cnt[] = {KS("waveform", "counter"), KD("period", 1), KEND};
	struct kv relay[] = {KS("waveform", "output"), KS("type", "bool"), KEND};
	struct kv level[] = {KS("waveform", "output"), KS("type", "int"), KI("initial", 4), KEND};
	struct kv reset[] = {KS("waveform", "execute"), KS("target", "pulses"), KEND};
	struct kv bump[] = {KS("waveform", "execute"), KS("target", "pulses"),
			    KS("action", "increment"), KEND};
	struct kv toggle[] = {KS("waveform", "execute"), KS("target", "relay"),
			      KS("action", "toggle"), KEND};
	struct kv up[] = {KS("waveform", "execute"), KS("target", "level"),
			  KS("action", "increment"), KEND};
	struct kv lreset[] = {KS("waveform", "execute"), KS("target", "level"), KEND};
	struct sim_dev d;
	gwd_channel_t c_cnt, c_relay, c_level, e_reset, e_bump, e_toggle, e_up, e_lreset;
	const struct rec *r;
	size_t mark;

	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "pulses", cnt, &c_cnt), 0);
	assert_int_equal(chan_new(&d, "relay", relay, &c_relay), 0);
	assert_int_equal(chan_new(&d, "level", level, &c_level), 0);
	assert_int_equal(chan_new(&d, "reset", reset, &e_reset), 0);
	assert_int_equal(chan_new(&d, "bump", bump, &e_bump), 0);
	assert_int_equal(chan_new(&d, "toggle", toggle, &e_toggle), 0);
	assert_int_equal(chan_new(&d, "up", up, &e_up), 0);
	assert_int_equal(chan_new(&d, "lreset", lreset, &e_lreset), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);

	assert_float_equal(read_double_at(&d, c_cnt, 7200), 7.0, EPS);
	/* reset at 7.2 s: back to base, counting again from there */
	advance_to(T0 + 7200);
	mark = fx.n_recs;
	assert_int_equal(do_execute(&d, e_reset, 3), 0);
	assert_int_equal(fx.n_recs, mark);
	run_timers();
	r = &fx.recs[mark];
	assert_int_equal(r->kind, R_REPORT);
	assert_int_equal(r->ch, c_cnt);
	assert_float_equal(r->v.v.d, 0.0, EPS);
	assert_int_equal(completion(mark, 3)->status, 0);
	assert_float_equal(read_double_at(&d, c_cnt, 9100), 1.0, EPS);
	assert_int_equal(do_execute(&d, e_bump, 3), 0);
	run_timers();
	assert_float_equal(read_double_at(&d, c_cnt, 9100), 2.0, EPS);

	mark = fx.n_recs;
	assert_int_equal(do_execute(&d, e_toggle, 4), 0);
	run_timers();
	r = &fx.recs[mark];
	assert_int_equal(r->kind, R_REPORT);
	assert_int_equal(r->ch, c_relay);
	assert_true(r->v.v.b);
	assert_true(read_at(&d, c_relay, 9100).v.b);
	assert_int_equal(do_execute(&d, e_toggle, 4), 0);
	run_timers();
	assert_false(read_at(&d, c_relay, 9100).v.b);

	assert_int_equal(do_execute(&d, e_up, 5), 0);
	assert_int_equal(do_execute(&d, e_up, 6), 0);
	run_timers();
	assert_int_equal(read_at(&d, c_level, 9100).v.i, 6);
	assert_int_equal(do_execute(&d, e_lreset, 5), 0);
	run_timers();
	assert_int_equal(read_at(&d, c_level, 9100).v.i, 4);

	/* Execute only on execute channels, read not on them. */
	assert_int_equal(do_execute(&d, c_relay, 1), -EOPNOTSUPP);
	assert_int_equal(do_read(&d, e_toggle, 1), -EOPNOTSUPP);
	dev_free(&d);
}

static void test_fail_error(void **state)
{
	struct kv dkeys[] = {KS("fail", "error"), KEND};
	struct kv k[] = {KS("waveform", "constant"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_int_equal(do_read(&d, ch, 1), 0);
	assert_int_equal(fx.n_recs, mark); /* not from inside read */
	run_timers();
	assert_int_equal(completion(mark, 1)->status, -EIO);
	assert_int_equal(fx.n_logs, 1);
	assert_string_equal(fx.logs[0], "d: simulating failure (error) after 0 ops");
	dev_free(&d);
}

static void test_fail_timeout(void **state)
{
	struct kv dkeys[] = {KS("fail", "timeout"), KD("fail_delay", 2.5), KEND};
	struct kv dflt[] = {KS("fail", "timeout"), KEND};
	struct kv k[] = {KS("waveform", "output"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_int_equal(do_write(&d, ch, gwd_value_double(9), 1), 0);
	advance_to(T0 + 2499);
	assert_int_equal(fx.n_recs, mark);
	advance_to(T0 + 2500);
	assert_int_equal(completion(mark, 1)->status, -ETIMEDOUT);
	/* fail_for 0: every op fails, forever. */
	assert_int_equal(do_read(&d, ch, 2), 0);
	advance_to(T0 + 5000);
	assert_int_equal(completion(mark, 2)->status, -ETIMEDOUT);
	dev_free(&d);

	/* fail_delay defaults to one second */
	fx.now = T0;
	mark = fx.n_recs;
	assert_int_equal(dev_new(&d, "d", dflt), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_int_equal(do_read(&d, ch, 1), 0);
	advance_to(T0 + 999);
	assert_int_equal(fx.n_recs, mark);
	advance_to(T0 + 1000);
	assert_int_equal(completion(mark, 1)->status, -ETIMEDOUT);
	dev_free(&d);
}

static void test_fail_silent(void **state)
{
	struct kv dkeys[] = {KS("fail", "silent"), KEND};
	struct kv k[] = {KS("waveform", "sine"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_int_equal(do_read(&d, ch, 1), 0);
	assert_int_equal(do_read(&d, ch, 2), 0);
	advance_to(T0 + 3600000);
	assert_int_equal(fx.n_recs, mark);
	ops->device_stop(d.ctx);
	assert_int_equal(completion(mark, 1)->status, -ECANCELED);
	assert_int_equal(completion(mark, 2)->status, -ECANCELED);
	assert_int_equal(fx.n_recs, mark + 2);
	ops->device_free(d.ctx);
}

static void test_fail_after_and_recovery(void **state)
{
	struct kv dkeys[] = {KS("fail", "error"), KI("fail_after", 2), KI("fail_for", 2), KEND};
	struct kv k[] = {KS("waveform", "constant"), KD("base", 3), KEND};
	int want[] = {0, 0, -EIO, -EIO, 0, 0};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(do_read(&d, ch, i), 0);
	run_timers();
	for (int i = 0; i < 6; i++) {
		const struct rec *r = completion(mark, i);

		assert_int_equal(r->status, want[i]);
		if (want[i] == 0)
			assert_float_equal(r->v.v.d, 3.0, 0.0);
	}
	/* The failure and the recovery are logged once each. */
	assert_int_equal(fx.n_logs, 2);
	assert_string_equal(fx.logs[0], "d: simulating failure (error) after 2 ops");
	assert_string_equal(fx.logs[1], "d: simulated failure (error) over after 2 failed ops");
	dev_free(&d);
}

static void test_report_interval(void **state)
{
	struct kv dkeys[] = {KD("report_interval", 5), KEND};
	struct kv sine[] = {KS("waveform", "sine"), KD("base", 20), KD("amplitude", 5), KEND};
	struct kv out[] = {KS("waveform", "output"), KI("initial", 2), KEND};
	struct kv cnt[] = {KS("waveform", "counter"), KEND};
	struct kv ex[] = {KS("waveform", "execute"), KS("target", "n"), KEND};
	struct sim_dev d;
	gwd_channel_t c_sine, c_out, c_cnt, c_ex;
	size_t mark;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "t", sine, &c_sine), 0);
	assert_int_equal(chan_new(&d, "o", out, &c_out), 0);
	assert_int_equal(chan_new(&d, "n", cnt, &c_cnt), 0);
	assert_int_equal(chan_new(&d, "x", ex, &c_ex), 0);
	fx.timers_made = 0;
	assert_int_equal(ops->device_start(d.ctx), 0);
	/* One timer for reports and one for completions, whatever the channels. */
	assert_int_equal(fx.timers_made, 2);

	mark = fx.n_recs;
	advance_to(T0 + 4999);
	assert_int_equal(fx.n_recs, mark);
	advance_to(T0 + 5000);
	/* every channel but the execute one, in order */
	assert_int_equal(fx.n_recs, mark + 3);
	assert_int_equal(fx.recs[mark].ch, c_sine);
	assert_float_equal(fx.recs[mark].v.v.d, 20.0 + 5.0 * sin(2 * M_PI * 5.0 / 60.0), EPS);
	assert_int_equal(fx.recs[mark + 1].ch, c_out);
	assert_float_equal(fx.recs[mark + 1].v.v.d, 2.0, 0.0);
	assert_int_equal(fx.recs[mark + 2].ch, c_cnt);
	assert_float_equal(fx.recs[mark + 2].v.v.d, 5.0, 0.0);

	/* On the 5 s grid; a late loop skips what it missed. */
	mark = fx.n_recs;
	advance_to(T0 + 9999);
	assert_int_equal(fx.n_recs, mark);
	fx.now = T0 + 17000; /* the loop was late: due 10 s, runs at 17 s */
	run_timers();
	assert_int_equal(fx.n_recs, mark + 3);
	assert_float_equal(fx.recs[mark + 2].v.v.d, 17.0, 0.0);
	mark = fx.n_recs;
	advance_to(T0 + 19999);
	assert_int_equal(fx.n_recs, mark);
	advance_to(T0 + 20000);
	assert_int_equal(fx.n_recs, mark + 3);

	/* Stopped: no more reports. */
	ops->device_stop(d.ctx);
	mark = fx.n_recs;
	advance_to(T0 + 60000);
	assert_int_equal(fx.n_recs, mark);
	ops->device_free(d.ctx);
	(void)c_ex;
}

/* report_delay holds the values still, then the grid starts from the delay. */
static void test_report_delay(void **state)
{
	struct kv dkeys[] = {KD("report_interval", 0.5), KD("report_delay", 3), KEND};
	struct kv k[] = {KS("waveform", "counter"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "n", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	advance_to(T0 + 3499);
	assert_int_equal(fx.n_recs, mark);
	advance_to(T0 + 3500);
	assert_int_equal(fx.n_recs, mark + 1);
	assert_int_equal(fx.recs[mark].ch, ch);
	assert_float_equal(fx.recs[mark].v.v.d, 3.0, 0.0);
	advance_to(T0 + 4000);
	assert_int_equal(fx.n_recs, mark + 2);
	dev_free(&d);
}

static void test_report_while_failing(void **state)
{
	struct kv dkeys[] = {KD("report_interval", 1), KS("fail", "timeout"), KI("fail_for", 1),
			     KEND};
	struct kv k[] = {KS("waveform", "constant"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", dkeys), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	advance_to(T0 + 1000);
	assert_int_equal(fx.n_recs, mark + 1);
	assert_int_equal(fx.recs[mark].kind, R_ERROR);
	assert_int_equal(fx.recs[mark].ch, GWD_CHANNEL_ALL);
	assert_int_equal(fx.recs[mark].status, -ETIMEDOUT);
	/* One failed op later it has recovered, and reports values again. */
	assert_int_equal(do_read(&d, ch, 1), 0);
	advance_to(T0 + 2000);
	assert_int_equal(completion(mark, 1)->status, -ETIMEDOUT);
	assert_int_equal(count_recs(mark, R_REPORT), 1);
	dev_free(&d);
}

/* The host may stop and free the device from inside complete(). */
static struct sim_dev *victim;

static void free_on_complete(int op, int status)
{
	fx.on_complete = NULL;
	ops->device_stop(victim->ctx);
	ops->device_free(victim->ctx);
}

static void test_free_from_callback(void **state)
{
	struct kv k[] = {KS("waveform", "constant"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	size_t mark = fx.n_recs;

	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "k", k, &ch), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(do_read(&d, ch, i), 0);
	victim = &d;
	fx.on_complete = free_on_complete;
	run_timers();
	/* The first completed; the stop inside it cancelled the rest. */
	assert_int_equal(completion(mark, 0)->status, 0);
	assert_int_equal(completion(mark, 1)->status, -ECANCELED);
	assert_int_equal(completion(mark, 2)->status, -ECANCELED);
}

/* ---- config validation ---------------------------------------------------------- */

/* channel_new must fail with -EINVAL and exactly one error, reading `want`. */
static void bad_point(struct kv *keys, const char *want)
{
	struct kv prior[] = {KS("waveform", "counter"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;

	fx.n_errors = 0;
	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "n", prior, &ch), 0);
	assert_int_equal(chan_new(&d, "p", keys, &ch), -EINVAL);
	assert_int_equal(fx.n_errors, 1);
	assert_string_equal(fx.errors[0], want);
	ops->device_free(d.ctx);
}

static void test_bad_points(void **state)
{
	bad_point((struct kv[]){KS("waveform", "triangle"), KEND},
		  "p.waveform: expected constant, sine, sawtooth, square, random_walk, counter, "
		  "output or execute, found \"triangle\"");
	bad_point((struct kv[]){KEND},
		  "p.waveform: required: constant, sine, sawtooth, square, random_walk, counter, "
		  "output or execute");
	bad_point((struct kv[]){KS("waveform", "sine"), KD("period", -1), KEND},
		  "p.period: expected a number > 0, found -1");
	bad_point((struct kv[]){KS("waveform", "counter"), KI("period", 0), KEND},
		  "p.period: expected a number > 0, found 0");
	bad_point((struct kv[]){KS("waveform", "sine"), KS("type", "float"), KEND},
		  "p.type: expected \"double\", \"int\", \"bool\" or \"string\", found \"float\"");
	bad_point((struct kv[]){KS("waveform", "sine"), KS("base", "high"), KEND},
		  "p.base: expected a number");
	bad_point((struct kv[]){KS("waveform", "random_walk"), KD("step", -0.5), KEND},
		  "p.step: expected a number >= 0, found -0.5");
	bad_point((struct kv[]){KS("waveform", "execute"), KEND},
		  "p.target: an execute point needs the channel of an earlier counter or output "
		  "point");
	bad_point((struct kv[]){KS("waveform", "execute"), KS("target", "later"), KEND},
		  "p.target: no earlier point of this device has channel \"later\"");
	bad_point((struct kv[]){KS("waveform", "execute"), KS("target", "n"),
				KS("action", "toggle"), KEND},
		  "p.target: action toggle cannot act on \"n\" (counter, double)");
	bad_point((struct kv[]){KS("waveform", "execute"), KS("target", "n"),
				KS("action", "explode"), KEND},
		  "p.action: expected \"reset\", \"toggle\" or \"increment\", found \"explode\"");
	bad_point((struct kv[]){KS("waveform", "output"), KS("type", "bool"), KI("initial", 1),
				KEND},
		  "p.initial: expected a boolean");
}

static void test_bad_device(void **state)
{
	struct kv keys[] = {KS("fail", "sometimes"), KI("fail_after", -1),
			    KD("report_interval", -2), KS("seed", "abc"), KD("report_delay", -1),
			    KEND};
	struct sim_dev d;

	/* Every error at once, not just the first. */
	assert_int_equal(dev_new(&d, "d", keys), -EINVAL);
	assert_int_equal(fx.n_errors, 5);
	assert_string_equal(fx.errors[0], "d.seed: expected an integer");
	assert_string_equal(fx.errors[1],
			    "d.fail: expected \"none\", \"timeout\", \"error\" or \"silent\", "
			    "found \"sometimes\"");
	assert_string_equal(fx.errors[2], "d.fail_after: expected a count >= 0, found -1");
	assert_string_equal(fx.errors[3], "d.report_interval: expected a number >= 0, found -2");
	assert_string_equal(fx.errors[4], "d.report_delay: expected a number >= 0, found -1");
	/* no I/O and nothing allocated on the host */
	assert_int_equal(live_timers(), 0);
	assert_int_equal(fx.timers_made, 0);
}

static void test_keys_that_do_not_apply(void **state)
{
	/* Keys with no effect on a waveform are left unread, so the host
	 * reports them as unknown. */
	struct kv sine[] = {KS("waveform", "sine"), KD("step", 1), KD("initial", 1), KEND};
	struct kv konst[] = {KS("waveform", "constant"), KD("period", 5), KEND};
	struct kv exe[] = {KS("waveform", "execute"), KS("target", "c"), KS("type", "int"), KEND};
	struct sim_dev d;
	gwd_channel_t ch;
	const char *first;
	struct gwd_cfg probe;

	assert_int_equal(dev_new(&d, "d", (struct kv[]){KEND}), 0);
	assert_int_equal(chan_new(&d, "c", konst, &ch), 0);
	probe.kv = konst;
	assert_int_equal(unread(&probe, &first), 1);
	assert_string_equal(first, "period");
	assert_int_equal(chan_new(&d, "s", sine, &ch), 0);
	probe.kv = sine;
	assert_int_equal(unread(&probe, &first), 2);
	assert_string_equal(first, "step");
	/* execute on a constant: reset does not apply to it */
	assert_int_equal(chan_new(&d, "e", exe, &ch), -EINVAL);
	probe.kv = exe;
	assert_int_equal(unread(&probe, &first), 1);
	assert_string_equal(first, "type");
	ops->device_free(d.ctx);
}

static void test_init_checks_host(void **state)
{
	struct gwd_host old = host;
	void *ctx;

	old.size = offsetof(struct gwd_host, report);
	assert_int_equal(ops->init(&old, &ctx), -EPROTO);
	old = host;
	old.abi_major = GWD_ADAPTER_ABI_MAJOR + 1;
	assert_int_equal(ops->init(&old, &ctx), -EPROTO);
	/* A host without device_name still works (seeds by order). */
	old = host;
	old.size = offsetof(struct gwd_host, device_name);
	assert_int_equal(ops->init(&old, &ctx), 0);
	ops->fini(ctx);
}

static void test_descriptor(void **state)
{
	assert_int_equal(gwd_adapter_descriptor.abi_major, GWD_ADAPTER_ABI_MAJOR);
	assert_string_equal(gwd_adapter_descriptor.name, "sim");
	assert_string_equal(gwd_adapter_descriptor.version, "0.1.0");
	assert_int_equal(ops->size, sizeof(struct gwd_adapter_ops));
	assert_non_null(ops->fw_caps);
	assert_non_null(ops->fw_recover);
}

/* ---- the firmware slot ---------------------------------------------------- */

static struct gwd_fw_info fw_pkg(const char *version, size_t size)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pkg", fw_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc((int)(i * 7 % 251), f);
	fclose(f);
	return (struct gwd_fw_info){.size = size, .version = version, .path = path};
}

static void fw_mkdir(void)
{
	strcpy(fw_dir, "/tmp/test_sim_fw.XXXXXX");
	assert_non_null(mkdtemp(fw_dir));
	fw_identity[0] = '\0';
	fw_identities = 0;
}

static void fw_rmdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", fw_dir);
	assert_int_equal(system(cmd), 0);
}

/* The status the op in slot `op` completed with (INT32_MIN: not yet). */
static int completed(int op)
{
	for (size_t i = 0; i < fx.n_recs; i++)
		if (fx.recs[i].kind == R_COMPLETE && fx.recs[i].op == op)
			return fx.recs[i].status;
	return INT32_MIN;
}

/* fw_open .. fw_close of info; returns fw_close's status. */
static int fw_deliver(struct sim_dev *d, const struct gwd_fw_info *info, int *op)
{
	char buf[1024];
	uint64_t off = 0;
	FILE *f = fopen(info->path, "r");

	assert_non_null(f);
	assert_int_equal(ops->fw_open(d->ctx, info, OP(*op)), 0);
	assert_int_equal(completed(*op), INT32_MIN); /* never inside the call */
	run_timers();
	if (completed(*op) != 0) {
		fclose(f);
		return completed((*op)++);
	}
	(*op)++;
	while (off < info->size) {
		size_t n = fread(buf, 1, sizeof(buf), f);
		assert_int_equal(ops->fw_write(d->ctx, off, buf, n, OP(*op)), 0);
		run_timers();
		assert_int_equal(completed((*op)++), 0);
		off += n;
	}
	fclose(f);
	assert_int_equal(ops->fw_close(d->ctx, OP(*op)), 0);
	run_timers();
	return completed((*op)++);
}

static void test_fw_slot_update(void **state)
{
	struct kv keys[] = {KB("firmware", true), KS("fw_version", "1.0.0"),
			    KI("fw_chunk_size", 1024), KD("fw_reboot_time", 5.0),
			    KD("report_interval", 1.0), KEND};
	struct kv pk[] = {KS("waveform", "constant"), KD("base", 3.0), KEND};
	struct gwd_fw_info info;
	struct gwd_fw_caps caps = {.size = sizeof(caps)};
	struct sim_dev d;
	gwd_channel_t ch;
	int op = 1;
	size_t reports;

	fw_mkdir();
	assert_int_equal(dev_new(&d, "fwdev", keys), 0);
	assert_int_equal(chan_new(&d, "v", pk, &ch), 0);
	assert_int_equal(ops->fw_caps(d.ctx, &caps), 0);
	assert_int_equal(caps.chunk_size, 1024);
	assert_true(caps.flags & GWD_FW_CAP_REPORTS_VERSION);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_string_equal(fw_identity, "1.0.0");
	info = fw_pkg("2.1.0", 3000);
	assert_int_equal(fw_deliver(&d, &info, &op), 0);
	assert_int_equal(ops->fw_apply(d.ctx, OP(op)), 0);
	/* Rebooting: no reports, reads wait, then the new version. */
	reports = fx.n_recs;
	assert_int_equal(do_read(&d, ch, 40), 0);
	advance_to(fx.now + 4999);
	assert_int_equal(completed(op), INT32_MIN);
	assert_int_equal(completed(40), INT32_MIN);
	for (size_t i = reports; i < fx.n_recs; i++)
		assert_int_not_equal(fx.recs[i].kind, R_REPORT);
	assert_string_equal(fw_identity, "1.0.0");
	advance_to(fx.now + 1);
	assert_int_equal(completed(op), 0);
	assert_int_equal(completed(40), 0);
	assert_string_equal(fw_identity, "2.1.0");
	/* It stays so across a restart of the daemon (fw_recover says so). */
	dev_free(&d);
	assert_int_equal(dev_new(&d, "fwdev", keys), 0);
	assert_int_equal(ops->device_start(d.ctx), 0);
	assert_string_equal(fw_identity, "2.1.0");
	assert_int_equal(ops->fw_recover(d.ctx, &info, OP(50)), 0);
	run_timers();
	assert_int_equal(completed(50), 0);
	info.version = "3.0.0";
	assert_int_equal(ops->fw_recover(d.ctx, &info, OP(51)), 0);
	run_timers();
	assert_int_equal(completed(51), -EIO);
	dev_free(&d);
	fw_rmdir();
}

static void test_fw_slot_failures(void **state)
{
	static const struct {
		const char *fail;
		int open, close, apply;
	} cases[] = {
		{"refuse", -ENOTSUP, 0, 0}, {"busy", -EBUSY, 0, 0}, {"nospace", -ENOSPC, 0, 0},
		{"corrupt", 0, -EBADMSG, 0}, {"apply", 0, 0, -EIO}, {"never", 0, 0, INT32_MIN},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv keys[] = {KB("firmware", true), KS("fw_fail", cases[i].fail),
				    KD("fw_reboot_time", 1.0), KEND};
		struct gwd_fw_info info;
		struct sim_dev d;
		int op = 1, r;

		fx.n_recs = 0;
		fw_mkdir();
		assert_int_equal(dev_new(&d, "fwdev", keys), 0);
		assert_int_equal(ops->device_start(d.ctx), 0);
		info = fw_pkg("2.0.0", 5000);
		r = fw_deliver(&d, &info, &op);
		if (cases[i].open) {
			assert_int_equal(r, cases[i].open);
		} else if (cases[i].close) {
			assert_int_equal(r, cases[i].close);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(ops->fw_apply(d.ctx, OP(op)), 0);
			advance_to(fx.now + 600000);
			assert_int_equal(completed(op), cases[i].apply);
			if (cases[i].apply == INT32_MIN) {
				/* Never back: fw_abort takes the op back. */
				ops->fw_abort(d.ctx);
				assert_int_equal(completed(op), -ECANCELED);
			}
			assert_string_equal(fw_identity, "1.0.0");
		}
		dev_free(&d);
		fw_rmdir();
	}
	/* A device without `firmware` cannot be updated; bad values are named. */
	{
		struct kv none[] = {KEND};
		struct kv bad[] = {KB("firmware", true), KS("fw_fail", "often"),
				   KI("fw_chunk_size", 3), KEND};
		struct gwd_fw_caps caps = {.size = sizeof(caps)};
		struct sim_dev d;

		fw_mkdir();
		assert_int_equal(dev_new(&d, "plain", none), 0);
		assert_int_equal(ops->fw_caps(d.ctx, &caps), -ENOTSUP);
		ops->device_free(d.ctx);
		assert_int_equal(dev_new(&d, "bad", bad), -EINVAL);
		fw_rmdir();
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_prng_vectors),
		T(test_model_waves),
		T(test_model_counter),
		T(test_model_random_walk),
		T(test_model_failure_schedule),
		T(test_model_names),
		T(test_waveforms_through_host),
		T(test_restart_resets_time),
		T(test_determinism),
		T(test_output_write),
		T(test_execute),
		T(test_fail_error),
		T(test_fail_timeout),
		T(test_fail_silent),
		T(test_fail_after_and_recovery),
		T(test_report_interval),
		T(test_report_delay),
		T(test_report_while_failing),
		T(test_free_from_callback),
		T(test_bad_points),
		T(test_bad_device),
		T(test_keys_that_do_not_apply),
		T(test_init_checks_host),
		T(test_descriptor),
		T(test_fw_slot_update),
		T(test_fw_slot_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
