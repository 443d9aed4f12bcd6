/* Logging: repeated messages are held back and counted, on the fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/log.h"

static FILE *captured;
static int saved_stderr;

static int setup(void **state)
{
	captured = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	if (!captured || saved_stderr < 0 || dup2(fileno(captured), STDERR_FILENO) < 0)
		return -1;
	setvbuf(stderr, NULL, _IONBF, 0);
	log_setup(LOG_TARGET_STDERR, LOG_DEBUG);
	clock_fake_set(1000000);
	return 0;
}

static int teardown(void **state)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(captured);
	clock_fake_off();
	return 0;
}

/* Lines written since the last call, concatenated. */
static const char *take(void)
{
	static char buf[4096];
	static off_t done;
	ssize_t n;

	/* The capture file's offset is shared with stderr's writes: read by
	 * position instead. */
	fflush(stderr);
	n = pread(fileno(captured), buf, sizeof(buf) - 1, done);
	if (n < 0)
		n = 0;
	done += n;
	buf[n] = '\0';
	return buf;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

static void repeats_are_held_back_and_counted(void **state)
{
	const char *out;

	take();
	for (int i = 0; i < 5; i++)
		log_warn("dev1", "no answer from %s", "slave 3");
	out = take();
	assert_int_equal(count(out, "no answer from slave 3"), 1);
	/* Another device, or another text, is another message. */
	log_warn("dev2", "no answer from %s", "slave 3");
	log_warn("dev1", "no answer from %s", "slave 4");
	out = take();
	assert_int_equal(count(out, "dev2: no answer from slave 3"), 1);
	assert_int_equal(count(out, "dev1: no answer from slave 4"), 1);
	/* After the window the message goes out again, saying what was held. */
	clock_fake_advance(11000);
	log_warn("dev1", "no answer from %s", "slave 3");
	out = take();
	assert_non_null(strstr(out, "dev1: no answer from slave 3 (4 similar message(s) held back)"));
}

static void debug_is_never_held_back(void **state)
{
	take();
	for (int i = 0; i < 3; i++)
		log_debug("dev1", "tick");
	assert_int_equal(count(take(), "dev1: tick"), 3);
}

static void level_filters(void **state)
{
	take();
	log_set_level(LOG_WARNING);
	log_info(NULL, "quiet");
	log_err(NULL, "loud");
	log_set_level(LOG_DEBUG);
	assert_null(strstr(take(), "quiet"));
}

/* A device's own level wins over the global one, both ways, for its lines
 * only; removing it brings the global one back. */
static void device_levels(void **state)
{
	const char *t;

	take();
	log_set_level(LOG_WARNING);
	assert_int_equal(log_set_device_level("a", LOG_DEBUG), 0);
	assert_int_equal(log_set_device_level("q", LOG_ERR), 0);
	assert_int_equal(log_get_device_level("a"), LOG_DEBUG);
	assert_int_equal(log_get_device_level("b"), -1);
	/* Removing a device that has no level of its own touches no other. */
	assert_int_equal(log_set_device_level("nobody", -1), 0);
	assert_int_equal(log_get_device_level("q"), LOG_ERR);
	log_debug("a", "a-debug");
	log_info("b", "b-info");
	log_warn("q", "q-warning");
	log_err("q", "q-err");
	log_info(NULL, "global-info");
	t = take();
	assert_non_null(strstr(t, "a: a-debug"));
	assert_null(strstr(t, "b-info"));
	assert_null(strstr(t, "q-warning"));
	assert_non_null(strstr(t, "q: q-err"));
	assert_null(strstr(t, "global-info"));
	assert_int_equal(log_set_device_level("a", -1), 0);
	assert_int_equal(log_get_device_level("a"), -1);
	log_debug("a", "a-debug-again");
	assert_null(strstr(take(), "a-debug-again"));
	assert_int_equal(log_set_device_level("q", -1), 0);
	log_set_level(LOG_DEBUG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repeats_are_held_back_and_counted),
		cmocka_unit_test(debug_is_never_held_back),
		cmocka_unit_test(level_filters),
		cmocka_unit_test(device_levels),
	};
	return cmocka_run_group_tests_name("log", tests, setup, teardown);
}
