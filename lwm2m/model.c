#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lwm_model {
	struct lwm_entry *e; /* sorted by path */
	size_t n, cap;
	/* Scratch for lwm_model_read, reused across reads. */
	struct lwm_record *out;
	size_t out_cap;
};

struct lwm_model *lwm_model_new(void)
{
	return calloc(1, sizeof(struct lwm_model));
}

static bool owns_bytes(enum lwm_type t)
{
	return t == LWM_T_STRING || t == LWM_T_OPAQUE || t == LWM_T_CORELNK;
}

static void value_clear(struct lwm_value *v)
{
	/* Opaque values include the keys a bootstrap server writes (/0/x/3,
	 * /0/x/5): none is freed unwiped. */
	if (owns_bytes(v->type) && v->v.bytes.ptr) {
		explicit_bzero((void *)v->v.bytes.ptr, v->v.bytes.len);
		free((void *)v->v.bytes.ptr);
	}
	*v = (struct lwm_value){0};
}

void lwm_model_free(struct lwm_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		value_clear(&m->e[i].value);
	free(m->e);
	free(m->out);
	free(m);
}

size_t lwm_model_entry_count(const struct lwm_model *m)
{
	return m->n;
}

/* Index of p, or of where it would be inserted (*found false). */
/* lwm_path_cmp, inlined into the binary search: every value a device
 * reports and every notification looks paths up several times. */
static inline int path_cmp(const struct lwm_path *a, const struct lwm_path *b)
{
	unsigned n = a->len < b->len ? a->len : b->len;

	for (unsigned i = 0; i < n; i++)
		if (a->id[i] != b->id[i])
			return a->id[i] < b->id[i] ? -1 : 1;
	return (a->len > b->len) - (a->len < b->len);
}

static size_t find(const struct lwm_model *m, const struct lwm_path *p, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(&m->e[mid].path, p);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct lwm_entry *lookup(const struct lwm_model *m, const struct lwm_path *p)
{
	bool found;
	size_t i = find(m, p, &found);

	return found ? &m->e[i] : NULL;
}

static struct lwm_entry *insert(struct lwm_model *m, size_t at, const struct lwm_path *p)
{
	if (m->n == m->cap) {
		/* A quarter more (at least 8): a model is built once and then
		 * lives as long as its device, so thousands of devices must not
		 * each carry a half-empty array; the copies stay amortised. */
		size_t step = m->cap / 4 > 8 ? m->cap / 4 : 8;
		size_t cap = m->cap ? m->cap + step : 16;
		struct lwm_entry *e = realloc(m->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		m->e = e;
		m->cap = cap;
	}
	memmove(&m->e[at + 1], &m->e[at], (m->n - at) * sizeof(*m->e));
	m->n++;
	m->e[at] = (struct lwm_entry){.path = *p};
	return &m->e[at];
}

int lwm_model_add_instance(struct lwm_model *m, uint16_t oid, uint16_t iid)
{
	struct lwm_path p = lwm_path_make(2, oid, iid, 0, 0);
	bool found;
	size_t at;

	if (!lwm_objdef_find(oid))
		return -ENOENT;
	at = find(m, &p, &found);
	if (found)
		return -EEXIST;
	return insert(m, at, &p) ? 0 : -ENOMEM;
}

int lwm_model_remove_instance(struct lwm_model *m, uint16_t oid, uint16_t iid)
{
	struct lwm_path p = lwm_path_make(2, oid, iid, 0, 0);
	bool found;
	size_t i = find(m, &p, &found), j;

	if (!found)
		return -ENOENT;
	for (j = i; j < m->n && lwm_path_starts_with(&m->e[j].path, &p); j++)
		value_clear(&m->e[j].value);
	memmove(&m->e[i], &m->e[j], (m->n - j) * sizeof(*m->e));
	m->n -= j - i;
	return 0;
}

int lwm_model_next_instance(const struct lwm_model *m, uint16_t oid, int after)
{
	struct lwm_path p = lwm_path_make(2, oid, (uint16_t)(after + 1), 0, 0);
	bool found;
	size_t i;

	if (after >= LWM_ID_NONE - 1)
		return -ENOENT;
	for (i = find(m, &p, &found); i < m->n && LWM_PATH_OID(&m->e[i].path) == oid; i++)
		if (m->e[i].path.len == 2)
			return LWM_PATH_IID(&m->e[i].path);
	return -ENOENT;
}

int lwm_model_next_object(const struct lwm_model *m, int after)
{
	struct lwm_path p = lwm_path_make(1, (uint16_t)(after + 1), 0, 0, 0);
	bool found;
	size_t i;

	if (after >= LWM_ID_NONE - 1)
		return -ENOENT;
	i = find(m, &p, &found);
	return i < m->n ? LWM_PATH_OID(&m->e[i].path) : -ENOENT;
}

static const struct lwm_res_def *res_def(const struct lwm_path *p)
{
	const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(p));

	return o ? lwm_resdef_find(o, LWM_PATH_RID(p)) : NULL;
}

static struct lwm_entry *declare(struct lwm_model *m, const struct lwm_path *p)
{
	struct lwm_path inst = lwm_path_make(2, LWM_PATH_OID(p), LWM_PATH_IID(p), 0, 0);
	struct lwm_path res = lwm_path_make(3, LWM_PATH_OID(p), LWM_PATH_IID(p), LWM_PATH_RID(p), 0);
	const struct lwm_res_def *def = res_def(p);
	struct lwm_entry *e;
	bool found;
	size_t at;

	if (!def || !lookup(m, &inst))
		return NULL;
	at = find(m, &res, &found);
	if (!found) {
		e = insert(m, at, &res);
		if (!e)
			return NULL;
		e->def = def;
	}
	if (p->len == 3)
		return &m->e[at];
	if (!def->multiple)
		return NULL;
	at = find(m, p, &found);
	if (found)
		return &m->e[at];
	e = insert(m, at, p);
	if (e)
		e->def = def;
	return e;
}

int lwm_model_add_resource(struct lwm_model *m, const struct lwm_path *p)
{
	if (p->len != 3)
		return -EINVAL;
	return declare(m, p) ? 0 : -ENOENT;
}

/* Convert v to type t without losing information. */
static int coerce(const struct lwm_value *v, enum lwm_type t, struct lwm_value *out)
{
	double f;

	*out = *v;
	out->type = t;
	if (v->type == t)
		return 0;
	switch (t) {
	case LWM_T_FLOAT:
		if (v->type == LWM_T_INTEGER || v->type == LWM_T_TIME)
			out->v.f = (double)v->v.i;
		else if (v->type == LWM_T_UNSIGNED)
			out->v.f = (double)v->v.u;
		else if (v->type == LWM_T_BOOLEAN)
			out->v.f = v->v.b;
		else
			return -EINVAL;
		return 0;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		if (v->type == LWM_T_INTEGER || v->type == LWM_T_TIME)
			return 0;
		if (v->type == LWM_T_UNSIGNED) {
			if (v->v.u > INT64_MAX)
				return -EINVAL;
			out->v.i = (int64_t)v->v.u;
			return 0;
		}
		if (v->type == LWM_T_BOOLEAN) {
			out->v.i = v->v.b;
			return 0;
		}
		if (v->type != LWM_T_FLOAT)
			return -EINVAL;
		f = v->v.f;
		/* -2^63 and 2^63 are exact as doubles */
		if (!isfinite(f) || f != floor(f) || f < -0x1p63 || f >= 0x1p63)
			return -EINVAL;
		out->v.i = (int64_t)f;
		return 0;
	case LWM_T_UNSIGNED:
		if ((v->type == LWM_T_INTEGER || v->type == LWM_T_TIME) && v->v.i >= 0) {
			out->v.u = (uint64_t)v->v.i;
			return 0;
		}
		if (v->type == LWM_T_BOOLEAN) {
			out->v.u = v->v.b;
			return 0;
		}
		if (v->type != LWM_T_FLOAT)
			return -EINVAL;
		f = v->v.f;
		if (!isfinite(f) || f != floor(f) || f < 0 || f >= 0x1p64)
			return -EINVAL;
		out->v.u = (uint64_t)f;
		return 0;
	case LWM_T_BOOLEAN:
		if (v->type == LWM_T_INTEGER && (v->v.i == 0 || v->v.i == 1))
			out->v.b = v->v.i;
		else if (v->type == LWM_T_UNSIGNED && v->v.u <= 1)
			out->v.b = v->v.u;
		else if (v->type == LWM_T_FLOAT && (v->v.f == 0.0 || v->v.f == 1.0))
			out->v.b = v->v.f != 0.0;
		else
			return -EINVAL;
		return 0;
	case LWM_T_STRING:
	case LWM_T_OPAQUE:
	case LWM_T_CORELNK:
		if (!owns_bytes(v->type))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool value_equal(const struct lwm_value *a, const struct lwm_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case LWM_T_NONE:
		return true;
	case LWM_T_STRING:
	case LWM_T_OPAQUE:
	case LWM_T_CORELNK:
		return a->v.bytes.len == b->v.bytes.len &&
		       (a->v.bytes.len == 0 ||
			memcmp(a->v.bytes.ptr, b->v.bytes.ptr, a->v.bytes.len) == 0);
	case LWM_T_FLOAT:
		return a->v.f == b->v.f;
	case LWM_T_BOOLEAN:
		return a->v.b == b->v.b;
	case LWM_T_OBJLNK:
		return a->v.lnk.oid == b->v.lnk.oid && a->v.lnk.iid == b->v.lnk.iid;
	case LWM_T_UNSIGNED:
		return a->v.u == b->v.u;
	default:
		return a->v.i == b->v.i;
	}
}

int lwm_model_set(struct lwm_model *m, const struct lwm_path *p, const struct lwm_value *v)
{
	struct lwm_entry *e;
	struct lwm_value nv;
	int r;

	if (p->len != 3 && p->len != 4)
		return -EINVAL;
	/* A resource set before is simply found (a reading updates one);
	 * declare looks its definition up and its instance first. */
	e = lookup(m, p);
	if (!e || !e->def)
		e = declare(m, p);
	if (!e)
		return -ENOENT;
	if (p->len == 3 && e->def->multiple)
		return -EINVAL; /* the value belongs to an instance of it */
	r = coerce(v, e->def->type, &nv);
	if (r < 0)
		return r;
	if (value_equal(&e->value, &nv))
		return 0;
	if (owns_bytes(nv.type)) {
		uint8_t *copy = malloc(nv.v.bytes.len ? nv.v.bytes.len : 1);
		if (!copy)
			return -ENOMEM;
		if (nv.v.bytes.len)
			memcpy(copy, nv.v.bytes.ptr, nv.v.bytes.len);
		nv.v.bytes.ptr = copy;
	}
	value_clear(&e->value);
	e->value = nv;
	return 1;
}

const struct lwm_value *lwm_model_get(const struct lwm_model *m, const struct lwm_path *p)
{
	const struct lwm_entry *e = lookup(m, p);

	return e && e->value.type != LWM_T_NONE ? &e->value : NULL;
}

bool lwm_model_exists(const struct lwm_model *m, const struct lwm_path *p)
{
	bool found;
	size_t i;

	if (p->len == 0)
		return true;
	i = find(m, p, &found);
	if (found)
		return true;
	/* An object exists when one of its instances does. */
	return p->len == 1 && i < m->n && LWM_PATH_OID(&m->e[i].path) == LWM_PATH_OID(p);
}

int lwm_model_unset(struct lwm_model *m, const struct lwm_path *p)
{
	struct lwm_entry *e = p->len == 3 ? lookup(m, p) : NULL;

	if (!e || !e->def || e->def->multiple)
		return -ENOENT;
	if (e->value.type == LWM_T_NONE)
		return 0;
	value_clear(&e->value); /* LWM_T_NONE */
	return 1;
}

int lwm_model_read(struct lwm_model *m, const struct lwm_path *p,
		   const struct lwm_record **recs, size_t *n)
{
	const struct lwm_entry *target;
	size_t count = 0;
	bool found;
	size_t i;

	*recs = NULL;
	*n = 0;
	if (p->len == 0 || LWM_PATH_OID(p) == 0)
		return p->len == 0 ? -EPERM : -EACCES;
	if (!lwm_model_exists(m, p))
		return -ENOENT;
	target = p->len >= 3 ? lookup(m, p) : NULL;
	if (target && !(target->def->ops & LWM_OP_R))
		return -EPERM;
	if (target && target->path.len == 3 && !target->def->multiple &&
	    target->value.type == LWM_T_NONE)
		return -ENODATA;

	i = find(m, p, &found);
	for (; i < m->n && lwm_path_starts_with(&m->e[i].path, p); i++) {
		const struct lwm_entry *e = &m->e[i];
		if (e->path.len < 3 || e->value.type == LWM_T_NONE || !(e->def->ops & LWM_OP_R))
			continue;
		if (count == m->out_cap) {
			size_t cap = m->out_cap ? m->out_cap * 2 : 4;
			struct lwm_record *r = realloc(m->out, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			m->out = r;
			m->out_cap = cap;
		}
		m->out[count].path = e->path;
		m->out[count].value = e->value;
		count++;
	}
	*recs = m->out;
	*n = count;
	return 0;
}

/* The object version to announce, or NULL for 1.0 (the default needs no
 * attribute).  OMA's own objects (ids below 1024) are versioned with the
 * enabler: a client registering as 1.1 implements at most their 1.1
 * definitions, so the registry's newer version is capped at ours. */
static const char *announced_version(const struct lwm_obj_def *d, const char *lwm2m_version)
{
	const char *v = d->version;

	if (d->id < 1024 && strcmp(v, lwm2m_version) > 0)
		v = lwm2m_version;
	return strcmp(v, "1.0") == 0 ? NULL : v;
}

int lwm_model_reg_links(const struct lwm_model *m, const char *lwm2m_version,
			struct lwm_buf *out)
{
	return lwm_model_reg_links_visible(m, lwm2m_version, NULL, NULL, out);
}

int lwm_model_reg_links_visible(const struct lwm_model *m, const char *lwm2m_version,
				bool (*visible)(const struct lwm_path *inst, void *ud), void *ud,
				struct lwm_buf *out)
{
	bool v10 = strcmp(lwm2m_version, "1.0") == 0;
	uint16_t last_oid = LWM_ID_NONE;

	for (size_t i = 0; i < m->n; i++) {
		const struct lwm_entry *e = &m->e[i];
		uint16_t oid = LWM_PATH_OID(&e->path);
		if (e->path.len != 2 || oid == 0 || (visible && !visible(&e->path, ud)))
			continue;
		if (oid != last_oid && !v10) {
			const struct lwm_obj_def *d = lwm_objdef_find(oid);
			const char *ver = d ? announced_version(d, lwm2m_version) : NULL;
			if (ver) {
				char attr[32];
				struct lwm_path op = lwm_path_make(1, oid, 0, 0, 0);
				snprintf(attr, sizeof(attr), ";ver=%s", ver);
				lwm_link_append(out, &op, attr);
			}
		}
		last_oid = oid;
		lwm_link_append(out, &e->path, NULL);
	}
	return out->err;
}

int lwm_model_discover(const struct lwm_model *m, const struct lwm_path *p,
		       void (*attrs)(const struct lwm_path *p, struct lwm_buf *out, void *ud),
		       void *ud, struct lwm_buf *out)
{
	return lwm_model_discover_visible(m, p, attrs, NULL, ud, out);
}

int lwm_model_discover_visible(const struct lwm_model *m, const struct lwm_path *p,
			       void (*attrs)(const struct lwm_path *p, struct lwm_buf *out,
					     void *ud),
			       bool (*visible)(const struct lwm_path *inst, void *ud), void *ud,
			       struct lwm_buf *out)
{
	bool found;
	size_t i;

	if (p->len == 0 || LWM_PATH_OID(p) == 0)
		return -EACCES;
	if (!lwm_model_exists(m, p))
		return -ENOENT;
	if (p->len == 1) {
		const struct lwm_obj_def *d = lwm_objdef_find(LWM_PATH_OID(p));
		char attr[32] = "";
		if (d && strcmp(d->version, "1.0") != 0)
			snprintf(attr, sizeof(attr), ";ver=%s", d->version);
		lwm_link_append(out, p, attr[0] ? attr : NULL);
		if (attrs)
			attrs(p, out, ud);
	}
	i = find(m, p, &found);
	for (; i < m->n && lwm_path_starts_with(&m->e[i].path, p); i++) {
		const struct lwm_entry *e = &m->e[i];
		char attr[32];
		size_t dim = 0;
		if (e->path.len == 4)
			continue;
		if (visible && p->len == 1) {
			struct lwm_path inst = lwm_path_make(2, LWM_PATH_OID(&e->path),
							     LWM_PATH_IID(&e->path), 0, 0);
			if (!visible(&inst, ud))
				continue;
		}
		if (e->path.len == 3 && e->def->multiple) {
			for (size_t j = i + 1; j < m->n && m->e[j].path.len == 4 &&
					       lwm_path_starts_with(&m->e[j].path, &e->path);
			     j++)
				dim++;
			snprintf(attr, sizeof(attr), ";dim=%zu", dim);
			lwm_link_append(out, &e->path, attr);
		} else {
			lwm_link_append(out, &e->path, NULL);
		}
		if (attrs)
			attrs(&e->path, out, ud);
	}
	return out->err;
}

int lwm_model_check(const struct lwm_model *m, const struct lwm_path *p,
		    const struct lwm_value *v)
{
	const struct lwm_res_def *def = res_def(p);
	struct lwm_path res = lwm_path_make(3, LWM_PATH_OID(p), LWM_PATH_IID(p), LWM_PATH_RID(p), 0);
	struct lwm_value nv;

	if ((p->len != 3 && p->len != 4) || !def || !lookup(m, &res))
		return -ENOENT;
	if ((p->len == 4) != def->multiple)
		return -EINVAL;
	return coerce(v, def->type, &nv);
}

void lwm_model_clear_instances(struct lwm_model *m, const struct lwm_path *p)
{
	bool found;
	size_t i = find(m, p, &found), j;

	if (!found)
		return;
	for (j = i + 1; j < m->n && m->e[j].path.len == 4 &&
			lwm_path_starts_with(&m->e[j].path, p);
	     j++)
		value_clear(&m->e[j].value);
	memmove(&m->e[i + 1], &m->e[j], (m->n - j) * sizeof(*m->e));
	m->n -= j - i - 1;
}

int lwm_model_records(struct lwm_model *m, const struct lwm_path *p,
		      const struct lwm_record **recs, size_t *n)
{
	bool found;
	size_t i = find(m, p, &found), count = 0;

	*recs = NULL;
	*n = 0;
	for (; i < m->n && lwm_path_starts_with(&m->e[i].path, p); i++) {
		const struct lwm_entry *e = &m->e[i];
		if (e->path.len < 3 || e->value.type == LWM_T_NONE)
			continue;
		if (count == m->out_cap) {
			size_t cap = m->out_cap ? m->out_cap * 2 : 4;
			struct lwm_record *r = realloc(m->out, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			m->out = r;
			m->out_cap = cap;
		}
		m->out[count].path = e->path;
		m->out[count].value = e->value;
		count++;
	}
	*recs = m->out;
	*n = count;
	return 0;
}

int lwm_model_instances(const struct lwm_model *m, uint16_t oid, uint16_t *iids, size_t max)
{
	struct lwm_path o = lwm_path_make(1, oid, 0, 0, 0);
	bool found;
	size_t i = find(m, &o, &found);
	int count = 0;

	for (; i < m->n && lwm_path_starts_with(&m->e[i].path, &o); i++)
		if (m->e[i].path.len == 2) {
			if ((size_t)count < max)
				iids[count] = LWM_PATH_IID(&m->e[i].path);
			count++;
		}
	return count;
}
