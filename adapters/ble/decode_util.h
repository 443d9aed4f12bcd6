/* Shared by the advert decoders (not part of the decoder interface): raw
 * integer reads, the table-driven field walker, and the one place readings
 * are appended (which numbers them per name). */
#ifndef BLE_DECODE_UTIL_H
#define BLE_DECODE_UTIL_H

#include "ble_decode.h"

/* Width in bytes of a ble_gen_type (0 for an unknown one). */
size_t ble_type_size(enum ble_gen_type t);

/* The raw value of type t at p (ble_type_size(t) bytes), sign-extended for
 * the signed types; false for a NaN or infinite F32 or an unknown type. */
bool ble_read_raw(const uint8_t *p, enum ble_gen_type t, bool big_endian, double *v);

/* Appends (name, v) to out unless it is full, with the index of the next
 * reading of that name; returns false when out was full. */
bool ble_put(struct ble_reading *out, size_t max, size_t *n, const char *name, double v);

/* One field of a fixed-layout frame (Ruuvi, atc1441, pvvx). */
enum ble_field_kind {
	BLE_FK_PLAIN, /* ((raw >> shift) & mask) * scale + add */
	/* 9-bit index: the byte at off is bits 8..1, bit aux_bit of the byte
	 * at aux_off is bit 0 (Ruuvi formats 6 and E1, VOC and NOx) */
	BLE_FK_LSB_IN_FLAGS,
	/* Ruuvi format 6 luminosity: 8-bit code on a log scale to 65535 lx */
	BLE_FK_LOG_LUX,
};
struct ble_field {
	const char *name;
	uint8_t off;
	uint8_t type; /* enum ble_gen_type */
	uint8_t kind; /* enum ble_field_kind */
	bool little_endian; /* pvvx; every other layout is MSB first */
	uint8_t shift;
	uint32_t mask; /* 0: all bits */
	bool has_na;
	int32_t na; /* the value (after shift and mask) meaning "not available" */
	uint8_t aux_off, aux_bit;
	double scale, add;
};

/* Reads every field of a frame of len bytes (which the caller checked is
 * long enough for all of them), appending the available ones to out.
 * Returns the count in out. */
int ble_fields_decode(const uint8_t *data, size_t len, const struct ble_field *f, size_t nf,
		      struct ble_reading *out, size_t max);

#endif
