/* Modbus read planner; see mb_plan.h. */
#include "mb_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* qsort has no context argument: order indices through a file-scope pointer
 * only for the duration of one call (the planner runs on one thread). */
static const struct mb_span *sort_spans;

static int span_cmp(const void *a, const void *b)
{
	const struct mb_span *x = &sort_spans[*(const size_t *)a];
	const struct mb_span *y = &sort_spans[*(const size_t *)b];

	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	/* Stable for equal spans: keeps plans reproducible. */
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static bool barrier_between(const struct mb_barrier *bar, size_t n_bar, const struct mb_req *r,
			    uint32_t next)
{
	for (size_t i = 0; i < n_bar; i++)
		if (bar[i].unit == r->unit && bar[i].table == r->table && bar[i].addr > r->addr &&
		    bar[i].addr <= next)
			return true;
	return false;
}

int mb_plan_build(const struct mb_span *spans, size_t n, const struct mb_limits *lim,
		  const struct mb_barrier *bar, size_t n_bar, struct mb_plan *out, size_t *bad)
{
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	struct mb_req *req = malloc((n ? n : 1) * sizeof(*req));
	uint32_t *pr = malloc((n ? n : 1) * sizeof(*pr));
	size_t n_req = 0;

	*out = (struct mb_plan){0};
	if (!idx || !req || !pr) {
		free(idx);
		free(req);
		free(pr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint16_t max = mb_table_is_bits(spans[i].table) ? lim->max_bits : lim->max_regs;

		idx[i] = i;
		if (spans[i].count > max ||
		    (uint32_t)spans[i].addr + spans[i].count > 0x10000) {
			if (bad)
				*bad = i;
			free(idx);
			free(req);
			free(pr);
			return -E2BIG;
		}
	}
	sort_spans = spans;
	qsort(idx, n, sizeof(*idx), span_cmp);
	sort_spans = NULL;

	for (size_t k = 0; k < n; k++) {
		const struct mb_span *s = &spans[idx[k]];
		struct mb_req *cur = n_req ? &req[n_req - 1] : NULL;
		uint16_t max = mb_table_is_bits(s->table) ? lim->max_bits : lim->max_regs;

		if (s->count == 0) {
			pr[idx[k]] = MB_PLAN_UNREAD;
			continue;
		}
		if (cur && !lim->single && cur->unit == s->unit && cur->table == s->table) {
			uint32_t end = (uint32_t)cur->addr + cur->count; /* exclusive */
			uint32_t s_end = (uint32_t)s->addr + s->count;
			uint32_t new_end = s_end > end ? s_end : end;

			if ((uint32_t)s->addr <= end + lim->fill && new_end - cur->addr <= max &&
			    !barrier_between(bar, n_bar, cur, s->addr)) {
				cur->count = (uint16_t)(new_end - cur->addr);
				pr[idx[k]] = (uint32_t)(n_req - 1);
				continue;
			}
		}
		req[n_req] = (struct mb_req){s->unit, s->table, s->addr, s->count};
		pr[idx[k]] = (uint32_t)n_req++;
	}
	free(idx);
	out->req = req;
	out->n_req = n_req;
	out->point_req = pr;
	return 0;
}

void mb_plan_clear(struct mb_plan *p)
{
	free(p->req);
	free(p->point_req);
	*p = (struct mb_plan){0};
}

int mb_plan_split(const struct mb_plan *p, size_t r, const struct mb_span *spans, size_t n,
		  struct mb_barrier *out)
{
	const struct mb_req *q = &p->req[r];
	uint32_t best_gap = 0, best_addr = 0;
	bool found = false;

	/* For each point start inside the request, the gap from the furthest
	 * end of the points before it; the widest gap is the likeliest hole. */
	for (size_t i = 0; i < n; i++) {
		uint32_t end = q->addr;
		bool any_before = false;

		if (p->point_req[i] != r || spans[i].addr == q->addr)
			continue;
		for (size_t j = 0; j < n; j++) {
			uint32_t e = (uint32_t)spans[j].addr + spans[j].count;

			if (p->point_req[j] != r || spans[j].addr >= spans[i].addr)
				continue;
			any_before = true;
			if (e > end)
				end = e;
		}
		if (!any_before || end > spans[i].addr)
			continue; /* overlapped by an earlier point: not a boundary */
		if (!found || spans[i].addr - end + 1 > best_gap ||
		    (spans[i].addr - end + 1 == best_gap && spans[i].addr < best_addr)) {
			best_gap = spans[i].addr - end + 1;
			best_addr = spans[i].addr;
			found = true;
		}
	}
	if (!found)
		return -ENOENT;
	*out = (struct mb_barrier){q->unit, q->table, (uint16_t)best_addr};
	return 0;
}

int mb_req_format(const struct mb_req *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, "FC%d unit %u %u-%u", mb_table_read_fc(r->table), r->unit,
			 r->addr, (unsigned)r->addr + r->count - 1);

	return n < 0 ? -EINVAL : 0;
}
