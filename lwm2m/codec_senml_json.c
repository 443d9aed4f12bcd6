/* SenML JSON (RFC 8428, application/senml+json, 110) as LwM2M 1.1 uses it:
 * a record's path is bn + n; values in v (number), vs (string), vb
 * (boolean), vd (opaque, base64url without padding), vlo ("oid:iid"). */
#include "codec.h"
#include "senml.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* ---- encoding ---- */

static int put_value(struct lwm_buf *out, const struct lwm_value *v)
{
	return lwm_json_put_value(out, v, &lwm_senml_json_keys);
}

/* Timed records (codec.h): bt on the first, t relative to it after. */
int lwm_senml_json_encode_timed(const struct lwm_record *recs, const int64_t *t, size_t n,
				struct lwm_buf *out)
{
	char name[32];
	bool timed = n && t[0] >= LWM_SENML_T_ABS_MIN;
	int r;

	lwm_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (lwm_path_format(&recs[i].path, name, sizeof(name)) < 0 || recs[i].path.len < 3)
			return -EINVAL;
		if (i > 0)
			lwm_buf_putc(out, ',');
		if (!timed)
			lwm_buf_printf(out, "{\"n\":\"%s\",", name);
		else if (i == 0)
			lwm_buf_printf(out, "{\"bt\":%lld,\"n\":\"%s\",", (long long)t[0], name);
		else if (t[i] != t[0])
			lwm_buf_printf(out, "{\"n\":\"%s\",\"t\":%lld,", name,
				       (long long)(t[i] - t[0]));
		else
			lwm_buf_printf(out, "{\"n\":\"%s\",", name);
		r = put_value(out, &recs[i].value);
		if (r)
			return r;
		lwm_buf_putc(out, '}');
	}
	lwm_buf_putc(out, ']');
	return out->err;
}

int lwm_senml_json_encode(const struct lwm_path *base, const struct lwm_record *recs,
			  size_t n, struct lwm_buf *out)
{
	struct lwm_path bn = lwm_senml_base(base);
	char bnstr[32], name[32];
	int r = lwm_records_check(base, recs, n);

	if (r)
		return r;
	r = lwm_senml_bn(&bn, bnstr);
	if (r < 0)
		return r;
	lwm_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		r = lwm_senml_rel(&bn, &recs[i].path, name);
		if (r < 0)
			return r;
		if (i > 0)
			lwm_buf_putc(out, ',');
		if (i == 0)
			lwm_buf_printf(out, "{\"bn\":\"%s\",\"n\":\"%s\",", bnstr, name);
		else
			lwm_buf_printf(out, "{\"n\":\"%s\",", name);
		r = put_value(out, &recs[i].value);
		if (r)
			return r;
		lwm_buf_putc(out, '}');
	}
	lwm_buf_putc(out, ']');
	return out->err;
}

/* ---- decoding ---- */

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
	struct lwm_senml_raw raw;
	const char *s;
	size_t len;
	int r;

	if (!strcmp(key, "v"))
		return lwm_json_number_value(val, type, v);
	if (!strcmp(key, "vb"))
		return lwm_json_bool_value(val, type, v);
	if (!json_is_string(val))
		return -EBADMSG;
	s = json_string_value(val);
	len = json_string_length(val);
	raw.v.s.ptr = (const uint8_t *)s;
	raw.v.s.len = len;
	if (!strcmp(key, "vs")) {
		/* jansson has checked the UTF-8 and refused NULs. */
		raw.kind = LWM_SK_STRING;
		r = lwm_senml_value(&raw, type, v);
		if (r == 0)
			to_scratch(scratch, s, len, v);
		return r;
	}
	if (!strcmp(key, "vd")) {
		if (type != LWM_T_NONE && type != LWM_T_OPAQUE)
			return -EINVAL;
		if (lwm_base64_decode(s, len, true, NULL, &len))
			return -EBADMSG;
		raw.kind = LWM_SK_DATA;
		raw.v.s.ptr = (const uint8_t *)"";
		raw.v.s.len = len;
		if (len) {
			raw.v.s.ptr = scratch->data + scratch->len;
			lwm_base64_decode(s, json_string_length(val), true,
					  scratch->data + scratch->len, &len);
			scratch->len += len;
		}
		return lwm_senml_value(&raw, type, v);
	}
	raw.kind = LWM_SK_OBJLNK; /* vlo */
	return lwm_senml_value(&raw, type, v);
}

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

/* Reads a record's keys: bn updates st, n and the value key come back
 * (*value NULL when the record has none). */
static int scan_record(struct lwm_senml_names *st, json_t *rec, const char **n, size_t *nlen,
		       const char **vkey, json_t **value)
{
	const char *key;
	json_t *val;
	int r;

	*n = "";
	*nlen = 0;
	*value = NULL;
	if (!json_is_object(rec))
		return -EBADMSG;
	json_object_foreach(rec, key, val) {
		if (!strcmp(key, "bn")) {
			if (!json_is_string(val) || json_string_length(val) > LWM_SENML_MAX_NAME)
				return -EBADMSG;
			st->bnlen = json_string_length(val);
			memcpy(st->bn, json_string_value(val), st->bnlen);
		} else if (!strcmp(key, "n")) {
			if (!json_is_string(val) || json_string_length(val) > LWM_SENML_MAX_NAME)
				return -EBADMSG;
			*n = json_string_value(val);
			*nlen = json_string_length(val);
		} else if (!strcmp(key, "v") || !strcmp(key, "vs") || !strcmp(key, "vb") ||
			   !strcmp(key, "vd") || !strcmp(key, "vlo")) {
			if (*value)
				return -EBADMSG; /* one value per record */
			*vkey = key;
			*value = val;
		} else {
			r = check_other_key(key, val);
			if (r)
				return r;
		}
	}
	return 0;
}

static int decode_record(struct lwm_senml_names *st, json_t *rec, const struct lwm_path *base,
			 lwm_type_lookup_fn lookup, void *ud, struct lwm_record *out,
			 struct lwm_buf *scratch)
{
	const char *vkey = NULL, *n;
	size_t nlen;
	json_t *value;
	struct lwm_path res;
	enum lwm_type type;
	int r;

	r = scan_record(st, rec, &n, &nlen, &vkey, &value);
	if (r)
		return r;
	if (!value)
		return -EBADMSG;
	r = lwm_senml_record_path(st, n, nlen, base, &out->path);
	if (r)
		return r;
	res = out->path;
	res.len = 3;
	type = lookup ? lookup(&res, ud) : LWM_T_NONE;
	return decode_value(vkey, value, type, &out->value, scratch);
}

/* Parses a SenML JSON array. */
static int load(const uint8_t *p, size_t len, json_t **root)
{
	int r = lwm_json_load(p, len, root);

	if (r)
		return r;
	if (!json_is_array(*root)) {
		json_decref(*root);
		return -EBADMSG;
	}
	return 0;
}

int lwm_senml_json_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch)
{
	struct lwm_senml_names st = {.bnlen = 0};
	json_t *root;
	size_t cnt, need = 0;
	int r;

	*n = 0;
	r = load(p, len, &root);
	if (r)
		return r;
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

int lwm_senml_json_paths(const uint8_t *p, size_t len, struct lwm_path *paths, size_t max,
			 size_t *n)
{
	struct lwm_senml_names st = {.bnlen = 0};
	json_t *root, *value;
	const char *name, *vkey;
	size_t cnt, nlen;
	int r;

	*n = 0;
	r = load(p, len, &root);
	if (r)
		return r;
	cnt = json_array_size(root);
	if (cnt > max) {
		r = -E2BIG;
		goto out;
	}
	for (size_t i = 0; i < cnt; i++) {
		/* A Write-Composite record's value is not ours to check here. */
		r = scan_record(&st, json_array_get(root, i), &name, &nlen, &vkey, &value);
		if (r == 0)
			r = lwm_senml_list_path(&st, name, nlen, &paths[i]);
		if (r)
			goto out;
	}
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
