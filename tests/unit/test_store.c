/* The notification store: bounds by count and by bytes, hqmax per key,
 * oldest-first order, drop counting, the arena's wrap-around, and the
 * timed SenML encoders that deliver what it kept. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/log.h"
#include "gatewayd/timerq.h"
#include "lwm2m/client.h"
#include "lwm2m/codec.h"
#include "lwm2m/engine.h"
#include "lwm2m/model.h"
#include "lwm2m/send.h"
#include "lwm2m/store.h"

static struct lwm_record num(uint16_t oid, double v)
{
	struct lwm_record r = {.path = lwm_path_make(3, oid, 0, 5700, 0)};

	r.value.type = LWM_T_FLOAT;
	r.value.v.f = v;
	return r;
}

static struct lwm_record text(const char *s)
{
	struct lwm_record r = {.path = lwm_path_make(3, 3, 0, 0, 0)};

	r.value.type = LWM_T_STRING;
	r.value.v.bytes.ptr = (const uint8_t *)s;
	r.value.v.bytes.len = strlen(s);
	return r;
}

/* Pop the oldest; check its key, time and first value. */
static void pop_expect(struct lwm_store *s, uint64_t key, int64_t t, double v)
{
	struct lwm_store_entry e;

	assert_true(lwm_store_peek(s, &e));
	assert_int_equal(e.key, key);
	assert_int_equal(e.time_s, t);
	assert_int_equal(e.n, 1);
	assert_true(e.recs[0].value.v.f == v);
	lwm_store_pop(s);
}

static void keeps_order_and_times(void **state)
{
	struct lwm_store *s = lwm_store_new(10, 4096);
	struct lwm_record r;

	for (int i = 0; i < 5; i++) {
		r = num(3303, i);
		assert_int_equal(lwm_store_push(s, 7, 0, 1000 + i, &r, 1), 0);
	}
	assert_int_equal(lwm_store_count(s), 5);
	for (int i = 0; i < 5; i++)
		pop_expect(s, 7, 1000 + i, i);
	assert_int_equal(lwm_store_count(s), 0);
	assert_int_equal(lwm_store_bytes(s), 0);
	assert_int_equal(lwm_store_dropped(s), 0);
	lwm_store_free(s);
}

static void count_bound_drops_oldest(void **state)
{
	struct lwm_store *s = lwm_store_new(3, 4096);
	struct lwm_record r;
	int dropped = 0;

	for (int i = 0; i < 7; i++) {
		r = num(3303, i);
		dropped += lwm_store_push(s, 1, 0, i, &r, 1);
	}
	assert_int_equal(dropped, 4);
	assert_int_equal(lwm_store_dropped(s), 4);
	assert_int_equal(lwm_store_count(s), 3);
	pop_expect(s, 1, 4, 4);
	pop_expect(s, 1, 5, 5);
	pop_expect(s, 1, 6, 6);
	lwm_store_free(s);
}

static void byte_bound_drops_oldest_and_wraps(void **state)
{
	/* Room for a few entries only: the ring wraps many times over. */
	struct lwm_store *s = lwm_store_new(1000, 512);
	struct lwm_record r;
	struct lwm_store_entry e;
	int64_t last = -1;

	for (int i = 0; i < 200; i++) {
		r = num(3303, i);
		assert_true(lwm_store_push(s, 1, 0, i, &r, 1) >= 0);
		assert_true(lwm_store_bytes(s) <= 512);
	}
	assert_true(lwm_store_count(s) > 2 && lwm_store_count(s) < 20);
	assert_int_equal(lwm_store_dropped(s), 200 - lwm_store_count(s));
	/* What is left is the newest, oldest first, values intact. */
	while (lwm_store_peek(s, &e)) {
		assert_true(e.time_s > last);
		assert_true(e.recs[0].value.v.f == (double)e.time_s);
		last = e.time_s;
		lwm_store_pop(s);
	}
	assert_int_equal(last, 199);
	lwm_store_free(s);
}

static void bytes_are_copied(void **state)
{
	struct lwm_store *s = lwm_store_new(10, 4096);
	char buf[16] = "hello";
	struct lwm_record r = text(buf);
	struct lwm_store_entry e;

	lwm_store_push(s, 2, 0, 5, &r, 1);
	strcpy(buf, "XXXXX"); /* the caller's memory changes */
	assert_true(lwm_store_peek(s, &e));
	assert_int_equal(e.recs[0].value.v.bytes.len, 5);
	assert_memory_equal(e.recs[0].value.v.bytes.ptr, "hello", 5);
	lwm_store_free(s);
}

static void too_big_is_counted(void **state)
{
	struct lwm_store *s = lwm_store_new(10, 64);
	char big[200];
	struct lwm_record r;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	r = text(big);
	assert_int_equal(lwm_store_push(s, 1, 0, 0, &r, 1), -E2BIG);
	assert_int_equal(lwm_store_dropped(s), 1);
	assert_int_equal(lwm_store_count(s), 0);
	lwm_store_free(s);
}

static void hqmax_bounds_one_key(void **state)
{
	struct lwm_store *s = lwm_store_new(100, 8192);
	struct lwm_record r;

	/* Key 1 with hqmax 2 interleaved with key 2 (no hqmax). */
	for (int i = 0; i < 6; i++) {
		r = num(3303, i);
		lwm_store_push(s, i % 2 ? 2 : 1, i % 2 ? 0 : 2, i, &r, 1);
	}
	/* Key 1 pushed 0, 2, 4: 0 dropped; key 2 kept 1, 3, 5. */
	assert_int_equal(lwm_store_dropped(s), 1);
	assert_int_equal(lwm_store_count(s), 5);
	pop_expect(s, 2, 1, 1);
	pop_expect(s, 1, 2, 2);
	pop_expect(s, 2, 3, 3);
	pop_expect(s, 1, 4, 4);
	pop_expect(s, 2, 5, 5);
	assert_false(lwm_store_peek(s, &(struct lwm_store_entry){0}));
	lwm_store_free(s);
}

static void at_walks_in_order(void **state)
{
	struct lwm_store *s = lwm_store_new(100, 8192);
	struct lwm_store_entry e;
	struct lwm_record r;

	for (int i = 0; i < 4; i++) {
		r = num(3303, i);
		lwm_store_push(s, 1, 0, i, &r, 1);
	}
	lwm_store_drop_oldest(s);
	assert_int_equal(lwm_store_dropped(s), 1);
	for (int i = 0; i < 3; i++) {
		assert_true(lwm_store_at(s, (size_t)i, &e));
		assert_int_equal(e.time_s, i + 1);
	}
	assert_false(lwm_store_at(s, 3, &e));
	lwm_store_free(s);
}

static void timed_senml_json(void **state)
{
	struct lwm_record r[3] = {num(3303, 20.5), num(3303, 21), num(3304, 1)};
	int64_t t[3] = {1700000000, 1700000002, 1700000000};
	struct lwm_buf out;

	lwm_buf_init(&out, 0);
	assert_int_equal(lwm_senml_encode_timed(LWM_FMT_SENML_JSON, r, t, 3, &out), 0);
	lwm_buf_putc(&out, 0);
	assert_string_equal((const char *)out.data,
			    "[{\"bt\":1700000000,\"n\":\"/3303/0/5700\",\"v\":20.5},"
			    "{\"n\":\"/3303/0/5700\",\"t\":2,\"v\":21},"
			    "{\"n\":\"/3304/0/5700\",\"v\":1}]");
	lwm_buf_free(&out);
}

static void timed_senml_cbor(void **state)
{
	struct lwm_record r[2] = {num(3303, 1.5), num(3303, 2.5)};
	int64_t t[2] = {1700000000, 1700000003};
	struct lwm_buf out;
	/* [{-3: 1700000000, 0: "/3303/0/5700", 2: 1.5}, {0: "/3303/0/5700", 6: 3, 2: 2.5}] */
	static const uint8_t want[] = {
		0x82, 0xa3, 0x22, 0x1a, 0x65, 0x53, 0xf1, 0x00, 0x00, 0x6c, '/', '3', '3', '0', '3', '/', '0', '/',
		'5', '7', '0', '0', 0x02, 0xf9, 0x3e, 0x00, 0xa3, 0x00, 0x6c, '/', '3', '3', '0',
		'3', '/', '0', '/', '5', '7', '0', '0', 0x06, 0x03, 0x02, 0xf9, 0x41, 0x00,
	};

	lwm_buf_init(&out, 0);
	assert_int_equal(lwm_senml_encode_timed(LWM_FMT_SENML_CBOR, r, t, 2, &out), 0);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));
	assert_int_equal(lwm_senml_encode_timed(LWM_FMT_TLV, r, t, 2, &out), -ENOTSUP);
	lwm_buf_free(&out);
}

/* A wall clock that was never set (before 2^28 s, which SenML would read
 * as relative to now): no bt, no t at all. */
static void timed_without_a_set_clock(void **state)
{
	struct lwm_record r[2] = {num(3303, 1.5), num(3303, 2.5)};
	int64_t t[2] = {100, 103};
	struct lwm_buf out;
	static const uint8_t want[] = {
		0x82, 0xa2, 0x00, 0x6c, '/', '3', '3', '0', '3', '/', '0', '/', '5', '7', '0', '0',
		0x02, 0xf9, 0x3e, 0x00, 0xa2, 0x00, 0x6c, '/', '3', '3', '0', '3', '/', '0', '/',
		'5', '7', '0', '0', 0x02, 0xf9, 0x41, 0x00,
	};

	lwm_buf_init(&out, 0);
	assert_int_equal(lwm_senml_encode_timed(LWM_FMT_SENML_JSON, r, t, 2, &out), 0);
	lwm_buf_putc(&out, 0);
	assert_string_equal((const char *)out.data,
			    "[{\"n\":\"/3303/0/5700\",\"v\":1.5},{\"n\":\"/3303/0/5700\",\"v\":2.5}]");
	out.len = 0;
	assert_int_equal(lwm_senml_encode_timed(LWM_FMT_SENML_CBOR, r, t, 2, &out), 0);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));
	lwm_buf_free(&out);
}

/* /1/x/6 defaults to true (1.xml): an account a bootstrap server wrote
 * without it stores notifications; an explicit false turns storing off. */
static void storing_defaults_to_on(void **state)
{
	struct timerq timers;
	struct lwm_engine *eng;
	struct lwm_model *m = lwm_model_new();
	struct lwm_client *c = NULL;
	struct lwm_value uri = {.type = LWM_T_STRING}, i = {.type = LWM_T_INTEGER};
	struct lwm_value b = {.type = LWM_T_BOOLEAN};
	struct lwm_path p;

	log_setup(LOG_TARGET_STDERR, LOG_CRIT);
	timerq_init(&timers);
	assert_non_null(m);
	assert_int_equal(lwm_engine_new(&timers, &eng), 0);
	assert_int_equal(lwm_model_add_instance(m, 0, 0), 0);
	assert_int_equal(lwm_model_add_instance(m, 1, 0), 0);
	uri.v.bytes.ptr = (const uint8_t *)"coap://127.0.0.1:5690";
	uri.v.bytes.len = strlen("coap://127.0.0.1:5690");
	p = lwm_path_make(3, 0, 0, 0, 0);
	assert_true(lwm_model_set(m, &p, &uri) >= 0);
	i.v.i = 1;
	p = lwm_path_make(3, 0, 0, 10, 0);
	assert_true(lwm_model_set(m, &p, &i) >= 0);
	p = lwm_path_make(3, 1, 0, 0, 0);
	assert_true(lwm_model_set(m, &p, &i) >= 0);
	i.v.i = 60;
	p = lwm_path_make(3, 1, 0, 1, 0);
	assert_true(lwm_model_set(m, &p, &i) >= 0);
	assert_int_equal(lwm_client_new_from_model(eng, m, 0, 0, "d", "ep", "1.1", NULL, NULL,
						   NULL, &c),
			 0);
	/* Left out by the account: the client fills in the default, true. */
	p = lwm_path_make(3, 1, 0, 6, 0);
	assert_non_null(lwm_model_get(m, &p));
	assert_true(lwm_model_get(m, &p)->v.b);
	assert_true(lwm_report_storing(c));
	b.v.b = false;
	assert_true(lwm_model_set(m, &p, &b) >= 0);
	assert_false(lwm_report_storing(c));
	b.v.b = true;
	assert_true(lwm_model_set(m, &p, &b) >= 0);
	assert_true(lwm_report_storing(c));
	lwm_client_free(c);
	lwm_engine_free(eng);
	lwm_model_free(m);
	timerq_fini(&timers);
}

/* Every device has a store (and one more for its Sends in flight): one small
 * entry must not cost the whole max_bytes (it took 64 KiB per Sending
 * device, issue 15). */
static void small_entries_small_arena(void **state)
{
	struct mallinfo2 m0, m1;
	struct lwm_store *s;
	struct lwm_record r = num(3303, 21.5);
	void *volatile probe; /* volatile: the compiler may not drop the pair */

	/* Only where the heap is glibc's own (not under ASan or valgrind). */
	m0 = mallinfo2();
	probe = malloc(64 * 1024);
	m1 = mallinfo2();
	free(probe);
	if (m1.uordblks < m0.uordblks + 64 * 1024) {
		skip();
		return;
	}
	s = lwm_store_new(256, 64 * 1024);
	m0 = mallinfo2();
	assert_int_equal(lwm_store_push(s, 1, 0, 1000, &r, 1), 0);
	m1 = mallinfo2();
	assert_true(m1.uordblks - m0.uordblks < 1024);
	pop_expect(s, 1, 1000, 21.5);
	lwm_store_free(s);
}

/* The arena grows while entries wrap around it: they keep their order, and
 * their strings (which live in the entries) move with them. */
static void growing_keeps_order_and_bytes(void **state)
{
	struct lwm_store *s = lwm_store_new(1000, 8192);
	char want[64][48];
	int first = 0, next = 0;

	for (int round = 0; round < 40; round++) {
		for (int k = 0; k < 2; k++, next++) {
			struct lwm_record r;

			snprintf(want[next % 64], sizeof(want[0]), "value %d %.*s", next, next % 30,
				 "abcdefghijklmnopqrstuvwxyz0123456789");
			r = text(want[next % 64]);
			assert_int_equal(lwm_store_push(s, (uint64_t)next, 0, next, &r, 1), 0);
		}
		if (round % 3 != 2) {
			struct lwm_store_entry e;

			assert_true(lwm_store_peek(s, &e));
			assert_int_equal(e.key, first);
			lwm_store_pop(s);
			first++;
		}
	}
	assert_int_equal(lwm_store_count(s), next - first);
	for (int i = first; i < next; i++) {
		struct lwm_store_entry e;

		assert_true(lwm_store_peek(s, &e));
		assert_int_equal(e.key, i);
		assert_int_equal(e.recs[0].value.v.bytes.len, strlen(want[i % 64]));
		assert_memory_equal(e.recs[0].value.v.bytes.ptr, want[i % 64],
				    e.recs[0].value.v.bytes.len);
		lwm_store_pop(s);
	}
	assert_int_equal(lwm_store_count(s), 0);
	lwm_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keeps_order_and_times),
		cmocka_unit_test(count_bound_drops_oldest),
		cmocka_unit_test(byte_bound_drops_oldest_and_wraps),
		cmocka_unit_test(bytes_are_copied),
		cmocka_unit_test(too_big_is_counted),
		cmocka_unit_test(hqmax_bounds_one_key),
		cmocka_unit_test(at_walks_in_order),
		cmocka_unit_test(timed_senml_json),
		cmocka_unit_test(timed_senml_cbor),
		cmocka_unit_test(timed_without_a_set_clock),
		cmocka_unit_test(storing_defaults_to_on),
		cmocka_unit_test(small_entries_small_arena),
		cmocka_unit_test(growing_keeps_order_and_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
