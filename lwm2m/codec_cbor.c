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

struct one {
	const struct lwm_path *base;
	enum lwm_type type;
	struct lwm_record *out;
};

/* The payload is one item, nothing after it. */
static int one_pass(void *ctx, struct lwm_cbor_strs *strs, const uint8_t *p, size_t len,
		    size_t *n)
{
	struct one *o = ctx;
	struct lwm_cbor_rd rd;
	struct lwm_cbor_item it;
	int r;

	lwm_cbor_rd_init(&rd, p, len);
	r = lwm_cbor_next(&rd, &it);
	if (r == 0)
		r = lwm_cbor_value(&rd, &it, o->type, strs, &o->out->value);
	if (r == 0 && rd.off != len)
		r = -EBADMSG;
	o->out->path = *o->base;
	*n = 1;
	return r;
}

int lwm_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
		       enum lwm_type type, struct lwm_record *out, struct lwm_buf *scratch)
{
	struct one o = {base, type, out};
	size_t n;

	return lwm_cbor_decode_records(p, len, scratch, one_pass, &o, out, &n);
}
