/* Internal to the codecs: a CBOR (RFC 8949) item reader on libcbor's
 * streaming decoder and a small CBOR writer.
 *
 * Why not cbor_load: it builds a tree of allocated items and recurses once
 * per nesting level with no limit of its own, so a payload of a few
 * thousand 0x81 bytes would run the stack down.  The reader below hands
 * out one item head at a time (libcbor's cbor_stream_decode does the byte
 * work and bounds every read by the buffer), and each codec walks the
 * structure it expects with its own depth count. */
#ifndef LWM_CBOR_IO_H
#define LWM_CBOR_IO_H

#include "codec.h"

#define LWM_CBOR_MAX_PAYLOAD 65536 /* larger payloads are -E2BIG */
#define LWM_CBOR_MAX_DEPTH 8       /* arrays/maps nested deeper are -E2BIG */

enum lwm_cbor_kind {
	LWM_CB_UINT,
	LWM_CB_NEGINT, /* the value is -1 - u */
	LWM_CB_BYTES,
	LWM_CB_TEXT,
	LWM_CB_ARRAY,
	LWM_CB_MAP,
	LWM_CB_TAG,
	LWM_CB_FLOAT, /* half, single or double, widened to double */
	LWM_CB_BOOL,
	LWM_CB_NULL,
	LWM_CB_UNDEF,
	LWM_CB_BREAK,
};

/* One item head.  A definite BYTES/TEXT item carries its bytes (ptr, len,
 * pointing into the payload; TEXT already checked to be UTF-8); an
 * indefinite one (indef) is followed by definite chunks of the same kind
 * and a BREAK.  ARRAY/MAP: u is the count unless indef (then items up to a
 * BREAK).  TAG: u is the tag number; the tagged item follows. */
struct lwm_cbor_item {
	enum lwm_cbor_kind kind;
	bool indef;
	uint64_t u;
	double f;
	bool b;
	const uint8_t *ptr;
	size_t len;
};

struct lwm_cbor_rd {
	const uint8_t *p;
	size_t len, off;
};

static inline void lwm_cbor_rd_init(struct lwm_cbor_rd *rd, const uint8_t *p, size_t len)
{
	rd->p = p;
	rd->len = len;
	rd->off = 0;
}

/* Reads the next item head.  0, or -EBADMSG (truncated, reserved or
 * unsupported encodings such as simple values other than false/true/null/
 * undefined, invalid UTF-8 in a text string, a count larger than the bytes
 * left could hold). */
int lwm_cbor_next(struct lwm_cbor_rd *rd, struct lwm_cbor_item *it);

/* Skips the rest of the item whose head is it (its contents for arrays,
 * maps, tags and indefinite strings), which sits at nesting depth `depth`
 * (1 for a top-level array's items).  0, -EBADMSG, or -E2BIG when it nests
 * past LWM_CBOR_MAX_DEPTH. */
int lwm_cbor_skip(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, unsigned depth);

/* Collects the string whose head is it (TEXT or BYTES, definite or not)
 * into buf (cap bytes; buf may be NULL with cap 0 to only measure).  *len
 * gets its length.  0, -EBADMSG, or -E2BIG when it does not fit in cap. */
int lwm_cbor_string(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, uint8_t *buf,
		    size_t cap, size_t *len);

/* Where the codecs put string values that arrive in indefinite-length
 * chunks and so appear nowhere whole in the payload.  Decoders run once
 * with measure set, adding up need; when need ends up non-zero they
 * reserve that much in scratch and run again with measure clear (see the
 * scratch rules in codec.h). */
struct lwm_cbor_strs {
	struct lwm_buf *scratch;
	size_t need;
	bool measure;
};

/* One pass of a record decoder over a whole payload, collecting strings
 * through strs: 0 with the number of records decoded in *n, or an error. */
typedef int (*lwm_cbor_pass_fn)(void *ctx, struct lwm_cbor_strs *strs, const uint8_t *p,
				size_t len, size_t *n);

/* The driver every CBOR decoder shares (codec.h's rules): the payload size
 * (-E2BIG past LWM_CBOR_MAX_PAYLOAD, -EBADMSG when empty), a measuring
 * pass, then, when indefinite-length strings need it, room reserved in
 * scratch once (-ENOBUFS without scratch) and the real pass; last, records
 * unique.  *n is set on success, 0 otherwise. */
int lwm_cbor_decode_records(const uint8_t *p, size_t len, struct lwm_buf *scratch,
			    lwm_cbor_pass_fn pass, void *ctx, const struct lwm_record *recs,
			    size_t *n);

/* A string value whose head is it: a definite one points into the
 * payload, an indefinite one into scratch (or, measuring, is counted and
 * comes back empty).  0 or -EBADMSG. */
int lwm_cbor_string_value(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it,
			  struct lwm_cbor_strs *strs, const uint8_t **ptr, size_t *len);

/* Reads a value whose head is it, as application/cbor and LwM2M CBOR carry
 * one: integer, float, boolean, text (objlnk as "oid:iid" text when type
 * says OBJLNK), byte string; a time may come as tag 1 around an integer
 * (or an integral float).  Converted to type as SenML values are (see
 * lwm_senml_value).  0, -EBADMSG, -EINVAL. */
int lwm_cbor_value(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, enum lwm_type type,
		   struct lwm_cbor_strs *strs, struct lwm_value *v);

/* ---- writing ----
 * Hand-written rather than libcbor's: a head is one to nine bytes written
 * straight into the lwm_buf, where libcbor would either build an item tree
 * (an allocation per item, then a serialisation pass) or need a buffer
 * size guessed up front for each cbor_encode_* call; and the float
 * encoding needs to know whether a half or single is exact, which
 * cbor_encode_half (it rounds) does not tell.  Measured on a SenML record
 * ({-2: "/3303/0/", 0: "5700", 2: float}, -O2): about 80 ns here against
 * 740 ns for cbor_build_* + cbor_serialize_alloc.  Errors stick in
 * out->err. */
void lwm_cbor_put_head(struct lwm_buf *out, unsigned major, uint64_t arg);
void lwm_cbor_put_int(struct lwm_buf *out, int64_t i);
void lwm_cbor_put_uint(struct lwm_buf *out, uint64_t u);
/* The shortest of half, single and double that holds d exactly; -EINVAL
 * for NaN and infinities (no LwM2M value carries them). */
int lwm_cbor_put_float(struct lwm_buf *out, double d);
void lwm_cbor_put_text(struct lwm_buf *out, const void *p, size_t len);
void lwm_cbor_put_bytes(struct lwm_buf *out, const void *p, size_t len);
void lwm_cbor_put_bool(struct lwm_buf *out, bool b);
/* A value as application/cbor carries it (time as a plain integer, objlnk
 * as "oid:iid" text).  0, -EINVAL (not encodable) or out->err. */
int lwm_cbor_put_value(struct lwm_buf *out, const struct lwm_value *v);

#endif
