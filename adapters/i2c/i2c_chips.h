/* The i2c adapter's chip drivers: what one measurement cycle of a chip
 * sends and how its answer becomes values.  The arithmetic (BME280
 * compensation, Sensirion CRC, conversions, register codec) is pure and
 * unit-tested on its own; i2c_chip_measure and the register read/write run
 * on the bus's worker thread through i2c_bus.h.  Users' documentation:
 * README.md. */
#ifndef I2C_CHIPS_H
#define I2C_CHIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatewayd/adapter.h"
#include "i2c_bus.h"
#include "../modbus/mb_codec.h"

enum i2c_chip {
	I2C_CHIP_BME280 = 0,
	I2C_CHIP_SHT3X,
	I2C_CHIP_SHT4X,
	I2C_CHIP_BH1750,
	I2C_CHIP_GENERIC, /* registers only */
};

/* What a sensor chip measures; a channel names one. */
enum i2c_quantity {
	I2C_Q_TEMPERATURE = 0, /* degrees Celsius */
	I2C_Q_HUMIDITY,        /* % relative humidity */
	I2C_Q_PRESSURE,        /* hPa */
	I2C_Q_ILLUMINANCE,     /* lux */
	I2C_Q_N,
};

#define I2C_MSG_LEN 128

/* A chip's settings, copied into each job (the worker never reads the
 * device's own state). */
struct i2c_chip_cfg {
	enum i2c_chip chip;
	uint16_t addr;
	/* BME280 */
	bool normal_mode;
	uint8_t osrs;    /* oversampling code 1..5 (x1..x16), all three */
	uint8_t filter;  /* IIR filter code 0..4 (off, 2, 4, 8, 16) */
	uint8_t standby; /* normal mode t_sb code 0..7 */
	/* SHT3x / SHT4x: 0 high, 1 medium, 2 low repeatability */
	uint8_t repeat;
};

struct i2c_reading {
	double v[I2C_Q_N];
	bool have[I2C_Q_N];
};

int i2c_chip_parse(const char *s, enum i2c_chip *out);
const char *i2c_chip_name(enum i2c_chip c);
uint16_t i2c_chip_default_addr(enum i2c_chip c);
int i2c_quantity_parse(const char *s, enum i2c_quantity *out);
const char *i2c_quantity_name(enum i2c_quantity q);
/* Whether the chip measures q. */
bool i2c_chip_measures(enum i2c_chip c, enum i2c_quantity q);

/* One measurement: 0 and the chip's values, or a negative errno with a
 * message saying what went wrong (msg always written). */
int i2c_chip_measure(struct i2c_bus *b, const struct i2c_chip_cfg *c, struct i2c_reading *out,
		     char *msg, size_t msglen);

/* ---- BME280 ---- */

struct bme280_calib {
	uint16_t t1;
	int16_t t2, t3;
	uint16_t p1;
	int16_t p2, p3, p4, p5, p6, p7, p8, p9;
	uint8_t h1, h3;
	int16_t h2, h4, h5;
	int8_t h6;
};

/* From the calibration registers 0x88..0xA1 (26 bytes) and 0xE1..0xE7. */
void bme280_calib_parse(const uint8_t tp[26], const uint8_t hum[7], struct bme280_calib *c);
/* The datasheet's integer compensation: t_fine from the raw temperature;
 * temperature in 0.01 degC, pressure in Pa as Q24.8, humidity in %RH as
 * Q22.10. */
int32_t bme280_t_fine(const struct bme280_calib *c, int32_t adc_t);
int32_t bme280_temperature(int32_t t_fine);
uint32_t bme280_pressure(const struct bme280_calib *c, int32_t t_fine, int32_t adc_p);
uint32_t bme280_humidity(const struct bme280_calib *c, int32_t t_fine, int32_t adc_h);

/* ---- Sensirion ---- */

/* CRC-8, polynomial 0x31, initial value 0xFF (SHT3x, SHT4x). */
uint8_t sht_crc8(const uint8_t *p, size_t n);

/* ---- generic registers ---- */

struct i2c_reg {
	uint16_t addr;
	uint8_t reg;
	uint8_t len; /* bytes: 1, 2 or 4 */
	struct mb_format fmt;
};

/* Parse a type ("u8" ... "float") and an order ("big", "little" or the
 * modbus letters ABCD, DCBA, BADC, CDAB) into r. */
int i2c_reg_type_parse(const char *type, struct i2c_reg *r);
int i2c_reg_order_parse(const char *order, struct i2c_reg *r);
/* bytes[0 .. r->len) <-> value. */
int i2c_reg_decode(const struct i2c_reg *r, const uint8_t *bytes, struct gwd_value *out);
int i2c_reg_encode(const struct i2c_reg *r, const struct gwd_value *v, uint8_t *bytes);
/* On the bus: read or write the register. */
int i2c_reg_read(struct i2c_bus *b, const struct i2c_reg *r, struct gwd_value *out, char *msg,
		 size_t msglen);
int i2c_reg_write(struct i2c_bus *b, const struct i2c_reg *r, const struct gwd_value *v,
		  char *msg, size_t msglen);

#endif
