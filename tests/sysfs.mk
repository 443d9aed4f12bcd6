# tests/sysfs.mk: the sysfs adapter's tests (issue 13).
if ENABLE_SYSFS
# The adapter's sources compiled into a test that drives them through a fake
# host, on temporary trees laid out like /sys.
check_PROGRAMS += tests/unit/test_sysfs
tests_unit_test_sysfs_SOURCES = tests/unit/test_sysfs.c \
	adapters/sysfs/sysfs.c adapters/sysfs/sf_read.c adapters/sysfs/sf_read.h
tests_unit_test_sysfs_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sysfs_LDADD = $(TEST_LIBS) -lpthread -lm
TESTS += tests/unit/test_sysfs
endif
