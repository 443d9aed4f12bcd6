#include "timerq.h"

#include <errno.h>
#include <stdlib.h>

static void place(struct timerq *q, size_t i, struct timerq_slot e)
{
	q->heap[i] = e;
	e.t->idx = i;
}

static void sift_up(struct timerq *q, size_t i)
{
	struct timerq_slot e = q->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (e.due_ms >= q->heap[parent].due_ms)
			break;
		place(q, i, q->heap[parent]);
		i = parent;
	}
	place(q, i, e);
}

static void sift_down(struct timerq *q, size_t i)
{
	struct timerq_slot e = q->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t md = e.due_ms;
		if (l < q->n && q->heap[l].due_ms < md) {
			m = l;
			md = q->heap[l].due_ms;
		}
		if (r < q->n && q->heap[r].due_ms < md)
			m = r;
		if (m == i)
			break;
		place(q, i, q->heap[m]);
		i = m;
	}
	place(q, i, e);
}

static void notify(struct timerq *q, uint64_t old_earliest)
{
	uint64_t now = timerq_earliest(q);

	if (q->on_change && now != old_earliest)
		q->on_change(q, now, q->on_change_ud);
}

void timerq_init(struct timerq *q)
{
	*q = (struct timerq){0};
}

void timerq_fini(struct timerq *q)
{
	for (size_t i = 0; i < q->n; i++)
		q->heap[i].t->idx = SIZE_MAX;
	free(q->heap);
	*q = (struct timerq){0};
}

void gw_timer_init(struct gw_timer *t, struct timerq *q,
		   void (*cb)(struct gw_timer *t, void *ud), void *ud)
{
	*t = (struct gw_timer){.idx = SIZE_MAX, .cb = cb, .ud = ud, .q = q};
}

bool gw_timer_armed(const struct gw_timer *t)
{
	return t->idx != SIZE_MAX;
}

uint64_t timerq_earliest(const struct timerq *q)
{
	return q->n ? q->heap[0].due_ms : UINT64_MAX;
}

static void remove_at(struct timerq *q, size_t i)
{
	struct gw_timer *t = q->heap[i].t;

	t->idx = SIZE_MAX;
	q->n--;
	if (i == q->n)
		return;
	place(q, i, q->heap[q->n]);
	if (i > 0 && q->heap[i].due_ms < q->heap[(i - 1) / 2].due_ms)
		sift_up(q, i);
	else
		sift_down(q, i);
}

int gw_timer_arm(struct gw_timer *t, uint64_t due_ms)
{
	struct timerq *q = t->q;
	uint64_t old = timerq_earliest(q);

	if (gw_timer_armed(t)) {
		uint64_t prev = t->due_ms;
		t->due_ms = due_ms;
		q->heap[t->idx].due_ms = due_ms;
		if (due_ms < prev)
			sift_up(q, t->idx);
		else
			sift_down(q, t->idx);
	} else {
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64;
			struct timerq_slot *h = realloc(q->heap, cap * sizeof(*h));
			if (!h)
				return -ENOMEM;
			q->heap = h;
			q->cap = cap;
		}
		t->due_ms = due_ms;
		place(q, q->n++, (struct timerq_slot){.due_ms = due_ms, .t = t});
		sift_up(q, t->idx);
	}
	notify(q, old);
	return 0;
}

void gw_timer_disarm(struct gw_timer *t)
{
	struct timerq *q = t->q;
	uint64_t old;

	if (!gw_timer_armed(t))
		return;
	old = timerq_earliest(q);
	remove_at(q, t->idx);
	notify(q, old);
}

size_t timerq_run(struct timerq *q, uint64_t now_ms)
{
	size_t fired = 0;
	uint64_t old = timerq_earliest(q);
	void (*saved)(struct timerq *, uint64_t, void *) = q->on_change;

	q->runs++;
	/* Callbacks re-arm freely; report the new earliest deadline once. */
	q->on_change = NULL;
	while (q->n && q->heap[0].due_ms <= now_ms) {
		struct gw_timer *t = q->heap[0].t;
		remove_at(q, 0);
		fired++;
		t->cb(t, t->ud);
	}
	q->on_change = saved;
	notify(q, old);
	return fired;
}
