# tests/: cmocka unit tests, integration tests, the test LwM2M server.
# Each area keeps its own fragment so that they can change independently.
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(COAP_CFLAGS) $(LIBCONFIG_CFLAGS) \
	$(SYSTEMD_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = $(CMOCKA_LIBS)
# Tests that check freed memory for secrets: every free and realloc of what
# they link statically goes through tests/unit/wipe_check.c.
WIPE_CHECK_SRC = tests/unit/wipe_check.c tests/unit/wipe_check.h
WIPE_CHECK_WRAP = -Wl,--wrap=free -Wl,--wrap=realloc

# Tests find fixtures and built programs through these.
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	GW_ADAPTER_DIR='$(abs_top_builddir)/adapters/.libs'; export GW_ADAPTER_DIR; \
	CMOCKA_MESSAGE_OUTPUT=stdout; export CMOCKA_MESSAGE_OUTPUT;

include tests/unit/core.mk
include tests/unit/codec.mk
include tests/unit/config.mk
include tests/unit/loader.mk
include tests/unit/ddf.mk
include tests/unit/gpio.mk
include tests/lwm2m-server/local.mk
include tests/integration/local.mk
include tests/out-of-tree/local.mk
include tests/systemd/local.mk
include tests/modbus.mk
include tests/sysfs.mk
include tests/ble.mk
include tests/i2c.mk
include tests/fuzz/local.mk
include tests/dtls.mk
include tests/dtls-suites.mk
include tests/observe.mk
include tests/bench/local.mk

# The demo (README's first command): make demo
dist_noinst_SCRIPTS += tests/demo.sh tests/mcuboot-image.py
demo: all
	$(srcdir)/tests/demo.sh $(abs_top_builddir) $(abs_top_srcdir)
.PHONY: demo

# The integration tests with gatewayd under valgrind (slow; not part of check).
check-valgrind: all
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='tests/integration/test_e2e' GW_VALGRIND=1
.PHONY: check-valgrind
