/* The generic decoder: fields described in config (a name, a byte offset,
 * a type, a byte order, value = raw * scale + add). */
#include "decode_util.h"

#include <errno.h>
#include <math.h>

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
