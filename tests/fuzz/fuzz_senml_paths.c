/* libFuzzer target: SenML path lists (Read-Composite requests); the first
 * input byte picks JSON or CBOR. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm_path paths[FUZZ_MAX_RECS];
	uint8_t *copy;
	size_t n;
	int r;

	if (size < 1)
		return 0;
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	r = lwm_senml_paths_decode(data[0] & 1 ? LWM_FMT_SENML_CBOR : LWM_FMT_SENML_JSON, copy,
				   size - 1, paths, FUZZ_MAX_RECS, &n);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			if (paths[i].len > 4)
				abort();
			for (unsigned k = 0; k < paths[i].len; k++) {
				if (paths[i].id[k] == LWM_ID_NONE)
					abort();
			}
		}
	} else if (n != 0) {
		abort();
	}
	free(copy);
	return 0;
}
