/* LwM2M CBOR (application/vnd.oma.lwm2m+cbor, 11544; LwM2M 1.2 Core TS,
 * section 7.4.6): nested maps keyed by the ids of the path from the root,
 * {3: {0: {0: "Acme", 11: {0: 0}}}}.  A key may also be an array of ids
 * standing for several levels at once ({[3, 0]: {0: "Acme"}}).  Values as
 * in application/cbor.  We write plain nested maps, definite lengths. */
#include "codec.h"
#include "cbor_io.h"

#include <errno.h>

/* ---- encoding ---- */

/* The records [i, end) sharing recs[i]'s ids below level. */
static size_t group_end(const struct lwm_record *recs, size_t i, size_t end, unsigned level)
{
	size_t j = i + 1;

	while (j < end && recs[j].path.id[level] == recs[i].path.id[level])
		j++;
	return j;
}

/* The map of level `level` for recs[i, end), which share ids 0..level-1. */
static int put_level(struct lwm_buf *out, const struct lwm_record *recs, size_t i, size_t end,
		     unsigned level)
{
	size_t groups = 0;
	int r;

	for (size_t k = i; k < end; k = group_end(recs, k, end, level))
		groups++;
	lwm_cbor_put_head(out, 5, groups);
	for (size_t k = i; k < end;) {
		size_t e = group_end(recs, k, end, level);

		lwm_cbor_put_uint(out, recs[k].path.id[level]);
		/* records_check: a path that ends here has no siblings below */
		if (recs[k].path.len == level + 1)
			r = lwm_cbor_put_value(out, &recs[k].value);
		else
			r = put_level(out, recs, k, e, level + 1);
		if (r)
			return r;
		k = e;
	}
	return out->err;
}

int lwm_lwm2m_cbor_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			  struct lwm_buf *out)
{
	int r = lwm_records_check(base, recs, n);

	if (r)
		return r;
	/* Paths always start at the root, whatever the base. */
	return put_level(out, recs, 0, n, 0);
}

/* ---- decoding ---- */

struct dec {
	const struct lwm_path *base;
	lwm_type_lookup_fn lookup;
	void *ud;
	struct lwm_record *recs;
	size_t max, n;
	struct lwm_cbor_strs *strs;
};

/* Appends the ids of a key whose head is k to p. */
static int key_ids(struct lwm_cbor_rd *rd, const struct lwm_cbor_item *k, struct lwm_path *p)
{
	struct lwm_cbor_item id;
	uint64_t cnt = 0;
	int r;

	if (k->kind == LWM_CB_UINT) {
		if (k->u >= LWM_ID_NONE || p->len == 4)
			return -EBADMSG;
		p->id[p->len++] = (uint16_t)k->u;
		return 0;
	}
	if (k->kind != LWM_CB_ARRAY)
		return -EBADMSG;
	for (; k->indef || cnt < k->u; cnt++) {
		r = lwm_cbor_next(rd, &id);
		if (r)
			return r;
		if (id.kind == LWM_CB_BREAK && k->indef)
			break;
		if (id.kind != LWM_CB_UINT || id.u >= LWM_ID_NONE || p->len == 4)
			return -EBADMSG;
		p->id[p->len++] = (uint16_t)id.u;
	}
	return cnt ? 0 : -EBADMSG; /* an empty key names nothing */
}

static int leaf(struct dec *d, struct lwm_cbor_rd *rd, const struct lwm_cbor_item *v,
		const struct lwm_path *p)
{
	struct lwm_path res = *p;
	struct lwm_record *rec;

	if (p->len < 3 || !lwm_path_starts_with(p, d->base))
		return -EBADMSG;
	if (d->n == d->max)
		return -E2BIG;
	res.len = 3;
	rec = &d->recs[d->n];
	rec->path = *p;
	d->n++;
	return lwm_cbor_value(rd, v, d->lookup ? d->lookup(&res, d->ud) : LWM_T_NONE, d->strs,
			      &rec->value);
}

/* The map whose head is m, below the path prefix.  Recursion is bounded:
 * every level adds at least one id and a path holds four. */
static int decode_map(struct dec *d, struct lwm_cbor_rd *rd, const struct lwm_cbor_item *m,
		      const struct lwm_path *prefix)
{
	for (uint64_t i = 0; m->indef || i < m->u; i++) {
		struct lwm_cbor_item k, v;
		struct lwm_path p = *prefix;
		int r = lwm_cbor_next(rd, &k);

		if (r)
			return r;
		if (k.kind == LWM_CB_BREAK && m->indef)
			break;
		r = key_ids(rd, &k, &p);
		if (r == 0)
			r = lwm_cbor_next(rd, &v);
		if (r)
			return r;
		if (v.kind == LWM_CB_MAP)
			r = p.len < 4 ? decode_map(d, rd, &v, &p) : -EBADMSG;
		else if (v.kind == LWM_CB_BREAK)
			r = -EBADMSG;
		else
			r = leaf(d, rd, &v, &p);
		if (r)
			return r;
	}
	return 0;
}

static int walk(void *ctx, struct lwm_cbor_strs *strs, const uint8_t *p, size_t len,
		size_t *n)
{
	static const struct lwm_path root = {{0, 0, 0, 0}, 0};
	struct dec *d = ctx;
	struct lwm_cbor_rd rd;
	struct lwm_cbor_item m;
	int r;

	d->n = 0;
	d->strs = strs;
	lwm_cbor_rd_init(&rd, p, len);
	r = lwm_cbor_next(&rd, &m);
	if (r == 0 && m.kind != LWM_CB_MAP)
		r = -EBADMSG;
	if (r == 0)
		r = decode_map(d, &rd, &m, &root);
	if (r == 0 && rd.off != len)
		r = -EBADMSG;
	*n = d->n;
	return r;
}

int lwm_lwm2m_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch)
{
	struct dec d = {base, lookup, ud, recs, max, 0, NULL};

	return lwm_cbor_decode_records(p, len, scratch, walk, &d, recs, n);
}
