/* libFuzzer target: the SenML CBOR decoder (first input byte picks the
 * base), then the encode/decode round trip. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_records(LWM_FMT_SENML_CBOR, data, size);
}
