/* RuuviTag / Ruuvi Air manufacturer data (company 0x0499): data formats 5
 * (RAWv2, 24 bytes), 6 (20 bytes) and E1 (40 bytes), as laid out in
 * Ruuvi's published format notes.  All fields are MSB first; a field at its
 * "not available" value yields no reading.  The MAC bytes in the frame are
 * not readings (the adapter knows the device's address). */
#include "decode_util.h"

#include <errno.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Pressure is sent in Pa minus 50000; readings are in hPa. */
#define PRESSURE_HPA .scale = 0.01, .add = 500.0

static const struct ble_field ruuvi5[] = {
	{"temperature", 1, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.005},
	{"humidity", 3, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.0025},
	{"pressure", 5, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, PRESSURE_HPA},
	{"acceleration_x", 7, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.001},
	{"acceleration_y", 9, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.001},
	{"acceleration_z", 11, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.001},
	/* power info: 11 bits of battery mV above 1600, 5 bits of tx power in
	 * 2 dBm steps from -40 */
	{"voltage", 13, BLE_GEN_U16, .shift = 5, .mask = 0x7FF, .has_na = true, .na = 0x7FF,
	 .scale = 0.001, .add = 1.6},
	{"tx_power", 13, BLE_GEN_U16, .mask = 0x1F, .has_na = true, .na = 0x1F, .scale = 2.0,
	 .add = -40.0},
	{"movement_counter", 15, BLE_GEN_U8, .has_na = true, .na = 0xFF, .scale = 1.0},
	{"sequence", 16, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 1.0},
};

static const struct ble_field ruuvi6[] = {
	{"temperature", 1, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.005},
	{"humidity", 3, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.0025},
	{"pressure", 5, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, PRESSURE_HPA},
	{"pm2_5", 7, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.1},
	{"co2", 9, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 1.0},
	{"voc_index", 11, BLE_GEN_U8, BLE_FK_LSB_IN_FLAGS, .has_na = true, .na = 0x1FF,
	 .aux_off = 16, .aux_bit = 6, .scale = 1.0},
	{"nox_index", 12, BLE_GEN_U8, BLE_FK_LSB_IN_FLAGS, .has_na = true, .na = 0x1FF,
	 .aux_off = 16, .aux_bit = 7, .scale = 1.0},
	{"illuminance", 13, BLE_GEN_U8, BLE_FK_LOG_LUX, .has_na = true, .na = 0xFF},
	/* the low byte of the E1 counter: every value is valid */
	{"sequence", 15, BLE_GEN_U8, .scale = 1.0},
	{"calibrating", 16, BLE_GEN_U8, .mask = 0x01, .scale = 1.0},
};

static const struct ble_field ruuvi_e1[] = {
	{"temperature", 1, BLE_GEN_S16, .has_na = true, .na = -32768, .scale = 0.005},
	{"humidity", 3, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.0025},
	{"pressure", 5, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, PRESSURE_HPA},
	{"pm1_0", 7, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.1},
	{"pm2_5", 9, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.1},
	{"pm4_0", 11, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.1},
	{"pm10", 13, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 0.1},
	{"co2", 15, BLE_GEN_U16, .has_na = true, .na = 0xFFFF, .scale = 1.0},
	{"voc_index", 17, BLE_GEN_U8, BLE_FK_LSB_IN_FLAGS, .has_na = true, .na = 0x1FF,
	 .aux_off = 28, .aux_bit = 6, .scale = 1.0},
	{"nox_index", 18, BLE_GEN_U8, BLE_FK_LSB_IN_FLAGS, .has_na = true, .na = 0x1FF,
	 .aux_off = 28, .aux_bit = 7, .scale = 1.0},
	{"illuminance", 19, BLE_GEN_U24, .has_na = true, .na = 0xFFFFFF, .scale = 0.01},
	{"sequence", 25, BLE_GEN_U24, .has_na = true, .na = 0xFFFFFF, .scale = 1.0},
	{"calibrating", 28, BLE_GEN_U8, .mask = 0x01, .scale = 1.0},
};

static const struct {
	uint8_t format;
	uint8_t len;
	const struct ble_field *fields;
	size_t n;
} formats[] = {
	{0x05, 24, ruuvi5, N(ruuvi5)},
	{0x06, 20, ruuvi6, N(ruuvi6)},
	{0xE1, 40, ruuvi_e1, N(ruuvi_e1)},
};

int ble_decode_ruuvi(const uint8_t *data, size_t len, struct ble_reading *out, size_t max)
{
	if (!data || len < 1)
		return -EBADMSG;
	for (size_t i = 0; i < N(formats); i++) {
		if (formats[i].format != data[0])
			continue;
		/* fixed sizes: anything else is a damaged frame */
		if (len != formats[i].len)
			return -EBADMSG;
		return ble_fields_decode(data, len, formats[i].fields, formats[i].n, out, max);
	}
	return -ENOTSUP; /* formats 3, 8, C5 (or future ones) */
}
