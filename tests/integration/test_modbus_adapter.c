/* The modbus adapter driven directly through a fake host, against the real
 * libmodbus slave (modbus_slave over loopback TCP): writes of every kind
 * (FC 5/6/15/16, read-modify-write of a bit, read-back), refusals, exceptions
 * cancellation at stop, and forgetting a device while its transaction is on
 * the wire.  Waits are poll() on the adapter's fd with a
 * deadline; every slave is stopped by its PID. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "adapters/modbus/mb_bus.h"
#include "gatewayd/adapter.h"
#include "harness.h"
#include "mb_fakehost.h"

extern const struct gwd_adapter_descriptor gwd_adapter_descriptor;

/* ---- the device under test ------------------------------------------------------- */

static struct proc slave_proc;
static char port_s[16];
static const struct gwd_adapter_ops *ops;
static void *actx, *dctx;
static struct gwd_device dev = {"writer"};
static int fake_op; /* ops are opaque to the adapter: any distinct pointer */

static struct kv dev_kv[] = {KS("host", "127.0.0.1"), KI("port", 0), KI("unit", 1),
			     KD("timeout", 0.3), KS("byte_order", "CDAB"), KEND};
static struct kv p_i16[] = {KI("address", 0), KS("type", "int16"), KEND};
static struct kv p_f32[] = {KI("address", 2), KS("type", "float32"), KEND};
static struct kv p_bit[] = {KI("address", 5), KS("type", "bit"), KI("bit", 0), KEND};
static struct kv p_coil[] = {KS("table", "coil"), KI("address", 3), KEND};
static struct kv p_rb[] = {KI("address", 6), KS("type", "uint16"), KB("readback", true), KEND};
static struct kv p_in[] = {KS("table", "input"), KI("address", 0), KEND};
static struct kv p_str[] = {KI("address", 10), KS("type", "string"), KI("length", 3), KEND};
static struct kv p_u64[] = {KI("address", 20), KS("type", "uint64"), KS("byte_order", "ABCDEFGH"),
			    KEND};
static struct kv p_exc[] = {KI("address", 40), KEND};
/* A device's Reboot as its profile declares it: a coil set to 1, or a
 * command word in a holding register. */
static struct kv p_reboot[] = {KS("table", "coil"), KI("address", 7), KD("execute_value", 1), KEND};
static struct kv p_cmd[] = {KI("address", 30), KD("execute_value", 42405), KEND};
static struct kv *points[] = {p_i16, p_f32, p_bit, p_coil, p_rb, p_in, p_str, p_u64, p_exc,
			      p_reboot, p_cmd};
enum { CH_I16, CH_F32, CH_BIT, CH_COIL, CH_RB, CH_IN, CH_STR, CH_U64, CH_EXC, CH_REBOOT, CH_CMD,
       N_CH };

#define slave(...) fh_slave(&slave_proc, __VA_ARGS__)

static int slave_get(char table, int addr)
{
	json_t *ev;
	int v;

	h_send(&slave_proc, "get 1 %c %d\n", table, addr);
	ev = h_wait_event(&slave_proc, "value", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	v = (int)json_integer_value(json_object_get(ev, "value"));
	json_decref(ev);
	return v;
}

static int setup(void **state)
{
	char *bin = h_build_path("tests/integration/modbus_slave");
	char *argv[] = {bin, "--tcp", "0", "--units", "1", NULL};
	struct gwd_cfg dcfg = {dev_kv};
	static struct gwd_cfg pcfg[N_CH];
	json_t *ev;

	if (h_spawn(&slave_proc, argv, true, NULL) < 0)
		return -1;
	free(bin);
	ev = h_wait_event(&slave_proc, "listening", NULL, NULL, H_TIMEOUT_MS);
	if (!ev)
		return -1;
	dev_kv[1].i = json_integer_value(json_object_get(ev, "port"));
	snprintf(port_s, sizeof(port_s), "%d", (int)dev_kv[1].i);
	json_decref(ev);
	slave("exc 1 40 3");
	ops = gwd_adapter_descriptor.ops;
	if (ops->init(&fh_host, &actx) < 0 || ops->device_new(actx, &dev, &dcfg, NULL, &dctx) < 0)
		return -1;
	for (int i = 0; i < N_CH; i++) {
		gwd_channel_t ch;

		pcfg[i].kv = points[i];
		if (ops->channel_new(dctx, "p", &pcfg[i], &ch) < 0 || ch != (gwd_channel_t)i)
			return -1;
	}
	return ops->device_start(dctx);
}

static int teardown(void **state)
{
	ops->device_free(dctx);
	ops->fini(actx);
	h_stop(&slave_proc, SIGTERM, 5000);
	return 0;
}

static int do_write(gwd_channel_t ch, struct gwd_value v)
{
	int before = completions, r;

	in_op = true;
	r = ops->write(dctx, ch, &v, (struct gwd_op *)&fake_op);
	in_op = false;
	if (r < 0)
		return r;
	assert_true(run_until_completions(before + 1, H_TIMEOUT_MS));
	return last_status;
}

static void write_int16(void **state)
{
	/* scale 0.1 upstream: 23.5 arrives inverse-transformed as 234.999... */
	assert_int_equal(do_write(CH_I16, gwd_value_double(23.5 / 0.1)), 0);
	assert_int_equal(slave_get('h', 0), 235);
	assert_int_equal(last_value[CH_I16].v.i, 235);
	assert_int_equal(do_write(CH_I16, gwd_value_double(-2)), 0);
	assert_int_equal(slave_get('h', 0), 65534);
}

static void write_float32_word_swapped(void **state)
{
	/* 1.25 = 0x3fa00000; CDAB puts the low word first. */
	assert_int_equal(do_write(CH_F32, gwd_value_double(1.25)), 0);
	assert_int_equal(slave_get('h', 2), 0x0000);
	assert_int_equal(slave_get('h', 3), 0x3fa0);
}

static void write_bit_keeps_the_others(void **state)
{
	slave("set 1 h 5 240");
	assert_int_equal(do_write(CH_BIT, gwd_value_bool(true)), 0);
	assert_int_equal(slave_get('h', 5), 241);
	assert_int_equal(do_write(CH_BIT, gwd_value_double(0)), 0);
	assert_int_equal(slave_get('h', 5), 240);
}

static void write_coil(void **state)
{
	assert_int_equal(do_write(CH_COIL, gwd_value_bool(true)), 0);
	assert_int_equal(slave_get('c', 3), 1);
	assert_int_equal(do_write(CH_COIL, gwd_value_bool(false)), 0);
	assert_int_equal(slave_get('c', 3), 0);
}

static void write_with_readback(void **state)
{
	int n = reports[CH_RB];

	assert_int_equal(do_write(CH_RB, gwd_value_double(4321)), 0);
	assert_int_equal(slave_get('h', 6), 4321);
	assert_int_equal(reports[CH_RB], n + 1);
	assert_int_equal(last_value[CH_RB].v.i, 4321);
}

static void write_string_and_uint64(void **state)
{
	struct gwd_value s = {.type = GWD_V_STRING};

	s.v.bytes.ptr = "OK!";
	s.v.bytes.len = 3;
	assert_int_equal(do_write(CH_STR, s), 0);
	assert_int_equal(slave_get('h', 10), 0x4f4b);
	assert_int_equal(slave_get('h', 11), 0x2100);
	assert_int_equal(slave_get('h', 12), 0);
	s.type = GWD_V_UINT;
	s.v.u = 0x0102030405060708ULL;
	assert_int_equal(do_write(CH_U64, s), 0);
	assert_int_equal(slave_get('h', 20), 0x0102);
	assert_int_equal(slave_get('h', 23), 0x0708);
}

static void refusals(void **state)
{
	int before = completions;

	assert_int_equal(do_write(CH_IN, gwd_value_double(1)), -EPERM);
	assert_int_equal(do_write(CH_I16, gwd_value_double(40000)), -ERANGE);
	assert_int_equal(do_write(CH_I16, gwd_value_double(NAN)), -EINVAL);
	assert_int_equal(do_write(CH_COIL, gwd_value_double(2)), -ERANGE);
	assert_int_equal(do_write(99, gwd_value_double(1)), -ENOENT);
	/* Refused ops are not completed. */
	assert_int_equal(completions, before);
}

static void write_exception(void **state)
{
	assert_int_equal(do_write(CH_EXC, gwd_value_double(7)), -EREMOTEIO);
}

static int do_execute(gwd_channel_t ch)
{
	int before = completions, r;

	in_op = true;
	r = ops->execute(dctx, ch, NULL, 0, (struct gwd_op *)&fake_op);
	in_op = false;
	if (r < 0)
		return r;
	assert_true(run_until_completions(before + 1, H_TIMEOUT_MS));
	return last_status;
}

/* Item 3: an execute point writes the value its profile declares; it is a
 * command: never read, never written with a value. */
static void execute_writes_the_declared_value(void **state)
{
	assert_int_equal(slave_get('c', 7), 0);
	assert_int_equal(do_execute(CH_REBOOT), 0);
	assert_int_equal(slave_get('c', 7), 1);
	assert_int_equal(do_execute(CH_CMD), 0);
	assert_int_equal(slave_get('h', 30), 42405);
	assert_int_equal(ops->read(dctx, CH_REBOOT, (struct gwd_op *)&fake_op), -EPERM);
	assert_int_equal(ops->write(dctx, CH_CMD, &(struct gwd_value){.type = GWD_V_DOUBLE},
				    (struct gwd_op *)&fake_op), -EPERM);
	assert_int_equal(ops->execute(dctx, CH_I16, NULL, 0, (struct gwd_op *)&fake_op),
			 -EOPNOTSUPP);
}

/* execute_value only on what can be written, and only a value that fits. */
static void execute_value_is_checked(void **state)
{
	static struct kv bad_table[] = {KS("table", "input"), KI("address", 1),
					KD("execute_value", 1), KEND};
	static struct kv bad_coil[] = {KS("table", "coil"), KI("address", 1),
				       KD("execute_value", 2), KEND};
	static struct kv bad_u16[] = {KI("address", 1), KD("execute_value", 70000), KEND};
	struct gwd_cfg c;
	gwd_channel_t ch;

	c.kv = bad_table;
	assert_int_equal(ops->channel_new(dctx, "x", &c, &ch), -EINVAL);
	c.kv = bad_coil;
	assert_int_equal(ops->channel_new(dctx, "x", &c, &ch), -EINVAL);
	c.kv = bad_u16;
	assert_int_equal(ops->channel_new(dctx, "x", &c, &ch), -EINVAL);
}

static void read_joins_a_cycle(void **state)
{
	int before = completions;

	slave("set 1 h 0 1234");
	in_op = true;
	assert_int_equal(ops->read(dctx, CH_I16, (struct gwd_op *)&fake_op), 0);
	assert_int_equal(ops->read(dctx, CH_F32, (struct gwd_op *)&fake_op), 0);
	in_op = false;
	assert_true(run_until_completions(before + 2, H_TIMEOUT_MS));
	assert_int_equal(last_status, 0);
	assert_int_equal(last_value[CH_I16].v.i, 1234);
	assert_true(last_value[CH_F32].v.d == 1.25);
}

static void stop_cancels_pending(void **state)
{
	int before = completions;

	json_t *ev;

	slave("mute 1");
	while ((ev = h_wait_event(&slave_proc, "request", NULL, NULL, 0)))
		json_decref(ev);
	in_op = true;
	assert_int_equal(ops->read(dctx, CH_I16, (struct gwd_op *)&fake_op), 0);
	assert_int_equal(ops->write(dctx, CH_RB, &(struct gwd_value){.type = GWD_V_DOUBLE,
								  .v.d = 5},
				    (struct gwd_op *)&fake_op),
			 0);
	in_op = false;
	/* Stop while the write is on the wire, unanswered. */
	for (;;) {
		/* (an identification request may still go first) */
		ev = h_wait_event(&slave_proc, "request", NULL, NULL, H_TIMEOUT_MS);
		assert_non_null(ev);
		if (json_integer_value(json_object_get(ev, "fc")) == 6)
			break;
		json_decref(ev);
	}
	json_decref(ev);
	ops->device_stop(dctx);
	assert_int_equal(completions, before + 2);
	assert_int_equal(last_status, -ECANCELED);
	slave("unmute 1");
	assert_int_equal(ops->device_start(dctx), 0);
	assert_int_equal(do_write(CH_I16, gwd_value_double(9)), 0);
}

/* The last device of a bus goes while its transaction hangs (a muted
 * slave, a minute's timeout): device_free returns with the connection still
 * open, the worker finishes on its own, and fini frees the bus (issue 16,
 * item 12c).  Before, device_free joined the worker: a minute on the loop
 * thread, after which the worker had closed the connection. */
static void last_device_of_a_bus_goes_without_waiting(void **state)
{
	/* "localhost" (from /etc/hosts): another bus key than the writer's
	 * 127.0.0.1, so another bus, of its own. */
	struct kv kv2[] = {KS("host", "localhost"), KI("port", 0), KI("unit", 1),
			   KD("timeout", 60.0), KEND};
	struct kv p2[] = {KI("address", 0), KS("type", "int16"), KEND};
	struct gwd_cfg dcfg = {kv2}, pcfg = {p2};
	struct gwd_device dev2 = {"slow"};
	uint64_t deadline = f_now_ms() + H_TIMEOUT_MS;
	gwd_channel_t ch;
	void *d2;
	json_t *ev;

	kv2[1].i = dev_kv[1].i;
	assert_int_equal(ops->device_new(actx, &dev2, &dcfg, NULL, &d2), 0);
	assert_int_equal(ops->channel_new(d2, "p", &pcfg, &ch), 0);
	slave("mute 1");
	while ((ev = h_wait_event(&slave_proc, "request", NULL, NULL, 1)))
		json_decref(ev);
	while ((ev = h_wait_event(&slave_proc, "disconnect", NULL, NULL, 1)))
		json_decref(ev);
	assert_int_equal(ops->device_start(d2), 0);
	in_op = true;
	assert_int_equal(ops->read(d2, ch, (struct gwd_op *)&fake_op), 0);
	in_op = false;
	/* Run the loop until the request is on the wire (a 1 ms wait reads
	 * the slave's pipe). */
	while (!(ev = h_wait_event(&slave_proc, "request", NULL, NULL, 1))) {
		assert_true(f_now_ms() < deadline);
		run_until_completions(completions + 1, 10);
	}
	json_decref(ev);

	ops->device_stop(d2);
	ops->device_free(d2);
	/* Back, with the worker still waiting for its answer: the connection
	 * is open.  (Before, device_free came back once the worker had given
	 * up and closed it; the slave's events are read after a command.) */
	slave("unmute 1");
	ev = h_wait_event(&slave_proc, "disconnect", NULL, NULL, 200);
	assert_null(ev);
	slave("drop"); /* ends the transaction; fini frees the bus */
}

/* Forgetting a device (device_free) while the bus waits for its slave must
 * not wait for the transaction: a device's timeout may be a minute, and
 * the loop thread is the one calling (issue 16, item 12c).  The bus is
 * driven directly, with a job whose slave never answers. */
static void forget_does_not_wait_for_the_bus(void **state)
{
	struct mb_bus_params p = {.rts_delay_us = -1};
	struct mb_bus *b;
	struct mb_job *j, *done;
	struct pollfd pfd;
	int owner; /* any distinct pointer */
	bool in_flight;
	void *owner_after;
	json_t *ev;

	p.host = strdup("127.0.0.1");
	p.port = strdup(port_s);
	assert_int_equal(mb_bus_new("tcp forget", &p, &b), 0);
	assert_int_equal(mb_bus_start(b), 0);
	slave("mute 1");
	while ((ev = h_wait_event(&slave_proc, "request", NULL, NULL, 0)))
		json_decref(ev);
	j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->kind = MB_JOB_CYCLE;
	j->owner = &owner;
	j->unit = 1;
	j->timeout_ms = 60000;
	j->req = calloc(1, sizeof(*j->req));
	assert_non_null(j->req);
	j->n_req = 1;
	j->req[0] = (struct mb_jreq){.table = MB_HOLDING, .addr = 0, .count = 1};
	mb_bus_submit(b, j);
	ev = h_wait_event(&slave_proc, "request", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev); /* on the wire; the slave will not answer */
	json_decref(ev);

	mb_bus_forget(b, &owner);
	/* Back with the transaction still waiting for its answer. */
	pthread_mutex_lock(&b->mu);
	in_flight = b->cur == j;
	owner_after = in_flight ? j->owner : &owner;
	pthread_mutex_unlock(&b->mu);
	assert_true(in_flight);
	assert_null(owner_after);

	/* The connection closes: the worker finishes and hands the job back,
	 * ownerless, for the loop to drop. */
	slave("drop");
	pfd = (struct pollfd){.fd = b->efd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, H_TIMEOUT_MS), 1);
	done = mb_bus_take_done(b);
	assert_ptr_equal(done, j);
	assert_null(done->owner);
	assert_null(done->next);
	mb_job_free(done);
	mb_bus_free(b);
	slave("unmute 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_int16),
		cmocka_unit_test(write_float32_word_swapped),
		cmocka_unit_test(write_bit_keeps_the_others),
		cmocka_unit_test(write_coil),
		cmocka_unit_test(write_with_readback),
		cmocka_unit_test(write_string_and_uint64),
		cmocka_unit_test(refusals),
		cmocka_unit_test(write_exception),
		cmocka_unit_test(execute_writes_the_declared_value),
		cmocka_unit_test(execute_value_is_checked),
		cmocka_unit_test(read_joins_a_cycle),
		cmocka_unit_test(stop_cancels_pending),
		cmocka_unit_test(forget_does_not_wait_for_the_bus),
		cmocka_unit_test(last_device_of_a_bus_goes_without_waiting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
