/* Write-Attributes: parsing and validating notification attributes.  They are
 * stored per client and path (client.c) for the observations to use. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "objdefs.h"

struct attr_spec {
	const char *name;
	enum lwm_attr_bit bit;
	enum { A_UINT, A_FLOAT, A_BIT } kind;
	int min_level; /* lowest path length it may be attached to */
	int since;     /* LwM2M minor version that defined it (1.x) */
};

static const struct attr_spec specs[] = {
	{"pmin", LWM_ATTR_PMIN, A_UINT, 1, 0},   {"pmax", LWM_ATTR_PMAX, A_UINT, 1, 0},
	{"gt", LWM_ATTR_GT, A_FLOAT, 3, 0},      {"lt", LWM_ATTR_LT, A_FLOAT, 3, 0},
	{"st", LWM_ATTR_ST, A_FLOAT, 3, 0},      {"epmin", LWM_ATTR_EPMIN, A_UINT, 1, 1},
	{"epmax", LWM_ATTR_EPMAX, A_UINT, 1, 1}, {"edge", LWM_ATTR_EDGE, A_BIT, 3, 2},
	{"con", LWM_ATTR_CON, A_BIT, 1, 2},      {"hqmax", LWM_ATTR_HQMAX, A_UINT, 1, 2},
};

int lwm_attr_version(const char *version)
{
	if (version && strcmp(version, "1.0") == 0)
		return LWM_ATTR_V1_0;
	if (version && strcmp(version, "1.1") == 0)
		return LWM_ATTR_V1_1;
	return 0;
}

static int parse_uint(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_float(const char *s, size_t len, double *out)
{
	char buf[64], *end;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* Plain decimal numbers only: no hex, inf or nan. */
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return -EINVAL;
	*out = strtod(buf, &end);
	return *end == '\0' && isfinite(*out) ? 0 : -EINVAL;
}

static int apply_one(struct lwm_attrs *a, const char *s, size_t len, int level, int type)
{
	int minor = (type & LWM_ATTR_V1_0) ? 0 : (type & LWM_ATTR_V1_1) ? 1 : 2;
	const char *eq = memchr(s, '=', len);
	size_t nlen = eq ? (size_t)(eq - s) : len;
	const char *v = eq ? eq + 1 : NULL;
	size_t vlen = eq ? len - nlen - 1 : 0;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const struct attr_spec *sp = &specs[i];
		uint32_t u;
		double f;

		if (strlen(sp->name) != nlen || memcmp(sp->name, s, nlen) != 0)
			continue;
		/* An attribute the registration's version does not define is
		 * an undefined attribute there: 4.00, not silently taken. */
		if (level < sp->min_level || sp->since > minor)
			return -EINVAL;
		type &= ~(LWM_ATTR_V1_0 | LWM_ATTR_V1_1);
		/* gt/lt/st need a number; edge (1.2) needs a boolean. */
		if (sp->kind == A_FLOAT && type != LWM_ATTR_ON_NUMBER)
			return -EINVAL;
		if (sp->bit == LWM_ATTR_EDGE && type != LWM_ATTR_ON_BOOLEAN)
			return -EINVAL;
		if (!v) { /* "pmin" alone removes the attribute */
			a->set &= ~(uint32_t)sp->bit;
			return 0;
		}
		switch (sp->kind) {
		case A_UINT:
			if (parse_uint(v, vlen, &u) < 0)
				return -EINVAL;
			if (sp->bit == LWM_ATTR_PMIN)
				a->pmin = u;
			else if (sp->bit == LWM_ATTR_PMAX)
				a->pmax = u;
			else if (sp->bit == LWM_ATTR_EPMIN)
				a->epmin = u;
			else if (sp->bit == LWM_ATTR_EPMAX)
				a->epmax = u;
			else
				a->hqmax = u;
			break;
		case A_FLOAT:
			if (parse_float(v, vlen, &f) < 0)
				return -EINVAL;
			if (sp->bit == LWM_ATTR_GT)
				a->gt = f;
			else if (sp->bit == LWM_ATTR_LT)
				a->lt = f;
			else if (f < 0)
				return -EINVAL; /* a negative step */
			else
				a->st = f;
			break;
		case A_BIT:
			if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
				return -EINVAL;
			if (sp->bit == LWM_ATTR_EDGE)
				a->edge = (uint8_t)(v[0] - '0');
			else
				a->con = (uint8_t)(v[0] - '0');
			break;
		}
		a->set |= sp->bit;
		return 0;
	}
	return -EINVAL; /* not an attribute */
}

static bool has(const struct lwm_attrs *a, uint32_t bits)
{
	return (a->set & bits) == bits;
}

int lwm_attrs_apply_query(struct lwm_attrs *attrs, const char *query, size_t len, int level,
			  int type)
{
	struct lwm_attrs a = *attrs;
	size_t i = 0;

	if (len == 0)
		return -EINVAL;
	while (i < len) {
		size_t j = i;
		while (j < len && query[j] != '&')
			j++;
		if (j == i || apply_one(&a, query + i, j - i, level, type) < 0)
			return -EINVAL;
		i = j + 1;
	}
	/* The combination must make sense; pmax / epmax 0 mean "none". */
	if (has(&a, LWM_ATTR_PMIN | LWM_ATTR_PMAX) && a.pmax > 0 && a.pmin > a.pmax)
		return -EINVAL;
	if (has(&a, LWM_ATTR_EPMIN | LWM_ATTR_EPMAX) && a.epmax > 0 && a.epmin > a.epmax)
		return -EINVAL;
	if (has(&a, LWM_ATTR_GT | LWM_ATTR_LT)) {
		double st = has(&a, LWM_ATTR_ST) ? a.st : 0.0;
		if (!(a.lt + 2 * st < a.gt))
			return -EINVAL;
	}
	*attrs = a;
	return 0;
}

int lwm_attr_target(const struct lwm_path *p)
{
	const struct lwm_obj_def *o;
	const struct lwm_res_def *d;

	if (p->len < 3)
		return LWM_ATTR_ON_OTHER;
	o = lwm_objdef_find(LWM_PATH_OID(p));
	d = o ? lwm_resdef_find(o, LWM_PATH_RID(p)) : NULL;
	if (!d)
		return LWM_ATTR_ON_OTHER;
	switch (d->type) {
	case LWM_T_INTEGER:
	case LWM_T_UNSIGNED:
	case LWM_T_FLOAT:
		return LWM_ATTR_ON_NUMBER;
	case LWM_T_BOOLEAN:
		return LWM_ATTR_ON_BOOLEAN;
	default:
		return LWM_ATTR_ON_OTHER;
	}
}
