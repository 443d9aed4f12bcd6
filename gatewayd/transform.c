#include "transform.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static int raw_number(const struct gwd_value *raw, double *x, bool *exact_int, int64_t *i)
{
	*exact_int = false;
	switch (raw->type) {
	case GWD_V_BOOL:
		*x = raw->v.b;
		return 0;
	case GWD_V_INT:
		*x = (double)raw->v.i;
		*exact_int = true;
		*i = raw->v.i;
		return 0;
	case GWD_V_UINT:
		*x = (double)raw->v.u;
		if (raw->v.u <= INT64_MAX) {
			*exact_int = true;
			*i = (int64_t)raw->v.u;
		}
		return 0;
	case GWD_V_DOUBLE:
		*x = raw->v.d;
		return isfinite(*x) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

int transform_to_resource(const struct cfg_point *pt, const struct gwd_value *raw,
			  enum lwm_type type, struct lwm_value *out, char strbuf[32])
{
	bool identity = pt->scale == 1.0 && pt->offset == 0.0;
	bool exact_int;
	int64_t i = 0;
	double x;
	int len;

	*out = (struct lwm_value){.type = type};
	if (raw->type == GWD_V_STRING || raw->type == GWD_V_BYTES) {
		if (type != LWM_T_STRING && type != LWM_T_OPAQUE)
			return -EINVAL;
		out->v.bytes.ptr = raw->v.bytes.ptr;
		out->v.bytes.len = raw->v.bytes.len;
		return 0;
	}
	if (raw_number(raw, &x, &exact_int, &i) < 0)
		return -EINVAL;
	/* Integers pass through untouched when there is nothing to transform,
	 * so 64-bit counters keep every digit. */
	if (!(identity && exact_int))
		x = x * pt->scale + pt->offset;
	switch (type) {
	case LWM_T_FLOAT:
		out->v.f = x;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		if (identity && exact_int) {
			out->v.i = i;
			return 0;
		}
		if (!(x > -9.2e18 && x < 9.2e18))
			return -ERANGE;
		out->v.i = llround(x);
		return 0;
	case LWM_T_UNSIGNED:
		if (identity && raw->type == GWD_V_UINT) {
			out->v.u = raw->v.u;
			return 0;
		}
		if (!(x > -0.5 && x < 1.8e19))
			return -ERANGE;
		out->v.u = (uint64_t)llround(x);
		return 0;
	case LWM_T_BOOLEAN:
		out->v.b = x != 0.0;
		return 0;
	case LWM_T_STRING:
		len = lwm_fmt_double(x, strbuf);
		if (len < 0)
			return -EINVAL;
		out->v.bytes.ptr = (const uint8_t *)strbuf;
		out->v.bytes.len = (size_t)len;
		return 0;
	default:
		return -EINVAL;
	}
}

int transform_to_device(const struct cfg_point *pt, const struct lwm_value *in,
			struct gwd_value *out)
{
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
		x = (double)in->v.i;
		break;
	case LWM_T_UNSIGNED:
		x = (double)in->v.u;
		break;
	case LWM_T_FLOAT:
		x = in->v.f;
		break;
	default:
		return -EINVAL;
	}
	if (!isfinite(x))
		return -EINVAL;
	if ((pt->has_min && x < pt->min) || (pt->has_max && x > pt->max))
		return -ERANGE;
	*out = gwd_value_double((x - pt->offset) / pt->scale);
	return 0;
}
