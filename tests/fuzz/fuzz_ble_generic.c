/* libFuzzer target: the generic decoder.  The first input byte is the
 * number of fields (up to 8), each described by the next 4 bytes (offset,
 * two bytes; type and byte order; scale); the rest is the advert. */
#include "fuzz_ble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"a", "b", "c"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ble_gen_field f[8];
	struct ble_reading out[BLE_READINGS_MAX];
	size_t nf, hdr;
	uint8_t *in;
	int r;

	if (size < 1)
		return 0;
	nf = data[0] % 9;
	hdr = 1 + nf * 4;
	if (size < hdr)
		return 0;
	for (size_t i = 0; i < nf; i++) {
		const uint8_t *d = data + 1 + i * 4;

		f[i].name = names[i % 3];
		f[i].offset = (uint16_t)(d[0] | d[1] << 8);
		f[i].type = (enum ble_gen_type)(d[2] % 10); /* 9: not a type */
		f[i].big_endian = d[2] & 0x80;
		f[i].scale = (double)(int8_t)d[3] / 8.0;
		f[i].add = (double)(d[3] & 0x0F);
	}
	in = fuzz_ble_copy(data + hdr, size - hdr);
	if (!in)
		return 0;
	r = ble_decode_generic(in, size - hdr, f, nf, out, BLE_READINGS_MAX);
	fuzz_ble_check(r, out, BLE_READINGS_MAX);
	if (r > (int)nf)
		abort(); /* one reading per field at most */
	free(in);
	return 0;
}
