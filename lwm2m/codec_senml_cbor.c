/* SenML CBOR (RFC 8428 section 6, application/senml+cbor, 112) as LwM2M
 * 1.1 uses it: an array of maps with integer labels bn -2, bt -3, n 0,
 * v 2, vs 3, vb 4, t 6, vd 8 (a byte string, not base64) and the text
 * label "vlo" for object links.  Names and value conversion as in SenML
 * JSON (senml.c). */
#include "codec.h"
#include "cbor_io.h"
#include "senml.h"

#include <errno.h>
#include <string.h>

enum {
	L_BVER = -1,
	L_BN = -2,
	L_BT = -3,
	L_BU = -4,
	L_BV = -5,
	L_BS = -6,
	L_N = 0,
	L_U = 1,
	L_V = 2,
	L_VS = 3,
	L_VB = 4,
	L_S = 5,
	L_T = 6,
	L_UT = 7,
	L_VD = 8,
	L_VLO = 100, /* the text label "vlo" */
	L_OTHER = 101,
};

/* ---- encoding ---- */

/* The label a value goes under. */
static int value_label(const struct lwm_value *v)
{
	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
	case LWM_T_UNSIGNED:
	case LWM_T_FLOAT:
		return L_V;
	case LWM_T_BOOLEAN:
		return L_VB;
	case LWM_T_OBJLNK:
		return L_VLO;
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		return L_VS;
	case LWM_T_OPAQUE:
		return L_VD;
	default:
		return -EINVAL;
	}
}

/* Timed records (codec.h): bt on the first, t relative to it after. */
int lwm_senml_cbor_encode_timed(const struct lwm_record *recs, const int64_t *t, size_t n,
				struct lwm_buf *out)
{
	char name[32];
	bool timed = n && t[0] >= LWM_SENML_T_ABS_MIN;
	int label, len, r;

	lwm_cbor_put_head(out, 4, n);
	for (size_t i = 0; i < n; i++) {
		bool rel = timed && i > 0 && t[i] != t[0];
		bool base = timed && i == 0;
		label = value_label(&recs[i].value);
		if (label < 0)
			return label;
		len = lwm_path_format(&recs[i].path, name, sizeof(name));
		if (len < 0 || recs[i].path.len < 3)
			return -EINVAL;
		lwm_cbor_put_head(out, 5, 2 + base + rel);
		if (base) {
			lwm_cbor_put_int(out, L_BT);
			lwm_cbor_put_int(out, t[0]);
		}
		lwm_cbor_put_int(out, L_N);
		lwm_cbor_put_text(out, name, (size_t)len);
		if (rel) {
			lwm_cbor_put_int(out, L_T);
			lwm_cbor_put_int(out, t[i] - t[0]);
		}
		if (label == L_VLO)
			lwm_cbor_put_text(out, "vlo", 3);
		else
			lwm_cbor_put_int(out, label);
		r = lwm_cbor_put_value(out, &recs[i].value);
		if (r)
			return r;
	}
	return out->err;
}

int lwm_senml_cbor_encode(const struct lwm_path *base, const struct lwm_record *recs,
			  size_t n, struct lwm_buf *out)
{
	struct lwm_path bn = lwm_senml_base(base);
	char bnstr[32], name[32];
	int r = lwm_records_check(base, recs, n), label, len;

	if (r)
		return r;
	r = lwm_senml_bn(&bn, bnstr);
	if (r < 0)
		return r;
	lwm_cbor_put_head(out, 4, n);
	for (size_t i = 0; i < n; i++) {
		label = value_label(&recs[i].value);
		if (label < 0)
			return label;
		len = lwm_senml_rel(&bn, &recs[i].path, name);
		if (len < 0)
			return len;
		lwm_cbor_put_head(out, 5, i == 0 ? 3 : 2);
		if (i == 0) {
			lwm_cbor_put_int(out, L_BN);
			lwm_cbor_put_text(out, bnstr, (size_t)r);
		}
		lwm_cbor_put_int(out, L_N);
		lwm_cbor_put_text(out, name, (size_t)len);
		if (label == L_VLO)
			lwm_cbor_put_text(out, "vlo", 3);
		else
			lwm_cbor_put_int(out, label);
		label = lwm_cbor_put_value(out, &recs[i].value);
		if (label)
			return label;
	}
	return out->err;
}

/* ---- decoding ---- */

/* What one record map says. */
struct rec_scan {
	char n[LWM_SENML_MAX_NAME];
	size_t nlen;
	bool has_value;
	struct lwm_senml_raw raw;
	uint8_t lnk[32];
};

/* The label of a map key whose head is k. */
static int read_label(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *k, int *label)
{
	uint8_t buf[16];
	const uint8_t *key = k->ptr;
	size_t len = k->len;

	switch (k->kind) {
	case LWM_CB_UINT:
		*label = k->u <= L_VD ? (int)k->u : L_OTHER;
		return 0;
	case LWM_CB_NEGINT:
		*label = k->u < 6 ? -1 - (int)k->u : L_OTHER;
		return 0;
	case LWM_CB_TEXT:
		if (k->indef) {
			/* Chunked keys are odd enough; long ones are refused. */
			if (lwm_cbor_string(rd, k, buf, sizeof(buf), &len))
				return -EBADMSG;
			key = buf;
		}
		*label = len == 3 && !memcmp(key, "vlo", 3) ? L_VLO : L_OTHER;
		/* A label ending in '_' must be understood (RFC 8428 4.4). */
		if (*label == L_OTHER && len > 0 && key[len - 1] == '_')
			return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}

static bool is_number(const struct lwm_cbor_item *v)
{
	return v->kind == LWM_CB_UINT || v->kind == LWM_CB_NEGINT || v->kind == LWM_CB_FLOAT;
}

/* One label's value, whose head is v. */
static int scan_value(struct lwm_cbor_rd *rd, int label, const struct lwm_cbor_item *v,
		      struct lwm_senml_names *st, struct rec_scan *sc, bool values,
		      struct lwm_cbor_strs *strs)
{
	size_t len;
	int r;

	switch (label) {
	case L_BN:
	case L_N:
		if (v->kind != LWM_CB_TEXT)
			return -EBADMSG;
		r = lwm_cbor_string(rd, v, label == L_BN ? (uint8_t *)st->bn : (uint8_t *)sc->n,
				    LWM_SENML_MAX_NAME, &len);
		if (r)
			return -EBADMSG;
		if (label == L_BN)
			st->bnlen = len;
		else
			sc->nlen = len;
		return 0;
	case L_V:
	case L_VS:
	case L_VB:
	case L_VD:
	case L_VLO:
		if (sc->has_value)
			return -EBADMSG; /* one value per record */
		sc->has_value = true;
		if (!values)
			return lwm_cbor_skip(rd, v, 2);
		break;
	case L_BT:
	case L_T:
	case L_UT:
		return is_number(v) ? 0 : -EBADMSG;
	case L_BVER:
		return v->kind == LWM_CB_UINT || v->kind == LWM_CB_NEGINT ? 0 : -EBADMSG;
	case L_BU:
	case L_U:
		if (v->kind != LWM_CB_TEXT)
			return -EBADMSG;
		return lwm_cbor_string(rd, v, NULL, SIZE_MAX, &len);
	case L_BV:
	case L_BS:
	case L_S:
		/* Base value / sum would change what the values mean. */
		return -EBADMSG;
	default:
		return lwm_cbor_skip(rd, v, 2); /* ignored, as RFC 8428 asks */
	}
	switch (label) {
	case L_V:
		if (v->kind == LWM_CB_UINT) {
			sc->raw.kind = v->u > INT64_MAX ? LWM_SK_UINT : LWM_SK_INT;
			sc->raw.v.u = v->u; /* same bits for the INT case */
			if (sc->raw.kind == LWM_SK_INT)
				sc->raw.v.i = (int64_t)v->u;
		} else if (v->kind == LWM_CB_NEGINT) {
			if (v->u > INT64_MAX)
				return -EINVAL; /* below INT64_MIN */
			sc->raw.kind = LWM_SK_INT;
			sc->raw.v.i = -1 - (int64_t)v->u;
		} else if (v->kind == LWM_CB_FLOAT) {
			sc->raw.kind = LWM_SK_FLOAT;
			sc->raw.v.f = v->f;
		} else {
			return -EBADMSG;
		}
		return 0;
	case L_VB:
		if (v->kind != LWM_CB_BOOL)
			return -EBADMSG;
		sc->raw.kind = LWM_SK_BOOL;
		sc->raw.v.b = v->b;
		return 0;
	case L_VLO:
		if (v->kind != LWM_CB_TEXT)
			return -EBADMSG;
		if (lwm_cbor_string(rd, v, sc->lnk, sizeof(sc->lnk), &len))
			return -EBADMSG;
		sc->raw.kind = LWM_SK_OBJLNK;
		sc->raw.v.s.ptr = sc->lnk;
		sc->raw.v.s.len = len;
		return 0;
	default: /* vs, vd */
		if (v->kind != (label == L_VS ? LWM_CB_TEXT : LWM_CB_BYTES))
			return -EBADMSG;
		sc->raw.kind = label == L_VS ? LWM_SK_STRING : LWM_SK_DATA;
		return lwm_cbor_string_value(rd, v, strs, &sc->raw.v.s.ptr, &sc->raw.v.s.len);
	}
}

/* Reads the record map whose head is m.  values: parse the value (else
 * only note that there is one). */
static int scan_record(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *m,
		       struct lwm_senml_names *st, struct rec_scan *sc, bool values,
		       struct lwm_cbor_strs *strs)
{
	uint32_t seen = 0;

	sc->nlen = 0;
	sc->has_value = false;
	if (m->kind != LWM_CB_MAP)
		return -EBADMSG;
	for (uint64_t i = 0; m->indef || i < m->u; i++) {
		struct lwm_cbor_item k, v;
		int label, r;

		r = lwm_cbor_next(rd, &k);
		if (r)
			return r;
		if (k.kind == LWM_CB_BREAK && m->indef)
			break;
		r = read_label(rd, &k, &label);
		if (r)
			return r;
		if (label != L_OTHER) {
			uint32_t bit = 1u << (label == L_VLO ? 31 : label + 8);

			if (seen & bit)
				return -EBADMSG; /* duplicate key */
			seen |= bit;
		}
		r = lwm_cbor_next(rd, &v);
		if (r)
			return r;
		if (v.kind == LWM_CB_BREAK)
			return -EBADMSG;
		r = scan_value(rd, label, &v, st, sc, values, strs);
		if (r)
			return r;
	}
	return 0;
}

/* The records array: calls each(i) per record after scanning it. */
struct walk {
	const struct lwm_path *base;
	lwm_type_lookup_fn lookup;
	void *ud;
	struct lwm_record *recs;
	struct lwm_path *paths;
	size_t max, n;
	struct lwm_cbor_strs *strs;
};

static int walk(const uint8_t *p, size_t len, struct walk *w)
{
	struct lwm_senml_names st = {.bnlen = 0};
	struct lwm_cbor_rd rd;
	struct lwm_cbor_item a, m;
	struct rec_scan sc;
	struct lwm_path res;
	int r;

	w->n = 0;
	lwm_cbor_rd_init(&rd, p, len);
	r = lwm_cbor_next(&rd, &a);
	if (r)
		return r;
	if (a.kind != LWM_CB_ARRAY)
		return -EBADMSG;
	if (!a.indef && a.u > w->max)
		return -E2BIG;
	for (uint64_t i = 0; a.indef || i < a.u; i++) {
		r = lwm_cbor_next(&rd, &m);
		if (r)
			return r;
		if (m.kind == LWM_CB_BREAK && a.indef)
			break;
		if (w->n == w->max)
			return -E2BIG;
		r = scan_record(&rd, &m, &st, &sc, w->recs != NULL, w->strs);
		if (r)
			return r;
		if (w->paths) {
			r = lwm_senml_list_path(&st, sc.n, sc.nlen, &w->paths[w->n]);
		} else {
			struct lwm_record *rec = &w->recs[w->n];

			if (!sc.has_value)
				return -EBADMSG;
			r = lwm_senml_record_path(&st, sc.n, sc.nlen, w->base, &rec->path);
			if (r)
				return r;
			res = rec->path;
			res.len = 3;
			r = lwm_senml_value(&sc.raw, w->lookup ? w->lookup(&res, w->ud) : LWM_T_NONE,
					    &rec->value);
		}
		if (r)
			return r;
		w->n++;
	}
	return rd.off == len ? 0 : -EBADMSG;
}

/* walk as a decoder pass. */
static int records_pass(void *ctx, struct lwm_cbor_strs *strs, const uint8_t *p, size_t len,
			size_t *n)
{
	struct walk *w = ctx;
	int r;

	w->strs = strs;
	r = walk(p, len, w);
	*n = w->n;
	return r;
}

int lwm_senml_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch)
{
	struct walk w = {base, lookup, ud, recs, NULL, max, 0, NULL};

	return lwm_cbor_decode_records(p, len, scratch, records_pass, &w, recs, n);
}

int lwm_senml_cbor_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
			  lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			  size_t max, size_t *n)
{
	return lwm_senml_cbor_decode_ex(base, p, len, lookup, ud, recs, max, n, NULL);
}

int lwm_senml_cbor_paths(const uint8_t *p, size_t len, struct lwm_path *paths, size_t max,
			 size_t *n)
{
	struct walk w = {NULL, NULL, NULL, NULL, paths, max, 0, NULL};
	int r = walk(p, len, &w);

	if (r == 0)
		*n = w.n;
	return r;
}
