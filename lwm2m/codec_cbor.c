/* application/cbor (60): one resource value as one CBOR item (LwM2M 1.1
 * Core TS, section 7.4.5): integers, floats (any width on input, the
 * shortest exact one on output), booleans, text strings, byte strings
 * (opaque), time as an integer (tag 1 accepted on input), object links as
 * "oid:iid" text. */
#include "codec.h"
#include "cbor_io.h"

#include <errno.h>

int lwm_cbor_encode(const struct lwm_record *rec, struct lwm_buf *out)
{
	return lwm_cbor_put_value(out, &rec->value);
}

int lwm_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
		       enum lwm_type type, struct lwm_record *out, struct lwm_buf *scratch)
{
	struct lwm_cbor_strs strs = {scratch, 0, true};
	struct lwm_cbor_rd rd;
	struct lwm_cbor_item it;
	struct lwm_value v;
	int r;

	if (len > LWM_CBOR_MAX_PAYLOAD)
		return -E2BIG;
	if (len == 0 || !p)
		return -EBADMSG;
	for (;;) {
		lwm_cbor_rd_init(&rd, p, len);
		r = lwm_cbor_next(&rd, &it);
		if (r == 0)
			r = lwm_cbor_value(&rd, &it, type, &strs, &v);
		if (r)
			return r;
		if (rd.off != len)
			return -EBADMSG; /* one item, nothing after it */
		if (!strs.measure || strs.need == 0)
			break;
		/* An indefinite-length string: collect it in scratch. */
		if (!scratch)
			return -ENOBUFS;
		r = lwm_buf_reserve(scratch, strs.need);
		if (r)
			return r;
		strs.measure = false;
	}
	out->path = *base;
	out->value = v;
	return 0;
}
