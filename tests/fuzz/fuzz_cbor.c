/* libFuzzer target: the application/cbor decoder, then the round trip. */
#include "fuzz_single.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_single(LWM_FMT_CBOR, data, size);
}
