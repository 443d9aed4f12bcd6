/* libFuzzer target: the atc1441 / pvvx decoder (first input byte: the
 * size of the out array). */
#include "fuzz_ble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ble_reading out[BLE_READINGS_MAX];
	size_t max;
	uint8_t *in;

	if (size < 1)
		return 0;
	max = data[0] % BLE_READINGS_MAX;
	in = fuzz_ble_copy(data + 1, size - 1);
	if (!in)
		return 0;
	fuzz_ble_check(ble_decode_atc_pvvx(in, size - 1, out, max), out, max);
	free(in);
	return 0;
}
