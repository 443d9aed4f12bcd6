/* CBOR items in and out; see cbor_io.h for why this is not cbor_load. */
#include "cbor_io.h"
#include "senml.h"

#include <cbor.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- reading ---- */

/* The callbacks fill in the item of the one head cbor_stream_decode reads. */
struct head {
	struct lwm_cbor_item *it;
};

#define HEAD(ctx) (((struct head *)(ctx))->it)

static void cb_uint(void *ctx, uint64_t u)
{
	HEAD(ctx)->kind = LWM_CB_UINT;
	HEAD(ctx)->u = u;
}

static void cb_uint8(void *ctx, uint8_t u)
{
	cb_uint(ctx, u);
}

static void cb_uint16(void *ctx, uint16_t u)
{
	cb_uint(ctx, u);
}

static void cb_uint32(void *ctx, uint32_t u)
{
	cb_uint(ctx, u);
}

static void cb_neg(void *ctx, uint64_t u)
{
	HEAD(ctx)->kind = LWM_CB_NEGINT;
	HEAD(ctx)->u = u;
}

static void cb_neg8(void *ctx, uint8_t u)
{
	cb_neg(ctx, u);
}

static void cb_neg16(void *ctx, uint16_t u)
{
	cb_neg(ctx, u);
}

static void cb_neg32(void *ctx, uint32_t u)
{
	cb_neg(ctx, u);
}

static void cb_bytes(void *ctx, cbor_data p, size_t len)
{
	HEAD(ctx)->kind = LWM_CB_BYTES;
	HEAD(ctx)->ptr = p;
	HEAD(ctx)->len = len;
}

static void cb_bytes_start(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_BYTES;
	HEAD(ctx)->indef = true;
}

static void cb_text(void *ctx, cbor_data p, size_t len)
{
	HEAD(ctx)->kind = LWM_CB_TEXT;
	HEAD(ctx)->ptr = p;
	HEAD(ctx)->len = len;
}

static void cb_text_start(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_TEXT;
	HEAD(ctx)->indef = true;
}

static void cb_array(void *ctx, size_t n)
{
	HEAD(ctx)->kind = LWM_CB_ARRAY;
	HEAD(ctx)->u = n;
}

static void cb_array_indef(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_ARRAY;
	HEAD(ctx)->indef = true;
}

static void cb_map(void *ctx, size_t n)
{
	HEAD(ctx)->kind = LWM_CB_MAP;
	HEAD(ctx)->u = n;
}

static void cb_map_indef(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_MAP;
	HEAD(ctx)->indef = true;
}

static void cb_tag(void *ctx, uint64_t t)
{
	HEAD(ctx)->kind = LWM_CB_TAG;
	HEAD(ctx)->u = t;
}

static void cb_float(void *ctx, float f)
{
	HEAD(ctx)->kind = LWM_CB_FLOAT;
	HEAD(ctx)->f = f;
}

static void cb_double(void *ctx, double d)
{
	HEAD(ctx)->kind = LWM_CB_FLOAT;
	HEAD(ctx)->f = d;
}

static void cb_null(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_NULL;
}

static void cb_undef(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_UNDEF;
}

static void cb_bool(void *ctx, bool b)
{
	HEAD(ctx)->kind = LWM_CB_BOOL;
	HEAD(ctx)->b = b;
}

static void cb_break(void *ctx)
{
	HEAD(ctx)->kind = LWM_CB_BREAK;
}

static const struct cbor_callbacks callbacks = {
	.uint8 = cb_uint8,
	.uint16 = cb_uint16,
	.uint32 = cb_uint32,
	.uint64 = cb_uint,
	.negint8 = cb_neg8,
	.negint16 = cb_neg16,
	.negint32 = cb_neg32,
	.negint64 = cb_neg,
	.byte_string = cb_bytes,
	.byte_string_start = cb_bytes_start,
	.string = cb_text,
	.string_start = cb_text_start,
	.array_start = cb_array,
	.indef_array_start = cb_array_indef,
	.map_start = cb_map,
	.indef_map_start = cb_map_indef,
	.tag = cb_tag,
	.float2 = cb_float,
	.float4 = cb_float,
	.float8 = cb_double,
	.null = cb_null,
	.undefined = cb_undef,
	.boolean = cb_bool,
	.indef_break = cb_break,
};

int lwm_cbor_next(struct lwm_cbor_rd *rd, struct lwm_cbor_item *it)
{
	struct head h = {it};
	struct cbor_decoder_result res;
	size_t left = rd->len - rd->off;

	memset(it, 0, sizeof(*it));
	if (left == 0)
		return -EBADMSG;
	/* libcbor 0.8 reports errors (reserved bytes, the unassigned simple
	 * values and 1-byte tags 6..20, which it refuses) and truncation
	 * (NEDATA), and never reads past left. */
	res = cbor_stream_decode(rd->p + rd->off, left, &callbacks, &h);
	if (res.status != CBOR_DECODER_FINISHED || res.read == 0 || res.read > left)
		return -EBADMSG;
	rd->off += res.read;
	left -= res.read;
	switch (it->kind) {
	case LWM_CB_TEXT:
		if (!it->indef && !lwm_utf8_valid(it->ptr, it->len))
			return -EBADMSG;
		break;
	case LWM_CB_ARRAY:
		/* Every item takes at least a byte: a count beyond what is
		 * left is a truncated payload, found before anyone loops. */
		if (!it->indef && it->u > left)
			return -EBADMSG;
		break;
	case LWM_CB_MAP:
		if (!it->indef && it->u > left / 2)
			return -EBADMSG;
		break;
	default:
		break;
	}
	return 0;
}

/* Reads the next chunk of an indefinite string of kind; *done at BREAK. */
static int next_chunk(struct lwm_cbor_rd *rd, enum lwm_cbor_kind kind, struct lwm_cbor_item *c,
		      bool *done)
{
	int r = lwm_cbor_next(rd, c);

	if (r)
		return r;
	*done = c->kind == LWM_CB_BREAK;
	if (!*done && (c->kind != kind || c->indef))
		return -EBADMSG; /* chunks are definite strings of the same type */
	return 0;
}

int lwm_cbor_string(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, uint8_t *buf,
		    size_t cap, size_t *len)
{
	struct lwm_cbor_item c;
	bool done;
	size_t n = 0;
	int r;

	if (it->kind != LWM_CB_TEXT && it->kind != LWM_CB_BYTES)
		return -EBADMSG;
	if (!it->indef) {
		if (it->len > cap)
			return -E2BIG;
		if (buf && it->len)
			memcpy(buf, it->ptr, it->len);
		*len = it->len;
		return 0;
	}
	for (;;) {
		r = next_chunk(rd, it->kind, &c, &done);
		if (r)
			return r;
		if (done)
			break;
		if (c.len > cap - n)
			return -E2BIG;
		if (buf && c.len)
			memcpy(buf + n, c.ptr, c.len);
		n += c.len;
	}
	*len = n;
	return 0;
}

int lwm_cbor_string_value(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it,
			  struct lwm_cbor_strs *strs, const uint8_t **ptr, size_t *len)
{
	struct lwm_cbor_item c;
	struct lwm_buf *s = strs->scratch;
	size_t start, n = 0;
	bool done;
	int r;

	if (it->kind != LWM_CB_TEXT && it->kind != LWM_CB_BYTES)
		return -EBADMSG;
	if (!it->indef) {
		*ptr = it->len ? it->ptr : (const uint8_t *)"";
		*len = it->len;
		return 0;
	}
	start = (!strs->measure && s) ? s->len : 0;
	for (;;) {
		r = next_chunk(rd, it->kind, &c, &done);
		if (r)
			return r;
		if (done)
			break;
		n += c.len;
		/* Room was reserved in the measuring pass. */
		if (!strs->measure && s && c.len)
			lwm_buf_append(s, c.ptr, c.len);
	}
	*len = n;
	*ptr = (const uint8_t *)"";
	if (strs->measure || !s) {
		strs->need += n;
		*len = 0;
	} else if (n) {
		*ptr = s->data + start;
	}
	return 0;
}

int lwm_cbor_decode_records(const uint8_t *p, size_t len, struct lwm_buf *scratch,
			    lwm_cbor_pass_fn pass, void *ctx, const struct lwm_record *recs,
			    size_t *n)
{
	struct lwm_cbor_strs strs = {scratch, 0, true};
	size_t cnt = 0;
	int r;

	*n = 0;
	if (len > LWM_CBOR_MAX_PAYLOAD)
		return -E2BIG;
	if (len == 0 || !p)
		return -EBADMSG;
	r = pass(ctx, &strs, p, len, &cnt);
	if (r == 0 && strs.need) {
		/* Indefinite-length strings: collect them in scratch. */
		if (!scratch)
			return -ENOBUFS;
		r = lwm_buf_reserve(scratch, strs.need);
		if (r)
			return r;
		strs.measure = false;
		r = pass(ctx, &strs, p, len, &cnt);
	}
	if (r == 0)
		r = lwm_records_unique(recs, cnt);
	if (r == 0)
		*n = cnt;
	return r;
}

int lwm_cbor_skip(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, unsigned depth)
{
	/* The open arrays/maps: items still owed (definite) or seen so far
	 * (indefinite, where a map must see an even number). */
	struct frame {
		uint64_t n;
		bool indef, map;
	} st[LWM_CBOR_MAX_DEPTH];
	unsigned top = 0;
	struct lwm_cbor_item cur = *it;
	size_t dummy;
	int r;

	for (;;) {
		bool opened = false;

		switch (cur.kind) {
		case LWM_CB_ARRAY:
		case LWM_CB_MAP:
			if (cur.indef || cur.u > 0) {
				if (depth + top + 1 > LWM_CBOR_MAX_DEPTH)
					return -E2BIG;
				st[top].indef = cur.indef;
				st[top].map = cur.kind == LWM_CB_MAP;
				st[top].n = cur.indef ? 0 : cur.kind == LWM_CB_MAP ? cur.u * 2 : cur.u;
				top++;
				opened = true;
			}
			break;
		case LWM_CB_TEXT:
		case LWM_CB_BYTES:
			r = lwm_cbor_string(rd, &cur, NULL, SIZE_MAX, &dummy);
			if (r)
				return r;
			break;
		case LWM_CB_TAG:
			/* The tagged item follows and stands in for the tag. */
			r = lwm_cbor_next(rd, &cur);
			if (r)
				return r;
			if (cur.kind == LWM_CB_BREAK)
				return -EBADMSG;
			continue;
		case LWM_CB_BREAK:
			return -EBADMSG;
		default:
			break;
		}
		/* cur is complete unless it opened a container: count it
		 * against its parent, closing each definite parent it fills. */
		while (!opened && top > 0) {
			struct frame *f = &st[top - 1];

			if (f->indef) {
				f->n++;
				break;
			}
			if (--f->n > 0)
				break;
			top--;
		}
		if (top == 0)
			return 0;
		for (;;) {
			r = lwm_cbor_next(rd, &cur);
			if (r)
				return r;
			if (cur.kind != LWM_CB_BREAK)
				break;
			/* A break closes the innermost container, which must
			 * be indefinite (and a map must have whole pairs). */
			if (!st[top - 1].indef || (st[top - 1].map && st[top - 1].n % 2))
				return -EBADMSG;
			top--;
			/* The closed container is an item of its parent. */
			while (top > 0) {
				struct frame *f = &st[top - 1];

				if (f->indef) {
					f->n++;
					break;
				}
				if (--f->n > 0)
					break;
				top--;
			}
			if (top == 0)
				return 0;
		}
	}
}

int lwm_cbor_value(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *it, enum lwm_type type,
		   struct lwm_cbor_strs *strs, struct lwm_value *v)
{
	struct lwm_cbor_item cur = *it;
	struct lwm_senml_raw raw;
	uint8_t lnk[32];
	size_t len;
	int r;

	if (cur.kind == LWM_CB_TAG) {
		/* Tag 1, epoch-based date/time, is the one tag a value may
		 * carry (RFC 8949 section 3.4.2). */
		if (cur.u != 1)
			return -EBADMSG;
		r = lwm_cbor_next(rd, &cur);
		if (r)
			return r;
		if (cur.kind != LWM_CB_UINT && cur.kind != LWM_CB_NEGINT &&
		    cur.kind != LWM_CB_FLOAT)
			return -EBADMSG;
		if (type != LWM_T_NONE && type != LWM_T_TIME)
			return -EINVAL;
		type = LWM_T_TIME;
	}
	switch (cur.kind) {
	case LWM_CB_UINT:
		if (cur.u > INT64_MAX) {
			raw.kind = LWM_SK_UINT;
			raw.v.u = cur.u;
		} else {
			raw.kind = LWM_SK_INT;
			raw.v.i = (int64_t)cur.u;
		}
		break;
	case LWM_CB_NEGINT:
		if (cur.u > INT64_MAX)
			return -EINVAL; /* below INT64_MIN */
		raw.kind = LWM_SK_INT;
		raw.v.i = -1 - (int64_t)cur.u;
		break;
	case LWM_CB_FLOAT:
		raw.kind = LWM_SK_FLOAT;
		raw.v.f = cur.f;
		break;
	case LWM_CB_BOOL:
		raw.kind = LWM_SK_BOOL;
		raw.v.b = cur.b;
		break;
	case LWM_CB_TEXT:
		if (type == LWM_T_OBJLNK) {
			/* Parsed right away: collect it here, never in scratch. */
			r = lwm_cbor_string(rd, &cur, lnk, sizeof(lnk), &len);
			if (r)
				return r == -E2BIG ? -EBADMSG : r;
			raw.kind = LWM_SK_OBJLNK;
			raw.v.s.ptr = lnk;
			raw.v.s.len = len;
			break;
		}
		raw.kind = LWM_SK_STRING;
		r = lwm_cbor_string_value(rd, &cur, strs, &raw.v.s.ptr, &raw.v.s.len);
		if (r)
			return r;
		break;
	case LWM_CB_BYTES:
		raw.kind = LWM_SK_DATA;
		r = lwm_cbor_string_value(rd, &cur, strs, &raw.v.s.ptr, &raw.v.s.len);
		if (r)
			return r;
		break;
	default:
		return -EBADMSG; /* arrays, maps, null, undefined, nested tags */
	}
	return lwm_senml_value(&raw, type, v);
}

/* ---- writing ---- */

void lwm_cbor_put_head(struct lwm_buf *out, unsigned major, uint64_t arg)
{
	uint8_t h[9];
	size_t n, w;

	if (arg < 24) {
		h[0] = (uint8_t)(major << 5 | arg);
		lwm_buf_append(out, h, 1);
		return;
	}
	if (arg <= 0xff)
		h[0] = (uint8_t)(major << 5 | 24), w = 1;
	else if (arg <= 0xffff)
		h[0] = (uint8_t)(major << 5 | 25), w = 2;
	else if (arg <= 0xffffffff)
		h[0] = (uint8_t)(major << 5 | 26), w = 4;
	else
		h[0] = (uint8_t)(major << 5 | 27), w = 8;
	for (n = 0; n < w; n++)
		h[1 + n] = (uint8_t)(arg >> (8 * (w - 1 - n)));
	lwm_buf_append(out, h, 1 + w);
}

void lwm_cbor_put_int(struct lwm_buf *out, int64_t i)
{
	if (i >= 0)
		lwm_cbor_put_head(out, 0, (uint64_t)i);
	else
		lwm_cbor_put_head(out, 1, (uint64_t)(-(i + 1))); /* -1 - i, without overflow */
}

void lwm_cbor_put_uint(struct lwm_buf *out, uint64_t u)
{
	lwm_cbor_put_head(out, 0, u);
}

/* The half-precision bits of f when a half holds it exactly. */
static bool half_of(float f, uint16_t *h)
{
	uint32_t b, m, full;
	uint16_t sign;
	int e;

	memcpy(&b, &f, 4);
	sign = (uint16_t)((b >> 16) & 0x8000);
	e = (int)((b >> 23) & 0xff);
	m = b & 0x7fffff;
	if (e == 0) {
		/* zero; single subnormals are far below the smallest half */
		*h = sign;
		return m == 0;
	}
	e -= 127;
	if (e > 15)
		return false;
	if (e >= -14) {
		/* normal half: 10 mantissa bits of the single's 23 */
		if (m & 0x1fff)
			return false;
		*h = (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)(m >> 13));
		return true;
	}
	if (e < -24)
		return false;
	/* subnormal half: the value is k * 2^-24 with k < 1024 */
	full = 0x800000 | m;
	if (full & ((1u << (-1 - e)) - 1))
		return false;
	*h = (uint16_t)(sign | (uint16_t)(full >> (-1 - e)));
	return true;
}

int lwm_cbor_put_float(struct lwm_buf *out, double d)
{
	uint8_t b[9];
	uint64_t x;
	uint32_t y;
	uint16_t h;
	float f;

	if (!isfinite(d))
		return -EINVAL;
	if (fabs(d) <= 3.4028234663852886e38 && (double)(float)d == d) {
		f = (float)d;
		if (half_of(f, &h)) {
			b[0] = 0xf9;
			b[1] = (uint8_t)(h >> 8);
			b[2] = (uint8_t)h;
			return lwm_buf_append(out, b, 3);
		}
		memcpy(&y, &f, 4);
		b[0] = 0xfa;
		for (int i = 0; i < 4; i++)
			b[1 + i] = (uint8_t)(y >> (24 - 8 * i));
		return lwm_buf_append(out, b, 5);
	}
	memcpy(&x, &d, 8);
	b[0] = 0xfb;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(x >> (56 - 8 * i));
	return lwm_buf_append(out, b, 9);
}

void lwm_cbor_put_text(struct lwm_buf *out, const void *p, size_t len)
{
	lwm_cbor_put_head(out, 3, len);
	lwm_buf_append(out, p, len);
}

void lwm_cbor_put_bytes(struct lwm_buf *out, const void *p, size_t len)
{
	lwm_cbor_put_head(out, 2, len);
	lwm_buf_append(out, p, len);
}

void lwm_cbor_put_bool(struct lwm_buf *out, bool b)
{
	lwm_buf_putc(out, b ? 0xf5 : 0xf4);
}

int lwm_cbor_put_value(struct lwm_buf *out, const struct lwm_value *v)
{
	char lnk[16];
	int n;

	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		lwm_cbor_put_int(out, v->v.i);
		break;
	case LWM_T_UNSIGNED:
		lwm_cbor_put_uint(out, v->v.u);
		break;
	case LWM_T_FLOAT:
		return lwm_cbor_put_float(out, v->v.f);
	case LWM_T_BOOLEAN:
		lwm_cbor_put_bool(out, v->v.b);
		break;
	case LWM_T_OBJLNK:
		n = snprintf(lnk, sizeof(lnk), "%u:%u", (unsigned)v->v.lnk.oid,
			     (unsigned)v->v.lnk.iid);
		lwm_cbor_put_text(out, lnk, (size_t)n);
		break;
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		/* A CBOR text string is UTF-8 by definition. */
		if (!lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			return -EINVAL;
		lwm_cbor_put_text(out, v->v.bytes.ptr, v->v.bytes.len);
		break;
	case LWM_T_OPAQUE:
		lwm_cbor_put_bytes(out, v->v.bytes.ptr, v->v.bytes.len);
		break;
	default:
		return -EINVAL;
	}
	return out->err;
}
