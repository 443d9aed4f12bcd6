/* Shared by the fuzz targets: a fixed type lookup, bases picked by the
 * input's first byte, and the round-trip check (decode, encode, decode
 * again: same records). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec.h"

#define FUZZ_MAX_RECS 64

/* The type of a resource follows its id, so inputs can reach every type
 * (and LWM_T_NONE, where the payload decides). */
static enum lwm_type fuzz_type(const struct lwm_path *p, void *ud)
{
	static const enum lwm_type t[] = {
		LWM_T_NONE,    LWM_T_STRING, LWM_T_INTEGER, LWM_T_UNSIGNED, LWM_T_FLOAT,
		LWM_T_BOOLEAN, LWM_T_OPAQUE, LWM_T_TIME,    LWM_T_OBJLNK,   LWM_T_CORELNK,
	};

	(void)ud;
	if (p->len != 3)
		abort(); /* decoders ask about resources only */
	return t[p->id[2] % 10];
}

/* Bases /, /9, /9/0, /9/0/5, /9/0/5/1 by the low bits of sel. */
static struct lwm_path fuzz_base(uint8_t sel)
{
	return lwm_path_make((uint8_t)(sel % 5), 9, 0, 5, 1);
}

static int fuzz_cmp(const void *a, const void *b)
{
	return lwm_path_cmp(&((const struct lwm_record *)a)->path,
			    &((const struct lwm_record *)b)->path);
}

static void fuzz_same(const struct lwm_record *a, const struct lwm_record *b)
{
	if (lwm_path_cmp(&a->path, &b->path) != 0 || a->value.type != b->value.type)
		abort();
	switch (a->value.type) {
	case LWM_T_STRING:
	case LWM_T_OPAQUE:
	case LWM_T_CORELNK:
		if (a->value.v.bytes.len != b->value.v.bytes.len ||
		    (a->value.v.bytes.len &&
		     memcmp(a->value.v.bytes.ptr, b->value.v.bytes.ptr, a->value.v.bytes.len)))
			abort();
		break;
	case LWM_T_FLOAT:
		if (a->value.v.f != b->value.v.f)
			abort();
		break;
	case LWM_T_BOOLEAN:
		if (a->value.v.b != b->value.v.b)
			abort();
		break;
	case LWM_T_OBJLNK:
		if (a->value.v.lnk.oid != b->value.v.lnk.oid ||
		    a->value.v.lnk.iid != b->value.v.lnk.iid)
			abort();
		break;
	default:
		if (a->value.v.u != b->value.v.u)
			abort();
		break;
	}
}

/* Checks what a decoder promises of its output. */
static void fuzz_check_output(const struct lwm_path *base, const struct lwm_record *recs,
			      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct lwm_value *v = &recs[i].value;

		if (recs[i].path.len < 3 || recs[i].path.len > 4 ||
		    !lwm_path_starts_with(&recs[i].path, base))
			abort();
		if ((v->type == LWM_T_STRING || v->type == LWM_T_CORELNK) &&
		    !lwm_utf8_valid(v->v.bytes.ptr, v->v.bytes.len))
			abort();
		if (v->type == LWM_T_FLOAT && (v->v.f != v->v.f || v->v.f - v->v.f != 0))
			abort(); /* NaN or infinite */
		if ((v->type == LWM_T_STRING || v->type == LWM_T_OPAQUE ||
		     v->type == LWM_T_CORELNK) &&
		    v->v.bytes.len && !v->v.bytes.ptr)
			abort();
	}
	if (lwm_records_unique(recs, n))
		abort();
}

/* Encodes recs (sorted first) in fmt and decodes them back: the records
 * must come back the same, but for resources the lookup leaves untyped,
 * where the payload may legitimately pick another type (2.0 -> "2"). */
static void fuzz_round_trip(uint16_t fmt, const struct lwm_path *base, struct lwm_record *recs,
			    size_t n)
{
	struct lwm_record again[FUZZ_MAX_RECS];
	struct lwm_buf out, scratch;
	size_t m;
	int r;

	/* Nothing to compare; and TLV writes no records at a resource as an
	 * empty payload, which its decoder refuses there (known). */
	if (n == 0)
		return;
	qsort(recs, n, sizeof(recs[0]), fuzz_cmp);
	/* JSON numbers above INT64_MAX do not read back through jansson. */
	if (fmt == LWM_FMT_SENML_JSON || fmt == LWM_FMT_LWM2M_JSON) {
		for (size_t i = 0; i < n; i++) {
			if (recs[i].value.type == LWM_T_UNSIGNED && recs[i].value.v.u > INT64_MAX)
				return;
		}
	}
	lwm_buf_init(&out, 0);
	lwm_buf_init(&scratch, 0);
	r = lwm_encode(fmt, base, recs, n, &out);
	if (r == 0) {
		r = lwm_decode_ex(fmt, base, out.data, out.len, fuzz_type, NULL, again,
				  FUZZ_MAX_RECS, &m, &scratch);
		if (r != 0 || m != n) {
			fprintf(stderr, "round trip: decode %d (%zu of %zu records): %.*s\n", r, m,
				n, (int)out.len, (const char *)out.data);
			abort();
		}
		for (size_t i = 0; i < n; i++) {
			struct lwm_path res = recs[i].path;

			res.len = 3;
			if (fuzz_type(&res, NULL) != LWM_T_NONE)
				fuzz_same(&recs[i], &again[i]);
		}
	} else if (r != -EINVAL && r != -ENOTSUP) {
		abort(); /* records the decoder produced are encodable or refused */
	}
	lwm_buf_free(&out);
	lwm_buf_free(&scratch);
}

/* The body of the record-format targets. */
static int fuzz_records(uint16_t fmt, const uint8_t *data, size_t size)
{
	struct lwm_record recs[FUZZ_MAX_RECS];
	struct lwm_path base;
	struct lwm_buf scratch;
	uint8_t *copy;
	size_t n;
	int r;

	if (size < 1)
		return 0;
	base = fuzz_base(data[0]);
	/* an exact-size copy, so ASan sees reads past the end */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	lwm_buf_init(&scratch, 0);
	r = lwm_decode_ex(fmt, &base, copy, size - 1, fuzz_type, NULL, recs, FUZZ_MAX_RECS, &n,
			  &scratch);
	/* A raw NUL byte is never JSON, wherever it stands (issue 16). */
	if (r == 0 && (fmt == LWM_FMT_SENML_JSON || fmt == LWM_FMT_LWM2M_JSON) &&
	    memchr(copy, '\0', size - 1))
		abort();
	if (r == 0) {
		fuzz_check_output(&base, recs, n);
		fuzz_round_trip(fmt, &base, recs, n);
	} else if (n != 0) {
		abort();
	}
	lwm_buf_free(&scratch);
	free(copy);
	return 0;
}

#endif
