/* The i2c adapter through the fake bus of tests/fixtures/i2c and the fake
 * host of gpio_host.h (shared with the gpio adapter's tests): the BME280's
 * compensation on the datasheet's worked example, a BME280, SHT3x (good and
 * bad CRC), SHT4x and BH1750 on register images, the generic register point
 * (types, byte orders, reads and writes), a NAK taking a device DOWN with
 * backoff and the first good read bringing it back while a neighbour on the
 * same bus goes on, a bus that cannot be opened, config errors, and a slow
 * transfer that the loop does not wait for.
 *
 * The workers' results arrive on their eventfds, which the test's loop
 * polls with a deadline; the fake clock drives the timers.  Nothing sleeps. */
#include <math.h>
#include <poll.h>

#include "tests/unit/gpio_host.h"
#include "adapters/common/gw_health.h"
#include "adapters/i2c/i2c_chips.h"
#include "tests/fixtures/i2c/i2c_bus_fake.h"

#define BUS "/dev/i2c-1"
#define BUS2 "/dev/i2c-2"

#define assert_near(a, b, eps)                                                  \
	do {                                                                    \
		double a_ = (a), b_ = (b);                                      \
		if (!(fabs(a_ - b_) <= (eps)))                                  \
			fail_msg("%s = %.9g, expected %.9g", #a, a_, b_);       \
	} while (0)

/* ---- the loop, on events ------------------------------------------------------------ */

typedef bool (*pred_fn)(const void *arg);

/* Run the loop (fd callbacks, due timers) until pred holds; false when no
 * watched fd became readable for 10 s. */
static bool pump(pred_fn pred, const void *arg)
{
	for (;;) {
		struct pollfd p[16];
		nfds_t n = 0;

		loop_once();
		if (pred(arg))
			return true;
		for (size_t i = 0; i < 16; i++)
			if (watches[i])
				p[n++] = (struct pollfd){.fd = watches[i]->fd, .events = POLLIN};
		if (n == 0 || poll(p, n, 10000) <= 0)
			return false;
	}
}

struct want {
	const struct dut *u;
	gwd_channel_t ch;
	enum rec_kind kind;
	size_t n;
};

static size_t count(const struct dut *u, gwd_channel_t ch, enum rec_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < fx.n_recs; i++)
		n += fx.recs[i].kind == kind && fx.recs[i].dev == &u->dev && fx.recs[i].ch == ch;
	return n;
}

static bool has(const void *arg)
{
	const struct want *w = arg;

	return count(w->u, w->ch, w->kind) >= w->n;
}

/* Wait until channel ch of u has n reports (or errors) in all. */
static void wait_n(const struct dut *u, gwd_channel_t ch, enum rec_kind kind, size_t n)
{
	struct want w = {u, ch, kind, n};

	if (!pump(has, &w))
		fail_msg("channel %u: %zu %s, expected %zu", ch, count(u, ch, kind),
			 kind == R_REPORT ? "reports" : "errors", n);
}

static bool op_done(const void *arg)
{
	return completion(*(const int *)arg) != NULL;
}

static const struct rec *wait_op(int op)
{
	if (!pump(op_done, &op))
		fail_msg("op %d never completed", op);
	return completion(op);
}

static double last_value(const struct dut *u, gwd_channel_t ch)
{
	const struct rec *r = last_report(u, ch, 0);

	assert_non_null(r);
	assert_int_equal(r->v.type, GWD_V_DOUBLE);
	return r->v.v.d;
}

static int start(struct dut *u)
{
	return ops->device_start(u->ctx);
}

/* The next scheduled cycle (interval 1 s). */
static void next_cycle(void)
{
	advance_to(fx.now + 1000);
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.now = T0;
	fake_i2c_reset();
	ops = gwd_adapter_descriptor.ops;
	return ops->init(&host, &actx);
}

static int teardown(void **state)
{
	ops->fini(actx);
	fake_i2c_reset();
	for (size_t i = 0; i < 32; i++)
		if (timers[i])
			return -1; /* every timer freed */
	if (live_watches() != 0 || fake_i2c_open_count() != 0)
		return -1; /* every bus closed */
	return 0;
}

/* ---- BME280: the datasheet's example ---------------------------------------------------- */

/* The compensation example of Bosch's datasheet (BMP280/BME280: the same
 * temperature and pressure formulas): these trimming values and raw
 * readings give t_fine 128422, 25.08 degC and 100653.27 Pa.  The datasheet
 * has no humidity example: those values are made up here, and the expected
 * result is the datasheet's floating-point formula, computed in the test. */
static const struct bme280_calib DS = {
	.t1 = 27504, .t2 = 26435, .t3 = -1000,
	.p1 = 36477, .p2 = -10685, .p3 = 3024, .p4 = 2855, .p5 = 140, .p6 = -7,
	.p7 = 15500, .p8 = -14600, .p9 = 6000,
	.h1 = 75, .h2 = 362, .h3 = 0, .h4 = 313, .h5 = 50, .h6 = 30,
};
#define ADC_T 519888
#define ADC_P 415148
#define ADC_H 30000

/* The datasheet's double-precision formulas (section 8.1), as a check
 * independent of the integer code. */
static double f_t_fine(const struct bme280_calib *c, double adc_t)
{
	double v1 = (adc_t / 16384.0 - c->t1 / 1024.0) * c->t2;
	double d = adc_t / 131072.0 - c->t1 / 8192.0;

	return v1 + d * d * c->t3;
}

static double f_pressure(const struct bme280_calib *c, double t_fine, double adc_p)
{
	double v1 = t_fine / 2.0 - 64000.0, v2, p;

	v2 = v1 * v1 * c->p6 / 32768.0;
	v2 = v2 + v1 * c->p5 * 2.0;
	v2 = v2 / 4.0 + c->p4 * 65536.0;
	v1 = (c->p3 * v1 * v1 / 524288.0 + c->p2 * v1) / 524288.0;
	v1 = (1.0 + v1 / 32768.0) * c->p1;
	p = 1048576.0 - adc_p;
	p = (p - v2 / 4096.0) * 6250.0 / v1;
	v1 = c->p9 * p * p / 2147483648.0;
	v2 = p * c->p8 / 32768.0;
	return p + (v1 + v2 + c->p7) / 16.0;
}

static double f_humidity(const struct bme280_calib *c, double t_fine, double adc_h)
{
	double h = t_fine - 76800.0;

	h = (adc_h - (c->h4 * 64.0 + c->h5 / 16384.0 * h)) *
	    (c->h2 / 65536.0 * (1.0 + c->h6 / 67108864.0 * h * (1.0 + c->h3 / 67108864.0 * h)));
	h = h * (1.0 - c->h1 * h / 524288.0);
	return h < 0 ? 0 : h > 100 ? 100 : h;
}

static void put16(uint8_t *p, int v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)((v >> 8) & 0xff);
}

/* The calibration registers holding c: 0x88.. and 0xE1... */
static void calib_image(const struct bme280_calib *c, uint8_t tp[26], uint8_t hum[7])
{
	const int16_t p[] = {c->p2, c->p3, c->p4, c->p5, c->p6, c->p7, c->p8, c->p9};

	memset(tp, 0, 26);
	put16(tp, c->t1);
	put16(tp + 2, c->t2);
	put16(tp + 4, c->t3);
	put16(tp + 6, c->p1);
	for (int i = 0; i < 8; i++)
		put16(tp + 8 + 2 * i, p[i]);
	tp[25] = c->h1;
	put16(hum, c->h2);
	hum[2] = c->h3;
	/* 0xE4: H4[11:4]; 0xE5: H5[3:0] << 4 | H4[3:0]; 0xE6: H5[11:4]. */
	hum[3] = (uint8_t)((c->h4 >> 4) & 0xff);
	hum[4] = (uint8_t)((c->h5 & 0x0f) << 4 | (c->h4 & 0x0f));
	hum[5] = (uint8_t)((c->h5 >> 4) & 0xff);
	hum[6] = (uint8_t)c->h6;
}

/* Field by field: the struct has padding. */
static void assert_calib_equal(const struct bme280_calib *a, const struct bme280_calib *b)
{
	const int x[] = {a->t1, a->t2, a->t3, a->p1, a->p2, a->p3, a->p4, a->p5, a->p6,
			 a->p7, a->p8, a->p9, a->h1, a->h2, a->h3, a->h4, a->h5, a->h6};
	const int y[] = {b->t1, b->t2, b->t3, b->p1, b->p2, b->p3, b->p4, b->p5, b->p6,
			 b->p7, b->p8, b->p9, b->h1, b->h2, b->h3, b->h4, b->h5, b->h6};

	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		if (x[i] != y[i])
			fail_msg("calibration value %zu: %d, expected %d", i, x[i], y[i]);
}

static void bme280_datasheet_example(void **state)
{
	uint8_t tp[26], hum[7];
	struct bme280_calib c;
	int32_t t_fine;
	uint32_t p, h;

	calib_image(&DS, tp, hum);
	bme280_calib_parse(tp, hum, &c);
	assert_calib_equal(&c, &DS);

	t_fine = bme280_t_fine(&c, ADC_T);
	assert_int_equal(t_fine, 128422);
	assert_int_equal(bme280_temperature(t_fine), 2508); /* 25.08 degC */
	assert_near(f_t_fine(&c, ADC_T) / 5120.0, 25.08, 0.005);

	/* The datasheet's 100653.27 Pa is the double-precision result; the
	 * integer one (Q24.8: 1/256 Pa steps) is 0.016 Pa below it. */
	p = bme280_pressure(&c, t_fine, ADC_P);
	assert_near(f_pressure(&c, f_t_fine(&c, ADC_T), ADC_P), 100653.27, 0.005);
	assert_near(p / 256.0, 100653.27, 0.02);
	assert_near(p / 256.0, f_pressure(&c, t_fine, ADC_P), 0.01);

	h = bme280_humidity(&c, t_fine, ADC_H);
	assert_true(h / 1024.0 > 10 && h / 1024.0 < 90); /* not clamped */
	assert_near(h / 1024.0, f_humidity(&c, f_t_fine(&c, ADC_T), ADC_H), 0.02);
}

/* Negative H4 and H5 share 0xE5's nibbles; clamping at 0 and 100 %RH. */
static void bme280_calib_signs_and_clamps(void **state)
{
	struct bme280_calib want = DS, c;
	uint8_t tp[26], hum[7];
	int32_t t_fine = bme280_t_fine(&DS, ADC_T);

	want.h4 = -5;
	want.h5 = -100;
	want.h6 = -7;
	want.t3 = -1;
	calib_image(&want, tp, hum);
	bme280_calib_parse(tp, hum, &c);
	assert_calib_equal(&c, &want);
	assert_int_equal(bme280_humidity(&DS, t_fine, 0), 0);
	assert_int_equal(bme280_humidity(&DS, t_fine, 65535), 100 * 1024);
	/* A blank calibration does not divide by zero. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(bme280_pressure(&c, t_fine, ADC_P), 0);
}

/* ---- chips on the fake bus -------------------------------------------------------------- */

static struct fake_chip *bme280_chip(const char *bus, uint16_t addr)
{
	struct fake_chip *c = fake_i2c_regs(bus, addr);
	uint8_t tp[26], hum[7], id = 0x60;
	uint8_t d[8] = {
		ADC_P >> 12, (ADC_P >> 4) & 0xff, (ADC_P & 0xf) << 4,
		ADC_T >> 12, (ADC_T >> 4) & 0xff, (ADC_T & 0xf) << 4,
		ADC_H >> 8, ADC_H & 0xff,
	};

	calib_image(&DS, tp, hum);
	fake_i2c_set(c, 0x88, tp, sizeof(tp));
	fake_i2c_set(c, 0xe1, hum, sizeof(hum));
	fake_i2c_set(c, 0xd0, &id, 1);
	fake_i2c_set(c, 0xf7, d, sizeof(d));
	return c;
}

static uint8_t reg_of(struct fake_chip *c, uint8_t reg)
{
	uint8_t v;

	fake_i2c_get(c, reg, &v, 1);
	return v;
}

static void bme280_forced_and_normal(void **state)
{
	struct fake_chip *chip = bme280_chip(BUS, 0x76);
	struct kv dkv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KD("interval", 1.0), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv p[] = {KS("measure", "pressure"), KEND};
	struct kv h[] = {KS("measure", "humidity"), KEND};
	struct kv *pts[] = {t, p, h};
	struct kv nkv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KS("mode", "normal"),
			   KI("oversampling", 4), KI("filter", 16), KI("standby", 250),
			   KI("address", 0x77), KD("interval", 1.0), KEND};
	struct kv *npts[] = {t};
	struct dut u, n;
	double hum = f_humidity(&DS, f_t_fine(&DS, ADC_T), ADC_H);

	assert_int_equal(make(&u, "bme", dkv, pts, 3), 0);
	assert_int_equal(start(&u), 0);
	wait_n(&u, 2, R_REPORT, 1);
	assert_near(last_value(&u, 0), 25.08, 1e-9);
	assert_near(last_value(&u, 1), 1006.5327, 0.0002); /* hPa */
	assert_near(last_value(&u, 2), hum, 0.02);
	/* Forced mode, oversampling x1: ctrl_hum 1, ctrl_meas 001 001 01. */
	assert_int_equal(reg_of(chip, 0xf2), 0x01);
	assert_int_equal(reg_of(chip, 0xf4), 0x25);

	/* Normal mode: x4 (011), filter 16 (100), standby 250 ms (011). */
	bme280_chip(BUS, 0x77);
	assert_int_equal(make(&n, "bme-normal", nkv, npts, 1), 0);
	assert_int_equal(start(&n), 0);
	wait_n(&n, 0, R_REPORT, 1);
	assert_near(last_value(&n, 0), 25.08, 1e-9);
	chip = fake_i2c_regs(BUS, 0x77);
	assert_int_equal(reg_of(chip, 0xf4), 0x6f);
	assert_int_equal(reg_of(chip, 0xf5), 0x70);
	assert_int_equal(reg_of(chip, 0xf2), 0x03);
	/* A chip that forgot its settings (a reset) is set up again. */
	fake_i2c_set(chip, 0xf4, (const uint8_t[]){0}, 1);
	next_cycle();
	wait_n(&n, 0, R_REPORT, 2);
	assert_int_equal(reg_of(chip, 0xf4), 0x6f);
	destroy(&n);
	destroy(&u);
}

static void bme280_wrong_chip_or_kernel_driver(void **state)
{
	struct fake_chip *chip = bme280_chip(BUS, 0x76);
	struct kv dkv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KD("interval", 1.0), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv *pts[] = {t};
	struct dut u;

	fake_i2c_set(chip, 0xd0, (const uint8_t[]){0x58}, 1);
	assert_int_equal(make(&u, "bmp", dkv, pts, 1), 0);
	assert_int_equal(start(&u), 0);
	wait_n(&u, 0, R_ERROR, 1);
	assert_true(logged("has id 0x58, not a BME280 (0x60): a BMP280"));
	assert_int_equal(count(&u, 0, R_REPORT), 0);
	/* A chip the kernel's bme280 driver has bound is not ours to talk to. */
	fake_i2c_busy(chip, true);
	next_cycle();
	wait_n(&u, 0, R_ERROR, 2);
	assert_int_equal(fx.recs[fx.n_recs - 1].status, -EBUSY);
	assert_true(logged("channel c: 0x76 belongs to a kernel driver: read it with the sysfs "
			   "adapter"));
	destroy(&u);
}

/* SHT words: a value and its CRC. */
static void sht_word(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	p[2] = sht_crc8(p, 2);
}

/* An SHT3x answering 25.0 degC (0x6666) and 50 %RH (0x8000). */
static struct fake_chip *sht3x_chip(const char *bus, uint16_t addr)
{
	struct fake_chip *c = fake_i2c_cmd(bus, addr);
	uint8_t resp[6];

	sht_word(resp, 0x6666);
	sht_word(resp + 3, 0x8000);
	fake_i2c_set_response(c, resp, 6);
	return c;
}

static void sht_crc(void **state)
{
	/* The datasheets' example: 0xBEEF has CRC 0x92. */
	assert_int_equal(sht_crc8((const uint8_t[]){0xbe, 0xef}, 2), 0x92);
	assert_int_equal(sht_crc8((const uint8_t[]){0x00, 0x00}, 2), 0x81);
}

static void sht3x_good_and_bad_crc(void **state)
{
	struct fake_chip *chip = fake_i2c_cmd(BUS, 0x44);
	struct kv dkv[] = {KS("i2c_bus", BUS), KS("chip", "sht3x"), KD("interval", 1.0),
			   KI("down_after", 3), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv h[] = {KS("measure", "humidity"), KEND};
	struct kv *pts[] = {t, h};
	uint8_t resp[6], cmd[4];
	struct dut u;

	sht_word(resp, 0x6666);
	sht_word(resp + 3, 0x8000);
	fake_i2c_set_response(chip, resp, 6);
	assert_int_equal(make(&u, "sht", dkv, pts, 2), 0);
	assert_int_equal(start(&u), 0);
	wait_n(&u, 1, R_REPORT, 1);
	assert_near(last_value(&u, 0), -45 + 175 * 26214 / 65535.0, 1e-9);
	assert_near(last_value(&u, 1), 100 * 32768 / 65535.0, 1e-9);
	/* Single shot, high repeatability, no clock stretching. */
	assert_int_equal(fake_i2c_last_cmd(chip, cmd, sizeof(cmd)), 2);
	assert_int_equal(cmd[0], 0x24);
	assert_int_equal(cmd[1], 0x00);

	/* A bad CRC on the humidity word: an error of the device, logged
	 * once however often it comes, no value reported. */
	resp[5] ^= 0x01;
	fake_i2c_set_response(chip, resp, 6);
	next_cycle();
	wait_n(&u, 1, R_ERROR, 1);
	next_cycle();
	wait_n(&u, 1, R_ERROR, 2);
	assert_int_equal(count(&u, 1, R_REPORT), 1);
	assert_int_equal(fx.recs[fx.n_recs - 1].status, -EBADMSG);
	assert_true(logged("CRC check failed on the humidity word"));
	{
		size_t n = 0;

		for (size_t i = 0; i < fx.n_logs; i++)
			n += strstr(fx.logs[i], "channel c: sht3x at 0x44: CRC") != NULL;
		assert_int_equal(n, 2); /* once for each channel, not once a cycle */
	}
	assert_int_equal(u.dev.state, GWD_STATE_UP); /* 2 of 3 */
	/* Good again: reports, and "reading again". */
	resp[5] ^= 0x01;
	fake_i2c_set_response(chip, resp, 6);
	next_cycle();
	wait_n(&u, 1, R_REPORT, 2);
	assert_true(logged("channel c: reading again"));
	destroy(&u);
}

static void sht4x_and_bh1750(void **state)
{
	struct fake_chip *sht = fake_i2c_cmd(BUS, 0x44);
	struct fake_chip *bh = fake_i2c_cmd(BUS, 0x23);
	struct kv skv[] = {KS("i2c_bus", BUS), KS("chip", "sht4x"), KS("repeatability", "low"),
			   KD("interval", 1.0), KEND};
	struct kv bkv[] = {KS("i2c_bus", BUS), KS("chip", "bh1750"), KD("interval", 1.0), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv h[] = {KS("measure", "humidity"), KEND};
	struct kv l[] = {KS("measure", "illuminance"), KEND};
	struct kv *spts[] = {t, h}, *bpts[] = {l};
	uint8_t resp[6], cmd[4];
	struct dut s, b;

	sht_word(resp, 0x6000);
	sht_word(resp + 3, 0xfff0); /* above 100 %RH on the SHT4x's scale */
	fake_i2c_set_response(sht, resp, 6);
	fake_i2c_set_response(bh, (const uint8_t[]){0x01, 0x90}, 2);
	assert_int_equal(make(&s, "sht4", skv, spts, 2), 0);
	assert_int_equal(make(&b, "light", bkv, bpts, 1), 0);
	assert_int_equal(start(&s), 0);
	assert_int_equal(start(&b), 0);
	wait_n(&s, 1, R_REPORT, 1);
	wait_n(&b, 0, R_REPORT, 1);
	assert_near(last_value(&s, 0), -45 + 175 * 24576 / 65535.0, 1e-9);
	assert_near(last_value(&s, 1), 100.0, 1e-9);
	assert_int_equal(fake_i2c_last_cmd(sht, cmd, sizeof(cmd)), 1);
	assert_int_equal(cmd[0], 0xe0); /* low repeatability */
	assert_near(last_value(&b, 0), 400 / 1.2, 1e-9);
	assert_int_equal(fake_i2c_last_cmd(bh, cmd, sizeof(cmd)), 1);
	assert_int_equal(cmd[0], 0x20); /* one-time high resolution */
	destroy(&b);
	destroy(&s);
}

/* ---- the generic register point ------------------------------------------------------------- */

static void generic_codec(void **state)
{
	struct i2c_reg r = {0};
	struct gwd_value v;
	uint8_t b[4];

	assert_int_equal(i2c_reg_type_parse("s16", &r), 0);
	assert_int_equal(i2c_reg_order_parse("little", &r), 0);
	assert_int_equal(i2c_reg_decode(&r, (const uint8_t[]){0x18, 0xfc}, &v), 0);
	assert_int_equal(v.type, GWD_V_INT);
	assert_int_equal(v.v.i, -1000);
	assert_int_equal(i2c_reg_type_parse("u32", &r), 0);
	assert_int_equal(i2c_reg_order_parse("CDAB", &r), 0);
	assert_int_equal(i2c_reg_decode(&r, (const uint8_t[]){0x56, 0x78, 0x12, 0x34}, &v), 0);
	assert_int_equal(v.v.u, 0x12345678);
	assert_int_equal(i2c_reg_type_parse("float", &r), 0);
	assert_int_equal(i2c_reg_order_parse("big", &r), 0);
	v = gwd_value_double(-2.5);
	assert_int_equal(i2c_reg_encode(&r, &v, b), 0);
	assert_memory_equal(b, ((const uint8_t[]){0xc0, 0x20, 0x00, 0x00}), 4);
	assert_int_equal(i2c_reg_type_parse("u8", &r), 0);
	v = gwd_value_int(256);
	assert_int_equal(i2c_reg_encode(&r, &v, b), -ERANGE);
	assert_int_equal(i2c_reg_type_parse("u64", &r), -EINVAL);
	assert_int_equal(i2c_reg_order_parse("middle", &r), -EINVAL);
}

static void generic_read_and_write(void **state)
{
	struct fake_chip *chip = fake_i2c_regs(BUS, 0x48);
	struct kv dkv[] = {KS("i2c_bus", BUS), KI("address", 0x48), KEND};
	struct kv p0[] = {KI("register", 0x10), KS("type", "u16"), KB("writable", true), KEND};
	struct kv p1[] = {KI("register", 0x12), KS("type", "s16"), KS("order", "little"),
			  KB("writable", true), KEND};
	struct kv p2[] = {KI("register", 0x20), KS("type", "s32"), KS("order", "DCBA"), KEND};
	struct kv p3[] = {KI("register", 0x30), KS("type", "float"), KI("length", 4),
			  KB("writable", true), KEND};
	struct kv p4[] = {KI("register", 0x40), KS("type", "s8"), KB("writable", true), KEND};
	struct kv *pts[] = {p0, p1, p2, p3, p4};
	struct dut u;
	const struct rec *r;
	uint8_t b[4];

	fake_i2c_set(chip, 0x10, (const uint8_t[]){0x12, 0x34, 0x34, 0x12}, 4);
	fake_i2c_set(chip, 0x20, (const uint8_t[]){0xfe, 0xff, 0xff, 0xff}, 4);
	fake_i2c_set(chip, 0x30, (const uint8_t[]){0x41, 0x48, 0x00, 0x00}, 4);
	fake_i2c_set(chip, 0x40, (const uint8_t[]){0x80}, 1);
	assert_int_equal(make(&u, "regs", dkv, pts, 5), 0);
	assert_int_equal(start(&u), 0);

	/* Reads from the daemon, all in one cycle (interval 0: no polling). */
	for (int i = 0; i < 5; i++) {
		in_op = 1;
		assert_int_equal(ops->read(u.ctx, u.ch[i], OP(i)), 0);
		in_op = 0;
	}
	assert_null(completion(0)); /* never from inside the op */
	r = wait_op(0);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->v.v.u, 0x1234);
	r = wait_op(1);
	assert_int_equal(r->v.v.i, 0x1234);
	r = wait_op(2);
	assert_int_equal(r->v.v.i, -2);
	r = wait_op(3);
	assert_near(r->v.v.d, 12.5, 0);
	r = wait_op(4);
	assert_int_equal(r->v.v.i, -128);
	assert_int_equal(fake_i2c_transfers(chip), 5);

	/* Writes, in each point's order. */
	in_op = 1;
	assert_int_equal(ops->write(u.ctx, u.ch[0], &(struct gwd_value){.type = GWD_V_UINT,
									  .v.u = 0xbeef},
				    OP(10)),
			 0);
	assert_int_equal(ops->write(u.ctx, u.ch[1], &(struct gwd_value){.type = GWD_V_INT,
									  .v.i = -2},
				    OP(11)),
			 0);
	assert_int_equal(ops->write(u.ctx, u.ch[3], &(struct gwd_value){.type = GWD_V_DOUBLE,
									  .v.d = -2.5},
				    OP(12)),
			 0);
	assert_int_equal(ops->write(u.ctx, u.ch[4], &(struct gwd_value){.type = GWD_V_INT,
									  .v.i = -3},
				    OP(13)),
			 0);
	in_op = 0;
	assert_null(completion(10));
	for (int op = 10; op <= 13; op++)
		assert_int_equal(wait_op(op)->status, 0);
	fake_i2c_get(chip, 0x10, b, 4);
	assert_memory_equal(b, ((const uint8_t[]){0xbe, 0xef, 0xfe, 0xff}), 4);
	fake_i2c_get(chip, 0x30, b, 4);
	assert_memory_equal(b, ((const uint8_t[]){0xc0, 0x20, 0x00, 0x00}), 4);
	fake_i2c_get(chip, 0x40, b, 1);
	assert_int_equal(b[0], 0xfd);

	/* Refused at once: a read-only point, a value out of range. */
	assert_int_equal(write_ch(&u, u.ch[2], gwd_value_int(1), 20), -EPERM);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_int(70000), 21), -ERANGE);
	assert_int_equal(write_ch(&u, u.ch[4], gwd_value_int(128), 22), -ERANGE);
	assert_int_equal(exec_ch(&u, u.ch[0], "", 23), -EOPNOTSUPP);

	/* A write the chip NAKs fails, logged. */
	fake_i2c_nak(chip, true);
	in_op = 1;
	assert_int_equal(ops->write(u.ctx, u.ch[0], &(struct gwd_value){.type = GWD_V_UINT,
									  .v.u = 1},
				    OP(24)),
			 0);
	in_op = 0;
	assert_int_equal(wait_op(24)->status, -ENXIO);
	assert_true(logged("write failed: no answer (NAK) from 0x48 while writing register 0x10"));
	destroy(&u);
}

/* ---- health ----------------------------------------------------------------------------- */

static bool is_down(const void *arg)
{
	return ((const struct gwd_device *)arg)->state == GWD_STATE_DOWN;
}

static void nak_down_and_recovery(void **state)
{
	struct fake_chip *bme = bme280_chip(BUS, 0x76);
	struct kv bkv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KD("interval", 1.0),
			   KI("down_after", 2), KD("backoff_max", 4.0), KEND};
	struct kv skv[] = {KS("i2c_bus", BUS), KS("chip", "sht3x"), KD("interval", 1.0), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv *pts[] = {t};
	struct dut b, s;
	const struct rec *r;
	unsigned before;

	sht3x_chip(BUS, 0x44);
	assert_int_equal(make(&b, "bme", bkv, pts, 1), 0);
	assert_int_equal(make(&s, "sht", skv, pts, 1), 0);
	assert_int_equal(start(&b), 0);
	assert_int_equal(start(&s), 0);
	wait_n(&b, 0, R_REPORT, 1);
	wait_n(&s, 0, R_REPORT, 1);

	/* (Each cycle's results are in before the clock moves on: a result
	 * that comes after the next slot's time skips that slot.) */
	fake_i2c_nak(bme, true);
	next_cycle();
	wait_n(&b, 0, R_ERROR, 1);
	wait_n(&s, 0, R_REPORT, 2);
	assert_int_equal(b.dev.state, GWD_STATE_UP);
	next_cycle();
	wait_n(&b, 0, R_ERROR, 2);
	assert_true(pump(is_down, &b.dev));
	assert_int_equal(b.dev.cause, -ENXIO);
	assert_true(logged("bme: down after 2 failed cycles (last: no answer (NAK) from bme280 "
			   "at 0x76 while reading the chip id)"));
	/* Logged once, not once a cycle. */
	{
		size_t n = 0;

		for (size_t i = 0; i < fx.n_logs; i++)
			n += strstr(fx.logs[i], "bme: channel c: no answer") != NULL;
		assert_int_equal(n, 1);
	}
	/* Down: reads answer at once, no transfer. */
	before = fake_i2c_transfers(bme);
	in_op = 1;
	assert_int_equal(ops->read(b.ctx, b.ch[0], OP(1)), 0);
	in_op = 0;
	assert_int_equal(wait_op(1)->status, -EHOSTDOWN);
	assert_int_equal(fake_i2c_transfers(bme), before);
	/* The neighbour on the same bus went on all along. */
	wait_n(&s, 0, R_REPORT, 3);
	assert_int_equal(count(&s, 0, R_ERROR), 0);

	/* Probes back off (1 s, then 2 s, then the 4 s cap, each within
	 * +-1/8: health_backoff checks the times). */
	advance_to(fx.now + 1200);
	wait_n(&b, 0, R_ERROR, 3);
	advance_to(fx.now + 2400);
	wait_n(&b, 0, R_ERROR, 4);
	/* The first good read brings it back. */
	fake_i2c_nak(bme, false);
	advance_to(fx.now + 4600);
	wait_n(&b, 0, R_REPORT, 2);
	assert_int_equal(b.dev.state, GWD_STATE_UP);
	assert_true(logged("bme: readings again: device up (4 failed reads so far)"));
	assert_true(logged("bme: failed reads so far: 4 not answered (NAK), 0 with a bad CRC, "
			   "0 other"));
	r = last_report(&b, 0, 0);
	assert_near(r->v.v.d, 25.08, 1e-9);
	destroy(&s);
	destroy(&b);
}

static void health_backoff(void **state)
{
	struct gw_health h;

	gw_health_init(&h, 2, 4000, 42);
	assert_false(gw_health_fail(&h));
	assert_false(h.down);
	assert_true(gw_health_fail(&h)); /* down now */
	assert_false(gw_health_fail(&h)); /* and still */
	for (uint64_t want = 2000; want <= 8000; want *= 2) {
		for (int i = 0; i < 100; i++) {
			uint64_t ms = gw_health_retry_ms(&h);
			uint64_t b = want < 4000 ? want : 4000;

			assert_true(ms >= b - b / 8 && ms <= b + b / 4 - b / 8);
		}
		gw_health_fail(&h);
	}
	assert_int_equal(h.backoff_ms, 4000);
	assert_true(gw_health_ok(&h)); /* was down: up now */
	assert_false(h.down);
	assert_int_equal(h.failures, 0);
	assert_false(gw_health_ok(&h));
}

static void missing_bus(void **state)
{
	struct kv dkv[] = {KS("i2c_bus", "/dev/i2c-9"), KS("chip", "sht4x"), KD("interval", 1.0),
			   KI("down_after", 1), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv *pts[] = {t};
	struct dut u;

	assert_int_equal(make(&u, "nobus", dkv, pts, 1), 0);
	assert_int_equal(start(&u), 0);
	wait_n(&u, 0, R_ERROR, 1);
	assert_true(pump(is_down, &u.dev));
	assert_true(logged("channel c: cannot open /dev/i2c-9: No such file or directory"));
	destroy(&u);
}

/* ---- a slow transfer ------------------------------------------------------------------------ */

static void slow_transfer_does_not_block_the_loop(void **state)
{
	struct fake_chip *slow = bme280_chip(BUS, 0x76);
	struct kv skv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KEND};
	struct kv okv[] = {KS("i2c_bus", BUS2), KS("chip", "sht3x"), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv *pts[] = {t};
	struct dut s, o;

	sht3x_chip(BUS2, 0x44);
	assert_int_equal(make(&s, "slow", skv, pts, 1), 0);
	assert_int_equal(make(&o, "other", okv, pts, 1), 0);
	assert_int_equal(start(&s), 0);
	assert_int_equal(start(&o), 0);

	/* The slow chip holds its transfer (clock stretching, a stuck bus). */
	fake_i2c_hold(slow);
	in_op = 1;
	assert_int_equal(ops->read(s.ctx, s.ch[0], OP(0)), 0);
	in_op = 0;
	run_timers();
	assert_true(fake_i2c_wait_held(slow));
	/* Meanwhile the loop serves the device on the other bus... */
	in_op = 1;
	assert_int_equal(ops->read(o.ctx, o.ch[0], OP(1)), 0);
	in_op = 0;
	assert_int_equal(wait_op(1)->status, 0);
	assert_null(completion(0));
	/* ...and stopping the slow device returns at once, cancelling its
	 * read, while the transfer is still held. */
	ops->device_stop(s.ctx);
	assert_int_equal(completion(0)->status, -ECANCELED);
	ops->device_free(s.ctx);
	/* Its bus lingers until the transfer ends; the other device goes on. */
	in_op = 1;
	assert_int_equal(ops->read(o.ctx, o.ch[0], OP(2)), 0);
	in_op = 0;
	assert_int_equal(wait_op(2)->status, 0);
	fake_i2c_release(slow);
	destroy(&o);
	/* fini joins the lingering worker (teardown checks the bus closed). */
}

/* Reads arriving while the device's bus is busy with another device's
 * transfer complete once it ends. */
static void reads_wait_for_a_held_bus(void **state)
{
	struct fake_chip *slow = bme280_chip(BUS, 0x76);
	struct kv skv[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KEND};
	struct kv okv[] = {KS("i2c_bus", BUS), KS("chip", "sht3x"), KEND};
	struct kv t[] = {KS("measure", "temperature"), KEND};
	struct kv *pts[] = {t};
	struct dut s, o;

	sht3x_chip(BUS, 0x44);
	assert_int_equal(make(&s, "slow", skv, pts, 1), 0);
	assert_int_equal(make(&o, "sht", okv, pts, 1), 0);
	assert_int_equal(start(&s), 0);
	assert_int_equal(start(&o), 0);
	fake_i2c_hold(slow);
	in_op = 1;
	assert_int_equal(ops->read(s.ctx, s.ch[0], OP(0)), 0);
	assert_int_equal(ops->read(o.ctx, o.ch[0], OP(1)), 0);
	in_op = 0;
	run_timers();
	assert_true(fake_i2c_wait_held(slow));
	loop_once();
	assert_null(completion(1)); /* one bus: one transfer at a time */
	fake_i2c_release(slow);
	assert_int_equal(wait_op(0)->status, 0);
	assert_int_equal(wait_op(1)->status, 0);
	destroy(&o);
	destroy(&s);
}

/* ---- config ---------------------------------------------------------------------------- */

static bool error_like(const char *needle)
{
	for (size_t i = 0; i < fx.n_errors; i++)
		if (strstr(fx.errors[i], needle))
			return true;
	return false;
}

static void config_errors(void **state)
{
	struct kv nobus[] = {KS("chip", "bme280"), KEND};
	struct kv badchip[] = {KS("i2c_bus", BUS), KS("chip", "bme680"), KS("mode", "sleep"), KEND};
	struct kv noaddr[] = {KS("i2c_bus", "i2c-1"), KEND};
	struct kv badaddr[] = {KS("i2c_bus", BUS), KI("address", 0x80), KI("oversampling", 3), KEND};
	struct kv bme[] = {KS("i2c_bus", BUS), KS("chip", "bme280"), KEND};
	struct kv gen[] = {KS("i2c_bus", BUS), KI("address", 0x48), KEND};
	struct kv lux[] = {KS("measure", "illuminance"), KEND};
	struct kv none[] = {KEND};
	struct kv both[] = {KS("measure", "temperature"), KI("register", 1), KEND};
	struct kv notype[] = {KI("register", 1), KEND};
	struct kv badlen[] = {KI("register", 1), KS("type", "u16"), KI("length", 3), KEND};
	struct kv badorder[] = {KI("register", 300), KS("type", "u16"), KS("order", "middle"),
				KEND};
	struct kv *p1[] = {lux}, *p2[] = {none}, *p3[] = {both};
	struct kv *g1[] = {notype}, *g2[] = {badlen}, *g3[] = {badorder};
	struct dut u;

	assert_int_equal(make(&u, "x", nobus, NULL, 0), -EINVAL);
	assert_true(error_like("devices.[0].i2c_bus: required: the bus device, e.g. \"/dev/i2c-1\""));
	assert_int_equal(make(&u, "x", badchip, NULL, 0), -EINVAL);
	assert_true(error_like(".chip: expected \"bme280\", \"sht3x\", \"sht4x\", \"bh1750\" or "
			       "\"generic\", found \"bme680\""));
	assert_int_equal(make(&u, "x", noaddr, NULL, 0), -EINVAL);
	assert_true(error_like(".i2c_bus: expected an absolute path"));
	assert_int_equal(make(&u, "x", badaddr, NULL, 0), -EINVAL);
	assert_true(error_like(".address: expected a 7-bit address from 0x03 to 0x77, found 0x80"));
	fx.n_errors = 0;
	assert_int_equal(make(&u, "x", bme, p1, 1), -EINVAL);
	assert_true(error_like("points.[0].measure: a bme280 does not measure illuminance"));
	ops->device_free(u.ctx);
	assert_int_equal(make(&u, "x", bme, p2, 1), -EINVAL);
	assert_true(error_like("points.[0].measure: required: what the bme280 measures"));
	ops->device_free(u.ctx);
	assert_int_equal(make(&u, "x", bme, p3, 1), -EINVAL);
	assert_true(error_like("`measure` or `register`, not both"));
	ops->device_free(u.ctx);
	fx.n_errors = 0;
	assert_int_equal(make(&u, "x", gen, g1, 1), -EINVAL);
	assert_true(error_like("points.[0].type: required with `register`"));
	ops->device_free(u.ctx);
	assert_int_equal(make(&u, "x", gen, g2, 1), -EINVAL);
	assert_true(error_like(".length: a u16 takes 2 bytes, found 3"));
	ops->device_free(u.ctx);
	fx.n_errors = 0;
	assert_int_equal(make(&u, "x", gen, g3, 1), -EINVAL);
	/* Every error of the point at once. */
	assert_true(error_like(".register: expected 0 to 255"));
	assert_true(error_like(".order: expected \"big\", \"little\""));
	ops->device_free(u.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bme280_datasheet_example),
		cmocka_unit_test(bme280_calib_signs_and_clamps),
		cmocka_unit_test(sht_crc),
		cmocka_unit_test(generic_codec),
		cmocka_unit_test_setup_teardown(bme280_forced_and_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(bme280_wrong_chip_or_kernel_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(sht3x_good_and_bad_crc, setup, teardown),
		cmocka_unit_test_setup_teardown(sht4x_and_bh1750, setup, teardown),
		cmocka_unit_test_setup_teardown(generic_read_and_write, setup, teardown),
		cmocka_unit_test_setup_teardown(nak_down_and_recovery, setup, teardown),
		cmocka_unit_test(health_backoff),
		cmocka_unit_test_setup_teardown(missing_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_transfer_does_not_block_the_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reads_wait_for_a_held_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(config_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
