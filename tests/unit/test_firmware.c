/* Object 5 (gatewayd/firmware.c) on the fake clock: every transition of the
 * state machine, every Update Result 0..11, push through the Block1 sink,
 * pull through a fake fetcher, delivery through a fake adapter, restarts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/firmware.h"
#include "gatewayd/fw_fetch.h"
#include "gatewayd/statefile.h"
#include "gatewayd/timerq.h"
#include "lwm2m/client.h"
#include "lwm2m/model.h"
#include "../fw_image.h"

/* ---- a fake fetcher (replaces gatewayd/fw_fetch.c in this program) ---------------- */

struct fw_fetcher {
	uint32_t protocols;
};
struct fw_fetch {
	int unused;
};

static struct fw_fetcher fake_fetcher = {.protocols = 0xf};
static struct fw_fetch fake_fetch;
static struct {
	int calls, cancels, start_err;
	char uri[256];
	uint64_t offset;
	uint32_t give_up_ms;
	const struct fw_fetch_ops *ops;
	void *ud;
} fetch;

int fw_fetcher_new(struct gw_loop *loop, struct lwm_engine *engine, struct fw_fetcher **out)
{
	*out = &fake_fetcher;
	return 0;
}

void fw_fetcher_free(struct fw_fetcher *f)
{
}

uint32_t fw_fetcher_protocols(const struct fw_fetcher *f)
{
	return f->protocols;
}

int fw_fetch_start(struct fw_fetcher *f, const struct fw_fetch_params *p,
		   const struct fw_fetch_ops *ops, void *ud, struct fw_fetch **out)
{
	fetch.calls++;
	if (fetch.start_err)
		return fetch.start_err;
	snprintf(fetch.uri, sizeof(fetch.uri), "%s", p->uri);
	fetch.offset = p->offset;
	fetch.give_up_ms = p->give_up_ms;
	fetch.ops = ops;
	fetch.ud = ud;
	*out = &fake_fetch;
	return 0;
}

void fw_fetch_cancel(struct fw_fetch *x)
{
	fetch.cancels++;
}

/* ---- a fake adapter --------------------------------------------------------------- */

struct gwd_op {
	int n;
};

static struct {
	int opens, writes, closes, applies, aborts, recovers;
	struct gwd_op *op;       /* the op in flight */
	int open_ret;            /* returned by fw_open at once */
	uint8_t got[200000];     /* what fw_write received */
	uint64_t got_len;
	size_t max_chunk;
	struct gwd_fw_info info; /* as fw_open saw it */
	char info_version[64];
} dev;

static int fake_open(void *ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	dev.opens++;
	if (dev.open_ret)
		return dev.open_ret;
	dev.info = *info;
	snprintf(dev.info_version, sizeof(dev.info_version), "%s",
		 info->version ? info->version : "");
	dev.op = op;
	return 0;
}

static int fake_write(void *ctx, uint64_t off, const void *data, size_t len, struct gwd_op *op)
{
	dev.writes++;
	assert_int_equal(off, dev.got_len);
	assert_true(off + len <= sizeof(dev.got));
	memcpy(dev.got + off, data, len);
	dev.got_len += len;
	if (len > dev.max_chunk)
		dev.max_chunk = len;
	dev.op = op;
	return 0;
}

static int fake_close(void *ctx, struct gwd_op *op)
{
	dev.closes++;
	dev.op = op;
	return 0;
}

static int fake_apply(void *ctx, struct gwd_op *op)
{
	dev.applies++;
	dev.op = op;
	return 0;
}

static struct fw_obj *cur;
static int ops_out;

static void fake_abort(void *ctx)
{
	dev.aborts++;
	/* As the ABI says: the op in flight completes with -ECANCELED. */
	if (dev.op) {
		struct gwd_op *op = dev.op;
		dev.op = NULL;
		firmware_op_done(cur, -ECANCELED);
		ops_out--;
		free(op);
	}
}

static int fake_recover(void *ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	dev.recovers++;
	snprintf(dev.info_version, sizeof(dev.info_version), "%s",
		 info->version ? info->version : "");
	dev.op = op;
	return 0;
}

static struct gwd_adapter_ops fake_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.fw_open = fake_open, .fw_write = fake_write, .fw_close = fake_close,
	.fw_apply = fake_apply, .fw_abort = fake_abort, .fw_recover = fake_recover,
};

/* Complete the op in flight. */
static void complete(int status)
{
	struct gwd_op *op = dev.op;

	assert_non_null(op);
	dev.op = NULL;
	firmware_op_done(cur, status);
	ops_out--;
	free(op);
}

/* ---- the device side ---------------------------------------------------------------- */

static struct timerq q;
static struct lwm_model *model;
static char dir[64];
static int states[64], results[64], n_states, n_results;
static char version_set[64];

static void changed(void *ud, const struct lwm_path *p, bool event)
{
	const struct lwm_value *v = lwm_model_get(model, p);

	/* State and Result changes are events (notified each at once); only
	 * the initial values, before any observer, are not. */
	if (!event)
		return;
	if (LWM_PATH_RID(p) == 3)
		states[n_states++] = (int)v->v.i;
	else if (LWM_PATH_RID(p) == 5)
		results[n_results++] = (int)v->v.i;
	else
		fail_msg("resource %u notified as an event", LWM_PATH_RID(p));
}

static void set_version(void *ud, const char *v)
{
	snprintf(version_set, sizeof(version_set), "%s", v);
}

static struct gwd_op *op_new(void *ud)
{
	ops_out++;
	return calloc(1, sizeof(struct gwd_op));
}

static void op_drop(void *ud, struct gwd_op *op)
{
	ops_out--;
	free(op);
}

static struct fw_env env;

static void run_timers(void)
{
	timerq_run(&q, clock_now_ms());
}

static void advance(uint64_t ms)
{
	clock_fake_advance(ms);
	run_timers();
}

static int64_t res_int(uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, 5, 0, rid, 0);
	const struct lwm_value *v = lwm_model_get(model, &p);

	assert_non_null(v);
	return v->v.i;
}

static const char *res_str(uint16_t rid)
{
	static char buf[300];
	struct lwm_path p = lwm_path_make(3, 5, 0, rid, 0);
	const struct lwm_value *v = lwm_model_get(model, &p);

	assert_non_null(v);
	snprintf(buf, sizeof(buf), "%.*s", (int)v->v.bytes.len, (const char *)v->v.bytes.ptr);
	return buf;
}

static bool exists(const char *suffix)
{
	char p[128];
	struct stat st;

	snprintf(p, sizeof(p), "%s/dev%s", dir, suffix);
	return stat(p, &st) == 0;
}

static void fw_open_obj(void)
{
	assert_int_equal(firmware_new(&env, &cur), 0);
	firmware_start(cur);
}

static void fw_close_obj(void)
{
	firmware_stop(cur);
	firmware_free(cur);
	cur = NULL;
	statefile_flush();
}

static int setup(void **state)
{
	strcpy(dir, "/tmp/test_firmware.XXXXXX");
	assert_non_null(mkdtemp(dir));
	clock_fake_set(100000);
	timerq_init(&q);
	model = lwm_model_new();
	memset(&dev, 0, sizeof(dev));
	memset(&fetch, 0, sizeof(fetch));
	n_states = n_results = 0;
	version_set[0] = '\0';
	ops_out = 0;
	fake_fetcher.protocols = 0xf;
	firmware_bind(NULL, &fake_fetcher);
	env = (struct fw_env){
		.name = "dev", .endpoint = "gw-dev", .state_dir = dir,
		.max_size = 1000000, .ops = &fake_ops, .adapter_updates = true, .give_up_ms = 45000,
		.caps = {.size = sizeof(struct gwd_fw_caps), .chunk_size = 4096},
		.timers = &q, .model = model, .changed = changed, .set_version = set_version,
		.op_new = op_new, .op_drop = op_drop,
	};
	fw_open_obj();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	if (cur)
		fw_close_obj();
	assert_int_equal(ops_out, 0);
	lwm_model_free(model);
	timerq_fini(&q);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	firmware_bind(NULL, NULL);
	clock_fake_off();
	return 0;
}

static struct lwm_record rec_bytes(uint16_t rid, enum lwm_type t, const void *p, size_t len)
{
	struct lwm_record r = {.path = lwm_path_make(3, 5, 0, rid, 0), .value = {.type = t}};

	r.value.v.bytes.ptr = p;
	r.value.v.bytes.len = len;
	return r;
}

static int write1(struct lwm_record r)
{
	return firmware_write(cur, &r, 1, NULL);
}

static int write_int(uint16_t rid, int64_t i)
{
	struct lwm_record r = {.path = lwm_path_make(3, 5, 0, rid, 0),
			       .value = {.type = LWM_T_INTEGER, .v.i = i}};
	return write1(r);
}

static int write_bool(uint16_t rid, bool b)
{
	struct lwm_record r = {.path = lwm_path_make(3, 5, 0, rid, 0),
			       .value = {.type = LWM_T_BOOLEAN, .v.b = b}};
	return write1(r);
}

/* Push img by the sink in 1 KiB blocks; cut after `upto` bytes when not 0
 * (the transfer then dropped with `why`).  Returns the Write's result. */
static int push(const uint8_t *img, size_t len, uint64_t size1, size_t upto, int why)
{
	size_t limit = 65536;
	struct lwm_block1_sink *s = firmware_body_sink(cur, 42, size1, &limit);
	int r = 0;

	assert_non_null(s);
	if (size1 > limit) {
		/* The table refuses before begin: only release. */
		s->release(s);
		return -EFBIG;
	}
	r = s->begin(s, size1);
	if (r < 0) {
		if (s->release)
			s->release(s);
		return r;
	}
	for (size_t off = 0; off < len; off += 1024) {
		size_t n = len - off < 1024 ? len - off : 1024;
		if (upto && off >= upto) {
			s->abort_reason = why;
			s->abort(s);
			s->release(s);
			return why;
		}
		if (n > limit - off) {
			s->abort_reason = -EFBIG;
			s->abort(s);
			s->release(s);
			return -EFBIG;
		}
		r = s->chunk(s, off, img + off, n);
		if (r < 0) {
			s->abort_reason = r;
			s->abort(s);
			s->release(s);
			return r;
		}
	}
	assert_int_equal(s->end(s), 0);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADING);
	r = write1(rec_bytes(0, LWM_T_OPAQUE, "", 0));
	s->release(s);
	return r;
}

static uint8_t *image(size_t *len)
{
	return fwi_mcuboot(10000, 1, 2, 3, 0, len);
}

static void push_ok(void)
{
	size_t len;
	uint8_t *img = image(&len);

	assert_int_equal(push(img, len, len, 0, 0), LWM_OP_DONE);
	free(img);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
}

/* Through fw_open .. fw_apply, each completing with `fail` at phase `at`
 * (0 open, 1 write, 2 close, 3 apply; -1: none). */
static void deliver(int at, int fail)
{
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(dev.opens, 1);
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	complete(at == 0 ? fail : 0);
	if (at == 0)
		return;
	while (dev.closes == 0 && dev.op) {
		complete(at == 1 ? fail : 0);
		if (at == 1)
			return;
	}
	assert_int_equal(dev.closes, 1);
	complete(at == 2 ? fail : 0);
	if (at == 2)
		return;
	assert_int_equal(dev.applies, 1);
	complete(at == 3 ? fail : 0);
}

/* Through fw_open .. fw_close, leaving fw_apply in flight. */
static void deliver_to_apply(void)
{
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	while (dev.applies == 0)
		complete(0);
	assert_non_null(dev.op);
}

/* ---- tests --------------------------------------------------------------------------- */

static void initial_resources(void **state)
{
	struct lwm_path p = lwm_path_make(4, 5, 0, 8, 3);

	assert_int_equal(res_int(3), 0);
	assert_int_equal(res_int(5), 0);
	assert_int_equal(res_int(9), 2); /* push and pull */
	assert_non_null(lwm_model_get(model, &p));
	assert_int_equal(lwm_model_get(model, &p)->v.i, 3);
	assert_int_equal(res_int(11), 1);
	assert_int_equal(res_int(12), clock_wall_s());
	assert_string_equal(res_str(1), "");
	/* Without a fetcher: push only, no protocols. */
	fw_close_obj();
	firmware_bind(NULL, NULL);
	lwm_model_free(model);
	model = lwm_model_new();
	env.model = model;
	fw_open_obj();
	p = lwm_path_make(4, 5, 0, 8, 0);
	assert_int_equal(res_int(9), 1);
	assert_null(lwm_model_get(model, &p));
}

static void push_then_update_succeeds(void **state)
{
	size_t len;
	uint8_t *img = image(&len);

	clock_fake_advance(5000);
	assert_int_equal(push(img, len, 0, 0, 0), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	assert_int_equal(res_int(12), clock_wall_s());
	assert_string_equal(res_str(7), "1.2.3");
	assert_true(exists(".fw.pkg"));
	assert_false(exists(".fw.part"));
	deliver(-1, 0);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 1);
	/* Every byte, in chunks of the device's size. */
	assert_int_equal(dev.got_len, len);
	assert_memory_equal(dev.got, img, len);
	assert_int_equal(dev.max_chunk, 4096);
	assert_int_equal(dev.writes, (len + 4095) / 4096);
	assert_int_equal(dev.info.format, GWD_FW_FMT_MCUBOOT);
	assert_int_equal(dev.info.size, len);
	assert_string_equal(dev.info_version, "1.2.3");
	assert_string_equal(version_set, "1.2.3");
	assert_int_equal(firmware_delivery_percent(cur), 100);
	assert_false(exists(".fw.pkg"));
	/* Each state seen, in order; the result reset when each phase began. */
	assert_int_equal(n_states, 4);
	assert_int_equal(states[0], FW_DOWNLOADING);
	assert_int_equal(states[1], FW_DOWNLOADED);
	assert_int_equal(states[2], FW_UPDATING);
	assert_int_equal(states[3], FW_IDLE);
	assert_int_equal(results[n_results - 1], 1);
	free(img);
}

static void single_block_write_works(void **state)
{
	uint8_t raw[700];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, raw, sizeof(raw))), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	assert_string_equal(res_str(7), ""); /* raw: no version of its own */
	deliver(-1, 0);
	assert_int_equal(firmware_result(cur), 1);
	assert_memory_equal(dev.got, raw, sizeof(raw));
	assert_int_equal(dev.info.format, GWD_FW_FMT_RAW);
}

static void update_outside_downloaded_refused(void **state)
{
	size_t len, limit = 65536;
	uint8_t *img = image(&len);
	struct lwm_block1_sink *s;

	assert_int_equal(firmware_execute(cur, 2, NULL), -EPERM); /* Idle */
	s = firmware_body_sink(cur, 42, 0, &limit);
	assert_int_equal(s->begin(s, 0), 0);
	assert_int_equal(s->chunk(s, 0, img, 1024), 0);
	assert_int_equal(firmware_execute(cur, 2, NULL), -EPERM); /* Downloading */
	/* A second push meanwhile is refused (4.05). */
	{
		size_t l2 = 65536;
		struct lwm_block1_sink *s2 = firmware_body_sink(cur, 42, 0, &l2);
		assert_ptr_not_equal(s2, s);
		assert_int_equal(s2->begin(s2, 0), -EPERM);
	}
	s->abort_reason = -ECANCELED; /* the peer starts over: quietly dropped */
	s->abort(s);
	s->release(s);
	free(img);
	push_ok();
	deliver(0, 0); /* open completes */
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	assert_int_equal(firmware_execute(cur, 2, NULL), -EPERM); /* Updating */
	assert_int_equal(firmware_execute(cur, 10, NULL), -EPERM); /* Cancel too */
	/* A package write while Updating: refused, nothing reset. */
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, "", 0)), -EPERM);
	assert_int_equal(write1(rec_bytes(1, LWM_T_STRING, "coap://x/y", 10)), -EPERM);
	fw_close_obj(); /* stop mid-delivery: aborted */
	assert_true(dev.aborts >= 1);
}

static void cancel_gives_10(void **state)
{
	size_t len, limit = 65536;
	uint8_t *img = image(&len);
	struct lwm_block1_sink *s;

	assert_int_equal(firmware_execute(cur, 10, NULL), -EPERM); /* Idle: nothing to cancel */
	/* While Downloading: the rest of the transfer is refused. */
	s = firmware_body_sink(cur, 42, 0, &limit);
	assert_int_equal(s->begin(s, 0), 0);
	assert_int_equal(s->chunk(s, 0, img, 1024), 0);
	assert_true(exists(".fw.part"));
	assert_int_equal(firmware_execute(cur, 10, NULL), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 10);
	assert_false(exists(".fw.part"));
	assert_int_equal(s->chunk(s, 1024, img + 1024, 1024), -EPERM);
	s->abort_reason = -EPERM;
	s->abort(s);
	s->release(s);
	assert_int_equal(firmware_result(cur), 10);
	/* While Downloaded. */
	push_ok();
	assert_int_equal(firmware_result(cur), 0);
	assert_int_equal(firmware_execute(cur, 10, NULL), LWM_OP_DONE);
	assert_int_equal(firmware_result(cur), 10);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_false(exists(".fw.pkg"));
	free(img);
}

static void empty_writes_reset(void **state)
{
	push_ok();
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, "", 0)), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 0);
	assert_false(exists(".fw.pkg"));
	push_ok();
	assert_int_equal(write1(rec_bytes(1, LWM_T_STRING, "", 0)), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_false(exists(".fw.pkg"));
	/* A failure's result goes too. */
	assert_int_equal(write1(rec_bytes(1, LWM_T_STRING, "nonsense", 8)), -EINVAL);
	assert_int_equal(firmware_result(cur), 7);
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, "", 0)), LWM_OP_DONE);
	assert_int_equal(firmware_result(cur), 0);
}

static void too_large_gives_2(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(150000, 1, 0, 0, 0, &len);

	env.max_size = 100000;
	fw_close_obj();
	fw_open_obj();
	/* Announced in Size1: refused before a byte is stored. */
	assert_int_equal(push(img, len, len, 0, 0), -EFBIG);
	assert_int_equal(firmware_result(cur), 2);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_false(exists(".fw.part"));
	/* Not announced: refused when the limit is passed, nothing kept. */
	assert_int_equal(push(img, len, 0, 0, 0), -EFBIG);
	assert_int_equal(firmware_result(cur), 2);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_false(exists(".fw.part"));
	/* The device's own limit counts as well. */
	env.max_size = 0;
	env.caps.max_size = 5000;
	fw_close_obj();
	fw_open_obj();
	assert_int_equal(push(img, len, len, 0, 0), -EFBIG);
	assert_int_equal(firmware_result(cur), 2);
	free(img);
}

static void truncated_push_gives_4(void **state)
{
	size_t len;
	uint8_t *img = image(&len);

	assert_int_equal(push(img, len, len, 4096, -ETIMEDOUT), -ETIMEDOUT);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 4);
	assert_false(exists(".fw.part"));
	assert_false(exists(".fw.pkg"));
	assert_int_equal(states[0], FW_DOWNLOADING);
	assert_int_equal(states[1], FW_IDLE);
	free(img);
}

static void integrity_failure_gives_5(void **state)
{
	size_t len;
	uint8_t *img = image(&len);
	uint8_t raw[100] = {1, 2, 3, 4, 5}, digest[32] = {0};

	img[5000] ^= 0x40;
	assert_int_equal(push(img, len, len, 0, 0), -EINVAL);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 5);
	assert_false(exists(".fw.part"));
	assert_false(exists(".fw.pkg"));
	/* A raw package against the configured digest. */
	env.raw_sha256 = digest;
	fw_close_obj();
	fw_open_obj();
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, raw, sizeof(raw))), -EINVAL);
	assert_int_equal(firmware_result(cur), 5);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, raw, sizeof(raw), digest);
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, raw, sizeof(raw))), LWM_OP_DONE);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	free(img);
}

static void unsupported_type_gives_6(void **state)
{
	uint8_t raw[100] = {9};

	env.caps.flags = GWD_FW_CAP_MCUBOOT_ONLY;
	fw_close_obj();
	fw_open_obj();
	assert_int_equal(write1(rec_bytes(0, LWM_T_OPAQUE, raw, sizeof(raw))), -EINVAL);
	assert_int_equal(firmware_result(cur), 6);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	push_ok(); /* MCUboot goes */
}

static void device_failures_map_to_results(void **state)
{
	static const struct {
		int at, status, result;
		enum fw_state after;
	} cases[] = {
		{0, -ENOMEM, 3, FW_DOWNLOADED},
		{1, -ENOSPC, 2, FW_DOWNLOADED},
		{2, -EIO, 8, FW_DOWNLOADED},
		{3, -ETIMEDOUT, 8, FW_DOWNLOADED},
		{0, -ENOTSUP, 6, FW_IDLE},
		{2, -EBADMSG, 5, FW_IDLE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (firmware_state(cur) != FW_DOWNLOADED)
			push_ok();
		dev.opens = dev.closes = dev.applies = 0;
		dev.got_len = 0;
		deliver(cases[i].at, cases[i].status);
		assert_int_equal(firmware_result(cur), cases[i].result);
		assert_int_equal(firmware_state(cur), cases[i].after);
		assert_int_equal(exists(".fw.pkg"), cases[i].after == FW_DOWNLOADED);
	}
	/* A package kept after a failure can be tried again. */
	push_ok();
	dev.opens = dev.closes = dev.applies = 0;
	dev.got_len = 0;
	deliver(-1, 0);
	assert_int_equal(firmware_result(cur), 1);
	/* fw_open refusing at once. */
	push_ok();
	dev.opens = 0;
	dev.open_ret = -ENOMEM;
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(firmware_result(cur), 3);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
}

static void apply_timeout_aborts_with_8(void **state)
{
	push_ok();
	deliver_to_apply();
	assert_int_equal(dev.applies, 1);
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	advance(FW_APPLY_TIMEOUT_MS - 1);
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	advance(1);
	assert_int_equal(dev.aborts, 1);
	assert_int_equal(firmware_result(cur), 8);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
}

static void busy_device_defers_with_11(void **state)
{
	push_ok();
	assert_int_equal(write1((struct lwm_record){.path = lwm_path_make(3, 5, 0, 13, 0),
						    .value = {.type = LWM_T_UNSIGNED, .v.u = 12}}),
			 LWM_OP_DONE);
	dev.open_ret = -EBUSY;
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(firmware_result(cur), 11);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED); /* never Updating */
	advance(FW_DEFER_RETRY_MS);
	assert_int_equal(dev.opens, 2);
	assert_int_equal(firmware_result(cur), 11);
	/* The device takes it on the next try. */
	dev.open_ret = 0;
	advance(FW_DEFER_RETRY_MS);
	assert_int_equal(dev.opens, 3);
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	assert_int_equal(firmware_result(cur), 0);
	complete(-EIO);
	/* Past the Maximum Defer Period: failed (8). */
	dev.open_ret = -EBUSY;
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(firmware_result(cur), 11);
	advance(FW_DEFER_RETRY_MS);
	advance(FW_DEFER_RETRY_MS);
	advance(FW_DEFER_RETRY_MS);
	assert_int_equal(firmware_result(cur), 8);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	/* No deferral allowed (0): 8 at once. */
	assert_int_equal(write1((struct lwm_record){.path = lwm_path_make(3, 5, 0, 13, 0),
						    .value = {.type = LWM_T_UNSIGNED, .v.u = 0}}),
			 LWM_OP_DONE);
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(firmware_result(cur), 8);
}

static void automatic_upgrade_runs_by_itself(void **state)
{
	assert_int_equal(write_bool(14, true), LWM_OP_DONE);
	assert_int_equal(write_int(11, 0), LWM_OP_DONE);
	assert_int_equal(res_int(11), 0);
	assert_int_equal(write_int(11, 3), -EINVAL);
	push_ok();
	run_timers();
	assert_int_equal(dev.opens, 1);
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	complete(0);
	while (dev.op)
		complete(0);
	assert_int_equal(firmware_result(cur), 1);
	/* The settings survive a restart. */
	fw_close_obj();
	fw_open_obj();
	assert_int_equal(res_int(11), 0);
	{
		struct lwm_path p = lwm_path_make(3, 5, 0, 14, 0);
		assert_true(lwm_model_get(model, &p)->v.b);
	}
}

static void restart_while_updating_asks_fw_recover(void **state)
{
	push_ok();
	deliver_to_apply();
	fw_close_obj(); /* the daemon stops: aborted, state stays Updating */
	assert_int_equal(dev.aborts, 1);
	fw_open_obj();
	assert_int_equal(res_int(3), FW_UPDATING);
	assert_int_equal(dev.recovers, 1);
	assert_string_equal(dev.info_version, "1.2.3");
	complete(0);
	assert_int_equal(firmware_result(cur), 1);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_string_equal(version_set, "1.2.3");
	/* And when it says the device does not run it: 8, package kept. */
	push_ok();
	dev.applies = dev.opens = dev.closes = 0;
	dev.got_len = 0;
	deliver_to_apply();
	fw_close_obj();
	fw_open_obj();
	complete(-EIO);
	assert_int_equal(firmware_result(cur), 8);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
}

static void restart_while_updating_waits_for_version(void **state)
{
	fake_ops.fw_recover = NULL;
	push_ok();
	deliver_to_apply();
	fw_close_obj();
	fw_open_obj();
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	/* The old version first (still booting), then the new one. */
	firmware_version_reported(cur, "1.0.0");
	assert_int_equal(firmware_state(cur), FW_UPDATING);
	firmware_version_reported(cur, "1.2.3");
	assert_int_equal(firmware_state(cur), FW_IDLE);
	assert_int_equal(firmware_result(cur), 1);
	/* Never reported: failed once the apply time is over. */
	push_ok();
	dev.applies = dev.opens = dev.closes = 0;
	dev.got_len = 0;
	deliver_to_apply();
	fw_close_obj();
	fw_open_obj();
	advance(FW_APPLY_TIMEOUT_MS);
	assert_int_equal(firmware_result(cur), 8);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	fake_ops.fw_recover = fake_recover;
}

static void restart_cuts_a_push_with_4(void **state)
{
	size_t len, limit = 65536;
	uint8_t *img = image(&len);
	struct lwm_block1_sink *s = firmware_body_sink(cur, 42, 0, &limit);

	assert_int_equal(s->begin(s, 0), 0);
	assert_int_equal(s->chunk(s, 0, img, 1024), 0);
	/* The daemon is killed here: only the state file and .part remain. */
	statefile_flush();
	{
		struct fw_obj *old = cur;
		cur = NULL;
		lwm_model_free(model);
		model = lwm_model_new();
		env.model = model;
		fw_open_obj();
		assert_int_equal(firmware_state(cur), FW_IDLE);
		assert_int_equal(firmware_result(cur), 4);
		assert_false(exists(".fw.part"));
		/* (the old object goes without touching the files again) */
		s->release(s);
		{
			struct fw_obj *keep = cur;
			struct lwm_model *m = model;
			cur = old;
			model = lwm_model_new();
			env.model = model;
			firmware_free(old);
			lwm_model_free(model);
			model = m;
			cur = keep;
		}
	}
	free(img);
}

static void device_gone_with_a_push_in_flight(void **state)
{
	size_t len, limit = 65536;
	uint8_t *img = image(&len);
	struct lwm_block1_sink *s = firmware_body_sink(cur, 42, 0, &limit);

	assert_int_equal(s->begin(s, 0), 0);
	assert_int_equal(s->chunk(s, 0, img, 1024), 0);
	/* The device goes first; the engine lets the transfer go later. */
	fw_close_obj();
	assert_int_equal(s->chunk(s, 1024, img + 1024, 1024), -EPERM);
	s->abort_reason = -ECONNRESET;
	s->abort(s);
	s->release(s); /* frees it: valgrind and ASan say whether it was right */
	fw_open_obj();
	free(img);
}

static void downloaded_survives_restart(void **state)
{
	push_ok();
	fw_close_obj();
	lwm_model_free(model);
	model = lwm_model_new();
	env.model = model;
	fw_open_obj();
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	assert_string_equal(res_str(7), "1.2.3");
	deliver(-1, 0);
	assert_int_equal(firmware_result(cur), 1);
}

/* ---- pull ------------------------------------------------------------------------------ */

static void pull_uri(const char *uri)
{
	assert_int_equal(write1(rec_bytes(1, LWM_T_STRING, uri, strlen(uri))), LWM_OP_DONE);
}

static void pull_completes_and_resumes(void **state)
{
	size_t len;
	uint8_t *img = image(&len);

	pull_uri("coap://127.0.0.1:5683/fw/a.bin");
	assert_int_equal(fetch.calls, 1);
	assert_string_equal(fetch.uri, "coap://127.0.0.1:5683/fw/a.bin");
	assert_int_equal(fetch.offset, 0);
	assert_int_equal(fetch.give_up_ms, 45000); /* gateway.firmware_give_up */
	assert_int_equal(firmware_state(cur), FW_DOWNLOADING);
	assert_string_equal(res_str(1), "coap://127.0.0.1:5683/fw/a.bin");
	assert_int_equal(fetch.ops->size(fetch.ud, len), 0);
	assert_int_equal(fetch.ops->data(fetch.ud, 0, img, 3000), 0);
	/* The daemon restarts: the download resumes from what is kept. */
	fw_close_obj();
	assert_int_equal(fetch.cancels, 1);
	lwm_model_free(model);
	model = lwm_model_new();
	env.model = model;
	fw_open_obj();
	assert_int_equal(firmware_state(cur), FW_DOWNLOADING);
	assert_int_equal(fetch.calls, 2);
	assert_int_equal(fetch.offset, 3000);
	assert_int_equal(fetch.ops->data(fetch.ud, 3000, img + 3000, len - 3000), 0);
	fetch.ops->done(fetch.ud, 0);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	assert_string_equal(res_str(7), "1.2.3");
	deliver(-1, 0);
	assert_memory_equal(dev.got, img, len);
	assert_int_equal(firmware_result(cur), 1);
	free(img);
}

static void pull_failures_map_to_results(void **state)
{
	static const struct {
		int status, result;
	} cases[] = {
		{-ENOENT, 7}, {-EINVAL, 7}, {-EHOSTUNREACH, 7}, {-EPROTONOSUPPORT, 9},
		{-ECONNRESET, 4}, {-ETIMEDOUT, 4}, {-EACCES, 4}, {-EFBIG, 2}, {-ENOMEM, 3},
		{-EBADMSG, 5}, {-EIO, 8},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pull_uri("http://127.0.0.1:1/x");
		assert_int_equal(firmware_state(cur), FW_DOWNLOADING);
		assert_int_equal(fetch.ops->data(fetch.ud, 0, (const uint8_t *)"abcd", 4), 0);
		fetch.ops->done(fetch.ud, cases[i].status);
		assert_int_equal(firmware_result(cur), cases[i].result);
		assert_int_equal(firmware_state(cur), FW_IDLE);
		assert_false(exists(".fw.part"));
		assert_int_equal(firmware_download_result(cases[i].status), cases[i].result);
	}
	/* Too large, said by the server before the bytes. */
	pull_uri("https://127.0.0.1:1/x");
	assert_int_equal(fetch.ops->size(fetch.ud, 5000000), -EFBIG);
	fetch.ops->done(fetch.ud, -EFBIG);
	assert_int_equal(firmware_result(cur), 2);
	/* A scheme this build does not pull: 9 at once; not a URI: 7. */
	pull_uri("ftp://127.0.0.1/x");
	assert_int_equal(firmware_result(cur), 9);
	assert_int_equal(firmware_state(cur), FW_IDLE);
	fake_fetcher.protocols = FW_PROTO_COAP;
	pull_uri("https://127.0.0.1/x");
	assert_int_equal(firmware_result(cur), 9);
	assert_int_equal(write1(rec_bytes(1, LWM_T_STRING, "no uri", 6)), -EINVAL);
	assert_int_equal(firmware_result(cur), 7);
	/* The fetcher refusing at once. */
	fetch.start_err = -EHOSTUNREACH;
	pull_uri("coap://nowhere.invalid/x");
	assert_int_equal(firmware_result(cur), 7);
	/* Cancel while pulling: the download is stopped. */
	fetch.start_err = 0;
	pull_uri("coap://127.0.0.1/x");
	fetch.cancels = 0;
	assert_int_equal(firmware_execute(cur, 10, NULL), LWM_OP_DONE);
	assert_int_equal(fetch.cancels, 1);
	assert_int_equal(firmware_result(cur), 10);
}

static void device_reported_version_wins(void **state)
{
	env.caps.flags = GWD_FW_CAP_REPORTS_VERSION;
	fw_close_obj();
	fw_open_obj();
	push_ok();
	deliver_to_apply();
	/* The device comes back and says what it runs, then completes. */
	firmware_version_reported(cur, "1.2.3-rc9");
	complete(0);
	assert_int_equal(firmware_result(cur), 1);
	assert_string_equal(version_set, "1.2.3-rc9");
}

static void gatewayctl_line(void **state)
{
	char buf[96];

	firmware_describe(cur, buf, sizeof(buf));
	assert_string_equal(buf, "Idle");
	push_ok();
	deliver_to_apply();
	firmware_describe(cur, buf, sizeof(buf));
	assert_string_equal(buf, "Updating 100%");
	complete(-EIO);
	firmware_describe(cur, buf, sizeof(buf));
	assert_string_equal(buf, "Downloaded, result 8");
}

static void update_result_table(void **state)
{
	assert_int_equal(firmware_update_result(0), 1);
	assert_int_equal(firmware_update_result(-ENOSPC), 2);
	assert_int_equal(firmware_update_result(-ENOMEM), 3);
	assert_int_equal(firmware_update_result(-EBADMSG), 5);
	assert_int_equal(firmware_update_result(-ENOTSUP), 6);
	assert_int_equal(firmware_update_result(-ECANCELED), 10);
	assert_int_equal(firmware_update_result(-EIO), 8);
	assert_int_equal(firmware_update_result(-ETIMEDOUT), 8);
	assert_int_equal(firmware_update_result(-EPROTO), 8);
}

static void hook_that_cannot_start_fails_with_8(void **state)
{
	/* A device updated by firmware_command only, whose command cannot be
	 * started (here: no loop to watch it; test_fw_hook covers the hook
	 * itself): 8, logged, and the package stays for another Update. */
	env.adapter_updates = false;
	env.command = "/bin/true %f";
	fw_close_obj();
	fw_open_obj();
	push_ok();
	assert_int_equal(firmware_execute(cur, 2, NULL), LWM_OP_DONE);
	run_timers();
	assert_int_equal(firmware_result(cur), 8);
	assert_int_equal(firmware_state(cur), FW_DOWNLOADED);
	assert_int_equal(dev.opens, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(initial_resources),
		T(push_then_update_succeeds),
		T(single_block_write_works),
		T(update_outside_downloaded_refused),
		T(cancel_gives_10),
		T(empty_writes_reset),
		T(too_large_gives_2),
		T(truncated_push_gives_4),
		T(integrity_failure_gives_5),
		T(unsupported_type_gives_6),
		T(device_failures_map_to_results),
		T(apply_timeout_aborts_with_8),
		T(busy_device_defers_with_11),
		T(automatic_upgrade_runs_by_itself),
		T(restart_while_updating_asks_fw_recover),
		T(restart_while_updating_waits_for_version),
		T(restart_cuts_a_push_with_4),
		T(device_gone_with_a_push_in_flight),
		T(downloaded_survives_restart),
		T(pull_completes_and_resumes),
		T(pull_failures_map_to_results),
		T(update_result_table),
		T(gatewayctl_line),
		T(device_reported_version_wins),
		T(hook_that_cannot_start_fails_with_8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
