/* Shared helpers of the advert decoders; see decode_util.h. */
#include "decode_util.h"

#include <math.h>
#include <string.h>

size_t ble_type_size(enum ble_gen_type t)
{
	switch (t) {
	case BLE_GEN_U8:
	case BLE_GEN_S8:
		return 1;
	case BLE_GEN_U16:
	case BLE_GEN_S16:
		return 2;
	case BLE_GEN_U24:
	case BLE_GEN_S24:
		return 3;
	case BLE_GEN_U32:
	case BLE_GEN_S32:
	case BLE_GEN_F32:
		return 4;
	}
	return 0;
}

static uint32_t read_uint(const uint8_t *p, size_t n, bool big_endian)
{
	uint32_t u = 0;

	for (size_t i = 0; i < n; i++)
		u |= (uint32_t)p[big_endian ? n - 1 - i : i] << (8 * i);
	return u;
}

/* The integer of type t at p, sign-extended for the signed types. */
static int64_t read_int(const uint8_t *p, enum ble_gen_type t, bool big_endian)
{
	size_t n = ble_type_size(t);
	uint32_t u = read_uint(p, n, big_endian);
	bool is_signed = t == BLE_GEN_S8 || t == BLE_GEN_S16 || t == BLE_GEN_S24 ||
			 t == BLE_GEN_S32;

	if (is_signed && (u & (UINT32_C(1) << (8 * n - 1))))
		return (int64_t)u - ((int64_t)1 << (8 * n));
	return u;
}

bool ble_read_raw(const uint8_t *p, enum ble_gen_type t, bool big_endian, double *v)
{
	if (ble_type_size(t) == 0)
		return false;
	if (t == BLE_GEN_F32) {
		uint32_t u = read_uint(p, 4, big_endian);
		float f;

		memcpy(&f, &u, sizeof(f));
		if (!isfinite(f))
			return false;
		*v = f;
		return true;
	}
	*v = (double)read_int(p, t, big_endian);
	return true;
}

bool ble_put(struct ble_reading *out, size_t max, size_t *n, const char *name, double v)
{
	unsigned idx = 0;

	if (*n >= max)
		return false;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i].name, name) == 0)
			idx++;
	out[*n].name = name;
	out[*n].index = (uint8_t)(idx > UINT8_MAX ? UINT8_MAX : idx);
	out[*n].value = v;
	(*n)++;
	return true;
}

/* Ruuvi's luminosity code: 254 steps of equal ratio from 0 to 65535 lx,
 * rounded to 0.01 lx as its format note asks. */
static double log_lux(uint32_t code)
{
	double v = exp((double)code * log(65536.0) / 254.0) - 1.0;

	return round(v * 100.0) / 100.0;
}

int ble_fields_decode(const uint8_t *data, size_t len, const struct ble_field *f, size_t nf,
		      struct ble_reading *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < nf; i++) {
		const struct ble_field *fl = &f[i];
		enum ble_gen_type t = (enum ble_gen_type)fl->type;
		int64_t raw;
		double v;

		if (fl->off + ble_type_size(t) > len)
			continue; /* the caller's length check makes this unreachable */
		raw = read_int(data + fl->off, t, !fl->little_endian);
		if (fl->kind == BLE_FK_LSB_IN_FLAGS) {
			if (fl->aux_off >= len)
				continue;
			raw = (raw << 1) | ((data[fl->aux_off] >> fl->aux_bit) & 1);
		} else {
			raw >>= fl->shift;
			if (fl->mask)
				raw &= fl->mask;
		}
		if (fl->has_na && raw == fl->na)
			continue;
		if (fl->kind == BLE_FK_LOG_LUX)
			v = log_lux((uint32_t)raw);
		else
			v = (double)raw * fl->scale + fl->add;
		ble_put(out, max, &n, fl->name, v);
	}
	return (int)n;
}
