/* The sysfs adapter driven through a fake host, on temporary trees laid out
 * as the kernel lays out /sys: IIO (processed, raw/offset/scale, shared
 * scale, two chips of one name), hwmon found by name when its index changes,
 * 1-Wire w1_slave (good and bad CRC, no answer) and `temperature`, thermal
 * zones, garbage, a missing device going DOWN and coming back, and a read
 * that blocks (a FIFO) while the loop and the other devices go on.
 *
 * The fake host's clock is the test's (timers fire when the test advances
 * it); the workers' results arrive on their eventfd, which the fake loop
 * polls with a deadline.  Nothing sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/adapter.h"
#include "adapters/sysfs/sf_read.h"

extern const struct gwd_adapter_descriptor gwd_adapter_descriptor;

/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b, eps)                                                  \
	do {                                                                    \
		double a_ = (a), b_ = (b);                                      \
		if (!(fabs(a_ - b_) <= (eps)))                                  \
			fail_msg("%s = %.9g, expected %.9g", #a, a_, b_);       \
	} while (0)

/* ---- fake config ---------------------------------------------------------------- */

enum kv_type { KV_END, KV_INT, KV_DOUBLE, KV_BOOL, KV_STRING };

struct kv {
	const char *key;
	enum kv_type type;
	int64_t i;
	double d;
	const char *s;
};

#define KI(k, v) {.key = (k), .type = KV_INT, .i = (v)}
#define KD(k, v) {.key = (k), .type = KV_DOUBLE, .d = (v)}
#define KS(k, v) {.key = (k), .type = KV_STRING, .s = (v)}
#define KEND {.type = KV_END}

struct gwd_cfg {
	const struct kv *kv;
};

static const struct kv *kv_find(const struct gwd_cfg *n, const char *key)
{
	for (const struct kv *k = n->kv; k->type != KV_END; k++)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

static int f_cfg_int(const struct gwd_cfg *n, const char *key, int64_t *out)
{
	const struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_INT)
		return -EINVAL;
	*out = k->i;
	return 0;
}

static int f_cfg_double(const struct gwd_cfg *n, const char *key, double *out)
{
	const struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_DOUBLE && k->type != KV_INT)
		return -EINVAL;
	*out = k->type == KV_INT ? (double)k->i : k->d;
	return 0;
}

static int f_cfg_bool(const struct gwd_cfg *n, const char *key, bool *out)
{
	return kv_find(n, key) ? -EINVAL : -ENOENT;
}

static int f_cfg_string(const struct gwd_cfg *n, const char *key, const char **out)
{
	const struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_STRING)
		return -EINVAL;
	*out = k->s;
	return 0;
}

static int cfg_errors;
static char last_cfg_error[512];

static int f_cfg_error(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
{
	va_list ap;
	int len;

	len = snprintf(last_cfg_error, sizeof(last_cfg_error), "%s: ", key ? key : "(group)");
	va_start(ap, fmt);
	vsnprintf(last_cfg_error + len, sizeof(last_cfg_error) - (size_t)len, fmt, ap);
	va_end(ap);
	printf("config error: %s\n", last_cfg_error);
	cfg_errors++;
	return -EINVAL;
}

/* ---- fake devices and ops ---------------------------------------------------------- */

#define MAX_CH 8

struct gwd_device {
	const char *name;
	double last[MAX_CH];
	int reports[MAX_CH];
	int errors[MAX_CH];
	int last_err[MAX_CH];
	int state; /* -1: never told */
	int cause;
};

struct gwd_op {
	bool done;
	int status;
	double value;
};

/* ---- fake loop: fds polled for real, timers on the test's clock ------------------ */

struct gwd_watch {
	int fd;
	void (*cb)(int fd, uint32_t revents, void *ud);
	void *ud;
	bool used;
};

struct gwd_timer {
	void (*cb)(void *ud);
	void *ud;
	uint64_t due;
	bool armed, used;
};

#define N_WATCH 8
#define N_TIMER 32

static struct gwd_watch watches[N_WATCH];
static struct gwd_timer timers[N_TIMER];
static uint64_t fake_now = 1000000;
static bool in_op; /* complete() inside an op is a re-entrancy bug */

static uint64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t f_now_ms(void)
{
	return fake_now;
}

/* The log, kept for assertions. */
static char logbuf[1 << 16];
static size_t loglen;

static void f_log(struct gwd_device *dev, int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", dev ? dev->name : "-");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	printf("[%d] %s\n", prio, line);
	n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", line);
	if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
		loglen += (size_t)n;
}

static int log_count(const char *needle)
{
	int n = 0;

	for (const char *p = strstr(logbuf, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static int f_watch_fd(int fd, uint32_t events, void (*cb)(int, uint32_t, void *), void *ud,
		      struct gwd_watch **out)
{
	for (int i = 0; i < N_WATCH; i++)
		if (!watches[i].used) {
			watches[i] = (struct gwd_watch){fd, cb, ud, true};
			*out = &watches[i];
			return 0;
		}
	return -ENOSPC;
}

static void f_unwatch_fd(struct gwd_watch *w)
{
	w->used = false;
}

static int f_timer_new(void (*cb)(void *), void *ud, struct gwd_timer **out)
{
	for (int i = 0; i < N_TIMER; i++)
		if (!timers[i].used) {
			timers[i] = (struct gwd_timer){.cb = cb, .ud = ud, .used = true};
			*out = &timers[i];
			return 0;
		}
	return -ENOSPC;
}

static void f_timer_arm(struct gwd_timer *t, uint64_t due)
{
	t->due = due;
	t->armed = true;
}

static void f_timer_disarm(struct gwd_timer *t)
{
	t->armed = false;
}

static void f_timer_free(struct gwd_timer *t)
{
	t->used = t->armed = false;
}

static int f_post(void (*fn)(void *), void *ud)
{
	return -ENOSYS; /* the adapter must not need it */
}

static void f_report(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v)
{
	assert_true(ch < MAX_CH);
	assert_int_equal(v->type, GWD_V_DOUBLE);
	dev->last[ch] = v->v.d;
	dev->reports[ch]++;
}

static void f_report_error(struct gwd_device *dev, gwd_channel_t ch, int err)
{
	assert_true(ch < MAX_CH);
	assert_true(err < 0);
	dev->errors[ch]++;
	dev->last_err[ch] = err;
}

static void f_complete(struct gwd_op *op, int status, const struct gwd_value *v)
{
	assert_false(in_op);
	assert_false(op->done);
	op->done = true;
	op->status = status;
	if (status == 0) {
		assert_non_null(v);
		assert_int_equal(v->type, GWD_V_DOUBLE);
		op->value = v->v.d;
	}
}

static const char *f_device_name(const struct gwd_device *dev)
{
	return dev->name;
}

static void f_set_state(struct gwd_device *dev, enum gwd_device_state s, int cause)
{
	dev->state = s == GWD_STATE_DOWN;
	dev->cause = cause;
}

static const struct gwd_host host = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = f_log,
	.cfg_int = f_cfg_int,
	.cfg_double = f_cfg_double,
	.cfg_bool = f_cfg_bool,
	.cfg_string = f_cfg_string,
	.cfg_error = f_cfg_error,
	.watch_fd = f_watch_fd,
	.unwatch_fd = f_unwatch_fd,
	.timer_new = f_timer_new,
	.timer_arm = f_timer_arm,
	.timer_disarm = f_timer_disarm,
	.timer_free = f_timer_free,
	.now_ms = f_now_ms,
	.post = f_post,
	.report = f_report,
	.report_error = f_report_error,
	.complete = f_complete,
	.device_name = f_device_name,
	.set_state = f_set_state,
};

/* Fire every timer due on the fake clock. */
static bool fire_timers(void)
{
	bool any = false;

	for (bool again = true; again;) {
		again = false;
		for (int i = 0; i < N_TIMER; i++)
			if (timers[i].used && timers[i].armed && timers[i].due <= fake_now) {
				timers[i].armed = false;
				timers[i].cb(timers[i].ud);
				any = again = true;
			}
	}
	return any;
}

/* Run the loop until cond holds; false after 10 s of real time. */
static bool pump(bool (*cond)(const void *), const void *arg)
{
	uint64_t deadline = real_ms() + 10000;

	for (;;) {
		struct pollfd pfd[N_WATCH];
		struct gwd_watch *ws[N_WATCH];
		int nfd = 0;

		fire_timers();
		if (cond(arg))
			return true;
		if (real_ms() >= deadline)
			return false;
		for (int i = 0; i < N_WATCH; i++)
			if (watches[i].used) {
				pfd[nfd] = (struct pollfd){.fd = watches[i].fd, .events = POLLIN};
				ws[nfd++] = &watches[i];
			}
		poll(pfd, (nfds_t)nfd, 100);
		for (int i = 0; i < nfd; i++)
			if (pfd[i].revents && ws[i]->used)
				ws[i]->cb(ws[i]->fd, (uint32_t)pfd[i].revents, ws[i]->ud);
	}
}

static bool op_done(const void *arg)
{
	return ((const struct gwd_op *)arg)->done;
}

struct nreports {
	const struct gwd_device *dev;
	gwd_channel_t ch;
	int n;
};

static bool has_reports(const void *arg)
{
	const struct nreports *r = arg;

	return r->dev->reports[r->ch] >= r->n;
}

static bool has_errors(const void *arg)
{
	const struct nreports *r = arg;

	return r->dev->errors[r->ch] >= r->n;
}

static bool is_down(const void *arg)
{
	return ((const struct gwd_device *)arg)->state == 1;
}

static bool is_up(const void *arg)
{
	return ((const struct gwd_device *)arg)->state == 0;
}

/* Advance the clock to the next armed timer, fire it. */
static void advance(uint64_t ms)
{
	fake_now += ms;
	fire_timers();
}

/* ---- temporary sysfs trees ------------------------------------------------------------ */

static char root[256];

static void mkdirs(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	mkdir(tmp, 0755);
}

/* Write root/rel, making its directories; the content replaces the file
 * atomically (a rename), as a reader must never see half of it. */
static void put(const char *rel, const char *content)
{
	char path[512], tmp[520], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(tmp, sizeof(tmp), "%s", path);
	slash = strrchr(tmp, '/');
	*slash = '\0';
	mkdirs(tmp);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* root/rel -> target (relative to the link's directory). */
static void link_to(const char *target, const char *rel)
{
	char path[512], dir[512], *slash;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	mkdirs(dir);
	assert_int_equal(symlink(target, path), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rel(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char W1_GOOD[] = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"
			      "72 01 4b 46 7f ff 0e 10 57 t=23125\n";
static const char W1_BADCRC[] = "72 01 4b 46 7f ff 0e 10 ff : crc=57 NO\n"
				"72 01 4b 46 7f ff 0e 10 ff t=23125\n";
static const char W1_ZERO[] = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n"
			      "00 00 00 00 00 00 00 00 00 t=0\n";

/* ---- the adapter ------------------------------------------------------------------------ */

static const struct gwd_adapter_ops *ops;
static void *actx;

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_sysfs.XXXXXX";

	if (!mkdtemp(tmpl))
		return -1;
	snprintf(root, sizeof(root), "%s", tmpl);
	memset(watches, 0, sizeof(watches));
	memset(timers, 0, sizeof(timers));
	loglen = 0;
	logbuf[0] = '\0';
	cfg_errors = 0;
	ops = gwd_adapter_descriptor.ops;
	return ops->init(&host, &actx);
}

static int teardown(void **state)
{
	ops->fini(actx);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < N_WATCH; i++)
		if (watches[i].used)
			return -1; /* every watch removed */
	for (int i = 0; i < N_TIMER; i++)
		if (timers[i].used)
			return -1; /* every timer freed */
	return 0;
}

/* A device with points (each a KEND-terminated kv list); started. */
static void *new_device(struct gwd_device *dev, const struct kv *dkv, const struct kv *const *pts,
			int n)
{
	static struct gwd_cfg cfgs[64];
	static int used;
	struct gwd_cfg *dc = &cfgs[used++ % 64];
	void *ctx = NULL;

	dev->state = -1;
	dc->kv = dkv;
	assert_int_equal(ops->device_new(actx, dev, dc, NULL, &ctx), 0);
	for (int i = 0; i < n; i++) {
		struct gwd_cfg *pc = &cfgs[used++ % 64];
		gwd_channel_t ch;

		pc->kv = pts[i];
		assert_int_equal(ops->channel_new(ctx, "p", pc, &ch), 0);
		assert_int_equal(ch, (gwd_channel_t)i);
	}
	assert_int_equal(ops->device_start(ctx), 0);
	return ctx;
}

/* Read one channel through the adapter and wait for the answer. */
static struct gwd_op read_ch(void *ctx, gwd_channel_t ch)
{
	struct gwd_op op = {0};

	in_op = true;
	assert_int_equal(ops->read(ctx, ch, &op), 0);
	in_op = false;
	assert_true(pump(op_done, &op));
	return op;
}

static double read_ok(void *ctx, gwd_channel_t ch)
{
	struct gwd_op op = read_ch(ctx, ch);

	if (op.status != 0)
		fail_msg("channel %u: read failed: %s", ch, strerror(-op.status));
	return op.value;
}

/* ---- parsers --------------------------------------------------------------------------- */

static void parse_w1_slave(void **state)
{
	char msg[SF_MSG_LEN];
	long t = 0;

	assert_int_equal(sf_parse_w1_slave(W1_GOOD, &t, msg, sizeof(msg)), 0);
	assert_int_equal(t, 23125);
	assert_int_equal(sf_parse_w1_slave("50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n"
					   "50 05 4b 46 7f ff 0c 10 1c t=-10062\n",
					   &t, msg, sizeof(msg)),
			 0);
	assert_int_equal(t, -10062);
	assert_int_equal(sf_parse_w1_slave(W1_BADCRC, &t, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "CRC check failed"));
	assert_int_equal(sf_parse_w1_slave(W1_ZERO, &t, msg, sizeof(msg)), -ENODATA);
	assert_non_null(strstr(msg, "did not answer"));
	assert_int_equal(sf_parse_w1_slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"
					   "72 01 4b 46 7f ff 0e 10 57 t=2x3\n",
					   &t, msg, sizeof(msg)),
			 -EBADMSG);
	assert_non_null(strstr(msg, "garbage temperature \"t=2x3\""));
	assert_int_equal(sf_parse_w1_slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"
					   "72 01 4b 46 7f ff 0e 10 57\n",
					   &t, msg, sizeof(msg)),
			 -EBADMSG);
	assert_non_null(strstr(msg, "no \"t=\""));
	assert_int_equal(sf_parse_w1_slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES", &t, msg,
					   sizeof(msg)),
			 -EBADMSG);
	assert_non_null(strstr(msg, "truncated"));
	assert_int_equal(sf_parse_w1_slave("hello\nworld t=1\n", &t, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "no CRC verdict"));
}

static void parse_number(void **state)
{
	char msg[SF_MSG_LEN];
	double v = 0;

	assert_int_equal(sf_parse_number("23125\n", &v, msg, sizeof(msg)), 0);
	assert_true(v == 23125.0);
	assert_int_equal(sf_parse_number(" -0.000244140625\n", &v, msg, sizeof(msg)), 0);
	assert_true(v == -0.000244140625);
	assert_int_equal(sf_parse_number("garbage\n", &v, msg, sizeof(msg)), -EBADMSG);
	assert_string_equal(msg, "not a number: \"garbage\"");
	assert_int_equal(sf_parse_number("", &v, msg, sizeof(msg)), -EBADMSG);
	assert_int_equal(sf_parse_number("12 34", &v, msg, sizeof(msg)), -EBADMSG);
	assert_int_equal(sf_parse_number("nan", &v, msg, sizeof(msg)), -EBADMSG);
	assert_int_equal(sf_parse_number("0x10", &v, msg, sizeof(msg)), -EBADMSG);
}

/* ---- sources --------------------------------------------------------------------------- */

static void iio(void **state)
{
	struct gwd_device dev = {"bme"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv t[] = {KS("source", "iio"), KS("device", "bme280"),
			       KS("attribute", "temp"), KEND};
	const struct kv p[] = {KS("source", "iio"), KS("device", "bme280"),
			       KS("attribute", "pressure"), KEND};
	const struct kv h[] = {KS("source", "iio"), KS("device", "bme280"),
			       KS("attribute", "humidityrelative"), KEND};
	const struct kv v0[] = {KS("source", "iio"), KS("device", "ads1015"),
				KS("attribute", "voltage0"), KEND};
	const struct kv v1[] = {KS("source", "iio"), KS("device", "ads1015"),
				KS("attribute", "voltage1"), KEND};
	const struct kv raw[] = {KS("source", "iio"), KS("device", "tmp117"),
				 KS("attribute", "temp"), KEND};
	const struct kv none[] = {KS("source", "iio"), KS("device", "ads1015"),
				  KS("attribute", "voltage7"), KEND};
	const struct kv *const pts[] = {t, p, h, v0, v1, raw, none};
	struct gwd_op op;
	void *ctx;

	/* Processed values in the ABI's units: m°C, kPa, m%. */
	put("bus/iio/devices/iio:device0/name", "bme280\n");
	put("bus/iio/devices/iio:device0/in_temp_input", "23125\n");
	put("bus/iio/devices/iio:device0/in_pressure_input", "101.325000\n");
	put("bus/iio/devices/iio:device0/in_humidityrelative_input", "45678\n");
	/* Raw values: a shared scale, and a channel's own scale and offset
	 * that override the shared ones. */
	put("bus/iio/devices/iio:device1/name", "ads1015\n");
	put("bus/iio/devices/iio:device1/in_voltage0_raw", "1000\n");
	put("bus/iio/devices/iio:device1/in_voltage_scale", "3.000000000\n");
	put("bus/iio/devices/iio:device1/in_voltage1_raw", "500\n");
	put("bus/iio/devices/iio:device1/in_voltage1_scale", "2.0\n");
	put("bus/iio/devices/iio:device1/in_voltage1_offset", "100\n");
	put("bus/iio/devices/iio:device2/name", "tmp117\n");
	put("bus/iio/devices/iio:device2/in_temp_raw", "2000\n");
	put("bus/iio/devices/iio:device2/in_temp_offset", "-500\n");
	put("bus/iio/devices/iio:device2/in_temp_scale", "7.8125\n");

	ctx = new_device(&dev, dkv, pts, 7);
	assert_near(read_ok(ctx, 0), 23.125, 1e-9);
	assert_near(read_ok(ctx, 1), 1013.25, 1e-9); /* hPa */
	assert_near(read_ok(ctx, 2), 45.678, 1e-9);
	assert_near(read_ok(ctx, 3), 3.0, 1e-9);     /* 1000 * 3 mV */
	assert_near(read_ok(ctx, 4), 1.2, 1e-9);     /* (500 + 100) * 2 mV */
	assert_near(read_ok(ctx, 5), 11.71875, 1e-9); /* (2000 - 500) * 7.8125 m°C */
	op = read_ch(ctx, 6);
	assert_int_equal(op.status, -ENOENT);
	assert_int_equal(log_count("neither in_voltage7_input nor in_voltage7_raw"), 1);
	assert_int_equal(dev.errors[6], 1);
	assert_int_equal(dev.state, 0); /* one bad channel is not a bad device */
	ops->device_free(ctx);
}

/* Two chips of one name (two BME280s at 0x76 and 0x77): `parent` picks. */
static void iio_parent(void **state)
{
	struct gwd_device dev = {"two"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv any[] = {KS("source", "iio"), KS("device", "bme280"),
				 KS("attribute", "temp"), KEND};
	const struct kv p77[] = {KS("source", "iio"), KS("device", "bme280"),
				 KS("attribute", "temp"), KS("parent", "1-0077"), KEND};
	const struct kv p76[] = {KS("source", "iio"), KS("device", "bme280"),
				 KS("attribute", "temp"), KS("parent", "1-0076"), KEND};
	const struct kv *const pts[] = {any, p77, p76};
	struct gwd_op op;
	void *ctx;

	put("devices/soc/i2c-1/1-0076/iio:device0/name", "bme280\n");
	put("devices/soc/i2c-1/1-0076/iio:device0/in_temp_input", "20000\n");
	put("devices/soc/i2c-1/1-0077/iio:device1/name", "bme280\n");
	put("devices/soc/i2c-1/1-0077/iio:device1/in_temp_input", "21000\n");
	link_to("../../../devices/soc/i2c-1/1-0076/iio:device0", "bus/iio/devices/iio:device0");
	link_to("../../../devices/soc/i2c-1/1-0077/iio:device1", "bus/iio/devices/iio:device1");

	ctx = new_device(&dev, dkv, pts, 3);
	op = read_ch(ctx, 0);
	assert_int_equal(op.status, -ENOTUNIQ);
	assert_int_equal(log_count("set `parent` to tell them apart"), 1);
	assert_near(read_ok(ctx, 1), 21.0, 1e-9);
	assert_near(read_ok(ctx, 2), 20.0, 1e-9);
	ops->device_free(ctx);
}

/* hwmon indexes are given out in probe order: they change between boots.
 * The chip is found by its name, also when an index it had is reused by
 * another chip. */
static void hwmon_index_change(void **state)
{
	struct gwd_device dev = {"sht"}, dev2 = {"sht-again"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv t[] = {KS("source", "hwmon"), KS("chip", "sht3x"),
			       KS("attribute", "temp1"), KEND};
	const struct kv h[] = {KS("source", "hwmon"), KS("chip", "sht3x"),
			       KS("attribute", "humidity1_input"), KEND};
	const struct kv cpu[] = {KS("source", "hwmon"), KS("chip", "cpu_thermal"),
				 KS("attribute", "temp1"), KEND};
	const struct kv in[] = {KS("source", "hwmon"), KS("chip", "ina219"),
				KS("attribute", "in1"), KEND};
	const struct kv *const pts[] = {t, h, cpu, in};
	void *ctx;

	put("class/hwmon/hwmon0/name", "cpu_thermal\n");
	put("class/hwmon/hwmon0/temp1_input", "50000\n");
	put("class/hwmon/hwmon1/name", "sht3x\n");
	put("class/hwmon/hwmon1/temp1_input", "21500\n");
	put("class/hwmon/hwmon1/humidity1_input", "40250\n");
	put("class/hwmon/hwmon2/name", "ina219\n");
	put("class/hwmon/hwmon2/in1_input", "3300\n");

	ctx = new_device(&dev, dkv, pts, 4);
	assert_near(read_ok(ctx, 0), 21.5, 1e-9);
	assert_near(read_ok(ctx, 1), 40.25, 1e-9);
	assert_near(read_ok(ctx, 2), 50.0, 1e-9);
	assert_near(read_ok(ctx, 3), 3.3, 1e-9);

	/* The next boot: sht3x probed first, the CPU sensor last. */
	rm_rel("class/hwmon");
	put("class/hwmon/hwmon0/name", "sht3x\n");
	put("class/hwmon/hwmon0/temp1_input", "22000\n");
	put("class/hwmon/hwmon0/humidity1_input", "41000\n");
	put("class/hwmon/hwmon1/name", "ina219\n");
	put("class/hwmon/hwmon1/in1_input", "5000\n");
	put("class/hwmon/hwmon3/name", "cpu_thermal\n");
	put("class/hwmon/hwmon3/temp1_input", "51000\n");
	/* The running device, whose remembered directories now hold others. */
	assert_near(read_ok(ctx, 2), 51.0, 1e-9);
	assert_near(read_ok(ctx, 0), 22.0, 1e-9);
	assert_near(read_ok(ctx, 1), 41.0, 1e-9);
	assert_near(read_ok(ctx, 3), 5.0, 1e-9);
	ops->device_free(ctx);
	/* A fresh start finds them too. */
	ctx = new_device(&dev2, dkv, pts, 4);
	assert_near(read_ok(ctx, 0), 22.0, 1e-9);
	assert_near(read_ok(ctx, 2), 51.0, 1e-9);
	assert_int_equal(dev.errors[0] + dev.errors[1] + dev.errors[2] + dev.errors[3], 0);
	ops->device_free(ctx);
}

static void w1(void **state)
{
	struct gwd_device dev = {"ds18b20"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv good[] = {KS("source", "w1"), KS("id", "28-000000000001"), KEND};
	const struct kv bad[] = {KS("source", "w1"), KS("id", "28-000000000002"), KEND};
	const struct kv tf[] = {KS("source", "w1"), KS("id", "28-000000000003"), KEND};
	const struct kv slave[] = {KS("source", "w1"), KS("id", "28-000000000003"),
				   KS("file", "w1_slave"), KEND};
	const struct kv zero[] = {KS("source", "w1"), KS("id", "28-000000000004"), KEND};
	const struct kv *const pts[] = {good, bad, tf, slave, zero};
	struct gwd_op op;
	void *ctx;

	put("bus/w1/devices/28-000000000001/w1_slave", W1_GOOD);
	put("bus/w1/devices/28-000000000002/w1_slave", W1_BADCRC);
	put("bus/w1/devices/28-000000000003/w1_slave", W1_GOOD);
	put("bus/w1/devices/28-000000000003/temperature", "-1250\n");
	put("bus/w1/devices/28-000000000004/w1_slave", W1_ZERO);

	ctx = new_device(&dev, dkv, pts, 5);
	assert_near(read_ok(ctx, 0), 23.125, 1e-9);
	op = read_ch(ctx, 1);
	assert_int_equal(op.status, -EBADMSG);
	assert_int_equal(dev.last_err[1], -EBADMSG);
	assert_int_equal(log_count("28-000000000002/w1_slave: CRC check failed"), 1);
	/* `temperature` is preferred when the kernel has it. */
	assert_near(read_ok(ctx, 2), -1.25, 1e-9);
	assert_near(read_ok(ctx, 3), 23.125, 1e-9);
	op = read_ch(ctx, 4);
	assert_int_equal(op.status, -ENODATA);
	assert_int_equal(log_count("all-zero scratchpad"), 1);
	/* Logged once, counted every time. */
	op = read_ch(ctx, 1);
	assert_int_equal(op.status, -EBADMSG);
	assert_int_equal(dev.errors[1], 2);
	assert_int_equal(log_count("CRC check failed"), 1);
	/* The next conversion is good. */
	put("bus/w1/devices/28-000000000002/w1_slave", W1_GOOD);
	assert_near(read_ok(ctx, 1), 23.125, 1e-9);
	assert_int_equal(log_count("channel p: reading again"), 1);
	assert_int_equal(dev.state, 0);
	ops->device_free(ctx);
}

static void thermal(void **state)
{
	struct gwd_device dev = {"soc"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv cpu[] = {KS("source", "thermal"), KS("zone", "cpu-thermal"), KEND};
	const struct kv *const pts[] = {cpu};
	void *ctx;

	put("class/thermal/thermal_zone0/type", "acpitz\n");
	put("class/thermal/thermal_zone0/temp", "30000\n");
	put("class/thermal/thermal_zone1/type", "cpu-thermal\n");
	put("class/thermal/thermal_zone1/temp", "48312\n");
	put("class/thermal/cooling_device0/type", "cpu-thermal\n"); /* not a zone */
	ctx = new_device(&dev, dkv, pts, 1);
	assert_near(read_ok(ctx, 0), 48.312, 1e-9);
	ops->device_free(ctx);
}

static void garbage(void **state)
{
	struct gwd_device dev = {"junk"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv t[] = {KS("source", "hwmon"), KS("chip", "lm75"), KS("attribute", "temp1"),
			       KEND};
	const struct kv *const pts[] = {t};
	struct gwd_op op;
	void *ctx;

	put("class/hwmon/hwmon0/name", "lm75\n");
	put("class/hwmon/hwmon0/temp1_input", "12.5.3\n");
	ctx = new_device(&dev, dkv, pts, 1);
	op = read_ch(ctx, 0);
	assert_int_equal(op.status, -EBADMSG);
	assert_int_equal(log_count("hwmon0/temp1_input: not a number: \"12.5.3\""), 1);
	ops->device_free(ctx);
}

/* A missing device: an error on every cycle, logged once, the device DOWN
 * after down_after cycles, probed with backoff, UP again when it appears;
 * another device of the adapter goes on meanwhile. */
static void missing_down(void **state)
{
	struct gwd_device dev = {"gone"}, other = {"cpu"};
	const struct kv dkv[] = {KS("root", root), KD("interval", 1.0), KI("down_after", 2),
				 KEND};
	const struct kv odkv[] = {KS("root", root), KD("interval", 1.0), KEND};
	const struct kv w[] = {KS("source", "w1"), KS("id", "28-00000000abcd"), KEND};
	const struct kv cpu[] = {KS("source", "thermal"), KS("zone", "cpu-thermal"), KEND};
	const struct kv *const pts[] = {w}, *const opts[] = {cpu};
	struct nreports r1 = {&dev, 0, 0}, o = {&other, 0, 1};
	struct gwd_op op = {0};
	void *ctx, *octx;

	put("class/thermal/thermal_zone0/type", "cpu-thermal\n");
	put("class/thermal/thermal_zone0/temp", "40000\n");
	put("bus/w1/devices/w1_bus_master1/name", "w1_bus_master1\n");
	ctx = new_device(&dev, dkv, pts, 1);
	octx = new_device(&other, odkv, opts, 1);

	/* Cycle 1 (at start) and cycle 2 (one interval later). */
	assert_true(pump(has_reports, &o));
	assert_true(pump(has_errors, &(struct nreports){&dev, 0, 1}));
	assert_int_equal(dev.state, 0);
	assert_int_equal(log_count("gone: channel p: no 1-Wire device 28-00000000abcd in"), 1);
	advance(1000);
	assert_true(pump(is_down, &dev));
	assert_int_equal(dev.cause, -ENODEV);
	assert_int_equal(log_count("gone: channel p: no 1-Wire device 28-00000000abcd in"), 1);
	assert_int_equal(log_count("gone: down after 2 failed cycles (last: no 1-Wire device "
				   "28-00000000abcd in"),
			 1);
	assert_int_equal(dev.errors[0], 2);
	o.n = 2;
	assert_true(pump(has_reports, &o)); /* the other device is unharmed */

	/* Down: a read fails at once, without touching the files. */
	in_op = true;
	assert_int_equal(ops->read(ctx, 0, &op), 0);
	in_op = false;
	assert_true(pump(op_done, &op));
	assert_int_equal(op.status, -EHOSTDOWN);

	/* A failed probe after the first backoff (1 s +-12 %). */
	advance(1200);
	assert_true(pump(has_errors, &(struct nreports){&dev, 0, 3}));
	assert_int_equal(dev.state, 1);
	/* The sensor is plugged in: the next probe brings the device up. */
	put("bus/w1/devices/28-00000000abcd/w1_slave", W1_GOOD);
	r1.n = 1;
	for (int i = 0; i < 20 && dev.state != 0; i++) {
		advance(2500); /* second backoff: 2 s +-12 % */
		pump(is_up, &dev);
	}
	assert_int_equal(dev.state, 0);
	assert_true(pump(has_reports, &r1));
	assert_near(dev.last[0], 23.125, 1e-9);
	assert_int_equal(log_count("gone: readings again: device up"), 1);
	ops->device_free(ctx);
	ops->device_free(octx);
}

/* Cycles in which some channels fail and one succeeds: channel errors, each
 * logged once, and the device stays up (told so from the start, so that the
 * daemon does not judge it from the channel errors itself). */
static void partial_failure_stays_up(void **state)
{
	struct gwd_device dev = {"mixed"};
	const struct kv dkv[] = {KS("root", root), KD("interval", 1.0), KI("down_after", 1),
				 KEND};
	const struct kv cpu[] = {KS("source", "thermal"), KS("zone", "cpu-thermal"), KEND};
	const struct kv w1[] = {KS("source", "w1"), KS("id", "28-000000000001"), KEND};
	const struct kv w2[] = {KS("source", "w1"), KS("id", "28-000000000002"), KEND};
	const struct kv w3[] = {KS("source", "w1"), KS("id", "28-000000000003"), KEND};
	const struct kv *const pts[] = {cpu, w1, w2, w3};
	void *ctx;

	put("class/thermal/thermal_zone0/type", "cpu-thermal\n");
	put("class/thermal/thermal_zone0/temp", "40000\n");
	put("bus/w1/devices/28-000000000002/w1_slave", W1_BADCRC);
	ctx = new_device(&dev, dkv, pts, 4);
	assert_int_equal(dev.state, 0);
	for (int i = 1; i <= 4; i++) {
		assert_true(pump(has_errors, &(struct nreports){&dev, 3, i}));
		if (i < 4)
			advance(1000);
	}
	assert_int_equal(dev.reports[0], 4);
	assert_int_equal(dev.errors[1] + dev.errors[2], 8);
	assert_int_equal(dev.state, 0);
	assert_int_equal(log_count("down after"), 0);
	assert_int_equal(log_count("no 1-Wire device 28-000000000003"), 1);
	ops->device_free(ctx);
}

/* A read that blocks (a 1-Wire conversion, here a FIFO nobody writes yet)
 * holds only its own device's worker: the loop runs, another device reads
 * and reports on its interval, and the slow read completes when the test
 * releases it. */
static void slow_read(void **state)
{
	struct gwd_device slow = {"slow"}, fast = {"fast"};
	const struct kv sdkv[] = {KS("root", root), KEND};
	const struct kv fdkv[] = {KS("root", root), KD("interval", 0.5), KEND};
	const struct kv w[] = {KS("source", "w1"), KS("id", "28-0000000000ff"), KEND};
	const struct kv cpu[] = {KS("source", "thermal"), KS("zone", "cpu-thermal"), KEND};
	const struct kv *const spts[] = {w}, *const fpts[] = {cpu};
	struct gwd_op op = {0};
	char fifo[512];
	void *sctx, *fctx;
	int fd;

	put("class/thermal/thermal_zone0/type", "cpu-thermal\n");
	put("class/thermal/thermal_zone0/temp", "40000\n");
	put("bus/w1/devices/28-0000000000ff/name", "28-0000000000ff\n");
	snprintf(fifo, sizeof(fifo), "%s/bus/w1/devices/28-0000000000ff/w1_slave", root);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	sctx = new_device(&slow, sdkv, spts, 1);
	fctx = new_device(&fast, fdkv, fpts, 1);

	in_op = true;
	assert_int_equal(ops->read(sctx, 0, &op), 0); /* returns at once */
	in_op = false;
	/* The loop goes on: the fast device's cycles (fake clock) arrive, and
	 * it answers a read, all while the slow read is blocked. */
	for (int i = 1; i <= 3; i++) {
		assert_true(pump(has_reports, &(struct nreports){&fast, 0, i}));
		advance(500);
	}
	put("class/thermal/thermal_zone0/temp", "41500\n");
	assert_near(read_ok(fctx, 0), 41.5, 1e-9);
	assert_false(op.done);

	/* Release it: the conversion is done. */
	fd = open(fifo, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, W1_GOOD, strlen(W1_GOOD)), (ssize_t)strlen(W1_GOOD));
	close(fd);
	assert_true(pump(op_done, &op));
	assert_int_equal(op.status, 0);
	assert_near(op.value, 23.125, 1e-9);
	ops->device_free(sctx);
	ops->device_free(fctx);
}

/* A read in flight when the device stops is cancelled, and its late result
 * is dropped. */
static void stop_cancels(void **state)
{
	struct gwd_device dev = {"stop"};
	const struct kv dkv[] = {KS("root", root), KEND};
	const struct kv w[] = {KS("source", "w1"), KS("id", "28-0000000000ee"), KEND};
	const struct kv *const pts[] = {w};
	struct gwd_op op = {0};
	char fifo[512];
	void *ctx;
	int fd;

	put("bus/w1/devices/28-0000000000ee/name", "x\n");
	snprintf(fifo, sizeof(fifo), "%s/bus/w1/devices/28-0000000000ee/w1_slave", root);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	ctx = new_device(&dev, dkv, pts, 1);
	in_op = true;
	assert_int_equal(ops->read(ctx, 0, &op), 0);
	in_op = false;
	fire_timers(); /* the cycle goes to the worker */
	ops->device_stop(ctx);
	assert_true(op.done);
	assert_int_equal(op.status, -ECANCELED);
	fd = open(fifo, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, W1_GOOD, strlen(W1_GOOD)), (ssize_t)strlen(W1_GOOD));
	close(fd);
	ops->device_free(ctx); /* joins the worker, drops its result */
	assert_int_equal(dev.reports[0], 0);
}

static void config_errors(void **state)
{
	struct gwd_device dev = {"cfg"};
	const struct kv rel[] = {KS("root", "sys"), KEND};
	const struct kv bad_dev[] = {KD("interval", -1.0), KI("down_after", 0), KEND};
	const struct kv ok[] = {KS("root", root), KEND};
	const struct kv none[] = {KS("device", "x"), KEND};
	const struct kv unknown[] = {KS("source", "gpio"), KEND};
	const struct kv no_id[] = {KS("source", "w1"), KEND};
	const struct kv slash[] = {KS("source", "w1"), KS("id", "../../etc"), KEND};
	const struct kv bad_attr[] = {KS("source", "hwmon"), KS("chip", "x"),
				      KS("attribute", "pwm1"), KEND};
	const struct kv bad_parent[] = {KS("source", "iio"), KS("device", "x"),
					KS("attribute", "temp"), KS("parent", "a/b"), KEND};
	const struct kv bad_file[] = {KS("source", "w1"), KS("id", "28-1"), KS("file", "x"), KEND};
	const struct kv *const bad[] = {none, unknown, no_id, slash, bad_attr, bad_parent,
					bad_file};
	struct gwd_cfg c = {rel};
	void *ctx = NULL;
	gwd_channel_t ch;

	assert_int_equal(ops->device_new(actx, &dev, &c, NULL, &ctx), -EINVAL);
	assert_non_null(strstr(last_cfg_error, "root: expected an absolute path"));
	c.kv = bad_dev;
	cfg_errors = 0;
	assert_int_equal(ops->device_new(actx, &dev, &c, NULL, &ctx), -EINVAL);
	assert_int_equal(cfg_errors, 2); /* every error of the group at once */
	c.kv = ok;
	assert_int_equal(ops->device_new(actx, &dev, &c, NULL, &ctx), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gwd_cfg p = {bad[i]};

		cfg_errors = 0;
		assert_int_equal(ops->channel_new(ctx, "p", &p, &ch), -EINVAL);
		assert_true(cfg_errors >= 1);
	}
	assert_non_null(strstr(last_cfg_error, "file: expected \"auto\""));
	ops->device_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_w1_slave),
		cmocka_unit_test(parse_number),
		cmocka_unit_test_setup_teardown(iio, setup, teardown),
		cmocka_unit_test_setup_teardown(iio_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(hwmon_index_change, setup, teardown),
		cmocka_unit_test_setup_teardown(w1, setup, teardown),
		cmocka_unit_test_setup_teardown(thermal, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_down, setup, teardown),
		cmocka_unit_test_setup_teardown(partial_failure_stays_up, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_read, setup, teardown),
		cmocka_unit_test_setup_teardown(stop_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(config_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
