/* Shared by the BLE advert decoder fuzz targets: what every decoder
 * promises of its output. */
#ifndef FUZZ_BLE_H
#define FUZZ_BLE_H

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/ble/ble_decode.h"

/* An exact-size copy, so that ASan sees a read past the end. */
static uint8_t *fuzz_ble_copy(const uint8_t *data, size_t size)
{
	uint8_t *c = malloc(size ? size : 1);

	if (c && size)
		memcpy(c, data, size);
	return c;
}

/* r: a decoder's return for out[max]; known: its documented errors. */
static void fuzz_ble_check(int r, const struct ble_reading *out, size_t max)
{
	if (r < 0) {
		if (r != -EBADMSG && r != -ENOTSUP && r != -EALREADY && r != -EACCES &&
		    r != -EINVAL)
			abort();
		return;
	}
	if ((size_t)r > max)
		abort();
	for (int i = 0; i < r; i++) {
		unsigned same = 0;

		if (!out[i].name || !out[i].name[0] || !isfinite(out[i].value))
			abort();
		for (int j = 0; j < i; j++)
			same += strcmp(out[j].name, out[i].name) == 0;
		if (out[i].index != (same > 255 ? 255 : same))
			abort(); /* readings of one name are numbered 0, 1, ... */
	}
}

static void fuzz_ble_same(int r1, const struct ble_reading *a, int r2,
			  const struct ble_reading *b)
{
	if (r1 != r2)
		abort();
	for (int i = 0; i < r1; i++)
		if (strcmp(a[i].name, b[i].name) != 0 || a[i].index != b[i].index ||
		    a[i].value != b[i].value)
			abort();
}

#endif
