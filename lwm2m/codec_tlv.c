/* OMA LwM2M TLV (application/vnd.oma.lwm2m+tlv, 11542).
 *
 * Entry: type byte, 8 or 16-bit identifier, 0-3 byte length, value.
 * Type bits 7-6: kind (below); bit 5: 16-bit identifier; bits 4-3: size of
 * the length field; bits 2-0: the value length when that size is 0. */
#include "codec.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

enum tlv_kind {
	TLV_INSTANCE = 0, /* object instance: value holds resource entries */
	TLV_RES_INST = 1, /* resource instance */
	TLV_MULTI = 2,    /* multiple resource: value holds resource instances */
	TLV_RESOURCE = 3, /* resource with value */
};

#define TLV_MAX_LEN 0xffffffu /* 3-byte length field */

/* ---- encoding ---- */

static size_t hdr_len(uint16_t id, size_t len)
{
	size_t h = id > 0xff ? 3 : 2;

	if (len > 0xffff)
		h += 3;
	else if (len > 0xff)
		h += 2;
	else if (len > 7)
		h += 1;
	return h;
}

static void put_hdr(struct lwm_buf *out, enum tlv_kind kind, uint16_t id, size_t len)
{
	uint8_t h[6];
	size_t n = 1;

	h[0] = (uint8_t)(kind << 6);
	if (id > 0xff) {
		h[0] |= 0x20;
		h[n++] = (uint8_t)(id >> 8);
	}
	h[n++] = (uint8_t)id;
	if (len > 0xffff) {
		h[0] |= 0x18;
		h[n++] = (uint8_t)(len >> 16);
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else if (len > 0xff) {
		h[0] |= 0x10;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else if (len > 7) {
		h[0] |= 0x08;
		h[n++] = (uint8_t)len;
	} else {
		h[0] |= (uint8_t)len;
	}
	lwm_buf_append(out, h, n);
}

static size_t int_width(int64_t i)
{
	if (i >= INT8_MIN && i <= INT8_MAX)
		return 1;
	if (i >= INT16_MIN && i <= INT16_MAX)
		return 2;
	if (i >= INT32_MIN && i <= INT32_MAX)
		return 4;
	return 8;
}

/* Unsigned values keep their top bit clear where a wider size allows, so
 * that readers treating every integer as signed still get them right. */
static size_t uint_width(uint64_t u)
{
	return u > INT64_MAX ? 8 : int_width((int64_t)u);
}

static bool float_fits(double d)
{
	return fabs(d) <= FLT_MAX && (double)(float)d == d;
}

/* Length of a value's encoding, or -EINVAL when TLV cannot carry it. */
static long value_len(const struct lwm_value *v)
{
	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		return (long)int_width(v->v.i);
	case LWM_T_UNSIGNED:
		return (long)uint_width(v->v.u);
	case LWM_T_FLOAT:
		if (!isfinite(v->v.f))
			return -EINVAL;
		return float_fits(v->v.f) ? 4 : 8;
	case LWM_T_BOOLEAN:
		return 1;
	case LWM_T_OBJLNK:
		return 4;
	case LWM_T_STRING:
	case LWM_T_OPAQUE:
	case LWM_T_CORELNK:
		if (v->v.bytes.len > TLV_MAX_LEN)
			return -EINVAL;
		/* TLV strings are bytes, but a String resource holds UTF-8. */
		if (v->type != LWM_T_OPAQUE && !lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			return -EINVAL;
		return (long)v->v.bytes.len;
	default:
		return -EINVAL;
	}
}

static void put_be(struct lwm_buf *out, uint64_t x, size_t width)
{
	uint8_t b[8];

	for (size_t i = 0; i < width; i++)
		b[i] = (uint8_t)(x >> (8 * (width - 1 - i)));
	lwm_buf_append(out, b, width);
}

static void put_value(struct lwm_buf *out, const struct lwm_value *v, size_t len)
{
	float f;
	uint32_t f32;
	uint64_t f64;

	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		put_be(out, (uint64_t)v->v.i, len);
		break;
	case LWM_T_UNSIGNED:
		put_be(out, v->v.u, len);
		break;
	case LWM_T_FLOAT:
		if (len == 4) {
			f = (float)v->v.f;
			memcpy(&f32, &f, 4);
			put_be(out, f32, 4);
		} else {
			memcpy(&f64, &v->v.f, 8);
			put_be(out, f64, 8);
		}
		break;
	case LWM_T_BOOLEAN:
		lwm_buf_putc(out, v->v.b ? 1 : 0);
		break;
	case LWM_T_OBJLNK:
		put_be(out, v->v.lnk.oid, 2);
		put_be(out, v->v.lnk.iid, 2);
		break;
	default:
		lwm_buf_append(out, v->v.bytes.ptr, len);
		break;
	}
}

/* The records [i, end) that make up the resource at recs[i]: one single
 * resource, or the run of instances sharing its rid. */
static size_t resource_end(const struct lwm_record *recs, size_t i, size_t n)
{
	size_t j = i + 1;

	if (recs[i].path.len == 3)
		return j;
	while (j < n && recs[j].path.len == 4 && recs[j].path.id[1] == recs[i].path.id[1] &&
	       recs[j].path.id[2] == recs[i].path.id[2])
		j++;
	return j;
}

/* Bytes of one resource entry; the multiple resource's content in *inner. */
static int resource_len(const struct lwm_record *recs, size_t i, size_t end, size_t *total,
			size_t *inner)
{
	long l;

	if (recs[i].path.len == 3) {
		l = value_len(&recs[i].value);
		if (l < 0)
			return (int)l;
		*inner = (size_t)l;
		*total = hdr_len(recs[i].path.id[2], (size_t)l) + (size_t)l;
		return 0;
	}
	*inner = 0;
	for (size_t k = i; k < end; k++) {
		l = value_len(&recs[k].value);
		if (l < 0)
			return (int)l;
		*inner += hdr_len(recs[k].path.id[3], (size_t)l) + (size_t)l;
	}
	if (*inner > TLV_MAX_LEN)
		return -EINVAL;
	*total = hdr_len(recs[i].path.id[2], *inner) + *inner;
	return 0;
}

static void put_resource(struct lwm_buf *out, const struct lwm_record *recs, size_t i,
			 size_t end, size_t inner)
{
	if (recs[i].path.len == 3) {
		put_hdr(out, TLV_RESOURCE, recs[i].path.id[2], inner);
		put_value(out, &recs[i].value, inner);
		return;
	}
	put_hdr(out, TLV_MULTI, recs[i].path.id[2], inner);
	for (size_t k = i; k < end; k++) {
		size_t l = (size_t)value_len(&recs[k].value);

		put_hdr(out, TLV_RES_INST, recs[k].path.id[3], l);
		put_value(out, &recs[k].value, l);
	}
}

/* Resource entries for recs[i, end), all in one object instance. */
static int put_resources(struct lwm_buf *out, const struct lwm_record *recs, size_t i,
			 size_t end)
{
	while (i < end) {
		size_t e = resource_end(recs, i, end), total, inner;
		int r = resource_len(recs, i, e, &total, &inner);

		if (r)
			return r;
		put_resource(out, recs, i, e, inner);
		i = e;
	}
	return 0;
}

int lwm_tlv_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
		   struct lwm_buf *out)
{
	int r = lwm_records_check(base, recs, n);
	long l;

	if (r)
		return r;
	switch (base->len) {
	case 1:
		for (size_t i = 0; i < n;) {
			size_t e = i, sz = 0;

			/* Measure the instance first: its header holds its length. */
			while (e < n && recs[e].path.id[1] == recs[i].path.id[1]) {
				size_t re = resource_end(recs, e, n), total, inner;

				r = resource_len(recs, e, re, &total, &inner);
				if (r)
					return r;
				sz += total;
				e = re;
			}
			if (sz > TLV_MAX_LEN)
				return -EINVAL;
			put_hdr(out, TLV_INSTANCE, recs[i].path.id[1], sz);
			r = put_resources(out, recs, i, e);
			if (r)
				return r;
			i = e;
		}
		break;
	case 2:
	case 3:
		r = put_resources(out, recs, 0, n);
		if (r)
			return r;
		break;
	case 4:
		if (n != 1)
			return -EINVAL;
		l = value_len(&recs[0].value);
		if (l < 0)
			return (int)l;
		put_hdr(out, TLV_RES_INST, recs[0].path.id[3], (size_t)l);
		put_value(out, &recs[0].value, (size_t)l);
		break;
	default:
		return -ENOTSUP; /* TLV cannot hold several objects */
	}
	return out->err;
}

/* ---- decoding ---- */

struct tlv {
	enum tlv_kind kind;
	uint16_t id;
	const uint8_t *val;
	size_t len;
};

/* Reads one entry from p[0, len); *used gets its total size. */
static int tlv_next(const uint8_t *p, size_t len, struct tlv *t, size_t *used)
{
	size_t h = 1, lsize, vlen;
	uint8_t type;

	if (len < 2)
		return -EBADMSG;
	type = p[0];
	t->kind = (enum tlv_kind)(type >> 6);
	if (type & 0x20) {
		if (len < 3)
			return -EBADMSG;
		t->id = (uint16_t)(p[1] << 8 | p[2]);
		h = 3;
	} else {
		t->id = p[1];
		h = 2;
	}
	if (t->id == LWM_ID_NONE)
		return -EBADMSG; /* reserved */
	lsize = (type >> 3) & 3;
	if (len - h < lsize)
		return -EBADMSG;
	if (lsize == 0) {
		vlen = type & 7;
	} else {
		vlen = 0;
		for (size_t i = 0; i < lsize; i++)
			vlen = vlen << 8 | p[h + i];
		h += lsize;
	}
	if (vlen > len - h)
		return -EBADMSG;
	t->val = p + h;
	t->len = vlen;
	*used = h + vlen;
	return 0;
}

struct tlv_dec {
	lwm_type_lookup_fn lookup;
	void *ud;
	struct lwm_record *recs;
	size_t max, n;
};

static uint64_t get_be(const uint8_t *p, size_t len)
{
	uint64_t x = 0;

	for (size_t i = 0; i < len; i++)
		x = x << 8 | p[i];
	return x;
}

static int decode_value(const struct tlv *t, enum lwm_type type, struct lwm_value *v)
{
	uint64_t x;
	uint32_t f32;
	float f;

	v->type = type;
	switch (type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		if (t->len != 1 && t->len != 2 && t->len != 4 && t->len != 8)
			return -EBADMSG;
		x = get_be(t->val, t->len);
		/* Sign-extend from the top bit of the value's width. */
		if (t->len < 8 && (x >> (8 * t->len - 1)) & 1)
			x |= ~(uint64_t)0 << (8 * t->len);
		v->v.i = (int64_t)x;
		return 0;
	case LWM_T_UNSIGNED:
		if (t->len != 1 && t->len != 2 && t->len != 4 && t->len != 8)
			return -EBADMSG;
		v->v.u = get_be(t->val, t->len);
		return 0;
	case LWM_T_FLOAT:
		if (t->len == 4) {
			f32 = (uint32_t)get_be(t->val, 4);
			memcpy(&f, &f32, 4);
			v->v.f = f;
		} else if (t->len == 8) {
			x = get_be(t->val, 8);
			memcpy(&v->v.f, &x, 8);
		} else {
			return -EBADMSG;
		}
		return isfinite(v->v.f) ? 0 : -EINVAL;
	case LWM_T_BOOLEAN:
		if (t->len != 1 || t->val[0] > 1)
			return -EBADMSG;
		v->v.b = t->val[0] == 1;
		return 0;
	case LWM_T_OBJLNK:
		if (t->len != 4)
			return -EBADMSG;
		v->v.lnk.oid = (uint16_t)get_be(t->val, 2);
		v->v.lnk.iid = (uint16_t)get_be(t->val + 2, 2);
		return 0;
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		if (!lwm_utf8_valid(t->val, t->len))
			return -EINVAL;
		v->v.bytes.ptr = t->val;
		v->v.bytes.len = t->len;
		return 0;
	default:
		/* OPAQUE, or unknown to lookup: the raw bytes. */
		v->type = LWM_T_OPAQUE;
		v->v.bytes.ptr = t->val;
		v->v.bytes.len = t->len;
		return 0;
	}
}

static int add_record(struct tlv_dec *d, const struct lwm_path *p, const struct tlv *t)
{
	struct lwm_path res = lwm_path_make(3, p->id[0], p->id[1], p->id[2], 0);
	enum lwm_type type;
	struct lwm_record *rec;
	int r;

	if (d->n == d->max)
		return -E2BIG;
	type = d->lookup ? d->lookup(&res, d->ud) : LWM_T_NONE;
	rec = &d->recs[d->n];
	rec->path = *p;
	r = decode_value(t, type, &rec->value);
	if (r)
		return r;
	d->n++;
	return 0;
}

/* Resource instances inside a multiple resource at path p (len 3). */
static int decode_instances(struct tlv_dec *d, const struct lwm_path *p, const uint8_t *b,
			    size_t len)
{
	struct lwm_path ip = *p;
	struct tlv t;
	size_t used;
	int r;

	ip.len = 4;
	while (len) {
		r = tlv_next(b, len, &t, &used);
		if (r)
			return r;
		if (t.kind != TLV_RES_INST)
			return -EBADMSG;
		ip.id[3] = t.id;
		r = add_record(d, &ip, &t);
		if (r)
			return r;
		b += used;
		len -= used;
	}
	return 0;
}

/* One resource or multiple resource entry t, in instance p (len 2). */
static int decode_resource(struct tlv_dec *d, const struct lwm_path *p, const struct tlv *t)
{
	struct lwm_path rp = *p;

	rp.len = 3;
	rp.id[2] = t->id;
	if (t->kind == TLV_RESOURCE)
		return add_record(d, &rp, t);
	if (t->kind == TLV_MULTI)
		return decode_instances(d, &rp, t->val, t->len);
	return -EBADMSG;
}

/* Resource entries filling b[0, len), in instance p (len 2). */
static int decode_resources(struct tlv_dec *d, const struct lwm_path *p, const uint8_t *b,
			    size_t len)
{
	struct tlv t;
	size_t used;
	int r;

	while (len) {
		r = tlv_next(b, len, &t, &used);
		if (r)
			return r;
		r = decode_resource(d, p, &t);
		if (r)
			return r;
		b += used;
		len -= used;
	}
	return 0;
}

static int decode_top(struct tlv_dec *d, const struct lwm_path *base, const uint8_t *p,
		      size_t len)
{
	struct lwm_path ip;
	struct tlv t;
	size_t used;
	int r;

	switch (base->len) {
	case 1:
		/* Object instances, or (Create) bare resources: then the
		 * client picks the instance id. */
		if (len == 0)
			return 0;
		if (p[0] >> 6 != TLV_INSTANCE) {
			ip = lwm_path_make(2, base->id[0], LWM_ID_NONE, 0, 0);
			return decode_resources(d, &ip, p, len);
		}
		while (len) {
			r = tlv_next(p, len, &t, &used);
			if (r)
				return r;
			if (t.kind != TLV_INSTANCE)
				return -EBADMSG;
			ip = lwm_path_make(2, base->id[0], t.id, 0, 0);
			r = decode_resources(d, &ip, t.val, t.len);
			if (r)
				return r;
			p += used;
			len -= used;
		}
		return 0;
	case 2:
		/* Some servers wrap the resources in their object instance. */
		if (len && p[0] >> 6 == TLV_INSTANCE) {
			r = tlv_next(p, len, &t, &used);
			if (r)
				return r;
			if (used != len || t.id != base->id[1])
				return -EBADMSG;
			return decode_resources(d, base, t.val, t.len);
		}
		return decode_resources(d, base, p, len);
	case 3:
		if (len && p[0] >> 6 == TLV_RES_INST)
			return decode_instances(d, base, p, len);
		r = tlv_next(p, len, &t, &used);
		if (r)
			return r;
		if (used != len || t.id != base->id[2])
			return -EBADMSG;
		ip = *base;
		ip.len = 2;
		return decode_resource(d, &ip, &t);
	case 4:
		r = tlv_next(p, len, &t, &used);
		if (r)
			return r;
		if (used != len || t.kind != TLV_RES_INST || t.id != base->id[3])
			return -EBADMSG;
		return add_record(d, base, &t);
	default:
		return -ENOTSUP;
	}
}

int lwm_tlv_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
		   lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs, size_t max,
		   size_t *n)
{
	struct tlv_dec d = {lookup, ud, recs, max, 0};
	int r;

	*n = 0;
	if (len && !p)
		return -EINVAL;
	r = decode_top(&d, base, p, len);
	if (r == 0)
		r = lwm_records_unique(recs, d.n);
	if (r)
		return r;
	*n = d.n;
	return 0;
}
