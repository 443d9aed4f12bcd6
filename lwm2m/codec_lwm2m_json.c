/* LwM2M JSON (application/vnd.oma.lwm2m+json, 11543; LwM2M 1.0 Core TS,
 * section 6.4.4), not SenML: {"bn":"/3/0/","e":[{"n":"0","sv":"Acme"},
 * {"n":"11/0","v":0}]}.  An entry's path is bn + n; its value sits in v
 * (number, time), sv (string; opaque as padded base64), bv (boolean) or
 * ov (object link "oid:iid"); t (time) and bt (base time) are read and
 * ignored. */
#include "codec.h"
#include "senml.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

/* ---- encoding ---- */

static int put_value(struct lwm_buf *out, const struct lwm_value *v)
{
	return lwm_json_put_value(out, v, &lwm_lwm2m_json_keys);
}

int lwm_lwm2m_json_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			  struct lwm_buf *out)
{
	struct lwm_path bn = lwm_senml_base(base);
	char bnstr[32], name[32];
	int r = lwm_records_check(base, recs, n);

	if (r)
		return r;
	r = lwm_senml_bn(&bn, bnstr);
	if (r < 0)
		return r;
	lwm_buf_printf(out, "{\"bn\":\"%s\",\"e\":[", bnstr);
	for (size_t i = 0; i < n; i++) {
		r = lwm_senml_rel(&bn, &recs[i].path, name);
		if (r < 0)
			return r;
		lwm_buf_printf(out, "%s{\"n\":\"%s\",", i ? "," : "", name);
		r = put_value(out, &recs[i].value);
		if (r)
			return r;
		lwm_buf_putc(out, '}');
	}
	lwm_buf_append(out, "]}", 2);
	return out->err;
}

/* ---- decoding ---- */

struct dec {
	const struct lwm_path *base;
	lwm_type_lookup_fn lookup;
	void *ud;
	struct lwm_buf *scratch;
	bool measure; /* first pass: only add up need */
	size_t need;
	char bn[LWM_SENML_MAX_NAME];
	size_t bnlen;
};

/* bn + n; a '/' between them when neither has it (some 1.0 servers send
 * "bn":"/3/0" with "n":"1"). */
static int entry_path(const struct dec *d, const char *n, size_t nlen, struct lwm_path *out)
{
	char name[2 * LWM_SENML_MAX_NAME + 1];
	size_t len = d->bnlen;

	if (nlen > LWM_SENML_MAX_NAME)
		return -EBADMSG;
	memcpy(name, d->bn, len);
	if (len && nlen && name[len - 1] != '/' && n[0] != '/')
		name[len++] = '/';
	memcpy(name + len, n, nlen);
	len += nlen;
	if (lwm_path_parse(name, len, out))
		return -EBADMSG;
	if (out->len < 3 || !lwm_path_starts_with(out, d->base))
		return -EBADMSG;
	return 0;
}

/* Places bytes in scratch (or, measuring, counts them). */
static const uint8_t *place(struct dec *d, size_t len)
{
	const uint8_t *at;

	if (len == 0)
		return (const uint8_t *)"";
	if (d->measure) {
		d->need += len;
		return (const uint8_t *)"";
	}
	at = d->scratch->data + d->scratch->len;
	d->scratch->len += len; /* reserved in the measuring pass */
	return at;
}

static int entry_value(struct dec *d, const char *key, json_t *val, enum lwm_type type,
		       struct lwm_value *v)
{
	struct lwm_senml_raw raw;
	const char *s;
	size_t len, dlen;
	uint8_t *at;
	int r;

	if (!strcmp(key, "v"))
		return lwm_json_number_value(val, type, v);
	if (!strcmp(key, "bv"))
		return lwm_json_bool_value(val, type, v);
	if (!json_is_string(val))
		return -EBADMSG;
	s = json_string_value(val);
	len = json_string_length(val);
	raw.v.s.ptr = (const uint8_t *)s;
	raw.v.s.len = len;
	if (!strcmp(key, "ov")) {
		raw.kind = LWM_SK_OBJLNK;
		return lwm_senml_value(&raw, type, v);
	}
	/* sv: a string, or an opaque value in base64 */
	if (type == LWM_T_OPAQUE) {
		if (lwm_base64_decode(s, len, false, NULL, &dlen))
			return -EBADMSG;
		at = (uint8_t *)place(d, dlen);
		if (!d->measure && dlen)
			lwm_base64_decode(s, len, false, at, &dlen);
		raw.kind = LWM_SK_DATA;
		raw.v.s.ptr = at;
		raw.v.s.len = d->measure ? 0 : dlen;
		return lwm_senml_value(&raw, type, v);
	}
	raw.kind = LWM_SK_STRING;
	r = lwm_senml_value(&raw, type, v);
	if (r)
		return r;
	at = (uint8_t *)place(d, len);
	if (!d->measure && len)
		memcpy(at, s, len);
	v->v.bytes.ptr = at;
	v->v.bytes.len = d->measure ? 0 : len;
	return 0;
}

static int decode_entry(struct dec *d, json_t *e, struct lwm_record *out)
{
	const char *key, *vkey = NULL, *n = "";
	size_t nlen = 0;
	json_t *val, *value = NULL;
	struct lwm_path res;
	int r;

	if (!json_is_object(e))
		return -EBADMSG;
	json_object_foreach(e, key, val) {
		if (!strcmp(key, "n")) {
			if (!json_is_string(val))
				return -EBADMSG;
			n = json_string_value(val);
			nlen = json_string_length(val);
		} else if (!strcmp(key, "v") || !strcmp(key, "sv") || !strcmp(key, "bv") ||
			   !strcmp(key, "ov")) {
			if (value)
				return -EBADMSG; /* one value per entry */
			vkey = key;
			value = val;
		} else if (!strcmp(key, "t")) {
			if (!json_is_number(val))
				return -EBADMSG;
		}
		/* other keys are ignored */
	}
	if (!value)
		return -EBADMSG;
	r = entry_path(d, n, nlen, &out->path);
	if (r)
		return r;
	res = out->path;
	res.len = 3;
	return entry_value(d, vkey, value, d->lookup ? d->lookup(&res, d->ud) : LWM_T_NONE,
			   &out->value);
}

static int decode_all(struct dec *d, json_t *e, struct lwm_record *recs)
{
	for (size_t i = 0; i < json_array_size(e); i++) {
		int r = decode_entry(d, json_array_get(e, i), &recs[i]);

		if (r)
			return r;
	}
	return 0;
}

int lwm_lwm2m_json_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch)
{
	struct dec d = {base, lookup, ud, scratch, true, 0, {0}, 0};
	json_t *root, *bn, *bt, *e;
	int r;

	*n = 0;
	r = lwm_json_load(p, len, &root);
	if (r)
		return r;
	r = -EBADMSG;
	if (!json_is_object(root))
		goto out;
	bn = json_object_get(root, "bn");
	bt = json_object_get(root, "bt");
	e = json_object_get(root, "e");
	if (!json_is_array(e) || (bt && !json_is_number(bt)))
		goto out;
	if (bn) {
		if (!json_is_string(bn) || json_string_length(bn) > LWM_SENML_MAX_NAME)
			goto out;
		d.bnlen = json_string_length(bn);
		memcpy(d.bn, json_string_value(bn), d.bnlen);
	}
	if (json_array_size(e) > max) {
		r = -E2BIG;
		goto out;
	}
	/* Measure, reserve scratch once, then decode for real. */
	r = decode_all(&d, e, recs);
	if (r == 0 && d.need) {
		if (!scratch) {
			r = -ENOBUFS;
			goto out;
		}
		r = lwm_buf_reserve(scratch, d.need);
		if (r)
			goto out;
		d.measure = false;
		r = decode_all(&d, e, recs);
	}
	if (r == 0)
		r = lwm_records_unique(recs, json_array_size(e));
	if (r == 0)
		*n = json_array_size(e);
out:
	json_decref(root);
	return r;
}
