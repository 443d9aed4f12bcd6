/* Block1 reassembly (lwm2m/block1.c): order, limits, timeouts, sinks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lwm2m/block1.h"

static uint8_t blk[1024];

static struct lwm_block1_req req(const void *session, const char *key, uint32_t num, bool more,
				 size_t len, size_t limit)
{
	return (struct lwm_block1_req){
		.session = session, .method = 3, .key = key, .num = num, .more = more,
		.szx = 6, .format = 0, .data = blk, .len = len, .limit = limit,
	};
}

static unsigned feed(struct lwm_block1_table *t, struct lwm_block1_req r, uint64_t now,
		     struct lwm_block1_result *res)
{
	lwm_block1_feed(t, &r, now, res);
	return res->code;
}

static void three_blocks_make_one_body(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	for (int i = 0; i < 3; i++) {
		memset(blk, 'a' + i, sizeof(blk));
		assert_int_equal(feed(&t, req(&s, "/3/0/15", (uint32_t)i, i < 2, i < 2 ? 1024 : 100,
					      4096), 0, &res),
				 i < 2 ? 231 : 0);
	}
	assert_int_equal(res.body_len, 2148);
	assert_int_equal(res.body[0], 'a');
	assert_int_equal(res.body[1024], 'b');
	assert_int_equal(res.body[2147], 'c');
	/* Handed out: no longer in the table. */
	assert_int_equal(lwm_block1_count(&t), 0);
	lwm_block1_done(&t, res.xfer);
}

static void one_block_needs_no_transfer(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/1", 0, false, 10, 64), 0, &res), 0);
	assert_ptr_equal(res.body, blk);
	assert_int_equal(res.body_len, 10);
	assert_null(res.xfer);
	assert_int_equal(lwm_block1_count(&t), 0);
}

static void size1_over_the_limit_is_413_before_storing(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	struct lwm_block1_req r;
	int s;

	lwm_block1_init(&t);
	r = req(&s, "/3/0/15", 0, true, 1024, 65536);
	r.has_size1 = true;
	r.size1 = UINT32_MAX;
	assert_int_equal(feed(&t, r, 0, &res), 413);
	assert_int_equal(res.size1, 65536);
	assert_int_equal(lwm_block1_count(&t), 0);
	/* Its next block finds no transfer. */
	assert_int_equal(feed(&t, req(&s, "/3/0/15", 1, false, 10, 65536), 0, &res), 408);
}

static void growing_past_the_limit_is_413(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 1, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 2, false, 1, 2048), 0, &res), 413);
	assert_int_equal(res.size1, 2048);
	assert_int_equal(lwm_block1_count(&t), 0);
	/* Exactly the limit is fine. */
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 1, false, 1024, 2048), 0, &res), 0);
	assert_int_equal(res.body_len, 2048);
	lwm_block1_done(&t, res.xfer);
}

static void gaps_and_strays_are_408(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 3, true, 1024, 1 << 20), 0, &res), 408);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 2, true, 1024, 1 << 20), 0, &res), 408);
	assert_int_equal(lwm_block1_count(&t), 0);
}

static void the_block_before_again_is_stored_once(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 1, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 1, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 2, false, 5, 1 << 20), 0, &res), 0);
	assert_int_equal(res.body_len, 2053);
	lwm_block1_done(&t, res.xfer);
}

static void block_zero_again_starts_over(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 1, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(lwm_block1_count(&t), 1);
	assert_int_equal(feed(&t, req(&s, "/k", 1, false, 1, 1 << 20), 0, &res), 0);
	assert_int_equal(res.body_len, 1025);
	lwm_block1_done(&t, res.xfer);
}

static void bad_block_sizes_are_400(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	struct lwm_block1_req r;
	int s;

	lwm_block1_init(&t);
	/* A block before the last must be full. */
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1000, 1 << 20), 0, &res), 400);
	r = req(&s, "/k", 0, true, 1024, 1 << 20);
	r.szx = 7; /* BERT: not on UDP */
	assert_int_equal(feed(&t, r, 0, &res), 400);
	r = req(&s, "/k", 0, false, 1024, 1 << 20);
	r.szx = 0; /* 16-byte blocks, 1024 bytes in it */
	assert_int_equal(feed(&t, r, 0, &res), 400);
	assert_int_equal(lwm_block1_count(&t), 0);
}

static void a_changed_format_is_408(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	struct lwm_block1_req r;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	r = req(&s, "/k", 1, false, 3, 1 << 20);
	r.format = 11542;
	assert_int_equal(feed(&t, r, 0, &res), 408);
	assert_int_equal(lwm_block1_count(&t), 0);
}

static void stale_transfers_expire(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	assert_int_equal(feed(&t, req(&s, "/k", 0, true, 1024, 1 << 20), 1000, &res), 231);
	assert_int_equal(lwm_block1_expire(&t, 1000 + LWM_BLOCK1_TIMEOUT_MS - 1),
			 1000 + LWM_BLOCK1_TIMEOUT_MS);
	assert_int_equal(lwm_block1_count(&t), 1);
	assert_int_equal(lwm_block1_expire(&t, 1000 + LWM_BLOCK1_TIMEOUT_MS), 0);
	assert_int_equal(lwm_block1_count(&t), 0);
	/* A late block then finds nothing. */
	assert_int_equal(feed(&t, req(&s, "/k", 1, false, 1, 1 << 20), 1000 + LWM_BLOCK1_TIMEOUT_MS,
			      &res), 408);
}

static void transfers_are_kept_apart_and_bounded_per_session(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	char keys[6][8];
	int s1, s2;

	lwm_block1_init(&t);
	/* Same path on two sessions: two transfers. */
	assert_int_equal(feed(&t, req(&s1, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s2, "/k", 0, true, 1024, 1 << 20), 0, &res), 231);
	assert_int_equal(lwm_block1_count(&t), 2);
	/* One session: at most LWM_BLOCK1_PER_SESSION, the oldest dropped. */
	for (int i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof(keys[i]), "/p%d", i);
		assert_int_equal(feed(&t, req(&s1, keys[i], 0, true, 1024, 1 << 20), 10 + (uint64_t)i,
				      &res), 231);
	}
	assert_int_equal(lwm_block1_count(&t), 1 + LWM_BLOCK1_PER_SESSION);
	/* "/k" of s1 was the oldest: gone.  s2's is still there. */
	assert_int_equal(feed(&t, req(&s1, "/k", 1, false, 1, 1 << 20), 20, &res), 408);
	assert_int_equal(feed(&t, req(&s2, "/k", 1, false, 1, 1 << 20), 20, &res), 0);
	lwm_block1_done(&t, res.xfer);
	lwm_block1_drop_session(&t, &s1);
	assert_int_equal(lwm_block1_count(&t), 0);
}

static void the_table_is_bounded_across_sessions(void **state)
{
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	static int sessions[LWM_BLOCK1_MAX + 1];

	lwm_block1_init(&t);
	for (unsigned i = 0; i <= LWM_BLOCK1_MAX; i++)
		assert_int_equal(feed(&t, req(&sessions[i], "/k", 0, true, 1024, 1 << 20), i, &res),
				 231);
	assert_int_equal(lwm_block1_count(&t), LWM_BLOCK1_MAX);
	/* The oldest of all went; the newest is there. */
	assert_int_equal(feed(&t, req(&sessions[0], "/k", 1, false, 1, 1 << 20), 100, &res), 408);
	assert_int_equal(feed(&t, req(&sessions[LWM_BLOCK1_MAX], "/k", 1, false, 1, 1 << 20), 100,
			      &res), 0);
	lwm_block1_done(&t, res.xfer);
	lwm_block1_clear(&t);
	assert_int_equal(lwm_block1_count(&t), 0);
}

/* A streaming sink, as firmware push will use: sees each block in order. */
struct spool {
	struct lwm_block1_sink sink;
	uint64_t hint, next;
	int chunks, ended, aborted, released;
	int reason;    /* abort_reason at the last abort */
	int chunk_err; /* what chunk returns (0: take it) */
};

static int sp_begin(struct lwm_block1_sink *s, uint64_t hint)
{
	((struct spool *)s)->hint = hint;
	return 0;
}

static int sp_chunk(struct lwm_block1_sink *s, uint64_t off, const uint8_t *d, size_t len)
{
	struct spool *p = (struct spool *)s;

	if (p->chunk_err)
		return p->chunk_err;
	assert_int_equal(off, p->next);
	p->next += len;
	p->chunks++;
	return 0;
}

static int sp_end(struct lwm_block1_sink *s)
{
	((struct spool *)s)->ended++;
	return 0;
}

static void sp_abort(struct lwm_block1_sink *s)
{
	((struct spool *)s)->aborted++;
	((struct spool *)s)->reason = s->abort_reason;
}

static void sp_release(struct lwm_block1_sink *s)
{
	((struct spool *)s)->released++;
}

static struct lwm_block1_sink *sink_for(void *ud, const struct lwm_block1_req *r, size_t *limit)
{
	if (strcmp(r->key, "/5/0/0") != 0)
		return NULL;
	*limit = 1 << 20; /* what the slot holds, beyond a request's limit */
	return ud;
}

static void another_sink_streams_the_body(void **state)
{
	struct spool sp = {.sink = {sp_begin, sp_chunk, sp_end, sp_abort, sp_release}};
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	struct lwm_block1_req r;
	int s;

	lwm_block1_init(&t);
	t.sink_for = sink_for;
	t.sink_ud = &sp;
	/* The sink's limit, not the request's (2048), applies. */
	r = req(&s, "/5/0/0", 0, true, 1024, 2048);
	r.has_size1 = true;
	r.size1 = 3000;
	assert_int_equal(feed(&t, r, 0, &res), 231);
	assert_int_equal(sp.hint, 3000);
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 1, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 2, false, 952, 2048), 0, &res), 0);
	assert_int_equal(sp.chunks, 3);
	assert_int_equal(sp.next, 3000);
	assert_int_equal(sp.ended, 1);
	assert_null(res.body); /* the body is where the sink put it */
	lwm_block1_done(&t, res.xfer);
	assert_int_equal(sp.released, 1);
	assert_int_equal(sp.aborted, 0);
	/* A dropped transfer aborts its sink. */
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 1 << 30), 0, &res), 231);
	lwm_block1_clear(&t);
	assert_int_equal(sp.aborted, 1);
	assert_int_equal(sp.released, 2);
	/* Past the sink's limit by Size1: 4.13 before the sink begins. */
	sp.hint = 0;
	r = req(&s, "/5/0/0", 0, true, 1024, 2048);
	r.has_size1 = true;
	r.size1 = (1 << 20) + 1;
	assert_int_equal(feed(&t, r, 0, &res), 413);
	assert_int_equal(res.size1, 1 << 20);
	assert_int_equal(sp.hint, 0);
	assert_int_equal(sp.released, 3);
	assert_int_equal(sp.aborted, 1);
}

/* Why a transfer was dropped reaches its sink (the firmware spool makes an
 * Update Result of it), and a sink's -EPERM / -ENOSPC are 4.05 / 4.13. */
static void a_sink_learns_why_it_was_dropped(void **state)
{
	struct spool sp = {.sink = {sp_begin, sp_chunk, sp_end, sp_abort, sp_release}};
	struct lwm_block1_table t;
	struct lwm_block1_result res;
	int s;

	lwm_block1_init(&t);
	t.sink_for = sink_for;
	t.sink_ud = &sp;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 231);
	lwm_block1_expire(&t, LWM_BLOCK1_TIMEOUT_MS);
	assert_int_equal(sp.reason, -ETIMEDOUT);
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 2, true, 1024, 2048), 0, &res), 408);
	assert_int_equal(sp.reason, -EPROTO);
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 231);
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 231);
	assert_int_equal(sp.reason, -ECANCELED); /* started over */
	lwm_block1_drop_session(&t, &s);
	assert_int_equal(sp.reason, -ECONNRESET);
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 231);
	sp.chunk_err = -EPERM;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 1, true, 1024, 2048), 0, &res), 405);
	assert_int_equal(sp.reason, -EPERM);
	sp.chunk_err = -ENOSPC;
	sp.next = 0;
	assert_int_equal(feed(&t, req(&s, "/5/0/0", 0, true, 1024, 2048), 0, &res), 413);
	assert_int_equal(sp.reason, -ENOSPC);
	assert_int_equal(lwm_block1_count(&t), 0);
	assert_int_equal(sp.aborted, sp.released);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_blocks_make_one_body),
		cmocka_unit_test(one_block_needs_no_transfer),
		cmocka_unit_test(size1_over_the_limit_is_413_before_storing),
		cmocka_unit_test(growing_past_the_limit_is_413),
		cmocka_unit_test(gaps_and_strays_are_408),
		cmocka_unit_test(the_block_before_again_is_stored_once),
		cmocka_unit_test(block_zero_again_starts_over),
		cmocka_unit_test(bad_block_sizes_are_400),
		cmocka_unit_test(a_changed_format_is_408),
		cmocka_unit_test(stale_transfers_expire),
		cmocka_unit_test(transfers_are_kept_apart_and_bounded_per_session),
		cmocka_unit_test(the_table_is_bounded_across_sessions),
		cmocka_unit_test(another_sink_streams_the_body),
		cmocka_unit_test(a_sink_learns_why_it_was_dropped),
	};

	return cmocka_run_group_tests_name("block1", tests, NULL, NULL);
}
