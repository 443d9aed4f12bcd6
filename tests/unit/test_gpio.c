/* The gpio adapter through a fake host (fake clock, timers, fd watches,
 * config tables) and the fake chip of tests/fixtures/gpio: edges with the
 * timestamps a test chooses, bounce, busy and missing lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatewayd/adapter.h"
#include "tests/fixtures/gpio/gpio_chip_fake.h"
#include "tests/unit/gpio_host.h"

#define MS UINT64_C(1000000) /* nanoseconds in a millisecond */

static const char *const names0[] = {"DOOR", "METER", "RELAY", "VALVE", NULL, "SPARE"};

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.now = T0;
	snprintf(fx.state_dir, sizeof(fx.state_dir), "/tmp/test_gpio.XXXXXX");
	assert_non_null(mkdtemp(fx.state_dir));
	gpio_fake_reset();
	assert_int_equal(gpio_fake_chip_add("pinctrl-test", 6, names0), 0);
	ops = gwd_adapter_descriptor.ops;
	assert_int_equal(ops->init(&host, &actx), 0);
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	size_t left = 0, watched = live_watches();

	ops->fini(actx);
	/* Clean up after a failed test before judging, so that the next test
	 * starts clean. */
	for (size_t i = 0; i < 32; i++) {
		left += timers[i] != NULL;
		free(timers[i]);
		timers[i] = NULL;
	}
	for (size_t i = 0; i < 16; i++) {
		free(watches[i]);
		watches[i] = NULL;
	}
	snprintf(path, sizeof(path), "%s/door.gpio", fx.state_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/meter.gpio", fx.state_dir);
	unlink(path);
	assert_int_equal(rmdir(fx.state_dir), 0); /* nothing else left, no .tmp */
	gpio_fake_reset();
	assert_int_equal(left, 0);    /* every timer freed */
	assert_int_equal(watched, 0); /* every fd unwatched */
	return 0;
}

/* An edge at ms (on the kernel's clock, which the test keeps equal to the
 * fake loop clock), seen by the loop at that time. */
static void edge(unsigned off, int level, uint64_t ms)
{
	advance_to(ms);
	assert_int_equal(gpio_fake_edge("pinctrl-test", off, level, ms * MS), 0);
	loop_drain();
}

/* ---- a door contact: points 0 state, 1 counter, 2 polarity, 3 debounce,
 * 4 edge, 5 counter reset ---------------------------------------------------------- */

static struct kv door_dev[] = {KS("chip", "pinctrl-test"), KEND};

static int make_door(struct dut *u, int64_t debounce, const char *edge_sel, bool persist,
		     const char *name)
{
	static struct kv st[8][8];
	struct kv *pts[6];
	struct kv s0[] = {KS("line", "DOOR"), KS("bias", "pull-up"), KB("active_low", true),
			  KI("debounce", debounce), KS("edge", edge_sel),
			  KB("persist_counter", persist), KEND};
	struct kv s1[] = {KS("line", "DOOR"), KS("function", "counter"), KEND};
	struct kv s2[] = {KS("line", "DOOR"), KS("function", "polarity"), KEND};
	struct kv s3[] = {KS("line", "DOOR"), KS("function", "debounce"), KEND};
	struct kv s4[] = {KS("line", "DOOR"), KS("function", "edge"), KEND};
	struct kv s5[] = {KS("line", "DOOR"), KS("function", "counter_reset"), KEND};

	memcpy(st[0], s0, sizeof(s0));
	memcpy(st[1], s1, sizeof(s1));
	memcpy(st[2], s2, sizeof(s2));
	memcpy(st[3], s3, sizeof(s3));
	memcpy(st[4], s4, sizeof(s4));
	memcpy(st[5], s5, sizeof(s5));
	for (size_t i = 0; i < 6; i++)
		pts[i] = st[i];
	for (struct kv *e = door_dev; e->type != KV_END; e++)
		e->read = false;
	return make(u, name, door_dev, pts, 6);
}

static void test_input_edges(void **state)
{
	struct dut u;
	bool output;
	enum gpio_bias bias;
	size_t mark;

	assert_int_equal(make_door(&u, 0, "both", false, "door"), 0);
	for (size_t i = 0; i < 6; i++)
		assert_null(unread(&u.pts[i]));
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_UP);
	/* Requested as an input with its pull-up: the closed door reads high,
	 * so with active_low the contact shows false. */
	assert_true(gpio_fake_requested("pinctrl-test", 0, &output, &bias));
	assert_false(output);
	assert_int_equal(bias, GPIO_BIAS_PULL_UP);
	assert_int_equal(live_watches(), 1);
	assert_false(read_ch(&u, u.ch[0], 1).v.b);
	assert_int_equal(read_ch(&u, u.ch[1], 2).v.i, 0);
	assert_true(read_ch(&u, u.ch[2], 3).v.b);
	assert_int_equal(read_ch(&u, u.ch[4], 4).v.i, 3);

	/* The door opens: low, so state true; both edges count. */
	mark = fx.n_recs;
	edge(0, 0, T0 + 100);
	assert_true(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 1);
	edge(0, 1, T0 + 200);
	assert_false(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 2);
	assert_int_equal(read_ch(&u, u.ch[1], 5).v.i, 2);
	/* No polling: nothing happens without an edge. */
	mark = fx.n_recs;
	advance_to(T0 + 100000);
	assert_int_equal(fx.n_recs, mark);
	destroy(&u);
	assert_false(gpio_fake_requested("pinctrl-test", 0, NULL, NULL));
}

/* Bounce shorter than the debounce period never shows; a level that held
 * counts once, judged from the kernel's timestamps within a batch and from
 * the timer for the last edge. */
static void test_debounce(void **state)
{
	struct dut u;
	size_t mark;

	assert_int_equal(make_door(&u, 20, "rising", false, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	mark = fx.n_recs;
	/* Contact chatter when opening: low, high, low, high, low within 6 ms. */
	edge(0, 0, T0 + 100);
	edge(0, 1, T0 + 101);
	edge(0, 0, T0 + 103);
	edge(0, 1, T0 + 104);
	edge(0, 0, T0 + 106);
	assert_int_equal(count_reports(&u, u.ch[0], mark), 0);
	advance_to(T0 + 125); /* 19 ms after the last edge: not yet */
	assert_int_equal(count_reports(&u, u.ch[0], mark), 0);
	advance_to(T0 + 126);
	assert_int_equal(count_reports(&u, u.ch[0], mark), 1);
	assert_true(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 1); /* logical rising */

	/* A glitch of 5 ms back to closed: filtered entirely. */
	mark = fx.n_recs;
	edge(0, 1, T0 + 300);
	edge(0, 0, T0 + 305);
	advance_to(T0 + 1000);
	assert_int_equal(count_reports(&u, u.ch[0], mark), 0);

	/* A batch read late (the loop was busy): closed for 50 ms, then open
	 * again, both events waiting at once.  The timestamps say the closed
	 * level held: it counts as a closing even though the loop saw both
	 * edges together; the final opening is confirmed by the timer. */
	mark = fx.n_recs;
	assert_int_equal(gpio_fake_edge("pinctrl-test", 0, 1, (T0 + 2000) * MS), 0);
	assert_int_equal(gpio_fake_edge("pinctrl-test", 0, 0, (T0 + 2050) * MS), 0);
	fx.now = T0 + 2055; /* the loop gets round to the fd only now */
	loop_drain();
	assert_int_equal(count_reports(&u, u.ch[0], mark), 1); /* closed */
	assert_false(last_report(&u, u.ch[0], mark)->v.v.b);
	advance_to(T0 + 2074);
	assert_int_equal(count_reports(&u, u.ch[0], mark), 1);
	advance_to(T0 + 2075);
	assert_int_equal(count_reports(&u, u.ch[0], mark), 2); /* open again */
	assert_true(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 2);
	destroy(&u);
}

/* 5502, 5503 and 5504 written by a server take effect at once. */
static void test_server_writes(void **state)
{
	struct dut u;
	size_t mark;

	assert_int_equal(make_door(&u, 0, "rising", false, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);

	/* Edge selection: falling only (1).  Opening is a logical rising. */
	assert_int_equal(write_ch(&u, u.ch[4], gwd_value_int(1), 10), 0);
	assert_int_equal(read_ch(&u, u.ch[4], 11).v.i, 1);
	mark = fx.n_recs;
	edge(0, 0, T0 + 100); /* open: rising, not counted now */
	assert_null(last_report(&u, u.ch[1], mark));
	edge(0, 1, T0 + 200); /* closed: falling, counted */
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 1);
	assert_int_equal(write_ch(&u, u.ch[4], gwd_value_int(4), 12), -ERANGE);
	assert_int_equal(write_ch(&u, u.ch[4], gwd_value_int(0), 12), -ERANGE);

	/* Debounce from the server: 10 ms. */
	assert_int_equal(write_ch(&u, u.ch[3], gwd_value_int(10), 13), 0);
	assert_int_equal(read_ch(&u, u.ch[3], 14).v.i, 10);
	mark = fx.n_recs;
	edge(0, 0, T0 + 300);
	edge(0, 1, T0 + 304); /* 4 ms glitch: gone */
	advance_to(T0 + 400);
	assert_null(last_report(&u, u.ch[0], mark));
	assert_int_equal(write_ch(&u, u.ch[3], gwd_value_int(-1), 15), -ERANGE);
	assert_int_equal(write_ch(&u, u.ch[3], gwd_value_double(2.5), 15), -EINVAL);

	/* Polarity from the server: the state's meaning flips at once. */
	assert_false(read_ch(&u, u.ch[0], 16).v.b);
	mark = fx.n_recs;
	assert_int_equal(write_ch(&u, u.ch[2], gwd_value_bool(false), 17), 0);
	assert_true(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_true(read_ch(&u, u.ch[0], 18).v.b);
	assert_false(read_ch(&u, u.ch[2], 19).v.b);
	/* ...and what counts as rising: now a physical falling edge is a
	 * logical falling one, counted with selection 1. */
	assert_int_equal(write_ch(&u, u.ch[3], gwd_value_int(0), 20), 0);
	mark = fx.n_recs;
	edge(0, 0, T0 + 500);
	assert_int_equal(last_report(&u, u.ch[1], mark)->v.v.i, 2);
	/* State is read-only, as is the counter. */
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(true), 21), -EOPNOTSUPP);
	assert_int_equal(write_ch(&u, u.ch[1], gwd_value_int(5), 21), -EOPNOTSUPP);
	destroy(&u);
}

static long file_counter(const char *name)
{
	char path[128], line[256];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.gpio", fx.state_dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "counter\tpinctrl-test\tDOOR\t", 26) == 0)
			n = strtol(line + 26, NULL, 10);
	fclose(f);
	return n;
}

/* The counter, its reset, and its persistence across a restart. */
static void test_counter_persistence(void **state)
{
	struct dut u;
	char path[128];
	FILE *f;

	assert_int_equal(make_door(&u, 0, "rising", true, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	for (int i = 0; i < 3; i++) {
		edge(0, 0, T0 + 100 + 20 * (uint64_t)i);
		edge(0, 1, T0 + 110 + 20 * (uint64_t)i);
	}
	assert_int_equal(read_ch(&u, u.ch[1], 1).v.i, 3);
	/* Not written on every edge: within counter_save_interval (60 s). */
	assert_int_equal(file_counter("door"), -1);
	advance_to(T0 + 60200);
	assert_int_equal(file_counter("door"), 3);
	edge(0, 0, T0 + 61000);
	destroy(&u); /* the stop writes the last count */
	assert_int_equal(file_counter("door"), 4);

	/* The daemon restarts: the counter goes on from 4. */
	assert_int_equal(make_door(&u, 0, "rising", true, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(read_ch(&u, u.ch[1], 2).v.i, 4);
	edge(0, 1, T0 + 62000);
	edge(0, 0, T0 + 62100);
	assert_int_equal(read_ch(&u, u.ch[1], 3).v.i, 5);
	/* Reset (5505) is written at once. */
	assert_int_equal(exec_ch(&u, u.ch[5], "", 4), 0);
	assert_int_equal(read_ch(&u, u.ch[1], 5).v.i, 0);
	assert_int_equal(file_counter("door"), 0);
	destroy(&u);

	/* A corrupt file loses nothing else: ignored lines, counter 0. */
	snprintf(path, sizeof(path), "%s/door.gpio", fx.state_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("counter\tpinctrl-test\tDOOR\tgarbage\nnonsense\n", f);
	fclose(f);
	assert_int_equal(make_door(&u, 0, "rising", true, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(read_ch(&u, u.ch[1], 6).v.i, 0);
	destroy(&u);

	/* Without persist_counter, nothing is read or written. */
	unlink(path);
	assert_int_equal(make_door(&u, 0, "rising", false, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	edge(0, 1, T0 + 70000);
	edge(0, 0, T0 + 70100);
	destroy(&u);
	assert_int_equal(file_counter("door"), -1);
}

/* A line held by another program: the device is DOWN with a message naming
 * chip, line and holder; another device carries on; retried until free. */
static void test_busy_line(void **state)
{
	struct dut u, other;
	struct kv m0[] = {KS("line", "METER"), KEND};
	struct kv *mp[] = {m0};
	struct gwd_value v;

	gpio_fake_busy("pinctrl-test", 0, "gpiomon");
	assert_int_equal(make_door(&u, 0, "both", false, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0); /* not the daemon's error */
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_int_equal(u.dev.cause, -EBUSY);
	assert_true(logged("door: chip \"pinctrl-test\" line \"DOOR\": busy, held by \"gpiomon\""));
	assert_int_equal(ops->read(u.ctx, u.ch[0], OP(1)), -EHOSTDOWN);
	assert_int_equal(live_watches(), 0);

	assert_int_equal(make(&other, "meter", door_dev, mp, 1), 0);
	assert_int_equal(ops->device_start(other.ctx), 0);
	assert_int_equal(other.dev.state, GWD_STATE_UP);
	assert_int_equal(gpio_fake_edge("pinctrl-test", 1, 1, T0 * MS), 0);
	loop_drain();
	v = read_ch(&other, other.ch[0], 2);
	assert_true(v.v.b);

	/* Still busy at the retry: one log line for the whole outage. */
	size_t logs = fx.n_logs;
	advance_to(T0 + 10000);
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_int_equal(fx.n_logs, logs);
	gpio_fake_busy("pinctrl-test", 0, NULL);
	advance_to(T0 + 20000);
	assert_int_equal(u.dev.state, GWD_STATE_UP);
	assert_int_equal(u.dev.downs, 1);
	assert_false(read_ch(&u, u.ch[0], 3).v.b);
	destroy(&u);
	destroy(&other);
}

static void test_missing(void **state)
{
	struct dut u;
	struct kv c0[] = {KS("chip", "nochip"), KS("line", "DOOR"), KEND};
	struct kv n0[] = {KS("chip", "/dev/pinctrl-test"), KS("line", "NOPE"), KEND};
	struct kv o0[] = {KS("chip", "pinctrl-test"), KI("offset", 6), KEND};
	struct kv *cp[] = {c0}, *np[] = {n0}, *op[] = {o0};

	assert_int_equal(make(&u, "a", NULL, cp, 1), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_true(logged("a: chip \"nochip\": no such chip"));
	destroy(&u);
	assert_int_equal(make(&u, "b", NULL, np, 1), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_true(logged("b: chip \"/dev/pinctrl-test\" line \"NOPE\": the chip has no line of that name"));
	destroy(&u);
	assert_int_equal(make(&u, "c", NULL, op, 1), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_true(logged("c: chip \"pinctrl-test\" line 6: the chip has 6 lines"));
	destroy(&u);
}

/* A line that fails under the loop (chip gone) takes the device DOWN. */
static void test_line_lost(void **state)
{
	struct dut u;

	assert_int_equal(make_door(&u, 0, "both", false, "door"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	gpio_fake_fail("pinctrl-test", 0, -ENODEV);
	loop_drain();
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	assert_int_equal(u.dev.cause, -ENODEV);
	assert_true(logged("chip \"pinctrl-test\" line \"DOOR\": lost"));
	assert_int_equal(live_watches(), 0);
	advance_to(T0 + 10000); /* reopened: the fake's failure was for one request */
	assert_int_equal(u.dev.state, GWD_STATE_UP);
	destroy(&u);
}

/* A relay: 0 state, 1 polarity, 2 pulse. */
static int make_relay(struct dut *u, bool active_low, const char *safe)
{
	static struct kv st[3][8];
	struct kv s0[] = {KS("line", "RELAY"), KS("direction", "output"),
			  KB("active_low", active_low), KB("initial", true),
			  KS("safe_state", safe), KEND};
	struct kv s1[] = {KS("line", "RELAY"), KS("function", "polarity"), KEND};
	struct kv s2[] = {KS("line", "RELAY"), KS("function", "pulse"), KI("pulse_ms", 500), KEND};
	struct kv *pts[] = {st[0], st[1], st[2]};

	memcpy(st[0], s0, sizeof(s0));
	memcpy(st[1], s1, sizeof(s1));
	memcpy(st[2], s2, sizeof(s2));
	return make(u, "relay", door_dev, pts, 3);
}

static void test_output(void **state)
{
	struct dut u;
	bool output;
	size_t mark;

	assert_int_equal(make_relay(&u, false, "off"), 0);
	for (size_t i = 0; i < 3; i++)
		assert_null(unread(&u.pts[i]));
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_true(gpio_fake_requested("pinctrl-test", 2, &output, NULL));
	assert_true(output);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1); /* initial on */
	assert_true(read_ch(&u, u.ch[0], 1).v.b);

	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(false), 2), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_int(1), 3), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_int(2), 4), -EINVAL);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(false), 4), 0);

	/* Pulse on the fake clock: the execute's argument in ms, else 500. */
	mark = fx.n_recs;
	assert_int_equal(exec_ch(&u, u.ch[2], "0='250'", 5), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	assert_true(last_report(&u, u.ch[0], mark)->v.v.b);
	advance_to(T0 + 249);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	advance_to(T0 + 250);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0);
	assert_false(last_report(&u, u.ch[0], mark)->v.v.b);
	assert_int_equal(exec_ch(&u, u.ch[2], "", 6), 0);
	advance_to(T0 + 749);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	advance_to(T0 + 750);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0);
	assert_int_equal(exec_ch(&u, u.ch[2], "0='x'", 7), -EINVAL);
	assert_int_equal(exec_ch(&u, u.ch[2], "0='0'", 7), -ERANGE);
	/* A write during a pulse ends it. */
	assert_int_equal(exec_ch(&u, u.ch[2], "", 8), 0);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(true), 9), 0);
	advance_to(T0 + 2000);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);

	/* Polarity: the line keeps its level, the state's meaning flips. */
	unsigned writes = gpio_fake_writes("pinctrl-test", 2);
	assert_int_equal(write_ch(&u, u.ch[1], gwd_value_bool(true), 10), 0);
	assert_int_equal(gpio_fake_writes("pinctrl-test", 2), writes);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	assert_false(read_ch(&u, u.ch[0], 11).v.b);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(true), 12), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0);

	/* Stop: the safe state "off" under the configured polarity (high
	 * active): the line goes low, and the line is let go. */
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(false), 13), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	destroy(&u);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0);
	assert_false(gpio_fake_requested("pinctrl-test", 2, NULL, NULL));
}

static void test_output_safe_states(void **state)
{
	struct dut u;

	/* Active-low relay board: off is high. */
	assert_int_equal(make_relay(&u, true, "off"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 0); /* initial on = low */
	destroy(&u);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);

	assert_int_equal(make_relay(&u, false, "keep"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
	destroy(&u);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);

	assert_int_equal(make_relay(&u, false, "on"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(false), 1), 0);
	destroy(&u);
	assert_int_equal(gpio_fake_level("pinctrl-test", 2), 1);
}

/* Ops pending at stop complete before device_stop returns. */
static void test_stop_completes(void **state)
{
	struct dut u;

	assert_int_equal(make_relay(&u, false, "off"), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(ops->read(u.ctx, u.ch[0], OP(1)), 0);
	assert_null(completion(1));
	ops->device_stop(u.ctx);
	assert_non_null(completion(1));
	assert_int_equal(ops->read(u.ctx, u.ch[0], OP(2)), -EHOSTDOWN);
	ops->device_free(u.ctx);
}

static void test_config_errors(void **state)
{
	struct dut u;
	struct kv a0[] = {KS("line", "DOOR"), KS("bias", "sideways"), KS("edge", "up"),
			  KI("debounce", 70000), KEND};
	struct kv *ap[] = {a0};
	struct kv b0[] = {KS("line", "DOOR"), KS("function", "counter"), KEND};
	struct kv *bp[] = {b0};
	struct kv c0[] = {KS("line", "RELAY"), KS("direction", "output"), KI("debounce", 5), KEND};
	struct kv c1[] = {KS("line", "RELAY"), KS("function", "counter"), KEND};
	struct kv *cp[] = {c0, c1};
	struct kv d0[] = {KI("offset", 3), KEND};
	struct kv *dp[] = {d0};
	struct kv e0[] = {KS("line", "DOOR"), KI("offset", 0), KEND};
	struct kv e1[] = {KS("line", "RELAY"), KS("direction", "sideways"), KEND};
	struct kv *ep[] = {e0, e1};

	assert_int_equal(make(&u, "a", door_dev, ap, 1), -EINVAL);
	assert_int_equal(fx.n_errors, 3); /* every error of the group at once */
	assert_string_equal(fx.errors[0],
			    "devices.[0].points.[0].bias: expected \"as-is\", \"disable\", "
			    "\"pull-up\" or \"pull-down\", found \"sideways\"");
	assert_string_equal(fx.errors[1], "devices.[0].points.[0].debounce: expected "
					  "milliseconds from 0 to 60000, found 70000");
	ops->device_free(u.ctx);

	fx.n_errors = 0;
	assert_int_equal(make(&u, "b", door_dev, bp, 1), -EINVAL);
	assert_string_equal(fx.errors[0],
			    "devices.[0].points.[0].function: the first point of a line carries "
			    "its state and settings; found \"counter\" first");
	ops->device_free(u.ctx);

	/* An output has no debounce (left unread: the host calls it unknown)
	 * and no counter. */
	fx.n_errors = 0;
	assert_int_equal(make(&u, "c", door_dev, cp, 2), -EINVAL);
	assert_string_equal(unread(&u.pts[0]), "debounce");
	assert_string_equal(fx.errors[0],
			    "devices.[0].points.[1].function: an output line has no counter");
	ops->device_free(u.ctx);

	/* No chip anywhere. */
	fx.n_errors = 0;
	assert_int_equal(make(&u, "d", NULL, dp, 1), -EINVAL);
	assert_string_equal(fx.errors[0], "devices.[0].points.[0].chip: required (here or in the "
					  "device): a chip label or /dev/gpiochipN path");
	ops->device_free(u.ctx);

	fx.n_errors = 0;
	assert_int_equal(make(&u, "e", door_dev, ep, 2), -EINVAL);
	assert_int_equal(fx.n_errors, 2);
	assert_string_equal(fx.errors[0], "devices.[0].points.[0].offset: give the line or its "
					  "offset, not both");
	assert_string_equal(fx.errors[1], "devices.[0].points.[1].direction: expected \"input\" "
					  "or \"output\", found \"sideways\"");
	ops->device_free(u.ctx);
}

/* An older host without state_dir: persistence is refused, loudly. */
static void test_old_host(void **state)
{
	struct gwd_host old = host;
	void *ctx;
	struct dut u;

	old.size = (uint32_t)offsetof(struct gwd_host, state_dir);
	assert_int_equal(ops->init(&old, &ctx), 0);
	assert_int_equal(make_door(&u, 0, "both", true, "door"), 0);
	/* make() used the global actx; redo with the old host's context. */
	ops->device_free(u.ctx);
	u.node.kv = door_dev;
	assert_int_equal(ops->device_new(ctx, &u.dev, &u.node, NULL, &u.ctx), 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(ops->channel_new(u.ctx, "c", &u.pts[i], &u.ch[i]), 0);
	assert_int_equal(ops->device_start(u.ctx), -ENOTSUP);
	assert_true(logged("persist_counter needs a gatewayd with adapter ABI 1.2"));
	ops->device_free(u.ctx);
	ops->fini(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_input_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debounce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counter_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_busy_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_safe_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_completes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_host, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
