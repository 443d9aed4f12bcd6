/* TEMPORARY (feat-bleadp only): just enough of ble_decode.h for the
 * adapter's own tests to run before the real decoders (adapters/ble/
 * decode_*.c, another branch) are merged.  Plaintext BTHome v2 with a few
 * object ids, and the generic decoder; everything else says -ENOTSUP.
 * The merge deletes this file and links the real decoders instead (see the
 * marked block of adapters/ble/local.mk).  Not a decoder to ship. */
#include <errno.h>
#include <string.h>

#include "ble_decode.h"

static const struct {
	uint8_t id, size;
	bool is_signed;
	double scale;
	const char *name;
} stub_objs[] = {
	{0x01, 1, false, 1, "battery"},     {0x02, 2, true, 0.01, "temperature"},
	{0x03, 2, false, 0.01, "humidity"}, {0x04, 3, false, 0.01, "pressure"},
	{0x0c, 2, false, 0.001, "voltage"}, {0x2e, 1, false, 1, "humidity"},
};

int ble_decode_bthome(const uint8_t *data, size_t len, const uint8_t *key,
		      struct ble_bthome_state *st, const uint8_t mac[6], struct ble_reading *out,
		      size_t max)
{
	size_t i = 1, n = 0;

	if (len < 1 || (data[0] >> 5) != 2)
		return -EBADMSG;
	if (data[0] & 1)
		return -ENOTSUP; /* the stub has no crypto */
	if (key)
		return -EACCES;
	while (i < len) {
		uint8_t id = data[i++];
		size_t k;

		if (id == 0x00) { /* packet id */
			if (i >= len)
				return -EBADMSG;
			if (st->has_packet_id && st->packet_id == data[i])
				return -EALREADY;
			st->has_packet_id = true;
			st->packet_id = data[i++];
			continue;
		}
		for (k = 0; k < sizeof(stub_objs) / sizeof(stub_objs[0]); k++)
			if (stub_objs[k].id == id)
				break;
		if (k == sizeof(stub_objs) / sizeof(stub_objs[0]))
			return -ENOTSUP;
		if (i + stub_objs[k].size > len)
			return -EBADMSG;
		{
			uint32_t raw = 0;
			int64_t v;
			uint8_t idx = 0;

			for (size_t b = 0; b < stub_objs[k].size; b++)
				raw |= (uint32_t)data[i + b] << (8 * b);
			v = raw;
			if (stub_objs[k].is_signed && (raw >> (8 * stub_objs[k].size - 1)) & 1)
				v -= (int64_t)1 << (8 * stub_objs[k].size);
			i += stub_objs[k].size;
			for (size_t j = 0; j < n; j++)
				if (strcmp(out[j].name, stub_objs[k].name) == 0)
					idx++;
			if (n < max)
				out[n++] = (struct ble_reading){stub_objs[k].name, idx,
								(double)v * stub_objs[k].scale};
		}
	}
	return (int)n;
}

int ble_decode_atc_pvvx(const uint8_t *data, size_t len, struct ble_reading *out, size_t max)
{
	return -ENOTSUP;
}

int ble_decode_ruuvi(const uint8_t *data, size_t len, struct ble_reading *out, size_t max)
{
	return -ENOTSUP;
}

int ble_decode_generic(const uint8_t *data, size_t len, const struct ble_gen_field *fields,
		       size_t n_fields, struct ble_reading *out, size_t max)
{
	static const uint8_t sizes[] = {1, 1, 2, 2, 3, 3, 4, 4, 4};
	size_t n = 0;

	for (size_t f = 0; f < n_fields && n < max; f++) {
		const struct ble_gen_field *g = &fields[f];
		size_t sz = sizes[g->type];
		uint32_t raw = 0;
		double v;

		if ((size_t)g->offset + sz > len)
			continue;
		for (size_t b = 0; b < sz; b++) {
			size_t at = g->big_endian ? g->offset + sz - 1 - b : g->offset + b;

			raw |= (uint32_t)data[at] << (8 * b);
		}
		if (g->type == BLE_GEN_F32) {
			float fl;

			memcpy(&fl, &raw, sizeof(fl));
			v = fl;
		} else if (g->type == BLE_GEN_S8 || g->type == BLE_GEN_S16 ||
			   g->type == BLE_GEN_S24 || g->type == BLE_GEN_S32) {
			int64_t s = raw;

			if ((raw >> (8 * sz - 1)) & 1)
				s -= (int64_t)1 << (8 * sz);
			v = (double)s;
		} else {
			v = raw;
		}
		out[n++] = (struct ble_reading){g->name, 0, v * g->scale + g->add};
	}
	return (int)n;
}
