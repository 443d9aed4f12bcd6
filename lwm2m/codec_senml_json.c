/* SenML JSON (RFC 8428, application/senml+json, 110) as LwM2M 1.1 uses it:
 * a record's path is bn + n; values in v (number), vs (string), vb
 * (boolean), vd (opaque, base64url without padding), vlo ("oid:iid"). */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#define SENML_MAX_PAYLOAD 65536 /* a Write larger than this is not ours */
#define SENML_MAX_DEPTH 8       /* SenML needs 2: an array of flat objects */
#define SENML_MAX_NAME 64       /* "/65534/65534/65534/65534" is 24 */

/* ---- encoding ---- */

static void put_json_string(struct lwm_buf *out, const uint8_t *p, size_t len)
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

static int put_value(struct lwm_buf *out, const struct lwm_value *v)
{
	char num[32];
	int r;

	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		return lwm_buf_printf(out, "\"v\":%" PRId64, v->v.i);
	case LWM_T_UNSIGNED:
		return lwm_buf_printf(out, "\"v\":%" PRIu64, v->v.u);
	case LWM_T_FLOAT:
		r = lwm_fmt_double(v->v.f, num);
		if (r < 0)
			return r;
		return lwm_buf_printf(out, "\"v\":%s", num);
	case LWM_T_BOOLEAN:
		return lwm_buf_printf(out, "\"vb\":%s", v->v.b ? "true" : "false");
	case LWM_T_OBJLNK:
		return lwm_buf_printf(out, "\"vlo\":\"%u:%u\"", (unsigned)v->v.lnk.oid,
				      (unsigned)v->v.lnk.iid);
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		/* JSON text must be UTF-8; refuse rather than emit garbage. */
		if (!lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			return -EINVAL;
		lwm_buf_append(out, "\"vs\":", 5);
		put_json_string(out, v->v.bytes.ptr, v->v.bytes.len);
		return out->err;
	case LWM_T_OPAQUE:
		lwm_buf_append(out, "\"vd\":\"", 6);
		lwm_base64_encode(v->v.bytes.ptr, v->v.bytes.len, true, false, out);
		return lwm_buf_putc(out, '"');
	default:
		return -EINVAL;
	}
}

int lwm_senml_json_encode(const struct lwm_path *base, const struct lwm_record *recs,
			  size_t n, struct lwm_buf *out)
{
	struct lwm_path bn = *base;
	char bnstr[32];
	int r = lwm_records_check(base, recs, n);

	if (r)
		return r;
	/* Names are relative to the instance (or the base above it). */
	if (bn.len > 2)
		bn.len = 2;
	r = lwm_path_format(&bn, bnstr, sizeof(bnstr));
	if (r < 0)
		return r;
	lwm_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		const struct lwm_path *p = &recs[i].path;

		if (i > 0)
			lwm_buf_putc(out, ',');
		if (i == 0)
			lwm_buf_printf(out, "{\"bn\":\"%s%s\",\"n\":\"", bnstr,
				       bn.len ? "/" : "");
		else
			lwm_buf_append(out, "{\"n\":\"", 6);
		for (unsigned k = bn.len; k < p->len; k++)
			lwm_buf_printf(out, "%s%u", k > bn.len ? "/" : "", (unsigned)p->id[k]);
		lwm_buf_append(out, "\",", 2);
		r = put_value(out, &recs[i].value);
		if (r)
			return r;
		lwm_buf_putc(out, '}');
	}
	lwm_buf_putc(out, ']');
	return out->err;
}

/* ---- decoding ---- */

/* Bounds nesting before jansson recurses into it. */
static int check_depth(const uint8_t *p, size_t len)
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
			if (++depth > SENML_MAX_DEPTH)
				return -E2BIG;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

/* The one value key of a record, or NULL (*key unchanged). */
static int record_value(json_t *rec, const char **key, json_t **val)
{
	static const char *const vkeys[] = {"v", "vs", "vb", "vd", "vlo"};
	int found = 0;

	*val = NULL;
	for (size_t i = 0; i < sizeof(vkeys) / sizeof(vkeys[0]); i++) {
		json_t *x = json_object_get(rec, vkeys[i]);

		if (x) {
			*key = vkeys[i];
			*val = x;
			found++;
		}
	}
	return found > 1 ? -EBADMSG : 0;
}

/* Bytes a record's value will take in scratch. */
static int value_bytes(json_t *rec, size_t *need)
{
	const char *key = NULL;
	json_t *val;
	size_t n;
	int r = record_value(rec, &key, &val);

	if (r || !val)
		return r;
	if (!strcmp(key, "vs") || !strcmp(key, "vd")) {
		if (!json_is_string(val))
			return -EBADMSG;
		n = json_string_length(val);
		if (key[1] == 'd' &&
		    lwm_base64_decode(json_string_value(val), n, true, NULL, &n))
			return -EBADMSG;
		*need += n;
	}
	return 0;
}

static int number_value(json_t *val, enum lwm_type type, struct lwm_value *v)
{
	double d;

	if (!json_is_number(val))
		return -EBADMSG;
	if (json_is_integer(val)) {
		json_int_t i = json_integer_value(val);

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
	d = json_real_value(val);
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

/* Copies s into scratch, which was reserved for it. */
static void to_scratch(struct lwm_buf *scratch, const void *s, size_t len, struct lwm_value *v)
{
	if (len == 0) {
		v->v.bytes.ptr = (const uint8_t *)"";
		v->v.bytes.len = 0;
		return;
	}
	v->v.bytes.ptr = scratch->data + scratch->len;
	v->v.bytes.len = len;
	lwm_buf_append(scratch, s, len);
}

static int decode_value(const char *key, json_t *val, enum lwm_type type,
			struct lwm_value *v, struct lwm_buf *scratch)
{
	struct lwm_path nop = {{0, 0, 0, 0}, 0};
	struct lwm_record tmp;
	const char *s;
	size_t len;
	int r;

	if (!strcmp(key, "v"))
		return number_value(val, type, v);
	if (!strcmp(key, "vb")) {
		if (!json_is_boolean(val))
			return -EBADMSG;
		if (type != LWM_T_NONE && type != LWM_T_BOOLEAN)
			return -EINVAL;
		v->type = LWM_T_BOOLEAN;
		v->v.b = json_is_true(val);
		return 0;
	}
	if (!json_is_string(val))
		return -EBADMSG;
	s = json_string_value(val);
	len = json_string_length(val);
	if (!strcmp(key, "vs")) {
		if (type != LWM_T_NONE && type != LWM_T_STRING && type != LWM_T_CORELNK)
			return -EINVAL;
		/* jansson has checked the UTF-8 and refused NULs. */
		v->type = type == LWM_T_NONE ? LWM_T_STRING : type;
		to_scratch(scratch, s, len, v);
		return 0;
	}
	if (!strcmp(key, "vd")) {
		if (type != LWM_T_NONE && type != LWM_T_OPAQUE)
			return -EINVAL;
		v->type = LWM_T_OPAQUE;
		if (lwm_base64_decode(s, len, true, NULL, &len))
			return -EBADMSG;
		if (len == 0) {
			to_scratch(scratch, NULL, 0, v);
			return 0;
		}
		v->v.bytes.ptr = scratch->data + scratch->len;
		v->v.bytes.len = len;
		lwm_base64_decode(s, json_string_length(val), true, scratch->data + scratch->len,
				  &len);
		scratch->len += len;
		return 0;
	}
	/* vlo */
	if (type != LWM_T_NONE && type != LWM_T_OBJLNK)
		return -EINVAL;
	r = lwm_text_decode(&nop, (const uint8_t *)s, len, LWM_T_OBJLNK, &tmp);
	if (r)
		return -EBADMSG;
	*v = tmp.value;
	return 0;
}

struct senml_state {
	char bn[SENML_MAX_NAME + 1];
	size_t bnlen;
};

/* Keys other than the value keys, bn and n. */
static int check_other_key(const char *key, json_t *val)
{
	size_t klen = strlen(key);

	if (!strcmp(key, "bt") || !strcmp(key, "t"))
		return json_is_number(val) ? 0 : -EBADMSG;
	if (!strcmp(key, "bver"))
		return json_is_integer(val) ? 0 : -EBADMSG;
	if (!strcmp(key, "u") || !strcmp(key, "bu"))
		return json_is_string(val) ? 0 : -EBADMSG;
	/* Base value / sum would change what the values mean, and a key
	 * ending in '_' must be understood (RFC 8428 section 4.4). */
	if (!strcmp(key, "bv") || !strcmp(key, "bs") || !strcmp(key, "s") ||
	    (klen > 0 && key[klen - 1] == '_'))
		return -EBADMSG;
	return 0; /* other keys are ignored, as RFC 8428 asks */
}

static int decode_record(struct senml_state *st, json_t *rec, const struct lwm_path *base,
			 lwm_type_lookup_fn lookup, void *ud, struct lwm_record *out,
			 struct lwm_buf *scratch)
{
	char name[2 * SENML_MAX_NAME + 1];
	const char *key, *vkey = NULL, *n = "";
	size_t nlen = 0;
	json_t *val, *value = NULL;
	struct lwm_path res;
	enum lwm_type type;
	int r;

	if (!json_is_object(rec))
		return -EBADMSG;
	json_object_foreach(rec, key, val) {
		if (!strcmp(key, "bn")) {
			if (!json_is_string(val) || json_string_length(val) > SENML_MAX_NAME)
				return -EBADMSG;
			st->bnlen = json_string_length(val);
			memcpy(st->bn, json_string_value(val), st->bnlen);
		} else if (!strcmp(key, "n")) {
			if (!json_is_string(val) || json_string_length(val) > SENML_MAX_NAME)
				return -EBADMSG;
			n = json_string_value(val);
			nlen = json_string_length(val);
		} else if (!strcmp(key, "v") || !strcmp(key, "vs") || !strcmp(key, "vb") ||
			   !strcmp(key, "vd") || !strcmp(key, "vlo")) {
			if (value)
				return -EBADMSG; /* one value per record */
			vkey = key;
			value = val;
		} else {
			r = check_other_key(key, val);
			if (r)
				return r;
		}
	}
	if (!value)
		return -EBADMSG;
	memcpy(name, st->bn, st->bnlen);
	memcpy(name + st->bnlen, n, nlen);
	if (lwm_path_parse(name, st->bnlen + nlen, &out->path))
		return -EBADMSG;
	if (out->path.len < 3 || !lwm_path_starts_with(&out->path, base))
		return -EBADMSG;
	res = out->path;
	res.len = 3;
	type = lookup ? lookup(&res, ud) : LWM_T_NONE;
	return decode_value(vkey, value, type, &out->value, scratch);
}

int lwm_senml_json_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch)
{
	struct senml_state st = {.bnlen = 0};
	json_error_t jerr;
	json_t *root;
	size_t cnt, need = 0;
	int r;

	*n = 0;
	if (len > SENML_MAX_PAYLOAD)
		return -E2BIG;
	if (len == 0 || !p)
		return -EBADMSG;
	r = check_depth(p, len);
	if (r)
		return r;
	root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	if (!json_is_array(root)) {
		r = -EBADMSG;
		goto out;
	}
	cnt = json_array_size(root);
	if (cnt > max) {
		r = -E2BIG;
		goto out;
	}
	/* Size the scratch space first: it must not move once records point
	 * into it. */
	for (size_t i = 0; i < cnt; i++) {
		json_t *rec = json_array_get(root, i);

		if (!json_is_object(rec)) {
			r = -EBADMSG;
			goto out;
		}
		r = value_bytes(rec, &need);
		if (r)
			goto out;
	}
	if (need) {
		if (!scratch) {
			r = -ENOBUFS;
			goto out;
		}
		r = lwm_buf_reserve(scratch, need);
		if (r)
			goto out;
	}
	for (size_t i = 0; i < cnt; i++) {
		r = decode_record(&st, json_array_get(root, i), base, lookup, ud, &recs[i],
				  scratch);
		if (r)
			goto out;
	}
	r = lwm_records_unique(recs, cnt);
	if (r == 0)
		*n = cnt;
out:
	json_decref(root);
	return r;
}

int lwm_senml_json_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
			  lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			  size_t max, size_t *n)
{
	return lwm_senml_json_decode_ex(base, p, len, lookup, ud, recs, max, n, NULL);
}
