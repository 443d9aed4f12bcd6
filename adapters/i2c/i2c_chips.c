/* The i2c adapter's chip drivers (see i2c_chips.h).  The BME280's integer
 * compensation follows the steps of Bosch's datasheet (section 4.2.3), with
 * 64-bit intermediates and multiplications where the datasheet shifts
 * signed values left (undefined in C for negative values). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "i2c_chips.h"

static const char *const chip_names[] = {"bme280", "sht3x", "sht4x", "bh1750", "generic"};
static const uint16_t chip_addrs[] = {0x76, 0x44, 0x44, 0x23, 0};
static const char *const q_names[] = {"temperature", "humidity", "pressure", "illuminance"};

int i2c_chip_parse(const char *s, enum i2c_chip *out)
{
	for (unsigned i = 0; i < sizeof(chip_names) / sizeof(chip_names[0]); i++)
		if (strcmp(s, chip_names[i]) == 0) {
			*out = (enum i2c_chip)i;
			return 0;
		}
	return -EINVAL;
}

const char *i2c_chip_name(enum i2c_chip c)
{
	return chip_names[c];
}

uint16_t i2c_chip_default_addr(enum i2c_chip c)
{
	return chip_addrs[c];
}

int i2c_quantity_parse(const char *s, enum i2c_quantity *out)
{
	for (unsigned i = 0; i < I2C_Q_N; i++)
		if (strcmp(s, q_names[i]) == 0) {
			*out = (enum i2c_quantity)i;
			return 0;
		}
	return -EINVAL;
}

const char *i2c_quantity_name(enum i2c_quantity q)
{
	return q_names[q];
}

bool i2c_chip_measures(enum i2c_chip c, enum i2c_quantity q)
{
	switch (c) {
	case I2C_CHIP_BME280:
		return q == I2C_Q_TEMPERATURE || q == I2C_Q_HUMIDITY || q == I2C_Q_PRESSURE;
	case I2C_CHIP_SHT3X:
	case I2C_CHIP_SHT4X:
		return q == I2C_Q_TEMPERATURE || q == I2C_Q_HUMIDITY;
	case I2C_CHIP_BH1750:
		return q == I2C_Q_ILLUMINANCE;
	default:
		return false;
	}
}

/* ---- bus helpers ---- */

#define BUSY_FMT                                                                \
	"0x%02x belongs to a kernel driver: read it with the sysfs adapter, or unbind " \
	"the driver"

static int xfer_err(int r, const struct i2c_chip_cfg *c, const char *what, char *msg,
		    size_t msglen)
{
	if (r == -ENXIO || r == -EREMOTEIO)
		snprintf(msg, msglen, "no answer (NAK) from %s at 0x%02x while %s",
			 i2c_chip_name(c->chip), c->addr, what);
	else if (r == -EBUSY)
		snprintf(msg, msglen, BUSY_FMT, c->addr);
	else
		snprintf(msg, msglen, "%s at 0x%02x: %s failed: %s", i2c_chip_name(c->chip),
			 c->addr, what, strerror(-r));
	return r;
}

static int write_bytes(struct i2c_bus *b, uint16_t addr, const uint8_t *p, uint16_t n)
{
	uint8_t buf[40];
	struct i2c_xfer_msg m = {.addr = addr, .read = false, .len = n, .buf = buf};

	memcpy(buf, p, n);
	return i2c_bus_transfer(b, &m, 1);
}

/* Write the register address, then read n bytes (a repeated start). */
static int read_regs(struct i2c_bus *b, uint16_t addr, uint8_t reg, uint8_t *out, uint16_t n)
{
	struct i2c_xfer_msg m[2] = {
		{.addr = addr, .read = false, .len = 1, .buf = &reg},
		{.addr = addr, .read = true, .len = n, .buf = out},
	};

	return i2c_bus_transfer(b, m, 2);
}

static int read_bytes(struct i2c_bus *b, uint16_t addr, uint8_t *out, uint16_t n)
{
	struct i2c_xfer_msg m = {.addr = addr, .read = true, .len = n, .buf = out};

	return i2c_bus_transfer(b, &m, 1);
}

/* ---- BME280 ---- */

#define BME_ID 0xD0
#define BME_CALIB_TP 0x88
#define BME_CALIB_H 0xE1
#define BME_CTRL_HUM 0xF2
#define BME_STATUS 0xF3
#define BME_CTRL_MEAS 0xF4
#define BME_CONFIG 0xF5
#define BME_DATA 0xF7
#define BME_CHIP_ID 0x60
#define BME_SKIPPED 0x80000 /* what a raw value reads before any measurement */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void bme280_calib_parse(const uint8_t tp[26], const uint8_t hum[7], struct bme280_calib *c)
{
	int16_t *p[] = {&c->p2, &c->p3, &c->p4, &c->p5, &c->p6, &c->p7, &c->p8, &c->p9};

	c->t1 = le16(tp);
	c->t2 = (int16_t)le16(tp + 2);
	c->t3 = (int16_t)le16(tp + 4);
	c->p1 = le16(tp + 6);
	for (unsigned i = 0; i < 8; i++)
		*p[i] = (int16_t)le16(tp + 8 + 2 * i);
	c->h1 = tp[25]; /* 0xA1; 0xA0 is not used */
	c->h2 = (int16_t)le16(hum);
	c->h3 = hum[2];
	/* dig_H4 and dig_H5 are 12-bit signed, sharing 0xE5's nibbles. */
	c->h4 = (int16_t)((int8_t)hum[3] * 16 + (hum[4] & 0x0f));
	c->h5 = (int16_t)((int8_t)hum[5] * 16 + (hum[4] >> 4));
	c->h6 = (int8_t)hum[6];
}

int32_t bme280_t_fine(const struct bme280_calib *c, int32_t adc_t)
{
	int64_t d1 = (adc_t >> 3) - (int64_t)c->t1 * 2;
	int64_t d2 = (adc_t >> 4) - (int64_t)c->t1;
	int64_t var1 = (d1 * c->t2) >> 11;
	int64_t var2 = (((d2 * d2) >> 12) * c->t3) >> 14;

	return (int32_t)(var1 + var2);
}

int32_t bme280_temperature(int32_t t_fine)
{
	return (t_fine * 5 + 128) >> 8;
}

uint32_t bme280_pressure(const struct bme280_calib *c, int32_t t_fine, int32_t adc_p)
{
	int64_t var1 = (int64_t)t_fine - 128000;
	int64_t var2 = var1 * var1 * c->p6;
	int64_t p;

	var2 += var1 * c->p5 * ((int64_t)1 << 17);
	var2 += (int64_t)c->p4 * ((int64_t)1 << 35);
	var1 = ((var1 * var1 * c->p3) >> 8) + var1 * c->p2 * ((int64_t)1 << 12);
	var1 = ((((int64_t)1 << 47) + var1) * c->p1) >> 33;
	if (var1 == 0)
		return 0; /* no division by zero (a blank calibration) */
	p = 1048576 - (int64_t)adc_p;
	p = (p * ((int64_t)1 << 31) - var2) * 3125 / var1;
	var1 = ((int64_t)c->p9 * (p >> 13) * (p >> 13)) >> 25;
	var2 = ((int64_t)c->p8 * p) >> 19;
	p = ((p + var1 + var2) >> 8) + (int64_t)c->p7 * 16;
	return (uint32_t)p;
}

uint32_t bme280_humidity(const struct bme280_calib *c, int32_t t_fine, int32_t adc_h)
{
	int64_t x = (int64_t)t_fine - 76800;
	int64_t a = ((int64_t)adc_h * 16384 - (int64_t)c->h4 * 1048576 - c->h5 * x + 16384) >> 15;
	int64_t b = (((((x * c->h6) >> 10) * (((x * c->h3) >> 11) + 32768)) >> 10) + 2097152) *
			    c->h2 +
		    8192;

	x = a * (b >> 14);
	x -= ((((x >> 15) * (x >> 15)) >> 7) * c->h1) >> 4;
	if (x < 0)
		x = 0;
	if (x > 419430400)
		x = 419430400; /* 100 %RH */
	return (uint32_t)(x >> 12);
}

/* Oversampling factor of a code 1..5. */
static unsigned os_of(uint8_t code)
{
	return code ? 1u << (code - 1) : 0;
}

/* The datasheet's maximum measurement time, in microseconds. */
static unsigned bme280_meas_us(uint8_t osrs)
{
	unsigned os = os_of(osrs);

	return 1250 + 2300 * os + (2300 * os + 575) * 2;
}

static int bme280_measure(struct i2c_bus *b, const struct i2c_chip_cfg *c, struct i2c_reading *out,
			  char *msg, size_t msglen)
{
	uint8_t id, tp[26], hum[7], d[8], cur;
	uint8_t meas = (uint8_t)(c->osrs << 5 | c->osrs << 2 | (c->normal_mode ? 3 : 1));
	uint8_t cfg[2] = {BME_CONFIG, (uint8_t)(c->standby << 5 | c->filter << 2)};
	uint8_t hctl[2] = {BME_CTRL_HUM, c->osrs};
	uint8_t mctl[2] = {BME_CTRL_MEAS, meas};
	struct bme280_calib cal;
	int32_t adc_t, adc_p, adc_h, t_fine;
	int r;

	if ((r = read_regs(b, c->addr, BME_ID, &id, 1)) < 0)
		return xfer_err(r, c, "reading the chip id", msg, msglen);
	if (id != BME_CHIP_ID) {
		snprintf(msg, msglen, "chip at 0x%02x has id 0x%02x, not a BME280 (0x60)%s", c->addr,
			 id, id == 0x58 ? ": a BMP280, which has no humidity" : "");
		return -ENODEV;
	}
	/* The calibration is read every cycle: a chip that was reset or
	 * swapped never runs on stale constants. */
	if ((r = read_regs(b, c->addr, BME_CALIB_TP, tp, sizeof(tp))) < 0 ||
	    (r = read_regs(b, c->addr, BME_CALIB_H, hum, sizeof(hum))) < 0)
		return xfer_err(r, c, "reading the calibration", msg, msglen);
	bme280_calib_parse(tp, hum, &cal);
	if (c->normal_mode) {
		/* Configure once; again only when the chip forgot (a reset). */
		if ((r = read_regs(b, c->addr, BME_CTRL_MEAS, &cur, 1)) < 0)
			return xfer_err(r, c, "reading ctrl_meas", msg, msglen);
		if (cur != meas) {
			/* config is only taken in sleep mode: sleep first. */
			uint8_t sleep[2] = {BME_CTRL_MEAS, 0};

			if ((r = write_bytes(b, c->addr, sleep, 2)) < 0 ||
			    (r = write_bytes(b, c->addr, cfg, 2)) < 0 ||
			    (r = write_bytes(b, c->addr, hctl, 2)) < 0 ||
			    (r = write_bytes(b, c->addr, mctl, 2)) < 0)
				return xfer_err(r, c, "configuring", msg, msglen);
			i2c_bus_wait_us(b, bme280_meas_us(c->osrs));
		}
	} else {
		uint8_t st = 0;
		int tries = 0;

		/* ctrl_hum takes effect with the ctrl_meas write after it. */
		if ((r = write_bytes(b, c->addr, cfg, 2)) < 0 ||
		    (r = write_bytes(b, c->addr, hctl, 2)) < 0 ||
		    (r = write_bytes(b, c->addr, mctl, 2)) < 0)
			return xfer_err(r, c, "starting a measurement", msg, msglen);
		i2c_bus_wait_us(b, bme280_meas_us(c->osrs));
		do {
			if ((r = read_regs(b, c->addr, BME_STATUS, &st, 1)) < 0)
				return xfer_err(r, c, "reading the status", msg, msglen);
			if (st & 0x08)
				i2c_bus_wait_us(b, 1000);
		} while ((st & 0x08) && ++tries < 20);
		if (st & 0x08) {
			snprintf(msg, msglen, "bme280 at 0x%02x: measurement never ended", c->addr);
			return -ETIMEDOUT;
		}
	}
	if ((r = read_regs(b, c->addr, BME_DATA, d, sizeof(d))) < 0)
		return xfer_err(r, c, "reading the measurement", msg, msglen);
	adc_p = d[0] << 12 | d[1] << 4 | d[2] >> 4;
	adc_t = d[3] << 12 | d[4] << 4 | d[5] >> 4;
	adc_h = d[6] << 8 | d[7];
	if (adc_t == BME_SKIPPED) {
		snprintf(msg, msglen, "bme280 at 0x%02x: no measurement yet", c->addr);
		return -EAGAIN;
	}
	t_fine = bme280_t_fine(&cal, adc_t);
	out->v[I2C_Q_TEMPERATURE] = bme280_temperature(t_fine) / 100.0;
	out->have[I2C_Q_TEMPERATURE] = true;
	if (adc_p != BME_SKIPPED) {
		out->v[I2C_Q_PRESSURE] = bme280_pressure(&cal, t_fine, adc_p) / 256.0 / 100.0;
		out->have[I2C_Q_PRESSURE] = true;
	}
	if (adc_h != 0x8000) {
		out->v[I2C_Q_HUMIDITY] = bme280_humidity(&cal, t_fine, adc_h) / 1024.0;
		out->have[I2C_Q_HUMIDITY] = true;
	}
	return 0;
}

/* ---- Sensirion SHT3x / SHT4x ---- */

uint8_t sht_crc8(const uint8_t *p, size_t n)
{
	uint8_t crc = 0xff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (uint8_t)(crc & 0x80 ? (crc << 1) ^ 0x31 : crc << 1);
	}
	return crc;
}

static int sht_measure(struct i2c_bus *b, const struct i2c_chip_cfg *c, struct i2c_reading *out,
		       char *msg, size_t msglen)
{
	/* Single shot without clock stretching: the chip NAKs reads until the
	 * measurement is done, so wait its maximum duration first. */
	static const uint8_t sht3x_cmd[3][2] = {{0x24, 0x00}, {0x24, 0x0b}, {0x24, 0x16}};
	static const unsigned sht3x_us[3] = {15500, 6500, 4500};
	static const uint8_t sht4x_cmd[3] = {0xfd, 0xf6, 0xe0};
	static const unsigned sht4x_us[3] = {8300, 4500, 1700};
	bool sht3 = c->chip == I2C_CHIP_SHT3X;
	uint8_t d[6];
	double t, h;
	int r;

	if (sht3)
		r = write_bytes(b, c->addr, sht3x_cmd[c->repeat], 2);
	else
		r = write_bytes(b, c->addr, &sht4x_cmd[c->repeat], 1);
	if (r < 0)
		return xfer_err(r, c, "starting a measurement", msg, msglen);
	i2c_bus_wait_us(b, sht3 ? sht3x_us[c->repeat] : sht4x_us[c->repeat]);
	if ((r = read_bytes(b, c->addr, d, sizeof(d))) < 0)
		return xfer_err(r, c, "reading the measurement", msg, msglen);
	for (int w = 0; w < 2; w++)
		if (sht_crc8(d + 3 * w, 2) != d[3 * w + 2]) {
			snprintf(msg, msglen,
				 "%s at 0x%02x: CRC check failed on the %s word (0x%02x%02x, "
				 "CRC 0x%02x, expected 0x%02x)",
				 i2c_chip_name(c->chip), c->addr, w ? "humidity" : "temperature",
				 d[3 * w], d[3 * w + 1], d[3 * w + 2], sht_crc8(d + 3 * w, 2));
			return -EBADMSG;
		}
	t = -45.0 + 175.0 * (d[0] << 8 | d[1]) / 65535.0;
	if (sht3) {
		h = 100.0 * (d[3] << 8 | d[4]) / 65535.0;
	} else {
		/* The SHT4x's scale runs past 0..100 %RH; the datasheet crops. */
		h = -6.0 + 125.0 * (d[3] << 8 | d[4]) / 65535.0;
		h = h < 0 ? 0 : h > 100 ? 100 : h;
	}
	out->v[I2C_Q_TEMPERATURE] = t;
	out->v[I2C_Q_HUMIDITY] = h;
	out->have[I2C_Q_TEMPERATURE] = out->have[I2C_Q_HUMIDITY] = true;
	return 0;
}

/* ---- ROHM BH1750 ---- */

static int bh1750_measure(struct i2c_bus *b, const struct i2c_chip_cfg *c, struct i2c_reading *out,
			  char *msg, size_t msglen)
{
	/* Power on, then one-time high-resolution mode (1 lx, 120 ms typical,
	 * 180 ms at most); the chip powers down by itself afterwards. */
	static const uint8_t on = 0x01, once_h = 0x20;
	uint8_t d[2];
	int r;

	if ((r = write_bytes(b, c->addr, &on, 1)) < 0 ||
	    (r = write_bytes(b, c->addr, &once_h, 1)) < 0)
		return xfer_err(r, c, "starting a measurement", msg, msglen);
	i2c_bus_wait_us(b, 180000);
	if ((r = read_bytes(b, c->addr, d, sizeof(d))) < 0)
		return xfer_err(r, c, "reading the measurement", msg, msglen);
	/* Counts per lux at the default measurement time: 1.2. */
	out->v[I2C_Q_ILLUMINANCE] = (d[0] << 8 | d[1]) / 1.2;
	out->have[I2C_Q_ILLUMINANCE] = true;
	return 0;
}

int i2c_chip_measure(struct i2c_bus *b, const struct i2c_chip_cfg *c, struct i2c_reading *out,
		     char *msg, size_t msglen)
{
	memset(out, 0, sizeof(*out));
	msg[0] = '\0';
	switch (c->chip) {
	case I2C_CHIP_BME280:
		return bme280_measure(b, c, out, msg, msglen);
	case I2C_CHIP_SHT3X:
	case I2C_CHIP_SHT4X:
		return sht_measure(b, c, out, msg, msglen);
	case I2C_CHIP_BH1750:
		return bh1750_measure(b, c, out, msg, msglen);
	default:
		return 0; /* generic: its registers are read one by one */
	}
}

/* ---- generic registers ---- */

int i2c_reg_type_parse(const char *type, struct i2c_reg *r)
{
	static const struct {
		const char *name;
		enum mb_type t;
		uint8_t len;
	} types[] = {
		{"u8", MB_T_UINT8H, 1},   {"s8", MB_T_INT8H, 1},   {"u16", MB_T_UINT16, 2},
		{"s16", MB_T_INT16, 2},   {"u32", MB_T_UINT32, 4}, {"s32", MB_T_INT32, 4},
		{"float", MB_T_FLOAT32, 4},
	};

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i].name) == 0) {
			r->fmt.type = types[i].t;
			r->len = types[i].len;
			return 0;
		}
	return -EINVAL;
}

int i2c_reg_order_parse(const char *order, struct i2c_reg *r)
{
	if (strcmp(order, "big") == 0)
		order = "ABCD";
	else if (strcmp(order, "little") == 0)
		order = "DCBA";
	return mb_order_parse(order, &r->fmt.swap_bytes, &r->fmt.swap_words);
}

/* The codec is the modbus adapter's, on 16-bit words: bytes go in pairs,
 * the first of each pair the word's high byte; a single byte is the high
 * half of one word. */
int i2c_reg_decode(const struct i2c_reg *r, const uint8_t *bytes, struct gwd_value *out)
{
	uint16_t regs[2] = {0, 0};

	if (r->len == 1)
		regs[0] = (uint16_t)(bytes[0] << 8);
	else
		for (unsigned i = 0; i < r->len / 2u; i++)
			regs[i] = (uint16_t)(bytes[2 * i] << 8 | bytes[2 * i + 1]);
	return mb_decode(&r->fmt, regs, out, NULL, 0);
}

int i2c_reg_encode(const struct i2c_reg *r, const struct gwd_value *v, uint8_t *bytes)
{
	uint16_t regs[2] = {0, 0};
	int e = mb_encode(&r->fmt, v, regs);

	if (e < 0)
		return e;
	if (r->len == 1)
		bytes[0] = (uint8_t)(regs[0] >> 8);
	else
		for (unsigned i = 0; i < r->len / 2u; i++) {
			bytes[2 * i] = (uint8_t)(regs[i] >> 8);
			bytes[2 * i + 1] = (uint8_t)regs[i];
		}
	return 0;
}

static int reg_err(int e, const struct i2c_reg *r, const char *what, char *msg, size_t msglen)
{
	if (e == -ENXIO || e == -EREMOTEIO)
		snprintf(msg, msglen, "no answer (NAK) from 0x%02x while %s register 0x%02x",
			 r->addr, what, r->reg);
	else if (e == -EBUSY)
		snprintf(msg, msglen, BUSY_FMT, r->addr);
	else
		snprintf(msg, msglen, "0x%02x: %s register 0x%02x failed: %s", r->addr, what,
			 r->reg, strerror(-e));
	return e;
}

int i2c_reg_read(struct i2c_bus *b, const struct i2c_reg *r, struct gwd_value *out, char *msg,
		 size_t msglen)
{
	uint8_t d[4];
	int e = read_regs(b, r->addr, r->reg, d, r->len);

	msg[0] = '\0';
	if (e < 0)
		return reg_err(e, r, "reading", msg, msglen);
	e = i2c_reg_decode(r, d, out);
	if (e < 0)
		snprintf(msg, msglen, "0x%02x: register 0x%02x holds no value", r->addr, r->reg);
	return e;
}

int i2c_reg_write(struct i2c_bus *b, const struct i2c_reg *r, const struct gwd_value *v,
		  char *msg, size_t msglen)
{
	uint8_t d[5];
	int e;

	msg[0] = '\0';
	d[0] = r->reg;
	e = i2c_reg_encode(r, v, d + 1);
	if (e < 0) {
		snprintf(msg, msglen, "0x%02x: the value does not fit register 0x%02x (%s)",
			 r->addr, r->reg, strerror(-e));
		return e;
	}
	e = write_bytes(b, r->addr, d, (uint16_t)(r->len + 1));
	return e < 0 ? reg_err(e, r, "writing", msg, msglen) : 0;
}
