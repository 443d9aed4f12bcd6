/* Record builders shared by the codec unit tests. */
#ifndef GW_CODEC_TEST_H
#define GW_CODEC_TEST_H

#include <string.h>

#include "lwm2m/lwm_types.h"

#define P3(o, i, r) lwm_path_make(3, o, i, r, 0)
#define P4(o, i, r, ri) lwm_path_make(4, o, i, r, ri)

static const struct lwm_path root __attribute__((unused)) = {{0, 0, 0, 0}, 0};

/* A record of type t at p with a zero value. */
static inline struct lwm_record rec(struct lwm_path p, enum lwm_type t)
{
	struct lwm_record r;

	memset(&r, 0, sizeof(r));
	r.path = p;
	r.value.type = t;
	return r;
}

/* A record holding len bytes of s (borrowed). */
static inline struct lwm_record str(struct lwm_path p, enum lwm_type t, const char *s, size_t len)
{
	struct lwm_record r = rec(p, t);

	r.value.v.bytes.ptr = (const uint8_t *)s;
	r.value.v.bytes.len = len;
	return r;
}

#endif
