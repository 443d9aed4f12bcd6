/* BLE advertisement decoders: pure functions from the bytes of one advert's
 * service data or manufacturer data to named readings.  No BlueZ, no D-Bus,
 * no allocation: the adapter (ble.c) hands each decoder the bytes BlueZ
 * gave it and maps the readings onto the device's points by name.
 *
 * Reading names are the stable keys users write in a point's `measure`
 * (adapters/ble/README.md lists them): "temperature" (°C), "humidity" (%),
 * "pressure" (hPa), "illuminance" (lx), "voltage" (V), "battery" (%),
 * "rssi"... each decoder documents the ones it yields.  A format that
 * carries the same quantity several times (BTHome) numbers them with
 * `index` 0, 1, ... in the order they appear. */
#ifndef BLE_DECODE_H
#define BLE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 16-bit service UUIDs the decoders recognise. */
#define BLE_UUID_BTHOME 0xFCD2u
#define BLE_UUID_ENV_SENSING 0x181Au /* atc1441 / pvvx custom firmwares */
/* Bluetooth SIG company id of Ruuvi Innovations (manufacturer data). */
#define BLE_COMPANY_RUUVI 0x0499u

struct ble_reading {
	const char *name; /* static string, e.g. "temperature" */
	uint8_t index;    /* nth reading of that name in this advert */
	double value;     /* in the unit the name documents */
};

/* An out array this long is never cut short: the longest advert (254 bytes
 * of extended-advertising service data) holds at most 126 BTHome objects.
 * With a smaller max, readings past max are left out (not an error). */
#define BLE_READINGS_MAX 128

/* Decoders return the number of readings written to out (at most max), or
 * a negative errno: -EBADMSG (malformed, truncated), -ENOTSUP (a version or
 * variant this decoder does not know), -EALREADY (a duplicate packet: same
 * packet id / counter as the last one, nothing new), -EACCES (encryption:
 * wrong key, bad MIC, replayed counter, or plaintext from a device that has
 * a key; also an encrypted advert from a device that has none), -EINVAL
 * (the caller's: an encrypted advert and no mac; a generic field of an
 * unknown type).  A negative return leaves st as it was. */

/* BTHome v2 (service data 0xFCD2).  key: the device's 16-byte bind key, or
 * NULL when it has none.  st: per-device state kept by the caller between
 * adverts (packet id de-duplication, encryption counter), zero-initialised
 * for a new device.  mac: the device's address, most significant byte
 * first (as in "A4:C1:38:..."), needed for the nonce. */
struct ble_bthome_state {
	bool has_packet_id;
	uint8_t packet_id;
	bool has_counter;
	uint32_t counter;
};
int ble_decode_bthome(const uint8_t *data, size_t len, const uint8_t *key,
		      struct ble_bthome_state *st, const uint8_t mac[6],
		      struct ble_reading *out, size_t max);

/* The BTHome device information byte (the first byte of the service data),
 * e.g. for the adapter to spare a trigger-based device (one that only
 * advertises when something happens) the silence timeout.  Returns 0,
 * -EBADMSG (no data) or -ENOTSUP (not version 2; info is filled anyway). */
struct ble_bthome_info {
	uint8_t version;    /* bits 5-7: 2 for BTHome v2 */
	bool encrypted;     /* bit 0 */
	bool mac_included;  /* bit 1: the device's MAC follows (reversed) */
	bool trigger_based; /* bit 2: irregular adverts, on events only */
};
int ble_bthome_info(const uint8_t *data, size_t len, struct ble_bthome_info *info);

/* Xiaomi LYWSD03MMC custom firmwares on service data 0x181A: atc1441
 * (13 bytes) and pvvx (15 bytes); the length tells them apart. */
int ble_decode_atc_pvvx(const uint8_t *data, size_t len, struct ble_reading *out, size_t max);

/* RuuviTag manufacturer data (company id 0x0499 already stripped): data
 * formats 5 (RAWv2), 6 (Ruuvi Air, Bluetooth 4) and E1 (Ruuvi Air,
 * extended advertising).  A field at its "not available" value yields no
 * reading. */
int ble_decode_ruuvi(const uint8_t *data, size_t len, struct ble_reading *out, size_t max);

/* The generic decoder: one value at a byte offset of service data or
 * manufacturer data, described in config. */
enum ble_gen_type {
	BLE_GEN_U8, BLE_GEN_S8, BLE_GEN_U16, BLE_GEN_S16, BLE_GEN_U24, BLE_GEN_S24,
	BLE_GEN_U32, BLE_GEN_S32, BLE_GEN_F32,
};
struct ble_gen_field {
	const char *name;      /* the reading's name (the point's measure) */
	uint16_t offset;       /* byte offset in the data */
	enum ble_gen_type type;
	bool big_endian;
	double scale, add;     /* value = raw * scale + add */
};
/* A type by its config name: "u8" "s8" "u16" "s16" "u24" "s24" "u32" "s32"
 * "f32"; 0 or -EINVAL. */
int ble_gen_type_parse(const char *s, enum ble_gen_type *t);

/* One reading per field whose bytes are all present; a field past the
 * end is skipped (not an error); returns the count. */
int ble_decode_generic(const uint8_t *data, size_t len, const struct ble_gen_field *fields,
		       size_t n_fields, struct ble_reading *out, size_t max);

#endif
