/* The i2c adapter's Linux backend (i2c_bus_linux.c) where no I2C hardware
 * is needed: a missing bus device and a file that is not an I2C bus give
 * their errors, and nothing is left open.  Transfers need a real bus or
 * the kernel's i2c-stub module: on a machine that has /dev/i2c-N nodes the
 * test also checks that one opens, and says so. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "adapters/i2c/i2c_bus.h"

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void open_errors(void **state)
{
	struct i2c_bus *b = NULL;
	unsigned fds = open_fds();

	assert_int_equal(i2c_bus_open("/nonexistent/i2c-1", &b), -ENOENT);
	/* A character device that is no I2C bus: I2C_FUNCS fails. */
	assert_int_equal(i2c_bus_open("/dev/null", &b), -ENOTTY);
	assert_null(b);
	assert_int_equal(open_fds(), fds);
	i2c_bus_close(NULL);
}

static void real_bus_opens(void **state)
{
	struct i2c_bus *b = NULL;
	int r;

	r = i2c_bus_open("/dev/i2c-0", &b);
	if (r == -ENOENT || r == -EACCES) {
		printf("/dev/i2c-0: %s: only the error paths were checked\n", strerror(-r));
		skip();
	}
	assert_int_equal(r, 0);
	i2c_bus_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_errors),
		cmocka_unit_test(real_bus_opens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
