/* Firmware delivery by the modbus adapter (issue 11), its fw ops driven
 * through the fake host (mb_fakehost.c) against the real libmodbus slave on
 * loopback, which implements FC 0x15/0x14 and the register window, stores
 * the image and simulates commit, busy, reboot and a new version
 * (modbus_slave.c, "Firmware").  Each transport delivers an image that is
 * compared byte for byte; the version comes back; abort, exceptions, a bad
 * CRC, a failed apply and a device that never comes back give the statuses
 * of adapter.h's table; a neighbour on the same bus keeps being polled,
 * waiting behind at most one update turn (counted by the bus, not timed);
 * max_updates makes a second update wait its turn. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <modbus.h>

#include "adapters/modbus/mb_bus.h"
#include "gatewayd/adapter.h"
#include "harness.h"
#include "mb_fakehost.h"

extern const struct gwd_adapter_descriptor gwd_adapter_descriptor;

static struct proc slave_proc;
static char *tmpdir;
static int port;
static const struct gwd_adapter_ops *ops;
static void *actx;
static struct gwd_device tdev = {"target"}, ndev = {"neighbour"};
static int op_a, op_b; /* ops are opaque to the adapter: distinct pointers */
#define OP_A ((struct gwd_op *)&op_a)
#define OP_B ((struct gwd_op *)&op_b)

#define slave(...) fh_slave(&slave_proc, __VA_ARGS__)

/* The slave's fixed map (modbus_slave.c): command 200, status 201, size
 * 202, offset 204, length 206, CRC 207, version 210, window 100. */
#define COMMON                                                                               \
	KS("host", "127.0.0.1"), KI("port", 0), KD("timeout", 0.2), KI("fw_command_reg", 200), \
	KI("fw_status_reg", 201), KI("fw_size_reg", 202), KD("fw_status_interval", 0.002),   \
	KD("fw_reboot_time", 0.02), KD("fw_apply_timeout", 5.0), KD("interval", 0.05)

static struct kv file_kv[] = {COMMON, KI("unit", 1), KS("fw_transport", "file_record"),
			      KI("fw_file", 4), KI("fw_first_record", 10),
			      KI("fw_file_records", 1000), KI("fw_record_size", 32),
			      KB("fw_readback", true), KI("fw_version_reg", 210),
			      KI("fw_version_length", 8), KEND};
static struct kv win_kv[] = {COMMON, KI("unit", 1), KS("fw_transport", "register_window"),
			     KI("fw_window", 100), KI("fw_window_size", 64),
			     KI("fw_offset_reg", 204), KI("fw_length_reg", 206),
			     KS("fw_crc", "chunk16"), KI("fw_crc_reg", 207), KEND};
static struct kv win32_kv[] = {COMMON, KI("unit", 1), KS("fw_transport", "register_window"),
			       KI("fw_window", 100), KI("fw_window_size", 50),
			       KI("fw_offset_reg", 204), KI("fw_length_reg", 206),
			       KS("fw_crc", "image32"), KI("fw_crc_reg", 207),
			       KI("fw_version_reg", 210), KEND};
/* The neighbour: polled as often as the bus allows. */
static struct kv nb_kv[] = {KS("host", "127.0.0.1"), KI("port", 0), KD("timeout", 0.2),
			    KI("unit", 2), KD("interval", 0.001), KEND};
/* A second device that can be updated, on the same bus. */
static struct kv second_kv[] = {COMMON, KI("unit", 2), KS("fw_transport", "file_record"),
				KI("fw_record_size", 32), KI("fw_version_reg", 210), KEND};
static struct kv point_kv[] = {KI("address", 0), KEND};

static int setup(void **state)
{
	char *bin = h_build_path("tests/integration/modbus_slave");
	char *argv[] = {bin, "--tcp", "0", "--units", "1,2", NULL};
	json_t *ev;

	tmpdir = h_tmpdir();
	if (!tmpdir || h_spawn(&slave_proc, argv, true, NULL) < 0)
		return -1;
	free(bin);
	ev = h_wait_event(&slave_proc, "listening", NULL, NULL, H_TIMEOUT_MS);
	if (!ev)
		return -1;
	port = (int)json_integer_value(json_object_get(ev, "port"));
	json_decref(ev);
	for (struct kv *t[] = {file_kv, win_kv, win32_kv, nb_kv, second_kv, NULL}, **k = t; *k; k++)
		(*k)[1].i = port;
	slave("quiet 1"); /* thousands of requests: no event for each */
	ops = gwd_adapter_descriptor.ops;
	return ops->init(&fh_host, &actx);
}

static int teardown(void **state)
{
	if (actx)
		ops->fini(actx);
	h_stop(&slave_proc, SIGTERM, 5000);
	h_tmpdir_remove(tmpdir);
	return 0;
}

static void *dev_make(struct gwd_device *dev, struct kv *kv)
{
	struct gwd_cfg dcfg = {kv};
	static struct gwd_cfg pcfg = {point_kv};
	gwd_channel_t ch;
	void *d = NULL;

	assert_int_equal(ops->device_new(actx, dev, &dcfg, NULL, &d), 0);
	assert_int_equal(ops->channel_new(d, "p", &pcfg, &ch), 0);
	assert_int_equal(ops->device_start(d), 0);
	return d;
}

static void dev_drop(void *d)
{
	ops->device_stop(d);
	ops->device_free(d);
}

static void make_image(uint8_t *img, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		gwd_jitter_next(&seed);
		img[i] = (uint8_t)(seed >> 24);
	}
}

/* Start an op; 0 or its error now.  Complete: wait for its completion. */
#define START(call)                                                                          \
	({                                                                                   \
		int r_;                                                                      \
		in_op = true;                                                                \
		r_ = (call);                                                                 \
		in_op = false;                                                               \
		r_;                                                                          \
	})

static int finish(int r, int before)
{
	if (r < 0)
		return r;
	assert_true(run_until_completions(before + 1, H_TIMEOUT_MS));
	return last_status;
}

static int fw_open(void *d, uint64_t size)
{
	struct gwd_fw_info info = {.size = size, .image_size = size};
	int before = completions;

	return finish(START(ops->fw_open(d, &info, OP_A)), before);
}

/* Write the image from `from`; returns 0 or the first failure, with the
 * offset it failed at in *at. */
static int fw_write_all(void *d, const uint8_t *img, size_t size, size_t from, size_t *at)
{
	struct gwd_fw_caps caps = {.size = sizeof(caps)};

	assert_int_equal(ops->fw_caps(d, &caps), 0);
	for (size_t off = from; off < size; off += caps.chunk_size) {
		size_t n = size - off < caps.chunk_size ? size - off : caps.chunk_size;
		int before = completions;
		int r = finish(START(ops->fw_write(d, off, img + off, n, OP_A)), before);

		if (r < 0) {
			if (at)
				*at = off;
			return r;
		}
	}
	return 0;
}

static int fw_close(void *d)
{
	int before = completions;

	return finish(START(ops->fw_close(d, OP_A)), before);
}

static int fw_apply(void *d)
{
	int before = completions;

	return finish(START(ops->fw_apply(d, OP_A)), before);
}

/* The image the slave stored, compared byte for byte. */
static void assert_image(struct proc *p, const char *name, int unit, const uint8_t *img,
			 size_t size)
{
	char path[512];
	uint8_t *got = malloc(size + 1);
	FILE *f;
	size_t n;

	assert_non_null(got);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fh_slave(p, "fwdump %d %s", unit, path);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(got, 1, size + 1, f);
	fclose(f);
	assert_int_equal(n, size);
	assert_memory_equal(got, img, size);
	free(got);
}

#define assert_slave_image(unit, img, size) assert_image(&slave_proc, "image", unit, img, size)

/* A read of the device's point: 0 when it is polled, -ECANCELED while it is
 * being updated. */
static int read_point(void *d)
{
	int before = completions;

	return finish(START(ops->read(d, 0, OP_B)), before);
}

static void file_records_with_readback(void **state)
{
	size_t size = 200 * 1024 + 1; /* odd: the last record is padded */
	uint8_t *img = malloc(size);
	struct gwd_fw_caps caps = {.size = sizeof(caps)};
	void *d;

	assert_non_null(img);
	make_image(img, size, 11);
	/* 1000 records of 64 bytes a file from file 4, record 10: the image
	 * spans files 4 to 7. */
	slave("fw 1 4 10 1000 32 0 2 3");
	slave("fwnext 1 2.0.1");
	d = dev_make(&tdev, file_kv);
	assert_int_equal(ops->fw_caps(d, &caps), 0);
	/* Three records of 32 registers fill an FC 0x15 request. */
	assert_int_equal(caps.chunk_size, 192);
	assert_true(caps.flags & GWD_FW_CAP_REPORTS_VERSION);
	assert_true(caps.apply_timeout_ms >= 5000);
	assert_int_equal(fw_open(d, size), 0);
	assert_int_equal(read_point(d), -ECANCELED); /* polling pauses */
	assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	assert_slave_image(1, img, size);
	identity[GWD_ID_FIRMWARE][0] = '\0';
	assert_int_equal(fw_apply(d), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "2.0.1");
	assert_int_equal(read_point(d), 0); /* polled again */
	dev_drop(d);
	free(img);
}

static void *neighbour;
static int neighbour_reports;

static void count_neighbour(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v)
{
	if (dev == &ndev)
		neighbour_reports++;
}

static struct mb_bus *bus_of_watch(void)
{
	for (int i = 0; i < 4; i++)
		if (watches[i].used)
			return watches[i].ud;
	return NULL;
}

/* The register window with a CRC-16 per chunk, the version from Device
 * Identification; a neighbour polled every millisecond on the same bus
 * keeps its cycle: every one of its requests during the update waited
 * behind at most one update turn (one chunk or one status read), and it
 * was answered many times while the image went through. */
static void register_window_keeps_the_neighbour_polled(void **state)
{
	size_t size = 64 * 1024 + 3;
	uint8_t *img = malloc(size);
	struct mb_bus_fw_stats st;
	int before_nb;
	void *d;

	assert_non_null(img);
	make_image(img, size, 22);
	slave("fw 1 1 0 10000 32 1 1 2");
	slave("fwnext 1 3.1.4");
	d = dev_make(&tdev, win_kv);
	fh_report_hook = count_neighbour;
	neighbour = dev_make(&ndev, nb_kv);
	assert_int_equal(fw_open(d, size), 0);
	before_nb = neighbour_reports;
	assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	st = mb_bus_fw_stats(bus_of_watch(), false);
	printf("neighbour: %d cycles, %" PRIu64 " requests during the update; waited behind "
	       "at most %" PRIu64 " update turn(s), %" PRIu64 " ms; longest turn %" PRIu64
	       " ms; %" PRIu64 " turns\n",
	       neighbour_reports - before_nb, st.shared_jobs, st.max_turns_waited,
	       st.max_wait_ms, st.max_turn_ms, st.turns);
	/* 513 chunks and their status reads: the neighbour was served in
	 * between, never behind more than one of them. */
	assert_true(st.turns >= 513);
	assert_true(st.shared_jobs >= 20);
	assert_true(neighbour_reports - before_nb >= 20);
	assert_true(st.max_turns_waited <= 1);
	assert_slave_image(1, img, size);
	identity[GWD_ID_FIRMWARE][0] = '\0';
	assert_int_equal(fw_apply(d), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "3.1.4");
	dev_drop(neighbour);
	fh_report_hook = NULL;
	dev_drop(d);
	free(img);
}

/* CRC-32 of the whole image at close; a corrupted check is result 5. */
static void register_window_image_crc32(void **state)
{
	size_t size = 10 * 1000 + 1;
	uint8_t *img = malloc(size);
	void *d;

	assert_non_null(img);
	make_image(img, size, 33);
	slave("fw 1 1 0 10000 32 2 3 1");
	slave("fwnext 1 v4");
	d = dev_make(&tdev, win32_kv);
	assert_int_equal(fw_open(d, size), 0);
	assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	assert_slave_image(1, img, size);
	assert_int_equal(fw_apply(d), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "v4");

	/* The same, but the device's check fails: -EBADMSG, and the update
	 * is over (polling again). */
	slave("fw 1 1 0 10000 32 2 0 1");
	slave("fwfail 1 crc");
	assert_int_equal(fw_open(d, size), 0);
	assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
	assert_int_equal(fw_close(d), -EBADMSG);
	assert_int_equal(read_point(d), 0);
	assert_int_equal(START(ops->fw_apply(d, OP_A)), -ENOTCONN);
	dev_drop(d);
	free(img);
}

/* Each failure of the slave gives its status, ends the update and
 * resumes polling. */
static void failures_give_their_status(void **state)
{
	uint8_t img[4000];
	size_t at = 0;
	void *d;

	make_image(img, sizeof(img), 44);
	d = dev_make(&tdev, file_kv);

	/* An exception to FC 0x15 (slave device failure): -EIO. */
	slave("fw 1 4 10 1000 32 0 0 1");
	slave("fwfail 1 exc");
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, &at), -EIO);
	assert_int_equal(at, 0);
	assert_int_equal(read_point(d), 0);

	/* No room for record 10 + 20 on: illegal data address, -ENOSPC. */
	slave("fwfail 1 full 20");
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, &at), -ENOSPC);
	assert_int_equal(at, 20 * 64 / 192 * 192);

	/* The read-back differs: -EBADMSG. */
	slave("fwfail 1 readback");
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, &at), -EBADMSG);

	/* Status error after the reboot: -EIO. */
	slave("fwfail 1 apply");
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	assert_int_equal(fw_apply(d), -EIO);
	assert_int_equal(read_point(d), 0);
	dev_drop(d);
}

/* A chunk whose CRC-16 does not match: the device's status says error,
 * -EBADMSG. */
static void window_chunk_crc_failure(void **state)
{
	uint8_t img[1000];
	void *d;

	make_image(img, sizeof(img), 55);
	slave("fw 1 1 0 10000 32 1 0 1");
	slave("fwfail 1 crc");
	d = dev_make(&tdev, win_kv);
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, NULL), -EBADMSG);
	dev_drop(d);
}

static bool is_up(void *arg)
{
	return down_state != 1;
}

/* A device that never comes back after apply: -ETIMEDOUT after
 * fw_apply_timeout, polling resumes. */
static void never_comes_back(void **state)
{
	struct kv kv[sizeof(file_kv) / sizeof(file_kv[0]) + 1];
	uint8_t img[500];
	void *d;
	size_t i;

	for (i = 0; file_kv[i].type != KV_END; i++)
		kv[i] = strcmp(file_kv[i].key, "fw_apply_timeout") == 0
				? (struct kv)KD("fw_apply_timeout", 1.0)
				: file_kv[i];
	kv[i] = (struct kv)KEND;
	make_image(img, sizeof(img), 66);
	slave("fw 1 4 10 1000 32 0 0 1");
	slave("fwfail 1 gone");
	d = dev_make(&tdev, kv);
	assert_int_equal(fw_open(d, sizeof(img)), 0);
	assert_int_equal(fw_write_all(d, img, sizeof(img), 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	assert_int_equal(fw_apply(d), -ETIMEDOUT);
	/* The device shows up again (the slave's reboot ends): polled again
	 * (it may have gone down meanwhile: then probed back up). */
	slave("fw 1 4 10 1000 32 0 0 1");
	assert_true(run_until(is_up, NULL, H_TIMEOUT_MS));
	assert_int_equal(read_point(d), 0);
	dev_drop(d);
}

/* fw_abort with a chunk on the bus: the op completes with -ECANCELED
 * before fw_abort returns, nothing more is heard of it, polling resumes,
 * and a new update starts over and succeeds. */
static void abort_mid_transfer(void **state)
{
	size_t size = 20000, half = 192 * 50;
	uint8_t *img = malloc(size);
	int before;
	void *d;

	assert_non_null(img);
	make_image(img, size, 77);
	slave("fw 1 4 10 1000 32 0 0 1");
	slave("fwnext 1 5.0");
	d = dev_make(&tdev, file_kv);
	assert_int_equal(fw_open(d, size), 0);
	assert_int_equal(fw_write_all(d, img, half, 0, NULL), 0);
	before = completions;
	assert_int_equal(START(ops->fw_write(d, half, img + half, 192, OP_A)), 0);
	ops->fw_abort(d);
	assert_int_equal(completions, before + 1);
	assert_int_equal(last_status, -ECANCELED);
	/* The chunk's answer comes back to nobody: the next completion is the
	 * read's, polled again. */
	assert_int_equal(read_point(d), 0);
	assert_int_equal(completions, before + 2);
	assert_true(completed_op[(before + 1) % 256] == OP_B);
	/* Idle again: a second abort does nothing; ops outside an update are
	 * refused. */
	ops->fw_abort(d);
	assert_int_equal(completions, before + 2);
	assert_int_equal(START(ops->fw_write(d, 0, img, 192, OP_A)), -ENOTCONN);

	assert_int_equal(fw_open(d, size), 0);
	assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
	assert_int_equal(fw_close(d), 0);
	assert_slave_image(1, img, size);
	assert_int_equal(fw_apply(d), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "5.0");
	dev_drop(d);
	free(img);
}

/* max_updates = 1 (the default): a second device's fw_open waits until the
 * first update is over, then runs; a waiting open can be aborted. */
static void one_update_per_bus(void **state)
{
	uint8_t img[3000];
	int before, open_b;
	void *a, *b;
	struct gwd_fw_info info = {.size = sizeof(img)};

	make_image(img, sizeof(img), 88);
	slave("fw 1 4 10 1000 32 0 0 1");
	slave("fw 2 1 0 10000 32 0 0 1");
	slave("fwnext 2 9.9");
	a = dev_make(&tdev, file_kv);
	b = dev_make(&ndev, second_kv);
	assert_int_equal(fw_open(a, sizeof(img)), 0);
	open_b = completions;
	assert_int_equal(START(ops->fw_open(b, &info, OP_B)), 0);
	/* B is still polled while it waits: its reads are answered. */
	before = completions;
	assert_int_equal(START(ops->read(b, 0, OP_A)), 0);
	assert_true(run_until_completions(before + 1, H_TIMEOUT_MS));
	assert_true(completed_op[before % 256] == OP_A);
	assert_int_equal(completed_status[before % 256], 0);
	assert_int_equal(fw_write_all(a, img, sizeof(img), 0, NULL), 0);
	assert_int_equal(fw_close(a), 0);
	/* A's apply completes, then B's open (no completion of B before). */
	for (int i = open_b; i < completions; i++)
		assert_false(completed_op[i % 256] == OP_B);
	before = completions;
	assert_int_equal(START(ops->fw_apply(a, OP_A)), 0);
	assert_true(run_until_completions(before + 2, H_TIMEOUT_MS));
	assert_true(completed_op[before % 256] == OP_A);
	assert_int_equal(completed_status[before % 256], 0);
	assert_true(completed_op[(before + 1) % 256] == OP_B);
	assert_int_equal(completed_status[(before + 1) % 256], 0);
	assert_int_equal(fw_write_all(b, img, sizeof(img), 0, NULL), 0);
	assert_int_equal(fw_close(b), 0);
	assert_slave_image(2, img, sizeof(img));
	assert_int_equal(fw_apply(b), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "9.9");

	/* A waiting open aborted: -ECANCELED at once, and A's turn unaffected. */
	assert_int_equal(fw_open(a, sizeof(img)), 0);
	before = completions;
	assert_int_equal(START(ops->fw_open(b, &info, OP_B)), 0);
	ops->fw_abort(b);
	assert_int_equal(completions, before + 1);
	assert_int_equal(last_status, -ECANCELED);
	assert_int_equal(fw_write_all(a, img, sizeof(img), 0, NULL), 0);
	ops->fw_abort(a);
	dev_drop(b);
	dev_drop(a);
}

/* The apply command, as the daemon sent it before it stopped. */
static void apply_behind_the_adapter(int unit)
{
	modbus_t *m = modbus_new_tcp("127.0.0.1", port);

	assert_non_null(m);
	assert_int_equal(modbus_connect(m), 0);
	modbus_set_slave(m, unit);
	assert_int_equal(modbus_write_register(m, 200, 2), 1);
	modbus_close(m);
	modbus_free(m);
}

static int fw_recover(void *d, const char *version)
{
	struct gwd_fw_info info = {.size = 1, .version = version};
	int before = completions;

	return finish(START(ops->fw_recover(d, &info, OP_A)), before);
}

/* fw_recover after a restart during an apply: the device comes back from
 * its reboot and runs the package's version (0), or another one (-EIO, a
 * rollback); polling pauses meanwhile and resumes after. */
static void recover_after_a_restart(void **state)
{
	void *d;

	slave("fw 1 4 10 1000 32 0 1 3");
	slave("fwnext 1 7.7");
	d = dev_make(&tdev, file_kv);
	apply_behind_the_adapter(1);
	identity[GWD_ID_FIRMWARE][0] = '\0';
	assert_int_equal(fw_recover(d, "7.7"), 0);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "7.7");
	assert_int_equal(read_point(d), 0);

	slave("fwnext 1 7.6");
	apply_behind_the_adapter(1);
	assert_int_equal(START(ops->fw_recover(d, &(struct gwd_fw_info){.size = 1, .version = "7.7"},
					     OP_A)),
			 0);
	assert_int_equal(read_point(d), -ECANCELED); /* not polled while it reboots */
	assert_true(run_until_completions(completions + 1, H_TIMEOUT_MS));
	assert_int_equal(last_status, -EIO);
	assert_string_equal(identity[GWD_ID_FIRMWARE], "7.6");
	assert_int_equal(read_point(d), 0);
	dev_drop(d);
}

/* Both transports over Modbus RTU (a pty): the FC 0x15/0x14 answers are
 * framed by their byte count and CRC, not by the MBAP header. */
static void rtu_both_transports(void **state)
{
	char *bin = h_build_path("tests/integration/modbus_slave");
	char *argv[] = {bin, "--rtu", "--units", "1", NULL};
	struct proc rtu_proc;
	char pty[128];
	size_t size = 5000;
	uint8_t *img = malloc(size);
	struct kv *profiles[] = {file_kv, win32_kv};
	json_t *ev;

	assert_non_null(img);
	assert_int_equal(h_spawn(&rtu_proc, argv, true, NULL), 0);
	free(bin);
	ev = h_wait_event(&rtu_proc, "listening", NULL, NULL, H_TIMEOUT_MS);
	assert_non_null(ev);
	snprintf(pty, sizeof(pty), "%s", json_string_value(json_object_get(ev, "pty")));
	json_decref(ev);
	fh_slave(&rtu_proc, "quiet 1");
	for (int t = 0; t < 2; t++) {
		struct kv kv[32];
		size_t i, n = 0;
		void *d;

		/* The profile, on the serial line instead of TCP. */
		for (i = 0; profiles[t][i].type != KV_END; i++)
			if (strcmp(profiles[t][i].key, "host") && strcmp(profiles[t][i].key, "port"))
				kv[n++] = profiles[t][i];
		kv[n++] = (struct kv)KS("serial", pty);
		kv[n++] = (struct kv)KS("parity", "none");
		kv[n] = (struct kv)KEND;
		make_image(img, size, 99 + (uint64_t)t);
		fh_slave(&rtu_proc, t == 0 ? "fw 1 4 10 1000 32 0 1 2" : "fw 1 1 0 10000 32 2 1 2");
		fh_slave(&rtu_proc, "fwnext 1 rtu-%d", t);
		d = dev_make(&tdev, kv);
		assert_int_equal(fw_open(d, size), 0);
		assert_int_equal(fw_write_all(d, img, size, 0, NULL), 0);
		assert_int_equal(fw_close(d), 0);
		assert_int_equal(fw_apply(d), 0);
		assert_string_equal(identity[GWD_ID_FIRMWARE], t == 0 ? "rtu-0" : "rtu-1");
		dev_drop(d);
		assert_image(&rtu_proc, "rtu", 1, img, size);
	}
	h_stop(&rtu_proc, SIGTERM, 5000);
	free(img);
}

/* Devices without a transport have no firmware; a bad profile names its
 * keys. */
static void caps_and_config(void **state)
{
	struct kv bad[] = {KS("host", "127.0.0.1"), KI("port", 1), KS("fw_transport", "xmodem"),
			   KEND};
	struct kv missing[] = {KS("host", "127.0.0.1"), KI("port", 1),
			       KS("fw_transport", "register_window"), KI("fw_command_reg", 1),
			       KI("fw_status_reg", 2), KEND};
	struct kv too_big[] = {KS("host", "127.0.0.1"), KI("port", 1),
			       KS("fw_transport", "file_record"), KI("fw_record_size", 120),
			       KI("fw_command_reg", 1), KI("fw_status_reg", 2), KEND};
	struct gwd_fw_caps caps = {.size = sizeof(caps)};
	struct gwd_cfg c;
	void *d;

	c.kv = bad;
	assert_int_equal(ops->device_new(actx, &tdev, &c, NULL, &d), -EINVAL);
	c.kv = missing; /* no window, offset, length, CRC register */
	assert_int_equal(ops->device_new(actx, &tdev, &c, NULL, &d), -EINVAL);
	c.kv = too_big; /* 7 + 240 bytes do not fit an FC 0x15 request */
	assert_int_equal(ops->device_new(actx, &tdev, &c, NULL, &d), -EINVAL);
	d = dev_make(&tdev, nb_kv);
	assert_int_equal(ops->fw_caps(d, &caps), -ENOTSUP);
	dev_drop(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(caps_and_config),
		cmocka_unit_test(file_records_with_readback),
		cmocka_unit_test(register_window_keeps_the_neighbour_polled),
		cmocka_unit_test(register_window_image_crc32),
		cmocka_unit_test(failures_give_their_status),
		cmocka_unit_test(window_chunk_crc_failure),
		cmocka_unit_test(never_comes_back),
		cmocka_unit_test(abort_mid_transfer),
		cmocka_unit_test(one_update_per_bus),
		cmocka_unit_test(recover_after_a_restart),
		cmocka_unit_test(rtu_both_transports),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
