# tests/sysfs.mk: the sysfs adapter's tests (issue 13).
if ENABLE_SYSFS
# The adapter's sources compiled into a test that drives them through a fake
# host, on temporary trees laid out like /sys.
check_PROGRAMS += tests/unit/test_sysfs
tests_unit_test_sysfs_SOURCES = tests/unit/test_sysfs.c \
	adapters/sysfs/sysfs.c adapters/sysfs/sf_read.c adapters/sysfs/sf_read.h \
	adapters/common/gw_health.c adapters/common/gw_health.h \
	adapters/common/gw_cycle.c adapters/common/gw_cycle.h
tests_unit_test_sysfs_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sysfs_LDADD = $(TEST_LIBS) -lpthread -lm
TESTS += tests/unit/test_sysfs
endif

# End to end: gatewayd reading a temporary tree, with the test LwM2M server.
if ENABLE_SYSFS
check_PROGRAMS += tests/integration/test_sysfs
tests_integration_test_sysfs_SOURCES = tests/integration/test_sysfs.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_sysfs_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_sysfs_LDADD = $(JANSSON_LIBS) $(TEST_LIBS) -lm
TESTS += tests/integration/test_sysfs
endif
