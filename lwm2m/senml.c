/* SenML record logic shared by SenML JSON (110) and SenML CBOR (112), and
 * the path lists of Read-Composite / Observe-Composite requests. */
#include "senml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- values ---- */

static int from_int(int64_t i, enum lwm_type type, struct lwm_value *v)
{
	switch (type) {
	case LWM_T_NONE:
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		v->type = type == LWM_T_NONE ? LWM_T_INTEGER : type;
		v->v.i = i;
		return 0;
	case LWM_T_UNSIGNED:
		if (i < 0)
			return -EINVAL;
		v->type = type;
		v->v.u = (uint64_t)i;
		return 0;
	case LWM_T_FLOAT:
		v->type = type;
		v->v.f = (double)i;
		return 0;
	default:
		return -EINVAL;
	}
}

static int from_uint(uint64_t u, enum lwm_type type, struct lwm_value *v)
{
	switch (type) {
	case LWM_T_NONE:
	case LWM_T_UNSIGNED:
		v->type = LWM_T_UNSIGNED;
		v->v.u = u;
		return 0;
	case LWM_T_FLOAT:
		v->type = type;
		v->v.f = (double)u;
		return 0;
	default:
		return -EINVAL; /* above INT64_MAX: no signed type holds it */
	}
}

static int from_float(double d, enum lwm_type type, struct lwm_value *v)
{
	if (!isfinite(d))
		return -EINVAL;
	switch (type) {
	case LWM_T_NONE:
	case LWM_T_FLOAT:
		v->type = LWM_T_FLOAT;
		v->v.f = d;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		/* 2^63 is exact as a double; INT64_MAX is not. */
		if (d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return -EINVAL;
		v->type = type;
		v->v.i = (int64_t)d;
		return 0;
	case LWM_T_UNSIGNED:
		if (d != trunc(d) || d < 0 || d >= 18446744073709551616.0)
			return -EINVAL;
		v->type = type;
		v->v.u = (uint64_t)d;
		return 0;
	default:
		return -EINVAL;
	}
}

int lwm_senml_value(const struct lwm_senml_raw *raw, enum lwm_type type, struct lwm_value *v)
{
	static const struct lwm_path nop = {{0, 0, 0, 0}, 0};
	struct lwm_record tmp;

	switch (raw->kind) {
	case LWM_SK_INT:
		return from_int(raw->v.i, type, v);
	case LWM_SK_UINT:
		return from_uint(raw->v.u, type, v);
	case LWM_SK_FLOAT:
		return from_float(raw->v.f, type, v);
	case LWM_SK_BOOL:
		if (type != LWM_T_NONE && type != LWM_T_BOOLEAN)
			return -EINVAL;
		v->type = LWM_T_BOOLEAN;
		v->v.b = raw->v.b;
		return 0;
	case LWM_SK_STRING:
		if (type != LWM_T_NONE && type != LWM_T_STRING && type != LWM_T_CORELNK)
			return -EINVAL;
		v->type = type == LWM_T_NONE ? LWM_T_STRING : type;
		v->v.bytes.ptr = raw->v.s.ptr;
		v->v.bytes.len = raw->v.s.len;
		return 0;
	case LWM_SK_DATA:
		if (type != LWM_T_NONE && type != LWM_T_OPAQUE)
			return -EINVAL;
		v->type = LWM_T_OPAQUE;
		v->v.bytes.ptr = raw->v.s.ptr;
		v->v.bytes.len = raw->v.s.len;
		return 0;
	case LWM_SK_OBJLNK:
		if (type != LWM_T_NONE && type != LWM_T_OBJLNK)
			return -EINVAL;
		if (lwm_text_decode(&nop, raw->v.s.ptr, raw->v.s.len, LWM_T_OBJLNK, &tmp))
			return -EBADMSG;
		*v = tmp.value;
		return 0;
	}
	return -EINVAL;
}

/* ---- names ---- */

static int join(const struct lwm_senml_names *st, const char *n, size_t nlen,
		char name[2 * LWM_SENML_MAX_NAME], size_t *len)
{
	if (nlen > LWM_SENML_MAX_NAME || st->bnlen > LWM_SENML_MAX_NAME)
		return -EBADMSG;
	memcpy(name, st->bn, st->bnlen);
	if (nlen)
		memcpy(name + st->bnlen, n, nlen);
	*len = st->bnlen + nlen;
	return 0;
}

int lwm_senml_record_path(const struct lwm_senml_names *st, const char *n, size_t nlen,
			  const struct lwm_path *base, struct lwm_path *out)
{
	char name[2 * LWM_SENML_MAX_NAME];
	size_t len;

	if (join(st, n, nlen, name, &len) || lwm_path_parse(name, len, out))
		return -EBADMSG;
	if (out->len < 3 || !lwm_path_starts_with(out, base))
		return -EBADMSG;
	return 0;
}

int lwm_senml_list_path(const struct lwm_senml_names *st, const char *n, size_t nlen,
			struct lwm_path *out)
{
	char name[2 * LWM_SENML_MAX_NAME];
	size_t len;

	if (join(st, n, nlen, name, &len))
		return -EBADMSG;
	if (len > 1 && name[len - 1] == '/')
		len--;
	return lwm_path_parse(name, len, out) ? -EBADMSG : 0;
}

struct lwm_path lwm_senml_base(const struct lwm_path *base)
{
	struct lwm_path bn = *base;

	if (bn.len > 2)
		bn.len = 2;
	return bn;
}

int lwm_senml_bn(const struct lwm_path *bn, char buf[32])
{
	int r = lwm_path_format(bn, buf, 31);

	if (r < 0)
		return r;
	if (bn->len) {
		buf[r++] = '/';
		buf[r] = '\0';
	}
	return r;
}

int lwm_senml_rel(const struct lwm_path *bn, const struct lwm_path *p, char buf[32])
{
	size_t off = 0;

	for (unsigned k = bn->len; k < p->len; k++) {
		int r = snprintf(buf + off, 32 - off, "%s%u", k > bn->len ? "/" : "",
				 (unsigned)p->id[k]);

		if (r < 0 || (size_t)r >= 32 - off)
			return -EINVAL;
		off += (size_t)r;
	}
	buf[off] = '\0';
	return (int)off;
}

/* ---- JSON helpers ---- */

void lwm_json_put_string(struct lwm_buf *out, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	lwm_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		char esc[6] = {'\\', 0};
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		lwm_buf_append(out, p + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
			break;
		}
		lwm_buf_append(out, esc, elen);
	}
	lwm_buf_append(out, p + run, len - run);
	lwm_buf_putc(out, '"');
}

static int json_check_depth(const uint8_t *p, size_t len)
{
	bool in_str = false;
	unsigned depth = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > LWM_SENML_MAX_DEPTH)
				return -E2BIG;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int lwm_json_load(const uint8_t *p, size_t len, json_t **root)
{
	json_error_t jerr;
	int r;

	*root = NULL;
	if (len > LWM_SENML_MAX_PAYLOAD)
		return -E2BIG;
	if (len == 0 || !p || memchr(p, '\0', len))
		return -EBADMSG;
	r = json_check_depth(p, len);
	if (r)
		return r;
	*root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	return *root ? 0 : -EBADMSG;
}

/* ---- path lists ---- */

int lwm_senml_paths_decode(uint16_t format, const uint8_t *p, size_t len, struct lwm_path *paths,
			   size_t max, size_t *n)
{
	*n = 0;
	if (len > LWM_SENML_MAX_PAYLOAD)
		return -E2BIG;
	if (len == 0 || !p)
		return -EBADMSG;
	switch (format) {
	case LWM_FMT_SENML_JSON:
	case LWM_FMT_SENML_ETCH_JSON:
		return lwm_senml_json_paths(p, len, paths, max, n);
	case LWM_FMT_SENML_CBOR:
	case LWM_FMT_SENML_ETCH_CBOR:
		return lwm_senml_cbor_paths(p, len, paths, max, n);
	default:
		return -ENOTSUP;
	}
}

const struct lwm_json_keys lwm_senml_json_keys = {
	.number = "v", .boolean = "vb", .objlnk = "vlo", .string = "vs", .opaque = "vd",
	.opaque_url = true, .opaque_pad = false,
};

const struct lwm_json_keys lwm_lwm2m_json_keys = {
	.number = "v", .boolean = "bv", .objlnk = "ov", .string = "sv", .opaque = "sv",
	.opaque_url = false, .opaque_pad = true,
};

int lwm_json_put_value(struct lwm_buf *out, const struct lwm_value *v,
		       const struct lwm_json_keys *k)
{
	char num[32];
	int r;

	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		return lwm_buf_printf(out, "\"%s\":%" PRId64, k->number, v->v.i);
	case LWM_T_UNSIGNED:
		return lwm_buf_printf(out, "\"%s\":%" PRIu64, k->number, v->v.u);
	case LWM_T_FLOAT:
		r = lwm_fmt_double(v->v.f, num);
		if (r < 0)
			return r;
		return lwm_buf_printf(out, "\"%s\":%s", k->number, num);
	case LWM_T_BOOLEAN:
		return lwm_buf_printf(out, "\"%s\":%s", k->boolean, v->v.b ? "true" : "false");
	case LWM_T_OBJLNK:
		return lwm_buf_printf(out, "\"%s\":\"%u:%u\"", k->objlnk, (unsigned)v->v.lnk.oid,
				      (unsigned)v->v.lnk.iid);
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		/* JSON text must be UTF-8; refuse rather than emit garbage. */
		if (!lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			return -EINVAL;
		lwm_buf_printf(out, "\"%s\":", k->string);
		lwm_json_put_string(out, v->v.bytes.ptr, v->v.bytes.len);
		return out->err;
	case LWM_T_OPAQUE:
		lwm_buf_printf(out, "\"%s\":\"", k->opaque);
		lwm_base64_encode(v->v.bytes.ptr, v->v.bytes.len, k->opaque_url, k->opaque_pad, out);
		return lwm_buf_putc(out, '"');
	default:
		return -EINVAL;
	}
}

int lwm_json_number_value(json_t *val, enum lwm_type type, struct lwm_value *v)
{
	struct lwm_senml_raw raw;

	if (json_is_integer(val)) {
		raw.kind = LWM_SK_INT;
		raw.v.i = json_integer_value(val);
	} else if (json_is_real(val)) {
		raw.kind = LWM_SK_FLOAT;
		raw.v.f = json_real_value(val);
	} else {
		return -EBADMSG;
	}
	return lwm_senml_value(&raw, type, v);
}

int lwm_json_bool_value(json_t *val, enum lwm_type type, struct lwm_value *v)
{
	struct lwm_senml_raw raw;

	if (!json_is_boolean(val))
		return -EBADMSG;
	raw.kind = LWM_SK_BOOL;
	raw.v.b = json_is_true(val);
	return lwm_senml_value(&raw, type, v);
}
