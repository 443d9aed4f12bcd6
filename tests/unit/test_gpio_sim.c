/* The gpio adapter with its libgpiod backend against a real chip: the
 * kernel's gpio-sim, set up through configfs, whose lines the test pulls up
 * and down through sysfs.  Needs root, configfs and the gpio-sim module
 * (Linux 5.19+); skipped with a message otherwise.  Timestamps are the
 * kernel's here, so the host's clock is the real monotonic one and the test
 * waits on the line's fd (poll with a deadline), never sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatewayd/adapter.h"
#include "tests/unit/gpio_host.h"

#define SIM_ROOT "/sys/kernel/config/gpio-sim"
#define SIM_NAME "gatewayd-test"
#define SIM_DIR SIM_ROOT "/" SIM_NAME

static char chip_path[80]; /* /dev/gpiochipN */
static char sysfs_dir[256]; /* /sys/devices/platform/gpio-sim.N/gpiochipN */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int sysfs_put(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -EIO;
}

static int sysfs_get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void sim_remove(void)
{
	sysfs_put(SIM_DIR "/live", "0");
	for (int i = 0; i < 3; i++) {
		char p[128];

		snprintf(p, sizeof(p), SIM_DIR "/bank0/line%d", i);
		rmdir(p);
	}
	rmdir(SIM_DIR "/bank0");
	rmdir(SIM_DIR);
}

/* A chip of 3 lines named SIM_IN, SIM_OUT, SIM_BUSY. */
static int sim_create(void)
{
	const char *names[] = {"SIM_IN", "SIM_OUT", "SIM_BUSY"};
	char dev[64], chip[64];

	sim_remove();
	if (mkdir(SIM_DIR, 0755) < 0 || mkdir(SIM_DIR "/bank0", 0755) < 0 ||
	    sysfs_put(SIM_DIR "/bank0/num_lines", "3") < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		char p[128];

		snprintf(p, sizeof(p), SIM_DIR "/bank0/line%d", i);
		if (mkdir(p, 0755) < 0)
			return -1;
		snprintf(p, sizeof(p), SIM_DIR "/bank0/line%d/name", i);
		if (sysfs_put(p, names[i]) < 0)
			return -1;
	}
	if (sysfs_put(SIM_DIR "/live", "1") < 0 || sysfs_get(SIM_DIR "/dev_name", dev, sizeof(dev)) < 0 ||
	    sysfs_get(SIM_DIR "/bank0/chip_name", chip, sizeof(chip)) < 0)
		return -1;
	snprintf(chip_path, sizeof(chip_path), "/dev/%s", chip);
	snprintf(sysfs_dir, sizeof(sysfs_dir), "/sys/devices/platform/%s/%s", dev, chip);
	return 0;
}

static void pull(unsigned off, bool up)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/sim_gpio%u/pull", sysfs_dir, off);
	assert_int_equal(sysfs_put(p, up ? "pull-up" : "pull-down"), 0);
}

static int level(unsigned off)
{
	char p[320], v[8];

	snprintf(p, sizeof(p), "%s/sim_gpio%u/value", sysfs_dir, off);
	assert_int_equal(sysfs_get(p, v, sizeof(v)), 0);
	return atoi(v);
}

/* Run the loop on the real clock until pred() holds, or fail at the
 * deadline: waits on the watched fds and the next timer, never sleeps. */
static void run_until(bool (*pred)(void *), void *ud, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd p[16];
		struct gwd_watch *w[16];
		uint64_t now = mono_ms(), until = deadline;
		nfds_t n = 0;

		fx.now = now;
		run_timers();
		if (pred(ud))
			return;
		if (now >= deadline)
			fail_msg("not within %d ms", timeout_ms);
		for (size_t i = 0; i < 32; i++)
			if (timers[i] && timers[i]->armed && timers[i]->due < until)
				until = timers[i]->due;
		for (size_t i = 0; i < 16; i++)
			if (watches[i]) {
				w[n] = watches[i];
				p[n++] = (struct pollfd){.fd = watches[i]->fd, .events = POLLIN};
			}
		if (poll(p, n, (int)(until > now ? until - now : 0)) > 0)
			for (nfds_t i = 0; i < n; i++)
				if (p[i].revents & POLLIN)
					w[i]->cb(w[i]->fd, GWD_EV_IN, w[i]->ud);
	}
}

struct want {
	struct dut *u;
	gwd_channel_t ch;
	int64_t value; /* bool as 0/1 */
	size_t from;
};

static bool reported(void *ud)
{
	struct want *w = ud;
	const struct rec *r = last_report(w->u, w->ch, w->from);

	if (!r)
		return false;
	return r->v.type == GWD_V_BOOL ? (int64_t)r->v.v.b == w->value : r->v.v.i == w->value;
}

static bool line_low(void *ud)
{
	return level(*(unsigned *)ud) == 0;
}

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.now = mono_ms();
	snprintf(fx.state_dir, sizeof(fx.state_dir), "/tmp");
	if (sim_create() < 0) {
		sim_remove();
		return -1;
	}
	ops = gwd_adapter_descriptor.ops;
	return ops->init(&host, &actx);
}

static int teardown(void **state)
{
	ops->fini(actx);
	sim_remove();
	return 0;
}

static void input_edges_and_counter(void **state)
{
	struct kv d0[] = {KS("chip", chip_path), KEND};
	struct kv p0[] = {KS("line", "SIM_IN"), KS("edge", "rising"), KEND};
	struct kv p1[] = {KS("line", "SIM_IN"), KS("function", "counter"), KEND};
	struct kv *pts[] = {p0, p1};
	struct dut u;
	struct want w;

	pull(0, false);
	assert_int_equal(make(&u, "in", d0, pts, 2), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_UP);
	for (int i = 1; i <= 3; i++) {
		w = (struct want){.u = &u, .ch = u.ch[0], .value = 1, .from = fx.n_recs};
		pull(0, true);
		run_until(reported, &w, 2000);
		w = (struct want){.u = &u, .ch = u.ch[1], .value = i, .from = w.from};
		run_until(reported, &w, 2000);
		w = (struct want){.u = &u, .ch = u.ch[0], .value = 0, .from = fx.n_recs};
		pull(0, false);
		run_until(reported, &w, 2000);
	}
	destroy(&u);
}

static void output_write_and_pulse(void **state)
{
	struct kv d0[] = {KS("chip", chip_path), KEND};
	struct kv p0[] = {KS("line", "SIM_OUT"), KS("direction", "output"), KEND};
	struct kv p1[] = {KS("line", "SIM_OUT"), KS("function", "pulse"), KI("pulse_ms", 50), KEND};
	struct kv *pts[] = {p0, p1};
	struct dut u;
	unsigned off = 1;

	assert_int_equal(make(&u, "out", d0, pts, 2), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(level(1), 0);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(true), 1), 0);
	assert_int_equal(level(1), 1);
	assert_int_equal(write_ch(&u, u.ch[0], gwd_value_bool(false), 2), 0);
	assert_int_equal(level(1), 0);
	assert_int_equal(exec_ch(&u, u.ch[1], "", 3), 0);
	assert_int_equal(level(1), 1);
	run_until(line_low, &off, 2000);
	destroy(&u);
}

static void busy_line(void **state)
{
	struct kv d0[] = {KS("chip", chip_path), KEND};
	struct kv p0[] = {KS("line", "SIM_BUSY"), KEND};
	struct kv *pts[] = {p0};
	struct gpiod_chip *c = gpiod_chip_open(chip_path);
	struct gpiod_line *l = c ? gpiod_chip_get_line(c, 2) : NULL;
	char msg[200];
	struct dut u;

	assert_non_null(l);
	assert_int_equal(gpiod_line_request_input(l, "othertool"), 0);
	assert_int_equal(make(&u, "busy", d0, pts, 1), 0);
	assert_int_equal(ops->device_start(u.ctx), 0);
	assert_int_equal(u.dev.state, GWD_STATE_DOWN);
	snprintf(msg, sizeof(msg), "busy: chip \"%s\" line \"SIM_BUSY\": busy, held by \"othertool\"",
		 chip_path);
	assert_true(logged(msg));
	destroy(&u);
	gpiod_chip_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(input_edges_and_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(output_write_and_pulse, setup, teardown),
		cmocka_unit_test_setup_teardown(busy_line, setup, teardown),
	};

	if (geteuid() != 0 || access(SIM_ROOT, W_OK) != 0) {
		printf("skipped: no gpio-sim here (needs root, configfs at /sys/kernel/config and "
		       "the gpio-sim module: modprobe gpio-sim); the fake chip's tests ran in "
		       "test_gpio\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
