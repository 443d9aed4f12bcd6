/* The Modbus read planner: grouping, gap fill, size caps, barriers, splits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/modbus/mb_plan.h"

static const struct mb_limits defaults = {.max_regs = 125, .max_bits = 2000, .fill = 8};

static void check_req(const struct mb_plan *p, size_t i, unsigned unit, enum mb_table t,
		      unsigned addr, unsigned count)
{
	assert_true(i < p->n_req);
	assert_int_equal(p->req[i].unit, unit);
	assert_int_equal(p->req[i].table, t);
	assert_int_equal(p->req[i].addr, addr);
	assert_int_equal(p->req[i].count, count);
}

static void merges_across_small_gaps(void **state)
{
	/* A meter: voltage 0 (f32), current 6 (f32), power 12 (f32), energy 100 (u32). */
	const struct mb_span s[] = {
		{1, MB_INPUT, 12, 2}, {1, MB_INPUT, 0, 2}, {1, MB_INPUT, 6, 2}, {1, MB_INPUT, 100, 2},
	};
	struct mb_plan p;

	assert_int_equal(mb_plan_build(s, 4, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 2);
	check_req(&p, 0, 1, MB_INPUT, 0, 14);
	check_req(&p, 1, 1, MB_INPUT, 100, 2);
	assert_int_equal(p.point_req[0], 0);
	assert_int_equal(p.point_req[1], 0);
	assert_int_equal(p.point_req[2], 0);
	assert_int_equal(p.point_req[3], 1);
	mb_plan_clear(&p);
}

static void groups_by_unit_and_table(void **state)
{
	const struct mb_span s[] = {
		{2, MB_HOLDING, 0, 1}, {1, MB_HOLDING, 1, 1}, {1, MB_COILS, 0, 1},
		{1, MB_COILS, 3, 1},   {1, MB_INPUT, 1, 1},   {1, MB_HOLDING, 0, 1},
	};
	struct mb_plan p;

	assert_int_equal(mb_plan_build(s, 6, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 4);
	check_req(&p, 0, 1, MB_COILS, 0, 4);
	check_req(&p, 1, 1, MB_HOLDING, 0, 2);
	check_req(&p, 2, 1, MB_INPUT, 1, 1);
	check_req(&p, 3, 2, MB_HOLDING, 0, 1);
	assert_int_equal(p.point_req[0], 3);
	assert_int_equal(p.point_req[5], 1);
	mb_plan_clear(&p);
}

static void fill_limit(void **state)
{
	const struct mb_span s[] = {{1, MB_HOLDING, 0, 1}, {1, MB_HOLDING, 9, 1}};
	struct mb_limits lim = defaults;
	struct mb_plan p;

	/* Gap of 8 registers (1..8): fill 8 merges, fill 7 does not. */
	assert_int_equal(mb_plan_build(s, 2, &lim, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 1);
	check_req(&p, 0, 1, MB_HOLDING, 0, 10);
	mb_plan_clear(&p);
	lim.fill = 7;
	assert_int_equal(mb_plan_build(s, 2, &lim, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 2);
	mb_plan_clear(&p);
}

static void max_request_size(void **state)
{
	struct mb_span s[40];
	struct mb_limits lim = defaults;
	struct mb_plan p;
	size_t bad = 99;

	for (int i = 0; i < 40; i++)
		s[i] = (struct mb_span){1, MB_HOLDING, (uint16_t)(i * 4), 4};
	/* 160 contiguous registers: 125 + 35. */
	assert_int_equal(mb_plan_build(s, 40, &lim, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 2);
	check_req(&p, 0, 1, MB_HOLDING, 0, 124);
	check_req(&p, 1, 1, MB_HOLDING, 124, 36);
	mb_plan_clear(&p);
	lim.max_regs = 10;
	assert_int_equal(mb_plan_build(s, 40, &lim, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 20);
	mb_plan_clear(&p);
	/* A point larger than the limit is refused. */
	s[3].count = 11;
	assert_int_equal(mb_plan_build(s, 40, &lim, NULL, 0, &p, &bad), -E2BIG);
	assert_int_equal(bad, 3);
}

static void single_request_quirk(void **state)
{
	const struct mb_span s[] = {{1, MB_HOLDING, 0, 1}, {1, MB_HOLDING, 1, 1}, {1, MB_HOLDING, 2, 2}};
	struct mb_limits lim = defaults;
	struct mb_plan p;

	lim.single = true;
	assert_int_equal(mb_plan_build(s, 3, &lim, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 3);
	check_req(&p, 2, 1, MB_HOLDING, 2, 2);
	mb_plan_clear(&p);
}

static void overlapping_points(void **state)
{
	/* Two bits of one register and the register itself. */
	const struct mb_span s[] = {{1, MB_HOLDING, 5, 1}, {1, MB_HOLDING, 5, 1}, {1, MB_HOLDING, 4, 2}};
	struct mb_plan p;
	struct mb_barrier b;

	assert_int_equal(mb_plan_build(s, 3, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 1);
	check_req(&p, 0, 1, MB_HOLDING, 4, 2);
	/* Nothing to split: every point overlaps another. */
	assert_int_equal(mb_plan_split(&p, 0, s, 3, &b), -ENOENT);
	mb_plan_clear(&p);
}

static void split_and_remember(void **state)
{
	/* Registers 0,1 and 6,7 exist; 3..5 is a hole the device refuses. */
	const struct mb_span s[] = {
		{1, MB_HOLDING, 0, 1}, {1, MB_HOLDING, 1, 1}, {1, MB_HOLDING, 6, 2}, {1, MB_HOLDING, 8, 1},
	};
	struct mb_plan p;
	struct mb_barrier b;

	assert_int_equal(mb_plan_build(s, 4, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 1);
	assert_int_equal(mb_plan_split(&p, 0, s, 4, &b), 0);
	assert_int_equal(b.unit, 1);
	assert_int_equal(b.table, MB_HOLDING);
	assert_int_equal(b.addr, 6); /* the widest gap: 2..5 */
	mb_plan_clear(&p);
	assert_int_equal(mb_plan_build(s, 4, &defaults, &b, 1, &p, NULL), 0);
	assert_int_equal(p.n_req, 2);
	check_req(&p, 0, 1, MB_HOLDING, 0, 2);
	check_req(&p, 1, 1, MB_HOLDING, 6, 3);
	/* A request with one point cannot be split further; the other can. */
	assert_int_equal(mb_plan_split(&p, 1, s, 4, &b), 0);
	assert_int_equal(b.addr, 8);
	mb_plan_clear(&p);

	/* A barrier of another table or unit changes nothing. */
	struct mb_barrier other[2] = {{1, MB_INPUT, 6}, {2, MB_HOLDING, 6}};

	assert_int_equal(mb_plan_build(s, 4, &defaults, other, 2, &p, NULL), 0);
	assert_int_equal(p.n_req, 1);
	mb_plan_clear(&p);
}

static void format(void **state)
{
	struct mb_req r = {3, MB_HOLDING, 100, 10};
	char buf[64];

	assert_int_equal(mb_req_format(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "FC3 unit 3 100-109");
	r.table = MB_COILS;
	mb_req_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "FC1 unit 3 100-109");
}

/* A point that is only executed (count 0) costs no request, and the
 * points around it merge as if it were not there. */
static void unread_points(void **state)
{
	const struct mb_span s[] = {
		{1, MB_HOLDING, 0, 2}, {1, MB_COILS, 7, 0}, {1, MB_HOLDING, 30, 0}, {1, MB_HOLDING, 4, 1},
	};
	struct mb_plan p;

	assert_int_equal(mb_plan_build(s, 4, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 1);
	check_req(&p, 0, 1, MB_HOLDING, 0, 5);
	assert_int_equal(p.point_req[0], 0);
	assert_int_equal(p.point_req[1], MB_PLAN_UNREAD);
	assert_int_equal(p.point_req[2], MB_PLAN_UNREAD);
	assert_int_equal(p.point_req[3], 0);
	mb_plan_clear(&p);
}

static void empty(void **state)
{
	struct mb_plan p;

	assert_int_equal(mb_plan_build(NULL, 0, &defaults, NULL, 0, &p, NULL), 0);
	assert_int_equal(p.n_req, 0);
	mb_plan_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merges_across_small_gaps),
		cmocka_unit_test(groups_by_unit_and_table),
		cmocka_unit_test(fill_limit),
		cmocka_unit_test(max_request_size),
		cmocka_unit_test(single_request_quirk),
		cmocka_unit_test(overlapping_points),
		cmocka_unit_test(split_and_remember),
		cmocka_unit_test(format),
		cmocka_unit_test(unread_points),
		cmocka_unit_test(empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
