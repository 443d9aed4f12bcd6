#include "transform.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m/codec.h"

/* Integer values are carried in 128 bits so that a 64-bit value of either
 * sign, times an integral scale, plus an integral offset, is exact: every
 * integer a device or a server can hand over stays exact whenever the
 * transform itself is integral, rather than rounding through a double
 * (which holds integers only up to 2^53). */
typedef __int128 i128;

#define I128_LIMIT 0x1p100 /* far beyond any 64-bit value times a scale */

/* d as an integer, when it is one small enough to compute with. */
static bool small_int(double d, i128 *out)
{
	if (!(d == trunc(d) && fabs(d) < 0x1p62))
		return false;
	*out = (i128)d;
	return true;
}

/* -1, 0 or 1 as v lies below, at or above d, compared exactly (a NaN
 * limit limits nothing). */
static int cmp_exact(i128 v, double d)
{
	double f;

	if (isnan(d))
		return 0;
	if (d >= I128_LIMIT)
		return -1;
	if (d <= -I128_LIMIT)
		return 1;
	f = floor(d);
	if (v != (i128)f)
		return v < (i128)f ? -1 : 1;
	return f == d ? 0 : -1;
}

static bool fits_i64(i128 v)
{
	return v >= INT64_MIN && v <= INT64_MAX;
}

static bool fits_u64(i128 v)
{
	return v >= 0 && v <= (i128)UINT64_MAX;
}

/* An adapter's integer (or boolean) reading as an exact integer. */
static bool raw_int(const struct gwd_value *raw, i128 *v)
{
	switch (raw->type) {
	case GWD_V_BOOL:
		*v = raw->v.b;
		return true;
	case GWD_V_INT:
		*v = raw->v.i;
		return true;
	case GWD_V_UINT:
		*v = raw->v.u;
		return true;
	default:
		return false;
	}
}

/* A number written as text into strbuf (len from the formatter). */
static int number_text(struct lwm_value *out, char strbuf[32], int len)
{
	if (len < 0)
		return -EINVAL;
	out->v.bytes.ptr = (const uint8_t *)strbuf;
	out->v.bytes.len = (size_t)len;
	return 0;
}

/* An exact integer as a resource of type `type`. */
static int int_to_resource(i128 v, enum lwm_type type, struct lwm_value *out, char strbuf[32])
{
	int len;

	switch (type) {
	case LWM_T_FLOAT:
		out->v.f = (double)v;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		if (!fits_i64(v))
			return -ERANGE;
		out->v.i = (int64_t)v;
		return 0;
	case LWM_T_UNSIGNED:
		if (!fits_u64(v))
			return -ERANGE;
		out->v.u = (uint64_t)v;
		return 0;
	case LWM_T_BOOLEAN:
		out->v.b = v != 0;
		return 0;
	case LWM_T_STRING:
		if (fits_i64(v))
			len = snprintf(strbuf, 32, "%" PRId64, (int64_t)v);
		else if (fits_u64(v))
			len = snprintf(strbuf, 32, "%" PRIu64, (uint64_t)v);
		else
			len = lwm_fmt_double((double)v, strbuf);
		return number_text(out, strbuf, len);
	default:
		return -EINVAL;
	}
}

/* A transformed double as a resource of type `type`; integers are
 * rounded half away from zero and range-checked before the conversion
 * (2^63 and 2^64 are exact as doubles; their neighbours below are not). */
static int double_to_resource(double x, enum lwm_type type, struct lwm_value *out,
			      char strbuf[32])
{
	if (!isfinite(x))
		return -ERANGE;
	switch (type) {
	case LWM_T_FLOAT:
		out->v.f = x;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		x = round(x);
		if (!(x >= -0x1p63 && x < 0x1p63))
			return -ERANGE;
		out->v.i = (int64_t)x;
		return 0;
	case LWM_T_UNSIGNED:
		x = round(x);
		if (!(x >= 0.0 && x < 0x1p64))
			return -ERANGE;
		out->v.u = (uint64_t)x;
		return 0;
	case LWM_T_BOOLEAN:
		out->v.b = x != 0.0;
		return 0;
	case LWM_T_STRING:
		return number_text(out, strbuf, lwm_fmt_double(x, strbuf));
	default:
		return -EINVAL;
	}
}

int transform_to_resource(const struct cfg_point *pt, const struct gwd_value *raw,
			  enum lwm_type type, struct lwm_value *out, char strbuf[32],
			  struct lwm_buf *text)
{
	i128 v, k, o;
	double x;

	*out = (struct lwm_value){.type = type};
	if (raw->type == GWD_V_STRING || raw->type == GWD_V_BYTES) {
		if (type != LWM_T_STRING && type != LWM_T_OPAQUE)
			return -EINVAL;
		out->v.bytes.ptr = raw->v.bytes.ptr;
		out->v.bytes.len = raw->v.bytes.len;
		/* Device text enters the model here: make it UTF-8, which
		 * every format that carries a String needs. */
		if (type == LWM_T_STRING)
			return lwm_utf8_repair(out->v.bytes.ptr, out->v.bytes.len, text,
					       &out->v.bytes.ptr, &out->v.bytes.len);
		return 0;
	}
	if (raw_int(raw, &v) && small_int(pt->scale, &k) && k != 0 && small_int(pt->offset, &o))
		return int_to_resource(v * k + o, type, out, strbuf);
	switch (raw->type) {
	case GWD_V_BOOL:
		x = raw->v.b;
		break;
	case GWD_V_INT:
		x = (double)raw->v.i;
		break;
	case GWD_V_UINT:
		x = (double)raw->v.u;
		break;
	case GWD_V_DOUBLE:
		x = raw->v.d;
		if (!isfinite(x))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return double_to_resource(x * pt->scale + pt->offset, type, out, strbuf);
}

/* An exact integer as the adapter's value: int64 when it fits, else
 * uint64; beyond both no device type can hold it. */
static int int_to_device(i128 v, struct gwd_value *out)
{
	if (fits_i64(v)) {
		*out = gwd_value_int((int64_t)v);
		return 0;
	}
	if (!fits_u64(v))
		return -ERANGE;
	out->type = GWD_V_UINT;
	out->v.u = (uint64_t)v;
	return 0;
}

int transform_to_device(const struct cfg_point *pt, const struct lwm_value *in,
			struct gwd_value *out)
{
	i128 v, k, o;
	double x;

	*out = (struct gwd_value){0};
	switch (in->type) {
	case LWM_T_BOOLEAN:
		*out = gwd_value_bool(in->v.b);
		return 0;
	case LWM_T_STRING:
	case LWM_T_OPAQUE:
		out->type = in->type == LWM_T_STRING ? GWD_V_STRING : GWD_V_BYTES;
		out->v.bytes.ptr = in->v.bytes.ptr;
		out->v.bytes.len = in->v.bytes.len;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		v = in->v.i;
		break;
	case LWM_T_UNSIGNED:
		v = in->v.u;
		break;
	case LWM_T_FLOAT:
		x = in->v.f;
		if (!isfinite(x))
			return -EINVAL;
		if ((pt->has_min && x < pt->min) || (pt->has_max && x > pt->max))
			return -ERANGE;
		*out = gwd_value_double((x - pt->offset) / pt->scale);
		return 0;
	default:
		return -EINVAL;
	}
	/* An integer: range-checked exactly, and handed over as an integer
	 * whenever the inverse keeps it one. */
	if ((pt->has_min && cmp_exact(v, pt->min) < 0) ||
	    (pt->has_max && cmp_exact(v, pt->max) > 0))
		return -ERANGE;
	if (small_int(pt->offset, &o)) {
		i128 d = v - o;

		/* scale k: raw = d / k when that divides */
		if (small_int(pt->scale, &k) && k != 0 && d % k == 0)
			return int_to_device(d / k, out);
		/* scale 1/k (0.1 means tenths): raw = d * k */
		if (small_int(1.0 / pt->scale, &k) && k != 0 && 1.0 / (double)k == pt->scale)
			return int_to_device(d * k, out);
	}
	*out = gwd_value_double(((double)v - pt->offset) / pt->scale);
	return 0;
}
