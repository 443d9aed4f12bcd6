/* The generic decoder: fields described in config (a name, a byte offset,
 * a type, a byte order, value = raw * scale + add). */
#include "decode_util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const type_names[] = {
	[BLE_GEN_U8] = "u8",   [BLE_GEN_S8] = "s8",   [BLE_GEN_U16] = "u16",
	[BLE_GEN_S16] = "s16", [BLE_GEN_U24] = "u24", [BLE_GEN_S24] = "s24",
	[BLE_GEN_U32] = "u32", [BLE_GEN_S32] = "s32", [BLE_GEN_F32] = "f32",
};

int ble_gen_type_parse(const char *s, enum ble_gen_type *t)
{
	for (size_t i = 0; s && i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(s, type_names[i]) == 0) {
			*t = (enum ble_gen_type)i;
			return 0;
		}
	return -EINVAL;
}

int ble_decode_generic(const uint8_t *data, size_t len, const struct ble_gen_field *fields,
		       size_t n_fields, struct ble_reading *out, size_t max)
{
	size_t n = 0;

	if (!data && len)
		return -EBADMSG;
	for (size_t i = 0; i < n_fields; i++) {
		const struct ble_gen_field *f = &fields[i];
		size_t w = ble_type_size(f->type);
		double v;

		if (w == 0)
			return -EINVAL; /* a config error, not the advert's */
		/* past the end (a shorter advert of the same device): no reading */
		if ((size_t)f->offset + w > len)
			continue;
		if (!ble_read_raw(data + f->offset, f->type, f->big_endian, &v))
			continue; /* NaN / infinite float */
		v = v * f->scale + f->add;
		if (!isfinite(v))
			continue;
		ble_put(out, max, &n, f->name, v);
	}
	return (int)n;
}
