/* The body of the single-value targets (text/plain, application/cbor): the
 * first input byte picks the resource and so its type (and, top bit set,
 * a resource instance), the rest is the payload. */
#ifndef FUZZ_SINGLE_H
#define FUZZ_SINGLE_H

#include "fuzz_common.h"

static int fuzz_single(uint16_t fmt, const uint8_t *data, size_t size)
{
	struct lwm_record rec;
	struct lwm_path base;
	struct lwm_buf scratch;
	uint8_t *copy;
	size_t n;
	int r;

	if (size < 1)
		return 0;
	base = lwm_path_make(data[0] & 0x80 ? 4 : 3, 9, 0, data[0] & 0x7f, 1);
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	lwm_buf_init(&scratch, 0);
	r = lwm_decode_ex(fmt, &base, copy, size - 1, fuzz_type, NULL, &rec, 1, &n, &scratch);
	if (r == 0) {
		if (n != 1 || lwm_path_cmp(&rec.path, &base) != 0)
			abort();
		fuzz_check_output(&base, &rec, 1);
		fuzz_round_trip(fmt, &base, &rec, 1);
	} else if (n != 0) {
		abort();
	}
	lwm_buf_free(&scratch);
	free(copy);
	return 0;
}

#endif
