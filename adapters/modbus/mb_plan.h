/* Modbus read planner: which requests one poll cycle of a device costs.
 * Pure: no I/O, unit-tested. */
#ifndef MB_PLAN_H
#define MB_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_codec.h"

/* What one point needs read: `count` registers (or bits) from `addr`; a
 * count of 0 is a point that is never read (written only). */
struct mb_span {
	uint8_t unit;
	enum mb_table table;
	uint16_t addr;
	uint16_t count;
};

/* One read request of a cycle. */
struct mb_req {
	uint8_t unit;
	enum mb_table table;
	uint16_t addr;
	uint16_t count;
};

struct mb_limits {
	uint16_t max_regs; /* registers per request, 1..125 */
	uint16_t max_bits; /* bits per request, 1..2000 */
	uint16_t fill;     /* unrequested registers (or bits) read to merge two ranges */
	bool single;       /* one request per point: no merging at all */
};

/* A remembered split: no request may cover both addr - 1 and addr. */
struct mb_barrier {
	uint8_t unit;
	enum mb_table table;
	uint16_t addr;
};

struct mb_plan {
	struct mb_req *req; /* owned */
	size_t n_req;
	uint32_t *point_req; /* per span: index of the request holding it, or
			      * MB_PLAN_UNREAD for a span of count 0; owned */
};
#define MB_PLAN_UNREAD UINT32_MAX

/* Plan n spans.  Spans longer than the limit of their table are refused with
 * -E2BIG (*bad says which).  Returns 0 or negative errno; free with
 * mb_plan_clear. */
int mb_plan_build(const struct mb_span *spans, size_t n, const struct mb_limits *lim,
		  const struct mb_barrier *bar, size_t n_bar, struct mb_plan *out, size_t *bad);
void mb_plan_clear(struct mb_plan *p);

/* Where to split request `r` after it answered "illegal data address": the
 * barrier between the two points of the request with the widest gap between
 * them.  -ENOENT when the request holds a single point (or points that all
 * overlap): nothing to split. */
int mb_plan_split(const struct mb_plan *p, size_t r, const struct mb_span *spans, size_t n,
		  struct mb_barrier *out);

/* "FC3 unit 1 100-109" for a request. */
int mb_req_format(const struct mb_req *r, char *buf, size_t len);

#endif
