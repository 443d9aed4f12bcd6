/* text/plain (LwM2M 1.1 Core TS, Appendix C): one resource value as text.
 * Opaque values are base64 (RFC 4648 section 4, padded). */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int lwm_text_encode(const struct lwm_record *rec, struct lwm_buf *out)
{
	const struct lwm_value *v = &rec->value;
	char num[32];
	int r;

	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		return lwm_buf_printf(out, "%" PRId64, v->v.i);
	case LWM_T_UNSIGNED:
		return lwm_buf_printf(out, "%" PRIu64, v->v.u);
	case LWM_T_FLOAT:
		r = lwm_fmt_double(v->v.f, num);
		if (r < 0)
			return r;
		return lwm_buf_append(out, num, (size_t)r);
	case LWM_T_BOOLEAN:
		return lwm_buf_putc(out, v->v.b ? '1' : '0');
	case LWM_T_OBJLNK:
		return lwm_buf_printf(out, "%u:%u", (unsigned)v->v.lnk.oid, (unsigned)v->v.lnk.iid);
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		/* text/plain is UTF-8 (LwM2M Core TS, Appendix C). */
		if (!lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			return -EINVAL;
		return lwm_buf_append(out, v->v.bytes.ptr, v->v.bytes.len);
	case LWM_T_OPAQUE:
		return lwm_base64_encode(v->v.bytes.ptr, v->v.bytes.len, false, true, out);
	default:
		return -EINVAL;
	}
}

/* Decimal digits only (no sign, no spaces); -EBADMSG on syntax, -EINVAL
 * past max. */
static int parse_u64(const uint8_t *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
		d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10) {
			/* Keep scanning: "99999999999999999999x" is a syntax error. */
			for (; i < len; i++) {
				if (p[i] < '0' || p[i] > '9')
					return -EBADMSG;
			}
			return -EINVAL;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_i64(const uint8_t *p, size_t len, int64_t *out)
{
	uint64_t u;
	int r;

	if (len > 0 && p[0] == '-') {
		/* |INT64_MIN| = INT64_MAX + 1 */
		r = parse_u64(p + 1, len - 1, (uint64_t)INT64_MAX + 1, &u);
		if (r)
			return r;
		*out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
		return 0;
	}
	r = parse_u64(p, len, INT64_MAX, &u);
	if (r)
		return r;
	*out = (int64_t)u;
	return 0;
}

/* A decimal number: [-+]?(d+(.d*)?|.d+)([eE][-+]?d+)?; never "inf", "nan"
 * or hex, which strtod would also take. */
static int parse_double(const uint8_t *p, size_t len, double *out)
{
	char buf[128];
	size_t i = 0, digits = 0;
	char *end;
	double d;

	if (len == 0 || len >= sizeof(buf))
		return -EBADMSG;
	if (p[i] == '-' || p[i] == '+')
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (i < len && p[i] == '.') {
		i++;
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return -EBADMSG;
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		size_t e0;

		i++;
		if (i < len && (p[i] == '-' || p[i] == '+'))
			i++;
		e0 = i;
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == e0)
			return -EBADMSG;
	}
	if (i != len)
		return -EBADMSG;
	memcpy(buf, p, len);
	buf[len] = '\0';
	d = strtod(buf, &end);
	if (end != buf + len)
		return -EBADMSG;
	if (!isfinite(d))
		return -EINVAL; /* out of double range */
	*out = d;
	return 0;
}

int lwm_text_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
		       enum lwm_type type, struct lwm_record *out, struct lwm_buf *scratch)
{
	struct lwm_value v = {.type = type};
	const uint8_t *colon;
	uint64_t a, b;
	size_t n, off;
	int r = 0;

	if (len > 0 && !p)
		return -EINVAL;
	switch (type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		r = parse_i64(p, len, &v.v.i);
		break;
	case LWM_T_UNSIGNED:
		r = parse_u64(p, len, UINT64_MAX, &v.v.u);
		break;
	case LWM_T_FLOAT:
		r = parse_double(p, len, &v.v.f);
		break;
	case LWM_T_BOOLEAN:
		if (len != 1 || (p[0] != '0' && p[0] != '1'))
			return -EINVAL;
		v.v.b = p[0] == '1';
		break;
	case LWM_T_OBJLNK:
		colon = len ? memchr(p, ':', len) : NULL;
		if (!colon)
			return -EBADMSG;
		r = parse_u64(p, (size_t)(colon - p), UINT16_MAX, &a);
		if (r == 0)
			r = parse_u64(colon + 1, len - (size_t)(colon - p) - 1, UINT16_MAX, &b);
		if (r)
			return r;
		v.v.lnk.oid = (uint16_t)a;
		v.v.lnk.iid = (uint16_t)b;
		break;
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		if (!lwm_utf8_valid(p, len))
			return -EINVAL;
		v.v.bytes.ptr = p;
		v.v.bytes.len = len;
		break;
	case LWM_T_OPAQUE:
		r = lwm_base64_decode((const char *)p, len, false, NULL, &n);
		if (r)
			return r;
		if (n == 0) {
			v.v.bytes.ptr = p;
			v.v.bytes.len = 0;
			break;
		}
		if (!scratch)
			return -ENOBUFS;
		r = lwm_buf_reserve(scratch, n);
		if (r)
			return r;
		off = scratch->len;
		lwm_base64_decode((const char *)p, len, false, scratch->data + off, &n);
		scratch->len += n;
		v.v.bytes.ptr = scratch->data + off;
		v.v.bytes.len = n;
		break;
	default:
		/* Unknown resource: hand back the raw bytes, the caller rejects. */
		v.type = LWM_T_OPAQUE;
		v.v.bytes.ptr = p;
		v.v.bytes.len = len;
		break;
	}
	if (r)
		return r;
	out->path = *base;
	out->value = v;
	return 0;
}

int lwm_text_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
		    enum lwm_type type, struct lwm_record *out)
{
	return lwm_text_decode_ex(base, p, len, type, out, NULL);
}
