# tests/unit/gpio.mk: the gpio adapter through the fake chip of
# tests/fixtures/gpio (its sources compiled straight into the test, as
# test_sim does with sim's), and through a real gpio-sim chip where the
# kernel has one (skipped otherwise).
if ENABLE_GPIO
check_PROGRAMS += tests/unit/test_gpio
tests_unit_test_gpio_SOURCES = tests/unit/test_gpio.c adapters/gpio/gpio.c \
	adapters/gpio/gpio_chip.h tests/unit/gpio_host.h tests/fixtures/gpio/gpio_chip_fake.c \
	tests/fixtures/gpio/gpio_chip_fake.h
tests_unit_test_gpio_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gpio_LDADD = $(TEST_LIBS) -lpthread
TESTS += tests/unit/test_gpio

# The same adapter with its libgpiod backend on the kernel's gpio-sim chip
# (root, configfs, the gpio-sim module); exits 77 (skipped) without them.
check_PROGRAMS += tests/unit/test_gpio_sim
tests_unit_test_gpio_sim_SOURCES = tests/unit/test_gpio_sim.c tests/unit/gpio_host.h \
	adapters/gpio/gpio.c adapters/gpio/gpio_chip.h adapters/gpio/gpio_chip_v1.c
tests_unit_test_gpio_sim_CFLAGS = $(TEST_CFLAGS) $(GPIO_CFLAGS)
tests_unit_test_gpio_sim_LDADD = $(TEST_LIBS) $(GPIO_LIBS)
TESTS += tests/unit/test_gpio_sim
endif

# The same adapter with the fake chip as a plugin, for the integration test
# only (check_LTLIBRARIES: built by make check, never installed).  The fake
# is driven through a control socket the test names in the environment.
if ENABLE_GPIO
check_LTLIBRARIES += tests/fixtures/gpio/gpio.la
# make bench's gpio_edge_cost runs the daemon on it too.
GPIO_BENCH_DEPS = tests/fixtures/gpio/gpio.la
tests_fixtures_gpio_gpio_la_SOURCES = adapters/gpio/gpio.c adapters/gpio/gpio_chip.h \
	tests/fixtures/gpio/gpio_chip_fake.c tests/fixtures/gpio/gpio_chip_fake.h \
	tests/fixtures/gpio/fake_ctl.c
tests_fixtures_gpio_gpio_la_CFLAGS = $(AM_CFLAGS)
tests_fixtures_gpio_gpio_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-Wl,--no-undefined
tests_fixtures_gpio_gpio_la_LIBADD = -lpthread

check_PROGRAMS += tests/integration/test_gpio
tests_integration_test_gpio_SOURCES = tests/integration/test_gpio.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_gpio_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_gpio_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_gpio
endif
