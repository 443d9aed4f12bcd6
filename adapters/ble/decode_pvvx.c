/* Xiaomi LYWSD03MMC (and relatives) running the custom firmwares, service
 * data 0x181A.  atc1441's format: 13 bytes, MSB first (MAC, temperature
 * 0.1 °C, humidity %, battery %, battery mV, frame counter).  pvvx's
 * "custom" format: 15 bytes, LSB first (MAC reversed, temperature 0.01 °C,
 * humidity 0.01 %, battery mV, battery %, measurement counter, flags).
 * Neither has a "not available" value. */
#include "decode_util.h"

#include <errno.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct ble_field atc1441[] = {
	{"temperature", 6, BLE_GEN_S16, .scale = 0.1},
	{"humidity", 8, BLE_GEN_U8, .scale = 1.0},
	{"battery", 9, BLE_GEN_U8, .scale = 1.0},
	{"voltage", 10, BLE_GEN_U16, .scale = 0.001},
	{"sequence", 12, BLE_GEN_U8, .scale = 1.0},
};

static const struct ble_field pvvx[] = {
	{"temperature", 6, BLE_GEN_S16, .little_endian = true, .scale = 0.01},
	{"humidity", 8, BLE_GEN_U16, .little_endian = true, .scale = 0.01},
	{"voltage", 10, BLE_GEN_U16, .little_endian = true, .scale = 0.001},
	{"battery", 12, BLE_GEN_U8, .scale = 1.0},
	{"sequence", 13, BLE_GEN_U8, .scale = 1.0},
	/* bit 0 reed switch input, bit 1 GPIO_TRG output, bits 2/3 the
	 * temperature/humidity triggers */
	{"flags", 14, BLE_GEN_U8, .scale = 1.0},
};

int ble_decode_atc_pvvx(const uint8_t *data, size_t len, struct ble_reading *out, size_t max)
{
	if (!data || len == 0)
		return -EBADMSG;
	if (len == 13)
		return ble_fields_decode(data, len, atc1441, N(atc1441), out, max);
	if (len == 15)
		return ble_fields_decode(data, len, pvvx, N(pvvx), out, max);
	/* pvvx's encrypted and Mi-like variants have other lengths */
	return -ENOTSUP;
}
