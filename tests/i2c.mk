# tests/i2c.mk: the i2c adapter's tests (issue 13), through the fake bus of
# tests/fixtures/i2c (register images per address, a transfer that blocks
# until the test releases it, NAKs).
if ENABLE_I2C
check_PROGRAMS += tests/unit/test_i2c
tests_unit_test_i2c_SOURCES = tests/unit/test_i2c.c $(I2C_CORE_SOURCES) \
	tests/fixtures/i2c/i2c_bus_fake.c tests/fixtures/i2c/i2c_bus_fake.h
tests_unit_test_i2c_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_i2c_LDADD = $(TEST_LIBS) -lpthread -lm
TESTS += tests/unit/test_i2c

# The Linux backend's error paths (no I2C hardware needed).
check_PROGRAMS += tests/unit/test_i2c_linux
tests_unit_test_i2c_linux_SOURCES = tests/unit/test_i2c_linux.c adapters/i2c/i2c_bus.h \
	adapters/i2c/i2c_bus_linux.c
tests_unit_test_i2c_linux_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_i2c_linux_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test_i2c_linux

# The adapter with the fake bus as a plugin, for the integration test only
# (never installed): the fake loads its chips' register images from the
# file GWD_I2C_FAKE names.
check_LTLIBRARIES += tests/fixtures/i2c/i2c.la
tests_fixtures_i2c_i2c_la_SOURCES = $(I2C_CORE_SOURCES) \
	tests/fixtures/i2c/i2c_bus_fake.c tests/fixtures/i2c/i2c_bus_fake.h
tests_fixtures_i2c_i2c_la_CFLAGS = $(AM_CFLAGS) -DI2C_FAKE_FROM_ENV
tests_fixtures_i2c_i2c_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-Wl,--no-undefined
tests_fixtures_i2c_i2c_la_LIBADD = -lpthread -lm

check_PROGRAMS += tests/integration/test_i2c
tests_integration_test_i2c_SOURCES = tests/integration/test_i2c.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_i2c_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_i2c_LDADD = $(JANSSON_LIBS) $(TEST_LIBS) -lm
TESTS += tests/integration/test_i2c
endif
